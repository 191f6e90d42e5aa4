/* ipsnet audit: the NEN 7513 audit trail. */
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cli.h"
#include "format.h"
#include "table.h"
#include "util.h"
#include "validate.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name

static const char audit_usage[] =
    "usage: ipsnet audit --client CLIENT [--since TIME] [--after ID]\n"
    "                    [--limit N]\n"
    "       ipsnet audit (--since TIME | --after ID) [--limit N]\n"
    "Shows the audit trail (NEN 7513): every read of personal data and\n"
    "every change, refused ones too, with time (UTC), organisation, user,\n"
    "action, object, result and peer address. --client: the trail of one\n"
    "client, for her GGZ and for NETWORK; --since alone: everything from\n"
    "TIME on, for NETWORK. TIME is a day in the Netherlands, YYYY-MM-DD,\n"
    "from its midnight there (as every date ipsnet takes); or a UTC time,\n"
    "YYYY-MM-DDTHH:MM:SSZ or 'YYYY-MM-DD HH:MM:SS' as the TIME (UTC)\n"
    "column shows it; or a time with its offset from UTC,\n"
    "YYYY-MM-DDTHH:MM:SS+01:00 (RFC 3339), read as the UTC time it is.\n"
    "\n"
    "  --after ID  only the records after record ID, oldest first (0:\n"
    "              from the first): to read on from the last record read\n"
    "              (the line under the table, or the JSON's id) missing\n"
    "              none and none twice, which a time cannot promise (a\n"
    "              read is timed when it is judged, written a moment\n"
    "              later)\n"
    "  --limit N   at most N records (default 100, at most 100000): the\n"
    "              latest, or with --since or --after the first; a line\n"
    "              after the table says when there are more\n";

/* What since_form made of --since. */
enum since_verdict { SINCE_OK, SINCE_BAD, SINCE_BAD_OFFSET };

/* Reads an offset from UTC, "+HH:MM", "-HH:MM", "+HHMM" or "-HHMM" (and
 * nothing after it), into *secs (east of Greenwich: positive). */
static bool read_offset(const char *s, long *secs)
{
	int h, m, used = 0;
	if (s[0] != '+' && s[0] != '-')
		return false;
	const char *d = s + 1;
	for (int i = 0; d[i] != '\0'; i++)
		if ((d[i] < '0' || d[i] > '9') && !(i == 2 && d[i] == ':'))
			return false;
	if (strlen(d) == 5 && d[2] == ':')
		used = sscanf(d, "%2d:%2d", &h, &m) == 2;
	else if (strlen(d) == 4)
		used = sscanf(d, "%2d%2d", &h, &m) == 2;
	if (!used || h > 23 || m > 59)
		return false;
	*secs = (s[0] == '-' ? -1L : 1L) * (h * 3600L + m * 60L);
	return true;
}

/* --since as the server takes it, a UTC time: "YYYY-MM-DD", a day in the
 * Netherlands, becomes the UTC time of its midnight there (an older
 * server takes a bare date for a UTC day, an hour or two later); a UTC time
 * "YYYY-MM-DDTHH:MM:SS[.fraction]Z" (as --json gives a time) stays;
 * "YYYY-MM-DD HH:MM:SS", as the TIME (UTC) column shows it, becomes
 * "YYYY-MM-DDTHH:MM:SSZ"; either with an offset from UTC instead of the Z
 * ("2026-03-01T10:00:00+01:00", RFC 3339) becomes the UTC time it is.
 * SINCE_BAD_OFFSET: a time with an offset that is not +HH:MM or -HH:MM;
 * SINCE_BAD: anything else. */
static enum since_verdict since_form(const char *s, char *out, size_t cap)
{
	char day[11];
	int h, mi, sec, used = 0;
	util_strlcpy(day, s, sizeof(day));
	if (!date_valid(day))
		return SINCE_BAD;
	if (s[10] == '\0') {
		/* A day before 1970 (the Dutch 1970-01-01 too) begins before
		 * the epoch: no row is older than it. */
		long long start = nl_day_start_us(day);
		util_iso8601(out, cap, start > 0 ? (uint64_t)start : 0);
		return SINCE_OK;
	}
	if ((s[10] != 'T' && s[10] != ' ') ||
	    sscanf(s + 11, "%2d:%2d:%2d%n", &h, &mi, &sec, &used) != 3 ||
	    used != 8 || h > 23 || mi > 59 || sec > 60)
		return SINCE_BAD;
	const char *frac = s + 19, *end = frac;
	if (*end == '.' && end[1] >= '0' && end[1] <= '9')
		for (end++; *end >= '0' && *end <= '9'; end++)
			;
	int frac_len = (int)(end - frac);
	if (*end == '+' || *end == '-') {
		long offset;
		if (!read_offset(end, &offset))
			return SINCE_BAD_OFFSET;
		time_t t = (time_t)(date_days(day) * 86400L + h * 3600L +
				    mi * 60L + sec - offset);
		struct tm tm;
		char utc[24];
		gmtime_r(&t, &tm);
		strftime(utc, sizeof(utc), "%Y-%m-%dT%H:%M:%S", &tm);
		return snprintf(out, cap, "%s%.*sZ", utc, frac_len, frac) <
			       (int)cap
			   ? SINCE_OK
			   : SINCE_BAD;
	}
	if (s[10] == ' ') {
		if (*frac != '\0')
			return SINCE_BAD;
		snprintf(out, cap, "%sT%.8sZ", day, s + 11);
		return SINCE_OK;
	}
	if (strcmp(end, "Z") != 0 || strlen(s) >= cap)
		return SINCE_BAD;
	snprintf(out, cap, "%s", s);
	return SINCE_OK;
}

/* The rows shown without --limit (the server's own default), and the most
 * rows one query gives (AuditQuery). */
#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000
#define AUDIT_LIMIT_CLI 100000

/* The rows to show, in the order shown (oldest first). */
struct audit_rows {
	struct cli_pages pages;
	const Ipsnet__V1__AuditRecord **rows;
	size_t n;
	bool left_out; /* the trail has more rows than were asked for */
	bool forward;  /* read on from a time or a record, not the latest */
};

static void audit_rows_free(struct audit_rows *r)
{
	cli_pages_free(&r->pages);
	ipsnet_free(r->rows);
	memset(r, 0, sizeof(*r));
}

/* Asks for page after page until want rows came or the trail has no
 * more. A query gives at most AUDIT_LIMIT_MAX rows, and fewer where the
 * server's frame limit says so (more). With since the pages go on after
 * the last row given, or else (the latest rows) before the first. The
 * last query asks for one row beyond want: if it comes, the trail goes on
 * (left_out), and that row is not shown. Returns 0, or the exit code with
 * one line printed. */
static int audit_fetch(struct cli *cli, const char *client, const char *since,
		       bool after_given, uint64_t after, size_t want,
		       struct audit_rows *out)
{
	/* From since or after on, or else the latest. The server reads on
	 * from after_id only when it is not 0: from the first, it is from
	 * a time before any. */
	bool forward = since != NULL || after_given;
	if (after_given && after == 0 && since == NULL)
		since = "1970-01-01T00:00:00Z";
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
	const Ipsnet__V1__Envelope *resp;
	Ipsnet__V1__AuditQuery m = IPSNET__V1__AUDIT_QUERY__INIT;
	size_t got = 0, last_taken = 0;
	int rv;

	memset(out, 0, sizeof(*out));
	out->forward = forward;
	m.client_id = (char *)(client != NULL ? client : "");
	m.since = (char *)(since != NULL ? since : "");
	m.after_id = after;
	m.paged = true;
	req.body_case = BODY(AUDIT_QUERY);
	req.audit_query = &m;
	for (;;) {
		size_t rest = want - got;
		m.limit = rest >= AUDIT_LIMIT_MAX ? AUDIT_LIMIT_MAX
						  : (uint32_t)rest + 1;
		rv = cli_read_page(cli, &req, BODY(AUDIT_LIST), &out->pages,
				   &resp);
		if (rv != 0)
			return rv;
		const Ipsnet__V1__AuditList *l = resp->audit_list;
		if (l->n_records > rest) {
			out->left_out = true;
			last_taken = rest;
			got = want;
			break;
		}
		got += l->n_records;
		last_taken = l->n_records;
		if (l->n_records < m.limit && !l->more)
			break; /* the trail ends here */
		/* Each page must go on from the one before, or the loop
		 * would never end. */
		uint64_t next = l->n_records == 0 ? 0
				: forward ? l->records[l->n_records - 1]->id
					  : l->records[0]->id;
		if (l->n_records == 0 ||
		    (forward ? next <= m.after_id
			     : m.before_id != 0 && next >= m.before_id))
			return cli_fail(IPSNET_EPROTOCOL,
					"the server's next page of the audit "
					"trail does not go on from the last "
					"one");
		if (forward)
			m.after_id = next;
		else
			m.before_id = next;
	}
	/* Oldest first: with since the pages as they came, or else the
	 * last page first; of the last page the rows taken (without the
	 * one asked beyond want: with since its last, or else its first). */
	out->rows = ipsnet_malloc((got > 0 ? got : 1) * sizeof(*out->rows));
	if (out->rows == NULL)
		return cli_fail(IPSNET_ENOMEM, "out of memory");
	size_t np = out->pages.n;
	for (size_t p = 0; p < np; p++) {
		size_t page = forward ? p : np - 1 - p;
		const Ipsnet__V1__AuditList *l =
		    out->pages.pages[page]->audit_list;
		size_t take = page == np - 1 ? last_taken : l->n_records;
		size_t from = forward ? 0 : l->n_records - take;
		for (size_t i = 0; i < take; i++)
			out->rows[out->n++] = l->records[from + i];
	}
	return 0;
}

int cmd_audit(struct cli *cli, int argc, char **argv)
{
	const char *client = NULL, *since = NULL, *limit = NULL, *after = NULL;
	const struct cli_opt opts[] = {
	    {"client", CLI_STR, &client, NULL, false},
	    {"since", CLI_STR, &since, NULL, false},
	    {"after", CLI_STR, &after, NULL, false},
	    {"limit", CLI_STR, &limit, NULL, false},
	};
	unsigned long n = 0, after_id = 0;
	int rv =
	    cli_parse(argc, argv, opts, ARRAY_SIZE(opts), NULL, 0, audit_usage);
	if (rv >= 0)
		return rv;
	if (client == NULL && since == NULL && after == NULL)
		return cli_fail(IPSNET_EUSAGE,
				"give --client CLIENT, --since TIME or --after "
				"ID");
	if (client != NULL && (rv = cli_client_id("--client", client)) != 0)
		return rv;
	if (after != NULL &&
	    (rv = cli_uint("--after", after, 0, (unsigned long)INT64_MAX - 1,
			   &after_id)) != 0)
		return rv;
	char since_utc[32];
	if (since != NULL) {
		enum since_verdict v =
		    since_form(since, since_utc, sizeof(since_utc));
		if (v == SINCE_BAD_OFFSET)
			return cli_fail(IPSNET_EUSAGE,
					"--since '%s' has an offset from UTC "
					"that is not +HH:MM or -HH:MM (hours "
					"up to 23), as in "
					"2026-03-01T10:00:00+01:00",
					since);
		if (v != SINCE_OK)
			return cli_fail(IPSNET_EUSAGE,
					"--since takes a day in the "
					"Netherlands, YYYY-MM-DD, or a UTC "
					"time, YYYY-MM-DDTHH:MM:SSZ or "
					"'YYYY-MM-DD HH:MM:SS' as the TIME "
					"(UTC) column shows it, or a time with "
					"its offset from UTC, "
					"YYYY-MM-DDTHH:MM:SS+01:00; not '%s'",
					since);
		since = since_utc;
	}
	if (limit != NULL &&
	    (rv = cli_uint("--limit", limit, 1, AUDIT_LIMIT_CLI, &n)) != 0)
		return rv;

	struct audit_rows r;
	rv = audit_fetch(cli, client, since, after != NULL, after_id,
			 limit != NULL ? (size_t)n : AUDIT_LIMIT_DEFAULT, &r);
	if (rv != 0) {
		audit_rows_free(&r);
		return rv;
	}
	if (cli->json) {
		json_t *a = json_array(), *o = json_object();
		for (size_t i = 0; i < r.n; i++)
			json_array_append_new(a, fmt_audit_json(r.rows[i]));
		json_object_set_new(o, "records", a);
		json_object_set_new(o, "more", json_boolean(r.left_out));
		cli_print_json(o);
	} else if (r.n == 0) {
		printf("no audit records\n");
	} else {
		/* With --client every row is hers: no column for it. */
		static const char *const head[] = {
		    "TIME (UTC)", "ORGANISATION", "USER", "ACTION",
		    "OBJECT",	  "RESULT",	  "PEER", "CLIENT"};
		struct table t;
		table_init(&t, ARRAY_SIZE(head) - (client != NULL), head);
		for (size_t i = 0; i < r.n; i++) {
			const Ipsnet__V1__AuditRecord *a = r.rows[i];
			table_add(&t, fmt_time(a->time).s, a->organisation,
				  a->user, a->action, a->object, a->result,
				  a->peer, a->client_id);
		}
		table_print(&t, stdout, "");
		table_free(&t);
		if (r.left_out)
			printf("%s records are not shown: --limit N shows up "
			       "to N (at most %d)\n",
			       r.forward ? "later" : "earlier",
			       AUDIT_LIMIT_CLI);
		printf("last record shown: %" PRIu64 " (--after %" PRIu64
		       " reads on from it)\n",
		       r.rows[r.n - 1]->id, r.rows[r.n - 1]->id);
	}
	audit_rows_free(&r);
	return 0;
}
