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

void rumor_held_block_free(struct rumor_held_block *hb)
{
	if (!hb)
		return;
	free(hb->bytes);
	free(hb->missing);
	free(hb);
}

size_t rumor_held_block_memory(const struct rumor_held_block *hb)
{
	return sizeof(*hb) + hb->len + (size_t)hb->n_missing * 32;
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
