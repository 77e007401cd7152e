/*
 * net/ratelimit.c: token buckets (see ratelimit.h).
 *
 * Invariant: -RUMOR_BUCKET_MAX * 2e6 < level_tus <= burst * 1e6.  Refill
 * adds rate * elapsed_us token-microseconds, capped at the burst; elapsed
 * time is capped where the bucket would be full anyway, so the product
 * never overflows.
 */
#include "config.h"

#include "net/ratelimit.h"

#include <assert.h>

#define US_PER_S INT64_C(1000000)

static void refill(struct rumor_bucket *b, uint64_t now_us)
{
	if (now_us <= b->at_us)
		return;
	int64_t full = (int64_t)b->burst * US_PER_S;
	uint64_t dt = now_us - b->at_us;
	b->at_us = now_us;
	if (b->level_tus >= full)
		return;
	/* Time to fill from the current level: beyond it nothing changes. */
	uint64_t need = (uint64_t)(full - b->level_tus);
	uint64_t to_full = (need + b->rate - 1) / b->rate;
	if (dt >= to_full) {
		b->level_tus = full;
		return;
	}
	b->level_tus += (int64_t)(dt * b->rate);
	if (b->level_tus > full)
		b->level_tus = full;
}

void rumor_bucket_init(struct rumor_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_us)
{
	assert(rate > 0 && rate <= RUMOR_BUCKET_MAX && burst > 0 && burst <= RUMOR_BUCKET_MAX);
	b->rate = rate;
	b->burst = burst;
	b->level_tus = (int64_t)burst * US_PER_S;
	b->at_us = now_us;
}

int64_t rumor_bucket_level(struct rumor_bucket *b, uint64_t now_us)
{
	refill(b, now_us);
	int64_t l = b->level_tus;
	return l >= 0 ? l / US_PER_S : -((-l + US_PER_S - 1) / US_PER_S);
}

int rumor_bucket_take(struct rumor_bucket *b, uint64_t n, uint64_t now_us)
{
	assert(n <= RUMOR_BUCKET_MAX);
	refill(b, now_us);
	int64_t floor = -(int64_t)RUMOR_BUCKET_MAX * US_PER_S;
	int64_t take = (int64_t)n * US_PER_S;
	/* Debt is capped (the owner closes a peer long before). */
	b->level_tus = b->level_tus - take < floor ? floor : b->level_tus - take;
	return b->level_tus < 0;
}

uint64_t rumor_bucket_ready_at(struct rumor_bucket *b, uint64_t now_us)
{
	refill(b, now_us);
	if (b->level_tus >= 0)
		return b->at_us > now_us ? b->at_us : now_us;
	uint64_t debt = (uint64_t)(-b->level_tus);
	return b->at_us + (debt + b->rate - 1) / b->rate;
}
