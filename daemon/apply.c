#include "apply.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "ipsnet_errors.h"
#include "policy.h"
#include "reads.h"
#include "sync.h"
#include "util.h"
#include "validate.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name
#define TS(name) IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_##name
#define FS(name) IPSNET__V1__FUNDING_STATUS__FUNDING_##name
#define BIT(s) (1u << (s))

/* Limits of text, in characters (text_chars): a character takes up to 4
 * bytes in UTF-8. */
#define TEXT_MAX 200  /* names, purposes, employers, descriptions */
#define NOTE_MAX 4000 /* the referral note */
#define REASON_MAX 1000
#define FIDELITY_ITEMS 25

const char *const apply_state_tables[] = {
    "program", "client", "consent",	    "trajectory", "trajectory_event",
    "funding", "job",	 "fidelity_review", NULL,
};

/* ---- the state machines (DESIGN §2) ------------------------------------ */

/* Each state once, with the states it may move to and the column that
 * records the date it was entered. Entering ACTIVE again from ON_HOLD is a
 * resume: its date goes to resumed_on (see trajectory_date_column). */
static const struct {
	const char *name;
	unsigned next;
	const char *date_column;
} trajectory_states[] = {
    [TS(REFERRED)] = {"referred",
		      BIT(TS(ACCEPTED)) | BIT(TS(DECLINED)) |
			  BIT(TS(CANCELLED)),
		      "referred_on"},
    [TS(ACCEPTED)] = {"accepted", BIT(TS(ACTIVE)) | BIT(TS(CANCELLED)),
		      "accepted_on"},
    [TS(DECLINED)] = {"declined", 0, "declined_on"},
    [TS(ACTIVE)] = {"active", BIT(TS(ON_HOLD)) | BIT(TS(CLOSED)), "started_on"},
    [TS(ON_HOLD)] = {"on hold", BIT(TS(ACTIVE)) | BIT(TS(CLOSED)), "held_on"},
    [TS(CLOSED)] = {"closed", 0, "closed_on"},
    [TS(CANCELLED)] = {"cancelled", 0, "cancelled_on"},
};

static const struct {
	const char *name;
	unsigned next;
} funding_states[] = {
    [FS(REQUESTED)] = {"requested", BIT(FS(APPROVED)) | BIT(FS(REJECTED)) |
					BIT(FS(WITHDRAWN))},
    [FS(APPROVED)] = {"approved", 0},
    [FS(REJECTED)] = {"rejected", 0},
    [FS(WITHDRAWN)] = {"withdrawn", 0},
};

static bool trajectory_status_known(int s)
{
	return s > 0 && (size_t)s < ARRAY_SIZE(trajectory_states);
}

static bool funding_status_known(int s)
{
	return s > 0 && (size_t)s < ARRAY_SIZE(funding_states);
}

const char *apply_trajectory_status_name(Ipsnet__V1__TrajectoryStatus s)
{
	return trajectory_status_known(s) ? trajectory_states[s].name
					  : "unknown";
}

const char *apply_funding_status_name(Ipsnet__V1__FundingStatus s)
{
	return funding_status_known(s) ? funding_states[s].name : "unknown";
}

/* The states `next` names, as "accepted, declined or cancelled". */
static void list_states(char *buf, size_t cap, unsigned next,
			const char *(*name)(int))
{
	int n = 0, total = __builtin_popcount(next);
	buf[0] = '\0';
	for (int s = 0; s < 32; s++) {
		if ((next & BIT(s)) == 0)
			continue;
		size_t len = strlen(buf);
		snprintf(buf + len, cap - len, "%s%s",
			 n == 0		  ? ""
			 : n == total - 1 ? " or "
					  : ", ",
			 name(s));
		n++;
	}
}

static const char *trajectory_name_int(int s)
{
	return apply_trajectory_status_name(s);
}

static const char *funding_name_int(int s)
{
	return apply_funding_status_name(s);
}

int apply_trajectory_move(Ipsnet__V1__TrajectoryStatus from,
			  Ipsnet__V1__TrajectoryStatus to, char *why,
			  size_t cap)
{
	char allowed[128];
	if (trajectory_status_known(from) && trajectory_status_known(to) &&
	    (trajectory_states[from].next & BIT(to)) != 0)
		return 0;
	if (!trajectory_status_known(from)) {
		snprintf(why, cap, "a trajectory that is %s cannot become %s",
			 apply_trajectory_status_name(from),
			 apply_trajectory_status_name(to));
		return IPSNET_EPRECONDITION;
	}
	if (trajectory_states[from].next == 0) {
		snprintf(why, cap,
			 "a trajectory that is %s cannot become %s: %s is a "
			 "final state",
			 apply_trajectory_status_name(from),
			 apply_trajectory_status_name(to),
			 apply_trajectory_status_name(from));
		return IPSNET_EPRECONDITION;
	}
	list_states(allowed, sizeof(allowed), trajectory_states[from].next,
		    trajectory_name_int);
	snprintf(why, cap,
		 "a trajectory that is %s cannot become %s; from %s it may "
		 "become %s",
		 apply_trajectory_status_name(from),
		 apply_trajectory_status_name(to),
		 apply_trajectory_status_name(from), allowed);
	return IPSNET_EPRECONDITION;
}

int apply_funding_move(Ipsnet__V1__FundingStatus from,
		       Ipsnet__V1__FundingStatus to, char *why, size_t cap)
{
	char allowed[128];
	if (funding_status_known(from) && funding_status_known(to) &&
	    (funding_states[from].next & BIT(to)) != 0)
		return 0;
	if (!funding_status_known(from)) {
		snprintf(why, cap,
			 "a funding request that is %s cannot become "
			 "%s",
			 apply_funding_status_name(from),
			 apply_funding_status_name(to));
		return IPSNET_EPRECONDITION;
	}
	if (funding_states[from].next == 0) {
		snprintf(why, cap,
			 "a funding request that is %s cannot become %s: it "
			 "was already decided",
			 apply_funding_status_name(from),
			 apply_funding_status_name(to));
		return IPSNET_EPRECONDITION;
	}
	list_states(allowed, sizeof(allowed), funding_states[from].next,
		    funding_name_int);
	snprintf(why, cap,
		 "a funding request that is %s cannot become %s; from %s it "
		 "may become %s",
		 apply_funding_status_name(from), apply_funding_status_name(to),
		 apply_funding_status_name(from), allowed);
	return IPSNET_EPRECONDITION;
}

/* The column that records the date of the move from -> to. */
static const char *trajectory_date_column(int from, int to)
{
	if (from == TS(ON_HOLD) && to == TS(ACTIVE))
		return "resumed_on";
	return trajectory_states[to].date_column;
}

const char *apply_fidelity_band(unsigned total)
{
	if (total >= 115)
		return "exemplary";
	if (total >= 100)
		return "good";
	if (total >= 74)
		return "fair";
	return "not IPS";
}

/* ---- helpers ----------------------------------------------------------- */

static int refuse(struct apply_ctx *ctx, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(struct apply_ctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->message, sizeof(ctx->message), fmt, ap);
	va_end(ap);
	return err;
}

/* Packs the answer: status (OK, or CONFLICT with the entity as it is
 * now) and the ChangeOk. A refused change made no journal entry: seq 0. */
static int respond_with(struct apply_ctx *ctx, Ipsnet__V1__Status *status,
			Ipsnet__V1__ChangeOk *ok)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	ok->seq = status->code == IPSNET__V1__CODE__OK ? ctx->seq : 0;
	ok->entity_kind = (char *)ctx->entity_kind;
	ok->entity_id = ctx->entity_id;
	ok->version = ctx->version;
	env.status = status;
	env.body_case = BODY(CHANGE_OK);
	env.change_ok = ok;
	size_t n = ipsnet__v1__envelope__get_packed_size(&env);
	ctx->response = ipsnet_malloc(n);
	if (ctx->response == NULL)
		return IPSNET_ENOMEM;
	ctx->response_len = ipsnet__v1__envelope__pack(&env, ctx->response);
	return 0;
}

static int respond(struct apply_ctx *ctx, Ipsnet__V1__ChangeOk *ok)
{
	Ipsnet__V1__Status status = IPSNET__V1__STATUS__INIT;
	return respond_with(ctx, &status, ok);
}

enum entity { E_CLIENT, E_CONSENT, E_TRAJECTORY, E_FUNDING, E_JOB, E_REVIEW };

/* Answers with status and the entity as it is now, read back after the
 * change (or, with CONFLICT, as the stale change found it). */
static int respond_entity_with(struct apply_ctx *ctx,
			       Ipsnet__V1__Status *status, enum entity e,
			       const char *id)
{
	struct arena a = {0};
	Ipsnet__V1__ChangeOk ok = IPSNET__V1__CHANGE_OK__INIT;
	uint64_t version = 0;
	int rv = IPSNET_EINTERNAL;

	switch (e) {
	case E_CLIENT:
		ctx->entity_kind = "client";
		rv = reads_client(ctx->db, &a, id, &ok.client);
		ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_CLIENT;
		version = rv == 0 ? ok.client->version : 0;
		break;
	case E_CONSENT:
		ctx->entity_kind = "consent";
		rv = reads_consent(ctx->db, &a, id, &ok.consent);
		ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_CONSENT;
		version = rv == 0 ? ok.consent->version : 0;
		break;
	case E_TRAJECTORY:
		ctx->entity_kind = "trajectory";
		rv = reads_trajectory(ctx->db, &a, id, &ok.trajectory);
		ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_TRAJECTORY;
		version = rv == 0 ? ok.trajectory->version : 0;
		break;
	case E_FUNDING:
		ctx->entity_kind = "funding";
		rv = reads_funding(ctx->db, &a, id, &ok.funding);
		ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_FUNDING;
		version = rv == 0 ? ok.funding->version : 0;
		break;
	case E_JOB:
		ctx->entity_kind = "job";
		rv = reads_job(ctx->db, &a, id, &ok.job);
		ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_JOB;
		version = rv == 0 ? ok.job->version : 0;
		break;
	case E_REVIEW:
		ctx->entity_kind = "fidelity_review";
		rv = reads_review(ctx->db, &a, id, &ok.review);
		ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_REVIEW;
		version = rv == 0 ? ok.review->version : 0;
		break;
	}
	if (rv == 0 && a.failed)
		rv = IPSNET_ENOMEM;
	if (rv == IPSNET_ENOT_FOUND) /* it was just written */
		rv = IPSNET_EDB;
	if (rv == 0) {
		util_strlcpy(ctx->entity_id, id, sizeof(ctx->entity_id));
		ctx->version = version;
		rv = respond_with(ctx, status, &ok);
	}
	arena_free(&a);
	return rv;
}

static int respond_entity(struct apply_ctx *ctx, enum entity e, const char *id)
{
	Ipsnet__V1__Status status = IPSNET__V1__STATUS__INIT;
	return respond_entity_with(ctx, &status, e, id);
}

/* The answer to a stale change (DESIGN §2: refused "with CONFLICT and the
 * current state"): ctx->message and ctx->current_version in the status,
 * and the entity as a successful change's answer shows it. Called only
 * where policy already let the caller change the entity, so the caller
 * sees no more than it would after a successful change; and before the
 * change wrote anything, so what is read is the state it was refused
 * against. Returns err, or why the answer could not be built. */
static int respond_conflict(struct apply_ctx *ctx, int err, enum entity e,
			    const char *id)
{
	Ipsnet__V1__Status status = IPSNET__V1__STATUS__INIT;
	status.code = ipsnet_err_status(err);
	status.message = ctx->message;
	status.current_version = ctx->current_version;
	int rv = respond_entity_with(ctx, &status, e, id);
	if (rv == 0)
		return err;
	/* Not a CONFLICT without its state: the refusal says what failed. */
	ctx->message[0] = '\0';
	ctx->current_version = 0;
	return rv;
}

/* ---- statements -------------------------------------------------------- */

#define KEPT_STATEMENTS 64

struct apply_stmts {
	size_t n;
	struct {
		const char *sql; /* a literal: its address names it */
		sqlite3_stmt *st;
		bool busy;       /* handed out, not yet done with */
	} e[KEPT_STATEMENTS];
};

struct apply_stmts *apply_stmts_new(void)
{
	return ipsnet_calloc(1, sizeof(struct apply_stmts));
}

void apply_stmts_free(struct apply_stmts *c)
{
	if (c == NULL)
		return;
	for (size_t i = 0; i < c->n; i++)
		sqlite3_finalize(c->e[i].st);
	ipsnet_free(c);
}

/* A statement for sql, which must be a string literal (its address is its
 * name in the cache): a kept one when there is one free, else a new one,
 * kept if there is room. Give it back with done(). */
static int prepare(struct apply_ctx *ctx, const char *sql, sqlite3_stmt **st)
{
	struct apply_stmts *c = ctx->stmts;
	if (c != NULL) {
		for (size_t i = 0; i < c->n; i++) {
			if (c->e[i].sql == sql && !c->e[i].busy) {
				c->e[i].busy = true;
				*st = c->e[i].st;
				return 0;
			}
		}
	}
	if (sqlite3_prepare_v3(ctx->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
			       NULL) != SQLITE_OK)
		return IPSNET_EDB;
	if (c != NULL && c->n < KEPT_STATEMENTS) {
		c->e[c->n].sql = sql;
		c->e[c->n].st = *st;
		c->e[c->n].busy = true;
		c->n++;
	}
	return 0;
}

/* For SQL built at run time: never kept. Give it back with done(). */
static int prepare_built(struct apply_ctx *ctx, const char *sql,
			 sqlite3_stmt **st)
{
	return sqlite3_prepare_v2(ctx->db, sql, -1, st, NULL) == SQLITE_OK
		   ? 0
		   : IPSNET_EDB;
}

/* Gives a statement back: a kept one is reset for the next change, any
 * other finalized. */
static void done(struct apply_ctx *ctx, sqlite3_stmt *st)
{
	struct apply_stmts *c = ctx->stmts;
	if (c != NULL) {
		for (size_t i = 0; i < c->n; i++) {
			if (c->e[i].st == st) {
				sqlite3_reset(st);
				sqlite3_clear_bindings(st);
				c->e[i].busy = false;
				return;
			}
		}
	}
	sqlite3_finalize(st);
}

static int step_done(struct apply_ctx *ctx, sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	done(ctx, st);
	return rc == SQLITE_DONE ? 0 : IPSNET_EDB;
}

static const char *or_empty(const char *s)
{
	return s != NULL ? s : "";
}

static bool empty(const char *s)
{
	return s == NULL || s[0] == '\0';
}

static const char *col(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t != NULL ? (const char *)t : "";
}

/* Whether a text that must be given is: white space alone is none. A
 * replay judges as the change was judged when it was accepted, when only
 * "" was none. */
static bool given(const struct apply_ctx *ctx, const char *s)
{
	return ctx->replay ? !empty(s) : !text_blank(s);
}

static bool text_ok(const struct apply_ctx *ctx, const char *s, size_t max)
{
	return given(ctx, s) && text_chars(s) <= max;
}

static void bind_text_or_null(sqlite3_stmt *st, int i, const char *s)
{
	if (empty(s))
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_STATIC);
}

/* The date of the change in the Netherlands: what dates default to, and
 * what "in the future" and "valid until" are measured from. */
static long today_days(const struct apply_ctx *ctx)
{
	return nl_days_of_us(ctx->time_us);
}

static const char *today(const struct apply_ctx *ctx, char buf[16])
{
	return nl_date_of_us(buf, 16, ctx->time_us);
}

/* A date the caller gave (what: "the date", for the sentence), or today
 * when it gave none. Not in the future. */
static int date_or_today(struct apply_ctx *ctx, const char *given,
			 const char *what, char out[16])
{
	if (empty(given)) {
		today(ctx, out);
		return 0;
	}
	if (!date_valid(given))
		return refuse(ctx, IPSNET_EINVAL,
			      "%s must be a real date (YYYY-MM-DD)", what);
	if (date_days(given) > today_days(ctx))
		return refuse(ctx, IPSNET_EINVAL,
			      "%s must not be in the future", what);
	util_strlcpy(out, given, 16);
	return 0;
}

static bool birth_date_plausible(const struct apply_ctx *ctx, const char *d)
{
	return date_valid(d) && date_days(d) <= today_days(ctx) &&
	       date_days(d) >= today_days(ctx) - 120 * 366;
}

/* What the caller's organisation has to do with client_id now; also names
 * the client for the audit trail. */
static int client_facts(struct apply_ctx *ctx, const char *client_id,
			struct policy_client *pc)
{
	char day[16];
	if (!empty(client_id))
		util_strlcpy(ctx->client_id, client_id, sizeof(ctx->client_id));
	return reads_client_facts(ctx->db, or_empty(client_id), ctx->actor->org,
				  today(ctx, day), pc);
}

/* Whether day is before the birth of client_id (who exists): nothing of
 * hers is dated before it. Never in a replay: an entry accepted before
 * this rule stays as it was. 0 or IPSNET_EDB. */
static int before_birth(struct apply_ctx *ctx, const char *client_id,
			const char *day, bool *before)
{
	sqlite3_stmt *st;
	*before = false;
	if (ctx->replay)
		return 0;
	int rv =
	    prepare(ctx, "SELECT birth_date FROM client WHERE id = ?1", &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, or_empty(client_id), -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*before = rc == SQLITE_ROW && strcmp(day, col(st, 0)) < 0;
	done(ctx, st);
	return rc == SQLITE_ROW ? 0 : IPSNET_EDB;
}

/* A change to an existing entity names the version it was made against.
 * Called after policy allowed the change and before it writes: a stale
 * one is answered with the entity e as it is now. */
static int check_version(struct apply_ctx *ctx, enum entity e, const char *kind,
			 const char *id, uint64_t expected, uint64_t current)
{
	if (expected == 0)
		return refuse(ctx, IPSNET_EINVAL,
			      "the change must name the version of %s '%s' it "
			      "was made against (it is at version %llu)",
			      kind, id, (unsigned long long)current);
	if (expected == current)
		return 0;
	ctx->current_version = current;
	int err = refuse(ctx, IPSNET_ECONFLICT,
			 "%s '%s' was changed since version %llu; it is now "
			 "at version %llu: read it again and retry",
			 kind, id, (unsigned long long)expected,
			 (unsigned long long)current);
	return respond_conflict(ctx, err, e, id);
}

/* Policy decides when the change is new; a replay was allowed once. */
#define ASK_POLICY(call)                           \
	do {                                       \
		if (!ctx->replay && (call) != 0)   \
			return IPSNET_EPERMISSION; \
	} while (0)

static int benefit_known(int b)
{
	return b >= IPSNET__V1__BENEFIT__BENEFIT_NONE &&
	       b <= IPSNET__V1__BENEFIT__BENEFIT_OTHER;
}

/* ---- clients ----------------------------------------------------------- */

static int register_client(struct apply_ctx *ctx)
{
	const Ipsnet__V1__RegisterClient *m = ctx->req->register_client;
	sqlite3_stmt *st;
	char registered_at[32];
	int rv;

	if (!ctx->replay && policy_register_client(ctx->actor, ctx->message,
						   sizeof(ctx->message)) != 0)
		return IPSNET_EPERMISSION;
	if (!bsn_valid(m->bsn))
		return refuse(ctx, IPSNET_EINVAL,
			      "the BSN must be 9 digits that pass the "
			      "11-proof");
	if (!text_ok(ctx, m->name, TEXT_MAX))
		return refuse(ctx, IPSNET_EINVAL,
			      "the name must be 1 to 200 characters");
	if (!birth_date_plausible(ctx, m->birth_date))
		return refuse(ctx, IPSNET_EINVAL,
			      "the birth date must be a real date "
			      "(YYYY-MM-DD) in the last 120 years");
	if (!cbs_code_valid(m->municipality))
		return refuse(ctx, IPSNET_EINVAL,
			      "the municipality must be a CBS code such as "
			      "GM0363");
	if (m->benefit < IPSNET__V1__BENEFIT__BENEFIT_NONE ||
	    m->benefit > IPSNET__V1__BENEFIT__BENEFIT_OTHER)
		return refuse(ctx, IPSNET_EINVAL,
			      "the benefit must be none, participatiewet, wia, "
			      "wajong, ww or other");
	if (m->client_id == NULL || m->client_id[0] == '\0')
		return refuse(ctx, IPSNET_EINTERNAL, "no client id assigned");

	rv = prepare(ctx,
		     "SELECT id FROM client WHERE registered_by = ?1 AND bsn = "
		     "?2",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, ctx->actor->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->bsn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		/* The audit row names the client that is there, on whose
		 * trail it then is, not the id this one would have had. */
		const char *there = (const char *)sqlite3_column_text(st, 0);
		util_strlcpy(ctx->entity_id, or_empty(there),
			     sizeof(ctx->entity_id));
		util_strlcpy(ctx->client_id, or_empty(there),
			     sizeof(ctx->client_id));
	}
	done(ctx, st);
	if (rc == SQLITE_ROW)
		return refuse(ctx, IPSNET_EEXISTS,
			      "a client with this BSN is already registered "
			      "by your organisation; find it with 'ipsnet "
			      "client find'");
	if (rc != SQLITE_DONE)
		return IPSNET_EDB;

	util_iso8601(registered_at, sizeof(registered_at),
		     (uint64_t)ctx->time_us);
	rv = prepare(ctx,
		     "INSERT INTO client (id, version, bsn, name, birth_date, "
		     "municipality, benefit, registered_by, registered_at) "
		     "VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->bsn, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, m->name, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->birth_date, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, m->municipality, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 6, m->benefit);
	sqlite3_bind_text(st, 7, ctx->actor->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 8, registered_at, -1, SQLITE_STATIC);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;

	ctx->entity_kind = "client";
	util_strlcpy(ctx->entity_id, m->client_id, sizeof(ctx->entity_id));
	util_strlcpy(ctx->client_id, m->client_id, sizeof(ctx->client_id));
	ctx->version = 1;
	Ipsnet__V1__ChangeOk ok = IPSNET__V1__CHANGE_OK__INIT;
	Ipsnet__V1__Client client = IPSNET__V1__CLIENT__INIT;
	client.id = m->client_id;
	client.version = 1;
	client.bsn = m->bsn;
	client.name = m->name;
	client.birth_date = m->birth_date;
	client.municipality = m->municipality;
	client.benefit = m->benefit;
	client.registered_by = (char *)ctx->actor->org;
	client.registered_at = registered_at;
	ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_CLIENT;
	ok.client = &client;
	return respond(ctx, &ok);
}

static int update_client(struct apply_ctx *ctx)
{
	const Ipsnet__V1__UpdateClient *m = ctx->req->update_client;
	struct policy_client pc;
	sqlite3_stmt *st;
	int rv;

	rv = client_facts(ctx, m->client_id, &pc);
	if (rv != 0)
		return rv;
	ASK_POLICY(policy_update_client(ctx->actor, &pc, ctx->message,
					sizeof(ctx->message)));
	if (!pc.exists)
		return refuse(ctx, IPSNET_ENOT_FOUND, "no client '%s'",
			      m->client_id);
	if (empty(m->name) && empty(m->birth_date) && empty(m->municipality) &&
	    m->benefit == IPSNET__V1__BENEFIT__BENEFIT_UNSPECIFIED)
		return refuse(ctx, IPSNET_EINVAL,
			      "nothing to change: give a name, birth date, "
			      "municipality or benefit");
	if (!empty(m->name) && !text_ok(ctx, m->name, TEXT_MAX))
		return refuse(ctx, IPSNET_EINVAL,
			      "the name must be 1 to 200 characters");
	if (!empty(m->birth_date) && !birth_date_plausible(ctx, m->birth_date))
		return refuse(ctx, IPSNET_EINVAL,
			      "the birth date must be a real date "
			      "(YYYY-MM-DD) in the last 120 years");
	if (!empty(m->municipality) && !cbs_code_valid(m->municipality))
		return refuse(ctx, IPSNET_EINVAL,
			      "the municipality must be a CBS code such as "
			      "GM0363");
	if (m->benefit != IPSNET__V1__BENEFIT__BENEFIT_UNSPECIFIED &&
	    !benefit_known(m->benefit))
		return refuse(ctx, IPSNET_EINVAL,
			      "the benefit must be none, participatiewet, wia, "
			      "wajong, ww or other");

	rv = prepare(ctx, "SELECT version FROM client WHERE id = ?1", &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->client_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	uint64_t current =
	    rc == SQLITE_ROW ? (uint64_t)sqlite3_column_int64(st, 0) : 0;
	done(ctx, st);
	if (rc != SQLITE_ROW)
		return IPSNET_EDB;
	rv = check_version(ctx, E_CLIENT, "client", m->client_id,
			   m->expected_version, current);
	if (rv != 0)
		return rv;
	/* Nothing of hers is dated before her birth (add_job,
	 * import_trajectory): nor is her birth moved after it. Not judged
	 * again in a replay: an entry accepted before this rule stays as it
	 * was. */
	if (!empty(m->birth_date) && !ctx->replay) {
		rv = prepare(ctx,
			     "SELECT (SELECT min(referred_on) FROM trajectory "
			     "WHERE client_id = ?1), (SELECT min(start_date) "
			     "FROM job WHERE client_id = ?1)",
			     &st);
		if (rv != 0)
			return rv;
		sqlite3_bind_text(st, 1, m->client_id, -1, SQLITE_STATIC);
		rc = sqlite3_step(st);
		char referred[16] = "", started[16] = "";
		if (rc == SQLITE_ROW) {
			util_strlcpy(referred, col(st, 0), sizeof(referred));
			util_strlcpy(started, col(st, 1), sizeof(started));
		}
		done(ctx, st);
		if (rc != SQLITE_ROW)
			return IPSNET_EDB;
		if (referred[0] != '\0' && strcmp(m->birth_date, referred) > 0)
			return refuse(ctx, IPSNET_EINVAL,
				      "the birth date would come after her "
				      "referral on %s",
				      referred);
		if (started[0] != '\0' && strcmp(m->birth_date, started) > 0)
			return refuse(ctx, IPSNET_EINVAL,
				      "the birth date would come after the "
				      "start of her job on %s",
				      started);
	}

	/* What is not given stays as it is. */
	rv = prepare(ctx,
		     "UPDATE client SET version = version + 1,"
		     " name = coalesce(?2, name),"
		     " birth_date = coalesce(?3, birth_date),"
		     " municipality = coalesce(?4, municipality),"
		     " benefit = coalesce(?5, benefit) WHERE id = ?1",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->client_id, -1, SQLITE_STATIC);
	bind_text_or_null(st, 2, m->name);
	bind_text_or_null(st, 3, m->birth_date);
	bind_text_or_null(st, 4, m->municipality);
	if (m->benefit != IPSNET__V1__BENEFIT__BENEFIT_UNSPECIFIED)
		sqlite3_bind_int(st, 5, m->benefit);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;
	return respond_entity(ctx, E_CLIENT, m->client_id);
}

/* ---- consent ----------------------------------------------------------- */

/* The kind of an active organisation in the registry; ORG_KIND_NONE when
 * there is none by that id. cbs gets its CBS code (cap >= 8). */
static int org_lookup(struct apply_ctx *ctx, const char *id,
		      enum org_kind *kind, char *cbs, size_t cap)
{
	sqlite3_stmt *st;
	int rv = prepare(ctx,
			 "SELECT kind, cbs_code FROM organisation WHERE id = "
			 "?1 AND active",
			 &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, or_empty(id), -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*kind = rc == SQLITE_ROW ? org_kind_parse(col(st, 0)) : ORG_KIND_NONE;
	if (cbs != NULL)
		util_strlcpy(cbs, rc == SQLITE_ROW ? col(st, 1) : "", cap);
	done(ctx, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : IPSNET_EDB;
}

static int grant_consent(struct apply_ctx *ctx)
{
	const Ipsnet__V1__GrantConsent *m = ctx->req->grant_consent;
	struct policy_client pc;
	sqlite3_stmt *st;
	char granted_at[32];
	int rv;

	rv = client_facts(ctx, m->client_id, &pc);
	if (rv != 0)
		return rv;
	ASK_POLICY(policy_record_consent(ctx->actor, &pc, ctx->message,
					 sizeof(ctx->message)));
	if (!pc.exists)
		return refuse(ctx, IPSNET_ENOT_FOUND, "no client '%s'",
			      m->client_id);
	if (empty(m->consent_id))
		return refuse(ctx, IPSNET_EINTERNAL, "no consent id assigned");
	if (!ctx->replay) {
		enum org_kind kind;
		rv = org_lookup(ctx, m->recipient, &kind, NULL, 0);
		if (rv != 0)
			return rv;
		if (kind != ORG_KIND_MUNICIPALITY && kind != ORG_KIND_UWV)
			return refuse(
			    ctx, IPSNET_EINVAL,
			    "consent is given to share with a funder: "
			    "the recipient must be a municipality or "
			    "UWV in the registry");
	}
	if (!text_ok(ctx, m->purpose, TEXT_MAX))
		return refuse(ctx, IPSNET_EINVAL,
			      "the purpose must be 1 to 200 characters");
	if (!date_valid(m->valid_until))
		return refuse(ctx, IPSNET_EINVAL,
			      "the day the consent is valid until must be a "
			      "real date (YYYY-MM-DD)");
	if (date_days(m->valid_until) < today_days(ctx)) {
		char day[16];
		return refuse(ctx, IPSNET_EINVAL,
			      "the consent would be valid until %s, which is "
			      "past (today is %s in the Netherlands): give "
			      "today or a later day",
			      m->valid_until, today(ctx, day));
	}

	util_iso8601(granted_at, sizeof(granted_at), (uint64_t)ctx->time_us);
	rv = prepare(ctx,
		     "INSERT INTO consent (id, version, client_id, recipient, "
		     "purpose, granted_at, valid_until, withdrawn_at) VALUES "
		     "(?1, 1, ?2, ?3, ?4, ?5, ?6, NULL)",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->consent_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, m->recipient, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->purpose, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, granted_at, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 6, m->valid_until, -1, SQLITE_STATIC);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;
	return respond_entity(ctx, E_CONSENT, m->consent_id);
}

static int withdraw_consent(struct apply_ctx *ctx)
{
	const Ipsnet__V1__WithdrawConsent *m = ctx->req->withdraw_consent;
	struct policy_client pc;
	sqlite3_stmt *st;
	char client_id[JOURNAL_ID_MAX] = "", withdrawn[32] = "", now[32];
	char recipient[ORG_ID_MAX] = "";
	uint64_t current = 0;
	int rv;

	rv = prepare(ctx,
		     "SELECT client_id, version, withdrawn_at, recipient FROM "
		     "consent WHERE id = ?1",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->consent_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		util_strlcpy(client_id, col(st, 0), sizeof(client_id));
		current = (uint64_t)sqlite3_column_int64(st, 1);
		util_strlcpy(withdrawn, col(st, 2), sizeof(withdrawn));
		util_strlcpy(recipient, col(st, 3), sizeof(recipient));
	}
	done(ctx, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return IPSNET_EDB;
	rv = client_facts(ctx, client_id, &pc);
	if (rv != 0)
		return rv;
	ASK_POLICY(policy_record_consent(ctx->actor, &pc, ctx->message,
					 sizeof(ctx->message)));
	if (rc == SQLITE_DONE)
		return refuse(ctx, IPSNET_ENOT_FOUND, "no consent '%s'",
			      m->consent_id);
	rv = check_version(ctx, E_CONSENT, "consent", m->consent_id,
			   m->expected_version, current);
	if (rv != 0)
		return rv;
	if (withdrawn[0] != '\0') {
		char when[32];
		return refuse(ctx, IPSNET_EPRECONDITION,
			      "this consent was already withdrawn at %s "
			      "(Dutch time)",
			      nl_minute_of_iso(when, sizeof(when), withdrawn));
	}

	util_iso8601(now, sizeof(now), (uint64_t)ctx->time_us);
	rv = prepare(ctx,
		     "UPDATE consent SET version = version + 1, withdrawn_at = "
		     "?2 WHERE id = ?1",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->consent_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, now, -1, SQLITE_STATIC);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;
	util_strlcpy(ctx->narrows_org, recipient, sizeof(ctx->narrows_org));
	util_strlcpy(ctx->narrows_client, client_id,
		     sizeof(ctx->narrows_client));
	return respond_entity(ctx, E_CONSENT, m->consent_id);
}

/* ---- trajectories ------------------------------------------------------ */

struct trajectory_row {
	bool found;
	uint64_t version;
	int status;
	char client_id[JOURNAL_ID_MAX];
	char program_id[JOURNAL_ID_MAX];
	struct policy_trajectory parties;
	char last_on[16]; /* the date of its latest step */
	int64_t steps;	  /* steps recorded so far */
};

static int load_trajectory(struct apply_ctx *ctx, const char *id,
			   struct trajectory_row *t)
{
	sqlite3_stmt *st;
	memset(t, 0, sizeof(*t));
	int rv = prepare(ctx,
			 "SELECT t.version, t.status, t.client_id, "
			 "t.program_id, t.referrer, p.owner,"
			 " (SELECT max(on_date) FROM trajectory_event e WHERE"
			 "  e.trajectory_id = t.id),"
			 " (SELECT coalesce(max(seq), 0) FROM trajectory_event"
			 "  e WHERE e.trajectory_id = t.id)"
			 " FROM trajectory t JOIN program p ON p.id = "
			 "t.program_id WHERE t.id = ?1",
			 &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, or_empty(id), -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		t->found = true;
		t->version = (uint64_t)sqlite3_column_int64(st, 0);
		t->status = sqlite3_column_int(st, 1);
		util_strlcpy(t->client_id, col(st, 2), sizeof(t->client_id));
		util_strlcpy(t->program_id, col(st, 3), sizeof(t->program_id));
		util_strlcpy(t->parties.referrer, col(st, 4),
			     sizeof(t->parties.referrer));
		util_strlcpy(t->parties.program_owner, col(st, 5),
			     sizeof(t->parties.program_owner));
		util_strlcpy(t->last_on, col(st, 6), sizeof(t->last_on));
		t->steps = sqlite3_column_int64(st, 7);
	}
	done(ctx, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : IPSNET_EDB;
}

/* The GGZ that runs program id into owner; IPSNET_ENOT_FOUND if none. */
static int program_owner(struct apply_ctx *ctx, const char *id, char *owner,
			 size_t cap)
{
	sqlite3_stmt *st;
	int rv = prepare(ctx, "SELECT owner FROM program WHERE id = ?1", &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, or_empty(id), -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		util_strlcpy(owner, col(st, 0), cap);
	done(ctx, st);
	if (rc == SQLITE_DONE)
		return refuse(ctx, IPSNET_ENOT_FOUND,
			      "no program '%s' (see 'ipsnet program list')",
			      or_empty(id));
	return rc == SQLITE_ROW ? 0 : IPSNET_EDB;
}

/* A client has at most one open trajectory per program. */
static int check_no_open_trajectory(struct apply_ctx *ctx,
				    const char *client_id,
				    const char *program_id)
{
	sqlite3_stmt *st;
	char open_id[JOURNAL_ID_MAX] = "";
	int rc, rv = prepare(ctx,
			     "SELECT id, status FROM trajectory WHERE "
			     "client_id = ?1 AND program_id = ?2",
			     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, program_id, -1, SQLITE_STATIC);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int s = sqlite3_column_int(st, 1);
		if (trajectory_status_known(s) &&
		    trajectory_states[s].next != 0) {
			util_strlcpy(open_id, col(st, 0), sizeof(open_id));
			break;
		}
	}
	done(ctx, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return IPSNET_EDB;
	if (open_id[0] != '\0')
		return refuse(ctx, IPSNET_EPRECONDITION,
			      "the client already has an open trajectory in "
			      "program '%s' (%s)",
			      program_id, open_id);
	return 0;
}

struct step {
	int status;
	char on[16];
};

static const char *const trajectory_date_columns[] = {
    "referred_on", "accepted_on", "declined_on", "started_on",
    "held_on",	   "resumed_on",  "closed_on",	 "cancelled_on",
};

/* Writes a new trajectory that went through steps (the first REFERRED,
 * each move already checked), with each step's date in its column and
 * a trajectory_event row per step. */
static int insert_trajectory(struct apply_ctx *ctx, const char *id,
			     const char *client_id, const char *program_id,
			     const char *note, const struct step *steps,
			     size_t n, const char *close_reason)
{
	const char *dates[ARRAY_SIZE(trajectory_date_columns)] = {0};
	sqlite3_stmt *st;
	int rv;

	for (size_t i = 0; i < n; i++) {
		const char *column =
		    i == 0 ? trajectory_states[TS(REFERRED)].date_column
			   : trajectory_date_column(steps[i - 1].status,
						    steps[i].status);
		for (size_t c = 0; c < ARRAY_SIZE(trajectory_date_columns); c++)
			if (strcmp(column, trajectory_date_columns[c]) == 0)
				dates[c] = steps[i].on; /* the latest wins */
	}
	rv =
	    prepare(ctx,
		    "INSERT INTO trajectory (id, version, client_id, "
		    "program_id, referrer, status, note, referred_on, "
		    "accepted_on, declined_on, started_on, held_on, "
		    "resumed_on, closed_on, cancelled_on, close_reason) VALUES "
		    "(?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, "
		    "?13, ?14, ?15)",
		    &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, program_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, ctx->actor->org, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, steps[n - 1].status);
	sqlite3_bind_text(st, 6, or_empty(note), -1, SQLITE_STATIC);
	for (size_t c = 0; c < ARRAY_SIZE(trajectory_date_columns); c++)
		bind_text_or_null(st, 7 + (int)c, dates[c]);
	bind_text_or_null(st, 15, close_reason);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;

	rv =
	    prepare(ctx,
		    "INSERT INTO trajectory_event (trajectory_id, seq, status, "
		    "on_date) VALUES (?1, ?2, ?3, ?4)",
		    &st);
	if (rv != 0)
		return rv;
	for (size_t i = 0; i < n && rv == 0; i++) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 2, (sqlite3_int64)(i + 1));
		sqlite3_bind_int(st, 3, steps[i].status);
		sqlite3_bind_text(st, 4, steps[i].on, -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_DONE)
			rv = IPSNET_EDB;
		sqlite3_reset(st);
	}
	done(ctx, st);
	return rv;
}

static int refer(struct apply_ctx *ctx)
{
	const Ipsnet__V1__Refer *m = ctx->req->refer;
	struct policy_client pc;
	char owner[ORG_ID_MAX];
	struct step first = {.status = TS(REFERRED)};
	int rv;

	rv = client_facts(ctx, m->client_id, &pc);
	if (rv != 0)
		return rv;
	ASK_POLICY(
	    policy_refer(ctx->actor, &pc, ctx->message, sizeof(ctx->message)));
	if (!pc.exists)
		return refuse(ctx, IPSNET_ENOT_FOUND, "no client '%s'",
			      m->client_id);
	if (empty(m->trajectory_id))
		return refuse(ctx, IPSNET_EINTERNAL,
			      "no trajectory id assigned");
	rv = program_owner(ctx, m->program_id, owner, sizeof(owner));
	if (rv != 0)
		return rv;
	if (m->note != NULL && text_chars(m->note) > NOTE_MAX)
		return refuse(ctx, IPSNET_EINVAL,
			      "the referral note must be at most 4000 "
			      "characters");
	rv = check_no_open_trajectory(ctx, m->client_id, m->program_id);
	if (rv != 0)
		return rv;
	today(ctx, first.on);
	rv = insert_trajectory(ctx, m->trajectory_id, m->client_id,
			       m->program_id, m->note, &first, 1, NULL);
	if (rv != 0)
		return rv;
	return respond_entity(ctx, E_TRAJECTORY, m->trajectory_id);
}

static int move_trajectory(struct apply_ctx *ctx)
{
	const Ipsnet__V1__MoveTrajectory *m = ctx->req->move_trajectory;
	struct trajectory_row t;
	struct policy_client pc;
	sqlite3_stmt *st;
	char on[16], sql[160];
	int rv;

	if (!trajectory_status_known(m->to))
		return refuse(ctx, IPSNET_EINVAL,
			      "the new state must be accepted, declined, "
			      "active, on hold, closed or cancelled");
	rv = load_trajectory(ctx, m->trajectory_id, &t);
	if (rv != 0)
		return rv;
	rv = client_facts(ctx, t.client_id, &pc);
	if (rv != 0)
		return rv;
	ASK_POLICY(policy_move_trajectory(ctx->actor, &pc, &t.parties, m->to,
					  ctx->message, sizeof(ctx->message)));
	if (!t.found)
		return refuse(ctx, IPSNET_ENOT_FOUND, "no trajectory '%s'",
			      m->trajectory_id);
	rv = check_version(ctx, E_TRAJECTORY, "trajectory", m->trajectory_id,
			   m->expected_version, t.version);
	if (rv != 0)
		return rv;
	/* A start and a resume both make it active: the caller says which
	 * it means (ipsnet trajectory start, resume). */
	if (m->from != 0 && (int)m->from != t.status)
		return refuse(
		    ctx, IPSNET_EPRECONDITION, "the trajectory is %s, not %s%s",
		    apply_trajectory_status_name(t.status),
		    apply_trajectory_status_name(m->from),
		    m->to != TS(ACTIVE)	       ? ""
		    : t.status == TS(ACCEPTED) ? ": it is started, "
						 "not resumed"
		    : t.status == TS(ON_HOLD)  ? ": it is resumed, not started"
					       : "");
	rv = apply_trajectory_move(t.status, m->to, ctx->message,
				   sizeof(ctx->message));
	if (rv != 0)
		return rv;
	rv = date_or_today(ctx, m->on, "the date", on);
	if (rv != 0)
		return rv;
	if (strcmp(on, t.last_on) < 0)
		return refuse(ctx, IPSNET_EINVAL,
			      "the date must not be before the trajectory's "
			      "latest step (%s)",
			      t.last_on);
	if (m->to == TS(CLOSED) && !text_ok(ctx, m->reason, REASON_MAX))
		return refuse(ctx, IPSNET_EINVAL,
			      "closing a trajectory needs a reason (1 to 1000 "
			      "characters)");
	if (m->to != TS(CLOSED) && !empty(m->reason))
		return refuse(ctx, IPSNET_EINVAL,
			      "a reason is recorded only when a trajectory is "
			      "closed");

	/* The column comes from the declared table, never from the
	 * request. */
	snprintf(sql, sizeof(sql),
		 "UPDATE trajectory SET version = version + 1, status = ?2, "
		 "%s = ?3, close_reason = coalesce(?4, close_reason) WHERE "
		 "id = ?1",
		 trajectory_date_column(t.status, m->to));
	rv = prepare_built(ctx, sql, &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->trajectory_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, m->to);
	sqlite3_bind_text(st, 3, on, -1, SQLITE_STATIC);
	bind_text_or_null(st, 4, m->reason);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;
	rv =
	    prepare(ctx,
		    "INSERT INTO trajectory_event (trajectory_id, seq, status, "
		    "on_date) VALUES (?1, ?2, ?3, ?4)",
		    &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->trajectory_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, t.steps + 1);
	sqlite3_bind_int(st, 3, m->to);
	sqlite3_bind_text(st, 4, on, -1, SQLITE_STATIC);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;
	return respond_entity(ctx, E_TRAJECTORY, m->trajectory_id);
}

#define IMPORT_STEPS_MAX 64

static int import_trajectory(struct apply_ctx *ctx)
{
	const Ipsnet__V1__ImportTrajectory *m = ctx->req->import_trajectory;
	struct step steps[IMPORT_STEPS_MAX];
	struct policy_trajectory parties;
	struct policy_client pc;
	char why[256];
	int rv;

	rv = client_facts(ctx, m->client_id, &pc);
	if (rv != 0)
		return rv;
	ASK_POLICY(
	    policy_refer(ctx->actor, &pc, ctx->message, sizeof(ctx->message)));
	if (!pc.exists)
		return refuse(ctx, IPSNET_ENOT_FOUND, "no client '%s'",
			      m->client_id);
	if (empty(m->trajectory_id))
		return refuse(ctx, IPSNET_EINTERNAL,
			      "no trajectory id assigned");
	util_strlcpy(parties.referrer, ctx->actor->org,
		     sizeof(parties.referrer));
	rv = program_owner(ctx, m->program_id, parties.program_owner,
			   sizeof(parties.program_owner));
	if (rv != 0)
		return rv;
	if (m->note != NULL && text_chars(m->note) > NOTE_MAX)
		return refuse(ctx, IPSNET_EINVAL,
			      "the referral note must be at most 4000 "
			      "characters");
	if (m->n_steps == 0 || m->n_steps > IMPORT_STEPS_MAX)
		return refuse(ctx, IPSNET_EINVAL,
			      "an imported trajectory has 1 to %d steps",
			      IMPORT_STEPS_MAX);
	for (size_t i = 0; i < m->n_steps; i++) {
		const Ipsnet__V1__TrajectoryStep *s = m->steps[i];
		if (i == 0 && s->status != TS(REFERRED))
			return refuse(ctx, IPSNET_EINVAL,
				      "an imported trajectory starts as "
				      "referred");
		if (!trajectory_status_known(s->status))
			return refuse(ctx, IPSNET_EINVAL,
				      "step %zu has no known state", i + 1);
		if (empty(s->on))
			return refuse(ctx, IPSNET_EINVAL,
				      "step %zu (%s) needs its date", i + 1,
				      apply_trajectory_status_name(s->status));
		rv =
		    date_or_today(ctx, s->on, "every step's date", steps[i].on);
		if (rv != 0)
			return rv;
		steps[i].status = s->status;
		if (i == 0)
			continue;
		if (strcmp(steps[i].on, steps[i - 1].on) < 0)
			return refuse(ctx, IPSNET_EINVAL,
				      "step %zu (%s, %s) is dated before the "
				      "step before it (%s)",
				      i + 1,
				      apply_trajectory_status_name(s->status),
				      steps[i].on, steps[i - 1].on);
		if (apply_trajectory_move(steps[i - 1].status, s->status, why,
					  sizeof(why)) != 0)
			return refuse(ctx, IPSNET_EPRECONDITION, "step %zu: %s",
				      i + 1, why);
		ASK_POLICY(policy_move_trajectory(ctx->actor, &pc, &parties,
						  s->status, ctx->message,
						  sizeof(ctx->message)));
	}
	/* The steps go forward from the referral, which is not before she
	 * was born. */
	bool early;
	if ((rv = before_birth(ctx, m->client_id, steps[0].on, &early)) != 0)
		return rv;
	if (early)
		return refuse(ctx, IPSNET_EINVAL,
			      "the referral date is before the client's birth "
			      "date (referred on %s)",
			      steps[0].on);
	int last = steps[m->n_steps - 1].status;
	if (last == TS(CLOSED) && !text_ok(ctx, m->close_reason, REASON_MAX))
		return refuse(
		    ctx, IPSNET_EINVAL,
		    "a closed trajectory needs its close reason (1 to "
		    "1000 characters)");
	if (last != TS(CLOSED) && !empty(m->close_reason))
		return refuse(ctx, IPSNET_EINVAL,
			      "a close reason goes only with a closed "
			      "trajectory");
	if (trajectory_states[last].next != 0) {
		rv = check_no_open_trajectory(ctx, m->client_id, m->program_id);
		if (rv != 0)
			return rv;
	}
	/* The same referral twice (a sheet exported again once the
	 * trajectory was closed, a referral made by hand and then imported)
	 * would be two trajectories, and the open copy would keep her
	 * enrolled in the reports for good. Not judged again in a replay:
	 * an entry accepted before this rule stays as it was. */
	if (!ctx->replay) {
		sqlite3_stmt *st;
		rv = prepare(ctx,
			     "SELECT id, version, status FROM trajectory WHERE "
			     "client_id = ?1 AND program_id = ?2 AND "
			     "referred_on = ?3 ORDER BY id LIMIT 1",
			     &st);
		if (rv != 0)
			return rv;
		sqlite3_bind_text(st, 1, m->client_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, m->program_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, steps[0].on, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		char id[JOURNAL_ID_MAX] = "";
		uint64_t version = 0;
		int status = 0;
		if (rc == SQLITE_ROW) {
			util_strlcpy(id, col(st, 0), sizeof(id));
			version = (uint64_t)sqlite3_column_int64(st, 1);
			status = sqlite3_column_int(st, 2);
		}
		done(ctx, st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return IPSNET_EDB;
		if (rc == SQLITE_ROW)
			return refuse(
			    ctx, IPSNET_EEXISTS,
			    "this trajectory is recorded already: %s, referred "
			    "on %s to program '%s', now %s (version %llu); "
			    "record its later steps with ipsnet trajectory",
			    id, steps[0].on, m->program_id,
			    apply_trajectory_status_name(status),
			    (unsigned long long)version);
	}
	rv = insert_trajectory(ctx, m->trajectory_id, m->client_id,
			       m->program_id, m->note, steps, m->n_steps,
			       m->close_reason);
	if (rv != 0)
		return rv;
	return respond_entity(ctx, E_TRAJECTORY, m->trajectory_id);
}

/* ---- funding ----------------------------------------------------------- */

/* A benefit in a sentence for people, in the words ipsnet case show uses
 * for it, not the wire's enum name. */
static const char *benefit_name(int b)
{
	switch (b) {
	case IPSNET__V1__BENEFIT__BENEFIT_NONE:
		return "none";
	case IPSNET__V1__BENEFIT__BENEFIT_PARTICIPATIEWET:
		return "Participatiewet";
	case IPSNET__V1__BENEFIT__BENEFIT_WIA:
		return "WIA";
	case IPSNET__V1__BENEFIT__BENEFIT_WAJONG:
		return "Wajong";
	case IPSNET__V1__BENEFIT__BENEFIT_WW:
		return "WW";
	case IPSNET__V1__BENEFIT__BENEFIT_OTHER:
		return "other";
	default:
		return "unknown";
	}
}

/* The id of the active organisation of kind (with CBS code cbs, when not
 * NULL) that a refused request should have named, into id; "" when the
 * registry has none. */
static int right_funder(struct apply_ctx *ctx, const char *kind,
			const char *cbs, char *id, size_t cap)
{
	sqlite3_stmt *st;
	int rv = prepare(ctx,
			 "SELECT id FROM organisation WHERE active AND kind = "
			 "?1 AND (?2 IS NULL OR cbs_code = ?2) ORDER BY id "
			 "LIMIT 1",
			 &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	bind_text_or_null(st, 2, cbs);
	int rc = sqlite3_step(st);
	util_strlcpy(id, rc == SQLITE_ROW ? col(st, 0) : "", cap);
	done(ctx, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : IPSNET_EDB;
}

/* The funder rule of DESIGN §2: PARTICIPATIEWET -> the client's own
 * municipality, WIA / WAJONG / WW -> UWV; any client may instead be funded
 * by OTHER, described. A refusal names the organisation to ask by the id
 * the request takes (gm0363), not only by the client's CBS code. */
static int check_funder(struct apply_ctx *ctx, const char *client_id,
			const char *funder)
{
	sqlite3_stmt *st;
	char municipality[16] = "", cbs[16];
	enum org_kind kind;
	int benefit = 0;

	int rv = prepare(ctx,
			 "SELECT benefit, municipality FROM client WHERE id = "
			 "?1",
			 &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		benefit = sqlite3_column_int(st, 0);
		util_strlcpy(municipality, col(st, 1), sizeof(municipality));
	}
	done(ctx, st);
	if (rc != SQLITE_ROW)
		return IPSNET_EDB;
	rv = org_lookup(ctx, funder, &kind, cbs, sizeof(cbs));
	if (rv != 0)
		return rv;
	if (kind != ORG_KIND_MUNICIPALITY && kind != ORG_KIND_UWV)
		return refuse(ctx, IPSNET_EINVAL,
			      "the funder must be a municipality or UWV in the "
			      "registry, or another funder with a "
			      "description");
	char right[ORG_ID_MAX];
	switch (benefit) {
	case IPSNET__V1__BENEFIT__BENEFIT_PARTICIPATIEWET:
		if (kind == ORG_KIND_MUNICIPALITY &&
		    strcmp(cbs, municipality) == 0)
			return 0;
		if ((rv = right_funder(ctx, "MUNICIPALITY", municipality, right,
				       sizeof(right))) != 0)
			return rv;
		if (right[0] == '\0')
			return refuse(ctx, IPSNET_EPRECONDITION,
				      "wrong funder: a client on "
				      "Participatiewet is funded by the "
				      "client's own municipality (%s), which "
				      "is not in the network; describe it as "
				      "another funder",
				      municipality);
		return refuse(ctx, IPSNET_EPRECONDITION,
			      "wrong funder: a client on Participatiewet is "
			      "funded by the client's own municipality (%s): "
			      "ask '%s', not '%s'",
			      municipality, right, funder);
	case IPSNET__V1__BENEFIT__BENEFIT_WIA:
	case IPSNET__V1__BENEFIT__BENEFIT_WAJONG:
	case IPSNET__V1__BENEFIT__BENEFIT_WW:
		if (kind == ORG_KIND_UWV)
			return 0;
		if ((rv = right_funder(ctx, "UWV", NULL, right,
				       sizeof(right))) != 0)
			return rv;
		if (right[0] == '\0')
			return refuse(ctx, IPSNET_EPRECONDITION,
				      "wrong funder: a client on %s is funded "
				      "by UWV, which is not in the network; "
				      "describe it as another funder",
				      benefit_name(benefit));
		return refuse(ctx, IPSNET_EPRECONDITION,
			      "wrong funder: a client on %s is funded by UWV: "
			      "ask '%s', not '%s'",
			      benefit_name(benefit), right, funder);
	default:
		return refuse(ctx, IPSNET_EPRECONDITION,
			      "wrong funder: a client with benefit %s has no "
			      "funder in the network; ask another funder with "
			      "a description",
			      benefit_name(benefit));
	}
}

/* Whether the client has live consent to share with org on the change's
 * date. */
static int consent_live(struct apply_ctx *ctx, const char *client_id,
			const char *org, bool *live)
{
	sqlite3_stmt *st;
	char day[16];
	int rv = prepare(ctx,
			 "SELECT 1 FROM consent WHERE client_id = ?1 AND "
			 "recipient = ?2 AND withdrawn_at IS NULL AND "
			 "valid_until >= ?3",
			 &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, today(ctx, day), -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*live = rc == SQLITE_ROW;
	done(ctx, st);
	return rc == SQLITE_ROW || rc == SQLITE_DONE ? 0 : IPSNET_EDB;
}

static int request_funding(struct apply_ctx *ctx)
{
	const Ipsnet__V1__RequestFunding *m = ctx->req->request_funding;
	struct trajectory_row t;
	struct policy_client pc;
	sqlite3_stmt *st;
	char day[16];
	int rv;

	rv = load_trajectory(ctx, m->trajectory_id, &t);
	if (rv != 0)
		return rv;
	rv = client_facts(ctx, t.client_id, &pc);
	if (rv != 0)
		return rv;
	ASK_POLICY(policy_request_funding(ctx->actor, &pc, &t.parties,
					  ctx->message, sizeof(ctx->message)));
	if (!t.found)
		return refuse(ctx, IPSNET_ENOT_FOUND, "no trajectory '%s'",
			      m->trajectory_id);
	if (empty(m->funding_id))
		return refuse(ctx, IPSNET_EINTERNAL, "no funding id assigned");
	if (!trajectory_status_known(t.status) ||
	    trajectory_states[t.status].next == 0)
		return refuse(ctx, IPSNET_EPRECONDITION,
			      "funding is asked for an open trajectory; this "
			      "one is %s",
			      apply_trajectory_status_name(t.status));
	if (m->months < 1 || m->months > 60)
		return refuse(ctx, IPSNET_EINVAL,
			      "the months requested must be 1 to 60");
	bool other = empty(m->funder);
	if (other && !given(ctx, m->other_description))
		return refuse(ctx, IPSNET_EINVAL,
			      "name the funder (the client's municipality or "
			      "UWV), or describe another funder");
	if (!other && !empty(m->other_description))
		return refuse(ctx, IPSNET_EINVAL,
			      "give either a funder or a description of "
			      "another funder, not both");
	if (other && text_chars(m->other_description) > TEXT_MAX)
		return refuse(ctx, IPSNET_EINVAL,
			      "the description of the funder must be 1 to 200 "
			      "characters");
	if (!other && !ctx->replay) {
		rv = check_funder(ctx, t.client_id, m->funder);
		if (rv != 0)
			return rv;
	}
	if (!other) {
		/* Asking a funder shares the client with it. */
		bool live;
		rv = consent_live(ctx, t.client_id, m->funder, &live);
		if (rv != 0)
			return rv;
		if (!live)
			return refuse(ctx, IPSNET_EPRECONDITION,
				      "no consent: the client has no live "
				      "consent to share with '%s'; record "
				      "consent first",
				      m->funder);
	}
	rv = prepare(ctx,
		     "SELECT id FROM funding WHERE trajectory_id = ?1 AND "
		     "status = ?2 AND coalesce(funder, '') = ?3",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->trajectory_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, FS(REQUESTED));
	sqlite3_bind_text(st, 3, or_empty(m->funder), -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	char waiting[JOURNAL_ID_MAX] = "";
	if (rc == SQLITE_ROW)
		util_strlcpy(waiting, col(st, 0), sizeof(waiting));
	done(ctx, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return IPSNET_EDB;
	if (rc == SQLITE_ROW && !other)
		return refuse(ctx, IPSNET_EPRECONDITION,
			      "a funding request to '%s' for this trajectory "
			      "is already waiting (%s)",
			      m->funder, waiting);

	rv = prepare(ctx,
		     "INSERT INTO funding (id, version, trajectory_id, "
		     "client_id, funder, other_description, months, status, "
		     "requested_on, requested_by) VALUES (?1, 1, ?2, ?3, ?4, "
		     "?5, ?6, ?7, ?8, ?9)",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->funding_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->trajectory_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, t.client_id, -1, SQLITE_STATIC);
	bind_text_or_null(st, 4, m->funder);
	bind_text_or_null(st, 5, m->other_description);
	sqlite3_bind_int(st, 6, (int)m->months);
	sqlite3_bind_int(st, 7, FS(REQUESTED));
	sqlite3_bind_text(st, 8, today(ctx, day), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 9, ctx->actor->org, -1, SQLITE_STATIC);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;
	return respond_entity(ctx, E_FUNDING, m->funding_id);
}

static int decide_funding(struct apply_ctx *ctx)
{
	const Ipsnet__V1__DecideFunding *m = ctx->req->decide_funding;
	struct policy_client pc;
	sqlite3_stmt *st;
	char client_id[JOURNAL_ID_MAX] = "", funder[ORG_ID_MAX] = "",
	     requested_by[ORG_ID_MAX] = "", requested_on[16] = "", on[16],
	     trajectory_id[JOURNAL_ID_MAX] = "";
	uint64_t current = 0;
	int status = 0, rv;

	if (m->decision != FS(APPROVED) && m->decision != FS(REJECTED) &&
	    m->decision != FS(WITHDRAWN))
		return refuse(ctx, IPSNET_EINVAL,
			      "the decision must be approved, rejected or "
			      "withdrawn");
	rv = prepare(ctx,
		     "SELECT client_id, coalesce(funder, ''), "
		     "coalesce(requested_by, ''), version, status, "
		     "requested_on, trajectory_id FROM funding WHERE id = ?1",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->funding_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		util_strlcpy(client_id, col(st, 0), sizeof(client_id));
		util_strlcpy(funder, col(st, 1), sizeof(funder));
		util_strlcpy(requested_by, col(st, 2), sizeof(requested_by));
		current = (uint64_t)sqlite3_column_int64(st, 3);
		status = sqlite3_column_int(st, 4);
		util_strlcpy(requested_on, col(st, 5), sizeof(requested_on));
		util_strlcpy(trajectory_id, col(st, 6), sizeof(trajectory_id));
	}
	done(ctx, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return IPSNET_EDB;
	rv = client_facts(ctx, client_id, &pc);
	if (rv != 0)
		return rv;
	/* Who runs its program now (policy) and whether it ended unstarted
	 * (an approval): neither is judged in a replay. */
	struct trajectory_row t = {0};
	if (!ctx->replay && (rv = load_trajectory(ctx, trajectory_id, &t)) != 0)
		return rv;
	ASK_POLICY(policy_decide_funding(
	    ctx->actor, &pc, funder, requested_by,
	    t.found ? t.parties.program_owner : NULL, m->decision, ctx->message,
	    sizeof(ctx->message)));
	if (rc == SQLITE_DONE)
		return refuse(ctx, IPSNET_ENOT_FOUND, "no funding request '%s'",
			      m->funding_id);
	rv = check_version(ctx, E_FUNDING, "funding request", m->funding_id,
			   m->expected_version, current);
	if (rv != 0)
		return rv;
	rv = apply_funding_move(status, m->decision, ctx->message,
				sizeof(ctx->message));
	if (rv != 0)
		return rv;
	rv = date_or_today(ctx, m->on, "the decision date", on);
	if (rv != 0)
		return rv;
	if (strcmp(on, requested_on) < 0)
		return refuse(ctx, IPSNET_EINVAL,
			      "the decision date must not be before the "
			      "request (%s)",
			      requested_on);
	if (m->reference != NULL && text_chars(m->reference) > TEXT_MAX)
		return refuse(ctx, IPSNET_EINVAL,
			      "the decision reference must be at most 200 "
			      "characters");
	if (m->reason != NULL && text_chars(m->reason) > REASON_MAX)
		return refuse(ctx, IPSNET_EINVAL,
			      "the reason must be at most 1000 characters");
	if (m->decision == FS(REJECTED) && !given(ctx, m->reason))
		return refuse(ctx, IPSNET_EINVAL, "a rejection needs a reason");
	if (m->decision == FS(APPROVED) && !ctx->replay) {
		/* A referral declined or cancelled since the request never
		 * becomes a trajectory: there is nothing to pay for. (One
		 * closed since ran, and may be paid for.) Not judged again in
		 * a replay: an approval accepted before this rule stays. */
		if (t.found &&
		    (t.status == TS(DECLINED) || t.status == TS(CANCELLED)))
			return refuse(ctx, IPSNET_EPRECONDITION,
				      "trajectory %s was %s since the request: "
				      "there is nothing to fund; reject the "
				      "request instead",
				      trajectory_id,
				      apply_trajectory_status_name(t.status));
	}
	if (m->decision == FS(APPROVED) && funder[0] != '\0' && !ctx->replay) {
		/* The benefit or the municipality may have changed since the
		 * request: the funder is who pays now. Not in a replay, as
		 * for the request: the registry is today's, and a
		 * municipality may have left it since. */
		rv = check_funder(ctx, client_id, funder);
		if (rv == IPSNET_EPRECONDITION) {
			char why[sizeof(ctx->message)];
			util_strlcpy(why, ctx->message, sizeof(why));
			return refuse(ctx, IPSNET_EPRECONDITION,
				      "the client's benefit or municipality "
				      "changed since the request (%s); reject "
				      "it, so that the GGZ can ask the funder "
				      "who pays now",
				      why);
		}
		if (rv != 0)
			return rv;
	}

	rv = prepare(ctx,
		     "UPDATE funding SET version = version + 1, status = ?2, "
		     "decided_on = ?3, decision_reference = ?4, reason = ?5 "
		     "WHERE id = ?1",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->funding_id, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 2, m->decision);
	sqlite3_bind_text(st, 3, on, -1, SQLITE_STATIC);
	bind_text_or_null(st, 4, m->reference);
	bind_text_or_null(st, 5, m->reason);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;
	return respond_entity(ctx, E_FUNDING, m->funding_id);
}

/* ---- jobs -------------------------------------------------------------- */

static int add_job(struct apply_ctx *ctx)
{
	const Ipsnet__V1__AddJob *m = ctx->req->add_job;
	struct policy_client pc;
	sqlite3_stmt *st;
	char start[16], end[16] = "";
	int rv;

	rv = client_facts(ctx, m->client_id, &pc);
	if (rv != 0)
		return rv;
	ASK_POLICY(policy_record_job(ctx->actor, &pc, ctx->message,
				     sizeof(ctx->message)));
	if (!pc.exists)
		return refuse(ctx, IPSNET_ENOT_FOUND, "no client '%s'",
			      m->client_id);
	if (empty(m->job_id))
		return refuse(ctx, IPSNET_EINTERNAL, "no job id assigned");
	if (!empty(m->trajectory_id)) {
		struct trajectory_row t;
		rv = load_trajectory(ctx, m->trajectory_id, &t);
		if (rv != 0)
			return rv;
		if (!t.found || strcmp(t.client_id, m->client_id) != 0)
			return refuse(ctx, IPSNET_EINVAL,
				      "trajectory '%s' is not one of this "
				      "client's",
				      m->trajectory_id);
	}
	if (!text_ok(ctx, m->employer, TEXT_MAX))
		return refuse(ctx, IPSNET_EINVAL,
			      "the employer must be 1 to 200 characters");
	/* A job is often recorded once the contract is signed: its start
	 * may lie up to a year ahead. */
	if (!date_valid(m->start_date) ||
	    date_days(m->start_date) > today_days(ctx) + 366)
		return refuse(ctx, IPSNET_EINVAL,
			      "the job needs a start date (YYYY-MM-DD), at "
			      "most a year from today");
	util_strlcpy(start, m->start_date, sizeof(start));
	bool early;
	if ((rv = before_birth(ctx, m->client_id, start, &early)) != 0)
		return rv;
	if (early)
		return refuse(ctx, IPSNET_EINVAL,
			      "the job's start date (%s) is before the "
			      "client's birth date",
			      start);
	if (!empty(m->end_date)) {
		rv = date_or_today(ctx, m->end_date, "the end date", end);
		if (rv != 0)
			return rv;
		if (strcmp(end, start) < 0)
			return refuse(ctx, IPSNET_EINVAL,
				      "the end date must not be before the "
				      "start date");
	}
	if (!isfinite(m->hours_per_week) || m->hours_per_week <= 0 ||
	    m->hours_per_week > 80)
		return refuse(ctx, IPSNET_EINVAL,
			      "the hours a week must be more than 0 and at "
			      "most 80");
	/* The same job twice (a sheet exported again with its end date
	 * filled in, a job added by hand and then imported) would count as
	 * two: an open copy of an ended job keeps her employed in the
	 * reports for good. Not judged again in a replay: an entry
	 * accepted before this rule stays as it was. A withdrawn job is no
	 * copy: its contract may be signed after all. */
	if (!ctx->replay) {
		rv = prepare(ctx,
			     "SELECT id, version, coalesce(end_date, ''), "
			     "employer FROM job WHERE client_id = ?1 AND "
			     "start_date = ?2 AND NOT withdrawn ORDER BY id",
			     &st);
		if (rv != 0)
			return rv;
		sqlite3_bind_text(st, 1, m->client_id, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, start, -1, SQLITE_STATIC);
		/* Letter case aside, and not only of A-Z, as SQLite's lower()
		 * has it: "BAKKERIJ ÖZTÜRK" is "Bakkerij Öztürk"; and spaces
		 * at the ends or doubled. */
		int rc;
		while ((rc = sqlite3_step(st)) == SQLITE_ROW &&
		       !text_same_name(col(st, 3), m->employer))
			;
		char id[JOURNAL_ID_MAX] = "", ended[16] = "";
		uint64_t version = 0;
		if (rc == SQLITE_ROW) {
			util_strlcpy(id, col(st, 0), sizeof(id));
			version = (uint64_t)sqlite3_column_int64(st, 1);
			util_strlcpy(ended, col(st, 2), sizeof(ended));
		}
		done(ctx, st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return IPSNET_EDB;
		if (rc == SQLITE_ROW && ended[0] != '\0')
			return refuse(ctx, IPSNET_EEXISTS,
				      "this job is recorded already: %s, from "
				      "%s to %s",
				      id, start, ended);
		if (rc == SQLITE_ROW)
			return refuse(ctx, IPSNET_EEXISTS,
				      "this job is recorded already: %s, from "
				      "%s (version %llu); to record its end: "
				      "ipsnet job end %s --version %llu --on "
				      "DATE",
				      id, start, (unsigned long long)version,
				      id, (unsigned long long)version);
	}

	rv = prepare(ctx,
		     "INSERT INTO job (id, version, client_id, trajectory_id, "
		     "employer, start_date, end_date, hours_per_week, "
		     "competitive) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->job_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->client_id, -1, SQLITE_STATIC);
	bind_text_or_null(st, 3, m->trajectory_id);
	sqlite3_bind_text(st, 4, m->employer, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, start, -1, SQLITE_STATIC);
	bind_text_or_null(st, 6, end);
	sqlite3_bind_double(st, 7, m->hours_per_week);
	sqlite3_bind_int(st, 8, m->competitive ? 1 : 0);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;
	return respond_entity(ctx, E_JOB, m->job_id);
}

static int end_job(struct apply_ctx *ctx)
{
	const Ipsnet__V1__EndJob *m = ctx->req->end_job;
	struct policy_client pc;
	sqlite3_stmt *st;
	char client_id[JOURNAL_ID_MAX] = "", start[16] = "", ended[16] = "",
	     end[16];
	uint64_t current = 0;
	bool was_withdrawn = false;
	int rv;

	rv = prepare(ctx,
		     "SELECT client_id, version, start_date, end_date, "
		     "withdrawn FROM job WHERE id = ?1",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->job_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		util_strlcpy(client_id, col(st, 0), sizeof(client_id));
		current = (uint64_t)sqlite3_column_int64(st, 1);
		util_strlcpy(start, col(st, 2), sizeof(start));
		util_strlcpy(ended, col(st, 3), sizeof(ended));
		was_withdrawn = sqlite3_column_int(st, 4) != 0;
	}
	done(ctx, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return IPSNET_EDB;
	rv = client_facts(ctx, client_id, &pc);
	if (rv != 0)
		return rv;
	ASK_POLICY(policy_record_job(ctx->actor, &pc, ctx->message,
				     sizeof(ctx->message)));
	if (rc == SQLITE_DONE)
		return refuse(ctx, IPSNET_ENOT_FOUND, "no job '%s'", m->job_id);
	rv = check_version(ctx, E_JOB, "job", m->job_id, m->expected_version,
			   current);
	if (rv != 0)
		return rv;
	if (was_withdrawn)
		return refuse(ctx, IPSNET_EPRECONDITION,
			      "this job was withdrawn on %s: it never began",
			      ended);
	if (ended[0] != '\0')
		return refuse(ctx, IPSNET_EPRECONDITION,
			      "this job already ended on %s", ended);
	rv = date_or_today(ctx, m->end_date, "the end date", end);
	if (rv != 0)
		return rv;
	/* A job recorded ahead of its first day whose contract falls
	 * through can only end before it begins (the end is not in the
	 * future): that withdraws it, and it counts in no report. One that
	 * has begun lasted at least its first day. */
	bool withdrawn = date_days(start) > today_days(ctx);
	if (!withdrawn && strcmp(end, start) < 0)
		return refuse(ctx, IPSNET_EINVAL,
			      "the end date must not be before the start date "
			      "(%s)",
			      start);
	rv = prepare(ctx,
		     "UPDATE job SET version = version + 1, end_date = ?2, "
		     "withdrawn = ?3 WHERE id = ?1",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->job_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, end, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, withdrawn ? 1 : 0);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;
	return respond_entity(ctx, E_JOB, m->job_id);
}

/* ---- fidelity reviews -------------------------------------------------- */

static int record_fidelity(struct apply_ctx *ctx)
{
	const Ipsnet__V1__RecordFidelity *m = ctx->req->record_fidelity;
	char owner[ORG_ID_MAX], date[16], scores[FIDELITY_ITEMS * 2 + 1] = "";
	bool independent = false;
	unsigned total = 0;
	sqlite3_stmt *st;
	int rv;

	rv = program_owner(ctx, m->program_id, owner, sizeof(owner));
	if (rv != 0)
		return rv;
	ASK_POLICY(policy_record_fidelity(ctx->actor, owner, &independent,
					  ctx->message, sizeof(ctx->message)));
	/* Only NETWORK and the owner may record: a review by anyone but the
	 * owner is independent (the same answer when replaying). */
	independent = strcmp(ctx->actor->org, owner) != 0;
	if (empty(m->review_id))
		return refuse(ctx, IPSNET_EINTERNAL, "no review id assigned");
	if (m->n_scores != FIDELITY_ITEMS)
		return refuse(ctx, IPSNET_EINVAL,
			      "a fidelity review has 25 item scores; this one "
			      "has %zu",
			      m->n_scores);
	for (size_t i = 0; i < m->n_scores; i++) {
		if (m->scores[i] < 1 || m->scores[i] > 5)
			return refuse(ctx, IPSNET_EINVAL,
				      "item %zu scores %u: every item scores 1 "
				      "to 5",
				      i + 1, m->scores[i]);
		total += m->scores[i];
		size_t len = strlen(scores);
		snprintf(scores + len, sizeof(scores) - len, "%s%u",
			 i == 0 ? "" : ",", m->scores[i]);
	}
	rv = date_or_today(ctx, m->review_date, "the review date", date);
	if (rv != 0)
		return rv;

	rv = prepare(ctx,
		     "INSERT INTO fidelity_review (id, version, program_id, "
		     "review_date, scores, total, band, independent, "
		     "recorded_by) VALUES (?1, 1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->review_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->program_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, date, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, scores, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, (int)total);
	sqlite3_bind_text(st, 6, apply_fidelity_band(total), -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 7, independent ? 1 : 0);
	sqlite3_bind_text(st, 8, ctx->actor->org, -1, SQLITE_STATIC);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;
	return respond_entity(ctx, E_REVIEW, m->review_id);
}

/* ---- programs ---------------------------------------------------------- */

static bool slug_valid(const char *s)
{
	return s != NULL && org_id_valid(s);
}

static int put_program(struct apply_ctx *ctx)
{
	const Ipsnet__V1__PutProgram *m = ctx->req->put_program;
	sqlite3_stmt *st;
	int rv;

	if (!slug_valid(m->program_id))
		return refuse(ctx, IPSNET_EINVAL,
			      "the program id must be 1 to 63 of a-z, 0-9 and "
			      "'-'");
	if (!ctx->replay &&
	    policy_put_program(ctx->actor, or_empty(m->owner), ctx->message,
			       sizeof(ctx->message)) != 0)
		return IPSNET_EPERMISSION;
	if (!text_ok(ctx, m->name, TEXT_MAX))
		return refuse(ctx, IPSNET_EINVAL,
			      "the program name must be 1 to 200 characters");
	if (m->region < 1 || m->region > 35)
		return refuse(ctx, IPSNET_EINVAL,
			      "the labour-market region must be 1 to 35");
	if (m->specialists > 1000)
		return refuse(ctx, IPSNET_EINVAL,
			      "the number of employment specialists must be "
			      "0 to 1000");

	/* Judged by the registry as it is when the change is made: a GGZ
	 * taken out of it (its row kept, inactive) owns nothing new, as one
	 * never in it does. A replay takes the owner as it was accepted then
	 * (the registry may have changed since: a kind corrected, an
	 * organisation gone). */
	if (!ctx->replay) {
		enum org_kind owner_kind;
		rv = org_lookup(ctx, m->owner, &owner_kind, NULL, 0);
		if (rv != 0)
			return rv;
		if (owner_kind != ORG_KIND_GGZ)
			return refuse(ctx, IPSNET_EINVAL,
				      "the owner of a program must be a GGZ in "
				      "the registry");
	}

	rv = prepare(ctx,
		     "SELECT version, owner, name, region, specialists FROM "
		     "program WHERE id = ?1",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->program_id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	uint64_t current = 0;
	char owner[ORG_ID_MAX] = "", name[4 * TEXT_MAX + 1] = "";
	Ipsnet__V1__Program now = IPSNET__V1__PROGRAM__INIT;
	if (rc == SQLITE_ROW) {
		current = (uint64_t)sqlite3_column_int64(st, 0);
		util_strlcpy(owner, (const char *)sqlite3_column_text(st, 1),
			     sizeof(owner));
		util_strlcpy(name, col(st, 2), sizeof(name));
		now.region = (uint32_t)sqlite3_column_int(st, 3);
		now.specialists = (uint32_t)sqlite3_column_int(st, 4);
	}
	done(ctx, st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return IPSNET_EDB;
	if (m->expected_version == 0 && current != 0)
		return refuse(ctx, IPSNET_EEXISTS,
			      "program '%s' already exists (version %llu)",
			      m->program_id, (unsigned long long)current);
	if (m->expected_version != 0 && current == 0)
		return refuse(ctx, IPSNET_ENOT_FOUND, "no program '%s'",
			      m->program_id);
	if (m->expected_version != 0 && m->expected_version != current) {
		char why[sizeof(ctx->message)];
		ctx->current_version = current;
		int err = refuse(ctx, IPSNET_ECONFLICT,
				 "program '%s' was changed since version "
				 "%llu; it is now at version %llu",
				 m->program_id,
				 (unsigned long long)m->expected_version,
				 (unsigned long long)current);
		/* The program as it is now only for who may change it, as
		 * after a successful change: policy on its owner is asked
		 * only below. */
		if (!ctx->replay && policy_put_program(ctx->actor, owner, why,
						       sizeof(why)) != 0)
			return err;
		Ipsnet__V1__Status status = IPSNET__V1__STATUS__INIT;
		Ipsnet__V1__ChangeOk ok = IPSNET__V1__CHANGE_OK__INIT;
		status.code = ipsnet_err_status(err);
		status.message = ctx->message;
		status.current_version = current;
		now.id = m->program_id;
		now.version = current;
		now.owner = owner;
		now.name = name;
		ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_PROGRAM;
		ok.program = &now;
		ctx->entity_kind = "program";
		ctx->version = current;
		rv = respond_with(ctx, &status, &ok);
		if (rv == 0)
			return err;
		ctx->message[0] = '\0';
		ctx->current_version = 0;
		return rv;
	}
	if (!ctx->replay && current != 0 &&
	    policy_put_program(ctx->actor, owner, ctx->message,
			       sizeof(ctx->message)) != 0)
		return IPSNET_EPERMISSION;

	rv = prepare(ctx,
		     "INSERT INTO program (id, version, owner, name, region, "
		     "specialists) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT "
		     "(id) DO UPDATE SET version = ?2, owner = ?3, name = ?4, "
		     "region = ?5, specialists = ?6",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->program_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)(current + 1));
	sqlite3_bind_text(st, 3, m->owner, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, m->name, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, (int)m->region);
	sqlite3_bind_int(st, 6, (int)m->specialists);
	rv = step_done(ctx, st);
	if (rv != 0)
		return rv;
	/* The GGZ that ran it is no party of its clients any more. */
	if (current != 0 && strcmp(owner, m->owner) != 0)
		util_strlcpy(ctx->narrows_org, owner, sizeof(ctx->narrows_org));

	ctx->entity_kind = "program";
	util_strlcpy(ctx->entity_id, m->program_id, sizeof(ctx->entity_id));
	ctx->version = current + 1;
	Ipsnet__V1__ChangeOk ok = IPSNET__V1__CHANGE_OK__INIT;
	Ipsnet__V1__Program p = IPSNET__V1__PROGRAM__INIT;
	p.id = m->program_id;
	p.version = ctx->version;
	p.owner = m->owner;
	p.name = m->name;
	p.region = m->region;
	p.specialists = m->specialists;
	ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_PROGRAM;
	ok.program = &p;
	return respond(ctx, &ok);
}

/* ---- the table --------------------------------------------------------- */

typedef int (*apply_fn)(struct apply_ctx *ctx);

static const struct {
	apply_fn fn;
	const char *action; /* as the audit trail names it */
} appliers[] = {
    [BODY(REGISTER_CLIENT)] = {register_client, "register_client"},
    [BODY(UPDATE_CLIENT)] = {update_client, "update_client"},
    [BODY(GRANT_CONSENT)] = {grant_consent, "grant_consent"},
    [BODY(WITHDRAW_CONSENT)] = {withdraw_consent, "withdraw_consent"},
    [BODY(REFER)] = {refer, "refer"},
    [BODY(MOVE_TRAJECTORY)] = {move_trajectory, "move_trajectory"},
    [BODY(REQUEST_FUNDING)] = {request_funding, "request_funding"},
    [BODY(DECIDE_FUNDING)] = {decide_funding, "decide_funding"},
    [BODY(ADD_JOB)] = {add_job, "add_job"},
    [BODY(END_JOB)] = {end_job, "end_job"},
    [BODY(PUT_PROGRAM)] = {put_program, "put_program"},
    [BODY(RECORD_FIDELITY)] = {record_fidelity, "record_fidelity"},
    [BODY(IMPORT_TRAJECTORY)] = {import_trajectory, "import_trajectory"},
};

bool apply_is_change(int body_case)
{
	return body_case > 0 && (size_t)body_case < ARRAY_SIZE(appliers) &&
	       appliers[body_case].fn != NULL;
}

/* A new opaque id: a prefix and 16 hex digits of randomness. */
/* A new opaque id: a prefix and 16 hex digits that grow with time (the
 * microseconds since the epoch, times 256, plus a random byte). Ids that
 * grow keep every index they are in appended to at its end instead of
 * written all over: a third of the disk writes of a registration. They
 * say when an entity was made, which its journal entry says anyway; who
 * may see an entity is policy's business, never the id's secrecy. Called
 * on the loop thread only. */
static int new_id(char **field, const char *prefix)
{
	static uint64_t last, rng;
	if (rng == 0 && util_random(&rng, sizeof(rng)) != 0)
		return IPSNET_EINTERNAL;
	rng ^= rng << 13; /* xorshift64: cheap, and only for spreading */
	rng ^= rng >> 7;
	rng ^= rng << 17;
	uint64_t v = (util_now_us() << 8) | (rng & 0xff);
	if (v <= last)
		v = last + 1;
	last = v;
	size_t plen = strlen(prefix);
	char *id = ipsnet_malloc(plen + 1 + 16 + 1);
	if (id == NULL)
		return IPSNET_ENOMEM;
	memcpy(id, prefix, plen);
	id[plen] = '-';
	for (int i = 15; i >= 0; i--, v >>= 4) /* "%016llx" */
		id[plen + 1 + (size_t)i] = "0123456789abcdef"[v & 15];
	id[plen + 17] = '\0';
	ipsnet_free(*field == protobuf_c_empty_string ? NULL : *field);
	*field = id;
	return 0;
}

int apply_prepare(Ipsnet__V1__Envelope *req)
{
	switch (req->body_case) {
	case BODY(REGISTER_CLIENT):
		return new_id(&req->register_client->client_id, "cl");
	case BODY(GRANT_CONSENT):
		return new_id(&req->grant_consent->consent_id, "co");
	case BODY(REFER):
		return new_id(&req->refer->trajectory_id, "tr");
	case BODY(REQUEST_FUNDING):
		return new_id(&req->request_funding->funding_id, "fu");
	case BODY(ADD_JOB):
		return new_id(&req->add_job->job_id, "jo");
	case BODY(RECORD_FIDELITY):
		return new_id(&req->record_fidelity->review_id, "fr");
	case BODY(IMPORT_TRAJECTORY):
		return new_id(&req->import_trajectory->trajectory_id, "tr");
	default:
		return 0;
	}
}

/* What a change is about, from the request alone: the entity it makes or
 * changes, and the client when the request names it. */
static void describe(const Ipsnet__V1__Envelope *req, const char **kind,
		     const char **id, const char **client)
{
	*kind = "";
	*id = "";
	*client = "";
	switch (req->body_case) {
	case BODY(REGISTER_CLIENT):
		*kind = "client";
		*id = req->register_client->client_id;
		break;
	case BODY(UPDATE_CLIENT):
		*kind = "client";
		*id = *client = req->update_client->client_id;
		break;
	case BODY(GRANT_CONSENT):
		*kind = "consent";
		*id = req->grant_consent->consent_id;
		*client = req->grant_consent->client_id;
		break;
	case BODY(WITHDRAW_CONSENT):
		*kind = "consent";
		*id = req->withdraw_consent->consent_id;
		break;
	case BODY(REFER):
		*kind = "trajectory";
		*id = req->refer->trajectory_id;
		*client = req->refer->client_id;
		break;
	case BODY(MOVE_TRAJECTORY):
		*kind = "trajectory";
		*id = req->move_trajectory->trajectory_id;
		break;
	case BODY(REQUEST_FUNDING):
		*kind = "funding";
		*id = req->request_funding->funding_id;
		break;
	case BODY(DECIDE_FUNDING):
		*kind = "funding";
		*id = req->decide_funding->funding_id;
		break;
	case BODY(ADD_JOB):
		*kind = "job";
		*id = req->add_job->job_id;
		*client = req->add_job->client_id;
		break;
	case BODY(END_JOB):
		*kind = "job";
		*id = req->end_job->job_id;
		break;
	case BODY(PUT_PROGRAM):
		*kind = "program";
		*id = req->put_program->program_id;
		break;
	case BODY(RECORD_FIDELITY):
		*kind = "fidelity_review";
		*id = req->record_fidelity->review_id;
		break;
	case BODY(IMPORT_TRAJECTORY):
		*kind = "trajectory";
		*id = req->import_trajectory->trajectory_id;
		*client = req->import_trajectory->client_id;
		break;
	default:
		break;
	}
	*id = or_empty(*id);
	*client = or_empty(*client);
}

int apply_change(struct apply_ctx *ctx)
{
	size_t kind = (size_t)ctx->req->body_case;
	apply_fn fn = kind < ARRAY_SIZE(appliers) ? appliers[kind].fn : NULL;
	const char *entity_id, *client_id;
	if (fn == NULL)
		return refuse(ctx, IPSNET_EUNIMPLEMENTED,
			      "this server does not apply that change yet");
	/* What a refusal is recorded against; the apply function sets the
	 * rest as it learns it. */
	describe(ctx->req, &ctx->entity_kind, &entity_id, &client_id);
	util_strlcpy(ctx->entity_id, entity_id, sizeof(ctx->entity_id));
	util_strlcpy(ctx->client_id, client_id, sizeof(ctx->client_id));
	return fn(ctx);
}

static const char *action_name(int body_case)
{
	return apply_is_change(body_case) ? appliers[body_case].action
					  : "unknown_change";
}

void apply_audit(const struct apply_ctx *ctx, struct journal_audit_row *row)
{
	util_strlcpy(row->action, action_name(ctx->req->body_case),
		     sizeof(row->action));
	snprintf(row->object, sizeof(row->object), "%s:%s",
		 ctx->entity_kind != NULL && ctx->entity_kind[0] != '\0'
		     ? ctx->entity_kind
		     : "-",
		 ctx->entity_id[0] != '\0' ? ctx->entity_id : "-");
	util_strlcpy(row->client_id, ctx->client_id, sizeof(row->client_id));
}

int apply_replay_cut(sqlite3 *db, const struct journal_actor *actor,
		     uint8_t **response, size_t *len)
{
	Ipsnet__V1__Envelope *first = ipsnet__v1__envelope__unpack(
	    &ipsnet_protobuf_allocator, *len, *response);
	if (first == NULL)
		return IPSNET_EINTERNAL;
	if (first->body_case != BODY(CHANGE_OK)) {
		ipsnet__v1__envelope__free_unpacked(first,
						    &ipsnet_protobuf_allocator);
		return 0;
	}
	/* The entity cut in place, or none: the change, not its state. */
	Ipsnet__V1__ChangeOk bare = IPSNET__V1__CHANGE_OK__INIT;
	Ipsnet__V1__ChangeOk *ok = first->change_ok;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	env.status = first->status;
	env.body_case = BODY(CHANGE_OK);
	env.change_ok = ok;
	bool visible;
	int judged = sync_visible(db, actor, ok, &visible);
	if (judged != 0) {
		ipsnet__v1__envelope__free_unpacked(first,
						    &ipsnet_protobuf_allocator);
		return judged;
	}
	if (!visible) {
		bare.seq = ok->seq;
		bare.entity_kind = ok->entity_kind;
		bare.entity_id = ok->entity_id;
		bare.version = ok->version;
		env.change_ok = &bare;
	}
	size_t n = ipsnet__v1__envelope__get_packed_size(&env);
	uint8_t *cut = ipsnet_malloc(n);
	int rv = IPSNET_ENOMEM;
	if (cut != NULL) {
		ipsnet__v1__envelope__pack(&env, cut);
		ipsnet_free(*response);
		*response = cut;
		*len = n;
		rv = 0;
	}
	ipsnet__v1__envelope__free_unpacked(first, &ipsnet_protobuf_allocator);
	return rv;
}

void apply_audit_client(sqlite3 *db, const Ipsnet__V1__Envelope *req,
			struct journal_audit_row *row)
{
	static const char *const tables[] = {"consent", "trajectory", "funding",
					     "job"};
	const char *kind, *id, *client;
	sqlite3_stmt *st;
	char sql[64];

	if (row->client_id[0] != '\0')
		return;
	describe(req, &kind, &id, &client);
	if (req->body_case == BODY(REQUEST_FUNDING)) {
		/* A new request: its client is its trajectory's. */
		kind = "trajectory";
		id = or_empty(req->request_funding->trajectory_id);
	}
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
		if (strcmp(kind, tables[i]) != 0 || id[0] == '\0')
			continue;
		snprintf(sql, sizeof(sql),
			 "SELECT client_id FROM %s WHERE id = ?1", tables[i]);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			return;
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_text(st, 0) != NULL)
			util_strlcpy(row->client_id,
				     (const char *)sqlite3_column_text(st, 0),
				     sizeof(row->client_id));
		sqlite3_finalize(st);
		return;
	}
}

void apply_audit_request(const Ipsnet__V1__Envelope *req,
			 const uint8_t *response, size_t len,
			 struct journal_audit_row *row)
{
	const char *kind, *id, *client;
	describe(req, &kind, &id, &client);
	util_strlcpy(row->action, action_name(req->body_case),
		     sizeof(row->action));
	snprintf(row->object, sizeof(row->object), "%s:%s",
		 kind[0] != '\0' ? kind : "-", id[0] != '\0' ? id : "-");
	util_strlcpy(row->client_id,
		     req->body_case == BODY(REGISTER_CLIENT) ? "" : client,
		     sizeof(row->client_id));
	if (response == NULL)
		return;
	/* A replay: the first answer names what the change made. */
	Ipsnet__V1__Envelope *first = ipsnet__v1__envelope__unpack(
	    &ipsnet_protobuf_allocator, len, response);
	if (first == NULL)
		return;
	if (first->body_case == BODY(CHANGE_OK)) {
		const Ipsnet__V1__ChangeOk *ok = first->change_ok;
		snprintf(row->object, sizeof(row->object), "%s:%s",
			 or_empty(ok->entity_kind), or_empty(ok->entity_id));
		util_strlcpy(row->client_id, util_change_ok_client(ok),
			     sizeof(row->client_id));
	}
	ipsnet__v1__envelope__free_unpacked(first, &ipsnet_protobuf_allocator);
}
