/* Preloaded into an ipsnetd under test (LD_PRELOAD): when IT_LOCK_GONE is
 * set, the first open of a file whose name ends in ".lock" that may not
 * create it finds it removed just before, as when another ipsnetd, refused,
 * removes the lock file it made between this one's two opens (store_lock).
 * Without IT_LOCK_GONE nothing changes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool done;

static void maybe_remove(const char *path, int flags)
{
	size_t n = strlen(path);
	if (done || getenv("IT_LOCK_GONE") == NULL || (flags & O_CREAT) != 0 ||
	    n < 5 || strcmp(path + n - 5, ".lock") != 0)
		return;
	done = true;
	unlink(path);
}

int open(const char *path, int flags, ...)
{
	int (*real)(const char *, int, ...);
	*(void **)&real = dlsym(RTLD_NEXT, "open");
	mode_t mode = 0;
	if (flags & O_CREAT) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	maybe_remove(path, flags);
	return real(path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	int (*real)(const char *, int, ...);
	*(void **)&real = dlsym(RTLD_NEXT, "open64");
	mode_t mode = 0;
	if (flags & O_CREAT) {
		va_list ap;
		va_start(ap, flags);
		mode = (mode_t)va_arg(ap, int);
		va_end(ap);
	}
	maybe_remove(path, flags);
	return real(path, flags, mode);
}
