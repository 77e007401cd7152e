/*
 * net/rng.h: the deterministic random source of the node core and of
 * rumor-sim: xoshiro256** (Blackman and Vigna), seeded through splitmix64.
 *
 * Not a cryptographic generator: it keys hash tables and draws delays.
 * What must be unpredictable to a remote party (the seed) comes from the
 * caller (libsodium's randombytes in rumord, --seed in rumor-sim), so one
 * seed replays a whole run.  No allocation, no state outside the struct.
 */
#ifndef RUMOR_NET_RNG_H
#define RUMOR_NET_RNG_H

#include <stddef.h>
#include <stdint.h>

struct rumor_rng {
	uint64_t s[4];
};

/* One splitmix64 step: advances *x and returns a well-mixed value. */
uint64_t rumor_splitmix64(uint64_t *x);
/* Seeds the generator with four splitmix64 steps from x. */
void rumor_rng_seed(struct rumor_rng *rng, uint64_t x);
/* The next uniform 64-bit value. */
uint64_t rumor_rng_next(struct rumor_rng *rng);
/* n uniform bytes. */
void rumor_rng_bytes(struct rumor_rng *rng, uint8_t *out, size_t n);

#endif
