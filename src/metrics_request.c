/*
 * src/metrics_request.c: see metrics_request.h.
 */
#include "config.h"

#include "src/metrics_request.h"

#include <limits.h>
#include <string.h>

static void refuse(struct rumor_metrics_request *req, int status, const char *reason)
{
	req->verdict = RUMOR_METRICS_REQUEST_REFUSE;
	req->status = status;
	req->reason = reason;
}

static int on_url(http_parser *p, const char *at, size_t len)
{
	struct rumor_metrics_request *req = p->data;
	if (req->path_too_long || req->path_len + len > RUMOR_METRICS_REQUEST_PATH_MAX) {
		req->path_too_long = 1;
		return 0;
	}
	memcpy(req->path + req->path_len, at, len);
	req->path_len += len;
	req->path[req->path_len] = '\0';
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct rumor_metrics_request *req = p->data;
	req->head_only = p->method == HTTP_HEAD;
	if (p->method != HTTP_GET && !req->head_only)
		refuse(req, 405, "only GET and HEAD are supported\n");
	else if ((p->flags & F_CHUNKED) ||
		 (p->content_length > 0 && p->content_length != ULLONG_MAX))
		refuse(req, 400, "a GET request takes no body\n");
	else if (req->path_too_long)
		refuse(req, 404, "not found\n");
	else {
		char *q = strchr(req->path, '?');
		if (q)
			*q = '\0';
		req->verdict = RUMOR_METRICS_REQUEST_GET;
	}
	/* One request per connection: stop here (what follows, a body or a
	 * pipelined request, is never parsed into this one). */
	http_parser_pause(p, 1);
	return 1; /* no body is read */
}

static const http_parser_settings settings = {
	.on_url = on_url,
	.on_headers_complete = on_headers_complete,
};

void rumor_metrics_request_init(struct rumor_metrics_request *req)
{
	memset(req, 0, sizeof(*req));
	http_parser_init(&req->parser, HTTP_REQUEST);
	req->parser.data = req;
}

enum rumor_metrics_verdict rumor_metrics_request_feed(struct rumor_metrics_request *req,
						      const char *data, size_t len)
{
	if (req->verdict != RUMOR_METRICS_REQUEST_MORE)
		return req->verdict;
	/* Only the head is wanted: past the limit, refuse before parsing on. */
	if (len > RUMOR_METRICS_REQUEST_HEAD_MAX + 1 - req->head_bytes)
		len = RUMOR_METRICS_REQUEST_HEAD_MAX + 1 - req->head_bytes;
	req->head_bytes += len;
	size_t used = http_parser_execute(&req->parser, &settings, data, len);
	if (req->verdict != RUMOR_METRICS_REQUEST_MORE)
		return req->verdict;
	if (HTTP_PARSER_ERRNO(&req->parser) != HPE_OK || used != len)
		refuse(req, 400, "malformed request\n");
	else if (req->head_bytes > RUMOR_METRICS_REQUEST_HEAD_MAX)
		refuse(req, 431, "request head too large\n");
	return req->verdict;
}
