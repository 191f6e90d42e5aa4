/* The listener, the set of connections, signals and reloads.
 *
 * Everything here runs on the loop thread, except the reload job, which
 * reads the config, the database and the certificate files on a libuv
 * worker thread and hands the result back to the loop. */
#ifndef IPSNETD_SERVER_H
#define IPSNETD_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "config.h"
#include "journal.h"
#include "store.h"
#include "sync.h"

struct conn;

struct server {
	uv_loop_t *loop;
	struct server_config cfg;
	const char *config_path; /* NULL: embedded defaults */
	/* --log-level set the level: a reload keeps it over the file's; and
	 * --listen the address: a reload does not name the file's as waiting
	 * for a start. Set by the caller after server__start, before the loop
	 * reads the first signal. */
	bool log_level_given;
	bool listen_given;

	uv_tcp_t listener;
	uv_poll_t sig_poll; /* SIGHUP, SIGINT and SIGTERM, read from sig_fd */
	int sig_fd;	    /* a signalfd; the three are held in every thread */
	uv_timer_t shutdown_timer;
	uv_timer_t accept_timer; /* takes a connection again (accept_later) */
	uv_timer_t expiry_timer; /* the certificate's and CRL's end, hourly */
	/* Connections refused beyond max_connections, and those not yet
	 * authenticated that were dropped for a newer one: the first is
	 * logged at once, the rest of the window counted (server.c,
	 * REFUSED_LOG_MS); the timer runs while a window is open. */
	struct refusals {
		uv_timer_t timer;
		const char *one, *many; /* the msg of a line, of a count */
		const char *reason;
		uint64_t count; /* since the last line */
		uint64_t since; /* uv_now of the first of them */
		char first[72]; /* their first and last peers */
		char last[72];
	} refused, dropped;
	int cert_days_said;	 /* the days left the last warning named */
	int crl_days_said;
	uv_work_t reload_work;

	SSL_CTX *tls;             /* for new connections; swapped on reload */
	struct registry registry; /* swapped on reload */

	struct journal *journal;
	struct sync *sync;

	struct conn *conns;       /* every open connection */
	uint32_t n_conns;
	/* Those of conns whose Hello is not yet accepted, oldest first. */
	struct conn *unauth_head, *unauth_tail;
	uint64_t inflight;        /* requests in flight, closed connections too */
	bool stopping;
	bool reloading;
	bool reload_again;	  /* a SIGHUP came during the reload */
	uint64_t reload_began_us; /* the running reload's, for its note */
	int open_handles;         /* of the server's own handles */
	char listen_addr[64];     /* as bound: "127.0.0.1:7443" */
	int exit_code;
};

/* Binds the listener and starts serving on loop. Takes ownership of tls and
 * registry (freed by the server when it ends). On failure returns a code
 * with a sentence in err, and nothing is left open. */
int server__start(struct server *s, uv_loop_t *loop,
		  const struct server_config *cfg, const char *config_path,
		  SSL_CTX *tls, struct registry *registry,
		  struct journal *journal, char *err, size_t errlen);

/* Graceful shutdown: stop accepting, let requests in flight finish, close
 * every connection with close_notify, then close the server's own handles
 * so that uv_run returns. */
void server__stop(struct server *s);

/* Whether one of tls's CRLs (the file crl) is older than the newest of
 * its CA in use (in_use, when not NULL) or served before with database
 * (DATABASE.crl): IPSNET_ECONFIG with a sentence in err, or 0. CRL numbers
 * are one CA's: a CA new to the network is held to nothing.
 * server__crl_note keeps tls's for the next start (best effort). */
int server__crl_check(const char *database, SSL_CTX *in_use, SSL_CTX *tls,
		      const char *crl, char *err, size_t errlen);
void server__crl_note(const char *database, SSL_CTX *tls);

/* DATABASE.reload: what the daemon serving the database made of its last
 * SIGHUP, for `ipsnetd reload` (main.c), which sends one and waits for
 * its answer there: the daemon's pid, when that reload began (util_mono_us,
 * the same clock in every process), its result ("serving" from the start
 * until the first reload; then "ok", "failed" or "ignored") and a line
 * saying what it did or why not. Written whole (renamed over), no fsync:
 * it means something only while that daemon runs. */
struct reload_note {
	long pid;
	uint64_t began_us;
	char result[16];
	char message[700];
};
#define RELOAD_NOTE_SUFFIX ".reload"

/* Reads database's note into n: 0, or -1 with errno (ENOENT: no daemon
 * has served it since the note came in; EINVAL: not a note). */
int server__reload_note_read(const char *database, struct reload_note *n);

/* Warns when key (the server's key file) is readable by others. */
void server__warn_if_others_read(const char *key);

/* Called by a connection when its last handle has closed: it leaves the
 * list, and is freed at once or, with requests still in flight, when the
 * last one is done (server__conn_free). */
void server__conn_closed(struct server *s, struct conn *c);
void server__conn_free(struct server *s, struct conn *c);

#endif
