/* The share employed as `ipsnet report` prints it (client/cli/report_share.c):
 * rounded half up from the counts, the same in every format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "report_out.h"

struct fig {
	Ipsnet__V1__ReportFigures f;
	Ipsnet__V1__ReportCount enrolled, employed;
	Ipsnet__V1__ReportShare share;
};

static Ipsnet__V1__ReportFigures *fig(struct fig *x, uint64_t employed,
				      uint64_t enrolled)
{
	ipsnet__v1__report_figures__init(&x->f);
	ipsnet__v1__report_count__init(&x->enrolled);
	ipsnet__v1__report_count__init(&x->employed);
	ipsnet__v1__report_share__init(&x->share);
	x->enrolled.value = enrolled;
	x->employed.value = employed;
	x->f.enrolled = &x->enrolled;
	x->f.employed = &x->employed;
	x->f.employed_share = &x->share;
	if (enrolled == 0)
		x->share.undefined = true;
	else /* as the daemon sends it (daemon/report.c) */
		x->share.percent = 100.0 * (double)employed / (double)enrolled;
	return &x->f;
}

static void expect(uint64_t employed, uint64_t enrolled, const char *text,
		   const char *hundredths)
{
	struct fig x;
	char b[32];
	Ipsnet__V1__ReportFigures *f = fig(&x, employed, enrolled);
	assert_string_equal(report_share_text(b, sizeof(b), f), text);
	assert_string_equal(report_share_digits(b, sizeof(b), f, 2),
			    hundredths);
}

/* A half rounds up, where printf's "%.1f" of the double rounds the exact
 * 6.25 and 0.25 to even: 6.2 and 0.2. */
static void test_a_half_rounds_up(void **state)
{
	(void)state;
	expect(1, 16, "6.3%", "6.25");
	expect(1, 400, "0.3%", "0.25");
	expect(1, 32, "3.1%", "3.13"); /* 3.125 */
	expect(1, 8, "12.5%", "12.50");
	expect(3, 2000, "0.2%", "0.15"); /* 0.15 is no double: 0.1499... */
	expect(1, 80, "1.3%", "1.25");
}

static void test_other_shares(void **state)
{
	(void)state;
	expect(0, 7, "0.0%", "0.00");
	expect(7, 7, "100.0%", "100.00");
	expect(2, 3, "66.7%", "66.67");
	expect(1, 3, "33.3%", "33.33");
	expect(3551, 7100, "50.0%", "50.01"); /* 50.0140... */
	expect(4999999, 10000000, "50.0%", "50.00");
	expect(5000001, 10000001, "50.0%", "50.00");
}

static void test_hidden_and_undefined(void **state)
{
	(void)state;
	struct fig x;
	char b[32];
	assert_string_equal(report_share_text(b, sizeof(b), fig(&x, 0, 0)),
			    "-");
	Ipsnet__V1__ReportFigures *f = fig(&x, 3, 12);
	x.share.suppressed = true;
	assert_string_equal(report_share_text(b, sizeof(b), f), "x");
	assert_string_equal(report_share_text(b, sizeof(b), NULL), "-");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_half_rounds_up),
	    cmocka_unit_test(test_other_shares),
	    cmocka_unit_test(test_hidden_and_undefined),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
