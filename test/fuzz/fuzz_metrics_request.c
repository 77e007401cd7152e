/*
 * test/fuzz/fuzz_metrics_request.c: feeds arbitrary bytes to the request
 * parser of the monitoring listener (src/metrics_request.h) in pieces whose
 * size comes from the input, as a connection would.  Checks: a verdict is
 * final; GET yields a NUL-terminated path within the limit and without a
 * query string; REFUSE carries a 4xx status and a reason; more than the head
 * limit of input never leaves the verdict at MORE.
 *
 * Input: byte 0 picks the piece size (1..256); the rest is the stream.
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "src/metrics_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	size_t piece = (size_t)data[0] + 1;
	const char *in = (const char *)data + 1;
	size_t len = size - 1, off = 0;
	struct rumor_metrics_request req;
	rumor_metrics_request_init(&req);
	enum rumor_metrics_verdict v = RUMOR_METRICS_REQUEST_MORE;
	while (off < len && v == RUMOR_METRICS_REQUEST_MORE) {
		size_t n = len - off < piece ? len - off : piece;
		v = rumor_metrics_request_feed(&req, in + off, n);
		off += n;
	}
	switch (v) {
	case RUMOR_METRICS_REQUEST_MORE:
		assert(len <= RUMOR_METRICS_REQUEST_HEAD_MAX);
		break;
	case RUMOR_METRICS_REQUEST_GET:
		assert(strlen(req.path) <= RUMOR_METRICS_REQUEST_PATH_MAX);
		assert(!strchr(req.path, '?'));
		break;
	case RUMOR_METRICS_REQUEST_REFUSE:
		assert(req.status >= 400 && req.status < 500 && req.reason && *req.reason);
		break;
	}
	/* A verdict is final: more input changes nothing. */
	if (v != RUMOR_METRICS_REQUEST_MORE)
		assert(rumor_metrics_request_feed(&req, in, len) == v);
	return 0;
}
