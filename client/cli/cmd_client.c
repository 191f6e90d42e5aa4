/* ipsnet client register|update|find, ipsnet consent grant|withdraw. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "util.h"
#include "validate.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name

/* Checks shared by register and update; each 0 or exit code 2. */
static int check_client_fields(const char *bsn, const char *name,
			       const char *birth_date, const char *municipality)
{
	if (bsn != NULL && !bsn_valid(bsn))
		return cli_fail(IPSNET_EUSAGE,
				"--bsn must be 9 digits that pass the "
				"11-proof");
	if (name != NULL && text_blank(name))
		return cli_fail(IPSNET_EUSAGE,
				"--name is empty or white space only: give "
				"the name the client is known by");
	if (name != NULL && text_chars(name) > 200)
		return cli_fail(IPSNET_EUSAGE,
				"--name must be 1 to 200 characters");
	if (birth_date != NULL && cli_date("--birth-date", birth_date) != 0)
		return 2;
	if (municipality != NULL && !cbs_code_valid(municipality))
		return cli_fail(IPSNET_EUSAGE,
				"--municipality takes the CBS code of the "
				"municipality of residence, such as GM0363, "
				"not '%s'",
				municipality);
	return 0;
}

static const char register_usage[] =
    "usage: ipsnet client register --bsn BSN --name NAME --birth-date DATE\n"
    "                              --municipality CODE --benefit BENEFIT\n"
    "                              [--quiet]\n"
    "Registers a client of your GGZ and prints the id the server gave her.\n"
    "\n"
    "  --bsn BSN            9 digits that pass the 11-proof\n"
    "  --name NAME          as the client is known, 1 to 200 characters\n"
    "  --birth-date DATE    YYYY-MM-DD\n"
    "  --municipality CODE  CBS code of the municipality of residence "
    "(GM0363)\n"
    "  --benefit BENEFIT    none, participatiewet, wia, wajong, ww or "
    "other\n"
    "  --quiet              print only the new client's id\n";

static int client_register(struct cli *cli, int argc, char **argv)
{
	const char *bsn = NULL, *name = NULL, *birth = NULL, *mun = NULL,
		   *benefit = NULL;
	bool quiet = false;
	const struct cli_opt opts[] = {
	    {"bsn", CLI_STR, &bsn, NULL, true},
	    {"name", CLI_STR, &name, NULL, true},
	    {"birth-date", CLI_STR, &birth, NULL, true},
	    {"municipality", CLI_STR, &mun, NULL, true},
	    {"benefit", CLI_STR, &benefit, NULL, true},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	int b, rv = cli_parse(argc, argv, opts, ARRAY_SIZE(opts), NULL, 0,
			      register_usage);
	if (rv >= 0)
		return rv;
	if ((rv = check_client_fields(bsn, name, birth, mun)) != 0 ||
	    (rv = cli_benefit(benefit, &b)) != 0)
		return rv;

	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	m.bsn = (char *)bsn;
	m.name = (char *)name;
	m.birth_date = (char *)birth;
	m.municipality = (char *)mun;
	m.benefit = b;
	req.body_case = BODY(REGISTER_CLIENT);
	req.register_client = &m;
	rv = cli_change(cli, &req, NULL, NULL, &resp);
	if (rv != 0)
		return rv;
	const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
	if (!fmt_change_machine(cli->json, quiet, ok))
		printf("registered client %s (version %llu)\n", ok->entity_id,
		       (unsigned long long)ok->version);
	ipsnet_envelope_free(resp);
	return 0;
}

static const char update_usage[] =
    "usage: ipsnet client update CLIENT --version N [--name NAME]\n"
    "                            [--birth-date DATE] [--municipality CODE]\n"
    "                            [--benefit BENEFIT] [--quiet]\n"
    "Changes a client's identity or benefit; what is not given stays as it\n"
    "is. --version is the version you last saw (ipsnet case show CLIENT); "
    "if\n"
    "someone changed the client since, nothing is changed and the current\n"
    "version is printed.\n";

static int client_update(struct cli *cli, int argc, char **argv)
{
	const char *id, *version = NULL, *name = NULL, *birth = NULL,
			*mun = NULL, *benefit = NULL;
	bool quiet = false;
	const struct cli_opt opts[] = {
	    {"version", CLI_STR, &version, NULL, true},
	    {"name", CLI_STR, &name, NULL, false},
	    {"birth-date", CLI_STR, &birth, NULL, false},
	    {"municipality", CLI_STR, &mun, NULL, false},
	    {"benefit", CLI_STR, &benefit, NULL, false},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	uint64_t v;
	int b = 0, rv = cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &id, 1,
				  update_usage);
	if (rv >= 0)
		return rv;
	if ((rv = cli_client_id("CLIENT", id)) != 0 ||
	    (rv = cli_version(version, &v)) != 0 ||
	    (rv = check_client_fields(NULL, name, birth, mun)) != 0 ||
	    (benefit != NULL && (rv = cli_benefit(benefit, &b)) != 0))
		return rv;
	if (name == NULL && birth == NULL && mun == NULL && benefit == NULL)
		return cli_fail(IPSNET_EUSAGE,
				"nothing to change: give --name, --birth-date, "
				"--municipality or --benefit");

	/* What is not given is not sent, and the server keeps it: no read
	 * of her case to fill it in. */
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__UpdateClient m = IPSNET__V1__UPDATE_CLIENT__INIT;
	m.client_id = (char *)id;
	m.expected_version = v;
	if (name != NULL)
		m.name = (char *)name;
	if (birth != NULL)
		m.birth_date = (char *)birth;
	if (mun != NULL)
		m.municipality = (char *)mun;
	if (benefit != NULL)
		m.benefit = (Ipsnet__V1__Benefit)b;
	req.body_case = BODY(UPDATE_CLIENT);
	req.update_client = &m;
	char what[128], look[160];
	snprintf(what, sizeof(what), "client %s", id);
	snprintf(look, sizeof(look), "ipsnet case show %s", id);
	if ((rv = cli_change(cli, &req, what, look, &resp)) != 0)
		return rv;
	const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
	if (!fmt_change_machine(cli->json, quiet, ok))
		printf("updated client %s: now at version %llu\n",
		       ok->entity_id, (unsigned long long)ok->version);
	ipsnet_envelope_free(resp);
	return 0;
}

static const char find_usage[] =
    "usage: ipsnet client find --bsn BSN\n"
    "Finds a client your GGZ registered by her BSN and prints her id.\n";

static int client_find(struct cli *cli, int argc, char **argv)
{
	const char *bsn = NULL;
	const struct cli_opt opts[] = {{"bsn", CLI_STR, &bsn, NULL, true}};
	int rv =
	    cli_parse(argc, argv, opts, ARRAY_SIZE(opts), NULL, 0, find_usage);
	if (rv >= 0)
		return rv;
	if ((rv = check_client_fields(bsn, NULL, NULL, NULL)) != 0)
		return rv;
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__FindClient m = IPSNET__V1__FIND_CLIENT__INIT;
	m.bsn = (char *)bsn;
	req.body_case = BODY(FIND_CLIENT);
	req.find_client = &m;
	if ((rv = cli_read(cli, &req, BODY(CASE_VIEW), &resp)) != 0)
		return rv;
	const Ipsnet__V1__Client *c = resp->case_view->client;
	if (c == NULL) {
		ipsnet_envelope_free(resp);
		return cli_fail(IPSNET_ENOT_FOUND,
				"no client with this BSN registered by your "
				"organisation");
	}
	if (cli->json)
		cli_print_json(fmt_client_json(c));
	else
		fmt_print_client(c);
	ipsnet_envelope_free(resp);
	return 0;
}

static const char client_usage[] =
    "usage: ipsnet client SUBCOMMAND [ARGS]\n"
    "Clients of your GGZ: register them, change them, find them by BSN.\n";

int cmd_client(struct cli *cli, int argc, char **argv)
{
	static const struct command subs[] = {
	    {"register", client_register, "register a new client"},
	    {"update", client_update,
	     "change a client's name, birth date, municipality or benefit"},
	    {"find", client_find, "find a client by BSN"},
	};
	return cli_dispatch(cli, argc, argv, subs, ARRAY_SIZE(subs),
			    client_usage);
}

/* ---- consent ------------------------------------------------------------ */

static const char grant_usage[] =
    "usage: ipsnet consent grant CLIENT --to ORG --purpose TEXT --until DATE\n"
    "                            [--quiet]\n"
    "Records the client's consent to share her case with organisation ORG\n"
    "(a municipality or UWV) for a purpose, up to and including DATE.\n"
    "DATE is a day in the Netherlands, as the server counts days: the\n"
    "consent ends at midnight Dutch time (CET/CEST) after it, whatever\n"
    "this computer's time zone; it is today or later.\n"
    "Without live consent a funder sees nothing personal of her; with it,\n"
    "only once a funding request for her is addressed to it.\n";

static int consent_grant(struct cli *cli, int argc, char **argv)
{
	const char *client, *to = NULL, *purpose = NULL, *until = NULL;
	bool quiet = false;
	const struct cli_opt opts[] = {
	    {"to", CLI_STR, &to, NULL, true},
	    {"purpose", CLI_STR, &purpose, NULL, true},
	    {"until", CLI_STR, &until, NULL, true},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	int rv = cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &client, 1,
			   grant_usage);
	if (rv >= 0)
		return rv;
	if ((rv = cli_client_id("CLIENT", client)) != 0 ||
	    (rv = cli_date("--until", until)) != 0)
		return rv;
	if (text_blank(purpose))
		return cli_fail(IPSNET_EUSAGE,
				"--purpose says what the consent is for");

	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__GrantConsent m = IPSNET__V1__GRANT_CONSENT__INIT;
	m.client_id = (char *)client;
	m.recipient = (char *)to;
	m.purpose = (char *)purpose;
	m.valid_until = (char *)until;
	req.body_case = BODY(GRANT_CONSENT);
	req.grant_consent = &m;
	if ((rv = cli_change(cli, &req, NULL, NULL, &resp)) != 0)
		return rv;
	const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
	if (!fmt_change_machine(cli->json, quiet, ok))
		/* The answer does not say whether a funding request is
		 * addressed to ORG yet, without which it sees nothing of
		 * her: the sentence holds either way. */
		printf("consent %s (version %llu): %s may see client %s for "
		       "'%s' until %s if a funding request for her is "
		       "addressed to %s\n",
		       ok->entity_id, (unsigned long long)ok->version, to,
		       client, purpose, until, to);
	ipsnet_envelope_free(resp);
	return 0;
}

static const char withdraw_usage[] =
    "usage: ipsnet consent withdraw CONSENT --version N [--quiet]\n"
    "Withdraws a consent: from now on nothing more of the client is shared\n"
    "with its recipient on it (what was shared stays in the audit trail).\n"
    "Another live consent of hers for the same recipient still shares her\n"
    "case: a note on stderr names it.\n";

/* After a withdrawal: another live consent of the client for the same
 * recipient (another purpose, a renewal) still shares her case with it,
 * which "nothing more is shared" must not hide. Says so on stderr; a read
 * that fails says nothing (the withdrawal stands either way). */
static void say_still_shared(struct cli *cli, const Ipsnet__V1__Consent *gone)
{
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__ShowCase m = IPSNET__V1__SHOW_CASE__INIT;
	char err[320], today[11], purpose[1024];
	if (gone == NULL || gone->client_id == NULL)
		return;
	m.client_id = gone->client_id;
	req.body_case = BODY(SHOW_CASE);
	req.show_case = &m;
	if (cli_call_retry(cli, &req, &resp, err, sizeof(err)) != 0 ||
	    resp == NULL || resp->body_case != BODY(CASE_VIEW)) {
		ipsnet_envelope_free(resp);
		return;
	}
	nl_date_of_us(today, sizeof(today), (long long)util_now_us());
	const Ipsnet__V1__CaseView *v = resp->case_view;
	for (size_t i = 0; i < v->n_consents; i++) {
		const Ipsnet__V1__Consent *c = v->consents[i];
		if (strcmp(c->id, gone->id) == 0 ||
		    strcmp(c->recipient, gone->recipient) != 0 ||
		    strcmp(fmt_consent_state(c, today), "live") != 0)
			continue;
		/* Free text of the case: no control character reaches the
		 * terminal (a line break would write a line of its own). */
		util_strlcpy(purpose, c->purpose, sizeof(purpose));
		text_mask_controls(purpose);
		fprintf(
		    stderr,
		    "ipsnet: note: consent %s (%s, until %s) is still live: "
		    "the client's case is still shared with %s; withdraw "
		    "it too to stop all sharing\n",
		    c->id, purpose, c->valid_until, c->recipient);
	}
	ipsnet_envelope_free(resp);
}

static int consent_withdraw(struct cli *cli, int argc, char **argv)
{
	const char *id, *version = NULL;
	bool quiet = false;
	const struct cli_opt opts[] = {
	    {"version", CLI_STR, &version, NULL, true},
	    {"quiet", CLI_FLAG, NULL, &quiet, false},
	};
	uint64_t v;
	int rv = cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &id, 1,
			   withdraw_usage);
	if (rv >= 0)
		return rv;
	if ((rv = cli_version(version, &v)) != 0)
		return rv;
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__WithdrawConsent m = IPSNET__V1__WITHDRAW_CONSENT__INIT;
	m.consent_id = (char *)id;
	m.expected_version = v;
	req.body_case = BODY(WITHDRAW_CONSENT);
	req.withdraw_consent = &m;
	char what[128];
	snprintf(what, sizeof(what), "consent %s", id);
	if ((rv = cli_change(cli, &req, what, "ipsnet case show CLIENT",
			     &resp)) != 0)
		return rv;
	const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
	if (!fmt_change_machine(cli->json, quiet, ok)) {
		const Ipsnet__V1__Consent *c = ok->consent;
		printf("withdrew consent %s on %s (version %llu)\n",
		       ok->entity_id,
		       fmt_day(c != NULL ? c->withdrawn_at : NULL).s,
		       (unsigned long long)ok->version);
	}
	fflush(stdout);
	say_still_shared(cli, ok->consent);
	ipsnet_envelope_free(resp);
	return 0;
}

static const char consent_usage[] =
    "usage: ipsnet consent SUBCOMMAND [ARGS]\n"
    "A client's consent to share her case with a municipality or UWV.\n";

int cmd_consent(struct cli *cli, int argc, char **argv)
{
	static const struct command subs[] = {
	    {"grant", consent_grant, "record a client's consent"},
	    {"withdraw", consent_withdraw, "withdraw a consent"},
	};
	return cli_dispatch(cli, argc, argv, subs, ARRAY_SIZE(subs),
			    consent_usage);
}
