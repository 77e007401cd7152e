/*
 * net/session.h: one peer connection's protocol state machine, sans-IO.
 *
 * It takes received bytes and the time in, and hands back bytes to send,
 * events and the next deadline.  It never touches sockets, clocks, the
 * random source or the store: the caller (the io shell) supplies the time
 * (now_us, microseconds, any monotonic origin) and the random keys.
 *
 * States:
 *
 *   HANDSHAKE --Noise XX done, identity proven--> AWAIT_HELLO
 *   AWAIT_HELLO --peer's hello received and valid--> READY (event READY)
 *   any --error, timeout, peer's disconnect, rumor_session_close--> CLOSED
 *
 * Wire (doc/protocol.md, "Transport"):
 *  - Prologue: the 10 ASCII bytes "rumor/p2p\0" || protocol version (u32
 *    LE) || network id (32 bytes, crypto/item.h), so a node of another
 *    network or version fails the handshake itself.
 *  - Handshake: Noise_XX_25519_ChaChaPoly_SHA256, or
 *    Noise_XXpsk3_25519_ChaChaPoly_SHA256 when the network has a PSK.  Each
 *    handshake message travels as u16 LE length || Noise message.
 *    Message 1 (-> e) has an empty payload; message 2 (<- e, ee, s, es)
 *    carries the responder's identity proof, message 3 (-> s, se) the
 *    initiator's.
 *  - Identity proof (96 bytes): node_id (Ed25519 public key, 32) ||
 *    Ed25519 signature (64) by that key over
 *    "rumor/identity/v1" (17 ASCII bytes) || network id (32) || the
 *    sender's Noise static public key (32).
 *    The receiver checks the signature against the Noise static key the
 *    handshake authenticated; with an expected id, the id must match too.
 *  - Then frames (net/frame.h) carrying messages (net/message.h).  The first
 *    message each way is hello; anything else first is a protocol error.
 *
 * Limits (all in struct rumor_session_limits): handshake + hello must finish
 * within handshake_timeout_us (10 s); at most pre_handshake_budget bytes are
 * accepted before the handshake completes; a ping is sent every
 * ping_interval_us (60 s); no message for idle_timeout_us (180 s) closes the
 * session; queued output above output_hard_limit closes the session (a peer
 * that stops reading cannot grow our memory).  Input is bounded by the
 * frame decoder (one frame plus one reassembled message, <= 4 MiB + 1 KiB).
 *
 * Hello checks: version == RUMOR_PROTOCOL_VERSION (else disconnect code
 * VERSION), network name == ours, printable user agent (else PROTOCOL).
 * The self-connection check (remote hello nonce == ours: close with code
 * SELF) is left to the node, which gets READY and the remote hello first.
 * Once READY, hello/ping/pong are handled inside, unknown optional types
 * are skipped, and every other message is an EV_MESSAGE.
 *
 * Secrets: rumor_session_new copies the static, ephemeral and psk keys into
 * the Noise state and signs the identity proof at once; the caller should
 * wipe its config copy afterwards.  Keys are wiped at the split (handshake
 * secrets) and when the session closes (transport keys).
 *
 * Errors: functions return 0 or a negative errno as documented; a remote
 * party's misbehaviour is never an error return but a CLOSED event with a
 * reason string.
 */
#ifndef RUMOR_NET_SESSION_H
#define RUMOR_NET_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/item.h"
#include "crypto/noise.h"
#include "net/frame.h"
#include "net/message.h"

#define RUMOR_PROTOCOL_VERSION 1u
#define RUMOR_IDENTITY_PROOF_SIZE 96
#define RUMOR_SESSION_USER_AGENT "rumor/0.1.0"

/* disconnect message codes */
enum rumor_disconnect_code {
	RUMOR_DISCONNECT_NONE = 0,
	RUMOR_DISCONNECT_SHUTDOWN = 1,     /* node stopping */
	RUMOR_DISCONNECT_PROTOCOL = 2,     /* malformed or unexpected message */
	RUMOR_DISCONNECT_TIMEOUT = 3,      /* handshake or idle timeout */
	RUMOR_DISCONNECT_SELF = 4,         /* connected to ourselves */
	RUMOR_DISCONNECT_DUPLICATE = 5,    /* already connected to this node */
	RUMOR_DISCONNECT_TOO_MANY = 6,     /* no free slot */
	RUMOR_DISCONNECT_VERSION = 7,      /* incompatible protocol version */
	RUMOR_DISCONNECT_MISBEHAVIOUR = 8, /* invalid item, unrequested data, limits */
	RUMOR_DISCONNECT_REQUESTED = 9,    /* operator asked (disconnectnode) */
};

enum rumor_session_state {
	RUMOR_SESSION_HANDSHAKE = 0,
	RUMOR_SESSION_AWAIT_HELLO,
	RUMOR_SESSION_READY,
	RUMOR_SESSION_CLOSED,
};

struct rumor_session_limits {
	uint64_t handshake_timeout_us; /* default 10 s: until READY */
	size_t pre_handshake_budget;   /* default 4096: bytes accepted before the handshake is done */
	uint64_t ping_interval_us;     /* default 60 s */
	uint64_t idle_timeout_us;      /* default 180 s without any received message */
	size_t output_hard_limit;      /* default 16 MiB of queued output */
};
void rumor_session_limits_default(struct rumor_session_limits *limits);

/* Everything a session needs, supplied by the caller (nothing is read from
 * the environment).  Pointers are borrowed and must outlive the session. */
struct rumor_session_config {
	int initiator;
	const struct rumor_network *network;
	const uint8_t *identity_secret;   /* 64-byte Ed25519 secret of this node */
	uint8_t noise_static_priv[32];    /* this node's X25519 static key */
	uint8_t ephemeral_priv[32];       /* fresh random X25519 key for this session */
	int has_psk;
	uint8_t psk[32];
	int has_expected_id;              /* initiator dialing NODEID@HOST:PORT */
	uint8_t expected_id[32];
	/* our hello; timestamp is set from now_us/1e6 + clock_offset_s when sent */
	uint64_t services;
	uint64_t best_height;
	uint16_t listen_port;
	uint64_t hello_nonce;             /* the node's self-connection nonce */
	int64_t wall_clock_offset_s;      /* now_us/1e6 + this = Unix time */
	struct rumor_session_limits limits;
};

/* Wire bytes by message type, for getpeerinfo/getrelayinfo.  Index 0 counts
 * the handshake, index T counts message type T (1..RUMOR_MSG_TYPE_LAST);
 * framing and encryption overhead is included in the message's count. */
#define RUMOR_SESSION_STAT_SLOTS (RUMOR_MSG_TYPE_LAST + 1)
struct rumor_session_stats {
	uint64_t bytes_sent, bytes_recv;
	uint64_t sent_by_type[RUMOR_SESSION_STAT_SLOTS];
	uint64_t recv_by_type[RUMOR_SESSION_STAT_SLOTS];
	uint64_t msgs_sent, msgs_recv;
	int64_t ping_us; /* last measured round trip, -1 before the first pong */
};

enum rumor_session_event_type {
	RUMOR_SESSION_EV_NONE = 0,
	RUMOR_SESSION_EV_READY,   /* hello exchanged: remote id and hello valid */
	RUMOR_SESSION_EV_MESSAGE, /* a message for the caller (not hello/ping/pong) */
	RUMOR_SESSION_EV_CLOSED,  /* the session is over; reason says why */
};

struct rumor_session_event {
	enum rumor_session_event_type type;
	const struct rumor_msg *msg; /* EV_MESSAGE: borrowed until the next call */
	const char *reason;          /* EV_CLOSED: static or session-owned text */
	int remote_initiated;        /* EV_CLOSED: the peer sent disconnect */
	uint16_t code;               /* EV_CLOSED: the disconnect code sent (ours) or
				      * received (remote_initiated); 0 when none was
				      * sent (handshake failure, output over the limit) */
};

struct rumor_session; /* opaque; see session.c */

/* Allocates and starts a session.  An initiator queues handshake message 1
 * at once.  Returns 0, -EINVAL (bad config) or -ENOMEM. */
int rumor_session_new(struct rumor_session **out, const struct rumor_session_config *cfg,
		      uint64_t now_us);
void rumor_session_del(struct rumor_session *s);

/* Feeds received bytes.  Consumes a prefix of in (*consumed) and reports at
 * most one event; call again with the rest until *consumed == len and the
 * event is NONE.  After CLOSED, everything is consumed and ignored. */
void rumor_session_recv(struct rumor_session *s, const uint8_t *in, size_t len, uint64_t now_us,
			size_t *consumed, struct rumor_session_event *ev);

/* Queues a message (only in READY).  Returns 0; -EPROTO when not READY;
 * -EINVAL when it does not encode, or is a hello or disconnect (the
 * session's own: use rumor_session_close); -ENOMEM; -ENOBUFS when the output
 * queue would pass the hard limit: the session is then CLOSED (poll the
 * event with rumor_session_handle_expiry -- rumor_session_expiry() returns 0
 * while it is pending -- or treat the return as the close).  Wire bytes are
 * counted in the stats when queued. */
int rumor_session_send(struct rumor_session *s, const struct rumor_msg *msg, uint64_t now_us);

/* Bytes waiting to be written: *data points at them (valid until the next
 * call on s).  Returns the count; 0 when nothing is queued. */
size_t rumor_session_output(struct rumor_session *s, const uint8_t **data);
/* The caller wrote n bytes of the output (n <= the count returned). */
void rumor_session_output_consumed(struct rumor_session *s, size_t n);

/* The next time handle_expiry wants to run (UINT64_MAX: none). */
uint64_t rumor_session_expiry(const struct rumor_session *s);
/* Runs timers: sends pings, closes on handshake or idle timeout (ev CLOSED). */
void rumor_session_handle_expiry(struct rumor_session *s, uint64_t now_us,
				 struct rumor_session_event *ev);

/* Closes from our side: queues a disconnect message (when the transport is
 * up, i.e. AWAIT_HELLO or READY: our hello has already been queued) so the
 * caller can flush it, then the state is CLOSED and the keys are wiped.  No
 * CLOSED event follows (the caller knows).  reason is copied; the peer sees
 * at most its first 256 bytes. */
void rumor_session_close(struct rumor_session *s, enum rumor_disconnect_code code,
			 const char *reason);

enum rumor_session_state rumor_session_state(const struct rumor_session *s);
/* The peer's authenticated node id; NULL before the handshake proves it. */
const uint8_t *rumor_session_remote_id(const struct rumor_session *s);
/* The peer's hello; NULL before READY.  Strings borrow session memory. */
const struct rumor_msg_hello *rumor_session_remote_hello(const struct rumor_session *s);
const struct rumor_session_stats *rumor_session_stats(const struct rumor_session *s);
/* 1 when the session closed because a handshake message (2 or 3) failed
 * to authenticate: the peer is on another network or uses another PSK (or
 * sent a corrupt message).  The close reason then says so. */
int rumor_session_handshake_mismatch(const struct rumor_session *s);
/* Why the session closed (NULL while open). */
const char *rumor_session_close_reason(const struct rumor_session *s);

#endif
