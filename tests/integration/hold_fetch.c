/* Preloaded into an ipsnetd under test (LD_PRELOAD): while the file named
 * by IT_HOLD_FETCH exists, sync's journal reads (the statement of its live
 * fetches and catch-up pages) wait before they are prepared, for at most
 * 20 s. A test makes the file to keep a live fetch in flight while changes
 * go on committing, and removes it to let go. When the same name with
 * "-fail" after it exists once the wait is over, it is removed and that
 * read fails to prepare (SQLITE_ERROR), as a read the database refuses.
 * While the name with "-after" after it exists, such a read that has read
 * and judged its range (its statement finalized) makes the name with
 * "-judged" after it and waits before it returns, for at most 20 s: a
 * test holds a judgement made, not yet sent, while changes commit.
 * Likewise, while the name with "-read" after it exists, a case read
 * (ShowCase, FindClient) that has judged the caller and read the client's
 * consents makes the name with "-read-judged" after it and waits.
 * While the name with "-read-step" after it exists, such a read makes
 * the name with "-read-step-judged" after it and waits until the test
 * removes that one (or "-read-step"): a test lets one judgement go at a
 * time, each read made again held anew. When the name with "-read-fail"
 * after it exists, it is removed and the next case read fails to prepare
 * its consents' statement (SQLITE_ERROR), as a read the database refuses.
 * Every such sync read also appends a line to the name with "-nice" after
 * it: the nice of the thread that runs it less the daemon's (its main
 * thread's), so that a test sees which reads run nicer; a report's first
 * statement does the same to "-nice-report", and a case read's consents
 * to "-nice-read".
 * While the name with "-oom" after it exists and holds "LO-HI", the next
 * realloc of nothing (a first allocation) for LO to HI bytes on the
 * daemon's main thread fails, as running out of memory does; the file is
 * removed and the name with "-oom-failed" after it made, holding the size.
 * While the name with "-commit" after it exists, a COMMIT (the journal
 * writer's, of a batch) makes the name with "-commit-held" after it and
 * waits before it runs: a test holds a change in flight, applied and not
 * yet committed, for as long as it needs.
 * Without IT_HOLD_FETCH nothing changes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#define HOLD_MAX_MS 20000

static const char fetch_sql[] =
    "SELECT seq, time_us, org, entity_kind, payload, response";
/* A case's consents (reads.c build_case), after policy_see_client. */
static const char case_sql[] = "SELECT id, version, client_id, recipient";
static const char case_where[] = "FROM consent WHERE client_id";
/* The first statement of a report (report.c load_orgs). */
static const char report_sql[] = "SELECT id, kind, name FROM organisation";

/* Appends the nice of the calling thread less the daemon's to
 * gate+suffix. */
static void note_nice(const char *gate, const char *suffix)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s%s", gate, suffix);
	FILE *f = fopen(path, "a");
	if (f != NULL) {
		fprintf(f, "%d\n",
			getpriority(PRIO_PROCESS, (id_t)gettid()) -
			    getpriority(PRIO_PROCESS, (id_t)getpid()));
		fclose(f);
	}
}

/* While gate+on exists, makes gate+said and waits (at most HOLD_MAX_MS)
 * until gate+on is gone, or with until_taken also until gate+said is. */
static void hold(const char *gate, const char *on_suffix,
		 const char *said_suffix, bool until_taken)
{
	struct timespec tick = {0, 2000000};
	char on[PATH_MAX], said[PATH_MAX];
	snprintf(on, sizeof(on), "%s%s", gate, on_suffix);
	snprintf(said, sizeof(said), "%s%s", gate, said_suffix);
	if (access(on, F_OK) != 0)
		return;
	FILE *f = fopen(said, "w");
	if (f != NULL)
		fclose(f);
	for (int ms = 0; ms < HOLD_MAX_MS && access(on, F_OK) == 0 &&
			 (!until_taken || access(said, F_OK) == 0);
	     ms += 2)
		nanosleep(&tick, NULL);
}

int sqlite3_prepare_v3(sqlite3 *db, const char *sql, int n, unsigned int flags,
		       sqlite3_stmt **st, const char **tail)
{
	int (*real)(sqlite3 *, const char *, int, unsigned int, sqlite3_stmt **,
		    const char **);
	*(void **)&real = dlsym(RTLD_NEXT, "sqlite3_prepare_v3");
	const char *gate = getenv("IT_HOLD_FETCH");
	if (gate != NULL && sql != NULL &&
	    strncmp(sql, fetch_sql, sizeof(fetch_sql) - 1) == 0) {
		struct timespec tick = {0, 2000000};
		char fail[PATH_MAX];
		note_nice(gate, "-nice");
		for (int ms = 0; ms < HOLD_MAX_MS && access(gate, F_OK) == 0;
		     ms += 2)
			nanosleep(&tick, NULL);
		snprintf(fail, sizeof(fail), "%s-fail", gate);
		if (unlink(fail) == 0) {
			*st = NULL;
			return SQLITE_ERROR;
		}
	}
	return real(db, sql, n, flags, st, tail);
}

int sqlite3_prepare_v2(sqlite3 *db, const char *sql, int n, sqlite3_stmt **st,
		       const char **tail)
{
	int (*real)(sqlite3 *, const char *, int, sqlite3_stmt **,
		    const char **);
	*(void **)&real = dlsym(RTLD_NEXT, "sqlite3_prepare_v2");
	const char *gate = getenv("IT_HOLD_FETCH");
	if (gate != NULL && sql != NULL && strcmp(sql, report_sql) == 0)
		note_nice(gate, "-nice-report");
	if (gate != NULL && sql != NULL &&
	    strncmp(sql, case_sql, sizeof(case_sql) - 1) == 0 &&
	    strstr(sql, case_where) != NULL) {
		char fail[PATH_MAX];
		note_nice(gate, "-nice-read");
		snprintf(fail, sizeof(fail), "%s-read-fail", gate);
		if (unlink(fail) == 0) {
			*st = NULL;
			return SQLITE_ERROR;
		}
	}
	return real(db, sql, n, st, tail);
}

int sqlite3_step(sqlite3_stmt *st)
{
	int (*real)(sqlite3_stmt *);
	*(void **)&real = dlsym(RTLD_NEXT, "sqlite3_step");
	const char *gate = getenv("IT_HOLD_FETCH");
	const char *sql = gate != NULL && st != NULL ? sqlite3_sql(st) : NULL;
	if (sql != NULL && strcmp(sql, "COMMIT") == 0)
		hold(gate, "-commit", "-commit-held", false);
	return real(st);
}

int sqlite3_finalize(sqlite3_stmt *st)
{
	int (*real)(sqlite3_stmt *);
	*(void **)&real = dlsym(RTLD_NEXT, "sqlite3_finalize");
	const char *gate = getenv("IT_HOLD_FETCH");
	const char *sql = gate != NULL && st != NULL ? sqlite3_sql(st) : NULL;
	if (sql != NULL && strncmp(sql, fetch_sql, sizeof(fetch_sql) - 1) == 0)
		hold(gate, "-after", "-judged", false);
	if (sql != NULL && strncmp(sql, case_sql, sizeof(case_sql) - 1) == 0 &&
	    strstr(sql, case_where) != NULL) {
		hold(gate, "-read", "-read-judged", false);
		hold(gate, "-read-step", "-read-step-judged", true);
	}
	return real(st);
}

/* Under a sanitizer its runtime's realloc, else the C library's: named
 * here, not looked up with dlsym, which allocates. */
extern void *__interceptor_realloc(void *p, size_t size) __attribute__((weak));
extern void *__libc_realloc(void *p, size_t size);

/* Whether this realloc of size bytes is the one the -oom file asks to
 * fail; open and read, not stdio, which allocates. */
static int oom_now(const char *gate, size_t size)
{
	char path[PATH_MAX], range[64];
	size_t lo, hi;
	snprintf(path, sizeof(path), "%s-oom", gate);
	int fd = open(path, O_RDONLY);
	if (fd < 0)
		return 0;
	ssize_t n = read(fd, range, sizeof(range) - 1);
	close(fd);
	range[n > 0 ? n : 0] = '\0';
	if (sscanf(range, "%zu-%zu", &lo, &hi) != 2 || size < lo || size > hi ||
	    unlink(path) != 0)
		return 0;
	snprintf(path, sizeof(path), "%s-oom-failed", gate);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (fd >= 0) {
		n = snprintf(range, sizeof(range), "%zu\n", size);
		if (write(fd, range, (size_t)n) != n)
			unlink(path);
		close(fd);
	}
	return 1;
}

void *realloc(void *p, size_t size)
{
	const char *gate;
	if (p == NULL && gettid() == getpid() &&
	    (gate = getenv("IT_HOLD_FETCH")) != NULL && oom_now(gate, size))
		return NULL;
	if (__interceptor_realloc != NULL)
		return __interceptor_realloc(p, size);
	return __libc_realloc(p, size);
}
