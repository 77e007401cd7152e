/*
 * src/sim_store.h: rumor-sim's in-memory item store, shared by all nodes.
 *
 * The simulator makes every item itself before the run, so the store holds
 * each item's bytes once, in a global table (index 0..count-1, looked up by
 * id through an open-addressing hash of the id's first 8 bytes), and per
 * node only which items it has stored: one 32-bit slot per (node, item)
 * with the virtual time it was first stored (SIM_STORE_NONE: not stored)
 * and one byte with the hop count of that copy (0 at the node it was
 * submitted to).  What a node stored survives its crash (the store is
 * durable); nothing is ever deleted.
 *
 * Ownership: the store copies item bytes at add; sim_store_get hands back a
 * pointer valid until sim_store_free.
 * Errors: -ENOMEM, -ENOSPC (more items than announced at new), -EEXIST.
 */
#ifndef RUMOR_SRC_SIM_STORE_H
#define RUMOR_SRC_SIM_STORE_H

#include <stddef.h>
#include <stdint.h>

#define SIM_STORE_NONE UINT32_MAX
#define SIM_STORE_TIME_MAX (UINT32_MAX - 1) /* store times are us since the start */

struct sim_store_item {
	uint8_t *bytes;
	uint32_t len;
	uint8_t kind;
	uint8_t id[32];
};

struct sim_store {
	uint32_t nodes, items_max, count;
	struct sim_store_item *items;
	uint32_t *index;    /* hash slots by id: item index + 1, 0 empty */
	uint32_t *by_sig;   /* hash slots by the encoding's last 8 bytes (its signature) */
	size_t index_mask;
	uint32_t *stored_at; /* [node * items_max + item] */
	uint8_t *hops;       /* [node * items_max + item] */
};

int sim_store_init(struct sim_store *s, uint32_t nodes, uint32_t items_max);
void sim_store_free(struct sim_store *s);
/* Copies an encoded item; *out_index its index.  -EEXIST for an id added
 * before, -ENOSPC, -ENOMEM. */
int sim_store_add(struct sim_store *s, const uint8_t id[32], uint8_t kind, const uint8_t *bytes,
		  uint32_t len, uint32_t *out_index);
/* The index of an id, or -1. */
int64_t sim_store_find(const struct sim_store *s, const uint8_t id[32]);
/* The index of the item with exactly this encoding, or -1 (no hashing:
 * looked up by the signature at its end). */
int64_t sim_store_find_encoding(const struct sim_store *s, const uint8_t *bytes, size_t len);
/* 1 when the node has stored the item. */
int sim_store_has(const struct sim_store *s, uint32_t node, uint32_t item);
/* Stores at the node: returns 0 (new: time and hops recorded) or 1 (had it). */
int sim_store_put(struct sim_store *s, uint32_t node, uint32_t item, uint32_t time_us,
		  uint8_t hops);
uint32_t sim_store_time(const struct sim_store *s, uint32_t node, uint32_t item);
uint8_t sim_store_hops(const struct sim_store *s, uint32_t node, uint32_t item);
/* Bytes the store allocated. */
size_t sim_store_memory(const struct sim_store *s);

#endif
