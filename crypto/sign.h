/*
 * crypto/sign.h: Ed25519 keys and signatures (libsodium), and the secret key
 * file format shared by rumord (DATADIR/node.key) and rumor-tx.
 *
 * Key file: the 32-byte seed as 64 lowercase hex chars and a newline, mode
 * 0600.  The public key is derived from the seed.
 */
#ifndef RUMOR_CRYPTO_SIGN_H
#define RUMOR_CRYPTO_SIGN_H

#include <stddef.h>
#include <stdint.h>

#define RUMOR_SEED_SIZE 32
#define RUMOR_SECRET_SIZE 64 /* libsodium layout: seed || public key */

/* Must be called once before any other crypto call.  Returns 0 or -1. */
int rumor_crypto_init(void);

void rumor_sign_keypair_from_seed(const uint8_t seed[RUMOR_SEED_SIZE], uint8_t pubkey[32],
				  uint8_t secret[RUMOR_SECRET_SIZE]);
void rumor_sign_keypair_random(uint8_t pubkey[32], uint8_t secret[RUMOR_SECRET_SIZE]);
void rumor_sign(const uint8_t secret[RUMOR_SECRET_SIZE], const uint8_t *msg, size_t len,
		uint8_t sig[64]);
/* 0 when valid, -1 otherwise (also for non-canonical or small-order inputs). */
int rumor_sign_verify(const uint8_t pubkey[32], const uint8_t *msg, size_t len,
		      const uint8_t sig[64]);
/* Random bytes from libsodium. */
void rumor_random(void *buf, size_t len);

/* Key files.  Return 0, or a negative errno (-EEXIST when create_new and the
 * file exists, -EINVAL for a malformed file, or the error from the system). */
int rumor_keyfile_write(const char *path, const uint8_t seed[RUMOR_SEED_SIZE], int create_new);
int rumor_keyfile_read(const char *path, uint8_t seed[RUMOR_SEED_SIZE]);

#endif
