/*
 * src/peers.h: the peer manager: every peer-to-peer connection of a node.
 *
 * It listens for inbound connections and keeps the inbound slot rules
 * (net/evict.h holds the policy, this file applies it):
 *   - a connection still in the handshake holds a handshake slot:
 *     max_handshakes in all, max_handshakes_per_netgroup per network group
 *     (IPv4 /16, IPv6 /32; loopback one group unless loopback_netgroups),
 *     checked right after accept, before any handshake work; an inbound
 *     handshake must finish within inbound_handshake_timeout_us (5 s);
 *   - at READY an inbound peer needs one of max_inbound slots; when they
 *     are full, the eviction rules (net/evict.h) choose an inbound peer to
 *     close (disconnect TOO_MANY, "evicted: inbound slots full") and the
 *     newcomer takes its slot; with nobody to evict the newcomer is
 *     closed (TOO_MANY).  Outbound peers are never evicted, nor is an
 *     inbound peer whose node id is one of the core's dial targets (the
 *     operator's peers: the simultaneous-dial rule may keep their
 *     connection to us rather than ours to them);
 *   - a peer we close with MISBEHAVIOUR, or with PROTOCOL after its
 *     handshake, has its address discouraged for discourage_us (24 h; a
 *     table of discourage_max addresses, the oldest dropped): while
 *     discouraged, a new inbound connection from it is accepted only when
 *     a slot is free, and it is the first evicted.
 * It
 * carries out the node core's DIALs (rumor_peers_dial: name lookup, then
 * connect), runs each connection through src/conn.h (libuv shell) and
 * net/session.h (handshake, hello, keep-alive, limits), and reports to the
 * core (cfg.core, net/core.h) every connection that reaches READY, every
 * message, every close and every dial that failed.  The node-wide rules
 * a session cannot see (a connection to ourselves, a second connection to
 * a node id, with the simultaneous-dial tie-break; redial backoff) are
 * the core's: it answers with CLOSE and DIAL actions, which the node
 * carries out through rumor_peer_close and rumor_peers_dial.
 *
 * Log lines (src/log.h; functional tests read them):
 *   notice  "p2p: listening on HOST:PORT" | "p2p: not listening"
 *   info    "peer connected: NODEID ADDR inbound|outbound"
 *   info    "peer disconnected: NODEID ADDR: REASON"   (NODEID "-" unless
 *           the session reached READY; " (by the peer)" follows REASON when
 *           the peer sent disconnect or hung up)
 *   warn    "peer at HOST:PORT proved node id X, expected Y"
 *   info    "p2p: refusing ADDR: WHY (N more refused since the last line)"
 *           (at accept; at most one line per 10 s, the rest at debug)
 *   info    "p2p: refusing NODEID ADDR: inbound slots full (N) and ..."
 *   info    "p2p: evicting NODEID ADDR[, discouraged address] (network
 *           group G, N inbound peers) to make room for NODEID ADDR"
 *   info    "p2p: discouraging IP for N s: REASON"
 *   info    "p2p: accepting ADDR from a discouraged address: ..."
 *           (these four: at info at most once a second, the rest at debug)
 *
 * Ownership: rumor_peers_start copies the config (the connect targets
 * too) except network and identity_secret, which are borrowed and must
 * outlive the manager.  The manager owns its connections; struct
 * rumor_peer pointers handed to callbacks are borrowed for the call.
 * rumor_peers_close frees the manager itself once everything is closed,
 * then calls done (the manager must not be used after close).
 *
 * Errors: rumor_peers_start returns 0 or -1 with a message in err (nothing
 * left open).  rumor_peer_send returns the codes of rumor_io_conn_send.
 */
#ifndef RUMOR_SRC_PEERS_H
#define RUMOR_SRC_PEERS_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "crypto/item.h"
#include "net/core.h"
#include "net/message.h"
#include "net/session.h"
#include "src/options.h"
#include "src/resolver.h"

struct rumor_peers;
struct rumor_peer;

/* An inbound handshake's deadline (outbound ones keep the session's 10 s). */
#define RUMOR_PEERS_INBOUND_HANDSHAKE_US (5ull * 1000000)
/* How long an address that broke a rule stays discouraged, and how many
 * addresses are remembered. */
#define RUMOR_PEERS_DISCOURAGE_US (24ull * 3600 * 1000000)
#define RUMOR_PEERS_DISCOURAGE_MAX 1024

/* Hooks for the layers above (tests, logs).  peer is borrowed for the call.
 * on_ready: a connection passed the handshake and hello and the core kept
 * it (not self, not a duplicate).  on_message: a message from such a peer (not hello,
 * ping or pong; msg borrowed for the call).  on_closed: a connection whose
 * handshake had started is over; was_ready says whether on_ready ran for
 * it (rumor_peer_id is valid only then). */
typedef void (*rumor_peers_ready_fn)(void *arg, struct rumor_peer *peer);
typedef void (*rumor_peers_message_fn)(void *arg, struct rumor_peer *peer,
				       const struct rumor_msg *msg);
typedef void (*rumor_peers_closed_fn)(void *arg, struct rumor_peer *peer, int was_ready,
				      const char *reason);

struct rumor_peers_config {
	const struct rumor_network *network; /* borrowed */
	const uint8_t *identity_secret;      /* borrowed: 64-byte Ed25519 secret */
	int listen;
	int listen_required;     /* a listen failure is an error (else a warning) */
	char listen_host[64];    /* numeric */
	int listen_port;         /* 0: any free port */
	int has_psk;
	uint8_t psk[32];
	unsigned max_inbound;     /* peers past the handshake (0: none) */
	unsigned max_handshakes;  /* inbound connections in the handshake */
	unsigned max_handshakes_per_netgroup;
	int loopback_netgroups;   /* test-only: 127.a.0.0/16 each a group */
	uint64_t inbound_handshake_timeout_us; /* RUMOR_PEERS_INBOUND_HANDSHAKE_US */
	uint64_t discourage_us;   /* RUMOR_PEERS_DISCOURAGE_US */
	size_t discourage_max;    /* RUMOR_PEERS_DISCOURAGE_MAX */
	uint64_t best_height;
	uint64_t hello_nonce;     /* this node's (the core's self-connection rule) */
	struct rumor_core *core;  /* borrowed: told of every READY, message, close */
	void (*kick)(void *hook_arg); /* the core was fed: drain it this turn */
	struct rumor_session_limits limits; /* rumor_session_limits_default() */
	rumor_peers_ready_fn on_ready;      /* each hook may be NULL */
	rumor_peers_message_fn on_message;  /* NULL: messages are logged and dropped */
	rumor_peers_closed_fn on_closed;
	void *hook_arg;
	rumor_getaddrinfo_fn getaddrinfo; /* NULL: the system's (tests put a stand-in here) */
};

/* Defaults for everything but network, identity_secret, hello_nonce and
 * core: not listening, 64 inbound peers, 16 handshakes (4 per network
 * group), session defaults. */
void rumor_peers_config_default(struct rumor_peers_config *cfg);
/* From rumord's options. */
void rumor_peers_config_from_options(struct rumor_peers_config *cfg,
				     const struct rumor_config *opts);

/* Generates the Noise static key and listens.  Logs "p2p: listening on
 * ..." (notice).  Returns 0 or -1. */
int rumor_peers_start(struct rumor_peers **out, uv_loop_t *loop,
		      const struct rumor_peers_config *cfg, char *err, size_t errlen);
/* Stops: closes the listener, sends disconnect(SHUTDOWN)
 * to every peer that is up, flushes best effort (at most RUMOR_IO_LINGER_MS),
 * closes everything, frees the manager, then calls done(arg).  Name lookups
 * still running are not waited for (src/resolver.h). */
void rumor_peers_close(struct rumor_peers *peers, void (*done)(void *arg), void *arg);

/* The port actually listened on (0 when not listening). */
int rumor_peers_listen_port(const struct rumor_peers *peers);
/* Connections in READY. */
size_t rumor_peers_ready_count(const struct rumor_peers *peers);

/* The inbound slots (getinfo's "inbound" object, metrics). */
struct rumor_peers_inbound_stats {
	size_t ready_inbound;         /* inbound peers past the handshake */
	size_t handshakes;            /* inbound connections in the handshake */
	size_t discouraged;           /* addresses discouraged now */
	uint64_t discouraged_total;   /* addresses discouraged since start */
	uint64_t evicted;             /* peers evicted for a newcomer */
	uint64_t refused_at_accept;   /* handshake slots full, or discouraged when full */
	uint64_t refused_full;        /* at READY: full, nobody to evict */
	uint64_t refused_discouraged; /* at READY: full, newcomer discouraged */
};
void rumor_peers_inbound_stats(const struct rumor_peers *peers,
			       struct rumor_peers_inbound_stats *out);

/* One READY connection, for getpeerinfo.  Strings and stats are borrowed
 * until the loop runs again. */
struct rumor_peer_info {
	struct rumor_peer *peer;
	const uint8_t *node_id;  /* 32 bytes */
	const char *addr;        /* "IP:PORT" */
	int inbound;
	uint32_t version;
	const uint8_t *user_agent; /* UTF-8, not NUL-terminated */
	size_t user_agent_len;
	const struct rumor_session_stats *stats;
	int64_t conn_since_us;   /* Unix time when it became READY */
	const char *netgroup;    /* "1.2.0.0/16", "2001:db8::/32", "loopback" */
	int discouraged;         /* inbound from a discouraged address */
};
/* Calls fn for every READY connection, oldest first. */
void rumor_peers_foreach(struct rumor_peers *peers,
			 void (*fn)(void *arg, const struct rumor_peer_info *info), void *arg);

/* The peer's id (32 bytes, once READY), its direction and address, its
 * handle in the core (RUMOR_CORE_NO_PEER when not READY), and sending to
 * it. */
rumor_core_peer rumor_peer_handle_of(const struct rumor_peer *peer);
const uint8_t *rumor_peer_id(const struct rumor_peer *peer);
int rumor_peer_inbound(const struct rumor_peer *peer);
const char *rumor_peer_addr(const struct rumor_peer *peer);
int rumor_peer_send(struct rumor_peer *peer, const struct rumor_msg *msg);

/* The core's READ_PAUSE / READ_RESUME: stops or restarts reading the
 * peer's socket (src/conn.h rumor_io_conn_read_pause). */
void rumor_peer_read_pause(struct rumor_peer *peer, int pause);

/* Closes a connection (a READY one is sent disconnect(code, reason) first).
 * Idempotent.  The on_closed hook runs at once, from this call; the memory
 * goes later (never inside the connection's own callback). */
void rumor_peer_close(struct rumor_peer *peer, enum rumor_disconnect_code code,
		      const char *reason);
/* Wire bytes (and messages) of every connection since start, over and
 * still open, summed (ping_us is -1): getrelayinfo's totals. */
void rumor_peers_wire_totals(const struct rumor_peers *peers, struct rumor_session_stats *out);

/* Carries out the core's DIAL of target: resolves addr's host if it is a
 * name, connects, and runs the handshake (expecting addr's id when it has
 * one).  The outcome goes to the core: peer_ready (with the target) or
 * dial_failed.  Ignored while closing. */
void rumor_peers_dial(struct rumor_peers *peers, rumor_core_target target,
		      const struct rumor_core_addr *addr);

/* Stops a dial of target still under way (addnode remove): a name lookup
 * is cancelled, a connection not yet READY is closed with disconnect
 * REQUESTED; neither is reported to the core. */
void rumor_peers_cancel_dial(struct rumor_peers *peers, rumor_core_target target);

/* The node's peer manager (defined in src/node.c; NULL when not running or
 * once shut down). */
struct rumor_node;
struct rumor_peers *rumor_node_peers(struct rumor_node *node);

#endif
