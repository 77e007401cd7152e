/*
 * src/sim_store.c: rumor-sim's in-memory item store (see sim_store.h).
 *
 * Invariant: index[] is a linear-probing table at most half full whose
 * non-zero slots are exactly the added items (index + 1).
 */
#include "config.h"

#include "src/sim_store.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int sim_store_init(struct sim_store *s, uint32_t nodes, uint32_t items_max)
{
	memset(s, 0, sizeof(*s));
	size_t cap = 16;
	while (cap < (size_t)items_max * 2)
		cap *= 2;
	size_t slots = (size_t)nodes * items_max;
	s->nodes = nodes;
	s->items_max = items_max;
	s->items = calloc(items_max ? items_max : 1, sizeof(*s->items));
	s->index = calloc(cap, sizeof(*s->index));
	s->by_sig = calloc(cap, sizeof(*s->by_sig));
	s->index_mask = cap - 1;
	s->stored_at = malloc((slots ? slots : 1) * sizeof(*s->stored_at));
	s->hops = calloc(slots ? slots : 1, 1);
	if (s->items == NULL || s->index == NULL || s->by_sig == NULL || s->stored_at == NULL || s->hops == NULL) {
		sim_store_free(s);
		return -ENOMEM;
	}
	memset(s->stored_at, 0xff, slots * sizeof(*s->stored_at));
	return 0;
}

void sim_store_free(struct sim_store *s)
{
	if (s->items != NULL)
		for (uint32_t i = 0; i < s->count; i++)
			free(s->items[i].bytes);
	free(s->items);
	free(s->index);
	free(s->by_sig);
	free(s->stored_at);
	free(s->hops);
	memset(s, 0, sizeof(*s));
}

static size_t slot_of(const struct sim_store *s, const uint8_t id[32])
{
	uint64_t h;
	memcpy(&h, id, sizeof(h)); /* ids are SHA-256 outputs: uniform already */
	return (size_t)h & s->index_mask;
}

int64_t sim_store_find(const struct sim_store *s, const uint8_t id[32])
{
	for (size_t i = slot_of(s, id);; i = (i + 1) & s->index_mask) {
		uint32_t v = s->index[i];
		if (v == 0)
			return -1;
		if (memcmp(s->items[v - 1].id, id, 32) == 0)
			return v - 1;
	}
}

static size_t sig_slot(const struct sim_store *s, const uint8_t *bytes, size_t len)
{
	uint64_t h = 0;
	if (len >= 8)
		memcpy(&h, bytes + len - 8, sizeof(h));
	return (size_t)h & s->index_mask;
}

int64_t sim_store_find_encoding(const struct sim_store *s, const uint8_t *bytes, size_t len)
{
	for (size_t i = sig_slot(s, bytes, len);; i = (i + 1) & s->index_mask) {
		uint32_t v = s->by_sig[i];
		if (v == 0)
			return -1;
		const struct sim_store_item *it = &s->items[v - 1];
		if (it->len == len && memcmp(it->bytes, bytes, len) == 0)
			return v - 1;
	}
}

int sim_store_add(struct sim_store *s, const uint8_t id[32], uint8_t kind, const uint8_t *bytes,
		  uint32_t len, uint32_t *out_index)
{
	if (sim_store_find(s, id) >= 0)
		return -EEXIST;
	if (s->count >= s->items_max)
		return -ENOSPC;
	struct sim_store_item *it = &s->items[s->count];
	it->bytes = malloc(len ? len : 1);
	if (it->bytes == NULL)
		return -ENOMEM;
	memcpy(it->bytes, bytes, len);
	it->len = len;
	it->kind = kind;
	memcpy(it->id, id, 32);
	size_t i = slot_of(s, id);
	while (s->index[i] != 0)
		i = (i + 1) & s->index_mask;
	s->index[i] = s->count + 1;
	i = sig_slot(s, bytes, len);
	while (s->by_sig[i] != 0)
		i = (i + 1) & s->index_mask;
	s->by_sig[i] = s->count + 1;
	*out_index = s->count++;
	return 0;
}

int sim_store_has(const struct sim_store *s, uint32_t node, uint32_t item)
{
	assert(node < s->nodes && item < s->count);
	return s->stored_at[(size_t)node * s->items_max + item] != SIM_STORE_NONE;
}

int sim_store_put(struct sim_store *s, uint32_t node, uint32_t item, uint32_t time_us,
		  uint8_t hops)
{
	assert(node < s->nodes && item < s->count && time_us <= SIM_STORE_TIME_MAX);
	size_t k = (size_t)node * s->items_max + item;
	if (s->stored_at[k] != SIM_STORE_NONE)
		return 1;
	s->stored_at[k] = time_us;
	s->hops[k] = hops;
	return 0;
}

uint32_t sim_store_time(const struct sim_store *s, uint32_t node, uint32_t item)
{
	return s->stored_at[(size_t)node * s->items_max + item];
}

uint8_t sim_store_hops(const struct sim_store *s, uint32_t node, uint32_t item)
{
	return s->hops[(size_t)node * s->items_max + item];
}

size_t sim_store_memory(const struct sim_store *s)
{
	size_t n = (size_t)s->items_max * sizeof(*s->items) + (s->index_mask + 1) * 2 * sizeof(*s->index) +
		   (size_t)s->nodes * s->items_max * (sizeof(*s->stored_at) + 1);
	for (uint32_t i = 0; i < s->count; i++)
		n += s->items[i].len;
	return n;
}
