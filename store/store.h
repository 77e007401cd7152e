/*
 * store/store.h: the item store, a SQLite database in WAL mode.
 *
 * Connections to one file:
 *  - a read connection, used on the caller's (loop) thread for small
 *    lookups (metadata, presence, counts);
 *  - a read connection owned by a reader thread, for reads queued with
 *    rumor_store_read() (encodings up to 4 MiB, and lookups of many ids,
 *    off the loop);
 *  - a checkpoint connection owned by a checkpoint thread;
 *  - a write connection owned by one writer thread.  Writes are queued with
 *    rumor_store_put(); the writer takes everything queued so far (at most
 *    RUMOR_STORE_BATCH_PUTS puts or RUMOR_STORE_BATCH_BYTES bytes of
 *    encodings per transaction; the rest goes into the next one), commits it
 *    as ONE transaction, and only then reports each write's result on the
 *    loop thread (through a uv_async_t).  So a put's callback means durable:
 *    the transaction has committed with synchronous=FULL, which survives
 *    kill -9 and power loss.  (A commit made only of puts marked lazy_sync
 *    skips the fsync: it survives kill -9, and power loss once a later
 *    synced commit or checkpoint has run.)
 *
 * Schema changes are an append-only list of migrations (store/store.c);
 * PRAGMA user_version is the count applied.  A database newer than this code
 * is refused (RUMOR_STORE_ENEWER), and so is an SQLite database that belongs
 * to another program (RUMOR_STORE_EFOREIGN: PRAGMA application_id differs
 * from RUMOR_STORE_APPLICATION_ID).
 *
 * Nothing here loads a whole table: lookups are by id, counts are kept in a
 * table that the writer updates in the same transaction as the inserts it
 * counts, and the writer holds at most one batch.  The
 * queue between the loop and the writer is as long as the caller makes it:
 * the node bounds how much it submits.
 *
 * Ownership: struct rumor_store is allocated by rumor_store_open() and freed
 * by the loop after rumor_store_close() (see there).  Puts are caller-owned;
 * the store never touches a put after calling its callback, so the callback
 * may free it.
 *
 * Threads: every function must be called from the thread that called
 * rumor_store_open() (the loop thread), and put and read callbacks run
 * there.  The writer, reader and checkpoint threads are internal.
 *
 * The loop: the store's uv_async_t keeps the loop alive only while puts or
 * reads are in flight, so uv_run(loop, UV_RUN_DEFAULT) returns once every queued put's
 * callback has run (if nothing else is active).
 */
#ifndef RUMOR_STORE_STORE_H
#define RUMOR_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>

/* The libuv loop the completions run on, by its struct tag: the store's
 * callers need not include uv.h for it (a uv_loop_t * is a
 * struct uv_loop_s *). */
struct uv_loop_s;

#include "crypto/item.h"

/* Error codes (negative).  Functions also return negated errno values. */
#define RUMOR_STORE_ENOTFOUND (-1001) /* no item with that id */
#define RUMOR_STORE_ECORRUPT (-1002)  /* not a database, or damaged */
#define RUMOR_STORE_ENEWER (-1003)    /* schema newer than this program */
#define RUMOR_STORE_EIO (-1004)       /* SQLite failed; see the error text */
#define RUMOR_STORE_ECLOSED (-1005)   /* store closing; write not done */
#define RUMOR_STORE_EFOREIGN (-1006)  /* an SQLite database of another program */

/* PRAGMA application_id of a rumor database: 'rumr'. */
#define RUMOR_STORE_APPLICATION_ID 0x72756d72
/* How long either connection waits for a lock held by another one. */
#define RUMOR_STORE_BUSY_TIMEOUT_MS 5000
/* Most puts, and most bytes of encodings, in one write transaction. */
#define RUMOR_STORE_BATCH_PUTS 4096
#define RUMOR_STORE_BATCH_BYTES (64u * 1024u * 1024u)

#define RUMOR_SOURCE_MAX 80

struct rumor_store;

/* Opens (creating and migrating as needed) the database at path and starts
 * the writer thread, whose completions run on loop.  Checks only the schema
 * at start (sqlite_schema, application_id, user_version), never the data.
 * On failure returns a negative code, *out is NULL, nothing is left open on
 * loop, and err (if errlen > 0) holds a message for the operator naming path:
 *   RUMOR_STORE_ECORRUPT   the file is not an SQLite database, or damaged;
 *   RUMOR_STORE_EFOREIGN   an SQLite database of another program;
 *   RUMOR_STORE_ENEWER     schema version newer than this program knows;
 *   -errno                 the file or its directory could not be used
 *                          (-ENOENT, -EACCES, -EBUSY when another process
 *                          holds the database locked, -ENOSPC, -ENOMEM...);
 *   RUMOR_STORE_EIO        any other SQLite failure. */
int rumor_store_open(struct rumor_store **out, struct uv_loop_s *loop, const char *path, char *err,
		     size_t errlen);

/* Closes the store.  In order, on the calling (loop) thread:
 *  1. from now on rumor_store_put() returns RUMOR_STORE_ECLOSED;
 *  2. tells the writer to stop once it has committed everything queued, and
 *     joins it;
 *  3. runs the callback of every put not yet reported, directly (not through
 *     the loop), each with its real result;
 *  4. finalizes the statements and closes both connections;
 *  5. uv_close()s the async handle.  The struct's memory is freed in that
 *     handle's close callback, so the caller must run the loop afterwards
 *     until it has nothing left (uv_run(loop, UV_RUN_DEFAULT)), as the node
 *     does at shutdown.
 * After this call no function may be called on store.  May be called from a
 * put callback; must not be called twice. */
void rumor_store_close(struct rumor_store *store);

struct rumor_store_item {
	enum rumor_item_kind kind;
	uint8_t *encoding; /* malloc'd, caller frees (NULL when not asked for) */
	size_t size;       /* size of the encoding, filled in either way */
	int64_t first_seen_us;
	char source[RUMOR_SOURCE_MAX]; /* "rpc" or "peer" */
	uint8_t peer[32];              /* node id of the peer, when has_peer */
	int has_peer;
};

/* Looks up a committed item by id.  want_encoding: also fetch the bytes
 * (otherwise the encoding is not read from disk at all; out->size is set
 * either way).  Returns 0, RUMOR_STORE_ENOTFOUND, -ENOMEM or
 * RUMOR_STORE_EIO; on error the fields of *out are unspecified except that
 * out->encoding is NULL.  (All three lookups return RUMOR_STORE_ECLOSED once
 * close has closed the connections; put callbacks run by close may still
 * look things up.) */
int rumor_store_get(struct rumor_store *store, const uint8_t id[RUMOR_ID_SIZE],
		    struct rumor_store_item *out, int want_encoding);
/* 1 if present (committed), 0 if not, RUMOR_STORE_EIO on error. */
int rumor_store_has(struct rumor_store *store, const uint8_t id[RUMOR_ID_SIZE]);
/* Checks n ids in one read transaction (one WAL snapshot, one lock
 * round-trip, instead of one per id): found[i] = 1 when ids[i] is committed,
 * 0 when not.  Returns 0, RUMOR_STORE_EIO (found[] unspecified) or
 * RUMOR_STORE_ECLOSED. */
int rumor_store_has_many(struct rumor_store *store, const uint8_t *const ids[], size_t n,
			 uint8_t found[]);
/* Committed item counts by kind (either pointer may be NULL).  Returns 0 or
 * RUMOR_STORE_EIO.  Costs two rows, never a table scan. */
int rumor_store_counts(struct rumor_store *store, uint64_t *tx, uint64_t *block);

/* One queued write.  Caller-owned; must stay alive until cb runs.  The
 * encoding buffer is borrowed for the same time.  The store does not
 * validate items: the caller has. */
struct rumor_store_put;
typedef void (*rumor_store_put_cb)(struct rumor_store_put *put, int status);
struct rumor_store_put {
	/* set by the caller */
	uint8_t id[RUMOR_ID_SIZE];
	enum rumor_item_kind kind;
	const uint8_t *encoding;
	size_t size; /* 1..RUMOR_ITEM_SIZE_MAX */
	int64_t first_seen_us;
	char source[RUMOR_SOURCE_MAX]; /* NUL-terminated, not empty */
	uint8_t peer[32];
	int has_peer;
	/* 0 (the default): the commit holding this put is synced to disk
	 * (synchronous=FULL) before cb runs, so it survives power loss.
	 * 1: nobody is told "accepted" for it (an item relayed from a peer), so
	 * its commit may skip the fsync when every put in it says so: it then
	 * survives a process crash (the WAL is in the OS page cache) and
	 * reaches the disk with the next synced commit or checkpoint. */
	int lazy_sync;
	/* status: 0 stored, 1 already present (the stored copy is kept, with its
	 * first_seen_us and source), RUMOR_STORE_EIO when the transaction failed
	 * (every put of that transaction gets it; nothing of it was stored). */
	rumor_store_put_cb cb;
	void *data; /* for the caller */
	/* private */
	struct rumor_store_put *next_;
	int status_;
};

/* Queues a write.  Returns 0 (cb will run exactly once, on the loop thread,
 * after the commit), RUMOR_STORE_ECLOSED (close has started) or -EINVAL (a
 * field is out of range: bad kind, size, empty or unterminated source, no
 * cb); on error cb will not run. */
int rumor_store_put(struct rumor_store *store, struct rumor_store_put *put);

/* One read off the loop thread (rumor_store_read).  Caller-owned; must stay
 * alive until cb runs.  Reads run in order on the store's reader thread,
 * with its own read connection, so a large encoding (a 4 MiB block) is
 * fetched, and optionally turned into the caller's answer by work, without
 * holding the loop. */
struct rumor_store_read;
typedef void (*rumor_store_read_cb)(struct rumor_store_read *read, int status);
struct rumor_store_read {
	/* set by the caller */
	uint8_t id[RUMOR_ID_SIZE];
	int want_encoding;
	/* Or, when has_count > 0, a lookup of has_count ids (has_ids, 32
	 * bytes each, one after the other) in one read transaction, as
	 * rumor_store_has_many: has_found[i] is set to 1 (stored) or 0 before
	 * cb, status 0 or RUMOR_STORE_EIO; id, want_encoding, work and item
	 * are not used.  Both arrays are the caller's and must stay alive
	 * until cb runs. */
	const uint8_t *has_ids;
	size_t has_count;
	uint8_t *has_found;
	/* Optional: runs on the reader thread after a successful read (status
	 * 0), before cb; it may replace item.encoding (e.g. by the answer text
	 * built from it; it owns the buffer either way) and use data and
	 * result.  It must not call into the store, libuv or the loop
	 * thread's state. */
	void (*work)(struct rumor_store_read *read);
	rumor_store_read_cb cb;
	void *data;      /* for the caller */
	void *result;    /* for work's output; the store never touches it */
	size_t result_len;
	/* filled in before cb: as rumor_store_get's out (item.encoding
	 * malloc'd, the caller frees it in cb or later; NULL on error) */
	struct rumor_store_item item;
	/* private */
	struct rumor_store_read *next_;
	int status_;
};

/* Queues a read.  Returns 0 (cb will run exactly once, on the loop thread,
 * with status 0, RUMOR_STORE_ENOTFOUND, -ENOMEM, RUMOR_STORE_EIO or, for a
 * read still queued when close starts, RUMOR_STORE_ECLOSED),
 * RUMOR_STORE_ECLOSED (close has started) or -EINVAL (no cb); on error cb
 * will not run.  At most RUMOR_STORE_READS_MAX reads may be queued at once:
 * past it -EAGAIN (the caller answers "busy" or retries). */
#define RUMOR_STORE_READS_MAX 4096
int rumor_store_read(struct rumor_store *store, struct rumor_store_read *read);

/* While held (hold = 1), puts are queued without waking the writer; on
 * release (hold = 0) the writer is woken once for all of them, so they go
 * into one commit instead of the first one alone making its own.  A writer
 * already committing still takes them when it is done.  Loop thread; the
 * caller releases within the same loop turn. */
void rumor_store_hold(struct rumor_store *store, int hold);

/* Statistics for getinfo/benchmarks. */
#define RUMOR_STORE_COMMIT_BUCKETS 13
struct rumor_store_stats {
	uint64_t commits;       /* write transactions committed */
	uint64_t items_written; /* puts that stored a new item (status 0) */
	uint64_t write_errors;  /* puts that got RUMOR_STORE_EIO */
	uint64_t lazy_commits;  /* commits made only of lazy_sync puts (no fsync) */
	uint64_t checkpoints;   /* WAL checkpoints by the checkpoint thread */
	uint64_t writer_checkpoints; /* ... by the writer: the WAL reached its cap */
	uint64_t checkpoint_errors;  /* checkpoints that failed (not SQLITE_BUSY) */
	/* Successful write transactions by how long they took on the writer
	 * thread (BEGIN to COMMIT, monotonic clock), in microseconds: bucket i
	 * counts those at most rumor_store_commit_bounds_us[i] (and over the
	 * one before); the last bucket those over every bound.  Not
	 * cumulative.  commit_us_sum: their total. */
	uint64_t commit_us_buckets[RUMOR_STORE_COMMIT_BUCKETS];
	uint64_t commit_us_sum;
};
extern const uint64_t rumor_store_commit_bounds_us[RUMOR_STORE_COMMIT_BUCKETS - 1];
void rumor_store_get_stats(const struct rumor_store *store, struct rumor_store_stats *out);

/* Copies SQLite's message for the most recent failure on either connection
 * into buf ("" when there was none), for logs next to an EIO status. */
void rumor_store_last_error(struct rumor_store *store, char *buf, size_t len);

/* Human-readable text of a code above (or of a negated errno). */
const char *rumor_store_strerror(int code);

#endif
