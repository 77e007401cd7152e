/*
 * src/sim_world.c: N node cores on a virtual network (see sim_world.h).
 *
 * Connections.  A connection is one slot of conns[] (reused; gen changes
 * at every reuse, so an event naming an old slot is ignored):
 *
 *   DIAL --> HANDSHAKE --(1.5 RTT: both ends alive, no cut)--> OPEN
 *              |                                                 |
 *              +--(an end crashed, or cut) dial_failed           | CLOSE by a core,
 *                                                                | crash, reset, cut
 *                                                                v
 *                            each end's open[] cleared when that end's core
 *                            hears peer_closed (or its core is deleted);
 *                            the slot is freed when both are cleared.
 *
 * Order: the bytes of one direction arrive in the order sent (an arrival is
 * never earlier than the previous one of that direction; a stall holds back
 * everything behind it), and a close travels behind them.  Nothing inside a
 * live connection is lost; what is in flight when a connection dies is.
 *
 * Events carry the node's incarnation (its restart count) where they answer
 * a core, so that answers meant for a deleted core are never given to its
 * successor.
 *
 * Request tracking (invariants "fetched twice" and "unrequested"): a table
 * keyed by (connection serial, requesting end, id) counts getdata entries
 * sent and not yet answered by a payload or notfound from the other end.
 */
#include "config.h"

#include "src/sim_world.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/hash.h"
#include "crypto/sign.h"
#include "net/frame.h"
#include "net/session.h"

#define SIM_EPOCH_S UINT64_C(1767225600) /* 2026-01-01T00:00:00Z: virtual wall time 0 */
#define SIM_PORT 8633
#define BLOCK_TX_MAX 1000

enum ev_type {
	EV_DELIVER = 1, /* node: receiving side; a conn, b gen, c len, ptr bytes */
	EV_DELIVER_ITEM, /* a tx/block message carrying stored item c: node, a, b as
			  * EV_DELIVER, ptr the message type */
	EV_CLOSE_END,   /* node: side; a conn, b gen, c code */
	EV_HANDSHAKE,   /* a conn, b gen */
	EV_DIAL_FAILED, /* node, b incarnation, a target */
	EV_STORED,      /* node, b incarnation, c job, a status (int) */
	EV_HAS,         /* node, b incarnation, c job, ptr found[] */
	EV_GOT,         /* node, b incarnation, c job, a item + 1 (0: none) */
	EV_VERIFIED,    /* node, b incarnation, c job, ptr reason (static) or NULL */
	EV_TIMER,       /* node, b incarnation */
	/* timeline (not network events) */
	EV_INJECT,      /* a item */
	EV_CRASH,       /* node, c downtime */
	EV_RESTART,     /* node, b incarnation it replaces */
	EV_PARTITION_START,
	EV_PARTITION_END,
	EV_CRASH_TICK,
	EV_RESET_TICK,
	EV_STALL_TICK,
	/* added later (not network events: see is_network_event) */
	EV_RESUME,      /* node: side; a conn, b gen: its core resumed reading */
	EV_OUTPUT,      /* node: side; a conn, b gen: report the output queue again */
};

static int is_network_event(uint32_t type)
{
	return type <= EV_TIMER && type != EV_TIMER;
}

struct sim_node {
	struct rumor_core *core;
	uint32_t incarnation;
	uint8_t alive;
	uint8_t side;
	uint8_t id[32];
	uint64_t nonce;
	uint64_t timer_at;
	uint64_t up_since;
	struct sim_uplink uplink;
};

enum conn_state { CONN_FREE = 0, CONN_HANDSHAKE, CONN_OPEN };

struct sim_conn {
	uint8_t state;
	uint8_t open[2];
	uint32_t node[2]; /* [0] dialer, [1] acceptor */
	uint32_t incarnation[2];
	rumor_core_peer peer[2];
	uint32_t gen;
	uint32_t edge;    /* topology edge, or UINT32_MAX */
	rumor_core_target target;
	uint32_t next_free;
	uint64_t serial;
	uint64_t latency_us;
	uint64_t last_arrival[2]; /* by sending side */
	uint64_t stall_until;
	/* By receiving side: deliveries held while its core paused reading
	 * (READ_PAUSE) and until they are released in order (EV_RESUME). */
	struct sim_hold {
		struct sim_event *ev;
		uint32_t head, n, cap;
		uint8_t paused;
	} hold[2];
};

struct sim_request {
	uint64_t key;  /* serial * 2 + requesting side; 0 = empty slot */
	uint64_t id;   /* first 8 bytes of the item id */
	uint64_t sent_at;
	uint32_t count;
};

static void node_drain(struct sim_world *w, uint32_t v);

const char *sim_invariant_name(enum sim_invariant inv)
{
	switch (inv) {
	case SIM_INV_DELIVERY:
		return "delivery";
	case SIM_INV_FETCHED_TWICE:
		return "fetched_twice";
	case SIM_INV_UNREQUESTED:
		return "unrequested";
	case SIM_INV_LIMITS:
		return "limits";
	case SIM_INV_MISBEHAVIOUR:
		return "misbehaviour";
	case SIM_INV_CODEC:
		return "codec";
	case SIM_INV_SUBMIT:
		return "submit";
	case SIM_INV_BROKEN:
		return "broken_log";
	case SIM_INV_COUNT:
		break;
	}
	return "?";
}

#if defined(__GNUC__)
__attribute__((format(printf, 3, 4)))
#endif
static void fail(struct sim_world *w, enum sim_invariant inv, const char *fmt, ...)
{
	if (w->failures[inv]++ == 0) {
		va_list ap;
		va_start(ap, fmt);
		int k = snprintf(w->first_failure[inv], sizeof(w->first_failure[inv]), "t=%.3f ms: ",
				 (double)w->now / 1000.0);
		if (k < 0)
			k = 0;
		if ((size_t)k < sizeof(w->first_failure[inv]))
			vsnprintf(w->first_failure[inv] + k, sizeof(w->first_failure[inv]) - (size_t)k,
				  fmt, ap);
		va_end(ap);
	}
}

uint64_t sim_world_total_failures(const struct sim_world *w)
{
	uint64_t n = 0;
	for (int i = 0; i < SIM_INV_COUNT; i++)
		n += w->failures[i];
	return n;
}

int sim_world_node_alive(const struct sim_world *w, uint32_t node)
{
	return w->nodes[node].alive;
}

/* ---- events ---- */

static void push(struct sim_world *w, uint64_t at, uint32_t type, uint32_t node, uint32_t a,
		 uint32_t b, uint64_t c, void *ptr)
{
	struct sim_event ev = {.at = at < w->now ? w->now : at,
			       .type = type,
			       .node = node,
			       .a = a,
			       .b = b,
			       .c = c,
			       .ptr = ptr};
	if (sim_queue_push(&w->queue, &ev) != 0) {
		fprintf(stderr, "rumor-sim: out of memory\n");
		exit(1);
	}
	if (is_network_event(type))
		w->net_events++;
}

/* ---- message buffers ---- */

/* Size classes: 64 bytes, then four per power of two (2^k * 1.25, 1.5,
 * 1.75, 2), so a buffer wastes at most a fifth of itself. */
static unsigned pool_class(size_t len, size_t *size)
{
	if (len <= 64) {
		*size = 64;
		return 0;
	}
	unsigned k = 63u - (unsigned)__builtin_clzll((unsigned long long)(len - 1)); /* 2^k < len */
	size_t base = (size_t)1 << k, step = base / 4;
	size_t q = (len - base + step - 1) / step; /* 1..4 */
	*size = base + q * step;
	return (k - 5) * 4 + (unsigned)q - 4 + 1;
}

static uint8_t *pool_get(struct sim_world *w, size_t len)
{
	size_t size;
	unsigned c = pool_class(len, &size);
	assert(c < SIM_POOL_CLASSES);
	void *p = w->pool[c];
	if (p != NULL) {
		memcpy(&w->pool[c], p, sizeof(void *));
		return p;
	}
	w->pool_bytes += size;
	p = malloc(size);
	if (p == NULL) {
		fprintf(stderr, "rumor-sim: out of memory\n");
		exit(1);
	}
	return p;
}

static void pool_put(struct sim_world *w, uint8_t *p, size_t len)
{
	size_t size;
	unsigned c = pool_class(len, &size);
	memcpy(p, &w->pool[c], sizeof(void *));
	w->pool[c] = p;
}

/* ---- node ids ---- */

static void id_index_add(struct sim_world *w, uint32_t v)
{
	uint64_t h;
	memcpy(&h, w->nodes[v].id, sizeof(h));
	size_t i = (size_t)h & w->id_mask;
	while (w->id_index[i] != 0)
		i = (i + 1) & w->id_mask;
	w->id_index[i] = v + 1;
}

static int64_t node_by_id(const struct sim_world *w, const uint8_t id[32])
{
	uint64_t h;
	memcpy(&h, id, sizeof(h));
	for (size_t i = (size_t)h & w->id_mask; w->id_index[i] != 0; i = (i + 1) & w->id_mask) {
		uint32_t v = w->id_index[i] - 1;
		if (memcmp(w->nodes[v].id, id, 32) == 0)
			return v;
	}
	return -1;
}

/* ---- request tracking ---- */

static size_t req_slot(const struct sim_world *w, uint64_t key, uint64_t id)
{
	return (size_t)sim_mix(key, id, 0) & w->req_mask;
}

static struct sim_request *req_find(struct sim_world *w, uint64_t key, uint64_t id)
{
	for (size_t i = req_slot(w, key, id); w->requests[i].key != 0; i = (i + 1) & w->req_mask)
		if (w->requests[i].key == key && w->requests[i].id == id)
			return &w->requests[i];
	return NULL;
}

static void req_grow(struct sim_world *w)
{
	size_t old_cap = w->req_mask + 1;
	struct sim_request *old = w->requests;
	w->requests = calloc(old_cap * 2, sizeof(*w->requests));
	if (w->requests == NULL) {
		fprintf(stderr, "rumor-sim: out of memory\n");
		exit(1);
	}
	w->req_mask = old_cap * 2 - 1;
	for (size_t k = 0; k < old_cap; k++) {
		if (old[k].key == 0)
			continue;
		size_t i = req_slot(w, old[k].key, old[k].id);
		while (w->requests[i].key != 0)
			i = (i + 1) & w->req_mask;
		w->requests[i] = old[k];
	}
	free(old);
}

static struct sim_request *req_add(struct sim_world *w, uint64_t key, uint64_t id)
{
	if ((w->req_count + 1) * 2 > w->req_mask + 1)
		req_grow(w);
	size_t i = req_slot(w, key, id);
	while (w->requests[i].key != 0)
		i = (i + 1) & w->req_mask;
	w->requests[i] = (struct sim_request){.key = key, .id = id};
	w->req_count++;
	return &w->requests[i];
}

/* Linear probing deletion by backward shift. */
static void req_remove(struct sim_world *w, struct sim_request *r)
{
	size_t i = (size_t)(r - w->requests);
	size_t j = i;
	for (;;) {
		j = (j + 1) & w->req_mask;
		if (w->requests[j].key == 0)
			break;
		size_t home = req_slot(w, w->requests[j].key, w->requests[j].id);
		/* Move j into the hole at i when its home is not in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			w->requests[i] = w->requests[j];
			i = j;
		}
	}
	w->requests[i].key = 0;
	w->req_count--;
}

static uint64_t id_prefix(const uint8_t *id)
{
	uint64_t x;
	memcpy(&x, id, sizeof(x));
	return x;
}

/* ---- connections ---- */

static uint32_t conn_alloc(struct sim_world *w)
{
	if (w->free_conn != UINT32_MAX) {
		uint32_t c = w->free_conn;
		w->free_conn = w->conns[c].next_free;
		return c;
	}
	if (w->n_conns == w->cap_conns) {
		uint32_t cap = w->cap_conns ? w->cap_conns * 2 : 1024;
		struct sim_conn *grown = realloc(w->conns, (size_t)cap * sizeof(*grown));
		if (grown == NULL) {
			fprintf(stderr, "rumor-sim: out of memory\n");
			exit(1);
		}
		memset(grown + w->cap_conns, 0, (size_t)(cap - w->cap_conns) * sizeof(*grown));
		w->conns = grown;
		w->cap_conns = cap;
	}
	return w->n_conns++;
}

static void hold_free(struct sim_world *w, struct sim_hold *h)
{
	for (uint32_t i = h->head; i < h->n; i++)
		if (h->ev[i].type == EV_DELIVER)
			pool_put(w, h->ev[i].ptr, (size_t)h->ev[i].c);
	free(h->ev);
	memset(h, 0, sizeof(*h));
}

static void hold_push(struct sim_hold *h, const struct sim_event *ev)
{
	if (h->head > 0 && h->head == h->n)
		h->head = h->n = 0;
	if (h->n == h->cap) {
		uint32_t cap = h->cap ? h->cap * 2 : 16;
		struct sim_event *grown = realloc(h->ev, (size_t)cap * sizeof(*grown));
		if (grown == NULL) {
			fprintf(stderr, "rumor-sim: out of memory\n");
			exit(1);
		}
		h->ev = grown;
		h->cap = cap;
	}
	h->ev[h->n++] = *ev;
}

static void conn_free(struct sim_world *w, uint32_t c)
{
	struct sim_conn *k = &w->conns[c];
	hold_free(w, &k->hold[0]);
	hold_free(w, &k->hold[1]);
	uint32_t gen = k->gen + 1;
	memset(k, 0, sizeof(*k));
	k->gen = gen;
	k->state = CONN_FREE;
	k->next_free = w->free_conn;
	w->free_conn = c;
}

static void edge_down(struct sim_world *w, struct sim_conn *k)
{
	if (k->edge != UINT32_MAX)
		w->edge_up_since[k->edge] = UINT64_MAX;
}

static void *end_data(uint32_t c, int side)
{
	return (void *)(uintptr_t)((uint64_t)c * 2 + (uint64_t)side + 1);
}

static void end_of(const void *data, uint32_t *c, int *side)
{
	uintptr_t x = (uintptr_t)data - 1;
	*c = (uint32_t)(x / 2);
	*side = (int)(x % 2);
}

/* When a message sent now from `side` arrives (in order, after stalls). */
static uint64_t arrival(struct sim_world *w, struct sim_conn *k, int side, uint64_t leave)
{
	uint64_t at = leave + k->latency_us;
	if (at < k->last_arrival[side])
		at = k->last_arrival[side];
	k->last_arrival[side] = at;
	return at;
}

/* The end `side` of an open connection is told it is over (its core hears
 * peer_closed, now or when `at` comes). */
static void close_end_at(struct sim_world *w, uint32_t c, int side, uint64_t at, uint16_t code)
{
	struct sim_conn *k = &w->conns[c];
	push(w, at, EV_CLOSE_END, (uint32_t)side, c, k->gen, code, NULL);
}

static void conn_maybe_free(struct sim_world *w, uint32_t c)
{
	struct sim_conn *k = &w->conns[c];
	if (!k->open[0] && !k->open[1])
		conn_free(w, c);
}

/* A reset as TCP shows it: both ends hear peer_closed (code 0) now. */
static void conn_reset(struct sim_world *w, uint32_t c)
{
	struct sim_conn *k = &w->conns[c];
	if (k->state != CONN_OPEN)
		return;
	edge_down(w, k);
	for (int s = 0; s < 2; s++)
		if (k->open[s])
			close_end_at(w, c, s, w->now, 0);
}

static uint64_t link_latency(struct sim_world *w, uint32_t a, uint32_t b)
{
	/* Drawn once per node pair from the seed: the same for every
	 * connection between them, whoever dials. */
	struct sim_rng rng;
	uint64_t lo = a < b ? a : b, hi = a < b ? b : a;
	sim_rng_seed(&rng, w->cfg->seed, UINT64_C(0x6c696e6b) ^ (lo << 32 | hi) << 1);
	return sim_latency_draw_us(&w->cfg->latency, &rng);
}

static int cut(const struct sim_world *w, uint32_t a, uint32_t b)
{
	return w->partition_active && w->nodes[a].side != w->nodes[b].side;
}

/* ---- cores ---- */

static void core_log(void *ctx, enum rumor_core_log_level level, const char *line)
{
	struct sim_world *w = ctx;
	if (level == RUMOR_CORE_LOG_BROKEN)
		fail(w, SIM_INV_BROKEN, "a core logged BROKEN: %s", line);
	if (w->cfg->verbose && level >= RUMOR_CORE_LOG_WARN)
		fprintf(stderr, "t=%.3f ms: %s\n", (double)w->now / 1000.0, line);
}

static void node_seed(const struct sim_world *w, uint32_t v, uint32_t incarnation,
		      uint8_t out[32])
{
	uint8_t in[8 + 4 + 4 + 16];
	memcpy(in, "rumorsim-core-v1", 16);
	memcpy(in + 16, &w->cfg->seed, 8);
	memcpy(in + 24, &v, 4);
	memcpy(in + 28, &incarnation, 4);
	rumor_sha256(in, sizeof(in), out);
}

static int node_start(struct sim_world *w, uint32_t v)
{
	struct sim_node *node = &w->nodes[v];
	struct rumor_core_config cfg = w->core_cfg;
	memcpy(cfg.node_id, node->id, 32);
	node->nonce = sim_mix(w->cfg->seed, v, (uint64_t)node->incarnation << 1 | 1);
	cfg.hello_nonce = node->nonce;
	node_seed(w, v, node->incarnation, cfg.seed);
	int rc = rumor_core_new(&node->core, &cfg, w->now);
	if (rc != 0)
		return rc;
	node->alive = 1;
	node->up_since = w->now;
	node->timer_at = UINT64_MAX;
	for (uint32_t k = w->out_start[v]; k < w->out_start[v + 1]; k++) {
		uint32_t e = w->out_edge[k];
		uint32_t b = w->cfg->topology->edges[e][1];
		struct rumor_core_addr addr;
		memset(&addr, 0, sizeof(addr));
		snprintf(addr.host, sizeof(addr.host), "n%u", b);
		addr.port = SIM_PORT;
		addr.has_id = 1;
		memcpy(addr.id, w->nodes[b].id, 32);
		rc = rumor_core_target_add(node->core, &addr, 0, w->now, NULL);
		if (rc != 0)
			return rc;
	}
	return 0;
}

static void add_stats(struct sim_world *w, const struct rumor_core *core)
{
	struct rumor_core_stats st;
	rumor_core_get_stats(core, &st);
	w->duplicates += st.relay.duplicates_received;
	w->payloads_from_peers += st.accepted_peer;
	w->request_timeouts += st.relay.request_timeouts;
	w->throttle_pauses += st.throttle_pauses;
	w->throttle_closes += st.throttle_closes;
	w->serve_blocked += st.serve_blocked;
}

static void node_crash(struct sim_world *w, uint32_t v, uint64_t downtime)
{
	struct sim_node *node = &w->nodes[v];
	if (!node->alive)
		return;
	w->crashes++;
	for (uint32_t c = 0; c < w->n_conns; c++) {
		struct sim_conn *k = &w->conns[c];
		if (k->state != CONN_OPEN)
			continue; /* a handshake in progress fails when it completes */
		for (int s = 0; s < 2; s++) {
			if (k->node[s] != v || !k->open[s])
				continue;
			edge_down(w, k);
			k->open[s] = 0; /* its core goes: nothing to tell it */
			if (k->open[!s])
				close_end_at(w, c, !s, w->now + k->latency_us, 0);
		}
		conn_maybe_free(w, c);
	}
	add_stats(w, node->core);
	rumor_core_del(node->core);
	node->core = NULL;
	node->alive = 0;
	node->timer_at = UINT64_MAX;
	node->uplink.free_at_ns = 0;
	node->uplink.rest = 0;
	if (downtime != UINT64_MAX) {
		push(w, w->now + downtime, EV_RESTART, v, 0, node->incarnation, 0, NULL);
		if (w->now + downtime > w->last_timeline)
			w->last_timeline = w->now + downtime;
	}
}

static void node_restart(struct sim_world *w, uint32_t v)
{
	struct sim_node *node = &w->nodes[v];
	if (node->alive)
		return;
	node->incarnation++;
	w->restarts++;
	if (node_start(w, v) != 0) {
		fprintf(stderr, "rumor-sim: cannot restart node %u\n", v);
		exit(1);
	}
	node_drain(w, v);
}

/* ---- carrying out actions ---- */

static void count_message(struct sim_world *w, uint16_t type, size_t wire)
{
	if (type <= RUMOR_MSG_TYPE_LAST) {
		w->msg_count[type]++;
		w->msg_bytes[type] += wire;
	}
	w->wire_bytes += wire;
}

/* Returns the store index of a tx/block message's item, else -1. */
static int64_t track_send(struct sim_world *w, struct sim_conn *k, int side, uint32_t v,
			  const struct rumor_msg *m)
{
	int64_t payload = -1;
	uint64_t own = k->serial * 2 + (uint64_t)side;    /* requests this end made */
	uint64_t other = k->serial * 2 + (uint64_t)!side; /* requests the peer made */
	switch ((enum rumor_msg_type)m->type) {
	case RUMOR_MSG_GETDATA:
		for (uint32_t i = 0; i < m->u.getdata.entries.count; i++) {
			struct rumor_inv_entry e;
			rumor_msg_inv_entry(&m->u.getdata.entries, i, &e);
			uint64_t id = id_prefix(e.id);
			struct sim_request *r = req_find(w, own, id);
			if (r != NULL && r->count > 0 &&
			    w->now - r->sent_at < w->core_cfg.relay.request_timeout_us) {
				fail(w, SIM_INV_FETCHED_TWICE,
				     "node %u asked node %u again for id %016llx %.3f ms after the first "
				     "getdata, before its answer was due",
				     v, k->node[!side], (unsigned long long)id,
				     (double)(w->now - r->sent_at) / 1000.0);
			}
			if (r == NULL)
				r = req_add(w, own, id);
			r->count++;
			r->sent_at = w->now;
		}
		break;
	case RUMOR_MSG_NOTFOUND:
		for (uint32_t i = 0; i < m->u.notfound.entries.count; i++) {
			struct rumor_inv_entry e;
			rumor_msg_inv_entry(&m->u.notfound.entries, i, &e);
			struct sim_request *r = req_find(w, other, id_prefix(e.id));
			if (r != NULL && --r->count == 0)
				req_remove(w, r);
		}
		break;
	case RUMOR_MSG_TX:
	case RUMOR_MSG_BLOCK: {
		const struct rumor_msg_blob *blob =
			m->type == RUMOR_MSG_TX ? &m->u.tx.item : &m->u.block.item;
		uint8_t id[32];
		int64_t idx = sim_store_find_encoding(&w->store, blob->ptr, blob->len);
		if (idx >= 0)
			memcpy(id, w->store.items[idx].id, 32);
		else
			rumor_sha256(blob->ptr, blob->len, id);
		struct sim_request *r = req_find(w, other, id_prefix(id));
		if (r == NULL || r->count == 0) {
			fail(w, SIM_INV_UNREQUESTED,
			     "node %u sent node %u a %s (id %016llx) it had not asked for", v,
			     k->node[!side], rumor_msg_type_name(m->type),
			     (unsigned long long)id_prefix(id));
		} else if (--r->count == 0) {
			req_remove(w, r);
		}
		payload = idx;
		break;
	}
	case RUMOR_MSG_HELLO:
	case RUMOR_MSG_PING:
	case RUMOR_MSG_PONG:
	case RUMOR_MSG_INV:
	case RUMOR_MSG_GETADDR:
	case RUMOR_MSG_ADDR:
	case RUMOR_MSG_DISCONNECT:
		break;
	}
	return payload;
}

/* RUMOR_SIM_TRACE=ITEM (a debugging aid): every message naming that item
 * is printed on stderr as it is sent. */
static void trace_send(struct sim_world *w, uint32_t from, uint32_t to, const struct rumor_msg *m)
{
	static int64_t item = -2;
	if (item == -2) {
		const char *e = getenv("RUMOR_SIM_TRACE");
		item = e != NULL ? strtoll(e, NULL, 10) : -1;
	}
	static int64_t tnode = -2;
	if (tnode == -2) {
		const char *e = getenv("RUMOR_SIM_TRACE_NODE");
		tnode = e != NULL ? strtoll(e, NULL, 10) : -1;
	}
	if (tnode >= 0 && (from == tnode || to == tnode)) {
		fprintf(stderr, "trace t=%.3f ms: %u -> %u %s (%u)\n", (double)w->now / 1000.0, from, to,
			rumor_msg_type_name(m->type), m->u.inv.entries.count);
		return;
	}
	if (item < 0 || (uint64_t)item >= w->store.count)
		return;
	const uint8_t *id = w->store.items[item].id;
	int hit = 0;
	switch (m->type) {
	case RUMOR_MSG_INV:
	case RUMOR_MSG_GETDATA:
	case RUMOR_MSG_NOTFOUND:
		for (uint32_t i = 0; i < m->u.inv.entries.count; i++) {
			struct rumor_inv_entry e;
			rumor_msg_inv_entry(&m->u.inv.entries, i, &e);
			hit |= memcmp(e.id, id, 32) == 0;
		}
		break;
	case RUMOR_MSG_TX:
	case RUMOR_MSG_BLOCK:
		hit = sim_store_find_encoding(&w->store, m->u.tx.item.ptr, m->u.tx.item.len) == item;
		break;
	default:
		break;
	}
	if (hit)
		fprintf(stderr, "trace t=%.3f ms: %u -> %u %s\n", (double)w->now / 1000.0, from, to,
			rumor_msg_type_name(m->type));
}

/* The node's upload backlog at now (its link is shared by all its
 * connections: the backlog bounds each one's queue from above). */
static uint64_t uplink_backlog(const struct sim_world *w, uint32_t v)
{
	const struct sim_uplink *u = &w->nodes[v].uplink;
	uint64_t now_ns = w->now * 1000;
	if (u->bytes_per_s == 0 || u->free_at_ns <= now_ns)
		return 0;
	return (u->free_at_ns - now_ns) / 1000 * u->bytes_per_s / 1000000;
}

/* Tells the core of v the output queue of its end of c (a shell reports
 * it as writes complete); when the core would stop serving, again when
 * the last byte sent so far has left. */
static void report_output(struct sim_world *w, uint32_t v, uint32_t c, int side, uint64_t leave)
{
	uint64_t q = uplink_backlog(w, v);
	rumor_core_peer_output(w->nodes[v].core, w->conns[c].peer[side], (size_t)q, w->now);
	if (q >= w->core_cfg.serve_window_bytes)
		push(w, leave, EV_OUTPUT, (uint32_t)side, c, w->conns[c].gen, 0, NULL);
}

static void do_send(struct sim_world *w, uint32_t v, const struct rumor_core_action *act)
{
	uint32_t c;
	int side;
	end_of(act->peer_data, &c, &side);
	struct sim_conn *k = &w->conns[c];
	assert(k->state == CONN_OPEN && k->node[side] == v && k->open[side]);
	size_t len;
	if (rumor_msg_encoded_size(act->msg, &len) != 0) {
		fail(w, SIM_INV_CODEC, "node %u: a %s message that does not encode", v,
		     rumor_msg_type_name(act->msg->type));
		return;
	}
	size_t wire = rumor_frame_encoded_size(len);
	count_message(w, act->msg->type, wire);
	int64_t item = track_send(w, k, side, v, act->msg);
	trace_send(w, v, k->node[!side], act->msg);
	uint64_t leave = sim_uplink_send(&w->nodes[v].uplink, w->now, wire);
	uint64_t at = arrival(w, k, side, leave);
	report_output(w, v, c, side, leave);
	if (w->cfg->lose > 0 && sim_rng_double(&w->lose_rng) < w->cfg->lose) {
		w->lost++;
		return;
	}
	int twice = w->cfg->duplicate > 0 && sim_rng_double(&w->lose_rng) < w->cfg->duplicate;
	if (twice)
		w->duplicated++;
	if (item >= 0) {
		if (twice)
			push(w, at, EV_DELIVER_ITEM, (uint32_t)!side, c, k->gen, (uint64_t)item,
			     (void *)(uintptr_t)act->msg->type);
		/* The message is the envelope around a stored item's bytes (just
		 * checked byte for byte): it travels as the item's number and is
		 * encoded at delivery (on_deliver), from the store's copy, into
		 * the bytes the receiver decodes.  A burst keeps a thousand
		 * payloads per link in flight: copies of them were a third of the
		 * resident memory at 10,000 nodes. */
		push(w, at, EV_DELIVER_ITEM, (uint32_t)!side, c, k->gen, (uint64_t)item,
		     (void *)(uintptr_t)act->msg->type);
		return;
	}
	uint8_t *buf = pool_get(w, len);
	size_t got;
	if (rumor_msg_encode(act->msg, buf, len, &got) != 0 || got != len) {
		fail(w, SIM_INV_CODEC, "node %u: a %s message that does not encode", v,
		     rumor_msg_type_name(act->msg->type));
		pool_put(w, buf, len);
		return;
	}
	if (twice) {
		uint8_t *copy = pool_get(w, len);
		memcpy(copy, buf, len);
		push(w, at, EV_DELIVER, (uint32_t)!side, c, k->gen, len, copy);
	}
	push(w, at, EV_DELIVER, (uint32_t)!side, c, k->gen, len, buf);
}

static int misbehaviour_code(uint16_t code)
{
	return code == RUMOR_DISCONNECT_PROTOCOL || code == RUMOR_DISCONNECT_MISBEHAVIOUR ||
	       code == RUMOR_DISCONNECT_VERSION;
}

static void do_close(struct sim_world *w, uint32_t v, const struct rumor_core_action *act)
{
	uint32_t c;
	int side;
	end_of(act->peer_data, &c, &side);
	struct sim_conn *k = &w->conns[c];
	assert(k->state == CONN_OPEN && k->node[side] == v && k->open[side]);
	if (misbehaviour_code(act->code))
		fail(w, SIM_INV_MISBEHAVIOUR, "node %u closed node %u with code %u: %s", v,
		     k->node[!side], act->code, act->reason ? act->reason : "");
	/* The disconnect message goes out behind what was sent. */
	struct rumor_msg m;
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_DISCONNECT;
	m.u.disconnect.code = act->code;
	const char *reason = act->reason ? act->reason : "";
	size_t rlen = strlen(reason);
	m.u.disconnect.reason.ptr = (const uint8_t *)reason;
	m.u.disconnect.reason.len = (uint16_t)(rlen > RUMOR_MSG_REASON_MAX ? RUMOR_MSG_REASON_MAX : rlen);
	size_t len = 0;
	if (rumor_msg_encoded_size(&m, &len) == 0)
		count_message(w, RUMOR_MSG_DISCONNECT, rumor_frame_encoded_size(len));
	uint64_t leave = sim_uplink_send(&w->nodes[v].uplink, w->now, rumor_frame_encoded_size(len));
	edge_down(w, k);
	if (k->open[!side])
		close_end_at(w, c, !side, arrival(w, k, side, leave), act->code);
	k->open[side] = 0;
	rumor_core_peer_closed(w->nodes[v].core, act->peer, act->code, w->now);
	conn_maybe_free(w, c);
}

static int64_t host_node(const struct sim_world *w, const char *host)
{
	if (host[0] != 'n')
		return -1;
	char *end;
	unsigned long x = strtoul(host + 1, &end, 10);
	if (*end != '\0' || end == host + 1 || x >= w->n)
		return -1;
	return (int64_t)x;
}

static void do_dial(struct sim_world *w, uint32_t v, const struct rumor_core_action *act)
{
	int64_t b = host_node(w, act->addr->host);
	if (b < 0 || b == v) {
		/* Nobody listens there: refused at once. */
		push(w, w->now + 1, EV_DIAL_FAILED, v, act->target, w->nodes[v].incarnation, 0, NULL);
		return;
	}
	uint64_t lat = link_latency(w, v, (uint32_t)b);
	if (!w->nodes[b].alive || cut(w, v, (uint32_t)b)) {
		push(w, w->now + 2 * lat, EV_DIAL_FAILED, v, act->target, w->nodes[v].incarnation, 0,
		     NULL);
		return;
	}
	uint32_t c = conn_alloc(w);
	struct sim_conn *k = &w->conns[c];
	k->state = CONN_HANDSHAKE;
	k->node[0] = v;
	k->node[1] = (uint32_t)b;
	k->incarnation[0] = w->nodes[v].incarnation;
	k->incarnation[1] = w->nodes[b].incarnation;
	k->peer[0] = k->peer[1] = RUMOR_CORE_NO_PEER;
	k->target = act->target;
	k->latency_us = lat;
	k->serial = ++w->next_serial;
	k->edge = UINT32_MAX;
	for (uint32_t i = w->out_start[v]; i < w->out_start[v + 1]; i++)
		if (w->cfg->topology->edges[w->out_edge[i]][1] == (uint32_t)b)
			k->edge = w->out_edge[i];
	push(w, w->now + 3 * lat, EV_HANDSHAKE, 0, c, k->gen, 0, NULL);
}

/* A buffer of at least len bytes in *buf (grown, never shrunk). */
static uint8_t *grow_buffer(uint8_t **buf, size_t *cap, size_t len)
{
	if (len > *cap) {
		uint8_t *p = realloc(*buf, len);
		if (p == NULL) {
			fprintf(stderr, "rumor-sim: out of memory\n");
			exit(1);
		}
		*buf = p;
		*cap = len;
	}
	return *buf;
}

static uint8_t *scratch(struct sim_world *w, size_t len)
{
	return grow_buffer(&w->scratch, &w->scratch_cap, len);
}

static void do_store_put(struct sim_world *w, uint32_t v, const struct rumor_core_action *act)
{
	struct sim_node *node = &w->nodes[v];
	int64_t idx = sim_store_find(&w->store, act->item->id);
	int status;
	if (idx < 0) {
		fail(w, SIM_INV_SUBMIT, "node %u stores an item the simulator did not make", v);
		status = -EIO;
	} else {
		uint8_t hops = 0;
		if (act->source_peer != NULL) {
			int64_t from = node_by_id(w, act->source_peer);
			hops = 255;
			if (from >= 0 && sim_store_has(&w->store, (uint32_t)from, (uint32_t)idx)) {
				uint8_t h = sim_store_hops(&w->store, (uint32_t)from, (uint32_t)idx);
				hops = h < 254 ? (uint8_t)(h + 1) : 254;
			}
		}
		uint64_t t = w->now > SIM_STORE_TIME_MAX ? SIM_STORE_TIME_MAX : w->now;
		status = sim_store_put(&w->store, v, (uint32_t)idx, (uint32_t)t, hops);
	}
	if (w->cfg->store_delay_us == 0)
		rumor_core_stored(node->core, act->job, status, status < 0 ? "not made" : NULL, w->now);
	else
		push(w, w->now + w->cfg->store_delay_us, EV_STORED, v, (uint32_t)status,
		     node->incarnation, act->job, NULL);
}

static void do_store_has(struct sim_world *w, uint32_t v, const struct rumor_core_action *act)
{
	struct sim_node *node = &w->nodes[v];
	uint8_t *found = scratch(w, act->count ? act->count : 1);
	for (uint32_t i = 0; i < act->count; i++) {
		int64_t idx = sim_store_find(&w->store, act->ids + 32 * (size_t)i);
		found[i] = idx >= 0 && sim_store_has(&w->store, v, (uint32_t)idx);
	}
	if (w->cfg->store_delay_us == 0) {
		rumor_core_store_has_answer(node->core, act->job, 0, found, w->now);
		return;
	}
	uint8_t *copy = malloc(act->count ? act->count : 1);
	if (copy == NULL) {
		fprintf(stderr, "rumor-sim: out of memory\n");
		exit(1);
	}
	memcpy(copy, found, act->count);
	push(w, w->now + w->cfg->store_delay_us, EV_HAS, v, 0, node->incarnation, act->job, copy);
}

static void answer_get(struct sim_world *w, uint32_t v, uint64_t job, int64_t idx)
{
	struct rumor_core *core = w->nodes[v].core;
	if (idx >= 0 && sim_store_has(&w->store, v, (uint32_t)idx)) {
		const struct sim_store_item *it = &w->store.items[idx];
		rumor_core_store_get_answer(core, job, 0, it->bytes, it->len, w->now);
	} else {
		rumor_core_store_get_answer(core, job, -ENOENT, NULL, 0, w->now);
	}
}

static void do_store_get(struct sim_world *w, uint32_t v, const struct rumor_core_action *act)
{
	int64_t idx = sim_store_find(&w->store, act->ids);
	if (w->cfg->store_delay_us == 0)
		answer_get(w, v, act->job, idx);
	else
		push(w, w->now + w->cfg->store_delay_us, EV_GOT, v, (uint32_t)(idx + 1),
		     w->nodes[v].incarnation, act->job, NULL);
}

static const char *status_name(int status)
{
	switch ((enum rumor_submit_status)status) {
	case RUMOR_SUBMIT_ACCEPTED:
		return "accepted";
	case RUMOR_SUBMIT_KNOWN:
		return "known";
	case RUMOR_SUBMIT_EDECODE:
		return "decode error";
	case RUMOR_SUBMIT_EREJECT:
		return "rejected";
	case RUMOR_SUBMIT_ESTORE:
		return "store error";
	case RUMOR_SUBMIT_EBUSY:
		return "busy";
	case RUMOR_SUBMIT_ESHUTDOWN:
		return "shutting down";
	}
	return "?";
}

static void node_drain(struct sim_world *w, uint32_t v)
{
	struct sim_node *node = &w->nodes[v];
	struct rumor_core_action act;
	for (;;) {
		rumor_core_next_action(node->core, &act);
		switch (act.type) {
		case RUMOR_CORE_NONE:
			goto done;
		case RUMOR_CORE_SEND:
			do_send(w, v, &act);
			break;
		case RUMOR_CORE_CLOSE:
			do_close(w, v, &act);
			break;
		case RUMOR_CORE_READ_PAUSE:
		case RUMOR_CORE_READ_RESUME: {
			uint32_t c;
			int side;
			end_of(act.peer_data, &c, &side);
			struct sim_conn *k = &w->conns[c];
			if (act.type == RUMOR_CORE_READ_PAUSE)
				k->hold[side].paused = 1;
			else /* released by an event: not inside this drain */
				push(w, w->now, EV_RESUME, (uint32_t)side, c, k->gen, 0, NULL);
			break;
		}
		case RUMOR_CORE_DIAL:
			do_dial(w, v, &act);
			break;
		case RUMOR_CORE_VERIFY: {
			const char *reason = NULL;
			if (w->cfg->verify_real)
				reason = rumor_item_verify_job(act.item, &w->network);
			w->verifications++;
			if (!w->cfg->verify_delay_set) {
				rumor_core_verified(node->core, act.job, reason, w->now);
				break;
			}
			/* The item stays valid until the answer (core.h). */
			push(w, w->now + sim_latency_draw_us(&w->cfg->verify_delay, &w->verify_rng),
			     EV_VERIFIED, v, 0, node->incarnation, act.job, (void *)reason);
			break;
		}
		case RUMOR_CORE_STORE_PUT:
			do_store_put(w, v, &act);
			break;
		case RUMOR_CORE_STORE_HAS:
			do_store_has(w, v, &act);
			break;
		case RUMOR_CORE_STORE_GET:
			do_store_get(w, v, &act);
			break;
		case RUMOR_CORE_REPLY:
			if (act.status != RUMOR_SUBMIT_ACCEPTED)
				fail(w, SIM_INV_SUBMIT, "node %u answered submission %llu: %s (%s)", v,
				     (unsigned long long)act.job, status_name(act.status),
				     act.reason ? act.reason : "");
			break;
		}
	}
done:;
	size_t mem = rumor_core_memory(node->core);
	if (mem > w->max_core_bytes)
		w->max_core_bytes = mem;
	uint64_t exp = rumor_core_expiry(node->core);
	if (exp <= w->now)
		exp = w->now + 1; /* due now: right after this event */
	if (exp < node->timer_at) {
		node->timer_at = exp;
		push(w, exp, EV_TIMER, v, 0, node->incarnation, 0, NULL);
	}
}

/* ---- limits ---- */

/* A bound on rumor_core_memory() derived from the configuration: every
 * byte budget, plus generous per-entry sizes for the counted tables. */
static size_t memory_bound(const struct rumor_core_config *c)
{
	size_t per_id = 128; /* an id table entry with its overhead, generously */
	size_t peers = (size_t)c->max_peers + 1;
	size_t relay_peers = (size_t)c->relay.max_peers + 1;
	if (relay_peers < peers)
		peers = relay_peers;
	return c->cache_bytes + c->pending_bytes_max + 2 * c->pool_bytes +
	       (size_t)c->cache_items * per_id + (size_t)c->pending_max * per_id +
	       peers * ((size_t)c->relay.known_per_peer + c->relay.max_announced_per_peer +
			c->relay.max_requests_per_peer + 4 * (size_t)c->relay.inv_batch_max) *
		       per_id +
	       (size_t)c->relay.rejected_max * per_id + (size_t)c->targets_max * 1024 +
	       (size_t)(1 << 20);
}

static void check_limits(struct sim_world *w, uint32_t v)
{
	const struct rumor_core_config *c = &w->core_cfg;
	struct rumor_core_stats st;
	rumor_core_get_stats(w->nodes[v].core, &st);
	const char *what = NULL;
	if (st.peers > c->max_peers)
		what = "ready peers over max_peers";
	else if (st.cache_items > c->cache_items || st.cache_bytes > c->cache_bytes)
		what = "recent-items cache over cache_items or cache_bytes";
	else if (st.in_flight > c->pending_max || st.in_flight_bytes > c->pending_bytes_max)
		what = "pipeline over pending_max or pending_bytes_max";
	else if (st.pending_blocks > c->pool_blocks || st.orphan_blocks > c->pool_blocks)
		what = "a block pool over pool_blocks";
	else if (st.relay.requests_in_flight > (uint64_t)c->relay.max_requests_per_peer * st.peers)
		what = "requests in flight over max_requests_per_peer per peer";
	else if (st.relay.ids_tracked > (uint64_t)c->relay.max_announced_per_peer * st.peers)
		what = "announced ids tracked over max_announced_per_peer per peer";
	else if (rumor_core_memory(w->nodes[v].core) > memory_bound(c))
		what = "rumor_core_memory() over the bound derived from the config";
	if (what != NULL)
		fail(w, SIM_INV_LIMITS, "node %u: %s", v, what);
}

/* ---- events ---- */

static void on_handshake(struct sim_world *w, const struct sim_event *ev)
{
	uint32_t c = ev->a;
	struct sim_conn *k = &w->conns[c];
	if (k->gen != ev->b || k->state != CONN_HANDSHAKE)
		return;
	struct sim_node *a = &w->nodes[k->node[0]], *b = &w->nodes[k->node[1]];
	int a_ok = a->alive && a->incarnation == k->incarnation[0];
	int b_ok = b->alive && b->incarnation == k->incarnation[1];
	if (!a_ok || !b_ok || cut(w, k->node[0], k->node[1])) {
		if (a_ok) {
			w->dial_failures++;
			rumor_core_dial_failed(a->core, k->target, 0, w->now);
			node_drain(w, k->node[0]);
		}
		conn_free(w, c);
		return;
	}
	w->connects++;
	k->state = CONN_OPEN;
	char addr[64];
	struct rumor_core_peer_info info;
	memset(&info, 0, sizeof(info));
	memcpy(info.node_id, a->id, 32);
	info.hello_nonce = a->nonce;
	info.outbound = 0;
	info.target = RUMOR_CORE_NO_TARGET;
	snprintf(addr, sizeof(addr), "n%u:%u", k->node[0], 40000 + (c % 20000));
	info.addr = addr;
	k->peer[1] = rumor_core_peer_ready(b->core, &info, end_data(c, 1), w->now);
	memcpy(info.node_id, b->id, 32);
	info.hello_nonce = b->nonce;
	info.outbound = 1;
	info.target = k->target;
	snprintf(addr, sizeof(addr), "n%u:%u", k->node[1], SIM_PORT);
	k->peer[0] = rumor_core_peer_ready(a->core, &info, end_data(c, 0), w->now);
	k->open[0] = k->peer[0] != RUMOR_CORE_NO_PEER;
	k->open[1] = k->peer[1] != RUMOR_CORE_NO_PEER;
	if (k->open[0] && k->open[1]) {
		if (k->edge != UINT32_MAX)
			w->edge_up_since[k->edge] = w->now;
	} else {
		/* A core that could not track it: its shell closes with TOO_MANY. */
		for (int s = 0; s < 2; s++)
			if (k->open[s])
				close_end_at(w, c, s, w->now + k->latency_us,
					     RUMOR_DISCONNECT_TOO_MANY);
	}
	uint32_t na = k->node[0], nb = k->node[1];
	if (!k->open[0] && !k->open[1])
		conn_free(w, c);
	node_drain(w, nb);
	node_drain(w, na);
}

static void deliver(struct sim_world *w, const struct sim_event *ev, int released);

static void on_deliver(struct sim_world *w, const struct sim_event *ev)
{
	deliver(w, ev, 0);
}

/* The core of side `side` resumed reading: held deliveries go to it in
 * order, until it pauses again (or the connection ends). */
static void on_resume(struct sim_world *w, const struct sim_event *ev)
{
	uint32_t c = ev->a;
	int side = (int)ev->node;
	if (w->conns[c].gen != ev->b || w->conns[c].state != CONN_OPEN || !w->conns[c].open[side])
		return;
	if (w->now < w->conns[c].stall_until) {
		push(w, w->conns[c].stall_until, EV_RESUME, (uint32_t)side, c, ev->b, 0, NULL);
		return;
	}
	w->conns[c].hold[side].paused = 0;
	for (;;) {
		struct sim_conn *k = &w->conns[c]; /* conns may move meanwhile */
		struct sim_hold *h = &k->hold[side];
		if (k->gen != ev->b || !k->open[side] || h->paused || h->head == h->n)
			return;
		struct sim_event held = h->ev[h->head++];
		deliver(w, &held, 1);
	}
}

static void deliver(struct sim_world *w, const struct sim_event *ev, int released)
{
	uint32_t c = ev->a;
	int side = (int)ev->node;
	uint8_t *buf = ev->ptr;
	size_t len = (size_t)ev->c;
	int by_item = ev->type == EV_DELIVER_ITEM;
	struct sim_conn *k = &w->conns[c];
	if (k->gen != ev->b || k->state != CONN_OPEN || !k->open[side]) {
		if (!by_item)
			pool_put(w, buf, len); /* the connection died with it in flight */
		return;
	}
	struct sim_hold *h = &k->hold[side];
	if (!released && (h->paused || h->head < h->n)) {
		/* Its core stopped reading: held, in order, until resumed. */
		hold_push(h, ev);
		return;
	}
	if (w->now < k->stall_until) {
		/* Stalled: held back, still in order. */
		w->net_events++;
		struct sim_event again = *ev;
		again.at = k->stall_until;
		if (sim_queue_push(&w->queue, &again) != 0)
			exit(1);
		return;
	}
	uint32_t v = k->node[side];
	struct rumor_msg m;
	if (by_item) {
		/* Encode the tx/block message around the stored item again. */
		const struct sim_store_item *it = &w->store.items[ev->c];
		memset(&m, 0, sizeof(m));
		m.type = (uint16_t)(uintptr_t)ev->ptr;
		m.u.tx.item.ptr = it->bytes;
		m.u.tx.item.len = it->len;
		len = 0;
		if (rumor_msg_encoded_size(&m, &len) != 0)
			len = 0;
		buf = grow_buffer(&w->item_buf, &w->item_buf_cap, len);
		if (len == 0 || rumor_msg_encode(&m, buf, len, &len) != 0) {
			fail(w, SIM_INV_CODEC, "node %u: a stored item's message does not encode", v);
			return;
		}
	}
	const char *why = rumor_msg_decode(&m, buf, len);
	if (why != NULL) {
		fail(w, SIM_INV_CODEC, "node %u cannot decode a message from node %u: %s", v,
		     k->node[!side], why);
	} else {
		rumor_core_on_message(w->nodes[v].core, k->peer[side], &m, w->now,
				      (int64_t)(SIM_EPOCH_S * 1000000 + w->now));
		node_drain(w, v);
	}
	if (!by_item)
		pool_put(w, buf, len);
}

static void on_close_end(struct sim_world *w, const struct sim_event *ev)
{
	uint32_t c = ev->a;
	int side = (int)ev->node;
	struct sim_conn *k = &w->conns[c];
	if (k->gen != ev->b || k->state != CONN_OPEN)
		return;
	if (w->now < k->stall_until && ev->c != 0) {
		w->net_events++;
		struct sim_event again = *ev;
		again.at = k->stall_until;
		if (sim_queue_push(&w->queue, &again) != 0)
			exit(1);
		return;
	}
	edge_down(w, k);
	if (k->open[side]) {
		uint32_t v = k->node[side];
		k->open[side] = 0;
		rumor_core_peer_closed(w->nodes[v].core, k->peer[side], (uint16_t)ev->c, w->now);
		conn_maybe_free(w, c);
		node_drain(w, v);
	} else {
		conn_maybe_free(w, c);
	}
}

static struct sim_node *answering(struct sim_world *w, const struct sim_event *ev)
{
	struct sim_node *node = &w->nodes[ev->node];
	if (!node->alive || node->incarnation != ev->b)
		return NULL;
	return node;
}

static void on_inject(struct sim_world *w, uint32_t item)
{
	const struct sim_config *cfg = w->cfg;
	uint32_t v;
	if (cfg->inject >= 0)
		v = (uint32_t)cfg->inject;
	else
		v = (uint32_t)sim_rng_below(&w->rng, w->n);
	/* A node that is down: the next live one takes the submission. */
	uint32_t tries = 0;
	while (!w->nodes[v].alive && tries++ < w->n)
		v = (v + 1) % w->n;
	if (!w->nodes[v].alive)
		return;
	const struct sim_store_item *it = &w->store.items[item];
	w->inject_at[item] = w->now;
	w->origin[item] = v;
	w->items_injected++;
	rumor_core_submit(w->nodes[v].core, item, it->bytes, it->len, 0, w->now,
			  (int64_t)(SIM_EPOCH_S * 1000000 + w->now));
	node_drain(w, v);
}

/* A random element from `count` candidates starting at a random index. */
static int64_t pick_open_conn(struct sim_world *w)
{
	if (w->n_conns == 0)
		return -1;
	uint32_t start = (uint32_t)sim_rng_below(&w->rng, w->n_conns);
	for (uint32_t i = 0; i < w->n_conns; i++) {
		uint32_t c = (start + i) % w->n_conns;
		if (w->conns[c].state == CONN_OPEN && w->conns[c].open[0] && w->conns[c].open[1])
			return c;
	}
	return -1;
}

static uint32_t count_alive(const struct sim_world *w)
{
	uint32_t n = 0;
	for (uint32_t v = 0; v < w->n; v++)
		n += w->nodes[v].alive;
	return n;
}

static uint32_t count_open(const struct sim_world *w)
{
	uint32_t n = 0;
	for (uint32_t c = 0; c < w->n_conns; c++)
		n += w->conns[c].state == CONN_OPEN;
	return n;
}

/* Random faults run from the first submission until one virtual second
 * after the last (so a burst, --rate=0, gets a second of them too). */
static uint64_t faults_end(const struct sim_world *w)
{
	const struct sim_config *cfg = w->cfg;
	uint64_t last = cfg->start_us;
	if (cfg->rate > 0 && cfg->items > 0)
		last += (uint64_t)((double)(cfg->items - 1) * 1e6 / cfg->rate);
	return last + 1000000;
}

static void schedule_tick(struct sim_world *w, uint32_t type, double rate_each, uint32_t count)
{
	if (rate_each <= 0 || count == 0)
		return;
	double mean_us = 1e6 / (rate_each * count);
	uint64_t at = w->now + (uint64_t)sim_rng_exponential(&w->rng, mean_us) + 1;
	if (at <= faults_end(w))
		push(w, at, type, 0, 0, 0, 0, NULL);
}

static void on_partition(struct sim_world *w, int start)
{
	w->partition_active = start;
	if (!start)
		return;
	for (uint32_t c = 0; c < w->n_conns; c++) {
		struct sim_conn *k = &w->conns[c];
		if (k->state == CONN_OPEN && w->nodes[k->node[0]].side != w->nodes[k->node[1]].side) {
			w->resets++;
			conn_reset(w, c);
		}
	}
}

static void handle(struct sim_world *w, const struct sim_event *ev)
{
	struct sim_node *node;
	switch ((enum ev_type)ev->type) {
	case EV_DELIVER:
	case EV_DELIVER_ITEM:
		on_deliver(w, ev);
		break;
	case EV_CLOSE_END:
		on_close_end(w, ev);
		break;
	case EV_HANDSHAKE:
		on_handshake(w, ev);
		break;
	case EV_DIAL_FAILED:
		if ((node = answering(w, ev)) != NULL) {
			w->dial_failures++;
			rumor_core_dial_failed(node->core, ev->a, 0, w->now);
			node_drain(w, ev->node);
		}
		break;
	case EV_VERIFIED:
		if ((node = answering(w, ev)) != NULL) {
			rumor_core_verified(node->core, ev->c, ev->ptr, w->now);
			node_drain(w, ev->node);
		}
		break;
	case EV_STORED:
		if ((node = answering(w, ev)) != NULL) {
			rumor_core_stored(node->core, ev->c, (int)ev->a, NULL, w->now);
			node_drain(w, ev->node);
		}
		break;
	case EV_HAS:
		if ((node = answering(w, ev)) != NULL) {
			rumor_core_store_has_answer(node->core, ev->c, 0, ev->ptr, w->now);
			node_drain(w, ev->node);
		}
		free(ev->ptr);
		break;
	case EV_GOT:
		if ((node = answering(w, ev)) != NULL) {
			answer_get(w, ev->node, ev->c, (int64_t)ev->a - 1);
			node_drain(w, ev->node);
		}
		break;
	case EV_TIMER:
		node = answering(w, ev);
		if (node == NULL || node->timer_at != ev->at)
			break; /* replaced by an earlier timer, or its core is gone */
		node->timer_at = UINT64_MAX;
		if (rumor_core_expiry(node->core) <= w->now)
			rumor_core_handle_expiry(node->core, w->now);
		node_drain(w, ev->node);
		if ((w->events & 255) == 0)
			check_limits(w, ev->node);
		break;
	case EV_INJECT:
		on_inject(w, ev->a);
		break;
	case EV_RESUME:
		on_resume(w, ev);
		break;
	case EV_OUTPUT: {
		struct sim_conn *k = &w->conns[ev->a];
		int side = (int)ev->node;
		if (k->gen != ev->b || k->state != CONN_OPEN || !k->open[side])
			break;
		uint32_t v = k->node[side];
		rumor_core_peer_output(w->nodes[v].core, k->peer[side],
				       (size_t)uplink_backlog(w, v), w->now);
		node_drain(w, v);
		break;
	}
	case EV_CRASH:
		node_crash(w, ev->node, ev->c);
		break;
	case EV_RESTART:
		if (!w->nodes[ev->node].alive && w->nodes[ev->node].incarnation == ev->b)
			node_restart(w, ev->node);
		break;
	case EV_PARTITION_START:
		on_partition(w, 1);
		break;
	case EV_PARTITION_END:
		on_partition(w, 0);
		break;
	case EV_CRASH_TICK: {
		uint32_t v = (uint32_t)sim_rng_below(&w->rng, w->n);
		uint32_t tries = 0;
		while (!w->nodes[v].alive && tries++ < w->n)
			v = (v + 1) % w->n;
		if (w->nodes[v].alive)
			node_crash(w, v, w->cfg->downtime_us);
		schedule_tick(w, EV_CRASH_TICK, w->cfg->crash_rate, count_alive(w));
		break;
	}
	case EV_RESET_TICK: {
		int64_t c = pick_open_conn(w);
		if (c >= 0) {
			w->resets++;
			conn_reset(w, (uint32_t)c);
		}
		schedule_tick(w, EV_RESET_TICK, w->cfg->reset_rate, count_open(w));
		break;
	}
	case EV_STALL_TICK: {
		int64_t c = pick_open_conn(w);
		if (c >= 0) {
			w->stalls++;
			w->conns[c].stall_until = w->now + w->cfg->stall_us;
		}
		schedule_tick(w, EV_STALL_TICK, w->cfg->stall_rate, count_open(w));
		break;
	}
	}
}

/* ---- items ---- */

static int make_items(struct sim_world *w, char *why, size_t why_len)
{
	const struct sim_config *cfg = w->cfg;
	uint8_t seed[32], pubkey[32], secret[64];
	uint8_t in[24];
	memcpy(in, "rumorsim-key-v1", 16);
	memcpy(in + 16, &cfg->seed, 8);
	rumor_sha256(in, sizeof(in), seed);
	rumor_sign_keypair_from_seed(seed, pubkey, secret);
	if (rumor_network_add_producer(&w->network, pubkey) != 0)
		return -EINVAL;
	struct sim_rng rng;
	sim_rng_seed(&rng, cfg->seed, UINT64_C(0x6974656d73)); /* "items" */
	uint8_t *payload = malloc(cfg->size ? cfg->size : 1);
	uint8_t *tx_ids = malloc((size_t)BLOCK_TX_MAX * 32);
	if (payload == NULL || tx_ids == NULL) {
		free(payload);
		free(tx_ids);
		return -ENOMEM;
	}
	uint32_t pending_tx = 0;
	uint64_t height = 0;
	uint8_t prev[32] = {0};
	int rc = 0;
	for (uint32_t i = 0; i < cfg->items && rc == 0; i++) {
		uint64_t at_us = cfg->start_us + (cfg->rate > 0 ? (uint64_t)((double)i * 1e6 / cfg->rate) : 0);
		uint64_t ts = SIM_EPOCH_S + at_us / 1000000;
		int block = cfg->blocks > 0 && sim_rng_double(&rng) < cfg->blocks;
		uint8_t *bytes;
		size_t len;
		if (block) {
			bytes = rumor_block_create(&w->network, secret, height, prev, ts, tx_ids,
						   pending_tx, &len);
		} else {
			for (uint32_t k = 0; k < cfg->size; k++)
				payload[k] = (uint8_t)sim_rng_next(&rng);
			bytes = rumor_tx_create(&w->network, secret, i, ts, payload, cfg->size, &len);
		}
		if (bytes == NULL) {
			snprintf(why, why_len, "cannot make item %u: %s", i, strerror(errno));
			rc = -EINVAL;
			break;
		}
		struct rumor_item item;
		const char *bad = rumor_item_decode(&item, bytes, len);
		if (bad == NULL)
			bad = rumor_item_check(&item, &w->network, ts);
		if (bad != NULL) {
			snprintf(why, why_len, "item %u is invalid: %s", i, bad);
			free(bytes);
			rc = -EINVAL;
			break;
		}
		uint32_t idx;
		rc = sim_store_add(&w->store, item.id, (uint8_t)item.kind, bytes, (uint32_t)len, &idx);
		if (block) {
			height++;
			memcpy(prev, item.id, 32);
			pending_tx = 0;
		} else if (pending_tx < BLOCK_TX_MAX) {
			memcpy(tx_ids + 32 * (size_t)pending_tx++, item.id, 32);
		}
		free(bytes);
	}
	sodium_memzero(secret, sizeof(secret));
	free(payload);
	free(tx_ids);
	return rc;
}

/* ---- world ---- */

int sim_world_new(struct sim_world **out, const struct sim_config *cfg, char *why, size_t why_len)
{
	struct sim_world *w = calloc(1, sizeof(*w));
	if (w == NULL)
		return -ENOMEM;
	const struct sim_topology *t = cfg->topology;
	w->cfg = cfg;
	w->n = t->n;
	w->free_conn = UINT32_MAX;
	sim_queue_init(&w->queue);
	sim_rng_seed(&w->rng, cfg->seed, UINT64_C(0x74696d656c696e65)); /* "timeline" */
	sim_rng_seed(&w->lose_rng, cfg->seed, UINT64_C(0x6c6f7365)); /* "lose" */
	sim_rng_seed(&w->verify_rng, cfg->seed, UINT64_C(0x766572696679)); /* "verify" */
	if (rumor_network_init(&w->network, "sim") != 0) {
		sim_world_del(w);
		return -EINVAL;
	}
	rumor_core_config_default(&w->core_cfg);
	w->core_cfg.network = &w->network;
	w->core_cfg.log = core_log;
	w->core_cfg.log_ctx = w;
	if (cfg->max_peers)
		w->core_cfg.max_peers = cfg->max_peers;
	if (cfg->cache_items)
		w->core_cfg.cache_items = cfg->cache_items;
	if (cfg->block_slice)
		w->core_cfg.block_slice = cfg->block_slice;
	if (cfg->peer_msg_rate) {
		w->core_cfg.peer_msg_rate = cfg->peer_msg_rate;
		w->core_cfg.peer_msg_burst = 2 * cfg->peer_msg_rate;
	}
	int rc = -ENOMEM;
	size_t cap = 16;
	while (cap < (size_t)w->n * 2)
		cap *= 2;
	w->id_mask = cap - 1;
	w->id_index = calloc(cap, sizeof(*w->id_index));
	w->nodes = calloc(w->n, sizeof(*w->nodes));
	w->out_start = calloc((size_t)w->n + 1, sizeof(*w->out_start));
	w->out_edge = malloc(((size_t)t->n_edges + 1) * sizeof(*w->out_edge));
	w->edge_up_since = malloc(((size_t)t->n_edges + 1) * sizeof(*w->edge_up_since));
	w->inject_at = malloc(((size_t)cfg->items + 1) * sizeof(*w->inject_at));
	w->origin = calloc((size_t)cfg->items + 1, sizeof(*w->origin));
	w->req_mask = 1023;
	w->requests = calloc(w->req_mask + 1, sizeof(*w->requests));
	if (w->id_index == NULL || w->nodes == NULL || w->out_start == NULL || w->out_edge == NULL ||
	    w->edge_up_since == NULL || w->inject_at == NULL || w->origin == NULL ||
	    w->requests == NULL)
		goto fail;
	for (uint32_t i = 0; i < cfg->items; i++)
		w->inject_at[i] = UINT64_MAX;
	for (uint32_t e = 0; e < t->n_edges; e++) {
		w->out_start[t->edges[e][0] + 1]++;
		w->edge_up_since[e] = UINT64_MAX;
	}
	for (uint32_t v = 0; v < w->n; v++)
		w->out_start[v + 1] += w->out_start[v];
	{
		uint32_t *fill = malloc(((size_t)w->n + 1) * sizeof(*fill));
		if (fill == NULL)
			goto fail;
		memcpy(fill, w->out_start, (size_t)w->n * sizeof(*fill));
		for (uint32_t e = 0; e < t->n_edges; e++)
			w->out_edge[fill[t->edges[e][0]]++] = e;
		free(fill);
	}
	for (uint32_t v = 0; v < w->n; v++) {
		uint8_t in[28];
		memcpy(in, "rumorsim-nid-v1", 16);
		memcpy(in + 16, &cfg->seed, 8);
		memcpy(in + 24, &v, 4);
		rumor_sha256(in, sizeof(in), w->nodes[v].id);
		w->nodes[v].timer_at = UINT64_MAX;
		w->nodes[v].uplink.bytes_per_s = cfg->bandwidth;
		id_index_add(w, v);
	}
	if (sim_store_init(&w->store, w->n, cfg->items) != 0)
		goto fail;
	rc = make_items(w, why, why_len);
	if (rc != 0)
		goto fail;
	*out = w;
	return 0;
fail:
	sim_world_del(w);
	return rc;
}

void sim_world_del(struct sim_world *w)
{
	if (w == NULL)
		return;
	if (w->nodes != NULL)
		for (uint32_t v = 0; v < w->n; v++)
			if (w->nodes[v].core != NULL)
				rumor_core_del(w->nodes[v].core);
	struct sim_event ev;
	while (sim_queue_pop(&w->queue, &ev)) {
		if (ev.type == EV_DELIVER)
			pool_put(w, ev.ptr, (size_t)ev.c);
		else if (ev.type == EV_HAS)
			free(ev.ptr);
	}
	sim_queue_free(&w->queue);
	for (uint32_t c = 0; c < w->n_conns; c++) { /* held deliveries (before the pool goes) */
		hold_free(w, &w->conns[c].hold[0]);
		hold_free(w, &w->conns[c].hold[1]);
	}
	for (int c = 0; c < SIM_POOL_CLASSES; c++) {
		void *p = w->pool[c];
		while (p != NULL) {
			void *next;
			memcpy(&next, p, sizeof(next));
			free(p);
			p = next;
		}
	}
	sim_store_free(&w->store);
	free(w->nodes);
	free(w->out_start);
	free(w->out_edge);
	free(w->edge_up_since);
	free(w->conns);
	free(w->id_index);
	free(w->inject_at);
	free(w->origin);
	free(w->requests);
	free(w->scratch);
	free(w->item_buf);
	free(w);
}

/* The delivery invariant, after the run: item i must be at every node that
 * was up from its submission to the end (never crashed meanwhile) and that
 * is joined to the originator by topology edges up over that whole time
 * (established before the submission and never down since), through such
 * nodes.  A partition resets the edges across it, so the far side drops out
 * for items submitted before the graph healed; a node that crashed after
 * the submission drops out with its edges.  Without anti-entropy nothing
 * brings an item to a node that was cut off while it flooded, so no more
 * than this is promised. */
/* A block can be valid at v only once its parent and its transactions are
 * there: when one of them legitimately missed v, so does the block. */
static int block_ready(const struct sim_world *w, const struct rumor_item *item, uint32_t v)
{
	const struct rumor_block *b = &item->u.block;
	if (b->height > 0) {
		int64_t p = sim_store_find(&w->store, b->prev);
		if (p < 0 || !sim_store_has(&w->store, v, (uint32_t)p))
			return 0;
	}
	for (uint32_t k = 0; k < b->tx_count; k++) {
		int64_t t = sim_store_find(&w->store, b->tx_ids + 32 * (size_t)k);
		if (t < 0 || !sim_store_has(&w->store, v, (uint32_t)t))
			return 0;
	}
	return 1;
}

static void check_delivery(struct sim_world *w)
{
	const struct sim_topology *t = w->cfg->topology;
	uint32_t n = w->n;
	uint32_t *start = calloc((size_t)n + 1, sizeof(*start));
	uint32_t *adj = malloc(((size_t)t->n_edges * 2 + 1) * sizeof(*adj));
	uint64_t *adj_since = malloc(((size_t)t->n_edges * 2 + 1) * sizeof(*adj_since));
	uint32_t *queue = malloc((size_t)n * sizeof(*queue));
	uint32_t *seen = calloc(n, sizeof(*seen));
	if (!start || !adj || !adj_since || !queue || !seen) {
		fprintf(stderr, "rumor-sim: out of memory\n");
		exit(1);
	}
	for (uint32_t e = 0; e < t->n_edges; e++) {
		start[t->edges[e][0] + 1]++;
		start[t->edges[e][1] + 1]++;
	}
	for (uint32_t v = 0; v < n; v++)
		start[v + 1] += start[v];
	memcpy(queue, start, (size_t)n * sizeof(*queue));
	for (uint32_t e = 0; e < t->n_edges; e++) {
		uint32_t a = t->edges[e][0], b = t->edges[e][1];
		adj_since[queue[a]] = w->edge_up_since[e];
		adj[queue[a]++] = b;
		adj_since[queue[b]] = w->edge_up_since[e];
		adj[queue[b]++] = a;
	}
	uint64_t missing = 0;
	for (uint32_t i = 0; i < w->store.count; i++) {
		uint64_t t0 = w->inject_at[i];
		if (t0 == UINT64_MAX)
			continue;
		uint32_t o = w->origin[i];
		if (!w->nodes[o].alive || w->nodes[o].up_since > t0)
			continue; /* the originator crashed after the submission */
		size_t head = 0, tail = 0;
		queue[tail++] = o;
		seen[o] = i + 1;
		struct rumor_item item;
		int is_block = rumor_item_decode(&item, w->store.items[i].bytes, w->store.items[i].len) ==
				       NULL &&
			       item.kind == RUMOR_ITEM_BLOCK;
		while (head < tail) {
			uint32_t v = queue[head++];
			if (!sim_store_has(&w->store, v, i)) {
				if (is_block && v != o && !block_ready(w, &item, v))
					continue; /* cannot be valid here, nor go on from here */
				if (missing++ == 0)
					fail(w, SIM_INV_DELIVERY,
					     "node %u lacks item %u (submitted at node %u at %.3f ms)", v, i,
					     o, (double)t0 / 1000.0);
				else
					w->failures[SIM_INV_DELIVERY]++;
			}
			for (uint32_t k = start[v]; k < start[v + 1]; k++) {
				uint32_t x = adj[k];
				if (seen[x] == i + 1 || adj_since[k] > t0 || !w->nodes[x].alive ||
				    w->nodes[x].up_since > t0)
					continue;
				seen[x] = i + 1;
				queue[tail++] = x;
			}
		}
	}
	free(start);
	free(adj);
	free(adj_since);
	free(queue);
	free(seen);
}

int sim_world_run(struct sim_world *w)
{
	const struct sim_config *cfg = w->cfg;
	/* Every node is up before any dials. */
	for (uint32_t v = 0; v < w->n; v++)
		if (node_start(w, v) != 0)
			return -ENOMEM;
	for (uint32_t v = 0; v < w->n; v++)
		node_drain(w, v);
	for (uint32_t i = 0; i < w->store.count; i++) {
		uint64_t at = cfg->start_us + (cfg->rate > 0 ? (uint64_t)((double)i * 1e6 / cfg->rate) : 0);
		push(w, at, EV_INJECT, 0, i, 0, 0, NULL);
		if (at > w->last_timeline)
			w->last_timeline = at;
	}
	if (cfg->partition) {
		uint32_t *perm = malloc((size_t)w->n * sizeof(*perm));
		if (perm == NULL)
			return -ENOMEM;
		for (uint32_t v = 0; v < w->n; v++)
			perm[v] = v;
		for (uint32_t v = w->n - 1; v > 0; v--) {
			uint32_t j = (uint32_t)sim_rng_below(&w->rng, (uint64_t)v + 1);
			uint32_t x = perm[v];
			perm[v] = perm[j];
			perm[j] = x;
		}
		uint32_t far = (uint32_t)(cfg->partition_fraction * w->n);
		for (uint32_t k = 0; k < far; k++)
			w->nodes[perm[k]].side = 1;
		free(perm);
		push(w, cfg->partition_t1_us, EV_PARTITION_START, 0, 0, 0, 0, NULL);
		push(w, cfg->partition_t2_us, EV_PARTITION_END, 0, 0, 0, 0, NULL);
		if (cfg->partition_t2_us > w->last_timeline)
			w->last_timeline = cfg->partition_t2_us;
	}
	for (size_t k = 0; k < cfg->n_crash_at; k++) {
		push(w, cfg->crash_at[k].at_us, EV_CRASH, cfg->crash_at[k].node, 0, 0,
		     cfg->crash_at[k].downtime_us, NULL);
		uint64_t end = cfg->crash_at[k].at_us;
		if (cfg->crash_at[k].downtime_us != UINT64_MAX)
			end += cfg->crash_at[k].downtime_us;
		if (end > w->last_timeline)
			w->last_timeline = end;
	}
	uint64_t saved_now = w->now;
	w->now = cfg->start_us;
	schedule_tick(w, EV_CRASH_TICK, cfg->crash_rate, w->n);
	schedule_tick(w, EV_RESET_TICK, cfg->reset_rate, cfg->topology->n_edges);
	schedule_tick(w, EV_STALL_TICK, cfg->stall_rate, cfg->topology->n_edges);
	w->now = saved_now;

	struct sim_event ev;
	uint64_t audit_at = 0;
	while (sim_queue_pop(&w->queue, &ev)) {
		if (ev.at > cfg->max_time_us ||
		    (ev.at > w->last_timeline && w->net_events == 0 && ev.at >= w->last_busy + cfg->quiet_us)) {
			/* Put it back for the cleanup of sim_world_del. */
			if (sim_queue_push(&w->queue, &ev) != 0)
				return -ENOMEM;
			break;
		}
		if (is_network_event(ev.type))
			w->net_events--;
		w->now = ev.at;
		w->events++;
		handle(w, &ev);
		if (is_network_event(ev.type) || w->net_events > 0)
			w->last_busy = w->now;
		if (w->now >= audit_at) {
			for (uint32_t v = 0; v < w->n; v++)
				if (w->nodes[v].alive)
					check_limits(w, v);
			audit_at = w->now + 1000000;
		}
	}
	w->end_us = w->now;
	for (uint32_t v = 0; v < w->n; v++)
		if (w->nodes[v].alive)
			check_limits(w, v);
	for (uint32_t v = 0; v < w->n; v++) {
		if (w->nodes[v].alive) {
			add_stats(w, w->nodes[v].core);
			w->end_core_bytes += rumor_core_memory(w->nodes[v].core);
		}
	}
	check_delivery(w);
	return 0;
}
