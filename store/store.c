/*
 * store/store.c: the item store (see store/store.h for the contract).
 *
 * Layout of one open store:
 *
 *   loop thread                          writer thread
 *   -----------                          -------------
 *   rumor_store_put() --> pending list --> takes a batch (<= BATCH_PUTS puts,
 *                         (mutex+cond)     <= BATCH_BYTES bytes), BEGIN
 *                                          IMMEDIATE, one INSERT per put,
 *                                          one item_counts UPDATE per kind,
 *                                          COMMIT (or ROLLBACK: all EIO)
 *   async_cb(): runs each  <-- done list <-- appends the batch, uv_async_send
 *   put's cb on the loop      (mutex)
 *
 *   rumor_store_get/has/has_many/counts: read connection, loop thread only
 *   (has_many wraps its lookups in one read transaction).
 *
 *   rumor_store_read() --> read queue -->  reader thread: its own read
 *                          (mutex+cond)    connection; each read (one row
 *                                          then the caller's work, e.g.
 *                                          hex; or a has-many lookup)
 *   async_cb(): runs each  <-- read done list <-- uv_async_send
 *   read's cb on the loop
 *
 * Invariants:
 *  - item_counts.n for a kind equals the number of rows of that kind: every
 *    transaction that inserts adds its new rows' count in the same
 *    transaction (a batch that fails rolls back both);
 *  - the write connection and its statements are used only by the writer
 *    thread between thread start and join; the read connection and its
 *    statements only by the loop thread;
 *  - pending, done, stop, last_error are touched only under mutex; ready,
 *    in_flight and closing only on the loop thread;
 *  - every put accepted by rumor_store_put() is in exactly one of pending,
 *    the writer's current batch, done or ready, until its cb runs; after its
 *    cb runs the store never touches it again (the cb may free it);
 *  - every read accepted by rumor_store_read() is in exactly one of
 *    read_pending, the reader's current list, read_done or read_ready until
 *    its cb runs; the reader connection and its statements are used only by
 *    the reader thread between thread start and join;
 *  - in_flight counts accepted puts and reads whose cb has not run; the
 *    async handle is referenced exactly while in_flight > 0;
 *  - statements bound to a put's memory are reset and cleared before the
 *    put is handed back, so nothing keeps a pointer into caller memory.
 *
 * State of the store: open --rumor_store_close()--> closing (puts refused,
 * writer drained and joined, callbacks run, connections closed) --uv_close
 * callback--> freed.
 *
 * Migrations are an append-only array: never edit or reorder an entry that
 * has shipped; add a new one.  PRAGMA user_version = entries applied; each
 * is applied in its own IMMEDIATE transaction, which re-reads user_version
 * so two processes migrating at once cannot apply one twice.
 */
#include "store/store.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>
#include <uv.h>

/* ---- Schema ---- */

/* The encoding is the LAST column on purpose: SQLite stores a row's columns
 * in order, and a 4 MiB blob spills into a chain of overflow pages, so a
 * column after it could only be reached by walking that chain.  Placed last,
 * metadata lookups never touch the blob's pages (length() reads only the
 * record header). */
static const char *const migrations[] = {
	/* 1: items, and their counts kept by triggers (the insert trigger is
	 * replaced by the writer in migration 2). */
	"CREATE TABLE items ("
	"  id BLOB NOT NULL UNIQUE CHECK (length(id) = 32),"
	"  kind INTEGER NOT NULL CHECK (kind IN (1, 2)),"
	"  first_seen_us INTEGER NOT NULL,"
	"  source TEXT NOT NULL CHECK (source <> ''),"
	"  peer BLOB CHECK (peer IS NULL OR length(peer) = 32),"
	"  encoding BLOB NOT NULL"
	");"
	"CREATE TABLE item_counts ("
	"  kind INTEGER PRIMARY KEY,"
	"  n INTEGER NOT NULL"
	");"
	"INSERT INTO item_counts (kind, n) VALUES (1, 0), (2, 0);"
	"CREATE TRIGGER items_count_insert AFTER INSERT ON items BEGIN"
	"  UPDATE item_counts SET n = n + 1 WHERE kind = NEW.kind;"
	"END;"
	"CREATE TRIGGER items_count_delete AFTER DELETE ON items BEGIN"
	"  UPDATE item_counts SET n = n - 1 WHERE kind = OLD.kind;"
	"END;"
	/* An id is the hash of its encoding: a row never changes. */
	"CREATE TRIGGER items_immutable BEFORE UPDATE ON items BEGIN"
	"  SELECT RAISE(ABORT, 'items are immutable');"
	"END;",
	/* 2: the writer adds each transaction's new items to item_counts in
	 * that same transaction (one UPDATE per kind per commit instead of one
	 * per insert), so the insert trigger goes.  The counts were exact under
	 * the trigger and stay exact.  Deletes (only ever by hand) are still
	 * counted by items_count_delete. */
	"DROP TRIGGER items_count_insert;",
};
#define MIGRATION_COUNT ((int)(sizeof(migrations) / sizeof(migrations[0])))

#define SQL_INSERT                                                                        \
	"INSERT INTO items (id, kind, first_seen_us, source, peer, encoding)"             \
	" VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING"
#define SQL_ADD_COUNT "UPDATE item_counts SET n = n + ?2 WHERE kind = ?1"
#define SQL_GET_META                                                                      \
	"SELECT kind, first_seen_us, source, peer, length(encoding) FROM items WHERE id = ?1"
#define SQL_GET_FULL "SELECT kind, first_seen_us, source, peer, encoding FROM items WHERE id = ?1"
#define SQL_HAS "SELECT 1 FROM items WHERE id = ?1"
#define SQL_COUNTS "SELECT kind, n FROM item_counts"

#define LAST_ERROR_MAX 256
/* Checkpoints (see on_wal_commit): the checkpointer thread is woken once
 * the WAL holds WAL_CHECKPOINT_PAGES pages (16 MiB); past WAL_HARD_PAGES
 * (64 MiB: the checkpointer fell behind) the writer checkpoints itself. */
#define WAL_CHECKPOINT_PAGES 4096
#define WAL_HARD_PAGES 16384

struct rumor_store {
	uv_loop_t *loop;
	char *path;

	/* loop thread */
	sqlite3 *rdb;
	sqlite3_stmt *get_meta, *get_full, *has, *counts, *read_begin, *read_end;
	struct rumor_store_put *ready_head, *ready_tail;
	size_t in_flight;
	int closing;
	int hold;          /* puts do not wake the writer (rumor_store_hold) */
	int held_puts;     /* puts queued while held */
	uv_async_t async;

	/* writer thread */
	sqlite3 *wdb;
	sqlite3_stmt *begin, *insert, *add_count, *commit, *rollback;
	int wdb_sync_full; /* the write connection's synchronous setting */
	int lazy_unsynced; /* a lazy commit ran since the last synced one */
	uv_thread_t writer;

	/* reader thread: its own connection */
	sqlite3 *xdb;
	sqlite3_stmt *x_meta, *x_full, *x_has, *x_begin, *x_end;
	uv_thread_t reader;
	int reader_started;
	struct rumor_store_read *read_ready_head, *read_ready_tail; /* loop thread */
	size_t reads_queued; /* loop thread: accepted reads whose cb has not run */

	/* checkpointer thread: its own connection */
	sqlite3 *cdb;
	uv_thread_t checkpointer;
	int checkpointer_started;
	int checkpointed; /* WAL frames copied by the last checkpoint (atomic) */
	int catch_up;     /* the checkpointer finished: the writer copies the rest (atomic) */

	/* shared, under mutex */
	uv_mutex_t mutex;
	uv_cond_t cond;
	struct rumor_store_put *pending_head, *pending_tail;
	struct rumor_store_put *done_head, *done_tail;
	uv_cond_t read_cond;
	struct rumor_store_read *read_pending_head, *read_pending_tail;
	struct rumor_store_read *read_done_head, *read_done_tail;
	int stop;
	uv_cond_t checkpoint_cond;
	int checkpoint_wanted;
	char last_error[LAST_ERROR_MAX];

	/* written by the writer, read anywhere: relaxed atomics */
	uint64_t commits, items_written, write_errors, lazy_commits;
	uint64_t checkpoints, writer_checkpoints, checkpoint_errors;
	/* write transactions by duration (writer thread, monotonic clock) */
	uint64_t commit_us_buckets[RUMOR_STORE_COMMIT_BUCKETS];
	uint64_t commit_us_sum;
};

/* ---- Small helpers ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* Maps a failed SQLite call at open time to our codes. */
static int open_code(sqlite3 *db, int rc)
{
	int sys = db ? sqlite3_system_errno(db) : 0;

	switch (rc & 0xff) {
	case SQLITE_NOTADB:
	case SQLITE_CORRUPT:
		return RUMOR_STORE_ECORRUPT;
	case SQLITE_CANTOPEN:
	case SQLITE_IOERR:
		return sys > 0 ? -sys : -EIO;
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
		return -EACCES;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		return -EBUSY;
	case SQLITE_FULL:
		return -ENOSPC;
	case SQLITE_NOMEM:
		return -ENOMEM;
	default:
		return RUMOR_STORE_EIO;
	}
}

static void note_error(struct rumor_store *store, sqlite3 *db)
{
	uv_mutex_lock(&store->mutex);
	snprintf(store->last_error, sizeof(store->last_error), "%s", sqlite3_errmsg(db));
	uv_mutex_unlock(&store->mutex);
}

/* Runs a query that returns one integer (a PRAGMA or a count). */
static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		*out = sqlite3_column_int64(stmt, 0);
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_ERROR; /* defensive: these queries always return a row */
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* Runs a query that returns one text value into buf. */
static int query_text(sqlite3 *db, const char *sql, char *buf, size_t len)
{
	sqlite3_stmt *stmt = NULL;
	int rc = sqlite3_prepare_v2(db, sql, -1, &stmt, NULL);

	if (rc != SQLITE_OK)
		return rc;
	rc = sqlite3_step(stmt);
	if (rc == SQLITE_ROW) {
		const unsigned char *text = sqlite3_column_text(stmt, 0);
		snprintf(buf, len, "%s", text ? (const char *)text : "");
		rc = SQLITE_OK;
	} else if (rc == SQLITE_DONE) {
		rc = SQLITE_ERROR;
	}
	sqlite3_finalize(stmt);
	return rc;
}

/* "PATH: WHAT: SQLITE-MESSAGE", plus " (OS reason)" when code is a negated
 * errno, so the operator sees both what failed and why. */
static void open_err(char *err, size_t errlen, int code, const char *path, const char *what,
		     const char *msg)
{
	if (code < 0 && code > -1000)
		set_err(err, errlen, "%s: %s: %s (%s)", path, what, msg, strerror(-code));
	else
		set_err(err, errlen, "%s: %s: %s", path, what, msg);
}

static int open_connection(sqlite3 **out, const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rc = sqlite3_open_v2(path, &db,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
				 NULL);

	if (rc != SQLITE_OK) {
		int code = open_code(db, rc);
		open_err(err, errlen, code, path, "cannot open database",
			 db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		sqlite3_close(db); /* harmless on NULL */
		return code;
	}
	sqlite3_extended_result_codes(db, 1);
	sqlite3_busy_timeout(db, RUMOR_STORE_BUSY_TIMEOUT_MS);
	*out = db;
	return 0;
}

/* Fails with the mapped code and a message naming the path and what failed. */
static int open_fail(sqlite3 *db, int rc, const char *path, const char *what, char *err,
		     size_t errlen)
{
	int code = open_code(db, rc);

	if (code == RUMOR_STORE_ECORRUPT) {
		char where[96];

		snprintf(where, sizeof(where), "not a usable database (%s)", what);
		open_err(err, errlen, code, path, where, sqlite3_errmsg(db));
	} else {
		open_err(err, errlen, code, path, what, sqlite3_errmsg(db));
	}
	return code;
}

/* ---- Opening: schema checks and migrations ---- */

/* Reads only the schema and the header fields, never the data. */
static int check_schema(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	int64_t tables = 0, app_id = 0, version = 0;
	int rc;

	rc = query_int(db, "SELECT count(*) FROM sqlite_schema", &tables);
	if (rc != SQLITE_OK)
		return open_fail(db, rc, path, "reading the schema", err, errlen);
	rc = query_int(db, "PRAGMA application_id", &app_id);
	if (rc != SQLITE_OK)
		return open_fail(db, rc, path, "reading application_id", err, errlen);
	rc = query_int(db, "PRAGMA user_version", &version);
	if (rc != SQLITE_OK)
		return open_fail(db, rc, path, "reading user_version", err, errlen);

	if (app_id != 0 && app_id != RUMOR_STORE_APPLICATION_ID) {
		set_err(err, errlen,
			"%s: not a rumor database (SQLite application_id is 0x%08x, not 0x%08x)",
			path, (unsigned)(uint32_t)app_id, (unsigned)RUMOR_STORE_APPLICATION_ID);
		return RUMOR_STORE_EFOREIGN;
	}
	if (app_id == 0 && (tables != 0 || version != 0)) {
		set_err(err, errlen,
			"%s: not a rumor database (an SQLite database with %lld schema "
			"objects and no application_id)",
			path, (long long)tables);
		return RUMOR_STORE_EFOREIGN;
	}
	if (version > MIGRATION_COUNT || version < 0) {
		set_err(err, errlen,
			"%s: database schema version %lld is newer than this rumord (knows %d)",
			path, (long long)version, MIGRATION_COUNT);
		return RUMOR_STORE_ENEWER;
	}
	return 0;
}

static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
	for (;;) {
		int64_t version = 0;
		char sql[64];
		int rc, code;

		rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			return open_fail(db, rc, path, "starting a migration", err, errlen);
		/* Re-read inside the write lock: another process may have migrated. */
		rc = query_int(db, "PRAGMA user_version", &version);
		if (rc != SQLITE_OK)
			goto fail;
		if (version > MIGRATION_COUNT || version < 0) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			set_err(err, errlen,
				"%s: database schema version %lld is newer than this rumord "
				"(knows %d)",
				path, (long long)version, MIGRATION_COUNT);
			return RUMOR_STORE_ENEWER;
		}
		if (version == MIGRATION_COUNT) {
			rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
			if (rc != SQLITE_OK)
				goto fail;
			return 0;
		}
		rc = sqlite3_exec(db, migrations[version], NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto fail;
		if (version == 0) {
			snprintf(sql, sizeof(sql), "PRAGMA application_id = %d",
				 RUMOR_STORE_APPLICATION_ID);
			rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
			if (rc != SQLITE_OK)
				goto fail;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %lld", (long long)version + 1);
		rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto fail;
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto fail;
		continue;
	fail:
		code = open_code(db, rc);
		snprintf(sql, sizeof(sql), "migration %lld failed", (long long)version + 1);
		open_err(err, errlen, code, path, sql, sqlite3_errmsg(db));
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return code;
	}
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **out, const char *path, char *err,
		   size_t errlen)
{
	int rc = sqlite3_prepare_v3(db, sql, -1, SQLITE_PREPARE_PERSISTENT, out, NULL);

	if (rc != SQLITE_OK)
		return open_fail(db, rc, path, "preparing a statement", err, errlen);
	return 0;
}

static int open_writer_db(struct rumor_store *store, char *err, size_t errlen)
{
	const char *path = store->path;
	char mode[16];
	int rc;

	if ((rc = open_connection(&store->wdb, path, err, errlen)) < 0)
		return rc;
	/* Schema checks come first: on a file that is not a database, switching
	 * the journal mode would be the first read and give a vaguer error. */
	if ((rc = check_schema(store->wdb, path, err, errlen)) < 0)
		return rc;
	rc = query_text(store->wdb, "PRAGMA journal_mode = WAL", mode, sizeof(mode));
	if (rc != SQLITE_OK)
		return open_fail(store->wdb, rc, path, "switching to WAL mode", err, errlen);
	if (strcmp(mode, "wal") != 0) {
		set_err(err, errlen, "%s: cannot switch to WAL mode (journal_mode stays %s)", path,
			mode);
		return RUMOR_STORE_EIO;
	}
	/* Every commit holding an acknowledged put is synced (synchronous=FULL;
	 * see write_batch for commits of lazy_sync puts only).  SQLite's own
	 * automatic checkpoints stay on until rumor_store_open installs
	 * on_wal_commit, which replaces them. */
	rc = sqlite3_exec(store->wdb, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON", NULL,
			  NULL, NULL);
	if (rc != SQLITE_OK)
		return open_fail(store->wdb, rc, path, "setting pragmas", err, errlen);
	store->wdb_sync_full = 1;
	if ((rc = migrate(store->wdb, path, err, errlen)) < 0)
		return rc;
	if ((rc = prepare(store->wdb, "BEGIN IMMEDIATE", &store->begin, path, err, errlen)) < 0 ||
	    (rc = prepare(store->wdb, "COMMIT", &store->commit, path, err, errlen)) < 0 ||
	    (rc = prepare(store->wdb, "ROLLBACK", &store->rollback, path, err, errlen)) < 0 ||
	    (rc = prepare(store->wdb, SQL_INSERT, &store->insert, path, err, errlen)) < 0 ||
	    (rc = prepare(store->wdb, SQL_ADD_COUNT, &store->add_count, path, err, errlen)) < 0)
		return rc;
	return 0;
}

static int open_reader_db(struct rumor_store *store, char *err, size_t errlen)
{
	const char *path = store->path;
	int rc;

	if ((rc = open_connection(&store->rdb, path, err, errlen)) < 0)
		return rc;
	/* Defensive: the loop thread must never write through this connection. */
	rc = sqlite3_exec(store->rdb, "PRAGMA foreign_keys = ON; PRAGMA query_only = ON", NULL,
			  NULL, NULL);
	if (rc != SQLITE_OK)
		return open_fail(store->rdb, rc, path, "setting pragmas", err, errlen);
	if ((rc = prepare(store->rdb, SQL_GET_META, &store->get_meta, path, err, errlen)) < 0 ||
	    (rc = prepare(store->rdb, SQL_GET_FULL, &store->get_full, path, err, errlen)) < 0 ||
	    (rc = prepare(store->rdb, SQL_HAS, &store->has, path, err, errlen)) < 0 ||
	    (rc = prepare(store->rdb, SQL_COUNTS, &store->counts, path, err, errlen)) < 0 ||
	    (rc = prepare(store->rdb, "BEGIN", &store->read_begin, path, err, errlen)) < 0 ||
	    (rc = prepare(store->rdb, "COMMIT", &store->read_end, path, err, errlen)) < 0)
		return rc;
	return 0;
}

static int open_thread_reader_db(struct rumor_store *store, char *err, size_t errlen)
{
	const char *path = store->path;
	int rc;

	if ((rc = open_connection(&store->xdb, path, err, errlen)) < 0)
		return rc;
	rc = sqlite3_exec(store->xdb, "PRAGMA query_only = ON", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		return open_fail(store->xdb, rc, path, "setting pragmas", err, errlen);
	if ((rc = prepare(store->xdb, SQL_GET_META, &store->x_meta, path, err, errlen)) < 0 ||
	    (rc = prepare(store->xdb, SQL_GET_FULL, &store->x_full, path, err, errlen)) < 0 ||
	    (rc = prepare(store->xdb, SQL_HAS, &store->x_has, path, err, errlen)) < 0 ||
	    (rc = prepare(store->xdb, "BEGIN", &store->x_begin, path, err, errlen)) < 0 ||
	    (rc = prepare(store->xdb, "COMMIT", &store->x_end, path, err, errlen)) < 0)
		return rc;
	return 0;
}

static void close_databases(struct rumor_store *store)
{
	sqlite3_finalize(store->x_meta);
	sqlite3_finalize(store->x_full);
	sqlite3_finalize(store->x_has);
	sqlite3_finalize(store->x_begin);
	sqlite3_finalize(store->x_end);
	store->x_meta = store->x_full = store->x_has = store->x_begin = store->x_end = NULL;
	sqlite3_finalize(store->get_meta);
	sqlite3_finalize(store->get_full);
	sqlite3_finalize(store->has);
	sqlite3_finalize(store->counts);
	sqlite3_finalize(store->read_begin);
	sqlite3_finalize(store->read_end);
	store->read_begin = store->read_end = NULL;
	sqlite3_finalize(store->begin);
	sqlite3_finalize(store->insert);
	sqlite3_finalize(store->add_count);
	sqlite3_finalize(store->commit);
	sqlite3_finalize(store->rollback);
	store->get_meta = store->get_full = store->has = store->counts = NULL;
	store->begin = store->insert = store->add_count = store->commit = store->rollback = NULL;
	/* Every statement is finalized, so close cannot return SQLITE_BUSY. */
	sqlite3_close(store->rdb);
	sqlite3_close(store->wdb);
	sqlite3_close(store->cdb);
	sqlite3_close(store->xdb);
	store->rdb = store->wdb = store->cdb = store->xdb = NULL;
}

/* ---- The writer thread ---- */

/* Steps a statement that returns no rows and resets it. */
static int step_once(sqlite3_stmt *stmt)
{
	int rc = sqlite3_step(stmt);

	sqlite3_reset(stmt);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int insert_one(struct rumor_store *store, struct rumor_store_put *put)
{
	sqlite3_stmt *st = store->insert;
	int rc;

	/* SQLITE_STATIC: the put is alive until its cb, and the bindings are
	 * cleared below, before the put can be handed back. */
	if ((rc = sqlite3_bind_blob(st, 1, put->id, RUMOR_ID_SIZE, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int(st, 2, (int)put->kind)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 3, put->first_seen_us)) != SQLITE_OK ||
	    (rc = sqlite3_bind_text(st, 4, put->source, -1, SQLITE_STATIC)) != SQLITE_OK ||
	    (rc = put->has_peer ? sqlite3_bind_blob(st, 5, put->peer, 32, SQLITE_STATIC)
				: sqlite3_bind_null(st, 5)) != SQLITE_OK ||
	    (rc = sqlite3_bind_blob64(st, 6, put->encoding, put->size, SQLITE_STATIC)) != SQLITE_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		/* ON CONFLICT DO NOTHING changes no row when the id exists. */
		put->status_ = sqlite3_changes(store->wdb) > 0 ? 0 : 1;
		rc = SQLITE_OK;
	}
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc;
}

/* Adds n new items of one kind to item_counts, inside the open
 * transaction.  Exactly one row must change: item_counts has a row for
 * each kind from migration 1 on (defensive check). */
static int add_count(struct rumor_store *store, enum rumor_item_kind kind, int64_t n)
{
	sqlite3_stmt *st = store->add_count;
	int rc;

	if (n == 0)
		return SQLITE_OK;
	if ((rc = sqlite3_bind_int(st, 1, (int)kind)) != SQLITE_OK ||
	    (rc = sqlite3_bind_int64(st, 2, n)) != SQLITE_OK)
		goto out;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE)
		rc = sqlite3_changes(store->wdb) == 1 ? SQLITE_OK : SQLITE_CORRUPT;
out:
	sqlite3_reset(st);
	return rc;
}

/* fsyncs the write connection's WAL file (outside a transaction). */
static int sync_wal(struct rumor_store *store)
{
	sqlite3_file *wal = NULL;
	int rc = sqlite3_file_control(store->wdb, "main", SQLITE_FCNTL_JOURNAL_POINTER, &wal);

	if (rc != SQLITE_OK)
		return rc;
	if (!wal || !wal->pMethods)
		return SQLITE_OK; /* no WAL open: nothing is waiting in one */
	return wal->pMethods->xSync(wal, SQLITE_SYNC_NORMAL);
}

/* Writes one batch in one transaction, with the counts of the new items it
 * stored.  Sets every put's status_.  Returns the number of new items
 * stored, or -1 when the transaction failed. */
static long write_batch(struct rumor_store *store, struct rumor_store_put *batch, char *errbuf,
			size_t errlen)
{
	struct rumor_store_put *put;
	long written = 0;
	int64_t new_tx = 0, new_block = 0;
	int rc;

	/* FULL unless every put may wait for a later sync (rumor_store_put's
	 * lazy_sync).  In WAL mode a FULL commit fsyncs the whole WAL, so it
	 * also carries every earlier NORMAL commit to disk. */
	int sync_full = 0;
	for (put = batch; put && !sync_full; put = put->next_)
		sync_full = !put->lazy_sync;
	if (sync_full != store->wdb_sync_full) {
		rc = sqlite3_exec(store->wdb,
				  sync_full ? "PRAGMA synchronous = FULL" : "PRAGMA synchronous = NORMAL",
				  NULL, NULL, NULL);
		if (rc != SQLITE_OK)
			goto fail;
		store->wdb_sync_full = sync_full;
	}
	if (!sync_full)
		__atomic_add_fetch(&store->lazy_commits, 1, __ATOMIC_RELAXED);

	if ((rc = step_once(store->begin)) != SQLITE_OK)
		goto fail;
	for (put = batch; put; put = put->next_) {
		if ((rc = insert_one(store, put)) != SQLITE_OK)
			goto fail;
		if (put->status_ == 0) {
			written++;
			switch (put->kind) {
			case RUMOR_ITEM_TX:
				new_tx++;
				break;
			case RUMOR_ITEM_BLOCK:
				new_block++;
				break;
			}
		}
	}
	if ((rc = add_count(store, RUMOR_ITEM_TX, new_tx)) != SQLITE_OK ||
	    (rc = add_count(store, RUMOR_ITEM_BLOCK, new_block)) != SQLITE_OK)
		goto fail;
	if ((rc = step_once(store->commit)) != SQLITE_OK)
		goto fail;
	/* A commit that changes no page writes no WAL frame, and SQLite then
	 * syncs nothing.  A synced batch made only of items already present
	 * (e.g. an RPC resubmission of an item a lazy commit just stored)
	 * would be reported durable while that lazy commit is still only in
	 * the page cache: sync the WAL ourselves. */
	if (sync_full && store->lazy_unsynced && written == 0 &&
	    (rc = sync_wal(store)) != SQLITE_OK) {
		snprintf(errbuf, errlen, "syncing the WAL: %s", sqlite3_errstr(rc));
		for (put = batch; put; put = put->next_)
			put->status_ = RUMOR_STORE_EIO;
		return -1;
	}
	store->lazy_unsynced = !sync_full;
	return written;
fail:
	snprintf(errbuf, errlen, "%s", sqlite3_errmsg(store->wdb));
	if (!sqlite3_get_autocommit(store->wdb))
		step_once(store->rollback); /* if this fails too, the next BEGIN reports it */
	for (put = batch; put; put = put->next_)
		put->status_ = RUMOR_STORE_EIO;
	return -1;
}

/* Detaches the head of the pending list, at most the batch caps (always at
 * least one put).  Called under mutex with a non-empty pending list. */
static struct rumor_store_put *take_batch(struct rumor_store *store, size_t *count)
{
	struct rumor_store_put *head = store->pending_head, *last = NULL, *put = head;
	size_t n = 0, bytes = 0;

	while (put && n < RUMOR_STORE_BATCH_PUTS &&
	       (n == 0 || bytes + put->size <= RUMOR_STORE_BATCH_BYTES)) {
		bytes += put->size;
		n++;
		last = put;
		put = put->next_;
	}
	assert(last);
	last->next_ = NULL;
	store->pending_head = put;
	if (!put)
		store->pending_tail = NULL;
	*count = n;
	return head;
}

const uint64_t rumor_store_commit_bounds_us[RUMOR_STORE_COMMIT_BUCKETS - 1] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000,
};

/* Counts one commit's duration in its bucket (not cumulative: the last
 * bucket holds those over every bound). */
static void count_commit_time(struct rumor_store *store, uint64_t us)
{
	size_t i = 0;
	while (i < RUMOR_STORE_COMMIT_BUCKETS - 1 && us > rumor_store_commit_bounds_us[i])
		i++;
	__atomic_add_fetch(&store->commit_us_buckets[i], 1, __ATOMIC_RELAXED);
	__atomic_add_fetch(&store->commit_us_sum, us, __ATOMIC_RELAXED);
}

static void writer_main(void *arg)
{
	struct rumor_store *store = arg;
	char errbuf[LAST_ERROR_MAX];

	uv_mutex_lock(&store->mutex);
	for (;;) {
		struct rumor_store_put *batch, *last;
		size_t count;
		long written;

		while (!store->pending_head && !store->stop)
			uv_cond_wait(&store->cond, &store->mutex);
		if (!store->pending_head)
			break; /* stopping, and everything queued is written */
		batch = take_batch(store, &count);
		uv_mutex_unlock(&store->mutex);

		uint64_t t0 = uv_hrtime();
		written = write_batch(store, batch, errbuf, sizeof(errbuf));
		if (written >= 0)
			count_commit_time(store, (uv_hrtime() - t0) / 1000);

		uv_mutex_lock(&store->mutex);
		if (written >= 0) {
			__atomic_add_fetch(&store->commits, 1, __ATOMIC_RELAXED);
			__atomic_add_fetch(&store->items_written, (uint64_t)written,
					   __ATOMIC_RELAXED);
		} else {
			__atomic_add_fetch(&store->write_errors, (uint64_t)count, __ATOMIC_RELAXED);
			memcpy(store->last_error, errbuf, sizeof(store->last_error));
		}
		for (last = batch; last->next_; last = last->next_)
			;
		if (store->done_tail)
			store->done_tail->next_ = batch;
		else
			store->done_head = batch;
		store->done_tail = last;
		uv_async_send(&store->async);
	}
	uv_mutex_unlock(&store->mutex);
}

/* ---- The reader thread ---- */

static int read_row(struct rumor_store *store, sqlite3 *db, sqlite3_stmt *st,
		    const uint8_t id[RUMOR_ID_SIZE], struct rumor_store_item *out,
		    int want_encoding);

static int has_many_on(struct rumor_store *store, sqlite3 *db, sqlite3_stmt *st,
		       sqlite3_stmt *begin, sqlite3_stmt *end, const uint8_t *const ptrs[],
		       const uint8_t *flat, size_t n, uint8_t found[]);

static void reader_main(void *arg)
{
	struct rumor_store *store = arg;

	uv_mutex_lock(&store->mutex);
	for (;;) {
		while (!store->read_pending_head && !store->stop)
			uv_cond_wait(&store->read_cond, &store->mutex);
		if (store->stop)
			break; /* close answers what is still queued */
		struct rumor_store_read *read = store->read_pending_head;
		store->read_pending_head = read->next_;
		if (!store->read_pending_head)
			store->read_pending_tail = NULL;
		read->next_ = NULL;
		uv_mutex_unlock(&store->mutex);

		if (read->has_count) {
			read->status_ = has_many_on(store, store->xdb, store->x_has, store->x_begin,
						    store->x_end, NULL, read->has_ids,
						    read->has_count, read->has_found);
		} else {
			sqlite3_stmt *st = read->want_encoding ? store->x_full : store->x_meta;
			read->status_ = read_row(store, store->xdb, st, read->id, &read->item,
						 read->want_encoding);
			if (read->status_ == 0 && read->work)
				read->work(read);
		}

		uv_mutex_lock(&store->mutex);
		if (store->read_done_tail)
			store->read_done_tail->next_ = read;
		else
			store->read_done_head = read;
		store->read_done_tail = read;
		uv_async_send(&store->async);
	}
	uv_mutex_unlock(&store->mutex);
}

/* ---- Checkpoints ---- */

/* SQLite calls this on the writer thread after each commit, with the
 * number of pages in the WAL; it replaces the automatic checkpoint, which
 * would run inside the commit and hold up every write (and so every RPC
 * answer) for as long as copying 16 MiB and an fsync take: 17-25 ms
 * measured under load, against about 1 ms for a commit.  Instead the
 * checkpointer thread copies pages from its own connection while the
 * writer goes on committing.
 *
 * A WAL page is copied once per checkpoint however often it was rewritten,
 * and a commit of random ids dirties about one index page per item: so a
 * checkpoint starts only once WAL_CHECKPOINT_PAGES new pages (16 MiB;
 * SQLite's default is 4 MiB) were written since the last one.
 *
 * The WAL restarts from its beginning (and so stays small, which keeps
 * page lookups in it cheap) only when a checkpoint copied every frame
 * before the next commit.  The checkpointer cannot, since the writer goes
 * on committing while it copies; so once it has finished, the writer
 * checkpoints here, at its next commit, copying only the frames committed
 * meanwhile (a short pause instead of a whole checkpoint), and the WAL
 * restarts at the commit after.  If the WAL reaches WAL_HARD_PAGES anyway
 * (say, a long read pins it), the writer checkpoints at every commit. */
static int on_wal_commit(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct rumor_store *store = arg;
	int done = __atomic_load_n(&store->checkpointed, __ATOMIC_RELAXED);

	if (pages < done) /* the WAL restarted since */
		done = 0;
	if (pages >= WAL_HARD_PAGES || __atomic_load_n(&store->catch_up, __ATOMIC_ACQUIRE)) {
		int copied = 0;
		int rc = sqlite3_wal_checkpoint_v2(db, name, SQLITE_CHECKPOINT_PASSIVE, NULL,
						   &copied);
		/* SQLITE_BUSY: the checkpointer is at it; the next commit
		 * tries again. */
		if (rc == SQLITE_OK) {
			__atomic_add_fetch(&store->writer_checkpoints, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&store->checkpointed, copied, __ATOMIC_RELAXED);
			__atomic_store_n(&store->catch_up, 0, __ATOMIC_RELAXED);
		} else if (rc != SQLITE_BUSY) {
			__atomic_add_fetch(&store->checkpoint_errors, 1, __ATOMIC_RELAXED);
			__atomic_store_n(&store->catch_up, 0, __ATOMIC_RELAXED);
		}
	} else if (pages - done >= WAL_CHECKPOINT_PAGES) {
		uv_mutex_lock(&store->mutex);
		store->checkpoint_wanted = 1;
		uv_cond_signal(&store->checkpoint_cond);
		uv_mutex_unlock(&store->mutex);
	}
	return SQLITE_OK;
}

static void checkpointer_main(void *arg)
{
	struct rumor_store *store = arg;

	uv_mutex_lock(&store->mutex);
	for (;;) {
		while (!store->checkpoint_wanted && !store->stop)
			uv_cond_wait(&store->checkpoint_cond, &store->mutex);
		if (store->stop)
			break; /* closing the last connection checkpoints anyway */
		store->checkpoint_wanted = 0;
		uv_mutex_unlock(&store->mutex);

		/* PASSIVE: copies what no reader still needs, never waits for
		 * the writer or readers.  SQLITE_BUSY (another checkpoint is
		 * running) only means the next wake-up does it. */
		int copied = 0;
		int rc = sqlite3_wal_checkpoint_v2(store->cdb, "main", SQLITE_CHECKPOINT_PASSIVE,
						   NULL, &copied);
		if (rc == SQLITE_OK) {
			__atomic_store_n(&store->checkpointed, copied, __ATOMIC_RELAXED);
			__atomic_store_n(&store->catch_up, 1, __ATOMIC_RELEASE);
			/* Counted last: whoever sees the count sees catch_up. */
			__atomic_add_fetch(&store->checkpoints, 1, __ATOMIC_RELEASE);
		} else if (rc != SQLITE_BUSY)
			__atomic_add_fetch(&store->checkpoint_errors, 1, __ATOMIC_RELAXED);

		uv_mutex_lock(&store->mutex);
	}
	uv_mutex_unlock(&store->mutex);
}

/* Stops and joins whichever threads run. */
static void stop_threads(struct rumor_store *store, int writer)
{
	uv_mutex_lock(&store->mutex);
	store->stop = 1;
	uv_cond_signal(&store->cond);
	uv_cond_signal(&store->checkpoint_cond);
	uv_cond_signal(&store->read_cond);
	uv_mutex_unlock(&store->mutex);
	if (writer)
		uv_thread_join(&store->writer);
	if (store->reader_started)
		uv_thread_join(&store->reader);
	store->reader_started = 0;
	if (store->checkpointer_started)
		uv_thread_join(&store->checkpointer);
	store->checkpointer_started = 0;
}

/* ---- Completions on the loop thread ---- */

static void collect_done(struct rumor_store *store)
{
	uv_mutex_lock(&store->mutex);
	if (store->done_head) {
		if (store->ready_tail)
			store->ready_tail->next_ = store->done_head;
		else
			store->ready_head = store->done_head;
		store->ready_tail = store->done_tail;
		store->done_head = store->done_tail = NULL;
	}
	if (store->read_done_head) {
		if (store->read_ready_tail)
			store->read_ready_tail->next_ = store->read_done_head;
		else
			store->read_ready_head = store->read_done_head;
		store->read_ready_tail = store->read_done_tail;
		store->read_done_head = store->read_done_tail = NULL;
	}
	uv_mutex_unlock(&store->mutex);
}

/* Pops one put (then read) at a time, so a cb that closes the store
 * (which runs the rest itself) leaves these loops with nothing to do. */
static void run_ready(struct rumor_store *store)
{
	struct rumor_store_put *put;

	while ((put = store->ready_head) != NULL) {
		store->ready_head = put->next_;
		if (!store->ready_head)
			store->ready_tail = NULL;
		put->next_ = NULL;
		assert(store->in_flight > 0);
		if (--store->in_flight == 0)
			uv_unref((uv_handle_t *)&store->async);
		put->cb(put, put->status_); /* may free put: not touched again */
	}
	struct rumor_store_read *read;
	while ((read = store->read_ready_head) != NULL) {
		store->read_ready_head = read->next_;
		if (!store->read_ready_head)
			store->read_ready_tail = NULL;
		read->next_ = NULL;
		assert(store->in_flight > 0 && store->reads_queued > 0);
		store->reads_queued--;
		if (--store->in_flight == 0)
			uv_unref((uv_handle_t *)&store->async);
		read->cb(read, read->status_); /* may free read */
	}
}

static void async_cb(uv_async_t *handle)
{
	struct rumor_store *store = handle->data;

	collect_done(store);
	run_ready(store);
}

/* ---- Public API ---- */

int rumor_store_open(struct rumor_store **out, uv_loop_t *loop, const char *path, char *err,
		     size_t errlen)
{
	struct rumor_store *store;
	int rc;

	*out = NULL;
	if (errlen > 0)
		err[0] = '\0';
	store = calloc(1, sizeof(*store));
	if (!store || !(store->path = strdup(path))) {
		free(store);
		set_err(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	store->loop = loop;

	if ((rc = open_writer_db(store, err, errlen)) < 0 ||
	    (rc = open_reader_db(store, err, errlen)) < 0 ||
	    (rc = open_thread_reader_db(store, err, errlen)) < 0)
		goto fail_db;
	if ((rc = open_connection(&store->cdb, path, err, errlen)) < 0)
		goto fail_db;
	rc = sqlite3_exec(store->cdb, "PRAGMA synchronous = FULL", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		rc = open_fail(store->cdb, rc, path, "setting pragmas", err, errlen);
		goto fail_db;
	}

	if ((rc = uv_mutex_init(&store->mutex)) < 0) {
		set_err(err, errlen, "%s: %s", path, uv_strerror(rc));
		goto fail_db;
	}
	if ((rc = uv_cond_init(&store->cond)) < 0) {
		set_err(err, errlen, "%s: %s", path, uv_strerror(rc));
		goto fail_mutex;
	}
	if ((rc = uv_cond_init(&store->checkpoint_cond)) < 0) {
		set_err(err, errlen, "%s: %s", path, uv_strerror(rc));
		uv_cond_destroy(&store->cond);
		goto fail_mutex;
	}
	if ((rc = uv_cond_init(&store->read_cond)) < 0) {
		set_err(err, errlen, "%s: %s", path, uv_strerror(rc));
		uv_cond_destroy(&store->checkpoint_cond);
		uv_cond_destroy(&store->cond);
		goto fail_mutex;
	}
	/* From here on the writer's commits wake the checkpointer. */
	sqlite3_wal_hook(store->wdb, on_wal_commit, store);
	if ((rc = uv_thread_create(&store->checkpointer, checkpointer_main, store)) < 0) {
		set_err(err, errlen, "%s: cannot start the checkpoint thread: %s", path,
			uv_strerror(rc));
		goto fail_cond;
	}
	store->checkpointer_started = 1;
	/* The reader sends on the async handle only after a read, and there is
	 * no read before open returns. */
	if ((rc = uv_thread_create(&store->reader, reader_main, store)) < 0) {
		set_err(err, errlen, "%s: cannot start the reader thread: %s", path,
			uv_strerror(rc));
		goto fail_cond;
	}
	store->reader_started = 1;
	/* The writer sends on the async handle only after a batch, and there is
	 * no batch before open returns: so start the thread first, and a failed
	 * uv_async_init can still stop it without leaving anything on the loop. */
	if ((rc = uv_thread_create(&store->writer, writer_main, store)) < 0) {
		set_err(err, errlen, "%s: cannot start the writer thread: %s", path,
			uv_strerror(rc));
		goto fail_cond;
	}
	if ((rc = uv_async_init(loop, &store->async, async_cb)) < 0) {
		set_err(err, errlen, "%s: %s", path, uv_strerror(rc));
		stop_threads(store, 1);
		goto fail_cond;
	}
	store->async.data = store;
	uv_unref((uv_handle_t *)&store->async); /* referenced only while puts are in flight */
	*out = store;
	return 0;

fail_cond:
	stop_threads(store, 0); /* the checkpointer and reader, if they started */
	uv_cond_destroy(&store->read_cond);
	uv_cond_destroy(&store->checkpoint_cond);
	uv_cond_destroy(&store->cond);
fail_mutex:
	uv_mutex_destroy(&store->mutex);
fail_db:
	close_databases(store);
	free(store->path);
	free(store);
	return rc;
}

static void on_async_closed(uv_handle_t *handle)
{
	struct rumor_store *store = handle->data;

	free(store->path);
	free(store);
}

void rumor_store_close(struct rumor_store *store)
{
	assert(!store->closing); /* closing twice is a bug */
	store->closing = 1;

	stop_threads(store, 1);

	/* The writer has committed everything and left: report it all here.
	 * A cb may call the read functions (still open) or put (refused). */
	collect_done(store);
	/* Reads the reader had not taken are answered ECLOSED, after the ones
	 * it finished (cbs may look things up: the loop's read connection is
	 * still open). */
	struct rumor_store_read *r = store->read_pending_head;
	store->read_pending_head = store->read_pending_tail = NULL;
	while (r) {
		struct rumor_store_read *next = r->next_;
		r->next_ = NULL;
		r->status_ = RUMOR_STORE_ECLOSED;
		if (store->read_ready_tail)
			store->read_ready_tail->next_ = r;
		else
			store->read_ready_head = r;
		store->read_ready_tail = r;
		r = next;
	}
	run_ready(store);
	assert(store->in_flight == 0 && store->reads_queued == 0);
	assert(!store->pending_head && !store->done_head);

	close_databases(store);
	uv_cond_destroy(&store->read_cond);
	uv_cond_destroy(&store->checkpoint_cond);
	uv_cond_destroy(&store->cond);
	uv_mutex_destroy(&store->mutex);
	uv_close((uv_handle_t *)&store->async, on_async_closed);
}

static int kind_valid(enum rumor_item_kind kind)
{
	switch (kind) {
	case RUMOR_ITEM_TX:
	case RUMOR_ITEM_BLOCK:
		return 1;
	}
	return 0;
}

void rumor_store_hold(struct rumor_store *store, int hold)
{
	if (store->hold == hold)
		return;
	store->hold = hold;
	if (hold || !store->held_puts)
		return;
	store->held_puts = 0;
	uv_mutex_lock(&store->mutex);
	uv_cond_signal(&store->cond);
	uv_mutex_unlock(&store->mutex);
}

int rumor_store_put(struct rumor_store *store, struct rumor_store_put *put)
{
	if (store->closing)
		return RUMOR_STORE_ECLOSED;
	if (!put->cb || !kind_valid(put->kind) || !put->encoding || put->size == 0 ||
	    put->size > RUMOR_ITEM_SIZE_MAX || put->source[0] == '\0' ||
	    !memchr(put->source, '\0', sizeof(put->source)))
		return -EINVAL;

	put->next_ = NULL;
	put->status_ = 0;
	uv_mutex_lock(&store->mutex);
	if (store->pending_tail)
		store->pending_tail->next_ = put;
	else
		store->pending_head = put;
	store->pending_tail = put;
	if (store->hold)
		store->held_puts = 1;
	else
		uv_cond_signal(&store->cond);
	uv_mutex_unlock(&store->mutex);

	if (store->in_flight++ == 0)
		uv_ref((uv_handle_t *)&store->async);
	return 0;
}

static int read_error(struct rumor_store *store, sqlite3_stmt *stmt)
{
	note_error(store, store->rdb);
	sqlite3_reset(stmt);
	sqlite3_clear_bindings(stmt);
	return RUMOR_STORE_EIO;
}

/* One row by id through db's statement st (get_meta or get_full of that
 * connection).  As rumor_store_get. */
static int read_row(struct rumor_store *store, sqlite3 *db, sqlite3_stmt *st,
		    const uint8_t id[RUMOR_ID_SIZE], struct rumor_store_item *out,
		    int want_encoding)
{
	const void *peer, *text;
	int rc, result = 0;

	if (sqlite3_bind_blob(st, 1, id, RUMOR_ID_SIZE, SQLITE_STATIC) != SQLITE_OK)
		goto fail;
	rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		result = RUMOR_STORE_ENOTFOUND;
		goto out;
	}
	if (rc != SQLITE_ROW)
		goto fail;

	out->kind = (enum rumor_item_kind)sqlite3_column_int(st, 0);
	out->first_seen_us = sqlite3_column_int64(st, 1);
	text = sqlite3_column_text(st, 2);
	snprintf(out->source, sizeof(out->source), "%s", text ? (const char *)text : "");
	peer = sqlite3_column_blob(st, 3);
	out->has_peer = peer != NULL && sqlite3_column_bytes(st, 3) == 32;
	if (out->has_peer)
		memcpy(out->peer, peer, 32);
	else
		memset(out->peer, 0, sizeof(out->peer));
	if (want_encoding) {
		const void *blob = sqlite3_column_blob(st, 4);
		size_t size = (size_t)sqlite3_column_bytes(st, 4);

		if (!blob && sqlite3_errcode(db) == SQLITE_NOMEM) {
			result = -ENOMEM;
			goto out;
		}
		out->encoding = malloc(size ? size : 1);
		if (!out->encoding) {
			result = -ENOMEM;
			goto out;
		}
		if (size)
			memcpy(out->encoding, blob, size);
		out->size = size;
	} else {
		out->size = (size_t)sqlite3_column_int64(st, 4);
	}
out:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return result;
fail:
	note_error(store, db);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return RUMOR_STORE_EIO;
}

int rumor_store_get(struct rumor_store *store, const uint8_t id[RUMOR_ID_SIZE],
		    struct rumor_store_item *out, int want_encoding)
{
	out->encoding = NULL;
	if (!store->rdb)
		return RUMOR_STORE_ECLOSED;
	return read_row(store, store->rdb, want_encoding ? store->get_full : store->get_meta, id,
			out, want_encoding);
}

int rumor_store_read(struct rumor_store *store, struct rumor_store_read *read)
{
	if (store->closing)
		return RUMOR_STORE_ECLOSED;
	if (!read->cb)
		return -EINVAL;
	if (store->reads_queued >= RUMOR_STORE_READS_MAX)
		return -EAGAIN;
	memset(&read->item, 0, sizeof(read->item));
	read->next_ = NULL;
	read->status_ = 0;
	store->reads_queued++;
	if (store->in_flight++ == 0)
		uv_ref((uv_handle_t *)&store->async);
	uv_mutex_lock(&store->mutex);
	if (store->read_pending_tail)
		store->read_pending_tail->next_ = read;
	else
		store->read_pending_head = read;
	store->read_pending_tail = read;
	uv_cond_signal(&store->read_cond);
	uv_mutex_unlock(&store->mutex);
	return 0;
}

int rumor_store_has(struct rumor_store *store, const uint8_t id[RUMOR_ID_SIZE])
{
	sqlite3_stmt *st = store->has;
	int rc;

	if (!store->rdb)
		return RUMOR_STORE_ECLOSED;
	if (sqlite3_bind_blob(st, 1, id, RUMOR_ID_SIZE, SQLITE_STATIC) != SQLITE_OK)
		return read_error(store, st);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return read_error(store, st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW;
}

/* Looks n ids up through db's has statement st, in one read transaction
 * (begin/end of that connection): the ids are ptrs[i], or flat + 32 * i
 * when ptrs is NULL. */
static int has_many_on(struct rumor_store *store, sqlite3 *db, sqlite3_stmt *st,
		       sqlite3_stmt *begin, sqlite3_stmt *end, const uint8_t *const ptrs[],
		       const uint8_t *flat, size_t n, uint8_t found[])
{
	int rc = SQLITE_OK;

	if (n == 0)
		return 0;
	/* A deferred BEGIN: the first lookup opens the read transaction, the
	 * rest reuse its snapshot. */
	if (step_once(begin) != SQLITE_OK) {
		note_error(store, db);
		return RUMOR_STORE_EIO;
	}
	for (size_t i = 0; i < n; i++) {
		const uint8_t *id = ptrs ? ptrs[i] : flat + (size_t)RUMOR_ID_SIZE * i;

		if (sqlite3_bind_blob(st, 1, id, RUMOR_ID_SIZE, SQLITE_STATIC) != SQLITE_OK)
			goto fail;
		rc = sqlite3_step(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			goto fail;
		found[i] = rc == SQLITE_ROW;
		sqlite3_reset(st);
	}
	sqlite3_clear_bindings(st);
	if (step_once(end) != SQLITE_OK) {
		note_error(store, db);
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return RUMOR_STORE_EIO;
	}
	return 0;
fail:
	note_error(store, db);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (!sqlite3_get_autocommit(db))
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return RUMOR_STORE_EIO;
}

int rumor_store_has_many(struct rumor_store *store, const uint8_t *const ids[], size_t n,
			 uint8_t found[])
{
	if (!store->rdb)
		return RUMOR_STORE_ECLOSED;
	return has_many_on(store, store->rdb, store->has, store->read_begin, store->read_end, ids,
			   NULL, n, found);
}

int rumor_store_counts(struct rumor_store *store, uint64_t *tx, uint64_t *block)
{
	sqlite3_stmt *st = store->counts;
	uint64_t n_tx = 0, n_block = 0;
	int rc;

	if (!store->rdb)
		return RUMOR_STORE_ECLOSED;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t kind = sqlite3_column_int64(st, 0), n = sqlite3_column_int64(st, 1);

		if (n < 0)
			n = 0; /* defensive: the counts never go negative */
		if (kind == RUMOR_ITEM_TX)
			n_tx = (uint64_t)n;
		else if (kind == RUMOR_ITEM_BLOCK)
			n_block = (uint64_t)n;
	}
	if (rc != SQLITE_DONE)
		return read_error(store, st);
	sqlite3_reset(st);
	if (tx)
		*tx = n_tx;
	if (block)
		*block = n_block;
	return 0;
}

void rumor_store_get_stats(const struct rumor_store *store, struct rumor_store_stats *out)
{
	out->commits = __atomic_load_n(&store->commits, __ATOMIC_RELAXED);
	out->items_written = __atomic_load_n(&store->items_written, __ATOMIC_RELAXED);
	out->write_errors = __atomic_load_n(&store->write_errors, __ATOMIC_RELAXED);
	out->lazy_commits = __atomic_load_n(&store->lazy_commits, __ATOMIC_RELAXED);
	out->checkpoints = __atomic_load_n(&store->checkpoints, __ATOMIC_ACQUIRE);
	out->writer_checkpoints = __atomic_load_n(&store->writer_checkpoints, __ATOMIC_RELAXED);
	out->checkpoint_errors = __atomic_load_n(&store->checkpoint_errors, __ATOMIC_RELAXED);
	for (size_t i = 0; i < RUMOR_STORE_COMMIT_BUCKETS; i++)
		out->commit_us_buckets[i] =
			__atomic_load_n(&store->commit_us_buckets[i], __ATOMIC_RELAXED);
	out->commit_us_sum = __atomic_load_n(&store->commit_us_sum, __ATOMIC_RELAXED);
}

void rumor_store_last_error(struct rumor_store *store, char *buf, size_t len)
{
	if (len == 0)
		return;
	uv_mutex_lock(&store->mutex);
	snprintf(buf, len, "%s", store->last_error);
	uv_mutex_unlock(&store->mutex);
}

const char *rumor_store_strerror(int code)
{
	switch (code) {
	case 0:
		return "success";
	case RUMOR_STORE_ENOTFOUND:
		return "no item with that id";
	case RUMOR_STORE_ECORRUPT:
		return "the database file is not an SQLite database, or is damaged";
	case RUMOR_STORE_ENEWER:
		return "the database schema is newer than this program";
	case RUMOR_STORE_EIO:
		return "the database failed (see the SQLite error text)";
	case RUMOR_STORE_ECLOSED:
		return "the store is closing";
	case RUMOR_STORE_EFOREIGN:
		return "the file is an SQLite database of another program";
	default:
		break;
	}
	if (code < 0 && code > -1000)
		return strerror(-code);
	return "unknown store error";
}
