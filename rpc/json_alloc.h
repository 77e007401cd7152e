/*
 * rpc/json_alloc.h: jansson's allocator in rumord, with a per-thread cache
 * of freed small blocks.
 *
 * Each JSON-RPC call of a batch is parsed into about fifteen jansson values
 * (objects, their hash tables, arrays, strings, integers) that are all freed
 * when the request is answered.  A batch of 100 calls frees some 1500 small
 * blocks at once, far more than glibc's per-thread cache keeps (7 per
 * size), so most went back to the shared heap and were taken from it again
 * by the next request, through the arena lock and, at the next large
 * allocation, a consolidation pass over all of them.  The cache keeps freed
 * blocks of up to RUMOR_JSON_ALLOC_SMALL bytes on the freeing thread, in
 * size classes of 16 bytes, up to RUMOR_JSON_ALLOC_CACHE bytes per thread;
 * a block that does not fit goes back to malloc's free().
 *
 * Every block carries a 16-byte header (its size class), so a block may be
 * freed on any thread.  Under AddressSanitizer a cached block is poisoned,
 * so a use after free is still reported.
 *
 * Install it with rumor_json_alloc_install() before the first jansson value
 * is made: a value made before would be freed with the wrong allocator.
 * With it installed, text from json_dumps() must be freed with
 * rumor_json_alloc_free() (or the free function json_get_alloc_funcs()
 * returns), not free(); rpc/ never uses json_dumps() for that reason.
 */
#ifndef RUMOR_RPC_JSON_ALLOC_H
#define RUMOR_RPC_JSON_ALLOC_H

#include <stddef.h>

#define RUMOR_JSON_ALLOC_CLASS 16            /* bytes per size class */
#define RUMOR_JSON_ALLOC_SMALL 1024          /* largest cached block */
#define RUMOR_JSON_ALLOC_CACHE (1024 * 1024) /* cached bytes per thread, at most */

/* Makes jansson allocate through rumor_json_alloc_malloc/free.  Call once,
 * before any jansson value exists. */
void rumor_json_alloc_install(void);

/* The allocator itself (exposed for tests). */
void *rumor_json_alloc_malloc(size_t size);
void rumor_json_alloc_free(void *ptr);

/* Frees the calling thread's cached blocks (a thread's cache is also freed
 * when the thread exits).  Returns the number of bytes released. */
size_t rumor_json_alloc_trim(void);

/* Bytes the calling thread holds in its cache. */
size_t rumor_json_alloc_cached(void);

#endif
