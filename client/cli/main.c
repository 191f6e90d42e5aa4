/* ipsnet: the command-line client.
 *
 * Exit codes, the same for every command: 0 ok, 2 usage, 3 cannot connect
 * or TLS failure, 4 unauthenticated or permission denied, 5 not found,
 * 6 conflict or failed precondition, 1 anything else. */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "alloc.h"
#include "cli.h"
#include "format.h"
#include "ipsnet.h"
#include "validate.h"

static const struct command commands[] = {
    {"ping", cmd_ping, "check the connection and print the round-trip time"},
    {"whoami", cmd_whoami,
     "print the organisation, its kind, the user, the server version and the "
     "journal head"},
    {"client", cmd_client, "register, update and find clients"},
    {"consent", cmd_consent, "grant and withdraw a client's consent"},
    {"case", cmd_case, "show everything about one client you may see"},
    {"refer", cmd_refer, "refer a client to an IPS program"},
    {"trajectory", cmd_trajectory,
     "accept, decline, start, hold, resume, close or cancel a trajectory"},
    {"funding", cmd_funding,
     "request, list, approve, reject and withdraw funding"},
    {"job", cmd_job, "record a client's job and its end"},
    {"program", cmd_program, "add, change and list IPS programs"},
    {"fidelity", cmd_fidelity, "record a fidelity review of a program"},
    {"audit", cmd_audit, "read the audit trail"},
    {"import", cmd_import,
     "import clients, trajectories or jobs from a CSV file"},
    {"report", cmd_report, "the IPS monitor's figures for a year or quarter"},
    {"sync", cmd_sync, "keep a local SQLite mirror of what you may see"},
    {"watch", cmd_watch, "print changes as they are made"},
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: ipsnet [OPTIONS] COMMAND [ARGS]\n"
		"\n"
		"commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(out, "  %-11s %s\n", commands[i].name,
			commands[i].summary);
	fprintf(out,
		"\n"
		"options (before or after the command):\n"
		"  --profile NAME    read server, CA, certificate, key and user\n"
		"                    from profile NAME (also $IPSNET_PROFILE)\n"
		"  --server H:P      the server (also $IPSNET_SERVER; default\n"
		"                    127.0.0.1:7443)\n"
		"  --ca FILE         the network CA (also $IPSNET_CA)\n"
		"  --cert FILE       the organisation's certificate ($IPSNET_CERT)\n"
		"  --key FILE        its private key ($IPSNET_KEY)\n"
		"  --user NAME       who is acting ($IPSNET_USER; default $USER)\n"
		"  --timeout MS      give up after MS milliseconds (10000)\n"
		"  --json            machine-readable output\n"
		"  -h, --help        this text; 'ipsnet COMMAND --help' for a "
		"command\n"
		"  --version         the version\n"
		"\n"
		"exit codes: 0 ok, 2 usage, 3 cannot connect or TLS failure,\n"
		"4 unauthenticated or permission denied, 5 not found, 6 conflict\n"
		"or failed precondition, 1 anything else.\n");
}

int cli_settings(struct cli *cli)
{
	if (cli->settings_rv == 0)
		return 0;
	return cli_fail(cli->settings_rv, "%s", cli->settings_err);
}

int cli_exit_code(int err)
{
	if (err == 0)
		return 0;
	if (err == IPSNET_EUSAGE)
		return 2;
	switch (ipsnet_err_status(err)) {
	case IPSNET__V1__CODE__UNAVAILABLE:
	case IPSNET__V1__CODE__DEADLINE_EXCEEDED:
		return 3;
	case IPSNET__V1__CODE__UNAUTHENTICATED:
	case IPSNET__V1__CODE__PERMISSION_DENIED:
		return 4;
	case IPSNET__V1__CODE__NOT_FOUND:
		return 5;
	case IPSNET__V1__CODE__ABORTED:
	case IPSNET__V1__CODE__FAILED_PRECONDITION:
		return 6;
	}
	return 1;
}

int cli_fail(int err, const char *fmt, ...)
{
	/* One line, whatever it quotes: the server's words (a refusal may
	 * repeat a name or an id another organisation wrote) or the user's,
	 * with their control characters as '?', as a table shows them. */
	char small[1024], *line = small;
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(small, sizeof(small), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(small) &&
	    (line = ipsnet_malloc((size_t)n + 1)) != NULL) {
		va_start(ap, fmt);
		vsnprintf(line, (size_t)n + 1, fmt, ap);
		va_end(ap);
	} else if (line == NULL)
		line = small; /* cut short rather than not said */
	if (n >= 0) {
		text_mask_controls(line);
		fprintf(stderr, "ipsnet: %s\n", line);
	}
	if (line != small)
		ipsnet_free(line);
	return cli_exit_code(err);
}

void cli_print_json(json_t *obj)
{
	char *s = json_dumps(obj, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
				      CLI_JSON_REAL_PRECISION);
	if (s != NULL) {
		puts(s);
		free(s);
	}
	json_decref(obj);
}

/* Global options may stand anywhere; they are taken out of argv, and what
 * is left is the command and its own arguments. */
static int take_global_options(struct cli *cli, int *argc, char **argv,
			       const char **profile)
{
	static const char *const with_value[] = {"--profile", "--server",
						 "--ca",      "--cert",
						 "--key",     "--user",
						 "--timeout"};
	const char *values[7] = {0};
	int out = 1;
	for (int i = 1; i < *argc; i++) {
		const char *a = argv[i];
		bool taken = false;
		if (strcmp(a, "--") == 0) {
			while (i < *argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(a, "--json") == 0) {
			cli->json = true;
			continue;
		}
		for (size_t k = 0; k < 7 && !taken; k++) {
			size_t n = strlen(with_value[k]);
			if (strncmp(a, with_value[k], n) != 0)
				continue;
			if (a[n] == '=') {
				values[k] = a + n + 1;
				taken = true;
			} else if (a[n] == '\0') {
				if (i + 1 >= *argc) {
					fprintf(stderr,
						"ipsnet: %s needs a value\n",
						with_value[k]);
					return IPSNET_EUSAGE;
				}
				values[k] = argv[++i];
				taken = true;
			}
		}
		if (!taken)
			argv[out++] = argv[i];
	}
	*argc = out;
	argv[out] = NULL;

	*profile = values[0];
	/* What a flag names, the environment does not (settings.c reads it
	 * first): it is not asked, nor refused when too long to be one. $USER
	 * is the user only when nothing names one. */
	static const char *const env_of[] = {NULL,	   "IPSNET_SERVER",
					     "IPSNET_CA",  "IPSNET_CERT",
					     "IPSNET_KEY", "IPSNET_USER"};
	for (size_t k = 1; k < 6; k++)
		if (values[k] != NULL)
			unsetenv(env_of[k]);
	if (values[5] != NULL)
		unsetenv("USER");
	if (values[0] != NULL && values[0][0] == '\0') {
		/* Not "no profile": $IPSNET_PROFILE, which the flag is to
		 * override, would choose. Said when connecting, as the
		 * profile's other errors, so that --help still works. */
		cli->settings_rv = IPSNET_EUSAGE;
		snprintf(cli->settings_err, sizeof(cli->settings_err),
			 "--profile needs a NAME or a profile file's path");
	} else {
		cli->settings_rv = ipsnet_settings_load(
		    &cli->settings, *profile, cli->settings_err,
		    sizeof(cli->settings_err));
	}
	struct ipsnet_settings *s = &cli->settings;
	char *dst[] = {NULL, s->server, s->ca, s->cert, s->key, s->user};
	size_t cap[] = {0, sizeof(s->server), sizeof(s->ca), sizeof(s->cert),
			sizeof(s->key), sizeof(s->user)};
	const char *file = "a file name";
	const char *noun[] = {NULL, "the server's HOST:PORT",
			      file, file,
			      file, "the user (whom the audit trail names)"};
	for (size_t k = 1; k < 6; k++) {
		if (values[k] == NULL)
			continue;
		size_t n = strlen(values[k]);
		/* Never cut: a cut path may name another file, a cut user
		 * puts someone else in the audit trail. */
		if (n >= cap[k]) {
			fprintf(stderr,
				"ipsnet: %s is %zu bytes long; %s may be at "
				"most %zu bytes\n",
				with_value[k], n, noun[k], cap[k] - 1);
			return IPSNET_EUSAGE;
		}
		if (cli->settings_rv == 0)
			memcpy(dst[k], values[k], n + 1);
	}
	cli->timeout_ms = 10000;
	if (values[6] != NULL) {
		char *end;
		unsigned long ms = strtoul(values[6], &end, 10);
		if (*end != '\0' || ms == 0 || ms > 3600000) {
			fprintf(stderr,
				"ipsnet: --timeout takes milliseconds from 1 "
				"to 3600000\n");
			return IPSNET_EUSAGE;
		}
		cli->timeout_ms = (uint32_t)ms;
	}
	return 0;
}

/* Output that could not be written (a full disk, a file closed under it)
 * fails the command: a job that keeps the output must not take an empty
 * file for a result. A reader that went away (EPIPE, as `| head`) is not
 * a failure of the command's. */
static int output_written(int rv)
{
	/* A write that failed before (glibc then drops what it held, and
	 * this flush has nothing left to fail on) set the error flag; its
	 * errno is that of the last call that failed. */
	bool failed = ferror(stdout) != 0;
	int why = errno;
	if (fflush(stdout) != 0) {
		failed = true;
		why = errno;
	}
	if (!failed || why == EPIPE)
		return rv;
	if (why == 0)
		fputs("ipsnet: cannot write the output\n", stderr);
	else
		fprintf(stderr, "ipsnet: cannot write the output: %s\n",
			strerror(why));
	return rv != 0 ? rv : 1;
}

int main(int argc, char **argv)
{
	struct cli cli;
	const char *profile = NULL;
	memset(&cli, 0, sizeof(cli));

	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("ipsnet %s\n", ipsnet_version());
		return 0;
	}
	if (argc < 2 || strcmp(argv[1], "--help") == 0 ||
	    strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	int rv = take_global_options(&cli, &argc, argv, &profile);
	if (rv != 0)
		return cli_exit_code(rv);
	if (argc < 2) {
		usage(stderr);
		return 2;
	}
	/* As before the options: "options (before or after the command)". */
	if (strcmp(argv[1], "--version") == 0) {
		printf("ipsnet %s\n", ipsnet_version());
		return 0;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
	    strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++) {
		if (strcmp(argv[1], commands[i].name) == 0) {
			rv = commands[i].run(&cli, argc - 1, argv + 1);
			cli_close(&cli);
			return output_written(rv);
		}
	}
	fprintf(stderr, "ipsnet: unknown command '%s' (ipsnet --help lists "
			"them)\n",
		argv[1]);
	return 2;
}
