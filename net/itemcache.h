/*
 * net/itemcache.h: the recent-items cache, from which the node core serves
 * getdata without asking the store.
 *
 * Valid items are put here when the core announces them (before their
 * commit: a peer that asks right after our inv is served from memory
 * while the write is still queued).  FIFO: at max_items items or max_bytes
 * bytes of encodings the oldest go first; an item bigger than max_bytes is
 * not cached.  Lookup by id is a keyed hash (crypto/idmap.h).  The ring of
 * entries grows by doubling up to max_items; each entry is one allocation
 * holding its bytes.
 *
 * Ownership: the cache copies the encoding; get returns a pointer valid
 * until the next put or free.
 *
 * Errors: put returns 0, or -ENOMEM (then the item is simply not cached,
 * and getdata for it is answered from the store).
 */
#ifndef RUMOR_NET_ITEMCACHE_H
#define RUMOR_NET_ITEMCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/idmap.h"
#include "crypto/item.h"

struct rumor_itemcache_entry {
	uint8_t id[RUMOR_ID_SIZE];
	uint8_t kind;
	size_t len;
	uint8_t bytes[]; /* len bytes */
};

struct rumor_itemcache {
	struct rumor_itemcache_entry **ring;
	uint32_t head, count, alloc, max_items;
	size_t bytes, max_bytes;
	size_t entry_bytes; /* allocated for entries (headers and encodings) */
	struct rumor_idmap map;
};

/* Returns 0 or -ENOMEM. */
int rumor_itemcache_init(struct rumor_itemcache *c, uint32_t max_items, size_t max_bytes,
			 const uint8_t key[16]);
void rumor_itemcache_free(struct rumor_itemcache *c);
int rumor_itemcache_put(struct rumor_itemcache *c, const struct rumor_item *item);
/* The cached entry of id, or NULL. */
const struct rumor_itemcache_entry *rumor_itemcache_get(const struct rumor_itemcache *c,
							 const uint8_t id[RUMOR_ID_SIZE]);
size_t rumor_itemcache_memory(const struct rumor_itemcache *c);

#endif
