/*
 * net/evict.h: inbound slot policy (sans-IO): network groups, the choice
 * of the inbound peer to evict when the slots are full, and a bounded
 * table of discouraged addresses.
 *
 * Network group (rumor_netgroup): the part of an address one party can
 * be expected to hold many of.  IPv4: its /16; IPv6: its /32; an
 * IPv4-mapped IPv6 address (::ffff:a.b.c.d) is the IPv4 address.  The
 * loopback addresses (127.0.0.0/8 and ::1) are one group, unless
 * loopback_groups is set (rumord's test-only --loopbacknetgroups): then
 * 127.a.0.0/16 is a group of its own for each a, so tests can play many
 * groups from one machine.  The unspecified address is its own group.
 *
 * Eviction (rumor_evict_select), after Bitcoin Core's rules (its
 * SelectNodeToEvict), over the READY peers the caller passes:
 *   0. outbound and manual peers are never candidates;
 *   1. a discouraged candidate is never protected: when there are any,
 *      the youngest of them is the one evicted (Bitcoin Core prefers them
 *      only among the peers left after protection; the issue asks that a
 *      discouraged peer's reconnection be the first one evicted);
 *   2. protected, one peer (the longest connected) from each of the 4
 *      network groups whose keyed hash is highest: the attacker cannot
 *      know which groups these are;
 *   3. protected, the 8 with the lowest ping round trip (unknown: worst);
 *   4. protected, the 4 that most recently delivered a new transaction
 *      (only peers that ever did);
 *   5. protected, the 4 that most recently delivered a new block (same);
 *   6. protected, half of those left, the longest connected;
 *   7. of those left (none: no eviction, the newcomer is refused), the
 *      network group with the most candidates (a tie: the group with the
 *      most recently connected member) loses its most recently connected
 *      member.
 * The keyed hash of rule 2 is SipHash-2-4 (libsodium crypto_shorthash)
 * under the caller's key of the byte 2 followed by the group as 8 bytes
 * little-endian (byte 1 and the candidate's id for the tie-break).
 * Every ordering is total: equal values are ordered by connected_us
 * (older first) and then by SipHash-2-4 of the candidate's id under the
 * caller's key, so the same inputs and key always give the same choice
 * and a remote party cannot predict a tie.
 *
 * Discouragement (struct rumor_discourage): address -> expiry, at most
 * cap entries (a fixed array, allocated at init); adding to a full table
 * replaces an expired entry, else the one added longest ago.  Time is
 * passed in (now_us, any monotonic clock).
 *
 * Ownership: the candidate array is borrowed for the call.  The table owns
 * its array (rumor_discourage_free releases it).
 *
 * Errors: rumor_evict_select returns 0 (*victim set), -ENOENT (no peer
 * may be evicted) or -ENOMEM; rumor_discourage_init returns 0 or -ENOMEM
 * (-EINVAL for cap 0).
 */
#ifndef RUMOR_NET_EVICT_H
#define RUMOR_NET_EVICT_H

#include <stddef.h>
#include <stdint.h>

/* The protection counts (rules 2-5 above). */
#define RUMOR_EVICT_PROTECT_NETGROUPS 4
#define RUMOR_EVICT_PROTECT_PING 8
#define RUMOR_EVICT_PROTECT_TX 4
#define RUMOR_EVICT_PROTECT_BLOCK 4

/* addr16: an IPv6 address, or an IPv4 one mapped (::ffff:a.b.c.d).  The
 * value is an opaque group key: equal for addresses of one group. */
uint64_t rumor_netgroup(const uint8_t addr16[16], int loopback_groups);
/* "1.2.0.0/16", "2001:db8::/32", "loopback", into out (cap >= 48). */
void rumor_netgroup_format(uint64_t netgroup, char *out, size_t cap);

struct rumor_evict_candidate {
	uint64_t id;            /* the caller's (tie-break input) */
	int inbound;            /* 0: outbound, never evicted */
	int manual;             /* a peer the operator asked for: never evicted */
	int discouraged;        /* evicted first, never protected */
	uint64_t netgroup;      /* rumor_netgroup() */
	uint64_t connected_us;  /* when it became READY (smaller: older) */
	int64_t ping_us;        /* round trip; < 0: not measured yet */
	uint64_t last_tx_us;    /* last new transaction it delivered; 0: never */
	uint64_t last_block_us; /* last new block it delivered; 0: never */
};

/* Chooses the peer to evict among c[0..n-1] (the rules above); key: 16
 * bytes, secret, kept for the node's life.  Returns 0 with *victim the
 * index, -ENOENT, or -ENOMEM. */
int rumor_evict_select(const struct rumor_evict_candidate *c, size_t n, const uint8_t key[16],
		       size_t *victim);

struct rumor_discourage_entry {
	uint8_t addr[16];
	uint64_t added_us;
	uint64_t until_us; /* 0: free slot */
};

struct rumor_discourage {
	struct rumor_discourage_entry *entries;
	size_t cap;
	uint64_t duration_us;
	uint64_t added_total;   /* adds (a refresh included) */
	uint64_t dropped_total; /* live entries replaced because the table was full */
};

int rumor_discourage_init(struct rumor_discourage *d, size_t cap, uint64_t duration_us);
void rumor_discourage_free(struct rumor_discourage *d);
/* Discourages addr until now_us + duration_us (an address already listed
 * gets the new expiry). */
void rumor_discourage_add(struct rumor_discourage *d, const uint8_t addr16[16], uint64_t now_us);
/* 1 when addr is listed and now_us is before its expiry. */
int rumor_discourage_check(const struct rumor_discourage *d, const uint8_t addr16[16],
			   uint64_t now_us);
/* Addresses listed and not expired at now_us. */
size_t rumor_discourage_count(const struct rumor_discourage *d, uint64_t now_us);

#endif
