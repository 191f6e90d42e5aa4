/* The IPS monitor reports end to end (issue 7): a seeded synthetic network
 * (report_gen.c) is sent to the real ipsnetd through libipsnet, change by
 * change, as its organisations would send it; then the real ipsnet command
 * asks for reports, and every cell must equal the generator's truth —
 * nationally and per region, program and funder, per year and quarter, and
 * for a GGZ, a municipality and UWV over their own scope. Then the same
 * daemon with small-number suppression on: what is shown is true, what is
 * small is hidden, and no hidden count can be worked out from a total. And
 * the HTML page: self-contained.
 *
 * The daemon is started once for the whole file (the network takes a few
 * seconds to send); IPSNET_TEST_KEEP=1 keeps its folder, with the HTML. */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "harness.h"
#include "report_gen.h"
#include "util.h"
#include "validate.h"

#define CLIENTS 2500
#define SEED 7

struct world {
	const char *dir;
	const char *certs;
	struct gen *g;
	struct h_daemon d;
	uint32_t threshold; /* the daemon's small_count_threshold now */
};

static struct world W;

static int write_config(uint32_t threshold)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/ipsnetd.conf", W.dir);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"[server]\nlisten = 127.0.0.1:0\ndatabase = %s/ipsnet.db\n"
		"ca = %s/ca.crt\ncert = %s/server.crt\nkey = %s/server.key\n"
		"crl = %s/crl.pem\nmax_inflight = 512\n\n"
		"[report]\nsmall_count_threshold = %u\n\n",
		W.dir, W.certs, W.certs, W.certs, W.certs, threshold);
	for (size_t i = 0; i < gen_n_orgs(W.g); i++) {
		const struct gen_org *o = gen_org(W.g, i);
		fprintf(
		    f, "[organisation %s]\nkind = %s\nname = %s\nregion = %d\n",
		    o->id, org_kind_name(o->kind), o->name, o->region);
		if (o->cbs[0] != '\0')
			fprintf(f, "cbs_code = %s\n", o->cbs);
		fputc('\n', f);
	}
	W.threshold = threshold;
	return fclose(f) == 0 ? 0 : -1;
}

static int setup(void **state)
{
	(void)state;
	h_init();
	W.dir = h_tmpdir();
	W.certs = W.dir;
	struct gen_options o = gen_default_options();
	o.clients = CLIENTS;
	o.seed = SEED;
	o.daemon = true;
	W.g = gen_new(&o);
	if (W.dir == NULL || W.g == NULL)
		return -1;
	if (h_certs_script("ca.sh", (const char *const[]){W.certs, "--name",
							  "report test CA",
							  NULL}) != 0 ||
	    h_certs_script("server-cert.sh",
			   (const char *const[]){W.certs, "server", NULL}) != 0)
		return -1;
	for (size_t i = 0; i < gen_n_orgs(W.g); i++)
		if (h_certs_script("org-cert.sh",
				   (const char *const[]){W.certs,
							 gen_org(W.g, i)->id,
							 NULL}) != 0)
			return -1;
	if (write_config(0) != 0 || h_daemon_start(&W.d, W.dir) != 0)
		return -1;

	char server[64], err[512];
	snprintf(server, sizeof(server), "127.0.0.1:%d", W.d.port);
	struct gen_drive_options dopt = {
	    .server = server,
	    .certs = W.certs,
	    .clients_in_flight = 300,
	    .per_connection = 200,
	};
	struct gen_drive_stats st;
	struct gen_counts n;
	gen_counts(W.g, &n);
	if (gen_drive(W.g, &dopt, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "driving the daemon failed: %s\n", err);
		h_daemon_dump_log(&W.d);
		return -1;
	}
	fprintf(stderr,
		"report test: %zu clients, %zu trajectories, %zu funding "
		"requests, %zu jobs, %zu reviews: %llu changes in %.1f s\n",
		n.clients, n.trajectories, n.fundings, n.jobs, n.reviews,
		(unsigned long long)st.changes, st.seconds);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	h_daemon_stop(&W.d, SIGTERM);
	gen_free(W.g);
	h_cleanup();
	return 0;
}

/* Restarts the daemon with another small-count threshold. */
static void use_threshold(uint32_t threshold)
{
	if (W.threshold == threshold)
		return;
	assert_int_equal(h_daemon_stop(&W.d, SIGTERM), 0);
	assert_int_equal(write_config(threshold), 0);
	assert_int_equal(h_daemon_restart(&W.d), 0);
}

/* ---- asking through the ipsnet command ----------------------------------- */

/* Runs `ipsnet report ARGS... --format json` as org; returns the JSON. */
static json_t *report_json(const char *org, ...)
{
	struct h_args a;
	struct h_result r;
	va_list ap;
	h_args_init(&a);
	h_args_org(&a, &W.d, W.certs, org);
	h_args_add(&a, "report");
	va_start(ap, org);
	for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
		h_args_add(&a, "%s", s);
	va_end(ap);
	h_args_add(&a, "--format");
	h_args_add(&a, "json");
	int code = h_run_cli(&r, a.argv);
	if (code != 0)
		print_error("ipsnet report exited %d: %s\n", code, r.err);
	assert_int_equal(code, 0);
	json_error_t e;
	json_t *j = json_loads(r.out, 0, &e);
	if (j == NULL)
		print_error("not JSON (%s):\n%.400s\n", e.text, r.out);
	assert_non_null(j);
	h_result_free(&r);
	return j;
}

static int run_report(struct h_result *r, const char *org, ...)
{
	struct h_args a;
	va_list ap;
	h_args_init(&a);
	h_args_org(&a, &W.d, W.certs, org);
	h_args_add(&a, "report");
	va_start(ap, org);
	for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
		h_args_add(&a, "%s", s);
	va_end(ap);
	return h_run_cli(r, a.argv);
}

/* The HTML page at path, read whole into a buffer of the test's (1 MiB;
 * valid until the next call); its length into *len when len is not NULL. */
static const char *read_page(const char *path, size_t *len)
{
	static char page[1 << 20];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(page, 1, sizeof(page) - 1, f);
	fclose(f);
	page[n] = '\0';
	if (len != NULL)
		*len = n;
	return page;
}

/* A count as shown: the number, -1 for "<N" (small), -2 for "x" (hidden
 * so that a small one cannot be worked out). */
static long shown(json_t *v)
{
	if (json_is_integer(v))
		return (long)json_integer_value(v);
	assert_true(json_is_string(v));
	if (strcmp(json_string_value(v), "x") == 0)
		return -2;
	assert_int_equal(json_string_value(v)[0], '<');
	return -1;
}

static json_t *metric(json_t *fig, int k)
{
	static const char *const plain[] = {"enrolled", "started", "employed",
					    "sustained"};
	static const char *const funding[] = {"municipality", "uwv", "other",
					      "unfunded"};
	if (k < 4)
		return json_object_get(fig, plain[k]);
	return json_object_get(json_object_get(fig, "funding"), funding[k - 4]);
}

/* Every count of fig equals the truth (no suppression expected). */
static void expect_exact(const char *where, json_t *fig,
			 const struct gen_cell *want, bool programs)
{
	for (int k = 0; k < GEN_N_METRICS; k++) {
		long got = shown(metric(fig, k));
		if (got != (long)want->n[k])
			print_error("%s %s: report %ld, truth %llu\n", where,
				    gen_metric_name(k), got,
				    (unsigned long long)want->n[k]);
		assert_int_equal(got, (long)want->n[k]);
	}
	if (!programs)
		return;
	assert_int_equal(json_integer_value(json_object_get(fig, "programs")),
			 want->programs);
	assert_int_equal(
	    json_integer_value(json_object_get(fig, "specialists")),
	    want->specialists);
}

static enum gen_dim dim_of(const char *by)
{
	return strcmp(by, "by_region") == 0    ? GEN_REGION
	       : strcmp(by, "by_program") == 0 ? GEN_PROGRAM
					       : GEN_FUNDER;
}

/* Every row of every breakdown of period p equals the truth for org. */
static void expect_breakdowns(json_t *p, const char *org, bool network)
{
	const char *from = json_string_value(json_object_get(p, "from"));
	const char *to = json_string_value(json_object_get(p, "to"));
	static const char *const groups[] = {"by_region", "by_program",
					     "by_funder"};
	for (size_t gi = 0; gi < 3; gi++) {
		json_t *rows = json_object_get(p, groups[gi]);
		if (rows == NULL)
			continue;
		enum gen_dim dim = dim_of(groups[gi]);
		if (network)
			assert_int_equal(json_array_size(rows),
					 gen_rows(W.g, dim));
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			const char *key =
			    json_string_value(json_object_get(row, "key"));
			struct gen_cell want;
			char where[160];
			assert_int_equal(
			    gen_truth(W.g, from, to, org, dim, key, &want), 0);
			snprintf(where, sizeof(where), "%s %s %s %s",
				 json_string_value(json_object_get(p, "label")),
				 org != NULL ? org : "network",
				 gen_dim_name(dim), key);
			expect_exact(where, row, &want, dim != GEN_FUNDER);
		}
	}
}

/* ---- the figures equal the truth ------------------------------------------
 */

static void test_every_cell_of_every_year_equals_the_truth(void **state)
{
	(void)state;
	use_threshold(0);
	const struct gen_options o = gen_default_options();
	for (int year = o.first_year; year <= o.last_year; year++) {
		char y[8];
		snprintf(y, sizeof(y), "%d", year);
		json_t *j = report_json("network", "--year", y, "--by",
					"region,program,funder", NULL);
		json_t *p = json_array_get(json_object_get(j, "periods"), 0);
		struct gen_cell want;
		gen_truth_year(W.g, year, GEN_NATIONAL, NULL, &want);
		expect_exact(y, json_object_get(p, "scope"), &want, true);
		assert_true(want.n[GEN_ENROLLED] > 500);
		assert_true(want.n[GEN_SUSTAINED] > 50);
		expect_breakdowns(p, NULL, true);

		/* The data-quality counts this network can have. */
		struct gen_quality gq;
		char from[16], to[16];
		snprintf(from, sizeof(from), "%d-01-01", year);
		snprintf(to, sizeof(to), "%d-12-31", year);
		gen_quality_truth(W.g, from, to, &gq);
		json_t *q = json_object_get(p, "quality");
		assert_int_equal(
		    shown(json_object_get(q, "jobs_not_competitive")),
		    gq.jobs_not_competitive);
		assert_int_equal(
		    shown(json_object_get(q, "jobs_before_trajectory")),
		    gq.jobs_before_trajectory);
		assert_int_equal(shown(json_object_get(q, "funding_pending")),
				 gq.funding_pending);
		assert_int_equal(shown(json_object_get(q, "several_approved")),
				 gq.several_approved);
		assert_int_equal(
		    shown(json_object_get(q, "clients_in_several_programs")),
		    gq.clients_in_several_programs);
		assert_int_equal(
		    shown(json_object_get(q, "trajectories_without_start")), 0);

		/* Fidelity: the latest review of each program by band. */
		uint32_t bands[5];
		static const char *const names[] = {"exemplary", "good", "fair",
						    "not IPS", "not reviewed"};
		gen_fidelity_truth(W.g, to, bands);
		json_t *jb =
		    json_object_get(json_object_get(j, "fidelity"), "bands");
		for (int k = 0; k < 5; k++)
			assert_int_equal(
			    json_integer_value(json_object_get(jb, names[k])),
			    bands[k]);
		json_decref(j);
	}
}

static void test_quarter_compared_with_the_year_before(void **state)
{
	(void)state;
	use_threshold(0);
	json_t *j =
	    report_json("network", "--quarter", "2023-Q2", "--compare",
			"2022-Q2", "--compare", "2024", "--by", "region", NULL);
	json_t *periods = json_object_get(j, "periods");
	assert_int_equal(json_array_size(periods), 3);
	static const char *const span[][2] = {{"2023-04-01", "2023-06-30"},
					      {"2022-04-01", "2022-06-30"},
					      {"2024-01-01", "2024-12-31"}};
	for (size_t i = 0; i < 3; i++) {
		json_t *p = json_array_get(periods, i);
		assert_string_equal(
		    json_string_value(json_object_get(p, "from")), span[i][0]);
		struct gen_cell want;
		gen_truth(W.g, span[i][0], span[i][1], NULL, GEN_NATIONAL, NULL,
			  &want);
		expect_exact(span[i][0], json_object_get(p, "scope"), &want,
			     true);
		expect_breakdowns(p, NULL, true);
	}
	json_decref(j);
}

static void test_region_and_program_reports_show_the_nation_beside(void **state)
{
	(void)state;
	use_threshold(0);
	json_t *j = report_json("network", "--year", "2023", "--region", "5",
				"--by", "program", NULL);
	json_t *p = json_array_get(json_object_get(j, "periods"), 0);
	struct gen_cell want;
	assert_string_equal(json_string_value(json_object_get(j, "scope")),
			    "region 5");
	gen_truth(W.g, "2023-01-01", "2023-12-31", NULL, GEN_REGION, "5",
		  &want);
	expect_exact("region 5", json_object_get(p, "scope"), &want, true);
	gen_truth(W.g, "2023-01-01", "2023-12-31", NULL, GEN_NATIONAL, NULL,
		  &want);
	expect_exact("beside region 5", json_object_get(p, "national"), &want,
		     true);
	/* Its programs: those of region 5 only. */
	json_t *rows = json_object_get(p, "by_program");
	assert_true(json_array_size(rows) >= 1);
	size_t i;
	json_t *row;
	json_array_foreach(rows, i, row)
	{
		const char *key =
		    json_string_value(json_object_get(row, "key"));
		assert_non_null(strstr(key, "-r05-"));
	}
	const char *program =
	    json_string_value(json_object_get(json_array_get(rows, 0), "key"));
	char prog[64];
	snprintf(prog, sizeof(prog), "%s", program);
	json_decref(j);

	j = report_json("network", "--year", "2024", "--program", prog, NULL);
	p = json_array_get(json_object_get(j, "periods"), 0);
	gen_truth(W.g, "2024-01-01", "2024-12-31", NULL, GEN_PROGRAM, prog,
		  &want);
	expect_exact(prog, json_object_get(p, "scope"), &want, true);
	json_decref(j);
}

static void test_each_organisation_sees_its_own_scope(void **state)
{
	(void)state;
	use_threshold(0);
	static const char *const orgs[] = {"ggz-01", "ggz-04", "gm0363",
					   "gm0599", "uwv"};
	for (size_t i = 0; i < sizeof(orgs) / sizeof(orgs[0]); i++) {
		json_t *j = report_json(orgs[i], "--year", "2023", "--by",
					"region,program,funder", NULL);
		json_t *p = json_array_get(json_object_get(j, "periods"), 0);
		struct gen_cell want;
		char where[64];
		snprintf(where, sizeof(where), "2023 %s", orgs[i]);
		gen_truth(W.g, "2023-01-01", "2023-12-31", orgs[i],
			  GEN_NATIONAL, NULL, &want);
		expect_exact(where, json_object_get(p, "scope"), &want, true);
		assert_true(want.n[GEN_ENROLLED] > 20);
		gen_truth(W.g, "2023-01-01", "2023-12-31", NULL, GEN_NATIONAL,
			  NULL, &want);
		expect_exact("national beside", json_object_get(p, "national"),
			     &want, true);
		expect_breakdowns(p, orgs[i], false);
		json_decref(j);
	}

	/* A GGZ asks about a program that is not its own. */
	struct h_result r;
	assert_int_equal(run_report(&r, "ggz-01", "--year", "2023", "--program",
				    "ips-r02-02", NULL),
			 4);
	assert_non_null(strstr(r.err, "not one of your"));
	h_result_free(&r);
}

/* ---- small numbers ---------------------------------------------------------
 */

/* No hidden count can be worked out from a total and the other counts: in
 * each column of a breakdown with its total, and across the funding types
 * of a row with its enrolled, never exactly one count is hidden (a hidden
 * total with every part shown is their sum). */
static void expect_protected(json_t *parent, json_t *rows)
{
	if (json_array_size(rows) == 0)
		return;
	for (int k = 0; k < GEN_N_METRICS; k++) {
		size_t hidden = shown(metric(parent, k)) < 0, i;
		json_t *row;
		json_array_foreach(rows, i, row) hidden +=
		    shown(metric(row, k)) < 0;
		assert_true(hidden != 1);
	}
}

static void expect_suppressed_or_true(const char *where, json_t *fig,
				      const struct gen_cell *want)
{
	size_t hidden_funding = 0;
	for (int k = 0; k < GEN_N_METRICS; k++) {
		long got = shown(metric(fig, k));
		if (want->n[k] < 5 && got != -1)
			print_error("%s %s: %ld is below 5 but not shown as "
				    "<5\n",
				    where, gen_metric_name(k), got);
		/* "<5" exactly when small; "x" only for what is not. */
		if (want->n[k] < 5)
			assert_int_equal(got, -1);
		else if (got >= 0)
			assert_int_equal(got, (long)want->n[k]);
		else
			assert_int_equal(got, -2);
		if (k >= 4)
			hidden_funding += got < 0;
	}
	hidden_funding += shown(metric(fig, 0)) < 0;
	assert_true(hidden_funding != 1);
}

static void test_small_counts_are_hidden_and_cannot_be_worked_out(void **state)
{
	(void)state;
	use_threshold(5);
	json_t *j = report_json("network", "--year", "2022", "--by",
				"region,program,funder", NULL);
	json_t *p = json_array_get(json_object_get(j, "periods"), 0);
	struct gen_cell want;
	gen_truth(W.g, "2022-01-01", "2022-12-31", NULL, GEN_NATIONAL, NULL,
		  &want);
	/* NETWORK's national figure is exact. */
	expect_exact("national", json_object_get(p, "scope"), &want, true);
	static const char *const groups[] = {"by_region", "by_program",
					     "by_funder"};
	size_t hidden = 0, shown_cells = 0, secondary = 0;
	for (size_t gi = 0; gi < 3; gi++) {
		json_t *rows = json_object_get(p, groups[gi]);
		size_t i;
		json_t *row;
		json_array_foreach(rows, i, row)
		{
			const char *key =
			    json_string_value(json_object_get(row, "key"));
			char where[96];
			snprintf(where, sizeof(where), "%s %s", groups[gi],
				 key);
			gen_truth(W.g, "2022-01-01", "2022-12-31", NULL,
				  dim_of(groups[gi]), key, &want);
			expect_suppressed_or_true(where, row, &want);
			for (int k = 0; k < GEN_N_METRICS; k++) {
				hidden += shown(metric(row, k)) < 0;
				secondary += shown(metric(row, k)) == -2;
				shown_cells += shown(metric(row, k)) >= 0;
			}
		}
		expect_protected(json_object_get(p, "scope"), rows);
	}
	/* A region's row is the total of its programs (ips-rNN-..). */
	json_t *region;
	size_t ri;
	json_array_foreach(json_object_get(p, "by_region"), ri, region)
	{
		char prefix[16];
		snprintf(
		    prefix, sizeof(prefix), "ips-r%02d-",
		    atoi(json_string_value(json_object_get(region, "key"))));
		json_t *mine = json_array(), *row;
		size_t i;
		json_array_foreach(json_object_get(p, "by_program"), i, row)
		{
			if (strncmp(
				json_string_value(json_object_get(row, "key")),
				prefix, strlen(prefix)) == 0)
				json_array_append(mine, row);
		}
		expect_protected(region, mine);
		json_decref(mine);
	}
	/* The network has both: small cells and large ones. */
	assert_true(hidden > 20);
	assert_true(secondary > 0);
	assert_true(shown_cells > 100);
	assert_int_equal(
	    json_integer_value(json_object_get(
		json_object_get(j, "definitions"), "small_count_threshold")),
	    5);
	json_decref(j);

	/* A region report: its total is a cell too, and the breakdowns add
	 * up to it. */
	for (int rn = 1; rn <= 35; rn++) {
		char rtext[8];
		snprintf(rtext, sizeof(rtext), "%d", rn);
		j = report_json("network", "--year", "2023", "--region", rtext,
				"--by", "program,funder", NULL);
		p = json_array_get(json_object_get(j, "periods"), 0);
		gen_truth(W.g, "2023-01-01", "2023-12-31", NULL, GEN_REGION,
			  rtext, &want);
		expect_suppressed_or_true(rtext, json_object_get(p, "scope"),
					  &want);
		expect_protected(json_object_get(p, "scope"),
				 json_object_get(p, "by_program"));
		expect_protected(json_object_get(p, "scope"),
				 json_object_get(p, "by_funder"));
		json_decref(j);
	}

	/* For a GGZ even its own total is a cell. */
	j = report_json("ggz-03", "--quarter", "2024-Q4", "--by", "program",
			NULL);
	p = json_array_get(json_object_get(j, "periods"), 0);
	gen_truth(W.g, "2024-10-01", "2024-12-31", "ggz-03", GEN_NATIONAL, NULL,
		  &want);
	expect_suppressed_or_true("ggz-03", json_object_get(p, "scope"), &want);
	expect_protected(json_object_get(p, "scope"),
			 json_object_get(p, "by_program"));
	json_decref(j);

	/* The table says "<5" too. */
	struct h_result r;
	assert_int_equal(run_report(&r, "network", "--year", "2022", "--by",
				    "program", NULL),
			 0);
	assert_non_null(strstr(r.out, "<5"));
	h_result_free(&r);
	use_threshold(0);
}

/* ---- the outputs ------------------------------------------------------------
 */

static void test_html_page_is_self_contained(void **state)
{
	(void)state;
	use_threshold(5);
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/report-2024.html", W.dir);
	struct h_result r;
	assert_int_equal(run_report(&r, "network", "--year", "2024",
				    "--compare", "2023", "--format", "html",
				    "--output", path, NULL),
			 0);
	h_result_free(&r);
	size_t n;
	const char *page = read_page(path, &n);
	assert_true(n > 10000);
	assert_non_null(strstr(page, "<!DOCTYPE html>"));
	assert_non_null(strstr(page, "</html>"));
	/* Charts: funding per year, share per region, fidelity bands; the
	 * year-by-year table. */
	assert_non_null(strstr(page, "enrolment by funding type per year"));
	assert_non_null(strstr(page, "share employed per region"));
	assert_non_null(strstr(page, "fidelity band distribution"));
	assert_non_null(strstr(page, "year by year"));
	assert_non_null(strstr(page, "region 35"));
	/* Nothing is fetched, nothing runs. */
	static const char *const banned[] = {"<script", "http://", "https://",
					     "<link",	"@import", "url(",
					     "<img",	"<iframe", "src="};
	for (size_t i = 0; i < sizeof(banned) / sizeof(banned[0]); i++) {
		if (strstr(page, banned[i]) != NULL)
			print_error("the page holds '%s'\n", banned[i]);
		assert_null(strstr(page, banned[i]));
	}
	assert_non_null(strstr(page, "Regions with fewer than 5 clients"));
	/* Threshold 0 (suppression off): the page says nothing is hidden,
	 * as --explain does. It said "Regions with fewer than 0 clients
	 * ... show no bar". */
	use_threshold(0);
	assert_int_equal(run_report(&r, "network", "--year", "2024", "--format",
				    "html", "--output", path, NULL),
			 0);
	h_result_free(&r);
	page = read_page(path, NULL);
	assert_non_null(strstr(page, "share employed per region"));
	assert_null(strstr(page, "fewer than 0"));
	assert_null(strstr(page, "&lt;0"));
	assert_non_null(strstr(page, "No count is hidden"));
}

/* The characters (code points) of the line at s, up to its end. */
static size_t line_chars(const char *s)
{
	size_t n = 0;
	for (; *s != '\0' && *s != '\n'; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

/* The table's columns line up under their heads whatever the letters of
 * a name: a funder named in Frisian (Súdwest-Fryslân, two letters of two
 * bytes) takes as many columns as one in plain ASCII. Was: the name was
 * cut and padded in bytes, so its row was two columns short and the
 * counts stood under the wrong heads. */
static void test_table_columns_line_up(void **state)
{
	(void)state;
	use_threshold(0);
	struct h_result r;
	assert_int_equal(
	    run_report(&r, "network", "--year", "2023", "--by", "funder", NULL),
	    0);
	const char *head = strstr(r.out, "\nby funder\n");
	assert_non_null(head);
	head += strlen("\nby funder\n");
	size_t want = line_chars(head), rows = 0;
	bool frisian = false;
	for (const char *l = strchr(head, '\n');
	     l != NULL && l[1] != '\0' && l[1] != '\n';
	     l = strchr(l + 1, '\n')) {
		if (line_chars(l + 1) != want)
			fail_msg("a row is not as wide as its heads (%zu "
				 "characters): %.*s",
				 want, (int)line_chars(l + 1) + 8, l + 1);
		frisian |= strncmp(l + 1, "Gemeente Súdwest-Fryslân ",
				   strlen("Gemeente Súdwest-Fryslân ")) == 0;
		rows++;
	}
	h_result_free(&r);
	assert_true(rows >= 3);
	assert_true(frisian);
}

static void test_csv_table_and_explain(void **state)
{
	(void)state;
	use_threshold(0);
	struct h_result r;
	struct gen_cell want;
	gen_truth_year(W.g, 2023, GEN_NATIONAL, NULL, &want);

	assert_int_equal(run_report(&r, "network", "--year", "2023", "--format",
				    "csv", NULL),
			 0);
	char line[128];
	snprintf(line, sizeof(line),
		 "\n2023,national,national,national,"
		 "enrolled,%llu\n",
		 (unsigned long long)want.n[GEN_ENROLLED]);
	assert_true(strncmp(r.out, "period,breakdown,key,label,measure,value\n",
			    41) == 0);
	if (strstr(r.out, line) == NULL)
		print_error("no '%s' in:\n%.600s\n", line + 1, r.out);
	assert_non_null(strstr(r.out, line));
	h_result_free(&r);

	assert_int_equal(run_report(&r, "network", "--year", "2023", NULL), 0);
	assert_non_null(strstr(r.out, "IPS monitor: national, 2023"));
	assert_non_null(strstr(r.out, "clients enrolled"));
	assert_non_null(strstr(r.out, "data quality, 2023"));
	assert_non_null(strstr(r.out, "fidelity"));
	/* A year that is over says nothing of a day it counts up to; the
	 * running one says that it counts up to today. */
	assert_null(strstr(r.out, "not over yet"));
	h_result_free(&r);
	char today[16], year[8], want_today[64];
	nl_date_of_us(today, sizeof(today), (long long)util_now_us());
	snprintf(year, sizeof(year), "%.4s", today);
	assert_int_equal(run_report(&r, "network", "--year", year, NULL), 0);
	snprintf(want_today, sizeof(want_today), "counts jobs up to %s", today);
	if (strcmp(today + 5, "12-31") != 0)
		assert_non_null(strstr(r.out, want_today));
	h_result_free(&r);

	assert_int_equal(run_report(&r, "network", "--explain", NULL), 0);
	assert_non_null(strstr(r.out, "ACTIVE or ON_HOLD at any"));
	assert_non_null(strstr(r.out, "at least 6 months"));
	assert_non_null(strstr(r.out, "as the server is configured"));
	/* threshold 0: nothing is hidden, and --explain says so */
	assert_non_null(strstr(r.out, "turns suppression off"));
	assert_null(strstr(r.out, "<0"));
	h_result_free(&r);
	use_threshold(5);
	assert_int_equal(run_report(&r, "network", "--explain", NULL), 0);
	assert_non_null(strstr(r.out, "shown as \"<5\""));
	assert_non_null(strstr(r.out, "a region of one program"));
	assert_non_null(strstr(r.out, "hidden counts that add up to 0"));
	h_result_free(&r);
	use_threshold(0);

	/* Usage errors say what is wrong. */
	assert_int_equal(run_report(&r, "network", NULL), 2);
	assert_non_null(strstr(r.err, "--year"));
	h_result_free(&r);
	assert_int_equal(
	    run_report(&r, "network", "--quarter", "2024-Q5", NULL), 2);
	h_result_free(&r);
	assert_int_equal(
	    run_report(&r, "network", "--year", "2024", "--by", "planet", NULL),
	    2);
	h_result_free(&r);
}

/* A year of the history that is not over yet is counted up to today, as
 * a period is, and the table and the page say so. Was: they said it only
 * when one of the report's periods was not over, so a past quarter of
 * this year (the page takes five years of history) showed this year's
 * column, counted up to today, as if it were a whole year. There is no
 * such quarter before April. */
static void test_the_running_year_in_the_history_says_so(void **state)
{
	(void)state;
	use_threshold(0);
	char today[16], quarter[16], want[64], path[PATH_MAX];
	nl_date_of_us(today, sizeof(today), (long long)util_now_us());
	int month = atoi(today + 5);
	if (month <= 3 || strcmp(today + 5, "12-31") == 0)
		skip();
	snprintf(quarter, sizeof(quarter), "%.4s-Q%d", today, (month - 1) / 3);
	snprintf(want, sizeof(want), "counts jobs up to %s", today);
	struct h_result r;
	assert_int_equal(run_report(&r, "network", "--quarter", quarter,
				    "--history", "2", NULL),
			 0);
	if (strstr(r.out, want) == NULL)
		print_error("no '%s' in:\n%.400s\n", want, r.out);
	assert_non_null(strstr(r.out, want));
	h_result_free(&r);

	snprintf(path, sizeof(path), "%s/report-running.html", W.dir);
	assert_int_equal(run_report(&r, "network", "--quarter", quarter,
				    "--format", "html", "--output", path, NULL),
			 0);
	h_result_free(&r);
	const char *page = read_page(path, NULL);
	snprintf(want, sizeof(want), "jobs counted up to %s", today);
	assert_non_null(strstr(page, want));
}

/* The change of a tile from the period compared, as the page shows it:
 * whole percent, rounded half up (away from zero) from the two counts, as
 * the shares are. Was: printf's "%.0f" of the double, which rounds an
 * exact half to even, so that region 26's 27 enrolled against 24 (+12.5%)
 * showed "+12%", and 7 employed against 8 (-12.5%) "-12%". */
static void test_a_tiles_change_rounds_half_up(void **state)
{
	(void)state;
	use_threshold(0);
	static const char *const regions[] = {"26", "31", "12", "29", "35"};
	static const char *const labels[] = {"clients enrolled", "started IPS",
					     "in competitive work",
					     "of whom sustained"};
	static const char *const counts[] = {"enrolled", "started", "employed",
					     "sustained"};
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/report-change.html", W.dir);
	size_t halves = 0;
	for (size_t i = 0; i < sizeof(regions) / sizeof(regions[0]); i++) {
		const char *year = i == 4 ? "2023" : "2024";
		const char *before = i == 4 ? "2022" : "2023";
		json_t *j = report_json("network", "--year", year, "--compare",
					before, "--region", regions[i], NULL);
		json_t *periods = json_object_get(j, "periods");
		json_t *now =
		    json_object_get(json_array_get(periods, 0), "scope");
		json_t *then =
		    json_object_get(json_array_get(periods, 1), "scope");
		struct h_result r;
		assert_int_equal(run_report(&r, "network", "--year", year,
					    "--compare", before, "--region",
					    regions[i], "--format", "html",
					    "--output", path, NULL),
				 0);
		h_result_free(&r);
		const char *page = read_page(path, NULL);
		for (size_t k = 0; k < 4; k++) {
			long a = shown(json_object_get(now, counts[k]));
			long b = shown(json_object_get(then, counts[k]));
			if (b <= 0)
				continue;
			long diff = a > b ? a - b : b - a;
			long pct = (200 * diff + b) / (2 * b);
			halves += (200 * diff) % (2 * b) == b;
			char tile[128], want[128];
			snprintf(tile, sizeof(tile),
				 "<div class=\"k\">%s</div>", labels[k]);
			if (pct == 0)
				snprintf(want, sizeof(want), "&plusmn;0%%");
			else
				snprintf(want, sizeof(want), "%s%ld%%</span>",
					 a > b ? "&#9650; +" : "&#9660; -",
					 pct);
			const char *at = strstr(page, tile);
			assert_non_null(at);
			const char *end = strstr(at, "</div></div>");
			assert_non_null(end);
			if (strstr(at, want) == NULL || strstr(at, want) > end)
				fail_msg("region %s %s: %ld against %ld, want "
					 "'%s' in: %.*s",
					 regions[i], counts[k], a, b, want,
					 (int)(end - at), at);
		}
		json_decref(j);
	}
	assert_true(halves > 0); /* the data still holds an exact half */
}

/* Runs `ipsnet program put` as NETWORK: program id at version to name. */
static void rename_program(const char *id, uint64_t version, const char *name)
{
	struct h_args a;
	struct h_result r;
	h_args_init(&a);
	h_args_org(&a, &W.d, W.certs, "network");
	h_args_add(&a, "program");
	h_args_add(&a, "put");
	h_args_add(&a, "%s", id);
	h_args_add(&a, "--version");
	h_args_add(&a, "%llu", (unsigned long long)version);
	h_args_add(&a, "--name=%s", name);
	h_args_add(&a, "--quiet");
	int code = h_run_cli(&r, a.argv);
	if (code != 0)
		print_error("program put exited %d: %s\n", code, r.err);
	assert_int_equal(code, 0);
	h_result_free(&r);
}

/* A name that a spreadsheet would run as a formula reaches the CSV as
 * text, also when C's strtod reads it as a number: "-nan" and "-inf"
 * (and hexadecimal "-0x1A") are no numbers to a spreadsheet, which runs
 * "=-nan" and shows #NAME?. Was: csv_formula let every text strtod took
 * whole through unquoted. The program gets its name back after. */
static void
test_csv_keeps_a_name_strtod_takes_for_a_number_as_text(void **state)
{
	(void)state;
	use_threshold(0);
	json_t *list = NULL;
	struct h_args a;
	struct h_result r;
	h_args_init(&a);
	h_args_org(&a, &W.d, W.certs, "network");
	h_args_add(&a, "--json");
	h_args_add(&a, "program");
	h_args_add(&a, "list");
	assert_int_equal(h_run_cli(&r, a.argv), 0);
	list = json_loads(r.out, 0, NULL);
	h_result_free(&r);
	assert_non_null(list);
	json_t *programs =
	    json_is_array(list) ? list : json_object_get(list, "programs");
	json_t *p = json_array_get(programs, 0);
	assert_non_null(p);
	char id[64], name[128];
	snprintf(id, sizeof(id), "%s",
		 json_string_value(json_object_get(p, "id")));
	snprintf(name, sizeof(name), "%s",
		 json_string_value(json_object_get(p, "name")));
	uint64_t version =
	    (uint64_t)json_integer_value(json_object_get(p, "version"));
	json_decref(list);

	static const char *const names[] = {"-nan", "-inf", "-0x1A"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		rename_program(id, version++, names[i]);
		assert_int_equal(run_report(&r, "network", "--year", "2024",
					    "--by", "program", "--format",
					    "csv", NULL),
				 0);
		char want[160], bare[160];
		snprintf(want, sizeof(want), ",%s,\"'%s\",enrolled,", id,
			 names[i]);
		snprintf(bare, sizeof(bare), ",%s,%s,enrolled,", id, names[i]);
		if (strstr(r.out, want) == NULL)
			print_error("no '%s' in the CSV\n", want);
		assert_null(strstr(r.out, bare));
		assert_non_null(strstr(r.out, want));
		h_result_free(&r);
	}
	/* A number is still a number. */
	rename_program(id, version++, "-12.5");
	assert_int_equal(run_report(&r, "network", "--year", "2024", "--by",
				    "program", "--format", "csv", NULL),
			 0);
	char plain[160];
	snprintf(plain, sizeof(plain), ",%s,-12.5,enrolled,", id);
	assert_non_null(strstr(r.out, plain));
	h_result_free(&r);
	rename_program(id, version, name);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_cell_of_every_year_equals_the_truth),
	    cmocka_unit_test(test_quarter_compared_with_the_year_before),
	    cmocka_unit_test(
		test_region_and_program_reports_show_the_nation_beside),
	    cmocka_unit_test(test_each_organisation_sees_its_own_scope),
	    cmocka_unit_test(
		test_small_counts_are_hidden_and_cannot_be_worked_out),
	    cmocka_unit_test(test_html_page_is_self_contained),
	    cmocka_unit_test(test_csv_table_and_explain),
	    cmocka_unit_test(test_table_columns_line_up),
	    cmocka_unit_test(test_the_running_year_in_the_history_says_so),
	    cmocka_unit_test(test_a_tiles_change_rounds_half_up),
	    cmocka_unit_test(
		test_csv_keeps_a_name_strtod_takes_for_a_number_as_text),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
