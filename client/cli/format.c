/* How the command shows things: see format.h. */
#include "format.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "alloc.h"
#include "util.h"
#include "validate.h"

static const char *const trajectory_words[] = {
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_REFERRED] = "referred",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACCEPTED] = "accepted",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_DECLINED] = "declined",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACTIVE] = "active",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ON_HOLD] = "on hold",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_CLOSED] = "closed",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_CANCELLED] = "cancelled",
};
static const char *const trajectory_keys[] = {
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_REFERRED] = "referred",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACCEPTED] = "accepted",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_DECLINED] = "declined",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACTIVE] = "active",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ON_HOLD] = "on_hold",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_CLOSED] = "closed",
    [IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_CANCELLED] = "cancelled",
};
static const char *const funding_words[] = {
    [IPSNET__V1__FUNDING_STATUS__FUNDING_REQUESTED] = "requested",
    [IPSNET__V1__FUNDING_STATUS__FUNDING_APPROVED] = "approved",
    [IPSNET__V1__FUNDING_STATUS__FUNDING_REJECTED] = "rejected",
    [IPSNET__V1__FUNDING_STATUS__FUNDING_WITHDRAWN] = "withdrawn",
};
static const char *const benefit_words[] = {
    [IPSNET__V1__BENEFIT__BENEFIT_NONE] = "none",
    [IPSNET__V1__BENEFIT__BENEFIT_PARTICIPATIEWET] = "Participatiewet",
    [IPSNET__V1__BENEFIT__BENEFIT_WIA] = "WIA",
    [IPSNET__V1__BENEFIT__BENEFIT_WAJONG] = "Wajong",
    [IPSNET__V1__BENEFIT__BENEFIT_WW] = "WW",
    [IPSNET__V1__BENEFIT__BENEFIT_OTHER] = "other",
};
static const char *const benefit_keys[] = {
    [IPSNET__V1__BENEFIT__BENEFIT_NONE] = "none",
    [IPSNET__V1__BENEFIT__BENEFIT_PARTICIPATIEWET] = "participatiewet",
    [IPSNET__V1__BENEFIT__BENEFIT_WIA] = "wia",
    [IPSNET__V1__BENEFIT__BENEFIT_WAJONG] = "wajong",
    [IPSNET__V1__BENEFIT__BENEFIT_WW] = "ww",
    [IPSNET__V1__BENEFIT__BENEFIT_OTHER] = "other",
};
static const char *const kind_words[] = {
    [IPSNET__V1__ORG_KIND__GGZ] = "GGZ",
    [IPSNET__V1__ORG_KIND__MUNICIPALITY] = "MUNICIPALITY",
    [IPSNET__V1__ORG_KIND__UWV] = "UWV",
    [IPSNET__V1__ORG_KIND__NETWORK] = "NETWORK",
};

static const char *word(const char *const *table, size_t n, int v)
{
	return v >= 0 && (size_t)v < n && table[v] != NULL ? table[v]
							   : "unknown";
}

#define WORD(table, v) word(table, ARRAY_SIZE(table), v)

const char *fmt_trajectory_status(int status)
{
	return WORD(trajectory_words, status);
}

const char *fmt_trajectory_status_key(int status)
{
	return WORD(trajectory_keys, status);
}

const char *fmt_funding_status(int status)
{
	return WORD(funding_words, status);
}

const char *fmt_benefit(int benefit)
{
	return WORD(benefit_words, benefit);
}

const char *fmt_benefit_key(int benefit)
{
	return WORD(benefit_keys, benefit);
}

const char *fmt_org_kind(int kind)
{
	return WORD(kind_words, kind);
}

int fmt_parse_benefit(const char *s)
{
	if (strncasecmp(s, "BENEFIT_", 8) == 0)
		s += 8;
	for (size_t i = 0; i < ARRAY_SIZE(benefit_keys); i++)
		if (benefit_keys[i] != NULL &&
		    strcasecmp(s, benefit_keys[i]) == 0)
			return (int)i;
	return 0;
}

const char *fmt_consent_state(const Ipsnet__V1__Consent *c, const char *today)
{
	if (c->withdrawn_at != NULL && c->withdrawn_at[0] != '\0')
		return "withdrawn";
	if (c->valid_until != NULL && c->valid_until[0] != '\0' &&
	    strcmp(c->valid_until, today) < 0)
		return "expired";
	return "live";
}

struct fmt_day fmt_day(const char *iso)
{
	struct fmt_day d;
	int h, mi, sec;
	if (iso == NULL || strlen(iso) < 10) {
		util_strlcpy(d.s, "-", sizeof(d.s));
		return d;
	}
	util_strlcpy(d.s, iso, sizeof(d.s));
	/* A UTC time (the server's "2026-11-25T23:30:00.000Z"): the day it
	 * was in the Netherlands, as the server's "today" is. */
	if (iso[10] == 'T' && iso[strlen(iso) - 1] == 'Z' && date_valid(d.s) &&
	    sscanf(iso + 10, "T%2d:%2d:%2d", &h, &mi, &sec) == 3)
		nl_date_of_us(d.s, sizeof(d.s),
			      ((long long)date_days(d.s) * 86400 + h * 3600 +
			       mi * 60 + sec) *
				  1000000);
	return d;
}

struct fmt_time fmt_time(const char *iso)
{
	struct fmt_time t;
	if (iso == NULL || strlen(iso) < 19) {
		util_strlcpy(t.s, iso != NULL && iso[0] != '\0' ? iso : "-",
			     sizeof(t.s));
		return t;
	}
	util_strlcpy(t.s, iso, 20);
	t.s[10] = ' ';
	return t;
}

const char *fmt_trajectory_since(const Ipsnet__V1__Trajectory *t)
{
	const char *on = NULL;
	switch (t->status) {
	case IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_REFERRED:
		on = t->referred_on;
		break;
	case IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACCEPTED:
		on = t->accepted_on;
		break;
	case IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_DECLINED:
		on = t->declined_on;
		break;
	case IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACTIVE:
		/* after a hold, active again since the resume */
		on = t->resumed_on != NULL && t->resumed_on[0] != '\0'
			 ? t->resumed_on
			 : t->started_on;
		break;
	case IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ON_HOLD:
		on = t->held_on;
		break;
	case IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_CLOSED:
		on = t->closed_on;
		break;
	case IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_CANCELLED:
		on = t->cancelled_on;
		break;
	default:
		break;
	}
	return on != NULL ? on : "";
}

/* Hours a week without needless decimals: "24", "12.5". */
void fmt_hours(char *buf, size_t cap, double hours)
{
	snprintf(buf, cap, "%.2f", hours);
	char *dot = strchr(buf, '.');
	if (dot == NULL)
		return;
	char *end = buf + strlen(buf);
	while (end > dot + 1 && end[-1] == '0')
		*--end = '\0';
	if (end == dot + 1)
		*dot = '\0';
}

/* ---- JSON ----------------------------------------------------------- */

json_t *fmt_json_str(const char *s)
{
	if (s == NULL)
		s = "";
	json_t *j = json_string(s);
	if (j != NULL)
		return j;
	/* Not UTF-8: keep the ASCII, replace the rest. */
	size_t n = strlen(s);
	char *copy = ipsnet_malloc(n + 1);
	if (copy == NULL)
		return json_string("");
	for (size_t i = 0; i < n; i++)
		copy[i] = (unsigned char)s[i] < 0x80 ? s[i] : '?';
	copy[n] = '\0';
	j = json_string(copy);
	ipsnet_free(copy);
	return j != NULL ? j : json_string("");
}

/* A date or optional text: null when empty. */
static json_t *opt_str(const char *s)
{
	return s != NULL && s[0] != '\0' ? fmt_json_str(s) : json_null();
}

static void set(json_t *o, const char *key, json_t *v)
{
	json_object_set_new(o, key, v);
}

static json_t *version_json(uint64_t v)
{
	return json_integer((json_int_t)v);
}

json_t *fmt_client_json(const Ipsnet__V1__Client *c)
{
	json_t *o = json_object();
	set(o, "id", fmt_json_str(c->id));
	set(o, "version", version_json(c->version));
	set(o, "bsn", opt_str(c->bsn));
	set(o, "name", opt_str(c->name));
	set(o, "birth_date", opt_str(c->birth_date));
	set(o, "municipality", opt_str(c->municipality));
	set(o, "benefit",
	    c->benefit != 0 ? json_string(fmt_benefit_key(c->benefit))
			    : json_null());
	set(o, "registered_by", opt_str(c->registered_by));
	set(o, "registered_at", opt_str(c->registered_at));
	return o;
}

json_t *fmt_consent_json(const Ipsnet__V1__Consent *c)
{
	json_t *o = json_object();
	set(o, "id", fmt_json_str(c->id));
	set(o, "version", version_json(c->version));
	set(o, "client_id", opt_str(c->client_id));
	set(o, "recipient", opt_str(c->recipient));
	set(o, "purpose", opt_str(c->purpose));
	set(o, "granted_at", opt_str(c->granted_at));
	set(o, "valid_until", opt_str(c->valid_until));
	set(o, "withdrawn_at", opt_str(c->withdrawn_at));
	return o;
}

json_t *fmt_trajectory_json(const Ipsnet__V1__Trajectory *t)
{
	json_t *o = json_object();
	set(o, "id", fmt_json_str(t->id));
	set(o, "version", version_json(t->version));
	set(o, "client_id", opt_str(t->client_id));
	set(o, "program_id", opt_str(t->program_id));
	set(o, "referrer", opt_str(t->referrer));
	set(o, "status", json_string(fmt_trajectory_status_key(t->status)));
	set(o, "note", opt_str(t->note));
	set(o, "referred_on", opt_str(t->referred_on));
	set(o, "accepted_on", opt_str(t->accepted_on));
	set(o, "declined_on", opt_str(t->declined_on));
	set(o, "started_on", opt_str(t->started_on));
	set(o, "held_on", opt_str(t->held_on));
	set(o, "resumed_on", opt_str(t->resumed_on));
	set(o, "closed_on", opt_str(t->closed_on));
	set(o, "cancelled_on", opt_str(t->cancelled_on));
	set(o, "close_reason", opt_str(t->close_reason));
	return o;
}

json_t *fmt_funding_json(const Ipsnet__V1__Funding *f)
{
	json_t *o = json_object();
	set(o, "id", fmt_json_str(f->id));
	set(o, "version", version_json(f->version));
	set(o, "trajectory_id", opt_str(f->trajectory_id));
	set(o, "client_id", opt_str(f->client_id));
	set(o, "funder", opt_str(f->funder));
	set(o, "other_description", opt_str(f->other_description));
	set(o, "months", json_integer(f->months));
	set(o, "status", json_string(fmt_funding_status(f->status)));
	set(o, "requested_on", opt_str(f->requested_on));
	set(o, "decided_on", opt_str(f->decided_on));
	set(o, "decision_reference", opt_str(f->decision_reference));
	set(o, "reason", opt_str(f->reason));
	return o;
}

json_t *fmt_job_json(const Ipsnet__V1__Job *j)
{
	json_t *o = json_object();
	set(o, "id", fmt_json_str(j->id));
	set(o, "version", version_json(j->version));
	set(o, "client_id", opt_str(j->client_id));
	set(o, "trajectory_id", opt_str(j->trajectory_id));
	set(o, "employer", opt_str(j->employer));
	set(o, "start_date", opt_str(j->start_date));
	set(o, "end_date", opt_str(j->end_date));
	set(o, "hours_per_week", json_real(j->hours_per_week));
	set(o, "competitive", json_boolean(j->competitive));
	set(o, "withdrawn", json_boolean(j->withdrawn));
	return o;
}

json_t *fmt_program_json(const Ipsnet__V1__Program *p)
{
	json_t *o = json_object();
	set(o, "id", fmt_json_str(p->id));
	set(o, "version", version_json(p->version));
	set(o, "owner", opt_str(p->owner));
	set(o, "name", opt_str(p->name));
	set(o, "region", json_integer(p->region));
	set(o, "specialists", json_integer(p->specialists));
	return o;
}

json_t *fmt_review_json(const Ipsnet__V1__FidelityReview *r)
{
	json_t *o = json_object();
	json_t *scores = json_array();
	for (size_t i = 0; i < r->n_scores; i++)
		json_array_append_new(scores, json_integer(r->scores[i]));
	set(o, "id", fmt_json_str(r->id));
	set(o, "version", version_json(r->version));
	set(o, "program_id", opt_str(r->program_id));
	set(o, "review_date", opt_str(r->review_date));
	set(o, "scores", scores);
	set(o, "total", json_integer(r->total));
	set(o, "band", opt_str(r->band));
	set(o, "independent", json_boolean(r->independent));
	set(o, "recorded_by", opt_str(r->recorded_by));
	return o;
}

json_t *fmt_audit_json(const Ipsnet__V1__AuditRecord *a)
{
	json_t *o = json_object();
	set(o, "id", json_integer((json_int_t)a->id));
	set(o, "time", opt_str(a->time));
	set(o, "organisation", opt_str(a->organisation));
	set(o, "user", opt_str(a->user));
	set(o, "client_id", opt_str(a->client_id));
	set(o, "action", opt_str(a->action));
	set(o, "object", opt_str(a->object));
	set(o, "result", opt_str(a->result));
	set(o, "peer", opt_str(a->peer));
	return o;
}

json_t *fmt_case_json(const Ipsnet__V1__CaseView *v)
{
	json_t *o = json_object();
	json_t *a;
	set(o, "client",
	    v->client != NULL ? fmt_client_json(v->client) : json_null());
	a = json_array();
	for (size_t i = 0; i < v->n_consents; i++)
		json_array_append_new(a, fmt_consent_json(v->consents[i]));
	set(o, "consents", a);
	a = json_array();
	for (size_t i = 0; i < v->n_trajectories; i++)
		json_array_append_new(a,
				      fmt_trajectory_json(v->trajectories[i]));
	set(o, "trajectories", a);
	a = json_array();
	for (size_t i = 0; i < v->n_fundings; i++)
		json_array_append_new(a, fmt_funding_json(v->fundings[i]));
	set(o, "fundings", a);
	a = json_array();
	for (size_t i = 0; i < v->n_jobs; i++)
		json_array_append_new(a, fmt_job_json(v->jobs[i]));
	set(o, "jobs", a);
	return o;
}

json_t *fmt_change_json(const Ipsnet__V1__ChangeOk *ok)
{
	json_t *o = json_object();
	json_t *entity = NULL;
	set(o, "seq", json_integer((json_int_t)ok->seq));
	set(o, "kind", fmt_json_str(ok->entity_kind));
	set(o, "id", fmt_json_str(ok->entity_id));
	set(o, "version", version_json(ok->version));
	switch (ok->entity_case) {
	case IPSNET__V1__CHANGE_OK__ENTITY_CLIENT:
		entity = fmt_client_json(ok->client);
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_CONSENT:
		entity = fmt_consent_json(ok->consent);
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_TRAJECTORY:
		entity = fmt_trajectory_json(ok->trajectory);
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_FUNDING:
		entity = fmt_funding_json(ok->funding);
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_JOB:
		entity = fmt_job_json(ok->job);
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_PROGRAM:
		entity = fmt_program_json(ok->program);
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_REVIEW:
		entity = fmt_review_json(ok->review);
		break;
	default:
		break;
	}
	if (entity != NULL && ok->entity_kind != NULL &&
	    ok->entity_kind[0] != '\0')
		set(o, ok->entity_kind, entity);
	else if (entity != NULL)
		set(o, "entity", entity);
	return o;
}

/* ---- printing --------------------------------------------------------- */

static bool given(const char *s)
{
	return s != NULL && s[0] != '\0';
}

void fmt_change_state(char *buf, size_t cap, const Ipsnet__V1__ChangeOk *ok)
{
	buf[0] = '\0';
	switch (ok->entity_case) {
	case IPSNET__V1__CHANGE_OK__ENTITY_TRAJECTORY:
		snprintf(buf, cap, "%s on %s",
			 fmt_trajectory_status(ok->trajectory->status),
			 fmt_day(fmt_trajectory_since(ok->trajectory)).s);
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_FUNDING: {
		const Ipsnet__V1__Funding *f = ok->funding;
		snprintf(buf, cap, "%s on %s", fmt_funding_status(f->status),
			 fmt_day(given(f->decided_on) ? f->decided_on
						      : f->requested_on)
			     .s);
		break;
	}
	case IPSNET__V1__CHANGE_OK__ENTITY_CONSENT: {
		const Ipsnet__V1__Consent *c = ok->consent;
		if (given(c->withdrawn_at))
			snprintf(buf, cap, "withdrawn on %s",
				 fmt_day(c->withdrawn_at).s);
		else
			snprintf(buf, cap, "given until %s",
				 fmt_day(c->valid_until).s);
		break;
	}
	case IPSNET__V1__CHANGE_OK__ENTITY_JOB: {
		const Ipsnet__V1__Job *j = ok->job;
		if (j->withdrawn)
			snprintf(buf, cap, "withdrawn on %s",
				 fmt_day(j->end_date).s);
		else if (given(j->end_date))
			snprintf(buf, cap, "ended on %s",
				 fmt_day(j->end_date).s);
		else
			snprintf(buf, cap, "started on %s",
				 fmt_day(j->start_date).s);
		break;
	}
	case IPSNET__V1__CHANGE_OK__ENTITY_PROGRAM: {
		const Ipsnet__V1__Program *p = ok->program;
		char owner[64];
		snprintf(owner, sizeof(owner), "%s", p->owner);
		for (char *c = owner; *c != '\0'; c++) /* one line */
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
		snprintf(buf, cap, "of %s, region %u, %u specialist%s", owner,
			 p->region, p->specialists,
			 p->specialists == 1 ? "" : "s");
		break;
	}
	default:
		break;
	}
}

void fmt_put_text(const char *s, const char *indent)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0';
	     p++) {
		if (*p == '\r' || *p == '\n') {
			if (*p == '\r' && p[1] == '\n')
				p++;
			putchar('\n');
			fputs(indent, stdout);
		} else if (text_control_len((const char *)p) > 0) {
			putchar('?');
			p += text_control_len((const char *)p) - 1;
		} else {
			putchar(*p);
		}
	}
}

void fmt_kv(const char *label, const char *fmt, ...)
{
	va_list ap, again;
	printf("%-14s", label);
	va_start(ap, fmt);
	va_copy(again, ap);
	int n = vsnprintf(NULL, 0, fmt, ap);
	char *value = n >= 0 ? ipsnet_malloc((size_t)n + 1) : NULL;
	if (value != NULL) {
		vsnprintf(value, (size_t)n + 1, fmt, again);
		fmt_put_text(value, "              ");
		ipsnet_free(value);
	}
	va_end(again);
	va_end(ap);
	putchar('\n');
}

bool fmt_change_machine(bool json, bool quiet, const Ipsnet__V1__ChangeOk *ok)
{
	/* --json asks for JSON whatever else is asked: a script that reads
	 * it would choke on the bare id of --quiet. */
	if (quiet && !json) {
		printf("%s\n", ok->entity_id);
		return true;
	}
	if (!json)
		return false;
	json_t *o = fmt_change_json(ok);
	char *s = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER |
				    CLI_JSON_REAL_PRECISION);
	if (s != NULL)
		puts(s);
	free(s);
	json_decref(o);
	return true;
}

/* The identity block of a client, as case show and client find print it. */
void fmt_print_client(const Ipsnet__V1__Client *c)
{
	fmt_kv("client", "%s (version %llu)", c->id,
	       (unsigned long long)c->version);
	if (c->name != NULL && c->name[0] != '\0')
		fmt_kv("name", "%s", c->name);
	if (c->bsn != NULL && c->bsn[0] != '\0')
		fmt_kv("BSN", "%s", c->bsn);
	if (c->birth_date != NULL && c->birth_date[0] != '\0')
		fmt_kv("birth date", "%s", fmt_day(c->birth_date).s);
	if (c->municipality != NULL && c->municipality[0] != '\0')
		fmt_kv("municipality", "%s", c->municipality);
	if (c->benefit != 0)
		fmt_kv("benefit", "%s", fmt_benefit(c->benefit));
	if (c->registered_by != NULL && c->registered_by[0] != '\0')
		fmt_kv("registered", "%s by %s", fmt_day(c->registered_at).s,
		       c->registered_by);
}
