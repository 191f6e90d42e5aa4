/* libFuzzer driver: what a server's pushes do to the local mirror of
 * `ipsnet sync --mirror FILE` (client/cli/mirror.c), on a real SQLite file.
 *
 * An input is a sequence of records, [length, 2 bytes little-endian]
 * [Envelope]: an Event is applied (mirror_apply), a CaughtUp moves the
 * cursor (mirror_advance), a CaseView is put (mirror_put_case), a
 * Subscribe commits, closes the mirror, drops a column of one table (as an
 * older ipsnet made it: since_seq picks which, never id, version or seq)
 * and opens it again, which starts a refill when the table holds rows;
 * anything else commits (mirror_commit). Each entity also goes through
 * mirror_entity_json, as `ipsnet watch --json` prints it.
 *
 * The server it plays keeps a journal: the entries it sent. After a
 * refill set the cursor back, it sends them again as they were, in order
 * of seq: an Event of the input stands for the next entry of the journal
 * after the cursor while there is one, and a CaughtUp that would skip one
 * is not sent; past the journal, the input's events are new entries.
 *
 * Beyond ASan and UBSan, it fails when:
 *   - an event, a CaughtUp, a case or a commit fails on a mirror that is
 *     fine: what a server sends must never stop a sync for good, except a
 *     seq or version beyond 2^63 - 1, which must be refused with a
 *     sentence;
 *   - after the input (committed, closed, opened again), the cursor is not
 *     the highest seq handled, a row is missing or extra, or a row's
 *     version is not the highest version sent for its id (a row only ever
 *     moves forward), or its seq is not that of the entry that made it
 *     (a refill writes a version again, up to meta.refill_upto: the row
 *     takes the seq of what wrote it last);
 *   - a row that a refill had to fill in (its table had a column dropped
 *     while it held the row) and that was sent again since holds NULL in
 *     a column; refill_upto is not what docs/sync.md says (the cursor the
 *     refill started from; 0 once the cursor is past it).
 *
 * The file lives in /dev/shm (else TMPDIR, else /tmp) and is made afresh
 * for every input. IPSNET_FUZZ_SEEDS=DIR writes the seed inputs into DIR
 * and exits; the ctest entry fuzz_mirror_corpus replays
 * tests/fuzz/corpus/mirror (replay.c). */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <sqlite3.h>

#include "alloc.h"
#include "ipsnet_errors.h"
#include "mirror.h"

#define MAX_ROWS 512
#define MAX_ID 64

static void die(const char *what, const char *detail)
{
	fprintf(stderr, "fuzz_mirror: %s: %s\n", what, detail);
	abort();
}

/* What the mirror must hold: per (table, id), the highest version sent
 * and the seq it came with. */
struct row {
	char kind[24];
	char id[MAX_ID];
	uint64_t version, seq;
	bool nulled; /* a column dropped since it was last written */
};

/* The server's journal: the records of the entries it sent, by seq. */
struct entry {
	uint64_t seq;
	const uint8_t *rec;
	size_t len;
};

#define MAX_ENTRIES 1024
static struct entry journal[MAX_ENTRIES];
static size_t n_entries;
static uint64_t known;	     /* the highest seq the server has told of */
static uint64_t refill_upto; /* what meta.refill_upto must be */
static uint64_t upto_open;   /* refill_upto as the mirror read it on open */

static struct row rows[MAX_ROWS];
static size_t n_rows;
static bool too_many; /* more ids than rows[]: the row check is skipped */
static char path[256];

static const char *field_text(const ProtobufCMessage *msg, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(msg->descriptor,
							    name);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_STRING)
		return "";
	const char *s = *(char *const *)((const char *)msg + f->offset);
	return s != NULL ? s : "";
}

static uint64_t field_u64(const ProtobufCMessage *msg, const char *name)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field_by_name(msg->descriptor,
							    name);
	if (f == NULL || f->type != PROTOBUF_C_TYPE_UINT64)
		return 0;
	return *(const uint64_t *)((const char *)msg + f->offset);
}

/* The mirror's tables, by the entity message each holds. */
static const struct {
	const ProtobufCMessageDescriptor *d;
	const char *name;
} tables[] = {
    {&ipsnet__v1__client__descriptor, "client"},
    {&ipsnet__v1__consent__descriptor, "consent"},
    {&ipsnet__v1__trajectory__descriptor, "trajectory"},
    {&ipsnet__v1__funding__descriptor, "funding"},
    {&ipsnet__v1__job__descriptor, "job"},
    {&ipsnet__v1__program__descriptor, "program"},
    {&ipsnet__v1__fidelity_review__descriptor, "fidelity_review"},
};

#define N_TABLES (sizeof(tables) / sizeof(tables[0]))

static const char *table_of(const ProtobufCMessage *msg)
{
	for (size_t i = 0; i < N_TABLES; i++)
		if (tables[i].d == msg->descriptor)
			return tables[i].name;
	die("table_of", msg->descriptor->name);
	return NULL;
}

/* The entity was upserted with seq (an entry's, or the cursor for a
 * case): the row it must leave. */
static void expect(const ProtobufCMessage *msg, uint64_t seq)
{
	const char *kind = table_of(msg), *id = field_text(msg, "id");
	uint64_t version = field_u64(msg, "version");
	if (strlen(id) >= MAX_ID) {
		too_many = true; /* not followed; the row check is skipped */
		return;
	}
	for (size_t i = 0; i < n_rows; i++)
		if (strcmp(rows[i].kind, kind) == 0 &&
		    strcmp(rows[i].id, id) == 0) {
			struct row *r = &rows[i];
			/* A version again is written again while the refill
			 * reads what it had (upsert_again), and to a row that
			 * lost a column (a case brought the version before
			 * its entry came). */
			if (version > r->version ||
			    (version == r->version &&
			     (seq <= upto_open || r->nulled))) {
				r->version = version;
				r->seq = seq;
				r->nulled = false;
			}
			return;
		}
	if (n_rows == MAX_ROWS) {
		too_many = true;
		return;
	}
	struct row *r = &rows[n_rows++];
	snprintf(r->kind, sizeof(r->kind), "%s", kind);
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->version = version;
	r->seq = seq;
	r->nulled = false;
}

static void check_json(const ProtobufCMessage *msg)
{
	json_t *o = mirror_entity_json(msg);
	if (o == NULL)
		die("mirror_entity_json", "NULL");
	char *s = json_dumps(o, JSON_COMPACT);
	if (s == NULL)
		die("json_dumps", "NULL");
	free(s);
	json_decref(o);
}

/* An unsigned 64-bit field of msg beyond SQLite's INTEGER. */
static bool beyond(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->label != PROTOBUF_C_LABEL_REPEATED &&
		    (f->type == PROTOBUF_C_TYPE_UINT64 ||
		     f->type == PROTOBUF_C_TYPE_FIXED64) &&
		    *(const uint64_t *)((const char *)msg + f->offset) >
			INT64_MAX)
			return true;
	}
	return false;
}

/* A value beyond SQLite's INTEGER must be refused, with a sentence, and
 * nothing of it written. */
static void refused(int rv, const char *err, const char *what)
{
	if (rv == 0)
		die(what, "took a value beyond 2^63 - 1");
	if (err[0] == '\0')
		die(what, "refused without a sentence");
}

static void remove_files(void)
{
	char p[300];
	unlink(path);
	snprintf(p, sizeof(p), "%s-wal", path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", path);
	unlink(p);
}

/* ---- seeds -------------------------------------------------------------- */

struct seed {
	uint8_t buf[8192];
	size_t len;
};

static void put(struct seed *sd, const Ipsnet__V1__Envelope *env)
{
	size_t n = ipsnet__v1__envelope__get_packed_size(env);
	if (sd->len + 2 + n > sizeof(sd->buf))
		die("seed", "too large");
	sd->buf[sd->len] = (uint8_t)(n & 0xff);
	sd->buf[sd->len + 1] = (uint8_t)(n >> 8);
	ipsnet__v1__envelope__pack(env, sd->buf + sd->len + 2);
	sd->len += 2 + n;
}

/* An Event of seq for the entity in ok (its oneof set by the caller). */
static void put_event(struct seed *sd, uint64_t seq, const char *change,
		      Ipsnet__V1__ChangeOk *ok)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
	ok->seq = seq;
	ev.seq = seq;
	ev.time = "2026-11-25T10:00:00.000000Z";
	ev.organisation = "ggz-demo";
	ev.change = (char *)change;
	ev.state = ok;
	ev.live = seq % 2 == 0;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_EVENT;
	env.event = &ev;
	put(sd, &env);
}

static void put_caught_up(struct seed *sd, uint64_t seq)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__CaughtUp cu = IPSNET__V1__CAUGHT_UP__INIT;
	cu.seq = seq;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_CAUGHT_UP;
	env.caught_up = &cu;
	put(sd, &env);
}

static void put_commit(struct seed *sd)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Pong pong = IPSNET__V1__PONG__INIT;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_PONG;
	env.pong = &pong;
	put(sd, &env);
}

/* Drops a column (since_seq picks it), for a refill. */
static void put_drop(struct seed *sd, uint64_t which)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribe sub = IPSNET__V1__SUBSCRIBE__INIT;
	sub.since_seq = which;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &sub;
	put(sd, &env);
}

static void write_seed(const char *dir, const char *name, const struct seed *sd)
{
	char p[512];
	snprintf(p, sizeof(p), "%s/%s", dir, name);
	FILE *f = fopen(p, "wb");
	if (f == NULL || fwrite(sd->buf, 1, sd->len, f) != sd->len ||
	    fclose(f) != 0)
		die("cannot write a seed", p);
}

/* A case's life as a GGZ's mirror sees it, every kind of entity once or
 * more; an old version after a newer one; a CaseView; commits between. */
static void write_seeds(const char *dir)
{
	static struct seed sd;
	Ipsnet__V1__ChangeOk ok;
	Ipsnet__V1__Client cl = IPSNET__V1__CLIENT__INIT;
	Ipsnet__V1__Consent co = IPSNET__V1__CONSENT__INIT;
	Ipsnet__V1__Trajectory tr = IPSNET__V1__TRAJECTORY__INIT;
	Ipsnet__V1__Funding fu = IPSNET__V1__FUNDING__INIT;
	Ipsnet__V1__Job jo = IPSNET__V1__JOB__INIT;
	Ipsnet__V1__Program pr = IPSNET__V1__PROGRAM__INIT;
	Ipsnet__V1__FidelityReview fr = IPSNET__V1__FIDELITY_REVIEW__INIT;
	static uint32_t scores[25];
	for (int i = 0; i < 25; i++)
		scores[i] = 1 + (uint32_t)i % 5;

#define OK(kind, member, msg)                                            \
	do {                                                             \
		ok = (Ipsnet__V1__ChangeOk)IPSNET__V1__CHANGE_OK__INIT;  \
		ok.entity_kind = kind;                                   \
		ok.entity_id = (msg).id;                                 \
		ok.version = (msg).version;                              \
		ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_##member; \
	} while (0)

	sd.len = 0;
	pr.id = "prog-a";
	pr.version = 1;
	pr.owner = "ggz-demo";
	pr.name = "IPS Amsterdam";
	pr.region = 21;
	pr.specialists = 4;
	OK("program", PROGRAM, pr);
	ok.program = &pr;
	put_event(&sd, 3, "put_program", &ok);
	cl.id = "cl-1";
	cl.version = 1;
	cl.bsn = "111222333";
	cl.name = "A. de Vries";
	cl.birth_date = "1980-01-01";
	cl.municipality = "GM0363";
	cl.benefit = IPSNET__V1__BENEFIT__BENEFIT_PARTICIPATIEWET;
	cl.registered_by = "ggz-demo";
	cl.registered_at = "2026-11-25T10:00:00Z";
	OK("client", CLIENT, cl);
	ok.client = &cl;
	put_event(&sd, 5, "register_client", &ok);
	co.id = "co-1";
	co.version = 1;
	co.client_id = "cl-1";
	co.recipient = "gm0363";
	co.purpose = "ips";
	co.granted_at = "2026-11-25T10:01:00Z";
	co.valid_until = "2027-11-25";
	OK("consent", CONSENT, co);
	ok.consent = &co;
	put_event(&sd, 6, "grant_consent", &ok);
	tr.id = "tr-1";
	tr.version = 1;
	tr.client_id = "cl-1";
	tr.program_id = "prog-a";
	tr.referrer = "ggz-demo";
	tr.status = IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_REFERRED;
	tr.note = "wants to work in a kitchen";
	tr.referred_on = "2026-11-25";
	OK("trajectory", TRAJECTORY, tr);
	ok.trajectory = &tr;
	put_event(&sd, 7, "refer", &ok);
	put_commit(&sd);
	tr.version = 2;
	tr.status = IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACCEPTED;
	tr.accepted_on = "2026-11-26";
	OK("trajectory", TRAJECTORY, tr);
	ok.trajectory = &tr;
	put_event(&sd, 9, "move_trajectory", &ok);
	fu.id = "fu-1";
	fu.version = 1;
	fu.trajectory_id = "tr-1";
	fu.funder = "gm0363";
	fu.months = 12;
	fu.status = IPSNET__V1__FUNDING_STATUS__FUNDING_REQUESTED;
	fu.requested_on = "2026-11-26";
	fu.client_id = "cl-1";
	fu.requested_by = "ggz-demo";
	OK("funding", FUNDING, fu);
	ok.funding = &fu;
	put_event(&sd, 10, "request_funding", &ok);
	jo.id = "jo-1";
	jo.version = 1;
	jo.client_id = "cl-1";
	jo.trajectory_id = "tr-1";
	jo.employer = "Bakkerij Jansen";
	jo.start_date = "2027-01-05";
	jo.hours_per_week = 16.5;
	jo.competitive = true;
	OK("job", JOB, jo);
	ok.job = &jo;
	put_event(&sd, 12, "add_job", &ok);
	fr.id = "fr-1";
	fr.version = 1;
	fr.program_id = "prog-a";
	fr.review_date = "2026-10-01";
	fr.n_scores = 25;
	fr.scores = scores;
	fr.total = 75;
	fr.band = "fair";
	fr.independent = true;
	fr.recorded_by = "network";
	OK("review", REVIEW, fr);
	ok.review = &fr;
	put_event(&sd, 13, "record_fidelity", &ok);
	/* An older version of the trajectory under a later seq: the row
	 * keeps version 2. */
	tr.version = 1;
	tr.status = IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_REFERRED;
	OK("trajectory", TRAJECTORY, tr);
	ok.trajectory = &tr;
	put_event(&sd, 14, "move_trajectory", &ok);
	put_caught_up(&sd, 20);
	put_commit(&sd);
	/* The case again, as ShowCase answers it. */
	{
		Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__CaseView cv = IPSNET__V1__CASE_VIEW__INIT;
		Ipsnet__V1__Consent *cos[] = {&co};
		Ipsnet__V1__Trajectory *trs[] = {&tr};
		Ipsnet__V1__Funding *fus[] = {&fu};
		Ipsnet__V1__Job *jos[] = {&jo};
		cl.version = 2;
		cl.name = "A. de Vries-Bakker";
		tr.version = 3;
		tr.status = IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACTIVE;
		cv.client = &cl;
		cv.n_consents = 1;
		cv.consents = cos;
		cv.n_trajectories = 1;
		cv.trajectories = trs;
		cv.n_fundings = 1;
		cv.fundings = fus;
		cv.n_jobs = 1;
		cv.jobs = jos;
		env.body_case = IPSNET__V1__ENVELOPE__BODY_CASE_VIEW;
		env.case_view = &cv;
		put(&sd, &env);
	}
	write_seed(dir, "case-life", &sd);

	/* A seq handled already, sent again with a newer version: skipped. */
	sd.len = 0;
	cl.version = 1;
	OK("client", CLIENT, cl);
	ok.client = &cl;
	put_event(&sd, 5, "register_client", &ok);
	cl.version = 7;
	OK("client", CLIENT, cl);
	ok.client = &cl;
	put_event(&sd, 5, "update_client", &ok);
	put_event(&sd, 4, "update_client", &ok);
	write_seed(dir, "seq-again", &sd);

	/* Beyond SQLite's INTEGER: a version, a seq, a CaughtUp. */
	sd.len = 0;
	cl.version = (uint64_t)INT64_MAX + 1;
	OK("client", CLIENT, cl);
	ok.client = &cl;
	put_event(&sd, 8, "update_client", &ok);
	cl.version = 3;
	OK("client", CLIENT, cl);
	ok.client = &cl;
	put_event(&sd, (uint64_t)INT64_MAX + 5, "update_client", &ok);
	put_caught_up(&sd, UINT64_MAX);
	put_event(&sd, 9, "update_client", &ok);
	write_seed(dir, "beyond-int64", &sd);

	/* An event with no entity, and one of a kind this build lacks. */
	sd.len = 0;
	ok = (Ipsnet__V1__ChangeOk)IPSNET__V1__CHANGE_OK__INIT;
	ok.entity_kind = "future_kind";
	ok.entity_id = "fk-1";
	put_event(&sd, 30, "future_change", &ok);
	put_caught_up(&sd, 31);
	write_seed(dir, "no-entity", &sd);

	/* A refill: job.withdrawn (4 + 7 * 7: job, its 8th column after id
	 * and version) dropped
	 * from a mirror with rows, the journal sent again (an event stands
	 * for the next entry), then a new entry and a CaughtUp. */
	sd.len = 0;
	cl.version = 1;
	OK("client", CLIENT, cl);
	ok.client = &cl;
	put_event(&sd, 5, "register_client", &ok);
	jo.version = 1;
	OK("job", JOB, jo);
	ok.job = &jo;
	put_event(&sd, 7, "add_job", &ok);
	jo.version = 2;
	jo.withdrawn = true;
	OK("job", JOB, jo);
	ok.job = &jo;
	put_event(&sd, 8, "end_job", &ok);
	put_caught_up(&sd, 9);
	put_drop(&sd, 4 + 7 * 7);
	put_event(&sd, 1, "again", &ok);
	put_commit(&sd);
	put_event(&sd, 1, "again", &ok);
	put_event(&sd, 1, "again", &ok);
	put_caught_up(&sd, 9);
	cl.version = 2;
	OK("client", CLIENT, cl);
	ok.client = &cl;
	put_event(&sd, 11, "update_client", &ok);
	put_caught_up(&sd, 12);
	write_seed(dir, "refill", &sd);

	/* A refill stopped half-way and another column dropped then (client,
	 * then trajectory: an empty table, no refill), a case put while it
	 * reads again. */
	sd.len = 0;
	cl.version = 1;
	OK("client", CLIENT, cl);
	ok.client = &cl;
	put_event(&sd, 3, "register_client", &ok);
	co.version = 1;
	OK("consent", CONSENT, co);
	ok.consent = &co;
	put_event(&sd, 4, "grant_consent", &ok);
	cl.version = 2;
	OK("client", CLIENT, cl);
	ok.client = &cl;
	put_event(&sd, 6, "update_client", &ok);
	put_drop(&sd, 0 + 7 * 2);
	put_event(&sd, 1, "again", &ok);
	put_drop(&sd, 1 + 7 * 3);
	put_drop(&sd, 2 + 7 * 1);
	put_event(&sd, 1, "again", &ok);
	{
		Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__CaseView cv = IPSNET__V1__CASE_VIEW__INIT;
		Ipsnet__V1__Consent *cos[] = {&co};
		cv.client = &cl;
		cv.n_consents = 1;
		cv.consents = cos;
		env.body_case = IPSNET__V1__ENVELOPE__BODY_CASE_VIEW;
		env.case_view = &cv;
		put(&sd, &env);
	}
	put_commit(&sd);
	put_event(&sd, 1, "again", &ok);
	put_event(&sd, 1, "again", &ok);
	write_seed(dir, "refill-twice", &sd);

	/* A case brought a version whose entry comes after the cursor (the
	 * sync was catching up); a refill then reads again up to the cursor,
	 * and the entry of that version comes after: it is the row's version,
	 * sent again, and fills the column in. */
	sd.len = 0;
	cl.version = 1;
	cl.name = "A. de Vries";
	OK("client", CLIENT, cl);
	ok.client = &cl;
	put_event(&sd, 3, "register_client", &ok);
	{
		Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__CaseView cv = IPSNET__V1__CASE_VIEW__INIT;
		cl.version = 2;
		cl.name = "A. de Vries-Bakker";
		cv.client = &cl;
		env.body_case = IPSNET__V1__ENVELOPE__BODY_CASE_VIEW;
		env.case_view = &cv;
		put(&sd, &env);
	}
	put_drop(&sd, 0 + 7 * 1);
	put_event(&sd, 1, "again", &ok);
	OK("client", CLIENT, cl);
	ok.client = &cl;
	put_event(&sd, 10, "update_client", &ok);
	put_caught_up(&sd, 10);
	write_seed(dir, "refill-case-ahead", &sd);
#undef OK
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
	const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm"
			  : getenv("TMPDIR") != NULL	? getenv("TMPDIR")
							: "/tmp";
	snprintf(path, sizeof(path), "%s/ipsnet-fuzz-mirror-%ld.db", dir,
		 (long)getpid());
	return 0;
}

/* After the input: the file, opened on its own, holds rows[] exactly. */
static void check_rows(void)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		die("sqlite3_open_v2", sqlite3_errmsg(db));
	size_t total = 0;
	for (size_t t = 0; t < N_TABLES; t++) {
		const char *name = tables[t].name;
		char sql[128];
		snprintf(sql, sizeof(sql),
			 "SELECT id, version, seq, * FROM \"%s\"", name);
		if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
			die("prepare", sqlite3_errmsg(db));
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *id =
			    (const char *)sqlite3_column_text(st, 0);
			uint64_t version =
			    (uint64_t)sqlite3_column_int64(st, 1);
			uint64_t seq = (uint64_t)sqlite3_column_int64(st, 2);
			size_t i = 0;
			while (i < n_rows &&
			       (strcmp(rows[i].kind, name) != 0 ||
				strcmp(rows[i].id, id != NULL ? id : "") != 0))
				i++;
			if (i == n_rows)
				die("a row that was never sent", id);
			if (rows[i].version != version)
				die("a row's version is not the highest sent",
				    id);
			if (rows[i].seq != seq)
				die("a row's seq is not its entry's", id);
			for (int c = 3;
			     !rows[i].nulled && c < sqlite3_column_count(st);
			     c++)
				if (sqlite3_column_type(st, c) == SQLITE_NULL)
					die("a row sent again holds NULL in",
					    sqlite3_column_name(st, c));
			total++;
		}
		sqlite3_finalize(st);
	}
	if (total != n_rows)
		die("check_rows", "a row sent is missing");
	sqlite3_close(db);
}

/* The journal's first entry after seq, or NULL. */
static const struct entry *entry_after(uint64_t seq)
{
	const struct entry *e = NULL;
	for (size_t i = 0; i < n_entries; i++)
		if (journal[i].seq > seq &&
		    (e == NULL || journal[i].seq < e->seq))
			e = &journal[i];
	return e;
}

/* A commit: once the cursor is past refill_upto, nothing is read again. */
static void committed(uint64_t seq)
{
	if (refill_upto > 0 && seq >= refill_upto)
		refill_upto = upto_open = 0;
}

/* The mirror committed and closed: drops a column of one table, which
 * which picks (never id, version or seq, which every row has). Returns
 * the table's index; *had_rows: whether it held a row. */
static size_t drop_column(uint64_t which, bool *had_rows)
{
	size_t t = which % N_TABLES;
	const ProtobufCMessageDescriptor *d = tables[t].d;
	const char *cols[64];
	size_t n = 0;
	for (unsigned i = 0; i < d->n_fields && n < 64; i++)
		if (strcmp(d->fields[i].name, "id") != 0 &&
		    strcmp(d->fields[i].name, "version") != 0)
			cols[n++] = d->fields[i].name;
	const char *col = cols[(which / N_TABLES) % n];
	char sql[256];
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) !=
	    SQLITE_OK)
		die("sqlite3_open_v2", sqlite3_errmsg(db));
	snprintf(sql, sizeof(sql), "SELECT 1 FROM \"%s\" LIMIT 1",
		 tables[t].name);
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die("prepare", sqlite3_errmsg(db));
	*had_rows = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	/* An indexed column goes with its index, as an older ipsnet that
	 * lacked the field had neither. */
	snprintf(sql, sizeof(sql),
		 "DROP INDEX IF EXISTS \"%s_%s\"; ALTER TABLE \"%s\" DROP "
		 "COLUMN \"%s\"",
		 tables[t].name, col, tables[t].name, col);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		die("drop a column", sqlite3_errmsg(db));
	sqlite3_close(db);
	return t;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct mirror *m;
	char err[512];
	uint64_t seq = 0; /* the highest seq handled */

	if (path[0] == '\0')
		LLVMFuzzerInitialize(NULL, NULL);
	remove_files();
	n_rows = 0;
	too_many = false;
	n_entries = 0;
	known = 0;
	refill_upto = 0;
	upto_open = 0;
	bool has_check = false;
	uint64_t check_seq = 0;
	uint8_t check_hash[32];
	if (mirror_open(&m, path, err, sizeof(err)) != 0)
		die("mirror_open", err);
	while (size >= 2) {
		size_t n = (size_t)data[0] | (size_t)data[1] << 8;
		data += 2;
		size -= 2;
		if (n > size)
			n = size;
		const uint8_t *rec = data;
		Ipsnet__V1__Envelope *env = ipsnet__v1__envelope__unpack(
		    &ipsnet_protobuf_allocator, n, data);
		data += n;
		size -= n;
		if (env == NULL)
			continue;
		/* After a refill set the cursor back, the server sends its
		 * journal again, entry by entry, as it was. */
		const struct entry *next = entry_after(seq);
		if (env->body_case == IPSNET__V1__ENVELOPE__BODY_EVENT &&
		    next != NULL) {
			ipsnet__v1__envelope__free_unpacked(
			    env, &ipsnet_protobuf_allocator);
			rec = next->rec;
			n = next->len;
			env = ipsnet__v1__envelope__unpack(
			    &ipsnet_protobuf_allocator, n, rec);
			if (env == NULL)
				die("the journal", "an entry does not unpack");
		} else if ((env->body_case ==
				IPSNET__V1__ENVELOPE__BODY_EVENT &&
			    env->event->seq > seq &&
			    env->event->seq <= known) ||
			   (env->body_case ==
				IPSNET__V1__ENVELOPE__BODY_CAUGHT_UP &&
			    next != NULL && next->seq <= env->caught_up->seq)) {
			/* Not in its journal, or past an entry it has. */
			ipsnet__v1__envelope__free_unpacked(
			    env, &ipsnet_protobuf_allocator);
			continue;
		}
		int rv = 0;
		err[0] = '\0';
		const char *kind;
		const ProtobufCMessage *msg;
		const Ipsnet__V1__Event *ev = env->event;
		const Ipsnet__V1__CaseView *cv = env->case_view;
		switch (env->body_case) {
		case IPSNET__V1__ENVELOPE__BODY_EVENT: {
			bool entity = ev->state != NULL &&
				      mirror_entity(ev->state, &kind, &msg);
			if (entity)
				check_json(msg);
			rv = mirror_apply(m, ev, NULL, err, sizeof(err));
			if (ev->seq <= seq) { /* handled already */
				if (rv != 0)
					die("mirror_apply",
					    "refused a seq handled already");
				break;
			}
			if (ev->seq > INT64_MAX || (entity && beyond(msg))) {
				refused(rv, err, "mirror_apply");
				break;
			}
			if (rv != 0)
				die("mirror_apply", err);
			if (entity)
				expect(msg, ev->seq);
			if (ev->seq > known) { /* a new entry */
				if (n_entries == MAX_ENTRIES)
					too_many = true;
				else
					journal[n_entries++] =
					    (struct entry){ev->seq, rec, n};
				known = ev->seq;
			}
			seq = ev->seq;
			break;
		}
		case IPSNET__V1__ENVELOPE__BODY_CAUGHT_UP:
			rv = mirror_advance(m, env->caught_up->seq,
					    env->caught_up->hash.len == 32
						? env->caught_up->hash.data
						: NULL,
					    err, sizeof(err));
			if (env->caught_up->seq <= seq) {
				if (rv != 0)
					die("mirror_advance",
					    "refused a seq handled already");
				break;
			}
			if (env->caught_up->seq > INT64_MAX) {
				refused(rv, err, "mirror_advance");
				break;
			}
			if (rv != 0)
				die("mirror_advance", err);
			seq = env->caught_up->seq;
			if (seq > known)
				known = seq;
			break;
		case IPSNET__V1__ENVELOPE__BODY_CASE_VIEW: {
			bool big = false;
			const ProtobufCMessage *all[256];
			size_t k = 0;
			if ((cv->client != NULL) + cv->n_consents +
				cv->n_trajectories + cv->n_fundings +
				cv->n_jobs >
			    sizeof(all) / sizeof(all[0]))
				break; /* larger than this driver follows */
			if (cv->client != NULL)
				all[k++] = &cv->client->base;
			for (size_t i = 0; i < cv->n_consents; i++)
				all[k++] = &cv->consents[i]->base;
			for (size_t i = 0; i < cv->n_trajectories; i++)
				all[k++] = &cv->trajectories[i]->base;
			for (size_t i = 0; i < cv->n_fundings; i++)
				all[k++] = &cv->fundings[i]->base;
			for (size_t i = 0; i < cv->n_jobs; i++)
				all[k++] = &cv->jobs[i]->base;
			for (size_t i = 0; i < k; i++)
				big = big || beyond(all[i]);
			rv = mirror_put_case(m, cv, err, sizeof(err));
			if (big) {
				refused(rv, err, "mirror_put_case");
				break;
			}
			if (rv != 0)
				die("mirror_put_case", err);
			for (size_t i = 0; i < k; i++) {
				check_json(all[i]);
				expect(all[i], seq);
			}
			break;
		}
		case IPSNET__V1__ENVELOPE__BODY_SUBSCRIBE: {
			/* An older ipsnet made the table without a column. */
			if (mirror_commit(m, err, sizeof(err)) != 0)
				die("mirror_commit", err);
			committed(seq);
			const struct mirror_meta *meta = mirror_meta(m);
			if (meta->has_hash) {
				has_check = true;
				check_seq = seq;
				memcpy(check_hash, meta->hash, 32);
			}
			mirror_close(m);
			bool had_rows;
			size_t t =
			    drop_column(env->subscribe->since_seq, &had_rows);
			if (mirror_open(&m, path, err, sizeof(err)) != 0)
				die("mirror_open after a column went", err);
			meta = mirror_meta(m);
			if (meta->refill != had_rows)
				die("the refill",
				    had_rows ? "did not start for a table "
					       "with rows"
					     : "started for an empty table");
			if (had_rows) {
				if (seq > refill_upto)
					refill_upto = seq;
				seq = 0;
				for (size_t i = 0; i < n_rows; i++)
					if (strcmp(rows[i].kind,
						   tables[t].name) == 0)
						rows[i].nulled = true;
				if (has_check != meta->has_check ||
				    (has_check &&
				     (meta->check_seq != check_seq ||
				      memcmp(meta->check_hash, check_hash,
					     32) != 0)))
					die("the refill",
					    "did not keep the entry to check");
			}
			if (meta->seq != seq)
				die("the cursor", "is not where a refill sets "
						  "it");
			if (meta->refill_upto != refill_upto)
				die("refill_upto", "is not the cursor the "
						   "refill started from");
			upto_open = refill_upto;
			break;
		}
		default:
			rv = mirror_commit(m, err, sizeof(err));
			if (rv != 0)
				die("mirror_commit", err);
			committed(seq);
			break;
		}
		ipsnet__v1__envelope__free_unpacked(env,
						    &ipsnet_protobuf_allocator);
	}
	if (mirror_commit(m, err, sizeof(err)) != 0)
		die("mirror_commit", err);
	if (mirror_meta(m)->seq != seq)
		die("the cursor", "is not the highest seq handled");
	mirror_close(m);
	if (mirror_open(&m, path, err, sizeof(err)) != 0)
		die("mirror_open again", err);
	if (mirror_meta(m)->seq != seq)
		die("the cursor", "is not the same after opening again");
	committed(seq);
	if (mirror_meta(m)->refill_upto != refill_upto)
		die("refill_upto", refill_upto == 0
				       ? "is not 0 once the refill is done"
				       : "is not where the refill goes to");
	mirror_close(m);
	if (!too_many)
		check_rows();
	remove_files();
	return 0;
}
