/*
 * crypto/item.h: the two signed item kinds, transaction and block.
 *
 * Pure functions: no I/O, no clock, no allocation except where a function
 * says it returns malloc'd memory.  The wire layout of each kind is specified
 * in doc/protocol.md, section "Items"; the constants below are that layout.
 *
 * Validation happens in three steps, cheapest first, so callers can stop
 * early on hostile input:
 *   1. rumor_item_decode(): structure (version, kind, exact length, limits).
 *   2. rumor_item_check():  context (network, clock, Merkle root, producer,
 *                           duplicate tx ids).  Needs no signature work.
 *                           It is rumor_item_check_header() (O(1)) then
 *                           rumor_item_check_ids() (O(tx ids) hashing: up
 *                           to ~50 ms for a 131,066-id block), so the node
 *                           can do the first on its loop thread and the
 *                           second with the signature, on its verification
 *                           workers (rumor_item_verify_job()).
 *   3. rumor_item_verify(): the Ed25519 signature (the expensive step).
 * Each returns NULL when the item passes, or a static reason string a user
 * can act on (never freed, never NULL-terminated late).
 *
 * A decoded struct rumor_item borrows the bytes it was decoded from: its
 * pointers stay valid only while that buffer does.
 *
 * Scratch memory: rumor_item_check() sorts a copy of the tx ids of blocks
 * with more than 32 of them, and rumor_item_verify() copies the signed
 * message of items over 1 KiB; both free it before returning and report a
 * failed allocation as a reason ("out of memory ...").
 */
#ifndef RUMOR_CRYPTO_ITEM_H
#define RUMOR_CRYPTO_ITEM_H

#include <stddef.h>
#include <stdint.h>

#define RUMOR_ITEM_VERSION 1

enum rumor_item_kind {
	RUMOR_ITEM_TX = 1,
	RUMOR_ITEM_BLOCK = 2,
};

#define RUMOR_ID_SIZE 32
#define RUMOR_PUBKEY_SIZE 32
#define RUMOR_SIG_SIZE 64
#define RUMOR_MAGIC_SIZE 4

/* Transaction: version(1) kind(1) magic(4) sender(32) nonce(8) timestamp(8)
 * payload_len(4) payload(payload_len) signature(64). */
#define RUMOR_TX_HEADER_SIZE 58
#define RUMOR_TX_PAYLOAD_MAX 65536u
#define RUMOR_TX_SIZE_MIN (RUMOR_TX_HEADER_SIZE + RUMOR_SIG_SIZE)
#define RUMOR_TX_SIZE_MAX (RUMOR_TX_SIZE_MIN + RUMOR_TX_PAYLOAD_MAX)

/* Block: version(1) kind(1) magic(4) height(8) prev(32) timestamp(8)
 * producer(32) merkle_root(32) tx_count(4) tx_ids(32*tx_count) signature(64). */
#define RUMOR_BLOCK_HEADER_SIZE 122
#define RUMOR_BLOCK_SIZE_MAX (4u * 1024u * 1024u)
#define RUMOR_BLOCK_SIZE_MIN (RUMOR_BLOCK_HEADER_SIZE + RUMOR_SIG_SIZE)
#define RUMOR_BLOCK_TX_MAX ((RUMOR_BLOCK_SIZE_MAX - RUMOR_BLOCK_SIZE_MIN) / RUMOR_ID_SIZE)

/* Largest encoding of any kind. */
#define RUMOR_ITEM_SIZE_MAX RUMOR_BLOCK_SIZE_MAX

/* How far ahead of the validating node's clock a timestamp may be. */
#define RUMOR_TIMESTAMP_FUTURE_MAX_S (2 * 60 * 60)

#define RUMOR_NETWORK_NAME_MAX 32
#define RUMOR_PRODUCERS_MAX 64

/* A network: items are bound to it by a 4-byte magic in the encoding and by
 * the 32-byte network id in the signed message. */
struct rumor_network {
	char name[RUMOR_NETWORK_NAME_MAX + 1];
	uint8_t id[32];                 /* SHA-256("rumor/network/" || name) */
	uint8_t magic[RUMOR_MAGIC_SIZE]; /* id[0..3] */
	size_t n_producers;             /* 0: any producer may sign blocks */
	uint8_t producers[RUMOR_PRODUCERS_MAX][RUMOR_PUBKEY_SIZE];
};

/* Returns 0, or -EINVAL when name is empty, longer than
 * RUMOR_NETWORK_NAME_MAX or has bytes outside [A-Za-z0-9._-]. */
int rumor_network_init(struct rumor_network *net, const char *name);
/* Adds an allowed block producer.  Returns 0, -ENOSPC when full. */
int rumor_network_add_producer(struct rumor_network *net, const uint8_t pubkey[RUMOR_PUBKEY_SIZE]);

struct rumor_tx {
	uint8_t sender[RUMOR_PUBKEY_SIZE];
	uint64_t nonce;
	uint64_t timestamp; /* seconds since the Unix epoch */
	uint32_t payload_len;
	const uint8_t *payload; /* borrowed: points into the encoding */
};

struct rumor_block {
	uint64_t height;
	uint8_t prev[RUMOR_ID_SIZE];
	uint64_t timestamp; /* seconds since the Unix epoch */
	uint8_t producer[RUMOR_PUBKEY_SIZE];
	uint8_t merkle_root[RUMOR_ID_SIZE];
	uint32_t tx_count;
	const uint8_t *tx_ids; /* borrowed: tx_count * 32 bytes in the encoding */
};

struct rumor_item {
	enum rumor_item_kind kind;
	uint8_t version;
	uint8_t magic[RUMOR_MAGIC_SIZE];
	const uint8_t *encoding; /* borrowed: the whole item */
	size_t size;
	uint8_t id[RUMOR_ID_SIZE]; /* SHA-256 of the whole encoding */
	uint8_t sig[RUMOR_SIG_SIZE];
	union {
		struct rumor_tx tx;
		struct rumor_block block;
	} u;
};

/* Step 1: structure.  Fills *out (including the id) or returns a reason. */
const char *rumor_item_decode(struct rumor_item *out, const uint8_t *buf, size_t len);
/* Re-points a decoded item at buf, a byte-for-byte copy of the encoding it
 * was decoded from (item->size bytes), without decoding or hashing again:
 * for callers that decode a borrowed buffer first and keep a copy only when
 * the item passes the cheap checks. */
void rumor_item_rebase(struct rumor_item *item, const uint8_t *buf);
/* Step 2: context.  now_s is the validating node's clock (seconds). */
const char *rumor_item_check(const struct rumor_item *item, const struct rumor_network *net,
			     uint64_t now_s);
/* Step 2 in its two parts: everything but the tx ids (network, clock,
 * prev id, producer), and a block's tx ids (no duplicate, the Merkle root;
 * NULL for a transaction).  rumor_item_check() is the first, then the
 * second. */
const char *rumor_item_check_header(const struct rumor_item *item,
				    const struct rumor_network *net, uint64_t now_s);
const char *rumor_item_check_ids(const struct rumor_item *item);
/* Step 3: signature over (network id || encoding without the signature). */
const char *rumor_item_verify(const struct rumor_item *item, const struct rumor_network *net);
/* The work of the node core's VERIFY job (net/core.h), for an item that
 * passed rumor_item_check_header(): rumor_item_check_ids() then
 * rumor_item_verify(); the first reason, or NULL. */
const char *rumor_item_verify_job(const struct rumor_item *item, const struct rumor_network *net);

/* All three steps in order; returns the first reason, or NULL when the
 * item is valid.  *out is filled as far as decoding got. */
const char *rumor_item_validate(struct rumor_item *out, const uint8_t *buf, size_t len,
				const struct rumor_network *net, uint64_t now_s);

/* "tx" or "block". */
const char *rumor_item_kind_name(enum rumor_item_kind kind);

/* Builders.  Each returns a malloc'd encoding (caller frees) and its size in
 * *len, or NULL with errno set: EINVAL for out-of-range arguments (payload or
 * tx count over the limits), ENOMEM.  secret is a 64-byte libsodium Ed25519
 * secret key (seed || public key). */
uint8_t *rumor_tx_create(const struct rumor_network *net, const uint8_t secret[64], uint64_t nonce,
			 uint64_t timestamp, const uint8_t *payload, size_t payload_len, size_t *len);
uint8_t *rumor_block_create(const struct rumor_network *net, const uint8_t secret[64],
			    uint64_t height, const uint8_t prev[RUMOR_ID_SIZE], uint64_t timestamp,
			    const uint8_t *tx_ids, uint32_t tx_count, size_t *len);

/* Merkle root over tx ids (see doc/protocol.md): RFC 6962-style tree with
 * leaf = SHA-256(0x00 || id) and node = SHA-256(0x01 || left || right);
 * the root of zero ids is SHA-256 of the empty string. */
void rumor_merkle_root(const uint8_t *tx_ids, uint32_t tx_count, uint8_t root[RUMOR_ID_SIZE]);

#endif
