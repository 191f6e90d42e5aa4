#include "reads.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "conn.h"
#include "ipsnet_errors.h"
#include "log.h"
#include "util.h"
#include "validate.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name

#define AUDIT_LIMIT_DEFAULT 100
#define AUDIT_LIMIT_MAX 1000
#define FUNDING_PAGE_DEFAULT 200
#define FUNDING_PAGE_MAX 1000

/* ---- the arena --------------------------------------------------------- */

void *arena_alloc(struct arena *a, size_t size)
{
	if (a->failed)
		return NULL;
	if (a->n == a->cap) {
		size_t cap = a->cap == 0 ? 32 : a->cap * 2;
		void **grown = ipsnet_realloc(a->ptrs, cap * sizeof(*grown));
		if (grown == NULL) {
			a->failed = true;
			return NULL;
		}
		a->ptrs = grown;
		a->cap = cap;
	}
	void *p = ipsnet_calloc(1, size > 0 ? size : 1);
	if (p == NULL) {
		a->failed = true;
		return NULL;
	}
	a->ptrs[a->n++] = p;
	return p;
}

char *arena_strdup(struct arena *a, const char *s)
{
	if (s == NULL || s[0] == '\0')
		return (char *)protobuf_c_empty_string;
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(a, n);
	if (p == NULL)
		return (char *)protobuf_c_empty_string;
	memcpy(p, s, n);
	return p;
}

void arena_free(struct arena *a)
{
	for (size_t i = 0; i < a->n; i++)
		ipsnet_free(a->ptrs[i]);
	ipsnet_free(a->ptrs);
	memset(a, 0, sizeof(*a));
}

/* A growing array of message pointers in the arena. */
static bool push(struct arena *a, void ***items, size_t *n, size_t *cap,
		 void *item)
{
	if (item == NULL)
		return false;
	if (*n == *cap) {
		size_t grown_cap = *cap == 0 ? 8 : *cap * 2;
		void **grown = arena_alloc(a, grown_cap * sizeof(*grown));
		if (grown == NULL)
			return false;
		if (*n > 0)
			memcpy(grown, *items, *n * sizeof(*grown));
		*items = grown;
		*cap = grown_cap;
	}
	(*items)[(*n)++] = item;
	return true;
}

/* ---- rows to messages -------------------------------------------------- */

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t != NULL ? (const char *)t : "";
}

#define CLIENT_COLS                                                   \
	"id, version, bsn, name, birth_date, municipality, benefit, " \
	"registered_by, registered_at"
#define CONSENT_COLS                                               \
	"id, version, client_id, recipient, purpose, granted_at, " \
	"valid_until, "                                            \
	"withdrawn_at"
#define TRAJECTORY_COLS                                                \
	"id, version, client_id, program_id, referrer, status, note, " \
	"referred_on, accepted_on, declined_on, started_on, held_on, " \
	"resumed_on, closed_on, cancelled_on, close_reason"
#define FUNDING_COLS                                                      \
	"id, version, trajectory_id, funder, other_description, months, " \
	"status, requested_on, decided_on, decision_reference, reason, "  \
	"client_id, requested_by"
#define JOB_COLS                                                        \
	"id, version, client_id, trajectory_id, employer, start_date, " \
	"end_date, hours_per_week, competitive, withdrawn"
#define PROGRAM_COLS "id, version, owner, name, region, specialists"
#define REVIEW_COLS                                                   \
	"id, version, program_id, review_date, scores, total, band, " \
	"independent, recorded_by"

static Ipsnet__V1__Client *row_client(struct arena *a, sqlite3_stmt *st)
{
	Ipsnet__V1__Client *m = arena_alloc(a, sizeof(*m));
	if (m == NULL)
		return NULL;
	ipsnet__v1__client__init(m);
	m->id = arena_strdup(a, col(st, 0));
	m->version = (uint64_t)sqlite3_column_int64(st, 1);
	m->bsn = arena_strdup(a, col(st, 2));
	m->name = arena_strdup(a, col(st, 3));
	m->birth_date = arena_strdup(a, col(st, 4));
	m->municipality = arena_strdup(a, col(st, 5));
	m->benefit = sqlite3_column_int(st, 6);
	m->registered_by = arena_strdup(a, col(st, 7));
	m->registered_at = arena_strdup(a, col(st, 8));
	return m;
}

static Ipsnet__V1__Consent *row_consent(struct arena *a, sqlite3_stmt *st)
{
	Ipsnet__V1__Consent *m = arena_alloc(a, sizeof(*m));
	if (m == NULL)
		return NULL;
	ipsnet__v1__consent__init(m);
	m->id = arena_strdup(a, col(st, 0));
	m->version = (uint64_t)sqlite3_column_int64(st, 1);
	m->client_id = arena_strdup(a, col(st, 2));
	m->recipient = arena_strdup(a, col(st, 3));
	m->purpose = arena_strdup(a, col(st, 4));
	m->granted_at = arena_strdup(a, col(st, 5));
	m->valid_until = arena_strdup(a, col(st, 6));
	m->withdrawn_at = arena_strdup(a, col(st, 7));
	return m;
}

static Ipsnet__V1__Trajectory *row_trajectory(struct arena *a, sqlite3_stmt *st)
{
	Ipsnet__V1__Trajectory *m = arena_alloc(a, sizeof(*m));
	if (m == NULL)
		return NULL;
	ipsnet__v1__trajectory__init(m);
	m->id = arena_strdup(a, col(st, 0));
	m->version = (uint64_t)sqlite3_column_int64(st, 1);
	m->client_id = arena_strdup(a, col(st, 2));
	m->program_id = arena_strdup(a, col(st, 3));
	m->referrer = arena_strdup(a, col(st, 4));
	m->status = sqlite3_column_int(st, 5);
	m->note = arena_strdup(a, col(st, 6));
	m->referred_on = arena_strdup(a, col(st, 7));
	m->accepted_on = arena_strdup(a, col(st, 8));
	m->declined_on = arena_strdup(a, col(st, 9));
	m->started_on = arena_strdup(a, col(st, 10));
	m->held_on = arena_strdup(a, col(st, 11));
	m->resumed_on = arena_strdup(a, col(st, 12));
	m->closed_on = arena_strdup(a, col(st, 13));
	m->cancelled_on = arena_strdup(a, col(st, 14));
	m->close_reason = arena_strdup(a, col(st, 15));
	return m;
}

static Ipsnet__V1__Funding *row_funding(struct arena *a, sqlite3_stmt *st)
{
	Ipsnet__V1__Funding *m = arena_alloc(a, sizeof(*m));
	if (m == NULL)
		return NULL;
	ipsnet__v1__funding__init(m);
	m->id = arena_strdup(a, col(st, 0));
	m->version = (uint64_t)sqlite3_column_int64(st, 1);
	m->trajectory_id = arena_strdup(a, col(st, 2));
	m->funder = arena_strdup(a, col(st, 3));
	m->other_description = arena_strdup(a, col(st, 4));
	m->months = (uint32_t)sqlite3_column_int(st, 5);
	m->status = sqlite3_column_int(st, 6);
	m->requested_on = arena_strdup(a, col(st, 7));
	m->decided_on = arena_strdup(a, col(st, 8));
	m->decision_reference = arena_strdup(a, col(st, 9));
	m->reason = arena_strdup(a, col(st, 10));
	m->client_id = arena_strdup(a, col(st, 11));
	m->requested_by = arena_strdup(a, col(st, 12));
	return m;
}

static Ipsnet__V1__Job *row_job(struct arena *a, sqlite3_stmt *st)
{
	Ipsnet__V1__Job *m = arena_alloc(a, sizeof(*m));
	if (m == NULL)
		return NULL;
	ipsnet__v1__job__init(m);
	m->id = arena_strdup(a, col(st, 0));
	m->version = (uint64_t)sqlite3_column_int64(st, 1);
	m->client_id = arena_strdup(a, col(st, 2));
	m->trajectory_id = arena_strdup(a, col(st, 3));
	m->employer = arena_strdup(a, col(st, 4));
	m->start_date = arena_strdup(a, col(st, 5));
	m->end_date = arena_strdup(a, col(st, 6));
	m->hours_per_week = sqlite3_column_double(st, 7);
	m->competitive = sqlite3_column_int(st, 8) != 0;
	m->withdrawn = sqlite3_column_int(st, 9) != 0;
	return m;
}

static Ipsnet__V1__Program *row_program(struct arena *a, sqlite3_stmt *st)
{
	Ipsnet__V1__Program *m = arena_alloc(a, sizeof(*m));
	if (m == NULL)
		return NULL;
	ipsnet__v1__program__init(m);
	m->id = arena_strdup(a, col(st, 0));
	m->version = (uint64_t)sqlite3_column_int64(st, 1);
	m->owner = arena_strdup(a, col(st, 2));
	m->name = arena_strdup(a, col(st, 3));
	m->region = (uint32_t)sqlite3_column_int(st, 4);
	m->specialists = (uint32_t)sqlite3_column_int(st, 5);
	return m;
}

static Ipsnet__V1__FidelityReview *row_review(struct arena *a, sqlite3_stmt *st)
{
	Ipsnet__V1__FidelityReview *m = arena_alloc(a, sizeof(*m));
	if (m == NULL)
		return NULL;
	ipsnet__v1__fidelity_review__init(m);
	m->id = arena_strdup(a, col(st, 0));
	m->version = (uint64_t)sqlite3_column_int64(st, 1);
	m->program_id = arena_strdup(a, col(st, 2));
	m->review_date = arena_strdup(a, col(st, 3));
	/* The scores are kept as "5,4,3,...". */
	const char *scores = col(st, 4);
	size_t n = scores[0] != '\0' ? 1 : 0;
	for (const char *p = scores; *p != '\0'; p++)
		n += *p == ',';
	m->scores = arena_alloc(a, (n > 0 ? n : 1) * sizeof(*m->scores));
	if (m->scores == NULL)
		return NULL;
	for (const char *p = scores; *p != '\0' && m->n_scores < n;) {
		m->scores[m->n_scores++] = (uint32_t)strtoul(p, NULL, 10);
		const char *comma = strchr(p, ',');
		if (comma == NULL)
			break;
		p = comma + 1;
	}
	m->total = (uint32_t)sqlite3_column_int(st, 5);
	m->band = arena_strdup(a, col(st, 6));
	m->independent = sqlite3_column_int(st, 7) != 0;
	m->recorded_by = arena_strdup(a, col(st, 8));
	return m;
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK
		   ? 0
		   : IPSNET_EDB;
}

typedef void *(*row_fn)(struct arena *a, sqlite3_stmt *st);

/* One row by id through fn. */
static int read_one(sqlite3 *db, struct arena *a, const char *sql,
		    const char *id, row_fn fn, void **out)
{
	sqlite3_stmt *st;
	if (prepare(db, sql, &st) != 0)
		return IPSNET_EDB;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	int rv = 0;
	if (rc == SQLITE_ROW) {
		*out = fn(a, st);
		if (*out == NULL)
			rv = IPSNET_ENOMEM;
	} else {
		rv = rc == SQLITE_DONE ? IPSNET_ENOT_FOUND : IPSNET_EDB;
	}
	sqlite3_finalize(st);
	return rv;
}

int reads_client(sqlite3 *db, struct arena *a, const char *id,
		 Ipsnet__V1__Client **out)
{
	return read_one(db, a,
			"SELECT " CLIENT_COLS " FROM client WHERE id = ?1", id,
			(row_fn)row_client, (void **)out);
}

int reads_consent(sqlite3 *db, struct arena *a, const char *id,
		  Ipsnet__V1__Consent **out)
{
	return read_one(db, a,
			"SELECT " CONSENT_COLS " FROM consent WHERE id = ?1",
			id, (row_fn)row_consent, (void **)out);
}

int reads_trajectory(sqlite3 *db, struct arena *a, const char *id,
		     Ipsnet__V1__Trajectory **out)
{
	return read_one(
	    db, a, "SELECT " TRAJECTORY_COLS " FROM trajectory WHERE id = ?1",
	    id, (row_fn)row_trajectory, (void **)out);
}

int reads_funding(sqlite3 *db, struct arena *a, const char *id,
		  Ipsnet__V1__Funding **out)
{
	return read_one(db, a,
			"SELECT " FUNDING_COLS " FROM funding WHERE id = ?1",
			id, (row_fn)row_funding, (void **)out);
}

int reads_job(sqlite3 *db, struct arena *a, const char *id,
	      Ipsnet__V1__Job **out)
{
	return read_one(db, a, "SELECT " JOB_COLS " FROM job WHERE id = ?1", id,
			(row_fn)row_job, (void **)out);
}

int reads_review(sqlite3 *db, struct arena *a, const char *id,
		 Ipsnet__V1__FidelityReview **out)
{
	return read_one(
	    db, a, "SELECT " REVIEW_COLS " FROM fidelity_review WHERE id = ?1",
	    id, (row_fn)row_review, (void **)out);
}

/* Every row of sql (with id bound to ?1, unless NULL) through fn into a
 * growing array. */
static int read_all(sqlite3 *db, struct arena *a, const char *sql,
		    const char *id, row_fn fn, void ***items, size_t *n)
{
	sqlite3_stmt *st;
	size_t cap = 0;
	int rc, rv = 0;
	if (prepare(db, sql, &st) != 0)
		return IPSNET_EDB;
	if (id != NULL)
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (!push(a, items, n, &cap, fn(a, st))) {
			rv = IPSNET_ENOMEM;
			break;
		}
	}
	if (rv == 0 && rc != SQLITE_DONE)
		rv = IPSNET_EDB;
	sqlite3_finalize(st);
	return rv;
}

int reads_client_facts_cached(sqlite3 *db, sqlite3_stmt **cache,
			      const char *client_id, const char *org,
			      const char *today, struct policy_client *out)
{
	memset(out, 0, sizeof(*out));
	if (client_id == NULL || client_id[0] == '\0')
		return 0;
	if (*cache == NULL &&
	    sqlite3_prepare_v3(
		db,
		"SELECT c.registered_by,"
		" EXISTS (SELECT 1 FROM trajectory t JOIN program p ON"
		"  p.id = t.program_id WHERE t.client_id = c.id AND"
		"  p.owner = ?2),"
		" EXISTS (SELECT 1 FROM funding f WHERE f.client_id = c.id"
		"  AND f.funder = ?2),"
		" EXISTS (SELECT 1 FROM consent k WHERE k.client_id = c.id"
		"  AND k.recipient = ?2 AND k.withdrawn_at IS NULL AND"
		"  k.valid_until >= ?3)"
		" FROM client c WHERE c.id = ?1",
		-1, SQLITE_PREPARE_PERSISTENT, cache, NULL) != SQLITE_OK)
		return IPSNET_EDB;
	sqlite3_stmt *st = *cache;
	sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, today, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		out->exists = true;
		util_strlcpy(out->registered_by, col(st, 0),
			     sizeof(out->registered_by));
		out->in_own_program = sqlite3_column_int(st, 1) != 0;
		out->funding_addressed = sqlite3_column_int(st, 2) != 0;
		out->consent_live = sqlite3_column_int(st, 3) != 0;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : IPSNET_EDB;
}

int reads_client_facts(sqlite3 *db, const char *client_id, const char *org,
		       const char *today, struct policy_client *out)
{
	sqlite3_stmt *st = NULL;
	int rv = reads_client_facts_cached(db, &st, client_id, org, today, out);
	sqlite3_finalize(st);
	return rv;
}

/* ---- the reads --------------------------------------------------------- */

bool reads_is_read(int body_case)
{
	switch (body_case) {
	case BODY(FIND_CLIENT):
	case BODY(SHOW_CASE):
	case BODY(LIST_FUNDING):
	case BODY(LIST_PROGRAMS):
	case BODY(AUDIT_QUERY):
		return true;
	}
	return false;
}

static int fail(struct reads_ctx *ctx, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct reads_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->message, sizeof(ctx->message), fmt, ap);
	va_end(ap);
	ctx->err = err;
	return err;
}

/* Adds an audit row; its result is filled in when the read has ended. */
static struct journal_audit_row *
audit(struct reads_ctx *ctx, const char *action, const char *client_id,
      const char *object_kind, const char *object_id)
{
	struct journal_audit_row *grown = ipsnet_realloc(
	    ctx->audit, (ctx->n_audit + 1) * sizeof(*ctx->audit));
	if (grown == NULL)
		return NULL;
	ctx->audit = grown;
	struct journal_audit_row *r = &ctx->audit[ctx->n_audit++];
	memset(r, 0, sizeof(*r));
	r->time_us = ctx->now_us;
	util_strlcpy(r->org, ctx->actor->org, sizeof(r->org));
	util_strlcpy(r->user, ctx->actor->user, sizeof(r->user));
	util_strlcpy(r->peer, ctx->actor->peer, sizeof(r->peer));
	util_strlcpy(r->client_id, client_id != NULL ? client_id : "",
		     sizeof(r->client_id));
	util_strlcpy(r->action, action, sizeof(r->action));
	snprintf(r->object, sizeof(r->object), "%s:%s", object_kind,
		 object_id != NULL && object_id[0] != '\0' ? object_id : "-");
	return r;
}

static int pack(struct reads_ctx *ctx, Ipsnet__V1__Envelope *env)
{
	Ipsnet__V1__Status status = IPSNET__V1__STATUS__INIT;
	env->status = &status;
	size_t n = ipsnet__v1__envelope__get_packed_size(env);
	ctx->response = ipsnet_malloc(n);
	if (ctx->response == NULL)
		return IPSNET_ENOMEM;
	ctx->response_len = ipsnet__v1__envelope__pack(env, ctx->response);
	env->status = NULL;
	return 0;
}

/* Cuts a client to what view shows. */
static void cut_client(Ipsnet__V1__Client *m, enum policy_view v)
{
	if (!policy_view_has_registration(v)) {
		m->registered_by = (char *)protobuf_c_empty_string;
		m->registered_at = (char *)protobuf_c_empty_string;
	}
}

/* Everything about one client that view shows to the caller. */
static int build_case(sqlite3 *db, struct arena *a,
		      const struct journal_actor *who, const char *client_id,
		      enum policy_view view, Ipsnet__V1__CaseView *cv)
{
	int rv = reads_client(db, a, client_id, &cv->client);
	if (rv != 0)
		return rv;
	cut_client(cv->client, view);

	void **items = NULL;
	size_t n = 0;
	rv = read_all(db, a,
		      "SELECT " CONSENT_COLS " FROM consent WHERE client_id = "
		      "?1 ORDER BY granted_at, id",
		      client_id, (row_fn)row_consent, &items, &n);
	if (rv != 0)
		return rv;
	cv->consents = (Ipsnet__V1__Consent **)items;
	for (size_t i = 0; i < n; i++)
		if (policy_view_has_consent(who, view,
					    cv->consents[i]->recipient))
			cv->consents[cv->n_consents++] = cv->consents[i];

	items = NULL;
	n = 0;
	rv = read_all(db, a,
		      "SELECT " TRAJECTORY_COLS " FROM trajectory WHERE "
		      "client_id = ?1 ORDER BY referred_on, id",
		      client_id, (row_fn)row_trajectory, &items, &n);
	if (rv != 0)
		return rv;
	cv->trajectories = (Ipsnet__V1__Trajectory **)items;
	cv->n_trajectories = n;
	if (!policy_view_has_note(view))
		for (size_t i = 0; i < n; i++)
			cv->trajectories[i]->note =
			    (char *)protobuf_c_empty_string;

	items = NULL;
	n = 0;
	rv = read_all(db, a,
		      "SELECT " FUNDING_COLS " FROM funding WHERE client_id = "
		      "?1 ORDER BY requested_on, id",
		      client_id, (row_fn)row_funding, &items, &n);
	if (rv != 0)
		return rv;
	cv->fundings = (Ipsnet__V1__Funding **)items;
	for (size_t i = 0; i < n; i++)
		if (policy_view_has_funding(who, view, cv->fundings[i]->funder))
			cv->fundings[cv->n_fundings++] = cv->fundings[i];

	items = NULL;
	n = 0;
	rv = read_all(db, a,
		      "SELECT " JOB_COLS " FROM job WHERE client_id = ?1 "
		      "ORDER BY start_date, id",
		      client_id, (row_fn)row_job, &items, &n);
	if (rv != 0)
		return rv;
	cv->jobs = (Ipsnet__V1__Job **)items;
	cv->n_jobs = n;
	return 0;
}

static int answer_case(sqlite3 *db, struct reads_ctx *ctx,
		       const char *client_id, enum policy_view view)
{
	struct arena a = {0};
	Ipsnet__V1__CaseView cv = IPSNET__V1__CASE_VIEW__INIT;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	int rv = build_case(db, &a, ctx->actor, client_id, view, &cv);
	if (rv == 0 && a.failed)
		rv = IPSNET_ENOMEM;
	if (rv == 0) {
		env.body_case = BODY(CASE_VIEW);
		env.case_view = &cv;
		rv = pack(ctx, &env);
	}
	arena_free(&a);
	return rv;
}

static void today(const struct reads_ctx *ctx, char buf[16])
{
	nl_date_of_us(buf, 16, ctx->now_us);
}

static int show_case(sqlite3 *db, struct reads_ctx *ctx)
{
	const char *id = ctx->req->show_case->client_id;
	struct journal_audit_row *row =
	    audit(ctx, "show_case", id, "client", id);
	struct policy_client facts;
	enum policy_view view;
	char day[16];

	if (row == NULL)
		return IPSNET_ENOMEM;
	today(ctx, day);
	int rv = reads_client_facts(db, id, ctx->actor->org, day, &facts);
	if (rv != 0)
		return rv;
	if (policy_see_client(ctx->actor, &facts, &view, ctx->message,
			      sizeof(ctx->message)) != 0)
		return ctx->err = IPSNET_EPERMISSION;
	return answer_case(db, ctx, id, view);
}

/* A search for a BSN that another GGZ registered finds nothing for the
 * caller, who learns no more than that (and a search refused to a funder
 * or the network operator is refused alike); but the search is on that
 * client's trail, so that its own GGZ sees who looked for it: the
 * search's row names the first such client, one more row each further
 * one (the same BSN registered by several GGZs). */
static int trace_search_elsewhere(sqlite3 *db, struct reads_ctx *ctx,
				  const char *bsn)
{
	size_t first = ctx->n_audit - 1; /* the search's own row */
	sqlite3_stmt *st;
	int rc, rv = 0;

	if (prepare(db,
		    "SELECT id FROM client WHERE bsn = ?1 AND registered_by IN "
		    "(SELECT id FROM organisation WHERE kind = 'GGZ' AND id "
		    "<> ?2) ORDER BY id",
		    &st) != 0)
		return IPSNET_EDB;
	sqlite3_bind_text(st, 1, bsn, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, ctx->actor->org, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *other = col(st, 0);
		struct journal_audit_row *r = &ctx->audit[first];
		if (r->client_id[0] != '\0' &&
		    (r = audit(ctx, "find_client", NULL, "client", NULL)) ==
			NULL) {
			rv = IPSNET_ENOMEM;
			break;
		}
		util_strlcpy(r->client_id, other, sizeof(r->client_id));
		snprintf(r->object, sizeof(r->object), "client:%s", other);
	}
	if (rv == 0 && rc != SQLITE_DONE)
		rv = IPSNET_EDB;
	sqlite3_finalize(st);
	return rv;
}

static int find_client(sqlite3 *db, struct reads_ctx *ctx)
{
	const char *bsn = ctx->req->find_client->bsn;
	struct journal_audit_row *row =
	    audit(ctx, "find_client", NULL, "client", "by-bsn");
	struct policy_client facts;
	enum policy_view view;
	sqlite3_stmt *st;
	char id[JOURNAL_ID_MAX] = "", day[16];
	int rv;

	if (row == NULL)
		return IPSNET_ENOMEM;
	if (policy_find_client(ctx->actor, ctx->message,
			       sizeof(ctx->message)) != 0) {
		/* Refused, but a look for that person all the same: on the
		 * trail of each client with this BSN. */
		if (bsn_valid(bsn) &&
		    (rv = trace_search_elsewhere(db, ctx, bsn)) != 0)
			return rv;
		return ctx->err = IPSNET_EPERMISSION;
	}
	if (!bsn_valid(bsn))
		return fail(ctx, IPSNET_EINVAL,
			    "the BSN must be 9 digits that pass the 11-proof");
	if (prepare(db,
		    "SELECT id FROM client WHERE registered_by = ?1 AND bsn = "
		    "?2",
		    &st) != 0)
		return IPSNET_EDB;
	sqlite3_bind_text(st, 1, ctx->actor->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, bsn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		util_strlcpy(id, col(st, 0), sizeof(id));
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return IPSNET_EDB;
	if (rc == SQLITE_DONE) {
		rv = trace_search_elsewhere(db, ctx, bsn);
		if (rv != 0)
			return rv;
		return fail(ctx, IPSNET_ENOT_FOUND,
			    "no client with this BSN is registered by your "
			    "organisation");
	}
	util_strlcpy(row->client_id, id, sizeof(row->client_id));
	snprintf(row->object, sizeof(row->object), "client:%s", id);
	today(ctx, day);
	rv = reads_client_facts(db, id, ctx->actor->org, day, &facts);
	if (rv != 0)
		return rv;
	if (policy_see_client(ctx->actor, &facts, &view, ctx->message,
			      sizeof(ctx->message)) != 0)
		return ctx->err = IPSNET_EPERMISSION;
	return answer_case(db, ctx, id, view);
}

/* A set of client ids, for each client of a page once: open addressing
 * over a power of two of slots, at least twice the most ids it holds. */
struct id_set {
	const char **slots;
	size_t mask;
};

static bool id_set_init(struct id_set *set, struct arena *a, size_t most)
{
	size_t n = 16;
	while (n < 2 * most)
		n *= 2;
	set->slots = arena_alloc(a, n * sizeof(*set->slots));
	set->mask = n - 1;
	return set->slots != NULL;
}

/* Adds id (kept by pointer); false when it was there already. */
static bool id_set_add(struct id_set *set, const char *id)
{
	uint64_t h = 14695981039346656037u; /* FNV-1a */
	for (const char *p = id; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 1099511628211u;
	for (size_t i = (size_t)h & set->mask;; i = (i + 1) & set->mask) {
		if (set->slots[i] == NULL) {
			set->slots[i] = id;
			return true;
		}
		if (strcmp(set->slots[i], id) == 0)
			return false;
	}
}

/* The bytes a message of packed size n takes as a field (number < 16) of
 * another: the tag, the length and the message. */
static size_t field_bytes(size_t n)
{
	size_t bytes = 2 + n;
	for (size_t v = n; v >= 0x80; v >>= 7)
		bytes++;
	return bytes;
}

/* What a FundingList answer holds beyond its requests and clients: the
 * request id the connection puts in front, the status, the body's tag and
 * length, more and the cursor. */
#define FUNDING_PAGE_OVERHEAD_BYTES (64 + JOURNAL_ID_MAX)

/* What an AuditList answer holds beyond its records: the request id, the
 * status, the body's tag and length, and more. */
#define AUDIT_LIST_OVERHEAD_BYTES 64

/* The funding requests addressed to a funder (or asked by a GGZ), each
 * with its client as far as the caller may see it at this moment, a page
 * at a time (ListFunding). A request whose client the caller may not see
 * (a funder without live consent) is left out whole. A page holds at most
 * limit requests and no more than fits in one frame; more says whether a
 * request the caller may see follows. */
static int list_funding(sqlite3 *db, struct reads_ctx *ctx)
{
	const Ipsnet__V1__ListFunding *q = ctx->req->list_funding;
	bool pending = q->pending_only;
	bool ggz = ctx->actor->org_kind == ORG_KIND_GGZ;
	bool has_after = q->after_id != NULL && q->after_id[0] != '\0';
	struct arena a = {0};
	Ipsnet__V1__FundingList fl = IPSNET__V1__FUNDING_LIST__INIT;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	void **fundings = NULL, **clients = NULL;
	size_t n_fundings = 0, n_clients = 0, cap_fundings = 0, cap_clients = 0;
	struct id_set seen;
	sqlite3_stmt *st, *facts_st = NULL;
	char day[16], sql[1024];
	int rc, rv = 0;

	if (policy_list_funding(ctx->actor, ctx->message,
				sizeof(ctx->message)) != 0) {
		if (audit(ctx, "list_funding", NULL, "funding", NULL) == NULL)
			return IPSNET_ENOMEM;
		return ctx->err = IPSNET_EPERMISSION;
	}
	if (has_after != (q->after_requested_on != NULL &&
			  q->after_requested_on[0] != '\0') ||
	    (has_after && !date_valid(q->after_requested_on))) {
		/* Refused, and on the trail as every refused read. */
		if (audit(ctx, "list_funding", NULL, "funding", NULL) == NULL)
			return IPSNET_ENOMEM;
		return fail(ctx, IPSNET_EINVAL,
			    "the cursor is after_requested_on (YYYY-MM-DD) "
			    "and after_id together, as the previous page's "
			    "next_requested_on and next_id");
	}
	/* A client that does not page (no limit and no cursor: one from
	 * before paging) gets its whole list when it fits in one answer,
	 * and a refusal when it does not: never a list cut short without a
	 * word. */
	bool unpaged = q->limit == 0 && !has_after;
	uint32_t limit = unpaged || q->limit > FUNDING_PAGE_MAX
			     ? FUNDING_PAGE_MAX
			 : q->limit == 0 ? FUNDING_PAGE_DEFAULT
					 : q->limit;
	size_t budget =
	    ctx->max_answer_bytes > FUNDING_PAGE_OVERHEAD_BYTES
		? ctx->max_answer_bytes - FUNDING_PAGE_OVERHEAD_BYTES
		: 0;
	size_t used = 0;
	if (!id_set_init(&seen, &a, limit)) {
		arena_free(&a);
		return IPSNET_ENOMEM;
	}
	today(ctx, day);
	/* A GGZ's: those it asked for, and those of the trajectories of the
	 * programs it runs now (handed to it since), which it may withdraw
	 * or decide (policy_decide_funding). */
	snprintf(sql, sizeof(sql),
		 "SELECT " FUNDING_COLS " FROM funding WHERE %s %s %s "
		 "ORDER BY requested_on, id",
		 ggz ? "(requested_by = ?1 OR trajectory_id IN (SELECT t.id "
		       "FROM trajectory t JOIN program p ON p.id = "
		       "t.program_id WHERE p.owner = ?1))"
		     : "funder = ?1",
		 pending ? "AND status = 1" : "",
		 has_after ? "AND (requested_on, id) > (?2, ?3)" : "");
	if (prepare(db, sql, &st) != 0) {
		arena_free(&a);
		return IPSNET_EDB;
	}
	sqlite3_bind_text(st, 1, ctx->actor->org, -1, SQLITE_STATIC);
	if (has_after) {
		sqlite3_bind_text(st, 2, q->after_requested_on, -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(st, 3, q->after_id, -1, SQLITE_STATIC);
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		Ipsnet__V1__Funding *f = row_funding(&a, st);
		Ipsnet__V1__Client *client = NULL;
		struct policy_client facts;
		enum policy_view view;
		char why[256];
		if (f == NULL) {
			rv = IPSNET_ENOMEM;
			break;
		}
		rv = reads_client_facts_cached(db, &facts_st, f->client_id,
					       ctx->actor->org, day, &facts);
		if (rv != 0)
			break;
		if (policy_see_client(ctx->actor, &facts, &view, why,
				      sizeof(why)) != 0)
			continue;
		/* A request the caller may see follows the full page. */
		if (n_fundings == limit) {
			fl.more = true;
			break;
		}
		size_t cost =
		    field_bytes(ipsnet__v1__funding__get_packed_size(f));
		if (id_set_add(&seen, f->client_id)) {
			rv = reads_client(db, &a, f->client_id, &client);
			if (rv != 0)
				break;
			cut_client(client, view);
			cost += field_bytes(
			    ipsnet__v1__client__get_packed_size(client));
		}
		if (budget > 0 && used + cost > budget) {
			if (n_fundings == 0) {
				/* Read, not given: traced as refused. */
				if (audit(ctx, "list_funding", f->client_id,
					  "funding", f->id) == NULL) {
					rv = IPSNET_ENOMEM;
					break;
				}
				rv = fail(ctx, IPSNET_EFRAME_TOO_LARGE,
					  "funding request %s with its client "
					  "takes %zu bytes, more than one "
					  "answer may hold under the server's "
					  "max_frame_bytes",
					  f->id, cost);
				break;
			}
			fl.more = true;
			break;
		}
		used += cost;
		if (!push(&a, &fundings, &n_fundings, &cap_fundings, f) ||
		    (client != NULL &&
		     !push(&a, &clients, &n_clients, &cap_clients, client))) {
			rv = IPSNET_ENOMEM;
			break;
		}
		if (audit(ctx, "list_funding", f->client_id, "funding",
			  f->id) == NULL) {
			rv = IPSNET_ENOMEM;
			break;
		}
	}
	if (rv == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		rv = IPSNET_EDB;
	sqlite3_finalize(facts_st);
	sqlite3_finalize(st);
	if (rv == 0 && unpaged && fl.more)
		rv = fail(ctx, IPSNET_EFRAME_TOO_LARGE,
			  "the funding requests are more than one answer "
			  "holds (at most %u, within the server's "
			  "max_frame_bytes), and this client does not ask "
			  "for them a page at a time: use an ipsnet that "
			  "does (ListFunding.limit and its cursor)",
			  FUNDING_PAGE_MAX);
	if (rv != 0)
		goto out;
	/* An empty list read no one's data, but the look is still traced. */
	if (ctx->n_audit == 0 &&
	    audit(ctx, "list_funding", NULL, "funding", NULL) == NULL)
		rv = IPSNET_ENOMEM;
	if (rv == 0 && a.failed)
		rv = IPSNET_ENOMEM;
	if (rv == 0) {
		fl.fundings = (Ipsnet__V1__Funding **)fundings;
		fl.n_fundings = n_fundings;
		fl.clients = (Ipsnet__V1__Client **)clients;
		fl.n_clients = n_clients;
		if (n_fundings > 0) {
			const Ipsnet__V1__Funding *last =
			    fundings[n_fundings - 1];
			fl.next_requested_on = last->requested_on;
			fl.next_id = last->id;
		}
		env.body_case = BODY(FUNDING_LIST);
		env.funding_list = &fl;
		rv = pack(ctx, &env);
	}
out:
	arena_free(&a);
	return rv;
}

/* Every program, with its latest fidelity review: on one day an
 * independent review before a self-assessment, then the larger id, as the
 * report picks it. No personal data: no audit row. */
static int list_programs(sqlite3 *db, struct reads_ctx *ctx)
{
	struct arena a = {0};
	Ipsnet__V1__ProgramList pl = IPSNET__V1__PROGRAM_LIST__INIT;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	void **programs = NULL, **reviews = NULL;
	size_t n_programs = 0, n_reviews = 0, cap_reviews = 0;
	int rv;

	if (policy_list_programs(ctx->actor, ctx->message,
				 sizeof(ctx->message)) != 0)
		return ctx->err = IPSNET_EPERMISSION;
	rv =
	    read_all(db, &a, "SELECT " PROGRAM_COLS " FROM program ORDER BY id",
		     NULL, (row_fn)row_program, &programs, &n_programs);
	for (size_t i = 0; rv == 0 && i < n_programs; i++) {
		void **latest = NULL;
		size_t n = 0;
		rv =
		    read_all(db, &a,
			     "SELECT " REVIEW_COLS " FROM fidelity_review "
			     "WHERE program_id = ?1 ORDER BY review_date DESC, "
			     "independent DESC, id DESC LIMIT 1",
			     ((Ipsnet__V1__Program *)programs[i])->id,
			     (row_fn)row_review, &latest, &n);
		if (rv == 0 && n == 1 &&
		    !push(&a, &reviews, &n_reviews, &cap_reviews, latest[0]))
			rv = IPSNET_ENOMEM;
	}
	if (rv == 0 && a.failed)
		rv = IPSNET_ENOMEM;
	if (rv == 0) {
		pl.programs = (Ipsnet__V1__Program **)programs;
		pl.n_programs = n_programs;
		pl.reviews = (Ipsnet__V1__FidelityReview **)reviews;
		pl.n_reviews = n_reviews;
		env.body_case = BODY(PROGRAM_LIST);
		env.program_list = &pl;
		rv = pack(ctx, &env);
	}
	arena_free(&a);
	return rv;
}

/* "YYYY-MM-DD", a day in the Netherlands as every date ipsnet takes, from
 * its midnight there; or "YYYY-MM-DDTHH:MM:SS[.f...]Z" (UTC); into
 * microseconds since the epoch. */
static bool parse_since(const char *s, int64_t *out)
{
	char date[11];
	int h = 0, mi = 0, sec = 0;
	long us = 0;
	size_t len = strlen(s);
	if (len < 10)
		return false;
	memcpy(date, s, 10);
	date[10] = '\0';
	if (!date_valid(date))
		return false;
	if (len == 10) {
		*out = nl_day_start_us(date);
		return true;
	}
	if (len > 10) {
		const char *p = s + 10;
		char frac[8] = "";
		int used = 0;
		if (sscanf(p, "T%2d:%2d:%2d%n", &h, &mi, &sec, &used) != 3 ||
		    used != 9 || h > 23 || mi > 59 || sec > 60)
			return false;
		p += used;
		if (*p == '.') {
			p++;
			size_t k = 0;
			while (p[k] >= '0' && p[k] <= '9') {
				if (k < 6)
					frac[k] = p[k];
				k++;
			}
			if (k == 0)
				return false;
			for (size_t i = strlen(frac); i < 6; i++)
				frac[i] = '0';
			frac[6] = '\0';
			us = strtol(frac, NULL, 10);
			p += k;
		}
		if (strcmp(p, "Z") != 0)
			return false;
	}
	*out = ((int64_t)date_days(date) * 86400 + h * 3600 + mi * 60 + sec) *
		   1000000 +
	       us;
	return true;
}

static Ipsnet__V1__AuditRecord *row_audit(struct arena *a, sqlite3_stmt *st)
{
	Ipsnet__V1__AuditRecord *m = arena_alloc(a, sizeof(*m));
	char when[32];
	if (m == NULL)
		return NULL;
	ipsnet__v1__audit_record__init(m);
	m->id = (uint64_t)sqlite3_column_int64(st, 0);
	util_iso8601(when, sizeof(when), (uint64_t)sqlite3_column_int64(st, 1));
	m->time = arena_strdup(a, when);
	m->organisation = arena_strdup(a, col(st, 2));
	m->user = arena_strdup(a, col(st, 3));
	m->client_id = arena_strdup(a, col(st, 4));
	m->action = arena_strdup(a, col(st, 5));
	m->object = arena_strdup(a, col(st, 6));
	m->result = arena_strdup(a, col(st, 7));
	m->peer = arena_strdup(a, col(st, 8));
	return m;
}

static int audit_query(sqlite3 *db, struct reads_ctx *ctx)
{
	const Ipsnet__V1__AuditQuery *q = ctx->req->audit_query;
	const char *client_id = q->client_id != NULL && q->client_id[0] != '\0'
				    ? q->client_id
				    : NULL;
	bool has_since = q->since != NULL && q->since[0] != '\0';
	/* From since, or from after_id, on: oldest first. */
	bool forward = has_since || q->after_id > 0;
	struct arena a = {0};
	Ipsnet__V1__AuditList al = IPSNET__V1__AUDIT_LIST__INIT;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	struct policy_client facts;
	void **records = NULL;
	size_t n = 0, cap = 0;
	int64_t since = 0;
	sqlite3_stmt *st;
	char day[16], sql[512];
	int rc, rv;

	if (audit(ctx, "audit_query", client_id, "audit",
		  client_id != NULL ? client_id : "all") == NULL)
		return IPSNET_ENOMEM;
	today(ctx, day);
	rv = reads_client_facts(db, client_id, ctx->actor->org, day, &facts);
	if (rv != 0)
		return rv;
	if (policy_audit_query(ctx->actor, client_id != NULL ? &facts : NULL,
			       ctx->message, sizeof(ctx->message)) != 0)
		return ctx->err = IPSNET_EPERMISSION;
	if (has_since && !parse_since(q->since, &since))
		return fail(ctx, IPSNET_EINVAL,
			    "since must be a day in the Netherlands "
			    "(YYYY-MM-DD) or a UTC time "
			    "(YYYY-MM-DDTHH:MM:SSZ)");
	uint32_t limit = q->limit == 0 ? AUDIT_LIMIT_DEFAULT : q->limit;
	if (limit > AUDIT_LIMIT_MAX)
		limit = AUDIT_LIMIT_MAX;
	size_t budget = ctx->max_answer_bytes > AUDIT_LIST_OVERHEAD_BYTES
			    ? ctx->max_answer_bytes - AUDIT_LIST_OVERHEAD_BYTES
			    : 0;
	size_t used = 0;
	/* From since (or after_id) on, oldest first; or else the latest
	 * rows, read newest first (and turned round below), so that an
	 * answer cut short at the frame limit keeps the newest. One client's
	 * rows through audit_client (client_id, id), not a scan of the whole
	 * trail:
	 * "?1 IS NULL OR client_id = ?1" kept SQLite from using the
	 * index. */
	snprintf(sql, sizeof(sql),
		 "SELECT id, time_us, org, user, client_id, action, object, "
		 "result, peer FROM audit WHERE %s AND time_us >= ?2 AND "
		 "id > ?4 AND id < ?5 ORDER BY id %s LIMIT ?3",
		 client_id != NULL ? "client_id = ?1" : "?1 IS NULL",
		 forward ? "ASC" : "DESC");
	if (prepare(db, sql, &st) != 0)
		return IPSNET_EDB;
	if (client_id != NULL)
		sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 1);
	sqlite3_bind_int64(st, 2, since);
	sqlite3_bind_int64(st, 3, limit);
	sqlite3_bind_int64(
	    st, 4, q->after_id < INT64_MAX ? (int64_t)q->after_id : INT64_MAX);
	sqlite3_bind_int64(st, 5,
			   q->before_id != 0 && q->before_id < INT64_MAX
			       ? (int64_t)q->before_id
			       : INT64_MAX);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		Ipsnet__V1__AuditRecord *r = row_audit(&a, st);
		if (r == NULL) {
			rv = IPSNET_ENOMEM;
			break;
		}
		size_t cost =
		    field_bytes(ipsnet__v1__audit_record__get_packed_size(r));
		if (budget > 0 && used + cost > budget) {
			if (n == 0) {
				rv = fail(ctx, IPSNET_EFRAME_TOO_LARGE,
					  "audit record %llu takes %zu bytes, "
					  "more than one answer may hold "
					  "under the server's max_frame_bytes",
					  (unsigned long long)r->id, cost);
				break;
			}
			al.more = true;
			break;
		}
		used += cost;
		if (!push(&a, &records, &n, &cap, r)) {
			rv = IPSNET_ENOMEM;
			break;
		}
	}
	if (rv == 0 && rc != SQLITE_DONE && rc != SQLITE_ROW)
		rv = IPSNET_EDB;
	sqlite3_finalize(st);
	if (rv == 0 && a.failed)
		rv = IPSNET_ENOMEM;
	/* A client that does not page would show what fits as all there
	 * is. */
	if (rv == 0 && al.more && !q->paged)
		rv = fail(ctx, IPSNET_EFRAME_TOO_LARGE,
			  "the rows asked for take more than one answer "
			  "under the server's max_frame_bytes, and this "
			  "client does not ask for them a page at a time: "
			  "ask for fewer (limit), or use an ipsnet that pages");
	for (size_t i = 0; rv == 0 && !forward && i < n / 2; i++) {
		void *newer = records[i];
		records[i] = records[n - 1 - i];
		records[n - 1 - i] = newer;
	}
	if (rv == 0) {
		al.records = (Ipsnet__V1__AuditRecord **)records;
		al.n_records = n;
		env.body_case = BODY(AUDIT_LIST);
		env.audit_list = &al;
		rv = pack(ctx, &env);
	}
	arena_free(&a);
	return rv;
}

int reads_snapshot_head(sqlite3 *db, uint64_t *out)
{
	sqlite3_stmt *st;
	if (prepare(db, "SELECT coalesce(max(seq), 0) FROM journal", &st) != 0)
		return IPSNET_EDB;
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		*out = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : IPSNET_EDB;
}

void reads_run(sqlite3 *db, struct reads_ctx *ctx)
{
	int rv;
	if (ctx->now_us == 0)
		ctx->now_us = (int64_t)util_now_us();
	ctx->err = 0;
	ctx->message[0] = '\0';
	/* One read transaction: every table as of one moment, the journal
	 * head of which is what the read is judged at. */
	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK ||
	    reads_snapshot_head(db, &ctx->judged_at) != 0) {
		(void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
		rv = IPSNET_EDB;
		goto out;
	}
	switch (ctx->req->body_case) {
	case BODY(FIND_CLIENT):
		rv = find_client(db, ctx);
		break;
	case BODY(SHOW_CASE):
		rv = show_case(db, ctx);
		break;
	case BODY(LIST_FUNDING):
		rv = list_funding(db, ctx);
		break;
	case BODY(LIST_PROGRAMS):
		rv = list_programs(db, ctx);
		break;
	case BODY(AUDIT_QUERY):
		rv = audit_query(db, ctx);
		break;
	default:
		rv = fail(ctx, IPSNET_EUNIMPLEMENTED,
			  "this server does not know that read");
		break;
	}
	/* An answer is never sent in a frame over the limit the server
	 * announced (a case with many fundings and jobs, long notes and
	 * reasons, many programs): the read is refused, and its rows say
	 * so, as ListFunding's request too large for a page. */
	if (rv == 0 && ctx->err == 0 && ctx->max_answer_bytes != 0 &&
	    ctx->response_len + CONN_REQUEST_ID_BYTES > ctx->max_answer_bytes) {
		const ProtobufCFieldDescriptor *body =
		    protobuf_c_message_descriptor_get_field(
			&ipsnet__v1__envelope__descriptor,
			(unsigned)ctx->req->body_case);
		log_warn("answer over the frame limit",
			 "org=%s read=%s bytes=%zu max_frame_bytes=%u",
			 ctx->actor->org, body != NULL ? body->name : "-",
			 ctx->response_len + CONN_REQUEST_ID_BYTES,
			 ctx->max_answer_bytes);
		fail(ctx, IPSNET_EFRAME_TOO_LARGE,
		     "the answer takes %zu bytes, more than the server's "
		     "max_frame_bytes of %u bytes, so it is not sent; the "
		     "server's operator can raise max_frame_bytes",
		     ctx->response_len + CONN_REQUEST_ID_BYTES,
		     ctx->max_answer_bytes);
	}
	(void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
out:
	if (rv == IPSNET_EDB) {
		log_error("read failed", "error=\"%s\"", sqlite3_errmsg(db));
		fail(ctx, IPSNET_EUNAVAILABLE,
		     "the case data cannot be read now; try again later");
	} else if (rv != 0 && ctx->err == 0) {
		fail(ctx, rv, "%s", ipsnet_strerror(rv));
	}
	if (ctx->err != 0) {
		ipsnet_free(ctx->response);
		ctx->response = NULL;
		ctx->response_len = 0;
	}
	const char *result =
	    ctx->err == 0 ? "OK"
			  : ipsnet_status_name(ipsnet_err_status(ctx->err));
	for (size_t i = 0; i < ctx->n_audit; i++)
		util_strlcpy(ctx->audit[i].result, result,
			     sizeof(ctx->audit[i].result));
}

void reads_ctx_free(struct reads_ctx *ctx)
{
	ipsnet_free(ctx->response);
	ipsnet_free(ctx->audit);
	ctx->response = NULL;
	ctx->audit = NULL;
	ctx->n_audit = 0;
}
