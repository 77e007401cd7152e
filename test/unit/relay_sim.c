/*
 * test/unit/relay_sim.c: a deterministic simulation of net/relay.
 *
 * 20 relay instances wired by the graph of ../shared/bench/topology-20-4.json
 * (its edges are copied below as test data: node a dials node b, so b is
 * outbound for a and a inbound for b).  A simulated network carries every
 * action as a message with a fixed per-link latency (0.5 to 1.5 ms, drawn
 * once per link from a seeded PRNG) and in order per link; a node "stores"
 * an item the moment its payload arrives (validation is instant).  Items
 * (every tenth a block) are injected at node 0.  Everything runs from one
 * seed in one process, so any failure replays exactly.
 *
 * Asserted: every live node accepts every item; no payload is unrequested;
 * in the lossless runs (fixed and Poisson flush delays) each node other
 * than 0 receives each payload exactly once (zero duplicates); with a node
 * killed mid-flood (its neighbours remove it, messages to and from it are
 * lost; requests in flight to it are handed on) the rest still converge;
 * with a node that silently stops answering, requests to it time out and
 * the rest still converge; the same seed replays the same run.
 * Printed (informational): simulated time until an item reached all nodes
 * and the inv / getdata / notfound / payload message counts.
 */
#include "config.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "net/relay.h"

#define SIM_NODES 20
#define SIM_ITEMS 300
#define SIM_INJECT_INTERVAL_US 200
#define SIM_STEPS_MAX 10000000

/* ../shared/bench/topology-20-4.json, "edges". */
static const uint8_t sim_edges[][2] = {
	{0, 18},  {0, 14},  {0, 17},  {0, 19},  {1, 18},  {1, 19},  {1, 9},   {1, 0},
	{2, 10},  {2, 4},   {2, 9},   {2, 17},  {3, 4},   {3, 5},   {3, 7},   {3, 13},
	{4, 10},  {4, 5},   {4, 16},  {4, 6},   {5, 12},  {5, 18},  {5, 7},   {5, 10},
	{6, 15},  {6, 12},  {6, 14},  {6, 11},  {7, 15},  {7, 18},  {7, 13},  {7, 11},
	{8, 17},  {8, 11},  {8, 18},  {8, 14},  {9, 0},   {9, 7},   {9, 15},  {9, 19},
	{10, 12}, {10, 13}, {10, 19}, {10, 18}, {11, 15}, {11, 5},  {11, 16}, {11, 13},
	{12, 19}, {12, 16}, {12, 18}, {12, 14}, {13, 17}, {13, 14}, {13, 1},  {13, 5},
	{14, 18}, {14, 7},  {14, 16}, {14, 15}, {15, 4},  {15, 5},  {15, 0},  {15, 10},
	{16, 1},  {16, 19}, {16, 7},  {16, 3},  {17, 14}, {17, 16}, {17, 12}, {17, 7},
	{18, 4},  {18, 17}, {18, 16}, {18, 2},  {19, 18}, {19, 17}, {19, 7},  {19, 2},
};
#define SIM_EDGES (sizeof(sim_edges) / sizeof(sim_edges[0]))

enum msg_type {
	MSG_INJECT, /* an item submitted at node `to` (RPC) */
	MSG_KILL,   /* node `to` dies; its neighbours remove it */
	MSG_INV,
	MSG_GETDATA,
	MSG_NOTFOUND,
	MSG_PAYLOAD, /* one item: entries[0] */
};

struct msg {
	uint64_t at, seq;
	enum msg_type type;
	int from, to;
	uint32_t count;
	struct rumor_relay_inv_entry *entries; /* malloc'd */
};

struct sim;

struct node {
	struct sim *sim;
	struct rumor_relay *relay;
	int alive;  /* 0: takes no messages and runs no timers */
	int killed; /* dead and removed: what it sent is lost too */
	int index;
	uint8_t has[SIM_ITEMS];
	uint64_t accepted_at[SIM_ITEMS];
	uint32_t received[SIM_ITEMS]; /* payloads received */
};

struct sim {
	struct node nodes[SIM_NODES];
	uint32_t latency_us[SIM_NODES][SIM_NODES]; /* 0: no link */
	uint64_t injected_at[SIM_ITEMS];
	struct msg *heap;
	size_t heap_len, heap_cap;
	uint64_t seq, now, rng;
	uint64_t msgs_inv, msgs_getdata, msgs_notfound, msgs_payload, ids_inv;
	uint64_t duplicates, unrequested;
	uint32_t killed_in_flight; /* requests to the killed node handed on */
	int silence_node;     /* goes silent at the first getdata it gets ... */
	uint64_t silence_at;  /* ... from this time on (0: never) */
	int poisson;
};

static uint64_t sim_random(struct sim *sim)
{
	/* splitmix64 */
	uint64_t z = (sim->rng += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

static void make_id(uint8_t id[RUMOR_ID_SIZE], uint32_t n)
{
	memset(id, 0xee, RUMOR_ID_SIZE);
	memcpy(id, &n, sizeof(n));
}

/* The item index of an id, or -1. */
static int item_of(const uint8_t id[RUMOR_ID_SIZE])
{
	uint32_t n;
	memcpy(&n, id, sizeof(n));
	uint8_t expect[RUMOR_ID_SIZE];
	make_id(expect, n);
	if (n >= SIM_ITEMS || memcmp(expect, id, RUMOR_ID_SIZE) != 0)
		return -1;
	return (int)n;
}

static uint8_t item_kind(int item)
{
	return item % 10 == 9 ? RUMOR_ITEM_BLOCK : RUMOR_ITEM_TX;
}

static int node_is_known(void *ctx, const uint8_t id[RUMOR_ID_SIZE])
{
	struct node *node = ctx;
	int item = item_of(id);
	return item >= 0 && node->has[item];
}

/* ---- a binary min-heap of messages by (at, seq) ---- */

static int msg_before(const struct msg *a, const struct msg *b)
{
	return a->at != b->at ? a->at < b->at : a->seq < b->seq;
}

static void heap_push(struct sim *sim, struct msg m)
{
	if (sim->heap_len == sim->heap_cap) {
		sim->heap_cap = sim->heap_cap ? sim->heap_cap * 2 : 1024;
		sim->heap = realloc(sim->heap, sim->heap_cap * sizeof(*sim->heap));
		assert_non_null(sim->heap);
	}
	m.seq = sim->seq++;
	size_t i = sim->heap_len++;
	while (i > 0 && msg_before(&m, &sim->heap[(i - 1) / 2])) {
		sim->heap[i] = sim->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	sim->heap[i] = m;
}

static struct msg heap_pop(struct sim *sim)
{
	struct msg top = sim->heap[0];
	struct msg last = sim->heap[--sim->heap_len];
	size_t i = 0;
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= sim->heap_len)
			break;
		if (c + 1 < sim->heap_len && msg_before(&sim->heap[c + 1], &sim->heap[c]))
			c++;
		if (!msg_before(&sim->heap[c], &last))
			break;
		sim->heap[i] = sim->heap[c];
		i = c;
	}
	if (sim->heap_len)
		sim->heap[i] = last;
	return top;
}

static void send_msg(struct sim *sim, int from, int to, enum msg_type type,
		     const struct rumor_relay_inv_entry *entries, uint32_t count)
{
	assert_true(sim->latency_us[from][to] > 0);
	struct msg m = {.at = sim->now + sim->latency_us[from][to],
			.type = type,
			.from = from,
			.to = to,
			.count = count};
	m.entries = malloc((count ? count : 1) * sizeof(*entries));
	assert_non_null(m.entries);
	memcpy(m.entries, entries, count * sizeof(*entries));
	switch (type) {
	case MSG_INV:
		sim->msgs_inv++;
		sim->ids_inv += count;
		break;
	case MSG_GETDATA:
		sim->msgs_getdata++;
		break;
	case MSG_NOTFOUND:
		sim->msgs_notfound++;
		break;
	case MSG_PAYLOAD:
		sim->msgs_payload++;
		break;
	case MSG_INJECT:
	case MSG_KILL:
		break;
	}
	heap_push(sim, m);
}

/* Carries out every action of a node's relay. */
static void drain(struct sim *sim, struct node *node)
{
	for (;;) {
		struct rumor_relay_action a;
		rumor_relay_next_action(node->relay, &a);
		switch (a.type) {
		case RUMOR_RELAY_NONE:
			return;
		case RUMOR_RELAY_SEND_INV:
			send_msg(sim, node->index, (int)a.peer, MSG_INV, a.entries, a.count);
			break;
		case RUMOR_RELAY_SEND_GETDATA:
			send_msg(sim, node->index, (int)a.peer, MSG_GETDATA, a.entries, a.count);
			break;
		case RUMOR_RELAY_DISCONNECT:
			fail_msg("node %d disconnects %u: %s", node->index, a.peer, a.reason);
			break;
		}
	}
}

static void accept_item(struct node *node, int item, rumor_peer_handle from, uint64_t now)
{
	uint8_t id[RUMOR_ID_SIZE];
	/* item_of() returns -1 for an id that is not a simulated item; an
	 * injected or delivered one always is. */
	assert_true(item >= 0 && item < SIM_ITEMS);
	if (item < 0 || item >= SIM_ITEMS)
		return; /* unreachable; tells the compiler the index is in range */
	make_id(id, (uint32_t)item);
	node->has[item] = 1;
	node->accepted_at[item] = now;
	rumor_relay_on_accepted(node->relay, item_kind(item), id, from, now);
}

static void kill_node(struct sim *sim, int k)
{
	sim->nodes[k].alive = 0;
	sim->nodes[k].killed = 1;
	for (int j = 0; j < SIM_NODES; j++) {
		if (!sim->latency_us[k][j] || !sim->nodes[j].alive)
			continue;
		struct rumor_relay_peer_stats ps;
		assert_int_equal(rumor_relay_get_peer_stats(sim->nodes[j].relay,
							    (rumor_peer_handle)k, &ps),
				 0);
		sim->killed_in_flight += ps.in_flight;
		rumor_relay_peer_remove(sim->nodes[j].relay, (rumor_peer_handle)k, sim->now);
		drain(sim, &sim->nodes[j]);
	}
}

static void deliver(struct sim *sim, const struct msg *m)
{
	struct node *node = &sim->nodes[m->to];
	if (!node->alive)
		return;
	if (m->type == MSG_KILL) {
		kill_node(sim, m->to);
		return;
	}
	if (m->type == MSG_INJECT) {
		accept_item(node, item_of(m->entries[0].id), RUMOR_RELAY_NO_PEER, sim->now);
		drain(sim, node);
		return;
	}
	if (sim->nodes[m->from].killed)
		return; /* lost with the dead node's connection */
	if (m->type == MSG_GETDATA && m->to == sim->silence_node && sim->silence_at &&
	    sim->now >= sim->silence_at) {
		node->alive = 0; /* never answers; nobody removes it */
		return;
	}
	rumor_peer_handle from = (rumor_peer_handle)m->from;
	switch (m->type) {
	case MSG_INV:
		rumor_relay_on_inv(node->relay, from, m->entries, m->count, sim->now);
		break;
	case MSG_GETDATA: {
		rumor_relay_on_getdata(node->relay, from, m->entries, m->count);
		struct rumor_relay_inv_entry *missing = malloc(m->count * sizeof(*missing));
		assert_non_null(missing);
		uint32_t n_missing = 0;
		for (uint32_t i = 0; i < m->count; i++) {
			int item = item_of(m->entries[i].id);
			if (item >= 0 && node->has[item])
				send_msg(sim, m->to, m->from, MSG_PAYLOAD, &m->entries[i], 1);
			else
				missing[n_missing++] = m->entries[i];
		}
		if (n_missing)
			send_msg(sim, m->to, m->from, MSG_NOTFOUND, missing, n_missing);
		free(missing);
		break;
	}
	case MSG_NOTFOUND:
		rumor_relay_on_notfound(node->relay, from, m->entries, m->count, sim->now);
		break;
	case MSG_PAYLOAD: {
		int item = item_of(m->entries[0].id);
		assert_true(item >= 0);
		node->received[item]++;
		switch (rumor_relay_on_payload(node->relay, from, m->entries[0].id, sim->now)) {
		case RUMOR_RELAY_PAYLOAD_REQUESTED:
			assert_false(node->has[item]);
			accept_item(node, item, from, sim->now);
			break;
		case RUMOR_RELAY_PAYLOAD_DUPLICATE:
			sim->duplicates++;
			break;
		case RUMOR_RELAY_PAYLOAD_UNREQUESTED:
			sim->unrequested++;
			break;
		}
		break;
	}
	case MSG_INJECT:
	case MSG_KILL:
		break;
	}
	drain(sim, node);
}

static uint64_t node_random(void *ctx)
{
	struct node *node = ctx;
	return sim_random(node->sim);
}

static void sim_init(struct sim *sim, uint64_t seed, int poisson)
{
	memset(sim, 0, sizeof(*sim));
	sim->rng = seed;
	sim->poisson = poisson;
	for (size_t e = 0; e < SIM_EDGES; e++) {
		int a = sim_edges[e][0], b = sim_edges[e][1];
		uint32_t latency = 500 + (uint32_t)(sim_random(sim) % 1001);
		sim->latency_us[a][b] = sim->latency_us[b][a] = latency;
	}
	for (int i = 0; i < SIM_NODES; i++) {
		struct node *node = &sim->nodes[i];
		struct rumor_relay_config cfg;
		rumor_relay_config_default(&cfg);
		for (int k = 0; k < 16; k++)
			cfg.hash_key[k] = (uint8_t)(i * 16 + k);
		cfg.is_known = node_is_known;
		cfg.poisson_delay = poisson;
		cfg.random_u64 = node_random;
		cfg.ctx = node;
		node->sim = sim;
		node->index = i;
		node->alive = 1;
		assert_int_equal(rumor_relay_new(&node->relay, &cfg), 0);
	}
	for (size_t e = 0; e < SIM_EDGES; e++) {
		int a = sim_edges[e][0], b = sim_edges[e][1];
		assert_int_equal(rumor_relay_peer_add(sim->nodes[a].relay, (rumor_peer_handle)b, 1, 0), 0);
		assert_int_equal(rumor_relay_peer_add(sim->nodes[b].relay, (rumor_peer_handle)a, 0, 0), 0);
	}
	for (int item = 0; item < SIM_ITEMS; item++) {
		struct rumor_relay_inv_entry e = {.kind = item_kind(item)};
		make_id(e.id, (uint32_t)item);
		sim->injected_at[item] = (uint64_t)item * SIM_INJECT_INTERVAL_US;
		struct msg m = {.at = sim->injected_at[item], .type = MSG_INJECT, .from = -1, .to = 0,
				.count = 1};
		m.entries = malloc(sizeof(e));
		assert_non_null(m.entries);
		m.entries[0] = e;
		heap_push(sim, m);
	}
}

static void sim_free(struct sim *sim)
{
	while (sim->heap_len) {
		struct msg m = heap_pop(sim);
		free(m.entries);
	}
	free(sim->heap);
	for (int i = 0; i < SIM_NODES; i++)
		rumor_relay_del(sim->nodes[i].relay);
}

/* Runs until no message is in flight and no timer is pending. */
static void sim_run(struct sim *sim)
{
	for (uint64_t steps = 0;; steps++) {
		assert_true(steps < SIM_STEPS_MAX);
		uint64_t next_timer = UINT64_MAX;
		for (int i = 0; i < SIM_NODES; i++) {
			if (!sim->nodes[i].alive)
				continue;
			uint64_t t = rumor_relay_expiry(sim->nodes[i].relay);
			if (t < next_timer)
				next_timer = t;
		}
		uint64_t next_msg = sim->heap_len ? sim->heap[0].at : UINT64_MAX;
		if (next_timer == UINT64_MAX && next_msg == UINT64_MAX)
			return;
		if (next_timer <= next_msg) {
			assert_true(next_timer >= sim->now);
			sim->now = next_timer;
			for (int i = 0; i < SIM_NODES; i++) {
				struct node *node = &sim->nodes[i];
				if (node->alive && rumor_relay_expiry(node->relay) <= sim->now) {
					rumor_relay_run_timers(node->relay, sim->now);
					drain(sim, node);
				}
			}
			continue;
		}
		struct msg m = heap_pop(sim);
		assert_true(m.at >= sim->now);
		sim->now = m.at;
		deliver(sim, &m);
		free(m.entries);
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Every live node has every item; prints the spread figures. */
static void check_and_report(struct sim *sim, const char *name)
{
	static uint64_t spread[SIM_ITEMS];
	uint64_t payload_receipts = 0;
	for (int item = 0; item < SIM_ITEMS; item++) {
		uint64_t last = 0;
		for (int i = 0; i < SIM_NODES; i++) {
			const struct node *node = &sim->nodes[i];
			payload_receipts += node->received[item];
			if (!node->alive)
				continue;
			if (!node->has[item])
				fail_msg("%s: node %d lacks item %d", name, i, item);
			if (node->accepted_at[item] > last)
				last = node->accepted_at[item];
		}
		spread[item] = last - sim->injected_at[item];
	}
	qsort(spread, SIM_ITEMS, sizeof(spread[0]), cmp_u64);
	struct rumor_relay_stats total = {0};
	for (int i = 0; i < SIM_NODES; i++) {
		struct rumor_relay_stats s;
		rumor_relay_get_stats(sim->nodes[i].relay, &s);
		total.duplicates_received += s.duplicates_received;
		total.request_timeouts += s.request_timeouts;
		if (sim->nodes[i].alive) {
			assert_int_equal(s.ids_tracked, 0);
			assert_int_equal(s.requests_in_flight, 0);
		}
	}
	assert_int_equal(total.duplicates_received, sim->duplicates);
	assert_int_equal(sim->unrequested, 0);
	printf("%s: %d items over %d nodes, time to reach all nodes: p50 %.2f ms, "
	       "p99 %.2f ms, max %.2f ms (simulated)\n",
	       name, SIM_ITEMS, SIM_NODES, (double)spread[SIM_ITEMS / 2] / 1000.0,
	       (double)spread[SIM_ITEMS * 99 / 100] / 1000.0,
	       (double)spread[SIM_ITEMS - 1] / 1000.0);
	printf("%s: messages inv %llu (%llu ids), getdata %llu, notfound %llu, payload %llu; "
	       "payloads received %llu, duplicates %llu, request timeouts %llu\n",
	       name, (unsigned long long)sim->msgs_inv, (unsigned long long)sim->ids_inv,
	       (unsigned long long)sim->msgs_getdata, (unsigned long long)sim->msgs_notfound,
	       (unsigned long long)sim->msgs_payload, (unsigned long long)payload_receipts,
	       (unsigned long long)sim->duplicates, (unsigned long long)total.request_timeouts);
}

static void test_flood_lossless(void **state)
{
	(void)state;
	static struct sim sim;
	for (int poisson = 0; poisson < 2; poisson++) {
		sim_init(&sim, 42, poisson);
		sim_run(&sim);
		check_and_report(&sim, poisson ? "lossless, poisson" : "lossless");
		assert_int_equal(sim.duplicates, 0);
		for (int item = 0; item < SIM_ITEMS; item++) {
			assert_int_equal(sim.nodes[0].received[item], 0);
			for (int i = 1; i < SIM_NODES; i++)
				if (sim.nodes[i].received[item] != 1)
					fail_msg("node %d received item %d %u times", i, item,
						 sim.nodes[i].received[item]);
		}
		/* One payload per node per item: each item was fetched once. */
		assert_int_equal(sim.msgs_payload, (uint64_t)SIM_ITEMS * (SIM_NODES - 1));
		sim_free(&sim);
	}
}

/* Is the graph without node `dead` still connected? */
static int connected_without(const struct sim *sim, int dead)
{
	int seen[SIM_NODES] = {0}, stack[SIM_NODES], top = 0, count = 0;
	int start = dead == 0 ? 1 : 0;
	seen[start] = 1;
	stack[top++] = start;
	while (top) {
		int v = stack[--top];
		count++;
		for (int w = 0; w < SIM_NODES; w++)
			if (w != dead && !seen[w] && sim->latency_us[v][w]) {
				seen[w] = 1;
				stack[top++] = w;
			}
	}
	return count == SIM_NODES - 1;
}

static void test_flood_node_killed(void **state)
{
	(void)state;
	static struct sim sim;
	/* Kill a few different nodes mid-flood, one per run. */
	const int victims[] = {7, 18, 14, 3};
	uint32_t handed_on = 0;
	for (size_t v = 0; v < sizeof(victims) / sizeof(victims[0]); v++) {
		sim_init(&sim, 1000 + v, 0);
		int k = victims[v];
		assert_true(connected_without(&sim, k));
		struct msg m = {.at = (uint64_t)SIM_ITEMS * SIM_INJECT_INTERVAL_US / 2 + 333 + v * 1777,
				.type = MSG_KILL,
				.from = -1,
				.to = k,
				.count = 0};
		m.entries = malloc(sizeof(*m.entries));
		assert_non_null(m.entries);
		heap_push(&sim, m);
		sim_run(&sim);
		char name[32];
		snprintf(name, sizeof(name), "node %d killed", k);
		check_and_report(&sim, name);
		printf("%s: %u requests in flight to it handed to other announcers\n", name,
		       sim.killed_in_flight);
		handed_on += sim.killed_in_flight;
		assert_false(sim.nodes[k].alive);
		sim_free(&sim);
	}
	assert_true(handed_on > 0); /* the kills did land mid-request */
}

/* Mid-flood, a node stops answering (at the first getdata it gets) but
 * stays connected: what it sent arrives, requests to it time out and go to
 * the next announcer. */
static void test_flood_node_silent(void **state)
{
	(void)state;
	static struct sim sim;
	sim_init(&sim, 7, 0);
	sim.silence_node = 14;
	sim.silence_at = (uint64_t)SIM_ITEMS * SIM_INJECT_INTERVAL_US / 2;
	sim_run(&sim);
	check_and_report(&sim, "node 14 silent");
	uint64_t timeouts = 0;
	for (int i = 0; i < SIM_NODES; i++) {
		struct rumor_relay_stats s;
		rumor_relay_get_stats(sim.nodes[i].relay, &s);
		timeouts += s.request_timeouts;
	}
	assert_true(timeouts > 0);
	sim_free(&sim);
}

/* The same seed gives the same run, message for message. */
static void test_flood_deterministic(void **state)
{
	(void)state;
	static struct sim a, b;
	sim_init(&a, 7, 1);
	sim_run(&a);
	sim_init(&b, 7, 1);
	sim_run(&b);
	assert_int_equal(a.now, b.now);
	assert_int_equal(a.seq, b.seq);
	assert_int_equal(a.msgs_inv, b.msgs_inv);
	assert_int_equal(a.ids_inv, b.ids_inv);
	for (int i = 0; i < SIM_NODES; i++)
		assert_memory_equal(a.nodes[i].accepted_at, b.nodes[i].accepted_at,
				    sizeof(a.nodes[i].accepted_at));
	sim_free(&a);
	sim_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_flood_lossless),
		cmocka_unit_test(test_flood_node_killed),
		cmocka_unit_test(test_flood_node_silent),
		cmocka_unit_test(test_flood_deterministic),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
