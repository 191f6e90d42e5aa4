/* Preloaded into an ipsnetd under test (LD_PRELOAD): when IT_SWAP_ON_OPEN
 * names a file, the first open of that name which succeeds is followed at
 * once by the rename of NAME.swap over it, as when someone replaces the
 * file between a program's open and its next use of the name (restore's
 * BACKUP). Without IT_SWAP_ON_OPEN nothing changes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static bool done;

static void maybe_swap(const char *path, int fd)
{
	const char *name = getenv("IT_SWAP_ON_OPEN");
	if (done || fd < 0 || name == NULL || strcmp(path, name) != 0)
		return;
	done = true;
	char swap[PATH_MAX];
	snprintf(swap, sizeof(swap), "%s.swap", name);
	if (rename(swap, name) != 0)
		abort(); /* the test's fault, said by the exit */
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
	int fd = real(path, flags, mode);
	maybe_swap(path, fd);
	return fd;
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
	int fd = real(path, flags, mode);
	maybe_swap(path, fd);
	return fd;
}
