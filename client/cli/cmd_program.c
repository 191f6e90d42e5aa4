/* ipsnet program put|list, ipsnet fidelity record. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "table.h"
#include "util.h"
#include "validate.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name
#define FIDELITY_ITEMS 25

static int list_programs(struct cli *cli, Ipsnet__V1__Envelope **resp)
{
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__ListPrograms m = IPSNET__V1__LIST_PROGRAMS__INIT;
	req.body_case = BODY(LIST_PROGRAMS);
	req.list_programs = &m;
	return cli_read(cli, &req, BODY(PROGRAM_LIST), resp);
}

static const Ipsnet__V1__Program *find_program(const Ipsnet__V1__ProgramList *l,
					       const char *id)
{
	for (size_t i = 0; i < l->n_programs; i++)
		if (strcmp(l->programs[i]->id, id) == 0)
			return l->programs[i];
	return NULL;
}

static const char put_usage[] =
    "usage: ipsnet program put PROGRAM --owner ORG --name NAME --region R\n"
    "                          --specialists K [--quiet]\n"
    "       ipsnet program put PROGRAM --version N [--owner ORG] [--name "
    "NAME]\n"
    "                          [--region R] [--specialists K] [--quiet]\n"
    "Adds an IPS program (a team of employment specialists) of the GGZ\n"
    "ORG, or with --version changes one: what is not given stays as it is.\n"
    "PROGRAM is an id you choose: a-z, 0-9 and '-'. NETWORK may put any\n"
    "program, a GGZ its own.\n"
    "\n"
    "  --region R        labour-market region, 1 to 35\n"
    "  --specialists K   employment specialists in the team\n"
    "  --version N       the version you last saw (ipsnet program list)\n";

static int program_put(struct cli *cli, int argc, char **argv)
{
	const char *id, *owner = NULL, *name = NULL, *region = NULL,
			*specialists = NULL, *version = NULL;
	bool quiet = false;
	const struct cli_opt opts[] = {
	    {"owner", CLI_STR, &owner, NULL, false},
	    {"name", CLI_STR, &name, NULL, false},
	    {"region", CLI_STR, &region, NULL, false},
	    {"specialists", CLI_STR, &specialists, NULL, false},
	    {"version", CLI_STR, &version, NULL, false},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	unsigned long r = 0, k = 0;
	uint64_t v = 0;
	int rv =
	    cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &id, 1, put_usage);
	if (rv >= 0)
		return rv;
	if ((version != NULL && (rv = cli_version(version, &v)) != 0) ||
	    (region != NULL &&
	     (rv = cli_uint("--region", region, 1, 35, &r)) != 0) ||
	    (specialists != NULL &&
	     (rv = cli_uint("--specialists", specialists, 0, 1000, &k)) != 0))
		return rv;
	if (name != NULL && text_blank(name))
		return cli_fail(IPSNET_EUSAGE,
				"--name is empty or white space only: give "
				"the team's name");
	if (version == NULL && (owner == NULL || name == NULL ||
				region == NULL || specialists == NULL))
		return cli_fail(IPSNET_EUSAGE,
				"a new program needs --owner, --name, --region "
				"and --specialists (to change one, give "
				"--version)");

	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__Envelope *now = NULL;
	Ipsnet__V1__PutProgram m = IPSNET__V1__PUT_PROGRAM__INIT;
	m.program_id = (char *)id;
	m.expected_version = v;
	m.owner = (char *)owner;
	m.name = (char *)name;
	m.region = (uint32_t)r;
	m.specialists = (uint32_t)k;
	if (version != NULL) {
		if ((rv = list_programs(cli, &now)) != 0)
			return rv;
		const Ipsnet__V1__Program *p =
		    find_program(now->program_list, id);
		if (p == NULL) {
			ipsnet_envelope_free(now);
			return cli_fail(IPSNET_ENOT_FOUND,
					"no program '%s' (ipsnet program list "
					"shows them)",
					id);
		}
		if (owner == NULL)
			m.owner = p->owner;
		if (name == NULL)
			m.name = p->name;
		if (region == NULL)
			m.region = p->region;
		if (specialists == NULL)
			m.specialists = p->specialists;
	}
	req.body_case = BODY(PUT_PROGRAM);
	req.put_program = &m;
	char what[128];
	snprintf(what, sizeof(what), "program %s", id);
	rv = cli_change(cli, &req, what, "ipsnet program list", &resp);
	if (rv == 0) {
		const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
		/* Without --name (or --owner) it is the server's, which the
		 * program's GGZ wrote: no control character reaches the
		 * terminal, as in program list. */
		char shown[1024], of[256];
		util_strlcpy(shown, m.name, sizeof(shown));
		util_strlcpy(of, m.owner, sizeof(of));
		text_mask_controls(shown);
		text_mask_controls(of);
		if (!fmt_change_machine(cli->json, quiet, ok))
			printf("program %s %s: %s of %s, region %u, %u "
			       "specialist%s (version %llu)\n",
			       ok->entity_id, v == 0 ? "added" : "changed",
			       shown, of, m.region, m.specialists,
			       m.specialists == 1 ? "" : "s",
			       (unsigned long long)ok->version);
		ipsnet_envelope_free(resp);
	}
	/* m points into it */
	ipsnet_envelope_free(now);
	return rv;
}

static const char list_usage[] =
    "usage: ipsnet program list\n"
    "Lists the IPS programs and the latest fidelity review of each, the\n"
    "one the report counts: on one day an independent review before a\n"
    "self-assessment.\n";

static int program_list(struct cli *cli, int argc, char **argv)
{
	Ipsnet__V1__Envelope *resp;
	int rv = cli_parse(argc, argv, NULL, 0, NULL, 0, list_usage);
	if (rv >= 0)
		return rv;
	if ((rv = list_programs(cli, &resp)) != 0)
		return rv;
	const Ipsnet__V1__ProgramList *l = resp->program_list;
	if (cli->json) {
		json_t *o = json_object(), *a = json_array(), *b = json_array();
		for (size_t i = 0; i < l->n_programs; i++)
			json_array_append_new(a,
					      fmt_program_json(l->programs[i]));
		for (size_t i = 0; i < l->n_reviews; i++)
			json_array_append_new(b,
					      fmt_review_json(l->reviews[i]));
		json_object_set_new(o, "programs", a);
		json_object_set_new(o, "reviews", b);
		cli_print_json(o);
		ipsnet_envelope_free(resp);
		return 0;
	}
	if (l->n_programs == 0) {
		printf("no programs yet: 'ipsnet program put' adds one\n");
		ipsnet_envelope_free(resp);
		return 0;
	}
	static const char *const head[] = {"ID",     "NAME",	    "OWNER",
					   "REGION", "SPECIALISTS", "VERSION"};
	char region[16], spec[16], version[24];
	struct table t;
	table_init(&t, ARRAY_SIZE(head), head);
	for (size_t i = 0; i < l->n_programs; i++) {
		const Ipsnet__V1__Program *p = l->programs[i];
		snprintf(region, sizeof(region), "%u", p->region);
		snprintf(spec, sizeof(spec), "%u", p->specialists);
		snprintf(version, sizeof(version), "%llu",
			 (unsigned long long)p->version);
		table_add(&t, p->id, p->name, p->owner, region, spec, version);
	}
	table_print(&t, stdout, "");
	table_free(&t);
	if (l->n_reviews > 0) {
		static const char *const rhead[] = {
		    "PROGRAM", "REVIEWED", "TOTAL", "BAND", "BY", "KIND", "ID"};
		char total[16];
		table_init(&t, ARRAY_SIZE(rhead), rhead);
		for (size_t i = 0; i < l->n_reviews; i++) {
			const Ipsnet__V1__FidelityReview *r = l->reviews[i];
			snprintf(total, sizeof(total), "%u", r->total);
			table_add(&t, r->program_id, fmt_day(r->review_date).s,
				  total, r->band, r->recorded_by,
				  r->independent ? "independent"
						 : "self-assessment",
				  r->id);
		}
		printf("\nfidelity reviews\n");
		table_print(&t, stdout, "");
		table_free(&t);
	}
	ipsnet_envelope_free(resp);
	return 0;
}

static const char program_usage[] =
    "usage: ipsnet program SUBCOMMAND [ARGS]\n"
    "The IPS programs: teams of employment specialists run by a GGZ.\n";

int cmd_program(struct cli *cli, int argc, char **argv)
{
	static const struct command subs[] = {
	    {"put", program_put, "add a program, or change one (--version)"},
	    {"list", program_list, "the programs and their fidelity reviews"},
	};
	return cli_dispatch(cli, argc, argv, subs, ARRAY_SIZE(subs),
			    program_usage);
}

/* ---- fidelity ----------------------------------------------------------- */

/* How the character after a score is named in a message. */
static const char *separator_name(char c, char buf[8])
{
	if (c == ' ')
		return "a space";
	if (c == '\t')
		return "a tab";
	if (c > ' ' && c < 0x7f) {
		snprintf(buf, 8, "'%c'", c);
		return buf;
	}
	return "another character";
}

/* "5,4,3,..." into 25 scores of 1 to 5. 0 or exit code 2. */
static int parse_scores(const char *s, uint32_t scores[FIDELITY_ITEMS])
{
	size_t n = 0;
	const char *p = s;
	char named[8];
	for (;;) {
		while (*p == ' ')
			p++;
		if (*p < '1' || *p > '5' || (p[1] >= '0' && p[1] <= '9'))
			return cli_fail(IPSNET_EUSAGE,
					"--scores takes the %d item scores of "
					"the IPS fidelity scale, each 1 to 5, "
					"separated by commas; item %zu is not",
					FIDELITY_ITEMS, n + 1);
		if (n == FIDELITY_ITEMS)
			return cli_fail(IPSNET_EUSAGE,
					"--scores has more than %d scores",
					FIDELITY_ITEMS);
		scores[n++] = (uint32_t)(*p - '0');
		const char *after = ++p;
		while (*p == ' ')
			p++;
		if (*p == '\0')
			break;
		/* Only a comma: a space or a tab is not skipped as one,
		 * which took the score after it for the comma. */
		if (*p != ',')
			return cli_fail(IPSNET_EUSAGE,
					"--scores separates the item scores "
					"with commas (4,3,5,...); item %zu is "
					"followed by %s, not by a comma",
					n, separator_name(*after, named));
		p++;
	}
	if (n != FIDELITY_ITEMS)
		return cli_fail(IPSNET_EUSAGE,
				"--scores has %zu score%s; the IPS fidelity "
				"scale has %d items",
				n, n == 1 ? "" : "s", FIDELITY_ITEMS);
	return 0;
}

static const char record_usage[] =
    "usage: ipsnet fidelity record PROGRAM --on DATE --scores S1,S2,...,S25\n"
    "                              [--quiet]\n"
    "Records a review of a program on the IPS fidelity scale: the 25 item\n"
    "scores, each 1 to 5, in the order of the scale. The server computes\n"
    "the total (25 to 125) and its band: 115-125 exemplary, 100-114 good,\n"
    "74-99 fair, 73 or less not IPS. A review by NETWORK is independent;\n"
    "one by the program's own GGZ is a self-assessment.\n"
    "\n"
    "  --on DATE   the day of the review (--date DATE, its old name, too)\n"
    "  --quiet     print only the new review's id\n";

static int fidelity_record(struct cli *cli, int argc, char **argv)
{
	const char *program, *date = NULL, *on = NULL, *list = NULL;
	bool quiet = false;
	/* --on, as every other command that records a day; --date, its first
	 * name, is kept for the scripts that use it. */
	const struct cli_opt opts[] = {
	    {"on", CLI_STR, &on, NULL, false},
	    {"date", CLI_STR, &date, NULL, false},
	    {"scores", CLI_STR, &list, NULL, true},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	uint32_t scores[FIDELITY_ITEMS];
	int rv = cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &program, 1,
			   record_usage);
	if (rv >= 0)
		return rv;
	if (on != NULL && date != NULL)
		return cli_fail(IPSNET_EUSAGE,
				"--date is another name for --on; give one; "
				"see 'ipsnet fidelity record --help'");
	if (on == NULL && date == NULL)
		return cli_fail(IPSNET_EUSAGE,
				"'ipsnet fidelity record' needs --on; see "
				"'ipsnet fidelity record --help'");
	const char *named = date != NULL ? "--date" : "--on";
	if (date == NULL)
		date = on;
	if ((rv = cli_date(named, date)) != 0 ||
	    (rv = parse_scores(list, scores)) != 0)
		return rv;
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__RecordFidelity m = IPSNET__V1__RECORD_FIDELITY__INIT;
	m.program_id = (char *)program;
	m.review_date = (char *)date;
	m.n_scores = FIDELITY_ITEMS;
	m.scores = scores;
	req.body_case = BODY(RECORD_FIDELITY);
	req.record_fidelity = &m;
	if ((rv = cli_change(cli, &req, NULL, NULL, &resp)) != 0)
		return rv;
	const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
	if (!fmt_change_machine(cli->json, quiet, ok)) {
		const Ipsnet__V1__FidelityReview *r = ok->review;
		if (r != NULL)
			printf("fidelity review %s of program %s on %s: total "
			       "%u of 125, %s (%s)\n",
			       ok->entity_id, program, date, r->total, r->band,
			       r->independent ? "independent"
					      : "self-assessment");
		else
			printf("fidelity review %s of program %s on %s\n",
			       ok->entity_id, program, date);
	}
	ipsnet_envelope_free(resp);
	return 0;
}

static const char fidelity_usage[] =
    "usage: ipsnet fidelity SUBCOMMAND [ARGS]\n"
    "Reviews of programs on the IPS fidelity scale.\n";

int cmd_fidelity(struct cli *cli, int argc, char **argv)
{
	static const struct command subs[] = {
	    {"record", fidelity_record, "record a fidelity review"},
	};
	return cli_dispatch(cli, argc, argv, subs, ARRAY_SIZE(subs),
			    fidelity_usage);
}
