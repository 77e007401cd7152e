/*
 * src/sim_net.h: the discrete-event engine of rumor-sim: a seeded random
 * source, link latency distributions, an upload queue per node, and the
 * event queue ordered by virtual time.
 *
 * Nothing here knows about nodes or the core: src/sim_world.c gives the
 * events their meaning.  Everything is deterministic: the same seed and the
 * same calls give the same numbers and the same event order.
 *
 * Event order: events pop by (at, seq); seq is a counter the queue assigns
 * at push, so events due at the same virtual microsecond pop in the order
 * they were pushed (FIFO), never in an order that depends on addresses.
 *
 * Ownership: the queue owns its array; an event's ptr is the caller's (the
 * queue never frees or reads it).
 *
 * Errors: sim_queue_push returns 0 or -ENOMEM; sim_latency_parse returns 0 or
 * -EINVAL with a static reason in *why.
 */
#ifndef RUMOR_SRC_SIM_NET_H
#define RUMOR_SRC_SIM_NET_H

#include <stddef.h>
#include <stdint.h>

#include "net/rng.h"

/* ---- random source: xoshiro256** seeded through splitmix64 ---- */

struct sim_rng {
	struct rumor_rng r; /* net/rng.h: the generator the core uses too */
};

/* One stream per (seed, stream): different streams are independent. */
void sim_rng_seed(struct sim_rng *rng, uint64_t seed, uint64_t stream);
uint64_t sim_rng_next(struct sim_rng *rng);
/* Uniform in [0, 1). */
double sim_rng_double(struct sim_rng *rng);
/* Uniform in [0, n); n > 0. */
uint64_t sim_rng_below(struct sim_rng *rng, uint64_t n);
/* Exponentially distributed with this mean. */
double sim_rng_exponential(struct sim_rng *rng, double mean);
/* Standard normal (Box-Muller). */
double sim_rng_normal(struct sim_rng *rng);
/* A well-mixed 64-bit value of (a, b, c): to derive seeds. */
uint64_t sim_mix(uint64_t a, uint64_t b, uint64_t c);

/* ---- latency distributions (one-way, per link) ---- */

enum sim_latency_kind {
	SIM_LATENCY_FIXED,     /* a ms */
	SIM_LATENCY_UNIFORM,   /* a..b ms */
	SIM_LATENCY_LOGNORMAL, /* median a ms, sigma b (of the log) */
};

struct sim_latency {
	enum sim_latency_kind kind;
	double a, b;
};

/* "fixed:MS", "uniform:A-B", "lognormal:MEDIAN,SIGMA" (milliseconds, >= 0,
 * at most 60000; A <= B; 0 <= SIGMA <= 5). */
int sim_latency_parse(struct sim_latency *out, const char *text, const char **why);
/* One draw in microseconds, at least 1 and at most 60 s. */
uint64_t sim_latency_draw_us(const struct sim_latency *lat, struct sim_rng *rng);

/* ---- a node's upload link ---- */

struct sim_uplink {
	uint64_t bytes_per_s; /* 0: unlimited (no queueing) */
	uint64_t free_at_ns;  /* when the link has sent everything queued */
	uint64_t rest;        /* and rest / bytes_per_s of a nanosecond more */
};

/* A message of `bytes` handed to the link at now_us: returns the virtual
 * time (us, rounded up) its last byte leaves.  Messages serialise: each
 * starts when the previous one has left. */
uint64_t sim_uplink_send(struct sim_uplink *link, uint64_t now_us, uint64_t bytes);

/* ---- event queue: a binary heap ---- */

struct sim_event {
	uint64_t at;  /* virtual time, us */
	uint64_t seq; /* assigned by push */
	uint32_t type;
	uint32_t node;
	uint32_t a, b;
	uint64_t c;
	void *ptr;
};

struct sim_queue {
	struct sim_event *heap;
	size_t len, cap;
	uint64_t next_seq;
};

void sim_queue_init(struct sim_queue *q);
void sim_queue_free(struct sim_queue *q);
/* Copies ev (its seq is overwritten).  Returns 0 or -ENOMEM. */
int sim_queue_push(struct sim_queue *q, const struct sim_event *ev);
/* The earliest event into *out: returns 1, or 0 when empty. */
int sim_queue_pop(struct sim_queue *q, struct sim_event *out);
/* The earliest event, or NULL when empty. */
const struct sim_event *sim_queue_peek(const struct sim_queue *q);

#endif
