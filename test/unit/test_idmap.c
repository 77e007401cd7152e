/* Unit tests for crypto/idmap.c: the keyed-hash id map. */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/idmap.h"

static const uint8_t key[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void make_id(uint8_t id[32], uint32_t n)
{
	memset(id, 0, 32);
	memcpy(id, &n, sizeof(n));
	id[31] = 0xa5;
}

static void test_put_get_del(void **state)
{
	(void)state;
	struct rumor_idmap map;
	assert_int_equal(rumor_idmap_init(&map, 100000, key), 0);
	static int values[5000];
	uint8_t id[32];
	for (uint32_t i = 0; i < 5000; i++) {
		make_id(id, i);
		assert_int_equal(rumor_idmap_put(&map, id, &values[i]), 0);
	}
	assert_int_equal(map.count, 5000);
	for (uint32_t i = 0; i < 5000; i++) {
		make_id(id, i);
		assert_ptr_equal(rumor_idmap_get(&map, id), &values[i]);
	}
	make_id(id, 7);
	assert_int_equal(rumor_idmap_put(&map, id, &values[0]), -EEXIST);
	make_id(id, 999999);
	assert_null(rumor_idmap_get(&map, id));
	assert_null(rumor_idmap_del(&map, id));
	/* Delete every other entry: the rest must stay reachable (backward shift). */
	for (uint32_t i = 0; i < 5000; i += 2) {
		make_id(id, i);
		assert_ptr_equal(rumor_idmap_del(&map, id), &values[i]);
	}
	assert_int_equal(map.count, 2500);
	for (uint32_t i = 0; i < 5000; i++) {
		make_id(id, i);
		if (i % 2)
			assert_ptr_equal(rumor_idmap_get(&map, id), &values[i]);
		else
			assert_null(rumor_idmap_get(&map, id));
	}
	rumor_idmap_free(&map);
}

static void test_limit(void **state)
{
	(void)state;
	struct rumor_idmap map;
	assert_int_equal(rumor_idmap_init(&map, 3, key), 0);
	int v = 1;
	uint8_t id[32];
	for (uint32_t i = 0; i < 3; i++) {
		make_id(id, i);
		assert_int_equal(rumor_idmap_put(&map, id, &v), 0);
	}
	make_id(id, 3);
	assert_int_equal(rumor_idmap_put(&map, id, &v), -ENOSPC);
	make_id(id, 0);
	assert_ptr_equal(rumor_idmap_del(&map, id), &v);
	make_id(id, 3);
	assert_int_equal(rumor_idmap_put(&map, id, &v), 0);
	rumor_idmap_free(&map);
}

/* Churn: random inserts and deletes checked against a plain array. */
static void test_churn_matches_model(void **state)
{
	(void)state;
	struct rumor_idmap map;
	assert_int_equal(rumor_idmap_init(&map, 1 << 20, key), 0);
	enum { N = 2048 };
	static int present[N];
	static int values[N];
	memset(present, 0, sizeof(present));
	uint32_t x = 12345;
	uint8_t id[32];
	for (int step = 0; step < 200000; step++) {
		x = x * 1103515245u + 12345u;
		uint32_t k = (x >> 8) % N;
		make_id(id, k);
		if (present[k]) {
			assert_ptr_equal(rumor_idmap_del(&map, id), &values[k]);
			present[k] = 0;
		} else {
			assert_int_equal(rumor_idmap_put(&map, id, &values[k]), 0);
			present[k] = 1;
		}
	}
	size_t count = 0;
	for (uint32_t k = 0; k < N; k++) {
		make_id(id, k);
		count += (size_t)present[k];
		assert_ptr_equal(rumor_idmap_get(&map, id), present[k] ? &values[k] : NULL);
	}
	assert_int_equal(map.count, count);
	rumor_idmap_free(&map);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_get_del),
		cmocka_unit_test(test_limit),
		cmocka_unit_test(test_churn_matches_model),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
