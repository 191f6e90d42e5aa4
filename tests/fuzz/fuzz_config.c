/* libFuzzer driver for the configuration files (common/config.c, over
 * inih): the daemon's file (config_load) and a client's profile
 * (profile_load), each read from a file that holds the input.
 *
 * Input layout:
 *   byte 0, low bit: 0 the daemon's file, 1 a profile
 *   the rest:        the file
 *
 * What must hold: the file is read or refused with IPSNET_ECONFIG (or
 * IPSNET_ENOMEM) and a sentence; a refusal that names a line names one
 * the file has; a file with a NUL byte is never read (the rest of its line
 * would be dropped unseen); a file that is read passes config_validate;
 * nothing leaks (AddressSanitizer). The ctest entry fuzz_config_corpus
 * replays tests/fuzz/corpus/config (replay.c). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "ipsnet_errors.h"

static char path[64];

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_config: %s: %s\n", what, detail);
	abort();
}

static unsigned long count_lines(const uint8_t *p, size_t n)
{
	unsigned long lines = 1;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n' && i + 1 < n)
			lines++;
	return lines;
}

/* A refusal "PATH:LINE: ..." names a line the file has. */
static void check_error(int rv, const char *err, unsigned long lines)
{
	if (rv != IPSNET_ECONFIG && rv != IPSNET_ENOMEM)
		die("refused with", ipsnet_strerror(rv));
	if (err[0] == '\0')
		die("a refusal without a sentence", ipsnet_strerror(rv));
	size_t plen = strlen(path);
	if (strncmp(err, path, plen) != 0 || err[plen] != ':')
		return;
	char *end;
	unsigned long line = strtoul(err + plen + 1, &end, 10);
	if (end != err + plen + 1 && *end == ':' && (line == 0 || line > lines))
		die("a refusal names a line the file does not have", err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size == 0)
		return 0;
	if (path[0] == '\0') {
		snprintf(path, sizeof(path), "/tmp/ipsnet-fuzz-config-%ld.ini",
			 (long)getpid());
	}
	FILE *f = fopen(path, "wb");
	if (f == NULL)
		die("cannot write", path);
	if (fwrite(data + 1, 1, size - 1, f) != size - 1 || fclose(f) != 0)
		die("cannot write", path);
	unsigned long lines = count_lines(data + 1, size - 1);
	bool nul = memchr(data + 1, '\0', size - 1) != NULL;
	char err[1024] = "";

	if ((data[0] & 1) == 0) {
		struct server_config cfg;
		if (config_defaults(&cfg) != 0)
			die("config_defaults", "out of memory");
		int rv = config_load(&cfg, path, err, sizeof(err));
		if (rv == 0 && nul)
			die("a file with a NUL byte", "was read");
		if (rv == 0) {
			char again[1024] = "";
			if (config_validate(&cfg, again, sizeof(again)) != 0)
				die("a file read fails config_validate", again);
		} else {
			check_error(rv, err, lines);
		}
		config_free(&cfg);
	} else {
		struct client_profile p;
		memset(&p, 0, sizeof(p));
		int rv = profile_load(&p, path, err, sizeof(err));
		if (rv == 0 && nul)
			die("a profile with a NUL byte", "was read");
		if (rv != 0)
			check_error(rv, err, lines);
	}
	unlink(path);
	return 0;
}
