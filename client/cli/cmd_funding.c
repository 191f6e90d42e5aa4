/* ipsnet funding request|list|approve|reject|withdraw. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "table.h"
#include "util.h"
#include "validate.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name
#define FS(name) IPSNET__V1__FUNDING_STATUS__FUNDING_##name

static const char request_usage[] =
    "usage: ipsnet funding request TRAJECTORY (--funder ORG | --other TEXT)\n"
    "                              --months N [--quiet]\n"
    "Asks a funder to pay for a trajectory for N months. The\n"
    "funder must fit the client's benefit: Participatiewet -> her own\n"
    "municipality (gm0363, ...); WIA, Wajong, WW -> uwv. --other TEXT\n"
    "names a funder outside ipsnet instead.\n"
    "\n"
    "  --quiet   print only the new request's id\n";

static int funding_request(struct cli *cli, int argc, char **argv)
{
	const char *trajectory, *funder = NULL, *other = NULL, *months = NULL;
	bool quiet = false;
	const struct cli_opt opts[] = {
	    {"funder", CLI_STR, &funder, NULL, false},
	    {"other", CLI_STR, &other, NULL, false},
	    {"months", CLI_STR, &months, NULL, true},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	unsigned long n;
	int rv = cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &trajectory, 1,
			   request_usage);
	if (rv >= 0)
		return rv;
	if ((funder == NULL) == (other == NULL))
		return cli_fail(IPSNET_EUSAGE,
				"give either --funder ORG or --other TEXT");
	if ((other != NULL && text_blank(other)) ||
	    (funder != NULL && funder[0] == '\0'))
		return cli_fail(IPSNET_EUSAGE, "the funder must not be empty");
	if ((rv = cli_uint("--months", months, 1, 60, &n)) != 0)
		return rv;

	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__RequestFunding m = IPSNET__V1__REQUEST_FUNDING__INIT;
	m.trajectory_id = (char *)trajectory;
	m.funder = (char *)(funder != NULL ? funder : "");
	m.other_description = (char *)(other != NULL ? other : "");
	m.months = (uint32_t)n;
	req.body_case = BODY(REQUEST_FUNDING);
	req.request_funding = &m;
	if ((rv = cli_change(cli, &req, NULL, NULL, &resp)) != 0)
		return rv;
	const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
	if (!fmt_change_machine(cli->json, quiet, ok))
		printf("asked %s for %lu month%s of funding for trajectory %s: "
		       "request %s, requested (version %llu)\n",
		       funder != NULL ? funder : other, n, n == 1 ? "" : "s",
		       trajectory, ok->entity_id,
		       (unsigned long long)ok->version);
	ipsnet_envelope_free(resp);
	return 0;
}

static const char *client_name(const Ipsnet__V1__FundingList *l,
			       const char *client_id)
{
	for (size_t i = 0; i < l->n_clients; i++)
		if (client_id != NULL &&
		    strcmp(l->clients[i]->id, client_id) == 0)
			return l->clients[i]->name;
	return NULL;
}

static const char list_usage[] =
    "usage: ipsnet funding list [--pending]\n"
    "Lists the funding requests your organisation may see: for a\n"
    "municipality or UWV those addressed to it, for a GGZ those it made;\n"
    "oldest first, all of them (the server sends them a page at a time).\n"
    "\n"
    "  --pending   only the requests still waiting for a decision\n";

/* The most requests ListFunding gives a page. */
#define FUNDING_PAGE_MOST 1000

/* Asks for page after page until the server says no more follow. Returns
 * 0, or the exit code with one line printed. */
static int funding_fetch(struct cli *cli, bool pending, struct cli_pages *out)
{
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
	const Ipsnet__V1__Envelope *resp;
	Ipsnet__V1__ListFunding m = IPSNET__V1__LIST_FUNDING__INIT;
	char after_on[16] = "", after_id[128] = "";
	int rv;

	memset(out, 0, sizeof(*out));
	m.pending_only = pending;
	/* A limit says the command pages: without one the server gives the
	 * whole list in one answer or refuses it. */
	m.limit = FUNDING_PAGE_MOST;
	req.body_case = BODY(LIST_FUNDING);
	req.list_funding = &m;
	for (;;) {
		m.after_requested_on = after_on;
		m.after_id = after_id;
		rv = cli_read_page(cli, &req, BODY(FUNDING_LIST), out, &resp);
		if (rv != 0)
			return rv;
		const Ipsnet__V1__FundingList *l = resp->funding_list;
		if (!l->more)
			return 0;
		/* Each page must start after the one before, or the loop
		 * would never end. */
		int on = strcmp(l->next_requested_on, after_on);
		if (l->n_fundings == 0 || on < 0 ||
		    (on == 0 && strcmp(l->next_id, after_id) <= 0) ||
		    strlen(l->next_requested_on) >= sizeof(after_on) ||
		    strlen(l->next_id) >= sizeof(after_id))
			return cli_fail(IPSNET_EPROTOCOL,
					"the server's next page of funding "
					"requests does not start after the "
					"last one");
		util_strlcpy(after_on, l->next_requested_on, sizeof(after_on));
		util_strlcpy(after_id, l->next_id, sizeof(after_id));
	}
}

static int funding_list(struct cli *cli, int argc, char **argv)
{
	bool pending = false;
	const struct cli_opt opts[] = {
	    {"pending", CLI_FLAG, NULL, &pending, false},
	};
	struct cli_pages pages;
	size_t total = 0;
	int rv =
	    cli_parse(argc, argv, opts, ARRAY_SIZE(opts), NULL, 0, list_usage);
	if (rv >= 0)
		return rv;
	rv = funding_fetch(cli, pending, &pages);
	if (rv != 0) {
		cli_pages_free(&pages);
		return rv;
	}
	for (size_t p = 0; p < pages.n; p++)
		total += pages.pages[p]->funding_list->n_fundings;
	if (cli->json) {
		json_t *a = json_array();
		for (size_t p = 0; p < pages.n; p++) {
			const Ipsnet__V1__FundingList *l =
			    pages.pages[p]->funding_list;
			for (size_t i = 0; i < l->n_fundings; i++) {
				json_t *f = fmt_funding_json(l->fundings[i]);
				const char *name =
				    client_name(l, l->fundings[i]->client_id);
				json_object_set_new(f, "client_name",
						    name != NULL
							? fmt_json_str(name)
							: json_null());
				json_array_append_new(a, f);
			}
		}
		json_t *o = json_object();
		json_object_set_new(o, "fundings", a);
		cli_print_json(o);
		cli_pages_free(&pages);
		return 0;
	}
	if (total == 0) {
		printf(pending ? "no funding requests waiting\n"
			       : "no funding requests\n");
		cli_pages_free(&pages);
		return 0;
	}
	static const char *const head[] = {"ID",	"CLIENT",  "NAME",
					   "FUNDER",	"MONTHS",  "STATUS",
					   "REQUESTED", "DECIDED", "VERSION"};
	char months[16], version[24];
	struct table t;
	table_init(&t, ARRAY_SIZE(head), head);
	for (size_t p = 0; p < pages.n; p++) {
		const Ipsnet__V1__FundingList *l = pages.pages[p]->funding_list;
		for (size_t i = 0; i < l->n_fundings; i++) {
			const Ipsnet__V1__Funding *f = l->fundings[i];
			snprintf(months, sizeof(months), "%u", f->months);
			snprintf(version, sizeof(version), "%llu",
				 (unsigned long long)f->version);
			table_add(&t, f->id, f->client_id,
				  client_name(l, f->client_id),
				  f->funder != NULL && f->funder[0] != '\0'
				      ? f->funder
				      : f->other_description,
				  months, fmt_funding_status(f->status),
				  fmt_day(f->requested_on).s,
				  fmt_day(f->decided_on).s, version);
		}
	}
	table_print(&t, stdout, "");
	table_free(&t);
	cli_pages_free(&pages);
	return 0;
}

static const char decide_usage[] =
    "usage: ipsnet funding approve FUNDING --version N [--reference R]\n"
    "                              [--reason TEXT] [--on DATE] [--quiet]\n"
    "       ipsnet funding reject FUNDING --version N --reason TEXT\n"
    "                             [--reference R] [--on DATE] [--quiet]\n"
    "       ipsnet funding withdraw FUNDING --version N [--reason TEXT]\n"
    "                               [--on DATE] [--quiet]\n"
    "The funder approves or rejects a request addressed to it (with its\n"
    "own decision reference, and a reason for a rejection); the GGZ that\n"
    "asked may withdraw it. --version is the version you last saw\n"
    "(ipsnet funding list); --on is the date of the decision (default:\n"
    "today).\n";

static int funding_decide(struct cli *cli, int argc, char **argv)
{
	const char *id, *version = NULL, *reference = NULL, *reason = NULL,
			*on = NULL;
	bool quiet = false;
	const struct cli_opt opts[] = {
	    {"version", CLI_STR, &version, NULL, true},
	    {"reference", CLI_STR, &reference, NULL, false},
	    {"reason", CLI_STR, &reason, NULL, false},
	    {"on", CLI_STR, &on, NULL, false},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	int decision = strcmp(argv[0], "approve") == 0	? FS(APPROVED)
		       : strcmp(argv[0], "reject") == 0 ? FS(REJECTED)
							: FS(WITHDRAWN);
	uint64_t v;
	int rv =
	    cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &id, 1, decide_usage);
	if (rv >= 0)
		return rv;
	if ((rv = cli_version(version, &v)) != 0 ||
	    (on != NULL && (rv = cli_date("--on", on)) != 0))
		return rv;
	if (decision == FS(WITHDRAWN) && reference != NULL)
		return cli_fail(IPSNET_EUSAGE,
				"--reference is the funder's; a withdrawal "
				"takes --reason");
	if (decision == FS(REJECTED) && text_blank(reason))
		return cli_fail(IPSNET_EUSAGE,
				"rejecting a funding request needs --reason: "
				"why it is refused, for the GGZ that asked");

	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__DecideFunding m = IPSNET__V1__DECIDE_FUNDING__INIT;
	m.funding_id = (char *)id;
	m.expected_version = v;
	m.decision = decision;
	m.reference = (char *)(reference != NULL ? reference : "");
	m.reason = (char *)(reason != NULL ? reason : "");
	m.on = (char *)(on != NULL ? on : "");
	req.body_case = BODY(DECIDE_FUNDING);
	req.decide_funding = &m;
	char what[128];
	snprintf(what, sizeof(what), "funding request %s", id);
	if ((rv = cli_change(cli, &req, what, "ipsnet funding list", &resp)) !=
	    0)
		return rv;
	const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
	if (!fmt_change_machine(cli->json, quiet, ok)) {
		const Ipsnet__V1__Funding *f = ok->funding;
		printf("funding request %s %s on %s (version %llu)\n",
		       ok->entity_id, fmt_funding_status(decision),
		       fmt_day(f != NULL ? f->decided_on : on).s,
		       (unsigned long long)ok->version);
	}
	ipsnet_envelope_free(resp);
	return 0;
}

static const char funding_usage[] =
    "usage: ipsnet funding SUBCOMMAND [ARGS]\n"
    "Funding requests: a GGZ asks a municipality or UWV to pay for a\n"
    "trajectory; the funder approves or rejects.\n";

int cmd_funding(struct cli *cli, int argc, char **argv)
{
	static const struct command subs[] = {
	    {"request", funding_request,
	     "ask a funder to pay for a trajectory"},
	    {"list", funding_list, "the requests you may see (--pending)"},
	    {"approve", funding_decide, "approve a request addressed to you"},
	    {"reject", funding_decide, "reject a request addressed to you"},
	    {"withdraw", funding_decide, "withdraw a request you made"},
	};
	return cli_dispatch(cli, argc, argv, subs, ARRAY_SIZE(subs),
			    funding_usage);
}
