/*
 * rpc/auth.h: HTTP Basic authentication for the RPC port.
 *
 * Two kinds of credential:
 *  - the cookie: DATADIR/.cookie holds "__cookie__:" and 64 random hex
 *    chars, mode 0600, written at every start and removed at clean shutdown;
 *  - rpcauth entries "USER:SALT$HMAC": HMAC is hex(HMAC-SHA256(key = SALT,
 *    message = PASSWORD)); no plain password is stored.
 * Comparisons are constant-time.
 */
#ifndef RUMOR_RPC_AUTH_H
#define RUMOR_RPC_AUTH_H

#include <stddef.h>

#define RUMOR_COOKIE_USER "__cookie__"
#define RUMOR_RPCAUTH_MAX 16

struct rumor_rpcauth_entry {
	char user[64];
	char salt[128];
	unsigned char hmac[32];
};

struct rumor_auth {
	char cookie_secret[65]; /* "" when no cookie */
	size_t n_entries;
	struct rumor_rpcauth_entry entries[RUMOR_RPCAUTH_MAX];
};

void rumor_auth_init(struct rumor_auth *auth);
/* Parses "USER:SALT$HMAC" and adds it.  Returns 0, or a reason string on a
 * malformed entry (static storage). */
const char *rumor_auth_add_rpcauth(struct rumor_auth *auth, const char *entry);
/* Makes a new random cookie and writes it to path (mode 0600, replacing any
 * old file atomically).  Returns 0 or a negative errno. */
int rumor_auth_write_cookie(struct rumor_auth *auth, const char *path);
/* Reads the cookie file written above into "USER:PASSWORD" form for clients.
 * Returns 0 or a negative errno. */
int rumor_auth_read_cookie(const char *path, char *userpass, size_t cap);
/* Checks the value of an Authorization header (may be NULL).  1 when it
 * grants access, 0 otherwise. */
int rumor_auth_check(const struct rumor_auth *auth, const char *authorization);

#endif
