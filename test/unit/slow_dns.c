/* test/unit/slow_dns.c: see slow_dns.h. */
#include "config.h"

#include "test/unit/slow_dns.h"

#include <stdint.h>
#include <uv.h>

#include "src/resolver.h"

static uv_mutex_t mutex;
static uv_cond_t cond;
static int released;
static int entered, returned;
static int fail_status;

void slow_dns_init(void)
{
	uv_mutex_init(&mutex);
	uv_cond_init(&cond);
}

int slow_dns_getaddrinfo(const char *host, const char *port, const struct addrinfo *hints,
			 struct addrinfo **res)
{
	(void)host;
	uv_mutex_lock(&mutex);
	entered++;
	uv_cond_broadcast(&cond);
	while (!released)
		uv_cond_wait(&cond, &mutex);
	int status = fail_status;
	uv_mutex_unlock(&mutex);
	if (status == 0) {
		struct addrinfo h = *hints;
		h.ai_flags |= AI_NUMERICHOST | AI_NUMERICSERV;
		status = getaddrinfo("127.0.0.1", port, &h, res);
	}
	uv_mutex_lock(&mutex);
	returned++;
	uv_mutex_unlock(&mutex);
	return status;
}

void slow_dns_reset(int status)
{
	uv_mutex_lock(&mutex);
	released = 0;
	entered = returned = 0;
	fail_status = status;
	uv_mutex_unlock(&mutex);
}

void slow_dns_release(void)
{
	uv_mutex_lock(&mutex);
	released = 1;
	uv_cond_broadcast(&cond);
	uv_mutex_unlock(&mutex);
}

static int read_locked(const int *v)
{
	uv_mutex_lock(&mutex);
	int n = *v;
	uv_mutex_unlock(&mutex);
	return n;
}

int slow_dns_entered(void)
{
	return read_locked(&entered);
}

int slow_dns_returned(void)
{
	return read_locked(&returned);
}

int slow_dns_wait_entered(int n, unsigned ms)
{
	uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
	uv_mutex_lock(&mutex);
	while (entered < n && uv_hrtime() < deadline)
		uv_cond_timedwait(&cond, &mutex, 10 * 1000000u);
	int n_in = entered;
	uv_mutex_unlock(&mutex);
	return n_in;
}

size_t slow_dns_wait_threads_gone(unsigned ms)
{
	uint64_t deadline = uv_hrtime() + (uint64_t)ms * 1000000u;
	while (rumor_resolver_threads() > 0 && uv_hrtime() < deadline)
		uv_sleep(2);
	return rumor_resolver_threads();
}
