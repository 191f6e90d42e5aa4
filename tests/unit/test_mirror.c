/* The local mirror of `ipsnet sync --mirror FILE` (client/cli/mirror.c) on
 * a real SQLite file, when the disk under it is full.
 *
 * A VFS wraps the default one ("unix") and is installed as the default:
 * while the disk is "full", a write that would make a file longer fails
 * with SQLITE_FULL, and a write within what the file already holds goes
 * through, as on a file system without free blocks (the WAL keeps its
 * size after a checkpoint, and is written again from its start). */
#include <inttypes.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "ipsnet_errors.h"
#include "mirror.h"

/* ---- the full-disk VFS --------------------------------------------------- */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs full_vfs;
static bool disk_full;

struct full_file {
	sqlite3_file base;
	sqlite3_file *real; /* right behind this struct */
};

static sqlite3_file *real_of(sqlite3_file *f)
{
	return ((struct full_file *)f)->real;
}

static int f_close(sqlite3_file *f)
{
	return real_of(f)->pMethods->xClose(real_of(f));
}

static int f_read(sqlite3_file *f, void *buf, int n, sqlite3_int64 off)
{
	return real_of(f)->pMethods->xRead(real_of(f), buf, n, off);
}

static int f_write(sqlite3_file *f, const void *buf, int n, sqlite3_int64 off)
{
	sqlite3_int64 size = 0;
	if (disk_full &&
	    (real_of(f)->pMethods->xFileSize(real_of(f), &size) != SQLITE_OK ||
	     off + n > size))
		return SQLITE_FULL;
	return real_of(f)->pMethods->xWrite(real_of(f), buf, n, off);
}

static int f_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	return real_of(f)->pMethods->xTruncate(real_of(f), size);
}

static int f_sync(sqlite3_file *f, int flags)
{
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

static const sqlite3_io_methods full_io = {
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
	struct full_file *ff = (struct full_file *)f;
	ff->real = (sqlite3_file *)(ff + 1);
	int rc = real_vfs->xOpen(real_vfs, name, ff->real, flags, out_flags);
	f->pMethods = rc == SQLITE_OK ? &full_io : NULL;
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

static int group_setup(void **state)
{
	real_vfs = sqlite3_vfs_find("unix");
	if (real_vfs == NULL || real_vfs->iVersion < 2)
		return -1;
	full_vfs = (sqlite3_vfs){
	    .iVersion = 2,
	    .szOsFile = (int)sizeof(struct full_file) + real_vfs->szOsFile,
	    .mxPathname = real_vfs->mxPathname,
	    .zName = "ipsnet-test-full",
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
	/* 1: the default, so that mirror_open uses it. */
	return sqlite3_vfs_register(&full_vfs, 1) == SQLITE_OK ? 0 : -1;
}

static int group_teardown(void **state)
{
	sqlite3_vfs_unregister(&full_vfs);
	return 0;
}

/* ---- events ---------------------------------------------------------------
 */

/* A name of this many bytes: rows big enough that a transaction of them
 * does not fit SQLite's page cache, which then writes some to the WAL
 * before the commit. */
#define NAME_BYTES 2000

/* Applies the registration of client cl-SEQ at seq. */
static int apply_client(struct mirror *m, uint64_t seq, char *err,
			size_t errlen)
{
	static char name[NAME_BYTES + 1];
	char id[32];
	uint8_t hash[32] = {0};
	memset(name, 'n', NAME_BYTES);
	snprintf(id, sizeof(id), "cl-%" PRIu64, seq);
	memcpy(hash, &seq, sizeof(seq));
	Ipsnet__V1__Client cl = IPSNET__V1__CLIENT__INIT;
	cl.id = id;
	cl.version = 1;
	cl.name = name;
	Ipsnet__V1__ChangeOk ok = IPSNET__V1__CHANGE_OK__INIT;
	ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_CLIENT;
	ok.client = &cl;
	ok.entity_id = id;
	ok.version = 1;
	Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
	ev.seq = seq;
	ev.change = "register_client";
	ev.state = &ok;
	ev.hash.data = hash;
	ev.hash.len = sizeof(hash);
	return mirror_apply(m, &ev, err, errlen);
}

/* A number from the mirror file, read with a connection of its own. */
static int64_t file_int(const char *path, const char *sql)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW)
		v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	return v;
}

/* ---- tests ----------------------------------------------------------------
 */

/* The disk fills while a batch is applied: SQLite, which had to write part
 * of the batch to the WAL before the commit, rolls the whole transaction
 * back. The commit that follows (cmd_sync commits what it has when a run
 * stops) must fail and leave the cursor where the rows are. Was: it wrote
 * meta.seq, the hash and events outside any transaction (the rollback had
 * ended it), and they committed: the cursor moved past the batch whose
 * rows were gone, and the next sync resumed after them, for good. */
static void test_a_batch_the_full_disk_took_back_moves_no_cursor(void **state)
{
	char dir[PATH_MAX], path[PATH_MAX], err[512];
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof(dir), "%s/ipsnet-test-mirror-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/mirror.db", dir);

	struct mirror *m;
	assert_int_equal(mirror_open(&m, path, err, sizeof(err)), 0);
	assert_int_equal(mirror_bind(m, "ggz-test", "", err, sizeof(err)), 0);
	/* Some MiB in the WAL, checkpointed: written again from its start. */
	uint64_t seq = 0;
	for (int batch = 0; batch < 4; batch++) {
		for (int i = 0; i < 1000; i++)
			assert_int_equal(
			    apply_client(m, ++seq, err, sizeof(err)), 0);
		assert_int_equal(mirror_commit(m, err, sizeof(err)), 0);
	}
	uint64_t committed = seq;

	/* A batch larger than the WAL, on a full disk. */
	disk_full = true;
	int rv = 0;
	for (int i = 0; i < 20000 && rv == 0; i++)
		rv = apply_client(m, ++seq, err, sizeof(err));
	if (rv == 0)
		rv = mirror_commit(m, err, sizeof(err));
	else
		assert_int_not_equal(mirror_commit(m, err, sizeof(err)), 0);
	disk_full = false;
	assert_int_not_equal(rv, 0);
	mirror_close(m);

	/* Every entry up to the cursor has its row. */
	int64_t at = file_int(path, "SELECT value FROM meta WHERE key = 'seq'");
	int64_t rows = file_int(path, "SELECT count(*) FROM client");
	if (at != rows)
		fail_msg("the cursor is at seq %" PRId64 " (the last commit "
			 "was %" PRIu64 ") and the mirror holds %" PRId64
			 " client rows",
			 at, committed, rows);
	assert_int_equal(at, committed);

	/* And the next run goes on from there. */
	assert_int_equal(mirror_open(&m, path, err, sizeof(err)), 0);
	assert_int_equal(mirror_meta(m)->seq, committed);
	assert_int_equal(apply_client(m, committed + 1, err, sizeof(err)), 0);
	assert_int_equal(mirror_commit(m, err, sizeof(err)), 0);
	mirror_close(m);
	assert_int_equal(file_int(path, "SELECT count(*) FROM client"),
			 (int64_t)committed + 1);
	static const char *const files[] = {"mirror.db", "mirror.db-wal",
					    "mirror.db-shm"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char f[PATH_MAX + 32];
		snprintf(f, sizeof(f), "%s/%s", dir, files[i]);
		unlink(f);
	}
	assert_int_equal(rmdir(dir), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
		test_a_batch_the_full_disk_took_back_moves_no_cursor),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
