/* Preloaded into the program under test (LD_PRELOAD): every malloc of a
 * size in IT_FAIL_MALLOC ("LO-HI", bytes) returns NULL, as running out of
 * memory for it does; every other one goes to the malloc the program would
 * have had. Our allocator (common/alloc.c) calls the C library's malloc
 * through its dynamic symbol, so its allocations come here too. The tests
 * pick a range that only one buffer falls in: test_cli the ipsnet
 * command's buffer of a request over 4 KiB (the frames smaller than that
 * are packed on the stack, common/stream.c), test_transport ipsnetd's of
 * one answer. Without IT_FAIL_MALLOC nothing changes. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

/* Under a sanitizer its runtime's malloc (its free takes only what it
 * gave), else the C library's: named here, not looked up with dlsym,
 * which allocates under AddressSanitizer and would come back here. */
extern void *__interceptor_malloc(size_t size) __attribute__((weak));
extern void *__libc_malloc(size_t size);

static size_t lo, hi;
static bool failing;

/* Before main, on one thread: the command's name lookup runs on one of
 * its own later. */
__attribute__((constructor)) static void init(void)
{
	const char *range = getenv("IT_FAIL_MALLOC");
	failing = range != NULL && sscanf(range, "%zu-%zu", &lo, &hi) == 2;
}

void *malloc(size_t size)
{
	if (failing && size >= lo && size <= hi)
		return NULL;
	if (__interceptor_malloc != NULL)
		return __interceptor_malloc(size);
	return __libc_malloc(size);
}
