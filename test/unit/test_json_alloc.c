/*
 * test/unit/test_json_alloc.c: rpc/json_alloc.c.  Blocks of every size are
 * usable and aligned; a freed small block is cached on its thread and handed
 * out again for its size class; the cache never holds more than its cap; a
 * thread's cache is freed when the thread exits (LeakSanitizer reports the
 * blocks otherwise); jansson allocates through it once installed; a second
 * free of a cached block stops the process.
 */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>

#include "rpc/json_alloc.h"

static int setup(void **state)
{
	(void)state;
	rumor_json_alloc_trim();
	return 0;
}

static void test_sizes_usable_and_aligned(void **state)
{
	(void)state;
	static const size_t sizes[] = {0,    1,    15,   16,   17,      100,     511,
				       1023, 1024, 1025, 4096, 1 << 20, 4 << 20};
	for (size_t round = 0; round < 2; round++) { /* the second from the cache */
		void *blocks[sizeof(sizes) / sizeof(sizes[0])];
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			blocks[i] = rumor_json_alloc_malloc(sizes[i]);
			assert_non_null(blocks[i]);
			assert_int_equal((uintptr_t)blocks[i] % 16, 0);
			memset(blocks[i], (int)i + 1, sizes[i]);
		}
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			const unsigned char *b = blocks[i];
			for (size_t k = 0; k < sizes[i]; k++)
				assert_int_equal(b[k], (unsigned char)(i + 1));
		}
		for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
			rumor_json_alloc_free(blocks[i]);
	}
	rumor_json_alloc_free(NULL);
	assert_null(rumor_json_alloc_malloc(SIZE_MAX - 8));
}

static void test_cache_reuses_its_class(void **state)
{
	(void)state;
	assert_int_equal(rumor_json_alloc_cached(), 0);
	void *a = rumor_json_alloc_malloc(40); /* class of 48 bytes */
	rumor_json_alloc_free(a);
	assert_int_equal(rumor_json_alloc_cached(), 48);
	void *b = rumor_json_alloc_malloc(33); /* same class: the same block */
	assert_ptr_equal(a, b);
	assert_int_equal(rumor_json_alloc_cached(), 0);
	void *c = rumor_json_alloc_malloc(48);
	assert_ptr_not_equal(c, b); /* the cache is empty again */
	rumor_json_alloc_free(b);
	rumor_json_alloc_free(c);
	assert_int_equal(rumor_json_alloc_cached(), 96);

	/* A large block is never cached. */
	void *big = rumor_json_alloc_malloc(RUMOR_JSON_ALLOC_SMALL + 1);
	rumor_json_alloc_free(big);
	assert_int_equal(rumor_json_alloc_cached(), 96);
	assert_int_equal(rumor_json_alloc_trim(), 96);
	assert_int_equal(rumor_json_alloc_cached(), 0);
}

static void test_cache_is_capped(void **state)
{
	(void)state;
	size_t n = 2 * RUMOR_JSON_ALLOC_CACHE / RUMOR_JSON_ALLOC_SMALL;
	void **blocks = calloc(n, sizeof(*blocks));
	assert_non_null(blocks);
	for (size_t i = 0; i < n; i++)
		assert_non_null(blocks[i] = rumor_json_alloc_malloc(RUMOR_JSON_ALLOC_SMALL));
	for (size_t i = 0; i < n; i++) {
		rumor_json_alloc_free(blocks[i]);
		assert_true(rumor_json_alloc_cached() <= RUMOR_JSON_ALLOC_CACHE);
	}
	assert_int_equal(rumor_json_alloc_cached(), RUMOR_JSON_ALLOC_CACHE);
	free(blocks);
	rumor_json_alloc_trim();
}

struct thread_arg {
	void *blocks[64];
	size_t cached_before_exit;
};

/* Frees blocks made on the main thread, so they end in this thread's cache,
 * and exits without trimming: the thread-exit destructor must free them. */
static void *thread_main(void *p)
{
	struct thread_arg *arg = p;
	for (size_t i = 0; i < 64; i++)
		rumor_json_alloc_free(arg->blocks[i]);
	arg->cached_before_exit = rumor_json_alloc_cached();
	return NULL;
}

static void test_thread_exit_frees_its_cache(void **state)
{
	(void)state;
	struct thread_arg arg;
	for (size_t i = 0; i < 64; i++)
		assert_non_null(arg.blocks[i] = rumor_json_alloc_malloc(100));
	pthread_t t;
	assert_int_equal(pthread_create(&t, NULL, thread_main, &arg), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(arg.cached_before_exit, 64 * 112);
	assert_int_equal(rumor_json_alloc_cached(), 0); /* not this thread's */
}

static void test_jansson_goes_through_it(void **state)
{
	(void)state;
	json_error_t error;
	json_t *v = json_loads("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getinfo\","
			       "\"params\":[\"abc\",2,true,null]},{\"k\":[1,2,3]}]",
			       0, &error);
	assert_non_null(v);
	size_t parsed = rumor_json_alloc_cached(); /* the parser's own scratch */
	json_decref(v);
	size_t cached = rumor_json_alloc_cached();
	assert_true(cached > parsed);

	/* The same shape again is built from the cache. */
	v = json_loads("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getinfo\","
		       "\"params\":[\"abc\",2,true,null]},{\"k\":[1,2,3]}]",
		       0, &error);
	assert_non_null(v);
	assert_true(rumor_json_alloc_cached() < cached);
	char *text = json_dumps(v, JSON_COMPACT);
	assert_non_null(text);
	assert_string_equal(text, "[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"getinfo\","
				  "\"params\":[\"abc\",2,true,null]},{\"k\":[1,2,3]}]");
	rumor_json_alloc_free(text); /* json_dumps' text is jansson's memory */
	json_decref(v);
	rumor_json_alloc_trim();
}

static void test_double_free_stops_the_process(void **state)
{
	(void)state;
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The child's report on stderr is expected; keep the log clean. */
		if (!freopen("/dev/null", "w", stderr))
			_exit(3);
		void *a = rumor_json_alloc_malloc(20);
		rumor_json_alloc_free(a);
		rumor_json_alloc_free(a);
		_exit(0); /* not reached when the second free is caught */
	}
	int status = 0;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGABRT);
}

int main(void)
{
	rumor_json_alloc_install();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_sizes_usable_and_aligned, setup),
		cmocka_unit_test_setup(test_cache_reuses_its_class, setup),
		cmocka_unit_test_setup(test_cache_is_capped, setup),
		cmocka_unit_test_setup(test_thread_exit_frees_its_cache, setup),
		cmocka_unit_test_setup(test_jansson_goes_through_it, setup),
		cmocka_unit_test_setup(test_double_free_stops_the_process, setup),
	};
	int failed = cmocka_run_group_tests(tests, NULL, NULL);
	rumor_json_alloc_trim();
	return failed;
}
