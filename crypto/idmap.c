/*
 * crypto/idmap.c: see idmap.h.
 *
 * Invariant: every present entry is reachable from its home slot
 * (hash & mask) by probing forward without crossing an empty slot; deletion
 * shifts later entries back to keep it so.  Load factor stays <= 1/2.
 */
#include "config.h"

#include "crypto/idmap.h"

#include <assert.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define INITIAL_SLOTS 64

static size_t home(const struct rumor_idmap *map, const uint8_t id[32])
{
	uint8_t h[crypto_shorthash_BYTES];
	crypto_shorthash(h, id, 32, map->key);
	uint64_t v;
	memcpy(&v, h, sizeof(v));
	return (size_t)v & map->mask;
}

int rumor_idmap_init(struct rumor_idmap *map, size_t limit, const uint8_t key[16])
{
	memset(map, 0, sizeof(*map));
	map->slots = calloc(INITIAL_SLOTS, sizeof(*map->slots));
	if (!map->slots)
		return -ENOMEM;
	map->mask = INITIAL_SLOTS - 1;
	map->limit = limit;
	memcpy(map->key, key, 16);
	return 0;
}

void rumor_idmap_free(struct rumor_idmap *map)
{
	free(map->slots);
	map->slots = NULL;
	map->count = 0;
}

static struct rumor_idmap_slot *find(const struct rumor_idmap *map, const uint8_t id[32])
{
	for (size_t i = home(map, id);; i = (i + 1) & map->mask) {
		struct rumor_idmap_slot *s = &map->slots[i];
		if (!s->value)
			return NULL;
		if (memcmp(s->id, id, 32) == 0)
			return s;
	}
}

void *rumor_idmap_get(const struct rumor_idmap *map, const uint8_t id[32])
{
	struct rumor_idmap_slot *s = find(map, id);
	return s ? s->value : NULL;
}

static void insert_fresh(struct rumor_idmap *map, const uint8_t id[32], void *value)
{
	size_t i = home(map, id);
	while (map->slots[i].value)
		i = (i + 1) & map->mask;
	memcpy(map->slots[i].id, id, 32);
	map->slots[i].value = value;
}

static int grow(struct rumor_idmap *map)
{
	size_t old_n = map->mask + 1;
	struct rumor_idmap_slot *old = map->slots;
	struct rumor_idmap_slot *fresh = calloc(old_n * 2, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	map->slots = fresh;
	map->mask = old_n * 2 - 1;
	for (size_t i = 0; i < old_n; i++)
		if (old[i].value)
			insert_fresh(map, old[i].id, old[i].value);
	free(old);
	return 0;
}

int rumor_idmap_put(struct rumor_idmap *map, const uint8_t id[32], void *value)
{
	assert(value);
	if (find(map, id))
		return -EEXIST;
	if (map->count >= map->limit)
		return -ENOSPC;
	if ((map->count + 1) * 2 > map->mask + 1) {
		int rc = grow(map);
		if (rc)
			return rc;
	}
	insert_fresh(map, id, value);
	map->count++;
	return 0;
}

void *rumor_idmap_del(struct rumor_idmap *map, const uint8_t id[32])
{
	struct rumor_idmap_slot *s = find(map, id);
	if (!s)
		return NULL;
	void *value = s->value;
	size_t hole = (size_t)(s - map->slots);
	s->value = NULL;
	/* Backward shift: move later entries of the cluster into the hole when
	 * their home slot does not lie (cyclically) between the hole and them. */
	for (size_t j = (hole + 1) & map->mask; map->slots[j].value; j = (j + 1) & map->mask) {
		size_t h = home(map, map->slots[j].id);
		size_t dist_hole = (j - hole) & map->mask;
		size_t dist_home = (j - h) & map->mask;
		if (dist_home >= dist_hole) {
			map->slots[hole] = map->slots[j];
			map->slots[j].value = NULL;
			hole = j;
		}
	}
	map->count--;
	return value;
}
