/*
 * rpc/http_server.h: a small HTTP/1.1 server on libuv for the JSON-RPC port.
 *
 * Requests are parsed with http-parser (libhttp-parser-dev).  Keep-alive and
 * pipelining are supported; requests on one connection are answered in
 * order, one at a time (a pipelined request is parsed only after the previous
 * response is queued).  Every limit below is enforced before memory grows:
 * header bytes, body bytes, clients, idle time.  A malformed request gets a
 * 4xx answer and the connection is closed; the server keeps serving.
 *
 * Authentication (rpc/auth.h) is checked here: no valid Authorization
 * header means 401 with WWW-Authenticate, before the body is handed on.
 * A 401 is sent only after auth_fail_delay_ms, so a client that waits for
 * its answer tries a few passwords a second per connection, not thousands;
 * failures are counted (also process-wide, rumor_http_auth_failures_total)
 * and reported through the log hook at most once per
 * RUMOR_HTTP_AUTH_LOG_INTERVAL_MS.
 *
 * Slots and unauthenticated clients: a connection that has not yet sent a
 * request with good credentials ("untrusted") must finish the headers of
 * its request within header_timeout_ms of being accepted.  When all
 * max_clients slots are taken, a new connection evicts the oldest untrusted
 * one with no unread bytes waiting (so an honest client whose request has
 * arrived is not evicted by a flood of newer connections; failing that, the
 * oldest); it is refused (503) only when every slot has authenticated.
 * Connections are accepted at most max_clients / 4 per loop turn (the rest
 * wait in the backlog for the next turns), so those evicted are always
 * older than the turn's, whose requests have not been read yet.  So idle or slowloris connections without
 * credentials cannot lock authenticated clients out.
 *
 * Only POST to "/" with a body is handed to the handler; GET etc. get 405.
 *
 * A body is checked against the JSON limits while it arrives
 * (limits.json): one past a limit is answered with the JSON-RPC error at
 * once, "Connection: close", and the connection is closed without reading
 * the rest.  Memory: at that point the body buffer holds what the
 * streaming parser read, plus what came with the last read (at most
 * PENDING_MAX + one read), plus at most one run of the text without
 * , : [ ] { } just before it (in a JSON text: one token); it is freed at
 * once.
 *
 * Ownership: the caller owns struct rumor_http_server (embedded, libuv
 * style).  rumor_http_server_close() closes every connection; close_cb runs
 * when all handles are closed, after which the struct may be freed.
 */
#ifndef RUMOR_RPC_HTTP_SERVER_H
#define RUMOR_RPC_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "rpc/auth.h"
#include "rpc/json_parse.h"

struct rumor_http_limits {
	size_t max_header_bytes; /* default 8192 */
	size_t max_body_bytes;   /* default 32 MiB */
	unsigned max_clients;    /* default 64; past it new sockets are closed */
	uint64_t idle_timeout_ms; /* default 30000; also bounds a slow body, and a
				   * response the client does not take */
	uint64_t header_timeout_ms; /* default 5000: a request's headers must be
				     * complete within it (from accept, or from
				     * the request's first byte on a connection
				     * that authenticated before); capped by
				     * idle_timeout_ms */
	uint64_t auth_fail_delay_ms; /* default 250: a 401 waits this long */
	/* The JSON limits checked while a body arrives (rpc/json_parse.h,
	 * rumor_json_stream_check).  A body past one is answered at once with
	 * the JSON-RPC error rumor_jsonrpc_handle would give for the whole
	 * body (rumor_jsonrpc_refusal: 200, application/json, with
	 * "Connection: close"), and the connection is closed without reading
	 * the rest.  Default: on, with rumor_jsonrpc_json_limits(NULL), the
	 * limits of a JSON-RPC server whose json_limits is NULL; they must
	 * be those of the server the handler passes bodies to.  A body that
	 * comes in one piece, and the piece completing a Content-Length body,
	 * are left to the handler's full parse. */
	int check_json;
	struct rumor_json_limits json;
};
void rumor_http_limits_default(struct rumor_http_limits *limits);

struct rumor_http_request; /* one request awaiting its response */

/* Body is borrowed until rumor_http_respond() is called on req.  Called only
 * for authenticated POST requests.  The handler must call
 * rumor_http_respond() exactly once, now or later. */
typedef void (*rumor_http_handler_fn)(struct rumor_http_request *req, const char *body,
				      size_t len, void *ctx);
/* Respond.  body is taken (malloc'd or NULL).  status 204 sends no body.
 * Safe to call after the connection died (the response is dropped). */
void rumor_http_respond(struct rumor_http_request *req, int status, const char *content_type,
			char *body, size_t len);
/* The request's connection closed before the answer; hook to drop work.  The
 * hook runs once, on the loop thread; rumor_http_respond() must still be
 * called later (it then frees the request). */
typedef void (*rumor_http_abort_fn)(struct rumor_http_request *req, void *arg);
void rumor_http_request_on_abort(struct rumor_http_request *req, rumor_http_abort_fn fn,
				 void *arg);
/* Runs fn(arg) once on the loop thread at the next loop turn, after the
 * I/O of this one (an idle handle of its own), whether or not the request's
 * connection is still open.  For work a handler does in slices.  req must
 * not have been answered yet.  Returns 0 or a negative libuv error (fn
 * then never runs). */
int rumor_http_request_defer(struct rumor_http_request *req, void (*fn)(void *arg), void *arg);

/* The client's address as "IP:PORT" ("[IPv6]:PORT"), for log lines.
 * Returns 0, or -1 when the connection is gone or has no address. */
int rumor_http_request_peer(const struct rumor_http_request *req, char *buf, size_t cap);

struct rumor_http_stats {
	uint64_t connections_accepted;
	uint64_t connections_refused; /* over max_clients */
	uint64_t requests;
	uint64_t bad_requests;        /* 4xx for malformed or oversize input */
	uint64_t auth_failures;
	uint64_t connections_evicted; /* untrusted, closed to make room */
	uint64_t accepts_deferred;    /* times the turn's accept cap left
				       * connections in the backlog */
	uint64_t header_timeouts;     /* 408: headers not complete in time */
	uint64_t body_timeouts;       /* 408: body shorter than Content-Length */
	uint64_t json_refused;        /* bodies refused while arriving, past a JSON
				       * limit (also counted in requests) */
	unsigned clients;             /* open now */
};

#define RUMOR_HTTP_AUTH_LOG_INTERVAL_MS 10000

/* Failed authentications over every server of this process (getinfo's
 * rpc_auth_failures). */
uint64_t rumor_http_auth_failures_total(void);

/* Where the server reports events worth a log line (failed
 * authentications, rate-limited).  Process-wide; NULL (the default) drops
 * them.  The program installs it (rumord: src/rpc_methods.c). */
typedef void (*rumor_http_log_fn)(const char *message);
void rumor_http_set_log(rumor_http_log_fn fn);

struct rumor_http_server; /* opaque; allocated by _new */

/* Binds and listens on host:port (numeric IPv4 or IPv6).  Returns 0 or a
 * negative libuv error; *out is set on success.  limits NULL means the
 * defaults.  After a bind or listen error the loop must run once more (e.g.
 * uv_run(loop, UV_RUN_NOWAIT)) to release the listener handle. */
int rumor_http_server_new(struct rumor_http_server **out, uv_loop_t *loop, const char *host,
			  int port, const struct rumor_http_limits *limits,
			  const struct rumor_auth *auth, rumor_http_handler_fn handler, void *ctx);
/* The port actually bound (useful with port 0). */
int rumor_http_server_port(const struct rumor_http_server *server);
void rumor_http_server_get_stats(const struct rumor_http_server *server,
				 struct rumor_http_stats *out);
/* Stops listening and closes every connection; frees the server once its
 * handles are closed (the loop must run), then calls close_cb if not NULL. */
void rumor_http_server_close(struct rumor_http_server *server, void (*close_cb)(void *arg),
			     void *arg);

/*
 * The request parser of one connection, without sockets (sans-IO).  The
 * server runs one per connection; tests and test/fuzz/fuzz_http.c drive it
 * directly.  It checks every limit, the method, the path and the
 * Authorization header, and stops (paused) after each complete request.
 *
 *   feed(bytes) -> MORE      all bytes taken, request not complete yet
 *               -> REQUEST   a request is complete; *consumed bytes were
 *                            taken, the rest belong to the next request.
 *                            Read it with rumor_http_parse_take_body() and
 *                            _keep_alive(), then call _next() before feeding
 *                            the rest.
 *               -> REFUSED   the body is past a JSON limit (limits.json):
 *                            answer the JSON-RPC error for
 *                            rumor_http_parse_refusal() and close without
 *                            reading further.  Final.  (Only after the
 *                            headers passed every check, authentication
 *                            first.)  *consumed takes in every body byte
 *                            received (the body began that many bytes,
 *                            rumor_http_parse_body_progress, earlier).
 *               -> ERROR     the input is refused: answer
 *                            rumor_http_parse_error() and close.  Final.
 *
 * auth is borrowed; NULL refuses every request (401).
 */
struct rumor_http_parse;
enum rumor_http_parse_state {
	RUMOR_HTTP_PARSE_MORE,
	RUMOR_HTTP_PARSE_REQUEST,
	RUMOR_HTTP_PARSE_REFUSED,
	RUMOR_HTTP_PARSE_ERROR,
};
struct rumor_http_parse *rumor_http_parse_new(const struct rumor_http_limits *limits,
					      const struct rumor_auth *auth);
void rumor_http_parse_del(struct rumor_http_parse *parse);
enum rumor_http_parse_state rumor_http_parse_feed(struct rumor_http_parse *parse,
						  const char *data, size_t len, size_t *consumed);
/* After REQUEST: the body (malloc'd, NUL-terminated, caller frees; never
 * NULL) and whether the connection stays open after the answer. */
char *rumor_http_parse_take_body(struct rumor_http_parse *parse, size_t *len);
int rumor_http_parse_keep_alive(const struct rumor_http_parse *parse);
/* After the headers of a request with "Expect: 100-continue" that passed
 * every check: 1 once, so the caller sends "100 Continue"; then 0. */
int rumor_http_parse_take_continue(struct rumor_http_parse *parse);
/* After REQUEST: get ready for the next request on the connection. */
void rumor_http_parse_next(struct rumor_http_parse *parse);
/* Where the current request stands: no byte of it yet, in its headers, or
 * past them (headers accepted: method, path, credentials, size). */
enum rumor_http_parse_phase {
	RUMOR_HTTP_PHASE_IDLE,
	RUMOR_HTTP_PHASE_HEADERS,
	RUMOR_HTTP_PHASE_BODY,
};
enum rumor_http_parse_phase rumor_http_parse_phase(const struct rumor_http_parse *parse);
/* In the BODY phase: body bytes received and the Content-Length
 * (UINT64_MAX when chunked). */
void rumor_http_parse_body_progress(const struct rumor_http_parse *parse, size_t *received,
				    uint64_t *expected);
/* After REFUSED: which limit and where (kind RUMOR_JSON_ELIMIT or
 * RUMOR_JSON_EROOT_ITEMS); borrowed from parse. */
const struct rumor_json_error *rumor_http_parse_refusal(const struct rumor_http_parse *parse);
/* After ERROR: the HTTP status (400, 401, 404, 405, 413, 417, 431) and a
 * short reason for the client. */
int rumor_http_parse_error(const struct rumor_http_parse *parse, const char **reason);

#endif
