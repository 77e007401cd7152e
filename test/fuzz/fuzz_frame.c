/*
 * test/fuzz/fuzz_frame.c: libFuzzer target for the encrypted frame decoder
 * (net/frame.c), keyed with a fixed transport key.
 *
 * Input: a mode byte, a chunk byte, then data.
 *   mode bit 0 = 0: data is wire bytes from a peer, fed to a decoder in
 *                   chunks of (chunk + 1) bytes; rekey interval 1 + bits 1..2.
 *   mode bit 0 = 1: data is a message: encrypted with an encoder, decoded
 *                   back in chunks of (chunk + 1) bytes; must round-trip.
 * Checked: no crash or sanitizer report; consumed counts stay within the
 * input; an error is sticky (-EPROTO afterwards) and has a reason;
 * buffered bytes never pass one frame plus the message limit; in mode 1
 * exactly one message comes out, equal to the input.
 * Seeds: test/fuzz/corpus/frame/ (mode 0 seeds are valid frames under the
 * fixed key, made by the same encoder, so runs get past authentication).
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/noise.h"
#include "crypto/sign.h"
#include "net/frame.h"

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond))                                                                   \
			abort();                                                               \
	} while (0)

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The key the seed corpus was made with. */
static const uint8_t fuzz_key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
static struct rumor_frame_encoder encoder;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	CHECK(rumor_crypto_init() == 0);
	return 0;
}

/* Feeds in[0..len) in chunks; returns the number of messages, or -1 on a
 * decoder error.  When want is set, every message must equal it. */
static int feed_all(struct rumor_frame_decoder *d, const uint8_t *in, size_t len, size_t chunk,
		    const uint8_t *want, size_t want_len)
{
	size_t pos = 0;
	int messages = 0;

	while (pos < len) {
		size_t n = len - pos < chunk ? len - pos : chunk, used = 0, msg_len = 0;
		const uint8_t *msg = NULL;
		int rc = rumor_frame_decoder_feed(d, in + pos, n, &used, &msg, &msg_len);

		CHECK(used <= n);
		CHECK(rumor_frame_decoder_buffered(d) <=
		      RUMOR_FRAME_PAYLOAD_MAX + RUMOR_FRAME_MESSAGE_MAX);
		if (rc < 0) {
			CHECK(rc == -EBADMSG);
			CHECK(rumor_frame_decoder_reason(d)[0] != '\0');
			CHECK(rumor_frame_decoder_feed(d, in, len, &used, &msg, &msg_len) == -EPROTO);
			return -1;
		}
		pos += used;
		if (rc == 1) {
			CHECK(msg_len <= RUMOR_FRAME_MESSAGE_MAX);
			if (want) {
				CHECK(msg_len == want_len);
				CHECK(msg_len == 0 || memcmp(msg, want, msg_len) == 0);
			}
			messages++;
		} else {
			CHECK(rc == 0 && used == n);
		}
	}
	return messages;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rumor_noise_cipher cs;
	struct rumor_frame_decoder d;
	uint8_t mode, chunk;
	uint64_t interval;

	if (size < 2)
		return 0;
	mode = data[0];
	chunk = data[1];
	data += 2;
	size -= 2;
	interval = 1 + ((mode >> 1) & 3);
	rumor_noise_cipher_init(&cs, fuzz_key);
	CHECK(rumor_frame_decoder_init(&d, &cs, interval) == 0);

	if (!(mode & 1)) {
		(void)feed_all(&d, data, size, (size_t)chunk + 1, NULL, 0);
	} else {
		size_t wire_size = rumor_frame_encoded_size(size), wire_len = 0;
		uint8_t *wire = malloc(wire_size);

		CHECK(wire != NULL);
		CHECK(rumor_frame_encoder_init(&encoder, &cs, interval) == 0);
		CHECK(rumor_frame_encode(&encoder, data, size, wire, wire_size - 1, &wire_len) ==
		      -ENOBUFS);
		CHECK(rumor_frame_encode(&encoder, data, size, wire, wire_size, &wire_len) == 0);
		CHECK(wire_len == wire_size);
		CHECK(feed_all(&d, wire, wire_len, (size_t)chunk + 1, data, size) == 1);
		CHECK(rumor_frame_decoder_buffered(&d) == 0);
		rumor_frame_encoder_free(&encoder);
		free(wire);
	}
	rumor_frame_decoder_free(&d);
	rumor_noise_cipher_free(&cs);
	return 0;
}
