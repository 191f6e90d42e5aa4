/* A program of its own, linked with the installed static libipsnet
 * (lib_static.sh), that has functions named like libipsnet's internals:
 * util_random, util_now_us, util_strlcpy, log_msg, tls_ctx_new. The link
 * must succeed and the library must go on calling its own: a program's
 * util_random taking the place of the library's would give every
 * idempotency key the same "random" half. Exits 0, or 1 saying what went
 * wrong. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <ipsnet.h>

static int called; /* calls of the functions below */

int util_random(void *buf, size_t len)
{
	called++;
	memset(buf, 0, len);
	return 0;
}

uint64_t util_now_us(void)
{
	called++;
	return 0;
}

char *util_strlcpy(char *dst, const char *src, size_t cap)
{
	called++;
	if (cap > 0)
		dst[0] = '\0';
	return dst;
}

void log_msg(int level, const char *msg, const char *fields, ...)
{
	called++;
}

int tls_ctx_new(void)
{
	called++;
	return 0;
}

int main(void)
{
	static const uint8_t zeros[8];
	uint8_t key[16];
	struct ipsnet_settings s;
	char err[256];

	if (ipsnet_new_idempotency_key(key) != 0 ||
	    memcmp(key, zeros, 8) == 0 || memcmp(key + 8, zeros, 8) == 0) {
		fprintf(stderr, "an idempotency key of zeros\n");
		return 1;
	}
	if (ipsnet_settings_load(&s, NULL, err, sizeof(err)) != 0 ||
	    strcmp(s.server, "127.0.0.1:7443") != 0) {
		fprintf(stderr, "settings: server '%s' (%s)\n", s.server, err);
		return 1;
	}
	/* The library's tls_ctx_new reads the CA file, and says so. */
	struct ipsnet_options o = ipsnet_settings_options(&s);
	o.ca = "/nonexistent/ca.crt";
	o.cert = "/nonexistent/org.crt";
	o.key = "/nonexistent/org.key";
	o.user = "test.user";
	struct ipsnet_client *c = NULL;
	int rv = ipsnet_client_open(&c, &o, err, sizeof(err));
	if (rv == 0 || strstr(err, "/nonexistent/") == NULL) {
		fprintf(stderr, "open with a missing CA: %s (%s)\n",
			ipsnet_strerror(rv), err);
		if (c != NULL)
			ipsnet_client_close(c);
		return 1;
	}
	if (called != 0) {
		fprintf(stderr,
			"libipsnet called the program's own functions %d "
			"times\n",
			called);
		return 1;
	}
	/* The program's own functions are its own. */
	util_random(key, sizeof(key));
	if (called != 1) {
		fprintf(stderr, "the program's util_random was not called\n");
		return 1;
	}
	printf("ok: %s\n", ipsnet_version());
	return 0;
}
