/* The writer's VFS (daemon/walbuf.c) on a real SQLite file: a commit's WAL
 * frames reach the file in a few writes, a commit of any size is whole for
 * another connection, and a write that fails fails the commit and loses
 * nothing committed before or after.
 *
 * vfs_wrap, installed as the default VFS, is the base walbuf wraps: it
 * counts the writes to the WAL and can fail them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "vfs_wrap.h"
#include "walbuf.h"

/* ---- the base VFS: counts and fails the WAL's writes --------------------- */

static int wal_writes;
static int wal_write_max;	    /* the longest */
static int wal_syncs_after_fail;    /* syncs of the WAL after a failed write */
static int fail_at = -1;	    /* the index of the WAL write to fail */
static sqlite3_int64 wal_room = -1; /* the disk is full past it (-1: never) */
static bool failed;

static bool is_wal(const sqlite3_file *real)
{
	return (vfs_wrap_open_flags(real) & SQLITE_OPEN_WAL) != 0;
}

static int count_write(sqlite3_file *real, const void *buf, int n,
		       sqlite3_int64 off)
{
	if (!is_wal(real))
		return SQLITE_OK;
	if (wal_writes++ == fail_at) {
		failed = true;
		return SQLITE_FULL;
	}
	/* A full disk takes what fits and refuses the rest, as write(2)
	 * does with ENOSPC and SQLite's unix VFS then says SQLITE_FULL. */
	if (wal_room >= 0 && off + n > wal_room) {
		failed = true;
		if (off < wal_room)
			(void)real->pMethods->xWrite(
			    real, buf, (int)(wal_room - off), off);
		return SQLITE_FULL;
	}
	if (n > wal_write_max)
		wal_write_max = n;
	return SQLITE_OK;
}

static int count_sync(sqlite3_file *real, int flags)
{
	(void)flags;
	if (is_wal(real) && failed)
		wal_syncs_after_fail++;
	return SQLITE_OK;
}

static const struct vfs_wrap_hooks hooks = {.write = count_write,
					    .sync = count_sync};

struct fixture {
	char dir[64];
	char path[96];
	sqlite3_vfs *walbuf;
	sqlite3 *writer; /* through walbuf */
	sqlite3 *other;	 /* the default VFS, as the daemon's readers */
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));
	if (fx == NULL || vfs_wrap_install("ipsnet-test-count", &hooks) != 0)
		return -1;
	const char *tmp = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
	snprintf(fx->dir, sizeof(fx->dir), "%s/walbuf.XXXXXX", tmp);
	if (mkdtemp(fx->dir) == NULL)
		return -1;
	snprintf(fx->path, sizeof(fx->path), "%s/w.db", fx->dir);
	fx->walbuf = walbuf_new();
	if (fx->walbuf == NULL ||
	    sqlite3_open_v2(fx->path, &fx->writer,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    walbuf_name(fx->walbuf)) != SQLITE_OK ||
	    sqlite3_exec(fx->writer,
			 "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
			 " CREATE TABLE t(n INTEGER PRIMARY KEY, x BLOB)",
			 NULL, NULL, NULL) != SQLITE_OK ||
	    sqlite3_open_v2(fx->path, &fx->other, SQLITE_OPEN_READONLY, NULL) !=
		SQLITE_OK)
		return -1;
	wal_writes = 0;
	wal_write_max = 0;
	wal_syncs_after_fail = 0;
	fail_at = -1;
	wal_room = -1;
	failed = false;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;
	sqlite3_close(fx->other);
	sqlite3_close(fx->writer);
	walbuf_free(fx->walbuf);
	vfs_wrap_uninstall();
	char cmd[160];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", fx->dir);
	int rc = system(cmd);
	free(fx);
	return rc == 0 ? 0 : -1;
}

/* Rows [from, from + n), each `bytes` long, in the open transaction. */
static int insert(sqlite3 *db, int from, int n, int bytes)
{
	char sql[200];
	snprintf(sql, sizeof(sql),
		 "WITH RECURSIVE k(i) AS (SELECT %d UNION ALL SELECT i + 1 "
		 "FROM k WHERE i < %d) INSERT INTO t SELECT i, zeroblob(%d) "
		 "FROM k",
		 from, from + n - 1, bytes);
	return sqlite3_exec(db, sql, NULL, NULL, NULL);
}

/* One transaction of rows [from, from + n), each `bytes` long. */
static int insert_rows(sqlite3 *db, int from, int n, int bytes)
{
	int rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = insert(db, from, n, bytes);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static sqlite3_int64 one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	sqlite3_int64 v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

/* What the other connection sees: rows [1, rows], whole, and a sound
 * file. */
static void other_sees(struct fixture *fx, int rows, int bytes)
{
	assert_int_equal(one_int(fx->other, "SELECT count(*) FROM t"), rows);
	assert_int_equal(one_int(fx->other, "SELECT max(n) FROM t"), rows);
	assert_int_equal(one_int(fx->other, "SELECT sum(length(x)) FROM t"),
			 (sqlite3_int64)rows * bytes);
	sqlite3_stmt *st = NULL;
	assert_int_equal(sqlite3_prepare_v2(fx->other, "PRAGMA integrity_check",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(st, 0), "ok");
	sqlite3_finalize(st);
}

/* ---- tests ----------------------------------------------------------------
 */

/* 100 rows of 2,000 bytes: about 50 frames, which SQLite writes in two
 * calls each. */
static void test_a_commit_reaches_the_wal_in_a_few_writes(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(insert_rows(fx->writer, 1, 1, 2000), SQLITE_OK);
	wal_writes = 0;
	assert_int_equal(insert_rows(fx->writer, 2, 99, 2000), SQLITE_OK);
	/* 99 × 2,000 bytes is over 200 KiB of frames: two writes of at
	 * most 124 KiB, where SQLite alone makes about a hundred. */
	assert_in_range(wal_writes, 2, 3);
	assert_in_range(wal_write_max, 100 * 1024, 0x1ffff);
	other_sees(fx, 100, 2000);
}

/* 3 MiB in one commit: more than the buffer (1 MiB) and than the page
 * cache (SQLite then writes frames before the COMMIT, and reads some of
 * them back). */
static void test_a_commit_bigger_than_the_buffer_is_whole(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(insert_rows(fx->writer, 1, 1500, 2000), SQLITE_OK);
	assert_true(wal_write_max <= 0x1ffff);
	other_sees(fx, 1500, 2000);
	assert_int_equal(insert_rows(fx->writer, 1501, 10, 2000), SQLITE_OK);
	other_sees(fx, 1510, 2000);
}

/* Commits rows 1-10, then rows of 2,000 bytes from 11 in one commit with
 * the WAL write fail_index refused (the disk full): that commit fails
 * before any sync of the WAL, and the other connection sees rows 1-10. */
static void commit_refused_at(struct fixture *fx, int fail_index, int rows)
{
	assert_int_equal(insert_rows(fx->writer, 1, 10, 2000), SQLITE_OK);
	wal_writes = 0;
	fail_at = fail_index;
	assert_int_equal(insert_rows(fx->writer, 11, rows, 2000), SQLITE_FULL);
	assert_true(failed);
	assert_int_equal(wal_syncs_after_fail, 0);
	other_sees(fx, 10, 2000);
}

/* A write refused part-way through a commit's frames (the second part of
 * about 400 KiB): the commit fails, the rows before it stay, the refused
 * ones are nowhere, and the same rows commit once the disk has room. */
static void
test_a_refused_write_fails_the_commit_and_loses_nothing(void **state)
{
	struct fixture *fx = *state;
	commit_refused_at(fx, 1, 200);
	fail_at = -1;
	assert_int_equal(insert_rows(fx->writer, 11, 200, 2000), SQLITE_OK);
	other_sees(fx, 210, 2000);
}

/* A write refused while the buffer is full, in the middle of a commit of
 * 3 MiB: that commit fails, and the next one, which lost nothing, goes
 * through at the first try. */
static void
test_a_write_refused_before_the_commit_fails_that_commit_alone(void **state)
{
	struct fixture *fx = *state;
	commit_refused_at(fx, 0, 1500);
	assert_int_equal(insert_rows(fx->writer, 11, 5, 2000), SQLITE_OK);
	other_sees(fx, 15, 2000);
}

/* The database and its WAL as they are on disk now, copied beside them
 * and opened as after a crash (SQLite's recovery reads the WAL): the rows
 * the copy holds. */
static sqlite3_int64 rows_after_a_crash(struct fixture *fx)
{
	static const char *const suffixes[] = {"", "-wal"};
	char copy[128];
	snprintf(copy, sizeof(copy), "%s/crash.db", fx->dir);
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		char from[128], to[136], buf[8192];
		snprintf(from, sizeof(from), "%s%s", fx->path, suffixes[i]);
		snprintf(to, sizeof(to), "%s%s", copy, suffixes[i]);
		FILE *in = fopen(from, "rb");
		if (in == NULL)
			continue;
		FILE *out = fopen(to, "wb");
		assert_non_null(out);
		size_t n;
		while ((n = fread(buf, 1, sizeof(buf), in)) > 0)
			assert_int_equal(fwrite(buf, 1, n, out), n);
		fclose(in);
		assert_int_equal(fclose(out), 0);
	}
	sqlite3 *db = NULL;
	assert_int_equal(
	    sqlite3_open_v2(copy, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
	sqlite3_int64 rows = one_int(db, "SELECT count(*) FROM t");
	sqlite3_close(db);
	return rows;
}

/* A commit refused part-way through its frames (the disk full at the
 * second part) was refused: the caller was told nothing was saved. What
 * the refused write left may not reach the file later, when the disk has
 * room again (at the writer's next read): that would put the refused
 * transaction whole, with its commit frame, behind the last commit, and a
 * crash before the next commit writes over it would bring it back. */
static void test_a_refused_commit_does_not_come_back_after_a_crash(void **state)
{
	struct fixture *fx = *state;
	commit_refused_at(fx, 1, 200);
	fail_at = -1;
	assert_int_equal(one_int(fx->writer, "SELECT count(*) FROM t"), 10);
	assert_int_equal(rows_after_a_crash(fx), 10);
}

/* The WAL's size now. */
static sqlite3_int64 wal_size(struct fixture *fx)
{
	char wal[128];
	struct stat st;
	snprintf(wal, sizeof(wal), "%s-wal", fx->path);
	assert_int_equal(stat(wal, &st), 0);
	return (sqlite3_int64)st.st_size;
}

/* A transaction whose frames a rolled-back savepoint gave up (written
 * before the ROLLBACK TO, the page cache being full) commits fewer frames,
 * from the savepoint's last one on: the frames past its commit frame are
 * not wanted. The disk has room for its own frames and not for those: the
 * commit goes through, and a crash leaves what it was told. Before, its
 * sync wrote the frames given up behind the commit frame, failed with the
 * disk full (the caller told "nothing was changed"), and a crash brought
 * back the rows refused. The journal rolls back a refused change to its
 * savepoint. */
static void
test_a_commit_writes_no_frame_a_rolled_back_savepoint_gave_up(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(insert_rows(fx->writer, 1, 10, 2000), SQLITE_OK);
	sqlite3_int64 committed = wal_size(fx);
	/* 10 pages: the savepoint's 250 rows (some 125 pages) are written
	 * as frames before the commit. */
	assert_int_equal(sqlite3_exec(fx->writer,
				      "PRAGMA cache_size = 10; BEGIN", NULL,
				      NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(insert(fx->writer, 11, 10, 2000), SQLITE_OK);
	assert_int_equal(
	    sqlite3_exec(fx->writer, "SAVEPOINT s", NULL, NULL, NULL),
	    SQLITE_OK);
	assert_int_equal(insert(fx->writer, 21, 250, 2000), SQLITE_OK);
	assert_int_equal(sqlite3_exec(fx->writer, "ROLLBACK TO s; RELEASE s",
				      NULL, NULL, NULL),
			 SQLITE_OK);
	/* Room for the commit's own frames, some 7 of 4 KiB. */
	wal_room = committed + 64 * 1024;
	int rc = sqlite3_exec(fx->writer, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK)
		sqlite3_exec(fx->writer, "ROLLBACK", NULL, NULL, NULL);
	assert_int_equal(rows_after_a_crash(fx), rc == SQLITE_OK ? 20 : 10);
	assert_int_equal(rc, SQLITE_OK);
	other_sees(fx, 20, 2000);
}

/* A commit of 1.2 MiB with room on the disk for 32 KiB more of WAL: the
 * first part of its frames, written when they fill the buffer, is refused,
 * and the commit fails. The next one, of 5 rows (in the journal the
 * refused batch's own audit rows), fits in that room, over the refused
 * frames, and goes through, as it does without the buffer; before, the
 * refused frames that waited went to the file first and failed it too. A
 * crash leaves both as they were told. */
static void
test_a_small_commit_fits_after_a_big_one_refused_on_a_full_disk(void **state)
{
	struct fixture *fx = *state;
	assert_int_equal(insert_rows(fx->writer, 1, 10, 2000), SQLITE_OK);
	wal_room = wal_size(fx) + 32 * 1024;
	assert_int_equal(insert_rows(fx->writer, 11, 600, 2000), SQLITE_FULL);
	assert_int_equal(rows_after_a_crash(fx), 10);
	assert_int_equal(insert_rows(fx->writer, 11, 5, 2000), SQLITE_OK);
	other_sees(fx, 15, 2000);
	assert_int_equal(rows_after_a_crash(fx), 15);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_a_commit_reaches_the_wal_in_a_few_writes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_commit_bigger_than_the_buffer_is_whole, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_refused_write_fails_the_commit_and_loses_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_write_refused_before_the_commit_fails_that_commit_alone,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_refused_commit_does_not_come_back_after_a_crash, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_commit_writes_no_frame_a_rolled_back_savepoint_gave_up,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_small_commit_fits_after_a_big_one_refused_on_a_full_disk,
		setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
