/* Preloaded into an ipsnetd under test (LD_PRELOAD): when the file named by
 * IT_FAIL_ACCEPT exists, the next uv_tcp_init fails with UV_ENOMEM and the
 * file is removed. After start-up the daemon calls uv_tcp_init only to take
 * a connection from the listener, before uv_accept: the test makes the
 * file to have one connection fail there, as running out of memory at that
 * moment does. Without IT_FAIL_ACCEPT nothing changes. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <unistd.h>

#include <uv.h>

int uv_tcp_init(uv_loop_t *loop, uv_tcp_t *handle)
{
	int (*real)(uv_loop_t *, uv_tcp_t *);
	*(void **)&real = dlsym(RTLD_NEXT, "uv_tcp_init");
	const char *gate = getenv("IT_FAIL_ACCEPT");
	if (gate != NULL && unlink(gate) == 0)
		return UV_ENOMEM;
	return real(loop, handle);
}
