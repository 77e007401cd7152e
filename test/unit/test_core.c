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

int main(void)
{
	uint8_t seed[32], pub[32];
	memset(seed, 7, sizeof(seed));
	rumor_sign_keypair_from_seed(seed, pub, secret);
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relay_two_nodes),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
