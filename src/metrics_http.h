/*
 * src/metrics_http.h: a small read-only HTTP/1.1 listener on libuv for
 * monitoring: GET (or HEAD) of a path is answered by a callback, one request
 * per connection (the answer carries "Connection: close").  rumord serves
 * /metrics and /health on it (--metricsbind; src/node_metrics.h).
 *
 * No authentication: it serves only what the callback returns for GET, and
 * takes no body.  Limits: request head RUMOR_METRICS_REQUEST_HEAD_MAX bytes
 * (431 past it; the parser is src/metrics_request.h),
 * RUMOR_METRICS_HTTP_CLIENTS connections at once (more are closed at
 * accept), RUMOR_METRICS_HTTP_TIMEOUT_MS for the whole exchange.  A request
 * with a body, or not GET/HEAD, gets 400/405 and is closed.
 *
 * Its handles do not keep the loop alive (uv_unref): the node's handles
 * decide when uv_run returns; then the owner closes this listener and runs
 * the loop once more.
 *
 * Ownership: _new allocates; _close closes every handle and frees the
 * listener once they are closed (the loop must run), then calls done.
 */
#ifndef RUMOR_SRC_METRICS_HTTP_H
#define RUMOR_SRC_METRICS_HTTP_H

#include <stddef.h>
#include <uv.h>

#define RUMOR_METRICS_HTTP_CLIENTS 16
#define RUMOR_METRICS_HTTP_TIMEOUT_MS 10000

/* Answers GET path: sets *status (200, 404, 503 ...), *content_type
 * (static), and *body (malloc'd, taken; may be NULL for an empty body). */
typedef void (*rumor_metrics_http_fn)(void *ctx, const char *path, int *status,
				      const char **content_type, char **body, size_t *len);

struct rumor_metrics_http;

/* Binds host:port (numeric).  Returns 0 or a negative libuv error (then the
 * loop must run once to release the handle, as for rpc/http_server.h). */
int rumor_metrics_http_new(struct rumor_metrics_http **out, uv_loop_t *loop, const char *host,
			   int port, rumor_metrics_http_fn fn, void *ctx);
int rumor_metrics_http_port(const struct rumor_metrics_http *m);
void rumor_metrics_http_close(struct rumor_metrics_http *m, void (*done)(void *arg), void *arg);

#endif
