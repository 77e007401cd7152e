/*
 * test/unit/test_session.c: net/session, the sans-IO peer connection.
 *
 * Two sessions live in memory and pump their output into each other under
 * a fake clock (now_us is whatever the test says).  Covered: the handshake
 * and hello with and without a PSK, authenticated remote ids, the expected
 * id (match and mismatch), another network, wrong or missing PSK, messages
 * both ways (inv, a 60 KB tx, a 4 MiB block), wire byte stats on both sides,
 * ping/pong and the measured round trip, idle and handshake timeouts, the
 * pre-handshake budget, a flipped transport byte, a message before hello,
 * a peer's disconnect, the output hard limit, byte-at-a-time delivery, a
 * hello of another version or network or a bad user agent, and the worked
 * handshake example of doc/protocol.md (read from $RUMOR_SRCDIR), byte for
 * byte.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "crypto/hex.h"
#include "crypto/noise.h"
#include "crypto/sign.h"
#include "net/frame.h"
#include "net/message.h"
#include "net/session.h"
#include "test/unit/doc_examples.h"

#define SEC UINT64_C(1000000)
#define T0 (UINT64_C(1000) * SEC) /* the fake clock's start */
/* Unix time of the worked example's hellos: T0 / 1e6 + offset. */
#define EXAMPLE_UNIX_TIME 1700000000
#define EXAMPLE_OFFSET ((int64_t)EXAMPLE_UNIX_TIME - 1000)

/* ---- peers ---- */

struct peer {
	uint8_t id_pub[32];
	uint8_t id_secret[64];
	struct rumor_session_config cfg;
	struct rumor_session *s;
	/* what the pump saw */
	int ready;
	int closed;
	int remote_initiated;
	uint16_t close_code;
	char reason[512];
	unsigned int n_msgs;
	uint16_t last_type;
	uint8_t *last_msg; /* re-encoded copy of the last EV_MESSAGE */
	size_t last_len;
};

static struct rumor_network testnet, othernet;

static void fill(uint8_t *p, size_t n, uint8_t start)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

/* Keys from fixed bytes: identity seed k, Noise static k+0x40, ephemeral
 * k+0x80. */
static void peer_init(struct peer *p, int initiator, uint8_t k, const struct rumor_network *net)
{
	uint8_t seed[32];

	memset(p, 0, sizeof(*p));
	fill(seed, 32, k);
	rumor_sign_keypair_from_seed(seed, p->id_pub, p->id_secret);
	p->cfg.initiator = initiator;
	p->cfg.network = net;
	p->cfg.identity_secret = p->id_secret;
	fill(p->cfg.noise_static_priv, 32, (uint8_t)(k + 0x40));
	fill(p->cfg.ephemeral_priv, 32, (uint8_t)(k + 0x80));
	p->cfg.services = 1;
	p->cfg.best_height = initiator ? 7 : 9;
	p->cfg.listen_port = initiator ? 0 : 8633;
	p->cfg.hello_nonce = initiator ? 0x1111111111111111u : 0x2222222222222222u;
	p->cfg.wall_clock_offset_s = EXAMPLE_OFFSET;
	rumor_session_limits_default(&p->cfg.limits);
}

static void peer_start(struct peer *p, uint64_t now)
{
	assert_int_equal(rumor_session_new(&p->s, &p->cfg, now), 0);
}

static void peer_free(struct peer *p)
{
	rumor_session_del(p->s);
	free(p->last_msg);
	p->s = NULL;
	p->last_msg = NULL;
}

static void note_event(struct peer *p, const struct rumor_session_event *ev)
{
	size_t size = 0, n = 0;

	switch (ev->type) {
	case RUMOR_SESSION_EV_NONE:
		break;
	case RUMOR_SESSION_EV_READY:
		p->ready++;
		break;
	case RUMOR_SESSION_EV_MESSAGE:
		assert_non_null(ev->msg);
		p->n_msgs++;
		p->last_type = ev->msg->type;
		free(p->last_msg);
		assert_int_equal(rumor_msg_encoded_size(ev->msg, &size), 0);
		p->last_msg = malloc(size);
		assert_non_null(p->last_msg);
		assert_int_equal(rumor_msg_encode(ev->msg, p->last_msg, size, &n), 0);
		p->last_len = n;
		break;
	case RUMOR_SESSION_EV_CLOSED:
		assert_int_equal(p->closed, 0); /* reported once */
		p->closed = 1;
		p->remote_initiated = ev->remote_initiated;
		p->close_code = ev->code;
		assert_non_null(ev->reason);
		snprintf(p->reason, sizeof(p->reason), "%s", ev->reason);
		break;
	}
}

/* Feeds bytes to p in chunks of at most chunk bytes, handling every event. */
static void deliver(struct peer *p, const uint8_t *data, size_t len, size_t chunk, uint64_t now)
{
	size_t off = 0;

	while (off < len) {
		size_t n = len - off < chunk ? len - off : chunk, used = 0, c;
		struct rumor_session_event ev;

		do {
			rumor_session_recv(p->s, data + off + used, n - used, now, &c, &ev);
			assert_true(c <= n - used);
			used += c;
			note_event(p, &ev);
		} while (used < n || ev.type != RUMOR_SESSION_EV_NONE);
		off += n;
	}
}

/* Moves all of from's output into to.  Returns the bytes moved. */
static size_t flush(struct peer *from, struct peer *to, size_t chunk, uint64_t now)
{
	const uint8_t *data;
	size_t n = rumor_session_output(from->s, &data), total = 0;
	uint8_t *copy;

	while (n > 0) {
		copy = malloc(n);
		assert_non_null(copy);
		memcpy(copy, data, n);
		rumor_session_output_consumed(from->s, n);
		deliver(to, copy, n, chunk, now);
		free(copy);
		total += n;
		n = rumor_session_output(from->s, &data);
	}
	return total;
}

static void pump_chunked(struct peer *a, struct peer *b, size_t chunk, uint64_t now)
{
	while (flush(a, b, chunk, now) + flush(b, a, chunk, now) > 0)
		;
}

static void pump(struct peer *a, struct peer *b, uint64_t now)
{
	pump_chunked(a, b, SIZE_MAX, now);
}

static void drop_output(struct peer *p)
{
	const uint8_t *data;

	rumor_session_output_consumed(p->s, rumor_session_output(p->s, &data));
}

/* Both started and connected; asserts READY both ways. */
static void connect_pair(struct peer *a, struct peer *b, uint64_t now)
{
	peer_start(a, now);
	peer_start(b, now);
	pump(a, b, now);
	assert_int_equal(a->closed, 0);
	assert_int_equal(b->closed, 0);
	assert_int_equal(a->ready, 1);
	assert_int_equal(b->ready, 1);
	assert_int_equal(rumor_session_state(a->s), RUMOR_SESSION_READY);
	assert_int_equal(rumor_session_state(b->s), RUMOR_SESSION_READY);
}

static void expiry_event(struct peer *p, uint64_t now)
{
	struct rumor_session_event ev;

	rumor_session_handle_expiry(p->s, now, &ev);
	note_event(p, &ev);
}

static int setup(void **state)
{
	(void)state;
	if (rumor_crypto_init() != 0)
		return -1;
	if (rumor_network_init(&testnet, "testnet") != 0 ||
	    rumor_network_init(&othernet, "othernet") != 0)
		return -1;
	return 0;
}

/* ---- handshake ---- */

static void check_ready_pair(struct peer *a, struct peer *b)
{
	const struct rumor_msg_hello *ha, *hb;

	assert_non_null(rumor_session_remote_id(a->s));
	assert_memory_equal(rumor_session_remote_id(a->s), b->id_pub, 32);
	assert_memory_equal(rumor_session_remote_id(b->s), a->id_pub, 32);
	ha = rumor_session_remote_hello(a->s); /* b's hello as a saw it */
	hb = rumor_session_remote_hello(b->s);
	assert_non_null(ha);
	assert_non_null(hb);
	assert_int_equal(ha->version, RUMOR_PROTOCOL_VERSION);
	assert_int_equal(ha->best_height, 9);
	assert_int_equal(ha->port, 8633);
	assert_int_equal(hb->best_height, 7);
	assert_int_equal(hb->port, 0);
	assert_int_equal(ha->nonce, b->cfg.hello_nonce);
	assert_int_equal(ha->timestamp, EXAMPLE_UNIX_TIME);
	assert_int_equal(ha->network.len, strlen("testnet"));
	assert_memory_equal(ha->network.ptr, "testnet", ha->network.len);
	assert_int_equal(ha->user_agent.len, strlen(RUMOR_SESSION_USER_AGENT));
	assert_memory_equal(ha->user_agent.ptr, RUMOR_SESSION_USER_AGENT, ha->user_agent.len);
	assert_null(rumor_session_close_reason(a->s));
}

static void test_handshake(void **state)
{
	struct peer a, b;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	peer_start(&a, T0);
	peer_start(&b, T0);
	assert_null(rumor_session_remote_id(a.s));
	assert_null(rumor_session_remote_hello(a.s));
	assert_int_equal(rumor_session_state(a.s), RUMOR_SESSION_HANDSHAKE);
	pump(&a, &b, T0);
	assert_int_equal(a.ready, 1);
	assert_int_equal(b.ready, 1);
	check_ready_pair(&a, &b);
	peer_free(&a);
	peer_free(&b);
}

static void test_handshake_psk(void **state)
{
	struct peer a, b;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	a.cfg.has_psk = b.cfg.has_psk = 1;
	fill(a.cfg.psk, 32, 0xa0);
	fill(b.cfg.psk, 32, 0xa0);
	connect_pair(&a, &b, T0);
	check_ready_pair(&a, &b);
	peer_free(&a);
	peer_free(&b);
}

static void test_handshake_byte_at_a_time(void **state)
{
	struct peer a, b;
	struct rumor_msg m;
	uint8_t payload[3000];

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	peer_start(&a, T0);
	peer_start(&b, T0);
	pump_chunked(&a, &b, 1, T0);
	assert_int_equal(a.ready, 1);
	assert_int_equal(b.ready, 1);
	check_ready_pair(&a, &b);

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_TX;
	fill(payload, sizeof(payload), 3);
	m.u.tx.item.ptr = payload;
	m.u.tx.item.len = sizeof(payload);
	assert_int_equal(rumor_session_send(a.s, &m, T0), 0);
	pump_chunked(&a, &b, 1, T0);
	assert_int_equal(b.n_msgs, 1);
	assert_int_equal(b.last_type, RUMOR_MSG_TX);
	assert_int_equal(b.last_len, 3 + 4 + sizeof(payload));
	assert_memory_equal(b.last_msg + 7, payload, sizeof(payload));
	peer_free(&a);
	peer_free(&b);
}

static void test_expected_id(void **state)
{
	struct peer a, b;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	a.cfg.has_expected_id = 1;
	memcpy(a.cfg.expected_id, b.id_pub, 32);
	connect_pair(&a, &b, T0);
	peer_free(&a);
	peer_free(&b);

	/* Another id: the initiator stops before sending message 3. */
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	a.cfg.has_expected_id = 1;
	memset(a.cfg.expected_id, 0x5a, 32);
	peer_start(&a, T0);
	peer_start(&b, T0);
	pump(&a, &b, T0);
	assert_int_equal(a.closed, 1);
	assert_int_equal(a.ready, 0);
	assert_int_equal(b.ready, 0);
	assert_int_equal(rumor_session_state(a.s), RUMOR_SESSION_CLOSED);
	assert_non_null(strstr(a.reason, "expected node id"));
	assert_non_null(strstr(a.reason, "5a5a5a5a"));
	{
		char hex[65];

		rumor_hex_encode(b.id_pub, 32, hex);
		assert_non_null(strstr(a.reason, hex));
	}
	assert_null(rumor_session_remote_id(a.s));
	assert_string_equal(rumor_session_close_reason(a.s), a.reason);
	assert_int_equal(rumor_session_state(b.s), RUMOR_SESSION_HANDSHAKE);
	peer_free(&a);
	peer_free(&b);
}

/* Starts a and b, pumps, and checks that both sides never got READY and
 * that at least the side `who` (0 a, 1 b) closed in the handshake. */
static void expect_handshake_failure(struct peer *a, struct peer *b, int who)
{
	peer_start(a, T0);
	peer_start(b, T0);
	pump(a, b, T0);
	assert_int_equal(a->ready, 0);
	assert_int_equal(b->ready, 0);
	assert_int_equal((who ? b : a)->closed, 1);
	assert_non_null(strstr((who ? b : a)->reason, "handshake"));
	peer_free(a);
	peer_free(b);
}

static void test_wrong_network(void **state)
{
	struct peer a, b;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &othernet);
	expect_handshake_failure(&a, &b, 0); /* message 2 fails to decrypt */
}

static void test_wrong_psk(void **state)
{
	struct peer a, b;

	(void)state;
	/* different PSKs: message 1 already fails at the responder */
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	a.cfg.has_psk = b.cfg.has_psk = 1;
	fill(a.cfg.psk, 32, 0xa0);
	fill(b.cfg.psk, 32, 0xa1);
	expect_handshake_failure(&a, &b, 1);

	/* initiator with a PSK, responder without: message 1 is too long */
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	a.cfg.has_psk = 1;
	fill(a.cfg.psk, 32, 0xa0);
	expect_handshake_failure(&a, &b, 1);

	/* responder with a PSK, initiator without */
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	b.cfg.has_psk = 1;
	fill(b.cfg.psk, 32, 0xa0);
	expect_handshake_failure(&a, &b, 1);
}

/* ---- messages ---- */

static void send_and_check(struct peer *from, struct peer *to, const struct rumor_msg *m)
{
	size_t size = 0, n = 0;
	uint8_t *want;
	unsigned int before = to->n_msgs;

	assert_int_equal(rumor_msg_encoded_size(m, &size), 0);
	want = malloc(size);
	assert_non_null(want);
	assert_int_equal(rumor_msg_encode(m, want, size, &n), 0);
	assert_int_equal(rumor_session_send(from->s, m, T0), 0);
	pump(from, to, T0);
	assert_int_equal(to->n_msgs, before + 1);
	assert_int_equal(to->last_type, m->type);
	assert_int_equal(to->last_len, size);
	assert_memory_equal(to->last_msg, want, size);
	free(want);
}

static void check_stats_match(struct peer *a, struct peer *b)
{
	const struct rumor_session_stats *sa = rumor_session_stats(a->s);
	const struct rumor_session_stats *sb = rumor_session_stats(b->s);
	uint64_t sum = 0;
	int i;

	assert_int_equal(sa->bytes_sent, sb->bytes_recv);
	assert_int_equal(sb->bytes_sent, sa->bytes_recv);
	assert_int_equal(sa->msgs_sent, sb->msgs_recv);
	assert_int_equal(sb->msgs_sent, sa->msgs_recv);
	for (i = 0; i < RUMOR_SESSION_STAT_SLOTS; i++) {
		assert_int_equal(sa->sent_by_type[i], sb->recv_by_type[i]);
		assert_int_equal(sb->sent_by_type[i], sa->recv_by_type[i]);
		sum += sa->sent_by_type[i];
	}
	assert_int_equal(sum, sa->bytes_sent);
}

static void test_messages(void **state)
{
	struct peer a, b;
	struct rumor_msg m;
	struct rumor_inv_entry inv[3];
	uint8_t *big;
	const struct rumor_session_stats *st;
	size_t tx_size = 60 * 1000, block_size = RUMOR_BLOCK_SIZE_MAX;
	uint64_t before;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	connect_pair(&a, &b, T0);
	check_stats_match(&a, &b);
	st = rumor_session_stats(a.s);
	assert_true(st->sent_by_type[0] > 0);
	assert_true(st->sent_by_type[RUMOR_MSG_HELLO] > RUMOR_FRAME_OVERHEAD);
	assert_int_equal(st->msgs_sent, 1);

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_INV;
	memset(inv, 0, sizeof(inv));
	inv[0].kind = 1;
	fill(inv[0].id, 32, 1);
	inv[1].kind = 2;
	fill(inv[1].id, 32, 2);
	inv[2].kind = 1;
	fill(inv[2].id, 32, 3);
	m.u.inv.entries.entries = inv;
	m.u.inv.entries.count = 3;
	send_and_check(&a, &b, &m);
	send_and_check(&b, &a, &m);

	big = malloc(block_size);
	assert_non_null(big);
	fill(big, block_size, 0x33);
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_TX;
	m.u.tx.item.ptr = big;
	m.u.tx.item.len = (uint32_t)tx_size;
	send_and_check(&a, &b, &m);
	send_and_check(&b, &a, &m);

	before = rumor_session_stats(a.s)->sent_by_type[RUMOR_MSG_BLOCK];
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_BLOCK;
	m.u.block.item.ptr = big;
	m.u.block.item.len = (uint32_t)block_size;
	send_and_check(&a, &b, &m);
	assert_int_equal(rumor_session_stats(a.s)->sent_by_type[RUMOR_MSG_BLOCK] - before,
			 rumor_frame_encoded_size(3 + 4 + block_size));
	send_and_check(&b, &a, &m);

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_GETADDR;
	send_and_check(&b, &a, &m);
	check_stats_match(&a, &b);
	assert_int_equal(b.n_msgs, 3);
	assert_int_equal(a.n_msgs, 4);

	/* hello and disconnect are the session's own */
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_HELLO;
	assert_int_equal(rumor_session_send(a.s, &m, T0), -EINVAL);
	m.type = RUMOR_MSG_DISCONNECT;
	assert_int_equal(rumor_session_send(a.s, &m, T0), -EINVAL);
	m.type = 999; /* unknown */
	assert_int_equal(rumor_session_send(a.s, &m, T0), -EINVAL);

	free(big);
	peer_free(&a);
	peer_free(&b);
}

static void test_send_before_ready(void **state)
{
	struct peer a, b;
	struct rumor_msg m;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	peer_start(&a, T0);
	peer_start(&b, T0);
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_GETADDR;
	assert_int_equal(rumor_session_send(a.s, &m, T0), -EPROTO);
	peer_free(&a);
	peer_free(&b);
}

/* ---- timers ---- */

static void test_ping(void **state)
{
	struct peer a, b;
	uint64_t t;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	connect_pair(&a, &b, T0);
	assert_int_equal(rumor_session_stats(a.s)->ping_us, -1);
	t = rumor_session_expiry(a.s);
	assert_int_equal(t, T0 + 60 * SEC);
	expiry_event(&a, t - 1);
	assert_int_equal(rumor_session_output(a.s, &(const uint8_t *){ NULL }), 0);
	expiry_event(&a, t);
	assert_int_equal(a.closed, 0);
	assert_int_equal(rumor_session_stats(a.s)->sent_by_type[RUMOR_MSG_PING],
			 rumor_frame_encoded_size(3 + 8));
	flush(&a, &b, SIZE_MAX, t + 1000);
	assert_int_equal(b.n_msgs, 0); /* not reported */
	flush(&b, &a, SIZE_MAX, t + 25000);
	assert_int_equal(a.n_msgs, 0);
	assert_int_equal(rumor_session_stats(a.s)->ping_us, 25000);
	assert_int_equal(rumor_session_stats(b.s)->sent_by_type[RUMOR_MSG_PONG],
			 rumor_frame_encoded_size(3 + 8));
	check_stats_match(&a, &b);
	/* next ping a minute later */
	assert_int_equal(rumor_session_expiry(a.s), t + 60 * SEC);
	peer_free(&a);
	peer_free(&b);
}

static void test_idle_timeout(void **state)
{
	struct peer a, b;
	uint64_t t = T0;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	connect_pair(&a, &b, T0);
	/* b keeps pinging, a never answers: b drops a after 180 s silence */
	while (!b.closed) {
		t = rumor_session_expiry(b.s);
		assert_true(t <= T0 + 180 * SEC);
		expiry_event(&b, t);
		drop_output(&b);
	}
	assert_int_equal(t, T0 + 180 * SEC);
	assert_int_equal(b.close_code, RUMOR_DISCONNECT_TIMEOUT);
	assert_int_equal(b.remote_initiated, 0);
	assert_non_null(strstr(b.reason, "no message"));
	assert_int_equal(rumor_session_expiry(b.s), UINT64_MAX);

	/* a message resets the clock */
	peer_free(&a);
	peer_free(&b);
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	connect_pair(&a, &b, T0);
	expiry_event(&b, T0 + 60 * SEC); /* ping */
	flush(&b, &a, SIZE_MAX, T0 + 60 * SEC);
	flush(&a, &b, SIZE_MAX, T0 + 100 * SEC); /* pong at 100 s */
	expiry_event(&b, T0 + 180 * SEC);
	assert_int_equal(b.closed, 0);
	expiry_event(&b, T0 + 280 * SEC);
	assert_int_equal(b.closed, 1);
	peer_free(&a);
	peer_free(&b);
}

static void test_handshake_timeout(void **state)
{
	struct peer a, b;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	peer_start(&a, T0);
	assert_int_equal(rumor_session_expiry(a.s), T0 + 10 * SEC);
	expiry_event(&a, T0 + 10 * SEC - 1);
	assert_int_equal(a.closed, 0);
	expiry_event(&a, T0 + 10 * SEC);
	assert_int_equal(a.closed, 1);
	assert_int_equal(a.close_code, RUMOR_DISCONNECT_TIMEOUT);
	assert_non_null(strstr(a.reason, "handshake"));
	peer_free(&a);

	/* handshake done but no hello from b: still the same deadline */
	peer_init(&a, 1, 0x01, &testnet);
	peer_start(&a, T0);
	peer_start(&b, T0);
	flush(&a, &b, SIZE_MAX, T0);     /* message 1 */
	flush(&b, &a, SIZE_MAX, T0);     /* message 2; a sends 3 and hello */
	flush(&a, &b, SIZE_MAX, T0 + 1); /* b READY, b's hello queued but lost */
	drop_output(&b);
	assert_int_equal(b.ready, 1);
	assert_int_equal(rumor_session_state(a.s), RUMOR_SESSION_AWAIT_HELLO);
	assert_int_equal(rumor_session_expiry(a.s), T0 + 10 * SEC);
	expiry_event(&a, T0 + 10 * SEC);
	assert_int_equal(a.closed, 1);
	assert_non_null(strstr(a.reason, "hello"));
	/* the transport was up: a tells b why */
	flush(&a, &b, SIZE_MAX, T0 + 10 * SEC);
	assert_int_equal(b.closed, 1);
	assert_int_equal(b.remote_initiated, 1);
	assert_int_equal(b.close_code, RUMOR_DISCONNECT_TIMEOUT);
	peer_free(&a);
	peer_free(&b);
}

/* ---- hostile input ---- */

static void test_pre_handshake_budget(void **state)
{
	struct peer b;
	uint8_t junk[5000];
	size_t c;
	struct rumor_session_event ev;

	(void)state;
	/* random bytes that announce a long handshake message */
	peer_init(&b, 0, 0x21, &testnet);
	peer_start(&b, T0);
	rumor_random(junk, sizeof(junk));
	junk[0] = 0xff;
	junk[1] = 0x0f; /* 4095: over what is left of 4096 after the length */
	deliver(&b, junk, sizeof(junk), 100, T0);
	assert_int_equal(b.closed, 1);
	assert_non_null(strstr(b.reason, "budget"));
	assert_int_equal(rumor_session_output(b.s, &(const uint8_t *){ NULL }), 0);
	/* after CLOSED everything is consumed and ignored */
	rumor_session_recv(b.s, junk, sizeof(junk), T0, &c, &ev);
	assert_int_equal(c, sizeof(junk));
	assert_int_equal(ev.type, RUMOR_SESSION_EV_NONE);
	peer_free(&b);

	/* a small budget: a valid handshake that does not fit */
	{
		struct peer a;

		peer_init(&a, 1, 0x01, &testnet);
		peer_init(&b, 0, 0x21, &testnet);
		b.cfg.limits.pre_handshake_budget = 100; /* message 1 fits, 3 does not */
		expect_handshake_failure(&a, &b, 1);
	}
	/* random bytes of plausible length fail in Noise instead */
	peer_init(&b, 0, 0x21, &testnet);
	peer_start(&b, T0);
	junk[0] = 32;
	junk[1] = 0;
	memset(junk + 2, 0, 32); /* a low-order point */
	deliver(&b, junk, 34, SIZE_MAX, T0);
	assert_int_equal(b.closed, 1);
	assert_non_null(strstr(b.reason, "handshake"));
	peer_free(&b);
}

static void test_flipped_byte(void **state)
{
	struct peer a, b;
	struct rumor_msg m;
	const uint8_t *data;
	uint8_t *copy;
	size_t n;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	connect_pair(&a, &b, T0);
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_GETADDR;
	assert_int_equal(rumor_session_send(a.s, &m, T0), 0);
	n = rumor_session_output(a.s, &data);
	copy = malloc(n);
	assert_non_null(copy);
	memcpy(copy, data, n);
	rumor_session_output_consumed(a.s, n);
	copy[n - 3] ^= 0x04;
	deliver(&b, copy, n, SIZE_MAX, T0);
	free(copy);
	assert_int_equal(b.closed, 1);
	assert_int_equal(b.n_msgs, 0);
	assert_non_null(strstr(b.reason, "transport"));
	assert_int_equal(b.close_code, RUMOR_DISCONNECT_PROTOCOL);
	peer_free(&a);
	peer_free(&b);
}

/* A crafted initiator: drives the Noise handshake by hand with the same
 * keys and prologue as a session, then sends whatever frames it likes. */
struct crafted {
	struct rumor_noise_handshake hs;
	struct rumor_frame_encoder enc;
	struct rumor_frame_decoder dec;
};

static void put_handshake(struct peer *to, const uint8_t *msg, size_t n)
{
	uint8_t buf[512];

	assert_true(n + 2 <= sizeof(buf));
	buf[0] = (uint8_t)n;
	buf[1] = (uint8_t)(n >> 8);
	memcpy(buf + 2, msg, n);
	deliver(to, buf, n + 2, SIZE_MAX, T0);
}

/* Handshake with b (a responder session) as an initiator with p's keys. */
static void crafted_connect(struct crafted *c, struct peer *p, struct peer *b)
{
	uint8_t prologue[46], msg[512], payload[96], signed_msg[81];
	size_t n, pl;
	const uint8_t *data;
	struct rumor_noise_cipher send, recv;

	memcpy(prologue, "rumor/p2p", 10);
	prologue[10] = RUMOR_PROTOCOL_VERSION;
	prologue[11] = prologue[12] = prologue[13] = 0;
	memcpy(prologue + 14, testnet.id, 32);
	assert_int_equal(rumor_noise_handshake_init(&c->hs, RUMOR_NOISE_XX, 1, prologue, 46,
						    p->cfg.noise_static_priv, NULL),
			 0);
	assert_int_equal(rumor_noise_handshake_set_ephemeral(&c->hs, p->cfg.ephemeral_priv), 0);
	assert_int_equal(rumor_noise_handshake_write(&c->hs, NULL, 0, msg, sizeof(msg), &n), 0);
	put_handshake(b, msg, n);
	n = rumor_session_output(b->s, &data);
	assert_true(n > 2);
	assert_int_equal(rumor_noise_handshake_read(&c->hs, data + 2, n - 2, payload,
						    sizeof(payload), &pl),
			 0);
	assert_int_equal(pl, 96);
	rumor_session_output_consumed(b->s, n);
	memcpy(signed_msg, "rumor/identity/v1", 17);
	memcpy(signed_msg + 17, testnet.id, 32);
	memcpy(signed_msg + 49, rumor_noise_handshake_local_static(&c->hs), 32);
	memcpy(payload, p->id_pub, 32);
	rumor_sign(p->id_secret, signed_msg, sizeof(signed_msg), payload + 32);
	assert_int_equal(rumor_noise_handshake_write(&c->hs, payload, 96, msg, sizeof(msg), &n), 0);
	put_handshake(b, msg, n);
	assert_int_equal(rumor_noise_handshake_split(&c->hs, &send, &recv), 0);
	assert_int_equal(rumor_frame_encoder_init(&c->enc, &send, RUMOR_FRAME_REKEY_INTERVAL), 0);
	assert_int_equal(rumor_frame_decoder_init(&c->dec, &recv, RUMOR_FRAME_REKEY_INTERVAL), 0);
	rumor_noise_cipher_free(&send);
	rumor_noise_cipher_free(&recv);
	assert_int_equal(rumor_session_state(b->s), RUMOR_SESSION_AWAIT_HELLO);
	assert_memory_equal(rumor_session_remote_id(b->s), p->id_pub, 32);
}

static void crafted_send(struct crafted *c, struct peer *b, const struct rumor_msg *m)
{
	uint8_t plain[1024], wire[2048];
	size_t n, w;

	assert_int_equal(rumor_msg_encode(m, plain, sizeof(plain), &n), 0);
	assert_int_equal(rumor_frame_encode(&c->enc, plain, n, wire, sizeof(wire), &w), 0);
	deliver(b, wire, w, SIZE_MAX, T0);
}

static void crafted_free(struct crafted *c)
{
	rumor_noise_handshake_free(&c->hs);
	rumor_frame_encoder_free(&c->enc);
	rumor_frame_decoder_free(&c->dec);
}

static void crafted_hello(struct rumor_msg *m, uint32_t version, const char *net,
			  const char *agent, uint64_t nonce)
{
	memset(m, 0, sizeof(*m));
	m->type = RUMOR_MSG_HELLO;
	m->u.hello.version = version;
	m->u.hello.network.ptr = (const uint8_t *)net;
	m->u.hello.network.len = (uint16_t)strlen(net);
	m->u.hello.user_agent.ptr = (const uint8_t *)agent;
	m->u.hello.user_agent.len = (uint16_t)strlen(agent);
	m->u.hello.nonce = nonce;
}

/* b (responder) gets hello-like first message m from a crafted peer. */
static void crafted_first(const struct rumor_msg *m, int want_ready, uint16_t want_code,
			  const char *want_reason)
{
	struct peer a, b;
	struct crafted c;

	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	peer_start(&b, T0);
	crafted_connect(&c, &a, &b);
	crafted_send(&c, &b, m);
	assert_int_equal(b.ready, want_ready);
	assert_int_equal(b.closed, !want_ready);
	if (!want_ready) {
		assert_int_equal(b.close_code, want_code);
		assert_non_null(strstr(b.reason, want_reason));
		assert_int_equal(b.remote_initiated, 0);
	}
	crafted_free(&c);
	peer_free(&a);
	peer_free(&b);
}

static void test_first_message(void **state)
{
	struct rumor_msg m;
	uint8_t item[200];

	(void)state;
	crafted_hello(&m, RUMOR_PROTOCOL_VERSION, "testnet", "crafted/1", 5);
	crafted_first(&m, 1, 0, NULL);
	crafted_hello(&m, RUMOR_PROTOCOL_VERSION + 1, "testnet", "crafted/1", 5);
	crafted_first(&m, 0, RUMOR_DISCONNECT_VERSION, "version");
	crafted_hello(&m, RUMOR_PROTOCOL_VERSION, "othernet", "crafted/1", 5);
	crafted_first(&m, 0, RUMOR_DISCONNECT_PROTOCOL, "othernet");
	crafted_hello(&m, RUMOR_PROTOCOL_VERSION, "testnet", "bad\tagent", 5);
	crafted_first(&m, 0, RUMOR_DISCONNECT_PROTOCOL, "user agent");
	/* our own nonce: READY; the node, not the session, closes with SELF */
	crafted_hello(&m, RUMOR_PROTOCOL_VERSION, "testnet", "crafted/1", 0x2222222222222222u);
	crafted_first(&m, 1, 0, NULL);

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_TX;
	fill(item, sizeof(item), 1);
	m.u.tx.item.ptr = item;
	m.u.tx.item.len = sizeof(item);
	crafted_first(&m, 0, RUMOR_DISCONNECT_PROTOCOL, "expected hello");
}

static void test_unknown_optional_and_second_hello(void **state)
{
	struct peer a, b;
	struct crafted c;
	struct rumor_msg m;
	uint8_t plain[] = { 0x34, 0x12, RUMOR_MSG_FLAG_OPTIONAL, 1, 2, 3 };
	uint8_t wire[128];
	size_t w;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	peer_start(&b, T0);
	crafted_connect(&c, &a, &b);
	crafted_hello(&m, RUMOR_PROTOCOL_VERSION, "testnet", "crafted/1", 5);
	crafted_send(&c, &b, &m);
	assert_int_equal(b.ready, 1);
	/* unknown optional type 0x1234: skipped silently */
	assert_int_equal(rumor_frame_encode(&c.enc, plain, sizeof(plain), wire, sizeof(wire), &w),
			 0);
	deliver(&b, wire, w, SIZE_MAX, T0);
	assert_int_equal(b.closed, 0);
	assert_int_equal(b.n_msgs, 0);
	/* the same as mandatory: protocol error */
	plain[2] = 0;
	assert_int_equal(rumor_frame_encode(&c.enc, plain, sizeof(plain), wire, sizeof(wire), &w),
			 0);
	deliver(&b, wire, w, SIZE_MAX, T0);
	assert_int_equal(b.closed, 1);
	assert_non_null(strstr(b.reason, "bad message"));
	crafted_free(&c);
	peer_free(&a);
	peer_free(&b);

	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	peer_start(&b, T0);
	crafted_connect(&c, &a, &b);
	crafted_send(&c, &b, &m);
	crafted_send(&c, &b, &m);
	assert_int_equal(b.closed, 1);
	assert_non_null(strstr(b.reason, "second hello"));
	crafted_free(&c);
	peer_free(&a);
	peer_free(&b);
}

static void test_disconnect(void **state)
{
	struct peer a, b;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	connect_pair(&a, &b, T0);
	rumor_session_close(a.s, RUMOR_DISCONNECT_REQUESTED, "operator said so");
	assert_int_equal(rumor_session_state(a.s), RUMOR_SESSION_CLOSED);
	assert_string_equal(rumor_session_close_reason(a.s), "operator said so");
	assert_int_equal(rumor_session_expiry(a.s), UINT64_MAX);
	expiry_event(&a, T0);
	assert_int_equal(a.closed, 0); /* no event for our own close */
	flush(&a, &b, SIZE_MAX, T0);
	assert_int_equal(b.closed, 1);
	assert_int_equal(b.remote_initiated, 1);
	assert_int_equal(b.close_code, RUMOR_DISCONNECT_REQUESTED);
	assert_string_equal(b.reason, "operator said so");
	assert_string_equal(rumor_session_close_reason(b.s), "operator said so");
	/* remote id and hello stay readable after the close */
	assert_memory_equal(rumor_session_remote_id(b.s), a.id_pub, 32);
	assert_non_null(rumor_session_remote_hello(b.s));
	rumor_session_close(a.s, RUMOR_DISCONNECT_REQUESTED, "twice"); /* no-op */
	assert_string_equal(rumor_session_close_reason(a.s), "operator said so");
	peer_free(&a);
	peer_free(&b);

	/* closing in the handshake sends nothing */
	peer_init(&a, 1, 0x01, &testnet);
	peer_start(&a, T0);
	drop_output(&a);
	rumor_session_close(a.s, RUMOR_DISCONNECT_SHUTDOWN, NULL);
	assert_int_equal(rumor_session_output(a.s, &(const uint8_t *){ NULL }), 0);
	assert_non_null(rumor_session_close_reason(a.s));
	peer_free(&a);
}

static void test_output_hard_limit(void **state)
{
	struct peer a, b;
	struct rumor_msg m;
	uint8_t *big;
	int rc = 0, sent = 0;
	size_t item = 1000 * 1000;

	(void)state;
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	connect_pair(&a, &b, T0);
	big = calloc(1, item);
	assert_non_null(big);
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_BLOCK;
	m.u.block.item.ptr = big;
	m.u.block.item.len = (uint32_t)item;
	while (sent < 100) {
		rc = rumor_session_send(a.s, &m, T0);
		if (rc != 0)
			break;
		sent++;
	}
	assert_int_equal(rc, -ENOBUFS);
	assert_int_equal(sent, 16); /* 16 MiB / ~1 MB */
	assert_true(rumor_session_output(a.s, &(const uint8_t *){ NULL }) <= 16u * 1024 * 1024);
	assert_int_equal(rumor_session_state(a.s), RUMOR_SESSION_CLOSED);
	assert_int_equal(rumor_session_expiry(a.s), 0); /* the event is pending */
	expiry_event(&a, T0);
	assert_int_equal(a.closed, 1);
	assert_non_null(strstr(a.reason, "hard limit"));
	assert_int_equal(rumor_session_expiry(a.s), UINT64_MAX);
	assert_int_equal(rumor_session_send(a.s, &m, T0), -EPROTO);
	free(big);
	peer_free(&a);
	peer_free(&b);
}

/* ---- the worked example of doc/protocol.md ---- */

/* Takes the first `take` bytes of p's output (0: all of it) and compares
 * them with the doc's example NAME (or prints them when RUMOR_PRINT_EXAMPLES
 * is set, to write the doc). */
static void check_example(struct peer *p, const char *name, size_t take, uint8_t *copy,
			  size_t *len)
{
	const uint8_t *data;
	size_t n = rumor_session_output(p->s, &data), doc_len, i;
	uint8_t *doc;

	assert_true(n > 0 && n <= 4096);
	assert_true(take <= n);
	if (take)
		n = take;
	memcpy(copy, data, n);
	*len = n;
	rumor_session_output_consumed(p->s, n);
	if (getenv("RUMOR_PRINT_EXAMPLES")) {
		printf("<!-- example: %s -->\n```\n", name);
		for (i = 0; i < n; i++)
			printf("%02x%s", copy[i], (i % 32 == 31 || i + 1 == n) ? "\n" : "");
		printf("```\n\n");
		return;
	}
	doc = doc_example(name, &doc_len);
	assert_int_equal(doc_len, n);
	assert_memory_equal(doc, copy, n);
	free(doc);
}

/* Compares the doc's example NAME with want[0..len). */
static void check_doc_bytes(const char *name, const uint8_t *want, size_t len)
{
	size_t n;
	uint8_t *doc = doc_example(name, &n);

	assert_int_equal(n, len);
	assert_memory_equal(doc, want, len);
	free(doc);
}

/* The identity proof p sends, computed independently of net/session.c. */
static void example_proof(const struct peer *p, uint8_t proof[96])
{
	uint8_t signed_msg[81], static_pub[32];

	assert_int_equal(crypto_scalarmult_base(static_pub, p->cfg.noise_static_priv), 0);
	memcpy(signed_msg, "rumor/identity/v1", 17);
	memcpy(signed_msg + 17, testnet.id, 32);
	memcpy(signed_msg + 49, static_pub, 32);
	memcpy(proof, p->id_pub, 32);
	rumor_sign(p->id_secret, signed_msg, sizeof(signed_msg), proof + 32);
}

static void check_doc_hello(const char *name, const struct rumor_msg_hello *h)
{
	struct rumor_msg m;
	uint8_t buf[512];
	size_t n;

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_HELLO;
	m.u.hello = *h;
	assert_int_equal(rumor_msg_encode(&m, buf, sizeof(buf), &n), 0);
	check_doc_bytes(name, buf, n);
}

static void test_protocol_example(void **state)
{
	struct peer a, b;
	uint8_t buf[4096], proof[96];
	size_t n;

	(void)state;
	/* identity seeds 01..20 and 21..40, Noise statics 41..60 and 61..80,
	 * ephemerals 81..a0 and a1..c0, network "testnet", no PSK */
	peer_init(&a, 1, 0x01, &testnet);
	peer_init(&b, 0, 0x21, &testnet);
	peer_start(&a, T0);
	peer_start(&b, T0);
	check_example(&a, "handshake-1", 0, buf, &n);
	assert_int_equal(n, 2 + 32);
	deliver(&b, buf, n, SIZE_MAX, T0);
	check_example(&b, "handshake-2", 0, buf, &n);
	assert_int_equal(n, 2 + 32 + 48 + 96 + 16);
	deliver(&a, buf, n, SIZE_MAX, T0);
	/* a's output: message 3, then its framed hello */
	check_example(&a, "handshake-3", 2 + 48 + 96 + 16, buf, &n);
	deliver(&b, buf, n, SIZE_MAX, T0);
	assert_int_equal(rumor_session_state(b.s), RUMOR_SESSION_AWAIT_HELLO);
	check_example(&a, "hello-initiator", 0, buf, &n);
	deliver(&b, buf, n, SIZE_MAX, T0);
	assert_int_equal(b.ready, 1);
	check_example(&b, "hello-responder", 0, buf, &n);
	deliver(&a, buf, n, SIZE_MAX, T0);
	assert_int_equal(a.ready, 1);
	check_ready_pair(&a, &b);
	if (!getenv("RUMOR_PRINT_EXAMPLES")) {
		check_doc_bytes("initiator-id", a.id_pub, 32);
		check_doc_bytes("responder-id", b.id_pub, 32);
		example_proof(&a, proof);
		check_doc_bytes("initiator-proof", proof, 96);
		example_proof(&b, proof);
		check_doc_bytes("responder-proof", proof, 96);
		check_doc_hello("hello-initiator-plaintext", rumor_session_remote_hello(b.s));
		check_doc_hello("hello-responder-plaintext", rumor_session_remote_hello(a.s));
	}
	peer_free(&a);
	peer_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_handshake_psk),
		cmocka_unit_test(test_handshake_byte_at_a_time),
		cmocka_unit_test(test_expected_id),
		cmocka_unit_test(test_wrong_network),
		cmocka_unit_test(test_wrong_psk),
		cmocka_unit_test(test_messages),
		cmocka_unit_test(test_send_before_ready),
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_handshake_timeout),
		cmocka_unit_test(test_pre_handshake_budget),
		cmocka_unit_test(test_flipped_byte),
		cmocka_unit_test(test_first_message),
		cmocka_unit_test(test_unknown_optional_and_second_hello),
		cmocka_unit_test(test_disconnect),
		cmocka_unit_test(test_output_hard_limit),
	};
	const struct CMUnitTest doc_tests[] = {
		cmocka_unit_test(test_protocol_example),
	};
	int failed;

	failed = cmocka_run_group_tests(tests, setup, NULL);
	failed += cmocka_run_group_tests(doc_tests, doc_examples_load, doc_examples_free);
	return failed ? 1 : 0;
}
