/*
 * src/sim_net.c: the discrete-event engine of rumor-sim (see sim_net.h).
 *
 * The queue is a binary min-heap of events stored by value in one array
 * (no allocation per event), ordered by (at, seq).  Invariant: for every
 * index i > 0, heap[(i - 1) / 2] sorts before heap[i].
 */
#include "config.h"

#include "src/sim_net.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- random source ---- */

uint64_t sim_mix(uint64_t a, uint64_t b, uint64_t c)
{
	uint64_t x = a;
	uint64_t h = rumor_splitmix64(&x);
	x = h ^ b;
	h = rumor_splitmix64(&x);
	x = h ^ c;
	return rumor_splitmix64(&x);
}

void sim_rng_seed(struct sim_rng *rng, uint64_t seed, uint64_t stream)
{
	uint64_t x = sim_mix(seed, stream, UINT64_C(0x72756d6f72));
	rumor_rng_seed(&rng->r, x);
}

uint64_t sim_rng_next(struct sim_rng *rng)
{
	return rumor_rng_next(&rng->r);
}

double sim_rng_double(struct sim_rng *rng)
{
	return (double)(sim_rng_next(rng) >> 11) * 0x1.0p-53;
}

uint64_t sim_rng_below(struct sim_rng *rng, uint64_t n)
{
	/* Rejection: no modulo bias. */
	uint64_t limit = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;
	do
		x = sim_rng_next(rng);
	while (x >= limit);
	return x % n;
}

double sim_rng_exponential(struct sim_rng *rng, double mean)
{
	return -mean * log(1.0 - sim_rng_double(rng));
}

double sim_rng_normal(struct sim_rng *rng)
{
	double u1 = 1.0 - sim_rng_double(rng); /* (0, 1] */
	double u2 = sim_rng_double(rng);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

/* ---- latency ---- */

#define LATENCY_MS_MAX 60000.0

static int parse_number(const char *s, char stop, double *out, const char **end)
{
	char *e;
	if (*s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -EINVAL;
	double v = strtod(s, &e);
	if (e == s || *e != stop || !isfinite(v) || v < 0)
		return -EINVAL;
	*out = v;
	*end = e;
	return 0;
}

int sim_latency_parse(struct sim_latency *out, const char *text, const char **why)
{
	const char *e;
	memset(out, 0, sizeof(*out));
	if (strncmp(text, "fixed:", 6) == 0) {
		out->kind = SIM_LATENCY_FIXED;
		if (parse_number(text + 6, '\0', &out->a, &e) != 0)
			goto bad;
		out->b = out->a;
	} else if (strncmp(text, "uniform:", 8) == 0) {
		out->kind = SIM_LATENCY_UNIFORM;
		if (parse_number(text + 8, '-', &out->a, &e) != 0 ||
		    parse_number(e + 1, '\0', &out->b, &e) != 0)
			goto bad;
		if (out->a > out->b) {
			*why = "uniform:A-B needs A <= B";
			return -EINVAL;
		}
	} else if (strncmp(text, "lognormal:", 10) == 0) {
		out->kind = SIM_LATENCY_LOGNORMAL;
		if (parse_number(text + 10, ',', &out->a, &e) != 0 ||
		    parse_number(e + 1, '\0', &out->b, &e) != 0)
			goto bad;
		if (out->a <= 0 || out->b > 5) {
			*why = "lognormal:MEDIAN,SIGMA needs MEDIAN > 0 and SIGMA <= 5";
			return -EINVAL;
		}
	} else {
		goto bad;
	}
	if (out->a > LATENCY_MS_MAX || out->b > (out->kind == SIM_LATENCY_LOGNORMAL ? 5 : LATENCY_MS_MAX)) {
		*why = "latency over 60000 ms";
		return -EINVAL;
	}
	return 0;
bad:
	*why = "expected fixed:MS, uniform:A-B or lognormal:MEDIAN,SIGMA (milliseconds)";
	return -EINVAL;
}

uint64_t sim_latency_draw_us(const struct sim_latency *lat, struct sim_rng *rng)
{
	double ms = lat->a;
	switch (lat->kind) {
	case SIM_LATENCY_FIXED:
		break;
	case SIM_LATENCY_UNIFORM:
		ms = lat->a + (lat->b - lat->a) * sim_rng_double(rng);
		break;
	case SIM_LATENCY_LOGNORMAL:
		ms = lat->a * exp(lat->b * sim_rng_normal(rng));
		break;
	}
	double us = ms * 1000.0;
	if (us < 1)
		return 1;
	if (us > LATENCY_MS_MAX * 1000.0)
		return (uint64_t)(LATENCY_MS_MAX * 1000.0);
	return (uint64_t)llround(us);
}

/* ---- uplink ---- */

uint64_t sim_uplink_send(struct sim_uplink *link, uint64_t now_us, uint64_t bytes)
{
	if (link->bytes_per_s == 0)
		return now_us;
	uint64_t now_ns = now_us * 1000;
	uint64_t start = link->free_at_ns;
	if (now_ns > start || (now_ns == start && link->rest == 0)) {
		start = now_ns; /* idle: starts at once, exactly */
		link->rest = 0;
	}
	/* Exact: the fraction of a nanosecond carries over (rest / rate), so a
	 * queue of many small messages takes exactly bytes / rate. */
	uint64_t total = bytes * UINT64_C(1000000000) + link->rest;
	link->free_at_ns = start + total / link->bytes_per_s;
	link->rest = total % link->bytes_per_s;
	uint64_t end_ns = link->free_at_ns + (link->rest != 0);
	return (end_ns + 999) / 1000;
}

/* ---- event queue ---- */

static int before(const struct sim_event *x, const struct sim_event *y)
{
	return x->at < y->at || (x->at == y->at && x->seq < y->seq);
}

void sim_queue_init(struct sim_queue *q)
{
	memset(q, 0, sizeof(*q));
}

void sim_queue_free(struct sim_queue *q)
{
	free(q->heap);
	memset(q, 0, sizeof(*q));
}

int sim_queue_push(struct sim_queue *q, const struct sim_event *ev)
{
	if (q->len == q->cap) {
		size_t cap = q->cap ? q->cap * 2 : 1024;
		struct sim_event *h = realloc(q->heap, cap * sizeof(*h));
		if (h == NULL)
			return -ENOMEM;
		q->heap = h;
		q->cap = cap;
	}
	struct sim_event e = *ev;
	e.seq = q->next_seq++;
	size_t i = q->len++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(&e, &q->heap[parent]))
			break;
		q->heap[i] = q->heap[parent];
		i = parent;
	}
	q->heap[i] = e;
	return 0;
}

int sim_queue_pop(struct sim_queue *q, struct sim_event *out)
{
	if (q->len == 0)
		return 0;
	*out = q->heap[0];
	struct sim_event last = q->heap[--q->len];
	size_t n = q->len, i = 0;
	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= n)
			break;
		if (child + 1 < n && before(&q->heap[child + 1], &q->heap[child]))
			child++;
		if (!before(&q->heap[child], &last))
			break;
		q->heap[i] = q->heap[child];
		i = child;
	}
	if (n > 0)
		q->heap[i] = last;
	return 1;
}

const struct sim_event *sim_queue_peek(const struct sim_queue *q)
{
	return q->len ? &q->heap[0] : NULL;
}
