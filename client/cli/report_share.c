/* What every format of `ipsnet report` prints alike (report_out.h): the
 * share employed, rounded half up from the counts, a count as a person reads
 * it, the name of a grouping and the day a period is counted up to. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "format.h"
#include "report_out.h"
#include "util.h"

#define BY_REGION IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION
#define BY_PROGRAM IPSNET__V1__REPORT_GROUPING__REPORT_BY_PROGRAM
#define BY_FUNDER IPSNET__V1__REPORT_GROUPING__REPORT_BY_FUNDER

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

const char *report_grouping_name(Ipsnet__V1__ReportGrouping by)
{
	switch (by) {
	case BY_REGION:
		return "region";
	case BY_PROGRAM:
		return "program";
	case BY_FUNDER:
		return "funder";
	default:
		return "none";
	}
}

const char *report_count_text(char *buf, size_t cap,
			      const Ipsnet__V1__ReportCount *c,
			      uint32_t threshold, bool thousands)
{
	if (c == NULL) {
		snprintf(buf, cap, "-");
		return buf;
	}
	if (c->suppressed) {
		/* "x": hidden so that a small count cannot be worked out; it
		 * is not small itself. */
		if (c->secondary)
			snprintf(buf, cap, "x");
		else
			snprintf(buf, cap, "<%u", threshold);
		return buf;
	}
	char digits[32];
	snprintf(digits, sizeof(digits), "%llu", (unsigned long long)c->value);
	if (!thousands) {
		snprintf(buf, cap, "%s", digits);
		return buf;
	}
	size_t n = strlen(digits), o = 0;
	for (size_t i = 0; i < n && o + 2 < cap; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	buf[o] = '\0';
	return buf;
}

const char *report_counted_to(char *buf, size_t cap,
			      const Ipsnet__V1__Report *r)
{
	if (r->generated_at == NULL || r->generated_at[0] == '\0')
		return NULL;
	util_strlcpy(buf, fmt_day(r->generated_at).s, cap);
	for (size_t i = 0; i < r->n_periods; i++)
		if (r->periods[i]->period != NULL &&
		    strcmp(r->periods[i]->period->to, buf) > 0)
			return buf;
	/* A year of the history (its key) is counted so too. */
	for (size_t i = 0; i < r->n_history; i++) {
		char end[32];
		snprintf(end, sizeof(end), "%.4s-12-31", r->history[i]->key);
		if (strcmp(end, buf) > 0)
			return buf;
	}
	return NULL;
}
