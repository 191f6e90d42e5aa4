/* The share employed as `ipsnet report` prints it, in every format: rounded
 * half up from the counts (report_out.h). */
#include <inttypes.h>
#include <stdio.h>

#include "report_out.h"

uint64_t report_share_units(const Ipsnet__V1__ReportFigures *f, int decimals)
{
	uint64_t n = f->enrolled != NULL ? f->enrolled->value : 0;
	uint64_t e = f->employed != NULL ? f->employed->value : 0;
	if (n == 0)
		return 0;
	/* 100 % in the units asked for, doubled: the +n rounds half up. */
	uint64_t scale = decimals == 2 ? 20000 : 2000;
	return (scale * e + n) / (2 * n);
}

const char *report_share_digits(char *buf, size_t cap,
				const Ipsnet__V1__ReportFigures *f,
				int decimals)
{
	uint64_t u = report_share_units(f, decimals);
	uint64_t one = decimals == 2 ? 100 : 10;
	snprintf(buf, cap, "%" PRIu64 ".%0*" PRIu64, u / one, decimals,
		 u % one);
	return buf;
}

const char *report_share_text(char *buf, size_t cap,
			      const Ipsnet__V1__ReportFigures *f)
{
	const Ipsnet__V1__ReportShare *s = f != NULL ? f->employed_share : NULL;
	if (s == NULL || s->undefined) {
		snprintf(buf, cap, "-");
	} else if (s->suppressed) {
		snprintf(buf, cap, "x"); /* a count it is made of is hidden */
	} else {
		char d[32];
		snprintf(buf, cap, "%s%%",
			 report_share_digits(d, sizeof(d), f, 1));
	}
	return buf;
}
