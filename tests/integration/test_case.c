/* Case coordination against the real ipsnetd, driven with libipsnet (DESIGN
 * §1-2, issue 5): the access matrix as one table, the state machines, stale
 * versions, the funder rule, consent withdrawal, the audit trail, and no
 * BSN, name or note in the daemon's log.
 *
 * One daemon serves the whole group; every test makes its own clients
 * (fresh BSNs), so the tests do not depend on each other's data. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "harness.h"
#include "ipsnet.h"
#include "ipsnet_errors.h"
#include "util.h"
#include "validate.h"

#define CODE(name) IPSNET__V1__CODE__##name
#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name
#define TS(name) IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_##name
#define FS(name) IPSNET__V1__FUNDING_STATUS__FUNDING_##name
#define BENEFIT(name) IPSNET__V1__BENEFIT__BENEFIT_##name

/* ---- the network of the test ------------------------------------------- */

enum org { GGZ_TEST, GGZ_OTHER, GM0363, GM0599, UWV, NETWORK, N_ORGS };

static const char *const org_ids[N_ORGS] = {
    "ggz-test", "ggz-other", "gm0363", "gm0599", "uwv", "network",
};

/* Beyond h_write_config's organisations: a second and a third GGZ (the
 * third has no connection of its own in conns) and a second municipality. */
static const char extra_orgs[] = "\n[organisation ggz-other]\n"
				 "kind = GGZ\n"
				 "name = GGZ Other\n"
				 "region = 2\n\n"
				 "[organisation ggz-third]\n"
				 "kind = GGZ\n"
				 "name = GGZ Third\n"
				 "region = 3\n\n"
				 "[organisation gm0599]\n"
				 "kind = MUNICIPALITY\n"
				 "name = Gemeente Rotterdam\n"
				 "region = 2\n"
				 "cbs_code = GM0599\n";

static const char *dir;
static const char *certs;
static struct h_daemon daemon_;
static struct ipsnet_client *conns[N_ORGS];

/* Every BSN, name and note the tests sent, to look for in the log. */
#define SECRETS_MAX 4096
static char *secrets[SECRETS_MAX];
static size_t n_secrets;

static void remember_secret(const char *s)
{
	if (n_secrets < SECRETS_MAX)
		secrets[n_secrets++] = strdup(s);
}

static int append_orgs(const char *conf)
{
	FILE *f = fopen(conf, "a");
	if (f == NULL)
		return -1;
	fputs(extra_orgs, f);
	return fclose(f) == 0 ? 0 : -1;
}

/* A connection of the organisation org as user case.tester. */
static struct ipsnet_client *connect_as(const char *org)
{
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	char err[256];
	struct ipsnet_client *c;
	snprintf(server, sizeof(server), "127.0.0.1:%d", daemon_.port);
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	snprintf(cert, sizeof(cert), "%s/%s.crt", certs, org);
	snprintf(key, sizeof(key), "%s/%s.key", certs, org);
	struct ipsnet_options opt = {
	    .server = server,
	    .ca = ca,
	    .cert = cert,
	    .key = key,
	    .user = "case.tester",
	    .timeout_ms = 10000,
	};
	if (ipsnet_client_open(&c, &opt, err, sizeof(err)) != 0) {
		fprintf(stderr, "cannot connect as %s: %s\n", org, err);
		h_daemon_dump_log(&daemon_);
		return NULL;
	}
	return c;
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
	    h_certs_script("org-cert.sh",
			   (const char *const[]){certs, "ggz-third", NULL}) ||
	    h_certs_script("org-cert.sh",
			   (const char *const[]){certs, "gm0599", NULL}) ||
	    h_write_config(dir, certs, "log_level = debug\n") != 0)
		return -1;
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", dir);
	if (append_orgs(conf) != 0 || h_daemon_start(&daemon_, dir) != 0)
		return -1;
	for (int o = 0; o < N_ORGS; o++)
		if ((conns[o] = connect_as(org_ids[o])) == NULL)
			return -1;
	return 0;
}

static int group_teardown(void **state)
{
	for (int o = 0; o < N_ORGS; o++)
		if (conns[o] != NULL)
			ipsnet_client_close(conns[o]);
	int status = h_daemon_stop(&daemon_, SIGTERM);
	for (size_t i = 0; i < n_secrets; i++)
		free(secrets[i]);
	h_cleanup();
	return status == 0 ? 0 : -1;
}

/* ---- calls ------------------------------------------------------------- */

/* The answer to one request. */
struct answer {
	int code;	   /* the wire status (CODE(OK), ...) */
	char message[256]; /* the server's sentence */
	uint64_t current_version;
	Ipsnet__V1__Envelope *env; /* the response; freed by answer_free */
};

static void answer_free(struct answer *a)
{
	if (a->env != NULL)
		ipsnet_envelope_free(a->env);
	memset(a, 0, sizeof(*a));
}

/* Sends req on c (of the organisation who); a change gets a fresh
 * idempotency key. */
static void call_on(struct ipsnet_client *c, const char *who,
		    Ipsnet__V1__Envelope *req, struct answer *a)
{
	uint8_t key[16];
	memset(a, 0, sizeof(*a));
	if (req->body_case >= 100 && req->body_case < 150) {
		assert_int_equal(ipsnet_new_idempotency_key(key), 0);
		req->idempotency_key.data = key;
		req->idempotency_key.len = sizeof(key);
	}
	int rv =
	    ipsnet_client_call(c, req, &a->env, a->message, sizeof(a->message));
	req->idempotency_key.data = NULL;
	req->idempotency_key.len = 0;
	if (a->env == NULL)
		fail_msg("%s: no answer (%s)", who, a->message);
	a->code = a->env->status != NULL ? (int)a->env->status->code : 0;
	if (a->env->status != NULL)
		a->current_version = a->env->status->current_version;
	if (rv == 0)
		a->message[0] = '\0';
}

/* Sends req as o. */
static void call(enum org o, Ipsnet__V1__Envelope *req, struct answer *a)
{
	call_on(conns[o], org_ids[o], req, a);
}

/* A change that must succeed: the new entity's id into id (may be NULL). */
static void must_change(enum org o, Ipsnet__V1__Envelope *req, char *id,
			size_t cap)
{
	struct answer a;
	call(o, req, &a);
	if (a.code != CODE(OK) || a.env->body_case != BODY(CHANGE_OK))
		fail_msg("%s: change %d refused: %s (%s)", org_ids[o],
			 req->body_case, ipsnet_status_name(a.code), a.message);
	if (id != NULL)
		snprintf(id, cap, "%s", a.env->change_ok->entity_id);
	answer_free(&a);
}

/* A valid BSN that no test used before (h_new_bsn), among the secrets the
 * log must not hold. */
static void new_bsn(char out[16])
{
	h_new_bsn(out, 0);
	remember_secret(out);
}

/* ---- changes ----------------------------------------------------------- */

static int register_client(enum org o, const char *bsn, const char *name,
			   int benefit, const char *municipality, char *id,
			   struct answer *out)
{
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	struct answer a;
	m.bsn = (char *)bsn;
	m.name = (char *)name;
	m.birth_date = "1985-04-12";
	m.municipality = (char *)municipality;
	m.benefit = benefit;
	e.body_case = BODY(REGISTER_CLIENT);
	e.register_client = &m;
	call(o, &e, &a);
	int code = a.code;
	if (code == CODE(OK) && id != NULL)
		snprintf(id, 64, "%s", a.env->change_ok->entity_id);
	if (out != NULL)
		*out = a;
	else
		answer_free(&a);
	return code;
}

static void new_client(enum org o, int benefit, const char *municipality,
		       char *id, char *bsn_out)
{
	static unsigned n = 0;
	char bsn[16], name[64];
	new_bsn(bsn);
	snprintf(name, sizeof(name), "Testpersoon Zeldzaam%u", ++n);
	remember_secret(name);
	if (register_client(o, bsn, name, benefit, municipality, id, NULL) !=
	    CODE(OK))
		fail_msg("%s could not register a client", org_ids[o]);
	if (bsn_out != NULL)
		snprintf(bsn_out, 16, "%s", bsn);
}

static void grant_consent(enum org o, const char *client, const char *recipient,
			  char *id, struct answer *a)
{
	Ipsnet__V1__GrantConsent m = IPSNET__V1__GRANT_CONSENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.client_id = (char *)client;
	m.recipient = (char *)recipient;
	m.purpose = "funding of the IPS trajectory";
	m.valid_until = "2099-12-31";
	e.body_case = BODY(GRANT_CONSENT);
	e.grant_consent = &m;
	if (a != NULL)
		call(o, &e, a);
	else
		must_change(o, &e, id, 64);
}

static void withdraw_consent(enum org o, const char *consent, uint64_t version,
			     struct answer *a)
{
	Ipsnet__V1__WithdrawConsent m = IPSNET__V1__WITHDRAW_CONSENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.consent_id = (char *)consent;
	m.expected_version = version;
	e.body_case = BODY(WITHDRAW_CONSENT);
	e.withdraw_consent = &m;
	if (a != NULL)
		call(o, &e, a);
	else
		must_change(o, &e, NULL, 0);
}

static void refer(enum org o, const char *client, const char *program, char *id,
		  struct answer *a)
{
	static unsigned n = 0;
	char note[80];
	Ipsnet__V1__Refer m = IPSNET__V1__REFER__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	snprintf(note, sizeof(note), "Klinische notitie geheim%u", ++n);
	remember_secret(note);
	m.client_id = (char *)client;
	m.program_id = (char *)program;
	m.note = note;
	e.body_case = BODY(REFER);
	e.refer = &m;
	if (a != NULL)
		call(o, &e, a);
	else
		must_change(o, &e, id, 64);
}

static void move(enum org o, const char *trajectory, uint64_t version, int to,
		 const char *on, const char *reason, struct answer *a)
{
	Ipsnet__V1__MoveTrajectory m = IPSNET__V1__MOVE_TRAJECTORY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.trajectory_id = (char *)trajectory;
	m.expected_version = version;
	m.to = to;
	m.on = (char *)(on != NULL ? on : "");
	m.reason = (char *)(reason != NULL ? reason : "");
	e.body_case = BODY(MOVE_TRAJECTORY);
	e.move_trajectory = &m;
	if (a != NULL)
		call(o, &e, a);
	else
		must_change(o, &e, NULL, 0);
}

static void request_funding(enum org o, const char *trajectory,
			    const char *funder, const char *other, char *id,
			    struct answer *a)
{
	Ipsnet__V1__RequestFunding m = IPSNET__V1__REQUEST_FUNDING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.trajectory_id = (char *)trajectory;
	m.funder = (char *)(funder != NULL ? funder : "");
	m.other_description = (char *)(other != NULL ? other : "");
	m.months = 12;
	e.body_case = BODY(REQUEST_FUNDING);
	e.request_funding = &m;
	if (a != NULL)
		call(o, &e, a);
	else
		must_change(o, &e, id, 64);
}

static void decide(enum org o, const char *funding, uint64_t version,
		   int decision, struct answer *a)
{
	Ipsnet__V1__DecideFunding m = IPSNET__V1__DECIDE_FUNDING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.funding_id = (char *)funding;
	m.expected_version = version;
	m.decision = decision;
	m.reference = "BESLUIT-2026-17";
	m.reason = "fits the policy";
	e.body_case = BODY(DECIDE_FUNDING);
	e.decide_funding = &m;
	if (a != NULL)
		call(o, &e, a);
	else
		must_change(o, &e, NULL, 0);
}

static void add_job(enum org o, const char *client, const char *trajectory,
		    char *id, struct answer *a)
{
	static unsigned n = 0;
	char employer[48];
	Ipsnet__V1__AddJob m = IPSNET__V1__ADD_JOB__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	/* Each one another job: the same one twice is refused. */
	snprintf(employer, sizeof(employer), "Bakkerij De Korf %u", ++n);
	m.client_id = (char *)client;
	m.trajectory_id = (char *)trajectory;
	m.employer = employer;
	m.start_date = "2026-01-05";
	m.hours_per_week = 16;
	m.competitive = true;
	e.body_case = BODY(ADD_JOB);
	e.add_job = &m;
	if (a != NULL)
		call(o, &e, a);
	else
		must_change(o, &e, id, 64);
}

/* Program id owned by owner, put by o against version (0: a new one). */
static void put_program_at(enum org o, const char *id, const char *owner,
			   uint64_t version)
{
	Ipsnet__V1__PutProgram m = IPSNET__V1__PUT_PROGRAM__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.program_id = (char *)id;
	m.expected_version = version;
	m.owner = (char *)owner;
	m.name = (char *)id;
	m.region = 1;
	m.specialists = 3;
	e.body_case = BODY(PUT_PROGRAM);
	e.put_program = &m;
	must_change(o, &e, NULL, 0);
}

static void put_program(enum org o, const char *id, const char *owner)
{
	put_program_at(o, id, owner, 0);
}

/* ---- reads ------------------------------------------------------------- */

static void show_case(enum org o, const char *client, struct answer *a)
{
	Ipsnet__V1__ShowCase m = IPSNET__V1__SHOW_CASE__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.client_id = (char *)client;
	e.body_case = BODY(SHOW_CASE);
	e.show_case = &m;
	call(o, &e, a);
}

static void find_client(enum org o, const char *bsn, struct answer *a)
{
	Ipsnet__V1__FindClient m = IPSNET__V1__FIND_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.bsn = (char *)bsn;
	e.body_case = BODY(FIND_CLIENT);
	e.find_client = &m;
	call(o, &e, a);
}

static void list_funding(enum org o, bool pending, struct answer *a)
{
	Ipsnet__V1__ListFunding m = IPSNET__V1__LIST_FUNDING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.pending_only = pending;
	e.body_case = BODY(LIST_FUNDING);
	e.list_funding = &m;
	call(o, &e, a);
}

static void audit_query(enum org o, const char *client, const char *since,
			uint32_t limit, struct answer *a)
{
	Ipsnet__V1__AuditQuery m = IPSNET__V1__AUDIT_QUERY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.client_id = (char *)(client != NULL ? client : "");
	m.since = (char *)(since != NULL ? since : "");
	m.limit = limit;
	e.body_case = BODY(AUDIT_QUERY);
	e.audit_query = &m;
	call(o, &e, a);
}

/* ---- cases ------------------------------------------------------------- */

/* How a case is made: who registered the client, its program, its benefit,
 * the funder asked (with the client's consent for it), a bystander funder
 * that has consent but no request, and whether the funder's consent was
 * withdrawn after the request. */
enum recipe {
	R_TEST,		      /* ggz-test's client, funded by gm0363 */
	R_OTHER,	      /* ggz-other's client, funded by gm0599 */
	R_TEST_WIA,	      /* ggz-test's client on WIA, funded by uwv */
	R_TEST_NOCONSENT,     /* as R_TEST, gm0363's consent withdrawn */
	R_TEST_WIA_NOCONSENT, /* as R_TEST_WIA, uwv's consent withdrawn */
	N_RECIPES
};

static const struct {
	enum org owner;
	const char *program, *spare_program;
	int benefit;
	const char *municipality, *funder, *bystander;
	bool withdraw;
} recipes[N_RECIPES] = {
    [R_TEST] = {GGZ_TEST, "ips-test", "ips-test-spare",
		BENEFIT(PARTICIPATIEWET), "GM0363", "gm0363", "uwv", false},
    [R_OTHER] = {GGZ_OTHER, "ips-other", "ips-other-spare",
		 BENEFIT(PARTICIPATIEWET), "GM0599", "gm0599", "uwv", false},
    [R_TEST_WIA] = {GGZ_TEST, "ips-test", "ips-test-spare", BENEFIT(WIA),
		    "GM0363", "uwv", "gm0363", false},
    [R_TEST_NOCONSENT] = {GGZ_TEST, "ips-test", "ips-test-spare",
			  BENEFIT(PARTICIPATIEWET), "GM0363", "gm0363", "uwv",
			  true},
    [R_TEST_WIA_NOCONSENT] = {GGZ_TEST, "ips-test", "ips-test-spare",
			      BENEFIT(WIA), "GM0363", "uwv", "gm0363", true},
};

struct kase {
	enum recipe recipe;
	char client[64], bsn[16];
	char consent[64], bystander_consent[64];
	char trajectory[64], funding[64], job[64];
};

static bool programs_made;

static void make_programs(void)
{
	if (programs_made)
		return;
	put_program(NETWORK, "ips-test", "ggz-test");
	put_program(NETWORK, "ips-test-spare", "ggz-test");
	put_program(GGZ_OTHER, "ips-other", "ggz-other");
	put_program(GGZ_OTHER, "ips-other-spare", "ggz-other");
	programs_made = true;
}

/* A fresh case made by recipe r: every entity at version 1. */
static void make_case(enum recipe r, struct kase *k)
{
	enum org owner = recipes[r].owner;
	make_programs();
	memset(k, 0, sizeof(*k));
	k->recipe = r;
	new_client(owner, recipes[r].benefit, recipes[r].municipality,
		   k->client, k->bsn);
	grant_consent(owner, k->client, recipes[r].funder, k->consent, NULL);
	grant_consent(owner, k->client, recipes[r].bystander,
		      k->bystander_consent, NULL);
	refer(owner, k->client, recipes[r].program, k->trajectory, NULL);
	request_funding(owner, k->trajectory, recipes[r].funder, NULL,
			k->funding, NULL);
	add_job(owner, k->client, k->trajectory, k->job, NULL);
	if (recipes[r].withdraw)
		withdraw_consent(owner, k->consent, 1, NULL);
}

/* ---- the access matrix ------------------------------------------------- */

enum action {
	A_SHOW_CASE,
	A_SEE_NOTE,	      /* show case; the referral note is in it */
	A_SEE_OTHERS_CONSENT, /* show case; a consent to another org is in it */
	A_FIND_CLIENT,
	A_LIST_FUNDING, /* the case's funding request is in the list */
	A_AUDIT_CLIENT,
	A_UPDATE_CLIENT,
	A_GRANT_CONSENT,
	A_WITHDRAW_CONSENT,
	A_REFER,
	A_ACCEPT,
	A_CANCEL,
	A_REQUEST_FUNDING,
	A_APPROVE_FUNDING,
	A_WITHDRAW_FUNDING,
	A_ADD_JOB,
	A_END_JOB,
	A_RECORD_FIDELITY,
	A_IMPORT_TRAJECTORY,
	N_ACTIONS
};

static const char *const action_names[N_ACTIONS] = {
    "show case",
    "see the note",
    "see others' consent",
    "find client",
    "list funding",
    "audit of client",
    "update client",
    "grant consent",
    "withdraw consent",
    "refer",
    "accept trajectory",
    "cancel trajectory",
    "request funding",
    "approve funding",
    "withdraw funding",
    "add job",
    "end job",
    "record fidelity",
    "import trajectory",
};

static bool is_read(enum action a)
{
	return a <= A_AUDIT_CLIENT;
}

/* Outcomes: a wire status, or for reads that answer OK what the answer
 * held back. */
enum {
	OUT_OK = CODE(OK),
	OUT_DENIED = CODE(PERMISSION_DENIED),
	OUT_NOT_FOUND = CODE(NOT_FOUND),
	OUT_CUT = 100,	  /* answered, but without the field asked about */
	OUT_ABSENT = 101, /* answered, but the case's request is not listed */
};

static const char *outcome_name(int x)
{
	switch (x) {
	case OUT_CUT:
		return "OK without it";
	case OUT_ABSENT:
		return "OK, not listed";
	default:
		return ipsnet_status_name(x);
	}
}

/* The case each organisation's row is tried on: its own case (for a funder:
 * addressed to it, with consent), someone else's case, and a case without
 * consent (addressed to the funder, consent withdrawn). */
enum which { OWN, ELSE, NOCONSENT };

static const enum recipe case_of[N_ORGS][3] = {
    [GGZ_TEST] = {R_TEST, R_OTHER, R_TEST_NOCONSENT},
    [GGZ_OTHER] = {R_OTHER, R_TEST, R_TEST_NOCONSENT},
    [GM0363] = {R_TEST, R_OTHER, R_TEST_NOCONSENT},
    [GM0599] = {R_OTHER, R_TEST, R_TEST_NOCONSENT},
    [UWV] = {R_TEST_WIA, R_TEST, R_TEST_WIA_NOCONSENT},
    [NETWORK] = {R_TEST, R_OTHER, R_TEST_NOCONSENT},
};

#define O OUT_OK
#define D OUT_DENIED
#define N OUT_NOT_FOUND
#define C OUT_CUT
#define A OUT_ABSENT

/* DESIGN §1 as expectations: organisation x action x {own case, someone
 * else's case, case without consent}. */
static const struct {
	enum org org;
	enum action action;
	int expect[3];
} matrix[] = {
    /* A GGZ: everything of its own clients, nothing of others'. Consent
     * does not matter to the GGZ's own view. Only funders decide. */
    {GGZ_TEST, A_SHOW_CASE, {O, D, O}},
    {GGZ_TEST, A_SEE_NOTE, {O, D, O}},
    {GGZ_TEST, A_SEE_OTHERS_CONSENT, {O, D, O}},
    {GGZ_TEST, A_FIND_CLIENT, {O, N, O}},
    {GGZ_TEST, A_LIST_FUNDING, {O, A, O}},
    {GGZ_TEST, A_AUDIT_CLIENT, {O, D, O}},
    {GGZ_TEST, A_UPDATE_CLIENT, {O, D, O}},
    {GGZ_TEST, A_GRANT_CONSENT, {O, D, O}},
    {GGZ_TEST, A_WITHDRAW_CONSENT, {O, D, O}},
    {GGZ_TEST, A_REFER, {O, D, O}},
    {GGZ_TEST, A_ACCEPT, {O, D, O}},
    {GGZ_TEST, A_CANCEL, {O, D, O}},
    {GGZ_TEST, A_REQUEST_FUNDING, {O, D, O}},
    {GGZ_TEST, A_APPROVE_FUNDING, {D, D, D}},
    {GGZ_TEST, A_WITHDRAW_FUNDING, {O, D, O}},
    {GGZ_TEST, A_ADD_JOB, {O, D, O}},
    {GGZ_TEST, A_END_JOB, {O, D, O}},
    {GGZ_TEST, A_RECORD_FIDELITY, {O, D, O}},
    {GGZ_TEST, A_IMPORT_TRAJECTORY, {O, D, O}},
    /* Another GGZ: the case without consent is ggz-test's, not its own. */
    {GGZ_OTHER, A_SHOW_CASE, {O, D, D}},
    {GGZ_OTHER, A_SEE_NOTE, {O, D, D}},
    {GGZ_OTHER, A_SEE_OTHERS_CONSENT, {O, D, D}},
    {GGZ_OTHER, A_FIND_CLIENT, {O, N, N}},
    {GGZ_OTHER, A_LIST_FUNDING, {O, A, A}},
    {GGZ_OTHER, A_AUDIT_CLIENT, {O, D, D}},
    {GGZ_OTHER, A_UPDATE_CLIENT, {O, D, D}},
    {GGZ_OTHER, A_GRANT_CONSENT, {O, D, D}},
    {GGZ_OTHER, A_WITHDRAW_CONSENT, {O, D, D}},
    {GGZ_OTHER, A_REFER, {O, D, D}},
    {GGZ_OTHER, A_ACCEPT, {O, D, D}},
    {GGZ_OTHER, A_CANCEL, {O, D, D}},
    {GGZ_OTHER, A_REQUEST_FUNDING, {O, D, D}},
    {GGZ_OTHER, A_APPROVE_FUNDING, {D, D, D}},
    {GGZ_OTHER, A_WITHDRAW_FUNDING, {O, D, D}},
    {GGZ_OTHER, A_ADD_JOB, {O, D, D}},
    {GGZ_OTHER, A_END_JOB, {O, D, D}},
    {GGZ_OTHER, A_RECORD_FIDELITY, {O, D, D}},
    {GGZ_OTHER, A_IMPORT_TRAJECTORY, {O, D, D}},
    /* A municipality, addressed (own), not addressed (else), addressed
     * without consent: identity, status and jobs of its own case only,
     * never the note nor consents to others; it approves, nothing more. */
    {GM0363, A_SHOW_CASE, {O, D, D}},
    {GM0363, A_SEE_NOTE, {C, D, D}},
    {GM0363, A_SEE_OTHERS_CONSENT, {C, D, D}},
    {GM0363, A_FIND_CLIENT, {D, D, D}},
    {GM0363, A_LIST_FUNDING, {O, A, A}},
    {GM0363, A_AUDIT_CLIENT, {D, D, D}},
    {GM0363, A_UPDATE_CLIENT, {D, D, D}},
    {GM0363, A_GRANT_CONSENT, {D, D, D}},
    {GM0363, A_WITHDRAW_CONSENT, {D, D, D}},
    {GM0363, A_REFER, {D, D, D}},
    {GM0363, A_ACCEPT, {D, D, D}},
    {GM0363, A_CANCEL, {D, D, D}},
    {GM0363, A_REQUEST_FUNDING, {D, D, D}},
    {GM0363, A_APPROVE_FUNDING, {O, D, D}},
    {GM0363, A_WITHDRAW_FUNDING, {D, D, D}},
    {GM0363, A_ADD_JOB, {D, D, D}},
    {GM0363, A_END_JOB, {D, D, D}},
    {GM0363, A_RECORD_FIDELITY, {D, D, D}},
    {GM0363, A_IMPORT_TRAJECTORY, {D, D, D}},
    /* The other municipality: ggz-test's cases are not addressed to it. */
    {GM0599, A_SHOW_CASE, {O, D, D}},
    {GM0599, A_SEE_NOTE, {C, D, D}},
    {GM0599, A_SEE_OTHERS_CONSENT, {C, D, D}},
    {GM0599, A_FIND_CLIENT, {D, D, D}},
    {GM0599, A_LIST_FUNDING, {O, A, A}},
    {GM0599, A_AUDIT_CLIENT, {D, D, D}},
    {GM0599, A_UPDATE_CLIENT, {D, D, D}},
    {GM0599, A_GRANT_CONSENT, {D, D, D}},
    {GM0599, A_WITHDRAW_CONSENT, {D, D, D}},
    {GM0599, A_REFER, {D, D, D}},
    {GM0599, A_ACCEPT, {D, D, D}},
    {GM0599, A_CANCEL, {D, D, D}},
    {GM0599, A_REQUEST_FUNDING, {D, D, D}},
    {GM0599, A_APPROVE_FUNDING, {O, D, D}},
    {GM0599, A_WITHDRAW_FUNDING, {D, D, D}},
    {GM0599, A_ADD_JOB, {D, D, D}},
    {GM0599, A_END_JOB, {D, D, D}},
    {GM0599, A_RECORD_FIDELITY, {D, D, D}},
    {GM0599, A_IMPORT_TRAJECTORY, {D, D, D}},
    /* UWV: the same rule as a municipality. Its "else" case has consent
     * for it but no request addressed to it. */
    {UWV, A_SHOW_CASE, {O, D, D}},
    {UWV, A_SEE_NOTE, {C, D, D}},
    {UWV, A_SEE_OTHERS_CONSENT, {C, D, D}},
    {UWV, A_FIND_CLIENT, {D, D, D}},
    {UWV, A_LIST_FUNDING, {O, A, A}},
    {UWV, A_AUDIT_CLIENT, {D, D, D}},
    {UWV, A_UPDATE_CLIENT, {D, D, D}},
    {UWV, A_GRANT_CONSENT, {D, D, D}},
    {UWV, A_WITHDRAW_CONSENT, {D, D, D}},
    {UWV, A_REFER, {D, D, D}},
    {UWV, A_ACCEPT, {D, D, D}},
    {UWV, A_CANCEL, {D, D, D}},
    {UWV, A_REQUEST_FUNDING, {D, D, D}},
    {UWV, A_APPROVE_FUNDING, {O, D, D}},
    {UWV, A_WITHDRAW_FUNDING, {D, D, D}},
    {UWV, A_ADD_JOB, {D, D, D}},
    {UWV, A_END_JOB, {D, D, D}},
    {UWV, A_RECORD_FIDELITY, {D, D, D}},
    {UWV, A_IMPORT_TRAJECTORY, {D, D, D}},
    /* NETWORK: aggregates only; it reads the audit trail and records
     * independent fidelity reviews. */
    {NETWORK, A_SHOW_CASE, {D, D, D}},
    {NETWORK, A_SEE_NOTE, {D, D, D}},
    {NETWORK, A_SEE_OTHERS_CONSENT, {D, D, D}},
    {NETWORK, A_FIND_CLIENT, {D, D, D}},
    {NETWORK, A_LIST_FUNDING, {D, D, D}},
    {NETWORK, A_AUDIT_CLIENT, {O, O, O}},
    {NETWORK, A_UPDATE_CLIENT, {D, D, D}},
    {NETWORK, A_GRANT_CONSENT, {D, D, D}},
    {NETWORK, A_WITHDRAW_CONSENT, {D, D, D}},
    {NETWORK, A_REFER, {D, D, D}},
    {NETWORK, A_ACCEPT, {D, D, D}},
    {NETWORK, A_CANCEL, {D, D, D}},
    {NETWORK, A_REQUEST_FUNDING, {D, D, D}},
    {NETWORK, A_APPROVE_FUNDING, {D, D, D}},
    {NETWORK, A_WITHDRAW_FUNDING, {D, D, D}},
    {NETWORK, A_ADD_JOB, {D, D, D}},
    {NETWORK, A_END_JOB, {D, D, D}},
    {NETWORK, A_RECORD_FIDELITY, {O, O, O}},
    {NETWORK, A_IMPORT_TRAJECTORY, {D, D, D}},
};

#undef O
#undef D
#undef N
#undef C
#undef A

/* Does action as o on case k; returns the outcome. */
static int try_action(enum org o, enum action act, const struct kase *k,
		      char *message, size_t cap)
{
	const char *me = org_ids[o];
	struct answer a = {0};
	int x = -1;

	switch (act) {
	case A_SHOW_CASE:
	case A_SEE_NOTE:
	case A_SEE_OTHERS_CONSENT:
		show_case(o, k->client, &a);
		x = a.code;
		if (x != OUT_OK)
			break;
		if (a.env->body_case != BODY(CASE_VIEW))
			fail_msg("show case answered without a CaseView");
		const Ipsnet__V1__CaseView *cv = a.env->case_view;
		if (strcmp(cv->client->bsn, k->bsn) != 0)
			fail_msg("show case answered another client");
		if (act == A_SEE_NOTE) {
			x = OUT_CUT;
			for (size_t i = 0; i < cv->n_trajectories; i++)
				if (cv->trajectories[i]->note[0] != '\0')
					x = OUT_OK;
		} else if (act == A_SEE_OTHERS_CONSENT) {
			x = OUT_CUT;
			for (size_t i = 0; i < cv->n_consents; i++)
				if (strcmp(cv->consents[i]->recipient, me) != 0)
					x = OUT_OK;
		}
		break;
	case A_FIND_CLIENT:
		find_client(o, k->bsn, &a);
		x = a.code;
		if (x == OUT_OK &&
		    strcmp(a.env->case_view->client->id, k->client) != 0)
			fail_msg("find client found another client");
		break;
	case A_LIST_FUNDING:
		list_funding(o, true, &a);
		x = a.code;
		if (x != OUT_OK)
			break;
		x = OUT_ABSENT;
		for (size_t i = 0; i < a.env->funding_list->n_fundings; i++)
			if (strcmp(a.env->funding_list->fundings[i]->id,
				   k->funding) == 0)
				x = OUT_OK;
		break;
	case A_AUDIT_CLIENT:
		audit_query(o, k->client, NULL, 10, &a);
		x = a.code;
		break;
	case A_UPDATE_CLIENT: {
		Ipsnet__V1__UpdateClient m = IPSNET__V1__UPDATE_CLIENT__INIT;
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
		m.client_id = (char *)k->client;
		m.expected_version = 1;
		m.benefit = BENEFIT(OTHER);
		e.body_case = BODY(UPDATE_CLIENT);
		e.update_client = &m;
		call(o, &e, &a);
		x = a.code;
		break;
	}
	case A_GRANT_CONSENT:
		grant_consent(o, k->client, recipes[k->recipe].bystander, NULL,
			      &a);
		x = a.code;
		break;
	case A_WITHDRAW_CONSENT:
		withdraw_consent(o, k->bystander_consent, 1, &a);
		x = a.code;
		break;
	case A_REFER:
		refer(o, k->client, recipes[k->recipe].spare_program, NULL, &a);
		x = a.code;
		break;
	case A_ACCEPT:
		move(o, k->trajectory, 1, TS(ACCEPTED), NULL, NULL, &a);
		x = a.code;
		break;
	case A_CANCEL:
		move(o, k->trajectory, 1, TS(CANCELLED), NULL, NULL, &a);
		x = a.code;
		break;
	case A_REQUEST_FUNDING:
		request_funding(o, k->trajectory, NULL, "own budget of the GGZ",
				NULL, &a);
		x = a.code;
		break;
	case A_APPROVE_FUNDING:
		decide(o, k->funding, 1, FS(APPROVED), &a);
		x = a.code;
		break;
	case A_WITHDRAW_FUNDING:
		decide(o, k->funding, 1, FS(WITHDRAWN), &a);
		x = a.code;
		break;
	case A_ADD_JOB:
		add_job(o, k->client, NULL, NULL, &a);
		x = a.code;
		break;
	case A_END_JOB: {
		Ipsnet__V1__EndJob m = IPSNET__V1__END_JOB__INIT;
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
		m.job_id = (char *)k->job;
		m.expected_version = 1;
		e.body_case = BODY(END_JOB);
		e.end_job = &m;
		call(o, &e, &a);
		x = a.code;
		break;
	}
	case A_RECORD_FIDELITY: {
		Ipsnet__V1__RecordFidelity m =
		    IPSNET__V1__RECORD_FIDELITY__INIT;
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
		uint32_t scores[25];
		for (int i = 0; i < 25; i++)
			scores[i] = 4;
		m.program_id = (char *)recipes[k->recipe].program;
		m.scores = scores;
		m.n_scores = 25;
		e.body_case = BODY(RECORD_FIDELITY);
		e.record_fidelity = &m;
		call(o, &e, &a);
		x = a.code;
		break;
	}
	case A_IMPORT_TRAJECTORY: {
		Ipsnet__V1__ImportTrajectory m =
		    IPSNET__V1__IMPORT_TRAJECTORY__INIT;
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__TrajectoryStep s1 =
		    IPSNET__V1__TRAJECTORY_STEP__INIT;
		Ipsnet__V1__TrajectoryStep s2 =
		    IPSNET__V1__TRAJECTORY_STEP__INIT;
		Ipsnet__V1__TrajectoryStep *steps[] = {&s1, &s2};
		s1.status = TS(REFERRED);
		s1.on = "2025-02-01";
		s2.status = TS(ACCEPTED);
		s2.on = "2025-02-10";
		m.client_id = (char *)k->client;
		m.program_id = (char *)recipes[k->recipe].spare_program;
		m.steps = steps;
		m.n_steps = 2;
		e.body_case = BODY(IMPORT_TRAJECTORY);
		e.import_trajectory = &m;
		call(o, &e, &a);
		x = a.code;
		break;
	}
	default:
		fail_msg("no such action");
	}
	snprintf(message, cap, "%s", a.message);
	answer_free(&a);
	return x;
}

static void test_access_matrix(void **state)
{
	struct kase shared[N_RECIPES];
	bool have_shared[N_RECIPES] = {false};
	int failures = 0, rows = 0;

	for (size_t i = 0; i < ARRAY_SIZE(matrix); i++) {
		for (int w = OWN; w <= NOCONSENT; w++) {
			enum recipe r = case_of[matrix[i].org][w];
			struct kase fresh, *k = &fresh;
			char message[256];
			/* Reads change nothing: one case per recipe serves
			 * them all; every change gets a case of its own. */
			if (is_read(matrix[i].action)) {
				if (!have_shared[r]) {
					make_case(r, &shared[r]);
					have_shared[r] = true;
				}
				k = &shared[r];
			} else {
				make_case(r, &fresh);
			}
			int got = try_action(matrix[i].org, matrix[i].action, k,
					     message, sizeof(message));
			int want = matrix[i].expect[w];
			rows++;
			if (got != want) {
				failures++;
				fprintf(stderr,
					"%s x %s x %s: expected %s, got %s "
					"(%s)\n",
					org_ids[matrix[i].org],
					action_names[matrix[i].action],
					w == OWN    ? "own case"
					: w == ELSE ? "someone else's case"
						    : "case without consent",
					outcome_name(want), outcome_name(got),
					message);
			}
		}
	}
	fprintf(stderr, "access matrix: %d rows, %d wrong\n", rows, failures);
	assert_int_equal(failures, 0);
	/* Every organisation kind and every action is in the table. */
	for (int o = 0; o < N_ORGS; o++)
		for (int a = 0; a < N_ACTIONS; a++) {
			bool found = false;
			for (size_t i = 0; i < ARRAY_SIZE(matrix); i++)
				found |= matrix[i].org == (enum org)o &&
					 matrix[i].action == (enum action)a;
			if (!found)
				fail_msg("the matrix has no row for %s x %s",
					 org_ids[o], action_names[a]);
		}
}

/* ---- refusals ---------------------------------------------------------- */

/* The same code and sentence for a client that exists and for one that
 * does not: a refusal reveals nothing it protects. */
static void assert_same_refusal(enum org o, const char *existing,
				const char *want_words)
{
	struct answer a, b;
	show_case(o, existing, &a);
	show_case(o, "cl-00000000deadbeef", &b);
	if (a.code != CODE(PERMISSION_DENIED) || b.code != a.code ||
	    strcmp(a.message, b.message) != 0)
		fail_msg("%s: existing client: %s (%s); no such client: %s "
			 "(%s)",
			 org_ids[o], ipsnet_status_name(a.code), a.message,
			 ipsnet_status_name(b.code), b.message);
	if (strstr(a.message, want_words) == NULL)
		fail_msg("%s: the refusal '%s' does not say '%s'", org_ids[o],
			 a.message, want_words);
	answer_free(&a);
	answer_free(&b);
}

static void test_refusal_says_why_and_hides_existence(void **state)
{
	struct kase test, other, noconsent;
	struct answer a, b;

	make_case(R_TEST, &test);
	make_case(R_OTHER, &other);
	make_case(R_TEST_NOCONSENT, &noconsent);
	assert_same_refusal(GGZ_OTHER, test.client, "not your client");
	assert_same_refusal(GM0363, other.client, "not the addressed funder");
	assert_same_refusal(UWV, test.client, "not the addressed funder");
	assert_same_refusal(NETWORK, test.client, "aggregates only");

	/* Addressed, but the consent was withdrawn: it knows the client
	 * from the request, and is told why it may not look. */
	show_case(GM0363, noconsent.client, &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	assert_non_null(strstr(a.message, "no consent"));
	answer_free(&a);

	/* Deciding on a request that is not its own, or that does not
	 * exist: one answer. */
	decide(GM0599, test.funding, 1, FS(APPROVED), &a);
	decide(GM0599, "fu-00000000deadbeef", 1, FS(APPROVED), &b);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	assert_int_equal(b.code, a.code);
	assert_string_equal(a.message, b.message);
	answer_free(&a);
	answer_free(&b);
}

/* ---- state machines ---------------------------------------------------- */

/* The steps that lead from REFERRED to each state. */
static const int paths[8][5] = {
    [TS(REFERRED)] = {TS(REFERRED)},
    [TS(ACCEPTED)] = {TS(REFERRED), TS(ACCEPTED)},
    [TS(DECLINED)] = {TS(REFERRED), TS(DECLINED)},
    [TS(ACTIVE)] = {TS(REFERRED), TS(ACCEPTED), TS(ACTIVE)},
    [TS(ON_HOLD)] = {TS(REFERRED), TS(ACCEPTED), TS(ACTIVE), TS(ON_HOLD)},
    [TS(CLOSED)] = {TS(REFERRED), TS(ACCEPTED), TS(ACTIVE), TS(CLOSED)},
    [TS(CANCELLED)] = {TS(REFERRED), TS(CANCELLED)},
};

static const char *const state_names[8] = {
    "unknown", "referred", "accepted", "declined",
    "active",  "on hold",  "closed",   "cancelled",
};

/* DESIGN §2, written out again here, independently of the daemon. */
static bool allowed(int from, int to)
{
	switch (from) {
	case TS(REFERRED):
		return to == TS(ACCEPTED) || to == TS(DECLINED) ||
		       to == TS(CANCELLED);
	case TS(ACCEPTED):
		return to == TS(ACTIVE) || to == TS(CANCELLED);
	case TS(ACTIVE):
		return to == TS(ON_HOLD) || to == TS(CLOSED);
	case TS(ON_HOLD):
		return to == TS(ACTIVE) || to == TS(CLOSED);
	default:
		return false;
	}
}

/* Imports a trajectory of client into ips-test that went through steps
 * (dated a day apart from 2025-03-01); returns the answer's code. */
static int import(enum org o, const char *client, const int *steps, size_t n,
		  const char **dates, const char *reason, char *id)
{
	Ipsnet__V1__ImportTrajectory m = IPSNET__V1__IMPORT_TRAJECTORY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__TrajectoryStep s[8], *ps[8];
	char on[8][16];
	struct answer a;
	for (size_t i = 0; i < n; i++) {
		ipsnet__v1__trajectory_step__init(&s[i]);
		s[i].status = steps[i];
		snprintf(on[i], sizeof(on[i]), "2025-03-%02zu", i + 1);
		s[i].on = dates != NULL ? (char *)dates[i] : on[i];
		ps[i] = &s[i];
	}
	m.client_id = (char *)client;
	m.program_id = "ips-test";
	m.note = "Klinische notitie import";
	static bool remembered;
	if (!remembered)
		remember_secret(m.note);
	remembered = true;
	m.steps = ps;
	m.n_steps = n;
	m.close_reason = (char *)(reason != NULL ? reason : "");
	e.body_case = BODY(IMPORT_TRAJECTORY);
	e.import_trajectory = &m;
	call(o, &e, &a);
	int code = a.code;
	if (code == CODE(OK) && id != NULL)
		snprintf(id, 64, "%s", a.env->change_ok->entity_id);
	if (code != CODE(OK) && id != NULL)
		snprintf(id, 64, "%s", a.message);
	answer_free(&a);
	return code;
}

static size_t path_len(int state)
{
	size_t n = 0;
	while (n < 5 && paths[state][n] != 0)
		n++;
	return n;
}

static void test_trajectory_state_machine(void **state)
{
	int wrong = 0;
	make_programs();
	for (int from = TS(REFERRED); from <= TS(CANCELLED); from++) {
		for (int to = TS(REFERRED); to <= TS(CANCELLED); to++) {
			char client[64], tr[64];
			struct answer a;
			new_client(GGZ_TEST, BENEFIT(WW), "GM0363", client,
				   NULL);
			if (import(GGZ_TEST, client, paths[from],
				   path_len(from), NULL,
				   from == TS(CLOSED) ? "found work" : NULL,
				   tr) != CODE(OK))
				fail_msg("import to %s: %s", state_names[from],
					 tr);
			move(GGZ_TEST, tr, 1, to, "2025-04-01",
			     to == TS(CLOSED) ? "found work" : NULL, &a);
			int want = allowed(from, to)
				       ? CODE(OK)
				       : CODE(FAILED_PRECONDITION);
			if (a.code != want ||
			    (want != CODE(OK) &&
			     (strstr(a.message, state_names[from]) == NULL ||
			      strstr(a.message, state_names[to]) == NULL))) {
				wrong++;
				fprintf(stderr,
					"%s -> %s: expected %s, got %s "
					"(%s)\n",
					state_names[from], state_names[to],
					ipsnet_status_name(want),
					ipsnet_status_name(a.code), a.message);
			}
			answer_free(&a);
		}
	}
	assert_int_equal(wrong, 0);
}

/* Each move records its date in its column and as a step. */
static void test_trajectory_dates_and_steps(void **state)
{
	char client[64], tr[64], db_path[PATH_MAX];
	struct answer a;
	sqlite3 *db;
	sqlite3_stmt *st;

	const int referred[] = {TS(REFERRED)};
	const char *first[] = {"2025-01-01"};

	make_programs();
	new_client(GGZ_TEST, BENEFIT(WW), "GM0363", client, NULL);
	assert_int_equal(import(GGZ_TEST, client, referred, 1, first, NULL, tr),
			 CODE(OK));
	move(GGZ_TEST, tr, 1, TS(ACCEPTED), "2025-01-02", NULL, NULL);
	move(GGZ_TEST, tr, 2, TS(ACTIVE), "2025-01-03", NULL, NULL);
	move(GGZ_TEST, tr, 3, TS(ON_HOLD), "2025-01-04", NULL, NULL);
	/* Dates never go back, nor into the future. */
	move(GGZ_TEST, tr, 4, TS(ACTIVE), "2025-01-01", NULL, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);
	move(GGZ_TEST, tr, 4, TS(ACTIVE), "2199-01-01", NULL, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);
	move(GGZ_TEST, tr, 4, TS(ACTIVE), "2025-01-05", NULL, NULL);
	/* Closing needs a reason. */
	move(GGZ_TEST, tr, 5, TS(CLOSED), "2025-01-06", NULL, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);
	move(GGZ_TEST, tr, 5, TS(CLOSED), "2025-01-06", "found work", &a);
	assert_int_equal(a.code, CODE(OK));
	const Ipsnet__V1__Trajectory *t = a.env->change_ok->trajectory;
	assert_int_equal(t->version, 6);
	assert_int_equal(t->status, TS(CLOSED));
	assert_string_equal(t->referred_on, "2025-01-01");
	assert_string_equal(t->accepted_on, "2025-01-02");
	assert_string_equal(t->started_on, "2025-01-03");
	assert_string_equal(t->held_on, "2025-01-04");
	assert_string_equal(t->resumed_on, "2025-01-05");
	assert_string_equal(t->closed_on, "2025-01-06");
	assert_string_equal(t->close_reason, "found work");
	answer_free(&a);

	snprintf(db_path, sizeof(db_path), "%s/ipsnet.db", dir);
	assert_int_equal(
	    sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT group_concat(status || "
					    "'@' || on_date, ' ') FROM (SELECT "
					    "* FROM trajectory_event WHERE "
					    "trajectory_id = ?1 ORDER BY seq)",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, tr, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	const char *events = (const char *)sqlite3_column_text(st, 0);
	assert_string_equal(events, "1@2025-01-01 2@2025-01-02 4@2025-01-03 "
				    "5@2025-01-04 4@2025-01-05 6@2025-01-06");
	sqlite3_finalize(st);
	sqlite3_close(db);
}

static void test_import_checks_every_step(void **state)
{
	char client[64], msg[64];
	const int skips[] = {TS(REFERRED), TS(ACTIVE)};
	const int fine[] = {TS(REFERRED), TS(ACCEPTED), TS(ACTIVE)};
	const int late[] = {TS(ACCEPTED), TS(ACTIVE)};
	const char *backwards[] = {"2025-05-02", "2025-05-01", "2025-05-03"};

	make_programs();
	new_client(GGZ_TEST, BENEFIT(WW), "GM0363", client, NULL);
	assert_int_equal(import(GGZ_TEST, client, skips, 2, NULL, NULL, msg),
			 CODE(FAILED_PRECONDITION));
	assert_int_equal(import(GGZ_TEST, client, late, 2, NULL, NULL, msg),
			 CODE(INVALID_ARGUMENT));
	assert_int_equal(
	    import(GGZ_TEST, client, fine, 3, backwards, NULL, msg),
	    CODE(INVALID_ARGUMENT));
	/* A close reason goes only with CLOSED. */
	assert_int_equal(
	    import(GGZ_TEST, client, fine, 3, NULL, "found work", msg),
	    CODE(INVALID_ARGUMENT));
	assert_int_equal(import(GGZ_TEST, client, fine, 3, NULL, NULL, msg),
			 CODE(OK));
	/* One open trajectory per client and program. */
	assert_int_equal(import(GGZ_TEST, client, fine, 3, NULL, NULL, msg),
			 CODE(FAILED_PRECONDITION));
}

/* An imported trajectory is not referred before the client was born
 * (1985-04-12): a year typed wrong placed her enrolment in the reports of
 * the years before it. */
static void test_no_import_before_the_client_was_born(void **state)
{
	char client[64], msg[64];
	const int fine[] = {TS(REFERRED), TS(ACCEPTED), TS(ACTIVE)};
	const char *early[] = {"1958-03-01", "1958-03-02", "2025-03-03"};
	const char *eve[] = {"1985-04-11", "2025-03-02", "2025-03-03"};

	make_programs();
	new_client(GGZ_TEST, BENEFIT(WW), "GM0363", client, NULL);
	assert_int_equal(import(GGZ_TEST, client, fine, 3, early, NULL, msg),
			 CODE(INVALID_ARGUMENT));
	assert_non_null(strstr(msg, "birth date"));
	assert_int_equal(import(GGZ_TEST, client, fine, 3, eve, NULL, msg),
			 CODE(INVALID_ARGUMENT));
	assert_int_equal(import(GGZ_TEST, client, fine, 3, NULL, NULL, msg),
			 CODE(OK));
}

static void test_funding_state_machine(void **state)
{
	static const int decisions[] = {FS(APPROVED), FS(REJECTED),
					FS(WITHDRAWN)};
	struct kase k;
	struct answer a;

	/* From REQUESTED each decision is allowed once; after it, none. */
	for (size_t i = 0; i < ARRAY_SIZE(decisions); i++) {
		make_case(R_TEST, &k);
		enum org who =
		    decisions[i] == FS(WITHDRAWN) ? GGZ_TEST : GM0363;
		decide(who, k.funding, 1, decisions[i], &a);
		assert_int_equal(a.code, CODE(OK));
		assert_int_equal(a.env->change_ok->funding->status,
				 decisions[i]);
		assert_int_equal(a.env->change_ok->version, 2);
		answer_free(&a);
		for (size_t j = 0; j < ARRAY_SIZE(decisions); j++) {
			enum org by =
			    decisions[j] == FS(WITHDRAWN) ? GGZ_TEST : GM0363;
			decide(by, k.funding, 2, decisions[j], &a);
			if (a.code != CODE(FAILED_PRECONDITION))
				fail_msg("decided twice: %s (%s)",
					 ipsnet_status_name(a.code), a.message);
			answer_free(&a);
		}
	}
	/* REQUESTED is no decision. */
	make_case(R_TEST, &k);
	decide(GM0363, k.funding, 1, FS(REQUESTED), &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);
}

/* ---- versions ---------------------------------------------------------- */

static void test_stale_version_is_a_conflict(void **state)
{
	Ipsnet__V1__UpdateClient m = IPSNET__V1__UPDATE_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	struct kase k;
	struct answer a;

	make_case(R_TEST, &k);
	m.client_id = k.client;
	m.expected_version = 1;
	m.municipality = "GM0363";
	e.body_case = BODY(UPDATE_CLIENT);
	e.update_client = &m;
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_int_equal(a.env->change_ok->version, 2);
	answer_free(&a);
	/* The same change against version 1 again: CONFLICT, and the
	 * current version. */
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(CONFLICT));
	assert_int_equal(a.current_version, 2);
	answer_free(&a);

	move(GGZ_TEST, k.trajectory, 1, TS(ACCEPTED), NULL, NULL, NULL);
	move(GGZ_TEST, k.trajectory, 1, TS(ACTIVE), NULL, NULL, &a);
	assert_int_equal(a.code, CODE(CONFLICT));
	assert_int_equal(a.current_version, 2);
	answer_free(&a);

	decide(GM0363, k.funding, 7, FS(APPROVED), &a);
	assert_int_equal(a.code, CODE(CONFLICT));
	assert_int_equal(a.current_version, 1);
	answer_free(&a);

	withdraw_consent(GGZ_TEST, k.consent, 3, &a);
	assert_int_equal(a.code, CODE(CONFLICT));
	assert_int_equal(a.current_version, 1);
	answer_free(&a);
}

/* Whether a and b, two messages of one type, pack to the same bytes. */
static bool same_message(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
	size_t na = protobuf_c_message_get_packed_size(a);
	size_t nb = protobuf_c_message_get_packed_size(b);
	uint8_t *pa = malloc(na + 1), *pb = malloc(nb + 1);
	assert_non_null(pa);
	assert_non_null(pb);
	protobuf_c_message_pack(a, pa);
	protobuf_c_message_pack(b, pb);
	bool same = na == nb && memcmp(pa, pb, na) == 0;
	free(pa);
	free(pb);
	return same;
}

/* The answer to a stale change: CONFLICT with the current version and the
 * entity's ChangeOk at that version, made by no journal entry. */
static const Ipsnet__V1__ChangeOk *
assert_conflict_with_state(const struct answer *a, const char *kind,
			   const char *id, uint64_t now)
{
	if (a->code != CODE(CONFLICT))
		fail_msg("want CONFLICT, got %s (%s)",
			 ipsnet_status_name(a->code), a->message);
	assert_int_equal(a->current_version, now);
	assert_non_null(strstr(a->message, "read it again and retry"));
	assert_int_equal(a->env->body_case, BODY(CHANGE_OK));
	const Ipsnet__V1__ChangeOk *ok = a->env->change_ok;
	assert_string_equal(ok->entity_kind, kind);
	assert_string_equal(ok->entity_id, id);
	assert_int_equal(ok->version, now);
	assert_int_equal(ok->seq, 0);
	return ok;
}

/* Sends a change with the idempotency key given, as a retry does. */
static void call_with_key(enum org o, Ipsnet__V1__Envelope *req,
			  const uint8_t key[16], struct answer *a)
{
	memset(a, 0, sizeof(*a));
	req->idempotency_key.data = (uint8_t *)key;
	req->idempotency_key.len = 16;
	(void)ipsnet_client_call(conns[o], req, &a->env, a->message,
				 sizeof(a->message));
	req->idempotency_key.data = NULL;
	req->idempotency_key.len = 0;
	if (a->env == NULL)
		fail_msg("%s: no answer (%s)", org_ids[o], a->message);
	a->code = a->env->status != NULL ? (int)a->env->status->code : 0;
	if (a->env->status != NULL)
		a->current_version = a->env->status->current_version;
}

static void test_conflict_carries_the_current_state(void **state)
{
	char client[64], tr[64];
	struct answer first, second;
	uint8_t key[16];
	make_programs();

	/* ggz-other refers its client to ggz-test's program: both GGZs may
	 * change the trajectory. ggz-test accepts it; ggz-other, against the
	 * same version 1, cancels it. */
	new_client(GGZ_OTHER, BENEFIT(PARTICIPATIEWET), "GM0599", client, NULL);
	refer(GGZ_OTHER, client, "ips-test", tr, NULL);
	move(GGZ_TEST, tr, 1, TS(ACCEPTED), NULL, NULL, &first);
	assert_int_equal(first.code, CODE(OK));

	Ipsnet__V1__MoveTrajectory m = IPSNET__V1__MOVE_TRAJECTORY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.trajectory_id = tr;
	m.expected_version = 1;
	m.to = TS(CANCELLED);
	e.body_case = BODY(MOVE_TRAJECTORY);
	e.move_trajectory = &m;
	assert_int_equal(ipsnet_new_idempotency_key(key), 0);
	call_with_key(GGZ_OTHER, &e, key, &second);
	const Ipsnet__V1__ChangeOk *ok =
	    assert_conflict_with_state(&second, "trajectory", tr, 2);
	assert_int_equal(ok->entity_case,
			 IPSNET__V1__CHANGE_OK__ENTITY_TRAJECTORY);
	const Ipsnet__V1__Trajectory *t = ok->trajectory;
	assert_int_equal(t->status, TS(ACCEPTED));
	assert_int_equal(t->version, 2);
	assert_string_equal(t->accepted_on,
			    first.env->change_ok->trajectory->accepted_on);
	assert_string_equal(t->cancelled_on, "");
	/* Field for field what ggz-test's acceptance answered. */
	assert_true(
	    same_message(&t->base, &first.env->change_ok->trajectory->base));
	answer_free(&first);
	answer_free(&second);

	/* ggz-test starts it; the retry of the refused cancellation, with
	 * the same key, is judged again: no stored answer, the state now. */
	move(GGZ_TEST, tr, 2, TS(ACTIVE), NULL, NULL, NULL);
	call_with_key(GGZ_OTHER, &e, key, &second);
	ok = assert_conflict_with_state(&second, "trajectory", tr, 3);
	assert_int_equal(ok->trajectory->status, TS(ACTIVE));
	assert_string_not_equal(ok->trajectory->started_on, "");
	answer_free(&second);

	/* A program goes only to who may change it: ggz-other, taking
	 * ggz-test's program with a stale version, learns the version (as
	 * before) but not the program. */
	Ipsnet__V1__PutProgram p = IPSNET__V1__PUT_PROGRAM__INIT;
	p.program_id = "ips-test";
	p.expected_version = 99;
	p.owner = "ggz-other";
	p.name = "taken";
	p.region = 1;
	e = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT;
	e.body_case = BODY(PUT_PROGRAM);
	e.put_program = &p;
	call(GGZ_OTHER, &e, &second);
	assert_int_equal(second.code, CODE(CONFLICT));
	assert_int_equal(second.env->body_case,
			 IPSNET__V1__ENVELOPE__BODY__NOT_SET);
	answer_free(&second);
	call(NETWORK, &e, &second);
	assert_int_equal(second.code, CODE(CONFLICT));
	assert_int_equal(second.env->body_case, BODY(CHANGE_OK));
	ok = second.env->change_ok;
	assert_int_equal(ok->version, second.current_version);
	assert_int_equal(ok->entity_case,
			 IPSNET__V1__CHANGE_OK__ENTITY_PROGRAM);
	assert_int_equal(ok->program->version, second.current_version);
	assert_string_equal(ok->program->owner, "ggz-test");
	assert_string_equal(ok->program->name, "ips-test");
	answer_free(&second);
}

/* A protobuf field holds something: a non-empty string or bytes, a
 * non-zero number, a message, a repeated field with elements. */
static bool field_set(const ProtobufCMessage *m,
		      const ProtobufCFieldDescriptor *f)
{
	const char *p = (const char *)m + f->offset;
	if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) /* the case names it */
		return *(const uint32_t *)((const char *)m +
					   f->quantifier_offset) == f->id;
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return *(const size_t *)((const char *)m +
					 f->quantifier_offset) != 0;
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
		return *(char *const *)p != NULL && **(char *const *)p != '\0';
	case PROTOBUF_C_TYPE_BYTES:
		return ((const ProtobufCBinaryData *)p)->len != 0;
	case PROTOBUF_C_TYPE_MESSAGE:
		return *(void *const *)p != NULL;
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_INT64:
		return *(const uint64_t *)p != 0;
	case PROTOBUF_C_TYPE_BOOL:
		return *(const protobuf_c_boolean *)p != 0;
	default:
		return *(const uint32_t *)p != 0;
	}
}

/* Every field set in m is set in allowed too (same type). */
static void assert_no_field_beyond(const ProtobufCMessage *m,
				   const ProtobufCMessage *allowed)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	assert_ptr_equal(d, allowed->descriptor);
	for (unsigned i = 0; i < d->n_fields; i++)
		if (field_set(m, &d->fields[i]) &&
		    !field_set(allowed, &d->fields[i]))
			fail_msg("%s.%s is in the CONFLICT's answer but not in "
				 "a successful change's",
				 d->short_name, d->fields[i].name);
}

static void test_funders_conflict_shows_no_more_than_its_decision(void **state)
{
	struct kase k, decided, noconsent;
	struct answer withdrawn, approved, a;

	/* The GGZ withdraws its request; the municipality, against the
	 * version it read, approves it. */
	make_case(R_TEST, &k);
	decide(GGZ_TEST, k.funding, 1, FS(WITHDRAWN), &withdrawn);
	assert_int_equal(withdrawn.code, CODE(OK));
	decide(GM0363, k.funding, 1, FS(APPROVED), &a);
	const Ipsnet__V1__ChangeOk *ok =
	    assert_conflict_with_state(&a, "funding", k.funding, 2);
	assert_int_equal(ok->entity_case,
			 IPSNET__V1__CHANGE_OK__ENTITY_FUNDING);
	assert_int_equal(ok->funding->status, FS(WITHDRAWN));
	assert_string_equal(ok->funding->decided_on,
			    withdrawn.env->change_ok->funding->decided_on);
	assert_true(same_message(&ok->funding->base,
				 &withdrawn.env->change_ok->funding->base));

	/* Nothing in it that the municipality's own successful decision
	 * does not carry. */
	make_case(R_TEST, &decided);
	decide(GM0363, decided.funding, 1, FS(APPROVED), &approved);
	assert_int_equal(approved.code, CODE(OK));
	assert_no_field_beyond(&a.env->base, &approved.env->base);
	assert_no_field_beyond(&ok->base, &approved.env->change_ok->base);
	assert_no_field_beyond(&ok->funding->base,
			       &approved.env->change_ok->funding->base);
	answer_free(&a);
	answer_free(&withdrawn);
	answer_free(&approved);

	/* Who may not decide learns nothing from a stale version: policy
	 * comes first, with no body. */
	make_case(R_TEST_NOCONSENT, &noconsent);
	decide(GM0363, noconsent.funding, 7, FS(APPROVED), &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	assert_int_equal(a.env->body_case, IPSNET__V1__ENVELOPE__BODY__NOT_SET);
	answer_free(&a);
	decide(UWV, k.funding, 1, FS(APPROVED), &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	assert_int_equal(a.env->body_case, IPSNET__V1__ENVELOPE__BODY__NOT_SET);
	assert_int_equal(a.current_version, 0);
	answer_free(&a);
}

/* ---- the funder rule --------------------------------------------------- */

static int ask_funder(int benefit, const char *municipality, const char *funder,
		      const char *other, char *message)
{
	char client[64], tr[64];
	struct answer a;
	new_client(GGZ_TEST, benefit, municipality, client, NULL);
	if (funder != NULL && strncmp(funder, "ggz", 3) != 0)
		grant_consent(GGZ_TEST, client, funder, NULL, NULL);
	refer(GGZ_TEST, client, "ips-test", tr, NULL);
	request_funding(GGZ_TEST, tr, funder, other, NULL, &a);
	int code = a.code;
	snprintf(message, 256, "%s", a.message);
	answer_free(&a);
	return code;
}

/* An id of one kind given where another kind goes (a trajectory's where
 * the client goes) is named as such, for a change and a read, and nothing
 * is changed; was: "not your client: your organisation did not register
 * this client", to the GGZ that did. */
/* a was refused as naming id, the id of a thing of kind is where one of
 * kind want goes. */
static void assert_wrong_kind(struct answer *a, const char *id, const char *is,
			      const char *want)
{
	char said[160];
	snprintf(said, sizeof(said), "'%s' is the id of a %s, not of a %s", id,
		 is, want);
	assert_int_equal(a->code, CODE(INVALID_ARGUMENT));
	assert_string_equal(a->message, said);
	answer_free(a);
}

static void test_an_id_of_another_kind_is_named(void **state)
{
	(void)state;
	char client[64], tr[64];
	struct answer a;
	make_programs();
	new_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), "GM0363", client, NULL);
	refer(GGZ_TEST, client, "ips-test", tr, NULL);

	add_job(GGZ_TEST, tr, NULL, NULL, &a);
	assert_wrong_kind(&a, tr, "trajectory", "client");
	show_case(GGZ_TEST, tr, &a);
	assert_wrong_kind(&a, tr, "trajectory", "client");
	add_job(GGZ_TEST, client, client, NULL, &a);
	assert_wrong_kind(&a, client, "client", "trajectory");

	show_case(GGZ_TEST, client, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_int_equal(a.env->case_view->n_jobs, 0);
	answer_free(&a);
}

/* A consent valid until a day that is past is refused saying so, with
 * today's day; a day that is no date, as such. Was one sentence for both,
 * "valid until must be a real date (YYYY-MM-DD), today or later", for a
 * caseworker who had typed a real date. */
static void test_a_consent_until_a_past_day_says_so(void **state)
{
	(void)state;
	char client[64];
	struct answer a;
	Ipsnet__V1__GrantConsent m = IPSNET__V1__GRANT_CONSENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	new_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), "GM0363", client, NULL);
	m.client_id = client;
	m.recipient = "gm0363";
	m.purpose = "funding of the IPS trajectory";
	m.valid_until = "2020-06-30";
	e.body_case = BODY(GRANT_CONSENT);
	e.grant_consent = &m;
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	assert_non_null(strstr(a.message, "valid until 2020-06-30, which is "
					  "past (today is 20"));
	assert_non_null(strstr(a.message, "give today or a later day"));
	answer_free(&a);
	m.valid_until = "2030-02-30";
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	assert_non_null(strstr(a.message, "must be a real date (YYYY-MM-DD)"));
	answer_free(&a);
}

static void test_wrong_funder_is_refused(void **state)
{
	char msg[256];
	make_programs();
	const int pw = BENEFIT(PARTICIPATIEWET);

	assert_int_equal(ask_funder(pw, "GM0363", "gm0363", NULL, msg),
			 CODE(OK));
	assert_int_equal(ask_funder(pw, "GM0363", "gm0599", NULL, msg),
			 CODE(FAILED_PRECONDITION));
	assert_non_null(strstr(msg, "wrong funder"));
	assert_non_null(strstr(msg, "GM0363"));
	/* Named by the id the request takes, not only by its CBS code. */
	assert_non_null(strstr(msg, "ask 'gm0363', not 'gm0599'"));
	assert_int_equal(ask_funder(pw, "GM0363", "uwv", NULL, msg),
			 CODE(FAILED_PRECONDITION));
	assert_non_null(strstr(msg, "own municipality"));
	/* A municipality outside the network: another funder, described. */
	assert_int_equal(ask_funder(pw, "GM0014", "gm0363", NULL, msg),
			 CODE(FAILED_PRECONDITION));
	assert_non_null(strstr(msg, "(GM0014), which is not in the network"));
	for (int b = BENEFIT(WIA); b <= BENEFIT(WW); b++) {
		assert_int_equal(ask_funder(b, "GM0363", "uwv", NULL, msg),
				 CODE(OK));
		assert_int_equal(ask_funder(b, "GM0363", "gm0363", NULL, msg),
				 CODE(FAILED_PRECONDITION));
		assert_non_null(strstr(msg, "funded by UWV: ask 'uwv'"));
	}
	assert_int_equal(
	    ask_funder(BENEFIT(NONE), "GM0363", "gm0363", NULL, msg),
	    CODE(FAILED_PRECONDITION));
	assert_int_equal(ask_funder(BENEFIT(NONE), "GM0363", NULL,
				    "Wmo budget of the municipality", msg),
			 CODE(OK));
	assert_int_equal(ask_funder(pw, "GM0363", "ggz-other", NULL, msg),
			 CODE(INVALID_ARGUMENT));
	assert_int_equal(ask_funder(pw, "GM0363", NULL, NULL, msg),
			 CODE(INVALID_ARGUMENT));
}

/* A refusal says a benefit or a state in the words ipsnet shows it in
 * ("Participatiewet", "Wajong", "on hold", "another funder"), not by the
 * wire's enum names, which the person reading it never sees elsewhere. */
static void assert_no_wire_names(const char *msg)
{
	static const char *const wire[] = {
	    "PARTICIPATIEWET", "WAJONG",   "NONE",	 "OTHER",
	    "UNSPECIFIED",     "REFERRED", "ACCEPTED",	 "ON_HOLD",
	    "CANCELLED",       "BENEFIT_", "TRAJECTORY_"};
	for (size_t i = 0; i < ARRAY_SIZE(wire); i++)
		if (strstr(msg, wire[i]) != NULL)
			fail_msg("'%s' names %s", msg, wire[i]);
}

static void test_refusals_name_values_in_words(void **state)
{
	char msg[256], client[64], bsn[16], tr[64];
	struct answer a;
	make_programs();

	assert_int_equal(
	    ask_funder(BENEFIT(PARTICIPATIEWET), "GM0363", "gm0599", NULL, msg),
	    CODE(FAILED_PRECONDITION));
	assert_no_wire_names(msg);
	assert_non_null(strstr(msg, "a client on Participatiewet is funded"));
	assert_int_equal(
	    ask_funder(BENEFIT(WAJONG), "GM0363", "gm0363", NULL, msg),
	    CODE(FAILED_PRECONDITION));
	assert_no_wire_names(msg);
	assert_non_null(strstr(msg, "a client on Wajong is funded by UWV"));
	assert_int_equal(
	    ask_funder(BENEFIT(NONE), "GM0363", "gm0363", NULL, msg),
	    CODE(FAILED_PRECONDITION));
	assert_no_wire_names(msg);
	assert_non_null(strstr(msg, "benefit none"));
	assert_non_null(strstr(msg, "another funder"));
	assert_int_equal(ask_funder(BENEFIT(PARTICIPATIEWET), "GM0363",
				    "ggz-other", NULL, msg),
			 CODE(INVALID_ARGUMENT));
	assert_no_wire_names(msg);
	assert_non_null(strstr(msg, "another funder"));

	new_bsn(bsn);
	assert_int_equal(register_client(GGZ_TEST, bsn, "Testpersoon Woord", 99,
					 "GM0363", NULL, &a),
			 CODE(INVALID_ARGUMENT));
	assert_no_wire_names(a.message);
	assert_non_null(strstr(a.message, "participatiewet"));
	answer_free(&a);

	new_client(GGZ_TEST, BENEFIT(WW), "GM0363", client, NULL);
	refer(GGZ_TEST, client, "ips-test", tr, NULL);
	move(GGZ_TEST, tr, 1, 99, NULL, NULL, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	assert_no_wire_names(a.message);
	assert_non_null(strstr(a.message, "on hold"));
	answer_free(&a);

	const int late[] = {TS(ACCEPTED), TS(ACTIVE)};
	new_client(GGZ_TEST, BENEFIT(WW), "GM0363", client, NULL);
	assert_int_equal(import(GGZ_TEST, client, late, 2, NULL, NULL, msg),
			 CODE(INVALID_ARGUMENT));
	assert_no_wire_names(msg);
	assert_non_null(strstr(msg, "referred"));
}

/* The rule holds at the approval too: a client who moved or whose benefit
 * changed since the request is no longer the funder's to pay for. It may
 * reject; the GGZ then asks the funder who pays now. */
static void test_approval_checks_the_funder_rule_again(void **state)
{
	static const struct {
		enum recipe recipe;
		enum org funder;
		const char *municipality;
		int benefit;
		const char *why;
	} moves[] = {
	    {R_TEST, GM0363, "GM0599", BENEFIT(PARTICIPATIEWET), "GM0599"},
	    {R_TEST_WIA, UWV, "GM0363", BENEFIT(PARTICIPATIEWET),
	     "own municipality"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(moves); i++) {
		struct kase k;
		struct answer a;
		make_case(moves[i].recipe, &k);
		Ipsnet__V1__UpdateClient m = IPSNET__V1__UPDATE_CLIENT__INIT;
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
		m.client_id = k.client;
		m.expected_version = 1;
		m.municipality = (char *)moves[i].municipality;
		m.benefit = moves[i].benefit;
		e.body_case = BODY(UPDATE_CLIENT);
		e.update_client = &m;
		call(GGZ_TEST, &e, &a);
		assert_int_equal(a.code, CODE(OK));
		answer_free(&a);
		decide(moves[i].funder, k.funding, 1, FS(APPROVED), &a);
		assert_int_equal(a.code, CODE(FAILED_PRECONDITION));
		assert_non_null(strstr(a.message, "changed since the request"));
		assert_non_null(strstr(a.message, moves[i].why));
		answer_free(&a);
		decide(moves[i].funder, k.funding, 1, FS(REJECTED), &a);
		assert_int_equal(a.code, CODE(OK));
		answer_free(&a);
	}
}

/* A referral declined or cancelled after its funding was asked never
 * becomes a trajectory: the funder cannot approve paying for it, and is
 * told to reject instead; rejecting goes. Was: approved (the open
 * trajectory was checked at the request only), money granted for a
 * trajectory that never started. */
static void test_no_approval_for_a_referral_that_ended_unstarted(void **state)
{
	static const struct {
		int to;
		const char *word;
	} ends[] = {{TS(CANCELLED), "cancelled"}, {TS(DECLINED), "declined"}};
	for (size_t i = 0; i < ARRAY_SIZE(ends); i++) {
		struct kase k;
		struct answer a;
		make_case(R_TEST, &k);
		move(GGZ_TEST, k.trajectory, 1, ends[i].to, NULL, NULL, NULL);
		decide(GM0363, k.funding, 1, FS(APPROVED), &a);
		assert_int_equal(a.code, CODE(FAILED_PRECONDITION));
		if (strstr(a.message, ends[i].word) == NULL ||
		    strstr(a.message, "reject") == NULL)
			fail_msg("refused with '%s'", a.message);
		answer_free(&a);
		decide(GM0363, k.funding, 1, FS(REJECTED), &a);
		assert_int_equal(a.code, CODE(OK));
		answer_free(&a);
	}
}

/* Funding asked by the GGZ that ran a trajectory's program, which NETWORK
 * then hands to another GGZ: the one that asked is no party of the case
 * any more, and the one that runs the program now records the outside
 * funder's decision, or withdraws a request, and finds them in its
 * funding list. Was: "only the GGZ that asked (ggz-other) ..." to the one
 * that runs it, while ggz-other was "not your client": the request stayed
 * REQUESTED for good; and the list showed only the requests it asked for. */
static void test_a_program_handed_over_takes_its_funding_requests(void **state)
{
	char client[64], tr[64], other_funding[64], gm_funding[64];
	struct answer a;
	put_program(GGZ_OTHER, "ips-handed", "ggz-other");
	new_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), "GM0363", client, NULL);
	grant_consent(GGZ_TEST, client, "gm0363", NULL, NULL);
	refer(GGZ_TEST, client, "ips-handed", tr, NULL);
	request_funding(GGZ_OTHER, tr, NULL, "Stichting Werkfonds",
			other_funding, NULL);
	request_funding(GGZ_OTHER, tr, "gm0363", NULL, gm_funding, NULL);
	put_program_at(NETWORK, "ips-handed", "ggz-test", 1); /* handed */

	/* Both are in the pending list of the GGZ that must act on them. */
	list_funding(GGZ_TEST, true, &a);
	assert_int_equal(a.code, CODE(OK));
	int listed = 0;
	for (size_t i = 0; i < a.env->funding_list->n_fundings; i++) {
		const char *id = a.env->funding_list->fundings[i]->id;
		listed += strcmp(id, other_funding) == 0 ||
			  strcmp(id, gm_funding) == 0;
	}
	answer_free(&a);
	if (listed != 2)
		fail_msg("ggz-test's pending list holds %d of the 2 requests "
			 "of the program it runs now",
			 listed);

	decide(GGZ_OTHER, other_funding, 1, FS(APPROVED), &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);
	decide(GGZ_TEST, other_funding, 1, FS(APPROVED), &a);
	if (a.code != CODE(OK))
		fail_msg("the GGZ that runs the program now: %s (%s)",
			 ipsnet_status_name(a.code), a.message);
	answer_free(&a);
	decide(GGZ_TEST, gm_funding, 1, FS(WITHDRAWN), &a);
	if (a.code != CODE(OK))
		fail_msg("withdrawn by the GGZ that runs the program now: %s "
			 "(%s)",
			 ipsnet_status_name(a.code), a.message);
	answer_free(&a);
}

/* The funder rule is the registry's of the moment of the change: an
 * approval replays (ipsnetd verify, rebuild) after its municipality left
 * the registry, as its request does. */
static void
test_approval_replays_after_its_funder_left_the_registry(void **state)
{
	struct kase k;
	struct answer a;
	struct h_result r;
	char db[PATH_MAX], conf[PATH_MAX];
	make_case(R_OTHER, &k);
	decide(GM0599, k.funding, 1, FS(APPROVED), &a);
	assert_int_equal(a.code, CODE(OK));
	answer_free(&a);

	/* A copy whose registry no longer holds gm0599 (nor ggz-other). */
	const char *to = h_tmpdir();
	assert_non_null(to);
	snprintf(db, sizeof(db), "%s/ipsnet.db", to);
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", to);
	const char *backup[] = {"backup", db, "--config", daemon_.conf, NULL};
	if (h_run_ipsnetd(&r, backup) != 0)
		fail_msg("ipsnetd backup: %s%s", r.out, r.err);
	h_result_free(&r);
	assert_int_equal(h_write_config(to, certs, NULL), 0);
	const char *const cmds[] = {"init", "verify", "rebuild"};
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		const char *args[] = {cmds[i], "--config", conf, NULL};
		if (h_run_ipsnetd(&r, args) != 0)
			fail_msg("ipsnetd %s: %s%s", cmds[i], r.out, r.err);
		h_result_free(&r);
	}
}

/* Without consent for the funder, no request is sent to it. */
static void test_request_needs_consent(void **state)
{
	char client[64], tr[64];
	struct answer a;
	make_programs();
	new_client(GGZ_TEST, BENEFIT(PARTICIPATIEWET), "GM0363", client, NULL);
	refer(GGZ_TEST, client, "ips-test", tr, NULL);
	request_funding(GGZ_TEST, tr, "gm0363", NULL, NULL, &a);
	assert_int_equal(a.code, CODE(FAILED_PRECONDITION));
	assert_non_null(strstr(a.message, "no consent"));
	answer_free(&a);
}

/* ---- consent ----------------------------------------------------------- */

static void test_withdrawn_consent_refuses_the_next_read(void **state)
{
	struct kase k;
	struct answer a;

	make_case(R_TEST, &k);
	show_case(GM0363, k.client, &a);
	assert_int_equal(a.code, CODE(OK));
	answer_free(&a);
	withdraw_consent(GGZ_TEST, k.consent, 1, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_string_not_equal(a.env->change_ok->consent->withdrawn_at, "");
	answer_free(&a);

	show_case(GM0363, k.client, &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	assert_non_null(strstr(a.message, "no consent"));
	answer_free(&a);
	list_funding(GM0363, false, &a);
	assert_int_equal(a.code, CODE(OK));
	for (size_t i = 0; i < a.env->funding_list->n_fundings; i++)
		assert_string_not_equal(a.env->funding_list->fundings[i]->id,
					k.funding);
	for (size_t i = 0; i < a.env->funding_list->n_clients; i++)
		assert_string_not_equal(a.env->funding_list->clients[i]->id,
					k.client);
	answer_free(&a);
	decide(GM0363, k.funding, 1, FS(APPROVED), &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);
	/* Withdrawn once is withdrawn. */
	withdraw_consent(GGZ_TEST, k.consent, 2, &a);
	assert_int_equal(a.code, CODE(FAILED_PRECONDITION));
	answer_free(&a);
}

/* Sends req as o with the given key (a retry when the key was used). */
static void call_keyed(enum org o, Ipsnet__V1__Envelope *req,
		       const uint8_t key[16], struct answer *a)
{
	memset(a, 0, sizeof(*a));
	req->idempotency_key.data = (uint8_t *)key;
	req->idempotency_key.len = 16;
	ipsnet_client_call(conns[o], req, &a->env, a->message,
			   sizeof(a->message));
	req->idempotency_key.data = NULL;
	req->idempotency_key.len = 0;
	if (a->env == NULL)
		fail_msg("%s: no answer (%s)", org_ids[o], a->message);
	a->code = a->env->status != NULL ? (int)a->env->status->code : 0;
}

/* A retried change is told that it was applied, but its first answer
 * shows only what the organisation may see at the retry: after the
 * consent for a funder is withdrawn, or a GGZ's program is handed to
 * another, the retry carries no funding request, client or note. Was:
 * the first answer as it was kept, the trajectory with its referral note
 * to a GGZ that is no party any more, the request to a funder without
 * consent (nothing more is shared from the withdrawal on). */
static void test_a_retry_shows_only_what_may_be_seen_now(void **state)
{
	struct kase k;
	struct answer a;
	uint8_t key[16];

	/* A funder approves; then the client withdraws her consent. */
	make_case(R_TEST, &k);
	Ipsnet__V1__DecideFunding d = IPSNET__V1__DECIDE_FUNDING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	d.funding_id = k.funding;
	d.expected_version = 1;
	d.decision = FS(APPROVED);
	d.reference = "BESLUIT-2026-18";
	e.body_case = BODY(DECIDE_FUNDING);
	e.decide_funding = &d;
	assert_int_equal(ipsnet_new_idempotency_key(key), 0);
	call_keyed(GM0363, &e, key, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_int_equal(a.env->change_ok->entity_case,
			 IPSNET__V1__CHANGE_OK__ENTITY_FUNDING);
	answer_free(&a);
	withdraw_consent(GGZ_TEST, k.consent, 1, NULL);
	call_keyed(GM0363, &e, key, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_true(a.env->replayed);
	assert_string_equal(a.env->change_ok->entity_id, k.funding);
	assert_int_equal(a.env->change_ok->version, 2);
	if (a.env->change_ok->entity_case !=
	    IPSNET__V1__CHANGE_OK__ENTITY__NOT_SET)
		fail_msg("gm0363's retry after the withdrawal of its consent "
			 "carries the funding request of the client");
	answer_free(&a);

	/* A GGZ accepts a referral to its program; the program is then
	 * handed to another GGZ. */
	char client[64], tr[64];
	put_program(GGZ_OTHER, "ips-retried", "ggz-other");
	new_client(GGZ_TEST, BENEFIT(NONE), "GM0363", client, NULL);
	refer(GGZ_TEST, client, "ips-retried", tr, NULL);
	Ipsnet__V1__MoveTrajectory mv = IPSNET__V1__MOVE_TRAJECTORY__INIT;
	Ipsnet__V1__Envelope me = IPSNET__V1__ENVELOPE__INIT;
	mv.trajectory_id = tr;
	mv.expected_version = 1;
	mv.to = TS(ACCEPTED);
	me.body_case = BODY(MOVE_TRAJECTORY);
	me.move_trajectory = &mv;
	assert_int_equal(ipsnet_new_idempotency_key(key), 0);
	call_keyed(GGZ_OTHER, &me, key, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_string_not_equal(a.env->change_ok->trajectory->note, "");
	answer_free(&a);
	put_program_at(NETWORK, "ips-retried", "ggz-test", 1); /* handed */
	call_keyed(GGZ_OTHER, &me, key, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_true(a.env->replayed);
	assert_string_equal(a.env->change_ok->entity_id, tr);
	if (a.env->change_ok->entity_case !=
	    IPSNET__V1__CHANGE_OK__ENTITY__NOT_SET)
		fail_msg("ggz-other's retry after its program was handed over "
			 "carries the trajectory (note: '%s')",
			 a.env->change_ok->trajectory != NULL
			     ? a.env->change_ok->trajectory->note
			     : "");
	answer_free(&a);

	/* While nothing narrowed, a retry is the first answer whole. */
	move(GGZ_TEST, tr, 2, TS(ACTIVE), NULL, NULL, NULL);
	Ipsnet__V1__AddJob j = IPSNET__V1__ADD_JOB__INIT;
	Ipsnet__V1__Envelope je = IPSNET__V1__ENVELOPE__INIT;
	j.client_id = client;
	j.trajectory_id = tr;
	j.employer = "Drukkerij Herhaling";
	j.start_date = "2026-02-02";
	j.hours_per_week = 20;
	j.competitive = true;
	je.body_case = BODY(ADD_JOB);
	je.add_job = &j;
	assert_int_equal(ipsnet_new_idempotency_key(key), 0);
	for (int i = 0; i < 2; i++) {
		call_keyed(GGZ_TEST, &je, key, &a);
		assert_int_equal(a.code, CODE(OK));
		assert_int_equal(a.env->replayed, i == 1);
		assert_int_equal(a.env->change_ok->entity_case,
				 IPSNET__V1__CHANGE_OK__ENTITY_JOB);
		assert_string_equal(a.env->change_ok->job->employer,
				    "Drukkerij Herhaling");
		answer_free(&a);
	}
}

/* ---- registration ------------------------------------------------------ */

static void test_bsn_is_checked(void **state)
{
	char bsn[16], bad[16], id[64], object[96];
	struct answer a;

	new_bsn(bsn);
	assert_int_equal(register_client(GGZ_TEST, bsn, "Testpersoon Bsn",
					 BENEFIT(NONE), "GM0363", id, NULL),
			 CODE(OK));
	remember_secret("Testpersoon Bsn");
	/* The same BSN twice: refused, and on the trail of the client
	 * that is there, named as the object (not an id never made). */
	assert_int_equal(register_client(GGZ_TEST, bsn, "Testpersoon Bsn",
					 BENEFIT(NONE), "GM0363", NULL, NULL),
			 CODE(ALREADY_EXISTS));
	audit_query(GGZ_TEST, id, NULL, 1000, &a);
	assert_int_equal(a.code, CODE(OK));
	const Ipsnet__V1__AuditList *l = a.env->audit_list;
	assert_true(l->n_records >= 2);
	const Ipsnet__V1__AuditRecord *r = l->records[l->n_records - 1];
	snprintf(object, sizeof(object), "client:%s", id);
	assert_string_equal(r->action, "register_client");
	assert_string_equal(r->result, "ALREADY_EXISTS");
	assert_string_equal(r->object, object);
	assert_string_equal(r->client_id, id);
	answer_free(&a);
	/* A wrong check digit. */
	snprintf(bad, sizeof(bad), "%s", bsn);
	bad[8] = bad[8] == '9' ? '0' : (char)(bad[8] + 1);
	remember_secret(bad);
	static const char *const invalid[] = {
	    NULL,	 "12345678",  "1234567890", "12345678a",
	    "abcdefghi", "000000000", "",	    " 11122233",
	};
	for (size_t i = 0; i < ARRAY_SIZE(invalid); i++) {
		const char *b = invalid[i] != NULL ? invalid[i] : bad;
		if (register_client(GGZ_TEST, b, "Testpersoon Bsn",
				    BENEFIT(NONE), "GM0363", NULL,
				    &a) != CODE(INVALID_ARGUMENT))
			fail_msg("BSN '%s' was not refused: %s", b,
				 ipsnet_status_name(a.code));
		assert_non_null(strstr(a.message, "11-proof"));
		answer_free(&a);
	}
	find_client(GGZ_TEST, "12345678a", &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);
	find_client(GGZ_TEST, bsn, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_string_equal(a.env->case_view->client->bsn, bsn);
	answer_free(&a);
	/* Birth date and municipality. */
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	new_bsn(bsn);
	m.bsn = bsn;
	m.name = "Testpersoon Bsn";
	m.birth_date = "2031-02-30";
	m.municipality = "GM0363";
	m.benefit = BENEFIT(NONE);
	e.body_case = BODY(REGISTER_CLIENT);
	e.register_client = &m;
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);
	m.birth_date = "1990-02-28";
	m.municipality = "0363";
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);
}

/* ---- fidelity ---------------------------------------------------------- */

static int record_fidelity(enum org o, const char *program,
			   const uint32_t *scores, size_t n, struct answer *a)
{
	Ipsnet__V1__RecordFidelity m = IPSNET__V1__RECORD_FIDELITY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.program_id = (char *)program;
	m.review_date = "2026-02-01";
	m.scores = (uint32_t *)scores;
	m.n_scores = n;
	e.body_case = BODY(RECORD_FIDELITY);
	e.record_fidelity = &m;
	call(o, &e, a);
	return a->code;
}

static void test_fidelity_total_and_band_are_computed(void **state)
{
	static const struct {
		unsigned fives, ones; /* the rest score 3 */
		unsigned total;
		const char *band;
	} cases[] = {
	    {25, 0, 125, "exemplary"}, {20, 0, 115, "exemplary"},
	    {19, 0, 113, "good"},      {13, 0, 101, "good"},
	    {12, 0, 99, "fair"},       {0, 0, 75, "fair"},
	    {0, 1, 73, "not IPS"},     {0, 25, 25, "not IPS"},
	};
	uint32_t scores[26];
	struct answer a;

	make_programs();
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		for (unsigned i = 0; i < 25; i++)
			scores[i] = i < cases[c].fives	      ? 5
				    : i >= 25 - cases[c].ones ? 1
							      : 3;
		assert_int_equal(
		    record_fidelity(GGZ_TEST, "ips-test", scores, 25, &a),
		    CODE(OK));
		const Ipsnet__V1__FidelityReview *r = a.env->change_ok->review;
		assert_int_equal(r->total, cases[c].total);
		assert_string_equal(r->band, cases[c].band);
		assert_false(r->independent);
		answer_free(&a);
	}
	assert_int_equal(record_fidelity(NETWORK, "ips-test", scores, 25, &a),
			 CODE(OK));
	assert_true(a.env->change_ok->review->independent);
	answer_free(&a);
	assert_int_equal(record_fidelity(NETWORK, "ips-test", scores, 24, &a),
			 CODE(INVALID_ARGUMENT));
	answer_free(&a);
	scores[3] = 6;
	assert_int_equal(record_fidelity(NETWORK, "ips-test", scores, 25, &a),
			 CODE(INVALID_ARGUMENT));
	answer_free(&a);

	/* Everyone sees the programs with their latest review. */
	for (int o = 0; o < N_ORGS; o++) {
		Ipsnet__V1__ListPrograms m = IPSNET__V1__LIST_PROGRAMS__INIT;
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
		e.body_case = BODY(LIST_PROGRAMS);
		e.list_programs = &m;
		call(o, &e, &a);
		assert_int_equal(a.code, CODE(OK));
		const Ipsnet__V1__ProgramList *pl = a.env->program_list;
		assert_true(pl->n_programs >= 4);
		bool seen = false;
		for (size_t i = 0; i < pl->n_reviews; i++)
			if (strcmp(pl->reviews[i]->program_id, "ips-test") ==
			    0) {
				seen = true;
				assert_true(pl->reviews[i]->independent);
				assert_int_equal(pl->reviews[i]->n_scores, 25);
			}
		assert_true(seen);
		answer_free(&a);
	}
}

/* ---- jobs -------------------------------------------------------------- */

static int end_job(const char *job, uint64_t version, const char *on,
		   struct answer *a)
{
	Ipsnet__V1__EndJob m = IPSNET__V1__END_JOB__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.job_id = (char *)job;
	m.expected_version = version;
	m.end_date = (char *)on;
	e.body_case = BODY(END_JOB);
	e.end_job = &m;
	call(GGZ_TEST, &e, a);
	return a->code;
}

static void test_jobs(void **state)
{
	Ipsnet__V1__AddJob m = IPSNET__V1__ADD_JOB__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	struct kase k, other;
	struct answer a;

	make_case(R_TEST, &k);
	make_case(R_TEST, &other);
	m.client_id = k.client;
	m.employer = "Gemeentewerf";
	m.hours_per_week = 24;
	e.body_case = BODY(ADD_JOB);
	e.add_job = &m;
	static const struct {
		const char *start, *end, *trajectory;
		double hours;
		int want;
	} rows[] = {
	    {"2025-06-01", "", "", 24, CODE(OK)},
	    /* the same job again (employer, start): refused, named */
	    {"2025-06-01", "2025-09-30", "", 24, CODE(ALREADY_EXISTS)},
	    {"2025-07-01", "2025-09-30", "", 24, CODE(OK)},
	    {"2025-06-01", "2025-05-31", "", 24, CODE(INVALID_ARGUMENT)},
	    {"2025-06-01", "2199-01-01", "", 24, CODE(INVALID_ARGUMENT)},
	    {"2199-06-01", "", "", 24, CODE(INVALID_ARGUMENT)},
	    {"", "", "", 24, CODE(INVALID_ARGUMENT)},
	    {"2025-06-31", "", "", 24, CODE(INVALID_ARGUMENT)},
	    {"2025-06-01", "", "", 0, CODE(INVALID_ARGUMENT)},
	    {"2025-06-01", "", "", 81, CODE(INVALID_ARGUMENT)},
	    /* A trajectory of another client. */
	    {"2025-06-01", "", "other", 24, CODE(INVALID_ARGUMENT)},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		m.start_date = (char *)rows[i].start;
		m.end_date = (char *)rows[i].end;
		m.trajectory_id = rows[i].trajectory[0] != '\0'
				      ? other.trajectory
				      : k.trajectory;
		m.hours_per_week = rows[i].hours;
		call(GGZ_TEST, &e, &a);
		if (a.code != rows[i].want)
			fail_msg("job row %zu: %s (%s)", i,
				 ipsnet_status_name(a.code), a.message);
		answer_free(&a);
	}
	/* The case's own job, from 2026-01-05 on. */
	assert_int_equal(end_job(k.job, 1, "2026-01-04", &a),
			 CODE(INVALID_ARGUMENT));
	answer_free(&a);
	assert_int_equal(end_job(k.job, 1, "2026-03-31", &a), CODE(OK));
	assert_string_equal(a.env->change_ok->job->end_date, "2026-03-31");
	assert_int_equal(a.env->change_ok->job->version, 2);
	answer_free(&a);
	assert_int_equal(end_job(k.job, 2, "2026-04-30", &a),
			 CODE(FAILED_PRECONDITION));
	answer_free(&a);
	/* A funder with consent sees the job outcomes. */
	show_case(GM0363, k.client, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_int_equal(a.env->case_view->n_jobs, 3);
	answer_free(&a);

	/* A job recorded ahead of its first day whose contract falls
	 * through: ended before it begins, it is withdrawn (it never began,
	 * and counts in no report), not refused nor made a day's job. */
	char start[16], called_off[16], job[64];
	nl_date_of_us(start, sizeof(start),
		      (long long)util_now_us() + 30LL * 86400 * 1000000);
	nl_date_of_us(called_off, sizeof(called_off), (long long)util_now_us());
	m.start_date = start;
	m.end_date = "";
	m.trajectory_id = k.trajectory;
	m.hours_per_week = 24;
	must_change(GGZ_TEST, &e, job, sizeof(job));
	assert_int_equal(end_job(job, 1, called_off, &a), CODE(OK));
	assert_true(a.env->change_ok->job->withdrawn);
	assert_string_equal(a.env->change_ok->job->end_date, called_off);
	assert_int_equal(a.env->change_ok->job->version, 2);
	answer_free(&a);
	assert_int_equal(end_job(job, 2, called_off, &a),
			 CODE(FAILED_PRECONDITION));
	assert_non_null(strstr(a.message, "withdrawn"));
	answer_free(&a);
	/* A job that ended is not withdrawn. */
	show_case(GGZ_TEST, k.client, &a);
	assert_int_equal(a.code, CODE(OK));
	for (size_t i = 0; i < a.env->case_view->n_jobs; i++) {
		const Ipsnet__V1__Job *j = a.env->case_view->jobs[i];
		assert_int_equal(j->withdrawn, strcmp(j->id, job) == 0);
	}
	answer_free(&a);
	/* Its contract signed after all: recorded again, no copy. */
	must_change(GGZ_TEST, &e, NULL, 0);
}

/* No job of a client starts before she was born (1985-04-12): a year
 * typed wrong (1958 for 1985) made a job that counts as lasting work in
 * every report since. */
static void test_no_job_starts_before_the_client_was_born(void **state)
{
	Ipsnet__V1__AddJob m = IPSNET__V1__ADD_JOB__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	char client[64];
	struct answer a;

	new_client(GGZ_TEST, BENEFIT(WW), "GM0363", client, NULL);
	m.client_id = client;
	m.employer = "Drukkerij Voorloper";
	m.hours_per_week = 20;
	m.competitive = true;
	e.body_case = BODY(ADD_JOB);
	e.add_job = &m;
	m.start_date = "1958-04-12";
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	assert_non_null(strstr(a.message, "birth date"));
	answer_free(&a);
	m.start_date = "1985-04-11";
	m.end_date = "1990-01-01";
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);
	/* A holiday job at 18 is hers. */
	m.start_date = "2003-07-01";
	m.end_date = "2005-01-01";
	must_change(GGZ_TEST, &e, NULL, 0);
}

/* Nor is her birth date moved after her first job or referral. */
static void test_her_birth_is_not_moved_after_what_she_did(void **state)
{
	Ipsnet__V1__AddJob j = IPSNET__V1__ADD_JOB__INIT;
	Ipsnet__V1__UpdateClient u = IPSNET__V1__UPDATE_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	const int referred[] = {TS(REFERRED)};
	const char *on[] = {"2025-03-01"};
	char worker[64], referee[64], tr[64];
	struct answer a;

	make_programs();
	new_client(GGZ_TEST, BENEFIT(WW), "GM0363", worker, NULL);
	j.client_id = worker;
	j.employer = "Drukkerij Voorloper";
	j.start_date = "2003-07-01";
	j.end_date = "2003-08-31";
	j.hours_per_week = 20;
	j.competitive = true;
	e.body_case = BODY(ADD_JOB);
	e.add_job = &j;
	must_change(GGZ_TEST, &e, NULL, 0);
	u.client_id = worker;
	u.expected_version = 1;
	u.birth_date = "2004-01-01";
	e.body_case = BODY(UPDATE_CLIENT);
	e.update_client = &u;
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	assert_non_null(strstr(a.message, "2003-07-01"));
	answer_free(&a);
	u.birth_date = "2003-07-01";
	must_change(GGZ_TEST, &e, NULL, 0);

	new_client(GGZ_TEST, BENEFIT(WW), "GM0363", referee, NULL);
	assert_int_equal(import(GGZ_TEST, referee, referred, 1, on, NULL, tr),
			 CODE(OK));
	u.client_id = referee;
	u.birth_date = "2025-03-02";
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	assert_non_null(strstr(a.message, "referral on 2025-03-01"));
	answer_free(&a);
	/* A name alone is no birth date. */
	u.birth_date = "";
	u.name = "Testpersoon Hernoemd";
	remember_secret(u.name);
	must_change(GGZ_TEST, &e, NULL, 0);
}

/* ---- the audit trail --------------------------------------------------- */

/* The row of org with action and result (and object, unless NULL) that
 * case.tester's request from 127.0.0.1 left, if list holds one. */
static const Ipsnet__V1__AuditRecord *
find_row(const Ipsnet__V1__AuditList *list, const char *org, const char *action,
	 const char *result, const char *object)
{
	for (size_t i = 0; i < list->n_records; i++) {
		const Ipsnet__V1__AuditRecord *r = list->records[i];
		if (strcmp(r->organisation, org) == 0 &&
		    strcmp(r->action, action) == 0 &&
		    strcmp(r->result, result) == 0 &&
		    (object == NULL || strcmp(r->object, object) == 0) &&
		    strcmp(r->user, "case.tester") == 0 &&
		    strncmp(r->peer, "127.0.0.1:", 10) == 0 &&
		    r->time[0] != '\0')
			return r;
	}
	return NULL;
}

static bool has_row(const Ipsnet__V1__AuditList *list, const char *org,
		    const char *action, const char *result)
{
	return find_row(list, org, action, result, NULL) != NULL;
}

static void test_audit_rows_for_reads_changes_and_refusals(void **state)
{
	Ipsnet__V1__UpdateClient m = IPSNET__V1__UPDATE_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	struct kase k;
	struct answer a;
	char db_path[PATH_MAX];

	make_case(R_TEST, &k);
	show_case(GM0363, k.client, &a); /* a read */
	answer_free(&a);
	show_case(UWV, k.client, &a); /* a refused read */
	answer_free(&a);
	m.client_id = k.client;
	m.expected_version = 1;
	m.name = "Testpersoon Hernoemd";
	remember_secret(m.name);
	e.body_case = BODY(UPDATE_CLIENT);
	e.update_client = &m;
	call(GM0363, &e, &a); /* a refused change */
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);
	call(GGZ_TEST, &e, &a); /* a change */
	assert_int_equal(a.code, CODE(OK));
	answer_free(&a);
	call(GGZ_TEST, &e, &a); /* refused: stale */
	assert_int_equal(a.code, CODE(CONFLICT));
	answer_free(&a);

	/* The client's GGZ reads the client's trail. */
	audit_query(GGZ_TEST, k.client, NULL, 1000, &a);
	assert_int_equal(a.code, CODE(OK));
	const Ipsnet__V1__AuditList *list = a.env->audit_list;
	assert_true(has_row(list, "ggz-test", "register_client", "OK"));
	assert_true(has_row(list, "ggz-test", "grant_consent", "OK"));
	assert_true(has_row(list, "ggz-test", "refer", "OK"));
	assert_true(has_row(list, "ggz-test", "request_funding", "OK"));
	assert_true(has_row(list, "ggz-test", "add_job", "OK"));
	assert_true(has_row(list, "gm0363", "show_case", "OK"));
	assert_true(has_row(list, "uwv", "show_case", "PERMISSION_DENIED"));
	assert_true(
	    has_row(list, "gm0363", "update_client", "PERMISSION_DENIED"));
	assert_true(has_row(list, "ggz-test", "update_client", "OK"));
	assert_true(has_row(list, "ggz-test", "update_client", "ABORTED"));
	for (size_t i = 0; i < list->n_records; i++) {
		assert_string_equal(list->records[i]->client_id, k.client);
		for (size_t s = 0; s < n_secrets; s++)
			assert_null(
			    strstr(list->records[i]->object, secrets[s]));
	}
	answer_free(&a);

	/* ... and NETWORK does, also by time; the query is audited too. */
	audit_query(NETWORK, k.client, NULL, 0, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_true(
	    has_row(a.env->audit_list, "ggz-test", "audit_query", "OK"));
	answer_free(&a);
	audit_query(NETWORK, NULL, "2020-01-01", 5, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_int_equal(a.env->audit_list->n_records, 5);
	answer_free(&a);
	audit_query(NETWORK, NULL, "2020-01-01T00:00:00Z", 1, &a);
	assert_int_equal(a.code, CODE(OK));
	answer_free(&a);
	audit_query(NETWORK, NULL, "yesterday", 1, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);
	/* No one else. */
	audit_query(GGZ_TEST, NULL, "2020-01-01", 5, &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);
	audit_query(GGZ_OTHER, k.client, NULL, 5, &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);
	audit_query(GM0363, k.client, NULL, 5, &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);

	/* Append-only, even for the database's owner. */
	sqlite3 *db;
	snprintf(db_path, sizeof(db_path), "%s/ipsnet.db", dir);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE audit SET result = 'OK'",
					  NULL, NULL, NULL),
			     SQLITE_OK);
	assert_non_null(strstr(sqlite3_errmsg(db), "append-only"));
	assert_int_not_equal(
	    sqlite3_exec(db, "DELETE FROM audit", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* A caseworker who types a client's BSN where its id goes (ipsnet case
 * show 123456782) is refused like for any id she may not see, and the
 * audit trail, which NETWORK reads, holds no BSN for it (docs/access.md):
 * neither as the client nor in the object. */
static void test_audit_trail_holds_no_bsn_typed_as_an_id(void **state)
{
	Ipsnet__V1__UpdateClient m = IPSNET__V1__UPDATE_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	char client[64], bsn[16];
	struct answer a;

	new_client(GGZ_TEST, BENEFIT(NONE), "GM0363", client, bsn);
	show_case(GGZ_TEST, bsn, &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);
	audit_query(GGZ_TEST, bsn, NULL, 10, &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);
	m.client_id = bsn;
	m.expected_version = 1;
	m.benefit = BENEFIT(WW);
	e.body_case = BODY(UPDATE_CLIENT);
	e.update_client = &m;
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);

	/* The three were recorded, without the BSN. */
	audit_query(NETWORK, NULL, NULL, 20, &a);
	assert_int_equal(a.code, CODE(OK));
	const Ipsnet__V1__AuditList *list = a.env->audit_list;
	assert_true(
	    has_row(list, "ggz-test", "show_case", "PERMISSION_DENIED"));
	assert_true(
	    has_row(list, "ggz-test", "audit_query", "PERMISSION_DENIED"));
	assert_true(
	    has_row(list, "ggz-test", "update_client", "PERMISSION_DENIED"));
	bool withheld = false;
	for (size_t i = 0; i < list->n_records; i++) {
		withheld |=
		    strcmp(list->records[i]->action, "show_case") == 0 &&
		    strcmp(list->records[i]->object, "client:withheld-bsn") ==
			0;
		if (strstr(list->records[i]->client_id, bsn) != NULL ||
		    strstr(list->records[i]->object, bsn) != NULL)
			fail_msg("audit row %s %s holds the BSN: client '%s' "
				 "object '%s'",
				 list->records[i]->organisation,
				 list->records[i]->action,
				 list->records[i]->client_id,
				 list->records[i]->object);
	}
	assert_true(withheld);
	answer_free(&a);
}

/* Whether s holds bsn once the spaces, dots and hyphens people write
 * between its digits are taken out. */
static bool holds_bsn(const char *s, const char *bsn)
{
	char digits[256];
	size_t n = 0;
	for (; *s != '\0' && n + 1 < sizeof(digits); s++)
		if (*s != ' ' && *s != '.' && *s != '-')
			digits[n++] = *s;
	digits[n] = '\0';
	return strstr(digits, bsn) != NULL;
}

/* A BSN is often written in groups ("123.456.782", "1234 56 782"): typed
 * so where an id goes it is a BSN all the same, and the trail (which
 * NETWORK reads, and which holds no BSN) gets it no more than the nine
 * digits alone. Was: only nine bare digits were withheld; the grouped
 * forms were kept as the row's client and object. */
static void test_audit_trail_holds_no_bsn_written_in_groups(void **state)
{
	char client[64], bsn[16], typed[4][32];
	struct answer a;

	new_client(GGZ_TEST, BENEFIT(NONE), "GM0363", client, bsn);
	snprintf(typed[0], sizeof(typed[0]), "%.3s.%.3s.%.3s", bsn, bsn + 3,
		 bsn + 6);
	snprintf(typed[1], sizeof(typed[1]), "%.4s %.2s %.3s", bsn, bsn + 4,
		 bsn + 6);
	snprintf(typed[2], sizeof(typed[2]), "%.3s-%.3s-%.3s", bsn, bsn + 3,
		 bsn + 6);
	snprintf(typed[3], sizeof(typed[3]), " %s ", bsn);
	for (size_t i = 0; i < 4; i++) {
		show_case(GGZ_OTHER, typed[i], &a);
		assert_int_equal(a.code, CODE(PERMISSION_DENIED));
		answer_free(&a);
	}
	audit_query(GGZ_OTHER, typed[0], NULL, 10, &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);

	audit_query(NETWORK, NULL, NULL, 20, &a);
	assert_int_equal(a.code, CODE(OK));
	const Ipsnet__V1__AuditList *list = a.env->audit_list;
	size_t withheld = 0;
	for (size_t i = 0; i < list->n_records; i++) {
		const Ipsnet__V1__AuditRecord *r = list->records[i];
		if (holds_bsn(r->client_id, bsn) || holds_bsn(r->object, bsn))
			fail_msg("audit row %s %s holds the BSN: client '%s' "
				 "object '%s'",
				 r->organisation, r->action, r->client_id,
				 r->object);
		withheld += strcmp(r->organisation, "ggz-other") == 0 &&
			    (strcmp(r->object, "client:withheld-bsn") == 0 ||
			     strcmp(r->object, "audit:withheld-bsn") == 0);
	}
	assert_int_equal(withheld, 5);
	answer_free(&a);
}

/* The id of the newest row of the trail. */
static uint64_t newest_audit_id(void)
{
	struct answer a;
	uint64_t id = 0;
	audit_query(NETWORK, NULL, NULL, 1, &a);
	assert_int_equal(a.code, CODE(OK));
	for (size_t i = 0; i < a.env->audit_list->n_records; i++)
		if (a.env->audit_list->records[i]->id > id)
			id = a.env->audit_list->records[i]->id;
	answer_free(&a);
	return id;
}

/* ggz-other types typed[0] where a client's id goes (a case shown),
 * typed[1] where a client's id goes in an audit query, typed[2] where a
 * trajectory's id goes (a move): each is refused like an id it may not
 * see, and the trail, which NETWORK reads, holds none of them: the three
 * rows it gets name no client and read KIND:withheld-text. */
static void expect_typed_ids_withheld(const char *const typed[3])
{
	static const char *const want[3] = {"client:withheld-text",
					    "audit:withheld-text",
					    "trajectory:withheld-text"};
	Ipsnet__V1__MoveTrajectory m = IPSNET__V1__MOVE_TRAJECTORY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	size_t found[3] = {0};
	struct answer a;

	uint64_t before = newest_audit_id();
	show_case(GGZ_OTHER, typed[0], &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);
	audit_query(GGZ_OTHER, typed[1], NULL, 10, &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);
	m.trajectory_id = (char *)typed[2];
	m.expected_version = 1;
	m.to = TS(ACCEPTED);
	e.body_case = BODY(MOVE_TRAJECTORY);
	e.move_trajectory = &m;
	call(GGZ_OTHER, &e, &a);
	assert_int_equal(a.code, CODE(PERMISSION_DENIED));
	answer_free(&a);

	audit_query(NETWORK, NULL, NULL, 20, &a);
	assert_int_equal(a.code, CODE(OK));
	const Ipsnet__V1__AuditList *list = a.env->audit_list;
	for (size_t i = 0; i < list->n_records; i++) {
		const Ipsnet__V1__AuditRecord *r = list->records[i];
		for (size_t k = 0; k < 3; k++)
			if (strstr(r->client_id, typed[k]) != NULL ||
			    strstr(r->object, typed[k]) != NULL)
				fail_msg("audit row %s %s holds '%s': client "
					 "'%s' object '%s'",
					 r->organisation, r->action, typed[k],
					 r->client_id, r->object);
		if (r->id <= before ||
		    strcmp(r->organisation, "ggz-other") != 0)
			continue;
		size_t w = 0;
		while (w < 3 && strcmp(r->object, want[w]) != 0)
			w++;
		if (w == 3 || r->client_id[0] != '\0')
			fail_msg("audit row %s %s: client '%s' object '%s'",
				 r->organisation, r->action, r->client_id,
				 r->object);
		found[w]++;
	}
	for (size_t w = 0; w < 3; w++)
		if (found[w] != 1)
			fail_msg("%zu rows read %s, not 1", found[w], want[w]);
	answer_free(&a);
}

/* A client's name typed where an id goes ("ipsnet case show 'Anna de
 * Vries'") is no id. Was: the text was kept as the row's client and
 * object. */
static void test_audit_trail_holds_no_name_typed_as_an_id(void **state)
{
	static const char *const typed[3] = {
	    "Anna de Vries-Typed", "Anna de Vries-Typed", "Anna 1980-02-03"};
	(void)state;
	expect_typed_ids_withheld(typed);
}

/* A birth date or a name in lower case typed where an id goes has the
 * letters of an id, not its shape: the trail keeps an id only in the form
 * the server gives (cl-, tr-, ... and 16 hex digits) or, for a program,
 * the operator's id. Was: "1980-02-03", "jansen" and "anna-de-vries" were
 * kept as the rows' client and object, being made of a-z, 0-9 and '-'. */
static void test_audit_trail_holds_no_birth_date_typed_as_an_id(void **state)
{
	static const char *const typed[3] = {"1980-02-03", "jansen",
					     "anna-de-vries"};
	(void)state;
	expect_typed_ids_withheld(typed);
}

/* A GGZ that searches for a BSN another GGZ registered learns nothing
 * (the answer is the one for a BSN no one registered), but the search is
 * on that client's trail, which its own GGZ reads: for each GGZ that
 * registered the BSN (here ggz-test and ggz-third), never with the BSN. */
static void test_a_search_for_another_ggzs_client_is_on_its_trail(void **state)
{
	Ipsnet__V1__RegisterClient reg = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__AuditQuery q = IPSNET__V1__AUDIT_QUERY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	char mine[64], theirs[64], bsn[16], nobodys[16], object[80];
	struct answer a, none;

	new_client(GGZ_TEST, BENEFIT(NONE), "GM0363", mine, bsn);
	struct ipsnet_client *third = connect_as("ggz-third");
	assert_non_null(third);
	reg.bsn = bsn;
	reg.name = "Testpersoon Elders";
	remember_secret(reg.name);
	reg.birth_date = "1979-03-08";
	reg.municipality = "GM0599";
	reg.benefit = BENEFIT(NONE);
	e.body_case = BODY(REGISTER_CLIENT);
	e.register_client = &reg;
	call_on(third, "ggz-third", &e, &a);
	assert_int_equal(a.code, CODE(OK));
	snprintf(theirs, sizeof(theirs), "%s", a.env->change_ok->entity_id);
	answer_free(&a);

	/* The searcher learns no more than of a BSN no one registered. */
	find_client(GGZ_OTHER, bsn, &a);
	new_bsn(nobodys);
	find_client(GGZ_OTHER, nobodys, &none);
	assert_int_equal(a.code, CODE(NOT_FOUND));
	assert_int_equal(none.code, CODE(NOT_FOUND));
	assert_string_equal(a.message, none.message);
	assert_int_equal(a.env->body_case, none.env->body_case);
	answer_free(&a);
	answer_free(&none);

	/* ggz-test reads it on its client's trail ... */
	audit_query(GGZ_TEST, mine, NULL, 1000, &a);
	assert_int_equal(a.code, CODE(OK));
	snprintf(object, sizeof(object), "client:%s", mine);
	const Ipsnet__V1__AuditRecord *r = find_row(
	    a.env->audit_list, "ggz-other", "find_client", "NOT_FOUND", object);
	if (r == NULL)
		fail_msg("ggz-other's search is not on the trail of %s", mine);
	assert_string_equal(r->client_id, mine);
	answer_free(&a);
	/* ... and ggz-third on its own. */
	q.client_id = theirs;
	q.limit = 1000;
	e.body_case = BODY(AUDIT_QUERY);
	e.audit_query = &q;
	call_on(third, "ggz-third", &e, &a);
	assert_int_equal(a.code, CODE(OK));
	snprintf(object, sizeof(object), "client:%s", theirs);
	r = find_row(a.env->audit_list, "ggz-other", "find_client", "NOT_FOUND",
		     object);
	if (r == NULL)
		fail_msg("ggz-other's search is not on the trail of %s",
			 theirs);
	assert_string_equal(r->client_id, theirs);
	answer_free(&a);
	ipsnet_client_close(third);

	/* The search for a BSN no one registered names no client; neither
	 * row names the BSN. */
	audit_query(NETWORK, NULL, NULL, 20, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_non_null(find_row(a.env->audit_list, "ggz-other", "find_client",
				 "NOT_FOUND", "client:by-bsn"));
	for (size_t i = 0; i < a.env->audit_list->n_records; i++) {
		const Ipsnet__V1__AuditRecord *row =
		    a.env->audit_list->records[i];
		assert_null(strstr(row->object, bsn));
		assert_null(strstr(row->client_id, bsn));
		assert_null(strstr(row->object, nobodys));
		assert_null(strstr(row->client_id, nobodys));
	}
	answer_free(&a);
}

static void db_exec(const char *sql)
{
	char path[PATH_MAX];
	snprintf(path, sizeof(path), "%s/ipsnet.db", dir);
	h_db_exec(path, sql);
}

/* A ListFunding refused for its cursor is a refused read, and on the trail
 * as every other one: one row without a client (docs/access.md). */
static void test_a_refused_funding_page_is_audited(void **state)
{
	Ipsnet__V1__ListFunding m = IPSNET__V1__LIST_FUNDING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	struct answer a;

	uint64_t before = newest_audit_id();
	m.after_id = "fu-0123456789abcdef"; /* without after_requested_on */
	m.limit = 10;
	e.body_case = BODY(LIST_FUNDING);
	e.list_funding = &m;
	call(GM0363, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);
	audit_query(NETWORK, NULL, NULL, 20, &a);
	assert_int_equal(a.code, CODE(OK));
	const Ipsnet__V1__AuditRecord *r =
	    find_row(a.env->audit_list, "gm0363", "list_funding",
		     "INVALID_ARGUMENT", "funding:-");
	assert_non_null(r);
	assert_true(r->id > before);
	assert_string_equal(r->client_id, "");
	answer_free(&a);
}

/* A change refused before it is judged (an idempotency key of the wrong
 * length, fields this server does not know) is a refused change, and on
 * the client's trail as every other one (docs/access.md). */
static void test_a_change_refused_unjudged_is_audited(void **state)
{
	Ipsnet__V1__UpdateClient m = IPSNET__V1__UPDATE_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Envelope *resp = NULL;
	uint8_t key[8] = {1, 2, 3, 4, 5, 6, 7, 8};
	char err[256];
	struct kase k;
	struct answer a;

	make_case(R_TEST, &k);
	m.client_id = k.client;
	m.expected_version = 1;
	m.benefit = BENEFIT(WW);
	e.body_case = BODY(UPDATE_CLIENT);
	e.update_client = &m;
	e.idempotency_key.data = key;
	e.idempotency_key.len = sizeof(key);
	assert_int_equal(
	    ipsnet_client_call(conns[GGZ_OTHER], &e, &resp, err, sizeof(err)),
	    IPSNET_EINVAL);
	ipsnet_envelope_free(resp);
	/* One that names only the trajectory is on its client's trail too
	 * (the writer finds her). Was: a row with no client. */
	Ipsnet__V1__MoveTrajectory mv = IPSNET__V1__MOVE_TRAJECTORY__INIT;
	mv.trajectory_id = k.trajectory;
	mv.expected_version = 1;
	mv.to = TS(ACCEPTED);
	e.body_case = BODY(MOVE_TRAJECTORY);
	e.move_trajectory = &mv;
	assert_int_equal(
	    ipsnet_client_call(conns[GGZ_OTHER], &e, &resp, err, sizeof(err)),
	    IPSNET_EINVAL);
	ipsnet_envelope_free(resp);
	char object[96];
	snprintf(object, sizeof(object), "trajectory:%s", k.trajectory);
	audit_query(GGZ_TEST, k.client, NULL, 100, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_non_null(find_row(a.env->audit_list, "ggz-other",
				 "update_client", "INVALID_ARGUMENT", NULL));
	assert_non_null(find_row(a.env->audit_list, "ggz-other",
				 "move_trajectory", "INVALID_ARGUMENT",
				 object));
	answer_free(&a);
}

/* A change refused for its text as it came (not UTF-8, or an id of
 * another kind where the trajectory's goes) is on the trail of the client
 * it names, as every refused change. Was: refused with no row at all, so
 * her GGZ reading her trail never saw that another GGZ tried to close her
 * trajectory. */
static void test_a_change_refused_for_its_text_is_audited(void **state)
{
	Ipsnet__V1__MoveTrajectory mv = IPSNET__V1__MOVE_TRAJECTORY__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	char object[96], latin1[] = "verhuisd naar Zee\xeate";
	struct kase k;
	struct answer a;

	(void)state;
	make_case(R_TEST, &k);
	mv.trajectory_id = k.trajectory;
	mv.expected_version = 1;
	mv.to = TS(CLOSED);
	mv.reason = latin1;
	e.body_case = BODY(MOVE_TRAJECTORY);
	e.move_trajectory = &mv;
	call(GGZ_OTHER, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	assert_non_null(strstr(a.message, "not UTF-8"));
	answer_free(&a);
	/* Its client's id where the trajectory's goes. */
	Ipsnet__V1__EndJob ej = IPSNET__V1__END_JOB__INIT;
	ej.job_id = k.client;
	ej.expected_version = 1;
	e.body_case = BODY(END_JOB);
	e.end_job = &ej;
	call(GGZ_OTHER, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);

	snprintf(object, sizeof(object), "trajectory:%s", k.trajectory);
	audit_query(GGZ_TEST, k.client, NULL, 100, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_non_null(find_row(a.env->audit_list, "ggz-other",
				 "move_trajectory", "INVALID_ARGUMENT",
				 object));
	answer_free(&a);
	audit_query(NETWORK, NULL, NULL, 100, &a);
	assert_int_equal(a.code, CODE(OK));
	snprintf(object, sizeof(object), "job:%s", k.client);
	assert_non_null(find_row(a.env->audit_list, "ggz-other", "end_job",
				 "INVALID_ARGUMENT", object));
	answer_free(&a);
}

/* What cannot be audited is not done: a read is answered UNAVAILABLE
 * instead of with data, a change is not applied. */
static void test_no_audit_no_answer(void **state)
{
	struct kase k;
	struct answer a;

	make_case(R_OTHER, &k);
	db_exec("CREATE TRIGGER test_audit_fails BEFORE INSERT ON audit "
		"WHEN NEW.org = 'gm0599' BEGIN SELECT RAISE(ABORT, 'the "
		"test refuses this row'); END");
	show_case(GM0599, k.client, &a);
	assert_int_equal(a.code, CODE(UNAVAILABLE));
	assert_null(a.env->case_view);
	answer_free(&a);
	decide(GM0599, k.funding, 1, FS(APPROVED), &a);
	assert_int_equal(a.code, CODE(UNAVAILABLE));
	answer_free(&a);
	/* Others are served meanwhile. */
	show_case(GGZ_OTHER, k.client, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_int_equal(a.env->case_view->fundings[0]->status, FS(REQUESTED));
	answer_free(&a);
	db_exec("DROP TRIGGER test_audit_fails");
	show_case(GM0599, k.client, &a);
	assert_int_equal(a.code, CODE(OK));
	answer_free(&a);
	decide(GM0599, k.funding, 1, FS(APPROVED), &a);
	assert_int_equal(a.code, CODE(OK));
	answer_free(&a);
}

/* A retried change gets its first answer, and the retry is audited. */
static void test_retry_is_replayed_and_audited(void **state)
{
	Ipsnet__V1__UpdateClient m = IPSNET__V1__UPDATE_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Envelope *resp = NULL;
	uint8_t key[16];
	char err[256];
	struct kase k;
	struct answer a;

	make_case(R_TEST, &k);
	m.client_id = k.client;
	m.expected_version = 1;
	m.benefit = BENEFIT(WW);
	e.body_case = BODY(UPDATE_CLIENT);
	e.update_client = &m;
	assert_int_equal(ipsnet_new_idempotency_key(key), 0);
	e.idempotency_key.data = key;
	e.idempotency_key.len = sizeof(key);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(ipsnet_client_call(conns[GGZ_TEST], &e, &resp,
						    err, sizeof(err)),
				 0);
		assert_int_equal(resp->change_ok->version, 2);
		ipsnet_envelope_free(resp);
	}
	audit_query(GGZ_TEST, k.client, NULL, 100, &a);
	int updates = 0;
	for (size_t i = 0; i < a.env->audit_list->n_records; i++)
		updates += strcmp(a.env->audit_list->records[i]->action,
				  "update_client") == 0;
	assert_int_equal(updates, 2);
	answer_free(&a);
}

/* The key 'ipsnet import' gives a row of clients.csv: SHA-256 over
 * "ipsnet-import-v1", the organisation, the kind and the row's values, each
 * with its NUL, cut to 16 bytes (client/cli/cmd_import.c). Anyone who
 * knows a person's details can work it out for any organisation. */
static void import_key(const char *org, const char *const v[5], uint8_t key[16])
{
	static const char tag[] = "ipsnet-import-v1";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	assert_non_null(ctx);
	EVP_DigestInit_ex(ctx, EVP_sha256(), NULL);
	EVP_DigestUpdate(ctx, tag, sizeof(tag));
	EVP_DigestUpdate(ctx, org, strlen(org) + 1);
	EVP_DigestUpdate(ctx, "clients", sizeof("clients"));
	for (int i = 0; i < 5; i++)
		EVP_DigestUpdate(ctx, v[i], strlen(v[i]) + 1);
	EVP_DigestFinal_ex(ctx, md, &len);
	EVP_MD_CTX_free(ctx);
	memcpy(key, md, 16);
}

/* ggz-other registers a client of its own (bsn) under key. */
static void register_with_key(const uint8_t key[16], const char *bsn,
			      struct answer *a)
{
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.bsn = (char *)bsn;
	m.name = "Testpersoon Sleutel";
	m.birth_date = "1985-04-12";
	m.municipality = "GM0599";
	m.benefit = BENEFIT(NONE);
	e.body_case = BODY(REGISTER_CLIENT);
	e.register_client = &m;
	e.idempotency_key.data = (uint8_t *)key;
	e.idempotency_key.len = 16;
	memset(a, 0, sizeof(*a));
	ipsnet_client_call(conns[GGZ_OTHER], &e, &a->env, a->message,
			   sizeof(a->message));
	if (a->env == NULL)
		fail_msg("ggz-other: no answer (%s)", a->message);
	a->code = a->env->status != NULL ? (int)a->env->status->code : 0;
}

/* An idempotency key is its organisation's: another organisation that
 * sends a change with it (the key of an import row it worked out from a
 * person's BSN, name and birth date) is answered as for a key never
 * used, so that it cannot tell whether the row was imported. Its own
 * retry with that key gets its own first answer, and the first
 * organisation's retry its own. Was: "this idempotency key was already
 * used" (INVALID_ARGUMENT) told ggz-other that ggz-test had imported
 * this person, and a key no one used was applied. */
static void test_a_key_tells_another_organisation_nothing(void **state)
{
	char bsn[16], unknown[16], own[2][16], path[PATH_MAX], first[64];
	const char *name = "Testpersoon Geimporteerd";
	uint8_t key[16], other_key[16];
	struct h_result r;
	struct h_args args;
	struct answer a;

	new_bsn(bsn);
	new_bsn(unknown);
	new_bsn(own[0]);
	new_bsn(own[1]);
	snprintf(path, sizeof(path), "%s/clients.csv", dir);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f,
		"bsn,name,birth_date,municipality,benefit\n"
		"%s,%s,1985-04-12,GM0363,none\n",
		bsn, name);
	assert_int_equal(fclose(f), 0);
	h_args_init(&args);
	h_args_org(&args, &daemon_, certs, "ggz-test");
	h_args_add(&args, "import");
	h_args_add(&args, "%s", path);
	assert_int_equal(h_run_cli(&r, args.argv), 0);
	h_result_free(&r);

	const char *imported[5] = {bsn, name, "1985-04-12", "GM0363", "none"};
	const char *never[5] = {unknown, name, "1985-04-12", "GM0363", "none"};
	import_key("ggz-test", imported, key);
	import_key("ggz-test", never, other_key);

	/* The imported row's key and one no one used: the same answer. */
	register_with_key(other_key, own[0], &a);
	assert_int_equal(a.code, CODE(OK));
	answer_free(&a);
	register_with_key(key, own[1], &a);
	if (a.code != CODE(OK))
		fail_msg("ggz-other learns that ggz-test imported the row: "
			 "%s (%s)",
			 ipsnet_status_name(a.code), a.message);
	snprintf(first, sizeof(first), "%s", a.env->change_ok->entity_id);
	assert_false(a.env->replayed);
	answer_free(&a);

	/* Each organisation's retry gets its own first answer. */
	register_with_key(key, own[1], &a);
	assert_int_equal(a.code, CODE(OK));
	assert_true(a.env->replayed);
	assert_string_equal(a.env->change_ok->entity_id, first);
	answer_free(&a);
	h_args_init(&args);
	h_args_org(&args, &daemon_, certs, "ggz-test");
	h_args_add(&args, "import");
	h_args_add(&args, "%s", path);
	assert_int_equal(h_run_cli(&r, args.argv), 0);
	if (strstr(r.out, "1 imported before") == NULL &&
	    strstr(r.err, "1 imported before") == NULL)
		fail_msg("ggz-test's import again: %s%s", r.out, r.err);
	h_result_free(&r);
}

/* ---- blank texts -------------------------------------------------------- */

/* A text that must be given (a name, an employer, a purpose, a funder's
 * description, a rejection's or a closing's reason) is not given by white
 * space alone: " " is refused as "" is. Was: accepted, so a rejection
 * went out with no reason, a trajectory closed without one, and an update
 * with a blank name wrote the client's name over with spaces. */
static void test_blank_texts_are_refused(void **state)
{
	struct kase k;
	struct answer a;
	char bsn[16];
	make_case(R_TEST, &k);

	new_bsn(bsn);
	assert_int_equal(register_client(GGZ_TEST, bsn, " \t ", BENEFIT(WW),
					 "GM0363", NULL, NULL),
			 CODE(INVALID_ARGUMENT));

	Ipsnet__V1__UpdateClient u = IPSNET__V1__UPDATE_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	u.client_id = k.client;
	u.expected_version = 1;
	u.name = "   ";
	e.body_case = BODY(UPDATE_CLIENT);
	e.update_client = &u;
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);
	show_case(GGZ_TEST, k.client, &a);
	assert_int_equal(a.code, CODE(OK));
	assert_string_not_equal(a.env->case_view->client->name, "   ");
	assert_int_equal(a.env->case_view->client->version, 1);
	answer_free(&a);

	Ipsnet__V1__GrantConsent g = IPSNET__V1__GRANT_CONSENT__INIT;
	ipsnet__v1__envelope__init(&e);
	g.client_id = k.client;
	g.recipient = "uwv";
	g.purpose = "  ";
	g.valid_until = "2099-12-31";
	e.body_case = BODY(GRANT_CONSENT);
	e.grant_consent = &g;
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);

	Ipsnet__V1__AddJob j = IPSNET__V1__ADD_JOB__INIT;
	ipsnet__v1__envelope__init(&e);
	j.client_id = k.client;
	j.employer = "\t";
	j.start_date = "2025-06-01";
	j.hours_per_week = 20;
	e.body_case = BODY(ADD_JOB);
	e.add_job = &j;
	call(GGZ_TEST, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);

	request_funding(GGZ_TEST, k.trajectory, NULL, "  ", NULL, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	answer_free(&a);

	Ipsnet__V1__DecideFunding d = IPSNET__V1__DECIDE_FUNDING__INIT;
	ipsnet__v1__envelope__init(&e);
	d.funding_id = k.funding;
	d.expected_version = 1;
	d.decision = FS(REJECTED);
	d.reason = " \n ";
	e.body_case = BODY(DECIDE_FUNDING);
	e.decide_funding = &d;
	call(GM0363, &e, &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	assert_non_null(strstr(a.message, "reason"));
	answer_free(&a);

	move(GGZ_TEST, k.trajectory, 1, TS(ACCEPTED), NULL, NULL, NULL);
	move(GGZ_TEST, k.trajectory, 2, TS(ACTIVE), NULL, NULL, NULL);
	move(GGZ_TEST, k.trajectory, 3, TS(CLOSED), NULL, "  ", &a);
	assert_int_equal(a.code, CODE(INVALID_ARGUMENT));
	assert_non_null(strstr(a.message, "reason"));
	answer_free(&a);
}

/* The same job is the same whatever the letter case of its employer, in
 * the letters of Dutch and Turkish names too: a sheet in capitals
 * ("BAKKERIJ ÖZTÜRK") imported after the job was added by hand ("Bakkerij
 * Öztürk") is refused as a copy. Was: only A-Z were compared without
 * case (SQLite's lower()), so the copy was recorded and counted twice. */
static void test_the_same_job_in_capitals_is_refused(void **state)
{
	static const char *const pairs[][2] = {
	    {"Bakkerij \303\226zt\303\274rk", "BAKKERIJ \303\226ZT\303\234RK"},
	    {"Drukkerij \304\263sselstein", "DRUKKERIJ \304\262SSELSTEIN"},
	    {"Caf\303\251 \305\201\303\263d\305\272",
	     "CAF\303\211 \305\201\303\223D\305\271"},
	};
	Ipsnet__V1__AddJob m = IPSNET__V1__ADD_JOB__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	struct kase k;
	struct answer a;
	make_case(R_TEST, &k);
	m.client_id = k.client;
	m.start_date = "2025-09-01";
	m.hours_per_week = 20;
	e.body_case = BODY(ADD_JOB);
	e.add_job = &m;
	for (size_t i = 0; i < ARRAY_SIZE(pairs); i++) {
		m.employer = (char *)pairs[i][0];
		must_change(GGZ_TEST, &e, NULL, 0);
		m.employer = (char *)pairs[i][1];
		call(GGZ_TEST, &e, &a);
		if (a.code != CODE(ALREADY_EXISTS))
			fail_msg("'%s' after '%s': %s (%s)", pairs[i][1],
				 pairs[i][0], ipsnet_status_name(a.code),
				 a.message);
		answer_free(&a);
	}
	/* Another employer is another job. */
	m.employer = "Bakkerij \303\226zt\303\274rk en Zonen";
	must_change(GGZ_TEST, &e, NULL, 0);
}

/* Nor do spaces make another employer: one at either end (pasted from a
 * mail with the name) or two where one was meant. Was: the job added by
 * hand as "Zorgboerderij De Hoeve " and the sheet's trimmed "Zorgboerderij
 * De Hoeve" were two jobs, counted twice. */
static void test_the_same_job_spaced_otherwise_is_refused(void **state)
{
	static const char *const copies[] = {
	    "Zorgboerderij De Hoeve ",
	    " Zorgboerderij De Hoeve",
	    "Zorgboerderij  De Hoeve",
	    "ZORGBOERDERIJ DE\tHOEVE\n",
	};
	Ipsnet__V1__AddJob m = IPSNET__V1__ADD_JOB__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	struct kase k;
	struct answer a;
	make_case(R_TEST, &k);
	m.client_id = k.client;
	m.start_date = "2025-10-01";
	m.hours_per_week = 12;
	m.employer = "Zorgboerderij De Hoeve";
	e.body_case = BODY(ADD_JOB);
	e.add_job = &m;
	must_change(GGZ_TEST, &e, NULL, 0);
	for (size_t i = 0; i < ARRAY_SIZE(copies); i++) {
		m.employer = (char *)copies[i];
		call(GGZ_TEST, &e, &a);
		if (a.code != CODE(ALREADY_EXISTS))
			fail_msg("'%s': %s (%s)", copies[i],
				 ipsnet_status_name(a.code), a.message);
		answer_free(&a);
	}
	/* Words run together are another name. */
	m.employer = "Zorgboerderij DeHoeve";
	must_change(GGZ_TEST, &e, NULL, 0);
}

/* ---- the journal ------------------------------------------------------- */

/* Every case change the tests made replays to the same state tables. */
static void test_verify_replays_every_change(void **state)
{
	struct h_result r;
	const char *args[] = {"verify", "--config", daemon_.conf, NULL};
	int code = h_run_ipsnetd(&r, args);
	if (code != 0 || strstr(r.out, "ok:") == NULL)
		fail_msg("ipsnetd verify exited %d:\n%s%s", code, r.out, r.err);
	h_result_free(&r);
}

/* ---- the log ----------------------------------------------------------- */

/* Runs last: no BSN, name or note the tests sent is in the daemon's log. */
static void test_log_holds_no_bsn_name_or_note(void **state)
{
	int found = 0;
	assert_true(n_secrets > 100);
	assert_true(h_daemon_log_contains(&daemon_, "msg=listening"));
	for (size_t i = 0; i < n_secrets; i++) {
		if (h_daemon_log_contains(&daemon_, secrets[i])) {
			fprintf(stderr, "the daemon's log holds '%s'\n",
				secrets[i]);
			found++;
		}
	}
	assert_int_equal(found, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_access_matrix),
	    cmocka_unit_test(test_refusal_says_why_and_hides_existence),
	    cmocka_unit_test(test_trajectory_state_machine),
	    cmocka_unit_test(test_trajectory_dates_and_steps),
	    cmocka_unit_test(test_import_checks_every_step),
	    cmocka_unit_test(test_no_import_before_the_client_was_born),
	    cmocka_unit_test(test_funding_state_machine),
	    cmocka_unit_test(test_stale_version_is_a_conflict),
	    cmocka_unit_test(test_conflict_carries_the_current_state),
	    cmocka_unit_test(
		test_funders_conflict_shows_no_more_than_its_decision),
	    cmocka_unit_test(test_wrong_funder_is_refused),
	    cmocka_unit_test(test_a_consent_until_a_past_day_says_so),
	    cmocka_unit_test(test_an_id_of_another_kind_is_named),
	    cmocka_unit_test(test_refusals_name_values_in_words),
	    cmocka_unit_test(test_approval_checks_the_funder_rule_again),
	    cmocka_unit_test(
		test_no_approval_for_a_referral_that_ended_unstarted),
	    cmocka_unit_test(
		test_a_program_handed_over_takes_its_funding_requests),
	    cmocka_unit_test(
		test_approval_replays_after_its_funder_left_the_registry),
	    cmocka_unit_test(test_request_needs_consent),
	    cmocka_unit_test(test_withdrawn_consent_refuses_the_next_read),
	    cmocka_unit_test(test_a_retry_shows_only_what_may_be_seen_now),
	    cmocka_unit_test(test_bsn_is_checked),
	    cmocka_unit_test(test_fidelity_total_and_band_are_computed),
	    cmocka_unit_test(test_jobs),
	    cmocka_unit_test(test_no_job_starts_before_the_client_was_born),
	    cmocka_unit_test(test_her_birth_is_not_moved_after_what_she_did),
	    cmocka_unit_test(test_audit_rows_for_reads_changes_and_refusals),
	    cmocka_unit_test(test_audit_trail_holds_no_bsn_typed_as_an_id),
	    cmocka_unit_test(test_audit_trail_holds_no_bsn_written_in_groups),
	    cmocka_unit_test(test_audit_trail_holds_no_name_typed_as_an_id),
	    cmocka_unit_test(
		test_audit_trail_holds_no_birth_date_typed_as_an_id),
	    cmocka_unit_test(
		test_a_search_for_another_ggzs_client_is_on_its_trail),
	    cmocka_unit_test(test_retry_is_replayed_and_audited),
	    cmocka_unit_test(test_a_key_tells_another_organisation_nothing),
	    cmocka_unit_test(test_a_refused_funding_page_is_audited),
	    cmocka_unit_test(test_a_change_refused_unjudged_is_audited),
	    cmocka_unit_test(test_a_change_refused_for_its_text_is_audited),
	    cmocka_unit_test(test_no_audit_no_answer),
	    cmocka_unit_test(test_blank_texts_are_refused),
	    cmocka_unit_test(test_the_same_job_in_capitals_is_refused),
	    cmocka_unit_test(test_the_same_job_spaced_otherwise_is_refused),
	    cmocka_unit_test(test_verify_replays_every_change),
	    /* last: it reads the log every test before wrote */
	    cmocka_unit_test(test_log_holds_no_bsn_name_or_note),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
