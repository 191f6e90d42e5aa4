/* The IPS monitor reports: the yearly (or quarterly) outcome figures of the
 * national IPS monitor, computed from the state tables, cut to what the
 * caller may see and with small numbers suppressed. docs/reports.md holds
 * the definitions; this module is where they are applied, the same way for
 * every caller, period and cell.
 *
 * report_build reads the database and runs on a reader thread (a read-only
 * connection, one read transaction: the figures are those of one journal
 * head). report__handle is the request handler and runs on the loop thread;
 * it only queues the read and sends its answer. */
#ifndef IPSNETD_REPORT_H
#define IPSNETD_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "conn.h"
#include "ipsnet.pb-c.h"
#include "journal.h"

#define REPORT_MAX_PERIODS 8
#define REPORT_MAX_HISTORY_YEARS 10

/* The [report] section of the daemon's config. */
struct report_settings {
	uint32_t sustained_months;	/* 1..120 */
	uint32_t small_count_threshold; /* 0: no suppression */
	/* The day the report is made ("YYYY-MM-DD", the date in the
	 * Netherlands): a period not over yet counts jobs up to it, and a
	 * period that has not begun is refused. NULL: no such day (every
	 * period as if over). */
	const char *today;
};

/* Computes the report q asks for, as actor may see it. On 0, *out is a
 * packed Envelope (status OK, body Report, no request id) of *out_len bytes,
 * to be freed with ipsnet_free. On failure returns IPSNET_EINVAL,
 * IPSNET_EPERMISSION or IPSNET_ENOT_FOUND with a sentence in why (size cap),
 * or IPSNET_EDB / IPSNET_ENOMEM. Reader thread (or any thread that owns
 * db). */
int report_build(sqlite3 *db, const struct journal_actor *actor,
		 const struct report_settings *settings,
		 const Ipsnet__V1__ReportQuery *q, uint8_t **out,
		 size_t *out_len, char *why, size_t cap);

/* The handler for ReportQuery (handlers.c's table). Takes ownership of req.
 * Loop thread. */
void report__handle(struct conn *c, Ipsnet__V1__Envelope *req);

#endif
