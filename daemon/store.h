/* The daemon's SQLite file: schema and migrations, and the organisation
 * registry. The journal (journal.h) keeps its tables in the same file.
 *
 * Functions here open their own connection and may block on the disk: call
 * them at start-up, from `ipsnetd init`, or on a worker thread, never on
 * the loop thread. */
#ifndef IPSNETD_STORE_H
#define IPSNETD_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <sqlite3.h>

#include "config.h"

struct registry {
	size_t n;
	struct org_config *orgs; /* sorted by id */
};

/* Creates the database at c->database if it does not exist, brings its
 * schema up to date and makes the registry equal to c's organisations:
 * new ones are added, changed ones updated, ones no longer configured are
 * marked inactive (their history stays). Returns 0 or IPSNET_EDB with a
 * sentence in err. */
int store_init(const struct server_config *c, char *err, size_t errlen);

/* Makes the database's own folder when it is not there: one level only, as
 * a missing folder above it is more likely a typo in the path than one to
 * make. 0, or IPSNET_EDB with err naming the folder and why. init makes it
 * before store_lock, which can lock only in a folder that is there. */
int store_make_folder(const char *database, char *err, size_t errlen);

/* Takes the lock of the database for this process, for as long as it
 * lives: serve, init and rebuild write the database, and two of them at
 * once (a second daemon started on the same file) would interleave their
 * journals. The lock is flock() on DATABASE.lock (made 0600, holding the
 * pid of its holder; never removed once the command goes on, as a lock of
 * a process that is gone is gone with it; see store_unlock). verify and backup
 * only read, and take none. Returns 0, or IPSNET_EBUSY with a sentence naming
 * the holder's pid, or one naming a lock file that is there but cannot be
 * opened (another user's). Where the lock file cannot be made (no such folder
 * yet, a read-only one) there is nothing to lock against: 0. */
int store_lock(const char *database, char *err, size_t errlen);

/* Whether a process holds the lock of database: 1 with its pid (as the
 * lock file says, 0 when it says none), 0 when none does or there is no
 * lock file. Takes no lock that outlasts the call. */
int store_lock_holder(const char *database, long *pid);

/* The copies a restore makes beside the database at path (journal_restore):
 * it copies the backup into PATH.restore-XXXXXX (STORE_RESTORE_COPY) and,
 * once that copy is fsynced and verified, renames it to
 * PATH.restored-XXXXXX (STORE_RESTORE_VERIFIED) before it moves the old
 * files aside. Of the kind verified says: how many are there but keep
 * (NULL: none; else the copy of the restore that asks), the first's path
 * in first (cap bytes); removed too when remove. One is left only by a
 * restore that was stopped: an unverified one may be partial or damaged
 * and must never be put in place. */
#define STORE_RESTORE_COPY ".restore-"
#define STORE_RESTORE_VERIFIED ".restored-"
size_t store_restore_copies(const char *path, bool verified, const char *keep,
			    bool remove, char *first, size_t cap);

/* Logs a warning for each kind of copy store_restore_copies finds beside
 * the database (which is there: serve opened it), naming the first. Such
 * a copy is left by a restore stopped before it moved the database
 * aside; the restore run again removes it. */
void store_say_restore_copies(const char *database);

/* The file SQLite opens for the database at path: path itself, or where
 * a symbolic link (a chain of them) points, also when nothing is there
 * (a restore stopped with the file moved aside: SQLite would make it
 * there). 0 with out filled (cap bytes), or -1 with errno. */
int store_db_file(const char *path, char *out, size_t cap);

/* The folders a restore moves the database at path with its -wal, -shm
 * and -journal into, one rename at a time, before the folder takes its
 * name (PATH.before-restore-TIME.unfinished, journal_restore): how many
 * are there, the path of the first by name in first (cap bytes). One is
 * left only by a restore that was stopped while it moved them. */
size_t store_restore_unfinished(const char *path, char *first, size_t cap);

/* Gives up the lock store_lock took, for a command that was refused: the
 * lock file goes too when this process made it (a refused init of another
 * program's file, a serve or rebuild of a file that is not there leaves
 * nothing behind). Nothing when no lock is held. */
void store_unlock(void);

/* Gives the lock file store_lock made in this process (none: nothing) to
 * uid and gid: one that `ipsnetd restore` run as root made beside a
 * database of the daemon's user would keep that daemon from starting.
 * 0, or -1 with errno. */
int store_lock_give(uid_t uid, gid_t gid);

/* Reads the active organisations. The database must exist and have the
 * current schema ("run 'ipsnetd init' first" otherwise). */
int store_load_registry(const char *database, struct registry *out, char *err,
			size_t errlen);

/* Brings db's schema up to date (a new, empty database gets all of it). */
int store_migrate(sqlite3 *db, char *err, size_t errlen);

/* The schema version this build makes and serves. */
int store_schema_version(void);

/* Reads db's schema version into *version; IPSNET_EDB with a sentence
 * when it cannot be read or is newer than this build knows (its tables and
 * journal entries may hold what this build's replay would drop). */
int store_check_not_newer(sqlite3 *db, int *version, char *err, size_t errlen);

/* The same, up to schema version `to` only (the tests make an older
 * database with it to migrate from). */
int store_migrate_to(sqlite3 *db, int to, char *err, size_t errlen);

/* What tables db holds, SQLite's own left out: how many, whether one is the
 * journal, and the first by name (into first, cap bytes; "" for none).
 * 0, or IPSNET_EDB when it cannot be read. */
int store_tables(sqlite3 *db, int *tables, bool *journal, char *first,
		 size_t cap);

/* Makes the registry of the database (made by init) c's organisations, as
 * store_init does. 0, IPSNET_ECONFIG when c names none and others are
 * registered, or IPSNET_EDB with a sentence in err. */
int store_update_registry(const struct server_config *c, char *err,
			  size_t errlen);

/* Whether r holds c's organisations, each as c has it. */
bool registry_is_config(const struct registry *r,
			const struct server_config *c);

/* Names what after has that before had not, and the other way, into out:
 * "added=ID,ID removed=ID changed=ID", each part only when there is one;
 * "" when they are the same. */
void registry_diff(const struct registry *before, const struct registry *after,
		   char *out, size_t cap);

const struct org_config *registry_find(const struct registry *r,
				       const char *id);
void registry_free(struct registry *r);

#endif
