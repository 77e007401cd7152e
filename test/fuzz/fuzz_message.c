/*
 * test/fuzz/fuzz_message.c: libFuzzer target for the message decoder
 * (net/message.c), the first code a peer's decrypted bytes reach.
 *
 * Input: one whole message (envelope and body).
 * Checked: no crash or sanitizer report; a decode failure always has a
 * reason; a message that decodes (and is not a skipped unknown optional
 * type) re-encodes to exactly the input bytes, with rumor_msg_encoded_size()
 * agreeing, and every list entry can be read back.
 * Seeds: test/fuzz/corpus/message/ (one message of each type).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "net/message.h"

#define CHECK(cond)                                                                            \
	do {                                                                                   \
		if (!(cond))                                                                   \
			abort();                                                               \
	} while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rumor_msg m;
	const char *why = rumor_msg_decode(&m, data, size);
	size_t enc_size = 0, out_len = 0;
	uint8_t *out;

	if (why) {
		CHECK(why[0] != '\0');
		return 0;
	}
	if (m.skipped) {
		CHECK(m.flags & RUMOR_MSG_FLAG_OPTIONAL);
		CHECK(rumor_msg_type_name(m.type) == NULL);
		return 0;
	}
	CHECK(rumor_msg_type_name(m.type) != NULL);
	switch ((enum rumor_msg_type)m.type) {
	case RUMOR_MSG_INV:
	case RUMOR_MSG_GETDATA:
	case RUMOR_MSG_NOTFOUND:
		for (uint32_t i = 0; i < m.u.inv.entries.count; i++) {
			struct rumor_inv_entry e;

			rumor_msg_inv_entry(&m.u.inv.entries, i, &e);
			CHECK(e.kind == 1 || e.kind == 2);
		}
		break;
	case RUMOR_MSG_ADDR:
		for (uint32_t i = 0; i < m.u.addr.entries.count; i++) {
			struct rumor_addr_entry e;

			rumor_msg_addr_entry(&m.u.addr.entries, i, &e);
			CHECK(e.family == RUMOR_ADDR_IPV4 || e.family == RUMOR_ADDR_IPV6);
		}
		break;
	case RUMOR_MSG_HELLO:
	case RUMOR_MSG_PING:
	case RUMOR_MSG_PONG:
	case RUMOR_MSG_TX:
	case RUMOR_MSG_BLOCK:
	case RUMOR_MSG_GETADDR:
	case RUMOR_MSG_DISCONNECT:
		break;
	}
	CHECK(rumor_msg_encoded_size(&m, &enc_size) == 0);
	CHECK(enc_size == size);
	out = malloc(size);
	CHECK(out != NULL);
	CHECK(rumor_msg_encode(&m, out, size, &out_len) == 0);
	CHECK(out_len == size);
	CHECK(memcmp(out, data, size) == 0);
	free(out);
	return 0;
}
