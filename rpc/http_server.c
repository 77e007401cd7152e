/*
 * rpc/http_server.c: the HTTP/1.1 server of the JSON-RPC port (see
 * rpc/http_server.h).  Two layers:
 *
 *  1. struct rumor_http_parse: a sans-IO request parser around http-parser.
 *     It takes bytes and says MORE, REQUEST or ERROR.  It enforces the
 *     limits (header bytes, body bytes), the method (POST), the path ("/"),
 *     authentication and Expect, and, once the headers passed, the JSON
 *     limits of the body while it arrives (rumor_json_stream_check on the
 *     body so far, for every piece but the one that completes it).  After a complete request the http_parser is
 *     paused, so bytes of a pipelined next request stay unparsed until the
 *     caller asks for them (rumor_http_parse_next).
 *
 *  2. The libuv shell: one struct conn per accepted socket.  It moves bytes
 *     from the socket into the parser, hands complete requests to the
 *     handler, writes responses, and closes connections.
 *
 * Connection states (conn):
 *
 *   reading --REQUEST--> busy (handler owns req) --respond--> writing
 *      ^                                                       |
 *      +----------------- write done, keep-alive --------------+
 *   reading --ERROR--> draining (error response written, FIN sent, input
 *                      discarded until EOF or a short timer) --> closing
 *   reading --401--> auth_wait (input dropped, auth_fail_delay_ms) --> draining
 *   reading --REFUSED (body past a JSON limit)--> refused (socket not read;
 *                      the JSON-RPC error written, Connection: close) --> closing
 *   reading (untrusted) --evicted for a new connection--> 503, closing
 *   any --EOF, socket error, idle timer, server close--> closing --> freed
 *
 * Invariants:
 *  - at most one response in flight per connection (output is bounded by one
 *    response); the parser is not fed while busy;
 *  - input is buffered in conn->pending; past PENDING_MAX unparsed bytes the
 *    socket is not read (TCP flow control does the rest);
 *  - a conn is freed only in the close callback of its last handle, never in
 *    its own callback chain;
 *  - a request whose connection died stays valid (req->conn == NULL) until
 *    rumor_http_respond(), which frees it;
 *  - one timer per connection, stopped while the handler works.  It
 *    watches, by the parser's phase (rumor_http_parse_phase): an untrusted
 *    connection's first request headers (header deadline from accept,
 *    never extended: 408 and close), a trusted connection's idle wait
 *    between requests (idle timeout: close) and each later request's
 *    headers (header deadline from its first byte), a body (idle timeout
 *    from the end of the headers: 408 saying how much came), an unread
 *    response (idle timeout), the drain after an error, and the delay
 *    before a 401 (auth_wait);
 *  - "trusted": a request of the connection passed authentication.  Only
 *    untrusted connections are evicted for newcomers when the slots are
 *    full; stats.clients counts connections not yet closing, so an evicted
 *    slot is free at once.
 *
 * A client that half-closes (EOF) is treated as gone: its pending request is
 * aborted.
 */
#include "config.h"

#include "rpc/http_server.h"

#include <arpa/inet.h>
#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#ifdef HAVE_MALLOC_TRIM
#include <malloc.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>

#include <http_parser.h>

#include "rpc/jsonrpc.h"

#define URL_KEEP 16         /* we only need to know whether the path is "/" */
#define FIELD_KEEP 32       /* longer header names are none we keep */
#define AUTH_KEEP 2048      /* longer Authorization values are refused */
#define EXPECT_KEEP 32
#define READ_BUF_SIZE 65536
#define PENDING_MAX 65536   /* unparsed input buffered per connection */
#define DRAIN_MS 1000       /* how long input is discarded after an error */
/* Connections waiting to be accepted (listen backlog; the kernel may cap
 * it lower): a flood of connects must not overflow it, or an honest
 * client's SYN is dropped and retried only after a second. */
#define LISTEN_BACKLOG 1024
/* Connections accepted per loop turn, at most.  libuv takes connections
 * from the backlog for as long as there are any, within one turn: in a
 * flood of reconnecting idle clients, past max_clients each accept evicts
 * one connection, and once the older ones are gone those of the same turn
 * (whose requests have not been read yet, an honest client's among them)
 * would be evicted too.  With at most max_clients / 4 per turn the older
 * ones always come first, and a connection accepted in a turn has its
 * request read before it could be chosen.  The rest wait in the backlog
 * (a 1 ms timer takes them up). */
#define ACCEPT_TURN_DIVISOR 4
/* Kernel send buffer per connection: a big answer then goes out in pieces
 * of about this size, one per loop turn, instead of one long copy into a
 * socket whose reader keeps up. */
#define SEND_BUFFER_BYTES (1024 * 1024)
/* After a request or response at least this large, free heap pages go back
 * to the system (malloc_trim) when the heap holds more than TRIM_FREE_BYTES
 * free, so one big request does not keep its peak; below that they are kept
 * for the next request (giving them back and faulting them in again costs
 * more than the copy of an 8 MiB answer on a virtual machine). */
#define TRIM_REQUEST_BYTES (256u * 1024)
#define TRIM_RESPONSE_BYTES (1024u * 1024)
#define TRIM_FREE_BYTES (128u * 1024 * 1024)

static uint64_t auth_failures_total;
static rumor_http_log_fn log_hook;

uint64_t rumor_http_auth_failures_total(void)
{
	return auth_failures_total;
}

void rumor_http_set_log(rumor_http_log_fn fn)
{
	log_hook = fn;
}

/* ------------------------------------------------------------------ */
/* The sans-IO request parser                                          */
/* ------------------------------------------------------------------ */

enum header_kind { HEADER_OTHER, HEADER_AUTHORIZATION, HEADER_EXPECT };

struct rumor_http_parse {
	http_parser parser;
	struct rumor_http_limits limits;
	const struct rumor_auth *auth;

	/* the current request */
	size_t header_bytes;
	char url[URL_KEEP];
	size_t url_len;
	char field[FIELD_KEEP];
	size_t field_len;   /* > FIELD_KEEP: a long name we do not keep */
	int in_value;
	enum header_kind kind;
	char authorization[AUTH_KEEP + 1];
	size_t authorization_len;
	int has_authorization;
	char expect[EXPECT_KEEP + 1];
	size_t expect_len;
	int has_expect;
	char *body;
	size_t body_len, body_cap;
	int complete;
	int keep_alive;
	int want_continue;
	int started;        /* a byte of the current request was parsed */
	int headers_done;   /* its headers passed every check (authenticated) */
	uint64_t content_length; /* UINT64_MAX: chunked or none */
	struct rumor_json_stream *json; /* checks the body as it arrives */

	/* final error */
	int status;
	const char *reason;
	int json_refused;   /* the body is past a JSON limit (final) */
	struct rumor_json_error json_error;
};

static int fail(struct rumor_http_parse *p, int status, const char *reason)
{
	if (!p->status) {
		p->status = status;
		p->reason = reason;
	}
	return -1; /* makes http_parser stop */
}

static int count_header_bytes(struct rumor_http_parse *p, size_t len)
{
	p->header_bytes += len;
	if (p->header_bytes > p->limits.max_header_bytes)
		return fail(p, 431, "request header too large");
	return 0;
}

static void append_bounded(char *dst, size_t *dst_len, size_t cap, const char *src, size_t len)
{
	/* *dst_len counts every byte seen; only the first cap are kept */
	if (*dst_len < cap) {
		size_t n = len < cap - *dst_len ? len : cap - *dst_len;
		memcpy(dst + *dst_len, src, n);
	}
	*dst_len += len;
}

static int on_message_begin(http_parser *hp)
{
	struct rumor_http_parse *p = hp->data;
	p->header_bytes = 0;
	p->url_len = 0;
	p->field_len = 0;
	p->in_value = 0;
	p->kind = HEADER_OTHER;
	p->authorization_len = 0;
	p->has_authorization = 0;
	p->expect_len = 0;
	p->has_expect = 0;
	p->body_len = 0;
	p->complete = 0;
	p->keep_alive = 0;
	p->want_continue = 0;
	p->started = 1;
	p->headers_done = 0;
	p->content_length = UINT64_MAX;
	return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
	struct rumor_http_parse *p = hp->data;
	if (count_header_bytes(p, len))
		return -1;
	append_bounded(p->url, &p->url_len, URL_KEEP, at, len);
	return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
	struct rumor_http_parse *p = hp->data;
	/* a new field also costs its ": " and CRLF on the wire */
	int starts = p->in_value || p->field_len == 0;
	if (count_header_bytes(p, len + (starts ? 4 : 0)))
		return -1;
	if (p->in_value) {
		p->in_value = 0;
		p->field_len = 0;
	}
	append_bounded(p->field, &p->field_len, FIELD_KEEP, at, len);
	return 0;
}

static int field_is(const struct rumor_http_parse *p, const char *name)
{
	size_t n = strlen(name);
	return p->field_len == n && strncasecmp(p->field, name, n) == 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
	struct rumor_http_parse *p = hp->data;
	if (count_header_bytes(p, len))
		return -1;
	if (!p->in_value) {
		p->in_value = 1;
		p->kind = HEADER_OTHER;
		if (field_is(p, "Authorization")) {
			if (p->has_authorization)
				return fail(p, 400, "duplicate Authorization header");
			p->has_authorization = 1;
			p->kind = HEADER_AUTHORIZATION;
		} else if (field_is(p, "Expect")) {
			if (p->has_expect)
				return fail(p, 400, "duplicate Expect header");
			p->has_expect = 1;
			p->kind = HEADER_EXPECT;
		}
	}
	switch (p->kind) {
	case HEADER_AUTHORIZATION:
		append_bounded(p->authorization, &p->authorization_len, AUTH_KEEP, at, len);
		break;
	case HEADER_EXPECT:
		append_bounded(p->expect, &p->expect_len, EXPECT_KEEP, at, len);
		break;
	case HEADER_OTHER:
		break;
	}
	return 0;
}

static int on_headers_complete(http_parser *hp)
{
	struct rumor_http_parse *p = hp->data;
	if (hp->method != HTTP_POST)
		return fail(p, 405, "only POST is supported");
	if (p->url_len != 1 || p->url[0] != '/')
		return fail(p, 404, "not found: the JSON-RPC endpoint is /");

	/* Authentication before anything about the body. */
	int granted = 0;
	if (p->has_authorization && p->authorization_len <= AUTH_KEEP) {
		p->authorization[p->authorization_len] = '\0';
		if (strlen(p->authorization) == p->authorization_len)
			granted = rumor_auth_check(p->auth, p->authorization);
	}
	if (!granted)
		return fail(p, 401, "authorization required");

	int chunked = (hp->flags & F_CHUNKED) != 0;
	int has_length = !chunked && hp->content_length != ULLONG_MAX;
	if (has_length && hp->content_length > p->limits.max_body_bytes)
		return fail(p, 413, "request body too large");
	if (p->has_expect) {
		if (p->expect_len != strlen("100-continue") ||
		    strncasecmp(p->expect, "100-continue", p->expect_len) != 0)
			return fail(p, 417, "only Expect: 100-continue is supported");
		p->want_continue = chunked || (has_length && hp->content_length > 0);
	}
	p->content_length = has_length ? hp->content_length : UINT64_MAX;
	p->headers_done = 1;
	return 0;
}

/* Drops the body and its check (a refused request, or one answered). */
static void drop_body(struct rumor_http_parse *p)
{
	rumor_json_stream_del(p->json);
	p->json = NULL;
	free(p->body);
	p->body = NULL;
	p->body_cap = 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
	struct rumor_http_parse *p = hp->data;
	size_t max = p->limits.max_body_bytes;
	if (len > max || p->body_len > max - len)
		return fail(p, 413, "request body too large");
	if (p->body_len + len + 1 > p->body_cap) {
		size_t cap = p->body_cap ? p->body_cap : 4096;
		while (cap < p->body_len + len + 1)
			cap *= 2;
		if (cap > max + 1)
			cap = max + 1;
		char *body = realloc(p->body, cap);
		if (!body)
			return fail(p, 413, "request body too large (out of memory)");
		p->body = body;
		p->body_cap = cap;
	}
	memcpy(p->body + p->body_len, at, len);
	p->body_len += len;
	/* The JSON limits while the body arrives, so a body past one is
	 * refused before the rest is read.  Not for the piece that completes
	 * a Content-Length body (nor for a body that comes in one piece): the
	 * full parse follows at once, and checks the same limits. */
	if (!p->limits.check_json || p->body_len == p->content_length)
		return 0;
	if (!p->json) {
		p->json = rumor_json_stream_new(&p->limits.json);
		if (!p->json)
			return 0; /* out of memory: the full parse checks the limits */
	}
	if (rumor_json_stream_check(p->json, p->body, p->body_len, &p->json_error) ==
	    RUMOR_JSON_OK)
		return 0;
	p->json_refused = 1;
	drop_body(p);
	return -1; /* makes http_parser stop: nothing more is read */
}

static int on_message_complete(http_parser *hp)
{
	struct rumor_http_parse *p = hp->data;
	rumor_json_stream_del(p->json);
	p->json = NULL;
	p->complete = 1;
	p->keep_alive = http_should_keep_alive(hp);
	http_parser_pause(hp, 1);
	return 0;
}

static const http_parser_settings parse_settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void rumor_http_limits_default(struct rumor_http_limits *limits)
{
	limits->max_header_bytes = 8192;
	limits->max_body_bytes = 32u << 20;
	limits->max_clients = 64;
	limits->idle_timeout_ms = 30000;
	limits->header_timeout_ms = 5000;
	limits->auth_fail_delay_ms = 250;
	limits->check_json = 1;
	rumor_jsonrpc_json_limits(NULL, &limits->json);
}

struct rumor_http_parse *rumor_http_parse_new(const struct rumor_http_limits *limits,
					      const struct rumor_auth *auth)
{
	struct rumor_http_parse *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	http_parser_init(&p->parser, HTTP_REQUEST);
	p->parser.data = p;
	p->limits = *limits;
	p->auth = auth;
	return p;
}

void rumor_http_parse_del(struct rumor_http_parse *p)
{
	if (!p)
		return;
	drop_body(p);
	free(p);
}

enum rumor_http_parse_state rumor_http_parse_feed(struct rumor_http_parse *p, const char *data,
						  size_t len, size_t *consumed)
{
	*consumed = 0;
	if (p->json_refused)
		return RUMOR_HTTP_PARSE_REFUSED;
	if (p->status)
		return RUMOR_HTTP_PARSE_ERROR;
	assert(!p->complete); /* rumor_http_parse_next() first */
	if (len == 0)
		return RUMOR_HTTP_PARSE_MORE; /* a 0-byte execute would mean EOF */
	size_t n = http_parser_execute(&p->parser, &parse_settings, data, len);
	*consumed = n;
	if (p->json_refused)
		return RUMOR_HTTP_PARSE_REFUSED;
	if (p->status)
		return RUMOR_HTTP_PARSE_ERROR;
	if (p->complete)
		return RUMOR_HTTP_PARSE_REQUEST;
	enum http_errno err = HTTP_PARSER_ERRNO(&p->parser);
	if (err == HPE_HEADER_OVERFLOW) {
		fail(p, 431, "request header too large");
		return RUMOR_HTTP_PARSE_ERROR;
	}
	if (err != HPE_OK) {
		fail(p, 400, "malformed HTTP request");
		return RUMOR_HTTP_PARSE_ERROR;
	}
	assert(n == len);
	return RUMOR_HTTP_PARSE_MORE;
}

char *rumor_http_parse_take_body(struct rumor_http_parse *p, size_t *len)
{
	assert(p->complete);
	char *body = p->body;
	if (!body) {
		body = malloc(1);
		assert(body);
	}
	body[p->body_len] = '\0';
	*len = p->body_len;
	p->body = NULL;
	p->body_len = 0;
	p->body_cap = 0;
	return body;
}

int rumor_http_parse_keep_alive(const struct rumor_http_parse *p)
{
	return p->keep_alive;
}

int rumor_http_parse_take_continue(struct rumor_http_parse *p)
{
	int want = p->want_continue && !p->status;
	p->want_continue = 0;
	return want;
}

void rumor_http_parse_next(struct rumor_http_parse *p)
{
	assert(p->complete);
	p->complete = 0;
	p->started = 0;
	p->headers_done = 0;
	http_parser_pause(&p->parser, 0);
}

enum rumor_http_parse_phase rumor_http_parse_phase(const struct rumor_http_parse *p)
{
	if (p->headers_done)
		return RUMOR_HTTP_PHASE_BODY;
	return p->started ? RUMOR_HTTP_PHASE_HEADERS : RUMOR_HTTP_PHASE_IDLE;
}

void rumor_http_parse_body_progress(const struct rumor_http_parse *p, size_t *received,
				    uint64_t *expected)
{
	*received = p->body_len;
	*expected = p->content_length;
}

const struct rumor_json_error *rumor_http_parse_refusal(const struct rumor_http_parse *p)
{
	assert(p->json_refused);
	return &p->json_error;
}

int rumor_http_parse_error(const struct rumor_http_parse *p, const char **reason)
{
	if (reason)
		*reason = p->reason;
	return p->status;
}

/* ------------------------------------------------------------------ */
/* The libuv shell                                                     */
/* ------------------------------------------------------------------ */

struct conn;

struct rumor_http_server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	struct rumor_http_limits limits;
	const struct rumor_auth *auth;
	rumor_http_handler_fn handler;
	void *ctx;
	struct rumor_http_stats stats;
	struct conn *conns;   /* open connections (not yet closing) */
	size_t live;          /* listener, accept timer + connections not yet freed */
	uv_timer_t accept_timer; /* takes up the backlog left at the turn's cap */
	uint64_t accept_turn_ms; /* uv_now() of the turn accepts_in_turn counts */
	unsigned accepts_in_turn;
	int accept_waiting;   /* connections left in the backlog, timer armed */
	int closing;
	void (*close_cb)(void *arg);
	void *close_arg;
	uint64_t auth_logged_ms;  /* when failures were last reported */
	uint64_t auth_unlogged;   /* failures since */
	int auth_logged;          /* reported at least once */
	char read_buf[READ_BUF_SIZE]; /* shared: each read is handled at once */
};

struct conn {
	struct rumor_http_server *server;
	struct conn *prev, *next;
	uv_tcp_t tcp;
	uv_timer_t timer;
	int handles_open;
	int counted;          /* counts in stats.clients */
	uint64_t accepted_ms; /* uv_now() at accept: the loop turn it came in */
	struct rumor_http_parse *parse;
	char *pending;        /* input not yet parsed: pending[pending_off..len) */
	size_t pending_len, pending_off, pending_cap;
	struct rumor_http_request *req; /* with the handler */
	int busy;             /* a request is being answered */
	int reading;
	int closing;
	int draining;
	int close_after_write;
	int trusted;          /* a request of it passed authentication */
	int refused;          /* its body was refused: answer, then close unread */
	enum rumor_http_parse_phase timer_phase; /* what the timer watches */
	int auth_wait;        /* a 401 waits for auth_fail_delay_ms */
	const char *auth_reason;
	uv_write_t write_req;
	char *out;            /* the response in flight: head, then body */
	char *out_body;
	size_t out_body_len;
	size_t request_bytes; /* body size of the request being answered */
	uv_write_t continue_req;
	uv_shutdown_t shutdown_req;
};

#define REQUEST_MAGIC 0x72717374u /* "rqst": rumor_http_request_defer checks it */

struct rumor_http_request {
	unsigned magic;
	uv_loop_t *loop;
	struct conn *conn; /* NULL once the connection died */
	char *body;
	int keep_alive;
	rumor_http_abort_fn abort_fn;
	void *abort_arg;
};

static void conn_process(struct conn *c);
static void conn_close(struct conn *c);

int rumor_http_request_peer(const struct rumor_http_request *req, char *buf, size_t cap)
{
	if (!req || !req->conn || cap == 0)
		return -1;
	struct sockaddr_storage addr;
	int len = sizeof(addr);
	char ip[INET6_ADDRSTRLEN];
	if (uv_tcp_getpeername(&req->conn->tcp, (struct sockaddr *)&addr, &len) != 0)
		return -1;
	if (addr.ss_family == AF_INET6) {
		const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&addr;
		if (uv_ip6_name(a6, ip, sizeof(ip)) != 0)
			return -1;
		snprintf(buf, cap, "[%s]:%d", ip, ntohs(a6->sin6_port));
	} else {
		const struct sockaddr_in *a4 = (const struct sockaddr_in *)&addr;
		if (uv_ip4_name(a4, ip, sizeof(ip)) != 0)
			return -1;
		snprintf(buf, cap, "%s:%d", ip, ntohs(a4->sin_port));
	}
	return 0;
}

static void server_release(struct rumor_http_server *s)
{
	assert(s->live > 0);
	if (--s->live == 0 && s->closing) {
		void (*cb)(void *) = s->close_cb;
		void *arg = s->close_arg;
		free(s);
		if (cb)
			cb(arg);
	}
}

static const char *status_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Payload Too Large";
	case 417: return "Expectation Failed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	}
	return "Unknown";
}

/* The head of a response (status line and headers) in a malloc'd buffer;
 * the body is sent after it from its own buffer, uncopied. */
static char *build_head(int status, const char *content_type, const char *extra, size_t len,
			int keep_alive, size_t *out_len)
{
	char head[512];
	int n;
	if (status == 204) {
		n = snprintf(head, sizeof(head), "HTTP/1.1 204 No Content\r\nConnection: %s\r\n%s\r\n",
			     keep_alive ? "keep-alive" : "close", extra);
	} else {
		n = snprintf(head, sizeof(head),
			     "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			     "Connection: %s\r\n%s\r\n",
			     status, status_reason(status),
			     content_type ? content_type : "application/json", len,
			     keep_alive ? "keep-alive" : "close", extra);
	}
	assert(n > 0 && (size_t)n < sizeof(head));
	char *out = malloc((size_t)n);
	assert(out);
	memcpy(out, head, (size_t)n);
	*out_len = (size_t)n;
	return out;
}

/* A short text/plain error response in one malloc'd buffer. */
static char *build_error(int status, const char *extra, const char *reason, size_t *out_len)
{
	char body[256];
	int n = snprintf(body, sizeof(body), "%s\n", reason ? reason : status_reason(status));
	if (n < 0 || (size_t)n >= sizeof(body))
		n = (int)sizeof(body) - 1;
	size_t head_len;
	char *head = build_head(status, "text/plain", extra, (size_t)n, 0, &head_len);
	char *out = realloc(head, head_len + (size_t)n);
	assert(out);
	memcpy(out + head_len, body, (size_t)n);
	*out_len = head_len + (size_t)n;
	return out;
}

static void on_conn_handle_closed(uv_handle_t *handle)
{
	struct conn *c = handle->data;
	if (--c->handles_open > 0)
		return;
	struct rumor_http_server *s = c->server;
	assert(!c->req);
	rumor_http_parse_del(c->parse);
	free(c->pending);
	free(c->out);
	free(c->out_body);
	free(c);
	server_release(s);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	struct rumor_http_server *s = c->server;
	if (c->counted) { /* the slot is free at once (eviction relies on it) */
		c->counted = 0;
		s->stats.clients--;
	}
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = c->next = NULL;
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
	struct rumor_http_request *req = c->req;
	if (req) {
		c->req = NULL;
		req->conn = NULL;
		if (req->abort_fn)
			req->abort_fn(req, req->abort_arg); /* may respond (frees req) */
	}
}

static void on_timer(uv_timer_t *timer);

static void arm_timer(struct conn *c, uint64_t ms)
{
	uv_timer_start(&c->timer, on_timer, ms, 0);
}

/* How long a request's headers may take (never longer than the idle
 * timeout). */
static uint64_t header_deadline_ms(const struct rumor_http_server *s)
{
	uint64_t h = s->limits.header_timeout_ms, idle = s->limits.idle_timeout_ms;
	return h && h < idle ? h : idle;
}

/* Best-effort short answer, then close: for clients that never
 * authenticated, which get no drain period. */
static void conn_refuse(struct conn *c, int status, const char *reason)
{
	size_t len;
	char *out = build_error(status, "", reason, &len);
	uv_buf_t buf = uv_buf_init(out, (unsigned)len);
	uv_try_write((uv_stream_t *)&c->tcp, &buf, 1);
	free(out);
	conn_close(c);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	struct conn *c = handle->data;
	buf->base = c->server->read_buf;
	buf->len = sizeof(c->server->read_buf);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);

static void set_reading(struct conn *c, int on)
{
	if (c->closing || c->reading == on)
		return;
	if (on) {
		if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) != 0) {
			conn_close(c);
			return;
		}
	} else {
		uv_read_stop((uv_stream_t *)&c->tcp);
	}
	c->reading = on;
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	/* nothing to do: the drain timer or EOF closes the connection */
}

static void trim_heap(void)
{
#ifdef HAVE_MALLOC_TRIM
#ifdef HAVE_MALLINFO2
	if (mallinfo2().fordblks < TRIM_FREE_BYTES)
		return;
#endif
	malloc_trim(0);
#endif
}

static void on_write(uv_write_t *wreq, int status)
{
	struct conn *c = wreq->data;
	int big = c->out_body_len >= TRIM_RESPONSE_BYTES || c->request_bytes >= TRIM_REQUEST_BYTES;
	free(c->out);
	c->out = NULL;
	free(c->out_body);
	c->out_body = NULL;
	c->out_body_len = 0;
	c->request_bytes = 0;
	if (big)
		trim_heap();
	if (status < 0 || c->closing) {
		conn_close(c);
		return;
	}
	if (c->draining) {
		/* error answered: send FIN, read and drop what the client still
		 * sends (so it sees our answer, not a reset), then close */
		if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
			conn_close(c);
			return;
		}
		uint64_t ms = c->server->limits.idle_timeout_ms;
		arm_timer(c, ms < DRAIN_MS ? ms : DRAIN_MS);
		set_reading(c, 1);
		return;
	}
	if (c->close_after_write) {
		conn_close(c);
		return;
	}
	c->busy = 0;
	rumor_http_parse_next(c->parse);
	/* a served request authenticated: the connection may idle between
	 * requests for the idle timeout */
	c->timer_phase = RUMOR_HTTP_PHASE_IDLE;
	arm_timer(c, c->server->limits.idle_timeout_ms);
	conn_process(c);
}

/* Queues the one response of this connection; takes head and body (body
 * may be NULL). */
static void conn_write(struct conn *c, char *head, size_t head_len, char *body, size_t body_len,
		       int close_after)
{
	assert(!c->out && !c->out_body);
	c->out = head;
	c->out_body = body;
	c->out_body_len = body ? body_len : 0;
	c->close_after_write = close_after;
	c->write_req.data = c;
	uv_buf_t bufs[2] = {uv_buf_init(head, (unsigned)head_len),
			    uv_buf_init(body, (unsigned)c->out_body_len)};
	if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, bufs, c->out_body_len ? 2 : 1,
		     on_write) != 0) {
		free(c->out);
		c->out = NULL;
		free(c->out_body);
		c->out_body = NULL;
		c->out_body_len = 0;
		conn_close(c);
		return;
	}
	/* The client must take the response within the idle timeout too: one
	 * that sends requests but never reads would otherwise keep its slot
	 * and its response buffer forever.  on_write re-arms or closes. */
	arm_timer(c, c->server->limits.idle_timeout_ms);
}

static void on_continue_written(uv_write_t *wreq, int status)
{
	/* errors show up on the response write or the next read */
}

static void send_continue(struct conn *c)
{
	static char text[] = "HTTP/1.1 100 Continue\r\n\r\n";
	uv_buf_t buf = uv_buf_init(text, sizeof(text) - 1);
	c->continue_req.data = c;
	if (uv_write(&c->continue_req, (uv_stream_t *)&c->tcp, &buf, 1, on_continue_written) != 0)
		conn_close(c);
}

/* Answers an error, then drains and closes (counted by the caller for 401
 * and 408, here for the rest). */
static void send_error(struct conn *c, int status, const char *reason)
{
	struct rumor_http_server *s = c->server;
	if (status != 401 && status != 408)
		s->stats.bad_requests++;
	const char *extra = "";
	if (status == 401)
		extra = "WWW-Authenticate: Basic realm=\"jsonrpc\"\r\n";
	else if (status == 405)
		extra = "Allow: POST\r\n";
	size_t len;
	char *out = build_error(status, extra, reason, &len);
	c->busy = 1;
	c->draining = 1;
	c->pending_len = c->pending_off = 0;
	uv_timer_stop(&c->timer);
	conn_write(c, out, len, NULL, 0, 1);
}

static void peer_name(struct conn *c, char *out, size_t cap)
{
	struct sockaddr_storage addr;
	int len = sizeof(addr);
	char host[64] = "?";
	int port = 0;
	if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&addr, &len) == 0) {
		if (addr.ss_family == AF_INET) {
			uv_ip4_name((struct sockaddr_in *)&addr, host, sizeof(host));
			port = ntohs(((struct sockaddr_in *)&addr)->sin_port);
		} else if (addr.ss_family == AF_INET6) {
			uv_ip6_name((struct sockaddr_in6 *)&addr, host, sizeof(host));
			port = ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
		}
	}
	snprintf(out, cap, strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
}

/* Counts a failed authentication and reports it, at most once per
 * RUMOR_HTTP_AUTH_LOG_INTERVAL_MS. */
static void note_auth_failure(struct conn *c)
{
	struct rumor_http_server *s = c->server;
	s->stats.auth_failures++;
	auth_failures_total++;
	s->auth_unlogged++;
	uint64_t now = uv_now(s->loop);
	if (!log_hook ||
	    (s->auth_logged && now - s->auth_logged_ms < RUMOR_HTTP_AUTH_LOG_INTERVAL_MS))
		return;
	char who[80], msg[256];
	peer_name(c, who, sizeof(who));
	if (!s->auth_logged)
		snprintf(msg, sizeof(msg),
			 "rpc: failed authentication from %s (missing or wrong credentials); "
			 "each failure is answered after %" PRIu64 " ms, and reported at most "
			 "every %d s",
			 who, s->limits.auth_fail_delay_ms, RUMOR_HTTP_AUTH_LOG_INTERVAL_MS / 1000);
	else
		snprintf(msg, sizeof(msg),
			 "rpc: %" PRIu64 " failed authentications in the last %" PRIu64
			 " s (latest from %s; %" PRIu64 " since start)",
			 s->auth_unlogged, (now - s->auth_logged_ms + 999) / 1000, who,
			 s->stats.auth_failures);
	s->auth_logged = 1;
	s->auth_logged_ms = now;
	s->auth_unlogged = 0;
	log_hook(msg);
}

static void on_timer(uv_timer_t *timer)
{
	struct conn *c = timer->data;
	struct rumor_http_server *s = c->server;
	if (c->auth_wait) {
		c->auth_wait = 0;
		send_error(c, 401, c->auth_reason);
		return;
	}
	if (c->out || c->draining || c->busy) {
		conn_close(c); /* an unread response, or the drain is over */
		return;
	}
	char msg[160];
	switch (c->timer_phase) {
	case RUMOR_HTTP_PHASE_IDLE:
		if (c->trusted) {
			conn_close(c); /* idle keep-alive connection */
			return;
		}
		/* a client that never sent a request */
		__attribute__((fallthrough));
	case RUMOR_HTTP_PHASE_HEADERS:
		s->stats.header_timeouts++;
		snprintf(msg, sizeof(msg), "request headers not complete within %" PRIu64 " ms",
			 header_deadline_ms(s));
		conn_refuse(c, 408, msg);
		return;
	case RUMOR_HTTP_PHASE_BODY: {
		size_t got;
		uint64_t want;
		rumor_http_parse_body_progress(c->parse, &got, &want);
		s->stats.body_timeouts++;
		if (want == UINT64_MAX)
			snprintf(msg, sizeof(msg),
				 "request body incomplete: %zu bytes of a chunked body, no final "
				 "chunk within %" PRIu64 " ms",
				 got, s->limits.idle_timeout_ms);
		else
			snprintf(msg, sizeof(msg),
				 "request body incomplete: received %zu of %" PRIu64
				 " bytes (Content-Length) within %" PRIu64 " ms",
				 got, want, s->limits.idle_timeout_ms);
		send_error(c, 408, msg);
		return;
	}
	}
}

/* Watches the request being received: the header deadline while its
 * headers come in (for an untrusted connection it runs from accept and is
 * never extended), the idle timeout for its body. */
static void conn_watch_input(struct conn *c)
{
	enum rumor_http_parse_phase phase = rumor_http_parse_phase(c->parse);
	if (phase == c->timer_phase)
		return;
	c->timer_phase = phase;
	switch (phase) {
	case RUMOR_HTTP_PHASE_IDLE:
		break; /* armed by accept or on_write */
	case RUMOR_HTTP_PHASE_HEADERS:
		if (c->trusted)
			arm_timer(c, header_deadline_ms(c->server));
		break;
	case RUMOR_HTTP_PHASE_BODY:
		c->trusted = 1;
		arm_timer(c, c->server->limits.idle_timeout_ms);
		break;
	}
}

static void dispatch(struct conn *c)
{
	struct rumor_http_server *s = c->server;
	struct rumor_http_request *req = calloc(1, sizeof(*req));
	assert(req);
	size_t len;
	req->magic = REQUEST_MAGIC;
	req->loop = s->loop;
	req->conn = c;
	req->body = rumor_http_parse_take_body(c->parse, &len);
	req->keep_alive = rumor_http_parse_keep_alive(c->parse);
	c->req = req;
	c->busy = 1;
	c->trusted = 1;
	c->request_bytes = len;
	s->stats.requests++;
	uv_timer_stop(&c->timer);
	s->handler(req, req->body, len, s->ctx);
}

/* A body past a JSON limit, refused while it arrived: the JSON-RPC error
 * rumor_jsonrpc_handle would give for the whole body (a 200, as for any
 * JSON-RPC answer), with "Connection: close", and the connection closes
 * once it is written, without reading the rest.  The client's unread
 * bytes make the kernel reset the connection; the answer, sent before,
 * stays readable for the client (Linux). */
static void refuse_body(struct conn *c)
{
	struct rumor_http_server *s = c->server;
	size_t received, body_len, head_len;
	uint64_t expected;
	rumor_http_parse_body_progress(c->parse, &received, &expected);
	char *body = rumor_jsonrpc_refusal(rumor_http_parse_refusal(c->parse), &body_len);
	char *head = build_head(200, "application/json", "", body_len, 0, &head_len);
	s->stats.requests++;
	s->stats.json_refused++;
	c->busy = 1;
	c->refused = 1;
	c->request_bytes = received;
	c->pending_len = c->pending_off = 0;
	uv_timer_stop(&c->timer);
	set_reading(c, 0);
	conn_write(c, head, head_len, body, body_len, 1);
}

static void conn_process(struct conn *c)
{
	while (!c->busy && !c->closing && c->pending_off < c->pending_len) {
		size_t used = 0;
		enum rumor_http_parse_state st = rumor_http_parse_feed(
			c->parse, c->pending + c->pending_off, c->pending_len - c->pending_off,
			&used);
		c->pending_off += used;
		int want_continue = rumor_http_parse_take_continue(c->parse);
		switch (st) {
		case RUMOR_HTTP_PARSE_MORE:
			if (want_continue)
				send_continue(c);
			break;
		case RUMOR_HTTP_PARSE_REQUEST:
			dispatch(c);
			break;
		case RUMOR_HTTP_PARSE_REFUSED:
			refuse_body(c);
			break;
		case RUMOR_HTTP_PARSE_ERROR: {
			const char *reason;
			int status = rumor_http_parse_error(c->parse, &reason);
			if (status == 401) {
				note_auth_failure(c);
				if (c->server->limits.auth_fail_delay_ms > 0) {
					/* answered later; input is still read (up to
					 * PENDING_MAX) so a client that leaves frees
					 * its slot at once */
					c->busy = 1;
					c->auth_wait = 1;
					c->auth_reason = reason;
					c->pending_len = c->pending_off = 0;
					arm_timer(c, c->server->limits.auth_fail_delay_ms);
					break;
				}
			}
			send_error(c, status, reason);
			break;
		}
		}
	}
	if (c->closing)
		return;
	if (!c->busy && !c->draining)
		conn_watch_input(c);
	if (c->pending_off == c->pending_len) {
		c->pending_off = c->pending_len = 0;
	} else if (c->pending_off > 0) {
		memmove(c->pending, c->pending + c->pending_off, c->pending_len - c->pending_off);
		c->pending_len -= c->pending_off;
		c->pending_off = 0;
	}
	if (c->draining || c->refused)
		return;
	set_reading(c, c->pending_len < PENDING_MAX);
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = stream->data;
	if (nread < 0) {
		conn_close(c); /* EOF or error: the client is gone */
		return;
	}
	if (nread == 0 || c->draining || c->closing || c->refused)
		return;
	if (c->auth_wait)
		return; /* its 401 is on the way; what follows is dropped */
	size_t n = (size_t)nread;
	if (c->pending_len + n > c->pending_cap) {
		size_t cap = c->pending_cap ? c->pending_cap : 4096;
		while (cap < c->pending_len + n)
			cap *= 2;
		char *p = realloc(c->pending, cap);
		if (!p) {
			conn_close(c);
			return;
		}
		c->pending = p;
		c->pending_cap = cap;
	}
	memcpy(c->pending + c->pending_len, buf->base, n);
	c->pending_len += n;
	conn_process(c);
}

static void on_refused_closed(uv_handle_t *handle)
{
	struct rumor_http_server *s = handle->data;
	free(handle);
	server_release(s);
}

/* 1 when the kernel holds bytes of c that we have not read yet. */
static int has_unread_input(struct conn *c)
{
	uv_os_fd_t fd;
	int n = 0;
	if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0 || ioctl(fd, FIONREAD, &n) != 0)
		return 0;
	return n > 0;
}

/* The connection to evict for a new one: the oldest that has not
 * authenticated, has no unread bytes waiting and was accepted before this
 * loop turn (one accepted in this turn has not been read yet: its client
 * may be honest and its request a moment behind the connect, and a flood
 * of connects accepted in the same turn would otherwise push it out);
 * failing that, the oldest such one accepted in this turn; failing that,
 * the oldest that has not authenticated; or NULL.  The list is newest
 * first: walk to the end, then back, asking the kernel about unread bytes
 * (one ioctl) only until a candidate without any is found. */
static struct conn *eviction_victim(struct rumor_http_server *s)
{
	struct conn *last = s->conns;
	if (!last)
		return NULL;
	while (last->next)
		last = last->next;
	uint64_t now = uv_now(s->loop);
	struct conn *oldest = NULL, *fresh = NULL;
	for (struct conn *c = last; c; c = c->prev) {
		if (c->trusted || c->req)
			continue;
		if (!oldest)
			oldest = c;
		if (c->accepted_ms == now && fresh)
			continue;
		if (has_unread_input(c))
			continue;
		if (c->accepted_ms != now)
			return c;
		fresh = c;
	}
	return fresh ? fresh : oldest;
}

static void on_connection(uv_stream_t *listener, int status);

static void on_accept_timer(uv_timer_t *timer)
{
	struct rumor_http_server *s = timer->data;
	if (!s->accept_waiting || s->closing)
		return;
	s->accept_waiting = 0;
	on_connection((uv_stream_t *)&s->listener, 0);
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct rumor_http_server *s = listener->data;
	if (status < 0 || s->closing)
		return;
	uint64_t now_ms = uv_now(s->loop);
	if (now_ms != s->accept_turn_ms) {
		s->accept_turn_ms = now_ms;
		s->accepts_in_turn = 0;
	}
	unsigned cap = s->limits.max_clients / ACCEPT_TURN_DIVISOR;
	if (cap < 1)
		cap = 1;
	if (s->accepts_in_turn >= cap) {
		/* left unaccepted: libuv stops watching the listener until
		 * the timer accepts again */
		if (!s->accept_waiting) {
			s->accept_waiting = 1;
			s->stats.accepts_deferred++;
			uv_timer_start(&s->accept_timer, on_accept_timer, 1, 0);
		}
		return;
	}
	s->accepts_in_turn++;
	if (s->stats.clients >= s->limits.max_clients) {
		struct conn *victim = eviction_victim(s);
		if (victim) {
			s->stats.connections_evicted++;
			conn_refuse(victim, 503,
				    "evicted: every connection slot is taken; a connection must "
				    "authenticate to keep one");
		}
	}
	if (s->stats.clients >= s->limits.max_clients) {
		uv_tcp_t *tcp = malloc(sizeof(*tcp));
		assert(tcp);
		uv_tcp_init(s->loop, tcp);
		tcp->data = s;
		s->live++;
		if (uv_accept(listener, (uv_stream_t *)tcp) == 0) {
			static char text[] = "HTTP/1.1 503 Service Unavailable\r\n"
					     "Content-Type: text/plain\r\nContent-Length: 17\r\n"
					     "Connection: close\r\n\r\ntoo many clients\n";
			uv_buf_t buf = uv_buf_init(text, sizeof(text) - 1);
			uv_try_write((uv_stream_t *)tcp, &buf, 1); /* best effort */
			s->stats.connections_refused++;
		}
		uv_close((uv_handle_t *)tcp, on_refused_closed);
		return;
	}
	struct conn *c = calloc(1, sizeof(*c));
	assert(c);
	c->server = s;
	c->tcp.data = c;
	c->timer.data = c;
	c->accepted_ms = uv_now(s->loop);
	uv_tcp_init(s->loop, &c->tcp);
	uv_timer_init(s->loop, &c->timer);
	c->handles_open = 2;
	s->live++;
	c->next = s->conns;
	if (s->conns)
		s->conns->prev = c;
	s->conns = c;
	c->parse = rumor_http_parse_new(&s->limits, s->auth);
	if (!c->parse || uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
		conn_close(c);
		return;
	}
	c->counted = 1;
	s->stats.clients++;
	s->stats.connections_accepted++;
	uv_tcp_nodelay(&c->tcp, 1);
	int sndbuf = SEND_BUFFER_BYTES;
	uv_send_buffer_size((uv_handle_t *)&c->tcp, &sndbuf); /* best effort */
	/* untrusted: its first request's headers must come within the
	 * header deadline, which later bytes do not extend */
	c->timer_phase = RUMOR_HTTP_PHASE_IDLE;
	arm_timer(c, header_deadline_ms(s));
	set_reading(c, 1);
}

void rumor_http_respond(struct rumor_http_request *req, int status, const char *content_type,
			char *body, size_t len)
{
	assert(req);
	struct conn *c = req->conn;
	assert(req->magic == REQUEST_MAGIC);
	req->magic = 0;
	if (!c) {
		free(body);
		free(req->body);
		free(req);
		if (len >= TRIM_RESPONSE_BYTES)
			trim_heap();
		return;
	}
	assert(c->req == req && c->busy && !c->closing);
	c->req = NULL;
	int keep_alive = req->keep_alive && !c->server->closing;
	if (status == 204 || !body) {
		free(body);
		body = NULL;
		len = 0;
	}
	size_t head_len;
	char *head = build_head(status, content_type, "", len, keep_alive, &head_len);
	free(req->body);
	free(req);
	conn_write(c, head, head_len, body, len, !keep_alive);
}

/* An idle handle, not a 0 ms timer: libuv runs a timer started from a timer
 * callback in the same timer phase, so chained slices never let the loop
 * poll; idle handles started from an idle callback run at the next turn,
 * after its I/O (and an active one keeps the poll from blocking). */
struct deferred {
	uv_idle_t idle;
	void (*fn)(void *arg);
	void *arg;
};

static void on_deferred_closed(uv_handle_t *handle)
{
	free(handle->data);
}

static void on_deferred(uv_idle_t *idle)
{
	struct deferred *d = idle->data;
	uv_idle_stop(&d->idle);
	uv_close((uv_handle_t *)&d->idle, on_deferred_closed);
	d->fn(d->arg);
}

int rumor_http_request_defer(struct rumor_http_request *req, void (*fn)(void *arg), void *arg)
{
	assert(req && req->magic == REQUEST_MAGIC);
	struct deferred *d = malloc(sizeof(*d));
	if (!d)
		return UV_ENOMEM;
	d->fn = fn;
	d->arg = arg;
	d->idle.data = d;
	int err = uv_idle_init(req->loop, &d->idle);
	if (err) {
		free(d);
		return err;
	}
	err = uv_idle_start(&d->idle, on_deferred);
	if (err) {
		uv_close((uv_handle_t *)&d->idle, on_deferred_closed);
		return err;
	}
	return 0;
}

void rumor_http_request_on_abort(struct rumor_http_request *req, rumor_http_abort_fn fn,
				 void *arg)
{
	req->abort_fn = fn;
	req->abort_arg = arg;
}

static void on_listener_closed(uv_handle_t *handle)
{
	server_release(handle->data);
}

int rumor_http_server_new(struct rumor_http_server **out, uv_loop_t *loop, const char *host,
			  int port, const struct rumor_http_limits *limits,
			  const struct rumor_auth *auth, rumor_http_handler_fn handler, void *ctx)
{
	struct sockaddr_storage addr;
	if (port < 0 || port > 65535)
		return UV_EINVAL;
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0)
		return UV_EINVAL;
	struct rumor_http_server *s = calloc(1, sizeof(*s));
	if (!s)
		return UV_ENOMEM;
	s->loop = loop;
	if (limits)
		s->limits = *limits;
	else
		rumor_http_limits_default(&s->limits);
	s->auth = auth;
	s->handler = handler;
	s->ctx = ctx;
	s->live = 2;
	s->listener.data = s;
	s->accept_timer.data = s;
	int err = uv_tcp_init(loop, &s->listener);
	if (err) {
		free(s);
		return err;
	}
	uv_timer_init(loop, &s->accept_timer);
	err = uv_tcp_bind(&s->listener, (const struct sockaddr *)&addr, 0);
	if (!err)
		err = uv_listen((uv_stream_t *)&s->listener, LISTEN_BACKLOG, on_connection);
	if (err) {
		/* the listener and timer are released when the loop next runs */
		s->closing = 1;
		uv_close((uv_handle_t *)&s->listener, on_listener_closed);
		uv_close((uv_handle_t *)&s->accept_timer, on_listener_closed);
		return err;
	}
	*out = s;
	return 0;
}

int rumor_http_server_port(const struct rumor_http_server *server)
{
	struct sockaddr_storage addr;
	int len = sizeof(addr);
	if (uv_tcp_getsockname(&server->listener, (struct sockaddr *)&addr, &len) != 0)
		return -1;
	if (addr.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&addr)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
}

void rumor_http_server_get_stats(const struct rumor_http_server *server,
				 struct rumor_http_stats *out)
{
	*out = server->stats;
}

void rumor_http_server_close(struct rumor_http_server *server, void (*close_cb)(void *arg),
			     void *arg)
{
	assert(!server->closing);
	server->closing = 1;
	server->close_cb = close_cb;
	server->close_arg = arg;
	uv_close((uv_handle_t *)&server->listener, on_listener_closed);
	uv_close((uv_handle_t *)&server->accept_timer, on_listener_closed);
	while (server->conns)
		conn_close(server->conns);
}
