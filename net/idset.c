/*
 * net/idset.c: see idset.h.
 *
 * Invariants: every fingerprint on the ring is in the table exactly once
 * and vice versa; table slots >= 2 * count (load at most one half), a
 * power of two; a stored value is (fp | 1) with bit 1 the mark, and fp has
 * bits 0 and 1 cleared, so 0 never names an entry.  Deletion is by
 * backward shift (no tombstones).
 */
#include "config.h"

#include "net/idset.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define FP_MASK (~(uint64_t)3)
#define MARK ((uint64_t)2)
#define USED ((uint64_t)1)

static uint64_t fingerprint(const struct rumor_idset *s, const uint8_t id[32])
{
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, id, 32, s->key);
	uint64_t v;
	memcpy(&v, h, sizeof(v));
	return v & FP_MASK;
}

void rumor_idset_init(struct rumor_idset *s, uint32_t cap, const uint8_t key[16])
{
	memset(s, 0, sizeof(*s));
	s->cap = cap;
	memcpy(s->key, key, 16);
}

void rumor_idset_free(struct rumor_idset *s)
{
	free(s->ring);
	free(s->table);
	s->ring = s->table = NULL;
	s->head = s->count = s->ring_alloc = s->table_mask = 0;
}

static uint32_t home(const struct rumor_idset *s, uint64_t fp)
{
	return (uint32_t)((fp >> 2) ^ (fp >> 34)) & s->table_mask;
}

/* The slot holding fp, or UINT32_MAX. */
static uint32_t find(const struct rumor_idset *s, uint64_t fp)
{
	if (!s->table)
		return UINT32_MAX;
	for (uint32_t i = home(s, fp);; i = (i + 1) & s->table_mask) {
		uint64_t v = s->table[i];
		if (!v)
			return UINT32_MAX;
		if ((v & FP_MASK) == fp)
			return i;
	}
}

int rumor_idset_has(const struct rumor_idset *s, const uint8_t id[32])
{
	return find(s, fingerprint(s, id)) != UINT32_MAX;
}

int rumor_idset_marked(const struct rumor_idset *s, const uint8_t id[32])
{
	uint32_t i = find(s, fingerprint(s, id));
	return i != UINT32_MAX && (s->table[i] & MARK);
}

static void table_insert(uint64_t *table, uint32_t mask, uint64_t v, uint32_t (*h)(uint64_t, uint32_t))
{
	uint32_t i = h(v & FP_MASK, mask);
	while (table[i])
		i = (i + 1) & mask;
	table[i] = v;
}

static uint32_t home_of(uint64_t fp, uint32_t mask)
{
	return (uint32_t)((fp >> 2) ^ (fp >> 34)) & mask;
}

static void table_delete(struct rumor_idset *s, uint32_t i)
{
	uint32_t mask = s->table_mask;
	s->table[i] = 0;
	for (uint32_t j = (i + 1) & mask; s->table[j]; j = (j + 1) & mask) {
		uint32_t k = home_of(s->table[j] & FP_MASK, mask);
		/* Move j back to i when its home is not within (i, j]. */
		if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
			s->table[i] = s->table[j];
			s->table[j] = 0;
			i = j;
		}
	}
}

static int grow(struct rumor_idset *s)
{
	uint32_t n = s->ring_alloc ? s->ring_alloc * 2 : 64;
	if (n > s->cap || n < s->ring_alloc)
		n = s->cap;
	uint64_t *ring = malloc((size_t)n * sizeof(*ring));
	uint32_t slots = 128;
	while (slots < 2 * n)
		slots *= 2;
	uint64_t *table = calloc(slots, sizeof(*table));
	if (!ring || !table) {
		free(ring);
		free(table);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < s->count; i++)
		ring[i] = s->ring[(s->head + i) % s->ring_alloc];
	if (s->table)
		for (uint32_t i = 0; i <= s->table_mask; i++)
			if (s->table[i])
				table_insert(table, slots - 1, s->table[i], home_of);
	free(s->ring);
	free(s->table);
	s->ring = ring;
	s->table = table;
	s->ring_alloc = n;
	s->head = 0;
	s->table_mask = slots - 1;
	return 0;
}

int rumor_idset_add(struct rumor_idset *s, const uint8_t id[32], int mark)
{
	uint64_t fp = fingerprint(s, id);
	uint32_t i = find(s, fp);
	if (i != UINT32_MAX) {
		if (mark)
			s->table[i] |= MARK;
		return 0;
	}
	if (s->count == s->cap && s->count) {
		uint32_t old = find(s, s->ring[s->head]);
		if (old != UINT32_MAX)
			table_delete(s, old);
		s->head = (s->head + 1) % s->ring_alloc;
		s->count--;
	}
	if (s->count == s->ring_alloc && grow(s) != 0)
		return -ENOMEM;
	s->ring[(s->head + s->count) % s->ring_alloc] = fp;
	s->count++;
	table_insert(s->table, s->table_mask, fp | USED | (mark ? MARK : 0), home_of);
	return 0;
}

size_t rumor_idset_memory(const struct rumor_idset *s)
{
	return (size_t)s->ring_alloc * sizeof(uint64_t) +
	       (s->table ? ((size_t)s->table_mask + 1) * sizeof(uint64_t) : 0);
}
