/*
 * test/fuzz/fuzz_http.c: feeds arbitrary bytes to the sans-IO HTTP request
 * parser of rpc/http_server.c, the way a connection would: in pieces whose
 * sizes come from the input, answering each complete request and resuming
 * with the rest (pipelining).  Checks: consumed never exceeds what was fed,
 * an error is final and carries a 4xx status and a reason, bodies respect the
 * limit, a body refused on the way for a JSON limit (REFUSED) names one and
 * is final, and nothing leaks.
 *
 * Input: byte 0 picks the piece size (1..256), byte 1 the limits (bit 2:
 * small JSON limits, so bodies are refused on the way); the rest is the
 * stream.  Valid credentials are alice:hunter2 (see the corpus).
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/auth.h"
#include "rpc/http_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALICE "alice:c0ffee$1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a0627365"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rumor_auth auth;
	static int ready;
	if (!ready) {
		rumor_auth_init(&auth);
		if (rumor_auth_add_rpcauth(&auth, ALICE))
			abort();
		ready = 1;
	}
	if (size < 2)
		return 0;
	size_t piece = (size_t)data[0] + 1;
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	if (data[1] & 1)
		limits.max_header_bytes = 256;
	if (data[1] & 2)
		limits.max_body_bytes = 64;
	if (data[1] & 4) {
		limits.json.max_values = 8;
		limits.json.max_depth = 3;
		limits.json.max_key_bytes = 4;
		limits.json.max_string_bytes = 8;
		limits.json.max_root_items = 3;
	}
	const char *in = (const char *)data + 2;
	size_t len = size - 2, off = 0;

	struct rumor_http_parse *p = rumor_http_parse_new(&limits, &auth);
	assert(p);
	while (off < len) {
		size_t n = len - off < piece ? len - off : piece;
		size_t used = 0;
		enum rumor_http_parse_state st = rumor_http_parse_feed(p, in + off, n, &used);
		assert(used <= n);
		off += used;
		(void)rumor_http_parse_take_continue(p);
		if (st == RUMOR_HTTP_PARSE_ERROR) {
			const char *reason = NULL;
			int status = rumor_http_parse_error(p, &reason);
			assert(status >= 400 && status < 500 && reason && *reason);
			assert(rumor_http_parse_feed(p, in, len, &used) == RUMOR_HTTP_PARSE_ERROR);
			break;
		}
		if (st == RUMOR_HTTP_PARSE_REFUSED) {
			const struct rumor_json_error *e = rumor_http_parse_refusal(p);
			assert(e->kind == RUMOR_JSON_ELIMIT || e->kind == RUMOR_JSON_EROOT_ITEMS);
			assert(e->text[0] && e->offset < len);
			assert(rumor_http_parse_phase(p) == RUMOR_HTTP_PHASE_BODY);
			assert(rumor_http_parse_feed(p, in, len, &used) == RUMOR_HTTP_PARSE_REFUSED);
			break;
		}
		if (st == RUMOR_HTTP_PARSE_REQUEST) {
			size_t blen;
			char *body = rumor_http_parse_take_body(p, &blen);
			assert(body && blen <= limits.max_body_bytes && body[blen] == '\0');
			free(body);
			int keep = rumor_http_parse_keep_alive(p);
			rumor_http_parse_next(p);
			if (!keep)
				break; /* the server closes here */
		} else {
			assert(used == n);
		}
	}
	rumor_http_parse_del(p);
	return 0;
}
