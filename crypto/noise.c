/*
 * crypto/noise.c: Noise (revision 34) CipherState, SymmetricState and
 * HandshakeState for Noise_XX and Noise_XXpsk3 over 25519, ChaChaPoly and
 * SHA256.  See crypto/noise.h for the API, the state diagram and the wire
 * layout.
 *
 * Invariants:
 *  - hs->state is WRITE or READ only while hs->message < 3; the token table
 *    guarantees that a DH token never runs before the keys it needs have
 *    been set or received (checked with asserts, a broken one is a bug).
 *  - A remote party can only make a call fail with -EBADMSG/-EMSGSIZE; every
 *    failure goes through handshake_fail(), which wipes all secrets.
 *  - Nothing here allocates, so there is nothing to leak on any path.
 */
#include "crypto/noise.h"

#include <assert.h>
#include <errno.h>
#include <string.h>

#include <sodium.h>

#include "crypto/hash.h"

_Static_assert(RUMOR_NOISE_DH_SIZE == crypto_scalarmult_BYTES, "X25519 public key size");
_Static_assert(RUMOR_NOISE_DH_SIZE == crypto_scalarmult_SCALARBYTES, "X25519 private key size");
_Static_assert(RUMOR_NOISE_KEY_SIZE == crypto_aead_chacha20poly1305_ietf_KEYBYTES,
	       "ChaChaPoly key size");
_Static_assert(RUMOR_NOISE_TAG_SIZE == crypto_aead_chacha20poly1305_ietf_ABYTES,
	       "ChaChaPoly tag size");
_Static_assert(crypto_aead_chacha20poly1305_ietf_NPUBBYTES == 12, "ChaChaPoly nonce size");
_Static_assert(RUMOR_NOISE_HASH_SIZE == RUMOR_SHA256_SIZE, "HASHLEN");
_Static_assert(RUMOR_NOISE_MAX_PLAINTEXT == 65519, "transport plaintext limit");

/* Something non-NULL for libsodium when an input buffer is empty. */
static const uint8_t empty_buf[1];

/* ==== CipherState (spec 5.1) ============================================ */

/*
 * Spec 12.3 (ChaChaPoly): "ENCRYPT(k, n, ad, plaintext) ... The 96-bit nonce
 * is formed by encoding 32 bits of zeros followed by little-endian encoding
 * of n."
 */
static void make_nonce(uint64_t n, uint8_t nonce[12])
{
	memset(nonce, 0, 4);
	for (int i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

/* ENCRYPT(k, n, ad, plaintext): out gets len + 16 bytes. */
static void aead_encrypt(const uint8_t k[RUMOR_NOISE_KEY_SIZE], uint64_t n, const uint8_t *ad,
			 size_t ad_len, const uint8_t *plaintext, size_t len, uint8_t *out)
{
	uint8_t nonce[12];
	unsigned long long clen = 0;

	make_nonce(n, nonce);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, len ? plaintext : empty_buf, len,
						  ad_len ? ad : empty_buf, ad_len, NULL, nonce, k);
	assert(clen == (unsigned long long)len + RUMOR_NOISE_TAG_SIZE);
}

/* DECRYPT(k, n, ad, ciphertext): len >= 16; out gets len - 16 bytes.
 * Returns 0 or -EBADMSG. */
static int aead_decrypt(const uint8_t k[RUMOR_NOISE_KEY_SIZE], uint64_t n, const uint8_t *ad,
			size_t ad_len, const uint8_t *ciphertext, size_t len, uint8_t *out)
{
	uint8_t nonce[12], unused[1];
	unsigned long long mlen = 0;

	assert(len >= RUMOR_NOISE_TAG_SIZE);
	make_nonce(n, nonce);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out ? out : unused, &mlen, NULL,
						      ciphertext, len, ad_len ? ad : empty_buf,
						      ad_len, nonce, k) != 0)
		return -EBADMSG;
	assert(mlen == (unsigned long long)len - RUMOR_NOISE_TAG_SIZE);
	return 0;
}

void rumor_noise_cipher_init(struct rumor_noise_cipher *cs, const uint8_t *key)
{
	sodium_memzero(cs, sizeof(*cs));
	if (key != NULL) {
		memcpy(cs->k, key, RUMOR_NOISE_KEY_SIZE);
		cs->has_key = 1;
	}
	cs->n = 0;
}

int rumor_noise_cipher_has_key(const struct rumor_noise_cipher *cs)
{
	return cs->has_key;
}

void rumor_noise_cipher_set_nonce(struct rumor_noise_cipher *cs, uint64_t nonce)
{
	cs->n = nonce;
}

void rumor_noise_cipher_free(struct rumor_noise_cipher *cs)
{
	sodium_memzero(cs, sizeof(*cs));
}

/*
 * Spec 5.1: "EncryptWithAd(ad, plaintext): If k is non-empty returns
 * ENCRYPT(k, n++, ad, plaintext). Otherwise returns plaintext."
 * Spec 5.1: "n ... If incrementing n results in 2^64-1, then any further
 * EncryptWithAd() or DecryptWithAd() calls will signal an error".
 * The caller has checked the sizes.  Returns 0 or -EOVERFLOW.
 */
static int cipher_encrypt_with_ad(struct rumor_noise_cipher *cs, const uint8_t *ad, size_t ad_len,
				  const uint8_t *plaintext, size_t len, uint8_t *out)
{
	if (!cs->has_key) {
		if (len > 0)
			memcpy(out, plaintext, len);
		return 0;
	}
	if (cs->n == RUMOR_NOISE_NONCE_MAX)
		return -EOVERFLOW;
	aead_encrypt(cs->k, cs->n, ad, ad_len, plaintext, len, out);
	cs->n++;
	return 0;
}

/*
 * Spec 5.1: "DecryptWithAd(ad, ciphertext): If k is non-empty returns
 * DECRYPT(k, n++, ad, ciphertext). Otherwise returns ciphertext. If an
 * authentication failure occurs in DECRYPT() then n is not incremented and an
 * error is signaled to the caller."  With a key, len >= 16 (checked by the
 * caller).  Returns 0, -EOVERFLOW or -EBADMSG.
 */
static int cipher_decrypt_with_ad(struct rumor_noise_cipher *cs, const uint8_t *ad, size_t ad_len,
				  const uint8_t *ciphertext, size_t len, uint8_t *out)
{
	int rc;

	if (!cs->has_key) {
		if (len > 0)
			memcpy(out, ciphertext, len);
		return 0;
	}
	if (cs->n == RUMOR_NOISE_NONCE_MAX)
		return -EOVERFLOW;
	rc = aead_decrypt(cs->k, cs->n, ad, ad_len, ciphertext, len, out);
	if (rc < 0)
		return rc;
	cs->n++;
	return 0;
}

int rumor_noise_cipher_encrypt(struct rumor_noise_cipher *cs, const uint8_t *ad, size_t ad_len,
			       const uint8_t *plaintext, size_t len, uint8_t *out, size_t cap,
			       size_t *out_len)
{
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	if (cs == NULL || out_len == NULL || !cs->has_key || (ad == NULL && ad_len > 0) ||
	    (plaintext == NULL && len > 0) || out == NULL)
		return -EINVAL;
	if (len > RUMOR_NOISE_MAX_PLAINTEXT)
		return -EMSGSIZE;
	if (cap < len + RUMOR_NOISE_TAG_SIZE)
		return -ENOBUFS;
	rc = cipher_encrypt_with_ad(cs, ad, ad_len, plaintext, len, out);
	if (rc < 0)
		return rc;
	*out_len = len + RUMOR_NOISE_TAG_SIZE;
	return 0;
}

int rumor_noise_cipher_decrypt(struct rumor_noise_cipher *cs, const uint8_t *ad, size_t ad_len,
			       const uint8_t *ciphertext, size_t len, uint8_t *out, size_t cap,
			       size_t *out_len)
{
	int rc;

	if (out_len != NULL)
		*out_len = 0;
	if (cs == NULL || out_len == NULL || !cs->has_key || (ad == NULL && ad_len > 0) ||
	    (ciphertext == NULL && len > 0) || (out == NULL && cap > 0))
		return -EINVAL;
	if (len > RUMOR_NOISE_MAX_MESSAGE)
		return -EMSGSIZE;
	if (len < RUMOR_NOISE_TAG_SIZE)
		return -EBADMSG;
	if (cap < len - RUMOR_NOISE_TAG_SIZE)
		return -ENOBUFS;
	rc = cipher_decrypt_with_ad(cs, ad, ad_len, ciphertext, len, out);
	if (rc < 0)
		return rc;
	*out_len = len - RUMOR_NOISE_TAG_SIZE;
	return 0;
}

/*
 * Spec 4.2: "REKEY(k): Returns a new 32-byte cipher key as a pseudorandom
 * function of k. If this function is not specifically defined for some set
 * of cipher functions, then it defaults to returning the first 32 bytes from
 * ENCRYPT(k, maxnonce, zerolen, zeros), where maxnonce equals 2^64-1, zerolen
 * is a zero-length byte sequence, and zeros is a sequence of 32 bytes filled
 * with zeros."  Spec 5.1: "Rekey(): Sets k = REKEY(k)." (n is unchanged.)
 */
int rumor_noise_cipher_rekey(struct rumor_noise_cipher *cs)
{
	static const uint8_t zeros[RUMOR_NOISE_KEY_SIZE];
	uint8_t out[RUMOR_NOISE_KEY_SIZE + RUMOR_NOISE_TAG_SIZE];

	if (cs == NULL || !cs->has_key)
		return -EINVAL;
	aead_encrypt(cs->k, RUMOR_NOISE_NONCE_MAX, NULL, 0, zeros, sizeof(zeros), out);
	memcpy(cs->k, out, RUMOR_NOISE_KEY_SIZE);
	sodium_memzero(out, sizeof(out));
	return 0;
}

/* ==== SymmetricState (spec 5.2) ========================================= */

/*
 * Spec 4.3: "HKDF(chaining_key, input_key_material, num_outputs):
 *   temp_key = HMAC-HASH(chaining_key, input_key_material)
 *   output1 = HMAC-HASH(temp_key, byte(0x01))
 *   output2 = HMAC-HASH(temp_key, output1 || byte(0x02))
 *   output3 = HMAC-HASH(temp_key, output2 || byte(0x03))"
 * out3 may be NULL (num_outputs 2).  out1 may alias ck.
 */
static void hkdf(const uint8_t ck[RUMOR_NOISE_HASH_SIZE], const uint8_t *ikm, size_t ikm_len,
		 uint8_t out1[RUMOR_NOISE_HASH_SIZE], uint8_t out2[RUMOR_NOISE_HASH_SIZE],
		 uint8_t *out3)
{
	uint8_t temp_key[RUMOR_NOISE_HASH_SIZE];
	uint8_t buf[RUMOR_NOISE_HASH_SIZE + 1];

	rumor_hmac_sha256(ck, RUMOR_NOISE_HASH_SIZE, ikm, ikm_len, temp_key);
	buf[0] = 0x01;
	rumor_hmac_sha256(temp_key, sizeof(temp_key), buf, 1, out1);
	memcpy(buf, out1, RUMOR_NOISE_HASH_SIZE);
	buf[RUMOR_NOISE_HASH_SIZE] = 0x02;
	rumor_hmac_sha256(temp_key, sizeof(temp_key), buf, sizeof(buf), out2);
	if (out3 != NULL) {
		memcpy(buf, out2, RUMOR_NOISE_HASH_SIZE);
		buf[RUMOR_NOISE_HASH_SIZE] = 0x03;
		rumor_hmac_sha256(temp_key, sizeof(temp_key), buf, sizeof(buf), out3);
	}
	sodium_memzero(temp_key, sizeof(temp_key));
	sodium_memzero(buf, sizeof(buf));
}

/*
 * Spec 5.2: "InitializeSymmetric(protocol_name): If protocol_name is less
 * than or equal to HASHLEN bytes in length, sets h equal to protocol_name
 * with zero bytes appended to make HASHLEN bytes. Otherwise sets
 * h = HASH(protocol_name). Sets ck = h. Calls InitializeKey(empty)."
 */
static void symmetric_init(struct rumor_noise_symmetric *ss, const char *protocol_name)
{
	size_t len = strlen(protocol_name);

	memset(ss->h, 0, sizeof(ss->h));
	if (len <= RUMOR_NOISE_HASH_SIZE)
		memcpy(ss->h, protocol_name, len);
	else
		rumor_sha256(protocol_name, len, ss->h);
	memcpy(ss->ck, ss->h, sizeof(ss->ck));
	rumor_noise_cipher_init(&ss->cs, NULL);
}

/* Spec 5.2: "MixHash(data): Sets h = HASH(h || data)." */
static void mix_hash(struct rumor_noise_symmetric *ss, const uint8_t *data, size_t len)
{
	const void *parts[2] = { ss->h, len ? data : empty_buf };
	size_t lens[2] = { sizeof(ss->h), len };

	rumor_sha256_parts(parts, lens, 2, ss->h);
}

/* Spec 5.2: "MixKey(input_key_material): Sets ck, temp_k = HKDF(ck,
 * input_key_material, 2). ... Calls InitializeKey(temp_k)." */
static void mix_key(struct rumor_noise_symmetric *ss, const uint8_t *ikm, size_t len)
{
	uint8_t temp_k[RUMOR_NOISE_HASH_SIZE];

	hkdf(ss->ck, ikm, len, ss->ck, temp_k, NULL);
	rumor_noise_cipher_init(&ss->cs, temp_k);
	sodium_memzero(temp_k, sizeof(temp_k));
}

/* Spec 5.2: "MixKeyAndHash(input_key_material): Sets ck, temp_h, temp_k =
 * HKDF(ck, input_key_material, 3). Calls MixHash(temp_h). ... Calls
 * InitializeKey(temp_k)." */
static void mix_key_and_hash(struct rumor_noise_symmetric *ss, const uint8_t *ikm, size_t len)
{
	uint8_t temp_h[RUMOR_NOISE_HASH_SIZE], temp_k[RUMOR_NOISE_HASH_SIZE];

	hkdf(ss->ck, ikm, len, ss->ck, temp_h, temp_k);
	mix_hash(ss, temp_h, sizeof(temp_h));
	rumor_noise_cipher_init(&ss->cs, temp_k);
	sodium_memzero(temp_h, sizeof(temp_h));
	sodium_memzero(temp_k, sizeof(temp_k));
}

/* Spec 5.2: "EncryptAndHash(plaintext): Sets ciphertext =
 * EncryptWithAd(h, plaintext), calls MixHash(ciphertext), and returns
 * ciphertext."  out has room for len (+16 with a key). */
static int encrypt_and_hash(struct rumor_noise_symmetric *ss, const uint8_t *plaintext, size_t len,
			    uint8_t *out, size_t *out_len)
{
	size_t clen = len + (ss->cs.has_key ? RUMOR_NOISE_TAG_SIZE : 0);
	int rc = cipher_encrypt_with_ad(&ss->cs, ss->h, sizeof(ss->h), plaintext, len, out);

	if (rc < 0)
		return rc;
	mix_hash(ss, out, clen);
	*out_len = clen;
	return 0;
}

/* Spec 5.2: "DecryptAndHash(ciphertext): Sets plaintext =
 * DecryptWithAd(h, ciphertext), calls MixHash(ciphertext), and returns
 * plaintext."  With a key, len >= 16 (checked by the caller). */
static int decrypt_and_hash(struct rumor_noise_symmetric *ss, const uint8_t *ciphertext,
			    size_t len, uint8_t *out)
{
	int rc = cipher_decrypt_with_ad(&ss->cs, ss->h, sizeof(ss->h), ciphertext, len, out);

	if (rc < 0)
		return rc;
	mix_hash(ss, ciphertext, len);
	return 0;
}

/* ==== HandshakeState (spec 5.3) ========================================= */

enum token {
	TOKEN_END,
	TOKEN_E,
	TOKEN_S,
	TOKEN_EE,
	TOKEN_ES,
	TOKEN_SE,
	TOKEN_PSK,
};

#define MESSAGES 3
#define MAX_TOKENS 5

/*
 * Spec 7.5:  XX:                    Spec 9.4:  XXpsk3:
 *              -> e                                -> e
 *              <- e, ee, s, es                     <- e, ee, s, es
 *              -> s, se                            -> s, se, psk
 * Message i (from 0) is sent by the initiator when i is even.
 */
static const enum token pattern_tokens[2][MESSAGES][MAX_TOKENS] = {
	[RUMOR_NOISE_XX] = {
		{ TOKEN_E, TOKEN_END },
		{ TOKEN_E, TOKEN_EE, TOKEN_S, TOKEN_ES, TOKEN_END },
		{ TOKEN_S, TOKEN_SE, TOKEN_END },
	},
	[RUMOR_NOISE_XXPSK3] = {
		{ TOKEN_E, TOKEN_END },
		{ TOKEN_E, TOKEN_EE, TOKEN_S, TOKEN_ES, TOKEN_END },
		{ TOKEN_S, TOKEN_SE, TOKEN_PSK, TOKEN_END },
	},
};

static const char *protocol_name(enum rumor_noise_pattern pattern)
{
	switch (pattern) {
	case RUMOR_NOISE_XX:
		return "Noise_XX_25519_ChaChaPoly_SHA256";
	case RUMOR_NOISE_XXPSK3:
		return "Noise_XXpsk3_25519_ChaChaPoly_SHA256";
	}
	return NULL;
}

static int pattern_valid(enum rumor_noise_pattern pattern)
{
	return pattern == RUMOR_NOISE_XX || pattern == RUMOR_NOISE_XXPSK3;
}

static int pattern_has_psk(enum rumor_noise_pattern pattern)
{
	switch (pattern) {
	case RUMOR_NOISE_XX:
		return 0;
	case RUMOR_NOISE_XXPSK3:
		return 1;
	}
	return 0;
}

/* Wipes every secret (and the public transcript, which is no longer of use). */
static void wipe_secrets(struct rumor_noise_handshake *hs)
{
	sodium_memzero(&hs->ss.cs, sizeof(hs->ss.cs));
	sodium_memzero(hs->ss.ck, sizeof(hs->ss.ck));
	sodium_memzero(hs->s_priv, sizeof(hs->s_priv));
	sodium_memzero(hs->e_priv, sizeof(hs->e_priv));
	sodium_memzero(hs->psk, sizeof(hs->psk));
	hs->has_e = 0;
	hs->has_psk = 0;
}

static int handshake_fail(struct rumor_noise_handshake *hs, int err, const char *reason)
{
	wipe_secrets(hs);
	sodium_memzero(hs->ss.h, sizeof(hs->ss.h));
	sodium_memzero(hs->re, sizeof(hs->re));
	sodium_memzero(hs->rs, sizeof(hs->rs));
	hs->has_re = 0;
	hs->has_rs = 0;
	hs->state = RUMOR_NOISE_STATE_ERROR;
	hs->reason = reason;
	return err;
}

/* Spec 4.1: DH(key_pair, public_key) then MixKey of the result.  An all-zero
 * result (a low-order public key) makes libsodium return -1: refused. */
static int mix_dh(struct rumor_noise_handshake *hs, const uint8_t priv[RUMOR_NOISE_DH_SIZE],
		  const uint8_t pub[RUMOR_NOISE_DH_SIZE])
{
	uint8_t shared[RUMOR_NOISE_DH_SIZE];

	if (crypto_scalarmult(shared, priv, pub) != 0) {
		sodium_memzero(shared, sizeof(shared));
		return -EBADMSG;
	}
	mix_key(&hs->ss, shared, sizeof(shared));
	sodium_memzero(shared, sizeof(shared));
	return 0;
}

/* The DH tokens, the same on write and read (spec 5.3). */
static int dh_token(struct rumor_noise_handshake *hs, enum token token)
{
	int local_e = 0; /* which local key: 1 ephemeral, 0 static */
	int remote_e = 0;

	switch (token) {
	case TOKEN_EE:
		local_e = 1;
		remote_e = 1;
		break;
	case TOKEN_ES: /* initiator's e with responder's s */
		local_e = hs->initiator;
		remote_e = !hs->initiator;
		break;
	case TOKEN_SE: /* initiator's s with responder's e */
		local_e = !hs->initiator;
		remote_e = hs->initiator;
		break;
	case TOKEN_END:
	case TOKEN_E:
	case TOKEN_S:
	case TOKEN_PSK:
		assert(!"not a DH token");
		return -EINVAL;
	}
	assert(local_e ? hs->has_e : 1);
	assert(remote_e ? hs->has_re : hs->has_rs);
	return mix_dh(hs, local_e ? hs->e_priv : hs->s_priv, remote_e ? hs->re : hs->rs);
}

int rumor_noise_handshake_init(struct rumor_noise_handshake *hs, enum rumor_noise_pattern pattern,
			       int initiator, const uint8_t *prologue, size_t prologue_len,
			       const uint8_t static_priv[RUMOR_NOISE_DH_SIZE], const uint8_t *psk)
{
	if (hs == NULL)
		return -EINVAL;
	sodium_memzero(hs, sizeof(*hs));
	hs->state = RUMOR_NOISE_STATE_ERROR;
	if (!pattern_valid(pattern))
		return handshake_fail(hs, -EINVAL, "unknown handshake pattern");
	hs->pattern = pattern;
	if (static_priv == NULL || (prologue == NULL && prologue_len > 0))
		return handshake_fail(hs, -EINVAL, "missing static key or prologue");
	if ((psk != NULL) != pattern_has_psk(pattern))
		return handshake_fail(hs, -EINVAL, "psk given for XX or missing for XXpsk3");
	hs->initiator = initiator ? 1 : 0;
	memcpy(hs->s_priv, static_priv, RUMOR_NOISE_DH_SIZE);
	if (crypto_scalarmult_base(hs->s_pub, hs->s_priv) != 0)
		return handshake_fail(hs, -EINVAL, "unusable static key");
	if (psk != NULL) {
		memcpy(hs->psk, psk, RUMOR_NOISE_PSK_SIZE);
		hs->has_psk = 1;
	}
	/* Spec 5.3 Initialize(): InitializeSymmetric(protocol_name),
	 * MixHash(prologue); XX has no pre-messages. */
	symmetric_init(&hs->ss, protocol_name(pattern));
	mix_hash(&hs->ss, prologue, prologue_len);
	hs->message = 0;
	hs->reason = NULL;
	hs->state = hs->initiator ? RUMOR_NOISE_STATE_WRITE : RUMOR_NOISE_STATE_READ;
	return 0;
}

/* 1 while this side's own "e" is still to be sent. */
static int ephemeral_pending(const struct rumor_noise_handshake *hs)
{
	if (hs->state != RUMOR_NOISE_STATE_WRITE && hs->state != RUMOR_NOISE_STATE_READ)
		return 0;
	/* The initiator sends e in message 0, the responder in message 1. */
	return hs->initiator ? hs->message == 0 : hs->message <= 1;
}

int rumor_noise_handshake_set_ephemeral(struct rumor_noise_handshake *hs,
					const uint8_t ephemeral_priv[RUMOR_NOISE_DH_SIZE])
{
	uint8_t pub[RUMOR_NOISE_DH_SIZE];

	if (hs == NULL || ephemeral_priv == NULL)
		return -EINVAL;
	if (!ephemeral_pending(hs))
		return -EPROTO;
	if (crypto_scalarmult_base(pub, ephemeral_priv) != 0)
		return -EINVAL;
	memcpy(hs->e_priv, ephemeral_priv, RUMOR_NOISE_DH_SIZE);
	memcpy(hs->e_pub, pub, RUMOR_NOISE_DH_SIZE);
	hs->has_e = 1;
	return 0;
}

/* The state after message hs->message has been processed. */
static void advance(struct rumor_noise_handshake *hs)
{
	hs->message++;
	if (hs->message == MESSAGES)
		hs->state = RUMOR_NOISE_STATE_DONE;
	else if (hs->state == RUMOR_NOISE_STATE_WRITE)
		hs->state = RUMOR_NOISE_STATE_READ;
	else
		hs->state = RUMOR_NOISE_STATE_WRITE;
}

/* Room for n more bytes at off: -EMSGSIZE past the Noise limit, -ENOBUFS
 * past the caller's buffer, else 0. */
static int room(size_t off, size_t n, size_t cap)
{
	if (n > RUMOR_NOISE_MAX_MESSAGE || off + n > RUMOR_NOISE_MAX_MESSAGE)
		return -EMSGSIZE;
	if (off + n > cap)
		return -ENOBUFS;
	return 0;
}

static const char *write_reason(int rc)
{
	switch (rc) {
	case -EMSGSIZE:
		return "handshake message would exceed 65535 bytes";
	case -ENOBUFS:
		return "output buffer too small for handshake message";
	case -EOVERFLOW:
		return "handshake nonce exhausted";
	case -EBADMSG:
		return "peer's public key has low order (all-zero shared secret)";
	default:
		return "handshake write failed";
	}
}

int rumor_noise_handshake_write(struct rumor_noise_handshake *hs, const uint8_t *payload,
				size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	const enum token *tokens;
	size_t off = 0, n;
	int rc = 0;

	if (out_len != NULL)
		*out_len = 0;
	if (hs == NULL)
		return -EINVAL;
	if (hs->state != RUMOR_NOISE_STATE_WRITE)
		return hs->state == RUMOR_NOISE_STATE_ERROR
			       ? -EPROTO
			       : handshake_fail(hs, -EPROTO, "handshake write out of turn");
	if (out_len == NULL || out == NULL || (payload == NULL && len > 0))
		return handshake_fail(hs, -EINVAL, "bad arguments to handshake write");

	assert(hs->message < MESSAGES);
	tokens = pattern_tokens[hs->pattern][hs->message];
	for (int i = 0; tokens[i] != TOKEN_END; i++) {
		switch (tokens[i]) {
		case TOKEN_E:
			/* Spec 5.3: "Sets e = GENERATE_KEYPAIR(). Appends
			 * e.public_key to the buffer. Calls MixHash(e.public_key)."
			 * Spec 9.2: "In non-PSK handshakes, the "e" token in a
			 * pre-message pattern or message pattern always results in a
			 * call to MixHash(e.public_key). In a PSK handshake, all of
			 * these calls are followed by MixKey(e.public_key)." */
			if (!hs->has_e)
				return handshake_fail(hs, -EINVAL, "no ephemeral key set");
			rc = room(off, RUMOR_NOISE_DH_SIZE, cap);
			if (rc < 0)
				break;
			memcpy(out + off, hs->e_pub, RUMOR_NOISE_DH_SIZE);
			off += RUMOR_NOISE_DH_SIZE;
			mix_hash(&hs->ss, hs->e_pub, RUMOR_NOISE_DH_SIZE);
			if (hs->has_psk)
				mix_key(&hs->ss, hs->e_pub, RUMOR_NOISE_DH_SIZE);
			break;
		case TOKEN_S:
			/* Spec 5.3: "Appends EncryptAndHash(s.public_key)". */
			n = RUMOR_NOISE_DH_SIZE + (hs->ss.cs.has_key ? RUMOR_NOISE_TAG_SIZE : 0);
			rc = room(off, n, cap);
			if (rc < 0)
				break;
			rc = encrypt_and_hash(&hs->ss, hs->s_pub, RUMOR_NOISE_DH_SIZE, out + off,
					      &n);
			off += n;
			break;
		case TOKEN_EE:
		case TOKEN_ES:
		case TOKEN_SE:
			rc = dh_token(hs, tokens[i]);
			break;
		case TOKEN_PSK:
			/* Spec 9.2: "psk: MixKeyAndHash(psk)". */
			assert(hs->has_psk);
			mix_key_and_hash(&hs->ss, hs->psk, RUMOR_NOISE_PSK_SIZE);
			break;
		case TOKEN_END:
			assert(!"unreachable");
			break;
		}
		if (rc < 0)
			return handshake_fail(hs, rc, write_reason(rc));
	}
	/* Spec 5.3: "Appends EncryptAndHash(payload) to the buffer." */
	n = len + (hs->ss.cs.has_key ? RUMOR_NOISE_TAG_SIZE : 0);
	if (len > RUMOR_NOISE_MAX_MESSAGE)
		rc = -EMSGSIZE;
	else
		rc = room(off, n, cap);
	if (rc == 0)
		rc = encrypt_and_hash(&hs->ss, payload, len, out + off, &n);
	if (rc < 0)
		return handshake_fail(hs, rc, write_reason(rc));
	off += n;
	*out_len = off;
	advance(hs);
	return 0;
}

static const char *read_reason(int rc)
{
	switch (rc) {
	case -EBADMSG:
		return "handshake message failed to authenticate (tampered, or wrong psk, "
		       "prologue or key)";
	case -ENOBUFS:
		return "payload buffer too small for handshake payload";
	case -EOVERFLOW:
		return "handshake nonce exhausted";
	default:
		return "handshake read failed";
	}
}

int rumor_noise_handshake_read(struct rumor_noise_handshake *hs, const uint8_t *msg, size_t len,
			       uint8_t *payload_out, size_t cap, size_t *payload_len)
{
	const enum token *tokens;
	size_t off = 0, n;
	int rc = 0;

	if (payload_len != NULL)
		*payload_len = 0;
	if (hs == NULL)
		return -EINVAL;
	if (hs->state != RUMOR_NOISE_STATE_READ)
		return hs->state == RUMOR_NOISE_STATE_ERROR
			       ? -EPROTO
			       : handshake_fail(hs, -EPROTO, "handshake read out of turn");
	if (payload_len == NULL || (msg == NULL && len > 0) || (payload_out == NULL && cap > 0))
		return handshake_fail(hs, -EINVAL, "bad arguments to handshake read");
	if (len > RUMOR_NOISE_MAX_MESSAGE)
		return handshake_fail(hs, -EMSGSIZE, "handshake message over 65535 bytes");

	assert(hs->message < MESSAGES);
	tokens = pattern_tokens[hs->pattern][hs->message];
	for (int i = 0; tokens[i] != TOKEN_END; i++) {
		switch (tokens[i]) {
		case TOKEN_E:
			/* Spec 5.3: "Sets re to the next DHLEN bytes from the
			 * message. Calls MixHash(re.public_key)." (and MixKey with
			 * a psk, spec 9.2). */
			if (len - off < RUMOR_NOISE_DH_SIZE)
				return handshake_fail(hs, -EBADMSG,
						      "handshake message too short (e)");
			memcpy(hs->re, msg + off, RUMOR_NOISE_DH_SIZE);
			hs->has_re = 1;
			off += RUMOR_NOISE_DH_SIZE;
			mix_hash(&hs->ss, hs->re, RUMOR_NOISE_DH_SIZE);
			if (hs->has_psk)
				mix_key(&hs->ss, hs->re, RUMOR_NOISE_DH_SIZE);
			break;
		case TOKEN_S:
			/* Spec 5.3: "Sets temp to the next DHLEN + 16 bytes of the
			 * message if HasKey() == True, or to the next DHLEN bytes
			 * otherwise. Sets rs (which must be empty) to
			 * DecryptAndHash(temp)." */
			assert(!hs->has_rs);
			n = RUMOR_NOISE_DH_SIZE + (hs->ss.cs.has_key ? RUMOR_NOISE_TAG_SIZE : 0);
			if (len - off < n)
				return handshake_fail(hs, -EBADMSG,
						      "handshake message too short (s)");
			rc = decrypt_and_hash(&hs->ss, msg + off, n, hs->rs);
			if (rc == 0)
				hs->has_rs = 1;
			off += n;
			break;
		case TOKEN_EE:
		case TOKEN_ES:
		case TOKEN_SE:
			rc = dh_token(hs, tokens[i]);
			if (rc == -EBADMSG)
				return handshake_fail(hs, rc, "peer's public key has low order "
							      "(all-zero shared secret)");
			break;
		case TOKEN_PSK:
			assert(hs->has_psk);
			mix_key_and_hash(&hs->ss, hs->psk, RUMOR_NOISE_PSK_SIZE);
			break;
		case TOKEN_END:
			assert(!"unreachable");
			break;
		}
		if (rc < 0)
			return handshake_fail(hs, rc, read_reason(rc));
	}
	/* Spec 5.3: "Calls DecryptAndHash() on the remaining bytes of the
	 * message and stores the output into payload_buffer." */
	n = len - off;
	if (hs->ss.cs.has_key) {
		if (n < RUMOR_NOISE_TAG_SIZE)
			return handshake_fail(hs, -EBADMSG, "handshake message too short (tag)");
		n -= RUMOR_NOISE_TAG_SIZE;
	}
	if (n > cap)
		return handshake_fail(hs, -ENOBUFS, read_reason(-ENOBUFS));
	rc = decrypt_and_hash(&hs->ss, msg + off, len - off, payload_out);
	if (rc < 0)
		return handshake_fail(hs, rc, read_reason(rc));
	*payload_len = n;
	advance(hs);
	return 0;
}

enum rumor_noise_state rumor_noise_handshake_state(const struct rumor_noise_handshake *hs)
{
	return hs->state;
}

int rumor_noise_handshake_finished(const struct rumor_noise_handshake *hs)
{
	return hs->state == RUMOR_NOISE_STATE_DONE || hs->state == RUMOR_NOISE_STATE_SPLIT;
}

int rumor_noise_handshake_want_write(const struct rumor_noise_handshake *hs)
{
	return hs->state == RUMOR_NOISE_STATE_WRITE;
}

const uint8_t *rumor_noise_handshake_remote_static(const struct rumor_noise_handshake *hs)
{
	return hs->has_rs ? hs->rs : NULL;
}

const uint8_t *rumor_noise_handshake_local_static(const struct rumor_noise_handshake *hs)
{
	return hs->s_pub;
}

int rumor_noise_handshake_hash(const struct rumor_noise_handshake *hs,
			       uint8_t out[RUMOR_NOISE_HASH_SIZE])
{
	if (!rumor_noise_handshake_finished(hs))
		return -EPROTO;
	memcpy(out, hs->ss.h, RUMOR_NOISE_HASH_SIZE);
	return 0;
}

/*
 * Spec 5.2: "Split(): Sets temp_k1, temp_k2 = HKDF(ck, zerolen, 2). ...
 * Creates two new CipherState objects c1 and c2. Calls
 * c1.InitializeKey(temp_k1) and c2.InitializeKey(temp_k2). Returns the pair
 * (c1, c2)."  Spec 5.3: the initiator sends with c1, the responder with c2.
 */
int rumor_noise_handshake_split(struct rumor_noise_handshake *hs, struct rumor_noise_cipher *send,
				struct rumor_noise_cipher *recv)
{
	uint8_t k1[RUMOR_NOISE_KEY_SIZE], k2[RUMOR_NOISE_KEY_SIZE];

	if (hs == NULL || send == NULL || recv == NULL)
		return -EINVAL;
	if (hs->state != RUMOR_NOISE_STATE_DONE)
		return -EPROTO;
	hkdf(hs->ss.ck, NULL, 0, k1, k2, NULL);
	rumor_noise_cipher_init(send, hs->initiator ? k1 : k2);
	rumor_noise_cipher_init(recv, hs->initiator ? k2 : k1);
	sodium_memzero(k1, sizeof(k1));
	sodium_memzero(k2, sizeof(k2));
	wipe_secrets(hs);
	hs->state = RUMOR_NOISE_STATE_SPLIT;
	return 0;
}

const char *rumor_noise_handshake_reason(const struct rumor_noise_handshake *hs)
{
	return hs->reason != NULL ? hs->reason : "";
}

void rumor_noise_handshake_free(struct rumor_noise_handshake *hs)
{
	if (hs == NULL)
		return;
	sodium_memzero(hs, sizeof(*hs));
	hs->state = RUMOR_NOISE_STATE_ERROR;
	hs->reason = "freed";
}
