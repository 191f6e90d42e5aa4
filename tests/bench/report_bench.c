/* report_bench: how long the IPS monitor's national report takes for a
 * journal holding 100,000 clients over three years (issue 7, item 6).
 *
 * The synthetic network of tests/integration/report_gen.c is written
 * straight into the state tables of a fresh database file (made with the
 * daemon's own schema, store_migrate), with a journal entry per funding
 * request so that ordering decisions by the journal costs what it costs in
 * a real journal. Then report_build runs as a reader thread runs it: on its
 * own read-only connection, as NETWORK. Each report is timed from the query
 * to the packed answer, N times; the table gives the best, the median and
 * the worst.
 *
 *   report_bench [--clients N] [--runs N] [--dir DIR] [--keep]
 *
 * Build with CMAKE_BUILD_TYPE=Release (or RelWithDebInfo, the default) for
 * figures; not part of ctest. `cmake --build BUILD --target report-bench`
 * builds and runs it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "alloc.h"
#include "ipsnet_errors.h"
#include "journal.h"
#include "report.h"
#include "report_gen.h"
#include "store.h"

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct bench_case {
	const char *name;
	size_t n_periods;
	const char *periods[4][3];
	Ipsnet__V1__ReportGrouping by[3];
	size_t n_by;
	uint32_t history;
	const char *org;
	enum org_kind kind;
};

static int run_case(sqlite3 *db, const struct bench_case *bc, int runs,
		    double *best, double *median, double *worst, size_t *bytes)
{
	Ipsnet__V1__ReportQuery q = IPSNET__V1__REPORT_QUERY__INIT;
	Ipsnet__V1__ReportPeriod p[4], *pp[4];
	struct journal_actor actor;
	struct report_settings settings = {6, 5, NULL};
	double t[64];
	char why[256];

	for (size_t i = 0; i < bc->n_periods; i++) {
		ipsnet__v1__report_period__init(&p[i]);
		p[i].label = (char *)bc->periods[i][0];
		p[i].from = (char *)bc->periods[i][1];
		p[i].to = (char *)bc->periods[i][2];
		pp[i] = &p[i];
	}
	q.periods = pp;
	q.n_periods = bc->n_periods;
	q.by = (Ipsnet__V1__ReportGrouping *)bc->by;
	q.n_by = bc->n_by;
	q.history_years = bc->history;
	memset(&actor, 0, sizeof(actor));
	snprintf(actor.org, sizeof(actor.org), "%s", bc->org);
	actor.org_kind = bc->kind;
	if (runs > 64)
		runs = 64;
	for (int i = 0; i < runs; i++) {
		uint8_t *out = NULL;
		size_t len = 0;
		double t0 = now_s();
		int rv = report_build(db, &actor, &settings, &q, &out, &len,
				      why, sizeof(why));
		t[i] = now_s() - t0;
		ipsnet_free(out);
		if (rv != 0) {
			fprintf(stderr, "report_bench: %s: %s (%s)\n", bc->name,
				ipsnet_err_name(rv), why);
			return -1;
		}
		*bytes = len;
	}
	qsort(t, (size_t)runs, sizeof(t[0]), cmp_double);
	*best = t[0];
	*median = t[runs / 2];
	*worst = t[runs - 1];
	return 0;
}

int main(int argc, char **argv)
{
	uint32_t clients = 100000;
	int runs = 7;
	const char *dir = NULL;
	bool keep = false;
	char path[1024], err[256];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--clients") == 0 && i + 1 < argc)
			clients = (uint32_t)strtoul(argv[++i], NULL, 10);
		else if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
			runs = atoi(argv[++i]);
		else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
			dir = argv[++i];
		else if (strcmp(argv[i], "--keep") == 0)
			keep = true;
		else {
			fprintf(stderr,
				"usage: report_bench [--clients N] [--runs N] "
				"[--dir DIR] [--keep]\n");
			return 2;
		}
	}
	if (runs < 1)
		runs = 1;
	char tmpl[] = "/tmp/report-bench.XXXXXX";
	if (dir == NULL && (dir = mkdtemp(tmpl)) == NULL) {
		perror("report_bench: mkdtemp");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/ipsnet.db", dir);
	unlink(path);

	/* Three years of trajectories: referrals from mid-2021, the report's
	 * years 2022 to 2024. */
	struct gen_options o = gen_default_options();
	o.clients = clients;
	o.programs = 160;
	o.ggz = 24;
	o.first_year = 2022;
	o.last_year = 2024;
	o.seed = 2024;
	double t0 = now_s();
	struct gen *g = gen_new(&o);
	if (g == NULL) {
		fprintf(stderr, "report_bench: out of memory\n");
		return 1;
	}
	sqlite3 *w;
	if (sqlite3_open(path, &w) != SQLITE_OK ||
	    sqlite3_exec(w, "PRAGMA journal_mode = WAL", NULL, NULL, NULL) !=
		SQLITE_OK ||
	    store_migrate(w, err, sizeof(err)) != 0 ||
	    gen_fill_db(g, w, err, sizeof(err)) != 0) {
		fprintf(stderr, "report_bench: cannot fill %s: %s %s\n", path,
			err, sqlite3_errmsg(w));
		return 1;
	}
	/* A journal entry per funding request, as the daemon would have. */
	if (sqlite3_exec(w,
			 "INSERT INTO journal (time_us, org, user, idem_key, "
			 "entity_kind, entity_id, version, payload, response, "
			 "prev_hash, hash) SELECT 0, 'x', 'x', randomblob(16), "
			 "'funding', id, version, x'', x'', x'', x'' FROM "
			 "funding ORDER BY rowid; ANALYZE",
			 NULL, NULL, NULL) != SQLITE_OK) {
		fprintf(stderr, "report_bench: %s\n", sqlite3_errmsg(w));
		return 1;
	}
	sqlite3_close(w);
	struct gen_counts n;
	gen_counts(g, &n);
	printf("report_bench: %zu clients, %zu trajectories, %zu transitions, "
	       "%zu funding requests, %zu jobs, %zu reviews, %u programs "
	       "(made in %.1f s)\n",
	       n.clients, n.trajectories, n.steps, n.fundings, n.jobs,
	       n.reviews, o.programs, now_s() - t0);
	gen_free(g);

	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		fprintf(stderr, "report_bench: cannot open %s\n", path);
		return 1;
	}
	static const struct bench_case cases[] = {
	    {"national, 2024",
	     1,
	     {{"2024", "2024-01-01", "2024-12-31"}},
	     {0},
	     0,
	     0,
	     "network",
	     ORG_KIND_NETWORK},
	    {"national, 2024 vs 2023 and 2022, by region, program, funder",
	     3,
	     {{"2024", "2024-01-01", "2024-12-31"},
	      {"2023", "2023-01-01", "2023-12-31"},
	      {"2022", "2022-01-01", "2022-12-31"}},
	     {IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION,
	      IPSNET__V1__REPORT_GROUPING__REPORT_BY_PROGRAM,
	      IPSNET__V1__REPORT_GROUPING__REPORT_BY_FUNDER},
	     3,
	     0,
	     "network",
	     ORG_KIND_NETWORK},
	    {"the HTML page's query: 2024 vs 2023, by region, 5 years",
	     2,
	     {{"2024", "2024-01-01", "2024-12-31"},
	      {"2023", "2023-01-01", "2023-12-31"}},
	     {IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION},
	     1,
	     5,
	     "network",
	     ORG_KIND_NETWORK},
	    {"a GGZ's own programs, 2024-Q3, by program",
	     1,
	     {{"2024-Q3", "2024-07-01", "2024-09-30"}},
	     {IPSNET__V1__REPORT_GROUPING__REPORT_BY_PROGRAM},
	     1,
	     0,
	     "ggz-01",
	     ORG_KIND_GGZ},
	};
	printf("\n%-62s %8s %8s %8s %9s\n", "report", "best", "median", "worst",
	       "answer");
	int rv = 0;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		double best, median, worst;
		size_t bytes = 0;
		if (run_case(db, &cases[i], runs, &best, &median, &worst,
			     &bytes) != 0) {
			rv = 1;
			break;
		}
		printf("%-62s %6.0f ms %6.0f ms %6.0f ms %7zu B\n",
		       cases[i].name, best * 1e3, median * 1e3, worst * 1e3,
		       bytes);
		if (i == 0 && median >= 1.0) {
			fprintf(stderr,
				"report_bench: the national report took %.2f s "
				"(median): over the 1 s budget\n",
				median);
			rv = 1;
		}
	}
	sqlite3_close(db);
	if (!keep) {
		char wal[1100], shm[1100];
		snprintf(wal, sizeof(wal), "%s-wal", path);
		snprintf(shm, sizeof(shm), "%s-shm", path);
		unlink(path);
		unlink(wal);
		unlink(shm);
		rmdir(dir);
	} else {
		printf("\nkept %s\n", path);
	}
	return rv;
}
