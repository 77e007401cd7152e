/*
 * test/unit/test_item.c: the signed item formats (crypto/item.c): encoding
 * round trips, every decode and check reason, signatures, the Merkle root
 * against hand-built trees, the size limits at their exact edges, network
 * binding, and the worked examples of doc/protocol.md (read from
 * $RUMOR_SRCDIR/doc/protocol.md).
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

#include "crypto/hash.h"
#include "crypto/hex.h"
#include "crypto/item.h"
#include "crypto/sign.h"
#include "test/unit/doc_examples.h"

/* A fixed "now" for every check: 2023-11-14T22:13:20Z. */
#define NOW 1700000000u

/* The inputs of the worked examples in doc/protocol.md. */
#define EXAMPLE_NETWORK "testnet"
#define EXAMPLE_TX_NONCE 42u
#define EXAMPLE_TX_TIMESTAMP 1700000000u
#define EXAMPLE_TX_PAYLOAD "hello, rumor"
#define EXAMPLE_BLOCK_HEIGHT 1u
#define EXAMPLE_BLOCK_TIMESTAMP 1700000060u
#define EXAMPLE_BLOCK_PREV "4b9ae1e5b2cd2fa5b0c5d6e8c1f9e3f7a6d4b2c0e8f6a4b2c0d8e6f4a2b0c8d6"

struct key {
	uint8_t pubkey[32];
	uint8_t secret[RUMOR_SECRET_SIZE];
};

/* Key from the seed bytes first, first+1, ..., first+31. */
static void key_from_counting_seed(struct key *key, uint8_t first)
{
	uint8_t seed[32];

	for (int i = 0; i < 32; i++)
		seed[i] = (uint8_t)(first + i);
	rumor_sign_keypair_from_seed(seed, key->pubkey, key->secret);
}

static void network(struct rumor_network *net, const char *name)
{
	assert_int_equal(rumor_network_init(net, name), 0);
}

static uint8_t *make_tx(const struct rumor_network *net, const struct key *key, uint64_t nonce,
			uint64_t timestamp, const char *payload, size_t *len)
{
	uint8_t *tx = rumor_tx_create(net, key->secret, nonce, timestamp, (const uint8_t *)payload,
				      strlen(payload), len);

	assert_non_null(tx);
	return tx;
}

/* Runs all three steps; returns the first reason or NULL. */
static const char *validate(struct rumor_item *item, const uint8_t *buf, size_t len,
			    const struct rumor_network *net, uint64_t now)
{
	const char *reason = rumor_item_decode(item, buf, len);
	struct rumor_item again;

	if (reason == NULL)
		reason = rumor_item_check(item, net, now);
	if (reason == NULL)
		reason = rumor_item_verify(item, net);
	/* rumor_item_validate() is the same three steps. */
	if (reason == NULL)
		assert_null(rumor_item_validate(&again, buf, len, net, now));
	else
		assert_string_equal(rumor_item_validate(&again, buf, len, net, now), reason);
	return reason;
}

static void assert_reason(const char *reason, const char *expected_prefix)
{
	assert_non_null(reason);
	if (strncmp(reason, expected_prefix, strlen(expected_prefix)) != 0)
		fail_msg("reason \"%s\" does not start with \"%s\"", reason, expected_prefix);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Id number i: distinct for distinct i. */
static void make_id(uint8_t id[32], uint32_t i)
{
	memset(id, 0x5a, 32);
	put32(id, i);
}

/* ---- Networks ---- */

static void test_network_init(void **state)
{
	struct rumor_network net;
	uint8_t expected[32];
	static const char name32[] = "abcdefghijklmnopqrstuvwxyz012345";

	network(&net, "testnet");
	rumor_sha256("rumor/network/testnet", strlen("rumor/network/testnet"), expected);
	assert_memory_equal(net.id, expected, 32);
	assert_memory_equal(net.magic, expected, 4);
	assert_string_equal(net.name, "testnet");
	assert_int_equal(net.n_producers, 0);

	assert_int_equal(strlen(name32), 32);
	assert_int_equal(rumor_network_init(&net, name32), 0);
	assert_int_equal(rumor_network_init(&net, "A-z_0.9"), 0);
	assert_int_equal(rumor_network_init(&net, ""), -EINVAL);
	assert_int_equal(rumor_network_init(&net, "abcdefghijklmnopqrstuvwxyz0123456"), -EINVAL);
	assert_int_equal(rumor_network_init(&net, "test net"), -EINVAL);
	assert_int_equal(rumor_network_init(&net, "test/net"), -EINVAL);
	assert_int_equal(rumor_network_init(&net, "t\xc3\xa9st"), -EINVAL);
	assert_int_equal(rumor_network_init(&net, NULL), -EINVAL);
}

static void test_network_producers(void **state)
{
	struct rumor_network net;
	uint8_t pk[32];

	network(&net, "main");
	for (int i = 0; i < RUMOR_PRODUCERS_MAX; i++) {
		memset(pk, i, sizeof(pk));
		assert_int_equal(rumor_network_add_producer(&net, pk), 0);
	}
	assert_int_equal(rumor_network_add_producer(&net, pk), -ENOSPC);
	assert_int_equal(net.n_producers, RUMOR_PRODUCERS_MAX);
}

/* ---- Round trips ---- */

static void test_tx_roundtrip(void **state)
{
	struct rumor_network net;
	struct rumor_item item;
	struct key key;
	uint8_t id[32];
	size_t len;
	uint8_t *tx;

	network(&net, "testnet");
	key_from_counting_seed(&key, 1);
	tx = make_tx(&net, &key, 0x0102030405060708ull, NOW - 5, "payload", &len);
	assert_int_equal(len, 122 + 7);
	assert_null(validate(&item, tx, len, &net, NOW));
	assert_int_equal(item.kind, RUMOR_ITEM_TX);
	assert_int_equal(item.version, 1);
	assert_memory_equal(item.magic, net.magic, 4);
	assert_ptr_equal(item.encoding, tx);
	assert_int_equal(item.size, len);
	rumor_sha256(tx, len, id);
	assert_memory_equal(item.id, id, 32);
	assert_memory_equal(item.sig, tx + len - 64, 64);
	assert_memory_equal(item.u.tx.sender, key.pubkey, 32);
	assert_int_equal(item.u.tx.nonce, 0x0102030405060708ull);
	assert_int_equal(item.u.tx.timestamp, NOW - 5);
	assert_int_equal(item.u.tx.payload_len, 7);
	assert_memory_equal(item.u.tx.payload, "payload", 7);
	/* Little-endian, fixed offsets. */
	assert_int_equal(tx[0], 1);
	assert_int_equal(tx[1], 1);
	assert_int_equal(tx[38], 0x08);
	assert_int_equal(tx[45], 0x01);
	assert_int_equal(tx[54], 7);
	assert_int_equal(tx[55], 0);
	assert_string_equal(rumor_item_kind_name(item.kind), "tx");
	free(tx);

	/* Empty payload. */
	tx = rumor_tx_create(&net, key.secret, 0, 0, NULL, 0, &len);
	assert_non_null(tx);
	assert_int_equal(len, 122);
	assert_null(validate(&item, tx, len, &net, NOW));
	assert_int_equal(item.u.tx.payload_len, 0);
	free(tx);
}

static void test_block_roundtrip(void **state)
{
	struct rumor_network net;
	struct rumor_item item;
	struct key key;
	uint8_t ids[3 * 32], prev[32], root[32];
	size_t len;
	uint8_t *block;

	network(&net, "testnet");
	key_from_counting_seed(&key, 7);
	for (uint32_t i = 0; i < 3; i++)
		make_id(ids + 32 * i, i);
	memset(prev, 0xee, sizeof(prev));
	block = rumor_block_create(&net, key.secret, 9, prev, NOW, ids, 3, &len);
	assert_non_null(block);
	assert_int_equal(len, 186 + 3 * 32);
	assert_null(validate(&item, block, len, &net, NOW));
	assert_int_equal(item.kind, RUMOR_ITEM_BLOCK);
	assert_string_equal(rumor_item_kind_name(item.kind), "block");
	assert_int_equal(item.u.block.height, 9);
	assert_memory_equal(item.u.block.prev, prev, 32);
	assert_int_equal(item.u.block.timestamp, NOW);
	assert_memory_equal(item.u.block.producer, key.pubkey, 32);
	assert_int_equal(item.u.block.tx_count, 3);
	assert_memory_equal(item.u.block.tx_ids, ids, sizeof(ids));
	rumor_merkle_root(ids, 3, root);
	assert_memory_equal(item.u.block.merkle_root, root, 32);
	free(block);

	/* Genesis: height 0, no prev (zeros), no transactions. */
	block = rumor_block_create(&net, key.secret, 0, NULL, NOW, NULL, 0, &len);
	assert_non_null(block);
	assert_int_equal(len, 186);
	assert_null(validate(&item, block, len, &net, NOW));
	assert_int_equal(item.u.block.tx_count, 0);
	free(block);
}

/* ---- Decode reasons ---- */

static void test_decode_reasons(void **state)
{
	struct rumor_network net;
	struct rumor_item item;
	struct key key;
	uint8_t *tx, *block, *buf;
	size_t tx_len, block_len;
	uint8_t one_byte = 1;

	network(&net, "testnet");
	key_from_counting_seed(&key, 1);
	tx = make_tx(&net, &key, 1, NOW, "abc", &tx_len);
	block = rumor_block_create(&net, key.secret, 0, NULL, NOW, NULL, 0, &block_len);
	assert_non_null(block);
	buf = malloc(block_len + tx_len + 1);
	assert_non_null(buf);

	assert_reason(rumor_item_decode(&item, NULL, 0), "item is truncated");
	assert_reason(rumor_item_decode(&item, tx, 0), "item is truncated");
	assert_reason(rumor_item_decode(&item, &one_byte, 1), "item is truncated");

	memcpy(buf, tx, tx_len);
	buf[0] = 2;
	assert_reason(rumor_item_decode(&item, buf, tx_len), "unsupported item version");
	buf[0] = 0;
	assert_reason(rumor_item_decode(&item, buf, tx_len), "unsupported item version");
	buf[0] = 1;
	buf[1] = 3;
	assert_reason(rumor_item_decode(&item, buf, tx_len), "unknown item kind");
	buf[1] = 0;
	assert_reason(rumor_item_decode(&item, buf, tx_len), "unknown item kind");
	buf[1] = 1;

	/* Transactions. */
	assert_reason(rumor_item_decode(&item, tx, 121), "transaction is truncated");
	assert_reason(rumor_item_decode(&item, tx, 2), "transaction is truncated");
	assert_reason(rumor_item_decode(&item, tx, tx_len - 1),
		      "transaction length does not match its payload length");
	buf[tx_len] = 0;
	assert_reason(rumor_item_decode(&item, buf, tx_len + 1),
		      "transaction length does not match its payload length");
	put32(buf + 54, 65537);
	assert_reason(rumor_item_decode(&item, buf, tx_len), "transaction payload exceeds 65536 bytes");
	put32(buf + 54, 0xffffffffu);
	assert_reason(rumor_item_decode(&item, buf, tx_len), "transaction payload exceeds 65536 bytes");
	put32(buf + 54, 2);
	assert_reason(rumor_item_decode(&item, buf, tx_len),
		      "transaction length does not match its payload length");
	assert_null(rumor_item_decode(&item, tx, tx_len));

	/* Blocks. */
	memcpy(buf, block, block_len);
	assert_reason(rumor_item_decode(&item, buf, 185), "block is truncated");
	assert_reason(rumor_item_decode(&item, buf, 2), "block is truncated");
	buf[block_len] = 0;
	assert_reason(rumor_item_decode(&item, buf, block_len + 1),
		      "block length does not match its tx count");
	put32(buf + 118, 1);
	assert_reason(rumor_item_decode(&item, buf, block_len),
		      "block length does not match its tx count");
	put32(buf + 118, 131067);
	assert_reason(rumor_item_decode(&item, buf, block_len), "block tx count exceeds the limit");
	put32(buf + 118, 0xffffffffu);
	assert_reason(rumor_item_decode(&item, buf, block_len), "block tx count exceeds the limit");
	assert_null(rumor_item_decode(&item, block, block_len));

	/* A failed decode leaves nothing half-filled. */
	assert_non_null(rumor_item_decode(&item, tx, tx_len - 1));
	assert_null(item.encoding);
	assert_int_equal(item.size, 0);

	free(buf);
	free(tx);
	free(block);
}

/* ---- Check reasons ---- */

static void test_check_network(void **state)
{
	struct rumor_network a, b;
	struct rumor_item item;
	struct key key;
	uint8_t *tx, *block;
	size_t len, block_len;

	network(&a, "alpha");
	network(&b, "beta");
	key_from_counting_seed(&key, 1);
	tx = make_tx(&a, &key, 1, NOW, "x", &len);
	block = rumor_block_create(&a, key.secret, 0, NULL, NOW, NULL, 0, &block_len);
	assert_non_null(block);
	assert_null(validate(&item, tx, len, &a, NOW));
	assert_reason(validate(&item, tx, len, &b, NOW), "item belongs to another network");
	assert_null(validate(&item, block, block_len, &a, NOW));
	assert_reason(validate(&item, block, block_len, &b, NOW), "item belongs to another network");

	/* Patching the magic does not move an item to another network: the
	 * network id is part of the signed message. */
	memcpy(tx + 2, b.magic, 4);
	assert_null(rumor_item_decode(&item, tx, len));
	assert_null(rumor_item_check(&item, &b, NOW));
	assert_reason(rumor_item_verify(&item, &b), "signature does not verify");
	free(tx);
	free(block);
}

static void test_check_timestamp(void **state)
{
	struct rumor_network net;
	struct rumor_item item;
	struct key key;
	uint8_t *tx, *block;
	size_t len;

	network(&net, "testnet");
	key_from_counting_seed(&key, 1);
	tx = make_tx(&net, &key, 1, NOW + 7200, "x", &len);
	assert_null(validate(&item, tx, len, &net, NOW));
	assert_reason(validate(&item, tx, len, &net, NOW - 1),
		      "timestamp is more than 2 hours in the future");
	free(tx);
	/* Far future and far past: no overflow either way. */
	tx = make_tx(&net, &key, 1, UINT64_MAX, "x", &len);
	assert_reason(validate(&item, tx, len, &net, NOW),
		      "timestamp is more than 2 hours in the future");
	assert_null(validate(&item, tx, len, &net, UINT64_MAX));
	assert_null(validate(&item, tx, len, &net, UINT64_MAX - 7200));
	free(tx);
	tx = make_tx(&net, &key, 1, 0, "x", &len);
	assert_null(validate(&item, tx, len, &net, NOW));
	free(tx);

	block = rumor_block_create(&net, key.secret, 0, NULL, NOW + 7201, NULL, 0, &len);
	assert_non_null(block);
	assert_reason(validate(&item, block, len, &net, NOW),
		      "timestamp is more than 2 hours in the future");
	assert_null(validate(&item, block, len, &net, NOW + 1));
	free(block);
}

static void test_check_block_rules(void **state)
{
	struct rumor_network net;
	struct rumor_item item;
	struct key key, other;
	uint8_t ids[40 * 32], prev[32], zero[32] = { 0 };
	uint8_t *block;
	size_t len;

	network(&net, "testnet");
	key_from_counting_seed(&key, 1);
	key_from_counting_seed(&other, 2);
	memset(prev, 0x11, sizeof(prev));
	for (uint32_t i = 0; i < 40; i++)
		make_id(ids + 32 * i, i);

	/* Height and prev. */
	block = rumor_block_create(&net, key.secret, 0, prev, NOW, ids, 1, &len);
	assert_reason(validate(&item, block, len, &net, NOW), "block at height 0 must have an all-zero prev");
	free(block);
	block = rumor_block_create(&net, key.secret, 1, zero, NOW, ids, 1, &len);
	assert_reason(validate(&item, block, len, &net, NOW), "block above height 0 has an all-zero prev");
	free(block);
	block = rumor_block_create(&net, key.secret, 1, prev, NOW, ids, 1, &len);
	assert_null(validate(&item, block, len, &net, NOW));

	/* Merkle root: a tampered root or tx id. */
	block[86] ^= 0x80;
	assert_reason(validate(&item, block, len, &net, NOW), "block Merkle root does not match");
	/* the two parts of step 2: the header passes, the ids do not, and the
	 * VERIFY job's work names the ids before the signature */
	assert_null(rumor_item_decode(&item, block, len));
	assert_null(rumor_item_check_header(&item, &net, NOW));
	assert_reason(rumor_item_check_ids(&item), "block Merkle root does not match");
	assert_reason(rumor_item_verify_job(&item, &net), "block Merkle root does not match");
	assert_reason(rumor_item_verify(&item, &net), "signature");
	block[86] ^= 0x80;
	block[122 + 31] ^= 0x01;
	assert_reason(validate(&item, block, len, &net, NOW), "block Merkle root does not match");
	block[122 + 31] ^= 0x01;
	assert_null(validate(&item, block, len, &net, NOW));

	/* Producers: an empty list allows anyone, a list only its members. */
	rumor_network_add_producer(&net, other.pubkey);
	assert_reason(validate(&item, block, len, &net, NOW),
		      "block producer is not in this network's list");
	rumor_network_add_producer(&net, key.pubkey);
	assert_null(validate(&item, block, len, &net, NOW));
	free(block);
	net.n_producers = 0;

	/* Duplicate ids, small (pairwise) and large (sorted) blocks. */
	memcpy(ids + 32 * 4, ids + 32 * 1, 32);
	block = rumor_block_create(&net, key.secret, 1, prev, NOW, ids, 5, &len);
	assert_reason(validate(&item, block, len, &net, NOW), "block lists the same transaction id twice");
	free(block);
	block = rumor_block_create(&net, key.secret, 1, prev, NOW, ids, 40, &len);
	assert_reason(validate(&item, block, len, &net, NOW), "block lists the same transaction id twice");
	free(block);
	make_id(ids + 32 * 4, 4);
	block = rumor_block_create(&net, key.secret, 1, prev, NOW, ids, 40, &len);
	assert_null(validate(&item, block, len, &net, NOW));
	free(block);
	memcpy(ids + 32 * 39, ids, 32); /* first and last */
	block = rumor_block_create(&net, key.secret, 1, prev, NOW, ids, 40, &len);
	assert_reason(validate(&item, block, len, &net, NOW), "block lists the same transaction id twice");
	free(block);
}

/* The large-block duplicate check looks at 8 bytes at a time: ids that
 * share their first 8, 16 or 24 bytes (a sender picks them freely) are
 * told apart by the rest, and equal ids are found at every level and
 * position. */
static void test_duplicate_ids_shared_prefixes(void **state)
{
	enum { N = 300 };
	struct rumor_network net;
	struct rumor_item item;
	struct key key;
	uint8_t prev[32];
	uint8_t *ids = malloc((size_t)N * 32), *block;
	size_t len;

	assert_non_null(ids);
	network(&net, "testnet");
	key_from_counting_seed(&key, 1);
	memset(prev, 0x11, sizeof(prev));
	for (unsigned shared = 0; shared <= 31; shared += 8) {
		/* ids equal in bytes [0, shared), different after: distinct */
		for (uint32_t i = 0; i < N; i++) {
			memset(ids + 32 * i, 0xa5, 32);
			uint32_t v = i * 2654435761u;
			memcpy(ids + 32 * i + (shared < 28 ? shared : 28), &v, 4);
			ids[32 * i + 31] ^= (uint8_t)(i >> 8); /* keeps i > 255 apart at 24 */
		}
		block = rumor_block_create(&net, key.secret, 1, prev, NOW, ids, N, &len);
		assert_non_null(block);
		assert_null(validate(&item, block, len, &net, NOW));
		free(block);
		/* one id copied over another, far apart and adjacent */
		uint32_t pairs[3][2] = { { 0, N - 1 }, { 137, 138 }, { 250, 3 } };
		for (int k = 0; k < 3; k++) {
			uint8_t saved[32];
			memcpy(saved, ids + 32 * pairs[k][1], 32);
			memcpy(ids + 32 * pairs[k][1], ids + 32 * pairs[k][0], 32);
			block = rumor_block_create(&net, key.secret, 1, prev, NOW, ids, N, &len);
			assert_reason(validate(&item, block, len, &net, NOW),
				      "block lists the same transaction id twice");
			free(block);
			memcpy(ids + 32 * pairs[k][1], saved, 32);
		}
	}
	/* ids that differ only in their last byte, a duplicate among them */
	for (uint32_t i = 0; i < 256; i++) {
		memset(ids + 32 * i, 0x3c, 32);
		ids[32 * i + 31] = (uint8_t)i;
	}
	block = rumor_block_create(&net, key.secret, 1, prev, NOW, ids, 256, &len);
	assert_null(validate(&item, block, len, &net, NOW));
	free(block);
	ids[32 * 200 + 31] = 7;
	block = rumor_block_create(&net, key.secret, 1, prev, NOW, ids, 256, &len);
	assert_reason(validate(&item, block, len, &net, NOW), "block lists the same transaction id twice");
	free(block);
	free(ids);
}

static void test_signature_failures(void **state)
{
	struct rumor_network net;
	struct rumor_item item;
	struct key key, other;
	uint8_t *tx;
	size_t len;

	network(&net, "testnet");
	key_from_counting_seed(&key, 1);
	key_from_counting_seed(&other, 2);
	tx = make_tx(&net, &key, 1, NOW, "pay me", &len);
	/* Every byte of the encoding is covered by the signature (or is it). */
	for (size_t i = 2; i < len; i++) {
		const char *reason;

		tx[i] ^= 0x04;
		reason = validate(&item, tx, len, &net, NOW);
		tx[i] ^= 0x04;
		if (i < 6)
			assert_reason(reason, "item belongs to another network");
		else if (i >= 46 && i < 54 && reason != NULL &&
			 strncmp(reason, "timestamp", 9) == 0)
			continue; /* a high timestamp byte: now in the future */
		else if (i >= 54 && i < 58)
			assert_reason(reason, "transaction "); /* length or payload limit */
		else
			assert_reason(reason, "signature does not verify");
	}
	/* Another key's public key in the sender field. */
	memcpy(tx + 6, other.pubkey, 32);
	assert_reason(validate(&item, tx, len, &net, NOW), "signature does not verify");
	free(tx);
}

/* ---- Merkle root against hand-built trees ---- */

static void leaf(const uint8_t *id, uint8_t out[32])
{
	uint8_t buf[33];

	buf[0] = 0x00;
	memcpy(buf + 1, id, 32);
	rumor_sha256(buf, sizeof(buf), out);
}

static void node(const uint8_t *left, const uint8_t *right, uint8_t out[32])
{
	uint8_t buf[65];

	buf[0] = 0x01;
	memcpy(buf + 1, left, 32);
	memcpy(buf + 33, right, 32);
	rumor_sha256(buf, sizeof(buf), out);
}

static void test_merkle_root(void **state)
{
	uint8_t ids[5 * 32], l[5][32], n01[32], n23[32], n0123[32], n012[32], expected[32];
	uint8_t root[32];

	for (uint32_t i = 0; i < 5; i++) {
		make_id(ids + 32 * i, 100 + i);
		leaf(ids + 32 * i, l[i]);
	}
	node(l[0], l[1], n01);
	node(l[2], l[3], n23);
	node(n01, n23, n0123);
	node(n01, l[2], n012);

	rumor_sha256("", 0, expected);
	rumor_merkle_root(NULL, 0, root);
	assert_memory_equal(root, expected, 32);
	rumor_merkle_root(ids, 1, root);
	assert_memory_equal(root, l[0], 32);
	rumor_merkle_root(ids, 2, root);
	assert_memory_equal(root, n01, 32);
	rumor_merkle_root(ids, 3, root);
	assert_memory_equal(root, n012, 32);
	rumor_merkle_root(ids, 4, root);
	assert_memory_equal(root, n0123, 32);
	/* Five: the left subtree holds four leaves, the right one leaf. */
	node(n0123, l[4], expected);
	rumor_merkle_root(ids, 5, root);
	assert_memory_equal(root, expected, 32);
	/* The order of ids matters. */
	memcpy(ids, ids + 32, 32);
	make_id(ids + 32, 100);
	rumor_merkle_root(ids, 2, root);
	assert_memory_not_equal(root, n01, 32);
	/* An empty block's root is not the leaf of anything. */
	rumor_sha256("", 0, expected);
	assert_memory_not_equal(l[0], expected, 32);
	/* Known value of SHA-256(""), pinned. */
	{
		char hex[65];

		rumor_hex_encode(expected, 32, hex);
		assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	}
}

/* ---- Limits at their edges ---- */

static void test_payload_limit(void **state)
{
	struct rumor_network net;
	struct rumor_item item;
	struct key key;
	uint8_t *payload = calloc(1, RUMOR_TX_PAYLOAD_MAX + 1);
	uint8_t *tx;
	size_t len = 0;

	assert_non_null(payload);
	network(&net, "testnet");
	key_from_counting_seed(&key, 1);
	tx = rumor_tx_create(&net, key.secret, 1, NOW, payload, 65536, &len);
	assert_non_null(tx);
	assert_int_equal(len, 122 + 65536);
	assert_null(validate(&item, tx, len, &net, NOW));
	assert_int_equal(item.u.tx.payload_len, 65536);
	free(tx);

	errno = 0;
	assert_null(rumor_tx_create(&net, key.secret, 1, NOW, payload, 65537, &len));
	assert_int_equal(errno, EINVAL);

	/* A hand-made encoding with a 65537-byte payload. */
	tx = calloc(1, 122 + 65537);
	assert_non_null(tx);
	tx[0] = 1;
	tx[1] = 1;
	memcpy(tx + 2, net.magic, 4);
	put32(tx + 54, 65537);
	assert_reason(rumor_item_decode(&item, tx, 122 + 65537), "transaction payload exceeds 65536 bytes");
	free(tx);
	free(payload);
}

static void test_block_size_limit(void **state)
{
	const uint32_t max = RUMOR_BLOCK_TX_MAX;
	struct rumor_network net;
	struct rumor_item item;
	struct key key;
	uint8_t *ids, *block, *big;
	size_t len = 0;

	assert_int_equal(max, 131066);
	network(&net, "testnet");
	key_from_counting_seed(&key, 1);
	ids = malloc((size_t)(max + 1) * 32);
	assert_non_null(ids);
	for (uint32_t i = 0; i <= max; i++)
		make_id(ids + (size_t)32 * i, i);

	/* The largest block: 186 + 32 * 131066 = 4194298 bytes, 6 short of 4 MiB. */
	block = rumor_block_create(&net, key.secret, 5, ids, NOW, ids, max, &len);
	assert_non_null(block);
	assert_int_equal(len, 4194298);
	assert_true(len <= 4u * 1024 * 1024);
	assert_null(validate(&item, block, len, &net, NOW));
	assert_int_equal(item.u.block.tx_count, max);

	/* Same block with its last id duplicated: sorted duplicate check. */
	memcpy(ids + (size_t)32 * (max - 1), ids + (size_t)32 * 17, 32);
	free(block);
	block = rumor_block_create(&net, key.secret, 5, ids, NOW, ids, max, &len);
	assert_non_null(block);
	assert_reason(validate(&item, block, len, &net, NOW), "block lists the same transaction id twice");
	free(block);

	/* One id more does not fit. */
	errno = 0;
	assert_null(rumor_block_create(&net, key.secret, 5, ids, NOW, ids, max + 1, &len));
	assert_int_equal(errno, EINVAL);
	len = 186 + (size_t)32 * (max + 1);
	big = calloc(1, len);
	assert_non_null(big);
	big[0] = 1;
	big[1] = 2;
	put32(big + 118, max + 1);
	assert_reason(rumor_item_decode(&item, big, len), "block exceeds 4 MiB");
	assert_reason(rumor_item_decode(&item, big, 4u * 1024 * 1024 + 1), "block exceeds 4 MiB");
	/* Exactly 4 MiB is not over the limit, but no tx count gives that size. */
	put32(big + 118, (4u * 1024 * 1024 - 186) / 32);
	assert_reason(rumor_item_decode(&item, big, 4u * 1024 * 1024),
		      "block length does not match its tx count");
	free(big);
	free(ids);
}

/* ---- The worked examples of doc/protocol.md ---- */

static void test_protocol_examples(void **state)
{
	struct rumor_network net;
	struct rumor_item tx_item, block_item;
	struct key key;
	uint8_t *doc_tx, *doc_tx_id, *doc_block, *doc_block_id, *doc_net_id, *doc_prev, *doc_pub;
	uint8_t *doc_root, *tx, *block;
	size_t doc_tx_len, doc_block_len, n, tx_len, block_len;
	uint8_t prev[32], root[32];

	network(&net, EXAMPLE_NETWORK);
	key_from_counting_seed(&key, 1); /* seed 0x01 0x02 ... 0x20 */
	assert_int_equal(rumor_hex_decode(EXAMPLE_BLOCK_PREV, 64, prev), 32);

	doc_net_id = doc_example("network-id", &n);
	assert_int_equal(n, 32);
	assert_memory_equal(doc_net_id, net.id, 32);
	doc_pub = doc_example("pubkey", &n);
	assert_int_equal(n, 32);
	assert_memory_equal(doc_pub, key.pubkey, 32);
	doc_prev = doc_example("block-prev", &n);
	assert_int_equal(n, 32);
	assert_memory_equal(doc_prev, prev, 32);

	/* The transaction: decodes, is valid, rebuilds byte for byte. */
	doc_tx = doc_example("tx-hex", &doc_tx_len);
	doc_tx_id = doc_example("tx-id", &n);
	assert_int_equal(n, 32);
	assert_null(validate(&tx_item, doc_tx, doc_tx_len, &net, NOW));
	assert_memory_equal(tx_item.id, doc_tx_id, 32);
	tx = make_tx(&net, &key, EXAMPLE_TX_NONCE, EXAMPLE_TX_TIMESTAMP, EXAMPLE_TX_PAYLOAD, &tx_len);
	assert_int_equal(tx_len, doc_tx_len);
	assert_memory_equal(tx, doc_tx, tx_len);

	/* The block containing it. */
	doc_block = doc_example("block-hex", &doc_block_len);
	doc_block_id = doc_example("block-id", &n);
	assert_int_equal(n, 32);
	doc_root = doc_example("block-merkle-root", &n);
	assert_int_equal(n, 32);
	leaf(tx_item.id, root);
	assert_memory_equal(doc_root, root, 32);
	assert_null(validate(&block_item, doc_block, doc_block_len, &net, NOW));
	assert_memory_equal(block_item.id, doc_block_id, 32);
	assert_int_equal(block_item.u.block.tx_count, 1);
	assert_memory_equal(block_item.u.block.tx_ids, doc_tx_id, 32);
	block = rumor_block_create(&net, key.secret, EXAMPLE_BLOCK_HEIGHT, prev,
				   EXAMPLE_BLOCK_TIMESTAMP, tx_item.id, 1, &block_len);
	assert_non_null(block);
	assert_int_equal(block_len, doc_block_len);
	assert_memory_equal(block, doc_block, block_len);

	/* Neither example is valid on another network. */
	network(&net, "mainnet");
	assert_reason(validate(&tx_item, doc_tx, doc_tx_len, &net, NOW), "item belongs to another network");

	free(doc_tx);
	free(doc_tx_id);
	free(doc_block);
	free(doc_block_id);
	free(doc_net_id);
	free(doc_prev);
	free(doc_pub);
	free(doc_root);
	free(tx);
	free(block);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_network_init),
		cmocka_unit_test(test_network_producers),
		cmocka_unit_test(test_tx_roundtrip),
		cmocka_unit_test(test_block_roundtrip),
		cmocka_unit_test(test_decode_reasons),
		cmocka_unit_test(test_check_network),
		cmocka_unit_test(test_check_timestamp),
		cmocka_unit_test(test_check_block_rules),
		cmocka_unit_test(test_duplicate_ids_shared_prefixes),
		cmocka_unit_test(test_signature_failures),
		cmocka_unit_test(test_merkle_root),
		cmocka_unit_test(test_payload_limit),
		cmocka_unit_test(test_block_size_limit),
		cmocka_unit_test_setup_teardown(test_protocol_examples, doc_examples_load,
						doc_examples_free),
	};

	if (rumor_crypto_init() != 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
