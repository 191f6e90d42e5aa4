/* libFuzzer driver for what an authenticated organisation can send the
 * daemon: every change (apply.c, inside its savepoint, as the writer runs
 * it, then cut for each organisation as sync pushes it), every read
 * (reads.c) and every report (report.c), as a reader thread runs them, on
 * a real SQLite database with a small network already in it.
 *
 * Input: records, each
 *   byte 0:      the sender: 0 ggz-demo, 1 ggz-b (GGZ), 2 gm0363
 *                (MUNICIPALITY), 3 uwv (UWV), 4 network (NETWORK), mod 5
 *   bytes 1..2:  n, little-endian
 *   n bytes:     an Envelope, as it comes out of a frame
 * Records run in order, each change in its own savepoint as the writer
 * runs it, each read in its own transaction as a reader runs it, so a
 * record acts on what the earlier ones made (the network's ids are fixed:
 * see seed_network and requests.dict). Every input starts from the same
 * seeded database (an in-memory copy).
 *
 * Checked beyond memory errors and undefined behaviour:
 * - a change is applied (0, with an answer) or refused with one of the
 *   codes apply.h names and a sentence for the caller; never IPSNET_EDB
 *   on this healthy database;
 * - a read answers (with bytes) or refuses with a sentence; never
 *   UNAVAILABLE (a failed database) either;
 * - no SQL statement is left running after a change or a read;
 * - a report is built or refused with a sentence;
 * - a CONFLICT may answer with the entity as it is now (and no other
 *   refusal with anything); it is checked as every answer is;
 * - who may see what (DESIGN §1), in every answer and in what sync would
 *   push of every applied change to each of the five (sync_visible):
 *   NETWORK never gets a client, consent, trajectory, funding request or
 *   job; a MUNICIPALITY or UWV never gets a referral note, the
 *   registering GGZ, a consent given to another organisation or a funding
 *   request addressed to another funder. Checked on the decoded messages,
 *   field by field, so that text the fuzzer writes into a field a funder
 *   may see is no false alarm.
 *
 * IPSNET_FUZZ_SEEDS=DIR writes the seed inputs into DIR and exits;
 * IPSNET_FUZZ_TRACE=1 prints each record's outcome. The ctest entry
 * fuzz_requests_corpus replays tests/fuzz/corpus/requests (replay.c). */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "alloc.h"
#include "apply.h"
#include "config.h"
#include "ipsnet.pb-c.h"
#include "ipsnet_errors.h"
#include "reads.h"
#include "report.h"
#include "store.h"
#include "sync.h"
#include "util.h"
#include "validate.h"

#define BODY(x) IPSNET__V1__ENVELOPE__BODY_##x

/* The seeded network's referral notes begin with this. */
#define NOTE_MARK "CLINICAL-NOTE"
static const char *const bsns[] = {"111222333", "123456782", "234567004"};

static const struct {
	const char *org;
	enum org_kind kind;
} senders[] = {
    {"ggz-demo", ORG_KIND_GGZ},	       {"ggz-b", ORG_KIND_GGZ},
    {"gm0363", ORG_KIND_MUNICIPALITY}, {"uwv", ORG_KIND_UWV},
    {"network", ORG_KIND_NETWORK},
};
#define N_SENDERS ARRAY_SIZE(senders)

static sqlite3 *db;
static struct apply_stmts *stmts;
static uint64_t seq;
static bool trace; /* IPSNET_FUZZ_TRACE: each record's outcome on stderr */

static void trace_outcome(unsigned who, int body, int rv, const char *msg,
			  size_t answer)
{
	if (trace)
		fprintf(stderr, "%-8s body %3d: %s%s%s (%zu bytes)\n",
			senders[who].org, body,
			rv == 0 ? "ok" : ipsnet_strerror(rv),
			msg[0] != '\0' ? ": " : "", msg, answer);
}

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_requests: %s: %s\n", what, detail);
	abort();
}

static void exec(const char *sql)
{
	char *msg = NULL;
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		die(sql, msg != NULL ? msg : sqlite3_errmsg(db));
}

static void set_actor(struct journal_actor *a, unsigned who)
{
	memset(a, 0, sizeof(*a));
	util_strlcpy(a->org, senders[who].org, sizeof(a->org));
	a->org_kind = senders[who].kind;
	util_strlcpy(a->user, "fuzz.user", sizeof(a->user));
	util_strlcpy(a->peer, "127.0.0.1:40000", sizeof(a->peer));
}

/* ---- who may see what (DESIGN §1, docs/sync.md) ------------------------ */

static void refuse_to(unsigned who, const char *what)
{
	die(what, senders[who].org);
}

/* Whether entity, a personal one, went to a funder (MUNICIPALITY, UWV),
 * whose share of it is checked next. NETWORK gets none at all. */
static bool to_funder(unsigned who, const void *entity, const char *what)
{
	if (entity == NULL)
		return false;
	if (senders[who].kind == ORG_KIND_NETWORK)
		refuse_to(who, what);
	return senders[who].kind != ORG_KIND_GGZ;
}

/* A funder never gets who registered a client, nor a referral note (only
 * GGZ parties of a case get it); it gets only the consents given to it
 * and the funding requests addressed to it. */
static void check_client(unsigned who, const Ipsnet__V1__Client *c)
{
	if (to_funder(who, c, "a client reached") &&
	    c->registered_by[0] != '\0')
		refuse_to(who, "the registering GGZ reached");
}

static void check_trajectory(unsigned who, const Ipsnet__V1__Trajectory *t)
{
	if (to_funder(who, t, "a trajectory reached") && t->note[0] != '\0')
		refuse_to(who, "a referral note reached");
}

static void check_consent(unsigned who, const Ipsnet__V1__Consent *c)
{
	if (to_funder(who, c, "a consent reached") &&
	    strcmp(c->recipient, senders[who].org) != 0)
		refuse_to(who, "another organisation's consent reached");
}

static void check_funding(unsigned who, const Ipsnet__V1__Funding *f)
{
	if (to_funder(who, f, "a funding request reached") &&
	    strcmp(f->funder, senders[who].org) != 0)
		refuse_to(who, "a funding request to another funder reached");
}

static void check_job(unsigned who, const Ipsnet__V1__Job *j)
{
	(void)to_funder(who, j, "a job reached");
}

static void check_change_ok(unsigned who, const Ipsnet__V1__ChangeOk *ok)
{
	switch (ok->entity_case) { /* a oneof: one pointer, several names */
	case IPSNET__V1__CHANGE_OK__ENTITY_CLIENT:
		check_client(who, ok->client);
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_CONSENT:
		check_consent(who, ok->consent);
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_TRAJECTORY:
		check_trajectory(who, ok->trajectory);
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_FUNDING:
		check_funding(who, ok->funding);
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_JOB:
		check_job(who, ok->job);
		break;
	default:
		break;
	}
}

/* An answer (packed Envelope) as it would go to who. */
static void check_answer(unsigned who, const uint8_t *p, size_t n)
{
	Ipsnet__V1__Envelope *env =
	    ipsnet__v1__envelope__unpack(&ipsnet_protobuf_allocator, n, p);
	if (env == NULL)
		die("an answer", "does not unpack");
	switch (env->body_case) {
	case BODY(CHANGE_OK):
		check_change_ok(who, env->change_ok);
		break;
	case BODY(CASE_VIEW): {
		const Ipsnet__V1__CaseView *v = env->case_view;
		check_client(who, v->client);
		for (size_t i = 0; i < v->n_consents; i++)
			check_consent(who, v->consents[i]);
		for (size_t i = 0; i < v->n_trajectories; i++)
			check_trajectory(who, v->trajectories[i]);
		for (size_t i = 0; i < v->n_fundings; i++)
			check_funding(who, v->fundings[i]);
		for (size_t i = 0; i < v->n_jobs; i++)
			check_job(who, v->jobs[i]);
		break;
	}
	case BODY(FUNDING_LIST): {
		const Ipsnet__V1__FundingList *l = env->funding_list;
		for (size_t i = 0; i < l->n_fundings; i++)
			check_funding(who, l->fundings[i]);
		for (size_t i = 0; i < l->n_clients; i++)
			check_client(who, l->clients[i]);
		break;
	}
	default:
		break;
	}
	ipsnet__v1__envelope__free_unpacked(env, &ipsnet_protobuf_allocator);
}

static bool is_refusal(int rv)
{
	return rv == IPSNET_EINVAL || rv == IPSNET_EPERMISSION ||
	       rv == IPSNET_ENOT_FOUND || rv == IPSNET_ECONFLICT ||
	       rv == IPSNET_EPRECONDITION || rv == IPSNET_EEXISTS;
}

/* A CONFLICT's answer is the refusal with the entity's ChangeOk: status
 * CONFLICT with the current version, no journal entry. */
static void check_refusal_answer(const uint8_t *p, size_t n)
{
	Ipsnet__V1__Envelope *env =
	    ipsnet__v1__envelope__unpack(&ipsnet_protobuf_allocator, n, p);
	if (env == NULL || env->status == NULL ||
	    env->status->code != IPSNET__V1__CODE__ABORTED ||
	    env->status->current_version == 0 ||
	    env->body_case != BODY(CHANGE_OK) || env->change_ok->seq != 0 ||
	    env->change_ok->version != env->status->current_version)
		die("a CONFLICT's answer",
		    "is not the refusal with a ChangeOk");
	ipsnet__v1__envelope__free_unpacked(env, &ipsnet_protobuf_allocator);
}

/* What sync would push of an applied change to each organisation: the
 * ChangeOk cut by sync_visible, the same judgement as a live delivery's. */
static void check_pushed(const uint8_t *answer, size_t len)
{
	for (unsigned who = 0; who < N_SENDERS; who++) {
		Ipsnet__V1__Envelope *env = ipsnet__v1__envelope__unpack(
		    &ipsnet_protobuf_allocator, len, answer);
		if (env == NULL || env->body_case != BODY(CHANGE_OK))
			die("an applied change's answer", "is not a ChangeOk");
		struct journal_actor actor;
		set_actor(&actor, who);
		bool visible;
		if (sync_visible(db, &actor, env->change_ok, &visible) == 0 &&
		    visible)
			check_change_ok(who, env->change_ok);
		ipsnet__v1__envelope__free_unpacked(env,
						    &ipsnet_protobuf_allocator);
	}
}

static void run_change(unsigned who, Ipsnet__V1__Envelope *req)
{
	/* What handle_change checks before the writer sees the change. */
	if (req->idempotency_key.len != JOURNAL_KEY_BYTES ||
	    util_proto_has_unknown_fields(&req->base))
		return;
	if (apply_prepare(req) != 0)
		die("apply_prepare", "failed");
	struct journal_actor actor;
	set_actor(&actor, who);
	struct apply_ctx ctx = {
	    .db = db,
	    .stmts = stmts,
	    .actor = &actor,
	    .req = req,
	    .time_us = (int64_t)1795000000000000, /* 2026-11-18 */
	    .seq = seq + 1,
	};
	exec("SAVEPOINT change");
	int rv = apply_change(&ctx);
	struct journal_audit_row row;
	apply_audit(&ctx, &row);
	trace_outcome(who, req->body_case, rv, ctx.message, ctx.response_len);
	if (rv == 0) {
		if (ctx.response == NULL || ctx.response_len == 0)
			die("an applied change", "has no answer");
		check_answer(who, ctx.response, ctx.response_len);
		seq++;
		exec("RELEASE change");
		check_pushed(ctx.response, ctx.response_len);
	} else {
		if (!is_refusal(rv)) {
			fprintf(stderr, "body %d, SQLite: %s\n", req->body_case,
				sqlite3_errmsg(db));
			die("a change failed with", ipsnet_strerror(rv));
		}
		if (ctx.message[0] == '\0')
			die("a refusal without a sentence",
			    ipsnet_strerror(rv));
		/* A CONFLICT may carry the entity as it is now: the same
		 * who-sees-what as any answer. No other refusal has one. */
		if (ctx.response != NULL) {
			if (rv != IPSNET_ECONFLICT)
				die("a refusal with a body",
				    ipsnet_strerror(rv));
			check_refusal_answer(ctx.response, ctx.response_len);
			check_answer(who, ctx.response, ctx.response_len);
		}
		exec("ROLLBACK TO change; RELEASE change");
	}
	ipsnet_free(ctx.response);
}

static void run_read(unsigned who, const Ipsnet__V1__Envelope *req)
{
	struct journal_actor actor;
	set_actor(&actor, who);
	struct reads_ctx ctx = {
	    .actor = &actor,
	    .req = req,
	    .now_us = (int64_t)1795000000000000,
	};
	reads_run(db, &ctx);
	trace_outcome(who, req->body_case, ctx.err, ctx.message,
		      ctx.response_len);
	if (ctx.err == 0) {
		if (ctx.response == NULL || ctx.response_len == 0)
			die("a read", "answered nothing");
		check_answer(who, ctx.response, ctx.response_len);
	} else {
		if (ctx.err == IPSNET_EDB || ctx.err == IPSNET_EUNAVAILABLE ||
		    ctx.err == IPSNET_EINTERNAL)
			die("a read failed with", ipsnet_strerror(ctx.err));
		if (ctx.message[0] == '\0')
			die("a read refused without a sentence",
			    ipsnet_strerror(ctx.err));
	}
	reads_ctx_free(&ctx);
}

/* A report holds counts and the labels of regions, programs and funders:
 * no field of it carries a client, so only its contract is checked. */
static void run_report(unsigned who, const Ipsnet__V1__Envelope *req)
{
	struct journal_actor actor;
	set_actor(&actor, who);
	const struct report_settings settings = {.sustained_months = 6,
						 .small_count_threshold = 5};
	uint8_t *out = NULL;
	size_t len = 0;
	char why[256] = "";
	int rv = report_build(db, &actor, &settings, req->report_query, &out,
			      &len, why, sizeof(why));
	trace_outcome(who, req->body_case, rv, why, len);
	if (rv == 0) {
		if (out == NULL || len == 0)
			die("a report", "answered nothing");
	} else {
		if (rv != IPSNET_EINVAL && rv != IPSNET_EPERMISSION &&
		    rv != IPSNET_ENOT_FOUND)
			die("a report failed with", ipsnet_strerror(rv));
		if (why[0] == '\0')
			die("a report refused without a sentence",
			    ipsnet_strerror(rv));
	}
	ipsnet_free(out);
}

/* The name sync gives the event of a change: from the payload the journal
 * keeps (the change packed again, without request id or status), the
 * body's own name. Any bytes give a name, and in their bounds. */
static void check_change_name(const uint8_t *p, size_t n,
			      const Ipsnet__V1__Envelope *req)
{
	if (sync_change_name(p, n) == NULL)
		die("sync_change_name", "NULL for the record's bytes");
	if (req == NULL || req->body_case == 0)
		return;
	Ipsnet__V1__Envelope e = *req;
	e.request_id = 0;
	e.status = NULL;
	size_t len = ipsnet__v1__envelope__get_packed_size(&e);
	uint8_t *buf = malloc(len > 0 ? len : 1);
	if (buf == NULL)
		die("check_change_name", "out of memory");
	ipsnet__v1__envelope__pack(&e, buf);
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(
		&ipsnet__v1__envelope__descriptor, req->body_case);
	const char *name = sync_change_name(buf, len);
	if (f == NULL || strcmp(name, f->name) != 0)
		die("sync_change_name", name);
	free(buf);
}

static void run_one(unsigned who, const uint8_t *p, size_t n)
{
	Ipsnet__V1__Envelope *req =
	    ipsnet__v1__envelope__unpack(&ipsnet_protobuf_allocator, n, p);
	check_change_name(p, n, req);
	if (req == NULL)
		return;
	/* As the daemon's door (conn.c): text that is not UTF-8 goes no
	 * further, and the refusal names a field. */
	char field[160] = "";
	if (!message_utf8_valid(&req->base, field, sizeof(field))) {
		if (field[0] == '\0')
			die("message_utf8_valid", "refused without a field");
		ipsnet__v1__envelope__free_unpacked(req,
						    &ipsnet_protobuf_allocator);
		return;
	}
	/* Nor does text with a NUL, found by walking the frame's own bytes. */
	size_t nul = message_text_nul_at(&ipsnet__v1__envelope__descriptor, p,
					 n, field, sizeof(field));
	if (nul > 0) {
		if (field[0] == '\0')
			die("message_text_nul_at", "refused without a field");
		if (nul > n)
			die("message_text_nul_at", "a NUL past the frame");
		ipsnet__v1__envelope__free_unpacked(req,
						    &ipsnet_protobuf_allocator);
		return;
	}
	if (apply_is_change(req->body_case))
		run_change(who, req);
	else if (reads_is_read(req->body_case))
		run_read(who, req);
	else if (req->body_case == BODY(REPORT_QUERY))
		run_report(who, req);
	ipsnet__v1__envelope__free_unpacked(req, &ipsnet_protobuf_allocator);
	/* A statement still running would keep its read transaction, and
	 * its bindings point into the request just freed. */
	for (sqlite3_stmt *st = sqlite3_next_stmt(db, NULL); st != NULL;
	     st = sqlite3_next_stmt(db, st))
		if (sqlite3_stmt_busy(st))
			die("a statement was left running", sqlite3_sql(st));
}

/* The seeded database, to start every input from. */
static unsigned char *image;
static sqlite3_int64 image_len;

static void restore(void)
{
	/* Statements kept from the last input would hold pointers into the
	 * schema the new image replaces. */
	apply_stmts_free(stmts);
	stmts = apply_stmts_new();
	if (stmts == NULL)
		die("apply_stmts_new", "out of memory");
	unsigned char *copy = sqlite3_malloc64((sqlite3_uint64)image_len);
	if (copy == NULL)
		die("restore", "out of memory");
	memcpy(copy, image, (size_t)image_len);
	if (sqlite3_deserialize(db, "main", copy, image_len, image_len,
				SQLITE_DESERIALIZE_FREEONCLOSE |
				    SQLITE_DESERIALIZE_RESIZEABLE) != SQLITE_OK)
		die("sqlite3_deserialize", sqlite3_errmsg(db));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	restore();
	uint64_t seq0 = seq;
	while (size >= 3) {
		unsigned who = data[0] % N_SENDERS;
		size_t n = (size_t)data[1] | (size_t)data[2] << 8;
		data += 3;
		size -= 3;
		if (n > size)
			n = size;
		run_one(who, data, n);
		data += n;
		size -= n;
	}
	seq = seq0;
	return 0;
}

/* ---- the network every input starts from -------------------------------- */

/* Packs env as a record from sender who, appended to buf at *len. */
static void put_record(uint8_t *buf, size_t cap, size_t *len, unsigned who,
		       Ipsnet__V1__Envelope *env)
{
	static uint64_t key;
	uint8_t k[JOURNAL_KEY_BYTES] = "fuzz-seed-key-00";
	key++;
	memcpy(k + 8, &key, sizeof(key));
	env->idempotency_key.data = k;
	env->idempotency_key.len = sizeof(k);
	size_t n = ipsnet__v1__envelope__get_packed_size(env);
	if (*len + 3 + n > cap || n > 0xffff)
		die("seed", "too large");
	buf[*len] = (uint8_t)who;
	buf[*len + 1] = (uint8_t)(n & 0xff);
	buf[*len + 2] = (uint8_t)(n >> 8);
	ipsnet__v1__envelope__pack(env, buf + *len + 3);
	*len += 3 + n;
}

/* e (an Envelope in scope) made afresh, with body kind and its message
 * m_<field>. */
#define ENV(field, ...)                                               \
	do {                                                          \
		e = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT; \
		e.body_case = __VA_ARGS__;                            \
		e.field = &m_##field;                                 \
	} while (0)

/* The seed network, as records: two programs, three clients (one of
 * ggz-b's), consents for gm0363 and uwv, referrals with notes, an
 * accepted trajectory, funding requests to both funders, a job. Ids are
 * fixed (what apply_prepare would choose is set here instead). */
static size_t network_records(uint8_t *buf, size_t cap)
{
	size_t len = 0;
	Ipsnet__V1__Envelope e;
	for (int i = 0; i < 2; i++) {
		Ipsnet__V1__PutProgram m_put_program =
		    IPSNET__V1__PUT_PROGRAM__INIT;
		m_put_program.program_id = i == 0 ? "prog-a" : "prog-b";
		m_put_program.owner = i == 0 ? "ggz-demo" : "ggz-b";
		m_put_program.name = i == 0 ? "IPS A" : "IPS B";
		m_put_program.region = 1;
		m_put_program.specialists = 3;
		ENV(put_program, BODY(PUT_PROGRAM));
		put_record(buf, cap, &len, 4, &e);
	}
	static const char *const clients[] = {"cl-seed-1", "cl-seed-2",
					      "cl-seed-3"};
	static const Ipsnet__V1__Benefit benefit[] = {
	    IPSNET__V1__BENEFIT__BENEFIT_PARTICIPATIEWET,
	    IPSNET__V1__BENEFIT__BENEFIT_PARTICIPATIEWET,
	    IPSNET__V1__BENEFIT__BENEFIT_WIA};
	static const unsigned ggz[] = {0, 1, 0};
	for (int i = 0; i < 3; i++) {
		Ipsnet__V1__RegisterClient m_register_client =
		    IPSNET__V1__REGISTER_CLIENT__INIT;
		m_register_client.bsn = (char *)bsns[i];
		m_register_client.name = "Client Seed";
		m_register_client.birth_date = "1990-04-01";
		m_register_client.municipality = "GM0363";
		m_register_client.benefit = benefit[i];
		m_register_client.client_id = (char *)clients[i];
		ENV(register_client, BODY(REGISTER_CLIENT));
		put_record(buf, cap, &len, ggz[i], &e);

		Ipsnet__V1__GrantConsent m_grant_consent =
		    IPSNET__V1__GRANT_CONSENT__INIT;
		char consent_id[32];
		snprintf(consent_id, sizeof(consent_id), "co-seed-%d", i + 1);
		m_grant_consent.client_id = (char *)clients[i];
		m_grant_consent.recipient = i == 2 ? "uwv" : "gm0363";
		m_grant_consent.purpose = "funding";
		m_grant_consent.valid_until = "2099-12-31";
		m_grant_consent.consent_id = consent_id;
		ENV(grant_consent, BODY(GRANT_CONSENT));
		put_record(buf, cap, &len, ggz[i], &e);

		Ipsnet__V1__Refer m_refer = IPSNET__V1__REFER__INIT;
		char tr_id[32];
		snprintf(tr_id, sizeof(tr_id), "tr-seed-%d", i + 1);
		m_refer.client_id = (char *)clients[i];
		m_refer.program_id = ggz[i] == 0 ? "prog-a" : "prog-b";
		m_refer.note = NOTE_MARK " depression, wants to work";
		m_refer.trajectory_id = tr_id;
		ENV(refer, BODY(REFER));
		put_record(buf, cap, &len, ggz[i], &e);

		Ipsnet__V1__MoveTrajectory m_move_trajectory =
		    IPSNET__V1__MOVE_TRAJECTORY__INIT;
		m_move_trajectory.trajectory_id = tr_id;
		m_move_trajectory.expected_version = 1;
		m_move_trajectory.to =
		    IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACCEPTED;
		m_move_trajectory.on = "2026-11-12";
		ENV(move_trajectory, BODY(MOVE_TRAJECTORY));
		put_record(buf, cap, &len, ggz[i], &e);

		Ipsnet__V1__RequestFunding m_request_funding =
		    IPSNET__V1__REQUEST_FUNDING__INIT;
		char fu_id[32];
		snprintf(fu_id, sizeof(fu_id), "fu-seed-%d", i + 1);
		m_request_funding.trajectory_id = tr_id;
		m_request_funding.funder = i == 2 ? "uwv" : "gm0363";
		m_request_funding.months = 6;
		m_request_funding.funding_id = fu_id;
		ENV(request_funding, BODY(REQUEST_FUNDING));
		put_record(buf, cap, &len, ggz[i], &e);
	}
	Ipsnet__V1__AddJob m_add_job = IPSNET__V1__ADD_JOB__INIT;
	m_add_job.client_id = "cl-seed-1";
	m_add_job.trajectory_id = "tr-seed-1";
	m_add_job.employer = "Bakkerij";
	m_add_job.start_date = "2026-11-12";
	m_add_job.hours_per_week = 16;
	m_add_job.competitive = true;
	m_add_job.job_id = "jo-seed-1";
	ENV(add_job, BODY(ADD_JOB));
	put_record(buf, cap, &len, 0, &e);
	return len;
}

/* Applies the seed network's records for good: without apply_prepare,
 * so that the fixed ids stay. Every one must be applied. */
static void seed_network(void)
{
	static uint8_t buf[16384];
	size_t len = network_records(buf, sizeof(buf));
	exec("BEGIN");
	for (size_t off = 0; off + 3 <= len;) {
		unsigned who = buf[off];
		size_t n = (size_t)buf[off + 1] | (size_t)buf[off + 2] << 8;
		Ipsnet__V1__Envelope *req = ipsnet__v1__envelope__unpack(
		    &ipsnet_protobuf_allocator, n, buf + off + 3);
		if (req == NULL)
			die("seed", "does not unpack");
		struct journal_actor actor;
		set_actor(&actor, who);
		struct apply_ctx ctx = {.db = db,
					.stmts = stmts,
					.actor = &actor,
					.req = req,
					.time_us = (int64_t)1794500000000000,
					.seq = ++seq};
		if (apply_change(&ctx) != 0)
			die("seed change refused", ctx.message);
		ipsnet_free(ctx.response);
		ipsnet__v1__envelope__free_unpacked(req,
						    &ipsnet_protobuf_allocator);
		off += 3 + n;
	}
	exec("COMMIT");
}

/* The rest of the network's life, as records: every change kind the
 * network does not hold yet, each applied to it. */
static size_t later_records(uint8_t *buf, size_t cap)
{
	size_t len = 0;
	Ipsnet__V1__Envelope e;
	Ipsnet__V1__UpdateClient m_update_client =
	    IPSNET__V1__UPDATE_CLIENT__INIT;
	m_update_client.client_id = "cl-seed-1";
	m_update_client.expected_version = 1;
	m_update_client.name = "Client Seed Renamed";
	m_update_client.benefit = IPSNET__V1__BENEFIT__BENEFIT_WW;
	ENV(update_client, BODY(UPDATE_CLIENT));
	put_record(buf, cap, &len, 0, &e);

	Ipsnet__V1__MoveTrajectory m_move_trajectory =
	    IPSNET__V1__MOVE_TRAJECTORY__INIT;
	m_move_trajectory.trajectory_id = "tr-seed-1";
	m_move_trajectory.expected_version = 2;
	m_move_trajectory.to = IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACTIVE;
	m_move_trajectory.on = "2026-11-16";
	ENV(move_trajectory, BODY(MOVE_TRAJECTORY));
	put_record(buf, cap, &len, 0, &e);

	Ipsnet__V1__DecideFunding m_decide_funding =
	    IPSNET__V1__DECIDE_FUNDING__INIT;
	m_decide_funding.funding_id = "fu-seed-2";
	m_decide_funding.expected_version = 1;
	m_decide_funding.decision =
	    IPSNET__V1__FUNDING_STATUS__FUNDING_REJECTED;
	m_decide_funding.reason = "not resident";
	m_decide_funding.on = "2026-11-16";
	ENV(decide_funding, BODY(DECIDE_FUNDING));
	put_record(buf, cap, &len, 2, &e);

	/* Paid from elsewhere: the funders see the case, never this one. */
	Ipsnet__V1__RequestFunding m_request_funding =
	    IPSNET__V1__REQUEST_FUNDING__INIT;
	m_request_funding.trajectory_id = "tr-seed-1";
	m_request_funding.other_description = "Fonds X";
	m_request_funding.months = 3;
	ENV(request_funding, BODY(REQUEST_FUNDING));
	put_record(buf, cap, &len, 0, &e);
	Ipsnet__V1__ShowCase m_show_case = IPSNET__V1__SHOW_CASE__INIT;
	m_show_case.client_id = "cl-seed-1";
	ENV(show_case, BODY(SHOW_CASE));
	put_record(buf, cap, &len, 2, &e);
	Ipsnet__V1__ListFunding m_list_funding = IPSNET__V1__LIST_FUNDING__INIT;
	ENV(list_funding, BODY(LIST_FUNDING));
	put_record(buf, cap, &len, 2, &e);

	Ipsnet__V1__WithdrawConsent m_withdraw_consent =
	    IPSNET__V1__WITHDRAW_CONSENT__INIT;
	m_withdraw_consent.consent_id = "co-seed-2";
	m_withdraw_consent.expected_version = 1;
	ENV(withdraw_consent, BODY(WITHDRAW_CONSENT));
	put_record(buf, cap, &len, 1, &e);

	Ipsnet__V1__EndJob m_end_job = IPSNET__V1__END_JOB__INIT;
	m_end_job.job_id = "jo-seed-1";
	m_end_job.expected_version = 1;
	m_end_job.end_date = "2026-11-17";
	ENV(end_job, BODY(END_JOB));
	put_record(buf, cap, &len, 0, &e);

	uint32_t scores[25];
	for (int i = 0; i < 25; i++)
		scores[i] = 1 + (uint32_t)i % 5;
	Ipsnet__V1__RecordFidelity m_record_fidelity =
	    IPSNET__V1__RECORD_FIDELITY__INIT;
	m_record_fidelity.program_id = "prog-a";
	m_record_fidelity.review_date = "2026-11-10";
	m_record_fidelity.n_scores = 25;
	m_record_fidelity.scores = scores;
	ENV(record_fidelity, BODY(RECORD_FIDELITY));
	put_record(buf, cap, &len, 4, &e);

	Ipsnet__V1__TrajectoryStep steps[4] = {
	    IPSNET__V1__TRAJECTORY_STEP__INIT,
	    IPSNET__V1__TRAJECTORY_STEP__INIT,
	    IPSNET__V1__TRAJECTORY_STEP__INIT,
	    IPSNET__V1__TRAJECTORY_STEP__INIT};
	Ipsnet__V1__TrajectoryStep *step[4] = {&steps[0], &steps[1], &steps[2],
					       &steps[3]};
	steps[0].status = IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_REFERRED;
	steps[0].on = "2025-01-06";
	steps[1].status = IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACCEPTED;
	steps[1].on = "2025-01-20";
	steps[2].status = IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACTIVE;
	steps[2].on = "2025-02-03";
	steps[3].status = IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_CLOSED;
	steps[3].on = "2025-06-30";
	Ipsnet__V1__ImportTrajectory m_import_trajectory =
	    IPSNET__V1__IMPORT_TRAJECTORY__INIT;
	m_import_trajectory.client_id = "cl-seed-3";
	m_import_trajectory.program_id = "prog-a";
	m_import_trajectory.note = NOTE_MARK " imported";
	m_import_trajectory.n_steps = 4;
	m_import_trajectory.steps = step;
	m_import_trajectory.close_reason = "moved away";
	ENV(import_trajectory, BODY(IMPORT_TRAJECTORY));
	put_record(buf, cap, &len, 0, &e);

	Ipsnet__V1__ReportPeriod periods[2] = {IPSNET__V1__REPORT_PERIOD__INIT,
					       IPSNET__V1__REPORT_PERIOD__INIT};
	Ipsnet__V1__ReportPeriod *period[2] = {&periods[0], &periods[1]};
	periods[0].label = "2026";
	periods[0].from = "2026-01-01";
	periods[0].to = "2026-12-31";
	periods[1].label = "2025";
	periods[1].from = "2025-01-01";
	periods[1].to = "2025-12-31";
	Ipsnet__V1__ReportGrouping by[3] = {
	    IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION,
	    IPSNET__V1__REPORT_GROUPING__REPORT_BY_PROGRAM,
	    IPSNET__V1__REPORT_GROUPING__REPORT_BY_FUNDER};
	Ipsnet__V1__ReportQuery m_report_query = IPSNET__V1__REPORT_QUERY__INIT;
	m_report_query.n_periods = 2;
	m_report_query.periods = period;
	m_report_query.n_by = 3;
	m_report_query.by = by;
	m_report_query.history_years = 2;
	for (unsigned who = 0; who < N_SENDERS; who++) {
		ENV(report_query, BODY(REPORT_QUERY));
		put_record(buf, cap, &len, who, &e);
	}

	Ipsnet__V1__ListPrograms m_list_programs =
	    IPSNET__V1__LIST_PROGRAMS__INIT;
	for (unsigned who = 0; who < N_SENDERS; who++) {
		ENV(list_programs, BODY(LIST_PROGRAMS));
		put_record(buf, cap, &len, who, &e);
	}
#undef ENV
	return len;
}

static void write_seed(const char *dir, int k, const uint8_t *buf, size_t len)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/seed-%02d", dir, k);
	FILE *f = fopen(path, "wb");
	if (f == NULL || fwrite(buf, 1, len, f) != len)
		die("cannot write", path);
	fclose(f);
}

/* Seed inputs: reads of the network by each sender, and a few changes. */
static void write_seeds(const char *dir)
{
	static uint8_t buf[16384];
	int k = 0;
	for (unsigned who = 0; who < N_SENDERS; who++) {
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__ShowCase sc = IPSNET__V1__SHOW_CASE__INIT;
		Ipsnet__V1__FindClient fc = IPSNET__V1__FIND_CLIENT__INIT;
		Ipsnet__V1__ListFunding lf = IPSNET__V1__LIST_FUNDING__INIT;
		Ipsnet__V1__AuditQuery aq = IPSNET__V1__AUDIT_QUERY__INIT;
		Ipsnet__V1__DecideFunding df = IPSNET__V1__DECIDE_FUNDING__INIT;
		size_t len = 0;
		sc.client_id = who == 1 ? "cl-seed-2" : "cl-seed-1";
		e.body_case = BODY(SHOW_CASE);
		e.show_case = &sc;
		put_record(buf, sizeof(buf), &len, who, &e);
		fc.bsn = (char *)bsns[who % 3];
		e = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT;
		e.body_case = BODY(FIND_CLIENT);
		e.find_client = &fc;
		put_record(buf, sizeof(buf), &len, who, &e);
		e = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT;
		e.body_case = BODY(LIST_FUNDING);
		e.list_funding = &lf;
		put_record(buf, sizeof(buf), &len, who, &e);
		aq.client_id = "cl-seed-1";
		e = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT;
		e.body_case = BODY(AUDIT_QUERY);
		e.audit_query = &aq;
		put_record(buf, sizeof(buf), &len, who, &e);
		df.funding_id = who == 3 ? "fu-seed-3" : "fu-seed-1";
		df.expected_version = 1;
		df.decision = IPSNET__V1__FUNDING_STATUS__FUNDING_APPROVED;
		df.reference = "BESLUIT-1";
		df.on = "2026-11-15";
		e = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT;
		e.body_case = BODY(DECIDE_FUNDING);
		e.decide_funding = &df;
		put_record(buf, sizeof(buf), &len, who, &e);
		e = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT;
		e.body_case = BODY(SHOW_CASE);
		e.show_case = &sc;
		put_record(buf, sizeof(buf), &len, who, &e);

		write_seed(dir, k++, buf, len);
	}
	/* The network itself, sent again: every change refused as a
	 * duplicate or a conflict, or applied again under new ids. */
	size_t len = network_records(buf, sizeof(buf));
	write_seed(dir, k++, buf, len);
	len = later_records(buf, sizeof(buf));
	write_seed(dir, k++, buf, len);
}

static char dir[64];

/* Closes the seeding connection and removes its folder. */
static void remove_dir(void)
{
	char path[128];
	static const char *const files[] = {"ipsnet.db", "ipsnet.db-wal",
					    "ipsnet.db-shm"};
	apply_stmts_free(stmts);
	stmts = NULL;
	sqlite3_close(db);
	db = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, files[i]);
		unlink(path);
	}
	rmdir(dir);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	const char *seeds = getenv("IPSNET_FUZZ_SEEDS");
	if (seeds != NULL) {
		write_seeds(seeds);
		exit(0);
	}
	static struct server_config cfg;
	char err[512] = "";
	trace = getenv("IPSNET_FUZZ_TRACE") != NULL;
	snprintf(dir, sizeof(dir), "/tmp/ipsnet-fuzz-XXXXXX");
	if (mkdtemp(dir) == NULL)
		die("mkdtemp", dir);
	if (config_defaults(&cfg) != 0)
		die("config_defaults", "out of memory");
	snprintf(cfg.database, sizeof(cfg.database), "%s/ipsnet.db", dir);
	struct org_config b;
	memset(&b, 0, sizeof(b));
	util_strlcpy(b.id, "ggz-b", sizeof(b.id));
	b.kind = ORG_KIND_GGZ;
	util_strlcpy(b.name, "GGZ B", sizeof(b.name));
	b.region = 1;
	if (config_add_org(&cfg, &b) != 0)
		die("config_add_org", "out of memory");
	if (store_init(&cfg, err, sizeof(err)) != 0)
		die("store_init", err);
	if (sqlite3_open(cfg.database, &db) != SQLITE_OK)
		die("sqlite3_open", cfg.database);
	/* As the writer: foreign keys on; the file need not survive. */
	exec("PRAGMA foreign_keys = ON; PRAGMA synchronous = OFF");
	stmts = apply_stmts_new();
	if (stmts == NULL)
		die("apply_stmts_new", "out of memory");
	seed_network();
	/* An in-memory database has no WAL: the image is taken in rollback
	 * mode. The file is not needed after it. */
	exec("PRAGMA journal_mode = DELETE");
	image = sqlite3_serialize(db, "main", &image_len, 0);
	if (image == NULL)
		die("sqlite3_serialize", sqlite3_errmsg(db));
	remove_dir();
	if (sqlite3_open(":memory:", &db) != SQLITE_OK)
		die("sqlite3_open", ":memory:");
	exec("PRAGMA foreign_keys = ON");
	return 0;
}
