/*
 * src/conn.h: the libuv io shell of one peer connection.
 *
 * It moves bytes between a TCP socket and a sans-IO struct rumor_session
 * (net/session.h) and arms a timer at the session's next deadline.  It has
 * no policy: who may connect and logging belong to the owner (src/peers.c),
 * duplicates and redialing to the node core (net/core.h); the owner hears
 * about everything through a struct rumor_io_handler.  (It was net/io.c:
 * it moved here so that net/ is entirely sans-IO.)
 *
 *   rumor_io_conn_init -> rumor_io_conn_accept (inbound, socket ready)
 *                      or rumor_io_conn_connect (outbound; handler.connected)
 *   rumor_io_conn_start(session config) -> READING
 *   READING --session READY--> handler.ready
 *           --session MESSAGE--> handler.message
 *           --session CLOSED, socket error or EOF, rumor_io_conn_close-->
 *   CLOSING (handler.closed once; queued output flushed best effort, then
 *            uv_shutdown, bounded by linger_ms) --> handles closed -->
 *   handler.released: the owner may now free the memory.
 *
 * Each read is fed to the session until it is all consumed and no event is
 * left; after every recv or timer the session's output is written.  At most
 * RUMOR_IO_WRITE_MAX bytes are handed to libuv per connection (each write
 * is a copy); the rest stays queued in the session, which enforces its own
 * hard limit and closes a peer that stops reading.
 *
 * Ownership: struct rumor_io_conn is caller-owned memory (embed it or
 * allocate it); it must stay valid until handler.released runs, and may be
 * freed from that callback (the last time io touches it).  The session is
 * owned by the connection and deleted just before released.  Handler
 * callbacks may call rumor_io_conn_close() and rumor_io_conn_send() on the
 * same connection; they must not free it.
 *
 * Time: now_us is uv_hrtime() / 1000 throughout (rumor_io_now_us()).
 *
 * Errors: functions return 0 or a negative libuv error code (UV_E*).
 * After an error from rumor_io_conn_accept/_connect/_start the connection
 * is closing: handler.released will still run (handler.closed too, with
 * the reason).
 */
#ifndef RUMOR_SRC_CONN_H
#define RUMOR_SRC_CONN_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/session.h"

/* Bytes one connection may have in libuv's write queue at once. */
#define RUMOR_IO_WRITE_MAX (256u * 1024)
/* Read buffer per connection. */
#define RUMOR_IO_READ_SIZE (64u * 1024)
/* How long a closing connection may take to flush (default). */
#define RUMOR_IO_LINGER_MS 500u
/* "IP:PORT" or "[IPv6]:PORT" */
#define RUMOR_IO_ADDR_MAX 64

struct rumor_io_conn;

struct rumor_io_handler {
	/* Outbound: the TCP connection is up (status 0; call rumor_io_conn_start)
	 * or failed (status < 0: the connection is closing). */
	void (*connected)(struct rumor_io_conn *c, int status);
	/* The session reached READY. */
	void (*ready)(struct rumor_io_conn *c);
	/* A message for the node (borrowed until the callback returns). */
	void (*message)(struct rumor_io_conn *c, const struct rumor_msg *msg);
	/* The connection is over (runs once, for connections whose session
	 * was started); reason is borrowed for the call; code: the disconnect
	 * code sent or received (0: none, e.g. handshake failure, socket error);
	 * remote: the peer said disconnect or hung up. */
	void (*closed)(struct rumor_io_conn *c, const char *reason, uint16_t code, int remote);
	/* Every handle is closed; the memory may be freed now. */
	void (*released)(struct rumor_io_conn *c);
	/* A write completed: queued is the output still waiting (in the
	 * session and in libuv's write queue).  May be NULL. */
	void (*output)(struct rumor_io_conn *c, size_t queued);
};

/* Treat the fields as private, except data. */
struct rumor_io_conn {
	void *data; /* for the owner */
	uv_loop_t *loop;
	const struct rumor_io_handler *handler;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_connect_t connect_req;
	uv_shutdown_t shutdown_req;
	struct rumor_session *session;
	char peer_addr[RUMOR_IO_ADDR_MAX];
	struct sockaddr_storage peer_sockaddr;
	size_t write_in_flight; /* bytes handed to uv_write, not yet done */
	unsigned linger_ms;
	int handles_open;
	int started;       /* session created and reading */
	int closing;
	int closed_reported;
	int shutdown_sent;
	int in_callback;   /* depth of handler calls (for assertions) */
	int read_paused;   /* rumor_io_conn_read_pause: not reading the socket */
	uint8_t read_buf[RUMOR_IO_READ_SIZE];
};

static inline uint64_t rumor_io_now_us(void)
{
	return uv_hrtime() / 1000;
}

/* Initialises the TCP handle and the timer.  Returns 0 or a UV error (then
 * nothing is open and released never runs). */
int rumor_io_conn_init(struct rumor_io_conn *c, uv_loop_t *loop,
		       const struct rumor_io_handler *handler, void *data);
/* Accepts the pending connection of server into c and reads the peer's
 * address (rumor_io_conn_addr).  Returns 0 or a UV error (c is closing). */
int rumor_io_conn_accept(struct rumor_io_conn *c, uv_stream_t *server);
/* Connects to addr; handler.connected reports the outcome.  Returns 0 or a
 * UV error (c is closing; connected does not run). */
int rumor_io_conn_connect(struct rumor_io_conn *c, const struct sockaddr *addr);
/* Creates the session (cfg is copied by the session; its pointers are
 * borrowed) and starts reading.  Returns 0 or a UV error (c is closing). */
int rumor_io_conn_start(struct rumor_io_conn *c, const struct rumor_session_config *cfg);
/* Queues a message (READY only).  Returns 0, UV_EPROTO when not ready or
 * closing, UV_EINVAL when it does not encode, UV_ENOBUFS when the peer's
 * output queue is over its limit (the connection then closes). */
int rumor_io_conn_send(struct rumor_io_conn *c, const struct rumor_msg *msg);
/* Stops (pause = 1) or restarts (0) reading the socket: the peer's bytes
 * wait in the kernel (TCP flow control slows the peer down).  Bytes of a
 * read already in hand are still fed to the session.  Timers (pings, idle
 * timeout) keep running.  No-op while closing. */
void rumor_io_conn_read_pause(struct rumor_io_conn *c, int pause);
/* Output waiting to be written: in the session and in libuv's queue. */
size_t rumor_io_conn_output_queued(const struct rumor_io_conn *c);
/* Closes: a READY session sends disconnect(code, reason) first, flushed
 * best effort within the linger time.  Idempotent. */
void rumor_io_conn_close(struct rumor_io_conn *c, enum rumor_disconnect_code code,
			 const char *reason);
/* Closes at once without flushing anything (limits, shutdown timeouts). */
void rumor_io_conn_abort(struct rumor_io_conn *c, const char *reason);

/* "IP:PORT" of the peer ("" before accept/connect). */
const char *rumor_io_conn_addr(const struct rumor_io_conn *c);
/* The IP alone, for per-address limits: writes into out (cap >= 48). */
void rumor_io_conn_ip(const struct rumor_io_conn *c, char *out, size_t cap);
/* The session (NULL before rumor_io_conn_start). */
struct rumor_session *rumor_io_conn_session(struct rumor_io_conn *c);
const struct rumor_session *rumor_io_conn_session_const(const struct rumor_io_conn *c);

/* "IP:PORT" / "[IP]:PORT" of a socket address into out (RUMOR_IO_ADDR_MAX). */
void rumor_io_format_addr(const struct sockaddr *sa, char *out, size_t cap);

#endif
