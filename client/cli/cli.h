/* Shared pieces of the ipsnet command. */
#ifndef IPSNET_CLI_H
#define IPSNET_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "ipsnet.h"

struct cli {
	struct ipsnet_settings settings;
	bool json;
	uint32_t timeout_ms;
};

/* A command gets argv with argv[0] = its own name. Returns the exit code. */
struct command {
	const char *name;
	int (*run)(struct cli *cli, int argc, char **argv);
	const char *summary;
};

/* Prints "ipsnet: <sentence>" on stderr and returns the exit code for err. */
int cli_fail(int err, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
int cli_exit_code(int err);
/* Connects as the settings say; on failure prints why and returns the exit
 * code, else 0. */
int cli_connect(struct cli *cli, struct ipsnet_client **out);
/* Prints obj and releases it. */
void cli_print_json(json_t *obj);
/* Handles "--help" (and refuses unknown arguments) for a command without
 * options of its own: returns -1 to go on, or an exit code. */
int cli_no_args(int argc, char **argv, const char *usage);

int cmd_ping(struct cli *cli, int argc, char **argv);
int cmd_whoami(struct cli *cli, int argc, char **argv);

#endif
