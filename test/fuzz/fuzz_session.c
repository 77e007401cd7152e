/*
 * test/fuzz/fuzz_session.c: libFuzzer target for net/session, the state
 * machine every byte from a peer goes through.
 *
 * A responder session with fixed keys (network "testnet", no PSK) meets a
 * crafted initiator whose keys are fixed too, so every byte the session
 * sends is deterministic and a recorded valid stream stays valid input.
 *
 * Input: one flags byte, then the body.
 *   flags bits 0-1, the mode:
 *     0  the body is the initiator's raw byte stream from the very first
 *        byte (handshake included);
 *     1  a correct handshake is done first, then the body is records of
 *        [2-byte big-endian length][message bytes] (the last one cut short
 *        at the end of the input), each encrypted as frames and fed in;
 *     2  a correct handshake is done first, then the body is fed raw (as
 *        transport bytes the peer could send);
 *     3  like 1, and the crafted peer sends a valid hello first.
 *   flags bits 2-7: feed in chunks of that many bytes (0: all at once).
 * Between records (mode 1 and 3) or chunks the fake clock advances, so
 * pings, pongs, idle and handshake timeouts run; every message the session
 * hands up is sent back to it, so the send path runs too.
 *
 * Checked: no crash, leak or sanitizer report; consumed counts stay within
 * the input; after CLOSED no event but the one CLOSED is ever reported.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/item.h"
#include "crypto/noise.h"
#include "crypto/sign.h"
#include "net/frame.h"
#include "net/message.h"
#include "net/session.h"

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond))                                                                   \
			abort();                                                               \
	} while (0)

#define SEC UINT64_C(1000000)
#define T0 (UINT64_C(1000) * SEC)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
static void record_once(void);

static struct rumor_network testnet;
static uint8_t init_pub[32], init_secret[64], resp_pub[32], resp_secret[64];
static uint8_t init_static[32], init_ephemeral[32], resp_static[32], resp_ephemeral[32];

static void fill(uint8_t *p, size_t n, uint8_t start)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(start + i);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	uint8_t seed[32];

	(void)argc;
	(void)argv;
	CHECK(rumor_crypto_init() == 0);
	CHECK(rumor_network_init(&testnet, "testnet") == 0);
	/* the same keys as test/unit/test_session.c's worked example */
	fill(seed, 32, 0x01);
	rumor_sign_keypair_from_seed(seed, init_pub, init_secret);
	fill(seed, 32, 0x21);
	rumor_sign_keypair_from_seed(seed, resp_pub, resp_secret);
	fill(init_static, 32, 0x41);
	fill(init_ephemeral, 32, 0x81);
	fill(resp_static, 32, 0x61);
	fill(resp_ephemeral, 32, 0xa1);
	record_once();
	return 0;
}

struct run {
	struct rumor_session *s;
	uint64_t now;
	int closed;
	int keep_output; /* the crafted handshake reads the session's output */
	size_t chunk;
};

static void drain_output(struct run *r)
{
	const uint8_t *out;
	size_t n = rumor_session_output(r->s, &out);

	CHECK(n == 0 || out != NULL);
	if (!r->keep_output)
		rumor_session_output_consumed(r->s, n);
}

static void note(struct run *r, const struct rumor_session_event *ev)
{
	switch (ev->type) {
	case RUMOR_SESSION_EV_NONE:
		break;
	case RUMOR_SESSION_EV_READY:
		CHECK(!r->closed);
		CHECK(rumor_session_remote_hello(r->s) != NULL);
		CHECK(rumor_session_remote_id(r->s) != NULL);
		break;
	case RUMOR_SESSION_EV_MESSAGE:
		CHECK(!r->closed);
		CHECK(ev->msg != NULL);
		/* echo it: exercises the send path (errors are fine) */
		(void)rumor_session_send(r->s, ev->msg, r->now);
		break;
	case RUMOR_SESSION_EV_CLOSED:
		CHECK(!r->closed);
		CHECK(ev->reason != NULL);
		CHECK(rumor_session_state(r->s) == RUMOR_SESSION_CLOSED);
		r->closed = 1;
		break;
	}
}

static void feed(struct run *r, const uint8_t *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t n = r->chunk && len - off > r->chunk ? r->chunk : len - off;
		size_t used = 0, c;
		struct rumor_session_event ev;

		do {
			rumor_session_recv(r->s, data + off + used, n - used, r->now, &c, &ev);
			CHECK(c <= n - used);
			used += c;
			note(r, &ev);
			drain_output(r);
		} while (used < n || ev.type != RUMOR_SESSION_EV_NONE);
		off += n;
	}
}

static void tick(struct run *r, uint64_t step)
{
	struct rumor_session_event ev;
	uint64_t next;

	r->now += step;
	next = rumor_session_expiry(r->s);
	if (next <= r->now) {
		rumor_session_handle_expiry(r->s, r->now, &ev);
		note(r, &ev);
		drain_output(r);
	}
}

static void put_handshake(struct run *r, const uint8_t *msg, size_t n)
{
	uint8_t buf[2 + 512];

	CHECK(n <= 512);
	buf[0] = (uint8_t)n;
	buf[1] = (uint8_t)(n >> 8);
	memcpy(buf + 2, msg, n);
	feed(r, buf, n + 2);
}

/*
 * The crafted initiator's side of the handshake.  Its keys are fixed and the
 * session's message 2 is a function of fixed keys too, so the initiator's
 * messages 1 and 3 and its transport key are the same in every run: they
 * are made once, by a real initiator (crypto/noise.c) against a real session
 * in LLVMFuzzerInitialize, and replayed to each run's session.  Each run
 * still checks that its session's message 2 is byte for byte the recorded
 * one, so the replayed message 3 answers exactly what the session sent.
 */
static struct {
	uint8_t msg1[512], msg2[512], msg3[512];
	size_t msg1_len, msg2_len, msg3_len;
	struct rumor_noise_cipher send; /* the initiator's transport cipher */
} recorded;

static void new_session(struct run *r);

/* The crafted initiator's handshake with r->s, done the long way (once). */
static void record_handshake(struct run *r)
{
	uint8_t prologue[46], payload[96], signed_msg[81];
	struct rumor_noise_handshake hs;
	struct rumor_noise_cipher recv;
	const uint8_t *out;
	size_t n, pl;

	memcpy(prologue, "rumor/p2p", 10);
	prologue[10] = RUMOR_PROTOCOL_VERSION;
	prologue[11] = prologue[12] = prologue[13] = 0;
	memcpy(prologue + 14, testnet.id, 32);
	CHECK(rumor_noise_handshake_init(&hs, RUMOR_NOISE_XX, 1, prologue, sizeof(prologue),
					 init_static, NULL) == 0);
	CHECK(rumor_noise_handshake_set_ephemeral(&hs, init_ephemeral) == 0);
	CHECK(rumor_noise_handshake_write(&hs, NULL, 0, recorded.msg1, sizeof(recorded.msg1),
					  &recorded.msg1_len) == 0);
	r->keep_output = 1;
	put_handshake(r, recorded.msg1, recorded.msg1_len);
	r->keep_output = 0;
	n = rumor_session_output(r->s, &out);
	CHECK(n > 2 && n <= sizeof(recorded.msg2));
	memcpy(recorded.msg2, out, n);
	recorded.msg2_len = n;
	CHECK(rumor_noise_handshake_read(&hs, out + 2, n - 2, payload, sizeof(payload), &pl) == 0);
	CHECK(pl == 96);
	rumor_session_output_consumed(r->s, n);
	memcpy(signed_msg, "rumor/identity/v1", 17);
	memcpy(signed_msg + 17, testnet.id, 32);
	memcpy(signed_msg + 49, rumor_noise_handshake_local_static(&hs), 32);
	memcpy(payload, init_pub, 32);
	rumor_sign(init_secret, signed_msg, sizeof(signed_msg), payload + 32);
	CHECK(rumor_noise_handshake_write(&hs, payload, 96, recorded.msg3, sizeof(recorded.msg3),
					  &recorded.msg3_len) == 0);
	put_handshake(r, recorded.msg3, recorded.msg3_len);
	CHECK(rumor_session_state(r->s) == RUMOR_SESSION_AWAIT_HELLO);
	drain_output(r);
	CHECK(rumor_noise_handshake_split(&hs, &recorded.send, &recv) == 0);
	rumor_noise_cipher_free(&recv);
	rumor_noise_handshake_free(&hs);
}

/* The recorded handshake replayed to r->s; 0 when the transport is up. */
static int handshake(struct run *r, struct rumor_frame_encoder *enc)
{
	struct rumor_noise_cipher send = recorded.send;
	const uint8_t *out;
	size_t n;
	int rc;

	r->keep_output = 1;
	put_handshake(r, recorded.msg1, recorded.msg1_len);
	r->keep_output = 0;
	n = rumor_session_output(r->s, &out);
	CHECK(n == recorded.msg2_len && memcmp(out, recorded.msg2, n) == 0);
	rumor_session_output_consumed(r->s, n);
	put_handshake(r, recorded.msg3, recorded.msg3_len);
	CHECK(rumor_session_state(r->s) == RUMOR_SESSION_AWAIT_HELLO);
	drain_output(r);
	rc = rumor_frame_encoder_init(enc, &send, RUMOR_FRAME_REKEY_INTERVAL);
	rumor_noise_cipher_free(&send);
	CHECK(rc == 0);
	return 0;
}

static void send_frame(struct run *r, struct rumor_frame_encoder *enc, const uint8_t *msg,
		       size_t len)
{
	size_t cap = rumor_frame_encoded_size(len), n;
	uint8_t *wire = malloc(cap);

	CHECK(wire != NULL);
	CHECK(rumor_frame_encode(enc, msg, len, wire, cap, &n) == 0);
	CHECK(n == cap);
	feed(r, wire, n);
	free(wire);
}

static void send_hello(struct run *r, struct rumor_frame_encoder *enc)
{
	struct rumor_msg m;
	uint8_t buf[512];
	size_t n;

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_HELLO;
	m.u.hello.version = RUMOR_PROTOCOL_VERSION;
	m.u.hello.network.ptr = (const uint8_t *)"testnet";
	m.u.hello.network.len = 7;
	m.u.hello.user_agent.ptr = (const uint8_t *)"fuzz/1";
	m.u.hello.user_agent.len = 6;
	m.u.hello.nonce = 99;
	CHECK(rumor_msg_encode(&m, buf, sizeof(buf), &n) == 0);
	send_frame(r, enc, buf, n);
}

static void new_session(struct run *r)
{
	struct rumor_session_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.initiator = 0;
	cfg.network = &testnet;
	cfg.identity_secret = resp_secret;
	memcpy(cfg.noise_static_priv, resp_static, 32);
	memcpy(cfg.ephemeral_priv, resp_ephemeral, 32);
	cfg.services = 1;
	cfg.listen_port = 8633;
	cfg.hello_nonce = 0x2222222222222222u;
	cfg.wall_clock_offset_s = 1700000000 - 1000;
	rumor_session_limits_default(&cfg.limits);
	CHECK(rumor_session_new(&r->s, &cfg, r->now) == 0);
}

static void record_once(void)
{
	struct run r;

	memset(&r, 0, sizeof(r));
	r.now = T0;
	new_session(&r);
	record_handshake(&r);
	rumor_session_close(r.s, RUMOR_DISCONNECT_SHUTDOWN, "recorded");
	rumor_session_del(r.s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rumor_frame_encoder enc;
	struct run r;
	unsigned int mode;
	int have_enc = 0;

	if (size < 1)
		return 0;
	mode = data[0] & 3u;
	memset(&r, 0, sizeof(r));
	r.chunk = data[0] >> 2;
	r.now = T0;
	data++;
	size--;

	new_session(&r);

	if (mode == 0) {
		feed(&r, data, size);
		tick(&r, 11 * SEC); /* the handshake deadline, if still open */
	} else {
		have_enc = handshake(&r, &enc) == 0;
		if (mode == 3)
			send_hello(&r, &enc);
		if (mode == 2) {
			feed(&r, data, size);
		} else {
			while (size >= 2 && !r.closed) {
				size_t n = ((size_t)data[0] << 8) | data[1];

				data += 2;
				size -= 2;
				if (n > size)
					n = size;
				send_frame(&r, &enc, data, n);
				data += n;
				size -= n;
				tick(&r, (uint64_t)(n % 8) * 25 * SEC);
			}
		}
		tick(&r, 200 * SEC);
	}
	/* a closed session swallows everything and reports nothing more */
	if (rumor_session_state(r.s) == RUMOR_SESSION_CLOSED) {
		struct rumor_session_event ev;
		size_t c;

		rumor_session_recv(r.s, (const uint8_t *)"x", 1, r.now, &c, &ev);
		CHECK(c == 1 && ev.type == RUMOR_SESSION_EV_NONE);
		CHECK(rumor_session_close_reason(r.s) != NULL);
	} else {
		rumor_session_close(r.s, RUMOR_DISCONNECT_SHUTDOWN, "fuzz run over");
		CHECK(rumor_session_state(r.s) == RUMOR_SESSION_CLOSED);
	}
	if (have_enc)
		rumor_frame_encoder_free(&enc);
	rumor_session_del(r.s);
	return 0;
}
