/*
 * net/rng.c: see rng.h.
 */
#include "config.h"

#include "net/rng.h"

#include <string.h>

uint64_t rumor_splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void rumor_rng_seed(struct rumor_rng *rng, uint64_t x)
{
	for (int i = 0; i < 4; i++)
		rng->s[i] = rumor_splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rumor_rng_next(struct rumor_rng *rng)
{
	uint64_t *s = rng->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

void rumor_rng_bytes(struct rumor_rng *rng, uint8_t *out, size_t n)
{
	while (n) {
		uint64_t v = rumor_rng_next(rng);
		size_t k = n < 8 ? n : 8;
		memcpy(out, &v, k);
		out += k;
		n -= k;
	}
}
