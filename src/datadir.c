/*
 * src/datadir.c: see datadir.h.
 */
#include "config.h"

#include "src/datadir.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/sign.h"

static int mkdir_p(const char *dir, char *err, size_t errlen)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s", dir) >= (int)sizeof(path)) {
		snprintf(err, errlen, "datadir path too long: %s", dir);
		return -1;
	}
	for (char *p = path + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			snprintf(err, errlen, "cannot create directory %s: %s", path,
				 strerror(errno));
			return -1;
		}
		*p = '/';
	}
	if (mkdir(path, 0700) != 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create data directory %s: %s", path, strerror(errno));
		return -1;
	}
	return 0;
}

int rumor_datadir_prepare(const char *dir, char *err, size_t errlen)
{
	if (mkdir_p(dir, err, errlen))
		return -1;
	struct stat st;
	if (stat(dir, &st) != 0) {
		snprintf(err, errlen, "cannot use data directory %s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, errlen, "data directory %s is not a directory", dir);
		return -1;
	}
	/* access() answers for the real uid, which is what we run as. */
	if (access(dir, W_OK | X_OK) != 0) {
		snprintf(err, errlen, "data directory %s is not writable: %s", dir,
			 strerror(errno));
		return -1;
	}
	return 0;
}

int rumor_datadir_lock(const char *dir, int *fd, char *err, size_t errlen)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/.lock", dir);
	int f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (f < 0) {
		snprintf(err, errlen, "cannot open lock file %s: %s", path, strerror(errno));
		return -1;
	}
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 0};
	if (fcntl(f, F_SETLK, &fl) != 0) {
		int e = errno;
		close(f);
		if (e == EACCES || e == EAGAIN)
			snprintf(err, errlen,
				 "data directory %s is in use by another rumord (lock %s is held)",
				 dir, path);
		else
			snprintf(err, errlen, "cannot lock %s: %s", path, strerror(e));
		return -1;
	}
	*fd = f;
	return 0;
}

void rumor_datadir_unlock(int fd)
{
	if (fd >= 0)
		close(fd); /* closing releases the fcntl lock */
}

int rumor_datadir_node_key(const char *dir, uint8_t seed[32], int *created, char *err,
			   size_t errlen)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/node.key", dir);
	*created = 0;
	int rc = rumor_keyfile_read(path, seed);
	if (rc == 0)
		return 0;
	if (rc != -ENOENT) {
		snprintf(err, errlen, "cannot read node key %s: %s", path,
			 rc == -EINVAL ? "malformed key file (expected 64 hex characters)"
				       : strerror(-rc));
		return -1;
	}
	uint8_t pub[32], secret[RUMOR_SECRET_SIZE];
	rumor_sign_keypair_random(pub, secret);
	memcpy(seed, secret, 32);
	rc = rumor_keyfile_write(path, seed, 1);
	memset(secret, 0, sizeof(secret));
	if (rc != 0) {
		snprintf(err, errlen, "cannot create node key %s: %s", path, strerror(-rc));
		return -1;
	}
	*created = 1;
	return 0;
}
