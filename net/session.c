/*
 * net/session.c: one peer connection's protocol state machine (sans-IO).
 * The wire format, the states, the limits and the errors are specified in
 * net/session.h and doc/protocol.md ("Transport"); this file implements
 * them.
 *
 * Inside the session:
 *
 *   HANDSHAKE     input is parsed as u16 LE length || Noise message into a
 *                 buffer of at most pre_handshake_budget bytes; the Noise
 *                 state (crypto/noise.h) decides whose turn it is.  After
 *                 the last message: split, frame encoder/decoder set up,
 *                 our hello queued, state AWAIT_HELLO.
 *   AWAIT_HELLO   the frame decoder yields messages; the first must be
 *                 hello (a disconnect is accepted too, so the peer can say
 *                 why it leaves); then READY.
 *   READY         hello/ping/pong handled here, every other message handed
 *                 up as EV_MESSAGE.
 *   CLOSED        secrets wiped, decoder memory released; only the output
 *                 queue remains so the caller can flush a disconnect.
 *
 * A close that happens outside recv/handle_expiry (a send over the output
 * hard limit) leaves a pending CLOSED event: rumor_session_expiry() then
 * returns 0 and the next recv or handle_expiry reports it.
 *
 * Memory a remote party can make us hold: the handshake buffer
 * (min(pre_handshake_budget, 2 + 65535) bytes, freed at split), the frame
 * decoder (one frame and one reassembled message, bounded in net/frame.h),
 * the output queue (output_hard_limit; pongs count against it), and the
 * copied hello strings (fixed arrays).
 */
#include "net/session.h"

#include <assert.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "crypto/hex.h"
#include "crypto/sign.h"

#define PROLOGUE_TAG "rumor/p2p"
#define PROLOGUE_TAG_SIZE 10 /* with its NUL */
#define PROLOGUE_SIZE (PROLOGUE_TAG_SIZE + 4 + 32)
#define IDENTITY_TAG "rumor/identity/v1"
#define IDENTITY_TAG_SIZE 17
#define IDENTITY_SIGNED_SIZE (IDENTITY_TAG_SIZE + 32 + RUMOR_NOISE_DH_SIZE)
#define HANDSHAKE_LEN_SIZE 2
/* The largest Noise handshake message we write: message 2, e (32) ||
 * encrypted s (48) || encrypted proof (96 + 16). */
#define HANDSHAKE_OUT_MAX (32 + 48 + RUMOR_IDENTITY_PROOF_SIZE + RUMOR_NOISE_TAG_SIZE)
#define REASON_SIZE 320
/* Output buffer kept after it drains; larger ones are released. */
#define OUTPUT_KEEP (256u * 1024u)
/* Messages up to this size are encoded on the stack. */
#define SMALL_MSG 1024u

_Static_assert(sizeof(PROLOGUE_TAG) == PROLOGUE_TAG_SIZE, "prologue tag with its NUL");
_Static_assert(sizeof(IDENTITY_TAG) - 1 == IDENTITY_TAG_SIZE, "identity tag");
_Static_assert(RUMOR_IDENTITY_PROOF_SIZE == 32 + 64, "proof = node id || signature");

struct rumor_session {
	enum rumor_session_state state;
	int initiator;
	const struct rumor_network *network;
	struct rumor_session_limits limits;
	uint64_t services, best_height, hello_nonce;
	uint16_t listen_port;
	int64_t wall_clock_offset_s;
	int has_expected_id;
	uint8_t expected_id[32];
	int handshake_mismatch; /* a handshake message failed to authenticate */

	/* handshake */
	struct rumor_noise_handshake hs;
	uint8_t proof[RUMOR_IDENTITY_PROOF_SIZE]; /* ours, signed at creation */
	uint8_t *hbuf;                            /* u16 length || message being read */
	size_t hbuf_cap, hbuf_have;
	size_t hbuf_wipe; /* the most of hbuf ever filled: what is wiped at the end */
	size_t handshake_in; /* bytes consumed before the handshake completed */
	unsigned int handshake_read; /* handshake messages read so far */
	uint64_t created_us;

	/* peer */
	int has_remote_id;
	uint8_t remote_id[32];
	int has_remote_hello;
	struct rumor_msg_hello remote_hello;
	char remote_network[RUMOR_MSG_NETWORK_MAX];
	char remote_user_agent[RUMOR_MSG_USER_AGENT_MAX];

	/* transport */
	int transport_up;
	struct rumor_frame_encoder enc;
	struct rumor_frame_decoder dec;
	struct rumor_msg msg; /* the last EV_MESSAGE, borrowing from dec */

	/* timers */
	uint64_t last_recv_us;
	uint64_t next_ping_us;
	uint64_t ping_counter;
	int ping_outstanding;
	uint64_t ping_nonce, ping_sent_us;

	/* output queue: out[out_off..out_len) waits to be written */
	uint8_t *out;
	size_t out_off, out_len, out_cap;

	struct rumor_session_stats stats;

	/* closing */
	int close_pending; /* a CLOSED event not reported yet */
	int remote_initiated;
	uint16_t close_code;
	char reason[REASON_SIZE];
};

void rumor_session_limits_default(struct rumor_session_limits *limits)
{
	limits->handshake_timeout_us = UINT64_C(10) * 1000000;
	limits->pre_handshake_budget = 4096;
	limits->ping_interval_us = UINT64_C(60) * 1000000;
	limits->idle_timeout_us = UINT64_C(180) * 1000000;
	limits->output_hard_limit = 16u * 1024u * 1024u;
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

static void put_u32le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* "rumor/p2p\0" || version u32 LE || network id. */
static void build_prologue(uint8_t out[PROLOGUE_SIZE], const struct rumor_network *net)
{
	memcpy(out, PROLOGUE_TAG, PROLOGUE_TAG_SIZE);
	put_u32le(out + PROLOGUE_TAG_SIZE, RUMOR_PROTOCOL_VERSION);
	memcpy(out + PROLOGUE_TAG_SIZE + 4, net->id, 32);
}

/* "rumor/identity/v1" || network id || Noise static public key. */
static void build_identity_message(uint8_t out[IDENTITY_SIGNED_SIZE],
				   const struct rumor_network *net, const uint8_t static_pub[32])
{
	memcpy(out, IDENTITY_TAG, IDENTITY_TAG_SIZE);
	memcpy(out + IDENTITY_TAG_SIZE, net->id, 32);
	memcpy(out + IDENTITY_TAG_SIZE + 32, static_pub, RUMOR_NOISE_DH_SIZE);
}

/* ---- output queue ---- */

static size_t output_pending(const struct rumor_session *s)
{
	return s->out_len - s->out_off;
}

/* Room for n more bytes at out + out_len.  -ENOBUFS over the hard limit
 * (nothing changes), -ENOMEM. */
static int output_reserve(struct rumor_session *s, size_t n)
{
	size_t need, cap;
	uint8_t *p;

	if (n > s->limits.output_hard_limit ||
	    output_pending(s) > s->limits.output_hard_limit - n)
		return -ENOBUFS;
	if (s->out_off > 0 && s->out_off == s->out_len) {
		s->out_off = s->out_len = 0;
	}
	if (s->out_cap - s->out_len >= n)
		return 0;
	if (s->out_off > 0) { /* compact before growing */
		memmove(s->out, s->out + s->out_off, output_pending(s));
		s->out_len -= s->out_off;
		s->out_off = 0;
		if (s->out_cap - s->out_len >= n)
			return 0;
	}
	need = s->out_len + n;
	cap = s->out_cap ? s->out_cap : 4096;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	p = realloc(s->out, cap);
	if (!p)
		return -ENOMEM;
	s->out = p;
	s->out_cap = cap;
	return 0;
}

/* ---- closing ---- */

static void release_crypto(struct rumor_session *s)
{
	rumor_noise_handshake_free(&s->hs);
	if (s->hbuf) {
		sodium_memzero(s->hbuf, s->hbuf_wipe);
		free(s->hbuf);
		s->hbuf = NULL;
		s->hbuf_cap = s->hbuf_have = s->hbuf_wipe = 0;
	}
	if (s->transport_up) {
		rumor_frame_encoder_free(&s->enc);
		rumor_frame_decoder_free(&s->dec);
		s->transport_up = 0;
	}
	sodium_memzero(s->proof, sizeof(s->proof));
}

static int queue_msg(struct rumor_session *s, const struct rumor_msg *m);

/* Printable ASCII copy of untrusted text (at most cap - 1 bytes). */
static void copy_printable(char *dst, size_t cap, const uint8_t *src, size_t len)
{
	size_t i;

	if (cap == 0)
		return;
	if (len > cap - 1)
		len = cap - 1;
	for (i = 0; i < len; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? (char)src[i] : '?';
	dst[len] = '\0';
}

/* The session is over: tell the peer why when the transport is up (code
 * NONE: do not), wipe the keys, keep the reason. */
static void do_close(struct rumor_session *s, uint16_t code, const char *reason, int remote,
		     int pending)
{
	if (s->state == RUMOR_SESSION_CLOSED)
		return;
	if (s->reason != reason)
		snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : "closed");
	if (s->transport_up && code != RUMOR_DISCONNECT_NONE && !remote) {
		struct rumor_msg m;
		size_t len = strlen(s->reason);

		memset(&m, 0, sizeof(m));
		m.type = RUMOR_MSG_DISCONNECT;
		m.u.disconnect.code = code;
		m.u.disconnect.reason.ptr = (const uint8_t *)s->reason;
		m.u.disconnect.reason.len =
			(uint16_t)(len > RUMOR_MSG_REASON_MAX ? RUMOR_MSG_REASON_MAX : len);
		/* best effort: a full queue means the peer is not reading anyway */
		(void)queue_msg(s, &m);
	}
	s->state = RUMOR_SESSION_CLOSED;
	s->close_code = code;
	s->remote_initiated = remote;
	s->close_pending = pending;
	release_crypto(s);
}

static void fail(struct rumor_session *s, uint16_t code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Bad remote input or a timeout: close and leave a pending CLOSED event. */
static void fail(struct rumor_session *s, uint16_t code, const char *fmt, ...)
{
	va_list ap;

	if (s->state == RUMOR_SESSION_CLOSED)
		return;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
	do_close(s, code, s->reason, 0, 1);
}

/* Reports the pending CLOSED event, if any, into ev. */
static int take_close_event(struct rumor_session *s, struct rumor_session_event *ev)
{
	if (s->state != RUMOR_SESSION_CLOSED || !s->close_pending)
		return 0;
	s->close_pending = 0;
	ev->type = RUMOR_SESSION_EV_CLOSED;
	ev->reason = s->reason;
	ev->remote_initiated = s->remote_initiated;
	ev->code = s->close_code;
	return 1;
}

/* ---- sending ---- */

/* Frames m onto the output queue.  0, -EINVAL, -ENOMEM, or -ENOBUFS (the
 * session is then closed with a pending event). */
static int queue_msg(struct rumor_session *s, const struct rumor_msg *m)
{
	uint8_t small[SMALL_MSG];
	uint8_t *plain = small;
	size_t size, wire, n, written;
	int rc;

	if (!s->transport_up)
		return -EPROTO;
	if (rumor_msg_encoded_size(m, &size) < 0 || size > RUMOR_FRAME_MESSAGE_MAX)
		return -EINVAL;
	wire = rumor_frame_encoded_size(size);
	rc = output_reserve(s, wire);
	if (rc == -ENOBUFS) {
		if (m->type != RUMOR_MSG_DISCONNECT)
			fail(s, RUMOR_DISCONNECT_NONE,
			     "output queue over its hard limit of %zu bytes (peer not reading)",
			     s->limits.output_hard_limit);
		return rc;
	}
	if (rc < 0)
		return rc;
	if (size > sizeof(small)) {
		plain = malloc(size);
		if (!plain)
			return -ENOMEM;
	}
	rc = rumor_msg_encode(m, plain, size, &n);
	if (rc == 0) {
		assert(n == size);
		rc = rumor_frame_encode(&s->enc, plain, n, s->out + s->out_len,
					s->out_cap - s->out_len, &written);
	}
	if (plain != small)
		free(plain);
	if (rc == -EOVERFLOW) {
		fail(s, RUMOR_DISCONNECT_NONE, "transport nonce exhausted");
		return rc;
	}
	if (rc < 0)
		return rc;
	assert(written == wire);
	s->out_len += written;
	s->stats.bytes_sent += written;
	if (m->type >= 1 && m->type <= RUMOR_MSG_TYPE_LAST)
		s->stats.sent_by_type[m->type] += written;
	s->stats.msgs_sent++;
	return 0;
}

static int queue_nonce_msg(struct rumor_session *s, uint16_t type, uint64_t nonce)
{
	struct rumor_msg m;

	memset(&m, 0, sizeof(m));
	m.type = type;
	if (type == RUMOR_MSG_PING)
		m.u.ping.nonce = nonce;
	else
		m.u.pong.nonce = nonce;
	return queue_msg(s, &m);
}

static int queue_hello(struct rumor_session *s, uint64_t now_us)
{
	struct rumor_msg m;
	int64_t t = (int64_t)(now_us / 1000000) + s->wall_clock_offset_s;

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_HELLO;
	m.u.hello.version = RUMOR_PROTOCOL_VERSION;
	m.u.hello.network.ptr = (const uint8_t *)s->network->name;
	m.u.hello.network.len = (uint16_t)strlen(s->network->name);
	m.u.hello.services = s->services;
	m.u.hello.best_height = s->best_height;
	m.u.hello.user_agent.ptr = (const uint8_t *)RUMOR_SESSION_USER_AGENT;
	m.u.hello.user_agent.len = (uint16_t)strlen(RUMOR_SESSION_USER_AGENT);
	m.u.hello.port = s->listen_port;
	m.u.hello.timestamp = t > 0 ? (uint64_t)t : 0;
	m.u.hello.nonce = s->hello_nonce;
	return queue_msg(s, &m);
}

/* ---- creation ---- */

int rumor_session_new(struct rumor_session **out, const struct rumor_session_config *cfg,
		      uint64_t now_us)
{
	struct rumor_session *s;
	uint8_t prologue[PROLOGUE_SIZE];
	uint8_t signed_msg[IDENTITY_SIGNED_SIZE];
	const struct rumor_session_limits *lim;
	int rc;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!cfg || !cfg->network || !cfg->identity_secret)
		return -EINVAL;
	lim = &cfg->limits;
	if (lim->handshake_timeout_us == 0 || lim->pre_handshake_budget < HANDSHAKE_LEN_SIZE ||
	    lim->ping_interval_us == 0 || lim->idle_timeout_us == 0 ||
	    lim->output_hard_limit == 0)
		return -EINVAL;
	if (strlen(cfg->network->name) == 0 || strlen(cfg->network->name) > RUMOR_MSG_NETWORK_MAX)
		return -EINVAL;

	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	s->state = RUMOR_SESSION_HANDSHAKE;
	s->initiator = cfg->initiator ? 1 : 0;
	s->network = cfg->network;
	s->limits = *lim;
	s->services = cfg->services;
	s->best_height = cfg->best_height;
	s->hello_nonce = cfg->hello_nonce;
	s->listen_port = cfg->listen_port;
	s->wall_clock_offset_s = cfg->wall_clock_offset_s;
	s->has_expected_id = cfg->has_expected_id ? 1 : 0;
	if (s->has_expected_id)
		memcpy(s->expected_id, cfg->expected_id, 32);
	s->created_us = now_us;
	s->last_recv_us = now_us;
	s->stats.ping_us = -1;

	s->hbuf_cap = lim->pre_handshake_budget < HANDSHAKE_LEN_SIZE + RUMOR_NOISE_MAX_MESSAGE
			      ? lim->pre_handshake_budget
			      : HANDSHAKE_LEN_SIZE + RUMOR_NOISE_MAX_MESSAGE;
	s->hbuf = malloc(s->hbuf_cap);
	if (!s->hbuf) {
		free(s);
		return -ENOMEM;
	}

	build_prologue(prologue, cfg->network);
	rc = rumor_noise_handshake_init(&s->hs, cfg->has_psk ? RUMOR_NOISE_XXPSK3 : RUMOR_NOISE_XX,
					s->initiator, prologue, sizeof(prologue),
					cfg->noise_static_priv, cfg->has_psk ? cfg->psk : NULL);
	if (rc == 0)
		rc = rumor_noise_handshake_set_ephemeral(&s->hs, cfg->ephemeral_priv);
	if (rc < 0) {
		rumor_session_del(s);
		return -EINVAL;
	}

	/* Our identity proof: node id || Sign(identity message). */
	build_identity_message(signed_msg, cfg->network, rumor_noise_handshake_local_static(&s->hs));
	memcpy(s->proof, cfg->identity_secret + 32, 32);
	rumor_sign(cfg->identity_secret, signed_msg, sizeof(signed_msg), s->proof + 32);

	if (s->initiator) {
		/* Message 1: "-> e" with an empty payload. */
		uint8_t msg[HANDSHAKE_OUT_MAX];
		size_t n;

		rc = rumor_noise_handshake_write(&s->hs, NULL, 0, msg, sizeof(msg), &n);
		if (rc == 0)
			rc = output_reserve(s, HANDSHAKE_LEN_SIZE + n);
		if (rc < 0) {
			rumor_session_del(s);
			return rc == -ENOMEM ? -ENOMEM : -EINVAL;
		}
		s->out[s->out_len] = (uint8_t)n;
		s->out[s->out_len + 1] = (uint8_t)(n >> 8);
		memcpy(s->out + s->out_len + HANDSHAKE_LEN_SIZE, msg, n);
		s->out_len += HANDSHAKE_LEN_SIZE + n;
		s->stats.bytes_sent += HANDSHAKE_LEN_SIZE + n;
		s->stats.sent_by_type[0] += HANDSHAKE_LEN_SIZE + n;
	}
	*out = s;
	return 0;
}

void rumor_session_del(struct rumor_session *s)
{
	if (!s)
		return;
	release_crypto(s);
	free(s->out);
	sodium_memzero(s, sizeof(*s));
	free(s);
}

/* ---- handshake ---- */

/* Checks the peer's identity proof against the Noise static key that the
 * handshake authenticated.  NULL, or a reason (possibly written to buf). */
static const char *check_proof(struct rumor_session *s, const uint8_t *proof, size_t len,
			       char *buf, size_t cap)
{
	uint8_t signed_msg[IDENTITY_SIGNED_SIZE];
	const uint8_t *rs = rumor_noise_handshake_remote_static(&s->hs);

	if (len != RUMOR_IDENTITY_PROOF_SIZE || !rs)
		return "handshake: identity proof is not 96 bytes";
	build_identity_message(signed_msg, s->network, rs);
	if (rumor_sign_verify(proof, signed_msg, sizeof(signed_msg), proof + 32) != 0)
		return "handshake: identity proof signature does not verify";
	if (s->has_expected_id && sodium_memcmp(proof, s->expected_id, 32) != 0) {
		char got[65], want[65];

		rumor_hex_encode(proof, 32, got);
		rumor_hex_encode(s->expected_id, 32, want);
		snprintf(buf, cap, "peer proved node id %s, expected node id %s", got, want);
		return buf;
	}
	memcpy(s->remote_id, proof, 32);
	s->has_remote_id = 1;
	return NULL;
}

/* Writes our next handshake message (carrying our proof: messages 2 and 3). */
static int write_handshake(struct rumor_session *s)
{
	uint8_t msg[HANDSHAKE_OUT_MAX];
	size_t n;
	int rc;

	rc = rumor_noise_handshake_write(&s->hs, s->proof, sizeof(s->proof), msg, sizeof(msg), &n);
	if (rc < 0) {
		fail(s, RUMOR_DISCONNECT_NONE, "handshake: %s", rumor_noise_handshake_reason(&s->hs));
		return rc;
	}
	rc = output_reserve(s, HANDSHAKE_LEN_SIZE + n);
	if (rc < 0) {
		fail(s, RUMOR_DISCONNECT_NONE, "handshake: cannot queue output (%d)", rc);
		return rc;
	}
	s->out[s->out_len] = (uint8_t)n;
	s->out[s->out_len + 1] = (uint8_t)(n >> 8);
	memcpy(s->out + s->out_len + HANDSHAKE_LEN_SIZE, msg, n);
	s->out_len += HANDSHAKE_LEN_SIZE + n;
	s->stats.bytes_sent += HANDSHAKE_LEN_SIZE + n;
	s->stats.sent_by_type[0] += HANDSHAKE_LEN_SIZE + n;
	return 0;
}

/* Handshake finished: transport ciphers, then our hello. */
static void start_transport(struct rumor_session *s, uint64_t now_us)
{
	struct rumor_noise_cipher send, recv;
	int rc;

	rc = rumor_noise_handshake_split(&s->hs, &send, &recv);
	if (rc == 0) {
		rc = rumor_frame_encoder_init(&s->enc, &send, RUMOR_FRAME_REKEY_INTERVAL);
		if (rc == 0) {
			rc = rumor_frame_decoder_init(&s->dec, &recv, RUMOR_FRAME_REKEY_INTERVAL);
			if (rc < 0)
				rumor_frame_encoder_free(&s->enc);
		}
	}
	rumor_noise_cipher_free(&send);
	rumor_noise_cipher_free(&recv);
	if (rc < 0) {
		fail(s, RUMOR_DISCONNECT_NONE, "cannot start the transport (%d)", rc);
		return;
	}
	s->transport_up = 1;
	sodium_memzero(s->hbuf, s->hbuf_wipe);
	free(s->hbuf);
	s->hbuf = NULL;
	s->hbuf_cap = s->hbuf_have = s->hbuf_wipe = 0;
	sodium_memzero(s->proof, sizeof(s->proof));
	s->state = RUMOR_SESSION_AWAIT_HELLO;
	rc = queue_hello(s, now_us);
	if (rc < 0 && s->state != RUMOR_SESSION_CLOSED)
		fail(s, RUMOR_DISCONNECT_NONE, "cannot queue hello (%d)", rc);
}

/* One whole handshake message from the peer. */
static void handle_handshake_message(struct rumor_session *s, const uint8_t *msg, size_t len,
				     uint64_t now_us)
{
	uint8_t payload[RUMOR_IDENTITY_PROOF_SIZE];
	size_t plen = 0;
	const char *why;
	char buf[REASON_SIZE];
	/* Message 1 (read by the responder) carries no payload. */
	int first = !s->initiator && s->handshake_read == 0;
	int rc;

	s->handshake_read++;

	rc = rumor_noise_handshake_read(&s->hs, msg, len, first ? NULL : payload,
					first ? 0 : sizeof(payload), &plen);
	if (rc == -EBADMSG && !first) {
		/* Messages 2 and 3 are encrypted under keys that mix in the
		 * network name (prologue) and the PSK: a peer on another network
		 * or with another key fails here, and so does a corrupt message. */
		s->handshake_mismatch = 1;
		fail(s, RUMOR_DISCONNECT_NONE,
		     "handshake: the peer uses a different network or PSK (%s)",
		     rumor_noise_handshake_reason(&s->hs));
		return;
	}
	if (rc < 0) {
		fail(s, RUMOR_DISCONNECT_NONE, "handshake: %s%s",
		     rumor_noise_handshake_reason(&s->hs),
		     rc == -ENOBUFS ? " (payload too long)" : "");
		return;
	}
	if (first) {
		assert(plen == 0);
		write_handshake(s); /* message 2 with our proof */
		return;
	}
	why = check_proof(s, payload, plen, buf, sizeof(buf));
	if (why) {
		fail(s, RUMOR_DISCONNECT_NONE, "%s", why);
		return;
	}
	if (rumor_noise_handshake_want_write(&s->hs) && write_handshake(s) < 0)
		return; /* message 3 */
	if (rumor_noise_handshake_finished(&s->hs))
		start_transport(s, now_us);
	else
		fail(s, RUMOR_DISCONNECT_NONE, "handshake: unexpected state");
}

/* Consumes handshake bytes; returns how many. */
static size_t handshake_recv(struct rumor_session *s, const uint8_t *in, size_t len,
			     uint64_t now_us)
{
	size_t used = 0;

	while (used < len && s->state == RUMOR_SESSION_HANDSHAKE) {
		size_t want, take;

		if (s->handshake_in >= s->limits.pre_handshake_budget) {
			fail(s, RUMOR_DISCONNECT_NONE,
			     "pre-handshake byte budget of %zu bytes exceeded",
			     s->limits.pre_handshake_budget);
			break;
		}
		if (s->hbuf_have < HANDSHAKE_LEN_SIZE)
			want = HANDSHAKE_LEN_SIZE;
		else
			want = HANDSHAKE_LEN_SIZE + ((size_t)s->hbuf[0] | (size_t)s->hbuf[1] << 8);
		take = want - s->hbuf_have;
		if (take > len - used)
			take = len - used;
		memcpy(s->hbuf + s->hbuf_have, in + used, take);
		s->hbuf_have += take;
		if (s->hbuf_have > s->hbuf_wipe)
			s->hbuf_wipe = s->hbuf_have;
		used += take;
		s->handshake_in += take;
		s->stats.bytes_recv += take;
		s->stats.recv_by_type[0] += take;
		if (s->hbuf_have == HANDSHAKE_LEN_SIZE) {
			size_t mlen = (size_t)s->hbuf[0] | (size_t)s->hbuf[1] << 8;

			/* The whole message must fit in what is left of the budget. */
			if (mlen == 0) {
				fail(s, RUMOR_DISCONNECT_NONE, "handshake: empty message");
				break;
			}
			if (mlen > s->limits.pre_handshake_budget - s->handshake_in) {
				fail(s, RUMOR_DISCONNECT_NONE,
				     "pre-handshake byte budget of %zu bytes exceeded "
				     "(handshake message of %zu bytes announced)",
				     s->limits.pre_handshake_budget, mlen);
				break;
			}
			continue;
		}
		if (s->hbuf_have > HANDSHAKE_LEN_SIZE && s->hbuf_have == want) {
			s->hbuf_have = 0;
			handle_handshake_message(s, s->hbuf + HANDSHAKE_LEN_SIZE,
						 want - HANDSHAKE_LEN_SIZE, now_us);
		}
	}
	return used;
}

/* ---- messages ---- */

static int printable(const struct rumor_msg_string *str)
{
	uint16_t i;

	for (i = 0; i < str->len; i++)
		if (str->ptr[i] < 0x20 || str->ptr[i] > 0x7e)
			return 0;
	return 1;
}

/* The peer's hello; 1 when it is valid (state READY). */
static int handle_hello(struct rumor_session *s, const struct rumor_msg_hello *h, uint64_t now_us)
{
	size_t nlen = strlen(s->network->name);

	if (h->version != RUMOR_PROTOCOL_VERSION) {
		fail(s, RUMOR_DISCONNECT_VERSION, "protocol version %u not supported (we speak %u)",
		     h->version, RUMOR_PROTOCOL_VERSION);
		return 0;
	}
	if (h->network.len != nlen || memcmp(h->network.ptr, s->network->name, nlen) != 0) {
		char name[RUMOR_MSG_NETWORK_MAX + 1];

		copy_printable(name, sizeof(name), h->network.ptr, h->network.len);
		fail(s, RUMOR_DISCONNECT_PROTOCOL, "hello for network \"%s\", we are on \"%s\"",
		     name, s->network->name);
		return 0;
	}
	if (!printable(&h->user_agent)) {
		fail(s, RUMOR_DISCONNECT_PROTOCOL, "hello user agent is not printable ASCII");
		return 0;
	}
	/* A nonce equal to ours (a self-connection) is the node's to judge: it
	 * knows more (the address to stop dialling) and closes with code SELF. */
	assert(h->network.len <= sizeof(s->remote_network));
	assert(h->user_agent.len <= sizeof(s->remote_user_agent));
	s->remote_hello = *h;
	if (h->network.len)
		memcpy(s->remote_network, h->network.ptr, h->network.len);
	if (h->user_agent.len)
		memcpy(s->remote_user_agent, h->user_agent.ptr, h->user_agent.len);
	s->remote_hello.network.ptr = (const uint8_t *)s->remote_network;
	s->remote_hello.user_agent.ptr = (const uint8_t *)s->remote_user_agent;
	s->has_remote_hello = 1;
	s->state = RUMOR_SESSION_READY;
	s->next_ping_us = add_sat(now_us, s->limits.ping_interval_us);
	return 1;
}

/* One whole message from the frame decoder.  Returns 1 when ev is set. */
static int handle_message(struct rumor_session *s, const uint8_t *buf, size_t len, uint64_t now_us,
			  struct rumor_session_event *ev)
{
	struct rumor_msg *m = &s->msg;
	const char *why;

	s->last_recv_us = now_us;
	s->stats.msgs_recv++;
	why = rumor_msg_decode(m, buf, len);
	if (why) {
		fail(s, RUMOR_DISCONNECT_PROTOCOL, "bad message: %s", why);
		return take_close_event(s, ev);
	}
	if (!m->skipped && m->type <= RUMOR_MSG_TYPE_LAST)
		s->stats.recv_by_type[m->type] += rumor_frame_encoded_size(len);

	if (!m->skipped && m->type == RUMOR_MSG_DISCONNECT) {
		char text[RUMOR_MSG_REASON_MAX + 1];

		copy_printable(text, sizeof(text), m->u.disconnect.reason.ptr,
			       m->u.disconnect.reason.len);
		snprintf(s->reason, sizeof(s->reason), "%s",
			 text[0] ? text : "peer disconnected without a reason");
		do_close(s, m->u.disconnect.code, s->reason, 1, 1);
		return take_close_event(s, ev);
	}

	if (s->state == RUMOR_SESSION_AWAIT_HELLO) {
		if (m->skipped || m->type != RUMOR_MSG_HELLO) {
			const char *name = m->skipped ? NULL : rumor_msg_type_name(m->type);

			if (name)
				fail(s, RUMOR_DISCONNECT_PROTOCOL,
				     "first message is %s, expected hello", name);
			else
				fail(s, RUMOR_DISCONNECT_PROTOCOL,
				     "first message is of type %u, expected hello", m->type);
			return take_close_event(s, ev);
		}
		if (!handle_hello(s, &m->u.hello, now_us))
			return take_close_event(s, ev);
		ev->type = RUMOR_SESSION_EV_READY;
		return 1;
	}

	assert(s->state == RUMOR_SESSION_READY);
	if (m->skipped)
		return 0; /* unknown optional type: the protocol may grow */
	switch ((enum rumor_msg_type)m->type) {
	case RUMOR_MSG_HELLO:
		fail(s, RUMOR_DISCONNECT_PROTOCOL, "second hello");
		return take_close_event(s, ev);
	case RUMOR_MSG_PING:
		if (queue_nonce_msg(s, RUMOR_MSG_PONG, m->u.ping.nonce) < 0 &&
		    s->state != RUMOR_SESSION_CLOSED)
			fail(s, RUMOR_DISCONNECT_NONE, "cannot queue pong");
		return take_close_event(s, ev);
	case RUMOR_MSG_PONG:
		if (s->ping_outstanding && m->u.pong.nonce == s->ping_nonce) {
			s->ping_outstanding = 0;
			s->stats.ping_us = (int64_t)(now_us - s->ping_sent_us);
		}
		return 0; /* a stale or unsolicited pong is harmless */
	case RUMOR_MSG_INV:
	case RUMOR_MSG_GETDATA:
	case RUMOR_MSG_NOTFOUND:
	case RUMOR_MSG_TX:
	case RUMOR_MSG_BLOCK:
	case RUMOR_MSG_GETADDR:
	case RUMOR_MSG_ADDR:
		ev->type = RUMOR_SESSION_EV_MESSAGE;
		ev->msg = m;
		return 1;
	case RUMOR_MSG_DISCONNECT:
		assert(0); /* handled above */
		return 0;
	}
	/* a known-to-the-codec type this session does not handle yet */
	ev->type = RUMOR_SESSION_EV_MESSAGE;
	ev->msg = m;
	return 1;
}

/* ---- public entry points ---- */

void rumor_session_recv(struct rumor_session *s, const uint8_t *in, size_t len, uint64_t now_us,
			size_t *consumed, struct rumor_session_event *ev)
{
	size_t used = 0;

	memset(ev, 0, sizeof(*ev));
	*consumed = 0;
	while (s->state != RUMOR_SESSION_CLOSED && used < len) {
		if (s->state == RUMOR_SESSION_HANDSHAKE) {
			used += handshake_recv(s, in + used, len - used, now_us);
			continue;
		}
		{
			const uint8_t *msg;
			size_t msg_len, c = 0;
			int rc = rumor_frame_decoder_feed(&s->dec, in + used, len - used, &c, &msg,
							  &msg_len);

			used += c;
			s->stats.bytes_recv += c;
			if (rc < 0) {
				fail(s, RUMOR_DISCONNECT_PROTOCOL, "transport: %s",
				     rc == -ENOMEM ? "out of memory"
						   : rumor_frame_decoder_reason(&s->dec));
				break;
			}
			if (rc == 1 && handle_message(s, msg, msg_len, now_us, ev)) {
				if (ev->type == RUMOR_SESSION_EV_CLOSED)
					used = len;
				*consumed = used;
				return;
			}
		}
	}
	if (s->state == RUMOR_SESSION_CLOSED)
		used = len; /* everything after the end is ignored */
	*consumed = used;
	take_close_event(s, ev);
}

int rumor_session_send(struct rumor_session *s, const struct rumor_msg *msg, uint64_t now_us)
{
	(void)now_us;
	if (!s || !msg)
		return -EINVAL;
	if (s->state != RUMOR_SESSION_READY)
		return -EPROTO;
	if (msg->type == RUMOR_MSG_HELLO || msg->type == RUMOR_MSG_DISCONNECT)
		return -EINVAL; /* the session's own; use rumor_session_close */
	return queue_msg(s, msg);
}

size_t rumor_session_output(struct rumor_session *s, const uint8_t **data)
{
	*data = s->out ? s->out + s->out_off : NULL;
	return output_pending(s);
}

void rumor_session_output_consumed(struct rumor_session *s, size_t n)
{
	assert(n <= output_pending(s));
	s->out_off += n;
	if (s->out_off == s->out_len) {
		s->out_off = s->out_len = 0;
		if (s->out_cap > OUTPUT_KEEP) {
			free(s->out);
			s->out = NULL;
			s->out_cap = 0;
		}
	} else if (s->out_off > s->out_cap / 2) {
		memmove(s->out, s->out + s->out_off, output_pending(s));
		s->out_len -= s->out_off;
		s->out_off = 0;
	}
}

uint64_t rumor_session_expiry(const struct rumor_session *s)
{
	uint64_t t = UINT64_MAX, idle;

	switch (s->state) {
	case RUMOR_SESSION_HANDSHAKE:
	case RUMOR_SESSION_AWAIT_HELLO:
		t = add_sat(s->created_us, s->limits.handshake_timeout_us);
		break;
	case RUMOR_SESSION_READY:
		idle = add_sat(s->last_recv_us, s->limits.idle_timeout_us);
		t = s->next_ping_us < idle ? s->next_ping_us : idle;
		break;
	case RUMOR_SESSION_CLOSED:
		t = s->close_pending ? 0 : UINT64_MAX;
		break;
	}
	return t;
}

void rumor_session_handle_expiry(struct rumor_session *s, uint64_t now_us,
				 struct rumor_session_event *ev)
{
	memset(ev, 0, sizeof(*ev));
	switch (s->state) {
	case RUMOR_SESSION_HANDSHAKE:
	case RUMOR_SESSION_AWAIT_HELLO:
		if (now_us >= add_sat(s->created_us, s->limits.handshake_timeout_us))
			fail(s, RUMOR_DISCONNECT_TIMEOUT,
			     "%s not finished within %llu ms",
			     s->state == RUMOR_SESSION_HANDSHAKE ? "handshake" : "hello exchange",
			     (unsigned long long)(s->limits.handshake_timeout_us / 1000));
		break;
	case RUMOR_SESSION_READY:
		if (now_us >= add_sat(s->last_recv_us, s->limits.idle_timeout_us)) {
			fail(s, RUMOR_DISCONNECT_TIMEOUT, "no message for %llu s",
			     (unsigned long long)((now_us - s->last_recv_us) / 1000000));
			break;
		}
		if (now_us >= s->next_ping_us) {
			uint64_t nonce = ++s->ping_counter;

			if (queue_nonce_msg(s, RUMOR_MSG_PING, nonce) == 0) {
				s->ping_outstanding = 1;
				s->ping_nonce = nonce;
				s->ping_sent_us = now_us;
			} else if (s->state != RUMOR_SESSION_CLOSED) {
				fail(s, RUMOR_DISCONNECT_NONE, "cannot queue ping");
			}
			s->next_ping_us = add_sat(now_us, s->limits.ping_interval_us);
		}
		break;
	case RUMOR_SESSION_CLOSED:
		break;
	}
	take_close_event(s, ev);
}

void rumor_session_close(struct rumor_session *s, enum rumor_disconnect_code code,
			 const char *reason)
{
	if (!s || s->state == RUMOR_SESSION_CLOSED)
		return;
	snprintf(s->reason, sizeof(s->reason), "%s", reason ? reason : "closed");
	do_close(s, (uint16_t)code, s->reason, 0, 0);
}

enum rumor_session_state rumor_session_state(const struct rumor_session *s)
{
	return s->state;
}

const uint8_t *rumor_session_remote_id(const struct rumor_session *s)
{
	return s->has_remote_id ? s->remote_id : NULL;
}

const struct rumor_msg_hello *rumor_session_remote_hello(const struct rumor_session *s)
{
	return s->has_remote_hello ? &s->remote_hello : NULL;
}

const struct rumor_session_stats *rumor_session_stats(const struct rumor_session *s)
{
	return &s->stats;
}

int rumor_session_handshake_mismatch(const struct rumor_session *s)
{
	return s->handshake_mismatch;
}

const char *rumor_session_close_reason(const struct rumor_session *s)
{
	return s->state == RUMOR_SESSION_CLOSED ? s->reason : NULL;
}
