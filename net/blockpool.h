/*
 * net/blockpool.h: a pool of blocks from peers that wait for something
 * (the node core keeps two: "pending", waiting for transactions it lacks,
 * and "orphan", waiting for its parent).
 *
 *   add (evicting the oldest at max_blocks or max_bytes)
 *     -> held until take (what it waited for was stored; the core
 *        processes it again) or expiry (deadline_us reached: dropped)
 *
 * A held block owns a copy of its encoding (item points into it), and the
 * ids of the transactions it still misses (pending pool).  The pool is an
 * array in arrival order, grown by doubling up to max_blocks (small: 64 by
 * default), so lookups are linear over at most max_blocks entries.
 *
 * Ownership: add takes the block; take and take_expired give it back to
 * the caller, who frees it with rumor_held_block_free.
 */
#ifndef RUMOR_NET_BLOCKPOOL_H
#define RUMOR_NET_BLOCKPOOL_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/item.h"

struct rumor_held_block {
	uint8_t *bytes; /* owned; item points into it */
	size_t len;
	struct rumor_item item;
	uint32_t from;        /* peer handle it came from */
	uint8_t from_id[32];  /* that peer's node id */
	uint64_t deadline_us; /* dropped when now_us reaches it */
	uint32_t *missing;    /* pending pool: the positions in
			       * item.u.block.tx_ids of the txs it lacked */
	uint32_t n_missing;
	/* pending pool: missing's index (rumor_held_block_index): slot ->
	 * position + 1 (0: empty), and which of them were stored since */
	uint32_t *index;
	uint32_t index_mask;
	uint8_t *got;
	uint32_t n_left;      /* missing ones not yet got */
	uint32_t next_pos;    /* its tx ids before this one are decided (its
			       * slices: core.c check_block_slice) */
	int sig_ok;           /* its signature was verified before it waited */
};

/* A keyed hash of an id for the index below (SipHash with key: ids are
 * chosen by a remote peer, which must not be able to make them collide). */
uint64_t rumor_held_block_hash(const uint8_t key[16], const uint8_t id[RUMOR_ID_SIZE]);
/* Indexes hb->missing (n_missing positions of distinct ids in the block's
 * tx ids) by rumor_held_block_hash with key, all not got (n_left =
 * n_missing): so that each stored transaction costs one probe per waiting
 * block instead of a scan of its up to 131,066 missing ids.  Returns 0 or
 * -ENOMEM. */
int rumor_held_block_index(struct rumor_held_block *hb, const uint8_t key[16]);
/* Frees the missing list and its index (n_missing = n_left = 0). */
void rumor_held_block_clear_missing(struct rumor_held_block *hb);
/* Marks id (h: its rumor_held_block_hash with the index's key) as got.
 * Returns 1 when it was missing and not yet got (n_left went down), else
 * 0. */
int rumor_held_block_got(struct rumor_held_block *hb, const uint8_t id[RUMOR_ID_SIZE],
			 uint64_t h);

struct rumor_blockpool {
	struct rumor_held_block **blocks; /* arrival order */
	uint32_t count, alloc, max_blocks;
	size_t bytes, max_bytes;
	const char *name;
};

void rumor_held_block_free(struct rumor_held_block *hb);
size_t rumor_held_block_memory(const struct rumor_held_block *hb);

void rumor_blockpool_init(struct rumor_blockpool *pool, const char *name, uint32_t max_blocks,
			  size_t max_bytes);
/* Frees every block held. */
void rumor_blockpool_free(struct rumor_blockpool *pool);
int rumor_blockpool_has(const struct rumor_blockpool *pool, const uint8_t id[RUMOR_ID_SIZE]);
/* 1 when adding a block of len bytes must first evict the oldest. */
int rumor_blockpool_must_evict(const struct rumor_blockpool *pool, size_t len);
/* Takes hb.  Returns 0 or -ENOMEM (hb not taken).  The caller evicts
 * first (must_evict, take(0)). */
int rumor_blockpool_add(struct rumor_blockpool *pool, struct rumor_held_block *hb);
/* Removes and returns block i (arrival order). */
struct rumor_held_block *rumor_blockpool_take(struct rumor_blockpool *pool, uint32_t i);
/* Removes and returns one block whose deadline is <= now_us, or NULL. */
struct rumor_held_block *rumor_blockpool_take_expired(struct rumor_blockpool *pool,
						      uint64_t now_us);
/* Earliest deadline, UINT64_MAX when empty. */
uint64_t rumor_blockpool_next_deadline(const struct rumor_blockpool *pool);
size_t rumor_blockpool_memory(const struct rumor_blockpool *pool);

#endif
