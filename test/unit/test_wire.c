/*
 * test/unit/test_wire.c: net/message (the schema-driven codec) and
 * net/frame (encrypted framing over Noise transport ciphers).
 *
 * Messages: every type round-trips and re-encodes to the same bytes; the
 * ping and inv hex examples of doc/protocol.md ("Transport"); each rejection (every
 * truncation, a trailing byte, counts/lengths over their caps, bad UTF-8,
 * bad entries, reserved flags, unknown mandatory type) and the skip of an
 * unknown optional type.
 * Frames: round trips (small, several per buffer, byte at a time, 4 MiB),
 * exact sizes, tampering anywhere is fatal, oversized messages fail before
 * the payload is buffered, malformed frames, rekeying after N frames (and a
 * receiver that did not rekey fails).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "crypto/hex.h"
#include "crypto/noise.h"
#include "crypto/sign.h"
#include "net/frame.h"
#include "net/message.h"
#include "test/unit/doc_examples.h"

/* ---- message helpers ---- */

static uint8_t *encode_alloc(const struct rumor_msg *m, size_t *len)
{
	size_t size = 0, out_len = 0;
	uint8_t *buf;

	assert_int_equal(rumor_msg_encoded_size(m, &size), 0);
	buf = malloc(size ? size : 1);
	assert_non_null(buf);
	if (size > 0)
		assert_int_equal(rumor_msg_encode(m, buf, size - 1, &out_len), -ENOBUFS);
	assert_int_equal(rumor_msg_encode(m, buf, size, &out_len), 0);
	assert_int_equal(out_len, size);
	*len = size;
	return buf;
}

/* Encodes m, decodes it into *out (borrowing *buf), and checks that the
 * decoded message re-encodes to the same bytes. */
static uint8_t *roundtrip(const struct rumor_msg *m, struct rumor_msg *out, size_t *len)
{
	uint8_t *buf = encode_alloc(m, len), *again;
	size_t len2;

	assert_null(rumor_msg_decode(out, buf, *len));
	assert_int_equal(out->skipped, 0);
	assert_int_equal(out->type, m->type);
	assert_int_equal(out->flags, m->flags);
	again = encode_alloc(out, &len2);
	assert_int_equal(len2, *len);
	assert_memory_equal(again, buf, *len);
	free(again);
	return buf;
}

static struct rumor_msg_string str(const char *s)
{
	struct rumor_msg_string r = { (const uint8_t *)s, (uint16_t)strlen(s) };

	return r;
}

static void assert_str(struct rumor_msg_string s, const char *want)
{
	assert_int_equal(s.len, strlen(want));
	assert_memory_equal(s.ptr, want, s.len);
}

static void make_hello(struct rumor_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->type = RUMOR_MSG_HELLO;
	m->u.hello.version = 1;
	m->u.hello.network = str("main");
	m->u.hello.services = 0x8000000000000001ull;
	m->u.hello.best_height = 123456789;
	m->u.hello.user_agent = str("rumor/0.1 \xc3\xa9t\xc3\xa9");
	m->u.hello.port = 8633;
	m->u.hello.timestamp = 1700000000;
	m->u.hello.nonce = 0xfedcba9876543210ull;
}

static struct rumor_inv_entry inv_entries[3];
static struct rumor_addr_entry addr_entries[2];

static void make_inv(struct rumor_msg *m, uint16_t type)
{
	memset(m, 0, sizeof(*m));
	m->type = type;
	for (int i = 0; i < 3; i++) {
		inv_entries[i].kind = i == 1 ? RUMOR_ITEM_BLOCK : RUMOR_ITEM_TX;
		memset(inv_entries[i].id, 0x10 + i, RUMOR_ID_SIZE);
	}
	m->u.inv.entries.entries = inv_entries;
	m->u.inv.entries.count = 3;
}

static void make_addr(struct rumor_msg *m)
{
	memset(m, 0, sizeof(*m));
	memset(addr_entries, 0, sizeof(addr_entries));
	m->type = RUMOR_MSG_ADDR;
	addr_entries[0].family = RUMOR_ADDR_IPV4;
	addr_entries[0].address[0] = 192;
	addr_entries[0].address[1] = 0;
	addr_entries[0].address[2] = 2;
	addr_entries[0].address[3] = 7;
	addr_entries[0].port = 8633;
	addr_entries[0].last_seen = 1700000001;
	memset(addr_entries[0].node_id, 0xaa, RUMOR_ID_SIZE);
	addr_entries[1].family = RUMOR_ADDR_IPV6;
	addr_entries[1].address[0] = 0x20;
	addr_entries[1].address[1] = 0x01;
	addr_entries[1].address[15] = 0x01;
	addr_entries[1].port = 1;
	addr_entries[1].last_seen = UINT64_MAX;
	memset(addr_entries[1].node_id, 0xbb, RUMOR_ID_SIZE);
	m->u.addr.entries.entries = addr_entries;
	m->u.addr.entries.count = 2;
}

/* ---- message tests ---- */

static void test_roundtrip_hello(void **state)
{
	struct rumor_msg m, d;
	size_t len;
	uint8_t *buf;

	(void)state;
	make_hello(&m);
	buf = roundtrip(&m, &d, &len);
	assert_int_equal(len, 3 + 4 + 2 + 4 + 8 + 8 + 2 + strlen("rumor/0.1 été") + 2 + 8 + 8);
	assert_int_equal(d.u.hello.version, 1);
	assert_str(d.u.hello.network, "main");
	assert_true(d.u.hello.services == 0x8000000000000001ull);
	assert_int_equal(d.u.hello.best_height, 123456789);
	assert_str(d.u.hello.user_agent, "rumor/0.1 été");
	assert_int_equal(d.u.hello.port, 8633);
	assert_int_equal(d.u.hello.timestamp, 1700000000);
	assert_true(d.u.hello.nonce == 0xfedcba9876543210ull);
	/* Borrowed, not copied. */
	assert_true(d.u.hello.network.ptr > buf && d.u.hello.network.ptr < buf + len);
	assert_string_equal(rumor_msg_type_name(d.type), "hello");
	free(buf);
}

static void test_roundtrip_ping_pong(void **state)
{
	static const char ping_hex[] = "0200000807060504030201";
	struct rumor_msg m, d;
	char hex[64];
	size_t len;
	uint8_t *buf;

	(void)state;
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_PING;
	m.u.ping.nonce = 0x0102030405060708ull;
	buf = roundtrip(&m, &d, &len);
	rumor_hex_encode(buf, len, hex);
	assert_string_equal(hex, ping_hex); /* doc/protocol.md ("Transport") example */
	assert_true(d.u.ping.nonce == 0x0102030405060708ull);
	free(buf);

	m.type = RUMOR_MSG_PONG;
	m.u.pong.nonce = 7;
	buf = roundtrip(&m, &d, &len);
	assert_int_equal(len, 11);
	assert_int_equal(d.u.pong.nonce, 7);
	free(buf);
}

static void test_roundtrip_inventory(void **state)
{
	static const uint16_t types[] = { RUMOR_MSG_INV, RUMOR_MSG_GETDATA, RUMOR_MSG_NOTFOUND };
	struct rumor_msg m, d;
	struct rumor_inv_entry e;
	size_t len;
	uint8_t *buf;

	(void)state;
	for (size_t t = 0; t < 3; t++) {
		make_inv(&m, types[t]);
		buf = roundtrip(&m, &d, &len);
		assert_int_equal(len, 3 + 4 + 3 * 33);
		assert_int_equal(d.u.inv.entries.count, 3);
		assert_null(d.u.inv.entries.entries);
		for (uint32_t i = 0; i < 3; i++) {
			rumor_msg_inv_entry(&d.u.inv.entries, i, &e);
			assert_memory_equal(&e, &inv_entries[i], sizeof(e));
		}
		free(buf);
	}
}

static void test_inv_hex(void **state)
{
	static const char want[] = "040000"
				   "01000000"
				   "01"
				   "000102030405060708090a0b0c0d0e0f"
				   "101112131415161718191a1b1c1d1e1f";
	struct rumor_inv_entry one = { .kind = RUMOR_ITEM_TX };
	struct rumor_msg m, d;
	char hex[128];
	size_t len;
	uint8_t *buf;

	(void)state;
	for (int i = 0; i < 32; i++)
		one.id[i] = (uint8_t)i;
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_INV;
	m.u.inv.entries.entries = &one;
	m.u.inv.entries.count = 1;
	buf = roundtrip(&m, &d, &len);
	assert_int_equal(len, 40);
	rumor_hex_encode(buf, len, hex);
	assert_string_equal(hex, want);
	free(buf);
}

static void test_roundtrip_items_addr_disconnect(void **state)
{
	struct rumor_msg m, d;
	struct rumor_addr_entry e;
	size_t len;
	uint8_t *buf, *item;

	(void)state;
	/* tx and block at their caps (content is opaque to the codec). */
	item = calloc(1, RUMOR_MSG_BLOCK_MAX);
	assert_non_null(item);
	item[0] = 1;
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_TX;
	m.u.tx.item.ptr = item;
	m.u.tx.item.len = RUMOR_MSG_TX_MAX;
	buf = roundtrip(&m, &d, &len);
	assert_int_equal(d.u.tx.item.len, RUMOR_MSG_TX_MAX);
	free(buf);
	m.type = RUMOR_MSG_BLOCK;
	m.u.block.item.len = RUMOR_MSG_BLOCK_MAX;
	buf = roundtrip(&m, &d, &len);
	assert_int_equal(len, RUMOR_MSG_SIZE_MAX);
	assert_int_equal(d.u.block.item.len, RUMOR_MSG_BLOCK_MAX);
	assert_true(d.u.block.item.ptr == buf + 7);
	free(buf);
	free(item);

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_GETADDR;
	buf = roundtrip(&m, &d, &len);
	assert_int_equal(len, 3);
	free(buf);

	make_addr(&m);
	buf = roundtrip(&m, &d, &len);
	assert_int_equal(len, 3 + 4 + 2 * 59);
	for (uint32_t i = 0; i < 2; i++) {
		rumor_msg_addr_entry(&d.u.addr.entries, i, &e);
		assert_int_equal(e.family, addr_entries[i].family);
		assert_memory_equal(e.address, addr_entries[i].address, 16);
		assert_int_equal(e.port, addr_entries[i].port);
		assert_true(e.last_seen == addr_entries[i].last_seen);
		assert_memory_equal(e.node_id, addr_entries[i].node_id, 32);
	}
	free(buf);

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_DISCONNECT;
	m.flags = RUMOR_MSG_FLAG_OPTIONAL; /* allowed on known types, kept */
	m.u.disconnect.code = 3;
	m.u.disconnect.reason = str("too many peers");
	buf = roundtrip(&m, &d, &len);
	assert_int_equal(d.u.disconnect.code, 3);
	assert_str(d.u.disconnect.reason, "too many peers");
	free(buf);
}

/* Every strict prefix of every message type fails to decode. */
static void test_truncated(void **state)
{
	struct rumor_msg ms[6], d;

	(void)state;
	make_hello(&ms[0]);
	make_inv(&ms[1], RUMOR_MSG_GETDATA);
	make_addr(&ms[2]);
	memset(&ms[3], 0, sizeof(ms[3]));
	ms[3].type = RUMOR_MSG_PING;
	memset(&ms[4], 0, sizeof(ms[4]));
	ms[4].type = RUMOR_MSG_DISCONNECT;
	ms[4].u.disconnect.reason = str("bye");
	memset(&ms[5], 0, sizeof(ms[5]));
	ms[5].type = RUMOR_MSG_TX;
	ms[5].u.tx.item = (struct rumor_msg_blob){ (const uint8_t *)"abcdef", 6 };
	for (size_t k = 0; k < 6; k++) {
		size_t len;
		uint8_t *buf = encode_alloc(&ms[k], &len);

		for (size_t cut = 0; cut < len; cut++) {
			/* A fresh copy of exactly `cut` bytes, so ASan sees overreads. */
			uint8_t *p = malloc(cut ? cut : 1);
			const char *why;

			memcpy(p, buf, cut);
			why = rumor_msg_decode(&d, p, cut);
			assert_non_null(why);
			if (cut < 3)
				assert_string_equal(why, "message shorter than its envelope");
			else
				assert_string_equal(why, "message truncated");
			free(p);
		}
		free(buf);
	}
}

static void test_trailing_byte(void **state)
{
	struct rumor_msg m, d;
	size_t len;
	uint8_t *buf, *longer;

	(void)state;
	make_hello(&m);
	buf = encode_alloc(&m, &len);
	longer = malloc(len + 1);
	memcpy(longer, buf, len);
	longer[len] = 0;
	assert_string_equal(rumor_msg_decode(&d, longer, len + 1), "trailing bytes after message");
	free(longer);
	free(buf);

	{
		static const uint8_t getaddr_plus[] = { 9, 0, 0, 0 };

		assert_string_equal(rumor_msg_decode(&d, getaddr_plus, sizeof(getaddr_plus)),
				    "trailing bytes after message");
		assert_null(rumor_msg_decode(&d, getaddr_plus, 3));
	}
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

/* Counts and lengths over their caps are rejected from the header alone,
 * before the decoder looks for (or loops over) the bytes they announce. */
static void test_over_caps(void **state)
{
	uint8_t b[16] = { 0 };
	struct rumor_msg m, d;
	size_t size;
	char ua[RUMOR_MSG_USER_AGENT_MAX + 2];
	uint8_t *buf;

	(void)state;
	b[0] = RUMOR_MSG_INV;
	put32(b + 3, RUMOR_MSG_INV_MAX + 1);
	assert_string_equal(rumor_msg_decode(&d, b, 7), "inventory: too many entries");
	put32(b + 3, UINT32_MAX);
	assert_string_equal(rumor_msg_decode(&d, b, 7), "inventory: too many entries");
	put32(b + 3, RUMOR_MSG_INV_MAX);
	assert_string_equal(rumor_msg_decode(&d, b, 7), "message truncated");
	b[0] = RUMOR_MSG_NOTFOUND;
	put32(b + 3, RUMOR_MSG_INV_MAX + 1);
	assert_string_equal(rumor_msg_decode(&d, b, 7), "inventory: too many entries");
	b[0] = RUMOR_MSG_ADDR;
	put32(b + 3, RUMOR_MSG_ADDR_MAX + 1);
	assert_string_equal(rumor_msg_decode(&d, b, 7), "addr: too many entries");
	b[0] = RUMOR_MSG_TX;
	put32(b + 3, RUMOR_MSG_TX_MAX + 1);
	assert_string_equal(rumor_msg_decode(&d, b, 7),
			    "tx: item larger than the transaction limit");
	b[0] = RUMOR_MSG_BLOCK;
	put32(b + 3, RUMOR_MSG_BLOCK_MAX + 1);
	assert_string_equal(rumor_msg_decode(&d, b, 7), "block: item larger than the block limit");
	b[0] = RUMOR_MSG_DISCONNECT;
	b[5] = (uint8_t)(RUMOR_MSG_REASON_MAX + 1);
	b[6] = (uint8_t)((RUMOR_MSG_REASON_MAX + 1) >> 8);
	assert_string_equal(rumor_msg_decode(&d, b, 7), "disconnect: reason too long");

	/* hello: user agent of 257 bytes refused by both sides; 256 is fine. */
	memset(ua, 'a', sizeof(ua));
	ua[RUMOR_MSG_USER_AGENT_MAX + 1] = 0;
	make_hello(&m);
	m.u.hello.user_agent = str(ua);
	assert_int_equal(rumor_msg_encoded_size(&m, &size), -EINVAL);
	m.u.hello.user_agent.len = RUMOR_MSG_USER_AGENT_MAX;
	buf = encode_alloc(&m, &size);
	assert_null(rumor_msg_decode(&d, buf, size));
	/* Bump the user agent length field (after version, network, services,
	 * height) to 257 and make room for one more byte. */
	{
		size_t at = 3 + 4 + 2 + 4 + 8 + 8;
		uint8_t *big = malloc(size + 1);

		memcpy(big, buf, at);
		big[at] = (uint8_t)(RUMOR_MSG_USER_AGENT_MAX + 1);
		big[at + 1] = (uint8_t)((RUMOR_MSG_USER_AGENT_MAX + 1) >> 8);
		memset(big + at + 2, 'a', RUMOR_MSG_USER_AGENT_MAX + 1);
		memcpy(big + at + 2 + RUMOR_MSG_USER_AGENT_MAX + 1,
		       buf + at + 2 + RUMOR_MSG_USER_AGENT_MAX, size - at - 2 - RUMOR_MSG_USER_AGENT_MAX);
		assert_string_equal(rumor_msg_decode(&d, big, size + 1),
				    "hello: user agent too long");
		free(big);
	}
	free(buf);
	make_hello(&m);
	m.u.hello.network.len = RUMOR_MSG_NETWORK_MAX + 1;
	m.u.hello.network.ptr = (const uint8_t *)ua;
	assert_int_equal(rumor_msg_encoded_size(&m, &size), -EINVAL);

	/* Encoder refuses over-cap lists and blobs too. */
	make_inv(&m, RUMOR_MSG_INV);
	m.u.inv.entries.count = RUMOR_MSG_INV_MAX + 1;
	assert_int_equal(rumor_msg_encoded_size(&m, &size), -EINVAL);
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_TX;
	m.u.tx.item = (struct rumor_msg_blob){ (const uint8_t *)ua, RUMOR_MSG_TX_MAX + 1 };
	assert_int_equal(rumor_msg_encoded_size(&m, &size), -EINVAL);

	/* A full inv (50000 entries) is accepted. */
	{
		size_t n = 7 + (size_t)RUMOR_MSG_INV_MAX * RUMOR_MSG_INV_ENTRY_SIZE;
		uint8_t *full = calloc(1, n);

		full[0] = RUMOR_MSG_INV;
		put32(full + 3, RUMOR_MSG_INV_MAX);
		for (size_t i = 0; i < RUMOR_MSG_INV_MAX; i++)
			full[7 + i * RUMOR_MSG_INV_ENTRY_SIZE] = RUMOR_ITEM_BLOCK;
		assert_null(rumor_msg_decode(&d, full, n));
		assert_int_equal(d.u.inv.entries.count, RUMOR_MSG_INV_MAX);
		free(full);
	}
}

static void test_bad_values(void **state)
{
	struct rumor_msg m, d;
	size_t len;
	uint8_t *buf;

	(void)state;
	/* Bad UTF-8: an overlong '/', a lone continuation, a surrogate. */
	static const char *const bad[] = { "\xc0\xaf", "\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
					   "ab\xe2\x82" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		uint8_t b[32] = { RUMOR_MSG_DISCONNECT, 0, 0, 1, 0 };
		size_t n = strlen(bad[i]);

		b[5] = (uint8_t)n;
		memcpy(b + 7, bad[i], n);
		assert_string_equal(rumor_msg_decode(&d, b, 7 + n), "string is not valid UTF-8");
		memset(&m, 0, sizeof(m));
		m.type = RUMOR_MSG_DISCONNECT;
		m.u.disconnect.reason = str(bad[i]);
		assert_int_equal(rumor_msg_encoded_size(&m, &len), -EINVAL);
	}

	/* Unknown item kind in an inventory entry. */
	make_inv(&m, RUMOR_MSG_INV);
	buf = encode_alloc(&m, &len);
	buf[7 + 33] = 3;
	assert_string_equal(rumor_msg_decode(&d, buf, len),
			    "inventory entry has an unknown item kind");
	free(buf);
	inv_entries[2].kind = 0;
	assert_int_equal(rumor_msg_encoded_size(&m, &len), -EINVAL);

	/* Address family and IPv4 padding. */
	make_addr(&m);
	buf = encode_alloc(&m, &len);
	buf[7] = 5;
	assert_string_equal(rumor_msg_decode(&d, buf, len),
			    "addr entry: address family is neither 4 nor 6");
	buf[7] = 4;
	buf[7 + 1 + 15] = 1;
	assert_string_equal(rumor_msg_decode(&d, buf, len),
			    "addr entry: IPv4 address with nonzero padding");
	free(buf);
	addr_entries[1].family = 0;
	assert_int_equal(rumor_msg_encoded_size(&m, &len), -EINVAL);
}

static void test_types_and_flags(void **state)
{
	uint8_t b[8] = { 0xe7, 0x03, 0x00, 1, 2, 3 }; /* type 999 */
	struct rumor_msg m, d;
	size_t len;

	(void)state;
	assert_string_equal(rumor_msg_decode(&d, b, 6), "unknown mandatory message type");
	b[0] = 0;
	b[1] = 0;
	assert_string_equal(rumor_msg_decode(&d, b, 6), "unknown mandatory message type");
	b[0] = RUMOR_MSG_TYPE_LAST + 1;
	assert_string_equal(rumor_msg_decode(&d, b, 3), "unknown mandatory message type");
	/* Optional: skipped, whatever the body. */
	b[2] = RUMOR_MSG_FLAG_OPTIONAL;
	assert_null(rumor_msg_decode(&d, b, 6));
	assert_int_equal(d.skipped, 1);
	assert_int_equal(d.type, RUMOR_MSG_TYPE_LAST + 1);
	assert_null(rumor_msg_type_name(d.type));
	/* Reserved flag bits. */
	b[0] = RUMOR_MSG_GETADDR;
	b[2] = 0x02;
	assert_string_equal(rumor_msg_decode(&d, b, 3), "message has reserved flag bits set");
	b[2] = 0x81;
	assert_string_equal(rumor_msg_decode(&d, b, 3), "message has reserved flag bits set");
	b[2] = 0x01;
	assert_null(rumor_msg_decode(&d, b, 3));
	assert_int_equal(d.skipped, 0);

	/* The encoder refuses unknown types and reserved flags. */
	memset(&m, 0, sizeof(m));
	m.type = 0;
	assert_int_equal(rumor_msg_encoded_size(&m, &len), -EINVAL);
	m.type = RUMOR_MSG_TYPE_LAST + 1;
	assert_int_equal(rumor_msg_encoded_size(&m, &len), -EINVAL);
	m.type = RUMOR_MSG_GETADDR;
	m.flags = 2;
	assert_int_equal(rumor_msg_encoded_size(&m, &len), -EINVAL);
	/* Every type has a name. */
	for (uint16_t t = 1; t <= RUMOR_MSG_TYPE_LAST; t++)
		assert_non_null(rumor_msg_type_name(t));
}

/* ---- frame helpers ---- */

static const uint8_t key[32] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };

struct pipe {
	struct rumor_frame_encoder *enc;
	struct rumor_frame_decoder dec;
};

static void pipe_init(struct pipe *p, uint64_t send_interval, uint64_t recv_interval)
{
	struct rumor_noise_cipher a, b;

	rumor_noise_cipher_init(&a, key);
	rumor_noise_cipher_init(&b, key);
	p->enc = malloc(sizeof(*p->enc));
	assert_non_null(p->enc);
	assert_int_equal(rumor_frame_encoder_init(p->enc, &a, send_interval), 0);
	assert_int_equal(rumor_frame_decoder_init(&p->dec, &b, recv_interval), 0);
	rumor_noise_cipher_free(&a);
	rumor_noise_cipher_free(&b);
}

static void pipe_free(struct pipe *p)
{
	rumor_frame_encoder_free(p->enc);
	free(p->enc);
	rumor_frame_decoder_free(&p->dec);
}

static uint8_t *frame_alloc(struct pipe *p, const uint8_t *msg, size_t len, size_t *wire_len)
{
	size_t size = rumor_frame_encoded_size(len);
	uint8_t *out = malloc(size);

	assert_non_null(out);
	assert_int_equal(rumor_frame_encode(p->enc, msg, len, out, size, wire_len), 0);
	assert_int_equal(*wire_len, size);
	return out;
}

/* Feeds wire bytes in chunks of `chunk` and expects exactly one message. */
static void expect_one(struct pipe *p, const uint8_t *wire, size_t wire_len, size_t chunk,
		       const uint8_t *want, size_t want_len)
{
	size_t pos = 0;
	int got = 0;

	while (pos < wire_len) {
		size_t n = wire_len - pos < chunk ? wire_len - pos : chunk, used;
		const uint8_t *msg;
		size_t msg_len;
		int rc = rumor_frame_decoder_feed(&p->dec, wire + pos, n, &used, &msg, &msg_len);

		assert_true(rc == 0 || rc == 1);
		assert_true(used <= n);
		pos += used;
		if (rc == 1) {
			assert_int_equal(got, 0);
			got = 1;
			assert_int_equal(msg_len, want_len);
			if (want_len)
				assert_memory_equal(msg, want, want_len);
		} else {
			assert_int_equal(used, n);
		}
	}
	assert_int_equal(got, 1);
	assert_int_equal(rumor_frame_decoder_buffered(&p->dec), 0);
}

static uint8_t *pattern_alloc(size_t len, uint8_t seed)
{
	uint8_t *b = malloc(len ? len : 1);

	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 31 + seed + (i >> 16));
	return b;
}

/* ---- frame tests ---- */

static void test_frame_sizes(void **state)
{
	(void)state;
	assert_int_equal(rumor_frame_encoded_size(0), 35);
	assert_int_equal(rumor_frame_encoded_size(1), 36);
	assert_int_equal(rumor_frame_encoded_size(RUMOR_FRAME_FRAGMENT_MAX),
			 18 + RUMOR_NOISE_MAX_MESSAGE);
	assert_int_equal(rumor_frame_encoded_size(RUMOR_FRAME_FRAGMENT_MAX + 1),
			 18 + RUMOR_NOISE_MAX_MESSAGE + 36);
	assert_int_equal(rumor_frame_encoded_size(RUMOR_FRAME_MESSAGE_MAX),
			 65 * 35 + RUMOR_FRAME_MESSAGE_MAX);
}

/* The framed ping of doc/protocol.md ("Transport"): key 00 01 .. 1f, nonces from 0.
 * Cross-checked with an independent ChaCha20-Poly1305 implementation. */
static void test_frame_example(void **state)
{
	static const uint8_t ping[11] = { 2, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1 };
	static const char want[] = "04b81d4b665df4abdfc6b865977a1617112e"
				   "9f55f35fbd2da91d2db5ac5d7f8b0787535308d05b5d8ebcb99e43ff";
	static struct rumor_frame_encoder e;
	struct rumor_frame_decoder d;
	struct rumor_noise_cipher cs;
	uint8_t k[32], wire[64];
	char hex[160];
	size_t n, used, msg_len;
	const uint8_t *msg;

	(void)state;
	for (int i = 0; i < 32; i++)
		k[i] = (uint8_t)i;
	rumor_noise_cipher_init(&cs, k);
	assert_int_equal(rumor_frame_encoder_init(&e, &cs, RUMOR_FRAME_REKEY_INTERVAL), 0);
	assert_int_equal(rumor_frame_decoder_init(&d, &cs, RUMOR_FRAME_REKEY_INTERVAL), 0);
	assert_int_equal(rumor_frame_encode(&e, ping, sizeof(ping), wire, sizeof(wire), &n), 0);
	assert_int_equal(n, 46);
	rumor_hex_encode(wire, n, hex);
	assert_string_equal(hex, want);
	assert_int_equal(rumor_frame_decoder_feed(&d, wire, n, &used, &msg, &msg_len), 1);
	assert_int_equal(msg_len, sizeof(ping));
	assert_memory_equal(msg, ping, sizeof(ping));
	rumor_frame_encoder_free(&e);
	rumor_frame_decoder_free(&d);
	rumor_noise_cipher_free(&cs);
}

static void test_frame_roundtrip_small(void **state)
{
	static const size_t sizes[] = { 0, 1, 11, 1000, RUMOR_FRAME_FRAGMENT_MAX,
					RUMOR_FRAME_FRAGMENT_MAX + 1, 3 * RUMOR_FRAME_FRAGMENT_MAX };
	struct pipe p;

	(void)state;
	pipe_init(&p, RUMOR_FRAME_REKEY_INTERVAL, RUMOR_FRAME_REKEY_INTERVAL);
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *msg = pattern_alloc(sizes[i], (uint8_t)i), *wire;
		size_t wire_len;

		wire = frame_alloc(&p, msg, sizes[i], &wire_len);
		expect_one(&p, wire, wire_len, wire_len, msg, sizes[i]);
		free(wire);
		/* Byte at a time, for the smaller ones. */
		if (sizes[i] <= RUMOR_FRAME_FRAGMENT_MAX + 1) {
			wire = frame_alloc(&p, msg, sizes[i], &wire_len);
			expect_one(&p, wire, wire_len, 1, msg, sizes[i]);
			free(wire);
		}
		free(msg);
	}
	pipe_free(&p);
}

/* Several messages in one buffer come out one per call. */
static void test_frame_many_in_one_buffer(void **state)
{
	uint8_t wire[3 * 64], *w1, *w2, *w3;
	size_t l1, l2, l3, pos = 0, used, msg_len;
	const uint8_t *msg;
	struct pipe p;

	(void)state;
	pipe_init(&p, RUMOR_FRAME_REKEY_INTERVAL, RUMOR_FRAME_REKEY_INTERVAL);
	w1 = frame_alloc(&p, (const uint8_t *)"one", 3, &l1);
	w2 = frame_alloc(&p, (const uint8_t *)"", 0, &l2);
	w3 = frame_alloc(&p, (const uint8_t *)"three", 5, &l3);
	memcpy(wire, w1, l1);
	memcpy(wire + l1, w2, l2);
	memcpy(wire + l1 + l2, w3, l3);
	assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire, l1 + l2 + l3, &used, &msg, &msg_len), 1);
	assert_int_equal(used, l1);
	assert_int_equal(msg_len, 3);
	assert_memory_equal(msg, "one", 3);
	pos = used;
	assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire + pos, l1 + l2 + l3 - pos, &used, &msg, &msg_len), 1);
	assert_int_equal(msg_len, 0);
	pos += used;
	assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire + pos, l1 + l2 + l3 - pos, &used, &msg, &msg_len), 1);
	assert_int_equal(msg_len, 5);
	assert_memory_equal(msg, "three", 5);
	pos += used;
	assert_int_equal(pos, l1 + l2 + l3);
	assert_int_equal(rumor_frame_decoder_feed(&p.dec, NULL, 0, &used, &msg, &msg_len), 0);
	free(w1);
	free(w2);
	free(w3);
	pipe_free(&p);
}

/* A 4 MiB block message, and the largest transport message. */
static void test_frame_roundtrip_large(void **state)
{
	struct rumor_msg m, d;
	struct pipe p;
	uint8_t *item = pattern_alloc(RUMOR_BLOCK_SIZE_MAX, 9), *enc, *wire, *biggest;
	size_t enc_len, wire_len, used, msg_len;
	const uint8_t *msg;

	(void)state;
	pipe_init(&p, RUMOR_FRAME_REKEY_INTERVAL, RUMOR_FRAME_REKEY_INTERVAL);
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_BLOCK;
	m.u.block.item.ptr = item;
	m.u.block.item.len = RUMOR_BLOCK_SIZE_MAX;
	enc = encode_alloc(&m, &enc_len);
	wire = frame_alloc(&p, enc, enc_len, &wire_len);
	assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire, wire_len, &used, &msg, &msg_len), 1);
	assert_int_equal(used, wire_len);
	assert_int_equal(msg_len, enc_len);
	assert_null(rumor_msg_decode(&d, msg, msg_len));
	assert_int_equal(d.type, RUMOR_MSG_BLOCK);
	assert_memory_equal(d.u.block.item.ptr, item, RUMOR_BLOCK_SIZE_MAX);
	free(wire);

	biggest = pattern_alloc(RUMOR_FRAME_MESSAGE_MAX, 3);
	wire = frame_alloc(&p, biggest, RUMOR_FRAME_MESSAGE_MAX, &wire_len);
	expect_one(&p, wire, wire_len, 4096, biggest, RUMOR_FRAME_MESSAGE_MAX);
	free(wire);
	/* A small message after the big one still works (buffer released). */
	wire = frame_alloc(&p, (const uint8_t *)"x", 1, &wire_len);
	expect_one(&p, wire, wire_len, wire_len, (const uint8_t *)"x", 1);
	free(wire);
	free(biggest);
	free(enc);
	free(item);
	pipe_free(&p);
}

/* Flipping any bit of the wire bytes is fatal. */
static void tamper_all(const uint8_t *msg, size_t len, size_t step)
{
	struct pipe p0;
	size_t wire_len;
	uint8_t *wire;

	pipe_init(&p0, RUMOR_FRAME_REKEY_INTERVAL, RUMOR_FRAME_REKEY_INTERVAL);
	wire = frame_alloc(&p0, msg, len, &wire_len);
	pipe_free(&p0);
	for (size_t at = 0; at < wire_len; at += (at < 64 || wire_len - at < 64) ? 1 : step) {
		struct pipe p;
		size_t used, msg_len;
		const uint8_t *out;
		int rc;

		pipe_init(&p, RUMOR_FRAME_REKEY_INTERVAL, RUMOR_FRAME_REKEY_INTERVAL);
		wire[at] ^= 0x40;
		rc = rumor_frame_decoder_feed(&p.dec, wire, wire_len, &used, &out, &msg_len);
		wire[at] ^= 0x40;
		assert_int_equal(rc, -EBADMSG);
		assert_true(strstr(rumor_frame_decoder_reason(&p.dec), "failed authentication") != NULL);
		assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire, wire_len, &used, &out, &msg_len),
				 -EPROTO);
		assert_int_equal(used, 0);
		pipe_free(&p);
	}
	free(wire);
}

static void test_frame_tamper(void **state)
{
	uint8_t *big = pattern_alloc(RUMOR_FRAME_FRAGMENT_MAX + 100, 5);

	(void)state;
	tamper_all((const uint8_t *)"hello, tamper", 13, 1);
	tamper_all(big, RUMOR_FRAME_FRAGMENT_MAX + 100, 1021);
	free(big);
}

/* Builds one raw frame with any marker and fragment. */
static size_t raw_frame(struct rumor_noise_cipher *cs, uint8_t marker, const uint8_t *frag,
			size_t n, size_t claimed_len, uint8_t *out)
{
	uint8_t plain[RUMOR_NOISE_MAX_PLAINTEXT];
	uint8_t length[2] = { (uint8_t)claimed_len, (uint8_t)(claimed_len >> 8) };
	size_t a, b = 0;

	assert_int_equal(rumor_noise_cipher_encrypt(cs, NULL, 0, length, 2, out, 64, &a), 0);
	if (claimed_len < RUMOR_FRAME_PAYLOAD_MIN)
		return a;
	plain[0] = marker;
	if (n)
		memcpy(plain + 1, frag, n);
	assert_int_equal(rumor_noise_cipher_encrypt(cs, NULL, 0, plain, n + 1, out + a,
						    RUMOR_NOISE_MAX_MESSAGE, &b),
			 0);
	return a + b;
}

static void test_frame_malformed(void **state)
{
	static uint8_t frag[RUMOR_FRAME_FRAGMENT_MAX], wire[RUMOR_FRAME_HEADER_SIZE + RUMOR_NOISE_MAX_MESSAGE];
	struct rumor_noise_cipher cs;
	struct pipe p;
	size_t n, used, msg_len;
	const uint8_t *msg;

	(void)state;
	/* Length below marker + tag. */
	pipe_init(&p, RUMOR_FRAME_REKEY_INTERVAL, RUMOR_FRAME_REKEY_INTERVAL);
	rumor_noise_cipher_init(&cs, key);
	n = raw_frame(&cs, 0, NULL, 0, 16, wire);
	assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire, n, &used, &msg, &msg_len), -EBADMSG);
	assert_string_equal(rumor_frame_decoder_reason(&p.dec), "frame length shorter than marker and tag");
	pipe_free(&p);

	/* Unknown marker. */
	pipe_init(&p, RUMOR_FRAME_REKEY_INTERVAL, RUMOR_FRAME_REKEY_INTERVAL);
	rumor_noise_cipher_init(&cs, key);
	n = raw_frame(&cs, 2, frag, 5, 5 + 17, wire);
	assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire, n, &used, &msg, &msg_len), -EBADMSG);
	assert_string_equal(rumor_frame_decoder_reason(&p.dec), "frame has an unknown continuation marker");
	pipe_free(&p);

	/* A "more" fragment that is not full. */
	pipe_init(&p, RUMOR_FRAME_REKEY_INTERVAL, RUMOR_FRAME_REKEY_INTERVAL);
	rumor_noise_cipher_init(&cs, key);
	n = raw_frame(&cs, 1, frag, 5, 5 + 17, wire);
	assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire, n, &used, &msg, &msg_len), -EBADMSG);
	assert_string_equal(rumor_frame_decoder_reason(&p.dec), "non-final fragment is not full");
	pipe_free(&p);

	/* Header length disagrees with the payload actually sent: the decoder
	 * reads the wrong number of bytes and authentication fails. */
	pipe_init(&p, RUMOR_FRAME_REKEY_INTERVAL, RUMOR_FRAME_REKEY_INTERVAL);
	rumor_noise_cipher_init(&cs, key);
	n = raw_frame(&cs, 0, frag, 5, 4 + 17, wire);
	assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire, n, &used, &msg, &msg_len), -EBADMSG);
	assert_string_equal(rumor_frame_decoder_reason(&p.dec), "frame payload failed authentication");
	pipe_free(&p);
	rumor_noise_cipher_free(&cs);

	/* Bad arguments. */
	{
		struct rumor_noise_cipher empty;
		struct rumor_frame_decoder d;
		static struct rumor_frame_encoder e;

		rumor_noise_cipher_init(&empty, NULL);
		assert_int_equal(rumor_frame_decoder_init(&d, &empty, 1), -EINVAL);
		assert_int_equal(rumor_frame_encoder_init(&e, &empty, 1), -EINVAL);
		rumor_noise_cipher_init(&empty, key);
		assert_int_equal(rumor_frame_decoder_init(&d, &empty, 0), -EINVAL);
		assert_int_equal(rumor_frame_encoder_init(&e, &empty, 0), -EINVAL);
		assert_int_equal(rumor_frame_encoder_init(&e, &empty, 1), 0);
		assert_int_equal(rumor_frame_encode(&e, frag, RUMOR_FRAME_MESSAGE_MAX + 1, wire,
						    sizeof(wire), &n),
				 -EMSGSIZE);
		assert_int_equal(rumor_frame_encode(&e, frag, 10, wire, 10 + 34, &n), -ENOBUFS);
		/* Nothing was encrypted: the next frame still decodes. */
		pipe_init(&p, 1, 1);
		assert_int_equal(rumor_frame_encode(&e, frag, 10, wire, 10 + 35, &n), 0);
		expect_one(&p, wire, n, n, frag, 10);
		pipe_free(&p);
		rumor_frame_encoder_free(&e);
		rumor_noise_cipher_free(&empty);
	}
}

/* The limit is enforced when the header of the frame that would cross it
 * arrives, before its payload is buffered. */
static void test_frame_oversized(void **state)
{
	static uint8_t frag[RUMOR_FRAME_FRAGMENT_MAX], wire[RUMOR_FRAME_HEADER_SIZE + RUMOR_NOISE_MAX_MESSAGE];
	const size_t full = RUMOR_FRAME_MESSAGE_MAX / RUMOR_FRAME_FRAGMENT_MAX; /* 64 */
	struct rumor_noise_cipher cs;
	struct pipe p;
	size_t n, used, msg_len;
	const uint8_t *msg;

	(void)state;
	assert_int_equal(full, 64);
	pipe_init(&p, RUMOR_FRAME_REKEY_INTERVAL, RUMOR_FRAME_REKEY_INTERVAL);
	rumor_noise_cipher_init(&cs, key);
	for (size_t i = 0; i < full; i++) {
		n = raw_frame(&cs, 1, frag, RUMOR_FRAME_FRAGMENT_MAX, RUMOR_NOISE_MAX_MESSAGE, wire);
		assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire, n, &used, &msg, &msg_len), 0);
		assert_int_equal(used, n);
	}
	assert_int_equal(rumor_frame_decoder_buffered(&p.dec), full * RUMOR_FRAME_FRAGMENT_MAX);
	/* 64 full fragments + 1 more would pass 4 MiB + 1 KiB (by 64494 bytes)
	 * whatever the marker: fails on the 18 header bytes alone. */
	n = raw_frame(&cs, 0, frag, RUMOR_FRAME_FRAGMENT_MAX, RUMOR_NOISE_MAX_MESSAGE, wire);
	assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire, RUMOR_FRAME_HEADER_SIZE, &used, &msg, &msg_len),
			 -EBADMSG);
	assert_int_equal(used, RUMOR_FRAME_HEADER_SIZE);
	assert_string_equal(rumor_frame_decoder_reason(&p.dec), "message larger than the transport limit");
	assert_int_equal(rumor_frame_decoder_buffered(&p.dec), 0);
	pipe_free(&p);

	/* Exactly at the limit is fine: 64 full fragments + a final one of the rest. */
	pipe_init(&p, RUMOR_FRAME_REKEY_INTERVAL, RUMOR_FRAME_REKEY_INTERVAL);
	rumor_noise_cipher_init(&cs, key);
	for (size_t i = 0; i < full; i++) {
		n = raw_frame(&cs, 1, frag, RUMOR_FRAME_FRAGMENT_MAX, RUMOR_NOISE_MAX_MESSAGE, wire);
		assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire, n, &used, &msg, &msg_len), 0);
	}
	{
		size_t rest = RUMOR_FRAME_MESSAGE_MAX - full * RUMOR_FRAME_FRAGMENT_MAX;

		n = raw_frame(&cs, 0, frag, rest, rest + 17, wire);
		assert_int_equal(rumor_frame_decoder_feed(&p.dec, wire, n, &used, &msg, &msg_len), 1);
		assert_int_equal(msg_len, RUMOR_FRAME_MESSAGE_MAX);
	}
	pipe_free(&p);
	rumor_noise_cipher_free(&cs);
}

static void test_frame_rekey(void **state)
{
	struct pipe p, stale;
	uint8_t *big = pattern_alloc(2 * RUMOR_FRAME_FRAGMENT_MAX + 7, 1);
	char text[32];

	(void)state;
	/* Interval 3 frames: messages of 1 and 3 frames cross many rekeys. */
	pipe_init(&p, 3, 3);
	pipe_init(&stale, 3, UINT64_MAX); /* a receiver that never rekeys */
	for (int i = 0; i < 10; i++) {
		size_t wire_len, used, msg_len;
		const uint8_t *msg;
		uint8_t *wire;
		int rc, len = snprintf(text, sizeof(text), "message %d", i);

		wire = frame_alloc(&p, (const uint8_t *)text, (size_t)len, &wire_len);
		expect_one(&p, wire, wire_len, 7, (const uint8_t *)text, (size_t)len);
		free(wire);
		wire = frame_alloc(&stale, (const uint8_t *)text, (size_t)len, &wire_len);
		rc = rumor_frame_decoder_feed(&stale.dec, wire, wire_len, &used, &msg, &msg_len);
		if (i < 3) {
			assert_int_equal(rc, 1); /* frames 1..3 under the first key */
		} else if (i == 3) {
			assert_int_equal(rc, -EBADMSG); /* frame 4: sender has rekeyed */
			assert_string_equal(rumor_frame_decoder_reason(&stale.dec),
					    "frame header failed authentication");
		} else {
			assert_int_equal(rc, -EPROTO);
		}
		free(wire);
	}
	for (int i = 0; i < 3; i++) {
		size_t wire_len;
		uint8_t *wire = frame_alloc(&p, big, 2 * RUMOR_FRAME_FRAGMENT_MAX + 7, &wire_len);

		expect_one(&p, wire, wire_len, 65536, big, 2 * RUMOR_FRAME_FRAGMENT_MAX + 7);
		free(wire);
	}
	free(big);
	pipe_free(&stale);
	pipe_free(&p);
}

static int setup(void **state)
{
	(void)state;
	return rumor_crypto_init() == 0 ? 0 : -1;
}

/* One example of every message type (hello is in the handshake example),
 * encoded by our codec and compared byte for byte with the blocks of
 * doc/protocol.md, "Examples of every message".  RUMOR_PRINT_EXAMPLES=1
 * prints them instead of failing, to regenerate the document. */
static void check_msg_example(const char *name, const struct rumor_msg *m)
{
	size_t size = 0, len = 0, doc_len = 0;
	assert_int_equal(rumor_msg_encoded_size(m, &size), 0);
	uint8_t *buf = malloc(size);
	assert_non_null(buf);
	assert_int_equal(rumor_msg_encode(m, buf, size, &len), 0);
	assert_int_equal(len, size);
	/* And it decodes back to the same type. */
	struct rumor_msg back;
	assert_null(rumor_msg_decode(&back, buf, len));
	assert_int_equal(back.type, m->type);
	if (getenv("RUMOR_PRINT_EXAMPLES")) {
		char *hex = malloc(2 * len + 1);
		assert_non_null(hex);
		rumor_hex_encode(buf, len, hex);
		printf("<!-- example: %s -->\n```\n", name);
		for (size_t i = 0; i < 2 * len; i += 64)
			printf("%.64s\n", hex + i);
		printf("```\n");
		free(hex);
	} else {
		uint8_t *doc = doc_example(name, &doc_len);
		assert_int_equal(doc_len, len);
		assert_memory_equal(doc, buf, len);
		free(doc);
	}
	free(buf);
}

static void test_message_examples(void **state)
{
	(void)state;
	struct rumor_msg m;
	size_t tx_len, block_len;
	uint8_t *tx = doc_example("tx-hex", &tx_len);
	uint8_t *block = doc_example("block-hex", &block_len);

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_PONG;
	m.u.pong.nonce = 0x0102030405060708ull;
	check_msg_example("msg-pong", &m);

	struct rumor_inv_entry inv[2];
	for (int i = 0; i < 32; i++) {
		inv[0].id[i] = (uint8_t)i;
		inv[1].id[i] = (uint8_t)(0x20 + i);
	}
	inv[0].kind = RUMOR_ITEM_TX;
	inv[1].kind = RUMOR_ITEM_BLOCK;
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_GETDATA;
	m.u.getdata.entries.entries = inv;
	m.u.getdata.entries.count = 2;
	check_msg_example("msg-getdata", &m);

	struct rumor_inv_entry missing = {.kind = RUMOR_ITEM_TX};
	memset(missing.id, 0xff, sizeof(missing.id));
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_NOTFOUND;
	m.u.notfound.entries.entries = &missing;
	m.u.notfound.entries.count = 1;
	check_msg_example("msg-notfound", &m);

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_TX;
	m.u.tx.item.ptr = tx;
	m.u.tx.item.len = (uint32_t)tx_len;
	check_msg_example("msg-tx", &m);

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_BLOCK;
	m.u.block.item.ptr = block;
	m.u.block.item.len = (uint32_t)block_len;
	check_msg_example("msg-block", &m);

	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_GETADDR;
	check_msg_example("msg-getaddr", &m);

	struct rumor_addr_entry addrs[2];
	memset(addrs, 0, sizeof(addrs));
	addrs[0].family = RUMOR_ADDR_IPV4;
	addrs[0].address[0] = 127;
	addrs[0].address[3] = 1;
	addrs[0].port = 8633;
	addrs[0].last_seen = 1700000000;
	memset(addrs[0].node_id, 0x11, sizeof(addrs[0].node_id));
	addrs[1].family = RUMOR_ADDR_IPV6;
	addrs[1].address[15] = 1; /* ::1 */
	addrs[1].port = 18633;
	addrs[1].last_seen = 1700000100;
	memset(addrs[1].node_id, 0x22, sizeof(addrs[1].node_id));
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_ADDR;
	m.u.addr.entries.entries = addrs;
	m.u.addr.entries.count = 2;
	check_msg_example("msg-addr", &m);

	static const char reason[] = "shutting down";
	memset(&m, 0, sizeof(m));
	m.type = RUMOR_MSG_DISCONNECT;
	m.u.disconnect.code = 1;
	m.u.disconnect.reason.ptr = (const uint8_t *)reason;
	m.u.disconnect.reason.len = (uint16_t)strlen(reason);
	check_msg_example("msg-disconnect", &m);

	free(tx);
	free(block);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_hello),
		cmocka_unit_test(test_roundtrip_ping_pong),
		cmocka_unit_test(test_roundtrip_inventory),
		cmocka_unit_test(test_inv_hex),
		cmocka_unit_test_setup_teardown(test_message_examples, doc_examples_load,
						doc_examples_free),
		cmocka_unit_test(test_roundtrip_items_addr_disconnect),
		cmocka_unit_test(test_truncated),
		cmocka_unit_test(test_trailing_byte),
		cmocka_unit_test(test_over_caps),
		cmocka_unit_test(test_bad_values),
		cmocka_unit_test(test_types_and_flags),
		cmocka_unit_test(test_frame_sizes),
		cmocka_unit_test(test_frame_example),
		cmocka_unit_test(test_frame_roundtrip_small),
		cmocka_unit_test(test_frame_many_in_one_buffer),
		cmocka_unit_test(test_frame_roundtrip_large),
		cmocka_unit_test(test_frame_tamper),
		cmocka_unit_test(test_frame_malformed),
		cmocka_unit_test(test_frame_oversized),
		cmocka_unit_test(test_frame_rekey),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
