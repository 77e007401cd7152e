/*
 * rpc/jsonrpc.h: the JSON-RPC 2.0 engine.  Transport-free: it takes a request
 * body, dispatches each call to a method table supplied by the caller, and
 * hands back one response body once every call has been answered.
 *
 * Methods may answer at once or later (after a durable write): a method is
 * given a struct rumor_jsonrpc_call and must call rumor_jsonrpc_reply() or
 * rumor_jsonrpc_error() exactly once, now or from a later callback on the
 * same thread.  If the client has gone away meanwhile
 * (rumor_jsonrpc_request_cancel), the answer is still accepted and dropped.
 *
 * Spec: https://www.jsonrpc.org/specification (single calls, batches,
 * notifications; errors -32700, -32600, -32601, -32602, -32603).
 */
#ifndef RUMOR_RPC_JSONRPC_H
#define RUMOR_RPC_JSONRPC_H

#include <jansson.h>
#include <stddef.h>

#include "rpc/json_parse.h"

#define RUMOR_JSONRPC_PARSE_ERROR (-32700)
#define RUMOR_JSONRPC_INVALID_REQUEST (-32600)
#define RUMOR_JSONRPC_METHOD_NOT_FOUND (-32601)
#define RUMOR_JSONRPC_INVALID_PARAMS (-32602)
#define RUMOR_JSONRPC_INTERNAL_ERROR (-32603)

/* Calls in one batch are capped; a larger batch is one -32600 error. */
#define RUMOR_JSONRPC_BATCH_MAX 1000
/* Bytes of answers one request may hold.  An answer that would pass it is
 * replaced by a short -32603 "response too large" error, so a batch of
 * calls that each return megabytes cannot build gigabytes, and every call
 * is still answered.  The budget is checked before each call too: once it
 * is spent (or an answer was refused for it), the remaining calls of the
 * request get that error without running, so a batch does the work of at
 * most one call past its budget. */
#define RUMOR_JSONRPC_RESPONSE_MAX (32u * 1024 * 1024)
/* A batch is dispatched in slices when the server has a defer hook: after
 * this many calls, or this many bytes of answers, the rest waits until
 * defer runs it (rumord: the next loop turn), so other clients and peers
 * are served between slices.  A batch of more than a slice's calls starts
 * its first slice at the next turn too (its parse was this turn's share). */
#define RUMOR_JSONRPC_SLICE_CALLS 100
#define RUMOR_JSONRPC_SLICE_BYTES (1024u * 1024)

struct rumor_jsonrpc_call;
struct rumor_jsonrpc_request;

/* params is borrowed for the duration of the call to fn only; it is always a
 * JSON array (named params are converted by position using the method's
 * param_names, and missing ones are absent at the end) or an empty array. */
typedef void (*rumor_jsonrpc_fn)(struct rumor_jsonrpc_call *call, json_t *params, void *ctx);

struct rumor_jsonrpc_method {
	const char *name;
	rumor_jsonrpc_fn fn;
	const char *const *param_names; /* NULL-terminated, for named params */
	const char *help;               /* usage line(s) for `help METHOD` */
};

struct rumor_jsonrpc_server {
	const struct rumor_jsonrpc_method *methods; /* borrowed */
	size_t n_methods;
	void *ctx; /* passed to every method */
	size_t response_max; /* answer bytes per request; 0: RUMOR_JSONRPC_RESPONSE_MAX */
	/* Limits of the request text (rpc/json_parse.h); NULL: the defaults.
	 * A batch is also capped at RUMOR_JSONRPC_BATCH_MAX while parsing. */
	const struct rumor_json_limits *json_limits;
	/* Optional: arrange for fn(fn_arg) to run later on this thread, after
	 * pending I/O; done_arg is the arg the request was handled with.
	 * Returns 0, or negative when it cannot (the batch then goes on at
	 * once).  NULL: batches run whole. */
	int (*defer)(void *done_arg, void (*fn)(void *fn_arg), void *fn_arg);
};

/* Answer a call.  result is stolen (may be json_null()). */
void rumor_jsonrpc_reply(struct rumor_jsonrpc_call *call, json_t *result);
/* Answer a call with a string result: bytes[0..len) in lower-case hex.  The
 * same answer as rumor_jsonrpc_reply(call, json_string(hex)), written in one
 * pass without the intermediate copies (a 4 MiB block is 8 MiB of hex). */
void rumor_jsonrpc_reply_hex(struct rumor_jsonrpc_call *call, const unsigned char *bytes,
			     size_t len);
/* Answer a call with a result given as JSON text: json[0..len) must be one
 * valid JSON value in compact form (the caller wrote it; it is not parsed
 * again).  For large results built without a json_t tree.  json is
 * borrowed. */
void rumor_jsonrpc_reply_json(struct rumor_jsonrpc_call *call, const char *json, size_t len);
/* Answer a call with an error; message is copied; data (stolen) may be NULL. */
void rumor_jsonrpc_error(struct rumor_jsonrpc_call *call, int code, const char *message,
			 json_t *data);
/* A method that answers later (say, after a read off the loop thread)
 * holds bytes of its request's answer budget for the answer it expects,
 * so that the calls after it in a batch, dispatched before it answers,
 * see the budget as spent (RUMOR_JSONRPC_RESPONSE_MAX) and the batch
 * slices by it (RUMOR_JSONRPC_SLICE_BYTES).  The answer's real size
 * replaces the reservation when the call answers. */
void rumor_jsonrpc_call_reserve(struct rumor_jsonrpc_call *call, size_t bytes);
/* Attach/read caller data on a call (e.g. to find it again in a callback). */
void *rumor_jsonrpc_call_data(const struct rumor_jsonrpc_call *call);
void rumor_jsonrpc_set_call_data(struct rumor_jsonrpc_call *call, void *data);

/* Called once per request with the response body (malloc'd; the callee takes
 * it) or body == NULL when nothing is to be sent back (only notifications). */
typedef void (*rumor_jsonrpc_done_fn)(void *arg, char *body, size_t len);

/* Parses body and dispatches.  done runs exactly once: possibly before this
 * returns, possibly later.  Returns the request handle (for cancel), or NULL
 * when done has already run.  A text that is not JSON is answered -32700
 * with jansson's reason and where; one past a limit of json_limits, or a
 * batch of more than RUMOR_JSONRPC_BATCH_MAX calls, -32600 naming the limit
 * and where reading stopped.  server is borrowed until done has run (or,
 * after cancel, until the last call is answered). */
struct rumor_jsonrpc_request *rumor_jsonrpc_handle(const struct rumor_jsonrpc_server *server,
						   const char *body, size_t len,
						   rumor_jsonrpc_done_fn done, void *arg);
/* The limits rumor_jsonrpc_handle applies to a request text: server's
 * json_limits (server NULL or json_limits NULL: the defaults), with
 * max_root_items RUMOR_JSONRPC_BATCH_MAX.  For a transport that checks a
 * body while it arrives (rpc/http_server.h). */
void rumor_jsonrpc_json_limits(const struct rumor_jsonrpc_server *server,
			       struct rumor_json_limits *out);
/* The answer rumor_jsonrpc_handle gives to a text refused by its parse
 * (error as filled in by rumor_json_parse_limited or, for a limit,
 * rumor_json_stream_check): a single error object, id null, -32600 for a
 * limit, -32700 for a syntax error; malloc'd, ending in a newline, *len
 * set.  Byte for byte what done would have been given. */
char *rumor_jsonrpc_refusal(const struct rumor_json_error *error, size_t *len);

/* The client went away: no answer is built; outstanding calls are still
 * answered by their methods, then the request is freed and done runs once
 * with body NULL (so the caller can free what its arg holds: rumord's arg
 * is the HTTP request, which rumor_http_respond frees).  Calls of a sliced
 * batch not yet dispatched are dropped. */
void rumor_jsonrpc_request_cancel(struct rumor_jsonrpc_request *req);

/* Looks up a method by name, or NULL. */
const struct rumor_jsonrpc_method *rumor_jsonrpc_find(const struct rumor_jsonrpc_server *server,
						      const char *name);

#endif
