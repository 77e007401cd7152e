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

static int exists(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;
	if (name)
		snprintf(path, sizeof(path), "%s/%s", dir, name);
	else
		snprintf(path, sizeof(path), "%s", dir);
	return lstat(path, &st) == 0 || errno != ENOENT;
}

void rumor_datadir_snapshot(const char *dir, struct rumor_datadir_snapshot *snap)
{
	snap->dir = exists(dir, NULL);
	snap->lock = exists(dir, ".lock");
	snap->key = exists(dir, "node.key");
	snap->db = exists(dir, "rumor.sqlite");
	snap->network = exists(dir, "network");
}

static void remove_file(const char *dir, const char *name)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if (unlink(path) != 0 && errno != ENOENT)
		fprintf(stderr, "warning: cannot remove %s: %s\n", path, strerror(errno));
}

void rumor_datadir_undo(const char *dir, const struct rumor_datadir_snapshot *snap)
{
	if (!snap->db) {
		remove_file(dir, "rumor.sqlite");
		remove_file(dir, "rumor.sqlite-wal");
		remove_file(dir, "rumor.sqlite-shm");
		remove_file(dir, "rumor.sqlite-journal");
	}
	if (!snap->key)
		remove_file(dir, "node.key");
	if (!snap->network)
		remove_file(dir, "network");
	if (!snap->lock)
		remove_file(dir, ".lock");
	/* Only when empty: rmdir refuses otherwise, which is what we want. */
	if (!snap->dir)
		(void)rmdir(dir);
}

int rumor_datadir_network(const char *dir, const char *network, char *err, size_t errlen)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/network", dir);
	FILE *f = fopen(path, "r");
	if (f) {
		char line[128] = "";
		int ok = fgets(line, sizeof(line), f) != NULL;
		fclose(f);
		size_t n = strlen(line);
		if (!ok || n < 2 || line[n - 1] != '\n') {
			snprintf(err, errlen,
				 "%s is malformed (expected a network name and a newline)", path);
			return -1;
		}
		line[n - 1] = '\0';
		if (strcmp(line, network) != 0) {
			snprintf(err, errlen,
				 "data directory %s belongs to network '%s' (recorded in %s), not "
				 "'%s': pass --network=%s, or use another --datadir",
				 dir, line, path, network, line);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
		return -1;
	}
	char tmp[PATH_MAX + 8];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
		return -1;
	}
	char text[128];
	int len = snprintf(text, sizeof(text), "%s\n", network);
	int rc = (write(fd, text, (size_t)len) == len && fsync(fd) == 0) ? 0 : -1;
	int e = errno;
	close(fd);
	if (rc == 0 && rename(tmp, path) != 0) {
		rc = -1;
		e = errno;
	}
	if (rc != 0) {
		unlink(tmp);
		snprintf(err, errlen, "cannot write %s: %s", path, strerror(e));
		return -1;
	}
	return 0;
}
