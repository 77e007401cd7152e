/*
 * test/unit/test_core.c: the node core (net/core.h) with fixed inputs and
 * fake time, through a small world of cores (test/unit/core_world.h) whose
 * messages go through the real codec.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>

#include "crypto/sign.h"
#include "net/blockpool.h"
#define W_STORE 4096 /* a block of more than RUMOR_CORE_HAS_SMALL transactions */
#include "test/unit/core_world.h"

#define T0 1700000000u

static uint8_t secret[64];

static uint8_t *make_tx(struct world *w, uint64_t nonce, size_t *len)
{
	uint8_t *tx = rumor_tx_create(&w->net, secret, nonce, T0, (const uint8_t *)"payload", 7,
				      len);
	assert_non_null(tx);
	return tx;
}

static void id_of(const uint8_t *bytes, size_t len, uint8_t id[32])
{
	struct rumor_item item;
	assert_null(rumor_item_decode(&item, bytes, len));
	memcpy(id, item.id, 32);
}

/* ---- relay path ----------------------------------------------------- */

static void test_relay_two_nodes(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 2, NULL);
	w_connect(&w, 0, 1, RUMOR_CORE_NO_TARGET);
	size_t len;
	uint8_t *tx = make_tx(&w, 1, &len);
	uint8_t id[32];
	id_of(tx, len, id);
	rumor_core_submit(w.n[0].core, 77, tx, len, RUMOR_ITEM_TX, w.now, w.wall);
	w_settle(&w);
	/* RPC item: verified, stored synced, answered ACCEPTED; no store check */
	assert_int_equal(w.n[0].n_replies, 1);
	assert_int_equal(w.n[0].replies[0].token, 77);
	assert_int_equal(w.n[0].replies[0].status, RUMOR_SUBMIT_ACCEPTED);
	assert_int_equal(w.n[0].has_queries, 0);
	assert_int_equal(w.n[0].store[0].sync, 1);
	/* announced after the 5 ms flush; fetched, checked, verified, stored lazily */
	assert_int_equal(w.n[1].n_store, 0);
	w_advance(&w, w.now + 5000);
	assert_int_equal(w.n[1].n_store, 1);
	assert_memory_equal(w.n[1].store[0].id, id, 32);
	assert_int_equal(w.n[1].store[0].sync, 0);
	assert_string_equal(w.n[1].store[0].source, "peer");
	assert_int_equal(w.n[0].sent_by_type[RUMOR_MSG_INV], 1);
	assert_int_equal(w.n[1].sent_by_type[RUMOR_MSG_GETDATA], 1);
	assert_int_equal(w.n[0].sent_by_type[RUMOR_MSG_TX], 1);
	assert_int_equal(w.n[0].gets, 0); /* served from the cache */
	/* B does not announce it back to A (A sent it) */
	w_advance(&w, w.now + 100000);
	assert_int_equal(w.n[1].sent_by_type[RUMOR_MSG_INV], 0);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[1].core, &st);
	assert_int_equal(st.accepted_tx, 1);
	assert_int_equal(st.accepted_peer, 1);
	assert_int_equal(st.peers, 1);
	assert_int_equal(st.in_flight, 0);
	assert_true(rumor_core_idle(w.n[1].core));
	free(tx);
	w_free(&w);
}


/* ---- helpers for one core with hand-made peers ---------------------- */

static uint8_t *make_block(struct world *w, uint64_t height, const uint8_t *prev,
			   const uint8_t *tx_ids, uint32_t n, size_t *len)
{
	uint8_t zero[32] = {0};
	uint8_t *b = rumor_block_create(&w->net, secret, height, prev ? prev : zero, T0, tx_ids, n,
					len);
	assert_non_null(b);
	return b;
}

static rumor_core_peer fake_peer(struct world *w, int node, uint8_t id_byte, uint64_t nonce,
				 int outbound, rumor_core_target target, int data)
{
	struct rumor_core_peer_info info;
	memset(&info, 0, sizeof(info));
	memset(info.node_id, id_byte, 32);
	info.hello_nonce = nonce;
	info.outbound = outbound;
	info.target = target;
	info.addr = "127.0.0.1:9";
	return rumor_core_peer_ready(w->n[node].core, &info, (void *)(uintptr_t)data, w->now);
}

static void send_msg(struct world *w, int node, rumor_core_peer peer, uint16_t type,
		     const struct rumor_inv_entry *entries, uint32_t count)
{
	struct rumor_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.u.inv.entries.entries = entries;
	m.u.inv.entries.count = count;
	/* through the codec, as from a socket */
	static uint8_t buf[1 << 20];
	size_t len;
	assert_int_equal(rumor_msg_encode(&m, buf, sizeof(buf), &len), 0);
	struct rumor_msg d;
	assert_null(rumor_msg_decode(&d, buf, len));
	rumor_core_on_message(w->n[node].core, peer, &d, w->now, w->wall);
}

/* Messages a node sent, captured (and still delivered). */
static struct {
	int from, to;
	uint16_t type;
	uint32_t count;
	uint8_t first_id[32];
} cap[256];
static size_t n_cap;

static int capture(struct world *w, int from, int to, const struct rumor_msg *m)
{
	(void)w;
	if (n_cap < 256) {
		cap[n_cap].from = from;
		cap[n_cap].to = to;
		cap[n_cap].type = m->type;
		cap[n_cap].count = 0;
		if (m->type == RUMOR_MSG_INV || m->type == RUMOR_MSG_GETDATA ||
		    m->type == RUMOR_MSG_NOTFOUND) {
			const struct rumor_inv_entry *e = m->u.inv.entries.entries;
			cap[n_cap].count = m->u.inv.entries.count;
			if (e && m->u.inv.entries.count)
				memcpy(cap[n_cap].first_id, e[0].id, 32);
		}
		n_cap++;
	}
	/* a fake peer (data beyond the world) swallows it */
	return to >= w->count;
}

static size_t count_cap(int from, uint16_t type)
{
	size_t n = 0;
	for (size_t i = 0; i < n_cap; i++)
		n += cap[i].from == from && cap[i].type == type;
	return n;
}

/* ---- pipeline ------------------------------------------------------- */

static void test_dedup_join(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, NULL);
	w.n[0].auto_verify = 0;
	size_t len;
	uint8_t *tx = make_tx(&w, 2, &len);
	rumor_core_submit(w.n[0].core, 1, tx, len, 0, w.now, w.wall);
	rumor_core_submit(w.n[0].core, 2, tx, len, 0, w.now, w.wall);
	w_settle(&w);
	assert_int_equal(w.n[0].verifies, 1); /* one job for both */
	assert_int_equal(w.n[0].n_replies, 0);
	rumor_core_verified(w.n[0].core, w.n[0].jobs[0].a.job, NULL, w.now);
	w_settle(&w);
	assert_int_equal(w.n[0].n_replies, 2);
	assert_int_equal(w.n[0].replies[0].token, 1);
	assert_int_equal(w.n[0].replies[0].status, RUMOR_SUBMIT_ACCEPTED);
	assert_int_equal(w.n[0].replies[1].token, 2);
	assert_int_equal(w.n[0].replies[1].status, RUMOR_SUBMIT_KNOWN);
	/* an answer to a job that is over, or made up, changes nothing */
	rumor_core_verified(w.n[0].core, w.n[0].jobs[0].a.job, NULL, w.now);
	rumor_core_stored(w.n[0].core, 12345, 0, NULL, w.now);
	w_settle(&w);
	assert_int_equal(w.n[0].n_replies, 2);
	/* bad bytes: EDECODE at once, no job */
	rumor_core_submit(w.n[0].core, 3, (const uint8_t *)"junk", 4, 0, w.now, w.wall);
	w_settle(&w);
	assert_int_equal(w.n[0].replies[2].status, RUMOR_SUBMIT_EDECODE);
	/* wrong kind */
	rumor_core_submit(w.n[0].core, 4, tx, len, RUMOR_ITEM_BLOCK, w.now, w.wall);
	w_settle(&w);
	assert_int_equal(w.n[0].replies[3].status, RUMOR_SUBMIT_EDECODE);
	free(tx);
	w_free(&w);
}

static void caps_one(struct rumor_core_config *cfg, int i)
{
	(void)i;
	cfg->pending_max = 1;
}

static void test_caps_ebusy(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, caps_one);
	w.n[0].auto_verify = 0;
	size_t l1, l2;
	uint8_t *t1 = make_tx(&w, 3, &l1), *t2 = make_tx(&w, 4, &l2);
	rumor_core_submit(w.n[0].core, 1, t1, l1, 0, w.now, w.wall);
	rumor_core_submit(w.n[0].core, 2, t2, l2, 0, w.now, w.wall);
	rumor_core_submit(w.n[0].core, 3, t1, l1, 0, w.now, w.wall); /* joins: no cap */
	w_settle(&w);
	assert_int_equal(w.n[0].n_replies, 1);
	assert_int_equal(w.n[0].replies[0].token, 2);
	assert_int_equal(w.n[0].replies[0].status, RUMOR_SUBMIT_EBUSY);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.in_flight, 1);
	assert_int_equal(st.in_flight_bytes, l1);
	free(t1);
	free(t2);
	w_free(&w);
}

static void test_store_check_before_verify(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, NULL);
	size_t len;
	uint8_t *tx = make_tx(&w, 5, &len);
	struct rumor_item item;
	assert_null(rumor_item_decode(&item, tx, len));
	assert_int_equal(w_store_put(&w.n[0], &item, 1, "rpc"), 0);
	uint8_t pid[32];
	memset(pid, 0x77, 32);
	rumor_core_submit_relayed(w.n[0].core, 9, tx, len, 0, pid, w.now, w.wall);
	w_settle(&w);
	assert_int_equal(w.n[0].has_queries, 1);
	assert_int_equal(w.n[0].verifies, 0); /* the store had it: no signature work */
	assert_int_equal(w.n[0].replies[0].status, RUMOR_SUBMIT_KNOWN);
	/* An RPC item skips the check and is verified; the write finds it. */
	rumor_core_submit(w.n[0].core, 10, tx, len, 0, w.now, w.wall);
	w_settle(&w);
	assert_int_equal(w.n[0].has_queries, 1);
	assert_int_equal(w.n[0].verifies, 1);
	assert_int_equal(w.n[0].replies[1].status, RUMOR_SUBMIT_KNOWN);
	/* the store failing to answer: ESTORE, still nothing verified */
	uint8_t *tx2 = make_tx(&w, 6, &len);
	w.n[0].auto_has = 0;
	rumor_core_submit_relayed(w.n[0].core, 11, tx2, len, 0, pid, w.now, w.wall);
	w_settle(&w);
	rumor_core_store_has_answer(w.n[0].core, w.n[0].jobs[0].a.job, -1, NULL, w.now);
	w_settle(&w);
	assert_int_equal(w.n[0].replies[2].status, RUMOR_SUBMIT_ESTORE);
	assert_int_equal(w.n[0].verifies, 1);
	free(tx);
	free(tx2);
	w_free(&w);
}

/* A write the store refuses (a full disk): the RPC reason carries the
 * store's text, and the log gets one line per interval with a count, not
 * a line per item. */
static void test_store_failure_reason_and_log(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, NULL);
	w.n[0].auto_store = 0;
	const char *full = "No space left on device (database or disk is full)";
	size_t len;
	uint8_t *tx = make_tx(&w, 9, &len);
	rumor_core_submit(w.n[0].core, 1, tx, len, 0, w.now, w.wall);
	w_settle(&w);
	assert_int_equal(w.n[0].n_jobs, 1);
	assert_int_equal(w.n[0].jobs[0].a.type, RUMOR_CORE_STORE_PUT);
	size_t logs0 = w.n[0].n_logs;
	rumor_core_stored(w.n[0].core, w.n[0].jobs[0].a.job, -ENOSPC, full, w.now);
	w_settle(&w);
	assert_int_equal(w.n[0].n_replies, 1);
	assert_int_equal(w.n[0].replies[0].status, RUMOR_SUBMIT_ESTORE);
	assert_string_equal(w.n[0].replies[0].reason,
			    "database error: No space left on device (database or disk is full); "
			    "item not stored");
	assert_int_equal(w.n[0].n_logs, logs0 + 1);
	assert_non_null(strstr(w.n[0].last_log, "cannot store item: No space left on device"));
	/* three more fail within the interval: answered, not logged */
	uint8_t *txs[3];
	for (int i = 0; i < 3; i++) {
		txs[i] = make_tx(&w, 10 + i, &len);
		rumor_core_submit(w.n[0].core, 2 + (uint64_t)i, txs[i], len, 0, w.now, w.wall);
		w_settle(&w);
		assert_int_equal(w.n[0].n_jobs, 2 + (size_t)i);
		w.now += 1000000;
		rumor_core_stored(w.n[0].core, w.n[0].jobs[1 + i].a.job, -ENOSPC, NULL, w.now);
		w_settle(&w);
		assert_int_equal(w.n[0].replies[1 + i].status, RUMOR_SUBMIT_ESTORE);
	}
	assert_string_equal(w.n[0].replies[3].reason,
			    "database error: item not stored"); /* no text given */
	assert_int_equal(w.n[0].n_logs, logs0 + 1);
	/* the core asks to be woken when the interval ends; then one line */
	uint64_t due = rumor_core_expiry(w.n[0].core);
	assert_true(due <= w.now - 3000000 + 10000000);
	w.now = due;
	rumor_core_handle_expiry(w.n[0].core, w.now);
	assert_int_equal(w.n[0].n_logs, logs0 + 2);
	assert_non_null(strstr(w.n[0].last_log, "cannot store 3 more item(s) in the last 10 s"));
	assert_non_null(strstr(w.n[0].last_log, "store error"));
	/* nothing more to say: no second line */
	w.now += 20000000;
	rumor_core_handle_expiry(w.n[0].core, w.now);
	assert_int_equal(w.n[0].n_logs, logs0 + 2);
	free(tx);
	for (int i = 0; i < 3; i++)
		free(txs[i]);
	w_free(&w);
}

static void test_rpc_waiter_synced_put(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, NULL);
	w.n[0].auto_store = 0;
	size_t len;
	uint8_t *tx = make_tx(&w, 7, &len);
	uint8_t pid[32];
	memset(pid, 0x77, 32);
	rumor_core_submit_relayed(w.n[0].core, 1, tx, len, 0, pid, w.now, w.wall);
	w_settle(&w);
	assert_int_equal(w.n[0].n_jobs, 1);
	assert_int_equal(w.n[0].jobs[0].a.type, RUMOR_CORE_STORE_PUT);
	assert_int_equal(w.n[0].jobs[0].a.sync, 0); /* a peer's item: lazy */
	/* the RPC copy joins while the lazy put is out */
	rumor_core_submit(w.n[0].core, 2, tx, len, 0, w.now, w.wall);
	w_settle(&w);
	struct rumor_item item;
	assert_null(rumor_item_decode(&item, tx, len));
	w_store_put(&w.n[0], &item, 0, "peer");
	rumor_core_stored(w.n[0].core, w.n[0].jobs[0].a.job, 0, NULL, w.now);
	w_settle(&w);
	/* no answer yet: a synced put first */
	assert_int_equal(w.n[0].n_replies, 0);
	assert_int_equal(w.n[0].n_jobs, 2);
	assert_int_equal(w.n[0].jobs[1].a.type, RUMOR_CORE_STORE_PUT);
	assert_int_equal(w.n[0].jobs[1].a.sync, 1);
	rumor_core_stored(w.n[0].core, w.n[0].jobs[1].a.job, 1, NULL, w.now);
	w_settle(&w);
	assert_int_equal(w.n[0].n_replies, 2);
	assert_int_equal(w.n[0].replies[0].status, RUMOR_SUBMIT_ACCEPTED);
	assert_int_equal(w.n[0].replies[1].status, RUMOR_SUBMIT_KNOWN);
	/* an RPC submitter before the write makes the first put synced */
	uint8_t *tx2 = make_tx(&w, 8, &len);
	rumor_core_submit_relayed(w.n[0].core, 3, tx2, len, 0, pid, w.now, w.wall);
	rumor_core_submit(w.n[0].core, 4, tx2, len, 0, w.now, w.wall);
	w_settle(&w);
	assert_int_equal(w.n[0].jobs[2].a.sync, 1);
	free(tx);
	free(tx2);
	w_free(&w);
}

static void test_reject_closes_and_never_refetched(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 3, NULL);
	n_cap = 0;
	w.on_send = capture;
	w_connect(&w, 0, 1, RUMOR_CORE_NO_TARGET);
	w_connect(&w, 2, 1, RUMOR_CORE_NO_TARGET);
	w.n[1].bad_verify = "bad signature";
	size_t len;
	uint8_t *tx = make_tx(&w, 9, &len);
	rumor_core_submit(w.n[0].core, 1, tx, len, 0, w.now, w.wall);
	w_advance(&w, w.now + 10000);
	assert_int_equal(w.n[1].n_closes, 1);
	assert_int_equal(w.n[1].closes[0].to, 0);
	assert_int_equal(w.n[1].closes[0].code, RUMOR_DISCONNECT_MISBEHAVIOUR);
	assert_string_equal(w.n[1].closes[0].reason, "sent an invalid item: bad signature");
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[1].core, &st);
	assert_int_equal(st.invalid_received, 1);
	assert_int_equal(w.n[1].n_store, 0);
	/* node 2 announces it too: node 1 never asks for it again */
	size_t getdata_before = count_cap(1, RUMOR_MSG_GETDATA);
	rumor_core_submit(w.n[2].core, 1, tx, len, 0, w.now, w.wall);
	w_advance(&w, w.now + 10000);
	assert_int_equal(count_cap(2, RUMOR_MSG_INV), 1);
	assert_int_equal(count_cap(1, RUMOR_MSG_GETDATA), getdata_before);
	free(tx);
	w_free(&w);
}

/* ---- outcomes of peer items (the shell's metrics) ------------------- */

static struct {
	int kind, status;
	uint64_t latency_us;
} outcomes[16];
static size_t n_outcomes;

static void record_outcome(void *ctx, int kind, int status, uint64_t latency_us)
{
	(void)ctx;
	assert_true(n_outcomes < 16);
	outcomes[n_outcomes].kind = kind;
	outcomes[n_outcomes].status = status;
	outcomes[n_outcomes].latency_us = latency_us;
	n_outcomes++;
}

static void tweak_outcomes(struct rumor_core_config *cfg, int i)
{
	if (i == 1)
		cfg->peer_item = record_outcome;
}

static void test_peer_item_outcomes(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 2, tweak_outcomes);
	n_outcomes = 0;
	w_connect(&w, 0, 1, RUMOR_CORE_NO_TARGET);
	size_t len, len2;
	uint8_t *tx = make_tx(&w, 21, &len);
	uint8_t *bad = make_tx(&w, 22, &len2);
	uint64_t t0 = w.now;
	rumor_core_submit(w.n[0].core, 1, tx, len, 0, w.now, w.wall);
	w_advance(&w, w.now + 10000);
	/* node 1 stored the tx it fetched from node 0: one ACCEPTED, timed
	 * with the clock the world gives the core */
	assert_int_equal(w.n[1].n_store, 1);
	assert_int_equal(n_outcomes, 1);
	assert_int_equal(outcomes[0].kind, RUMOR_ITEM_TX);
	assert_int_equal(outcomes[0].status, RUMOR_SUBMIT_ACCEPTED);
	assert_true(outcomes[0].latency_us <= w.now - t0);
	/* node 0's RPC items are not peer items: no call there */
	/* a tx whose signature fails: EREJECT, once */
	w.n[1].bad_verify = "bad signature";
	rumor_core_submit(w.n[0].core, 2, bad, len2, 0, w.now, w.wall);
	w_advance(&w, w.now + 10000);
	assert_int_equal(n_outcomes, 2);
	assert_int_equal(outcomes[1].kind, RUMOR_ITEM_TX);
	assert_int_equal(outcomes[1].status, RUMOR_SUBMIT_EREJECT);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[1].core, &st);
	assert_int_equal(st.accepted_peer, 1);
	assert_int_equal(st.invalid_received, 1);
	free(tx);
	free(bad);
	w_free(&w);
}

/* ---- block pools ---------------------------------------------------- */

static void test_orphan_then_parent(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 2, NULL);
	w_connect(&w, 0, 1, RUMOR_CORE_NO_TARGET);
	size_t l1, l2;
	uint8_t *b1 = make_block(&w, 0, NULL, NULL, 0, &l1);
	uint8_t id1[32];
	id_of(b1, l1, id1);
	uint8_t *b2 = make_block(&w, 1, id1, NULL, 0, &l2);
	rumor_core_submit(w.n[0].core, 1, b2, l2, 0, w.now, w.wall);
	w_advance(&w, w.now + 10000);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[1].core, &st);
	assert_int_equal(st.orphan_blocks, 1);
	assert_int_equal(w.n[1].n_store, 0);
	/* the parent arrives: both stored, the child after it */
	rumor_core_submit(w.n[0].core, 2, b1, l1, 0, w.now, w.wall);
	w_advance(&w, w.now + 10000);
	rumor_core_get_stats(w.n[1].core, &st);
	assert_int_equal(st.orphan_blocks, 0);
	assert_int_equal(w.n[1].n_store, 2);
	assert_memory_equal(w.n[1].store[0].id, id1, 32);
	assert_int_equal(st.accepted_block, 2);
	free(b1);
	free(b2);
	w_free(&w);
}

/* The core remembers when each peer last delivered a new valid item, per
 * kind: the input of the eviction rule that protects useful peers
 * (net/evict.h, src/peers.c). */
static void test_last_new_item(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 2, NULL);
	w_connect(&w, 0, 1, RUMOR_CORE_NO_TARGET);
	rumor_core_peer a_at_b = w.n[1].peer_of[0], b_at_a = w.n[0].peer_of[1];
	uint64_t tx_us = 1, block_us = 1;
	assert_int_equal(rumor_core_peer_last_new(w.n[1].core, a_at_b, &tx_us, &block_us), 0);
	assert_int_equal(tx_us, 0);
	assert_int_equal(block_us, 0);
	size_t len;
	uint8_t *tx = make_tx(&w, 9, &len);
	uint64_t t_submit = w.now;
	rumor_core_submit(w.n[0].core, 1, tx, len, RUMOR_ITEM_TX, w.now, w.wall);
	w_advance(&w, w.now + 10000);
	assert_int_equal(w.n[1].n_store, 1);
	assert_int_equal(rumor_core_peer_last_new(w.n[1].core, a_at_b, &tx_us, &block_us), 0);
	assert_true(tx_us > t_submit && tx_us <= w.now); /* when B found it valid and new */
	assert_int_equal(block_us, 0);
	uint64_t first_tx_us = tx_us;
	/* A got nothing new from B */
	assert_int_equal(rumor_core_peer_last_new(w.n[0].core, b_at_a, &tx_us, &block_us), 0);
	assert_int_equal(tx_us, 0);
	assert_int_equal(block_us, 0);
	/* a block: its own time; the transaction's stays */
	size_t blen;
	uint8_t *b = make_block(&w, 0, NULL, NULL, 0, &blen);
	rumor_core_submit(w.n[0].core, 2, b, blen, 0, w.now, w.wall);
	w_advance(&w, w.now + 10000);
	assert_int_equal(w.n[1].n_store, 2);
	assert_int_equal(rumor_core_peer_last_new(w.n[1].core, a_at_b, &tx_us, &block_us), 0);
	assert_int_equal(tx_us, first_tx_us);
	assert_true(block_us > first_tx_us && block_us <= w.now);
	/* unknown and closed handles */
	assert_int_equal(rumor_core_peer_last_new(w.n[1].core, RUMOR_CORE_NO_PEER, &tx_us, &block_us),
			 -ENOENT);
	rumor_core_peer_closed(w.n[1].core, a_at_b, 0, w.now);
	assert_int_equal(rumor_core_peer_last_new(w.n[1].core, a_at_b, &tx_us, &block_us), -ENOENT);
	free(tx);
	free(b);
	w_free(&w);
}

static void test_pending_then_txs(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 2, NULL);
	w_connect(&w, 0, 1, RUMOR_CORE_NO_TARGET);
	size_t lt, lb;
	uint8_t *tx = make_tx(&w, 10, &lt);
	uint8_t tid[32];
	id_of(tx, lt, tid);
	uint8_t *b = make_block(&w, 0, NULL, tid, 1, &lb);
	rumor_core_submit(w.n[0].core, 1, b, lb, 0, w.now, w.wall);
	w_advance(&w, w.now + 10000);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[1].core, &st);
	assert_int_equal(st.pending_blocks, 1);
	assert_int_equal(w.n[1].n_store, 0);
	rumor_core_submit(w.n[0].core, 2, tx, lt, 0, w.now, w.wall);
	w_advance(&w, w.now + 10000);
	rumor_core_get_stats(w.n[1].core, &st);
	assert_int_equal(st.pending_blocks, 0);
	assert_int_equal(w.n[1].n_store, 2);
	assert_int_equal(w.n[1].store[1].kind, RUMOR_ITEM_BLOCK);
	free(tx);
	free(b);
	w_free(&w);
}

static void pools_two(struct rumor_core_config *cfg, int i)
{
	(void)i;
	cfg->pool_blocks = 2;
}

static void test_pool_expiry_and_cap(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, pools_two);
	n_cap = 0;
	w.on_send = capture;
	rumor_core_peer p = fake_peer(&w, 0, 0x55, 5, 1, RUMOR_CORE_NO_TARGET, 9);
	uint8_t parent[32];
	memset(parent, 0xee, 32);
	uint8_t *blocks[3];
	size_t lens[3];
	uint8_t ids[3][32];
	for (int i = 0; i < 3; i++) {
		blocks[i] = make_block(&w, 5 + (uint64_t)i, parent, NULL, 0, &lens[i]);
		id_of(blocks[i], lens[i], ids[i]);
	}
	/* announced, requested, delivered: an orphan (its parent unknown) */
	uint64_t t0 = w.now;
	for (int i = 0; i < 2; i++) {
		struct rumor_inv_entry e = {RUMOR_ITEM_BLOCK, {0}};
		memcpy(e.id, ids[i], 32);
		send_msg(&w, 0, p, RUMOR_MSG_INV, &e, 1);
		w_settle(&w);
		struct rumor_msg m;
		memset(&m, 0, sizeof(m));
		m.type = RUMOR_MSG_BLOCK;
		m.u.block.item.ptr = blocks[i];
		m.u.block.item.len = (uint32_t)lens[i];
		rumor_core_on_message(w.n[0].core, p, &m, w.now, w.wall);
		w_settle(&w);
	}
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.orphan_blocks, 2);
	/* the parent was asked for, from that peer */
	assert_true(count_cap(0, RUMOR_MSG_GETDATA) >= 3);
	/* expiry at exactly t0 + 60 s */
	assert_true(rumor_core_expiry(w.n[0].core) <= t0 + 60000000);
	rumor_core_handle_expiry(w.n[0].core, t0 + 60000000 - 1);
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.orphan_blocks, 2);
	/* a third: the cap (2) drops the oldest */
	w.now = t0 + 1000;
	struct rumor_inv_entry e = {RUMOR_ITEM_BLOCK, {0}};
	memcpy(e.id, ids[2], 32);
	send_msg(&w, 0, p, RUMOR_MSG_INV, &e, 1);
	w_settle(&w);
	struct rumor_msg m;
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_BLOCK;
	m.u.block.item.ptr = blocks[2];
	m.u.block.item.len = (uint32_t)lens[2];
	rumor_core_on_message(w.n[0].core, p, &m, t0 + 60000000 - 1, w.wall);
	w_settle(&w);
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.orphan_blocks, 2);
	assert_non_null(strstr(w.n[0].last_log, "pool full"));
	rumor_core_handle_expiry(w.n[0].core, t0 + 60000000);
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.orphan_blocks, 1); /* block 1 expired; block 2 is newer */
	assert_non_null(strstr(w.n[0].last_log, "its parent did not arrive in time"));
	for (int i = 0; i < 3; i++)
		free(blocks[i]);
	w_free(&w);
}


/* ---- per-peer budgets ----------------------------------------------- */

#include "net/ratelimit.h"

static void test_bucket_boundaries(void **state)
{
	(void)state;
	struct rumor_bucket b;
	rumor_bucket_init(&b, 10, 20, 1000);
	assert_int_equal(rumor_bucket_level(&b, 1000), 20);
	assert_int_equal(rumor_bucket_take(&b, 20, 1000), 0); /* exactly the burst: no debt */
	assert_int_equal(rumor_bucket_ready_at(&b, 1000), 1000);
	assert_int_equal(rumor_bucket_take(&b, 1, 1000), 1); /* one more: a debt of 1 */
	assert_int_equal(rumor_bucket_ready_at(&b, 1000), 1000 + 100000); /* 1 token at 10/s */
	assert_int_equal(rumor_bucket_level(&b, 1000 + 99999), -1);
	assert_int_equal(rumor_bucket_level(&b, 1000 + 100000), 0);
	assert_int_equal(rumor_bucket_level(&b, 1000 + 100000 + 1999999), 19);
	assert_int_equal(rumor_bucket_level(&b, 1000 + 100000 + 2000000), 20);
	assert_int_equal(rumor_bucket_level(&b, 1000 + 100000 + 9000000), 20); /* capped */
	assert_int_equal(rumor_bucket_level(&b, 5), 20); /* time going back: nothing */
	assert_int_equal(rumor_bucket_take(&b, 25, 1000 + 100000 + 9000000), 1);
	assert_int_equal(rumor_bucket_ready_at(&b, 1000 + 100000 + 9000000),
			 1000 + 100000 + 9000000 + 500000);
}

static void tweak_budget(struct rumor_core_config *cfg, int i)
{
	(void)i;
	cfg->peer_msg_rate = 10;
	cfg->peer_msg_burst = 20;
	cfg->abuse_window_us = 10000000;
}

static void send_getaddr(struct world *w, int node, rumor_core_peer p, uint64_t now)
{
	struct rumor_msg m;
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_GETADDR;
	rumor_core_on_message(w->n[node].core, p, &m, now, w->wall);
}

static void test_read_pause_resume(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, tweak_budget);
	w.on_send = capture;
	rumor_core_peer p = fake_peer(&w, 0, 0x55, 5, 0, RUMOR_CORE_NO_TARGET, 9);
	uint64_t t = w.now;
	for (int i = 0; i < 20; i++)
		send_getaddr(&w, 0, p, t);
	w_settle(&w);
	assert_int_equal(w.n[0].pauses, 0); /* the whole burst: no wait */
	send_getaddr(&w, 0, p, t);
	w_settle(&w);
	assert_int_equal(w.n[0].pauses, 1);
	struct rumor_core_peer_budget b;
	assert_int_equal(rumor_core_peer_budget(w.n[0].core, p, &b), 0);
	assert_int_equal(b.paused, 1);
	assert_int_equal(b.msg_tokens, -1);
	assert_int_equal(rumor_core_expiry(w.n[0].core), t + 100000);
	rumor_core_handle_expiry(w.n[0].core, t + 99999);
	w_settle(&w);
	assert_int_equal(w.n[0].resumes, 0);
	rumor_core_handle_expiry(w.n[0].core, t + 100000);
	w_settle(&w);
	assert_int_equal(w.n[0].resumes, 1);
	assert_int_equal(rumor_core_peer_budget(w.n[0].core, p, &b), 0);
	assert_int_equal(b.paused, 0);
	assert_int_equal(b.paused_us, 100000);
	/* messages read before the pause took effect deepen the debt: one
	 * pause, longer */
	t += 100000;
	for (int i = 0; i < 5; i++)
		send_getaddr(&w, 0, p, t);
	w_settle(&w);
	assert_int_equal(w.n[0].pauses, 2);
	assert_int_equal(rumor_core_expiry(w.n[0].core), t + 500000);
	/* a peer at exactly the rate never waits */
	t += 500000;
	rumor_core_handle_expiry(w.n[0].core, t);
	w_settle(&w);
	assert_int_equal(w.n[0].resumes, 2);
	for (int i = 0; i < 1000; i++) {
		t += 100000;
		send_getaddr(&w, 0, p, t);
	}
	w_settle(&w);
	assert_int_equal(w.n[0].pauses, 2);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.throttle_pauses, 2);
	assert_int_equal(st.throttle_closes, 0);
	assert_int_equal(w.n[0].n_closes, 0);
	w_free(&w);
}

static void test_abuse_closes(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, tweak_budget);
	w.on_send = capture;
	/* paused most of a window: closed at the first pause or resume after it */
	rumor_core_peer p = fake_peer(&w, 0, 0x55, 5, 0, RUMOR_CORE_NO_TARGET, 9);
	uint64_t t = w.now;
	int cycles = 0;
	while (w.n[0].n_closes == 0 && cycles < 100) {
		for (int i = 0; i < (cycles ? 20 : 40); i++) /* 20 over: paused 2 s */
			send_getaddr(&w, 0, p, t);
		w_settle(&w);
		t = rumor_core_expiry(w.n[0].core);
		rumor_core_handle_expiry(w.n[0].core, t);
		w_settle(&w);
		cycles++;
	}
	assert_int_equal(w.n[0].n_closes, 1);
	assert_int_equal(w.n[0].closes[0].code, RUMOR_DISCONNECT_MISBEHAVIOUR);
	assert_non_null(strstr(w.n[0].closes[0].reason, "persistently"));
	assert_int_equal(cycles, 5); /* the window (10 s) ended at the fifth resume */
	/* a peer that keeps sending while paused: over a whole burst of debt */
	rumor_core_peer q = fake_peer(&w, 0, 0x56, 6, 0, RUMOR_CORE_NO_TARGET, 10);
	for (int i = 0; i < 40; i++)
		send_getaddr(&w, 0, q, t);
	w_settle(&w);
	assert_int_equal(w.n[0].n_closes, 1); /* a debt of exactly the burst */
	send_getaddr(&w, 0, q, t);
	w_settle(&w);
	assert_int_equal(w.n[0].n_closes, 2);
	assert_int_equal(w.n[0].closes[1].code, RUMOR_DISCONNECT_MISBEHAVIOUR);
	assert_non_null(strstr(w.n[0].closes[1].reason, "whole burst"));
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.throttle_closes, 2);
	w_free(&w);
}

static void tweak_share(struct rumor_core_config *cfg, int i)
{
	(void)i;
	cfg->peer_pipeline_max = 2;
}

static void test_pipeline_share(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 2, tweak_share);
	w_connect(&w, 0, 1, RUMOR_CORE_NO_TARGET);
	w.n[1].auto_verify = 0;
	uint8_t *tx[3];
	size_t len[3];
	for (int i = 0; i < 3; i++) {
		tx[i] = make_tx(&w, 40 + (uint64_t)i, &len[i]);
		rumor_core_submit(w.n[0].core, (uint64_t)i + 1, tx[i], len[i], 0, w.now, w.wall);
	}
	w_advance(&w, w.now + 100000);
	/* node 1 asked for two only: its share */
	assert_int_equal(w.n[1].verifies, 2);
	rumor_core_peer p = w.n[1].peer_of[0];
	struct rumor_core_peer_budget b;
	assert_int_equal(rumor_core_peer_budget(w.n[1].core, p, &b), 0);
	assert_int_equal(b.pipeline_items, 2);
	assert_int_equal(b.held, 1);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[1].core, &st);
	assert_int_equal(st.peers_held, 1);
	assert_int_equal(st.relay.requests_in_flight, 0);
	/* the verifications end: the third is asked for, nothing was dropped */
	size_t n = w.n[1].n_jobs;
	w.n[1].n_jobs = 0;
	for (size_t k = 0; k < n; k++)
		rumor_core_verified(w.n[1].core, w.n[1].jobs[k].a.job, NULL, w.now);
	w.n[1].auto_verify = 1;
	w_advance(&w, w.now + 100000);
	assert_int_equal(w.n[1].verifies, 3);
	assert_int_equal(w.n[1].n_store, 3);
	assert_int_equal(rumor_core_peer_budget(w.n[1].core, p, &b), 0);
	assert_int_equal(b.pipeline_items, 0);
	assert_int_equal(b.held, 0);
	assert_int_equal(w.n[1].n_closes, 0);
	for (int i = 0; i < 3; i++)
		free(tx[i]);
	w_free(&w);
}

static void tweak_reserve(struct rumor_core_config *cfg, int i)
{
	(void)i;
	cfg->pending_max = 4;
	cfg->rpc_reserve = 2;
}

static void test_rpc_reserve(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 2, tweak_reserve);
	w_connect(&w, 0, 1, RUMOR_CORE_NO_TARGET);
	w.n[1].auto_verify = 0;
	uint8_t *tx[5];
	size_t len[5];
	for (int i = 0; i < 5; i++)
		tx[i] = make_tx(&w, 60 + (uint64_t)i, &len[i]);
	for (int i = 0; i < 2; i++)
		rumor_core_submit(w.n[0].core, (uint64_t)i + 1, tx[i], len[i], 0, w.now, w.wall);
	w_advance(&w, w.now + 100000);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[1].core, &st);
	assert_int_equal(st.peer_items, 2); /* the peers' part is full */
	assert_int_equal(st.peers_held, 1);
	/* one more announced: not asked for while the peers' part is full */
	rumor_core_submit(w.n[0].core, 3, tx[2], len[2], 0, w.now, w.wall);
	w_advance(&w, w.now + 100000);
	assert_int_equal(w.n[1].verifies, 2);
	/* RPC still gets in: the reserve */
	size_t replies = w.n[1].n_replies;
	rumor_core_submit(w.n[1].core, 100, tx[3], len[3], 0, w.now, w.wall);
	rumor_core_submit(w.n[1].core, 101, tx[4], len[4], 0, w.now, w.wall);
	w_settle(&w);
	assert_int_equal(w.n[1].n_replies, replies); /* no EBUSY */
	assert_int_equal(w.n[1].verifies, 4);
	rumor_core_get_stats(w.n[1].core, &st);
	assert_int_equal(st.in_flight, 4);
	for (int i = 0; i < 5; i++)
		free(tx[i]);
	w_free(&w);
}

static void test_block_verified_before_pool(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, NULL);
	n_cap = 0;
	w.on_send = capture;
	rumor_core_peer p = fake_peer(&w, 0, 0x55, 5, 0, RUMOR_CORE_NO_TARGET, 9);
	uint8_t parent[32];
	memset(parent, 0xee, 32);
	size_t len;
	uint8_t *blk = make_block(&w, 5, parent, NULL, 0, &len);
	uint8_t id[32];
	id_of(blk, len, id);
	struct rumor_inv_entry e = {RUMOR_ITEM_BLOCK, {0}};
	memcpy(e.id, id, 32);
	send_msg(&w, 0, p, RUMOR_MSG_INV, &e, 1);
	w_settle(&w);
	/* a forged signature: rejected before it takes pool space */
	w.n[0].bad_verify = "bad signature";
	struct rumor_msg m;
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_BLOCK;
	m.u.block.item.ptr = blk;
	m.u.block.item.len = (uint32_t)len;
	rumor_core_on_message(w.n[0].core, p, &m, w.now, w.wall);
	w_settle(&w);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(w.n[0].verifies, 1);
	assert_int_equal(st.orphan_blocks, 0);
	assert_int_equal(st.invalid_received, 1);
	assert_int_equal(w.n[0].n_closes, 1);
	assert_int_equal(w.n[0].closes[0].code, RUMOR_DISCONNECT_MISBEHAVIOUR);
	/* the same block signed well, from another peer: verified once, then
	 * an orphan; the pipeline does not verify it again */
	w.n[0].bad_verify = NULL;
	uint8_t *good = make_block(&w, 6, parent, NULL, 0, &len);
	id_of(good, len, e.id);
	rumor_core_peer q = fake_peer(&w, 0, 0x56, 6, 0, RUMOR_CORE_NO_TARGET, 10);
	send_msg(&w, 0, q, RUMOR_MSG_INV, &e, 1);
	w_settle(&w);
	m.u.block.item.ptr = good;
	m.u.block.item.len = (uint32_t)len;
	rumor_core_on_message(w.n[0].core, q, &m, w.now, w.wall);
	w_settle(&w);
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(w.n[0].verifies, 2);
	assert_int_equal(st.orphan_blocks, 1);
	free(blk);
	free(good);
	w_free(&w);
}

/* A block's tx ids (duplicates, Merkle root) are checked by its VERIFY job,
 * off the loop thread, not when it arrives; a bad one is still rejected
 * before it takes pool space.  A big block's store check is a query of its
 * own, after the small ones. */
static void test_block_ids_checked_by_verify(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, NULL);
	n_cap = 0;
	w.on_send = capture;
	w.n[0].real_verify = 1;
	rumor_core_peer p = fake_peer(&w, 0, 0x55, 5, 0, RUMOR_CORE_NO_TARGET, 9);
	uint8_t ids[3 * 32];
	for (int i = 0; i < 3 * 32; i++)
		ids[i] = (uint8_t)(i * 7 + 1);
	size_t len;
	uint8_t *blk = make_block(&w, 0, NULL, ids, 3, &len);
	blk[len - 64 - 1] ^= 1; /* the last tx id (before the signature) */
	struct rumor_item item;
	assert_null(rumor_item_decode(&item, blk, len));
	assert_null(rumor_item_check_header(&item, &w.net, T0));
	assert_string_equal(rumor_item_check_ids(&item), "block Merkle root does not match its tx ids");
	struct rumor_inv_entry e = {RUMOR_ITEM_BLOCK, {0}};
	memcpy(e.id, item.id, 32);
	send_msg(&w, 0, p, RUMOR_MSG_INV, &e, 1);
	w_settle(&w);
	struct rumor_msg m;
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_BLOCK;
	m.u.block.item.ptr = blk;
	m.u.block.item.len = (uint32_t)len;
	rumor_core_on_message(w.n[0].core, p, &m, w.now, w.wall);
	w_settle(&w);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(w.n[0].verifies, 1); /* through VERIFY, not refused at once */
	assert_int_equal(st.invalid_received, 1);
	assert_int_equal(st.orphan_blocks + st.pending_blocks, 0);
	assert_int_equal(w.n[0].n_closes, 1);
	assert_int_equal(w.n[0].closes[0].code, RUMOR_DISCONNECT_MISBEHAVIOUR);
	assert_non_null(strstr(w.n[0].closes[0].reason, "Merkle root does not match"));
	free(blk);

	/* a valid block naming 2000 unknown transactions, and beside it an
	 * inv of one unknown transaction from another peer */
	enum { BIG = 2000 };
	uint8_t *big_ids = malloc(BIG * 32);
	assert_non_null(big_ids);
	for (uint32_t i = 0; i < BIG; i++) {
		memset(big_ids + 32 * i, 0x5a, 32);
		memcpy(big_ids + 32 * i, &i, sizeof(i));
	}
	uint8_t *good = make_block(&w, 0, NULL, big_ids, BIG, &len);
	rumor_core_peer q = fake_peer(&w, 0, 0x56, 6, 0, RUMOR_CORE_NO_TARGET, 10);
	rumor_core_peer r = fake_peer(&w, 0, 0x57, 7, 0, RUMOR_CORE_NO_TARGET, 11);
	id_of(good, len, e.id);
	send_msg(&w, 0, q, RUMOR_MSG_INV, &e, 1);
	w_settle(&w);
	uint64_t before = w.n[0].has_queries;
	assert_true(before + 2 <= 16);
	m.u.block.item.ptr = good;
	m.u.block.item.len = (uint32_t)len;
	rumor_core_on_message(w.n[0].core, q, &m, w.now, w.wall);
	struct rumor_inv_entry t = {RUMOR_ITEM_TX, {0}};
	memset(t.id, 0xa5, 32);
	send_msg(&w, 0, r, RUMOR_MSG_INV, &t, 1);
	w_settle(&w);
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.pending_blocks, 1);
	assert_int_equal(w.n[0].has_queries, before + 2);
	assert_int_equal(w.n[0].has_count[before], 1); /* the small one first */
	assert_memory_equal(w.n[0].has_first[before], t.id, 32);
	assert_int_equal(w.n[0].has_count[before + 1], BIG); /* the block's alone */
	assert_memory_equal(w.n[0].has_first[before + 1], big_ids, 32);
	free(good);
	free(big_ids);
	w_free(&w);
}

/* A big block's store answer (its ids are not looked up in memory when it
 * comes) is brought up to date with what was stored while it was asked:
 * by the log of recent stores when few were, by a lookup of each id when
 * more than that log holds were.  Either way the block does not wait for
 * a transaction already stored, and completes with the rest. */
static uint32_t big_slice;

static void tweak_slice(struct rumor_core_config *cfg, int i)
{
	(void)i;
	cfg->block_slice = big_slice;
}

/* with_parent: the block is at height 1 and its parent, which memory does
 * not know, is asked of the store too (ids[0]; the others are then a copy
 * of the block's ids, not the block's own).  slice: cfg.block_slice (0:
 * the default, more than the block's); the block's ids are then asked in
 * slices, each only when the one before is all stored. */
static void big_block_stored_meanwhile(uint32_t meanwhile, uint64_t seed, int with_parent,
				       uint32_t slice)
{
	static struct world w;
	enum { NTX = RUMOR_CORE_HAS_SMALL + 76 };
	big_slice = slice;
	w_init(&w, 1, slice ? tweak_slice : NULL);
	uint32_t first = slice ? slice : NTX;
	n_cap = 0;
	w.on_send = capture;
	uint8_t **tx = calloc(NTX, sizeof(*tx));
	size_t *len = calloc(NTX, sizeof(*len));
	uint8_t *ids = malloc((size_t)NTX * 32);
	assert_true(tx && len && ids);
	for (uint32_t i = 0; i < NTX; i++) {
		tx[i] = make_tx(&w, seed + i, &len[i]);
		id_of(tx[i], len[i], ids + 32 * (size_t)i);
	}
	size_t blen;
	uint8_t parent[32];
	memset(parent, 0x7e, sizeof(parent));
	uint8_t *blk = make_block(&w, with_parent ? 1 : 0, with_parent ? parent : NULL, ids, NTX,
				  &blen);
	uint8_t bid[32];
	id_of(blk, blen, bid);
	rumor_core_peer q = fake_peer(&w, 0, 0x56, 6, 0, RUMOR_CORE_NO_TARGET, 10);
	struct rumor_inv_entry e = {RUMOR_ITEM_BLOCK, {0}};
	memcpy(e.id, bid, 32);
	send_msg(&w, 0, q, RUMOR_MSG_INV, &e, 1);
	w_settle(&w);
	w.n[0].auto_has = 0;
	struct rumor_msg m;
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_BLOCK;
	m.u.block.item.ptr = blk;
	m.u.block.item.len = (uint32_t)blen;
	rumor_core_on_message(w.n[0].core, q, &m, w.now, w.wall);
	w_settle(&w);
	/* the block's query: every transaction, none looked up in memory */
	assert_int_equal(w.n[0].n_jobs, 1);
	assert_int_equal(w.n[0].jobs[0].a.type, RUMOR_CORE_STORE_HAS);
	assert_int_equal(w.n[0].jobs[0].count, first + (with_parent ? 1 : 0));
	if (with_parent)
		assert_memory_equal(w.n[0].jobs[0].ids, parent, 32);
	assert_memory_equal(w.n[0].jobs[0].ids + (with_parent ? 32 : 0), ids, (size_t)first * 32);
	uint64_t query = w.n[0].jobs[0].a.job;
	uint64_t queries = w.n[0].has_queries; /* the block's inv's and its first slice's */
	/* meanwhile some of its transactions are stored (RPC: no store check) */
	for (uint32_t i = 0; i < meanwhile; i++)
		rumor_core_submit(w.n[0].core, 1000 + i, tx[i], len[i], 0, w.now, w.wall);
	w_settle(&w);
	assert_int_equal(w.n[0].n_store, meanwhile);
	/* the store answers from before they were */
	uint8_t *none = calloc(NTX + 1, 1);
	assert_non_null(none);
	none[0] = (uint8_t)with_parent; /* the parent is stored */
	rumor_core_store_has_answer(w.n[0].core, query, 0, none, w.now);
	w.n[0].auto_has = 1;
	w_settle(&w);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.pending_blocks, 1);
	uint32_t from = meanwhile;
	if (slice) {
		/* all of the first slice but one: the next is not asked yet */
		for (; from < slice - 1; from++)
			rumor_core_submit(w.n[0].core, 1000 + from, tx[from], len[from], 0, w.now,
					  w.wall);
		w_settle(&w);
		rumor_core_get_stats(w.n[0].core, &st);
		assert_int_equal(st.pending_blocks, 1);
		assert_int_equal(w.n[0].has_queries, queries);
	}
	/* the rest come: the block completes and is stored */
	for (uint32_t i = from; i < NTX; i++)
		rumor_core_submit(w.n[0].core, 1000 + i, tx[i], len[i], 0, w.now, w.wall);
	w_settle(&w);
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.pending_blocks, 0);
	assert_true(w_store_find(&w.n[0], bid) >= 0);
	if (slice) { /* each later slice asked once, in order */
		uint32_t nq = (uint32_t)queries;
		for (uint32_t at = slice; at < NTX; at += slice, nq++) {
			assert_true(nq < 16);
			assert_int_equal(w.n[0].has_count[nq], NTX - at < slice ? NTX - at : slice);
			assert_memory_equal(w.n[0].has_first[nq], ids + 32 * (size_t)at, 32);
		}
		/* then the complete block's own, before it is stored */
		assert_int_equal(w.n[0].has_queries, nq + 1);
		assert_int_equal(w.n[0].has_count[nq], 1);
		assert_memory_equal(w.n[0].has_first[nq], bid, 32);
	}
	for (uint32_t i = 0; i < NTX; i++)
		free(tx[i]);
	free(tx);
	free(len);
	free(ids);
	free(none);
	free(blk);
	w_free(&w);
}

static void test_big_block_stored_meanwhile(void **state)
{
	(void)state;
	big_block_stored_meanwhile(3, 5000, 0, 0);  /* from the log of recent stores */
	big_block_stored_meanwhile(70, 9000, 0, 0); /* more than it holds: each id looked up */
	big_block_stored_meanwhile(3, 7000, 1, 0);  /* its parent asked too */
	big_block_stored_meanwhile(70, 11000, 1, 0);
	big_block_stored_meanwhile(3, 13000, 0, 400); /* in slices of 400 */
	big_block_stored_meanwhile(70, 15000, 1, 400);
}

/* The index of a held block's missing ids: each is got once, an id it
 * does not miss never, and n_left counts down to 0. */
static void test_held_block_index(void **state)
{
	(void)state;
	enum { N = 1000 };
	struct rumor_held_block *hb = calloc(1, sizeof(*hb));
	assert_non_null(hb);
	/* A block of 2N tx ids, alike but for 4 bytes; it misses the odd
	 * ones, listed by position, last first. */
	static uint8_t tx_ids[2 * N * 32];
	for (uint32_t i = 0; i < 2 * N; i++) {
		memset(tx_ids + 32 * (size_t)i, 0, 32);
		memcpy(tx_ids + 32 * (size_t)i + 28, &i, 4);
	}
	hb->item.kind = RUMOR_ITEM_BLOCK;
	hb->item.u.block.tx_ids = tx_ids;
	hb->item.u.block.tx_count = 2 * N;
	hb->missing = malloc((size_t)N * sizeof(*hb->missing));
	assert_non_null(hb->missing);
	for (uint32_t i = 0; i < N; i++)
		hb->missing[i] = 2 * (N - 1 - i) + 1;
	hb->n_missing = N;
	uint8_t key[16] = {1, 2, 3};
	assert_int_equal(rumor_held_block_index(hb, key), 0);
	assert_int_equal(hb->n_left, N);
	assert_true(rumor_held_block_memory(hb) > (size_t)N * 4 + 2 * N * sizeof(uint32_t));
	for (uint32_t i = 0; i < 2 * N; i += 2) { /* ones it does not miss */
		const uint8_t *id = tx_ids + 32 * (size_t)i;
		assert_int_equal(rumor_held_block_got(hb, id, rumor_held_block_hash(key, id)), 0);
	}
	assert_int_equal(hb->n_left, N);
	uint8_t other[32];
	memset(other, 0, 32);
	uint32_t big = 2 * N + 5; /* in no block */
	memcpy(other + 28, &big, 4);
	assert_int_equal(rumor_held_block_got(hb, other, rumor_held_block_hash(key, other)), 0);
	for (uint32_t i = N; i-- > 0;) {
		const uint8_t *id = tx_ids + 32 * (size_t)(2 * i + 1);
		uint64_t h = rumor_held_block_hash(key, id);
		assert_int_equal(rumor_held_block_got(hb, id, h), 1);
		assert_int_equal(rumor_held_block_got(hb, id, h), 0); /* once */
		assert_int_equal(hb->n_left, i);
	}
	rumor_held_block_free(hb);
}

static void tweak_serve(struct rumor_core_config *cfg, int i)
{
	(void)i;
	cfg->serve_turn_max = 2;
	cfg->serve_window_bytes = 1;
	cfg->serve_stall_us = 5000000;
}

static void test_serving_fair_and_paced(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, tweak_serve);
	n_cap = 0;
	w.on_send = capture;
	rumor_core_peer a = fake_peer(&w, 0, 0x55, 5, 0, RUMOR_CORE_NO_TARGET, 9);
	rumor_core_peer b = fake_peer(&w, 0, 0x56, 6, 0, RUMOR_CORE_NO_TARGET, 10);
	struct rumor_inv_entry want[3];
	uint8_t *tx[3];
	for (int i = 0; i < 3; i++) {
		size_t len;
		tx[i] = make_tx(&w, 80 + (uint64_t)i, &len);
		struct rumor_item item;
		assert_null(rumor_item_decode(&item, tx[i], len));
		w_store_put(&w.n[0], &item, 1, "rpc"); /* store reads, not the cache */
		want[i].kind = RUMOR_ITEM_TX;
		memcpy(want[i].id, item.id, 32);
	}
	/* round robin, two store reads per event */
	send_msg(&w, 0, a, RUMOR_MSG_GETDATA, want, 3);
	send_msg(&w, 0, b, RUMOR_MSG_GETDATA, want, 3);
	w_settle(&w);
	assert_int_equal(w.n[0].gets, 2);
	assert_int_equal(n_cap, 2);
	assert_int_equal(cap[0].to, 8);
	assert_int_equal(cap[1].to, 9);
	assert_int_equal(rumor_core_expiry(w.n[0].core), w.now); /* the rest: at once */
	rumor_core_handle_expiry(w.n[0].core, w.now);
	w_settle(&w);
	assert_int_equal(w.n[0].gets, 4);
	assert_int_equal(cap[2].to, 8);
	assert_int_equal(cap[3].to, 9);
	rumor_core_handle_expiry(w.n[0].core, w.now);
	w_settle(&w);
	assert_int_equal(w.n[0].gets, 6);
	assert_int_equal(count_cap(0, RUMOR_MSG_TX), 6);
	/* paced by the output queue: one item, then wait for it to drain */
	w.n[0].hold_output = 1;
	n_cap = 0;
	uint64_t t = w.now;
	send_msg(&w, 0, a, RUMOR_MSG_GETDATA, want, 3);
	rumor_core_handle_expiry(w.n[0].core, w.now);
	w_settle(&w);
	assert_int_equal(count_cap(0, RUMOR_MSG_TX), 1);
	struct rumor_core_peer_budget pb;
	assert_int_equal(rumor_core_peer_budget(w.n[0].core, a, &pb), 0);
	assert_true(pb.output_queued > 0);
	assert_int_equal(pb.serve_queued, 3);
	rumor_core_peer_output(w.n[0].core, a, 0, w.now); /* written */
	w_settle(&w);
	assert_int_equal(count_cap(0, RUMOR_MSG_TX), 2);
	/* it never reads again: closed after serve_stall_us, not before */
	assert_int_equal(rumor_core_expiry(w.n[0].core), t + 5000000);
	rumor_core_handle_expiry(w.n[0].core, t + 5000000 - 1);
	w_settle(&w);
	assert_int_equal(w.n[0].n_closes, 0);
	rumor_core_handle_expiry(w.n[0].core, t + 5000000);
	w_settle(&w);
	assert_int_equal(w.n[0].n_closes, 1);
	assert_int_equal(w.n[0].closes[0].code, RUMOR_DISCONNECT_TIMEOUT);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.serve_stall_closes, 1);
	assert_true(st.serve_blocked >= 1);
	for (int i = 0; i < 3; i++)
		free(tx[i]);
	w_free(&w);
}

static void tweak_serve_rr(struct rumor_core_config *cfg, int i)
{
	(void)i;
	cfg->serve_turn_max = 1; /* one store read per event: the order shows */
}

/* The round robin is across peers, not getdata messages: a peer that sends
 * three getdata gets no more turns than one that sent one. */
static void test_serving_fair_across_peers(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, tweak_serve_rr);
	n_cap = 0;
	w.on_send = capture;
	rumor_core_peer a = fake_peer(&w, 0, 0x55, 5, 0, RUMOR_CORE_NO_TARGET, 9);
	rumor_core_peer b = fake_peer(&w, 0, 0x56, 6, 0, RUMOR_CORE_NO_TARGET, 10);
	struct rumor_inv_entry want[2];
	uint8_t *tx[2];
	for (int i = 0; i < 2; i++) {
		size_t len;
		tx[i] = make_tx(&w, 90 + (uint64_t)i, &len);
		struct rumor_item item;
		assert_null(rumor_item_decode(&item, tx[i], len));
		w_store_put(&w.n[0], &item, 1, "rpc"); /* store reads, not the cache */
		want[i].kind = RUMOR_ITEM_TX;
		memcpy(want[i].id, item.id, 32);
	}
	/* a asks three times (2 entries each), then b once */
	for (int k = 0; k < 3; k++)
		send_msg(&w, 0, a, RUMOR_MSG_GETDATA, want, 2);
	send_msg(&w, 0, b, RUMOR_MSG_GETDATA, want, 2);
	w_settle(&w);
	for (int k = 0; k < 12 && count_cap(0, RUMOR_MSG_TX) < 8; k++) {
		rumor_core_handle_expiry(w.n[0].core, w.now);
		w_settle(&w);
	}
	assert_int_equal(count_cap(0, RUMOR_MSG_TX), 8);
	/* the first four items sent alternate a, b, a, b: b's getdata is done
	 * by the fourth (per message it would have waited behind a's three) */
	int to_b = 0, seen = 0;
	for (size_t i = 0; i < n_cap && seen < 4; i++) {
		if (cap[i].type != RUMOR_MSG_TX)
			continue;
		seen++;
		if (cap[i].to == 9)
			to_b++;
	}
	assert_int_equal(seen, 4);
	assert_int_equal(to_b, 2);
	struct rumor_core_peer_budget pb;
	assert_int_equal(rumor_core_peer_budget(w.n[0].core, a, &pb), 0);
	assert_int_equal(pb.serve_queued, 0);
	/* a peer that closes with jobs still waiting frees them */
	for (int k = 0; k < 3; k++)
		send_msg(&w, 0, a, RUMOR_MSG_GETDATA, want, 2);
	rumor_core_peer_closed(w.n[0].core, a, 0, w.now);
	rumor_core_handle_expiry(w.n[0].core, w.now);
	w_settle(&w);
	for (int i = 0; i < 2; i++)
		free(tx[i]);
	w_free(&w);
}

/* ---- getdata serving ------------------------------------------------ */

/* make_tx's items: a 7-byte payload. */
#define SERVE_TX_LEN ((uint64_t)RUMOR_TX_SIZE_MIN + 7)

static void tweak_serve_budget(struct rumor_core_config *cfg, int i)
{
	(void)i;
	cfg->serve_rate = SERVE_TX_LEN;      /* one item per second */
	cfg->serve_burst = 2 * SERVE_TX_LEN; /* two at once */
}

/* Stores n transactions (store reads, not the cache) and fills want. */
static void stored_txs(struct world *w, uint64_t nonce, int n, uint8_t **tx,
		       struct rumor_inv_entry *want)
{
	for (int i = 0; i < n; i++) {
		size_t len;
		tx[i] = make_tx(w, nonce + (uint64_t)i, &len);
		assert_int_equal(len, SERVE_TX_LEN);
		struct rumor_item item;
		assert_null(rumor_item_decode(&item, tx[i], len));
		w_store_put(&w->n[0], &item, 1, "rpc");
		want[i].kind = RUMOR_ITEM_TX;
		memcpy(want[i].id, item.id, 32);
	}
}

static size_t count_tx_to(int to)
{
	size_t n = 0;
	for (size_t i = 0; i < n_cap; i++)
		n += cap[i].type == RUMOR_MSG_TX && cap[i].to == to;
	return n;
}

/* The serving budget: items are served while the peer's bucket is not in
 * debt (the one that takes it into debt included); the rest of its
 * entries wait, exactly until the debt is repaid, and are then served,
 * none dropped; another peer is served meanwhile. */
static void test_serving_budget_waits(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, tweak_serve_budget);
	n_cap = 0;
	w.on_send = capture;
	rumor_core_peer a = fake_peer(&w, 0, 0x55, 5, 0, RUMOR_CORE_NO_TARGET, 9);
	rumor_core_peer b = fake_peer(&w, 0, 0x56, 6, 0, RUMOR_CORE_NO_TARGET, 10);
	struct rumor_inv_entry want[5];
	uint8_t *tx[5];
	stored_txs(&w, 300, 5, tx, want);
	uint64_t t0 = w.now;
	send_msg(&w, 0, a, RUMOR_MSG_GETDATA, want, 5);
	w_settle(&w);
	/* burst 2L: L, L (level 0, not in debt), L (debt L): three, then wait */
	assert_int_equal(count_tx_to(8), 3);
	assert_int_equal(w.n[0].gets, 3);
	struct rumor_core_peer_budget pb;
	assert_int_equal(rumor_core_peer_budget(w.n[0].core, a, &pb), 0);
	assert_int_equal(pb.serve_waiting, 1);
	assert_int_equal(pb.serve_waits, 1);
	assert_int_equal(pb.serve_tokens, -(int64_t)SERVE_TX_LEN);
	assert_int_equal(pb.serve_queued, 5);
	assert_int_equal(rumor_core_expiry(w.n[0].core), t0 + 1000000);
	/* b, with a budget of its own, is served while a waits */
	send_msg(&w, 0, b, RUMOR_MSG_GETDATA, want, 2);
	w_settle(&w);
	assert_int_equal(count_tx_to(9), 2);
	assert_int_equal(count_tx_to(8), 3);
	/* 1 us early: still waiting */
	w.now = t0 + 1000000 - 1;
	rumor_core_handle_expiry(w.n[0].core, w.now);
	w_settle(&w);
	assert_int_equal(count_tx_to(8), 3);
	assert_int_equal(rumor_core_expiry(w.n[0].core), t0 + 1000000);
	/* repaid: the fourth, then debt again for one more second */
	w.now = t0 + 1000000;
	rumor_core_handle_expiry(w.n[0].core, w.now);
	w_settle(&w);
	assert_int_equal(count_tx_to(8), 4);
	assert_int_equal(rumor_core_expiry(w.n[0].core), t0 + 2000000);
	assert_int_equal(rumor_core_peer_budget(w.n[0].core, a, &pb), 0);
	assert_int_equal(pb.serve_waits, 2);
	w.now = t0 + 2000000;
	rumor_core_handle_expiry(w.n[0].core, w.now);
	w_settle(&w);
	assert_int_equal(count_tx_to(8), 5);
	assert_int_equal(count_cap(0, RUMOR_MSG_NOTFOUND), 0);
	for (int i = 0; i < 5; i++) /* each once, in the order asked */
		assert_int_equal(cap[i].type, RUMOR_MSG_TX);
	assert_int_equal(rumor_core_peer_budget(w.n[0].core, a, &pb), 0);
	assert_int_equal(pb.serve_queued, 0);
	assert_int_equal(pb.serve_waiting, 0);
	assert_int_equal(pb.serve_waits, 2);
	assert_int_equal(rumor_core_expiry(w.n[0].core), UINT64_MAX);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.serve_budget_waits, 2);
	assert_int_equal(st.serve_blocked, 0); /* not the output window */
	/* b was in debt after its two (2L: L, L -> level 0): not waiting */
	assert_int_equal(rumor_core_peer_budget(w.n[0].core, b, &pb), 0);
	assert_int_equal(pb.serve_waits, 0);
	/* a peer closed while it waits: the wait ends with it */
	send_msg(&w, 0, a, RUMOR_MSG_GETDATA, want, 5);
	w_settle(&w);
	assert_int_equal(rumor_core_peer_budget(w.n[0].core, a, &pb), 0);
	assert_int_equal(pb.serve_waiting, 1);
	rumor_core_peer_closed(w.n[0].core, a, 0, w.now);
	assert_int_equal(rumor_core_expiry(w.n[0].core), UINT64_MAX);
	w_settle(&w);
	for (int i = 0; i < 5; i++)
		free(tx[i]);
	w_free(&w);
}

/* An id named twice in one getdata is served once, counted; in the next
 * getdata it is served again (each message is a request of its own). */
static void test_serving_skips_duplicates(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, NULL);
	n_cap = 0;
	w.on_send = capture;
	rumor_core_peer a = fake_peer(&w, 0, 0x55, 5, 0, RUMOR_CORE_NO_TARGET, 9);
	struct rumor_inv_entry stored[2];
	uint8_t *tx[2];
	stored_txs(&w, 400, 2, tx, stored);
	struct rumor_inv_entry missing = {.kind = RUMOR_ITEM_TX};
	memset(missing.id, 0xee, 32);
	/* A A B missing A B missing A */
	struct rumor_inv_entry want[8] = {stored[0], stored[0], stored[1], missing,
					  stored[0], stored[1], missing,   stored[0]};
	send_msg(&w, 0, a, RUMOR_MSG_GETDATA, want, 8);
	w_settle(&w);
	assert_int_equal(w.n[0].gets, 3); /* A, B, missing: each read once */
	assert_int_equal(n_cap, 3);
	assert_int_equal(cap[0].type, RUMOR_MSG_TX);
	assert_int_equal(cap[1].type, RUMOR_MSG_TX);
	assert_int_equal(cap[2].type, RUMOR_MSG_NOTFOUND);
	assert_int_equal(cap[2].count, 1);
	assert_memory_equal(cap[2].first_id, missing.id, 32);
	assert_int_equal(w.n[0].sent_by_type[RUMOR_MSG_TX], 2);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.getdata_duplicates, 5);
	/* the order of first asking is kept: A then B */
	struct rumor_core_peer_budget pb;
	assert_int_equal(rumor_core_peer_budget(w.n[0].core, a, &pb), 0);
	assert_int_equal(pb.serve_queued, 0);
	assert_true(pb.serve_tokens ==
		    (int64_t)RUMOR_CORE_SERVE_BURST_DEFAULT - 2 * (int64_t)SERVE_TX_LEN);
	/* the same ids in a later getdata: served again, nothing counted */
	n_cap = 0;
	send_msg(&w, 0, a, RUMOR_MSG_GETDATA, stored, 2);
	w_settle(&w);
	assert_int_equal(count_tx_to(8), 2);
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.getdata_duplicates, 5);
	for (int i = 0; i < 2; i++)
		free(tx[i]);
	w_free(&w);
}

/* The serving budget's limits are checked like the other budgets'. */
static void test_serve_budget_config(void **state)
{
	(void)state;
	struct rumor_network net;
	assert_int_equal(rumor_network_init(&net, "regtest"), 0);
	struct rumor_core_config cfg;
	struct rumor_core *core = NULL;
	rumor_core_config_default(&cfg);
	assert_int_equal(cfg.serve_rate, 8u << 20);
	assert_int_equal(cfg.serve_burst, 32u << 20);
	cfg.network = &net;
	cfg.serve_rate = 0;
	assert_int_equal(rumor_core_new(&core, &cfg, 1), -EINVAL);
	cfg.serve_rate = RUMOR_BUCKET_MAX + 1;
	assert_int_equal(rumor_core_new(&core, &cfg, 1), -EINVAL);
	cfg.serve_rate = RUMOR_BUCKET_MAX;
	cfg.serve_burst = 0;
	assert_int_equal(rumor_core_new(&core, &cfg, 1), -EINVAL);
	cfg.serve_burst = RUMOR_BUCKET_MAX + 1;
	assert_int_equal(rumor_core_new(&core, &cfg, 1), -EINVAL);
	assert_null(core);
	cfg.serve_burst = RUMOR_BUCKET_MAX;
	assert_int_equal(rumor_core_new(&core, &cfg, 1), 0);
	rumor_core_del(core);
}

static void test_getdata_serving(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, NULL);
	n_cap = 0;
	w.on_send = capture;
	rumor_core_peer p = fake_peer(&w, 0, 0x55, 5, 0, RUMOR_CORE_NO_TARGET, 9);
	size_t l1, l2, l3;
	uint8_t *cached = make_tx(&w, 11, &l1), *stored = make_tx(&w, 12, &l2),
		*later = make_tx(&w, 13, &l3);
	struct rumor_item item;
	assert_null(rumor_item_decode(&item, stored, l2));
	w_store_put(&w.n[0], &item, 1, "rpc"); /* in the store, not in the cache */
	rumor_core_submit(w.n[0].core, 1, cached, l1, 0, w.now, w.wall);
	w_settle(&w);
	struct rumor_inv_entry want[3];
	want[0].kind = RUMOR_ITEM_TX;
	id_of(cached, l1, want[0].id);
	want[1].kind = RUMOR_ITEM_TX;
	id_of(stored, l2, want[1].id);
	want[2].kind = RUMOR_ITEM_TX;
	id_of(later, l3, want[2].id);
	n_cap = 0;
	uint64_t gets = w.n[0].gets;
	send_msg(&w, 0, p, RUMOR_MSG_GETDATA, want, 3);
	w_settle(&w);
	assert_int_equal(w.n[0].gets, gets + 2); /* the cache served the first */
	assert_int_equal(count_cap(0, RUMOR_MSG_TX), 2);
	assert_int_equal(count_cap(0, RUMOR_MSG_NOTFOUND), 1);
	assert_int_equal(cap[n_cap - 1].count, 1);
	assert_memory_equal(cap[n_cap - 1].first_id, want[2].id, 32);
	/* what was not served is not known to the peer: announced when we get it */
	n_cap = 0;
	rumor_core_submit(w.n[0].core, 2, later, l3, 0, w.now, w.wall);
	w_advance(&w, w.now + 10000);
	assert_int_equal(count_cap(0, RUMOR_MSG_INV), 1);
	assert_memory_equal(cap[0].first_id, want[2].id, 32);
	/* a peer that closes stops being served */
	n_cap = 0;
	send_msg(&w, 0, p, RUMOR_MSG_GETDATA, want, 3);
	rumor_core_peer_closed(w.n[0].core, p, 0, w.now);
	w_settle(&w);
	assert_int_equal(n_cap, 0);
	free(cached);
	free(stored);
	free(later);
	w_free(&w);
}

/* ---- peers ---------------------------------------------------------- */

static void test_self_and_duplicate(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, NULL);
	/* self: our own nonce */
	rumor_core_peer s = fake_peer(&w, 0, 0x55, w.n[0].nonce, 0, RUMOR_CORE_NO_TARGET, 9);
	assert_true(rumor_core_peer_is_closing(w.n[0].core, s));
	w_settle(&w);
	assert_int_equal(w.n[0].closes[0].code, RUMOR_DISCONNECT_SELF);
	rumor_core_peer_closed(w.n[0].core, s, RUMOR_DISCONNECT_SELF, w.now);
	/* duplicate, same direction: the newer goes */
	rumor_core_peer a = fake_peer(&w, 0, 0x55, 5, 0, RUMOR_CORE_NO_TARGET, 9);
	rumor_core_peer b = fake_peer(&w, 0, 0x55, 5, 0, RUMOR_CORE_NO_TARGET, 9);
	assert_false(rumor_core_peer_is_closing(w.n[0].core, a));
	assert_true(rumor_core_peer_is_closing(w.n[0].core, b));
	w_settle(&w);
	assert_int_equal(w.n[0].closes[1].code, RUMOR_DISCONNECT_DUPLICATE);
	assert_string_equal(w.n[0].closes[1].reason, "already connected to this node");
	uint8_t id55[32];
	memset(id55, 0x55, 32);
	assert_int_equal(rumor_core_find_peer(w.n[0].core, id55), a);
	/* our id (0x10..) is lower than 0x55..: the connection we initiated
	 * wins, whichever came first */
	rumor_core_peer c = fake_peer(&w, 0, 0x55, 5, 1, RUMOR_CORE_NO_TARGET, 9);
	assert_false(rumor_core_peer_is_closing(w.n[0].core, c));
	assert_true(rumor_core_peer_is_closing(w.n[0].core, a));
	assert_int_equal(rumor_core_find_peer(w.n[0].core, id55), c);
	/* an id lower than ours (0x05..): the connection it initiated wins */
	rumor_core_peer d = fake_peer(&w, 0, 0x05, 6, 0, RUMOR_CORE_NO_TARGET, 9);
	rumor_core_peer e = fake_peer(&w, 0, 0x05, 6, 1, RUMOR_CORE_NO_TARGET, 9);
	assert_false(rumor_core_peer_is_closing(w.n[0].core, d));
	assert_true(rumor_core_peer_is_closing(w.n[0].core, e));
	w_settle(&w);
	assert_non_null(strstr(w.n[0].closes[2].reason, "simultaneous dials"));
	assert_int_equal(w.n[0].closes[3].code, RUMOR_DISCONNECT_DUPLICATE);
	/* disconnectnode */
	assert_int_equal(rumor_core_disconnect(w.n[0].core, id55, w.now), 0);
	uint8_t none[32];
	memset(none, 0x99, 32);
	assert_int_equal(rumor_core_disconnect(w.n[0].core, none, w.now), -ENOENT);
	w_settle(&w);
	assert_int_equal(w.n[0].closes[4].code, RUMOR_DISCONNECT_REQUESTED);
	w_free(&w);
}

static void addr_of(struct rumor_core_addr *a, const char *host, uint16_t port)
{
	memset(a, 0, sizeof(*a));
	snprintf(a->host, sizeof(a->host), "%s", host);
	a->port = port;
}

static void targets_two(struct rumor_core_config *cfg, int i)
{
	(void)i;
	cfg->targets_max = 2;
}

static void test_dial_backoff(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, targets_two);
	struct rumor_core *core = w.n[0].core;
	struct rumor_core_addr a, b, c;
	addr_of(&a, "10.0.0.1", 8633);
	addr_of(&b, "10.0.0.2", 8633);
	addr_of(&c, "10.0.0.3", 8633);
	rumor_core_target t;
	assert_int_equal(rumor_core_target_add(core, &a, 0, w.now, &t), 0);
	assert_int_equal(rumor_core_target_add(core, &a, 0, w.now, NULL), -EEXIST);
	assert_int_equal(rumor_core_target_add(core, &b, 0, w.now, NULL), 0);
	assert_int_equal(rumor_core_target_add(core, &c, 0, w.now, NULL), -ENOSPC);
	assert_int_equal(rumor_core_target_remove(core, &b, w.now), 0);
	assert_int_equal(rumor_core_target_remove(core, &b, w.now), -ENOENT);
	w_settle(&w);
	assert_int_equal(w.n[0].n_dial, 1); /* dialled at once */
	assert_int_equal(w.n[0].dial_target[0], t);
	/* failures: 1, 2, 4, ... 60, 60 s */
	static const uint64_t delays[] = {1, 2, 4, 8, 16, 32, 60, 60};
	for (size_t i = 0; i < sizeof(delays) / sizeof(delays[0]); i++) {
		rumor_core_dial_failed(core, t, 0, w.now);
		uint64_t due = w.now + delays[i] * 1000000;
		assert_int_equal(rumor_core_expiry(core), due);
		w.now = due - 1;
		w_settle(&w);
		assert_int_equal(w.n[0].n_dial, i + 1);
		w.now = due;
		rumor_core_handle_expiry(core, w.now);
		w_settle(&w);
		assert_int_equal(w.n[0].n_dial, i + 2);
	}
	/* a good READY resets the backoff to 1 s after its close */
	rumor_core_peer p = fake_peer(&w, 0, 0x55, 5, 1, t, 9);
	assert_false(rumor_core_peer_is_closing(core, p));
	rumor_core_peer_closed(core, p, 0, w.now);
	assert_int_equal(rumor_core_expiry(core), w.now + 1000000);
	/* remove closes its connection with REQUESTED */
	w.now += 1000000;
	w_settle(&w);
	p = fake_peer(&w, 0, 0x55, 5, 1, t, 9);
	assert_int_equal(rumor_core_target_remove(core, &a, w.now), 0);
	w_settle(&w);
	assert_int_equal(w.n[0].closes[0].code, RUMOR_DISCONNECT_REQUESTED);
	assert_string_equal(w.n[0].closes[0].reason, "peer removed by the operator (addnode remove)");
	assert_int_equal(rumor_core_expiry(core), UINT64_MAX);
	w_free(&w);
}

static void test_onetry_and_self_target(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, NULL);
	struct rumor_core *core = w.n[0].core;
	struct rumor_core_addr a;
	addr_of(&a, "10.0.0.1", 8633);
	rumor_core_target t;
	assert_int_equal(rumor_core_target_add(core, &a, 1, w.now, &t), 0);
	assert_int_equal(rumor_core_target_add(core, &a, 1, w.now, NULL), 0); /* never matched */
	assert_int_equal(rumor_core_target_remove(core, &a, w.now), -ENOENT);
	w_settle(&w);
	assert_int_equal(w.n[0].n_dial, 2);
	rumor_core_dial_failed(core, w.n[0].dial_target[0], 0, w.now);
	rumor_core_dial_failed(core, w.n[0].dial_target[1], 0, w.now);
	assert_int_equal(rumor_core_expiry(core), UINT64_MAX); /* dialled once: forgotten */
	/* a target that is this node: given up */
	addr_of(&a, "127.0.0.1", 8633);
	assert_int_equal(rumor_core_target_add(core, &a, 0, w.now, &t), 0);
	w_settle(&w);
	assert_int_equal(w.n[0].n_dial, 3);
	rumor_core_peer s = fake_peer(&w, 0, 0x10, w.n[0].nonce, 1, t, 9);
	assert_non_null(strstr(w.n[0].last_log, "is this node itself"));
	w_settle(&w);
	rumor_core_peer_closed(core, s, RUMOR_DISCONNECT_SELF, w.now);
	assert_int_equal(rumor_core_expiry(core), UINT64_MAX);
	w.now += 120000000;
	rumor_core_handle_expiry(core, w.now);
	w_settle(&w);
	assert_int_equal(w.n[0].n_dial, 3);
	/* a dial that fails with disconnect SELF from the other end too */
	addr_of(&a, "127.0.0.2", 8633);
	assert_int_equal(rumor_core_target_add(core, &a, 0, w.now, &t), 0);
	w_settle(&w);
	rumor_core_dial_failed(core, t, RUMOR_DISCONNECT_SELF, w.now);
	assert_int_equal(rumor_core_expiry(core), UINT64_MAX);
	w_free(&w);
}

/* ---- memory --------------------------------------------------------- */

static void small_cache(struct rumor_core_config *cfg, int i)
{
	(void)i;
	cfg->cache_items = 4;
}

static void test_memory_accounting(void **state)
{
	(void)state;
	static struct world w;
	w_init(&w, 1, small_cache);
	size_t empty = rumor_core_memory(w.n[0].core);
	assert_true(empty > 1000);
	assert_true(empty < 64 * 1024); /* nothing sized by a large limit up front */
	size_t len = 0, one = 0;
	for (uint64_t i = 0; i < 40; i++) {
		uint8_t *tx = make_tx(&w, 100 + i, &len);
		rumor_core_submit(w.n[0].core, i, tx, len, 0, w.now, w.wall);
		w_settle(&w);
		free(tx);
		if (i == 0)
			one = rumor_core_memory(w.n[0].core);
	}
	size_t full = rumor_core_memory(w.n[0].core);
	struct rumor_core_stats st;
	rumor_core_get_stats(w.n[0].core, &st);
	assert_int_equal(st.cache_items, 4);
	assert_true(one >= empty + len); /* the cached copy is counted */
	/* 40 items, 4 cached: the cache's share stays at 4 items */
	assert_true(full < one + 4 * (len + 128) + 4096);
	w_free(&w);
}
/* ---- the parts: idset and handles ---------------------------------- */

#include "net/handles.h"
#include "net/idset.h"

/* The idset against a plain FIFO model, with evictions and deletions
 * (backward shifts) exercised, from a fixed seed. */
static void test_idset_model(void **state)
{
	(void)state;
	enum { CAP = 300, N = 5000 };
	uint8_t key[16] = {1, 2, 3};
	struct rumor_idset set;
	rumor_idset_init(&set, CAP, key);
	static uint8_t model[CAP][32];
	static int marked[CAP];
	int head = 0, count = 0;
	uint64_t x = 42;
	for (int step = 0; step < N; step++) {
		uint8_t id[32];
		memset(id, 0, 32);
		x = x * 6364136223846793005u + 1442695040888963407u;
		uint32_t v = (uint32_t)(x >> 33) % 600; /* repeats, so "present" happens */
		memcpy(id, &v, sizeof(v));
		int mark = (x >> 20) & 1;
		int k, found = -1;
		for (k = 0; k < count; k++)
			if (memcmp(model[(head + k) % CAP], id, 32) == 0)
				found = (head + k) % CAP;
		assert_int_equal(rumor_idset_has(&set, id), found >= 0);
		if (found >= 0) {
			assert_int_equal(rumor_idset_marked(&set, id), marked[found]);
			if (mark)
				marked[found] = 1;
		} else {
			if (count == CAP) {
				head = (head + 1) % CAP;
				count--;
			}
			memcpy(model[(head + count) % CAP], id, 32);
			marked[(head + count) % CAP] = mark;
			count++;
		}
		assert_int_equal(rumor_idset_add(&set, id, mark), 0);
		assert_int_equal(set.count, (uint32_t)count);
	}
	/* every id of the model is there, and evicted ones are not */
	for (int k = 0; k < count; k++)
		assert_true(rumor_idset_has(&set, model[(head + k) % CAP]));
	assert_true(rumor_idset_memory(&set) <= (size_t)CAP * 8 + 1024 * 8);
	rumor_idset_free(&set);
}

static void test_handles(void **state)
{
	(void)state;
	struct rumor_handles h;
	rumor_handles_init(&h, 3, 16);
	int a, b, c, d;
	uint64_t ha, hb, hc, hd;
	assert_int_equal(rumor_handles_put(&h, &a, &ha), 0);
	assert_int_equal(rumor_handles_put(&h, &b, &hb), 0);
	assert_int_equal(rumor_handles_put(&h, &c, &hc), 0);
	assert_int_equal(rumor_handles_put(&h, &d, &hd), -ENOSPC);
	assert_true(ha && hb && hc);
	assert_ptr_equal(rumor_handles_get(&h, hb), &b);
	assert_ptr_equal(rumor_handles_del(&h, hb), &b);
	assert_null(rumor_handles_get(&h, hb)); /* stale */
	assert_null(rumor_handles_del(&h, hb));
	assert_null(rumor_handles_get(&h, 0));
	assert_null(rumor_handles_get(&h, 12345678));
	/* the freed index is reused under a new handle (the old one stays
	 * stale until the 16-bit generation wraps, 65535 reuses later), never
	 * 0, even after the wrap */
	for (int i = 0; i < 70000; i++) {
		assert_int_equal(rumor_handles_put(&h, &d, &hd), 0);
		assert_true(hd != 0 && hd <= UINT32_MAX);
		if (i < 65000)
			assert_true(hd != hb);
		assert_ptr_equal(rumor_handles_get(&h, hd), &d);
		assert_ptr_equal(rumor_handles_del(&h, hd), &d);
	}
	assert_ptr_equal(rumor_handles_get(&h, ha), &a);
	assert_ptr_equal(rumor_handles_get(&h, hc), &c);
	rumor_handles_free(&h);
}

int main(void)
{
	uint8_t seed[32], pub[32];
	memset(seed, 7, sizeof(seed));
	rumor_sign_keypair_from_seed(seed, pub, secret);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_two_nodes),
		cmocka_unit_test(test_dedup_join),
		cmocka_unit_test(test_caps_ebusy),
		cmocka_unit_test(test_store_check_before_verify),
		cmocka_unit_test(test_store_failure_reason_and_log),
		cmocka_unit_test(test_rpc_waiter_synced_put),
		cmocka_unit_test(test_reject_closes_and_never_refetched),
		cmocka_unit_test(test_peer_item_outcomes),
		cmocka_unit_test(test_orphan_then_parent),
		cmocka_unit_test(test_last_new_item),
		cmocka_unit_test(test_pending_then_txs),
		cmocka_unit_test(test_pool_expiry_and_cap),
		cmocka_unit_test(test_getdata_serving),
		cmocka_unit_test(test_bucket_boundaries),
		cmocka_unit_test(test_read_pause_resume),
		cmocka_unit_test(test_abuse_closes),
		cmocka_unit_test(test_pipeline_share),
		cmocka_unit_test(test_rpc_reserve),
		cmocka_unit_test(test_serving_fair_across_peers),
		cmocka_unit_test(test_block_verified_before_pool),
		cmocka_unit_test(test_block_ids_checked_by_verify),
		cmocka_unit_test(test_big_block_stored_meanwhile),
		cmocka_unit_test(test_held_block_index),
		cmocka_unit_test(test_serving_fair_and_paced),
		cmocka_unit_test(test_serving_budget_waits),
		cmocka_unit_test(test_serving_skips_duplicates),
		cmocka_unit_test(test_serve_budget_config),
		cmocka_unit_test(test_self_and_duplicate),
		cmocka_unit_test(test_dial_backoff),
		cmocka_unit_test(test_onetry_and_self_target),
		cmocka_unit_test(test_memory_accounting),
		cmocka_unit_test(test_idset_model),
		cmocka_unit_test(test_handles),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
