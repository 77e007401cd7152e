/*
 * net/handles.h: a table of pointers named by handles that say when they
 * are stale.
 *
 * A handle is (generation << index_bits) | index, and never 0 (the
 * generation shown in a handle is never 0), so callers may use 0 for
 * "none".  The table grows by
 * doubling up to max entries (nothing is allocated up front); a freed index
 * goes on a free list and its generation moves on, so an old handle for it
 * no longer finds anything (until the generation wraps: 2^(32 - index_bits)
 * reuses for 32-bit handles, 2^32 for 64-bit ones).  Lookup is O(1).
 *
 * Used by the node core for peers (32-bit handles, index_bits 16) and for
 * jobs and store queries (64-bit handles, index_bits 32), so that an answer
 * to a job that is gone, or a made-up one, is recognised and ignored.
 *
 * Errors: put returns 0, -ENOSPC (max entries in use) or -ENOMEM.
 */
#ifndef RUMOR_NET_HANDLES_H
#define RUMOR_NET_HANDLES_H

#include <stddef.h>
#include <stdint.h>

struct rumor_handles {
	void **ptr;
	uint32_t *gen;  /* generation per index; on the free list, next free in ptr */
	uint32_t alloc, used, count, max;
	uint32_t free_head; /* UINT32_MAX: none */
	unsigned index_bits;
};

/* max < 2^index_bits - 1 (the all-ones handle is never given out). */
void rumor_handles_init(struct rumor_handles *h, uint32_t max, unsigned index_bits);
void rumor_handles_free(struct rumor_handles *h);
int rumor_handles_put(struct rumor_handles *h, void *p, uint64_t *handle);
void *rumor_handles_get(const struct rumor_handles *h, uint64_t handle);
/* Returns what the handle named, or NULL. */
void *rumor_handles_del(struct rumor_handles *h, uint64_t handle);
/* For iteration: the live entry at index (< h->used), its handle in
 * *handle; NULL when that index is free. */
void *rumor_handles_at(const struct rumor_handles *h, uint32_t index, uint64_t *handle);
size_t rumor_handles_memory(const struct rumor_handles *h);

#endif
