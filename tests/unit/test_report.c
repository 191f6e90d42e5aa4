/* The report engine (daemon/report.c) against hand-made state tables: each
 * definition of docs/reports.md at its edges, who may ask what, small-number
 * suppression, the data-quality counts and the fidelity section. Then the
 * synthetic network of tests/integration/report_gen.c, written straight
 * into the tables: the engine must equal the generator's truth in every
 * cell.
 *
 * Each test fills an in-memory database made by store_migrate (the schema
 * the daemon runs on) and calls report_build as a reader thread would; the
 * answer is unpacked from the bytes the daemon would send. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "alloc.h"
#include "ipsnet_errors.h"
#include "journal.h"
#include "report.h"
#include "report_gen.h"
#include "store.h"
#include "util.h"

#define ACTIVE IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACTIVE
#define BY_REGION IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION
#define BY_PROGRAM IPSNET__V1__REPORT_GROUPING__REPORT_BY_PROGRAM
#define BY_FUNDER IPSNET__V1__REPORT_GROUPING__REPORT_BY_FUNDER

struct fixture {
	sqlite3 *db;
	struct report_settings settings;
	Ipsnet__V1__Envelope *answer;
	char why[256];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];
	if (f == NULL || sqlite3_open(":memory:", &f->db) != SQLITE_OK ||
	    store_migrate(f->db, err, sizeof(err)) != 0)
		return -1;
	f->settings.sustained_months = 6;
	f->settings.small_count_threshold = 0;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	if (f->answer != NULL)
		ipsnet__v1__envelope__free_unpacked(f->answer,
						    &ipsnet_protobuf_allocator);
	sqlite3_close(f->db);
	free(f);
	return 0;
}

/* ---- filling the tables ------------------------------------------------- */

/* sqlite3_mprintf's format: %Q quotes a string or writes NULL. */
static void sql(struct fixture *f, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *s = sqlite3_vmprintf(fmt, ap);
	va_end(ap);
	char *err = NULL;
	if (sqlite3_exec(f->db, s, NULL, NULL, &err) != SQLITE_OK) {
		print_error("%s\n%s\n", s, err);
		fail();
	}
	sqlite3_free(s);
}

static void org(struct fixture *f, const char *id, const char *kind)
{
	sql(f,
	    "INSERT INTO organisation (id, kind, name, region) VALUES "
	    "(%Q, %Q, %Q, 1)",
	    id, kind, id);
}

static void program(struct fixture *f, const char *id, const char *owner,
		    int region, int specialists)
{
	sql(f, "INSERT INTO program VALUES (%Q, 1, %Q, %Q, %d, %d)", id, owner,
	    id, region, specialists);
}

static int status_of(const char *word)
{
	static const char *const names[] = {"?",	"REFERRED", "ACCEPTED",
					    "DECLINED", "ACTIVE",   "ON_HOLD",
					    "CLOSED",	"CANCELLED"};
	for (int i = 1; i < 8; i++)
		if (strcmp(word, names[i]) == 0)
			return i;
	fail_msg("unknown status %s", word);
	return 0;
}

/* A trajectory and its transitions: steps is "ACTIVE 2024-01-05, ON_HOLD
 * 2024-03-01, ..." (REFERRED and ACCEPTED before the first step are
 * added). The columns are filled as the daemon would. */
static void traj(struct fixture *f, const char *id, const char *client,
		 const char *prog, const char *steps)
{
	char buf[512], cols[8][16] = {{0}};
	int seq = 0, status = 0;
	snprintf(buf, sizeof(buf), "%s", steps);
	sql(f,
	    "INSERT INTO trajectory (id, version, client_id, program_id, "
	    "referrer, status, note) VALUES (%Q, 1, %Q, %Q, 'ggz-a', 1, '')",
	    id, client, prog);
	sql(f,
	    "INSERT INTO trajectory_event VALUES (%Q, 1, 1, '2000-01-01'), "
	    "(%Q, 2, 2, '2000-01-02')",
	    id, id);
	seq = 2;
	for (char *save, *tok = strtok_r(buf, ",", &save); tok != NULL;
	     tok = strtok_r(NULL, ",", &save)) {
		char word[16], date[16];
		if (sscanf(tok, " %15s %15s", word, date) != 2)
			fail_msg("bad step '%s'", tok);
		status = status_of(word);
		sql(f, "INSERT INTO trajectory_event VALUES (%Q, %d, %d, %Q)",
		    id, ++seq, status, date);
		snprintf(cols[status], sizeof(cols[status]), "%s", date);
	}
	if (cols[ACTIVE][0] != '\0')
		sql(f, "UPDATE trajectory SET started_on = %Q WHERE id = %Q",
		    cols[ACTIVE], id);
	if (cols[6][0] != '\0')
		sql(f, "UPDATE trajectory SET closed_on = %Q WHERE id = %Q",
		    cols[6], id);
	sql(f, "UPDATE trajectory SET status = %d WHERE id = %Q",
	    status != 0 ? status : 2, id);
}

/* n trajectories t1..tN in program pa1, of clients c1..cN, each with
 * steps (as traj). */
static void trajs_in_pa1(struct fixture *f, int n, const char *steps)
{
	for (int i = 1; i <= n; i++) {
		char t[8], c[8];
		snprintf(t, sizeof(t), "t%d", i);
		snprintf(c, sizeof(c), "c%d", i);
		traj(f, t, c, "pa1", steps);
	}
}

static int funding_n;

/* status: 1 requested, 2 approved, 3 rejected, 4 withdrawn. funder NULL:
 * OTHER. decided NULL: no decision date. */
static void funding(struct fixture *f, const char *trajectory,
		    const char *funder, int status, const char *decided)
{
	sql(f,
	    "INSERT INTO funding (id, version, trajectory_id, client_id, "
	    "funder, months, status, requested_on, decided_on) VALUES "
	    "('fu-%d', 1, %Q, (SELECT client_id FROM trajectory WHERE id = "
	    "%Q), %Q, 12, %d, '2020-01-01', %Q)",
	    ++funding_n, trajectory, trajectory, funder, status, decided);
}

static int job_n;

static void job(struct fixture *f, const char *client, const char *start,
		const char *end, bool competitive)
{
	sql(f,
	    "INSERT INTO job (id, version, client_id, employer, start_date, "
	    "end_date, hours_per_week, competitive) VALUES ('jo-%d', 1, %Q, "
	    "'x', %Q, %Q, 20, %d)",
	    ++job_n, client, start, end, competitive);
}

static void review(struct fixture *f, const char *id, const char *prog,
		   const char *date, int total, bool independent)
{
	sql(f,
	    "INSERT INTO fidelity_review VALUES (%Q, 1, %Q, %Q, '', %d, '', "
	    "%d, 'network')",
	    id, prog, date, total, independent);
}

/* The usual network: two GGZs, a municipality and UWV, three programs in
 * regions 3 and 7. */
static void network(struct fixture *f)
{
	org(f, "ggz-a", "GGZ");
	org(f, "ggz-b", "GGZ");
	org(f, "gm0363", "MUNICIPALITY");
	org(f, "uwv", "UWV");
	org(f, "network", "NETWORK");
	program(f, "pa1", "ggz-a", 3, 4);
	program(f, "pa2", "ggz-a", 7, 2);
	program(f, "pb1", "ggz-b", 7, 3);
}

/* ---- asking ------------------------------------------------------------- */

struct ask {
	const char *org;
	enum org_kind kind;
	const char *periods[REPORT_MAX_PERIODS]; /* "2024", "2024-Q3" */
	uint32_t region;
	const char *program;
	Ipsnet__V1__ReportGrouping by[3];
	uint32_t history;
};

static void period_of(const char *text, Ipsnet__V1__ReportPeriod *p,
		      char from[16], char to[16])
{
	int y, q;
	static const char *const qfrom[] = {"01-01", "04-01", "07-01", "10-01"};
	static const char *const qto[] = {"03-31", "06-30", "09-30", "12-31"};
	if (sscanf(text, "%d-Q%d", &y, &q) == 2) {
		snprintf(from, 16, "%d-%s", y, qfrom[q - 1]);
		snprintf(to, 16, "%d-%s", y, qto[q - 1]);
	} else {
		y = atoi(text);
		snprintf(from, 16, "%d-01-01", y);
		snprintf(to, 16, "%d-12-31", y);
	}
	p->label = (char *)text;
	p->from = from;
	p->to = to;
}

/* Runs the report; returns its code. f->answer holds the Envelope. */
static int run(struct fixture *f, const struct ask *a)
{
	Ipsnet__V1__ReportQuery q = IPSNET__V1__REPORT_QUERY__INIT;
	Ipsnet__V1__ReportPeriod p[REPORT_MAX_PERIODS];
	Ipsnet__V1__ReportPeriod *pp[REPORT_MAX_PERIODS];
	char from[REPORT_MAX_PERIODS][16], to[REPORT_MAX_PERIODS][16];
	struct journal_actor actor;
	uint8_t *bytes = NULL;
	size_t len = 0;

	memset(&actor, 0, sizeof(actor));
	util_strlcpy(actor.org, a->org != NULL ? a->org : "network",
		     sizeof(actor.org));
	actor.org_kind = a->kind != ORG_KIND_NONE ? a->kind : ORG_KIND_NETWORK;
	for (size_t i = 0; i < REPORT_MAX_PERIODS && a->periods[i] != NULL;
	     i++) {
		ipsnet__v1__report_period__init(&p[i]);
		period_of(a->periods[i], &p[i], from[i], to[i]);
		pp[i] = &p[i];
		q.n_periods++;
	}
	q.periods = pp;
	q.region = a->region;
	q.program_id = (char *)(a->program != NULL ? a->program : "");
	Ipsnet__V1__ReportGrouping by[3];
	for (size_t i = 0; i < 3 && a->by[i] != 0; i++)
		by[q.n_by++] = a->by[i];
	q.by = by;
	q.history_years = a->history;

	if (f->answer != NULL)
		ipsnet__v1__envelope__free_unpacked(f->answer,
						    &ipsnet_protobuf_allocator);
	f->answer = NULL;
	int rv = report_build(f->db, &actor, &f->settings, &q, &bytes, &len,
			      f->why, sizeof(f->why));
	if (rv != 0)
		return rv;
	f->answer = ipsnet__v1__envelope__unpack(&ipsnet_protobuf_allocator,
						 len, bytes);
	ipsnet_free(bytes);
	assert_non_null(f->answer);
	assert_int_equal(f->answer->body_case,
			 IPSNET__V1__ENVELOPE__BODY_REPORT);
	return 0;
}

static const Ipsnet__V1__Report *report(struct fixture *f, const struct ask *a)
{
	int rv = run(f, a);
	if (rv != 0)
		fail_msg("report refused: %s (%s)", ipsnet_err_name(rv),
			 f->why);
	return f->answer->report;
}

static const Ipsnet__V1__ReportFigures *
row(const Ipsnet__V1__ReportPeriodResult *p, Ipsnet__V1__ReportGrouping by,
    const char *key)
{
	for (size_t g = 0; g < p->n_groups; g++) {
		if (p->groups[g]->by != by)
			continue;
		for (size_t i = 0; i < p->groups[g]->n_rows; i++)
			if (strcmp(p->groups[g]->rows[i]->key, key) == 0)
				return p->groups[g]->rows[i];
	}
	fail_msg("no row %s", key);
	return NULL;
}

/* A count as the reader sees it: the number, or -1 for "<N". */
static long shown(const Ipsnet__V1__ReportCount *c)
{
	return c->suppressed ? -1 : (long)c->value;
}

#define FIGS(f, e, s, emp, sus)                               \
	do {                                                  \
		assert_int_equal(shown((f)->enrolled), e);    \
		assert_int_equal(shown((f)->started), s);     \
		assert_int_equal(shown((f)->employed), emp);  \
		assert_int_equal(shown((f)->sustained), sus); \
	} while (0)

/* ---- enrolled and started ----------------------------------------------- */

static void test_enrolled_spans_years_and_started_only_in_its_year(void **state)
{
	struct fixture *f = *state;
	network(f);
	traj(f, "t1", "c1", "pa1", "ACTIVE 2022-05-01, CLOSED 2024-03-01");
	const Ipsnet__V1__Report *r = report(
	    f, &(struct ask){.periods = {"2022", "2023", "2024", "2025"}});
	FIGS(r->periods[0]->scope, 1, 1, 0, 0);
	FIGS(r->periods[1]->scope, 1, 0, 0, 0);
	FIGS(r->periods[2]->scope, 1, 0, 0, 0);
	FIGS(r->periods[3]->scope, 0, 0, 0, 0);
}

static void test_transition_days_count_on_both_sides(void **state)
{
	struct fixture *f = *state;
	network(f);
	/* Closed on New Year's day: it was active at a moment of 2024. */
	traj(f, "t1", "c1", "pa1", "ACTIVE 2023-03-01, CLOSED 2024-01-01");
	/* Started on New Year's Eve: enrolled and started in 2023. */
	traj(f, "t2", "c2", "pa1", "ACTIVE 2023-12-31");
	/* Closed the day before 2024. */
	traj(f, "t3", "c3", "pa1", "ACTIVE 2023-02-01, CLOSED 2023-12-31");
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2023", "2024"}});
	FIGS(r->periods[0]->scope, 3, 3, 0, 0);
	FIGS(r->periods[1]->scope, 2, 0, 0, 0);
}

static void test_on_hold_all_period_is_still_enrolled(void **state)
{
	struct fixture *f = *state;
	network(f);
	traj(f, "t1", "c1", "pa1",
	     "ACTIVE 2022-02-01, ON_HOLD 2022-11-01, ACTIVE 2024-02-01");
	/* Referred and accepted in 2023, never started: not enrolled. */
	traj(f, "t2", "c2", "pa1", "");
	/* Cancelled before it started. */
	traj(f, "t3", "c3", "pa1", "CANCELLED 2023-04-01");
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2023", "2024-Q1"}});
	FIGS(r->periods[0]->scope, 1, 0, 0, 0);
	/* Resuming is not starting. */
	FIGS(r->periods[1]->scope, 1, 0, 0, 0);
}

static void test_quarter_is_its_own_period(void **state)
{
	struct fixture *f = *state;
	network(f);
	traj(f, "t1", "c1", "pa1", "ACTIVE 2024-04-01, CLOSED 2024-06-30");
	traj(f, "t2", "c2", "pa1", "ACTIVE 2024-07-01");
	const Ipsnet__V1__Report *r = report(
	    f, &(struct ask){.periods = {"2024-Q1", "2024-Q2", "2024-Q3"}});
	FIGS(r->periods[0]->scope, 0, 0, 0, 0);
	FIGS(r->periods[1]->scope, 1, 1, 0, 0);
	FIGS(r->periods[2]->scope, 1, 1, 0, 0);
	assert_string_equal(r->periods[1]->period->from, "2024-04-01");
	assert_string_equal(r->periods[1]->period->to, "2024-06-30");
}

static void test_client_counts_once_per_cell(void **state)
{
	struct fixture *f = *state;
	network(f);
	/* Two trajectories in one program, a third in another region. */
	traj(f, "t1", "c1", "pa1", "ACTIVE 2024-01-10, CLOSED 2024-03-01");
	traj(f, "t2", "c1", "pa1", "ACTIVE 2024-05-01");
	traj(f, "t3", "c1", "pb1", "ACTIVE 2024-06-01");
	job(f, "c1", "2024-02-01", NULL, true);
	job(f, "c1", "2024-08-01", NULL, true);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"},
				    .by = {BY_REGION, BY_PROGRAM}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	FIGS(p->scope, 1, 1, 1, 1);
	FIGS(row(p, BY_PROGRAM, "pa1"), 1, 1, 1, 1);
	FIGS(row(p, BY_PROGRAM, "pb1"), 1, 1, 1, 1);
	FIGS(row(p, BY_PROGRAM, "pa2"), 0, 0, 0, 0);
	FIGS(row(p, BY_REGION, "3"), 1, 1, 1, 1);
	FIGS(row(p, BY_REGION, "7"), 1, 1, 1, 1);
	FIGS(row(p, BY_REGION, "1"), 0, 0, 0, 0);
	assert_int_equal(shown(p->quality->clients_in_several_programs), 1);
	/* Every region has a row for NETWORK, nobody in it or not. */
	assert_int_equal(p->groups[0]->n_rows, 35);
}

/* ---- employed and sustained --------------------------------------------- */

static void test_employed_needs_a_competitive_job_overlapping(void **state)
{
	struct fixture *f = *state;
	network(f);
	traj(f, "t1", "c1", "pa1", "ACTIVE 2024-01-10"); /* competitive */
	traj(f, "t2", "c2", "pa1", "ACTIVE 2024-01-10"); /* sheltered */
	traj(f, "t3", "c3", "pa1", "ACTIVE 2024-01-10"); /* ended in 2023 */
	traj(f, "t4", "c4", "pa1",
	     "ACTIVE 2024-01-10"); /* before the trajectory */
	traj(f, "t5", "c5", "pa1", "ACTIVE 2024-01-10"); /* starts 2025 */
	job(f, "c1", "2024-11-01", NULL, true);
	job(f, "c2", "2024-02-01", NULL, false);
	job(f, "c3", "2023-01-01", "2023-12-31", true);
	job(f, "c4", "2023-06-01", "2024-01-01", true);
	job(f, "c5", "2025-01-01", NULL, true);
	/* A job of somebody not enrolled counts nowhere. */
	job(f, "c9", "2024-01-01", NULL, true);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	FIGS(p->scope, 5, 5, 2, 1);
	assert_true(p->scope->employed_share->percent > 39.99 &&
		    p->scope->employed_share->percent < 40.01);
	assert_int_equal(shown(p->quality->jobs_not_competitive), 1);
	assert_int_equal(shown(p->quality->jobs_before_trajectory), 1);
}

static void test_sustained_is_six_months_by_the_end_of_the_period(void **state)
{
	struct fixture *f = *state;
	network(f);
	const char *ids[] = {"c1", "c2", "c3", "c4", "c5", "c6"};
	for (int i = 0; i < 6; i++) {
		char t[8];
		snprintf(t, sizeof(t), "t%d", i);
		traj(f, t, ids[i], "pa1", "ACTIVE 2023-06-01");
	}
	job(f, "c1", "2024-01-01", "2024-06-30", true); /* exactly 6 months */
	job(f, "c2", "2024-01-01", "2024-06-29", true); /* a day short */
	job(f, "c3", "2024-07-01", NULL, true);		/* 6 by 31 December */
	job(f, "c4", "2024-07-02", NULL, true);		/* 6 by 1 January */
	/* 31 August + 6 months is 28 February (2023 is no leap year). */
	job(f, "c5", "2022-08-31", "2023-02-27", true);
	job(f, "c6", "2022-08-31", "2023-02-26", true);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2023", "2024"}});
	FIGS(r->periods[0]->scope, 6, 6, 2, 1);
	FIGS(r->periods[1]->scope, 6, 0, 4, 2);
	assert_int_equal(r->definitions->sustained_months, 6);
	/* Jobs that began before the trajectory count, and are listed. */
	assert_int_equal(shown(r->periods[0]->quality->jobs_before_trajectory),
			 2);

	/* The threshold is the config's. */
	f->settings.sustained_months = 12;
	r = report(f, &(struct ask){.periods = {"2023", "2024"}});
	FIGS(r->periods[0]->scope, 6, 6, 2, 0);
	FIGS(r->periods[1]->scope, 6, 0, 4, 0);
	assert_int_equal(r->definitions->sustained_months, 12);
}

/* A period not over yet counts jobs up to today: a job that has not begun
 * is no employment, and months not yet lasted are not lasted; one that has
 * not begun is refused. The history's current year alike. */
static void test_a_period_not_over_counts_up_to_today(void **state)
{
	struct fixture *f = *state;
	network(f);
	traj(f, "t1", "c1", "pa1", "ACTIVE 2025-06-01");
	traj(f, "t2", "c2", "pa1", "ACTIVE 2025-06-01");
	traj(f, "t3", "c3", "pa1", "ACTIVE 2025-06-01");
	job(f, "c1", "2026-06-01", NULL, true); /* 6 months on 30 November */
	job(f, "c2", "2026-12-10", NULL, true); /* begins after today */
	job(f, "c3", "2026-05-01", NULL, true); /* 6 months on 31 October */
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2026", "2026-Q4"}});
	FIGS(r->periods[0]->scope, 3, 0, 3, 2); /* as if the year were over */
	f->settings.today = "2026-11-26";
	r = report(f,
		   &(struct ask){.periods = {"2026", "2026-Q4"}, .history = 2});
	FIGS(r->periods[0]->scope, 3, 0, 2, 1);
	FIGS(r->periods[1]->scope, 3, 0, 2, 1);
	assert_int_equal(shown(r->history[1]->employed), 2);
	assert_int_equal(shown(r->history[1]->sustained), 1);
	assert_int_equal(run(f, &(struct ask){.periods = {"2027"}}),
			 IPSNET_EINVAL);
	assert_non_null(strstr(f->why, "has not begun yet"));
}

static void
test_sustained_counts_a_job_that_lasted_before_the_year(void **state)
{
	struct fixture *f = *state;
	network(f);
	traj(f, "t1", "c1", "pa1", "ACTIVE 2022-01-01");
	traj(f, "t2", "c2", "pa1", "ACTIVE 2022-01-01");
	/* Lasted a year, ended on 1 January: employed and sustained. */
	job(f, "c1", "2023-01-01", "2024-01-01", true);
	/* Ended in the quarter after a month: employed only. */
	job(f, "c2", "2024-03-01", "2024-04-02", true);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024", "2024-Q2"}});
	FIGS(r->periods[0]->scope, 2, 0, 2, 1);
	FIGS(r->periods[1]->scope, 2, 0, 1, 0);
}

/* ---- funding ------------------------------------------------------------ */

static void test_funding_type_is_the_latest_approved_request(void **state)
{
	struct fixture *f = *state;
	network(f);
	trajs_in_pa1(f, 6, "ACTIVE 2024-02-01");
	funding(f, "t1", "gm0363", 2, "2024-02-10");
	funding(f, "t2", "gm0363", 2, "2024-01-10"); /* later UWV wins */
	funding(f, "t2", "uwv", 2, "2024-05-10");
	funding(f, "t3", NULL, 2, "2024-02-10");     /* OTHER */
	funding(f, "t4", "uwv", 3, "2024-02-10");    /* rejected */
	funding(f, "t4", "gm0363", 4, "2024-03-10"); /* withdrawn */
	funding(f, "t5", "uwv", 1, NULL);	     /* still open */
	funding(f, "t6", "gm0363", 2, NULL);	     /* no decision date */
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}, .by = {BY_FUNDER}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_int_equal(shown(p->scope->funded_municipality), 2);
	assert_int_equal(shown(p->scope->funded_uwv), 1);
	assert_int_equal(shown(p->scope->funded_other), 1);
	assert_int_equal(shown(p->scope->unfunded), 2);
	FIGS(row(p, BY_FUNDER, "gm0363"), 2, 2, 0, 0);
	FIGS(row(p, BY_FUNDER, "uwv"), 1, 1, 0, 0);
	FIGS(row(p, BY_FUNDER, "OTHER"), 1, 1, 0, 0);
	FIGS(row(p, BY_FUNDER, "UNFUNDED"), 2, 2, 0, 0);
	assert_int_equal(shown(p->quality->funding_pending), 1);
	assert_int_equal(shown(p->quality->funding_without_decision_date), 1);
	assert_int_equal(shown(p->quality->several_approved), 1);
}

static void journal_entry(struct fixture *f, int seq, const char *kind,
			  const char *id)
{
	sql(f,
	    "INSERT INTO journal (seq, time_us, org, user, idem_key, "
	    "entity_kind, entity_id, version, payload, response, prev_hash, "
	    "hash) VALUES (%d, 0, 'x', 'x', randomblob(16), %Q, %Q, 1, x'', "
	    "x'', x'', x'')",
	    seq, kind, id);
}

static void test_decisions_of_one_day_count_in_journal_order(void **state)
{
	struct fixture *f = *state;
	network(f);
	traj(f, "t1", "c1", "pa1", "ACTIVE 2024-02-01");
	traj(f, "t2", "c2", "pa1", "ACTIVE 2024-02-01");
	/* t1: UWV's approval was journaled last; t2: the municipality's. */
	sql(f, "INSERT INTO funding (id, version, trajectory_id, client_id, "
	       "funder, months, status, requested_on, decided_on) VALUES "
	       "('fu-a', 2, 't1', 'c1', 'gm0363', 12, 2, '2024-06-01', "
	       "'2024-06-01'), ('fu-b', 2, 't1', 'c1', 'uwv', 12, 2, "
	       "'2024-06-01', '2024-06-01'), ('fu-c', 2, 't2', 'c2', "
	       "'gm0363', 12, 2, '2024-06-01', '2024-06-01'), ('fu-d', 2, "
	       "'t2', 'c2', 'uwv', 12, 2, '2024-06-01', '2024-06-01')");
	journal_entry(f, 1, "funding", "fu-a");
	journal_entry(f, 2, "funding", "fu-d");
	journal_entry(f, 3, "funding", "fu-b");
	journal_entry(f, 4, "funding", "fu-c");
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}, .by = {BY_FUNDER}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_int_equal(shown(row(p, BY_FUNDER, "uwv")->enrolled), 1);
	assert_int_equal(shown(row(p, BY_FUNDER, "gm0363")->enrolled), 1);
	assert_int_equal(r->journal_seq, 4);
	/* Each funded one; both are its funders' (scope: any approval). */
	r = report(f, &(struct ask){.org = "uwv",
				    .kind = ORG_KIND_UWV,
				    .periods = {"2024"}});
	assert_int_equal(shown(r->periods[0]->scope->enrolled), 2);
	assert_int_equal(shown(r->periods[0]->scope->funded_uwv), 1);
	assert_int_equal(shown(r->periods[0]->scope->funded_municipality), 1);
}

/* ---- who may ask what --------------------------------------------------- */

static void many(struct fixture *f, const char *prefix, const char *prog, int n,
		 const char *funder)
{
	for (int i = 0; i < n; i++) {
		char t[32], c[32];
		snprintf(t, sizeof(t), "t-%s-%d", prefix, i);
		snprintf(c, sizeof(c), "c-%s-%d", prefix, i);
		traj(f, t, c, prog, "ACTIVE 2024-03-01");
		if (funder != NULL)
			funding(f, t, funder, 2, "2024-03-05");
	}
}

/* n as many() makes them, approved by a funder outside the network
 * (OTHER). */
static void many_other(struct fixture *f, const char *prefix, const char *prog,
		       int n)
{
	many(f, prefix, prog, n, NULL);
	for (int i = 0; i < n; i++) {
		char t[32];
		snprintf(t, sizeof(t), "t-%s-%d", prefix, i);
		funding(f, t, NULL, 2, "2024-03-05");
	}
}

static void test_ggz_sees_its_own_programs(void **state)
{
	struct fixture *f = *state;
	network(f);
	many(f, "a1", "pa1", 6, "gm0363");
	many(f, "a2", "pa2", 7, "uwv");
	many(f, "b1", "pb1", 9, "gm0363");
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.org = "ggz-a",
				    .kind = ORG_KIND_GGZ,
				    .periods = {"2024"},
				    .by = {BY_PROGRAM, BY_REGION}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_string_equal(r->scope, "programs of ggz-a");
	FIGS(p->scope, 13, 13, 0, 0);
	assert_int_equal(p->scope->programs, 2);
	assert_int_equal(p->scope->specialists, 6);
	/* The national figure beside it. */
	FIGS(p->national, 22, 22, 0, 0);
	assert_int_equal(p->national->programs, 3);
	assert_int_equal(p->groups[0]->n_rows, 2); /* pa1, pa2: not pb1 */
	assert_int_equal(p->groups[1]->n_rows, 2); /* regions 3 and 7 */
	FIGS(row(p, BY_REGION, "7"), 7, 7, 0, 0);
	/* Fidelity: only its own programs. */
	assert_int_equal(r->n_fidelity, 2);

	assert_int_equal(run(f, &(struct ask){.org = "ggz-a",
					      .kind = ORG_KIND_GGZ,
					      .periods = {"2024"},
					      .program = "pb1"}),
			 IPSNET_EPERMISSION);
	assert_non_null(strstr(f->why, "not one of your"));
	r = report(f, &(struct ask){.org = "ggz-b",
				    .kind = ORG_KIND_GGZ,
				    .periods = {"2024"},
				    .program = "pb1"});
	FIGS(r->periods[0]->scope, 9, 9, 0, 0);
}

static void test_funder_sees_the_trajectories_it_funds(void **state)
{
	struct fixture *f = *state;
	network(f);
	many(f, "a1", "pa1", 6, "gm0363");
	many(f, "a2", "pa2", 7, "uwv");
	many(f, "b1", "pb1", 9, "gm0363");
	many(f, "x", "pb1", 5, NULL);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.org = "gm0363",
				    .kind = ORG_KIND_MUNICIPALITY,
				    .periods = {"2024"},
				    .by = {BY_PROGRAM, BY_FUNDER}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_string_equal(r->scope, "trajectories funded by gm0363");
	FIGS(p->scope, 15, 15, 0, 0);
	assert_int_equal(shown(p->scope->funded_municipality), 15);
	FIGS(p->national, 27, 27, 0, 0);
	/* Programs of its trajectories only. */
	assert_int_equal(p->groups[0]->n_rows, 2);
	FIGS(row(p, BY_PROGRAM, "pb1"), 9, 9, 0, 0);

	r = report(f, &(struct ask){.org = "uwv",
				    .kind = ORG_KIND_UWV,
				    .periods = {"2024"}});
	FIGS(r->periods[0]->scope, 7, 7, 0, 0);
	assert_int_equal(r->periods[0]->scope->programs, 1);
}

/* The rows a funder's report has, as "key,key,...". */
static void funder_rows(const Ipsnet__V1__ReportPeriodResult *p, char *out,
			size_t cap)
{
	out[0] = '\0';
	for (size_t g = 0; g < p->n_groups; g++) {
		if (p->groups[g]->by != BY_FUNDER)
			continue;
		for (size_t i = 0; i < p->groups[g]->n_rows; i++) {
			size_t len = strlen(out);
			snprintf(out + len, cap - len, "%s%s", len ? "," : "",
				 p->groups[g]->rows[i]->key);
		}
	}
}

/* A funder sees only the funding requests addressed to it: its report by
 * funder has a row for every funder, whoever approved its trajectories
 * later, and what it shows is what the rows of its scope alone show. Was:
 * a row only for each funder whose approval was the latest of one of its
 * trajectories, so that a row's presence told a municipality that UWV had
 * approved funding for a client it funded (her benefit a disability one),
 * with or without her consent, and its own row's absence that every one
 * of its approvals was overtaken. */
static void test_a_funders_rows_tell_nothing_of_other_funders(void **state)
{
	struct fixture *f = *state;
	char before[256], after[256];
	f->settings.small_count_threshold = 5;
	network(f);
	org(f, "gm0599", "MUNICIPALITY");
	traj(f, "t1", "c1", "pa1", "ACTIVE 2024-02-01");
	funding(f, "t1", "gm0363", 2, "2024-02-01");
	const struct ask ask = {.org = "gm0363",
				.kind = ORG_KIND_MUNICIPALITY,
				.periods = {"2024"},
				.by = {BY_FUNDER}};
	funder_rows(report(f, &ask)->periods[0], before, sizeof(before));
	/* UWV approves the same trajectory later: its decision overtakes. */
	funding(f, "t1", "uwv", 2, "2024-05-01");
	funder_rows(report(f, &ask)->periods[0], after, sizeof(after));
	assert_string_equal(after, before);
	assert_string_equal(after, "gm0363,uwv,gm0599,OTHER,UNFUNDED");
	const Ipsnet__V1__ReportPeriodResult *p = f->answer->report->periods[0];
	assert_int_equal(shown(row(p, BY_FUNDER, "gm0363")->enrolled), -1);
	assert_int_equal(shown(row(p, BY_FUNDER, "gm0599")->enrolled), -1);

	/* Eleven of its own and one another municipality's approval
	 * overtook: that one is hidden, so its own row is hidden too, or
	 * the scope's count less its own would give it. The rows of funders
	 * with no one in its scope do not count as hidden ones. */
	many(f, "own", "pa1", 11, "gm0363");
	funding(f, "t-own-0", "gm0599", 2, "2024-06-01");
	p = report(f, &ask)->periods[0];
	assert_int_equal(shown(p->scope->funded_municipality), 11);
	assert_int_equal(shown(row(p, BY_FUNDER, "gm0599")->enrolled), -1);
	assert_true(row(p, BY_FUNDER, "gm0363")->enrolled->suppressed);
	assert_true(row(p, BY_FUNDER, "gm0363")->enrolled->secondary);
}

/* A MUNICIPALITY's or UWV's scope is the trajectories it approved funding
 * for: each has an approval, so "no approved funding" is 0 in every cell
 * of its report, and its reader knows it. That hidden zero protects
 * nothing. Was: it counted as a second hidden count, so a municipality
 * whose 20 trajectories were 11 its own, 6 overtaken by UWV and 3 by
 * other funders read the 3 (shown as <5) as 20 - 11 - 6 - 0, in its
 * scope and in its breakdown by funder. */
static void test_a_funders_unfunded_zero_protects_nothing(void **state)
{
	struct fixture *f = *state;
	f->settings.small_count_threshold = 5;
	network(f);
	many(f, "g", "pa1", 20, "gm0363");
	for (int i = 0; i < 9; i++) {
		char t[32];
		snprintf(t, sizeof(t), "t-g-%d", i);
		funding(f, t, i < 6 ? "uwv" : NULL, 2, "2024-05-01");
	}
	many(f, "n", "pb1", 30, NULL);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.org = "gm0363",
				    .kind = ORG_KIND_MUNICIPALITY,
				    .periods = {"2024"},
				    .by = {BY_FUNDER}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_int_equal(shown(p->scope->enrolled), 20);
	assert_int_equal(shown(p->scope->funded_municipality), 11);
	assert_int_equal(shown(p->scope->funded_other), -1);
	assert_true(p->scope->funded_uwv->suppressed);
	assert_true(p->scope->funded_uwv->secondary);
	assert_int_equal(shown(row(p, BY_FUNDER, "gm0363")->enrolled), 11);
	assert_int_equal(shown(row(p, BY_FUNDER, "OTHER")->enrolled), -1);
	assert_true(row(p, BY_FUNDER, "uwv")->enrolled->suppressed);
	assert_true(row(p, BY_FUNDER, "uwv")->enrolled->secondary);

	/* The nation is no funder's scope: its unfunded count is what it
	 * is. */
	assert_int_equal(shown(p->national->unfunded), 30);
	assert_int_equal(shown(p->national->enrolled), 50);
}

static void test_bad_questions_are_refused(void **state)
{
	struct fixture *f = *state;
	network(f);
	assert_int_equal(run(f, &(struct ask){.periods = {NULL}}),
			 IPSNET_EINVAL);
	assert_int_equal(
	    run(f, &(struct ask){.periods = {"2024"}, .region = 36}),
	    IPSNET_EINVAL);
	assert_int_equal(
	    run(f, &(struct ask){.periods = {"2024"}, .program = "nope"}),
	    IPSNET_ENOT_FOUND);
	assert_int_equal(
	    run(f, &(struct ask){.periods = {"2024"}, .history = 11}),
	    IPSNET_EINVAL);
}

/* ---- small numbers ------------------------------------------------------ */

static void test_small_counts_are_suppressed_in_cells(void **state)
{
	struct fixture *f = *state;
	f->settings.small_count_threshold = 5;
	network(f);
	many(f, "a1", "pa1", 4, "gm0363"); /* region 3: 4 */
	many(f, "a2", "pa2", 9, "uwv");	   /* region 7: 9 + 6 */
	many(f, "b1", "pb1", 6, "gm0363");
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"},
				    .by = {BY_REGION, BY_PROGRAM}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	/* NETWORK's national figure is exact... */
	FIGS(p->scope, 19, 19, 0, 0);
	assert_int_equal(shown(p->scope->unfunded), 0);
	/* ...its cells are not. */
	const Ipsnet__V1__ReportFigures *r3 = row(p, BY_REGION, "3");
	assert_true(r3->enrolled->suppressed);
	assert_int_equal(r3->enrolled->value, 0);
	assert_true(r3->employed_share->suppressed);
	/* The other regions have no program, so nobody in them (each row
	 * says so): 19 - 15 would show region 3's 4. Region 7 goes too. */
	assert_int_equal(shown(row(p, BY_REGION, "7")->enrolled), -1);
	assert_true(row(p, BY_REGION, "7")->enrolled->secondary);
	assert_int_equal(row(p, BY_REGION, "1")->programs, 0);
	/* pa1's 4 is small; with the nation's 19 and pa2's 9 shown, pb1's 6
	 * would give it away: the smaller of the two goes too. */
	assert_int_equal(shown(row(p, BY_PROGRAM, "pa1")->enrolled), -1);
	assert_false(row(p, BY_PROGRAM, "pa1")->enrolled->secondary);
	assert_int_equal(shown(row(p, BY_PROGRAM, "pb1")->enrolled), -1);
	assert_true(row(p, BY_PROGRAM, "pb1")->enrolled->secondary);
	assert_int_equal(row(p, BY_PROGRAM, "pb1")->enrolled->value, 0);
	assert_int_equal(shown(row(p, BY_PROGRAM, "pa2")->enrolled), 9);
	/* Empty cells are suppressed too: 0 is below 5. */
	assert_int_equal(shown(row(p, BY_REGION, "1")->enrolled), -1);
	assert_int_equal(r->definitions->small_count_threshold, 5);

	/* A region report: the region is a cell, the nation beside it is
	 * exact. */
	r = report(f, &(struct ask){.periods = {"2024"}, .region = 3});
	assert_string_equal(r->scope, "region 3");
	assert_int_equal(shown(r->periods[0]->scope->enrolled), -1);
	assert_int_equal(shown(r->periods[0]->national->enrolled), 19);
}

static void
test_small_counts_are_suppressed_for_callers_other_than_network(void **state)
{
	struct fixture *f = *state;
	f->settings.small_count_threshold = 5;
	network(f);
	many(f, "a1", "pa1", 4, "gm0363");
	many(f, "a2", "pa2", 9, "uwv");
	const Ipsnet__V1__Report *r = report(
	    f, &(struct ask){
		   .org = "ggz-a", .kind = ORG_KIND_GGZ, .periods = {"2024"}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_int_equal(shown(p->scope->enrolled), 13);
	/* 4 from the municipality, 9 from UWV, none other: 4 and the 0s are
	 * below 5 (three hidden cells: 13 - 9 tells none of them). */
	assert_int_equal(shown(p->scope->funded_municipality), -1);
	assert_int_equal(shown(p->scope->funded_uwv), 9);
	assert_int_equal(shown(p->scope->funded_other), -1);
	assert_int_equal(shown(p->scope->unfunded), -1);
	assert_int_equal(shown(p->scope->employed), -1);
	assert_true(p->scope->employed_share->suppressed);
	assert_int_equal(shown(p->quality->trajectories_without_start), -1);
	/* Nobody sees a suppressed number on the wire. */
	assert_int_equal(p->scope->funded_municipality->value, 0);
}

static void test_one_suppressed_cell_in_a_breakdown_takes_a_second(void **state)
{
	struct fixture *f = *state;
	f->settings.small_count_threshold = 5;
	network(f);
	many(f, "a1", "pa1", 3, NULL);
	many(f, "a2", "pa2", 8, NULL);
	many(f, "b1", "pb1", 12, NULL);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}, .by = {BY_PROGRAM}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_int_equal(shown(p->scope->enrolled), 23);
	/* 3 is small; 23 - 12 - 3 would show it, so 8 goes too. */
	assert_int_equal(shown(row(p, BY_PROGRAM, "pa1")->enrolled), -1);
	assert_int_equal(shown(row(p, BY_PROGRAM, "pa2")->enrolled), -1);
	assert_true(row(p, BY_PROGRAM, "pa2")->enrolled->secondary);
	assert_int_equal(shown(row(p, BY_PROGRAM, "pb1")->enrolled), 12);
	/* The unfunded column adds up the same way: 8 goes there too. */
	assert_true(row(p, BY_PROGRAM, "pa2")->unfunded->secondary);
	assert_false(row(p, BY_PROGRAM, "pa1")->unfunded->secondary);
}

/* The programs of a region add up to the region's row: with both
 * breakdowns, a region's row and all but one of its programs shown would
 * give the last one away, however many programs elsewhere are hidden. */
static void test_programs_of_a_region_hide_what_its_row_would_tell(void **state)
{
	struct fixture *f = *state;
	f->settings.small_count_threshold = 5;
	network(f);
	program(f, "pc1", "ggz-b", 5, 1);
	program(f, "pd1", "ggz-b", 9, 1);
	many(f, "a1", "pa1", 20, NULL); /* region 3: 20 */
	many(f, "a2", "pa2", 3, NULL);	/* region 7: 3 + 15 */
	many(f, "b1", "pb1", 15, NULL);
	many(f, "c1", "pc1", 2, NULL); /* region 5: 2 */
	many(f, "d1", "pd1", 1, NULL); /* region 9: 1 */
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"},
				    .by = {BY_REGION, BY_PROGRAM}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_int_equal(shown(p->scope->enrolled), 41);
	assert_int_equal(shown(row(p, BY_PROGRAM, "pa2")->enrolled), -1);
	/* Region 7's 18 and pb1's 15 would show pa2's 3: one of them goes
	 * too. */
	long r7 = shown(row(p, BY_REGION, "7")->enrolled);
	long b1 = shown(row(p, BY_PROGRAM, "pb1")->enrolled);
	if (r7 >= 0 && b1 >= 0)
		fail_msg("region 7 shows %ld and pb1 %ld: pa2 is %ld", r7, b1,
			 r7 - b1);
	/* Every column adds up the same way. */
	const Ipsnet__V1__ReportFigures *rows[] = {row(p, BY_REGION, "7"),
						   row(p, BY_PROGRAM, "pb1")};
	assert_true(rows[0]->started->suppressed ||
		    rows[1]->started->suppressed);
	assert_true(rows[0]->unfunded->suppressed ||
		    rows[1]->unfunded->suppressed);
}

/* A region with one program: its row and the program's are one number. A
 * count of the program hidden to protect a small one elsewhere must be
 * hidden in the region's row as well, or the row shows it. Here pa1's UWV
 * count (5) is hidden (x) in the columns of the funding types, and region
 * 3, which is pa1 alone, showed the 5. */
static void
test_a_region_of_one_program_hides_what_the_program_hides(void **state)
{
	struct fixture *f = *state;
	f->settings.small_count_threshold = 5;
	network(f);
	program(f, "pc1", "ggz-b", 5, 1);
	/* per program: funded by the municipality, by UWV, by another
	 * funder, not funded */
	static const struct {
		const char *prog;
		int n[4];
	} cells[] = {{"pa1", {0, 5, 0, 4}},
		     {"pa2", {6, 6, 5, 9}},
		     {"pb1", {0, 5, 6, 5}},
		     {"pc1", {0, 6, 5, 0}}};
	static const char *const funders[] = {"gm0363", "uwv", NULL, NULL};
	for (size_t i = 0; i < ARRAY_SIZE(cells); i++)
		for (int k = 0; k < 4; k++) {
			char prefix[16];
			snprintf(prefix, sizeof(prefix), "%s-%d", cells[i].prog,
				 k);
			many(f, prefix, cells[i].prog, cells[i].n[k],
			     k < 3 ? "gm0363" : NULL);
			if (k == 1 || k == 2)
				sql(f,
				    "UPDATE funding SET funder = %Q WHERE "
				    "trajectory_id LIKE 't-%q-%%'",
				    funders[k], prefix);
		}
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"},
				    .by = {BY_REGION, BY_PROGRAM}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_int_equal(shown(p->scope->enrolled), 62);
	assert_int_equal(shown(p->scope->funded_uwv), 22);
	assert_true(row(p, BY_PROGRAM, "pa1")->funded_uwv->secondary);
	/* Regions 3 and 5 hold one program each: what the program hides,
	 * the region hides. */
	static const char *const alone[][2] = {{"3", "pa1"}, {"5", "pc1"}};
	for (size_t i = 0; i < ARRAY_SIZE(alone); i++) {
		const Ipsnet__V1__ReportFigures *rg =
		    row(p, BY_REGION, alone[i][0]);
		const Ipsnet__V1__ReportFigures *pg =
		    row(p, BY_PROGRAM, alone[i][1]);
		const Ipsnet__V1__ReportCount *rc[] = {rg->enrolled,
						       rg->started,
						       rg->employed,
						       rg->sustained,
						       rg->funded_municipality,
						       rg->funded_uwv,
						       rg->funded_other,
						       rg->unfunded};
		const Ipsnet__V1__ReportCount *pc[] = {pg->enrolled,
						       pg->started,
						       pg->employed,
						       pg->sustained,
						       pg->funded_municipality,
						       pg->funded_uwv,
						       pg->funded_other,
						       pg->unfunded};
		for (size_t k = 0; k < ARRAY_SIZE(rc); k++)
			if (pc[k]->suppressed && !rc[k]->suppressed)
				fail_msg("region %s shows %llu, which program "
					 "%s hides (measure %zu)",
					 alone[i][0],
					 (unsigned long long)rc[k]->value,
					 alone[i][1], k);
	}
}

/* The funder breakdown adds up by kind too: the municipalities' rows to
 * the funded-by-a-municipality count of the total, and a row's own
 * enrolled to its funding type. */
static void test_funder_rows_hide_what_their_kind_total_would_tell(void **state)
{
	struct fixture *f = *state;
	f->settings.small_count_threshold = 5;
	network(f);
	org(f, "gm0599", "MUNICIPALITY");
	many(f, "a1", "pa1", 3, "gm0363");
	many(f, "b1", "pb1", 10, "gm0599");
	many(f, "a2", "pa2", 8, "uwv");
	many_other(f, "o", "pb1", 6);
	many(f, "n", "pa2", 7, NULL); /* no funding */
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}, .by = {BY_FUNDER}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_int_equal(shown(p->scope->enrolled), 34);
	assert_int_equal(shown(p->scope->funded_municipality), 13);
	assert_int_equal(shown(row(p, BY_FUNDER, "gm0363")->enrolled), -1);
	/* 13 - gm0599's 10 would show gm0363's 3: gm0599's goes too. */
	assert_int_equal(shown(row(p, BY_FUNDER, "gm0599")->enrolled), -1);
	/* In a funder's row the enrolled and its funding type are one
	 * number: hidden in one column, hidden in the other. */
	assert_int_equal(p->n_groups, 1);
	for (size_t i = 0; i < p->groups[0]->n_rows; i++) {
		const Ipsnet__V1__ReportFigures *x = p->groups[0]->rows[i];
		const Ipsnet__V1__ReportCount *types[] = {
		    x->funded_municipality, x->funded_uwv, x->funded_other,
		    x->unfunded};
		for (size_t k = 0; k < ARRAY_SIZE(types); k++)
			if (x->enrolled->suppressed && shown(types[k]) > 0)
				fail_msg("row %s: enrolled hidden, funding "
					 "type %zu shows %ld",
					 x->key, k, shown(types[k]));
	}
}

/* A total hidden to protect a small count is no use when its parts are all
 * shown: they add up to it. The OTHER row of the funder breakdown is the
 * scope's funded-by-another-funder count, one number in two places. */
static void test_a_hidden_total_is_not_the_sum_of_shown_parts(void **state)
{
	struct fixture *f = *state;
	f->settings.small_count_threshold = 5;
	network(f);
	org(f, "gm0599", "MUNICIPALITY");
	many(f, "m", "pa2", 10, "gm0363");
	many(f, "u", "pb1", 3, "uwv");
	many_other(f, "o", "pb1", 6);
	many(f, "n", "pa2", 8, NULL);
	const Ipsnet__V1__Report *r = report(
	    f,
	    &(struct ask){.periods = {"2024"}, .region = 7, .by = {BY_FUNDER}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	const Ipsnet__V1__ReportFigures *s = p->scope;
	assert_int_equal(shown(s->enrolled), 27);
	assert_int_equal(shown(s->funded_uwv), -1); /* 3 */
	/* The scope's "other" is hidden so that 27 - 10 - 8 does not give
	 * UWV's 3 away; the OTHER row must not show it instead. */
	long other = shown(s->funded_other);
	if (other < 0)
		other = shown(row(p, BY_FUNDER, "OTHER")->enrolled);
	long m = shown(s->funded_municipality), n = shown(s->unfunded);
	if (other >= 0 && m >= 0 && n >= 0)
		fail_msg("UWV's hidden count is 27 - %ld - %ld - %ld = %ld", m,
			 other, n, 27 - m - other - n);
}

/* A funding type nobody has in the nation is 0 in every cell, and
 * NETWORK's national figure, which is exact, says so: its hidden zeros
 * protect nothing. */
static void test_a_type_empty_in_the_nation_protects_nothing(void **state)
{
	struct fixture *f = *state;
	f->settings.small_count_threshold = 5;
	network(f);
	many(f, "m", "pb1", 12, "gm0363");
	many(f, "u", "pb1", 3, "uwv");
	many(f, "n", "pb1", 5, NULL);
	many(f, "a", "pa1", 30, "gm0363");
	many(f, "b", "pa1", 6, "uwv");
	many(f, "c", "pa1", 7, NULL);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}, .by = {BY_REGION}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_int_equal(shown(p->scope->funded_other), 0);
	const Ipsnet__V1__ReportFigures *r7 = row(p, BY_REGION, "7");
	assert_int_equal(shown(r7->funded_uwv), -1); /* 3 */
	/* Other is 0 here as in the nation: 20 - 12 - 5 - 0 would be
	 * UWV's 3. */
	long e = shown(r7->enrolled), m = shown(r7->funded_municipality),
	     n = shown(r7->unfunded);
	if (e >= 0 && m >= 0 && n >= 0)
		fail_msg("region 7's UWV count is %ld - %ld - %ld - 0 = %ld", e,
			 m, n, e - m - n);
}

/* Hidden counts that add up to 0 are each 0: a region whose every client
 * the municipality funds showed its enrolled and the municipality's count
 * (12 and 12), and its UWV, other funder and no approved funding as <5;
 * 12 - 12 = 0 said that all three were 0, and that every client in the
 * region is on welfare. Was: only a single hidden count was protected. */
static void test_hidden_counts_adding_up_to_zero_are_protected(void **state)
{
	struct fixture *f = *state;
	f->settings.small_count_threshold = 5;
	network(f);
	many(f, "m", "pb1", 12, "gm0363");
	many(f, "a", "pa1", 30, "gm0363");
	many(f, "b", "pa1", 6, "uwv");
	many_other(f, "o", "pa1", 6);
	many(f, "c", "pa1", 7, NULL);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}, .by = {BY_REGION}});
	const Ipsnet__V1__ReportFigures *r7 =
	    row(r->periods[0], BY_REGION, "7");
	assert_int_equal(shown(r7->enrolled), 12);
	assert_int_equal(shown(r7->funded_uwv), -1);
	assert_int_equal(shown(r7->funded_other), -1);
	assert_int_equal(shown(r7->unfunded), -1);
	assert_true(r7->funded_municipality->suppressed);
	assert_true(r7->funded_municipality->secondary);
	/* NETWORK's national figures stay exact. */
	assert_int_equal(shown(r->periods[0]->scope->funded_municipality), 42);
	assert_int_equal(shown(r->periods[0]->scope->unfunded), 7);
}

static void test_threshold_zero_shows_every_count(void **state)
{
	struct fixture *f = *state;
	network(f);
	many(f, "a1", "pa1", 2, NULL);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.org = "ggz-a",
				    .kind = ORG_KIND_GGZ,
				    .periods = {"2024"},
				    .by = {BY_REGION}});
	assert_int_equal(shown(r->periods[0]->scope->enrolled), 2);
	assert_int_equal(shown(row(r->periods[0], BY_REGION, "3")->enrolled),
			 2);
}

/* ---- data quality ------------------------------------------------------- */

static void test_quality_counts_what_bends_a_figure(void **state)
{
	struct fixture *f = *state;
	network(f);
	/* Active by status, but no start date anywhere. */
	sql(f, "INSERT INTO trajectory (id, version, client_id, program_id, "
	       "referrer, status, note) VALUES ('t0', 1, 'c0', 'pa1', 'x', 4, "
	       "'')");
	/* A hold dated before the start. */
	traj(f, "t1", "c1", "pa1", "ACTIVE 2024-05-01, ON_HOLD 2024-04-01");
	/* A job that ends before it begins. */
	traj(f, "t2", "c2", "pa1", "ACTIVE 2024-05-01");
	job(f, "c2", "2024-06-01", "2024-05-01", true);
	/* No transition rows: placed by its columns. */
	sql(f, "INSERT INTO trajectory (id, version, client_id, program_id, "
	       "referrer, status, note, started_on, closed_on) VALUES ('t3', "
	       "1, 'c3', 'pa1', 'x', 6, '', '2023-02-01', '2024-02-01')");
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	FIGS(p->scope, 3, 2, 0, 0);
	assert_int_equal(shown(p->quality->trajectories_without_start), 1);
	assert_int_equal(shown(p->quality->transitions_out_of_order), 1);
	assert_int_equal(shown(p->quality->jobs_end_before_start), 1);
}

/* A job withdrawn before its first day (the daemon marks it so when it is
 * ended before it begins) never began: it is no employment and no data
 * problem either, beside a job of a day that did happen. */
static void test_a_withdrawn_job_counts_nowhere(void **state)
{
	struct fixture *f = *state;
	network(f);
	traj(f, "t1", "c1", "pa1", "ACTIVE 2024-01-10");
	traj(f, "t2", "c2", "pa1", "ACTIVE 2024-01-10");
	job(f, "c1", "2024-07-01", "2024-06-20", true);
	job(f, "c1", "2024-08-01", "2024-07-20", false);
	sql(f, "UPDATE job SET withdrawn = 1");
	job(f, "c2", "2024-07-01", "2024-07-01", true);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	FIGS(p->scope, 2, 2, 1, 0);
	assert_int_equal(shown(p->quality->jobs_end_before_start), 0);
	assert_int_equal(shown(p->quality->jobs_not_competitive), 0);
	assert_int_equal(shown(p->quality->jobs_before_trajectory), 0);
}

/* ---- fidelity, programs, history ---------------------------------------- */

static void test_fidelity_takes_the_latest_review_up_to_the_period(void **state)
{
	struct fixture *f = *state;
	network(f);
	review(f, "r1", "pa1", "2023-05-01", 90, true);
	review(f, "r2", "pa1", "2024-05-01", 116, true);
	review(f, "r3", "pa1", "2025-05-01", 60, true); /* after 2024 */
	review(f, "r4", "pa2", "2024-02-01", 100, false);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}});
	assert_int_equal(r->n_fidelity, 3);
	for (size_t i = 0; i < r->n_fidelity; i++) {
		const Ipsnet__V1__FidelityScore *s = r->fidelity[i];
		if (strcmp(s->program_id, "pa1") == 0) {
			assert_int_equal(s->total, 116);
			assert_string_equal(s->band, "exemplary");
			assert_string_equal(s->review_date, "2024-05-01");
		} else if (strcmp(s->program_id, "pa2") == 0) {
			assert_string_equal(s->band, "good");
			assert_false(s->independent);
		} else {
			assert_string_equal(s->band, "");
		}
	}
	static const uint32_t want[] = {1, 1, 0, 0, 1};
	assert_int_equal(r->n_bands, 5);
	for (int k = 0; k < 5; k++)
		assert_int_equal(r->bands[k]->programs, want[k]);
	assert_string_equal(r->bands[4]->band, "not reviewed");

	r = report(f, &(struct ask){.periods = {"2023"}});
	assert_int_equal(r->bands[2]->programs, 1); /* pa1 was fair */
	assert_int_equal(r->periods[0]->scope->programs, 3);
	assert_int_equal(r->periods[0]->scope->specialists, 9);
}

static void test_history_gives_each_year_up_to_the_period(void **state)
{
	struct fixture *f = *state;
	network(f);
	traj(f, "t1", "c1", "pa1", "ACTIVE 2021-05-01, CLOSED 2023-03-01");
	traj(f, "t2", "c2", "pa2", "ACTIVE 2023-05-01");
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}, .history = 4});
	assert_int_equal(r->n_history, 4);
	assert_int_equal(r->n_national_history, 0);
	assert_string_equal(r->history[0]->key, "2021");
	assert_string_equal(r->history[3]->key, "2024");
	FIGS(r->history[0], 1, 1, 0, 0);
	FIGS(r->history[1], 1, 0, 0, 0);
	FIGS(r->history[2], 2, 1, 0, 0);
	FIGS(r->history[3], 1, 0, 0, 0);

	r = report(f, &(struct ask){
			  .periods = {"2024"}, .history = 2, .program = "pa2"});
	assert_int_equal(r->n_national_history, 2);
	FIGS(r->history[0], 1, 1, 0, 0);
	FIGS(r->national_history[0], 2, 1, 0, 0);
}

/* A history year that is the report's own period shows the same cells as
 * the period's scope row: what the period's breakdowns hide there (here
 * the funder rows hide the scope's municipal and UWV counts) is hidden in
 * the year's row too. Was: the year's row printed 11 and 6 where the scope
 * row showed x and x, in the same report (found by a review). */
static void test_a_history_year_hides_what_its_period_hides(void **state)
{
	struct fixture *f = *state;
	f->settings.small_count_threshold = 5;
	network(f);
	org(f, "gm0001", "MUNICIPALITY");
	many(f, "m1", "pa2", 2, "gm0363");
	many(f, "m2", "pa2", 9, "gm0001");
	many(f, "u", "pb1", 6, "uwv");
	many(f, "n", "pb1", 30, NULL);
	many_other(f, "o", "pb1", 20);
	many(f, "elsewhere", "pa1", 10, "gm0363"); /* region 3 */
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"},
				    .region = 7,
				    .by = {BY_FUNDER},
				    .history = 1});
	const Ipsnet__V1__ReportFigures *scope = r->periods[0]->scope;
	const Ipsnet__V1__ReportFigures *year = r->history[0];
	assert_string_equal(year->key, "2024");
	/* The case it is about: the funder rows hide these in the scope. */
	assert_true(scope->funded_uwv->suppressed);
	assert_true(scope->funded_municipality->suppressed);
	const Ipsnet__V1__ReportCount *const in_scope[] = {
	    scope->enrolled,
	    scope->started,
	    scope->employed,
	    scope->sustained,
	    scope->funded_uwv,
	    scope->funded_other,
	    scope->funded_municipality,
	    scope->unfunded};
	const Ipsnet__V1__ReportCount *const in_year[] = {
	    year->enrolled,
	    year->started,
	    year->employed,
	    year->sustained,
	    year->funded_uwv,
	    year->funded_other,
	    year->funded_municipality,
	    year->unfunded};
	for (size_t i = 0; i < ARRAY_SIZE(in_scope); i++) {
		assert_int_equal(in_year[i]->suppressed,
				 in_scope[i]->suppressed);
		assert_int_equal(shown(in_year[i]), shown(in_scope[i]));
	}
}

/* ---- the synthetic network against its truth ---------------------------- */

static void expect_cell(const char *where, const Ipsnet__V1__ReportFigures *got,
			const struct gen_cell *want)
{
	const Ipsnet__V1__ReportCount *c[GEN_N_METRICS] = {
	    got->enrolled,
	    got->started,
	    got->employed,
	    got->sustained,
	    got->funded_municipality,
	    got->funded_uwv,
	    got->funded_other,
	    got->unfunded};
	for (int k = 0; k < GEN_N_METRICS; k++) {
		if (c[k]->suppressed || c[k]->value != want->n[k]) {
			print_error("%s %s: report %s%llu, truth %llu\n", where,
				    gen_metric_name(k),
				    c[k]->suppressed ? "<" : "",
				    (unsigned long long)c[k]->value,
				    (unsigned long long)want->n[k]);
			fail();
		}
	}
	if (strcmp(got->key, "OTHER") != 0 &&
	    strcmp(got->key, "UNFUNDED") != 0 &&
	    (got->programs != want->programs ||
	     got->specialists != want->specialists)) {
		print_error(
		    "%s: %u programs with %u specialists, truth %u with "
		    "%u\n",
		    where, got->programs, got->specialists, want->programs,
		    want->specialists);
		fail();
	}
}

static void test_synthetic_network_equals_its_truth_in_every_cell(void **state)
{
	struct fixture *f = *state;
	struct gen_options o = gen_default_options();
	o.clients = 3000;
	o.seed = 20241;
	struct gen *g = gen_new(&o);
	assert_non_null(g);
	char err[256];
	int rv = gen_fill_db(g, f->db, err, sizeof(err));
	if (rv != 0)
		print_error("%s\n", err);
	assert_int_equal(rv, 0);
	struct gen_counts n;
	gen_counts(g, &n);
	print_message("%zu clients, %zu trajectories (%zu transitions), %zu "
		      "funding requests, %zu jobs, %zu fidelity reviews\n",
		      n.clients, n.trajectories, n.steps, n.fundings, n.jobs,
		      n.reviews);

	for (int year = o.first_year; year <= o.last_year; year++) {
		char label[8];
		snprintf(label, sizeof(label), "%d", year);
		const Ipsnet__V1__Report *r = report(
		    f, &(struct ask){.periods = {label},
				     .by = {BY_REGION, BY_PROGRAM, BY_FUNDER}});
		const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
		struct gen_cell want;
		char where[96];

		gen_truth_year(g, year, GEN_NATIONAL, NULL, &want);
		snprintf(where, sizeof(where), "%d national", year);
		expect_cell(where, p->scope, &want);
		assert_true(want.n[0] > 100); /* the network is not empty */
		print_message("%d: enrolled %llu, started %llu, employed %llu, "
			      "sustained %llu; municipality %llu, UWV %llu, "
			      "other %llu, unfunded %llu\n",
			      year, (unsigned long long)want.n[0],
			      (unsigned long long)want.n[1],
			      (unsigned long long)want.n[2],
			      (unsigned long long)want.n[3],
			      (unsigned long long)want.n[4],
			      (unsigned long long)want.n[5],
			      (unsigned long long)want.n[6],
			      (unsigned long long)want.n[7]);
		for (size_t gi = 0; gi < p->n_groups; gi++) {
			const Ipsnet__V1__ReportGroup *gr = p->groups[gi];
			enum gen_dim dim = gr->by == BY_REGION	  ? GEN_REGION
					   : gr->by == BY_PROGRAM ? GEN_PROGRAM
								  : GEN_FUNDER;
			size_t want_rows = gen_rows(g, dim);
			assert_int_equal(gr->n_rows, want_rows);
			for (size_t i = 0; i < gr->n_rows; i++) {
				const char *key = gr->rows[i]->key;
				assert_int_equal(
				    gen_truth_year(g, year, dim, key, &want),
				    0);
				snprintf(where, sizeof(where), "%d %s %s", year,
					 gen_dim_name(dim), key);
				expect_cell(where, gr->rows[i], &want);
			}
		}
		struct gen_quality gq;
		char from[16], to[16];
		snprintf(from, sizeof(from), "%d-01-01", year);
		snprintf(to, sizeof(to), "%d-12-31", year);
		gen_quality_truth(g, from, to, &gq);
		const Ipsnet__V1__ReportQuality *q = p->quality;
		assert_int_equal(q->jobs_not_competitive->value,
				 gq.jobs_not_competitive);
		assert_int_equal(q->jobs_before_trajectory->value,
				 gq.jobs_before_trajectory);
		assert_int_equal(q->funding_pending->value, gq.funding_pending);
		assert_int_equal(q->several_approved->value,
				 gq.several_approved);
		assert_int_equal(q->clients_in_several_programs->value,
				 gq.clients_in_several_programs);
		assert_int_equal(q->trajectories_without_start->value, 0);
		uint32_t bands[5];
		gen_fidelity_truth(g, to, bands);
		for (int k = 0; k < 5; k++)
			assert_int_equal(r->bands[k]->programs, bands[k]);
	}

	/* A quarter, and a caller's own scope. */
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.org = "ggz-02",
				    .kind = ORG_KIND_GGZ,
				    .periods = {"2023-Q3"},
				    .by = {BY_PROGRAM}});
	struct gen_cell want;
	assert_int_equal(gen_truth(g, "2023-07-01", "2023-09-30", "ggz-02",
				   GEN_NATIONAL, NULL, &want),
			 0);
	expect_cell("2023-Q3 ggz-02", r->periods[0]->scope, &want);
	for (size_t i = 0; i < r->periods[0]->groups[0]->n_rows; i++) {
		const Ipsnet__V1__ReportFigures *row_ =
		    r->periods[0]->groups[0]->rows[i];
		assert_int_equal(gen_truth(g, "2023-07-01", "2023-09-30",
					   "ggz-02", GEN_PROGRAM, row_->key,
					   &want),
				 0);
		expect_cell(row_->key, row_, &want);
	}
	r = report(f, &(struct ask){.org = "gm0599",
				    .kind = ORG_KIND_MUNICIPALITY,
				    .periods = {"2022"},
				    .by = {BY_REGION}});
	assert_int_equal(gen_truth(g, "2022-01-01", "2022-12-31", "gm0599",
				   GEN_NATIONAL, NULL, &want),
			 0);
	expect_cell("2022 gm0599", r->periods[0]->scope, &want);
	assert_true(want.n[0] > 20);
	for (size_t i = 0; i < r->periods[0]->groups[0]->n_rows; i++) {
		const Ipsnet__V1__ReportFigures *row_ =
		    r->periods[0]->groups[0]->rows[i];
		assert_int_equal(gen_truth(g, "2022-01-01", "2022-12-31",
					   "gm0599", GEN_REGION, row_->key,
					   &want),
				 0);
		expect_cell(row_->key, row_, &want);
	}
	gen_free(g);
}

/* ---- edges of each definition, together ------------------------------- */
static void test_edges_of_quarters_holds_and_jobs(void **state)
{
	struct fixture *f = *state;
	network(f);
	traj(f, "e1", "c1", "pa1", "ACTIVE 2024-03-31");
	traj(f, "e2", "c2", "pa1", "ACTIVE 2024-01-05, CLOSED 2024-04-01");
	traj(f, "e3", "c3", "pa1",
	     "ACTIVE 2024-01-05, ON_HOLD 2024-03-20, ACTIVE 2024-07-10");
	job(f, "c1", "2024-01-01", "2024-04-15", true);
	job(f, "c2", "2024-02-01", NULL, true);
	job(f, "c2", "2024-03-01", "2024-05-01", true);
	job(f, "c3", "2024-04-01", NULL, false);
	const Ipsnet__V1__Report *r = report(
	    f, &(struct ask){.periods = {"2024-Q1", "2024-Q2", "2024-Q3"}});
	FIGS(r->periods[0]->scope, 3, 3, 2, 0);
	FIGS(r->periods[1]->scope, 3, 0, 2, 0);
	FIGS(r->periods[2]->scope, 2, 0, 0, 0);
	assert_int_equal(shown(r->periods[1]->quality->jobs_not_competitive),
			 1);
	assert_int_equal(shown(r->periods[2]->quality->jobs_not_competitive),
			 1);
}

static void test_edges_of_sustained_employment(void **state)
{
	struct fixture *f = *state;
	network(f);
	trajs_in_pa1(f, 6, "ACTIVE 2023-01-02");
	/* Two consecutive jobs of 3 months: "a job that had lasted" 6
	 * months, so they do not add up (docs/reports.md). */
	job(f, "c1", "2024-01-01", "2024-03-31", true);
	job(f, "c1", "2024-04-01", "2024-06-30", true);
	/* exactly 6 months, ends on first day of 2024 */
	job(f, "c2", "2023-07-02", "2024-01-01", true);
	/* leap: 31 Aug 2023 + 6 = 29 Feb 2024 -> needs 28 Feb */
	job(f, "c3", "2023-08-31", "2024-02-28", true);
	job(f, "c4", "2023-08-31", "2024-02-27", true);
	/* not competitive long job + short competitive */
	job(f, "c5", "2020-01-01", NULL, false);
	job(f, "c5", "2024-12-01", NULL, true);
	/* a 6-month job ended in 2023 and a short one in 2024 */
	job(f, "c6", "2023-01-01", "2023-06-30", true);
	job(f, "c6", "2024-05-01", "2024-05-31", true);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}});
	FIGS(r->periods[0]->scope, 6, 0, 6, 2);
}

static void test_edges_of_the_funding_type(void **state)
{
	struct fixture *f = *state;
	network(f);
	trajs_in_pa1(f, 5, "ACTIVE 2024-02-01");
	funding(f, "t1", "gm0363", 2, "2024-05-01");
	funding(f, "t1", "uwv", 2, NULL);    /* undated: oldest */
	funding(f, "t2", "gm0363", 1, NULL); /* open */
	funding(f, "t2", "uwv", 2, "2024-03-01");
	funding(f, "t3", "uwv", 2, "2024-06-01");
	funding(f, "t3", "gm0363", 2, "2024-03-01");
	funding(f, "t4", "gm0363", 4, "2024-03-01"); /* withdrawn */
	funding(f, "t5", "gm0363", 3, "2024-03-01"); /* rejected */
	funding(f, "t5", "gm0363", 1, NULL);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024"}, .by = {BY_FUNDER}});
	const Ipsnet__V1__ReportPeriodResult *p = r->periods[0];
	assert_int_equal(shown(p->scope->funded_municipality), 1);
	assert_int_equal(shown(p->scope->funded_uwv), 2);
	assert_int_equal(shown(p->scope->funded_other), 0);
	assert_int_equal(shown(p->scope->unfunded), 2);
	assert_int_equal(shown(p->quality->funding_pending), 1);
	assert_int_equal(shown(p->quality->several_approved), 2);
}

static void test_history_years_equal_their_periods(void **state)
{
	struct fixture *f = *state;
	network(f);
	traj(f, "t1", "c1", "pa1", "ACTIVE 2022-12-31, CLOSED 2023-01-01");
	traj(f, "t2", "c2", "pa2", "ACTIVE 2023-06-01, ON_HOLD 2023-07-01");
	traj(f, "t3", "c3", "pb1", "ACTIVE 2024-01-01");
	job(f, "c2", "2023-01-01", "2024-02-01", true);
	job(f, "c3", "2023-01-01", NULL, true);
	funding(f, "t2", "uwv", 2, "2023-06-10");
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024", "2023", "2022"},
				    .history = 3});
	for (int k = 0; k < 3; k++) {
		const Ipsnet__V1__ReportFigures *h = r->history[2 - k];
		const Ipsnet__V1__ReportFigures *s = r->periods[k]->scope;
		assert_int_equal(h->enrolled->value, s->enrolled->value);
		assert_int_equal(h->started->value, s->started->value);
		assert_int_equal(h->employed->value, s->employed->value);
		assert_int_equal(h->sustained->value, s->sustained->value);
		assert_int_equal(h->funded_uwv->value, s->funded_uwv->value);
		assert_int_equal(h->unfunded->value, s->unfunded->value);
	}
	FIGS(r->periods[0]->scope, 2, 1, 2, 2);
	FIGS(r->periods[1]->scope, 2, 1, 1, 1);
	FIGS(r->periods[2]->scope, 1, 1, 0, 0);
}

static void test_edges_of_the_fidelity_cutoff(void **state)
{
	struct fixture *f = *state;
	network(f);
	review(f, "r1", "pa1", "2024-06-30", 73, false);
	review(f, "r2", "pa1", "2024-06-30", 74, true);
	review(f, "r3", "pa2", "2024-07-01", 125, true);
	review(f, "r4", "pa2", "2024-04-01", 99, true);
	const Ipsnet__V1__Report *r =
	    report(f, &(struct ask){.periods = {"2024-Q2"}});
	static const uint32_t want[] = {0, 0, 2, 0, 1};
	for (int k = 0; k < 5; k++)
		assert_int_equal(r->bands[k]->programs, want[k]);
}

int main(void)
{
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_enrolled_spans_years_and_started_only_in_its_year),
	    T(test_transition_days_count_on_both_sides),
	    T(test_on_hold_all_period_is_still_enrolled),
	    T(test_quarter_is_its_own_period),
	    T(test_client_counts_once_per_cell),
	    T(test_employed_needs_a_competitive_job_overlapping),
	    T(test_sustained_is_six_months_by_the_end_of_the_period),
	    T(test_sustained_counts_a_job_that_lasted_before_the_year),
	    T(test_funding_type_is_the_latest_approved_request),
	    T(test_decisions_of_one_day_count_in_journal_order),
	    T(test_ggz_sees_its_own_programs),
	    T(test_funder_sees_the_trajectories_it_funds),
	    T(test_a_funders_rows_tell_nothing_of_other_funders),
	    T(test_a_funders_unfunded_zero_protects_nothing),
	    T(test_bad_questions_are_refused),
	    T(test_a_period_not_over_counts_up_to_today),
	    T(test_small_counts_are_suppressed_in_cells),
	    T(test_small_counts_are_suppressed_for_callers_other_than_network),
	    T(test_one_suppressed_cell_in_a_breakdown_takes_a_second),
	    T(test_programs_of_a_region_hide_what_its_row_would_tell),
	    T(test_a_region_of_one_program_hides_what_the_program_hides),
	    T(test_funder_rows_hide_what_their_kind_total_would_tell),
	    T(test_a_hidden_total_is_not_the_sum_of_shown_parts),
	    T(test_a_type_empty_in_the_nation_protects_nothing),
	    T(test_hidden_counts_adding_up_to_zero_are_protected),
	    T(test_threshold_zero_shows_every_count),
	    T(test_quality_counts_what_bends_a_figure),
	    T(test_a_withdrawn_job_counts_nowhere),
	    T(test_fidelity_takes_the_latest_review_up_to_the_period),
	    T(test_history_gives_each_year_up_to_the_period),
	    T(test_a_history_year_hides_what_its_period_hides),
	    T(test_synthetic_network_equals_its_truth_in_every_cell),
	    T(test_edges_of_quarters_holds_and_jobs),
	    T(test_edges_of_sustained_employment),
	    T(test_edges_of_the_funding_type),
	    T(test_history_years_equal_their_periods),
	    T(test_edges_of_the_fidelity_cutoff),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
