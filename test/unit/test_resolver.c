/*
 * Unit tests for src/resolver.c: lookups on their own threads, answered on
 * a real libuv loop.  A stand-in for getaddrinfo that blocks until the test
 * releases it plays the DNS server that does not answer.  Every test ends
 * with uv_loop_close() finding nothing open and, before it returns, every
 * lookup thread gone (so ASan sees whatever they free).  The stand-in is
 * test/unit/slow_dns.c.
 */
#include "config.h"

#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <uv.h>

#include "src/resolver.h"
#include "test/unit/slow_dns.h"

#define WAIT_MS 5000

static uv_loop_t loop;

/* ---- callbacks ------------------------------------------------------- */

struct answer {
	int calls;
	int status;
	int family;
	int port;
	struct rumor_resolver *close_me; /* closes this resolver from the callback */
};

static int closed_calls;

static void on_closed(void *arg)
{
	(void)arg;
	closed_calls++;
}

static void on_answer(void *arg, int status, struct addrinfo *res)
{
	struct answer *a = arg;
	a->calls++;
	a->status = status;
	if (res) {
		a->family = res->ai_family;
		if (res->ai_family == AF_INET)
			a->port = ntohs(((struct sockaddr_in *)res->ai_addr)->sin_port);
		freeaddrinfo(res);
	}
	if (a->close_me) {
		rumor_resolver_close(a->close_me, on_closed, NULL);
		a->close_me = NULL;
	}
}

static void close_resolver(struct rumor_resolver *r)
{
	closed_calls = 0;
	rumor_resolver_close(r, on_closed, NULL);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(closed_calls, 1);
}

static int setup(void **state)
{
	(void)state;
	slow_dns_reset(0);
	return uv_loop_init(&loop);
}

static int teardown(void **state)
{
	(void)state;
	uv_run(&loop, UV_RUN_NOWAIT);
	int rc = uv_loop_close(&loop);
	if (rc != 0)
		uv_print_all_handles(&loop, stderr);
	assert_int_equal(rc, 0);
	return 0;
}

static const struct addrinfo stream_hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};

/* ---- tests ----------------------------------------------------------- */

/* The system's getaddrinfo, on a name it answers without asking anyone:
 * the loop runs until the answer and then returns by itself. */
static void test_system_lookup(void **state)
{
	(void)state;
	struct rumor_resolver *r;
	assert_int_equal(rumor_resolver_new(&r, &loop, NULL), 0);
	struct answer a = {0};
	struct rumor_lookup *l;
	struct addrinfo hints = stream_hints;
	hints.ai_flags = AI_NUMERICHOST;
	assert_int_equal(rumor_resolver_lookup(r, &l, "127.0.0.1", "8633", &hints, on_answer, &a),
			 0);
	assert_non_null(l);
	uv_run(&loop, UV_RUN_DEFAULT); /* kept alive only while the answer is awaited */
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.family, AF_INET);
	assert_int_equal(a.port, 8633);
	assert_int_equal(rumor_resolver_running(r), 0);

	/* A numeric-only lookup of a name fails with getaddrinfo's code. */
	memset(&a, 0, sizeof(a));
	assert_int_equal(rumor_resolver_lookup(r, &l, "no.such.name", "1", &hints, on_answer, &a),
			 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, EAI_NONAME);
	assert_true(strlen(rumor_lookup_strerror(a.status)) > 0);
	close_resolver(r);
	assert_int_equal(slow_dns_wait_threads_gone(WAIT_MS), 0);
}

static void test_answer_and_error(void **state)
{
	(void)state;
	struct rumor_resolver *r;
	assert_int_equal(rumor_resolver_new(&r, &loop, slow_dns_getaddrinfo), 0);
	struct answer a = {0}, b = {0};
	struct rumor_lookup *la, *lb;
	assert_int_equal(rumor_resolver_lookup(r, &la, "a.test", "9", &stream_hints, on_answer, &a),
			 0);
	assert_int_equal(slow_dns_wait_entered(1, WAIT_MS), 1);
	assert_int_equal(rumor_resolver_running(r), 1);
	slow_dns_release();
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 1);
	assert_int_equal(a.status, 0);
	assert_int_equal(a.port, 9);

	slow_dns_reset(EAI_AGAIN);
	slow_dns_release();
	assert_int_equal(rumor_resolver_lookup(r, &lb, "b.test", "9", &stream_hints, on_answer, &b),
			 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(b.calls, 1);
	assert_int_equal(b.status, EAI_AGAIN);
	close_resolver(r);
	assert_int_equal(slow_dns_wait_threads_gone(WAIT_MS), 0);
}

/* A cancelled lookup neither calls back nor keeps the loop alive while its
 * thread still waits for the lookup. */
static void test_cancel(void **state)
{
	(void)state;
	struct rumor_resolver *r;
	assert_int_equal(rumor_resolver_new(&r, &loop, slow_dns_getaddrinfo), 0);
	struct answer a = {0};
	struct rumor_lookup *l;
	assert_int_equal(rumor_resolver_lookup(r, &l, "slow.test", "9", &stream_hints, on_answer, &a),
			 0);
	assert_int_equal(slow_dns_wait_entered(1, WAIT_MS), 1);
	rumor_lookup_cancel(l);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0); /* returns: nothing awaited */
	assert_int_equal(rumor_resolver_running(r), 1);     /* the thread still waits */
	slow_dns_release();
	assert_int_equal(slow_dns_wait_threads_gone(WAIT_MS), 0);
	assert_int_equal(rumor_resolver_running(r), 0);
	close_resolver(r); /* frees the answer, queued and never delivered */
	assert_int_equal(a.calls, 0);
}

/* Closing with lookups inside a hung getaddrinfo: the handle closes and the
 * loop ends at once; the threads free everything when they come back. */
static void test_close_while_hung(void **state)
{
	(void)state;
	struct rumor_resolver *r;
	assert_int_equal(rumor_resolver_new(&r, &loop, slow_dns_getaddrinfo), 0);
	struct answer a[3] = {{0}};
	for (int i = 0; i < 3; i++) {
		struct rumor_lookup *l;
		assert_int_equal(
			rumor_resolver_lookup(r, &l, "hung.test", "9", &stream_hints, on_answer, &a[i]),
			0);
	}
	assert_int_equal(slow_dns_wait_entered(3, WAIT_MS), 3);
	closed_calls = 0;
	rumor_resolver_close(r, on_closed, NULL);
	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(closed_calls, 1);
	assert_int_equal(rumor_resolver_threads(), 3); /* still inside the lookup */
	assert_int_equal(slow_dns_returned(), 0);
	slow_dns_release();
	assert_int_equal(slow_dns_wait_threads_gone(WAIT_MS), 0);
	for (int i = 0; i < 3; i++)
		assert_int_equal(a[i].calls, 0);
}

/* Answers already queued when a callback closes the resolver are dropped,
 * not delivered. */
static void test_callback_closes(void **state)
{
	(void)state;
	struct rumor_resolver *r;
	assert_int_equal(rumor_resolver_new(&r, &loop, slow_dns_getaddrinfo), 0);
	slow_dns_release();
	struct answer a = {0}, b = {0};
	a.close_me = r;
	b.close_me = r;
	struct rumor_lookup *l;
	assert_int_equal(rumor_resolver_lookup(r, &l, "a.test", "9", &stream_hints, on_answer, &a),
			 0);
	assert_int_equal(rumor_resolver_lookup(r, &l, "b.test", "9", &stream_hints, on_answer, &b),
			 0);
	/* Both answers queued before the loop looks. */
	uint64_t deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000u;
	while (rumor_resolver_running(r) > 0 && uv_hrtime() < deadline)
		uv_sleep(2);
	assert_int_equal(rumor_resolver_running(r), 0);
	closed_calls = 0;
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls + b.calls, 1);
	assert_int_equal(closed_calls, 1);
	assert_int_equal(slow_dns_wait_threads_gone(WAIT_MS), 0);
}

/* At most RUMOR_RESOLVER_LOOKUPS_MAX threads per resolver, cancelled ones
 * included; bad arguments are refused. */
static void test_limits(void **state)
{
	(void)state;
	struct rumor_resolver *r;
	assert_int_equal(rumor_resolver_new(&r, &loop, slow_dns_getaddrinfo), 0);
	struct answer a = {0};
	struct rumor_lookup *l[RUMOR_RESOLVER_LOOKUPS_MAX], *extra;
	for (int i = 0; i < RUMOR_RESOLVER_LOOKUPS_MAX; i++)
		assert_int_equal(
			rumor_resolver_lookup(r, &l[i], "x.test", "9", &stream_hints, on_answer, &a), 0);
	assert_int_equal(slow_dns_wait_entered(RUMOR_RESOLVER_LOOKUPS_MAX, WAIT_MS),
			 RUMOR_RESOLVER_LOOKUPS_MAX);
	for (int i = 0; i < RUMOR_RESOLVER_LOOKUPS_MAX; i++)
		rumor_lookup_cancel(l[i]);
	assert_int_equal(
		rumor_resolver_lookup(r, &extra, "x.test", "9", &stream_hints, on_answer, &a),
		UV_EAGAIN);
	assert_null(extra);

	char long_host[300];
	memset(long_host, 'a', sizeof(long_host) - 1);
	long_host[sizeof(long_host) - 1] = '\0';
	slow_dns_release();
	assert_int_equal(slow_dns_wait_threads_gone(WAIT_MS), 0);
	assert_int_equal(rumor_resolver_lookup(r, &extra, long_host, "9", NULL, on_answer, &a),
			 UV_EINVAL);
	assert_int_equal(rumor_resolver_lookup(r, &extra, "x.test", "123456789", NULL, on_answer, &a),
			 UV_EINVAL);
	assert_int_equal(rumor_resolver_lookup(r, &extra, "x.test", "9", NULL, NULL, NULL),
			 UV_EINVAL);
	/* Room again once the threads are gone.  The loop then also takes the
	 * cancelled lookups' answers, and drops them. */
	assert_int_equal(rumor_resolver_lookup(r, &extra, "x.test", "9", NULL, on_answer, &a), 0);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(a.calls, 1);
	close_resolver(r);
	assert_int_equal(slow_dns_wait_threads_gone(WAIT_MS), 0);
}

int main(void)
{
	slow_dns_init();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_system_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_answer_and_error, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_while_hung, setup, teardown),
		cmocka_unit_test_setup_teardown(test_callback_closes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limits, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
