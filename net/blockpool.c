/*
 * net/blockpool.c: see blockpool.h.
 *
 * Invariants: blocks[0..count) are distinct ids in arrival order; bytes is
 * the sum of their len; count <= max_blocks.
 */
#include "config.h"

#include "net/blockpool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

void rumor_held_block_free(struct rumor_held_block *hb)
{
	if (!hb)
		return;
	free(hb->bytes);
	free(hb->missing);
	free(hb->index);
	free(hb->got);
	free(hb);
}

size_t rumor_held_block_memory(const struct rumor_held_block *hb)
{
	size_t n = sizeof(*hb) + hb->len + (size_t)hb->n_missing * sizeof(*hb->missing);
	if (hb->index)
		n += ((size_t)hb->index_mask + 1) * sizeof(*hb->index) + hb->n_missing;
	return n;
}

static const uint8_t *missing_id(const struct rumor_held_block *hb, uint32_t p)
{
	return hb->item.u.block.tx_ids + (size_t)RUMOR_ID_SIZE * hb->missing[p];
}

uint64_t rumor_held_block_hash(const uint8_t key[16], const uint8_t id[RUMOR_ID_SIZE])
{
	uint8_t h[crypto_shorthash_BYTES];
	uint64_t v;

	crypto_shorthash(h, id, RUMOR_ID_SIZE, key);
	memcpy(&v, h, sizeof(v));
	return v;
}

int rumor_held_block_index(struct rumor_held_block *hb, const uint8_t key[16])
{
	size_t size = 16;
	while (size < 2 * (size_t)hb->n_missing) /* load <= 1/2 */
		size *= 2;
	uint32_t *slots = calloc(size, sizeof(*slots));
	uint8_t *got = calloc(hb->n_missing ? hb->n_missing : 1, 1);
	if (!slots || !got) {
		free(slots);
		free(got);
		return -ENOMEM;
	}
	for (uint32_t p = 0; p < hb->n_missing; p++) {
		size_t i = (size_t)rumor_held_block_hash(key, missing_id(hb, p)) & (size - 1);
		while (slots[i])
			i = (i + 1) & (size - 1);
		slots[i] = p + 1;
	}
	free(hb->index);
	free(hb->got);
	hb->index = slots;
	hb->index_mask = (uint32_t)(size - 1);
	hb->got = got;
	hb->n_left = hb->n_missing;
	return 0;
}

void rumor_held_block_clear_missing(struct rumor_held_block *hb)
{
	free(hb->missing);
	free(hb->index);
	free(hb->got);
	hb->missing = NULL;
	hb->index = NULL;
	hb->got = NULL;
	hb->n_missing = 0;
	hb->n_left = 0;
	hb->index_mask = 0;
}

int rumor_held_block_got(struct rumor_held_block *hb, const uint8_t id[RUMOR_ID_SIZE],
			 uint64_t h)
{
	if (!hb->index)
		return 0;
	for (uint32_t i = (uint32_t)h & hb->index_mask; hb->index[i];
	     i = (i + 1) & hb->index_mask) {
		uint32_t p = hb->index[i] - 1;
		if (memcmp(missing_id(hb, p), id, RUMOR_ID_SIZE) == 0) {
			if (hb->got[p])
				return 0;
			hb->got[p] = 1;
			hb->n_left--;
			return 1;
		}
	}
	return 0;
}

void rumor_blockpool_init(struct rumor_blockpool *pool, const char *name, uint32_t max_blocks,
			  size_t max_bytes)
{
	memset(pool, 0, sizeof(*pool));
	pool->name = name;
	pool->max_blocks = max_blocks;
	pool->max_bytes = max_bytes;
}

void rumor_blockpool_free(struct rumor_blockpool *pool)
{
	while (pool->count)
		rumor_held_block_free(rumor_blockpool_take(pool, pool->count - 1));
	free(pool->blocks);
	pool->blocks = NULL;
	pool->alloc = 0;
}

int rumor_blockpool_has(const struct rumor_blockpool *pool, const uint8_t id[RUMOR_ID_SIZE])
{
	for (uint32_t i = 0; i < pool->count; i++)
		if (memcmp(pool->blocks[i]->item.id, id, RUMOR_ID_SIZE) == 0)
			return 1;
	return 0;
}

int rumor_blockpool_must_evict(const struct rumor_blockpool *pool, size_t len)
{
	return pool->count && (pool->count >= pool->max_blocks || pool->bytes + len > pool->max_bytes);
}

int rumor_blockpool_add(struct rumor_blockpool *pool, struct rumor_held_block *hb)
{
	if (pool->count == pool->alloc) {
		uint32_t n = pool->alloc ? pool->alloc * 2 : 4;
		if (n > pool->max_blocks)
			n = pool->max_blocks;
		struct rumor_held_block **b = realloc(pool->blocks, (size_t)n * sizeof(*b));
		if (!b)
			return -ENOMEM;
		pool->blocks = b;
		pool->alloc = n;
	}
	pool->blocks[pool->count++] = hb;
	pool->bytes += hb->len;
	return 0;
}

struct rumor_held_block *rumor_blockpool_take(struct rumor_blockpool *pool, uint32_t i)
{
	struct rumor_held_block *hb = pool->blocks[i];
	memmove(&pool->blocks[i], &pool->blocks[i + 1],
		(size_t)(pool->count - i - 1) * sizeof(pool->blocks[0]));
	pool->count--;
	pool->bytes -= hb->len;
	return hb;
}

struct rumor_held_block *rumor_blockpool_take_expired(struct rumor_blockpool *pool,
						      uint64_t now_us)
{
	for (uint32_t i = 0; i < pool->count; i++)
		if (pool->blocks[i]->deadline_us <= now_us)
			return rumor_blockpool_take(pool, i);
	return NULL;
}

uint64_t rumor_blockpool_next_deadline(const struct rumor_blockpool *pool)
{
	uint64_t next = UINT64_MAX;
	for (uint32_t i = 0; i < pool->count; i++)
		if (pool->blocks[i]->deadline_us < next)
			next = pool->blocks[i]->deadline_us;
	return next;
}

size_t rumor_blockpool_memory(const struct rumor_blockpool *pool)
{
	size_t n = (size_t)pool->alloc * sizeof(*pool->blocks);
	for (uint32_t i = 0; i < pool->count; i++)
		n += rumor_held_block_memory(pool->blocks[i]);
	return n;
}
