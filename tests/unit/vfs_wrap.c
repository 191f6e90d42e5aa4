#include "vfs_wrap.h"

#include <stddef.h>

static sqlite3_vfs *real_vfs;
static sqlite3_vfs wrap_vfs;
static const struct vfs_wrap_hooks *hooks;

struct wrap_file {
	sqlite3_file base;
	sqlite3_file *real; /* right behind this struct */
	int flags;	    /* opened with */
};

static sqlite3_file *real_of(sqlite3_file *f)
{
	return ((struct wrap_file *)f)->real;
}

static int f_close(sqlite3_file *f)
{
	return real_of(f)->pMethods->xClose(real_of(f));
}

static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	int rc = hooks->read != NULL ? hooks->read(real_of(f), buf, n, off)
				     : SQLITE_OK;
	if (rc != SQLITE_OK)
		return rc;
	return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	int rc = hooks->write != NULL ? hooks->write(real_of(f), buf, n, off)
				      : SQLITE_OK;
	if (rc != SQLITE_OK)
		return rc;
	return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
	int rc =
	    hooks->sync != NULL ? hooks->sync(real_of(f), flags) : SQLITE_OK;
	if (rc != SQLITE_OK)
		return rc;
	return real_of(f)->pMethods->xSync(real_of(f), flags);
}

static int f_file_size(sqlite3_file *f, sqlite3_int64 *size)
{
	return real_of(f)->pMethods->xFileSize(real_of(f), size);
}

static int f_lock(sqlite3_file *f, int level)
{
	return real_of(f)->pMethods->xLock(real_of(f), level);
}

static int f_unlock(sqlite3_file *f, int level)
{
	return real_of(f)->pMethods->xUnlock(real_of(f), level);
}

static int f_check_reserved(sqlite3_file *f, int *out)
{
	return real_of(f)->pMethods->xCheckReservedLock(real_of(f), out);
}

static int f_file_control(sqlite3_file *f, int op, void *arg)
{
	return real_of(f)->pMethods->xFileControl(real_of(f), op, arg);
}

static int f_sector_size(sqlite3_file *f)
{
	return real_of(f)->pMethods->xSectorSize(real_of(f));
}

static int f_device_characteristics(sqlite3_file *f)
{
	return real_of(f)->pMethods->xDeviceCharacteristics(real_of(f));
}

static int f_shm_map(sqlite3_file *f, int pg, int pgsz, int extend,
		     void volatile **pp)
{
	return real_of(f)->pMethods->xShmMap(real_of(f), pg, pgsz, extend, pp);
}

static int f_shm_lock(sqlite3_file *f, int offset, int n, int flags)
{
	return real_of(f)->pMethods->xShmLock(real_of(f), offset, n, flags);
}

static void f_shm_barrier(sqlite3_file *f)
{
	real_of(f)->pMethods->xShmBarrier(real_of(f));
}

static int f_shm_unmap(sqlite3_file *f, int delete_flag)
{
	return real_of(f)->pMethods->xShmUnmap(real_of(f), delete_flag);
}

static int f_fetch(sqlite3_file *f, sqlite3_int64 off, int n, void **pp)
{
	return real_of(f)->pMethods->xFetch(real_of(f), off, n, pp);
}

static int f_unfetch(sqlite3_file *f, sqlite3_int64 off, void *p)
{
	return real_of(f)->pMethods->xUnfetch(real_of(f), off, p);
}

static const sqlite3_io_methods wrap_io = {
    .iVersion = 3,
    .xClose = f_close,
    .xRead = f_read,
    .xWrite = f_write,
    .xTruncate = f_truncate,
    .xSync = f_sync,
    .xFileSize = f_file_size,
    .xLock = f_lock,
    .xUnlock = f_unlock,
    .xCheckReservedLock = f_check_reserved,
    .xFileControl = f_file_control,
    .xSectorSize = f_sector_size,
    .xDeviceCharacteristics = f_device_characteristics,
    .xShmMap = f_shm_map,
    .xShmLock = f_shm_lock,
    .xShmBarrier = f_shm_barrier,
    .xShmUnmap = f_shm_unmap,
    .xFetch = f_fetch,
    .xUnfetch = f_unfetch,
};

static int v_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
		  int flags, int *out_flags)
{
	struct wrap_file *wf = (struct wrap_file *)f;
	wf->real = (sqlite3_file *)(wf + 1);
	if (hooks->open_flags != NULL)
		flags = hooks->open_flags(name, flags);
	wf->flags = flags;
	int rc = real_vfs->xOpen(real_vfs, name, wf->real, flags, out_flags);
	/* SQLite calls xClose whenever pMethods is set, even after a failed
	 * open; and the wrapper only knows version 3 methods. */
	if (wf->real->pMethods != NULL && wf->real->pMethods->iVersion < 3) {
		wf->real->pMethods->xClose(wf->real);
		wf->real->pMethods = NULL;
		rc = SQLITE_CANTOPEN;
	}
	wf->base.pMethods = wf->real->pMethods != NULL ? &wrap_io : NULL;
	return rc;
}

static int v_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	return real_vfs->xDelete(real_vfs, name, sync_dir);
}

static int v_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	return real_vfs->xAccess(real_vfs, name, flags, out);
}

static int v_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	return real_vfs->xFullPathname(real_vfs, name, n, out);
}

static void *v_dl_open(sqlite3_vfs *vfs, const char *name)
{
	return real_vfs->xDlOpen(real_vfs, name);
}

static void v_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
	real_vfs->xDlError(real_vfs, n, msg);
}

static void (*v_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	return real_vfs->xDlSym(real_vfs, h, sym);
}

static void v_dl_close(sqlite3_vfs *vfs, void *h)
{
	real_vfs->xDlClose(real_vfs, h);
}

static int v_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	return real_vfs->xRandomness(real_vfs, n, out);
}

static int v_sleep(sqlite3_vfs *vfs, int us)
{
	if (hooks->sleep != NULL)
		hooks->sleep(us);
	return real_vfs->xSleep(real_vfs, us);
}

static int v_current_time(sqlite3_vfs *vfs, double *out)
{
	return real_vfs->xCurrentTime(real_vfs, out);
}

static int v_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	return real_vfs->xGetLastError(real_vfs, n, out);
}

static int v_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	return real_vfs->xCurrentTimeInt64(real_vfs, out);
}

int vfs_wrap_open_flags(const sqlite3_file *real)
{
	return ((const struct wrap_file *)real - 1)->flags;
}

int vfs_wrap_install(const char *name, const struct vfs_wrap_hooks *h)
{
	real_vfs = sqlite3_vfs_find("unix");
	if (real_vfs == NULL || real_vfs->iVersion < 2)
		return -1;
	hooks = h;
	wrap_vfs = (sqlite3_vfs){
	    .iVersion = 2,
	    .szOsFile = (int)sizeof(struct wrap_file) + real_vfs->szOsFile,
	    .mxPathname = real_vfs->mxPathname,
	    .zName = name,
	    .xOpen = v_open,
	    .xDelete = v_delete,
	    .xAccess = v_access,
	    .xFullPathname = v_full_pathname,
	    .xDlOpen = v_dl_open,
	    .xDlError = v_dl_error,
	    .xDlSym = v_dl_sym,
	    .xDlClose = v_dl_close,
	    .xRandomness = v_randomness,
	    .xSleep = v_sleep,
	    .xCurrentTime = v_current_time,
	    .xGetLastError = v_get_last_error,
	    .xCurrentTimeInt64 = v_current_time_int64,
	};
	/* 1: the default. */
	return sqlite3_vfs_register(&wrap_vfs, 1) == SQLITE_OK ? 0 : -1;
}

void vfs_wrap_uninstall(void)
{
	sqlite3_vfs_unregister(&wrap_vfs);
}
