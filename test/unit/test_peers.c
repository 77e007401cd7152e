/*
 * Unit tests for src/peers.c and src/conn.c: peer managers on a real libuv
 * loop over 127.0.0.x, in one process, each with a node core (net/core.h)
 * for its policy (self, duplicate, dial targets) and a small shell that
 * carries out the core's CLOSE, DIAL and SEND actions.  Every test counts
 * the callbacks it expects and ends by closing every manager and checking
 * that uv_loop_close() finds nothing open.  (The policy itself, with exact
 * times, is tested in test_core.c.)
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <uv.h>

#include "crypto/item.h"
#include "crypto/sign.h"
#include "net/core.h"
#include "net/session.h"
#include "src/log.h"
#include "src/peers.h"
#include "src/resolver.h"
#include "test/unit/slow_dns.h"

#define WAIT_MS 5000

struct side {
	struct rumor_peers *peers;
	struct rumor_core *core;
	uv_check_t check;
	uv_timer_t timer;
	int handles;
	uint64_t nonce;
	uint8_t pub[32];
	uint8_t secret[RUMOR_SECRET_SIZE];
	int ready_events;
	int closed_events;
	int closed_was_ready;
	int messages;
	uint16_t last_msg_type;
	char last_reason[300];
	int done;
};

static uv_loop_t loop;
static struct rumor_network network;

static void hook_ready(void *arg, struct rumor_peer *peer)
{
	struct side *s = arg;
	assert_non_null(rumor_peer_id(peer));
	s->ready_events++;
}

static void hook_message(void *arg, struct rumor_peer *peer, const struct rumor_msg *msg)
{
	(void)peer;
	struct side *s = arg;
	s->messages++;
	s->last_msg_type = msg->type;
}

static void hook_closed(void *arg, struct rumor_peer *peer, int was_ready, const char *reason)
{
	(void)peer;
	struct side *s = arg;
	s->closed_events++;
	s->closed_was_ready += was_ready;
	snprintf(s->last_reason, sizeof(s->last_reason), "%s", reason);
}

static void on_done(void *arg)
{
	struct side *s = arg;
	s->done++;
	s->peers = NULL;
}

/* ---- the side's shell: the core's actions --------------------------- */

static uint64_t mono_us(void)
{
	return uv_hrtime() / 1000;
}

static void side_timer(uv_timer_t *t);

static void side_drain(struct side *s)
{
	for (;;) {
		struct rumor_core_action a;
		rumor_core_next_action(s->core, &a);
		if (a.type == RUMOR_CORE_NONE)
			break;
		switch (a.type) {
		case RUMOR_CORE_SEND:
			rumor_peer_send(a.peer_data, a.msg);
			break;
		case RUMOR_CORE_CLOSE:
			rumor_peer_close(a.peer_data, a.code, a.reason);
			break;
		case RUMOR_CORE_DIAL:
			if (s->peers)
				rumor_peers_dial(s->peers, a.target, a.addr);
			else
				rumor_core_dial_failed(s->core, a.target, 0, mono_us());
			break;
		default:
			fail_msg("unexpected core action %d", (int)a.type);
		}
	}
	uint64_t e = rumor_core_expiry(s->core), now = mono_us();
	if (e == UINT64_MAX)
		uv_timer_stop(&s->timer);
	else
		uv_timer_start(&s->timer, side_timer, e <= now ? 0 : (e - now + 999) / 1000, 0);
}

static void side_check(uv_check_t *c)
{
	uv_check_stop(c);
	side_drain(c->data);
}

static void side_timer(uv_timer_t *t)
{
	struct side *s = t->data;
	rumor_core_handle_expiry(s->core, mono_us());
	side_drain(s);
}

static void side_kick(void *arg)
{
	struct side *s = arg;
	if (s->handles)
		uv_check_start(&s->check, side_check);
}

static void side_handle_closed(uv_handle_t *h)
{
	struct side *s = h->data;
	s->handles--;
}

/* ---- running the loop ------------------------------------------------ */

static uv_timer_t tick;
static int tick_closed;

static void on_tick(uv_timer_t *t)
{
	(void)t;
}

static void on_tick_closed(uv_handle_t *h)
{
	(void)h;
	tick_closed = 1;
}

/* Runs the loop until cond(arg) holds or ms pass.  Returns cond's value. */
static int run_until(int (*cond)(void *), void *arg, unsigned ms)
{
	uv_timer_init(&loop, &tick);
	uv_timer_start(&tick, on_tick, 5, 5);
	uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
	int ok;
	while (!(ok = cond(arg)) && uv_hrtime() < deadline)
		uv_run(&loop, UV_RUN_ONCE);
	tick_closed = 0;
	uv_close((uv_handle_t *)&tick, on_tick_closed);
	while (!tick_closed)
		uv_run(&loop, UV_RUN_ONCE);
	return ok;
}

static int never(void *arg)
{
	(void)arg;
	return 0;
}

static void run_for(unsigned ms)
{
	run_until(never, NULL, ms);
}

/* ---- sides ----------------------------------------------------------- */

static void side_keys(struct side *s)
{
	memset(s, 0, sizeof(*s));
	rumor_sign_keypair_random(s->pub, s->secret);
	do
		rumor_random(&s->nonce, sizeof(s->nonce));
	while (!s->nonce);
}

static void side_config(struct side *s, struct rumor_peers_config *cfg)
{
	rumor_peers_config_default(cfg);
	cfg->network = &network;
	cfg->identity_secret = s->secret;
	cfg->hello_nonce = s->nonce;
	cfg->kick = side_kick;
	cfg->on_ready = hook_ready;
	cfg->on_message = hook_message;
	cfg->on_closed = hook_closed;
	cfg->hook_arg = s;
}

static void listen_config(struct rumor_peers_config *cfg)
{
	cfg->listen = 1;
	cfg->listen_required = 1;
	snprintf(cfg->listen_host, sizeof(cfg->listen_host), "127.0.0.1");
	cfg->listen_port = 0;
}

static void start_side(struct side *s, const struct rumor_peers_config *cfg_in)
{
	char err[256] = "";
	struct rumor_core_config cc;
	rumor_core_config_default(&cc);
	cc.network = &network;
	memcpy(cc.node_id, s->pub, 32);
	cc.hello_nonce = s->nonce;
	rumor_random(cc.seed, sizeof(cc.seed));
	cc.redial_min_us = 50000;
	cc.redial_max_us = 400000;
	assert_int_equal(rumor_core_new(&s->core, &cc, mono_us()), 0);
	uv_check_init(&loop, &s->check);
	uv_timer_init(&loop, &s->timer);
	s->check.data = s->timer.data = s;
	s->handles = 2;
	struct rumor_peers_config cfg = *cfg_in;
	cfg.core = s->core;
	cfg.hook_arg = s;
	if (rumor_peers_start(&s->peers, &loop, &cfg, err, sizeof(err)) != 0)
		fail_msg("rumor_peers_start: %s", err);
}

/* The side's core dials t (kept connected, redialled). */
static void side_target(struct side *s, const struct rumor_connect_target *t)
{
	struct rumor_core_addr a;
	memset(&a, 0, sizeof(a));
	snprintf(a.host, sizeof(a.host), "%s", t->host);
	a.port = (uint16_t)t->port;
	a.has_id = t->has_id;
	memcpy(a.id, t->id, 32);
	assert_int_equal(rumor_core_target_add(s->core, &a, 0, mono_us(), NULL), 0);
	side_kick(s);
}

static int side_handles_gone(void *arg)
{
	return ((struct side *)arg)->handles == 0;
}

static void target(struct rumor_connect_target *t, const uint8_t *id, int port)
{
	memset(t, 0, sizeof(*t));
	if (id) {
		t->has_id = 1;
		memcpy(t->id, id, 32);
	}
	snprintf(t->host, sizeof(t->host), "127.0.0.1");
	t->port = port;
}

static int side_done(void *arg)
{
	return ((struct side *)arg)->done == 1;
}

static void close_side(struct side *s)
{
	if (!s->peers)
		return;
	rumor_peers_close(s->peers, on_done, s);
	assert_true(run_until(side_done, s, WAIT_MS));
	assert_int_equal(s->done, 1);
	uv_close((uv_handle_t *)&s->check, side_handle_closed);
	uv_close((uv_handle_t *)&s->timer, side_handle_closed);
	assert_true(run_until(side_handles_gone, s, WAIT_MS));
	rumor_core_del(s->core);
	s->core = NULL;
}

static int setup(void **state)
{
	(void)state;
	return uv_loop_init(&loop);
}

static int teardown(void **state)
{
	(void)state;
	uv_run(&loop, UV_RUN_NOWAIT);
	int rc = uv_loop_close(&loop);
	if (rc != 0)
		uv_print_all_handles(&loop, stderr);
	assert_int_equal(rc, 0);
	return 0;
}

/* ---- getpeerinfo view ------------------------------------------------ */

struct view {
	int count;
	struct rumor_peer_info info;
	struct rumor_session_stats stats;
	char addr[64];
	char user_agent[300];
};

static void collect(void *arg, const struct rumor_peer_info *info)
{
	struct view *v = arg;
	v->count++;
	v->info = *info;
	v->stats = *info->stats;
	snprintf(v->addr, sizeof(v->addr), "%s", info->addr);
	snprintf(v->user_agent, sizeof(v->user_agent), "%.*s", (int)info->user_agent_len,
		 (const char *)info->user_agent);
	v->info.addr = v->addr;
	v->info.stats = &v->stats;
}

static void view(struct side *s, struct view *v)
{
	memset(v, 0, sizeof(*v));
	rumor_peers_foreach(s->peers, collect, v);
}

static int both_ready(void *arg)
{
	struct side **pair = arg;
	return rumor_peers_ready_count(pair[0]->peers) == 1 &&
	       rumor_peers_ready_count(pair[1]->peers) == 1;
}

static int bytes_settled(void *arg)
{
	struct side **pair = arg;
	struct view a, b;
	view(pair[0], &a);
	view(pair[1], &b);
	return a.count == 1 && b.count == 1 && a.stats.bytes_sent == b.stats.bytes_recv &&
	       a.stats.bytes_recv == b.stats.bytes_sent;
}

static int got_message(void *arg)
{
	return ((struct side *)arg)->messages > 0;
}

static int closed_once(void *arg)
{
	return ((struct side *)arg)->closed_events > 0;
}

static int closed_twice(void *arg)
{
	return ((struct side *)arg)->closed_events >= 2;
}

static void test_connect_and_peerinfo(void **state)
{
	(void)state;
	struct side a, b;
	side_keys(&a);
	side_keys(&b);
	struct rumor_peers_config cfg;
	side_config(&a, &cfg);
	listen_config(&cfg);
	start_side(&a, &cfg);
	int port = rumor_peers_listen_port(a.peers);
	assert_true(port > 0);

	struct rumor_connect_target t;
	target(&t, a.pub, port);
	side_config(&b, &cfg);
	start_side(&b, &cfg);
	side_target(&b, &t);
	assert_int_equal(rumor_peers_listen_port(b.peers), 0);

	struct side *pair[2] = {&a, &b};
	assert_true(run_until(both_ready, pair, WAIT_MS));
	assert_int_equal(a.ready_events, 1);
	assert_int_equal(b.ready_events, 1);
	assert_true(run_until(bytes_settled, pair, WAIT_MS));

	int64_t now_us = (int64_t)time(NULL) * 1000000;
	struct view va, vb;
	view(&a, &va);
	view(&b, &vb);
	/* a sees b: inbound from 127.0.0.1 */
	assert_int_equal(va.count, 1);
	assert_memory_equal(va.info.node_id, b.pub, 32);
	assert_int_equal(va.info.inbound, 1);
	assert_int_equal(strncmp(va.addr, "127.0.0.1:", 10), 0);
	assert_int_equal(va.info.version, RUMOR_PROTOCOL_VERSION);
	assert_string_equal(va.user_agent, RUMOR_SESSION_USER_AGENT);
	assert_true(va.stats.bytes_sent > 0 && va.stats.bytes_recv > 0);
	assert_true(va.stats.recv_by_type[0] > 0);                /* handshake */
	assert_true(va.stats.recv_by_type[RUMOR_MSG_HELLO] > 0);
	assert_true(va.stats.sent_by_type[RUMOR_MSG_HELLO] > 0);
	assert_int_equal(va.stats.ping_us, -1);
	assert_true(va.info.conn_since_us > now_us - 60 * 1000000LL &&
		    va.info.conn_since_us < now_us + 60 * 1000000LL);
	/* b sees a: outbound to the address it dialled */
	assert_int_equal(vb.count, 1);
	assert_memory_equal(vb.info.node_id, a.pub, 32);
	assert_int_equal(vb.info.inbound, 0);
	char want[64];
	snprintf(want, sizeof(want), "127.0.0.1:%d", port);
	assert_string_equal(vb.addr, want);
	/* every wire byte is in some slot, both ways */
	uint64_t sum = 0;
	for (size_t i = 0; i < RUMOR_SESSION_STAT_SLOTS; i++)
		sum += vb.stats.sent_by_type[i];
	assert_int_equal(sum, vb.stats.bytes_sent);
	assert_int_equal(va.stats.recv_by_type[0], vb.stats.sent_by_type[0]);

	/* The message hook: b sends getaddr, a's hook sees it. */
	struct rumor_msg m;
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_GETADDR;
	assert_int_equal(rumor_peer_send(vb.info.peer, &m), 0);
	assert_true(run_until(got_message, &a, WAIT_MS));
	assert_int_equal(a.messages, 1);
	assert_int_equal(a.last_msg_type, RUMOR_MSG_GETADDR);
	assert_int_equal(b.messages, 0);

	/* a shuts down: b hears disconnect(shutdown) and its peer goes away. */
	close_side(&a);
	assert_true(run_until(closed_once, &b, WAIT_MS));
	assert_int_equal(b.closed_was_ready, 1);
	assert_non_null(strstr(b.last_reason, "shutting down"));
	assert_int_equal(rumor_peers_ready_count(b.peers), 0);
	close_side(&b);
	assert_int_equal(a.closed_events, 1);
	assert_int_equal(a.closed_was_ready, 1);
}

static void test_expected_id_mismatch(void **state)
{
	(void)state;
	struct side a, b;
	side_keys(&a);
	side_keys(&b);
	struct rumor_peers_config cfg;
	side_config(&a, &cfg);
	listen_config(&cfg);
	start_side(&a, &cfg);

	uint8_t wrong[32];
	memcpy(wrong, a.pub, 32);
	wrong[0] ^= 1;
	struct rumor_connect_target t;
	target(&t, wrong, rumor_peers_listen_port(a.peers));
	side_config(&b, &cfg);
	start_side(&b, &cfg);
	side_target(&b, &t);

	assert_true(run_until(closed_once, &b, WAIT_MS));
	assert_non_null(strstr(b.last_reason, "expected"));
	assert_int_equal(b.closed_was_ready, 0);
	assert_int_equal(b.ready_events, 0);
	/* It keeps refusing as it redials. */
	assert_true(run_until(closed_twice, &b, WAIT_MS));
	assert_int_equal(a.ready_events, 0);
	assert_int_equal(b.ready_events, 0);
	close_side(&b);
	close_side(&a);
}

/* Raw TCP clients for the inbound limits. */
struct raw {
	uv_tcp_t tcp;
	uv_connect_t req;
	int connected, eof, closed;
	char buf[256];
};

static void raw_alloc(uv_handle_t *h, size_t n, uv_buf_t *buf)
{
	(void)n;
	struct raw *r = h->data;
	*buf = uv_buf_init(r->buf, sizeof(r->buf));
}

static void raw_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
	(void)buf;
	struct raw *r = st->data;
	if (n < 0)
		r->eof = 1;
}

static void raw_connected(uv_connect_t *req, int status)
{
	struct raw *r = req->data;
	if (status == 0) {
		r->connected = 1;
		uv_read_start((uv_stream_t *)&r->tcp, raw_alloc, raw_read);
	} else {
		r->eof = 1;
	}
}

static void raw_closed(uv_handle_t *h)
{
	((struct raw *)h->data)->closed = 1;
}

static void raw_connect(struct raw *r, const char *from, int port)
{
	memset(r, 0, sizeof(*r));
	assert_int_equal(uv_tcp_init(&loop, &r->tcp), 0);
	r->tcp.data = r;
	r->req.data = r;
	struct sockaddr_in src, dst;
	assert_int_equal(uv_ip4_addr(from, 0, &src), 0);
	assert_int_equal(uv_tcp_bind(&r->tcp, (struct sockaddr *)&src, 0), 0);
	assert_int_equal(uv_ip4_addr("127.0.0.1", port, &dst), 0);
	assert_int_equal(uv_tcp_connect(&r->req, &r->tcp, (struct sockaddr *)&dst, raw_connected),
			 0);
}

struct raws {
	struct raw *r;
	int n;
};

static int all_connected(void *arg)
{
	struct raws *rs = arg;
	for (int i = 0; i < rs->n; i++)
		if (!rs->r[i].connected && !rs->r[i].eof)
			return 0;
	return 1;
}

static int eof_of(void *arg)
{
	return ((struct raw *)arg)->eof;
}

static int all_closed(void *arg)
{
	struct raws *rs = arg;
	for (int i = 0; i < rs->n; i++)
		if (!rs->r[i].closed)
			return 0;
	return 1;
}

static void test_inbound_limits(void **state)
{
	(void)state;
	struct side a;
	side_keys(&a);
	struct rumor_peers_config cfg;
	side_config(&a, &cfg);
	listen_config(&cfg);
	cfg.max_handshakes = 3;
	cfg.max_handshakes_per_netgroup = 2;
	cfg.loopback_netgroups = 1; /* 127.a.0.0/16: one group per a */
	start_side(&a, &cfg);
	int port = rumor_peers_listen_port(a.peers);

	struct raw r[5];
	struct raws rs = {r, 0};
	/* Two from 127.0.0.1 are kept (waiting in the handshake); a third
	 * from the same network group (127.0.0.2) is refused at once. */
	for (int i = 0; i < 3; i++) {
		raw_connect(&r[i], i == 2 ? "127.0.0.2" : "127.0.0.1", port);
		rs.n = i + 1;
		assert_true(run_until(all_connected, &rs, WAIT_MS));
		run_for(50);
	}
	assert_true(run_until(eof_of, &r[2], WAIT_MS));
	assert_int_equal(r[0].eof, 0);
	assert_int_equal(r[1].eof, 0);
	/* Another group is welcome: 3 handshakes in all. */
	raw_connect(&r[3], "127.1.0.1", port);
	rs.n = 4;
	assert_true(run_until(all_connected, &rs, WAIT_MS));
	run_for(100);
	assert_int_equal(r[3].eof, 0);
	/* A fourth handshake is over max_handshakes, whatever its group. */
	raw_connect(&r[4], "127.2.0.1", port);
	rs.n = 5;
	assert_true(run_until(eof_of, &r[4], WAIT_MS));
	assert_int_equal(r[0].eof + r[1].eof + r[3].eof, 0);
	/* Refused connections never started a session: no closed hook. */
	assert_int_equal(a.closed_events, 0);

	/* After one leaves (its session had started: the closed hook runs),
	 * 127.0.0.1 may connect again. */
	uv_close((uv_handle_t *)&r[0].tcp, raw_closed);
	assert_true(run_until(closed_once, &a, WAIT_MS));
	run_for(50);
	raw_connect(&r[0], "127.0.0.1", port);
	run_for(200);
	assert_int_equal(r[0].eof, 0);

	/* Shutdown closes the ones still in the handshake. */
	close_side(&a);
	assert_true(run_until(eof_of, &r[0], WAIT_MS));
	assert_true(r[1].eof && r[3].eof);
	for (int i = 0; i < 5; i++)
		if (!uv_is_closing((uv_handle_t *)&r[i].tcp))
			uv_close((uv_handle_t *)&r[i].tcp, raw_closed);
	assert_true(run_until(all_closed, &rs, WAIT_MS));
}

static void test_self_connection(void **state)
{
	(void)state;
	struct side a;
	side_keys(&a);
	struct rumor_peers_config cfg;
	side_config(&a, &cfg);
	listen_config(&cfg);
	/* Find a free port, then start a manager that listens on it and dials
	 * it: the hello nonce is per manager, so both ends see their own. */
	start_side(&a, &cfg);
	int port = rumor_peers_listen_port(a.peers);
	close_side(&a);

	side_keys(&a);
	side_config(&a, &cfg);
	listen_config(&cfg);
	cfg.listen_port = port; /* the port just freed */
	struct rumor_connect_target t;
	target(&t, NULL, port);
	start_side(&a, &cfg);
	side_target(&a, &t);
	/* Both ends of the one connection close; no redial follows. */
	assert_true(run_until(closed_twice, &a, WAIT_MS));
	run_for(300);
	assert_int_equal(a.ready_events, 0);
	assert_int_equal(a.closed_events, 2);
	assert_non_null(strstr(a.last_reason, "ourselves"));
	close_side(&a);
}

static int dup_settled(void *arg)
{
	struct side **pair = arg;
	return both_ready(arg) && pair[1]->closed_events > 0;
}

static void test_duplicate(void **state)
{
	(void)state;
	struct side a, b;
	side_keys(&a);
	side_keys(&b);
	struct rumor_peers_config cfg;
	side_config(&a, &cfg);
	listen_config(&cfg);
	start_side(&a, &cfg);
	int port = rumor_peers_listen_port(a.peers);
	struct rumor_connect_target t[2];
	target(&t[0], a.pub, port);
	target(&t[1], NULL, port);
	side_config(&b, &cfg);
	start_side(&b, &cfg);
	side_target(&b, &t[0]);
	side_target(&b, &t[1]);

	struct side *pair[2] = {&a, &b};
	assert_true(run_until(dup_settled, pair, WAIT_MS));
	run_for(300);
	assert_int_equal(rumor_peers_ready_count(a.peers), 1);
	assert_int_equal(rumor_peers_ready_count(b.peers), 1);
	assert_int_equal(b.ready_events, 1);
	assert_int_equal(b.closed_was_ready, 0);
	assert_non_null(strstr(b.last_reason, "already connected"));
	close_side(&b);
	close_side(&a);
}

/* Nodes of a private network need the same pre-shared key. */
static void test_network_psk(void **state)
{
	(void)state;
	struct side a, b, c;
	side_keys(&a);
	side_keys(&b);
	side_keys(&c);
	struct rumor_peers_config cfg;
	side_config(&a, &cfg);
	listen_config(&cfg);
	cfg.has_psk = 1;
	memset(cfg.psk, 7, sizeof(cfg.psk));
	start_side(&a, &cfg);
	struct rumor_connect_target t;
	target(&t, a.pub, rumor_peers_listen_port(a.peers));

	side_config(&b, &cfg); /* the same key */
	cfg.has_psk = 1;
	memset(cfg.psk, 7, sizeof(cfg.psk));
	start_side(&b, &cfg);
	side_target(&b, &t);
	side_config(&c, &cfg); /* another key */
	cfg.has_psk = 1;
	memset(cfg.psk, 8, sizeof(cfg.psk));
	start_side(&c, &cfg);
	side_target(&c, &t);

	struct side *pair[2] = {&a, &b};
	assert_true(run_until(both_ready, pair, WAIT_MS));
	/* XXpsk3 mixes the key in message 3: a fails it and hangs up. */
	assert_true(run_until(closed_once, &c, WAIT_MS));
	assert_int_equal(c.ready_events, 0);
	assert_int_equal(c.closed_was_ready, 0);
	run_for(100);
	assert_int_equal(rumor_peers_ready_count(a.peers), 1);
	close_side(&c);
	close_side(&b);
	close_side(&a);
}

static void test_listen_failure(void **state)
{
	(void)state;
	struct side a, b;
	side_keys(&a);
	side_keys(&b);
	struct rumor_peers_config cfg;
	side_config(&a, &cfg);
	listen_config(&cfg);
	start_side(&a, &cfg);
	/* The same port again: an explicit listen fails, a default one warns. */
	side_config(&b, &cfg);
	listen_config(&cfg);
	cfg.listen_port = rumor_peers_listen_port(a.peers);
	char err[256] = "";
	assert_int_equal(rumor_peers_start(&b.peers, &loop, &cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "cannot listen for peers on 127.0.0.1:"));
	assert_null(b.peers);
	cfg.listen_required = 0;
	start_side(&b, &cfg);
	assert_int_equal(rumor_peers_listen_port(b.peers), 0);
	close_side(&b);
	close_side(&a);
}

/* A target given by name goes through the resolver (the system's
 * getaddrinfo reads "127.1" as 127.0.0.1 without asking a DNS server;
 * libuv's own address parser refuses it). */
static void test_dial_by_name(void **state)
{
	(void)state;
	struct side a, b;
	side_keys(&a);
	side_keys(&b);
	struct rumor_peers_config cfg;
	side_config(&a, &cfg);
	listen_config(&cfg);
	start_side(&a, &cfg);
	struct rumor_connect_target t;
	target(&t, a.pub, rumor_peers_listen_port(a.peers));
	snprintf(t.host, sizeof(t.host), "127.1");
	side_config(&b, &cfg);
	start_side(&b, &cfg);
	side_target(&b, &t);
	struct side *pair[2] = {&a, &b};
	assert_true(run_until(both_ready, pair, WAIT_MS));
	close_side(&b);
	close_side(&a);
	assert_int_equal(slow_dns_wait_threads_gone(WAIT_MS), 0);
}

static int entered_one(void *arg)
{
	(void)arg;
	return slow_dns_entered() == 1;
}

/* Shutdown does not wait for a lookup that hangs (a DNS server that does
 * not answer): the manager closes, the thread finishes on its own later. */
static void test_close_during_lookup(void **state)
{
	(void)state;
	slow_dns_reset(0);
	struct side b;
	side_keys(&b);
	struct rumor_peers_config cfg;
	side_config(&b, &cfg);
	cfg.getaddrinfo = slow_dns_getaddrinfo;
	struct rumor_connect_target t;
	target(&t, NULL, 9);
	snprintf(t.host, sizeof(t.host), "hung.test");
	start_side(&b, &cfg);
	side_target(&b, &t);
	assert_true(run_until(entered_one, NULL, WAIT_MS));
	close_side(&b); /* done within WAIT_MS, the lookup still hanging */
	assert_int_equal(slow_dns_returned(), 0);
	assert_int_equal(rumor_resolver_threads(), 1);
	slow_dns_release();
	assert_int_equal(slow_dns_wait_threads_gone(WAIT_MS), 0);
}

/* addnode remove during the lookup: the target goes at once, and the late
 * answer dials nothing. */
static void test_remove_during_lookup(void **state)
{
	(void)state;
	slow_dns_reset(0);
	struct side a, b;
	side_keys(&a);
	side_keys(&b);
	struct rumor_peers_config cfg;
	side_config(&a, &cfg);
	listen_config(&cfg);
	start_side(&a, &cfg);
	side_config(&b, &cfg);
	cfg.getaddrinfo = slow_dns_getaddrinfo;
	start_side(&b, &cfg);
	struct rumor_connect_target t;
	target(&t, NULL, rumor_peers_listen_port(a.peers)); /* the answer is 127.0.0.1 */
	snprintf(t.host, sizeof(t.host), "slow.test");
	side_target(&b, &t);
	assert_true(run_until(entered_one, NULL, WAIT_MS));
	struct rumor_core_addr addr;
	memset(&addr, 0, sizeof(addr));
	snprintf(addr.host, sizeof(addr.host), "%s", t.host);
	addr.port = (uint16_t)t.port;
	rumor_core_target target = rumor_core_find_target(b.core, &addr);
	assert_int_not_equal(target, RUMOR_CORE_NO_TARGET);
	assert_int_equal(rumor_core_target_remove(b.core, &addr, mono_us()), 0);
	rumor_peers_cancel_dial(b.peers, target);
	assert_int_equal(rumor_core_target_remove(b.core, &addr, mono_us()), -ENOENT);
	slow_dns_release();
	assert_int_equal(slow_dns_wait_threads_gone(WAIT_MS), 0);
	run_for(200); /* time enough for a dial that should not happen */
	assert_int_equal(b.ready_events, 0);
	assert_int_equal(rumor_peers_ready_count(a.peers), 0);
	close_side(&b);
	close_side(&a);
}

int main(void)
{
	slow_dns_init();
	if (rumor_crypto_init() != 0)
		return 1;
	rumor_network_init(&network, "peers-test");
	rumor_log_set_level(getenv("RUMOR_TEST_VERBOSE") ? RUMOR_LOG_DEBUG : RUMOR_LOG_ERROR);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_connect_and_peerinfo, setup, teardown),
		cmocka_unit_test_setup_teardown(test_expected_id_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_inbound_limits, setup, teardown),
		cmocka_unit_test_setup_teardown(test_self_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_network_psk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_listen_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dial_by_name, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_during_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_during_lookup, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
