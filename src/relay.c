/*
 * src/relay.c: see relay.h.
 *
 * Draining: every event (peer ready or closed, a message, a submission's
 * outcome, an accepted item) only feeds the relay core and "kicks": the
 * uv_check_t runs once at the end of the loop turn and drains the actions
 * (and a uv_idle_t keeps the loop from blocking in poll when the kick came
 * from a check callback that ran before ours).  The timer runs the core's
 * timers and the pools' expiry, then drains at once.  After every drain the
 * timer is re-armed at the earliest deadline.
 *
 * Action entries are borrowed until the next call into the core, and
 * carrying out an action can close a peer (a send over the output limit, a
 * DISCONNECT), whose on_closed hook runs at once: so a closed peer is only
 * marked, and rumor_relay_peer_remove is called between actions
 * (process_removals), never while an action's entries are in use, nor
 * while a message of that peer is being handled.
 *
 * Peer table: ready peers by handle (linear; the manager bounds the count).
 * An entry whose connection closed has peer == NULL until removed.
 */
#include "config.h"

#include "src/relay.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "crypto/hash.h"
#include "crypto/hex.h"
#include "crypto/idmap.h"
#include "net/io.h"
#include "net/message.h"
#include "src/log.h"
#include "src/metrics.h"
#include "src/node.h"
#include "src/peers.h"
#include "store/store.h"

/* Peers the core tracks at once (the manager's own limits are lower). */
#define RELAY_MAX_PEERS 1024

struct glue_peer {
	rumor_peer_handle handle;
	struct rumor_peer *peer; /* NULL once closed (removal pending) */
	uint8_t id[32];
};

/* A recently accepted item, for getdata. */
struct cache_entry {
	uint8_t id[RUMOR_ID_SIZE];
	uint8_t kind;
	uint8_t *bytes;
	size_t len;
};

/* A block held in the pending or orphan pool. */
struct held_block {
	uint8_t *bytes; /* owned; item points into it */
	size_t len;
	struct rumor_item item;
	rumor_peer_handle from;
	uint8_t from_id[32];
	uint64_t deadline_ms; /* uv_now */
	uint8_t *missing;     /* pending pool: ids of the transactions it waits for */
	uint32_t n_missing;
};

struct pool {
	struct held_block *blocks[RUMOR_RELAY_PENDING_BLOCKS > RUMOR_RELAY_ORPHAN_BLOCKS
					  ? RUMOR_RELAY_PENDING_BLOCKS
					  : RUMOR_RELAY_ORPHAN_BLOCKS];
	uint32_t count, max;
	size_t bytes;
	const char *name;
};

/* The outcome of one submission from a peer. */
struct peer_submission {
	struct rumor_node_relay *glue;
	rumor_peer_handle from;
	uint8_t from_id[32];
	uint8_t id[RUMOR_ID_SIZE];
	int kind;          /* for metrics */
	uint64_t start_ns; /* uv_hrtime() at submission, for metrics */
};

struct rumor_node_relay {
	uv_loop_t *loop;
	struct rumor_node *node;
	struct rumor_peers *peers;
	struct rumor_relay *core;
	uv_timer_t timer;
	uv_check_t check;
	uv_idle_t idle;
	int started, stopped;
	int draining;   /* carrying out actions: entries are borrowed */
	int in_message; /* handling a message: its struct glue_peer is in use */
	int removals;   /* some entry has peer == NULL */
	uint32_t submissions; /* peer submissions whose callback has not run */

	struct glue_peer *tab;
	size_t n_tab, cap_tab;
	rumor_peer_handle next_handle;

	/* scratch for converting lists (RUMOR_MSG_INV_MAX entries each) */
	struct rumor_relay_inv_entry *in_entries;
	struct rumor_inv_entry *out_entries;

	/* recent items: a FIFO ring with an id map */
	struct cache_entry *ring;
	size_t ring_head, ring_count;
	size_t cache_bytes;
	struct rumor_idmap cache_map;

	struct pool pending, orphans;

	uint64_t accepted_tx, accepted_block, accepted_rpc, accepted_peer;
	uint64_t invalid_received;
};

static int64_t wall_clock_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec;
}

static uint64_t now_us(void)
{
	return rumor_io_now_us();
}

static void hex32(const uint8_t *id, char out[65])
{
	rumor_hex_encode(id, 32, out);
}

/* ---- peer table -------------------------------------------------------- */

static struct glue_peer *by_handle(struct rumor_node_relay *g, rumor_peer_handle h)
{
	for (size_t i = 0; i < g->n_tab; i++)
		if (g->tab[i].handle == h)
			return &g->tab[i];
	return NULL;
}

static struct glue_peer *by_peer(const struct rumor_node_relay *g, const struct rumor_peer *p)
{
	for (size_t i = 0; i < g->n_tab; i++)
		if (g->tab[i].peer == p)
			return &g->tab[i];
	return NULL;
}

static rumor_peer_handle handle_of_id(const struct rumor_node_relay *g, const uint8_t *id)
{
	for (size_t i = 0; i < g->n_tab; i++)
		if (g->tab[i].peer && memcmp(g->tab[i].id, id, 32) == 0)
			return g->tab[i].handle;
	return RUMOR_RELAY_NO_PEER;
}

/* The live connection of a handle, or NULL. */
static struct rumor_peer *peer_of(struct rumor_node_relay *g, rumor_peer_handle h)
{
	struct glue_peer *gp = by_handle(g, h);
	return gp ? gp->peer : NULL;
}

static void process_removals(struct rumor_node_relay *g)
{
	if (!g->removals)
		return;
	g->removals = 0;
	uint64_t now = now_us();
	size_t i = 0;
	while (i < g->n_tab) {
		if (g->tab[i].peer) {
			i++;
			continue;
		}
		rumor_relay_peer_remove(g->core, g->tab[i].handle, now);
		g->tab[i] = g->tab[--g->n_tab];
	}
}

/* ---- draining and the timer ------------------------------------------- */

static void drain(struct rumor_node_relay *g);

static void on_idle(uv_idle_t *idle)
{
	(void)idle; /* only keeps poll from blocking until the check runs */
}

static void on_check(uv_check_t *check)
{
	struct rumor_node_relay *g = check->data;
	uv_check_stop(&g->check);
	uv_idle_stop(&g->idle);
	drain(g);
}

/* Drain at the end of this loop turn. */
static void kick(struct rumor_node_relay *g)
{
	if (!g->started || g->stopped)
		return;
	uv_check_start(&g->check, on_check);
	uv_idle_start(&g->idle, on_idle);
}

static void send_list(struct rumor_node_relay *g, struct rumor_peer *peer, uint16_t type,
		      const struct rumor_relay_inv_entry *entries, uint32_t count)
{
	for (uint32_t i = 0; i < count; i++) {
		g->out_entries[i].kind = entries[i].kind;
		memcpy(g->out_entries[i].id, entries[i].id, RUMOR_ID_SIZE);
	}
	struct rumor_msg m;
	memset(&m, 0, sizeof(m));
	m.type = type;
	m.u.inv.entries.entries = g->out_entries;
	m.u.inv.entries.count = count;
	int rc = rumor_peer_send(peer, &m);
	if (rc != 0)
		log_debug("relay: cannot send %s to %s: %s", rumor_msg_type_name(type),
			  rumor_peer_addr(peer), uv_strerror(rc));
}

static void do_action(struct rumor_node_relay *g, const struct rumor_relay_action *a)
{
	struct rumor_peer *peer = peer_of(g, a->peer);
	switch (a->type) {
	case RUMOR_RELAY_NONE:
		return;
	case RUMOR_RELAY_SEND_INV:
		if (peer)
			send_list(g, peer, RUMOR_MSG_INV, a->entries, a->count);
		return;
	case RUMOR_RELAY_SEND_GETDATA:
		if (peer)
			send_list(g, peer, RUMOR_MSG_GETDATA, a->entries, a->count);
		return;
	case RUMOR_RELAY_DISCONNECT:
		if (peer) {
			char hex[65];
			hex32(rumor_peer_id(peer), hex);
			log_info("relay: disconnecting peer %s: %s", hex, a->reason);
			rumor_peer_close(peer, RUMOR_DISCONNECT_MISBEHAVIOUR, a->reason);
		}
		return;
	}
}

static void pools_expire(struct rumor_node_relay *g);
static uint64_t pools_next_deadline(const struct rumor_node_relay *g);

static void on_timer(uv_timer_t *timer)
{
	struct rumor_node_relay *g = timer->data;
	if (g->stopped)
		return;
	rumor_relay_run_timers(g->core, now_us());
	pools_expire(g);
	drain(g);
}

static void rearm(struct rumor_node_relay *g)
{
	uint64_t expiry = rumor_relay_expiry(g->core);
	uint64_t delay_ms = UINT64_MAX;
	if (expiry != UINT64_MAX) {
		uint64_t now = now_us();
		delay_ms = expiry <= now ? 0 : (expiry - now + 999) / 1000;
	}
	uint64_t pool_deadline = pools_next_deadline(g);
	if (pool_deadline != UINT64_MAX) {
		uint64_t now_ms = uv_now(g->loop);
		uint64_t d = pool_deadline <= now_ms ? 0 : pool_deadline - now_ms;
		if (d < delay_ms)
			delay_ms = d;
	}
	if (delay_ms == UINT64_MAX)
		uv_timer_stop(&g->timer);
	else
		uv_timer_start(&g->timer, on_timer, delay_ms, 0);
}

static void drain(struct rumor_node_relay *g)
{
	if (g->draining || !g->started || g->stopped)
		return;
	g->draining = 1;
	for (;;) {
		process_removals(g); /* between actions: no entries in use */
		struct rumor_relay_action a;
		rumor_relay_next_action(g->core, &a);
		if (a.type == RUMOR_RELAY_NONE)
			break;
		do_action(g, &a);
	}
	g->draining = 0;
	rearm(g);
}

/* ---- recent-items cache ---------------------------------------------- */

static void cache_evict_oldest(struct rumor_node_relay *g)
{
	struct cache_entry *e = &g->ring[g->ring_head];
	void *removed = rumor_idmap_del(&g->cache_map, e->id);
	assert(removed == e);
	(void)removed;
	g->cache_bytes -= e->len;
	free(e->bytes);
	e->bytes = NULL;
	g->ring_head = (g->ring_head + 1) % RUMOR_RELAY_CACHE_ITEMS;
	g->ring_count--;
}

static void cache_put(struct rumor_node_relay *g, const struct rumor_item *item)
{
	if (item->size > RUMOR_RELAY_CACHE_BYTES || rumor_idmap_get(&g->cache_map, item->id))
		return;
	while (g->ring_count &&
	       (g->ring_count == RUMOR_RELAY_CACHE_ITEMS ||
		g->cache_bytes + item->size > RUMOR_RELAY_CACHE_BYTES))
		cache_evict_oldest(g);
	uint8_t *copy = malloc(item->size);
	if (!copy)
		return; /* served from the store instead */
	memcpy(copy, item->encoding, item->size);
	size_t slot = (g->ring_head + g->ring_count) % RUMOR_RELAY_CACHE_ITEMS;
	struct cache_entry *e = &g->ring[slot];
	memcpy(e->id, item->id, RUMOR_ID_SIZE);
	e->kind = (uint8_t)item->kind;
	e->bytes = copy;
	e->len = item->size;
	if (rumor_idmap_put(&g->cache_map, e->id, e) != 0) {
		free(copy);
		e->bytes = NULL;
		return;
	}
	g->ring_count++;
	g->cache_bytes += item->size;
}

/* ---- rejecting an item from a peer ------------------------------------ */

static void reject_item(struct rumor_node_relay *g, rumor_peer_handle from,
			const uint8_t from_id[32], const uint8_t id[RUMOR_ID_SIZE], const char *why)
{
	rumor_relay_on_rejected(g->core, id, now_us());
	g->invalid_received++;
	char peer_hex[65], id_hex[65];
	hex32(from_id, peer_hex);
	hex32(id, id_hex);
	log_info("peer %s sent an invalid item %s: %s", peer_hex, id_hex, why);
	struct rumor_peer *peer = peer_of(g, from);
	if (peer) {
		char reason[RUMOR_MSG_REASON_MAX];
		snprintf(reason, sizeof(reason), "sent an invalid item: %s", why);
		rumor_peer_close(peer, RUMOR_DISCONNECT_MISBEHAVIOUR, reason);
	}
	kick(g);
}

static void on_peer_submitted(void *arg, enum rumor_submit_status status, const char *reason,
			      const uint8_t *id)
{
	struct peer_submission *ps = arg;
	struct rumor_node_relay *g = ps->glue;
	(void)id; /* NULL when it did not decode: ps->id is the hash we computed */
	g->submissions--;
	rumor_metrics_submitted(ps->kind, RUMOR_METRICS_PEER, status, ps->start_ns);
	if (!g->stopped) {
		switch (status) {
		case RUMOR_SUBMIT_ACCEPTED: /* the accepted hook announces it */
		case RUMOR_SUBMIT_KNOWN:
			break;
		case RUMOR_SUBMIT_EDECODE:
		case RUMOR_SUBMIT_EREJECT:
			reject_item(g, ps->from, ps->from_id, ps->id,
				    reason ? reason : "invalid");
			break;
		case RUMOR_SUBMIT_ESTORE:
		case RUMOR_SUBMIT_EBUSY:
		case RUMOR_SUBMIT_ESHUTDOWN: {
			/* not the peer's fault; the id is fetched again when announced */
			char idh[65], peerh[65];
			hex32(ps->id, idh);
			hex32(ps->from_id, peerh);
			log_debug("relay: item %.16s from peer %.16s not stored: %s", idh, peerh,
				  reason ? reason : "");
			break;
		}
		}
	}
	free(ps);
}

static void submit_from_peer(struct rumor_node_relay *g, rumor_peer_handle from,
			     const uint8_t from_id[32], const uint8_t id[RUMOR_ID_SIZE],
			     const uint8_t *bytes, size_t len, int kind)
{
	struct peer_submission *ps = calloc(1, sizeof(*ps));
	if (!ps) {
		log_error("relay: out of memory submitting an item from a peer");
		return;
	}
	ps->glue = g;
	ps->from = from;
	memcpy(ps->from_id, from_id, 32);
	memcpy(ps->id, id, RUMOR_ID_SIZE);
	ps->kind = kind;
	ps->start_ns = uv_hrtime();
	g->submissions++;
	rumor_node_submit(g->node, bytes, len, kind, "peer", from_id, on_peer_submitted, ps);
}

/* ---- block pools ------------------------------------------------------ */

static void held_free(struct held_block *hb)
{
	if (!hb)
		return;
	free(hb->bytes);
	free(hb->missing);
	free(hb);
}

static int pool_has(const struct pool *pool, const uint8_t id[RUMOR_ID_SIZE])
{
	for (uint32_t i = 0; i < pool->count; i++)
		if (memcmp(pool->blocks[i]->item.id, id, RUMOR_ID_SIZE) == 0)
			return 1;
	return 0;
}

static struct held_block *pool_take(struct pool *pool, uint32_t i)
{
	struct held_block *hb = pool->blocks[i];
	memmove(&pool->blocks[i], &pool->blocks[i + 1],
		(pool->count - i - 1) * sizeof(pool->blocks[0]));
	pool->count--;
	pool->bytes -= hb->len;
	return hb;
}

static void pool_add(struct pool *pool, struct held_block *hb)
{
	while (pool->count && (pool->count >= pool->max ||
			       pool->bytes + hb->len > RUMOR_RELAY_POOL_BYTES)) {
		struct held_block *old = pool_take(pool, 0);
		char hex[65], from[65];
		hex32(old->item.id, hex);
		hex32(old->from_id, from);
		log_info("relay: %s pool full: dropping block %s from peer %.16s", pool->name, hex,
			 from);
		held_free(old);
	}
	pool->blocks[pool->count++] = hb;
	pool->bytes += hb->len;
}

static void pool_clear(struct pool *pool)
{
	while (pool->count)
		held_free(pool_take(pool, pool->count - 1));
}

static void submit_block(struct rumor_node_relay *g, struct held_block *hb)
{
	submit_from_peer(g, hb->from, hb->from_id, hb->item.id, hb->bytes, hb->len,
			 RUMOR_ITEM_BLOCK);
	held_free(hb);
}

/* A stored id (0 when not stored or the store cannot say). */
static int stored(struct rumor_node_relay *g, const uint8_t id[RUMOR_ID_SIZE])
{
	struct rumor_store *store = rumor_node_store(g->node);
	return store && rumor_store_has(store, id) == 1;
}

/* A structurally valid block from a peer: orphan pool, pending pool, or on
 * to the node.  Takes hb. */
static void process_block(struct rumor_node_relay *g, struct held_block *hb)
{
	const struct rumor_block *b = &hb->item.u.block;
	uint64_t now = now_us();
	hb->deadline_ms = uv_now(g->loop) + RUMOR_RELAY_POOL_TIMEOUT_MS;
	if (b->height > 0 && !stored(g, b->prev)) {
		/* Its parent first (ignored by the core when already known, e.g.
		 * being validated or itself waiting in a pool). */
		rumor_relay_request(g->core, hb->from, RUMOR_ITEM_BLOCK, b->prev, now);
		pool_add(&g->orphans, hb);
		kick(g);
		return;
	}
	uint32_t missing = 0;
	for (uint32_t i = 0; i < b->tx_count; i++)
		if (!stored(g, b->tx_ids + 32 * (size_t)i))
			missing++;
	if (missing == 0) {
		submit_block(g, hb);
		return;
	}
	hb->missing = malloc((size_t)missing * 32);
	if (!hb->missing) {
		log_error("relay: out of memory holding a block");
		held_free(hb);
		return;
	}
	hb->n_missing = 0;
	for (uint32_t i = 0; i < b->tx_count; i++) {
		const uint8_t *tx = b->tx_ids + 32 * (size_t)i;
		if (stored(g, tx))
			continue;
		memcpy(hb->missing + 32 * (size_t)hb->n_missing++, tx, 32);
		rumor_relay_request(g->core, hb->from, RUMOR_ITEM_TX, tx, now);
	}
	pool_add(&g->pending, hb);
	kick(g);
}

/* An item was stored: blocks waiting for it move on. */
static void pools_on_accepted(struct rumor_node_relay *g, const struct rumor_item *item)
{
	if (item->kind == RUMOR_ITEM_TX) {
		uint32_t i = 0;
		while (i < g->pending.count) {
			struct held_block *hb = g->pending.blocks[i];
			for (uint32_t k = 0; k < hb->n_missing; k++) {
				if (memcmp(hb->missing + 32 * (size_t)k, item->id, 32) == 0) {
					memcpy(hb->missing + 32 * (size_t)k,
					       hb->missing + 32 * (size_t)(hb->n_missing - 1), 32);
					hb->n_missing--;
					break;
				}
			}
			if (hb->n_missing == 0)
				submit_block(g, pool_take(&g->pending, i));
			else
				i++;
		}
		return;
	}
	/* Take the children out first, then process them: one that goes back
	 * to the orphan pool (its parent unreadable from the store just now)
	 * must not be found again by this same scan. */
	struct held_block *children[RUMOR_RELAY_ORPHAN_BLOCKS];
	uint32_t n = 0, i = 0;
	while (i < g->orphans.count && n < RUMOR_RELAY_ORPHAN_BLOCKS) {
		struct held_block *hb = g->orphans.blocks[i];
		if (memcmp(hb->item.u.block.prev, item->id, RUMOR_ID_SIZE) == 0)
			children[n++] = pool_take(&g->orphans, i);
		else
			i++;
	}
	for (i = 0; i < n; i++)
		process_block(g, children[i]); /* may add to pending, or back to orphans */
}

static void pool_expire(struct pool *pool, uint64_t now_ms)
{
	uint32_t i = 0;
	while (i < pool->count) {
		struct held_block *hb = pool->blocks[i];
		if (hb->deadline_ms > now_ms) {
			i++;
			continue;
		}
		char hex[65], from[65];
		hex32(hb->item.id, hex);
		hex32(hb->from_id, from);
		log_info("relay: dropping %s block %s from peer %.16s: %s", pool->name, hex, from,
			 hb->n_missing ? "its transactions did not arrive in time"
				       : "its parent did not arrive in time");
		held_free(pool_take(pool, i));
	}
}

static void pools_expire(struct rumor_node_relay *g)
{
	uint64_t now_ms = uv_now(g->loop);
	pool_expire(&g->pending, now_ms);
	pool_expire(&g->orphans, now_ms);
}

static uint64_t pools_next_deadline(const struct rumor_node_relay *g)
{
	uint64_t next = UINT64_MAX;
	const struct pool *pools[2] = {&g->pending, &g->orphans};
	for (size_t p = 0; p < 2; p++)
		for (uint32_t i = 0; i < pools[p]->count; i++)
			if (pools[p]->blocks[i]->deadline_ms < next)
				next = pools[p]->blocks[i]->deadline_ms;
	return next;
}

/* ---- messages from peers ---------------------------------------------- */

static void on_payload(struct rumor_node_relay *g, struct glue_peer *gp, int kind,
		       const struct rumor_msg_blob *blob)
{
	uint8_t id[RUMOR_ID_SIZE];
	rumor_sha256(blob->ptr, blob->len, id);
	enum rumor_relay_payload_verdict v = rumor_relay_on_payload(g->core, gp->handle, id,
								    now_us());
	switch (v) {
	case RUMOR_RELAY_PAYLOAD_DUPLICATE:
		rumor_metrics_item(kind, RUMOR_METRICS_PEER, RUMOR_METRICS_DUPLICATE);
		return; /* counted by the core */
	case RUMOR_RELAY_PAYLOAD_UNREQUESTED: {
		char peer_hex[65], id_hex[65];
		hex32(gp->id, peer_hex);
		hex32(id, id_hex);
		log_info("peer %s sent %s %s, which was not requested", peer_hex,
			 rumor_item_kind_name(kind), id_hex);
		rumor_peer_close(gp->peer, RUMOR_DISCONNECT_MISBEHAVIOUR,
				 "sent an item that was not requested");
		return;
	}
	case RUMOR_RELAY_PAYLOAD_REQUESTED:
		break;
	}
	if (kind == RUMOR_ITEM_TX) {
		submit_from_peer(g, gp->handle, gp->id, id, blob->ptr, blob->len, RUMOR_ITEM_TX);
		return;
	}
	/* A block: cheap checks here, so that only plausible blocks wait in
	 * the pools; the node checks again and verifies the signature. */
	if (pool_has(&g->pending, id) || pool_has(&g->orphans, id))
		return;
	struct held_block *hb = calloc(1, sizeof(*hb));
	uint8_t *copy = malloc(blob->len ? blob->len : 1);
	if (!hb || !copy) {
		free(hb);
		free(copy);
		log_error("relay: out of memory receiving a block");
		return;
	}
	memcpy(copy, blob->ptr, blob->len);
	hb->bytes = copy;
	hb->len = blob->len;
	hb->from = gp->handle;
	memcpy(hb->from_id, gp->id, 32);
	const char *why = rumor_item_decode(&hb->item, copy, blob->len);
	if (!why && hb->item.kind != RUMOR_ITEM_BLOCK)
		why = "a transaction sent as a block";
	if (!why)
		why = rumor_item_check(&hb->item, rumor_node_network(g->node),
				       (uint64_t)wall_clock_s());
	if (why) {
		held_free(hb);
		rumor_metrics_item(RUMOR_ITEM_BLOCK, RUMOR_METRICS_PEER, RUMOR_METRICS_INVALID);
		reject_item(g, gp->handle, gp->id, id, why);
		return;
	}
	process_block(g, hb);
}

static void convert_list(struct rumor_node_relay *g, const struct rumor_msg_list *list)
{
	for (uint32_t i = 0; i < list->count; i++) {
		struct rumor_inv_entry e;
		rumor_msg_inv_entry(list, i, &e);
		g->in_entries[i].kind = e.kind;
		memcpy(g->in_entries[i].id, e.id, RUMOR_ID_SIZE);
	}
}

/* getdata: serve what we have (memory, then the store), one message per
 * item, then one notfound with the rest. */
static void serve_getdata(struct rumor_node_relay *g, struct glue_peer *gp,
			  const struct rumor_msg_list *list)
{
	/* At most what we ask in one getdata ourselves; an honest peer asks no
	 * more, and the rest is ignored (the decoder already refused more than
	 * RUMOR_MSG_INV_MAX, closing the connection). */
	uint32_t n = list->count;
	if (n > RUMOR_RELAY_SERVE_MAX)
		n = RUMOR_RELAY_SERVE_MAX;
	convert_list(g, list);
	struct rumor_store *store = rumor_node_store(g->node);
	uint32_t n_missing = 0, n_served = 0;
	for (uint32_t i = 0; i < n; i++) {
		const struct rumor_relay_inv_entry *want = &g->in_entries[i];
		const uint8_t *bytes = NULL;
		size_t len = 0;
		struct rumor_store_item it;
		it.encoding = NULL;
		const struct cache_entry *e = rumor_idmap_get(&g->cache_map, want->id);
		if (e && e->kind == want->kind) {
			bytes = e->bytes;
			len = e->len;
		} else if (!e && store && rumor_store_get(store, want->id, &it, 1) == 0 &&
			   (uint8_t)it.kind == want->kind) {
			bytes = it.encoding;
			len = it.size;
		}
		if (!bytes) {
			free(it.encoding);
			g->out_entries[n_missing].kind = want->kind;
			memcpy(g->out_entries[n_missing].id, want->id, RUMOR_ID_SIZE);
			n_missing++;
			continue;
		}
		struct rumor_msg m;
		memset(&m, 0, sizeof(m));
		m.type = want->kind == RUMOR_ITEM_TX ? RUMOR_MSG_TX : RUMOR_MSG_BLOCK;
		m.u.tx.item.ptr = bytes;
		m.u.tx.item.len = (uint32_t)len;
		int rc = rumor_peer_send(gp->peer, &m);
		free(it.encoding);
		/* Over its output limit, or the connection failed while flushing:
		 * either way it is closing and gp->peer may be NULL now. */
		if (rc != 0 || !gp->peer)
			return;
		g->in_entries[n_served++] = *want; /* n_served <= i */
	}
	/* Only what was served: a peer that asked for an id we lack does not
	 * have it either, and must still hear of it when we get it (a block's
	 * parent asked for before anyone had it). */
	rumor_relay_on_getdata(g->core, gp->handle, g->in_entries, n_served);
	if (n_missing && gp->peer) {
		struct rumor_msg m;
		memset(&m, 0, sizeof(m));
		m.type = RUMOR_MSG_NOTFOUND;
		m.u.notfound.entries.entries = g->out_entries;
		m.u.notfound.entries.count = n_missing;
		rumor_peer_send(gp->peer, &m);
	}
}

static void hook_message(void *arg, struct rumor_peer *peer, const struct rumor_msg *msg)
{
	struct rumor_node_relay *g = arg;
	if (g->stopped || msg->skipped)
		return;
	struct glue_peer *gp = by_peer(g, peer);
	if (!gp)
		return;
	uint64_t now = now_us();
	g->in_message = 1; /* gp stays valid even if the peer closes meanwhile */
	switch ((enum rumor_msg_type)msg->type) {
	case RUMOR_MSG_INV:
		convert_list(g, &msg->u.inv.entries);
		rumor_relay_on_inv(g->core, gp->handle, g->in_entries, msg->u.inv.entries.count, now);
		break;
	case RUMOR_MSG_NOTFOUND:
		convert_list(g, &msg->u.notfound.entries);
		rumor_relay_on_notfound(g->core, gp->handle, g->in_entries,
					msg->u.notfound.entries.count, now);
		break;
	case RUMOR_MSG_GETDATA:
		serve_getdata(g, gp, &msg->u.getdata.entries);
		break;
	case RUMOR_MSG_TX:
		on_payload(g, gp, RUMOR_ITEM_TX, &msg->u.tx.item);
		break;
	case RUMOR_MSG_BLOCK:
		on_payload(g, gp, RUMOR_ITEM_BLOCK, &msg->u.block.item);
		break;
	case RUMOR_MSG_GETADDR:
	case RUMOR_MSG_ADDR:
		break; /* the peer view comes in its own issue */
	case RUMOR_MSG_HELLO:
	case RUMOR_MSG_PING:
	case RUMOR_MSG_PONG:
	case RUMOR_MSG_DISCONNECT:
		break; /* the session's own; never handed up */
	}
	g->in_message = 0;
	if (!g->draining)
		process_removals(g);
	kick(g);
}

static void hook_ready(void *arg, struct rumor_peer *peer)
{
	struct rumor_node_relay *g = arg;
	if (g->stopped)
		return;
	if (g->n_tab == g->cap_tab) {
		size_t cap = g->cap_tab ? g->cap_tab * 2 : 16;
		struct glue_peer *t = realloc(g->tab, cap * sizeof(*t));
		if (!t) {
			rumor_peer_close(peer, RUMOR_DISCONNECT_TOO_MANY, "out of memory");
			return;
		}
		g->tab = t;
		g->cap_tab = cap;
	}
	rumor_peer_handle h = g->next_handle++;
	if (g->next_handle == RUMOR_RELAY_NO_PEER)
		g->next_handle = 0;
	int rc = rumor_relay_peer_add(g->core, h, !rumor_peer_inbound(peer), now_us());
	if (rc != 0) {
		rumor_peer_close(peer, RUMOR_DISCONNECT_TOO_MANY,
				 rc == -ENOSPC ? "too many peers" : "out of memory");
		return;
	}
	struct glue_peer *gp = &g->tab[g->n_tab++];
	gp->handle = h;
	gp->peer = peer;
	memcpy(gp->id, rumor_peer_id(peer), 32);
	kick(g);
}

static void hook_closed(void *arg, struct rumor_peer *peer, int was_ready, const char *reason)
{
	struct rumor_node_relay *g = arg;
	(void)reason;
	if (!was_ready)
		return;
	struct glue_peer *gp = by_peer(g, peer);
	if (!gp)
		return;
	gp->peer = NULL;
	g->removals = 1;
	if (!g->draining && !g->in_message)
		process_removals(g);
	kick(g);
}

/* ---- the node's side -------------------------------------------------- */

static void on_item_accepted(void *arg, const struct rumor_item *item, const char *source,
			     const uint8_t *peer_id)
{
	struct rumor_node_relay *g = arg;
	if (item->kind == RUMOR_ITEM_TX)
		g->accepted_tx++;
	else
		g->accepted_block++;
	if (strcmp(source, "peer") == 0)
		g->accepted_peer++;
	else
		g->accepted_rpc++;
	if (g->stopped)
		return;
	pools_on_accepted(g, item);
	kick(g);
}

/* Valid and on its way to the store: cache it for getdata and announce it
 * now, so a hop does not wait for this node's commit. */
static void on_item_valid(void *arg, const struct rumor_item *item, const char *source,
			  const uint8_t *peer_id)
{
	struct rumor_node_relay *g = arg;
	(void)source;
	if (g->stopped)
		return;
	cache_put(g, item);
	rumor_peer_handle from = peer_id ? handle_of_id(g, peer_id) : RUMOR_RELAY_NO_PEER;
	rumor_relay_on_accepted(g->core, (uint8_t)item->kind, item->id, from, now_us());
	kick(g);
}

static int is_known(void *ctx, const uint8_t id[RUMOR_ID_SIZE])
{
	struct rumor_node_relay *g = ctx;
	if (rumor_node_has_item(g->node, id) == 1)
		return 1;
	return pool_has(&g->pending, id) || pool_has(&g->orphans, id);
}

static uint64_t random_u64(void *ctx)
{
	(void)ctx;
	uint64_t v;
	randombytes_buf(&v, sizeof(v));
	return v;
}

/* ---- life cycle ------------------------------------------------------- */

int rumor_node_relay_new(struct rumor_node_relay **out, uv_loop_t *loop, struct rumor_node *node,
			 const struct rumor_config *cfg, char *err, size_t errlen)
{
	*out = NULL;
	struct rumor_node_relay *g = calloc(1, sizeof(*g));
	if (!g)
		goto nomem;
	g->loop = loop;
	g->node = node;
	g->pending.max = RUMOR_RELAY_PENDING_BLOCKS;
	g->pending.name = "pending";
	g->orphans.max = RUMOR_RELAY_ORPHAN_BLOCKS;
	g->orphans.name = "orphan";

	struct rumor_relay_config rc;
	rumor_relay_config_default(&rc);
	rc.flush_interval_us = (uint64_t)cfg->inv_flush_ms * 1000;
	rc.poisson_delay = cfg->inv_poisson;
	rc.max_peers = RELAY_MAX_PEERS;
	randombytes_buf(rc.hash_key, sizeof(rc.hash_key));
	rc.random_u64 = random_u64;
	rc.is_known = is_known;
	rc.ctx = g;
	uint32_t out_cap = rc.inv_batch_max > rc.getdata_batch_max ? rc.inv_batch_max
								    : rc.getdata_batch_max;
	if (out_cap < RUMOR_MSG_INV_MAX)
		out_cap = RUMOR_MSG_INV_MAX; /* notfound answers a whole getdata */
	g->in_entries = calloc(RUMOR_MSG_INV_MAX, sizeof(*g->in_entries));
	g->out_entries = calloc(out_cap, sizeof(*g->out_entries));
	g->ring = calloc(RUMOR_RELAY_CACHE_ITEMS, sizeof(*g->ring));
	if (!g->in_entries || !g->out_entries || !g->ring)
		goto nomem;
	uint8_t key[16];
	randombytes_buf(key, sizeof(key));
	if (rumor_idmap_init(&g->cache_map, RUMOR_RELAY_CACHE_ITEMS, key) != 0)
		goto nomem;
	int rcode = rumor_relay_new(&g->core, &rc);
	if (rcode != 0) {
		rumor_idmap_free(&g->cache_map);
		if (rcode == -ENOMEM)
			goto nomem;
		snprintf(err, errlen, "relay: invalid configuration");
		free(g->in_entries);
		free(g->out_entries);
		free(g->ring);
		free(g);
		return -1;
	}
	*out = g;
	return 0;
nomem:
	if (g) {
		free(g->in_entries);
		free(g->out_entries);
		free(g->ring);
		free(g);
	}
	snprintf(err, errlen, "out of memory");
	return -1;
}

void rumor_node_relay_peer_hooks(struct rumor_node_relay *relay, struct rumor_peers_config *cfg)
{
	cfg->on_ready = hook_ready;
	cfg->on_message = hook_message;
	cfg->on_closed = hook_closed;
	cfg->hook_arg = relay;
}

void rumor_node_relay_start(struct rumor_node_relay *g, struct rumor_peers *peers)
{
	assert(!g->started);
	g->peers = peers;
	uv_timer_init(g->loop, &g->timer);
	uv_check_init(g->loop, &g->check);
	uv_idle_init(g->loop, &g->idle);
	g->timer.data = g->check.data = g->idle.data = g;
	g->started = 1;
	rumor_node_set_accepted_hook(g->node, on_item_accepted, g);
	rumor_node_set_valid_hook(g->node, on_item_valid, g);
	kick(g); /* a peer may have become ready already */
}

void rumor_node_relay_stop(struct rumor_node_relay *g)
{
	if (g->stopped)
		return;
	g->stopped = 1;
	if (!g->started)
		return;
	uv_close((uv_handle_t *)&g->timer, NULL);
	uv_close((uv_handle_t *)&g->check, NULL);
	uv_close((uv_handle_t *)&g->idle, NULL);
	pool_clear(&g->pending);
	pool_clear(&g->orphans);
}

void rumor_node_relay_del(struct rumor_node_relay *g)
{
	if (!g)
		return;
	assert(g->submissions == 0);
	rumor_relay_del(g->core);
	while (g->ring_count)
		cache_evict_oldest(g);
	rumor_idmap_free(&g->cache_map);
	pool_clear(&g->pending);
	pool_clear(&g->orphans);
	free(g->ring);
	free(g->in_entries);
	free(g->out_entries);
	free(g->tab);
	free(g);
}

/* ---- queries ---------------------------------------------------------- */

void rumor_node_relay_get_stats(const struct rumor_node_relay *g,
				struct rumor_node_relay_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->accepted_tx = g->accepted_tx;
	out->accepted_block = g->accepted_block;
	out->accepted_rpc = g->accepted_rpc;
	out->accepted_peer = g->accepted_peer;
	out->invalid_received = g->invalid_received;
	out->pending_blocks = g->pending.count;
	out->orphan_blocks = g->orphans.count;
	out->cache_items = (uint32_t)g->ring_count;
	out->cache_bytes = g->cache_bytes;
	rumor_relay_get_stats(g->core, &out->core);
}

int rumor_node_relay_peer_stats(const struct rumor_node_relay *g, const struct rumor_peer *peer,
				struct rumor_relay_peer_stats *out)
{
	const struct glue_peer *gp = by_peer(g, peer);
	if (!gp)
		return -ENOENT;
	return rumor_relay_get_peer_stats(g->core, gp->handle, out);
}
