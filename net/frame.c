/*
 * net/frame.c: encrypted framing over the Noise transport ciphers.  Wire
 * format, rekeying, ownership and errors are in net/frame.h.
 *
 * Decoder states (one frame at a time; a message may span frames):
 *
 *   WANT_HEADER --18 bytes, authentic, 17 <= length <= 65535,
 *                 message would stay within the limit--> WANT_PAYLOAD
 *   WANT_PAYLOAD --length bytes, authentic, valid marker--> WANT_HEADER
 *                 (marker 0: yield the message)
 *   any --bad input--> FAILED (reason set; every later call -EPROTO)
 *
 * Memory a peer can make us hold: one frame (64 KiB) plus its plaintext
 * (64 KiB) plus a reassembly buffer that never grows past
 * RUMOR_FRAME_MESSAGE_MAX; the size check happens when the header arrives,
 * before the payload is buffered.  A reassembly buffer over
 * REASSEMBLY_KEEP bytes is released after its message has been handed out,
 * so an idle peer does not pin 4 MiB.
 */
#include "net/frame.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#define REASSEMBLY_KEEP (256u * 1024u)

_Static_assert(RUMOR_FRAME_HEADER_SIZE == 18, "header size");
_Static_assert(RUMOR_FRAME_FRAGMENT_MAX == 65518, "fragment size");
_Static_assert(RUMOR_FRAME_PAYLOAD_MAX == RUMOR_FRAME_FRAGMENT_MAX + 1 + RUMOR_NOISE_TAG_SIZE,
	       "a full fragment fills the largest Noise message");
_Static_assert(RUMOR_FRAME_MESSAGE_MAX == 4u * 1024u * 1024u + 1024u, "message limit");

/* ---- encoder ---- */

int rumor_frame_encoder_init(struct rumor_frame_encoder *e, const struct rumor_noise_cipher *send,
			     uint64_t rekey_interval)
{
	if (!e || !send || !rumor_noise_cipher_has_key(send) || rekey_interval == 0)
		return -EINVAL;
	memset(e, 0, sizeof(*e));
	e->cs = *send;
	e->rekey_interval = rekey_interval;
	return 0;
}

static size_t frame_count(size_t len)
{
	if (len == 0)
		return 1;
	return (len + RUMOR_FRAME_FRAGMENT_MAX - 1) / RUMOR_FRAME_FRAGMENT_MAX;
}

size_t rumor_frame_encoded_size(size_t len)
{
	assert(len <= RUMOR_FRAME_MESSAGE_MAX);
	return frame_count(len) * RUMOR_FRAME_OVERHEAD + len;
}

int rumor_frame_encode(struct rumor_frame_encoder *e, const uint8_t *msg, size_t len, uint8_t *out,
		       size_t cap, size_t *out_len)
{
	size_t pos = 0, done = 0, n_frames;

	if (!e || !out || !out_len || (!msg && len))
		return -EINVAL;
	if (e->failed)
		return -EPROTO;
	if (len > RUMOR_FRAME_MESSAGE_MAX)
		return -EMSGSIZE;
	if (cap < rumor_frame_encoded_size(len))
		return -ENOBUFS;
	n_frames = frame_count(len);
	for (size_t i = 0; i < n_frames; i++) {
		size_t frag = len - done < RUMOR_FRAME_FRAGMENT_MAX ? len - done
								    : RUMOR_FRAME_FRAGMENT_MAX;
		size_t payload_len = 1 + frag + RUMOR_NOISE_TAG_SIZE, n;
		uint8_t length[2] = { (uint8_t)payload_len, (uint8_t)(payload_len >> 8) };
		int rc;

		e->scratch[0] = i + 1 < n_frames ? RUMOR_FRAME_MARKER_MORE : RUMOR_FRAME_MARKER_LAST;
		if (frag)
			memcpy(e->scratch + 1, msg + done, frag);
		rc = rumor_noise_cipher_encrypt(&e->cs, NULL, 0, length, 2, out + pos, cap - pos, &n);
		if (rc == 0) {
			assert(n == RUMOR_FRAME_HEADER_SIZE);
			pos += n;
			rc = rumor_noise_cipher_encrypt(&e->cs, NULL, 0, e->scratch, 1 + frag,
							out + pos, cap - pos, &n);
		}
		/* only scratch[0..1 + frag) held plaintext: wipe that, not 64 KiB a frame */
		sodium_memzero(e->scratch, 1 + frag);
		if (rc < 0) {
			/* Only nonce exhaustion can get here: sizes were checked. */
			e->failed = 1;
			return rc;
		}
		assert(n == payload_len);
		pos += n;
		done += frag;
		if (++e->frames == e->rekey_interval) {
			rc = rumor_noise_cipher_rekey(&e->cs);
			assert(rc == 0);
			e->frames = 0;
		}
	}
	assert(done == len && pos == rumor_frame_encoded_size(len));
	*out_len = pos;
	return 0;
}

void rumor_frame_encoder_free(struct rumor_frame_encoder *e)
{
	if (!e)
		return;
	rumor_noise_cipher_free(&e->cs);
	sodium_memzero(e->scratch, sizeof(e->scratch));
	e->failed = 1;
}

/* ---- decoder ---- */

int rumor_frame_decoder_init(struct rumor_frame_decoder *d, const struct rumor_noise_cipher *recv,
			     uint64_t rekey_interval)
{
	if (!d || !recv || !rumor_noise_cipher_has_key(recv) || rekey_interval == 0)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	d->frame = malloc(RUMOR_FRAME_PAYLOAD_MAX);
	d->plain = malloc(RUMOR_NOISE_MAX_PLAINTEXT);
	if (!d->frame || !d->plain) {
		free(d->frame);
		free(d->plain);
		memset(d, 0, sizeof(*d));
		return -ENOMEM;
	}
	d->cs = *recv;
	d->wipe = RUMOR_FRAME_HEADER_SIZE;
	d->rekey_interval = rekey_interval;
	d->state = RUMOR_FRAME_WANT_HEADER;
	return 0;
}

static int fail(struct rumor_frame_decoder *d, const char *reason, int rc)
{
	d->state = RUMOR_FRAME_FAILED;
	d->reason = reason;
	rumor_noise_cipher_free(&d->cs);
	free(d->msg);
	d->msg = NULL;
	d->msg_len = d->msg_cap = 0;
	return rc;
}

/* Appends n plaintext bytes to the reassembly buffer (the caller has
 * checked the limit).  Returns 0 or -ENOMEM. */
static int reassemble(struct rumor_frame_decoder *d, const uint8_t *p, size_t n)
{
	size_t need = d->msg_len + n;

	assert(need <= RUMOR_FRAME_MESSAGE_MAX);
	if (need > d->msg_cap) {
		size_t cap = d->msg_cap ? d->msg_cap * 2 : 2 * RUMOR_FRAME_FRAGMENT_MAX;
		uint8_t *m;

		if (cap < need)
			cap = need;
		if (cap > RUMOR_FRAME_MESSAGE_MAX)
			cap = RUMOR_FRAME_MESSAGE_MAX;
		m = realloc(d->msg, cap);
		if (!m)
			return -ENOMEM;
		d->msg = m;
		d->msg_cap = cap;
	}
	if (n)
		memcpy(d->msg + d->msg_len, p, n);
	d->msg_len = need;
	return 0;
}

/* The message handed out last time is done with. */
static void release_last(struct rumor_frame_decoder *d)
{
	if (d->msg_len == 0 && d->msg_cap > REASSEMBLY_KEEP) {
		free(d->msg);
		d->msg = NULL;
		d->msg_cap = 0;
	}
}

int rumor_frame_decoder_feed(struct rumor_frame_decoder *d, const uint8_t *in, size_t len,
			     size_t *consumed, const uint8_t **msg, size_t *msg_len)
{
	size_t used = 0;

	if (!d || !consumed || !msg || !msg_len || (!in && len))
		return -EINVAL;
	*consumed = 0;
	if (d->state == RUMOR_FRAME_FAILED)
		return -EPROTO;
	release_last(d);

	for (;;) {
		size_t want = 0, take, n;
		uint8_t marker;

		switch (d->state) {
		case RUMOR_FRAME_FAILED:
			assert(!"unreachable");
			return -EPROTO;
		case RUMOR_FRAME_WANT_HEADER:
			want = RUMOR_FRAME_HEADER_SIZE;
			break;
		case RUMOR_FRAME_WANT_PAYLOAD:
			want = d->payload_len;
			break;
		}
		take = len - used < want - d->have ? len - used : want - d->have;
		if (take)
			memcpy(d->frame + d->have, in + used, take);
		d->have += take;
		used += take;
		*consumed = used;
		if (d->have < want)
			return 0;
		d->have = 0;

		if (d->state == RUMOR_FRAME_WANT_HEADER) {
			uint8_t length[2];
			size_t payload_len;

			if (rumor_noise_cipher_decrypt(&d->cs, NULL, 0, d->frame,
						       RUMOR_FRAME_HEADER_SIZE, length,
						       sizeof(length), &n) < 0)
				return fail(d, "frame header failed authentication", -EBADMSG);
			payload_len = (size_t)length[0] | (size_t)length[1] << 8;
			if (payload_len < RUMOR_FRAME_PAYLOAD_MIN)
				return fail(d, "frame length shorter than marker and tag", -EBADMSG);
			/* Before buffering the payload: would the message outgrow the limit? */
			if (d->msg_len + (payload_len - RUMOR_FRAME_PAYLOAD_MIN) >
			    RUMOR_FRAME_MESSAGE_MAX)
				return fail(d, "message larger than the transport limit", -EBADMSG);
			d->payload_len = payload_len;
			if (payload_len > d->wipe)
				d->wipe = payload_len;
			d->state = RUMOR_FRAME_WANT_PAYLOAD;
			continue;
		}

		if (rumor_noise_cipher_decrypt(&d->cs, NULL, 0, d->frame, d->payload_len, d->plain,
					       RUMOR_NOISE_MAX_PLAINTEXT, &n) < 0)
			return fail(d, "frame payload failed authentication", -EBADMSG);
		assert(n == d->payload_len - RUMOR_NOISE_TAG_SIZE && n >= 1);
		d->state = RUMOR_FRAME_WANT_HEADER;
		if (++d->frames == d->rekey_interval) {
			int rc = rumor_noise_cipher_rekey(&d->cs);

			assert(rc == 0);
			(void)rc;
			d->frames = 0;
		}
		marker = d->plain[0];
		n -= 1;
		if (marker == RUMOR_FRAME_MARKER_MORE) {
			if (n != RUMOR_FRAME_FRAGMENT_MAX)
				return fail(d, "non-final fragment is not full", -EBADMSG);
			if (reassemble(d, d->plain + 1, n) < 0)
				return fail(d, "out of memory reassembling a message", -ENOMEM);
			continue;
		}
		if (marker != RUMOR_FRAME_MARKER_LAST)
			return fail(d, "frame has an unknown continuation marker", -EBADMSG);
		if (d->msg_len == 0) {
			/* Single-frame message: hand out the plaintext buffer. */
			*msg = d->plain + 1;
			*msg_len = n;
			return 1;
		}
		if (reassemble(d, d->plain + 1, n) < 0)
			return fail(d, "out of memory reassembling a message", -ENOMEM);
		*msg = d->msg;
		*msg_len = d->msg_len;
		d->msg_len = 0; /* the bytes stay valid until the next call */
		return 1;
	}
}

const char *rumor_frame_decoder_reason(const struct rumor_frame_decoder *d)
{
	return d->reason ? d->reason : "";
}

size_t rumor_frame_decoder_buffered(const struct rumor_frame_decoder *d)
{
	return d->have + d->msg_len;
}

void rumor_frame_decoder_free(struct rumor_frame_decoder *d)
{
	if (!d)
		return;
	rumor_noise_cipher_free(&d->cs);
	/* frame and plain never held more than the largest frame seen */
	if (d->frame)
		sodium_memzero(d->frame, d->wipe);
	if (d->plain)
		sodium_memzero(d->plain, d->wipe - RUMOR_NOISE_TAG_SIZE);
	free(d->frame);
	free(d->plain);
	free(d->msg);
	memset(d, 0, sizeof(*d));
	d->state = RUMOR_FRAME_FAILED;
}
