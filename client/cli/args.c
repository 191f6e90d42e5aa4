/* Arguments of the commands: command groups, options, value checks. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "validate.h"

#define MAX_OPTS 16
/* getopt_long's value for option n is OPT_BASE + n. */
#define OPT_BASE 1000

/* Below every command's own help. */
static const char help_footer[] =
    "\n--json prints JSON instead; --profile and the other connection\n"
    "options are in 'ipsnet --help'.\n";

static bool is_help(const char *a)
{
	return strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0 ||
	       strcmp(a, "help") == 0;
}

static void group_usage(FILE *out, const char *usage,
			const struct command *subs, size_t n_subs)
{
	fputs(usage, out);
	fputs("\nsubcommands:\n", out);
	for (size_t i = 0; i < n_subs; i++)
		fprintf(out, "  %-10s %s\n", subs[i].name, subs[i].summary);
}

int cli_dispatch(struct cli *cli, int argc, char **argv,
		 const struct command *subs, size_t n_subs, const char *usage)
{
	if (argc < 2) {
		group_usage(stderr, usage, subs, n_subs);
		return 2;
	}
	if (is_help(argv[1])) {
		group_usage(stdout, usage, subs, n_subs);
		fputs(help_footer, stdout);
		return 0;
	}
	for (size_t i = 0; i < n_subs; i++) {
		if (strcmp(argv[1], subs[i].name) == 0)
			return subs[i].run(cli, argc - 1, argv + 1);
	}
	fprintf(stderr, "ipsnet: '%s' is not a subcommand of '%s'\n", argv[1],
		argv[0]);
	group_usage(stderr, usage, subs, n_subs);
	return 2;
}

int cli_parse(int argc, char **argv, const struct cli_opt *opts, size_t n_opts,
	      const char **pos, size_t n_pos, const char *usage)
{
	struct option longopts[MAX_OPTS + 2];
	bool seen[MAX_OPTS] = {0};
	size_t n = 0;
	int ch;

	if (n_opts > MAX_OPTS)
		return cli_fail(IPSNET_EINTERNAL, "too many options");
	for (; n < n_opts; n++)
		longopts[n] = (struct option){
		    opts[n].name,
		    opts[n].type == CLI_STR ? required_argument : no_argument,
		    NULL, OPT_BASE + (int)n};
	longopts[n++] = (struct option){"help", no_argument, NULL, 'h'};
	longopts[n] = (struct option){NULL, 0, NULL, 0};

	optind = 0; /* GNU: start again from scratch */
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(usage, stdout);
			fputs(help_footer, stdout);
			return 0;
		}
		if (ch == ':') {
			fprintf(stderr, "ipsnet: %s needs a value\n",
				argv[optind - 1]);
			fputs(usage, stderr);
			return 2;
		}
		if (ch == '?') {
			fprintf(stderr, "ipsnet: %s: unknown option\n",
				argv[optind - 1]);
			fputs(usage, stderr);
			return 2;
		}
		ch -= OPT_BASE;
		const struct cli_opt *o = &opts[ch];
		if (seen[ch])
			return cli_fail(IPSNET_EUSAGE, "--%s given twice",
					o->name);
		seen[ch] = true;
		if (o->type == CLI_STR)
			*o->str = optarg;
		else
			*o->flag = true;
	}
	size_t got = (size_t)(argc - optind);
	if (got != n_pos) {
		if (got < n_pos)
			fprintf(stderr, "ipsnet: %s needs %zu argument%s\n",
				argv[0], n_pos, n_pos == 1 ? "" : "s");
		else
			fprintf(stderr, "ipsnet: unexpected argument '%s'\n",
				argv[optind + (int)n_pos]);
		fputs(usage, stderr);
		return 2;
	}
	for (size_t i = 0; i < n_pos; i++) {
		pos[i] = argv[optind + (int)i];
		if (pos[i][0] == '\0')
			return cli_fail(
			    IPSNET_EUSAGE,
			    "an empty argument where an id belongs");
	}
	for (size_t i = 0; i < n_opts; i++) {
		if (opts[i].required && !seen[i]) {
			fprintf(stderr, "ipsnet: %s needs --%s\n", argv[0],
				opts[i].name);
			fputs(usage, stderr);
			return 2;
		}
	}
	return -1;
}

int cli_uint(const char *opt, const char *s, unsigned long min,
	     unsigned long max, unsigned long *out)
{
	char *end;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v < min ||
	    v > max)
		return cli_fail(IPSNET_EUSAGE,
				"%s takes a whole number from %lu to %lu, not "
				"'%s'",
				opt, min, max, s);
	*out = v;
	return 0;
}

int cli_version(const char *s, uint64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (s[0] < '0' || s[0] > '9' || *end != '\0' || errno != 0 || v == 0)
		return cli_fail(IPSNET_EUSAGE,
				"--version takes the version you last saw, a "
				"number from 1 on, not '%s'",
				s);
	*out = v;
	return 0;
}

int cli_date(const char *opt, const char *s)
{
	if (date_valid(s))
		return 0;
	return cli_fail(IPSNET_EUSAGE,
			"%s takes a date as YYYY-MM-DD, not '%s'", opt, s);
}

int cli_benefit(const char *s, int *out)
{
	int b = fmt_parse_benefit(s);
	if (b > 0) {
		*out = b;
		return 0;
	}
	return cli_fail(IPSNET_EUSAGE,
			"--benefit is one of none, participatiewet, wia, "
			"wajong, ww or other, not '%s'",
			s);
}

bool cli_parse_hours(const char *s, double *out)
{
	char buf[32], *end;
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(buf) || s[0] < '0' || s[0] > '9')
		return false;
	memcpy(buf, s, n + 1);
	char *comma = strchr(buf, ',');
	if (comma != NULL)
		*comma = '.'; /* 12,5: the Dutch way */
	errno = 0;
	double h = strtod(buf, &end);
	if (*end != '\0' || errno != 0 || !(h > 0.0 && h <= 80.0))
		return false;
	*out = h;
	return true;
}
