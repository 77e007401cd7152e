/*
 * test/fuzz/fuzz_core.c: libFuzzer target for the node core (net/core.h),
 * driven by random event sequences on 2 or 3 cores wired to each other.
 *
 * Input: byte 0 picks the number of cores (2 + bit 0) and whether answers
 * are automatic after each step (bit 1); the rest is a sequence of
 * operations, one opcode byte and its argument bytes each (missing bytes
 * read as 0):
 *   0 i j f   connect i (dialling) and j; f bit 0: i sees its own hello
 *             nonce (a self connection)
 *   1 i j     the connection i-j drops (both report peer_closed)
 *   2 n       deliver up to n queued messages (through the real codec)
 *   3 i k     RPC submission at i of pool item k (k >= 0xf0: junk bytes)
 *   4 i j t . inject a message "from j" into i: t selects inv, getdata,
 *             notfound (entries from the item pool), tx, block (a pool
 *             item), or random bytes decoded with rumor_msg_decode
 *   5 i k a   answer outstanding job k of i with variant a (valid or not,
 *             stored, known or failed, found or not), or answer it again
 *   6 d       advance time by d * 997 us; run the expiry of due cores
 *   7 i       drain i's actions
 *   8 i o     dial targets of i: add, onetry, remove, a dial fails
 *   9 i       shut i down
 *   else      answer every outstanding job correctly and drain everything
 * At the end everything is answered and drained, then the cores are freed.
 *
 * Checked after every step: a REPLY comes at most once per submission and
 * only for one that was made; no SEND or CLOSE names a peer that is closed
 * (or was never given); no tx/block payload goes to a peer that did not
 * ask for that id by getdata; a VERIFY/STORE_PUT item is unchanged until
 * its job is answered; rumor_core_memory() stays under a bound derived from
 * the config; no crash, leak or sanitizer report.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/item.h"
#include "crypto/sign.h"
#include "net/core.h"
#include "net/message.h"

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond)) {                                                                 \
			fprintf(stderr, "fuzz_core: check failed at %s:%d: %s\n", __FILE__,    \
				__LINE__, #cond);                                              \
			abort();                                                               \
		}                                                                              \
	} while (0)

#define NODES 3
#define POOL 12
#define STORE 64
#define JOBS 256
#define MSGS 512
#define ASKED 2048
#define SUBMITS 1024

struct item {
	uint8_t *bytes;
	size_t len;
	uint8_t id[32];
	uint8_t kind;
};

static struct rumor_network net;
static struct item pool[POOL];
static const char *pool_verdict[POOL]; /* rumor_item_verify_job() of each pool item */
static int pool_ready;

struct job {
	enum rumor_core_action_type type;
	uint64_t job;
	const struct rumor_item *item; /* the core's pointer, checked at answer */
	uint8_t *copy;                 /* the item's bytes when handed out */
	size_t len;
	uint8_t *ids;
	uint32_t count;
	uint8_t kind;
	int answered;
};

struct node {
	struct rumor_core *core;
	struct rumor_core_config cfg;
	uint8_t id[32];
	uint64_t nonce;
	struct item store[STORE];
	int n_store;
	rumor_core_peer conn[NODES]; /* to node j */
	int open[NODES];
	rumor_core_peer fake; /* a connection from a node outside the world */
	int fake_open;
	struct job jobs[JOBS];
	int n_jobs;
	/* ids asked of this node by getdata, per asking node (NODES = the fake):
	 * the first n_asked[from] of asked_ids[node][from] */
	int n_asked[NODES + 1];
	rumor_core_target targets[8];
	int n_targets;
	int down;
};

struct msg {
	int from, to;
	uint8_t *bytes;
	size_t len;
};

static struct node nodes[NODES];
/* Kept out of struct node so that setup()'s memset of nodes stays small
 * (768 KiB a run otherwise); only the first n_asked entries are ever read. */
static uint8_t asked_ids[NODES][NODES + 1][ASKED][32];
static int n_nodes;
static struct msg msgs[MSGS];
static int msg_head, msg_tail;
static uint64_t now_us;
static int64_t wall_us;
static uint8_t replied[SUBMITS];
static uint64_t next_token;

static void make_pool(void)
{
	if (pool_ready)
		return;
	rumor_network_init(&net, "regtest");
	uint8_t seed[32], pub[32], secret[64];
	memset(seed, 3, sizeof(seed));
	rumor_sign_keypair_from_seed(seed, pub, secret);
	uint64_t t = 1700000000;
	for (int i = 0; i < 6; i++)
		pool[i].bytes = rumor_tx_create(&net, secret, (uint64_t)i, t, (const uint8_t *)"p", 1,
						&pool[i].len);
	for (int i = 0; i < 6; i++) {
		struct rumor_item it;
		rumor_item_decode(&it, pool[i].bytes, pool[i].len);
		memcpy(pool[i].id, it.id, 32);
		pool[i].kind = RUMOR_ITEM_TX;
	}
	uint8_t zero[32] = {0}, txids[3][32];
	for (int i = 0; i < 3; i++)
		memcpy(txids[i], pool[i].id, 32);
	/* a chain b6 <- b7 <- b8, b9 with txs, b10 an orphan of an unknown parent */
	pool[6].bytes = rumor_block_create(&net, secret, 0, zero, t, NULL, 0, &pool[6].len);
	rumor_sha256(pool[6].bytes, pool[6].len, pool[6].id);
	pool[7].bytes = rumor_block_create(&net, secret, 1, pool[6].id, t, txids[0], 2, &pool[7].len);
	rumor_sha256(pool[7].bytes, pool[7].len, pool[7].id);
	pool[8].bytes = rumor_block_create(&net, secret, 2, pool[7].id, t, txids[2], 1, &pool[8].len);
	rumor_sha256(pool[8].bytes, pool[8].len, pool[8].id);
	pool[9].bytes = rumor_block_create(&net, secret, 1, pool[6].id, t, txids[1], 2, &pool[9].len);
	rumor_sha256(pool[9].bytes, pool[9].len, pool[9].id);
	uint8_t other[32];
	memset(other, 0xab, 32);
	pool[10].bytes = rumor_block_create(&net, secret, 5, other, t, NULL, 0, &pool[10].len);
	rumor_sha256(pool[10].bytes, pool[10].len, pool[10].id);
	/* a tx with a bad signature (one byte of it flipped) */
	pool[11].len = pool[5].len;
	pool[11].bytes = malloc(pool[11].len);
	memcpy(pool[11].bytes, pool[5].bytes, pool[11].len);
	pool[11].bytes[pool[11].len - 1] ^= 1;
	rumor_sha256(pool[11].bytes, pool[11].len, pool[11].id);
	for (int i = 6; i < POOL; i++)
		pool[i].kind = i == 11 ? RUMOR_ITEM_TX : RUMOR_ITEM_BLOCK;
	for (int i = 0; i < POOL; i++)
		if (!pool[i].bytes)
			abort();
	/* Signature checks are most of a run's time and the verdict depends on
	 * the bytes alone, so pool items are checked once here (verify()). */
	for (int i = 0; i < POOL; i++) {
		struct rumor_item it;
		CHECK(rumor_item_decode(&it, pool[i].bytes, pool[i].len) == NULL);
		pool_verdict[i] = rumor_item_verify_job(&it, &net);
		CHECK((pool_verdict[i] != NULL) == (i == 11));
	}
	pool_ready = 1;
}

/* A generous bound on what the core may hold with the config below. */
static size_t memory_bound(const struct rumor_core_config *c)
{
	return (size_t)4 * 1024 * 1024 + c->pending_bytes_max + c->cache_bytes + 2 * c->pool_bytes;
}

static void setup(int count)
{
	memset(nodes, 0, sizeof(nodes));
	n_nodes = count;
	msg_head = msg_tail = 0;
	now_us = 1000000;
	wall_us = (int64_t)1700000000 * 1000000;
	memset(replied, 0, sizeof(replied));
	next_token = 0;
	for (int i = 0; i < count; i++) {
		struct node *n = &nodes[i];
		struct rumor_core_config *c = &n->cfg;
		rumor_core_config_default(c);
		c->network = &net;
		memset(n->id, 0x20 * (i + 1), 32);
		memcpy(c->node_id, n->id, 32);
		n->nonce = 100 + (uint64_t)i;
		c->hello_nonce = n->nonce;
		memset(c->seed, i, sizeof(c->seed));
		c->max_peers = 8;
		c->relay.max_peers = 8;
		c->relay.max_announced_per_peer = 64;
		c->relay.known_per_peer = 64;
		c->relay.rejected_max = 16;
		c->relay.request_timeout_us = 50000;
		c->pending_max = 16;
		c->pending_bytes_max = 256 * 1024;
		c->cache_items = 8;
		c->cache_bytes = 64 * 1024;
		c->pool_blocks = 3;
		c->pool_bytes = 256 * 1024;
		c->pool_timeout_us = 500000;
		c->block_slice = 1; /* the 2-tx blocks are decided in two slices */
		c->serve_max = 8;
		c->redial_min_us = 1000;
		c->redial_max_us = 8000;
		c->targets_max = 4;
		c->recent_ids = 32;
		/* budgets small enough that a fuzzed run pauses peers, closes
		 * abusers, holds a peer at its pipeline share and paces serving (output
		 * window and serving budget) */
		c->peer_msg_rate = 500;
		c->peer_msg_burst = 6;
		c->peer_byte_rate = 64 * 1024;
		c->peer_byte_burst = 4096;
		c->abuse_window_us = 400000;
		c->peer_pipeline_max = 6;
		c->rpc_reserve = 4;
		c->rpc_reserve_bytes = 64 * 1024;
		c->serve_window_bytes = 16 * 1024;
		c->serve_turn_max = 2;
		c->serve_stall_us = 300000;
		c->serve_rate = 32 * 1024; /* a few items, then the serving budget waits */
		c->serve_burst = 2048;
		CHECK(rumor_core_new(&n->core, c, now_us) == 0);
		for (int j = 0; j < NODES; j++)
			n->conn[j] = RUMOR_CORE_NO_PEER;
		n->fake = RUMOR_CORE_NO_PEER;
	}
}

static int peer_index(const struct node *n, rumor_core_peer h, void *data)
{
	if (h == n->fake && n->fake_open) {
		CHECK(data == (void *)(uintptr_t)100);
		return NODES;
	}
	for (int j = 0; j < n_nodes; j++)
		if (n->open[j] && n->conn[j] == h) {
			CHECK(data == (void *)(uintptr_t)(j + 1));
			return j;
		}
	return -1;
}

static void note_asked(struct node *n, int from, const struct rumor_msg *m)
{
	if (m->type != RUMOR_MSG_GETDATA)
		return;
	for (uint32_t k = 0; k < m->u.getdata.entries.count; k++) {
		struct rumor_inv_entry e;
		rumor_msg_inv_entry(&m->u.getdata.entries, k, &e);
		if (n->n_asked[from] < ASKED)
			memcpy(asked_ids[n - nodes][from][n->n_asked[from]++], e.id, 32);
	}
}

static int was_asked(const struct node *n, int from, const uint8_t *id)
{
	if (n->n_asked[from] >= ASKED)
		return 1; /* stopped recording: cannot tell */
	for (int k = 0; k < n->n_asked[from]; k++)
		if (memcmp(asked_ids[n - nodes][from][k], id, 32) == 0)
			return 1;
	return 0;
}

static void close_pair(int i, int j, uint16_t code)
{
	if (nodes[i].open[j]) {
		nodes[i].open[j] = 0;
		rumor_core_peer_closed(nodes[i].core, nodes[i].conn[j], code, now_us);
	}
	if (j < n_nodes && nodes[j].open[i]) {
		nodes[j].open[i] = 0;
		rumor_core_peer_closed(nodes[j].core, nodes[j].conn[i], code, now_us);
	}
}

static int store_find(const struct node *n, const uint8_t *id)
{
	for (int k = 0; k < n->n_store; k++)
		if (memcmp(n->store[k].id, id, 32) == 0)
			return k;
	return -1;
}

static void record_job(struct node *n, const struct rumor_core_action *a)
{
	if (n->n_jobs == JOBS) { /* no room to keep it: answer at once */
		switch (a->type) {
		case RUMOR_CORE_VERIFY:
			rumor_core_verified(n->core, a->job, NULL, now_us);
			return;
		case RUMOR_CORE_STORE_PUT:
			rumor_core_stored(n->core, a->job, -1, "full", now_us);
			return;
		case RUMOR_CORE_STORE_HAS:
			rumor_core_store_has_answer(n->core, a->job, -1, NULL, now_us);
			return;
		case RUMOR_CORE_STORE_GET:
			rumor_core_store_get_answer(n->core, a->job, -1, NULL, 0, now_us);
			return;
		default:
			abort();
		}
	}
	struct job *j = &n->jobs[n->n_jobs++];
	memset(j, 0, sizeof(*j));
	j->type = a->type;
	j->job = a->job;
	if (a->item) {
		j->item = a->item;
		j->len = a->item->size;
		j->copy = malloc(j->len);
		memcpy(j->copy, a->item->encoding, j->len);
	}
	if (a->ids) {
		j->count = a->type == RUMOR_CORE_STORE_GET ? 1 : a->count;
		j->ids = malloc((size_t)j->count * 32 + 1);
		memcpy(j->ids, a->ids, (size_t)j->count * 32);
		j->kind = a->kind;
	}
}

/* rumor_item_verify_job(), from pool_verdict when the bytes are a pool item's. */
static const char *verify(const struct rumor_item *item)
{
	for (int k = 0; k < POOL; k++)
		if (item->size == pool[k].len && memcmp(item->encoding, pool[k].bytes, pool[k].len) == 0)
			return pool_verdict[k];
	return rumor_item_verify_job(item, &net);
}

static void answer(struct node *n, struct job *j, int variant)
{
	if (j->answered && !(variant & 0x80))
		return;
	if (!j->answered && j->item) /* borrowed until this answer */
		CHECK(j->item->size == j->len && memcmp(j->item->encoding, j->copy, j->len) == 0);
	switch (j->type) {
	case RUMOR_CORE_VERIFY: {
		const char *why = (variant & 3) == 3 ? "fuzzed bad signature" : NULL;
		if (!j->answered && !why)
			why = verify(j->item);
		rumor_core_verified(n->core, j->job, why, now_us);
		break;
	}
	case RUMOR_CORE_STORE_PUT: {
		int status;
		if ((variant & 3) == 3) {
			status = -1;
		} else {
			uint8_t id[32];
			rumor_sha256(j->copy, j->len, id);
			if (store_find(n, id) >= 0) {
				status = 1;
			} else if (n->n_store < STORE) {
				struct item *s = &n->store[n->n_store++];
				s->bytes = malloc(j->len);
				memcpy(s->bytes, j->copy, j->len);
				s->len = j->len;
				memcpy(s->id, id, 32);
				s->kind = j->copy[1] == RUMOR_ITEM_BLOCK ? RUMOR_ITEM_BLOCK : RUMOR_ITEM_TX;
				struct rumor_item it;
				if (!rumor_item_decode(&it, s->bytes, s->len))
					s->kind = (uint8_t)it.kind;
				status = 0;
			} else {
				status = -1;
			}
		}
		rumor_core_stored(n->core, j->job, status, status < 0 ? "fuzzed" : NULL, now_us);
		break;
	}
	case RUMOR_CORE_STORE_HAS: {
		uint8_t *found = calloc(j->count + 1, 1);
		for (uint32_t k = 0; k < j->count; k++)
			found[k] = (variant & 3) == 2 ? 1 : store_find(n, j->ids + 32 * (size_t)k) >= 0;
		rumor_core_store_has_answer(n->core, j->job, (variant & 3) == 3 ? -1 : 0, found, now_us);
		free(found);
		break;
	}
	case RUMOR_CORE_STORE_GET: {
		int k = store_find(n, j->ids);
		if (k >= 0 && n->store[k].kind == j->kind && (variant & 3) != 3)
			rumor_core_store_get_answer(n->core, j->job, 0, n->store[k].bytes,
						    n->store[k].len, now_us);
		else
			rumor_core_store_get_answer(n->core, j->job, -1, NULL, 0, now_us);
		break;
	}
	default:
		abort();
	}
	j->answered = 1;
}

static void forget_answered(struct node *n)
{
	int w = 0;
	for (int k = 0; k < n->n_jobs; k++) {
		if (n->jobs[k].answered) {
			free(n->jobs[k].copy);
			free(n->jobs[k].ids);
			continue;
		}
		n->jobs[w++] = n->jobs[k];
	}
	n->n_jobs = w;
}

static void drain(int i, int auto_answer)
{
	struct node *n = &nodes[i];
	for (int guard = 0; guard < 100000; guard++) {
		struct rumor_core_action a;
		rumor_core_next_action(n->core, &a);
		switch (a.type) {
		case RUMOR_CORE_NONE:
			CHECK(rumor_core_memory(n->core) < memory_bound(&n->cfg));
			return;
		case RUMOR_CORE_SEND: {
			int to = peer_index(n, a.peer, a.peer_data);
			CHECK(to >= 0); /* never to a closed (or unknown) peer */
			if (a.msg->type == RUMOR_MSG_TX || a.msg->type == RUMOR_MSG_BLOCK) {
				uint8_t id[32];
				rumor_sha256(a.msg->u.tx.item.ptr, a.msg->u.tx.item.len, id);
				CHECK(was_asked(n, to, id));
			}
			if (to == NODES || msg_tail - msg_head == MSGS)
				break; /* to the fake peer, or the wire is full: dropped */
			size_t len = 0;
			CHECK(rumor_msg_encoded_size(a.msg, &len) == 0);
			uint8_t *buf = malloc(len + 1);
			CHECK(rumor_msg_encode(a.msg, buf, len + 1, &len) == 0);
			struct msg *m = &msgs[msg_tail++ % MSGS];
			m->from = i;
			m->to = to;
			m->bytes = buf;
			m->len = len;
			break;
		}
		case RUMOR_CORE_CLOSE: {
			int to = peer_index(n, a.peer, a.peer_data);
			CHECK(to >= 0);
			CHECK(a.reason != NULL);
			if (to == NODES) {
				n->fake_open = 0;
				rumor_core_peer_closed(n->core, a.peer, a.code, now_us);
			} else {
				close_pair(i, to, a.code);
			}
			break;
		}
		case RUMOR_CORE_READ_PAUSE:
		case RUMOR_CORE_READ_RESUME:
			/* this shell keeps reading (the core's debt rule covers it) */
			CHECK(peer_index(n, a.peer, a.peer_data) >= 0);
			break;
		case RUMOR_CORE_DIAL:
			CHECK(a.addr != NULL);
			if (n->n_targets < 8)
				n->targets[n->n_targets++] = a.target;
			break;
		case RUMOR_CORE_VERIFY:
		case RUMOR_CORE_STORE_PUT:
		case RUMOR_CORE_STORE_HAS:
		case RUMOR_CORE_STORE_GET:
			record_job(n, &a);
			if (auto_answer) {
				answer(n, &n->jobs[n->n_jobs - 1], 0);
				forget_answered(n);
			}
			break;
		case RUMOR_CORE_REPLY:
			CHECK(a.job < next_token && a.job < SUBMITS);
			CHECK(!replied[a.job]);
			replied[a.job] = 1;
			break;
		}
	}
	abort(); /* the core never stops asking */
}

static void deliver(int count)
{
	while (count-- > 0 && msg_head != msg_tail) {
		struct msg m = msgs[msg_head++ % MSGS];
		struct node *to = &nodes[m.to];
		if (to->open[m.from]) {
			struct rumor_msg d;
			CHECK(rumor_msg_decode(&d, m.bytes, m.len) == NULL);
			note_asked(to, m.from, &d);
			rumor_core_on_message(to->core, to->conn[m.from], &d, now_us, wall_us);
		}
		free(m.bytes);
	}
}

static void connect_pair(int i, int j, int self)
{
	if (i == j || nodes[i].open[j] || nodes[j].open[i] || nodes[i].down || nodes[j].down)
		return;
	struct rumor_core_peer_info info;
	memset(&info, 0, sizeof(info));
	memcpy(info.node_id, nodes[j].id, 32);
	info.hello_nonce = self ? nodes[i].nonce : nodes[j].nonce;
	info.outbound = 1;
	info.target = nodes[i].n_targets ? nodes[i].targets[0] : RUMOR_CORE_NO_TARGET;
	info.addr = "10.0.0.1:1";
	rumor_core_peer h = rumor_core_peer_ready(nodes[i].core, &info, (void *)(uintptr_t)(j + 1), now_us);
	if (h == RUMOR_CORE_NO_PEER)
		return;
	memcpy(info.node_id, nodes[i].id, 32);
	info.hello_nonce = nodes[i].nonce;
	info.outbound = 0;
	info.target = RUMOR_CORE_NO_TARGET;
	rumor_core_peer g = rumor_core_peer_ready(nodes[j].core, &info, (void *)(uintptr_t)(i + 1), now_us);
	if (g == RUMOR_CORE_NO_PEER) {
		rumor_core_peer_closed(nodes[i].core, h, 0, now_us);
		return;
	}
	nodes[i].conn[j] = h;
	nodes[i].open[j] = 1;
	nodes[j].conn[i] = g;
	nodes[j].open[i] = 1;
	nodes[i].n_asked[j] = 0;
	nodes[j].n_asked[i] = 0;
}

static void inject(int i, int from, const uint8_t *p, size_t n)
{
	struct node *nd = &nodes[i];
	rumor_core_peer h;
	int fidx;
	if (from >= n_nodes) { /* a node outside the world */
		if (!nd->fake_open) {
			struct rumor_core_peer_info info;
			memset(&info, 0, sizeof(info));
			memset(info.node_id, 0x99, 32);
			info.hello_nonce = 999;
			info.addr = "10.9.9.9:9";
			nd->fake = rumor_core_peer_ready(nd->core, &info, (void *)(uintptr_t)100, now_us);
			if (nd->fake == RUMOR_CORE_NO_PEER)
				return;
			nd->fake_open = 1;
			nd->n_asked[NODES] = 0;
		}
		h = nd->fake;
		fidx = NODES;
	} else {
		if (!nd->open[from])
			return;
		h = nd->conn[from];
		fidx = from;
	}
	uint8_t t = n > 0 ? p[0] : 0;
	struct rumor_msg m;
	memset(&m, 0, sizeof(m));
	struct rumor_inv_entry e[8];
	uint32_t count = 0;
	for (size_t k = 1; k < n && count < 8; k++) {
		e[count].kind = (p[k] & 0x80) ? (uint8_t)(p[k] & 3) : pool[p[k] % POOL].kind;
		memcpy(e[count].id, pool[p[k] % POOL].id, 32);
		count++;
	}
	uint8_t buf[4096];
	size_t len = 0;
	switch (t % 6) {
	case 0:
	case 1:
	case 2:
		m.type = t % 6 == 0 ? RUMOR_MSG_INV : t % 6 == 1 ? RUMOR_MSG_GETDATA : RUMOR_MSG_NOTFOUND;
		m.u.inv.entries.entries = e;
		m.u.inv.entries.count = count;
		break;
	case 3:
	case 4: {
		const struct item *it = &pool[(n > 1 ? p[1] : 0) % POOL];
		m.type = t % 6 == 3 ? RUMOR_MSG_TX : RUMOR_MSG_BLOCK;
		m.u.tx.item.ptr = it->bytes;
		m.u.tx.item.len = (uint32_t)it->len;
		struct rumor_msg d = m;
		note_asked(nd, fidx, &d);
		rumor_core_on_message(nd->core, h, &m, now_us, wall_us);
		return;
	}
	case 5: { /* random bytes, if they decode */
		struct rumor_msg d;
		if (n > 1 && rumor_msg_decode(&d, p + 1, n - 1) == NULL) {
			note_asked(nd, fidx, &d);
			rumor_core_on_message(nd->core, h, &d, now_us, wall_us);
		}
		return;
	}
	}
	if (rumor_msg_encode(&m, buf, sizeof(buf), &len) != 0)
		return; /* not encodable (a kind the codec refuses): no peer can send it */
	struct rumor_msg d;
	if (rumor_msg_decode(&d, buf, len) != NULL)
		return;
	note_asked(nd, fidx, &d);
	rumor_core_on_message(nd->core, h, &d, now_us, wall_us);
}

static void settle(void)
{
	for (int round = 0; round < 200; round++) {
		for (int i = 0; i < n_nodes; i++)
			drain(i, 1);
		if (msg_head == msg_tail)
			break;
		deliver(MSGS);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	make_pool();
	if (size < 1)
		return 0;
	int count = 2 + (data[0] & 1);
	int auto_answer = (data[0] >> 1) & 1;
	setup(count);
	size_t pos = 1;
#define ARG(k) (pos + (k) < size ? data[pos + (k)] : 0)
	while (pos < size) {
		uint8_t op = data[pos++];
		int i = ARG(0) % count, j = ARG(1) % count;
		struct node *n = &nodes[i];
		switch (op % 12) {
		case 0:
			connect_pair(i, j, ARG(2) & 1);
			pos += 3;
			break;
		case 1:
			close_pair(i, j, 0);
			pos += 2;
			break;
		case 2:
			deliver(ARG(0) % 16 + 1);
			pos += 1;
			break;
		case 3: {
			uint8_t k = ARG(1);
			if (next_token < SUBMITS) {
				if (k >= 0xf0)
					rumor_core_submit(n->core, next_token++, data + pos, size - pos > 8 ? 8 : size - pos,
							  0, now_us, wall_us);
				else
					rumor_core_submit(n->core, next_token++, pool[k % POOL].bytes,
							  pool[k % POOL].len, k & 0x40 ? pool[k % POOL].kind : 0,
							  now_us, wall_us);
			}
			pos += 2;
			break;
		}
		case 4: {
			size_t len = ARG(2) % 24;
			if (pos + 3 + len > size)
				len = size > pos + 3 ? size - pos - 3 : 0;
			inject(i, ARG(1) % (count + 1), data + pos + 3, len);
			pos += 3 + len;
			break;
		}
		case 5:
			if (n->n_jobs)
				answer(n, &n->jobs[ARG(1) % n->n_jobs], ARG(2));
			forget_answered(n);
			pos += 3;
			break;
		case 6:
			now_us += (uint64_t)ARG(0) * 997;
			for (int k = 0; k < count; k++)
				if (rumor_core_expiry(nodes[k].core) <= now_us)
					rumor_core_handle_expiry(nodes[k].core, now_us);
			pos += 1;
			break;
		case 7:
			drain(i, auto_answer);
			pos += 1;
			break;
		case 8: {
			struct rumor_core_addr a;
			memset(&a, 0, sizeof(a));
			snprintf(a.host, sizeof(a.host), "10.0.0.%u", (unsigned)(ARG(1) & 3));
			a.port = 8633;
			switch (ARG(1) >> 6) {
			case 0:
				rumor_core_target_add(n->core, &a, 0, now_us, NULL);
				break;
			case 1:
				rumor_core_target_add(n->core, &a, 1, now_us, NULL);
				break;
			case 2:
				rumor_core_target_remove(n->core, &a, now_us);
				break;
			case 3:
				if (n->n_targets)
					rumor_core_dial_failed(n->core, n->targets[--n->n_targets],
							       ARG(1) & 4 ? 4 : 0, now_us);
				break;
			}
			pos += 2;
			break;
		}
		case 9:
			if (!n->down && (ARG(1) & 0x0f) == 0x0f) {
				rumor_core_shutdown(n->core, now_us);
				n->down = 1;
			}
			pos += 2;
			break;
		case 10: /* the shell reports i's output queue to j */
			if (i != j && n->open[j])
				rumor_core_peer_output(n->core, n->conn[j], (size_t)ARG(2) << 16, now_us);
			pos += 3;
			break;
		default:
			settle();
			break;
		}
		if (auto_answer)
			for (int k = 0; k < count; k++)
				drain(k, 1);
	}
	/* Everything answered and drained; every submission answered. */
	for (int k = 0; k < count; k++) {
		for (int q = 0; q < nodes[k].n_jobs; q++)
			answer(&nodes[k], &nodes[k].jobs[q], 0);
		forget_answered(&nodes[k]);
	}
	settle();
	for (int k = 0; k < count; k++) {
		for (int q = 0; q < nodes[k].n_jobs; q++)
			answer(&nodes[k], &nodes[k].jobs[q], 0);
		forget_answered(&nodes[k]);
		drain(k, 1);
	}
	for (uint64_t t = 0; t < next_token; t++)
		CHECK(replied[t]);
	for (int k = 0; k < count; k++) {
		CHECK(rumor_core_idle(nodes[k].core));
		rumor_core_del(nodes[k].core);
		for (int s = 0; s < nodes[k].n_store; s++)
			free(nodes[k].store[s].bytes);
	}
	while (msg_head != msg_tail)
		free(msgs[msg_head++ % MSGS].bytes);
	return 0;
}
