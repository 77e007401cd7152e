/*
 * src/node.h: the node, the wiring of every part on one libuv loop.
 *
 * It owns the store, the RPC server and the submission pipeline through
 * which every item enters:
 *
 *   submit(bytes) -> decode (structure) -> check (network, clock, Merkle,
 *   producer) -> dedup (in-flight map; for items from peers also the store,
 *   once per loop turn) -> verification pool (src/workpool.h, a thread per
 *   core) -> signature verified -> rumor_store_put (group commit on the
 *   writer thread; an item already stored is found there) -> committed ->
 *   callback.
 *
 * A submission's callback runs once, on the loop thread, only after the item
 * is durable (or with the reason it was refused).  Two submissions of the
 * same id while the first is in flight share its outcome.
 *
 * The pipeline is bounded: at most RUMOR_NODE_PENDING_MAX items and
 * RUMOR_NODE_PENDING_BYTES_MAX bytes in flight; past that, submissions are
 * refused as busy (the client may retry) rather than growing memory.
 */
#ifndef RUMOR_SRC_NODE_H
#define RUMOR_SRC_NODE_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "crypto/item.h"
#include "src/options.h"

#define RUMOR_NODE_PENDING_MAX 65536
#define RUMOR_NODE_PENDING_BYTES_MAX (256u * 1024 * 1024)

/* Outcome of a submission. */
enum rumor_submit_status {
	RUMOR_SUBMIT_ACCEPTED = 0, /* new item, stored durably */
	RUMOR_SUBMIT_KNOWN = 1,    /* already stored: nothing to do */
	RUMOR_SUBMIT_EDECODE = -1, /* malformed encoding or wrong kind */
	RUMOR_SUBMIT_EREJECT = -2, /* a validation rule failed */
	RUMOR_SUBMIT_ESTORE = -3,  /* database error; not stored */
	RUMOR_SUBMIT_EBUSY = -4,   /* too much in flight; retry later */
	RUMOR_SUBMIT_ESHUTDOWN = -5, /* node is stopping */
};

/* reason: NULL on success, else static text.  id is valid when the item
 * decoded (NULL otherwise). */
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

/* 1 when the id is stored or being validated (in the pipeline), 0 when not,
 * a negative store code (store/store.h) when the store cannot answer.  A
 * pure query, for the relay's "already known". */
int rumor_node_has_item(struct rumor_node *node, const uint8_t id[RUMOR_ID_SIZE]);

/* Called on the loop thread once for every item newly stored (status
 * ACCEPTED, from RPC or a peer), just before its submitters' callbacks:
 * item (its encoding included) is borrowed for the call; peer_id is the
 * peer's node id or NULL.  One hook; the relay glue sets it. */
typedef void (*rumor_node_accepted_fn)(void *arg, const struct rumor_item *item,
				       const char *source, const uint8_t *peer_id);
void rumor_node_set_accepted_hook(struct rumor_node *node, rumor_node_accepted_fn fn, void *arg);
/* Called once per new item as soon as its signature has verified and its
 * write is queued, before the commit: relay announces from here, so a hop
 * does not wait for this node's fsync (gossip needs no durability; the RPC
 * reply still waits for the commit).  If the write then fails, the item was
 * announced but not stored: peers that ask are served from memory.  An RPC
 * submission is not looked up in the store before verification, so it is
 * new only once its commit says so: for those, this hook runs at the
 * commit, just before the accepted hook.  Same arguments as the accepted
 * hook. */
void rumor_node_set_valid_hook(struct rumor_node *node, rumor_node_accepted_fn fn, void *arg);

/* Accessors for the RPC methods. */
struct rumor_store *rumor_node_store(struct rumor_node *node);
const struct rumor_network *rumor_node_network(const struct rumor_node *node);
const uint8_t *rumor_node_id(const struct rumor_node *node);
uint64_t rumor_node_uptime_s(const struct rumor_node *node);
/* The relay glue (src/relay.h); NULL before start. */
struct rumor_node_relay *rumor_node_relay(struct rumor_node *node);
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
