/* ipsnet job add|end. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "util.h"
#include "validate.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name

static const char add_usage[] =
    "usage: ipsnet job add CLIENT --employer NAME --start DATE --hours H\n"
    "                      [--competitive | --not-competitive]\n"
    "                      [--trajectory TRAJECTORY] [--end DATE] [--quiet]\n"
    "Records a job of the client: the employer, the first working day and\n"
    "the hours a week (12 or 12.5). A job is competitive (the default) when\n"
    "it is a regular job in the open labour market, paid at least the\n"
    "minimum wage and not reserved for people with a disability; say\n"
    "--not-competitive otherwise. --trajectory links it to the IPS\n"
    "trajectory that found it; --end records a job that has already ended.\n"
    "\n"
    "  --quiet   print only the new job's id\n";

static int job_add(struct cli *cli, int argc, char **argv)
{
	const char *client, *employer = NULL, *start = NULL, *hours = NULL,
			    *trajectory = NULL, *end = NULL;
	bool competitive = false, not_competitive = false, quiet = false;
	const struct cli_opt opts[] = {
	    {"employer", CLI_STR, &employer, NULL, true},
	    {"start", CLI_STR, &start, NULL, true},
	    {"hours", CLI_STR, &hours, NULL, true},
	    {"competitive", CLI_FLAG, NULL, &competitive, false},
	    {"not-competitive", CLI_FLAG, NULL, &not_competitive, false},
	    {"trajectory", CLI_STR, &trajectory, NULL, false},
	    {"end", CLI_STR, &end, NULL, false},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	double h;
	int rv = cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &client, 1,
			   add_usage);
	if (rv >= 0 || (rv = cli_client_id("CLIENT", client)) != 0)
		return rv;
	if (competitive && not_competitive)
		return cli_fail(IPSNET_EUSAGE,
				"a job is either --competitive or "
				"--not-competitive");
	if (text_blank(employer))
		return cli_fail(IPSNET_EUSAGE, "--employer names the employer");
	if ((rv = cli_date("--start", start)) != 0 ||
	    (end != NULL && (rv = cli_date("--end", end)) != 0))
		return rv;
	if (end != NULL && strcmp(end, start) < 0)
		return cli_fail(IPSNET_EUSAGE, "--end %s is before --start %s",
				end, start);
	if (!cli_parse_hours(hours, &h))
		return cli_fail(IPSNET_EUSAGE,
				"--hours takes the hours a week, more than 0 "
				"and at most 80 (12 or 12.5), not '%s'",
				hours);

	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__AddJob m = IPSNET__V1__ADD_JOB__INIT;
	m.client_id = (char *)client;
	m.trajectory_id = (char *)(trajectory != NULL ? trajectory : "");
	m.employer = (char *)employer;
	m.start_date = (char *)start;
	m.end_date = (char *)(end != NULL ? end : "");
	m.hours_per_week = h;
	m.competitive = !not_competitive;
	req.body_case = BODY(ADD_JOB);
	req.add_job = &m;
	if ((rv = cli_change(cli, &req, NULL, NULL, &resp)) != 0)
		return rv;
	const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
	if (!fmt_change_machine(cli->json, quiet, ok)) {
		char hw[32];
		fmt_hours(hw, sizeof(hw), h);
		printf("job %s: %s at %s from %s%s%s, %s hours a week, %s "
		       "(version %llu)\n",
		       ok->entity_id, client, employer, start,
		       end != NULL ? " until " : "", end != NULL ? end : "", hw,
		       m.competitive ? "competitive" : "not competitive",
		       (unsigned long long)ok->version);
	}
	ipsnet_envelope_free(resp);
	return 0;
}

static const char end_usage[] =
    "usage: ipsnet job end JOB --version N --on DATE [--quiet]\n"
    "Records the last working day of a job. --version is the version you\n"
    "last saw (ipsnet case show CLIENT). A job whose first day has not\n"
    "come yet (a contract that fell through) is ended on the day it was\n"
    "called off: that withdraws it, and it counts in no report.\n";

static int job_end(struct cli *cli, int argc, char **argv)
{
	const char *id, *version = NULL, *on = NULL;
	bool quiet = false;
	const struct cli_opt opts[] = {
	    {"version", CLI_STR, &version, NULL, true},
	    {"on", CLI_STR, &on, NULL, true},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	uint64_t v;
	int rv =
	    cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &id, 1, end_usage);
	if (rv >= 0)
		return rv;
	if ((rv = cli_version(version, &v)) != 0 ||
	    (rv = cli_date("--on", on)) != 0)
		return rv;
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__EndJob m = IPSNET__V1__END_JOB__INIT;
	m.job_id = (char *)id;
	m.expected_version = v;
	m.end_date = (char *)on;
	req.body_case = BODY(END_JOB);
	req.end_job = &m;
	char what[128];
	snprintf(what, sizeof(what), "job %s", id);
	if ((rv = cli_change(cli, &req, what, "ipsnet case show CLIENT",
			     &resp)) != 0)
		return rv;
	const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
	if (!fmt_change_machine(cli->json, quiet, ok)) {
		if (ok->job != NULL && ok->job->withdrawn)
			printf("job %s withdrawn on %s: it was to begin on %s "
			       "and never did (version %llu)\n",
			       ok->entity_id, on, ok->job->start_date,
			       (unsigned long long)ok->version);
		else
			printf("job %s ended on %s (version %llu)\n",
			       ok->entity_id, on,
			       (unsigned long long)ok->version);
	}
	ipsnet_envelope_free(resp);
	return 0;
}

static const char job_usage[] = "usage: ipsnet job SUBCOMMAND [ARGS]\n"
				"A client's jobs: the outcome IPS is for.\n";

int cmd_job(struct cli *cli, int argc, char **argv)
{
	static const struct command subs[] = {
	    {"add", job_add, "record a job"},
	    {"end", job_end, "record the end of a job"},
	};
	return cli_dispatch(cli, argc, argv, subs, ARRAY_SIZE(subs), job_usage);
}
