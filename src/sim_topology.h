/*
 * src/sim_topology.h: the graph rumor-sim wires its nodes by: who dials whom.
 *
 * Either read from a JSON file in the ../shared/bench format
 *   {"n": N, "edges": [[a, b], ...], ...}   (node a dials node b)
 * or drawn from a seed: N nodes, degree about K (sim_topology_random says
 * exactly how).  Both give edges[i] = {dialer, acceptor}; an unordered pair
 * appears at most once, no self loop, and every node is reachable.
 *
 * Ownership: the struct owns its edge array; sim_topology_free releases it.
 * Errors: 0 or -EINVAL / -ENOMEM, with a message in why[] (why_len bytes)
 * for -EINVAL.
 */
#ifndef RUMOR_SRC_SIM_TOPOLOGY_H
#define RUMOR_SRC_SIM_TOPOLOGY_H

#include <stddef.h>
#include <stdint.h>

#define SIM_NODES_MAX 1000000u

struct sim_topology {
	uint32_t n;
	uint32_t n_edges;
	uint32_t (*edges)[2];
};

/* Parses a topology file.  Rejected: unreadable file, bad JSON, n missing or
 * not in 1..SIM_NODES_MAX, an edge that is not a pair of node numbers below
 * n, a self loop, an unordered pair given twice, a disconnected graph. */
int sim_topology_load(struct sim_topology *t, const char *path, char *why, size_t why_len);
/* Same rules, from JSON text (for tests). */
int sim_topology_parse(struct sim_topology *t, const char *text, size_t len, char *why,
		       size_t why_len);
/* A seeded random graph: nodes are put on a random ring (perm[i] dials
 * perm[i + 1 mod n], which makes the graph connected), then every node
 * dials degree/2 - 1 more nodes drawn uniformly among those it is not yet
 * adjacent to (fewer when none is left).  So each node dials degree/2
 * others and the average degree is degree (rounded down to even).  n >= 2,
 * 2 <= degree < n. */
int sim_topology_random(struct sim_topology *t, uint32_t n, uint32_t degree, uint64_t seed,
			char *why, size_t why_len);
void sim_topology_free(struct sim_topology *t);
/* Hop distance from `from` to every node over the undirected graph
 * (UINT32_MAX: unreachable) into dist[n]. */
int sim_topology_distances(const struct sim_topology *t, uint32_t from, uint32_t *dist);

#endif
