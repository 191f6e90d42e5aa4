#include "store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "alloc.h"
#include "ipsnet_errors.h"
#include "log.h"
#include "util.h"

/* Each step brings the schema from version i to i + 1. Append only: a step
 * that has shipped is never edited. */
static const char *const migrations[] = {
    /* 1: the organisation registry */
    "CREATE TABLE organisation ("
    "  id TEXT PRIMARY KEY,"
    "  kind TEXT NOT NULL CHECK (kind IN "
    "('GGZ','MUNICIPALITY','UWV','NETWORK')),"
    "  name TEXT NOT NULL,"
    "  region INTEGER NOT NULL CHECK (region BETWEEN 1 AND 35),"
    "  cbs_code TEXT,"
    "  active INTEGER NOT NULL DEFAULT 1"
    ") STRICT;",

    /* 2: the journal, its projections and the audit trail */
    "CREATE TABLE journal ("
    "  seq INTEGER PRIMARY KEY,"
    "  time_us INTEGER NOT NULL,"
    "  org TEXT NOT NULL,"
    "  user TEXT NOT NULL,"
    "  idem_key BLOB NOT NULL UNIQUE,"
    "  entity_kind TEXT NOT NULL,"
    "  entity_id TEXT NOT NULL,"
    "  version INTEGER NOT NULL,"
    "  payload BLOB NOT NULL,"
    "  response BLOB NOT NULL,"
    "  prev_hash BLOB NOT NULL,"
    "  hash BLOB NOT NULL"
    ") STRICT;"
    "CREATE INDEX journal_entity ON journal (entity_kind, entity_id);"
    "CREATE TRIGGER journal_no_update BEFORE UPDATE ON journal"
    "  BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;"
    "CREATE TRIGGER journal_no_delete BEFORE DELETE ON journal"
    "  BEGIN SELECT RAISE(ABORT, 'the journal is append-only'); END;"
    ""
    "CREATE TABLE program ("
    "  id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    "  owner TEXT NOT NULL, name TEXT NOT NULL,"
    "  region INTEGER NOT NULL, specialists INTEGER NOT NULL"
    ") STRICT;"
    "CREATE TABLE client ("
    "  id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    "  bsn TEXT NOT NULL, name TEXT NOT NULL, birth_date TEXT NOT NULL,"
    "  municipality TEXT NOT NULL, benefit INTEGER NOT NULL,"
    "  registered_by TEXT NOT NULL, registered_at TEXT NOT NULL,"
    "  UNIQUE (registered_by, bsn)"
    ") STRICT;"
    "CREATE TABLE consent ("
    "  id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    "  client_id TEXT NOT NULL REFERENCES client (id),"
    "  recipient TEXT NOT NULL, purpose TEXT NOT NULL,"
    "  granted_at TEXT NOT NULL, valid_until TEXT NOT NULL,"
    "  withdrawn_at TEXT"
    ") STRICT;"
    "CREATE INDEX consent_client ON consent (client_id, recipient);"
    "CREATE TABLE trajectory ("
    "  id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    "  client_id TEXT NOT NULL REFERENCES client (id),"
    "  program_id TEXT NOT NULL REFERENCES program (id),"
    "  referrer TEXT NOT NULL, status INTEGER NOT NULL, note TEXT NOT NULL,"
    "  referred_on TEXT, accepted_on TEXT, declined_on TEXT,"
    "  started_on TEXT, held_on TEXT, resumed_on TEXT, closed_on TEXT,"
    "  cancelled_on TEXT, close_reason TEXT"
    ") STRICT;"
    "CREATE INDEX trajectory_client ON trajectory (client_id);"
    "CREATE INDEX trajectory_program ON trajectory (program_id);"
    "CREATE TABLE trajectory_event ("
    "  trajectory_id TEXT NOT NULL REFERENCES trajectory (id),"
    "  seq INTEGER NOT NULL, status INTEGER NOT NULL, on_date TEXT NOT NULL,"
    "  PRIMARY KEY (trajectory_id, seq)"
    ") STRICT;"
    "CREATE TABLE funding ("
    "  id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    "  trajectory_id TEXT NOT NULL REFERENCES trajectory (id),"
    "  client_id TEXT NOT NULL REFERENCES client (id),"
    "  funder TEXT, other_description TEXT, months INTEGER NOT NULL,"
    "  status INTEGER NOT NULL, requested_on TEXT NOT NULL,"
    "  decided_on TEXT, decision_reference TEXT, reason TEXT"
    ") STRICT;"
    "CREATE INDEX funding_trajectory ON funding (trajectory_id);"
    "CREATE INDEX funding_funder ON funding (funder, status);"
    "CREATE TABLE job ("
    "  id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    "  client_id TEXT NOT NULL REFERENCES client (id),"
    "  trajectory_id TEXT REFERENCES trajectory (id),"
    "  employer TEXT NOT NULL, start_date TEXT NOT NULL, end_date TEXT,"
    "  hours_per_week REAL NOT NULL, competitive INTEGER NOT NULL"
    ") STRICT;"
    "CREATE INDEX job_client ON job (client_id);"
    "CREATE TABLE fidelity_review ("
    "  id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    "  program_id TEXT NOT NULL REFERENCES program (id),"
    "  review_date TEXT NOT NULL, scores TEXT NOT NULL,"
    "  total INTEGER NOT NULL, band TEXT NOT NULL,"
    "  independent INTEGER NOT NULL, recorded_by TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX fidelity_program ON fidelity_review (program_id, "
    "review_date);"
    ""
    "CREATE TABLE audit ("
    "  id INTEGER PRIMARY KEY, time_us INTEGER NOT NULL,"
    "  org TEXT NOT NULL, user TEXT NOT NULL, client_id TEXT,"
    "  action TEXT NOT NULL, object TEXT NOT NULL, result TEXT NOT NULL,"
    "  peer TEXT NOT NULL"
    ") STRICT;"
    "CREATE INDEX audit_client ON audit (client_id, id);"
    "CREATE INDEX audit_time ON audit (time_us);"
    "CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;"
    "CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;",

    /* 3: who asked for each funding request (only it may withdraw it), and
     * a client's funding requests found by client */
    "ALTER TABLE funding ADD COLUMN requested_by TEXT;"
    "CREATE INDEX funding_requested_by ON funding (requested_by, status);"
    "CREATE INDEX funding_client ON funding (client_id);",

    /* 4: fewer B-trees written by each change (at one change a commit,
     * every B-tree a change touches is one more page in the WAL and
     * through fdatasync). The client table WITHOUT ROWID: its rows are
     * found by id in the table itself instead of in an index beside it.
     * The audit trail's time index goes: no query reads the trail by time
     * through it (by time means from an id on: ids and times grow
     * together). The journal's entity index keeps only the funding
     * entries, the only ones a query looks up by entity (report.c,
     * funding_seq). Rebuilding client means dropping the table that
     * others refer to: store_migrate runs the steps with foreign keys off
     * and checks them before each step commits. */
    "CREATE TABLE client_v4 ("
    "  id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
    "  bsn TEXT NOT NULL, name TEXT NOT NULL, birth_date TEXT NOT NULL,"
    "  municipality TEXT NOT NULL, benefit INTEGER NOT NULL,"
    "  registered_by TEXT NOT NULL, registered_at TEXT NOT NULL,"
    "  UNIQUE (registered_by, bsn)"
    ") STRICT, WITHOUT ROWID;"
    "INSERT INTO client_v4 (id, version, bsn, name, birth_date,"
    "  municipality, benefit, registered_by, registered_at)"
    "  SELECT id, version, bsn, name, birth_date, municipality, benefit,"
    "  registered_by, registered_at FROM client;"
    "DROP TABLE client;"
    "ALTER TABLE client_v4 RENAME TO client;"
    "DROP INDEX audit_time;"
    "DROP INDEX journal_entity;"
    "CREATE INDEX journal_funding ON journal (entity_id)"
    "  WHERE entity_kind = 'funding';",

    /* 5: a job ended before its first day was withdrawn: it never began
     * (a contract that fell through) and counts in no report */
    "ALTER TABLE job ADD COLUMN withdrawn INTEGER NOT NULL DEFAULT 0;",

    /* 6: who asked for the funding requests made before step 3, which
     * added the column empty: the organisation of the journal entry that
     * made each request, as a replay of it fills it in. Empty, the asker
     * could not withdraw it, nor find it in its funding list, and verify
     * called the state damaged. */
    "UPDATE funding SET requested_by = (SELECT org FROM journal WHERE"
    "  entity_kind = 'funding' AND entity_id = funding.id"
    "  ORDER BY seq LIMIT 1)"
    "  WHERE requested_by IS NULL;",

    /* 7: the audit trail chained like the journal: each row's hash is
     * SHA-256 over the hash of the row before it and its own fields
     * (journal_audit_hash), so that verify finds a changed, removed or
     * added row. Rows from before have none; the chain begins after
     * them. */
    "ALTER TABLE audit ADD COLUMN hash BLOB;",

    /* 8: a secret random salt in every new journal entry, in its hash
     * (journal_entry_hash_salted) and never sent: the hash goes out in
     * every sync event, also to subscribers that see the entry cut, and
     * without the salt the parts they do not see (a referral's note) could
     * be guessed and tested against it offline. Entries from before have
     * none and keep their hash (the v1 form). */
    "ALTER TABLE journal ADD COLUMN salt BLOB;",
};

#define SCHEMA_VERSION ((int)ARRAY_SIZE(migrations))

static int db_error(sqlite3 *db, const char *what, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s: %s", what,
		 db != NULL ? sqlite3_errmsg(db) : "out of memory");
	return IPSNET_EDB;
}

static int user_version(sqlite3 *db, int *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) !=
	    SQLITE_OK)
		return IPSNET_EDB;
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : IPSNET_EDB;
}

/* The value of a PRAGMA that returns one integer, or -1. */
static int pragma_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return -1;
	int v = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : -1;
	sqlite3_finalize(st);
	return v;
}

/* 0 when no row breaks a foreign key, else IPSNET_EDB with err. */
static int check_foreign_keys(sqlite3 *db, int version, char *err,
			      size_t errlen)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, "PRAGMA foreign_key_check", -1, &st,
			       NULL) != SQLITE_OK)
		return db_error(db, "cannot check the foreign keys", err,
				errlen);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		snprintf(err, errlen,
			 "cannot migrate the schema to version %d: a row of "
			 "'%s' refers to a missing row of '%s'",
			 version, (const char *)sqlite3_column_text(st, 0),
			 (const char *)sqlite3_column_text(st, 2));
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return 0;
	return rc == SQLITE_ROW
		   ? IPSNET_EDB
		   : db_error(db, "cannot check the foreign keys", err, errlen);
}

static int migrate_steps(sqlite3 *db, int v, int to, char *err,
			 size_t errlen)
{
	for (; v < to; v++) {
		char sql[64];
		if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
			SQLITE_OK ||
		    sqlite3_exec(db, migrations[v], NULL, NULL, NULL) !=
			SQLITE_OK) {
			char what[64];
			snprintf(what, sizeof(what),
				 "cannot migrate the schema to version %d",
				 v + 1);
			int rv = db_error(db, what, err, errlen);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return rv;
		}
		int rv = check_foreign_keys(db, v + 1, err, errlen);
		if (rv != 0) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return rv;
		}
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d", v + 1);
		if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK ||
		    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
			rv = db_error(db, "cannot commit the migration", err,
				      errlen);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			return rv;
		}
	}
	return 0;
}

int store_migrate(sqlite3 *db, char *err, size_t errlen)
{
	return store_migrate_to(db, SCHEMA_VERSION, err, errlen);
}

int store_schema_version(void)
{
	return SCHEMA_VERSION;
}

int store_check_not_newer(sqlite3 *db, int *version, char *err, size_t errlen)
{
	if (user_version(db, version) != 0)
		return db_error(db, "cannot read the schema version", err,
				errlen);
	if (*version > SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "the database has schema version %d, newer than this "
			 "ipsnetd knows (%d): use a newer ipsnetd",
			 *version, SCHEMA_VERSION);
		return IPSNET_EDB;
	}
	return 0;
}

int store_migrate_to(sqlite3 *db, int to, char *err, size_t errlen)
{
	int v;
	if (store_check_not_newer(db, &v, err, errlen) != 0)
		return IPSNET_EDB;
	if (to > SCHEMA_VERSION)
		to = SCHEMA_VERSION;
	if (v >= to)
		return 0;
	/* A step may rebuild a table that others refer to (make the new
	 * one, copy, drop the old, rename: SQLite's way), which foreign keys
	 * would refuse half-way. SQLite changes the setting only outside a
	 * transaction; each step checks the keys before it commits. */
	int fk = pragma_int(db, "PRAGMA foreign_keys");
	if (fk == 1 &&
	    sqlite3_exec(db, "PRAGMA foreign_keys = OFF", NULL, NULL, NULL) !=
		SQLITE_OK)
		return db_error(db, "cannot migrate the schema", err, errlen);
	int rv = migrate_steps(db, v, to, err, errlen);
	if (fk == 1 &&
	    sqlite3_exec(db, "PRAGMA foreign_keys = ON", NULL, NULL, NULL) !=
		SQLITE_OK &&
	    rv == 0)
		rv = db_error(db, "cannot turn foreign keys back on", err,
			      errlen);
	return rv;
}

/* A config that names no organisation gives the development network's
 * demo ones. Written over a registry of other organisations (a production
 * config whose [organisation] sections were lost: a template, a tool
 * that wrote [server] alone) it would shut every one of them out at
 * once; that is refused, with the first of them named. */
static int keeps_the_registered(sqlite3 *db, const struct server_config *c,
				char *err, size_t errlen)
{
	sqlite3_stmt *st;
	char sql[512] = "SELECT id, count(*) OVER () FROM organisation WHERE "
			"active AND id NOT IN (";
	size_t n = strlen(sql);
	for (size_t i = 0; i < c->n_orgs && n < sizeof(sql); i++)
		n += (size_t)snprintf(sql + n, sizeof(sql) - n, "%s'%s'",
				      i > 0 ? ", " : "", c->orgs[i].id);
	if (n >= sizeof(sql) - 16)
		return db_error(db, "cannot read the registry", err, errlen);
	snprintf(sql + n, sizeof(sql) - n, ") ORDER BY id LIMIT 1");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_error(db, "cannot read the registry", err, errlen);
	int rc = sqlite3_step(st);
	int rv = 0;
	if (rc == SQLITE_ROW) {
		snprintf(err, errlen,
			 "the config names no organisation ([organisation ID] "
			 "sections), so the registry would be the development "
			 "network's demo organisations, and the %lld "
			 "registered now ('%s' first) would be shut out: name "
			 "them in the config",
			 (long long)sqlite3_column_int64(st, 1),
			 (const char *)sqlite3_column_text(st, 0));
		rv = IPSNET_ECONFIG;
	} else if (rc != SQLITE_DONE) {
		rv = db_error(db, "cannot read the registry", err, errlen);
	}
	sqlite3_finalize(st);
	return rv;
}

static int sync_registry(sqlite3 *db, const struct server_config *c, char *err,
			 size_t errlen)
{
	sqlite3_stmt *st;
	int rv = 0;

	if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		return db_error(db, "cannot update the registry", err, errlen);
	if (c->demo_orgs) {
		rv = keeps_the_registered(db, c, err, errlen);
		if (rv != 0)
			goto err_after_begin;
	}
	if (sqlite3_exec(db, "UPDATE organisation SET active = 0", NULL, NULL,
			 NULL) != SQLITE_OK) {
		rv = db_error(db, "cannot update the registry", err, errlen);
		goto err_after_begin;
	}
	if (sqlite3_prepare_v2(
		db,
		"INSERT INTO organisation (id, kind, name, region, cbs_code, active)"
		" VALUES (?1, ?2, ?3, ?4, ?5, 1)"
		" ON CONFLICT (id) DO UPDATE SET kind = ?2, name = ?3,"
		" region = ?4, cbs_code = ?5, active = 1",
		-1, &st, NULL) != SQLITE_OK) {
		rv = db_error(db, "cannot update the registry", err, errlen);
		goto err_after_begin;
	}
	for (size_t i = 0; i < c->n_orgs; i++) {
		const struct org_config *o = &c->orgs[i];
		sqlite3_bind_text(st, 1, o->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, org_kind_name(o->kind), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 3, o->name, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 4, o->region);
		if (o->cbs_code[0] != '\0')
			sqlite3_bind_text(st, 5, o->cbs_code, -1,
					  SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 5);
		if (sqlite3_step(st) != SQLITE_DONE) {
			rv = db_error(db, "cannot update the registry", err,
				      errlen);
			goto err_after_stmt;
		}
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
	sqlite3_finalize(st);
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rv = db_error(db, "cannot commit the registry", err, errlen);
		goto err_after_begin;
	}
	return 0;

err_after_stmt:
	sqlite3_finalize(st);
err_after_begin:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rv;
}

int store_make_folder(const char *path, char *err, size_t errlen)
{
	char dir[CONFIG_MAX_PATH];
	util_strlcpy(dir, path, sizeof(dir));
	char *slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	if (mkdir(dir, 0750) == 0)
		return 0;
	int why = errno;
	if (why == EEXIST) {
		if (access(dir, W_OK) == 0)
			return 0;
		why = errno;
	}
	char *up = strrchr(dir, '/');
	if (why == ENOENT && up != NULL && up != dir) {
		*up = '\0';
		snprintf(err, errlen,
			 "cannot create the folder of '%s': the folder '%s' "
			 "does not exist (init makes the database's own folder "
			 "only); make it, or correct database in the config",
			 path, dir);
		return IPSNET_EDB;
	}
	snprintf(err, errlen, "cannot create the folder of '%s': '%s': %s",
		 path, dir, strerror(why));
	return IPSNET_EDB;
}

/* The lock this process holds: its file, and whether this process made the
 * file (store_unlock removes only that). */
static struct {
	int fd;
	bool made;
	char path[CONFIG_MAX_PATH + 8];
} held = {.fd = -1};

/* The lock file of database into path. One database, one lock, by
 * whatever name it is given: a link is locked beside the file it names,
 * where SQLite opens it, also when that file is not made yet
 * (store_db_file; realpath fails then). */
static void lock_path(const char *database, char *path, size_t cap)
{
	char real[PATH_MAX];
	const char *at = store_db_file(database, real, sizeof(real)) == 0 &&
				 strlen(real) < CONFIG_MAX_PATH
			     ? real
			     : database;
	snprintf(path, cap, "%s.lock", at);
}

int store_lock(const char *database, char *err, size_t errlen)
{
	char path[CONFIG_MAX_PATH + 8], pid[32] = "";
	struct stat locked, named;
	lock_path(database, path, sizeof(path));
again:;
	int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	bool made = fd >= 0;
	bool exists = fd < 0 && errno == EEXIST;
	if (exists) {
		fd = open(path, O_RDWR | O_CLOEXEC);
		/* Gone since: removed by a refused command that made it
		 * (store_unlock), not a folder without a lock. A name still
		 * there (a symlink to nothing) is opened as it always was. */
		if (fd < 0 && errno == ENOENT) {
			if (lstat(path, &named) != 0 && errno == ENOENT)
				goto again;
			fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		}
	}
	if (fd < 0 && (errno == EROFS || errno == EACCES))
		fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && exists) {
		/* Another user's (a command run as root made it): going on
		 * unlocked would let a second writer in beside the daemon. */
		int why = errno;
		snprintf(err, errlen,
			 "cannot open the lock file '%s': %s%s; give it to the "
			 "user ipsnetd runs as, or remove it while no ipsnetd "
			 "runs",
			 path, strerror(why),
			 why == EACCES || why == EPERM
			     ? " (another user's: made by an ipsnetd run as "
			       "root?)"
			     : "");
		return IPSNET_EBUSY;
	}
	if (fd < 0)
		return 0;
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		ssize_t n = pread(fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? strcspn(pid, "\n") : 0] = '\0';
		snprintf(
		    err, errlen,
		    "the database '%s' is in use by another ipsnetd%s%s%s: "
		    "one serve, init, rebuild or restore at a time writes "
		    "it",
		    database, pid[0] != '\0' ? " (pid " : "", pid,
		    pid[0] != '\0' ? ")" : "");
		close(fd);
		return IPSNET_EBUSY;
	}
	/* A refused command that made the file removes it (store_unlock),
	 * perhaps between our open and our flock: the lock that counts is
	 * on the file the name still gives. */
	if (fstat(fd, &locked) != 0 || stat(path, &named) != 0 ||
	    locked.st_dev != named.st_dev || locked.st_ino != named.st_ino) {
		close(fd);
		goto again;
	}
	/* The holder's pid, for the next one's sentence; the fd stays open
	 * (and locked) until the process ends. */
	int len = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(fd, 0) == 0 && pwrite(fd, pid, (size_t)len, 0) != len)
		(void)ftruncate(fd, 0);
	held.fd = fd;
	held.made = made;
	util_strlcpy(held.path, path, sizeof(held.path));
	return 0;
}

int store_lock_holder(const char *database, long *pid)
{
	char path[CONFIG_MAX_PATH + 8], buf[32] = "";
	lock_path(database, path, sizeof(path));
	*pid = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	int other = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
	if (other) {
		ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		*pid = strtol(buf, NULL, 10);
	}
	close(fd); /* and with it a shared lock taken */
	return other;
}

void store_unlock(void)
{
	if (held.fd < 0)
		return;
	/* Removed while still locked: no one else can hold it meanwhile. */
	if (held.made)
		unlink(held.path);
	close(held.fd);
	held.fd = -1;
}

int store_lock_give(uid_t uid, gid_t gid)
{
	if (held.fd < 0 || !held.made)
		return 0;
	return fchown(held.fd, uid, gid);
}

int store_tables(sqlite3 *db, int *tables, bool *journal, char *first,
		 size_t cap)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(
		db,
		"SELECT count(*), count(*) FILTER (WHERE name = 'journal'),"
		" min(name) FROM sqlite_schema WHERE type = 'table' AND"
		" name NOT LIKE 'sqlite\\_%' ESCAPE '\\'",
		-1, &st, NULL) != SQLITE_OK)
		return IPSNET_EDB;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		*tables = sqlite3_column_int(st, 0);
		*journal = sqlite3_column_int(st, 1) > 0;
		const char *name = (const char *)sqlite3_column_text(st, 2);
		util_strlcpy(first, name != NULL ? name : "", cap);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : IPSNET_EDB;
}

/* 0 when the database at path is empty or ipsnet's (a journal and a
 * schema version, or schema 1's registry alone); else IPSNET_EDB with err.
 * Asked before init changes a thing: a config's database that names another
 * program's SQLite file (a typo) must find it as it was, not in WAL mode with
 * our tables. */
static int ours_or_empty(sqlite3 *db, const char *path, char *err,
			 size_t errlen)
{
	char what[CONFIG_MAX_PATH + 32], first[128];
	int v, tables;
	bool journal;
	if (user_version(db, &v) != 0 ||
	    store_tables(db, &tables, &journal, first, sizeof(first)) != 0) {
		snprintf(what, sizeof(what), "cannot read '%s'", path);
		return db_error(db, what, err, errlen);
	}
	/* Schema 1 is the registry alone: an init that stopped before step 2
	 * committed (the steps commit one by one) left it, ours. */
	bool schema_1 =
	    v == 1 && tables == 1 && strcmp(first, "organisation") == 0;
	if (tables > 0 && !schema_1 && (v == 0 || !journal)) {
		snprintf(err, errlen,
			 "'%s' is an SQLite database but not ipsnet's (it "
			 "holds tables such as '%s' and no journal): nothing "
			 "in it was changed; give the config's database a "
			 "file of its own",
			 path, first);
		return IPSNET_EDB;
	}
	return 0;
}

size_t store_restore_copies(const char *path, bool verified, const char *keep,
			    bool remove, char *first, size_t cap)
{
	char dir[CONFIG_MAX_PATH], prefix[CONFIG_MAX_PATH + 16];
	size_t found = 0;
	snprintf(prefix, sizeof(prefix), "%s%s",
		 util_folder_of(dir, sizeof(dir), path),
		 verified ? STORE_RESTORE_VERIFIED : STORE_RESTORE_COPY);
	if (cap > 0)
		first[0] = '\0';
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	size_t n = strlen(prefix);
	char name[2 * CONFIG_MAX_PATH + 8];
	const char *keep_name = NULL;
	if (keep != NULL)
		keep_name =
		    strrchr(keep, '/') != NULL ? strrchr(keep, '/') + 1 : keep;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		if (strncmp(e->d_name, prefix, n) != 0 ||
		    strlen(e->d_name) != n + 6)
			continue;
		if (keep_name != NULL && strcmp(e->d_name, keep_name) == 0)
			continue;
		snprintf(name, sizeof(name), "%s/%s", dir, e->d_name);
		if (found++ == 0 && cap > 0)
			util_strlcpy(first, name, cap);
		if (remove)
			unlink(name);
	}
	closedir(d);
	return found;
}

/* The folders PATH.before-restore-*SUFFIX (suffix "": any), as
 * store_restore_unfinished says. */
static size_t restore_folders(const char *path, const char *suffix, char *first,
			      size_t cap)
{
	char dir[CONFIG_MAX_PATH], prefix[CONFIG_MAX_PATH + 32];
	size_t found = 0, s = strlen(suffix);
	snprintf(prefix, sizeof(prefix), "%s.before-restore-",
		 util_folder_of(dir, sizeof(dir), path));
	if (cap > 0)
		first[0] = '\0';
	DIR *d = opendir(dir);
	if (d == NULL)
		return 0;
	size_t n = strlen(prefix);
	char name[2 * CONFIG_MAX_PATH + 8];
	struct stat st;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t len = strlen(e->d_name);
		if (strncmp(e->d_name, prefix, n) != 0 || len <= n + s ||
		    strcmp(e->d_name + len - s, suffix) != 0)
			continue;
		snprintf(name, sizeof(name), "%s/%s", dir, e->d_name);
		if (lstat(name, &st) != 0 || !S_ISDIR(st.st_mode))
			continue;
		/* The first by name: the same one each time asked. */
		if (cap > 0 && (found == 0 || strcmp(name, first) < 0))
			util_strlcpy(first, name, cap);
		found++;
	}
	closedir(d);
	return found;
}

size_t store_restore_unfinished(const char *path, char *first, size_t cap)
{
	return restore_folders(path, ".unfinished", first, cap);
}

int store_db_file(const char *path, char *out, size_t cap)
{
	char cur[PATH_MAX], link[PATH_MAX], dir[PATH_MAX], real[PATH_MAX];
	struct stat st;
	if (strlen(path) >= sizeof(cur)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	util_strlcpy(cur, path, sizeof(cur));
	for (int hops = 0; hops < 40; hops++) {
		int rc = lstat(cur, &st);
		if (rc != 0 && errno != ENOENT)
			return -1;
		if (rc != 0 || !S_ISLNK(st.st_mode)) {
			/* Not there, or no link: its folder as it really is. */
			const char *base =
			    util_folder_of(dir, sizeof(dir), cur);
			if (realpath(dir, real) == NULL)
				return -1;
			if ((size_t)snprintf(out, cap, "%s/%s",
					     strcmp(real, "/") == 0 ? "" : real,
					     base) >= cap) {
				errno = ENAMETOOLONG;
				return -1;
			}
			return 0;
		}
		ssize_t n = readlink(cur, link, sizeof(link) - 1);
		if (n < 0)
			return -1;
		link[n] = '\0';
		if (link[0] == '/') {
			util_strlcpy(cur, link, sizeof(cur));
		} else {
			util_folder_of(dir, sizeof(dir), cur);
			if ((size_t)snprintf(real, sizeof(real), "%s/%s", dir,
					     link) >= sizeof(real)) {
				errno = ENAMETOOLONG;
				return -1;
			}
			util_strlcpy(cur, real, sizeof(cur));
		}
	}
	errno = ELOOP;
	return -1;
}

/* Where a restore of the database at path leaves its files: beside path,
 * or for a link beside the file it names (file: PATH_MAX bytes). */
static const char *restore_beside(const char *path, char *file)
{
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode) &&
	    store_db_file(path, file, PATH_MAX) == 0 &&
	    strlen(file) < CONFIG_MAX_PATH)
		return file;
	return path;
}

/* When there is no database at path but a restore was stopped on its way
 * (the folder it moves the database's files into, not finished; the
 * verified copy of one killed before its last rename beside it; or the
 * unverified copy of one killed while it copied or verified): true,
 * with err saying so. init would make an empty journal there (to which
 * SQLite would apply a -wal left beside it), and serve would ask for
 * one. */
static bool restore_interrupted(const char *path, char *err, size_t errlen)
{
	char copy[2 * CONFIG_MAX_PATH + 8], file[PATH_MAX];
	struct stat st;
	path = restore_beside(path, file);
	if (lstat(path, &st) == 0 || errno != ENOENT)
		return false;
	if (store_restore_unfinished(path, copy, sizeof(copy)) > 0) {
		snprintf(err, errlen,
			 "there is no database '%s', but '%s' is there: a "
			 "restore was stopped while it moved the database's "
			 "files into that folder. Run 'ipsnetd restore' with "
			 "the backup again (it moves the rest in), or move "
			 "the files in that folder back beside '%s'",
			 path, copy, path);
		return true;
	}
	/* Where the files it replaced went: a restore where there was no
	 * database moved none, and made no folder. */
	char aside[CONFIG_MAX_PATH + 64];
	if (restore_folders(path, "", NULL, 0) > 0)
		snprintf(aside, sizeof(aside),
			 "the files it was to replace are in "
			 "'%s.before-restore-*/'",
			 path);
	else
		snprintf(aside, sizeof(aside),
			 "there were no files to replace (no folder "
			 "'%s.before-restore-*/')",
			 path);
	if (store_restore_copies(path, true, NULL, false, copy, sizeof(copy)) >
	    0) {
		snprintf(err, errlen,
			 "there is no database '%s', but '%s' is there: a "
			 "restore was stopped before its last step. Run "
			 "'ipsnetd restore' with the backup again, or rename "
			 "that verified copy to '%s'; %s",
			 path, copy, path, aside);
		return true;
	}
	/* Killed while it copied or verified: never to be put in place. */
	if (store_restore_copies(path, false, NULL, false, copy,
				 sizeof(copy)) == 0)
		return false;
	snprintf(err, errlen,
		 "there is no database '%s', but '%s' is there: a restore was "
		 "stopped before it had copied and verified the backup, so "
		 "that file may be partial or damaged; do not put it in "
		 "place. Run 'ipsnetd restore' with the backup again (it "
		 "removes that file); %s",
		 path, copy, aside);
	return true;
}

void store_say_restore_copies(const char *database)
{
	char file[PATH_MAX], copy[2 * CONFIG_MAX_PATH + 8], q[sizeof(copy) + 8];
	const char *path = restore_beside(database, file);
	for (int verified = 0; verified <= 1; verified++) {
		size_t n = store_restore_copies(path, verified, NULL, false,
						copy, sizeof(copy));
		if (n == 0)
			continue;
		log_warn("a stopped restore left a copy",
			 "file=%s copies=%zu detail=\"a restore of a backup "
			 "was stopped before it moved this database aside: "
			 "the database served is the one it was to replace. "
			 "The copy holds personal data: run the restore "
			 "again (it removes the copy), or delete it\"",
			 log_quote(q, sizeof(q), copy), n);
	}
}

int store_init(const struct server_config *c, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int rv;

	if (restore_interrupted(c->database, err, errlen))
		return IPSNET_EDB;
	if ((rv = store_make_folder(c->database, err, errlen)) != 0)
		return rv;
	if (sqlite3_open_v2(c->database, &db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK) {
		char what[CONFIG_MAX_PATH + 32];
		snprintf(what, sizeof(what), "cannot open '%s'", c->database);
		rv = db_error(db, what, err, errlen);
		goto err_after_db;
	}
	sqlite3_busy_timeout(db, 5000);
	rv = ours_or_empty(db, c->database, err, errlen);
	if (rv != 0)
		goto err_after_db;
	if (sqlite3_exec(db,
			 "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
			 " PRAGMA foreign_keys = ON",
			 NULL, NULL, NULL) != SQLITE_OK) {
		rv = db_error(db, "cannot set WAL mode", err, errlen);
		goto err_after_db;
	}
	chmod(c->database, 0600);
	rv = store_migrate(db, err, errlen);
	if (rv != 0)
		goto err_after_db;
	rv = sync_registry(db, c, err, errlen);
	if (rv != 0)
		goto err_after_db;
	sqlite3_close(db);
	return 0;

err_after_db:
	sqlite3_close(db);
	return rv;
}

static int cmp_org(const void *a, const void *b)
{
	return strcmp(((const struct org_config *)a)->id,
		      ((const struct org_config *)b)->id);
}

int store_load_registry(const char *database, struct registry *out, char *err,
			size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rv, v = 0;

	out->n = 0;
	out->orgs = NULL;
	if (sqlite3_open_v2(database, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		int why = db != NULL ? sqlite3_system_errno(db) : 0;
		sqlite3_close(db);
		/* One that is there is not made by init: its owner or mode
		 * (a restored copy, as root) is what to fix. */
		if (access(database, F_OK) == 0 && why != 0)
			snprintf(err, errlen,
				 "cannot open the database '%s': %s (check "
				 "its owner and mode: the user ipsnetd runs "
				 "as reads and writes it)",
				 database, strerror(why));
		else if (!restore_interrupted(database, err, errlen))
			snprintf(err, errlen,
				 "cannot open the database '%s': run 'ipsnetd "
				 "init' first",
				 database);
		/* Each is for a person to set right: no start will. */
		return IPSNET_ECONFIG;
	}
	sqlite3_busy_timeout(db, 5000);
	if (user_version(db, &v) != 0) {
		/* Not an old schema: init could not read it either. */
		char what[CONFIG_MAX_PATH + 32];
		snprintf(what, sizeof(what), "cannot read the database '%s'",
			 database);
		rv = db_error(db, what, err, errlen);
		goto err_after_db;
	}
	if (v > SCHEMA_VERSION) {
		/* init refuses it too: only the ipsnetd that wrote it can. */
		snprintf(err, errlen,
			 "the database '%s' has schema version %d, newer than "
			 "this ipsnetd knows (%d): use a newer ipsnetd",
			 database, v, SCHEMA_VERSION);
		rv = IPSNET_ECONFIG;
		goto err_after_db;
	}
	if (v != SCHEMA_VERSION) {
		snprintf(err, errlen,
			 "the database '%s' has schema version %d, this "
			 "ipsnetd needs %d: run 'ipsnetd init'",
			 database, v, SCHEMA_VERSION);
		rv = IPSNET_ECONFIG;
		goto err_after_db;
	}
	if (sqlite3_prepare_v2(db,
			       "SELECT id, kind, name, region, cbs_code FROM "
			       "organisation WHERE active ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK) {
		rv = db_error(db, "cannot read the registry", err, errlen);
		goto err_after_db;
	}
	size_t cap = 0;
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (out->n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			struct org_config *grown =
			    ipsnet_realloc(out->orgs, cap * sizeof(*grown));
			if (grown == NULL) {
				snprintf(err, errlen, "out of memory");
				rv = IPSNET_ENOMEM;
				goto err_after_stmt;
			}
			out->orgs = grown;
		}
		struct org_config *o = &out->orgs[out->n++];
		memset(o, 0, sizeof(*o));
		util_strlcpy(o->id, (const char *)sqlite3_column_text(st, 0),
			     sizeof(o->id));
		o->kind = org_kind_parse(
		    (const char *)sqlite3_column_text(st, 1));
		util_strlcpy(o->name, (const char *)sqlite3_column_text(st, 2),
			     sizeof(o->name));
		o->region = sqlite3_column_int(st, 3);
		const unsigned char *cbs = sqlite3_column_text(st, 4);
		util_strlcpy(o->cbs_code, cbs != NULL ? (const char *)cbs : "",
			     sizeof(o->cbs_code));
	}
	if (rc != SQLITE_DONE) {
		rv = db_error(db, "cannot read the registry", err, errlen);
		goto err_after_stmt;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (out->n > 1)
		qsort(out->orgs, out->n, sizeof(*out->orgs), cmp_org);
	return 0;

err_after_stmt:
	sqlite3_finalize(st);
	registry_free(out);
err_after_db:
	sqlite3_close(db);
	return rv;
}

int store_update_registry(const struct server_config *c, char *err,
			  size_t errlen)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(c->database, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK) {
		int rv = db_error(db,
				  "cannot open the database to update its "
				  "registry",
				  err, errlen);
		sqlite3_close(db);
		return rv;
	}
	sqlite3_busy_timeout(db, 5000);
	int rv = sync_registry(db, c, err, errlen);
	sqlite3_close(db);
	return rv;
}

static bool same_org(const struct org_config *a, const struct org_config *b)
{
	return a->kind == b->kind && a->region == b->region &&
	       strcmp(a->name, b->name) == 0 &&
	       strcmp(a->cbs_code, b->cbs_code) == 0;
}

bool registry_is_config(const struct registry *r, const struct server_config *c)
{
	if (r->n != c->n_orgs)
		return false;
	for (size_t i = 0; i < c->n_orgs; i++) {
		const struct org_config *have = registry_find(r, c->orgs[i].id);
		if (have == NULL || !same_org(have, &c->orgs[i]))
			return false;
	}
	return true;
}

/* Appends id to the list of key in out ("added=a,b"); a list cut for
 * room ends in ",...", and nothing comes after it. */
static void say_id(char *out, size_t cap, const char **last_key,
		   const char *key, const char *id)
{
	static const char cut[] = ",...";
	size_t len = strlen(out);
	if (*last_key == cut || len + sizeof(cut) > cap)
		return;
	int w;
	if (*last_key != key)
		w = snprintf(out + len, cap - len, "%s%s=%s",
			     len > 0 ? " " : "", key, id);
	else
		w = snprintf(out + len, cap - len, ",%s", id);
	if (w >= 0 && (size_t)w < cap - len) {
		*last_key = key;
		return;
	}
	snprintf(out + len, cap - len, "%s", cut);
	*last_key = cut;
}

void registry_diff(const struct registry *before, const struct registry *after,
		   char *out, size_t cap)
{
	const char *last = NULL;
	out[0] = '\0';
	/* Three passes, one a key; each looks up by id (both are sorted). */
	for (size_t i = 0; i < after->n; i++)
		if (registry_find(before, after->orgs[i].id) == NULL)
			say_id(out, cap, &last, "added", after->orgs[i].id);
	for (size_t i = 0; i < before->n; i++)
		if (registry_find(after, before->orgs[i].id) == NULL)
			say_id(out, cap, &last, "removed", before->orgs[i].id);
	for (size_t i = 0; i < after->n; i++) {
		const struct org_config *was =
		    registry_find(before, after->orgs[i].id);
		if (was != NULL && !same_org(was, &after->orgs[i]))
			say_id(out, cap, &last, "changed", after->orgs[i].id);
	}
}

const struct org_config *registry_find(const struct registry *r,
				       const char *id)
{
	struct org_config key;
	util_strlcpy(key.id, id, sizeof(key.id));
	return r->n == 0 ? NULL
			 : bsearch(&key, r->orgs, r->n, sizeof(*r->orgs),
				   cmp_org);
}

void registry_free(struct registry *r)
{
	ipsnet_free(r->orgs);
	r->orgs = NULL;
	r->n = 0;
}
