/*
 * test/fuzz/fuzz_rpc_server.c: the JSON-RPC port as a whole, without
 * sockets: bytes go through the sans-IO HTTP request parser of
 * rpc/http_server.c, in pieces whose sizes come from the input (as a
 * connection would deliver them), and every complete request's body goes to
 * the JSON-RPC engine (rpc/jsonrpc.c, with rpc/json_parse.c's limits) with
 * stub methods: answering at once, later, with an error, with hex
 * (rumor_jsonrpc_reply_hex), with JSON text (rumor_jsonrpc_reply_json) or
 * with a large result, and a defer hook that
 * queues slices, run after the request was handled (as the loop would).
 * Pipelined requests are answered in order, as the server does.
 *
 * The HTTP parser checks the same JSON limits while a body arrives; a body
 * it refuses (REFUSED) gets the answer of rumor_jsonrpc_refusal, which must
 * be what rumor_jsonrpc_handle gives for the whole body when the input
 * holds all of it (a Content-Length body).
 *
 * Checks: consumed never exceeds what was fed; an HTTP error is final with
 * a 4xx status and a reason; done runs exactly once per request (with no
 * body after a cancel); every answer is valid JSON ending in a newline (an
 * object, or a non-empty array for a batch); a batch's answer has at most
 * RUMOR_JSONRPC_BATCH_MAX elements; nothing leaks (ASan).
 *
 * Input: byte 0 picks the piece size (1..256); byte 1: bit 0 small header
 * limit, bit 1 small body limit, bit 2 small JSON limits, bit 3 small answer
 * budget, bit 4 cancel each request after it is handled; the rest is the
 * stream.  Valid credentials are alice:hunter2 (see the corpus).
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/auth.h"
#include "rpc/http_server.h"
#include "rpc/json_parse.h"
#include "rpc/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ALICE "alice:c0ffee$1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a0627365"
#define PARK_MAX RUMOR_JSONRPC_BATCH_MAX
#define DEFER_MAX 64

static struct rumor_jsonrpc_call *parked[PARK_MAX];
static size_t n_parked;
static void (*deferred_fn[DEFER_MAX])(void *);
static void *deferred_arg[DEFER_MAX];
static size_t n_deferred;
static int done_calls;

static void m_now(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	assert(json_is_array(params));
	rumor_jsonrpc_reply(call, json_incref(params));
}

static void m_error(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	rumor_jsonrpc_error(call, -5, "no such item", json_array_size(params) ? json_true() : NULL);
}

static void m_later(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	if (n_parked == PARK_MAX) {
		rumor_jsonrpc_error(call, -1, "busy", NULL);
		return;
	}
	parked[n_parked++] = call;
}

static void m_hex(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	json_t *s = json_array_get(params, 0);
	const char *text = json_is_string(s) ? json_string_value(s) : "";
	rumor_jsonrpc_reply_hex(call, (const unsigned char *)text, strlen(text));
}

static void m_big(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	static unsigned char bytes[4096];
	rumor_jsonrpc_reply_hex(call, bytes, sizeof(bytes));
}

static void m_json(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	static const char text[] = "{\"tx\":[\"00\",\"ff\"],\"size\":2}";
	rumor_jsonrpc_reply_json(call, text, strlen(text));
}

static const char *const names[] = {"a", "b", "c", NULL};
static const struct rumor_jsonrpc_method methods[] = {
	{"big", m_big, NULL, "big"},
	{"error", m_error, names, "error"},
	{"hex", m_hex, names, "hex"},
	{"json", m_json, NULL, "json"},
	{"later", m_later, names, "later"},
	{"now", m_now, names, "now"},
};

static int defer(void *done_arg, void (*fn)(void *), void *arg)
{
	if (n_deferred == DEFER_MAX)
		return -1; /* the engine goes on at once */
	deferred_fn[n_deferred] = fn;
	deferred_arg[n_deferred] = arg;
	n_deferred++;
	return 0;
}

static void on_done(void *arg, char *body, size_t len)
{
	done_calls++;
	if (body) {
		assert(len > 0 && body[len - 1] == '\n' && strlen(body) == len);
		json_error_t err;
		json_t *v = json_loadb(body, len, JSON_DECODE_ANY, &err);
		assert(v);
		assert(json_is_object(v) ||
		       (json_is_array(v) && json_array_size(v) > 0 &&
			json_array_size(v) <= RUMOR_JSONRPC_BATCH_MAX));
		json_decref(v);
	}
	free(body);
}

/* Runs the loop's share of the work until nothing is left: deferred slices,
 * then parked calls (some with errors). */
static void settle(void)
{
	while (n_deferred || n_parked) {
		while (n_deferred) {
			void (*fn)(void *) = deferred_fn[0];
			void *arg = deferred_arg[0];
			memmove(deferred_fn, deferred_fn + 1, (n_deferred - 1) * sizeof(*deferred_fn));
			memmove(deferred_arg, deferred_arg + 1, (n_deferred - 1) * sizeof(*deferred_arg));
			n_deferred--;
			fn(arg);
		}
		size_t n = n_parked;
		n_parked = 0;
		for (size_t i = 0; i < n; i++) {
			if (i & 1)
				rumor_jsonrpc_error(parked[i], -2, "later error", NULL);
			else
				rumor_jsonrpc_reply(parked[i], json_integer((json_int_t)i));
		}
	}
}

static char *whole_answer;

static void on_whole(void *arg, char *body, size_t len)
{
	whole_answer = body;
}

/* A body refused on the way: its answer is valid, and the one the whole
 * body gets when the input holds it.  in[0..at) was read: the body's
 * start is after the last blank line, and its length in the headers. */
static void refused(struct rumor_http_parse *p, const char *in, size_t at, size_t len,
		    const struct rumor_jsonrpc_server *server)
{
	size_t answer_len;
	char *answer = rumor_jsonrpc_refusal(rumor_http_parse_refusal(p), &answer_len);
	on_done(NULL, strdup(answer), answer_len);
	size_t received;
	uint64_t expected;
	rumor_http_parse_body_progress(p, &received, &expected);
	/* the parser took every body byte it received: the body starts
	 * `received` bytes before `at` (chunked bodies have framing in
	 * between: only Content-Length bodies are compared) */
	if (expected != UINT64_MAX && received <= at && at - received + expected <= len) {
		const char *body = in + at - received;
		if (at - received >= 4 && memcmp(body - 4, "\r\n\r\n", 4) == 0) {
			whole_answer = NULL;
			/* a limit: answered at once, no request left */
			assert(!rumor_jsonrpc_handle(server, body, (size_t)expected, on_whole, NULL));
			assert(whole_answer && strcmp(whole_answer, answer) == 0);
			free(whole_answer);
		}
	}
	free(answer);
}

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
	uint8_t flags = data[1];
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	if (flags & 1)
		limits.max_header_bytes = 256;
	if (flags & 2)
		limits.max_body_bytes = 256;
	struct rumor_json_limits json_limits;
	rumor_json_limits_default(&json_limits);
	if (flags & 4) {
		json_limits.max_values = 16;
		json_limits.max_depth = 4;
		json_limits.max_key_bytes = 8;
		json_limits.max_string_bytes = 32;
	}
	struct rumor_jsonrpc_server server = {
		.methods = methods,
		.n_methods = sizeof(methods) / sizeof(methods[0]),
		.response_max = (flags & 8) ? 8192 : 0,
		.json_limits = &json_limits,
		.defer = defer,
	};
	rumor_jsonrpc_json_limits(&server, &limits.json);
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
			break;
		}
		if (st == RUMOR_HTTP_PARSE_MORE) {
			assert(used == n);
			continue;
		}
		if (st == RUMOR_HTTP_PARSE_REFUSED) {
			refused(p, in, off, len, &server);
			break;
		}
		assert(rumor_http_parse_phase(p) == RUMOR_HTTP_PHASE_BODY);
		size_t blen;
		char *body = rumor_http_parse_take_body(p, &blen);
		assert(body && blen <= limits.max_body_bytes && body[blen] == '\0');
		done_calls = 0;
		struct rumor_jsonrpc_request *req =
			rumor_jsonrpc_handle(&server, body, blen, on_done, NULL);
		free(body); /* the engine keeps nothing of the text */
		if (req && (flags & 16))
			rumor_jsonrpc_request_cancel(req);
		settle();
		assert(done_calls == 1);
		int keep = rumor_http_parse_keep_alive(p);
		rumor_http_parse_next(p);
		assert(rumor_http_parse_phase(p) == RUMOR_HTTP_PHASE_IDLE);
		if (!keep)
			break; /* the server closes here */
	}
	rumor_http_parse_del(p);
	return 0;
}
