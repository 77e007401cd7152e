/*
 * crypto/noise.h: the Noise protocol framework (revision 34), sans-IO, for
 * exactly two protocols:
 *
 *   Noise_XX_25519_ChaChaPoly_SHA256       (open networks)
 *   Noise_XXpsk3_25519_ChaChaPoly_SHA256   (networks with a pre-shared key)
 *
 * DH is X25519 and the AEAD is ChaCha20-Poly1305 (IETF), both from
 * libsodium; SHA-256 and HMAC-SHA256 come from crypto/hash.h, and HKDF is
 * built from HMAC as the specification's section 4.3 describes.
 *
 * Sans-IO: nothing here reads a clock, touches a socket or draws randomness.
 * The caller hands in the static private key, the ephemeral private key
 * (rumor_noise_handshake_set_ephemeral(), normally filled by rumor_random();
 * tests inject fixed ones) and the bytes that came off the wire, and gets
 * back the bytes to send.  rumor_crypto_init() must have been called.
 *
 * Ownership: every struct here is caller-owned and embedded (no allocation
 * anywhere in this module).  All pointer arguments are borrowed for the
 * duration of the call only; input and output buffers must not overlap.
 * Secrets are wiped with sodium_memzero on error, at split and at free.
 *
 * Errors (negative errno values):
 *   -EINVAL    a bad argument from the caller (NULL, psk given for XX or
 *              missing for XXpsk3, no ephemeral key set when "e" is due,
 *              a transport cipher without a key)
 *   -EPROTO    wrong state: not this side's turn to write/read, handshake
 *              already finished, already failed, or not yet finished
 *   -EMSGSIZE  a Noise message (handshake or transport) over 65535 bytes
 *   -ENOBUFS   the caller's output buffer is too small
 *   -EBADMSG   the peer's message is malformed: too short, fails
 *              authentication (tampered, wrong psk, wrong prologue), or
 *              carries a low-order X25519 key (all-zero shared secret)
 *   -EOVERFLOW the cipher's nonce is exhausted (2^64-1 is reserved)
 * Any error from rumor_noise_handshake_write()/_read() is final: the
 * handshake moves to the ERROR state, its secrets are wiped, every later
 * call returns -EPROTO, and rumor_noise_handshake_reason() says what
 * happened (a fixed string, safe to log; never NULL).
 *
 * Handshake state diagram (XX and XXpsk3 both have three messages):
 *
 *   initiator: WRITE(1) -> READ(2) -> WRITE(3) -> DONE -> split -> SPLIT
 *   responder: READ(1)  -> WRITE(2) -> READ(3) -> DONE -> split -> SPLIT
 *   any state --error--> ERROR
 *
 * ---------------------------------------------------------------------------
 * Section for doc/protocol.md: "Handshake"
 *
 * A connection starts with a Noise handshake, Noise specification revision
 * 34 (https://noiseprotocol.org/noise.html).  The protocol name is
 * "Noise_XX_25519_ChaChaPoly_SHA256", or on a network configured with a
 * 32-byte pre-shared key, "Noise_XXpsk3_25519_ChaChaPoly_SHA256".  The dialer
 * is the initiator.  The messages are:
 *
 *   XX:     -> e                XXpsk3:  -> e
 *           <- e, ee, s, es              <- e, ee, s, es
 *           -> s, se                     -> s, se, psk
 *
 * Byte layout of each message (a Noise message is at most 65535 bytes;
 * tag = 16-byte Poly1305 tag):
 *   1 (initiator) XX:     e.pub (32) || payload1 (plaintext, no tag)
 *                 XXpsk3: e.pub (32) || payload1 encrypted || tag
 *                 (with a psk, "e" also does MixKey(e.pub), so the first
 *                 payload is already encrypted, under a key from the psk
 *                 chain that the psk token will complete in message 3)
 *   2 (responder) e.pub (32) || s.pub encrypted (32) || tag || payload2
 *                 encrypted || tag
 *   3 (initiator) s.pub encrypted (32) || tag || payload3 encrypted || tag
 * Nonces are the 32-bit zero followed by the 64-bit little-endian counter.
 *
 * Prologue: both sides mix the same prologue into the handshake hash before
 * the first message; a different prologue makes the first authenticated
 * message (message 2, or message 1 with a psk) fail to decrypt.  The
 * prologue's contents (protocol version and network) and the payloads'
 * contents (the identity proof) are defined by net/, not here.
 * Payload 1 is readable by anyone on XX (never put anything secret or
 * identifying there); payload 2 is encrypted but the responder sends it
 * before knowing who the initiator is; payload 3 is fully authenticated.
 *
 * Split: after message 3, both sides derive two keys
 *   k1, k2 = HKDF(ck, empty, 2)
 * The initiator sends with k1 and receives with k2; the responder the other
 * way round.  Each direction then carries transport messages encrypted with
 * ChaCha20-Poly1305 and its own nonce counter starting at 0 (associated data
 * empty unless the framing layer says otherwise).  Rekey replaces a key k
 * with the first 32 bytes of ENCRYPT(k, 2^64-1, empty, 32 zero bytes), and
 * leaves the nonce counter alone.  The handshake hash h (32 bytes) is
 * available to both sides afterwards for channel binding.
 * ---------------------------------------------------------------------------
 */
#ifndef RUMOR_CRYPTO_NOISE_H
#define RUMOR_CRYPTO_NOISE_H

#include <stddef.h>
#include <stdint.h>

#define RUMOR_NOISE_KEY_SIZE 32     /* cipher key, psk */
#define RUMOR_NOISE_DH_SIZE 32      /* X25519 public and private keys */
#define RUMOR_NOISE_HASH_SIZE 32    /* SHA-256 */
#define RUMOR_NOISE_TAG_SIZE 16     /* Poly1305 */
#define RUMOR_NOISE_PSK_SIZE 32
#define RUMOR_NOISE_MAX_MESSAGE 65535
/* Largest plaintext of one transport message. */
#define RUMOR_NOISE_MAX_PLAINTEXT (RUMOR_NOISE_MAX_MESSAGE - RUMOR_NOISE_TAG_SIZE)
/* Nonce 2^64-1 is reserved (for rekey); a cipher refuses to use it. */
#define RUMOR_NOISE_NONCE_MAX UINT64_MAX

/* ---- CipherState (spec section 5.1) ---- */

struct rumor_noise_cipher {
	uint8_t k[RUMOR_NOISE_KEY_SIZE];
	uint64_t n;
	int has_key;
};

/* InitializeKey: a NULL key leaves the cipher empty (has_key == 0). */
void rumor_noise_cipher_init(struct rumor_noise_cipher *cs, const uint8_t *key);
int rumor_noise_cipher_has_key(const struct rumor_noise_cipher *cs);
void rumor_noise_cipher_set_nonce(struct rumor_noise_cipher *cs, uint64_t nonce);
/* Wipes the key. */
void rumor_noise_cipher_free(struct rumor_noise_cipher *cs);

/*
 * Transport encryption (EncryptWithAd/DecryptWithAd with a key set).  Unlike
 * the spec's CipherState, a cipher without a key returns -EINVAL rather than
 * passing plaintext through, so a forgotten split can never send cleartext.
 * encrypt: out gets len + 16 bytes; len <= RUMOR_NOISE_MAX_PLAINTEXT.
 * decrypt: out gets len - 16 bytes; 16 <= len <= RUMOR_NOISE_MAX_MESSAGE.
 * On success the nonce advances; on failure it does not (a failed decrypt
 * returns -EBADMSG and should close the connection).  Returns 0, -EINVAL,
 * -EMSGSIZE, -ENOBUFS, -EBADMSG or -EOVERFLOW.  ad may be NULL when ad_len 0.
 */
int rumor_noise_cipher_encrypt(struct rumor_noise_cipher *cs, const uint8_t *ad, size_t ad_len,
			       const uint8_t *plaintext, size_t len, uint8_t *out, size_t cap,
			       size_t *out_len);
int rumor_noise_cipher_decrypt(struct rumor_noise_cipher *cs, const uint8_t *ad, size_t ad_len,
			       const uint8_t *ciphertext, size_t len, uint8_t *out, size_t cap,
			       size_t *out_len);
/* Rekey (spec sections 4.2 and 11.3).  Returns 0 or -EINVAL (no key). */
int rumor_noise_cipher_rekey(struct rumor_noise_cipher *cs);

/* ---- HandshakeState (spec section 5.3) ---- */

enum rumor_noise_pattern {
	RUMOR_NOISE_XX,
	RUMOR_NOISE_XXPSK3,
};

enum rumor_noise_state {
	RUMOR_NOISE_STATE_WRITE, /* this side sends the next message */
	RUMOR_NOISE_STATE_READ,  /* this side expects the next message */
	RUMOR_NOISE_STATE_DONE,  /* all messages exchanged; split() is next */
	RUMOR_NOISE_STATE_SPLIT, /* transport keys handed out; hash and rs remain */
	RUMOR_NOISE_STATE_ERROR, /* failed; secrets wiped */
};

/* SymmetricState (spec section 5.2); internal, visible only for embedding. */
struct rumor_noise_symmetric {
	struct rumor_noise_cipher cs;
	uint8_t ck[RUMOR_NOISE_HASH_SIZE];
	uint8_t h[RUMOR_NOISE_HASH_SIZE];
};

/* Treat the fields as private; use the functions below. */
struct rumor_noise_handshake {
	enum rumor_noise_pattern pattern;
	enum rumor_noise_state state;
	int initiator;
	unsigned int message; /* index of the next message, 0..3 */
	const char *reason;   /* why it failed, or NULL */
	struct rumor_noise_symmetric ss;
	uint8_t s_priv[RUMOR_NOISE_DH_SIZE], s_pub[RUMOR_NOISE_DH_SIZE];
	uint8_t e_priv[RUMOR_NOISE_DH_SIZE], e_pub[RUMOR_NOISE_DH_SIZE];
	uint8_t re[RUMOR_NOISE_DH_SIZE], rs[RUMOR_NOISE_DH_SIZE];
	uint8_t psk[RUMOR_NOISE_PSK_SIZE];
	int has_e, has_re, has_rs, has_psk;
};

/*
 * Initialize (spec section 5.3): protocol name from the pattern, the prologue
 * (may be NULL when prologue_len is 0) mixed into the hash, this side's
 * static private key (the public key is derived), and the psk: exactly
 * RUMOR_NOISE_PSK_SIZE bytes for XXpsk3, NULL for XX.  Returns 0 or -EINVAL
 * (then hs is in the ERROR state).
 */
int rumor_noise_handshake_init(struct rumor_noise_handshake *hs, enum rumor_noise_pattern pattern,
			       int initiator, const uint8_t *prologue, size_t prologue_len,
			       const uint8_t static_priv[RUMOR_NOISE_DH_SIZE], const uint8_t *psk);
/*
 * The ephemeral private key for this side's "e" token (message 1 for the
 * initiator, 2 for the responder).  Must be set before that write, from a
 * good random source (rumor_random) outside tests.  Returns 0, or -EPROTO
 * when this side has already sent its "e".
 */
int rumor_noise_handshake_set_ephemeral(struct rumor_noise_handshake *hs,
					const uint8_t ephemeral_priv[RUMOR_NOISE_DH_SIZE]);
/*
 * WriteMessage: the next handshake message with payload (may be NULL when
 * len is 0) into out (cap bytes); *out_len gets its length.  Returns 0,
 * -EINVAL, -EPROTO, -EMSGSIZE, -ENOBUFS.
 */
int rumor_noise_handshake_write(struct rumor_noise_handshake *hs, const uint8_t *payload,
				size_t len, uint8_t *out, size_t cap, size_t *out_len);
/*
 * ReadMessage: one whole handshake message from the peer; the decrypted
 * payload goes to payload_out (cap bytes; may be NULL when cap is 0) and its
 * length to *payload_len.  Returns 0, -EINVAL, -EPROTO, -EMSGSIZE, -ENOBUFS,
 * -EBADMSG.
 */
int rumor_noise_handshake_read(struct rumor_noise_handshake *hs, const uint8_t *msg, size_t len,
			       uint8_t *payload_out, size_t cap, size_t *payload_len);

enum rumor_noise_state rumor_noise_handshake_state(const struct rumor_noise_handshake *hs);
/* 1 when all messages are exchanged (DONE or SPLIT), else 0. */
int rumor_noise_handshake_finished(const struct rumor_noise_handshake *hs);
/* 1 when it is this side's turn to write, else 0. */
int rumor_noise_handshake_want_write(const struct rumor_noise_handshake *hs);
/* The peer's static public key once received (and authenticated by the
 * message that carried it), else NULL.  Points into hs. */
const uint8_t *rumor_noise_handshake_remote_static(const struct rumor_noise_handshake *hs);
/* This side's static public key. Points into hs. */
const uint8_t *rumor_noise_handshake_local_static(const struct rumor_noise_handshake *hs);
/* GetHandshakeHash: copies h once finished.  Returns 0 or -EPROTO. */
int rumor_noise_handshake_hash(const struct rumor_noise_handshake *hs,
			       uint8_t out[RUMOR_NOISE_HASH_SIZE]);
/*
 * Split: the two transport ciphers, already the right way round for this
 * side.  Only in the DONE state; afterwards the chaining key, the static,
 * ephemeral and psk secrets are wiped (state SPLIT; the hash and the remote
 * static key stay readable).  Returns 0 or -EPROTO.
 */
int rumor_noise_handshake_split(struct rumor_noise_handshake *hs, struct rumor_noise_cipher *send,
				struct rumor_noise_cipher *recv);
/* Why the handshake failed (a constant string), or "" when it has not. */
const char *rumor_noise_handshake_reason(const struct rumor_noise_handshake *hs);
/* Wipes everything; hs may be initialised again afterwards. */
void rumor_noise_handshake_free(struct rumor_noise_handshake *hs);

#endif
