/*
 * Unit tests for rumor-sim's engine: src/sim_net.c (event order, upload
 * queueing arithmetic, latency draws from a fixed seed, the random source)
 * and src/sim_topology.c (topology files and seeded random graphs).
 */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "src/sim_net.h"
#include "src/sim_topology.h"

/* ---- event queue ---- */

static void push_at(struct sim_queue *q, uint64_t at, uint32_t tag)
{
	struct sim_event ev = {.at = at, .a = tag};
	assert_int_equal(sim_queue_push(q, &ev), 0);
}

static void test_queue_order_and_fifo(void **state)
{
	(void)state;
	struct sim_queue q;
	sim_queue_init(&q);
	struct sim_event ev;
	assert_int_equal(sim_queue_pop(&q, &ev), 0);
	assert_null(sim_queue_peek(&q));
	/* Same time: pushed order.  Different times: time order. */
	push_at(&q, 50, 1);
	push_at(&q, 10, 2);
	push_at(&q, 50, 3);
	push_at(&q, 10, 4);
	push_at(&q, 0, 5);
	push_at(&q, 50, 6);
	const uint32_t want[] = {5, 2, 4, 1, 3, 6};
	assert_int_equal(sim_queue_peek(&q)->a, 5);
	for (size_t i = 0; i < 6; i++) {
		assert_int_equal(sim_queue_pop(&q, &ev), 1);
		assert_int_equal(ev.a, want[i]);
	}
	assert_int_equal(sim_queue_pop(&q, &ev), 0);
	sim_queue_free(&q);
}

static void test_queue_many_random(void **state)
{
	(void)state;
	struct sim_queue q;
	sim_queue_init(&q);
	struct sim_rng rng;
	sim_rng_seed(&rng, 42, 0);
	enum { N = 20000 };
	/* Interleave pushes and pops; every pop must be the least (at, push
	 * order) of what is queued, checked against a brute-force model. */
	static uint64_t model_at[N], model_order[N];
	static int model_live[N];
	uint32_t pushed = 0, popped = 0;
	while (popped < N) {
		if (pushed < N && (sim_rng_below(&rng, 3) != 0 || pushed == popped)) {
			uint64_t at = sim_rng_below(&rng, 500);
			model_at[pushed] = at;
			model_order[pushed] = pushed;
			model_live[pushed] = 1;
			push_at(&q, at, pushed);
			pushed++;
			continue;
		}
		struct sim_event ev;
		assert_int_equal(sim_queue_pop(&q, &ev), 1);
		uint32_t best = UINT32_MAX;
		for (uint32_t i = 0; i < pushed; i++)
			if (model_live[i] && (best == UINT32_MAX || model_at[i] < model_at[best] ||
					      (model_at[i] == model_at[best] &&
					       model_order[i] < model_order[best])))
				best = i;
		assert_int_equal(ev.a, best);
		assert_int_equal(ev.at, model_at[best]);
		model_live[best] = 0;
		popped++;
	}
	sim_queue_free(&q);
}

/* ---- upload queueing ---- */

static void test_uplink_unlimited(void **state)
{
	(void)state;
	struct sim_uplink up = {0};
	assert_int_equal(sim_uplink_send(&up, 123, 1000000), 123);
	assert_int_equal(sim_uplink_send(&up, 123, 1000000), 123);
}

static void test_uplink_queueing(void **state)
{
	(void)state;
	struct sim_uplink up = {.bytes_per_s = 1000};
	/* 500 bytes at 1000 B/s: 0.5 s; the next one queues behind it. */
	assert_int_equal(sim_uplink_send(&up, 0, 500), 500000);
	assert_int_equal(sim_uplink_send(&up, 0, 500), 1000000);
	/* Handed over while the link is still busy: starts at 1 s. */
	assert_int_equal(sim_uplink_send(&up, 900000, 1), 1001000);
	/* Idle gap: starts when handed over. */
	assert_int_equal(sim_uplink_send(&up, 2000000, 1000), 3000000);
	/* Rounding: 1 byte at 3 B/s = 333333.33.. us, rounded up to the next
	 * us, but the queue keeps the exact nanoseconds: three bytes take 1 s. */
	struct sim_uplink slow = {.bytes_per_s = 3};
	assert_int_equal(sim_uplink_send(&slow, 0, 1), 333334);
	assert_int_equal(sim_uplink_send(&slow, 0, 1), 666667);
	assert_int_equal(sim_uplink_send(&slow, 0, 1), 1000000);
	/* A 4 MiB block at 1 MB/s. */
	struct sim_uplink fast = {.bytes_per_s = 1000000};
	assert_int_equal(sim_uplink_send(&fast, 10, 4194304), 10 + 4194304);
}

/* ---- latency ---- */

static void test_latency_parse_errors(void **state)
{
	(void)state;
	struct sim_latency lat;
	const char *why = NULL;
	const char *bad[] = {"",           "fixed:",       "fixed:-1",   "fixed:abc",
			     "fixed:1ms",  "uniform:3-1",  "uniform:1",  "uniform:-1-2",
			     "lognormal:0,1", "lognormal:5", "lognormal:5,9", "bogus:1",
			     "fixed:70000", "uniform:1-70000", "fixed:nan", "fixed:inf"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (sim_latency_parse(&lat, bad[i], &why) != -EINVAL)
			fail_msg("accepted latency \"%s\"", bad[i]);
		assert_non_null(why);
	}
	assert_int_equal(sim_latency_parse(&lat, "fixed:0.05", &why), 0);
	assert_int_equal(lat.kind, SIM_LATENCY_FIXED);
	assert_int_equal(sim_latency_parse(&lat, "uniform:1-3", &why), 0);
	assert_int_equal(lat.kind, SIM_LATENCY_UNIFORM);
	assert_int_equal(sim_latency_parse(&lat, "lognormal:10,0.5", &why), 0);
	assert_int_equal(lat.kind, SIM_LATENCY_LOGNORMAL);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static void test_latency_draws(void **state)
{
	(void)state;
	struct sim_latency lat;
	const char *why;
	struct sim_rng rng;
	enum { N = 20000 };
	static uint64_t d[N];

	assert_int_equal(sim_latency_parse(&lat, "fixed:5", &why), 0);
	sim_rng_seed(&rng, 7, 1);
	for (int i = 0; i < 100; i++)
		assert_int_equal(sim_latency_draw_us(&lat, &rng), 5000);
	assert_int_equal(sim_latency_parse(&lat, "fixed:0", &why), 0);
	assert_int_equal(sim_latency_draw_us(&lat, &rng), 1); /* never 0 */

	assert_int_equal(sim_latency_parse(&lat, "uniform:1-3", &why), 0);
	sim_rng_seed(&rng, 7, 1);
	double sum = 0;
	for (int i = 0; i < N; i++) {
		d[i] = sim_latency_draw_us(&lat, &rng);
		assert_true(d[i] >= 1000 && d[i] <= 3000);
		sum += (double)d[i];
	}
	assert_true(fabs(sum / N - 2000.0) < 20.0);
	/* The same seed gives the same draws. */
	sim_rng_seed(&rng, 7, 1);
	for (int i = 0; i < N; i++)
		assert_int_equal(sim_latency_draw_us(&lat, &rng), d[i]);

	assert_int_equal(sim_latency_parse(&lat, "lognormal:10,0.5", &why), 0);
	sim_rng_seed(&rng, 9, 2);
	for (int i = 0; i < N; i++)
		d[i] = sim_latency_draw_us(&lat, &rng);
	qsort(d, N, sizeof(d[0]), cmp_u64);
	/* Median 10 ms; the 84th percentile at e^0.5 times the median. */
	assert_true(d[N / 2] > 9700 && d[N / 2] < 10300);
	double p84 = (double)d[(int)(N * 0.8413)];
	assert_true(fabs(p84 / 10000.0 - exp(0.5)) < 0.05);
}

static void test_rng(void **state)
{
	(void)state;
	struct sim_rng a, b, c;
	sim_rng_seed(&a, 1, 5);
	sim_rng_seed(&b, 1, 5);
	sim_rng_seed(&c, 1, 6);
	int differ = 0;
	for (int i = 0; i < 100; i++) {
		uint64_t x = sim_rng_next(&a);
		assert_int_equal(x, sim_rng_next(&b));
		differ += x != sim_rng_next(&c);
	}
	assert_true(differ > 95);
	uint32_t hist[7] = {0};
	for (int i = 0; i < 70000; i++) {
		uint64_t x = sim_rng_below(&a, 7);
		assert_true(x < 7);
		hist[x]++;
	}
	for (int i = 0; i < 7; i++)
		assert_true(hist[i] > 9500 && hist[i] < 10500);
	double sum = 0;
	for (int i = 0; i < 50000; i++) {
		double e = sim_rng_exponential(&a, 3.0);
		assert_true(e >= 0);
		sum += e;
	}
	assert_true(fabs(sum / 50000 - 3.0) < 0.1);
}

/* ---- topology ---- */

static void expect_bad(const char *text, const char *fragment)
{
	struct sim_topology t;
	char why[200] = "";
	int rc = sim_topology_parse(&t, text, strlen(text), why, sizeof(why));
	if (rc != -EINVAL)
		fail_msg("accepted topology %s", text);
	if (strstr(why, fragment) == NULL)
		fail_msg("topology %s: reason \"%s\" lacks \"%s\"", text, why, fragment);
	assert_null(t.edges);
}

static void test_topology_parse_errors(void **state)
{
	(void)state;
	expect_bad("{\"n\": 3, \"edges\": [[0,1],[1,2]", "not JSON");
	expect_bad("[1, 2]", "JSON object");
	expect_bad("{\"edges\": [[0,1]]}", "\"n\"");
	expect_bad("{\"n\": 0, \"edges\": []}", "\"n\"");
	expect_bad("{\"n\": 2.5, \"edges\": []}", "\"n\"");
	expect_bad("{\"n\": 3}", "\"edges\"");
	expect_bad("{\"n\": 3, \"edges\": [[0,1],[1,3]]}", "edge 1");
	expect_bad("{\"n\": 3, \"edges\": [[0,1],[1,-1]]}", "edge 1");
	expect_bad("{\"n\": 3, \"edges\": [[0,1],[1]]}", "edge 1");
	expect_bad("{\"n\": 3, \"edges\": [[0,1],[1,2,0]]}", "edge 1");
	expect_bad("{\"n\": 3, \"edges\": [[0,1],\"1-2\"]}", "edge 1");
	expect_bad("{\"n\": 3, \"edges\": [[0,1],[2,2]]}", "itself");
	expect_bad("{\"n\": 3, \"edges\": [[0,1],[1,2],[2,1]]}", "already joined");
	expect_bad("{\"n\": 4, \"edges\": [[0,1],[2,3]]}", "not connected");
	expect_bad("{\"n\": 2, \"edges\": [[0,1],[1,0],[0,1]]}", "more edges");
}

static void test_topology_parse_ok(void **state)
{
	(void)state;
	const char *text = "{\"n\": 4, \"k\": 1, \"edges\": [[0,1],[1,2],[3,0]], \"x\": null}";
	struct sim_topology t;
	char why[200];
	assert_int_equal(sim_topology_parse(&t, text, strlen(text), why, sizeof(why)), 0);
	assert_int_equal(t.n, 4);
	assert_int_equal(t.n_edges, 3);
	assert_int_equal(t.edges[2][0], 3);
	assert_int_equal(t.edges[2][1], 0);
	uint32_t dist[4];
	assert_int_equal(sim_topology_distances(&t, 0, dist), 0);
	assert_int_equal(dist[0], 0);
	assert_int_equal(dist[1], 1);
	assert_int_equal(dist[2], 2);
	assert_int_equal(dist[3], 1);
	sim_topology_free(&t);
	const char *one = "{\"n\": 1, \"edges\": []}";
	assert_int_equal(sim_topology_parse(&t, one, strlen(one), why, sizeof(why)), 0);
	sim_topology_free(&t);
	assert_int_equal(sim_topology_load(&t, "/nonexistent/topology.json", why, sizeof(why)),
			 -EINVAL);
	assert_non_null(strstr(why, "cannot open"));
}

static void test_topology_random(void **state)
{
	(void)state;
	struct sim_topology t, u;
	char why[200];
	assert_int_equal(sim_topology_random(&t, 1, 2, 1, why, sizeof(why)), -EINVAL);
	assert_int_equal(sim_topology_random(&t, 10, 1, 1, why, sizeof(why)), -EINVAL);
	assert_int_equal(sim_topology_random(&t, 10, 10, 1, why, sizeof(why)), -EINVAL);

	assert_int_equal(sim_topology_random(&t, 1000, 8, 3, why, sizeof(why)), 0);
	assert_int_equal(t.n, 1000);
	/* Each node dials 4 (the ring edge and 3 drawn ones). */
	assert_true(t.n_edges > 3990 && t.n_edges <= 4000);
	uint32_t *dials = calloc(t.n, sizeof(*dials));
	assert_non_null(dials);
	for (uint32_t e = 0; e < t.n_edges; e++) {
		assert_int_not_equal(t.edges[e][0], t.edges[e][1]);
		dials[t.edges[e][0]]++;
	}
	for (uint32_t v = 0; v < t.n; v++)
		assert_true(dials[v] >= 1 && dials[v] <= 4);
	free(dials);
	/* Connected, and no pair twice: re-parse its JSON. */
	size_t cap = 64 + (size_t)t.n_edges * 24, len = 0;
	char *json = malloc(cap);
	assert_non_null(json);
	len += (size_t)snprintf(json + len, cap - len, "{\"n\": %u, \"edges\": [", t.n);
	for (uint32_t e = 0; e < t.n_edges; e++)
		len += (size_t)snprintf(json + len, cap - len, "%s[%u,%u]", e ? "," : "", t.edges[e][0],
					t.edges[e][1]);
	len += (size_t)snprintf(json + len, cap - len, "]}");
	assert_int_equal(sim_topology_parse(&u, json, len, why, sizeof(why)), 0);
	sim_topology_free(&u);
	free(json);
	/* The same seed, the same graph; another seed, another graph. */
	assert_int_equal(sim_topology_random(&u, 1000, 8, 3, why, sizeof(why)), 0);
	assert_int_equal(u.n_edges, t.n_edges);
	assert_memory_equal(u.edges, t.edges, t.n_edges * sizeof(t.edges[0]));
	sim_topology_free(&u);
	assert_int_equal(sim_topology_random(&u, 1000, 8, 4, why, sizeof(why)), 0);
	assert_true(u.n_edges != t.n_edges ||
		    memcmp(u.edges, t.edges, t.n_edges * sizeof(t.edges[0])) != 0);
	sim_topology_free(&u);
	sim_topology_free(&t);
	/* The smallest: two nodes, one edge. */
	assert_int_equal(sim_topology_random(&t, 3, 2, 1, why, sizeof(why)), 0);
	assert_int_equal(t.n_edges, 3);
	sim_topology_free(&t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_queue_order_and_fifo),
		cmocka_unit_test(test_queue_many_random),
		cmocka_unit_test(test_uplink_unlimited),
		cmocka_unit_test(test_uplink_queueing),
		cmocka_unit_test(test_latency_parse_errors),
		cmocka_unit_test(test_latency_draws),
		cmocka_unit_test(test_rng),
		cmocka_unit_test(test_topology_parse_errors),
		cmocka_unit_test(test_topology_parse_ok),
		cmocka_unit_test(test_topology_random),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
