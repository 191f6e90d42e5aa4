#include "apply.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "ipsnet_errors.h"
#include "policy.h"
#include "util.h"
#include "validate.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name

const char *const apply_state_tables[] = {
    "program", "client",  "consent",         "trajectory",
    "trajectory_event", "funding", "job", "fidelity_review", NULL,
};

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

/* Packs the answer: status OK and the ChangeOk. */
static int respond(struct apply_ctx *ctx, Ipsnet__V1__ChangeOk *ok)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Status status = IPSNET__V1__STATUS__INIT;
	ok->seq = ctx->seq;
	ok->entity_kind = (char *)ctx->entity_kind;
	ok->entity_id = ctx->entity_id;
	ok->version = ctx->version;
	env.status = &status;
	env.body_case = BODY(CHANGE_OK);
	env.change_ok = ok;
	size_t n = ipsnet__v1__envelope__get_packed_size(&env);
	ctx->response = ipsnet_malloc(n);
	if (ctx->response == NULL)
		return IPSNET_ENOMEM;
	ctx->response_len = ipsnet__v1__envelope__pack(&env, ctx->response);
	return 0;
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : IPSNET_EDB;
}

static int prepare(struct apply_ctx *ctx, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(ctx->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
				  st, NULL) == SQLITE_OK
		   ? 0
		   : IPSNET_EDB;
}

static const char *or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* ---- clients ----------------------------------------------------------- */

static int register_client(struct apply_ctx *ctx)
{
	const Ipsnet__V1__RegisterClient *m = ctx->req->register_client;
	sqlite3_stmt *st;
	char registered_at[32];
	int rv;

	if (!ctx->replay &&
	    policy_register_client(ctx->actor, ctx->message,
				   sizeof(ctx->message)) != 0)
		return IPSNET_EPERMISSION;
	if (!bsn_valid(m->bsn))
		return refuse(ctx, IPSNET_EINVAL,
			      "the BSN must be 9 digits that pass the "
			      "11-proof");
	if (m->name == NULL || m->name[0] == '\0' || strlen(m->name) > 200)
		return refuse(ctx, IPSNET_EINVAL,
			      "the name must be 1 to 200 characters");
	if (!date_valid(m->birth_date) ||
	    date_days(m->birth_date) > (long)(ctx->time_us / 86400000000LL) ||
	    date_days(m->birth_date) <
		(long)(ctx->time_us / 86400000000LL) - 120 * 366)
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
			      "the benefit must be NONE, PARTICIPATIEWET, WIA, "
			      "WAJONG, WW or OTHER");
	if (m->client_id == NULL || m->client_id[0] == '\0')
		return refuse(ctx, IPSNET_EINTERNAL, "no client id assigned");

	rv = prepare(ctx,
		     "SELECT 1 FROM client WHERE registered_by = ?1 AND bsn = "
		     "?2",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, ctx->actor->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, m->bsn, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
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
	rv = step_done(st);
	if (rv != 0)
		return rv;

	ctx->entity_kind = "client";
	util_strlcpy(ctx->entity_id, m->client_id, sizeof(ctx->entity_id));
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
	if (m->name == NULL || m->name[0] == '\0' || strlen(m->name) > 200)
		return refuse(ctx, IPSNET_EINVAL,
			      "the program name must be 1 to 200 characters");
	if (m->region < 1 || m->region > 35)
		return refuse(ctx, IPSNET_EINVAL,
			      "the labour-market region must be 1 to 35");
	if (m->specialists > 1000)
		return refuse(ctx, IPSNET_EINVAL,
			      "the number of employment specialists must be "
			      "0 to 1000");

	rv = prepare(ctx, "SELECT kind FROM organisation WHERE id = ?1", &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, or_empty(m->owner), -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	bool owner_is_ggz = rc == SQLITE_ROW &&
			    strcmp((const char *)sqlite3_column_text(st, 0),
				   "GGZ") == 0;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return IPSNET_EDB;
	if (!owner_is_ggz)
		return refuse(ctx, IPSNET_EINVAL,
			      "the owner of a program must be a GGZ in the "
			      "registry");

	rv = prepare(ctx, "SELECT version, owner FROM program WHERE id = ?1",
		     &st);
	if (rv != 0)
		return rv;
	sqlite3_bind_text(st, 1, m->program_id, -1, SQLITE_STATIC);
	rc = sqlite3_step(st);
	uint64_t current = 0;
	char owner[ORG_ID_MAX] = "";
	if (rc == SQLITE_ROW) {
		current = (uint64_t)sqlite3_column_int64(st, 0);
		util_strlcpy(owner, (const char *)sqlite3_column_text(st, 1),
			     sizeof(owner));
	}
	sqlite3_finalize(st);
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
		ctx->current_version = current;
		return refuse(ctx, IPSNET_ECONFLICT,
			      "program '%s' was changed since version %llu; "
			      "it is now at version %llu",
			      m->program_id,
			      (unsigned long long)m->expected_version,
			      (unsigned long long)current);
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
	rv = step_done(st);
	if (rv != 0)
		return rv;

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

static const apply_fn appliers[] = {
    [BODY(REGISTER_CLIENT)] = register_client,
    [BODY(PUT_PROGRAM)] = put_program,
};

bool apply_is_change(int body_case)
{
	switch (body_case) {
	case BODY(REGISTER_CLIENT):
	case BODY(UPDATE_CLIENT):
	case BODY(GRANT_CONSENT):
	case BODY(WITHDRAW_CONSENT):
	case BODY(REFER):
	case BODY(MOVE_TRAJECTORY):
	case BODY(REQUEST_FUNDING):
	case BODY(DECIDE_FUNDING):
	case BODY(ADD_JOB):
	case BODY(END_JOB):
	case BODY(PUT_PROGRAM):
	case BODY(RECORD_FIDELITY):
	case BODY(IMPORT_TRAJECTORY):
		return true;
	}
	return false;
}

/* A new opaque id: a prefix and 16 hex digits of randomness. */
static int new_id(char **field, const char *prefix)
{
	uint8_t r[8];
	char hex[17];
	if (util_random(r, sizeof(r)) != 0)
		return IPSNET_EINTERNAL;
	util_hex(hex, sizeof(hex), r, sizeof(r));
	size_t n = strlen(prefix) + 1 + 16 + 1;
	char *id = ipsnet_malloc(n);
	if (id == NULL)
		return IPSNET_ENOMEM;
	snprintf(id, n, "%s-%s", prefix, hex);
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

int apply_change(struct apply_ctx *ctx)
{
	size_t kind = (size_t)ctx->req->body_case;
	apply_fn fn = kind < ARRAY_SIZE(appliers) ? appliers[kind] : NULL;
	if (fn == NULL)
		return refuse(ctx, IPSNET_EUNIMPLEMENTED,
			      "this server does not apply that change yet");
	return fn(ctx);
}
