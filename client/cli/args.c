/* Arguments of the commands: command groups, options, value checks. */
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
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

/* "client register": the command being parsed, for messages. */
static char command[64];

static void group_usage(FILE *out, const char *usage,
			const struct command *subs, size_t n_subs)
{
	fputs(usage, out);
	fputs("\nsubcommands:\n", out);
	for (size_t i = 0; i < n_subs; i++)
		fprintf(out, "  %-10s %s\n", subs[i].name, subs[i].summary);
}

/* One line on stderr about a usage error, pointing at the help. */
static int usage_error(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

static int usage_error(const char *fmt, ...)
{
	va_list ap;
	fputs("ipsnet: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "; see 'ipsnet %s --help'\n", command);
	return 2;
}

int cli_dispatch(struct cli *cli, int argc, char **argv,
		 const struct command *subs, size_t n_subs, const char *usage)
{
	char names[160] = "";
	for (size_t i = 0; i < n_subs; i++) {
		size_t len = strlen(names);
		snprintf(names + len, sizeof(names) - len, "%s%s",
			 i == 0		   ? ""
			 : i + 1 == n_subs ? " or "
					   : ", ",
			 subs[i].name);
	}
	snprintf(command, sizeof(command), "%s", argv[0]);
	if (argc < 2)
		return usage_error("'ipsnet %s' needs a subcommand: %s",
				   argv[0], names);
	if (is_help(argv[1])) {
		group_usage(stdout, usage, subs, n_subs);
		fputs(help_footer, stdout);
		return 0;
	}
	for (size_t i = 0; i < n_subs; i++) {
		if (strcmp(argv[1], subs[i].name) == 0) {
			snprintf(command, sizeof(command), "%s %s", argv[0],
				 argv[1]);
			return subs[i].run(cli, argc - 1, argv + 1);
		}
	}
	return usage_error("'%s' is not a subcommand of '%s' (%s)", argv[1],
			   argv[0], names);
}

int cli_parse(int argc, char **argv, const struct cli_opt *opts, size_t n_opts,
	      const char **pos, size_t n_pos, const char *usage)
{
	struct option longopts[MAX_OPTS + 2];
	bool seen[MAX_OPTS] = {0};
	size_t n = 0;
	int ch;

	if (command[0] == '\0')
		snprintf(command, sizeof(command), "%s", argv[0]);
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
		if (ch == ':')
			return usage_error("%s needs a value",
					   argv[optind - 1]);
		if (ch == '?')
			return usage_error("%s is not an option of 'ipsnet %s'",
					   argv[optind - 1], command);
		ch -= OPT_BASE;
		const struct cli_opt *o = &opts[ch];
		if (seen[ch])
			return usage_error("--%s given twice", o->name);
		seen[ch] = true;
		if (o->type == CLI_STR && !utf8_valid(optarg))
			return usage_error("--%s is not UTF-8 text; set the "
					   "terminal or the script to UTF-8",
					   o->name);
		if (o->type == CLI_STR)
			*o->str = optarg;
		else
			*o->flag = true;
	}
	size_t got = (size_t)(argc - optind);
	if (got > n_pos)
		return usage_error("unexpected argument '%s'",
				   argv[optind + (int)n_pos]);
	if (got < n_pos)
		return usage_error("'ipsnet %s' takes %zu argument%s", command,
				   n_pos, n_pos == 1 ? "" : "s");
	for (size_t i = 0; i < n_pos; i++) {
		pos[i] = argv[optind + (int)i];
		if (pos[i][0] == '\0')
			return usage_error("an empty argument where an id "
					   "belongs");
		if (!utf8_valid(pos[i]))
			return usage_error("an argument is not UTF-8 text; set "
					   "the terminal or the script to "
					   "UTF-8");
	}
	for (size_t i = 0; i < n_opts; i++)
		if (opts[i].required && !seen[i])
			return usage_error("'ipsnet %s' needs --%s", command,
					   opts[i].name);
	return -1;
}

int cli_bad_option(int ch, char **argv, const char *name)
{
	if (ch == ':')
		fprintf(stderr,
			"ipsnet: %s needs a value; see 'ipsnet %s --help'\n",
			argv[optind - 1], name);
	else
		fprintf(stderr,
			"ipsnet: %s is not an option of 'ipsnet %s'; see "
			"'ipsnet %s --help'\n",
			argv[optind - 1], name, name);
	return 2;
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
	int days;
	switch (date_problem(s, &days)) {
	case DATE_OK:
		return 0;
	case DATE_YEAR:
		return cli_fail(IPSNET_EUSAGE,
				"%s takes a date from 1900 to 2199, not '%s'",
				opt, s);
	case DATE_MONTH:
		return cli_fail(IPSNET_EUSAGE,
				"%s '%s' is no date: a month is 01 to 12", opt,
				s);
	case DATE_DAY: {
		static const char *const months[] = {
		    "January",	 "February", "March",	 "April",
		    "May",	 "June",     "July",	 "August",
		    "September", "October",  "November", "December"};
		int month = (s[5] - '0') * 10 + (s[6] - '0');
		return cli_fail(IPSNET_EUSAGE,
				"%s '%s' is no date: %s %.4s has %d days", opt,
				s, months[month - 1], s, days);
	}
	case DATE_SHAPE:
		break;
	}
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

int cli_client_id(const char *what, const char *id)
{
	size_t digits = 0;
	/* No client is no narrower than every client (AuditQuery). */
	if (id[0] == '\0')
		return cli_fail(IPSNET_EUSAGE,
				"%s is empty: give the id the server gave the "
				"client (as cl-0123456789abcdef)",
				what);
	for (const char *p = id; *p != '\0'; p++) {
		if (*p >= '0' && *p <= '9')
			digits++;
		else if (strchr(" .-/\t", *p) == NULL)
			return 0;
	}
	/* The server can only answer as to anyone who names a client it may
	 * not see ("not your client"), also to her own GGZ. */
	if (digits == 9)
		return cli_fail(IPSNET_EUSAGE,
				"%s is the id the server gave the client (as "
				"cl-0123456789abcdef), not her BSN: 'ipsnet "
				"client find --bsn BSN' prints it",
				what);
	return 0;
}

bool cli_parse_hours(const char *s, double *out)
{
	char buf[32], *end;
	size_t n = strlen(s);
	if (n == 0 || n >= sizeof(buf) || s[0] < '0' || s[0] > '9' ||
	    strspn(s, "0123456789.,") != n)
		return false; /* strtod takes "0x10" and "1e1" too */
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
