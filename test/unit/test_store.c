/*
 * test/unit/test_store.c: the item store against real SQLite files.
 *
 * Each test gets a fresh mkdtemp() directory and a real uv_loop_t.  The
 * store keeps the loop alive exactly while puts are in flight, so
 * uv_run(UV_RUN_DEFAULT) returns when every callback has run; each test
 * then checks the callback counts.  Teardown closes the store, runs the loop
 * until the store's handle is closed and freed, asserts uv_loop_close()
 * finds nothing left open, and removes the directory.
 *
 * Items are arbitrary bytes: the store does not validate them.
 */
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>
#include <uv.h>

#include "store/store.h"
#include "test/unit/counting_vfs.h"

struct fixture {
	char dir[64];
	char path[128];
	uv_loop_t loop;
	struct rumor_store *store;
	char err[512];
};

/* A put with its own encoding buffer and a record of its callback. */
struct test_put {
	struct rumor_store_put put;
	uint8_t encoding[256];
	int calls;
	int status;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/rumor-test-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/rumor.db", f->dir);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	*state = f;
	return 0;
}

static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(unlink(path), 0);
	}
	closedir(d);
	assert_int_equal(rmdir(dir), 0);
}

static void close_store(struct fixture *f)
{
	if (f->store) {
		rumor_store_close(f->store);
		f->store = NULL;
		assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
	}
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	close_store(f);
	assert_int_equal(uv_loop_close(&f->loop), 0); /* nothing left open */
	remove_dir(f->dir);
	free(f);
	return 0;
}

static void open_store(struct fixture *f)
{
	int rc = rumor_store_open(&f->store, &f->loop, f->path, f->err, sizeof(f->err));

	if (rc != 0)
		print_error("open: %s\n", f->err);
	assert_int_equal(rc, 0);
	assert_non_null(f->store);
}

static void make_id(uint8_t id[RUMOR_ID_SIZE], uint32_t n)
{
	for (int i = 0; i < RUMOR_ID_SIZE; i++)
		id[i] = (uint8_t)(0xa5 ^ (i * 7));
	id[0] = (uint8_t)(n >> 24);
	id[1] = (uint8_t)(n >> 16);
	id[2] = (uint8_t)(n >> 8);
	id[3] = (uint8_t)n;
}

static void test_put_cb(struct rumor_store_put *put, int status)
{
	struct test_put *tp = put->data;

	tp->calls++;
	tp->status = status;
}

/* Fills tp as item number n.  size <= sizeof(tp->encoding). */
static void fill_put(struct test_put *tp, uint32_t n, enum rumor_item_kind kind, size_t size,
		     const char *source, const uint8_t *peer)
{
	memset(tp, 0, sizeof(*tp));
	make_id(tp->put.id, n);
	for (size_t i = 0; i < size; i++)
		tp->encoding[i] = (uint8_t)(n * 31 + i);
	tp->put.kind = kind;
	tp->put.encoding = tp->encoding;
	tp->put.size = size;
	tp->put.first_seen_us = 1700000000000000LL + n;
	snprintf(tp->put.source, sizeof(tp->put.source), "%s", source);
	if (peer) {
		memcpy(tp->put.peer, peer, 32);
		tp->put.has_peer = 1;
	}
	tp->put.cb = test_put_cb;
	tp->put.data = tp;
}

static void put_ok(struct fixture *f, struct test_put *tp)
{
	assert_int_equal(rumor_store_put(f->store, &tp->put), 0);
}

static void run_loop(struct fixture *f)
{
	assert_int_equal(uv_run(&f->loop, UV_RUN_DEFAULT), 0);
}

static sqlite3 *raw_open(const char *path)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	return db;
}

static void raw_exec(sqlite3 *db, const char *sql)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &msg);

	if (rc != SQLITE_OK)
		print_error("%s: %s\n", sql, msg ? msg : "?");
	sqlite3_free(msg);
	assert_int_equal(rc, SQLITE_OK);
}

static int64_t raw_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static void check_counts(struct fixture *f, uint64_t want_tx, uint64_t want_block)
{
	uint64_t tx = 99999, block = 99999;

	assert_int_equal(rumor_store_counts(f->store, &tx, &block), 0);
	assert_int_equal(tx, want_tx);
	assert_int_equal(block, want_block);
}

/* ---- Tests ---- */

static void test_open_creates_schema(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;
	sqlite3_stmt *st;

	open_store(f);
	check_counts(f, 0, 0);

	db = raw_open(f->path);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 2);
	assert_int_equal(raw_int(db, "PRAGMA application_id"), RUMOR_STORE_APPLICATION_ID);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE name IN "
				     "('items', 'item_counts', 'items_count_delete', "
				     "'items_immutable')"),
			 4);
	/* Inserts are counted by the writer, in the inserting transaction
	 * (migration 2): an insert trigger as well would count them twice. */
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema WHERE type = 'trigger' "
				     "AND tbl_name = 'items' AND sql LIKE '%AFTER INSERT%'"),
			 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM item_counts WHERE n = 0"), 2);
	assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
	sqlite3_finalize(st);
	sqlite3_close(db);

	/* Reopening an up-to-date database migrates nothing. */
	close_store(f);
	open_store(f);
	db = raw_open(f->path);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 2);
	sqlite3_close(db);
}

/* The stored counts against the rows themselves (a full scan: tests only). */
static void check_counts_match_rows(struct fixture *f)
{
	sqlite3 *db = raw_open(f->path);
	uint64_t tx = 0, block = 0;

	assert_int_equal(rumor_store_counts(f->store, &tx, &block), 0);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM items WHERE kind = 1"), tx);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM items WHERE kind = 2"), block);
	sqlite3_close(db);
}

/* A database at schema version 1 (counts kept by an insert trigger) is
 * migrated to 2: the trigger goes, the counts it kept stay, and later
 * batches (mixed kinds, duplicates) are counted exactly once. */
static void test_migration_2_keeps_counts(void **state)
{
	struct fixture *f = *state;
	struct test_put puts[6], dup;
	sqlite3 *db;

	open_store(f);
	for (uint32_t i = 0; i < 3; i++) {
		fill_put(&puts[i], 300 + i, i < 2 ? RUMOR_ITEM_TX : RUMOR_ITEM_BLOCK, 50, "rpc",
			 NULL);
		put_ok(f, &puts[i]);
	}
	run_loop(f);
	close_store(f);

	/* Back to version 1's shape: its insert trigger, user_version 1. */
	db = raw_open(f->path);
	raw_exec(db, "CREATE TRIGGER items_count_insert AFTER INSERT ON items BEGIN"
		     "  UPDATE item_counts SET n = n + 1 WHERE kind = NEW.kind;"
		     "END; PRAGMA user_version = 1");
	sqlite3_close(db);

	open_store(f);
	db = raw_open(f->path);
	assert_int_equal(raw_int(db, "PRAGMA user_version"), 2);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema "
				     "WHERE name = 'items_count_insert'"),
			 0);
	sqlite3_close(db);
	check_counts(f, 2, 1);
	for (uint32_t i = 3; i < 6; i++) {
		fill_put(&puts[i], 300 + i, i < 5 ? RUMOR_ITEM_BLOCK : RUMOR_ITEM_TX, 50, "rpc",
			 NULL);
		put_ok(f, &puts[i]);
	}
	fill_put(&dup, 300, RUMOR_ITEM_TX, 50, "rpc", NULL);
	put_ok(f, &dup);
	run_loop(f);
	assert_int_equal(dup.status, 1);
	check_counts(f, 3, 3);
	check_counts_match_rows(f);
}

/* A batch whose count cannot be recorded (the kind's item_counts row is
 * gone) is not stored at all: the count and the rows commit together. */
static void test_count_row_missing_fails_batch(void **state)
{
	struct fixture *f = *state;
	struct test_put block;
	sqlite3 *db;

	open_store(f);
	db = raw_open(f->path);
	raw_exec(db, "DELETE FROM item_counts WHERE kind = 2");
	sqlite3_close(db);
	fill_put(&block, 400, RUMOR_ITEM_BLOCK, 50, "rpc", NULL);
	put_ok(f, &block);
	run_loop(f);
	assert_int_equal(block.calls, 1);
	assert_int_equal(block.status, RUMOR_STORE_EIO);
	assert_int_equal(rumor_store_has(f->store, block.put.id), 0);
}

static void test_put_get_has(void **state)
{
	struct fixture *f = *state;
	struct test_put tx, block;
	struct rumor_store_item item;
	uint8_t peer[32], missing[RUMOR_ID_SIZE];
	struct rumor_store_stats stats;

	for (int i = 0; i < 32; i++)
		peer[i] = (uint8_t)(200 - i);
	open_store(f);
	fill_put(&tx, 1, RUMOR_ITEM_TX, 150, "rpc", NULL);
	fill_put(&block, 2, RUMOR_ITEM_BLOCK, 256, "peer", peer);
	put_ok(f, &tx);
	put_ok(f, &block);
	run_loop(f);
	assert_int_equal(tx.calls, 1);
	assert_int_equal(tx.status, 0);
	assert_int_equal(block.calls, 1);
	assert_int_equal(block.status, 0);

	/* With the encoding: every field. */
	memset(&item, 0xee, sizeof(item));
	assert_int_equal(rumor_store_get(f->store, tx.put.id, &item, 1), 0);
	assert_int_equal(item.kind, RUMOR_ITEM_TX);
	assert_int_equal(item.size, 150);
	assert_non_null(item.encoding);
	assert_memory_equal(item.encoding, tx.encoding, 150);
	assert_int_equal(item.first_seen_us, 1700000000000001LL);
	assert_string_equal(item.source, "rpc");
	assert_int_equal(item.has_peer, 0);
	free(item.encoding);

	memset(&item, 0xee, sizeof(item));
	assert_int_equal(rumor_store_get(f->store, block.put.id, &item, 1), 0);
	assert_int_equal(item.kind, RUMOR_ITEM_BLOCK);
	assert_int_equal(item.size, 256);
	assert_memory_equal(item.encoding, block.encoding, 256);
	assert_int_equal(item.first_seen_us, 1700000000000002LL);
	assert_string_equal(item.source, "peer");
	assert_int_equal(item.has_peer, 1);
	assert_memory_equal(item.peer, peer, 32);
	free(item.encoding);

	/* Without the encoding: same metadata, size still known. */
	memset(&item, 0xee, sizeof(item));
	assert_int_equal(rumor_store_get(f->store, block.put.id, &item, 0), 0);
	assert_null(item.encoding);
	assert_int_equal(item.kind, RUMOR_ITEM_BLOCK);
	assert_int_equal(item.size, 256);
	assert_int_equal(item.first_seen_us, 1700000000000002LL);
	assert_string_equal(item.source, "peer");
	assert_int_equal(item.has_peer, 1);
	assert_memory_equal(item.peer, peer, 32);

	/* has, and a missing id. */
	make_id(missing, 3);
	assert_int_equal(rumor_store_has(f->store, tx.put.id), 1);
	assert_int_equal(rumor_store_has(f->store, block.put.id), 1);
	assert_int_equal(rumor_store_has(f->store, missing), 0);
	item.encoding = (uint8_t *)&item; /* must be reset to NULL */
	assert_int_equal(rumor_store_get(f->store, missing, &item, 1), RUMOR_STORE_ENOTFOUND);
	assert_null(item.encoding);
	assert_int_equal(rumor_store_get(f->store, missing, &item, 0), RUMOR_STORE_ENOTFOUND);

	rumor_store_get_stats(f->store, &stats);
	assert_int_equal(stats.items_written, 2);
	assert_int_equal(stats.write_errors, 0);
	assert_true(stats.commits >= 1 && stats.commits <= 2);
}

static void test_counts_and_duplicates(void **state)
{
	struct fixture *f = *state;
	struct test_put puts[5], dup, dup2;
	struct rumor_store_item item;
	struct rumor_store_stats stats;

	open_store(f);
	for (uint32_t i = 0; i < 5; i++) {
		fill_put(&puts[i], 10 + i, i < 3 ? RUMOR_ITEM_TX : RUMOR_ITEM_BLOCK, 100, "rpc",
			 NULL);
		put_ok(f, &puts[i]);
	}
	run_loop(f);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(puts[i].calls, 1);
		assert_int_equal(puts[i].status, 0);
	}
	check_counts(f, 3, 2);

	/* The same id again, with other metadata: kept as first stored. */
	fill_put(&dup, 11, RUMOR_ITEM_TX, 100, "peer", puts[0].encoding);
	dup.put.first_seen_us = 42;
	/* And a duplicate within one batch of a new item. */
	fill_put(&dup2, 20, RUMOR_ITEM_TX, 100, "rpc", NULL);
	put_ok(f, &dup);
	put_ok(f, &dup2);
	run_loop(f);
	assert_int_equal(dup.calls, 1);
	assert_int_equal(dup.status, 1);
	assert_int_equal(dup2.calls, 1);
	assert_int_equal(dup2.status, 0);
	put_ok(f, &dup2);
	run_loop(f);
	assert_int_equal(dup2.calls, 2);
	assert_int_equal(dup2.status, 1);
	check_counts(f, 4, 2);
	check_counts_match_rows(f);

	assert_int_equal(rumor_store_get(f->store, puts[1].put.id, &item, 0), 0);
	assert_int_equal(item.first_seen_us, 1700000000000011LL);
	assert_string_equal(item.source, "rpc");
	assert_int_equal(item.has_peer, 0);

	rumor_store_get_stats(f->store, &stats);
	assert_int_equal(stats.items_written, 6);
	assert_int_equal(stats.write_errors, 0);

	/* NULL count pointers are allowed. */
	assert_int_equal(rumor_store_counts(f->store, NULL, NULL), 0);
}

/* Each put is its own allocation, freed by its callback: the store must not
 * touch a put after calling its cb (ASan would see it). */
#define MANY 1000
static int many_status[MANY];
static int many_calls[MANY];

static void many_cb(struct rumor_store_put *put, int status)
{
	size_t i = (size_t)(uintptr_t)put->data;

	many_calls[i]++;
	many_status[i] = status;
	free(put);
}

/* A heap put of `size` bytes filled with `fill`, id number n, reporting to
 * many_cb as many_*[slot] (many_cb frees it). */
static struct rumor_store_put *heap_put(uint32_t n, enum rumor_item_kind kind, size_t size,
					uint8_t fill, int64_t first_seen_us, size_t slot)
{
	struct rumor_store_put *put = calloc(1, sizeof(*put) + size);
	uint8_t *enc = (uint8_t *)(put + 1);

	assert_non_null(put);
	memset(enc, fill, size);
	make_id(put->id, n);
	put->kind = kind;
	put->encoding = enc;
	put->size = size;
	put->first_seen_us = first_seen_us;
	strcpy(put->source, "rpc");
	put->cb = many_cb;
	put->data = (void *)(uintptr_t)slot;
	return put;
}

static void test_group_commit(void **state)
{
	struct fixture *f = *state;
	struct rumor_store_stats stats;
	uint64_t tx, block;

	memset(many_status, 0xff, sizeof(many_status));
	memset(many_calls, 0, sizeof(many_calls));
	open_store(f);
	for (uint32_t i = 0; i < MANY; i++) {
		struct rumor_store_put *put =
			heap_put(1000 + i, (i % 10 == 0) ? RUMOR_ITEM_BLOCK : RUMOR_ITEM_TX, 64,
				 (uint8_t)i, i, i);
		assert_int_equal(rumor_store_put(f->store, put), 0);
	}
	run_loop(f);
	for (int i = 0; i < MANY; i++) {
		assert_int_equal(many_calls[i], 1);
		assert_int_equal(many_status[i], 0);
	}
	rumor_store_get_stats(f->store, &stats);
	assert_int_equal(stats.items_written, MANY);
	assert_int_equal(stats.write_errors, 0);
	/* The writer groups what is queued: a handful of transactions, not 1000
	 * (the first may hold only the first put, taken before the rest came). */
	assert_true(stats.commits >= 1);
	assert_true(stats.commits <= 20);
	assert_int_equal(rumor_store_counts(f->store, &tx, &block), 0);
	assert_int_equal(tx, 900);
	assert_int_equal(block, 100);
}

/* Puts `count` items of `size` bytes numbered from `first`, all rpc (synced
 * commits), and runs the loop until every one is stored. */
static void put_round(struct fixture *f, uint32_t first, uint32_t count, size_t size)
{
	memset(many_calls, 0, sizeof(int) * count);
	for (uint32_t i = 0; i < count; i++) {
		struct rumor_store_put *put =
			heap_put(first + i, RUMOR_ITEM_TX, size, (uint8_t)(first + i), first + i, i);
		assert_int_equal(rumor_store_put(f->store, put), 0);
	}
	run_loop(f);
	for (uint32_t i = 0; i < count; i++) {
		assert_int_equal(many_calls[i], 1);
		assert_int_equal(many_status[i], 0);
	}
}

/* Frames in the WAL, read with a checkpoint from a connection of our own
 * (which the store's design allows: checkpoints never change content). */
static int wal_frames(const char *path)
{
	sqlite3 *db = raw_open(path);
	int frames = -1, copied = -1;

	/* A read first: a connection learns the database is in WAL mode then. */
	assert_true(raw_int(db, "SELECT count(*) FROM sqlite_schema") > 0);

	assert_int_equal(sqlite3_wal_checkpoint_v2(db, "main", SQLITE_CHECKPOINT_PASSIVE, &frames,
						   &copied),
			 SQLITE_OK);
	sqlite3_close(db);
	return frames;
}

/* The checkpoint thread copies the WAL once 16 MiB of pages were written;
 * the writer then copies the rest at its next commit and the WAL restarts
 * from its beginning (so it stays small) instead of growing with every
 * item.  Nothing is lost on the way. */
static void test_background_checkpoints(void **state)
{
	struct fixture *f = *state;
	struct rumor_store_stats stats;
	const size_t size = 4000; /* about one page per item */
	uint32_t n = 0;
	uint64_t tx;

	open_store(f);
	/* 16 MiB is 4096 pages: 6000 items of ~1 page wake the checkpointer. */
	while (n < 6000) {
		put_round(f, 100000 + n, 500, size);
		n += 500;
	}
	for (int waited = 0; waited < 3000; waited++) { /* at most 30 s */
		rumor_store_get_stats(f->store, &stats);
		if (stats.checkpoints >= 1)
			break;
		usleep(10000);
	}
	assert_true(stats.checkpoints >= 1);

	/* The writer copies what the checkpointer left at its first commit
	 * after it finished (maybe already during the rounds above), and the
	 * WAL starts again from its beginning at the commit after.  So the WAL
	 * holds at most the 4096 pages that wake the checkpointer plus what
	 * was committed while it ran (and the single-item commits below):
	 * fewer frames than the ~6600 written.  Without the restart it would
	 * hold them all. */
	for (int tries = 0; tries < 300; tries++) { /* at most about 3 s */
		put_round(f, 100000 + n, 1, size);
		n += 1;
		rumor_store_get_stats(f->store, &stats);
		if (stats.writer_checkpoints >= 1)
			break;
		/* SQLITE_BUSY: the checkpointer was woken again and is still
		 * copying; the writer tries again at its next commit. */
		usleep(10000);
	}
	assert_true(stats.writer_checkpoints >= 1);
	put_round(f, 100000 + n, 10, size);
	n += 10;
	int frames = wal_frames(f->path);
	assert_true(frames > 0);
	assert_true(frames <= 4096 + 700 + 2 * 300);
	rumor_store_get_stats(f->store, &stats);
	assert_int_equal(stats.checkpoint_errors, 0);
	assert_int_equal(stats.items_written, n);

	/* Everything is there after a clean close and reopen. */
	close_store(f);
	open_store(f);
	assert_int_equal(rumor_store_counts(f->store, &tx, NULL), 0);
	assert_int_equal(tx, n);
	for (uint32_t i = 0; i < n; i += 97) {
		uint8_t id[RUMOR_ID_SIZE];
		struct rumor_store_item item;

		make_id(id, 100000 + i);
		assert_int_equal(rumor_store_get(f->store, id, &item, 1), 0);
		assert_int_equal(item.size, size);
		assert_int_equal(item.encoding[0], (uint8_t)(100000 + i));
		assert_int_equal(item.encoding[size - 1], (uint8_t)(100000 + i));
		free(item.encoding);
	}
}

/* Puts made while the store is held wait for the release and then go into
 * one commit (the node holds the store for the writes of a loop turn). */
static void test_hold_groups_one_commit(void **state)
{
	struct fixture *f = *state;
	struct rumor_store_stats before, after;
	struct test_put puts[50];

	open_store(f);
	/* One put first: once its callback ran, the writer is asleep waiting
	 * for work (a writer just started, or just done committing, takes
	 * what is queued without being woken). */
	fill_put(&puts[0], 6999, RUMOR_ITEM_TX, 100, "rpc", NULL);
	put_ok(f, &puts[0]);
	run_loop(f);
	assert_int_equal(puts[0].calls, 1);
	rumor_store_get_stats(f->store, &before);
	rumor_store_hold(f->store, 1);
	rumor_store_hold(f->store, 1); /* idempotent */
	for (uint32_t i = 0; i < 50; i++) {
		fill_put(&puts[i], 7000 + i, RUMOR_ITEM_TX, 100, "rpc", NULL);
		put_ok(f, &puts[i]);
	}
	usleep(20000); /* a writer woken by the first put would commit now */
	rumor_store_get_stats(f->store, &after);
	assert_int_equal(after.commits, before.commits);
	rumor_store_hold(f->store, 0);
	run_loop(f);
	rumor_store_get_stats(f->store, &after);
	assert_int_equal(after.commits, before.commits + 1);
	assert_int_equal(after.items_written, before.items_written + 50);
	for (int i = 0; i < 50; i++) {
		assert_int_equal(puts[i].calls, 1);
		assert_int_equal(puts[i].status, 0);
	}
	/* Released with nothing held: nothing happens; puts wake the writer
	 * again. */
	rumor_store_hold(f->store, 1);
	rumor_store_hold(f->store, 0);
	fill_put(&puts[0], 8000, RUMOR_ITEM_TX, 100, "rpc", NULL);
	put_ok(f, &puts[0]);
	run_loop(f);
	assert_int_equal(puts[0].calls, 1);
	assert_int_equal(puts[0].status, 0);
}

/* A commit made only of lazy_sync puts skips the fsync (counted in
 * lazy_commits); one with any ordinary put is synced.  Both are stored and
 * read back after close and reopen. */
static void test_lazy_sync(void **state)
{
	struct fixture *f = *state;
	struct test_put lazy[3], mixed[2];
	struct rumor_store_stats stats;
	struct rumor_store_item item;

	open_store(f);
	for (uint32_t i = 0; i < 3; i++) {
		fill_put(&lazy[i], 300 + i, RUMOR_ITEM_TX, 80, "peer", NULL);
		lazy[i].put.lazy_sync = 1;
		put_ok(f, &lazy[i]);
	}
	run_loop(f);
	rumor_store_get_stats(f->store, &stats);
	assert_true(stats.commits >= 1);
	assert_int_equal(stats.lazy_commits, stats.commits); /* only lazy puts so far */
	uint64_t lazy_before = stats.lazy_commits, commits_before = stats.commits;

	fill_put(&mixed[0], 310, RUMOR_ITEM_TX, 80, "peer", NULL);
	mixed[0].put.lazy_sync = 1;
	fill_put(&mixed[1], 311, RUMOR_ITEM_TX, 80, "rpc", NULL);
	put_ok(f, &mixed[0]);
	put_ok(f, &mixed[1]);
	run_loop(f);
	assert_int_equal(mixed[0].status, 0);
	assert_int_equal(mixed[1].status, 0);
	rumor_store_get_stats(f->store, &stats);
	/* The ordinary put forced at least one synced commit; a lazy commit may
	 * precede it only if the writer took mixed[0] alone. */
	assert_true(stats.commits - commits_before > stats.lazy_commits - lazy_before);

	close_store(f);
	open_store(f);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(rumor_store_get(f->store, lazy[i].put.id, &item, 0), 0);
	assert_int_equal(rumor_store_get(f->store, mixed[1].put.id, &item, 0), 0);
	check_counts(f, 5, 0);
}

/* An ordinary (synced) put of an item that a lazy commit stored just before
 * gets status 1 from a transaction that changes nothing, and SQLite writes
 * (and syncs) nothing for such a commit.  Its callback must still mean "on
 * disk": the earlier lazy commit has to be synced before it runs. */
static void test_synced_duplicate_of_lazy_put(void **state)
{
	struct fixture *f = *state;
	struct test_put lazy, again;

	counting_vfs_install();
	open_store(f);
	fill_put(&lazy, 400, RUMOR_ITEM_TX, 80, "peer", NULL);
	lazy.put.lazy_sync = 1;
	put_ok(f, &lazy);
	run_loop(f);
	assert_int_equal(lazy.status, 0);
	int syncs_after_lazy = counting_vfs_wal_syncs();

	fill_put(&again, 400, RUMOR_ITEM_TX, 80, "rpc", NULL);
	put_ok(f, &again);
	run_loop(f);
	assert_int_equal(again.calls, 1);
	assert_int_equal(again.status, 1);
	/* the WAL holding the lazy commit was synced before the callback */
	assert_true(counting_vfs_wal_syncs() > syncs_after_lazy);

	close_store(f);
	counting_vfs_remove();
}

static void test_persistence(void **state)
{
	struct fixture *f = *state;
	struct test_put puts[10];
	struct rumor_store_item item;

	open_store(f);
	for (uint32_t i = 0; i < 10; i++) {
		fill_put(&puts[i], 100 + i, i == 9 ? RUMOR_ITEM_BLOCK : RUMOR_ITEM_TX, 50 + i,
			 "rpc", NULL);
		put_ok(f, &puts[i]);
	}
	/* Close without running the loop: close commits the queue and runs the
	 * callbacks itself. */
	close_store(f);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(puts[i].calls, 1);
		assert_int_equal(puts[i].status, 0);
	}

	open_store(f);
	check_counts(f, 9, 1);
	for (int i = 0; i < 10; i++) {
		assert_int_equal(rumor_store_get(f->store, puts[i].put.id, &item, 1), 0);
		assert_int_equal(item.size, 50 + i);
		assert_memory_equal(item.encoding, puts[i].encoding, 50 + i);
		free(item.encoding);
	}
}

static void test_garbage_file(void **state)
{
	struct fixture *f = *state;
	FILE *fp = fopen(f->path, "wb");
	uint32_t x = 12345;
	int rc;

	assert_non_null(fp);
	for (int i = 0; i < 65536; i++) {
		x = x * 1103515245u + 12345u; /* fixed-seed garbage */
		fputc((int)(x >> 24), fp);
	}
	assert_int_equal(fclose(fp), 0);

	f->store = (struct rumor_store *)f; /* must be reset to NULL */
	rc = rumor_store_open(&f->store, &f->loop, f->path, f->err, sizeof(f->err));
	assert_int_equal(rc, RUMOR_STORE_ECORRUPT);
	assert_null(f->store);
	assert_non_null(strstr(f->err, f->path));
	assert_non_null(strstr(f->err, "not a database"));
}

static void test_foreign_database(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db = raw_open(f->path);
	int rc;

	raw_exec(db, "PRAGMA application_id = 305419896; CREATE TABLE t (x)");
	sqlite3_close(db);
	rc = rumor_store_open(&f->store, &f->loop, f->path, f->err, sizeof(f->err));
	assert_int_equal(rc, RUMOR_STORE_EFOREIGN);
	assert_null(f->store);
	assert_non_null(strstr(f->err, "not a rumor database"));
	assert_non_null(strstr(f->err, f->path));

	/* No application_id but tables of its own: not ours either. */
	db = raw_open(f->path);
	raw_exec(db, "PRAGMA application_id = 0");
	sqlite3_close(db);
	rc = rumor_store_open(&f->store, &f->loop, f->path, f->err, sizeof(f->err));
	assert_int_equal(rc, RUMOR_STORE_EFOREIGN);
	assert_null(f->store);

	/* The file was left alone. */
	db = raw_open(f->path);
	assert_int_equal(raw_int(db, "SELECT count(*) FROM sqlite_schema"), 1);
	sqlite3_close(db);
}

static void test_newer_schema(void **state)
{
	struct fixture *f = *state;
	sqlite3 *db;
	int rc;

	open_store(f);
	close_store(f);
	db = raw_open(f->path);
	raw_exec(db, "PRAGMA user_version = 99");
	sqlite3_close(db);

	rc = rumor_store_open(&f->store, &f->loop, f->path, f->err, sizeof(f->err));
	assert_int_equal(rc, RUMOR_STORE_ENEWER);
	assert_null(f->store);
	assert_non_null(strstr(f->err, "database schema version 99 is newer than this rumord "
					"(knows 2)"));
}

static void test_missing_directory(void **state)
{
	struct fixture *f = *state;
	char path[256];
	int rc;

	snprintf(path, sizeof(path), "%s/no-such-dir/rumor.db", f->dir);
	rc = rumor_store_open(&f->store, &f->loop, path, f->err, sizeof(f->err));
	assert_true(rc < 0);
	assert_int_equal(rc, -ENOENT);
	assert_null(f->store);
	assert_non_null(strstr(f->err, path));
}

static void test_damaged_schema_page(void **state)
{
	struct fixture *f = *state;
	uint8_t junk[1024];
	FILE *fp;
	int rc;

	open_store(f);
	close_store(f); /* the last close checkpoints: all is in the main file */
	/* Keep the 100-byte file header, smash the schema b-tree page after it. */
	memset(junk, 0xff, sizeof(junk));
	fp = fopen(f->path, "r+b");
	assert_non_null(fp);
	assert_int_equal(fseek(fp, 100, SEEK_SET), 0);
	assert_int_equal(fwrite(junk, 1, sizeof(junk), fp), sizeof(junk));
	assert_int_equal(fclose(fp), 0);

	rc = rumor_store_open(&f->store, &f->loop, f->path, f->err, sizeof(f->err));
	assert_int_equal(rc, RUMOR_STORE_ECORRUPT);
	assert_null(f->store);
	assert_non_null(strstr(f->err, f->path));
	assert_non_null(strstr(f->err, "malformed"));
}

static void test_path_is_directory(void **state)
{
	struct fixture *f = *state;
	int rc;

	rc = rumor_store_open(&f->store, &f->loop, f->dir, f->err, sizeof(f->err));
	assert_true(rc < 0);
	assert_null(f->store);
	assert_non_null(strstr(f->err, f->dir));
}

/* Items of the largest size: a blob spread over overflow pages. */
static void test_large_items(void **state)
{
	struct fixture *f = *state;
	enum { N = 3 };
	uint8_t *enc = malloc(RUMOR_ITEM_SIZE_MAX);
	struct test_put puts[N];
	struct rumor_store_item item;

	assert_non_null(enc);
	for (size_t i = 0; i < RUMOR_ITEM_SIZE_MAX; i++)
		enc[i] = (uint8_t)(i * 2654435761u >> 24);
	open_store(f);
	for (uint32_t i = 0; i < N; i++) {
		fill_put(&puts[i], 900 + i, RUMOR_ITEM_BLOCK, 1, "rpc", NULL);
		puts[i].put.encoding = enc;
		puts[i].put.size = RUMOR_ITEM_SIZE_MAX - i;
		put_ok(f, &puts[i]);
	}
	run_loop(f);
	for (uint32_t i = 0; i < N; i++) {
		assert_int_equal(puts[i].calls, 1);
		assert_int_equal(puts[i].status, 0);
		assert_int_equal(rumor_store_get(f->store, puts[i].put.id, &item, 0), 0);
		assert_null(item.encoding);
		assert_int_equal(item.size, RUMOR_ITEM_SIZE_MAX - i);
		assert_string_equal(item.source, "rpc");
		assert_int_equal(rumor_store_get(f->store, puts[i].put.id, &item, 1), 0);
		assert_int_equal(item.size, RUMOR_ITEM_SIZE_MAX - i);
		assert_memory_equal(item.encoding, enc, RUMOR_ITEM_SIZE_MAX - i);
		free(item.encoding);
	}
	check_counts(f, 0, N);
	free(enc);
}

/* ---- Reads off the loop thread ---- */

struct test_read {
	struct rumor_store_read read;
	int calls;
	int status;
	int work_calls;
	struct fixture *f;
	struct test_read *chain; /* read queued from this one's cb */
	int chain_rc;
};

static void test_read_cb(struct rumor_store_read *read, int status)
{
	struct test_read *tr = read->data;

	tr->calls++;
	tr->status = status;
	if (tr->chain)
		tr->chain_rc = rumor_store_read(tr->f->store, &tr->chain->read);
}

/* Runs on the reader thread: replaces the encoding by its length as text,
 * the way the RPC layer replaces it by its hex answer. */
static void test_read_work(struct rumor_store_read *read)
{
	struct test_read *tr = read->data;
	char *text = malloc(32);

	tr->work_calls++;
	assert_non_null(text);
	read->result_len = (size_t)snprintf(text, 32, "%zu", read->item.size);
	free(read->item.encoding);
	read->item.encoding = NULL;
	read->result = text;
}

static void fill_read(struct test_read *tr, struct fixture *f, const uint8_t *id, int want)
{
	memset(tr, 0, sizeof(*tr));
	memcpy(tr->read.id, id, RUMOR_ID_SIZE);
	tr->read.want_encoding = want;
	tr->read.cb = test_read_cb;
	tr->read.data = tr;
	tr->f = f;
}

static void test_read_async(void **state)
{
	struct fixture *f = *state;
	struct test_put tx, block;
	struct test_read full, meta, missing, worked, chained, second;
	uint8_t peer[32], none[RUMOR_ID_SIZE];

	for (int i = 0; i < 32; i++)
		peer[i] = (uint8_t)(100 + i);
	open_store(f);
	fill_put(&tx, 1, RUMOR_ITEM_TX, 150, "rpc", NULL);
	fill_put(&block, 2, RUMOR_ITEM_BLOCK, 256, "peer", peer);
	put_ok(f, &tx);
	put_ok(f, &block);
	run_loop(f);

	make_id(none, 77);
	fill_read(&full, f, block.put.id, 1);
	fill_read(&meta, f, tx.put.id, 0);
	fill_read(&missing, f, none, 1);
	fill_read(&worked, f, block.put.id, 1);
	worked.read.work = test_read_work;
	fill_read(&chained, f, tx.put.id, 1);
	fill_read(&second, f, tx.put.id, 1);
	chained.chain = &second; /* a cb may queue another read */
	assert_int_equal(rumor_store_read(f->store, &full.read), 0);
	assert_int_equal(rumor_store_read(f->store, &meta.read), 0);
	assert_int_equal(rumor_store_read(f->store, &missing.read), 0);
	assert_int_equal(rumor_store_read(f->store, &worked.read), 0);
	assert_int_equal(rumor_store_read(f->store, &chained.read), 0);
	/* nothing is answered before the loop runs */
	assert_int_equal(full.calls + meta.calls + missing.calls + worked.calls, 0);
	run_loop(f); /* returns: the reads keep the loop alive only while queued */

	assert_int_equal(full.calls, 1);
	assert_int_equal(full.status, 0);
	assert_int_equal(full.read.item.kind, RUMOR_ITEM_BLOCK);
	assert_int_equal(full.read.item.size, 256);
	assert_memory_equal(full.read.item.encoding, block.encoding, 256);
	assert_string_equal(full.read.item.source, "peer");
	assert_int_equal(full.read.item.has_peer, 1);
	assert_memory_equal(full.read.item.peer, peer, 32);
	assert_int_equal(full.read.item.first_seen_us, 1700000000000002LL);
	free(full.read.item.encoding);

	assert_int_equal(meta.calls, 1);
	assert_int_equal(meta.status, 0);
	assert_null(meta.read.item.encoding);
	assert_int_equal(meta.read.item.size, 150);
	assert_string_equal(meta.read.item.source, "rpc");

	assert_int_equal(missing.calls, 1);
	assert_int_equal(missing.status, RUMOR_STORE_ENOTFOUND);
	assert_null(missing.read.item.encoding);

	assert_int_equal(worked.calls, 1);
	assert_int_equal(worked.status, 0);
	assert_int_equal(worked.work_calls, 1);
	assert_null(worked.read.item.encoding);
	assert_int_equal(worked.read.result_len, 3);
	assert_string_equal(worked.read.result, "256");
	free(worked.read.result);

	assert_int_equal(chained.calls, 1);
	assert_int_equal(chained.chain_rc, 0);
	assert_int_equal(second.calls, 1);
	assert_int_equal(second.status, 0);
	assert_memory_equal(second.read.item.encoding, tx.encoding, 150);
	free(chained.read.item.encoding);
	free(second.read.item.encoding);

	/* work runs only for a read that found its row */
	fill_read(&missing, f, none, 1);
	missing.read.work = test_read_work;
	assert_int_equal(rumor_store_read(f->store, &missing.read), 0);
	run_loop(f);
	assert_int_equal(missing.status, RUMOR_STORE_ENOTFOUND);
	assert_int_equal(missing.work_calls, 0);

	/* no cb: refused, nothing queued */
	fill_read(&missing, f, none, 1);
	missing.read.cb = NULL;
	assert_int_equal(rumor_store_read(f->store, &missing.read), -EINVAL);
}

/* A lookup of many ids on the reader thread answers as has_many does. */
static void test_read_has_many(void **state)
{
	struct fixture *f = *state;
	struct test_put a, b;
	struct test_read r;
	enum { N = 3000 };
	uint8_t *ids = malloc((size_t)N * RUMOR_ID_SIZE);
	uint8_t *found = malloc(N);
	uint8_t *again = malloc(N);
	const uint8_t **ptrs = malloc(N * sizeof(*ptrs));

	assert_true(ids && found && again && ptrs);
	open_store(f);
	fill_put(&a, 1, RUMOR_ITEM_TX, 150, "rpc", NULL);
	fill_put(&b, 2, RUMOR_ITEM_TX, 150, "rpc", NULL);
	put_ok(f, &a);
	put_ok(f, &b);
	run_loop(f);
	for (int i = 0; i < N; i++) {
		make_id(ids + (size_t)i * RUMOR_ID_SIZE, 1000 + i);
		ptrs[i] = ids + (size_t)i * RUMOR_ID_SIZE;
	}
	memcpy(ids + 7 * RUMOR_ID_SIZE, a.put.id, RUMOR_ID_SIZE);
	memcpy(ids + (size_t)(N - 1) * RUMOR_ID_SIZE, b.put.id, RUMOR_ID_SIZE);
	memset(found, 0xff, N);
	fill_read(&r, f, a.put.id, 1);
	r.read.has_ids = ids;
	r.read.has_count = N;
	r.read.has_found = found;
	assert_int_equal(rumor_store_read(f->store, &r.read), 0);
	run_loop(f);
	assert_int_equal(r.calls, 1);
	assert_int_equal(r.status, 0);
	assert_null(r.read.item.encoding); /* not a row read */
	for (int i = 0; i < N; i++)
		assert_int_equal(found[i], i == 7 || i == N - 1);
	assert_int_equal(rumor_store_has_many(f->store, ptrs, N, again), 0);
	assert_memory_equal(found, again, N);
	free(ids);
	free(found);
	free(again);
	free(ptrs);
}

/* A 4 MiB encoding comes back whole through the reader thread. */
static void test_read_large(void **state)
{
	struct fixture *f = *state;
	uint8_t *enc = malloc(RUMOR_ITEM_SIZE_MAX);
	struct test_put big;
	struct test_read r;

	assert_non_null(enc);
	for (size_t i = 0; i < RUMOR_ITEM_SIZE_MAX; i++)
		enc[i] = (uint8_t)(i * 2654435761u >> 24);
	open_store(f);
	fill_put(&big, 5, RUMOR_ITEM_BLOCK, 1, "rpc", NULL);
	big.put.encoding = enc;
	big.put.size = RUMOR_ITEM_SIZE_MAX;
	put_ok(f, &big);
	run_loop(f);
	fill_read(&r, f, big.put.id, 1);
	assert_int_equal(rumor_store_read(f->store, &r.read), 0);
	run_loop(f);
	assert_int_equal(r.status, 0);
	assert_int_equal(r.read.item.size, RUMOR_ITEM_SIZE_MAX);
	assert_memory_equal(r.read.item.encoding, enc, RUMOR_ITEM_SIZE_MAX);
	free(r.read.item.encoding);
	free(enc);
}

/* At most RUMOR_STORE_READS_MAX queued; more get -EAGAIN, and a read
 * accepted once the queue has room again is answered. */
static void test_read_queue_bound(void **state)
{
	struct fixture *f = *state;
	struct test_put tx;
	struct test_read *reads = calloc(RUMOR_STORE_READS_MAX + 1, sizeof(*reads));

	assert_non_null(reads);
	open_store(f);
	fill_put(&tx, 1, RUMOR_ITEM_TX, 20, "rpc", NULL);
	put_ok(f, &tx);
	run_loop(f);
	for (size_t i = 0; i < RUMOR_STORE_READS_MAX; i++) {
		fill_read(&reads[i], f, tx.put.id, 0);
		assert_int_equal(rumor_store_read(f->store, &reads[i].read), 0);
	}
	fill_read(&reads[RUMOR_STORE_READS_MAX], f, tx.put.id, 0);
	assert_int_equal(rumor_store_read(f->store, &reads[RUMOR_STORE_READS_MAX].read), -EAGAIN);
	run_loop(f);
	for (size_t i = 0; i < RUMOR_STORE_READS_MAX; i++) {
		assert_int_equal(reads[i].calls, 1);
		assert_int_equal(reads[i].status, 0);
	}
	assert_int_equal(reads[RUMOR_STORE_READS_MAX].calls, 0);
	assert_int_equal(rumor_store_read(f->store, &reads[RUMOR_STORE_READS_MAX].read), 0);
	run_loop(f);
	assert_int_equal(reads[RUMOR_STORE_READS_MAX].calls, 1);
	free(reads);
}

/* Close answers every accepted read exactly once: finished ones with their
 * status, those never taken with ECLOSED; reads asked after are refused. */
static void test_read_close(void **state)
{
	struct fixture *f = *state;
	enum { N = 200 };
	struct test_put tx;
	struct test_read *reads = calloc(N, sizeof(*reads));
	struct test_read late;

	assert_non_null(reads);
	open_store(f);
	fill_put(&tx, 1, RUMOR_ITEM_TX, 20, "rpc", NULL);
	put_ok(f, &tx);
	run_loop(f);
	for (size_t i = 0; i < N; i++) {
		fill_read(&reads[i], f, tx.put.id, 1);
		assert_int_equal(rumor_store_read(f->store, &reads[i].read), 0);
	}
	reads[0].chain = &late; /* its cb runs during close: refused */
	fill_read(&late, f, tx.put.id, 1);
	rumor_store_close(f->store); /* without running the loop first */
	f->store = NULL;
	int ok = 0, closed = 0;
	for (size_t i = 0; i < N; i++) {
		assert_int_equal(reads[i].calls, 1);
		if (reads[i].status == 0)
			ok++;
		else {
			assert_int_equal(reads[i].status, RUMOR_STORE_ECLOSED);
			assert_null(reads[i].read.item.encoding);
			closed++;
		}
		free(reads[i].read.item.encoding);
	}
	assert_int_equal(ok + closed, N);
	assert_int_equal(reads[0].chain_rc, RUMOR_STORE_ECLOSED);
	assert_int_equal(late.calls, 0);
	run_loop(f); /* frees the store */
	free(reads);
}

/* ---- Closing ---- */

struct close_ctx {
	struct fixture *f;
	struct test_put first, second;
	int put_rc;
	int has_rc;
};

static void put_during_close_cb(struct rumor_store_put *put, int status)
{
	struct close_ctx *c = put->data;

	c->first.calls++;
	c->first.status = status;
	/* close has started: puts are refused, reads still work. */
	c->put_rc = rumor_store_put(c->f->store, &c->second.put);
	c->has_rc = rumor_store_has(c->f->store, put->id);
}

static void test_put_after_close(void **state)
{
	struct fixture *f = *state;
	struct close_ctx c;

	memset(&c, 0, sizeof(c));
	c.f = f;
	c.put_rc = 12345;
	open_store(f);
	fill_put(&c.first, 1, RUMOR_ITEM_TX, 10, "rpc", NULL);
	fill_put(&c.second, 2, RUMOR_ITEM_TX, 10, "rpc", NULL);
	c.first.put.cb = put_during_close_cb;
	c.first.put.data = &c;
	put_ok(f, &c.first);

	rumor_store_close(f->store); /* without running the loop first */
	assert_int_equal(c.first.calls, 1);
	assert_int_equal(c.first.status, 0);
	assert_int_equal(c.put_rc, RUMOR_STORE_ECLOSED);
	assert_int_equal(c.has_rc, 1);
	f->store = NULL;
	run_loop(f); /* frees the store */
	assert_int_equal(c.second.calls, 0);

	open_store(f);
	assert_int_equal(rumor_store_has(f->store, c.first.put.id), 1);
	assert_int_equal(rumor_store_has(f->store, c.second.put.id), 0);
}

static void close_in_cb(struct rumor_store_put *put, int status)
{
	struct close_ctx *c = put->data;

	c->first.calls++;
	c->first.status = status;
	rumor_store_close(c->f->store);
	c->f->store = NULL;
}

static void test_close_from_callback(void **state)
{
	struct fixture *f = *state;
	struct close_ctx c;

	memset(&c, 0, sizeof(c));
	c.f = f;
	open_store(f);
	fill_put(&c.first, 1, RUMOR_ITEM_TX, 10, "rpc", NULL);
	fill_put(&c.second, 2, RUMOR_ITEM_TX, 10, "rpc", NULL);
	c.first.put.cb = close_in_cb;
	c.first.put.data = &c;
	put_ok(f, &c.first);
	put_ok(f, &c.second);
	run_loop(f);
	assert_null(f->store);
	assert_int_equal(c.first.calls, 1);
	assert_int_equal(c.first.status, 0);
	assert_int_equal(c.second.calls, 1);
	assert_int_equal(c.second.status, 0);
}

static void test_invalid_put(void **state)
{
	struct fixture *f = *state;
	struct test_put tp;

	open_store(f);
	fill_put(&tp, 1, (enum rumor_item_kind)3, 10, "rpc", NULL);
	assert_int_equal(rumor_store_put(f->store, &tp.put), -EINVAL);
	fill_put(&tp, 1, RUMOR_ITEM_TX, 10, "", NULL);
	assert_int_equal(rumor_store_put(f->store, &tp.put), -EINVAL);
	fill_put(&tp, 1, RUMOR_ITEM_TX, 0, "rpc", NULL);
	assert_int_equal(rumor_store_put(f->store, &tp.put), -EINVAL);
	fill_put(&tp, 1, RUMOR_ITEM_TX, 10, "rpc", NULL);
	tp.put.size = RUMOR_ITEM_SIZE_MAX + 1;
	assert_int_equal(rumor_store_put(f->store, &tp.put), -EINVAL);
	fill_put(&tp, 1, RUMOR_ITEM_TX, 10, "rpc", NULL);
	memset(tp.put.source, 'x', sizeof(tp.put.source)); /* unterminated */
	assert_int_equal(rumor_store_put(f->store, &tp.put), -EINVAL);
	fill_put(&tp, 1, RUMOR_ITEM_TX, 10, "rpc", NULL);
	tp.put.cb = NULL;
	assert_int_equal(rumor_store_put(f->store, &tp.put), -EINVAL);
	run_loop(f); /* nothing in flight: returns at once */
	assert_int_equal(tp.calls, 0);
	check_counts(f, 0, 0);
}

/* ---- Write errors ----
 * A trigger added through a second connection makes inserts fail inside the
 * writer's transaction, as a full disk or an I/O error would. */

static void test_write_error_all(void **state)
{
	struct fixture *f = *state;
	struct test_put puts[20];
	struct rumor_store_stats before, after;
	char msg[256];
	sqlite3 *db;

	open_store(f);
	db = raw_open(f->path);
	raw_exec(db, "CREATE TRIGGER test_fail BEFORE INSERT ON items BEGIN "
		     "SELECT RAISE(ABORT, 'injected write failure'); END");
	rumor_store_get_stats(f->store, &before);
	for (uint32_t i = 0; i < 20; i++) {
		fill_put(&puts[i], 500 + i, RUMOR_ITEM_TX, 20, "rpc", NULL);
		put_ok(f, &puts[i]);
	}
	run_loop(f);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(puts[i].calls, 1);
		assert_int_equal(puts[i].status, RUMOR_STORE_EIO);
		assert_int_equal(rumor_store_has(f->store, puts[i].put.id), 0);
	}
	rumor_store_get_stats(f->store, &after);
	assert_int_equal(after.write_errors - before.write_errors, 20);
	assert_int_equal(after.commits, before.commits);
	assert_int_equal(after.items_written, before.items_written);
	check_counts(f, 0, 0);
	rumor_store_last_error(f->store, msg, sizeof(msg));
	assert_non_null(strstr(msg, "injected write failure"));

	/* The failure is not sticky: once the cause is gone, writes work. */
	raw_exec(db, "DROP TRIGGER test_fail");
	sqlite3_close(db);
	for (int i = 0; i < 20; i++)
		put_ok(f, &puts[i]);
	run_loop(f);
	for (int i = 0; i < 20; i++) {
		assert_int_equal(puts[i].calls, 2);
		assert_int_equal(puts[i].status, 0);
	}
	check_counts(f, 20, 0);
}

static void test_write_error_rolls_back_batch(void **state)
{
	struct fixture *f = *state;
	enum { N = 200, POISON = 100 };
	struct test_put *puts = calloc(N, sizeof(*puts));
	struct rumor_store_stats before, after;
	char sql[512], hex[2 * RUMOR_ID_SIZE + 1];
	int failed = 0, stored = 0;
	uint64_t tx;
	sqlite3 *db;

	assert_non_null(puts);
	open_store(f);
	for (uint32_t i = 0; i < N; i++)
		fill_put(&puts[i], 700 + i, RUMOR_ITEM_TX, 30, "rpc", NULL);
	for (int i = 0; i < RUMOR_ID_SIZE; i++)
		snprintf(hex + 2 * i, 3, "%02x", puts[POISON].put.id[i]);
	snprintf(sql, sizeof(sql),
		 "CREATE TRIGGER test_poison BEFORE INSERT ON items WHEN NEW.id = X'%s' "
		 "BEGIN SELECT RAISE(ABORT, 'poison'); END",
		 hex);
	db = raw_open(f->path);
	raw_exec(db, sql);
	rumor_store_get_stats(f->store, &before);
	for (int i = 0; i < N; i++)
		put_ok(f, &puts[i]);
	run_loop(f);

	/* Which puts shared the poisoned transaction depends on timing; what
	 * must hold: the poisoned one failed, a failed put was not stored, and a
	 * put reported stored is there (no partial transaction). */
	for (int i = 0; i < N; i++) {
		assert_int_equal(puts[i].calls, 1);
		if (puts[i].status == 0) {
			assert_int_equal(rumor_store_has(f->store, puts[i].put.id), 1);
			stored++;
		} else {
			assert_int_equal(puts[i].status, RUMOR_STORE_EIO);
			assert_int_equal(rumor_store_has(f->store, puts[i].put.id), 0);
			failed++;
		}
	}
	assert_int_equal(puts[POISON].status, RUMOR_STORE_EIO);
	assert_int_equal(stored + failed, N);
	rumor_store_get_stats(f->store, &after);
	assert_int_equal(after.write_errors - before.write_errors, (uint64_t)failed);
	assert_int_equal(after.items_written - before.items_written, (uint64_t)stored);
	assert_int_equal(rumor_store_counts(f->store, &tx, NULL), 0);
	assert_int_equal(tx, (uint64_t)stored);
	sqlite3_close(db);
	free(puts);
}

static void test_strerror(void **state)
{
	static const int codes[] = {
		RUMOR_STORE_ENOTFOUND, RUMOR_STORE_ECORRUPT, RUMOR_STORE_ENEWER,
		RUMOR_STORE_EIO,       RUMOR_STORE_ECLOSED,  RUMOR_STORE_EFOREIGN,
	};
	size_t n = sizeof(codes) / sizeof(codes[0]);

	for (size_t i = 0; i < n; i++) {
		const char *text = rumor_store_strerror(codes[i]);

		assert_non_null(text);
		assert_string_not_equal(text, "unknown store error");
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(text, rumor_store_strerror(codes[j]));
	}
	assert_string_equal(rumor_store_strerror(-ENOENT), strerror(ENOENT));
	assert_string_equal(rumor_store_strerror(-5000), "unknown store error");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_get_has, setup, teardown),
		cmocka_unit_test_setup_teardown(test_counts_and_duplicates, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migration_2_keeps_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_count_row_missing_fails_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_background_checkpoints, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hold_groups_one_commit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lazy_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_synced_duplicate_of_lazy_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_persistence, setup, teardown),
		cmocka_unit_test_setup_teardown(test_garbage_file, setup, teardown),
		cmocka_unit_test_setup_teardown(test_foreign_database, setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_damaged_schema_page, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_is_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_large_items, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_async, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_has_many, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_large, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_queue_bound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_put_after_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_from_callback, setup, teardown),
		cmocka_unit_test_setup_teardown(test_invalid_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_write_error_rolls_back_batch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_strerror, setup, teardown),
	};

	alarm(120); /* a hung loop fails the run instead of stalling it */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
