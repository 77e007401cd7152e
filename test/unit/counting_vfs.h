/*
 * test/unit/counting_vfs.h: an SQLite VFS for tests that wraps the default
 * one and counts fsyncs (xSync) of write-ahead log files, so a test can tell
 * whether a commit reached the disk before a callback said it had.
 *
 * counting_vfs_install() makes it the default VFS for connections opened
 * afterwards; counting_vfs_remove() restores the real default.  The count
 * is process-wide and read atomically (the store syncs on its writer
 * thread).
 */
#ifndef RUMOR_TEST_UNIT_COUNTING_VFS_H
#define RUMOR_TEST_UNIT_COUNTING_VFS_H

void counting_vfs_install(void);
void counting_vfs_remove(void);
/* xSync calls on WAL files since the program started. */
int counting_vfs_wal_syncs(void);

#endif
