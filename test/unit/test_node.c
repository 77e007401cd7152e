/*
 * test/unit/test_node.c: the submission pipeline of a real node (src/node.c)
 * on a real loop and a real store in a temporary datadir (RPC on a free
 * loopback port, not listening for peers).
 *
 * Durability of JSON-RPC answers: an item relayed from a peer is written
 * with lazy_sync (its commit may skip the fsync); an RPC submission of the
 * same item must still not be answered before a synced commit covers it,
 * whether it joins the peer's submission before the write is queued, while
 * the write is in flight, or arrives after the lazy commit.  The SQLite VFS
 * counts WAL fsyncs (counting_vfs.h): the RPC callback must see one that the
 * peer's lazy commit did not make.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "crypto/item.h"
#include "crypto/sign.h"
#include "src/log.h"
#include "src/node.h"
#include "src/options.h"
#include "store/store.h"
#include "test/unit/counting_vfs.h"

#define NETWORK "node-test"

struct fixture {
	char dir[64];
	uv_loop_t loop;
	struct rumor_config cfg;
	struct rumor_node *node;
	struct rumor_network net;
	uint8_t secret[RUMOR_SECRET_SIZE];
};

/* One submitter's outcome. */
struct outcome {
	int calls;
	enum rumor_submit_status status;
	int wal_syncs; /* counting_vfs_wal_syncs() when the callback ran */
	char reason[256];
};

static const uint8_t peer_id[32] = {0x11, 0x22, 0x33};

static void on_outcome(void *arg, enum rumor_submit_status status, const char *reason,
		       const uint8_t *id)
{
	struct outcome *o = arg;
	(void)id;
	snprintf(o->reason, sizeof(o->reason), "%s", reason ? reason : "");
	o->calls++;
	o->status = status;
	o->wal_syncs = counting_vfs_wal_syncs();
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[512] = "";
	uint8_t seed[32], pub[32];

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/rumor-test-node-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	assert_int_equal(uv_loop_init(&f->loop), 0);
	rumor_log_set_level(RUMOR_LOG_ERROR);
	rumor_config_defaults(&f->cfg);
	snprintf(f->cfg.datadir, sizeof(f->cfg.datadir), "%s/data", f->dir);
	snprintf(f->cfg.network, sizeof(f->cfg.network), "%s", NETWORK);
	snprintf(f->cfg.rpc_host, sizeof(f->cfg.rpc_host), "127.0.0.1");
	f->cfg.rpc_port = 0;
	f->cfg.listen = 0;
	counting_vfs_install();
	if (rumor_node_start(&f->node, &f->loop, &f->cfg, err, sizeof(err)) != 0)
		fail_msg("node start: %s", err);
	assert_int_equal(rumor_network_init(&f->net, NETWORK), 0);
	memset(seed, 7, sizeof(seed));
	rumor_sign_keypair_from_seed(seed, pub, f->secret);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	rumor_node_stop(f->node);
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	rumor_node_free(f->node);
	assert_int_equal(uv_loop_close(&f->loop), 0); /* nothing left open */
	counting_vfs_remove();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static uint8_t *make_tx(struct fixture *f, uint64_t nonce, size_t *len)
{
	uint8_t *tx = rumor_tx_create(&f->net, f->secret, nonce, (uint64_t)time(NULL),
				      (const uint8_t *)"payload", 7, len);
	assert_non_null(tx);
	return tx;
}

/* Runs the loop until every outcome has its one callback.  NOWAIT: the
 * test submits from outside any loop callback, and the node's end-of-turn
 * check runs only after a poll returns. */
static void run_until(struct fixture *f, struct outcome *const *outs, size_t n)
{
	for (int turns = 0; turns < 20000; turns++) {
		size_t done = 0;
		for (size_t i = 0; i < n; i++)
			done += outs[i]->calls > 0;
		if (done == n)
			break;
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(500);
	}
	for (size_t i = 0; i < n; i++)
		assert_int_equal(outs[i]->calls, 1);
}

/* The RPC copy joins the peer's submission in the same loop turn, before
 * anything is written. */
static void test_rpc_joins_peer_item_before_write(void **state)
{
	struct fixture *f = *state;
	struct outcome peer = {0}, rpc = {0};
	size_t len;
	uint8_t *tx = make_tx(f, 1, &len);

	int before = counting_vfs_wal_syncs();
	rumor_node_submit(f->node, tx, len, RUMOR_ITEM_TX, "peer", peer_id, on_outcome, &peer);
	rumor_node_submit(f->node, tx, len, RUMOR_ITEM_TX, "rpc", NULL, on_outcome, &rpc);
	run_until(f, (struct outcome *[]){&peer, &rpc}, 2);
	assert_int_equal(peer.status, RUMOR_SUBMIT_ACCEPTED);
	assert_int_equal(rpc.status, RUMOR_SUBMIT_KNOWN);
	assert_true(rpc.wal_syncs > before);
	free(tx);
}

struct join_later {
	struct fixture *f;
	uint8_t *tx;
	size_t len;
	struct outcome *rpc;
	int joined;
	int syncs_at_join;
};

/* The put hook runs once the peer item's write is queued: the RPC copy
 * arrives exactly then. */
static void submit_rpc_copy(void *arg, const struct rumor_item *item, const char *source,
			    const uint8_t *peer)
{
	struct join_later *j = arg;
	(void)item;
	(void)source;
	(void)peer;
	if (j->joined++)
		return;
	j->syncs_at_join = counting_vfs_wal_syncs();
	rumor_node_submit(j->f->node, j->tx, j->len, RUMOR_ITEM_TX, "rpc", NULL, on_outcome,
			  j->rpc);
}

static void test_rpc_joins_peer_item_while_writing(void **state)
{
	struct fixture *f = *state;
	struct outcome peer = {0}, rpc = {0};
	struct join_later j = {.f = f, .rpc = &rpc};

	j.tx = make_tx(f, 2, &j.len);
	rumor_node_set_put_hook(f->node, submit_rpc_copy, &j);
	rumor_node_submit(f->node, j.tx, j.len, RUMOR_ITEM_TX, "peer", peer_id, on_outcome,
			  &peer);
	run_until(f, (struct outcome *[]){&peer, &rpc}, 2);
	/* Two writes: the lazy one the RPC copy joined, then the synced one
	 * its answer waited for. */
	assert_int_equal(j.joined, 2);
	assert_int_equal(peer.status, RUMOR_SUBMIT_ACCEPTED);
	assert_int_equal(rpc.status, RUMOR_SUBMIT_KNOWN);
	assert_true(rpc.wal_syncs > j.syncs_at_join);
	free(j.tx);
}

/* The peer's lazy commit is done; then the RPC copy comes and finds the item
 * in the store. */
static void test_rpc_copy_of_lazily_stored_item(void **state)
{
	struct fixture *f = *state;
	struct outcome peer = {0}, rpc = {0};
	struct rumor_store_stats stats;
	size_t len;
	uint8_t *tx = make_tx(f, 3, &len);

	rumor_node_submit(f->node, tx, len, RUMOR_ITEM_TX, "peer", peer_id, on_outcome, &peer);
	run_until(f, (struct outcome *[]){&peer}, 1);
	assert_int_equal(peer.status, RUMOR_SUBMIT_ACCEPTED);
	rumor_store_get_stats(rumor_node_store(f->node), &stats);
	assert_int_equal(stats.lazy_commits, 1);
	int after_lazy = counting_vfs_wal_syncs();
	rumor_node_submit(f->node, tx, len, RUMOR_ITEM_TX, "rpc", NULL, on_outcome, &rpc);
	run_until(f, (struct outcome *[]){&rpc}, 1);
	assert_int_equal(rpc.status, RUMOR_SUBMIT_KNOWN);
	assert_true(rpc.wal_syncs > after_lazy);
	free(tx);
}

/* An RPC item alone: one synced commit before the answer (the baseline). */
static void test_rpc_item_is_synced(void **state)
{
	struct fixture *f = *state;
	struct outcome rpc = {0};
	size_t len;
	uint8_t *tx = make_tx(f, 4, &len);

	int before = counting_vfs_wal_syncs();
	rumor_node_submit(f->node, tx, len, RUMOR_ITEM_TX, "rpc", NULL, on_outcome, &rpc);
	run_until(f, (struct outcome *[]){&rpc}, 1);
	assert_int_equal(rpc.status, RUMOR_SUBMIT_ACCEPTED);
	assert_true(rpc.wal_syncs > before);
	free(tx);
}

/* A write the database refuses: the submitter is told what SQLite said,
 * not a bare "database error" (a full disk reads the same way). */
static void test_store_failure_reason(void **state)
{
	struct fixture *f = *state;
	struct outcome rpc = {0};
	char path[sizeof(f->cfg.datadir) + 32];
	sqlite3 *db = NULL;
	size_t len;
	uint8_t *tx = make_tx(f, 5, &len);

	snprintf(path, sizeof(path), "%s/rumor.sqlite", f->cfg.datadir);
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_exec(db,
				      "CREATE TRIGGER test_fail BEFORE INSERT ON items BEGIN "
				      "SELECT RAISE(ABORT, 'injected write failure'); END",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	rumor_node_submit(f->node, tx, len, RUMOR_ITEM_TX, "rpc", NULL, on_outcome, &rpc);
	run_until(f, (struct outcome *[]){&rpc}, 1);
	assert_int_equal(rpc.status, RUMOR_SUBMIT_ESTORE);
	assert_string_equal(rpc.reason, "database error: injected write failure; item not stored");
	free(tx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_rpc_item_is_synced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_store_failure_reason, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rpc_joins_peer_item_before_write, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rpc_joins_peer_item_while_writing, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_rpc_copy_of_lazily_stored_item, setup,
						teardown),
	};

	alarm(120); /* a hung loop fails the run instead of stalling it */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
