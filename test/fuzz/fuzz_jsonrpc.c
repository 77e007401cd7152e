/*
 * test/fuzz/fuzz_jsonrpc.c: feeds arbitrary bodies to the JSON-RPC engine.
 *
 * The first byte picks how the fake methods behave: answer at once, answer
 * later (after rumor_jsonrpc_handle returned), in reverse order, and whether
 * the request is cancelled first.  Checks: done runs exactly once (with no
 * body when cancelled), a response body is valid JSON ending in a newline, and nothing
 * leaks (ASan).
 */
#include <assert.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rpc/jsonrpc.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define PARK_MAX (RUMOR_JSONRPC_BATCH_MAX)
static struct rumor_jsonrpc_call *parked[PARK_MAX];
static size_t n_parked;
static int done_calls;

static void m_now(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	assert(json_is_array(params));
	rumor_jsonrpc_reply(call, json_incref(params));
}

static void m_error(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	rumor_jsonrpc_error(call, -1, "error", json_array_size(params) ? json_true() : NULL);
}

static void m_later(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	assert(n_parked < PARK_MAX);
	parked[n_parked++] = call;
}

static const char *const names[] = {"a", "b", "c", NULL};
static const struct rumor_jsonrpc_method methods[] = {
	{"now", m_now, names, ""},
	{"error", m_error, NULL, ""},
	{"later", m_later, names, ""},
};
static const struct rumor_jsonrpc_server server = {.methods = methods, .n_methods = 3};

static void on_done(void *arg, char *body, size_t len)
{
	done_calls++;
	if (body) {
		assert(len > 0 && body[len - 1] == '\n' && strlen(body) == len);
		json_error_t err;
		json_t *v = json_loadb(body, len, JSON_DECODE_ANY, &err);
		assert(v);
		assert(json_is_object(v) || (json_is_array(v) && json_array_size(v) > 0));
		json_decref(v);
	}
	free(body);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t mode = data[0];
	n_parked = 0;
	done_calls = 0;
	struct rumor_jsonrpc_request *req = rumor_jsonrpc_handle(
		&server, (const char *)data + 1, size - 1, on_done, NULL);
	if (!req) {
		assert(done_calls == 1);
		assert(n_parked == 0);
		return 0;
	}
	assert(done_calls == 0 && n_parked > 0);
	int cancel = mode & 1;
	if (cancel && (mode & 2))
		rumor_jsonrpc_request_cancel(req);
	for (size_t i = 0; i < n_parked; i++) {
		size_t k = (mode & 4) ? n_parked - 1 - i : i;
		if (cancel && !(mode & 2) && i == n_parked / 2)
			rumor_jsonrpc_request_cancel(req);
		if (k & 1)
			rumor_jsonrpc_error(parked[k], -2, "later error", NULL);
		else
			rumor_jsonrpc_reply(parked[k], json_integer((json_int_t)k));
	}
	assert(done_calls == 1); /* after a cancel, without a body */
	return 0;
}
