/* Churn stress (not part of ctest: it runs for about a minute). The real
 * ipsnetd on 127.0.0.1 with real certificates; while two writer processes
 * commit as fast as they can (registrations, and a consent to gm0363
 * withdrawn and granted again with updates of its client in between),
 * subscribers as ggz-test and gm0363 connect, subscribe from 0 or from the
 * head, read a random number of frames and end abruptly: close without
 * close_notify, RST (SO_LINGER 0), close_notify, Unsubscribe, or they stop
 * reading and stay. Checked:
 *   - ggz-test sees every entry: its events come with seq prev + 1, never
 *     twice, CaughtUp at the last one;
 *   - no delivery to gm0363 of the client is recorded in the audit trail
 *     (in commit order) after a withdrawal and before the next grant
 *     (deliveries are judged when they go, so an entry made while the
 *     consent was withdrawn may go once it is given again);
 *   - 80 more ggz-test subscribers live from the head, read without
 *     waiting: enough for the live fan-out's threads (fanout.c);
 *   - after every subscriber is gone, the daemon's open sockets come back
 *     to their level (deadline), VmRSS is printed (CHURN_ROUNDS=N repeats
 *     the churn and the measure N times, to see whether it levels off);
 *   - SIGTERM while subscribers and writers run: exit 0 within the
 *     harness's deadline;
 *   - the daemon's log holds no sanitizer report.
 * Usage: churn_stress [SECONDS (30)] [SEED]. Exit 0 when all held. Run it
 * in the ASan+UBSan and TSan builds (TSAN_OPTIONS as tests/CMakeLists.txt
 * sets it); IPSNET_TEST_KEEP=1 keeps the daemon's folder. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <dirent.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <sqlite3.h>

#include "harness.h"
#include "ipsnet.h"
#include "util.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name
#define BENEFIT(name) IPSNET__V1__BENEFIT__BENEFIT_##name

static const char *certs;
static int port;
static int failures;

#define CHECK(cond, ...)                                       \
	do {                                                   \
		if (!(cond)) {                                 \
			fprintf(stderr, "FAIL: " __VA_ARGS__); \
			fputc('\n', stderr);                   \
			failures++;                            \
		}                                              \
	} while (0)

static uint64_t now_ms(void)
{
	return util_mono_us() / 1000;
}

static struct ipsnet_client *open_as(const char *org)
{
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	snprintf(server, sizeof(server), "127.0.0.1:%d", port);
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	snprintf(cert, sizeof(cert), "%s/%s.crt", certs, org);
	snprintf(key, sizeof(key), "%s/%s.key", certs, org);
	struct ipsnet_options opt = {.server = server,
				     .ca = ca,
				     .cert = cert,
				     .key = key,
				     .user = "churn",
				     .timeout_ms = 20000};
	struct ipsnet_client *c = NULL;
	if (ipsnet_client_open(&c, &opt, err, sizeof(err)) != 0) {
		fprintf(stderr, "cannot connect as %s: %s\n", org, err);
		return NULL;
	}
	return c;
}

/* 0 on refusal or failure, else the seq. */
static uint64_t change(struct ipsnet_client *c, Ipsnet__V1__Envelope *req,
		       char *id, uint64_t *version)
{
	Ipsnet__V1__Envelope *resp = NULL;
	uint8_t key[16];
	char err[256];
	ipsnet_new_idempotency_key(key);
	req->idempotency_key.data = key;
	req->idempotency_key.len = sizeof(key);
	int rv = ipsnet_client_call(c, req, &resp, err, sizeof(err));
	if (rv != 0 || resp == NULL || resp->change_ok == NULL) {
		ipsnet_envelope_free(resp);
		return 0;
	}
	if (id != NULL)
		snprintf(id, 64, "%s", resp->change_ok->entity_id);
	if (version != NULL)
		*version = resp->change_ok->version;
	uint64_t seq = resp->change_ok->seq;
	ipsnet_envelope_free(resp);
	return seq;
}

static uint64_t register_client(struct ipsnet_client *c, int benefit, char *id,
				unsigned salt)
{
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	char bsn[16];
	h_new_bsn(bsn, salt);
	m.bsn = bsn;
	m.name = "Churn Testpersoon";
	m.birth_date = "1985-04-12";
	m.municipality = "GM0363";
	m.benefit = benefit;
	e.body_case = BODY(REGISTER_CLIENT);
	e.register_client = &m;
	return change(c, &e, id, NULL);
}

static uint64_t grant(struct ipsnet_client *c, const char *client, char *id,
		      uint64_t *version)
{
	Ipsnet__V1__GrantConsent m = IPSNET__V1__GRANT_CONSENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.client_id = (char *)client;
	m.recipient = "gm0363";
	m.purpose = "funding of the IPS trajectory";
	m.valid_until = "2099-12-31";
	e.body_case = BODY(GRANT_CONSENT);
	e.grant_consent = &m;
	return change(c, &e, id, version);
}

static uint64_t withdraw(struct ipsnet_client *c, const char *consent,
			 uint64_t version)
{
	Ipsnet__V1__WithdrawConsent m = IPSNET__V1__WITHDRAW_CONSENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.consent_id = (char *)consent;
	m.expected_version = version;
	e.body_case = BODY(WITHDRAW_CONSENT);
	e.withdraw_consent = &m;
	return change(c, &e, NULL, NULL);
}

static uint64_t update_client(struct ipsnet_client *c, const char *client,
			      uint64_t version, uint64_t *new_version)
{
	Ipsnet__V1__UpdateClient m = IPSNET__V1__UPDATE_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.client_id = (char *)client;
	m.expected_version = version;
	m.name = "Churn Nieuwe Naam";
	e.body_case = BODY(UPDATE_CLIENT);
	e.update_client = &m;
	return change(c, &e, NULL, new_version);
}

static uint64_t simple(struct ipsnet_client *c, Ipsnet__V1__Envelope *e,
		       char *id)
{
	return change(c, e, id, NULL);
}

/* X: a client of ggz-test with a funding request to gm0363 and consent. */
static int funded_client(struct ipsnet_client *ggz, struct ipsnet_client *net,
			 char *x, char *cx, uint64_t *cx_version)
{
	char tx[64], fx[64];
	Ipsnet__V1__PutProgram p = IPSNET__V1__PUT_PROGRAM__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	p.program_id = "churn-team";
	p.owner = "ggz-test";
	p.name = "churn-team";
	p.region = 1;
	p.specialists = 3;
	e.body_case = BODY(PUT_PROGRAM);
	e.put_program = &p;
	if (simple(net, &e, NULL) == 0)
		return -1;
	if (register_client(ggz, BENEFIT(PARTICIPATIEWET), x, 0) == 0 ||
	    grant(ggz, x, cx, cx_version) == 0)
		return -1;
	Ipsnet__V1__Refer r = IPSNET__V1__REFER__INIT;
	Ipsnet__V1__Envelope e2 = IPSNET__V1__ENVELOPE__INIT;
	r.client_id = x;
	r.program_id = "churn-team";
	r.note = "note";
	e2.body_case = BODY(REFER);
	e2.refer = &r;
	if (simple(ggz, &e2, tx) == 0)
		return -1;
	Ipsnet__V1__RequestFunding f = IPSNET__V1__REQUEST_FUNDING__INIT;
	Ipsnet__V1__Envelope e3 = IPSNET__V1__ENVELOPE__INIT;
	f.trajectory_id = tx;
	f.funder = "gm0363";
	f.months = 12;
	e3.body_case = BODY(REQUEST_FUNDING);
	e3.request_funding = &f;
	return simple(ggz, &e3, fx) == 0 ? -1 : 0;
}

/* ---- writers (child processes) ----------------------------------------- */

static volatile sig_atomic_t stop_writing;
static void on_term(int sig)
{
	stop_writing = 1;
}

static pid_t start_registrar(unsigned salt)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	signal(SIGTERM, on_term);
	struct ipsnet_client *c = open_as("ggz-test");
	if (c == NULL)
		_exit(2);
	while (!stop_writing)
		if (register_client(c, BENEFIT(NONE), NULL, salt) == 0)
			break;
	_exit(0);
}

/* Withdraws and grants X's consent again, with updates of X between;
 * logs "W seq", "G seq" to path, flushed at each line. */
static pid_t start_consenter(const char *x, const char *cx0, uint64_t cv0,
			     const char *path)
{
	pid_t pid = fork();
	if (pid != 0)
		return pid;
	signal(SIGTERM, on_term);
	FILE *log = fopen(path, "w");
	struct ipsnet_client *c = open_as("ggz-test");
	if (c == NULL || log == NULL)
		_exit(2);
	char cx[64];
	uint64_t cv = cv0, xv = 1;
	snprintf(cx, sizeof(cx), "%s", cx0);
	while (!stop_writing) {
		for (int i = 0; i < 3; i++) {
			uint64_t s = update_client(c, x, xv, &xv);
			if (s == 0)
				_exit(stop_writing ? 0 : 3);
			fprintf(log, "U %" PRIu64 "\n", s);
		}
		uint64_t s = withdraw(c, cx, cv);
		if (s == 0)
			_exit(stop_writing ? 0 : 4);
		fprintf(log, "W %" PRIu64 "\n", s);
		fflush(log);
		for (int i = 0; i < 2; i++) {
			uint64_t u = update_client(c, x, xv, &xv);
			if (u == 0)
				_exit(stop_writing ? 0 : 5);
			fprintf(log, "U %" PRIu64 "\n", u);
		}
		s = grant(c, x, cx, &cv);
		if (s == 0)
			_exit(stop_writing ? 0 : 6);
		fprintf(log, "G %" PRIu64 "\n", s);
		fflush(log);
	}
	fclose(log);
	_exit(0);
}

/* ---- subscribers ------------------------------------------------------- */

enum end_how { END_CLOSE, END_RST, END_NOTIFY, END_UNSUB, END_STUCK, N_ENDS };

struct sub {
	bool used;
	struct h_tls t;
	bool gm;	/* gm0363, else ggz-test */
	uint64_t since; /* 0 or the head */
	uint64_t last;	/* last seq received (event or CaughtUp) */
	bool started;	/* an event or CaughtUp came */
	int to_read;	/* frames before its end */
	enum end_how how;
	int frames;
	int resubs;  /* Unsubscribe and Subscribe again, this many times */
	int phase;   /* 1: Unsubscribe sent; 2: its answer came, the new
		      * Subscribe sent: no event may come before the answer */
	bool kinds;  /* asked for consents only */
	bool hashed; /* since with since_hash */
};

/* Where a ggz-test subscriber was last: another resumes there with the
 * hash it was given. */
static uint64_t resume_seq;
static uint8_t resume_hash[32];

#define MAX_SUBS 24
#define MAX_STUCK 8
static struct sub subs[MAX_SUBS];
static int n_stuck;
static bool stopping; /* SIGTERM sent: "shutting down" is expected */

/* gm0363's events (of X: it sees no other client). */
static size_t n_gm;
static uint64_t events_total, catchups_total, subs_total, resubs_total;
static unsigned ends_total[N_ENDS];

/* Live subscribers enough for the fan-out's threads (at least 64 live
 * deliveries in one fetch): ggz-test from the head, read without waiting,
 * one now and then ended and opened again. */
#define CROWD 80
static struct sub crowd[CROWD];
static bool opening_crowd;

static void sub_open(struct sub *s, uint64_t head)
{
	memset(s, 0, sizeof(*s));
	s->t.fd = -1;
	s->gm = !opening_crowd && rand() % 3 == 0;
	s->since = opening_crowd || rand() % 2 != 0 ? head : 0;
	s->how = (enum end_how)(rand() % N_ENDS);
	if (s->how == END_STUCK && (n_stuck >= MAX_STUCK || opening_crowd))
		s->how = END_CLOSE;
	/* A few frames (during catch-up pages), or many (past CaughtUp). */
	s->to_read = rand() % 4 == 0 ? rand() % 4000 : rand() % 40;
	struct h_tls_opts o;
	h_tls_opts_org(&o, certs, s->gm ? "gm0363" : "ggz-test");
	if (s->how == END_STUCK)
		o.rcvbuf = 4096; /* the kernel holds little for it */
	if (h_tls_connect(&s->t, port, &o) != 0 ||
	    h_tls_hello(&s->t, "churn", NULL) != 0) {
		fprintf(stderr, "connect: %s\n", s->t.error);
		h_tls_close(&s->t);
		return;
	}
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribe m = IPSNET__V1__SUBSCRIBE__INIT;
	char *consent_only[] = {"consent"};
	if (!s->gm && !opening_crowd && resume_seq > 0 && rand() % 3 == 0) {
		s->since = resume_seq;
		s->hashed = true;
		m.since_hash.data = resume_hash;
		m.since_hash.len = 32;
	}
	if (!s->gm && !opening_crowd && rand() % 5 == 0) {
		s->kinds = true;
		m.kinds = consent_only;
		m.n_kinds = 1;
	}
	m.since_seq = s->since;
	e.request_id = 7;
	e.body_case = BODY(SUBSCRIBE);
	e.subscribe = &m;
	if (h_tls_send_envelope(&s->t, &e) != 0) {
		h_tls_close(&s->t);
		return;
	}
	s->last = s->since;
	s->used = true;
	if (s->how != END_STUCK && rand() % 3 == 0)
		s->resubs = 1 + rand() % 3;
	subs_total++;
	if (s->how == END_STUCK)
		n_stuck++;
}

static void sub_end(struct sub *s)
{
	ends_total[s->how]++;
	switch (s->how) {
	case END_RST: {
		struct linger l = {1, 0};
		setsockopt(s->t.fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
		close(s->t.fd);
		s->t.fd = -1;
		break;
	}
	case END_NOTIFY:
		SSL_shutdown(s->t.ssl);
		break;
	case END_UNSUB: {
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__Unsubscribe m = IPSNET__V1__UNSUBSCRIBE__INIT;
		e.request_id = 9;
		e.body_case = BODY(UNSUBSCRIBE);
		e.unsubscribe = &m;
		(void)h_tls_send_envelope(&s->t, &e);
		break;
	}
	default:
		break;
	}
	if (s->t.fd >= 0 && s->how != END_NOTIFY && s->how != END_UNSUB) {
		/* no close_notify: the socket simply closes */
		close(s->t.fd);
		s->t.fd = -1;
	}
	h_tls_close(&s->t);
	if (s->how == END_STUCK)
		n_stuck--;
	s->used = false;
}

/* Reads up to n frames within ms each; checks them. False when it ended. */
static bool sub_read(struct sub *s, int n, int ms)
{
	for (int i = 0; i < n; i++) {
		Ipsnet__V1__Envelope *e = h_tls_recv_envelope(&s->t, ms);
		if (e == NULL)
			return !s->t.closed;
		s->frames++;
		if (e->body_case == BODY(EVENT)) {
			uint64_t seq = e->event->seq;
			events_total++;
			CHECK(s->phase != 2,
			      "event %" PRIu64
			      " between Unsubscribe's answer and Subscribed",
			      seq);
			if (s->gm) {
				CHECK(seq > s->last,
				      "gm0363 event %" PRIu64 " after %" PRIu64,
				      seq, s->last);
				n_gm++;
			} else if (s->kinds) {
				CHECK(seq > s->last,
				      "ggz-test consents: event %" PRIu64
				      " after %" PRIu64,
				      seq, s->last);
			} else {
				CHECK(seq == s->last + 1,
				      "ggz-test (since %" PRIu64
				      ") event %" PRIu64 " after %" PRIu64,
				      s->since, seq, s->last);
			}
			s->last = seq;
			s->started = true;
			if (!s->gm && !s->kinds && e->event->hash.len == 32 &&
			    rand() % 16 == 0) {
				resume_seq = seq;
				memcpy(resume_hash, e->event->hash.data, 32);
			}
		} else if (e->body_case == BODY(CAUGHT_UP)) {
			catchups_total++;
			if (!s->gm && !s->kinds)
				CHECK(e->caught_up->seq == s->last,
				      "ggz-test CaughtUp %" PRIu64
				      " after event %" PRIu64,
				      e->caught_up->seq, s->last);
			else
				CHECK(e->caught_up->seq >= s->last,
				      "gm0363 CaughtUp %" PRIu64
				      " after event %" PRIu64,
				      e->caught_up->seq, s->last);
			s->last = e->caught_up->seq;
			s->started = true;
		} else if (e->body_case == BODY(SUBSCRIBED) &&
			   e->request_id == 9 && s->phase == 1) {
			/* Unsubscribed: subscribe again where it was. */
			Ipsnet__V1__Envelope r = IPSNET__V1__ENVELOPE__INIT;
			Ipsnet__V1__Subscribe m = IPSNET__V1__SUBSCRIBE__INIT;
			char *consent_only[] = {"consent"};
			m.since_seq = s->last;
			if (s->kinds) {
				m.kinds = consent_only;
				m.n_kinds = 1;
			}
			r.request_id = 11;
			r.body_case = BODY(SUBSCRIBE);
			r.subscribe = &m;
			s->phase = 2;
			if (h_tls_send_envelope(&s->t, &r) != 0) {
				h_envelope_free(e);
				return false;
			}
		} else if (e->body_case == BODY(SUBSCRIBED) &&
			   e->request_id == 11 && s->phase == 2) {
			s->phase = 0;
		} else if (e->body_case == BODY(SUBSCRIBED)) {
		} else if (e->status != NULL && e->status->code != 0 &&
			   !stopping) {
			fprintf(stderr, "subscriber got status %d: %s\n",
				(int)e->status->code, e->status->message);
			failures++;
		}
		h_envelope_free(e);
	}
	return true;
}

/* The daemon's open sockets. */
static int count_fds(pid_t pid)
{
	if (getenv("CHURN_FDS") != NULL) {
		char cmd[128];
		snprintf(cmd, sizeof(cmd), "ls -l /proc/%d/fd >&2", (int)pid);
		(void)system(cmd);
	}
	char path[64];
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	DIR *d = opendir(path);
	if (d == NULL)
		return -1;
	int n = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		char fd[PATH_MAX], to[PATH_MAX];
		snprintf(fd, sizeof(fd), "%s/%s", path, de->d_name);
		ssize_t len = readlink(fd, to, sizeof(to) - 1);
		/* Sockets: the SQLite readers open their files lazily. */
		n += len > 7 && strncmp(to, "socket:", 7) == 0;
	}
	closedir(d);
	return n;
}

/* The journal head, as a fresh Hello tells it. */
static uint64_t journal_head(void)
{
	struct h_tls t;
	Ipsnet__V1__Envelope *ok = NULL;
	uint64_t head = 0;
	memset(&t, 0, sizeof(t));
	t.fd = -1;
	struct h_tls_opts o;
	h_tls_opts_org(&o, certs, "ggz-test");
	memset(&t, 0, sizeof(t));
	t.fd = -1;
	if (h_tls_connect(&t, port, &o) == 0 &&
	    h_tls_hello(&t, "churn", &ok) == 0 && ok != NULL &&
	    ok->hello_ok != NULL)
		head = ok->hello_ok->journal_seq;
	h_envelope_free(ok);
	h_tls_close(&t);
	return head;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 30;
	unsigned seed = argc > 2 ? (unsigned)atoi(argv[2]) : (unsigned)getpid();
	srand(seed);
	fprintf(stderr, "churn: %d s, seed %u\n", seconds, seed);
	h_init();
	certs = h_tmpdir();
	const char *dir = h_tmpdir();
	struct h_daemon d;
	if (certs == NULL || dir == NULL || h_make_certs(certs) != 0 ||
	    h_write_config(dir, certs,
			   "delivery_threads = 4\n"
			   "send_buffer_bytes = 65536\n") != 0 ||
	    h_daemon_start(&d, dir) != 0)
		return 2;
	port = d.port;
	struct ipsnet_client *ggz = open_as("ggz-test");
	struct ipsnet_client *net = open_as("network");
	char x[64], cx[64];
	uint64_t cv = 0;
	if (ggz == NULL || net == NULL || funded_client(ggz, net, x, cx, &cv))
		return 2;
	for (int i = 0; i < 10000; i++)
		if (register_client(ggz, BENEFIT(NONE), NULL, 99) == 0)
			return 2;
	int fds0 = count_fds(d.pid);
	long rss0 = h_rss_kib(d.pid);
	fprintf(stderr, "setup done: fds %d, VmRSS %ld KiB\n", fds0, rss0);

	char consent_log[PATH_MAX];
	snprintf(consent_log, sizeof(consent_log), "%s/consents", dir);
	pid_t w1 = start_registrar(1);
	pid_t w2 = start_registrar(2);
	pid_t w3 = start_consenter(x, cx, cv, consent_log);

	int rounds =
	    getenv("CHURN_ROUNDS") != NULL ? atoi(getenv("CHURN_ROUNDS")) : 1;
	for (int round = 0; round < rounds; round++) {
		uint64_t end = now_ms() + (uint64_t)seconds * 1000;
		while (now_ms() < end) {
			struct sub *cs = &crowd[rand() % CROWD];
			if (!cs->used) {
				opening_crowd = true;
				sub_open(cs, journal_head());
				opening_crowd = false;
			} else if (!sub_read(cs, 4096, 0)) {
				fprintf(stderr, "crowd subscriber closed: %s\n",
					cs->t.error);
				failures++;
				cs->how = END_CLOSE;
				sub_end(cs);
			} else if (rand() % 100 == 0) {
				sub_end(cs);
			}
			int i = rand() % MAX_SUBS;
			struct sub *s = &subs[i];
			if (!s->used) {
				sub_open(s, journal_head());
				continue;
			}
			if (s->how == END_STUCK) {
				if (rand() % 50 == 0)
					sub_end(s);
				continue;
			}
			int n = 1 + rand() % 64;
			bool alive = sub_read(s, n, 200);
			if (!alive) {
				fprintf(stderr,
					"subscriber closed by the server: %s\n",
					s->t.error);
				failures++;
				s->how = END_CLOSE;
				sub_end(s);
				continue;
			}
			if (s->frames >= s->to_read && s->resubs > 0 &&
			    s->phase == 0) {
				Ipsnet__V1__Envelope e =
				    IPSNET__V1__ENVELOPE__INIT;
				Ipsnet__V1__Unsubscribe m =
				    IPSNET__V1__UNSUBSCRIBE__INIT;
				e.request_id = 9;
				e.body_case = BODY(UNSUBSCRIBE);
				e.unsubscribe = &m;
				s->resubs--;
				s->phase = 1;
				s->to_read += rand() % 4 == 0 ? rand() % 4000
							      : rand() % 40;
				resubs_total++;
				if (h_tls_send_envelope(&s->t, &e) != 0)
					sub_end(s);
			} else if (s->frames >= s->to_read && s->phase == 0) {
				sub_end(s);
			}
		}
		for (int i = 0; i < MAX_SUBS; i++)
			if (subs[i].used)
				sub_end(&subs[i]);
		for (int i = 0; i < CROWD; i++)
			if (crowd[i].used)
				sub_end(&crowd[i]);
		/* Writers pause: fds and memory back to their level. */
		kill(w1, SIGSTOP);
		kill(w2, SIGSTOP);
		kill(w3, SIGSTOP);
		int fds1 = -1;
		uint64_t deadline = now_ms() + 10000;
		while (now_ms() < deadline) {
			fds1 = count_fds(d.pid);
			if (fds1 <=
			    fds0 + 3) /* the writers' three connections */
				break;
		}
		fprintf(
		    stderr,
		    "after churn: fds %d (setup %d + 3 writers), VmRSS %ld KiB "
		    "(setup %ld)\n",
		    fds1, fds0, h_rss_kib(d.pid), rss0);
		CHECK(fds1 <= fds0 + 3, "fds did not come back: %d, was %d + 3",
		      fds1, fds0);
		kill(w1, SIGCONT);
		kill(w2, SIGCONT);
		kill(w3, SIGCONT);
	}

	/* SIGTERM while subscribers catch up, stand stuck, and writers run. */
	uint64_t head = journal_head();
	for (int i = 0; i < MAX_SUBS; i++) {
		sub_open(&subs[i], head);
		if (subs[i].used && subs[i].how != END_STUCK)
			sub_read(&subs[i], 1 + rand() % 8, 200);
	}
	stopping = true;
	uint64_t t0 = now_ms();
	int status = h_daemon_stop(&d, SIGTERM);
	fprintf(stderr, "ipsnetd exited %d %.1f s after SIGTERM\n", status,
		(double)(now_ms() - t0) / 1000.0);
	CHECK(status == 0, "ipsnetd exited %d on SIGTERM", status);
	for (int i = 0; i < MAX_SUBS; i++)
		if (subs[i].used) {
			while (sub_read(&subs[i], 64, 100) && !subs[i].t.closed)
				;
			sub_end(&subs[i]);
		}
	kill(w1, SIGTERM);
	kill(w2, SIGTERM);
	kill(w3, SIGTERM);
	waitpid(w1, NULL, 0);
	waitpid(w2, NULL, 0);
	waitpid(w3, NULL, 0);

	/* Deliveries to gm0363 recorded (audit rows, in commit order) after
	 * a withdrawal of X's consent and before the next grant. Which
	 * entries go is judged at delivery, not at the entry's seq: an entry
	 * made while consent was withdrawn may go once it is given again. */
	char db[PATH_MAX];
	snprintf(db, sizeof(db), "%s/ipsnet.db", dir);
	sqlite3 *sdb = NULL;
	sqlite3_stmt *st = NULL;
	long long bad = -1, rows = -1;
	if (sqlite3_open_v2(db, &sdb, SQLITE_OPEN_READONLY, NULL) ==
		SQLITE_OK &&
	    sqlite3_prepare_v2(
		sdb,
		"WITH s AS (SELECT (SELECT b.action FROM audit b WHERE "
		"b.client_id = ?1 AND b.id < a.id AND b.action IN "
		"('withdraw_consent', 'grant_consent') ORDER BY b.id DESC "
		"LIMIT 1) AS prev FROM audit a WHERE a.client_id = ?1 AND "
		"a.org = 'gm0363' AND a.action = 'sync') SELECT "
		"count(*), coalesce(sum(prev = 'withdraw_consent'), 0) FROM s",
		-1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, x, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_ROW) {
			rows = sqlite3_column_int64(st, 0);
			bad = sqlite3_column_int64(st, 1);
		}
	}
	sqlite3_finalize(st);
	sqlite3_close(sdb);
	CHECK(bad == 0,
	      "%lld of %lld gm0363 deliveries of X recorded after a "
	      "withdrawal, before the grant again",
	      bad, rows);
	size_t nw = 0;
	FILE *cl = fopen(consent_log, "r");
	char k;
	uint64_t sq;
	while (cl != NULL && fscanf(cl, " %c %" SCNu64, &k, &sq) == 2)
		nw += k == 'W';
	if (cl != NULL)
		fclose(cl);
	const char *const bad_words[] = {"AddressSanitizer", "LeakSanitizer",
					 "ThreadSanitizer", "runtime error",
					 "level=error"};
	for (size_t i = 0; i < sizeof(bad_words) / sizeof(bad_words[0]); i++)
		CHECK(!h_file_contains(d.log, bad_words[i]),
		      "the daemon's log (%s) holds '%s'", d.log, bad_words[i]);
	fprintf(stderr,
		"subscribers %" PRIu64 ", events %" PRIu64 ", CaughtUp %" PRIu64
		", gm0363 events %zu, withdrawals %zu; ends: close %u rst %u "
		"notify %u unsub %u stuck %u; subscribed again %" PRIu64
		"; failures %d\n",
		subs_total, events_total, catchups_total, n_gm, nw,
		ends_total[0], ends_total[1], ends_total[2], ends_total[3],
		ends_total[4], resubs_total, failures);
	if (getenv("IPSNET_TEST_KEEP") == NULL)
		h_cleanup();
	return failures == 0 ? 0 : 1;
}

/* The leaks that count are the daemon's (its log is searched): this
 * program keeps its clients to the end. */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "detect_leaks=0";
}
