/* ipsnet sync --mirror FILE, ipsnet watch: a subscription on the command's
 * own libuv loop (libipsnet's asynchronous API), which stops cleanly on
 * SIGINT or SIGTERM and, when following, comes back after the connection
 * drops, resuming from the last seq it handled (docs/sync.md). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uv.h>

#include "cli.h"
#include "format.h"
#include "ipsnet.h"
#include "mirror.h"
#include "util.h"
#include "validate.h"

/* A mirror transaction holds at most this many events, or this much time. */
#define BATCH_EVENTS 1000
#define BATCH_MS 100
/* Reconnecting: the first wait, doubled after each failed try up to the
 * last. */
#define RETRY_FIRST_MS 250
#define RETRY_MAX_MS 30000
/* A Ping this often keeps a quiet subscription from the daemon's idle
 * timeout (300 s by default). */
#define KEEPALIVE_MS 60000
#define TICK_MS 100

static const char *const kind_names[] = {
    "client", "consent", "trajectory",	    "funding",
    "job",    "program", "fidelity_review",
};
#define N_KINDS ARRAY_SIZE(kind_names)

struct follow;

/* on_event handled the event, but it is none of the command's (a kind it
 * asked for only to know what else to fetch): the cursor moves, the count
 * of events does not. */
#define FOLLOW_UNCOUNTED 1

/* What a command does with the stream. Each returns 0, or an error code
 * after printing why (the command stops with its exit code). */
struct follow_ops {
	int (*on_hello)(struct follow *f, const Ipsnet__V1__HelloOk *hello);
	/* ... or FOLLOW_UNCOUNTED */
	int (*on_event)(struct follow *f, const Ipsnet__V1__Event *ev);
	int (*on_caught_up)(struct follow *f, uint64_t seq);
	int (*flush)(struct follow *f);
	/* Optional: requests of its own are still out; a run that stops at
	 * CaughtUp waits for them. */
	bool (*busy)(struct follow *f);
	/* Optional: an entry (seq, hash) the server's journal must hold
	 * before anything is read; true while one is to be checked. It is
	 * checked on a connection of its own, which then closes: the
	 * subscription follows on the next one. */
	bool (*check)(struct follow *f, uint64_t *seq, const uint8_t **hash);
	/* ... the server holds it. 0 or an error code (printed). */
	int (*checked)(struct follow *f);
};

struct follow {
	uv_loop_t loop;
	uv_signal_t sigint, sigterm;
	uv_timer_t tick;  /* batches, the progress bar, keepalive */
	uv_timer_t retry; /* the wait before reconnecting */
	uv_check_t check; /* after each loop turn: flush output */
	struct ipsnet_options opts;
	struct ipsnet_conn *conn;
	const struct follow_ops *ops;
	void *arg;
	const char *kinds[N_KINDS];
	size_t n_kinds;

	uint64_t cursor; /* the last seq handled */
	uint8_t cursor_hash[IPSNET_HASH_BYTES]; /* its journal entry's */
	bool cursor_hash_known;			/* resubscribing checks it */
	bool from_head;	 /* not yet subscribed: start at the journal head */
	bool follow;	 /* go on after CaughtUp, and reconnect */
	bool subscribed;
	bool caught_up; /* the first catch-up is done */
	bool stopping;
	bool stop_when_idle; /* caught up, not following: stop once !busy */
	int exit_code;
	uint32_t retry_ms;
	/* keepalive: a Ping every keepalive_ms while connected; one still
	 * unanswered when the next is due ends the connection */
	uint32_t keepalive_ms;
	uint64_t last_ping_us;
	bool ping_out;	/* a Ping of this connection is unanswered */
	bool ping_lost; /* ... and closed the connection for that */
	bool said_retry; /* "trying again" was said: say when it worked */
	bool checking;	 /* this connection checks ops->check's entry */
	bool reconnect;	 /* ... and has, or follow_restart: connect again at
			    once */
	bool restart;	 /* follow_restart was called by on_event */
	uint64_t restart_at; /* ... with this cursor */

	/* progress */
	bool progress; /* stderr is a terminal and we draw a bar */
	bool bar_drawn;
	uint64_t run_events; /* events handled by this run */
	uint64_t sub_start_seq, sub_head_seq, sub_start_us, sub_events;
};

static void follow_connect(struct follow *f);
static const struct follow_ops watch_ops;

static void close_handles(struct follow *f)
{
	uv_handle_t *hs[] = {
	    (uv_handle_t *)&f->sigint, (uv_handle_t *)&f->sigterm,
	    (uv_handle_t *)&f->tick,   (uv_handle_t *)&f->retry,
	    (uv_handle_t *)&f->check,
	};
	/* The run ends: what is left is closing the mirror and the last line.
	 * Closing the signal handles gives SIGINT and SIGTERM their default
	 * action back, and one more (Ctrl-C pressed twice, a supervisor that
	 * signals the process and its group) would kill the process there:
	 * exit 130 or 143, the last line lost. So they are blocked before the
	 * handles close (one that came just before is still libuv's, and does
	 * nothing, as while the connection closes), and ignored after. */
	sigset_t stop;
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &stop, NULL);
	for (size_t i = 0; i < ARRAY_SIZE(hs); i++)
		if (!uv_is_closing(hs[i]))
			uv_close(hs[i], NULL);
	signal(SIGINT, SIG_IGN);
	signal(SIGTERM, SIG_IGN);
}

static void clear_bar(struct follow *f)
{
	if (f->bar_drawn) {
		fputs("\r\033[K", stderr);
		fflush(stderr);
		f->bar_drawn = false;
	}
}

/* Ends the run with code: closes the connection (on_closed finishes) or,
 * without one, the handles. */
static void stop(struct follow *f, int code)
{
	if (!f->stopping) {
		f->stopping = true;
		f->exit_code = code;
	}
	clear_bar(f);
	if (f->conn != NULL)
		ipsnet_close(f->conn);
	else
		close_handles(f);
}

/* Prints "ipsnet: ..." and stops with the exit code of err. */
static void fail(struct follow *f, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void fail(struct follow *f, int err, const char *fmt, ...)
{
	va_list ap;
	clear_bar(f);
	fputs("ipsnet: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	stop(f, cli_exit_code(err));
}

/* ---- progress ---------------------------------------------------------- */

static void draw_bar(struct follow *f)
{
	uint64_t span = f->sub_head_seq - f->sub_start_seq;
	/* How far the server read: past the last event where there are few
	 * for this organisation. */
	uint64_t at = f->conn != NULL ? ipsnet_subscription_read(f->conn) : 0;
	if (at < f->cursor)
		at = f->cursor;
	uint64_t done = at > f->sub_start_seq ? at - f->sub_start_seq : 0;
	if (span == 0)
		return;
	if (done > span)
		done = span;
	double secs = (double)(util_mono_us() - f->sub_start_us) / 1e6;
	double rate = secs > 0 ? (double)done / secs : 0;
	char events[32], seq[32], head[32], per_s[32], left[32];
	util_thousands(events, sizeof(events), f->sub_events);
	util_thousands(seq, sizeof(seq), at);
	util_thousands(head, sizeof(head), f->sub_head_seq);
	util_thousands(per_s, sizeof(per_s), (uint64_t)(rate + 0.5));
	if (rate > 0) {
		uint64_t s = (uint64_t)((double)(span - done) / rate + 0.5);
		snprintf(left, sizeof(left), "%" PRIu64 ":%02" PRIu64 " left",
			 s / 60, s % 60);
	} else {
		snprintf(left, sizeof(left), "-:-- left");
	}
	char bar[21];
	size_t full = (size_t)(20 * done / span);
	for (size_t i = 0; i < 20; i++)
		bar[i] = i < full ? '#' : '.';
	bar[20] = '\0';
	fprintf(stderr,
		"\rcatching up [%s] %3u%%  seq %s of %s  %s events  "
		"%s entries/s  %s\033[K",
		bar, (unsigned)(100 * done / span), seq, head, events, per_s,
		left);
	fflush(stderr);
	f->bar_drawn = true;
}

/* ---- the subscription -------------------------------------------------- */

/* A run that stops at CaughtUp stops once its own requests are answered. */
static void follow_idle(struct follow *f)
{
	if (f->stop_when_idle && !f->stopping &&
	    (f->ops->busy == NULL || !f->ops->busy(f)))
		stop(f, 0);
}

/* The hash of the entry at the cursor, from the event or CaughtUp that
 * moved it there. */
static void note_hash(struct follow *f, const struct ipsnet_conn *c)
{
	const uint8_t *h = ipsnet_subscription_hash(c);
	f->cursor_hash_known = h != NULL;
	if (h != NULL)
		memcpy(f->cursor_hash, h, IPSNET_HASH_BYTES);
}

/* Called by ops->on_event: once the event is handled, the subscription
 * goes on from cursor on a new connection, at once (the command has
 * recorded it there: a refill reads from 0). */
static void follow_restart(struct follow *f, uint64_t cursor)
{
	f->restart = true;
	f->restart_at = cursor;
}

static void on_event(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
		     void *arg)
{
	struct follow *f = arg;
	int rv;
	if (f->stopping || c != f->conn || f->reconnect)
		return;
	if (ev->seq <= f->cursor)
		return; /* never twice (the server promises it; we keep it) */
	if ((rv = f->ops->on_event(f, ev)) < 0) {
		stop(f, cli_exit_code(rv));
		return;
	}
	f->cursor = ev->seq;
	note_hash(f, c);
	if (rv != FOLLOW_UNCOUNTED) {
		f->run_events++;
		f->sub_events++;
	}
	if (f->restart) {
		f->restart = false;
		f->cursor = f->restart_at;
		f->cursor_hash_known = false;
		/* A run that stops at CaughtUp waits for the new
		 * connection's. */
		f->stop_when_idle = false;
		f->reconnect = true;
		clear_bar(f);
		ipsnet_close(c);
	}
}

static void on_caught_up(struct ipsnet_conn *c, uint64_t seq, void *arg)
{
	struct follow *f = arg;
	int rv;
	if (f->stopping || c != f->conn || f->reconnect)
		return;
	clear_bar(f);
	if (seq >= f->cursor) {
		f->cursor = seq;
		note_hash(f, c);
	}
	if ((rv = f->ops->on_caught_up(f, seq)) != 0) {
		stop(f, cli_exit_code(rv));
		return;
	}
	f->caught_up = true;
	if (!f->follow) {
		f->stop_when_idle = true;
		follow_idle(f);
	}
}

static const struct ipsnet_subscription_callbacks sub_callbacks = {
    .on_event = on_event,
    .on_caught_up = on_caught_up,
};

static void on_subscribed(struct ipsnet_conn *c, int status,
			  const char *message, const Ipsnet__V1__Envelope *resp,
			  void *arg)
{
	struct follow *f = arg;
	if (f->stopping || c != f->conn)
		return;
	if (status != 0) {
		if (status != IPSNET_ECLOSED) /* else on_closed says it */
			fail(f, status,
			     "the server refused the subscription: %s",
			     message);
		return;
	}
	uint64_t head = resp->subscribed->head_seq;
	if (head < f->cursor && f->ops == &watch_ops) {
		/* Its seq is the one the user gave (or its last line's): no
		 * file was made from another journal. */
		fail(f, IPSNET_EPRECONDITION,
		     "seq %" PRIu64 " is past the end of the server's journal "
		     "(seq %" PRIu64 "): watch from a seq up to %" PRIu64
		     ", or without --since; a journal that went back was "
		     "restored from a backup, or this is another server",
		     f->cursor, head, head);
		return;
	}
	if (head < f->cursor) {
		/* Only a mirror comes here (a watch is told above). */
		fail(
		    f, IPSNET_EPRECONDITION,
		    "the mirror is at seq %" PRIu64 " but the server's journal "
		    "ends at seq %" PRIu64 ": it was made from another journal "
		    "(the server's was restored from a backup since, or this "
		    "is another server); start again from seq 0 with a new "
		    "mirror file",
		    f->cursor, head);
		return;
	}
	f->subscribed = true;
	f->retry_ms = RETRY_FIRST_MS;
	if (f->said_retry) {
		clear_bar(f);
		fprintf(stderr,
			"ipsnet: connected again; going on from seq %" PRIu64
			"\n",
			f->cursor);
		f->said_retry = false;
	}
	f->sub_start_seq = f->cursor;
	f->sub_head_seq = head;
	f->sub_start_us = util_mono_us();
	f->sub_events = 0;
}

/* The server's entry at ops->check's seq is the one: the journal is the
 * mirror's. The next connection subscribes. */
static void check_passed(struct follow *f, struct ipsnet_conn *c)
{
	int rv;
	if (f->stopping || c != f->conn || !f->checking)
		return;
	f->checking = false;
	if ((rv = f->ops->checked(f)) != 0) {
		stop(f, cli_exit_code(rv));
		return;
	}
	f->reconnect = true;
	ipsnet_close(c);
}

static void on_check_event(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
			   void *arg)
{
	check_passed(arg, c);
}

static void on_check_caught_up(struct ipsnet_conn *c, uint64_t seq, void *arg)
{
	check_passed(arg, c);
}

static const struct ipsnet_subscription_callbacks check_callbacks = {
    .on_event = on_check_event,
    .on_caught_up = on_check_caught_up,
};

static void on_check_subscribed(struct ipsnet_conn *c, int status,
				const char *message,
				const Ipsnet__V1__Envelope *resp, void *arg)
{
	struct follow *f = arg;
	if (f->stopping || c != f->conn)
		return;
	if (status != 0 && status != IPSNET_ECLOSED) /* else on_closed */
		fail(f, status, "the server refused the subscription: %s",
		     message);
}

static void on_ready(struct ipsnet_conn *c, int status, const char *message,
		     void *arg)
{
	struct follow *f = arg;
	if (status != 0 || f->stopping)
		return; /* on_closed follows */
	uint64_t check_seq;
	const uint8_t *check_hash;
	int rv;
	f->ping_out = false;
	f->last_ping_us = util_mono_us();
	/* Before anything else is asked: the server says as the Subscribe
	 * comes, or before its first event or CaughtUp. A network error
	 * meanwhile is one like any other (on_closed). */
	if (f->ops->check != NULL &&
	    f->ops->check(f, &check_seq, &check_hash)) {
		f->checking = true;
		rv = ipsnet_subscribe_from(c, check_seq, check_hash, f->kinds,
					   f->n_kinds, &check_callbacks, f,
					   on_check_subscribed, f);
		if (rv != 0)
			fail(f, rv, "cannot subscribe: %s",
			     ipsnet_strerror(rv));
		return;
	}
	const Ipsnet__V1__HelloOk *hello = ipsnet_conn_hello(c);
	rv = f->ops->on_hello != NULL ? f->ops->on_hello(f, hello) : 0;
	if (rv != 0) {
		stop(f, cli_exit_code(rv));
		return;
	}
	if (f->from_head) {
		f->cursor = hello->journal_seq;
		f->cursor_hash_known =
		    hello->journal_hash.len == IPSNET_HASH_BYTES;
		if (f->cursor_hash_known)
			memcpy(f->cursor_hash, hello->journal_hash.data,
			       IPSNET_HASH_BYTES);
		f->from_head = false;
	}
	rv = ipsnet_subscribe_from(
	    c, f->cursor, f->cursor_hash_known ? f->cursor_hash : NULL,
	    f->kinds, f->n_kinds, &sub_callbacks, f, on_subscribed, f);
	if (rv != 0)
		fail(f, rv, "cannot subscribe: %s", ipsnet_strerror(rv));
}

/* Worth another try: the server or the network went away, not a refusal
 * that would come again. */
static bool transient(int status)
{
	int code = ipsnet_err_status(status);
	return code == IPSNET__V1__CODE__UNAVAILABLE ||
	       code == IPSNET__V1__CODE__DEADLINE_EXCEEDED;
}

static void on_retry(uv_timer_t *t)
{
	struct follow *f = container_of(t, struct follow, retry);
	if (!f->stopping)
		follow_connect(f);
}

static void on_closed(struct ipsnet_conn *c, int status, const char *message,
		      void *arg)
{
	struct follow *f = arg;
	char why[96];
	f->conn = NULL;
	f->subscribed = false;
	f->ping_out = false;
	f->checking = false;
	if (f->ping_lost) {
		f->ping_lost = false;
		snprintf(why, sizeof(why),
			 "the server did not answer a ping within %u s",
			 (unsigned)(f->keepalive_ms / 1000));
		status = IPSNET_ETIMEOUT;
		message = why;
	}
	clear_bar(f);
	int rv = f->ops->flush(f);
	if (rv != 0 && !f->stopping) {
		f->stopping = true;
		f->exit_code = cli_exit_code(rv);
	}
	if (f->stopping) {
		close_handles(f);
		return;
	}
	if (f->reconnect) {
		/* Closed after the check (now the subscription), or by
		 * follow_restart. */
		f->reconnect = false;
		uv_timer_start(&f->retry, on_retry, 0, 0);
		return;
	}
	if (status == 0)
		status = IPSNET_ECLOSED;
	/* IPSNET_EBUSY: the server's RESOURCE_EXHAUSTED, e.g. a Hello
	 * refused while the organisation has as many connections open as it
	 * may ("close one and try again"); not IPSNET_EFRAME_TOO_LARGE or
	 * our own IPSNET_ENOMEM, which would come again. */
	if (!f->follow || !(transient(status) || status == IPSNET_EBUSY)) {
		fail(f, status, "%s",
		     message != NULL && message[0] != '\0'
			 ? message
			 : ipsnet_strerror(status));
		return;
	}
	fprintf(stderr,
		"ipsnet: %s; trying again in %.1f s (from seq %" PRIu64 ")\n",
		message != NULL && message[0] != '\0' ? message
						      : ipsnet_strerror(status),
		f->retry_ms / 1000.0, f->cursor);
	f->said_retry = true;
	uv_timer_start(&f->retry, on_retry, f->retry_ms, 0);
	f->retry_ms =
	    f->retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : f->retry_ms * 2;
}

static const struct ipsnet_callbacks conn_callbacks = {
    .on_ready = on_ready,
    .on_closed = on_closed,
};

static void follow_connect(struct follow *f)
{
	char err[512];
	int rv = ipsnet_connect(&f->loop, &f->opts, &conn_callbacks, f,
				&f->conn, err, sizeof(err));
	if (rv != 0) {
		f->conn = NULL;
		fail(f, rv, "%s", err);
	}
}

static void on_ping(struct ipsnet_conn *c, int status, const char *message,
		    const Ipsnet__V1__Envelope *resp, void *arg)
{
	/* Only its coming matters: the server is there. */
	struct follow *f = arg;
	if (c == f->conn && resp != NULL)
		f->ping_out = false;
}

static void on_tick(uv_timer_t *t)
{
	struct follow *f = container_of(t, struct follow, tick);
	if (f->stopping)
		return;
	int rv = f->ops->flush(f);
	if (rv != 0) {
		stop(f, cli_exit_code(rv));
		return;
	}
	if (f->progress && f->subscribed && !f->caught_up)
		draw_bar(f);
	uint64_t now = util_mono_us();
	/* Connected, its Hello answered (ipsnet_conn_hello: until on_closed).
	 */
	bool ready = f->conn != NULL && ipsnet_conn_hello(f->conn) != NULL;
	if (ready && now - f->last_ping_us >= f->keepalive_ms * 1000ULL) {
		if (f->ping_out) {
			/* A server that stopped, or a connection dropped on
			 * the way without a word: TCP alone would wait for
			 * ever, or a quarter of an hour. */
			f->ping_lost = true;
			ipsnet_close(f->conn);
			return;
		}
		Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
		ping.client_time_us = util_now_us();
		req.body_case = IPSNET__V1__ENVELOPE__BODY_PING;
		req.ping = &ping;
		f->last_ping_us = now;
		f->ping_out = ipsnet_request(f->conn, &req, on_ping, f) == 0;
	}
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct follow *f = h->data;
	if (!f->follow && !f->stopping) {
		/* A run that was to catch up and stop did not: a script must
		 * not take it for done. The mirror keeps what was committed,
		 * and the next run goes on from there. */
		clear_bar(f);
		fprintf(stderr,
			"ipsnet: stopped by %s before it was done, at seq "
			"%" PRIu64 "; run it again to go on\n",
			signum == SIGINT ? "SIGINT" : "SIGTERM", f->cursor);
		stop(f, 1);
		return;
	}
	stop(f, f->stopping ? f->exit_code : 0);
}

/* Standard output could not be written (why: the errno of the write that
 * failed): a reader that went (EPIPE, `ipsnet watch | head -1`) ends the
 * run quietly with 0, as tail -f does; anything else (a full disk) is
 * said once, exit 1. The error flag is cleared, so that main does not say
 * it a second time. */
static void output_failed(struct follow *f, int why)
{
	clearerr(stdout);
	if (f->stopping)
		return;
	if (why != EPIPE) {
		clear_bar(f);
		fprintf(stderr, "ipsnet: cannot write the output: %s\n",
			strerror(why));
	}
	stop(f, why == EPIPE ? 0 : 1);
}

static void on_check(uv_check_t *h)
{
	struct follow *f = container_of(h, struct follow, check);
	if (f->ops == NULL)
		return;
	/* Output goes out once per loop turn, not once per event. */
	if (fflush(stdout) != 0)
		output_failed(f, errno);
}

/* Runs the subscription until it stops; returns the exit code. */
static int follow_run(struct follow *f)
{
	if (uv_loop_init(&f->loop) != 0)
		return cli_fail(IPSNET_EINTERNAL, "cannot start an event loop");
	uv_signal_init(&f->loop, &f->sigint);
	uv_signal_init(&f->loop, &f->sigterm);
	f->sigint.data = f->sigterm.data = f;
	uv_signal_start(&f->sigint, on_signal, SIGINT);
	uv_signal_start(&f->sigterm, on_signal, SIGTERM);
	uv_timer_init(&f->loop, &f->tick);
	uv_timer_init(&f->loop, &f->retry);
	uv_timer_start(&f->tick, on_tick, TICK_MS, TICK_MS);
	uv_check_init(&f->loop, &f->check);
	uv_check_start(&f->check, on_check);
	f->retry_ms = RETRY_FIRST_MS;
	follow_connect(f);
	uv_run(&f->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&f->loop) != 0)
		fprintf(stderr, "ipsnet: the event loop did not end cleanly\n");
	return f->exit_code;
}

/* --keepalive S: 0 or the exit code (printed). */
static int keepalive_option(struct follow *f, const char *s)
{
	unsigned long secs;
	int rv = cli_uint("--keepalive", s, 1, 3600, &secs);
	if (rv == 0)
		f->keepalive_ms = (uint32_t)secs * 1000;
	return rv;
}

/* Fills f->opts from the command's settings; 0 or the exit code. */
static int follow_options(struct follow *f, struct cli *cli)
{
	int rv = cli_settings(cli);
	if (rv != 0)
		return rv;
	f->opts = cli_options(cli);
	if (f->keepalive_ms == 0)
		f->keepalive_ms = KEEPALIVE_MS;
	f->opts.timeout_ms = cli->timeout_ms;
	f->opts.software = "ipsnet/" IPSNET_VERSION;
	if (f->opts.ca == NULL)
		return cli_fail(IPSNET_EUSAGE,
				"no network CA: give --ca FILE, IPSNET_CA or "
				"--profile NAME");
	/* A write to a connection the server dropped must fail, not end the
	 * process: the connection is then made again. */
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

/* Parses "client,program" into f->kinds (in the table's order, each once)
 * and, when canon is not NULL, the same as one sorted string. 0 or the exit
 * code. */
static int parse_kinds(struct follow *f, const char *list, char *canon,
		       size_t cap)
{
	bool want[N_KINDS] = {0};
	const char *p = list;
	while (*p != '\0') {
		size_t n = strcspn(p, ",");
		size_t k = 0;
		while (k < N_KINDS && (strlen(kind_names[k]) != n ||
				       strncmp(kind_names[k], p, n) != 0))
			k++;
		if (k == N_KINDS)
			return cli_fail(IPSNET_EUSAGE,
					"--kinds: unknown kind '%.*s' (client, "
					"consent, trajectory, funding, job, "
					"program, fidelity_review)",
					(int)n, p);
		want[k] = true;
		p += n;
		if (*p == ',')
			p++;
	}
	f->n_kinds = 0;
	for (size_t k = 0; k < N_KINDS; k++)
		if (want[k])
			f->kinds[f->n_kinds++] = kind_names[k];
	if (f->n_kinds == 0)
		return cli_fail(IPSNET_EUSAGE, "--kinds names no kind");
	if (canon != NULL) {
		/* The table is in alphabetical order but for two: sort. */
		const char *sorted[N_KINDS];
		memcpy(sorted, f->kinds, f->n_kinds * sizeof(sorted[0]));
		for (size_t i = 1; i < f->n_kinds; i++)
			for (size_t j = i;
			     j > 0 && strcmp(sorted[j - 1], sorted[j]) > 0;
			     j--) {
				const char *t = sorted[j];
				sorted[j] = sorted[j - 1];
				sorted[j - 1] = t;
			}
		canon[0] = '\0';
		for (size_t i = 0; i < f->n_kinds; i++) {
			if (i > 0)
				strncat(canon, ",", cap - strlen(canon) - 1);
			strncat(canon, sorted[i], cap - strlen(canon) - 1);
		}
	}
	return 0;
}

/* ---- ipsnet sync ------------------------------------------------------- */

/* The kinds whose events tell the mirror which cases to fetch (backfill)
 * and which programs came to the organisation (handed_over). */
static const char *const case_kinds[] = {
    "client", "consent", "trajectory", "funding", "job", "program",
};

/* When the mirror's kinds (f->kinds) hold any of a client's, adds those
 * of case_kinds to the subscription: a mirror of some kinds must hold
 * what a new one of them holds, and its rows of a client come with a case
 * fetched on events of the others (a funding request, a referral, a
 * consent given again). They are not applied (mirror_apply). Returns
 * whether it did. */
static bool sync_kinds(struct follow *f)
{
	bool want[N_KINDS] = {0}, of_a_client = false;
	for (size_t i = 0; i < f->n_kinds; i++)
		for (size_t k = 0; k < N_KINDS; k++)
			if (strcmp(f->kinds[i], kind_names[k]) == 0) {
				want[k] = true;
				/* all of case_kinds but "program" */
				of_a_client |=
				    strcmp(kind_names[k], "program") != 0 &&
				    strcmp(kind_names[k], "fidelity_review") !=
					0;
			}
	if (!of_a_client)
		return false;
	for (size_t k = 0; k < N_KINDS; k++)
		for (size_t i = 0; i < ARRAY_SIZE(case_kinds); i++)
			if (strcmp(kind_names[k], case_kinds[i]) == 0)
				want[k] = true;
	f->n_kinds = 0;
	for (size_t k = 0; k < N_KINDS; k++)
		if (want[k])
			f->kinds[f->n_kinds++] = kind_names[k];
	return true;
}

static const char sync_usage[] =
    "usage: ipsnet sync --mirror FILE [--follow] [--kinds KIND,...]\n"
    "                   [--keepalive S]\n"
    "Keeps FILE, a local SQLite database, a copy of everything your\n"
    "organisation may see: one table per kind (client, consent,\n"
    "trajectory, funding, job, program, fidelity_review) and table meta\n"
    "with the last journal seq handled. Resumes from that seq; a run that\n"
    "was stopped or killed loses nothing and repeats nothing.\n"
    "\n"
    "  --mirror FILE     the mirror (made when missing)\n"
    "  --follow          after catching up, go on with live changes until\n"
    "                    SIGINT or SIGTERM (exit 0); reconnect when the\n"
    "                    connection drops, waiting up to 30 s between tries\n"
    "  --kinds LIST      only these kinds (comma-separated); a mirror is\n"
    "                    always resumed with the kinds it was made with\n"
    "  --keepalive S     a ping every S seconds (default 60); a server\n"
    "                    that leaves one unanswered for S seconds is\n"
    "                    taken for gone (with --follow: connect again)\n"
    "\n"
    "A progress bar shows on stderr while catching up, when stderr is a\n"
    "terminal. At the end one line (with --json, an object) says where the\n"
    "mirror is. Exit codes as for every command (ipsnet --help); without\n"
    "--follow, SIGINT or SIGTERM before the run caught up gives 1.\n";

/* A client whose case is fetched with ShowCase: events of it arrive, but
 * its mirror row does not exist (its registration was not for us when it
 * was delivered: before the funding request, before the referral to our
 * program). */
struct wanted {
	char id[64];
	bool refused; /* the server was busy: asked again at ask_again_us */
};

/* ShowCase requests in flight at most (the daemon allows 64 a
 * connection). */
#define BACKFILL_INFLIGHT 16
/* Under --follow, a case the server was too busy to give is asked again
 * on the same connection after this wait, doubled after each such
 * refusal up to the most (a connection may last for days). */
#define ASK_AGAIN_FIRST_MS 1000
#define ASK_AGAIN_MAX_MS 60000

struct sync_run {
	struct cli *cli;
	const char *path;
	struct mirror *mirror;
	char kinds[160];
	char organisation[64];
	bool backfill;	       /* the mirror holds a kind of a client's */
	struct wanted *wanted; /* this connection's: asked or to ask */
	size_t n_wanted, cap_wanted, next_wanted;
	unsigned inflight;
	uint64_t backfilled; /* cases fetched */
	size_t n_refused;    /* wanted that the server was too busy for */
	uint64_t ask_again_us; /* when to ask for them again (util_mono_us) */
	uint32_t ask_again_ms; /* the wait after the next refusal */
};

static void backfill_pump(struct follow *f);

/* Drops the cases answered (id "") from the list, keeping the order, once
 * no ask is in flight (asks hold indices into it): a connection that
 * follows for weeks keeps only what it still waits for. */
static void wanted_compact(struct sync_run *s)
{
	if (s->inflight > 0)
		return;
	size_t kept = 0, asked = 0;
	for (size_t i = 0; i < s->n_wanted; i++) {
		if (s->wanted[i].id[0] == '\0')
			continue;
		if (i < s->next_wanted)
			asked++;
		s->wanted[kept++] = s->wanted[i];
	}
	s->n_wanted = kept;
	s->next_wanted = asked;
}

/* The code a failed write or read of the mirror ends the run with: the
 * file's fault, exit 1 (IPSNET_EIO would say the server cannot be
 * reached, exit 3). */
static int mirror_code(int rv)
{
	return rv == IPSNET_EIO ? IPSNET_EINVAL : rv;
}

/* A ShowCase in flight: which wanted client it asks for. */
struct case_ask {
	struct follow *f;
	size_t i; /* in s->wanted */
};

static void on_case(struct ipsnet_conn *c, int status, const char *message,
		    const Ipsnet__V1__Envelope *resp, void *arg)
{
	struct case_ask *ask = arg;
	struct follow *f = ask->f;
	struct sync_run *s = f->arg;
	size_t i = ask->i;
	char err[512];
	int rv;
	free(ask);
	if (s->inflight > 0)
		s->inflight--;
	if (f->stopping || c != f->conn)
		return;
	/* An answer of another kind than CaseView (the library refused
	 * it): the server is not one this command can mirror from. The
	 * client stays in table wanted. */
	if (status == IPSNET_EPROTOCOL && resp == NULL) {
		fail(f, status, "%s", message);
		return;
	}
	/* The connection is gone: the client stays in table wanted and is
	 * asked for again on the next connection. */
	if (resp == NULL)
		return;
	/* The server is busy or going: asked again on a later run, and
	 * under --follow on this connection after a wait (backfill_again).
	 */
	if (status != 0 &&
	    (transient(status) || ipsnet_err_status(status) ==
				      IPSNET__V1__CODE__RESOURCE_EXHAUSTED)) {
		if (f->follow && !s->wanted[i].refused) {
			s->wanted[i].refused = true;
			if (s->n_refused++ == 0)
				s->ask_again_us =
				    util_mono_us() + s->ask_again_ms * 1000ULL;
		}
		follow_idle(f);
		return;
	}
	s->ask_again_ms = ASK_AGAIN_FIRST_MS;
	/* Refused (the consent went meanwhile): nothing to write, and not
	 * to be asked again. */
	if (status != 0 || resp->case_view == NULL)
		rv = 0;
	else if ((rv = mirror_put_case(s->mirror, resp->case_view, err,
				       sizeof(err))) == 0)
		s->backfilled++;
	if (rv == 0)
		rv =
		    mirror_unwant(s->mirror, s->wanted[i].id, err, sizeof(err));
	if (rv != 0) {
		fail(f, mirror_code(rv), "%s: %s", s->path, err);
		return;
	}
	s->wanted[i].id[0] = '\0'; /* answered: a later consent asks again */
	wanted_compact(s);
	backfill_pump(f);
	follow_idle(f);
}

static void backfill_pump(struct follow *f)
{
	struct sync_run *s = f->arg;
	while (s->inflight < BACKFILL_INFLIGHT &&
	       s->next_wanted < s->n_wanted && f->conn != NULL &&
	       !f->stopping) {
		size_t i = s->next_wanted++;
		struct case_ask *ask = malloc(sizeof(*ask));
		if (ask == NULL)
			return; /* asked on the next connection */
		ask->f = f;
		ask->i = i;
		Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__ShowCase m = IPSNET__V1__SHOW_CASE__INIT;
		m.client_id = s->wanted[i].id;
		req.body_case = IPSNET__V1__ENVELOPE__BODY_SHOW_CASE;
		req.show_case = &m;
		if (ipsnet_request(f->conn, &req, on_case, ask) == 0)
			s->inflight++;
		else
			free(ask);
	}
}

/* Adds id to this connection's list of cases to ask for (once). */
static void add_wanted(void *arg, const char *id)
{
	struct sync_run *s = arg;
	if (strlen(id) >= sizeof(s->wanted->id))
		return;
	for (size_t i = s->n_wanted; i-- > 0;)
		if (strcmp(s->wanted[i].id, id) == 0)
			return;
	if (s->n_wanted == s->cap_wanted) {
		size_t cap = s->cap_wanted == 0 ? 64 : s->cap_wanted * 2;
		struct wanted *grown = realloc(s->wanted, cap * sizeof(*grown));
		if (grown == NULL)
			return; /* in table wanted: asked on a later run */
		s->wanted = grown;
		s->cap_wanted = cap;
	}
	struct wanted *w = &s->wanted[s->n_wanted++];
	util_strlcpy(w->id, id, sizeof(w->id));
	w->refused = false;
}

/* Under --follow, the cases the server was too busy to give, once their
 * wait is over: each goes to the end of the list to ask for, and the next
 * refusal waits twice as long. */
static void backfill_again(struct follow *f)
{
	struct sync_run *s = f->arg;
	size_t n = s->n_wanted;
	if (s->n_refused == 0 || util_mono_us() < s->ask_again_us)
		return;
	s->ask_again_ms = s->ask_again_ms * 2 > ASK_AGAIN_MAX_MS
			      ? ASK_AGAIN_MAX_MS
			      : s->ask_again_ms * 2;
	s->n_refused = 0;
	for (size_t i = 0; i < n; i++) {
		if (!s->wanted[i].refused)
			continue;
		char id[sizeof(s->wanted->id)];
		util_strlcpy(id, s->wanted[i].id, sizeof(id));
		s->wanted[i].refused = false;
		s->wanted[i].id[0] = '\0';
		add_wanted(s, id);
	}
	wanted_compact(s);
	backfill_pump(f);
}

/* Asks for the case of the event's client when the mirror lacks its row,
 * or when the event is a live consent for this organisation and the mirror
 * holds an earlier one: the entries of the client made while none was
 * live (after a withdrawal, an expiry) were not delivered, and the
 * mirror's rows of her are as they were. Not for an entry read again to
 * fill in a column (seq up to refill_upto): it was handled when it came
 * first, and the mirror holds the later consents already. 0 or the error
 * code (printed). */
static int backfill(struct follow *f, uint64_t seq,
		    const Ipsnet__V1__ChangeOk *ok)
{
	struct sync_run *s = f->arg;
	char err[512];
	/* A client's own entry holds her row: nothing to fetch. */
	if (ok->entity_case == IPSNET__V1__CHANGE_OK__ENTITY_CLIENT)
		return 0;
	const char *id = util_change_ok_client(ok);
	bool again = ok->entity_case == IPSNET__V1__CHANGE_OK__ENTITY_CONSENT &&
		     strcmp(ok->consent->recipient, s->organisation) == 0 &&
		     ok->consent->withdrawn_at[0] == '\0' &&
		     seq > mirror_meta(s->mirror)->refill_upto &&
		     mirror_has_other_consent(s->mirror, ok->consent);
	if (id[0] == '\0' || strlen(id) >= sizeof(s->wanted->id))
		return 0;
	for (size_t i = s->n_wanted; i-- > 0;)
		if (strcmp(s->wanted[i].id, id) == 0)
			return 0;
	if (!again && mirror_has_client(s->mirror, id))
		return 0;
	/* In the event's transaction: the cursor never passes the event
	 * without it. */
	int rv = mirror_want(s->mirror, id, err, sizeof(err));
	if (rv != 0) {
		clear_bar(f);
		fprintf(stderr, "ipsnet: %s: %s\n", s->path, err);
		return mirror_code(rv);
	}
	add_wanted(s, id);
	backfill_pump(f);
	return 0;
}

static int sync_hello(struct follow *f, const Ipsnet__V1__HelloOk *hello)
{
	struct sync_run *s = f->arg;
	char err[512];
	/* A new connection: what was asked on the last one is asked again
	 * when its next event comes. */
	s->n_wanted = s->next_wanted = 0;
	s->inflight = 0;
	s->n_refused = 0;
	s->ask_again_ms = ASK_AGAIN_FIRST_MS;
	int rv = mirror_bind(s->mirror, hello->organisation_id, s->kinds, err,
			     sizeof(err));
	if (rv != 0) {
		clear_bar(f);
		fprintf(stderr, "ipsnet: %s: %s\n", s->path, err);
	}
	util_strlcpy(s->organisation, hello->organisation_id,
		     sizeof(s->organisation));
	/* The cases an earlier run or connection asked for and had no
	 * answer to. */
	if (rv == 0 && s->backfill) {
		rv = mirror_wanted(s->mirror, add_wanted, s, err, sizeof(err));
		if (rv != 0)
			fprintf(stderr, "ipsnet: %s: %s\n", s->path, err);
		else
			backfill_pump(f);
	}
	return mirror_code(rv);
}

static int sync_commit(struct follow *f)
{
	struct sync_run *s = f->arg;
	char err[512];
	int rv = mirror_commit(s->mirror, err, sizeof(err));
	if (rv != 0) {
		clear_bar(f);
		fprintf(stderr, "ipsnet: %s: %s\n", s->path, err);
	}
	return mirror_code(rv);
}

/* Whether ev gives this organisation a program it did not own before
 * (as the mirror has it), whose earlier entries the server may have
 * judged while it did not: those of the program's clients were not
 * delivered, and a new mirror holds them. Not when this subscription
 * began at 0 after the hand-over had committed (a new mirror, a refill):
 * it had every entry judged after it. */
static bool handed_over(struct follow *f, const Ipsnet__V1__Event *ev)
{
	struct sync_run *s = f->arg;
	const Ipsnet__V1__ChangeOk *ok = ev->state;
	char owner[64];
	if (ok == NULL ||
	    ok->entity_case != IPSNET__V1__CHANGE_OK__ENTITY_PROGRAM ||
	    ok->program == NULL || ok->program->version <= 1 ||
	    strcmp(ok->program->owner, s->organisation) != 0)
		return false; /* a new program has no clients yet */
	if (f->sub_start_seq == 0 && ev->seq <= f->sub_head_seq)
		return false;
	return !mirror_program_owner(s->mirror, ok->program->id, owner,
				     sizeof(owner)) ||
	       strcmp(owner, s->organisation) != 0;
}

static int sync_event(struct follow *f, const Ipsnet__V1__Event *ev)
{
	struct sync_run *s = f->arg;
	char err[512];
	bool handed = s->backfill && handed_over(f, ev), counted;
	int rv = mirror_apply(s->mirror, ev, &counted, err, sizeof(err));
	if (rv != 0) {
		clear_bar(f);
		fprintf(stderr, "ipsnet: %s: %s\n", s->path, err);
		return mirror_code(rv);
	}
	if (s->backfill && ev->state != NULL &&
	    (rv = backfill(f, ev->seq, ev->state)) != 0) {
		/* The event is in the transaction, the case it needs is not
		 * wanted: committed (as the run's end commits what it has),
		 * the cursor would pass a client the mirror never asks for. */
		mirror_rollback(s->mirror);
		return rv;
	}
	if (handed) {
		/* Its clients' entries: all of them, as a new mirror gets
		 * them, by reading the journal again up to here. */
		clear_bar(f);
		fprintf(stderr,
			"ipsnet: %s: program %s is now %s's: reading the "
			"journal again from the start to bring in its "
			"clients\n",
			s->path, ev->state->program->id, s->organisation);
		if ((rv = mirror_refill(s->mirror, err, sizeof(err))) != 0) {
			fprintf(stderr, "ipsnet: %s: %s\n", s->path, err);
			return mirror_code(rv);
		}
		follow_restart(f, mirror_meta(s->mirror)->seq);
	} else if (mirror_pending(s->mirror) >= BATCH_EVENTS &&
		   (rv = sync_commit(f)) != 0) {
		return rv;
	}
	/* The kinds the mirror does not hold came for backfill only. */
	return counted ? 0 : FOLLOW_UNCOUNTED;
}

static int sync_caught_up(struct follow *f, uint64_t seq)
{
	struct sync_run *s = f->arg;
	char err[512];
	int rv = mirror_advance(s->mirror, seq,
				f->cursor_hash_known ? f->cursor_hash : NULL,
				err, sizeof(err));
	if (rv != 0) {
		fprintf(stderr, "ipsnet: %s: %s\n", s->path, err);
		return mirror_code(rv);
	}
	rv = sync_commit(f);
	if (rv == 0 && f->follow && !f->caught_up && isatty(STDERR_FILENO))
		fprintf(stderr,
			"caught up at seq %" PRIu64 "; following live changes "
			"(Ctrl-C stops)\n",
			seq);
	return rv;
}

/* Each tick: the batch committed when it is due, and the cases the
 * server was too busy to give asked for again when their wait is over. */
static int sync_tick(struct follow *f)
{
	int rv = sync_commit(f);
	if (rv == 0 && f->follow && f->conn != NULL && !f->stopping)
		backfill_again(f);
	return rv;
}

static bool sync_busy(struct follow *f)
{
	struct sync_run *s = f->arg;
	return s->inflight > 0 || s->next_wanted < s->n_wanted;
}

/* Before a refill reads from seq 0, which checks no hash: the server's
 * entry at the seq the mirror had reached is the one the mirror got
 * (mirror_meta check_seq, check_hash), or the refill would mix another
 * journal into it. */
static bool sync_check(struct follow *f, uint64_t *seq, const uint8_t **hash)
{
	struct sync_run *s = f->arg;
	const struct mirror_meta *meta = mirror_meta(s->mirror);
	*seq = meta->check_seq;
	*hash = meta->check_hash;
	return meta->has_check;
}

static int sync_checked(struct follow *f)
{
	struct sync_run *s = f->arg;
	char err[512];
	int rv = mirror_checked(s->mirror, err, sizeof(err));
	if (rv != 0) {
		clear_bar(f);
		fprintf(stderr, "ipsnet: %s: %s\n", s->path, err);
	}
	return mirror_code(rv);
}

/* A batch is committed when it is full or BATCH_MS old: the tick comes
 * every BATCH_MS, so no event waits longer than that. */
static const struct follow_ops sync_ops = {
    .on_hello = sync_hello,
    .on_event = sync_event,
    .on_caught_up = sync_caught_up,
    .flush = sync_tick,
    .busy = sync_busy,
    .check = sync_check,
    .checked = sync_checked,
};

int cmd_sync(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"mirror", required_argument, NULL, 'm'},
	    {"follow", no_argument, NULL, 'f'},
	    {"kinds", required_argument, NULL, 'k'},
	    {"keepalive", required_argument, NULL, 'K'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct follow *f = calloc(1, sizeof(*f));
	struct sync_run s = {.cli = cli};
	const char *kinds = NULL;
	char err[512];
	int ch, rv;

	if (f == NULL)
		return cli_fail(IPSNET_ENOMEM, "out of memory");
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'm':
			s.path = optarg;
			break;
		case 'f':
			f->follow = true;
			break;
		case 'k':
			kinds = optarg;
			break;
		case 'K':
			if ((rv = keepalive_option(f, optarg)) != 0)
				goto out;
			break;
		case 'h':
			fputs(sync_usage, stdout);
			rv = 0;
			goto out;
		default:
			rv = cli_bad_option(ch, argv, "sync");
			goto out;
		}
	}
	if (optind < argc) {
		rv = cli_fail(IPSNET_EUSAGE, "unexpected argument '%s'",
			      argv[optind]);
		goto out;
	}
	if (s.path == NULL || s.path[0] == '\0') {
		rv = cli_fail(IPSNET_EUSAGE, "--mirror FILE is required");
		goto out;
	}
	if (kinds != NULL &&
	    (rv = parse_kinds(f, kinds, s.kinds, sizeof(s.kinds))) != 0)
		goto out;
	if ((rv = follow_options(f, cli)) != 0)
		goto out;
	rv = mirror_open(&s.mirror, s.path, err, sizeof(err));
	if (rv != 0) {
		/* A file that cannot be opened as a mirror is the file's
		 * fault, not the network's: not exit code 3. */
		rv = cli_fail(mirror_code(rv), "%s: %s", s.path, err);
		goto out;
	}
	/* A new mirror is made 0600; one that was there keeps its mode (a
	 * group may be meant to read it), but every user of the computer is
	 * never right for BSNs and names. */
	struct stat st;
	if (stat(s.path, &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH)) != 0)
		fprintf(stderr,
			"ipsnet: warning: every user of this computer may %s "
			"%s (mode %03o), which holds personal data (BSNs, "
			"names): 'chmod o-rw %s'\n",
			(st.st_mode & S_IWOTH) != 0 ? "read and change"
						    : "read",
			s.path, (unsigned)st.st_mode & 0777, s.path);
	const struct mirror_meta *meta = mirror_meta(s.mirror);
	if (meta->refill_columns)
		fprintf(stderr,
			"ipsnet: %s was written by an older ipsnet, which "
			"leaves out fields this one keeps: reading the journal "
			"again from the start to bring them up to date\n",
			s.path);
	if (meta->refill_kinds[0] != '\0')
		fprintf(stderr,
			"ipsnet: %s was written by an older ipsnet, which "
			"skipped the entries of kinds it did not know (%s): "
			"reading the journal again from the start to bring "
			"them in\n",
			s.path, meta->refill_kinds);
	if (kinds == NULL && (meta->seq > 0 || meta->refill_upto > 0)) {
		/* Resuming: the kinds it was made with. */
		util_strlcpy(s.kinds, meta->kinds, sizeof(s.kinds));
		if (s.kinds[0] != '\0' &&
		    (rv = parse_kinds(f, s.kinds, NULL, 0)) != 0)
			goto out_after_mirror;
	}
	/* Programs and reviews alone: no case to complete. */
	s.backfill = f->n_kinds == 0 || sync_kinds(f);
	f->ops = &sync_ops;
	f->arg = &s;
	f->cursor = meta->seq;
	f->cursor_hash_known = meta->has_hash;
	memcpy(f->cursor_hash, meta->hash, IPSNET_HASH_BYTES);
	f->progress = isatty(STDERR_FILENO);
	uint64_t t0 = util_mono_us();
	rv = follow_run(f);
	double secs = (double)(util_mono_us() - t0) / 1e6;
	if (rv == 0) {
		meta = mirror_meta(s.mirror);
		if (cli->json) {
			json_t *o = json_object();
			json_object_set_new(o, "mirror", fmt_json_str(s.path));
			json_object_set_new(o, "organisation",
					    fmt_json_str(s.organisation));
			json_object_set_new(
			    o, "seq", json_integer((json_int_t)meta->seq));
			json_object_set_new(
			    o, "events",
			    json_integer((json_int_t)f->run_events));
			json_object_set_new(
			    o, "events_total",
			    json_integer((json_int_t)meta->events));
			json_object_set_new(
			    o, "cases_fetched",
			    json_integer((json_int_t)s.backfilled));
			json_object_set_new(
			    o, "milliseconds",
			    json_integer((json_int_t)(secs * 1000)));
			cli_print_json(o);
		} else {
			/* The seq as --since takes it; counts as the progress
			 * bar gives them. */
			char run[32], all[32];
			util_thousands(run, sizeof(run), f->run_events);
			util_thousands(all, sizeof(all), meta->events);
			printf("%s: at seq %" PRIu64 "; %s event%s in %.1f s "
			       "(%s in all)\n",
			       s.path, meta->seq, run,
			       f->run_events == 1 ? "" : "s", secs, all);
		}
	}
out_after_mirror:
	mirror_close(s.mirror);
	free(s.wanted);
out:
	free(f);
	return rv;
}

/* ---- ipsnet watch ------------------------------------------------------ */

static const char watch_usage[] =
    "usage: ipsnet watch [--since SEQ [--since-hash HASH]] [--kinds KIND,...]\n"
    "                    [--json] [--keepalive S]\n"
    "Prints the changes your organisation may see as they are made, one\n"
    "line each, until SIGINT or SIGTERM (exit 0). Reconnects when the\n"
    "connection drops and goes on where it was.\n"
    "\n"
    "  --since SEQ       first the changes after journal seq SEQ (0: all),\n"
    "                    then live ones; default: only new changes\n"
    "  --since-hash HASH the hash of entry SEQ as a --json line gave it:\n"
    "                    a server whose entry SEQ is another one (its\n"
    "                    journal restored from a backup, another server)\n"
    "                    is refused (exit 6)\n"
    "  --kinds LIST      only these kinds (client, consent, trajectory,\n"
    "                    funding, job, program, fidelity_review)\n"
    "  --json            one JSON object a line: seq, hash, time,\n"
    "                    organisation, change, live, kind, id, version and\n"
    "                    the entity\n"
    "  --keepalive S     a ping every S seconds (default 60); a server\n"
    "                    that leaves one unanswered for S seconds is\n"
    "                    taken for gone, and connected to again\n";

/* " of client " before a client's id, or "" before an empty one (an entry
 * written before the entity carried its client). */
static const char *of_client(const char *client)
{
	return client[0] != '\0' ? " of client " : "";
}

/* What happened, in words: "registered client cl-1". Whatever concerns one
 * client names it, so that a line says whose case moved. */
static void describe(char *buf, size_t cap, const Ipsnet__V1__Event *ev)
{
	const Ipsnet__V1__ChangeOk *s = ev->state;
	const char *c = ev->change != NULL ? ev->change : "";
	char w[64];
	if (s == NULL) {
		snprintf(buf, cap, "%s", c);
		return;
	}
	const char *id = s->entity_id;
	switch (s->entity_case) {
	case IPSNET__V1__CHANGE_OK__ENTITY_CLIENT:
		snprintf(buf, cap, "%s client %s",
			 strcmp(c, "register_client") == 0 ? "registered"
							   : "updated",
			 id);
		return;
	case IPSNET__V1__CHANGE_OK__ENTITY_CONSENT:
		if (strcmp(c, "withdraw_consent") == 0)
			snprintf(buf, cap, "withdrew consent %s of client %s",
				 id, s->consent->client_id);
		else
			snprintf(buf, cap,
				 "recorded consent %s of client %s for %s "
				 "until %s",
				 id, s->consent->client_id,
				 s->consent->recipient,
				 s->consent->valid_until);
		return;
	case IPSNET__V1__CHANGE_OK__ENTITY_TRAJECTORY:
		/* in the words of case show and trajectory: "on hold" */
		snprintf(w, sizeof(w), "%s",
			 fmt_trajectory_status(s->trajectory->status));
		const char *tc = s->trajectory->client_id;
		if (strcmp(c, "refer") == 0)
			snprintf(buf, cap,
				 "referred client %s to program %s "
				 "(trajectory %s)",
				 s->trajectory->client_id,
				 s->trajectory->program_id, id);
		else if (strcmp(c, "import_trajectory") == 0)
			snprintf(buf, cap, "imported trajectory %s%s%s (%s)",
				 id, of_client(tc), tc, w);
		else
			snprintf(buf, cap, "moved trajectory %s%s%s to %s", id,
				 of_client(tc), tc, w);
		return;
	case IPSNET__V1__CHANGE_OK__ENTITY_FUNDING:
		mirror_enum_word(&ipsnet__v1__funding_status__descriptor,
				 s->funding->status, w, sizeof(w));
		const char *fc = s->funding->client_id;
		if (strcmp(c, "request_funding") == 0)
			snprintf(buf, cap,
				 "asked %s for %u month%s of funding %s for "
				 "trajectory %s%s%s",
				 s->funding->funder[0] != '\0'
				     ? s->funding->funder
				     : s->funding->other_description,
				 s->funding->months,
				 s->funding->months == 1 ? "" : "s", id,
				 s->funding->trajectory_id, of_client(fc), fc);
		else
			snprintf(buf, cap, "marked funding %s%s%s %s", id,
				 of_client(fc), fc, w);
		return;
	case IPSNET__V1__CHANGE_OK__ENTITY_JOB: {
		const char *jc = s->job->client_id;
		if (strcmp(c, "end_job") == 0 && s->job->withdrawn)
			snprintf(buf, cap,
				 "withdrew job %s%s%s on %s: it was to begin "
				 "on %s",
				 id, of_client(jc), jc, s->job->end_date,
				 s->job->start_date);
		else if (strcmp(c, "end_job") == 0)
			snprintf(buf, cap, "ended job %s%s%s on %s", id,
				 of_client(jc), jc, s->job->end_date);
		else
			snprintf(buf, cap, "recorded job %s of client %s", id,
				 s->job->client_id);
		return;
	}
	case IPSNET__V1__CHANGE_OK__ENTITY_PROGRAM:
		snprintf(buf, cap, "%s program %s",
			 s->version <= 1 ? "added" : "changed", id);
		return;
	case IPSNET__V1__CHANGE_OK__ENTITY_REVIEW:
		snprintf(buf, cap,
			 "recorded fidelity review %s of program %s (%u, %s)",
			 id, s->review->program_id, s->review->total,
			 s->review->band);
		return;
	default:
		snprintf(buf, cap, "%s %s %s", c, s->entity_kind, id);
		return;
	}
}

static json_t *event_json(const Ipsnet__V1__Event *ev)
{
	json_t *o = json_object();
	const char *kind;
	const ProtobufCMessage *msg;
	json_object_set_new(o, "seq", json_integer((json_int_t)ev->seq));
	if (ev->hash.len == IPSNET_HASH_BYTES) {
		char hex[2 * IPSNET_HASH_BYTES + 1];
		json_object_set_new(
		    o, "hash",
		    json_string(util_hex(hex, sizeof(hex), ev->hash.data,
					 ev->hash.len)));
	}
	json_object_set_new(o, "time", json_string(ev->time));
	json_object_set_new(o, "organisation", json_string(ev->organisation));
	json_object_set_new(o, "change", json_string(ev->change));
	json_object_set_new(o, "live", json_boolean(ev->live));
	if (ev->state != NULL && mirror_entity(ev->state, &kind, &msg)) {
		json_object_set_new(o, "kind", json_string(kind));
		json_object_set_new(o, "id", json_string(ev->state->entity_id));
		json_object_set_new(
		    o, "version", json_integer((json_int_t)ev->state->version));
		json_object_set_new(o, kind, mirror_entity_json(msg));
	}
	return o;
}

static int watch_event(struct follow *f, const Ipsnet__V1__Event *ev)
{
	struct cli *cli = f->arg;
	if (cli->json) {
		json_t *o = event_json(ev);
		char *line =
		    o != NULL
			? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER |
					    CLI_JSON_REAL_PRECISION)
			: NULL;
		json_decref(o);
		if (line == NULL) {
			fprintf(stderr, "ipsnet: out of memory\n");
			return IPSNET_ENOMEM;
		}
		/* A write that fails here (the buffer was full) is seen here:
		 * glibc drops what it held, and the flush after the loop turn
		 * may then have nothing left to fail on. */
		if (puts(line) == EOF)
			output_failed(f, errno);
		free(line);
		return 0;
	}
	char when[32], what[1024]; /* a funder's 200 characters and more */
	char line[sizeof(when) + sizeof(what) + 160];
	nl_minute_of_iso(when, sizeof(when), ev->time);
	describe(what, sizeof(what), ev);
	snprintf(line, sizeof(line), "%s %s %s (version %" PRIu64 ")", when,
		 ev->organisation, what,
		 ev->state != NULL ? ev->state->version : 0);
	/* A funder described in free text is anybody's text: as a table
	 * shows it, so it cannot move the terminal's cursor. So is all of
	 * the line the server gave: a time it gave that is no time is shown
	 * as it came. */
	text_mask_controls(line);
	if (puts(line) == EOF)
		output_failed(f, errno);
	return 0;
}

static int watch_caught_up(struct follow *f, uint64_t seq)
{
	if (!f->caught_up && isatty(STDERR_FILENO))
		fprintf(stderr,
			"-- up to date at seq %" PRIu64 "; waiting for changes "
			"(Ctrl-C stops) --\n",
			seq);
	return 0;
}

static int watch_flush(struct follow *f)
{
	return 0; /* the check handle flushes stdout every loop turn */
}

static const struct follow_ops watch_ops = {
    .on_event = watch_event,
    .on_caught_up = watch_caught_up,
    .flush = watch_flush,
};

/* 64 hex digits into a journal entry's hash. */
static bool parse_hash(const char *hex, uint8_t out[IPSNET_HASH_BYTES])
{
	if (strlen(hex) != 2 * IPSNET_HASH_BYTES ||
	    strspn(hex, "0123456789abcdefABCDEF") != 2 * IPSNET_HASH_BYTES)
		return false;
	for (size_t i = 0; i < IPSNET_HASH_BYTES; i++) {
		unsigned v;
		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return false;
		out[i] = (uint8_t)v;
	}
	return true;
}

int cmd_watch(struct cli *cli, int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"since", required_argument, NULL, 's'},
	    {"since-hash", required_argument, NULL, 'H'},
	    {"kinds", required_argument, NULL, 'k'},
	    {"keepalive", required_argument, NULL, 'K'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct follow *f = calloc(1, sizeof(*f));
	int ch, rv;

	if (f == NULL)
		return cli_fail(IPSNET_ENOMEM, "out of memory");
	f->from_head = true;
	optind = 1;
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		char *end;
		switch (ch) {
		case 's':
			errno = 0;
			f->cursor = strtoull(optarg, &end, 10);
			if (optarg[0] < '0' || optarg[0] > '9' ||
			    *end != '\0' || errno != 0) {
				rv = cli_fail(IPSNET_EUSAGE,
					      "--since takes a journal seq (0 "
					      "or more)");
				goto out;
			}
			f->from_head = false;
			break;
		case 'H':
			if (!parse_hash(optarg, f->cursor_hash)) {
				rv = cli_fail(IPSNET_EUSAGE,
					      "--since-hash takes a journal "
					      "entry's hash: 64 hex digits, as "
					      "a --json line gives it");
				goto out;
			}
			f->cursor_hash_known = true;
			break;
		case 'k':
			if ((rv = parse_kinds(f, optarg, NULL, 0)) != 0)
				goto out;
			break;
		case 'K':
			if ((rv = keepalive_option(f, optarg)) != 0)
				goto out;
			break;
		case 'h':
			fputs(watch_usage, stdout);
			rv = 0;
			goto out;
		default:
			rv = cli_bad_option(ch, argv, "watch");
			goto out;
		}
	}
	if (optind < argc) {
		rv = cli_fail(IPSNET_EUSAGE, "unexpected argument '%s'",
			      argv[optind]);
		goto out;
	}
	if (f->cursor_hash_known && f->from_head) {
		rv = cli_fail(IPSNET_EUSAGE,
			      "--since-hash goes with --since: the hash of "
			      "that entry");
		goto out;
	}
	if ((rv = follow_options(f, cli)) != 0)
		goto out;
	f->follow = true;
	f->ops = &watch_ops;
	f->arg = cli;
	rv = follow_run(f);
out:
	free(f);
	return rv;
}
