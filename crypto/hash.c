/*
 * crypto/hash.c: SHA-256 and HMAC-SHA256 through OpenSSL's EVP interface,
 * and a constant-time byte comparison.
 *
 * None of these can fail on valid arguments short of OpenSSL running out of
 * memory; since callers cannot act on such a failure (an id or a MAC must
 * never be silently wrong), an OpenSSL failure is treated as a broken
 * invariant and aborts through assert-like checks that stay on in release
 * builds.
 */
#include "crypto/hash.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

static void hash_fail(const char *what)
{
	fprintf(stderr, "rumor: fatal: OpenSSL %s failed\n", what);
	abort();
}

/* SHA-256 fetched from the default provider once: an implicit fetch on
 * every digest (EVP_sha256() in EVP_DigestInit_ex) costs more than hashing
 * a short message. */
static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *sha256(void)
{
	pthread_once(&sha256_once, sha256_fetch);
	if (sha256_md == NULL)
		hash_fail("EVP_MD_fetch(SHA256)");
	return sha256_md;
}

struct rumor_sha256_ctx *rumor_sha256_ctx_new(void)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	if (ctx == NULL)
		hash_fail("EVP_MD_CTX_new");
	return (struct rumor_sha256_ctx *)ctx;
}

void rumor_sha256_ctx_free(struct rumor_sha256_ctx *ctx)
{
	EVP_MD_CTX_free((EVP_MD_CTX *)ctx);
}

void rumor_sha256_parts_ctx(struct rumor_sha256_ctx *c, const void *const *parts,
			    const size_t *lens, size_t n, uint8_t out[RUMOR_SHA256_SIZE])
{
	EVP_MD_CTX *ctx = (EVP_MD_CTX *)c;
	unsigned int out_len = 0;

	if (EVP_DigestInit_ex(ctx, sha256(), NULL) != 1)
		hash_fail("EVP_DigestInit_ex");
	for (size_t i = 0; i < n; i++) {
		if (lens[i] == 0)
			continue;
		if (EVP_DigestUpdate(ctx, parts[i], lens[i]) != 1)
			hash_fail("EVP_DigestUpdate");
	}
	if (EVP_DigestFinal_ex(ctx, out, &out_len) != 1 || out_len != RUMOR_SHA256_SIZE)
		hash_fail("EVP_DigestFinal_ex");
}

void rumor_sha256_parts(const void *const *parts, const size_t *lens, size_t n,
			uint8_t out[RUMOR_SHA256_SIZE])
{
	struct rumor_sha256_ctx *ctx = rumor_sha256_ctx_new();
	rumor_sha256_parts_ctx(ctx, parts, lens, n, out);
	rumor_sha256_ctx_free(ctx);
}

void rumor_sha256(const void *data, size_t len, uint8_t out[RUMOR_SHA256_SIZE])
{
	const void *parts[1] = { data };
	size_t lens[1] = { len };

	rumor_sha256_parts(parts, lens, 1, out);
}

void rumor_hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		       uint8_t out[RUMOR_SHA256_SIZE])
{
	static const uint8_t empty[1];
	unsigned int out_len = 0;

	/* HMAC() dislikes NULL pointers even with zero lengths. */
	if (key == NULL || key_len == 0)
		key = empty;
	if (data == NULL || len == 0)
		data = empty;
	if (key_len > (size_t)INT32_MAX)
		hash_fail("HMAC (key too long)");
	if (HMAC(sha256(), key, (int)key_len, data, len, out, &out_len) == NULL ||
	    out_len != RUMOR_SHA256_SIZE)
		hash_fail("HMAC");
}

int rumor_memeq_ct(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
