/* ipsnet audit: the NEN 7513 audit trail. */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "format.h"
#include "table.h"
#include "util.h"
#include "validate.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name

static const char audit_usage[] =
    "usage: ipsnet audit --client CLIENT [--since TIME] [--limit N]\n"
    "       ipsnet audit --since TIME [--limit N]\n"
    "Shows the audit trail (NEN 7513): every read of personal data and\n"
    "every change, refused ones too, with time (UTC), organisation, user,\n"
    "action, object, result and peer address. --client: the trail of one\n"
    "client, for her GGZ and for NETWORK; --since alone: everything from\n"
    "TIME on, for NETWORK. TIME is UTC: YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ\n"
    "or 'YYYY-MM-DD HH:MM:SS' as the TIME (UTC) column shows it.\n"
    "\n"
    "  --limit N   at most N records (default: the server's)\n";

/* --since as the server takes it: "YYYY-MM-DD" or
 * "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (as --json gives a time);
 * "YYYY-MM-DD HH:MM:SS", as the TIME (UTC) column shows it, becomes
 * "YYYY-MM-DDTHH:MM:SSZ". False for anything else. */
static bool since_form(const char *s, char *out, size_t cap)
{
	char day[11];
	int h, mi, sec, used = 0;
	util_strlcpy(day, s, sizeof(day));
	if (!date_valid(day))
		return false;
	if (s[10] == '\0') {
		snprintf(out, cap, "%s", day);
		return true;
	}
	if ((s[10] != 'T' && s[10] != ' ') ||
	    sscanf(s + 11, "%2d:%2d:%2d%n", &h, &mi, &sec, &used) != 3 ||
	    used != 8 || h > 23 || mi > 59 || sec > 60)
		return false;
	const char *end = s + 19;
	if (s[10] == ' ') {
		if (*end != '\0')
			return false;
		snprintf(out, cap, "%sT%.8sZ", day, s + 11);
		return true;
	}
	if (*end == '.' && end[1] >= '0' && end[1] <= '9')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	if (strcmp(end, "Z") != 0 || strlen(s) >= cap)
		return false;
	snprintf(out, cap, "%s", s);
	return true;
}

/* The rows the server gives when limit is 0, and at most (AuditQuery). */
#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000

/* Asks for page after page while the server says that rows within limit
 * (0: the server's default) were left out to keep an answer within its
 * frame limit: with since the later rows, after the last one given; or
 * else the earlier ones, before the first. Returns 0, or the exit code
 * with one line printed. */
static int audit_fetch(struct cli *cli, const char *client, const char *since,
		       uint32_t limit, struct cli_pages *out)
{
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
	const Ipsnet__V1__Envelope *resp;
	Ipsnet__V1__AuditQuery m = IPSNET__V1__AUDIT_QUERY__INIT;
	size_t want = limit == 0		? AUDIT_LIMIT_DEFAULT
		      : limit > AUDIT_LIMIT_MAX ? AUDIT_LIMIT_MAX
						: limit;
	size_t got = 0;
	int rv;

	memset(out, 0, sizeof(*out));
	m.client_id = (char *)(client != NULL ? client : "");
	m.since = (char *)(since != NULL ? since : "");
	m.limit = limit;
	m.paged = true;
	req.body_case = BODY(AUDIT_QUERY);
	req.audit_query = &m;
	for (;;) {
		rv = cli_read_page(cli, &req, BODY(AUDIT_LIST), out, &resp);
		if (rv != 0)
			return rv;
		const Ipsnet__V1__AuditList *l = resp->audit_list;
		got += l->n_records;
		if (!l->more || got >= want)
			return 0;
		/* Each page must go on from the one before, or the loop
		 * would never end. */
		uint64_t next = l->n_records == 0 ? 0
				: since != NULL
				    ? l->records[l->n_records - 1]->id
				    : l->records[0]->id;
		if (l->n_records == 0 ||
		    (since != NULL ? next <= m.after_id
				   : m.before_id != 0 && next >= m.before_id))
			return cli_fail(IPSNET_EPROTOCOL,
					"the server's next page of the audit "
					"trail does not go on from the last "
					"one");
		if (since != NULL)
			m.after_id = next;
		else
			m.before_id = next;
		m.limit = (uint32_t)(want - got);
	}
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	const char *client = NULL, *since = NULL, *limit = NULL;
	const struct cli_opt opts[] = {
	    {"client", CLI_STR, &client, NULL, false},
	    {"since", CLI_STR, &since, NULL, false},
	    {"limit", CLI_STR, &limit, NULL, false},
	};
	unsigned long n = 0;
	int rv =
	    cli_parse(argc, argv, opts, ARRAY_SIZE(opts), NULL, 0, audit_usage);
	if (rv >= 0)
		return rv;
	if (client == NULL && since == NULL)
		return cli_fail(IPSNET_EUSAGE,
				"give --client CLIENT or --since TIME");
	char since_utc[32];
	if (since != NULL) {
		if (!since_form(since, since_utc, sizeof(since_utc)))
			return cli_fail(IPSNET_EUSAGE,
					"--since takes a UTC date or time: "
					"YYYY-MM-DD, YYYY-MM-DDTHH:MM:SSZ or "
					"'YYYY-MM-DD HH:MM:SS' as the TIME "
					"(UTC) column shows it; not '%s'",
					since);
		since = since_utc;
	}
	if (limit != NULL &&
	    (rv = cli_uint("--limit", limit, 1, 100000, &n)) != 0)
		return rv;

	struct cli_pages pages;
	rv = audit_fetch(cli, client, since, (uint32_t)n, &pages);
	if (rv != 0) {
		cli_pages_free(&pages);
		return rv;
	}
	/* Without --since each page is older than the one before. */
	size_t total = 0;
	for (size_t p = 0; p < pages.n; p++)
		total += pages.pages[p]->audit_list->n_records;
	if (cli->json) {
		json_t *a = json_array(), *o = json_object();
		for (size_t p = 0; p < pages.n; p++) {
			const Ipsnet__V1__AuditList *l =
			    pages.pages[since != NULL ? p : pages.n - 1 - p]
				->audit_list;
			for (size_t i = 0; i < l->n_records; i++)
				json_array_append_new(
				    a, fmt_audit_json(l->records[i]));
		}
		json_object_set_new(o, "records", a);
		cli_print_json(o);
	} else if (total == 0) {
		printf("no audit records\n");
	} else {
		/* With --client every row is hers: no column for it. */
		static const char *const head[] = {
		    "TIME (UTC)", "ORGANISATION", "USER", "ACTION",
		    "OBJECT",	  "RESULT",	  "PEER", "CLIENT"};
		struct table t;
		table_init(&t, ARRAY_SIZE(head) - (client != NULL), head);
		for (size_t p = 0; p < pages.n; p++) {
			const Ipsnet__V1__AuditList *l =
			    pages.pages[since != NULL ? p : pages.n - 1 - p]
				->audit_list;
			for (size_t i = 0; i < l->n_records; i++) {
				const Ipsnet__V1__AuditRecord *r =
				    l->records[i];
				table_add(&t, fmt_time(r->time).s,
					  r->organisation, r->user, r->action,
					  r->object, r->result, r->peer,
					  r->client_id);
			}
		}
		table_print(&t, stdout, "");
		table_free(&t);
	}
	cli_pages_free(&pages);
	return 0;
}
