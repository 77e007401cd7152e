/*
 * test/unit/test_evict.c: net/evict.h with fixed inputs: network groups,
 * each eviction rule at work (and its boundary), the keyed tie-break, and
 * the discouragement table with fake time.
 *
 * Most eviction cases use 20 or more inbound peers with ping unknown and
 * no item delivered, connected 1 ms apart (peer i at (i + 1) ms): then
 * rule 2 protects the oldest of each group, rule 3 the 8 next oldest
 * (equal pings: the older first), rule 6 the older half of the rest, and
 * what each test changes moves the victim away from the youngest.
 */
#include "config.h"

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "net/evict.h"

static const uint8_t KEY[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16};

static void v4(uint8_t out[16], unsigned a, unsigned b, unsigned c, unsigned d)
{
	memset(out, 0, 16);
	out[10] = out[11] = 0xff;
	out[12] = (uint8_t)a;
	out[13] = (uint8_t)b;
	out[14] = (uint8_t)c;
	out[15] = (uint8_t)d;
}

static uint64_t g4(unsigned a, unsigned b)
{
	uint8_t x[16];
	v4(x, a, b, 0, 1);
	return rumor_netgroup(x, 0);
}

static void test_netgroup(void **state)
{
	(void)state;
	uint8_t a[16], b[16];
	char text[48];
	v4(a, 1, 2, 3, 4);
	v4(b, 1, 2, 200, 9);
	assert_true(rumor_netgroup(a, 0) == rumor_netgroup(b, 0)); /* one /16 */
	v4(b, 1, 3, 3, 4);
	assert_true(rumor_netgroup(a, 0) != rumor_netgroup(b, 0));
	rumor_netgroup_format(rumor_netgroup(a, 0), text, sizeof(text));
	assert_string_equal(text, "1.2.0.0/16");

	/* IPv6: the /32 */
	uint8_t x[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1}, y[16] = {0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff};
	y[15] = 2;
	assert_true(rumor_netgroup(x, 0) == rumor_netgroup(y, 0));
	y[3] = 0xb9;
	assert_true(rumor_netgroup(x, 0) != rumor_netgroup(y, 0));
	rumor_netgroup_format(rumor_netgroup(x, 0), text, sizeof(text));
	assert_string_equal(text, "2001:db8::/32");
	/* an IPv6 address whose first 32 bits look like 1.2.x.x is not 1.2/16 */
	uint8_t z[16] = {1, 2, 0, 0};
	assert_true(rumor_netgroup(z, 0) != rumor_netgroup(a, 0));

	/* loopback: one group, unless loopback_groups (127.a/16 each) */
	v4(a, 127, 0, 0, 1);
	v4(b, 127, 5, 0, 1);
	uint8_t one[16] = {0};
	one[15] = 1;
	assert_true(rumor_netgroup(a, 0) == rumor_netgroup(b, 0));
	assert_true(rumor_netgroup(a, 0) == rumor_netgroup(one, 0));
	rumor_netgroup_format(rumor_netgroup(a, 0), text, sizeof(text));
	assert_string_equal(text, "loopback");
	assert_true(rumor_netgroup(a, 1) != rumor_netgroup(b, 1));
	v4(a, 127, 5, 9, 9);
	assert_true(rumor_netgroup(a, 1) == rumor_netgroup(b, 1));
	rumor_netgroup_format(rumor_netgroup(a, 1), text, sizeof(text));
	assert_string_equal(text, "127.5.0.0/16");
	assert_true(rumor_netgroup(one, 1) == rumor_netgroup(one, 0)); /* ::1 stays loopback */
	assert_true(rumor_netgroup(one, 1) != rumor_netgroup(a, 1));
}

/* n inbound peers, peer i connected at (i + 1) ms, group 10.0/16, ping
 * unknown, nothing delivered. */
static void base(struct rumor_evict_candidate *c, size_t n)
{
	memset(c, 0, n * sizeof(*c));
	for (size_t i = 0; i < n; i++) {
		c[i].id = 1000 + i;
		c[i].inbound = 1;
		c[i].netgroup = g4(10, 0);
		c[i].connected_us = (i + 1) * 1000;
		c[i].ping_us = -1;
	}
}

static size_t pick(const struct rumor_evict_candidate *c, size_t n)
{
	size_t v = SIZE_MAX;
	assert_int_equal(rumor_evict_select(c, n, KEY, &v), 0);
	assert_true(v < n);
	return v;
}

static void test_one_group_youngest(void **state)
{
	(void)state;
	struct rumor_evict_candidate c[20];
	base(c, 20);
	/* 0 (group), 1..8 (ping), 9..13 (older half of 9..19) protected */
	assert_int_equal(pick(c, 20), 19);
}

static void test_protection_boundary(void **state)
{
	(void)state;
	struct rumor_evict_candidate c[13];
	size_t v = 99;
	/* 12: one by group, 8 by ping, 3 left, of which 1 (the older half)
	 * protected: 2 left */
	base(c, 12);
	assert_int_equal(pick(c, 12), 11);
	/* 10: 1 + 8 protected, 1 left: half of 1 is 0, so it goes */
	base(c, 10);
	assert_int_equal(pick(c, 10), 9);
	/* 9: everyone protected */
	base(c, 9);
	assert_int_equal(rumor_evict_select(c, 9, KEY, &v), -ENOENT);
	assert_int_equal(v, 99);
	assert_int_equal(rumor_evict_select(c, 0, KEY, &v), -ENOENT);
}

static void test_outbound_manual_never(void **state)
{
	(void)state;
	struct rumor_evict_candidate c[21];
	size_t v;
	base(c, 21);
	/* the youngest is outbound, the next manual: 18 goes */
	c[20].inbound = 0;
	c[19].manual = 1;
	assert_int_equal(pick(c, 21), 18);
	/* all outbound or manual: nobody, even a discouraged one */
	for (size_t i = 0; i < 21; i++) {
		c[i].inbound = i % 2;
		c[i].manual = (int)(i % 2); /* odd: inbound but manual; even: outbound */
		c[i].discouraged = 1;
	}
	assert_int_equal(rumor_evict_select(c, 21, KEY, &v), -ENOENT);
}

static void test_ping(void **state)
{
	(void)state;
	struct rumor_evict_candidate c[20];
	base(c, 20);
	for (size_t i = 0; i < 20; i++)
		c[i].ping_us = 50000;
	c[19].ping_us = 10; /* the fastest is kept: then 1..7 by ping, 8..12 half */
	assert_int_equal(pick(c, 20), 18);
	/* unknown is the worst: the 8 measured ones are kept first */
	base(c, 20);
	for (size_t i = 11; i < 19; i++)
		c[i].ping_us = 1000 + (int64_t)i;
	/* protected: 0, 11..18 (ping), then of 1..10 and 19 the older half
	 * (1..5): left 6..10 and 19 */
	assert_int_equal(pick(c, 20), 19);
	c[19].ping_us = 999; /* now 19 is kept and 18 is not */
	assert_int_equal(pick(c, 20), 18);
}

static void test_tx(void **state)
{
	(void)state;
	struct rumor_evict_candidate c[20];
	base(c, 20);
	/* the 4 most recent transaction deliverers are kept, not the 5th */
	c[19].last_tx_us = 10;
	c[18].last_tx_us = 20;
	c[17].last_tx_us = 30;
	c[16].last_tx_us = 40;
	c[15].last_tx_us = 5;
	/* left after 0, 1..8, 16..19: 9..15, older half 9..11: 12..15 */
	assert_int_equal(pick(c, 20), 15);
	c[15].last_tx_us = 15; /* now 15 beats 19 */
	assert_int_equal(pick(c, 20), 19);
}

static void test_block_separate(void **state)
{
	(void)state;
	struct rumor_evict_candidate c[20];
	base(c, 20);
	c[19].last_block_us = 10;
	c[18].last_block_us = 20;
	c[17].last_block_us = 30;
	c[16].last_block_us = 40;
	c[15].last_block_us = 5;
	assert_int_equal(pick(c, 20), 15);
	/* one transaction deliverer and one block deliverer: both kept */
	base(c, 20);
	c[19].last_tx_us = 7;
	c[18].last_block_us = 7;
	/* left: 9..17, older half 9..12: 13..17 */
	assert_int_equal(pick(c, 20), 17);
}

static void test_biggest_group(void **state)
{
	(void)state;
	struct rumor_evict_candidate c[20];
	base(c, 20);
	/* 0..16 in A, 17..19 in B: kept 0 and 17 (groups), 1..8 (ping), of
	 * 9..16,18,19 the older half 9..13; left A 14..16, B 18, 19: A loses
	 * its youngest, not the youngest overall */
	for (size_t i = 17; i < 20; i++)
		c[i].netgroup = g4(10, 1);
	assert_int_equal(pick(c, 20), 16);
}

static void test_group_tie_youngest_member(void **state)
{
	(void)state;
	struct rumor_evict_candidate c[22];
	/* even: group 2.0 (A), odd: group 1.0 (B); the group of the youngest
	 * member loses, whichever sorts first */
	base(c, 21);
	for (size_t i = 0; i < 21; i++)
		c[i].netgroup = i % 2 ? g4(1, 0) : g4(2, 0);
	/* kept 0, 1, 2..9, 10..14; left B 15,17,19, A 16,18,20 */
	assert_int_equal(pick(c, 21), 20);
	base(c, 22);
	for (size_t i = 0; i < 22; i++)
		c[i].netgroup = i % 2 ? g4(1, 0) : g4(2, 0);
	/* kept 0, 1, 2..9, 10..15; left A 16,18,20, B 17,19,21 */
	assert_int_equal(pick(c, 22), 21);
}

/* The documented key of rule 2: SipHash-2-4 of byte 2 then the group as
 * 8 bytes little-endian. */
static uint64_t group_key(uint64_t g, const uint8_t key[16])
{
	uint8_t in[9], h[crypto_shorthash_BYTES];
	in[0] = 2;
	for (int i = 0; i < 8; i++)
		in[1 + i] = (uint8_t)(g >> (8 * i));
	crypto_shorthash(h, in, sizeof(in), key);
	uint64_t out = 0;
	for (int i = 0; i < 8; i++)
		out |= (uint64_t)h[i] << (8 * i);
	return out;
}

static void test_netgroup_protection_keyed(void **state)
{
	(void)state;
	/* 13 peers, each in a group of its own, all else equal but age:
	 * rules 2 and 3 keep 12 of them, so exactly one goes, and which one
	 * depends on the key: never one of the 4 groups of highest keyed
	 * hash, and without rule 2 it would always be the youngest. */
	struct rumor_evict_candidate c[13];
	base(c, 13);
	for (size_t i = 0; i < 13; i++)
		c[i].netgroup = g4(20, (unsigned)i);
	int victims_seen[13] = {0};
	for (unsigned k = 0; k < 64; k++) {
		uint8_t key[16] = {0};
		key[0] = (uint8_t)k;
		size_t v;
		assert_int_equal(rumor_evict_select(c, 13, key, &v), 0);
		size_t again;
		assert_int_equal(rumor_evict_select(c, 13, key, &again), 0);
		assert_int_equal(v, again); /* same key, same choice */
		victims_seen[v]++;
		/* the victim's group is not among the 4 highest */
		uint64_t kv = group_key(c[v].netgroup, key);
		int higher = 0;
		for (size_t i = 0; i < 13; i++)
			higher += group_key(c[i].netgroup, key) > kv;
		assert_true(higher >= 4);
		/* and it is the youngest peer outside those 4 groups */
		for (size_t i = v + 1; i < 13; i++) {
			int above = 0;
			uint64_t ki = group_key(c[i].netgroup, key);
			for (size_t j = 0; j < 13; j++)
				above += group_key(c[j].netgroup, key) > ki;
			assert_true(above < 4); /* younger than v: protected by rule 2 */
		}
	}
	assert_true(victims_seen[12] > 0 && victims_seen[12] < 64);
}

static void test_keyed_tie_break(void **state)
{
	(void)state;
	/* all connected at once: the order comes from the key alone */
	struct rumor_evict_candidate c[20];
	base(c, 20);
	for (size_t i = 0; i < 20; i++)
		c[i].connected_us = 5000;
	int seen[20] = {0}, distinct = 0;
	for (unsigned k = 0; k < 32; k++) {
		uint8_t key[16] = {0};
		key[5] = (uint8_t)k;
		size_t v, w;
		assert_int_equal(rumor_evict_select(c, 20, key, &v), 0);
		assert_int_equal(rumor_evict_select(c, 20, key, &w), 0);
		assert_int_equal(v, w);
		distinct += seen[v]++ == 0;
	}
	assert_true(distinct > 3);
}

static void test_discouraged_first(void **state)
{
	(void)state;
	struct rumor_evict_candidate c[20];
	base(c, 3);
	size_t v;
	/* three peers: all protected; a discouraged one goes anyway, even
	 * the oldest with the best ping in a group of its own */
	assert_int_equal(rumor_evict_select(c, 3, KEY, &v), -ENOENT);
	c[0].discouraged = 1;
	c[0].ping_us = 1;
	c[0].netgroup = g4(30, 0);
	c[0].last_tx_us = c[0].last_block_us = 9;
	assert_int_equal(pick(c, 3), 0);
	/* two discouraged: the younger */
	base(c, 20);
	c[3].discouraged = c[7].discouraged = 1;
	assert_int_equal(pick(c, 20), 7);
	/* a discouraged outbound peer is still never evicted */
	c[3].inbound = c[7].inbound = 0;
	assert_int_equal(pick(c, 20), 19);
}

static void test_discourage_table(void **state)
{
	(void)state;
	struct rumor_discourage d;
	uint8_t a[16], b[16], x[16];
	assert_int_equal(rumor_discourage_init(&d, 0, 10), -EINVAL);
	assert_int_equal(rumor_discourage_init(&d, 2, 1000), 0);
	v4(a, 1, 2, 3, 4);
	v4(b, 1, 2, 3, 5); /* same group, another address: not discouraged */
	assert_int_equal(rumor_discourage_check(&d, a, 0), 0);
	rumor_discourage_add(&d, a, 100);
	assert_int_equal(rumor_discourage_check(&d, a, 100), 1);
	assert_int_equal(rumor_discourage_check(&d, a, 1099), 1); /* until 1100 */
	assert_int_equal(rumor_discourage_check(&d, a, 1100), 0);
	assert_int_equal(rumor_discourage_check(&d, b, 500), 0);
	assert_int_equal(rumor_discourage_count(&d, 500), 1);
	/* a refresh moves the expiry and takes no second slot */
	rumor_discourage_add(&d, a, 600);
	assert_int_equal(rumor_discourage_check(&d, a, 1599), 1);
	rumor_discourage_add(&d, b, 700);
	assert_int_equal(rumor_discourage_count(&d, 700), 2);
	assert_int_equal(d.dropped_total, 0);
	/* full: the entry added longest ago (a, at 600) makes room */
	v4(x, 9, 9, 9, 9);
	rumor_discourage_add(&d, x, 800);
	assert_int_equal(d.dropped_total, 1);
	assert_int_equal(rumor_discourage_check(&d, a, 800), 0);
	assert_int_equal(rumor_discourage_check(&d, b, 800), 1);
	assert_int_equal(rumor_discourage_check(&d, x, 800), 1);
	/* an expired entry is reused without dropping a live one */
	assert_int_equal(rumor_discourage_count(&d, 1750), 1); /* b expired at 1700 */
	rumor_discourage_add(&d, a, 1750);
	assert_int_equal(d.dropped_total, 1);
	assert_int_equal(rumor_discourage_check(&d, x, 1750), 1);
	assert_int_equal(rumor_discourage_check(&d, a, 1750), 1);
	assert_int_equal(d.added_total, 5);
	rumor_discourage_free(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_netgroup),
		cmocka_unit_test(test_one_group_youngest),
		cmocka_unit_test(test_protection_boundary),
		cmocka_unit_test(test_outbound_manual_never),
		cmocka_unit_test(test_ping),
		cmocka_unit_test(test_tx),
		cmocka_unit_test(test_block_separate),
		cmocka_unit_test(test_biggest_group),
		cmocka_unit_test(test_group_tie_youngest_member),
		cmocka_unit_test(test_netgroup_protection_keyed),
		cmocka_unit_test(test_keyed_tie_break),
		cmocka_unit_test(test_discouraged_first),
		cmocka_unit_test(test_discourage_table),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
