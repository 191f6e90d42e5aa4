/* A SQLite VFS for tests: it wraps the default one ("unix"), passes every
 * call through, and lets a test step in before a file's reads, writes and
 * syncs and at its open. Installed as the default VFS, so that every connection
 * the code under test opens uses it. */
#ifndef IPSNET_TESTS_VFS_WRAP_H
#define IPSNET_TESTS_VFS_WRAP_H

#include <sqlite3.h>

struct vfs_wrap_hooks {
	/* Before the real xWrite of real: SQLITE_OK lets it go on, anything
	 * else is returned instead. NULL: every write goes on. */
	int (*write)(sqlite3_file *real, const void *buf, int n,
		     sqlite3_int64 off);
	/* The same before the real xRead (buf untouched when it fails). */
	int (*read)(sqlite3_file *real, void *buf, int n, sqlite3_int64 off);
	/* The same before the real xSync. */
	int (*sync)(sqlite3_file *real, int flags);
	/* The flags the file named is opened with (SQLITE_OPEN_*): the given
	 * ones, or others. NULL: as given. */
	int (*open_flags)(const char *name, int flags);
	/* Told of each xSleep (a busy handler's wait, among others) with the
	 * microseconds asked for, before the real one sleeps. NULL: nothing. */
	void (*sleep)(int us);
};

/* Registers the VFS name over "unix" as the default, with hooks (kept, not
 * copied). 0, or -1 when there is no "unix" VFS of version 2 or later. */
int vfs_wrap_install(const char *name, const struct vfs_wrap_hooks *hooks);

/* The flags (SQLITE_OPEN_*) the file a hook is given was opened with: to
 * tell the WAL (SQLITE_OPEN_WAL) from the database, for one. */
int vfs_wrap_open_flags(const sqlite3_file *real);

/* Unregisters it: "unix" is the default again. */
void vfs_wrap_uninstall(void);

#endif
