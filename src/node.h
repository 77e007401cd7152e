/*
 * src/node.h: the node: the shell that runs the node core (net/core.h) on
 * one libuv loop, with the store, the RPC server, the peer connections
 * (src/peers.h) and the verification pool (src/workpool.h).
 *
 * Every item enters through the core's pipeline:
 *
 *   submit(bytes) -> decode (structure) -> check (network, clock, Merkle,
 *   producer) -> dedup (the core's in-flight map; for items from peers
 *   also the store, one query per drain) -> verification pool (a thread
 *   per core) -> signature verified -> rumor_store_put (group commit on the
 *   writer thread; an item already stored is found there) -> committed ->
 *   callback.
 *
 * A submission's callback runs once, on the loop thread, only after the item
 * is durable (or with the reason it was refused).  Two submissions of the
 * same id while the first is in flight share its outcome.
 *
 * The pipeline is bounded: at most RUMOR_NODE_PENDING_MAX items and
 * RUMOR_NODE_PENDING_BYTES_MAX bytes in flight (the core's pending_max and
 * pending_bytes_max); past that, submissions are refused as busy (the
 * client may retry) rather than growing memory.
 *
 * The RPC methods (src/rpc_methods.h) are wired by the caller after start
 * (rumor_rpc_methods_setup(rumor_node_rpc(node), node)): this file does
 * not include them, they reach the node through the accessors below.
 */
#ifndef RUMOR_SRC_NODE_H
#define RUMOR_SRC_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "crypto/item.h"
#include "net/core.h"
#include "rpc/http_server.h"
#include "rpc/jsonrpc.h"
#include "src/options.h"

#define RUMOR_NODE_PENDING_MAX 65536
#define RUMOR_NODE_PENDING_BYTES_MAX (256u * 1024 * 1024)

/* Outcome of a submission: enum rumor_submit_status (net/core.h). */

/* reason: NULL on success, else why (borrowed for the call).  id is valid
 * when the item decoded (NULL otherwise). */
typedef void (*rumor_submit_cb)(void *arg, enum rumor_submit_status status, const char *reason,
				const uint8_t *id);

struct rumor_node;

/* Starts the node: datadir, lock, key, store, cookie, RPC port, signals.
 * Returns 0 or -1 with err set (nothing left running). */
int rumor_node_start(struct rumor_node **out, uv_loop_t *loop, const struct rumor_config *cfg,
		     char *err, size_t errlen);
/* Begins a clean shutdown (idempotent): stops taking requests, finishes the
 * items in flight, closes the store, removes the cookie.  The loop then runs
 * out; rumor_node_free() after uv_run returns. */
void rumor_node_stop(struct rumor_node *node);
void rumor_node_free(struct rumor_node *node);

/* Submits an item (bytes are copied).  expect: the kind the caller wants, or
 * 0 for either.  source: "rpc" or "peer".  peer_id: the 32-byte node id of
 * the peer it came from (stored with the item, shown by getiteminfo), or
 * NULL (RPC). */
void rumor_node_submit(struct rumor_node *node, const uint8_t *bytes, size_t len,
		       int expect, const char *source, const uint8_t *peer_id,
		       rumor_submit_cb cb, void *arg);

/* For tests: called on the loop thread every time a write of an item is
 * handed to the store (a STORE_PUT of the core), with the item (borrowed
 * for the call), its source ("rpc" or "peer") and the peer's node id or
 * NULL.  One hook. */
typedef void (*rumor_node_put_fn)(void *arg, const struct rumor_item *item, const char *source,
				  const uint8_t *peer_id);
void rumor_node_set_put_hook(struct rumor_node *node, rumor_node_put_fn fn, void *arg);

/* Operator requests (addnode, disconnectnode), carried to the core.  add:
 * 0, -EEXIST, -ENOSPC, -ESHUTDOWN, -ENOMEM; remove: 0 or -ENOENT (its
 * connection is closed with disconnect REQUESTED); disconnect: 0 or
 * -ENOENT (no ready peer with that id). */
int rumor_node_add_target(struct rumor_node *node, const struct rumor_connect_target *t,
			  int onetry);
int rumor_node_remove_target(struct rumor_node *node, const struct rumor_connect_target *t);
int rumor_node_disconnect(struct rumor_node *node, const uint8_t id[32]);

struct rumor_peer;
/* The core's counters (getrelayinfo) and one peer's relay counters
 * (getpeerinfo; 0 or -ENOENT). */
void rumor_node_core_stats(const struct rumor_node *node, struct rumor_core_stats *out);
int rumor_node_peer_relay_stats(const struct rumor_node *node, const struct rumor_peer *peer,
				struct rumor_relay_peer_stats *out);
/* The peer's budgets (net/core.h rumor_core_peer_budget).  Returns 0 or
 * -ENOENT. */
int rumor_node_peer_budget(const struct rumor_node *node, const struct rumor_peer *peer,
			   struct rumor_core_peer_budget *out);
/* The JSON-RPC method table the HTTP server dispatches to. */
struct rumor_jsonrpc_server *rumor_node_rpc(struct rumor_node *node);

/* Accessors for the RPC methods. */
struct rumor_store *rumor_node_store(struct rumor_node *node);
/* The JSON-RPC port's HTTP server counters (all zero before it listens). */
void rumor_node_rpc_stats(const struct rumor_node *node, struct rumor_http_stats *out);
const struct rumor_network *rumor_node_network(const struct rumor_node *node);
const uint8_t *rumor_node_id(const struct rumor_node *node);
uint64_t rumor_node_uptime_s(const struct rumor_node *node);
/* Asks for shutdown soon, after the current RPC response is written. */
void rumor_node_request_stop(struct rumor_node *node);

/* The submission pipeline now, for metrics: items (and their bytes) in
 * flight, of which waiting for or under signature verification. */
struct rumor_node_pipeline {
	size_t in_flight, in_flight_bytes;
	size_t verify_queued; /* gathered for the pool, or on it */
};
void rumor_node_get_pipeline(const struct rumor_node *node, struct rumor_node_pipeline *out);
/* 1 once shutdown has begun (stop RPC, SIGTERM, SIGINT). */
int rumor_node_stopping(const struct rumor_node *node);

#endif
