/*
 * crypto/hash.h: SHA-256 and HMAC-SHA256 (OpenSSL), constant-time compare.
 * No state; all buffers are borrowed.
 */
#ifndef RUMOR_CRYPTO_HASH_H
#define RUMOR_CRYPTO_HASH_H

#include <stddef.h>
#include <stdint.h>

#define RUMOR_SHA256_SIZE 32

void rumor_sha256(const void *data, size_t len, uint8_t out[RUMOR_SHA256_SIZE]);
/* SHA-256 over the concatenation of n parts. */
void rumor_sha256_parts(const void *const *parts, const size_t *lens, size_t n,
			uint8_t out[RUMOR_SHA256_SIZE]);
/* A hashing context kept for many short digests (a Merkle tree of 131,066
 * ids is 262,131 of them): the same digests as rumor_sha256_parts without
 * an allocation each.  Like every function here, new aborts only when
 * OpenSSL runs out of memory; one context serves one thread at a time. */
struct rumor_sha256_ctx;
struct rumor_sha256_ctx *rumor_sha256_ctx_new(void);
void rumor_sha256_ctx_free(struct rumor_sha256_ctx *ctx);
void rumor_sha256_parts_ctx(struct rumor_sha256_ctx *ctx, const void *const *parts,
			    const size_t *lens, size_t n, uint8_t out[RUMOR_SHA256_SIZE]);
void rumor_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		       uint8_t out[RUMOR_SHA256_SIZE]);
/* 1 when equal, 0 otherwise; time depends only on len. */
int rumor_memeq_ct(const void *a, const void *b, size_t len);

#endif
