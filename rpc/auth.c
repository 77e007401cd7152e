/*
 * rpc/auth.c: HTTP Basic authentication for the RPC port (see rpc/auth.h).
 *
 * The Authorization header comes from an unauthenticated remote party, so
 * it is checked strictly and cheaply first: the scheme must be "Basic"
 * (case-insensitive, RFC 7617), the credentials at most AUTH_B64_MAX chars of
 * canonical padded base64 (libsodium's strict decoder), containing a ':'.
 * Secrets are compared in constant time (rumor_memeq_ct); the rpcauth check
 * computes HMAC-SHA256(key = SALT as ASCII, message = PASSWORD).
 *
 * Cookie file: "__cookie__:" + 64 lowercase hex chars of 32 random bytes, no
 * newline.  It is written to PATH.tmp (mode 0600, created fresh), fsynced and
 * renamed over PATH so that a reader never sees a half-written cookie.
 */
#include "rpc/auth.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "crypto/hash.h"
#include "crypto/hex.h"
#include "crypto/sign.h"

/* Longest base64 credential accepted (decodes to at most 768 bytes). */
#define AUTH_B64_MAX 1024

void rumor_auth_init(struct rumor_auth *auth)
{
	memset(auth, 0, sizeof(*auth));
}

const char *rumor_auth_add_rpcauth(struct rumor_auth *auth, const char *entry)
{
	if (!entry)
		return "rpcauth entry is missing";
	if (auth->n_entries >= RUMOR_RPCAUTH_MAX)
		return "too many rpcauth entries";
	const char *colon = strchr(entry, ':');
	if (!colon)
		return "rpcauth entry must look like USER:SALT$HMAC (no ':')";
	size_t user_len = (size_t)(colon - entry);
	if (user_len == 0)
		return "rpcauth user name is empty";
	if (user_len >= sizeof(auth->entries[0].user))
		return "rpcauth user name is too long";
	if (user_len == strlen(RUMOR_COOKIE_USER) &&
	    memcmp(entry, RUMOR_COOKIE_USER, user_len) == 0)
		return "rpcauth user name __cookie__ is reserved";
	const char *salt = colon + 1;
	const char *dollar = strrchr(salt, '$');
	if (!dollar)
		return "rpcauth entry must look like USER:SALT$HMAC (no '$')";
	size_t salt_len = (size_t)(dollar - salt);
	if (salt_len == 0)
		return "rpcauth salt is empty";
	if (salt_len >= sizeof(auth->entries[0].salt))
		return "rpcauth salt is too long";
	const char *hmac_hex = dollar + 1;
	struct rumor_rpcauth_entry e;
	memset(&e, 0, sizeof(e));
	if (strlen(hmac_hex) != 2 * sizeof(e.hmac) ||
	    rumor_hex_decode(hmac_hex, 2 * sizeof(e.hmac), e.hmac) != (long)sizeof(e.hmac))
		return "rpcauth HMAC must be 64 hex characters";
	memcpy(e.user, entry, user_len);
	memcpy(e.salt, salt, salt_len);
	auth->entries[auth->n_entries++] = e;
	return 0;
}

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

int rumor_auth_write_cookie(struct rumor_auth *auth, const char *path)
{
	uint8_t secret[32];
	char hex[65];
	rumor_random(secret, sizeof(secret));
	rumor_hex_encode(secret, sizeof(secret), hex);
	sodium_memzero(secret, sizeof(secret));

	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	if (unlink(tmp) < 0 && errno != ENOENT)
		return -errno;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	char text[sizeof(RUMOR_COOKIE_USER) + 1 + 64];
	int len = snprintf(text, sizeof(text), "%s:%s", RUMOR_COOKIE_USER, hex);
	int err = write_all(fd, text, (size_t)len);
	if (!err && fsync(fd) < 0)
		err = -errno;
	if (close(fd) < 0 && !err)
		err = -errno;
	if (!err && rename(tmp, path) < 0)
		err = -errno;
	if (err) {
		unlink(tmp);
		return err;
	}
	memcpy(auth->cookie_secret, hex, sizeof(hex));
	return 0;
}

int rumor_auth_read_cookie(const char *path, char *userpass, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	size_t len = 0;
	int err = 0;
	for (;;) {
		if (len + 1 >= cap) {
			/* one more byte would not fit: too long for the caller */
			char c;
			ssize_t n = read(fd, &c, 1);
			if (n > 0)
				err = -ENOBUFS;
			else if (n < 0)
				err = -errno;
			break;
		}
		ssize_t n = read(fd, userpass + len, cap - 1 - len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			break;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	close(fd);
	if (err)
		return err;
	while (len > 0 && (userpass[len - 1] == '\n' || userpass[len - 1] == '\r'))
		len--;
	userpass[len] = '\0';
	if (len == 0 || strlen(userpass) != len || !strchr(userpass, ':'))
		return -EINVAL;
	return 0;
}

static int check_rpcauth(const struct rumor_rpcauth_entry *e, const char *password,
			 size_t password_len)
{
	uint8_t mac[RUMOR_SHA256_SIZE];
	rumor_hmac_sha256(e->salt, strlen(e->salt), password, password_len, mac);
	return rumor_memeq_ct(mac, e->hmac, sizeof(mac));
}

int rumor_auth_check(const struct rumor_auth *auth, const char *authorization)
{
	if (!auth || !authorization)
		return 0;
	if (strncasecmp(authorization, "Basic ", 6) != 0)
		return 0;
	const char *b64 = authorization + 6;
	while (*b64 == ' ')
		b64++;
	size_t b64_len = strlen(b64);
	while (b64_len > 0 && (b64[b64_len - 1] == ' ' || b64[b64_len - 1] == '\t'))
		b64_len--;
	if (b64_len == 0 || b64_len > AUTH_B64_MAX)
		return 0;
	unsigned char decoded[AUTH_B64_MAX];
	size_t decoded_len = 0;
	if (sodium_base642bin(decoded, sizeof(decoded) - 1, b64, b64_len, NULL, &decoded_len,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0)
		return 0;
	decoded[decoded_len] = '\0';
	unsigned char *colon = memchr(decoded, ':', decoded_len);
	if (!colon) {
		sodium_memzero(decoded, sizeof(decoded));
		return 0;
	}
	size_t user_len = (size_t)(colon - decoded);
	const char *password = (const char *)colon + 1;
	size_t password_len = decoded_len - user_len - 1;
	int granted = 0;

	if (user_len == strlen(RUMOR_COOKIE_USER) &&
	    memcmp(decoded, RUMOR_COOKIE_USER, user_len) == 0) {
		if (auth->cookie_secret[0] != '\0' && password_len == 64 &&
		    rumor_memeq_ct(password, auth->cookie_secret, 64))
			granted = 1;
	} else {
		for (size_t i = 0; i < auth->n_entries; i++) {
			const struct rumor_rpcauth_entry *e = &auth->entries[i];
			if (strlen(e->user) == user_len &&
			    memcmp(e->user, decoded, user_len) == 0 &&
			    check_rpcauth(e, password, password_len))
				granted = 1;
		}
	}
	sodium_memzero(decoded, sizeof(decoded));
	return granted;
}
