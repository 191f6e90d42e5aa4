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

	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp;
	Ipsnet__V1__AuditQuery m = IPSNET__V1__AUDIT_QUERY__INIT;
	m.client_id = (char *)(client != NULL ? client : "");
	m.since = (char *)(since != NULL ? since : "");
	m.limit = (uint32_t)n;
	req.body_case = BODY(AUDIT_QUERY);
	req.audit_query = &m;
	if ((rv = cli_read(cli, &req, BODY(AUDIT_LIST), &resp)) != 0)
		return rv;
	const Ipsnet__V1__AuditList *l = resp->audit_list;
	if (cli->json) {
		json_t *a = json_array(), *o = json_object();
		for (size_t i = 0; i < l->n_records; i++)
			json_array_append_new(a, fmt_audit_json(l->records[i]));
		json_object_set_new(o, "records", a);
		cli_print_json(o);
	} else if (l->n_records == 0) {
		printf("no audit records\n");
	} else {
		/* With --client every row is hers: no column for it. */
		static const char *const head[] = {
		    "TIME (UTC)", "ORGANISATION", "USER", "ACTION",
		    "OBJECT",	  "RESULT",	  "PEER", "CLIENT"};
		struct table t;
		table_init(&t, ARRAY_SIZE(head) - (client != NULL), head);
		for (size_t i = 0; i < l->n_records; i++) {
			const Ipsnet__V1__AuditRecord *r = l->records[i];
			table_add(&t, fmt_time(r->time).s, r->organisation,
				  r->user, r->action, r->object, r->result,
				  r->peer, r->client_id);
		}
		table_print(&t, stdout, "");
		table_free(&t);
	}
	ipsnet_envelope_free(resp);
	return 0;
}
