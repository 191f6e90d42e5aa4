/* The journal from outside (DESIGN §4, issue 4 items 3 to 6), against the
 * real ipsnetd and the real libipsnet on 127.0.0.1 with real certificates.
 *
 * The crash test: several client threads register clients as fast as they
 * can while the daemon is killed with SIGKILL at random moments and
 * restarted; a client whose connection broke sends its change again with
 * the same idempotency key. Afterwards every acknowledged change is in the
 * journal exactly once, every client row has its entry and every entry its
 * client row, and `ipsnetd verify` passes. The kill moments and the keys
 * come from a seeded PRNG; the seed is printed, and IPSNET_TEST_SEED=N
 * runs the same kills again.
 *
 * The full-disk tests: the database on a small tmpfs the test mounts (root
 * only; elsewhere they say so on stderr and skip), filled by clients until
 * the disk refuses their changes; reads go on, room made again lets changes
 * in again, and after a SIGKILL (also one on the full disk) the journal
 * holds every acknowledged change once and no refused one.
 *
 * Also: tampering found by `ipsnetd verify`, start-up with a broken chain,
 * a retried change applied once, an online backup while a load runs, and
 * the journal head in `ipsnet whoami`. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sqlite3.h>

#include "harness.h"
#include "ipsnet.h"
#include "util.h"
#include "validate.h"

/* The crash test's shape. */
#define CRASH_WORKERS 4
#define CRASH_ROUNDS 5
#define CRASH_KILL_MIN_MS 50
#define CRASH_KILL_SPAN_MS 350 /* kill 50..400 ms into a round's load */
/* Waits, in milliseconds. */
#define LOAD_FLOWS_MS 15000	/* for a restarted daemon's first answers */
#define WORKER_GIVE_UP_MS 40000 /* a worker without answers gives up */
#define CLIENT_TIMEOUT_MS 5000
/* The longest a `sync --follow` waits before it tries to connect again
 * (RETRY_MAX_MS in client/cli/cmd_sync.c). */
#define FOLLOWER_RETRY_MAX_MS 30000

/* The ipsnet command's exit codes. */
enum { EXIT_OK = 0 };

/* Made once in the group setup. */
static const char *certs;

/* ---- a tiny PRNG: the same seed gives the same run --------------------- */

static uint64_t splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static uint64_t test_seed(void)
{
	const char *s = getenv("IPSNET_TEST_SEED");
	if (s != NULL && s[0] != '\0')
		return strtoull(s, NULL, 0);
	return util_now_us() ^ ((uint64_t)getpid() << 32);
}

/* ---- changes as a client makes them ------------------------------------- */

struct copts {
	char server[64];
	char ca[PATH_MAX];
	char cert[PATH_MAX];
	char key[PATH_MAX];
};

/* libipsnet's options to reach port as the holder of certificate name. */
static struct ipsnet_options options_for(struct copts *c, int port,
					 const char *name)
{
	snprintf(c->server, sizeof(c->server), "127.0.0.1:%d", port);
	snprintf(c->ca, sizeof(c->ca), "%s/ca.crt", certs);
	snprintf(c->cert, sizeof(c->cert), "%s/%s.crt", certs, name);
	snprintf(c->key, sizeof(c->key), "%s/%s.key", certs, name);
	return (struct ipsnet_options){
	    .server = c->server,
	    .ca = c->ca,
	    .cert = c->cert,
	    .key = c->key,
	    .user = "test.user",
	    .software = "ipsnet-journal-test/" IPSNET_VERSION,
	    .timeout_ms = CLIENT_TIMEOUT_MS,
	};
}

/* BSN number i: one that passes the 11-proof among 100000000 + 20 i ..
 * + 19, so that different i never give the same BSN. (Of two decades whose
 * eighth digits differ by one, at least one holds a valid BSN.) */
static void bsn_for(uint64_t i, char out[16])
{
	uint64_t first = 100000000 + 20 * (i % 40000000);
	for (uint64_t n = first; n < first + 20; n++) {
		snprintf(out, 16, "%09" PRIu64, n);
		if (bsn_valid(out))
			return;
	}
	fail_msg("no valid BSN from %09" PRIu64, first);
}

struct reg {
	uint8_t key[16];
	char bsn[16];
	char name[32];
	Ipsnet__V1__Envelope env;
	Ipsnet__V1__RegisterClient rc;
};

/* A RegisterClient of a client with this BSN, under key. */
static void reg_init(struct reg *r, const uint8_t key[16], const char *bsn)
{
	memcpy(r->key, key, 16);
	util_strlcpy(r->bsn, bsn, sizeof(r->bsn));
	snprintf(r->name, sizeof(r->name), "Client %s", bsn);
	r->env = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT;
	r->rc = (Ipsnet__V1__RegisterClient)IPSNET__V1__REGISTER_CLIENT__INIT;
	r->rc.bsn = r->bsn;
	r->rc.name = r->name;
	r->rc.birth_date = "1988-02-29";
	r->rc.municipality = "GM0363";
	r->rc.benefit = IPSNET__V1__BENEFIT__BENEFIT_PARTICIPATIEWET;
	r->env.idempotency_key.data = r->key;
	r->env.idempotency_key.len = 16;
	r->env.body_case = IPSNET__V1__ENVELOPE__BODY_REGISTER_CLIENT;
	r->env.register_client = &r->rc;
}

struct answer {
	int err;
	char message[320];
	uint64_t seq;
	char client_id[64];
	uint64_t current_version;
	uint8_t *change_ok; /* the ChangeOk, packed (malloc) */
	size_t change_ok_len;
};

static void answer_clear(struct answer *a)
{
	free(a->change_ok);
	memset(a, 0, sizeof(*a));
}

/* Sends the change and notes the answer. An answer that is OK must be a
 * ChangeOk for this very client (the same BSN), also when it is the first
 * answer given again. */
static int send_reg(struct ipsnet_client *cl, struct reg *r, struct answer *a)
{
	Ipsnet__V1__Envelope *resp = NULL;

	answer_clear(a);
	a->err = ipsnet_client_call(cl, &r->env, &resp, a->message,
				    sizeof(a->message));
	if (resp != NULL && resp->status != NULL)
		a->current_version = resp->status->current_version;
	if (a->err == 0) {
		const Ipsnet__V1__ChangeOk *ok = resp->change_ok;
		if (resp->body_case != IPSNET__V1__ENVELOPE__BODY_CHANGE_OK ||
		    ok->entity_case != IPSNET__V1__CHANGE_OK__ENTITY_CLIENT ||
		    strcmp(ok->client->bsn, r->bsn) != 0 ||
		    strcmp(ok->entity_id, ok->client->id) != 0) {
			a->err = IPSNET_EPROTOCOL;
			snprintf(a->message, sizeof(a->message),
				 "the answer is not this client's ChangeOk");
		} else {
			a->seq = ok->seq;
			util_strlcpy(a->client_id, ok->entity_id,
				     sizeof(a->client_id));
			a->change_ok_len =
			    ipsnet__v1__change_ok__get_packed_size(ok);
			a->change_ok = malloc(a->change_ok_len + 1);
			if (a->change_ok != NULL)
				ipsnet__v1__change_ok__pack(ok, a->change_ok);
		}
	}
	if (resp != NULL)
		ipsnet_envelope_free(resp);
	return a->err;
}

/* Whether err means the connection (not the server's judgement) failed:
 * then whether the change was applied is unknown, and it is sent again
 * with the same key. */
static bool transport_error(int err)
{
	switch (err) {
	case IPSNET_ECLOSED:
	case IPSNET_ECONNECT:
	case IPSNET_ETLS:
	case IPSNET_ETIMEOUT:
	case IPSNET_EIO:
		return true;
	}
	return false;
}

/* ---- the load: worker threads, each with its own connection ------------ */

struct ack {
	uint8_t key[16];
	char bsn[16];
	char client_id[64];
	uint64_t seq;
	uint64_t resent_from_us; /* sent again: when it was first sent; or 0 */
};

struct load;

struct worker {
	pthread_t thread;
	bool started;
	int index;
	struct load *load;
	uint64_t rng;
	uint64_t n_made; /* changes made (BSN numbers used) */
	struct ack *acks;
	size_t n_acks, cap_acks;
	uint64_t resent;      /* changes sent again after a broken connection */
	uint64_t unavailable; /* UNAVAILABLE answers (sent again too) */
	uint64_t connects;
	char failure[512]; /* the first thing that must not happen */
};

struct load {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int port;	     /* 0 while the daemon is down */
	uint64_t generation; /* bumped at every (re)start */
	bool stop;	     /* finish the change in hand, then end */
	atomic_uint_fast64_t acked;
	int n_workers;
	struct worker workers[CRASH_WORKERS];
};

/* The daemon's port for the workers of a load (the crash rounds' and the
 * full disk's), under its lock: 0 while it is down; each (re)start a new
 * generation. */
static void publish_port(pthread_mutex_t *mu, pthread_cond_t *cv, int *port_at,
			 uint64_t *generation, int port)
{
	pthread_mutex_lock(mu);
	*port_at = port;
	(*generation)++;
	pthread_cond_broadcast(cv);
	pthread_mutex_unlock(mu);
}

/* Waits (at most ms) for a generation after seen, or for *stop. */
static void wait_generation(pthread_mutex_t *mu, pthread_cond_t *cv,
			    const uint64_t *generation, const bool *stop,
			    uint64_t seen, int ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_nsec += (long)ms * 1000000L;
	until.tv_sec += until.tv_nsec / 1000000000L;
	until.tv_nsec %= 1000000000L;
	pthread_mutex_lock(mu);
	int rc = 0;
	while (*generation == seen && !*stop && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(cv, mu, &until);
	pthread_mutex_unlock(mu);
}

static void load_publish_port(struct load *l, int port)
{
	publish_port(&l->mu, &l->cv, &l->port, &l->generation, port);
}

/* Waits (at most ms) for the daemon's next (re)start, or the stop. */
static void load_wait_generation(struct load *l, uint64_t seen, int ms)
{
	wait_generation(&l->mu, &l->cv, &l->generation, &l->stop, seen, ms);
}

static void worker_fail(struct worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void worker_fail(struct worker *w, const char *fmt, ...)
{
	va_list ap;
	if (w->failure[0] != '\0')
		return;
	va_start(ap, fmt);
	vsnprintf(w->failure, sizeof(w->failure), fmt, ap);
	va_end(ap);
}

static bool worker_record(struct worker *w, const struct reg *r,
			  const struct answer *a, uint64_t resent_from_us)
{
	if (w->n_acks == w->cap_acks) {
		size_t cap = w->cap_acks == 0 ? 256 : w->cap_acks * 2;
		struct ack *bigger = realloc(w->acks, cap * sizeof(*bigger));
		if (bigger == NULL) {
			worker_fail(w, "out of memory");
			return false;
		}
		w->acks = bigger;
		w->cap_acks = cap;
	}
	struct ack *k = &w->acks[w->n_acks++];
	memcpy(k->key, r->key, 16);
	util_strlcpy(k->bsn, r->bsn, sizeof(k->bsn));
	util_strlcpy(k->client_id, a->client_id, sizeof(k->client_id));
	k->seq = a->seq;
	k->resent_from_us = resent_from_us;
	atomic_fetch_add(&w->load->acked, 1);
	return true;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	struct load *l = w->load;
	struct ipsnet_client *cl = NULL;
	struct reg r;
	struct answer a = {0};
	bool in_hand = false; /* r is sent and not answered yet */
	uint64_t first_sent_us = 0, resent_from_us = 0;
	/* Without an answer for WORKER_GIVE_UP_MS it gives up; was: that
	 * long after it started, answers or not, so a load that lasted
	 * longer (daemons that start slowly under TSan on a loaded machine,
	 * five times in the crash test; a backup and a verify while the load
	 * runs) failed 'gave up' though every change was answered. */
	uint64_t give_up = util_mono_us() + WORKER_GIVE_UP_MS * 1000ULL;

	for (;;) {
		pthread_mutex_lock(&l->mu);
		bool stop = l->stop;
		int port = l->port;
		uint64_t gen = l->generation;
		pthread_mutex_unlock(&l->mu);
		if (stop && !in_hand)
			break;
		if (util_mono_us() > give_up) {
			worker_fail(w, "gave up after %d ms without an answer",
				    WORKER_GIVE_UP_MS);
			break;
		}
		if (cl == NULL) {
			struct copts co;
			char err[320];
			if (port == 0) {
				load_wait_generation(l, gen, 100);
				continue;
			}
			struct ipsnet_options o =
			    options_for(&co, port, "ggz-test");
			if (ipsnet_client_open(&cl, &o, err, sizeof(err)) !=
			    0) {
				cl = NULL;
				/* The daemon is down (or going): wait for
				 * its next start, a little. */
				load_wait_generation(l, gen, 20);
				continue;
			}
			w->connects++;
		}
		if (!in_hand) {
			uint8_t key[16];
			char bsn[16];
			uint64_t k1 = splitmix64(&w->rng);
			uint64_t k2 = splitmix64(&w->rng);
			memcpy(key, &k1, 8);
			memcpy(key + 8, &k2, 8);
			/* Each worker its own BSNs: number index + n * K. */
			bsn_for((uint64_t)w->index +
				    w->n_made * (uint64_t)l->n_workers,
				bsn);
			w->n_made++;
			reg_init(&r, key, bsn);
			in_hand = true;
			first_sent_us = util_now_us();
			resent_from_us = 0;
		}
		int err = send_reg(cl, &r, &a);
		if (err == 0) {
			if (!worker_record(w, &r, &a, resent_from_us))
				break;
			in_hand = false;
			/* An answer: the load flows, whatever it took. */
			give_up = util_mono_us() + WORKER_GIVE_UP_MS * 1000ULL;
		} else if (transport_error(err) || err == IPSNET_EUNAVAILABLE) {
			/* Unknown whether it was applied: the same change
			 * with the same key again, on a new connection. */
			if (err == IPSNET_EUNAVAILABLE)
				w->unavailable++;
			else
				w->resent++;
			resent_from_us = first_sent_us;
			ipsnet_client_close(cl);
			cl = NULL;
		} else {
			worker_fail(w, "change with BSN %s refused: %s: %s",
				    r.bsn, ipsnet_err_name(err), a.message);
			break;
		}
	}
	answer_clear(&a);
	ipsnet_client_close(cl);
	return NULL;
}

static struct load *load_new(int n_workers, uint64_t seed)
{
	struct load *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	atomic_init(&l->acked, 0);
	l->n_workers = n_workers;
	for (int i = 0; i < n_workers; i++) {
		struct worker *w = &l->workers[i];
		w->index = i;
		w->load = l;
		w->rng = seed ^ (0x5851f42d4c957f2dULL * (uint64_t)(i + 1));
	}
	return l;
}

static void load_start(struct load *l)
{
	for (int i = 0; i < l->n_workers; i++) {
		struct worker *w = &l->workers[i];
		assert_int_equal(
		    pthread_create(&w->thread, NULL, worker_main, w), 0);
		w->started = true;
	}
}

/* Tells the workers to finish the change in hand and joins them. */
static void load_stop(struct load *l)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	for (int i = 0; i < l->n_workers; i++) {
		if (l->workers[i].started)
			pthread_join(l->workers[i].thread, NULL);
		l->workers[i].started = false;
	}
}

static void load_free(struct load *l)
{
	if (l == NULL)
		return;
	load_stop(l);
	for (int i = 0; i < l->n_workers; i++)
		free(l->workers[i].acks);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

static uint64_t load_acked(struct load *l)
{
	return atomic_load(&l->acked);
}

/* Waits until more than n changes are acknowledged. */
static bool load_wait_acked(struct load *l, uint64_t n, int ms)
{
	uint64_t deadline = util_mono_us() + (uint64_t)ms * 1000;
	while (load_acked(l) <= n) {
		if (util_mono_us() > deadline)
			return false;
		struct timespec ts = {0, 2 * 1000000L};
		nanosleep(&ts, NULL);
	}
	return true;
}

static void assert_workers_healthy(struct load *l)
{
	for (int i = 0; i < l->n_workers; i++) {
		if (l->workers[i].failure[0] != '\0')
			fail_msg("worker %d: %s", i, l->workers[i].failure);
	}
}

/* ---- fixture ------------------------------------------------------------ */

struct full_load;

struct fx {
	const char *dir;
	char db[PATH_MAX];
	struct h_daemon d;
	struct h_result r;
	json_t *json;
	struct load *load;
	struct ipsnet_client *cl[3];
	sqlite3 *sql;
	struct answer ans[3];
	struct full_load *full;
	char disk[PATH_MAX]; /* the small disk's mount point */
	bool mounted;
};

static int group_setup(void **state)
{
	h_init();
	certs = h_tmpdir();
	if (certs == NULL || h_make_certs(certs) != 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	h_cleanup();
	return 0;
}

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	if (fx == NULL)
		return -1;
	fx->dir = h_tmpdir();
	if (fx->dir == NULL) {
		free(fx);
		return -1;
	}
	snprintf(fx->db, sizeof(fx->db), "%s/ipsnet.db", fx->dir);
	*state = fx;
	return 0;
}

static void full_load_free(struct full_load *l);
static int unmount_small_disk(struct fx *fx);

static int teardown(void **state)
{
	struct fx *fx = *state;

	/* The workers first: they end when the daemon is gone too. */
	load_free(fx->load);
	full_load_free(fx->full);
	for (size_t i = 0; i < ARRAY_SIZE(fx->cl); i++)
		ipsnet_client_close(fx->cl[i]);
	for (size_t i = 0; i < ARRAY_SIZE(fx->ans); i++)
		answer_clear(&fx->ans[i]);
	sqlite3_close(fx->sql);
	h_result_free(&fx->r);
	json_decref(fx->json);
	bool was_running = h_daemon_pid(&fx->d) > 0;
	int status = h_daemon_stop(&fx->d, SIGTERM);
	/* After the daemon, whose files are on it; also after a failure. */
	int unmounted = unmount_small_disk(fx);
	free(fx);
	if (unmounted != 0)
		return -1;
	if (was_running && status != 0) {
		fprintf(stderr, "ipsnetd exited with status %d on SIGTERM\n",
			status);
		return -1;
	}
	return 0;
}

static void start_daemon(struct fx *fx)
{
	assert_int_equal(h_write_config(fx->dir, certs, NULL), 0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
}

/* Closes the test's connections to the daemon. */
static void close_clients(struct fx *fx)
{
	for (size_t i = 0; i < ARRAY_SIZE(fx->cl); i++) {
		ipsnet_client_close(fx->cl[i]);
		fx->cl[i] = NULL;
	}
}

static void stop_daemon(struct fx *fx)
{
	close_clients(fx);
	int status = h_daemon_stop(&fx->d, SIGTERM);
	if (status != 0) {
		h_daemon_dump_log(&fx->d);
		fail_msg("ipsnetd exited %d on SIGTERM", status);
	}
}

/* The daemon killed (SIGKILL), as in a crash: what it has not
 * checkpointed stays in the WAL. */
static void kill_daemon(struct fx *fx)
{
	close_clients(fx);
	assert_int_equal(h_daemon_stop(&fx->d, SIGKILL), 128 + SIGKILL);
}

static void restart_daemon(struct fx *fx)
{
	assert_int_equal(h_daemon_restart(&fx->d), 0);
}

/* Stops the daemon, changes entry 2 behind the journal's back and starts
 * it again: it must say that its chain is broken. */
static void break_the_chain_at_2(struct fx *fx)
{
	stop_daemon(fx);
	assert_int_equal(h_sqlite3(fx->db, "DROP TRIGGER journal_no_update; "
					   "UPDATE journal SET user = "
					   "'someone.else' WHERE seq = 2;"),
			 0);
	restart_daemon(fx);
	assert_true(
	    h_daemon_wait_log(&fx->d, "msg=\"journal chain broken\"", 5000));
}

/* Opens connection i (ggz-test) to the running daemon. */
static struct ipsnet_client *client(struct fx *fx, size_t i)
{
	struct copts co;
	char err[320];
	struct ipsnet_options o = options_for(&co, fx->d.port, "ggz-test");

	assert_true(i < ARRAY_SIZE(fx->cl));
	ipsnet_client_close(fx->cl[i]);
	fx->cl[i] = NULL;
	if (ipsnet_client_open(&fx->cl[i], &o, err, sizeof(err)) != 0)
		fail_msg("connect to ipsnetd on port %d: %s", fx->d.port, err);
	return fx->cl[i];
}

static void new_key(uint8_t key[16])
{
	assert_int_equal(ipsnet_new_idempotency_key(key), 0);
}

/* Registers n clients over connection 0; returns the last answer's seq. */
static uint64_t register_clients(struct fx *fx, int n, uint64_t first_bsn)
{
	struct reg r;
	uint8_t key[16];
	char bsn[16];
	uint64_t seq = 0;
	struct ipsnet_client *cl = client(fx, 0);

	for (int i = 0; i < n; i++) {
		new_key(key);
		bsn_for(first_bsn + (uint64_t)i, bsn);
		reg_init(&r, key, bsn);
		if (send_reg(cl, &r, &fx->ans[0]) != 0)
			fail_msg("register client %s: %s: %s", bsn,
				 ipsnet_err_name(fx->ans[0].err),
				 fx->ans[0].message);
		assert_true(fx->ans[0].seq > seq);
		seq = fx->ans[0].seq;
	}
	return seq;
}

/* ---- the database, read directly ---------------------------------------- */

/* The key ipsnetd keeps a change of org sent with key under
 * (docs/architecture.md): the key, then the first 16 bytes of SHA-256 over
 * "ipsnetd-kept-key-v3", the org and the key, the tag and the org each with
 * its NUL. */
static void kept_key(const char *org, const uint8_t key[16], uint8_t kept[32])
{
	static const char tag[] = "ipsnetd-kept-key-v3";
	uint8_t buf[512], md[EVP_MAX_MD_SIZE];
	size_t n = 0, olen = strlen(org) + 1;

	assert_true(sizeof(tag) + olen + 16 <= sizeof(buf));
	memcpy(buf, tag, sizeof(tag));
	n += sizeof(tag);
	memcpy(buf + n, org, olen);
	n += olen;
	memcpy(buf + n, key, 16);
	n += 16;
	assert_int_equal(EVP_Digest(buf, n, md, NULL, EVP_sha256(), NULL), 1);
	memcpy(kept, key, 16);
	memcpy(kept + 16, md, 16);
}

static sqlite3 *db_open(struct fx *fx)
{
	if (fx->sql == NULL) {
		if (sqlite3_open_v2(fx->db, &fx->sql, SQLITE_OPEN_READONLY,
				    NULL) != SQLITE_OK)
			fail_msg("open %s: %s", fx->db,
				 sqlite3_errmsg(fx->sql));
		sqlite3_busy_timeout(fx->sql, 5000);
	}
	return fx->sql;
}

static void db_close(struct fx *fx)
{
	sqlite3_close(fx->sql);
	fx->sql = NULL;
}

/* The integer the query gives; ?1 is a key or a text when given. */
/* The first column of sql's first row in db (key or text bound to ?1). */
static int64_t stmt_int(sqlite3 *db, const char *sql, const uint8_t *key,
			const char *text)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	if (key != NULL)
		sqlite3_bind_blob(st, 1, key, 16, SQLITE_TRANSIENT);
	if (text != NULL)
		sqlite3_bind_text(st, 1, text, -1, SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		fail_msg("%s: no row: %s", sql, sqlite3_errmsg(db));
	}
	int64_t v = sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return v;
}

static int64_t db_int(struct fx *fx, const char *sql, const uint8_t *key,
		      const char *text)
{
	return stmt_int(db_open(fx), sql, key, text);
}

/* The same in another SQLite file (a mirror). */
static int64_t file_int(const char *path, const char *sql)
{
	sqlite3 *db;
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		fail_msg("open %s: %s", path, sqlite3_errmsg(db));
	int64_t v = stmt_int(db, sql, NULL, NULL);
	sqlite3_close(db);
	return v;
}

/* The journal's rows of the change the test's organisation sent with key,
 * under the key itself (which ipsnetd must never keep) or the key it keeps,
 * and the seq and time of the row under the key kept (0 when none). The
 * journal's index of kept keys finds them: a check of thousands of changes
 * walks no table. */
struct key_rows {
	int64_t n, seq, time_us;
};

static struct key_rows journal_rows_of(struct fx *fx, const uint8_t key[16])
{
	static const char sql[] =
	    "SELECT count(*), coalesce(max(CASE WHEN idem_key = ?2 THEN seq "
	    "END), 0), coalesce(max(CASE WHEN idem_key = ?2 THEN time_us END), "
	    "0) FROM journal WHERE idem_key IN (?1, ?2)";
	sqlite3 *db = db_open(fx);
	sqlite3_stmt *st;
	uint8_t kept[32];
	struct key_rows r;

	kept_key("ggz-test", key, kept);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		fail_msg("%s: %s", sql, sqlite3_errmsg(db));
	sqlite3_bind_blob(st, 1, key, 16, SQLITE_TRANSIENT);
	sqlite3_bind_blob(st, 2, kept, sizeof(kept), SQLITE_TRANSIENT);
	if (sqlite3_step(st) != SQLITE_ROW) {
		sqlite3_finalize(st);
		fail_msg("%s: no row: %s", sql, sqlite3_errmsg(db));
	}
	r.n = sqlite3_column_int64(st, 0);
	r.seq = sqlite3_column_int64(st, 1);
	r.time_us = sqlite3_column_int64(st, 2);
	sqlite3_finalize(st);
	return r;
}

static int64_t rows_with_key(struct fx *fx, const uint8_t key[16])
{
	return journal_rows_of(fx, key).n;
}

/* ---- running ipsnetd and ipsnet ----------------------------------------- */

static void print_result(const char *what, const struct h_result *r)
{
	fprintf(stderr, "%s: exit %d\nstdout: %s\nstderr: %s\n", what, r->code,
		r->out, r->err);
}

/* Runs `ipsnetd COMMAND [ARG] FLAG VALUE` and checks its exit code. */
static void ipsnetd_with(struct fx *fx, const char *command, const char *arg,
			 const char *flag, const char *value, int want_exit)
{
	const char *args[6];
	int n = 0;
	args[n++] = command;
	if (arg != NULL)
		args[n++] = arg;
	args[n++] = flag;
	args[n++] = value;
	args[n] = NULL;
	h_result_free(&fx->r);
	if (h_run_ipsnetd(&fx->r, args) != want_exit) {
		print_result(command, &fx->r);
		fail_msg("ipsnetd %s exited %d, not %d", command, fx->r.code,
			 want_exit);
	}
}

/* Runs `ipsnetd COMMAND [ARG] --config conf` and checks its exit code. */
static void ipsnetd_cmd(struct fx *fx, const char *conf, const char *command,
			const char *arg, int want_exit)
{
	ipsnetd_with(fx, command, arg, "--config", conf, want_exit);
}

static void assert_output_says(struct fx *fx, const char *what)
{
	if (strstr(fx->r.out, what) == NULL &&
	    strstr(fx->r.err, what) == NULL) {
		print_result("output", &fx->r);
		fail_msg("the output does not say '%s'", what);
	}
}

static json_t *whoami_json(struct fx *fx)
{
	struct h_args a;
	json_error_t jerr;

	h_args_init(&a);
	h_args_org(&a, &fx->d, certs, "ggz-test");
	h_args_add(&a, "--json");
	h_args_add(&a, "whoami");
	h_result_free(&fx->r);
	if (h_run_cli(&fx->r, a.argv) != EXIT_OK) {
		print_result("ipsnet whoami", &fx->r);
		fail_msg("ipsnet --json whoami failed");
	}
	json_decref(fx->json);
	fx->json = json_loads(fx->r.out, 0, &jerr);
	if (fx->json == NULL || !json_is_object(fx->json)) {
		print_result("ipsnet whoami", &fx->r);
		fail_msg("whoami --json is not a JSON object: %s", jerr.text);
	}
	return fx->json;
}

/* ---- the crash test ----------------------------------------------------- */

static void test_crash_kill9_rounds_lose_no_acknowledged_change(void **state)
{
	struct fx *fx = *state;
	uint64_t seed = test_seed();
	uint64_t rng = seed;
	uint64_t t0 = util_mono_us();
	unsigned kill_ms[CRASH_ROUNDS];
	uint64_t kill_at_us[CRASH_ROUNDS]; /* wall clock, as the journal's */

	print_message("crash test: seed %" PRIu64 " (IPSNET_TEST_SEED=%" PRIu64
		      " repeats it)\n",
		      seed, seed);
	start_daemon(fx);
	fx->load = load_new(CRASH_WORKERS, seed);
	load_publish_port(fx->load, fx->d.port);
	load_start(fx->load);

	for (int round = 0; round < CRASH_ROUNDS; round++) {
		/* The kill comes a random time after this round's load
		 * flows (the first answer of the restarted daemon). */
		if (!load_wait_acked(fx->load, load_acked(fx->load),
				     LOAD_FLOWS_MS)) {
			assert_workers_healthy(fx->load);
			h_daemon_dump_log(&fx->d);
			fail_msg(
			    "round %d: no change acknowledged within %d ms",
			    round + 1, LOAD_FLOWS_MS);
		}
		kill_ms[round] =
		    CRASH_KILL_MIN_MS +
		    (unsigned)(splitmix64(&rng) % (CRASH_KILL_SPAN_MS + 1));
		struct timespec ts = {kill_ms[round] / 1000,
				      (long)(kill_ms[round] % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		kill_at_us[round] = util_now_us();
		int status = h_daemon_stop(&fx->d, SIGKILL);
		assert_int_equal(status, 128 + SIGKILL);
		load_publish_port(fx->load, 0);
		restart_daemon(fx);
		load_publish_port(fx->load, fx->d.port);
	}
	/* The last daemon takes the changes in hand; then the load ends. */
	assert_true(
	    load_wait_acked(fx->load, load_acked(fx->load), LOAD_FLOWS_MS));
	load_stop(fx->load);
	assert_workers_healthy(fx->load);
	stop_daemon(fx);

	/* Every acknowledged change: once in the journal, with the seq and
	 * the client its answer named, and its client row. */
	uint64_t acks = 0, resent = 0, unavailable = 0, connects = 0;
	uint64_t answered_again = 0;
	for (int i = 0; i < fx->load->n_workers; i++) {
		struct worker *w = &fx->load->workers[i];
		resent += w->resent;
		unavailable += w->unavailable;
		connects += w->connects;
		for (size_t k = 0; k < w->n_acks; k++) {
			const struct ack *a = &w->acks[k];
			struct key_rows kr = journal_rows_of(fx, a->key);
			int64_t client_rows = db_int(
			    fx, "SELECT count(*) FROM client WHERE id = ?1",
			    NULL, a->client_id);
			if (kr.n != 1 || kr.seq != (int64_t)a->seq ||
			    client_rows != 1)
				fail_msg("acknowledged change seq %" PRIu64
					 " (client %s, BSN %s): %lld journal "
					 "rows (seq %lld), %lld client rows",
					 a->seq, a->client_id, a->bsn,
					 (long long)kr.n, (long long)kr.seq,
					 (long long)client_rows);
			assert_int_equal(
			    db_int(fx,
				   "SELECT count(*) FROM client WHERE "
				   "registered_by = 'ggz-test' AND bsn = ?1",
				   NULL, a->bsn),
			    1);
			/* A change sent again whose entry is older than the
			 * kill that broke its connection was applied then:
			 * its answer was lost, and the retry got it again. */
			if (a->resent_from_us != 0) {
				int64_t t = kr.time_us;
				for (int r = 0; r < CRASH_ROUNDS; r++) {
					if (kill_at_us[r] > a->resent_from_us) {
						if (t < (int64_t)kill_at_us[r])
							answered_again++;
						break;
					}
				}
			}
			acks++;
		}
	}
	/* Nothing else: every change sent was acknowledged in the end, so the
	 * journal holds exactly those, one seq each. */
	assert_int_equal(db_int(fx, "SELECT count(*) FROM journal", NULL, NULL),
			 acks);
	assert_int_equal(
	    db_int(fx, "SELECT count(DISTINCT seq) FROM journal", NULL, NULL),
	    acks);
	assert_int_equal(db_int(fx, "SELECT max(seq) FROM journal", NULL, NULL),
			 acks);
	/* No change half-applied: entries and client rows pair up. */
	assert_int_equal(db_int(fx, "SELECT count(*) FROM client", NULL, NULL),
			 acks);
	assert_int_equal(
	    db_int(fx,
		   "SELECT count(*) FROM client c WHERE NOT EXISTS "
		   "(SELECT 1 FROM journal j WHERE j.entity_kind = "
		   "'client' AND j.entity_id = c.id)",
		   NULL, NULL),
	    0);
	assert_int_equal(
	    db_int(fx,
		   "SELECT count(*) FROM journal j WHERE NOT EXISTS "
		   "(SELECT 1 FROM client c WHERE c.id = "
		   "j.entity_id)",
		   NULL, NULL),
	    0);
	db_close(fx);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	assert_output_says(fx, "ok:");
	/* A kill loses no acknowledged entry: the head never went back. */
	assert_false(h_daemon_log_contains(&fx->d, "journal head went back"));

	/* A kill that never caught a change in flight proves little. */
	assert_true(resent > 0);
	double seconds = (double)(util_mono_us() - t0) / 1e6;
	char delays[CRASH_ROUNDS * 8] = "";
	for (int i = 0; i < CRASH_ROUNDS; i++)
		snprintf(delays + strlen(delays),
			 sizeof(delays) - strlen(delays), "%s%u",
			 i > 0 ? ", " : "", kill_ms[i]);
	print_message(
	    "crash test: seed %" PRIu64 ", %d rounds of SIGKILL "
	    "(after %s ms of load), %d clients, %" PRIu64
	    " changes acknowledged, %" PRIu64
	    " sent again after a broken connection (%" PRIu64
	    " of them applied before the kill, answered again), %" PRIu64
	    " UNAVAILABLE, %" PRIu64 " connections, %.1f s\n",
	    seed, CRASH_ROUNDS, delays, CRASH_WORKERS, acks, resent,
	    answered_again, unavailable, connects, seconds);
}

/* ---- a full disk -------------------------------------------------------- */

/* The full-disk tests: the database on a tmpfs of its own, filled up to
 * FULL_ROOM_KIB by a filler file; then clients register clients as fast as
 * they can until the disk refuses them. */
#define FULL_WORKERS 4
#define FULL_DISK_KIB (48 * 1024) /* the tmpfs (the filler takes the rest) */
#define FULL_ROOM_KIB (6 * 1024)  /* left free for the changes */
#define FULL_REFUSALS 40	  /* refusals that say the disk is full */
#define FULL_ACKS_AFTER 100	  /* changes taken once there is room */
#define FULL_WAIT_MS 30000

/* One change a full-disk worker sent, and how it ended. */
struct full_rec {
	uint8_t key[16];
	char bsn[16];
	char client_id[64];
	uint64_t seq;
	bool acked; /* else refused: the disk is full, nothing was changed */
};

struct full_load;

struct full_worker {
	pthread_t thread;
	bool started;
	int index;
	struct full_load *l;
	struct full_rec *recs; /* every change sent, once it was answered */
	size_t n_recs, cap_recs;
	uint64_t made;
	uint64_t resent; /* sent again after a broken connection (a kill) */
	char failure[512];
};

struct full_load {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int port; /* 0 while the daemon is down */
	uint64_t generation;
	bool hold;    /* finish the change in hand, then wait */
	bool stop;    /* finish the change in hand, then end */
	bool abandon; /* end now (teardown) */
	bool kills;   /* the daemon may be killed: a broken connection is
			 expected, and the change is sent again */
	int idle;     /* workers waiting while held */
	uint64_t acked, refused;
	uint64_t doubt_refused; /* refusals of changes sent again */
	struct full_worker w[FULL_WORKERS];
};

static void full_fail(struct full_worker *w, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Notes the first thing that must not happen (under the load's lock: the
 * test looks while the workers run) and wakes the test's waits. */
static void full_fail(struct full_worker *w, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&w->l->mu);
	if (w->failure[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(w->failure, sizeof(w->failure), fmt, ap);
		va_end(ap);
	}
	pthread_cond_broadcast(&w->l->cv);
	pthread_mutex_unlock(&w->l->mu);
}

static bool full_record(struct full_worker *w, const struct reg *r,
			const struct answer *a, bool acked)
{
	struct full_load *l = w->l;
	/* Under the load's lock, as the test reads the records while the
	 * workers run (full_max_seq). */
	pthread_mutex_lock(&l->mu);
	if (w->n_recs == w->cap_recs) {
		size_t cap = w->cap_recs == 0 ? 1024 : w->cap_recs * 2;
		struct full_rec *bigger =
		    realloc(w->recs, cap * sizeof(*bigger));
		if (bigger == NULL) {
			pthread_mutex_unlock(&l->mu);
			full_fail(w, "out of memory");
			return false;
		}
		w->recs = bigger;
		w->cap_recs = cap;
	}
	struct full_rec *k = &w->recs[w->n_recs++];
	memset(k, 0, sizeof(*k));
	memcpy(k->key, r->key, 16);
	util_strlcpy(k->bsn, r->bsn, sizeof(k->bsn));
	k->acked = acked;
	if (acked) {
		util_strlcpy(k->client_id, a->client_id, sizeof(k->client_id));
		k->seq = a->seq;
	}
	if (acked)
		l->acked++;
	else
		l->refused++;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	return true;
}

/* The one refusal a full disk may give: UNAVAILABLE, saying the disk is
 * full and that nothing was changed (so the change is not in the journal,
 * and a client may send it again under a new key). */
static bool full_disk_refusal(const struct answer *a)
{
	return a->err == IPSNET_EUNAVAILABLE &&
	       strstr(a->message, "the disk is full") != NULL &&
	       strstr(a->message, "nothing was changed") != NULL;
}

/* The refusal of a change made before and sent again while the disk is
 * full (its answer needs an audit row the disk does not take). */
static bool made_before_refusal(const struct answer *a)
{
	return a->err == IPSNET_EUNAVAILABLE &&
	       strstr(a->message, "this change was made before") != NULL;
}

static void *full_worker_main(void *arg)
{
	struct full_worker *w = arg;
	struct full_load *l = w->l;
	struct ipsnet_client *cl = NULL;
	struct reg r;
	struct answer a = {0};
	bool in_hand = false; /* r is sent and not answered yet */
	/* r's connection broke before its answer came: whether it was
	 * applied is unknown until an answer says it was. A refusal does
	 * not: a change the journal holds is answered again from it, but
	 * on a full disk that answer is refused as well, as its audit row
	 * cannot be written ("nothing was changed" by this request). So
	 * it is sent again, with the same key, until it is acknowledged. */
	bool in_doubt = false;
	uint64_t give_up = util_mono_us() + WORKER_GIVE_UP_MS * 1000ULL;

	for (;;) {
		pthread_mutex_lock(&l->mu);
		while (!in_hand && l->hold && !l->stop && !l->abandon) {
			l->idle++;
			pthread_cond_broadcast(&l->cv);
			pthread_cond_wait(&l->cv, &l->mu);
			l->idle--;
			give_up = util_mono_us() + WORKER_GIVE_UP_MS * 1000ULL;
		}
		bool stop = (l->stop && !in_hand) || l->abandon;
		int port = l->port;
		uint64_t gen = l->generation;
		bool kills = l->kills;
		pthread_mutex_unlock(&l->mu);
		if (stop)
			break;
		if (util_mono_us() > give_up) {
			full_fail(w, "gave up after %d ms without an answer",
				  WORKER_GIVE_UP_MS);
			break;
		}
		if (cl == NULL) {
			struct copts co;
			char err[320];
			struct ipsnet_options o =
			    options_for(&co, port, "ggz-test");
			if (port == 0 || ipsnet_client_open(&cl, &o, err,
							    sizeof(err)) != 0) {
				cl = NULL;
				if (port != 0 && !kills) {
					full_fail(w, "connect: %s", err);
					break;
				}
				/* Down: wait for the next start, a little. */
				wait_generation(&l->mu, &l->cv, &l->generation,
						&l->abandon, gen, 20);
				continue;
			}
		}
		if (!in_hand) {
			uint8_t key[16];
			char bsn[16];
			if (ipsnet_new_idempotency_key(key) != 0) {
				full_fail(w, "no idempotency key");
				break;
			}
			bsn_for((uint64_t)w->index + w->made * FULL_WORKERS,
				bsn);
			w->made++;
			reg_init(&r, key, bsn);
			in_hand = true;
		}
		int err = send_reg(cl, &r, &a);
		if (err != 0 && in_doubt &&
		    (full_disk_refusal(&a) || made_before_refusal(&a))) {
			pthread_mutex_lock(&l->mu);
			l->doubt_refused++;
			pthread_cond_broadcast(&l->cv);
			pthread_mutex_unlock(&l->mu);
			give_up = util_mono_us() + WORKER_GIVE_UP_MS * 1000ULL;
		} else if (err == 0 || full_disk_refusal(&a)) {
			if (!full_record(w, &r, &a, err == 0))
				break;
			in_hand = in_doubt = false;
			give_up = util_mono_us() + WORKER_GIVE_UP_MS * 1000ULL;
		} else if (kills && transport_error(err)) {
			/* Killed: whether it was applied is unknown; the
			 * same change, same key, to the next daemon. */
			w->resent++;
			in_doubt = true;
			ipsnet_client_close(cl);
			cl = NULL;
		} else {
			full_fail(w,
				  "change with BSN %s: %s: %s (a full disk may "
				  "only refuse it UNAVAILABLE, saying the disk "
				  "is full and nothing was changed)",
				  r.bsn, ipsnet_err_name(err), a.message);
			break;
		}
	}
	answer_clear(&a);
	ipsnet_client_close(cl);
	return NULL;
}

static struct full_load *full_load_start(int port, bool kills)
{
	struct full_load *l = calloc(1, sizeof(*l));
	assert_non_null(l);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	l->port = port;
	l->kills = kills;
	for (int i = 0; i < FULL_WORKERS; i++) {
		struct full_worker *w = &l->w[i];
		w->index = i;
		w->l = l;
		assert_int_equal(
		    pthread_create(&w->thread, NULL, full_worker_main, w), 0);
		w->started = true;
	}
	return l;
}

static void full_load_set_port(struct full_load *l, int port)
{
	publish_port(&l->mu, &l->cv, &l->port, &l->generation, port);
}

static void full_assert_healthy(struct full_load *l)
{
	char failure[sizeof(l->w[0].failure)] = "";
	int who = -1;
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < FULL_WORKERS && who < 0; i++)
		if (l->w[i].failure[0] != '\0') {
			who = i;
			memcpy(failure, l->w[i].failure, sizeof(failure));
		}
	pthread_mutex_unlock(&l->mu);
	if (who >= 0)
		fail_msg("worker %d: %s", who, failure);
}

/* Waits until the load's counters reach acked and refused (refusals of
 * changes sent again counted too; a worker that failed ends the wait, and
 * the test). */
static void full_wait(struct fx *fx, struct full_load *l, uint64_t acked,
		      uint64_t refused, const char *what)
{
	uint64_t deadline = util_mono_us() + FULL_WAIT_MS * 1000ULL;
	pthread_mutex_lock(&l->mu);
	for (;;) {
		bool failed = false;
		for (int i = 0; i < FULL_WORKERS; i++)
			failed |= l->w[i].failure[0] != '\0';
		if (failed ||
		    (l->acked >= acked &&
		     l->refused + l->doubt_refused >= refused) ||
		    util_mono_us() > deadline)
			break;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 50 * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&l->cv, &l->mu, &until);
	}
	uint64_t a = l->acked, r = l->refused + l->doubt_refused;
	pthread_mutex_unlock(&l->mu);
	full_assert_healthy(l);
	if (a < acked || r < refused) {
		h_daemon_dump_log(&fx->d);
		fail_msg("%s: %" PRIu64 " acknowledged and %" PRIu64
			 " refused after %d ms; waited for %" PRIu64
			 " and %" PRIu64,
			 what, a, r, FULL_WAIT_MS, acked, refused);
	}
}

/* Holds the workers (each finishes the change in hand) and waits until
 * all of them wait. */
static void full_hold(struct fx *fx, struct full_load *l)
{
	uint64_t deadline = util_mono_us() + FULL_WAIT_MS * 1000ULL;
	pthread_mutex_lock(&l->mu);
	l->hold = true;
	while (l->idle < FULL_WORKERS && util_mono_us() < deadline) {
		bool failed = false;
		for (int i = 0; i < FULL_WORKERS; i++)
			failed |= l->w[i].failure[0] != '\0';
		if (failed)
			break;
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += 50 * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		pthread_cond_timedwait(&l->cv, &l->mu, &until);
	}
	int idle = l->idle;
	pthread_mutex_unlock(&l->mu);
	full_assert_healthy(l);
	if (idle < FULL_WORKERS) {
		h_daemon_dump_log(&fx->d);
		fail_msg("only %d of %d workers stopped within %d ms", idle,
			 FULL_WORKERS, FULL_WAIT_MS);
	}
}

static void full_release(struct full_load *l)
{
	pthread_mutex_lock(&l->mu);
	l->hold = false;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
}

/* Ends the workers: each finishes the change in hand (abandon: at once). */
static void full_load_end(struct full_load *l, bool abandon)
{
	if (l == NULL)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = true;
	l->abandon |= abandon;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	for (int i = 0; i < FULL_WORKERS; i++) {
		if (l->w[i].started)
			pthread_join(l->w[i].thread, NULL);
		l->w[i].started = false;
	}
}

static void full_load_free(struct full_load *l)
{
	if (l == NULL)
		return;
	full_load_end(l, true);
	for (int i = 0; i < FULL_WORKERS; i++)
		free(l->w[i].recs);
	pthread_cond_destroy(&l->cv);
	pthread_mutex_destroy(&l->mu);
	free(l);
}

/* The highest seq acknowledged. */
static uint64_t full_max_seq(struct full_load *l)
{
	uint64_t max = 0;
	pthread_mutex_lock(&l->mu);
	for (int i = 0; i < FULL_WORKERS; i++)
		for (size_t k = 0; k < l->w[i].n_recs; k++)
			if (l->w[i].recs[k].seq > max)
				max = l->w[i].recs[k].seq;
	pthread_mutex_unlock(&l->mu);
	return max;
}

/* The load's counts (refused: refusals of changes sent again too). */
static void full_counts(struct full_load *l, uint64_t *acked, uint64_t *refused)
{
	pthread_mutex_lock(&l->mu);
	*acked = l->acked;
	*refused = l->refused + l->doubt_refused;
	pthread_mutex_unlock(&l->mu);
}

/* Mounts a tmpfs of FULL_DISK_KIB on DIR/disk, or skips the test, saying
 * why, when this machine does not let the test mount one. */
static void mount_small_disk(struct fx *fx)
{
	char opts[64];

	snprintf(fx->disk, sizeof(fx->disk), "%s/disk", fx->dir);
	assert_int_equal(mkdir(fx->disk, 0700), 0);
	snprintf(opts, sizeof(opts), "size=%dk,mode=0700", FULL_DISK_KIB);
	if (mount("ipsnet-test-disk", fx->disk, "tmpfs", MS_NOSUID | MS_NODEV,
		  opts) != 0) {
		int e = errno;
		if (e != EPERM && e != EACCES)
			fail_msg("mount -t tmpfs -o %s on %s: %s", opts,
				 fx->disk, strerror(e));
		fprintf(stderr,
			"SKIPPED, nothing checked: this test fills a small "
			"tmpfs it mounts for the database, and mounting one on "
			"%s is not permitted here (%s; it takes root, "
			"CAP_SYS_ADMIN)\n",
			fx->disk, strerror(e));
		skip();
	}
	fx->mounted = true;
	snprintf(fx->db, sizeof(fx->db), "%s/ipsnet.db", fx->disk);
}

/* The tmpfs unmounted (teardown); 0, or -1 saying why. */
static int unmount_small_disk(struct fx *fx)
{
	if (!fx->mounted)
		return 0;
	fx->mounted = false;
	if (umount(fx->disk) == 0)
		return 0;
	fprintf(stderr, "umount %s: %s; detached instead\n", fx->disk,
		strerror(errno));
	if (umount2(fx->disk, MNT_DETACH) != 0)
		fprintf(stderr, "umount -l %s: %s\n", fx->disk,
			strerror(errno));
	return -1;
}

/* The config of h_write_config with the database on the small disk. */
static void write_config_on_small_disk(struct fx *fx)
{
	char conf[PATH_MAX + 16], from[PATH_MAX + 32];

	assert_int_equal(h_write_config(fx->dir, certs, NULL), 0);
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", fx->dir);
	snprintf(from, sizeof(from), "database = %s/ipsnet.db\n", fx->dir);
	char *text = h_read_file(conf, NULL);
	assert_non_null(text);
	char *at = strstr(text, from);
	assert_non_null(at);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "%.*sdatabase = %s\n%s", (int)(at - text), text, fx->db,
		at + strlen(from));
	free(text);
	assert_int_equal(fclose(f), 0);
}

/* Bytes free on the small disk. */
static uint64_t disk_free(struct fx *fx)
{
	struct statvfs sv;
	assert_int_equal(statvfs(fx->disk, &sv), 0);
	return (uint64_t)sv.f_bavail * sv.f_frsize;
}

/* Fills the small disk with DISK/filler up to FULL_ROOM_KIB free. */
static void fill_disk(struct fx *fx)
{
	static const char zeros[64 * 1024];
	char path[PATH_MAX + 8];
	uint64_t room = (uint64_t)FULL_ROOM_KIB * 1024,
		 free_now = disk_free(fx);

	if (free_now <= room)
		fail_msg("only %" PRIu64 " KiB free on the %d KiB disk; the "
			 "filler leaves %d KiB",
			 free_now / 1024, FULL_DISK_KIB, FULL_ROOM_KIB);
	snprintf(path, sizeof(path), "%s/filler", fx->disk);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	for (uint64_t left = free_now - room; left > 0;) {
		size_t n = left < sizeof(zeros) ? (size_t)left : sizeof(zeros);
		ssize_t w = write(fd, zeros, n);
		if (w != (ssize_t)n) {
			close(fd);
			fail_msg("write %s: %s", path,
				 w < 0 ? strerror(errno) : "short");
		}
		left -= n;
	}
	assert_int_equal(close(fd), 0);
}

/* Makes room again: the filler removed. */
static void empty_disk(struct fx *fx)
{
	char path[PATH_MAX + 8];
	snprintf(path, sizeof(path), "%s/filler", fx->disk);
	assert_int_equal(unlink(path), 0);
}

/* Reads on a full disk, while no change goes in: the Hello of a new
 * connection, `ipsnet whoami` (the same journal head), Ping and
 * ListPrograms, none of which needs the disk; and FindClient, which needs
 * its audit row, refused saying why. Returns the head. */
static uint64_t reads_on_a_full_disk(struct fx *fx)
{
	Ipsnet__V1__Envelope *resp = NULL;
	char err[320];

	struct ipsnet_client *cl = client(fx, 1);
	const Ipsnet__V1__HelloOk *hello = ipsnet_client_hello(cl);
	assert_non_null(hello);
	uint64_t head = hello->journal_seq;
	assert_int_equal(
	    json_integer_value(json_object_get(whoami_json(fx), "journal_seq")),
	    head);

	Ipsnet__V1__Envelope ping = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Ping p = IPSNET__V1__PING__INIT;
	p.client_time_us = 42;
	ping.body_case = IPSNET__V1__ENVELOPE__BODY_PING;
	ping.ping = &p;
	if (ipsnet_client_call(cl, &ping, &resp, err, sizeof(err)) != 0)
		fail_msg("Ping on a full disk: %s", err);
	assert_int_equal(resp->body_case, IPSNET__V1__ENVELOPE__BODY_PONG);
	assert_int_equal(resp->pong->client_time_us, 42);
	ipsnet_envelope_free(resp);

	Ipsnet__V1__Envelope list = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__ListPrograms lp = IPSNET__V1__LIST_PROGRAMS__INIT;
	list.body_case = IPSNET__V1__ENVELOPE__BODY_LIST_PROGRAMS;
	list.list_programs = &lp;
	if (ipsnet_client_call(cl, &list, &resp, err, sizeof(err)) != 0)
		fail_msg("ListPrograms on a full disk: %s", err);
	assert_int_equal(resp->body_case,
			 IPSNET__V1__ENVELOPE__BODY_PROGRAM_LIST);
	ipsnet_envelope_free(resp);
	/* A read of personal data needs its audit row, which the disk does
	 * not take: refused, saying why. */
	Ipsnet__V1__Envelope find = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__FindClient fc = IPSNET__V1__FIND_CLIENT__INIT;
	char bsn[16];
	bsn_for(0, bsn);
	fc.bsn = bsn;
	find.body_case = IPSNET__V1__ENVELOPE__BODY_FIND_CLIENT;
	find.find_client = &fc;
	resp = NULL;
	int rv = ipsnet_client_call(cl, &find, &resp, err, sizeof(err));
	ipsnet_envelope_free(resp); /* the refusal's, or an answer's */
	if (rv != IPSNET_EUNAVAILABLE || strstr(err, "audit trail") == NULL ||
	    strstr(err, "the disk is full") == NULL)
		fail_msg("FindClient on a full disk: %s: %s (not refused "
			 "UNAVAILABLE, naming the audit trail and the full "
			 "disk)",
			 ipsnet_err_name(rv), rv != 0 ? err : "answered");
	return head;
}

/* A change sent now (a BSN no worker makes) must be refused: the disk is
 * still full. Its key, for the check that it is not in the journal. */
static void still_full(struct fx *fx, uint8_t key[16])
{
	struct reg r;
	char bsn[16];

	new_key(key);
	bsn_for(30000000, bsn);
	reg_init(&r, key, bsn);
	int err = send_reg(client(fx, 0), &r, &fx->ans[0]);
	if (!full_disk_refusal(&fx->ans[0]))
		fail_msg("a change on the full disk: %s: %s (not refused "
			 "UNAVAILABLE, saying the disk is full and nothing "
			 "was changed)",
			 ipsnet_err_name(err), fx->ans[0].message);
}

/* An acknowledged change of l sent again, with its key, on the full disk:
 * refused, but saying it was made (at its seq), not that nothing was
 * changed, which a client would take for "not made" and send again under
 * a new key. */
static void made_before_on_a_full_disk(struct fx *fx, struct full_load *l)
{
	const struct full_rec *k = NULL;
	for (size_t i = 0; i < l->w[0].n_recs && k == NULL; i++)
		if (l->w[0].recs[i].acked)
			k = &l->w[0].recs[i];
	assert_non_null(k);
	struct reg r;
	char seq[64];
	reg_init(&r, k->key, k->bsn);
	int err = send_reg(client(fx, 0), &r, &fx->ans[0]);
	snprintf(seq, sizeof(seq), "made before (journal seq %" PRIu64 ")",
		 k->seq);
	if (!made_before_refusal(&fx->ans[0]) ||
	    strstr(fx->ans[0].message, seq) == NULL ||
	    strstr(fx->ans[0].message, "nothing was changed") != NULL)
		fail_msg("a change made before, sent again on the full disk: "
			 "%s: %s (not refused UNAVAILABLE saying it was %s)",
			 ipsnet_err_name(err), fx->ans[0].message, seq);
}

/* With the daemon stopped: every acknowledged change once in the journal,
 * with the seq its answer named, and its client row; no refused change,
 * by key nor by BSN; nothing else; and `ipsnetd verify` passes. */
static void full_check(struct fx *fx, struct full_load *l, uint64_t *acks,
		       uint64_t *refusals)
{
	*acks = *refusals = 0;
	for (int i = 0; i < FULL_WORKERS; i++) {
		const struct full_worker *w = &l->w[i];
		for (size_t k = 0; k < w->n_recs; k++) {
			const struct full_rec *c = &w->recs[k];
			struct key_rows kr = journal_rows_of(fx, c->key);
			int64_t clients = db_int(
			    fx,
			    "SELECT count(*) FROM client WHERE registered_by = "
			    "'ggz-test' AND bsn = ?1",
			    NULL, c->bsn);
			if (c->acked &&
			    (kr.n != 1 || kr.seq != (int64_t)c->seq ||
			     clients != 1))
				fail_msg("acknowledged change seq %" PRIu64
					 " (client %s, BSN %s): %lld journal "
					 "rows (seq %lld), %lld client rows",
					 c->seq, c->client_id, c->bsn,
					 (long long)kr.n, (long long)kr.seq,
					 (long long)clients);
			if (!c->acked && (kr.n != 0 || clients != 0))
				fail_msg("change with BSN %s was refused (the "
					 "disk is full, nothing was changed), "
					 "yet it has %lld journal rows (seq "
					 "%lld) and %lld client rows",
					 c->bsn, (long long)kr.n,
					 (long long)kr.seq, (long long)clients);
			if (c->acked)
				(*acks)++;
			else
				(*refusals)++;
		}
	}
	assert_int_equal(db_int(fx, "SELECT count(*) FROM journal", NULL, NULL),
			 *acks);
	assert_int_equal(db_int(fx, "SELECT max(seq) FROM journal", NULL, NULL),
			 *acks);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM client", NULL, NULL),
			 *acks);
	db_close(fx);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	assert_output_says(fx, "ok:");
	assert_false(h_daemon_log_contains(&fx->d, "journal head went back"));
}

/* The database on a small tmpfs, filled: four clients register clients as
 * fast as they can until the disk refuses them. Every refusal must be
 * UNAVAILABLE, saying the disk is full and that nothing was changed; the
 * daemon stays up and answers reads; once the filler is removed changes
 * are taken again, without a restart, and none is refused; after a SIGKILL
 * and a restart every acknowledged change is in the journal once, no
 * refused one is, and `ipsnetd verify` passes. Root only (it mounts); it
 * says so and skips elsewhere. */
static void test_a_full_disk_refuses_changes_keeps_reading_and_takes_them_again(
    void **state)
{
	struct fx *fx = *state;
	uint64_t acks, refusals, t0;

	mount_small_disk(fx);
	write_config_on_small_disk(fx);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	fill_disk(fx);
	t0 = util_mono_us();
	struct full_load *l = fx->full = full_load_start(fx->d.port, false);
	full_wait(fx, l, 0, FULL_REFUSALS, "the disk never filled");
	uint64_t fill_ms = (util_mono_us() - t0) / 1000;
	full_hold(fx, l);
	assert_true(
	    h_daemon_log_contains(&fx->d, "msg=\"journal write failed\""));
	assert_int_equal(reads_on_a_full_disk(fx), full_max_seq(l));
	uint8_t refused_key[16];
	still_full(fx, refused_key);
	made_before_on_a_full_disk(fx, l);
	uint64_t acked_full, refused_full, refused_after;
	full_counts(l, &acked_full, &refused_full);

	empty_disk(fx);
	full_release(l);
	full_wait(fx, l, acked_full + FULL_ACKS_AFTER, 0,
		  "changes once there was room again");
	full_load_end(l, false);
	full_assert_healthy(l);
	/* Room again: nothing sent after it was refused. */
	full_counts(l, &acks, &refused_after);
	assert_int_equal(refused_after, refused_full);
	assert_true(h_daemon_wait_log(
	    &fx->d, "msg=\"journal writes work again\"", 5000));

	kill_daemon(fx);
	restart_daemon(fx);
	assert_int_equal(
	    json_integer_value(json_object_get(whoami_json(fx), "journal_seq")),
	    full_max_seq(l));
	stop_daemon(fx);
	full_check(fx, l, &acks, &refusals);
	assert_int_equal(rows_with_key(fx, refused_key), 0);
	db_close(fx);
	print_message("full disk: %" PRIu64 " acknowledged and %" PRIu64
		      " refused on a disk filled to %d KiB free in %" PRIu64
		      " ms; %" PRIu64 " more once there was room\n",
		      acked_full, refused_full, FULL_ROOM_KIB, fill_ms,
		      acks - acked_full);
}

/* As the test before, but the daemon is killed (SIGKILL) while the disk is
 * full and the clients keep sending; it starts again once there is room,
 * and the changes whose answers the kill cut off are sent again with the
 * same keys. */
static void
test_a_kill_on_a_full_disk_loses_no_acknowledged_change(void **state)
{
	struct fx *fx = *state;
	uint64_t acks, refusals;

	mount_small_disk(fx);
	write_config_on_small_disk(fx);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	fill_disk(fx);
	struct full_load *l = fx->full = full_load_start(fx->d.port, true);
	full_wait(fx, l, 0, FULL_REFUSALS, "the disk never filled");
	/* Killed while the clients send. */
	full_load_set_port(l, 0);
	assert_int_equal(h_daemon_stop(&fx->d, SIGKILL), 128 + SIGKILL);

	/* Started again on the full disk: it serves reads (its head may be
	 * past the last acknowledged change: the kill cut answers off), and
	 * refuses changes as before. */
	restart_daemon(fx);
	assert_true(reads_on_a_full_disk(fx) >= full_max_seq(l));
	uint8_t refused_key[16];
	still_full(fx, refused_key);
	close_clients(fx);
	uint64_t acked_full, refused_full;
	full_counts(l, &acked_full, &refused_full);
	full_load_set_port(l, fx->d.port);
	full_wait(fx, l, 0, refused_full + FULL_REFUSALS,
		  "refusals after a start on the full disk");

	/* Killed again while they send, the disk still full; started again
	 * with room. */
	full_load_set_port(l, 0);
	assert_int_equal(h_daemon_stop(&fx->d, SIGKILL), 128 + SIGKILL);
	full_counts(l, &acked_full, &refused_full);
	empty_disk(fx);
	restart_daemon(fx);
	full_load_set_port(l, fx->d.port);
	full_wait(fx, l, acked_full + FULL_ACKS_AFTER, 0,
		  "changes after the restart with room");
	full_load_end(l, false);
	full_assert_healthy(l);
	uint64_t resent = 0;
	for (int i = 0; i < FULL_WORKERS; i++)
		resent += l->w[i].resent;
	stop_daemon(fx);
	full_check(fx, l, &acks, &refusals);
	assert_int_equal(rows_with_key(fx, refused_key), 0);
	db_close(fx);
	print_message("kill on a full disk: %" PRIu64 " acknowledged and "
		      "%" PRIu64 " refused, %" PRIu64
		      " sent again after a kill (refused %" PRIu64
		      " times while the disk was full)\n",
		      acks, refusals, resent, l->doubt_refused);
}

/* ---- tampering ---------------------------------------------------------- */

static void test_tamper_journal_row_verify_names_its_seq(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx);
	register_clients(fx, 5, 1000);
	stop_daemon(fx);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);

	assert_int_equal(h_sqlite3(fx->db, "DROP TRIGGER journal_no_update; "
					   "UPDATE journal SET time_us = "
					   "time_us + 1 WHERE seq = 3;"),
			 0);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 1);
	assert_output_says(fx, "seq 3");
}

/* Runs `ipsnetd COMMAND --config CONF` on a pseudo-terminal; returns all it
 * wrote there (free it). */
static char *ipsnetd_on_terminal(struct fx *fx, const char *command,
				 int want_exit)
{
	const char *argv[] = {"ipsnetd", command, "--config", fx->d.conf, NULL};
	struct h_result r;
	long ms;
	if (h_run_on_terminal(&r, IPSNETD_BIN, argv, &ms) != want_exit) {
		print_result(command, &r);
		fail_msg("ipsnetd %s on a terminal exited %d, not %d", command,
			 r.code, want_exit);
	}
	char *out = r.out;
	r.out = NULL;
	h_result_free(&r);
	return out;
}

static void assert_holds(const char *out, const char *what)
{
	if (strstr(out, what) == NULL) {
		fprintf(stderr, "the terminal: %s\n", out);
		fail_msg("the terminal does not show '%s'", what);
	}
}

/* A verify of a large journal takes minutes: on a terminal, verify and
 * rebuild show each walk's bar (drawn in place, its last state always
 * drawn) and take it away before their result; off a terminal they say
 * their result only. */
static void test_verify_and_rebuild_show_their_walks_on_a_terminal(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx);
	register_clients(fx, 5, 1000);
	stop_daemon(fx);

	char *out = ipsnetd_on_terminal(fx, "verify", 0);
	assert_holds(out, "\rhash chain [");
	assert_holds(out, "5/5 entries");
	assert_holds(out, "\rreplay [");
	assert_holds(out, "\rstate tables [");
	assert_holds(out, "\raudit trail [");
	assert_holds(out, "\r\033[Kok: 5 journal entries, hash chain whole");
	free(out);

	out = ipsnetd_on_terminal(fx, "rebuild", 0);
	assert_holds(out, "\rhash chain [");
	assert_holds(out, "\rreplay [");
	assert_holds(out, "\r\033[Krebuilt the state tables from 5 journal "
			  "entries");
	free(out);

	/* A damaged journal: the bar goes before the verdict. */
	assert_int_equal(h_sqlite3(fx->db, "DROP TRIGGER journal_no_update; "
					   "UPDATE journal SET time_us = "
					   "time_us + 1 WHERE seq = 4;"),
			 0);
	out = ipsnetd_on_terminal(fx, "verify", 1);
	assert_holds(out, "\r\033[Kdamaged: first damaged seq 4");
	free(out);

	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 1);
	assert_output_says(fx, "seq 4");
	assert_null(strchr(fx->r.err, '\r'));
	assert_null(strstr(fx->r.err, "hash chain"));
	assert_null(strchr(fx->r.out, '\r'));
}

/* The audit trail is chained too: the daemon's stop names its last row's
 * hash (an operator's anchor), verify passes, and a past row changed with
 * the sqlite3 command is named by verify. */
static void test_tamper_audit_row_verify_names_its_id(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx);
	register_clients(fx, 4, 1500);
	stop_daemon(fx);
	sqlite3_stmt *st;
	assert_int_equal(
	    sqlite3_prepare_v2(db_open(fx),
			       "SELECT lower(hex(hash)) FROM audit "
			       "ORDER BY id DESC LIMIT 1",
			       -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	char needle[128];
	snprintf(needle, sizeof(needle), "audit_hash=%s",
		 (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
	assert_int_equal(strlen(needle), strlen("audit_hash=") + 64);
	if (!h_daemon_log_contains(&fx->d, needle)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the stop does not name the last audit row's hash");
	}
	char says[64];
	snprintf(
	    says, sizeof(says), "ok: %lld audit rows, hash chain whole",
	    (long long)db_int(fx, "SELECT count(*) FROM audit", NULL, NULL));
	db_close(fx);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	assert_output_says(fx, says);

	assert_int_equal(h_sqlite3(fx->db, "DROP TRIGGER audit_no_update; "
					   "UPDATE audit SET peer = "
					   "'192.0.2.1:1' WHERE id = 3;"),
			 0);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 1);
	assert_output_says(fx, "first damaged audit row 3");
}

/* The last entry's or audit row's hash, as lower-case hex, of fx's
 * database (closed by the caller). */
static void last_hash(struct fx *fx, const char *sql, char out[65])
{
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_prepare_v2(db_open(fx), sql, -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	snprintf(out, 65, "%s", (const char *)sqlite3_column_text(st, 0));
	sqlite3_finalize(st);
}

/* A chain cut off at its end is whole: docs/access.md says the daemon's
 * stop line (journal_head_hash=, audit_hash=) is what tells, so verify
 * prints the heads it walked in those words, to be compared with it. Was:
 * verify printed counts alone, and a cut-off audit trail verified the
 * same as a whole one. */
static void test_verify_names_the_heads_the_stop_logged(void **state)
{
	struct fx *fx = *state;
	char head[65], audit[65], needle[128];

	start_daemon(fx);
	register_clients(fx, 3, 1700);
	stop_daemon(fx);
	last_hash(fx,
		  "SELECT lower(hex(hash)) FROM journal ORDER BY seq DESC "
		  "LIMIT 1",
		  head);
	last_hash(fx,
		  "SELECT lower(hex(hash)) FROM audit ORDER BY id DESC "
		  "LIMIT 1",
		  audit);
	db_close(fx);

	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	snprintf(needle, sizeof(needle),
		 "journal_head_seq=3 journal_head_hash=%s", head);
	assert_true(h_daemon_log_contains(&fx->d, needle));
	assert_output_says(fx, needle);
	snprintf(needle, sizeof(needle), "audit_hash=%s", audit);
	assert_true(h_daemon_log_contains(&fx->d, needle));
	assert_output_says(fx, needle);

	/* The last audit row cut off: the chain is whole, the head is not
	 * the one the stop logged. */
	assert_int_equal(h_sqlite3(fx->db, "DROP TRIGGER audit_no_delete; "
					   "DELETE FROM audit WHERE id = "
					   "(SELECT max(id) FROM audit);"),
			 0);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	assert_output_says(fx, "audit_hash=");
	assert_null(strstr(fx->r.out, needle));
}

/* The journal's last entries cut off, with the sqlite3 command: the chain
 * is whole, and the state tables hold what those entries made. verify
 * named the state table and advised a rebuild, which would drop that last
 * trace; now it names the entries the daemon had (DATABASE.served) and
 * says to keep the file. Without a difference it warns. */
static void test_verify_names_entries_cut_off_the_end(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx);
	register_clients(fx, 5, 2100);
	stop_daemon(fx);
	assert_int_equal(h_sqlite3(fx->db,
				   "DROP TRIGGER journal_no_delete; "
				   "DELETE FROM journal WHERE seq >= 4;"),
			 0);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 1);
	assert_output_says(fx, "the journal ends at seq 3 where this database "
			       "had seq 5");
	assert_output_says(fx, "do not rebuild");
	assert_null(strstr(fx->r.out, "'ipsnetd rebuild' restores it"));

	/* The state of those entries gone too: verify passes, and warns. */
	assert_int_equal(h_sqlite3(fx->db, "DELETE FROM client WHERE id NOT IN "
					   "(SELECT entity_id FROM journal);"),
			 0);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	assert_output_says(fx, "warning: the journal ends at seq 3, but a "
			       "daemon had seq 5");
	assert_output_says(fx, "entries 4 to 5 are gone");
}

static void
test_tamper_state_table_verify_finds_it_and_rebuild_repairs(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx);
	register_clients(fx, 3, 2000);
	stop_daemon(fx);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);

	assert_int_equal(h_sqlite3(fx->db,
				   "UPDATE client SET name = 'Someone Else' "
				   "WHERE id = (SELECT min(id) FROM client);"),
			 0);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 1);
	assert_output_says(fx, "state table 'client' differs");
	ipsnetd_cmd(fx, fx->d.conf, "rebuild", NULL, 0);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	assert_output_says(fx, "ok: 3 journal entries");
	assert_int_equal(db_int(fx,
				"SELECT count(*) FROM client WHERE name = "
				"'Someone Else'",
				NULL, NULL),
			 0);
}

/* ---- start-up with a broken chain --------------------------------------- */

static void
test_broken_chain_daemon_serves_reads_and_refuses_changes(void **state)
{
	struct fx *fx = *state;
	struct reg r;
	uint8_t key[16];
	char bsn[16];

	start_daemon(fx);
	register_clients(fx, 4, 3000);
	break_the_chain_at_2(fx);

	/* It starts, says why writes are stopped, and serves. */
	assert_true(h_daemon_log_contains(&fx->d, "seq=2"));
	assert_true(h_daemon_log_contains(&fx->d, "writes=stopped"));
	json_t *j = whoami_json(fx);
	assert_int_equal(json_integer_value(json_object_get(j, "journal_seq")),
			 4);

	new_key(key);
	bsn_for(3100, bsn);
	reg_init(&r, key, bsn);
	int err = send_reg(client(fx, 0), &r, &fx->ans[0]);
	if (err != IPSNET_EUNAVAILABLE)
		fail_msg("want UNAVAILABLE, got %s: %s", ipsnet_err_name(err),
			 fx->ans[0].message);
	if (strstr(fx->ans[0].message, "seq 2") == NULL)
		fail_msg("the refusal '%s' does not name seq 2",
			 fx->ans[0].message);
	/* The connection and the daemon go on. */
	assert_int_equal(send_reg(fx->cl[0], &r, &fx->ans[0]),
			 IPSNET_EUNAVAILABLE);
	whoami_json(fx);
	assert_int_equal(rows_with_key(fx, key), 0);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM journal", NULL, NULL),
			 4);
}

/* A change refused while writes are stopped is on the audit trail of the
 * client it concerns, also when the request names that client only through
 * the entity it changes (here a consent): every change, applied or refused,
 * leaves a row with its client (docs/access.md), and the client's GGZ reads
 * the trail by client. */
static void
test_broken_chain_refused_change_is_on_the_clients_trail(void **state)
{
	struct fx *fx = *state;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Envelope *resp = NULL;
	Ipsnet__V1__GrantConsent gc = IPSNET__V1__GRANT_CONSENT__INIT;
	Ipsnet__V1__WithdrawConsent wc = IPSNET__V1__WITHDRAW_CONSENT__INIT;
	char client_id[64], consent_id[64], msg[320];
	uint8_t key[16];

	start_daemon(fx);
	register_clients(fx, 3, 3200);
	util_strlcpy(client_id, fx->ans[0].client_id, sizeof(client_id));
	new_key(key);
	gc.client_id = client_id;
	gc.recipient = "gm0363";
	gc.purpose = "IPS";
	gc.valid_until = "2099-12-31";
	env.idempotency_key.data = key;
	env.idempotency_key.len = sizeof(key);
	env.body_case = IPSNET__V1__ENVELOPE__BODY_GRANT_CONSENT;
	env.grant_consent = &gc;
	if (ipsnet_client_call(client(fx, 0), &env, &resp, msg, sizeof(msg)) !=
	    0)
		fail_msg("grant consent: %s", msg);
	util_strlcpy(consent_id, resp->change_ok->entity_id,
		     sizeof(consent_id));
	ipsnet_envelope_free(resp);
	resp = NULL;
	break_the_chain_at_2(fx);

	new_key(key);
	wc.consent_id = consent_id;
	wc.expected_version = 1;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_WITHDRAW_CONSENT;
	env.withdraw_consent = &wc;
	assert_int_equal(
	    ipsnet_client_call(client(fx, 0), &env, &resp, msg, sizeof(msg)),
	    IPSNET_EUNAVAILABLE);
	ipsnet_envelope_free(resp);
	assert_int_equal(db_int(fx,
				"SELECT count(*) FROM audit WHERE action = "
				"'withdraw_consent' AND result = 'UNAVAILABLE' "
				"AND client_id = ?1",
				NULL, client_id),
			 1);
}

/* A damaged payload whose length field runs past its end, so far that the
 * offset after it wraps back to the entry's first byte, and a response
 * that does not decode: the daemon starts with writes stopped, naming the
 * seq, and `ipsnet sync` from 0 still gets every other entry and ends (a
 * reader thread once read those payload bytes for ever). */
static void test_damaged_payload_sync_passes_it(void **state)
{
	struct fx *fx = *state;
	struct h_args a;
	char mirror[PATH_MAX];

	start_daemon(fx);
	register_clients(fx, 4, 5000);
	stop_daemon(fx);
	assert_int_equal(h_sqlite3(fx->db,
				   "DROP TRIGGER journal_no_update; "
				   "UPDATE journal SET payload = "
				   "X'12F5FFFFFFFFFFFFFFFF01' WHERE seq = 2; "
				   "UPDATE journal SET response = X'FF' "
				   "WHERE seq = 3;"),
			 0);
	restart_daemon(fx);
	assert_true(
	    h_daemon_wait_log(&fx->d, "msg=\"journal chain broken\"", 5000));
	assert_true(h_daemon_log_contains(&fx->d, "seq=2"));

	snprintf(mirror, sizeof(mirror), "%s/damaged-mirror.db", fx->dir);
	h_args_init(&a);
	h_args_org(&a, &fx->d, certs, "ggz-test");
	h_args_add(&a, "sync");
	h_args_add(&a, "--mirror");
	h_args_add(&a, "%s", mirror);
	h_result_free(&fx->r);
	if (h_run_cli(&fx->r, a.argv) != EXIT_OK) {
		print_result("ipsnet sync --mirror", &fx->r);
		fail_msg("ipsnet sync did not get past the damaged entry");
	}
	/* The clients of the intact responses (seq 3's is damaged too: not
	 * delivered, and logged), and the cursor at the head. */
	assert_int_equal(file_int(mirror, "SELECT count(*) FROM client"), 3);
	assert_true(h_daemon_log_contains(
	    &fx->d, "msg=\"journal entry does not decode; not delivered\" "
		    "seq=3"));
	assert_int_equal(
	    file_int(mirror, "SELECT value FROM meta WHERE key = 'seq'"), 4);
	whoami_json(fx); /* and the daemon serves on */
}

/* ---- retries ------------------------------------------------------------ */

static void assert_same_answer(const struct answer *first,
			       const struct answer *again)
{
	assert_int_equal(first->err, 0);
	if (again->err != 0)
		fail_msg("the retry was refused: %s: %s",
			 ipsnet_err_name(again->err), again->message);
	assert_int_equal(again->seq, first->seq);
	assert_string_equal(again->client_id, first->client_id);
	assert_non_null(first->change_ok);
	assert_non_null(again->change_ok);
	assert_int_equal(again->change_ok_len, first->change_ok_len);
	assert_memory_equal(again->change_ok, first->change_ok,
			    first->change_ok_len);
}

static void test_retry_same_key_over_two_connections_and_a_restart(void **state)
{
	struct fx *fx = *state;
	struct reg r;
	uint8_t key[16];
	char bsn[16];

	start_daemon(fx);
	register_clients(fx, 2, 4000);
	new_key(key);
	bsn_for(4100, bsn);
	reg_init(&r, key, bsn);
	assert_int_equal(send_reg(client(fx, 1), &r, &fx->ans[0]), 0);
	assert_int_equal(send_reg(client(fx, 2), &r, &fx->ans[1]), 0);
	assert_same_answer(&fx->ans[0], &fx->ans[1]);
	assert_int_equal(rows_with_key(fx, key), 1);

	stop_daemon(fx);
	restart_daemon(fx);
	assert_false(h_daemon_log_contains(&fx->d, "journal head went back"));
	assert_int_equal(send_reg(client(fx, 1), &r, &fx->ans[2]), 0);
	assert_same_answer(&fx->ans[0], &fx->ans[2]);
	assert_int_equal(rows_with_key(fx, key), 1);
	assert_int_equal(
	    db_int(fx, "SELECT count(*) FROM client WHERE bsn = ?1", NULL, bsn),
	    1);
	assert_int_equal(db_int(fx, "SELECT count(*) FROM journal", NULL, NULL),
			 3);
	/* And it was the change that was applied, not a new one. */
	assert_int_equal(fx->ans[0].seq, 3);
}

/* ---- optimistic concurrency over the wire ------------------------------- */

/* PutProgram of program id, owned by ggz-test, against expected. */
static int put_program(struct ipsnet_client *cl, const char *id,
		       uint64_t expected, const char *name, struct answer *a)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__PutProgram pp = IPSNET__V1__PUT_PROGRAM__INIT;
	Ipsnet__V1__Envelope *resp = NULL;
	uint8_t key[16];

	new_key(key);
	pp.program_id = (char *)id;
	pp.expected_version = expected;
	pp.owner = "ggz-test";
	pp.name = (char *)name;
	pp.region = 1;
	pp.specialists = 3;
	env.idempotency_key.data = key;
	env.idempotency_key.len = sizeof(key);
	env.body_case = IPSNET__V1__ENVELOPE__BODY_PUT_PROGRAM;
	env.put_program = &pp;
	answer_clear(a);
	a->err =
	    ipsnet_client_call(cl, &env, &resp, a->message, sizeof(a->message));
	if (resp != NULL && resp->status != NULL)
		a->current_version = resp->status->current_version;
	if (a->err == 0 &&
	    resp->body_case == IPSNET__V1__ENVELOPE__BODY_CHANGE_OK)
		a->seq = resp->change_ok->version; /* the program's version */
	if (resp != NULL)
		ipsnet_envelope_free(resp);
	return a->err;
}

static void
test_conflict_reaches_the_client_with_the_current_version(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx);
	struct ipsnet_client *cl = client(fx, 0);
	assert_int_equal(
	    put_program(cl, "ips-test", 0, "IPS Test", &fx->ans[0]), 0);
	assert_int_equal(fx->ans[0].seq, 1);
	assert_int_equal(
	    put_program(cl, "ips-test", 1, "IPS Test 2", &fx->ans[0]), 0);
	assert_int_equal(fx->ans[0].seq, 2);
	/* A second editor who read version 1. */
	int err = put_program(client(fx, 1), "ips-test", 1, "IPS Test stale",
			      &fx->ans[1]);
	if (err != IPSNET_ECONFLICT)
		fail_msg("want CONFLICT, got %s: %s", ipsnet_err_name(err),
			 fx->ans[1].message);
	assert_int_equal(fx->ans[1].current_version, 2);
	assert_non_null(strstr(fx->ans[1].message, "version 2"));
	assert_int_equal(db_int(fx, "SELECT count(*) FROM journal", NULL, NULL),
			 2);
}

/* ---- backup while serving ----------------------------------------------- */

static void test_backup_while_a_load_runs_verifies(void **state)
{
	struct fx *fx = *state;
	char bdir[PATH_MAX], bconf[PATH_MAX + 16], bfile[PATH_MAX + 16];

	start_daemon(fx);
	fx->load = load_new(CRASH_WORKERS, test_seed());
	load_publish_port(fx->load, fx->d.port);
	load_start(fx->load);
	assert_true(load_wait_acked(fx->load, 50, LOAD_FLOWS_MS));

	/* The copy goes into a folder of its own, with a config for it. */
	const char *dir = h_tmpdir();
	assert_non_null(dir);
	util_strlcpy(bdir, dir, sizeof(bdir));
	assert_int_equal(h_write_config(bdir, certs, NULL), 0);
	snprintf(bconf, sizeof(bconf), "%s/ipsnetd.conf", bdir);
	snprintf(bfile, sizeof(bfile), "%s/ipsnet.db", bdir);
	uint64_t before = load_acked(fx->load);
	ipsnetd_cmd(fx, fx->d.conf, "backup", bfile, 0);
	uint64_t after = load_acked(fx->load);
	/* The daemon served on throughout; verify of the live file while it
	 * writes sees one consistent moment too. */
	assert_true(load_wait_acked(fx->load, after + 20, LOAD_FLOWS_MS));
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	assert_true(load_wait_acked(fx->load, load_acked(fx->load) + 20,
				    LOAD_FLOWS_MS));
	assert_workers_healthy(fx->load);
	load_stop(fx->load);
	assert_workers_healthy(fx->load);

	ipsnetd_cmd(fx, bconf, "verify", NULL, 0);
	unsigned long long entries = 0;
	if (sscanf(fx->r.out, "ok: %llu journal entries", &entries) != 1)
		fail_msg("verify of the backup says: %s", fx->r.out);
	print_message("backup: %llu entries copied while the load ran "
		      "(%" PRIu64 " acknowledged before it started, %" PRIu64
		      " by the time it ended)\n",
		      entries, before, after);
	assert_true(entries >= before);
	/* The live database verifies too, with everything. */
	stop_daemon(fx);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	unsigned long long live_entries = 0;
	assert_int_equal(
	    sscanf(fx->r.out, "ok: %llu journal entries", &live_entries), 1);
	assert_int_equal(live_entries, load_acked(fx->load));
	assert_true(live_entries >= entries);
}

/* ---- one writer of the database ---------------------------------------- */

/* A second daemon started on the database a daemon serves (another port,
 * the same config), an init or a rebuild while it serves: each is refused
 * at once, naming the daemon's pid, and writes nothing; verify and backup,
 * which only read, go on. Once the daemon stops, rebuild runs. */
static void test_a_second_writer_of_the_database_is_refused(void **state)
{
	struct fx *fx = *state;
	char holder[64], bfile[PATH_MAX + 16];

	start_daemon(fx);
	register_clients(fx, 2, 6000);
	snprintf(holder, sizeof(holder), "in use by another ipsnetd (pid %d)",
		 (int)fx->d.pid);
	const char *serve[] = {"serve",	   "--config",	  fx->d.conf,
			       "--listen", "127.0.0.1:0", NULL};
	h_result_free(&fx->r);
	if (h_run_ipsnetd(&fx->r, serve) != 1) {
		print_result("serve", &fx->r);
		fail_msg("a second daemon on the database exited %d, not 1",
			 fx->r.code);
	}
	assert_output_says(fx, holder);
	ipsnetd_cmd(fx, fx->d.conf, "init", NULL, 1);
	assert_output_says(fx, holder);
	ipsnetd_cmd(fx, fx->d.conf, "rebuild", NULL, 1);
	assert_output_says(fx, holder);
	assert_output_says(fx, "nothing changed");
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	snprintf(bfile, sizeof(bfile), "%s/copy.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", bfile, 0);
	/* The daemon was not disturbed. */
	register_clients(fx, 1, 6100);
	stop_daemon(fx);
	ipsnetd_cmd(fx, fx->d.conf, "rebuild", NULL, 0);
	assert_output_says(fx, "from 3 journal entries");
}

/* The lock file, there when a daemon starts, is removed between store_lock's
 * open that would make it (it was there) and the one that opens it (it is
 * gone): another ipsnetd, refused, removed the one it made. The daemon
 * makes it again and locks it: a second writer is still refused.
 *
 * Daemon bug (failed before the fix): store_lock took the failed open for
 * a folder where no lock file can be made and served without a lock, so a
 * rebuild ran beside it (exit 0). */
static void test_a_lock_file_removed_while_taken_is_made_again(void **state)
{
	struct fx *fx = *state;
	char holder[64], lock[PATH_MAX + 16];

	assert_int_equal(h_write_config(fx->dir, certs, NULL), 0);
	assert_int_equal(h_daemon_start_preloaded(&fx->d, fx->dir,
						  LOCK_GONE_PATH,
						  "IT_LOCK_GONE", "1"),
			 0);
	snprintf(holder, sizeof(holder), "in use by another ipsnetd (pid %d)",
		 (int)fx->d.pid);
	ipsnetd_cmd(fx, fx->d.conf, "rebuild", NULL, 1);
	assert_output_says(fx, holder);
	stop_daemon(fx);

	/* A lock file that is a symlink to nothing is not one removed
	 * meanwhile, to be made again for ever: the command goes on. */
	snprintf(lock, sizeof(lock), "%s/ipsnet.db.lock", fx->dir);
	assert_int_equal(unlink(lock), 0);
	assert_int_equal(symlink("no-such.lock", lock), 0);
	ipsnetd_cmd(fx, fx->d.conf, "rebuild", NULL, 0);
}

/* Runs `ipsnetd ARGS...` as the user nobody (setpriv; the test runs as
 * root) into fx->r; returns its exit code. */
static int ipsnetd_as_nobody(struct fx *fx, const char *const args[])
{
	const char *argv[16] = {"setpriv", "--reuid=65534", "--regid=65534",
				"--clear-groups", IPSNETD_BIN};
	size_t n = 5;
	for (size_t i = 0; args[i] != NULL && n + 1 < ARRAY_SIZE(argv); i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	h_result_free(&fx->r);
	return h_run(&fx->r, "/usr/bin/setpriv", argv);
}

/* Whether the user nobody may read (what "-r") or write ("-w") path, by
 * test(1) run as nobody into fx->r: where a folder above is closed to
 * nobody (a $TMPDIR of root's alone) a test as nobody cannot run. */
static bool nobody_may(struct fx *fx, const char *what, const char *path)
{
	h_result_free(&fx->r);
	return h_run(&fx->r, "/usr/bin/setpriv",
		     (const char *const[]){"setpriv", "--reuid=65534",
					   "--regid=65534", "--clear-groups",
					   "/usr/bin/test", what, path,
					   NULL}) == 0;
}

/* A DATABASE.lock another user made (an init or rebuild run as root, then
 * the daemon as its own user) cannot be opened: the command stops and
 * names the file, instead of going on without the lock, where a rebuild
 * ran beside the serving daemon. Given to the user, it locks again. Runs
 * only as root (to be two users).
 *
 * Daemon bug (failed before the fix): store_lock took a lock file it could
 * not open for one it could not make, and went on unlocked. */
static void test_a_lock_file_of_another_user_is_not_skipped(void **state)
{
	struct fx *fx = *state;
	char conf[PATH_MAX + 16], lock[PATH_MAX + 8];

	if (getuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
		skip();
	assert_int_equal(h_write_config(fx->dir, certs, NULL), 0);
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", fx->dir);
	snprintf(lock, sizeof(lock), "%s.lock", fx->db);
	ipsnetd_cmd(fx, conf, "init", NULL, 0); /* as root: its lock file */
	struct stat st;
	assert_int_equal(stat(lock, &st), 0);
	assert_int_equal(st.st_uid, 0);
	assert_int_equal(st.st_mode & 077, 0);
	assert_int_equal(chown(fx->dir, 65534, 65534), 0);
	assert_int_equal(chown(fx->db, 65534, 65534), 0);
	assert_int_equal(chmod(conf, 0644), 0);
	/* nobody must reach the folder (a $TMPDIR of root's alone: skip). */
	if (!nobody_may(fx, "-w", fx->db))
		skip();

	const char *rebuild[] = {"rebuild", "--config", conf, NULL};
	if (ipsnetd_as_nobody(fx, rebuild) != 1) {
		print_result("rebuild as nobody", &fx->r);
		fail_msg("a rebuild with root's lock file exited %d, not 1",
			 fx->r.code);
	}
	assert_output_says(fx, "cannot open the lock file");
	assert_output_says(fx, lock);
	assert_output_says(fx, "nothing changed");

	assert_int_equal(chown(lock, 65534, 65534), 0);
	assert_int_equal(ipsnetd_as_nobody(fx, rebuild), 0);
	assert_output_says(fx, "rebuilt the state tables");

	/* A rebuild as root that makes the lock file gives it to the
	 * database's owner, as a restore does (it left root's, found by a
	 * review). */
	assert_int_equal(unlink(lock), 0);
	ipsnetd_cmd(fx, conf, "rebuild", NULL, 0);
	assert_int_equal(stat(lock, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(ipsnetd_as_nobody(fx, rebuild), 0);
}

/* A database the daemon's user may not read (a backup copied back as root,
 * 0600) is named with the reason, not sent to 'ipsnetd init': it is there,
 * and init would not change its owner. Runs only as root.
 *
 * Daemon bug (failed before the fix): serve said "cannot open the database
 * '...': run 'ipsnetd init' first" for any database it could not open. */
static void test_a_database_the_daemon_cannot_read_is_named(void **state)
{
	struct fx *fx = *state;
	char conf[PATH_MAX + 16], lock[PATH_MAX + 8];

	if (getuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
		skip();
	assert_int_equal(h_write_config(fx->dir, certs, NULL), 0);
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", fx->dir);
	snprintf(lock, sizeof(lock), "%s.lock", fx->db);
	ipsnetd_cmd(fx, conf, "init", NULL, 0); /* root's, 0600 */
	assert_int_equal(unlink(lock), 0);
	assert_int_equal(chown(fx->dir, 65534, 65534), 0);
	assert_int_equal(chmod(conf, 0644), 0);
	if (!nobody_may(fx, "-w", fx->dir))
		skip();

	/* Exit 2, as for a config error: no start would set it right. */
	const char *serve[] = {"serve", "--config", conf, NULL};
	if (ipsnetd_as_nobody(fx, serve) != 2) {
		print_result("serve as nobody", &fx->r);
		fail_msg("serve of root's 0600 database exited %d, not 2",
			 fx->r.code);
	}
	assert_output_says(fx, "Permission denied");
	assert_output_says(fx, "check its owner and mode");
	assert_null(strstr(fx->r.err, "ipsnetd init"));
}

/* Names of the files in folder dir, sorted, each followed by a space. */
static void folder_files(const char *dir, char *out, size_t cap)
{
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	assert_true(n >= 0);
	size_t used = 0;
	out[0] = '\0';
	for (int i = 0; i < n; i++) {
		if (names[i]->d_name[0] != '.' && used < cap)
			used += (size_t)snprintf(out + used, cap - used, "%s ",
						 names[i]->d_name);
		free(names[i]);
	}
	free(names);
}

/* A config whose database names another program's SQLite file (a typo):
 * init refuses it, and the file is as it was, byte for byte, its mode
 * and its rollback journal mode too. init put it in WAL mode, made it
 * 0600 and wrote ipsnet's tables into it. */
static void test_init_leaves_another_programs_database_as_it_was(void **state)
{
	struct fx *fx = *state;
	char db[PATH_MAX], conf[PATH_MAX], wal[PATH_MAX + 8];
	struct stat st;
	size_t before_len, after_len;

	snprintf(db, sizeof(db), "%s/recipes.db", h_tmpdir());
	snprintf(wal, sizeof(wal), "%s-wal", db);
	snprintf(conf, sizeof(conf), "%s/typo.conf", h_tmpdir());
	assert_int_equal(h_sqlite3(db, "CREATE TABLE recipe (id INTEGER "
				       "PRIMARY KEY, name TEXT); INSERT INTO "
				       "recipe VALUES (1, 'soup');"),
			 0);
	assert_int_equal(chmod(db, 0644), 0);
	char *before = h_read_file(db, &before_len);
	assert_non_null(before);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[server]\ndatabase = %s\n", db);
	assert_int_equal(fclose(f), 0);

	ipsnetd_cmd(fx, conf, "init", NULL, 1);
	assert_output_says(fx, "is an SQLite database but not ipsnet's");
	assert_output_says(fx, "'recipe'");
	char *after = h_read_file(db, &after_len);
	assert_non_null(after);
	assert_int_equal(after_len, before_len);
	assert_memory_equal(after, before, before_len);
	assert_int_equal(stat(db, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_not_equal(access(wal, F_OK), 0);
	free(after);
	free(before);
}

/* init makes the database's own folder, and names a missing folder above
 * it (more likely a typo than one to make) instead of making it; nothing
 * is made.
 *
 * Daemon bug (failed before the fix): it said "cannot create the folder of
 * '...'", naming neither the folder missing nor why. */
static void test_init_names_the_missing_folder_above_the_database(void **state)
{
	struct fx *fx = *state;
	const char *dir = h_tmpdir();
	char conf[PATH_MAX], want[PATH_MAX + 64], files[1024];

	assert_non_null(dir);
	snprintf(conf, sizeof(conf), "%s/new.conf", dir);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[server]\ndatabase = %s/srv/ipsnet/ipsnet.db\n", dir);
	assert_int_equal(fclose(f), 0);
	ipsnetd_cmd(fx, conf, "init", NULL, 1);
	snprintf(want, sizeof(want), "the folder '%s/srv' does not exist", dir);
	assert_output_says(fx, want);
	folder_files(dir, files, sizeof(files));
	assert_string_equal(files, "new.conf ");

	/* Its own folder is made. */
	snprintf(want, sizeof(want), "%s/srv", dir);
	assert_int_equal(mkdir(want, 0700), 0);
	ipsnetd_cmd(fx, conf, "init", NULL, 0);
	snprintf(want, sizeof(want), "%s/srv/ipsnet/ipsnet.db", dir);
	assert_int_equal(access(want, F_OK), 0);
}

/* A national network: the Netherlands' 342 municipalities, the GGZs, UWV
 * and the network, 400 organisations, go into the registry at init.
 *
 * Daemon bug (failed before the fix): the config was refused with "too
 * many organisations: at most 256". */
static void test_init_registers_a_national_network_of_400(void **state)
{
	struct fx *fx = *state;
	const char *dir = h_tmpdir();
	char conf[PATH_MAX], db[PATH_MAX];

	assert_non_null(dir);
	snprintf(conf, sizeof(conf), "%s/national.conf", dir);
	snprintf(db, sizeof(db), "%s/national.db", dir);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f,
		"[server]\ndatabase = %s\n\n"
		"[organisation network]\nkind = NETWORK\nname = IPS netwerk\n"
		"region = 1\n\n[organisation uwv]\nkind = UWV\nname = UWV\n"
		"region = 1\n",
		db);
	for (int i = 1; i <= 342; i++)
		fprintf(f,
			"\n[organisation gm%04d]\nkind = MUNICIPALITY\n"
			"name = Gemeente %d\nregion = %d\ncbs_code = GM%04d\n",
			i, i, 1 + i % 35, i);
	for (int i = 1; i <= 56; i++)
		fprintf(f,
			"\n[organisation ggz-%02d]\nkind = GGZ\nname = GGZ %d\n"
			"region = %d\n",
			i, i, 1 + i % 35);
	assert_int_equal(fclose(f), 0);

	ipsnetd_cmd(fx, conf, "init", NULL, 0);
	assert_output_says(fx, "organisations=400");
	assert_int_equal(file_int(db, "SELECT count(*) FROM organisation "
				      "WHERE active"),
			 400);
	assert_int_equal(file_int(db, "SELECT count(*) FROM organisation "
				      "WHERE kind = 'MUNICIPALITY' AND "
				      "cbs_code = 'GM0342'"),
			 1);
}

/* init into a folder that is not there yet makes it, then takes the lock
 * there (DATABASE.lock, holding its pid, kept as every lock is) before it
 * makes the database, as it does in a folder that is there: a second init
 * or a daemon on the same new database waits its turn.
 *
 * Daemon bug (failed before the fix): the lock was looked for before the
 * folder was made, found no folder to lock in, and init went on unlocked;
 * no lock file was left. */
static void test_init_into_a_new_folder_takes_the_lock_there(void **state)
{
	struct fx *fx = *state;
	const char *dir = h_tmpdir();
	char conf[PATH_MAX], lock[PATH_MAX], pid[32] = "";
	struct stat st;

	assert_non_null(dir);
	snprintf(conf, sizeof(conf), "%s/new.conf", dir);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[server]\ndatabase = %s/ipsnet/ipsnet.db\n", dir);
	assert_int_equal(fclose(f), 0);
	ipsnetd_cmd(fx, conf, "init", NULL, 0);
	snprintf(lock, sizeof(lock), "%s/ipsnet/ipsnet.db.lock", dir);
	if (stat(lock, &st) != 0)
		fail_msg("init into a new folder took no lock: no %s", lock);
	assert_int_equal(st.st_mode & 0777, 0600);
	f = fopen(lock, "r");
	assert_non_null(f);
	assert_non_null(fgets(pid, sizeof(pid), f));
	fclose(f);
	assert_true(atol(pid) > 0); /* init's, now gone */
}

/* Runs ipsnetd command (verify, rebuild or backup FILE) on --database db
 * and checks its exit code. */
static void ipsnetd_on(struct fx *fx, const char *command, const char *db,
		       int want_exit)
{
	char copy[PATH_MAX];
	snprintf(copy, sizeof(copy), "%s/copy-of-nothing.db", h_tmpdir());
	ipsnetd_with(fx, command, strcmp(command, "backup") == 0 ? copy : NULL,
		     "--database", db, want_exit);
}

/* verify, rebuild and backup given an empty file or another program's
 * SQLite file (a wrong --database, a backup that never got written) say
 * that it holds no ipsnet journal; they said "no such table: journal"
 * (backup: "the backup's journal does not check: " and nothing after).
 * A file that is not there is said to be missing (rebuild and backup said
 * "unable to open database file"), and a folder to be one (found by a
 * review). */
static void test_a_file_without_a_journal_is_named_as_such(void **state)
{
	struct fx *fx = *state;
	char empty[PATH_MAX], other[PATH_MAX], missing[PATH_MAX];
	static const char *const commands[] = {"verify", "rebuild", "backup"};
	static const int exits[] = {2, 1, 1};

	snprintf(empty, sizeof(empty), "%s/empty.db", h_tmpdir());
	snprintf(other, sizeof(other), "%s/recipes.db", h_tmpdir());
	snprintf(missing, sizeof(missing), "%s/no-such.db", h_tmpdir());
	FILE *f = fopen(empty, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(h_sqlite3(other, "CREATE TABLE recipe (name TEXT);"),
			 0);
	for (size_t i = 0; i < ARRAY_SIZE(commands); i++) {
		ipsnetd_on(fx, commands[i], empty, exits[i]);
		assert_output_says(fx, "holds no ipsnet journal: it is empty");
		ipsnetd_on(fx, commands[i], other, exits[i]);
		assert_output_says(fx, "holds no ipsnet journal: it is the "
				       "SQLite database of another program");
		ipsnetd_on(fx, commands[i], missing, exits[i]);
		assert_output_says(fx, "cannot read the database");
		assert_output_says(fx, "there is no such file");
		/* A folder (verify said "disk I/O error"). */
		ipsnetd_on(fx, commands[i], h_tmpdir(), exits[i]);
		assert_output_says(fx, "is a folder, not a database");
	}
	/* A backup into a folder (it said "... exists already: a backup
	 * never overwrites a file"). */
	ipsnetd_with(fx, "backup", h_tmpdir(), "--database", other, 1);
	assert_output_says(fx, "is a folder: name the backup file in it");
}

/* A backup whose journal cannot be read to check it (here a table named
 * journal of another shape; a read error of the copy is the same path)
 * says why in SQLite's words, and no backup is made. It said "the
 * backup's journal does not check: " with nothing after. */
static void test_a_backup_that_cannot_be_checked_says_why(void **state)
{
	struct fx *fx = *state;
	const char *dir = h_tmpdir();
	char odd[PATH_MAX], copy[PATH_MAX], files[1024];

	assert_non_null(dir);
	snprintf(odd, sizeof(odd), "%s/odd.db", dir);
	snprintf(copy, sizeof(copy), "%s/copy.db", dir);
	assert_int_equal(h_sqlite3(odd, "CREATE TABLE journal (seq INTEGER "
					"PRIMARY KEY, note TEXT);"),
			 0);
	ipsnetd_with(fx, "backup", copy, "--database", odd, 1);
	assert_output_says(fx, "cannot read the backup's journal to check "
			       "it: no such column");
	folder_files(dir, files, sizeof(files));
	assert_string_equal(files, "odd.db ");
}

/* serve whose certificate cannot be read, or whose database is not made
 * yet (test_a_refused_command_leaves_no_lock_file) or not the daemon's to
 * read (test_a_database_the_daemon_cannot_read_is_named): exit 2, as for a
 * config error, after which the systemd unit does not start it again
 * (RestartPreventExitStatus=2). Was: exit 1, and the unit started it
 * again every 5 s for ever (found by a review). */
static void test_serve_without_its_certificate_exits_2(void **state)
{
	struct fx *fx = *state;
	char own[PATH_MAX], crt[PATH_MAX + 16], conf[PATH_MAX + 16];

	snprintf(own, sizeof(own), "%s/certs", h_tmpdir());
	assert_int_equal(h_copy_dir(certs, own), 0);
	assert_int_equal(h_write_config(fx->dir, own, NULL), 0);
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", fx->dir);
	ipsnetd_cmd(fx, conf, "init", NULL, 0);
	snprintf(crt, sizeof(crt), "%s/server.crt", own);
	assert_int_equal(unlink(crt), 0);
	ipsnetd_cmd(fx, conf, "serve", NULL, 2);
	assert_output_says(fx, "server.crt");
}

/* A command that is refused leaves no file it made: init of another
 * program's SQLite file, rebuild of a file that is not there, of an empty
 * one or of another program's, and serve of a database not made yet.
 *
 * Daemon bug (failed before the fix): each took the lock first and left
 * FILE.lock behind, next to another program's file or where no database
 * is. */
static void test_a_refused_command_leaves_no_lock_file(void **state)
{
	struct fx *fx = *state;
	const char *dir = h_tmpdir();
	char other[PATH_MAX], empty[PATH_MAX], missing[PATH_MAX],
	    conf[PATH_MAX], files[1024];

	assert_non_null(dir);
	snprintf(other, sizeof(other), "%s/recipes.db", dir);
	snprintf(empty, sizeof(empty), "%s/empty.db", dir);
	snprintf(missing, sizeof(missing), "%s/no-such.db", dir);
	snprintf(conf, sizeof(conf), "%s/typo.conf", dir);
	assert_int_equal(h_sqlite3(other, "CREATE TABLE recipe (name TEXT);"),
			 0);
	FILE *f = fopen(empty, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);

	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[server]\ndatabase = %s\n", other);
	assert_int_equal(fclose(f), 0);
	ipsnetd_cmd(fx, conf, "init", NULL, 1);
	assert_output_says(fx, "but not ipsnet's");
	ipsnetd_on(fx, "rebuild", other, 1);
	ipsnetd_on(fx, "rebuild", empty, 1);
	ipsnetd_on(fx, "rebuild", missing, 1);
	assert_output_says(fx, "there is no such file");

	f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[server]\nlisten = 127.0.0.1:0\ndatabase = %s\n", missing);
	assert_int_equal(fclose(f), 0);
	ipsnetd_cmd(fx, conf, "serve", NULL, 2);
	assert_output_says(fx, "run 'ipsnetd init' first");

	folder_files(dir, files, sizeof(files));
	assert_string_equal(files, "empty.db recipes.db typo.conf ");
}

/* ---- the nightly backup (deploy/backup.sh) ------------------------------ */

/* Runs deploy/backup.sh (ipsnet-backup) with fx's config, keeping DAYS. */
static int backup_script(struct fx *fx, const char *conf, const char *days,
			 const char *dir)
{
	const char *args[] = {BACKUP_SH, "--config", conf, "--keep",
			      days,	 dir,	     NULL};
	h_result_free(&fx->r);
	return h_run(&fx->r, BACKUP_SH, args);
}

/* A backup's name for the time t (UTC), as backup.sh names them. */
static void backup_name(char *out, size_t cap, const char *dir, time_t t)
{
	struct tm tm;
	char stamp[32];
	gmtime_r(&t, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	snprintf(out, cap, "%s/ipsnet-%s.db", dir, stamp);
}

static void touch(const char *path)
{
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
}

/* The nightly backup makes a copy that verifies, and only then removes the
 * backups older than --keep days; a run that fails (the copy, or its
 * verify) removes none, and a copy that does not verify is kept aside as
 * NAME.damaged, never under a backup's name. */
static void test_backup_script_keeps_verified_copies(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], old[PATH_MAX + 64], recent[PATH_MAX + 64];
	char other[PATH_MAX + 16], made[PATH_MAX + 64], conf[PATH_MAX + 16];
	struct stat st;
	time_t now = time(NULL);

	assert_int_equal(setenv("IPSNETD", IPSNETD_BIN, 1), 0);
	start_daemon(fx);
	register_clients(fx, 3, 4000);
	snprintf(dir, sizeof(dir), "%s/backups", h_tmpdir());
	assert_int_equal(mkdir(dir, 0700), 0);
	backup_name(old, sizeof(old), dir, now - 40 * 86400);
	backup_name(recent, sizeof(recent), dir, now - 2 * 86400);
	snprintf(other, sizeof(other), "%s/notes.txt", dir);
	touch(old);
	touch(recent);
	touch(other);
	/* A damaged copy and an unfinished one of a killed run, 40 days old,
	 * go with the backups of their day; a recent damaged one stays. */
	char old_damaged[PATH_MAX + 80], old_partial[PATH_MAX + 80],
	    recent_damaged[PATH_MAX + 80];
	snprintf(old_damaged, sizeof(old_damaged), "%s.damaged", old);
	snprintf(old_partial, sizeof(old_partial), "%s.partial-a1b2c3", old);
	snprintf(recent_damaged, sizeof(recent_damaged), "%s.damaged", recent);
	touch(old_damaged);
	touch(old_partial);
	touch(recent_damaged);

	/* While the daemon serves: a new copy, the one of 40 days gone. */
	if (backup_script(fx, fx->d.conf, "30", dir) != 0)
		fail_msg("backup.sh: %s%s", fx->r.out, fx->r.err);
	const char *at = strstr(fx->r.out, dir);
	assert_non_null(at);
	assert_int_equal(sscanf(at, "%s", made), 1);
	assert_non_null(strstr(fx->r.out, "verified (3 journal entries); "
					  "removed 1 backup(s) older than 30 "
					  "days, and 2 damaged, unverified or "
					  "unfinished copies\n"));
	assert_int_equal(stat(made, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_not_equal(access(old, F_OK), 0);
	assert_int_not_equal(access(old_damaged, F_OK), 0);
	assert_int_not_equal(access(old_partial, F_OK), 0);
	assert_int_equal(access(recent, F_OK), 0);
	assert_int_equal(access(recent_damaged, F_OK), 0);
	assert_int_equal(access(other, F_OK), 0);
	const char *verify[] = {"verify", "--database", made, NULL};
	h_result_free(&fx->r);
	assert_int_equal(h_run_ipsnetd(&fx->r, verify), 0);
	assert_output_says(fx, "ok: 3 journal entries");
	/* A file that is not there is not damage: 2, not 1. */
	const char *none[] = {"verify", "--database", old, NULL};
	h_result_free(&fx->r);
	assert_int_equal(h_run_ipsnetd(&fx->r, none), 2);
	assert_output_says(fx, "cannot read the database");

	/* No database there: the run fails and removes nothing, not even
	 * what --keep 1 would. */
	snprintf(conf, sizeof(conf), "%s/missing.conf", h_tmpdir());
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "[server]\ndatabase = %s/no-such.db\n", h_tmpdir());
	assert_int_equal(fclose(f), 0);
	assert_int_equal(backup_script(fx, conf, "1", dir), 1);
	assert_output_says(fx, "the backup failed, nothing was removed");
	assert_int_equal(access(recent, F_OK), 0);
	assert_int_equal(access(made, F_OK), 0);
	assert_int_equal(strncmp(fx->r.err, "ipsnet-backup: ", 15), 0);
	/* Under systemd, at priority err (it was info: nobody learnt of a
	 * night without a backup, found by a review). */
	setenv("JOURNAL_STREAM", "8:1234", 1);
	int code = backup_script(fx, conf, "1", dir);
	unsetenv("JOURNAL_STREAM");
	assert_int_equal(code, 1);
	assert_int_equal(strncmp(fx->r.err, "<3>ipsnet-backup: ", 18), 0);

	/* A state table edited behind the journal's back: the chain checks,
	 * so ipsnetd backup makes the copy, but its verify fails. */
	stop_daemon(fx);
	assert_int_equal(h_sqlite3(fx->db,
				   "UPDATE client SET name = 'Someone Else' "
				   "WHERE id = (SELECT min(id) FROM client);"),
			 0);
	/* Names are by the second, and a backup never overwrites one. */
	char next[PATH_MAX + 64];
	for (;;) {
		backup_name(next, sizeof(next), dir, time(NULL));
		if (strcmp(next, made) != 0)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	assert_int_equal(backup_script(fx, fx->d.conf, "1", dir), 1);
	assert_output_says(fx, "does not verify, kept as");
	assert_output_says(fx, "no backup was removed");
	/* One damaged copy is kept, this run's: nights that keep failing
	 * filled the disk with one more whole copy each (found by a
	 * review). */
	assert_output_says(fx, "copies of earlier runs removed: 1");
	assert_int_not_equal(access(recent_damaged, F_OK), 0);
	assert_int_equal(access(recent, F_OK), 0);
	assert_int_equal(access(made, F_OK), 0);
	DIR *d = opendir(dir);
	assert_non_null(d);
	int backups = 0, damaged = 0, files = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;) {
		size_t n = strlen(e->d_name);
		files += e->d_name[0] != '.';
		backups += n > 3 && strcmp(e->d_name + n - 3, ".db") == 0;
		damaged +=
		    n > 11 && strcmp(e->d_name + n - 11, ".db.damaged") == 0;
	}
	closedir(d);
	assert_int_equal(backups, 2); /* recent and made */
	assert_int_equal(damaged, 1); /* this run's */
	/* Each backup is one file: reading one for verify left no -wal or
	 * -shm beside it. */
	assert_int_equal(files, backups + damaged + 1 /* notes.txt */);

	/* A verify that could not read the copy through (exit 2: here a
	 * wrapper says out of memory) found no damage: the copy is kept as
	 * unverified, not called damaged, and the run fails all the same.
	 * Was: "does not verify, kept as NAME.damaged". */
	char wrapper[PATH_MAX];
	snprintf(wrapper, sizeof(wrapper), "%s/ipsnetd-oom", h_tmpdir());
	FILE *w = fopen(wrapper, "w");
	assert_non_null(w);
	fprintf(w,
		"#!/bin/sh\n[ \"$1\" != verify ] || { echo 'ipsnetd: out of "
		"memory' >&2; exit 2; }\nexec '%s' \"$@\"\n",
		IPSNETD_BIN);
	assert_int_equal(fclose(w), 0);
	assert_int_equal(chmod(wrapper, 0755), 0);
	assert_int_equal(setenv("IPSNETD", wrapper, 1), 0);
	/* Names are by the second: one after the damaged run's. */
	char then[sizeof(next)];
	memcpy(then, next, sizeof(then));
	for (;;) {
		backup_name(next, sizeof(next), dir, time(NULL));
		if (strcmp(next, then) != 0)
			break;
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	assert_int_equal(backup_script(fx, fx->d.conf, "1", dir), 1);
	assert_output_says(fx, "could not be verified (ipsnetd verify exit 2)");
	assert_output_says(fx, ".db.unverified");
	assert_output_says(fx, "out of memory");
	assert_int_equal(unsetenv("IPSNETD"), 0);
}

/* ---- the journal head in whoami ----------------------------------------- */

/* Each of the daemon's threads has a name of its own (top -H, ps -L and
 * /proc show it), so that an operator can tell which one spends the CPU:
 * the loop keeps the program's, the journal's take theirs as they start
 * (within a deadline: under a sanitizer a thread may not have begun when
 * the daemon listens). */
static bool threads_named(pid_t pid, char *names, size_t cap)
{
	static const char *const want[] = {"ipsnetd-writer", "ipsnetd-ckpt",
					   "ipsnetd-read", "ipsnetd-bulk"};
	bool seen[ARRAY_SIZE(want)] = {false};
	bool loop_seen = false;
	char path[PATH_MAX];
	names[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	DIR *dir = opendir(path);
	assert_non_null(dir);
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char comm_path[PATH_MAX + 300], *comm;
		snprintf(comm_path, sizeof(comm_path), "%s/%s/comm", path,
			 e->d_name);
		if ((comm = h_read_file(comm_path, NULL)) == NULL)
			continue; /* a thread that ended meanwhile */
		comm[strcspn(comm, "\n")] = '\0';
		size_t used = strlen(names);
		snprintf(names + used, cap - used, " %s", comm);
		if (atoi(e->d_name) == (int)pid)
			loop_seen = strcmp(comm, "ipsnetd") == 0;
		for (size_t i = 0; i < ARRAY_SIZE(want); i++)
			if (strcmp(comm, want[i]) == 0)
				seen[i] = true;
		free(comm);
	}
	closedir(dir);
	bool all = loop_seen;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		all = all && seen[i];
	return all;
}

static void test_the_daemons_threads_are_named(void **state)
{
	struct fx *fx = *state;
	char names[512];
	start_daemon(fx);
	pid_t pid = h_daemon_pid(&fx->d);
	uint64_t deadline = util_mono_us() + 10 * 1000000ull;
	bool named;
	while (!(named = threads_named(pid, names, sizeof(names))) &&
	       util_mono_us() < deadline)
		usleep(10000);
	if (!named)
		fail_msg("the loop is not named ipsnetd, or a journal thread "
			 "has no name of its own:%s",
			 names);
}

static void test_whoami_shows_the_last_entry_as_journal_head(void **state)
{
	struct fx *fx = *state;
	sqlite3_stmt *st;
	char hex[2 * 32 + 1];

	start_daemon(fx);
	json_t *j = whoami_json(fx);
	assert_int_equal(json_integer_value(json_object_get(j, "journal_seq")),
			 0);
	/* An empty journal: 32 zero bytes. */
	assert_string_equal(
	    json_string_value(json_object_get(j, "journal_hash")),
	    "0000000000000000000000000000000000000000000000000000000000000000");

	uint64_t seq = register_clients(fx, 3, 5000);
	j = whoami_json(fx);
	assert_int_equal(
	    sqlite3_prepare_v2(db_open(fx),
			       "SELECT seq, hash FROM journal ORDER BY seq "
			       "DESC LIMIT 1",
			       -1, &st, NULL),
	    SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(st, 0), seq);
	assert_int_equal(sqlite3_column_bytes(st, 1), 32);
	util_hex(hex, sizeof(hex), sqlite3_column_blob(st, 1), 32);
	sqlite3_finalize(st);
	assert_int_equal(json_integer_value(json_object_get(j, "journal_seq")),
			 seq);
	assert_string_equal(
	    json_string_value(json_object_get(j, "journal_hash")), hex);
}

/* ---- the day a backup is restored --------------------------------------- */

/* Gives fx's config a fixed port (h_free_port) in place of port 0, so that
 * a follower finds the daemon again after it restarts. */
static void fix_port(struct fx *fx)
{
	char conf[PATH_MAX + 16];
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", fx->dir);
	char *text = h_read_file(conf, NULL);
	assert_non_null(text);
	char *at = strstr(text, "listen = 127.0.0.1:0\n");
	assert_non_null(at);
	int port = h_free_port();
	assert_int_not_equal(port, 0);
	FILE *f = fopen(conf, "w");
	assert_non_null(f);
	fprintf(f, "%.*slisten = 127.0.0.1:%d\n%s", (int)(at - text), text,
		port, at + strlen("listen = 127.0.0.1:0\n"));
	assert_int_equal(fclose(f), 0);
	free(text);
}

/* Runs `ipsnet ARGS...` as ggz-test (NULL-terminated) into fx->r and
 * returns its exit code. */
static int cli_as_ggz(struct fx *fx, const char *const args[])
{
	struct h_args a;
	h_args_init(&a);
	h_args_org(&a, &fx->d, certs, "ggz-test");
	for (size_t i = 0; args[i] != NULL; i++)
		h_args_add(&a, "%s", args[i]);
	h_result_free(&fx->r);
	return h_run_cli(&fx->r, a.argv);
}

/* Copies the file from to to, as cp does (to's inode, truncated). */
static void copy_file(const char *from, const char *to)
{
	size_t len;
	char *bytes = h_read_file(from, &len);
	assert_non_null(bytes);
	FILE *f = fopen(to, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(bytes);
}

/* The operator's bad day, as the README says it: the daemon stopped, the
 * backup copied back over the database, the daemon started. It serves the
 * backup's journal (whoami shows its head); a change made after the backup
 * and sent again with the same key (libipsnet's retry) is applied now, not
 * answered from a journal that no longer holds it; a mirror made after the
 * backup is refused with exit 6 and what to do, also by a `sync --follow`
 * that ran across the restore, which stops instead of trying again; a
 * `watch --since` past the restored head is told so. */
static void test_restore_from_a_backup_as_the_readme_says(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], mirror[PATH_MAX], follow_mirror[PATH_MAX],
	    out[PATH_MAX], err[PATH_MAX], since[32];
	struct reg r;
	uint8_t key[16];
	char bsn[16];

	assert_int_equal(h_write_config(fx->dir, certs, NULL), 0);
	fix_port(fx);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	uint64_t backup_head = register_clients(fx, 3, 7000);
	snprintf(backup, sizeof(backup), "%s/backup.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	json_t *j = whoami_json(fx);
	char backup_hash[65];
	util_strlcpy(backup_hash,
		     json_string_value(json_object_get(j, "journal_hash")),
		     sizeof(backup_hash));

	/* After the backup: a change whose answer the client never saw. */
	new_key(key);
	bsn_for(7100, bsn);
	reg_init(&r, key, bsn);
	assert_int_equal(send_reg(client(fx, 0), &r, &fx->ans[0]), 0);
	uint64_t head = register_clients(fx, 2, 7200);
	assert_int_equal(head, backup_head + 3);
	snprintf(mirror, sizeof(mirror), "%s/mirror.db", fx->dir);
	assert_int_equal(
	    cli_as_ggz(fx,
		       (const char *const[]){"sync", "--mirror", mirror, NULL}),
	    0);
	snprintf(follow_mirror, sizeof(follow_mirror), "%s/follow.db", fx->dir);
	assert_int_equal(
	    cli_as_ggz(fx, (const char *const[]){"sync", "--mirror",
						 follow_mirror, NULL}),
	    0);
	struct h_proc follower;
	struct h_args a;
	h_args_init(&a);
	h_args_org(&a, &fx->d, certs, "ggz-test");
	h_args_add(&a, "sync");
	h_args_add(&a, "--mirror");
	h_args_add(&a, "%s", follow_mirror);
	h_args_add(&a, "--follow");
	snprintf(out, sizeof(out), "%s/follow.out", fx->dir);
	snprintf(err, sizeof(err), "%s/follow.err", fx->dir);
	assert_int_equal(h_proc_start_cli(&follower, a.argv, out, err), 0);

	/* The restore. */
	stop_daemon(fx);
	copy_file(backup, fx->db);
	restart_daemon(fx);

	j = whoami_json(fx);
	assert_int_equal(json_integer_value(json_object_get(j, "journal_seq")),
			 backup_head);
	assert_string_equal(
	    json_string_value(json_object_get(j, "journal_hash")), backup_hash);
	/* And the log says the head went back, from the one it served. */
	char went_back[128];
	snprintf(went_back, sizeof(went_back),
		 "level=warn msg=\"journal head went back\" served_seq=%" PRIu64
		 " head_seq=%" PRIu64,
		 head, backup_head);
	if (!h_daemon_log_contains(&fx->d, went_back)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the log does not say '%s'", went_back);
	}

	/* The retry is applied now, as a new change. */
	if (send_reg(client(fx, 1), &r, &fx->ans[1]) != 0)
		fail_msg("the retry after the restore: %s: %s",
			 ipsnet_err_name(fx->ans[1].err), fx->ans[1].message);
	assert_int_equal(fx->ans[1].seq, backup_head + 1);
	assert_int_equal(rows_with_key(fx, key), 1);
	assert_int_equal(
	    db_int(fx, "SELECT count(*) FROM client WHERE bsn = ?1", NULL, bsn),
	    1);

	/* The follower stops, and says why: once it tries again, which it
	 * does at intervals that double while the daemon is away, up to 30 s
	 * (RETRY_MAX_MS in client/cli/cmd_sync.c), so that its next try may
	 * come as long after the daemon is back as the daemon was away. Was:
	 * 15 s, which a restart that took 16 s (TSan on a loaded machine)
	 * outlasted: the follower tried again 16 s after, and was killed. */
	int code = h_proc_stop(&follower, 0, FOLLOWER_RETRY_MAX_MS + 30000);
	if (code != 6) {
		char *text = h_read_file(err, NULL);
		fail_msg("sync --follow across the restore ended %d: %s", code,
			 text != NULL ? text : "");
	}
	assert_true(h_file_contains(err, "start again from seq 0"));
	assert_int_equal(
	    cli_as_ggz(fx,
		       (const char *const[]){"sync", "--mirror", mirror, NULL}),
	    6);
	assert_output_says(fx, "restored from a backup");
	assert_output_says(fx, "start again from seq 0");

	/* watch --since the head it had before: past the restored one. */
	snprintf(since, sizeof(since), "%" PRIu64, head);
	assert_int_equal(
	    cli_as_ggz(fx,
		       (const char *const[]){"watch", "--since", since, NULL}),
	    6);
	char want[160];
	snprintf(want, sizeof(want),
		 "seq %" PRIu64 " is past the end of the server's journal "
		 "(seq %" PRIu64 "): watch from a seq up to %" PRIu64,
		 head, backup_head + 1, backup_head + 1);
	assert_output_says(fx, want);
	assert_output_says(fx, "restored from a backup");
}

/* A restore after the daemon crashed (here: SIGKILL), as the README says:
 * the database's -wal and -shm are the crashed database's and are moved
 * away with it before the backup is copied back. (Left there, SQLite
 * applies that WAL to the copy when the daemon opens it: the daemon serves
 * the crashed journal, or a mix of both, instead of the backup.) */
static void test_restore_after_a_crash_moves_the_wal_away(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], wal[PATH_MAX + 8], shm[PATH_MAX + 8],
	    aside[PATH_MAX + 16];

	start_daemon(fx);
	uint64_t backup_head = register_clients(fx, 3, 7300);
	snprintf(backup, sizeof(backup), "%s/backup.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	char backup_hash[65];
	util_strlcpy(
	    backup_hash,
	    json_string_value(json_object_get(whoami_json(fx), "journal_hash")),
	    sizeof(backup_hash));
	assert_int_equal(register_clients(fx, 2, 7400), backup_head + 2);
	kill_daemon(fx);

	snprintf(wal, sizeof(wal), "%s-wal", fx->db);
	snprintf(shm, sizeof(shm), "%s-shm", fx->db);
	assert_int_equal(access(wal, F_OK), 0);
	snprintf(aside, sizeof(aside), "%s/crashed", fx->dir);
	assert_int_equal(mkdir(aside, 0700), 0);
	char moved[PATH_MAX + 32];
	const char *files[] = {fx->db, wal, shm};
	const char *names[] = {"ipsnet.db", "ipsnet.db-wal", "ipsnet.db-shm"};
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		snprintf(moved, sizeof(moved), "%s/%s", aside, names[i]);
		assert_int_equal(rename(files[i], moved), 0);
	}
	copy_file(backup, fx->db);
	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	restart_daemon(fx);

	json_t *j = whoami_json(fx);
	assert_int_equal(json_integer_value(json_object_get(j, "journal_seq")),
			 backup_head);
	assert_string_equal(
	    json_string_value(json_object_get(j, "journal_hash")), backup_hash);
	char line[96];
	snprintf(line, sizeof(line), "head_seq=%" PRIu64, backup_head);
	assert_true(h_daemon_log_contains(&fx->d, line));
	snprintf(line, sizeof(line),
		 "msg=\"journal head went back\" served_seq=%" PRIu64
		 " head_seq=%" PRIu64,
		 backup_head + 2, backup_head);
	assert_true(h_daemon_log_contains(&fx->d, line));
	assert_int_equal(register_clients(fx, 1, 7500), backup_head + 1);
}

/* ---- ipsnetd restore ---------------------------------------------------- */

/* Fails unless text is one line. */
static void assert_one_line(const char *what, const char *text)
{
	size_t len = strlen(text);
	if (len == 0 || text[len - 1] != '\n' ||
	    strchr(text, '\n') != text + len - 1)
		fail_msg("%s is not one line: '%s'", what, text);
}

/* The folders restore made beside fx's database: how many, and the path
 * of the last by name into out. */
static int restore_folders(struct fx *fx, char *out, size_t cap)
{
	struct dirent **names;
	const char *prefix = "ipsnet.db.before-restore-";
	int n = scandir(fx->dir, &names, NULL, alphasort), found = 0;
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strncmp(names[i]->d_name, prefix, strlen(prefix)) == 0) {
			snprintf(out, cap, "%s/%s", fx->dir, names[i]->d_name);
			found++;
		}
		free(names[i]);
	}
	free(names);
	return found;
}

/* The whole file, or fail. */
static char *file_bytes(const char *path, size_t *len)
{
	char *bytes = h_read_file(path, len);
	if (bytes == NULL)
		fail_msg("cannot read %s", path);
	return bytes;
}

/* DATABASE.served that is garbled gives no warning (a signed number read
 * as a huge head did), and one the daemon cannot open (another user's, or
 * here a folder) is said at start: without it a restore would go unsaid.
 *
 * Daemon bug (failed before the fix): "-0000000000000000001" warned that
 * the head went back from 18446744073709551615, and a file the daemon
 * could not open was passed over in silence. */
static void test_a_served_file_garbled_or_not_ours_is_said_right(void **state)
{
	struct fx *fx = *state;
	char served[PATH_MAX + 8];

	start_daemon(fx);
	register_clients(fx, 2, 8300);
	stop_daemon(fx);
	snprintf(served, sizeof(served), "%s.served", fx->db);
	FILE *f = fopen(served, "w");
	assert_non_null(f);
	fputs("-0000000000000000001\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	stop_daemon(fx);
	if (h_daemon_log_contains(&fx->d, "journal head went back")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("a garbled DATABASE.served gave a warning");
	}

	assert_int_equal(unlink(served), 0);
	assert_int_equal(mkdir(served, 0700), 0);
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	stop_daemon(fx);
	if (!h_daemon_log_contains(&fx->d,
				   "msg=\"cannot keep the journal head\"") ||
	    !h_daemon_log_contains(&fx->d, ".served")) {
		h_daemon_dump_log(&fx->d);
		fail_msg(
		    "a DATABASE.served the daemon cannot open went unsaid");
	}
}

/* Three registrations (BSNs from first_bsn), the daemon stopped, and a
 * backup of them in backup (PATH_MAX, named here). Returns the backup's
 * head seq. */
static uint64_t backup_of_three(struct fx *fx, uint64_t first_bsn, char *backup)
{
	start_daemon(fx);
	uint64_t head = register_clients(fx, 3, first_bsn);
	stop_daemon(fx);
	snprintf(backup, PATH_MAX, "%s/backup.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	return head;
}

/* 1/part of the bytes of from written to to, as a restore's copy killed
 * that far. */
static void copy_part(const char *from, const char *to, size_t part)
{
	size_t len;
	char *bytes = file_bytes(from, &len);
	FILE *f = fopen(to, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(bytes, 1, len / part, f), len / part);
	assert_int_equal(fclose(f), 0);
	free(bytes);
}

/* How many times needle is in the file at path. */
static size_t count_in_file(const char *path, const char *needle)
{
	size_t len, n = 0;
	char *text = file_bytes(path, &len);
	for (const char *p = text; (p = strstr(p, needle)) != NULL; p++)
		n++;
	free(text);
	return n;
}

/* Leaves the database as a restore killed on its way does: a backup of
 * three registrations (backup_of_three), the database moved into
 * DATABASE.before-restore-TIME/, and 1/part of the backup's bytes written
 * to copy. Returns the backup's head seq. */
static uint64_t leave_a_stopped_restore(struct fx *fx, uint64_t first_bsn,
					char *backup, const char *copy,
					size_t part)
{
	char aside[PATH_MAX + 64], moved[PATH_MAX + 96];

	uint64_t head = backup_of_three(fx, first_bsn, backup);
	snprintf(aside, sizeof(aside), "%s.before-restore-20261126T180000Z",
		 fx->db);
	assert_int_equal(mkdir(aside, 0700), 0);
	snprintf(moved, sizeof(moved), "%s/ipsnet.db", aside);
	assert_int_equal(rename(fx->db, moved), 0);
	copy_part(backup, copy, part);
	return head;
}

/* The restore run again after one left copy: one line, the copy it left
 * removed, no copy of either kind left in the folder, and the backup
 * (head seq) served. */
static void assert_restore_again_removes_the_copy(struct fx *fx,
						  const char *backup,
						  const char *copy,
						  uint64_t head)
{
	ipsnetd_cmd(fx, fx->d.conf, "restore", backup, 0);
	assert_one_line("restore's stdout", fx->r.out);
	assert_output_says(fx, "had left is removed");
	assert_int_equal(access(copy, F_OK), -1);
	char listing[4096];
	folder_files(fx->dir, listing, sizeof(listing));
	assert_null(strstr(listing, ".restore-"));
	assert_null(strstr(listing, ".restored-"));
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	assert_int_equal(
	    json_integer_value(json_object_get(whoami_json(fx), "journal_seq")),
	    head);
}

/* A restore killed after it moved the database aside and before it renamed
 * the verified copy into place leaves no database, and the copy beside it
 * as DATABASE.restored-XXXXXX. serve and init say so, naming the copy, and
 * init makes no empty journal there; the restore run again removes that
 * copy with its own, and the backup is served.
 *
 * Daemon bug (failed before the fix): serve said "run 'ipsnetd init'
 * first", and init made an empty journal beside the whole copy; a restore
 * run again left the stopped one's copy there for good. */
static void test_a_restore_stopped_before_its_last_step_is_named(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], copy[PATH_MAX + 32];

	/* As journal_restore leaves it when killed before its rename. */
	snprintf(copy, sizeof(copy), "%s.restored-Ab12Cd", fx->db);
	uint64_t head = leave_a_stopped_restore(fx, 8100, backup, copy, 1);

	ipsnetd_cmd(fx, fx->d.conf, "serve", NULL, 2);
	assert_output_says(fx, "a restore was stopped before its last step");
	assert_output_says(fx, copy);
	assert_output_says(fx, "rename that verified copy");
	ipsnetd_cmd(fx, fx->d.conf, "init", NULL, 1);
	assert_output_says(fx, "a restore was stopped before its last step");
	assert_int_equal(access(fx->db, F_OK), -1);

	/* The restore run again puts its own copy and removes the one left,
	 * a whole copy of personal data. */
	assert_restore_again_removes_the_copy(fx, backup, copy, head);
}

/* A restore on a server with no database yet, killed before its last
 * rename, leaves only its verified copy: serve and init say so, and with
 * no before-restore folder there they say there were no files to replace,
 * naming no folder. The restore run again removes the copy and puts its
 * own.
 *
 * Daemon bug (failed before the fix): they said "the files it was to
 * replace are in 'DATABASE.before-restore-*\/'", a folder never made. */
static void
test_a_restore_stopped_where_there_was_no_database_names_no_folder(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], copy[PATH_MAX + 32], listing[4096];

	uint64_t head = backup_of_three(fx, 8200, backup);
	assert_int_equal(unlink(fx->db), 0);
	snprintf(copy, sizeof(copy), "%s.restored-Ij56Kl", fx->db);
	copy_part(backup, copy, 1);
	folder_files(fx->dir, listing, sizeof(listing));
	assert_null(strstr(listing, ".before-restore-"));

	/* serve exits 2: for a person to set right. */
	const char *const cmds[] = {"serve", "init"};
	const int exits[] = {2, 1};
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		ipsnetd_cmd(fx, fx->d.conf, cmds[i], NULL, exits[i]);
		assert_output_says(fx, "a restore was stopped before its last "
				       "step");
		assert_output_says(fx, copy);
		assert_output_says(fx, "there were no files to replace");
		if (strstr(fx->r.err, "replace are in") != NULL) {
			print_result("output", &fx->r);
			fail_msg("%s names a before-restore folder that is "
				 "not there",
				 cmds[i]);
		}
		assert_int_equal(access(fx->db, F_OK), -1);
	}
	assert_restore_again_removes_the_copy(fx, backup, copy, head);
}

/* A restore killed while it copied the backup, the database still in
 * place, leaves its partial copy beside it (personal data): the daemon
 * serves the database and says at start that the copy is there, naming
 * it. The restore run again removes it, and a start after says nothing.
 *
 * Daemon bug (failed before the fix): nothing said so, and the copy stayed
 * beside the database for good. */
static void test_a_copy_left_beside_the_database_is_said_at_start(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], copy[PATH_MAX + 32], needle[PATH_MAX + 96];
	static const char said[] = "msg=\"a stopped restore left a copy\"";

	uint64_t head = backup_of_three(fx, 8250, backup);
	restart_daemon(fx);
	assert_int_equal(register_clients(fx, 2, 8260), head + 2);
	stop_daemon(fx);
	assert_int_equal(count_in_file(fx->d.log, said), 0);
	snprintf(copy, sizeof(copy), "%s.restore-Mn78Op", fx->db);
	copy_part(backup, copy, 2);

	restart_daemon(fx);
	snprintf(needle, sizeof(needle),
		 "level=warn %s file=%s copies=1 detail=", said, copy);
	if (count_in_file(fx->d.log, needle) != 1) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the start does not name the copy left beside the "
			 "database");
	}
	assert_int_equal(
	    json_integer_value(json_object_get(whoami_json(fx), "journal_seq")),
	    head + 2);
	stop_daemon(fx);

	assert_restore_again_removes_the_copy(fx, backup, copy, head);
	assert_int_equal(count_in_file(fx->d.log, said), 1);
}

/* A restore killed while it copied or verified the backup leaves its copy
 * as DATABASE.restore-XXXXXX, partial or not verified; with no database
 * in place (a restore run again after one stopped before its last step,
 * killed in turn), serve and init name it as unfinished and say to run
 * the restore again, never to rename it into place; init makes no empty
 * journal there. The restore run again removes it and puts its own.
 *
 * Daemon bug (failed before the fix): serve called a half-copied backup
 * "that verified copy" and said to rename it to the database. */
static void
test_an_unverified_restore_copy_is_not_to_be_put_in_place(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], copy[PATH_MAX + 32];

	/* As journal_restore leaves it when killed half-way through its copy:
	 * the first half of the backup. */
	snprintf(copy, sizeof(copy), "%s.restore-Ef34Gh", fx->db);
	uint64_t head = leave_a_stopped_restore(fx, 8150, backup, copy, 2);

	/* serve exits 2: for a person to set right. */
	const char *const cmds[] = {"serve", "init"};
	const int exits[] = {2, 1};
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		ipsnetd_cmd(fx, fx->d.conf, cmds[i], NULL, exits[i]);
		assert_output_says(fx, copy);
		assert_output_says(fx, "do not put it in place");
		assert_output_says(fx, "Run 'ipsnetd restore' with the backup "
				       "again");
		if (strstr(fx->r.err, "rename") != NULL ||
		    strstr(fx->r.err, "verified copy") != NULL ||
		    strstr(fx->r.out, "rename") != NULL) {
			print_result("output", &fx->r);
			fail_msg("%s tells to put an unverified copy in place",
				 cmds[i]);
		}
		assert_int_equal(access(fx->db, F_OK), -1);
	}

	assert_restore_again_removes_the_copy(fx, backup, copy, head);
}

/* A restore killed between its moves: the database is in the folder it
 * moves the files into (DATABASE.before-restore-TIME.unfinished/), the
 * -wal with the last commits (a daemon killed) and the -shm still beside
 * where it was. serve and init say so, naming that folder, and init makes
 * no journal there. The restore run again moves the rest into that
 * folder, which takes its name: one folder with the database and its
 * -wal, whose journal holds the commits after the backup, and the backup
 * served.
 *
 * Daemon bug (failed before the fix): serve said "run 'ipsnetd init'
 * first"; the restore run again moved the -wal into a second
 * before-restore folder, apart from its database, whose journal then
 * lacked the commits it held. */
static void test_a_restore_stopped_between_its_moves_is_finished(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], folder[PATH_MAX + 64], unfinished[PATH_MAX + 80],
	    moved[PATH_MAX + 96], wal[PATH_MAX + 8], aside[PATH_MAX + 64],
	    listing[4096];

	start_daemon(fx);
	uint64_t head = register_clients(fx, 3, 8700);
	snprintf(backup, sizeof(backup), "%s/backup.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	assert_int_equal(register_clients(fx, 2, 8750), head + 2);
	kill_daemon(fx);
	snprintf(wal, sizeof(wal), "%s-wal", fx->db);
	struct stat st;
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size > 0);
	/* As the restore leaves it, killed after its first rename. */
	snprintf(folder, sizeof(folder), "%s.before-restore-20261126T180000Z",
		 fx->db);
	snprintf(unfinished, sizeof(unfinished), "%s.unfinished", folder);
	assert_int_equal(mkdir(unfinished, 0700), 0);
	snprintf(moved, sizeof(moved), "%s/ipsnet.db", unfinished);
	assert_int_equal(rename(fx->db, moved), 0);

	ipsnetd_cmd(fx, fx->d.conf, "serve", NULL, 2);
	assert_output_says(fx, "a restore was stopped while it moved");
	assert_output_says(fx, unfinished);
	ipsnetd_cmd(fx, fx->d.conf, "init", NULL, 1);
	assert_output_says(fx, "a restore was stopped while it moved");
	assert_int_equal(access(fx->db, F_OK), -1);

	ipsnetd_cmd(fx, fx->d.conf, "restore", backup, 0);
	assert_one_line("restore's stdout", fx->r.out);
	assert_int_equal(restore_folders(fx, aside, sizeof(aside)), 1);
	assert_string_equal(aside, folder);
	assert_output_says(fx, folder);
	assert_int_equal(access(unfinished, F_OK), -1);
	folder_files(folder, listing, sizeof(listing));
	assert_string_equal(listing, "ipsnet.db ipsnet.db-shm ipsnet.db-wal ");
	assert_int_equal(access(wal, F_OK), -1);
	snprintf(moved, sizeof(moved), "%s/ipsnet.db", folder);
	assert_int_equal(file_int(moved, "SELECT max(seq) FROM journal"),
			 head + 2);
	restart_daemon(fx);
	assert_int_equal(
	    json_integer_value(json_object_get(whoami_json(fx), "journal_seq")),
	    head);
}

/* A restore while the daemon serves the database is refused, naming the
 * daemon's pid, and moves nothing; the daemon goes on. */
static void test_restore_is_refused_while_the_daemon_serves(void **state)
{
	struct fx *fx = *state;
	char holder[64], backup[PATH_MAX], before[4096], after[4096];

	start_daemon(fx);
	register_clients(fx, 2, 7600);
	snprintf(backup, sizeof(backup), "%s/backup.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	uint64_t head = register_clients(fx, 2, 7650);
	snprintf(holder, sizeof(holder), "in use by another ipsnetd (pid %d)",
		 (int)fx->d.pid);
	folder_files(fx->dir, before, sizeof(before));

	ipsnetd_cmd(fx, fx->d.conf, "restore", backup, 1);
	assert_output_says(fx, "restore refused, nothing changed");
	assert_output_says(fx, holder);
	assert_output_says(fx, "one serve, init, rebuild or restore at a time");
	assert_one_line("restore's stderr", fx->r.err);
	folder_files(fx->dir, after, sizeof(after));
	assert_string_equal(after, before);
	assert_int_equal(
	    json_integer_value(json_object_get(whoami_json(fx), "journal_seq")),
	    head);
	assert_int_equal(register_clients(fx, 1, 7690), head + 1);
}

/* A backup of a stopped database (in WAL mode, nothing beside it) reads it
 * as verify does, immutable: it leaves no -wal and -shm beside it, and one
 * on read-only media can be copied. Was: SQLite made both, and on
 * read-only media the backup failed, "unable to open database file"
 * (found by a review). */
static void
test_a_backup_of_a_stopped_database_leaves_nothing_beside_it(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], wal[PATH_MAX + 8], shm[PATH_MAX + 8];

	start_daemon(fx);
	uint64_t head = register_clients(fx, 2, 7970);
	stop_daemon(fx);
	snprintf(wal, sizeof(wal), "%s-wal", fx->db);
	snprintf(shm, sizeof(shm), "%s-shm", fx->db);
	assert_int_equal(access(wal, F_OK), -1); /* the daemon removed them */
	assert_int_equal(access(shm, F_OK), -1);
	snprintf(backup, sizeof(backup), "%s/stopped.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	assert_int_equal(access(wal, F_OK), -1);
	assert_int_equal(access(shm, F_OK), -1);
	ipsnetd_with(fx, "verify", NULL, "--database", backup, 0);
	char want[64];
	snprintf(want, sizeof(want), "%llu journal entries",
		 (unsigned long long)head);
	assert_output_says(fx, want);
}

/* Moves the database's files (those there are) into the folder to. */
static void move_database(struct fx *fx, const char *to)
{
	static const char *const suffixes[] = {"", "-wal", "-shm"};
	char from[PATH_MAX + 8], dest[PATH_MAX + 32];
	assert_int_equal(mkdir(to, 0700), 0);
	for (size_t i = 0; i < ARRAY_SIZE(suffixes); i++) {
		snprintf(from, sizeof(from), "%s%s", fx->db, suffixes[i]);
		snprintf(dest, sizeof(dest), "%s/ipsnet.db%s", to, suffixes[i]);
		if (rename(from, dest) != 0)
			assert_int_equal(errno, ENOENT);
	}
}

/* A backup of another journal (here: of the database before it was made
 * anew; another network's is the same case) is refused, with nothing
 * changed and what to do; with the database moved away, as it says, it
 * is restored. Was: put in place without a word, so that another
 * network's clients answered this network's caseworkers (found by a
 * review). */
static void test_restore_refuses_a_backup_of_another_journal(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], old[PATH_MAX], other[PATH_MAX];

	start_daemon(fx);
	uint64_t head = register_clients(fx, 2, 7900);
	snprintf(backup, sizeof(backup), "%s/first.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	stop_daemon(fx);
	snprintf(old, sizeof(old), "%s/old", h_tmpdir());
	move_database(fx, old);
	start_daemon(fx); /* init makes it anew */
	uint64_t other_head = register_clients(fx, 1, 7950);
	stop_daemon(fx);

	ipsnetd_cmd(fx, fx->d.conf, "restore", backup, 1);
	assert_output_says(fx, "restore refused, nothing changed");
	assert_output_says(fx, "is of another journal");
	assert_output_says(fx, "move the database and its -wal and -shm away");
	assert_one_line("restore's stderr", fx->r.err);
	restart_daemon(fx);
	assert_int_equal(
	    json_integer_value(json_object_get(whoami_json(fx), "journal_seq")),
	    other_head);
	stop_daemon(fx);

	snprintf(other, sizeof(other), "%s/other", h_tmpdir());
	move_database(fx, other);
	ipsnetd_cmd(fx, fx->d.conf, "restore", backup, 0);
	restart_daemon(fx);
	assert_int_equal(
	    json_integer_value(json_object_get(whoami_json(fx), "journal_seq")),
	    head);
}

/* A backup that does not verify (an entry changed; a newer schema; none
 * at all; the database itself; one with a -wal of its own, also behind a
 * link; a --database that is a folder) is refused
 * with one line, and the database a crashed daemon
 * left, its -wal and -shm, the folder and the backup are as they were,
 * byte for byte. Without BACKUP: a usage error. */
static void test_restore_refuses_a_damaged_backup_changing_nothing(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], damaged[PATH_MAX], newer[PATH_MAX],
	    missing[PATH_MAX], walled[PATH_MAX], walled_wal[PATH_MAX + 8],
	    linked[PATH_MAX], files[4][PATH_MAX + 16], before[4096],
	    after[4096];
	char *bytes[4];
	size_t lens[4];

	start_daemon(fx);
	register_clients(fx, 4, 7800);
	snprintf(backup, sizeof(backup), "%s/backup.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	register_clients(fx, 2, 7850);
	kill_daemon(fx);
	snprintf(damaged, sizeof(damaged), "%s/damaged.db", h_tmpdir());
	copy_file(backup, damaged);
	assert_int_equal(h_sqlite3(damaged, "DROP TRIGGER journal_no_update; "
					    "UPDATE journal SET user = "
					    "'someone.else' WHERE seq = 2;"),
			 0);
	snprintf(newer, sizeof(newer), "%s/newer.db", h_tmpdir());
	copy_file(backup, newer);
	assert_int_equal(h_sqlite3(newer, "PRAGMA user_version = 999;"), 0);
	snprintf(missing, sizeof(missing), "%s/no-such.db", h_tmpdir());
	snprintf(walled, sizeof(walled), "%s/walled.db", h_tmpdir());
	copy_file(fx->db, walled);
	snprintf(walled_wal, sizeof(walled_wal), "%s-wal", walled);
	snprintf(files[0], sizeof(files[0]), "%s-wal", fx->db);
	copy_file(files[0], walled_wal);

	snprintf(files[0], sizeof(files[0]), "%s", fx->db);
	snprintf(files[1], sizeof(files[1]), "%s-wal", fx->db);
	snprintf(files[2], sizeof(files[2]), "%s-shm", fx->db);
	snprintf(files[3], sizeof(files[3]), "%s", damaged);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++)
		bytes[i] = file_bytes(files[i], &lens[i]);
	assert_true(lens[1] > 0); /* the crashed daemon's -wal */
	folder_files(fx->dir, before, sizeof(before));

	ipsnetd_cmd(fx, fx->d.conf, "restore", damaged, 1);
	assert_output_says(fx, "restore refused, nothing changed");
	assert_output_says(fx, "is damaged");
	assert_output_says(fx, "journal entry 2");
	assert_one_line("restore's stderr", fx->r.err);
	ipsnetd_cmd(fx, fx->d.conf, "restore", newer, 1);
	assert_output_says(fx, "restore refused, nothing changed");
	assert_output_says(fx, "schema version 999, newer than this ipsnetd");
	assert_one_line("restore's stderr", fx->r.err);
	ipsnetd_cmd(fx, fx->d.conf, "restore", missing, 1);
	assert_output_says(fx, "there is no such file");
	assert_one_line("restore's stderr", fx->r.err);
	/* The database itself, and a copy of it with its -wal (which verify
	 * would read and the copy would leave behind). */
	ipsnetd_cmd(fx, fx->d.conf, "restore", fx->db, 1);
	assert_output_says(fx, "is the database itself");
	assert_one_line("restore's stderr", fx->r.err);
	ipsnetd_cmd(fx, fx->d.conf, "restore", walled, 1);
	assert_output_says(fx, "has a -wal beside it");
	assert_output_says(fx, "ipsnetd backup NEWFILE --database");
	assert_one_line("restore's stderr", fx->r.err);
	/* The same behind a link (latest.db): SQLite reads the -wal beside
	 * the file the link names, and so does the check. */
	snprintf(linked, sizeof(linked), "%s/latest.db", h_tmpdir());
	assert_int_equal(symlink(walled, linked), 0);
	ipsnetd_cmd(fx, fx->d.conf, "restore", linked, 1);
	assert_output_says(fx, "has a -wal beside it");
	assert_one_line("restore's stderr", fx->r.err);
	/* A --database that names a folder (the database's own, a slip):
	 * not moved away whole with the database in it. */
	ipsnetd_with(fx, "restore", backup, "--database", fx->dir, 1);
	assert_output_says(fx, "restore refused, nothing changed");
	assert_output_says(fx, "is not a file");
	assert_one_line("restore's stderr", fx->r.err);
	h_result_free(&fx->r);
	assert_int_equal(
	    h_run_ipsnetd(&fx->r, (const char *const[]){"restore", "--config",
							fx->d.conf, NULL}),
	    2);

	folder_files(fx->dir, after, sizeof(after));
	assert_string_equal(after, before);
	for (size_t i = 0; i < ARRAY_SIZE(files); i++) {
		size_t len;
		char *now = file_bytes(files[i], &len);
		if (len != lens[i] || memcmp(now, bytes[i], len) != 0)
			fail_msg("%s changed", files[i]);
		free(now);
		free(bytes[i]);
	}
}

/* `ipsnetd restore` after the daemon was killed (a -wal and -shm beside
 * the database): the database, its -wal and -shm go into one 0700 folder
 * that the line names, DATABASE.served stays; the daemon then serves
 * exactly the backup's journal (head and hash), and says at start that
 * the head went back. The moved database with its -wal still holds the
 * entries after the backup (the audit trail). The backup is not changed. */
static void test_restore_after_a_crash_with_the_command(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], aside[PATH_MAX + 64], wal[PATH_MAX + 8],
	    served[PATH_MAX + 8], moved[PATH_MAX + 96], line[160],
	    listing[4096], hash[65];
	struct stat st;

	start_daemon(fx);
	uint64_t backup_head = register_clients(fx, 3, 7900);
	snprintf(backup, sizeof(backup), "%s/backup.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	util_strlcpy(
	    hash,
	    json_string_value(json_object_get(whoami_json(fx), "journal_hash")),
	    sizeof(hash));
	assert_int_equal(register_clients(fx, 2, 7950), backup_head + 2);
	kill_daemon(fx);
	snprintf(wal, sizeof(wal), "%s-wal", fx->db);
	assert_int_equal(access(wal, F_OK), 0);
	size_t backup_len;
	char *backup_bytes = file_bytes(backup, &backup_len);

	ipsnetd_cmd(fx, fx->d.conf, "restore", backup, 0);
	assert_one_line("restore's stdout", fx->r.out);
	snprintf(line, sizeof(line), "journal head seq %" PRIu64 ";",
		 backup_head);
	assert_output_says(fx, line);
	assert_output_says(fx, "refused (exit 6)");
	assert_output_says(fx, "start again from seq 0");
	assert_int_equal(restore_folders(fx, aside, sizeof(aside)), 1);
	assert_output_says(fx, aside);
	const char *stamp =
	    aside + strlen(fx->dir) + 1 + strlen("ipsnet.db.before-restore-");
	assert_int_equal(strlen(stamp), strlen("20261126T172305Z"));
	assert_int_equal(stamp[8], 'T');
	assert_int_equal(stamp[15], 'Z');
	assert_int_equal(stat(aside, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	folder_files(aside, listing, sizeof(listing));
	assert_string_equal(listing, "ipsnet.db ipsnet.db-shm ipsnet.db-wal ");
	/* Beside the database: no -wal or -shm of the old one, no copy left
	 * half-way; DATABASE.served as the daemon left it. */
	assert_int_equal(access(wal, F_OK), -1);
	folder_files(fx->dir, listing, sizeof(listing));
	assert_null(strstr(listing, "ipsnet.db-shm"));
	assert_null(strstr(listing, ".restore-"));
	assert_null(strstr(listing, ".restored-"));
	snprintf(served, sizeof(served), "%s.served", fx->db);
	snprintf(line, sizeof(line), "%020" PRIu64 "\n", backup_head + 2);
	assert_true(h_file_contains(served, line));
	assert_int_equal(stat(fx->db, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	size_t len;
	char *now = file_bytes(backup, &len);
	assert_int_equal(len, backup_len);
	assert_memory_equal(now, backup_bytes, len);
	free(now);
	free(backup_bytes);
	snprintf(moved, sizeof(moved), "%s/ipsnet.db", aside);
	assert_int_equal(file_int(moved, "SELECT max(seq) FROM journal"),
			 backup_head + 2);

	ipsnetd_cmd(fx, fx->d.conf, "verify", NULL, 0);
	restart_daemon(fx);
	json_t *j = whoami_json(fx);
	assert_int_equal(json_integer_value(json_object_get(j, "journal_seq")),
			 backup_head);
	assert_string_equal(
	    json_string_value(json_object_get(j, "journal_hash")), hash);
	snprintf(line, sizeof(line),
		 "level=warn msg=\"journal head went back\" served_seq=%" PRIu64
		 " head_seq=%" PRIu64,
		 backup_head + 2, backup_head);
	if (!h_daemon_log_contains(&fx->d, line)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the log does not say '%s'", line);
	}
	assert_int_equal(register_clients(fx, 1, 7990), backup_head + 1);
}

/* BACKUP replaced by another file right after the restore opened it
 * (swap_on_open.c, preloaded into ipsnetd): the file opened is damaged,
 * the one the name then gives is whole. What the restore verifies is what
 * it would put in place: refused, and the database, its folder and the
 * temporary copy are as before.
 *
 * Daemon bug (failed before the fix): the restore verified BACKUP by its
 * name (the whole file) and copied the one it had opened (the damaged
 * one) into place, exit 0. */
static void test_restore_verifies_the_copy_it_puts_in_place(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], damaged[PATH_MAX], whole[PATH_MAX + 8],
	    before[4096], after[4096];

	start_daemon(fx);
	register_clients(fx, 3, 8400);
	stop_daemon(fx);
	snprintf(backup, sizeof(backup), "%s/backup.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	snprintf(damaged, sizeof(damaged), "%s/latest.db", h_tmpdir());
	copy_file(backup, damaged);
	assert_int_equal(h_sqlite3(damaged, "DROP TRIGGER journal_no_update; "
					    "UPDATE journal SET user = "
					    "'someone.else' WHERE seq = 2;"),
			 0);
	snprintf(whole, sizeof(whole), "%s.swap", damaged);
	copy_file(backup, whole);
	size_t db_len;
	char *db_bytes = file_bytes(fx->db, &db_len);
	folder_files(fx->dir, before, sizeof(before));

	h_result_free(&fx->r);
	int code = h_run_ipsnetd_preloaded(
	    &fx->r, SWAP_ON_OPEN_PATH, "IT_SWAP_ON_OPEN", damaged,
	    (const char *const[]){"restore", damaged, "--config", fx->d.conf,
				  NULL});
	/* The whole file took the name: the swap was made. */
	assert_int_equal(access(whole, F_OK), -1);
	if (code != 1) {
		print_result("restore", &fx->r);
		fail_msg("the restore of a file swapped after its open exited "
			 "%d, not 1",
			 code);
	}
	assert_output_says(fx, "restore refused, nothing changed");
	assert_output_says(fx, "is damaged");
	assert_output_says(fx, "journal entry 2");
	assert_one_line("restore's stderr", fx->r.err);
	folder_files(fx->dir, after, sizeof(after));
	assert_string_equal(after, before);
	size_t len;
	char *now = file_bytes(fx->db, &len);
	assert_int_equal(len, db_len);
	assert_memory_equal(now, db_bytes, len);
	free(now);
	free(db_bytes);
}

/* A backup in WAL mode (a copy of a database the daemon closed: no -wal)
 * is restored, and reading it leaves no -wal or -shm beside it (another's
 * folder, maybe read-only media), nor beside the database the -wal and
 * -shm of the temporary copy the restore verified.
 *
 * Daemon bug (failed before the fix): the restore verified BACKUP in
 * place, which left an empty BACKUP-wal and BACKUP-shm beside it. */
static void test_restore_of_a_wal_mode_backup_leaves_no_files(void **state)
{
	struct fx *fx = *state;
	char backup[PATH_MAX], listing[4096];
	const char *dir = h_tmpdir();

	start_daemon(fx);
	uint64_t head = register_clients(fx, 3, 8500);
	stop_daemon(fx);
	snprintf(backup, sizeof(backup), "%s/copied.db", dir);
	copy_file(fx->db, backup);
	size_t len;
	char *header = file_bytes(backup, &len);
	assert_true(len > 100 && header[18] == 2 && header[19] == 2); /* WAL */
	free(header);
	folder_files(dir, listing, sizeof(listing));
	assert_string_equal(listing, "copied.db ");
	restart_daemon(fx);
	assert_int_equal(register_clients(fx, 2, 8550), head + 2);
	stop_daemon(fx);

	ipsnetd_cmd(fx, fx->d.conf, "restore", backup, 0);
	folder_files(dir, listing, sizeof(listing));
	assert_string_equal(listing, "copied.db ");
	folder_files(fx->dir, listing, sizeof(listing));
	assert_null(strstr(listing, ".restore-"));
	assert_null(strstr(listing, ".restored-"));
	assert_null(strstr(listing, "ipsnet.db-wal"));
	assert_null(strstr(listing, "ipsnet.db-shm"));
	restart_daemon(fx);
	assert_int_equal(
	    json_integer_value(json_object_get(whoami_json(fx), "journal_seq")),
	    head);
}

/* `ipsnetd verify --database COPY` of a database in WAL mode without a
 * -wal (a copy of one its daemon closed) leaves nothing beside it: it is
 * someone's folder, maybe read-only media. In a folder the verifying
 * user cannot write (as nobody, when the test runs as root), it verifies.
 * The copy is not changed.
 *
 * Daemon bug (failed before the fix): verify left an empty COPY-wal and
 * COPY-shm beside it, and where it could not make them it could not open
 * the copy ("unable to open database file", exit 2). */
static void test_verify_of_a_wal_mode_copy_leaves_no_files(void **state)
{
	struct fx *fx = *state;
	char copy[PATH_MAX], listing[4096];
	const char *dir = h_tmpdir();

	start_daemon(fx);
	register_clients(fx, 3, 8600);
	stop_daemon(fx);
	snprintf(copy, sizeof(copy), "%s/copied.db", dir);
	copy_file(fx->db, copy);
	size_t len;
	char *bytes = file_bytes(copy, &len);
	assert_true(len > 100 && bytes[18] == 2 && bytes[19] == 2); /* WAL */

	ipsnetd_with(fx, "verify", NULL, "--database", copy, 0);
	assert_output_says(fx, "ok: 3 journal entries");
	folder_files(dir, listing, sizeof(listing));
	assert_string_equal(listing, "copied.db ");
	size_t now_len;
	char *now = file_bytes(copy, &now_len);
	assert_int_equal(now_len, len);
	assert_memory_equal(now, bytes, len);
	free(now);
	free(bytes);

	/* A folder the verifying user reads and cannot write. */
	if (getuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
		return;
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(chmod(copy, 0644), 0);
	if (!nobody_may(fx, "-r", copy))
		return; /* a folder above is closed to nobody */
	const char *verify[] = {"verify", "--database", copy, NULL};
	if (ipsnetd_as_nobody(fx, verify) != 0) {
		print_result("verify as nobody", &fx->r);
		fail_msg("a WAL-mode copy in a folder its reader cannot write "
			 "does not verify");
	}
	folder_files(dir, listing, sizeof(listing));
	assert_string_equal(listing, "copied.db ");
}

/* The restored database belongs to the user of the one it replaces (the
 * daemon's), 0600, though the restore ran as root and the backup is
 * root's: that user can write it. With no database there, the folder's
 * owner's. Runs only as root (to be two users). */
static void test_restore_keeps_the_database_owner(void **state)
{
	struct fx *fx = *state;
	char conf[PATH_MAX + 16], lock[PATH_MAX + 8], backup[PATH_MAX],
	    aside[PATH_MAX + 64], moved[PATH_MAX + 96];
	struct stat st;

	if (getuid() != 0 || access("/usr/bin/setpriv", X_OK) != 0)
		skip();
	assert_int_equal(h_write_config(fx->dir, certs, NULL), 0);
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", fx->dir);
	snprintf(lock, sizeof(lock), "%s.lock", fx->db);
	ipsnetd_cmd(fx, conf, "init", NULL, 0);
	snprintf(backup, sizeof(backup), "%s/backup.db", h_tmpdir());
	ipsnetd_cmd(fx, conf, "backup", backup, 0); /* root's, 0600 */
	assert_int_equal(chown(fx->dir, 65534, 65534), 0);
	assert_int_equal(chown(fx->db, 65534, 65534), 0);
	assert_int_equal(chown(lock, 65534, 65534), 0);
	assert_int_equal(chmod(conf, 0644), 0);
	if (!nobody_may(fx, "-w", fx->db))
		skip();

	ipsnetd_cmd(fx, conf, "restore", backup, 0);
	assert_int_equal(stat(fx->db, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65534);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(restore_folders(fx, aside, sizeof(aside)), 1);
	snprintf(moved, sizeof(moved), "%s/ipsnet.db", aside);
	assert_int_equal(stat(moved, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	const char *rebuild[] = {"rebuild", "--config", conf, NULL};
	if (ipsnetd_as_nobody(fx, rebuild) != 0) {
		print_result("rebuild as nobody", &fx->r);
		fail_msg("the restored database is not its user's");
	}

	/* No database (and no lock file: a folder made afresh): the
	 * folder's owner's, and nothing to move. The lock file the restore
	 * makes is that owner's too, or the daemon could not start. */
	assert_int_equal(unlink(fx->db), 0);
	assert_int_equal(unlink(lock), 0);
	ipsnetd_cmd(fx, conf, "restore", backup, 0);
	assert_output_says(fx, "there was no database to replace");
	assert_int_equal(restore_folders(fx, aside, sizeof(aside)), 1);
	assert_int_equal(stat(fx->db, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65534);
	assert_int_equal(st.st_mode & 07777, 0600);
	if (ipsnetd_as_nobody(fx, rebuild) != 0) {
		print_result("rebuild as nobody", &fx->r);
		fail_msg("the restored database's user cannot take its lock");
	}
	assert_int_equal(stat(lock, &st), 0);
	assert_int_equal(st.st_uid, 65534);
	assert_int_equal(st.st_gid, 65534);
}

/* A restore of a database that is a symbolic link, killed between its
 * moves: the file the link names is in the unfinished folder beside it,
 * its -wal beside where it was, and the link names nothing. serve and init
 * say so as they do for a database that is no link (init makes no journal
 * where the link points, to which SQLite would apply that -wal), and the
 * restore run again finishes: one folder with the three files, the link
 * still a link, the backup served.
 *
 * Daemon bug (failed before the fix): serve and init looked for a stopped
 * restore beside the link, found the link there and went on; init made a
 * new journal where it points, and the restore run again refused "a
 * symbolic link that cannot be followed". */
static void
test_a_stopped_restore_of_a_linked_database_is_finished(void **state)
{
	struct fx *fx = *state;
	char data[PATH_MAX], target[PATH_MAX + 16], backup[PATH_MAX],
	    folder[PATH_MAX + 64], unfinished[PATH_MAX + 80],
	    moved[PATH_MAX + 96], wal[PATH_MAX + 24], listing[4096];
	struct stat st;

	snprintf(data, sizeof(data), "%s/data", fx->dir);
	assert_int_equal(mkdir(data, 0700), 0);
	snprintf(target, sizeof(target), "%s/ipsnet.db", data);
	assert_int_equal(symlink("data/ipsnet.db", fx->db), 0);
	start_daemon(fx);
	uint64_t head = register_clients(fx, 3, 8300);
	snprintf(backup, sizeof(backup), "%s/backup.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	assert_int_equal(register_clients(fx, 2, 8350), head + 2);
	kill_daemon(fx);
	snprintf(wal, sizeof(wal), "%s-wal", target);
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size > 0);
	/* As the restore leaves it, killed after its first rename. */
	snprintf(folder, sizeof(folder), "%s.before-restore-20261126T180000Z",
		 target);
	snprintf(unfinished, sizeof(unfinished), "%s.unfinished", folder);
	assert_int_equal(mkdir(unfinished, 0700), 0);
	snprintf(moved, sizeof(moved), "%s/ipsnet.db", unfinished);
	assert_int_equal(rename(target, moved), 0);

	ipsnetd_cmd(fx, fx->d.conf, "serve", NULL, 2);
	assert_output_says(fx, "a restore was stopped while it moved");
	assert_output_says(fx, unfinished);
	ipsnetd_cmd(fx, fx->d.conf, "init", NULL, 1);
	assert_output_says(fx, "a restore was stopped while it moved");
	assert_int_equal(access(target, F_OK), -1);

	ipsnetd_cmd(fx, fx->d.conf, "restore", backup, 0);
	assert_output_says(fx, folder);
	assert_int_equal(access(unfinished, F_OK), -1);
	folder_files(folder, listing, sizeof(listing));
	assert_string_equal(listing, "ipsnet.db ipsnet.db-shm ipsnet.db-wal ");
	snprintf(moved, sizeof(moved), "%s/ipsnet.db", folder);
	assert_int_equal(file_int(moved, "SELECT max(seq) FROM journal"),
			 head + 2);
	assert_int_equal(lstat(fx->db, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
	assert_int_equal(file_int(target, "SELECT max(seq) FROM journal"),
			 head);
	restart_daemon(fx);
	assert_int_equal(
	    json_integer_value(json_object_get(whoami_json(fx), "journal_seq")),
	    head);
	stop_daemon(fx);
}

/* A database named through a symbolic link is locked where the link
 * points, as SQLite opens it: a rebuild given the file's own name is
 * refused while the daemon serves it by the link's.
 *
 * Daemon bug (failed before the fix): the lock was LINK.lock for the
 * daemon and FILE.lock for the rebuild, and the rebuild ran beside the
 * serving daemon (exit 0). */
static void test_a_database_named_by_a_link_has_one_lock(void **state)
{
	struct fx *fx = *state;
	char data[PATH_MAX], target[PATH_MAX + 16], holder[64];

	snprintf(data, sizeof(data), "%s/data", fx->dir);
	assert_int_equal(mkdir(data, 0700), 0);
	snprintf(target, sizeof(target), "%s/ipsnet.db", data);
	assert_int_equal(symlink("data/ipsnet.db", fx->db), 0);
	start_daemon(fx);
	register_clients(fx, 1, 8200);
	snprintf(holder, sizeof(holder), "in use by another ipsnetd (pid %d)",
		 (int)fx->d.pid);
	ipsnetd_on(fx, "rebuild", target, 1);
	assert_output_says(fx, holder);
	stop_daemon(fx);
}

/* A database named by a link to a file not made yet (init makes it there):
 * it is locked where the link points too, as SQLite will open it. An init
 * by the file's own name holds FILE.lock (the test holds it here): an init
 * by the link's is refused and makes nothing; once the lock is let go, it
 * makes the database where the link points.
 *
 * Daemon bug (failed before the fix): store_lock found the file's real
 * name with realpath, which fails for a link to nothing, and locked
 * LINK.lock: the second init ran beside the first (exit 0). */
static void test_a_link_to_a_database_not_made_yet_has_one_lock(void **state)
{
	struct fx *fx = *state;
	char data[PATH_MAX], target[PATH_MAX + 16], lock[PATH_MAX + 32];
	char conf[PATH_MAX + 16], link_lock[PATH_MAX + 16];
	struct stat st;

	snprintf(data, sizeof(data), "%s/data", fx->dir);
	assert_int_equal(mkdir(data, 0700), 0);
	snprintf(target, sizeof(target), "%s/ipsnet.db", data);
	assert_int_equal(symlink("data/ipsnet.db", fx->db), 0);
	assert_int_equal(h_write_config(fx->dir, certs, NULL), 0);
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", fx->dir);
	snprintf(lock, sizeof(lock), "%s.lock", target);
	int fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(flock(fd, LOCK_EX | LOCK_NB), 0);
	assert_int_equal(write(fd, "4242\n", 5), 5);

	ipsnetd_cmd(fx, conf, "init", NULL, 1);
	assert_output_says(fx, "in use by another ipsnetd (pid 4242)");
	assert_int_not_equal(lstat(target, &st), 0);
	assert_int_equal(errno, ENOENT);
	snprintf(link_lock, sizeof(link_lock), "%s.lock", fx->db);
	assert_int_not_equal(lstat(link_lock, &st), 0);

	assert_int_equal(close(fd), 0);
	ipsnetd_cmd(fx, conf, "init", NULL, 0);
	assert_int_equal(lstat(target, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(lstat(fx->db, &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

/* A database that is a symbolic link (its file on another disk): SQLite
 * follows the link, so the database, its -wal and -shm are beside the
 * file it names. The restore puts the copy there and moves those into
 * the before-restore folder; the link stays a link, and the folder holds
 * the old database itself, not a copy of the link (a relative one would
 * name nothing from inside the folder). */
static void test_restore_follows_a_database_that_is_a_link(void **state)
{
	struct fx *fx = *state;
	char data[PATH_MAX], target[PATH_MAX + 16], backup[PATH_MAX],
	    aside[PATH_MAX + 64], moved[PATH_MAX + 96], wal[PATH_MAX + 24],
	    listing[4096];
	struct stat st;

	snprintf(data, sizeof(data), "%s/data", fx->dir);
	assert_int_equal(mkdir(data, 0700), 0);
	snprintf(target, sizeof(target), "%s/ipsnet.db", data);
	assert_int_equal(symlink("data/ipsnet.db", fx->db), 0);
	start_daemon(fx);
	uint64_t backup_head = register_clients(fx, 3, 8100);
	snprintf(backup, sizeof(backup), "%s/backup.db", h_tmpdir());
	ipsnetd_cmd(fx, fx->d.conf, "backup", backup, 0);
	assert_int_equal(register_clients(fx, 2, 8150), backup_head + 2);
	kill_daemon(fx);
	snprintf(wal, sizeof(wal), "%s-wal", target);
	assert_int_equal(stat(wal, &st), 0);
	assert_true(st.st_size > 0);

	ipsnetd_cmd(fx, fx->d.conf, "restore", backup, 0);
	assert_int_equal(lstat(fx->db, &st), 0);
	if (!S_ISLNK(st.st_mode))
		fail_msg("the database's link was replaced by a file");
	assert_int_equal(access(wal, F_OK), -1);
	assert_int_equal(file_int(target, "SELECT max(seq) FROM journal"),
			 backup_head);
	/* The old files, beside the file the link names, said in the line. */
	struct dirent **names;
	int n = scandir(data, &names, NULL, alphasort), found = 0;
	assert_true(n >= 0);
	for (int i = 0; i < n; i++) {
		if (strncmp(names[i]->d_name, "ipsnet.db.before-restore-",
			    strlen("ipsnet.db.before-restore-")) == 0) {
			snprintf(aside, sizeof(aside), "%s/%s", data,
				 names[i]->d_name);
			found++;
		}
		free(names[i]);
	}
	free(names);
	assert_int_equal(found, 1);
	assert_output_says(fx, aside);
	folder_files(aside, listing, sizeof(listing));
	assert_string_equal(listing, "ipsnet.db ipsnet.db-shm ipsnet.db-wal ");
	snprintf(moved, sizeof(moved), "%s/ipsnet.db", aside);
	assert_int_equal(lstat(moved, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(file_int(moved, "SELECT max(seq) FROM journal"),
			 backup_head + 2);

	restart_daemon(fx);
	assert_int_equal(
	    json_integer_value(json_object_get(whoami_json(fx), "journal_seq")),
	    backup_head);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	    T(test_crash_kill9_rounds_lose_no_acknowledged_change),
	    T(test_a_full_disk_refuses_changes_keeps_reading_and_takes_them_again),
	    T(test_a_kill_on_a_full_disk_loses_no_acknowledged_change),
	    T(test_tamper_journal_row_verify_names_its_seq),
	    T(test_verify_and_rebuild_show_their_walks_on_a_terminal),
	    T(test_tamper_audit_row_verify_names_its_id),
	    T(test_verify_names_the_heads_the_stop_logged),
	    T(test_verify_names_entries_cut_off_the_end),
	    T(test_tamper_state_table_verify_finds_it_and_rebuild_repairs),
	    T(test_broken_chain_daemon_serves_reads_and_refuses_changes),
	    T(test_broken_chain_refused_change_is_on_the_clients_trail),
	    T(test_damaged_payload_sync_passes_it),
	    T(test_retry_same_key_over_two_connections_and_a_restart),
	    T(test_conflict_reaches_the_client_with_the_current_version),
	    T(test_backup_while_a_load_runs_verifies),
	    T(test_backup_script_keeps_verified_copies),
	    T(test_a_second_writer_of_the_database_is_refused),
	    T(test_a_lock_file_of_another_user_is_not_skipped),
	    T(test_a_database_the_daemon_cannot_read_is_named),
	    T(test_init_leaves_another_programs_database_as_it_was),
	    T(test_init_names_the_missing_folder_above_the_database),
	    T(test_init_registers_a_national_network_of_400),
	    T(test_init_into_a_new_folder_takes_the_lock_there),
	    T(test_a_file_without_a_journal_is_named_as_such),
	    T(test_a_backup_that_cannot_be_checked_says_why),
	    T(test_a_refused_command_leaves_no_lock_file),
	    T(test_a_lock_file_removed_while_taken_is_made_again),
	    T(test_whoami_shows_the_last_entry_as_journal_head),
	    T(test_the_daemons_threads_are_named),
	    T(test_restore_from_a_backup_as_the_readme_says),
	    T(test_restore_after_a_crash_moves_the_wal_away),
	    T(test_restore_is_refused_while_the_daemon_serves),
	    T(test_restore_refuses_a_damaged_backup_changing_nothing),
	    T(test_restore_refuses_a_backup_of_another_journal),
	    T(test_a_backup_of_a_stopped_database_leaves_nothing_beside_it),
	    T(test_serve_without_its_certificate_exits_2),
	    T(test_restore_after_a_crash_with_the_command),
	    T(test_restore_verifies_the_copy_it_puts_in_place),
	    T(test_restore_of_a_wal_mode_backup_leaves_no_files),
	    T(test_verify_of_a_wal_mode_copy_leaves_no_files),
	    T(test_a_restore_stopped_before_its_last_step_is_named),
	    T(test_an_unverified_restore_copy_is_not_to_be_put_in_place),
	    T(test_a_restore_stopped_where_there_was_no_database_names_no_folder),
	    T(test_a_copy_left_beside_the_database_is_said_at_start),
	    T(test_a_restore_stopped_between_its_moves_is_finished),
	    T(test_a_served_file_garbled_or_not_ours_is_said_right),
	    T(test_restore_keeps_the_database_owner),
	    T(test_restore_follows_a_database_that_is_a_link),
	    T(test_a_stopped_restore_of_a_linked_database_is_finished),
	    T(test_a_database_named_by_a_link_has_one_lock),
	    T(test_a_link_to_a_database_not_made_yet_has_one_lock),
#undef T
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
