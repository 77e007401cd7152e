/*
 * test/unit/test_jsonrpc.c: the JSON-RPC 2.0 engine with fake methods.
 * Every test checks the exact response (parsed back with jansson) and how
 * many times done ran; the sanitizers check that nothing leaks.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rpc/jsonrpc.h"

/* ---- fake methods ---- */

static int method_calls;
static struct rumor_jsonrpc_call *parked[4]; /* async calls not yet answered */
static size_t n_parked;

static void m_echo(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	method_calls++;
	rumor_jsonrpc_reply(call, json_incref(params));
}

static void m_fail(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	method_calls++;
	rumor_jsonrpc_error(call, -5, "no such item", json_string("extra"));
}

static void m_later(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	method_calls++;
	assert_true(n_parked < 4);
	parked[n_parked++] = call;
	rumor_jsonrpc_set_call_data(call, (void *)(uintptr_t)n_parked);
}

/* Parks the call like later, holding params[0] bytes of the budget. */
static void m_reserve(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	rumor_jsonrpc_call_reserve(call, (size_t)json_integer_value(json_array_get(params, 0)));
	m_later(call, params, ctx);
}

static void m_subtract(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	method_calls++;
	json_t *a = json_array_get(params, 0), *b = json_array_get(params, 1);
	if (!json_is_integer(a) || !json_is_integer(b) || json_array_size(params) != 2) {
		rumor_jsonrpc_error(call, RUMOR_JSONRPC_INVALID_PARAMS, "need two integers",
				    NULL);
		return;
	}
	rumor_jsonrpc_reply(call,
			    json_integer(json_integer_value(a) - json_integer_value(b)));
}

static const char *const subtract_names[] = {"minuend", "subtrahend", NULL};
static const char *const echo_names[] = {"a", "b", "c", NULL};

static const struct rumor_jsonrpc_method methods[] = {
	{"echo", m_echo, echo_names, "echo a b c"},
	{"fail", m_fail, NULL, "fail"},
	{"later", m_later, NULL, "later"},
	{"subtract", m_subtract, subtract_names, "subtract minuend subtrahend"},
};
static const struct rumor_jsonrpc_server server = {.methods = methods, .n_methods = 4};

/* ---- done capture ---- */

static int done_calls;
static char *done_body;
static size_t done_len;

static void on_done(void *arg, char *body, size_t len)
{
	assert_ptr_equal(arg, &done_calls);
	done_calls++;
	free(done_body);
	done_body = body;
	done_len = len;
	if (body) {
		assert_int_equal(strlen(body), len);
		assert_int_equal(body[len - 1], '\n');
	}
}

static int setup(void **state)
{
	method_calls = 0;
	n_parked = 0;
	done_calls = 0;
	done_body = NULL;
	done_len = 0;
	return 0;
}

static int teardown(void **state)
{
	free(done_body);
	done_body = NULL;
	return 0;
}

/* Runs a request that must finish at once; returns the parsed response (or
 * NULL when nothing is to be sent). */
static json_t *run(const char *text)
{
	done_calls = 0;
	struct rumor_jsonrpc_request *req =
		rumor_jsonrpc_handle(&server, text, strlen(text), on_done, &done_calls);
	assert_null(req);
	assert_int_equal(done_calls, 1);
	if (!done_body)
		return NULL;
	json_error_t err;
	json_t *v = json_loads(done_body, 0, &err);
	assert_non_null(v);
	return v;
}

static void assert_error(json_t *resp, int code, const char *id_json)
{
	assert_true(json_is_object(resp));
	assert_string_equal(json_string_value(json_object_get(resp, "jsonrpc")), "2.0");
	json_t *err = json_object_get(resp, "error");
	assert_true(json_is_object(err));
	assert_int_equal(json_integer_value(json_object_get(err, "code")), code);
	assert_true(json_is_string(json_object_get(err, "message")));
	assert_null(json_object_get(resp, "result"));
	char *id = json_dumps(json_object_get(resp, "id"), JSON_ENCODE_ANY);
	assert_string_equal(id, id_json);
	free(id);
}

static void assert_result(json_t *resp, const char *result_json, const char *id_json)
{
	assert_true(json_is_object(resp));
	assert_string_equal(json_string_value(json_object_get(resp, "jsonrpc")), "2.0");
	assert_null(json_object_get(resp, "error"));
	char *r = json_dumps(json_object_get(resp, "result"), JSON_ENCODE_ANY | JSON_COMPACT);
	assert_non_null(r);
	assert_string_equal(r, result_json);
	free(r);
	char *id = json_dumps(json_object_get(resp, "id"), JSON_ENCODE_ANY);
	assert_string_equal(id, id_json);
	free(id);
}

/* ---- tests ---- */

static void test_single(void **state)
{
	json_t *r = run("{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[42,23],\"id\":1}");
	assert_result(r, "19", "1");
	json_decref(r);
	/* exact serialisation: compact, ordered members, newline */
	assert_string_equal(done_body, "{\"jsonrpc\":\"2.0\",\"result\":19,\"id\":1}\n");
}

static void test_params_by_name(void **state)
{
	json_t *r = run("{\"jsonrpc\":\"2.0\",\"method\":\"subtract\","
			"\"params\":{\"subtrahend\":23,\"minuend\":42},\"id\":3}");
	assert_result(r, "19", "3");
	json_decref(r);
	/* gaps before the last given name are null; nothing after it */
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"b\":2},\"id\":4}");
	assert_result(r, "[null,2]", "4");
	json_decref(r);
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{},\"id\":5}");
	assert_result(r, "[]", "5");
	json_decref(r);
	/* absent params: empty array */
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":6}");
	assert_result(r, "[]", "6");
	json_decref(r);
}

static void test_invalid_params(void **state)
{
	json_t *r = run("{\"jsonrpc\":\"2.0\",\"method\":\"subtract\","
			"\"params\":{\"minuend\":1,\"bogus\":2},\"id\":7}");
	assert_error(r, RUMOR_JSONRPC_INVALID_PARAMS, "7");
	json_decref(r);
	/* a method without param_names takes no named params */
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"params\":{\"x\":1},\"id\":8}");
	assert_error(r, RUMOR_JSONRPC_INVALID_PARAMS, "8");
	json_decref(r);
	/* the method's own -32602 */
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[1],\"id\":9}");
	assert_error(r, RUMOR_JSONRPC_INVALID_PARAMS, "9");
	json_decref(r);
	/* params of the wrong type is an invalid request */
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":\"bar\",\"id\":10}");
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "10");
	json_decref(r);
}

static void test_method_error_with_data(void **state)
{
	json_t *r = run("{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"id\":\"abc\"}");
	assert_error(r, -5, "\"abc\"");
	assert_string_equal(json_string_value(json_object_get(json_object_get(r, "error"),
							      "data")),
			    "extra");
	json_decref(r);
}

static void test_method_not_found(void **state)
{
	json_t *r = run("{\"jsonrpc\":\"2.0\",\"method\":\"foobar\",\"id\":\"1\"}");
	assert_error(r, RUMOR_JSONRPC_METHOD_NOT_FOUND, "\"1\"");
	json_decref(r);
	/* as a notification: no answer */
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"foobar\"}");
	assert_null(r);
}

static void test_parse_error(void **state)
{
	json_t *r = run("{\"jsonrpc\":\"2.0\",\"method\":\"foobar,\"params\":\"bar\",\"baz]");
	assert_error(r, RUMOR_JSONRPC_PARSE_ERROR, "null");
	json_decref(r);
	r = run("");
	assert_error(r, RUMOR_JSONRPC_PARSE_ERROR, "null");
	json_decref(r);
	/* batch with invalid JSON */
	r = run("[{\"jsonrpc\":\"2.0\",\"method\":\"sum\",\"params\":[1,2,4],\"id\":\"1\"},"
		"{\"jsonrpc\":\"2.0\",\"method\"]");
	assert_error(r, RUMOR_JSONRPC_PARSE_ERROR, "null");
	json_decref(r);
	/* duplicate keys are rejected */
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"method\":\"fail\",\"id\":1}");
	assert_error(r, RUMOR_JSONRPC_PARSE_ERROR, "null");
	json_decref(r);
	assert_int_equal(method_calls, 0);
}

static void test_invalid_request(void **state)
{
	json_t *r = run("{\"jsonrpc\":\"2.0\",\"method\":1,\"params\":\"bar\"}");
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "null");
	json_decref(r);
	r = run("{\"jsonrpc\":\"1.0\",\"method\":\"echo\",\"id\":2}");
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "2");
	json_decref(r);
	r = run("{\"method\":\"echo\",\"id\":2}");
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "2");
	json_decref(r);
	r = run("{\"jsonrpc\":2.0,\"method\":\"echo\",\"id\":2}");
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "2");
	json_decref(r);
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":[1]}");
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "null");
	json_decref(r);
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":true}");
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "null");
	json_decref(r);
	r = run("42");
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "null");
	json_decref(r);
	r = run("\"x\"");
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "null");
	json_decref(r);
	assert_int_equal(method_calls, 0);
}

static void test_empty_batch(void **state)
{
	json_t *r = run("[]");
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "null");
	json_decref(r);
}

static void test_batch_of_invalid(void **state)
{
	json_t *r = run("[1]");
	assert_true(json_is_array(r));
	assert_int_equal(json_array_size(r), 1);
	assert_error(json_array_get(r, 0), RUMOR_JSONRPC_INVALID_REQUEST, "null");
	json_decref(r);
	r = run("[1,2,3]");
	assert_int_equal(json_array_size(r), 3);
	for (size_t i = 0; i < 3; i++)
		assert_error(json_array_get(r, i), RUMOR_JSONRPC_INVALID_REQUEST, "null");
	json_decref(r);
}

static void test_batch_mixed(void **state)
{
	json_t *r = run("["
			"{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[5,1],\"id\":\"1\"},"
			"{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[7]},"
			"{\"jsonrpc\":\"2.0\",\"method\":\"subtract\",\"params\":[42,23],\"id\":\"2\"},"
			"{\"foo\":\"boo\"},"
			"{\"jsonrpc\":\"2.0\",\"method\":\"foo.get\",\"params\":{\"name\":\"myself\"},\"id\":\"5\"},"
			"{\"jsonrpc\":\"2.0\",\"method\":\"fail\",\"id\":\"9\"}"
			"]");
	assert_true(json_is_array(r));
	assert_int_equal(json_array_size(r), 5);
	assert_result(json_array_get(r, 0), "4", "\"1\"");
	assert_result(json_array_get(r, 1), "19", "\"2\"");
	assert_error(json_array_get(r, 2), RUMOR_JSONRPC_INVALID_REQUEST, "null");
	assert_error(json_array_get(r, 3), RUMOR_JSONRPC_METHOD_NOT_FOUND, "\"5\"");
	assert_error(json_array_get(r, 4), -5, "\"9\"");
	json_decref(r);
	assert_int_equal(method_calls, 4);
}

static void test_notifications_only(void **state)
{
	json_t *r = run("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1,2,4]},"
			"{\"jsonrpc\":\"2.0\",\"method\":\"fail\"}]");
	assert_null(r);
	assert_null(done_body);
	assert_int_equal(method_calls, 2); /* notifications do run */
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1]}");
	assert_null(r);
	assert_int_equal(method_calls, 3);
}

static void test_id_types(void **state)
{
	static const char *const ids[] = {"0", "-7", "9007199254740993", "1.5", "\"\"",
					  "\"x y\\u00e9\"", "null"};
	for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		char text[256];
		snprintf(text, sizeof(text),
			 "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[true],\"id\":%s}",
			 ids[i]);
		json_t *r = run(text);
		assert_non_null(r);
		json_error_t err;
		json_t *want = json_loads(ids[i], JSON_DECODE_ANY, &err);
		assert_non_null(want);
		assert_true(json_equal(json_object_get(r, "id"), want));
		char *want_text = json_dumps(want, JSON_ENCODE_ANY);
		assert_result(r, "[true]", want_text);
		free(want_text);
		json_decref(want);
		json_decref(r);
	}
}

static void test_async_reply(void **state)
{
	struct rumor_jsonrpc_request *req;
	const char *text = "[{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":1},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[2],\"id\":2},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":3}]";
	req = rumor_jsonrpc_handle(&server, text, strlen(text), on_done, &done_calls);
	assert_non_null(req);
	assert_int_equal(done_calls, 0);
	assert_int_equal(n_parked, 2);
	assert_true(rumor_jsonrpc_call_data(parked[1]) == (void *)(uintptr_t)2);
	/* answer out of order: the response keeps call order */
	rumor_jsonrpc_reply(parked[1], json_string("third"));
	assert_int_equal(done_calls, 0);
	rumor_jsonrpc_error(parked[0], -1, "first failed", NULL);
	assert_int_equal(done_calls, 1);
	json_error_t err;
	json_t *r = json_loads(done_body, 0, &err);
	assert_int_equal(json_array_size(r), 3);
	assert_error(json_array_get(r, 0), -1, "1");
	assert_result(json_array_get(r, 1), "[2]", "2");
	assert_result(json_array_get(r, 2), "\"third\"", "3");
	json_decref(r);
}

static void test_async_single(void **state)
{
	const char *text = "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":\"q\"}";
	struct rumor_jsonrpc_request *req =
		rumor_jsonrpc_handle(&server, text, strlen(text), on_done, &done_calls);
	assert_non_null(req);
	assert_int_equal(n_parked, 1);
	rumor_jsonrpc_reply(parked[0], json_pack("{s:i}", "n", 1));
	assert_int_equal(done_calls, 1);
	assert_string_equal(done_body, "{\"jsonrpc\":\"2.0\",\"result\":{\"n\":1},\"id\":\"q\"}\n");
}

/* String and integer answers are written without a json_t tree: every
 * byte that JSON requires escaping is escaped, and the body parses back to
 * exactly the id and the result given (embedded NUL, controls, quote,
 * reverse solidus, UTF-8 included). */
static void test_direct_escaping(void **state)
{
	static const char value[] = "q\0r\x01\x1f\"\\/\b\f\n\r\t\xc3\xa9\xe2\x80\xa8 end";
	const char *text = "[{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":\"i\\\"d\\u0001\\\\\"},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":-9223372036854775808},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":2}]";
	struct rumor_jsonrpc_request *req =
		rumor_jsonrpc_handle(&server, text, strlen(text), on_done, &done_calls);
	json_error_t err;

	assert_non_null(req);
	assert_int_equal(n_parked, 3);
	rumor_jsonrpc_reply(parked[0], json_stringn(value, sizeof(value) - 1));
	rumor_jsonrpc_reply(parked[1], json_integer(-7));
	rumor_jsonrpc_reply(parked[2], json_string("a\"b\\c\n"));
	assert_int_equal(done_calls, 1);
	json_t *body = json_loads(done_body, JSON_ALLOW_NUL, &err);
	assert_non_null(body);
	assert_int_equal(json_array_size(body), 3);

	json_t *r0 = json_array_get(body, 0);
	assert_string_equal(json_string_value(json_object_get(r0, "jsonrpc")), "2.0");
	assert_string_equal(json_string_value(json_object_get(r0, "id")), "i\"d\x01\\");
	json_t *res = json_object_get(r0, "result");
	assert_int_equal(json_string_length(res), sizeof(value) - 1);
	assert_memory_equal(json_string_value(res), value, sizeof(value) - 1);

	json_t *r1 = json_array_get(body, 1);
	assert_true(json_integer_value(json_object_get(r1, "id")) == INT64_MIN);
	assert_int_equal(json_integer_value(json_object_get(r1, "result")), -7);
	json_decref(body);

	/* the exact bytes of the simple cases */
	assert_non_null(strstr(done_body, "{\"jsonrpc\":\"2.0\",\"result\":-7,"
					  "\"id\":-9223372036854775808}"));
	assert_non_null(strstr(done_body, "{\"jsonrpc\":\"2.0\",\"result\":\"a\\\"b\\\\c\\n\","
					  "\"id\":2}]\n"));
	assert_non_null(strstr(done_body, "\"id\":\"i\\\"d\\u0001\\\\\"}"));
}

static void test_cancel(void **state)
{
	const char *text = "[{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":1},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"later\",\"id\":2}]";
	struct rumor_jsonrpc_request *req =
		rumor_jsonrpc_handle(&server, text, strlen(text), on_done, &done_calls);
	assert_non_null(req);
	rumor_jsonrpc_reply(parked[0], json_string("a"));
	rumor_jsonrpc_request_cancel(req);
	/* the last answer frees the request; done runs with no body */
	rumor_jsonrpc_reply(parked[1], json_string("b"));
	assert_int_equal(done_calls, 1);
	assert_null(done_body);
}

static void test_cancel_notification(void **state)
{
	const char *text = "{\"jsonrpc\":\"2.0\",\"method\":\"later\"}";
	struct rumor_jsonrpc_request *req =
		rumor_jsonrpc_handle(&server, text, strlen(text), on_done, &done_calls);
	assert_non_null(req);
	rumor_jsonrpc_request_cancel(req);
	assert_int_equal(done_calls, 0);
	rumor_jsonrpc_error(parked[0], -1, "x", json_true());
	assert_int_equal(done_calls, 1);
	assert_null(done_body);
}

static void test_batch_cap(void **state)
{
	const char *one = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1},";
	size_t n = RUMOR_JSONRPC_BATCH_MAX + 1;
	char *text = malloc(n * strlen(one) + 3);
	char *p = text;
	*p++ = '[';
	for (size_t i = 0; i < n; i++) {
		memcpy(p, one, strlen(one));
		p += strlen(one);
	}
	p[-1] = ']';
	*p = '\0';
	json_t *r = run(text);
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "null");
	json_decref(r);
	assert_int_equal(method_calls, 0);
	/* exactly the cap is served */
	size_t cut = strlen(text) - strlen(one) - 1; /* the comma before the last call */
	text[cut] = ']';
	text[cut + 1] = '\0';
	r = run(text);
	assert_int_equal(json_array_size(r), RUMOR_JSONRPC_BATCH_MAX);
	json_decref(r);
	assert_int_equal(method_calls, RUMOR_JSONRPC_BATCH_MAX);
	free(text);
}

static void test_find(void **state)
{
	assert_ptr_equal(rumor_jsonrpc_find(&server, "fail"), &methods[1]);
	assert_null(rumor_jsonrpc_find(&server, "FAIL"));
}

/* Answers past the request's byte budget become -32603 errors, so a batch
 * of calls that each return a lot cannot build an unbounded response. */
static void m_big(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	char text[101];
	memset(text, 'x', 100);
	text[100] = '\0';
	rumor_jsonrpc_reply(call, json_string(text));
}

static const struct rumor_jsonrpc_method big_methods[] = {
	{"big", m_big, NULL, "big"},
};

static char *big_body;
static void big_done(void *arg, char *body, size_t len)
{
	big_body = body;
}

static void test_response_budget(void **state)
{
	/* each answer is {"jsonrpc":"2.0","result":"x*100","id":N}: ~130 bytes */
	const struct rumor_jsonrpc_server small = {.methods = big_methods, .n_methods = 1, .response_max = 300};
	const char *req = "[{\"jsonrpc\":\"2.0\",\"method\":\"big\",\"id\":1},"
			  "{\"jsonrpc\":\"2.0\",\"method\":\"big\",\"id\":2},"
			  "{\"jsonrpc\":\"2.0\",\"method\":\"big\",\"id\":3}]";
	big_body = NULL;
	assert_null(rumor_jsonrpc_handle(&small, req, strlen(req), big_done, NULL));
	assert_non_null(big_body);
	json_t *resp = json_loads(big_body, 0, NULL);
	assert_non_null(resp);
	assert_int_equal(json_array_size(resp), 3);
	assert_non_null(json_object_get(json_array_get(resp, 0), "result"));
	assert_non_null(json_object_get(json_array_get(resp, 1), "result"));
	json_t *err = json_object_get(json_array_get(resp, 2), "error");
	assert_non_null(err);
	assert_int_equal(json_integer_value(json_object_get(err, "code")), -32603);
	assert_non_null(strstr(json_string_value(json_object_get(err, "message")), "too large"));
	assert_int_equal(json_integer_value(json_object_get(json_array_get(resp, 2), "id")), 3);
	json_decref(resp);
	free(big_body);
	/* The default budget is generous: the same batch is answered in full. */
	const struct rumor_jsonrpc_server dflt = {.methods = big_methods, .n_methods = 1};
	big_body = NULL;
	assert_null(rumor_jsonrpc_handle(&dflt, req, strlen(req), big_done, NULL));
	resp = json_loads(big_body, 0, NULL);
	assert_non_null(json_object_get(json_array_get(resp, 2), "result"));
	json_decref(resp);
	free(big_body);
}

static const char *error_message(json_t *resp)
{
	return json_string_value(json_object_get(json_object_get(resp, "error"), "message"));
}

/* Errors say what is wrong and where. */
static void test_error_messages(void **state)
{
	json_t *r = run("{\"jsonrpc\":\"2.0\",\"method\":\"echo\" \"id\":1}");
	assert_error(r, RUMOR_JSONRPC_PARSE_ERROR, "null");
	assert_non_null(strstr(error_message(r), "parse error: "));
	assert_non_null(strstr(error_message(r), "expected near '\"id\"' (line 1, column 37, byte 37)"));
	json_decref(r);
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"method\":\"fail\",\"id\":1}");
	assert_non_null(strstr(error_message(r), "duplicate object key"));
	json_decref(r);
	/* tiny values: refused at the limit, long before the end */
	size_t n = 2 * RUMOR_JSON_MAX_VALUES + 2;
	char *text = malloc(2 * n + 64);
	size_t o = (size_t)sprintf(text, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[");
	for (size_t i = 0; i < n; i++) {
		text[o++] = '0';
		text[o++] = ',';
	}
	o--;
	o += (size_t)sprintf(text + o, "],\"id\":1}");
	r = run(text);
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "null");
	assert_non_null(strstr(error_message(r), "more than 100000 JSON values"));
	json_decref(r);
	free(text);
	assert_int_equal(method_calls, 0);
	/* deep nesting */
	r = run("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["
		"[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]],\"id\":1}");
	assert_error(r, RUMOR_JSONRPC_INVALID_REQUEST, "null");
	assert_non_null(strstr(error_message(r), "nested deeper than 32"));
	json_decref(r);
}

/* Once the answer budget is spent, the rest of the batch is refused
 * without running. */
static void test_budget_checked_before_calls(void **state)
{
	const struct rumor_jsonrpc_server small = {.methods = methods, .n_methods = 4,
						   .response_max = 100};
	const char *one = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[\"xxxxxxxxxxxxxxxxxxxx"
			  "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"],\"id\":1},";
	char text[8192];
	size_t o = 0;
	text[o++] = '[';
	for (int i = 0; i < 20; i++) {
		memcpy(text + o, one, strlen(one));
		o += strlen(one);
	}
	text[o - 1] = ']';
	text[o] = '\0';
	done_body = NULL;
	assert_null(rumor_jsonrpc_handle(&small, text, o, on_done, &done_calls));
	json_t *r = json_loads(done_body, 0, NULL);
	assert_int_equal(json_array_size(r), 20);
	/* the first answer (~90 bytes) fits; the second is refused after
	 * running; the other 18 are refused before */
	assert_int_equal(method_calls, 2);
	assert_non_null(json_object_get(json_array_get(r, 0), "result"));
	for (size_t i = 1; i < 20; i++)
		assert_non_null(strstr(error_message(json_array_get(r, i)), "response too large"));
	json_decref(r);
	free(done_body);
	done_body = NULL;
}

/* A call that answers later holds its reservation of the budget: calls
 * dispatched after the reservations pass it are refused unrun; when it
 * answers, its real (smaller) size replaces the reservation, so the
 * answers that fit are not refused for bytes that never came. */
static void test_reservation(void **state)
{
	static const struct rumor_jsonrpc_method rmethods[] = {{"reserve", m_reserve, NULL, "r"}};
	const struct rumor_jsonrpc_server small = {.methods = rmethods, .n_methods = 1,
						   .response_max = 1000};
	const char *text = "[{\"jsonrpc\":\"2.0\",\"method\":\"reserve\",\"params\":[400],\"id\":1},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"reserve\",\"params\":[400],\"id\":2},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"reserve\",\"params\":[400],\"id\":3},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"reserve\",\"params\":[400],\"id\":4}]";
	done_body = NULL;
	struct rumor_jsonrpc_request *req =
		rumor_jsonrpc_handle(&small, text, strlen(text), on_done, &done_calls);
	assert_non_null(req);
	/* 0, 400 and 800 are under 1000: calls 1, 2 and 3 ran; at 1200 the
	 * 4th was refused before running (its error, ~125 bytes, counts too:
	 * without the release below, no answer would fit) */
	assert_int_equal(method_calls, 3);
	assert_int_equal(n_parked, 3);
	assert_int_equal(done_calls, 0);
	for (size_t i = 0; i < 3; i++)
		rumor_jsonrpc_reply(parked[i], json_integer((json_int_t)i));
	assert_int_equal(done_calls, 1);
	json_t *r = json_loads(done_body, 0, NULL);
	assert_int_equal(json_array_size(r), 4);
	assert_result(json_array_get(r, 0), "0", "1");
	assert_result(json_array_get(r, 1), "1", "2");
	assert_result(json_array_get(r, 2), "2", "3");
	assert_non_null(strstr(error_message(json_array_get(r, 3)), "response too large"));
	json_decref(r);
	free(done_body);
	done_body = NULL;
}

/* With a defer hook a long batch runs in slices of
 * RUMOR_JSONRPC_SLICE_CALLS, and a cancel between slices stops it. */
static void (*deferred_fn)(void *);
static void *deferred_arg;
static int defers;
static int test_defer(void *done_arg, void (*fn)(void *), void *fn_arg)
{
	assert_ptr_equal(done_arg, &done_calls);
	assert_null(deferred_fn);
	deferred_fn = fn;
	deferred_arg = fn_arg;
	defers++;
	return 0;
}

static void run_deferred(void)
{
	void (*fn)(void *) = deferred_fn;
	deferred_fn = NULL;
	fn(deferred_arg);
}

static char *batch_of_echo(size_t n)
{
	const char *one = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1},";
	char *text = malloc(n * strlen(one) + 3);
	size_t o = 0;
	text[o++] = '[';
	for (size_t i = 0; i < n; i++) {
		memcpy(text + o, one, strlen(one));
		o += strlen(one);
	}
	text[o - 1] = ']';
	text[o] = '\0';
	return text;
}

static void test_slices(void **state)
{
	const struct rumor_jsonrpc_server sliced = {.methods = methods, .n_methods = 4,
						    .defer = test_defer};
	char *text = batch_of_echo(250);
	defers = 0;
	done_body = NULL;
	struct rumor_jsonrpc_request *req =
		rumor_jsonrpc_handle(&sliced, text, strlen(text), on_done, &done_calls);
	assert_non_null(req);
	assert_int_equal(method_calls, 0); /* parsed; the first slice waits a turn */
	run_deferred();
	assert_int_equal(method_calls, RUMOR_JSONRPC_SLICE_CALLS);
	run_deferred();
	assert_int_equal(method_calls, 2 * RUMOR_JSONRPC_SLICE_CALLS);
	assert_int_equal(done_calls, 0);
	run_deferred();
	assert_int_equal(method_calls, 250);
	assert_null(deferred_fn);
	assert_int_equal(done_calls, 1);
	json_t *r = json_loads(done_body, 0, NULL);
	assert_int_equal(json_array_size(r), 250);
	json_decref(r);
	free(done_body);
	done_body = NULL;

	/* cancelled between slices: the rest never runs; done runs once,
	 * without a body */
	method_calls = 0;
	done_calls = 0;
	req = rumor_jsonrpc_handle(&sliced, text, strlen(text), on_done, &done_calls);
	assert_non_null(req);
	run_deferred();
	rumor_jsonrpc_request_cancel(req);
	run_deferred();
	assert_null(deferred_fn);
	assert_int_equal(method_calls, RUMOR_JSONRPC_SLICE_CALLS);
	assert_int_equal(done_calls, 1);
	assert_null(done_body);
	free(text);
}

/* reply_hex writes what reply(json_string(hex)) would, for every kind of
 * id. */
static void m_hex(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	static const unsigned char bytes[] = {0x00, 0x01, 0xab, 0xff, 0x7f};
	method_calls++;
	rumor_jsonrpc_reply_hex(call, bytes, sizeof(bytes));
}

static const struct rumor_jsonrpc_method hex_methods[] = {
	{"hex", m_hex, NULL, "hex"},
};

static void test_reply_hex(void **state)
{
	const struct rumor_jsonrpc_server hs = {.methods = hex_methods, .n_methods = 1};
	const char *text = "[{\"jsonrpc\":\"2.0\",\"method\":\"hex\",\"id\":7},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"hex\",\"id\":\"a\\\"b\"},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"hex\",\"id\":null},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"hex\",\"id\":1.5},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"hex\"}]";
	assert_null(rumor_jsonrpc_handle(&hs, text, strlen(text), on_done, &done_calls));
	assert_int_equal(method_calls, 5);
	assert_string_equal(done_body, "[{\"jsonrpc\":\"2.0\",\"result\":\"0001abff7f\",\"id\":7},"
				       "{\"jsonrpc\":\"2.0\",\"result\":\"0001abff7f\",\"id\":\"a\\\"b\"},"
				       "{\"jsonrpc\":\"2.0\",\"result\":\"0001abff7f\",\"id\":null},"
				       "{\"jsonrpc\":\"2.0\",\"result\":\"0001abff7f\",\"id\":1.5}]\n");
}

/* reply_json wraps the caller's JSON text as the result, for every kind of
 * id. */
static void m_json(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	static const char text[] = "{\"a\":[1,\"x\"],\"b\":null}";
	method_calls++;
	rumor_jsonrpc_reply_json(call, text, strlen(text));
}

static const struct rumor_jsonrpc_method json_methods[] = {
	{"json", m_json, NULL, "json"},
};

static void test_reply_json(void **state)
{
	const struct rumor_jsonrpc_server js = {.methods = json_methods, .n_methods = 1};
	const char *text = "[{\"jsonrpc\":\"2.0\",\"method\":\"json\",\"id\":7},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"json\",\"id\":\"a\\\"b\"},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"json\",\"id\":null},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"json\",\"id\":1.5},"
			   "{\"jsonrpc\":\"2.0\",\"method\":\"json\"}]";
	assert_null(rumor_jsonrpc_handle(&js, text, strlen(text), on_done, &done_calls));
	assert_int_equal(method_calls, 5);
	assert_string_equal(done_body,
			    "[{\"jsonrpc\":\"2.0\",\"result\":{\"a\":[1,\"x\"],\"b\":null},\"id\":7},"
			    "{\"jsonrpc\":\"2.0\",\"result\":{\"a\":[1,\"x\"],\"b\":null},\"id\":\"a\\\"b\"},"
			    "{\"jsonrpc\":\"2.0\",\"result\":{\"a\":[1,\"x\"],\"b\":null},\"id\":null},"
			    "{\"jsonrpc\":\"2.0\",\"result\":{\"a\":[1,\"x\"],\"b\":null},\"id\":1.5}]\n");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_single, setup, teardown),
		cmocka_unit_test_setup_teardown(test_params_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_params, setup, teardown),
		cmocka_unit_test_setup_teardown(test_method_error_with_data, setup, teardown),
		cmocka_unit_test_setup_teardown(test_method_not_found, setup, teardown),
		cmocka_unit_test_setup_teardown(test_parse_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_error_messages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reservation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_budget_checked_before_calls, setup, teardown),
		cmocka_unit_test_setup_teardown(test_slices, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_hex, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reply_json, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_request, setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_of_invalid, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_mixed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_notifications_only, setup, teardown),
		cmocka_unit_test_setup_teardown(test_id_types, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_reply, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_single, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel_notification, setup, teardown),
		cmocka_unit_test_setup_teardown(test_direct_escaping, setup, teardown),
		cmocka_unit_test_setup_teardown(test_batch_cap, setup, teardown),
		cmocka_unit_test_setup_teardown(test_find, setup, teardown),
		cmocka_unit_test(test_response_budget),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
