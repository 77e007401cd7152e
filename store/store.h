/*
 * store/store.h: the item store, a SQLite database in WAL mode.
 *
 * Two connections to one file:
 *  - a read connection, used on the caller's (loop) thread for lookups;
 *  - a write connection owned by one writer thread.  Writes are queued with
 *    rumor_store_put(); the writer takes everything queued so far, commits it
 *    as ONE transaction, and only then reports each write's result on the
 *    loop thread (through a uv_async_t).  So a put's callback means durable:
 *    the transaction has committed with synchronous=FULL.
 *
 * Schema changes are an append-only list of migrations (store/store.c);
 * PRAGMA user_version is the count applied.  A database newer than this code
 * is refused.
 *
 * Nothing here loads a whole table: lookups are by primary key, counts are
 * kept in a table maintained by triggers.
 *
 * Threads: every function except the put callbacks' internals must be called
 * from the thread that called rumor_store_open() (the loop thread).
 */
#ifndef RUMOR_STORE_STORE_H
#define RUMOR_STORE_STORE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "crypto/item.h"

/* Error codes (negative).  Functions also return negated errno values. */
#define RUMOR_STORE_ENOTFOUND (-1001) /* no item with that id */
#define RUMOR_STORE_ECORRUPT (-1002)  /* not a database, or damaged */
#define RUMOR_STORE_ENEWER (-1003)    /* schema newer than this program */
#define RUMOR_STORE_EIO (-1004)       /* SQLite failed; see the error text */
#define RUMOR_STORE_ECLOSED (-1005)   /* store closing; write not done */

#define RUMOR_SOURCE_MAX 80

struct rumor_store;

/* Opens (creating and migrating as needed) the database at path and starts
 * the writer thread, whose completions run on loop.  On failure returns a
 * negative code, *out is NULL, and err holds a message for the operator. */
int rumor_store_open(struct rumor_store **out, uv_loop_t *loop, const char *path, char *err,
		     size_t errlen);
/* Stops the writer after it commits everything queued (each pending put's
 * callback runs with its result before this returns), then closes.  The
 * loop is not run by this call; callbacks are invoked directly. */
void rumor_store_close(struct rumor_store *store);

struct rumor_store_item {
	enum rumor_item_kind kind;
	uint8_t *encoding; /* malloc'd, caller frees (NULL when not asked for) */
	size_t size;
	int64_t first_seen_us;
	char source[RUMOR_SOURCE_MAX]; /* "rpc" or "peer" */
	uint8_t peer[32];              /* node id of the peer, when source is "peer" */
	int has_peer;
};

/* Looks up an id.  want_encoding: also fetch the bytes.  Returns 0,
 * RUMOR_STORE_ENOTFOUND or RUMOR_STORE_EIO. */
int rumor_store_get(struct rumor_store *store, const uint8_t id[RUMOR_ID_SIZE],
		    struct rumor_store_item *out, int want_encoding);
/* 1 if present, 0 if not, RUMOR_STORE_EIO on error. */
int rumor_store_has(struct rumor_store *store, const uint8_t id[RUMOR_ID_SIZE]);
/* Committed item counts by kind. */
int rumor_store_counts(struct rumor_store *store, uint64_t *tx, uint64_t *block);

/* One queued write.  Caller-owned; must stay alive until cb runs.  The
 * encoding buffer is borrowed for the same time. */
struct rumor_store_put;
typedef void (*rumor_store_put_cb)(struct rumor_store_put *put, int status);
struct rumor_store_put {
	/* set by the caller */
	uint8_t id[RUMOR_ID_SIZE];
	enum rumor_item_kind kind;
	const uint8_t *encoding;
	size_t size;
	int64_t first_seen_us;
	char source[RUMOR_SOURCE_MAX];
	uint8_t peer[32];
	int has_peer;
	rumor_store_put_cb cb; /* status: 0 stored, 1 already present, <0 error */
	void *data;            /* for the caller */
	/* private */
	struct rumor_store_put *next_;
	int status_;
};

/* Queues a write.  Returns 0 (cb will run once, on the loop thread, after
 * the commit) or RUMOR_STORE_ECLOSED (cb will not run). */
int rumor_store_put(struct rumor_store *store, struct rumor_store_put *put);

/* Statistics for getinfo/benchmarks. */
struct rumor_store_stats {
	uint64_t commits;     /* transactions committed by the writer */
	uint64_t items_written;
	uint64_t write_errors;
};
void rumor_store_get_stats(const struct rumor_store *store, struct rumor_store_stats *out);

/* Human-readable text of a code above (or of a negated errno). */
const char *rumor_store_strerror(int code);

#endif
