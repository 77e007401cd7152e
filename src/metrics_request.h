/*
 * src/metrics_request.h: the request parser of the monitoring listener
 * (src/metrics_http.h), without sockets (sans-IO), so that unit tests and
 * test/fuzz/fuzz_metrics_request.c drive it with fixed or arbitrary bytes.
 *
 * One request per connection: feed bytes until the verdict is not MORE.
 *
 *   feed -> MORE     all taken, the request head is not complete yet
 *        -> GET      a GET or HEAD of req->path (query string removed);
 *                    req->head_only for HEAD.  Final.
 *        -> REFUSE   req->status (400 malformed or a body, 404 path too
 *                    long, 405 method, 431 head over
 *                    RUMOR_METRICS_REQUEST_HEAD_MAX) and req->reason.  Final.
 *
 * The head is parsed by http-parser (libhttp-parser-dev); nothing here
 * allocates.
 */
#ifndef RUMOR_SRC_METRICS_REQUEST_H
#define RUMOR_SRC_METRICS_REQUEST_H

#include <http_parser.h>
#include <stddef.h>

#define RUMOR_METRICS_REQUEST_HEAD_MAX 8192
#define RUMOR_METRICS_REQUEST_PATH_MAX 255

enum rumor_metrics_verdict {
	RUMOR_METRICS_REQUEST_MORE,
	RUMOR_METRICS_REQUEST_GET,
	RUMOR_METRICS_REQUEST_REFUSE,
};

struct rumor_metrics_request {
	http_parser parser;
	size_t head_bytes;
	char path[RUMOR_METRICS_REQUEST_PATH_MAX + 1];
	size_t path_len;
	int path_too_long;
	enum rumor_metrics_verdict verdict;
	int head_only;
	int status;         /* REFUSE: the HTTP status to answer */
	const char *reason; /* REFUSE: static text for the answer's body */
};

void rumor_metrics_request_init(struct rumor_metrics_request *req);
enum rumor_metrics_verdict rumor_metrics_request_feed(struct rumor_metrics_request *req,
						      const char *data, size_t len);

#endif
