/*
 * net/relay.c: inv/getdata rumor relay, sans-IO (see relay.h).
 *
 * Tables (all ids keyed by crypto/idmap under cfg.hash_key):
 *   tracked   id -> struct record: an id some peer announced (or that the
 *             caller asked for) and that we do not have yet.
 *   rejected  bounded FIFO set of ids that failed validation.
 *   per peer  known: bounded FIFO set of ids the peer has or was told of;
 *             inv: announcements waiting for the next flush;
 *             getdata: requests decided but not yet handed to the caller.
 *
 * A record has a short list of announcer nodes (one per announcing peer, in
 * announcement order).  Each node is also on its peer's "announcements"
 * list (so removing a peer finds every record it is part of) and, while the
 * record is not requested from anyone and the node is FRESH, on its peer's
 * "waiting" list (so a peer whose request slot frees up finds the next id
 * it can be asked for without scanning).
 *
 * Record states:
 *
 *         on_inv / request()
 *               |
 *               v          choose announcer with a free slot
 *   +------> WAITING ----------------------------------> IN FLIGHT(P)
 *   |           |  (no fresh announcer, too old,            |
 *   |           |   is_known)                               |
 *   |           v                                           |
 *   |        dropped <--- payload from P / accepted --------+
 *   |                                                       |
 *   +---- timeout (P's node TRIED), notfound or removal  ---+
 *         of P (P's node removed)
 *
 * A WAITING record whose announcers are all TRIED is kept (nobody to ask,
 * but a late payload from a TRIED peer is REQUESTED, not unrequested); it
 * is dropped when it gets too old, when its last announcer node goes
 * (notfound, removal) or when the id arrives or is accepted/rejected.
 * A new announcer makes it schedulable again; the TRIED peer announcing
 * it again does not (its first answer may still be on the way, and an id
 * is never asked twice from one peer at once).
 *
 * Invariants (checked by asserts where cheap):
 *  - A record IN FLIGHT to peer index i has an announcer node for i, is on
 *    relay->in_flight (ordered by deadline, since the timeout is uniform
 *    and time does not go back) and none of its nodes is on a waiting list.
 *  - A WAITING record has every FRESH node on its peer's waiting list.
 *  - peer->announced == number of announcer nodes of that peer, which never
 *    grows past max_announced_per_peer through on_inv; peer->in_flight ==
 *    number of records IN FLIGHT to it, at most max_requests_per_peer.
 *  - A WAITING record has at least one announcer node (FRESH or TRIED).
 *  - A record sits on relay->by_age until it is too old; a record that
 *    becomes too old while IN FLIGHT is marked expired and dropped when
 *    that request ends.
 *
 * Requests are decided when actions are drained (rumor_relay_next_action),
 * using the latest time any call brought, so announcements fed together
 * are weighed together (outbound announcers first).
 *
 * Peers live in a fixed array of max_peers slots; relay->active lists the
 * slots in use in ascending order, and every per-peer loop walks only that
 * list (a handle is found by scanning it: peers are few).  Iteration is
 * always in slot or list order, so the same inputs give the same actions.
 */
#include "config.h"

#include "net/relay.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/idmap.h"
#include "net/idset.h"
#include "net/message.h"

#define NO_INDEX UINT32_MAX

/* ---- intrusive circular lists: an unlinked node points at itself ---- */

struct link {
	struct link *prev, *next;
};

static void link_init(struct link *l)
{
	l->prev = l->next = l;
}

static int link_empty(const struct link *l)
{
	return l->next == l;
}

static void link_add_tail(struct link *head, struct link *l)
{
	assert(link_empty(l));
	l->prev = head->prev;
	l->next = head;
	head->prev->next = l;
	head->prev = l;
}

static void link_del(struct link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
	link_init(l);
}

#define CONTAINER_OF(ptr, type, member) ((type *)(void *)((char *)(ptr)-offsetof(type, member)))

/* ---- bounded vector of inv entries ---- */

struct entry_vec {
	struct rumor_relay_inv_entry *v;
	uint32_t count, alloc, cap;
};

static int vec_push(struct entry_vec *vec, uint8_t kind, const uint8_t id[RUMOR_ID_SIZE])
{
	if (vec->count >= vec->cap)
		return -ENOSPC;
	if (vec->count == vec->alloc) {
		uint32_t n = vec->alloc ? vec->alloc * 2 : 16;
		if (n > vec->cap || n < vec->alloc)
			n = vec->cap;
		struct rumor_relay_inv_entry *v = realloc(vec->v, (size_t)n * sizeof(*v));
		if (!v)
			return -ENOMEM;
		vec->v = v;
		vec->alloc = n;
	}
	vec->v[vec->count].kind = kind;
	memcpy(vec->v[vec->count].id, id, RUMOR_ID_SIZE);
	vec->count++;
	return 0;
}

static void vec_drop_front(struct entry_vec *vec, uint32_t n)
{
	assert(n <= vec->count);
	memmove(vec->v, vec->v + n, (size_t)(vec->count - n) * sizeof(*vec->v));
	vec->count -= n;
}

static void vec_free(struct entry_vec *vec)
{
	free(vec->v);
	memset(vec, 0, sizeof(*vec));
}

/* ---- bounded FIFO id sets (net/idset.h): the mark is "theirs" ---- */

#define id_fifo rumor_idset

static void fifo_init(struct id_fifo *f, uint32_t cap, const uint8_t key[16])
{
	rumor_idset_init(f, cap, key);
}

static void fifo_free(struct id_fifo *f)
{
	rumor_idset_free(f);
}

static int fifo_has(const struct id_fifo *f, const uint8_t id[RUMOR_ID_SIZE])
{
	return rumor_idset_has(f, id);
}

/* Adds id (evicting the oldest at the cap).  Returns 0, or -ENOMEM; an id
 * already present keeps its place. */
static int fifo_add(struct id_fifo *f, const uint8_t id[RUMOR_ID_SIZE])
{
	return rumor_idset_add(f, id, 0);
}

/* Adds id as one the peer told us of (its inv, its payload, its getdata):
 * a batch queued for that peer drops it at flush time. */
static int fifo_add_theirs(struct id_fifo *f, const uint8_t id[RUMOR_ID_SIZE])
{
	return rumor_idset_add(f, id, 1);
}

static int fifo_is_theirs(const struct id_fifo *f, const uint8_t id[RUMOR_ID_SIZE])
{
	return rumor_idset_marked(f, id);
}

/* ---- records, announcers, peers ---- */

enum announcer_state {
	ANNOUNCER_FRESH, /* may be asked */
	ANNOUNCER_TRIED, /* was asked and timed out; a late payload is still welcome */
};

struct record;

struct announcer {
	struct record *rec;
	struct announcer *next; /* in the record, announcement order */
	uint32_t peer;          /* index in relay->peers */
	enum announcer_state state;
	struct link by_peer; /* peer->announcements */
	struct link waiting; /* peer->waiting */
};

struct record {
	uint8_t id[RUMOR_ID_SIZE];
	uint8_t kind;
	int expired;
	uint32_t requested_from; /* peer index, NO_INDEX when WAITING */
	uint32_t n_announcers;
	uint64_t created_us;
	uint64_t deadline_us;
	struct announcer *announcers;
	struct link in_flight_link; /* relay->in_flight */
	struct link age_link;       /* relay->by_age */
	struct link schedule_link;  /* relay->to_schedule */
};

struct peer {
	int in_use;
	uint32_t index; /* in relay->peers */
	rumor_peer_handle handle;
	int outbound;
	const char *disconnect_reason; /* non-NULL: DISCONNECT asked, ignore it */
	int disconnect_sent;
	int skip; /* scratch for on_accepted */
	uint32_t limit; /* ids in flight at most (rumor_relay_peer_limit) */
	struct entry_vec inv;
	uint64_t flush_at; /* UINT64_MAX when inv is empty */
	int flush_now;
	struct entry_vec getdata;
	struct id_fifo known;
	uint32_t announced;
	uint32_t in_flight;
	struct link announcements;
	struct link waiting;
	struct link ready_link; /* relay->ready: has something to emit */
	struct link freed_link; /* relay->slot_freed */
	struct rumor_relay_peer_stats stats;
};

struct rumor_relay {
	struct rumor_relay_config cfg;
	struct peer **peers; /* max_peers slots; a peer is allocated at add */
	uint32_t n_peers;
	uint32_t *active; /* slot indices of the n_peers peers in use, ascending */
	struct rumor_idmap tracked;
	struct id_fifo rejected;
	struct link in_flight, by_age, to_schedule, ready, slot_freed;
	uint64_t now_us; /* latest time any call brought */
	struct rumor_relay_inv_entry *out; /* the entries of the last action */
	uint32_t out_alloc;
	struct rumor_relay_stats stats;
};

void rumor_relay_config_default(struct rumor_relay_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->flush_interval_us = 5000;
	cfg->poisson_delay = 0;
	cfg->inv_batch_max = 1000;
	cfg->getdata_batch_max = 1000;
	cfg->max_requests_per_peer = 1000;
	cfg->request_timeout_us = 2000000;
	cfg->max_announcers_per_id = 8;
	cfg->max_announced_per_peer = 20000;
	cfg->announce_max_age_us = 60000000;
	cfg->known_per_peer = 50000;
	cfg->rejected_max = 10000;
	cfg->max_peers = 256;
}

/* 1 for a block (announce at once), 0 for a tx, -1 for anything else. */
static int kind_immediate(uint8_t kind)
{
	switch ((enum rumor_item_kind)kind) {
	case RUMOR_ITEM_TX:
		return 0;
	case RUMOR_ITEM_BLOCK:
		return 1;
	}
	return -1;
}

static void touch(struct rumor_relay *relay, uint64_t now_us)
{
	if (now_us > relay->now_us)
		relay->now_us = now_us;
}

static int is_known(const struct rumor_relay *relay, const uint8_t id[RUMOR_ID_SIZE])
{
	return relay->cfg.is_known && relay->cfg.is_known(relay->cfg.ctx, id);
}

static uint32_t peer_index(const struct rumor_relay *relay, const struct peer *p)
{
	(void)relay;
	return p->index;
}

static struct peer *peer_find(const struct rumor_relay *relay, rumor_peer_handle handle)
{
	for (uint32_t k = 0; k < relay->n_peers; k++) {
		struct peer *p = relay->peers[relay->active[k]];
		if (p->handle == handle)
			return p;
	}
	return NULL;
}

/* Keeps relay->active sorted, so iteration stays in slot order (the order
 * actions come out in does not depend on add/remove history). */
static void active_insert(struct rumor_relay *relay, uint32_t idx)
{
	uint32_t k = relay->n_peers;
	while (k > 0 && relay->active[k - 1] > idx) {
		relay->active[k] = relay->active[k - 1];
		k--;
	}
	relay->active[k] = idx;
}

static void active_remove(struct rumor_relay *relay, uint32_t idx)
{
	uint32_t k = 0;
	while (k < relay->n_peers && relay->active[k] != idx)
		k++;
	assert(k < relay->n_peers);
	for (; k + 1 < relay->n_peers; k++)
		relay->active[k] = relay->active[k + 1];
}

/* A live peer we still talk to. */
static struct peer *peer_usable(const struct rumor_relay *relay, rumor_peer_handle handle)
{
	struct peer *p = peer_find(relay, handle);
	return p && !p->disconnect_reason ? p : NULL;
}

static void mark_ready(struct rumor_relay *relay, struct peer *p)
{
	if (link_empty(&p->ready_link))
		link_add_tail(&relay->ready, &p->ready_link);
}

static int has_slot(const struct rumor_relay *relay, const struct peer *p)
{
	return !p->disconnect_reason && p->in_flight < p->limit;
}

/* -ln(u) for u uniform in (0, 1], from 53 random bits, without libm:
 * u = k / 2^53 with k in [1, 2^53]; k = m * 2^e with m in [1, 2);
 * ln m = 2 atanh(s), s = (m - 1) / (m + 1) in [0, 1/3). */
static double neg_log_uniform(uint64_t r)
{
	static const double ln2 = 0.69314718055994530942;
	uint64_t k = (r >> 11) + 1;
	int e = 63 - __builtin_clzll(k);
	double m = (double)k / (double)(UINT64_C(1) << e);
	double s = (m - 1.0) / (m + 1.0);
	double s2 = s * s, term = s, sum = 0.0;
	for (int i = 1; i < 64; i += 2) {
		sum += term / i;
		term *= s2;
	}
	double ln_k = e * ln2 + 2.0 * sum;
	double v = 53.0 * ln2 - ln_k;
	return v > 0.0 ? v : 0.0;
}

static uint64_t flush_delay(const struct rumor_relay *relay)
{
	uint64_t mean = relay->cfg.flush_interval_us;
	if (!relay->cfg.poisson_delay)
		return mean;
	double d = neg_log_uniform(relay->cfg.random_u64(relay->cfg.ctx)) * (double)mean;
	if (d >= 18446744073709549568.0) /* largest double below 2^64 */
		return UINT64_MAX;
	return (uint64_t)(d + 0.5);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static struct announcer *announcer_of(const struct record *rec, uint32_t peer)
{
	for (struct announcer *a = rec->announcers; a; a = a->next)
		if (a->peer == peer)
			return a;
	return NULL;
}

static void slot_freed(struct rumor_relay *relay, struct peer *p)
{
	if (link_empty(&p->freed_link))
		link_add_tail(&relay->slot_freed, &p->freed_link);
}

/* IN FLIGHT -> (caller decides what next).  No-op when WAITING. */
static void request_end(struct rumor_relay *relay, struct record *rec)
{
	if (rec->requested_from == NO_INDEX)
		return;
	struct peer *p = relay->peers[rec->requested_from];
	assert(p->in_flight > 0 && relay->stats.requests_in_flight > 0);
	p->in_flight--;
	relay->stats.requests_in_flight--;
	link_del(&rec->in_flight_link);
	rec->requested_from = NO_INDEX;
	slot_freed(relay, p);
}

static void announcer_remove(struct rumor_relay *relay, struct announcer *a)
{
	struct record *rec = a->rec;
	struct announcer **pp = &rec->announcers;
	while (*pp != a)
		pp = &(*pp)->next;
	*pp = a->next;
	link_del(&a->by_peer);
	if (!link_empty(&a->waiting))
		link_del(&a->waiting);
	struct peer *p = relay->peers[a->peer];
	assert(p->announced > 0 && rec->n_announcers > 0);
	p->announced--;
	rec->n_announcers--;
	free(a);
}

static void record_drop(struct rumor_relay *relay, struct record *rec)
{
	request_end(relay, rec);
	if (!link_empty(&rec->age_link))
		link_del(&rec->age_link);
	if (!link_empty(&rec->schedule_link))
		link_del(&rec->schedule_link);
	while (rec->announcers)
		announcer_remove(relay, rec->announcers);
	void *v = rumor_idmap_del(&relay->tracked, rec->id);
	assert(v == rec);
	(void)v;
	free(rec);
}

static void record_schedule(struct rumor_relay *relay, struct record *rec)
{
	if (link_empty(&rec->schedule_link))
		link_add_tail(&relay->to_schedule, &rec->schedule_link);
}

/* Puts a record that is not IN FLIGHT back to WAITING, or drops it when
 * it is too old or nobody is left: no FRESH announcer to ask and no TRIED
 * one whose late payload may still come.  A record with TRIED announcers
 * only stays (WAITING, on no waiting list) so that a slow peer's payload
 * is still taken as requested; its nodes still count against their peers'
 * max_announced_per_peer, and it goes at announce_max_age_us (by_age),
 * when the last of those peers is removed or answers notfound, or when
 * the id arrives. */
static void record_wait(struct rumor_relay *relay, struct record *rec)
{
	assert(rec->requested_from == NO_INDEX);
	int fresh = 0;
	for (struct announcer *a = rec->announcers; a; a = a->next)
		if (a->state == ANNOUNCER_FRESH)
			fresh = 1;
	if (!rec->announcers || rec->expired) {
		record_drop(relay, rec);
		return;
	}
	if (!fresh)
		return; /* only TRIED announcers: kept for their late payloads */
	for (struct announcer *a = rec->announcers; a; a = a->next)
		if (a->state == ANNOUNCER_FRESH && link_empty(&a->waiting))
			link_add_tail(&relay->peers[a->peer]->waiting, &a->waiting);
	record_schedule(relay, rec);
}

static struct record *record_new(struct rumor_relay *relay, uint8_t kind,
				 const uint8_t id[RUMOR_ID_SIZE])
{
	struct record *rec = calloc(1, sizeof(*rec));
	if (!rec)
		return NULL;
	memcpy(rec->id, id, RUMOR_ID_SIZE);
	rec->kind = kind;
	rec->requested_from = NO_INDEX;
	rec->created_us = relay->now_us;
	link_init(&rec->in_flight_link);
	link_init(&rec->age_link);
	link_init(&rec->schedule_link);
	if (rumor_idmap_put(&relay->tracked, id, rec)) {
		free(rec);
		return NULL;
	}
	link_add_tail(&relay->by_age, &rec->age_link);
	return rec;
}

static struct announcer *announcer_add(struct rumor_relay *relay, struct record *rec,
				       struct peer *p)
{
	struct announcer *a = calloc(1, sizeof(*a));
	if (!a)
		return NULL;
	a->rec = rec;
	a->peer = peer_index(relay, p);
	a->state = ANNOUNCER_FRESH;
	link_init(&a->by_peer);
	link_init(&a->waiting);
	struct announcer **pp = &rec->announcers;
	while (*pp)
		pp = &(*pp)->next;
	*pp = a;
	link_add_tail(&p->announcements, &a->by_peer);
	if (rec->requested_from == NO_INDEX)
		link_add_tail(&p->waiting, &a->waiting);
	p->announced++;
	rec->n_announcers++;
	return a;
}

/* The announcer to ask next: a FRESH one with a free slot, outbound first,
 * then in announcement order. */
static struct announcer *choose_announcer(const struct rumor_relay *relay, const struct record *rec)
{
	struct announcer *inbound = NULL;
	for (struct announcer *a = rec->announcers; a; a = a->next) {
		const struct peer *p = relay->peers[a->peer];
		if (a->state != ANNOUNCER_FRESH || !has_slot(relay, p))
			continue;
		if (p->outbound)
			return a;
		if (!inbound)
			inbound = a;
	}
	return inbound;
}

/* WAITING -> IN FLIGHT(p). */
static void record_request(struct rumor_relay *relay, struct record *rec, struct peer *p)
{
	assert(rec->requested_from == NO_INDEX && has_slot(relay, p));
	for (struct announcer *a = rec->announcers; a; a = a->next)
		if (!link_empty(&a->waiting))
			link_del(&a->waiting);
	if (!link_empty(&rec->schedule_link))
		link_del(&rec->schedule_link);
	/* getdata holds only ids in flight to p, so it cannot pass its cap
	 * (max_requests_per_peer); growing it can fail: the record is then
	 * dropped (announced again, it is tracked again). */
	int rc = vec_push(&p->getdata, rec->kind, rec->id);
	if (rc != 0) {
		record_drop(relay, rec);
		return;
	}
	rec->requested_from = peer_index(relay, p);
	rec->deadline_us = add_sat(relay->now_us, relay->cfg.request_timeout_us);
	link_add_tail(&relay->in_flight, &rec->in_flight_link);
	p->in_flight++;
	p->stats.requested_from++;
	relay->stats.requests_in_flight++;
	relay->stats.requests_sent++;
	mark_ready(relay, p);
}

/* Decides requests: records that need an announcer, then peers whose slots
 * freed up and that announced records still waiting. */
static void schedule(struct rumor_relay *relay)
{
	while (!link_empty(&relay->to_schedule)) {
		struct record *rec =
			CONTAINER_OF(relay->to_schedule.next, struct record, schedule_link);
		link_del(&rec->schedule_link);
		assert(rec->requested_from == NO_INDEX);
		if (is_known(relay, rec->id)) {
			record_drop(relay, rec);
			continue;
		}
		struct announcer *a = choose_announcer(relay, rec);
		if (a)
			record_request(relay, rec, relay->peers[a->peer]);
		/* else it stays WAITING on its announcers' waiting lists */
	}
	while (!link_empty(&relay->slot_freed)) {
		struct peer *p = CONTAINER_OF(relay->slot_freed.next, struct peer, freed_link);
		link_del(&p->freed_link);
		while (has_slot(relay, p) && !link_empty(&p->waiting)) {
			struct announcer *w = CONTAINER_OF(p->waiting.next, struct announcer, waiting);
			struct record *rec = w->rec;
			if (is_known(relay, rec->id)) {
				record_drop(relay, rec);
				continue;
			}
			/* p has a slot, so there is a choice; it may be a
			 * better (outbound) announcer than p. */
			struct announcer *a = choose_announcer(relay, rec);
			assert(a);
			record_request(relay, rec, relay->peers[a->peer]);
		}
	}
}

int rumor_relay_new(struct rumor_relay **out, const struct rumor_relay_config *cfg)
{
	*out = NULL;
	if (cfg->inv_batch_max == 0 || cfg->inv_batch_max > RUMOR_MSG_INV_MAX ||
	    cfg->getdata_batch_max == 0 || cfg->getdata_batch_max > RUMOR_MSG_INV_MAX ||
	    cfg->max_requests_per_peer == 0 || cfg->request_timeout_us == 0 ||
	    cfg->max_announcers_per_id == 0 || cfg->max_announced_per_peer == 0 ||
	    cfg->known_per_peer == 0 || cfg->rejected_max == 0 || cfg->max_peers == 0 ||
	    cfg->max_peers >= NO_INDEX || (cfg->poisson_delay && !cfg->random_u64))
		return -EINVAL;
	struct rumor_relay *relay = calloc(1, sizeof(*relay));
	if (!relay)
		return -ENOMEM;
	relay->cfg = *cfg;
	link_init(&relay->in_flight);
	link_init(&relay->by_age);
	link_init(&relay->to_schedule);
	link_init(&relay->ready);
	link_init(&relay->slot_freed);
	relay->peers = calloc(cfg->max_peers, sizeof(*relay->peers));
	relay->active = calloc(cfg->max_peers, sizeof(*relay->active));
	/* relay->out grows as batches are emitted (out_reserve). */
	size_t tracked_max = (size_t)cfg->max_peers * cfg->max_announced_per_peer;
	if (!relay->peers || !relay->active ||
	    rumor_idmap_init(&relay->tracked, tracked_max, cfg->hash_key) != 0) {
		free(relay->peers);
		free(relay->active);
		free(relay->out);
		free(relay);
		return -ENOMEM;
	}
	fifo_init(&relay->rejected, cfg->rejected_max, cfg->hash_key);
	*out = relay;
	return 0;
}

static void peer_release(struct peer *p)
{
	vec_free(&p->inv);
	vec_free(&p->getdata);
	fifo_free(&p->known);
	memset(p, 0, sizeof(*p));
}

void rumor_relay_del(struct rumor_relay *relay)
{
	if (!relay)
		return;
	/* Free records straight from the table: no list needs repairing. */
	for (size_t i = 0; i <= relay->tracked.mask; i++) {
		struct record *rec = relay->tracked.slots[i].value;
		if (!rec)
			continue;
		while (rec->announcers) {
			struct announcer *a = rec->announcers;
			rec->announcers = a->next;
			free(a);
		}
		free(rec);
	}
	rumor_idmap_free(&relay->tracked);
	fifo_free(&relay->rejected);
	for (uint32_t i = 0; i < relay->cfg.max_peers; i++)
		if (relay->peers[i]) {
			peer_release(relay->peers[i]);
			free(relay->peers[i]);
		}
	free(relay->peers);
	free(relay->active);
	free(relay->out);
	free(relay);
}

int rumor_relay_peer_add(struct rumor_relay *relay, rumor_peer_handle peer, int outbound,
			 uint64_t now_us)
{
	touch(relay, now_us);
	if (peer == RUMOR_RELAY_NO_PEER)
		return -EINVAL;
	if (peer_find(relay, peer))
		return -EEXIST;
	if (relay->n_peers >= relay->cfg.max_peers)
		return -ENOSPC;
	uint32_t slot = 0;
	while (slot < relay->cfg.max_peers && relay->peers[slot])
		slot++;
	assert(slot < relay->cfg.max_peers);
	struct peer *p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->index = slot;
	fifo_init(&p->known, relay->cfg.known_per_peer, relay->cfg.hash_key);
	uint64_t inv_cap = (uint64_t)relay->cfg.inv_batch_max * 4;
	p->inv.cap = inv_cap > UINT32_MAX ? UINT32_MAX : (uint32_t)inv_cap;
	/* Grown as requests are decided (up to max_requests_per_peer), not
	 * reserved: a core with many peers and few items stays small. */
	p->getdata.cap = relay->cfg.max_requests_per_peer;
	p->limit = relay->cfg.max_requests_per_peer;
	relay->peers[slot] = p;
	p->in_use = 1;
	p->handle = peer;
	p->outbound = outbound ? 1 : 0;
	p->flush_at = UINT64_MAX;
	link_init(&p->announcements);
	link_init(&p->waiting);
	link_init(&p->ready_link);
	link_init(&p->freed_link);
	active_insert(relay, peer_index(relay, p));
	relay->n_peers++;
	return 0;
}

void rumor_relay_peer_remove(struct rumor_relay *relay, rumor_peer_handle peer, uint64_t now_us)
{
	touch(relay, now_us);
	struct peer *p = peer_find(relay, peer);
	if (!p)
		return;
	uint32_t idx = peer_index(relay, p);
	/* Stop choosing p while its records are handed on. */
	if (!p->disconnect_reason)
		p->disconnect_reason = "removed";
	while (!link_empty(&p->announcements)) {
		struct announcer *a = CONTAINER_OF(p->announcements.next, struct announcer, by_peer);
		struct record *rec = a->rec;
		if (rec->requested_from == idx)
			request_end(relay, rec);
		announcer_remove(relay, a);
		if (rec->requested_from == NO_INDEX)
			record_wait(relay, rec);
	}
	assert(p->in_flight == 0 && p->announced == 0 && link_empty(&p->waiting));
	if (!link_empty(&p->ready_link))
		link_del(&p->ready_link);
	if (!link_empty(&p->freed_link))
		link_del(&p->freed_link);
	active_remove(relay, idx);
	peer_release(p);
	free(p);
	relay->peers[idx] = NULL;
	relay->n_peers--;
}

void rumor_relay_on_inv(struct rumor_relay *relay, rumor_peer_handle peer,
			const struct rumor_relay_inv_entry *entries, uint32_t count, uint64_t now_us)
{
	touch(relay, now_us);
	struct peer *p = peer_usable(relay, peer);
	if (!p)
		return;
	for (uint32_t i = 0; i < count; i++) {
		const uint8_t *id = entries[i].id;
		if (kind_immediate(entries[i].kind) < 0) {
			p->disconnect_reason = "inv with an unknown item kind";
			mark_ready(relay, p);
			return;
		}
		p->stats.announced_to_us++;
		fifo_add_theirs(&p->known, id);
		if (fifo_has(&relay->rejected, id))
			continue;
		struct record *rec = rumor_idmap_get(&relay->tracked, id);
		if (rec && announcer_of(rec, peer_index(relay, p)))
			continue; /* announced again: nothing new (a TRIED peer is not
				   * asked again: its answer may still come) */
		if (p->announced >= relay->cfg.max_announced_per_peer ||
		    (rec && rec->n_announcers >= relay->cfg.max_announcers_per_id)) {
			relay->stats.announcements_ignored++;
			continue;
		}
		if (!rec) {
			if (is_known(relay, id))
				continue;
			rec = record_new(relay, entries[i].kind, id);
			if (!rec) {
				relay->stats.announcements_ignored++;
				continue;
			}
		}
		if (!announcer_add(relay, rec, p)) {
			if (!rec->announcers)
				record_drop(relay, rec);
			relay->stats.announcements_ignored++;
			continue;
		}
		if (rec->requested_from == NO_INDEX && has_slot(relay, p))
			record_schedule(relay, rec);
	}
}

void rumor_relay_on_notfound(struct rumor_relay *relay, rumor_peer_handle peer,
			     const struct rumor_relay_inv_entry *entries, uint32_t count,
			     uint64_t now_us)
{
	touch(relay, now_us);
	struct peer *p = peer_usable(relay, peer);
	if (!p)
		return;
	uint32_t idx = peer_index(relay, p);
	for (uint32_t i = 0; i < count; i++) {
		struct record *rec = rumor_idmap_get(&relay->tracked, entries[i].id);
		if (!rec)
			continue;
		struct announcer *a = announcer_of(rec, idx);
		if (!a)
			continue;
		p->stats.notfound++;
		if (rec->requested_from == idx)
			request_end(relay, rec);
		announcer_remove(relay, a);
		if (rec->requested_from == NO_INDEX)
			record_wait(relay, rec);
	}
}

enum rumor_relay_payload_verdict rumor_relay_on_payload(struct rumor_relay *relay,
							rumor_peer_handle peer,
							const uint8_t id[RUMOR_ID_SIZE],
							uint64_t now_us)
{
	touch(relay, now_us);
	struct peer *p = peer_find(relay, peer);
	struct record *rec = rumor_idmap_get(&relay->tracked, id);
	if (p && rec) {
		uint32_t idx = peer_index(relay, p);
		struct announcer *a = announcer_of(rec, idx);
		if (rec->requested_from == idx || (a && a->state == ANNOUNCER_TRIED)) {
			p->stats.delivered++;
			fifo_add_theirs(&p->known, id);
			record_drop(relay, rec);
			return RUMOR_RELAY_PAYLOAD_REQUESTED;
		}
	}
	if (fifo_has(&relay->rejected, id) || is_known(relay, id)) {
		relay->stats.duplicates_received++;
		if (p)
			fifo_add_theirs(&p->known, id);
		return RUMOR_RELAY_PAYLOAD_DUPLICATE;
	}
	relay->stats.unrequested_received++;
	return RUMOR_RELAY_PAYLOAD_UNREQUESTED;
}

void rumor_relay_on_getdata(struct rumor_relay *relay, rumor_peer_handle peer,
			    const struct rumor_relay_inv_entry *entries, uint32_t count)
{
	struct peer *p = peer_usable(relay, peer);
	if (!p)
		return;
	for (uint32_t i = 0; i < count; i++)
		if (kind_immediate(entries[i].kind) >= 0)
			fifo_add_theirs(&p->known, entries[i].id);
}

void rumor_relay_request(struct rumor_relay *relay, rumor_peer_handle peer, uint8_t kind,
			 const uint8_t id[RUMOR_ID_SIZE], uint64_t now_us)
{
	touch(relay, now_us);
	struct peer *p = peer_usable(relay, peer);
	if (!p || kind_immediate(kind) < 0 || fifo_has(&relay->rejected, id))
		return;
	struct record *rec = rumor_idmap_get(&relay->tracked, id);
	if (!rec) {
		/* Over the peer's cap a new record would be dropped below at
		 * once: say so before the lookups and the allocation (a block
		 * names up to 131066 ids, most of them past the cap). */
		if (p->announced >= relay->cfg.max_announced_per_peer || is_known(relay, id))
			return;
		rec = record_new(relay, kind, id);
		if (!rec)
			return;
	}
	/* Our own request, charged like an announcement against the peer's
	 * cap and the record's announcer list: the ids come from what the peer
	 * sent (a block lists up to 131066 transactions, and evicted or
	 * expired pool blocks leave their requests behind), so an uncharged
	 * request let one peer fill the whole tracked table. */
	struct announcer *a = announcer_of(rec, peer_index(relay, p));
	if (a) {
		if (a->state == ANNOUNCER_TRIED) {
			a->state = ANNOUNCER_FRESH;
			if (rec->requested_from == NO_INDEX)
				link_add_tail(&p->waiting, &a->waiting);
		}
	} else if (p->announced >= relay->cfg.max_announced_per_peer ||
		   rec->n_announcers >= relay->cfg.max_announcers_per_id ||
		   !announcer_add(relay, rec, p)) {
		if (!rec->announcers)
			record_drop(relay, rec);
		return;
	}
	if (rec->requested_from == NO_INDEX)
		record_schedule(relay, rec);
}

void rumor_relay_on_accepted(struct rumor_relay *relay, uint8_t kind,
			     const uint8_t id[RUMOR_ID_SIZE], rumor_peer_handle from, uint64_t now_us)
{
	touch(relay, now_us);
	int immediate = kind_immediate(kind);
	assert(immediate >= 0); /* the caller validated the item */
	struct record *rec = rumor_idmap_get(&relay->tracked, id);
	if (rec) {
		for (struct announcer *a = rec->announcers; a; a = a->next)
			relay->peers[a->peer]->skip = 1;
		record_drop(relay, rec);
	}
	uint64_t delay = 0;
	int delay_drawn = 0;
	for (uint32_t k = 0; k < relay->n_peers; k++) {
		struct peer *p = relay->peers[relay->active[k]];
		int skip = p->skip;
		p->skip = 0;
		if (!p->in_use || p->disconnect_reason || skip)
			continue;
		if (p->handle == from) {
			fifo_add_theirs(&p->known, id);
			continue;
		}
		if (fifo_has(&p->known, id))
			continue;
		if (vec_push(&p->inv, kind, id)) {
			relay->stats.announcements_dropped++;
			continue;
		}
		fifo_add(&p->known, id);
		if (p->inv.count == 1) {
			/* One draw per item, shared by the peers it starts a
			 * batch for: as many draws as events, whatever the
			 * peer count. */
			if (!delay_drawn) {
				delay = flush_delay(relay);
				delay_drawn = 1;
			}
			p->flush_at = add_sat(relay->now_us, delay);
		}
		if (immediate || p->inv.count >= relay->cfg.inv_batch_max ||
		    p->flush_at <= relay->now_us) {
			p->flush_now = 1;
			mark_ready(relay, p);
		}
	}
}

void rumor_relay_on_rejected(struct rumor_relay *relay, const uint8_t id[RUMOR_ID_SIZE],
			     uint64_t now_us)
{
	touch(relay, now_us);
	struct record *rec = rumor_idmap_get(&relay->tracked, id);
	if (rec)
		record_drop(relay, rec);
	fifo_add(&relay->rejected, id);
}

/* Room for n entries in relay->out.  Returns 0 or -ENOMEM. */
static int out_reserve(struct rumor_relay *relay, uint32_t n)
{
	if (n <= relay->out_alloc)
		return 0;
	uint32_t a = relay->out_alloc ? relay->out_alloc : 16;
	while (a < n)
		a *= 2;
	struct rumor_relay_inv_entry *o = realloc(relay->out, (size_t)a * sizeof(*o));
	if (!o)
		return -ENOMEM;
	relay->out = o;
	relay->out_alloc = a;
	return 0;
}

static void emit(struct rumor_relay *relay, struct rumor_relay_action *out,
		 enum rumor_relay_action_type type, struct peer *p, struct entry_vec *vec,
		 uint32_t max)
{
	uint32_t n = vec->count < max ? vec->count : max;
	memcpy(relay->out, vec->v, (size_t)n * sizeof(*relay->out));
	vec_drop_front(vec, n);
	out->type = type;
	out->peer = p->handle;
	out->entries = relay->out;
	out->count = n;
}

/* Takes up to max ids off p's announcement batch into out, skipping ids
 * the peer told us of while they waited for the flush (it has them, so an
 * inv would only cross its own).  Returns how many went out. */
static uint32_t emit_inv(struct rumor_relay *relay, struct rumor_relay_action *out, struct peer *p,
			 uint32_t max)
{
	uint32_t n = 0, used = 0;
	while (used < p->inv.count && n < max) {
		const struct rumor_relay_inv_entry *e = &p->inv.v[used++];
		if (fifo_is_theirs(&p->known, e->id)) {
			relay->stats.announcements_suppressed++;
			continue;
		}
		relay->out[n++] = *e;
	}
	vec_drop_front(&p->inv, used);
	out->type = RUMOR_RELAY_SEND_INV;
	out->peer = p->handle;
	out->entries = relay->out;
	out->count = n;
	return n;
}

void rumor_relay_next_action(struct rumor_relay *relay, struct rumor_relay_action *out)
{
	memset(out, 0, sizeof(*out));
	out->type = RUMOR_RELAY_NONE;
	out->peer = RUMOR_RELAY_NO_PEER;
	schedule(relay);
	while (!link_empty(&relay->ready)) {
		struct peer *p = CONTAINER_OF(relay->ready.next, struct peer, ready_link);
		if (p->disconnect_reason) {
			link_del(&p->ready_link);
			if (p->disconnect_sent)
				continue;
			p->disconnect_sent = 1;
			p->inv.count = 0;
			p->flush_now = 0;
			p->flush_at = UINT64_MAX;
			out->type = RUMOR_RELAY_DISCONNECT;
			out->peer = p->handle;
			out->reason = p->disconnect_reason;
			return;
		}
		uint32_t want = p->getdata.count ? p->getdata.count : p->inv.count;
		if (want > relay->cfg.inv_batch_max && want > relay->cfg.getdata_batch_max)
			want = relay->cfg.inv_batch_max > relay->cfg.getdata_batch_max
				       ? relay->cfg.inv_batch_max
				       : relay->cfg.getdata_batch_max;
		if (out_reserve(relay, want) != 0)
			return; /* no memory now: tried again at the next drain */
		if (p->getdata.count) {
			emit(relay, out, RUMOR_RELAY_SEND_GETDATA, p, &p->getdata,
			     relay->cfg.getdata_batch_max);
			return;
		}
		if (p->flush_now && p->inv.count) {
			uint32_t n = emit_inv(relay, out, p, relay->cfg.inv_batch_max);
			p->stats.announced_by_us += n;
			if (!p->inv.count) {
				p->flush_now = 0;
				p->flush_at = UINT64_MAX;
			}
			if (n)
				return;
			/* Everything in the batch was suppressed: nothing to send. */
			out->type = RUMOR_RELAY_NONE;
			out->peer = RUMOR_RELAY_NO_PEER;
			out->entries = NULL;
			out->count = 0;
			continue;
		}
		link_del(&p->ready_link);
	}
}

uint64_t rumor_relay_expiry(const struct rumor_relay *relay)
{
	uint64_t t = UINT64_MAX;
	for (uint32_t k = 0; k < relay->n_peers; k++) {
		const struct peer *p = relay->peers[relay->active[k]];
		if (!p->flush_now && p->inv.count && p->flush_at < t)
			t = p->flush_at;
	}
	if (!link_empty(&relay->in_flight)) {
		const struct record *rec =
			CONTAINER_OF(relay->in_flight.next, struct record, in_flight_link);
		if (rec->deadline_us < t)
			t = rec->deadline_us;
	}
	if (!link_empty(&relay->by_age)) {
		const struct record *rec =
			CONTAINER_OF(relay->by_age.next, struct record, age_link);
		uint64_t when = add_sat(rec->created_us, relay->cfg.announce_max_age_us);
		if (when < t)
			t = when;
	}
	return t;
}

void rumor_relay_run_timers(struct rumor_relay *relay, uint64_t now_us)
{
	touch(relay, now_us);
	now_us = relay->now_us;
	for (uint32_t k = 0; k < relay->n_peers; k++) {
		struct peer *p = relay->peers[relay->active[k]];
		if (!p->flush_now && p->inv.count && p->flush_at <= now_us) {
			p->flush_now = 1;
			mark_ready(relay, p);
		}
	}
	while (!link_empty(&relay->in_flight)) {
		struct record *rec =
			CONTAINER_OF(relay->in_flight.next, struct record, in_flight_link);
		if (rec->deadline_us > now_us)
			break;
		struct peer *p = relay->peers[rec->requested_from];
		struct announcer *a = announcer_of(rec, rec->requested_from);
		assert(a);
		a->state = ANNOUNCER_TRIED;
		p->stats.timeouts++;
		relay->stats.request_timeouts++;
		request_end(relay, rec);
		record_wait(relay, rec);
	}
	while (!link_empty(&relay->by_age)) {
		struct record *rec = CONTAINER_OF(relay->by_age.next, struct record, age_link);
		if (now_us < rec->created_us ||
		    now_us - rec->created_us < relay->cfg.announce_max_age_us)
			break;
		link_del(&rec->age_link);
		rec->expired = 1;
		if (rec->requested_from == NO_INDEX)
			record_drop(relay, rec);
		/* else dropped when its request ends */
	}
}

void rumor_relay_get_stats(const struct rumor_relay *relay, struct rumor_relay_stats *out)
{
	*out = relay->stats;
	out->ids_tracked = (uint32_t)relay->tracked.count;
}

int rumor_relay_get_peer_stats(const struct rumor_relay *relay, rumor_peer_handle peer,
			       struct rumor_relay_peer_stats *out)
{
	const struct peer *p = peer_find(relay, peer);
	if (!p)
		return -ENOENT;
	*out = p->stats;
	out->in_flight = p->in_flight;
	return 0;
}

void rumor_relay_peer_limit(struct rumor_relay *relay, rumor_peer_handle peer, uint32_t max)
{
	struct peer *p = peer_usable(relay, peer);
	if (max > relay->cfg.max_requests_per_peer)
		max = relay->cfg.max_requests_per_peer;
	if (!p || p->limit == max)
		return;
	int more = max > p->limit;
	p->limit = max;
	if (more)
		slot_freed(relay, p); /* what waited for it is asked at the next drain */
}

int rumor_relay_peer_full(const struct rumor_relay *relay, rumor_peer_handle peer)
{
	const struct peer *p = peer_usable(relay, peer);
	return !p || p->announced >= relay->cfg.max_announced_per_peer;
}

int rumor_relay_is_tracked(const struct rumor_relay *relay, const uint8_t id[RUMOR_ID_SIZE])
{
	return rumor_idmap_get(&relay->tracked, id) != NULL;
}

size_t rumor_relay_memory(const struct rumor_relay *relay)
{
	size_t n = sizeof(*relay) +
		   (size_t)relay->cfg.max_peers * (sizeof(*relay->peers) + sizeof(*relay->active)) +
		   (size_t)relay->out_alloc * sizeof(*relay->out) +
		   (relay->tracked.mask + 1) * sizeof(*relay->tracked.slots) +
		   relay->tracked.count * sizeof(struct record) + rumor_idset_memory(&relay->rejected);
	for (uint32_t k = 0; k < relay->n_peers; k++) {
		const struct peer *p = relay->peers[relay->active[k]];
		n += sizeof(*p) + (size_t)p->announced * sizeof(struct announcer) +
		     (size_t)(p->inv.alloc + p->getdata.alloc) * sizeof(struct rumor_relay_inv_entry) +
		     rumor_idset_memory(&p->known);
	}
	return n;
}
