/* ipsnet report: the IPS monitor's figures for a year or a quarter, as the
 * caller's organisation may see them (docs/reports.md). */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "report_out.h"
#include "util.h"
#include "validate.h"

#define BY_REGION IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION
#define BY_PROGRAM IPSNET__V1__REPORT_GROUPING__REPORT_BY_PROGRAM
#define BY_FUNDER IPSNET__V1__REPORT_GROUPING__REPORT_BY_FUNDER
#define MAX_PERIODS 8
#define HTML_HISTORY_YEARS 5

static const char report_usage[] =
    "usage: ipsnet report (--year YYYY | --quarter YYYY-Qn) [--compare "
    "PERIOD]\n"
    "                     [--region N | --program ID] [--by "
    "region|program|funder]\n"
    "                     [--history YEARS] [--format table|json|csv|html]\n"
    "                     [--output FILE]\n"
    "       ipsnet report --explain\n"
    "\n"
    "The IPS monitor's figures for a year or a quarter: clients enrolled,\n"
    "started, employed and sustainably employed, the share employed,\n"
    "enrolment by funding type, programs and employment specialists, the\n"
    "fidelity of the programs and what in the data would bend a figure.\n"
    "NETWORK sees the nation; a GGZ its own programs; a municipality or UWV\n"
    "the trajectories it funds. Region, program and funder cells, and every\n"
    "report for a caller other than NETWORK, show small counts as \"<5\",\n"
    "and as \"x\" a count hidden so that a small one cannot be worked out.\n"
    "\n"
    "  --year YYYY          the calendar year\n"
    "  --quarter YYYY-Qn    a quarter (2024-Q3: July to September)\n"
    "  --compare PERIOD     a year or quarter to show beside it (repeatable)\n"
    "  --region N           only programs in labour-market region N (1-35),\n"
    "                       with the national figure beside it\n"
    "  --program ID         only program ID, with the national figure beside "
    "it\n"
    "  --by WHAT            a breakdown by region, program or funder\n"
    "                       (repeatable, or comma-separated)\n"
    "  --history YEARS      also each of the last YEARS calendar years (0-10)\n"
    "  --format FORMAT      table (default), json, csv or html (one\n"
    "                       self-contained page with charts)\n"
    "  --output FILE        write to FILE instead of standard output\n"
    "  --explain            print the definitions the figures follow\n";

/* The definitions; docs/reports.md says the same at more length. %u: the
 * sustained months (twice); then explain_small or, with a threshold of 0,
 * explain_no_small. */
static const char explain_text[] =
    "How ipsnet counts (docs/reports.md)\n"
    "\n"
    "Period       A calendar year or quarter; every date is a whole day, both\n"
    "             ends included.\n"
    "Enrolled     A client is enrolled in the period when one of her\n"
    "             trajectories was ACTIVE or ON_HOLD at any moment of it: "
    "from\n"
    "             the day it started to the day it closed, both included (on\n"
    "             the day of a transition it was in both states). When and\n"
    "             how it was ACTIVE or ON_HOLD comes from its transitions.\n"
    "Started      The trajectory became ACTIVE (ACCEPTED -> ACTIVE) in the\n"
    "             period. Resuming after a hold is not starting.\n"
    "Employed     Enrolled in the period, and a competitive job (the flag on\n"
    "             the job: regular work on the open labour market, at least\n"
    "             minimum wage) that overlaps the period: it began on or\n"
    "             before its last day and had not ended before its first. A\n"
    "             job that began before the trajectory counts too (the data\n"
    "             quality section says how many).\n"
    "Sustainably  Employed in the period in a competitive job that had "
    "lasted,\n"
    "employed     or has lasted, at least %u months by the end of the period:\n"
    "             it covered every day from its start to the day before the\n"
    "             same date %u months later (31 August + 6 months is 28\n"
    "             February), counting to its end date or to the period's end,\n"
    "             whichever is first. A job withdrawn (ended before its\n"
    "             first day) counts nowhere. In a period not over yet, jobs\n"
    "             count up to today.\n"
    "Employed %%   Employed / enrolled, of the same cell.\n"
    "Funding type The funder of the trajectory's approved funding request:\n"
    "             MUNICIPALITY, UWV or OTHER; \"no approved funding\" when it\n"
    "             has none (rejected, withdrawn and open requests do not\n"
    "             fund). With more than one approval the latest decision\n"
    "             counts.\n"
    "Once a cell  A client counts once in each cell (the nation, a region, a\n"
    "             program, a funder, a funding type), however many\n"
    "             trajectories or jobs she has there. She may count in two\n"
    "             cells of one breakdown, so cells can add up to more than\n"
    "             the total.\n"
    "Region       The labour-market region of the trajectory's program, as\n"
    "             registered now (for past years too).\n"
    "Programs     IPS programs in the cell and their employment specialists,\n"
    "             as registered now.\n"
    "Fidelity     The latest review of each program dated on or before the\n"
    "             end of the report's period: its total (25-125) and band\n"
    "             (115-125 exemplary, 100-114 good, 74-99 fair, 73 or less\n"
    "             not IPS), and how many programs fall in each band.\n"
    "Who sees     NETWORK: everything, in aggregate. A GGZ: its own\n"
    "             programs. A municipality or UWV: the trajectories it\n"
    "             approved funding for. Each report also shows the national\n"
    "             figure.\n";
/* %u: the small-count threshold (twice). */
static const char explain_small[] =
    "Small counts In every region, program and funder cell, and in every\n"
    "             report for a caller other than NETWORK, a count below %u is\n"
    "             shown as \"<%u\" (and never sent); where one hidden count\n"
    "             could be worked out from a total and its neighbours, or\n"
    "             hidden counts that add up to 0, the smallest neighbour is\n"
    "             hidden too, shown as \"x\" (the total instead, when the\n"
    "             hidden count is all of it: a region of one program). A\n"
    "             share made of a hidden count is shown as \"x\".\n";
static const char explain_no_small[] =
    "Small counts Shown as they are: the server's small_count_threshold\n"
    "             is 0, which turns suppression off (for tests only).\n";

/* ---- arguments ---------------------------------------------------------- */

struct period_text {
	char label[16], from[16], to[16];
};

/* "2024" or "2024-Q3" into a period. 0 or -1. */
static int parse_period(const char *s, bool quarter_only, struct period_text *p)
{
	int y, q = 0;
	char tail;
	size_t n = strlen(s);
	for (size_t i = 0; i < 4 && i < n; i++)
		if (!isdigit((unsigned char)s[i]))
			return -1;
	if (n == 4 && !quarter_only) {
		y = atoi(s);
	} else if (n == 7 && sscanf(s, "%4d-Q%1d%c", &y, &q, &tail) == 2 &&
		   q >= 1 && q <= 4) {
		;
	} else {
		return -1;
	}
	if (y < 1900 || y > 2199)
		return -1;
	static const char *const qfrom[] = {"01-01", "04-01", "07-01", "10-01"};
	static const char *const qto[] = {"03-31", "06-30", "09-30", "12-31"};
	snprintf(p->label, sizeof(p->label), "%s", s);
	snprintf(p->from, sizeof(p->from), "%04d-%s", y,
		 q == 0 ? "01-01" : qfrom[q - 1]);
	snprintf(p->to, sizeof(p->to), "%04d-%s", y,
		 q == 0 ? "12-31" : qto[q - 1]);
	return 0;
}

static int parse_by(const char *s, bool by[4])
{
	char buf[128];
	snprintf(buf, sizeof(buf), "%s", s);
	for (char *save, *t = strtok_r(buf, ",", &save); t != NULL;
	     t = strtok_r(NULL, ",", &save)) {
		if (strcmp(t, "region") == 0)
			by[BY_REGION] = true;
		else if (strcmp(t, "program") == 0)
			by[BY_PROGRAM] = true;
		else if (strcmp(t, "funder") == 0)
			by[BY_FUNDER] = true;
		else
			return -1;
	}
	return 0;
}

enum format { F_TABLE, F_JSON, F_CSV, F_HTML };

struct args {
	struct period_text periods[MAX_PERIODS];
	size_t n_periods;
	unsigned long region;
	const char *program;
	bool by[4];
	unsigned long history;
	bool history_given;
	enum format format;
	const char *output;
	bool explain;
};

static int parse_args(struct cli *cli, int argc, char **argv, struct args *a)
{
	static const struct option longopts[] = {
	    {"year", required_argument, NULL, 'y'},
	    {"quarter", required_argument, NULL, 'q'},
	    {"compare", required_argument, NULL, 'c'},
	    {"region", required_argument, NULL, 'r'},
	    {"program", required_argument, NULL, 'p'},
	    {"by", required_argument, NULL, 'b'},
	    {"history", required_argument, NULL, 'H'},
	    {"format", required_argument, NULL, 'f'},
	    {"output", required_argument, NULL, 'o'},
	    {"explain", no_argument, NULL, 'e'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	bool main_period = false;
	int ch;
	char *end;

	memset(a, 0, sizeof(*a));
	a->n_periods = 1; /* slot 0 is the main period */
	a->format = cli->json ? F_JSON : F_TABLE;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'y':
		case 'q':
			if (main_period)
				return cli_fail(
				    IPSNET_EUSAGE,
				    "give one --year or --quarter; "
				    "compare others with --compare");
			if (parse_period(optarg, false, &a->periods[0]) != 0 ||
			    (ch == 'y') != (strlen(optarg) == 4))
				return cli_fail(
				    IPSNET_EUSAGE,
				    ch == 'y' ? "--year takes a year such "
						"as 2024"
					      : "--quarter takes a quarter "
						"such as 2024-Q3");
			main_period = true;
			break;
		case 'c':
			if (a->n_periods == MAX_PERIODS)
				return cli_fail(IPSNET_EUSAGE,
						"at most %d periods compared",
						MAX_PERIODS - 1);
			if (parse_period(optarg, false,
					 &a->periods[a->n_periods]) != 0)
				return cli_fail(IPSNET_EUSAGE,
						"--compare takes a year (2023) "
						"or a quarter (2023-Q3)");
			a->n_periods++;
			break;
		case 'r':
			errno = 0;
			a->region = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || a->region < 1 ||
			    a->region > 35)
				return cli_fail(
				    IPSNET_EUSAGE,
				    "--region takes a labour-market "
				    "region from 1 to 35");
			break;
		case 'p':
			a->program = optarg;
			break;
		case 'b':
			if (parse_by(optarg, a->by) != 0)
				return cli_fail(IPSNET_EUSAGE,
						"--by takes region, program or "
						"funder");
			break;
		case 'H':
			errno = 0;
			a->history = strtoul(optarg, &end, 10);
			if (errno != 0 || *end != '\0' || a->history > 10)
				return cli_fail(
				    IPSNET_EUSAGE,
				    "--history takes 0 to 10 years");
			a->history_given = true;
			break;
		case 'f':
			if (strcmp(optarg, "table") == 0)
				a->format = F_TABLE;
			else if (strcmp(optarg, "json") == 0)
				a->format = F_JSON;
			else if (strcmp(optarg, "csv") == 0)
				a->format = F_CSV;
			else if (strcmp(optarg, "html") == 0)
				a->format = F_HTML;
			else
				return cli_fail(
				    IPSNET_EUSAGE,
				    "--format takes table, json, csv "
				    "or html");
			break;
		case 'o':
			a->output = optarg;
			break;
		case 'e':
			a->explain = true;
			break;
		case 'h':
			fputs(report_usage, stdout);
			return 0;
		default:
			return cli_bad_option(ch, argv, "report");
		}
	}
	if (optind < argc)
		return cli_fail(IPSNET_EUSAGE, "unexpected argument '%s'",
				argv[optind]);
	if (a->explain)
		return -1;
	if (!main_period)
		return cli_fail(IPSNET_EUSAGE,
				"give the period: --year YYYY or --quarter "
				"YYYY-Qn (ipsnet report --help)");
	if (a->region != 0 && a->program != NULL)
		return cli_fail(IPSNET_EUSAGE,
				"give --region or --program, not both: a "
				"program is in one region");
	if (a->format == F_HTML) {
		/* The page's charts need the regions and the years. */
		a->by[BY_REGION] = true;
		if (!a->history_given)
			a->history = HTML_HISTORY_YEARS;
	}
	return -1;
}

/* ---- asking ------------------------------------------------------------- */

static int ask(struct cli *cli, struct ipsnet_client *c,
	       Ipsnet__V1__ReportQuery *q, Ipsnet__V1__Envelope **resp)
{
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
	char err[512];
	(void)cli;
	req.body_case = IPSNET__V1__ENVELOPE__BODY_REPORT_QUERY;
	req.report_query = q;
	int rv = ipsnet_client_call(c, &req, resp, err, sizeof(err));
	if (rv != 0) {
		ipsnet_envelope_free(*resp);
		*resp = NULL;
		return cli_fail(rv, "%s", err);
	}
	if ((*resp)->body_case != IPSNET__V1__ENVELOPE__BODY_REPORT) {
		ipsnet_envelope_free(*resp);
		*resp = NULL;
		return cli_fail(IPSNET_EPROTOCOL,
				"the server answered something else than a "
				"report");
	}
	return 0;
}

static int explain(struct cli *cli)
{
	uint32_t months = 6, threshold = 5;
	bool from_server = false;
	struct ipsnet_options o = cli_options(cli);
	struct ipsnet_client *c = NULL;
	char err[512];

	/* The thresholds in force are the server's; without one, the
	 * defaults. */
	if (cli->settings_rv == 0 && o.ca != NULL && o.cert != NULL) {
		o.timeout_ms = cli->timeout_ms < 3000 ? cli->timeout_ms : 3000;
		o.software = "ipsnet/" IPSNET_VERSION;
		if (ipsnet_client_open(&c, &o, err, sizeof(err)) == 0) {
			Ipsnet__V1__ReportQuery q =
			    IPSNET__V1__REPORT_QUERY__INIT;
			Ipsnet__V1__Envelope *resp = NULL;
			q.definitions_only = true;
			if (ask(cli, c, &q, &resp) == 0 &&
			    resp->report->definitions != NULL) {
				months =
				    resp->report->definitions->sustained_months;
				threshold = resp->report->definitions
						->small_count_threshold;
				from_server = true;
			}
			ipsnet_envelope_free(resp);
			ipsnet_client_close(c);
		}
	}
	printf(explain_text, months, months);
	if (threshold > 0)
		printf(explain_small, threshold, threshold);
	else
		printf("%s", explain_no_small);
	printf("\nThresholds: %u months; ", months);
	if (threshold > 0)
		printf("counts below %u suppressed", threshold);
	else
		printf("no count suppressed");
	printf("%s.\n", from_server ? " (as the server is configured)"
				    : " (the defaults: no server was reached; "
				      "its [report] section may differ)");
	return 0;
}

/* ---- table -------------------------------------------------------------- */

struct out {
	FILE *f;
	uint32_t threshold;
};

static const char *cnt(const struct out *o, char *buf,
		       const Ipsnet__V1__ReportCount *c)
{
	return report_count_text(buf, 32, c, o->threshold, true);
}

typedef const Ipsnet__V1__ReportCount *(*count_of)(
    const Ipsnet__V1__ReportFigures *f);

#define COUNT_OF(field)                                      \
	static const Ipsnet__V1__ReportCount *count_##field( \
	    const Ipsnet__V1__ReportFigures *f)              \
	{                                                    \
		return f != NULL ? f->field : NULL;          \
	}
COUNT_OF(enrolled)
COUNT_OF(started)
COUNT_OF(employed)
COUNT_OF(sustained)
COUNT_OF(funded_municipality)
COUNT_OF(funded_uwv)
COUNT_OF(funded_other)
COUNT_OF(unfunded)

static const struct {
	const char *label;
	count_of get; /* NULL: the share; the programs; the specialists */
	int special;
} lines[] = {
    {"clients enrolled", count_enrolled, 0},
    {"  of whom started", count_started, 0},
    {"employed (competitive)", count_employed, 0},
    {"  share employed", NULL, 1},
    {"sustainably employed", count_sustained, 0},
    {"enrolled by funding type:", NULL, 4},
    {"  municipality", count_funded_municipality, 0},
    {"  UWV", count_funded_uwv, 0},
    {"  other funder", count_funded_other, 0},
    {"  no approved funding", count_unfunded, 0},
    {"IPS programs", NULL, 2},
    {"employment specialists", NULL, 3},
};

static void cell_text(const struct out *o, char *buf, size_t cap,
		      const Ipsnet__V1__ReportFigures *f, size_t line)
{
	if (f == NULL) {
		snprintf(buf, cap, "-");
		return;
	}
	switch (lines[line].special) {
	case 1:
		report_share_text(buf, cap, f);
		return;
	case 2:
		snprintf(buf, cap, "%u", f->programs);
		return;
	case 3:
		snprintf(buf, cap, "%u", f->specialists);
		return;
	case 4:
		buf[0] = '\0';
		return;
	}
	char tmp[32];
	snprintf(buf, cap, "%s", cnt(o, tmp, lines[line].get(f)));
}

static void print_factsheet(const struct out *o, const Ipsnet__V1__Report *r)
{
	char head[MAX_PERIODS * 2][48];
	const Ipsnet__V1__ReportFigures *cols[MAX_PERIODS * 2];
	size_t n = 0;
	for (size_t i = 0; i < r->n_periods && n + 2 <= MAX_PERIODS * 2; i++) {
		const Ipsnet__V1__ReportPeriodResult *p = r->periods[i];
		cols[n] = p->scope;
		snprintf(head[n++], sizeof(head[0]), "%s", p->period->label);
		if (p->national != NULL) {
			cols[n] = p->national;
			snprintf(head[n++], sizeof(head[0]), "%s nation",
				 p->period->label);
		}
	}
	fprintf(o->f, "%-26s", "");
	for (size_t k = 0; k < n; k++)
		fprintf(o->f, " %15s", head[k]);
	fputc('\n', o->f);
	for (size_t l = 0; l < sizeof(lines) / sizeof(lines[0]); l++) {
		if (lines[l].special == 4)
			fputs(lines[l].label, o->f);
		else
			fprintf(o->f, "%-26s", lines[l].label);
		for (size_t k = 0; k < n && lines[l].special != 4; k++) {
			char buf[32];
			cell_text(o, buf, sizeof(buf), cols[k], l);
			fprintf(o->f, " %15s", buf);
		}
		fputc('\n', o->f);
	}
}

static void text_cell(char *out, size_t cap, const char *s, size_t width);

static void print_group(const struct out *o, const Ipsnet__V1__ReportGroup *g)
{
	static const char *const heads[] = {
	    "enrolled", "started", "employed", "share",	  "sustained",
	    "municip.", "UWV",	   "other",    "unfunded"};
	bool funder = g->by == BY_FUNDER;
	fprintf(o->f, "\nby %s\n", report_grouping_name(g->by));
	fprintf(o->f, "%-32s", report_grouping_name(g->by));
	for (size_t k = 0; k < sizeof(heads) / sizeof(heads[0]); k++)
		fprintf(o->f, " %9s", heads[k]);
	if (!funder)
		fprintf(o->f, " %8s %11s", "programs", "specialists");
	fputc('\n', o->f);
	for (size_t i = 0; i < g->n_rows; i++) {
		const Ipsnet__V1__ReportFigures *f = g->rows[i];
		/* 31 characters and a blank, however many bytes each (an
		 * organisation's name in Frisian has some of two). */
		char name[4 * 31 + 1], b[9][32];
		text_cell(name, sizeof(name),
			  g->by == BY_PROGRAM ? f->key : f->label, 31);
		cnt(o, b[0], f->enrolled);
		cnt(o, b[1], f->started);
		cnt(o, b[2], f->employed);
		report_share_text(b[3], 32, f);
		cnt(o, b[4], f->sustained);
		cnt(o, b[5], f->funded_municipality);
		cnt(o, b[6], f->funded_uwv);
		cnt(o, b[7], f->funded_other);
		cnt(o, b[8], f->unfunded);
		fprintf(o->f, "%s ", name);
		for (int k = 0; k < 9; k++)
			fprintf(o->f, " %9s", b[k]);
		if (!funder)
			fprintf(o->f, " %8u %11u", f->programs, f->specialists);
		fputc('\n', o->f);
	}
}

static const struct {
	const char *name, *label;
	size_t offset;
} quality_items[] = {
#define Q(field, text)                                                   \
	{                                                                \
#field, text, offsetof(Ipsnet__V1__ReportQuality, field) \
	}
    Q(trajectories_without_start,
      "trajectories started (by their state) without a start date: in no "
      "figure"),
    Q(transitions_out_of_order,
      "trajectories with a transition dated before the one it follows"),
    Q(jobs_not_competitive,
      "jobs of enrolled clients in the period not marked competitive: not "
      "employment"),
    Q(jobs_before_trajectory,
      "competitive jobs counted that began before the trajectory started"),
    Q(jobs_end_before_start, "jobs that end before they begin: in no figure"),
    Q(funding_without_decision_date,
      "funding decisions without a decision date"),
    Q(funding_pending,
      "enrolled trajectories with a request still open and none approved: "
      "counted as no approved funding"),
    Q(several_approved,
      "enrolled trajectories with more than one approval: the latest counts"),
    Q(clients_in_several_programs,
      "clients enrolled in more than one program: once in each"),
#undef Q
};

static const Ipsnet__V1__ReportCount *
quality_count(const Ipsnet__V1__ReportQuality *q, size_t i)
{
	return *(Ipsnet__V1__ReportCount *const *)((const char *)q +
						   quality_items[i].offset);
}

static void print_quality(const struct out *o,
			  const Ipsnet__V1__ReportPeriodResult *p)
{
	if (p->quality == NULL)
		return;
	fprintf(o->f, "\ndata quality, %s\n", p->period->label);
	for (size_t i = 0; i < sizeof(quality_items) / sizeof(quality_items[0]);
	     i++) {
		char b[32];
		fprintf(o->f, "  %9s  %s\n",
			cnt(o, b, quality_count(p->quality, i)),
			quality_items[i].label);
	}
}

/* s for a column width characters wide: cut at a whole UTF-8 character,
 * control characters shown as '?' (a program's name is anybody's text),
 * padded with spaces. cap >= 4 * width + 1. */
static void text_cell(char *out, size_t cap, const char *s, size_t width)
{
	size_t n = 0, chars = 0;
	const unsigned char *p = (const unsigned char *)(s != NULL ? s : "");
	for (; *p != '\0' && n + 1 < cap; p++) {
		bool starts = (*p & 0xC0) != 0x80;
		if (starts && chars == width)
			break;
		chars += starts;
		size_t control = text_control_len((const char *)p);
		out[n++] = control > 0 ? '?' : (char)*p;
		if (control > 1)
			p += control - 1;
	}
	for (; chars < width && n + 1 < cap; chars++)
		out[n++] = ' ';
	out[n] = '\0';
}

static void print_fidelity(const struct out *o, const Ipsnet__V1__Report *r)
{
	fprintf(o->f, "\nfidelity (the latest review up to %s)\n",
		r->n_periods > 0 ? r->periods[0]->period->to : "-");
	for (size_t i = 0; i < r->n_bands; i++)
		fprintf(o->f, "  %-13s %4u program%s\n", r->bands[i]->band,
			r->bands[i]->programs,
			r->bands[i]->programs == 1 ? "" : "s");
	if (r->n_fidelity == 0)
		return;
	fprintf(o->f, "\n%-24s %-30s %6s %-10s %5s %-10s %s\n", "program",
		"name", "region", "reviewed", "total", "band", "by");
	for (size_t i = 0; i < r->n_fidelity; i++) {
		const Ipsnet__V1__FidelityScore *s = r->fidelity[i];
		bool reviewed = s->review_date != NULL && s->review_date[0];
		char total[8] = "-";
		if (reviewed)
			snprintf(total, sizeof(total), "%u", s->total);
		char name[30 * 4 + 1];
		text_cell(name, sizeof(name), s->program_name, 30);
		fprintf(o->f, "%-24.24s %s %6u %-10s %5s %-10s %s\n",
			s->program_id, name, s->region,
			reviewed ? s->review_date : "-", total,
			reviewed ? s->band : "-",
			!reviewed	 ? ""
			: s->independent ? "independent"
					 : "self-assessment");
	}
}

static void print_history(const struct out *o, const char *title,
			  Ipsnet__V1__ReportFigures *const *rows, size_t n)
{
	if (n == 0)
		return;
	fprintf(o->f, "\n%s\n%-26s", title, "");
	for (size_t k = 0; k < n; k++)
		fprintf(o->f, " %10s", rows[k]->key);
	fputc('\n', o->f);
	for (size_t l = 0; l < sizeof(lines) / sizeof(lines[0]); l++) {
		if (lines[l].special == 4)
			fputs(lines[l].label, o->f);
		else
			fprintf(o->f, "%-26s", lines[l].label);
		for (size_t k = 0; k < n && lines[l].special != 4; k++) {
			char buf[32];
			cell_text(o, buf, sizeof(buf), rows[k], l);
			fprintf(o->f, " %10s", buf);
		}
		fputc('\n', o->f);
	}
}

static void print_table(const struct out *o, const Ipsnet__V1__Report *r)
{
	const Ipsnet__V1__ReportPeriodResult *p0 = r->periods[0];
	fprintf(o->f, "IPS monitor: %s, %s (%s to %s)\n", r->scope,
		p0->period->label, p0->period->from, p0->period->to);
	fprintf(o->f, "journal entry %llu, made %s; sustained = %u months",
		(unsigned long long)r->journal_seq, r->generated_at,
		r->definitions->sustained_months);
	char day[16];
	if (report_counted_to(day, sizeof(day), r) != NULL)
		fprintf(
		    o->f,
		    ";\na period or year not over yet counts jobs up to %s, "
		    "not beyond",
		    day);
	if (o->threshold > 0)
		fprintf(o->f,
			";\n\"<%u\" = fewer than %u clients; \"x\" = hidden so "
			"that such a count cannot be worked out from a total",
			o->threshold, o->threshold);
	fprintf(o->f, "\n\n");
	print_factsheet(o, r);
	for (size_t i = 0; i < r->n_periods; i++) {
		const Ipsnet__V1__ReportPeriodResult *p = r->periods[i];
		if (r->n_periods > 1 && p->n_groups > 0)
			fprintf(o->f, "\n== %s ==\n", p->period->label);
		for (size_t g = 0; g < p->n_groups; g++)
			print_group(o, p->groups[g]);
	}
	print_history(
	    o, r->national_scope ? "year by year" : "year by year, in scope",
	    r->history, r->n_history);
	print_history(o, "year by year, national", r->national_history,
		      r->n_national_history);
	for (size_t i = 0; i < r->n_periods; i++)
		print_quality(o, r->periods[i]);
	print_fidelity(o, r);
}

/* ---- JSON --------------------------------------------------------------- */

static json_t *json_count(const struct out *o, const Ipsnet__V1__ReportCount *c)
{
	char buf[32];
	if (c == NULL)
		return json_null();
	if (c->suppressed)
		return json_string(report_count_text(buf, sizeof(buf), c,
						     o->threshold, false));
	return json_integer((json_int_t)c->value);
}

static json_t *json_figures(const struct out *o,
			    const Ipsnet__V1__ReportFigures *f)
{
	char buf[32];
	json_t *j = json_object();
	json_object_set_new(j, "key", fmt_json_str(f->key));
	json_object_set_new(j, "label", fmt_json_str(f->label));
	json_object_set_new(j, "enrolled", json_count(o, f->enrolled));
	json_object_set_new(j, "started", json_count(o, f->started));
	json_object_set_new(j, "employed", json_count(o, f->employed));
	const Ipsnet__V1__ReportShare *s = f->employed_share;
	json_object_set_new(
	    j, "employed_percent",
	    s == NULL || s->undefined ? json_null()
	    : s->suppressed
		? json_string(report_share_text(buf, sizeof(buf), f))
		: json_real((double)report_share_units(f, 2) / 100.0));
	json_object_set_new(j, "sustained", json_count(o, f->sustained));
	json_t *fu = json_object();
	json_object_set_new(fu, "municipality",
			    json_count(o, f->funded_municipality));
	json_object_set_new(fu, "uwv", json_count(o, f->funded_uwv));
	json_object_set_new(fu, "other", json_count(o, f->funded_other));
	json_object_set_new(fu, "unfunded", json_count(o, f->unfunded));
	json_object_set_new(j, "funding", fu);
	json_object_set_new(j, "programs", json_integer(f->programs));
	json_object_set_new(j, "specialists", json_integer(f->specialists));
	return j;
}

static json_t *json_rows(const struct out *o,
			 Ipsnet__V1__ReportFigures *const *rows, size_t n)
{
	json_t *a = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(a, json_figures(o, rows[i]));
	return a;
}

static json_t *json_report(const struct out *o, const Ipsnet__V1__Report *r)
{
	json_t *j = json_object();
	json_object_set_new(j, "scope", json_string(r->scope));
	json_object_set_new(j, "national_scope",
			    json_boolean(r->national_scope));
	json_object_set_new(j, "generated_at", json_string(r->generated_at));
	json_object_set_new(j, "journal_seq",
			    json_integer((json_int_t)r->journal_seq));
	json_t *d = json_object();
	json_object_set_new(d, "sustained_months",
			    json_integer(r->definitions->sustained_months));
	json_object_set_new(
	    d, "small_count_threshold",
	    json_integer(r->definitions->small_count_threshold));
	json_object_set_new(j, "definitions", d);
	json_t *periods = json_array();
	for (size_t i = 0; i < r->n_periods; i++) {
		const Ipsnet__V1__ReportPeriodResult *p = r->periods[i];
		json_t *pj = json_object();
		json_object_set_new(pj, "label", json_string(p->period->label));
		json_object_set_new(pj, "from", json_string(p->period->from));
		json_object_set_new(pj, "to", json_string(p->period->to));
		json_object_set_new(pj, "scope", json_figures(o, p->scope));
		if (p->national != NULL)
			json_object_set_new(pj, "national",
					    json_figures(o, p->national));
		for (size_t g = 0; g < p->n_groups; g++) {
			char key[32];
			snprintf(key, sizeof(key), "by_%s",
				 report_grouping_name(p->groups[g]->by));
			json_object_set_new(pj, key,
					    json_rows(o, p->groups[g]->rows,
						      p->groups[g]->n_rows));
		}
		json_t *q = json_object();
		for (size_t k = 0;
		     p->quality != NULL &&
		     k < sizeof(quality_items) / sizeof(quality_items[0]);
		     k++) {
			json_object_set_new(
			    q, quality_items[k].name,
			    json_count(o, quality_count(p->quality, k)));
		}
		json_object_set_new(pj, "quality", q);
		json_array_append_new(periods, pj);
	}
	json_object_set_new(j, "periods", periods);
	json_object_set_new(j, "history",
			    json_rows(o, r->history, r->n_history));
	if (r->n_national_history > 0)
		json_object_set_new(
		    j, "national_history",
		    json_rows(o, r->national_history, r->n_national_history));
	json_t *fid = json_object(), *progs = json_array(),
	       *bands = json_object();
	for (size_t i = 0; i < r->n_fidelity; i++) {
		const Ipsnet__V1__FidelityScore *s = r->fidelity[i];
		json_t *pj = json_object();
		bool reviewed = s->review_date != NULL && s->review_date[0];
		json_object_set_new(pj, "program", fmt_json_str(s->program_id));
		json_object_set_new(pj, "name", fmt_json_str(s->program_name));
		json_object_set_new(pj, "region", json_integer(s->region));
		json_object_set_new(pj, "review_date",
				    reviewed ? json_string(s->review_date)
					     : json_null());
		json_object_set_new(pj, "total",
				    reviewed ? json_integer(s->total)
					     : json_null());
		json_object_set_new(
		    pj, "band", reviewed ? json_string(s->band) : json_null());
		json_object_set_new(pj, "independent",
				    json_boolean(s->independent));
		json_array_append_new(progs, pj);
	}
	for (size_t i = 0; i < r->n_bands; i++)
		json_object_set_new(bands, r->bands[i]->band,
				    json_integer(r->bands[i]->programs));
	json_object_set_new(fid, "bands", bands);
	json_object_set_new(fid, "programs", progs);
	json_object_set_new(j, "fidelity", fid);
	return j;
}

/* ---- CSV: one value a line, for a spreadsheet's pivot table ------------- */

/* Whether a spreadsheet would take field s for a formula: text that begins
 * with = + - @ or a tab or carriage return (a number such as -1 is not).
 * A GGZ names its own programs, and NETWORK opens the file. */
static bool csv_formula(const char *s)
{
	if (s[0] == '\0' || strchr("=+-@\t\r", s[0]) == NULL)
		return false;
	if (s[0] != '-')
		return true;
	/* A number as a spreadsheet reads one: digits, a point, an exponent.
	 * strtod takes "-nan", "-inf" and hexadecimal too, which a
	 * spreadsheet runs as a formula. */
	char *end;
	(void)strtod(s, &end);
	return end == s || *end != '\0' ||
	       strspn(s + 1, "0123456789.eE+-") != strlen(s + 1);
}

static void csv_field(FILE *f, const char *s)
{
	bool formula = csv_formula(s);
	bool quote = formula || strpbrk(s, ",\"\n\r") != NULL;
	if (!quote) {
		fputs(s, f);
		return;
	}
	fputc('"', f);
	if (formula)
		fputc('\'', f); /* shown as the text it is */
	for (; *s; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void csv_line(FILE *f, const char *const *fields, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			fputc(',', f);
		csv_field(f, fields[i] != NULL ? fields[i] : "");
	}
	fputc('\n', f);
}

static void csv_figures(const struct out *o, const char *period,
			const char *breakdown,
			const Ipsnet__V1__ReportFigures *f)
{
	static const char *const names[] = {
	    "enrolled",		"started",	"employed",
	    "employed_percent", "sustained",	"funded_municipality",
	    "funded_uwv",	"funded_other", "unfunded",
	    "programs",		"specialists"};
	const Ipsnet__V1__ReportCount *counts[] = {
	    f->enrolled,   f->started,	    f->employed,
	    NULL,	   f->sustained,    f->funded_municipality,
	    f->funded_uwv, f->funded_other, f->unfunded};
	for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++) {
		char v[32];
		if (k == 3) {
			const Ipsnet__V1__ReportShare *s = f->employed_share;
			if (s == NULL || s->undefined)
				v[0] = '\0';
			else if (s->suppressed)
				snprintf(v, sizeof(v), "x");
			else
				report_share_digits(v, sizeof(v), f, 1);
		} else if (k == 9) {
			snprintf(v, sizeof(v), "%u", f->programs);
		} else if (k == 10) {
			snprintf(v, sizeof(v), "%u", f->specialists);
		} else {
			report_count_text(v, sizeof(v), counts[k], o->threshold,
					  false);
		}
		const char *fields[] = {period,	  breakdown, f->key,
					f->label, names[k],  v};
		csv_line(o->f, fields, 6);
	}
}

static void print_csv(const struct out *o, const Ipsnet__V1__Report *r)
{
	const char *head[] = {"period", "breakdown", "key",
			      "label",	"measure",   "value"};
	csv_line(o->f, head, 6);
	for (size_t i = 0; i < r->n_periods; i++) {
		const Ipsnet__V1__ReportPeriodResult *p = r->periods[i];
		const char *label = p->period->label;
		csv_figures(o, label, r->national_scope ? "national" : "scope",
			    p->scope);
		if (p->national != NULL)
			csv_figures(o, label, "national", p->national);
		for (size_t g = 0; g < p->n_groups; g++)
			for (size_t k = 0; k < p->groups[g]->n_rows; k++)
				csv_figures(
				    o, label,
				    report_grouping_name(p->groups[g]->by),
				    p->groups[g]->rows[k]);
		for (size_t k = 0;
		     p->quality != NULL &&
		     k < sizeof(quality_items) / sizeof(quality_items[0]);
		     k++) {
			char v[32];
			const char *name = quality_items[k].name;
			report_count_text(v, sizeof(v),
					  quality_count(p->quality, k),
					  o->threshold, false);
			const char *fields[] = {label,	 "quality",
						name,	 quality_items[k].label,
						"count", v};
			csv_line(o->f, fields, 6);
		}
	}
	for (size_t i = 0; i < r->n_history; i++)
		csv_figures(o, r->history[i]->key,
			    r->national_scope ? "year" : "year_scope",
			    r->history[i]);
	for (size_t i = 0; i < r->n_national_history; i++)
		csv_figures(o, r->national_history[i]->key, "year_national",
			    r->national_history[i]);
	const char *period =
	    r->n_periods > 0 ? r->periods[0]->period->label : "";
	for (size_t i = 0; i < r->n_fidelity; i++) {
		const Ipsnet__V1__FidelityScore *s = r->fidelity[i];
		char total[16] = "";
		if (s->review_date != NULL && s->review_date[0])
			snprintf(total, sizeof(total), "%u", s->total);
		const char *f1[] = {period,	     "fidelity", s->program_id,
				    s->program_name, "total",	 total};
		const char *f2[] = {period,	     "fidelity", s->program_id,
				    s->program_name, "band",	 s->band};
		const char *f3[] = {period,	   "fidelity",
				    s->program_id, s->program_name,
				    "review_date", s->review_date};
		csv_line(o->f, f1, 6);
		csv_line(o->f, f2, 6);
		csv_line(o->f, f3, 6);
	}
	for (size_t i = 0; i < r->n_bands; i++) {
		char v[16];
		snprintf(v, sizeof(v), "%u", r->bands[i]->programs);
		const char *fields[] = {period,
					"fidelity_band",
					r->bands[i]->band,
					r->bands[i]->band,
					"programs",
					v};
		csv_line(o->f, fields, 6);
	}
}

/* ---- the command -------------------------------------------------------- */

int cmd_report(struct cli *cli, int argc, char **argv)
{
	struct args a;
	int rv = parse_args(cli, argc, argv, &a);
	if (rv >= 0)
		return rv;
	if (a.explain)
		return explain(cli);

	Ipsnet__V1__ReportQuery q = IPSNET__V1__REPORT_QUERY__INIT;
	Ipsnet__V1__ReportPeriod periods[MAX_PERIODS];
	Ipsnet__V1__ReportPeriod *pp[MAX_PERIODS];
	Ipsnet__V1__ReportGrouping by[3];
	for (size_t i = 0; i < a.n_periods; i++) {
		ipsnet__v1__report_period__init(&periods[i]);
		periods[i].label = a.periods[i].label;
		periods[i].from = a.periods[i].from;
		periods[i].to = a.periods[i].to;
		pp[i] = &periods[i];
	}
	q.periods = pp;
	q.n_periods = a.n_periods;
	q.region = (uint32_t)a.region;
	q.program_id = (char *)(a.program != NULL ? a.program : "");
	for (int b = BY_REGION; b <= BY_FUNDER; b++)
		if (a.by[b])
			by[q.n_by++] = (Ipsnet__V1__ReportGrouping)b;
	q.by = by;
	q.history_years = (uint32_t)a.history;

	struct ipsnet_client *c;
	rv = cli_connect(cli, &c);
	if (rv != 0)
		return rv;
	Ipsnet__V1__Envelope *resp = NULL;
	rv = ask(cli, c, &q, &resp);
	ipsnet_client_close(c);
	if (rv != 0)
		return rv;
	const Ipsnet__V1__Report *r = resp->report;
	if (r->n_periods == 0 || r->definitions == NULL) {
		ipsnet_envelope_free(resp);
		return cli_fail(IPSNET_EPROTOCOL, "the report came back empty");
	}

	struct out o = {stdout, r->definitions->small_count_threshold};
	if (a.output != NULL && (o.f = fopen(a.output, "w")) == NULL) {
		rv = cli_fail(IPSNET_EINVAL, "cannot write '%s': %s", a.output,
			      strerror(errno));
		ipsnet_envelope_free(resp);
		return rv;
	}
	switch (a.format) {
	case F_TABLE:
		print_table(&o, r);
		break;
	case F_CSV:
		print_csv(&o, r);
		break;
	case F_JSON: {
		json_t *j = json_report(&o, r);
		if (json_dumpf(j, o.f,
			       JSON_INDENT(2) | JSON_PRESERVE_ORDER |
				   JSON_REAL_PRECISION(10)) == 0)
			fputc('\n', o.f);
		json_decref(j);
		break;
	}
	case F_HTML:
		report_html_write(o.f, r);
		break;
	}
	rv = 0;
	if (ferror(o.f) || (o.f != stdout && fclose(o.f) != 0))
		rv = cli_fail(IPSNET_EINVAL, "cannot write the report: %s",
			      strerror(errno));
	else if (o.f != stdout && !cli->json)
		fprintf(stderr, "ipsnet: wrote %s\n", a.output);
	ipsnet_envelope_free(resp);
	return rv;
}
