/*
 * test/unit/slow_dns.h: a stand-in for getaddrinfo (rumor_getaddrinfo_fn)
 * that blocks until the test releases it, playing a DNS server that does
 * not answer; then it fails with the status set by slow_dns_reset, or
 * answers 127.0.0.1 and the port asked for.  Used by the resolver and peer
 * manager tests.
 */
#ifndef RUMOR_TEST_SLOW_DNS_H
#define RUMOR_TEST_SLOW_DNS_H

#include <netdb.h>

/* Call once before any other function here. */
void slow_dns_init(void);
/* Blocks again; status: 0 to answer, or an EAI_* code to fail with. */
void slow_dns_reset(int status);
void slow_dns_release(void);
/* Lookups that entered / returned since the last reset. */
int slow_dns_entered(void);
int slow_dns_returned(void);
/* Waits until n lookups are inside (at most ms); returns how many are. */
int slow_dns_wait_entered(int n, unsigned ms);
/* Waits until no lookup thread of the process runs (rumor_resolver_threads,
 * at most ms); returns how many still run. */
size_t slow_dns_wait_threads_gone(unsigned ms);

int slow_dns_getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
			 struct addrinfo **res);

#endif
