/*
 * net/core.h: the node core: every decision a rumor node makes, sans-IO.
 *
 * One struct rumor_core is one node's mind.  It takes events together with
 * the time, and hands back actions and its next deadline.  It never calls
 * libuv, sockets, a clock, a random source, SQLite or threads: the caller
 * (the shell: src/ in rumord, the discrete-event loop in rumor-sim) feeds
 * it and carries out what it asks.  The same code runs in both.
 *
 *   events (+ now_us, + wall_us where validation needs it)       actions
 *   shell --> peer_ready(info, data)              core --> SEND(peer, msg)
 *             peer_closed(peer, code)                      CLOSE(peer, code, reason)
 *             dial_failed(target, code)                    DIAL(target, addr)
 *             message(peer, decoded msg)                   VERIFY(job, item)
 *             submit(token, bytes)         (RPC)           STORE_PUT(job, item, ...)
 *             verified(job, reason)                        STORE_HAS(query, ids)
 *             stored(job, status)                          STORE_GET(query, id)
 *             store_has_answer(query, found[])             REPLY(token, status, ...)
 *             store_get_answer(query, bytes)               READ_PAUSE(peer, until_us)
 *             peer_output(peer, queued_bytes)              READ_RESUME(peer)
 *             handle_expiry()                              + rumor_core_expiry()
 *             target_add / target_remove (operator)
 *
 * Time: now_us is monotonic microseconds from any origin (the same origin
 * for every call on one core); wall_us is Unix time in microseconds, used
 * only where an item's validity depends on the date (the clock rule of
 * rumor_item_check) and for first_seen_us of stored items.
 *
 * Randomness: the core owns a PRNG seeded from cfg->seed; every table key
 * and every random choice derives from it, so one seed replays a run.
 *
 * Draining: after feeding events (typically all of one loop turn), the
 * caller calls rumor_core_next_action() until it returns NONE, carries out
 * each action, and arms one timer at rumor_core_expiry().  Decisions that
 * weigh several events together (which announcer to ask) are made when
 * actions are drained.  The caller may feed answer events (verified,
 * stored, store_*_answer, dial_failed, peer_closed) while draining, right
 * after carrying out the action that asked for them: an action's borrowed
 * pointers are valid until the next call into the core, except where noted.
 *
 * Pipeline of one item (from a peer's tx/block message, or an RPC submit):
 *
 *   decode + O(1) checks (network, clock, producer)  -- bad --> reject
 *   [blocks from peers] VERIFY (tx ids, signature) first -- bad --> reject (peer
 *              disconnected, id remembered), so a forged block never
 *              takes pool space; then the block pools: wait for the
 *              parent / the transactions
 *   in-flight dedup (a second submitter joins the first)
 *   caps: pending_max / pending_bytes_max; peers' items together leave
 *              rpc_reserve items and rpc_reserve_bytes for RPC -- over --> EBUSY
 *   [peer items] STORE_HAS (one query per drain for all new ids) -- stored --> KNOWN
 *   VERIFY (a block's tx ids: no duplicate, Merkle root; the signature;
 *              skipped for a block verified before its pool)
 *              -- bad --> reject (peer disconnected, id remembered)
 *   STORE_PUT (sync=0 for peer items: no fsync needed; sync=1 when an RPC
 *              submitter waits) and announce at once (the hop does not wait
 *              for the commit; the item is served from the recent-items
 *              cache meanwhile)
 *   stored(job, status) --> REPLY to RPC submitters (after a synced commit),
 *              release blocks waiting for it
 *
 * Peers: the shell reports a session that reached READY with
 * rumor_core_peer_ready(); the core answers with a handle and applies the
 * node-wide rules (self connection, duplicate connection with the
 * simultaneous-dial tie-break, peer limit) by CLOSE actions.  Every handle
 * given out stays valid until the shell reports rumor_core_peer_closed()
 * for it, whether the core or the remote side closed it.  Dial targets
 * (--connect, --addnode, the addnode method) live in the core with their
 * redial backoff: the core emits DIAL when a target is due; the shell
 * reports the outcome by peer_ready (info.target set) or dial_failed.
 *
 * Per-peer budgets (all policy here; the shell only carries them out):
 *  - Messages: two token buckets per peer (net/ratelimit.h), one of
 *    message cost (1 per message + 1 per inv/getdata/notfound entry:
 *    the core's work grows with entries) and one of wire bytes.  A
 *    message is always processed; one that leaves a bucket in debt makes
 *    the core emit READ_PAUSE: the shell stops reading that peer (its
 *    messages wait in the kernel or the link) until READ_RESUME, which
 *    the core emits from handle_expiry when both buckets are out of debt.
 *    Messages the shell had already read may deepen the debt (a longer
 *    pause).  A peer paused for more than abuse_paused_pct of an
 *    abuse_window_us window, or in debt of more than a whole burst, is
 *    closed with RUMOR_DISCONNECT_MISBEHAVIOUR.
 *  - Verification pipeline: at most peer_pipeline_max items of one peer
 *    (blocks being verified before their pool included); at that share,
 *    and while the peers' items together hold all but rpc_reserve of
 *    pending_max, the relay sends the peer no more getdata
 *    (rumor_relay_peer_hold): announcements wait, nothing honest is
 *    dropped.
 *  - getdata serving: peers are served round robin (one entry per turn of
 *    each; a peer's getdata messages are served in order, one at a time,
 *    so sending more of them gains it no turns), at most serve_turn_max store reads per event (the rest waits
 *    for the next handle_expiry, which expiry() makes due at once), and
 *    only while the peer's queued output is under serve_window_bytes: the
 *    core counts what it SENDs and the shell reports the real queue with
 *    rumor_core_peer_output() as it drains.  A peer with getdata waiting
 *    whose queue stays over the window for serve_stall_us is closed
 *    (RUMOR_DISCONNECT_TIMEOUT: it does not read what it asked for).
 *    An id named more than once in one getdata is served once (the copies
 *    are skipped and counted: getdata_duplicates).
 *  - Serving budget: a token bucket per peer (serve_rate bytes per second,
 *    burst serve_burst) is charged with the bytes of each item served to
 *    it.  While it is in debt, the peer's remaining getdata entries wait
 *    (nothing is dropped; other peers are served meanwhile): expiry()
 *    falls due when the debt is repaid and handle_expiry() lets serving
 *    go on.  An item is served whenever the bucket is not in debt, so one
 *    larger than the burst is served too and then waited for.  Waiting
 *    for the budget is not waiting for the output queue: it does not
 *    count towards serve_stall_us, and it is not misbehaviour (the node
 *    decides the pace; the peer cannot make it cost more).
 *
 * Ownership: the core copies what it keeps.  Action fields are borrowed:
 * msg, reason, ids, addr until the next call into the core; item (VERIFY,
 * STORE_PUT) and a STORE_HAS's ids until the answering event for that job
 * (or rumor_core_free).
 *
 * Errors: functions return 0 or a negative errno as documented.  A remote
 * party's misbehaviour is never an error return but a CLOSE action with a
 * reason (and a log line); a broken invariant is an assert.
 *
 * Memory: every table is bounded by struct rumor_core_config;
 * rumor_core_memory() reports the bytes the core has allocated.
 */
#ifndef RUMOR_NET_CORE_H
#define RUMOR_NET_CORE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/item.h"
#include "net/message.h"
#include "net/relay.h"
#include "net/session.h"

typedef uint32_t rumor_core_peer;   /* == rumor_peer_handle of net/relay.h */
typedef uint32_t rumor_core_target; /* a dial target */
#define RUMOR_CORE_NO_PEER RUMOR_RELAY_NO_PEER
#define RUMOR_CORE_NO_TARGET UINT32_MAX

#define RUMOR_CORE_HOST_MAX 256 /* a target's host name or address, with the NUL */
/* The most inbound peers a shell may be configured for (rumord
 * --maxinbound); rumord gives the core max_peers = inbound + targets_max,
 * so every peer the options allow is one the core takes. */
#define RUMOR_CORE_INBOUND_MAX 1024u
/* The serving budget's defaults (rumor_core_config_default; rumord's
 * --peerserverate and --peerserveburst start from them).  Why these
 * figures: net/core.c, rumor_core_config_default. */
#define RUMOR_CORE_SERVE_RATE_DEFAULT (UINT64_C(8) << 20)
#define RUMOR_CORE_SERVE_BURST_DEFAULT (UINT64_C(32) << 20)

/* Outcome of a submission (REPLY.status). */
enum rumor_submit_status {
	RUMOR_SUBMIT_ACCEPTED = 0,   /* new item, stored durably */
	RUMOR_SUBMIT_KNOWN = 1,      /* already stored: nothing to do */
	RUMOR_SUBMIT_EDECODE = -1,   /* malformed encoding or wrong kind */
	RUMOR_SUBMIT_EREJECT = -2,   /* a validation rule failed */
	RUMOR_SUBMIT_ESTORE = -3,    /* database error; not stored */
	RUMOR_SUBMIT_EBUSY = -4,     /* too much in flight; retry later */
	RUMOR_SUBMIT_ESHUTDOWN = -5, /* node is stopping */
};

enum rumor_core_log_level {
	RUMOR_CORE_LOG_DEBUG = 0,
	RUMOR_CORE_LOG_INFO,
	RUMOR_CORE_LOG_WARN,
	RUMOR_CORE_LOG_ERROR,
	RUMOR_CORE_LOG_BROKEN, /* an invariant the core could check did not hold */
};

struct rumor_core_config {
	const struct rumor_network *network; /* borrowed; must outlive the core */
	uint8_t node_id[32];                 /* this node's id (self-connection rule) */
	uint64_t hello_nonce;                /* this node's hello nonce (self rule) */
	uint8_t seed[32];                    /* the PRNG seed (random in rumord) */
	struct rumor_relay_config relay;     /* rumor_relay_config_default(); its
					      * hash_key, random_u64, is_known and
					      * ctx are set by the core */
	uint32_t max_peers;           /* ready peers at once; default 1024 */
	uint32_t pending_max;         /* items in the pipeline; default 65536 */
	size_t pending_bytes_max;     /* default 256 MiB */
	uint32_t cache_items;         /* recent items kept for getdata; default 4096 */
	size_t cache_bytes;           /* default 64 MiB */
	uint32_t pool_blocks;         /* per block pool (pending, orphan); default 64 */
	uint32_t block_slice;         /* a block's tx ids decided at a time: the
				       * next slice's are looked up only when
				       * this one's are all stored; default 8192 */
	size_t pool_bytes;            /* per pool; default 32 MiB */
	uint64_t pool_timeout_us;     /* default 60 s */
	uint32_t serve_max;           /* getdata entries served per message; default 1000 */
	uint64_t redial_min_us;       /* default 1 s */
	uint64_t redial_max_us;       /* default 60 s */
	uint32_t targets_max;         /* dial targets; default 256 */
	uint32_t recent_ids;          /* ids known to be stored, kept in memory
				       * (FIFO of 64-bit fingerprints); default 65536 */
	/* Per-peer budgets (see above).  Rates and bursts: 1 to
	 * RUMOR_BUCKET_MAX. */
	uint64_t peer_msg_rate;       /* message cost per second; default 100000 */
	uint64_t peer_msg_burst;      /* default 200000 */
	uint64_t peer_byte_rate;      /* wire bytes per second; default 16 MiB
				       * (twice the default serve_rate) */
	uint64_t peer_byte_burst;     /* default 16 MiB (four full blocks) */
	uint64_t abuse_window_us;     /* default 60 s */
	uint32_t abuse_paused_pct;    /* 1..100; default 50 */
	uint32_t peer_pipeline_max;   /* one peer's items in the pipeline; default 8192 */
	uint32_t rpc_reserve;         /* pipeline items peers cannot take; default
				       * 16384 (at most pending_max - 1 is used) */
	size_t rpc_reserve_bytes;     /* default 64 MiB (at most
				       * pending_bytes_max / 2 when not below it) */
	size_t serve_window_bytes;    /* default 4 MiB */
	uint32_t serve_turn_max;      /* store reads for getdata per event; default 64 */
	uint64_t serve_stall_us;      /* default 120 s */
	uint64_t serve_rate;          /* item bytes served to one peer per second;
				       * default 8 MiB (1 to RUMOR_BUCKET_MAX) */
	uint64_t serve_burst;         /* default 32 MiB (1 to RUMOR_BUCKET_MAX) */
	/* Log lines (no trailing newline), borrowed for the call.  May be NULL. */
	void (*log)(void *ctx, enum rumor_core_log_level level, const char *line);
	void *log_ctx;
	/* Each item a peer sent (tx or block message, or submit_relayed) comes
	 * to one outcome, told here once: kind (the message's; 0 when a
	 * relayed item of either kind did not decode), status (enum
	 * rumor_submit_status: KNOWN also for a payload received again or a
	 * block already held, EREJECT for a block the pool check refused),
	 * latency_us: from its entry into the pipeline to now (for ACCEPTED,
	 * its store commit; 0 for what never entered it).  For the shell's
	 * metrics.  May be NULL. */
	void (*peer_item)(void *ctx, int kind, int status, uint64_t latency_us);
	void *peer_item_ctx;
};
void rumor_core_config_default(struct rumor_core_config *cfg);

/* A dial target: [NODEID@]HOST:PORT. */
struct rumor_core_addr {
	char host[RUMOR_CORE_HOST_MAX];
	uint16_t port;
	int has_id;
	uint8_t id[32];
};

/* A session that reached READY (hello exchanged). */
struct rumor_core_peer_info {
	uint8_t node_id[32];
	uint64_t hello_nonce;     /* the peer's hello nonce */
	int outbound;             /* we dialled it */
	rumor_core_target target; /* the target dialled, or RUMOR_CORE_NO_TARGET */
	const char *addr;         /* "IP:PORT", for log lines; copied */
};

/* STORE_HAS: queries of more ids than this carry one check each. */
#define RUMOR_CORE_HAS_SMALL 1024

enum rumor_core_action_type {
	RUMOR_CORE_NONE = 0,
	RUMOR_CORE_SEND,      /* peer, peer_data, msg */
	RUMOR_CORE_CLOSE,     /* peer, peer_data, code, reason: send disconnect, close;
			       * the shell then reports rumor_core_peer_closed */
	RUMOR_CORE_DIAL,      /* target, addr: connect; report peer_ready or dial_failed */
	RUMOR_CORE_VERIFY,    /* job, item: rumor_item_verify_job (a block's tx ids,
			       * the signature: the O(tx ids) and expensive
			       * steps, for a worker thread), then
			       * rumor_core_verified(job, reason) */
	RUMOR_CORE_STORE_PUT, /* job, item, first_seen_us, source, source_peer, sync:
			       * then rumor_core_stored(job, status) */
	RUMOR_CORE_STORE_HAS, /* job (query), ids (count * 32 bytes): then
			       * rumor_core_store_has_answer(job, found), at
			       * once or later (queries may be answered in
			       * any order).  A query of more than
			       * RUMOR_CORE_HAS_SMALL ids is one block's or
			       * one inv's alone, so a shell may answer it off
			       * its loop thread without delaying the small
			       * ones gathered beside it. */
	RUMOR_CORE_STORE_GET, /* job (query), ids (one id), kind: then
			       * rumor_core_store_get_answer(job, ...) */
	RUMOR_CORE_REPLY,     /* job (the submit token), status, reason, id (NULL
			       * when the item did not decode) */
	RUMOR_CORE_READ_PAUSE, /* peer, peer_data, until_us: stop reading the
				* peer's connection (its messages wait) until
				* READ_RESUME; until_us is when the core expects
				* to resume it (for logs) */
	RUMOR_CORE_READ_RESUME, /* peer, peer_data: read it again */
};

struct rumor_core_action {
	enum rumor_core_action_type type;
	rumor_core_peer peer;
	void *peer_data;                 /* the data given at peer_ready */
	rumor_core_target target;
	uint64_t job;
	const struct rumor_msg *msg;
	uint16_t code;                   /* enum rumor_disconnect_code */
	const char *reason;
	const struct rumor_core_addr *addr;
	const struct rumor_item *item;   /* VERIFY, STORE_PUT: its encoding included */
	int64_t first_seen_us;           /* STORE_PUT: wall time it arrived */
	const char *source;              /* STORE_PUT: "rpc" or "peer" */
	const uint8_t *source_peer;      /* STORE_PUT: the peer's node id, or NULL */
	int sync;                        /* STORE_PUT: commit with fsync before answering */
	const uint8_t *ids;              /* STORE_HAS, STORE_GET */
	uint32_t count;
	uint8_t kind;                    /* STORE_GET */
	int status;                      /* REPLY: enum rumor_submit_status */
	const uint8_t *id;               /* REPLY */
	uint64_t until_us;               /* READ_PAUSE */
};

struct rumor_core; /* opaque */

/* Returns 0, -EINVAL (a zero limit, no network, a bad relay config) or
 * -ENOMEM. */
int rumor_core_new(struct rumor_core **out, const struct rumor_core_config *cfg, uint64_t now_us);
/* Frees everything.  Jobs still out (verify, store) are forgotten: the
 * caller must not answer them afterwards. */
void rumor_core_del(struct rumor_core *core);

/* ---- peers and dial targets ---- */

/* A session reached READY.  data: the shell's pointer for this connection,
 * handed back in every action naming the peer.  Returns the peer's handle,
 * or RUMOR_CORE_NO_PEER when the core cannot even track it (out of memory,
 * table full): the shell then closes the connection itself with
 * RUMOR_DISCONNECT_TOO_MANY and does not report peer_closed. */
rumor_core_peer rumor_core_peer_ready(struct rumor_core *core,
				      const struct rumor_core_peer_info *info, void *data,
				      uint64_t now_us);
/* 1 when the core has decided to close the peer (self, duplicate, limit,
 * misbehaviour, operator) or the handle is unknown: the shell logs
 * "peer connected" only for a peer that is not closing right after
 * peer_ready. */
int rumor_core_peer_is_closing(const struct rumor_core *core, rumor_core_peer peer);
/* The connection of a handle is over (whoever closed it).  code: the
 * disconnect code sent or received, 0 when none.  The handle is invalid
 * afterwards. */
void rumor_core_peer_closed(struct rumor_core *core, rumor_core_peer peer, uint16_t code,
			    uint64_t now_us);
/* A DIAL ended before any READY (name lookup, connect, handshake failed).
 * code: the disconnect code received, 0 when none (RUMOR_DISCONNECT_SELF
 * makes the core stop dialling that target). */
void rumor_core_dial_failed(struct rumor_core *core, rumor_core_target target, uint16_t code,
			    uint64_t now_us);
/* Dial targets.  add: kept connected, redialled with backoff (onetry:
 * dialled once, then forgotten).  Returns 0 (*out set when out is not
 * NULL), -EEXIST (already a target), -ENOSPC (targets_max), -ENOMEM.
 * remove: stops dialling it and closes its connection (CLOSE REQUESTED);
 * returns 0 or -ENOENT. */
int rumor_core_target_add(struct rumor_core *core, const struct rumor_core_addr *addr,
			  int onetry, uint64_t now_us, rumor_core_target *out);
int rumor_core_target_remove(struct rumor_core *core, const struct rumor_core_addr *addr,
			     uint64_t now_us);
/* The target matching addr (not an onetry one), or RUMOR_CORE_NO_TARGET:
 * a shell that removes a target uses it to cancel a dial in progress. */
rumor_core_target rumor_core_find_target(const struct rumor_core *core,
					 const struct rumor_core_addr *addr);
/* The operator closes a ready peer (disconnectnode).  Returns 0 or
 * -ENOENT (no ready peer with that id). */
int rumor_core_disconnect(struct rumor_core *core, const uint8_t node_id[32], uint64_t now_us);
/* The ready peer with that node id, or RUMOR_CORE_NO_PEER. */
rumor_core_peer rumor_core_find_peer(const struct rumor_core *core, const uint8_t node_id[32]);

/* ---- messages and submissions ---- */

/* A decoded message from a ready peer (not hello, ping, pong, disconnect:
 * the session's own).  msg is borrowed for the call. */
void rumor_core_on_message(struct rumor_core *core, rumor_core_peer peer,
			   const struct rumor_msg *msg, uint64_t now_us, int64_t wall_us);
/* An RPC submission (bytes copied).  expect: RUMOR_ITEM_TX, RUMOR_ITEM_BLOCK
 * or 0 for either.  Exactly one REPLY with this token follows (possibly in
 * the very next drain, e.g. for a malformed item). */
void rumor_core_submit(struct rumor_core *core, uint64_t token, const uint8_t *bytes,
		       size_t len, int expect, uint64_t now_us, int64_t wall_us);

/* An item relayed by the peer with node id peer_id outside a session
 * message (bytes copied): it takes the path of a peer's item (store check
 * before verification, a lazy put, announced when valid), and is answered
 * like a submission: exactly one REPLY with this token.  The shell's tests
 * use it; so may a later reconciliation. */
void rumor_core_submit_relayed(struct rumor_core *core, uint64_t token, const uint8_t *bytes,
			       size_t len, int expect, const uint8_t peer_id[32], uint64_t now_us,
			       int64_t wall_us);

/* The peer's output queued in the shell and not yet written to the
 * network (session queue plus writes in progress), reported when it
 * shrinks (write completions); may also be fed while draining.  The core
 * adds what it SENDs itself in between. */
void rumor_core_peer_output(struct rumor_core *core, rumor_core_peer peer, size_t queued_bytes,
			    uint64_t now_us);

/* ---- answers to the core's requests ---- */

/* A VERIFY or STORE_PUT job the shell could not carry out because it is
 * stopping (verification cancelled, store closed): its submission ends
 * with ESHUTDOWN. */
void rumor_core_cancelled(struct rumor_core *core, uint64_t job, uint64_t now_us);

/* reason: NULL when the signature is valid, else why not (static text). */
void rumor_core_verified(struct rumor_core *core, uint64_t job, const char *reason,
			 uint64_t now_us);
/* status: 0 stored (new), 1 already present, < 0 the write failed (error:
 * the store's text, for the log; may be NULL). */
void rumor_core_stored(struct rumor_core *core, uint64_t job, int status, const char *error,
		       uint64_t now_us);
/* found[i] = 1 when the i-th id of the query is stored.  status < 0: the
 * store could not answer (found is ignored; the ids count as not stored
 * for relay purposes and are not fetched again until announced again). */
void rumor_core_store_has_answer(struct rumor_core *core, uint64_t query, int status,
				 const uint8_t *found, uint64_t now_us);
/* status 0: found, bytes[len] its encoding (borrowed for the call);
 * otherwise not found or an error (the peer is sent notfound). */
void rumor_core_store_get_answer(struct rumor_core *core, uint64_t query, int status,
				 const uint8_t *bytes, size_t len, uint64_t now_us);

/* ---- draining and time ---- */

void rumor_core_next_action(struct rumor_core *core, struct rumor_core_action *out);
/* When handle_expiry next wants to run (UINT64_MAX: nothing pending). */
uint64_t rumor_core_expiry(const struct rumor_core *core);
void rumor_core_handle_expiry(struct rumor_core *core, uint64_t now_us);

/* Stops: refuses what is queued but not yet verifying (REPLY ESHUTDOWN),
 * stops dialling and relaying.  Jobs out (verify, store) still get their
 * answers, which end their submissions. */
void rumor_core_shutdown(struct rumor_core *core, uint64_t now_us);
/* Nothing in flight (no job out, no submission pending). */
int rumor_core_idle(const struct rumor_core *core);

/* ---- queries ---- */

struct rumor_core_stats {
	uint64_t accepted_tx, accepted_block;
	uint64_t accepted_rpc, accepted_peer;
	uint64_t invalid_received;
	uint32_t pending_blocks, orphan_blocks;
	uint32_t cache_items;
	uint64_t cache_bytes;
	uint32_t in_flight;       /* items in the pipeline */
	uint64_t in_flight_bytes;
	uint32_t peers;           /* ready peers */
	uint32_t peer_items;      /* pipeline items from peers */
	uint64_t throttle_pauses; /* READ_PAUSE emitted (a peer over its budget) */
	uint64_t throttle_closes; /* peers closed for persistent abuse of it */
	uint64_t serve_blocked;   /* getdata serving found a peer's output full */
	uint64_t serve_stall_closes;
	uint64_t serve_budget_waits; /* serving a peer waited for its serving budget */
	uint64_t getdata_duplicates; /* getdata entries skipped: id named twice in one */
	uint32_t peers_held;      /* peers not asked for more (pipeline share) */
	struct rumor_relay_stats relay;
};
void rumor_core_get_stats(const struct rumor_core *core, struct rumor_core_stats *out);
/* Returns 0 or -ENOENT. */
int rumor_core_peer_stats(const struct rumor_core *core, rumor_core_peer peer,
			  struct rumor_relay_peer_stats *out);
/* When the peer last delivered an item that was new to us and valid (a
 * transaction, a block; now_us of that event, 0: never): the eviction
 * rule "protect those that relayed new items recently" (net/evict.h).
 * Returns 0 or -ENOENT. */
int rumor_core_peer_last_new(const struct rumor_core *core, rumor_core_peer peer,
			     uint64_t *tx_us, uint64_t *block_us);

/* A peer's budgets now.  Returns 0 or -ENOENT. */
struct rumor_core_peer_budget {
	int paused;              /* reading stopped (READ_PAUSE out) */
	uint64_t pauses;         /* READ_PAUSE emitted for it */
	uint64_t paused_us;      /* total time paused (finished pauses) */
	int64_t msg_tokens;      /* message bucket level (negative: debt) */
	int64_t byte_tokens;
	uint32_t pipeline_items; /* its items in the verification pipeline */
	int held;                /* no more getdata to it (pipeline share) */
	uint32_t serve_queued;   /* its getdata entries waiting to be served */
	uint64_t output_queued;  /* its output queue as the core counts it */
	int64_t serve_tokens;    /* serving budget level, bytes (negative: debt) */
	int serve_waiting;       /* its getdata entries wait for the serving budget */
	uint64_t serve_waits;    /* times they did */
};
int rumor_core_peer_budget(struct rumor_core *core, rumor_core_peer peer,
			   struct rumor_core_peer_budget *out);
/* Bytes the core has allocated now (its tables, queues, cached items). */
size_t rumor_core_memory(const struct rumor_core *core);

#endif
