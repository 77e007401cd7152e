/*
 * net/ratelimit.h: a token bucket refilled from the caller's clock, sans-IO.
 *
 * A bucket holds up to `burst` tokens and gains `rate` tokens per second
 * of now_us.  rumor_bucket_take() always takes what it is asked (the work
 * is already in hand: a message decoded from a read), so the level may go
 * below zero: that is debt, and rumor_bucket_ready_at() says when the
 * level is back at zero.  The caller decides what "over budget" means
 * (net/core.c stops reading the peer until then).
 *
 * Arithmetic is exact: the level is kept in token-microseconds (tokens *
 * 1e6), so refill never loses fractions and one sequence of calls always
 * gives the same answers.  Time that goes backwards is ignored.
 *
 * Ownership: a plain struct, no allocation.  Errors: none (rate and burst
 * are checked by the owner's config: both > 0, burst <= RUMOR_BUCKET_MAX).
 */
#ifndef RUMOR_NET_RATELIMIT_H
#define RUMOR_NET_RATELIMIT_H

#include <stdint.h>

/* Largest burst or rate: keeps token-microseconds inside int64_t with
 * room for debt of the same size. */
#define RUMOR_BUCKET_MAX (UINT64_C(1) << 40)

struct rumor_bucket {
	uint64_t rate;     /* tokens per second */
	uint64_t burst;    /* most tokens held */
	int64_t level_tus; /* tokens * 1e6; negative: debt */
	uint64_t at_us;    /* when level_tus was last brought up to date */
};

/* Starts full at now_us. */
void rumor_bucket_init(struct rumor_bucket *b, uint64_t rate, uint64_t burst, uint64_t now_us);
/* Tokens held at now_us (negative: debt), rounded towards minus infinity. */
int64_t rumor_bucket_level(struct rumor_bucket *b, uint64_t now_us);
/* Takes n tokens at now_us (n <= RUMOR_BUCKET_MAX).  Returns 1 when the
 * bucket is in debt afterwards, else 0. */
int rumor_bucket_take(struct rumor_bucket *b, uint64_t n, uint64_t now_us);
/* The earliest time at which the level is >= 0 again (now_us when it is
 * already). */
uint64_t rumor_bucket_ready_at(struct rumor_bucket *b, uint64_t now_us);

#endif
