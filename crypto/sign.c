/*
 * crypto/sign.c: Ed25519 through libsodium, randomness, and the secret key
 * file (64 lowercase hex chars of the seed and a newline, mode 0600).
 *
 * Secrets that pass through stack buffers here are wiped with
 * sodium_memzero before returning.  Callers own every buffer they pass.
 */
#include "crypto/sign.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/hex.h"

/* Size of the key file: hex seed and a newline. */
#define KEYFILE_SIZE (2 * RUMOR_SEED_SIZE + 1)

_Static_assert(RUMOR_SECRET_SIZE == crypto_sign_SECRETKEYBYTES, "libsodium secret key layout");
_Static_assert(RUMOR_SEED_SIZE == crypto_sign_SEEDBYTES, "libsodium seed size");
_Static_assert(crypto_sign_PUBLICKEYBYTES == 32, "Ed25519 public key size");
_Static_assert(crypto_sign_BYTES == 64, "Ed25519 signature size");

int rumor_crypto_init(void)
{
	/* 0: initialised now, 1: already initialised, -1: failure. */
	return sodium_init() < 0 ? -1 : 0;
}

void rumor_sign_keypair_from_seed(const uint8_t seed[RUMOR_SEED_SIZE], uint8_t pubkey[32],
				  uint8_t secret[RUMOR_SECRET_SIZE])
{
	crypto_sign_seed_keypair(pubkey, secret, seed);
}

void rumor_sign_keypair_random(uint8_t pubkey[32], uint8_t secret[RUMOR_SECRET_SIZE])
{
	crypto_sign_keypair(pubkey, secret);
}

void rumor_sign(const uint8_t secret[RUMOR_SECRET_SIZE], const uint8_t *msg, size_t len,
		uint8_t sig[64])
{
	crypto_sign_detached(sig, NULL, msg, len, secret);
}

int rumor_sign_verify(const uint8_t pubkey[32], const uint8_t *msg, size_t len,
		      const uint8_t sig[64])
{
	return crypto_sign_verify_detached(sig, msg, len, pubkey) == 0 ? 0 : -1;
}

void rumor_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

/* Writes all of buf; returns 0 or a negative errno. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int rumor_keyfile_write(const char *path, const uint8_t seed[RUMOR_SEED_SIZE], int create_new)
{
	char text[KEYFILE_SIZE + 1];
	int flags = O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW;
	int fd, rc;

	flags |= create_new ? O_EXCL : O_TRUNC;
	fd = open(path, flags, 0600);
	if (fd < 0)
		return -errno;
	/* An existing file keeps its mode through open(): force 0600. */
	if (fchmod(fd, 0600) < 0) {
		rc = -errno;
		close(fd);
		return rc;
	}
	rumor_hex_encode(seed, RUMOR_SEED_SIZE, text);
	text[2 * RUMOR_SEED_SIZE] = '\n';
	rc = write_all(fd, text, KEYFILE_SIZE);
	sodium_memzero(text, sizeof(text));
	if (rc == 0 && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && rc == 0)
		rc = -errno;
	return rc;
}

int rumor_keyfile_read(const char *path, uint8_t seed[RUMOR_SEED_SIZE])
{
	/* One byte more than a valid file, to notice trailing data. */
	char text[KEYFILE_SIZE + 1];
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	while (got < sizeof(text)) {
		ssize_t n = read(fd, text + got, sizeof(text) - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (rc == 0) {
		/* Exactly 64 lowercase hex chars and a newline. */
		if (got != KEYFILE_SIZE || text[2 * RUMOR_SEED_SIZE] != '\n')
			rc = -EINVAL;
		for (size_t i = 0; rc == 0 && i < 2 * RUMOR_SEED_SIZE; i++) {
			char c = text[i];

			if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
				rc = -EINVAL;
		}
		if (rc == 0 && rumor_hex_decode(text, 2 * RUMOR_SEED_SIZE, seed) != RUMOR_SEED_SIZE)
			rc = -EINVAL;
	}
	sodium_memzero(text, sizeof(text));
	return rc;
}
