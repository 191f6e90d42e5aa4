/* What `ipsnet report` prints: the shared pieces of the table, CSV, JSON and
 * HTML output (cmd_report.c, report_html.c). */
#ifndef IPSNET_CLI_REPORT_OUT_H
#define IPSNET_CLI_REPORT_OUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "ipsnet.pb-c.h"

/* A count as a person reads it: "1,234", or "<5" when suppressed (the
 * threshold from the report's definitions). Returns buf. */
const char *report_count_text(char *buf, size_t cap,
			      const Ipsnet__V1__ReportCount *c,
			      uint32_t threshold, bool thousands);

/* A share: "27.2%", "<5" (suppressed) or "–" (nobody enrolled). */
const char *report_share_text(char *buf, size_t cap,
			      const Ipsnet__V1__ReportShare *s,
			      uint32_t threshold);

/* The day the report was made (the date in the Netherlands) when one of
 * its periods ends after it, so that its jobs are counted up to that day
 * (docs/reports.md); else NULL. Returns buf (>= 16 bytes) or NULL. */
const char *report_counted_to(char *buf, size_t cap,
			      const Ipsnet__V1__Report *r);

/* "region", "program", "funder". */
const char *report_grouping_name(Ipsnet__V1__ReportGrouping by);

/* Writes r as one self-contained HTML page (inline CSS and SVG; nothing is
 * fetched). title_period names the report's period ("2024"). 0, or -1 when
 * writing failed. */
int report_html_write(FILE *out, const Ipsnet__V1__Report *r);

#endif
