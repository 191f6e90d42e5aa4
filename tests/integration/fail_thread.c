/* Preloaded into an ipsnetd under test (LD_PRELOAD): when IT_FAIL_THREAD
 * holds "N-M", the Nth to the Mth pthread_create of the process (counted
 * from 1) fail with EAGAIN, as they do at a limit of threads (systemd's
 * TasksMax, ulimit -u). ipsnetd serve starts its threads in this order:
 * the checkpointer, the writer, the readers, the bulk readers, then the
 * delivery threads (daemon/journal.c, fanout.c). Without IT_FAIL_THREAD
 * nothing changes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>

static atomic_uint calls;

int pthread_create(pthread_t *t, const pthread_attr_t *attr,
		   void *(*fn)(void *), void *arg)
{
	int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *),
		    void *);
	*(void **)&real = dlsym(RTLD_NEXT, "pthread_create");
	unsigned n = atomic_fetch_add(&calls, 1) + 1, lo, hi;
	const char *range = getenv("IT_FAIL_THREAD");
	if (range != NULL && sscanf(range, "%u-%u", &lo, &hi) == 2 && n >= lo &&
	    n <= hi)
		return EAGAIN;
	return real(t, attr, fn, arg);
}
