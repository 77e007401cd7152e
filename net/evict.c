/*
 * net/evict.c: see evict.h.  Network groups, the eviction choice and the
 * discouragement table; no I/O, no clock, no random source (the caller
 * passes the time and the tie-break key).
 *
 * The eviction choice works on a copy of the candidates that may be
 * evicted (records with their precomputed keyed hashes); each protection
 * rule takes its best few out of that set, by repeated selection (a rule
 * protects at most 8, so this is O(8 n)), except "half of those left",
 * which sorts.  What is left at the end loses one member.
 */
#include "net/evict.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* ---- network groups ---------------------------------------------------- */

enum {
	GROUP_LOOPBACK = 1,
	GROUP_IPV4 = 2,
	GROUP_IPV6 = 3,
	GROUP_UNSPECIFIED = 4,
};

static uint64_t group(unsigned kind, uint32_t value)
{
	return (uint64_t)kind << 56 | value;
}

uint64_t rumor_netgroup(const uint8_t a[16], int loopback_groups)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	static const uint8_t zero[16];
	if (memcmp(a, mapped, sizeof(mapped)) == 0) {
		if (a[12] == 127 && !loopback_groups)
			return group(GROUP_LOOPBACK, 0);
		return group(GROUP_IPV4, (uint32_t)a[12] << 8 | a[13]);
	}
	if (memcmp(a, zero, 15) == 0)
		return a[15] == 1 ? group(GROUP_LOOPBACK, 0) : group(GROUP_UNSPECIFIED, a[15]);
	return group(GROUP_IPV6,
		     (uint32_t)a[0] << 24 | (uint32_t)a[1] << 16 | (uint32_t)a[2] << 8 | a[3]);
}

void rumor_netgroup_format(uint64_t netgroup, char *out, size_t cap)
{
	uint32_t v = (uint32_t)netgroup;
	switch (netgroup >> 56) {
	case GROUP_LOOPBACK:
		snprintf(out, cap, "loopback");
		return;
	case GROUP_IPV4:
		snprintf(out, cap, "%u.%u.0.0/16", (unsigned)(v >> 8), (unsigned)(v & 0xff));
		return;
	case GROUP_IPV6:
		snprintf(out, cap, "%x:%x::/32", (unsigned)(v >> 16), (unsigned)(v & 0xffff));
		return;
	default:
		snprintf(out, cap, "unspecified");
		return;
	}
}

/* ---- eviction ------------------------------------------------------------ */

struct rec {
	size_t idx;
	const struct rumor_evict_candidate *c;
	uint64_t tie;   /* keyed hash of the id */
	uint64_t gkey;  /* keyed hash of the network group */
};

static uint64_t keyed(uint8_t domain, uint64_t v, const uint8_t key[16])
{
	uint8_t in[9], h[crypto_shorthash_BYTES];
	in[0] = domain;
	for (int i = 0; i < 8; i++)
		in[1 + i] = (uint8_t)(v >> (8 * i));
	crypto_shorthash(h, in, sizeof(in), key);
	uint64_t out = 0;
	for (int i = 0; i < 8; i++)
		out |= (uint64_t)h[i] << (8 * i);
	return out;
}

/* 1 when a is older than b (connected first; equal times: the keyed
 * hash decides). */
static int older(const struct rec *a, const struct rec *b)
{
	if (a->c->connected_us != b->c->connected_us)
		return a->c->connected_us < b->c->connected_us;
	if (a->tie != b->tie)
		return a->tie < b->tie;
	return a->idx < b->idx;
}

static uint64_t ping_of(const struct rec *r)
{
	return r->c->ping_us < 0 ? UINT64_MAX : (uint64_t)r->c->ping_us;
}

/* "a deserves protection more than b", per rule. */
static int better_ping(const struct rec *a, const struct rec *b)
{
	if (ping_of(a) != ping_of(b))
		return ping_of(a) < ping_of(b);
	return older(a, b);
}

static int better_tx(const struct rec *a, const struct rec *b)
{
	if (a->c->last_tx_us != b->c->last_tx_us)
		return a->c->last_tx_us > b->c->last_tx_us;
	return older(a, b);
}

static int better_block(const struct rec *a, const struct rec *b)
{
	if (a->c->last_block_us != b->c->last_block_us)
		return a->c->last_block_us > b->c->last_block_us;
	return older(a, b);
}

static int has_tx(const struct rec *r)
{
	return r->c->last_tx_us != 0;
}

static int has_block(const struct rec *r)
{
	return r->c->last_block_us != 0;
}

/* Takes out of r[0..*n-1] the k best by better() among those eligible
 * (eligible NULL: all). */
static void protect(struct rec *r, size_t *n, size_t k,
		    int (*better)(const struct rec *, const struct rec *),
		    int (*eligible)(const struct rec *))
{
	for (size_t round = 0; round < k && *n; round++) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < *n; i++) {
			if (eligible && !eligible(&r[i]))
				continue;
			if (best == SIZE_MAX || better(&r[i], &r[best]))
				best = i;
		}
		if (best == SIZE_MAX)
			return;
		r[best] = r[--*n];
	}
}

/* Rule 2: one peer from each of the k groups with the highest keyed hash. */
static void protect_netgroups(struct rec *r, size_t *n, size_t k)
{
	uint64_t done[RUMOR_EVICT_PROTECT_NETGROUPS];
	size_t ndone = 0;
	assert(k <= RUMOR_EVICT_PROTECT_NETGROUPS);
	while (ndone < k && *n) {
		size_t best = SIZE_MAX;
		for (size_t i = 0; i < *n; i++) {
			int seen = 0;
			for (size_t j = 0; j < ndone; j++)
				seen |= r[i].c->netgroup == done[j];
			if (seen)
				continue;
			if (best == SIZE_MAX || r[i].gkey > r[best].gkey ||
			    (r[i].gkey == r[best].gkey && r[i].c->netgroup > r[best].c->netgroup) ||
			    (r[i].c->netgroup == r[best].c->netgroup && older(&r[i], &r[best])))
				best = i;
		}
		if (best == SIZE_MAX)
			return;
		done[ndone++] = r[best].c->netgroup;
		r[best] = r[--*n];
	}
}

static int cmp_older(const void *pa, const void *pb)
{
	const struct rec *a = pa, *b = pb;
	return older(a, b) ? -1 : older(b, a) ? 1 : 0;
}

static int cmp_group_then_older(const void *pa, const void *pb)
{
	const struct rec *a = pa, *b = pb;
	if (a->c->netgroup != b->c->netgroup)
		return a->c->netgroup < b->c->netgroup ? -1 : 1;
	return cmp_older(pa, pb);
}

int rumor_evict_select(const struct rumor_evict_candidate *c, size_t n, const uint8_t key[16],
		       size_t *victim)
{
	if (n == 0)
		return -ENOENT;
	struct rec *r = malloc(n * sizeof(*r));
	if (!r)
		return -ENOMEM;
	size_t m = 0;
	int any_discouraged = 0;
	for (size_t i = 0; i < n; i++) {
		if (!c[i].inbound || c[i].manual)
			continue;
		r[m].idx = i;
		r[m].c = &c[i];
		r[m].tie = keyed(1, c[i].id, key);
		r[m].gkey = keyed(2, c[i].netgroup, key);
		any_discouraged |= c[i].discouraged != 0;
		m++;
	}
	int rc = -ENOENT;
	if (any_discouraged) { /* rule 1: the youngest discouraged one */
		size_t pick = SIZE_MAX;
		for (size_t i = 0; i < m; i++)
			if (r[i].c->discouraged && (pick == SIZE_MAX || older(&r[pick], &r[i])))
				pick = i;
		*victim = r[pick].idx;
		free(r);
		return 0;
	}
	protect_netgroups(r, &m, RUMOR_EVICT_PROTECT_NETGROUPS);
	protect(r, &m, RUMOR_EVICT_PROTECT_PING, better_ping, NULL);
	protect(r, &m, RUMOR_EVICT_PROTECT_TX, better_tx, has_tx);
	protect(r, &m, RUMOR_EVICT_PROTECT_BLOCK, better_block, has_block);
	/* rule 6: the older half of those left */
	qsort(r, m, sizeof(*r), cmp_older);
	size_t keep = m / 2;
	memmove(r, r + keep, (m - keep) * sizeof(*r));
	m -= keep;
	if (m) {
		/* rule 7: runs of one group, each oldest first */
		qsort(r, m, sizeof(*r), cmp_group_then_older);
		size_t best_start = 0, best_len = 0;
		for (size_t start = 0; start < m;) {
			size_t end = start + 1;
			while (end < m && r[end].c->netgroup == r[start].c->netgroup)
				end++;
			size_t len = end - start;
			/* r[end - 1]: the group's youngest */
			if (len > best_len ||
			    (len == best_len && older(&r[best_start + best_len - 1], &r[end - 1]))) {
				best_start = start;
				best_len = len;
			}
			start = end;
		}
		*victim = r[best_start + best_len - 1].idx;
		rc = 0;
	}
	free(r);
	return rc;
}

/* ---- discouragement -------------------------------------------------------- */

int rumor_discourage_init(struct rumor_discourage *d, size_t cap, uint64_t duration_us)
{
	memset(d, 0, sizeof(*d));
	if (cap == 0)
		return -EINVAL;
	d->entries = calloc(cap, sizeof(*d->entries));
	if (!d->entries)
		return -ENOMEM;
	d->cap = cap;
	d->duration_us = duration_us;
	return 0;
}

void rumor_discourage_free(struct rumor_discourage *d)
{
	free(d->entries);
	memset(d, 0, sizeof(*d));
}

static int live(const struct rumor_discourage_entry *e, uint64_t now_us)
{
	return e->until_us != 0 && now_us < e->until_us;
}

void rumor_discourage_add(struct rumor_discourage *d, const uint8_t addr[16], uint64_t now_us)
{
	struct rumor_discourage_entry *slot = NULL, *oldest = NULL;
	for (size_t i = 0; i < d->cap; i++) {
		struct rumor_discourage_entry *e = &d->entries[i];
		if (e->until_us != 0 && memcmp(e->addr, addr, 16) == 0) {
			slot = e; /* refresh */
			break;
		}
		if (!slot && !live(e, now_us))
			slot = e;
		if (!oldest || e->added_us < oldest->added_us)
			oldest = e;
	}
	if (!slot) {
		slot = oldest;
		d->dropped_total++;
	}
	memcpy(slot->addr, addr, 16);
	slot->added_us = now_us;
	slot->until_us = now_us + d->duration_us;
	if (slot->until_us == 0) /* 0 means free */
		slot->until_us = 1;
	d->added_total++;
}

int rumor_discourage_check(const struct rumor_discourage *d, const uint8_t addr[16],
			   uint64_t now_us)
{
	for (size_t i = 0; i < d->cap; i++)
		if (live(&d->entries[i], now_us) && memcmp(d->entries[i].addr, addr, 16) == 0)
			return 1;
	return 0;
}

size_t rumor_discourage_count(const struct rumor_discourage *d, uint64_t now_us)
{
	size_t n = 0;
	for (size_t i = 0; i < d->cap; i++)
		n += live(&d->entries[i], now_us) ? 1 : 0;
	return n;
}
