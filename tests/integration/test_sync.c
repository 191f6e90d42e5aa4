/* Sync against the real ipsnetd (DESIGN §5, issue 6), with the real
 * `ipsnet watch` and `ipsnet sync --mirror` as subscribers and libipsnet
 * making the changes:
 *
 * - every organisation receives exactly the events it may see, cut to
 *   what it may see, and a consent withdrawal stops the flow at once;
 * - a sync killed (SIGKILL) in the middle of catching up resumes from its
 *   mirror with no gap and no duplicate;
 * - followers reconnect and resume after the daemon restarts (SIGTERM and
 *   SIGKILL);
 * - subscribers that never read keep the daemon's memory under a stated
 *   bound while changes go on committing and another subscriber keeps
 *   receiving.
 *
 * One daemon serves the group, on a fixed port (a follower must find it
 * again after a restart). The group setup fills the journal with FILL
 * registrations, so that catching up takes long enough to be interrupted
 * and the stuck subscribers have megabytes to not read. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>
#include <uv.h>

#include "harness.h"
#include "ipsnet.h"
#include "ipsnet_errors.h"
#include "util.h"
#include "validate.h"

#define CODE(name) IPSNET__V1__CODE__##name
#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name
#define TS(name) IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_##name
#define BENEFIT(name) IPSNET__V1__BENEFIT__BENEFIT_##name

/* Registrations in the journal before the tests run. */
#define FILL 30000
/* How long a subscriber may take to show what it was sent. */
#define WAIT_MS 20000
/* A mirror's catch-up of the whole journal (30,000 entries and more). */
#define CATCH_UP_MS 180000

enum org { GGZ_TEST, GGZ_OTHER, GM0363, UWV, NETWORK, N_ORGS };

static const char *const org_ids[N_ORGS] = {
    "ggz-test", "ggz-other", "gm0363", "uwv", "network",
};

static const char extra_orgs[] = "\n[organisation ggz-other]\n"
				 "kind = GGZ\n"
				 "name = GGZ Other\n"
				 "region = 2\n";

static const char *dir;
static const char *certs;
static int port;
static struct h_daemon daemon_;
static struct ipsnet_client *conns[N_ORGS];
/* The clients of the fill, in the order they were answered. */
static char (*fill_ids)[32];
static size_t n_fill_ids;

/* ---- time -------------------------------------------------------------- */

static uint64_t now_ms(void)
{
	return util_mono_us() / 1000;
}

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* ---- connections ------------------------------------------------------- */

static struct ipsnet_options org_options(enum org o, char *server,
					 size_t server_cap, char *ca,
					 char *cert, char *key)
{
	snprintf(server, server_cap, "127.0.0.1:%d", port);
	snprintf(ca, PATH_MAX, "%s/ca.crt", certs);
	snprintf(cert, PATH_MAX, "%s/%s.crt", certs, org_ids[o]);
	snprintf(key, PATH_MAX, "%s/%s.key", certs, org_ids[o]);
	struct ipsnet_options opt = {
	    .server = server,
	    .ca = ca,
	    .cert = cert,
	    .key = key,
	    .user = "sync.tester",
	    .timeout_ms = 10000,
	};
	return opt;
}

static int connect_all(void)
{
	for (int o = 0; o < N_ORGS; o++) {
		char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX],
		    err[256];
		struct ipsnet_options opt =
		    org_options(o, server, sizeof(server), ca, cert, key);
		if (conns[o] != NULL)
			ipsnet_client_close(conns[o]);
		conns[o] = NULL;
		if (ipsnet_client_open(&conns[o], &opt, err, sizeof(err)) !=
		    0) {
			fprintf(stderr, "cannot connect as %s: %s\n",
				org_ids[o], err);
			return -1;
		}
	}
	return 0;
}

/* ---- changes ----------------------------------------------------------- */

/* Sends a change as o (with a fresh idempotency key); it must succeed.
 * The entity's id into id (may be NULL); returns the journal seq. */
static uint64_t change(enum org o, Ipsnet__V1__Envelope *req, char *id)
{
	Ipsnet__V1__Envelope *resp = NULL;
	uint8_t key[16];
	char err[256];
	assert_int_equal(ipsnet_new_idempotency_key(key), 0);
	req->idempotency_key.data = key;
	req->idempotency_key.len = sizeof(key);
	int rv = ipsnet_client_call(conns[o], req, &resp, err, sizeof(err));
	if (rv != 0 || resp == NULL || resp->change_ok == NULL)
		fail_msg("%s: change %d refused: %s", org_ids[o],
			 (int)req->body_case, err);
	if (id != NULL)
		snprintf(id, 64, "%s", resp->change_ok->entity_id);
	uint64_t seq = resp->change_ok->seq;
	ipsnet_envelope_free(resp);
	return seq;
}

static uint64_t register_client(enum org o, int benefit, char *id)
{
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	char bsn[16];
	h_new_bsn(bsn, 0);
	m.bsn = bsn;
	m.name = "Testpersoon Sync";
	m.birth_date = "1985-04-12";
	m.municipality = "GM0363";
	m.benefit = benefit;
	e.body_case = BODY(REGISTER_CLIENT);
	e.register_client = &m;
	return change(o, &e, id);
}

static uint64_t grant_consent(enum org o, const char *client,
			      const char *recipient, char *id)
{
	Ipsnet__V1__GrantConsent m = IPSNET__V1__GRANT_CONSENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.client_id = (char *)client;
	m.recipient = (char *)recipient;
	m.purpose = "funding of the IPS trajectory";
	m.valid_until = "2099-12-31";
	e.body_case = BODY(GRANT_CONSENT);
	e.grant_consent = &m;
	return change(o, &e, id);
}

static uint64_t withdraw_consent(enum org o, const char *consent,
				 uint64_t version)
{
	Ipsnet__V1__WithdrawConsent m = IPSNET__V1__WITHDRAW_CONSENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.consent_id = (char *)consent;
	m.expected_version = version;
	e.body_case = BODY(WITHDRAW_CONSENT);
	e.withdraw_consent = &m;
	return change(o, &e, NULL);
}

static uint64_t refer(enum org o, const char *client, const char *program,
		      char *id)
{
	Ipsnet__V1__Refer m = IPSNET__V1__REFER__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.client_id = (char *)client;
	m.program_id = (char *)program;
	m.note = "Klinische context voor het IPS-team";
	e.body_case = BODY(REFER);
	e.refer = &m;
	return change(o, &e, id);
}

static uint64_t move(enum org o, const char *trajectory, uint64_t version,
		     int to)
{
	Ipsnet__V1__MoveTrajectory m = IPSNET__V1__MOVE_TRAJECTORY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.trajectory_id = (char *)trajectory;
	m.expected_version = version;
	m.to = to;
	e.body_case = BODY(MOVE_TRAJECTORY);
	e.move_trajectory = &m;
	return change(o, &e, NULL);
}

static uint64_t request_funding(enum org o, const char *trajectory,
				const char *funder, char *id)
{
	Ipsnet__V1__RequestFunding m = IPSNET__V1__REQUEST_FUNDING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.trajectory_id = (char *)trajectory;
	m.funder = (char *)funder;
	m.months = 12;
	e.body_case = BODY(REQUEST_FUNDING);
	e.request_funding = &m;
	return change(o, &e, id);
}

static uint64_t put_program(enum org o, const char *id, const char *owner,
			    uint64_t version)
{
	Ipsnet__V1__PutProgram m = IPSNET__V1__PUT_PROGRAM__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.program_id = (char *)id;
	m.expected_version = version;
	m.owner = (char *)owner;
	m.name = (char *)id;
	m.region = 1;
	m.specialists = 3 + (uint32_t)version;
	e.body_case = BODY(PUT_PROGRAM);
	e.put_program = &m;
	return change(o, &e, NULL);
}

static uint64_t record_fidelity(enum org o, const char *program, char *id)
{
	Ipsnet__V1__RecordFidelity m = IPSNET__V1__RECORD_FIDELITY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	uint32_t scores[25];
	for (int i = 0; i < 25; i++)
		scores[i] = 4;
	m.program_id = (char *)program;
	m.review_date = "2026-02-01";
	m.scores = scores;
	m.n_scores = 25;
	e.body_case = BODY(RECORD_FIDELITY);
	e.record_fidelity = &m;
	return change(o, &e, id);
}

/* ---- many registrations at once --------------------------------------- */

/* RegisterClient as ggz-test over a few connections with many changes in
 * flight each: the journal fills at the pace of group commit. */
#define FILL_CONNS 4
#define FILL_DEPTH 32

struct filler {
	uv_loop_t loop;
	struct ipsnet_conn *conns[FILL_CONNS];
	uint64_t target, sent, answered;
	int refused;
	char error[256];
	char (*ids)[32]; /* NULL: not recorded */
	size_t n_ids;
	/* Set: ImportTrajectory of closed trajectories of this client to
	 * this program instead, each with the longest note and reason, the
	 * largest entries there are (about 5 KB). */
	const char *bulky_client, *bulky_program;
};

static void fill_send(struct filler *f, struct ipsnet_conn *c);

static void fill_answer(struct ipsnet_conn *c, int status, const char *message,
			const Ipsnet__V1__Envelope *resp, void *arg)
{
	struct filler *f = arg;
	f->answered++;
	if (status != 0 || resp == NULL || resp->change_ok == NULL) {
		if (f->refused++ == 0)
			snprintf(f->error, sizeof(f->error), "%s",
				 message != NULL ? message : "no answer");
	} else if (f->ids != NULL) {
		snprintf(f->ids[f->n_ids++], 32, "%s",
			 resp->change_ok->entity_id);
	}
	if (status == IPSNET_ECLOSED)
		return;
	if (f->sent < f->target)
		fill_send(f, c);
	else if (f->answered == f->target)
		for (int i = 0; i < FILL_CONNS; i++)
			if (f->conns[i] != NULL)
				ipsnet_close(f->conns[i]);
}

/* Sends e, a change, with a new idempotency key. */
static void fill_request(struct filler *f, struct ipsnet_conn *c,
			 Ipsnet__V1__Envelope *e)
{
	uint8_t key[16];
	ipsnet_new_idempotency_key(key);
	e->idempotency_key.data = key;
	e->idempotency_key.len = sizeof(key);
	f->sent++;
	if (ipsnet_request(c, e, fill_answer, f) != 0) {
		f->answered++;
		f->refused++;
	}
}

/* The longest note and close reason there may be (apply.c). */
#define BULKY_NOTE 4000
#define BULKY_REASON 1000

static void fill_send_bulky(struct filler *f, struct ipsnet_conn *c)
{
	Ipsnet__V1__ImportTrajectory m = IPSNET__V1__IMPORT_TRAJECTORY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__TrajectoryStep st[4], *steps[4];
	static const int status[4] = {TS(REFERRED), TS(ACCEPTED), TS(ACTIVE),
				      TS(CLOSED)};
	/* A referral of its own each time, a day apart from 2019-01-01 on
	 * (the same one twice is refused): before the acceptance for up to
	 * 2,000 of them. */
	char referred[16];
	const char *on[4] = {referred, "2025-01-13", "2025-02-03",
			     "2025-09-30"};
	assert_true(f->sent < 2000);
	nl_date_of_us(
	    referred, sizeof(referred),
	    ((long long)(date_days("2019-01-01") + (long)f->sent) * 86400 +
	     43200) *
		1000000);
	static char note[BULKY_NOTE + 1], reason[BULKY_REASON + 1];
	if (note[0] == '\0') {
		memset(note, 'n', BULKY_NOTE);
		memset(reason, 'r', BULKY_REASON);
	}
	for (int i = 0; i < 4; i++) {
		ipsnet__v1__trajectory_step__init(&st[i]);
		st[i].status = status[i];
		st[i].on = (char *)on[i];
		steps[i] = &st[i];
	}
	m.client_id = (char *)f->bulky_client;
	m.program_id = (char *)f->bulky_program;
	m.note = note;
	m.steps = steps;
	m.n_steps = 4;
	m.close_reason = reason;
	e.body_case = BODY(IMPORT_TRAJECTORY);
	e.import_trajectory = &m;
	fill_request(f, c, &e);
}

static void fill_send(struct filler *f, struct ipsnet_conn *c)
{
	if (f->bulky_client != NULL) {
		fill_send_bulky(f, c);
		return;
	}
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	char bsn[16], name[256];
	h_new_bsn(bsn, 0);
	snprintf(name, sizeof(name), "Vulpersoon %" PRIu64, f->sent);
	m.bsn = bsn;
	m.name = name;
	m.birth_date = "1990-01-01";
	m.municipality = "GM0363";
	m.benefit = BENEFIT(PARTICIPATIEWET);
	e.body_case = BODY(REGISTER_CLIENT);
	e.register_client = &m;
	fill_request(f, c, &e);
}

static void fill_ready(struct ipsnet_conn *c, int status, const char *message,
		       void *arg)
{
	struct filler *f = arg;
	if (status != 0) {
		snprintf(f->error, sizeof(f->error), "%s", message);
		return;
	}
	for (int i = 0; i < FILL_DEPTH && f->sent < f->target; i++)
		fill_send(f, c);
}

static void fill_closed(struct ipsnet_conn *c, int status, const char *message,
			void *arg)
{
	struct filler *f = arg;
	for (int i = 0; i < FILL_CONNS; i++)
		if (f->conns[i] == c)
			f->conns[i] = NULL;
}

static const struct ipsnet_callbacks fill_callbacks = {
    .on_ready = fill_ready,
    .on_closed = fill_closed,
};

/* Registers n clients as o; their ids into ids (NULL: not kept). Returns
 * how many were refused (0 expected). */
static int fill(enum org o, uint64_t n, char (*ids)[32])
{
	struct filler *f = calloc(1, sizeof(*f));
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	struct ipsnet_options opt =
	    org_options(o, server, sizeof(server), ca, cert, key);
	assert_non_null(f);
	assert_int_equal(uv_loop_init(&f->loop), 0);
	f->target = n;
	f->ids = ids;
	for (int i = 0; i < FILL_CONNS; i++) {
		char err[256];
		if (ipsnet_connect(&f->loop, &opt, &fill_callbacks, f,
				   &f->conns[i], err, sizeof(err)) != 0)
			fail_msg("fill: %s", err);
	}
	uv_run(&f->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&f->loop), 0);
	int refused = f->refused + (int)(f->target - f->answered);
	if (refused != 0)
		fprintf(stderr, "fill: %d of %" PRIu64 " refused: %s\n",
			refused, n, f->error);
	free(f);
	return refused;
}

/* ---- subscribers ------------------------------------------------------- */

/* The ipsnet options to act as o, as an argument list. */
static void org_args(struct h_args *a, enum org o)
{
	char ca[PATH_MAX];
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	h_args_init(a);
	h_args_add(a, "--server");
	h_args_add(a, "127.0.0.1:%d", port);
	h_args_add(a, "--ca");
	h_args_add(a, "%s", ca);
	h_args_add(a, "--cert");
	h_args_add(a, "%s/%s.crt", certs, org_ids[o]);
	h_args_add(a, "--key");
	h_args_add(a, "%s/%s.key", certs, org_ids[o]);
	h_args_add(a, "--user");
	h_args_add(a, "sync.tester");
}

/* Starts `ipsnet watch --json --since SINCE` as o; its output in
 * DIR/NAME.out and .err. */
static void start_watch(struct h_proc *p, enum org o, uint64_t since,
			const char *name)
{
	struct h_args a;
	char out[PATH_MAX], err[PATH_MAX];
	org_args(&a, o);
	h_args_add(&a, "--json");
	h_args_add(&a, "watch");
	h_args_add(&a, "--since");
	h_args_add(&a, "%" PRIu64, since);
	snprintf(out, sizeof(out), "%s/%s.out", dir, name);
	snprintf(err, sizeof(err), "%s/%s.err", dir, name);
	assert_int_equal(h_proc_start_cli(p, a.argv, out, err), 0);
}

/* Starts `ipsnet sync --mirror FILE [--follow] [--kinds KINDS]` as o. */
static void start_sync_kinds(struct h_proc *p, enum org o, const char *mirror,
			     bool follow, const char *kinds, const char *name)
{
	struct h_args a;
	char out[PATH_MAX], err[PATH_MAX];
	org_args(&a, o);
	h_args_add(&a, "sync");
	h_args_add(&a, "--mirror");
	h_args_add(&a, "%s", mirror);
	if (follow)
		h_args_add(&a, "--follow");
	if (kinds != NULL) {
		h_args_add(&a, "--kinds");
		h_args_add(&a, "%s", kinds);
	}
	snprintf(out, sizeof(out), "%s/%s.out", dir, name);
	snprintf(err, sizeof(err), "%s/%s.err", dir, name);
	assert_int_equal(h_proc_start_cli(p, a.argv, out, err), 0);
}

/* Starts `ipsnet sync --mirror FILE [--follow]` as o. */
static void start_sync(struct h_proc *p, enum org o, const char *mirror,
		       bool follow, const char *name)
{
	start_sync_kinds(p, o, mirror, follow, NULL, name);
}

static void dump_file(const char *what, const char *path)
{
	char *text = h_read_file(path, NULL);
	fprintf(stderr, "---- %s (%s) ----\n%s---- end ----\n", what, path,
		text != NULL ? text : "(cannot read it)\n");
	free(text);
}

/* One event a watcher printed. */
struct seen {
	uint64_t seq;
	char change[32], kind[24], id[64];
	json_t *obj; /* the whole line */
};

struct seen_list {
	struct seen *v;
	size_t n;
};

static void seen_free(struct seen_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		json_decref(l->v[i].obj);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* Reads a watcher's JSON lines; fails the test on a line that does not
 * parse, or on seqs that do not grow (a duplicate, or out of order). */
static void read_seen(const char *path, struct seen_list *l)
{
	char *text = h_read_file(path, NULL);
	assert_non_null(text);
	memset(l, 0, sizeof(*l));
	size_t cap = 0;
	for (char *line = strtok(text, "\n"); line != NULL;
	     line = strtok(NULL, "\n")) {
		json_error_t e;
		json_t *o = json_loads(line, 0, &e);
		if (o == NULL)
			fail_msg("%s: not JSON: %s (%s)", path, line, e.text);
		if (l->n == cap) {
			cap = cap == 0 ? 64 : cap * 2;
			l->v = realloc(l->v, cap * sizeof(*l->v));
			assert_non_null(l->v);
		}
		struct seen *s = &l->v[l->n++];
		memset(s, 0, sizeof(*s));
		s->obj = o;
		s->seq =
		    (uint64_t)json_integer_value(json_object_get(o, "seq"));
		snprintf(s->change, sizeof(s->change), "%s",
			 json_string_value(json_object_get(o, "change")));
		snprintf(s->kind, sizeof(s->kind), "%s",
			 json_string_value(json_object_get(o, "kind")));
		snprintf(s->id, sizeof(s->id), "%s",
			 json_string_value(json_object_get(o, "id")));
		if (l->n > 1 && s->seq <= l->v[l->n - 2].seq)
			fail_msg("%s: seq %" PRIu64 " after seq %" PRIu64
				 " (a duplicate or out of order)",
				 path, s->seq, l->v[l->n - 2].seq);
	}
	free(text);
}

static const struct seen *find_seen(const struct seen_list *l,
				    const char *change, const char *id)
{
	for (size_t i = 0; i < l->n; i++)
		if (strcmp(l->v[i].change, change) == 0 &&
		    strcmp(l->v[i].id, id) == 0)
			return &l->v[i];
	return NULL;
}

/* ---- mirrors ----------------------------------------------------------- */

/* A number from a mirror (one value of sql), or -1; waits up to busy_ms for
 * a writer's lock. */
static int64_t mirror_int_wait(const char *path, const char *sql, int busy_ms)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	int64_t v = -1;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) !=
	    SQLITE_OK) {
		sqlite3_close(db);
		return -1;
	}
	sqlite3_busy_timeout(db, busy_ms);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

static int64_t mirror_int(const char *path, const char *sql)
{
	return mirror_int_wait(path, sql, 2000);
}

/* The rows of table in the mirror at path whose column col is id. */
static int64_t mirror_rows(const char *path, const char *table, const char *col,
			   const char *id)
{
	char sql[256];
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s WHERE %s = '%s'",
		 table, col, id);
	return mirror_int(path, sql);
}

static int64_t mirror_seq(const char *path)
{
	return mirror_int(path, "SELECT value FROM meta WHERE key = 'seq'");
}

/* Runs `ipsnet sync --mirror path` as o to its end; its exit code. */
static int sync_once(enum org o, const char *path, const char *kinds,
		     struct h_result *r)
{
	struct h_args a;
	org_args(&a, o);
	h_args_add(&a, "sync");
	h_args_add(&a, "--mirror");
	h_args_add(&a, "%s", path);
	if (kinds != NULL) {
		h_args_add(&a, "--kinds");
		h_args_add(&a, "%s", kinds);
	}
	int code = h_run_cli(r, a.argv);
	if (code != 0)
		fprintf(stderr, "ipsnet sync --mirror %s: exit %d\n%s%s", path,
			code, r->out, r->err);
	return code;
}

static const char *const mirror_tables[] = {
    "client", "consent", "trajectory",	    "funding",
    "job",    "program", "fidelity_review",
};

/* Rows of table in one mirror that the other lacks, both ways, compared
 * by cols ("*": all, when both have their columns in the same order). */
static int64_t mirror_difference_of(const char *a, const char *b,
				    const char *table, const char *cols)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	char sql[1024];
	int64_t n = -1;
	if (sqlite3_open_v2(a, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		goto out;
	snprintf(sql, sizeof(sql), "ATTACH '%s' AS b", b);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		goto out;
	snprintf(sql, sizeof(sql),
		 "SELECT (SELECT count(*) FROM (SELECT %s FROM main.%s EXCEPT "
		 "SELECT %s FROM b.%s)) + (SELECT count(*) FROM (SELECT %s "
		 "FROM b.%s EXCEPT SELECT %s FROM main.%s))",
		 cols, table, cols, table, cols, table, cols, table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			n = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
out:
	if (n < 0)
		fprintf(stderr, "cannot compare %s of %s and %s: %s\n", table,
			a, b, sqlite3_errmsg(db));
	sqlite3_close(db);
	return n;
}

static int64_t mirror_difference(const char *a, const char *b,
				 const char *table)
{
	return mirror_difference_of(a, b, table, "*");
}

/* The mirror path holds what the new mirror fresh holds: the same seq, and
 * every table alike but skip (NULL: none), which the caller compares by its
 * columns. */
static void assert_mirror_as_new(const char *path, const char *fresh,
				 const char *skip)
{
	assert_int_equal(mirror_seq(path), mirror_seq(fresh));
	for (size_t i = 0; i < ARRAY_SIZE(mirror_tables); i++)
		if ((skip == NULL || strcmp(mirror_tables[i], skip) != 0) &&
		    mirror_difference(path, fresh, mirror_tables[i]) != 0)
			fail_msg("table %s differs from a new mirror's",
				 mirror_tables[i]);
}

/* The first fill ids missing from the mirror's client table (with version
 * 1), or 0. */
static size_t fill_ids_missing(const char *path)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	size_t missing = 0;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT 1 FROM client WHERE id = "
					    "?1 AND version = 1",
					    -1, &st, NULL),
			 SQLITE_OK);
	for (size_t i = 0; i < n_fill_ids; i++) {
		sqlite3_bind_text(st, 1, fill_ids[i], -1, SQLITE_STATIC);
		if (sqlite3_step(st) != SQLITE_ROW && missing++ == 0)
			fprintf(stderr, "client %s is not in %s\n", fill_ids[i],
				path);
		sqlite3_reset(st);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return missing;
}

/* ---- setup ------------------------------------------------------------- */

/* h_write_config listens on port 0; a follower needs the same port after a
 * restart. */
static int fix_port(const char *conf)
{
	char *text = h_read_file(conf, NULL);
	char *at = text != NULL ? strstr(text, "listen = 127.0.0.1:0\n") : NULL;
	if (at == NULL || (port = h_free_port()) == 0) {
		free(text);
		return -1;
	}
	FILE *f = fopen(conf, "w");
	if (f == NULL) {
		free(text);
		return -1;
	}
	fprintf(f, "%.*slisten = 127.0.0.1:%d\n%s", (int)(at - text), text,
		port, at + strlen("listen = 127.0.0.1:0\n"));
	free(text);
	fputs(extra_orgs, f);
	return fclose(f) == 0 ? 0 : -1;
}

static int group_setup(void **state)
{
	char conf[PATH_MAX];

	h_init();
	certs = h_tmpdir();
	dir = h_tmpdir();
	if (certs == NULL || dir == NULL || h_make_certs(certs) != 0 ||
	    h_certs_script("org-cert.sh",
			   (const char *const[]){certs, "ggz-other", NULL}) ||
	    h_write_config(dir, certs,
			   "log_level = debug\n"
			   /* the live fan-out on threads (fanout.h) */
			   "delivery_threads = 4\n") != 0)
		return -1;
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", dir);
	if (fix_port(conf) != 0 || h_daemon_start(&daemon_, dir) != 0)
		return -1;
	if (daemon_.port != port) {
		fprintf(stderr, "ipsnetd listens on %d, not %d\n", daemon_.port,
			port);
		return -1;
	}
	if (connect_all() != 0)
		return -1;
	fill_ids = calloc(FILL, sizeof(*fill_ids));
	if (fill_ids == NULL)
		return -1;
	uint64_t t0 = now_ms();
	int refused = fill(GGZ_TEST, FILL, fill_ids);
	n_fill_ids = FILL - (size_t)refused;
	fprintf(stderr, "filled the journal with %d registrations in %.1f s\n",
		FILL, (double)(now_ms() - t0) / 1000.0);
	return refused == 0 ? 0 : -1;
}

static int group_teardown(void **state)
{
	for (int o = 0; o < N_ORGS; o++)
		if (conns[o] != NULL)
			ipsnet_client_close(conns[o]);
	int status = h_daemon_stop(&daemon_, SIGTERM);
	if (status != 0)
		h_daemon_dump_log(&daemon_);
	free(fill_ids);
	h_cleanup();
	return status == 0 ? 0 : -1;
}

/* ---- the command's surface -------------------------------------------- */

static void test_usage_help_and_exit_codes(void **state)
{
	struct h_result r;
	struct h_args a;
	char mirror[PATH_MAX];
	snprintf(mirror, sizeof(mirror), "%s/usage.db", dir);

	assert_int_equal(
	    h_run_cli(&r, (const char *const[]){"sync", "--help", NULL}), 0);
	assert_non_null(strstr(r.out, "--mirror FILE"));
	h_result_free(&r);
	assert_int_equal(
	    h_run_cli(&r, (const char *const[]){"watch", "--help", NULL}), 0);
	assert_non_null(strstr(r.out, "--since SEQ"));
	h_result_free(&r);

	/* Usage errors: 2, and nothing made. */
	org_args(&a, GGZ_TEST);
	h_args_add(&a, "sync");
	assert_int_equal(h_run_cli(&r, a.argv), 2);
	assert_non_null(strstr(r.err, "--mirror"));
	h_result_free(&r);
	org_args(&a, GGZ_TEST);
	h_args_add(&a, "sync");
	h_args_add(&a, "--mirror");
	h_args_add(&a, "%s", mirror);
	h_args_add(&a, "--kinds");
	h_args_add(&a, "client,notes");
	assert_int_equal(h_run_cli(&r, a.argv), 2);
	assert_non_null(strstr(r.err, "unknown kind 'notes'"));
	h_result_free(&r);
	assert_int_not_equal(access(mirror, F_OK), 0);
	org_args(&a, GGZ_TEST);
	h_args_add(&a, "watch");
	h_args_add(&a, "--since");
	h_args_add(&a, "yesterday");
	assert_int_equal(h_run_cli(&r, a.argv), 2);
	h_result_free(&r);

	/* No server there: 3, as every command. */
	int closed_fd;
	int closed_port = h_closed_port(&closed_fd);
	assert_int_not_equal(closed_port, 0);
	const char *argv[] = {
	    "--server", NULL, "--ca", NULL,	  "--cert", NULL,
	    "--key",	NULL, "sync", "--mirror", mirror,   NULL,
	};
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	snprintf(server, sizeof(server), "127.0.0.1:%d", closed_port);
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	snprintf(cert, sizeof(cert), "%s/ggz-test.crt", certs);
	snprintf(key, sizeof(key), "%s/ggz-test.key", certs);
	argv[1] = server, argv[3] = ca, argv[5] = cert, argv[7] = key;
	assert_int_equal(h_run_cli(&r, argv), 3);
	h_result_free(&r);
	close(closed_fd);
}

/* ---- who receives what ------------------------------------------------- */

/* Puts program mark-N (every organisation sees programs) and waits until
 * every watcher printed it: all that was committed before was delivered
 * (or skipped) by then, its visibility judged before the next step. */
/* Waits until sql gives want in the mirror. */
static bool wait_mirror(const char *path, const char *sql, int64_t want)
{
	uint64_t deadline = now_ms() + WAIT_MS;
	while (mirror_int(path, sql) != want)
		if (now_ms() >= deadline)
			return false;
		else
			sleep_ms(10);
	return true;
}

/* What `sync` said of the mirror PATH.db, started by start_sync with the
 * name PATH's file name less ".db" (its PATH.err). */
static void dump_mirror_err(const char *mirror)
{
	char err[PATH_MAX];
	size_t n = strlen(mirror);
	snprintf(err, sizeof(err), "%.*s.err",
		 (int)(n > 3 && strcmp(mirror + n - 3, ".db") == 0 ? n - 3 : n),
		 mirror);
	dump_file(mirror, err);
}

/* Mirrors that follow live and wait for the marks too. */
static const char *mark_mirrors[4];
static size_t n_mark_mirrors;

static void mark(struct h_proc *w, size_t n_w, const char *const names[])
{
	static unsigned n = 0;
	char id[32], needle[64], sql[128];
	snprintf(id, sizeof(id), "mark-%u", ++n);
	put_program(NETWORK, id, "ggz-test", 0);
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", id);
	for (size_t i = 0; i < n_w; i++)
		if (!h_wait_file(w[i].out, needle, WAIT_MS)) {
			dump_file(names[i], w[i].err);
			fail_msg("watcher %s did not print %s", names[i], id);
		}
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM program WHERE id = '%s'", id);
	for (size_t i = 0; i < n_mark_mirrors; i++)
		if (!wait_mirror(mark_mirrors[i], sql, 1)) {
			dump_mirror_err(mark_mirrors[i]);
			fail_msg("mirror %s did not get %s", mark_mirrors[i],
				 id);
		}
}

/* What a watcher must have printed, apart from the marks: "change id"
 * strings, in journal order. */
static void expect_exactly(const char *who, const struct seen_list *l,
			   char want[][128], size_t n_want)
{
	size_t k = 0, bad = 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct seen *s = &l->v[i];
		char got[128];
		if (strcmp(s->kind, "program") == 0 &&
		    strncmp(s->id, "mark-", 5) == 0)
			continue;
		snprintf(got, sizeof(got), "%s %s", s->change, s->id);
		if (k < n_want && strcmp(got, want[k]) == 0) {
			k++;
			continue;
		}
		fprintf(stderr, "%s received %s (seq %" PRIu64 ")%s%s\n", who,
			got, s->seq, k < n_want ? "; expected next: " : "",
			k < n_want ? want[k] : "");
		bad++;
	}
	for (; k < n_want; k++, bad++)
		fprintf(stderr, "%s did not receive %s\n", who, want[k]);
	if (bad != 0)
		fail_msg("%s: %zu events wrong (see above)", who, bad);
}

/* The note of the trajectory a watcher printed in event e. */
static const char *seen_note(const struct seen *e)
{
	return json_string_value(
	    json_object_get(json_object_get(e->obj, "trajectory"), "note"));
}

enum watcher { W_TEST, W_OTHER, W_GM, W_UWV, W_NET, N_W };

static void
test_each_organisation_receives_exactly_what_it_may_see(void **state)
{
	static const char *const names[N_W] = {"ggz-test", "ggz-other",
					       "gm0363", "uwv", "network"};
	static const enum org orgs[N_W] = {GGZ_TEST, GGZ_OTHER, GM0363, UWV,
					   NETWORK};
	struct h_proc w[N_W];
	char a[64], ca[64], ta[64], fa[64], b[64], cb[64], tb[64], c[64],
	    cc[64], tc[64], fc[64], review[64];

	struct h_proc follow_gm, follow_other;
	char live_gm[PATH_MAX], live_other[PATH_MAX], sql[256];

	put_program(NETWORK, "vis-test", "ggz-test", 0);
	uint64_t since = put_program(NETWORK, "vis-other", "ggz-other", 0);
	for (int i = 0; i < N_W; i++) {
		char name[32];
		snprintf(name, sizeof(name), "watch-%s", names[i]);
		start_watch(&w[i], orgs[i], since, name);
	}
	/* Two mirrors that follow live: they catch up first, then see the
	 * steps as the watchers do. */
	snprintf(live_gm, sizeof(live_gm), "%s/live-gm0363.db", dir);
	snprintf(live_other, sizeof(live_other), "%s/live-ggz-other.db", dir);
	start_sync(&follow_gm, GM0363, live_gm, true, "live-gm0363");
	start_sync(&follow_other, GGZ_OTHER, live_other, true,
		   "live-ggz-other");
	mark_mirrors[0] = live_gm;
	mark_mirrors[1] = live_other;
	n_mark_mirrors = 2;
	/* They begin from 0: the journal's 30,000 registrations, each judged
	 * for the municipality, which under a sanitizer on a busy host took
	 * longer than one step's wait (WAIT_MS). Caught up, each step is
	 * one more event. */
	for (size_t i = 0; i < n_mark_mirrors; i++) {
		uint64_t deadline = now_ms() + CATCH_UP_MS;
		while (mirror_seq(mark_mirrors[i]) < (int64_t)since) {
			if (now_ms() >= deadline) {
				dump_mirror_err(mark_mirrors[i]);
				fail_msg("mirror %s did not catch up to %llu",
					 mark_mirrors[i],
					 (unsigned long long)since);
			}
			sleep_ms(20);
		}
	}
	mark(w, N_W, names);

	/* A: gm0363 is asked for funding, with A's consent; later the consent
	 * is withdrawn. */
	register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), a);
	mark(w, N_W, names);
	grant_consent(GGZ_TEST, a, "gm0363", ca);
	mark(w, N_W, names);
	refer(GGZ_TEST, a, "vis-test", ta);
	mark(w, N_W, names);
	request_funding(GGZ_TEST, ta, "gm0363", fa);
	mark(w, N_W, names);
	/* gm0363's mirror never got A's registration (it was not for
	 * gm0363 then): it fetches A's case on the first event of A. */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM client WHERE id = '%s' AND "
		 "registered_by = ''",
		 a);
	if (!wait_mirror(live_gm, sql, 1)) {
		dump_file("live-gm0363", follow_gm.err);
		fail_msg("gm0363's mirror did not fetch client %s", a);
	}
	move(GGZ_TEST, ta, 1, TS(ACCEPTED));
	mark(w, N_W, names);
	/* B: consent for gm0363, but nobody asked gm0363 for funding. */
	register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), b);
	grant_consent(GGZ_TEST, b, "gm0363", cb);
	refer(GGZ_TEST, b, "vis-test", tb);
	mark(w, N_W, names);
	/* C: referred to ggz-other's program; UWV asked, with consent. */
	register_client(GGZ_TEST, BENEFIT(WIA), c);
	mark(w, N_W, names);
	refer(GGZ_TEST, c, "vis-other", tc);
	mark(w, N_W, names);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM client WHERE id = '%s' AND "
		 "registered_by = 'ggz-test'",
		 c);
	if (!wait_mirror(live_other, sql, 1)) {
		dump_file("live-ggz-other", follow_other.err);
		fail_msg("ggz-other's mirror did not fetch client %s", c);
	}
	grant_consent(GGZ_TEST, c, "uwv", cc);
	mark(w, N_W, names);
	request_funding(GGZ_TEST, tc, "uwv", fc);
	mark(w, N_W, names);
	move(GGZ_OTHER, tc, 1, TS(ACCEPTED));
	mark(w, N_W, names);
	/* A's consent withdrawn: from here on gm0363 gets nothing of A. */
	withdraw_consent(GGZ_TEST, ca, 1);
	mark(w, N_W, names);
	move(GGZ_TEST, ta, 2, TS(ACTIVE));
	mark(w, N_W, names);
	record_fidelity(NETWORK, "vis-test", review);
	mark(w, N_W, names);

	for (int i = 0; i < N_W; i++) {
		int code = h_proc_stop(&w[i], SIGTERM, WAIT_MS);
		if (code != 0)
			dump_file(names[i], w[i].err);
		assert_int_equal(code, 0);
	}
	n_mark_mirrors = 0;
	assert_int_equal(h_proc_stop(&follow_gm, SIGTERM, WAIT_MS), 0);
	assert_int_equal(h_proc_stop(&follow_other, SIGTERM, WAIT_MS), 0);

	/* The live mirrors: what the watchers got, and the fetched cases. */
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM trajectory WHERE id = '%s' AND status = "
		 "'accepted' AND note = ''",
		 ta);
	assert_int_equal(mirror_int(live_gm, sql), 1); /* not 'active' */
	assert_int_equal(mirror_rows(live_gm, "funding", "id", fa), 1);
	assert_int_equal(mirror_int(live_gm, "SELECT count(*) FROM client"), 1);
	assert_int_equal(mirror_int(live_gm, "SELECT count(*) FROM trajectory"),
			 1);
	assert_int_equal(mirror_int(live_gm, "SELECT count(*) FROM job"), 0);
	assert_int_equal(mirror_int(live_other, "SELECT count(*) FROM client"),
			 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM trajectory WHERE id = '%s' AND status = "
		 "'accepted' AND note <> ''",
		 tc);
	assert_int_equal(mirror_int(live_other, sql), 1);
	assert_int_equal(mirror_rows(live_other, "funding", "id", fc), 1);

	char s[32][128];
	size_t n = 0;
#define WANT(change, id) snprintf(s[n++], sizeof(s[0]), "%s %s", change, id)
	struct seen_list l;

	/* ggz-test registered A, B and C: it sees every step. */
	read_seen(w[W_TEST].out, &l);
	n = 0;
	WANT("register_client", a);
	WANT("grant_consent", ca);
	WANT("refer", ta);
	WANT("request_funding", fa);
	WANT("move_trajectory", ta);
	WANT("register_client", b);
	WANT("grant_consent", cb);
	WANT("refer", tb);
	WANT("register_client", c);
	WANT("refer", tc);
	WANT("grant_consent", cc);
	WANT("request_funding", fc);
	WANT("move_trajectory", tc);
	WANT("withdraw_consent", ca);
	WANT("move_trajectory", ta);
	WANT("record_fidelity", review);
	expect_exactly("ggz-test", &l, s, n);
	/* The registering GGZ gets the referral note. */
	const struct seen *e = find_seen(&l, "refer", ta);
	assert_string_not_equal(seen_note(e), "");
	seen_free(&l);

	/* ggz-other: C from the moment C was referred to its program; never
	 * A or B, nor C's registration (before the referral). */
	read_seen(w[W_OTHER].out, &l);
	n = 0;
	WANT("refer", tc);
	WANT("grant_consent", cc);
	WANT("request_funding", fc);
	WANT("move_trajectory", tc);
	WANT("record_fidelity", review);
	expect_exactly("ggz-other", &l, s, n);
	/* A GGZ party of the case: the note too. */
	e = find_seen(&l, "refer", tc);
	assert_string_not_equal(seen_note(e), "");
	seen_free(&l);

	/* gm0363: A only while a request is addressed to it and A's consent
	 * lives; nothing of B (consent without a request); nothing of A after
	 * the withdrawal, not even the withdrawal. */
	read_seen(w[W_GM].out, &l);
	n = 0;
	WANT("request_funding", fa);
	WANT("move_trajectory", ta);
	WANT("record_fidelity", review);
	expect_exactly("gm0363", &l, s, n);
	/* A funder never gets the referral note. */
	e = find_seen(&l, "move_trajectory", ta);
	assert_string_equal(seen_note(e), "");
	seen_free(&l);

	/* uwv: C from the request addressed to it on. */
	read_seen(w[W_UWV].out, &l);
	n = 0;
	WANT("request_funding", fc);
	WANT("move_trajectory", tc);
	WANT("record_fidelity", review);
	expect_exactly("uwv", &l, s, n);
	e = find_seen(&l, "move_trajectory", tc);
	assert_string_equal(seen_note(e), "");
	seen_free(&l);

	/* network: programs and reviews, no client ever. */
	read_seen(w[W_NET].out, &l);
	n = 0;
	WANT("record_fidelity", review);
	expect_exactly("network", &l, s, n);
	seen_free(&l);
#undef WANT

	/* Caught up from scratch now, policy as it stands: gm0363's mirror
	 * holds nothing of A (consent withdrawn) or B; uwv's holds C cut to a
	 * funder's view. */
	struct h_result r;
	char gm[PATH_MAX], uwv[PATH_MAX];
	snprintf(gm, sizeof(gm), "%s/vis-gm0363.db", dir);
	snprintf(uwv, sizeof(uwv), "%s/vis-uwv.db", dir);
	assert_int_equal(sync_once(GM0363, gm, NULL, &r), 0);
	h_result_free(&r);
	assert_int_equal(sync_once(UWV, uwv, NULL, &r), 0);
	h_result_free(&r);
	static const char *const personal[] = {"client", "consent",
					       "trajectory", "funding", "job"};
	for (size_t i = 0; i < ARRAY_SIZE(personal); i++) {
		snprintf(sql, sizeof(sql), "SELECT count(*) FROM %s",
			 personal[i]);
		assert_int_equal(mirror_int(gm, sql), 0);
	}
	assert_int_equal(mirror_int(gm, "SELECT count(*) FROM program WHERE "
					"id = 'vis-test'"),
			 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM client WHERE id = '%s' AND "
		 "registered_by = ''",
		 c);
	assert_int_equal(mirror_int(uwv, sql), 1);
	assert_int_equal(mirror_int(uwv, "SELECT count(*) FROM client"), 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM trajectory WHERE id = '%s' AND note = "
		 "'' AND status = 'accepted'",
		 tc);
	assert_int_equal(mirror_int(uwv, sql), 1);
	assert_int_equal(mirror_rows(uwv, "consent", "id", cc), 1);
}

/* ---- a sync killed while catching up ------------------------------------ */

static void test_sync_killed_while_catching_up_resumes_without_gap(void **state)
{
	char killed[PATH_MAX], whole[PATH_MAX];
	struct h_result r;
	int64_t at_kill = -1;
	/* A program changed twice: its row must end at version 2. */
	put_program(NETWORK, "resume-prog", "ggz-test", 0);
	put_program(NETWORK, "resume-prog", "ggz-test", 1);
	uint64_t head = (uint64_t)register_client(GGZ_TEST, BENEFIT(WIA), NULL);

	for (int attempt = 1; attempt <= 10 && at_kill < 0; attempt++) {
		struct h_proc p;
		char name[32];
		snprintf(killed, sizeof(killed), "%s/killed-%d.db", dir,
			 attempt);
		snprintf(name, sizeof(name), "killed-%d", attempt);
		start_sync(&p, GGZ_TEST, killed, false, name);
		/* Stop it now and then; once it has committed some of the
		 * journal but not all, kill it where it stands. */
		while (h_proc_running(&p)) {
			int status;
			kill(p.pid, SIGSTOP);
			/* It may have ended just before the signal: then this
			 * reaps it, and h_proc_running could not (it took a
			 * reaped child for one that runs, for ever). */
			if (waitpid(p.pid, &status, WUNTRACED) == p.pid &&
			    !WIFSTOPPED(status)) {
				p.code = WIFEXITED(status)
					     ? WEXITSTATUS(status)
					     : 128 + WTERMSIG(status);
				p.pid = 0;
				break;
			}
			/* Stopped, it may hold the mirror's lock (while it
			 * makes the file): do not wait for it. */
			int64_t seq = mirror_int_wait(
			    killed, "SELECT value FROM meta WHERE key = 'seq'",
			    0);
			if (seq > 0 && (uint64_t)seq < head / 2) {
				kill(p.pid, SIGKILL);
				h_proc_stop(&p, 0, 5000);
				at_kill = seq;
				break;
			}
			kill(p.pid, SIGCONT);
			sleep_ms(2);
		}
		if (at_kill < 0)
			fprintf(stderr,
				"attempt %d: the sync ended before it could "
				"be caught halfway (exit %d); again\n",
				attempt, p.code);
	}
	assert_true(at_kill > 0);
	fprintf(stderr,
		"killed the sync with its mirror at seq %" PRId64 " of %" PRIu64
		"\n",
		at_kill, head);

	/* Resumed, it reaches the head; its rows are those of one sync that
	 * ran whole, and it counted every event once. */
	assert_int_equal(sync_once(GGZ_TEST, killed, NULL, &r), 0);
	h_result_free(&r);
	snprintf(whole, sizeof(whole), "%s/whole.db", dir);
	assert_int_equal(sync_once(GGZ_TEST, whole, NULL, &r), 0);
	const char *events = "SELECT value FROM meta WHERE key = 'events'";
	/* Its last line: the seq as --since takes it, the events (tens of
	 * thousands) grouped by thousands as the progress bar gives them. */
	int64_t n = mirror_int(whole, events);
	char want[PATH_MAX + 128];
	assert_true(n >= 1000);
	snprintf(want, sizeof(want),
		 "%s: at seq %" PRId64 "; %" PRId64 ",%03" PRId64 " events in ",
		 whole, mirror_seq(whole), n / 1000, n % 1000);
	if (n >= 1000000 || strstr(r.out, want) == NULL)
		fail_msg("wanted \"%s\", got: %s", want, r.out);
	h_result_free(&r);
	assert_true(mirror_seq(killed) >= (int64_t)head);
	assert_int_equal(mirror_seq(killed), mirror_seq(whole));
	assert_int_equal(mirror_int(killed, events), mirror_int(whole, events));
	for (size_t i = 0; i < ARRAY_SIZE(mirror_tables); i++)
		assert_int_equal(
		    mirror_difference(killed, whole, mirror_tables[i]), 0);
	assert_int_equal(fill_ids_missing(killed), 0);
	assert_int_equal(mirror_int(killed, "SELECT version FROM program "
					    "WHERE id = 'resume-prog'"),
			 2);
	/* Each client once: as many rows as ggz-test's register events. */
	assert_true(mirror_int(killed, "SELECT count(*) FROM client") >=
		    (int64_t)n_fill_ids);
}

/* ---- the daemon stops while a subscriber catches up -------------------- */

static size_t count_in_file(const char *path, const char *needle);

static void test_daemon_stops_while_a_subscriber_catches_up(void **state)
{
	struct h_proc p;
	char mirror[PATH_MAX];
	snprintf(mirror, sizeof(mirror), "%s/stopped-under.db", dir);
	/* gm0363 sees none of the journal but judges every entry: a catch-up
	 * with a page in flight most of the time. SIGTERM goes as soon as the
	 * daemon has taken the subscription: this sync's line, not one of
	 * the gm0363 subscriptions of the tests before. */
	size_t before = count_in_file(daemon_.log, "subscribed org=gm0363");
	start_sync(&p, GM0363, mirror, false, "stopped-under");
	uint64_t deadline = now_ms() + WAIT_MS;
	while (count_in_file(daemon_.log, "subscribed org=gm0363") == before) {
		if (now_ms() >= deadline)
			fail_msg("the daemon did not take the subscription");
		sleep_ms(5);
	}
	uint64_t t0 = now_ms();
	assert_int_equal(h_daemon_stop(&daemon_, SIGTERM), 0);
	fprintf(stderr, "ipsnetd stopped %.1f s after SIGTERM\n",
		(double)(now_ms() - t0) / 1000.0);
	/* Without --follow the sync ends with "cannot connect" (3), its
	 * mirror consistent; had it caught up before the signal, it ended
	 * with 0. */
	int code = h_proc_stop(&p, 0, WAIT_MS);
	fprintf(stderr, "the sync %s\n",
		code == 3 ? "was cut off while catching up"
			  : "had caught up before the signal");
	assert_true(code == 3 || code == 0);
	assert_int_equal(h_daemon_restart(&daemon_), 0);
	assert_int_equal(connect_all(), 0);
	struct h_result r;
	assert_int_equal(sync_once(GM0363, mirror, NULL, &r), 0);
	h_result_free(&r);
}

/* Waits until the background sync p has said needle on stderr, or ended;
 * whether it said it. */
static bool said_or_ended(struct h_proc *p, const char *needle)
{
	uint64_t deadline = now_ms() + WAIT_MS;
	while (!h_file_contains(p->err, needle) && h_proc_running(p) &&
	       now_ms() < deadline)
		sleep_ms(5);
	return h_file_contains(p->err, needle);
}

/* The mirror path as an older ipsnet leaves it (client without
 * registered_at, to be read again from the start), its hash zeroed: the
 * entry at its seq is another one as far as it knows. The hash is kept in
 * the database keep, for hash_back. */
static void older_with_another_hash(const char *path, const char *keep)
{
	char sql[PATH_MAX + 200];
	snprintf(sql, sizeof(sql),
		 "ATTACH '%s' AS k; CREATE TABLE k.keep AS SELECT value FROM "
		 "meta WHERE key = 'hash'; UPDATE meta SET value = "
		 "zeroblob(32) WHERE key = 'hash'; ALTER TABLE client DROP "
		 "COLUMN registered_at",
		 keep);
	h_db_exec(path, sql);
}

/* The hash older_with_another_hash kept in keep, as the one the refill
 * checks the journal with. */
static void hash_back(const char *path, const char *keep)
{
	char sql[PATH_MAX + 200];
	snprintf(sql, sizeof(sql),
		 "ATTACH '%s' AS k; UPDATE meta SET value = (SELECT value "
		 "FROM k.keep) WHERE key = 'check_hash'",
		 keep);
	h_db_exec(path, sql);
}

/* A `sync --follow` whose mirror is to be read again from the start checks
 * the journal it was made from first; when the server cannot be reached
 * for that check it tries again, as for every other network error under
 * --follow, and once the server is back it checks, then refills. Another
 * journal is still refused (6) before anything is read, after the retries
 * too. Was: the check's connection failing ended the run with exit 3, so
 * a service started while the daemon was restarting stayed down. */
static void test_a_following_refill_waits_for_the_server_to_check(void **state)
{
	struct h_proc p;
	char path[PATH_MAX], keep[PATH_MAX], sql[PATH_MAX + 200], client[64];
	struct h_result r;
	snprintf(path, sizeof(path), "%s/refill-follow.db", dir);
	snprintf(keep, sizeof(keep), "%s/refill-follow-keep.db", dir);

	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	/* An older ipsnet wrote its clients, and the entry at its seq is
	 * another one as far as the mirror knows. */
	older_with_another_hash(path, keep);
	register_client(GGZ_TEST, BENEFIT(NONE), client);

	/* The daemon is away as the run starts: it waits, checks once the
	 * daemon is back, and refuses the other journal. */
	assert_int_equal(h_daemon_stop(&daemon_, SIGTERM), 0);
	start_sync(&p, GGZ_TEST, path, true, "refill-follow-other");
	bool waited = said_or_ended(&p, "trying again");
	assert_int_equal(h_daemon_restart(&daemon_), 0);
	assert_int_equal(connect_all(), 0);
	int code = h_proc_stop(&p, 0, WAIT_MS);
	if (!waited || code != 6)
		dump_file("the sync", p.err);
	assert_true(waited);
	assert_int_equal(code, 6);
	assert_true(
	    h_file_contains(p.err, "is not the one this subscriber has"));
	assert_int_equal(mirror_rows(path, "client", "id", client), 0);

	/* With its own hash back: it waits, checks and fills in. */
	hash_back(path, keep);
	assert_int_equal(h_daemon_stop(&daemon_, SIGTERM), 0);
	start_sync(&p, GGZ_TEST, path, true, "refill-follow");
	waited = said_or_ended(&p, "trying again");
	assert_int_equal(h_daemon_restart(&daemon_), 0);
	assert_int_equal(connect_all(), 0);
	bool filled =
	    waited && wait_mirror(path,
				  "SELECT count(*) FROM meta WHERE key IN "
				  "('check_seq', 'check_hash') OR (key = "
				  "'refill_upto' AND value != 0)",
				  0);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM client WHERE id = '%s' AND "
		 "registered_at IS NOT NULL",
		 client);
	filled = filled && wait_mirror(path, sql, 1) &&
		 wait_mirror(path,
			     "SELECT count(*) FROM client WHERE registered_at "
			     "IS NULL",
			     0);
	code = h_proc_stop(&p, SIGTERM, WAIT_MS);
	if (!waited || !filled || code != 0)
		dump_file("the sync", p.err);
	assert_true(waited);
	assert_true(filled);
	assert_int_equal(code, 0);
	assert_true(h_file_contains(p.err, "connected again"));
}

/* ---- the daemon restarts under its followers --------------------------- */

static void test_followers_resume_after_daemon_restart(void **state)
{
	struct h_proc follower, watcher;
	char mirror[PATH_MAX], ids[3][10][64], needle[96];
	struct h_result r;

	snprintf(mirror, sizeof(mirror), "%s/follow.db", dir);
	assert_int_equal(sync_once(GGZ_TEST, mirror, NULL, &r), 0);
	h_result_free(&r);
	uint64_t since = (uint64_t)mirror_seq(mirror);
	start_sync(&follower, GGZ_TEST, mirror, true, "follower");
	start_watch(&watcher, GGZ_TEST, since, "restart-watch");

	for (int round = 0; round < 3; round++) {
		uint64_t last = 0;
		for (int i = 0; i < 10; i++)
			last = register_client(GGZ_TEST, BENEFIT(NONE),
					       ids[round][i]);
		snprintf(needle, sizeof(needle), "\"id\":\"%s\"",
			 ids[round][9]);
		if (!h_wait_file(watcher.out, needle, WAIT_MS)) {
			dump_file("watcher", watcher.err);
			fail_msg("round %d: the watcher did not get %s", round,
				 ids[round][9]);
		}
		uint64_t deadline = now_ms() + WAIT_MS;
		while (mirror_seq(mirror) < (int64_t)last &&
		       now_ms() < deadline)
			sleep_ms(10);
		if (mirror_seq(mirror) < (int64_t)last) {
			dump_file("follower", follower.err);
			fail_msg("round %d: the mirror is at seq %" PRId64
				 ", not %" PRIu64,
				 round, mirror_seq(mirror), last);
		}
		if (round == 2)
			break;
		/* First a clean stop, then a crash. */
		assert_int_equal(
		    h_daemon_stop(&daemon_, round == 0 ? SIGTERM : SIGKILL),
		    round == 0 ? 0 : 128 + SIGKILL);
		sleep_ms(300); /* the followers find nobody there */
		assert_true(h_proc_running(&follower));
		assert_true(h_proc_running(&watcher));
		assert_int_equal(h_daemon_restart(&daemon_), 0);
		assert_int_equal(daemon_.port, port);
		assert_int_equal(connect_all(), 0);
	}
	assert_true(h_wait_file(follower.err, "trying again", 1));

	assert_int_equal(h_proc_stop(&watcher, SIGINT, WAIT_MS), 0);
	int code = h_proc_stop(&follower, SIGTERM, WAIT_MS);
	if (code != 0)
		dump_file("follower", follower.err);
	assert_int_equal(code, 0);

	/* Every registration once, in order, across both restarts. */
	struct seen_list l;
	read_seen(watcher.out, &l);
	assert_int_equal(l.n, 30);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 10; i++)
			assert_non_null(
			    find_seen(&l, "register_client", ids[round][i]));
	seen_free(&l);
	for (int round = 0; round < 3; round++)
		for (int i = 0; i < 10; i++) {
			char sql[160];
			snprintf(sql, sizeof(sql),
				 "SELECT count(*) FROM client WHERE id = '%s'",
				 ids[round][i]);
			assert_int_equal(mirror_int(mirror, sql), 1);
		}
	/* And the follower's mirror is what a fresh sync makes. */
	char fresh[PATH_MAX];
	snprintf(fresh, sizeof(fresh), "%s/after-restart.db", dir);
	assert_int_equal(sync_once(GGZ_TEST, fresh, NULL, &r), 0);
	h_result_free(&r);
	for (size_t i = 0; i < ARRAY_SIZE(mirror_tables); i++)
		assert_int_equal(
		    mirror_difference(mirror, fresh, mirror_tables[i]), 0);
}

/* ---- subscribers that never read --------------------------------------- */

/* The bound, from the design: a stuck subscriber holds at most its send
 * buffer (send_buffer_bytes, 1 MiB) plus the last write that crossed it (a
 * 64 KiB chunk) and TLS framing; its catch-up stops there, so no page of
 * the journal is held for it. 1.5 MiB a stuck connection covers that with
 * room; a fixed 8 MiB on top is for the allocator and SQLite's caches,
 * which the measurement before the stuck subscribers already includes
 * mostly. Unbounded, each stuck subscriber would hold the FILL
 * registrations it did not read (over 7 MiB each). */
#define STUCK 8
#define STUCK_KIB_EACH (1536)
#define FIXED_KIB (8 * 1024)

/* A bare TLS connection as GGZ_TEST that subscribes from since and then
 * never reads. */
static void subscribe_stuck(struct h_tls *c, uint64_t since)
{
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribe sub = IPSNET__V1__SUBSCRIBE__INIT;
	struct h_tls_opts o;
	h_tls_opts_org(&o, certs, "ggz-test");
	/* What the kernel holds for it is not the daemon's memory: a small
	 * window, so that the daemon's own bound is what stops the flow. */
	o.rcvbuf = 4096;
	assert_int_equal(h_tls_connect(c, port, &o), 0);
	assert_int_equal(h_tls_hello(c, "stuck", NULL), CODE(OK));
	sub.since_seq = since;
	e.request_id = 7;
	e.body_case = BODY(SUBSCRIBE);
	e.subscribe = &sub;
	assert_int_equal(h_tls_send_envelope(c, &e), 0);
}

/* How many times needle is in the file at path. */
static size_t count_in_file(const char *path, const char *needle)
{
	char *text = h_read_file(path, NULL);
	size_t n = 0;
	for (const char *p = text; p != NULL && (p = strstr(p, needle));
	     p += strlen(needle))
		n++;
	free(text);
	return n;
}

/* Reads c's stream after its Subscribed answer up to a CaughtUp at head or
 * later: the events' seqs into seqs (at most cap). Returns how many. */
static size_t read_stream(struct h_tls *c, uint64_t head, uint64_t *seqs,
			  size_t cap)
{
	size_t n = 0;
	for (;;) {
		Ipsnet__V1__Envelope *e = h_tls_recv_envelope(c, WAIT_MS);
		if (e == NULL)
			fail_msg("the stream ended after %zu events: %s", n,
				 c->error);
		bool done = false;
		if (e->body_case == BODY(EVENT)) {
			assert_true(n < cap);
			seqs[n++] = e->event->seq;
		} else if (e->body_case == BODY(CAUGHT_UP)) {
			done = e->caught_up->seq >= head;
		} else if (e->body_case != BODY(SUBSCRIBED)) {
			fail_msg("unexpected body %d after %zu events",
				 (int)e->body_case, n);
		}
		h_envelope_free(e);
		if (done)
			return n;
	}
}

/* During catch-up, a subscriber that asked for it is told how far the
 * server read where the entries were none of its own (Progress), so that a
 * progress bar moves for an organisation that sees little of the journal,
 * as gm0363 does of the fill. Was: its bar stood at 0% with hours left
 * until the catch-up ended (found by a review). One that did not ask (an
 * older ipsnet) gets none. */
static void test_a_catch_up_says_how_far_it_read(void **state)
{
	(void)state;
	uint64_t head = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	for (int ask = 1; ask >= 0; ask--) {
		struct h_tls c;
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__Subscribe sub = IPSNET__V1__SUBSCRIBE__INIT;
		assert_int_equal(h_tls_connect_hello(&c, port, certs, "gm0363"),
				 0);
		sub.progress = ask;
		e.request_id = 5;
		e.body_case = BODY(SUBSCRIBE);
		e.subscribe = &sub;
		assert_int_equal(h_tls_send_envelope(&c, &e), 0);
		uint64_t read = 0, last_event = 0, beyond = 0;
		size_t progresses = 0;
		for (bool done = false; !done;) {
			Ipsnet__V1__Envelope *g =
			    h_tls_recv_envelope(&c, WAIT_MS);
			if (g == NULL)
				fail_msg("the stream ended: %s", c.error);
			if (g->body_case == BODY(EVENT)) {
				last_event = read = g->event->seq;
			} else if (g->body_case == BODY(PROGRESS)) {
				/* Forward, past the events, within the head. */
				assert_true(g->progress->seq > read);
				assert_true(g->progress->seq <= head);
				beyond += g->progress->seq > last_event;
				read = g->progress->seq;
				progresses++;
			} else if (g->body_case == BODY(CAUGHT_UP)) {
				assert_true(g->caught_up->seq >= read);
				done = g->caught_up->seq >= head;
			} else if (g->body_case != BODY(SUBSCRIBED)) {
				fail_msg("unexpected body %d",
					 (int)g->body_case);
			}
			h_envelope_free(g);
		}
		h_tls_close(&c);
		fprintf(stderr, "%s: %zu Progress of %" PRIu64 " entries\n",
			ask ? "asked" : "not asked", progresses, head);
		if (ask)
			assert_int_equal(beyond, progresses);
		assert_true(ask ? progresses > FILL / 1000 : progresses == 0);
	}
}

/* A subscriber that stops reading in the middle of its catch-up falls back
 * (its send buffer full while the next page was being read ahead), and
 * once it reads again it gets the rest: every entry once, in order, the
 * same as a subscriber that read all along. */
static void test_slow_subscriber_falls_back_and_gets_everything(void **state)
{
	struct h_tls fast, slow;
	size_t cap = FILL * 2 + 10000;
	uint64_t *want = calloc(cap, sizeof(*want));
	uint64_t *got = calloc(cap, sizeof(*got));
	assert_non_null(want);
	assert_non_null(got);

	uint64_t head = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	size_t before = count_in_file(daemon_.log, "subscriber falls back");
	subscribe_stuck(&slow, 0);
	uint64_t deadline = now_ms() + WAIT_MS;
	while (count_in_file(daemon_.log, "subscriber falls back") == before) {
		if (now_ms() >= deadline)
			fail_msg("the slow subscriber did not fall back");
		sleep_ms(10);
	}
	subscribe_stuck(&fast, 0); /* this one reads at once */
	size_t n_want = read_stream(&fast, head, want, cap);
	size_t n_got = read_stream(&slow, head, got, cap);
	assert_true(n_want > FILL);
	for (size_t i = 0; i < n_got && i < n_want; i++)
		if (got[i] != want[i])
			fail_msg("event %zu: seq %" PRIu64
				 ", expected %" PRIu64,
				 i, got[i], want[i]);
	assert_int_equal(n_got, n_want);
	h_tls_close(&fast);
	h_tls_close(&slow);
	free(want);
	free(got);
}

static void test_subscribers_that_never_read_keep_memory_bounded(void **state)
{
	struct h_tls stuck[STUCK];
	struct h_proc watcher;
	pid_t pid = h_daemon_pid(&daemon_);

	/* The daemon at work with one live subscriber: the baseline. */
	uint64_t since = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	start_watch(&watcher, GGZ_TEST, since, "live-beside-stuck");
	assert_int_equal(fill(GGZ_TEST, 2000, NULL), 0);
	long before = h_rss_kib(pid);
	assert_true(before > 0);
	/* The test before this one left lines of its own stuck ones. */
	size_t fell_before =
	    count_in_file(daemon_.log, "subscriber falls back");

	for (int i = 0; i < STUCK; i++)
		subscribe_stuck(&stuck[i], 0);

	/* Changes go on committing; the other subscriber goes on receiving
	 * every one of them; memory is sampled all along. */
	long peak = before;
	uint64_t t0 = now_ms();
	char last[64] = "";
	for (int round = 0; round < 10; round++) {
		char(*ids)[32] = calloc(500, sizeof(*ids));
		assert_non_null(ids);
		assert_int_equal(fill(GGZ_TEST, 500, ids), 0);
		snprintf(last, sizeof(last), "%s", ids[499]);
		free(ids);
		long rss = h_rss_kib(pid);
		if (rss > peak)
			peak = rss;
	}
	char needle[96];
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", last);
	bool received = h_wait_file(watcher.out, needle, WAIT_MS);
	long after = h_rss_kib(pid);
	if (after > peak)
		peak = after;
	fprintf(stderr,
		"daemon RSS: %ld KiB before %d stuck subscribers, peak %ld "
		"KiB (+%ld KiB) over 5000 changes in %.1f s; bound +%d KiB\n",
		before, STUCK, peak, peak - before,
		(double)(now_ms() - t0) / 1000.0,
		STUCK * STUCK_KIB_EACH + FIXED_KIB);
	if (!received)
		dump_file("live subscriber", watcher.err);
	assert_true(received);
	if (RSS_IS_THE_DAEMONS)
		assert_true(peak - before <=
			    STUCK * STUCK_KIB_EACH + FIXED_KIB);
	else
		fprintf(stderr, "(built with AddressSanitizer: the bound is "
				"not checked)\n");
	/* The bound was reached, not the kernel's buffers: the stuck ones fell
	 * back to catching up, still connected. */
	uint64_t deadline = now_ms() + WAIT_MS;
	while (count_in_file(daemon_.log, "subscriber falls back") <
	       fell_before + STUCK) {
		if (now_ms() >= deadline)
			fail_msg("%zu of %d stuck subscribers fell back",
				 count_in_file(daemon_.log,
					       "subscriber falls back") -
				     fell_before,
				 STUCK);
		sleep_ms(10);
	}
	struct seen_list l;
	assert_int_equal(h_proc_stop(&watcher, SIGTERM, WAIT_MS), 0);
	read_seen(watcher.out, &l);
	assert_int_equal(l.n, 2000 + 5000);
	seen_free(&l);
	for (int i = 0; i < STUCK; i++)
		h_tls_close(&stuck[i]);
}

/* Subscribers that caught up after falling back, one at a time. */
#define CAUGHT_UP_IDLE 24
/* What each may keep once it follows live, idle: its connection (some
 * 40 KiB, docs/sync.md), with room for the allocator. */
#define CAUGHT_UP_KIB_EACH 128
/* Under a sanitizer, where the bound is not checked, a few go the same
 * way (each is a catch-up of the whole journal: 24 took a minute and a
 * half of CI's ThreadSanitizer phase). */
#define CAUGHT_UP_RUN (RSS_IS_THE_DAEMONS ? CAUGHT_UP_IDLE : 3)

/* A subscriber that caught up (a new mirror from 0) and then follows live
 * lets go of the room its TLS buffer grew to while the catch-up's pages
 * waited for it, as an idle connection without a subscription does. Was:
 * the buffer of a connection with a subscription was never trimmed, so
 * every follower kept the most it once held (some 200 KiB a subscriber
 * here, up to the send buffer) for as long as it stayed connected (found
 * by a review). */
static void test_a_caught_up_subscriber_keeps_no_catch_up_buffer(void **state)
{
	struct h_tls subs[CAUGHT_UP_IDLE], warm;
	pid_t pid = h_daemon_pid(&daemon_);
	size_t cap = FILL * 2 + 10000;
	uint64_t *seqs = calloc(cap, sizeof(*seqs));
	assert_non_null(seqs);

	uint64_t head = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	/* One first, so that what a catch-up leaves in caches and the
	 * allocator is in the baseline. */
	subscribe_stuck(&warm, 0);
	read_stream(&warm, head, seqs, cap);
	long before = h_rss_kib(pid);
	assert_true(before > 0);
	for (int i = 0; i < CAUGHT_UP_RUN; i++) {
		/* It reads nothing until it fell back (its TLS buffer held
		 * what the socket did not take), then everything. */
		size_t fell =
		    count_in_file(daemon_.log, "subscriber falls back");
		subscribe_stuck(&subs[i], 0);
		uint64_t deadline = now_ms() + WAIT_MS;
		while (count_in_file(daemon_.log, "subscriber falls back") ==
		       fell) {
			if (now_ms() >= deadline)
				fail_msg("subscriber %d did not fall back", i);
			sleep_ms(10);
		}
		assert_true(read_stream(&subs[i], head, seqs, cap) > FILL);
	}
	long after = h_rss_kib(pid);
	fprintf(stderr,
		"daemon RSS: %ld KiB before %d subscribers caught up, %ld "
		"after (+%ld KiB); bound +%d KiB\n",
		before, CAUGHT_UP_RUN, after, after - before,
		CAUGHT_UP_RUN * CAUGHT_UP_KIB_EACH);
	if (RSS_IS_THE_DAEMONS)
		assert_true(after - before <=
			    CAUGHT_UP_RUN * CAUGHT_UP_KIB_EACH);
	else
		fprintf(stderr, "(built with AddressSanitizer: the bound is "
				"not checked)\n");
	for (int i = 0; i < CAUGHT_UP_RUN; i++)
		h_tls_close(&subs[i]);
	h_tls_close(&warm);
	free(seqs);
}

/* ---- idle connections ---------------------------------------------------- */

/* A daemon of its own with a 1 s idle timeout: a connection that only said
 * Hello is closed as idle, a subscriber waiting for the journal to move is
 * not. */
static void test_a_subscription_is_not_idle(void **state)
{
	char idle_dir[PATH_MAX];
	struct h_daemon d;
	struct h_tls idle, sub;

	snprintf(idle_dir, sizeof(idle_dir), "%s/idle", h_tmpdir());
	assert_int_equal(mkdir(idle_dir, 0700), 0);
	assert_int_equal(h_write_config(idle_dir, certs, "idle_timeout_ms = 1000\n"),
			 0);
	assert_int_equal(h_daemon_start(&d, idle_dir), 0);
	assert_int_equal(h_tls_connect_hello(&idle, d.port, certs, "ggz-test"),
			 0);
	assert_int_equal(h_tls_connect_hello(&sub, d.port, certs, "ggz-test"),
			 0);
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribe m = IPSNET__V1__SUBSCRIBE__INIT;
	e.request_id = 2;
	e.body_case = BODY(SUBSCRIBE);
	e.subscribe = &m;
	assert_int_equal(h_tls_send_envelope(&sub, &e), 0);
	/* Subscribed, and then CaughtUp of the empty journal: the
	 * subscription is in place and waits for the journal to move. */
	for (int want = BODY(SUBSCRIBED); want != 0;) {
		Ipsnet__V1__Envelope *got = h_tls_recv_envelope(&sub, WAIT_MS);
		assert_non_null(got);
		assert_int_equal(got->body_case, want);
		want = want == BODY(SUBSCRIBED) ? BODY(CAUGHT_UP) : 0;
		ipsnet__v1__envelope__free_unpacked(got, NULL);
	}

	/* The idle one goes (WAIT_MS: a bound against a daemon that never
	 * closes it; under TSan on a loaded machine the daemon was once
	 * silent for 10 s); the subscriber, given three timeouts, stays. The
	 * log line comes once the connection's handles are closed, after
	 * the peer saw the close. */
	assert_true(h_tls_read_closed(&idle, WAIT_MS));
	assert_false(h_tls_read_closed(&sub, 3000));
	assert_true(h_daemon_wait_log(&d, "outcome=idle", WAIT_MS));
	h_tls_close(&idle);
	h_tls_close(&sub);
	assert_int_equal(h_daemon_stop(&d, SIGTERM), 0);
}

/* ---- one mirror, one view ---------------------------------------------- */

/* ---- many live subscribers: the parallel fan-out ----------------------- */

/* More subscribers than the fan-out keeps on the loop thread alone, so that
 * live events go out from the delivery threads too. */
#define MANY_SUBS 96
#define MANY_STALL_MS 30000
#define MANY_STUCK 4
#define MANY_BULKY 2000

struct many;

struct many_sub {
	struct many *m;
	struct ipsnet_conn *c;
	bool caught_up;
	uint64_t events, last_seq;
};

struct many {
	uv_loop_t loop;
	uv_timer_t deadline;
	uint64_t deadline_ms, started_ms;
	uint64_t delivered, progress; /* events to all; at the last poll */
	struct many_sub subs[MANY_SUBS];
	struct filler fill;
	uint64_t n_changes;
	int caught_up, finished, out_of_order, refused;
	bool writing, timed_out;
	char error[256];
};

static void many_close_all(struct many *m)
{
	for (int i = 0; i < MANY_SUBS; i++)
		if (m->subs[i].c != NULL)
			ipsnet_close(m->subs[i].c);
	uv_timer_stop(&m->deadline);
	uv_close((uv_handle_t *)&m->deadline, NULL);
}

static void many_event(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
		       void *arg)
{
	struct many_sub *s = arg;
	if (ev->seq <= s->last_seq)
		s->m->out_of_order++;
	s->last_seq = ev->seq;
	s->m->delivered++;
	if (++s->events == s->m->n_changes)
		s->m->finished++;
}

static void many_caught_up(struct ipsnet_conn *c, uint64_t seq, void *arg)
{
	struct many_sub *s = arg;
	struct many *m = s->m;
	if (s->caught_up)
		return;
	s->caught_up = true;
	if (++m->caught_up < MANY_SUBS || m->writing)
		return;
	/* Everyone is live: the changes start. */
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	struct ipsnet_options opt =
	    org_options(GGZ_TEST, server, sizeof(server), ca, cert, key);
	m->writing = true;
	m->fill.target = m->n_changes;
	if (ipsnet_connect(&m->loop, &opt, &fill_callbacks, &m->fill,
			   &m->fill.conns[0], err, sizeof(err)) != 0) {
		snprintf(m->error, sizeof(m->error), "writer: %s", err);
		many_close_all(m);
	}
}

static const struct ipsnet_subscription_callbacks many_sub_cb = {
    .on_event = many_event,
    .on_caught_up = many_caught_up,
};

static void many_subscribed(struct ipsnet_conn *c, int status,
			    const char *message,
			    const Ipsnet__V1__Envelope *resp, void *arg)
{
	struct many_sub *s = arg;
	if (status != 0 && s->m->refused++ == 0)
		snprintf(s->m->error, sizeof(s->m->error), "subscribe: %s",
			 message != NULL ? message : "no answer");
}

static void many_ready(struct ipsnet_conn *c, int status, const char *message,
		       void *arg)
{
	struct many_sub *s = arg;
	if (status != 0) {
		if (s->m->refused++ == 0)
			snprintf(s->m->error, sizeof(s->m->error),
				 "connect: %s", message);
		return;
	}
	/* From the head as this connection's Hello saw it: nothing is
	 * written until every subscriber is live. */
	s->last_seq = ipsnet_conn_hello(c)->journal_seq;
	if (ipsnet_subscribe(c, s->last_seq, NULL, 0, &many_sub_cb, s,
			     many_subscribed, s) != 0 &&
	    s->m->refused++ == 0)
		snprintf(s->m->error, sizeof(s->m->error),
			 "cannot send Subscribe");
}

static void many_closed(struct ipsnet_conn *c, int status, const char *message,
			void *arg)
{
	struct many_sub *s = arg;
	s->c = NULL;
}

static const struct ipsnet_callbacks many_callbacks = {
    .on_ready = many_ready,
    .on_closed = many_closed,
};

/* Every 10 ms: done when every subscriber has every change and the writer
 * every answer; given up when nothing moved for MANY_STALL_MS. A deadline
 * on the whole run would fail a slow build on a loaded machine (the
 * sanitizers' under ctest -j2 took over a minute), not a stuck stream. */
static void many_poll(uv_timer_t *t)
{
	struct many *m = t->data;
	if (m->finished == MANY_SUBS && m->fill.answered == m->n_changes) {
		many_close_all(m);
		return;
	}
	uint64_t progress =
	    m->delivered + m->fill.answered + (uint64_t)m->caught_up;
	if (progress != m->progress) {
		m->progress = progress;
		m->deadline_ms = now_ms() + MANY_STALL_MS;
		return;
	}
	if (now_ms() < m->deadline_ms)
		return;
	m->timed_out = true;
	many_close_all(m);
	for (int i = 0; i < FILL_CONNS; i++)
		if (m->fill.conns[i] != NULL)
			ipsnet_close(m->fill.conns[i]);
}

/* MANY_SUBS live subscribers on one loop, and n_stuck more that subscribe
 * from the head and never read; n_changes changes once all are live
 * (registrations, or with stuck ones the largest entries). Every live
 * subscriber must get each change exactly once, in order, whatever the stuck
 * ones do. */
static void many_run(uint64_t n_changes, int n_stuck)
{
	struct many *m = calloc(1, sizeof(*m));
	struct h_tls stuck[MANY_STUCK];
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	struct ipsnet_options opt =
	    org_options(GGZ_TEST, server, sizeof(server), ca, cert, key);
	assert_non_null(m);
	assert_true(n_stuck <= MANY_STUCK);
	m->n_changes = n_changes;
	static char bulky_client[64];
	if (n_stuck > 0) {
		/* The largest entries: the kernel's buffers and the send
		 * bound fill with the fewest commits. */
		put_program(NETWORK, "many-bulky", "ggz-test", 0);
		m->fill.bulky_program = "many-bulky";
		m->fill.bulky_client = bulky_client;
	}

	uint64_t head = register_client(GGZ_TEST, BENEFIT(NONE), bulky_client);
	for (int i = 0; i < n_stuck; i++)
		subscribe_stuck(&stuck[i], head);

	assert_int_equal(uv_loop_init(&m->loop), 0);
	assert_int_equal(uv_timer_init(&m->loop, &m->deadline), 0);
	m->deadline.data = m;
	m->started_ms = now_ms();
	m->deadline_ms = m->started_ms + MANY_STALL_MS;
	assert_int_equal(uv_timer_start(&m->deadline, many_poll, 10, 10), 0);
	for (int i = 0; i < MANY_SUBS; i++) {
		m->subs[i].m = m;
		if (ipsnet_connect(&m->loop, &opt, &many_callbacks, &m->subs[i],
				   &m->subs[i].c, err, sizeof(err)) != 0)
			fail_msg("subscriber %d: %s", i, err);
	}
	uv_run(&m->loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&m->loop), 0);

	fprintf(stderr,
		"many: %" PRIu64
		" changes to %d live subscribers (%d stuck) in "
		"%.1f s\n",
		n_changes, MANY_SUBS, n_stuck,
		(double)(now_ms() - m->started_ms) / 1000.0);
	if (m->error[0] != '\0' || m->timed_out)
		fprintf(stderr,
			"many: %s%s; %d caught up, %d finished, %" PRIu64
			" of %" PRIu64 " changes answered\n",
			m->error,
			m->timed_out ? " (nothing moved for 30 s)" : "",
			m->caught_up, m->finished, m->fill.answered, n_changes);
	assert_false(m->timed_out);
	assert_int_equal(m->refused, 0);
	assert_int_equal(m->fill.refused, 0);
	assert_int_equal(m->out_of_order, 0);
	/* Exactly every change, no more: one extra would be a duplicate. */
	for (int i = 0; i < MANY_SUBS; i++)
		assert_int_equal(m->subs[i].events, n_changes);
	for (int i = 0; i < n_stuck; i++)
		h_tls_close(&stuck[i]);
	free(m);
}

static void test_many_live_subscribers_each_get_every_event_once(void **state)
{
	many_run(40, 0);
}

/* Subscribers that never read among many live ones: their sockets fill,
 * the delivery threads leave what the kernel does not take to the loop,
 * their send buffers reach the bound and they fall back, while the live
 * ones get everything. The kernel takes megabytes on loopback before the
 * daemon's bound (1 MiB) even begins: with registrations of about 450
 * bytes 8,000 were not enough and 11,000 were (20,000 made the test take
 * a minute under TSan); of imported trajectories of about 5 KB, the
 * largest entries, 600 were not enough and 1,000 were; 2,000 are 10 MB. */
static void test_stuck_subscribers_among_many_live_ones(void **state)
{
	size_t before = count_in_file(daemon_.log, "subscriber falls back");
	many_run(MANY_BULKY, MANY_STUCK);
	/* Each stuck one reached the bound (the line may follow the last
	 * live delivery by a moment). */
	uint64_t deadline = now_ms() + WAIT_MS;
	size_t fell;
	while ((fell = count_in_file(daemon_.log, "subscriber falls back")) <
	       before + MANY_STUCK) {
		if (now_ms() >= deadline)
			fail_msg("%zu fallbacks of %d stuck subscribers",
				 fell - before, MANY_STUCK);
		sleep_ms(10);
	}
}

/* ipsnet watch without --json prints one line an event; a funder
 * described in free text must not bring escape sequences or line breaks
 * of its own to the terminal. */
static void test_watch_prints_free_text_without_control_characters(void **state)
{
	struct h_proc watcher;
	struct h_args a;
	char out[PATH_MAX], err[PATH_MAX], client[64], trajectory[64],
	    funding[64];
	put_program(NETWORK, "watch-text", "ggz-test", 0);
	register_client(GGZ_TEST, BENEFIT(OTHER), client);
	refer(GGZ_TEST, client, "watch-text", trajectory);
	uint64_t since = move(GGZ_TEST, trajectory, 1, TS(ACCEPTED));

	org_args(&a, GGZ_TEST);
	h_args_add(&a, "watch");
	h_args_add(&a, "--since");
	h_args_add(&a, "%" PRIu64, since);
	snprintf(out, sizeof(out), "%s/watch-text.out", dir);
	snprintf(err, sizeof(err), "%s/watch-text.err", dir);
	assert_int_equal(h_proc_start_cli(&watcher, a.argv, out, err), 0);

	Ipsnet__V1__RequestFunding m = IPSNET__V1__REQUEST_FUNDING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.trajectory_id = trajectory;
	/* U+009B (CSI) and U+0085 (a line break) are control characters
	 * too */
	m.other_description =
	    "Fonds\033[2J\n2026-01-01 00:00 uwv forged\302\2332J\302\205";
	m.months = 6;
	e.body_case = BODY(REQUEST_FUNDING);
	e.request_funding = &m;
	change(GGZ_TEST, &e, funding);
	bool seen = h_wait_file(out, funding, WAIT_MS);
	assert_int_equal(h_proc_stop(&watcher, SIGINT, WAIT_MS), 0);
	assert_true(seen);
	char *text = h_read_file(out, NULL);
	assert_non_null(text);
	assert_null(strchr(text, '\033'));
	assert_non_null(strstr(text, "asked Fonds?[2J?2026-01-01 00:00 uwv "
				     "forged?2J? for 6 months"));
	free(text);
}

/* Runs `ipsnet --json watch --since SEQ` into a pipe whose reader takes
 * one line and goes, as `| head -1` does: from seq 0 (the reader goes in
 * the middle of the catch-up; the journal holds some 30000 entries), or
 * live, from a seq near the head, with the next change after the reader
 * went. The watch must end with exit 0 and nothing on stderr. */
static void watch_until_the_reader_goes(bool live)
{
	struct h_proc w;
	struct h_args a;
	char fifo[PATH_MAX], err[PATH_MAX], line[4096];
	uint64_t since =
	    live ? register_client(GGZ_TEST, BENEFIT(NONE), NULL) : 0;

	snprintf(fifo, sizeof(fifo), "%s/watch-head.out", dir);
	snprintf(err, sizeof(err), "%s/watch-head.err", dir);
	unlink(fifo);
	assert_int_equal(mkfifo(fifo, 0600), 0);
	/* The reading end first: the watch's open for writing then does not
	 * wait for one. */
	int rfd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	assert_true(rfd >= 0);
	org_args(&a, GGZ_TEST);
	h_args_add(&a, "--json");
	h_args_add(&a, "watch");
	h_args_add(&a, "--since");
	h_args_add(&a, "%" PRIu64, since);
	assert_int_equal(h_proc_start_cli(&w, a.argv, fifo, err), 0);
	if (live)
		register_client(GGZ_TEST, BENEFIT(NONE), NULL);

	/* head -1: one line, then gone. */
	size_t got = 0;
	uint64_t deadline = util_mono_us() + WAIT_MS * 1000ULL;
	while (memchr(line, '\n', got) == NULL && got < sizeof(line) &&
	       util_mono_us() < deadline) {
		struct pollfd pfd = {.fd = rfd, .events = POLLIN};
		if (poll(&pfd, 1, 100) <= 0)
			continue;
		ssize_t n = read(rfd, line + got, sizeof(line) - got);
		if (n > 0)
			got += (size_t)n;
	}
	close(rfd);
	if (memchr(line, '\n', got) == NULL) {
		dump_file("watch", err);
		fail_msg("the watch printed no line");
	}

	/* The next event finds no reader. */
	if (live)
		register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	int code = h_proc_stop(&w, 0, WAIT_MS);
	char *said = h_read_file(err, NULL);
	assert_non_null(said);
	if (code != 0 || said[0] != '\0')
		fail_msg("the watch (%s) ended %d, saying: %s",
			 live ? "live" : "catching up", code, said);
	free(said);
}

/* `ipsnet watch --json | head -1` ends quietly with exit 0 once the
 * reader of its output is gone: no "Broken pipe", no error. */
static void test_watch_whose_reader_went_ends_quietly(void **state)
{
	for (int live = 0; live < 2; live++)
		watch_until_the_reader_goes(live);
}

/* `ipsnet watch` whose output cannot be written (a full disk) stops with
 * exit 1 and says why once. Was: the same failure twice on stderr, the
 * second time without its reason (main's last flush found the error flag
 * that the watch had seen and said already). */
static void test_watch_that_cannot_write_says_so_once(void **state)
{
	struct h_args a;
	struct h_result r;
	for (int json = 0; json < 2; json++) {
		const char *argv[H_ARGS_MAX + 4] = {
		    "sh", "-c", "exec \"$0\" \"$@\" >/dev/full", IPSNET_PATH};
		int n = 4;
		org_args(&a, GGZ_TEST);
		if (json)
			h_args_add(&a, "--json");
		h_args_add(&a, "watch");
		h_args_add(&a, "--since");
		h_args_add(&a, "0");
		for (int k = 0; k < a.n; k++)
			argv[n++] = a.argv[k];
		argv[n] = NULL;
		int code = h_run(&r, "/bin/sh", argv);
		const char *said = "ipsnet: cannot write the output: No space "
				   "left on device\n";
		if (code != 1 || strcmp(r.err, said) != 0)
			fail_msg("watch%s to a full disk: exit %d, saying: %s",
				 json ? " --json" : "", code, r.err);
		h_result_free(&r);
	}
}

/* Bytes waiting in the receive queues of pid's TCP sockets
 * (/proc/net/tcp), or -1. */
static long tcp_rx_queued(pid_t pid)
{
	char path[64], link[64], line[512];
	unsigned long inodes[64];
	size_t n = 0;
	for (int fd = 0; fd < 256 && n < ARRAY_SIZE(inodes); fd++) {
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)pid, fd);
		ssize_t len = readlink(path, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (sscanf(link, "socket:[%lu]", &inodes[n]) == 1)
			n++;
	}
	FILE *f = fopen("/proc/net/tcp", "r");
	if (f == NULL)
		return -1;
	long queued = 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long tx, rx, inode;
		if (sscanf(line,
			   "%*d: %*x:%*x %*x:%*x %*x %lx:%lx %*x:%*x %*x %*d "
			   "%*d %lu",
			   &tx, &rx, &inode) != 3)
			continue;
		for (size_t i = 0; i < n; i++)
			if (inodes[i] == inode)
				queued += (long)rx;
	}
	fclose(f);
	return queued;
}

/* A live event of a client the mirror has no row for makes the sync ask
 * for her case. When the run stops before the answer (Ctrl-C, or the
 * connection drops under --follow), the event's seq is committed all the
 * same: the next run must still ask, or the client, her consents and her
 * trajectory are missing from the mirror for good. */
static void test_a_case_asked_for_but_not_answered_is_asked_again(void **state)
{
	struct h_proc follower;
	struct h_result r;
	char mirror[PATH_MAX], client[64], trajectory[64], funding[64];
	snprintf(mirror, sizeof(mirror), "%s/backfill.db", dir);

	put_program(NETWORK, "gap-test", "ggz-test", 0);
	register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), client);
	grant_consent(GGZ_TEST, client, "gm0363", NULL);
	refer(GGZ_TEST, client, "gap-test", trajectory);
	move(GGZ_TEST, trajectory, 1, TS(ACCEPTED));
	/* Not gm0363's business yet: no row of her. */
	assert_int_equal(sync_once(GM0363, mirror, NULL, &r), 0);
	h_result_free(&r);
	assert_int_equal(mirror_rows(mirror, "client", "id", client), 0);

	start_sync(&follower, GM0363, mirror, true, "backfill");
	/* Following live once a program put after its start is in. */
	put_program(NETWORK, "gap-mark", "ggz-test", 0);
	assert_true(wait_mirror(mirror,
				"SELECT count(*) FROM program WHERE id = "
				"'gap-mark'",
				1));

	/* The event waits in the follower's socket; the daemon is stopped
	 * before the follower reads it, so its ShowCase gets no answer. */
	kill(follower.pid, SIGSTOP);
	uint64_t seq = request_funding(GGZ_TEST, trajectory, "gm0363", funding);
	uint64_t deadline = now_ms() + WAIT_MS;
	while (tcp_rx_queued(follower.pid) <= 0 && now_ms() < deadline)
		sleep_ms(10);
	assert_true(tcp_rx_queued(follower.pid) > 0);
	pid_t daemon_pid = h_daemon_pid(&daemon_);
	kill(daemon_pid, SIGSTOP);
	kill(follower.pid, SIGCONT);
	deadline = now_ms() + WAIT_MS;
	while (mirror_seq(mirror) < (int64_t)seq && now_ms() < deadline)
		sleep_ms(10);
	int64_t reached = mirror_seq(mirror);
	int code = h_proc_stop(&follower, SIGINT, WAIT_MS);
	kill(daemon_pid, SIGCONT);
	assert_int_equal(reached, (int64_t)seq);
	assert_int_equal(code, 0);
	assert_int_equal(mirror_rows(mirror, "funding", "id", funding), 1);

	/* The next run fetches her case. */
	assert_int_equal(sync_once(GM0363, mirror, NULL, &r), 0);
	h_result_free(&r);
	assert_int_equal(mirror_rows(mirror, "client", "id", client), 1);
	assert_int_equal(mirror_rows(mirror, "trajectory", "id", trajectory),
			 1);
	assert_int_equal(mirror_int(mirror, "SELECT count(*) FROM wanted"), 0);
}

/* The case of a client an event needs cannot be asked for (the mirror's
 * write of it fails): the run stops, and commits nothing of that event,
 * so the next run reads it again and asks. Was: the run's end committed
 * the open transaction, the cursor past the event, and the client was
 * never fetched (found by a review, with this trigger). */
static void test_a_case_that_cannot_be_asked_for_holds_the_cursor(void **state)
{
	struct h_result r;
	char mirror[PATH_MAX], client[64], trajectory[64], funding[64];
	snprintf(mirror, sizeof(mirror), "%s/want-fails.db", dir);

	put_program(NETWORK, "want-test", "ggz-test", 0);
	register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), client);
	grant_consent(GGZ_TEST, client, "gm0363", NULL);
	refer(GGZ_TEST, client, "want-test", trajectory);
	assert_int_equal(sync_once(GM0363, mirror, NULL, &r), 0);
	h_result_free(&r);
	assert_int_equal(mirror_rows(mirror, "client", "id", client), 0);
	int64_t before = mirror_seq(mirror);

	assert_int_equal(h_sqlite3(mirror, "CREATE TRIGGER no_want BEFORE "
					   "INSERT ON wanted BEGIN SELECT "
					   "RAISE(ABORT, 'no room'); END;"),
			 0);
	uint64_t seq = request_funding(GGZ_TEST, trajectory, "gm0363", funding);
	assert_int_not_equal(sync_once(GM0363, mirror, NULL, &r), 0);
	if (strstr(r.err, "no room") == NULL) {
		fprintf(stderr, "stderr: %s\n", r.err);
		fail_msg("the failed write is not named");
	}
	h_result_free(&r);
	assert_true(mirror_seq(mirror) < (int64_t)seq);
	assert_int_equal(mirror_seq(mirror), before);
	assert_int_equal(mirror_rows(mirror, "funding", "id", funding), 0);

	assert_int_equal(h_sqlite3(mirror, "DROP TRIGGER no_want;"), 0);
	assert_int_equal(sync_once(GM0363, mirror, NULL, &r), 0);
	h_result_free(&r);
	assert_int_equal(mirror_seq(mirror), (int64_t)seq);
	assert_int_equal(mirror_rows(mirror, "funding", "id", funding), 1);
	assert_int_equal(mirror_rows(mirror, "client", "id", client), 1);
	assert_int_equal(mirror_rows(mirror, "trajectory", "id", trajectory),
			 1);
	assert_int_equal(mirror_int(mirror, "SELECT count(*) FROM wanted"), 0);
}

/* A mirror of some kinds takes from a client's case only those kinds
 * (docs/sync.md: --kinds mirrors only those kinds). Was: a mirror of
 * client and trajectory that asked for a case got her consents and funding
 * requests too, rows its stream never brings up to date: a funding request
 * decided later stayed "requested" there for good. */
static void
test_a_mirror_of_some_kinds_takes_only_those_from_a_case(void **state)
{
	struct h_result r;
	char mirror[PATH_MAX], client[64], trajectory[64];
	snprintf(mirror, sizeof(mirror), "%s/kinds-case.db", dir);

	put_program(NETWORK, "kinds-case", "ggz-test", 0);
	register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), client);
	refer(GGZ_TEST, client, "kinds-case", trajectory);
	/* Not gm0363's business yet: no row of her. */
	assert_int_equal(sync_once(GM0363, mirror, "client,trajectory", &r), 0);
	h_result_free(&r);
	grant_consent(GGZ_TEST, client, "gm0363", NULL);
	request_funding(GGZ_TEST, trajectory, "gm0363", NULL);
	move(GGZ_TEST, trajectory, 1, TS(ACCEPTED));
	/* The acceptance comes, and her case is asked for. */
	assert_int_equal(sync_once(GM0363, mirror, NULL, &r), 0);
	h_result_free(&r);
	assert_int_equal(mirror_rows(mirror, "client", "id", client), 1);
	assert_int_equal(mirror_rows(mirror, "trajectory", "id", trajectory),
			 1);
	assert_int_equal(mirror_rows(mirror, "consent", "client_id", client),
			 0);
	assert_int_equal(mirror_rows(mirror, "funding", "client_id", client),
			 0);
}

static void test_mirror_keeps_its_organisation_and_kinds(void **state)
{
	char path[PATH_MAX];
	struct h_result r;
	struct h_args a;
	snprintf(path, sizeof(path), "%s/programs.db", dir);

	assert_int_equal(
	    sync_once(NETWORK, path, "program,fidelity_review", &r), 0);
	h_result_free(&r);
	assert_true(mirror_int(path, "SELECT count(*) FROM program") > 0);
	assert_int_equal(mirror_int(path, "SELECT count(*) FROM client"), 0);
	/* Resumed without --kinds: the kinds it was made with. */
	put_program(NETWORK, "kinds-prog", "ggz-test", 0);
	assert_int_equal(sync_once(NETWORK, path, NULL, &r), 0);
	h_result_free(&r);
	assert_int_equal(mirror_int(path, "SELECT count(*) FROM program WHERE "
					  "id = 'kinds-prog'"),
			 1);
	/* Other kinds would leave a gap; another organisation's view does
	 * not belong in it. Both refused (6), the file untouched. */
	int64_t seq = mirror_seq(path);
	assert_int_equal(sync_once(NETWORK, path, "client", &r), 6);
	assert_non_null(strstr(r.err, "--kinds"));
	h_result_free(&r);
	org_args(&a, GGZ_TEST);
	h_args_add(&a, "sync");
	h_args_add(&a, "--mirror");
	h_args_add(&a, "%s", path);
	assert_int_equal(h_run_cli(&r, a.argv), 6);
	assert_non_null(strstr(r.err, "network"));
	h_result_free(&r);
	assert_int_equal(mirror_seq(path), seq);
}

/* A mirror that cannot be written (a full disk; here a trigger that
 * refuses the row, as a full disk would refuse the write) stops the sync
 * with exit 1, the code docs/sync.md gives for a mirror file that cannot
 * be written, and the file stays at its seq, to resume once it can be
 * written again. Was: exit 3, "cannot connect", which sends an operator
 * to look at the network and the server. */
static void test_a_mirror_that_cannot_be_written_exits_1(void **state)
{
	char path[PATH_MAX];
	struct h_result r;
	snprintf(path, sizeof(path), "%s/unwritable.db", dir);
	assert_int_equal(sync_once(NETWORK, path, "program", &r), 0);
	h_result_free(&r);
	int64_t seq = mirror_seq(path);
	assert_int_equal(h_sqlite3(path, "CREATE TRIGGER refuse BEFORE INSERT "
					 "ON program BEGIN SELECT RAISE(ABORT, "
					 "'database or disk is full'); END;"),
			 0);
	put_program(NETWORK, "unwritable-prog", "ggz-test", 0);
	assert_int_equal(sync_once(NETWORK, path, NULL, &r), 1);
	assert_non_null(strstr(r.err, "cannot write to the mirror"));
	h_result_free(&r);
	assert_int_equal(mirror_seq(path), seq);
	assert_int_equal(h_sqlite3(path, "DROP TRIGGER refuse;"), 0);
	assert_int_equal(sync_once(NETWORK, path, NULL, &r), 0);
	h_result_free(&r);
	assert_int_equal(mirror_rows(path, "program", "id", "unwritable-prog"),
			 1);
}

/* A mirror keeps the hash of the journal entry at its seq, and resumes
 * only from a server whose entry there is the same one: a journal that was
 * restored from a backup, or another server's, is refused (6) instead of
 * mixed in, whether its head is at the mirror's seq (checked as the
 * Subscribe comes) or beyond it (checked by the first page), and the file
 * is left as it was. */
static void test_mirror_refuses_another_journal(void **state)
{
	char path[PATH_MAX], keep[PATH_MAX], sql[PATH_MAX + 160], client[64];
	struct h_result r;
	snprintf(path, sizeof(path), "%s/hashed.db", dir);
	snprintf(keep, sizeof(keep), "%s/hashed-keep.db", dir);

	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	int64_t seq = mirror_seq(path);
	assert_true(seq > 0);
	assert_int_equal(mirror_int(path, "SELECT length(value) FROM meta "
					  "WHERE key = 'hash'"),
			 32);
	/* The entry at its seq is another one as far as the mirror knows. */
	snprintf(sql, sizeof(sql),
		 "ATTACH '%s' AS k; CREATE TABLE k.keep AS SELECT value FROM "
		 "meta WHERE key = 'hash'; UPDATE meta SET value = "
		 "zeroblob(32) WHERE key = 'hash'",
		 keep);
	h_db_exec(path, sql);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 6);
	assert_non_null(strstr(r.err, "is not the one this subscriber has"));
	h_result_free(&r);
	register_client(GGZ_TEST, BENEFIT(NONE), client);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 6);
	assert_non_null(strstr(r.err, "is not the one this subscriber has"));
	h_result_free(&r);
	assert_int_equal(mirror_seq(path), seq);
	assert_int_equal(mirror_rows(path, "client", "id", client), 0);
	/* With its own hash back it resumes. */
	snprintf(sql, sizeof(sql),
		 "ATTACH '%s' AS k; UPDATE meta SET value = (SELECT value "
		 "FROM k.keep) WHERE key = 'hash'",
		 keep);
	h_db_exec(path, sql);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	assert_non_null(strstr(r.out, "; 1 event in "));
	h_result_free(&r);
	assert_true(mirror_seq(path) > seq);
	assert_int_equal(mirror_rows(path, "client", "id", client), 1);

	/* A mirror made from another server, with a shorter journal, resumed
	 * from this one. */
	struct h_daemon other;
	struct ipsnet_client *ours[N_ORGS];
	const char *other_dir = h_tmpdir();
	assert_non_null(other_dir);
	char conf[PATH_MAX];
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", other_dir);
	assert_int_equal(h_write_config(other_dir, certs, ""), 0);
	FILE *cf = fopen(conf, "a"); /* the organisations this file uses */
	assert_non_null(cf);
	fputs(extra_orgs, cf);
	assert_int_equal(fclose(cf), 0);
	assert_int_equal(h_daemon_start(&other, other_dir), 0);
	int our_port = port;
	memcpy(ours, conns, sizeof(ours));
	memset(conns, 0, sizeof(conns));
	port = other.port;
	assert_int_equal(connect_all(), 0);
	register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	snprintf(path, sizeof(path), "%s/other-server.db", dir);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	/* There its entry is damaged (no hash): that is said as damage, not
	 * as another journal, and nothing is delivered. */
	register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	seq = mirror_seq(path);
	snprintf(sql, sizeof(sql),
		 "DROP TRIGGER journal_no_update; UPDATE journal SET hash = "
		 "x'00' WHERE seq = %" PRId64,
		 seq);
	snprintf(conf, sizeof(conf), "%s/ipsnet.db", other_dir);
	h_db_exec(conf, sql);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 3);
	assert_non_null(strstr(r.err, "cannot read the journal now"));
	h_result_free(&r);
	assert_int_equal(mirror_seq(path), seq);
	for (int o = 0; o < N_ORGS; o++)
		ipsnet_client_close(conns[o]);
	memcpy(conns, ours, sizeof(ours));
	port = our_port;
	assert_int_equal(h_daemon_stop(&other, SIGTERM), 0);
	int64_t clients = mirror_int(path, "SELECT count(*) FROM client");
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 6);
	assert_non_null(strstr(r.err, "is not the one this subscriber has"));
	h_result_free(&r);
	assert_int_equal(mirror_seq(path), seq);
	assert_int_equal(mirror_int(path, "SELECT count(*) FROM client"),
			 clients);
}

/* A mirror without the hash of its entry (made by an ipsnet before
 * hashes), at a seq past the end of the server's journal (the journal
 * was restored from a backup since), is refused (6) and told to start
 * again with a new mirror file; it was told only that it "was made from
 * another journal". */
static void
test_mirror_past_the_journal_without_a_hash_is_told_what_to_do(void **state)
{
	char path[PATH_MAX];
	struct h_result r;
	snprintf(path, sizeof(path), "%s/unhashed.db", dir);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	h_db_exec(path, "DELETE FROM meta WHERE key = 'hash'; UPDATE meta SET "
			"value = value + 1000 WHERE key IN ('seq', "
			"'complete_seq')");
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 6);
	if (strstr(r.err, "the mirror is at seq") == NULL ||
	    strstr(r.err, "made from another journal") == NULL ||
	    strstr(r.err, "start again from seq 0 with a new mirror file") ==
		NULL)
		fail_msg("sync said: %s", r.err);
	h_result_free(&r);
}

/* ---- the hash a subscriber resumes with ---------------------------------- */

/* The hash of journal entry seq in the daemon's database db: the ground
 * truth. */
static void journal_hash_at(const char *db, uint64_t seq, uint8_t out[32])
{
	sqlite3 *h;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	assert_int_equal(sqlite3_prepare_v2(h,
					    "SELECT hash FROM journal WHERE "
					    "seq = ?1",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), 32);
	memcpy(out, sqlite3_column_blob(st, 0), 32);
	sqlite3_finalize(st);
	sqlite3_close(h);
}

/* The mirror at path holds, as meta.hash, the hash of journal entry
 * meta.seq in the daemon's database db. */
static void assert_mirror_hash_is_the_journals(const char *path, const char *db)
{
	uint8_t want[32];
	sqlite3 *m;
	sqlite3_stmt *st;
	journal_hash_at(db, (uint64_t)mirror_seq(path), want);
	assert_int_equal(sqlite3_open_v2(path, &m, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(m,
					    "SELECT value FROM meta WHERE key "
					    "= 'hash'",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_bytes(st, 0), 32);
	assert_memory_equal(sqlite3_column_blob(st, 0), want, 32);
	sqlite3_finalize(st);
	sqlite3_close(m);
}

/* `ipsnet watch --json` gives each event's hash, and `--since SEQ
 * --since-hash HASH` resumes from it: with the journal's hash it goes on,
 * with another it is refused (6) before anything is printed, and told
 * what a watch does then (the server said only "a new mirror file"),
 * also for a SEQ past the end of the journal. */
static void test_watch_resumes_with_a_hash(void **state)
{
	char a[64], b[64], db[PATH_MAX], hex[65], needle[160];
	uint8_t h[32];
	struct h_proc w;
	struct h_args args;
	uint64_t s1 = register_client(GGZ_TEST, BENEFIT(NONE), a);
	uint64_t s2 = register_client(GGZ_TEST, BENEFIT(NONE), b);
	snprintf(db, sizeof(db), "%s/ipsnet.db", dir);
	/* 0: the journal's hash; 1: another; 2: a seq past the end. */
	for (int wrong = 0; wrong < 3; wrong++) {
		char out[PATH_MAX], err[PATH_MAX];
		journal_hash_at(db, s1, h);
		if (wrong)
			memset(h, 0, sizeof(h));
		util_hex(hex, sizeof(hex), h, sizeof(h));
		org_args(&args, GGZ_TEST);
		h_args_add(&args, "--json");
		h_args_add(&args, "watch");
		h_args_add(&args, "--since");
		h_args_add(&args, "%" PRIu64, wrong == 2 ? s2 + 1000 : s1);
		h_args_add(&args, "--since-hash");
		h_args_add(&args, "%s", hex);
		snprintf(out, sizeof(out), "%s/hash-watch.out", dir);
		snprintf(err, sizeof(err), "%s/hash-watch.err", dir);
		assert_int_equal(h_proc_start_cli(&w, args.argv, out, err), 0);
		if (wrong) {
			assert_int_equal(h_proc_stop(&w, 0, WAIT_MS), 6);
			assert_true(
			    h_wait_file(err,
					wrong == 1 ? "is not the one this "
						     "subscriber has"
						   : "before this subscriber's",
					1));
			if (!h_file_contains(err, "or watch --since 0")) {
				dump_file("watch", err);
				fail_msg("the watch is not told what to do");
			}
			char *printed = h_read_file(out, NULL);
			assert_non_null(printed);
			assert_string_equal(printed, "");
			free(printed);
			continue;
		}
		journal_hash_at(db, s2, h);
		util_hex(hex, sizeof(hex), h, sizeof(h));
		snprintf(needle, sizeof(needle),
			 "\"seq\":%" PRIu64 ",\"hash\":\"%s\"", s2, hex);
		if (!h_wait_file(out, needle, WAIT_MS)) {
			dump_file("watch", err);
			fail_msg("no line with %s", needle);
		}
		assert_int_equal(h_proc_stop(&w, SIGINT, WAIT_MS), 0);
	}
}

/* What a subscriber could make of entry seq in the daemon's database db
 * from its fields alone, as docs/architecture.md gives the hash of an
 * entry without a salt (v1): SHA-256 over "ipsnet.journal.v1", the
 * previous hash and every field with its length. Computed here, not by the
 * daemon's code. salt_len gets the length of the entry's salt (-1: NULL)
 * and stored its hash. */
static void v1_hash_at(const char *db, uint64_t seq, uint8_t stored[32],
		       uint8_t v1[32], int *salt_len)
{
	sqlite3 *h;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	sqlite3_busy_timeout(h, 5000);
	assert_int_equal(sqlite3_prepare_v2(
			     h,
			     "SELECT prev_hash, seq, time_us, org, user, "
			     "idem_key, entity_kind, entity_id, version, "
			     "payload, hash, salt FROM journal WHERE seq = ?1",
			     -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	EVP_DigestUpdate(md, "ipsnet.journal.v1", 17);
	EVP_DigestUpdate(md, sqlite3_column_blob(st, 0), 32);
	for (int col = 1; col <= 9; col++) {
		uint8_t be[8];
		uint64_t v;
		bool integer = col == 1 || col == 2 || col == 8;
		if (integer)
			v = (uint64_t)sqlite3_column_int64(st, col);
		else
			v = (uint64_t)sqlite3_column_bytes(st, col);
		for (int i = 7; i >= 0; i--, v >>= 8)
			be[i] = (uint8_t)(v & 0xff);
		EVP_DigestUpdate(md, be, sizeof(be));
		if (!integer && sqlite3_column_bytes(st, col) > 0)
			EVP_DigestUpdate(md, sqlite3_column_blob(st, col),
					 (size_t)sqlite3_column_bytes(st, col));
	}
	unsigned int n = 0;
	assert_int_equal(EVP_DigestFinal_ex(md, v1, &n), 1);
	assert_int_equal(n, 32);
	EVP_MD_CTX_free(md);
	assert_int_equal(sqlite3_column_bytes(st, 10), 32);
	memcpy(stored, sqlite3_column_blob(st, 10), 32);
	*salt_len = sqlite3_column_type(st, 11) == SQLITE_NULL
			? -1
			: sqlite3_column_bytes(st, 11);
	sqlite3_finalize(st);
	sqlite3_close(h);
}

/* A referral as gm0363 gets it (cut: no note) carries the entry's hash as
 * the journal stores it, and that hash is not what the entry's fields
 * give without its salt: a subscriber that guesses the note it does not
 * see (and the user, the time) cannot test the guess against the hash.
 * Was: the hash was the v1 form over the fields alone. */
static void test_a_cut_event_hash_cannot_be_made_from_the_fields(void **state)
{
	char x[64], cx[64], tx[64], db[PATH_MAX], out[PATH_MAX], err[PATH_MAX],
	    hex[65], needle[160];
	uint8_t stored[32], v1[32];
	int salt_len;
	struct h_proc w;
	struct h_args args;
	put_program(NETWORK, "salt-prog", "ggz-test", 0);
	register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), x);
	grant_consent(GGZ_TEST, x, "gm0363", cx);
	uint64_t s = refer(GGZ_TEST, x, "salt-prog", tx);
	request_funding(GGZ_TEST, tx, "gm0363", NULL);
	snprintf(db, sizeof(db), "%s/ipsnet.db", dir);
	v1_hash_at(db, s, stored, v1, &salt_len);

	org_args(&args, GM0363);
	h_args_add(&args, "--json");
	h_args_add(&args, "watch");
	h_args_add(&args, "--since");
	h_args_add(&args, "%" PRIu64, s - 1);
	snprintf(out, sizeof(out), "%s/salt-watch.out", dir);
	snprintf(err, sizeof(err), "%s/salt-watch.err", dir);
	assert_int_equal(h_proc_start_cli(&w, args.argv, out, err), 0);
	util_hex(hex, sizeof(hex), stored, sizeof(stored));
	snprintf(needle, sizeof(needle), "\"seq\":%" PRIu64 ",\"hash\":\"%s\"",
		 s, hex);
	if (!h_wait_file(out, needle, WAIT_MS)) {
		dump_file("watch", err);
		dump_file("watch's output", out);
		fail_msg("no line with %s", needle);
	}
	assert_int_equal(h_proc_stop(&w, SIGINT, WAIT_MS), 0);
	assert_false(h_file_contains(out, "Klinische context"));
	if (memcmp(stored, v1, sizeof(v1)) == 0)
		fail_msg("entry %" PRIu64 "'s hash is made from its fields "
			 "alone",
			 s);
	assert_int_equal(salt_len, 16);
}

/* A profile of ggz-test for the server at 127.0.0.1:p, as a user of the
 * library would write one. */
static void write_profile(const char *path, int p)
{
	FILE *fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp,
		"[profile]\nserver = 127.0.0.1:%d\nca = %s/ca.crt\n"
		"cert = %s/%s.crt\nkey = %s/%s.key\nuser = sync.tester\n",
		p, certs, certs, org_ids[GGZ_TEST], certs, org_ids[GGZ_TEST]);
	assert_int_equal(fclose(fp), 0);
}

/* client/examples/subscribe.c, as its comment says to use it: each
 * event's line gives its seq and hash, and a run from the last line's two
 * goes on after it, without the event again. */
static void test_the_example_prints_where_to_resume(void **state)
{
	char a[64], b[64], db[PATH_MAX], profile[PATH_MAX], hex[65];
	char seq[32], needle[200], out[PATH_MAX], err[PATH_MAX];
	uint8_t h[32];
	struct h_proc p;
	uint64_t s1 = register_client(GGZ_TEST, BENEFIT(NONE), a);
	uint64_t s2 = register_client(GGZ_TEST, BENEFIT(NONE), b);
	snprintf(db, sizeof(db), "%s/ipsnet.db", dir);
	snprintf(profile, sizeof(profile), "%s/example.ini", dir);
	write_profile(profile, port);
	snprintf(out, sizeof(out), "%s/example.out", dir);
	snprintf(err, sizeof(err), "%s/example.err", dir);

	snprintf(seq, sizeof(seq), "%" PRIu64, s1);
	const char *const from_s1[] = {"subscribe", profile, seq, NULL};
	assert_int_equal(
	    h_proc_start(&p, EXAMPLE_SUBSCRIBE_PATH, from_s1, out, err), 0);
	journal_hash_at(db, s2, h);
	util_hex(hex, sizeof(hex), h, sizeof(h));
	snprintf(needle, sizeof(needle), "client %s version 1 hash %s\n", b,
		 hex);
	if (!h_wait_file(out, needle, WAIT_MS)) {
		dump_file("example", out);
		dump_file("example", err);
		fail_msg("no line of seq %" PRIu64 " ending in its hash", s2);
	}
	assert_int_equal(h_proc_stop(&p, SIGINT, WAIT_MS), 0);

	/* Resumed from that line: nothing of it again. */
	snprintf(seq, sizeof(seq), "%" PRIu64, s2);
	const char *const from_s2[] = {"subscribe", profile, seq, hex, NULL};
	assert_int_equal(
	    h_proc_start(&p, EXAMPLE_SUBSCRIBE_PATH, from_s2, out, err), 0);
	snprintf(needle, sizeof(needle),
		 "caught up at seq %" PRIu64 " (hash %s)", s2, hex);
	if (!h_wait_file(out, needle, WAIT_MS)) {
		dump_file("example", out);
		dump_file("example", err);
		fail_msg("the example did not resume at seq %" PRIu64, s2);
	}
	assert_int_equal(h_proc_stop(&p, SIGINT, WAIT_MS), 0);
	assert_false(h_file_contains(out, b));
}

/* The example on a server that is not there: the reason once (it was said
 * twice, as "connect:" and then "closed:"), exit 1. */
static void test_the_example_says_once_why_it_cannot_connect(void **state)
{
	char profile[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
	struct h_proc p;
	int fd;
	int closed = h_closed_port(&fd);
	(void)state;
	assert_int_not_equal(closed, 0);
	snprintf(profile, sizeof(profile), "%s/nowhere.ini", dir);
	write_profile(profile, closed);
	snprintf(out, sizeof(out), "%s/nowhere.out", dir);
	snprintf(err, sizeof(err), "%s/nowhere.err", dir);
	const char *const argv[] = {"subscribe", profile, NULL};
	assert_int_equal(
	    h_proc_start(&p, EXAMPLE_SUBSCRIBE_PATH, argv, out, err), 0);
	int code = h_proc_stop(&p, 0, WAIT_MS);
	close(fd);
	char *text = h_read_file(err, NULL);
	assert_non_null(text);
	int lines = 0;
	for (const char *c = text; *c != '\0'; c++)
		lines += *c == '\n';
	if (code != 1 || lines != 1)
		fail_msg("exit %d, stderr of %d lines:\n%s", code, lines, text);
	free(text);

	/* A SINCE_SEQ that is no seq is refused, not read as 0 ("abc") or
	 * as a number near 2^64 ("-5", beyond every head). */
	static const char *const bad[] = {"abc", "-5", "12x", ""};
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		const char *const args[] = {"subscribe", profile, bad[i], NULL};
		assert_int_equal(
		    h_proc_start(&p, EXAMPLE_SUBSCRIBE_PATH, args, out, err),
		    0);
		code = h_proc_stop(&p, 0, WAIT_MS);
		text = h_read_file(err, NULL);
		assert_non_null(text);
		if (code != 2 || strstr(text, "SINCE_SEQ") == NULL)
			fail_msg("'%s': exit %d, stderr:\n%s", bad[i], code,
				 text);
		free(text);
	}
}

/* A bare TLS connection as org to the daemon on port p, subscribed from
 * since with since_hash hash (NULL: none), its answer read. 0, or -1 with
 * why in c->error. */
static int subscribe_as(struct h_tls *c, int p, const char *org, uint64_t since,
			const uint8_t *hash)
{
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribe sub = IPSNET__V1__SUBSCRIBE__INIT;
	if (h_tls_connect_hello(c, p, certs, org) != 0)
		return -1;
	sub.since_seq = since;
	if (hash != NULL) {
		sub.since_hash.data = (uint8_t *)hash;
		sub.since_hash.len = 32;
	}
	e.request_id = 7;
	e.body_case = BODY(SUBSCRIBE);
	e.subscribe = &sub;
	if (h_tls_send_envelope(c, &e) != 0)
		return -1;
	Ipsnet__V1__Envelope *r = h_tls_recv_envelope(c, WAIT_MS);
	bool ok =
	    r != NULL && r->request_id == 7 && r->body_case == BODY(SUBSCRIBED);
	if (r != NULL && !ok)
		snprintf(c->error, sizeof(c->error),
			 "Subscribe answered with body %d", (int)r->body_case);
	h_envelope_free(r);
	return ok ? 0 : -1;
}

/* The same as GGZ_TEST. */
static int subscribe_from(struct h_tls *c, int p, uint64_t since,
			  const uint8_t *hash)
{
	return subscribe_as(c, p, "ggz-test", since, hash);
}

/* What came first after Subscribed to a subscriber whose hash at since is
 * not the server's: NULL when it was the refusal, else why not. */
static const char *refused_first(struct h_tls *c, char *why, size_t cap)
{
	Ipsnet__V1__Envelope *e = h_tls_recv_envelope(c, WAIT_MS);
	if (e == NULL)
		snprintf(why, cap, "nothing came: %s", c->error);
	else if (e->body_case == BODY(CAUGHT_UP))
		snprintf(why, cap, "CaughtUp %" PRIu64 " came",
			 e->caught_up->seq);
	else if (e->body_case == BODY(EVENT))
		snprintf(why, cap, "event %" PRIu64 " came", e->event->seq);
	else if (e->status == NULL ||
		 e->status->code != CODE(FAILED_PRECONDITION))
		snprintf(why, cap, "body %d, status %d came", (int)e->body_case,
			 e->status != NULL ? (int)e->status->code : -1);
	else
		why = NULL;
	h_envelope_free(e);
	return why;
}

/* Reads c's stream up to seq upto (an event or CaughtUp): the hash of
 * every event and CaughtUp must be the one of its seq in db. NULL, or why
 * not. */
static const char *hashes_hold(struct h_tls *c, const char *db, uint64_t upto,
			       char *why, size_t cap)
{
	for (;;) {
		Ipsnet__V1__Envelope *e = h_tls_recv_envelope(c, WAIT_MS);
		uint8_t want[32];
		if (e == NULL) {
			snprintf(why, cap, "the stream ended: %s", c->error);
			return why;
		}
		const ProtobufCBinaryData *h = NULL;
		uint64_t seq = 0;
		if (e->body_case == BODY(EVENT)) {
			h = &e->event->hash;
			seq = e->event->seq;
		} else if (e->body_case == BODY(CAUGHT_UP)) {
			h = &e->caught_up->hash;
			seq = e->caught_up->seq;
		} else {
			snprintf(why, cap, "body %d, status %d came",
				 (int)e->body_case,
				 e->status != NULL ? (int)e->status->code : -1);
			h_envelope_free(e);
			return why;
		}
		journal_hash_at(db, seq, want);
		bool same = h->len == 32 && memcmp(h->data, want, 32) == 0;
		bool done = seq >= upto;
		h_envelope_free(e);
		if (!same) {
			snprintf(why, cap,
				 "the hash with seq %" PRIu64
				 " is not the journal's",
				 seq);
			return why;
		}
		if (done)
			return NULL;
	}
}

/* A daemon of a test's own whose journal reads for sync wait while a file
 * exists (hold_fetch.c, preloaded), with this file's connections moved to
 * it and one live subscriber as GGZ_TEST, so that commits are fetched
 * live. */
struct held {
	struct h_daemon d;
	char gate[PATH_MAX]; /* the file that holds the reads */
	char db[PATH_MAX];   /* its database */
	struct h_tls live;
	struct ipsnet_client *ours[N_ORGS];
	int our_port;
};

/* Starts it with one registration, the live subscriber caught up after
 * it; returns that registration's seq. */
static uint64_t held_start(struct held *h)
{
	char conf[PATH_MAX];
	const char *d_dir = h_tmpdir();
	assert_non_null(d_dir);
	memset(h, 0, sizeof(*h));
	h->live.fd = -1;
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", d_dir);
	snprintf(h->gate, sizeof(h->gate), "%s/hold-fetch", d_dir);
	snprintf(h->db, sizeof(h->db), "%s/ipsnet.db", d_dir);
	assert_int_equal(h_write_config(d_dir, certs, ""), 0);
	FILE *cf = fopen(conf, "a");
	assert_non_null(cf);
	fputs(extra_orgs, cf);
	assert_int_equal(fclose(cf), 0);
	assert_int_equal(h_daemon_start_preloaded(&h->d, d_dir, HOLD_FETCH_PATH,
						  "IT_HOLD_FETCH", h->gate),
			 0);
	h->our_port = port;
	memcpy(h->ours, conns, sizeof(h->ours));
	memset(conns, 0, sizeof(conns));
	port = h->d.port;
	assert_int_equal(connect_all(), 0);
	uint64_t seq = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	assert_int_equal(subscribe_from(&h->live, h->d.port, seq, NULL), 0);
	Ipsnet__V1__Envelope *e = h_tls_recv_envelope(&h->live, WAIT_MS);
	assert_non_null(e);
	assert_int_equal(e->body_case, BODY(CAUGHT_UP));
	assert_int_equal(e->caught_up->seq, seq);
	h_envelope_free(e);
	return seq;
}

/* Holds sync's reads (on) or lets them go. */
static void hold_fetches(struct held *h, bool on)
{
	if (on) {
		FILE *g = fopen(h->gate, "w");
		assert_non_null(g);
		assert_int_equal(fclose(g), 0);
	} else {
		assert_int_equal(unlink(h->gate), 0);
	}
}

/* Closes the live subscriber and the connections to it, and gives this
 * file's connections back; the daemon goes on running. */
static void held_leave(struct held *h)
{
	h_tls_close(&h->live);
	for (int o = 0; o < N_ORGS; o++)
		ipsnet_client_close(conns[o]);
	memcpy(conns, h->ours, sizeof(h->ours));
	port = h->our_port;
}

/* A subscriber's since_seq may be where the live fetch in flight ends,
 * with the journal gone on beyond it: its hash there is checked like any
 * other, and nothing goes to it before. Was: it was told CaughtUp at once
 * with its own hash and fed live events, so a mirror from another journal
 * went on unchecked. One without since_hash there is told CaughtUp with
 * the journal's hash of its seq, as everywhere (was: with none, so it had
 * none to resume with). This test's daemon holds sync's journal reads while
 * a file exists (hold_fetch.c): the live fetch of the second entry stays in
 * flight while the third commits and the subscribers come. */
static void test_a_hash_where_the_live_fetch_ends_is_checked(void **state)
{
	struct held h;
	struct h_tls bad, good, plain;
	char why[160];
	const char *failed = NULL;
	uint8_t wrong[32], h2[32];
	memset(&bad, 0, sizeof(bad));
	memset(&good, 0, sizeof(good));
	memset(&plain, 0, sizeof(plain));
	/* h_tls_close of one not made */
	bad.fd = good.fd = plain.fd = -1;
	uint64_t s1 = held_start(&h);
	Ipsnet__V1__Envelope *e;
	hold_fetches(&h, true);
	uint64_t s2 = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	uint64_t s3 = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	assert_int_equal(s3, s2 + 1);
	journal_hash_at(h.db, s2, h2);
	memset(wrong, 0xa5, sizeof(wrong));
	if (subscribe_from(&bad, h.d.port, s2, wrong) != 0 ||
	    subscribe_from(&good, h.d.port, s2, h2) != 0 ||
	    subscribe_from(&plain, h.d.port, s2, NULL) != 0)
		failed = "a subscriber was not answered Subscribed";
	hold_fetches(&h, false);
	if (failed == NULL &&
	    (failed = refused_first(&bad, why, sizeof(why))) == NULL)
		/* The right hash there goes on, with the journal's hashes. */
		failed = hashes_hold(&good, h.db, s3, why, sizeof(why));
	/* Without since_hash too, the CaughtUp carries its seq's hash. */
	if (failed == NULL)
		failed = hashes_hold(&plain, h.db, s3, why, sizeof(why));
	/* The live fetches done before the daemon stops. */
	uint64_t seen = s1;
	while (seen < s3 &&
	       (e = h_tls_recv_envelope(&h.live, WAIT_MS)) != NULL) {
		if (e->body_case == BODY(EVENT))
			seen = e->event->seq;
		h_envelope_free(e);
	}
	if (failed == NULL && seen < s3)
		failed = "the live subscriber did not get the third entry";

	h_tls_close(&bad);
	h_tls_close(&good);
	h_tls_close(&plain);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (failed != NULL)
		fail_msg("since_seq %" PRIu64 " where the live fetch ends: %s",
			 s2, failed);
}

/* A subscriber whose since_seq is beyond the live fetch in flight waits
 * for that fetch, then is told CaughtUp, also when every subscriber the
 * fetch was for has gone meanwhile. Was: with nobody left to read the next
 * range for, that range passed unread and the waiting subscriber was never
 * placed again: no CaughtUp and no event until some later commit, so an
 * `ipsnet sync` without --follow hung on a quiet journal. */
static void test_a_subscriber_beyond_a_live_fetch_is_caught_up(void **state)
{
	struct held h;
	struct h_tls late;
	memset(&late, 0, sizeof(late));
	late.fd = -1; /* h_tls_close of one not made */
	held_start(&h);
	hold_fetches(&h, true);
	uint64_t s2 = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	uint64_t s3 = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	assert_int_equal(s3, s2 + 1);
	/* The live fetch of s2 is held; this one subscribes at s3. */
	bool subscribed = subscribe_from(&late, h.d.port, s3, NULL) == 0;
	/* The fetch's one subscriber leaves before the fetch comes back. */
	size_t closed = count_in_file(h.d.log, "connection closed");
	h_tls_close(&h.live);
	uint64_t deadline = now_ms() + WAIT_MS;
	while (count_in_file(h.d.log, "connection closed") == closed &&
	       now_ms() < deadline)
		sleep_ms(5);
	bool left = count_in_file(h.d.log, "connection closed") > closed;
	hold_fetches(&h, false);
	Ipsnet__V1__Envelope *e =
	    subscribed ? h_tls_recv_envelope(&late, WAIT_MS) : NULL;
	char why[160] = "";
	if (!subscribed)
		snprintf(why, sizeof(why), "Subscribe was not answered: %s",
			 late.error);
	else if (!left)
		snprintf(why, sizeof(why),
			 "the live subscriber's close was not logged");
	else if (e == NULL)
		snprintf(why, sizeof(why), "nothing came: %s", late.error);
	else if (e->body_case != BODY(CAUGHT_UP) || e->caught_up->seq != s3)
		snprintf(why, sizeof(why),
			 "body %d came, not CaughtUp %" PRIu64,
			 (int)e->body_case, s3);
	h_envelope_free(e);
	h_tls_close(&late);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (why[0] != '\0')
		fail_msg("since_seq %" PRIu64 " beyond the live fetch: %s", s3,
			 why);
}

/* A live fetch that fails is read again from where live delivery was;
 * a subscriber that joined where the failed range ends catches up from
 * its cursor. Was: it stayed in the live stream at that cursor, the range
 * read again (with the commits since) went past it, and it was never fed
 * again: no event and no error, its connection kept open. The fetch fails
 * once through hold_fetch.c (the gate's -fail file). */
static void test_a_failed_live_fetch_leaves_no_subscriber_behind(void **state)
{
	struct held h;
	struct h_tls joined;
	char fail[PATH_MAX + 8];
	const char *failed = NULL;
	memset(&joined, 0, sizeof(joined));
	joined.fd = -1; /* h_tls_close of one not made */
	held_start(&h);
	hold_fetches(&h, true);
	uint64_t s2 = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	/* The live fetch of s2 is held; this one joins where it ends. */
	assert_int_equal(subscribe_from(&joined, h.d.port, s2, NULL), 0);
	Ipsnet__V1__Envelope *e = h_tls_recv_envelope(&joined, WAIT_MS);
	if (e == NULL || e->body_case != BODY(CAUGHT_UP) ||
	    e->caught_up->seq != s2)
		failed = "the subscriber at s2 was not told CaughtUp s2";
	h_envelope_free(e);
	uint64_t s3 = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	snprintf(fail, sizeof(fail), "%s-fail", h.gate);
	FILE *ff = fopen(fail, "w");
	assert_non_null(ff);
	assert_int_equal(fclose(ff), 0);
	hold_fetches(&h, false);
	if (failed == NULL &&
	    !h_daemon_wait_log(&h.d, "live fetch failed", WAIT_MS))
		failed = "the live fetch did not fail";
	uint64_t s4 = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	/* It receives s3 and s4, each once and in order. */
	uint64_t want = s3;
	while (failed == NULL && want <= s4) {
		e = h_tls_recv_envelope(&joined, WAIT_MS);
		if (e == NULL)
			failed = "the subscriber did not get s3 and s4";
		else if (e->body_case == BODY(EVENT) && e->event->seq != want++)
			failed = "an event came out of order";
		else if (e->body_case != BODY(EVENT) &&
			 e->body_case != BODY(CAUGHT_UP))
			failed = "the subscription was refused";
		h_envelope_free(e);
	}
	h_tls_close(&joined);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (failed != NULL)
		fail_msg("%s (s2 %" PRIu64 ", s3 %" PRIu64 ", s4 %" PRIu64 ")",
			 failed, s2, s3, s4);
}

/* Under --follow, a case the server was too busy to give (UNAVAILABLE:
 * here its read fails once, through hold_fetch.c's -read-fail file) is
 * asked for again on the same connection after a wait. Was: only on the
 * next connection, which under --follow may be days away, and the client,
 * her consents and her trajectory were missing from the mirror until
 * then. */
static void test_a_case_the_server_was_busy_for_is_asked_again(void **state)
{
	struct held h;
	struct h_proc follower;
	struct h_result r;
	char mirror[PATH_MAX], client[64], trajectory[64], fail[PATH_MAX + 16];
	const char *failed = NULL;
	(void)state;
	held_start(&h);
	snprintf(mirror, sizeof(mirror), "%s/busy-case.db", dir);
	snprintf(fail, sizeof(fail), "%s-read-fail", h.gate);

	put_program(NETWORK, "busy-case", "ggz-test", 0);
	register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), client);
	grant_consent(GGZ_TEST, client, "gm0363", NULL);
	refer(GGZ_TEST, client, "busy-case", trajectory);
	/* Not gm0363's business yet: no row of her. */
	assert_int_equal(sync_once(GM0363, mirror, NULL, &r), 0);
	h_result_free(&r);
	assert_int_equal(mirror_rows(mirror, "client", "id", client), 0);

	start_sync(&follower, GM0363, mirror, true, "busy-case");
	put_program(NETWORK, "busy-mark", "ggz-test", 0);
	if (!wait_mirror(mirror,
			 "SELECT count(*) FROM program WHERE id = 'busy-mark'",
			 1))
		failed = "the follower did not follow live";
	/* Her funding request makes the follower ask for her case: the
	 * first read of it fails. */
	FILE *ff = fopen(fail, "w");
	assert_non_null(ff);
	assert_int_equal(fclose(ff), 0);
	request_funding(GGZ_TEST, trajectory, "gm0363", NULL);
	char sql[160];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM client WHERE id = '%s'", client);
	if (failed == NULL && !wait_mirror(mirror, sql, 1))
		failed = "her case was not asked for again";
	if (failed == NULL && access(fail, F_OK) == 0)
		failed = "no case read failed";
	int code = h_proc_stop(&follower, SIGINT, WAIT_MS);
	if (failed != NULL) {
		char e[PATH_MAX];
		snprintf(e, sizeof(e), "%s/busy-case.err", dir);
		dump_file("the follower's stderr", e);
		h_daemon_dump_log(&h.d);
	}
	unlink(fail);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (failed != NULL)
		fail_msg("%s", failed);
	assert_int_equal(code, 0);
	assert_int_equal(mirror_rows(mirror, "trajectory", "id", trajectory),
			 1);
	assert_int_equal(mirror_int(mirror, "SELECT count(*) FROM wanted"), 0);
}

/* ---- a withdrawal and what was judged before it -------------------------- */

/* Holds (on) the next read of sync that has judged its range before it
 * returns, or lets it go (hold_fetch.c's -after file). */
static void hold_after_judging(struct held *h, bool on)
{
	char after[PATH_MAX + 8], judged[PATH_MAX + 8];
	snprintf(after, sizeof(after), "%s-after", h->gate);
	snprintf(judged, sizeof(judged), "%s-judged", h->gate);
	if (on) {
		unlink(judged);
		FILE *g = fopen(after, "w");
		assert_non_null(g);
		assert_int_equal(fclose(g), 0);
	} else {
		assert_int_equal(unlink(after), 0);
	}
}

/* Whether a read held after it judged (hold_fetch.c) has made the gate's
 * name with said after it: "-judged" for sync's reads, "-read-judged" for
 * a case read. */
static bool gate_says(struct held *h, const char *said)
{
	char judged[PATH_MAX + 16];
	snprintf(judged, sizeof(judged), "%s%s", h->gate, said);
	uint64_t deadline = now_ms() + WAIT_MS;
	while (access(judged, F_OK) != 0 && now_ms() < deadline)
		sleep_ms(2);
	return access(judged, F_OK) == 0;
}

/* Reads the held daemon's live subscriber (GGZ_TEST, which sees all its
 * clients' entries) up to seq: no live fetch is in flight then. */
static void live_reaches(struct held *h, uint64_t seq)
{
	uint64_t seen = 0;
	while (seen < seq) {
		Ipsnet__V1__Envelope *e =
		    h_tls_recv_envelope(&h->live, WAIT_MS);
		if (e == NULL)
			fail_msg("the live subscriber did not get seq %" PRIu64,
				 seq);
		if (e->body_case == BODY(EVENT))
			seen = e->event->seq;
		h_envelope_free(e);
	}
}

/* A client of ggz-test addressed to gm0363 with its consent, in a program
 * of ggz-test; the seq of the funding request. */
static uint64_t funded_client(const char *program, char *x, char *cx, char *tx)
{
	char fx[64];
	put_program(NETWORK, program, "ggz-test", 0);
	register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), x);
	grant_consent(GGZ_TEST, x, "gm0363", cx);
	refer(GGZ_TEST, x, program, tx);
	return request_funding(GGZ_TEST, tx, "gm0363", fx);
}

static Ipsnet__V1__Envelope *audit_of(const char *client);

/* Audit rows of gm0363 on client x's trail with action ("sync":
 * deliveries, "show_case": cases read) and, unless NULL, result; a row
 * counts only if it names x. */
static size_t gm0363_rows(const char *x, const char *action, const char *result)
{
	Ipsnet__V1__Envelope *a = audit_of(x);
	size_t n = 0;
	for (size_t i = 0; i < a->audit_list->n_records; i++) {
		const Ipsnet__V1__AuditRecord *r = a->audit_list->records[i];
		n += strcmp(r->organisation, "gm0363") == 0 &&
		     strcmp(r->action, action) == 0 &&
		     (result == NULL || strcmp(r->result, result) == 0) &&
		     strcmp(r->client_id, x) == 0;
	}
	ipsnet_envelope_free(a);
	return n;
}

/* Makes the held daemon's gate file with suffix (hold_fetch.c), connects g
 * as org and sends ShowCase of client x as request id. */
static void held_show_case(struct held *h, const char *suffix, struct h_tls *g,
			   const char *org, const char *x, uint64_t id)
{
	char on[PATH_MAX + 32];
	snprintf(on, sizeof(on), "%s%s", h->gate, suffix);
	FILE *f = fopen(on, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(h_tls_connect_hello(g, h->d.port, certs, org), 0);
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__ShowCase sc = IPSNET__V1__SHOW_CASE__INIT;
	sc.client_id = (char *)x;
	e.request_id = id;
	e.body_case = BODY(SHOW_CASE);
	e.show_case = &sc;
	assert_int_equal(h_tls_send_envelope(g, &e), 0);
}

/* The end of gm0363's held read of x on g: its answer must have code
 * (else why), and x's trail one row of the read with result and none
 * answered; then g, the connections to the held daemon and the daemon are
 * closed. failed, or what went wrong first. */
static const char *held_read_refused(struct held *h, struct h_tls *g,
				     const char *x, int code,
				     const char *result, const char *why,
				     const char *failed)
{
	static char rows[128];
	Ipsnet__V1__Envelope *a = h_tls_recv_envelope(g, WAIT_MS);
	if (failed == NULL && a == NULL)
		failed = "no answer to the read";
	else if (failed == NULL &&
		 (a->status == NULL || (int)a->status->code != code))
		failed = why;
	h_envelope_free(a);
	size_t answered = gm0363_rows(x, "show_case", "OK");
	size_t refused = gm0363_rows(x, "show_case", result);
	h_tls_close(g);
	held_leave(h);
	assert_int_equal(h_daemon_stop(&h->d, SIGTERM), 0);
	if (failed == NULL && (answered != 0 || refused != 1)) {
		snprintf(rows, sizeof(rows),
			 "the audit trail does not hold one refused read "
			 "(%zu answered, %zu %s rows)",
			 answered, refused, result);
		failed = rows;
	}
	return failed;
}

/* The held daemon (held_start), a client x of ggz-test funded by gm0363
 * in program, and gm0363 following live (g) from the funding request on:
 * NULL, or what went wrong. */
static const char *gm0363_follows(struct held *h, struct h_tls *g,
				  const char *program, char *x, char *cx,
				  char *tx)
{
	memset(g, 0, sizeof(*g));
	g->fd = -1; /* h_tls_close of one not made */
	held_start(h);
	uint64_t asked = funded_client(program, x, cx, tx);
	live_reaches(h, asked);
	assert_int_equal(subscribe_as(g, h->d.port, "gm0363", asked, NULL), 0);
	Ipsnet__V1__Envelope *e = h_tls_recv_envelope(g, WAIT_MS);
	const char *failed = e == NULL || e->body_case != BODY(CAUGHT_UP)
				 ? "gm0363 was not told CaughtUp"
				 : NULL;
	h_envelope_free(e);
	return failed;
}

/* An entry judged for a live delivery before a consent withdrawal
 * committed, and sent after it, is not sent: it is judged again. Was: the
 * fetch judged it with the consent, the writer committed its audit rows
 * after the withdrawal (already answered to the GGZ), and the municipality
 * received it, with a delivery after the withdrawal in the audit trail.
 * The live fetch of the acceptance is held after it judged
 * (hold_fetch.c) while the withdrawal is answered. */
static void
test_a_withdrawal_stops_a_live_delivery_judged_before_it(void **state)
{
	struct held h;
	struct h_tls g;
	char x[64], cx[64], tx[64];
	const char *failed = gm0363_follows(&h, &g, "wdl-prog", x, cx, tx);
	Ipsnet__V1__Envelope *e;
	hold_after_judging(&h, true);
	uint64_t accepted = move(GGZ_TEST, tx, 1, TS(ACCEPTED));
	if (failed == NULL && !gate_says(&h, "-judged"))
		failed = "the live fetch of the acceptance was not held";
	uint64_t withdrawn = withdraw_consent(GGZ_TEST, cx, 1);
	hold_after_judging(&h, false);
	uint64_t mark = put_program(NETWORK, "wdl-mark", "ggz-test", 0);
	/* gm0363 receives the mark, and nothing of x before it. */
	while (failed == NULL) {
		e = h_tls_recv_envelope(&g, WAIT_MS);
		uint64_t seq = e != NULL && e->body_case == BODY(EVENT)
				   ? e->event->seq
				   : 0;
		if (e == NULL)
			failed = "gm0363 did not get the mark";
		else if (seq == accepted)
			failed = "gm0363 received the acceptance after the "
				 "withdrawal was answered";
		else if (e->body_case != BODY(EVENT))
			failed = "gm0363's subscription was refused";
		h_envelope_free(e);
		if (seq == mark)
			break;
	}
	size_t rows = gm0363_rows(x, "sync", NULL);
	h_tls_close(&g);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (failed == NULL && rows != 0)
		failed = "the audit trail has a delivery of x to gm0363";
	if (failed != NULL)
		fail_msg("%s (accepted %" PRIu64 ", withdrawn %" PRIu64 ")",
			 failed, accepted, withdrawn);
}

/* A delivery's audit row is dated when consent was judged for it, as a
 * read's rows are. Was: the row took the clock when the loop came to write
 * it, after the judgement; when midnight fell between them, the trail
 * showed a delivery on the day after the consent's last one (valid until
 * is a day in the Netherlands, judged at the fetch). The live fetch of an
 * acceptance is held after it judged (hold_fetch.c) and let go; its row
 * must be dated before the test saw it held. */
static void test_a_delivery_is_audited_at_the_moment_it_was_judged(void **state)
{
	struct held h;
	struct h_tls g;
	char x[64], cx[64], tx[64], sql[256];
	const char *failed = gm0363_follows(&h, &g, "wdt-prog", x, cx, tx);
	Ipsnet__V1__Envelope *e;
	hold_after_judging(&h, true);
	uint64_t accepted = move(GGZ_TEST, tx, 1, TS(ACCEPTED));
	if (failed == NULL && !gate_says(&h, "-judged"))
		failed = "the live fetch of the acceptance was not held";
	int64_t seen_held = (int64_t)util_now_us();
	hold_after_judging(&h, false);
	while (failed == NULL) {
		e = h_tls_recv_envelope(&g, WAIT_MS);
		bool got = e != NULL && e->body_case == BODY(EVENT) &&
			   e->event->seq == accepted;
		if (e == NULL)
			failed = "gm0363 did not get the acceptance";
		else if (e->body_case != BODY(EVENT))
			failed = "gm0363's subscription was refused";
		h_envelope_free(e);
		if (got)
			break;
	}
	snprintf(sql, sizeof(sql),
		 "SELECT time_us FROM audit WHERE org = 'gm0363' AND action = "
		 "'sync' AND object = 'journal:%" PRIu64 "'",
		 accepted);
	int64_t row_us = mirror_int(h.db, sql);
	h_tls_close(&g);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (failed == NULL && row_us <= 0)
		failed = "the audit trail has no delivery of the acceptance";
	if (failed == NULL && row_us > seen_held)
		failed =
		    "the delivery's audit row is dated after its judgement";
	if (failed != NULL)
		fail_msg("%s (row %" PRId64 " us, held seen at %" PRId64 " us)",
			 failed, row_us, seen_held);
}

/* The same for a read: gm0363's ShowCase of a client, judged with the
 * consent, is answered only after the withdrawal was answered to the GGZ;
 * it is made again and refused, and the audit trail holds no answered
 * read of it by gm0363. Was: the case went out, though the GGZ had been
 * told the consent was withdrawn. The read is held after it judged
 * (hold_fetch.c's -read file). */
static void test_a_withdrawal_stops_a_read_judged_before_it(void **state)
{
	struct held h;
	struct h_tls g;
	char x[64], cx[64], tx[64], on[PATH_MAX + 16];
	const char *failed = NULL;
	held_start(&h);
	funded_client("wdr-prog", x, cx, tx);
	snprintf(on, sizeof(on), "%s-read", h.gate);
	held_show_case(&h, "-read", &g, "gm0363", x, 11);
	if (!gate_says(&h, "-read-judged"))
		failed = "the read was not held";
	uint64_t withdrawn = withdraw_consent(GGZ_TEST, cx, 1);
	assert_int_equal(unlink(on), 0);
	failed = held_read_refused(
	    &h, &g, x, IPSNET__V1__CODE__PERMISSION_DENIED, "PERMISSION_DENIED",
	    "the case went out after the withdrawal was answered", failed);
	if (failed != NULL)
		fail_msg("%s (withdrawn %" PRIu64 ")", failed, withdrawn);
}

/* A read overtaken by a withdrawal each time it is made, more often than
 * the daemon makes it again (8 times), is answered UNAVAILABLE, and that
 * refusal is on the audit trail as every refused read is: a row with the
 * result UNAVAILABLE. Was: no row at all. ggz-test withdraws one of
 * gm0363's consents each time gm0363's ShowCase has judged (hold_fetch.c's
 * -read-step file lets one judgement go at a time); one consent stays. */
#define OVERTAKEN_READS 9
static void
test_a_read_overtaken_too_often_is_refused_on_the_trail(void **state)
{
	struct held h;
	struct h_tls g;
	char x[64], cx[64], tx[64], more[OVERTAKEN_READS][64];
	char on[PATH_MAX + 16], said[PATH_MAX + 32];
	const char *failed = NULL;
	held_start(&h);
	funded_client("ovt-prog", x, cx, tx);
	for (int i = 0; i < OVERTAKEN_READS; i++)
		grant_consent(GGZ_TEST, x, "gm0363", more[i]);
	snprintf(on, sizeof(on), "%s-read-step", h.gate);
	snprintf(said, sizeof(said), "%s-read-step-judged", h.gate);
	held_show_case(&h, "-read-step", &g, "gm0363", x, 12);
	for (int i = 0; i < OVERTAKEN_READS && failed == NULL; i++) {
		if (!gate_says(&h, "-read-step-judged")) {
			failed = "the read was not made again";
			break;
		}
		withdraw_consent(GGZ_TEST, more[i], 1);
		assert_int_equal(unlink(said), 0);
	}
	assert_int_equal(unlink(on), 0);
	failed = held_read_refused(
	    &h, &g, x, IPSNET__V1__CODE__UNAVAILABLE, "UNAVAILABLE",
	    "the read overtaken every time was not refused", failed);
	if (failed != NULL)
		fail_msg("%s", failed);
}

/* A SIGHUP that comes after SIGTERM began the shutdown does not reload:
 * the daemon says it is ignored, as it is stopping. Was: dropped without a
 * word. The shutdown is held by a ShowCase in flight (hold_fetch.c's
 * -read file), which is answered once let go; then the daemon exits 0. */
static void test_a_sighup_while_stopping_is_said_to_be_ignored(void **state)
{
	struct held h;
	struct h_tls g;
	char x[64], on[PATH_MAX + 16];
	const char *failed = NULL;
	held_start(&h);
	register_client(GGZ_TEST, BENEFIT(NONE), x);
	snprintf(on, sizeof(on), "%s-read", h.gate);
	held_show_case(&h, "-read", &g, "ggz-test", x, 13);
	if (!gate_says(&h, "-read-judged"))
		failed = "the read was not held";
	assert_int_equal(kill(h_daemon_pid(&h.d), SIGTERM), 0);
	if (failed == NULL &&
	    !h_daemon_wait_log(&h.d, "msg=\"shutting down\"", WAIT_MS))
		failed = "the daemon did not begin to stop";
	assert_int_equal(kill(h_daemon_pid(&h.d), SIGHUP), 0);
	if (failed == NULL &&
	    !h_daemon_wait_log(&h.d,
			       "msg=\"reload ignored\" signal=SIGHUP "
			       "reason=\"the daemon is stopping\"",
			       WAIT_MS))
		failed = "the SIGHUP while stopping was not said";
	assert_int_equal(unlink(on), 0);
	Ipsnet__V1__Envelope *a = h_tls_recv_envelope(&g, WAIT_MS);
	if (failed == NULL && (a == NULL || a->status == NULL ||
			       a->status->code != IPSNET__V1__CODE__OK))
		failed = "the read in flight was not answered";
	h_envelope_free(a);
	h_tls_close(&g);
	held_leave(&h);
	int code = h_daemon_stop(&h.d, 0);
	if (failed == NULL && h_daemon_log_contains(&h.d, "msg=reloading"))
		failed = "a SIGHUP while stopping reloaded";
	if (failed != NULL) {
		h_daemon_dump_log(&h.d);
		fail_msg("%s", failed);
	}
	assert_int_equal(code, 0);
}

/* Starts `ipsnet --json import --kind jobs CSV` as ggz-test; its output
 * in DIR/NAME.out and .err. */
static void start_import(struct h_proc *p, const char *csv, const char *name)
{
	struct h_args a;
	char out[PATH_MAX], err[PATH_MAX];
	org_args(&a, GGZ_TEST);
	h_args_add(&a, "--json");
	h_args_add(&a, "import");
	h_args_add(&a, "--kind");
	h_args_add(&a, "jobs");
	h_args_add(&a, "%s", csv);
	snprintf(out, sizeof(out), "%s/%s.out", dir, name);
	snprintf(err, sizeof(err), "%s/%s.err", dir, name);
	assert_int_equal(h_proc_start_cli(p, a.argv, out, err), 0);
}

/* What an import started with start_import counted as key: "imported"
 * or "already_imported". */
static long long import_count(const struct h_proc *p, const char *key)
{
	json_error_t e;
	json_t *o = json_load_file(p->out, 0, &e);
	if (o == NULL) {
		dump_file("the import's stdout", p->out);
		dump_file("the import's stderr", p->err);
		fail_msg("the import printed no JSON: %s", e.text);
	}
	long long n = json_integer_value(json_object_get(o, key));
	json_decref(o);
	return n;
}

/* Two runs of the same import at once (two cron jobs that overlap) apply
 * each row once, and each row is counted "imported" by one of them and
 * "imported before" by the other. Was: both had connected before the row
 * was applied, the second got the first's answer (the same key), and both
 * counted it "imported", so the two summaries told of twice the rows the
 * journal got. Both runs' lookups of the client are held (hold_fetch.c)
 * until both are connected. */
static void test_two_imports_at_once_count_each_row_once(void **state)
{
	struct held h;
	struct h_proc a, b;
	char bsn[16], csv[PATH_MAX], on[PATH_MAX + 16], said[PATH_MAX + 16];
	held_start(&h);
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	h_new_bsn(bsn, 0);
	m.bsn = bsn;
	m.name = "Testpersoon Import";
	m.birth_date = "1985-04-12";
	m.municipality = "GM0363";
	m.benefit = BENEFIT(NONE);
	e.body_case = BODY(REGISTER_CLIENT);
	e.register_client = &m;
	uint64_t registered = change(GGZ_TEST, &e, NULL);
	snprintf(csv, sizeof(csv), "%s/overlap-jobs.csv", dir);
	FILE *f = fopen(csv, "w");
	assert_non_null(f);
	fprintf(f,
		"bsn,employer,start_date,hours_per_week\n"
		"%s,Bakkerij Overlap,2025-01-06,12\n",
		bsn);
	assert_int_equal(fclose(f), 0);

	snprintf(on, sizeof(on), "%s-read", h.gate);
	snprintf(said, sizeof(said), "%s-read-judged", h.gate);
	f = fopen(on, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	start_import(&a, csv, "overlap-a");
	bool held = gate_says(&h, "-read-judged");
	unlink(said);
	start_import(&b, csv, "overlap-b");
	held = held && gate_says(&h, "-read-judged");
	assert_int_equal(unlink(on), 0);
	int code_a = h_proc_stop(&a, 0, WAIT_MS);
	int code_b = h_proc_stop(&b, 0, WAIT_MS);
	uint64_t head = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (!held)
		fail_msg("the imports' lookups were not held");
	assert_int_equal(code_a, 0);
	assert_int_equal(code_b, 0);
	/* One job went into the journal, between the two registrations. */
	assert_int_equal(head, registered + 2);
	long long imported =
	    import_count(&a, "imported") + import_count(&b, "imported");
	long long before = import_count(&a, "already_imported") +
			   import_count(&b, "already_imported");
	if (imported != 1 || before != 1)
		fail_msg("the two runs counted %lld row(s) imported and %lld "
			 "imported before; one row was applied once",
			 imported, before);
}

/* Lines the held daemon's sync reads have noted (hold_fetch.c's -nice
 * file): one a read, as it starts to wait. */
static size_t held_reads(const struct held *h)
{
	char nice[PATH_MAX + 8];
	snprintf(nice, sizeof(nice), "%s-nice", h->gate);
	return count_in_file(nice, "\n");
}

static const char *gets_in_order(struct h_tls *c, const uint64_t *want,
				 size_t n, uint64_t last);

/* A live subscriber whose organisation cannot be added to a live fetch,
 * for want of memory, reads the range itself. Was: when it was the first
 * one, the fetch was for no organisation, its range was passed over as if
 * nobody listened, and the subscriber, left at its cursor, got nothing
 * more: no event and no error, its connection kept open. The realloc of
 * the fetch's organisations fails once through hold_fetch.c (the gate's
 * -oom file): a struct fetch_org, a journal_actor of 260 bytes and six
 * words, 312 bytes on x86-64. */
static void
test_a_live_fetch_without_memory_leaves_no_subscriber_behind(void **state)
{
	struct held h;
	char oom[PATH_MAX + 16], failed_size[32] = "";
	const char *failed = NULL;
	held_start(&h);
	size_t reads = held_reads(&h);
	hold_fetches(&h, true);
	uint64_t s2 = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	/* The live fetch of s2 waits, its organisations added. */
	uint64_t deadline = now_ms() + WAIT_MS;
	while (held_reads(&h) == reads && now_ms() < deadline)
		sleep_ms(2);
	if (held_reads(&h) == reads)
		failed = "the live fetch of s2 did not start";
	uint64_t s3 = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	snprintf(oom, sizeof(oom), "%s-oom", h.gate);
	FILE *f = fopen(oom, "w");
	assert_non_null(f);
	fputs("300-330", f);
	assert_int_equal(fclose(f), 0);
	hold_fetches(&h, false);
	/* s2 comes from the fetch held; s3 from the next, which fails to add
	 * the subscriber's organisation. */
	const uint64_t upto_s3[] = {s2, s3};
	if (failed == NULL)
		failed = gets_in_order(&h.live, upto_s3, 2, s3);
	snprintf(oom, sizeof(oom), "%s-oom-failed", h.gate);
	f = fopen(oom, "r");
	if (f != NULL) {
		if (fgets(failed_size, sizeof(failed_size), f) == NULL)
			failed_size[0] = '\0';
		failed_size[strcspn(failed_size, "\n")] = '\0';
		fclose(f);
	}
	if (failed == NULL && failed_size[0] == '\0')
		failed = "no allocation failed (the -oom range missed)";
	/* And it is live again. */
	uint64_t s4 = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	if (failed == NULL)
		failed = gets_in_order(&h.live, &s4, 1, s4);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (failed != NULL)
		fail_msg("%s (s2 %" PRIu64 ", s3 %" PRIu64 ", failed size %s)",
			 failed, s2, s3, failed_size);
}

/* `ipsnet sync` without --follow stopped by SIGTERM before it caught up
 * says so and exits 1: a cron job or a script must not take a run cut
 * short for one that was done. Was: exit 0 and "at seq N" as after a
 * whole run. The daemon holds the catch-up's read, so the run is surely
 * not done when the signal comes. */
static void test_a_sync_stopped_before_it_is_done_exits_1(void **state)
{
	struct held h;
	struct h_proc p;
	char mirror[PATH_MAX];
	held_start(&h);
	snprintf(mirror, sizeof(mirror), "%s/stopped-early.db", dir);
	size_t reads = held_reads(&h);
	hold_fetches(&h, true);
	start_sync(&p, GGZ_TEST, mirror, false, "stopped-early");
	uint64_t deadline = now_ms() + WAIT_MS;
	while (held_reads(&h) == reads && now_ms() < deadline)
		sleep_ms(10);
	bool held = held_reads(&h) > reads;
	int code = h_proc_stop(&p, SIGTERM, WAIT_MS);
	hold_fetches(&h, false);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (!held)
		fail_msg("the sync's catch-up was not held");
	if (code != 1)
		dump_file("the sync", p.err);
	assert_int_equal(code, 1);
	assert_true(
	    h_wait_file(p.err, "stopped by SIGTERM before it was done", 0));
	assert_false(h_wait_file(p.out, "at seq", 0));
}

/* `ipsnet sync --follow` stopped by SIGTERM, and signalled again and again
 * while it stops (Ctrl-C pressed twice, a supervisor that signals the
 * process and its group), still ends as the first signal says: exit 0,
 * the last line printed. Was: once the loop had closed its signal
 * handles, the default action was back, and a signal that came while the
 * mirror was closed killed it (exit 143, the last line lost). */
static void test_a_second_signal_while_stopping_changes_nothing(void **state)
{
	struct h_proc p;
	char mirror[PATH_MAX];
	snprintf(mirror, sizeof(mirror), "%s/signalled-twice.db", dir);
	start_sync(&p, GGZ_TEST, mirror, true, "signalled-twice");
	/* Catching up: the mirror has a part of the fill. */
	uint64_t deadline = now_ms() + CATCH_UP_MS;
	while (mirror_seq(mirror) <= 0 && now_ms() < deadline)
		sleep_ms(10);
	assert_true(mirror_seq(mirror) > 0);
	deadline = now_ms() + WAIT_MS;
	while (h_proc_running(&p) && now_ms() < deadline) {
		kill(p.pid, SIGTERM);
		sleep_ms(1);
	}
	int code = h_proc_running(&p) ? h_proc_stop(&p, 0, WAIT_MS) : p.code;
	if (code != 0)
		dump_file("the sync", p.err);
	assert_int_equal(code, 0);
	assert_true(h_wait_file(p.out, "at seq", 0));
}

/* A follower whose server stops answering (a daemon stopped, a connection
 * a NAT dropped without a word) notices within two keepalives, says so,
 * and connects again; it goes on where it was once the server is back,
 * and says that too (the last line must not stay "trying again").
 * Was: the Ping sent every 60 s was never checked for an answer, and TCP
 * kept the connection up: the follower waited for ever, printing nothing. */
static void
test_a_follower_notices_a_server_that_stopped_answering(void **state)
{
	struct held h;
	struct h_proc w;
	struct h_args a;
	char out[PATH_MAX], err[PATH_MAX], first[64], second[64], needle[96];
	uint64_t since = held_start(&h);
	org_args(&a, GGZ_TEST);
	h_args_add(&a, "--timeout");
	h_args_add(&a, "2000");
	h_args_add(&a, "--json");
	h_args_add(&a, "watch");
	h_args_add(&a, "--since");
	h_args_add(&a, "%" PRIu64, since);
	h_args_add(&a, "--keepalive");
	h_args_add(&a, "1");
	snprintf(out, sizeof(out), "%s/keepalive.out", dir);
	snprintf(err, sizeof(err), "%s/keepalive.err", dir);
	assert_int_equal(h_proc_start_cli(&w, a.argv, out, err), 0);
	register_client(GGZ_TEST, BENEFIT(NONE), first);
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", first);
	bool live = h_wait_file(out, needle, WAIT_MS);

	pid_t daemon_pid = h_daemon_pid(&h.d);
	kill(daemon_pid, SIGSTOP);
	bool noticed = live && h_wait_file(err,
					   "the server did not answer a ping "
					   "within 1 s; trying again",
					   WAIT_MS);
	kill(daemon_pid, SIGCONT);
	/* Back: it connects again and goes on from where it was. */
	register_client(GGZ_TEST, BENEFIT(NONE), second);
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", second);
	bool resumed =
	    noticed && h_wait_file(out, needle, WAIT_MS) &&
	    h_wait_file(err, "connected again; going on from seq", WAIT_MS);
	int code = h_proc_stop(&w, SIGTERM, WAIT_MS);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (!live || !noticed || !resumed)
		dump_file("the watcher", err);
	assert_true(live);
	assert_true(noticed);
	assert_true(resumed);
	assert_int_equal(code, 0);
	struct seen_list l;
	read_seen(out, &l);
	assert_int_equal(l.n, 2); /* each once */
	seen_free(&l);
}

/* A follower whose Hello the server refuses because its organisation has
 * as many connections open as it may (max_connections_per_organisation;
 * the server says "close one and try again") tries again, as after the
 * server's going away, and goes on once one is closed. Was: the refusal
 * (RESOURCE_EXHAUSTED) ended `sync --follow` with exit 1, so a service that
 * connected again while the organisation's other programs held every
 * connection (after a daemon restart, all at once) stayed down. */
static void
test_a_follower_refused_for_too_many_connections_tries_again(void **state)
{
	struct h_daemon d;
	struct h_proc p;
	struct ipsnet_client *held = NULL;
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256],
	    mirror[PATH_MAX];
	const char *d_dir = h_tmpdir();
	assert_non_null(d_dir);
	assert_int_equal(
	    h_write_config(d_dir, certs,
			   "max_connections_per_organisation = 1\n"),
	    0);
	assert_int_equal(h_daemon_start(&d, d_dir), 0);
	int our_port = port;
	port = d.port;
	struct ipsnet_options opt =
	    org_options(GGZ_TEST, server, sizeof(server), ca, cert, key);
	assert_int_equal(ipsnet_client_open(&held, &opt, err, sizeof(err)), 0);
	snprintf(mirror, sizeof(mirror), "%s/too-many.db", d_dir);
	start_sync(&p, GGZ_TEST, mirror, true, "too-many");
	port = our_port;
	bool waited = said_or_ended(&p, "trying again");
	ipsnet_client_close(held);
	bool back = waited && h_wait_file(p.err, "connected again", WAIT_MS);
	int code = h_proc_stop(&p, SIGTERM, WAIT_MS);
	assert_int_equal(h_daemon_stop(&d, SIGTERM), 0);
	if (!waited || !back || code != 0)
		dump_file("the sync", p.err);
	assert_true(waited);
	assert_true(h_file_contains(p.err, "connections open"));
	assert_true(back);
	assert_int_equal(code, 0);
}

/* A municipality's mirror receives nothing of a client while her consent
 * for it is withdrawn (docs/sync.md); when she consents again, the mirror
 * asks for her case and is brought up to date with what it missed. Was:
 * the new consent came, the mirror had a row of her and asked for
 * nothing, and kept what it held before the withdrawal for good: her
 * trajectory "referred" while `ipsnet case show` gave it "accepted", and
 * the withdrawn consent without its withdrawal. */
static void test_a_consent_given_again_brings_the_case_up_to_date(void **state)
{
	struct h_proc follower;
	char mirror[PATH_MAX], x[64], cx[64], tx[64], sql[256];
	snprintf(mirror, sizeof(mirror), "%s/consent-again.db", dir);
	funded_client("again-prog", x, cx, tx);
	start_sync(&follower, GM0363, mirror, true, "consent-again");
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM trajectory WHERE id = '%s' AND "
		 "version = 1",
		 tx);
	assert_true(wait_mirror(mirror, sql, 1));
	withdraw_consent(GGZ_TEST, cx, 1);
	move(GGZ_TEST, tx, 1, TS(ACCEPTED));
	/* The follower is past the acceptance (not sent: no consent) once
	 * a program put after it is in. */
	put_program(NETWORK, "again-mark", "ggz-test", 0);
	assert_true(wait_mirror(mirror,
				"SELECT count(*) FROM program WHERE id = "
				"'again-mark'",
				1));
	grant_consent(GGZ_TEST, x, "gm0363", NULL);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM trajectory WHERE id = '%s' AND "
		 "version = 2 AND status = 'accepted'",
		 tx);
	bool trajectory = wait_mirror(mirror, sql, 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM consent WHERE id = '%s' AND "
		 "withdrawn_at != ''",
		 cx);
	int64_t withdrawn = mirror_int(mirror, sql);
	int code = h_proc_stop(&follower, SIGTERM, WAIT_MS);
	if (!trajectory)
		fail_msg("the mirror kept the trajectory as it was before the "
			 "withdrawal");
	assert_int_equal(withdrawn, 1);
	assert_int_equal(code, 0);
}

/* The same for a catch-up page: one judged before the withdrawal committed
 * is read again, and what was read ahead of it too. */
static void
test_a_withdrawal_stops_a_catch_up_page_judged_before_it(void **state)
{
	struct held h;
	struct h_tls g;
	char x[64], cx[64], tx[64];
	const char *failed = NULL;
	memset(&g, 0, sizeof(g));
	g.fd = -1; /* h_tls_close of one not made */
	held_start(&h);
	uint64_t asked = funded_client("wdc-prog", x, cx, tx);
	uint64_t accepted = move(GGZ_TEST, tx, 1, TS(ACCEPTED));
	live_reaches(&h, accepted);
	/* gm0363 catches up from before the funding request: a page. */
	hold_after_judging(&h, true);
	assert_int_equal(subscribe_as(&g, h.d.port, "gm0363", asked - 1, NULL),
			 0);
	if (!gate_says(&h, "-judged"))
		failed = "the catch-up page was not held";
	uint64_t withdrawn = withdraw_consent(GGZ_TEST, cx, 1);
	hold_after_judging(&h, false);
	/* It is caught up with nothing of x. */
	while (failed == NULL) {
		Ipsnet__V1__Envelope *e = h_tls_recv_envelope(&g, WAIT_MS);
		bool caught_up = e != NULL && e->body_case == BODY(CAUGHT_UP);
		if (e == NULL)
			failed = "gm0363 was not told CaughtUp";
		else if (e->body_case == BODY(EVENT))
			failed = "gm0363 received an entry of x after the "
				 "withdrawal was answered";
		else if (!caught_up)
			failed = "gm0363's subscription was refused";
		h_envelope_free(e);
		if (caught_up)
			break;
	}
	size_t rows = gm0363_rows(x, "sync", NULL);
	h_tls_close(&g);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (failed == NULL && rows != 0)
		failed = "the audit trail has a delivery of x to gm0363";
	if (failed != NULL)
		fail_msg("%s (asked %" PRIu64 ", accepted %" PRIu64
			 ", withdrawn %" PRIu64 ")",
			 failed, asked, accepted, withdrawn);
}

#define CHURN 100

/* Changes client's name, at version. The seq of the change. */
static uint64_t update_client(enum org o, const char *client, uint64_t version,
			      const char *name)
{
	Ipsnet__V1__UpdateClient m = IPSNET__V1__UPDATE_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.client_id = (char *)client;
	m.expected_version = version;
	m.name = (char *)name;
	e.body_case = BODY(UPDATE_CLIENT);
	e.update_client = &m;
	return change(o, &e, NULL);
}

/* Whether the mirror at path has handled every entry up to seq. */
static bool wait_mirror_at(const char *path, uint64_t seq)
{
	char sql[128];
	snprintf(sql, sizeof(sql),
		 "SELECT value >= %" PRIu64 " FROM meta WHERE key = 'seq'",
		 seq);
	return wait_mirror(path, sql, 1);
}

/* Whether the mirrors at a and b hold the same rows (by id and version:
 * the seq of a row a case brought is the mirror's at that moment); says
 * which table differs. */
static bool mirrors_hold_the_same(const char *a, const char *b)
{
	bool same = true;
	for (size_t i = 0; i < ARRAY_SIZE(mirror_tables); i++)
		if (mirror_difference_of(a, b, mirror_tables[i],
					 "id, version") != 0) {
			fprintf(stderr, "table %s of %s differs from %s's\n",
				mirror_tables[i], a, b);
			same = false;
		}
	return same;
}

/* Mirrors of some kinds that follow live hold what new mirrors of the
 * same kinds hold: a client who becomes gm0363's business with a funding
 * request comes into both, with what was delivered before to nobody.
 * Was: a mirror without clients fetched no case, and one of clients
 * alone never received the funding request that starts the fetch (the
 * daemon sends only the kinds asked for): the trajectory and the client
 * were missing for good, the cursor past them (moved on by the
 * funding request, by an update of another client). */
static void test_mirrors_of_some_kinds_hold_what_new_ones_hold(void **state)
{
	static const char *const kinds[2] = {"trajectory,funding", "client"};
	struct h_proc followers[2], w;
	struct h_result r;
	char live[2][PATH_MAX], fresh[2][PATH_MAX], name[32], x[64], tx[64],
	    sql[256];
	const char *const w_name[] = {"kinds-gm0363"};
	char y[64], cy[64], ty[64];
	/* y: gm0363's business already. */
	uint64_t at = funded_client("kinds-live", y, cy, ty);
	start_watch(&w, GM0363, at, w_name[0]);
	for (int i = 0; i < 2; i++) {
		snprintf(live[i], sizeof(live[i]), "%s/kinds-live-%d.db", dir,
			 i);
		snprintf(fresh[i], sizeof(fresh[i]), "%s/kinds-new-%d.db", dir,
			 i);
		snprintf(name, sizeof(name), "kinds-live-%d", i);
		start_sync_kinds(&followers[i], GM0363, live[i], true, kinds[i],
				 name);
	}
	/* Both follow live before anything of x is made. */
	for (int i = 0; i < 2; i++)
		if (!wait_mirror_at(live[i], at)) {
			dump_mirror_err(live[i]);
			fail_msg("%s did not catch up", live[i]);
		}
	register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), x);
	grant_consent(GGZ_TEST, x, "gm0363", NULL);
	refer(GGZ_TEST, x, "kinds-live", tx);
	move(GGZ_TEST, tx, 1, TS(ACCEPTED));
	/* Judged for gm0363 while it was none of its business: sent to no
	 * follower. */
	mark(&w, 1, w_name);
	request_funding(GGZ_TEST, tx, "gm0363", NULL);
	/* Moves the cursor of the client mirror past x's entries. */
	update_client(GGZ_TEST, y, 1, "Testpersoon Verhuisd");
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM client WHERE id = '%s' AND version = 2",
		 y);
	bool moved = wait_mirror(live[1], sql, 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM trajectory WHERE id = '%s' AND "
		 "version = 2",
		 tx);
	bool trajectory = wait_mirror(live[0], sql, 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM client WHERE id = '%s'", x);
	bool client = wait_mirror(live[1], sql, 1);
	int codes[2];
	for (int i = 0; i < 2; i++)
		codes[i] = h_proc_stop(&followers[i], SIGTERM, WAIT_MS);
	assert_int_equal(h_proc_stop(&w, SIGTERM, WAIT_MS), 0);
	for (int i = 0; i < 2; i++) {
		if (codes[i] != 0)
			dump_mirror_err(live[i]);
		assert_int_equal(codes[i], 0);
	}
	/* Resumed, and made anew: the same rows. */
	bool same[2];
	for (int i = 0; i < 2; i++) {
		assert_int_equal(sync_once(GM0363, live[i], NULL, &r), 0);
		h_result_free(&r);
		assert_int_equal(sync_once(GM0363, fresh[i], kinds[i], &r), 0);
		h_result_free(&r);
		same[i] = mirrors_hold_the_same(live[i], fresh[i]);
	}
	assert_true(moved);
	if (!trajectory)
		fail_msg("the trajectory,funding mirror did not get trajectory "
			 "%s while it followed",
			 tx);
	if (!client)
		fail_msg("the client mirror did not get client %s while it "
			 "followed",
			 x);
	assert_true(same[0]);
	assert_true(same[1]);
	/* Only its kinds, as the new one. */
	assert_int_equal(mirror_int(live[0], "SELECT count(*) FROM client"), 0);
	assert_int_equal(mirror_rows(live[0], "funding", "client_id", x), 1);
	assert_int_equal(mirror_int(live[1], "SELECT count(*) FROM trajectory"),
			 0);
}

/* A program that NETWORK hands to another GGZ brings its clients into
 * that GGZ's mirror, which follows live: it ends as a new mirror made after
 * the hand-over. Was: only the program's event came (its clients' earlier
 * entries had been judged while they were ggz-test's alone), and the
 * mirror held no client and no trajectory of it for good. */
static void test_a_program_handed_over_brings_its_clients_along(void **state)
{
	struct h_proc follower;
	struct h_result r;
	char mirror[PATH_MAX], fresh[PATH_MAX], x[64], tx[64], sql[256];
	snprintf(mirror, sizeof(mirror), "%s/handed.db", dir);
	snprintf(fresh, sizeof(fresh), "%s/handed-new.db", dir);
	put_program(NETWORK, "handed-prog", "ggz-test", 0);
	register_client(GGZ_TEST, BENEFIT(NONE), x);
	uint64_t referred = refer(GGZ_TEST, x, "handed-prog", tx);
	start_sync(&follower, GGZ_OTHER, mirror, true, "handed");
	bool caught_up = wait_mirror_at(mirror, referred);
	put_program(NETWORK, "handed-prog", "ggz-other", 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM client WHERE id = '%s'", x);
	bool client = caught_up && wait_mirror(mirror, sql, 1);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM trajectory WHERE id = '%s'", tx);
	bool trajectory = client && wait_mirror(mirror, sql, 1);
	int code = h_proc_stop(&follower, SIGTERM, WAIT_MS);
	if (!caught_up || !client || !trajectory || code != 0)
		dump_mirror_err(mirror);
	assert_true(caught_up);
	assert_true(client);
	assert_true(trajectory);
	assert_int_equal(code, 0);
	assert_true(h_file_contains(follower.err,
				    "program handed-prog is now ggz-other's"));
	/* Nothing more to read, and what a new mirror holds. */
	assert_int_equal(sync_once(GGZ_OTHER, mirror, NULL, &r), 0);
	h_result_free(&r);
	assert_int_equal(sync_once(GGZ_OTHER, fresh, NULL, &r), 0);
	h_result_free(&r);
	assert_true(mirrors_hold_the_same(mirror, fresh));
	assert_int_equal(mirror_seq(mirror), mirror_seq(fresh));
}

/* Reads c until the event of seq last: events in order of seq, each once,
 * among them every one of want (n), and nothing else but CaughtUp. NULL,
 * or what was wrong. */
static const char *gets_in_order(struct h_tls *c, const uint64_t *want,
				 size_t n, uint64_t last)
{
	size_t i = 0;
	uint64_t before = 0;
	for (;;) {
		Ipsnet__V1__Envelope *e = h_tls_recv_envelope(c, WAIT_MS);
		if (e == NULL)
			return "the stream stopped";
		uint64_t seq = e->body_case == BODY(EVENT) ? e->event->seq : 0;
		int body = (int)e->body_case;
		h_envelope_free(e);
		if (body == BODY(CAUGHT_UP))
			continue;
		if (body != BODY(EVENT))
			return "the subscription was refused";
		if (seq <= before)
			return "an entry came twice or out of order";
		before = seq;
		if (i < n && seq > want[i])
			return "an entry wanted did not come";
		if (i < n && seq == want[i])
			i++;
		if (seq == last)
			return i == n ? NULL : "an entry wanted did not come";
	}
}

/* Withdrawals (and grants) of other clients' consents committing all the
 * while, each right after the client's entries that the municipality may
 * see until then, do not hold up or disorder what it receives: the
 * deliveries judged before a withdrawal are judged again, and every entry
 * of x comes once, in order, live and catching up. */
static void
test_deliveries_go_on_while_other_consents_are_withdrawn(void **state)
{
	struct held h;
	struct h_tls live, late;
	char x[64], cx[64], tx[64], name[32];
	uint64_t want[CHURN];
	const char *failed = NULL;
	memset(&live, 0, sizeof(live));
	memset(&late, 0, sizeof(late));
	live.fd = late.fd = -1; /* h_tls_close of one not made */
	held_start(&h);
	uint64_t asked = funded_client("wdm-prog", x, cx, tx);
	assert_int_equal(subscribe_as(&live, h.d.port, "gm0363", asked, NULL),
			 0);
	for (int i = 0; i < CHURN; i++) {
		char y[64], cy[64], ty[64], fy[64];
		snprintf(name, sizeof(name), "Testpersoon %d", i);
		register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), y);
		grant_consent(GGZ_TEST, y, "gm0363", cy);
		refer(GGZ_TEST, y, "wdm-prog", ty);
		request_funding(GGZ_TEST, ty, "gm0363", fy);
		want[i] = update_client(GGZ_TEST, x, (uint64_t)i + 1, name);
		withdraw_consent(GGZ_TEST, cy, 1);
		/* A second one catches up from the start while it goes on. */
		if (i == CHURN / 2 &&
		    subscribe_as(&late, h.d.port, "gm0363", asked, NULL) != 0)
			failed = "the second subscriber was not answered";
	}
	uint64_t mark = put_program(NETWORK, "wdm-mark", "ggz-test", 0);
	if (failed == NULL &&
	    (failed = gets_in_order(&live, want, CHURN, mark)) == NULL)
		failed = gets_in_order(&late, want, CHURN, mark);
	h_tls_close(&live);
	h_tls_close(&late);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	if (failed != NULL)
		fail_msg("gm0363 while consents are withdrawn: %s", failed);
}

/* The daemon's peak resident memory (VmHWM) in KiB since the last
 * reset_peak, or -1. */
static long peak_kib(pid_t pid)
{
	return h_status_kib(pid, "VmHWM");
}

/* Starts the peak over at the present resident memory (proc(5),
 * clear_refs). */
static void reset_peak(pid_t pid)
{
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/clear_refs", (int)pid);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs("5", f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* Entries committed while a live fetch is held. */
#define PILE 20000
/* What delivering them may add to the daemon's peak memory: the live
 * subscriber's send buffer (1 MiB) and a few pages with their audit rows. */
#define PILE_KIB 6144

/* Commits that pile up while a live fetch is in flight (a slow disk, an
 * import faster than the live fetches, many organisations to judge each
 * entry for) are read for the live stream a page at a time, as a
 * catch-up reads them. Was: the next live fetch read all of them at once,
 * each entry packed for every organisation with a live subscriber and an
 * audit row for every live subscriber, so the daemon's memory grew with the
 * pile (+20 MiB for this one, with one subscriber, which never reads and
 * so itself keeps only its send buffer). */
static void test_a_pile_of_commits_goes_live_a_page_at_a_time(void **state)
{
	struct held h;
	struct h_tls tail;
	memset(&tail, 0, sizeof(tail));
	tail.fd = -1; /* h_tls_close of one not made */
	held_start(&h);
	pid_t pid = h_daemon_pid(&h.d);
	hold_fetches(&h, true);
	uint64_t s2 = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	assert_int_equal(fill(GGZ_TEST, PILE, NULL), 0);
	uint64_t head = s2 + PILE;
	/* Placed once live delivery has passed the pile. */
	assert_int_equal(subscribe_from(&tail, h.d.port, head, NULL), 0);
	long rss = h_rss_kib(pid);
	reset_peak(pid);
	hold_fetches(&h, false);
	Ipsnet__V1__Envelope *e = h_tls_recv_envelope(&tail, 2 * WAIT_MS);
	bool caught_up = e != NULL && e->body_case == BODY(CAUGHT_UP) &&
			 e->caught_up->seq == head;
	h_envelope_free(e);
	long peak = peak_kib(pid);
	fprintf(stderr,
		"daemon RSS %ld KiB before the pile of %d went live, peak %ld "
		"KiB after (+%ld KiB); bound +%d KiB\n",
		rss, PILE, peak, peak - rss, PILE_KIB);
	h_tls_close(&tail);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	assert_true(caught_up);
	if (RSS_IS_THE_DAEMONS)
		assert_true(peak - rss <= PILE_KIB);
	else
		fprintf(stderr, "(built with a sanitizer: the bound is not "
				"checked)\n");
}

/* Whether every line of the file hold_fetch.c writes beside h's gate
 * (suffix: "-nice", "-nice-read", "-nice-report") since it was last
 * removed says want: the reads it saw ran at the daemon's nice plus want.
 * NULL, or what was wrong. */
static const char *reads_ran_at(const struct held *h, const char *suffix,
				int want, char *why, size_t cap)
{
	char path[PATH_MAX], line[32];
	int n = 0, other = want;
	snprintf(path, sizeof(path), "%s%s", h->gate, suffix);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return "no such read was seen";
	while (fgets(line, sizeof(line), f) != NULL) {
		n++;
		if (atoi(line) != want)
			other = atoi(line);
	}
	fclose(f);
	if (n == 0)
		return "no such read was seen";
	if (other != want) {
		snprintf(why, cap, "a read ran at nice %+d, not %+d", other,
			 want);
		return why;
	}
	return NULL;
}

/* The reads that may take long, a subscriber's catch-up and a report, run
 * on threads nicer than the daemon (journal.c's bulk readers: nice +10),
 * so that they take the CPU the writer, the loop, live delivery and the
 * caseworkers' reads leave; those run at the daemon's own priority. Was:
 * all on the same two readers, and a GGZ catching up from 0 cut 64 busy
 * connections' changes from about 21,000 to 7,000 a second
 * (docs/sync.md). */
static void test_long_reads_run_nicer_than_the_others(void **state)
{
	struct held h;
	struct h_tls behind;
	char path[PATH_MAX], client[64], err[256];
	char why_live[96], why_behind[96], why_read[96], why_report[96];
	uint64_t seqs[8];
	/* The daemon runs at this test's nice; a bulk reader 10 above it, but
	 * never above 19. */
	int own = getpriority(PRIO_PROCESS, 0);
	int bulk_nice = own + 10 > 19 ? 19 - own : 10;
	(void)state;
	memset(&behind, 0, sizeof(behind));
	behind.fd = -1;
	held_start(&h);

	snprintf(path, sizeof(path), "%s-nice", h.gate);
	(void)unlink(path);
	uint64_t seq = register_client(GGZ_TEST, BENEFIT(NONE), client);
	Ipsnet__V1__Envelope *e = h_tls_recv_envelope(&h.live, WAIT_MS);
	bool live_came =
	    e != NULL && e->body_case == BODY(EVENT) && e->event->seq == seq;
	h_envelope_free(e);
	const char *live =
	    reads_ran_at(&h, "-nice", 0, why_live, sizeof(why_live));

	/* Two entries behind: a page from the database. */
	int unlinked = unlink(path);
	int subscribed = subscribe_from(&behind, h.d.port, seq - 2, NULL);
	size_t n = subscribed == 0 ? read_stream(&behind, seq, seqs, 8) : 0;
	const char *catch_up = reads_ran_at(&h, "-nice", bulk_nice, why_behind,
					    sizeof(why_behind));

	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT, *resp = NULL;
	Ipsnet__V1__ShowCase sc = IPSNET__V1__SHOW_CASE__INIT;
	sc.client_id = client;
	req.body_case = BODY(SHOW_CASE);
	req.show_case = &sc;
	int shown =
	    ipsnet_client_call(conns[GGZ_TEST], &req, &resp, err, sizeof(err));
	ipsnet_envelope_free(resp);
	const char *read =
	    reads_ran_at(&h, "-nice-read", 0, why_read, sizeof(why_read));

	Ipsnet__V1__ReportQuery q = IPSNET__V1__REPORT_QUERY__INIT;
	Ipsnet__V1__ReportPeriod period = IPSNET__V1__REPORT_PERIOD__INIT;
	Ipsnet__V1__ReportPeriod *periods[1] = {&period};
	period.label = "2025";
	period.from = "2025-01-01";
	period.to = "2025-12-31";
	q.periods = periods;
	q.n_periods = 1;
	memset(&req, 0, sizeof(req));
	ipsnet__v1__envelope__init(&req);
	req.body_case = BODY(REPORT_QUERY);
	req.report_query = &q;
	resp = NULL;
	int reported =
	    ipsnet_client_call(conns[NETWORK], &req, &resp, err, sizeof(err));
	ipsnet_envelope_free(resp);
	const char *report = reads_ran_at(&h, "-nice-report", bulk_nice,
					  why_report, sizeof(why_report));

	h_tls_close(&behind);
	held_leave(&h);
	assert_int_equal(h_daemon_stop(&h.d, SIGTERM), 0);
	assert_true(live_came);
	if (live != NULL)
		fail_msg("live delivery: %s", live);
	assert_int_equal(unlinked, 0);
	assert_int_equal(subscribed, 0);
	assert_int_equal(n, 2);
	if (catch_up != NULL)
		fail_msg("the catch-up: %s", catch_up);
	assert_int_equal(shown, 0);
	if (read != NULL)
		fail_msg("a case read: %s", read);
	assert_int_equal(reported, 0);
	if (report != NULL)
		fail_msg("a report: %s", report);
}

/* A mirror that an ipsnet without journal hashes moved on (an older
 * package on the same machine, a rollback and an upgrade again) holds the
 * hash of an earlier seq with its seq: it resumes, unchecked, and then
 * holds the hash of its seq again. Was: it sent that old hash with the new
 * seq and was refused as "not the one this subscriber has", told to start
 * again from seq 0. The older ipsnet is played by putting back every meta
 * row that it does not write (all but seq, events and updated_at). */
static void test_mirror_moved_on_by_an_older_ipsnet_resumes(void **state)
{
	char path[PATH_MAX], keep[PATH_MAX], db[PATH_MAX],
	    sql[2 * PATH_MAX + 200];
	struct h_result r;
	snprintf(path, sizeof(path), "%s/older.db", dir);
	snprintf(keep, sizeof(keep), "%s/older-keep.db", dir);
	snprintf(db, sizeof(db), "%s/ipsnet.db", dir);

	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	snprintf(sql, sizeof(sql),
		 "ATTACH '%s' AS k; CREATE TABLE k.keep AS SELECT key, value "
		 "FROM meta WHERE key NOT IN ('seq', 'events', 'updated_at')",
		 keep);
	h_db_exec(path, sql);
	register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	snprintf(sql, sizeof(sql),
		 "ATTACH '%s' AS k; UPDATE meta SET value = (SELECT value FROM "
		 "k.keep WHERE k.keep.key = meta.key) WHERE key IN (SELECT key "
		 "FROM k.keep)",
		 keep);
	h_db_exec(path, sql);
	register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	assert_mirror_hash_is_the_journals(path, db);
	/* And the next run resumes with it. */
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
}

/* A mirror whose rows an older ipsnet wrote, which did not know a field
 * (Job.withdrawn: its column dropped, as that ipsnet made the table, and
 * with it what the column held), is read again from the start by this
 * one: the column is added and filled in from the journal, and the mirror
 * ends as a new one would, the same rows and the journal's hash. Was: the
 * column was added empty (NULL) for the rows there, for good: a job
 * withdrawn while the older ipsnet ran stayed one that never ended. */
static void test_a_mirror_an_older_ipsnet_wrote_is_filled_in(void **state)
{
	char path[PATH_MAX], fresh[PATH_MAX], db[PATH_MAX], client[64], job[64],
	    later[16], today[16], sql[160];
	struct h_result r;
	snprintf(path, sizeof(path), "%s/older-fields.db", dir);
	snprintf(fresh, sizeof(fresh), "%s/older-fields-fresh.db", dir);
	snprintf(db, sizeof(db), "%s/ipsnet.db", dir);

	register_client(GGZ_TEST, BENEFIT(NONE), client);
	nl_date_of_us(today, sizeof(today), (long long)util_now_us());
	nl_date_of_us(later, sizeof(later),
		      (long long)util_now_us() + 30LL * 86400 * 1000000);
	Ipsnet__V1__AddJob aj = IPSNET__V1__ADD_JOB__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	aj.client_id = client;
	aj.employer = "Bakkerij";
	aj.start_date = later;
	aj.hours_per_week = 20;
	aj.competitive = true;
	e.body_case = BODY(ADD_JOB);
	e.add_job = &aj;
	change(GGZ_TEST, &e, job);
	Ipsnet__V1__EndJob ej = IPSNET__V1__END_JOB__INIT;
	Ipsnet__V1__Envelope e2 = IPSNET__V1__ENVELOPE__INIT;
	ej.job_id = job;
	ej.expected_version = 1;
	ej.end_date = today;
	e2.body_case = BODY(END_JOB);
	e2.end_job = &ej;
	change(GGZ_TEST, &e2, NULL); /* withdrawn: it never began */

	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	h_db_exec(path, "ALTER TABLE job DROP COLUMN withdrawn");
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	bool said = strstr(r.err, "written by an older ipsnet") != NULL;
	h_result_free(&r);
	snprintf(sql, sizeof(sql), "SELECT withdrawn FROM job WHERE id = '%s'",
		 job);
	int64_t withdrawn = mirror_int(path, sql);
	int64_t unknown = mirror_int(
	    path, "SELECT count(*) FROM job WHERE withdrawn IS NULL");
	if (withdrawn != 1 || unknown != 0)
		fail_msg("job %s withdrawn = %" PRId64 " (want 1); %" PRId64
			 " job row(s) with withdrawn NULL",
			 job, withdrawn, unknown);
	assert_true(said);
	assert_int_equal(sync_once(GGZ_TEST, fresh, NULL, &r), 0);
	h_result_free(&r);
	/* The next run resumes, with nothing to fill in. */
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	assert_null(strstr(r.err, "written by an older ipsnet"));
	h_result_free(&r);
	/* job's columns are in another order there: withdrawn came last. */
	assert_mirror_as_new(path, fresh, "job");
	static const char job_cols[] =
	    "id, version, client_id, trajectory_id, employer, start_date, "
	    "end_date, hours_per_week, competitive, withdrawn, seq";
	if (mirror_difference_of(path, fresh, "job", job_cols) != 0)
		fail_msg("table job differs from a new mirror's");
	assert_mirror_hash_is_the_journals(path, db);
}

/* An older ipsnet that writes into a mirror after this one added a column
 * leaves the column NULL in the rows it writes (it names only the columns
 * it knows). The next run of this ipsnet notices such rows written since
 * it last ran, says so and reads the journal again, as when it adds a
 * column: the cell is filled in, and the mirror ends as a new one would.
 * A run after that has nothing to fill in. The older ipsnet is played
 * with the SQLite library: it inserts the client's row without
 * registered_at and moves the cursor (seq, its hash) past it. Was: this
 * ipsnet added no column, so it saw no reason to refill, and the cell
 * stayed NULL for good. */
static void test_rows_an_older_ipsnet_wrote_since_are_filled_in(void **state)
{
	char path[PATH_MAX], fresh[PATH_MAX], db[PATH_MAX], client[64],
	    sql[512];
	uint8_t hash[32];
	struct h_result r;
	snprintf(path, sizeof(path), "%s/older-since.db", dir);
	snprintf(fresh, sizeof(fresh), "%s/older-since-fresh.db", dir);
	snprintf(db, sizeof(db), "%s/ipsnet.db", dir);

	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	uint64_t seq = register_client(GGZ_TEST, BENEFIT(NONE), client);
	journal_hash_at(db, seq, hash);
	char hex[65];
	util_hex(hex, sizeof(hex), hash, sizeof(hash));
	snprintf(sql, sizeof(sql),
		 "BEGIN; INSERT INTO client (id, version, bsn, name, "
		 "birth_date, municipality, benefit, registered_by, seq) "
		 "VALUES ('%s', 1, '', '', '', '', '', 'ggz-test', %" PRIu64
		 "); UPDATE meta SET value = %" PRIu64
		 " WHERE key IN ('seq', 'hash_seq'); UPDATE meta SET value = "
		 "X'%s' WHERE key = 'hash'; UPDATE meta SET value = value + 1 "
		 "WHERE key = 'events'; COMMIT",
		 client, seq, seq, hex);
	h_db_exec(path, sql);

	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	bool said = strstr(r.err, "written by an older ipsnet") != NULL;
	h_result_free(&r);
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM client WHERE id = '%s' AND "
		 "registered_at != '' AND name != ''",
		 client);
	assert_int_equal(mirror_int(path, sql), 1);
	assert_true(said);
	assert_int_equal(
	    mirror_int(
		path,
		"SELECT count(*) FROM client WHERE registered_at IS NULL"),
	    0);
	assert_int_equal(sync_once(GGZ_TEST, fresh, NULL, &r), 0);
	h_result_free(&r);
	assert_mirror_as_new(path, fresh, NULL);
	/* The next run has nothing to fill in. */
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	assert_null(strstr(r.err, "written by an older ipsnet"));
	h_result_free(&r);
	assert_mirror_hash_is_the_journals(path, db);
}

/* An older ipsnet that applies a change to a row of the mirror after this
 * one ran leaves a field it does not know as the version before had it: a
 * job it withdrew stays open in job.withdrawn. There is no NULL to see;
 * the next run of this ipsnet reads the journal again all the same, and
 * the mirror ends as a new one would. Played with the client's
 * registered_at, left as it was (made wrong, so that it shows) while the
 * older ipsnet takes the client's new name and version. Was: only rows
 * holding a NULL started a refill, and the stale cell stayed for good. */
static void
test_rows_an_older_ipsnet_changed_since_are_brought_up_to_date(void **state)
{
	char path[PATH_MAX], fresh[PATH_MAX], db[PATH_MAX], client[64],
	    sql[768], hex[65];
	uint8_t hash[32];
	struct h_result r;
	snprintf(path, sizeof(path), "%s/older-changed.db", dir);
	snprintf(fresh, sizeof(fresh), "%s/older-changed-fresh.db", dir);
	snprintf(db, sizeof(db), "%s/ipsnet.db", dir);

	register_client(GGZ_TEST, BENEFIT(NONE), client);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	uint64_t seq =
	    update_client(GGZ_TEST, client, 1, "Testpersoon Hernoemd");
	journal_hash_at(db, seq, hash);
	util_hex(hex, sizeof(hex), hash, sizeof(hash));
	snprintf(sql, sizeof(sql),
		 "BEGIN; UPDATE client SET version = 2, name = 'Testpersoon "
		 "Hernoemd', registered_at = '1999-01-01T00:00:00.000Z', seq "
		 "= %" PRIu64
		 " WHERE id = '%s'; UPDATE meta SET value = %" PRIu64
		 " WHERE key IN ('seq', 'hash_seq'); UPDATE meta SET value = "
		 "X'%s' WHERE key = 'hash'; UPDATE meta SET value = value + 1 "
		 "WHERE key = 'events'; COMMIT",
		 seq, client, seq, hex);
	h_db_exec(path, sql);

	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	bool said = strstr(r.err, "written by an older ipsnet") != NULL;
	h_result_free(&r);
	assert_true(said);
	assert_int_equal(sync_once(GGZ_TEST, fresh, NULL, &r), 0);
	h_result_free(&r);
	assert_mirror_as_new(path, fresh, NULL);
	assert_mirror_hash_is_the_journals(path, db);
}

/* A refill that this ipsnet started (a column added) and ended before it
 * committed anything of it (the server could not be reached), then an
 * older ipsnet went on with, stopping short of where it was to end: the
 * rows it read again hold NULL in the column it does not know, and the
 * cursor it left is below complete_seq, the last this ipsnet committed
 * before the refill. The next run notices the older ipsnet all the same
 * and reads again from the start: the mirror ends as a new one would.
 * Played with the SQLite library: the older ipsnet moves the cursor (seq,
 * its hash) to the first client's entry and makes the check, as it did.
 * Was: complete_seq stayed where the refill began, so the cursor looked
 * like this ipsnet's own; the refill went on from there and the first
 * client's registered_at stayed NULL for good. */
static void
test_an_older_ipsnet_that_went_on_with_a_refill_is_noticed(void **state)
{
	char path[PATH_MAX], fresh[PATH_MAX], db[PATH_MAX], ca[PATH_MAX],
	    sql[768], hex[65];
	uint8_t hash[32];
	struct h_result r;
	struct h_args a;
	snprintf(path, sizeof(path), "%s/older-refill.db", dir);
	snprintf(fresh, sizeof(fresh), "%s/older-refill-fresh.db", dir);
	snprintf(db, sizeof(db), "%s/ipsnet.db", dir);
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);

	uint64_t first = register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	/* A column this ipsnet adds, and a server it cannot reach: the
	 * refill begins (cursor at 0) and nothing of it is committed. */
	h_db_exec(path, "ALTER TABLE client DROP COLUMN registered_at");
	h_args_init(&a);
	h_args_add(&a, "--server");
	h_args_add(&a, "127.0.0.1:1");
	h_args_add(&a, "--ca");
	h_args_add(&a, "%s", ca);
	h_args_add(&a, "--cert");
	h_args_add(&a, "%s/ggz-test.crt", certs);
	h_args_add(&a, "--key");
	h_args_add(&a, "%s/ggz-test.key", certs);
	h_args_add(&a, "--user");
	h_args_add(&a, "sync.tester");
	h_args_add(&a, "sync");
	h_args_add(&a, "--mirror");
	h_args_add(&a, "%s", path);
	assert_int_equal(h_run_cli(&r, a.argv), 3);
	h_result_free(&r);
	assert_int_equal(mirror_seq(path), 0);

	journal_hash_at(db, first, hash);
	util_hex(hex, sizeof(hex), hash, sizeof(hash));
	snprintf(sql, sizeof(sql),
		 "BEGIN; UPDATE meta SET value = %" PRIu64
		 " WHERE key IN ('seq', 'hash_seq'); UPDATE meta SET value = "
		 "X'%s' WHERE key = 'hash'; DELETE FROM meta WHERE key IN "
		 "('check_seq', 'check_hash'); UPDATE meta SET value = value + "
		 "%" PRIu64 " WHERE key = 'events'; COMMIT",
		 first, hex, first);
	h_db_exec(path, sql);

	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	bool said = strstr(r.err, "written by an older ipsnet") != NULL;
	h_result_free(&r);
	assert_int_equal(
	    mirror_int(
		path,
		"SELECT count(*) FROM client WHERE registered_at IS NULL"),
	    0);
	assert_true(said);
	assert_int_equal(sync_once(GGZ_TEST, fresh, NULL, &r), 0);
	h_result_free(&r);
	assert_mirror_as_new(path, fresh, "client");
	/* registered_at, added again, is the last column of this one. */
	static const char cols[] = "id, version, bsn, name, birth_date, "
				   "municipality, benefit, registered_by, "
				   "registered_at, seq";
	if (mirror_difference_of(path, fresh, "client", cols) != 0)
		fail_msg("table client differs from a new mirror's");
	assert_mirror_hash_is_the_journals(path, db);
}

/* A mirror read again from the start to fill in a column still resumes
 * only from the journal it was made from: the hash of the entry it had
 * reached is checked before anything is read again, and another journal is
 * refused (6), on every run until it is the right one. Was: the refill
 * forgot the hash with the cursor and read the other journal into the
 * mirror, its rows mixed with the first one's, exit 0. */
static void test_a_refill_checks_the_journal_it_was_made_from(void **state)
{
	char path[PATH_MAX], keep[PATH_MAX], client[64];
	struct h_result r;
	snprintf(path, sizeof(path), "%s/refill-hashed.db", dir);
	snprintf(keep, sizeof(keep), "%s/refill-hashed-keep.db", dir);

	register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	int64_t seq = mirror_seq(path);
	/* The entry at its seq is another one as far as the mirror knows,
	 * and an older ipsnet wrote its clients. */
	older_with_another_hash(path, keep);
	register_client(GGZ_TEST, BENEFIT(NONE), client);
	for (int run = 0; run < 2; run++) {
		assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 6);
		assert_non_null(
		    strstr(r.err, "is not the one this subscriber has"));
		h_result_free(&r);
		assert_int_equal(mirror_rows(path, "client", "id", client), 0);
	}
	/* With its own hash back the refill goes on. */
	hash_back(path, keep);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	assert_true(mirror_seq(path) > seq);
	assert_int_equal(mirror_rows(path, "client", "id", client), 1);
	assert_int_equal(
	    mirror_int(
		path,
		"SELECT count(*) FROM client WHERE registered_at IS NULL"),
	    0);
}

/* A refill reads no case again: the entries it reads again were handled
 * when they came first. Was: a client with two consents to gm0363 had,
 * when the first came again, the second already in the mirror, which
 * looked like a consent given again after a withdrawal, and the sync
 * read her case once more (a read of personal data on the trail, for
 * nothing). */
static void test_a_refill_reads_no_case_again(void **state)
{
	char path[PATH_MAX], x[64], cx[64], tx[64];
	struct h_result r;
	snprintf(path, sizeof(path), "%s/refill-gm0363.db", dir);
	funded_client("rfc-prog", x, cx, tx);
	grant_consent(GGZ_TEST, x, "gm0363", NULL); /* a second one */
	assert_int_equal(sync_once(GM0363, path, NULL, &r), 0);
	h_result_free(&r);
	size_t before = gm0363_rows(x, "show_case", NULL);
	h_db_exec(path, "ALTER TABLE consent DROP COLUMN purpose");
	assert_int_equal(sync_once(GM0363, path, NULL, &r), 0);
	assert_non_null(strstr(r.err, "written by an older ipsnet"));
	h_result_free(&r);
	char sql[160];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM consent WHERE client_id = '%s' AND "
		 "purpose != ''",
		 x);
	assert_int_equal(mirror_int(path, sql), 2);
	size_t after = gm0363_rows(x, "show_case", NULL);
	if (after != before)
		fail_msg("the refill read x's case %zu more time(s)",
			 after - before);
}

/* A mirror at the head without a hash (made before hashes, or its hash
 * lost) learns it from the CaughtUp even when the journal has not moved. */
static void test_mirror_at_the_head_learns_its_hash(void **state)
{
	char path[PATH_MAX], db[PATH_MAX];
	struct h_result r;
	snprintf(path, sizeof(path), "%s/learns.db", dir);
	snprintf(db, sizeof(db), "%s/ipsnet.db", dir);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	h_db_exec(path, "UPDATE meta SET value = NULL WHERE key IN ('hash', "
			"'hash_seq')");
	int64_t seq = mirror_seq(path);
	assert_int_equal(sync_once(GGZ_TEST, path, NULL, &r), 0);
	h_result_free(&r);
	assert_int_equal(mirror_seq(path), seq);
	assert_int_equal(mirror_int(path, "SELECT value FROM meta WHERE key = "
					  "'hash_seq'"),
			 seq);
	assert_mirror_hash_is_the_journals(path, db);
}

/* SIGTERM while a live fetch is in flight and no connection is left: the
 * daemon stops once the fetch is back. Was: nothing looked again when it
 * came back (only a connection's last request did), and the daemon never
 * exited, the shutdown deadline closing connections only. */
static void test_daemon_stops_after_a_live_fetch_in_flight(void **state)
{
	struct held h;
	held_start(&h);
	hold_fetches(&h, true);
	register_client(GGZ_TEST, BENEFIT(NONE), NULL); /* fetched, held */
	held_leave(&h);
	assert_int_equal(kill(h_daemon_pid(&h.d), SIGTERM), 0);
	bool down = h_daemon_wait_log(&h.d, "shutting down", WAIT_MS);
	/* Every connection gone before the fetch comes back. */
	uint64_t deadline = now_ms() + WAIT_MS;
	while (down &&
	       count_in_file(h.d.log, "connection closed") < N_ORGS + 1 &&
	       now_ms() < deadline)
		sleep_ms(5);
	hold_fetches(&h, false);
	assert_true(down);
	assert_int_equal(count_in_file(h.d.log, "connection closed"),
			 N_ORGS + 1);
	assert_int_equal(h_daemon_stop(&h.d, 0), 0);
}

/* ---- the audit trail of deliveries -------------------------------------- */

/* The trail of client as the registering GGZ reads it. */
static Ipsnet__V1__Envelope *audit_of(const char *client)
{
	Ipsnet__V1__AuditQuery m = IPSNET__V1__AUDIT_QUERY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Envelope *resp = NULL;
	char err[256];
	m.client_id = (char *)client;
	m.since = "";
	m.limit = 1000;
	e.body_case = BODY(AUDIT_QUERY);
	e.audit_query = &m;
	if (ipsnet_client_call(conns[GGZ_TEST], &e, &resp, err, sizeof(err)) !=
		0 ||
	    resp == NULL || resp->audit_list == NULL)
		fail_msg("audit query of %s refused: %s", client, err);
	return resp;
}

/* The sync row of org whose entries ("journal:A" or "journal:A-B") hold
 * seq, or NULL. Checks the row's other fields on the way. */
static const Ipsnet__V1__AuditRecord *
sync_row(const Ipsnet__V1__AuditList *list, const char *org, const char *client,
	 uint64_t seq)
{
	for (size_t i = 0; i < list->n_records; i++) {
		const Ipsnet__V1__AuditRecord *r = list->records[i];
		unsigned long long a, b;
		if (strcmp(r->organisation, org) != 0 ||
		    strcmp(r->action, "sync") != 0)
			continue;
		assert_string_equal(r->client_id, client);
		assert_string_equal(r->user, "sync.tester");
		assert_string_equal(r->result, "OK");
		assert_int_equal(strncmp(r->peer, "127.0.0.1:", 10), 0);
		int got = sscanf(r->object, "journal:%llu-%llu", &a, &b);
		assert_true(got >= 1);
		if (got == 1)
			b = a;
		if (a <= seq && seq <= b)
			return r;
	}
	return NULL;
}

static void test_deliveries_are_in_the_audit_trail(void **state)
{
	char x[64], cx[64], tx[64], fx[64], mirror[PATH_MAX], needle[64];
	struct h_result r;
	struct h_proc wg, wn;

	put_program(NETWORK, "aud-prog", "ggz-test", 0);
	uint64_t first = register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), x);
	grant_consent(GGZ_TEST, x, "gm0363", cx);
	refer(GGZ_TEST, x, "aud-prog", tx);
	uint64_t asked = request_funding(GGZ_TEST, tx, "gm0363", fx);

	/* Catch-up: gm0363's mirror from 0 receives X's four entries. */
	snprintf(mirror, sizeof(mirror), "%s/audit-gm0363.db", dir);
	assert_int_equal(sync_once(GM0363, mirror, NULL, &r), 0);
	h_result_free(&r);

	/* Live: gm0363 and NETWORK watch; X's trajectory is accepted, then
	 * the consent is withdrawn and the trajectory started. */
	start_watch(&wg, GM0363, asked, "audit-watch-gm0363");
	start_watch(&wn, NETWORK, asked, "audit-watch-network");
	/* Both follow live before X changes (a watcher that subscribed after
	 * the withdrawal would not receive the acceptance at all). */
	put_program(NETWORK, "aud-ready", "ggz-test", 0);
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", "aud-ready");
	assert_true(h_wait_file(wg.out, needle, WAIT_MS));
	assert_true(h_wait_file(wn.out, needle, WAIT_MS));
	uint64_t accepted = move(GGZ_TEST, tx, 1, TS(ACCEPTED));
	/* gm0363 has it before the consent is withdrawn: the events go out
	 * after the answer, and one not sent by the withdrawal is not sent
	 * at all. */
	snprintf(needle, sizeof(needle), "\"seq\":%" PRIu64 ",", accepted);
	assert_true(h_wait_file(wg.out, needle, WAIT_MS));
	uint64_t withdrawn = withdraw_consent(GGZ_TEST, cx, 1);
	uint64_t started = move(GGZ_TEST, tx, 2, TS(ACTIVE));
	put_program(NETWORK, "aud-mark", "ggz-test", 0);
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", "aud-mark");
	assert_true(h_wait_file(wg.out, needle, WAIT_MS));
	assert_true(h_wait_file(wn.out, needle, WAIT_MS));
	assert_int_equal(h_proc_stop(&wg, SIGTERM, WAIT_MS), 0);
	assert_int_equal(h_proc_stop(&wn, SIGTERM, WAIT_MS), 0);

	/* The rows were committed before the events went out, so they are
	 * there now: every entry of X gm0363 received, and nothing of what
	 * it did not receive; NETWORK received nothing of X. */
	Ipsnet__V1__Envelope *a = audit_of(x);
	for (uint64_t seq = first; seq <= asked; seq++)
		if (sync_row(a->audit_list, "gm0363", x, seq) == NULL)
			fail_msg(
			    "no audit row of gm0363 receiving seq %" PRIu64,
			    seq);
	const Ipsnet__V1__AuditRecord *live =
	    sync_row(a->audit_list, "gm0363", x, accepted);
	assert_non_null(live);
	snprintf(needle, sizeof(needle), "journal:%" PRIu64, accepted);
	assert_string_equal(live->object, needle);
	assert_null(sync_row(a->audit_list, "gm0363", x, withdrawn));
	assert_null(sync_row(a->audit_list, "gm0363", x, started));
	assert_null(sync_row(a->audit_list, "network", x, accepted));
	ipsnet_envelope_free(a);
}

/* A delivery's row names the entries of its client that went out: a run
 * "journal:A-B" never spans an entry of that client the subscriber did not
 * receive (here X's consent for uwv, which gm0363 may not see), or the
 * trail would say gm0363 received it. */
static void test_a_delivery_row_spans_no_entry_not_sent(void **state)
{
	char x[64], cx[64], tx[64], cu[64], mirror[PATH_MAX];
	struct h_result r;

	funded_client("gap-prog", x, cx, tx);
	uint64_t hidden = grant_consent(GGZ_TEST, x, "uwv", cu);
	uint64_t accepted = move(GGZ_TEST, tx, 1, TS(ACCEPTED));
	assert_int_equal(accepted, hidden + 1);
	snprintf(mirror, sizeof(mirror), "%s/gap-gm0363.db", dir);
	assert_int_equal(sync_once(GM0363, mirror, NULL, &r), 0);
	h_result_free(&r);

	Ipsnet__V1__Envelope *a = audit_of(x);
	assert_non_null(sync_row(a->audit_list, "gm0363", x, hidden - 1));
	assert_non_null(sync_row(a->audit_list, "gm0363", x, accepted));
	const Ipsnet__V1__AuditRecord *over =
	    sync_row(a->audit_list, "gm0363", x, hidden);
	if (over != NULL)
		fail_msg("gm0363's row %s holds seq %" PRIu64
			 ", the consent for uwv it did not receive",
			 over->object, hidden);
	ipsnet_envelope_free(a);
}

static void db_exec(const char *sql)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/ipsnet.db", dir);
	h_db_exec(path, sql);
}

/* What cannot be recorded is not sent: neither live nor in a catch-up. */
static void test_no_audit_no_delivery(void **state)
{
	char y[64], cy[64], ty[64], fy[64], mirror[PATH_MAX], needle[64];
	struct h_result r;
	struct h_proc wg;

	put_program(NETWORK, "noaud-prog", "ggz-test", 0);
	register_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), y);
	grant_consent(GGZ_TEST, y, "gm0363", cy);
	refer(GGZ_TEST, y, "noaud-prog", ty);
	uint64_t asked = request_funding(GGZ_TEST, ty, "gm0363", fy);
	start_watch(&wg, GM0363, asked, "noaud-watch");
	put_program(NETWORK, "noaud-ready", "ggz-test", 0);
	snprintf(needle, sizeof(needle), "\"id\":\"%s\"", "noaud-ready");
	assert_true(h_wait_file(wg.out, needle, WAIT_MS));

	db_exec("CREATE TRIGGER test_sync_audit_fails BEFORE INSERT ON audit "
		"WHEN NEW.org = 'gm0363' AND NEW.action = 'sync' BEGIN SELECT "
		"RAISE(ABORT, 'the test refuses this row'); END");
	uint64_t accepted = move(GGZ_TEST, ty, 1, TS(ACCEPTED));
	/* Live: not sent; the watcher is told why, and tries again. */
	if (!h_wait_file(wg.err, "audit trail", WAIT_MS)) {
		dump_file("noaud-watch", wg.err);
		fail_msg("the watcher was not told why it got nothing");
	}
	snprintf(needle, sizeof(needle), "\"seq\":%" PRIu64 ",", accepted);
	char *out = h_read_file(wg.out, NULL);
	assert_non_null(out);
	assert_null(strstr(out, needle));
	free(out);
	/* Catch-up: the sync fails and its mirror holds nothing of Y. */
	snprintf(mirror, sizeof(mirror), "%s/noaud-gm0363.db", dir);
	assert_int_not_equal(sync_once(GM0363, mirror, NULL, &r), 0);
	assert_non_null(strstr(r.err, "audit trail"));
	h_result_free(&r);
	char sql[160];
	snprintf(sql, sizeof(sql),
		 "SELECT count(*) FROM client WHERE id = '%s'", y);
	assert_true(mirror_int(mirror, sql) <= 0);

	/* Once rows can be written again, the watcher gets it. */
	db_exec("DROP TRIGGER test_sync_audit_fails");
	if (!h_wait_file(wg.out, needle, WAIT_MS)) {
		dump_file("noaud-watch", wg.err);
		fail_msg("the watcher did not get seq %" PRIu64, accepted);
	}
	assert_int_equal(h_proc_stop(&wg, SIGTERM, WAIT_MS), 0);
}

/* A Subscribe that names an unknown kind is refused with the kind in the
 * sentence, cut to at most 40 bytes between two characters: the answer's
 * text is UTF-8, as proto3 asks of a string. Was: cut at byte 40 whatever
 * stood there, the first byte of a two-byte letter left without its
 * second, so that a client that checks its strings could not read the
 * refusal at all (found by a review). */
static void test_an_unknown_kind_is_refused_in_whole_characters(void **state)
{
	(void)state;
	struct h_tls c;
	/* 'x' and 30 times U+00E9: byte 40 is the first of a letter's two. */
	char kind[64] = "x";
	for (int i = 0; i < 30; i++)
		strcat(kind, "\xc3\xa9");
	char *kinds[] = {kind};
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribe sub = IPSNET__V1__SUBSCRIBE__INIT;
	assert_int_equal(h_tls_connect_hello(&c, port, certs, "ggz-test"), 0);
	sub.n_kinds = 1;
	sub.kinds = kinds;
	e.request_id = 9;
	e.body_case = BODY(SUBSCRIBE);
	e.subscribe = &sub;
	assert_int_equal(h_tls_send_envelope(&c, &e), 0);
	Ipsnet__V1__Envelope *r = h_tls_recv_envelope(&c, WAIT_MS);
	assert_non_null(r);
	assert_int_equal(r->request_id, 9);
	assert_non_null(r->status);
	assert_int_equal(r->status->code, CODE(INVALID_ARGUMENT));
	assert_non_null(strstr(r->status->message, "unknown entity kind 'x"));
	if (!utf8_valid(r->status->message))
		fail_msg("the refusal is not UTF-8: %s", r->status->message);
	h_envelope_free(r);
	h_tls_close(&c);
}

/* The daemon's count of live deliveries and their commit-to-send times (its
 * `stopped` line) hold only deliveries that sent something. Was: every
 * live subscriber of each fetch counted, also one that was sent nothing
 * (a municipality, for another GGZ's registration), at the moment its
 * empty turn ended: with subscribers that see little of the journal the
 * p50 and p99 said the daemon delivered sooner than it did (found by a
 * review). Here gm0363 follows alone while ggz-test registers three
 * clients, then NETWORK puts a program, the one entry it is sent. */
static void test_live_deliveries_count_only_what_was_sent(void **state)
{
	(void)state;
	struct h_daemon d;
	struct h_tls m;
	struct ipsnet_client *ours[N_ORGS];
	char conf[PATH_MAX];
	const char *d_dir = h_tmpdir();
	assert_non_null(d_dir);
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", d_dir);
	assert_int_equal(h_write_config(d_dir, certs, ""), 0);
	FILE *cf = fopen(conf, "a");
	assert_non_null(cf);
	fputs(extra_orgs, cf);
	assert_int_equal(fclose(cf), 0);
	assert_int_equal(h_daemon_start(&d, d_dir), 0);
	int our_port = port;
	memcpy(ours, conns, sizeof(ours));
	memset(conns, 0, sizeof(conns));
	port = d.port;
	assert_int_equal(connect_all(), 0);

	assert_int_equal(subscribe_as(&m, d.port, "gm0363", 0, NULL), 0);
	Ipsnet__V1__Envelope *e = h_tls_recv_envelope(&m, WAIT_MS);
	assert_non_null(e);
	assert_int_equal(e->body_case, BODY(CAUGHT_UP));
	h_envelope_free(e);
	for (int i = 0; i < 3; i++)
		register_client(GGZ_TEST, BENEFIT(NONE), NULL);
	uint64_t mark = put_program(NETWORK, "count-mark", "ggz-test", 0);
	/* Its event came: every live fetch before it is done. */
	e = h_tls_recv_envelope(&m, WAIT_MS);
	assert_non_null(e);
	assert_int_equal(e->body_case, BODY(EVENT));
	assert_int_equal(e->event->seq, mark);
	h_envelope_free(e);

	h_tls_close(&m);
	for (int o = 0; o < N_ORGS; o++)
		ipsnet_client_close(conns[o]);
	memcpy(conns, ours, sizeof(ours));
	port = our_port;
	assert_int_equal(h_daemon_stop(&d, SIGTERM), 0);
	char *log = h_read_file(d.log, NULL);
	assert_non_null(log);
	const char *at = strstr(log, "live_deliveries=");
	assert_non_null(at);
	unsigned long long n =
	    strtoull(at + strlen("live_deliveries="), NULL, 10);
	free(log);
	if (n != 1)
		fail_msg("live_deliveries=%llu, but one delivery went", n);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_usage_help_and_exit_codes),
	    cmocka_unit_test(
		test_each_organisation_receives_exactly_what_it_may_see),
	    cmocka_unit_test(
		test_sync_killed_while_catching_up_resumes_without_gap),
	    cmocka_unit_test(test_mirror_keeps_its_organisation_and_kinds),
	    cmocka_unit_test(test_a_mirror_that_cannot_be_written_exits_1),
	    cmocka_unit_test(
		test_a_mirror_of_some_kinds_takes_only_those_from_a_case),
	    cmocka_unit_test(
		test_mirrors_of_some_kinds_hold_what_new_ones_hold),
	    cmocka_unit_test(
		test_a_program_handed_over_brings_its_clients_along),
	    cmocka_unit_test(test_mirror_refuses_another_journal),
	    cmocka_unit_test(
		test_mirror_past_the_journal_without_a_hash_is_told_what_to_do),
	    cmocka_unit_test(test_watch_resumes_with_a_hash),
	    cmocka_unit_test(
		test_a_cut_event_hash_cannot_be_made_from_the_fields),
	    cmocka_unit_test(test_the_example_prints_where_to_resume),
	    cmocka_unit_test(
		test_a_case_the_server_was_busy_for_is_asked_again),
	    cmocka_unit_test(test_the_example_says_once_why_it_cannot_connect),
	    cmocka_unit_test(test_watch_whose_reader_went_ends_quietly),
	    cmocka_unit_test(test_watch_that_cannot_write_says_so_once),
	    cmocka_unit_test(test_mirror_at_the_head_learns_its_hash),
	    cmocka_unit_test(test_mirror_moved_on_by_an_older_ipsnet_resumes),
	    cmocka_unit_test(test_a_mirror_an_older_ipsnet_wrote_is_filled_in),
	    cmocka_unit_test(test_a_refill_reads_no_case_again),
	    cmocka_unit_test(
		test_rows_an_older_ipsnet_wrote_since_are_filled_in),
	    cmocka_unit_test(
		test_rows_an_older_ipsnet_changed_since_are_brought_up_to_date),
	    cmocka_unit_test(
		test_an_older_ipsnet_that_went_on_with_a_refill_is_noticed),
	    cmocka_unit_test(test_a_refill_checks_the_journal_it_was_made_from),
	    cmocka_unit_test(test_a_hash_where_the_live_fetch_ends_is_checked),
	    cmocka_unit_test(test_daemon_stops_after_a_live_fetch_in_flight),
	    cmocka_unit_test(
		test_a_subscriber_beyond_a_live_fetch_is_caught_up),
	    cmocka_unit_test(
		test_a_failed_live_fetch_leaves_no_subscriber_behind),
	    cmocka_unit_test(test_a_pile_of_commits_goes_live_a_page_at_a_time),
	    cmocka_unit_test(test_long_reads_run_nicer_than_the_others),
	    cmocka_unit_test(
		test_a_withdrawal_stops_a_live_delivery_judged_before_it),
	    cmocka_unit_test(
		test_a_withdrawal_stops_a_catch_up_page_judged_before_it),
	    cmocka_unit_test(
		test_a_delivery_is_audited_at_the_moment_it_was_judged),
	    cmocka_unit_test(test_a_withdrawal_stops_a_read_judged_before_it),
	    cmocka_unit_test(
		test_a_read_overtaken_too_often_is_refused_on_the_trail),
	    cmocka_unit_test(
		test_a_sighup_while_stopping_is_said_to_be_ignored),
	    cmocka_unit_test(test_two_imports_at_once_count_each_row_once),
	    cmocka_unit_test(test_a_sync_stopped_before_it_is_done_exits_1),
	    cmocka_unit_test(
		test_a_second_signal_while_stopping_changes_nothing),
	    cmocka_unit_test(
		test_a_live_fetch_without_memory_leaves_no_subscriber_behind),
	    cmocka_unit_test(
		test_a_follower_notices_a_server_that_stopped_answering),
	    cmocka_unit_test(
		test_a_follower_refused_for_too_many_connections_tries_again),
	    cmocka_unit_test(
		test_a_consent_given_again_brings_the_case_up_to_date),
	    cmocka_unit_test(
		test_deliveries_go_on_while_other_consents_are_withdrawn),
	    cmocka_unit_test(test_deliveries_are_in_the_audit_trail),
	    cmocka_unit_test(test_a_delivery_row_spans_no_entry_not_sent),
	    cmocka_unit_test(test_no_audit_no_delivery),
	    cmocka_unit_test(
		test_an_unknown_kind_is_refused_in_whole_characters),
	    cmocka_unit_test(test_live_deliveries_count_only_what_was_sent),
	    cmocka_unit_test(
		test_a_case_asked_for_but_not_answered_is_asked_again),
	    cmocka_unit_test(
		test_a_case_that_cannot_be_asked_for_holds_the_cursor),
	    cmocka_unit_test(
		test_watch_prints_free_text_without_control_characters),
	    cmocka_unit_test(test_a_subscription_is_not_idle),
	    cmocka_unit_test(
		test_many_live_subscribers_each_get_every_event_once),
	    cmocka_unit_test(test_stuck_subscribers_among_many_live_ones),
	    cmocka_unit_test(
		test_subscribers_that_never_read_keep_memory_bounded),
	    cmocka_unit_test(
		test_a_caught_up_subscriber_keeps_no_catch_up_buffer),
	    cmocka_unit_test(
		test_slow_subscriber_falls_back_and_gets_everything),
	    cmocka_unit_test(test_a_catch_up_says_how_far_it_read),
	    /* last: they restart the daemon */
	    cmocka_unit_test(test_daemon_stops_while_a_subscriber_catches_up),
	    cmocka_unit_test(
		test_a_following_refill_waits_for_the_server_to_check),
	    cmocka_unit_test(test_followers_resume_after_daemon_restart),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
