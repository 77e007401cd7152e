/*
 * net/itemcache.c: see itemcache.h.
 *
 * Invariants: the ring holds count entries from head (oldest) on, each in
 * the map under its id exactly once; bytes is the sum of their len and
 * never exceeds max_bytes; count <= max_items.
 */
#include "config.h"

#include "net/itemcache.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

int rumor_itemcache_init(struct rumor_itemcache *c, uint32_t max_items, size_t max_bytes,
			 const uint8_t key[16])
{
	memset(c, 0, sizeof(*c));
	c->max_items = max_items;
	c->max_bytes = max_bytes;
	return rumor_idmap_init(&c->map, max_items, key);
}

static void evict_oldest(struct rumor_itemcache *c)
{
	struct rumor_itemcache_entry *e = c->ring[c->head];
	void *removed = rumor_idmap_del(&c->map, e->id);
	assert(removed == e);
	(void)removed;
	c->bytes -= e->len;
	c->entry_bytes -= sizeof(*e) + e->len;
	free(e);
	c->ring[c->head] = NULL;
	c->head = (c->head + 1) % c->alloc;
	c->count--;
}

void rumor_itemcache_free(struct rumor_itemcache *c)
{
	while (c->count)
		evict_oldest(c);
	free(c->ring);
	c->ring = NULL;
	c->alloc = 0;
	rumor_idmap_free(&c->map);
}

int rumor_itemcache_put(struct rumor_itemcache *c, const struct rumor_item *item)
{
	if (item->size > c->max_bytes || rumor_idmap_get(&c->map, item->id))
		return 0;
	while (c->count && (c->count == c->max_items || c->bytes + item->size > c->max_bytes))
		evict_oldest(c);
	if (c->count == c->alloc) {
		uint32_t n = c->alloc ? c->alloc * 2 : 16;
		if (n > c->max_items || n < c->alloc)
			n = c->max_items;
		struct rumor_itemcache_entry **ring = malloc((size_t)n * sizeof(*ring));
		if (!ring)
			return -ENOMEM;
		for (uint32_t i = 0; i < c->count; i++)
			ring[i] = c->ring[(c->head + i) % c->alloc];
		free(c->ring);
		c->ring = ring;
		c->alloc = n;
		c->head = 0;
	}
	struct rumor_itemcache_entry *e = malloc(sizeof(*e) + item->size);
	if (!e)
		return -ENOMEM;
	memcpy(e->id, item->id, RUMOR_ID_SIZE);
	e->kind = (uint8_t)item->kind;
	e->len = item->size;
	memcpy(e->bytes, item->encoding, item->size);
	if (rumor_idmap_put(&c->map, e->id, e) != 0) {
		free(e);
		return -ENOMEM;
	}
	c->ring[(c->head + c->count) % c->alloc] = e;
	c->count++;
	c->bytes += e->len;
	c->entry_bytes += sizeof(*e) + e->len;
	return 0;
}

const struct rumor_itemcache_entry *rumor_itemcache_get(const struct rumor_itemcache *c,
							 const uint8_t id[RUMOR_ID_SIZE])
{
	return rumor_idmap_get(&c->map, id);
}

size_t rumor_itemcache_memory(const struct rumor_itemcache *c)
{
	return (size_t)c->alloc * sizeof(*c->ring) + c->entry_bytes +
	       (c->map.slots ? (c->map.mask + 1) * sizeof(*c->map.slots) : 0);
}
