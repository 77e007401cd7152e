/*
 * net/frame.h: the encrypted transport framing (sans-IO) that carries
 * messages (net/message.h) over the Noise transport ciphers
 * (crypto/noise.h) after the handshake's split.
 *
 * Wire format of one frame (each AEAD message uses the next nonce of the
 * direction's cipher, associated data empty):
 *
 *   header  = ENCRYPT(length u16 little-endian)          2 + 16 = 18 bytes
 *   payload = ENCRYPT(marker u8 || fragment)             length bytes
 *
 * length is the payload's ciphertext size, 17..65535 (marker + 16-byte tag
 * at least).  marker 0 = this fragment ends the message, 1 = more fragments
 * follow; any other value is an error.  A fragment that is followed by more
 * must be full (RUMOR_FRAME_FRAGMENT_MAX bytes, length 65535), so the split
 * is canonical.  A message is the concatenation of its fragments, at most
 * RUMOR_FRAME_MESSAGE_MAX bytes; an empty message is one frame with an
 * empty final fragment (the message layer then rejects it).
 *
 * Rekeying: each direction counts the frames it carries; after every
 * rekey_interval frames (RUMOR_FRAME_REKEY_INTERVAL = 2^20 by default, the
 * same on both sides) the sender rekeys its send cipher right after writing
 * that frame, and the receiver rekeys its receive cipher right after reading
 * it (Noise Rekey(): the nonce counter carries on).
 *
 * Ownership: init COPIES the given cipher into the encoder/decoder, which
 * owns it from then on and wipes it in _free (the caller should wipe its
 * own copy).  The decoder allocates a 64 KiB frame buffer and a reassembly
 * buffer that grows to at most RUMOR_FRAME_MESSAGE_MAX bytes; _free
 * releases them.  Pointers handed back by feed are valid until the next
 * call on the decoder.
 *
 * Errors (negative errno):
 *   -EINVAL    bad argument (NULL, cipher without key, interval 0)
 *   -ENOMEM    allocation failed
 *   -EMSGSIZE  encoder: message over RUMOR_FRAME_MESSAGE_MAX
 *   -ENOBUFS   encoder: output buffer smaller than rumor_frame_encoded_size()
 *              (nothing was encrypted, the encoder is unchanged)
 *   -EOVERFLOW encoder: nonce exhausted (the encoder is then failed)
 *   -EBADMSG   decoder: the peer sent something bad: authentication failure,
 *              bad length or marker, message over the limit.  Fatal: the
 *              session must close; rumor_frame_decoder_reason() says why.
 *   -EPROTO    a call after a fatal error
 */
#ifndef RUMOR_NET_FRAME_H
#define RUMOR_NET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "crypto/item.h"
#include "crypto/noise.h"

#define RUMOR_FRAME_HEADER_SIZE (2 + RUMOR_NOISE_TAG_SIZE)           /* 18 */
#define RUMOR_FRAME_PAYLOAD_MAX RUMOR_NOISE_MAX_MESSAGE               /* 65535 */
#define RUMOR_FRAME_PAYLOAD_MIN (1 + RUMOR_NOISE_TAG_SIZE)            /* 17 */
#define RUMOR_FRAME_FRAGMENT_MAX (RUMOR_NOISE_MAX_PLAINTEXT - 1)      /* 65518 */
#define RUMOR_FRAME_OVERHEAD (RUMOR_FRAME_HEADER_SIZE + RUMOR_FRAME_PAYLOAD_MIN) /* 35 */
#define RUMOR_FRAME_MESSAGE_MAX (RUMOR_BLOCK_SIZE_MAX + 1024u)       /* 4 MiB + 1 KiB */
#define RUMOR_FRAME_REKEY_INTERVAL (UINT64_C(1) << 20)

#define RUMOR_FRAME_MARKER_LAST 0
#define RUMOR_FRAME_MARKER_MORE 1

/* Treat the fields as private.  About 64 KiB (the plaintext scratch). */
struct rumor_frame_encoder {
	struct rumor_noise_cipher cs;
	uint64_t rekey_interval;
	uint64_t frames; /* since the last rekey */
	int failed;
	uint8_t scratch[RUMOR_NOISE_MAX_PLAINTEXT]; /* marker || fragment */
};

/* interval: frames between rekeys (RUMOR_FRAME_REKEY_INTERVAL outside
 * tests).  Returns 0 or -EINVAL. */
int rumor_frame_encoder_init(struct rumor_frame_encoder *e, const struct rumor_noise_cipher *send,
			     uint64_t rekey_interval);
/* Exact number of wire bytes for a message of len bytes (len <= MESSAGE_MAX). */
size_t rumor_frame_encoded_size(size_t len);
/* Encrypts msg (len bytes; msg may be NULL when len is 0) as frames into out.
 * Returns 0, -EINVAL, -EMSGSIZE, -ENOBUFS, -EOVERFLOW or -EPROTO. */
int rumor_frame_encode(struct rumor_frame_encoder *e, const uint8_t *msg, size_t len, uint8_t *out,
		       size_t cap, size_t *out_len);
void rumor_frame_encoder_free(struct rumor_frame_encoder *e);

enum rumor_frame_decoder_state {
	RUMOR_FRAME_WANT_HEADER,  /* collecting the 18-byte header */
	RUMOR_FRAME_WANT_PAYLOAD, /* collecting `payload_len` bytes */
	RUMOR_FRAME_FAILED,       /* fatal error; reason set */
};

/* Treat the fields as private. */
struct rumor_frame_decoder {
	struct rumor_noise_cipher cs;
	uint64_t rekey_interval;
	uint64_t frames; /* since the last rekey */
	enum rumor_frame_decoder_state state;
	const char *reason;
	uint8_t *frame;     /* RUMOR_FRAME_PAYLOAD_MAX bytes: ciphertext being collected */
	size_t have;        /* bytes of the current header or payload collected */
	size_t payload_len; /* WANT_PAYLOAD: ciphertext size from the header */
	uint8_t *plain;     /* RUMOR_NOISE_MAX_PLAINTEXT bytes */
	uint8_t *msg;       /* reassembly buffer */
	size_t msg_len, msg_cap;
	size_t wipe; /* bytes of frame (less the tag: of plain) ever written, wiped at free */
};

/* Returns 0, -EINVAL or -ENOMEM (then nothing needs freeing). */
int rumor_frame_decoder_init(struct rumor_frame_decoder *d, const struct rumor_noise_cipher *recv,
			     uint64_t rekey_interval);
/*
 * Consumes bytes from in[0..len) and stops after the first complete message.
 * *consumed gets the number of bytes used (the caller feeds the rest again).
 * Returns 1 with *msg and *msg_len set to a complete message (valid until the
 * next call on d), 0 when every byte was consumed and no message is complete
 * yet, or -EBADMSG/-EPROTO/-ENOMEM/-EINVAL.  -EBADMSG and -ENOMEM are fatal.
 */
int rumor_frame_decoder_feed(struct rumor_frame_decoder *d, const uint8_t *in, size_t len,
			     size_t *consumed, const uint8_t **msg, size_t *msg_len);
/* Why the decoder failed (constant string), or "" when it has not. */
const char *rumor_frame_decoder_reason(const struct rumor_frame_decoder *d);
/* Bytes currently buffered (frame plus reassembly), for per-peer limits. */
size_t rumor_frame_decoder_buffered(const struct rumor_frame_decoder *d);
void rumor_frame_decoder_free(struct rumor_frame_decoder *d);

#endif
