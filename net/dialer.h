/*
 * net/dialer.h: the node's dial targets (--connect, --addnode, the addnode
 * method) and their redial backoff, sans-IO.
 *
 * One target's states:
 *
 *   add --> WAITING(due now) --due--> DIALING --peer_ready--> CONNECTED
 *              ^                         |                       |
 *              |   backoff (min, x2,     | dial_failed           | peer closed
 *              +---- up to max) ---------+-----------------------+
 *   CONNECTED, on a good READY: backoff back to min.
 *   A target that turned out to be this node (self connection, or a dial
 *   that failed with disconnect SELF): GIVEN_UP, never dialled again.
 *   onetry: after its one dial (failed, or its connection over) it is
 *   forgotten.  remove: forgotten at once (the core closes its connection).
 *
 * Matching for add/remove: host, port and id as written (an onetry target
 * is never matched: adding it twice dials twice, removing it is -ENOENT).
 *
 * Errors: add returns 0, -EEXIST, -ENOSPC (max targets), -ENOMEM; remove
 * returns 0 or -ENOENT.
 */
#ifndef RUMOR_NET_DIALER_H
#define RUMOR_NET_DIALER_H

#include <stddef.h>
#include <stdint.h>

#include "net/core.h"
#include "net/handles.h"

enum rumor_dial_state {
	RUMOR_DIAL_WAITING = 0,
	RUMOR_DIAL_DIALING,
	RUMOR_DIAL_CONNECTED,
	RUMOR_DIAL_GIVEN_UP,
};

struct rumor_dial_target {
	struct rumor_core_addr addr;
	char label[RUMOR_CORE_HOST_MAX + 16]; /* HOST:PORT as configured, for logs */
	int onetry;
	enum rumor_dial_state state;
	uint64_t due_us;     /* WAITING: when to dial */
	uint64_t backoff_us; /* the next redial delay */
	rumor_core_peer peer; /* CONNECTED: its peer */
};

struct rumor_dialer {
	struct rumor_handles targets;
	uint64_t min_us, max_us;
};

void rumor_dialer_init(struct rumor_dialer *d, uint32_t max_targets, uint64_t min_us,
		       uint64_t max_us);
void rumor_dialer_free(struct rumor_dialer *d);
int rumor_dialer_add(struct rumor_dialer *d, const struct rumor_core_addr *addr, int onetry,
		     uint64_t now_us, rumor_core_target *out);
/* On success *peer is the target's connected peer (to close) or
 * RUMOR_CORE_NO_PEER. */
int rumor_dialer_remove(struct rumor_dialer *d, const struct rumor_core_addr *addr,
			rumor_core_peer *peer);
/* The target matching addr (not onetry), or RUMOR_CORE_NO_TARGET. */
rumor_core_target rumor_dialer_find(const struct rumor_dialer *d,
				    const struct rumor_core_addr *addr);
struct rumor_dial_target *rumor_dialer_get(const struct rumor_dialer *d, rumor_core_target t);
/* A target due at now_us (now DIALING), or NULL. */
struct rumor_dial_target *rumor_dialer_next_due(struct rumor_dialer *d, uint64_t now_us,
						rumor_core_target *t);
/* The dial of t is over without a connection (or its connection closed):
 * onetry targets are forgotten, given-up ones stay, others wait backoff. */
void rumor_dialer_ended(struct rumor_dialer *d, rumor_core_target t, uint64_t now_us);
/* t's connection is READY and kept: CONNECTED, backoff back to min. */
void rumor_dialer_connected(struct rumor_dialer *d, rumor_core_target t, rumor_core_peer peer);
/* t is this node itself. */
void rumor_dialer_give_up(struct rumor_dialer *d, rumor_core_target t);
/* Earliest due time of a WAITING target, UINT64_MAX when none. */
uint64_t rumor_dialer_expiry(const struct rumor_dialer *d);
size_t rumor_dialer_memory(const struct rumor_dialer *d);

#endif
