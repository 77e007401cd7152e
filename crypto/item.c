/*
 * crypto/item.c: encoding, decoding and validation of the two signed item
 * kinds (transaction and block), network identity, and the Merkle root a
 * block commits to.  The byte layout is specified in doc/protocol.md,
 * section "Items"; the constants live in crypto/item.h.
 *
 * Invariants:
 *   - Every integer is little-endian and fixed width, and the length of an
 *     encoding is fully determined by its payload_len / tx_count field, so
 *     each item has exactly one encoding and therefore exactly one id.
 *   - rumor_item_decode() never reads outside [buf, buf+len) and accepts a
 *     struct only when the length matches exactly.
 *   - Nothing here reads a clock, does I/O, or keeps state.  Memory is
 *     allocated only by the builders (returned to the caller) and as
 *     scratch space inside rumor_item_check() (duplicate-id detection on
 *     large blocks) and rumor_item_verify() (the signed message of large
 *     items); the scratch space is freed before returning.
 */
#include "crypto/item.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/sign.h"

/* Field offsets shared by both kinds. */
#define OFF_VERSION 0
#define OFF_KIND 1
#define OFF_MAGIC 2
#define OFF_BODY 6

/* Transaction field offsets. */
#define TX_OFF_SENDER 6
#define TX_OFF_NONCE 38
#define TX_OFF_TIMESTAMP 46
#define TX_OFF_PAYLOAD_LEN 54
#define TX_OFF_PAYLOAD 58

/* Block field offsets. */
#define BLOCK_OFF_HEIGHT 6
#define BLOCK_OFF_PREV 14
#define BLOCK_OFF_TIMESTAMP 46
#define BLOCK_OFF_PRODUCER 54
#define BLOCK_OFF_MERKLE_ROOT 86
#define BLOCK_OFF_TX_COUNT 118
#define BLOCK_OFF_TX_IDS 122

_Static_assert(TX_OFF_PAYLOAD == RUMOR_TX_HEADER_SIZE, "tx header layout");
_Static_assert(RUMOR_TX_SIZE_MIN == 122, "tx size is 122 + payload_len");
_Static_assert(BLOCK_OFF_TX_IDS == RUMOR_BLOCK_HEADER_SIZE, "block header layout");
_Static_assert(RUMOR_BLOCK_SIZE_MIN == 186, "block size is 186 + 32 * tx_count");
_Static_assert(RUMOR_BLOCK_TX_MAX == 131066, "block tx count limit");
_Static_assert(RUMOR_BLOCK_SIZE_MIN + (size_t)RUMOR_BLOCK_TX_MAX * RUMOR_ID_SIZE <=
		       RUMOR_BLOCK_SIZE_MAX,
	       "largest block fits the size limit");
_Static_assert(RUMOR_TX_SIZE_MAX <= RUMOR_ITEM_SIZE_MAX, "tx fits the item limit");

/* Signed messages up to this size are built on the stack. */
#define SMALL_MESSAGE_MAX 1024
/* Blocks with up to this many ids are checked for duplicates pairwise. */
#define DUPLICATE_PAIRWISE_MAX 32

static const char network_prefix[] = "rumor/network/";

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static int is_all_zero(const uint8_t *p, size_t len)
{
	uint8_t acc = 0;

	for (size_t i = 0; i < len; i++)
		acc |= p[i];
	return acc == 0;
}

/* ---- Networks ---- */

int rumor_network_init(struct rumor_network *net, const char *name)
{
	size_t len = name ? strlen(name) : 0;
	const void *parts[2];
	size_t lens[2];

	if (len == 0 || len > RUMOR_NETWORK_NAME_MAX)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		char c = name[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '.' || c == '_' || c == '-'))
			return -EINVAL;
	}
	memset(net, 0, sizeof(*net));
	memcpy(net->name, name, len);
	parts[0] = network_prefix;
	lens[0] = sizeof(network_prefix) - 1;
	parts[1] = name;
	lens[1] = len;
	rumor_sha256_parts(parts, lens, 2, net->id);
	memcpy(net->magic, net->id, RUMOR_MAGIC_SIZE);
	net->n_producers = 0;
	return 0;
}

int rumor_network_add_producer(struct rumor_network *net, const uint8_t pubkey[RUMOR_PUBKEY_SIZE])
{
	if (net->n_producers >= RUMOR_PRODUCERS_MAX)
		return -ENOSPC;
	memcpy(net->producers[net->n_producers++], pubkey, RUMOR_PUBKEY_SIZE);
	return 0;
}

/* ---- Step 1: structure ---- */

static const char *decode_tx(struct rumor_item *out, const uint8_t *buf, size_t len)
{
	struct rumor_tx *tx = &out->u.tx;
	uint32_t payload_len;

	if (len < RUMOR_TX_SIZE_MIN)
		return "transaction is truncated (shorter than the 122 bytes of an empty transaction)";
	payload_len = get_le32(buf + TX_OFF_PAYLOAD_LEN);
	if (payload_len > RUMOR_TX_PAYLOAD_MAX)
		return "transaction payload exceeds 65536 bytes";
	if (len != RUMOR_TX_SIZE_MIN + (size_t)payload_len)
		return "transaction length does not match its payload length (trailing or missing bytes)";
	memcpy(tx->sender, buf + TX_OFF_SENDER, RUMOR_PUBKEY_SIZE);
	tx->nonce = get_le64(buf + TX_OFF_NONCE);
	tx->timestamp = get_le64(buf + TX_OFF_TIMESTAMP);
	tx->payload_len = payload_len;
	tx->payload = buf + TX_OFF_PAYLOAD;
	return NULL;
}

static const char *decode_block(struct rumor_item *out, const uint8_t *buf, size_t len)
{
	struct rumor_block *block = &out->u.block;
	uint32_t tx_count;

	if (len > RUMOR_BLOCK_SIZE_MAX)
		return "block exceeds 4 MiB";
	if (len < RUMOR_BLOCK_SIZE_MIN)
		return "block is truncated (shorter than the 186 bytes of an empty block)";
	tx_count = get_le32(buf + BLOCK_OFF_TX_COUNT);
	if (tx_count > RUMOR_BLOCK_TX_MAX)
		return "block tx count exceeds the limit of 131066";
	if (len != RUMOR_BLOCK_SIZE_MIN + (size_t)tx_count * RUMOR_ID_SIZE)
		return "block length does not match its tx count (trailing or missing bytes)";
	block->height = get_le64(buf + BLOCK_OFF_HEIGHT);
	memcpy(block->prev, buf + BLOCK_OFF_PREV, RUMOR_ID_SIZE);
	block->timestamp = get_le64(buf + BLOCK_OFF_TIMESTAMP);
	memcpy(block->producer, buf + BLOCK_OFF_PRODUCER, RUMOR_PUBKEY_SIZE);
	memcpy(block->merkle_root, buf + BLOCK_OFF_MERKLE_ROOT, RUMOR_ID_SIZE);
	block->tx_count = tx_count;
	block->tx_ids = buf + BLOCK_OFF_TX_IDS;
	return NULL;
}

const char *rumor_item_decode(struct rumor_item *out, const uint8_t *buf, size_t len)
{
	const char *reason;

	memset(out, 0, sizeof(*out));
	if (buf == NULL || len == 0)
		return "item is truncated (empty)";
	if (buf[OFF_VERSION] != RUMOR_ITEM_VERSION)
		return "unsupported item version (only version 1 exists)";
	if (len < 2)
		return "item is truncated (no kind byte)";
	switch (buf[OFF_KIND]) {
	case RUMOR_ITEM_TX:
		reason = decode_tx(out, buf, len);
		break;
	case RUMOR_ITEM_BLOCK:
		reason = decode_block(out, buf, len);
		break;
	default: /* a byte from the wire, not an enum */
		return "unknown item kind (expected 1 for a transaction or 2 for a block)";
	}
	if (reason != NULL) {
		memset(out, 0, sizeof(*out));
		return reason;
	}
	out->kind = (enum rumor_item_kind)buf[OFF_KIND];
	out->version = buf[OFF_VERSION];
	memcpy(out->magic, buf + OFF_MAGIC, RUMOR_MAGIC_SIZE);
	out->encoding = buf;
	out->size = len;
	memcpy(out->sig, buf + len - RUMOR_SIG_SIZE, RUMOR_SIG_SIZE);
	rumor_sha256(buf, len, out->id);
	return NULL;
}

void rumor_item_rebase(struct rumor_item *item, const uint8_t *buf)
{
	item->encoding = buf;
	switch (item->kind) {
	case RUMOR_ITEM_TX:
		item->u.tx.payload = buf + TX_OFF_PAYLOAD;
		break;
	case RUMOR_ITEM_BLOCK:
		item->u.block.tx_ids = buf + BLOCK_OFF_TX_IDS;
		break;
	}
}

/* ---- Step 2: context ---- */

/* Duplicate ids in large blocks: the ids are sorted by 8 bytes at a time
 * (an LSD radix sort of (8-byte key, index) pairs: 8 passes, linear), and
 * only runs of equal keys go on to the next 8 bytes.  The ids are the
 * sender's choice, but no choice makes this slower than 4 levels of
 * linear passes: about 12 ms for 131,066 random ids on the development
 * machine, where a qsort of the 32-byte ids took about 50 ms of the loop
 * thread per block. */
struct id_key {
	uint64_t key;   /* 8 bytes of the id from the level's offset, big-endian */
	uint32_t index; /* of the id in the block */
};

static uint64_t get_be64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* Sorts a[0..n) by key, stably, using tmp[0..n) (LSD, a byte per pass;
 * a pass whose byte is the same for all is skipped). */
static void radix_sort_keys(struct id_key *a, struct id_key *tmp, uint32_t n)
{
	for (unsigned shift = 0; shift < 64; shift += 8) {
		uint32_t count[256] = { 0 };
		for (uint32_t i = 0; i < n; i++)
			count[(a[i].key >> shift) & 0xff]++;
		if (count[(a[0].key >> shift) & 0xff] == n)
			continue; /* one byte value: already in order */
		uint32_t pos = 0;
		for (unsigned b = 0; b < 256; b++) {
			uint32_t c = count[b];
			count[b] = pos;
			pos += c;
		}
		for (uint32_t i = 0; i < n; i++)
			tmp[count[(a[i].key >> shift) & 0xff]++] = a[i];
		memcpy(a, tmp, (size_t)n * sizeof(*a));
	}
}

/* 1 when two of n ids are equal from byte off on, comparing every pair:
 * the ids named by a[0..n), or ids[0..n) when a is NULL. */
static int pairwise_duplicate(const uint8_t *ids, const struct id_key *a, uint32_t n,
			      unsigned off)
{
	for (uint32_t i = 0; i < n; i++) {
		const uint8_t *x = ids + (size_t)(a ? a[i].index : i) * RUMOR_ID_SIZE + off;
		for (uint32_t j = i + 1; j < n; j++)
			if (memcmp(x, ids + (size_t)(a ? a[j].index : j) * RUMOR_ID_SIZE + off,
				   RUMOR_ID_SIZE - off) == 0)
				return 1;
	}
	return 0;
}

/* 1 when two of the ids named by a[0..n) are equal; they are known equal
 * in their bytes before off. */
static int duplicate_in(const uint8_t *ids, struct id_key *a, struct id_key *tmp, uint32_t n,
			unsigned off)
{
	if (n < 2)
		return 0;
	if (off >= RUMOR_ID_SIZE)
		return 1; /* every byte equal */
	if (n <= DUPLICATE_PAIRWISE_MAX)
		return pairwise_duplicate(ids, a, n, off);
	for (uint32_t i = 0; i < n; i++)
		a[i].key = get_be64(ids + (size_t)a[i].index * RUMOR_ID_SIZE + off);
	radix_sort_keys(a, tmp, n);
	for (uint32_t start = 0; start < n;) {
		uint32_t end = start + 1;
		while (end < n && a[end].key == a[start].key)
			end++;
		if (end - start > 1 && duplicate_in(ids, a + start, tmp, end - start, off + 8))
			return 1;
		start = end;
	}
	return 0;
}

/* 1 when some id appears twice, 0 when all are distinct, -1 without memory.
 * Pairwise for small blocks, linear passes (duplicate_in) for large ones. */
static int has_duplicate_ids(const uint8_t *ids, uint32_t n)
{
	if (n <= DUPLICATE_PAIRWISE_MAX)
		return pairwise_duplicate(ids, NULL, n, 0);
	struct id_key *a = malloc((size_t)n * sizeof(*a));
	struct id_key *tmp = malloc((size_t)n * sizeof(*tmp));
	int found = -1;
	if (a && tmp) {
		for (uint32_t i = 0; i < n; i++)
			a[i].index = i;
		found = duplicate_in(ids, a, tmp, n, 0);
	}
	free(a);
	free(tmp);
	return found;
}

static int producer_allowed(const struct rumor_network *net, const uint8_t *producer)
{
	if (net->n_producers == 0)
		return 1;
	for (size_t i = 0; i < net->n_producers; i++)
		if (memcmp(net->producers[i], producer, RUMOR_PUBKEY_SIZE) == 0)
			return 1;
	return 0;
}

/* The O(1) part of a block's context check. */
static const char *check_block_header(const struct rumor_block *block,
				      const struct rumor_network *net)
{
	if (block->height == 0 && !is_all_zero(block->prev, RUMOR_ID_SIZE))
		return "block at height 0 must have an all-zero prev id";
	if (block->height > 0 && is_all_zero(block->prev, RUMOR_ID_SIZE))
		return "block above height 0 has an all-zero prev id (it must name its parent)";
	if (!producer_allowed(net, block->producer))
		return "block producer is not in this network's list of allowed producers";
	return NULL;
}

const char *rumor_item_check_header(const struct rumor_item *item,
				    const struct rumor_network *net, uint64_t now_s)
{
	uint64_t timestamp = 0;

	if (memcmp(item->magic, net->magic, RUMOR_MAGIC_SIZE) != 0)
		return "item belongs to another network (network magic does not match)";
	switch (item->kind) {
	case RUMOR_ITEM_TX:
		timestamp = item->u.tx.timestamp;
		break;
	case RUMOR_ITEM_BLOCK:
		timestamp = item->u.block.timestamp;
		break;
	}
	/* timestamp > now + 2 h, written so it cannot overflow. */
	if (timestamp > now_s && timestamp - now_s > RUMOR_TIMESTAMP_FUTURE_MAX_S)
		return "timestamp is more than 2 hours in the future";
	switch (item->kind) {
	case RUMOR_ITEM_TX:
		return NULL;
	case RUMOR_ITEM_BLOCK:
		return check_block_header(&item->u.block, net);
	}
	return "unknown item kind";
}

const char *rumor_item_check_ids(const struct rumor_item *item)
{
	const struct rumor_block *block = &item->u.block;
	uint8_t root[RUMOR_ID_SIZE];
	int dup;

	if (item->kind != RUMOR_ITEM_BLOCK)
		return NULL;
	dup = has_duplicate_ids(block->tx_ids, block->tx_count);
	if (dup < 0)
		return "out of memory while checking the block's tx ids";
	if (dup > 0)
		return "block lists the same transaction id twice";
	rumor_merkle_root(block->tx_ids, block->tx_count, root);
	if (memcmp(root, block->merkle_root, RUMOR_ID_SIZE) != 0)
		return "block Merkle root does not match its tx ids";
	return NULL;
}

const char *rumor_item_check(const struct rumor_item *item, const struct rumor_network *net,
			     uint64_t now_s)
{
	const char *why = rumor_item_check_header(item, net, now_s);

	return why ? why : rumor_item_check_ids(item);
}

/* ---- Step 3: signature ---- */

const char *rumor_item_verify(const struct rumor_item *item, const struct rumor_network *net)
{
	uint8_t small[SMALL_MESSAGE_MAX];
	const uint8_t *pubkey = NULL;
	size_t signed_len, msg_len;
	uint8_t *msg;
	int rc;

	switch (item->kind) {
	case RUMOR_ITEM_TX:
		pubkey = item->u.tx.sender;
		break;
	case RUMOR_ITEM_BLOCK:
		pubkey = item->u.block.producer;
		break;
	}
	if (pubkey == NULL || item->size < RUMOR_SIG_SIZE)
		return "unknown item kind";
	signed_len = item->size - RUMOR_SIG_SIZE;
	msg_len = sizeof(net->id) + signed_len;
	msg = msg_len <= sizeof(small) ? small : malloc(msg_len);
	if (msg == NULL)
		return "out of memory while verifying the signature";
	memcpy(msg, net->id, sizeof(net->id));
	memcpy(msg + sizeof(net->id), item->encoding, signed_len);
	rc = rumor_sign_verify(pubkey, msg, msg_len, item->encoding + signed_len);
	if (msg != small)
		free(msg);
	return rc == 0 ? NULL : "signature does not verify";
}

const char *rumor_item_verify_job(const struct rumor_item *item, const struct rumor_network *net)
{
	const char *why = rumor_item_check_ids(item);

	return why ? why : rumor_item_verify(item, net);
}

const char *rumor_item_validate(struct rumor_item *out, const uint8_t *buf, size_t len,
				const struct rumor_network *net, uint64_t now_s)
{
	const char *reason = rumor_item_decode(out, buf, len);

	if (reason == NULL)
		reason = rumor_item_check(out, net, now_s);
	if (reason == NULL)
		reason = rumor_item_verify(out, net);
	return reason;
}

const char *rumor_item_kind_name(enum rumor_item_kind kind)
{
	switch (kind) {
	case RUMOR_ITEM_TX:
		return "tx";
	case RUMOR_ITEM_BLOCK:
		return "block";
	}
	return "unknown";
}

/* ---- Builders ---- */

/* Allocates room for the network id followed by an encoding of size bytes,
 * writing the common header.  The encoding starts at the returned pointer
 * + 32. */
static uint8_t *start_encoding(const struct rumor_network *net, enum rumor_item_kind kind,
			       size_t size)
{
	uint8_t *buf = malloc(sizeof(net->id) + size);
	uint8_t *enc;

	if (buf == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	memcpy(buf, net->id, sizeof(net->id));
	enc = buf + sizeof(net->id);
	enc[OFF_VERSION] = RUMOR_ITEM_VERSION;
	enc[OFF_KIND] = (uint8_t)kind;
	memcpy(enc + OFF_MAGIC, net->magic, RUMOR_MAGIC_SIZE);
	return buf;
}

/* Signs network id || encoding-without-signature, then moves the encoding
 * to the start of buf so the caller can free it. */
static uint8_t *finish_encoding(uint8_t *buf, const uint8_t secret[64], size_t size, size_t *len)
{
	const size_t id_size = RUMOR_SHA256_SIZE;
	uint8_t sig[RUMOR_SIG_SIZE];

	rumor_sign(secret, buf, id_size + size - RUMOR_SIG_SIZE, sig);
	memmove(buf, buf + id_size, size - RUMOR_SIG_SIZE);
	memcpy(buf + size - RUMOR_SIG_SIZE, sig, RUMOR_SIG_SIZE);
	*len = size;
	return buf;
}

uint8_t *rumor_tx_create(const struct rumor_network *net, const uint8_t secret[64], uint64_t nonce,
			 uint64_t timestamp, const uint8_t *payload, size_t payload_len, size_t *len)
{
	size_t size;
	uint8_t *buf, *enc;

	if (net == NULL || secret == NULL || len == NULL || payload_len > RUMOR_TX_PAYLOAD_MAX ||
	    (payload == NULL && payload_len > 0)) {
		errno = EINVAL;
		return NULL;
	}
	size = RUMOR_TX_SIZE_MIN + payload_len;
	buf = start_encoding(net, RUMOR_ITEM_TX, size);
	if (buf == NULL)
		return NULL;
	enc = buf + sizeof(net->id);
	/* libsodium's secret key is seed || public key. */
	memcpy(enc + TX_OFF_SENDER, secret + RUMOR_SEED_SIZE, RUMOR_PUBKEY_SIZE);
	put_le64(enc + TX_OFF_NONCE, nonce);
	put_le64(enc + TX_OFF_TIMESTAMP, timestamp);
	put_le32(enc + TX_OFF_PAYLOAD_LEN, (uint32_t)payload_len);
	if (payload_len > 0)
		memcpy(enc + TX_OFF_PAYLOAD, payload, payload_len);
	return finish_encoding(buf, secret, size, len);
}

uint8_t *rumor_block_create(const struct rumor_network *net, const uint8_t secret[64],
			    uint64_t height, const uint8_t prev[RUMOR_ID_SIZE], uint64_t timestamp,
			    const uint8_t *tx_ids, uint32_t tx_count, size_t *len)
{
	size_t size;
	uint8_t *buf, *enc;

	if (net == NULL || secret == NULL || len == NULL || tx_count > RUMOR_BLOCK_TX_MAX ||
	    (tx_ids == NULL && tx_count > 0)) {
		errno = EINVAL;
		return NULL;
	}
	size = RUMOR_BLOCK_SIZE_MIN + (size_t)tx_count * RUMOR_ID_SIZE;
	buf = start_encoding(net, RUMOR_ITEM_BLOCK, size);
	if (buf == NULL)
		return NULL;
	enc = buf + sizeof(net->id);
	put_le64(enc + BLOCK_OFF_HEIGHT, height);
	if (prev != NULL)
		memcpy(enc + BLOCK_OFF_PREV, prev, RUMOR_ID_SIZE);
	else
		memset(enc + BLOCK_OFF_PREV, 0, RUMOR_ID_SIZE);
	put_le64(enc + BLOCK_OFF_TIMESTAMP, timestamp);
	memcpy(enc + BLOCK_OFF_PRODUCER, secret + RUMOR_SEED_SIZE, RUMOR_PUBKEY_SIZE);
	rumor_merkle_root(tx_ids, tx_count, enc + BLOCK_OFF_MERKLE_ROOT);
	put_le32(enc + BLOCK_OFF_TX_COUNT, tx_count);
	if (tx_count > 0)
		memcpy(enc + BLOCK_OFF_TX_IDS, tx_ids, (size_t)tx_count * RUMOR_ID_SIZE);
	return finish_encoding(buf, secret, size, len);
}

/* ---- Merkle tree ---- */

/* RFC 6962 section 2.1 Merkle Tree Hash over n >= 1 leaves:
 *   MTH({d0}) = SHA-256(0x00 || d0)
 *   MTH(D[n]) = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n])), k the largest
 *   power of two smaller than n.
 * Recursion depth is log2(n) + 1, at most 18 for the largest block. */
static void merkle_subtree(struct rumor_sha256_ctx *ctx, const uint8_t *ids, uint32_t n,
			   uint8_t out[RUMOR_ID_SIZE])
{
	static const uint8_t leaf_prefix = 0x00, node_prefix = 0x01;
	uint8_t left[RUMOR_ID_SIZE], right[RUMOR_ID_SIZE];
	const void *parts[3];
	size_t lens[3];
	uint32_t k = 1;

	if (n == 1) {
		parts[0] = &leaf_prefix;
		lens[0] = 1;
		parts[1] = ids;
		lens[1] = RUMOR_ID_SIZE;
		rumor_sha256_parts_ctx(ctx, parts, lens, 2, out);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	merkle_subtree(ctx, ids, k, left);
	merkle_subtree(ctx, ids + (size_t)k * RUMOR_ID_SIZE, n - k, right);
	parts[0] = &node_prefix;
	lens[0] = 1;
	parts[1] = left;
	lens[1] = RUMOR_ID_SIZE;
	parts[2] = right;
	lens[2] = RUMOR_ID_SIZE;
	rumor_sha256_parts_ctx(ctx, parts, lens, 3, out);
}

void rumor_merkle_root(const uint8_t *tx_ids, uint32_t tx_count, uint8_t root[RUMOR_ID_SIZE])
{
	if (tx_count == 0) {
		rumor_sha256("", 0, root);
		return;
	}
	/* one context for the whole tree */
	struct rumor_sha256_ctx *ctx = rumor_sha256_ctx_new();
	merkle_subtree(ctx, tx_ids, tx_count, root);
	rumor_sha256_ctx_free(ctx);
}
