/*
 * rpc/jsonrpc.c: the JSON-RPC 2.0 engine (see rpc/jsonrpc.h).
 *
 * One struct rumor_jsonrpc_request per HTTP body.  It holds one slot per call
 * (one for a single request, one per element for a batch) and a count of
 * calls not yet answered.  While the calls are being dispatched the count
 * carries one extra "guard" unit, so that methods answering at once cannot
 * finish the request half-way through the batch.
 *
 * States of a request:
 *
 *   dispatching --(guard dropped)--> waiting --(last answer)--> finished
 *        |                               |
 *        +-------(cancel)---------> cancelled --(last answer)--> freed, done(NULL)
 *
 * finished: the response body is built from the slots in call order (slots
 * of notifications stay empty), done() runs once, the request is freed.
 *
 * Each answer is serialised into its slot as compact JSON text when it is
 * given, and the body is the concatenation of those texts ("[a,b,...]" for
 * a batch).  The common answer, a string or integer result for a string or
 * integer id, is written directly (escaping as RFC 8259 section 7 requires:
 * quotation mark, reverse solidus and controls U+0000..U+001F; jansson's
 * strings are valid UTF-8, which is copied as is); other values go through
 * json_dumpb().  No json_t tree is built per answer and none per batch.
 *
 * Spec quotes (https://www.jsonrpc.org/specification):
 *  - "A Notification is a Request object without an "id" member ... The
 *    Server MUST NOT reply to a Notification, including those that are
 *    within a batch request."
 *  - "If the batch rpc call itself fails to be recognized as an valid JSON or
 *    as an Array with at least one value, the response from the Server MUST
 *    be a single Response object."
 *  - "If there are no Response objects contained within the Response array
 *    as it is to be sent to the client, the server MUST NOT return an empty
 *    Array and should return nothing at all."
 *  - "If there was an error in detecting the id in the Request object (e.g.
 *    Parse error/Invalid Request), it MUST be Null."
 *
 * Memory: a batch has at most RUMOR_JSONRPC_BATCH_MAX calls (counted while
 * parsing, so a longer one is refused before it is built); the parse is
 * bounded by rpc/json_parse.h's limits and the body size by the HTTP layer.
 * Answers are bounded by response_max, checked before and after each call.
 * A method answering twice is a bug (assert).
 *
 * Slices: with a defer hook, dispatching stops after RUMOR_JSONRPC_SLICE_CALLS
 * calls or RUMOR_JSONRPC_SLICE_BYTES of answers and resumes when defer runs
 * it; the parsed text (root) and the guard unit are kept until the last
 * call is dispatched.  A request cancelled meanwhile dispatches nothing
 * more.
 */
#include "rpc/jsonrpc.h"
#include "rpc/json_parse.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rumor_jsonrpc_call {
	struct rumor_jsonrpc_request *req;
	json_t *id;        /* owned reference; NULL for a notification */
	char *text;        /* owned response object (compact JSON, no newline);
			    * NULL until answered or for notifications */
	size_t text_len;
	int answered;
	void *data;
	size_t reserved;   /* answer bytes held for it until it answers
			    * (rumor_jsonrpc_call_reserve) */
};

struct rumor_jsonrpc_request {
	rumor_jsonrpc_done_fn done;
	void *arg;
	const struct rumor_jsonrpc_server *server;
	json_t *root;       /* the parsed text, until every call is dispatched */
	size_t next;        /* the next call to dispatch */
	int budget_spent;   /* an answer was refused: refuse the rest unrun */
	size_t n_calls;
	size_t outstanding; /* calls not yet answered, +1 while dispatching */
	size_t answer_bytes; /* sum of the answers' text_len and of the
			      * reservations of calls not yet answered (results stay within
			      * response_max; errors may add a little past it) */
	size_t response_max;
	int batch;          /* the body was an array */
	int cancelled;
	struct rumor_jsonrpc_call calls[]; /* n_calls slots */
};

static json_t *make_error(int code, const char *message, json_t *data, json_t *id)
{
	json_t *err = json_pack("{s:i,s:s}", "code", code, "message", message ? message : "");
	if (!err) {
		/* message was not valid UTF-8 or we ran out of memory */
		err = json_pack("{s:i,s:s}", "code", code, "message", "(invalid error message)");
	}
	assert(err);
	if (data)
		json_object_set_new(err, "data", data);
	json_t *resp = json_object();
	assert(resp);
	json_object_set_new(resp, "jsonrpc", json_string("2.0"));
	json_object_set_new(resp, "error", err);
	json_object_set(resp, "id", id ? id : json_null());
	return resp;
}

static json_t *make_result(json_t *result, json_t *id)
{
	json_t *resp = json_object();
	assert(resp);
	json_object_set_new(resp, "jsonrpc", json_string("2.0"));
	json_object_set_new(resp, "result", result ? result : json_null());
	json_object_set(resp, "id", id);
	return resp;
}

static void request_free(struct rumor_jsonrpc_request *req)
{
	json_decref(req->root);
	for (size_t i = 0; i < req->n_calls; i++) {
		json_decref(req->calls[i].id);
		free(req->calls[i].text);
	}
	free(req);
}

/* Compact JSON text of value in a malloc'd buffer with room for two more
 * bytes, or NULL.  json_dumps() is not used: its buffer comes from
 * jansson's allocator, which in rumord is not malloc (rpc/json_alloc.h). */
static char *dump_text(const json_t *value, size_t *len)
{
	size_t n = json_dumpb(value, NULL, 0, JSON_COMPACT);
	if (n == 0)
		return NULL;
	char *text = malloc(n + 2);
	if (!text)
		return NULL;
	if (json_dumpb(value, text, n, JSON_COMPACT) != n) {
		free(text);
		return NULL;
	}
	text[n] = '\0';
	*len = n;
	return text;
}

static const char serialise_fallback[] = "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32603,"
					 "\"message\":\"cannot serialise response\"},"
					 "\"id\":null}";

/* Serialises one response value (object or array) with a trailing newline. */
static char *serialise(json_t *value, size_t *len)
{
	size_t n;
	char *out = dump_text(value, &n);
	if (!out) {
		n = sizeof(serialise_fallback) - 1;
		out = malloc(n + 2);
		assert(out);
		memcpy(out, serialise_fallback, n + 1);
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	*len = n + 1;
	return out;
}

static void request_finish(struct rumor_jsonrpc_request *req)
{
	assert(req->outstanding == 0);
	rumor_jsonrpc_done_fn done = req->done;
	void *arg = req->arg;
	if (req->cancelled) {
		/* nobody reads the answer, but done still runs once so the
		 * caller can free what arg holds */
		request_free(req);
		done(arg, NULL, 0);
		return;
	}
	char *body = NULL;
	size_t len = 0;
	if (req->batch) {
		size_t total = 0, n = 0;
		for (size_t i = 0; i < req->n_calls; i++) {
			if (req->calls[i].text) {
				total += req->calls[i].text_len + 1; /* "," or "]" */
				n++;
			}
		}
		if (n > 0) {
			body = malloc(total + 3); /* "[", "\n", NUL */
			assert(body);
			body[len++] = '[';
			for (size_t i = 0; i < req->n_calls; i++) {
				const struct rumor_jsonrpc_call *call = &req->calls[i];
				if (!call->text)
					continue;
				if (len > 1)
					body[len++] = ',';
				memcpy(body + len, call->text, call->text_len);
				len += call->text_len;
				/* freed as copied: the peak is the body and
				 * one answer, not twice the body */
				free(req->calls[i].text);
				req->calls[i].text = NULL;
			}
			body[len++] = ']';
			body[len++] = '\n';
			body[len] = '\0';
			assert(len == total + 2);
		}
	} else if (req->calls[0].text) {
		struct rumor_jsonrpc_call *call = &req->calls[0];
		body = realloc(call->text, call->text_len + 2);
		assert(body);
		call->text = NULL;
		len = call->text_len;
		body[len++] = '\n';
		body[len] = '\0';
	}
	request_free(req);
	done(arg, body, len);
}

static char *tree_text(json_t *resp, size_t *len);

static const char too_large_message[] = "response too large: ask for fewer or smaller items "
					"per request";

/* Records the serialised response (taken; NULL for a notification) and
 * finishes the request after its last answer. */
static void call_answer(struct rumor_jsonrpc_call *call, char *text, size_t text_len)
{
	struct rumor_jsonrpc_request *req = call->req;
	/* A method that answers twice is a bug. */
	assert(!call->answered);
	assert(req->outstanding > 0);
	call->answered = 1;
	assert(req->answer_bytes >= call->reserved);
	req->answer_bytes -= call->reserved; /* the real size replaces it */
	call->reserved = 0;
	if (call->id && req->answer_bytes + text_len > req->response_max) {
		/* Over the request's budget: this call gets a short error
		 * instead.  Errors may pass the budget, but each is small and a
		 * batch has at most RUMOR_JSONRPC_BATCH_MAX calls. */
		free(text);
		text = tree_text(make_error(RUMOR_JSONRPC_INTERNAL_ERROR, too_large_message, NULL,
					    call->id),
				 &text_len);
		req->budget_spent = 1;
	}
	if (call->id) {
		req->answer_bytes += text_len;
		call->text = text;
		call->text_len = text_len;
	} else {
		free(text); /* notification: never answered on the wire */
	}
	if (--req->outstanding == 0)
		request_finish(req);
}

/* Bytes needed for s[0..n) as a JSON string with its quotes. */
static size_t escaped_size(const char *s, size_t n)
{
	size_t size = n + 2;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\')
			size += 1;
		else if (c < 0x20)
			size += c == '\b' || c == '\f' || c == '\n' || c == '\r' || c == '\t' ? 1 : 5;
	}
	return size;
}

/* Writes s[0..n) as a JSON string with its quotes; returns the bytes
 * written (escaped_size(s, n)). */
static size_t escape_into(char *out, const char *s, size_t n)
{
	static const char digits[16] = "0123456789abcdef";
	size_t o = 0;
	out[o++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\') {
			out[o++] = (char)c;
			continue;
		}
		out[o++] = '\\';
		switch (c) {
		case '"':
		case '\\':
			out[o++] = (char)c;
			break;
		case '\b':
			out[o++] = 'b';
			break;
		case '\f':
			out[o++] = 'f';
			break;
		case '\n':
			out[o++] = 'n';
			break;
		case '\r':
			out[o++] = 'r';
			break;
		case '\t':
			out[o++] = 't';
			break;
		default:
			out[o++] = 'u';
			out[o++] = '0';
			out[o++] = '0';
			out[o++] = digits[c >> 4];
			out[o++] = digits[c & 0x0f];
			break;
		}
	}
	out[o++] = '"';
	return o;
}

/* A string or an integer, ready to be written directly. */
struct scalar {
	const char *str; /* a string's value, or NULL for an integer */
	size_t str_len;
	char digits[24]; /* an integer's text (JSON_INTEGER_FORMAT) */
	size_t size;     /* bytes the value takes in the output */
};

/* Returns 0 when value is neither a string nor an integer. */
static int scalar_of(const json_t *value, struct scalar *out)
{
	out->str = NULL;
	if (json_is_string(value)) {
		out->str = json_string_value(value);
		out->str_len = json_string_length(value);
		out->size = escaped_size(out->str, out->str_len);
		return 1;
	}
	if (json_is_integer(value)) {
		int n = snprintf(out->digits, sizeof(out->digits), "%" JSON_INTEGER_FORMAT,
				 json_integer_value(value));
		assert(n > 0 && (size_t)n < sizeof(out->digits));
		out->size = (size_t)n;
		return 1;
	}
	return 0;
}

static size_t scalar_into(char *out, const struct scalar *v)
{
	if (v->str && v->size == v->str_len + 2) { /* nothing to escape (hex, ids) */
		out[0] = '"';
		memcpy(out + 1, v->str, v->str_len);
		out[v->str_len + 1] = '"';
		return v->size;
	}
	if (v->str)
		return escape_into(out, v->str, v->str_len);
	memcpy(out, v->digits, v->size);
	return v->size;
}

/* {"jsonrpc":"2.0","result":RESULT,"id":ID} (jansson's compact layout)
 * when the result and the id are strings or integers, else NULL. */
static char *result_text_direct(const json_t *result, const json_t *id, size_t *len)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"result\":";
	static const char mid[] = ",\"id\":";
	struct scalar r, i;

	if (!scalar_of(result, &r) || !scalar_of(id, &i))
		return NULL;
	size_t total = sizeof(head) - 1 + r.size + sizeof(mid) - 1 + i.size + 1;
	char *text = malloc(total + 2); /* + "\n" and NUL for request_finish */
	assert(text);
	size_t o = 0;
	memcpy(text + o, head, sizeof(head) - 1);
	o += sizeof(head) - 1;
	o += scalar_into(text + o, &r);
	memcpy(text + o, mid, sizeof(mid) - 1);
	o += sizeof(mid) - 1;
	o += scalar_into(text + o, &i);
	text[o++] = '}';
	text[o] = '\0';
	assert(o == total);
	*len = o;
	return text;
}

/* Serialises a response object built as a json_t (errors, and results
 * of other kinds); takes the reference. */
static char *tree_text(json_t *resp, size_t *len)
{
	char *text = dump_text(resp, len);
	json_decref(resp);
	if (!text) {
		text = strdup(serialise_fallback);
		assert(text);
		*len = strlen(text);
	}
	return text;
}

void rumor_jsonrpc_reply(struct rumor_jsonrpc_call *call, json_t *result)
{
	assert(call);
	if (!call->id) {
		json_decref(result);
		call_answer(call, NULL, 0);
		return;
	}
	size_t len = 0;
	char *text = result ? result_text_direct(result, call->id, &len) : NULL;
	if (text)
		json_decref(result);
	else
		text = tree_text(make_result(result, call->id), &len);
	call_answer(call, text, len);
}

void rumor_jsonrpc_reply_hex(struct rumor_jsonrpc_call *call, const unsigned char *bytes,
			     size_t len)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"result\":\"";
	static const char mid[] = "\",\"id\":";
	static const char digits[16] = "0123456789abcdef";
	static char pairs[256][2]; /* byte -> its two hex digits */
	static int pairs_ready;
	assert(call);
	if (!pairs_ready) { /* the loop thread only: calls are answered there */
		for (int b = 0; b < 256; b++) {
			pairs[b][0] = digits[b >> 4];
			pairs[b][1] = digits[b & 0x0f];
		}
		pairs_ready = 1;
	}
	struct scalar id;
	if (!call->id) {
		call_answer(call, NULL, 0); /* a notification: never answered */
		return;
	}
	if (!scalar_of(call->id, &id)) {
		/* an id that is not a string or integer (null, a real) */
		char *hex = malloc(2 * len + 1);
		if (!hex) {
			rumor_jsonrpc_error(call, RUMOR_JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
			return;
		}
		for (size_t i = 0; i < len; i++) {
			hex[2 * i] = digits[bytes[i] >> 4];
			hex[2 * i + 1] = digits[bytes[i] & 0x0f];
		}
		json_t *value = json_stringn_nocheck(hex, 2 * len);
		free(hex);
		rumor_jsonrpc_reply(call, value);
		return;
	}
	size_t total = sizeof(head) - 1 + 2 * len + sizeof(mid) - 1 + id.size + 1;
	char *text = malloc(total + 2); /* + "\n" and NUL for request_finish */
	if (!text) {
		rumor_jsonrpc_error(call, RUMOR_JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	size_t o = 0;
	memcpy(text, head, sizeof(head) - 1);
	o += sizeof(head) - 1;
	for (size_t i = 0; i < len; i++, o += 2)
		memcpy(text + o, pairs[bytes[i]], 2);
	memcpy(text + o, mid, sizeof(mid) - 1);
	o += sizeof(mid) - 1;
	o += scalar_into(text + o, &id);
	text[o++] = '}';
	text[o] = '\0';
	assert(o == total);
	call_answer(call, text, total);
}

void rumor_jsonrpc_reply_json(struct rumor_jsonrpc_call *call, const char *json, size_t len)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"result\":";
	static const char mid[] = ",\"id\":";
	assert(call && len > 0);
	if (!call->id) {
		call_answer(call, NULL, 0); /* a notification: never answered */
		return;
	}
	char *id_text = NULL;
	size_t id_len;
	struct scalar id;
	int direct = scalar_of(call->id, &id);
	if (direct) {
		id_len = id.size;
	} else {
		/* null or a real: a bare value, so JSON_ENCODE_ANY */
		id_len = json_dumpb(call->id, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
		id_text = id_len ? malloc(id_len) : NULL;
		if (id_text &&
		    json_dumpb(call->id, id_text, id_len, JSON_COMPACT | JSON_ENCODE_ANY) != id_len) {
			free(id_text);
			id_text = NULL;
		}
		if (!id_text) {
			rumor_jsonrpc_error(call, RUMOR_JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
			return;
		}
	}
	size_t total = sizeof(head) - 1 + len + sizeof(mid) - 1 + id_len + 1;
	char *text = malloc(total + 2); /* + "\n" and NUL for request_finish */
	if (!text) {
		free(id_text);
		rumor_jsonrpc_error(call, RUMOR_JSONRPC_INTERNAL_ERROR, "out of memory", NULL);
		return;
	}
	size_t o = 0;
	memcpy(text, head, sizeof(head) - 1);
	o += sizeof(head) - 1;
	memcpy(text + o, json, len);
	o += len;
	memcpy(text + o, mid, sizeof(mid) - 1);
	o += sizeof(mid) - 1;
	if (direct) {
		o += scalar_into(text + o, &id);
	} else {
		memcpy(text + o, id_text, id_len);
		o += id_len;
		free(id_text);
	}
	text[o++] = '}';
	text[o] = '\0';
	assert(o == total);
	call_answer(call, text, total);
}

void rumor_jsonrpc_error(struct rumor_jsonrpc_call *call, int code, const char *message,
			 json_t *data)
{
	assert(call);
	if (!call->id) {
		json_decref(data);
		call_answer(call, NULL, 0);
		return;
	}
	size_t len = 0;
	char *text = tree_text(make_error(code, message, data, call->id), &len);
	call_answer(call, text, len);
}

void *rumor_jsonrpc_call_data(const struct rumor_jsonrpc_call *call)
{
	return call->data;
}

void rumor_jsonrpc_set_call_data(struct rumor_jsonrpc_call *call, void *data)
{
	call->data = data;
}

const struct rumor_jsonrpc_method *rumor_jsonrpc_find(const struct rumor_jsonrpc_server *server,
						      const char *name)
{
	for (size_t i = 0; i < server->n_methods; i++) {
		if (strcmp(server->methods[i].name, name) == 0)
			return &server->methods[i];
	}
	return NULL;
}

static int id_is_valid(const json_t *id)
{
	return json_is_string(id) || json_is_number(id) || json_is_null(id);
}

/* Named params to positional.  Returns a new array, or NULL with *reason set
 * when a name is unknown. */
static json_t *params_by_name(const struct rumor_jsonrpc_method *method, json_t *object,
			      const char **reason)
{
	size_t n_names = 0;
	if (method->param_names) {
		while (method->param_names[n_names])
			n_names++;
	}
	const char *key;
	json_t *value;
	json_object_foreach(object, key, value)
	{
		size_t i;
		for (i = 0; i < n_names; i++) {
			if (strcmp(method->param_names[i], key) == 0)
				break;
		}
		if (i == n_names) {
			*reason = "unknown parameter name";
			return NULL;
		}
	}
	/* Positions up to the last name given; gaps before it are null. */
	size_t used = 0;
	for (size_t i = 0; i < n_names; i++) {
		if (json_object_get(object, method->param_names[i]))
			used = i + 1;
	}
	json_t *array = json_array();
	assert(array);
	for (size_t i = 0; i < used; i++) {
		json_t *v = json_object_get(object, method->param_names[i]);
		json_array_append(array, v ? v : json_null());
	}
	return array;
}

/* Validates one request object and runs its method, or answers the slot
 * with an error.  The slot's id is set before the method runs. */
static void dispatch_one(const struct rumor_jsonrpc_server *server,
			 struct rumor_jsonrpc_call *call, json_t *request)
{
	if (!json_is_object(request)) {
		call->id = json_null();
		rumor_jsonrpc_error(call, RUMOR_JSONRPC_INVALID_REQUEST,
				    "invalid request: not a JSON object", NULL);
		return;
	}
	json_t *id = json_object_get(request, "id");
	if (id && !id_is_valid(id)) {
		call->id = json_null();
		rumor_jsonrpc_error(call, RUMOR_JSONRPC_INVALID_REQUEST,
				    "invalid request: id must be a string, number or null", NULL);
		return;
	}
	json_t *version = json_object_get(request, "jsonrpc");
	json_t *name = json_object_get(request, "method");
	json_t *params = json_object_get(request, "params");
	const char *bad = NULL;
	if (!json_is_string(version) || strcmp(json_string_value(version), "2.0") != 0)
		bad = "invalid request: \"jsonrpc\" must be \"2.0\"";
	else if (!json_is_string(name))
		bad = "invalid request: \"method\" must be a string";
	else if (params && !json_is_array(params) && !json_is_object(params))
		bad = "invalid request: \"params\" must be an array or an object";
	if (bad) {
		/* An invalid request is answered even without an id. */
		call->id = json_incref(id ? id : json_null());
		rumor_jsonrpc_error(call, RUMOR_JSONRPC_INVALID_REQUEST, bad, NULL);
		return;
	}
	call->id = id ? json_incref(id) : NULL;

	struct rumor_jsonrpc_request *req = call->req;
	if (call->id && (req->budget_spent || req->answer_bytes >= req->response_max)) {
		/* the budget is spent: refused before any work is done */
		rumor_jsonrpc_error(call, RUMOR_JSONRPC_INTERNAL_ERROR, too_large_message, NULL);
		return;
	}
	const struct rumor_jsonrpc_method *method = rumor_jsonrpc_find(server,
								       json_string_value(name));
	if (!method) {
		rumor_jsonrpc_error(call, RUMOR_JSONRPC_METHOD_NOT_FOUND, "method not found",
				    NULL);
		return;
	}
	json_t *positional;
	if (!params) {
		positional = json_array();
		assert(positional);
	} else if (json_is_array(params)) {
		positional = json_incref(params);
	} else {
		const char *reason = NULL;
		positional = params_by_name(method, params, &reason);
		if (!positional) {
			rumor_jsonrpc_error(call, RUMOR_JSONRPC_INVALID_PARAMS, reason, NULL);
			return;
		}
	}
	method->fn(call, positional, server->ctx);
	json_decref(positional);
}

static struct rumor_jsonrpc_request *request_new(size_t n_calls, int batch,
						 rumor_jsonrpc_done_fn done, void *arg)
{
	struct rumor_jsonrpc_request *req =
		calloc(1, sizeof(*req) + n_calls * sizeof(struct rumor_jsonrpc_call));
	assert(req);
	req->done = done;
	req->arg = arg;
	req->n_calls = n_calls;
	req->batch = batch;
	for (size_t i = 0; i < n_calls; i++)
		req->calls[i].req = req;
	return req;
}

/* Answers at once with a single error object (id null). */
static void answer_single_error(int code, const char *message, rumor_jsonrpc_done_fn done,
				void *arg)
{
	json_t *resp = make_error(code, message, NULL, NULL);
	size_t len;
	char *body = serialise(resp, &len);
	json_decref(resp);
	done(arg, body, len);
}

static void dispatch_slice(void *arg);

/* Dispatches calls from req->next until the end or the end of a slice;
 * then drops the guard (which may finish and free the request).  Returns
 * 1 when the request is still alive. */
static int dispatch_calls(struct rumor_jsonrpc_request *req)
{
	const struct rumor_jsonrpc_server *server = req->server;
	size_t calls = 0, bytes_at_start = req->answer_bytes;
	while (req->next < req->n_calls) {
		if (req->cancelled) {
			/* nobody waits: the rest are never run */
			req->outstanding -= req->n_calls - req->next;
			req->next = req->n_calls;
			break;
		}
		if (server->defer && (calls >= RUMOR_JSONRPC_SLICE_CALLS ||
				      (req->answer_bytes > bytes_at_start &&
				       req->answer_bytes - bytes_at_start >= RUMOR_JSONRPC_SLICE_BYTES))) {
			if (server->defer(req->arg, dispatch_slice, req) == 0)
				return 1; /* the guard stays */
			calls = 0;
			bytes_at_start = req->answer_bytes;
		}
		size_t i = req->next++;
		json_t *element = req->batch ? json_array_get(req->root, i) : req->root;
		dispatch_one(server, &req->calls[i], element);
		calls++;
	}
	json_decref(req->root);
	req->root = NULL;
	if (--req->outstanding == 0) {
		request_finish(req);
		return 0;
	}
	return 1;
}

static void dispatch_slice(void *arg)
{
	dispatch_calls(arg);
}

void rumor_jsonrpc_json_limits(const struct rumor_jsonrpc_server *server,
			       struct rumor_json_limits *out)
{
	if (server && server->json_limits)
		*out = *server->json_limits;
	else
		rumor_json_limits_default(out);
	out->max_root_items = RUMOR_JSONRPC_BATCH_MAX;
}

char *rumor_jsonrpc_refusal(const struct rumor_json_error *error, size_t *len)
{
	char message[256];
	int code = RUMOR_JSONRPC_INVALID_REQUEST;
	switch (error->kind) {
	case RUMOR_JSON_EROOT_ITEMS:
		snprintf(message, sizeof(message),
			 "invalid request: batch too large: more than %d calls (reading "
			 "stopped at byte %zu)",
			 RUMOR_JSONRPC_BATCH_MAX, error->offset);
		break;
	case RUMOR_JSON_ELIMIT:
		snprintf(message, sizeof(message), "invalid request: %s", error->text);
		break;
	case RUMOR_JSON_OK:
	case RUMOR_JSON_ESYNTAX:
		code = RUMOR_JSONRPC_PARSE_ERROR;
		snprintf(message, sizeof(message), "parse error: %s",
			 error->text[0] ? error->text : "not JSON");
		break;
	}
	json_t *resp = make_error(code, message, NULL, NULL);
	char *body = serialise(resp, len);
	json_decref(resp);
	return body;
}

struct rumor_jsonrpc_request *rumor_jsonrpc_handle(const struct rumor_jsonrpc_server *server,
						   const char *body, size_t len,
						   rumor_jsonrpc_done_fn done, void *arg)
{
	struct rumor_json_limits limits;
	rumor_jsonrpc_json_limits(server, &limits);
	struct rumor_json_error error;
	json_t *root = rumor_json_parse_limited(body, len, &limits, &error);
	if (!root) {
		size_t answer_len;
		char *answer = rumor_jsonrpc_refusal(&error, &answer_len);
		done(arg, answer, answer_len);
		return NULL;
	}
	struct rumor_jsonrpc_request *req;
	if (json_is_array(root)) {
		size_t n = json_array_size(root);
		if (n == 0) {
			json_decref(root);
			answer_single_error(RUMOR_JSONRPC_INVALID_REQUEST,
					    "invalid request: empty batch", done, arg);
			return NULL;
		}
		assert(n <= RUMOR_JSONRPC_BATCH_MAX); /* max_root_items */
		req = request_new(n, 1, done, arg);
	} else {
		req = request_new(1, 0, done, arg);
	}
	req->server = server;
	req->root = root;
	req->response_max = server->response_max ? server->response_max : RUMOR_JSONRPC_RESPONSE_MAX;
	req->outstanding = req->n_calls + 1; /* +1: the dispatch guard */
	/* A batch longer than a slice starts at the next turn: its parse was
	 * this turn's share of the loop. */
	if (server->defer && req->n_calls > RUMOR_JSONRPC_SLICE_CALLS &&
	    server->defer(req->arg, dispatch_slice, req) == 0)
		return req;
	return dispatch_calls(req) ? req : NULL;
}

void rumor_jsonrpc_call_reserve(struct rumor_jsonrpc_call *call, size_t bytes)
{
	assert(call && !call->answered);
	call->reserved += bytes;
	call->req->answer_bytes += bytes;
}

void rumor_jsonrpc_request_cancel(struct rumor_jsonrpc_request *req)
{
	assert(req);
	assert(!req->cancelled);
	assert(req->outstanding > 0);
	req->cancelled = 1;
}
