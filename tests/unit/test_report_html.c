/* `ipsnet report --format html` (client/cli/report_html.c): every text the
 * server sent reaches the page escaped, so that an answer can never put
 * markup or script into a page that is mailed and opened elsewhere. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "report_out.h"

/* What a hostile or broken server could put in every text of a report. */
#define HOSTILE "<i>x</i>&\""

struct figs {
	Ipsnet__V1__ReportFigures f;
	Ipsnet__V1__ReportCount c[8];
	Ipsnet__V1__ReportShare share;
};

static Ipsnet__V1__ReportFigures *figs(struct figs *x)
{
	ipsnet__v1__report_figures__init(&x->f);
	for (size_t i = 0; i < 8; i++) {
		ipsnet__v1__report_count__init(&x->c[i]);
		x->c[i].value = 20 + i;
	}
	ipsnet__v1__report_share__init(&x->share);
	x->share.percent = 50.0;
	x->f.key = HOSTILE;
	x->f.label = HOSTILE;
	x->f.enrolled = &x->c[0];
	x->f.started = &x->c[1];
	x->f.employed = &x->c[2];
	x->f.sustained = &x->c[3];
	x->f.funded_municipality = &x->c[4];
	x->f.funded_uwv = &x->c[5];
	x->f.funded_other = &x->c[6];
	x->f.unfunded = &x->c[7];
	x->f.employed_share = &x->share;
	x->f.programs = 2;
	x->f.specialists = 3;
	return &x->f;
}

/* The page of a report of two periods with every kind of part (history,
 * breakdowns, fidelity, quality), each server text HOSTILE. */
static char *page_of_hostile_report(void)
{
	static struct figs scope[2], national[2], row[2], year[2];
	static Ipsnet__V1__ReportFigures *rows[2][1], *years[2];
	static Ipsnet__V1__ReportGroup group[2], *groups[2][1];
	static Ipsnet__V1__ReportPeriod period[2];
	static Ipsnet__V1__ReportQuality quality[2];
	static Ipsnet__V1__ReportCount quality_count;
	static Ipsnet__V1__ReportPeriodResult result[2], *results[2];
	static Ipsnet__V1__FidelityScore score, *scores[1];
	static Ipsnet__V1__FidelityBandCount band, *bands[1];
	static Ipsnet__V1__ReportDefinitions definitions;
	static Ipsnet__V1__Report r;

	ipsnet__v1__report_count__init(&quality_count);
	quality_count.value = 1;
	for (size_t i = 0; i < 2; i++) {
		ipsnet__v1__report_period__init(&period[i]);
		period[i].label = HOSTILE;
		period[i].from = HOSTILE;
		period[i].to = HOSTILE;
		ipsnet__v1__report_group__init(&group[i]);
		group[i].by = IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION;
		rows[i][0] = figs(&row[i]);
		group[i].rows = rows[i];
		group[i].n_rows = 1;
		groups[i][0] = &group[i];
		ipsnet__v1__report_quality__init(&quality[i]);
		quality[i].jobs_not_competitive = &quality_count;
		ipsnet__v1__report_period_result__init(&result[i]);
		result[i].period = &period[i];
		result[i].scope = figs(&scope[i]);
		result[i].national = figs(&national[i]);
		result[i].groups = groups[i];
		result[i].n_groups = 1;
		result[i].quality = &quality[i];
		results[i] = &result[i];
		years[i] = figs(&year[i]);
	}
	ipsnet__v1__fidelity_score__init(&score);
	score.program_id = HOSTILE;
	score.program_name = HOSTILE;
	score.region = 7;
	score.review_date = HOSTILE;
	score.total = 101;
	score.band = HOSTILE;
	scores[0] = &score;
	ipsnet__v1__fidelity_band_count__init(&band);
	band.band = HOSTILE;
	band.programs = 1;
	bands[0] = &band;
	ipsnet__v1__report_definitions__init(&definitions);
	definitions.sustained_months = 6;
	definitions.small_count_threshold = 10;
	ipsnet__v1__report__init(&r);
	r.scope = HOSTILE;
	r.definitions = &definitions;
	r.periods = results;
	r.n_periods = 2;
	r.history = years;
	r.n_history = 2;
	r.national_history = years;
	r.n_national_history = 2;
	r.fidelity = scores;
	r.n_fidelity = 1;
	r.bands = bands;
	r.n_bands = 1;
	r.generated_at = "2026-11-28T10:00:00Z";

	char *text = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	assert_non_null(f);
	assert_int_equal(report_html_write(f, &r), 0);
	assert_int_equal(fclose(f), 0);
	return text;
}

static size_t occurrences(const char *text, const char *what)
{
	size_t n = 0, len = strlen(what);
	for (size_t i = 0; text[i] != '\0'; i++)
		n += strncmp(text + i, what, len) == 0;
	return n;
}

static void test_every_server_text_is_escaped(void **state)
{
	(void)state;
	char *text = page_of_hostile_report();
	/* Not once as markup, also not in the tiles, the charts' notes,
	 * the breakdowns' summaries or the quality headings. */
	assert_int_equal(occurrences(text, "<i>"), 0);
	assert_int_equal(occurrences(text, "x</i>"), 0);
	/* ... but as text, where the page names the period: the title, the
	 * header (twice, and its dates and comparison), the tiles' "compared
	 * with" lines, the fidelity note, the regions' note, two breakdowns
	 * and two quality headings. */
	assert_true(occurrences(text, "&lt;i&gt;x&lt;/i&gt;&amp;&quot;") >= 15);
	free(text);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_server_text_is_escaped),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
