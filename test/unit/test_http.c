/*
 * test/unit/test_http.c: the HTTP server on a real libuv loop, bound to
 * 127.0.0.1 port 0, talked to through plain non-blocking client sockets from
 * this thread.  The test pumps the loop with uv_run(UV_RUN_NOWAIT) while it
 * waits for bytes.  Every test ends by closing the server and asserting that
 * uv_loop_close() finds nothing left open; the sanitizers catch leaks.
 * The sans-IO parser is also tested directly with fixed bytes.
 */
#define _GNU_SOURCE /* memmem, strcasestr */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cmocka.h>
#include <uv.h>

#include "rpc/auth.h"
#include "rpc/http_client.h"
#include "rpc/http_server.h"
#include "rpc/json_parse.h"
#include "rpc/jsonrpc.h"

#define AUTH_HEADER "Authorization: Basic YWxpY2U6aHVudGVyMg==\r\n" /* alice:hunter2 */
#define ALICE "alice:c0ffee$1b62ad810166cfa5f0fcf18767288b9b1161eeac0eace82cd8054ea3a0627365"

struct fixture {
	uv_loop_t loop;
	struct rumor_http_server *server;
	struct rumor_auth auth;
	int port;
	int park;                       /* handler keeps requests instead of answering */
	struct rumor_http_request *parked[4];
	size_t n_parked;
	int aborts;
	int handled;
	int closed;
};

static struct fixture *fx;

/* ---- server side ---- */

static void on_abort(struct rumor_http_request *req, void *arg)
{
	fx->aborts++;
}

static void handler(struct rumor_http_request *req, const char *body, size_t len, void *ctx)
{
	assert_ptr_equal(ctx, fx);
	assert_int_equal(body[len], '\0');
	fx->handled++;
	if (fx->park) {
		assert_true(fx->n_parked < 4);
		fx->parked[fx->n_parked++] = req;
		rumor_http_request_on_abort(req, on_abort, NULL);
		return;
	}
	if (len == 0) {
		rumor_http_respond(req, 204, NULL, NULL, 0);
		return;
	}
	/* echo the body */
	char *copy = malloc(len);
	memcpy(copy, body, len);
	rumor_http_respond(req, 200, NULL, copy, len);
}

static void start(const struct rumor_http_limits *limits)
{
	fx = calloc(1, sizeof(*fx));
	assert_int_equal(uv_loop_init(&fx->loop), 0);
	rumor_auth_init(&fx->auth);
	assert_null(rumor_auth_add_rpcauth(&fx->auth, ALICE));
	assert_int_equal(rumor_http_server_new(&fx->server, &fx->loop, "127.0.0.1", 0, limits,
					       &fx->auth, handler, fx),
			 0);
	fx->port = rumor_http_server_port(fx->server);
	assert_true(fx->port > 0);
}

static void on_server_closed(void *arg)
{
	assert_ptr_equal(arg, fx);
	fx->closed = 1;
}

static int teardown(void **state)
{
	if (!fx)
		return 0;
	rumor_http_server_close(fx->server, on_server_closed, fx);
	/* requests still parked are answered after the close: dropped */
	for (size_t i = 0; i < fx->n_parked; i++)
		rumor_http_respond(fx->parked[i], 200, NULL, strdup("late"), 4);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	assert_int_equal(fx->closed, 1);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
	free(fx);
	fx = NULL;
	return 0;
}

static struct rumor_http_stats stats(void)
{
	struct rumor_http_stats st;
	rumor_http_server_get_stats(fx->server, &st);
	return st;
}

static void pump(void)
{
	uv_run(&fx->loop, UV_RUN_NOWAIT);
}

/* Pumps until cond() or about 3 s pass. */
static int pump_until(int (*cond)(void))
{
	for (int i = 0; i < 3000; i++) {
		pump();
		if (cond())
			return 1;
		usleep(1000);
	}
	return 0;
}

/* ---- client side ---- */

static int client_connect(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	struct sockaddr_in a;
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_port = htons((uint16_t)fx->port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* Sends what the server takes; returns how many bytes that was. */
static size_t client_send(int fd, const char *data, size_t len)
{
	size_t off = 0;
	for (int i = 0; off < len && i < 100000; i++) {
		ssize_t n = send(fd, data + off, len - off, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break; /* the server closed: fine for the oversize tests */
		pump();
	}
	return off;
}

static void client_send_str(int fd, const char *s)
{
	client_send(fd, s, strlen(s));
}

struct response {
	int status;
	char head[4096];
	char body[65536];
	size_t body_len;
	int eof; /* the server closed after it */
};

/* Reads bytes until a whole response is in buf (or EOF). */
static char inbuf[1 << 17];
static size_t inlen;

static int read_some(int fd)
{
	ssize_t n = recv(fd, inbuf + inlen, sizeof(inbuf) - inlen, 0);
	if (n > 0) {
		inlen += (size_t)n;
		return 1;
	}
	if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
		return -1; /* EOF or reset */
	return 0;
}

/* Returns 1 with a parsed response, 0 when the connection closed first. */
static int client_read(int fd, struct response *r)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 3000; i++) {
		char *end = memmem(inbuf, inlen, "\r\n\r\n", 4);
		if (end) {
			size_t head_len = (size_t)(end - inbuf) + 4;
			assert_true(head_len < sizeof(r->head));
			memcpy(r->head, inbuf, head_len);
			r->head[head_len] = '\0';
			assert_int_equal(sscanf(r->head, "HTTP/1.1 %d ", &r->status), 1);
			size_t clen = 0;
			char *cl = strcasestr(r->head, "\r\nContent-Length: ");
			if (cl)
				clen = strtoul(cl + 18, NULL, 10);
			if (inlen >= head_len + clen) {
				memcpy(r->body, inbuf + head_len, clen);
				r->body[clen] = '\0';
				r->body_len = clen;
				memmove(inbuf, inbuf + head_len + clen, inlen - head_len - clen);
				inlen -= head_len + clen;
				return 1;
			}
		}
		int got = read_some(fd);
		if (got < 0)
			return 0;
		if (got == 0) {
			pump();
			usleep(1000);
		}
	}
	fail_msg("no response");
	return 0;
}

/* 1 when the server closes the connection within ~3 s. */
static int client_sees_close(int fd)
{
	for (int i = 0; i < 3000; i++) {
		int got = read_some(fd);
		if (got < 0)
			return 1;
		if (got == 0) {
			pump();
			usleep(1000);
		}
	}
	return 0;
}

static void client_close(int fd)
{
	close(fd);
	inlen = 0;
}

static char *post(const char *body, const char *extra_headers)
{
	static char text[8192];
	snprintf(text, sizeof(text),
		 "POST / HTTP/1.1\r\nHost: x\r\n" AUTH_HEADER
		 "Content-Type: application/json\r\nContent-Length: %zu\r\n%s\r\n%s",
		 strlen(body), extra_headers, body);
	return text;
}

/* A fresh connection is served normally. */
static void assert_still_serving(void)
{
	int fd = client_connect();
	struct response r;
	client_send_str(fd, post("{\"ok\":1}", ""));
	assert_true(client_read(fd, &r));
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"ok\":1}");
	client_close(fd);
}

/* ---- tests ---- */

static void test_keep_alive(void **state)
{
	start(NULL);
	int fd = client_connect();
	struct response r;
	client_send_str(fd, post("[1]", ""));
	assert_true(client_read(fd, &r));
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "[1]");
	assert_non_null(strstr(r.head, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(r.head, "Connection: keep-alive\r\n"));
	client_send_str(fd, post("[2]", ""));
	assert_true(client_read(fd, &r));
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "[2]");
	/* an empty body gets 204 from this handler: no Content-Length */
	client_send_str(fd, post("", ""));
	assert_true(client_read(fd, &r));
	assert_int_equal(r.status, 204);
	assert_null(strcasestr(r.head, "Content-Length"));
	struct rumor_http_stats st = stats();
	assert_int_equal(st.connections_accepted, 1);
	assert_int_equal(st.requests, 3);
	assert_int_equal(st.clients, 1);
	client_close(fd);
}

static void test_pipelined(void **state)
{
	start(NULL);
	int fd = client_connect();
	char both[4096];
	strcpy(both, post("\"first\"", ""));
	strcat(both, post("\"second\"", ""));
	strcat(both, post("\"third\"", "Connection: close\r\n"));
	client_send_str(fd, both);
	struct response r;
	assert_true(client_read(fd, &r));
	assert_string_equal(r.body, "\"first\"");
	assert_true(client_read(fd, &r));
	assert_string_equal(r.body, "\"second\"");
	assert_true(client_read(fd, &r));
	assert_string_equal(r.body, "\"third\"");
	assert_non_null(strstr(r.head, "Connection: close\r\n"));
	assert_true(client_sees_close(fd));
	client_close(fd);
	assert_int_equal(fx->handled, 3);
}

static void test_pipelined_while_pending(void **state)
{
	start(NULL);
	fx->park = 1;
	int fd = client_connect();
	char both[4096];
	strcpy(both, post("\"a\"", ""));
	strcat(both, post("\"b\"", ""));
	client_send_str(fd, both);
	for (int i = 0; i < 100; i++)
		pump();
	/* one request at a time: the second waits for the first answer */
	assert_int_equal(fx->n_parked, 1);
	rumor_http_respond(fx->parked[0], 200, "text/plain", strdup("A"), 1);
	fx->n_parked = 0;
	struct response r;
	assert_true(client_read(fd, &r));
	assert_string_equal(r.body, "A");
	assert_non_null(strstr(r.head, "Content-Type: text/plain\r\n"));
	for (int i = 0; i < 100 && fx->n_parked == 0; i++)
		pump();
	assert_int_equal(fx->n_parked, 1);
	rumor_http_respond(fx->parked[0], 200, NULL, strdup("B"), 1);
	fx->n_parked = 0;
	assert_true(client_read(fd, &r));
	assert_string_equal(r.body, "B");
	client_close(fd);
}

static void test_http10_closes(void **state)
{
	start(NULL);
	int fd = client_connect();
	client_send_str(fd, "POST / HTTP/1.0\r\n" AUTH_HEADER "Content-Length: 2\r\n\r\n{}");
	struct response r;
	assert_true(client_read(fd, &r));
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "Connection: close\r\n"));
	assert_true(client_sees_close(fd));
	client_close(fd);
	fd = client_connect();
	client_send_str(fd, "POST / HTTP/1.0\r\nConnection: keep-alive\r\n" AUTH_HEADER
			    "Content-Length: 2\r\n\r\n{}");
	assert_true(client_read(fd, &r));
	assert_non_null(strstr(r.head, "Connection: keep-alive\r\n"));
	client_close(fd);
}

static void expect_error(const char *request, int status, const char *header)
{
	int fd = client_connect();
	client_send_str(fd, request);
	struct response r;
	assert_true(client_read(fd, &r));
	assert_int_equal(r.status, status);
	if (header)
		assert_non_null(strstr(r.head, header));
	assert_non_null(strstr(r.head, "Connection: close\r\n"));
	assert_true(client_sees_close(fd));
	client_close(fd);
	assert_still_serving();
}

static void test_auth_required(void **state)
{
	start(NULL);
	expect_error("POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 401,
		     "WWW-Authenticate: Basic realm=\"jsonrpc\"\r\n");
	expect_error("POST / HTTP/1.1\r\nAuthorization: Basic YWxpY2U6aHVudGVyMw==\r\n"
		     "Content-Length: 2\r\n\r\n{}",
		     401, "WWW-Authenticate: Basic realm=\"jsonrpc\"\r\n");
	expect_error("POST / HTTP/1.1\r\n" AUTH_HEADER AUTH_HEADER "Content-Length: 2\r\n\r\n{}",
		     400, NULL);
	struct rumor_http_stats st = stats();
	assert_int_equal(st.auth_failures, 2);
	assert_int_equal(st.bad_requests, 1);
	assert_int_equal(fx->handled, 3); /* only the assert_still_serving ones */
}

static void test_method_and_path(void **state)
{
	start(NULL);
	expect_error("GET / HTTP/1.1\r\nHost: x\r\n" AUTH_HEADER "\r\n", 405, "Allow: POST\r\n");
	expect_error("PUT / HTTP/1.1\r\n" AUTH_HEADER "Content-Length: 2\r\n\r\n{}", 405, NULL);
	expect_error("HEAD / HTTP/1.1\r\n" AUTH_HEADER "\r\n", 405, "Allow: POST\r\n");
	assert_int_equal(stats().bad_requests, 3);
}

static void test_not_found(void **state)
{
	start(NULL);
	expect_error("POST /wallet HTTP/1.1\r\n" AUTH_HEADER "Content-Length: 2\r\n\r\n{}", 404,
		     NULL);
}

static void test_garbage(void **state)
{
	start(NULL);
	expect_error("\x01\x02 garbage garbage\r\n\r\n", 400, NULL);
	expect_error("POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n", 400, NULL);
	expect_error("POST / HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}", 400,
		     NULL);
	assert_int_equal(stats().bad_requests, 3);
}

static void test_huge_header(void **state)
{
	start(NULL);
	static char req[20000];
	strcpy(req, "POST / HTTP/1.1\r\nX-Big: ");
	size_t n = strlen(req);
	memset(req + n, 'a', 10000);
	strcpy(req + n + 10000, "\r\n" AUTH_HEADER "Content-Length: 2\r\n\r\n{}");
	expect_error(req, 431, NULL);
	/* many small headers add up as well */
	strcpy(req, "POST / HTTP/1.1\r\n");
	for (int i = 0; i < 1100; i++) /* 8800 bytes */
		strcat(req, "X-A: b\r\n");
	strcat(req, "\r\n");
	expect_error(req, 431, NULL);
}

static void test_huge_body(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.max_body_bytes = 1000;
	start(&limits);
	expect_error("POST / HTTP/1.1\r\n" AUTH_HEADER "Content-Length: 99999999999\r\n\r\n{}",
		     413, NULL);
	/* chunked: the limit applies as the body arrives */
	static char req[8192];
	strcpy(req, "POST / HTTP/1.1\r\n" AUTH_HEADER "Transfer-Encoding: chunked\r\n\r\n");
	for (int i = 0; i < 20; i++)
		strcat(req, "64\r\n"
			    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
			    "\r\n");
	strcat(req, "0\r\n\r\n");
	expect_error(req, 413, NULL);
	/* exactly at the limit is fine, chunked too */
	int fd = client_connect();
	strcpy(req, "POST / HTTP/1.1\r\n" AUTH_HEADER "Transfer-Encoding: chunked\r\n\r\n"
		    "3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
	client_send_str(fd, req);
	struct response r;
	assert_true(client_read(fd, &r));
	assert_string_equal(r.body, "abcde");
	client_close(fd);
}

static void test_expect_continue(void **state)
{
	start(NULL);
	int fd = client_connect();
	client_send_str(fd, "POST / HTTP/1.1\r\n" AUTH_HEADER
			    "Expect: 100-continue\r\nContent-Length: 4\r\n\r\n");
	struct response r;
	assert_true(client_read(fd, &r));
	assert_int_equal(r.status, 100);
	client_send_str(fd, "true");
	assert_true(client_read(fd, &r));
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "true");
	client_close(fd);
	expect_error("POST / HTTP/1.1\r\n" AUTH_HEADER "Expect: teapot\r\nContent-Length: 2\r\n\r\n{}",
		     417, NULL);
}

static int two_clients(void)
{
	return stats().clients == 2;
}

static int no_clients(void)
{
	return stats().clients == 0;
}

static void test_max_clients(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.max_clients = 2;
	start(&limits);
	int a = client_connect();
	int b = client_connect();
	assert_true(pump_until(two_clients));
	/* both authenticate (keep-alive): their slots are theirs */
	struct response r;
	client_send_str(a, post("1", ""));
	assert_true(client_read(a, &r));
	client_send_str(b, post("2", ""));
	assert_true(client_read(b, &r));
	int c = client_connect();
	assert_true(client_read(c, &r));
	assert_int_equal(r.status, 503);
	assert_true(client_sees_close(c));
	client_close(c);
	assert_int_equal(stats().connections_refused, 1);
	assert_int_equal(stats().connections_evicted, 0);
	/* the two admitted clients are served */
	client_send_str(a, post("1", ""));
	assert_true(client_read(a, &r));
	assert_string_equal(r.body, "1");
	client_close(a);
	client_close(b);
	assert_true(pump_until(no_clients));
	assert_still_serving();
}

static int forty_clients(void)
{
	return stats().connections_accepted == 40;
}

/* A burst of connections is accepted max_clients / 4 per loop turn, the
 * rest taken up from the backlog at later turns: every one is accepted,
 * and the turns in between are counted. */
static void test_accepts_per_turn(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.max_clients = 64; /* 16 per turn */
	start(&limits);
	int fds[40];
	for (int i = 0; i < 40; i++)
		fds[i] = client_connect(); /* all in the backlog before the server runs */
	pump();
	assert_int_equal(stats().connections_accepted, 16);
	assert_int_equal(stats().accepts_deferred, 1);
	assert_true(pump_until(forty_clients));
	assert_true(stats().accepts_deferred >= 2);
	assert_int_equal(stats().connections_evicted, 0);
	assert_int_equal(stats().connections_refused, 0);
	struct response r;
	client_send_str(fds[39], post("last", ""));
	assert_true(client_read(fds[39], &r));
	assert_string_equal(r.body, "last");
	for (int i = 0; i < 40; i++)
		client_close(fds[i]);
	assert_true(pump_until(no_clients));
	assert_still_serving();
}

/* Connections that never authenticated cannot lock the port: when the
 * slots are full, a new connection evicts the oldest of them. */
static void test_evicts_unauthenticated(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.max_clients = 3;
	start(&limits);
	int trusted = client_connect();
	struct response r;
	client_send_str(trusted, post("t", ""));
	assert_true(client_read(trusted, &r));
	int idle1 = client_connect();
	assert_true(pump_until(two_clients));
	int idle2 = client_connect(); /* a slowloris: half a request line */
	client_send_str(idle2, "POST / HT");
	for (int i = 0; i < 50; i++) { /* older than the eviction's minimum age */
		pump();
		usleep(1000);
	}
	assert_int_equal(stats().clients, 3);
	/* an honest client gets in by evicting idle1, the oldest untrusted */
	int honest = client_connect();
	client_send_str(honest, post("{\"honest\":1}", ""));
	assert_true(client_read(honest, &r));
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"honest\":1}");
	assert_int_equal(stats().connections_evicted, 1);
	assert_int_equal(stats().connections_refused, 0);
	inlen = 0;
	assert_true(client_read(idle1, &r) == 0 || r.status == 503);
	assert_true(client_sees_close(idle1));
	inlen = 0;
	/* the authenticated connection was not touched */
	client_send_str(trusted, post("again", ""));
	assert_true(client_read(trusted, &r));
	assert_string_equal(r.body, "again");
	client_close(idle1);
	client_close(idle2);
	client_close(honest);
	client_close(trusted);
	assert_true(pump_until(no_clients));
}

/* A connection without credentials must finish its headers within the
 * header deadline, however it trickles bytes; an authenticated keep-alive
 * connection may idle for the (longer) idle timeout. */
static void test_header_deadline(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.header_timeout_ms = 200;
	limits.idle_timeout_ms = 3000;
	start(&limits);
	int slow = client_connect();
	const char *line = "POST / HTTP/1.1\r\nX-Slow: ";
	uint64_t t0 = uv_hrtime();
	struct response r;
	int closed = 0;
	/* one byte every 20 ms: the deadline is not extended by them */
	for (int i = 0; i < 150 && !closed; i++) {
		char byte = line[i % strlen(line)];
		send(slow, &byte, 1, MSG_NOSIGNAL);
		for (int k = 0; k < 20; k++) {
			pump();
			usleep(1000);
		}
		closed = stats().clients == 0;
	}
	assert_true(closed);
	uint64_t elapsed_ms = (uv_hrtime() - t0) / 1000000;
	assert_true(elapsed_ms < 2500); /* well before the idle timeout */
	assert_true(client_read(slow, &r));
	assert_int_equal(r.status, 408);
	assert_non_null(strstr(r.body, "request headers not complete within 200 ms"));
	client_close(slow);
	assert_int_equal(stats().header_timeouts, 1);

	/* authenticated keep-alive: idle past the header deadline is fine */
	int fd = client_connect();
	client_send_str(fd, post("1", ""));
	assert_true(client_read(fd, &r));
	for (int k = 0; k < 400; k++) {
		pump();
		usleep(1000);
	}
	client_send_str(fd, post("2", ""));
	assert_true(client_read(fd, &r));
	assert_string_equal(r.body, "2");
	client_close(fd);
	assert_true(pump_until(no_clients));
}

/* A body shorter than its Content-Length gets a 408 that says so. */
static void test_body_incomplete(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.idle_timeout_ms = 200;
	start(&limits);
	int fd = client_connect();
	client_send_str(fd, "POST / HTTP/1.1\r\n" AUTH_HEADER "Content-Length: 10\r\n\r\nabc");
	struct response r;
	assert_true(client_read(fd, &r));
	assert_int_equal(r.status, 408);
	assert_non_null(strstr(r.body, "request body incomplete: received 3 of 10 bytes"));
	assert_true(client_sees_close(fd));
	client_close(fd);
	assert_int_equal(stats().body_timeouts, 1);
	assert_still_serving();
}

static int log_lines;
static char last_log[512];
static void test_log(const char *message)
{
	log_lines++;
	snprintf(last_log, sizeof(last_log), "%s", message);
}

/* A wrong password is answered after the delay, counted, and logged once
 * per interval however many follow. */
static void test_auth_failure_delayed(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.auth_fail_delay_ms = 150;
	start(&limits);
	rumor_http_set_log(test_log);
	log_lines = 0;
	uint64_t before = rumor_http_auth_failures_total();
	for (int i = 0; i < 3; i++) {
		int fd = client_connect();
		uint64_t t0 = uv_hrtime();
		client_send_str(fd, "POST / HTTP/1.1\r\nAuthorization: Basic YWxpY2U6aHVudGVyMw==\r\n"
				    "Content-Length: 2\r\n\r\n{}");
		struct response r;
		assert_true(client_read(fd, &r));
		assert_int_equal(r.status, 401);
		assert_true(uv_hrtime() - t0 >= 140 * 1000000ull);
		client_close(fd);
	}
	/* a client that leaves before its 401 frees the slot at once */
	int fd = client_connect();
	client_send_str(fd, "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}");
	for (int i = 0; i < 50; i++)
		pump();
	client_close(fd);
	assert_true(pump_until(no_clients));
	assert_int_equal(stats().auth_failures, 4);
	assert_int_equal(rumor_http_auth_failures_total() - before, 4);
	assert_int_equal(log_lines, 1);
	assert_non_null(strstr(last_log, "failed authentication from 127.0.0.1:"));
	rumor_http_set_log(NULL);
	assert_still_serving();
}

static void test_idle_timeout(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.idle_timeout_ms = 100;
	start(&limits);
	int fd = client_connect();
	assert_true(client_sees_close(fd));
	client_close(fd);
	/* a slow request (half the headers, then silence) is cut off too */
	fd = client_connect();
	client_send_str(fd, "POST / HTTP/1.1\r\n" AUTH_HEADER);
	assert_true(client_sees_close(fd));
	client_close(fd);
	assert_true(pump_until(no_clients));
	assert_still_serving();
}

/* A client that sends a request but never reads the (large) response is
 * cut off after the idle timeout, instead of holding its slot forever. */
static void test_unread_response_times_out(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.idle_timeout_ms = 1000; /* room to send 4 MiB on a loaded machine */
	start(&limits);
	int fd = client_connect();
	/* Shrink the client's receive buffer so the echoed 4 MiB cannot all
	 * sit in socket buffers: the server's write stays pending. */
	int small = 4096;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	size_t n = 4u << 20;
	char *big = malloc(n);
	assert_non_null(big);
	memset(big, 'x', n);
	char head[256];
	snprintf(head, sizeof(head), "POST / HTTP/1.1\r\n" AUTH_HEADER "Content-Length: %zu\r\n\r\n",
		 n);
	client_send_str(fd, head);
	client_send(fd, big, n);
	free(big);
	assert_true(pump_until(no_clients)); /* never read a byte: closed by the server */
	assert_int_equal(fx->handled, 1);
	client_close(fd);
	assert_still_serving();
}

static int one_abort(void)
{
	return fx->aborts == 1 && stats().clients == 0;
}

static void test_client_gone_while_pending(void **state)
{
	start(NULL);
	fx->park = 1;
	int fd = client_connect();
	client_send_str(fd, post("{}", ""));
	for (int i = 0; i < 200 && fx->n_parked == 0; i++)
		pump();
	assert_int_equal(fx->n_parked, 1);
	client_close(fd);
	assert_true(pump_until(one_abort));
	/* answering afterwards is fine and frees the request */
	rumor_http_respond(fx->parked[0], 200, NULL, strdup("{}"), 2);
	fx->n_parked = 0;
	fx->park = 0;
	assert_still_serving();
}

static void test_close_with_pending(void **state)
{
	start(NULL);
	fx->park = 1;
	int fd = client_connect();
	client_send_str(fd, post("{}", ""));
	for (int i = 0; i < 200 && fx->n_parked == 0; i++)
		pump();
	assert_int_equal(fx->n_parked, 1);
	/* teardown closes the server first, then answers: dropped */
	client_close(fd);
}

/* ---- the parser without sockets ---- */

static void test_parser_direct(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	struct rumor_auth auth;
	rumor_auth_init(&auth);
	assert_null(rumor_auth_add_rpcauth(&auth, ALICE));
	struct rumor_http_parse *p = rumor_http_parse_new(&limits, &auth);
	const char *two = "POST / HTTP/1.1\r\n" AUTH_HEADER "Content-Length: 3\r\n\r\nabc"
			  "POST / HTTP/1.1\r\n" AUTH_HEADER "Connection: close\r\n"
			  "Content-Length: 1\r\n\r\nd";
	size_t len = strlen(two), used = 0, off = 0;
	/* byte by byte up to the first request */
	enum rumor_http_parse_state st = RUMOR_HTTP_PARSE_MORE;
	while (st == RUMOR_HTTP_PARSE_MORE) {
		st = rumor_http_parse_feed(p, two + off, 1, &used);
		off += used;
	}
	assert_int_equal(st, RUMOR_HTTP_PARSE_REQUEST);
	size_t blen;
	char *body = rumor_http_parse_take_body(p, &blen);
	assert_int_equal(blen, 3);
	assert_string_equal(body, "abc");
	free(body);
	assert_int_equal(rumor_http_parse_keep_alive(p), 1);
	rumor_http_parse_next(p);
	st = rumor_http_parse_feed(p, two + off, len - off, &used);
	assert_int_equal(st, RUMOR_HTTP_PARSE_REQUEST);
	assert_int_equal(off + used, len);
	body = rumor_http_parse_take_body(p, &blen);
	assert_string_equal(body, "d");
	free(body);
	assert_int_equal(rumor_http_parse_keep_alive(p), 0);
	rumor_http_parse_del(p);

	/* NULL auth refuses everything */
	p = rumor_http_parse_new(&limits, NULL);
	st = rumor_http_parse_feed(p, two, len, &used);
	assert_int_equal(st, RUMOR_HTTP_PARSE_ERROR);
	const char *reason;
	assert_int_equal(rumor_http_parse_error(p, &reason), 401);
	assert_non_null(reason);
	/* errors are final */
	assert_int_equal(rumor_http_parse_feed(p, "x", 1, &used), RUMOR_HTTP_PARSE_ERROR);
	rumor_http_parse_del(p);
}

/* ---- JSON limits while the body arrives ---- */

/* A JSON-RPC request whose params are `zeros` zeros: 53 bytes of head, then
 * "0," each (the k-th zero ends at byte 2k+52), then "]}". */
static char *tiny_values(size_t zeros, size_t *len)
{
	static const char head[] = "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getinfo\",\"params\":[";
	*len = sizeof(head) - 1 + 2 * zeros + 1;
	char *text = malloc(*len + 1);
	memcpy(text, head, sizeof(head) - 1);
	for (size_t i = 0; i < zeros; i++)
		memcpy(text + sizeof(head) - 1 + 2 * i, "0,", 2);
	memcpy(text + *len - 2, "]}", 3);
	return text;
}

static void m_echo(struct rumor_jsonrpc_call *call, json_t *params, void *ctx)
{
	rumor_jsonrpc_reply(call, json_incref(params));
}

static const struct rumor_jsonrpc_method echo_methods[] = {
	{"echo", m_echo, NULL, "echo"},
	{"getinfo", m_echo, NULL, "getinfo"},
};

static char *answer;
static size_t answer_len;

static void on_answer(void *arg, char *body, size_t len)
{
	answer = body;
	answer_len = len;
}

/* What rumor_jsonrpc_handle answers for the whole body (malloc'd). */
static char *whole_answer(const struct rumor_json_limits *lim, const char *body, size_t len)
{
	struct rumor_jsonrpc_server server = {
		.methods = echo_methods,
		.n_methods = 2,
		.json_limits = lim,
	};
	answer = NULL;
	assert_null(rumor_jsonrpc_handle(&server, body, len, on_answer, NULL));
	assert_non_null(answer);
	return answer;
}

/* 32 MiB of tiny values: refused in the read that crosses the value limit,
 * with the JSON-RPC error the whole body gets from rumor_jsonrpc_handle,
 * byte for byte, and "Connection: close"; the connection closes with the
 * body mostly unread, and the handler never sees it. */
static void test_json_refused(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.json.max_values = 1000;
	start(&limits);
	size_t body_len;
	char *body = tiny_values((32u << 20) / 2 - 64, &body_len);
	char head[512];
	int head_len = snprintf(head, sizeof(head),
				"POST / HTTP/1.1\r\nHost: x\r\n" AUTH_HEADER
				"Content-Length: %zu\r\n\r\n",
				body_len);
	int fd = client_connect();
	client_send(fd, head, (size_t)head_len);
	size_t sent = client_send(fd, body, body_len);
	struct response r;
	assert_true(client_read(fd, &r));
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.head, "Content-Type: application/json\r\n"));
	assert_non_null(strstr(r.head, "Connection: close\r\n"));
	assert_string_equal(r.body, "{\"jsonrpc\":\"2.0\",\"error\":{\"code\":-32600,\"message\":"
				    "\"invalid request: more than 1000 JSON values (limit "
				    "reached at byte 2044)\"},\"id\":null}\n");
	char *whole = whole_answer(&limits.json, body, body_len);
	assert_int_equal(r.body_len, answer_len);
	assert_memory_equal(r.body, whole, answer_len);
	free(whole);
	assert_true(client_sees_close(fd));
	client_close(fd);
	print_message("sent %zu of %zu body bytes before the server closed\n", sent, body_len);
	assert_true(sent < body_len / 2);
	assert_int_equal(fx->handled, 0);
	struct rumor_http_stats st = stats();
	assert_int_equal(st.json_refused, 1);
	assert_int_equal(st.requests, 1);
	assert_still_serving();

	/* a body past no limit, as long: served as before (not refused on
	 * the way), and echoed whole */
	fx->handled = 0;
	free(body);
	body = tiny_values(900, &body_len);
	fd = client_connect();
	head_len = snprintf(head, sizeof(head),
			    "POST / HTTP/1.1\r\nHost: x\r\n" AUTH_HEADER "Content-Length: %zu\r\n\r\n",
			    body_len);
	client_send(fd, head, (size_t)head_len);
	for (size_t off = 0; off < body_len; off += 100) { /* in pieces */
		client_send(fd, body + off, body_len - off < 100 ? body_len - off : 100);
		pump();
	}
	assert_true(client_read(fd, &r));
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, body_len);
	assert_memory_equal(r.body, body, body_len);
	assert_non_null(strstr(r.head, "Connection: keep-alive\r\n"));
	client_close(fd);
	free(body);
}

/* Feeds request[0..len) to a fresh parser in pieces cut at cuts[] (the
 * last is len).  Returns the answer a server gives: the handler's
 * (rumor_jsonrpc_handle on the body) after REQUEST, or the refusal's. */
static char *answer_in_pieces(const struct rumor_http_limits *limits,
			      const struct rumor_auth *auth, const char *request, size_t len,
			      const size_t *cuts, size_t n_cuts, int *refused)
{
	struct rumor_http_parse *p = rumor_http_parse_new(limits, auth);
	size_t off = 0;
	enum rumor_http_parse_state st = RUMOR_HTTP_PARSE_MORE;
	for (size_t i = 0; i < n_cuts && st == RUMOR_HTTP_PARSE_MORE; i++) {
		size_t used;
		st = rumor_http_parse_feed(p, request + off, cuts[i] - off, &used);
		off += used;
	}
	char *out = NULL;
	size_t out_len;
	*refused = st == RUMOR_HTTP_PARSE_REFUSED;
	switch (st) {
	case RUMOR_HTTP_PARSE_REQUEST: {
		size_t blen;
		char *body = rumor_http_parse_take_body(p, &blen);
		out = whole_answer(&limits->json, body, blen);
		free(body);
		break;
	}
	case RUMOR_HTTP_PARSE_REFUSED: {
		/* every body byte received was taken: the body started
		 * `received` bytes before where reading stopped */
		size_t received;
		uint64_t expected;
		rumor_http_parse_body_progress(p, &received, &expected);
		assert_int_equal(expected, strlen(strstr(request, "\r\n\r\n") + 4));
		assert_int_equal(off - received, (size_t)(strstr(request, "\r\n\r\n") + 4 - request));
		out = rumor_jsonrpc_refusal(rumor_http_parse_refusal(p), &out_len);
		assert_int_equal(rumor_http_parse_feed(p, "x", 1, &out_len), RUMOR_HTTP_PARSE_REFUSED);
		break;
	}
	case RUMOR_HTTP_PARSE_MORE:
	case RUMOR_HTTP_PARSE_ERROR:
		fail_msg("state %d", st);
	}
	rumor_http_parse_del(p);
	return out;
}

/* The same answer however the request is cut: a valid request cut once at
 * every byte and fed a byte at a time; requests past a limit likewise
 * (refused on the way, or by the full parse when the limit is crossed in
 * the last piece: the same words). */
static void test_json_every_cut(void **state)
{
	struct rumor_http_limits limits;
	rumor_http_limits_default(&limits);
	limits.json.max_values = 12;
	limits.json.max_depth = 4; /* max_root_items stays the JSON-RPC server's */
	struct rumor_auth auth;
	rumor_auth_init(&auth);
	assert_null(rumor_auth_add_rpcauth(&auth, ALICE));
	static const char *const bodies[] = {
		"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":[1,\"a,b]\",{\"k\":[2,3]}]}",
		"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":[1,2,3,4,5,6,7,8,9]}",
		"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":[[[[1]]]]}",
		"[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"echo\"},{\"jsonrpc\":\"2.0\",\"id\":2,"
		"\"method\":\"echo\"},{\"jsonrpc\":\"2.0\",\"id\":3,\"method\":\"echo\"}]",
		"{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"echo\",\"params\":[1,2,,3,4,5,6,7,8,9]}",
	};
	static char request[1024];
	static size_t cuts[1024];
	for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
		size_t len = (size_t)snprintf(request, sizeof(request),
					      "POST / HTTP/1.1\r\n" AUTH_HEADER
					      "Content-Length: %zu\r\n\r\n%s",
					      strlen(bodies[b]), bodies[b]);
		size_t body_at = len - strlen(bodies[b]);
		int refused;
		char *expected = whole_answer(&limits.json, bodies[b], strlen(bodies[b]));
		size_t refusals = 0;
		for (size_t c = 0; c <= len; c++) {
			cuts[0] = c;
			cuts[1] = len;
			char *got = answer_in_pieces(&limits, &auth, request, len, cuts, 2, &refused);
			assert_string_equal(got, expected);
			refusals += (size_t)refused;
			free(got);
		}
		for (size_t c = 0; c < len; c++)
			cuts[c] = c + 1;
		char *got = answer_in_pieces(&limits, &auth, request, len, cuts, len, &refused);
		assert_string_equal(got, expected);
		free(got);
		print_message("body %zu: %s; refused on the way %s at %zu of %zu cuts\n", b,
			      expected, refused ? "(bytewise too)" : "", refusals, len + 1);
		/* bodies 1-3 are past a limit before their end: refused on the
		 * way when a piece before the last holds the limit's byte (and
		 * the , ] or } after it) */
		if (b >= 1 && b <= 3)
			assert_true(refused && refusals >= 1 && body_at > 0);
		else
			assert_int_equal(refusals, 0);
		free(expected);
	}
}

static void test_bind_errors(void **state)
{
	uv_loop_t loop;
	struct rumor_http_server *s;
	struct rumor_auth auth;
	rumor_auth_init(&auth);
	assert_int_equal(uv_loop_init(&loop), 0);
	assert_int_equal(rumor_http_server_new(&s, &loop, "localhost", 0, NULL, &auth, handler,
					       NULL),
			 UV_EINVAL);
	assert_int_equal(rumor_http_server_new(&s, &loop, "::1", 0, NULL, &auth, handler, NULL),
			 0);
	int port = rumor_http_server_port(s);
	struct rumor_http_server *s2;
	int err = rumor_http_server_new(&s2, &loop, "::1", port, NULL, &auth, handler, NULL);
	assert_int_equal(err, UV_EADDRINUSE);
	rumor_http_server_close(s, NULL, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void test_split_hostport(void **state)
{
	char host[64];
	int port = 0;
	assert_int_equal(rumor_http_split_hostport("127.0.0.1:8632", host, sizeof(host), &port, 1), 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 8632);
	assert_int_equal(rumor_http_split_hostport("[::1]:18632", host, sizeof(host), &port, 1), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 18632);
	assert_int_equal(rumor_http_split_hostport("[::1]", host, sizeof(host), &port, 7), 0);
	assert_int_equal(port, 7);
	assert_int_equal(rumor_http_split_hostport("example.org", host, sizeof(host), &port, 9), 0);
	assert_string_equal(host, "example.org");
	assert_int_equal(port, 9);
	static const char *const bad[] = {"", ":80", "h:", "h:0", "h:65536", "h:8x", "::1:80",
					  "[::1", "[::1]x", "[]:80", "h:123456"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(rumor_http_split_hostport(bad[i], host, sizeof(host), &port, 1),
				 -EINVAL);
	assert_int_equal(rumor_http_split_hostport("averyveryverylonghostname:1", host, 8, &port, 1),
			 -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_keep_alive, teardown),
		cmocka_unit_test_teardown(test_pipelined, teardown),
		cmocka_unit_test_teardown(test_pipelined_while_pending, teardown),
		cmocka_unit_test_teardown(test_http10_closes, teardown),
		cmocka_unit_test_teardown(test_auth_required, teardown),
		cmocka_unit_test_teardown(test_method_and_path, teardown),
		cmocka_unit_test_teardown(test_not_found, teardown),
		cmocka_unit_test_teardown(test_garbage, teardown),
		cmocka_unit_test_teardown(test_huge_header, teardown),
		cmocka_unit_test_teardown(test_huge_body, teardown),
		cmocka_unit_test_teardown(test_expect_continue, teardown),
		cmocka_unit_test_teardown(test_max_clients, teardown),
		cmocka_unit_test_teardown(test_accepts_per_turn, teardown),
		cmocka_unit_test_teardown(test_evicts_unauthenticated, teardown),
		cmocka_unit_test_teardown(test_header_deadline, teardown),
		cmocka_unit_test_teardown(test_body_incomplete, teardown),
		cmocka_unit_test_teardown(test_auth_failure_delayed, teardown),
		cmocka_unit_test_teardown(test_idle_timeout, teardown),
		cmocka_unit_test_teardown(test_unread_response_times_out, teardown),
		cmocka_unit_test_teardown(test_client_gone_while_pending, teardown),
		cmocka_unit_test_teardown(test_close_with_pending, teardown),
		cmocka_unit_test(test_parser_direct),
		cmocka_unit_test_teardown(test_json_refused, teardown),
		cmocka_unit_test(test_json_every_cut),
		cmocka_unit_test(test_bind_errors),
		cmocka_unit_test(test_split_hostport),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
