/*
 * net/handles.c: see handles.h.
 *
 * Invariant: an index below `used` is either live (ptr non-NULL, reachable
 * by exactly one current handle) or on the free list (linked through the
 * `ptr` slot as an encoded index, with bit 31 of its generation set);
 * indices at or above `used` were never handed out.
 */
#include "config.h"

#include "net/handles.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

void rumor_handles_init(struct rumor_handles *h, uint32_t max, unsigned index_bits)
{
	memset(h, 0, sizeof(*h));
	h->max = max;
	h->index_bits = index_bits;
	h->free_head = UINT32_MAX;
}

void rumor_handles_free(struct rumor_handles *h)
{
	free(h->ptr);
	free(h->gen);
	h->ptr = NULL;
	h->gen = NULL;
	h->alloc = h->used = h->count = 0;
	h->free_head = UINT32_MAX;
}

static uint64_t make(const struct rumor_handles *h, uint32_t index)
{
	uint64_t gen = h->gen[index];
	if (h->index_bits < 32)
		gen &= (UINT64_C(1) << (32 - h->index_bits)) - 1;
	return (gen << h->index_bits) | index;
}

int rumor_handles_put(struct rumor_handles *h, void *p, uint64_t *handle)
{
	if (h->count >= h->max)
		return -ENOSPC;
	uint32_t index;
	if (h->free_head != UINT32_MAX) {
		index = h->free_head;
		h->free_head = (uint32_t)(uintptr_t)h->ptr[index];
		h->gen[index] &= 0x7fffffffu;
	} else {
		if (h->used == h->alloc) {
			uint32_t n = h->alloc ? h->alloc * 2 : 8;
			if (n > h->max)
				n = h->max;
			void **ptr = realloc(h->ptr, (size_t)n * sizeof(*ptr));
			if (!ptr)
				return -ENOMEM;
			h->ptr = ptr;
			uint32_t *gen = realloc(h->gen, (size_t)n * sizeof(*gen));
			if (!gen)
				return -ENOMEM;
			h->gen = gen;
			h->alloc = n;
		}
		index = h->used++;
		h->gen[index] = 1; /* 0 is never a handle's generation */
	}
	h->ptr[index] = p;
	h->count++;
	*handle = make(h, index);
	return 0;
}

static uint32_t index_of(const struct rumor_handles *h, uint64_t handle, int *ok)
{
	uint64_t mask = h->index_bits >= 64 ? UINT64_MAX : (UINT64_C(1) << h->index_bits) - 1;
	uint32_t index = (uint32_t)(handle & mask);
	*ok = index < h->used && make(h, index) == handle && (h->gen[index] & 0x80000000u) == 0;
	return index;
}

void *rumor_handles_get(const struct rumor_handles *h, uint64_t handle)
{
	int ok;
	uint32_t index = index_of(h, handle, &ok);
	return ok ? h->ptr[index] : NULL;
}

void *rumor_handles_del(struct rumor_handles *h, uint64_t handle)
{
	int ok;
	uint32_t index = index_of(h, handle, &ok);
	if (!ok)
		return NULL;
	void *p = h->ptr[index];
	/* Free: the next generation (never 0 as it shows in a handle),
	 * flagged free (bit 31) until reused. */
	uint32_t gen = h->gen[index] & 0x7fffffffu;
	uint32_t shown = h->index_bits < 32 ? (1u << (32 - h->index_bits)) - 1 : 0x7fffffffu;
	do
		gen = (gen + 1) & 0x7fffffffu;
	while ((gen & shown) == 0);
	h->gen[index] = gen | 0x80000000u;
	h->ptr[index] = (void *)(uintptr_t)h->free_head;
	h->free_head = index;
	h->count--;
	return p;
}

void *rumor_handles_at(const struct rumor_handles *h, uint32_t index, uint64_t *handle)
{
	if (index >= h->used || (h->gen[index] & 0x80000000u))
		return NULL;
	*handle = make(h, index);
	return h->ptr[index];
}

size_t rumor_handles_memory(const struct rumor_handles *h)
{
	return (size_t)h->alloc * (sizeof(void *) + sizeof(uint32_t));
}
