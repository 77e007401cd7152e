/*
 * src/sim_topology.c: topology files and seeded random graphs for rumor-sim
 * (see sim_topology.h).
 *
 * Pair uniqueness is checked with an open-addressing set of 64-bit keys
 * (min << 32 | max); connectivity with a breadth-first search over a
 * compressed adjacency array built from the edge list.
 */
#include "config.h"

#include "src/sim_topology.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "src/sim_net.h"

static int fail(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* ---- a set of unordered pairs ---- */

struct pair_set {
	uint64_t *slots; /* 0 = empty (a pair of two equal nodes never enters) */
	size_t mask;
};

static uint64_t pair_key(uint32_t a, uint32_t b)
{
	return a < b ? (uint64_t)a << 32 | b : (uint64_t)b << 32 | a;
}

static int pair_set_init(struct pair_set *s, size_t expected)
{
	size_t cap = 16;
	while (cap < expected * 2)
		cap *= 2;
	s->slots = calloc(cap, sizeof(*s->slots));
	s->mask = cap - 1;
	return s->slots ? 0 : -ENOMEM;
}

/* 1 when added, 0 when present. */
static int pair_set_add(struct pair_set *s, uint64_t key)
{
	size_t i = (size_t)(sim_mix(key, 0, 0) & s->mask);
	while (s->slots[i] != 0) {
		if (s->slots[i] == key)
			return 0;
		i = (i + 1) & s->mask;
	}
	s->slots[i] = key;
	return 1;
}

static int pair_set_has(const struct pair_set *s, uint64_t key)
{
	size_t i = (size_t)(sim_mix(key, 0, 0) & s->mask);
	while (s->slots[i] != 0) {
		if (s->slots[i] == key)
			return 1;
		i = (i + 1) & s->mask;
	}
	return 0;
}

/* ---- distances ---- */

int sim_topology_distances(const struct sim_topology *t, uint32_t from, uint32_t *dist)
{
	uint32_t *start = calloc((size_t)t->n + 1, sizeof(*start));
	uint32_t *adj = malloc(((size_t)t->n_edges * 2 + 1) * sizeof(*adj));
	uint32_t *queue = malloc(((size_t)t->n + 1) * sizeof(*queue));
	if (start == NULL || adj == NULL || queue == NULL) {
		free(start);
		free(adj);
		free(queue);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < t->n_edges; i++) {
		start[t->edges[i][0] + 1]++;
		start[t->edges[i][1] + 1]++;
	}
	for (uint32_t v = 0; v < t->n; v++)
		start[v + 1] += start[v];
	uint32_t *fill = queue; /* reused as a cursor array before the search */
	memcpy(fill, start, (size_t)t->n * sizeof(*fill));
	for (uint32_t i = 0; i < t->n_edges; i++) {
		uint32_t a = t->edges[i][0], b = t->edges[i][1];
		adj[fill[a]++] = b;
		adj[fill[b]++] = a;
	}
	for (uint32_t v = 0; v < t->n; v++)
		dist[v] = UINT32_MAX;
	size_t head = 0, tail = 0;
	dist[from] = 0;
	queue[tail++] = from;
	while (head < tail) {
		uint32_t v = queue[head++];
		for (uint32_t k = start[v]; k < start[v + 1]; k++) {
			uint32_t w = adj[k];
			if (dist[w] == UINT32_MAX) {
				dist[w] = dist[v] + 1;
				queue[tail++] = w;
			}
		}
	}
	free(start);
	free(adj);
	free(queue);
	return 0;
}

static int check_connected(const struct sim_topology *t, char *why, size_t why_len)
{
	uint32_t *dist = malloc((size_t)t->n * sizeof(*dist));
	if (dist == NULL || sim_topology_distances(t, 0, dist) != 0) {
		free(dist);
		return -ENOMEM;
	}
	for (uint32_t v = 0; v < t->n; v++) {
		if (dist[v] == UINT32_MAX) {
			free(dist);
			return fail(why, why_len, "the graph is not connected (node %u cannot reach node 0)",
				    v);
		}
	}
	free(dist);
	return 0;
}

/* ---- files ---- */

int sim_topology_parse(struct sim_topology *t, const char *text, size_t len, char *why,
		       size_t why_len)
{
	json_error_t jerr;
	memset(t, 0, sizeof(*t));
	json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL)
		return fail(why, why_len, "not JSON: %s (line %d)", jerr.text, jerr.line);
	int rc = -EINVAL;
	json_t *jn = json_object_get(root, "n");
	json_t *je = json_object_get(root, "edges");
	struct pair_set set = {0};
	if (!json_is_object(root)) {
		rc = fail(why, why_len, "the topology must be a JSON object");
		goto out;
	}
	if (!json_is_integer(jn) || json_integer_value(jn) < 1 ||
	    json_integer_value(jn) > (json_int_t)SIM_NODES_MAX) {
		rc = fail(why, why_len, "\"n\" must be an integer from 1 to %u", SIM_NODES_MAX);
		goto out;
	}
	if (!json_is_array(je)) {
		rc = fail(why, why_len, "\"edges\" must be an array of [a, b] pairs");
		goto out;
	}
	t->n = (uint32_t)json_integer_value(jn);
	size_t count = json_array_size(je);
	if (count > (size_t)t->n * (t->n - 1) / 2) {
		rc = fail(why, why_len, "more edges than node pairs");
		goto out;
	}
	t->edges = malloc((count ? count : 1) * sizeof(*t->edges));
	if (t->edges == NULL || pair_set_init(&set, count) != 0) {
		rc = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		json_t *e = json_array_get(je, i);
		json_t *ja = json_array_get(e, 0), *jb = json_array_get(e, 1);
		if (!json_is_array(e) || json_array_size(e) != 2 || !json_is_integer(ja) ||
		    !json_is_integer(jb) || json_integer_value(ja) < 0 ||
		    json_integer_value(jb) < 0 || json_integer_value(ja) >= (json_int_t)t->n ||
		    json_integer_value(jb) >= (json_int_t)t->n) {
			rc = fail(why, why_len, "edge %zu is not a pair [a, b] of node numbers below %u",
				  i, t->n);
			goto out;
		}
		uint32_t a = (uint32_t)json_integer_value(ja), b = (uint32_t)json_integer_value(jb);
		if (a == b) {
			rc = fail(why, why_len, "edge %zu joins node %u to itself", i, a);
			goto out;
		}
		if (!pair_set_add(&set, pair_key(a, b))) {
			rc = fail(why, why_len, "edge %zu: nodes %u and %u are already joined", i, a, b);
			goto out;
		}
		t->edges[i][0] = a;
		t->edges[i][1] = b;
	}
	t->n_edges = (uint32_t)count;
	rc = check_connected(t, why, why_len);
out:
	free(set.slots);
	json_decref(root);
	if (rc != 0)
		sim_topology_free(t);
	return rc;
}

int sim_topology_load(struct sim_topology *t, const char *path, char *why, size_t why_len)
{
	memset(t, 0, sizeof(*t));
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return fail(why, why_len, "cannot open %s: %s", path, strerror(errno));
	size_t cap = 65536, len = 0;
	char *buf = malloc(cap);
	while (buf != NULL) {
		size_t got = fread(buf + len, 1, cap - len, f);
		len += got;
		if (len < cap)
			break;
		if (cap >= (size_t)1 << 30) {
			free(buf);
			fclose(f);
			return fail(why, why_len, "%s is over 1 GiB", path);
		}
		char *grown = realloc(buf, cap * 2);
		if (grown == NULL) {
			free(buf);
			buf = NULL;
			break;
		}
		buf = grown;
		cap *= 2;
	}
	int err = ferror(f);
	fclose(f);
	if (buf == NULL)
		return -ENOMEM;
	if (err) {
		free(buf);
		return fail(why, why_len, "cannot read %s", path);
	}
	char inner[200];
	int rc = sim_topology_parse(t, buf, len, inner, sizeof(inner));
	free(buf);
	if (rc == -EINVAL)
		return fail(why, why_len, "%s: %s", path, inner);
	return rc;
}

/* ---- random graphs ---- */

int sim_topology_random(struct sim_topology *t, uint32_t n, uint32_t degree, uint64_t seed,
			char *why, size_t why_len)
{
	memset(t, 0, sizeof(*t));
	if (n < 2 || n > SIM_NODES_MAX)
		return fail(why, why_len, "--nodes must be from 2 to %u", SIM_NODES_MAX);
	if (degree < 2 || degree >= n)
		return fail(why, why_len, "--degree must be from 2 to nodes - 1");
	uint32_t dials = degree / 2;
	size_t max_edges = (size_t)n * dials;
	uint32_t *perm = malloc((size_t)n * sizeof(*perm));
	struct pair_set set = {0};
	t->edges = malloc(max_edges * sizeof(*t->edges));
	if (perm == NULL || t->edges == NULL || pair_set_init(&set, max_edges) != 0) {
		free(perm);
		free(set.slots);
		sim_topology_free(t);
		return -ENOMEM;
	}
	t->n = n;
	struct sim_rng rng;
	sim_rng_seed(&rng, seed, UINT64_C(0x746f706f)); /* "topo" */
	for (uint32_t i = 0; i < n; i++)
		perm[i] = i;
	for (uint32_t i = n - 1; i > 0; i--) {
		uint32_t j = (uint32_t)sim_rng_below(&rng, (uint64_t)i + 1);
		uint32_t x = perm[i];
		perm[i] = perm[j];
		perm[j] = x;
	}
	uint32_t ne = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint32_t a = perm[i], b = perm[(i + 1) % n];
		if (pair_set_add(&set, pair_key(a, b))) { /* n == 2: the ring has one pair */
			t->edges[ne][0] = a;
			t->edges[ne][1] = b;
			ne++;
		}
	}
	for (uint32_t a = 0; a < n; a++) {
		for (uint32_t k = 1; k < dials; k++) {
			/* A few draws; a node that keeps hitting neighbours dials fewer. */
			for (int attempt = 0; attempt < 64; attempt++) {
				uint32_t b = (uint32_t)sim_rng_below(&rng, n);
				if (b == a || pair_set_has(&set, pair_key(a, b)))
					continue;
				pair_set_add(&set, pair_key(a, b));
				t->edges[ne][0] = a;
				t->edges[ne][1] = b;
				ne++;
				break;
			}
		}
	}
	t->n_edges = ne;
	free(perm);
	free(set.slots);
	return 0;
}

void sim_topology_free(struct sim_topology *t)
{
	free(t->edges);
	memset(t, 0, sizeof(*t));
}
