/* How the command shows things: states and benefits in words, dates as
 * YYYY-MM-DD, and every entity as JSON. */
#ifndef IPSNET_CLI_FORMAT_H
#define IPSNET_CLI_FORMAT_H

#include <stdbool.h>

#include <jansson.h>

#include "ipsnet.pb-c.h"

/* For every JSON the command prints: a real as the number it stands for
 * (12.1, 0.082), not jansson's default 17 digits of the double nearest to
 * it (12.099999999999999, 0.082000000000000003); as the report's JSON. */
#define CLI_JSON_REAL_PRECISION JSON_REAL_PRECISION(10)

/* Words for people ("on hold", "Participatiewet") and keys for JSON
 * ("on_hold", "participatiewet"). Never NULL. */
const char *fmt_trajectory_status(int status);
const char *fmt_trajectory_status_key(int status);
const char *fmt_funding_status(int status);
const char *fmt_benefit(int benefit);
const char *fmt_benefit_key(int benefit);
const char *fmt_org_kind(int kind);

/* The benefit named by s (any case, "participatiewet" or "PARTICIPATIEWET"
 * or "BENEFIT_WIA"), or 0. */
int fmt_parse_benefit(const char *s);

/* The date of a date, or the date in the Netherlands of an ISO 8601 UTC
 * time: "2026-11-25"; "-" for none. Use the result within the expression:
 * fmt_day(x).s */
struct fmt_day {
	char s[11];
};
struct fmt_day fmt_day(const char *iso);

/* "live", "expired" (valid_until before today, "YYYY-MM-DD" in the
 * Netherlands) or "withdrawn". */
const char *fmt_consent_state(const Ipsnet__V1__Consent *c, const char *today);

/* "2026-11-25 16:31:02" (UTC) of an ISO 8601 time; "-" for none. */
struct fmt_time {
	char s[24];
};
struct fmt_time fmt_time(const char *iso);

/* The date of the trajectory's current state: when it was referred,
 * accepted, ... ("" when unknown). */
const char *fmt_trajectory_since(const Ipsnet__V1__Trajectory *t);

/* Hours a week without needless decimals: "24", "12.5". */
void fmt_hours(char *buf, size_t cap, double hours);

/* A JSON string of s ("" for NULL); text that is not UTF-8 is replaced. */
json_t *fmt_json_str(const char *s);

/* JSON objects of the entities (new references). */
json_t *fmt_client_json(const Ipsnet__V1__Client *c);
json_t *fmt_consent_json(const Ipsnet__V1__Consent *c);
json_t *fmt_trajectory_json(const Ipsnet__V1__Trajectory *t);
json_t *fmt_funding_json(const Ipsnet__V1__Funding *f);
json_t *fmt_job_json(const Ipsnet__V1__Job *j);
json_t *fmt_program_json(const Ipsnet__V1__Program *p);
json_t *fmt_review_json(const Ipsnet__V1__FidelityReview *r);
json_t *fmt_audit_json(const Ipsnet__V1__AuditRecord *a);
json_t *fmt_case_json(const Ipsnet__V1__CaseView *v);
/* The entity of a ChangeOk with the journal entry: {"seq": .., "kind":
 * "trajectory", "trajectory": {...}}. */
json_t *fmt_change_json(const Ipsnet__V1__ChangeOk *ok);

/* The state of the entity in a ChangeOk in a few words, for the sentence
 * of a CONFLICT: "accepted on 2026-11-26", "withdrawn on 2026-11-26"; ""
 * when its version says all a successful change would print (a client).
 * Only states, dates, ids and numbers: no free text from the server, so
 * the sentence stays one line. */
void fmt_change_state(char *buf, size_t cap, const Ipsnet__V1__ChangeOk *ok);

/* ---- printing --------------------------------------------------------- */

/* "label         value\n": the labels of a block line up. The value
 * goes through fmt_put_text. */
void fmt_kv(const char *label, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Writes text from the server to stdout for a terminal: a line break
 * becomes a new line that starts with indent, any other control character
 * '?' (as in a table), so the text can neither move the cursor nor start
 * a line that looks like one of ours. */
void fmt_put_text(const char *s, const char *indent);

/* The identity block of a client, as case show and client find print it. */
void fmt_print_client(const Ipsnet__V1__Client *c);

/* The ChangeOk in resp as JSON (--json) or its id alone (quiet); returns
 * true when it printed, false when the caller prints its sentence. */
bool fmt_change_machine(bool json, bool quiet, const Ipsnet__V1__ChangeOk *ok);

#endif
