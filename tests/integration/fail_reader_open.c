/* Preloaded into an ipsnetd under test (LD_PRELOAD): when
 * IT_FAIL_READER_OPEN holds N, the first N read-only opens of a database
 * without SQLite's own mutex fail (SQLITE_CANTOPEN), as they do out of file
 * descriptors: those are the journal's reader and bulk reader threads'
 * (daemon/journal.c, open_db), and no other open of ipsnetd serve is both.
 * The Nth failure says so on stderr (the daemon's log): "fail_reader_open:
 * N failed". Without IT_FAIL_READER_OPEN nothing changes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

#include <sqlite3.h>

static atomic_uint failed;

int sqlite3_open_v2(const char *path, sqlite3 **db, int flags, const char *vfs)
{
	int (*real)(const char *, sqlite3 **, int, const char *);
	*(void **)&real = dlsym(RTLD_NEXT, "sqlite3_open_v2");
	const char *n = getenv("IT_FAIL_READER_OPEN");
	unsigned k;
	if (n != NULL && (flags & SQLITE_OPEN_READONLY) &&
	    (flags & SQLITE_OPEN_NOMUTEX) &&
	    (k = atomic_fetch_add(&failed, 1) + 1) <= (unsigned)atoi(n)) {
		if (k == (unsigned)atoi(n))
			fprintf(stderr, "fail_reader_open: %u failed\n", k);
		*db = NULL;
		return SQLITE_CANTOPEN;
	}
	return real(path, db, flags, vfs);
}
