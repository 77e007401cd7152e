/*
 * src/metrics_http.c: see metrics_http.h.
 *
 * A connection:
 *
 *   accepted (timer armed) --read--> http_parser --headers complete-->
 *   answer written --write done--> closed
 *   (any error, a head over the limit, the timer, EOF: closed)
 *
 * The listener counts its open handles (live); when close was asked and
 * the count reaches zero, the listener is freed and done runs.
 */
#include "config.h"

#include "src/metrics_http.h"
#include "src/metrics_request.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mconn;

struct rumor_metrics_http {
	uv_loop_t *loop;
	uv_tcp_t listener;
	rumor_metrics_http_fn fn;
	void *ctx;
	struct mconn *conns;
	unsigned clients;
	size_t live; /* handles not yet closed (listener, 2 per connection) */
	int closing;
	void (*done)(void *arg);
	void *done_arg;
};

struct mconn {
	struct rumor_metrics_http *m;
	struct mconn *prev, *next;
	uv_tcp_t tcp;
	uv_timer_t timer;
	struct rumor_metrics_request req;
	int answered;
	int closing;
	uv_write_t write_req;
	char *out;
};

static void release(struct rumor_metrics_http *m)
{
	if (--m->live == 0 && m->closing) {
		void (*done)(void *) = m->done;
		void *arg = m->done_arg;
		free(m);
		if (done)
			done(arg);
	}
}

static void on_conn_handle_closed(uv_handle_t *h)
{
	struct mconn *c = h->data;
	struct rumor_metrics_http *m = c->m;
	if (h == (uv_handle_t *)&c->tcp)
		c->tcp.data = NULL;
	else
		c->timer.data = NULL;
	if (!c->tcp.data && !c->timer.data) {
		free(c->out);
		free(c);
	}
	release(m);
}

static void conn_close(struct mconn *c)
{
	if (c->closing)
		return;
	c->closing = 1;
	struct rumor_metrics_http *m = c->m;
	if (c->prev)
		c->prev->next = c->next;
	else
		m->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	m->clients--;
	uv_close((uv_handle_t *)&c->tcp, on_conn_handle_closed);
	uv_close((uv_handle_t *)&c->timer, on_conn_handle_closed);
}

static void on_written(uv_write_t *req, int status)
{
	struct mconn *c = req->data;
	(void)status;
	conn_close(c);
}

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Error";
	}
}

/* Sends the answer and closes after it.  body is taken. */
static void respond(struct mconn *c, int status, const char *content_type, char *body,
		    size_t len, int head_only)
{
	if (c->answered || c->closing) {
		free(body);
		return;
	}
	c->answered = 1;
	uv_read_stop((uv_stream_t *)&c->tcp);
	char head[512];
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
			 "%sConnection: close\r\n\r\n",
			 status, status_text(status), content_type ? content_type : "text/plain",
			 len, status == 405 ? "Allow: GET, HEAD\r\n" : "");
	size_t total = (size_t)n + (head_only ? 0 : len);
	c->out = malloc(total ? total : 1);
	if (!c->out) {
		free(body);
		conn_close(c);
		return;
	}
	memcpy(c->out, head, (size_t)n);
	if (!head_only && len)
		memcpy(c->out + n, body, len);
	free(body);
	uv_buf_t buf = uv_buf_init(c->out, (unsigned)total);
	c->write_req.data = c;
	if (uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0)
		conn_close(c);
}

static void respond_text(struct mconn *c, int status, const char *text)
{
	char *b = strdup(text);
	respond(c, status, "text/plain; charset=utf-8", b, b ? strlen(b) : 0, 0);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	static char slab[4096]; /* loop thread only; each read is parsed at once */
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(slab, sizeof(slab));
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct mconn *c = s->data;
	if (nread < 0) {
		conn_close(c);
		return;
	}
	if (nread == 0 || c->answered)
		return;
	struct rumor_metrics_http *m = c->m;
	switch (rumor_metrics_request_feed(&c->req, buf->base, (size_t)nread)) {
	case RUMOR_METRICS_REQUEST_MORE:
		return;
	case RUMOR_METRICS_REQUEST_REFUSE:
		respond_text(c, c->req.status, c->req.reason);
		return;
	case RUMOR_METRICS_REQUEST_GET: {
		int status = 500;
		const char *type = "text/plain; charset=utf-8";
		char *body = NULL;
		size_t len = 0;
		m->fn(m->ctx, c->req.path, &status, &type, &body, &len);
		respond(c, status, type, body, len, c->req.head_only);
		return;
	}
	}
}

static void on_timeout(uv_timer_t *t)
{
	conn_close(t->data);
}

static void on_connection(uv_stream_t *server, int status)
{
	struct rumor_metrics_http *m = server->data;
	if (status < 0 || m->closing)
		return;
	struct mconn *c = calloc(1, sizeof(*c));
	if (!c)
		return; /* the connection waits in the backlog; the next accept takes it */
	c->m = m;
	uv_tcp_init(m->loop, &c->tcp);
	uv_timer_init(m->loop, &c->timer);
	c->tcp.data = c->timer.data = c;
	uv_unref((uv_handle_t *)&c->tcp);
	uv_unref((uv_handle_t *)&c->timer);
	m->live += 2;
	m->clients++;
	c->next = m->conns;
	if (m->conns)
		m->conns->prev = c;
	m->conns = c;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0 ||
	    m->clients > RUMOR_METRICS_HTTP_CLIENTS) {
		conn_close(c);
		return;
	}
	rumor_metrics_request_init(&c->req);
	uv_timer_start(&c->timer, on_timeout, RUMOR_METRICS_HTTP_TIMEOUT_MS, 0);
	if (uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, on_read) != 0)
		conn_close(c);
}

static void on_listener_closed(uv_handle_t *h)
{
	release(h->data);
}

int rumor_metrics_http_new(struct rumor_metrics_http **out, uv_loop_t *loop, const char *host,
			   int port, rumor_metrics_http_fn fn, void *ctx)
{
	*out = NULL;
	struct sockaddr_storage addr;
	int rc = strchr(host, ':') ? uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr)
				   : uv_ip4_addr(host, port, (struct sockaddr_in *)&addr);
	if (rc != 0)
		return rc;
	struct rumor_metrics_http *m = calloc(1, sizeof(*m));
	if (!m)
		return UV_ENOMEM;
	m->loop = loop;
	m->fn = fn;
	m->ctx = ctx;
	uv_tcp_init(loop, &m->listener);
	m->listener.data = m;
	m->live = 1;
	uv_unref((uv_handle_t *)&m->listener);
	rc = uv_tcp_bind(&m->listener, (const struct sockaddr *)&addr, 0);
	if (rc == 0)
		rc = uv_listen((uv_stream_t *)&m->listener, 64, on_connection);
	if (rc != 0) {
		m->closing = 1;
		uv_close((uv_handle_t *)&m->listener, on_listener_closed);
		return rc;
	}
	*out = m;
	return 0;
}

int rumor_metrics_http_port(const struct rumor_metrics_http *m)
{
	struct sockaddr_storage addr;
	int len = sizeof(addr);
	if (uv_tcp_getsockname(&m->listener, (struct sockaddr *)&addr, &len) != 0)
		return 0;
	if (addr.ss_family == AF_INET6)
		return ntohs(((struct sockaddr_in6 *)&addr)->sin6_port);
	return ntohs(((struct sockaddr_in *)&addr)->sin_port);
}

void rumor_metrics_http_close(struct rumor_metrics_http *m, void (*done)(void *arg), void *arg)
{
	m->closing = 1;
	m->done = done;
	m->done_arg = arg;
	while (m->conns)
		conn_close(m->conns);
	uv_close((uv_handle_t *)&m->listener, on_listener_closed);
}
