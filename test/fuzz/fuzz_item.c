/*
 * test/fuzz/fuzz_item.c: libFuzzer target for the item decoder and the two
 * validation steps after it (crypto/item.c), on the network "testnet" with
 * one allowed producer list left empty.
 *
 * Invariants asserted on every input:
 *   - decode either fails with a reason and leaves no encoding behind, or
 *     succeeds with size == input length, id == SHA-256(input), and a size
 *     that the kind's count field fully determines (one encoding per item);
 *   - check and verify return NULL or a non-empty reason, never crash;
 *   - an item that passes all three steps re-validates the same way.
 */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/hash.h"
#include "crypto/item.h"
#include "crypto/sign.h"

/* Any clock works; this one accepts the seed corpus (2023-11-14). */
#define FUZZ_NOW 1700000000u

static struct rumor_network net;
static int initialised;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rumor_item item, again;
	uint8_t id[RUMOR_ID_SIZE];
	const char *reason;

	if (!initialised) {
		if (rumor_crypto_init() != 0 || rumor_network_init(&net, "testnet") != 0)
			abort();
		initialised = 1;
	}
	reason = rumor_item_decode(&item, data, size);
	if (reason != NULL) {
		assert(reason[0] != '\0');
		assert(item.encoding == NULL && item.size == 0);
		return 0;
	}
	assert(item.encoding == data && item.size == size);
	assert(item.version == RUMOR_ITEM_VERSION);
	rumor_sha256(data, size, id);
	assert(memcmp(id, item.id, sizeof(id)) == 0);
	assert(memcmp(item.sig, data + size - RUMOR_SIG_SIZE, RUMOR_SIG_SIZE) == 0);
	switch (item.kind) {
	case RUMOR_ITEM_TX:
		assert(size == RUMOR_TX_SIZE_MIN + (size_t)item.u.tx.payload_len);
		assert(item.u.tx.payload_len <= RUMOR_TX_PAYLOAD_MAX);
		assert(item.u.tx.payload == data + RUMOR_TX_HEADER_SIZE);
		break;
	case RUMOR_ITEM_BLOCK:
		assert(size == RUMOR_BLOCK_SIZE_MIN + (size_t)item.u.block.tx_count * RUMOR_ID_SIZE);
		assert(size <= RUMOR_BLOCK_SIZE_MAX);
		assert(item.u.block.tx_ids == data + RUMOR_BLOCK_HEADER_SIZE);
		break;
	}
	/* One byte more or less never decodes. */
	assert(rumor_item_decode(&again, data, size - 1) != NULL);

	reason = rumor_item_check(&item, &net, FUZZ_NOW);
	if (reason != NULL) {
		assert(reason[0] != '\0');
		return 0;
	}
	reason = rumor_item_verify(&item, &net);
	if (reason != NULL) {
		assert(strcmp(reason, "signature does not verify") == 0);
		return 0;
	}
	/* Valid: stays valid, deterministically. */
	assert(rumor_item_decode(&again, data, size) == NULL);
	assert(memcmp(again.id, item.id, RUMOR_ID_SIZE) == 0);
	assert(rumor_item_check(&again, &net, FUZZ_NOW) == NULL);
	assert(rumor_item_verify(&again, &net) == NULL);
	return 0;
}
