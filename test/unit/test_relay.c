/*
 * test/unit/test_relay.c: net/relay (inv/getdata scheduling) with fake time,
 * a fixed hash key and a fixed fake random source.
 *
 * Announce: batching by flush interval and by batch size, blocks at once,
 * never back to the source, announcers or peers known to have the id, the
 * per-peer known set evicts first in first out, the Poisson delay draws
 * from the caller's source (deterministic) with about the right mean.
 * Request: one peer at a time, outbound preferred, timeout / notfound /
 * removal move on to the next announcer, the per-peer in-flight cap queues
 * the rest, the per-peer announcement cap and age, rejected and known ids
 * are never requested, rumor_relay_request() for unannounced ids.
 * A timed-out id with no announcer left stays tracked (a late payload from
 * the peer asked is requested, from anyone else unrequested) until its age,
 * a notfound or the peer's removal, and still counts against the peer's cap.
 * Payload verdicts, a bad inv kind, stats.
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

#include <cmocka.h>

#include "net/relay.h"

#define MAX_KNOWN 64
#define MAX_ACTIONS 64
#define MAX_ENTRIES 4096

struct recorded {
	enum rumor_relay_action_type type;
	rumor_peer_handle peer;
	uint32_t count;
	struct rumor_relay_inv_entry entries[MAX_ENTRIES];
	const char *reason;
};

struct env {
	struct rumor_relay_config cfg;
	struct rumor_relay *relay;
	uint8_t known[MAX_KNOWN][RUMOR_ID_SIZE];
	int n_known;
	uint64_t rng;
	uint64_t draws;
	int n_actions;
	struct recorded actions[MAX_ACTIONS];
};

static void make_id(uint8_t id[RUMOR_ID_SIZE], uint32_t n)
{
	memset(id, 0, RUMOR_ID_SIZE);
	memcpy(id, &n, sizeof(n));
	id[31] = 0x5a;
}

static struct rumor_relay_inv_entry entry(uint8_t kind, uint32_t n)
{
	struct rumor_relay_inv_entry e;
	e.kind = kind;
	make_id(e.id, n);
	return e;
}

static uint32_t id_num(const uint8_t id[RUMOR_ID_SIZE])
{
	uint32_t n;
	memcpy(&n, id, sizeof(n));
	return n;
}

static int fake_is_known(void *ctx, const uint8_t id[RUMOR_ID_SIZE])
{
	struct env *env = ctx;
	for (int i = 0; i < env->n_known; i++)
		if (memcmp(env->known[i], id, RUMOR_ID_SIZE) == 0)
			return 1;
	return 0;
}

static void set_known(struct env *env, uint32_t n)
{
	assert_true(env->n_known < MAX_KNOWN);
	make_id(env->known[env->n_known++], n);
}

/* xorshift64*: a fixed, seeded fake random source. */
static uint64_t fake_random(void *ctx)
{
	struct env *env = ctx;
	env->draws++;
	env->rng ^= env->rng >> 12;
	env->rng ^= env->rng << 25;
	env->rng ^= env->rng >> 27;
	return env->rng * UINT64_C(2685821657736338717);
}

static void config(struct env *env)
{
	memset(env, 0, sizeof(*env));
	rumor_relay_config_default(&env->cfg);
	for (int i = 0; i < 16; i++)
		env->cfg.hash_key[i] = (uint8_t)(i * 7 + 1);
	env->cfg.is_known = fake_is_known;
	env->cfg.random_u64 = fake_random;
	env->cfg.ctx = env;
	env->rng = 0x9e3779b97f4a7c15u;
}

static void start(struct env *env)
{
	assert_int_equal(rumor_relay_new(&env->relay, &env->cfg), 0);
}

static struct env *env_new(void)
{
	struct env *env = malloc(sizeof(*env));
	assert_non_null(env);
	config(env);
	return env;
}

static void env_del(struct env *env)
{
	rumor_relay_del(env->relay);
	free(env);
}

/* Drains every action into env->actions. */
static int drain(struct env *env)
{
	env->n_actions = 0;
	for (;;) {
		struct rumor_relay_action a;
		rumor_relay_next_action(env->relay, &a);
		if (a.type == RUMOR_RELAY_NONE)
			break;
		assert_true(env->n_actions < MAX_ACTIONS);
		assert_true(a.count <= MAX_ENTRIES);
		struct recorded *r = &env->actions[env->n_actions++];
		r->type = a.type;
		r->peer = a.peer;
		r->count = a.count;
		r->reason = a.reason;
		if (a.count)
			memcpy(r->entries, a.entries, a.count * sizeof(*a.entries));
	}
	return env->n_actions;
}

static void expect_action(const struct recorded *r, enum rumor_relay_action_type type,
			  rumor_peer_handle peer, uint32_t count)
{
	assert_int_equal(r->type, type);
	assert_int_equal(r->peer, peer);
	assert_int_equal(r->count, count);
}

static void inv(struct env *env, rumor_peer_handle peer, uint8_t kind, uint32_t first,
		uint32_t n, uint64_t now)
{
	struct rumor_relay_inv_entry e[64];
	assert_true(n <= 64);
	for (uint32_t i = 0; i < n; i++)
		e[i] = entry(kind, first + i);
	rumor_relay_on_inv(env->relay, peer, e, n, now);
}

static void notfound(struct env *env, rumor_peer_handle peer, uint32_t n, uint64_t now)
{
	struct rumor_relay_inv_entry e = entry(RUMOR_ITEM_TX, n);
	rumor_relay_on_notfound(env->relay, peer, &e, 1, now);
}

static enum rumor_relay_payload_verdict payload(struct env *env, rumor_peer_handle peer,
						uint32_t n, uint64_t now)
{
	uint8_t id[RUMOR_ID_SIZE];
	make_id(id, n);
	return rumor_relay_on_payload(env->relay, peer, id, now);
}

static void accept(struct env *env, uint8_t kind, uint32_t n, rumor_peer_handle from, uint64_t now)
{
	uint8_t id[RUMOR_ID_SIZE];
	make_id(id, n);
	rumor_relay_on_accepted(env->relay, kind, id, from, now);
}

static void add_peer(struct env *env, rumor_peer_handle peer, int outbound)
{
	assert_int_equal(rumor_relay_peer_add(env->relay, peer, outbound, 0), 0);
}

static struct rumor_relay_stats stats(struct env *env)
{
	struct rumor_relay_stats s;
	rumor_relay_get_stats(env->relay, &s);
	return s;
}

static struct rumor_relay_peer_stats peer_stats(struct env *env, rumor_peer_handle peer)
{
	struct rumor_relay_peer_stats s;
	assert_int_equal(rumor_relay_get_peer_stats(env->relay, peer, &s), 0);
	return s;
}

/* ---- tests ---- */

static void test_config_and_peers(void **state)
{
	(void)state;
	struct env *env = env_new();
	assert_int_equal(env->cfg.flush_interval_us, 5000);
	assert_int_equal(env->cfg.request_timeout_us, 2000000);
	assert_int_equal(env->cfg.max_announcers_per_id, 8);
	struct rumor_relay *r = NULL;
	struct rumor_relay_config bad = env->cfg;
	bad.inv_batch_max = 0;
	assert_int_equal(rumor_relay_new(&r, &bad), -EINVAL);
	bad = env->cfg;
	bad.getdata_batch_max = 1000000;
	assert_int_equal(rumor_relay_new(&r, &bad), -EINVAL);
	bad = env->cfg;
	bad.poisson_delay = 1;
	bad.random_u64 = NULL;
	assert_int_equal(rumor_relay_new(&r, &bad), -EINVAL);
	assert_null(r);

	env->cfg.max_peers = 2;
	start(env);
	assert_int_equal(rumor_relay_peer_add(env->relay, 1, 1, 0), 0);
	assert_int_equal(rumor_relay_peer_add(env->relay, 1, 0, 0), -EEXIST);
	assert_int_equal(rumor_relay_peer_add(env->relay, RUMOR_RELAY_NO_PEER, 0, 0), -EINVAL);
	assert_int_equal(rumor_relay_peer_add(env->relay, 2, 0, 0), 0);
	assert_int_equal(rumor_relay_peer_add(env->relay, 3, 0, 0), -ENOSPC);
	rumor_relay_peer_remove(env->relay, 2, 0);
	rumor_relay_peer_remove(env->relay, 2, 0); /* unknown: ignored */
	assert_int_equal(rumor_relay_peer_add(env->relay, 3, 0, 0), 0);
	struct rumor_relay_peer_stats ps;
	assert_int_equal(rumor_relay_get_peer_stats(env->relay, 2, &ps), -ENOENT);
	assert_int_equal(rumor_relay_expiry(env->relay), UINT64_MAX);
	assert_int_equal(drain(env), 0);
	env_del(env);
}

static void test_announce_batching(void **state)
{
	(void)state;
	struct env *env = env_new();
	env->cfg.inv_batch_max = 4;
	start(env);
	add_peer(env, 1, 1);
	add_peer(env, 2, 0);

	accept(env, RUMOR_ITEM_TX, 100, RUMOR_RELAY_NO_PEER, 1000);
	assert_int_equal(drain(env), 0);
	assert_int_equal(rumor_relay_expiry(env->relay), 6000);
	accept(env, RUMOR_ITEM_TX, 101, RUMOR_RELAY_NO_PEER, 3000);
	assert_int_equal(rumor_relay_expiry(env->relay), 6000); /* the batch's deadline stays */
	rumor_relay_run_timers(env->relay, 5999);
	assert_int_equal(drain(env), 0);
	rumor_relay_run_timers(env->relay, 6000);
	assert_int_equal(drain(env), 2);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_INV, 1, 2);
	expect_action(&env->actions[1], RUMOR_RELAY_SEND_INV, 2, 2);
	assert_int_equal(id_num(env->actions[0].entries[0].id), 100);
	assert_int_equal(id_num(env->actions[0].entries[1].id), 101);
	assert_int_equal(env->actions[0].entries[1].kind, RUMOR_ITEM_TX);
	assert_int_equal(rumor_relay_expiry(env->relay), UINT64_MAX);

	/* A full batch (inv_batch_max = 4) goes at once, without timers. */
	for (uint32_t i = 0; i < 3; i++)
		accept(env, RUMOR_ITEM_TX, 200 + i, RUMOR_RELAY_NO_PEER, 7000);
	assert_int_equal(drain(env), 0);
	accept(env, RUMOR_ITEM_TX, 203, RUMOR_RELAY_NO_PEER, 7000);
	assert_int_equal(drain(env), 2);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_INV, 1, 4);
	expect_action(&env->actions[1], RUMOR_RELAY_SEND_INV, 2, 4);
	/* The next id starts a new batch with a new deadline. */
	accept(env, RUMOR_ITEM_TX, 204, RUMOR_RELAY_NO_PEER, 8000);
	assert_int_equal(drain(env), 0);
	assert_int_equal(rumor_relay_expiry(env->relay), 13000);
	/* Accepting the same id again announces nothing new. */
	accept(env, RUMOR_ITEM_TX, 204, RUMOR_RELAY_NO_PEER, 8001);
	rumor_relay_run_timers(env->relay, 13000);
	assert_int_equal(drain(env), 2);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_INV, 1, 1);
	assert_int_equal(peer_stats(env, 1).announced_by_us, 7);
	env_del(env);
}

static void test_block_flushes_immediately(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 0);
	accept(env, RUMOR_ITEM_TX, 1, RUMOR_RELAY_NO_PEER, 100);
	assert_int_equal(drain(env), 0);
	accept(env, RUMOR_ITEM_BLOCK, 2, RUMOR_RELAY_NO_PEER, 200);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_INV, 1, 2);
	assert_int_equal(env->actions[0].entries[0].kind, RUMOR_ITEM_TX);
	assert_int_equal(env->actions[0].entries[1].kind, RUMOR_ITEM_BLOCK);
	assert_int_equal(id_num(env->actions[0].entries[1].id), 2);
	assert_int_equal(rumor_relay_expiry(env->relay), UINT64_MAX);
	env_del(env);
}

/* An id queued for a peer that the peer then announces (or asks for)
 * before the flush is taken out of the batch: the two invs would cross. */
static void test_crossing_inv_suppressed(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	for (rumor_peer_handle p = 1; p <= 3; p++)
		add_peer(env, p, 0);
	set_known(env, 9);
	set_known(env, 10);
	accept(env, RUMOR_ITEM_TX, 9, RUMOR_RELAY_NO_PEER, 0);
	accept(env, RUMOR_ITEM_TX, 10, RUMOR_RELAY_NO_PEER, 0);
	assert_int_equal(drain(env), 0); /* batched, not flushed yet */
	/* Within the flush interval, peer 2 announces 9 and peer 3 asks for 10. */
	inv(env, 2, RUMOR_ITEM_TX, 9, 1, 1000);
	struct rumor_relay_inv_entry e = entry(RUMOR_ITEM_TX, 10);
	rumor_relay_on_getdata(env->relay, 3, &e, 1);
	assert_int_equal(drain(env), 0); /* 9 is known: nothing requested */
	rumor_relay_run_timers(env->relay, rumor_relay_expiry(env->relay));
	assert_int_equal(drain(env), 3);
	/* Peer 1: both ids; peer 2: only 10; peer 3: only 9. */
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_INV, 1, 2);
	expect_action(&env->actions[1], RUMOR_RELAY_SEND_INV, 2, 1);
	assert_int_equal(id_num(env->actions[1].entries[0].id), 10);
	expect_action(&env->actions[2], RUMOR_RELAY_SEND_INV, 3, 1);
	assert_int_equal(id_num(env->actions[2].entries[0].id), 9);
	assert_int_equal(stats(env).announcements_suppressed, 2);

	/* A batch emptied entirely sends nothing. */
	set_known(env, 11);
	accept(env, RUMOR_ITEM_TX, 11, 1, 5000);
	inv(env, 2, RUMOR_ITEM_TX, 11, 1, 5100);
	inv(env, 3, RUMOR_ITEM_TX, 11, 1, 5100);
	rumor_relay_run_timers(env->relay, rumor_relay_expiry(env->relay));
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).announcements_suppressed, 4);
	assert_int_equal(rumor_relay_expiry(env->relay), UINT64_MAX);
	env_del(env);
}

static void test_not_announced_back(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	for (rumor_peer_handle p = 1; p <= 5; p++)
		add_peer(env, p, 0);
	inv(env, 1, RUMOR_ITEM_TX, 7, 1, 0);
	inv(env, 2, RUMOR_ITEM_TX, 7, 1, 0);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	/* Peer 3 asked us for it: it is known to want it. */
	struct rumor_relay_inv_entry e = entry(RUMOR_ITEM_TX, 7);
	rumor_relay_on_getdata(env->relay, 3, &e, 1);
	assert_int_equal(payload(env, 1, 7, 10), RUMOR_RELAY_PAYLOAD_REQUESTED);
	set_known(env, 7);
	accept(env, RUMOR_ITEM_TX, 7, 1, 10);
	rumor_relay_run_timers(env->relay, rumor_relay_expiry(env->relay));
	assert_int_equal(drain(env), 2);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_INV, 4, 1);
	expect_action(&env->actions[1], RUMOR_RELAY_SEND_INV, 5, 1);

	/* Accepted from RPC while an announcement is tracked: the tracking
	 * ends and the announcer is skipped. */
	inv(env, 2, RUMOR_ITEM_TX, 8, 1, 20);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 1);
	set_known(env, 8);
	accept(env, RUMOR_ITEM_TX, 8, RUMOR_RELAY_NO_PEER, 30);
	assert_int_equal(stats(env).ids_tracked, 0);
	assert_int_equal(stats(env).requests_in_flight, 0);
	rumor_relay_run_timers(env->relay, rumor_relay_expiry(env->relay));
	assert_int_equal(drain(env), 4);
	for (int i = 0; i < 4; i++)
		assert_int_not_equal(env->actions[i].peer, 2);
	/* The late payload from 2 is a duplicate now. */
	assert_int_equal(payload(env, 2, 8, 40), RUMOR_RELAY_PAYLOAD_DUPLICATE);
	env_del(env);
}

static void test_request_one_peer(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 0);
	add_peer(env, 2, 0);
	add_peer(env, 3, 0);
	inv(env, 1, RUMOR_ITEM_TX, 1, 3, 0);
	inv(env, 2, RUMOR_ITEM_TX, 1, 3, 0);
	inv(env, 3, RUMOR_ITEM_TX, 1, 3, 0);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 3);
	/* More announcements after the request: nobody else is asked. */
	inv(env, 2, RUMOR_ITEM_TX, 1, 3, 5);
	assert_int_equal(drain(env), 0);
	struct rumor_relay_stats s = stats(env);
	assert_int_equal(s.requests_in_flight, 3);
	assert_int_equal(s.requests_sent, 3);
	assert_int_equal(s.ids_tracked, 3);
	env_del(env);
}

static void test_prefer_outbound(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 0); /* inbound */
	add_peer(env, 2, 1); /* outbound */
	inv(env, 1, RUMOR_ITEM_TX, 1, 1, 0);
	inv(env, 2, RUMOR_ITEM_TX, 1, 1, 0);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 1);
	/* Scheduled before the outbound peer announced: the inbound one is
	 * asked and stays asked. */
	inv(env, 1, RUMOR_ITEM_TX, 2, 1, 0);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	inv(env, 2, RUMOR_ITEM_TX, 2, 1, 0);
	assert_int_equal(drain(env), 0);
	env_del(env);
}

static void test_timeout_next_announcer(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 1);
	add_peer(env, 2, 0);
	add_peer(env, 3, 0);
	inv(env, 2, RUMOR_ITEM_BLOCK, 9, 1, 1000);
	inv(env, 1, RUMOR_ITEM_BLOCK, 9, 1, 1000);
	inv(env, 3, RUMOR_ITEM_BLOCK, 9, 1, 1000);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	assert_int_equal(env->actions[0].entries[0].kind, RUMOR_ITEM_BLOCK);
	assert_int_equal(rumor_relay_expiry(env->relay), 2001000);
	rumor_relay_run_timers(env->relay, 2000999);
	assert_int_equal(drain(env), 0);
	rumor_relay_run_timers(env->relay, 2001000);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 1);
	assert_int_equal(env->actions[0].entries[0].kind, RUMOR_ITEM_BLOCK);
	assert_int_equal(stats(env).request_timeouts, 1);
	assert_int_equal(peer_stats(env, 1).timeouts, 1);
	assert_int_equal(peer_stats(env, 1).in_flight, 0);
	assert_int_equal(peer_stats(env, 2).in_flight, 1);
	/* Then 3, then nobody left to ask: the id stays tracked (for late
	 * payloads) until it is announce_max_age_us old. */
	rumor_relay_run_timers(env->relay, 4001000);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 3, 1);
	rumor_relay_run_timers(env->relay, 6001000);
	assert_int_equal(drain(env), 0);
	struct rumor_relay_stats s = stats(env);
	assert_int_equal(s.request_timeouts, 3);
	assert_int_equal(s.ids_tracked, 1);
	assert_int_equal(s.requests_in_flight, 0);
	assert_int_equal(s.requests_sent, 3);
	assert_int_equal(rumor_relay_expiry(env->relay), 60001000);
	rumor_relay_run_timers(env->relay, 60001000);
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).ids_tracked, 0);
	assert_int_equal(rumor_relay_expiry(env->relay), UINT64_MAX);
	/* Too late now: nobody is tracking it. */
	assert_int_equal(payload(env, 1, 9, 60001001), RUMOR_RELAY_PAYLOAD_UNREQUESTED);
	env_del(env);
}

/* The rumor-sim failure: the only announcer is asked, its link stalls past
 * request_timeout_us, and its payload comes after the timeout.  The id stays
 * tracked, so the payload is requested (a slow peer, not a hostile one). */
static void test_timeout_sole_announcer_late_payload(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 1);
	add_peer(env, 2, 0);
	inv(env, 1, RUMOR_ITEM_TX, 9, 1, 1346000);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	assert_int_equal(rumor_relay_expiry(env->relay), 3346000);
	rumor_relay_run_timers(env->relay, 3345999);
	assert_int_equal(drain(env), 0);
	assert_int_equal(peer_stats(env, 1).in_flight, 1);
	rumor_relay_run_timers(env->relay, 3346000);
	assert_int_equal(drain(env), 0); /* nobody else to ask */
	struct rumor_relay_stats s = stats(env);
	assert_int_equal(s.request_timeouts, 1);
	assert_int_equal(s.requests_in_flight, 0);
	assert_int_equal(s.ids_tracked, 1);
	uint8_t id9[RUMOR_ID_SIZE];
	make_id(id9, 9);
	assert_true(rumor_relay_is_tracked(env->relay, id9));
	assert_int_equal(peer_stats(env, 1).in_flight, 0);
	/* Next deadline: the record's age, not a request. */
	assert_int_equal(rumor_relay_expiry(env->relay), 61346000);
	/* The same peer announcing it again is not asked twice: its first
	 * answer may still be on the way. */
	inv(env, 1, RUMOR_ITEM_TX, 9, 1, 3500000);
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).requests_sent, 1);
	/* A peer never asked stays unrequested, and changes nothing. */
	assert_int_equal(payload(env, 2, 9, 3800000), RUMOR_RELAY_PAYLOAD_UNREQUESTED);
	assert_int_equal(stats(env).unrequested_received, 1);
	assert_true(rumor_relay_is_tracked(env->relay, id9));
	/* The slow peer's payload: requested. */
	assert_int_equal(payload(env, 1, 9, 3850000), RUMOR_RELAY_PAYLOAD_REQUESTED);
	assert_int_equal(peer_stats(env, 1).delivered, 1);
	assert_int_equal(stats(env).ids_tracked, 0);
	assert_int_equal(stats(env).unrequested_received, 1);
	assert_int_equal(rumor_relay_expiry(env->relay), UINT64_MAX);
	env_del(env);
}

/* A timed-out id kept for its late payload stays bounded: it counts against
 * the peer's announcement cap, goes at announce_max_age_us (exactly), and
 * goes when the peer is removed or answers notfound. */
static void test_timeout_sole_announcer_bounded(void **state)
{
	(void)state;
	struct env *env = env_new();
	env->cfg.max_announced_per_peer = 1;
	env->cfg.announce_max_age_us = 10000000;
	start(env);
	add_peer(env, 1, 0);
	add_peer(env, 2, 0);
	inv(env, 1, RUMOR_ITEM_TX, 9, 1, 1000);
	assert_int_equal(drain(env), 1);
	rumor_relay_run_timers(env->relay, 2001000);
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).ids_tracked, 1);
	/* Still charged: peer 1's next announcement is over its cap. */
	inv(env, 1, RUMOR_ITEM_TX, 10, 1, 2002000);
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).announcements_ignored, 1);
	assert_int_equal(stats(env).ids_tracked, 1);
	/* Dropped at its age, to the microsecond. */
	assert_int_equal(rumor_relay_expiry(env->relay), 10001000);
	rumor_relay_run_timers(env->relay, 10000999);
	assert_int_equal(stats(env).ids_tracked, 1);
	rumor_relay_run_timers(env->relay, 10001000);
	assert_int_equal(stats(env).ids_tracked, 0);
	assert_int_equal(rumor_relay_expiry(env->relay), UINT64_MAX);
	assert_int_equal(payload(env, 1, 9, 10001001), RUMOR_RELAY_PAYLOAD_UNREQUESTED);
	/* The cap is free again. */
	inv(env, 1, RUMOR_ITEM_TX, 10, 1, 10002000);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	assert_int_equal(id_num(env->actions[0].entries[0].id), 10);
	/* notfound after the timeout: the peer does not have it; gone. */
	rumor_relay_run_timers(env->relay, 12002000);
	assert_int_equal(stats(env).ids_tracked, 1);
	notfound(env, 1, 10, 12003000);
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).ids_tracked, 0);
	assert_int_equal(payload(env, 1, 10, 12004000), RUMOR_RELAY_PAYLOAD_UNREQUESTED);
	/* Removal of the peer that timed out: gone. */
	inv(env, 2, RUMOR_ITEM_TX, 11, 1, 12005000);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 1);
	rumor_relay_run_timers(env->relay, 14005000);
	assert_int_equal(stats(env).ids_tracked, 1);
	rumor_relay_peer_remove(env->relay, 2, 14006000);
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).ids_tracked, 0);
	assert_int_equal(rumor_relay_expiry(env->relay), UINT64_MAX);
	env_del(env);
}

/* A timed-out id with nobody left is asked again from a new announcer; the
 * slow peer's payload then still counts as requested and ends that request,
 * and the new announcer's payload is a duplicate. */
static void test_timeout_sole_announcer_new_announcer(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 1);
	add_peer(env, 2, 0);
	inv(env, 1, RUMOR_ITEM_TX, 9, 1, 0);
	assert_int_equal(drain(env), 1);
	rumor_relay_run_timers(env->relay, 2000000);
	assert_int_equal(drain(env), 0);
	inv(env, 2, RUMOR_ITEM_TX, 9, 1, 2500000);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 1);
	assert_int_equal(stats(env).requests_sent, 2);
	assert_int_equal(payload(env, 1, 9, 2600000), RUMOR_RELAY_PAYLOAD_REQUESTED);
	set_known(env, 9);
	assert_int_equal(stats(env).requests_in_flight, 0);
	assert_int_equal(peer_stats(env, 2).in_flight, 0);
	assert_int_equal(payload(env, 2, 9, 2700000), RUMOR_RELAY_PAYLOAD_DUPLICATE);
	assert_int_equal(stats(env).ids_tracked, 0);
	env_del(env);
}

static void test_timeout_late_payload(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 1);
	add_peer(env, 2, 0);
	inv(env, 1, RUMOR_ITEM_TX, 9, 1, 0);
	inv(env, 2, RUMOR_ITEM_TX, 9, 1, 0);
	assert_int_equal(drain(env), 1);
	rumor_relay_run_timers(env->relay, 2000000);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 1);
	/* The slow first peer delivers after all: welcome. */
	assert_int_equal(payload(env, 1, 9, 2000100), RUMOR_RELAY_PAYLOAD_REQUESTED);
	set_known(env, 9);
	assert_int_equal(stats(env).requests_in_flight, 0);
	assert_int_equal(payload(env, 2, 9, 2000200), RUMOR_RELAY_PAYLOAD_DUPLICATE);
	assert_int_equal(stats(env).duplicates_received, 1);
	env_del(env);
}

static void test_notfound_next_announcer(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 0);
	add_peer(env, 2, 0);
	inv(env, 1, RUMOR_ITEM_TX, 5, 1, 0);
	inv(env, 2, RUMOR_ITEM_TX, 5, 1, 0);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	notfound(env, 2, 99, 10); /* an id nobody tracks: ignored */
	assert_int_equal(drain(env), 0);
	notfound(env, 1, 5, 10);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 1);
	assert_int_equal(peer_stats(env, 1).notfound, 1);
	assert_int_equal(stats(env).request_timeouts, 0);
	notfound(env, 2, 5, 20);
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).ids_tracked, 0);
	assert_int_equal(stats(env).requests_in_flight, 0);
	/* Peer 1 said notfound: its payload is unrequested now. */
	assert_int_equal(payload(env, 1, 5, 30), RUMOR_RELAY_PAYLOAD_UNREQUESTED);
	env_del(env);
}

static void test_peer_removed_mid_request(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 1);
	add_peer(env, 2, 0);
	add_peer(env, 3, 0);
	inv(env, 1, RUMOR_ITEM_TX, 1, 4, 0);
	inv(env, 2, RUMOR_ITEM_TX, 1, 2, 0);
	inv(env, 3, RUMOR_ITEM_TX, 3, 1, 0);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 4);
	rumor_relay_peer_remove(env->relay, 1, 50);
	/* ids 1 and 2 go to peer 2, id 3 to peer 3, id 4 had nobody else. */
	assert_int_equal(drain(env), 2);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 2);
	expect_action(&env->actions[1], RUMOR_RELAY_SEND_GETDATA, 3, 1);
	assert_int_equal(id_num(env->actions[1].entries[0].id), 3);
	struct rumor_relay_stats s = stats(env);
	assert_int_equal(s.ids_tracked, 3);
	assert_int_equal(s.requests_in_flight, 3);
	/* The new requests time out from the removal time. */
	assert_int_equal(rumor_relay_expiry(env->relay), 2000050);
	/* Removing the others too leaves nothing behind. */
	rumor_relay_peer_remove(env->relay, 2, 60);
	rumor_relay_peer_remove(env->relay, 3, 60);
	assert_int_equal(drain(env), 0);
	s = stats(env);
	assert_int_equal(s.ids_tracked, 0);
	assert_int_equal(s.requests_in_flight, 0);
	env_del(env);
}

static void test_request_cap(void **state)
{
	(void)state;
	struct env *env = env_new();
	env->cfg.max_requests_per_peer = 2;
	start(env);
	add_peer(env, 1, 1);
	add_peer(env, 2, 0);
	inv(env, 1, RUMOR_ITEM_TX, 0, 6, 0);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 2);
	assert_int_equal(id_num(env->actions[0].entries[0].id), 0);
	assert_int_equal(id_num(env->actions[0].entries[1].id), 1);
	/* Peer 2 announces ids 0..3: 2 and 3 can be asked from it. */
	inv(env, 2, RUMOR_ITEM_TX, 0, 4, 1);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 2);
	assert_int_equal(id_num(env->actions[0].entries[0].id), 2);
	assert_int_equal(id_num(env->actions[0].entries[1].id), 3);
	assert_int_equal(peer_stats(env, 1).in_flight, 2);
	assert_int_equal(stats(env).ids_tracked, 6);
	/* A delivery frees a slot on 1: the oldest waiting id (4) goes. */
	assert_int_equal(payload(env, 1, 0, 2), RUMOR_RELAY_PAYLOAD_REQUESTED);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	assert_int_equal(id_num(env->actions[0].entries[0].id), 4);
	/* notfound frees one too. */
	notfound(env, 1, 1, 3);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	assert_int_equal(id_num(env->actions[0].entries[0].id), 5);
	/* id 1 was handed to peer 2, whose slots are full: it waits for one. */
	assert_int_equal(payload(env, 2, 2, 4), RUMOR_RELAY_PAYLOAD_REQUESTED);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 1);
	assert_int_equal(id_num(env->actions[0].entries[0].id), 1);
	assert_true(peer_stats(env, 1).in_flight <= 2);
	assert_true(peer_stats(env, 2).in_flight <= 2);
	env_del(env);
}

static void test_getdata_batches(void **state)
{
	(void)state;
	struct env *env = env_new();
	env->cfg.getdata_batch_max = 3;
	start(env);
	add_peer(env, 1, 1);
	inv(env, 1, RUMOR_ITEM_TX, 0, 7, 0);
	assert_int_equal(drain(env), 3);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 3);
	expect_action(&env->actions[1], RUMOR_RELAY_SEND_GETDATA, 1, 3);
	expect_action(&env->actions[2], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	assert_int_equal(id_num(env->actions[2].entries[0].id), 6);
	env_del(env);
}

static void test_announced_cap(void **state)
{
	(void)state;
	struct env *env = env_new();
	env->cfg.max_announced_per_peer = 3;
	env->cfg.max_requests_per_peer = 1;
	start(env);
	add_peer(env, 1, 0);
	add_peer(env, 2, 0);
	inv(env, 1, RUMOR_ITEM_TX, 0, 5, 0);
	struct rumor_relay_stats s = stats(env);
	assert_int_equal(s.ids_tracked, 3);
	assert_int_equal(s.announcements_ignored, 2);
	assert_int_equal(peer_stats(env, 1).announced_to_us, 5);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	/* The cap is per peer: peer 2 still counts from zero. */
	inv(env, 2, RUMOR_ITEM_TX, 3, 2, 1);
	assert_int_equal(stats(env).ids_tracked, 5);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 1);
	/* A delivery gives peer 1 room for one more announcement. */
	assert_int_equal(payload(env, 1, 0, 2), RUMOR_RELAY_PAYLOAD_REQUESTED);
	inv(env, 1, RUMOR_ITEM_TX, 10, 2, 3);
	s = stats(env);
	assert_int_equal(s.ids_tracked, 5);
	assert_int_equal(s.announcements_ignored, 3);
	env_del(env);
}

/* Requests (a block's missing transactions) count against the same
 * per-peer cap: a peer sending blocks that list many unknown ids must not
 * grow the tracked table past max_announced_per_peer. */
static void test_request_charged_to_cap(void **state)
{
	(void)state;
	struct env *env = env_new();
	env->cfg.max_announced_per_peer = 3;
	start(env);
	add_peer(env, 1, 0);
	add_peer(env, 2, 0);
	inv(env, 1, RUMOR_ITEM_TX, 0, 2, 0);
	uint8_t id[RUMOR_ID_SIZE];
	for (uint32_t n = 100; n < 110; n++) {
		make_id(id, n);
		rumor_relay_request(env->relay, 1, RUMOR_ITEM_TX, id, 1);
	}
	assert_int_equal(stats(env).ids_tracked, 3);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 3);
	/* Asking again for an id it already holds costs nothing; peer 2 has
	 * its own cap. */
	make_id(id, 100);
	rumor_relay_request(env->relay, 1, RUMOR_ITEM_TX, id, 2);
	make_id(id, 105);
	rumor_relay_request(env->relay, 2, RUMOR_ITEM_TX, id, 2);
	assert_int_equal(stats(env).ids_tracked, 4);
	/* A delivery frees room for one more. */
	assert_int_equal(payload(env, 1, 100, 3), RUMOR_RELAY_PAYLOAD_REQUESTED);
	make_id(id, 106);
	rumor_relay_request(env->relay, 1, RUMOR_ITEM_TX, id, 4);
	assert_int_equal(stats(env).ids_tracked, 4);
	env_del(env);
}

static void test_announce_age(void **state)
{
	(void)state;
	struct env *env = env_new();
	env->cfg.max_requests_per_peer = 1;
	env->cfg.announce_max_age_us = 10000000;
	env->cfg.request_timeout_us = 20000000;
	start(env);
	add_peer(env, 1, 0);
	inv(env, 1, RUMOR_ITEM_TX, 0, 2, 1000);
	assert_int_equal(drain(env), 1);
	assert_int_equal(rumor_relay_expiry(env->relay), 10001000);
	rumor_relay_run_timers(env->relay, 10001000);
	/* id 1 waited too long: gone; id 0 is in flight: kept until answered. */
	assert_int_equal(stats(env).ids_tracked, 1);
	assert_int_equal(drain(env), 0);
	assert_int_equal(rumor_relay_expiry(env->relay), 20001000);
	assert_int_equal(payload(env, 1, 0, 10002000), RUMOR_RELAY_PAYLOAD_REQUESTED);
	assert_int_equal(stats(env).ids_tracked, 0);
	assert_int_equal(rumor_relay_expiry(env->relay), UINT64_MAX);
	env_del(env);
}

static void test_known_set_fifo(void **state)
{
	(void)state;
	struct env *env = env_new();
	env->cfg.known_per_peer = 2;
	env->cfg.flush_interval_us = 0;
	start(env);
	add_peer(env, 1, 0);
	struct rumor_relay_inv_entry e[3] = {entry(RUMOR_ITEM_TX, 1), entry(RUMOR_ITEM_TX, 2),
					     entry(RUMOR_ITEM_TX, 3)};
	rumor_relay_on_getdata(env->relay, 1, e, 3); /* 1 is evicted by 3 */
	accept(env, RUMOR_ITEM_TX, 3, RUMOR_RELAY_NO_PEER, 0);
	assert_int_equal(drain(env), 0);
	accept(env, RUMOR_ITEM_TX, 2, RUMOR_RELAY_NO_PEER, 0);
	assert_int_equal(drain(env), 0);
	accept(env, RUMOR_ITEM_TX, 1, RUMOR_RELAY_NO_PEER, 0); /* evicts 2 */
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_INV, 1, 1);
	assert_int_equal(id_num(env->actions[0].entries[0].id), 1);
	accept(env, RUMOR_ITEM_TX, 2, RUMOR_RELAY_NO_PEER, 0);
	assert_int_equal(drain(env), 1);
	assert_int_equal(id_num(env->actions[0].entries[0].id), 2);
	env_del(env);
}

static void test_rejected_never_requested(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 0);
	add_peer(env, 2, 0);
	inv(env, 1, RUMOR_ITEM_TX, 4, 1, 0);
	assert_int_equal(drain(env), 1);
	assert_int_equal(payload(env, 1, 4, 1), RUMOR_RELAY_PAYLOAD_REQUESTED);
	uint8_t id[RUMOR_ID_SIZE];
	make_id(id, 4);
	rumor_relay_on_rejected(env->relay, id, 2);
	inv(env, 2, RUMOR_ITEM_TX, 4, 1, 3);
	rumor_relay_request(env->relay, 2, RUMOR_ITEM_TX, id, 3);
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).ids_tracked, 0);
	assert_int_equal(payload(env, 2, 4, 4), RUMOR_RELAY_PAYLOAD_DUPLICATE);
	/* Rejected while tracked: the tracking ends. */
	inv(env, 2, RUMOR_ITEM_TX, 5, 1, 5);
	assert_int_equal(stats(env).ids_tracked, 1);
	make_id(id, 5);
	rumor_relay_on_rejected(env->relay, id, 6);
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).ids_tracked, 0);
	env_del(env);
}

static void test_payload_verdicts(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 1);
	add_peer(env, 2, 0);
	assert_int_equal(payload(env, 1, 1, 0), RUMOR_RELAY_PAYLOAD_UNREQUESTED);
	set_known(env, 2);
	assert_int_equal(payload(env, 1, 2, 0), RUMOR_RELAY_PAYLOAD_DUPLICATE);
	/* Announced by both, asked from 1: 2's payload is unrequested. */
	inv(env, 1, RUMOR_ITEM_TX, 3, 1, 0);
	inv(env, 2, RUMOR_ITEM_TX, 3, 1, 0);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	assert_int_equal(payload(env, 2, 3, 1), RUMOR_RELAY_PAYLOAD_UNREQUESTED);
	assert_int_equal(payload(env, 1, 3, 1), RUMOR_RELAY_PAYLOAD_REQUESTED);
	/* Twice from the same peer: the second is a duplicate. */
	set_known(env, 3);
	assert_int_equal(payload(env, 1, 3, 1), RUMOR_RELAY_PAYLOAD_DUPLICATE);
	struct rumor_relay_stats s = stats(env);
	assert_int_equal(s.unrequested_received, 2);
	assert_int_equal(s.duplicates_received, 2);
	assert_int_equal(peer_stats(env, 1).delivered, 1);
	env_del(env);
}

static void test_known_ids_not_requested(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 0);
	set_known(env, 1);
	inv(env, 1, RUMOR_ITEM_TX, 1, 1, 0);
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).ids_tracked, 0);
	/* Known after the announcement but before the drain: not asked. */
	inv(env, 1, RUMOR_ITEM_TX, 2, 1, 0);
	set_known(env, 2);
	assert_int_equal(drain(env), 0);
	assert_int_equal(stats(env).ids_tracked, 0);
	assert_int_equal(stats(env).requests_sent, 0);
	env_del(env);
}

static void test_request_unannounced(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 0);
	add_peer(env, 2, 0);
	uint8_t id[RUMOR_ID_SIZE];
	make_id(id, 42);
	rumor_relay_request(env->relay, 2, RUMOR_ITEM_BLOCK, id, 100);
	rumor_relay_request(env->relay, 7, RUMOR_ITEM_BLOCK, id, 100); /* unknown peer */
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 2, 1);
	assert_int_equal(env->actions[0].entries[0].kind, RUMOR_ITEM_BLOCK);
	assert_int_equal(id_num(env->actions[0].entries[0].id), 42);
	/* Asking again, or another peer, while in flight: no new request. */
	rumor_relay_request(env->relay, 2, RUMOR_ITEM_BLOCK, id, 101);
	rumor_relay_request(env->relay, 1, RUMOR_ITEM_BLOCK, id, 101);
	assert_int_equal(drain(env), 0);
	notfound(env, 2, 42, 102);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_SEND_GETDATA, 1, 1);
	assert_int_equal(payload(env, 1, 42, 103), RUMOR_RELAY_PAYLOAD_REQUESTED);
	/* A known id is not asked for. */
	set_known(env, 43);
	make_id(id, 43);
	rumor_relay_request(env->relay, 1, RUMOR_ITEM_TX, id, 104);
	assert_int_equal(drain(env), 0);
	env_del(env);
}

static void test_bad_inv_kind_disconnects(void **state)
{
	(void)state;
	struct env *env = env_new();
	start(env);
	add_peer(env, 1, 0);
	struct rumor_relay_inv_entry e[2] = {entry(RUMOR_ITEM_TX, 1), entry(9, 2)};
	rumor_relay_on_inv(env->relay, 1, e, 2, 0);
	assert_int_equal(drain(env), 1);
	expect_action(&env->actions[0], RUMOR_RELAY_DISCONNECT, 1, 0);
	assert_non_null(env->actions[0].reason);
	/* Ignored until removed. */
	inv(env, 1, RUMOR_ITEM_TX, 3, 1, 1);
	accept(env, RUMOR_ITEM_BLOCK, 4, RUMOR_RELAY_NO_PEER, 1);
	assert_int_equal(drain(env), 0);
	rumor_relay_peer_remove(env->relay, 1, 2);
	assert_int_equal(stats(env).ids_tracked, 0);
	env_del(env);
}

/* Collects one Poisson delay: accept a tx for a lone peer, read the
 * deadline, flush it. */
static uint64_t poisson_delay_once(struct env *env, uint32_t n, uint64_t now)
{
	accept(env, RUMOR_ITEM_TX, n, RUMOR_RELAY_NO_PEER, now);
	uint64_t at = rumor_relay_expiry(env->relay);
	if (at == UINT64_MAX) { /* a zero delay flushes at once */
		assert_int_equal(drain(env), 1);
		return 0;
	}
	assert_true(at > now);
	rumor_relay_run_timers(env->relay, at);
	assert_int_equal(drain(env), 1);
	return at - now;
}

static void test_poisson_delay(void **state)
{
	(void)state;
	enum { DRAWS = 4000 };
	static uint64_t first[DRAWS];
	for (int run = 0; run < 2; run++) {
		struct env *env = env_new();
		env->cfg.poisson_delay = 1;
		env->cfg.flush_interval_us = 10000;
		env->cfg.known_per_peer = 8;
		start(env);
		add_peer(env, 1, 0);
		uint64_t now = 0;
		double sum = 0;
		int over_mean = 0;
		for (uint32_t i = 0; i < DRAWS; i++) {
			uint64_t d = poisson_delay_once(env, i, now);
			if (run == 0)
				first[i] = d;
			else
				assert_int_equal(d, first[i]); /* same source, same delays */
			sum += (double)d;
			over_mean += d > 10000;
			now += d + 1;
		}
		assert_int_equal(env->draws, DRAWS);
		double mean = sum / DRAWS;
		/* Exponential: mean 10000 (stddev of the mean ~160), and
		 * P(d > mean) = 1/e ~ 0.368. */
		assert_true(mean > 9300 && mean < 10700);
		assert_true(over_mean > DRAWS * 0.33 && over_mean < DRAWS * 0.41);
		if (run == 0)
			printf("poisson: mean delay %.0f us over %d draws (target 10000), "
			       "%.3f above the mean\n",
			       mean, DRAWS, (double)over_mean / DRAWS);
		env_del(env);
	}
}

static uint64_t fixed_random_value;
static uint64_t fixed_random(void *ctx)
{
	(void)ctx;
	return fixed_random_value;
}

static void test_poisson_extremes(void **state)
{
	(void)state;
	struct env *env = env_new();
	env->cfg.poisson_delay = 1;
	env->cfg.flush_interval_us = 1000;
	env->cfg.random_u64 = fixed_random;
	start(env);
	add_peer(env, 1, 0);
	/* u = 1: no delay. */
	fixed_random_value = UINT64_MAX;
	assert_int_equal(poisson_delay_once(env, 1, 100), 0);
	/* u = 1/2: ln 2 * mean. */
	fixed_random_value = UINT64_C(1) << 63;
	fixed_random_value -= 1 << 11;
	assert_int_equal(poisson_delay_once(env, 2, 1000), 693);
	/* the smallest u = 2^-53: 53 ln 2 * mean, finite. */
	fixed_random_value = 0;
	assert_int_equal(poisson_delay_once(env, 3, 5000), 36737);
	env_del(env);
}

static void test_stats(void **state)
{
	(void)state;
	struct env *env = env_new();
	env->cfg.flush_interval_us = 0;
	start(env);
	add_peer(env, 1, 1);
	add_peer(env, 2, 0);
	inv(env, 1, RUMOR_ITEM_TX, 0, 3, 0);
	inv(env, 2, RUMOR_ITEM_TX, 0, 1, 0);
	assert_int_equal(drain(env), 1);
	assert_int_equal(payload(env, 1, 0, 1), RUMOR_RELAY_PAYLOAD_REQUESTED);
	notfound(env, 1, 1, 1);
	rumor_relay_run_timers(env->relay, 2000000);
	accept(env, RUMOR_ITEM_TX, 100, RUMOR_RELAY_NO_PEER, 2000000);
	accept(env, RUMOR_ITEM_TX, 0, 1, 2000000);
	drain(env);
	struct rumor_relay_peer_stats p1 = peer_stats(env, 1), p2 = peer_stats(env, 2);
	assert_int_equal(p1.announced_to_us, 3);
	assert_int_equal(p1.requested_from, 3);
	assert_int_equal(p1.delivered, 1);
	assert_int_equal(p1.notfound, 1);
	assert_int_equal(p1.timeouts, 1);
	assert_int_equal(p1.in_flight, 0);
	assert_int_equal(p1.announced_by_us, 1); /* 100; 0 came from it */
	assert_int_equal(p2.announced_to_us, 1);
	assert_int_equal(p2.requested_from, 0);
	assert_int_equal(p2.announced_by_us, 1); /* 100; it announced 0 */
	struct rumor_relay_stats s = stats(env);
	assert_int_equal(s.requests_sent, 3);
	assert_int_equal(s.request_timeouts, 1);
	assert_int_equal(s.requests_in_flight, 0);
	/* id 2 timed out with no other announcer: kept for a late payload. */
	assert_int_equal(s.ids_tracked, 1);
	env_del(env);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_and_peers),
		cmocka_unit_test(test_announce_batching),
		cmocka_unit_test(test_block_flushes_immediately),
		cmocka_unit_test(test_not_announced_back),
		cmocka_unit_test(test_crossing_inv_suppressed),
		cmocka_unit_test(test_request_one_peer),
		cmocka_unit_test(test_prefer_outbound),
		cmocka_unit_test(test_timeout_next_announcer),
		cmocka_unit_test(test_timeout_late_payload),
		cmocka_unit_test(test_timeout_sole_announcer_late_payload),
		cmocka_unit_test(test_timeout_sole_announcer_bounded),
		cmocka_unit_test(test_timeout_sole_announcer_new_announcer),
		cmocka_unit_test(test_notfound_next_announcer),
		cmocka_unit_test(test_peer_removed_mid_request),
		cmocka_unit_test(test_request_cap),
		cmocka_unit_test(test_getdata_batches),
		cmocka_unit_test(test_announced_cap),
		cmocka_unit_test(test_request_charged_to_cap),
		cmocka_unit_test(test_announce_age),
		cmocka_unit_test(test_known_set_fifo),
		cmocka_unit_test(test_rejected_never_requested),
		cmocka_unit_test(test_payload_verdicts),
		cmocka_unit_test(test_known_ids_not_requested),
		cmocka_unit_test(test_request_unannounced),
		cmocka_unit_test(test_bad_inv_kind_disconnects),
		cmocka_unit_test(test_poisson_delay),
		cmocka_unit_test(test_poisson_extremes),
		cmocka_unit_test(test_stats),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
