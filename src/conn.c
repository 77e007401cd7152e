/*
 * src/conn.c: see io.h.  The libuv shell of one peer connection: a uv_tcp_t,
 * a uv_timer_t (the session's deadline, then the linger bound while
 * closing) and the session.  Nothing here decides policy.
 *
 * Close sequence (begin_close): stop reading, report closed, then either
 * flush (write what the session still has, uv_shutdown once it is all
 * handed over, uv_close on shutdown or when the linger timer fires) or
 * uv_close at once.  Pending writes complete with UV_ECANCELED before the
 * close callbacks, so every write buffer is freed before released runs.
 */
#include "config.h"

#include "src/conn.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct io_write {
	uv_write_t req;
	struct rumor_io_conn *conn;
	size_t len;
	uint8_t bytes[];
};

static void flush_output(struct rumor_io_conn *c);
static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void begin_close(struct rumor_io_conn *c, const char *reason, uint16_t code, int remote,
			int flush);

/* ---- addresses ------------------------------------------------------- */

static void format_ip(const struct sockaddr *sa, char *out, size_t cap)
{
	out[0] = '\0';
	if (sa->sa_family == AF_INET)
		uv_ip4_name((const struct sockaddr_in *)sa, out, cap);
	else if (sa->sa_family == AF_INET6)
		uv_ip6_name((const struct sockaddr_in6 *)sa, out, cap);
}

void rumor_io_format_addr(const struct sockaddr *sa, char *out, size_t cap)
{
	char ip[48];
	format_ip(sa, ip, sizeof(ip));
	if (sa->sa_family == AF_INET)
		snprintf(out, cap, "%s:%u", ip,
			 (unsigned)ntohs(((const struct sockaddr_in *)sa)->sin_port));
	else if (sa->sa_family == AF_INET6)
		snprintf(out, cap, "[%s]:%u", ip,
			 (unsigned)ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	else
		snprintf(out, cap, "?");
}

const char *rumor_io_conn_addr(const struct rumor_io_conn *c)
{
	return c->peer_addr;
}

void rumor_io_conn_ip(const struct rumor_io_conn *c, char *out, size_t cap)
{
	format_ip((const struct sockaddr *)&c->peer_sockaddr, out, cap);
}

struct rumor_session *rumor_io_conn_session(struct rumor_io_conn *c)
{
	return c->session;
}

const struct rumor_session *rumor_io_conn_session_const(const struct rumor_io_conn *c)
{
	return c->session;
}

/* ---- closing --------------------------------------------------------- */

static void on_handle_closed(uv_handle_t *handle)
{
	struct rumor_io_conn *c = handle->data;
	assert(c->handles_open > 0);
	if (--c->handles_open > 0)
		return;
	assert(c->write_in_flight == 0 && c->in_callback == 0);
	if (c->session) {
		rumor_session_del(c->session);
		c->session = NULL;
	}
	c->handler->released(c); /* may free c */
}

static void close_handles(struct rumor_io_conn *c)
{
	c->closing = 1;
	if (!uv_is_closing((uv_handle_t *)&c->tcp))
		uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
	if (!uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_linger_timeout(uv_timer_t *timer)
{
	close_handles(timer->data);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
	(void)status; /* done or cancelled: either way the socket goes */
	close_handles(req->data);
}

/* While closing: once everything the session had is with libuv, shut the
 * write side down (libuv sends it after the queued writes). */
static void maybe_shutdown(struct rumor_io_conn *c)
{
	if (!c->closing || c->shutdown_sent || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	const uint8_t *data;
	if (c->session && rumor_session_output(c->session, &data) > 0)
		return; /* on_write flushes the rest */
	c->shutdown_sent = 1;
	c->shutdown_req.data = c;
	if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
		close_handles(c);
}

static void report_closed(struct rumor_io_conn *c, const char *reason, uint16_t code, int remote)
{
	if (c->closed_reported || !c->started)
		return;
	c->closed_reported = 1;
	c->in_callback++;
	c->handler->closed(c, reason, code, remote);
	c->in_callback--;
}

static void begin_close(struct rumor_io_conn *c, const char *reason, uint16_t code, int remote,
			int flush)
{
	if (c->closing)
		return;
	c->closing = 1;
	uv_read_stop((uv_stream_t *)&c->tcp);
	uv_timer_stop(&c->timer);
	report_closed(c, reason, code, remote);
	if (!flush || !c->started) {
		close_handles(c);
		return;
	}
	uv_timer_start(&c->timer, on_linger_timeout, c->linger_ms, 0);
	flush_output(c);
	maybe_shutdown(c);
}

void rumor_io_conn_close(struct rumor_io_conn *c, enum rumor_disconnect_code code,
			 const char *reason)
{
	if (c->closing)
		return;
	if (c->session)
		rumor_session_close(c->session, code, reason);
	begin_close(c, reason, (uint16_t)code, 0, 1);
}

void rumor_io_conn_abort(struct rumor_io_conn *c, const char *reason)
{
	if (c->closing) {
		close_handles(c);
		return;
	}
	begin_close(c, reason, 0, 0, 0);
}

/* ---- writing --------------------------------------------------------- */

static void on_write(uv_write_t *req, int status)
{
	struct io_write *w = req->data;
	struct rumor_io_conn *c = w->conn;
	assert(c->write_in_flight >= w->len);
	c->write_in_flight -= w->len;
	free(w);
	if (status < 0) {
		if (c->closing)
			close_handles(c);
		else
			begin_close(c, uv_strerror(status), 0, 0, 0);
		return;
	}
	flush_output(c);
	maybe_shutdown(c);
	if (!c->closing && c->handler->output) {
		c->in_callback++;
		c->handler->output(c, rumor_io_conn_output_queued(c));
		c->in_callback--;
	}
}

size_t rumor_io_conn_output_queued(const struct rumor_io_conn *c)
{
	size_t n = c->write_in_flight;
	if (c->session) {
		const uint8_t *data;
		/* rumor_session_output only reads the queue */
		n += rumor_session_output((struct rumor_session *)c->session, &data);
	}
	return n;
}

void rumor_io_conn_read_pause(struct rumor_io_conn *c, int pause)
{
	if (c->closing || !c->started || c->read_paused == !!pause)
		return;
	int rc = pause ? uv_read_stop((uv_stream_t *)&c->tcp)
		       : uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rc != 0) {
		rumor_io_conn_abort(c, uv_strerror(rc));
		return;
	}
	c->read_paused = !!pause;
}

/* Hands the session's output to libuv, at most RUMOR_IO_WRITE_MAX bytes in
 * flight; the rest waits in the session for on_write. */
static void flush_output(struct rumor_io_conn *c)
{
	if (!c->session || c->shutdown_sent || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	while (c->write_in_flight < RUMOR_IO_WRITE_MAX) {
		const uint8_t *data;
		size_t n = rumor_session_output(c->session, &data);
		if (n == 0)
			return;
		size_t room = RUMOR_IO_WRITE_MAX - c->write_in_flight;
		if (n > room)
			n = room;
		struct io_write *w = malloc(sizeof(*w) + n);
		if (!w) {
			rumor_io_conn_abort(c, "out of memory writing to peer");
			return;
		}
		memcpy(w->bytes, data, n);
		w->conn = c;
		w->len = n;
		w->req.data = w;
		uv_buf_t buf = uv_buf_init((char *)w->bytes, (unsigned)n);
		int rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_write);
		if (rc != 0) {
			free(w);
			rumor_io_conn_abort(c, uv_strerror(rc));
			return;
		}
		c->write_in_flight += n;
		rumor_session_output_consumed(c->session, n);
	}
}

/* ---- session events, timer, reading ---------------------------------- */

static void on_timer(uv_timer_t *timer);

static void arm_timer(struct rumor_io_conn *c)
{
	if (c->closing)
		return;
	uint64_t due = rumor_session_expiry(c->session);
	if (due == UINT64_MAX) {
		uv_timer_stop(&c->timer);
		return;
	}
	uint64_t now = rumor_io_now_us();
	uint64_t delay_ms = due > now ? (due - now + 999) / 1000 : 0;
	uv_timer_start(&c->timer, on_timer, delay_ms, 0);
}

static void dispatch(struct rumor_io_conn *c, const struct rumor_session_event *ev)
{
	switch (ev->type) {
	case RUMOR_SESSION_EV_NONE:
		return;
	case RUMOR_SESSION_EV_READY:
		c->in_callback++;
		c->handler->ready(c);
		c->in_callback--;
		return;
	case RUMOR_SESSION_EV_MESSAGE:
		c->in_callback++;
		c->handler->message(c, ev->msg);
		c->in_callback--;
		return;
	case RUMOR_SESSION_EV_CLOSED:
		begin_close(c, ev->reason ? ev->reason : "session closed", ev->code,
			    ev->remote_initiated, 1);
		return;
	}
}

static void after_activity(struct rumor_io_conn *c)
{
	if (c->closing)
		return;
	flush_output(c);
	arm_timer(c);
}

static void on_timer(uv_timer_t *timer)
{
	struct rumor_io_conn *c = timer->data;
	struct rumor_session_event ev;
	memset(&ev, 0, sizeof(ev));
	rumor_session_handle_expiry(c->session, rumor_io_now_us(), &ev);
	dispatch(c, &ev);
	after_activity(c);
}

static void feed(struct rumor_io_conn *c, const uint8_t *data, size_t len)
{
	uint64_t now = rumor_io_now_us();
	size_t off = 0;
	while (!c->closing) {
		struct rumor_session_event ev;
		memset(&ev, 0, sizeof(ev));
		size_t used = 0;
		rumor_session_recv(c->session, data + off, len - off, now, &used, &ev);
		assert(used <= len - off);
		off += used;
		dispatch(c, &ev);
		if (ev.type == RUMOR_SESSION_EV_NONE) {
			if (off == len)
				break;
			if (used == 0) { /* defensive: a session that makes no progress */
				rumor_io_conn_abort(c, "internal error: session stalled on input");
				break;
			}
		}
	}
	after_activity(c);
}

static void on_alloc(uv_handle_t *handle, size_t suggested, uv_buf_t *buf)
{
	(void)suggested;
	struct rumor_io_conn *c = handle->data;
	*buf = uv_buf_init((char *)c->read_buf, sizeof(c->read_buf));
}

static void on_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
	(void)buf;
	struct rumor_io_conn *c = stream->data;
	if (c->closing || nread == 0)
		return;
	if (nread < 0) {
		begin_close(c, nread == UV_EOF ? "connection closed by peer" : uv_strerror((int)nread),
			    0, 1, 0);
		return;
	}
	feed(c, c->read_buf, (size_t)nread);
}

/* ---- setting up ------------------------------------------------------ */

int rumor_io_conn_init(struct rumor_io_conn *c, uv_loop_t *loop,
		       const struct rumor_io_handler *handler, void *data)
{
	memset(c, 0, offsetof(struct rumor_io_conn, read_buf));
	c->data = data;
	c->loop = loop;
	c->handler = handler;
	c->linger_ms = RUMOR_IO_LINGER_MS;
	int rc = uv_tcp_init(loop, &c->tcp);
	if (rc != 0)
		return rc;
	rc = uv_timer_init(loop, &c->timer);
	assert(rc == 0); /* libuv's timer init cannot fail */
	(void)rc;
	c->tcp.data = c;
	c->timer.data = c;
	c->handles_open = 2;
	return 0;
}

int rumor_io_conn_accept(struct rumor_io_conn *c, uv_stream_t *server)
{
	int rc = uv_accept(server, (uv_stream_t *)&c->tcp);
	if (rc == 0) {
		int len = (int)sizeof(c->peer_sockaddr);
		rc = uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&c->peer_sockaddr, &len);
	}
	if (rc != 0) {
		close_handles(c);
		return rc;
	}
	rumor_io_format_addr((struct sockaddr *)&c->peer_sockaddr, c->peer_addr,
			     sizeof(c->peer_addr));
	uv_tcp_nodelay(&c->tcp, 1);
	return 0;
}

static void on_connect(uv_connect_t *req, int status)
{
	struct rumor_io_conn *c = req->data;
	if (c->closing)
		return; /* closed by the owner meanwhile (status UV_ECANCELED) */
	if (status < 0) {
		c->closing = 1;
		c->in_callback++;
		c->handler->connected(c, status);
		c->in_callback--;
		close_handles(c);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	c->in_callback++;
	c->handler->connected(c, 0);
	c->in_callback--;
}

int rumor_io_conn_connect(struct rumor_io_conn *c, const struct sockaddr *addr)
{
	size_t len = addr->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
						 : sizeof(struct sockaddr_in);
	memcpy(&c->peer_sockaddr, addr, len);
	rumor_io_format_addr(addr, c->peer_addr, sizeof(c->peer_addr));
	c->connect_req.data = c;
	int rc = uv_tcp_connect(&c->connect_req, &c->tcp, addr, on_connect);
	if (rc != 0)
		close_handles(c);
	return rc;
}

int rumor_io_conn_start(struct rumor_io_conn *c, const struct rumor_session_config *cfg)
{
	assert(!c->session && !c->closing);
	int rc = rumor_session_new(&c->session, cfg, rumor_io_now_us());
	if (rc != 0) {
		c->session = NULL;
		close_handles(c);
		return rc == -ENOMEM ? UV_ENOMEM : UV_EINVAL;
	}
	rc = uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	if (rc != 0) {
		close_handles(c);
		return rc;
	}
	c->started = 1;
	after_activity(c); /* an initiator's first handshake message */
	return 0;
}

int rumor_io_conn_send(struct rumor_io_conn *c, const struct rumor_msg *msg)
{
	if (c->closing || !c->session)
		return UV_EPROTO;
	int rc = rumor_session_send(c->session, msg, rumor_io_now_us());
	if (rc == -ENOBUFS) {
		const char *why = rumor_session_close_reason(c->session);
		rumor_io_conn_abort(c, why ? why : "output queue over its limit");
		return UV_ENOBUFS;
	}
	if (rc != 0)
		return rc == -EINVAL ? UV_EINVAL : UV_EPROTO;
	after_activity(c);
	return 0;
}
