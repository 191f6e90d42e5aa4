/* Shared pieces of the ipsnet command. */
#ifndef IPSNET_CLI_H
#define IPSNET_CLI_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ipsnet.h"

struct cli {
	struct ipsnet_settings settings;
	/* Why the settings could not be read (a profile that is not there):
	 * said where they are first needed (cli_settings), so that --help
	 * and what needs no server work without them. 0: they were read. */
	int settings_rv;
	char settings_err[512];
	bool json;
	uint32_t timeout_ms;
	struct ipsnet_client *client; /* the open connection, or NULL */
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
/* 0 when the settings were read; else prints why and returns the exit
 * code. Call before the settings are used. */
int cli_settings(struct cli *cli);
/* Prints obj and releases it. */
void cli_print_json(json_t *obj);
/* Handles "--help" (and refuses unknown arguments) for a command without
 * options of its own: returns -1 to go on, or an exit code. */
int cli_no_args(int argc, char **argv, const char *usage);

/* Runs the subcommand argv[1] of a command group ("client register"):
 * argv[0] is the group's name. Without a subcommand, or with --help, prints
 * usage and the subcommands. */
int cli_dispatch(struct cli *cli, int argc, char **argv,
		 const struct command *subs, size_t n_subs, const char *usage);

/* ---- options --------------------------------------------------------- */

enum cli_opt_type {
	CLI_STR,  /* --name VALUE: *str = VALUE */
	CLI_FLAG, /* --name: *flag = true */
};

struct cli_opt {
	const char *name; /* without the dashes */
	enum cli_opt_type type;
	const char **str;
	bool *flag;
	bool required;
};

/* Parses a command's own options (getopt_long, so they may stand before or
 * after its positional arguments) and exactly n_pos positional arguments
 * into pos. --help and -h print usage on stdout. Returns -1 to go on, or
 * the exit code: 0 after --help, 2 after a usage error (printed). */
int cli_parse(int argc, char **argv, const struct cli_opt *opts, size_t n_opts,
	      const char **pos, size_t n_pos, const char *usage);

/* Value checks for option values. Each returns 0, or prints one line
 * naming the option and returns exit code 2. */
int cli_uint(const char *opt, const char *s, unsigned long min,
	     unsigned long max, unsigned long *out);
int cli_version(const char *s, uint64_t *out); /* --version N, N >= 1 */
int cli_date(const char *opt, const char *s);  /* YYYY-MM-DD */
int cli_benefit(const char *s, int *out);      /* none, wia, ... */
/* A client's id where a command takes one (what: "CLIENT", "--client"):
 * exit code 2 when it is empty, or a BSN (nine digits, bare or in
 * groups), which no id the server gives is. */
int cli_client_id(const char *what, const char *id);
/* Hours a week: more than 0, at most 80; "12.5" or "12,5". */
bool cli_parse_hours(const char *s, double *out);
/* For a command that runs getopt_long itself (optstring starting with ':',
 * opterr 0): the one line about the option getopt returned ch ('?' or ':')
 * for; returns exit code 2. */
int cli_bad_option(int ch, char **argv, const char *name);

/* ---- calls ------------------------------------------------------------ */

/* The connection options of the command's settings. The first time, a
 * note on stderr when the key file may be read by anyone on the machine
 * (ssh refuses such a key; a team's shared key is group-readable). */
struct ipsnet_options cli_options(struct cli *cli);

/* Connects, once. 0 or the exit code (the reason printed). */
int cli_open(struct cli *cli);
/* Closes the connection, if open. */
void cli_close(struct cli *cli);

/* Sends a read and waits for its answer, which must carry body want. On a
 * transport failure before any answer it reconnects and asks once more.
 * Returns 0 with *resp (free with ipsnet_envelope_free), or the exit code
 * with one line printed. */
int cli_read(struct cli *cli, Ipsnet__V1__Envelope *req, int want,
	     Ipsnet__V1__Envelope **resp);

/* The answers to a read the server gives a page at a time (ListFunding,
 * AuditQuery), in the order they came. */
struct cli_pages {
	Ipsnet__V1__Envelope **pages;
	size_t n;
};

/* Asks req (whose cursor the caller moves between calls) and keeps the
 * answer, which must carry body want, as the last page; *resp points at
 * it. Returns 0, or the exit code with one line printed. */
int cli_read_page(struct cli *cli, Ipsnet__V1__Envelope *req, int want,
		  struct cli_pages *pages, const Ipsnet__V1__Envelope **resp);
void cli_pages_free(struct cli_pages *pages);

/* Sends a change with a fresh idempotency key and waits for its ChangeOk.
 * On a transport failure before any answer it reconnects and sends the
 * change once more with the same key: the server applies it at most once.
 * what names the entity for messages ("trajectory tr-1"); look is the
 * command that shows its current state, suggested after a CONFLICT. A
 * CONFLICT that carries the entity as it is now names its state in the
 * line, and with --json prints the error and the entity on stdout.
 * Returns 0 with *resp, or the exit code with one line printed. */
int cli_change(struct cli *cli, Ipsnet__V1__Envelope *req, const char *what,
	       const char *look, Ipsnet__V1__Envelope **resp);

/* Sends req with the key it already carries (import's derived keys); as
 * cli_change otherwise, without printing: 0, or an error code with err
 * holding the server's sentence. */
int cli_call_retry(struct cli *cli, Ipsnet__V1__Envelope *req,
		   Ipsnet__V1__Envelope **resp, char *err, size_t errlen);

/* ---- commands -------------------------------------------------------- */

int cmd_ping(struct cli *cli, int argc, char **argv);
int cmd_whoami(struct cli *cli, int argc, char **argv);
int cmd_client(struct cli *cli, int argc, char **argv);
int cmd_consent(struct cli *cli, int argc, char **argv);
int cmd_case(struct cli *cli, int argc, char **argv);
int cmd_refer(struct cli *cli, int argc, char **argv);
int cmd_trajectory(struct cli *cli, int argc, char **argv);
int cmd_funding(struct cli *cli, int argc, char **argv);
int cmd_job(struct cli *cli, int argc, char **argv);
int cmd_program(struct cli *cli, int argc, char **argv);
int cmd_fidelity(struct cli *cli, int argc, char **argv);
int cmd_audit(struct cli *cli, int argc, char **argv);
int cmd_import(struct cli *cli, int argc, char **argv);
int cmd_report(struct cli *cli, int argc, char **argv);
int cmd_sync(struct cli *cli, int argc, char **argv);
int cmd_watch(struct cli *cli, int argc, char **argv);

#endif
