/*
 * crypto/idmap.h: a map from 32-byte item ids to caller pointers.
 *
 * Open addressing with linear probing and backward-shift deletion.  Slots
 * are chosen by SipHash-2-4 (libsodium crypto_shorthash) under a key the
 * caller supplies (random in production, fixed in tests), so a remote party
 * that picks ids cannot make probes long.  The map never grows past the
 * capacity the caller allows; callers bound what remote parties can add.
 *
 * The map stores the id bytes itself; values are borrowed pointers.
 */
#ifndef RUMOR_CRYPTO_IDMAP_H
#define RUMOR_CRYPTO_IDMAP_H

#include <stddef.h>
#include <stdint.h>

struct rumor_idmap_slot {
	uint8_t id[32];
	void *value; /* NULL = empty slot */
};

struct rumor_idmap {
	struct rumor_idmap_slot *slots;
	size_t mask;  /* slot count - 1 (a power of two) */
	size_t count;
	size_t limit; /* most entries allowed */
	uint8_t key[16];
};

/* limit: most entries ever held (the table grows up to 2x that in slots).
 * Returns 0 or -ENOMEM. */
int rumor_idmap_init(struct rumor_idmap *map, size_t limit, const uint8_t key[16]);
void rumor_idmap_free(struct rumor_idmap *map);
void *rumor_idmap_get(const struct rumor_idmap *map, const uint8_t id[32]);
/* value must not be NULL.  Returns 0, -EEXIST when the id is present,
 * -ENOSPC at the limit, -ENOMEM. */
int rumor_idmap_put(struct rumor_idmap *map, const uint8_t id[32], void *value);
/* Returns the removed value, or NULL when absent. */
void *rumor_idmap_del(struct rumor_idmap *map, const uint8_t id[32]);

#endif
