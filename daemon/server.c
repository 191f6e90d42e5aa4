#include "server.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "alloc.h"
#include "conn.h"
#include "ipsnet_errors.h"
#include "log.h"
#include "tls.h"
#include "util.h"

#define SHUTDOWN_DEADLINE_MS 10000
#define ACCEPT_RETRY_MS 100
/* The server certificate and the CRL are looked at every hour, and their
 * end is announced from this many days before it. */
#define EXPIRY_CHECK_MS (3600 * 1000)
#define EXPIRY_WARN_DAYS 14
/* A client that connects again and again while the daemon is at
 * max_connections would write a line each time: the first refusal is
 * logged at once, the others of the next REFUSED_LOG_MS are counted and
 * said in one line when that time is over (or the daemon stops), and so on
 * for as long as they go on. */
#define REFUSED_LOG_MS 10000
#define NOT_SAID (-1000000)

static void handle_closed(uv_handle_t *h)
{
	struct server *s = h->data;
	s->open_handles--;
}

static void sig_poll_closed(uv_handle_t *h)
{
	struct server *s = h->data;
	close(s->sig_fd);
	s->sig_fd = -1;
	s->open_handles--;
}

static void close_own_handles(struct server *s)
{
	uv_close((uv_handle_t *)&s->sig_poll, sig_poll_closed);
	uv_close((uv_handle_t *)&s->shutdown_timer, handle_closed);
	uv_close((uv_handle_t *)&s->accept_timer, handle_closed);
	uv_close((uv_handle_t *)&s->expiry_timer, handle_closed);
	uv_close((uv_handle_t *)&s->refused.timer, handle_closed);
	uv_close((uv_handle_t *)&s->dropped.timer, handle_closed);
}

/* Once the server certificate or the CRL is past its end, every client is
 * refused: a warning each day of the last EXPIRY_WARN_DAYS (and at every
 * start and reload), an error every hour once it has passed. *said holds
 * the days left the last warning named. */
static void say_expiry(const char *what, const char *file, int64_t until,
		       int *said, const char *todo)
{
	char when[32], quoted[2 * CONFIG_MAX_PATH];
	int64_t left = until - (int64_t)time(NULL);
	if (until == 0 || left > (int64_t)EXPIRY_WARN_DAYS * 86400)
		return;
	util_iso8601(when, sizeof(when), (uint64_t)until * 1000000u);
	log_quote(quoted, sizeof(quoted), file);
	if (left <= 0) {
		log_error("certificate or CRL expired",
			  "what=\"%s\" file=%s expired=%s detail=\"every "
			  "client is refused: %s\"",
			  what, quoted, when, todo);
		return;
	}
	int days = (int)(left / 86400);
	if (days == *said)
		return;
	*said = days;
	log_warn("certificate or CRL expires soon",
		 "what=\"%s\" file=%s expires=%s days_left=%d detail=\"then "
		 "every client is refused: %s\"",
		 what, quoted, when, days, todo);
}

static void check_expiry(struct server *s)
{
	int64_t cert, crl;
	tls_ctx_expiry(s->tls, &cert, &crl);
	say_expiry("server certificate", s->cfg.cert, cert, &s->cert_days_said,
		   "issue a new one with certs/server-cert.sh and send SIGHUP");
	say_expiry("CRL", s->cfg.crl, crl, &s->crl_days_said,
		   "write a new one with certs/crl.sh and send SIGHUP");
}

static void on_expiry_timer(uv_timer_t *t)
{
	struct server *s = t->data;
	check_expiry(s);
	/* A subscriber that only listens makes no request to be judged
	 * at: its certificate's end is looked at here. */
	struct conn *next;
	for (struct conn *c = s->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_SERVING)
			(void)conn__cert_ended(c, 0);
	}
}

static void maybe_finish(struct server *s)
{
	if (!s->stopping || s->n_conns > 0 || s->inflight > 0 ||
	    !sync_idle(s->sync) || s->reloading ||
	    uv_is_closing((uv_handle_t *)&s->sig_poll))
		return;
	struct journal_stats js;
	struct sync_stats ss;
	journal_stats(s->journal, &js);
	sync_stats(s->sync, &ss);
	/* The heads of both chains: lines an operator keeps show later
	 * whether either was cut short or rewritten (docs/access.md). */
	char head[2 * JOURNAL_HASH_BYTES + 1],
	    audit[2 * JOURNAL_HASH_BYTES + 1];
	util_hex(head, sizeof(head), js.head_hash, JOURNAL_HASH_BYTES);
	util_hex(audit, sizeof(audit), js.audit_hash, JOURNAL_HASH_BYTES);
	log_info("stopped",
		 "exit_code=%d journal_head_seq=%llu journal_head_hash=%s "
		 "audit_hash=%s journal_batches=%llu "
		 "journal_changes=%llu journal_checkpoints=%llu "
		 "journal_checkpoint_failures=%llu live_deliveries=%llu "
		 "live_commit_to_send_p50_ms=%.2f "
		 "live_commit_to_send_p99_ms=%.2f "
		 "live_commit_to_send_max_ms=%.2f sync_fallbacks=%llu",
		 s->exit_code, (unsigned long long)js.head_seq, head, audit,
		 (unsigned long long)js.batches, (unsigned long long)js.changes,
		 (unsigned long long)js.checkpoints,
		 (unsigned long long)js.checkpoint_failures,
		 (unsigned long long)ss.live_sent, ss.sent_p50_ms,
		 ss.sent_p99_ms, ss.sent_max_ms,
		 (unsigned long long)ss.fallbacks);
	journal_close_handle(s->journal);
	close_own_handles(s);
}

static void sync_went_idle(void *arg)
{
	maybe_finish(arg);
}

void server__conn_closed(struct server *s, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	s->n_conns--;
	c->released = true;
	if (c->inflight == 0)
		server__conn_free(s, c);
}

void server__conn_free(struct server *s, struct conn *c)
{
	ipsnet_free(c);
	maybe_finish(s);
}

/* "HOST:PORT" of t's peer, or "?". */
static const char *peer_of(uv_tcp_t *t, char *buf, size_t cap)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[INET6_ADDRSTRLEN];

	util_strlcpy(buf, "?", cap);
	if (uv_tcp_getpeername(t, (struct sockaddr *)&ss, &len) != 0)
		return buf;
	if (ss.ss_family == AF_INET &&
	    uv_ip4_name((struct sockaddr_in *)&ss, host, sizeof(host)) == 0)
		snprintf(buf, cap, "%s:%d", host,
			 ntohs(((struct sockaddr_in *)&ss)->sin_port));
	else if (ss.ss_family == AF_INET6 &&
		 uv_ip6_name((struct sockaddr_in6 *)&ss, host, sizeof(host)) ==
		     0)
		snprintf(buf, cap, "[%s]:%d", host,
			 ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
	return buf;
}

static void on_connection(uv_stream_t *listener, int status);

static void accept_again(uv_timer_t *t)
{
	struct server *s = t->data;
	if (!s->stopping)
		on_connection((uv_stream_t *)&s->listener, 0);
}

/* A connection the kernel has completed could not be taken (out of
 * memory): libuv watches the listener again only once it is, so without
 * this every later client would wait in the backlog for good. */
static void accept_later(struct server *s, int rv)
{
	log_warn("accept failed", "error=\"%s\" retry_ms=%d",
		 ipsnet_strerror(rv), ACCEPT_RETRY_MS);
	uv_timer_start(&s->accept_timer, accept_again, ACCEPT_RETRY_MS, 0);
}

/* The refusals counted since the last line, if any, in one line. */
static void say_refused(struct server *s, struct refusals *r)
{
	if (r->count == 0)
		return;
	log_warn(r->many,
		 "count=%llu first_peer=%s last_peer=%s for_ms=%llu "
		 "reason=\"%s\" max_connections=%u",
		 (unsigned long long)r->count, r->first, r->last,
		 (unsigned long long)(uv_now(s->loop) - r->since), r->reason,
		 s->cfg.max_connections);
	r->count = 0;
}

/* The end of a window of refusals: those it counted are said, and a new
 * window opens if there were any; else the next refusal is logged at
 * once. */
static void refused_window_over(uv_timer_t *t)
{
	struct refusals *r = container_of(t, struct refusals, timer);
	if (r->count == 0)
		return;
	say_refused(t->data, r);
	uv_timer_start(&r->timer, refused_window_over, REFUSED_LOG_MS, 0);
}

/* A connection refused (or dropped) at max_connections, from peer. */
static void note_refused(struct server *s, struct refusals *r, const char *peer)
{
	if (!uv_is_active((uv_handle_t *)&r->timer)) {
		log_warn(r->one, "peer=%s reason=\"%s\" max_connections=%u",
			 peer, r->reason, s->cfg.max_connections);
		uv_timer_start(&r->timer, refused_window_over, REFUSED_LOG_MS,
			       0);
		return;
	}
	if (r->count++ == 0) {
		r->since = uv_now(s->loop);
		util_strlcpy(r->first, peer, sizeof(r->first));
	}
	util_strlcpy(r->last, peer, sizeof(r->last));
}

static void refusals_init(struct server *s, struct refusals *r, const char *one,
			  const char *many, const char *reason)
{
	uv_timer_init(s->loop, &r->timer);
	r->timer.data = s;
	r->one = one;
	r->many = many;
	r->reason = reason;
}

static void on_connection(uv_stream_t *listener, int status)
{
	struct server *s = listener->data;
	char peer[INET6_ADDRSTRLEN + 8];
	if (status < 0) {
		log_warn("accept failed", "error=\"%s\"", uv_strerror(status));
		return;
	}
	if (s->n_conns >= s->cfg.max_connections &&
	    conn__drop_oldest_unauthenticated(s, peer, sizeof(peer)))
		note_refused(s, &s->dropped, peer);
	else if (s->n_conns >= s->cfg.max_connections) {
		/* Accept and close at once, so the peer learns now instead of
		 * waiting in the backlog. */
		uv_tcp_t *t = ipsnet_malloc(sizeof(*t));
		if (t == NULL) {
			accept_later(s, IPSNET_ENOMEM);
			return;
		}
		uv_tcp_init(s->loop, t);
		if (uv_accept(listener, (uv_stream_t *)t) == 0)
			note_refused(s, &s->refused,
				     peer_of(t, peer, sizeof(peer)));
		uv_close((uv_handle_t *)t, (uv_close_cb)ipsnet_free);
		return;
	}
	int rv = conn__accept(s);
	if (rv != 0)
		accept_later(s, rv);
}

static void shutdown_deadline(uv_timer_t *t)
{
	struct server *s = container_of(t, struct server, shutdown_timer);
	log_warn("shutdown deadline passed", "open_connections=%u timeout_ms=%d",
		 s->n_conns, SHUTDOWN_DEADLINE_MS);
	for (struct conn *c = s->conns; c != NULL; c = c->next)
		stream_abort(&c->stream, IPSNET_ETIMEOUT,
			     "closed at the shutdown deadline");
}

static void listener_closed(uv_handle_t *h)
{
	struct server *s = h->data;
	maybe_finish(s);
}

void server__stop(struct server *s)
{
	if (s->stopping)
		return;
	s->stopping = true;
	log_info("shutting down", "open_connections=%u", s->n_conns);
	uv_close((uv_handle_t *)&s->listener, listener_closed);
	/* No refusal comes after the listener: those counted are said now. */
	say_refused(s, &s->refused);
	say_refused(s, &s->dropped);
	uv_timer_stop(&s->refused.timer);
	uv_timer_stop(&s->dropped.timer);
	uv_timer_start(&s->shutdown_timer, shutdown_deadline,
		       SHUTDOWN_DEADLINE_MS, 0);
	struct conn *next;
	for (struct conn *c = s->conns; c != NULL; c = next) {
		next = c->next;
		switch (c->state) {
		case CONN_SERVING:
			if (c->inflight > 0) {
				c->drain = true;
				break;
			}
			conn__close_for_shutdown(c);
			break;
		case CONN_HANDSHAKING:
		case CONN_HELLO:
			conn__close(c, IPSNET_EUNAVAILABLE,
				    "the server is shutting down", "refused");
			break;
		default:
			break;
		}
	}
}

/* The server's key file, readable by others than its owner, lets anyone
 * on the machine act as the server (certs/README.md: mode 0600): said at
 * every start and every reload (a renewed key copied with cp), where an
 * operator reads the log. */
void server__warn_if_others_read(const char *key)
{
	struct stat st;
	char q[CONFIG_MAX_PATH + 8];
	if (stat(key, &st) != 0 || (st.st_mode & 077) == 0)
		return;
	log_warn("key readable by others", "key=%s mode=%04o fix=\"chmod 600\"",
		 log_quote(q, sizeof(q), key), (unsigned)(st.st_mode & 07777));
}

/* Writes len bytes of text as the file path, whole: into PATH.tmp, synced
 * first when durable, then renamed over path, so that a reader (and, when
 * durable, a start after a crash) finds the old file or the new, never a
 * part. 0, or -1 with errno. */
static int write_whole(const char *path, const char *text, size_t len,
		       bool durable)
{
	char tmp[CONFIG_MAX_PATH + 24];
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	bool ok =
	    util_write_all(fd, text, len) == 0 && (!durable || fsync(fd) == 0);
	int why = errno;
	if (close(fd) != 0 && ok) {
		ok = false;
		why = errno;
	}
	if (ok && rename(tmp, path) == 0)
		return 0;
	if (ok)
		why = errno;
	unlink(tmp);
	errno = why;
	return -1;
}

static void reload_note_path(const char *database, char *path, size_t cap)
{
	snprintf(path, cap, "%s" RELOAD_NOTE_SUFFIX, database);
}

/* Writes s's note: result and a message made of fmt. Best effort (a
 * note that cannot be written leaves `ipsnetd reload` waiting until its
 * deadline, telling its user to read the log); a warning says why. */
__attribute__((format(printf, 3, 4))) static void
say_reload(struct server *s, const char *result, const char *fmt, ...)
{
	char path[CONFIG_MAX_PATH + 16];
	char message[sizeof(((struct reload_note *)0)->message)];
	char note[sizeof(message) + 96];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	/* One line: a sentence from a file (a config error) could hold
	 * anything. */
	for (char *p = message; *p != '\0'; p++)
		if ((unsigned char)*p < 0x20)
			*p = ' ';
	reload_note_path(s->cfg.database, path, sizeof(path));
	int n = snprintf(note, sizeof(note),
			 "pid %ld\nbegan_us %llu\nresult %s\nmessage %s\n",
			 (long)getpid(), (unsigned long long)s->reload_began_us,
			 result, message);
	if (write_whole(path, note, (size_t)n, false) != 0) {
		char q[2 * sizeof(path)];
		log_warn("cannot write the reload note",
			 "file=%s error=\"%s\" detail=\"ipsnetd reload cannot "
			 "say how a reload went; the log does\"",
			 log_quote(q, sizeof(q), path), strerror(errno));
	}
}

int server__reload_note_read(const char *database, struct reload_note *n)
{
	char path[CONFIG_MAX_PATH + 16], line[sizeof(n->message) + 16];
	unsigned long long began = 0;
	int got = 0;
	reload_note_path(database, path, sizeof(path));
	memset(n, 0, sizeof(*n));
	FILE *f = fopen(path, "re");
	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "pid %ld", &n->pid) == 1 ||
		    sscanf(line, "began_us %llu", &began) == 1 ||
		    sscanf(line, "result %15s", n->result) == 1)
			got++;
		else if (strncmp(line, "message ", 8) == 0)
			util_strlcpy(n->message, line + 8, sizeof(n->message));
	}
	fclose(f);
	n->began_us = began;
	if (got != 3 || n->pid <= 0) {
		errno = EINVAL;
		return -1;
	}
	return 0;
}

/* DATABASE.crl: for each CA whose CRL was served, its key and the
 * highest number served ("HEX NUMBER\n" a line). A CRL older than that of
 * the same CA (a copy put back, which lets in again what the newer one
 * revoked) is refused at a start and at a reload. */
#define CRL_MARKS_MAX 64

static void crl_mark_path(const char *database, char *path, size_t cap)
{
	snprintf(path, cap, "%s.crl", database);
}

static size_t crl_marks_read(const char *path, struct tls_crl_mark *out,
			     size_t cap)
{
	char line[128];
	size_t n = 0;
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	while (n < cap && fgets(line, sizeof(line), f) != NULL) {
		long long v;
		if (sscanf(line, "%64s %lld", out[n].key, &v) == 2 &&
		    strlen(out[n].key) == 64 && v >= 0)
			out[n++].number = v;
	}
	fclose(f);
	return n;
}

static struct tls_crl_mark *crl_mark_find(struct tls_crl_mark *marks, size_t n,
					  const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(marks[i].key, key) == 0)
			return &marks[i];
	return NULL;
}

/* Takes add's marks into marks (n of them, room for cap): each CA at the
 * highest number of the two. Returns whether marks changed. */
static bool crl_marks_merge(struct tls_crl_mark *marks, size_t *n, size_t cap,
			    const struct tls_crl_mark *add, size_t n_add)
{
	bool changed = false;
	for (size_t i = 0; i < n_add; i++) {
		struct tls_crl_mark *m = crl_mark_find(marks, *n, add[i].key);
		if (m == NULL && *n < cap) {
			marks[(*n)++] = add[i];
			changed = true;
		} else if (m != NULL && add[i].number > m->number) {
			m->number = add[i].number;
			changed = true;
		}
	}
	return changed;
}

int server__crl_check(const char *database, SSL_CTX *in_use, SSL_CTX *tls,
		      const char *crl, char *err, size_t errlen)
{
	char path[CONFIG_MAX_PATH + 8];
	struct tls_crl_mark was[2 * CRL_MARKS_MAX], now[CRL_MARKS_MAX];
	crl_mark_path(database, path, sizeof(path));
	size_t n_was = crl_marks_read(path, was, CRL_MARKS_MAX);
	/* The CRLs in use count too: a file that could not be written
	 * still holds a reload to them. */
	if (in_use != NULL) {
		size_t n = tls_ctx_crl_marks(in_use, now, CRL_MARKS_MAX);
		crl_marks_merge(was, &n_was, 2 * CRL_MARKS_MAX, now, n);
	}
	size_t n_now = tls_ctx_crl_marks(tls, now, CRL_MARKS_MAX);
	for (size_t i = 0; i < n_now; i++) {
		const struct tls_crl_mark *w =
		    crl_mark_find(was, n_was, now[i].key);
		if (w == NULL || now[i].number >= w->number)
			continue;
		snprintf(err, errlen,
			 "CRL '%s' is number %lld, older than number %lld "
			 "served before (%s; to serve it all the same, remove "
			 "that file): a CRL never goes back, and this one may "
			 "let revoked certificates in again; write a new one "
			 "with certs/crl.sh",
			 crl, (long long)now[i].number, (long long)w->number,
			 path);
		return IPSNET_ECONFIG;
	}
	return 0;
}

void server__crl_note(const char *database, SSL_CTX *tls)
{
	char path[CONFIG_MAX_PATH + 8];
	struct tls_crl_mark marks[2 * CRL_MARKS_MAX], now[CRL_MARKS_MAX];
	size_t n_now = tls_ctx_crl_marks(tls, now, CRL_MARKS_MAX);
	if (n_now == 0)
		return;
	crl_mark_path(database, path, sizeof(path));
	/* Every CA's kept: one the network moves back to is held to its
	 * own. */
	size_t n = crl_marks_read(path, marks, CRL_MARKS_MAX);
	if (!crl_marks_merge(marks, &n, 2 * CRL_MARKS_MAX, now, n_now))
		return;
	/* A line each: 64 hex digits, a number of at most 19. */
	char text[2 * CRL_MARKS_MAX * 88];
	size_t len = 0;
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
					"%s %lld\n", marks[i].key,
					(long long)marks[i].number);
	/* On disk before it is in place: after a crash, the old file or
	 * the new, never an empty one that checks nothing. */
	if (write_whole(path, text, len, true) == 0)
		return;
	char q[2 * CONFIG_MAX_PATH];
	log_warn("cannot keep the CRL's number",
		 "file=%s reason=\"%s\" detail=\"an older CRL put back will "
		 "not be refused at the next start\"",
		 log_quote(q, sizeof(q), path), strerror(errno));
}

static void start_reload(struct server *s);

/* SIGHUP: re-read the config's organisations, the registry, the
 * certificates and the CRL on a worker thread. */
struct reload_result {
	struct server_config cfg;
	struct registry registry;
	SSL_CTX *tls;
	int rv;
	char err[512];
	/* The database the file names, which cfg.database stands in for
	 * while the reload runs (see reload_work). */
	char file_database[CONFIG_MAX_PATH];
};

static void reload_work(uv_work_t *w)
{
	struct server *s = w->data;
	struct reload_result *r = ipsnet_calloc(1, sizeof(*r));
	w->data = r;
	if (r == NULL)
		return;
	r->rv = 0;
	config_defaults(&r->cfg);
	if (s->config_path != NULL)
		r->rv = config_load(&r->cfg, s->config_path, r->err,
				    sizeof(r->err));
	/* The database is a setting that waits for the next start: the
	 * registry goes into the one served, and is read back from it. */
	memcpy(r->file_database, r->cfg.database, sizeof(r->file_database));
	memcpy(r->cfg.database, s->cfg.database, sizeof(r->cfg.database));
	/* Every file is checked before the registry is written: a reload
	 * that fails keeps the previous registry in the database, where the
	 * next start reads it, as well as in memory. */
	if (r->rv == 0) {
		struct tls_ctx_opts o = {
		    .server = true,
		    .ca = r->cfg.ca,
		    .cert = r->cfg.cert,
		    .key = r->cfg.key,
		    .crl = r->cfg.crl,
		    .min_version = s->cfg.tls_min_version,
		};
		r->rv = tls_ctx_new(&r->tls, &o, r->err, sizeof(r->err));
	}
	/* No CRL behind one in use or served before (another CA in between,
	 * or none). s->tls changes only in reload_done, which waits for
	 * this. */
	if (r->rv == 0)
		r->rv = server__crl_check(s->cfg.database, s->tls, r->tls,
					  r->cfg.crl, r->err, sizeof(r->err));
	if (r->rv == 0)
		r->rv = store_init(&r->cfg, r->err, sizeof(r->err));
	if (r->rv == 0)
		r->rv = store_load_registry(r->cfg.database, &r->registry,
					    r->err, sizeof(r->err));
	if (r->rv == 0)
		server__crl_note(s->cfg.database, r->tls);
	if (r->rv != 0 && r->tls != NULL) {
		SSL_CTX_free(r->tls);
		r->tls = NULL;
	}
}

/* The settings a reload does not apply: they shape what is already
 * running (the listener, the journal, the limits of open connections, the
 * threads, the reports' rules). Names those that changed in the file, into
 * out. (listen only when --listen did not set it over the file; log_level
 * is reloaded unless --log-level set it, and reload_done says which.) */
static void changed_at_restart(const struct server_config *now,
			       const struct server_config *file,
			       bool listen_given, char *out, size_t cap)
{
	size_t n = 0;
	out[0] = '\0';
#define CHANGED(field, name)                                                  \
	if (memcmp(&now->field, &file->field, sizeof(now->field)) != 0 &&     \
	    n < cap)                                                          \
		n += (size_t)snprintf(out + n, cap - n, "%s%s", n ? "," : "", \
				      name);
	if (!listen_given && strcmp(now->listen, file->listen) != 0)
		n += (size_t)snprintf(out, cap, "listen");
	CHANGED(database, "database")
	CHANGED(tls_min_version, "tls_min_version")
	CHANGED(max_connections, "max_connections")
	CHANGED(max_connections_per_organisation,
		"max_connections_per_organisation")
	CHANGED(max_frame_bytes, "max_frame_bytes")
	CHANGED(handshake_timeout_ms, "handshake_timeout_ms")
	CHANGED(idle_timeout_ms, "idle_timeout_ms")
	CHANGED(max_inflight, "max_inflight")
	CHANGED(send_buffer_bytes, "send_buffer_bytes")
	CHANGED(delivery_threads, "delivery_threads")
	CHANGED(report, "report")
#undef CHANGED
}

static void reload_done(uv_work_t *w, int status)
{
	struct server *s = container_of(w, struct server, reload_work);
	struct reload_result *r = w->data;
	s->reloading = false;
	if (r == NULL || status != 0) {
		const char *why = r == NULL ? "out of memory" : "cancelled";
		log_error("reload failed", "reason=\"%s\"", why);
		say_reload(s, "failed", "%s; the previous settings are kept",
			   why);
	} else if (r->rv != 0) {
		char why[600];
		log_error("reload failed", "reason=%s kept=previous",
			  log_quote(why, sizeof(why), r->err));
		say_reload(s, "failed", "%s; the previous settings are kept",
			   r->err);
	} else {
		bool cas_changed = !tls_ctx_same_cas(s->tls, r->tls);
		SSL_CTX_free(s->tls);
		s->tls = r->tls;
		char diff[512];
		registry_diff(&s->registry, &r->registry, diff, sizeof(diff));
		registry_free(&s->registry);
		s->registry = r->registry;
		/* The files now in use are the new config's. */
		memcpy(s->cfg.ca, r->cfg.ca, sizeof(s->cfg.ca));
		memcpy(s->cfg.cert, r->cfg.cert, sizeof(s->cfg.cert));
		memcpy(s->cfg.key, r->cfg.key, sizeof(s->cfg.key));
		memcpy(s->cfg.crl, r->cfg.crl, sizeof(s->cfg.crl));
		char crl[2 * CONFIG_MAX_PATH];
		/* The file's log level, unless --log-level set it: the level
		 * in force is named when it changes, at the more telling of
		 * the two (one raised to warn, or lowered from warn to info,
		 * still shows that it was taken). */
		enum log_level level = LOG_INFO, file_level = LOG_INFO;
		bool level_changed =
		    log_level_parse(s->cfg.log_level, &level) == 0 &&
		    log_level_parse(r->cfg.log_level, &file_level) == 0 &&
		    file_level != level;
		const char *new_level = level_changed && !s->log_level_given
					    ? r->cfg.log_level
					    : NULL;
		bool louder = new_level != NULL && file_level < level;
		if (louder)
			log_set_level(file_level);
		log_info("reloaded", "organisations=%zu %s%scrl=%s%s%s",
			 s->registry.n, diff, diff[0] != '\0' ? " " : "",
			 s->cfg.crl[0] ? log_quote(crl, sizeof(crl), s->cfg.crl)
				       : "-",
			 new_level != NULL ? " log_level=" : "",
			 new_level != NULL ? new_level : "");
		if (new_level != NULL) {
			if (!louder)
				log_set_level(file_level);
			memcpy(s->cfg.log_level, new_level,
			       sizeof(s->cfg.log_level));
		} else if (level_changed) {
			log_warn("log level not reloaded",
				 "log_level=%s file=%s detail=\"--log-level "
				 "decides until ipsnetd starts again\"",
				 s->cfg.log_level, r->cfg.log_level);
		}
		char later[256];
		memcpy(r->cfg.database, r->file_database,
		       sizeof(r->cfg.database));
		changed_at_restart(&s->cfg, &r->cfg, s->listen_given, later,
				   sizeof(later));
		if (later[0] != '\0')
			log_warn("settings not reloaded",
				 "changed=%s detail=\"they take effect when "
				 "ipsnetd starts again\"",
				 later);
		say_reload(s, "ok", "organisations=%zu%s%s%s%s%s%s%s",
			   s->registry.n, diff[0] != '\0' ? " " : "", diff,
			   new_level != NULL ? " log_level=" : "",
			   new_level != NULL ? new_level : "",
			   later[0] != '\0' ? "; changed, for the next start: "
					    : "",
			   later,
			   level_changed && new_level == NULL
			       ? "; log_level kept (--log-level)"
			       : "");
		server__warn_if_others_read(s->cfg.key);
		if (s->cfg.crl[0] == '\0')
			log_warn("no CRL configured",
				 "detail=\"revoked certificates are not "
				 "refused\"");
		/* New files: their end is said again. */
		s->cert_days_said = s->crl_days_said = NOT_SAID;
		check_expiry(s);
		/* An organisation taken out of the registry, or a certificate
		 * the new CRL revokes, loses its open connections at once; so
		 * does one whose kind changed, as its connections act with
		 * the kind they were given at Hello. */
		struct conn *next;
		for (struct conn *c = s->conns; c != NULL; c = next) {
			next = c->next;
			if (c->state != CONN_SERVING)
				continue;
			const struct org_config *org =
			    registry_find(&s->registry, c->org.id);
			if (org == NULL) {
				conn__refuse(c, 0, IPSNET_EUNAUTHENTICATED,
					     "the organisation was removed "
					     "from the registry",
					     "revoked");
			} else if (org->kind != c->org.kind) {
				conn__refuse(c, 0, IPSNET_EUNAUTHENTICATED,
					     "the organisation's kind changed "
					     "in the registry; connect again",
					     "revoked");
			} else if (tls_cert_revoked(
				       s->tls, SSL_get0_peer_certificate(
						   c->stream.ssl))) {
				conn__send_error(c, 0, IPSNET_EUNAUTHENTICATED,
						 "your certificate was revoked");
				conn__close(c, IPSNET_EUNAUTHENTICATED,
					    "the certificate was revoked",
					    "revoked");
			} else if (cas_changed &&
				   !tls_peer_trusted(s->tls, c->stream.ssl)) {
				conn__refuse(c, 0, IPSNET_EUNAUTHENTICATED,
					     CERT_NOT_TRUSTED_NOW, "untrusted");
			}
		}
	}
	if (r != NULL)
		config_free(&r->cfg);
	ipsnet_free(r);
	if (s->reload_again && s->stopping) {
		log_info("reload ignored",
			 "signal=SIGHUP reason=\"the daemon is stopping\" "
			 "detail=\"the reload queued does not run\"");
		s->reload_began_us = util_mono_us();
		say_reload(s, "ignored", "the daemon is stopping");
	} else if (s->reload_again) {
		s->reload_again = false;
		start_reload(s);
	}
	maybe_finish(s);
}

static void start_reload(struct server *s)
{
	log_info("reloading", "signal=SIGHUP");
	s->reloading = true;
	s->reload_began_us = util_mono_us();
	s->reload_work.data = s;
	if (uv_queue_work(s->loop, &s->reload_work, reload_work, reload_done) !=
	    0) {
		s->reloading = false;
		log_error("reload failed", "reason=\"cannot queue\"");
		say_reload(s, "failed",
			   "the reload could not be started; the previous "
			   "settings are kept");
	}
}

static void on_signal(struct server *s, int signum)
{
	if (signum == SIGHUP) {
		if (s->stopping) {
			log_info("reload ignored",
				 "signal=SIGHUP reason=\"the daemon is "
				 "stopping\"");
			s->reload_began_us = util_mono_us();
			say_reload(s, "ignored", "the daemon is stopping");
			return;
		}
		if (s->reloading) {
			/* The running reload may have read the files before
			 * they changed: another one follows it. */
			if (!s->reload_again)
				log_info("reload queued",
					 "signal=SIGHUP detail=\"a reload is "
					 "running; another follows it\"");
			s->reload_again = true;
			return;
		}
		start_reload(s);
		return;
	}
	log_info("signal received", "signal=%s",
		 signum == SIGTERM ? "SIGTERM" : "SIGINT");
	server__stop(s);
}

/* The signals come as reads of a signalfd, not to a handler: held in every
 * thread from the start of serve (main.c), one sent before the loop runs
 * waits in the kernel and is read at its first turn, and no handler
 * interrupts any thread, the sanitizers' runtimes included. */
static void on_signal_readable(uv_poll_t *h, int status, int events)
{
	struct server *s = h->data;
	struct signalfd_siginfo si;
	(void)events;
	if (status < 0) {
		log_error("cannot read signals", "reason=\"%s\"",
			  uv_strerror(status));
		return;
	}
	for (;;) {
		ssize_t n = read(s->sig_fd, &si, sizeof(si));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != (ssize_t)sizeof(si))
			return; /* EAGAIN: all read */
		on_signal(s, (int)si.ssi_signo);
		if (s->sig_fd < 0 || uv_is_closing((uv_handle_t *)h))
			return;
	}
}

static int bind_listener(struct server *s, char *err, size_t errlen)
{
	char host[64];
	int port;
	struct sockaddr_storage addr;

	if (config_split_hostport(s->cfg.listen, host, sizeof(host), &port) !=
	    0) {
		snprintf(err, errlen,
			 "listen address '%s' is not HOST:PORT (127.0.0.1:7443 "
			 "or [::1]:7443)",
			 s->cfg.listen);
		return IPSNET_ECONFIG;
	}
	if (strcmp(host, "localhost") == 0)
		util_strlcpy(host, "127.0.0.1", sizeof(host));
	if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
	    uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
		snprintf(err, errlen,
			 "listen address '%s' must be an IP address",
			 s->cfg.listen);
		return IPSNET_ECONFIG;
	}
	uv_tcp_init(s->loop, &s->listener);
	s->listener.data = s;
	int rv = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&s->listener, 511, on_connection);
	if (rv != 0) {
		snprintf(err, errlen, "cannot listen on %s: %s", s->cfg.listen,
			 uv_strerror(rv));
		uv_close((uv_handle_t *)&s->listener, NULL);
		return IPSNET_EIO;
	}
	int len = sizeof(addr);
	uv_tcp_getsockname(&s->listener, (struct sockaddr *)&addr, &len);
	if (addr.ss_family == AF_INET6) {
		uv_ip6_name((struct sockaddr_in6 *)&addr, host, sizeof(host));
		snprintf(s->listen_addr, sizeof(s->listen_addr), "[%s]:%d",
			 host,
			 ntohs(((struct sockaddr_in6 *)&addr)->sin6_port));
	} else {
		uv_ip4_name((struct sockaddr_in *)&addr, host, sizeof(host));
		snprintf(s->listen_addr, sizeof(s->listen_addr), "%s:%d", host,
			 ntohs(((struct sockaddr_in *)&addr)->sin_port));
	}
	return 0;
}

int server__start(struct server *s, uv_loop_t *loop,
		  const struct server_config *cfg, const char *config_path,
		  SSL_CTX *tls, struct registry *registry,
		  struct journal *journal, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->cfg = *cfg;
	s->config_path = config_path;
	int rv = bind_listener(s, err, errlen);
	if (rv != 0)
		return rv;
	sigset_t signals;
	sigemptyset(&signals);
	sigaddset(&signals, SIGHUP);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGTERM);
	s->sig_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
	if (s->sig_fd < 0 || uv_poll_init(loop, &s->sig_poll, s->sig_fd) != 0) {
		snprintf(err, errlen, "cannot read signals: %s",
			 strerror(errno));
		if (s->sig_fd >= 0)
			close(s->sig_fd);
		uv_close((uv_handle_t *)&s->listener, NULL);
		return IPSNET_EIO;
	}
	if (sync_new(&s->sync, journal, s->cfg.send_buffer_bytes,
		     s->cfg.delivery_threads) != 0) {
		snprintf(err, errlen, "out of memory");
		uv_close((uv_handle_t *)&s->listener, NULL);
		uv_close((uv_handle_t *)&s->sig_poll, NULL);
		close(s->sig_fd);
		return IPSNET_ENOMEM;
	}
	sync_on_idle(s->sync, sync_went_idle, s);
	s->tls = tls;
	s->registry = *registry;
	s->journal = journal;
	uv_timer_init(loop, &s->shutdown_timer);
	uv_timer_init(loop, &s->accept_timer);
	uv_timer_init(loop, &s->expiry_timer);
	refusals_init(s, &s->refused, "connection refused",
		      "connections refused", "too many connections");
	refusals_init(s, &s->dropped, "connection dropped",
		      "connections dropped",
		      "not yet authenticated, for a newer connection");
	s->sig_poll.data = s;
	s->shutdown_timer.data = s->accept_timer.data = s;
	s->expiry_timer.data = s;
	s->open_handles = 6;
	uv_poll_start(&s->sig_poll, UV_READABLE, on_signal_readable);
	log_info("listening",
		 "addr=%s tls_min=1.%d organisations=%zu max_connections=%u "
		 "max_frame_bytes=%u",
		 s->listen_addr, s->cfg.tls_min_version % 10, s->registry.n,
		 s->cfg.max_connections, s->cfg.max_frame_bytes);
	s->cert_days_said = s->crl_days_said = NOT_SAID;
	check_expiry(s);
	uv_timer_start(&s->expiry_timer, on_expiry_timer, EXPIRY_CHECK_MS,
		       EXPIRY_CHECK_MS);
	say_reload(s, "serving", "no reload since the start");
	return 0;
}
