/*
 * net/idset.h: a bounded FIFO set of item ids, kept as keyed 64-bit
 * fingerprints (8 bytes of ring and about 16 bytes of table per id instead
 * of 32-byte ids in an idmap).
 *
 * A fingerprint is SipHash-2-4 (libsodium crypto_shorthash) of the id under
 * a key the caller supplies (from the core's seed): a remote party cannot
 * choose ids that collide or make probes long.  Two different ids share a
 * fingerprint with probability about n / 2^63 per lookup, where n is the
 * set's size: a false "present" then makes the relay skip one announcement
 * to one peer, never a wrong store or verification decision.
 *
 * Each entry carries one mark bit (net/relay.c: "the peer itself told us of
 * this id").  At the cap, adding evicts the oldest entry.  Memory grows
 * with the entries held (ring and table double from 64), never up front.
 *
 * Errors: add returns 0 or -ENOMEM (the set is unchanged then).
 */
#ifndef RUMOR_NET_IDSET_H
#define RUMOR_NET_IDSET_H

#include <stddef.h>
#include <stdint.h>

struct rumor_idset {
	uint64_t *ring;  /* fingerprints in insertion order (FIFO) */
	uint64_t *table; /* open addressing; 0 = empty; value = fp | 1, bit 1 = mark */
	uint32_t head, count, ring_alloc, cap;
	uint32_t table_mask; /* table slots - 1 (0 when no table yet) */
	uint8_t key[16];
};

/* cap: most ids held (> 0).  Allocates nothing. */
void rumor_idset_init(struct rumor_idset *s, uint32_t cap, const uint8_t key[16]);
void rumor_idset_free(struct rumor_idset *s);
int rumor_idset_has(const struct rumor_idset *s, const uint8_t id[32]);
/* 1 when present and marked. */
int rumor_idset_marked(const struct rumor_idset *s, const uint8_t id[32]);
/* Adds id (an id present keeps its place; mark = 1 sets its mark, 0 leaves
 * it as it was). */
int rumor_idset_add(struct rumor_idset *s, const uint8_t id[32], int mark);
/* Bytes allocated. */
size_t rumor_idset_memory(const struct rumor_idset *s);

#endif
