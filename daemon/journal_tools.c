/* The operator's commands on the journal: verify, rebuild, backup,
 * restore. They block and run outside the daemon's loop (ipsnetd
 * verify|rebuild|backup|restore). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "apply.h"
#include "ipsnet_errors.h"
#include "journal.h"
#include "store.h"
#include "util.h"

static int fail(sqlite3 *db, char *err, size_t errlen, const char *what)
{
	snprintf(err, errlen, "%s: %s", what,
		 db != NULL ? sqlite3_errmsg(db) : "out of memory");
	return IPSNET_EDB;
}

static const char *text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t != NULL ? (const char *)t : "";
}

/* 0 when db (the file path) holds a journal table; else IPSNET_EDB and err
 * says what the file is instead. Without it an empty file or another
 * program's database was "no such table: journal" in SQLite's words. */
static int holds_journal(sqlite3 *db, const char *path, char *err,
			 size_t errlen)
{
	char first[128];
	int tables;
	bool journal;
	if (store_tables(db, &tables, &journal, first, sizeof(first)) != 0)
		return fail(db, err, errlen, "cannot read the database");
	if (journal)
		return 0;
	snprintf(err, errlen,
		 "'%s' holds no ipsnet journal: it is %s; check the config's "
		 "database or --database",
		 path,
		 tables == 0 ? "empty"
			     : "the SQLite database of another program");
	return IPSNET_EDB;
}

/* Whether stored, an entry's answer that is not the replay's (replayed),
 * is the replay's as an ipsnetd wrote it before Funding.requested_by came
 * (schema 3): the same but for that field, empty. Its replay names who
 * asked, as migration 6 fills in the table; any other difference is one. */
static bool answer_before_requested_by(const void *stored, size_t stored_len,
				       const uint8_t *replayed,
				       size_t replayed_len)
{
	Ipsnet__V1__Envelope *e = ipsnet__v1__envelope__unpack(
	    &ipsnet_protobuf_allocator, replayed_len, replayed);
	bool same = false;
	if (e != NULL && e->change_ok != NULL &&
	    e->change_ok->entity_case ==
		IPSNET__V1__CHANGE_OK__ENTITY_FUNDING &&
	    e->change_ok->funding != NULL &&
	    e->change_ok->funding->requested_by != NULL &&
	    e->change_ok->funding->requested_by[0] != '\0') {
		char *asker = e->change_ok->funding->requested_by;
		e->change_ok->funding->requested_by = (char *)"";
		size_t n = ipsnet__v1__envelope__get_packed_size(e);
		uint8_t *buf = n == stored_len ? ipsnet_malloc(n) : NULL;
		if (buf != NULL) {
			ipsnet__v1__envelope__pack(e, buf);
			same = memcmp(buf, stored, n) == 0;
			ipsnet_free(buf);
		}
		e->change_ok->funding->requested_by = asker;
	}
	if (e != NULL)
		ipsnet__v1__envelope__free_unpacked(e,
						    &ipsnet_protobuf_allocator);
	return same;
}

/* How many apply_state_tables there are. */
static size_t state_tables(void)
{
	size_t n = 0;
	while (apply_state_tables[n] != NULL)
		n++;
	return n;
}

/* Replays the journal of schema src (on db) into db's main state tables,
 * telling progress how far it is of total entries. On a change that does
 * not apply as it did, r names its seq. With check_responses, also an
 * entry whose stored answer is not the one its replay gives: the hash does
 * not cover that column, and a retry and sync hand it out. */
static int replay(sqlite3 *db, const char *src, bool check_responses,
		  const struct journal_progress *progress, uint64_t total,
		  struct journal_verify_report *r, char *err, size_t errlen)
{
	char sql[256];
	sqlite3_stmt *rows, *kind;
	/* The apply functions' statements, kept from entry to entry as the
	 * writer keeps them (prepared anew, they were a fifth of a verify);
	 * without the memory, each is prepared anew. */
	struct apply_stmts *stmts = apply_stmts_new();
	int rv = 0, rc;

	snprintf(sql, sizeof(sql),
		 "SELECT seq, time_us, org, user, entity_kind, entity_id, "
		 "version, payload, response FROM %s.journal ORDER BY seq",
		 src);
	if (sqlite3_prepare_v2(db, sql, -1, &rows, NULL) != SQLITE_OK) {
		rv = fail(db, err, errlen, "cannot read the journal");
		goto err_after_stmts;
	}
	snprintf(sql, sizeof(sql),
		 "SELECT kind FROM %s.organisation WHERE id = ?1", src);
	if (sqlite3_prepare_v2(db, sql, -1, &kind, NULL) != SQLITE_OK) {
		rv = fail(db, err, errlen, "cannot read the registry");
		goto err_after_rows;
	}
	journal_progress_tell(progress, "replay", "entries", 0, total);
	while ((rc = sqlite3_step(rows)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(rows, 0);
		struct journal_actor actor;
		memset(&actor, 0, sizeof(actor));
		util_strlcpy(actor.org, text(rows, 2), sizeof(actor.org));
		util_strlcpy(actor.user, text(rows, 3), sizeof(actor.user));
		sqlite3_bind_text(kind, 1, actor.org, -1, SQLITE_STATIC);
		if (sqlite3_step(kind) == SQLITE_ROW)
			actor.org_kind = org_kind_parse(text(kind, 0));
		sqlite3_reset(kind);

		Ipsnet__V1__Envelope *req = ipsnet__v1__envelope__unpack(
		    &ipsnet_protobuf_allocator,
		    (size_t)sqlite3_column_bytes(rows, 7),
		    sqlite3_column_blob(rows, 7));
		struct apply_ctx ctx = {
		    .db = db,
		    .stmts = stmts,
		    .actor = &actor,
		    .req = req,
		    .time_us = sqlite3_column_int64(rows, 1),
		    .seq = seq,
		    .replay = true,
		};
		int arv = req != NULL ? apply_change(&ctx) : IPSNET_EDECODE;
		bool same_answer =
		    arv != 0 || !check_responses ||
		    ((size_t)sqlite3_column_bytes(rows, 8) ==
			 ctx.response_len &&
		     (ctx.response_len == 0 ||
		      memcmp(sqlite3_column_blob(rows, 8), ctx.response,
			     ctx.response_len) == 0)) ||
		    answer_before_requested_by(
			sqlite3_column_blob(rows, 8),
			(size_t)sqlite3_column_bytes(rows, 8), ctx.response,
			ctx.response_len);
		ipsnet_free(ctx.response);
		if (req != NULL)
			ipsnet__v1__envelope__free_unpacked(
			    req, &ipsnet_protobuf_allocator);
		const char *problem = NULL;
		if (arv == IPSNET_EDB) {
			rv = fail(db, err, errlen, "cannot replay the journal");
			goto err_after_kind;
		}
		if (arv != 0)
			problem = ctx.message[0] != '\0' ? ctx.message
							 : ipsnet_strerror(arv);
		else if (strcmp(ctx.entity_kind, text(rows, 4)) != 0 ||
			 strcmp(ctx.entity_id, text(rows, 5)) != 0 ||
			 ctx.version != (uint64_t)sqlite3_column_int64(rows, 6))
			problem = "replaying it gives another entity or version "
				  "than the entry records";
		else if (!same_answer)
			problem = "its stored answer is not the one the change "
				  "gave (the answer was changed)";
		if (problem != NULL) {
			r->first_bad_seq = seq;
			snprintf(r->problem, sizeof(r->problem),
				 "journal entry %llu does not replay: %s",
				 (unsigned long long)seq, problem);
			goto err_after_kind;
		}
		if (++r->entries % JOURNAL_PROGRESS_ROWS == 0)
			journal_progress_tell(progress, "replay", "entries",
					      r->entries, total);
	}
	if (rc != SQLITE_DONE)
		rv = fail(db, err, errlen, "cannot read the journal");
	else
		journal_progress_tell(progress, "replay", "entries", r->entries,
				      r->entries);
err_after_kind:
	sqlite3_finalize(kind);
err_after_rows:
	sqlite3_finalize(rows);
err_after_stmts:
	apply_stmts_free(stmts);
	return rv;
}

/* "file:PATH?mode=ro" (with immutable, "...&immutable=1") with the
 * characters a URI gives meaning to percent-encoded, so that any path
 * works. */
static int file_uri(char *out, size_t cap, const char *path, bool immutable)
{
	static const char hex[] = "0123456789abcdef";
	size_t n = 0;
	const char *prefix = "file:";
	for (const char *p = prefix; *p != '\0'; p++)
		out[n++] = *p;
	for (const unsigned char *p = (const unsigned char *)path; *p != '\0';
	     p++) {
		if (n + 4 >= cap)
			return -1;
		if (*p == '%' || *p == '?' || *p == '#' || *p < 0x20) {
			out[n++] = '%';
			out[n++] = hex[*p >> 4];
			out[n++] = hex[*p & 15];
		} else {
			out[n++] = (char)*p;
		}
	}
	const char *suffix = immutable ? "?mode=ro&immutable=1" : "?mode=ro";
	if (n + strlen(suffix) + 1 > cap)
		return -1;
	for (const char *p = suffix; *p != '\0'; p++)
		out[n++] = *p;
	out[n] = '\0';
	return 0;
}

/* Compares table t in schemas a and b; on a difference names a row id.
 * Each EXCEPT in its own subquery: compound SELECTs group from the left,
 * and "A EXCEPT B UNION ALL B EXCEPT A" is B - A alone. Over live's own
 * columns: a database of an older schema (version; a backup from then,
 * verified before its restore) lacks those a later step added, which
 * init adds; and funding's requested_by, empty in the requests made
 * before schema 3, is what step 6 fills in from the journal. */
static int compare_table(sqlite3 *db, const char *t, int version, bool *same,
			 char *row, size_t rowlen)
{
	sqlite3_stmt *st;
	char *cols = NULL, *sql = NULL;
	int rv = IPSNET_EDB;
	if (sqlite3_prepare_v2(
		db,
		"SELECT group_concat(printf('\"%w\"', name), ', ') FROM "
		"(SELECT name FROM pragma_table_info(?1, 'live') WHERE NOT "
		"(?1 = 'funding' AND name = 'requested_by' AND ?2 < 6) "
		"ORDER BY cid)",
		-1, &st, NULL) != SQLITE_OK)
		return IPSNET_EDB;
	sqlite3_bind_text(st, 1, t, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, version);
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_type(st, 0) != SQLITE_NULL)
		cols = sqlite3_mprintf("%s", text(st, 0));
	sqlite3_finalize(st);
	if (cols == NULL)
		return IPSNET_EDB;
	sql = sqlite3_mprintf(
	    "SELECT * FROM (SELECT %s FROM main.%s EXCEPT SELECT %s FROM "
	    "live.%s) UNION ALL SELECT * FROM (SELECT %s FROM live.%s "
	    "EXCEPT SELECT %s FROM main.%s) LIMIT 1",
	    cols, t, cols, t, cols, t, cols, t);
	if (sql == NULL ||
	    sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto out;
	int rc = sqlite3_step(st);
	*same = rc == SQLITE_DONE;
	if (rc == SQLITE_ROW)
		util_strlcpy(row, text(st, 0), rowlen);
	sqlite3_finalize(st);
	rv = rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : IPSNET_EDB;
out:
	sqlite3_free(sql);
	sqlite3_free(cols);
	return rv;
}

/* 0 when the database file at path may be read; else IPSNET_EDB and err
 * says why in words (SQLite's own is "unable to open database file"). */
static int readable(const char *path, char *err, size_t errlen)
{
	struct stat st;
	if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen,
			 "'%s' is a folder, not a database: name the database "
			 "file in it",
			 path);
		return IPSNET_EINVAL;
	}
	if (access(path, R_OK) == 0)
		return 0;
	snprintf(err, errlen, "cannot read the database '%s': %s", path,
		 errno == ENOENT ? "there is no such file" : strerror(errno));
	return IPSNET_EDB;
}

/* The files SQLite reads together with a database: a -wal or a hot
 * -journal left beside the restored copy would be applied to it (the
 * daemon would serve the old journal, or a mix of both), so they go with
 * the database they belong to. */
static const char *const db_file_suffixes[] = {"", "-wal", "-shm", "-journal"};

/* Whether the file at path begins as an SQLite database in WAL mode
 * (its read and write versions, bytes 18 and 19 of the header, are 2). */
static bool wal_mode_file(const char *path)
{
	unsigned char h[20];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	ssize_t n = pread(fd, h, sizeof(h), 0);
	close(fd);
	return n == (ssize_t)sizeof(h) &&
	       memcmp(h, "SQLite format 3", 16) == 0 && h[18] == 2 &&
	       h[19] == 2;
}

/* The verify of the file at path (see verify_file); with immutable, read
 * as one that no one changes: no locks, no -wal or -shm made. */
static int verify_read(const char *path, const char *name, bool immutable,
		       const struct journal_progress *progress,
		       struct journal_verify_report *r, char *err,
		       size_t errlen)
{
	sqlite3 *live = NULL, *scratch = NULL;
	char uri[CONFIG_MAX_PATH + 32];
	int rv;

	if (file_uri(uri, sizeof(uri), path, immutable) != 0) {
		snprintf(err, errlen, "the database path is too long");
		return IPSNET_EDB;
	}
	if (sqlite3_open_v2(uri, &live, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
			    NULL) != SQLITE_OK) {
		rv = fail(live, err, errlen, "cannot open the database");
		goto err_after_live;
	}
	sqlite3_busy_timeout(live, 5000);
	/* One read transaction: the chain and the tables as of one moment. */
	if (sqlite3_exec(live, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
		rv = fail(live, err, errlen, "cannot read the database");
		goto err_after_live;
	}
	rv = holds_journal(live, name, err, errlen);
	if (rv != 0)
		goto err_after_live;
	/* This build's replay judges a newer schema's entries and tables by
	 * rules that are not theirs. */
	int version;
	rv = store_check_not_newer(live, &version, err, errlen);
	if (rv != 0)
		goto err_after_live;
	rv = journal_check_chain(live, progress, r);
	if (rv != 0) {
		rv = fail(live, err, errlen, "cannot walk the journal");
		goto err_after_live;
	}
	if (r->first_bad_seq != 0)
		goto done;

	/* Rebuild the projections in a scratch database and compare. */
	if (sqlite3_open_v2(":memory:", &scratch,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI,
			    NULL) != SQLITE_OK) {
		rv = fail(scratch, err, errlen, "cannot open a scratch database");
		goto err_after_scratch;
	}
	rv = store_migrate(scratch, err, errlen);
	if (rv != 0)
		goto err_after_scratch;
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(scratch, "ATTACH ?1 AS live", -1, &st, NULL) !=
	    SQLITE_OK) {
		rv = fail(scratch, err, errlen, "cannot attach the database");
		goto err_after_scratch;
	}
	sqlite3_bind_text(st, 1, uri, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE ||
	    sqlite3_exec(scratch,
			 "BEGIN; INSERT INTO main.organisation SELECT * FROM "
			 "live.organisation",
			 NULL, NULL, NULL) != SQLITE_OK) {
		rv = fail(scratch, err, errlen, "cannot read the registry");
		goto err_after_scratch;
	}
	uint64_t walked = r->entries;
	r->entries = 0;
	rv = replay(scratch, "live", true, progress, walked, r, err, errlen);
	if (rv != 0 || r->first_bad_seq != 0)
		goto err_after_scratch;
	r->entries = walked;
	uint64_t served;
	if (journal_served_seq(path, &served) && served > walked)
		r->served_seq = served;
	size_t tables = state_tables(), compared = 0;
	for (const char *const *t = apply_state_tables; *t != NULL; t++) {
		bool same;
		journal_progress_tell(progress, "state tables", "tables",
				      compared++, tables);
		char row[128] = "";
		if (compare_table(scratch, *t, version, &same, row,
				  sizeof(row)) != 0) {
			rv = fail(scratch, err, errlen, "cannot compare");
			goto err_after_scratch;
		}
		if (!same && r->served_seq != 0)
			/* The state may hold what the lost entries made:
			 * their last trace, which a rebuild would drop. */
			snprintf(r->problem, sizeof(r->problem),
				 "state table '%s' differs from what the "
				 "journal says (row '%s'), and the journal "
				 "ends at seq %llu where this database had "
				 "seq %llu (%s.served): entries after %llu "
				 "are gone, and the state tables may hold "
				 "what they made; keep this file, and do not "
				 "rebuild before you know why",
				 *t, row, (unsigned long long)walked,
				 (unsigned long long)r->served_seq, name,
				 (unsigned long long)walked);
		else if (!same)
			snprintf(r->problem, sizeof(r->problem),
				 "state table '%s' differs from what the "
				 "journal says (row '%s'); 'ipsnetd rebuild' "
				 "restores it from the journal",
				 *t, row);
		if (!same) {
			r->first_bad_seq = 0;
			rv = 0;
			goto err_after_scratch;
		}
	}
	journal_progress_tell(progress, "state tables", "tables", tables,
			      tables);
	sqlite3_exec(scratch, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(scratch);
	rv = journal_check_audit(live, progress, r);
	if (rv != 0) {
		rv = fail(live, err, errlen, "cannot walk the audit trail");
		goto err_after_live;
	}
done:
	sqlite3_exec(live, "COMMIT", NULL, NULL, NULL);
	sqlite3_close(live);
	return 0;

err_after_scratch:
	sqlite3_exec(scratch, "ROLLBACK", NULL, NULL, NULL);
	sqlite3_close(scratch);
err_after_live:
	sqlite3_close(live);
	return rv;
}

/* Whether the database at at (the file itself, not a link) is to be read
 * immutable: in WAL mode with nothing beside it (see verify_file), *was
 * its state then. */
static bool read_immutable(const char *at, struct stat *was)
{
	char beside[PATH_MAX + 16];
	struct stat is;
	bool immutable = wal_mode_file(at) && stat(at, was) == 0;
	for (size_t i = 1; immutable && i < ARRAY_SIZE(db_file_suffixes); i++) {
		snprintf(beside, sizeof(beside), "%s%s", at,
			 db_file_suffixes[i]);
		immutable = lstat(beside, &is) != 0 && errno == ENOENT;
	}
	return immutable;
}

/* Whether the database read immutable changed since was, or has a -wal
 * now (a daemon started on it meanwhile). */
static bool changed_since(const char *at, const struct stat *was)
{
	char beside[PATH_MAX + 16];
	struct stat is;
	snprintf(beside, sizeof(beside), "%s-wal", at);
	return stat(at, &is) != 0 || is.st_ino != was->st_ino ||
	       is.st_dev != was->st_dev || is.st_size != was->st_size ||
	       is.st_mtim.tv_sec != was->st_mtim.tv_sec ||
	       is.st_mtim.tv_nsec != was->st_mtim.tv_nsec ||
	       lstat(beside, &is) == 0;
}

/* journal_verify of the file at path, named in err as name (restore
 * verifies its copy of a backup and speaks of the backup). A database in
 * WAL mode without a -wal (a copy, or one whose daemon stopped) is read
 * immutable: SQLite would make an empty -wal and -shm beside it that a
 * read-only connection cannot remove (in someone else's folder), or
 * refuse to open it on read-only media. No one has it open then (each
 * connection keeps the -wal); one that started meanwhile is seen
 * afterwards, and said. */
static int verify_file(const char *path, const char *name,
		       const struct journal_progress *progress,
		       struct journal_verify_report *r, char *err,
		       size_t errlen)
{
	char real[PATH_MAX];
	struct stat was;
	int rv;

	memset(r, 0, sizeof(*r));
	if ((rv = readable(path, err, errlen)) != 0)
		return rv;
	/* SQLite looks for the -wal beside the file a link names. */
	const char *at = realpath(path, real) != NULL ? real : path;
	bool immutable = read_immutable(at, &was);
	rv = verify_read(immutable ? at : path, name, immutable, progress, r,
			 err, errlen);
	if (rv != 0 || !immutable)
		return rv;
	if (changed_since(at, &was)) {
		snprintf(err, errlen,
			 "the database '%s' changed while it was verified (a "
			 "daemon started on it?): run the verify again",
			 name);
		return IPSNET_EDB;
	}
	return 0;
}

int journal_verify(const char *path, const struct journal_progress *progress,
		   struct journal_verify_report *r, char *err, size_t errlen)
{
	return verify_file(path, path, progress, r, err, errlen);
}

int journal_rebuild(const char *path, const struct journal_progress *progress,
		    uint64_t *entries, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	struct journal_verify_report r;
	int rv;

	memset(&r, 0, sizeof(r));
	if ((rv = readable(path, err, errlen)) != 0)
		return rv;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		rv = fail(db, err, errlen, "cannot open the database");
		goto err;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK) {
		rv = fail(db, err, errlen, "cannot lock the database");
		goto err;
	}
	rv = holds_journal(db, path, err, errlen);
	if (rv != 0)
		goto err_after_begin;
	/* This build's replay would drop what a newer schema's state holds
	 * that it does not know. */
	int version;
	rv = store_check_not_newer(db, &version, err, errlen);
	if (rv != 0)
		goto err_after_begin;
	/* The replay writes today's state tables, which an older schema
	 * lacks columns of (SQLite said "no such column"). */
	if (version < store_schema_version()) {
		snprintf(err, errlen,
			 "the database has schema version %d, older than this "
			 "ipsnetd's (%d): run 'ipsnetd init' first, which "
			 "brings it up to date, then the rebuild",
			 version, store_schema_version());
		rv = IPSNET_EDB;
		goto err_after_begin;
	}
	/* The state is made from the journal only when the journal is what
	 * was written: from a damaged one it would hide the damage (the
	 * state tables are what still tells) and could lose what the damage
	 * took away. */
	if (journal_check_chain(db, progress, &r) != 0) {
		rv = fail(db, err, errlen, "cannot read the journal");
		goto err_after_begin;
	}
	if (r.first_bad_seq != 0 || r.problem[0] != '\0') {
		snprintf(err, errlen,
			 "the journal is damaged from seq %llu (%s): a rebuild "
			 "would make the state from it; restore the database "
			 "from a backup instead",
			 (unsigned long long)r.first_bad_seq, r.problem);
		rv = IPSNET_EDB;
		goto err_after_begin;
	}
	uint64_t walked = r.entries;
	memset(&r, 0, sizeof(r));
	/* Children first: the tables refer to one another. */
	size_t n = state_tables();
	for (size_t i = n; i-- > 0;) {
		char sql[96];
		snprintf(sql, sizeof(sql), "DELETE FROM %s",
			 apply_state_tables[i]);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			rv = fail(db, err, errlen, "cannot empty the state");
			goto err_after_begin;
		}
	}
	rv = replay(db, "main", false, progress, walked, &r, err, errlen);
	if (rv == 0 && r.first_bad_seq != 0) {
		snprintf(err, errlen, "%s", r.problem);
		rv = IPSNET_EDB;
	}
	if (rv != 0)
		goto err_after_begin;
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rv = fail(db, err, errlen, "cannot commit the rebuild");
		goto err_after_begin;
	}
	*entries = r.entries;
	sqlite3_close(db);
	return 0;

err_after_begin:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
err:
	sqlite3_close(db);
	return rv;
}

/* Makes the name just given in path's folder durable (best effort). */
static void sync_folder_of(const char *path)
{
	char dir[PATH_MAX];
	util_folder_of(dir, sizeof(dir), path);
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		(void)fsync(fd);
		close(fd);
	}
}

int journal_backup(const char *path, const char *dest,
		   const struct journal_progress *progress, char *err,
		   size_t errlen)
{
	sqlite3 *src = NULL, *dst = NULL;
	int rv = 0;

	if ((rv = readable(path, err, errlen)) != 0)
		return rv;
	struct stat st;
	if (stat(dest, &st) == 0 && S_ISDIR(st.st_mode)) {
		snprintf(err, errlen,
			 "'%s' is a folder: name the backup file in it "
			 "('%s/ipsnet-DATE.db', say)",
			 dest, dest);
		return IPSNET_EINVAL;
	}
	if (access(dest, F_OK) == 0) {
		snprintf(err, errlen,
			 "'%s' exists already: a backup never overwrites a "
			 "file",
			 dest);
		return IPSNET_EEXISTS;
	}
	/* The copy is made under a name of its own and takes dest's name
	 * only once whole and checked: a backup killed part-way leaves
	 * DEST.partial-XXXXXX, never a DEST that looks like a backup. Made
	 * here, for its owner alone like the database (mkstemp: 0600; SQLite
	 * would make it 0644 under the usual umask). */
	char tmp[PATH_MAX];
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.partial-XXXXXX", dest) >=
	    sizeof(tmp)) {
		snprintf(err, errlen, "the backup file's name is too long");
		return IPSNET_EINVAL;
	}
	int fd = mkstemp(tmp);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create the backup file '%s': %s",
			 tmp, strerror(errno));
		return IPSNET_EDB;
	}
	close(fd);
	/* A stopped database is read immutable, as verify reads it: no -wal
	 * and -shm left beside it, and one on read-only media is read. */
	char real[PATH_MAX], uri[PATH_MAX * 3 + 32];
	struct stat was;
	const char *at = realpath(path, real) != NULL ? real : path;
	bool immutable = read_immutable(at, &was);
	if (file_uri(uri, sizeof(uri), immutable ? at : path, immutable) != 0) {
		snprintf(err, errlen, "the database's name is too long");
		rv = IPSNET_EINVAL;
		goto out;
	}
	if (sqlite3_open_v2(uri, &src, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
			    NULL) != SQLITE_OK) {
		rv = fail(src, err, errlen, "cannot open the database");
		goto out;
	}
	sqlite3_busy_timeout(src, 5000);
	rv = holds_journal(src, path, err, errlen);
	if (rv != 0)
		goto out;
	/* The copy's chain is checked by this build's rules: those of a
	 * newer schema's entries may not be its own (the salted entries of
	 * schema 8 did not check by the rules of 7), and such a copy would
	 * be called damaged. As verify and restore, a newer ipsnetd's. */
	int version;
	rv = store_check_not_newer(src, &version, err, errlen);
	if (rv != 0)
		goto out;
	if (sqlite3_open_v2(tmp, &dst,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
			    NULL) != SQLITE_OK) {
		rv = fail(dst, err, errlen, "cannot create the backup file");
		goto out;
	}
	sqlite3_backup *b = sqlite3_backup_init(dst, "main", src, "main");
	if (b == NULL) {
		rv = fail(dst, err, errlen, "cannot start the backup");
		goto out;
	}
	/* All pages in one step: one read transaction, one moment. */
	int rc = sqlite3_backup_step(b, -1);
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		rv = fail(dst, err, errlen, "the backup failed");
		goto out;
	}
	if (immutable && changed_since(at, &was)) {
		snprintf(err, errlen,
			 "the database '%s' changed while it was copied (a "
			 "daemon started on it?): run the backup again",
			 path);
		rv = IPSNET_EDB;
		goto out;
	}
	/* The copy is one file: out of WAL mode, so that reading it (ipsnetd
	 * verify, read-only) leaves no -wal and -shm beside it. A daemon
	 * started on a restored copy puts it back into WAL mode. */
	if (sqlite3_exec(dst, "PRAGMA journal_mode = DELETE", NULL, NULL,
			 NULL) != SQLITE_OK) {
		rv = fail(dst, err, errlen, "cannot make the backup one file");
		goto out;
	}
	struct journal_verify_report r;
	if (journal_check_chain(dst, progress, &r) != 0) {
		/* r.problem is empty: SQLite says why. */
		rv = fail(dst, err, errlen,
			  "cannot read the backup's journal to check it");
	} else if (r.first_bad_seq != 0) {
		snprintf(err, errlen, "the backup's journal does not check: %s",
			 r.problem);
		rv = IPSNET_EDB;
	}
out:
	sqlite3_close(dst);
	sqlite3_close(src);
	/* link, not rename: it never overwrites a file that came meanwhile. */
	if (rv == 0 && link(tmp, dest) != 0) {
		snprintf(err, errlen, "cannot name the backup '%s': %s", dest,
			 errno == EEXIST ? "it exists already, and a backup "
					   "never overwrites a file"
					 : strerror(errno));
		rv = errno == EEXIST ? IPSNET_EEXISTS : IPSNET_EDB;
	}
	unlink(tmp);
	/* A copy that failed part-way (the disk full) leaves its rollback
	 * journal, hot for a next opener that never comes: ours by its name. */
	char tmp_journal[PATH_MAX + 8];
	snprintf(tmp_journal, sizeof(tmp_journal), "%s-journal", tmp);
	unlink(tmp_journal);
	if (rv == 0)
		sync_folder_of(dest);
	return rv;
}

/* Removes the files SQLite may have made beside the database at path
 * (its -wal, -shm, -journal), not path itself. */
static void remove_beside(const char *path)
{
	char name[PATH_MAX + 16];
	for (size_t i = 1; i < ARRAY_SIZE(db_file_suffixes); i++) {
		snprintf(name, sizeof(name), "%s%s", path, db_file_suffixes[i]);
		unlink(name);
	}
}

/* Copies the open file from (from where it is) into to, and fsyncs to.
 * 0, or -1 with errno. */
static int copy_fd(int from, int to)
{
	size_t cap = 1 << 20;
	char *buf = ipsnet_malloc(cap);
	int rv = 0;
	if (buf == NULL) {
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		ssize_t n = read(from, buf, cap);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rv = n < 0 ? -1 : 0;
			break;
		}
		if (util_write_all(to, buf, (size_t)n) != 0) {
			rv = -1;
			break;
		}
	}
	int why = errno;
	ipsnet_free(buf);
	errno = why;
	if (rv == 0 && fsync(to) != 0)
		rv = -1;
	return rv;
}

/* The hash of the first entry of the database at path (not a link), read
 * only (immutable as verify reads it, making no -wal or -shm): 1 with out
 * set, 0 when it has none, -1 when it cannot be read. */
static int first_hash(const char *path, uint8_t out[JOURNAL_HASH_BYTES])
{
	char uri[PATH_MAX * 3 + 32];
	struct stat was;
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rv = -1;
	bool immutable = read_immutable(path, &was);
	if (file_uri(uri, sizeof(uri), path, immutable) != 0 ||
	    sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_URI,
			    NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db,
			       "SELECT hash FROM journal ORDER BY seq LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		goto out;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE) {
		rv = 0;
	} else if (rc == SQLITE_ROW &&
		   sqlite3_column_bytes(st, 0) == JOURNAL_HASH_BYTES) {
		memcpy(out, sqlite3_column_blob(st, 0), JOURNAL_HASH_BYTES);
		rv = 1;
	}
out:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rv;
}

/* The end of a before-restore folder's name while files are moved in. */
#define UNFINISHED ".unfinished"

/* Moves back the first n of the database's files that were moved into
 * aside (moved[i]: whether suffix i was), and removes aside. 0 when all
 * are back. */
static int move_back(const char *path, const char *aside, const char *base,
		     const bool *moved, size_t n)
{
	char from[PATH_MAX + 16], to[PATH_MAX + 16];
	int rv = 0;
	for (size_t i = 0; i < n; i++) {
		if (!moved[i])
			continue;
		snprintf(from, sizeof(from), "%s/%s%s", aside, base,
			 db_file_suffixes[i]);
		snprintf(to, sizeof(to), "%s%s", path, db_file_suffixes[i]);
		if (rename(from, to) != 0)
			rv = -1;
	}
	if (rv == 0)
		rmdir(aside);
	return rv;
}

int journal_restore(const char *path, const char *backup,
		    const struct journal_progress *progress,
		    struct journal_restore_report *r, char *err, size_t errlen)
{
	struct journal_verify_report v;
	struct stat before, after, db, folder;
	char dir[PATH_MAX], tmp[PATH_MAX], name[PATH_MAX + 16],
	    aside_name[PATH_MAX + 16], verr[512], real[PATH_MAX],
	    backup_real[PATH_MAX], unfinished[CONFIG_MAX_PATH + 64],
	    stopped_db[CONFIG_MAX_PATH + 96];
	bool moved[ARRAY_SIZE(db_file_suffixes)] = {false};
	bool have_db, any = false, named = false;
	int rv;

	memset(r, 0, sizeof(*r));
	/* SQLite follows a link: the database, its -wal and -shm are beside
	 * the file it names, and the copy goes there (the link stays). */
	if (lstat(path, &db) == 0 && S_ISLNK(db.st_mode)) {
		/* Also one that names nothing now: a restore stopped with
		 * the file moved aside, which this one finishes. */
		if (store_db_file(path, real, sizeof(real)) != 0) {
			snprintf(err, errlen,
				 "the database '%s' is a symbolic link that "
				 "cannot be followed: %s",
				 path, strerror(errno));
			return IPSNET_EDB;
		}
		if (strlen(real) >= CONFIG_MAX_PATH) {
			snprintf(err, errlen,
				 "the database's name is too long");
			return IPSNET_EINVAL;
		}
		path = real;
	}
	const char *base = util_folder_of(dir, sizeof(dir), path);

	int from = open(backup, O_RDONLY | O_CLOEXEC);
	if (from < 0) {
		snprintf(err, errlen, "cannot read the backup '%s': %s", backup,
			 errno == ENOENT ? "there is no such file"
					 : strerror(errno));
		return IPSNET_EDB;
	}
	if (fstat(from, &before) != 0 || !S_ISREG(before.st_mode)) {
		snprintf(err, errlen, "the backup '%s' is not a file", backup);
		rv = IPSNET_EINVAL;
		goto err_after_from;
	}
	have_db = stat(path, &db) == 0;
	if (!have_db && errno != ENOENT) {
		snprintf(err, errlen, "cannot look at the database '%s': %s",
			 path, strerror(errno));
		rv = IPSNET_EDB;
		goto err_after_from;
	}
	if (have_db && !S_ISREG(db.st_mode)) {
		snprintf(err, errlen,
			 "the database '%s' is not a file (a folder?); check "
			 "the config's database or --database",
			 path);
		rv = IPSNET_EINVAL;
		goto err_after_from;
	}
	if (have_db && db.st_dev == before.st_dev &&
	    db.st_ino == before.st_ino) {
		snprintf(err, errlen,
			 "the backup '%s' is the database itself, not a copy "
			 "of it",
			 backup);
		rv = IPSNET_EINVAL;
		goto err_after_from;
	}
	/* A -wal beside the backup holds part of it (a copy of a database
	 * that was not closed): verify reads it, the copy would not. Beside
	 * the file a link names, where SQLite looks. */
	snprintf(name, sizeof(name), "%s-wal",
		 realpath(backup, backup_real) != NULL ? backup_real : backup);
	if (stat(name, &after) == 0 && after.st_size > 0) {
		snprintf(err, errlen,
			 "the backup '%s' has a -wal beside it that holds part "
			 "of it, which a restore would not copy; make it one "
			 "file first with 'ipsnetd backup NEWFILE --database "
			 "%s' and restore NEWFILE",
			 backup, backup);
		rv = IPSNET_EINVAL;
		goto err_after_from;
	}

	/* A restore stopped while it moved the database's files aside: this
	 * one finishes that (below). More than one is not this code's. */
	size_t stopped =
	    store_restore_unfinished(path, unfinished, sizeof(unfinished));
	if (stopped > 1) {
		snprintf(err, errlen,
			 "there are %zu folders '%s.before-restore-*%s' of "
			 "restores stopped while they moved the database's "
			 "files; move the files in them back beside '%s' "
			 "(or away) by hand, then run the restore again",
			 stopped, path, UNFINISHED, path);
		rv = IPSNET_EINVAL;
		goto err_after_from;
	}
	/* The daemon's user must open it: the owner of what it replaces,
	 * there or moved aside by the stopped restore. */
	snprintf(stopped_db, sizeof(stopped_db), "%s/%s", unfinished, base);
	if (!have_db && stopped == 1 && stat(stopped_db, &db) == 0 &&
	    S_ISREG(db.st_mode))
		have_db = true;
	if (!have_db && stat(dir, &folder) != 0) {
		snprintf(err, errlen, "cannot look at the folder '%s': %s", dir,
			 strerror(errno));
		rv = IPSNET_EDB;
		goto err_after_from;
	}
	uid_t uid = have_db ? db.st_uid : folder.st_uid;
	gid_t gid = have_db ? db.st_gid : folder.st_gid;
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.restore-XXXXXX", path) >=
	    sizeof(tmp)) {
		snprintf(err, errlen, "the database's name is too long");
		rv = IPSNET_EINVAL;
		goto err_after_from;
	}
	int to = mkstemp(tmp); /* 0600 */
	if (to < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", tmp,
			 strerror(errno));
		rv = IPSNET_EDB;
		goto err_after_from;
	}
	if (fchown(to, uid, gid) != 0) {
		snprintf(err, errlen,
			 "cannot give the copy the owner of the %s (uid %u, "
			 "gid %u): %s; run the restore as root or as that user",
			 have_db ? "database it replaces" : "database's folder",
			 (unsigned)uid, (unsigned)gid, strerror(errno));
		close(to);
		rv = IPSNET_EDB;
		goto err_after_tmp;
	}
	if (fchmod(to, 0600) != 0 || copy_fd(from, to) != 0) {
		snprintf(err, errlen, "cannot copy the backup to '%s': %s", tmp,
			 strerror(errno));
		close(to);
		rv = IPSNET_EDB;
		goto err_after_tmp;
	}
	if (close(to) != 0) {
		snprintf(err, errlen, "cannot copy the backup to '%s': %s", tmp,
			 strerror(errno));
		rv = IPSNET_EDB;
		goto err_after_tmp;
	}

	/* As `ipsnetd verify`: the chain, the schema, the state replayed, of
	 * the copy itself. What is verified is what is put in place: BACKUP
	 * verified by its name could be another file than the one copied
	 * (renamed over it meanwhile). */
	rv = verify_file(tmp, backup, progress, &v, verr, sizeof(verr));
	/* Reading a copy in WAL mode made its -wal and -shm: ours. */
	remove_beside(tmp);
	if (rv != 0) {
		snprintf(err, errlen, "the backup '%s': %s", backup, verr);
		goto err_after_tmp;
	}
	if (v.problem[0] != '\0') {
		snprintf(err, errlen, "the backup '%s' is damaged: %s", backup,
			 v.problem);
		rv = IPSNET_EDB;
		goto err_after_tmp;
	}
	/* A backup of another journal (another network's, or one from
	 * before 'ipsnetd init' made this database anew) would silently put
	 * other people's files in place, and every mirror would follow a
	 * chain that is not its own. Told apart by the first entry; a
	 * database that cannot be read (what a restore is for) is not. */
	uint8_t ours[JOURNAL_HASH_BYTES], theirs[JOURNAL_HASH_BYTES];
	bool other = have_db && first_hash(path, ours) == 1 &&
		     first_hash(tmp, theirs) == 1 &&
		     memcmp(ours, theirs, sizeof(ours)) != 0;
	if (other) {
		snprintf(err, errlen,
			 "the backup '%s' is of another journal than the "
			 "database '%s': their first entries differ (another "
			 "network's, or from before the database was made "
			 "anew); to put it in place all the same, move the "
			 "database and its -wal and -shm away first",
			 backup, path);
		rv = IPSNET_EINVAL;
		goto err_after_tmp;
	}
	r->head_seq = v.entries;
	/* The copies of a restore stopped before, verified or not: this one
	 * puts its own (and no verified name is taken by another). */
	r->stale = store_restore_copies(path, false, tmp, true, NULL, 0) +
		   store_restore_copies(path, true, NULL, true, NULL, 0);
	/* Verified (and fsynced): it takes a name that says so before the
	 * old files move, so that a restore stopped from here on leaves a
	 * copy that may be put in place, and one stopped before leaves one
	 * named as unfinished (serve and init tell them apart). */
	size_t stem =
	    strlen(tmp) - strlen("XXXXXX") - strlen(STORE_RESTORE_COPY);
	if ((size_t)snprintf(name, sizeof(name), "%.*s%s%s", (int)stem, tmp,
			     STORE_RESTORE_VERIFIED,
			     tmp + strlen(tmp) - strlen("XXXXXX")) >=
	    sizeof(tmp)) {
		snprintf(err, errlen, "the database's name is too long");
		rv = IPSNET_EINVAL;
		goto err_after_tmp;
	}
	if (rename(tmp, name) != 0) {
		snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp,
			 name, strerror(errno));
		rv = IPSNET_EDB;
		goto err_after_tmp;
	}
	util_strlcpy(tmp, name, sizeof(tmp));
	sync_folder_of(tmp);

	/* The replaced files hold the audit trail since the backup: moved
	 * into a folder of their own, never over another file. One rename
	 * each, into PATH.before-restore-TIME.unfinished/, which takes its
	 * name once all are in: a restore stopped between them left the
	 * database apart from its -wal (the last commits), and this one moves
	 * the rest into that folder, not into one of its own. */
	for (size_t i = 0; i < ARRAY_SIZE(db_file_suffixes); i++) {
		snprintf(name, sizeof(name), "%s%s", path, db_file_suffixes[i]);
		any = any || lstat(name, &after) == 0;
	}
	if (stopped == 1) {
		util_strlcpy(r->aside, unfinished, sizeof(r->aside));
		r->aside[strlen(r->aside) - strlen(UNFINISHED)] = '\0';
	} else if (any) {
		char stamp[32];
		struct tm tm;
		time_t now = time(NULL);
		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
		int made = -1;
		for (int n = 1; n < 100 && made != 0; n++) {
			if (n == 1)
				snprintf(r->aside, sizeof(r->aside),
					 "%s.before-restore-%s", path, stamp);
			else
				snprintf(r->aside, sizeof(r->aside),
					 "%s.before-restore-%s-%d", path, stamp,
					 n);
			snprintf(unfinished, sizeof(unfinished), "%s%s",
				 r->aside, UNFINISHED);
			if (lstat(r->aside, &after) == 0) {
				errno = EEXIST;
				continue;
			}
			made = mkdir(unfinished, 0700);
			if (made != 0 && errno != EEXIST)
				break;
		}
		if (made != 0 || chmod(unfinished, 0700) != 0) {
			snprintf(err, errlen,
				 "cannot create the folder '%s': %s",
				 unfinished, strerror(errno));
			if (made == 0)
				rmdir(unfinished);
			r->aside[0] = '\0';
			rv = IPSNET_EDB;
			goto err_after_tmp;
		}
	}
	if (r->aside[0] != '\0') {
		for (size_t i = 0; i < ARRAY_SIZE(db_file_suffixes); i++) {
			snprintf(name, sizeof(name), "%s%s", path,
				 db_file_suffixes[i]);
			snprintf(aside_name, sizeof(aside_name), "%s/%s%s",
				 unfinished, base, db_file_suffixes[i]);
			if (lstat(name, &after) != 0)
				continue;
			if (lstat(aside_name, &after) == 0) {
				snprintf(err, errlen,
					 "cannot move '%s' into '%s': it holds "
					 "a '%s%s' already; look at both and "
					 "move one away",
					 name, unfinished, base,
					 db_file_suffixes[i]);
				rv = IPSNET_EEXISTS;
				goto err_after_aside;
			}
			if (rename(name, aside_name) != 0) {
				snprintf(err, errlen,
					 "cannot move '%s' into '%s': %s", name,
					 unfinished, strerror(errno));
				rv = IPSNET_EDB;
				goto err_after_aside;
			}
			moved[i] = true;
		}
		/* All in: the folder takes its name, never over another. */
		if (lstat(r->aside, &after) == 0 ||
		    rename(unfinished, r->aside) != 0) {
			snprintf(err, errlen,
				 "cannot rename the folder '%s' to '%s': %s",
				 unfinished, r->aside,
				 lstat(r->aside, &after) == 0
				     ? "that name is taken"
				     : strerror(errno));
			rv = IPSNET_EDB;
			goto err_after_aside;
		}
		named = true;
	}
	if (rename(tmp, path) != 0) {
		snprintf(err, errlen, "cannot rename '%s' to '%s': %s", tmp,
			 path, strerror(errno));
		rv = IPSNET_EDB;
		goto err_after_aside;
	}
	if (named) {
		int fd = open(r->aside, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd >= 0) {
			(void)fsync(fd);
			close(fd);
		}
	}
	sync_folder_of(path);
	close(from);
	return 0;

err_after_aside:;
	/* The files this one moved go back; the folder keeps its unfinished
	 * name while it holds those of a restore stopped before. */
	bool back = !named || rename(r->aside, unfinished) == 0;
	const char *where = back ? unfinished : r->aside;
	if (move_back(path, where, base, moved, ARRAY_SIZE(db_file_suffixes)) !=
		0 ||
	    !back) {
		/* Say where things are: the database is not in its place. */
		size_t used = strlen(err);
		snprintf(err + used, errlen - used,
			 "; the replaced files could not all be moved back: "
			 "they are in '%s', the backup's copy in '%s'",
			 where, tmp);
		r->changed = true;
		close(from);
		return rv;
	}
	r->aside[0] = '\0';
err_after_tmp:
	unlink(tmp);
	remove_beside(tmp);
err_after_from:
	close(from);
	return rv;
}
