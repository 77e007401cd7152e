/*
 * src/resolver.c: see resolver.h.
 *
 *   loop thread                               lookup thread (detached)
 *   -----------                               ------------------------
 *   lookup(): running++, refs++, thread -->   getaddrinfo (may take long)
 *                                             lock: running--; if closed,
 *                                             free the lookup, else append
 *   async_cb(): cb, or drop if cancelled <--  it to done + uv_async_send;
 *                                             unlock; refs-- (free at 0)
 *   close(): lock: closed = 1, drop done list; uv_close(async)
 *   on_async_closed(): refs-- (the loop's own reference)
 *
 * Invariants:
 *  - running, refs, closed and the done list are touched only under mutex;
 *    cancelled, closing and outstanding only on the loop thread;
 *  - a lookup belongs to its thread until the thread appends it to the done
 *    list (or frees it, once closed); after that to the loop thread, which
 *    runs its callback (unless cancelled) and frees it;
 *  - the resolver is freed by whoever drops refs to 0: the loop thread once
 *    its handle is closed, or the last lookup thread to finish after that;
 *  - the async handle is referenced exactly while outstanding > 0, so a
 *    resolver with no answer awaited, or only cancelled lookups still
 *    running, does not keep the loop alive.
 */
#include "config.h"

#include "src/resolver.h"

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define HOST_MAX 256 /* with the NUL */
#define PORT_MAX 8

struct rumor_lookup {
	struct rumor_resolver *r;
	struct rumor_lookup *next; /* in the done list */
	char host[HOST_MAX];
	char port[PORT_MAX];
	struct addrinfo hints;
	rumor_lookup_cb cb;
	void *arg;
	int cancelled;
	int status;
	struct addrinfo *res;
};

struct rumor_resolver {
	rumor_getaddrinfo_fn lookup;
	uv_async_t async;
	uv_mutex_t mutex;
	size_t running;
	unsigned refs;
	int closed;
	struct rumor_lookup *done_head, *done_tail;
	/* loop thread only */
	size_t outstanding;
	int closing;
	void (*on_closed)(void *arg);
	void *on_closed_arg;
};

/* Lookup threads alive in the process, for rumor_resolver_threads(). */
static size_t threads_alive;

static void resolver_free(struct rumor_resolver *r)
{
	uv_mutex_destroy(&r->mutex);
	free(r);
}

/* Drops one reference; frees the resolver at the last.  Called without the
 * mutex. */
static void resolver_unref(struct rumor_resolver *r)
{
	uv_mutex_lock(&r->mutex);
	int last = --r->refs == 0;
	uv_mutex_unlock(&r->mutex);
	if (last)
		resolver_free(r);
}

static void free_lookup(struct rumor_lookup *l)
{
	if (l->res)
		freeaddrinfo(l->res);
	free(l);
}

static void outstanding_done(struct rumor_resolver *r)
{
	if (--r->outstanding == 0 && !r->closing)
		uv_unref((uv_handle_t *)&r->async);
}

static void *lookup_main(void *arg)
{
	struct rumor_lookup *l = arg;
	struct rumor_resolver *r = l->r;
	struct addrinfo *res = NULL;
	int status = r->lookup(l->host, l->port, &l->hints, &res);
	if (status != 0)
		res = NULL; /* undefined after a failure */

	uv_mutex_lock(&r->mutex);
	r->running--;
	if (r->closed) {
		l->res = res;
		free_lookup(l);
	} else {
		l->status = status;
		l->res = res;
		l->next = NULL;
		if (r->done_tail)
			r->done_tail->next = l;
		else
			r->done_head = l;
		r->done_tail = l;
		uv_async_send(&r->async);
	}
	uv_mutex_unlock(&r->mutex);
	resolver_unref(r);
	__atomic_sub_fetch(&threads_alive, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Detaches the answers that came back; with close, marks the resolver
 * closed in the same critical section (no thread appends after that). */
static struct rumor_lookup *take_done(struct rumor_resolver *r, int close)
{
	uv_mutex_lock(&r->mutex);
	struct rumor_lookup *list = r->done_head;
	r->done_head = r->done_tail = NULL;
	if (close)
		r->closed = 1;
	uv_mutex_unlock(&r->mutex);
	return list;
}

static void async_cb(uv_async_t *handle)
{
	struct rumor_resolver *r = handle->data;
	struct rumor_lookup *list = take_done(r, 0);
	while (list) {
		struct rumor_lookup *l = list;
		list = l->next;
		/* A callback may close the resolver: the rest are then dropped. */
		if (l->cancelled || r->closing) {
			free_lookup(l);
			continue;
		}
		struct addrinfo *res = l->res;
		l->res = NULL;
		outstanding_done(r);
		l->cb(l->arg, l->status, res);
		free(l);
	}
}

int rumor_resolver_new(struct rumor_resolver **out, uv_loop_t *loop, rumor_getaddrinfo_fn lookup)
{
	*out = NULL;
	struct rumor_resolver *r = calloc(1, sizeof(*r));
	if (!r)
		return UV_ENOMEM;
	int rc = uv_mutex_init(&r->mutex);
	if (rc < 0) {
		free(r);
		return rc;
	}
	if ((rc = uv_async_init(loop, &r->async, async_cb)) < 0) {
		resolver_free(r);
		return rc;
	}
	r->async.data = r;
	uv_unref((uv_handle_t *)&r->async);
	r->lookup = lookup ? lookup : getaddrinfo;
	r->refs = 1;
	*out = r;
	return 0;
}

int rumor_resolver_lookup(struct rumor_resolver *r, struct rumor_lookup **out, const char *host,
			  const char *port, const struct addrinfo *hints, rumor_lookup_cb cb,
			  void *arg)
{
	*out = NULL;
	if (r->closing || !cb || strlen(host) >= HOST_MAX || strlen(port) >= PORT_MAX)
		return UV_EINVAL;
	struct rumor_lookup *l = calloc(1, sizeof(*l));
	if (!l)
		return UV_ENOMEM;
	l->r = r;
	memcpy(l->host, host, strlen(host) + 1);
	memcpy(l->port, port, strlen(port) + 1);
	if (hints) {
		l->hints.ai_flags = hints->ai_flags;
		l->hints.ai_family = hints->ai_family;
		l->hints.ai_socktype = hints->ai_socktype;
		l->hints.ai_protocol = hints->ai_protocol;
	} else {
		l->hints.ai_family = AF_UNSPEC;
	}
	l->cb = cb;
	l->arg = arg;

	uv_mutex_lock(&r->mutex);
	if (r->running >= RUMOR_RESOLVER_LOOKUPS_MAX) {
		uv_mutex_unlock(&r->mutex);
		free(l);
		return UV_EAGAIN;
	}
	r->running++;
	r->refs++;
	uv_mutex_unlock(&r->mutex);

	/* The thread takes no signals (they are the loop's business) and is
	 * never joined. */
	pthread_attr_t attr;
	pthread_t thread;
	sigset_t all, old;
	__atomic_add_fetch(&threads_alive, 1, __ATOMIC_RELAXED);
	int rc = pthread_attr_init(&attr);
	if (rc == 0) {
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		sigfillset(&all);
		pthread_sigmask(SIG_SETMASK, &all, &old);
		rc = pthread_create(&thread, &attr, lookup_main, l);
		pthread_sigmask(SIG_SETMASK, &old, NULL);
		pthread_attr_destroy(&attr);
	}
	if (rc != 0) {
		__atomic_sub_fetch(&threads_alive, 1, __ATOMIC_RELAXED);
		uv_mutex_lock(&r->mutex);
		r->running--;
		r->refs--; /* the loop's own reference remains */
		uv_mutex_unlock(&r->mutex);
		free(l);
		return uv_translate_sys_error(rc);
	}
	if (r->outstanding++ == 0)
		uv_ref((uv_handle_t *)&r->async);
	*out = l;
	return 0;
}

void rumor_lookup_cancel(struct rumor_lookup *lookup)
{
	if (lookup->cancelled)
		return;
	lookup->cancelled = 1;
	outstanding_done(lookup->r);
}

size_t rumor_resolver_running(struct rumor_resolver *r)
{
	uv_mutex_lock(&r->mutex);
	size_t n = r->running;
	uv_mutex_unlock(&r->mutex);
	return n;
}

static void on_async_closed(uv_handle_t *handle)
{
	struct rumor_resolver *r = handle->data;
	void (*done)(void *) = r->on_closed;
	void *arg = r->on_closed_arg;
	resolver_unref(r);
	if (done)
		done(arg);
}

void rumor_resolver_close(struct rumor_resolver *r, void (*done)(void *arg), void *arg)
{
	r->closing = 1;
	r->on_closed = done;
	r->on_closed_arg = arg;
	struct rumor_lookup *list = take_done(r, 1);
	while (list) {
		struct rumor_lookup *l = list;
		list = l->next;
		free_lookup(l);
	}
	uv_close((uv_handle_t *)&r->async, on_async_closed);
}

size_t rumor_resolver_threads(void)
{
	return __atomic_load_n(&threads_alive, __ATOMIC_ACQUIRE);
}

const char *rumor_lookup_strerror(int status)
{
	return gai_strerror(status);
}
