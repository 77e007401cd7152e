/*
 * test/functional/peer_attack.c: peer_tool's attack modes, for the
 * hostile-peer battery (test/functional/test_p2p_battery.py) and
 * contrib/bench/hostile.
 *
 * Every mode speaks the real protocol through net/session.c (the manual
 * initiator of peer_tool.c where a message must be forged past our own
 * encoder's caps) and prints what it did and what the node did, one fact
 * per line, so that the caller judges containment:
 *
 *   invflood      inv messages of --per-msg (1000) unique random tx ids,
 *                 --count (20000) ids in all, sent at once after the
 *                 handshake; getdata is counted, never answered.
 *   invbig        manual: one inv of --per-msg (50001) entries, past the
 *                 protocol's 50000 per message.
 *   payload       --item=HEX: announce it with inv and send it when asked
 *                 (or, with --unrequested, send it at once without inv).
 *   bigblock      --count (1) blocks at height 0 signed by our own key,
 *                 each naming --txs (131066, as many as fit in 4 MiB)
 *                 random transaction ids; --badsig flips the last
 *                 signature byte.  Announced with inv, sent when asked (one
 *                 at a time while our output queue is under 8 MiB); getdata
 *                 for their transactions is counted, never answered.
 *   getdataflood  --count (10) getdata messages of --per-msg (1000)
 *                 entries, all naming block --getdata=ID, then read and
 *                 drop everything the node sends (counted).
 *   slowreader    the same getdata, then never read for --seconds; then
 *                 read (and drop) for 3 s to see whether the node closed.
 *   connflood     --conns (200) connections, each sends half of handshake
 *                 message 1 and waits; one the node closes is opened again
 *                 (a flood), until --seconds.
 *   squat         --conns (64) connections, each a full handshake and hello
 *                 under its own random identity, then idle (pings
 *                 answered), until --seconds.  One refused before its
 *                 hello (a slot limit) tries again 200 ms later, until it
 *                 gets in; one that got in and was closed (evicted) stays
 *                 out.
 *
 * Source addresses: single-connection modes use --bind (default: the
 * kernel's choice).  connflood and squat spread their connections over
 * --addrs addresses (default: one per connection) in --netgroups /16s:
 * address a (0-based) is 127.(SOURCE + a % G).(j / 250).(1 + j % 250) with
 * j = a / G, SOURCE from --source (100).
 *
 * Output lines (the last one is the outcome of the first connection, for
 * the single-connection modes):
 *   closed by node: REASON   the node sent disconnect (REASON its text)
 *   closed by node: eof|reset  the node closed the TCP connection
 *   closed: REASON           our side gave up (our session's reason)
 *   held                     still connected at the end
 * Exit status: 0 the mode ran (judge by the lines; payload: the node
 * closed the connection), 2 payload only: the node still held it at the
 * end, 3 local I/O error, 4 the handshake before the attack failed,
 * 64 usage error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/hash.h"
#include "crypto/hex.h"
#include "crypto/item.h"
#include "crypto/sign.h"
#include "net/frame.h"
#include "net/message.h"
#include "net/session.h"
#include "test/functional/peer_tool.h"

#define BLOCK_QUEUE_BELOW (8u << 20) /* bigblock: queue the next block below this */
#define DRAIN_US 3000000u            /* slowreader: reading at the end */
#define TICK_MS 100
#define RETRY_US 200000u             /* squat: a refused squatter tries again */

struct conn {
	int fd;             /* -1 when not open */
	int connecting;     /* non-blocking connect under way */
	int ready;          /* hello exchanged */
	int over;           /* ended (by the node or by us) */
	int by_node;        /* the node ended it: disconnect, EOF, reset, refusal */
	int reading;        /* poll for input */
	int discard;        /* drop input unread */
	char reason[200];
	char addr[32];      /* source address, "" for the kernel's choice */
	struct rumor_session *s;
	uint8_t id_pub[32], id_secret[RUMOR_SECRET_SIZE], noise_static[32];
	uint64_t bytes_in;
	size_t raw_off;     /* connflood: bytes of the half message sent */
	int ever_ready;     /* squat: this slot's connection got in once */
	uint64_t retry_us;  /* squat: when to try again after a refusal */
};

struct swarm {
	struct tool *t;
	struct conn *c;
	uint32_t n;
	int raw;                 /* connflood: no session, half of message 1 */
	const uint8_t *raw_msg;
	size_t raw_len;
	int reconnect;           /* reopen what the node closed */
	int retry_unready;       /* squat: reopen what was closed before READY */
	int stop_reading_ready;  /* slowreader */
	int discard_ready;       /* getdataflood */
	uint64_t opened, ended_by_node, ended_before_ready, ready_total;
	void *state;
	void (*on_ready)(struct swarm *, struct conn *);
	void (*on_message)(struct swarm *, struct conn *, const struct rumor_msg *);
	void (*on_tick)(struct swarm *, struct conn *);
	int (*done)(struct swarm *);
};

/* ---- connections ---- */

static void source_address(const struct tool *t, uint32_t i, char *out, size_t cap)
{
	uint32_t n_addrs = t->addrs ? t->addrs : t->conns;
	uint32_t a = i % n_addrs;
	uint32_t g = a % t->netgroups, j = a / t->netgroups;

	snprintf(out, cap, "127.%u.%u.%u", t->source + g, j / 250, 1 + j % 250);
}

static void conn_end(struct swarm *sw, struct conn *c, int by_node, const char *reason)
{
	if (c->over)
		return;
	c->over = 1;
	c->by_node = by_node;
	snprintf(c->reason, sizeof(c->reason), "%s", reason ? reason : "?");
	c->retry_us = now_us() + RETRY_US;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	if (by_node) {
		sw->ended_by_node++;
		if (!c->ready)
			sw->ended_before_ready++;
	}
}

static int conn_open(struct swarm *sw, struct conn *c, uint32_t i)
{
	struct tool *t = sw->t;

	memset(c->reason, 0, sizeof(c->reason));
	c->over = c->by_node = c->ready = c->discard = 0;
	c->bytes_in = 0;
	c->raw_off = 0;
	c->reading = 1;
	if (c->s) {
		rumor_session_del(c->s);
		c->s = NULL;
	}
	if (sw->n > 1 || t->netgroups > 1 || t->addrs)
		source_address(t, i, c->addr, sizeof(c->addr));
	else
		snprintf(c->addr, sizeof(c->addr), "%s", t->bind_addr ? t->bind_addr : "");
	if (i == 0) { /* the identity main printed as local_id */
		memcpy(c->id_pub, t->id_pub, 32);
		memcpy(c->id_secret, t->id_secret, sizeof(c->id_secret));
		memcpy(c->noise_static, t->noise_static, 32);
	} else {
		rumor_sign_keypair_random(c->id_pub, c->id_secret);
		rumor_random(c->noise_static, sizeof(c->noise_static));
	}
	if (!sw->raw && session_new_with(t, c->id_secret, c->noise_static, &c->s) != 0)
		return -1;
	c->fd = open_socket(t, c->addr[0] ? c->addr : NULL, 1);
	if (c->fd < 0)
		return -1;
	c->connecting = 1;
	sw->opened++;
	return 0;
}

static void conn_event(struct swarm *sw, struct conn *c, const struct rumor_session_event *ev)
{
	switch (ev->type) {
	case RUMOR_SESSION_EV_NONE:
		break;
	case RUMOR_SESSION_EV_READY:
		c->ready = 1;
		c->ever_ready = 1;
		sw->ready_total++;
		if (sw->stop_reading_ready)
			c->reading = 0;
		if (sw->discard_ready)
			c->discard = 1;
		if (sw->on_ready)
			sw->on_ready(sw, c);
		break;
	case RUMOR_SESSION_EV_MESSAGE:
		if (sw->on_message)
			sw->on_message(sw, c, ev->msg);
		break;
	case RUMOR_SESSION_EV_CLOSED:
		conn_end(sw, c, ev->remote_initiated, ev->reason ? ev->reason : "(no reason)");
		break;
	}
}

static void conn_feed(struct swarm *sw, struct conn *c, const uint8_t *buf, size_t len)
{
	size_t off = 0;

	while (!c->over) {
		struct rumor_session_event ev = { .type = RUMOR_SESSION_EV_NONE };
		size_t used = 0;

		rumor_session_recv(c->s, buf + off, len - off, now_us(), &used, &ev);
		off += used;
		conn_event(sw, c, &ev);
		if (ev.type == RUMOR_SESSION_EV_NONE && (off == len || used == 0))
			return;
	}
}

static size_t conn_pending(const struct swarm *sw, struct conn *c)
{
	const uint8_t *data;

	if (sw->raw)
		return sw->raw_len - c->raw_off;
	return c->s ? rumor_session_output(c->s, &data) : 0;
}

/* Writes what the socket takes now. */
static void conn_flush(struct swarm *sw, struct conn *c)
{
	for (;;) {
		const uint8_t *data;
		size_t n;
		ssize_t w;

		if (c->over || c->connecting)
			return;
		if (sw->raw) {
			data = sw->raw_msg + c->raw_off;
			n = sw->raw_len - c->raw_off;
		} else {
			n = rumor_session_output(c->s, &data);
		}
		if (n == 0)
			return;
		w = send(c->fd, data, n, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0) {
			if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
				return;
			conn_end(sw, c, errno == EPIPE || errno == ECONNRESET,
				 errno == EPIPE || errno == ECONNRESET ? "reset" : strerror(errno));
			return;
		}
		if (sw->raw)
			c->raw_off += (size_t)w;
		else
			rumor_session_output_consumed(c->s, (size_t)w);
	}
}

static void conn_read(struct swarm *sw, struct conn *c)
{
	static uint8_t buf[1 << 16];
	int rounds;

	for (rounds = 0; rounds < 64 && !c->over; rounds++) {
		ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);

		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
			return;
		if (n == 0 || (n < 0 && errno == ECONNRESET)) {
			conn_end(sw, c, 1, n == 0 ? "eof" : "reset");
			return;
		}
		if (n < 0) {
			conn_end(sw, c, 0, strerror(errno));
			return;
		}
		c->bytes_in += (uint64_t)n;
		if (!sw->raw && !c->discard)
			conn_feed(sw, c, buf, (size_t)n);
	}
}

static void conn_connected(struct swarm *sw, struct conn *c)
{
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
		err = errno;
	if (err) {
		char why[160];

		snprintf(why, sizeof(why), "connect: %s", strerror(err));
		conn_end(sw, c, err == ECONNREFUSED || err == ECONNRESET, why);
		return;
	}
	c->connecting = 0;
}

/* Runs every connection until the deadline or sw->done.  Returns 0, or -1
 * on a local error (reported). */
static int swarm_run(struct swarm *sw, uint64_t deadline_us)
{
	struct pollfd *pfd = calloc(sw->n, sizeof(*pfd));
	uint32_t *which = calloc(sw->n, sizeof(*which));

	if (!pfd || !which) {
		complain("out of memory");
		free(pfd);
		free(which);
		return -1;
	}
	for (;;) {
		uint64_t now = now_us(), wake = now + TICK_MS * 1000u;
		nfds_t k = 0;
		uint32_t i;
		int ms, rc;

		if (sw->done && sw->done(sw))
			break;
		if (now >= deadline_us)
			break;
		for (i = 0; i < sw->n; i++) {
			struct conn *c = &sw->c[i];

			if (c->over && (sw->reconnect || (sw->retry_unready && !c->ever_ready &&
							   now >= c->retry_us)) &&
			    conn_open(sw, c, i) != 0)
				continue;
			if (c->over || c->fd < 0)
				continue;
			if (sw->on_tick && !c->connecting)
				sw->on_tick(sw, c);
			conn_flush(sw, c);
			if (c->over)
				continue;
			pfd[k].fd = c->fd;
			pfd[k].events = 0;
			pfd[k].revents = 0;
			if (c->connecting || conn_pending(sw, c))
				pfd[k].events |= POLLOUT;
			if (!c->connecting && c->reading)
				pfd[k].events |= POLLIN;
			which[k++] = i;
			if (c->s) {
				uint64_t e = rumor_session_expiry(c->s);

				if (e < wake)
					wake = e;
			}
		}
		if (wake > deadline_us)
			wake = deadline_us;
		ms = wake > now ? (int)((wake - now + 999) / 1000) : 0;
		rc = poll(pfd, k, ms);
		if (rc < 0 && errno != EINTR) {
			complain("poll: %s", strerror(errno));
			free(pfd);
			free(which);
			return -1;
		}
		for (nfds_t j = 0; rc > 0 && j < k; j++) {
			struct conn *c = &sw->c[which[j]];

			if (!pfd[j].revents || c->over)
				continue;
			if (c->connecting) {
				conn_connected(sw, c);
				continue;
			}
			if ((pfd[j].revents & (POLLIN | POLLHUP | POLLERR)) && c->reading)
				conn_read(sw, c);
			else if (pfd[j].revents & (POLLHUP | POLLERR)) /* even unread */
				conn_end(sw, c, 1, pfd[j].revents & POLLERR ? "reset" : "eof");
			if (!c->over && (pfd[j].revents & POLLOUT))
				conn_flush(sw, c);
		}
		now = now_us();
		for (i = 0; i < sw->n; i++) {
			struct conn *c = &sw->c[i];

			if (!c->over && c->s && !c->connecting && rumor_session_expiry(c->s) <= now) {
				struct rumor_session_event ev = { .type = RUMOR_SESSION_EV_NONE };

				rumor_session_handle_expiry(c->s, now, &ev);
				conn_event(sw, c, &ev);
			}
		}
	}
	free(pfd);
	free(which);
	return 0;
}

static int swarm_init(struct swarm *sw, struct tool *t, uint32_t n)
{
	memset(sw, 0, sizeof(*sw));
	sw->t = t;
	sw->n = n;
	sw->c = calloc(n, sizeof(*sw->c));
	if (!sw->c) {
		complain("out of memory");
		return -1;
	}
	for (uint32_t i = 0; i < n; i++)
		sw->c[i].fd = -1;
	return 0;
}

static int swarm_open_all(struct swarm *sw)
{
	for (uint32_t i = 0; i < sw->n; i++)
		if (conn_open(sw, &sw->c[i], i) != 0)
			return -1;
	return 0;
}

static void swarm_free(struct swarm *sw)
{
	for (uint32_t i = 0; i < sw->n; i++) {
		if (sw->c[i].fd >= 0)
			close(sw->c[i].fd);
		if (sw->c[i].s)
			rumor_session_del(sw->c[i].s);
		memset(sw->c[i].id_secret, 0, sizeof(sw->c[i].id_secret));
	}
	free(sw->c);
	sw->c = NULL;
}

static int first_over(struct swarm *sw)
{
	return sw->c[0].over;
}

/* The last line of a single-connection mode; returns its exit status. */
static int report_outcome(struct swarm *sw)
{
	struct conn *c = &sw->c[0];

	if (!c->ready) {
		complain("the handshake before the attack did not complete: %s",
			 c->over ? c->reason : "no answer in time");
		say("closed: %s", c->over ? c->reason : "no handshake");
		return EXIT_NO_HANDSHAKE;
	}
	if (c->over && c->by_node)
		say("closed by node: %s", c->reason);
	else if (c->over)
		say("closed: %s", c->reason);
	else
		say("held");
	return EXIT_OK;
}

static void send_or_complain(struct swarm *sw, struct conn *c, const struct rumor_msg *m)
{
	int rc = rumor_session_send(c->s, m, now_us());

	if (rc != 0) {
		complain("cannot send %s: %s", rumor_msg_type_name(m->type), strerror(-rc));
		conn_end(sw, c, 0, "our own send failed");
	}
}

static void send_inv(struct swarm *sw, struct conn *c, struct rumor_inv_entry *e, uint32_t n,
		     uint16_t type)
{
	struct rumor_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	m.u.inv.entries.entries = e;
	m.u.inv.entries.count = n;
	send_or_complain(sw, c, &m);
}

static uint32_t getdata_count(const struct rumor_msg *m, int kind)
{
	uint32_t n = 0;

	if (m->type != RUMOR_MSG_GETDATA)
		return 0;
	for (uint32_t i = 0; i < m->u.getdata.entries.count; i++) {
		struct rumor_inv_entry e;

		rumor_msg_inv_entry(&m->u.getdata.entries, i, &e);
		if (e.kind == kind)
			n++;
	}
	return n;
}

/* ---- invflood ---- */

struct invflood {
	uint64_t ids_sent, msgs_sent, getdata_ids;
};

static void invflood_ready(struct swarm *sw, struct conn *c)
{
	struct invflood *st = sw->state;
	uint64_t total = sw->t->count ? sw->t->count : 20000;
	uint64_t per = sw->t->per_msg ? sw->t->per_msg : 1000;
	struct rumor_inv_entry *e;

	if (per > RUMOR_MSG_INV_MAX) {
		complain("--per-msg over %u: use mode invbig", (unsigned)RUMOR_MSG_INV_MAX);
		conn_end(sw, c, 0, "usage");
		return;
	}
	e = malloc((size_t)per * sizeof(*e));
	if (!e) {
		conn_end(sw, c, 0, "out of memory");
		return;
	}
	while (st->ids_sent < total && !c->over) {
		uint32_t n = (uint32_t)(total - st->ids_sent < per ? total - st->ids_sent : per);

		for (uint32_t i = 0; i < n; i++) {
			e[i].kind = RUMOR_ITEM_TX;
			rumor_random(e[i].id, RUMOR_ID_SIZE);
		}
		send_inv(sw, c, e, n, RUMOR_MSG_INV);
		st->ids_sent += n;
		st->msgs_sent++;
	}
	free(e);
}

static void invflood_message(struct swarm *sw, struct conn *c, const struct rumor_msg *m)
{
	struct invflood *st = sw->state;

	(void)c;
	st->getdata_ids += getdata_count(m, RUMOR_ITEM_TX);
}

int mode_invflood(struct tool *t)
{
	struct invflood st;
	struct swarm sw;
	int rc = EXIT_IO;

	memset(&st, 0, sizeof(st));
	if (swarm_init(&sw, t, 1) != 0)
		return EXIT_IO;
	sw.state = &st;
	sw.on_ready = invflood_ready;
	sw.on_message = invflood_message;
	sw.done = first_over;
	if (swarm_open_all(&sw) == 0 && swarm_run(&sw, now_us() + t->hold_us) == 0) {
		say("sent %llu unique ids in %llu inv messages", (unsigned long long)st.ids_sent,
		    (unsigned long long)st.msgs_sent);
		say("getdata asked for %llu of them", (unsigned long long)st.getdata_ids);
		rc = report_outcome(&sw);
	}
	swarm_free(&sw);
	return rc;
}

/* ---- invbig (manual) ---- */

int mode_invbig(struct tool *t)
{
	uint64_t count = t->per_msg ? t->per_msg : RUMOR_MSG_INV_MAX + 1;
	size_t len, off = 0;
	uint8_t *msg;
	struct manual m;
	int rc;

	if (count > (RUMOR_FRAME_MESSAGE_MAX - 7) / RUMOR_MSG_INV_ENTRY_SIZE)
		return EXIT_USAGE;
	len = 3 + 4 + (size_t)count * RUMOR_MSG_INV_ENTRY_SIZE;
	msg = malloc(len);
	if (!msg)
		return EXIT_IO;
	msg[0] = RUMOR_MSG_INV; /* type u16 LE, flags */
	msg[1] = 0;
	msg[2] = 0;
	msg[3] = (uint8_t)count;
	msg[4] = (uint8_t)(count >> 8);
	msg[5] = (uint8_t)(count >> 16);
	msg[6] = (uint8_t)(count >> 24);
	for (uint64_t i = 0; i < count; i++) {
		uint8_t *e = msg + 7 + i * RUMOR_MSG_INV_ENTRY_SIZE;

		e[0] = RUMOR_ITEM_TX;
		rumor_random(e + 1, RUMOR_ID_SIZE);
	}
	memset(&m, 0, sizeof(m));
	rc = manual_connect(t, &m, 0);
	if (rc != EXIT_OK) {
		manual_free(&m);
		free(msg);
		return EXIT_NO_HANDSHAKE;
	}
	/* full "more follows" fragments, then the last one */
	while (!t->eof) {
		size_t n = len - off;
		int last = n <= RUMOR_FRAME_FRAGMENT_MAX;

		if (!last)
			n = RUMOR_FRAME_FRAGMENT_MAX;
		if (manual_send_frame(t, &m, last ? RUMOR_FRAME_MARKER_LAST : RUMOR_FRAME_MARKER_MORE,
				      msg + off, n, 0) != 0)
			break;
		off += n;
		if (last)
			break;
	}
	say("sent one inv of %llu entries (%zu of %zu message bytes)", (unsigned long long)count, off,
	    len);
	free(msg);
	manual_free(&m);
	return expect_close(t, now_us() + t->timeout_us);
}

/* ---- payload ---- */

struct payload {
	int kind;
	uint8_t id[RUMOR_ID_SIZE];
	int sent;
};

static void payload_send(struct swarm *sw, struct conn *c)
{
	struct payload *st = sw->state;
	struct rumor_msg m;
	char hex[65];

	memset(&m, 0, sizeof(m));
	m.type = st->kind == RUMOR_ITEM_BLOCK ? RUMOR_MSG_BLOCK : RUMOR_MSG_TX;
	m.u.tx.item.ptr = sw->t->item;
	m.u.tx.item.len = (uint32_t)sw->t->item_len;
	send_or_complain(sw, c, &m);
	st->sent = 1;
	rumor_hex_encode(st->id, 32, hex);
	say("sent %s %s%s", rumor_item_kind_name(st->kind), hex,
	    sw->t->unrequested ? " unrequested" : "");
}

static void payload_ready(struct swarm *sw, struct conn *c)
{
	struct payload *st = sw->state;
	struct rumor_inv_entry e;
	char hex[65];

	if (sw->t->unrequested) {
		payload_send(sw, c);
		return;
	}
	e.kind = (uint8_t)st->kind;
	memcpy(e.id, st->id, 32);
	send_inv(sw, c, &e, 1, RUMOR_MSG_INV);
	rumor_hex_encode(st->id, 32, hex);
	say("sent inv %s", hex);
}

static void payload_message(struct swarm *sw, struct conn *c, const struct rumor_msg *m)
{
	struct payload *st = sw->state;

	if (m->type != RUMOR_MSG_GETDATA || st->sent)
		return;
	for (uint32_t i = 0; i < m->u.getdata.entries.count; i++) {
		struct rumor_inv_entry e;

		rumor_msg_inv_entry(&m->u.getdata.entries, i, &e);
		if (memcmp(e.id, st->id, 32) == 0) {
			say("getdata asked for it");
			payload_send(sw, c);
			return;
		}
	}
}

int mode_payload(struct tool *t)
{
	struct rumor_item item;
	struct payload st;
	struct swarm sw;
	int rc = EXIT_IO;

	if (!t->item) {
		complain("payload needs --item=HEX");
		return EXIT_USAGE;
	}
	memset(&st, 0, sizeof(st));
	/* the kind byte is at offset 1 whether or not the rest decodes */
	st.kind = rumor_item_decode(&item, t->item, t->item_len) == NULL ? (int)item.kind
		  : t->item_len > 1 && t->item[1] == RUMOR_ITEM_BLOCK ? RUMOR_ITEM_BLOCK
								      : RUMOR_ITEM_TX;
	rumor_sha256(t->item, t->item_len, st.id);
	if (swarm_init(&sw, t, 1) != 0)
		return EXIT_IO;
	sw.state = &st;
	sw.on_ready = payload_ready;
	sw.on_message = payload_message;
	sw.done = first_over;
	if (swarm_open_all(&sw) == 0 && swarm_run(&sw, now_us() + t->hold_us) == 0) {
		rc = report_outcome(&sw);
		if (rc == EXIT_OK && !sw.c[0].over)
			rc = EXIT_STILL_OPEN;
		else if (rc == EXIT_OK && !sw.c[0].by_node)
			rc = EXIT_IO;
	}
	swarm_free(&sw);
	return rc;
}

/* ---- bigblock ---- */

struct bigblock {
	uint32_t n;
	uint8_t **bytes;
	size_t *len;
	uint8_t (*id)[RUMOR_ID_SIZE];
	int *wanted, *sent;
	uint64_t tx_getdata;
};

static int bigblock_make(struct tool *t, struct bigblock *st)
{
	size_t ids_len = (size_t)t->txs * RUMOR_ID_SIZE;
	uint8_t *ids = malloc(ids_len ? ids_len : 1);

	st->n = t->count ? (uint32_t)t->count : 1;
	st->bytes = calloc(st->n, sizeof(*st->bytes));
	st->len = calloc(st->n, sizeof(*st->len));
	st->id = calloc(st->n, sizeof(*st->id));
	st->wanted = calloc(st->n, sizeof(int));
	st->sent = calloc(st->n, sizeof(int));
	if (!ids || !st->bytes || !st->len || !st->id || !st->wanted || !st->sent) {
		free(ids);
		return -1;
	}
	for (uint32_t b = 0; b < st->n; b++) {
		rumor_random(ids, ids_len); /* distinct with overwhelming odds */
		st->bytes[b] = rumor_block_create(&t->network, t->id_secret, 0, NULL,
						  (uint64_t)time(NULL), ids, t->txs, &st->len[b]);
		if (!st->bytes[b]) {
			free(ids);
			return -1;
		}
		if (t->badsig)
			st->bytes[b][st->len[b] - 1] ^= 0x01;
		rumor_sha256(st->bytes[b], st->len[b], st->id[b]);
	}
	free(ids);
	say("made %u block(s) naming %u unknown transactions, %zu bytes each%s", st->n, t->txs,
	    st->len[0], t->badsig ? ", signature broken" : "");
	return 0;
}

static void bigblock_free(struct bigblock *st)
{
	for (uint32_t b = 0; st->bytes && b < st->n; b++)
		free(st->bytes[b]);
	free(st->bytes);
	free(st->len);
	free(st->id);
	free(st->wanted);
	free(st->sent);
}

static void bigblock_ready(struct swarm *sw, struct conn *c)
{
	struct bigblock *st = sw->state;
	struct rumor_inv_entry *e = calloc(st->n, sizeof(*e));

	if (!e) {
		conn_end(sw, c, 0, "out of memory");
		return;
	}
	for (uint32_t b = 0; b < st->n; b++) {
		e[b].kind = RUMOR_ITEM_BLOCK;
		memcpy(e[b].id, st->id[b], 32);
	}
	send_inv(sw, c, e, st->n, RUMOR_MSG_INV);
	free(e);
	say("announced %u block(s)", st->n);
}

static void bigblock_message(struct swarm *sw, struct conn *c, const struct rumor_msg *m)
{
	struct bigblock *st = sw->state;

	(void)c;
	if (m->type != RUMOR_MSG_GETDATA)
		return;
	for (uint32_t i = 0; i < m->u.getdata.entries.count; i++) {
		struct rumor_inv_entry e;

		rumor_msg_inv_entry(&m->u.getdata.entries, i, &e);
		if (e.kind == RUMOR_ITEM_TX) {
			st->tx_getdata++;
			continue;
		}
		for (uint32_t b = 0; b < st->n; b++)
			if (memcmp(e.id, st->id[b], 32) == 0)
				st->wanted[b] = 1;
	}
}

static void bigblock_tick(struct swarm *sw, struct conn *c)
{
	struct bigblock *st = sw->state;
	const uint8_t *data;

	if (!c->ready || c->over)
		return;
	for (uint32_t b = 0; b < st->n; b++) {
		struct rumor_msg m;
		char hex[65];

		if (!st->wanted[b] || st->sent[b])
			continue;
		if (rumor_session_output(c->s, &data) >= BLOCK_QUEUE_BELOW)
			return;
		memset(&m, 0, sizeof(m));
		m.type = RUMOR_MSG_BLOCK;
		m.u.block.item.ptr = st->bytes[b];
		m.u.block.item.len = (uint32_t)st->len[b];
		send_or_complain(sw, c, &m);
		st->sent[b] = 1;
		rumor_hex_encode(st->id[b], 32, hex);
		say("sent block %s", hex);
	}
}

int mode_bigblock(struct tool *t)
{
	struct bigblock st;
	struct swarm sw;
	int rc = EXIT_IO;

	memset(&st, 0, sizeof(st));
	if (bigblock_make(t, &st) != 0) {
		complain("cannot make the blocks: %s", strerror(errno));
		bigblock_free(&st);
		return EXIT_IO;
	}
	if (swarm_init(&sw, t, 1) != 0) {
		bigblock_free(&st);
		return EXIT_IO;
	}
	sw.state = &st;
	sw.on_ready = bigblock_ready;
	sw.on_message = bigblock_message;
	sw.on_tick = bigblock_tick;
	sw.done = first_over;
	if (swarm_open_all(&sw) == 0 && swarm_run(&sw, now_us() + t->hold_us) == 0) {
		uint32_t sent = 0;

		for (uint32_t b = 0; b < st.n; b++)
			sent += (uint32_t)st.sent[b];
		say("sent %u of %u block(s)", sent, st.n);
		say("getdata asked for %llu of their transactions", (unsigned long long)st.tx_getdata);
		rc = report_outcome(&sw);
	}
	swarm_free(&sw);
	bigblock_free(&st);
	return rc;
}

/* ---- getdataflood and slowreader ---- */

static void getdata_ready(struct swarm *sw, struct conn *c)
{
	uint64_t msgs = sw->t->count ? sw->t->count : 10;
	uint64_t per = sw->t->per_msg ? sw->t->per_msg : 1000;
	struct rumor_inv_entry *e;

	if (per > RUMOR_MSG_INV_MAX) {
		conn_end(sw, c, 0, "--per-msg over the protocol's cap");
		return;
	}
	e = malloc((size_t)per * sizeof(*e));
	if (!e) {
		conn_end(sw, c, 0, "out of memory");
		return;
	}
	for (uint64_t i = 0; i < per; i++) {
		e[i].kind = RUMOR_ITEM_BLOCK;
		memcpy(e[i].id, sw->t->getdata_id, 32);
	}
	for (uint64_t k = 0; k < msgs && !c->over; k++)
		send_inv(sw, c, e, (uint32_t)per, RUMOR_MSG_GETDATA);
	free(e);
	say("sent %llu getdata of %llu entries", (unsigned long long)msgs, (unsigned long long)per);
}

static int getdata_mode(struct tool *t, int slow)
{
	struct swarm sw;
	int rc = EXIT_IO;

	if (!t->has_getdata) {
		complain("%s needs --getdata=ID (a block the node holds)", t->mode);
		return EXIT_USAGE;
	}
	if (swarm_init(&sw, t, 1) != 0)
		return EXIT_IO;
	sw.on_ready = getdata_ready;
	sw.done = first_over;
	if (slow)
		sw.stop_reading_ready = 1;
	else
		sw.discard_ready = 1;
	if (swarm_open_all(&sw) != 0 || swarm_run(&sw, now_us() + t->hold_us) != 0)
		goto out;
	if (slow && sw.c[0].ready && !sw.c[0].over) {
		uint64_t before = sw.c[0].bytes_in;

		say("did not read for %.1f s", (double)t->hold_us / 1e6);
		sw.c[0].reading = 1;
		sw.c[0].discard = 1;
		if (swarm_run(&sw, now_us() + DRAIN_US) != 0)
			goto out;
		say("then read %llu bytes", (unsigned long long)(sw.c[0].bytes_in - before));
	} else {
		say("received %llu bytes", (unsigned long long)sw.c[0].bytes_in);
	}
	rc = report_outcome(&sw);
out:
	swarm_free(&sw);
	return rc;
}

int mode_getdataflood(struct tool *t)
{
	return getdata_mode(t, 0);
}

int mode_slowreader(struct tool *t)
{
	return getdata_mode(t, 1);
}

/* ---- connflood and squat ---- */

static void report_many(struct swarm *sw, const char *what)
{
	uint32_t open = 0, ready_open = 0, shown = 0;
	char seen[3][200];

	for (uint32_t i = 0; i < sw->n; i++) {
		struct conn *c = &sw->c[i];

		if (!c->over) {
			open++;
			ready_open += (uint32_t)c->ready;
			continue;
		}
		if (!c->by_node || shown == 3)
			continue;
		uint32_t k;
		for (k = 0; k < shown; k++)
			if (strcmp(seen[k], c->reason) == 0)
				break;
		if (k == shown)
			snprintf(seen[shown++], sizeof(seen[0]), "%s", c->reason);
	}
	say("%s: %u connections from %u addresses in %u netgroups (127.%u.0.0/16 ...)", what, sw->n,
	    sw->t->addrs ? sw->t->addrs : sw->n, sw->t->netgroups, sw->t->source);
	say("opened %llu, ready %llu, closed by node %llu (%llu before ready)",
	    (unsigned long long)sw->opened, (unsigned long long)sw->ready_total,
	    (unsigned long long)sw->ended_by_node, (unsigned long long)sw->ended_before_ready);
	for (uint32_t k = 0; k < shown; k++)
		say("node's reason: %s", seen[k]);
	say("open at the end %u (%u ready)", open, ready_open);
}

int mode_connflood(struct tool *t)
{
	struct rumor_session *s = NULL;
	const uint8_t *msg1;
	struct swarm sw;
	int rc = EXIT_IO;

	if (session_new_with(t, t->id_secret, t->noise_static, &s) != 0)
		return EXIT_IO;
	if (swarm_init(&sw, t, t->conns > 1 ? t->conns : 200) != 0) {
		rumor_session_del(s);
		return EXIT_IO;
	}
	sw.raw = 1;
	sw.raw_len = rumor_session_output(s, &msg1) / 2; /* half of message 1 */
	sw.raw_msg = msg1;
	sw.reconnect = 1;
	if (swarm_open_all(&sw) == 0 && swarm_run(&sw, now_us() + t->hold_us) == 0) {
		report_many(&sw, "connflood");
		rc = EXIT_OK;
	}
	swarm_free(&sw);
	rumor_session_del(s);
	return rc;
}

int mode_squat(struct tool *t)
{
	struct swarm sw;
	int rc = EXIT_IO;

	if (swarm_init(&sw, t, t->conns > 1 ? t->conns : 64) != 0)
		return EXIT_IO;
	sw.retry_unready = 1;
	if (swarm_open_all(&sw) == 0 && swarm_run(&sw, now_us() + t->hold_us) == 0) {
		report_many(&sw, "squat");
		rc = EXIT_OK;
	}
	swarm_free(&sw);
	return rc;
}
