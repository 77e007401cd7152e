/*
 * src/datadir.h: the data directory.
 *
 *   DATADIR/            mode 0700, created on first start (with parents)
 *   DATADIR/.lock       held with an fcntl write lock while rumord runs, so a
 *                       second rumord on the same datadir is refused
 *   DATADIR/node.key    the node's Ed25519 identity seed (crypto/sign.h
 *                       format), mode 0600, created on first start
 *   DATADIR/.cookie     RPC cookie (rpc/auth.h), removed at clean shutdown
 *   DATADIR/rumor.sqlite  the item store (store/store.h)
 *   DATADIR/rumor.conf  optional config file (src/options.h)
 *   DATADIR/network     the network name the datadir was first started
 *                       with, and a newline; a start with another network
 *                       is refused (a datadir made before this file existed
 *                       gets it at its next start)
 *
 * A start that fails leaves the datadir as it found it: what this start
 * created (the directory, node.key, the database, network, .lock) is
 * removed again (rumor_datadir_snapshot, rumor_datadir_undo).
 *
 * Every function returns 0 or -1 with a message for the operator in err.
 */
#ifndef RUMOR_SRC_DATADIR_H
#define RUMOR_SRC_DATADIR_H

#include <stddef.h>
#include <stdint.h>

/* Creates the directory (0700) if needed and checks it is writable. */
int rumor_datadir_prepare(const char *dir, char *err, size_t errlen);
/* Takes the lock; *fd stays open (and locked) until rumor_datadir_unlock. */
int rumor_datadir_lock(const char *dir, int *fd, char *err, size_t errlen);
void rumor_datadir_unlock(int fd);
/* Loads DATADIR/node.key, creating it on first start.  *created is set when
 * a new key was made. */
int rumor_datadir_node_key(const char *dir, uint8_t seed[32], int *created, char *err,
			   size_t errlen);

/* Which of the datadir's files existed before this start. */
struct rumor_datadir_snapshot {
	int dir, lock, key, db, network;
};
void rumor_datadir_snapshot(const char *dir, struct rumor_datadir_snapshot *snap);
/* After a failed start, with the lock still held: removes what did not exist
 * at snapshot time (the database with its -wal, -shm and -journal files,
 * node.key, network, .lock, and the directory if it is then empty). */
void rumor_datadir_undo(const char *dir, const struct rumor_datadir_snapshot *snap);

/* Compares network with DATADIR/network, or writes it there when the file
 * does not exist.  Returns 0, or -1 with err set (another network, or the
 * file cannot be read or written). */
int rumor_datadir_network(const char *dir, const char *network, char *err, size_t errlen);

#endif
