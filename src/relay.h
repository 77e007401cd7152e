/*
 * src/relay.h: the node's relay glue: net/relay.h (the sans-IO inv/getdata
 * scheduler) wired to the peer manager (src/peers.h), the submission
 * pipeline (src/node.h) and the store.
 *
 * It owns the struct rumor_relay, one uv_timer_t at the relay's (and the
 * block pools') next deadline, one uv_check_t that drains the relay's
 * actions once per loop turn (so every message of every read of the turn
 * is fed before requests are decided), and:
 *
 *  - a memory cache of recently accepted items for serving getdata
 *    (RUMOR_RELAY_CACHE_ITEMS items or RUMOR_RELAY_CACHE_BYTES bytes, FIFO;
 *    older items are read from the store);
 *  - a pool of blocks waiting for their transactions
 *    (RUMOR_RELAY_PENDING_BLOCKS, RUMOR_RELAY_POOL_BYTES): a block from a
 *    peer that lists transactions the node does not have is held, the
 *    missing ones are requested from that peer, and the block is submitted
 *    once all are stored (dropped after RUMOR_RELAY_POOL_TIMEOUT_MS);
 *  - a pool of orphan blocks (RUMOR_RELAY_ORPHAN_BLOCKS, same byte cap and
 *    timeout): a block whose parent is not stored is held and its parent
 *    requested from the sender; when the parent is accepted, the orphan is
 *    processed again;
 *  - the counters of getrelayinfo.
 *
 * A payload from a peer:
 *
 *   tx/block message -> id = SHA-256(bytes) -> rumor_relay_on_payload:
 *     DUPLICATE   -> dropped (duplicates_received)
 *     UNREQUESTED -> peer closed (MISBEHAVIOUR)
 *     REQUESTED   -> tx: rumor_node_submit(source "peer", peer id)
 *                    block: decode and check, then orphan pool | pending
 *                    pool | rumor_node_submit
 *   submission outcome: ACCEPTED -> the node's accepted hook announces it
 *   (rumor_relay_on_accepted, from = that peer); EDECODE/EREJECT ->
 *   rumor_relay_on_rejected, invalid_received, the sender (if still
 *   connected) is closed with MISBEHAVIOUR and the reason logged; KNOWN,
 *   EBUSY, ESTORE, ESHUTDOWN -> nothing (a busy node gets it again from the
 *   next announcement).
 *
 * Peers are named by a rumor_peer_handle the glue assigns at READY and
 * never reuses; asynchronous callbacks (submissions) keep the handle and
 * look the peer up again, never a pointer.
 *
 * Lifetime: rumor_node_relay_new (memory only) -> rumor_node_relay_peer_hooks
 * (fills the peer manager's hooks) -> rumor_peers_start ->
 * rumor_node_relay_start (handles, accepted hook) -> ... ->
 * rumor_node_relay_stop (before the peers close: closes the handles, stops
 * sending; later hooks and submission callbacks are absorbed) -> loop runs
 * out -> rumor_node_relay_del.
 */
#ifndef RUMOR_SRC_RELAY_H
#define RUMOR_SRC_RELAY_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "net/relay.h"
#include "src/options.h"

#define RUMOR_RELAY_CACHE_ITEMS 4096
#define RUMOR_RELAY_CACHE_BYTES (64u * 1024 * 1024)
#define RUMOR_RELAY_PENDING_BLOCKS 64
#define RUMOR_RELAY_ORPHAN_BLOCKS 64
#define RUMOR_RELAY_POOL_BYTES (32u * 1024 * 1024) /* per pool */
#define RUMOR_RELAY_POOL_TIMEOUT_MS 60000
/* Entries of one getdata served; the rest are ignored. */
#define RUMOR_RELAY_SERVE_MAX 1000

struct rumor_node;
struct rumor_peers;
struct rumor_peers_config;
struct rumor_peer;
struct rumor_node_relay;

/* Allocates the glue and the relay core (from cfg: --invflushms,
 * --invpoisson).  Returns 0 or -1 with err set. */
int rumor_node_relay_new(struct rumor_node_relay **out, uv_loop_t *loop, struct rumor_node *node,
			 const struct rumor_config *cfg, char *err, size_t errlen);
/* Sets on_ready, on_message, on_closed and hook_arg. */
void rumor_node_relay_peer_hooks(struct rumor_node_relay *relay, struct rumor_peers_config *cfg);
/* Opens the timer and check handles and sets the node's accepted hook. */
void rumor_node_relay_start(struct rumor_node_relay *relay, struct rumor_peers *peers);
/* Idempotent. */
void rumor_node_relay_stop(struct rumor_node_relay *relay);
/* After the loop has closed the handles (or when never started).  NULL ok. */
void rumor_node_relay_del(struct rumor_node_relay *relay);

struct rumor_node_relay_stats {
	uint64_t accepted_tx, accepted_block;
	uint64_t accepted_rpc, accepted_peer;
	uint64_t invalid_received;
	uint32_t pending_blocks, orphan_blocks;
	uint32_t cache_items;
	uint64_t cache_bytes;
	struct rumor_relay_stats core;
};
void rumor_node_relay_get_stats(const struct rumor_node_relay *relay,
				struct rumor_node_relay_stats *out);
/* Per-peer counts for getpeerinfo.  Returns 0 or -ENOENT. */
int rumor_node_relay_peer_stats(const struct rumor_node_relay *relay,
				const struct rumor_peer *peer, struct rumor_relay_peer_stats *out);

#endif
