/*
 * src/sim_world.h: rumor-sim's second shell around the node core: N node
 * cores (net/core.h, the code rumord runs) on a virtual network, in one
 * thread, in virtual time, from one seed.
 *
 * What the shell does for each action of a core (doc/design.md, "rumor-sim"):
 *   SEND       encodes the message with the real codec (rumor_msg_encode),
 *              charges rumor_frame_encoded_size() wire bytes to the sender's
 *              upload queue, and delivers the bytes after the link latency
 *              (in order per direction), where they are decoded
 *              (rumor_msg_decode) and fed to rumor_core_on_message.
 *   CLOSE      a disconnect message follows the data already sent; the
 *              closing end gets peer_closed at once, the other end when the
 *              disconnect arrives.
 *   DIAL       after 1.5 round trips both ends get peer_ready (dialer
 *              outbound with its target, acceptor inbound); a dial to a node
 *              that is down or across a partition fails after one round trip.
 *   VERIFY     valid (--verify=skip) or rumor_item_verify, answered at once
 *              or after a draw from --verify-delay.
 *   STORE_*    answered from the in-memory store (src/sim_store.h), at once
 *              or after store_delay_us.
 *   REPLY      checked: every submission must be accepted.
 * Faults: partitions, crashes and restarts (the core deleted, the store
 * kept, a new core with its dial targets), connection resets and stalls.
 *
 * Invariants are checked as the run goes and at its end; a broken one is
 * recorded (sim_world.failures) and the run carries on to its end.
 *
 * Ownership: sim_world_new borrows cfg (and cfg->topology) for the world's
 * life.  Errors: sim_world_new returns 0, -ENOMEM or -EINVAL (with why).
 */
#ifndef RUMOR_SRC_SIM_WORLD_H
#define RUMOR_SRC_SIM_WORLD_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/item.h"
#include "net/core.h"
#include "net/message.h"
#include "src/sim_net.h"
#include "src/sim_store.h"
#include "src/sim_topology.h"

#define SIM_POOL_CLASSES 128

struct sim_crash_at {
	uint64_t at_us;
	uint32_t node;
	uint64_t downtime_us; /* UINT64_MAX: never restarts */
};

struct sim_config {
	uint64_t seed;
	const struct sim_topology *topology;
	struct sim_latency latency;
	uint64_t bandwidth;      /* upload bytes/s per node; 0 unlimited */
	uint32_t items;
	uint32_t size;           /* transaction payload bytes */
	double rate;             /* items per virtual second; 0: all at start */
	double blocks;           /* share of items that are blocks */
	int64_t inject;          /* node, or -1: a random live node per item */
	int verify_real;
	uint64_t store_delay_us;
	int verify_delay_set;    /* VERIFY answered after a draw from verify_delay */
	struct sim_latency verify_delay;
	uint64_t start_us;       /* first injection */
	int partition;
	uint64_t partition_t1_us, partition_t2_us;
	double partition_fraction;
	double crash_rate;       /* per live node per virtual second */
	uint64_t downtime_us;
	const struct sim_crash_at *crash_at;
	size_t n_crash_at;
	double reset_rate;       /* per open connection per virtual second */
	double stall_rate;       /* per open connection per virtual second */
	uint64_t stall_us;
	double lose;             /* share of messages silently lost inside live
				  * connections: what TCP never does; a test
				  * hook to show that the invariants catch it */
	double duplicate;        /* share delivered twice: likewise a test hook */
	uint64_t max_time_us;    /* hard end of the run */
	uint64_t quiet_us;       /* end after this long without network events */
	uint32_t max_peers;      /* core config overrides; 0 keeps the default */
	uint32_t cache_items;
	uint64_t peer_msg_rate;  /* and its burst, twice it; 0 keeps the default */
	uint32_t block_slice;    /* core block_slice; 0 keeps the default */
	int verbose;             /* core log lines of level >= WARN to stderr */
};

/* Invariants, for the report. */
enum sim_invariant {
	SIM_INV_DELIVERY,      /* a live node of the originator's component lacks an item */
	SIM_INV_FETCHED_TWICE, /* getdata for an id asked of that peer, answer still due */
	SIM_INV_UNREQUESTED,   /* a payload sent that the peer did not ask for */
	SIM_INV_LIMITS,        /* a core's state over its configured limits */
	SIM_INV_MISBEHAVIOUR,  /* CLOSE protocol/misbehaviour/version between honest nodes */
	SIM_INV_CODEC,         /* a message that does not encode or decode back */
	SIM_INV_SUBMIT,        /* a submission not accepted */
	SIM_INV_BROKEN,        /* a core logged a BROKEN line */
	SIM_INV_COUNT
};
const char *sim_invariant_name(enum sim_invariant inv);

struct sim_node;
struct sim_conn;

struct sim_world {
	const struct sim_config *cfg;
	struct rumor_network network;
	struct rumor_core_config core_cfg; /* the template every node starts from */
	struct sim_store store;
	struct sim_queue queue;
	struct sim_rng rng;      /* timeline draws */
	struct sim_rng lose_rng; /* --lose draws */
	struct sim_rng verify_rng; /* --verify-delay draws */
	uint32_t n;
	struct sim_node *nodes;
	uint32_t *out_start;     /* CSR of the topology's dial edges: [n + 1] */
	uint32_t *out_edge;      /* edge index */
	uint64_t *edge_up_since; /* UINT64_MAX: down */
	struct sim_conn *conns;
	uint32_t n_conns, cap_conns, free_conn;
	uint64_t next_serial;
	uint32_t *id_index;      /* node id -> index + 1 */
	size_t id_mask;
	/* items */
	uint64_t *inject_at;     /* per item: virtual us, UINT64_MAX not injected */
	uint32_t *origin;
	/* request tracking (invariants) */
	struct sim_request *requests;
	size_t req_mask, req_count;
	/* message buffers: free lists per size class */
	void *pool[SIM_POOL_CLASSES];
	/* run state */
	uint64_t now;
	uint64_t events;
	uint64_t net_events;     /* network events queued */
	uint64_t last_busy;
	uint64_t last_timeline;  /* last scheduled timeline event */
	int partition_active;
	/* counters */
	uint64_t msg_count[RUMOR_MSG_TYPE_LAST + 1];
	uint64_t msg_bytes[RUMOR_MSG_TYPE_LAST + 1];
	uint64_t wire_bytes;
	uint64_t duplicates, payloads_from_peers;
	uint64_t request_timeouts;
	uint64_t throttle_pauses, throttle_closes; /* per-peer message budgets */
	uint64_t serve_blocked;                    /* getdata paced by output */
	uint64_t verifications;
	uint64_t crashes, restarts, resets, stalls, dial_failures, connects, lost, duplicated;
	size_t max_core_bytes;
	size_t pool_bytes;       /* message buffers allocated (kept for reuse) */
	uint64_t end_core_bytes; /* sum over live nodes at the end */
	uint64_t core_memory_checks;
	uint64_t failures[SIM_INV_COUNT];
	char first_failure[SIM_INV_COUNT][256];
	uint64_t end_us;
	uint32_t items_injected;
	/* scratch */
	uint8_t *scratch;
	size_t scratch_cap;
	uint8_t *item_buf;      /* a tx/block message being delivered */
	size_t item_buf_cap;
};

int sim_world_new(struct sim_world **out, const struct sim_config *cfg, char *why, size_t why_len);
void sim_world_del(struct sim_world *w);
/* Runs to the end; then checks delivery.  Returns 0 or -ENOMEM. */
int sim_world_run(struct sim_world *w);
/* Whether the node is up (at the end of the run: for the report). */
int sim_world_node_alive(const struct sim_world *w, uint32_t node);
/* Invariant failures of every kind so far. */
uint64_t sim_world_total_failures(const struct sim_world *w);

#endif
