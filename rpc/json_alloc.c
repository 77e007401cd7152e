/*
 * rpc/json_alloc.c: see json_alloc.h.
 *
 * A block is a header followed by the caller's bytes.  The header holds the
 * block's size class (0: larger than RUMOR_JSON_ALLOC_SMALL, never cached)
 * with CACHED_FLAG set while the block sits in a cache, and the link of the
 * cache's list.  The caller's bytes of a cached block are poisoned under
 * AddressSanitizer; the header stays readable, which is how a second free
 * of a cached block is caught.
 */
#include "rpc/json_alloc.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#if defined(__SANITIZE_ADDRESS__)
#define RUMOR_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RUMOR_ASAN 1
#endif
#endif
#ifdef RUMOR_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

#define HDR_SIZE 16 /* keeps malloc's 16-byte alignment for the caller */
#define CLASSES (RUMOR_JSON_ALLOC_SMALL / RUMOR_JSON_ALLOC_CLASS)
#define CACHED_FLAG ((size_t)1 << (sizeof(size_t) * 8 - 1))

struct hdr {
	size_t cls; /* 1..CLASSES, 0 for a large block; | CACHED_FLAG in a cache */
	struct hdr *next;
};
_Static_assert(sizeof(struct hdr) <= HDR_SIZE, "the header fits its room");

struct cache {
	struct hdr *head[CLASSES + 1];
	size_t bytes;
	int registered; /* the thread-exit destructor knows this cache */
};

static __thread struct cache tcache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void *user_of(struct hdr *h)
{
	return (char *)h + HDR_SIZE;
}

static size_t drain(struct cache *c)
{
	size_t released = c->bytes;
	for (size_t cls = 1; cls <= CLASSES; cls++) {
		struct hdr *h = c->head[cls];
		while (h) {
			struct hdr *next = h->next;
			free(h);
			h = next;
		}
		c->head[cls] = NULL;
	}
	c->bytes = 0;
	return released;
}

static void on_thread_exit(void *arg)
{
	struct cache *c = arg;
	drain(c);
	c->registered = 0;
}

static void make_key(void)
{
	if (pthread_key_create(&cache_key, on_thread_exit) != 0)
		abort();
}

void *rumor_json_alloc_malloc(size_t size)
{
	size_t cls = 0;
	size_t bytes = size;
	if (size <= RUMOR_JSON_ALLOC_SMALL) {
		cls = size == 0 ? 1 : (size + RUMOR_JSON_ALLOC_CLASS - 1) / RUMOR_JSON_ALLOC_CLASS;
		bytes = cls * RUMOR_JSON_ALLOC_CLASS;
		struct hdr *h = tcache.head[cls];
		if (h) {
			tcache.head[cls] = h->next;
			tcache.bytes -= bytes;
			h->cls = cls;
			h->next = NULL;
			UNPOISON(user_of(h), bytes);
			return user_of(h);
		}
	} else if (size > SIZE_MAX - HDR_SIZE) {
		return NULL;
	}
	struct hdr *h = malloc(HDR_SIZE + bytes);
	if (!h)
		return NULL;
	h->cls = cls;
	h->next = NULL;
	return user_of(h);
}

void rumor_json_alloc_free(void *ptr)
{
	if (!ptr)
		return;
	struct hdr *h = (struct hdr *)((char *)ptr - HDR_SIZE);
	if (h->cls & CACHED_FLAG) {
		fprintf(stderr, "rumor_json_alloc_free: block %p freed twice\n", ptr);
		abort();
	}
	size_t cls = h->cls;
	size_t bytes = cls * RUMOR_JSON_ALLOC_CLASS;
	if (cls == 0 || cls > CLASSES || tcache.bytes + bytes > RUMOR_JSON_ALLOC_CACHE) {
		free(h);
		return;
	}
	if (!tcache.registered) {
		if (pthread_once(&cache_once, make_key) != 0 ||
		    pthread_setspecific(cache_key, &tcache) != 0) {
			free(h);
			return;
		}
		tcache.registered = 1;
	}
	h->cls = cls | CACHED_FLAG;
	h->next = tcache.head[cls];
	tcache.head[cls] = h;
	tcache.bytes += bytes;
	POISON(ptr, bytes);
}

void rumor_json_alloc_install(void)
{
	json_set_alloc_funcs(rumor_json_alloc_malloc, rumor_json_alloc_free);
}

size_t rumor_json_alloc_trim(void)
{
	return drain(&tcache);
}

size_t rumor_json_alloc_cached(void)
{
	return tcache.bytes;
}
