/*
 * net/core.c: the node core (see core.h): the dispatcher, the peer table,
 * the submission pipeline, getdata serving and the store checks.  The
 * parts with one job each live beside it: net/relay.c (inv/getdata
 * scheduling), net/blockpool.c (blocks waiting for their parent or
 * transactions), net/itemcache.c (recent items for getdata),
 * net/dialer.c (dial targets and backoff), net/idset.c (bounded id sets),
 * net/handles.c (handles that know when they are stale).
 *
 * Submission life cycle (struct sub, one per id in flight):
 *
 *   submit / payload: decode, kind, check --bad--> outcome now
 *        | id in flight --> joins it (shares its outcome; a later joiner
 *        |                   of an ACCEPTED item gets KNOWN)
 *        | caps (pending_max items, pending_bytes_max) --> EBUSY
 *        v
 *   CHECK (peer items: queued for this drain's STORE_HAS) --> CHECKING
 *        |  stored --> KNOWN (an RPC joiner: a synced put first)
 *        v
 *   VERIFY_QUEUED (RPC items start here) --drain--> VERIFYING
 *        |  bad signature --> EREJECT (the peer is disconnected)
 *        v
 *   WRITING (STORE_PUT; peer items are announced now, RPC items at commit)
 *        |  lazy put done and an RPC submitter waits --> WRITING_SYNC
 *        v                                       (a synced put) --+
 *   done: REPLY / peer outcome, pools released                    |
 *        ^--------------------------------------------------------+
 *
 * A peer's block first takes a job of its own (BLOCK_VERIFY_QUEUED ->
 * BLOCK_VERIFYING, holding the block, in verifying_blocks, not in
 * in_flight): only a valid signature lets it on to the store check and
 * the pools; from there it enters the life cycle above with sig_ok set,
 * and skips VERIFY.
 *
 * Per-peer budgets (core.h): each peer's buckets are charged as its
 * messages come (charge()); P_PAUSE / P_RESUME become READ_PAUSE /
 * READ_RESUME; peers paused or whose serving waits for the output queue
 * are "watched" (n_watch) and only then scanned by expiry().  Subs from a
 * live peer are counted in its share (owner, counted; peer_items and
 * peer_bytes for all peers together); hold_update() tells the relay the
 * room left when it drops under max_requests_per_peer.
 *
 * Store checks: the ids the core cannot answer from memory (peer items,
 * announced ids, a block's parent and transactions) are gathered as
 * "checks" and asked in ONE STORE_HAS per drain; the answer event
 * continues each check.  Memory answers "known" from: the in-flight map,
 * the block pools, blocks being checked, and a bounded FIFO index of ids
 * known to be stored (recent_ids: accepted here, or found by a query).
 * The relay's is_known callback reads only those.
 *
 * Peers: a handle table (O(1) by handle) and a keyed map node id -> peer
 * holding the one kept connection per node id.  A peer the core decided
 * to close is "closing": out of the map and the relay, its messages
 * ignored, nothing more sent to it; its entry goes at peer_closed.
 *
 * Actions: internal FIFO (CLOSE, VERIFY, STORE_PUT, REPLY) first, then the
 * STORE_HAS of the gathered checks, DIALs that are due, one step of
 * getdata serving, then the relay's actions.  Borrowed action pointers
 * point into core scratch, a cache entry or a job, none of which changes
 * before the next call.
 */
#include "config.h"

#include "net/core.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/hex.h"
#include "crypto/idmap.h"
#include "net/blockpool.h"
#include "net/dialer.h"
#include "net/frame.h"
#include "net/handles.h"
#include "net/idset.h"
#include "net/itemcache.h"
#include "net/ratelimit.h"
#include "net/rng.h"

/* ---- types ---------------------------------------------------------- */

#define RECENT_LOG 64 /* core->recent_log */

struct core_peer {
	rumor_core_peer handle;
	void *data;
	uint8_t id[32];
	int outbound;
	rumor_core_target target;
	int closing;  /* CLOSE decided */
	int in_map;   /* the kept connection of its node id */
	uint32_t serve_queued; /* getdata entries waiting to be served */
	char addr[64];
	uint64_t last_new_tx_us, last_new_block_us; /* it delivered a new item (0: never) */
	/* message budgets (core.h "Per-peer budgets") */
	struct rumor_bucket msg_bucket, byte_bucket;
	int paused;               /* READ_PAUSE out, READ_RESUME not yet */
	uint64_t paused_since_us;
	uint64_t resume_at_us;
	uint64_t window_start_us; /* abuse window */
	uint64_t window_paused_us; /* paused time in it (finished pauses) */
	uint64_t pauses;
	uint64_t paused_total_us;
	/* pipeline share */
	uint32_t in_pipeline;
	uint32_t req_limit; /* as told to the relay (rumor_relay_peer_limit) */
	int held;           /* req_limit is 0 */
	/* serving */
	int serving;              /* a getdata job of it is in the serve queue */
	struct serve *wait_head, *wait_tail; /* its later jobs, in order */
	size_t out_queued;        /* output queue: reported + sent since */
	uint64_t blocked_since_us; /* serving found the window full (0: not) */
	struct rumor_bucket serve_bucket; /* bytes of items served to it */
	uint64_t serve_wait_until_us; /* serving waits for its budget (0: not) */
	uint64_t serve_waits;     /* times serving it waited for its budget */
};

enum waiter_type { WAITER_RPC, WAITER_PEER };

struct waiter {
	struct waiter *next;
	enum waiter_type type;
	int has_token;        /* answered by REPLY (RPC, relayed) */
	uint64_t token;
	rumor_core_peer peer; /* PEER */
	uint8_t peer_id[32];
	int kind;             /* PEER: the message's kind (0: not yet known) */
	uint64_t start_us;    /* PEER: when it entered the pipeline */
};

enum sub_state {
	SUB_CHECK,
	SUB_CHECKING,
	SUB_VERIFY_QUEUED,
	SUB_VERIFYING,
	SUB_WRITING,
	SUB_WRITING_SYNC,
	SUB_BLOCK_VERIFY_QUEUED, /* a peer's block verified before its pool: */
	SUB_BLOCK_VERIFYING,     /* hb holds it; not in in_flight */
};

struct sub {
	uint64_t job;
	uint8_t *bytes; /* owned; item points into it */
	struct rumor_item item;
	enum sub_state state;
	struct waiter first;
	struct waiter *more, **more_tail;
	int from_peer;         /* source "peer" */
	uint8_t peer_id[32];   /* the peer it came from */
	int rpc_waiter;        /* an RPC submitter waits: synced commit before REPLY */
	int unchecked;         /* not looked up in the store: announce at commit */
	int last_put_sync;
	int stored_status;
	int64_t first_seen_us;
	int sig_ok;             /* verified already (a block from a pool) */
	rumor_core_peer owner;  /* the peer whose pipeline share it takes */
	int counted;            /* counted in owner's share and peer_items */
	struct rumor_held_block *hb; /* SUB_BLOCK_*: the block (owned) */
};

enum pending_type { P_CLOSE, P_VERIFY, P_PUT, P_REPLY, P_PAUSE, P_RESUME };

struct pending {
	struct pending *next;
	enum pending_type type;
	rumor_core_peer peer;
	uint16_t code;
	uint64_t job;
	int status;
	int has_id;
	uint8_t id[32];
	char reason[RUMOR_MSG_REASON_MAX];
};

enum check_type { CHECK_SUB, CHECK_INV, CHECK_BLOCK };

struct inv_batch {
	rumor_core_peer peer;
	uint32_t count;
	struct rumor_relay_inv_entry *entries;
	uint8_t *checked; /* per entry: asked the store */
};

struct check {
	struct check *next;
	enum check_type type;
	uint64_t job;                /* CHECK_SUB */
	struct inv_batch *inv;       /* CHECK_INV: owned */
	struct rumor_held_block *hb; /* CHECK_BLOCK: owned */
	int has_prev;                /* CHECK_BLOCK: ids[0] is the parent */
	uint32_t first;              /* CHECK_BLOCK: its slice's first tx */
	uint64_t recent_seq;         /* CHECK_BLOCK: core->recent_seq when made */
	uint32_t n_ids;
	uint8_t *ids; /* owned, n_ids * 32; NULL when borrowed is used */
	/* CHECK_BLOCK of a big block whose parent memory knows: its own tx
	 * ids (in hb's bytes, alive as long as the check), not a 4 MiB copy */
	const uint8_t *borrowed;
};

static const uint8_t *check_ids(const struct check *c)
{
	return c->ids ? c->ids : c->borrowed;
}

static size_t check_bytes(const struct check *c)
{
	return sizeof(*c) + (c->ids ? (size_t)c->n_ids * 32 : 0);
}

enum query_type { Q_HAS, Q_GET };

struct serve;

struct query {
	enum query_type type;
	struct check *checks; /* Q_HAS: owned */
	uint32_t n_ids;
	uint8_t *ids;         /* Q_HAS: all the checks' ids, concatenated;
			       * NULL when the query is one check's, whose
			       * ids it borrows */
	struct serve *serve;  /* Q_GET */
};

static size_t query_bytes(const struct query *q)
{
	return sizeof(*q) + (q->ids ? (size_t)q->n_ids * 32 : 0);
}

struct serve {
	struct serve *next;
	rumor_core_peer peer;
	uint32_t count, pos, n_served, n_missing; /* count: entries to serve */
	uint32_t alloc; /* size of want and missing (count, and the duplicates dropped) */
	struct rumor_relay_inv_entry *want; /* served ones are compacted to the front */
	struct rumor_inv_entry *missing;
	uint64_t query;  /* a STORE_GET out, or 0 */
	int answered;
	int got_status;
	uint8_t *got;
	size_t got_len;
	int got_sent; /* got is the payload of the last SEND (borrowed until the next call) */
};

struct rumor_core {
	struct rumor_core_config cfg;
	uint64_t now_us;
	int64_t wall_us; /* the latest wall time given */
	int shutting_down;
	struct rumor_rng rng;

	struct rumor_relay *relay;
	struct rumor_handles peers; /* -> struct core_peer */
	struct rumor_idmap by_id;   /* node id -> struct core_peer (kept ones) */
	struct rumor_dialer dialer;

	struct rumor_handles jobs;   /* -> struct sub */
	struct rumor_idmap in_flight; /* item id -> struct sub */
	size_t in_flight_bytes;

	struct rumor_handles queries; /* -> struct query */
	struct check *checks, **checks_tail;
	uint32_t checks_ids;
	struct rumor_idmap checking_blocks; /* id -> held block being checked */
	struct rumor_idmap verifying_blocks; /* id -> sub of a block verified before its pool */
	uint32_t peer_items;   /* subs counted in a peer's share */
	size_t peer_bytes;     /* their bytes */
	int peers_full;        /* peer_items or peer_bytes at the peers' cap */
	uint32_t n_watch;      /* peers paused, or with serving blocked or waiting */
	uint32_t serve_turn;   /* store reads for getdata since the last reset */
	int serve_yield;       /* serving stopped at serve_turn_max: expiry now */
	uint32_t n_serves;
	uint64_t throttle_pauses, throttle_closes, serve_blocked, serve_stall_closes;
	uint64_t serve_budget_waits, getdata_duplicates;

	struct pending *pend, **pend_tail;
	uint32_t n_pend;

	struct serve *serve_head, **serve_tail;

	struct rumor_itemcache cache;
	struct rumor_blockpool pending_pool, orphan_pool;
	uint8_t pool_key[16];      /* held blocks' missing-id index */
	struct rumor_idset recent; /* ids known to be stored */
	/* the last RECENT_LOG ids added to recent, and how many were added:
	 * a block's store answer is brought up to date from them */
	uint64_t recent_seq;
	uint8_t recent_log[RECENT_LOG][RUMOR_ID_SIZE];

	size_t dyn_bytes; /* subs, waiters, pendings, checks, serve jobs, queries */

	/* scratch for actions */
	struct rumor_msg msg;
	struct rumor_inv_entry *out_entries; /* RUMOR_MSG_INV_MAX */
	struct rumor_relay_inv_entry *in_entries; /* RUMOR_MSG_INV_MAX */
	uint32_t out_alloc, in_alloc;
	struct dup_entry *dup_scratch; /* serve_max: duplicate entries of a getdata */
	uint8_t *dup_mark;             /* serve_max */
	struct rumor_core_addr dial_addr;
	uint8_t *query_ids_out;
	char reason_buf[RUMOR_MSG_REASON_MAX];
	uint8_t reply_id[32];

	uint64_t accepted_tx, accepted_block, accepted_rpc, accepted_peer;
	uint64_t invalid_received;

	/* Failed writes are logged one line per STORE_ERR_LOG_US: the first
	 * at once, the rest counted and logged together when the interval
	 * ends (a full disk fails every item; a line each would flood the
	 * log, which may be on the same disk). */
	uint64_t store_err_logged_us; /* when the last such line was written */
	uint64_t store_err_quiet;     /* failures since then, not yet logged */
	int store_err_any;            /* a line was ever written */
	char store_err_text[RUMOR_MSG_REASON_MAX]; /* the latest one's text */
};

#define STORE_ERR_LOG_US UINT64_C(10000000)

/* ---- small helpers -------------------------------------------------- */

static void core_log(struct rumor_core *core, enum rumor_core_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void core_log(struct rumor_core *core, enum rumor_core_log_level level, const char *fmt, ...)
{
	if (!core->cfg.log)
		return;
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	core->cfg.log(core->cfg.log_ctx, level, line);
}

static void hex32(const uint8_t *id, char out[65])
{
	rumor_hex_encode(id, 32, out);
}

static void touch(struct rumor_core *core, uint64_t now_us)
{
	if (now_us > core->now_us) {
		core->now_us = now_us;
		core->serve_turn = 0; /* a new event: a new getdata serving turn */
	}
}

/* The latest wall time any event brought (for first_seen_us and the
 * clock rule of items checked outside an event that carries it). */
static void touch_wall(struct rumor_core *core, int64_t wall_us)
{
	if (wall_us > core->wall_us)
		core->wall_us = wall_us;
}

static uint64_t relay_random(void *ctx)
{
	struct rumor_core *core = ctx;
	return rumor_rng_next(&core->rng);
}

static struct core_peer *peer_get(const struct rumor_core *core, rumor_core_peer h)
{
	if (h == RUMOR_CORE_NO_PEER)
		return NULL;
	return rumor_handles_get(&core->peers, h);
}

/* A peer we still talk to. */
static struct core_peer *peer_live(const struct rumor_core *core, rumor_core_peer h)
{
	struct core_peer *p = peer_get(core, h);
	return p && !p->closing ? p : NULL;
}

static int known_in_memory(const struct rumor_core *core, const uint8_t id[RUMOR_ID_SIZE])
{
	return rumor_idmap_get(&core->in_flight, id) || rumor_idset_has(&core->recent, id) ||
	       rumor_idmap_get(&core->checking_blocks, id) ||
	       rumor_idmap_get(&core->verifying_blocks, id) ||
	       rumor_blockpool_has(&core->pending_pool, id) ||
	       rumor_blockpool_has(&core->orphan_pool, id);
}

static void recent_add(struct rumor_core *core, const uint8_t id[RUMOR_ID_SIZE])
{
	rumor_idset_add(&core->recent, id, 0);
	memcpy(core->recent_log[core->recent_seq % RECENT_LOG], id, RUMOR_ID_SIZE);
	core->recent_seq++;
}

static int relay_is_known(void *ctx, const uint8_t id[RUMOR_ID_SIZE])
{
	return known_in_memory(ctx, id);
}

static struct pending *pending_push(struct rumor_core *core, enum pending_type type)
{
	struct pending *pe = calloc(1, sizeof(*pe));
	if (!pe)
		return NULL;
	pe->type = type;
	pe->peer = RUMOR_CORE_NO_PEER;
	*core->pend_tail = pe;
	core->pend_tail = &pe->next;
	core->n_pend++;
	core->dyn_bytes += sizeof(*pe);
	return pe;
}

static struct pending *pending_pop(struct rumor_core *core)
{
	struct pending *pe = core->pend;
	if (!pe)
		return NULL;
	core->pend = pe->next;
	if (!core->pend)
		core->pend_tail = &core->pend;
	core->n_pend--;
	core->dyn_bytes -= sizeof(*pe);
	return pe;
}

/* ---- per-peer budgets ----------------------------------------------- */

/* A peer is watched (scanned by expiry) while paused, while serving
 * waits for its output to drain or while serving waits for its serving
 * budget; a closing peer no longer is.  Every change of those three goes
 * through watch_count(was, now). */
static int watched(const struct core_peer *p)
{
	return p->paused || p->blocked_since_us || p->serve_wait_until_us;
}

static void watch_count(struct rumor_core *core, int was, int now)
{
	if (was && !now) {
		assert(core->n_watch > 0);
		core->n_watch--;
	} else if (!was && now) {
		core->n_watch++;
	}
}

static void watch_clear(struct rumor_core *core, struct core_peer *p)
{
	int was = watched(p);
	p->paused = 0;
	p->blocked_since_us = 0;
	p->serve_wait_until_us = 0;
	watch_count(core, was, 0);
}

/* The cap on the peers' items together. */
static int peers_at_cap(const struct rumor_core *core, size_t more_bytes)
{
	return core->peer_items >= core->cfg.pending_max - core->cfg.rpc_reserve ||
	       core->peer_bytes + more_bytes >
		       core->cfg.pending_bytes_max - core->cfg.rpc_reserve_bytes;
}

/* The relay may have at most the room left in the peer's share in flight
 * to it, so what it delivers always fits: told only when the room is
 * under max_requests_per_peer (near the share), so usually never. */
static void hold_update(struct rumor_core *core, struct core_peer *p)
{
	if (p->closing)
		return;
	uint32_t share = core->cfg.peer_pipeline_max;
	uint32_t room = core->peers_full || p->in_pipeline >= share ? 0 : share - p->in_pipeline;
	uint32_t max = core->cfg.relay.max_requests_per_peer;
	uint32_t limit = room < max ? room : max;
	if (limit == p->req_limit)
		return;
	p->req_limit = limit;
	p->held = limit == 0;
	rumor_relay_peer_limit(core->relay, p->handle, limit);
}

/* peers_full may have changed: every peer's hold follows. */
static void peers_full_update(struct rumor_core *core)
{
	int full = peers_at_cap(core, 0);
	if (full == core->peers_full)
		return;
	core->peers_full = full;
	for (uint32_t i = 0; i < core->peers.used; i++) {
		uint64_t h;
		struct core_peer *q = rumor_handles_at(&core->peers, i, &h);
		if (q)
			hold_update(core, q);
	}
}

static void share_add(struct rumor_core *core, struct sub *sub, struct core_peer *p, size_t bytes)
{
	sub->owner = p->handle;
	sub->counted = 1;
	p->in_pipeline++;
	core->peer_items++;
	core->peer_bytes += bytes;
	hold_update(core, p);
	peers_full_update(core);
}

static void share_del(struct rumor_core *core, struct sub *sub, size_t bytes)
{
	if (!sub->counted)
		return;
	sub->counted = 0;
	assert(core->peer_items > 0 && core->peer_bytes >= bytes);
	core->peer_items--;
	core->peer_bytes -= bytes;
	struct core_peer *p = peer_get(core, sub->owner);
	if (p) {
		assert(p->in_pipeline > 0);
		p->in_pipeline--;
		hold_update(core, p);
	}
	peers_full_update(core);
}

static void close_peer(struct rumor_core *core, struct core_peer *p, uint16_t code,
		       const char *reason);

/* The abuse window: evaluated when it ends (at a pause or a resume). */
static int abuse_check(struct rumor_core *core, struct core_peer *p)
{
	uint64_t len = core->now_us - p->window_start_us;
	if (len < core->cfg.abuse_window_us)
		return 0;
	uint64_t paused = p->window_paused_us;
	if (p->paused)
		paused += core->now_us - p->paused_since_us;
	if (paused > len / 100 * core->cfg.abuse_paused_pct) {
		char reason[RUMOR_MSG_REASON_MAX];
		snprintf(reason, sizeof(reason),
			 "over its message budget persistently (reading paused %llu%% of %llu s)",
			 (unsigned long long)(paused * 100 / len),
			 (unsigned long long)(len / 1000000));
		core_log(core, RUMOR_CORE_LOG_INFO, "p2p: closing %s: %s", p->addr, reason);
		core->throttle_closes++;
		close_peer(core, p, RUMOR_DISCONNECT_MISBEHAVIOUR, reason);
		return 1;
	}
	p->window_start_us = core->now_us;
	p->req_limit = core->cfg.relay.max_requests_per_peer;
	p->window_paused_us = 0;
	if (p->paused)
		p->paused_since_us = core->now_us; /* the rest counts in the new window */
	return 0;
}

/* What a message costs: 1, plus 1 per entry of a list. */
static uint64_t msg_cost(const struct rumor_msg *msg)
{
	switch ((enum rumor_msg_type)msg->type) {
	case RUMOR_MSG_INV:
		return 1 + (uint64_t)msg->u.inv.entries.count;
	case RUMOR_MSG_GETDATA:
		return 1 + (uint64_t)msg->u.getdata.entries.count;
	case RUMOR_MSG_NOTFOUND:
		return 1 + (uint64_t)msg->u.notfound.entries.count;
	case RUMOR_MSG_TX:
	case RUMOR_MSG_BLOCK:
	case RUMOR_MSG_GETADDR:
	case RUMOR_MSG_ADDR:
	case RUMOR_MSG_HELLO:
	case RUMOR_MSG_PING:
	case RUMOR_MSG_PONG:
	case RUMOR_MSG_DISCONNECT:
		break;
	}
	return 1;
}

/* Charges a message to the peer's buckets; 0 when the peer may go on,
 * -1 when it was closed. */
static int charge(struct rumor_core *core, struct core_peer *p, const struct rumor_msg *msg)
{
	size_t len = 0;
	if (rumor_msg_encoded_size(msg, &len) != 0)
		len = 0;
	uint64_t bytes = rumor_frame_encoded_size(len);
	if (bytes > RUMOR_BUCKET_MAX)
		bytes = RUMOR_BUCKET_MAX;
	int debt = rumor_bucket_take(&p->msg_bucket, msg_cost(msg), core->now_us);
	debt |= rumor_bucket_take(&p->byte_bucket, bytes, core->now_us);
	if (!debt)
		return 0;
	if (rumor_bucket_level(&p->msg_bucket, core->now_us) < -(int64_t)core->cfg.peer_msg_burst ||
	    rumor_bucket_level(&p->byte_bucket, core->now_us) < -(int64_t)core->cfg.peer_byte_burst) {
		core_log(core, RUMOR_CORE_LOG_INFO,
			 "p2p: closing %s: over its message budget by more than a burst", p->addr);
		core->throttle_closes++;
		close_peer(core, p, RUMOR_DISCONNECT_MISBEHAVIOUR,
			   "over its message budget by more than a whole burst (kept sending while "
			   "paused)");
		return -1;
	}
	uint64_t a = rumor_bucket_ready_at(&p->msg_bucket, core->now_us);
	uint64_t b = rumor_bucket_ready_at(&p->byte_bucket, core->now_us);
	p->resume_at_us = a > b ? a : b;
	if (p->paused)
		return 0; /* already read: the pause gets longer */
	if (abuse_check(core, p))
		return -1;
	int was = watched(p);
	p->paused = 1;
	p->paused_since_us = core->now_us;
	p->pauses++;
	core->throttle_pauses++;
	watch_count(core, was, 1);
	struct pending *pe = pending_push(core, P_PAUSE);
	if (pe)
		pe->peer = p->handle;
	core_log(core, RUMOR_CORE_LOG_DEBUG, "p2p: %s over its message budget: reading paused %.3f s",
		 p->addr, (double)(p->resume_at_us - core->now_us) / 1e6);
	return 0;
}

static void resume_peer(struct rumor_core *core, struct core_peer *p)
{
	uint64_t d = core->now_us - p->paused_since_us;
	p->window_paused_us += d;
	p->paused_total_us += d;
	p->paused = 0;
	watch_count(core, 1, watched(p));
	if (abuse_check(core, p))
		return;
	struct pending *pe = pending_push(core, P_RESUME);
	if (pe)
		pe->peer = p->handle;
}

/* Serving found the peer's output window full (or no longer). */
static void serve_blocked_set(struct rumor_core *core, struct core_peer *p, int blocked)
{
	int was = watched(p);
	if (blocked && !p->blocked_since_us) {
		p->blocked_since_us = core->now_us ? core->now_us : 1;
		core->serve_blocked++;
	} else if (!blocked && p->blocked_since_us) {
		p->blocked_since_us = 0;
	}
	watch_count(core, was, watched(p));
}

/* Serving the peer waits for its serving budget until until_us (0: no
 * longer waits).  A wait is counted when it starts. */
static void serve_wait_set(struct rumor_core *core, struct core_peer *p, uint64_t until_us)
{
	int was = watched(p);
	if (until_us && !p->serve_wait_until_us) {
		core->serve_budget_waits++;
		p->serve_waits++;
	}
	p->serve_wait_until_us = until_us;
	watch_count(core, was, watched(p));
}

/* ---- closing peers -------------------------------------------------- */

static void close_peer(struct rumor_core *core, struct core_peer *p, uint16_t code,
		       const char *reason)
{
	if (p->closing)
		return;
	p->closing = 1;
	watch_clear(core, p);
	p->held = 0; /* the relay forgets the peer below */
	if (p->in_map) {
		void *v = rumor_idmap_del(&core->by_id, p->id);
		assert(v == p);
		(void)v;
		p->in_map = 0;
	}
	rumor_relay_peer_remove(core->relay, p->handle, core->now_us);
	struct pending *pe = pending_push(core, P_CLOSE);
	if (!pe) {
		core_log(core, RUMOR_CORE_LOG_ERROR, "core: out of memory closing a peer");
		return;
	}
	pe->peer = p->handle;
	pe->code = code;
	snprintf(pe->reason, sizeof(pe->reason), "%s", reason);
}

/* ---- outcomes ------------------------------------------------------- */

static void reject_item(struct rumor_core *core, rumor_core_peer from, const uint8_t from_id[32],
			const uint8_t id[RUMOR_ID_SIZE], const char *why)
{
	rumor_relay_on_rejected(core->relay, id, core->now_us);
	core->invalid_received++;
	char peer_hex[65], id_hex[65];
	hex32(from_id, peer_hex);
	hex32(id, id_hex);
	core_log(core, RUMOR_CORE_LOG_INFO, "peer %s sent an invalid item %s: %s", peer_hex, id_hex,
		 why);
	struct core_peer *p = peer_live(core, from);
	if (p) {
		char reason[RUMOR_MSG_REASON_MAX];
		snprintf(reason, sizeof(reason), "sent an invalid item: %s", why);
		close_peer(core, p, RUMOR_DISCONNECT_MISBEHAVIOUR, reason);
	}
}

static void reply(struct rumor_core *core, uint64_t token, enum rumor_submit_status status,
		  const char *reason, const uint8_t *id)
{
	struct pending *pe = pending_push(core, P_REPLY);
	if (!pe) { /* the submitter never hears back: a broken promise, say so */
		core_log(core, RUMOR_CORE_LOG_BROKEN, "core: out of memory answering a submission");
		return;
	}
	pe->job = token;
	pe->status = status;
	if (reason)
		snprintf(pe->reason, sizeof(pe->reason), "%s", reason);
	else
		pe->reason[0] = '\0';
	pe->has_id = id != NULL;
	if (id)
		memcpy(pe->id, id, 32);
	/* REPLY.reason is NULL on success: marked by code below */
	pe->code = reason ? 1 : 0;
}

static void waiter_outcome(struct rumor_core *core, const struct waiter *w,
			   enum rumor_submit_status status, const char *reason, const uint8_t *id,
			   const uint8_t *peer_item_id)
{
	if (w->has_token)
		reply(core, w->token, status, reason, id);
	if (w->type == WAITER_RPC)
		return;
	if (core->cfg.peer_item)
		core->cfg.peer_item(core->cfg.peer_item_ctx, w->kind, status,
				    core->now_us - w->start_us);
	switch (status) {
	case RUMOR_SUBMIT_ACCEPTED: /* announced when valid */
	case RUMOR_SUBMIT_KNOWN:
		break;
	case RUMOR_SUBMIT_EDECODE:
	case RUMOR_SUBMIT_EREJECT:
		reject_item(core, w->peer, w->peer_id, peer_item_id, reason ? reason : "invalid");
		break;
	case RUMOR_SUBMIT_ESTORE:
	case RUMOR_SUBMIT_EBUSY:
	case RUMOR_SUBMIT_ESHUTDOWN: {
		/* not the peer's fault; fetched again when announced again */
		char id_hex[65], peer_hex[65];
		hex32(peer_item_id, id_hex);
		hex32(w->peer_id, peer_hex);
		core_log(core, RUMOR_CORE_LOG_DEBUG, "relay: item %.16s from peer %.16s not stored: %s",
			 id_hex, peer_hex, reason ? reason : "");
		break;
	}
	}
}

static void sub_free(struct rumor_core *core, struct sub *sub)
{
	core->dyn_bytes -= sizeof(*sub) + sub->item.size;
	free(sub->bytes);
	free(sub);
}

static void finish(struct rumor_core *core, struct sub *sub, enum rumor_submit_status status,
		   const char *reason)
{
	share_del(core, sub, sub->item.size);
	void *removed = rumor_idmap_del(&core->in_flight, sub->item.id);
	assert(removed == sub);
	(void)removed;
	removed = rumor_handles_del(&core->jobs, sub->job);
	assert(removed == sub);
	core->in_flight_bytes -= sub->item.size;
	waiter_outcome(core, &sub->first, status, reason, sub->item.id, sub->item.id);
	struct waiter *w = sub->more;
	while (w) {
		struct waiter *next = w->next;
		waiter_outcome(core, w,
			       status == RUMOR_SUBMIT_ACCEPTED ? RUMOR_SUBMIT_KNOWN : status, reason,
			       sub->item.id, sub->item.id);
		core->dyn_bytes -= sizeof(*w);
		free(w);
		w = next;
	}
	sub_free(core, sub);
}

/* ---- block pools ---------------------------------------------------- */

static void process_block(struct rumor_core *core, struct rumor_held_block *hb);
static void block_verified(struct rumor_core *core, struct sub *sub, const char *reason, int drop);
static void submit_owned(struct rumor_core *core, uint8_t *bytes, const struct rumor_item *item,
			 const struct waiter *w, int64_t wall_us, int sig_ok);

static void pool_add(struct rumor_core *core, struct rumor_blockpool *pool,
		     struct rumor_held_block *hb)
{
	while (rumor_blockpool_must_evict(pool, hb->len)) {
		struct rumor_held_block *old = rumor_blockpool_take(pool, 0);
		char hex[65], from[65];
		hex32(old->item.id, hex);
		hex32(old->from_id, from);
		core_log(core, RUMOR_CORE_LOG_INFO,
			 "relay: %s pool full: dropping block %s from peer %.16s", pool->name, hex,
			 from);
		rumor_held_block_free(old);
	}
	if (rumor_blockpool_add(pool, hb) != 0) {
		core_log(core, RUMOR_CORE_LOG_ERROR, "relay: out of memory holding a block");
		rumor_held_block_free(hb);
	}
}

/* A block whose parent and transactions are stored: on to the pipeline. */
static void submit_block(struct rumor_core *core, struct rumor_held_block *hb)
{
	struct waiter w;
	memset(&w, 0, sizeof(w));
	w.type = WAITER_PEER;
	w.peer = hb->from;
	memcpy(w.peer_id, hb->from_id, 32);
	w.kind = RUMOR_ITEM_BLOCK;
	w.start_us = core->now_us;
	uint8_t *bytes = hb->bytes;
	struct rumor_item item = hb->item;
	hb->bytes = NULL;
	/* first_seen: when it became complete (the latest wall time given) */
	submit_owned(core, bytes, &item, &w, core->wall_us, hb->sig_ok);
	rumor_held_block_free(hb);
}

static void check_block_slice(struct rumor_core *core, struct rumor_held_block *hb,
			      int need_prev);

/* Decides one slice of the block's transactions, [first, hb->next_pos),
 * with what memory and the store said: found[i] for ids[i], the ids
 * memory could not answer when the slice was checked (the parent first
 * when has_prev, then transactions in block order; the block's own tx ids
 * when a big block's were all asked); ids is borrowed for the call, both
 * NULL when nothing was asked.  A slice all stored moves on to the next
 * (or the block to the pipeline); otherwise the block waits in the pending
 * pool for the slice's missing ones.  Takes hb. */
static void block_decide(struct rumor_core *core, struct rumor_held_block *hb, int has_prev,
			 const uint8_t *ids, uint32_t n_ids, const uint8_t *found,
			 uint64_t since, uint32_t first)
{
	const struct rumor_block *b = &hb->item.u.block;
	int prev_stored = 1;
	if (first == 0 && b->height > 0) {
		prev_stored = rumor_idset_has(&core->recent, b->prev);
		if (!prev_stored && has_prev && found && found[0])
			prev_stored = 1;
	}
	if (!prev_stored) {
		/* Its parent first (ignored by the relay when already known). */
		rumor_relay_request(core->relay, hb->from, RUMOR_ITEM_BLOCK, b->prev, core->now_us);
		pool_add(core, &core->orphan_pool, hb);
		return;
	}
	/* A transaction not among ids was stored when the block came; one
	 * among them is stored if the store said so or it was stored since
	 * (since: core->recent_seq when the block was checked).  When few
	 * were stored since, only they are compared (a filter on two bytes
	 * first), not each of up to 131,066 ids looked up in recent. */
	uint64_t added = core->recent_seq - since;
	int use_log = added <= RECENT_LOG;
	uint8_t filter[65536 / 8];
	if (use_log && added) {
		memset(filter, 0, sizeof(filter));
		for (uint64_t j = since; j < core->recent_seq; j++) {
			const uint8_t *r = core->recent_log[j % RECENT_LOG];
			unsigned key = (unsigned)r[0] << 8 | r[1];
			filter[key >> 3] |= (uint8_t)(1u << (key & 7));
		}
	}
	/* The missing list: positions in the block's tx ids (4 bytes each,
	 * not a 32-byte copy of each id). */
	uint32_t *miss = n_ids ? malloc((size_t)n_ids * sizeof(*miss)) : NULL;
	if (n_ids && !miss) {
		core_log(core, RUMOR_CORE_LOG_ERROR, "relay: out of memory holding a block");
		rumor_held_block_free(hb);
		return;
	}
	uint32_t missing = 0;
	uint32_t k = has_prev ? 1 : 0;
	for (uint32_t i = first; i < hb->next_pos && k < n_ids; i++) {
		const uint8_t *tx = b->tx_ids + 32 * (size_t)i;
		const uint8_t *asked = ids + 32 * (size_t)k;
		if (asked != tx && memcmp(asked, tx, 32) != 0)
			continue;
		int stored = found[k];
		k++;
		if (stored || added == 0) {
			/* as the store said */
		} else if (!use_log) {
			stored = rumor_idset_has(&core->recent, tx);
		} else {
			unsigned key = (unsigned)tx[0] << 8 | tx[1];
			if (filter[key >> 3] & (1u << (key & 7)))
				for (uint64_t j = since; j < core->recent_seq && !stored; j++)
					stored = memcmp(core->recent_log[j % RECENT_LOG], tx, 32) == 0;
		}
		if (!stored)
			miss[missing++] = i;
	}
	rumor_held_block_clear_missing(hb); /* the last slice's, all got */
	if (missing == 0) {
		free(miss);
		if (hb->next_pos < b->tx_count)
			check_block_slice(core, hb, 0);
		else
			submit_block(core, hb);
		return;
	}
	if (missing < n_ids / 2) { /* give back what is not needed */
		uint32_t *shrunk = realloc(miss, (size_t)missing * sizeof(*miss));
		if (shrunk)
			miss = shrunk;
	}
	hb->missing = miss;
	hb->n_missing = missing;
	if (rumor_held_block_index(hb, core->pool_key) != 0) {
		core_log(core, RUMOR_CORE_LOG_ERROR, "relay: out of memory holding a block");
		rumor_held_block_free(hb);
		return;
	}
	/* Asked of the peer that sent the block, as far as its cap goes. */
	for (uint32_t i = 0; i < missing && !rumor_relay_peer_full(core->relay, hb->from); i++)
		rumor_relay_request(core->relay, hb->from, RUMOR_ITEM_TX,
				    b->tx_ids + 32 * (size_t)miss[i], core->now_us);
	pool_add(core, &core->pending_pool, hb);
}

static void check_push(struct rumor_core *core, struct check *c)
{
	*core->checks_tail = c;
	core->checks_tail = &c->next;
	core->checks_ids += c->n_ids;
	core->dyn_bytes += check_bytes(c);
}

/* Asks about the block's next slice of transactions, [hb->next_pos, +
 * cfg.block_slice), and its parent first when need_prev: what memory
 * cannot say goes to the store (block_decide has the answer).  A big
 * block's slice is all asked of the store (on the shell's reader thread:
 * core.h STORE_HAS) rather than looked up here one by one (131,066
 * lookups cost tens of milliseconds of the loop); when its parent need not
 * be asked too, the query is the block's own ids, borrowed (a 4 MiB copy
 * and its page faults cost several ms).  Slices keep what one block can
 * make the node do to what its transactions' arrival earns: a block
 * naming 131,066 unknown transactions costs one slice of lookups and of
 * index, and the next slice is asked only when this one's are all stored.
 * Takes hb. */
static void check_block_slice(struct rumor_core *core, struct rumor_held_block *hb, int need_prev)
{
	const struct rumor_block *b = &hb->item.u.block;
	uint32_t first = hb->next_pos;
	uint32_t span = b->tx_count - first;
	if (span > core->cfg.block_slice)
		span = core->cfg.block_slice;
	hb->next_pos = first + span;
	const uint8_t *slice = b->tx_ids + 32 * (size_t)first;
	uint8_t *ids = NULL;
	const uint8_t *borrowed = NULL;
	uint32_t n = 0;
	if (b->tx_count > RUMOR_CORE_HAS_SMALL && !need_prev) {
		borrowed = slice;
		n = span;
	} else {
		ids = malloc(((size_t)span + 1) * 32);
		if (!ids) {
			core_log(core, RUMOR_CORE_LOG_ERROR, "relay: out of memory checking a block");
			rumor_held_block_free(hb);
			return;
		}
		if (need_prev)
			memcpy(ids + 32 * (size_t)n++, b->prev, 32);
		if (b->tx_count > RUMOR_CORE_HAS_SMALL) {
			memcpy(ids + 32 * (size_t)n, slice, (size_t)span * 32);
			n += span;
		} else {
			for (uint32_t i = 0; i < span; i++)
				if (!rumor_idset_has(&core->recent, slice + 32 * (size_t)i))
					memcpy(ids + 32 * (size_t)n++, slice + 32 * (size_t)i, 32);
		}
		if (n == 0) {
			free(ids);
			block_decide(core, hb, 0, NULL, 0, NULL, core->recent_seq, first);
			return;
		}
		if (n < span / 2) { /* give back what is not needed */
			uint8_t *shrunk = realloc(ids, (size_t)n * 32);
			if (shrunk)
				ids = shrunk;
		}
	}
	struct check *c = calloc(1, sizeof(*c));
	if (!c || rumor_idmap_put(&core->checking_blocks, hb->item.id, hb) != 0) {
		free(c);
		free(ids);
		core_log(core, RUMOR_CORE_LOG_ERROR, "relay: out of memory checking a block");
		rumor_held_block_free(hb);
		return;
	}
	c->type = CHECK_BLOCK;
	c->hb = hb;
	c->has_prev = need_prev;
	c->first = first;
	c->recent_seq = core->recent_seq;
	c->n_ids = n;
	c->ids = ids;
	c->borrowed = borrowed;
	check_push(core, c);
}

/* A structurally valid block from a peer (or an orphan whose parent came):
 * orphan pool, pending pool, or on to the pipeline, deciding slice by
 * slice (check_block_slice).  Takes hb. */
static void process_block(struct rumor_core *core, struct rumor_held_block *hb)
{
	const struct rumor_block *b = &hb->item.u.block;
	hb->deadline_us = core->now_us + core->cfg.pool_timeout_us;
	hb->next_pos = 0;
	rumor_held_block_clear_missing(hb);
	check_block_slice(core, hb, b->height > 0 && !rumor_idset_has(&core->recent, b->prev));
}

/* An item is stored: blocks waiting for it move on. */
static void pools_on_stored(struct rumor_core *core, const struct rumor_item *item)
{
	if (item->kind == RUMOR_ITEM_TX) {
		if (core->pending_pool.count == 0)
			return;
		/* one probe per waiting block (blockpool.h index) */
		uint64_t h = rumor_held_block_hash(core->pool_key, item->id);
		/* Blocks whose slice is done are taken out first and moved on
		 * after the scan: the next slice may put one back in the pool
		 * (and evict others) at once. */
		struct rumor_held_block **next = NULL;
		uint32_t n_next = 0, i = 0, cap = core->pending_pool.count;
		while (i < core->pending_pool.count) {
			struct rumor_held_block *hb = core->pending_pool.blocks[i];
			rumor_held_block_got(hb, item->id, h);
			if (hb->n_left != 0) {
				i++;
				continue;
			}
			hb = rumor_blockpool_take(&core->pending_pool, i);
			if (hb->next_pos >= hb->item.u.block.tx_count) {
				submit_block(core, hb);
				continue;
			}
			if (!next)
				next = malloc((size_t)cap * sizeof(*next));
			if (!next) {
				core_log(core, RUMOR_CORE_LOG_ERROR, "relay: out of memory holding a block");
				rumor_held_block_free(hb);
				continue;
			}
			next[n_next++] = hb;
		}
		for (i = 0; i < n_next; i++)
			check_block_slice(core, next[i], 0);
		free(next);
		return;
	}
	/* Children out first, then processed: one that goes back to the
	 * orphan pool must not be found again by this scan. */
	struct rumor_held_block *children[256];
	uint32_t n = 0, i = 0;
	while (i < core->orphan_pool.count && n < 256) {
		struct rumor_held_block *hb = core->orphan_pool.blocks[i];
		if (memcmp(hb->item.u.block.prev, item->id, RUMOR_ID_SIZE) == 0)
			children[n++] = rumor_blockpool_take(&core->orphan_pool, i);
		else
			i++;
	}
	for (i = 0; i < n; i++)
		process_block(core, children[i]);
}

static void pools_expire(struct rumor_core *core, struct rumor_blockpool *pool)
{
	struct rumor_held_block *hb;
	while ((hb = rumor_blockpool_take_expired(pool, core->now_us))) {
		char hex[65], from[65];
		hex32(hb->item.id, hex);
		hex32(hb->from_id, from);
		core_log(core, RUMOR_CORE_LOG_INFO, "relay: dropping %s block %s from peer %.16s: %s",
			 pool->name, hex, from,
			 hb->n_missing ? "its transactions did not arrive in time"
				       : "its parent did not arrive in time");
		rumor_held_block_free(hb);
	}
}

/* ---- the pipeline --------------------------------------------------- */

static void queue_verify(struct rumor_core *core, struct sub *sub)
{
	sub->state = SUB_VERIFY_QUEUED;
	struct pending *pe = pending_push(core, P_VERIFY);
	if (!pe) {
		finish(core, sub, RUMOR_SUBMIT_EBUSY, "out of memory");
		return;
	}
	pe->job = sub->job;
}

/* Valid and on its way to the store: cached for getdata and announced. */
static void item_valid(struct rumor_core *core, struct sub *sub)
{
	rumor_itemcache_put(&core->cache, &sub->item);
	rumor_core_peer from = RUMOR_CORE_NO_PEER;
	if (sub->from_peer) {
		struct core_peer *p = rumor_idmap_get(&core->by_id, sub->peer_id);
		if (p) {
			from = p->handle;
			if (sub->item.kind == RUMOR_ITEM_TX)
				p->last_new_tx_us = core->now_us;
			else
				p->last_new_block_us = core->now_us;
		}
	}
	rumor_relay_on_accepted(core->relay, (uint8_t)sub->item.kind, sub->item.id, from,
				core->now_us);
}

/* Newly stored (status 0). */
static void item_accepted(struct rumor_core *core, struct sub *sub)
{
	char id_hex[65], peer_hex[65] = "-";
	hex32(sub->item.id, id_hex);
	if (sub->from_peer)
		hex32(sub->peer_id, peer_hex);
	core_log(core, RUMOR_CORE_LOG_DEBUG, "stored %s %.16s from %s %.16s",
		 rumor_item_kind_name(sub->item.kind), id_hex, sub->from_peer ? "peer" : "rpc",
		 peer_hex);
	if (sub->item.kind == RUMOR_ITEM_TX)
		core->accepted_tx++;
	else
		core->accepted_block++;
	if (sub->from_peer)
		core->accepted_peer++;
	else
		core->accepted_rpc++;
	recent_add(core, sub->item.id);
	if (!core->shutting_down)
		pools_on_stored(core, &sub->item);
}

static void start_write(struct rumor_core *core, struct sub *sub, int announce)
{
	sub->state = SUB_WRITING;
	struct pending *pe = pending_push(core, P_PUT);
	if (!pe) {
		finish(core, sub, RUMOR_SUBMIT_EBUSY, "out of memory");
		return;
	}
	pe->job = sub->job;
	if (announce && !core->shutting_down)
		item_valid(core, sub);
}

/* Takes bytes (malloc'd; item points into it, decoded and checked). */
static void submit_owned(struct rumor_core *core, uint8_t *bytes, const struct rumor_item *item,
			 const struct waiter *w, int64_t wall_us, int sig_ok)
{
	struct sub *running = rumor_idmap_get(&core->in_flight, item->id);
	if (running) {
		free(bytes);
		struct waiter *nw = malloc(sizeof(*nw));
		if (!nw) {
			waiter_outcome(core, w, RUMOR_SUBMIT_EBUSY, "out of memory", item->id,
				       item->id);
			return;
		}
		*nw = *w;
		nw->next = NULL;
		if (!nw->kind)
			nw->kind = item->kind;
		*running->more_tail = nw;
		running->more_tail = &nw->next;
		core->dyn_bytes += sizeof(*nw);
		/* An RPC caller is answered only after a synced commit: before
		 * the write, the put is synced; after, a synced put follows the
		 * lazy one. */
		if (w->type == WAITER_RPC)
			running->rpc_waiter = 1;
		return;
	}
	if (core->in_flight.count >= core->cfg.pending_max ||
	    core->in_flight_bytes + item->size > core->cfg.pending_bytes_max) {
		free(bytes);
		waiter_outcome(core, w, RUMOR_SUBMIT_EBUSY,
			       "node is busy: too many items awaiting verification", item->id,
			       item->id);
		return;
	}
	if (w->type == WAITER_PEER && peers_at_cap(core, item->size)) {
		/* The rest is kept for RPC submitters. */
		free(bytes);
		waiter_outcome(core, w, RUMOR_SUBMIT_EBUSY,
			       "node is busy: the peers' share of the pipeline is full", item->id,
			       item->id);
		return;
	}
	struct sub *sub = calloc(1, sizeof(*sub));
	if (!sub) {
		free(bytes);
		waiter_outcome(core, w, RUMOR_SUBMIT_EBUSY, "out of memory", item->id, item->id);
		return;
	}
	sub->bytes = bytes;
	sub->item = *item;
	rumor_item_rebase(&sub->item, bytes);
	sub->first = *w;
	if (!sub->first.kind)
		sub->first.kind = item->kind;
	sub->first.next = NULL;
	sub->more_tail = &sub->more;
	sub->first_seen_us = wall_us;
	if (w->type == WAITER_PEER) {
		sub->from_peer = 1;
		memcpy(sub->peer_id, w->peer_id, 32);
	} else {
		sub->rpc_waiter = 1;
	}
	if (rumor_handles_put(&core->jobs, sub, &sub->job) != 0 ||
	    rumor_idmap_put(&core->in_flight, sub->item.id, sub) != 0) {
		rumor_handles_del(&core->jobs, sub->job);
		free(bytes);
		free(sub);
		waiter_outcome(core, w, RUMOR_SUBMIT_EBUSY, "node is busy", item->id, item->id);
		return;
	}
	core->in_flight_bytes += sub->item.size;
	core->dyn_bytes += sizeof(*sub) + sub->item.size;
	sub->sig_ok = sig_ok;
	sub->owner = RUMOR_CORE_NO_PEER;
	if (w->type == WAITER_PEER) {
		struct core_peer *owner = peer_live(core, w->peer);
		if (owner)
			share_add(core, sub, owner, sub->item.size);
	}
	if (sub->rpc_waiter) {
		/* RPC items skip the store check: the write finds an item
		 * already stored; they are announced at their commit. */
		sub->unchecked = 1;
		queue_verify(core, sub);
		return;
	}
	/* Peer items: the store is asked first (one query for the drain),
	 * before any signature work. */
	struct check *c = calloc(1, sizeof(*c));
	uint8_t *ids = malloc(32);
	if (!c || !ids) {
		free(c);
		free(ids);
		finish(core, sub, RUMOR_SUBMIT_EBUSY, "out of memory");
		return;
	}
	memcpy(ids, sub->item.id, 32);
	c->type = CHECK_SUB;
	c->job = sub->job;
	c->n_ids = 1;
	c->ids = ids;
	sub->state = SUB_CHECK;
	check_push(core, c);
}

/* A peer's block that passed the cheap checks: its signature is verified
 * before it may wait in a pool (a forged block never takes pool space).
 * Takes hb. */
static void preverify_block(struct rumor_core *core, struct core_peer *p,
			    struct rumor_held_block *hb)
{
	if (peers_at_cap(core, hb->len)) {
		if (core->cfg.peer_item)
			core->cfg.peer_item(core->cfg.peer_item_ctx, RUMOR_ITEM_BLOCK,
					    RUMOR_SUBMIT_EBUSY, 0);
		core_log(core, RUMOR_CORE_LOG_DEBUG,
			 "relay: block from %s not verified: the peers' share of the pipeline is "
			 "full",
			 p->addr);
		rumor_held_block_free(hb);
		return;
	}
	struct sub *sub = calloc(1, sizeof(*sub));
	if (!sub || rumor_handles_put(&core->jobs, sub, &sub->job) != 0) {
		free(sub);
		core_log(core, RUMOR_CORE_LOG_ERROR, "relay: no room to verify a block");
		rumor_held_block_free(hb);
		return;
	}
	if (rumor_idmap_put(&core->verifying_blocks, hb->item.id, sub) != 0) {
		rumor_handles_del(&core->jobs, sub->job);
		free(sub);
		core_log(core, RUMOR_CORE_LOG_ERROR, "relay: out of memory verifying a block");
		rumor_held_block_free(hb);
		return;
	}
	sub->hb = hb;
	sub->item = hb->item;
	sub->from_peer = 1;
	memcpy(sub->peer_id, p->id, 32);
	sub->owner = RUMOR_CORE_NO_PEER;
	sub->state = SUB_BLOCK_VERIFY_QUEUED;
	core->dyn_bytes += sizeof(*sub) + hb->len;
	share_add(core, sub, p, hb->len);
	struct pending *pe = pending_push(core, P_VERIFY);
	if (!pe) {
		block_verified(core, sub, NULL, 1);
		return;
	}
	pe->job = sub->job;
}

/* The answer for a block verified before its pool (drop: cancelled or
 * no memory; it is forgotten). */
static void block_verified(struct rumor_core *core, struct sub *sub, const char *reason, int drop)
{
	struct rumor_held_block *hb = sub->hb;
	sub->hb = NULL;
	void *v = rumor_idmap_del(&core->verifying_blocks, hb->item.id);
	assert(v == sub);
	(void)v;
	rumor_handles_del(&core->jobs, sub->job);
	share_del(core, sub, hb->len);
	core->dyn_bytes -= sizeof(*sub) + hb->len;
	free(sub);
	if (drop || core->shutting_down) {
		rumor_held_block_free(hb);
		return;
	}
	if (reason) {
		if (core->cfg.peer_item)
			core->cfg.peer_item(core->cfg.peer_item_ctx, RUMOR_ITEM_BLOCK,
					    RUMOR_SUBMIT_EREJECT, 0);
		reject_item(core, hb->from, hb->from_id, hb->item.id, reason);
		rumor_held_block_free(hb);
		return;
	}
	hb->sig_ok = 1;
	process_block(core, hb);
}

/* Decodes and checks bytes (borrowed) and enters the pipeline. */
static void submit_bytes(struct rumor_core *core, const uint8_t *bytes, size_t len, int expect,
			 const struct waiter *w, const uint8_t *peer_item_id, int64_t wall_us)
{
	if (core->shutting_down) {
		waiter_outcome(core, w, RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down", NULL,
			       peer_item_id);
		return;
	}
	struct rumor_item item;
	const char *why = rumor_item_decode(&item, bytes, len);
	if (why) {
		waiter_outcome(core, w, RUMOR_SUBMIT_EDECODE, why, NULL, peer_item_id);
		return;
	}
	if (expect && (int)item.kind != expect) {
		waiter_outcome(core, w, RUMOR_SUBMIT_EDECODE,
			       expect == RUMOR_ITEM_TX
				       ? "expected a transaction, got a block (use submitblock)"
				       : "expected a block, got a transaction (use sendrawtransaction)",
			       item.id, item.id);
		return;
	}
	int64_t wall_s = wall_us < 0 ? 0 : wall_us / 1000000;
	/* The O(1) checks here; a block's tx ids (duplicates, Merkle root:
	 * ~50 ms for 131,066 of them) are checked by its VERIFY job, off the
	 * loop thread, before anything is stored (rumor_item_verify_job). */
	why = rumor_item_check_header(&item, core->cfg.network, (uint64_t)wall_s);
	if (why) {
		waiter_outcome(core, w, RUMOR_SUBMIT_EREJECT, why, item.id, item.id);
		return;
	}
	/* A joiner needs no copy. */
	if (rumor_idmap_get(&core->in_flight, item.id)) {
		submit_owned(core, NULL, &item, w, wall_us, 0);
		return;
	}
	uint8_t *copy = malloc(len ? len : 1);
	if (!copy) {
		waiter_outcome(core, w, RUMOR_SUBMIT_EBUSY, "out of memory", item.id, item.id);
		return;
	}
	memcpy(copy, bytes, len);
	submit_owned(core, copy, &item, w, wall_us, 0);
}

void rumor_core_submit(struct rumor_core *core, uint64_t token, const uint8_t *bytes, size_t len,
		       int expect, uint64_t now_us, int64_t wall_us)
{
	touch(core, now_us);
	touch_wall(core, wall_us);
	struct waiter w;
	memset(&w, 0, sizeof(w));
	w.type = WAITER_RPC;
	w.has_token = 1;
	w.token = token;
	w.peer = RUMOR_CORE_NO_PEER;
	submit_bytes(core, bytes, len, expect, &w, NULL, wall_us);
}

void rumor_core_submit_relayed(struct rumor_core *core, uint64_t token, const uint8_t *bytes,
			       size_t len, int expect, const uint8_t peer_id[32], uint64_t now_us,
			       int64_t wall_us)
{
	touch(core, now_us);
	touch_wall(core, wall_us);
	struct waiter w;
	memset(&w, 0, sizeof(w));
	w.type = WAITER_PEER;
	w.has_token = 1;
	w.token = token;
	memcpy(w.peer_id, peer_id, 32);
	w.kind = expect;
	w.start_us = core->now_us;
	struct core_peer *p = rumor_idmap_get(&core->by_id, peer_id);
	w.peer = p ? p->handle : RUMOR_CORE_NO_PEER;
	uint8_t id[RUMOR_ID_SIZE];
	rumor_sha256(bytes, len, id);
	submit_bytes(core, bytes, len, expect, &w, id, wall_us);
}

void rumor_core_cancelled(struct rumor_core *core, uint64_t job, uint64_t now_us)
{
	touch(core, now_us);
	struct sub *sub = rumor_handles_get(&core->jobs, job);
	if (sub && sub->state == SUB_BLOCK_VERIFYING) {
		block_verified(core, sub, NULL, 1);
		return;
	}
	if (!sub || (sub->state != SUB_VERIFYING && sub->state != SUB_WRITING &&
		     sub->state != SUB_WRITING_SYNC))
		return;
	finish(core, sub, RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down");
}

/* ---- answers -------------------------------------------------------- */

void rumor_core_verified(struct rumor_core *core, uint64_t job, const char *reason, uint64_t now_us)
{
	touch(core, now_us);
	struct sub *sub = rumor_handles_get(&core->jobs, job);
	if (sub && sub->state == SUB_BLOCK_VERIFYING) {
		block_verified(core, sub, reason, 0);
		return;
	}
	if (!sub || sub->state != SUB_VERIFYING)
		return;
	if (reason)
		finish(core, sub, RUMOR_SUBMIT_EREJECT, reason);
	else
		start_write(core, sub, !sub->unchecked);
}

/* The count of failed writes not yet logged, in one line. */
static void store_failed_flush(struct rumor_core *core)
{
	if (!core->store_err_quiet)
		return;
	core_log(core, RUMOR_CORE_LOG_ERROR,
		 "cannot store %llu more item(s) in the last %llu s; the latest: %s",
		 (unsigned long long)core->store_err_quiet,
		 (unsigned long long)((core->now_us - core->store_err_logged_us) / 1000000),
		 core->store_err_text);
	core->store_err_quiet = 0;
	core->store_err_logged_us = core->now_us;
}

static void store_failed_log(struct rumor_core *core, const char *error)
{
	snprintf(core->store_err_text, sizeof(core->store_err_text), "%s",
		 error && error[0] ? error : "store error");
	if (core->store_err_any && core->now_us - core->store_err_logged_us < STORE_ERR_LOG_US) {
		core->store_err_quiet++;
		return;
	}
	store_failed_flush(core);
	core_log(core, RUMOR_CORE_LOG_ERROR, "cannot store item: %s", core->store_err_text);
	core->store_err_any = 1;
	core->store_err_logged_us = core->now_us;
}

void rumor_core_stored(struct rumor_core *core, uint64_t job, int status, const char *error,
		       uint64_t now_us)
{
	touch(core, now_us);
	struct sub *sub = rumor_handles_get(&core->jobs, job);
	if (!sub || (sub->state != SUB_WRITING && sub->state != SUB_WRITING_SYNC))
		return;
	if (sub->state == SUB_WRITING_SYNC && (status == 0 || status == 1)) {
		finish(core, sub,
		       sub->stored_status == 0 ? RUMOR_SUBMIT_ACCEPTED : RUMOR_SUBMIT_KNOWN, NULL);
		return;
	}
	if (sub->state == SUB_WRITING && (status == 0 || status == 1) && !sub->last_put_sync &&
	    sub->rpc_waiter) {
		/* The lazy commit may not be on disk: the RPC answer waits for
		 * a synced put (which finds the item). */
		if (status == 0) {
			if (sub->unchecked)
				item_valid(core, sub);
			item_accepted(core, sub);
		} else {
			recent_add(core, sub->item.id);
		}
		sub->stored_status = status;
		sub->state = SUB_WRITING_SYNC;
		struct pending *pe = pending_push(core, P_PUT);
		if (!pe) {
			finish(core, sub, RUMOR_SUBMIT_ESTORE, "out of memory");
			return;
		}
		pe->job = sub->job;
		return;
	}
	if (status == 0) {
		if (sub->unchecked && !core->shutting_down)
			item_valid(core, sub);
		item_accepted(core, sub);
		finish(core, sub, RUMOR_SUBMIT_ACCEPTED, NULL);
	} else if (status == 1) {
		recent_add(core, sub->item.id);
		if (!core->shutting_down)
			pools_on_stored(core, &sub->item);
		finish(core, sub, RUMOR_SUBMIT_KNOWN, NULL);
	} else if (core->shutting_down) {
		finish(core, sub, RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down");
	} else {
		store_failed_log(core, error);
		char reason[RUMOR_MSG_REASON_MAX];
		if (error && error[0])
			snprintf(reason, sizeof(reason), "database error: %s; item not stored", error);
		else
			snprintf(reason, sizeof(reason), "database error: item not stored");
		finish(core, sub, RUMOR_SUBMIT_ESTORE, reason);
	}
}

static void inv_batch_free(struct rumor_core *core, struct inv_batch *b)
{
	if (!b)
		return;
	core->dyn_bytes -= sizeof(*b) + (size_t)b->count * (sizeof(*b->entries) + 1);
	free(b->entries);
	free(b->checked);
	free(b);
}

static void check_free(struct rumor_core *core, struct check *c)
{
	core->dyn_bytes -= check_bytes(c);
	if (c->inv)
		inv_batch_free(core, c->inv);
	if (c->hb) {
		rumor_idmap_del(&core->checking_blocks, c->hb->item.id);
		rumor_held_block_free(c->hb);
	}
	free(c->ids);
	free(c);
}

/* One check answered: found[] for its ids (NULL when the store failed). */
static void check_answered(struct rumor_core *core, struct check *c, const uint8_t *found)
{
	switch (c->type) {
	case CHECK_SUB: {
		struct sub *sub = rumor_handles_get(&core->jobs, c->job);
		if (!sub || sub->state != SUB_CHECKING)
			return;
		if (!found) {
			finish(core, sub, RUMOR_SUBMIT_ESTORE,
			       "database error while checking for the item");
		} else if (found[0] && sub->rpc_waiter) {
			/* Found, but perhaps from a lazy commit not yet on
			 * disk: a synced put (which finds it) comes first. */
			recent_add(core, sub->item.id);
			start_write(core, sub, 0);
		} else if (found[0]) {
			recent_add(core, sub->item.id);
			finish(core, sub, RUMOR_SUBMIT_KNOWN, NULL);
		} else if (sub->sig_ok) {
			start_write(core, sub, !sub->unchecked); /* verified before its pool */
		} else {
			queue_verify(core, sub);
		}
		return;
	}
	case CHECK_INV: {
		struct inv_batch *b = c->inv;
		struct core_peer *p = peer_live(core, b->peer);
		uint32_t k = 0, n = 0;
		for (uint32_t i = 0; i < b->count; i++) {
			if (b->checked[i]) {
				int f = found ? found[k] : 0;
				k++;
				if (f)
					recent_add(core, b->entries[i].id);
				else if (!found)
					continue; /* the store could not say: not fetched */
			}
			b->entries[n++] = b->entries[i];
		}
		if (p && !core->shutting_down)
			rumor_relay_on_inv(core->relay, p->handle, b->entries, n, core->now_us);
		return;
	}
	case CHECK_BLOCK: {
		struct rumor_held_block *hb = c->hb;
		c->hb = NULL;
		rumor_idmap_del(&core->checking_blocks, hb->item.id);
		if (core->shutting_down) {
			rumor_held_block_free(hb);
			return;
		}
		/* The check's ids (freed with it) are borrowed by block_decide:
		 * when they are the block's own, hb keeps them alive. */
		const uint8_t *ids = check_ids(c);
		/* The store could not say: as not stored (it waits in a pool). */
		if (!found) {
			uint8_t *zeros = calloc(c->n_ids ? c->n_ids : 1, 1);
			if (!zeros) {
				rumor_held_block_free(hb);
				return;
			}
			block_decide(core, hb, c->has_prev, ids, c->n_ids, zeros, c->recent_seq,
				     c->first);
			free(zeros);
		} else {
			block_decide(core, hb, c->has_prev, ids, c->n_ids, found, c->recent_seq,
				     c->first);
		}
		return;
	}
	}
}

void rumor_core_store_has_answer(struct rumor_core *core, uint64_t query, int status,
				 const uint8_t *found, uint64_t now_us)
{
	touch(core, now_us);
	struct query *q = rumor_handles_get(&core->queries, query);
	if (!q || q->type != Q_HAS)
		return;
	rumor_handles_del(&core->queries, query);
	uint32_t off = 0;
	struct check *c = q->checks;
	while (c) {
		struct check *next = c->next;
		check_answered(core, c, status < 0 || !found ? NULL : found + off);
		off += c->n_ids;
		check_free(core, c);
		c = next;
	}
	core->dyn_bytes -= query_bytes(q);
	free(q->ids);
	free(q);
}

void rumor_core_store_get_answer(struct rumor_core *core, uint64_t query, int status,
				 const uint8_t *bytes, size_t len, uint64_t now_us)
{
	touch(core, now_us);
	struct query *q = rumor_handles_get(&core->queries, query);
	if (!q || q->type != Q_GET)
		return;
	rumor_handles_del(&core->queries, query);
	struct serve *s = q->serve;
	core->dyn_bytes -= sizeof(*q);
	free(q);
	s->query = 0;
	s->answered = 1;
	s->got_status = -1;
	if (status == 0 && bytes && len) {
		s->got = malloc(len);
		if (s->got) {
			memcpy(s->got, bytes, len);
			s->got_len = len;
			s->got_status = 0;
			core->dyn_bytes += len;
		}
	}
}

/* ---- messages ------------------------------------------------------- */

static int ensure_scratch(struct rumor_core *core, uint32_t n)
{
	if (n > core->in_alloc) {
		struct rumor_relay_inv_entry *e = realloc(core->in_entries, (size_t)n * sizeof(*e));
		if (!e)
			return -ENOMEM;
		core->in_entries = e;
		core->in_alloc = n;
	}
	if (n > core->out_alloc) {
		struct rumor_inv_entry *e = realloc(core->out_entries, (size_t)n * sizeof(*e));
		if (!e)
			return -ENOMEM;
		core->out_entries = e;
		core->out_alloc = n;
	}
	return 0;
}

static int convert_list(struct rumor_core *core, const struct rumor_msg_list *list)
{
	if (ensure_scratch(core, list->count ? list->count : 1) != 0)
		return -ENOMEM;
	for (uint32_t i = 0; i < list->count; i++) {
		struct rumor_inv_entry e;
		rumor_msg_inv_entry(list, i, &e);
		core->in_entries[i].kind = e.kind;
		memcpy(core->in_entries[i].id, e.id, RUMOR_ID_SIZE);
	}
	return 0;
}

/* Most ids waiting for one store check (announcements beyond are
 * ignored until the query is out). */
#define CHECK_IDS_MAX (4u * RUMOR_MSG_INV_MAX)

static void on_inv(struct rumor_core *core, struct core_peer *p, const struct rumor_msg_list *list)
{
	if (convert_list(core, list) != 0)
		return;
	uint32_t count = list->count, need = 0;
	for (uint32_t i = 0; i < count; i++) {
		uint8_t kind = core->in_entries[i].kind;
		if (kind != RUMOR_ITEM_TX && kind != RUMOR_ITEM_BLOCK) {
			/* the relay disconnects it */
			rumor_relay_on_inv(core->relay, p->handle, core->in_entries, count,
					   core->now_us);
			return;
		}
		const uint8_t *id = core->in_entries[i].id;
		if (!known_in_memory(core, id) && !rumor_relay_is_tracked(core->relay, id))
			need++;
	}
	if (need == 0 || core->checks_ids + need > CHECK_IDS_MAX) {
		/* Everything answered from memory (or too much waiting: those
		 * unknown ids are then fetched without a store check; the
		 * pipeline's own check stops a stored one before any work). */
		rumor_relay_on_inv(core->relay, p->handle, core->in_entries, count, core->now_us);
		return;
	}
	struct inv_batch *b = calloc(1, sizeof(*b));
	struct check *c = calloc(1, sizeof(*c));
	if (b) {
		b->entries = malloc((size_t)count * sizeof(*b->entries));
		b->checked = calloc(count, 1);
	}
	uint8_t *ids = malloc((size_t)need * 32);
	if (!b || !c || !ids || !b->entries || !b->checked) {
		if (b) {
			free(b->entries);
			free(b->checked);
		}
		free(b);
		free(c);
		free(ids);
		rumor_relay_on_inv(core->relay, p->handle, core->in_entries, count, core->now_us);
		return;
	}
	b->peer = p->handle;
	b->count = count;
	memcpy(b->entries, core->in_entries, (size_t)count * sizeof(*b->entries));
	uint32_t k = 0;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *id = b->entries[i].id;
		if (!known_in_memory(core, id) && !rumor_relay_is_tracked(core->relay, id)) {
			b->checked[i] = 1;
			memcpy(ids + 32 * (size_t)k++, id, 32);
		}
	}
	core->dyn_bytes += sizeof(*b) + (size_t)count * (sizeof(*b->entries) + 1);
	c->type = CHECK_INV;
	c->inv = b;
	c->n_ids = need;
	c->ids = ids;
	check_push(core, c);
}

static void serve_free(struct rumor_core *core, struct serve *s)
{
	if (s->query) {
		struct query *q = rumor_handles_del(&core->queries, s->query);
		if (q) {
			core->dyn_bytes -= sizeof(*q);
			free(q);
		}
	}
	struct core_peer *p = peer_get(core, s->peer);
	if (p)
		p->serve_queued -= s->count;
	core->dyn_bytes -= sizeof(*s) + (size_t)s->alloc * (sizeof(*s->want) + sizeof(*s->missing)) +
			   s->got_len;
	free(s->got);
	free(s->want);
	free(s->missing);
	free(s);
}

/* Appends a job to the serve queue (the peer's one job there). */
static void serve_enqueue(struct rumor_core *core, struct serve *s)
{
	s->next = NULL;
	*core->serve_tail = s;
	core->serve_tail = &s->next;
	core->n_serves++;
}

/* Frees the jobs a peer has waiting behind its queued one. */
static void serve_wait_free(struct rumor_core *core, struct core_peer *p)
{
	while (p->wait_head) {
		struct serve *s = p->wait_head;
		p->wait_head = s->next;
		serve_free(core, s);
	}
	p->wait_tail = NULL;
}

/* Duplicate ids of one getdata: the entries sorted by (id, position),
 * so each id's copies are adjacent and the first of a run is the one
 * asked first.  O(n log n) whatever ids the peer chose. */
struct dup_entry {
	uint8_t id[RUMOR_ID_SIZE];
	uint32_t index;
};

static int dup_cmp(const void *a, const void *b)
{
	const struct dup_entry *x = a, *y = b;
	int c = memcmp(x->id, y->id, RUMOR_ID_SIZE);
	if (c)
		return c;
	return x->index < y->index ? -1 : x->index > y->index;
}

/* Drops the entries of want[0..n) whose id came earlier in it (the first
 * one stays, in place; the order is kept).  Returns how many remain, or n
 * when there is no scratch memory (nothing dropped: serving the same item
 * twice is the cost of the rare failure, not a correctness issue). */
static uint32_t getdata_dedup(struct rumor_core *core, struct rumor_relay_inv_entry *want,
			      uint32_t n)
{
	if (n < 2)
		return n;
	if (!core->dup_scratch) {
		core->dup_scratch = malloc((size_t)core->cfg.serve_max * sizeof(*core->dup_scratch));
		core->dup_mark = malloc(core->cfg.serve_max);
		if (!core->dup_scratch || !core->dup_mark) {
			free(core->dup_scratch);
			free(core->dup_mark);
			core->dup_scratch = NULL;
			core->dup_mark = NULL;
			return n;
		}
	}
	assert(n <= core->cfg.serve_max);
	struct dup_entry *d = core->dup_scratch;
	for (uint32_t i = 0; i < n; i++) {
		memcpy(d[i].id, want[i].id, RUMOR_ID_SIZE);
		d[i].index = i;
	}
	qsort(d, n, sizeof(*d), dup_cmp);
	memset(core->dup_mark, 0, n);
	for (uint32_t i = 1; i < n; i++)
		if (memcmp(d[i].id, d[i - 1].id, RUMOR_ID_SIZE) == 0)
			core->dup_mark[d[i].index] = 1;
	uint32_t k = 0;
	for (uint32_t i = 0; i < n; i++)
		if (!core->dup_mark[i])
			want[k++] = want[i];
	return k;
}

static void on_getdata(struct rumor_core *core, struct core_peer *p,
		       const struct rumor_msg_list *list)
{
	/* At most what we ask in one getdata ourselves; an honest peer asks
	 * no more, and the rest is ignored. */
	uint32_t n = list->count;
	if (n > core->cfg.serve_max)
		n = core->cfg.serve_max;
	if (n == 0)
		return;
	if (p->serve_queued + n > 4 * core->cfg.serve_max) {
		core_log(core, RUMOR_CORE_LOG_DEBUG,
			 "relay: getdata from %s ignored: too many entries waiting to be served",
			 p->addr);
		return;
	}
	struct serve *s = calloc(1, sizeof(*s));
	if (s) {
		s->want = malloc((size_t)n * sizeof(*s->want));
		s->missing = malloc((size_t)n * sizeof(*s->missing));
	}
	if (!s || !s->want || !s->missing) {
		if (s) {
			free(s->want);
			free(s->missing);
		}
		free(s);
		core_log(core, RUMOR_CORE_LOG_ERROR, "relay: out of memory serving getdata");
		return;
	}
	for (uint32_t i = 0; i < n; i++) {
		struct rumor_inv_entry e;
		rumor_msg_inv_entry(list, i, &e);
		s->want[i].kind = e.kind;
		memcpy(s->want[i].id, e.id, RUMOR_ID_SIZE);
	}
	/* An id named twice in one getdata is served once: the copies are
	 * skipped (counted), not sent and not answered with notfound.  The
	 * arrays keep their size n (alloc). */
	uint32_t unique = getdata_dedup(core, s->want, n);
	if (unique < n) {
		core->getdata_duplicates += n - unique;
		core_log(core, RUMOR_CORE_LOG_DEBUG,
			 "relay: getdata from %s: %u duplicate entries skipped", p->addr,
			 (unsigned)(n - unique));
	}
	s->peer = p->handle;
	s->count = unique;
	s->alloc = n;
	p->serve_queued += unique;
	core->dyn_bytes += sizeof(*s) + (size_t)n * (sizeof(*s->want) + sizeof(*s->missing));
	if (p->serving) { /* behind its job in the queue */
		if (p->wait_tail)
			p->wait_tail->next = s;
		else
			p->wait_head = s;
		p->wait_tail = s;
		return;
	}
	p->serving = 1;
	serve_enqueue(core, s);
}

static void on_payload(struct rumor_core *core, struct core_peer *p, int kind,
		       const struct rumor_msg_blob *blob, int64_t wall_us)
{
	uint8_t id[RUMOR_ID_SIZE];
	struct rumor_item item;
	const char *why = NULL;
	if (kind == RUMOR_ITEM_BLOCK) {
		/* Decoded first, so that its id (SHA-256 of up to 4 MiB: about
		 * 2 ms of the loop) is computed once, by the decoder. */
		why = rumor_item_decode(&item, blob->ptr, blob->len);
		if (why)
			rumor_sha256(blob->ptr, blob->len, id);
		else
			memcpy(id, item.id, RUMOR_ID_SIZE);
	} else {
		rumor_sha256(blob->ptr, blob->len, id);
	}
	enum rumor_relay_payload_verdict v =
		rumor_relay_on_payload(core->relay, p->handle, id, core->now_us);
	switch (v) {
	case RUMOR_RELAY_PAYLOAD_DUPLICATE: /* counted by the relay too */
		if (core->cfg.peer_item)
			core->cfg.peer_item(core->cfg.peer_item_ctx, kind, RUMOR_SUBMIT_KNOWN, 0);
		return;
	case RUMOR_RELAY_PAYLOAD_UNREQUESTED: {
		char peer_hex[65], id_hex[65];
		hex32(p->id, peer_hex);
		hex32(id, id_hex);
		core_log(core, RUMOR_CORE_LOG_INFO, "peer %s sent %s %s, which was not requested",
			 peer_hex, rumor_item_kind_name(kind), id_hex);
		close_peer(core, p, RUMOR_DISCONNECT_MISBEHAVIOUR,
			   "sent an item that was not requested");
		return;
	}
	case RUMOR_RELAY_PAYLOAD_REQUESTED:
		break;
	}
	struct waiter w;
	memset(&w, 0, sizeof(w));
	w.type = WAITER_PEER;
	w.peer = p->handle;
	memcpy(w.peer_id, p->id, 32);
	w.kind = kind;
	w.start_us = core->now_us;
	if (kind == RUMOR_ITEM_TX) {
		submit_bytes(core, blob->ptr, blob->len, RUMOR_ITEM_TX, &w, id, wall_us);
		return;
	}
	/* A block: the O(1) checks here; its VERIFY job checks its tx ids and
	 * signature (rumor_item_verify_job) before it may wait in a pool. */
	if (known_in_memory(core, id)) {
		if (core->cfg.peer_item)
			core->cfg.peer_item(core->cfg.peer_item_ctx, kind, RUMOR_SUBMIT_KNOWN, 0);
		return;
	}
	struct rumor_held_block *hb = calloc(1, sizeof(*hb));
	uint8_t *copy = malloc(blob->len ? blob->len : 1);
	if (!hb || !copy) {
		free(hb);
		free(copy);
		core_log(core, RUMOR_CORE_LOG_ERROR, "relay: out of memory receiving a block");
		return;
	}
	memcpy(copy, blob->ptr, blob->len);
	hb->bytes = copy;
	hb->len = blob->len;
	hb->from = p->handle;
	memcpy(hb->from_id, p->id, 32);
	if (!why) {
		hb->item = item;
		rumor_item_rebase(&hb->item, copy);
	}
	if (!why && hb->item.kind != RUMOR_ITEM_BLOCK)
		why = "a transaction sent as a block";
	if (!why)
		why = rumor_item_check_header(&hb->item, core->cfg.network,
					      (uint64_t)(wall_us < 0 ? 0 : wall_us / 1000000));
	if (why) {
		rumor_held_block_free(hb);
		if (core->cfg.peer_item)
			core->cfg.peer_item(core->cfg.peer_item_ctx, kind, RUMOR_SUBMIT_EREJECT, 0);
		reject_item(core, p->handle, p->id, id, why);
		return;
	}
	preverify_block(core, p, hb);
}

void rumor_core_on_message(struct rumor_core *core, rumor_core_peer peer,
			   const struct rumor_msg *msg, uint64_t now_us, int64_t wall_us)
{
	touch(core, now_us);
	touch_wall(core, wall_us);
	struct core_peer *p = peer_live(core, peer);
	if (!p || core->shutting_down)
		return;
	if (charge(core, p, msg) != 0 || msg->skipped)
		return;
	switch ((enum rumor_msg_type)msg->type) {
	case RUMOR_MSG_INV:
		on_inv(core, p, &msg->u.inv.entries);
		break;
	case RUMOR_MSG_NOTFOUND:
		if (convert_list(core, &msg->u.notfound.entries) == 0)
			rumor_relay_on_notfound(core->relay, p->handle, core->in_entries,
						msg->u.notfound.entries.count, core->now_us);
		break;
	case RUMOR_MSG_GETDATA:
		on_getdata(core, p, &msg->u.getdata.entries);
		break;
	case RUMOR_MSG_TX:
		on_payload(core, p, RUMOR_ITEM_TX, &msg->u.tx.item, wall_us);
		break;
	case RUMOR_MSG_BLOCK:
		on_payload(core, p, RUMOR_ITEM_BLOCK, &msg->u.block.item, wall_us);
		break;
	case RUMOR_MSG_GETADDR:
	case RUMOR_MSG_ADDR:
		break; /* the peer view comes in its own issue */
	case RUMOR_MSG_HELLO:
	case RUMOR_MSG_PING:
	case RUMOR_MSG_PONG:
	case RUMOR_MSG_DISCONNECT:
		break; /* the session's own */
	}
}

/* ---- peers ---------------------------------------------------------- */

/* A dial of target ended (failed, or its connection closed). */
static void dial_ended(struct rumor_core *core, rumor_core_target target)
{
	rumor_dialer_ended(&core->dialer, target, core->now_us);
	struct rumor_dial_target *t = rumor_dialer_get(&core->dialer, target);
	if (t && t->state == RUMOR_DIAL_WAITING)
		core_log(core, RUMOR_CORE_LOG_DEBUG, "p2p: dialling %s again in %.1f s", t->label,
			 (double)(t->due_us - core->now_us) / 1e6);
}

rumor_core_peer rumor_core_peer_ready(struct rumor_core *core,
				      const struct rumor_core_peer_info *info, void *data,
				      uint64_t now_us)
{
	touch(core, now_us);
	struct core_peer *p = calloc(1, sizeof(*p));
	if (!p)
		return RUMOR_CORE_NO_PEER;
	uint64_t h;
	if (rumor_handles_put(&core->peers, p, &h) != 0) {
		free(p);
		return RUMOR_CORE_NO_PEER;
	}
	p->handle = (rumor_core_peer)h;
	p->data = data;
	memcpy(p->id, info->node_id, 32);
	p->outbound = info->outbound ? 1 : 0;
	p->target = info->target;
	snprintf(p->addr, sizeof(p->addr), "%s", info->addr ? info->addr : "");
	rumor_bucket_init(&p->msg_bucket, core->cfg.peer_msg_rate, core->cfg.peer_msg_burst,
			  core->now_us);
	rumor_bucket_init(&p->byte_bucket, core->cfg.peer_byte_rate, core->cfg.peer_byte_burst,
			  core->now_us);
	rumor_bucket_init(&p->serve_bucket, core->cfg.serve_rate, core->cfg.serve_burst,
			  core->now_us);
	p->window_start_us = core->now_us;
	struct rumor_dial_target *t = rumor_dialer_get(&core->dialer, info->target);

	if (info->hello_nonce == core->cfg.hello_nonce) {
		if (t && t->state != RUMOR_DIAL_GIVEN_UP) {
			rumor_dialer_give_up(&core->dialer, info->target);
			core_log(core, RUMOR_CORE_LOG_WARN,
				 "p2p: --connect=%s is this node itself; not dialling it again",
				 t->label);
		}
		close_peer(core, p, RUMOR_DISCONNECT_SELF,
			   "connected to ourselves (hello nonce matches ours)");
		return p->handle;
	}
	if (info->target != RUMOR_CORE_NO_TARGET && !t) {
		close_peer(core, p, RUMOR_DISCONNECT_REQUESTED,
			   "peer removed by the operator (addnode remove)");
		return p->handle;
	}
	if (core->shutting_down) {
		close_peer(core, p, RUMOR_DISCONNECT_SHUTDOWN, "node is shutting down");
		return p->handle;
	}
	struct core_peer *other = rumor_idmap_get(&core->by_id, p->id);
	if (other) {
		/* Both nodes dialled each other at once: each side keeps the
		 * connection the node with the lower id initiated, so both close
		 * the same one.  Otherwise the newer connection goes. */
		int mine = p->outbound, other_mine = other->outbound;
		int keep_new = 0;
		if (mine != other_mine) {
			int we_are_lower = memcmp(core->cfg.node_id, p->id, 32) < 0;
			keep_new = we_are_lower ? mine : !mine;
		}
		if (!keep_new) {
			close_peer(core, p, RUMOR_DISCONNECT_DUPLICATE,
				   "already connected to this node");
			return p->handle;
		}
		close_peer(core, other, RUMOR_DISCONNECT_DUPLICATE,
			   "already connected to this node (simultaneous dials: keeping the "
			   "connection the lower node id initiated)");
	}
	int rc = rumor_relay_peer_add(core->relay, p->handle, p->outbound, core->now_us);
	if (rc == 0)
		rc = rumor_idmap_put(&core->by_id, p->id, p);
	if (rc != 0) {
		close_peer(core, p, RUMOR_DISCONNECT_TOO_MANY,
			   rc == -ENOSPC ? "too many peers" : "out of memory");
		return p->handle;
	}
	p->in_map = 1;
	hold_update(core, p); /* held from the start when the peers' share is full */
	if (t)
		rumor_dialer_connected(&core->dialer, info->target, p->handle);
	return p->handle;
}

int rumor_core_peer_is_closing(const struct rumor_core *core, rumor_core_peer peer)
{
	struct core_peer *p = peer_get(core, peer);
	return !p || p->closing;
}

void rumor_core_peer_closed(struct rumor_core *core, rumor_core_peer peer, uint16_t code,
			    uint64_t now_us)
{
	touch(core, now_us);
	struct core_peer *p = peer_get(core, peer);
	if (!p)
		return;
	rumor_relay_peer_remove(core->relay, p->handle, core->now_us);
	if (p->in_map) {
		rumor_idmap_del(&core->by_id, p->id);
		p->in_map = 0;
	}
	struct rumor_dial_target *t = rumor_dialer_get(&core->dialer, p->target);
	if (t && (t->state == RUMOR_DIAL_DIALING ||
		  (t->state == RUMOR_DIAL_CONNECTED && t->peer == p->handle))) {
		if (code == RUMOR_DISCONNECT_SELF) {
			core_log(core, RUMOR_CORE_LOG_WARN,
				 "p2p: --connect=%s is this node itself; not dialling it again",
				 t->label);
			rumor_dialer_give_up(&core->dialer, p->target);
		}
		dial_ended(core, p->target);
	}
	/* Its queued serve job finds it gone and ends; its waiting ones end
	 * here.  Its pipeline items stay counted in peer_items until they
	 * end. */
	serve_wait_free(core, p);
	watch_clear(core, p);
	rumor_handles_del(&core->peers, peer);
	free(p);
}

void rumor_core_dial_failed(struct rumor_core *core, rumor_core_target target, uint16_t code,
			    uint64_t now_us)
{
	touch(core, now_us);
	struct rumor_dial_target *t = rumor_dialer_get(&core->dialer, target);
	if (!t || t->state != RUMOR_DIAL_DIALING)
		return;
	if (code == RUMOR_DISCONNECT_SELF && t->state != RUMOR_DIAL_GIVEN_UP) {
		core_log(core, RUMOR_CORE_LOG_WARN,
			 "p2p: --connect=%s is this node itself; not dialling it again", t->label);
		rumor_dialer_give_up(&core->dialer, target);
	}
	dial_ended(core, target);
}

int rumor_core_target_add(struct rumor_core *core, const struct rumor_core_addr *addr, int onetry,
			  uint64_t now_us, rumor_core_target *out)
{
	touch(core, now_us);
	if (core->shutting_down)
		return -ESHUTDOWN;
	return rumor_dialer_add(&core->dialer, addr, onetry, core->now_us, out);
}

int rumor_core_target_remove(struct rumor_core *core, const struct rumor_core_addr *addr,
			     uint64_t now_us)
{
	touch(core, now_us);
	rumor_core_peer peer;
	int rc = rumor_dialer_remove(&core->dialer, addr, &peer);
	if (rc != 0)
		return rc;
	struct core_peer *p = peer_live(core, peer);
	if (p)
		close_peer(core, p, RUMOR_DISCONNECT_REQUESTED,
			   "peer removed by the operator (addnode remove)");
	return 0;
}

rumor_core_target rumor_core_find_target(const struct rumor_core *core,
					 const struct rumor_core_addr *addr)
{
	return rumor_dialer_find(&core->dialer, addr);
}

int rumor_core_disconnect(struct rumor_core *core, const uint8_t node_id[32], uint64_t now_us)
{
	touch(core, now_us);
	struct core_peer *p = rumor_idmap_get(&core->by_id, node_id);
	if (!p)
		return -ENOENT;
	close_peer(core, p, RUMOR_DISCONNECT_REQUESTED, "disconnected by the operator");
	return 0;
}

rumor_core_peer rumor_core_find_peer(const struct rumor_core *core, const uint8_t node_id[32])
{
	struct core_peer *p = rumor_idmap_get(&core->by_id, node_id);
	return p ? p->handle : RUMOR_CORE_NO_PEER;
}

/* ---- draining ------------------------------------------------------- */

static void action_clear(struct rumor_core_action *out)
{
	memset(out, 0, sizeof(*out));
	out->type = RUMOR_CORE_NONE;
	out->peer = RUMOR_CORE_NO_PEER;
	out->target = RUMOR_CORE_NO_TARGET;
}

/* One pending record as an action; 0 when it no longer applies. */
static int pending_action(struct rumor_core *core, struct pending *pe,
			  struct rumor_core_action *out)
{
	switch (pe->type) {
	case P_CLOSE: {
		struct core_peer *p = peer_get(core, pe->peer);
		if (!p)
			return 0;
		out->type = RUMOR_CORE_CLOSE;
		out->peer = p->handle;
		out->peer_data = p->data;
		out->code = pe->code;
		memcpy(core->reason_buf, pe->reason, sizeof(core->reason_buf));
		out->reason = core->reason_buf;
		return 1;
	}
	case P_VERIFY: {
		struct sub *sub = rumor_handles_get(&core->jobs, pe->job);
		if (sub && sub->state == SUB_BLOCK_VERIFY_QUEUED) {
			sub->state = SUB_BLOCK_VERIFYING;
			out->type = RUMOR_CORE_VERIFY;
			out->job = sub->job;
			out->item = &sub->hb->item;
			return 1;
		}
		if (!sub || sub->state != SUB_VERIFY_QUEUED)
			return 0;
		sub->state = SUB_VERIFYING;
		out->type = RUMOR_CORE_VERIFY;
		out->job = sub->job;
		out->item = &sub->item;
		return 1;
	}
	case P_PUT: {
		struct sub *sub = rumor_handles_get(&core->jobs, pe->job);
		if (!sub || (sub->state != SUB_WRITING && sub->state != SUB_WRITING_SYNC))
			return 0;
		sub->last_put_sync = sub->state == SUB_WRITING_SYNC || sub->rpc_waiter;
		out->type = RUMOR_CORE_STORE_PUT;
		out->job = sub->job;
		out->item = &sub->item;
		out->first_seen_us = sub->first_seen_us;
		out->source = sub->from_peer ? "peer" : "rpc";
		out->source_peer = sub->from_peer ? sub->peer_id : NULL;
		out->sync = sub->last_put_sync;
		return 1;
	}
	case P_PAUSE:
	case P_RESUME: {
		struct core_peer *p = peer_live(core, pe->peer);
		if (!p)
			return 0;
		out->type = pe->type == P_PAUSE ? RUMOR_CORE_READ_PAUSE : RUMOR_CORE_READ_RESUME;
		out->peer = p->handle;
		out->peer_data = p->data;
		out->until_us = pe->type == P_PAUSE ? p->resume_at_us : 0;
		return 1;
	}
	case P_REPLY:
		out->type = RUMOR_CORE_REPLY;
		out->job = pe->job;
		out->status = pe->status;
		memcpy(core->reason_buf, pe->reason, sizeof(core->reason_buf));
		out->reason = pe->code ? core->reason_buf : NULL;
		if (pe->has_id) {
			memcpy(core->reply_id, pe->id, 32);
			out->id = core->reply_id;
		}
		return 1;
	}
	return 0;
}

/* The gathered checks as STORE_HAS queries: all the small ones in one,
 * and each check of more than RUMOR_CORE_HAS_SMALL ids (a big block's or
 * inv's) in one of its own, after them (core.h STORE_HAS). */
static int checks_action(struct rumor_core *core, struct rumor_core_action *out)
{
	int any_small = 0;
	for (struct check *c = core->checks; c && !any_small; c = c->next)
		any_small = c->n_ids <= RUMOR_CORE_HAS_SMALL;
	struct check *take = NULL, **take_tail = &take;
	struct check *keep = NULL, **keep_tail = &keep;
	uint32_t take_ids = 0;
	struct check *c = core->checks;
	while (c) {
		struct check *next = c->next;
		c->next = NULL;
		int small = c->n_ids <= RUMOR_CORE_HAS_SMALL;
		if (any_small ? small : !take) {
			*take_tail = c;
			take_tail = &c->next;
			take_ids += c->n_ids;
		} else {
			*keep_tail = c;
			keep_tail = &c->next;
		}
		c = next;
	}
	core->checks = keep;
	core->checks_tail = keep ? keep_tail : &core->checks;
	core->checks_ids -= take_ids;

	/* A big check is a query of its own, which borrows its ids (the
	 * check lives until the answer): no copy of up to 4 MiB. */
	int own = any_small;
	struct query *q = calloc(1, sizeof(*q));
	uint8_t *ids = own ? malloc((size_t)take_ids * 32 + 1) : NULL;
	uint64_t h = 0;
	if (!q || (own && !ids) || rumor_handles_put(&core->queries, q, &h) != 0) {
		free(q);
		free(ids);
		/* Not even memory to ask: answer as a failed store. */
		c = take;
		while (c) {
			struct check *next = c->next;
			if (c->type == CHECK_SUB) {
				struct sub *sub = rumor_handles_get(&core->jobs, c->job);
				if (sub)
					sub->state = SUB_CHECKING;
			}
			check_answered(core, c, NULL);
			check_free(core, c);
			c = next;
		}
		return 0;
	}
	uint32_t off = 0;
	for (c = take; c; c = c->next) {
		if (own)
			memcpy(ids + 32 * (size_t)off, check_ids(c), (size_t)c->n_ids * 32);
		off += c->n_ids;
		if (c->type == CHECK_SUB) {
			struct sub *sub = rumor_handles_get(&core->jobs, c->job);
			if (sub && sub->state == SUB_CHECK)
				sub->state = SUB_CHECKING;
		}
	}
	q->type = Q_HAS;
	q->checks = take;
	q->n_ids = off;
	q->ids = ids;
	core->dyn_bytes += query_bytes(q);
	out->type = RUMOR_CORE_STORE_HAS;
	out->job = h;
	out->ids = own ? ids : check_ids(take);
	out->count = off;
	return 1;
}

/* Serves one item: SEND it, charged to the peer's serving budget (the
 * bucket may go into debt: the item is in hand, and the next entry waits
 * for the refill). */
static void send_item(struct rumor_core *core, struct rumor_core_action *out, struct core_peer *p,
		      uint8_t kind, const uint8_t *bytes, size_t len)
{
	assert(len <= RUMOR_ITEM_SIZE_MAX);
	rumor_bucket_take(&p->serve_bucket, len, core->now_us);
	memset(&core->msg, 0, sizeof(core->msg));
	core->msg.type = kind == RUMOR_ITEM_TX ? RUMOR_MSG_TX : RUMOR_MSG_BLOCK;
	core->msg.u.tx.item.ptr = bytes;
	core->msg.u.tx.item.len = (uint32_t)len;
	out->type = RUMOR_CORE_SEND;
	out->peer = p->handle;
	out->peer_data = p->data;
	out->msg = &core->msg;
}

/* Ends the head job; the peer's next waiting job (if any) takes its place
 * at the back of the queue, so the queue holds one job per peer and the
 * round robin is across peers, whatever number of getdata each sent. */
static void serve_pop(struct rumor_core *core)
{
	struct serve *s = core->serve_head;
	core->serve_head = s->next;
	if (!core->serve_head)
		core->serve_tail = &core->serve_head;
	assert(core->n_serves > 0);
	core->n_serves--;
	struct core_peer *p = peer_get(core, s->peer);
	serve_free(core, s);
	if (!p)
		return;
	struct serve *next = p->wait_head;
	if (next) {
		p->wait_head = next->next;
		if (!p->wait_head)
			p->wait_tail = NULL;
		serve_enqueue(core, next);
	} else {
		p->serving = 0;
	}
}


/* The head job goes behind the others (round robin across peers: the
 * queue holds one job per peer). */
static void serve_rotate(struct rumor_core *core)
{
	struct serve *s = core->serve_head;
	if (!s || !s->next)
		return;
	core->serve_head = s->next;
	s->next = NULL;
	*core->serve_tail = s;
	core->serve_tail = &s->next;
}

/* A peer with getdata waiting whose output stayed over the window for
 * serve_stall_us: it does not read what it asked for.  1 when closed. */
static int serve_stalled(struct rumor_core *core, struct core_peer *p)
{
	if (!p->blocked_since_us || core->now_us - p->blocked_since_us < core->cfg.serve_stall_us)
		return 0;
	core->serve_stall_closes++;
	core_log(core, RUMOR_CORE_LOG_INFO,
		 "p2p: closing %s: its output queue stayed over %zu bytes for %llu s with getdata "
		 "waiting",
		 p->addr, core->cfg.serve_window_bytes,
		 (unsigned long long)(core->cfg.serve_stall_us / 1000000));
	close_peer(core, p, RUMOR_DISCONNECT_TIMEOUT,
		   "does not read what it asked for (output queue full while getdata waits)");
	return 1;
}

/* One step of serving the oldest getdata: 1 with an action in out, 0 when
 * nothing to do now (waiting for the store, or nothing queued). */
static int serve_step(struct rumor_core *core, struct rumor_core_action *out)
{
	uint32_t skipped = 0; /* jobs passed over in this call (window full) */
	while (core->serve_head && skipped < core->n_serves) {
		struct serve *s = core->serve_head;
		struct core_peer *p = peer_live(core, s->peer);
		if (!p) { /* closing: stop serving it */
			serve_pop(core);
			continue;
		}
		if (s->got && s->got_sent) { /* sent last step; the borrow is over */
			s->got_sent = 0;
			core->dyn_bytes -= s->got_len;
			free(s->got);
			s->got = NULL;
			s->got_len = 0;
		}
		if (s->query)
			return 0; /* waiting for STORE_GET */
		if (s->answered) {
			s->answered = 0;
			const struct rumor_relay_inv_entry *want = &s->want[s->pos];
			s->pos++;
			if (s->got_status == 0 && s->got) {
				s->want[s->n_served++] = *want;
				s->got_sent = 1;
				send_item(core, out, p, want->kind, s->got, s->got_len);
				if (s->pos < s->count)
					serve_rotate(core);
				return 1;
			}
			s->missing[s->n_missing].kind = want->kind;
			memcpy(s->missing[s->n_missing].id, want->id, RUMOR_ID_SIZE);
			s->n_missing++;
			continue;
		}
		if (s->pos < s->count) {
			if (rumor_bucket_level(&p->serve_bucket, core->now_us) < 0) {
				/* Over its serving budget: the rest of its
				 * entries wait for the refill (handle_expiry at
				 * ready_at ends the wait); other peers go on. */
				serve_wait_set(core, p,
					       rumor_bucket_ready_at(&p->serve_bucket, core->now_us));
				serve_rotate(core);
				skipped++;
				continue;
			}
			serve_wait_set(core, p, 0);
			if (p->out_queued >= core->cfg.serve_window_bytes) {
				/* Paced by the peer's output: wait for it to drain. */
				serve_blocked_set(core, p, 1);
				if (serve_stalled(core, p))
					continue; /* closing: popped next round */
				serve_rotate(core);
				skipped++;
				continue;
			}
			serve_blocked_set(core, p, 0);
			const struct rumor_relay_inv_entry *want = &s->want[s->pos];
			const struct rumor_itemcache_entry *e = rumor_itemcache_get(&core->cache, want->id);
			if (e && e->kind == want->kind) {
				s->want[s->n_served++] = *want;
				s->pos++;
				send_item(core, out, p, e->kind, e->bytes, e->len);
				if (s->pos < s->count)
					serve_rotate(core);
				return 1;
			}
			if (e || (want->kind != RUMOR_ITEM_TX && want->kind != RUMOR_ITEM_BLOCK)) {
				s->missing[s->n_missing].kind = want->kind;
				memcpy(s->missing[s->n_missing].id, want->id, RUMOR_ID_SIZE);
				s->n_missing++;
				s->pos++;
				continue;
			}
			if (core->serve_turn >= core->cfg.serve_turn_max) {
				/* Enough store reads for this event: the rest at the
				 * next handle_expiry (due at once), so other work and
				 * other peers are not starved. */
				core->serve_yield = 1;
				return 0;
			}
			core->serve_turn++;
			struct query *q = calloc(1, sizeof(*q));
			uint64_t h;
			if (!q || rumor_handles_put(&core->queries, q, &h) != 0) {
				free(q);
				s->answered = 1;
				s->got_status = -1;
				continue;
			}
			q->type = Q_GET;
			q->serve = s;
			s->query = h;
			core->dyn_bytes += sizeof(*q);
			out->type = RUMOR_CORE_STORE_GET;
			out->job = h;
			out->ids = want->id;
			out->count = 1;
			out->kind = want->kind;
			return 1;
		}
		/* Done: only what was served counts as known to the peer (one
		 * that asked for an id we lack must still hear of it later). */
		rumor_relay_on_getdata(core->relay, p->handle, s->want, s->n_served);
		if (s->n_missing) {
			if (ensure_scratch(core, s->n_missing) == 0) {
				memcpy(core->out_entries, s->missing,
				       (size_t)s->n_missing * sizeof(*s->missing));
				memset(&core->msg, 0, sizeof(core->msg));
				core->msg.type = RUMOR_MSG_NOTFOUND;
				core->msg.u.notfound.entries.entries = core->out_entries;
				core->msg.u.notfound.entries.count = s->n_missing;
				out->type = RUMOR_CORE_SEND;
				out->peer = p->handle;
				out->peer_data = p->data;
				out->msg = &core->msg;
				serve_pop(core);
				return 1;
			}
		}
		serve_pop(core);
	}
	return 0;
}

static int relay_action(struct rumor_core *core, struct rumor_core_action *out)
{
	for (;;) {
		struct rumor_relay_action a;
		rumor_relay_next_action(core->relay, &a);
		if (a.type == RUMOR_RELAY_NONE)
			return 0;
		struct core_peer *p = peer_live(core, a.peer);
		if (!p)
			continue;
		switch (a.type) {
		case RUMOR_RELAY_NONE:
			return 0;
		case RUMOR_RELAY_SEND_INV:
		case RUMOR_RELAY_SEND_GETDATA: {
			if (ensure_scratch(core, a.count ? a.count : 1) != 0)
				continue;
			for (uint32_t i = 0; i < a.count; i++) {
				core->out_entries[i].kind = a.entries[i].kind;
				memcpy(core->out_entries[i].id, a.entries[i].id, RUMOR_ID_SIZE);
			}
			memset(&core->msg, 0, sizeof(core->msg));
			core->msg.type =
				a.type == RUMOR_RELAY_SEND_INV ? RUMOR_MSG_INV : RUMOR_MSG_GETDATA;
			core->msg.u.inv.entries.entries = core->out_entries;
			core->msg.u.inv.entries.count = a.count;
			out->type = RUMOR_CORE_SEND;
			out->peer = p->handle;
			out->peer_data = p->data;
			out->msg = &core->msg;
			return 1;
		}
		case RUMOR_RELAY_DISCONNECT: {
			char hex[65];
			hex32(p->id, hex);
			core_log(core, RUMOR_CORE_LOG_INFO, "relay: disconnecting peer %s: %s", hex,
				 a.reason);
			close_peer(core, p, RUMOR_DISCONNECT_MISBEHAVIOUR, a.reason);
			return 2; /* the CLOSE is queued */
		}
		}
	}
}

static void next_action(struct rumor_core *core, struct rumor_core_action *out);

void rumor_core_next_action(struct rumor_core *core, struct rumor_core_action *out)
{
	next_action(core, out);
	if (out->type != RUMOR_CORE_SEND)
		return;
	/* Counted in the peer's output queue until the shell reports it. */
	struct core_peer *p = peer_get(core, out->peer);
	size_t len = 0;
	if (p && rumor_msg_encoded_size(out->msg, &len) == 0)
		p->out_queued += rumor_frame_encoded_size(len);
}

static void next_action(struct rumor_core *core, struct rumor_core_action *out)
{
	action_clear(out);
	for (;;) {
		struct pending *pe = pending_pop(core);
		if (!pe)
			break;
		int ok = pending_action(core, pe, out);
		free(pe);
		if (ok)
			return;
		action_clear(out);
	}
	if (core->checks && checks_action(core, out))
		return;
	if (core->pend) { /* a failed check queued outcomes */
		next_action(core, out);
		return;
	}
	if (core->shutting_down)
		return;
	rumor_core_target t;
	struct rumor_dial_target *dt = rumor_dialer_next_due(&core->dialer, core->now_us, &t);
	if (dt) {
		core->dial_addr = dt->addr;
		out->type = RUMOR_CORE_DIAL;
		out->target = t;
		out->addr = &core->dial_addr;
		return;
	}
	if (serve_step(core, out))
		return;
	int r = relay_action(core, out);
	if (r == 2) {
		next_action(core, out);
		return;
	}
	if (r == 0)
		action_clear(out);
}

uint64_t rumor_core_expiry(const struct rumor_core *core)
{
	if (core->shutting_down)
		return UINT64_MAX;
	uint64_t t = rumor_relay_expiry(core->relay);
	uint64_t u = rumor_blockpool_next_deadline(&core->pending_pool);
	if (u < t)
		t = u;
	u = rumor_blockpool_next_deadline(&core->orphan_pool);
	if (u < t)
		t = u;
	u = rumor_dialer_expiry(&core->dialer);
	if (u < t)
		t = u;
	if (core->store_err_quiet) {
		u = core->store_err_logged_us + STORE_ERR_LOG_US;
		if (u < t)
			t = u;
	}
	if (core->serve_yield && core->serve_head && core->now_us < t)
		t = core->now_us;
	if (core->n_watch) {
		for (uint32_t i = 0; i < core->peers.used; i++) {
			uint64_t h;
			const struct core_peer *p = rumor_handles_at(&core->peers, i, &h);
			if (!p || p->closing)
				continue;
			if (p->paused && p->resume_at_us < t)
				t = p->resume_at_us;
			if (p->serve_wait_until_us && p->serve_wait_until_us < t)
				t = p->serve_wait_until_us;
			if (p->blocked_since_us && p->blocked_since_us + core->cfg.serve_stall_us < t)
				t = p->blocked_since_us + core->cfg.serve_stall_us;
		}
	}
	return t;
}

void rumor_core_handle_expiry(struct rumor_core *core, uint64_t now_us)
{
	touch(core, now_us);
	if (core->shutting_down)
		return;
	rumor_relay_run_timers(core->relay, core->now_us);
	core->serve_yield = 0;
	core->serve_turn = 0;
	for (uint32_t i = 0; core->n_watch && i < core->peers.used; i++) {
		uint64_t h;
		struct core_peer *p = rumor_handles_at(&core->peers, i, &h);
		if (!p || p->closing)
			continue;
		if (p->paused && p->resume_at_us <= core->now_us)
			resume_peer(core, p);
		if (p->serve_wait_until_us && p->serve_wait_until_us <= core->now_us)
			serve_wait_set(core, p, 0); /* served at the next drain */
		if (p->closing || !p->blocked_since_us)
			continue;
		if (!p->serve_queued)
			serve_blocked_set(core, p, 0);
		else
			serve_stalled(core, p);
	}
	pools_expire(core, &core->pending_pool);
	pools_expire(core, &core->orphan_pool);
	if (core->store_err_quiet && core->now_us - core->store_err_logged_us >= STORE_ERR_LOG_US)
		store_failed_flush(core);
}

void rumor_core_shutdown(struct rumor_core *core, uint64_t now_us)
{
	touch(core, now_us);
	if (core->shutting_down)
		return;
	core->shutting_down = 1;
	store_failed_flush(core);
	/* Refuse what is queued but not yet verifying. */
	for (uint32_t i = 0; i < core->jobs.used; i++) {
		uint64_t h;
		struct sub *sub = rumor_handles_at(&core->jobs, i, &h);
		if (sub && (sub->state == SUB_CHECK || sub->state == SUB_CHECKING ||
			    sub->state == SUB_VERIFY_QUEUED))
			finish(core, sub, RUMOR_SUBMIT_ESHUTDOWN, "node is shutting down");
		else if (sub && sub->state == SUB_BLOCK_VERIFY_QUEUED)
			block_verified(core, sub, NULL, 1);
	}
	rumor_blockpool_free(&core->pending_pool);
	rumor_blockpool_free(&core->orphan_pool);
	while (core->serve_head)
		serve_pop(core);
}

int rumor_core_idle(const struct rumor_core *core)
{
	return core->jobs.count == 0 && core->pend == NULL;
}

/* ---- life cycle ----------------------------------------------------- */

void rumor_core_config_default(struct rumor_core_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	rumor_relay_config_default(&cfg->relay);
	cfg->relay.max_peers = 1024;
	cfg->max_peers = 1024;
	cfg->pending_max = 65536;
	cfg->pending_bytes_max = (size_t)256 * 1024 * 1024;
	cfg->cache_items = 4096;
	cfg->cache_bytes = (size_t)64 * 1024 * 1024;
	cfg->pool_blocks = 64;
	cfg->pool_bytes = (size_t)32 * 1024 * 1024;
	cfg->pool_timeout_us = 60000000;
	cfg->block_slice = 8192;
	cfg->serve_max = 1000;
	cfg->redial_min_us = 1000000;
	cfg->redial_max_us = 60000000;
	cfg->targets_max = 256;
	cfg->recent_ids = 65536;
	cfg->peer_msg_rate = 100000;
	cfg->peer_msg_burst = 200000;
	cfg->peer_byte_rate = UINT64_C(16) << 20;
	cfg->peer_byte_burst = UINT64_C(16) << 20;
	cfg->abuse_window_us = 60000000;
	cfg->abuse_paused_pct = 50;
	cfg->peer_pipeline_max = 8192;
	cfg->rpc_reserve = cfg->pending_max / 4;
	cfg->rpc_reserve_bytes = cfg->pending_bytes_max / 4;
	cfg->serve_window_bytes = (size_t)4 << 20;
	cfg->serve_turn_max = 64;
	cfg->serve_stall_us = 120000000;
	/* Serving budget: serving a 4 MiB block costs the loop about 6 ms
	 * (encoding, framing, ChaCha20-Poly1305 of 4 MiB: bench-transport
	 * raw measures ~550 MB/s for encryption and decryption together on
	 * the 2-core development machine), so 8 MiB/s bounds one peer's
	 * serving to about 12 ms of loop time per second, whatever it asks.
	 * An honest peer never notices: it asks each block once, and 8 MiB/s
	 * is two full blocks (or some 30 000 transactions of 250 bytes) a
	 * second, above what a node accepts; the burst of 32 MiB (eight full
	 * blocks) serves a peer that asks for several blocks at once (a parent
	 * chain) without a wait; past it each full block is served 0.5 s
	 * after the one before, so a few more still arrive inside the
	 * requester's 2 s request timeout. */
	cfg->serve_rate = RUMOR_CORE_SERVE_RATE_DEFAULT;
	cfg->serve_burst = RUMOR_CORE_SERVE_BURST_DEFAULT;
}

int rumor_core_new(struct rumor_core **out, const struct rumor_core_config *cfg, uint64_t now_us)
{
	*out = NULL;
	if (!cfg->network || !cfg->max_peers || cfg->max_peers >= 0xffff || !cfg->pending_max ||
	    !cfg->pending_bytes_max || !cfg->cache_items || !cfg->cache_bytes || !cfg->pool_blocks ||
	    !cfg->block_slice || !cfg->pool_bytes || !cfg->pool_timeout_us || !cfg->serve_max ||
	    !cfg->redial_min_us ||
	    cfg->redial_max_us < cfg->redial_min_us || !cfg->targets_max ||
	    cfg->targets_max >= 0xffff || !cfg->recent_ids || !cfg->peer_msg_rate ||
	    cfg->peer_msg_rate > RUMOR_BUCKET_MAX || !cfg->peer_msg_burst ||
	    cfg->peer_msg_burst > RUMOR_BUCKET_MAX || !cfg->peer_byte_rate ||
	    cfg->peer_byte_rate > RUMOR_BUCKET_MAX || !cfg->peer_byte_burst ||
	    cfg->peer_byte_burst > RUMOR_BUCKET_MAX || !cfg->abuse_window_us ||
	    !cfg->abuse_paused_pct || cfg->abuse_paused_pct > 100 || !cfg->peer_pipeline_max ||
	    !cfg->serve_window_bytes || !cfg->serve_turn_max || !cfg->serve_stall_us ||
	    !cfg->serve_rate || cfg->serve_rate > RUMOR_BUCKET_MAX || !cfg->serve_burst ||
	    cfg->serve_burst > RUMOR_BUCKET_MAX)
		return -EINVAL;
	struct rumor_core *core = calloc(1, sizeof(*core));
	if (!core)
		return -ENOMEM;
	core->cfg = *cfg;
	/* The reserve leaves peers at least one item and some bytes. */
	if (core->cfg.rpc_reserve >= cfg->pending_max)
		core->cfg.rpc_reserve = cfg->pending_max - 1;
	if (core->cfg.rpc_reserve_bytes >= cfg->pending_bytes_max)
		core->cfg.rpc_reserve_bytes = cfg->pending_bytes_max / 2;
	core->now_us = now_us;
	uint64_t x = 0;
	for (int i = 0; i < 4; i++) {
		uint64_t part;
		memcpy(&part, cfg->seed + 8 * i, 8);
		x ^= part;
		core->rng.s[i] = rumor_splitmix64(&x);
	}
	uint8_t k_relay[16], k_peers[16], k_flight[16], k_cache[16], k_recent[16], k_blocks[16];
	rumor_rng_bytes(&core->rng, k_relay, 16);
	rumor_rng_bytes(&core->rng, k_peers, 16);
	rumor_rng_bytes(&core->rng, k_flight, 16);
	rumor_rng_bytes(&core->rng, k_cache, 16);
	rumor_rng_bytes(&core->rng, k_recent, 16);
	rumor_rng_bytes(&core->rng, k_blocks, 16);
	/* derived, so that the random stream (and every seed's replay) stays
	 * as it was */
	for (int i = 0; i < 16; i++)
		core->pool_key[i] = (uint8_t)(k_blocks[i] ^ 0xa5);

	struct rumor_relay_config rc = cfg->relay;
	memcpy(rc.hash_key, k_relay, 16);
	rc.random_u64 = relay_random;
	rc.is_known = relay_is_known;
	rc.ctx = core;
	rc.max_peers = cfg->max_peers; /* one limit: the core's */
	core->pend_tail = &core->pend;
	core->checks_tail = &core->checks;
	core->serve_tail = &core->serve_head;
	rumor_handles_init(&core->peers, cfg->max_peers, 16);
	rumor_handles_init(&core->jobs, cfg->pending_max, 32);
	rumor_handles_init(&core->queries, UINT32_MAX - 1, 32);
	rumor_dialer_init(&core->dialer, cfg->targets_max, cfg->redial_min_us, cfg->redial_max_us);
	rumor_blockpool_init(&core->pending_pool, "pending", cfg->pool_blocks, cfg->pool_bytes);
	rumor_blockpool_init(&core->orphan_pool, "orphan", cfg->pool_blocks, cfg->pool_bytes);
	rumor_idset_init(&core->recent, cfg->recent_ids, k_recent);
	int rc_code = rumor_relay_new(&core->relay, &rc);
	if (rc_code != 0) {
		free(core);
		return rc_code;
	}
	if (rumor_idmap_init(&core->by_id, cfg->max_peers, k_peers) != 0 ||
	    rumor_idmap_init(&core->in_flight, cfg->pending_max, k_flight) != 0 ||
	    rumor_idmap_init(&core->checking_blocks, SIZE_MAX / 2, k_blocks) != 0 ||
	    rumor_idmap_init(&core->verifying_blocks, cfg->pending_max, k_blocks) != 0 ||
	    rumor_itemcache_init(&core->cache, cfg->cache_items, cfg->cache_bytes, k_cache) != 0) {
		rumor_core_del(core);
		return -ENOMEM;
	}
	*out = core;
	return 0;
}

void rumor_core_del(struct rumor_core *core)
{
	if (!core)
		return;
	for (uint32_t i = 0; i < core->jobs.used; i++) {
		uint64_t h;
		struct sub *sub = rumor_handles_at(&core->jobs, i, &h);
		if (!sub)
			continue;
		struct waiter *w = sub->more;
		while (w) {
			struct waiter *next = w->next;
			free(w);
			w = next;
		}
		free(sub->bytes);
		if (sub->hb)
			rumor_held_block_free(sub->hb);
		free(sub);
	}
	for (uint32_t i = 0; i < core->queries.used; i++) {
		uint64_t h;
		struct query *q = rumor_handles_at(&core->queries, i, &h);
		if (!q)
			continue;
		if (q->type == Q_GET)
			q->serve->query = 0;
		struct check *c = q->checks;
		while (c) {
			struct check *next = c->next;
			check_free(core, c);
			c = next;
		}
		free(q->ids);
		free(q);
	}
	while (core->checks) {
		struct check *c = core->checks;
		core->checks = c->next;
		check_free(core, c);
	}
	while (core->serve_head)
		serve_pop(core);
	while (core->pend)
		free(pending_pop(core));
	for (uint32_t i = 0; i < core->peers.used; i++) {
		uint64_t h;
		free(rumor_handles_at(&core->peers, i, &h));
	}
	rumor_handles_free(&core->peers);
	rumor_handles_free(&core->jobs);
	rumor_handles_free(&core->queries);
	rumor_dialer_free(&core->dialer);
	rumor_blockpool_free(&core->pending_pool);
	rumor_blockpool_free(&core->orphan_pool);
	rumor_idset_free(&core->recent);
	rumor_relay_del(core->relay);
	rumor_idmap_free(&core->by_id);
	rumor_idmap_free(&core->in_flight);
	rumor_idmap_free(&core->checking_blocks);
	rumor_idmap_free(&core->verifying_blocks);
	rumor_itemcache_free(&core->cache);
	free(core->in_entries);
	free(core->out_entries);
	free(core->dup_scratch);
	free(core->dup_mark);
	free(core);
}

/* ---- queries -------------------------------------------------------- */

void rumor_core_get_stats(const struct rumor_core *core, struct rumor_core_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->accepted_tx = core->accepted_tx;
	out->accepted_block = core->accepted_block;
	out->accepted_rpc = core->accepted_rpc;
	out->accepted_peer = core->accepted_peer;
	out->invalid_received = core->invalid_received;
	out->pending_blocks = core->pending_pool.count;
	out->orphan_blocks = core->orphan_pool.count;
	out->cache_items = core->cache.count;
	out->cache_bytes = core->cache.bytes;
	out->in_flight = (uint32_t)core->in_flight.count;
	out->in_flight_bytes = core->in_flight_bytes;
	out->peers = (uint32_t)core->by_id.count;
	out->peer_items = core->peer_items;
	out->throttle_pauses = core->throttle_pauses;
	out->throttle_closes = core->throttle_closes;
	out->serve_blocked = core->serve_blocked;
	out->serve_stall_closes = core->serve_stall_closes;
	out->serve_budget_waits = core->serve_budget_waits;
	out->getdata_duplicates = core->getdata_duplicates;
	for (uint32_t i = 0; i < core->peers.used; i++) {
		uint64_t h;
		const struct core_peer *p = rumor_handles_at(&core->peers, i, &h);
		if (p && p->held)
			out->peers_held++;
	}
	rumor_relay_get_stats(core->relay, &out->relay);
}

int rumor_core_peer_stats(const struct rumor_core *core, rumor_core_peer peer,
			  struct rumor_relay_peer_stats *out)
{
	if (!peer_get(core, peer))
		return -ENOENT;
	return rumor_relay_get_peer_stats(core->relay, peer, out);
}

int rumor_core_peer_last_new(const struct rumor_core *core, rumor_core_peer peer,
			     uint64_t *tx_us, uint64_t *block_us)
{
	const struct core_peer *p = peer_get(core, peer);
	if (!p)
		return -ENOENT;
	*tx_us = p->last_new_tx_us;
	*block_us = p->last_new_block_us;
	return 0;
}

int rumor_core_peer_budget(struct rumor_core *core, rumor_core_peer peer,
			   struct rumor_core_peer_budget *out)
{
	struct core_peer *p = peer_get(core, peer);
	if (!p)
		return -ENOENT;
	memset(out, 0, sizeof(*out));
	out->paused = p->paused;
	out->pauses = p->pauses;
	out->paused_us = p->paused_total_us;
	out->msg_tokens = rumor_bucket_level(&p->msg_bucket, core->now_us);
	out->byte_tokens = rumor_bucket_level(&p->byte_bucket, core->now_us);
	out->pipeline_items = p->in_pipeline;
	out->held = p->held;
	out->serve_queued = p->serve_queued;
	out->output_queued = p->out_queued;
	out->serve_tokens = rumor_bucket_level(&p->serve_bucket, core->now_us);
	out->serve_waiting = p->serve_wait_until_us != 0;
	out->serve_waits = p->serve_waits;
	return 0;
}

void rumor_core_peer_output(struct rumor_core *core, rumor_core_peer peer, size_t queued_bytes,
			    uint64_t now_us)
{
	touch(core, now_us);
	struct core_peer *p = peer_live(core, peer);
	if (!p)
		return;
	p->out_queued = queued_bytes;
	if (queued_bytes < core->cfg.serve_window_bytes)
		serve_blocked_set(core, p, 0);
}

static size_t idmap_memory(const struct rumor_idmap *m)
{
	return m->slots ? (m->mask + 1) * sizeof(*m->slots) : 0;
}

size_t rumor_core_memory(const struct rumor_core *core)
{
	return sizeof(*core) + core->dyn_bytes + rumor_relay_memory(core->relay) +
	       rumor_handles_memory(&core->peers) +
	       (size_t)core->peers.count * sizeof(struct core_peer) +
	       rumor_handles_memory(&core->jobs) + rumor_handles_memory(&core->queries) +
	       idmap_memory(&core->by_id) + idmap_memory(&core->in_flight) +
	       idmap_memory(&core->checking_blocks) + idmap_memory(&core->verifying_blocks) + rumor_dialer_memory(&core->dialer) +
	       rumor_itemcache_memory(&core->cache) +
	       rumor_blockpool_memory(&core->pending_pool) +
	       rumor_blockpool_memory(&core->orphan_pool) + rumor_idset_memory(&core->recent) +
	       (size_t)core->in_alloc * sizeof(*core->in_entries) +
	       (size_t)core->out_alloc * sizeof(*core->out_entries) +
	       (core->dup_scratch ? (size_t)core->cfg.serve_max * (sizeof(struct dup_entry) + 1) : 0);
}
