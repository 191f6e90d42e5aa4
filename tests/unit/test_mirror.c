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
#include "vfs_wrap.h"

/* ---- the full-disk VFS --------------------------------------------------- */

static bool disk_full;

static int full_write(sqlite3_file *real, const void *buf, int n,
		      sqlite3_int64 off)
{
	sqlite3_int64 size = 0;
	if (disk_full && (real->pMethods->xFileSize(real, &size) != SQLITE_OK ||
			  off + n > size))
		return SQLITE_FULL;
	return SQLITE_OK;
}

static const struct vfs_wrap_hooks full_hooks = {.write = full_write};

static int group_setup(void **state)
{
	/* The default VFS, so that mirror_open uses it. */
	return vfs_wrap_install("ipsnet-test-full", &full_hooks);
}

static int group_teardown(void **state)
{
	vfs_wrap_uninstall();
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
	return mirror_apply(m, &ev, NULL, err, errlen);
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
