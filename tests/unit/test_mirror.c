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

/* Applies the event at seq of change, with state ok; its hash is seq's
 * bytes, zero-padded. */
static int apply_event(struct mirror *m, uint64_t seq, const char *change,
		       Ipsnet__V1__ChangeOk *ok, bool *counted, char *err,
		       size_t errlen)
{
	uint8_t hash[32] = {0};
	memcpy(hash, &seq, sizeof(seq));
	Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
	ev.seq = seq;
	ev.change = (char *)change;
	ev.state = ok;
	ev.hash.data = hash;
	ev.hash.len = sizeof(hash);
	return mirror_apply(m, &ev, counted, err, errlen);
}

/* Applies the registration of client cl-SEQ at seq. */
static int apply_client(struct mirror *m, uint64_t seq, char *err,
			size_t errlen)
{
	static char name[NAME_BYTES + 1];
	char id[32];
	memset(name, 'n', NAME_BYTES);
	snprintf(id, sizeof(id), "cl-%" PRIu64, seq);
	Ipsnet__V1__Client cl = IPSNET__V1__CLIENT__INIT;
	cl.id = id;
	cl.version = 1;
	cl.name = name;
	Ipsnet__V1__ChangeOk ok = IPSNET__V1__CHANGE_OK__INIT;
	ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_CLIENT;
	ok.client = &cl;
	ok.entity_id = id;
	ok.version = 1;
	return apply_event(m, seq, "register_client", &ok, NULL, err, errlen);
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

/* ---- a mirror of its own per test ------------------------------------ */

struct scratch {
	char dir[PATH_MAX];
	char path[PATH_MAX];
};

static void scratch_make(struct scratch *s)
{
	const char *tmp = getenv("TMPDIR");
	snprintf(s->dir, sizeof(s->dir), "%s/ipsnet-test-mirror-XXXXXX",
		 tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->path, sizeof(s->path), "%s/mirror.db", s->dir);
}

static void scratch_remove(struct scratch *s)
{
	static const char *const files[] = {"mirror.db", "mirror.db-wal",
					    "mirror.db-shm"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char f[PATH_MAX + 32];
		snprintf(f, sizeof(f), "%s/%s", s->dir, files[i]);
		unlink(f);
	}
	assert_int_equal(rmdir(s->dir), 0);
}

/* Runs sql on the file with a connection of its own. */
static void file_exec(const char *path, const char *sql)
{
	sqlite3 *db;
	char *msg = NULL;
	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", sql, msg);
	sqlite3_close(db);
}

/* A text from the mirror file (into buf), with a connection of its own. */
static const char *file_text(const char *path, const char *sql, char *buf,
			     size_t cap)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	buf[0] = '\0';
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_text(st, 0) != NULL)
		snprintf(buf, cap, "%s", sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	sqlite3_close(db);
	return buf;
}

/* Applies version of program id, owned by owner, at seq. */
static int apply_program(struct mirror *m, uint64_t seq, const char *id,
			 uint64_t version, const char *owner, char *err,
			 size_t errlen)
{
	Ipsnet__V1__Program p = IPSNET__V1__PROGRAM__INIT;
	p.id = (char *)id;
	p.version = version;
	p.owner = (char *)owner;
	p.name = "IPS";
	Ipsnet__V1__ChangeOk ok = IPSNET__V1__CHANGE_OK__INIT;
	ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_PROGRAM;
	ok.program = &p;
	ok.entity_kind = "program";
	ok.entity_id = (char *)id;
	ok.version = version;
	return apply_event(m, seq, "put_program", &ok, NULL, err, errlen);
}

/* Another program's database that happens to have a table called meta
 * (without an ipsnet format in it) is no mirror: refused, and nothing is
 * written to it. Was: taken for a mirror, given the mirror's tables and
 * filled with what the organisation may see (BSNs and names). */
static void
test_a_database_with_a_meta_table_of_its_own_is_left_alone(void **state)
{
	struct scratch s;
	struct mirror *m;
	char err[512];
	scratch_make(&s);
	file_exec(s.path, "CREATE TABLE meta (key TEXT PRIMARY KEY, value);"
			  "INSERT INTO meta VALUES ('app_version', '3');"
			  "CREATE TABLE users (id, name);");
	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)),
			 IPSNET_EPRECONDITION);
	assert_non_null(strstr(err, "not an ipsnet mirror"));
	assert_int_equal(file_int(s.path, "SELECT count(*) FROM sqlite_schema"),
			 3); /* the two tables and meta's key index */
	assert_int_equal(file_int(s.path, "SELECT count(*) FROM meta"), 1);
	scratch_remove(&s);
}

/* A mirror of a newer format than this ipsnet reads is refused before
 * anything is written to it. Was: this ipsnet first added the columns it
 * missed (one the newer ipsnet had left out of its layout) and, the table
 * holding rows, started a refill that set the cursor back to 0, and only
 * then refused: the newer ipsnet found its mirror read again from the
 * start. */
static void test_a_mirror_of_a_newer_format_is_refused_untouched(void **state)
{
	struct scratch s;
	struct mirror *m;
	char err[512];
	scratch_make(&s);
	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_int_equal(mirror_bind(m, "ggz-test", "", err, sizeof(err)), 0);
	for (uint64_t seq = 1; seq <= 3; seq++)
		assert_int_equal(apply_client(m, seq, err, sizeof(err)), 0);
	assert_int_equal(mirror_commit(m, err, sizeof(err)), 0);
	mirror_close(m);
	file_exec(s.path, "UPDATE meta SET value = 2 WHERE key = 'format';"
			  "ALTER TABLE client DROP COLUMN benefit;");

	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)),
			 IPSNET_EPRECONDITION);
	assert_non_null(strstr(err, "format 2"));
	assert_int_equal(
	    file_int(s.path, "SELECT count(*) FROM pragma_table_info('client') "
			     "WHERE name = 'benefit'"),
	    0);
	assert_int_equal(
	    file_int(s.path, "SELECT value FROM meta WHERE key = 'seq'"), 3);
	assert_int_equal(
	    file_int(s.path,
		     "SELECT value FROM meta WHERE key = 'refill_upto'"),
	    0);
	scratch_remove(&s);
}

/* A program handed to the organisation starts a refill (mirror_refill) in
 * the transaction of the event that handed it over: a sync that could not
 * record the refill (here a trigger refuses it, as a full disk or a kill
 * at that moment would leave it unrecorded) has not moved its cursor past
 * the event either, and the next run sees the hand-over again. Was: the
 * event was committed first, the refill after it: the cursor passed the
 * event, the program's row named the new owner, and the refill that was
 * to bring in the program's clients never came. */
static void
test_a_hand_over_is_recorded_with_its_refill_or_not_at_all(void **state)
{
	struct scratch s;
	struct mirror *m;
	char err[512];
	scratch_make(&s);
	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_int_equal(mirror_bind(m, "ggz-a", "", err, sizeof(err)), 0);
	assert_int_equal(
	    apply_program(m, 1, "ips-1", 1, "ggz-b", err, sizeof(err)), 0);
	assert_int_equal(apply_client(m, 2, err, sizeof(err)), 0);
	assert_int_equal(mirror_commit(m, err, sizeof(err)), 0);
	mirror_close(m);
	file_exec(s.path, "CREATE TRIGGER refuse BEFORE UPDATE ON meta WHEN "
			  "new.key = 'refill_upto' AND new.value > 0 BEGIN "
			  "SELECT RAISE(ABORT, 'database or disk is full'); "
			  "END;");

	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_int_equal(mirror_bind(m, "ggz-a", "", err, sizeof(err)), 0);
	assert_int_equal(
	    apply_program(m, 3, "ips-1", 2, "ggz-a", err, sizeof(err)), 0);
	assert_int_not_equal(mirror_refill(m, err, sizeof(err)), 0);
	mirror_close(m);
	assert_int_equal(
	    file_int(s.path, "SELECT value FROM meta WHERE key = 'seq'"), 2);
	char owner[64];
	assert_string_equal(
	    file_text(s.path, "SELECT owner FROM program WHERE id = 'ips-1'",
		      owner, sizeof(owner)),
	    "ggz-b");

	/* Once it can be written: the event and the refill together. */
	file_exec(s.path, "DROP TRIGGER refuse;");
	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_int_equal(mirror_bind(m, "ggz-a", "", err, sizeof(err)), 0);
	assert_int_equal(
	    apply_program(m, 3, "ips-1", 2, "ggz-a", err, sizeof(err)), 0);
	assert_int_equal(mirror_refill(m, err, sizeof(err)), 0);
	assert_int_equal(mirror_meta(m)->seq, 0);
	assert_int_equal(mirror_meta(m)->refill_upto, 3);
	assert_true(mirror_meta(m)->has_check);
	assert_int_equal(mirror_meta(m)->check_seq, 3);
	mirror_close(m);
	assert_int_equal(
	    file_int(s.path,
		     "SELECT value FROM meta WHERE key = 'refill_upto'"),
	    3);
	scratch_remove(&s);
}

/* Applies an event of an entity this build does not know: a newer
 * server's kind, whose oneof member protobuf-c does not decode (no entity
 * set), named by entity_kind. */
static int apply_unknown(struct mirror *m, uint64_t seq, const char *kind,
			 bool *counted, char *err, size_t errlen)
{
	Ipsnet__V1__ChangeOk ok = IPSNET__V1__CHANGE_OK__INIT;
	ok.entity_kind = (char *)kind;
	ok.entity_id = "x-1";
	ok.version = 1;
	return apply_event(m, seq, "put_something", &ok, counted, err, errlen);
}

/* Entries of a kind this ipsnet does not know are skipped (the cursor
 * moves on, they are not counted as applied) and their kind is noted, so
 * that an ipsnet that knows the kind reads the journal again to bring
 * them in; one that does not know it either does not. Was: skipped
 * without a trace, and counted in meta.events: the kind's table, made
 * empty by the next ipsnet, never got the entries up to the cursor. Here
 * fidelity_review plays the kind an older ipsnet did not know: its table
 * is dropped, as that ipsnet never made it. */
static void
test_entries_of_a_kind_not_known_are_brought_in_once_it_is(void **state)
{
	struct scratch s;
	struct mirror *m;
	char err[512], text[256];
	bool counted = true;
	scratch_make(&s);
	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_int_equal(mirror_bind(m, "ggz-test", "", err, sizeof(err)), 0);
	assert_int_equal(apply_client(m, 1, err, sizeof(err)), 0);
	assert_int_equal(
	    apply_unknown(m, 2, "placement", &counted, err, sizeof(err)), 0);
	assert_false(counted);
	assert_int_equal(
	    apply_unknown(m, 3, "placement", &counted, err, sizeof(err)), 0);
	/* Not a name a table could have: skipped, not noted. */
	assert_int_equal(
	    apply_unknown(m, 4, "x', 'y", &counted, err, sizeof(err)), 0);
	assert_int_equal(mirror_commit(m, err, sizeof(err)), 0);
	assert_int_equal(mirror_meta(m)->seq, 4);
	assert_int_equal(mirror_meta(m)->events, 1);
	mirror_close(m);
	assert_string_equal(file_text(s.path,
				      "SELECT value FROM meta WHERE key = "
				      "'skipped_kinds'",
				      text, sizeof(text)),
			    "placement");

	/* This ipsnet does not know placement either: no refill. */
	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_false(mirror_meta(m)->refill);
	assert_int_equal(mirror_meta(m)->seq, 4);
	mirror_close(m);

	/* An older ipsnet without fidelity reviews skipped theirs. */
	file_exec(s.path, "DROP TABLE fidelity_review;"
			  "UPDATE meta SET value = "
			  "'placement,fidelity_review' WHERE key = "
			  "'skipped_kinds';");
	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_true(mirror_meta(m)->refill);
	assert_false(mirror_meta(m)->refill_columns);
	assert_string_equal(mirror_meta(m)->refill_kinds, "fidelity_review");
	assert_int_equal(mirror_meta(m)->seq, 0);
	assert_int_equal(mirror_meta(m)->refill_upto, 4);
	mirror_close(m);
	/* Read again, placement is noted again when it comes again. */
	assert_string_equal(file_text(s.path,
				      "SELECT value FROM meta WHERE key = "
				      "'skipped_kinds'",
				      text, sizeof(text)),
			    "");
	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_false(mirror_meta(m)->refill);
	mirror_close(m);
	scratch_remove(&s);
}

/* Before a refill reads from seq 0, the sync checks that the server's
 * journal holds the entry the mirror had reached (meta.check_seq): that
 * check is forgotten in the file only once the refill has committed a
 * cursor past 0, whose hash the next run sends. Was: forgotten as soon as
 * it passed; a sync killed before its first commit then read from seq 0
 * on its next run without any check, from whatever journal the server had
 * by then. */
static void test_a_refill_is_checked_again_until_it_has_a_cursor(void **state)
{
	struct scratch s;
	struct mirror *m;
	char err[512];
	scratch_make(&s);
	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_int_equal(mirror_bind(m, "ggz-test", "", err, sizeof(err)), 0);
	for (uint64_t seq = 1; seq <= 3; seq++)
		assert_int_equal(apply_client(m, seq, err, sizeof(err)), 0);
	assert_int_equal(mirror_commit(m, err, sizeof(err)), 0);
	mirror_close(m);
	/* As an older ipsnet made it: a refill to fill the column in. */
	file_exec(s.path, "ALTER TABLE client DROP COLUMN benefit;");
	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_true(mirror_meta(m)->refill);
	assert_true(mirror_meta(m)->has_check);
	assert_int_equal(mirror_meta(m)->check_seq, 3);
	assert_int_equal(mirror_checked(m, err, sizeof(err)), 0);
	assert_false(mirror_meta(m)->has_check);
	mirror_close(m); /* killed before anything was read */

	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_true(mirror_meta(m)->has_check);
	assert_int_equal(mirror_meta(m)->check_seq, 3);
	assert_int_equal(mirror_checked(m, err, sizeof(err)), 0);
	assert_int_equal(apply_client(m, 1, err, sizeof(err)), 0);
	assert_int_equal(mirror_commit(m, err, sizeof(err)), 0);
	mirror_close(m);

	/* Resumed from seq 1 with its hash: nothing more to check. */
	assert_int_equal(mirror_open(&m, s.path, err, sizeof(err)), 0);
	assert_false(mirror_meta(m)->has_check);
	assert_int_equal(mirror_meta(m)->seq, 1);
	assert_true(mirror_meta(m)->has_hash);
	assert_int_equal(mirror_meta(m)->refill_upto, 3);
	mirror_close(m);
	scratch_remove(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
		test_a_batch_the_full_disk_took_back_moves_no_cursor),
	    cmocka_unit_test(
		test_a_database_with_a_meta_table_of_its_own_is_left_alone),
	    cmocka_unit_test(
		test_a_mirror_of_a_newer_format_is_refused_untouched),
	    cmocka_unit_test(
		test_a_hand_over_is_recorded_with_its_refill_or_not_at_all),
	    cmocka_unit_test(
		test_entries_of_a_kind_not_known_are_brought_in_once_it_is),
	    cmocka_unit_test(
		test_a_refill_is_checked_again_until_it_has_a_cursor),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
