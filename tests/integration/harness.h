/* Integration test harness: the real ipsnetd and the real ipsnet command on
 * 127.0.0.1, real certificates made by the certs/ scripts, and a raw TLS client
 * for sending hand-made bytes.
 *
 * Every wait is a condition polled against a deadline; nothing sleeps and
 * hopes. Functions return 0 / true on success and otherwise print what went
 * wrong on stderr (with the daemon's log where it helps), so that the test
 * asserts on the result and its failure message says why.
 *
 * The paths of the binaries under test come from CMake: IPSNETD_PATH,
 * IPSNET_PATH and CERTS_DIR. Single-threaded; not for use from two threads.
 */
#ifndef IPSNET_TEST_HARNESS_H
#define IPSNET_TEST_HARNESS_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <openssl/ssl.h>

#include "ipsnet.pb-c.h"

/* Under AddressSanitizer or ThreadSanitizer a process's resident memory
 * is mostly the sanitizer's (quarantine, shadow): tests that bound the
 * daemon's memory run their scenario there but check the bound only when
 * this is 1. */
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define RSS_IS_THE_DAEMONS 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_IS_THE_DAEMONS 0
#endif
#endif
#ifndef RSS_IS_THE_DAEMONS
#define RSS_IS_THE_DAEMONS 1
#endif

/* Deadlines, in milliseconds: bounds against a hang, never waited out by a
 * test that passes. A daemon's start or reload gets 30 s: under TSan, with
 * test_sync beside it on a loaded 2-CPU machine, a reload once went
 * unlogged for 10 s (the log alone could not say why; h_daemon_dump_log
 * now shows the threads too). */
#define H_DAEMON_START_MS 30000
#define H_DAEMON_STOP_MS 10000
#define H_RUN_MS 20000
#define H_TLS_MS 5000

/* Call once from the group setup: ignores SIGPIPE in the test process (a
 * write to a connection the daemon closed must fail, not kill the test). */
void h_init(void);

/* ---- folders ------------------------------------------------------------ */

/* A fresh folder from mkdtemp under $TMPDIR or /tmp, removed (recursively)
 * by h_cleanup. The string belongs to the harness and lives until h_cleanup.
 * With IPSNET_TEST_KEEP=1 in the environment the folders are kept and their
 * names printed, to read a daemon's log after a failure. NULL on failure. */
const char *h_tmpdir(void);

/* Removes every folder h_tmpdir made. Call from the group teardown. */
void h_cleanup(void);

/* Copies folder src to dst (which must not exist) with cp -a. 0 or -1. */
int h_copy_dir(const char *src, const char *dst);

/* ---- certificates ------------------------------------------------------- */

/* Runs the certs/ scripts into dir (slow-ish: make them once per test binary,
 * in the group setup). dir gets:
 *   ca.crt ca.key crl.pem              the network CA and its CRL
 *   server.crt server.key              the daemon's certificate
 *   ggz-test gm0363 uwv network .crt/.key   organisations of h_write_config
 *   ghost.crt/.key                     CN=ghost, not in the registry
 *   expired.crt/.key                   CN=ggz-test, valid 2020 only
 *   revoked.crt/.key                   CN=ggz-test, on crl.pem
 *   other/ca.crt, other/ggz-test.crt/.key   a second, unrelated CA and a
 *                                      certificate for ggz-test from it
 * Returns 0 or -1. */
int h_make_certs(const char *dir);

/* Runs certs/SCRIPT (e.g. "revoke.sh") with args (NULL-terminated, after the
 * script's name); 0 when it exits 0, else -1 with its stderr printed. */
int h_certs_script(const char *script, const char *const args[]);

/* ---- daemon ------------------------------------------------------------- */

/* Writes dir/ipsnetd.conf: listen = 127.0.0.1:0, database = dir/ipsnet.db,
 * ca/cert/key/crl from certs (h_make_certs' files), then extra_server (NULL
 * or more "key = value" lines for [server], e.g. "max_frame_bytes = 4096\n"),
 * and the organisations ggz-test (GGZ, region 1), gm0363 (MUNICIPALITY,
 * GM0363, region 1), uwv (UWV) and network (NETWORK). 0 or -1. */
int h_write_config(const char *dir, const char *certs,
		   const char *extra_server);

struct h_daemon {
	pid_t pid;  /* 0 when not running */
	int port;   /* the port it listens on, from its log */
	int status; /* exit status once stopped (see h_daemon_stop) */
	char conf[PATH_MAX];
	char log[PATH_MAX];
	/* Set before h_daemon_restart: a signal the daemon finds sent when it
	 * starts, held by the kernel (one that came while it started). */
	int start_signal;
	/* Set before h_daemon_restart: --log-level LEVEL on its command
	 * line (NULL: none). */
	const char *log_level;
};

/* Runs `ipsnetd init --config dir/ipsnetd.conf` (must exit 0), then starts
 * `ipsnetd --config dir/ipsnetd.conf` with stdout and stderr going to
 * dir/ipsnetd.log, and waits (H_DAEMON_START_MS) for its "msg=listening"
 * line to learn the port. The daemon is killed if the test process dies.
 * Returns 0, or -1 with the log printed (and the daemon killed). */
int h_daemon_start(struct h_daemon *d, const char *dir);

/* h_daemon_start with lib preloaded into the daemon (LD_PRELOAD) and the
 * environment variable var set to value, for a test's fault or gate (see
 * hold_fetch.c). Neither stays set in the test's own environment. */
int h_daemon_start_preloaded(struct h_daemon *d, const char *dir,
			     const char *lib, const char *var,
			     const char *value);

/* Starts the stopped daemon d again: same config, same database, no init,
 * its log appended to the same file. Waits for the new run's
 * "msg=listening" line (the port is a new one). Returns 0, or -1 with the
 * log printed. */
int h_daemon_restart(struct h_daemon *d);

/* h_daemon_restart with lib preloaded and var set to value, as
 * h_daemon_start_preloaded. */
int h_daemon_restart_preloaded(struct h_daemon *d, const char *lib,
			       const char *var, const char *value);

/* Sends sig (0: none, only wait) and waits up to H_DAEMON_STOP_MS for the
 * daemon to exit; then SIGKILL. Returns its exit code (0..255), 128 + the
 * signal that ended it, or -1 when it had to be killed after the deadline (or
 * was not running). Safe to call on a stopped daemon (returns -1). */
int h_daemon_stop(struct h_daemon *d, int sig);

/* The pid, for kill(2): e.g. SIGHUP. */
pid_t h_daemon_pid(const struct h_daemon *d);

/* Whether the file at path holds needle (false when it cannot be read). */
bool h_file_contains(const char *path, const char *needle);

/* Waits up to ms for the file at path to hold needle. */
bool h_wait_file(const char *path, const char *needle, int ms);

/* Whether the daemon's log holds needle. */
bool h_daemon_log_contains(const struct h_daemon *d, const char *needle);

/* Waits up to ms for the daemon's log to hold needle. */
bool h_daemon_wait_log(const struct h_daemon *d, const char *needle, int ms);

/* Prints the daemon's log on stderr (for failure messages). */
void h_daemon_dump_log(const struct h_daemon *d);

/* ---- running programs --------------------------------------------------- */

struct h_result {
	int code;  /* exit code; 128 + signal; -1 if killed at the deadline */
	char *out; /* all of stdout, NUL-terminated (never NULL after a run) */
	char *err; /* all of stderr, NUL-terminated */
	size_t out_len, err_len;
};

/* Runs path with argv (argv[0] is the program's name; NULL-terminated),
 * stdin from /dev/null, stdout and stderr captured in full, and waits up to
 * H_RUN_MS. Returns r->code. Free r with h_result_free. Like the daemon, the
 * program runs without the IPSNET_* environment variables of the test. */
int h_run(struct h_result *r, const char *path, const char *const argv[]);

/* h_run with stdin, stdout and stderr on one pseudo-terminal (so that
 * isatty says yes, as for a progress bar): all the program wrote is in
 * r->out (r->err stays empty), the time it took in *ms. */
int h_run_on_terminal(struct h_result *r, const char *path,
		      const char *const argv[], long *ms);

/* h_run of the ipsnet command (IPSNET_PATH); args do not hold argv[0]. */
int h_run_cli(struct h_result *r, const char *const args[]);

/* h_run_cli with lib preloaded into the command (LD_PRELOAD) and the
 * environment variable var set to value, for a test's fault (see
 * fail_malloc.c). Neither stays set in the test's own environment. */
int h_run_cli_preloaded(struct h_result *r, const char *lib, const char *var,
			const char *value, const char *const args[]);

/* h_run of ipsnetd (IPSNETD_PATH), e.g. {"verify", "--config", conf};
 * args do not hold argv[0]. */
int h_run_ipsnetd(struct h_result *r, const char *const args[]);

/* h_run_ipsnetd with lib preloaded (LD_PRELOAD) and var set to value, as
 * h_run_cli_preloaded. */
int h_run_ipsnetd_preloaded(struct h_result *r, const char *lib,
			    const char *var, const char *value,
			    const char *const args[]);

/* Runs the sqlite3 command on db with sql (several statements allowed,
 * stops at the first error). 0 when it exits 0 and says nothing on stderr,
 * else -1 with what it said printed. */
int h_sqlite3(const char *db, const char *sql);

/* Runs sql on the database file db with the SQLite library, waiting up to
 * 5 s for the running daemon's locks; fails the test on an error. */
void h_db_exec(const char *db, const char *sql);

void h_result_free(struct h_result *r);

/* ---- programs in the background ---------------------------------------- */

/* A program that runs while the test goes on (a subscriber, a follower). */
struct h_proc {
	pid_t pid;  /* 0 once it ended */
	int code;   /* its exit code once ended (as h_result.code) */
	char out[PATH_MAX]; /* the files its stdout and stderr go to */
	char err[PATH_MAX];
};

/* Starts path with argv (argv[0] is the program's name), stdin from
 * /dev/null, stdout and stderr into the files out and err (made afresh),
 * without the IPSNET_* environment, dying with the test process. 0 or -1. */
int h_proc_start(struct h_proc *p, const char *path, const char *const argv[],
		 const char *out, const char *err);

/* h_proc_start of the ipsnet command; args do not hold argv[0]. */
int h_proc_start_cli(struct h_proc *p, const char *const args[],
		     const char *out, const char *err);

/* Whether it still runs (reaps it, and sets p->code, when it has ended). */
bool h_proc_running(struct h_proc *p);

/* Sends sig (0: none) and waits up to ms for it to end; SIGKILL after
 * that. Returns its exit code (128 + signal), or -1 when it had to be
 * killed at the deadline or was not running. */
int h_proc_stop(struct h_proc *p, int sig, int ms);

/* The whole file, NUL-terminated (free it); NULL when it cannot be read. */
char *h_read_file(const char *path, size_t *len);

/* A process's figure FIELD of /proc/PID/status (VmRSS, VmHWM, ...) in KiB,
 * or -1. */
long h_status_kib(pid_t pid, const char *field);

/* The daemon's resident memory (VmRSS of /proc/PID/status) in KiB, or -1. */
long h_rss_kib(pid_t pid);

/* A TCP port on 127.0.0.1 that was free a moment ago, for a daemon that
 * must come back on the same port after a restart; 0 on failure. */
int h_free_port(void);

/* A TCP port on 127.0.0.1 where nothing listens and nothing can start
 * to while *fd stays open (bound, not listening: a connection to it is
 * refused); close(*fd) when done. 0 on failure. */
int h_closed_port(int *fd);

#define H_ARGS_MAX 32

/* An argument list built piece by piece, with its own storage. */
struct h_args {
	const char *argv[H_ARGS_MAX + 1]; /* NULL-terminated */
	int n;
	char store[H_ARGS_MAX][PATH_MAX];
};

void h_args_init(struct h_args *a);
/* Appends one argument (printf format). Fails the test when full. */
void h_args_add(struct h_args *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Appends --server 127.0.0.1:PORT --ca CA --user test.user --timeout 5000:
 * the ipsnet options to reach the daemon, without a client certificate. */
void h_args_server(struct h_args *a, const struct h_daemon *d, const char *ca);
/* h_args_server with CERTS/ca.crt, then --cert CERTS/NAME.crt --key
 * CERTS/NAME.key: the options to act as the holder of certificate NAME. */
void h_args_org(struct h_args *a, const struct h_daemon *d, const char *certs,
		const char *name);

/* ---- raw TLS client ----------------------------------------------------- */

struct h_tls_opts {
	char ca[PATH_MAX];   /* CA file to check the server with */
	char cert[PATH_MAX]; /* client certificate; "": send none */
	char key[PATH_MAX];
	int max_version; /* 12 for a TLS 1.2-only client; 0: up to 1.3 */
	int rcvbuf;      /* SO_RCVBUF set before connecting (a reader that
			    never reads: the kernel holds little); 0: the
			    system's */
	SSL_SESSION *session; /* offered for resumption (from
				 SSL_get1_session); NULL: none */
};

/* Options to connect as the holder of certificate NAME (CERTS/NAME.crt and
 * .key; NULL: no client certificate), checking the server with
 * CERTS/ca.crt. */
void h_tls_opts_org(struct h_tls_opts *o, const char *certs, const char *name);

struct h_tls {
	int fd;
	SSL_CTX *ctx;
	SSL *ssl;
	int alert;	 /* last TLS alert received from the server, or -1 */
	char error[256]; /* what went wrong last, for messages */
	bool closed;	 /* the server closed the connection */
	uint8_t *rbuf;	 /* bytes read; from rpos to rlen not yet taken */
	size_t rpos, rlen, rcap;
};

/* Connects to 127.0.0.1:port and completes the TLS handshake within
 * H_TLS_MS. Returns 0, or -1 with c->error and c->alert saying why; either
 * way, release c with h_tls_close. (In TLS 1.3 the server judges the
 * client's certificate after the client's side of the handshake is done:
 * a refused certificate shows as an alert on the first read.) */
int h_tls_connect(struct h_tls *c, int port, const struct h_tls_opts *o);

void h_tls_close(struct h_tls *c);

/* Writes n bytes as they are. 0, or -1 when the connection failed. */
int h_tls_send_raw(struct h_tls *c, const void *bytes, size_t n);

/* True when the server closes the connection (TLS close_notify, EOF, reset
 * or a fatal alert) within ms. Bytes that arrive first are kept in c->rbuf
 * (an error Envelope the server sends before closing, for instance). */
bool h_tls_read_closed(struct h_tls *c, int ms);

/* Sends e as one frame. 0 or -1. */
int h_tls_send_envelope(struct h_tls *c, const Ipsnet__V1__Envelope *e);

/* The next frame, decoded, within ms; NULL on close, timeout or garbage
 * (c->error says which). Free with h_envelope_free. */
Ipsnet__V1__Envelope *h_tls_recv_envelope(struct h_tls *c, int ms);

/* Takes a frame already in c->rbuf (after h_tls_read_closed), if whole. */
Ipsnet__V1__Envelope *h_tls_take_envelope(struct h_tls *c);

void h_envelope_free(Ipsnet__V1__Envelope *e);

/* Sends Hello (protocol 1, user) and returns the answer's status code
 * (IPSNET__V1__CODE__OK when a HelloOk came), or -1 when no answer came. If
 * ok is not NULL and the answer is a HelloOk, *ok gets the envelope (free
 * with h_envelope_free). */
int h_tls_hello(struct h_tls *c, const char *user, Ipsnet__V1__Envelope **ok);

/* Sends Ping with request_id and checks that a Pong with status OK and the
 * same request id and client time comes back within H_TLS_MS. */
bool h_tls_ping(struct h_tls *c, uint64_t request_id);

/* Connects with certificate NAME from certs (certs/NAME.crt/.key, CA
 * certs/ca.crt) and says Hello; 0 when the server answered HelloOk. */
int h_tls_connect_hello(struct h_tls *c, int port, const char *certs,
			const char *name);

/* ---- test data ---------------------------------------------------------- */

/* A valid BSN that this process did not make before: 8 digits from a
 * counter (10000000 + 7919 * count + 3 * salt), then the check digit the
 * 11-proof asks for; counts whose digits have none are passed over. Processes
 * forked from one test count alike from there: give each a salt of its
 * own. */
void h_new_bsn(char out[16], unsigned salt);

#endif
