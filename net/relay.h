/*
 * net/relay.h: inv/getdata rumor relay, sans-IO.
 *
 * Decides which item ids to announce to which peer and when, and which
 * announced ids to request from which peer; it never touches sockets, the
 * clock, the random source or the store.  The caller (src/ glue) feeds it
 * events with the current time and drains actions:
 *
 *   peer added/removed; inv / notfound received; an item payload received;
 *   an item accepted (from RPC or a peer) or rejected
 *        -> SEND_INV(peer, ids), SEND_GETDATA(peer, ids), DISCONNECT(peer)
 *   and rumor_relay_expiry() says when to call rumor_relay_run_timers().
 *
 * Rules (doc/protocol.md, "Relay"):
 *  - Announce: an accepted item's id goes to every ready peer not known to
 *    have it (not the peer it came from, not a peer that announced it).
 *    Transactions are batched per peer and flushed every flush_interval_us
 *    (or, with poisson_delay, after an exponentially distributed delay of
 *    that mean drawn from the caller-supplied random source) or when a batch
 *    reaches inv_batch_max; blocks are flushed at once.
 *  - Request: an unknown announced id is requested from ONE announcer at a
 *    time, preferring outbound peers, with at most max_requests_per_peer ids
 *    in flight per peer; on request_timeout_us or notfound, the next
 *    announcer is asked.  An id announced by many peers is one record with a
 *    small capped list of announcers (max_announcers_per_id).
 *  - Per peer, announcements waiting to be requested are capped
 *    (max_announced_per_peer, older than announce_max_age_us dropped), and
 *    the set of ids a peer is known to have is a bounded FIFO
 *    (known_per_peer) of keyed 64-bit fingerprints (net/idset.h).  An id queued for a peer is dropped from its batch
 *    at flush time if the peer announced, delivered or asked for it while
 *    it waited (the two invs would only cross).
 *  - Recently rejected ids (rejected_max, FIFO) are never requested again.
 *  - A payload for an id that was not requested from that peer is
 *    unrequested: the caller disconnects (misbehaviour).  A payload for an id
 *    already known (or recently rejected) counts as a duplicate.  A payload
 *    from a peer whose request timed out while the id is still tracked is
 *    still accepted as requested (the peer was slow, not hostile).  An id
 *    whose request timed out stays tracked even when no announcer is left
 *    to ask: it still counts against the timed-out peer's
 *    max_announced_per_peer and is dropped at announce_max_age_us (from
 *    its first announcement), when that peer is removed or answers
 *    notfound, or when the id arrives (from anyone) or is accepted or
 *    rejected.  A new announcer is asked; the timed-out peer announcing it
 *    again is not (its first answer may still be on the way).
 *  - An inv entry whose kind is neither tx nor block makes the relay emit
 *    DISCONNECT for that peer; the relay then ignores the peer until the
 *    caller removes it.
 *
 * Scheduling: requests are decided when actions are drained
 * (rumor_relay_next_action), at the latest now_us any call brought.  A
 * caller may feed several events (say every message of one read) before
 * draining; announcements fed together are then weighed together, so an
 * outbound announcer wins over an inbound one that announced first.
 * Deterministic: the same calls give the same actions.
 *
 * Ownership: the relay copies everything it keeps; action entries are
 * borrowed until the next call into the relay.
 *
 * Memory is bounded by the limits in struct rumor_relay_config and grows
 * with use (a peer's tables are allocated as ids arrive, not at add); every
 * table is a keyed hash (crypto/idmap.h, net/idset.h) whose key the caller
 * supplies.
 */
#ifndef RUMOR_NET_RELAY_H
#define RUMOR_NET_RELAY_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/item.h"

typedef uint32_t rumor_peer_handle; /* assigned by the caller; never reused while added */
#define RUMOR_RELAY_NO_PEER UINT32_MAX

struct rumor_relay_config {
	uint64_t flush_interval_us;    /* default 5000 (5 ms) */
	int poisson_delay;             /* default 0 */
	uint32_t inv_batch_max;        /* default 1000 ids per inv */
	uint32_t getdata_batch_max;    /* default 1000 ids per getdata */
	uint32_t max_requests_per_peer; /* default 1000 ids in flight */
	uint64_t request_timeout_us;   /* default 2 s */
	uint32_t max_announcers_per_id; /* default 8 */
	uint32_t max_announced_per_peer; /* default 20000 pending announcements */
	uint64_t announce_max_age_us;  /* default 60 s */
	uint32_t known_per_peer;       /* default 50000 ids */
	uint32_t rejected_max;         /* default 10000 ids */
	uint32_t max_peers;            /* default 256; the core sets its own max_peers */
	uint8_t hash_key[16];          /* keys every id table (random in production) */
	/* Random source for the Poisson delay: returns a uniform 64-bit value. */
	uint64_t (*random_u64)(void *ctx);
	/* Is this id already stored or being validated?  A pure query; the
	 * caller answers from its in-flight map and its store. */
	int (*is_known)(void *ctx, const uint8_t id[RUMOR_ID_SIZE]);
	void *ctx;
};
void rumor_relay_config_default(struct rumor_relay_config *cfg);

struct rumor_relay_inv_entry {
	uint8_t kind; /* enum rumor_item_kind */
	uint8_t id[RUMOR_ID_SIZE];
};

enum rumor_relay_action_type {
	RUMOR_RELAY_NONE = 0,
	RUMOR_RELAY_SEND_INV,
	RUMOR_RELAY_SEND_GETDATA,
	RUMOR_RELAY_DISCONNECT,
};

struct rumor_relay_action {
	enum rumor_relay_action_type type;
	rumor_peer_handle peer;
	const struct rumor_relay_inv_entry *entries; /* borrowed until the next call */
	uint32_t count;
	const char *reason; /* DISCONNECT */
};

/* What a received payload was, for the caller's accounting and policy. */
enum rumor_relay_payload_verdict {
	RUMOR_RELAY_PAYLOAD_REQUESTED = 0, /* expected: validate it */
	RUMOR_RELAY_PAYLOAD_DUPLICATE,     /* id already known: drop, count */
	RUMOR_RELAY_PAYLOAD_UNREQUESTED,   /* not asked from this peer: disconnect */
};

struct rumor_relay_peer_stats {
	uint64_t announced_to_us;   /* ids this peer announced to us */
	uint64_t announced_by_us;   /* ids we announced to it */
	uint64_t requested_from;    /* ids we requested from it */
	uint64_t delivered;         /* requested payloads it delivered */
	uint64_t notfound;
	uint64_t timeouts;
	uint32_t in_flight;
};

struct rumor_relay_stats {
	uint64_t duplicates_received;
	uint64_t unrequested_received;
	uint64_t request_timeouts;
	uint64_t requests_sent;
	uint32_t requests_in_flight;
	uint32_t ids_tracked; /* announced, not yet received */
	uint64_t announcements_ignored; /* over max_announced_per_peer or
					 * max_announcers_per_id (or no memory) */
	uint64_t announcements_dropped; /* our inv for a peer whose unflushed
					 * batch was at 4 * inv_batch_max (a caller
					 * that does not drain actions) */
	uint64_t announcements_suppressed; /* ids taken out of a batch at flush
					    * time: the peer announced, sent or
					    * asked for them while they waited */
};

struct rumor_relay; /* opaque */

/* Returns 0, -EINVAL (a zero limit, a batch over RUMOR_MSG_INV_MAX,
 * max_peers of UINT32_MAX, poisson_delay without random_u64) or -ENOMEM.
 * is_known may be NULL (nothing is known). */
int rumor_relay_new(struct rumor_relay **out, const struct rumor_relay_config *cfg);
void rumor_relay_del(struct rumor_relay *relay);

/* Peers.  Returns 0, -EEXIST, -ENOSPC (max_peers), -EINVAL (peer is
 * RUMOR_RELAY_NO_PEER), -ENOMEM.  Removing a peer hands its in-flight
 * requests to the next announcers (asked at the next drain); an unknown
 * handle is ignored. */
int rumor_relay_peer_add(struct rumor_relay *relay, rumor_peer_handle peer, int outbound,
			 uint64_t now_us);
void rumor_relay_peer_remove(struct rumor_relay *relay, rumor_peer_handle peer, uint64_t now_us);

/* The peer announced these ids (an inv message). */
void rumor_relay_on_inv(struct rumor_relay *relay, rumor_peer_handle peer,
			const struct rumor_relay_inv_entry *entries, uint32_t count, uint64_t now_us);
/* The peer answered notfound for these ids. */
void rumor_relay_on_notfound(struct rumor_relay *relay, rumor_peer_handle peer,
			     const struct rumor_relay_inv_entry *entries, uint32_t count,
			     uint64_t now_us);
/* A tx/block payload with this id arrived from the peer (before validation).
 * Clears the request; the peer is now known to have the id. */
enum rumor_relay_payload_verdict rumor_relay_on_payload(struct rumor_relay *relay,
							rumor_peer_handle peer,
							const uint8_t id[RUMOR_ID_SIZE],
							uint64_t now_us);
/* The peer asked us for these ids (getdata): it is known to want them, so
 * it will not be sent an inv for them; the caller serves the payloads. */
void rumor_relay_on_getdata(struct rumor_relay *relay, rumor_peer_handle peer,
			    const struct rumor_relay_inv_entry *entries, uint32_t count);
/* Ask for an id that nobody announced (a block's missing transaction, or a
 * block's unknown parent), from a peer believed to have it.  The peer
 * becomes one of the id's announcers (charged against its
 * max_announced_per_peer like an inv); ignored for an unknown peer, a kind
 * other than tx/block, a known or recently rejected id, a peer at its
 * max_announced_per_peer or an id at max_announcers_per_id.  The
 * getdata goes out at the next drain, subject to max_requests_per_peer. */
void rumor_relay_request(struct rumor_relay *relay, rumor_peer_handle peer, uint8_t kind,
			 const uint8_t id[RUMOR_ID_SIZE], uint64_t now_us);
/* A valid item was stored: announce it.  from: the peer it came from, or
 * RUMOR_RELAY_NO_PEER (RPC).  Ends any tracking of the id (a request still
 * out makes its payload a duplicate).  kind must be tx or block. */
void rumor_relay_on_accepted(struct rumor_relay *relay, uint8_t kind,
			     const uint8_t id[RUMOR_ID_SIZE], rumor_peer_handle from, uint64_t now_us);
/* An item failed validation: never request it again. */
void rumor_relay_on_rejected(struct rumor_relay *relay, const uint8_t id[RUMOR_ID_SIZE],
			     uint64_t now_us);

/* Next action to carry out, or type NONE.  Call until NONE after every
 * event and after run_timers. */
void rumor_relay_next_action(struct rumor_relay *relay, struct rumor_relay_action *out);
/* When run_timers next wants to run (UINT64_MAX: nothing pending). */
uint64_t rumor_relay_expiry(const struct rumor_relay *relay);
/* Flushes due announcement batches, retries timed-out requests. */
void rumor_relay_run_timers(struct rumor_relay *relay, uint64_t now_us);

void rumor_relay_get_stats(const struct rumor_relay *relay, struct rumor_relay_stats *out);
/* Returns 0, or -ENOENT for an unknown peer. */
int rumor_relay_get_peer_stats(const struct rumor_relay *relay, rumor_peer_handle peer,
			       struct rumor_relay_peer_stats *out);

/* At most max ids in flight to the peer from now on (capped at
 * max_requests_per_peer, which is where a peer starts; 0: no new getdata
 * to it).  Its announcements beyond wait, or go to another announcer;
 * requests already out stay out.  The core lowers it as the peer's share
 * of the verification pipeline fills, so what is in flight always fits
 * the share.  An unknown peer is ignored. */
void rumor_relay_peer_limit(struct rumor_relay *relay, rumor_peer_handle peer, uint32_t max);

/* 1 when rumor_relay_request() to the peer would take no new id: it is
 * unknown, being disconnected, or at its max_announced_per_peer (ids it
 * already announced may still be asked again).  A block's 131,066 missing
 * transactions stop being requested there instead of costing two lookups
 * each. */
int rumor_relay_peer_full(const struct rumor_relay *relay, rumor_peer_handle peer);
/* 1 when the id is tracked (announced or asked for, not yet received). */
int rumor_relay_is_tracked(const struct rumor_relay *relay, const uint8_t id[RUMOR_ID_SIZE]);
/* Bytes the relay has allocated now. */
size_t rumor_relay_memory(const struct rumor_relay *relay);

#endif
