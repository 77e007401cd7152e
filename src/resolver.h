/*
 * src/resolver.h: host name lookups (getaddrinfo) on threads of their own,
 * answered on the loop thread, that never hold up shutdown.
 *
 * Why not uv_getaddrinfo: it runs on libuv's thread pool, and a lookup that
 * hangs (a DNS server that does not answer: glibc waits `timeout` seconds
 * per server and attempt, 5 s x 2 by default, 30 s and more with other
 * resolv.conf options) cannot be cancelled once it runs.  Its request keeps
 * uv_run from returning, and libuv's exit-time destructor joins the pool's
 * threads, so even exit() waits for it: rumord's shutdown took as long as
 * the lookup (measured: 28 s with a silent DNS server).  Here each lookup
 * runs on a detached thread of its own; cancelling it, or closing the
 * resolver, only means that its answer is dropped when it comes.  The loop
 * and the process may end at once: a thread still inside getaddrinfo then
 * ends with the process.
 *
 * Limits: at most RUMOR_RESOLVER_LOOKUPS_MAX lookups per resolver at once,
 * counting cancelled ones whose thread still runs (the caller, the peer
 * manager, runs one per dial target at a time).  Past it, a lookup is
 * refused with UV_EAGAIN.
 *
 * Threads: every function here is called on the loop thread, and every
 * callback runs there.
 */
#ifndef RUMOR_SRC_RESOLVER_H
#define RUMOR_SRC_RESOLVER_H

#include <netdb.h>
#include <stddef.h>
#include <uv.h>

#define RUMOR_RESOLVER_LOOKUPS_MAX 64

struct rumor_resolver;
struct rumor_lookup;

/* A lookup's answer: status 0 and res (the caller frees it with
 * freeaddrinfo), or a getaddrinfo error code (EAI_*; rumor_lookup_strerror
 * says it in words) and res NULL. */
typedef void (*rumor_lookup_cb)(void *arg, int status, struct addrinfo *res);

/* The function that does the lookup: getaddrinfo, or a stand-in (tests). */
typedef int (*rumor_getaddrinfo_fn)(const char *host, const char *port,
				    const struct addrinfo *hints, struct addrinfo **res);

/* lookup: NULL for getaddrinfo.  Returns 0, or a negative libuv error. */
int rumor_resolver_new(struct rumor_resolver **out, uv_loop_t *loop, rumor_getaddrinfo_fn lookup);

/* Starts looking up host and port (a decimal string) on a thread of its
 * own; cb runs later on the loop thread, unless the lookup is cancelled or
 * the resolver closed first.  *out identifies the lookup until cb runs or
 * it is cancelled.  Returns 0, UV_EAGAIN at the limit, UV_ENOMEM,
 * UV_EINVAL for a host or port that is too long, or the error of thread
 * creation. */
int rumor_resolver_lookup(struct rumor_resolver *r, struct rumor_lookup **out, const char *host,
			  const char *port, const struct addrinfo *hints, rumor_lookup_cb cb,
			  void *arg);

/* Its callback will not run; its thread, if it still runs, frees what it
 * holds when getaddrinfo returns. */
void rumor_lookup_cancel(struct rumor_lookup *lookup);

/* Lookups started and not yet answered, cancelled or abandoned ones whose
 * thread still runs included. */
size_t rumor_resolver_running(struct rumor_resolver *r);

/* Cancels every lookup and closes the resolver's loop handle; done (if not
 * NULL) runs on the loop thread once the handle is closed.  Threads still
 * inside getaddrinfo are left to finish on their own (see the top). */
void rumor_resolver_close(struct rumor_resolver *r, void (*done)(void *arg), void *arg);

/* Lookup threads alive in this process, all resolvers together: those
 * still inside the lookup and those finishing after it (tests wait for 0
 * before they end). */
size_t rumor_resolver_threads(void);

/* The words for a getaddrinfo error code. */
const char *rumor_lookup_strerror(int status);

#endif
