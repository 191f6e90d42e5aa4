/* ipsnet case show, ipsnet refer, ipsnet trajectory accept|decline|start|
 * hold|resume|close|cancel. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "table.h"
#include "util.h"
#include "validate.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name
#define TS(name) IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_##name

static void print_consents(const Ipsnet__V1__CaseView *v)
{
	static const char *const head[] = {
	    "ID",	   "TO",    "PURPOSE",	 "GRANTED",
	    "VALID UNTIL", "STATE", "WITHDRAWN", "VERSION"};
	char today[11], version[24];
	struct table t;
	nl_date_of_us(today, sizeof(today), (long long)util_now_us());
	table_init(&t, ARRAY_SIZE(head), head);
	for (size_t i = 0; i < v->n_consents; i++) {
		const Ipsnet__V1__Consent *c = v->consents[i];
		snprintf(version, sizeof(version), "%llu",
			 (unsigned long long)c->version);
		table_add(&t, c->id, c->recipient, c->purpose,
			  fmt_day(c->granted_at).s, fmt_day(c->valid_until).s,
			  fmt_consent_state(c, today),
			  fmt_day(c->withdrawn_at).s, version);
	}
	table_print(&t, stdout, "  ");
	table_free(&t);
}

static void print_trajectories(const Ipsnet__V1__CaseView *v)
{
	static const char *const head[] = {"ID",     "PROGRAM",	 "STATUS",
					   "SINCE",  "REFERRED", "REFERRER",
					   "VERSION"};
	char version[24];
	struct table t;
	table_init(&t, ARRAY_SIZE(head), head);
	for (size_t i = 0; i < v->n_trajectories; i++) {
		const Ipsnet__V1__Trajectory *tr = v->trajectories[i];
		snprintf(version, sizeof(version), "%llu",
			 (unsigned long long)tr->version);
		table_add(&t, tr->id, tr->program_id,
			  fmt_trajectory_status(tr->status),
			  fmt_day(fmt_trajectory_since(tr)).s,
			  fmt_day(tr->referred_on).s, tr->referrer, version);
	}
	table_print(&t, stdout, "  ");
	table_free(&t);
	for (size_t i = 0; i < v->n_trajectories; i++) {
		const Ipsnet__V1__Trajectory *tr = v->trajectories[i];
		if (tr->close_reason != NULL && tr->close_reason[0] != '\0') {
			printf("  %s closed: ", tr->id);
			fmt_put_text(tr->close_reason, "    ");
			putchar('\n');
		}
		if (tr->note != NULL && tr->note[0] != '\0') {
			printf("  %s note: ", tr->id);
			fmt_put_text(tr->note, "    ");
			putchar('\n');
		}
	}
}

static void print_fundings(const Ipsnet__V1__CaseView *v)
{
	static const char *const head[] = {"ID",      "TRAJECTORY", "FUNDER",
					   "MONTHS",  "STATUS",	    "REQUESTED",
					   "DECIDED", "REFERENCE",  "VERSION"};
	char months[16], version[24];
	struct table t;
	table_init(&t, ARRAY_SIZE(head), head);
	for (size_t i = 0; i < v->n_fundings; i++) {
		const Ipsnet__V1__Funding *f = v->fundings[i];
		snprintf(months, sizeof(months), "%u", f->months);
		snprintf(version, sizeof(version), "%llu",
			 (unsigned long long)f->version);
		table_add(&t, f->id, f->trajectory_id,
			  f->funder != NULL && f->funder[0] != '\0'
			      ? f->funder
			      : f->other_description,
			  months, fmt_funding_status(f->status),
			  fmt_day(f->requested_on).s, fmt_day(f->decided_on).s,
			  f->decision_reference, version);
	}
	table_print(&t, stdout, "  ");
	table_free(&t);
	for (size_t i = 0; i < v->n_fundings; i++) {
		const Ipsnet__V1__Funding *f = v->fundings[i];
		if (f->reason != NULL && f->reason[0] != '\0') {
			printf("  %s %s: ", f->id,
			       fmt_funding_status(f->status));
			fmt_put_text(f->reason, "    ");
			putchar('\n');
		}
	}
}

static void print_jobs(const Ipsnet__V1__CaseView *v)
{
	static const char *const head[] = {
	    "ID",    "EMPLOYER",    "FROM",	  "UNTIL",
	    "HOURS", "COMPETITIVE", "TRAJECTORY", "VERSION"};
	char hours[32], version[24];
	struct table t;
	table_init(&t, ARRAY_SIZE(head), head);
	for (size_t i = 0; i < v->n_jobs; i++) {
		const Ipsnet__V1__Job *j = v->jobs[i];
		fmt_hours(hours, sizeof(hours), j->hours_per_week);
		snprintf(version, sizeof(version), "%llu",
			 (unsigned long long)j->version);
		table_add(&t, j->id, j->employer, fmt_day(j->start_date).s,
			  j->withdrawn ? "withdrawn" : fmt_day(j->end_date).s,
			  hours, j->competitive ? "yes" : "no",
			  j->trajectory_id, version);
	}
	table_print(&t, stdout, "  ");
	table_free(&t);
}

static const char show_usage[] =
    "usage: ipsnet case show CLIENT\n"
    "Shows everything about one client that your organisation may see:\n"
    "who she is, her consents, trajectories, funding requests and jobs,\n"
    "each with the version a change must name. Dates are days in the\n"
    "Netherlands (CET/CEST), as the server counts them (--json keeps the\n"
    "UTC times it records): a consent is live up to and including its\n"
    "VALID UNTIL day, and expired from the next.\n";

static int case_show(struct cli *cli, int argc, char **argv)
{
	const char *id;
	int rv = cli_parse(argc, argv, NULL, 0, &id, 1, show_usage);
	if (rv >= 0 || (rv = cli_client_id("CLIENT", id)) != 0)
		return rv;
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__ShowCase m = IPSNET__V1__SHOW_CASE__INIT;
	m.client_id = (char *)id;
	req.body_case = BODY(SHOW_CASE);
	req.show_case = &m;
	if ((rv = cli_read(cli, &req, BODY(CASE_VIEW), &resp)) != 0)
		return rv;
	const Ipsnet__V1__CaseView *v = resp->case_view;
	if (cli->json) {
		cli_print_json(fmt_case_json(v));
		ipsnet_envelope_free(resp);
		return 0;
	}
	if (v->client != NULL)
		fmt_print_client(v->client);
	else
		fmt_kv("client", "%s", id);
	struct {
		const char *title;
		size_t n;
		void (*print)(const Ipsnet__V1__CaseView *v);
	} parts[] = {
	    {"consents", v->n_consents, print_consents},
	    {"trajectories", v->n_trajectories, print_trajectories},
	    {"funding requests", v->n_fundings, print_fundings},
	    {"jobs", v->n_jobs, print_jobs},
	};
	for (size_t i = 0; i < ARRAY_SIZE(parts); i++) {
		if (parts[i].n == 0) {
			printf("\n%s: none\n", parts[i].title);
			continue;
		}
		printf("\n%s\n", parts[i].title);
		parts[i].print(v);
	}
	ipsnet_envelope_free(resp);
	return 0;
}

static const char case_usage[] = "usage: ipsnet case SUBCOMMAND [ARGS]\n"
				 "One client's case.\n";

int cmd_case(struct cli *cli, int argc, char **argv)
{
	static const struct command subs[] = {
	    {"show", case_show, "everything about one client that you may see"},
	};
	return cli_dispatch(cli, argc, argv, subs, ARRAY_SIZE(subs),
			    case_usage);
}

/* ---- refer -------------------------------------------------------------- */

static const char refer_usage[] =
    "usage: ipsnet refer CLIENT --program PROGRAM [--note TEXT] [--quiet]\n"
    "Refers a client to an IPS program: a new trajectory, 'referred'.\n"
    "The note is the clinical context for the program; only GGZ parties of\n"
    "the case ever see it. 'ipsnet program list' shows the programs.\n"
    "\n"
    "  --quiet   print only the new trajectory's id\n";

int cmd_refer(struct cli *cli, int argc, char **argv)
{
	const char *client, *program = NULL, *note = NULL;
	bool quiet = false;
	const struct cli_opt opts[] = {
	    {"program", CLI_STR, &program, NULL, true},
	    {"note", CLI_STR, &note, NULL, false},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	int rv = cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &client, 1,
			   refer_usage);
	if (rv >= 0 || (rv = cli_client_id("CLIENT", client)) != 0)
		return rv;
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__Refer m = IPSNET__V1__REFER__INIT;
	m.client_id = (char *)client;
	m.program_id = (char *)program;
	m.note = (char *)(note != NULL ? note : "");
	req.body_case = BODY(REFER);
	req.refer = &m;
	if ((rv = cli_change(cli, &req, NULL, NULL, &resp)) != 0)
		return rv;
	const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
	if (!fmt_change_machine(cli->json, quiet, ok))
		printf("referred client %s to program %s: trajectory %s, "
		       "referred (version %llu)\n",
		       client, program, ok->entity_id,
		       (unsigned long long)ok->version);
	ipsnet_envelope_free(resp);
	return 0;
}

/* ---- trajectory --------------------------------------------------------- */

static const struct move {
	const char *verb;
	int to;
	const char *done; /* "accepted" */
	const char *summary;
	int from; /* the state it is from, when two verbs reach the same */
} moves[] = {
    {"accept", TS(ACCEPTED), "accepted", "the program takes the referral", 0},
    {"decline", TS(DECLINED), "declined",
     "the program does not take the referral", 0},
    /* Both make it active: the server is told which is meant, or a
     * resume of an accepted trajectory would start it (a start in the
     * reports) and a start of a held one resume it. */
    {"start", TS(ACTIVE), "started", "the IPS trajectory starts", TS(ACCEPTED)},
    {"hold", TS(ON_HOLD), "put on hold", "pause an active trajectory", 0},
    {"resume", TS(ACTIVE), "resumed", "go on after a hold", TS(ON_HOLD)},
    {"close", TS(CLOSED), "closed",
     "end an active or held trajectory (needs --reason)", 0},
    {"cancel", TS(CANCELLED), "cancelled",
     "withdraw a referral before it starts", 0},
};

static const char move_usage[] =
    "usage: ipsnet trajectory VERB TRAJECTORY --version N [--on DATE]\n"
    "                         [--quiet]\n"
    "       ipsnet trajectory close TRAJECTORY --version N --reason TEXT\n"
    "                         [--on DATE] [--quiet]\n"
    "Moves a trajectory to its next state. --version is the version you\n"
    "last saw (ipsnet case show CLIENT); --on is the date it happened\n"
    "(default: today); closing needs --reason, why it ends.\n"
    "\n"
    "  referred -> accepted | declined   (accept, decline)\n"
    "  accepted -> active                (start)\n"
    "  active   -> on hold -> active     (hold, resume)\n"
    "  active | on hold -> closed        (close --reason TEXT)\n"
    "  referred | accepted -> cancelled  (cancel)\n";

static int trajectory_move(struct cli *cli, int argc, char **argv)
{
	const struct move *mv = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(moves); i++)
		if (strcmp(argv[0], moves[i].verb) == 0)
			mv = &moves[i];
	const char *id, *version = NULL, *on = NULL, *reason = NULL;
	bool quiet = false;
	const struct cli_opt opts[] = {
	    {"version", CLI_STR, &version, NULL, true},
	    {"on", CLI_STR, &on, NULL, false},
	    {"reason", CLI_STR, &reason, NULL, false},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	uint64_t v;
	int rv =
	    cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &id, 1, move_usage);
	if (rv >= 0)
		return rv;
	if ((rv = cli_version(version, &v)) != 0 ||
	    (on != NULL && (rv = cli_date("--on", on)) != 0))
		return rv;
	if (mv->to != TS(CLOSED) && reason != NULL)
		return cli_fail(IPSNET_EUSAGE,
				"--reason is for closing a trajectory only");
	if (mv->to == TS(CLOSED) && text_blank(reason))
		return cli_fail(IPSNET_EUSAGE,
				"closing a trajectory needs --reason: why it "
				"ends (for instance 'found work', 'moved')");

	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__MoveTrajectory m = IPSNET__V1__MOVE_TRAJECTORY__INIT;
	m.trajectory_id = (char *)id;
	m.expected_version = v;
	m.to = mv->to;
	m.from = mv->from;
	m.on = (char *)(on != NULL ? on : "");
	m.reason = (char *)(reason != NULL ? reason : "");
	req.body_case = BODY(MOVE_TRAJECTORY);
	req.move_trajectory = &m;
	char what[128];
	snprintf(what, sizeof(what), "trajectory %s", id);
	if ((rv = cli_change(cli, &req, what, "ipsnet case show CLIENT",
			     &resp)) != 0)
		return rv;
	const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
	if (!fmt_change_machine(cli->json, quiet, ok)) {
		const Ipsnet__V1__Trajectory *t = ok->trajectory;
		/* start and resume both ask for active: what happened is told
		 * by the answer, as only a resume dates resumed_on. */
		const char *done = mv->done;
		if (t != NULL && mv->to == TS(ACTIVE))
			done = t->resumed_on != NULL && t->resumed_on[0] != '\0'
				   ? "resumed"
				   : "started";
		if (t != NULL)
			printf("trajectory %s %s on %s: now %s (version "
			       "%llu)\n",
			       ok->entity_id, done,
			       fmt_day(fmt_trajectory_since(t)).s,
			       fmt_trajectory_status(t->status),
			       (unsigned long long)ok->version);
		else
			printf("trajectory %s %s (version %llu)\n",
			       ok->entity_id, mv->done,
			       (unsigned long long)ok->version);
	}
	ipsnet_envelope_free(resp);
	return 0;
}

static const char trajectory_usage[] =
    "usage: ipsnet trajectory VERB TRAJECTORY --version N [--on DATE]\n"
    "                         [--reason TEXT (close)]\n"
    "Moves an IPS trajectory through its states.\n";

int cmd_trajectory(struct cli *cli, int argc, char **argv)
{
	struct command subs[ARRAY_SIZE(moves)];
	for (size_t i = 0; i < ARRAY_SIZE(moves); i++)
		subs[i] = (struct command){moves[i].verb, trajectory_move,
					   moves[i].summary};
	return cli_dispatch(cli, argc, argv, subs, ARRAY_SIZE(subs),
			    trajectory_usage);
}
