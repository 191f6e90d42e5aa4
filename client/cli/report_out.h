/* What `ipsnet report` prints: the shared pieces of the table, CSV, JSON and
 * HTML output (cmd_report.c, report_html.c). */
#ifndef IPSNET_CLI_REPORT_OUT_H
#define IPSNET_CLI_REPORT_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "ipsnet.pb-c.h"

/* A count as a person reads it: "1,234", or "<5" when suppressed (the
 * threshold from the report's definitions). Returns buf. */
const char *report_count_text(char *buf, size_t cap,
			      const Ipsnet__V1__ReportCount *c,
			      uint32_t threshold, bool thousands);

/* f's share employed in hundredths (decimals 2) or tenths (1) of a percent,
 * rounded half up from its counts, as a statistics office does: 1 of 16 is
 * 6.3 %, where printf makes 6.2 of the double 6.25 (it rounds half to
 * even). Every format rounds through here, so that they agree. */
uint64_t report_share_units(const Ipsnet__V1__ReportFigures *f, int decimals);

/* Those units as digits, "6.3" (decimals 1) or "6.25" (2), for a share
 * that is shown (neither hidden nor undefined). Returns buf. */
const char *report_share_digits(char *buf, size_t cap,
				const Ipsnet__V1__ReportFigures *f,
				int decimals);

/* f's share as a person reads it: "27.2%", "x" (a count it is made of is
 * hidden) or "-" (nobody enrolled). Returns buf. */
const char *report_share_text(char *buf, size_t cap,
			      const Ipsnet__V1__ReportFigures *f);

/* The day the report was made (the date in the Netherlands) when one of
 * its periods or years of history ends after it, so that its jobs are
 * counted up to that day (docs/reports.md); else NULL. Returns buf (>= 16
 * bytes) or NULL. */
const char *report_counted_to(char *buf, size_t cap,
			      const Ipsnet__V1__Report *r);

/* "region", "program", "funder". */
const char *report_grouping_name(Ipsnet__V1__ReportGrouping by);

/* Writes r as one self-contained HTML page (inline CSS and SVG; nothing is
 * fetched). title_period names the report's period ("2024"). 0, or -1 when
 * writing failed. */
int report_html_write(FILE *out, const Ipsnet__V1__Report *r);

#endif
