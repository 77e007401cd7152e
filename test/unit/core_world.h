/*
 * test/unit/core_world.h: a tiny deterministic world of node cores for the
 * core's unit tests and its fuzz target: each node has an in-memory store
 * (a fixed array), connections are pairs of peer handles, and messages go
 * through the real codec (rumor_msg_encode, then rumor_msg_decode) on a
 * FIFO queue.  Answers to jobs are given at once ("auto") or recorded for
 * the test to give later.  Header-only (static functions) so a test and a
 * fuzz target each compile their own copy.
 */
#ifndef RUMOR_TEST_CORE_WORLD_H
#define RUMOR_TEST_CORE_WORLD_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/item.h"
#include "net/core.h"
#include "net/message.h"

#ifndef W_NODES
#define W_NODES 4
#endif
#ifndef W_STORE
#define W_STORE 512
#endif
#ifndef W_JOBS
#define W_JOBS 1024
#endif
#ifndef W_MSGS
#define W_MSGS 4096
#endif

struct w_stored {
	uint8_t id[32];
	uint8_t kind;
	uint8_t *bytes;
	size_t len;
	int sync;
	char source[8];
};

struct w_job {
	struct rumor_core_action a; /* type, job; item copied below */
	uint8_t id[32];
	uint8_t kind;
	uint8_t *bytes;
	size_t len;
	uint8_t *ids;
	uint32_t count;
};

struct w_reply {
	uint64_t token;
	int status;
	char reason[256];
};

struct w_close {
	int to; /* node index the connection went to */
	uint16_t code;
	char reason[256];
};

struct w_node {
	struct rumor_core *core;
	uint8_t node_id[32];
	uint64_t nonce;
	struct w_stored store[W_STORE];
	size_t n_store;
	rumor_core_peer peer_of[W_NODES]; /* handle of the connection to node j */
	int auto_verify, auto_store, auto_has, auto_get, auto_dial;
	const char *bad_verify; /* auto_verify answers this reason (NULL: valid) */
	int real_verify;        /* auto_verify runs rumor_item_verify_job instead */
	uint32_t has_count[16]; /* the sizes of the first STORE_HAS queries */
	uint8_t has_first[16][32]; /* and the first id of each */
	struct w_job jobs[W_JOBS]; /* recorded when not auto */
	size_t n_jobs;
	struct w_reply replies[W_JOBS];
	size_t n_replies;
	struct w_close closes[64];
	size_t n_closes;
	uint64_t verifies, puts, has_queries, gets, dials;
	uint64_t sent_by_type[16];
	char last_log[1024];
	size_t n_logs;
	int paused[W_NODES];   /* READ_PAUSE for the connection to node j, no RESUME yet
				* (this world keeps delivering: a shell that does not
				* stop reading) */
	uint64_t pauses, resumes;
	int hold_output;       /* 1: no rumor_core_peer_output after a SEND (the
				* output queue grows as the core counts it) */
	struct rumor_core_addr dial_addr[16];
	rumor_core_target dial_target[16];
	size_t n_dial;
};

struct w_msg {
	int from, to;
	uint8_t *bytes;
	size_t len;
};

struct world {
	struct w_node n[W_NODES];
	int count;
	uint64_t now;
	int64_t wall;
	struct rumor_network net;
	struct w_msg msgs[W_MSGS];
	size_t head, tail;
	int (*on_send)(struct world *w, int from, int to, const struct rumor_msg *m);
};

static void w_log(void *ctx, enum rumor_core_log_level level, const char *line)
{
	struct w_node *n = ctx;
	(void)level;
	n->n_logs++;
	snprintf(n->last_log, sizeof(n->last_log), "%s", line);
}

static int w_store_find(const struct w_node *n, const uint8_t *id)
{
	for (size_t i = 0; i < n->n_store; i++)
		if (memcmp(n->store[i].id, id, 32) == 0)
			return (int)i;
	return -1;
}

static void w_init(struct world *w, int count, void (*tweak)(struct rumor_core_config *, int))
{
	memset(w, 0, sizeof(*w));
	w->count = count;
	w->now = 1000000;
	w->wall = (int64_t)1700000000 * 1000000;
	if (rumor_network_init(&w->net, "regtest") != 0)
		abort();
	for (int i = 0; i < count; i++) {
		struct w_node *n = &w->n[i];
		struct rumor_core_config cfg;
		rumor_core_config_default(&cfg);
		cfg.network = &w->net;
		memset(n->node_id, 0x10 * (i + 1), 32);
		memcpy(cfg.node_id, n->node_id, 32);
		n->nonce = 1000 + (uint64_t)i;
		cfg.hello_nonce = n->nonce;
		memset(cfg.seed, i + 1, sizeof(cfg.seed));
		cfg.relay.max_peers = 16;
		cfg.max_peers = 16;
		cfg.log = w_log;
		cfg.log_ctx = n;
		if (tweak)
			tweak(&cfg, i);
		if (rumor_core_new(&n->core, &cfg, w->now) != 0)
			abort();
		n->auto_verify = n->auto_store = n->auto_has = n->auto_get = 1;
		for (int j = 0; j < W_NODES; j++)
			n->peer_of[j] = RUMOR_CORE_NO_PEER;
	}
}

static void w_free(struct world *w)
{
	for (int i = 0; i < w->count; i++) {
		struct w_node *n = &w->n[i];
		rumor_core_del(n->core);
		for (size_t k = 0; k < n->n_store; k++)
			free(n->store[k].bytes);
		for (size_t k = 0; k < n->n_jobs; k++) {
			free(n->jobs[k].bytes);
			free(n->jobs[k].ids);
		}
	}
	while (w->head != w->tail) {
		free(w->msgs[w->head % W_MSGS].bytes);
		w->head++;
	}
}

static int w_store_put(struct w_node *n, const struct rumor_item *item, int sync,
		       const char *source)
{
	if (w_store_find(n, item->id) >= 0)
		return 1;
	if (n->n_store == W_STORE)
		return -1;
	struct w_stored *s = &n->store[n->n_store++];
	memcpy(s->id, item->id, 32);
	s->kind = (uint8_t)item->kind;
	s->bytes = malloc(item->size);
	memcpy(s->bytes, item->encoding, item->size);
	s->len = item->size;
	s->sync = sync;
	snprintf(s->source, sizeof(s->source), "%s", source ? source : "");
	return 0;
}

/* Connect i (dialing) and j: both sides READY.  Returns 0. */
static void w_connect(struct world *w, int i, int j, rumor_core_target target)
{
	struct rumor_core_peer_info info;
	memset(&info, 0, sizeof(info));
	memcpy(info.node_id, w->n[j].node_id, 32);
	info.hello_nonce = w->n[j].nonce;
	info.outbound = 1;
	info.target = target;
	info.addr = "127.0.0.1:1";
	w->n[i].peer_of[j] = rumor_core_peer_ready(w->n[i].core, &info, (void *)(uintptr_t)(j + 1),
						   w->now);
	memcpy(info.node_id, w->n[i].node_id, 32);
	info.hello_nonce = w->n[i].nonce;
	info.outbound = 0;
	info.target = RUMOR_CORE_NO_TARGET;
	w->n[j].peer_of[i] = rumor_core_peer_ready(w->n[j].core, &info, (void *)(uintptr_t)(i + 1),
						   w->now);
}

static void w_record(struct w_node *n, const struct rumor_core_action *a)
{
	if (n->n_jobs == W_JOBS)
		abort();
	struct w_job *j = &n->jobs[n->n_jobs++];
	memset(j, 0, sizeof(*j));
	j->a = *a;
	if (a->item) {
		memcpy(j->id, a->item->id, 32);
		j->kind = (uint8_t)a->item->kind;
		j->bytes = malloc(a->item->size);
		memcpy(j->bytes, a->item->encoding, a->item->size);
		j->len = a->item->size;
	}
	if (a->ids) {
		size_t n32 = (size_t)(a->type == RUMOR_CORE_STORE_GET ? 1 : a->count) * 32;
		j->ids = malloc(n32 ? n32 : 1);
		memcpy(j->ids, a->ids, n32);
		j->count = a->type == RUMOR_CORE_STORE_GET ? 1 : a->count;
		j->kind = a->kind;
	}
	j->a.item = NULL;
	j->a.ids = NULL;
	j->a.msg = NULL;
	j->a.reason = NULL;
	j->a.addr = NULL;
	j->a.source = NULL;
	j->a.source_peer = NULL;
	j->a.id = NULL;
}

/* Carries out every action of node i.  Returns how many. */
static int w_drain(struct world *w, int i)
{
	struct w_node *n = &w->n[i];
	int count = 0;
	for (;;) {
		struct rumor_core_action a;
		rumor_core_next_action(n->core, &a);
		if (a.type == RUMOR_CORE_NONE)
			break;
		count++;
		switch (a.type) {
		case RUMOR_CORE_NONE:
			break;
		case RUMOR_CORE_SEND: {
			int to = (int)(uintptr_t)a.peer_data - 1;
			if (a.msg->type < 16)
				n->sent_by_type[a.msg->type]++;
			/* written at once: nothing stays queued */
			if (!n->hold_output)
				rumor_core_peer_output(n->core, a.peer, 0, w->now);
			if (w->on_send && w->on_send(w, i, to, a.msg))
				break;
			size_t len = 0;
			if (rumor_msg_encoded_size(a.msg, &len) != 0)
				abort();
			uint8_t *buf = malloc(len + 1);
			if (rumor_msg_encode(a.msg, buf, len + 1, &len) != 0)
				abort();
			if (w->tail - w->head == W_MSGS)
				abort();
			struct w_msg *m = &w->msgs[w->tail++ % W_MSGS];
			m->from = i;
			m->to = to;
			m->bytes = buf;
			m->len = len;
			break;
		}
		case RUMOR_CORE_READ_PAUSE:
		case RUMOR_CORE_READ_RESUME: {
			int to = (int)(uintptr_t)a.peer_data - 1;
			if (a.type == RUMOR_CORE_READ_PAUSE)
				n->pauses++;
			else
				n->resumes++;
			if (to >= 0 && to < W_NODES)
				n->paused[to] = a.type == RUMOR_CORE_READ_PAUSE;
			break;
		}
		case RUMOR_CORE_CLOSE: {
			int to = (int)(uintptr_t)a.peer_data - 1;
			if (n->n_closes < 64) {
				struct w_close *c = &n->closes[n->n_closes++];
				c->to = to;
				c->code = a.code;
				snprintf(c->reason, sizeof(c->reason), "%s", a.reason ? a.reason : "");
			}
			rumor_core_peer h = a.peer;
			if (to >= 0 && to < w->count && n->peer_of[to] == h)
				n->peer_of[to] = RUMOR_CORE_NO_PEER;
			rumor_core_peer_closed(n->core, h, a.code, w->now);
			/* the other side sees the disconnect */
			if (to >= 0 && to < w->count && w->n[to].peer_of[i] != RUMOR_CORE_NO_PEER) {
				rumor_core_peer other = w->n[to].peer_of[i];
				w->n[to].peer_of[i] = RUMOR_CORE_NO_PEER;
				rumor_core_peer_closed(w->n[to].core, other, a.code, w->now);
			}
			break;
		}
		case RUMOR_CORE_DIAL:
			n->dials++;
			if (n->n_dial < 16) {
				n->dial_addr[n->n_dial] = *a.addr;
				n->dial_target[n->n_dial] = a.target;
				n->n_dial++;
			}
			break;
		case RUMOR_CORE_VERIFY:
			n->verifies++;
			if (n->auto_verify)
				rumor_core_verified(n->core, a.job,
						    n->real_verify
							    ? rumor_item_verify_job(a.item, &w->net)
							    : n->bad_verify,
						    w->now);
			else
				w_record(n, &a);
			break;
		case RUMOR_CORE_STORE_PUT:
			n->puts++;
			if (n->auto_store)
				rumor_core_stored(n->core, a.job,
						  w_store_put(n, a.item, a.sync, a.source), NULL,
						  w->now);
			else
				w_record(n, &a);
			break;
		case RUMOR_CORE_STORE_HAS:
			if (n->has_queries < 16 && a.count) {
				n->has_count[n->has_queries] = a.count;
				memcpy(n->has_first[n->has_queries], a.ids, 32);
			}
			n->has_queries++;
			if (n->auto_has) {
				uint8_t *found = calloc(a.count ? a.count : 1, 1);
				for (uint32_t k = 0; k < a.count; k++)
					found[k] = w_store_find(n, a.ids + 32 * (size_t)k) >= 0;
				rumor_core_store_has_answer(n->core, a.job, 0, found, w->now);
				free(found);
			} else {
				w_record(n, &a);
			}
			break;
		case RUMOR_CORE_STORE_GET:
			n->gets++;
			if (n->auto_get) {
				int k = w_store_find(n, a.ids);
				if (k >= 0 && n->store[k].kind == a.kind)
					rumor_core_store_get_answer(n->core, a.job, 0,
								    n->store[k].bytes,
								    n->store[k].len, w->now);
				else
					rumor_core_store_get_answer(n->core, a.job, -1, NULL, 0,
								    w->now);
			} else {
				w_record(n, &a);
			}
			break;
		case RUMOR_CORE_REPLY:
			if (n->n_replies < W_JOBS) {
				struct w_reply *r = &n->replies[n->n_replies++];
				r->token = a.job;
				r->status = a.status;
				snprintf(r->reason, sizeof(r->reason), "%s", a.reason ? a.reason : "");
			}
			break;
		}
	}
	return count;
}

/* Delivers one queued message.  Returns 0 when none. */
static int w_deliver_one(struct world *w)
{
	if (w->head == w->tail)
		return 0;
	struct w_msg m = w->msgs[w->head++ % W_MSGS];
	struct w_node *to = &w->n[m.to];
	rumor_core_peer h = to->peer_of[m.from];
	if (h != RUMOR_CORE_NO_PEER) {
		struct rumor_msg msg;
		if (rumor_msg_decode(&msg, m.bytes, m.len) != NULL)
			abort();
		rumor_core_on_message(to->core, h, &msg, w->now, w->wall);
	}
	free(m.bytes);
	return 1;
}

/* Drains every node and delivers every message until all is quiet. */
static void w_settle(struct world *w)
{
	for (int rounds = 0; rounds < 100000; rounds++) {
		int busy = 0;
		for (int i = 0; i < w->count; i++)
			busy += w_drain(w, i);
		while (w_deliver_one(w))
			busy++;
		if (!busy)
			return;
	}
	abort();
}

/* Advances time to t, running expiries on the way, settling each time. */
static void w_advance(struct world *w, uint64_t t)
{
	for (;;) {
		w_settle(w);
		uint64_t next = UINT64_MAX;
		for (int i = 0; i < w->count; i++) {
			uint64_t e = rumor_core_expiry(w->n[i].core);
			if (e < next)
				next = e;
		}
		if (next > t)
			break;
		if (next > w->now)
			w->now = next;
		for (int i = 0; i < w->count; i++)
			if (rumor_core_expiry(w->n[i].core) <= w->now)
				rumor_core_handle_expiry(w->n[i].core, w->now);
	}
	if (t > w->now)
		w->now = t;
	w_settle(w);
}

#endif
