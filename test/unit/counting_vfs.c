/*
 * test/unit/counting_vfs.c: see counting_vfs.h.  Every method forwards to
 * the real default VFS's file; xSync on a WAL file also counts.
 */
#include "test/unit/counting_vfs.h"

#include <assert.h>
#include <string.h>

#include <sqlite3.h>

struct counting_file {
	sqlite3_file base;
	sqlite3_file *real; /* allocated after this struct */
	int is_wal;
};

static sqlite3_vfs *real_vfs;
static sqlite3_vfs counting_vfs;
static int wal_syncs;

static int cf_close(sqlite3_file *f)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods ? cf->real->pMethods->xClose(cf->real) : SQLITE_OK;
}
static int cf_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xRead(cf->real, buf, n, off);
}
static int cf_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xWrite(cf->real, buf, n, off);
}
static int cf_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xTruncate(cf->real, size);
}
static int cf_sync(sqlite3_file *f, int flags)
{
	struct counting_file *cf = (struct counting_file *)f;
	if (cf->is_wal)
		__atomic_add_fetch(&wal_syncs, 1, __ATOMIC_RELAXED);
	return cf->real->pMethods->xSync(cf->real, flags);
}
static int cf_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xFileSize(cf->real, size);
}
static int cf_lock(sqlite3_file *f, int level)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xLock(cf->real, level);
}
static int cf_unlock(sqlite3_file *f, int level)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xUnlock(cf->real, level);
}
static int cf_check_reserved(sqlite3_file *f, int *out)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xCheckReservedLock(cf->real, out);
}
static int cf_file_control(sqlite3_file *f, int op, void *arg)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xFileControl(cf->real, op, arg);
}
static int cf_sector_size(sqlite3_file *f)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xSectorSize(cf->real);
}
static int cf_device_chars(sqlite3_file *f)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xDeviceCharacteristics(cf->real);
}
static int cf_shm_map(sqlite3_file *f, int pg, int pgsz, int extend, void volatile **pp)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xShmMap(cf->real, pg, pgsz, extend, pp);
}
static int cf_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xShmLock(cf->real, offset, n, flags);
}
static void cf_shm_barrier(sqlite3_file *f)
{
	struct counting_file *cf = (struct counting_file *)f;
	cf->real->pMethods->xShmBarrier(cf->real);
}
static int cf_shm_unmap(sqlite3_file *f, int del)
{
	struct counting_file *cf = (struct counting_file *)f;
	return cf->real->pMethods->xShmUnmap(cf->real, del);
}

static const sqlite3_io_methods counting_io = {
	2,	       cf_close,      cf_read,	     cf_write,	     cf_truncate,
	cf_sync,       cf_file_size,  cf_lock,	     cf_unlock,	     cf_check_reserved,
	cf_file_control, cf_sector_size, cf_device_chars, cf_shm_map, cf_shm_lock,
	cf_shm_barrier, cf_shm_unmap, NULL,	     NULL,
};

static int cv_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f, int flags, int *out_flags)
{
	(void)vfs;
	struct counting_file *cf = (struct counting_file *)f;
	cf->real = (sqlite3_file *)(cf + 1);
	memset(cf->real, 0, (size_t)real_vfs->szOsFile);
	cf->is_wal = (flags & SQLITE_OPEN_WAL) != 0;
	int rc = real_vfs->xOpen(real_vfs, name, cf->real, flags, out_flags);
	cf->base.pMethods = cf->real->pMethods ? &counting_io : NULL;
	return rc;
}

void counting_vfs_install(void)
{
	if (!real_vfs) {
		real_vfs = sqlite3_vfs_find(NULL);
		assert(real_vfs);
		counting_vfs = *real_vfs;
		counting_vfs.zName = "rumor-test-counting";
		counting_vfs.szOsFile = (int)sizeof(struct counting_file) + real_vfs->szOsFile;
		counting_vfs.xOpen = cv_open;
	}
	int rc = sqlite3_vfs_register(&counting_vfs, 1);
	assert(rc == SQLITE_OK);
	(void)rc;
}

void counting_vfs_remove(void)
{
	int rc = sqlite3_vfs_unregister(&counting_vfs);
	if (rc == SQLITE_OK)
		rc = sqlite3_vfs_register(real_vfs, 1);
	assert(rc == SQLITE_OK);
	(void)rc;
}

int counting_vfs_wal_syncs(void)
{
	return __atomic_load_n(&wal_syncs, __ATOMIC_RELAXED);
}
