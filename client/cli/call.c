/* Talking to the server for the commands: one connection per run, reads
 * and changes, the one retry after a lost connection, and the sentences
 * for what went wrong. */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "alloc.h"
#include "cli.h"
#include "format.h"
#include "util.h"

struct ipsnet_options cli_options(struct cli *cli)
{
	static bool checked;
	struct ipsnet_options o = ipsnet_settings_options(&cli->settings);
	struct stat st;
	if (!checked && o.key != NULL && o.key[0] != '\0' &&
	    stat(o.key, &st) == 0 && (st.st_mode & S_IROTH) != 0)
		fprintf(stderr,
			"ipsnet: note: key '%s' may be read by anyone on this "
			"machine (mode %04o), and act as your organisation: "
			"chmod o-r it\n",
			o.key, (unsigned)(st.st_mode & 07777));
	checked = true;
	return o;
}

static int open_conn(struct cli *cli, char *err, size_t errlen)
{
	if (cli->settings_rv != 0) {
		snprintf(err, errlen, "%s", cli->settings_err);
		return cli->settings_rv;
	}
	struct ipsnet_options o = cli_options(cli);
	o.timeout_ms = cli->timeout_ms;
	o.software = "ipsnet/" IPSNET_VERSION;
	if (o.ca == NULL) {
		snprintf(err, errlen,
			 "no network CA: give --ca FILE, IPSNET_CA or "
			 "--profile NAME");
		return IPSNET_EUSAGE;
	}
	return ipsnet_client_open(&cli->client, &o, err, errlen);
}

int cli_connect(struct cli *cli, struct ipsnet_client **out)
{
	int rv = cli_open(cli);
	if (rv != 0)
		return rv;
	*out = cli->client;
	cli->client = NULL;
	return 0;
}

int cli_open(struct cli *cli)
{
	char err[512];
	if (cli->client != NULL)
		return 0;
	int rv = open_conn(cli, err, sizeof(err));
	if (rv != 0) {
		cli->client = NULL;
		return cli_fail(rv, "%s", err);
	}
	return 0;
}

void cli_close(struct cli *cli)
{
	ipsnet_client_close(cli->client);
	cli->client = NULL;
}

/* No answer came because the connection failed or timed out: the request
 * may or may not have been acted on. */
static bool lost_in_transit(int rv, const Ipsnet__V1__Envelope *resp)
{
	if (rv == 0 || resp != NULL)
		return false;
	int status = ipsnet_err_status(rv);
	return status == IPSNET__V1__CODE__UNAVAILABLE ||
	       status == IPSNET__V1__CODE__DEADLINE_EXCEEDED;
}

int cli_call_retry(struct cli *cli, Ipsnet__V1__Envelope *req,
		   Ipsnet__V1__Envelope **resp, char *err, size_t errlen)
{
	int rv;
	*resp = NULL;
	if (cli->client == NULL && (rv = open_conn(cli, err, errlen)) != 0)
		return rv;
	rv = ipsnet_client_call(cli->client, req, resp, err, errlen);
	if (!lost_in_transit(rv, *resp))
		return rv;
	/* Once more on a new connection; a change carries the same key, so
	 * the server applies it at most once and returns the first answer. */
	cli_close(cli);
	char again[320];
	rv = open_conn(cli, again, sizeof(again));
	if (rv != 0) {
		size_t n = strlen(err);
		snprintf(err + n, errlen - n, "; connecting again: %s", again);
		return rv;
	}
	return ipsnet_client_call(cli->client, req, resp, err, errlen);
}

/* With --json, a CONFLICT that carries the entity as it is now: the
 * sentence and the entity on stdout, {"error": {"status": "CONFLICT",
 * "message": .., "current_version": N}, "current": {as after a successful
 * change}}. */
static void print_conflict_json(const char *sentence,
				const Ipsnet__V1__Envelope *resp)
{
	json_t *e = json_object(), *o = json_object();
	json_object_set_new(e, "status", json_string("CONFLICT"));
	json_object_set_new(e, "message", fmt_json_str(sentence));
	json_object_set_new(
	    e, "current_version",
	    json_integer((json_int_t)resp->status->current_version));
	json_object_set_new(o, "error", e);
	json_t *now = fmt_change_json(resp->change_ok);
	/* The entity as it is, not a change: no journal entry of it came with
	 * the refusal (its seq is 0, which no entry has). */
	if (resp->change_ok->seq == 0)
		json_object_del(now, "seq");
	json_object_set_new(o, "current", now);
	cli_print_json(o);
}

/* The version a change was made against (--version N), or 0. */
static unsigned long long given_version(const Ipsnet__V1__Envelope *req)
{
	switch (req->body_case) {
	case IPSNET__V1__ENVELOPE__BODY_UPDATE_CLIENT:
		return req->update_client->expected_version;
	case IPSNET__V1__ENVELOPE__BODY_WITHDRAW_CONSENT:
		return req->withdraw_consent->expected_version;
	case IPSNET__V1__ENVELOPE__BODY_MOVE_TRAJECTORY:
		return req->move_trajectory->expected_version;
	case IPSNET__V1__ENVELOPE__BODY_DECIDE_FUNDING:
		return req->decide_funding->expected_version;
	case IPSNET__V1__ENVELOPE__BODY_END_JOB:
		return req->end_job->expected_version;
	case IPSNET__V1__ENVELOPE__BODY_PUT_PROGRAM:
		return req->put_program->expected_version;
	default:
		return 0;
	}
}

/* Prints why a call failed and returns the exit code. given: the version
 * the change named, or 0. */
static int call_failed(const struct cli *cli, int rv, const char *err,
		       const Ipsnet__V1__Envelope *resp, const char *what,
		       const char *look, unsigned long long given)
{
	int status = ipsnet_err_status(rv);
	if (status == IPSNET__V1__CODE__ABORTED && what != NULL) {
		unsigned long long now =
		    resp != NULL && resp->status != NULL
			? (unsigned long long)resp->status->current_version
			: 0;
		/* A version it never had (a typo, one read off another
		 * thing) is no change made since. */
		char head[320];
		if (given > now)
			snprintf(head, sizeof(head),
				 "no version %llu of %s: it is at version %llu",
				 given, what, now);
		else
			snprintf(head, sizeof(head),
				 "changed since the version you gave: %s is "
				 "now at version %llu",
				 what, now);
		/* The server sends the entity as it is now where the caller
		 * may change it: its state goes into the sentence, and the
		 * client it belongs to into the command to look ("ipsnet case
		 * show CLIENT"). */
		if (now != 0 &&
		    resp->body_case == IPSNET__V1__ENVELOPE__BODY_CHANGE_OK) {
			char state[160], sentence[512], named[160];
			const char *client =
			    util_change_ok_client(resp->change_ok);
			size_t n = strlen(look);
			if (client[0] != '\0' && n >= 6 &&
			    strcmp(look + n - 6, "CLIENT") == 0) {
				snprintf(named, sizeof(named), "%.*s%s",
					 (int)(n - 6), look, client);
				look = named;
			}
			fmt_change_state(state, sizeof(state), resp->change_ok);
			snprintf(sentence, sizeof(sentence),
				 "%s%s%s%s; run '%s' and try again with "
				 "--version %llu",
				 head, state[0] != '\0' ? " (" : "", state,
				 state[0] != '\0' ? ")" : "", look, now);
			if (cli->json)
				print_conflict_json(sentence, resp);
			return cli_fail(rv, "%s", sentence);
		}
		if (now != 0)
			return cli_fail(rv,
					"%s; run '%s' and try again with "
					"--version %llu",
					head, look, now);
		return cli_fail(rv,
				"%s has a newer version than the one you gave; "
				"run '%s' and try again",
				what, look);
	}
	if (status == IPSNET__V1__CODE__UNIMPLEMENTED)
		return cli_fail(rv, "the server cannot do this yet (%s)", err);
	return cli_fail(rv, "%s", err[0] != '\0' ? err : ipsnet_strerror(rv));
}

static int check_body(Ipsnet__V1__Envelope **resp, int want)
{
	if ((*resp)->body_case == (Ipsnet__V1__Envelope__BodyCase)want)
		return 0;
	ipsnet_envelope_free(*resp);
	*resp = NULL;
	return cli_fail(IPSNET_EPROTOCOL,
			"the server answered with something else than "
			"expected; is it a different version?");
}

int cli_read(struct cli *cli, Ipsnet__V1__Envelope *req, int want,
	     Ipsnet__V1__Envelope **resp)
{
	char err[512] = "";
	int rv = cli_call_retry(cli, req, resp, err, sizeof(err));
	if (rv != 0) {
		rv = call_failed(cli, rv, err, *resp, NULL, NULL, 0);
		ipsnet_envelope_free(*resp);
		*resp = NULL;
		return rv;
	}
	return check_body(resp, want);
}

int cli_read_page(struct cli *cli, Ipsnet__V1__Envelope *req, int want,
		  struct cli_pages *pages, const Ipsnet__V1__Envelope **resp)
{
	Ipsnet__V1__Envelope *page;
	int rv = cli_read(cli, req, want, &page);
	if (rv != 0)
		return rv;
	Ipsnet__V1__Envelope **grown =
	    ipsnet_realloc(pages->pages, (pages->n + 1) * sizeof(*grown));
	if (grown == NULL) {
		ipsnet_envelope_free(page);
		return cli_fail(IPSNET_ENOMEM, "out of memory");
	}
	pages->pages = grown;
	pages->pages[pages->n++] = page;
	*resp = page;
	return 0;
}

void cli_pages_free(struct cli_pages *pages)
{
	for (size_t i = 0; i < pages->n; i++)
		ipsnet_envelope_free(pages->pages[i]);
	ipsnet_free(pages->pages);
	pages->pages = NULL;
	pages->n = 0;
}

int cli_change(struct cli *cli, Ipsnet__V1__Envelope *req, const char *what,
	       const char *look, Ipsnet__V1__Envelope **resp)
{
	uint8_t key[16];
	char err[512] = "";
	if (ipsnet_new_idempotency_key(key) != 0)
		return cli_fail(IPSNET_EINTERNAL,
				"cannot make an idempotency key: no "
				"randomness");
	req->idempotency_key.data = key;
	req->idempotency_key.len = sizeof(key);
	int rv = cli_call_retry(cli, req, resp, err, sizeof(err));
	req->idempotency_key.data = NULL;
	req->idempotency_key.len = 0;
	if (rv != 0) {
		rv = call_failed(cli, rv, err, *resp, what, look,
				 given_version(req));
		ipsnet_envelope_free(*resp);
		*resp = NULL;
		return rv;
	}
	return check_body(resp, IPSNET__V1__ENVELOPE__BODY_CHANGE_OK);
}
