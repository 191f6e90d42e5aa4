/* sync-bench: subscribers for ipsnetd's sync benchmark (issue 6, item 6).
 *
 * Subscribers are bare framed TLS streams (common/stream.c) on one libuv
 * loop: an event is not decoded, only its seq is read from the bytes, so
 * the tool costs little next to the daemon it measures. Changes are made
 * with libipsnet on the same loop.
 *
 *   catchup  N subscribers from seq 0 until CaughtUp: journal entries a
 *            second (the head over the time to CaughtUp) and events a
 *            second, per subscriber and all together.
 *   live     N subscribers from the head; once all are live, --changes
 *            RegisterClient changes, one at a time, --rate a second; for
 *            each (subscriber, event): the time from the moment the
 *            writer's answer arrived, and from the moment the change was
 *            sent, to the event's arrival (one monotonic clock, one
 *            process). p50 / p99 / p99.9 / max.
 *   hold     N subscribers from the head (with --never-read: from seq 0,
 *            and they stop reading once subscribed) until SIGINT/SIGTERM;
 *            prints "ready" when all are subscribed, so a script can read
 *            the daemon's memory meanwhile.
 *
 * --threads N spreads the subscribers over N loops, each on its own thread
 * (the first is the writer's), as independent subscribers on other
 * machines would not wait for one another; one thread reads them one after
 * the other.
 *
 * Loopback only; bounded by --changes and --subscribers. */
#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "alloc.h"
#include "ipsnet.h"
#include "stream.h"
#include "tls.h"
#include "util.h"

#define MAX_SUBSCRIBERS 20000
#define MAX_CHANGES 1000000

static const char usage_text[] =
    "usage: sync-bench --server 127.0.0.1:PORT --ca FILE --cert FILE --key "
    "FILE\n"
    "                  (catchup | live | hold) [--subscribers N]\n"
    "                  [--changes N] [--rate R] [--writer-cert FILE]\n"
    "                  [--writer-key FILE] [--never-read] [--json]\n"
    "                  [--daemon-pid PID] [--threads N]\n"
    "\n"
    "  --cert, --key        the subscribers' organisation\n"
    "  --writer-cert/-key   live: who makes the changes (a GGZ; default\n"
    "                       --cert/--key)\n"
    "  --subscribers N      subscribers (default 1)\n"
    "  --changes N          live: changes to make (default 1000)\n"
    "  --rate R             live: changes a second, one at a time (default\n"
    "                       100)\n"
    "  --never-read         hold: subscribe from 0, stop reading once\n"
    "                       subscribed\n"
    "  --daemon-pid PID     live: also the daemon's CPU time per delivery\n"
    "                       (from /proc) while the changes are made\n"
    "  --threads N          loops for the subscribers, each on its own\n"
    "                       thread (default 1, at most --subscribers)\n"
    "  --json               the result as one JSON object\n";

enum mode { MODE_CATCHUP, MODE_LIVE, MODE_HOLD };

#define MAX_THREADS 16

struct bench;

/* A loop and the subscribers on it. Worker 0 runs on the main thread with
 * the writer. */
struct worker {
	struct bench *b;
	uv_loop_t loop_storage;
	uv_loop_t *loop;
	uv_thread_t thread;
	uv_async_t stop; /* finish: abort this loop's subscribers */
	/* Its own: OpenSSL 3.0 reads a shared context's certificate store
	 * without its lock during handshakes (ThreadSanitizer shows it). */
	SSL_CTX *ctx;
};

struct sub {
	struct ipsnet_stream stream;
	struct bench *b;
	struct worker *w;
	int index;
	bool subscribed, caught_up, closed;
	uint64_t events, bytes, last_seq; /* last_seq: atomic */
	uint64_t t_start, t_caught_up;	  /* monotonic us */
};

/* Fields that subscribers on several threads share are read and written
 * with __atomic builtins: n_subscribed, n_caught_up, n_closed, head,
 * first_seq, finishing and each sub's last_seq. */
struct bench {
	uv_loop_t *loop;
	struct worker workers[MAX_THREADS];
	int n_workers;
	uv_async_t go;	 /* every subscriber is live: start writing */
	uv_async_t done; /* every subscriber is closed */
	uv_mutex_t error_lock;
	enum mode mode;
	struct sockaddr_in addr;
	struct sub *subs;
	int n_subs, n_subscribed, n_caught_up, n_closed;
	bool never_read, json;
	uint64_t head; /* the highest Subscribed head seen */
	uint64_t t0;
	uv_signal_t sigint, sigterm;
	uv_timer_t timer;
	char error[512];

	/* live */
	struct ipsnet_options writer;
	struct ipsnet_conn *wconn;
	uint64_t n_changes, sent, answered, rate;
	uint64_t first_seq;	  /* seq of the first change: the head + 1 */
	uint64_t *t_send, *t_ack; /* per change, by order sent / by seq */
	uint64_t *t_sent_by_seq;
	uint64_t *recv; /* per (subscriber, change): arrival time */
	uint64_t pending_send_us;
	bool writing;
	/* CPU time (us) while the changes are made: this process and the
	 * daemon (--daemon-pid), at the first change and at the end. */
	int daemon_pid;
	uint64_t cpu_self0, cpu_daemon0, cpu_self1, cpu_daemon1;
};

static uint64_t now_us(void)
{
	return util_mono_us();
}

#define LOAD(x) __atomic_load_n(&(x), __ATOMIC_ACQUIRE)
#define STORE(x, v) __atomic_store_n(&(x), (v), __ATOMIC_RELEASE)
#define INC(x) __atomic_add_fetch(&(x), 1, __ATOMIC_ACQ_REL)

/* The first error is kept. */
static void set_error(struct bench *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void set_error(struct bench *b, const char *fmt, ...)
{
	va_list ap;
	uv_mutex_lock(&b->error_lock);
	if (b->error[0] == '\0') {
		va_start(ap, fmt);
		vsnprintf(b->error, sizeof(b->error), fmt, ap);
		va_end(ap);
	}
	uv_mutex_unlock(&b->error_lock);
}

static uint64_t self_cpu_us(void)
{
	struct rusage ru;
	if (getrusage(RUSAGE_SELF, &ru) != 0)
		return 0;
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000 +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* utime + stime of a process, from /proc (0 when it cannot be read). */
static uint64_t proc_cpu_us(int pid)
{
	char path[64], buf[1024];
	if (pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	FILE *f = fopen(path, "r");
	if (f == NULL)
		return 0;
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	const char *p = strrchr(buf, ')'); /* after the command's name */
	unsigned long long ut, st;
	if (p == NULL ||
	    sscanf(p + 2,
		   "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
		   &st) != 2)
		return 0;
	return (uint64_t)(ut + st) * 1000000 / (uint64_t)sysconf(_SC_CLK_TCK);
}

/* ---- a little protobuf reading ----------------------------------------- */

static bool varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; *p < end && shift < 64; shift += 7) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

/* Finds top-level field `field` (length-delimited) in [p, end). */
static bool find_field(const uint8_t *p, const uint8_t *end, uint32_t field,
		       const uint8_t **body, size_t *len)
{
	while (p < end) {
		uint64_t tag, v;
		if (!varint(&p, end, &tag))
			return false;
		switch (tag & 7) {
		case 0:
			if (!varint(&p, end, &v))
				return false;
			break;
		case 1:
			p += 8;
			break;
		case 5:
			p += 4;
			break;
		case 2:
			if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
				return false;
			if ((tag >> 3) == field) {
				*body = p;
				*len = (size_t)v;
				return true;
			}
			p += v;
			break;
		default:
			return false;
		}
	}
	return false;
}

/* Field 1 (varint) of a message: Event.seq, CaughtUp.seq,
 * Subscribed.head_seq. 0 when absent. */
static uint64_t first_varint(const uint8_t *p, size_t n)
{
	const uint8_t *end = p + n;
	while (p < end) {
		uint64_t tag, v;
		if (!varint(&p, end, &tag))
			return 0;
		if ((tag & 7) == 0) {
			if (!varint(&p, end, &v))
				return 0;
			if ((tag >> 3) == 1)
				return v;
		} else if ((tag & 7) == 2) {
			if (!varint(&p, end, &v) || v > (uint64_t)(end - p))
				return 0;
			p += v;
		} else {
			return 0;
		}
	}
	return 0;
}

/* ---- subscribers -------------------------------------------------------- */

static bool finishing; /* atomic */

static void finish(struct bench *b);
static void start_writing(struct bench *b);

static int send_env(struct sub *s, Ipsnet__V1__Envelope *env)
{
	return stream_send_envelope(&s->stream, env);
}

static void on_handshake(struct ipsnet_stream *st)
{
	struct sub *s = st->data;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Hello hello = IPSNET__V1__HELLO__INIT;
	hello.protocol_version = IPSNET_PROTOCOL_VERSION;
	hello.client_software = "sync-bench/" IPSNET_VERSION;
	hello.user = "bench";
	env.request_id = 1;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	send_env(s, &env);
}

static void subscribe(struct sub *s, uint64_t since)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribe m = IPSNET__V1__SUBSCRIBE__INIT;
	m.since_seq = since;
	env.request_id = 2;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_SUBSCRIBE;
	env.subscribe = &m;
	s->t_start = now_us();
	send_env(s, &env);
}

static int on_frame(struct ipsnet_stream *st, const uint8_t *body, size_t len)
{
	struct sub *s = st->data;
	struct bench *b = s->b;
	const uint8_t *m, *end = body + len;
	size_t n;

	if (find_field(body, end, 202, &m, &n)) { /* Event */
		uint64_t seq = first_varint(m, n);
		s->events++;
		s->bytes += len;
		STORE(s->last_seq, seq);
		uint64_t first = LOAD(b->first_seq);
		if (b->mode == MODE_LIVE && first != 0 && seq >= first &&
		    seq < first + b->n_changes)
			b->recv[(size_t)s->index * b->n_changes +
				(seq - first)] = now_us();
		return 0;
	}
	if (find_field(body, end, 203, &m, &n)) { /* CaughtUp */
		if (!s->caught_up) {
			s->caught_up = true;
			s->t_caught_up = now_us();
			STORE(s->last_seq, first_varint(m, n));
			if (INC(b->n_caught_up) == b->n_subs) {
				if (b->mode == MODE_CATCHUP)
					finish(b);
				else if (b->mode == MODE_LIVE)
					uv_async_send(&b->go);
			}
		}
		return 0;
	}
	if (find_field(body, end, 11, &m, &n)) { /* HelloOk */
		uint64_t head = 0;
		const uint8_t *p = m, *e = m + n;
		/* journal_seq is field 6 */
		while (p < e) {
			uint64_t tag, v;
			if (!varint(&p, e, &tag))
				break;
			if ((tag & 7) == 0) {
				if (!varint(&p, e, &v))
					break;
				if ((tag >> 3) == 6)
					head = v;
			} else if ((tag & 7) == 2) {
				if (!varint(&p, e, &v) || v > (uint64_t)(e - p))
					break;
				p += v;
			} else {
				break;
			}
		}
		/* A subscriber that never reads starts from 0: the whole
		 * journal waits for it, and what the daemon holds of it is
		 * the question. */
		subscribe(s,
			  b->mode == MODE_CATCHUP || b->never_read ? 0 : head);
		return 0;
	}
	if (find_field(body, end, 201, &m, &n)) { /* Subscribed */
		uint64_t head = first_varint(m, n), seen = LOAD(b->head);
		while (head > seen && !__atomic_compare_exchange_n(
					  &b->head, &seen, head, false,
					  __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			;
		s->subscribed = true;
		if (b->never_read)
			stream_pause(&s->stream);
		if (INC(b->n_subscribed) == b->n_subs && b->mode == MODE_HOLD) {
			printf("ready subscribers=%d\n", b->n_subs);
			fflush(stdout);
		}
		return 0;
	}
	/* Anything else: an error status. */
	const uint8_t *status;
	size_t slen;
	if (find_field(body, end, 3, &status, &slen) &&
	    first_varint(status, slen) != 0) {
		set_error(b,
			  "subscriber %d: the server answered with status "
			  "%" PRIu64,
			  s->index, first_varint(status, slen));
		finish(b);
	}
	return 0;
}

static void on_close(struct ipsnet_stream *st)
{
	struct sub *s = st->data;
	struct bench *b = s->b;
	s->closed = true;
	if (!LOAD(finishing)) {
		/* A subscriber lost spoils the figures: the bench stops. */
		set_error(b, "subscriber %d: %s", s->index,
			  st->error != 0 ? st->reason
					 : "the server closed the connection");
		finish(b);
	}
	if (INC(b->n_closed) == b->n_subs)
		uv_async_send(&b->done);
}

/* Main thread: every subscriber is closed. */
static void on_done(uv_async_t *a)
{
	struct bench *b = a->data;
	uv_close((uv_handle_t *)&b->sigint, NULL);
	uv_close((uv_handle_t *)&b->sigterm, NULL);
	uv_close((uv_handle_t *)&b->timer, NULL);
	uv_close((uv_handle_t *)&b->go, NULL);
	uv_close((uv_handle_t *)&b->done, NULL);
	if (b->wconn != NULL)
		ipsnet_close(b->wconn);
}

/* A worker's loop: the bench is done. Sent once, by finish. */
static void on_stop(uv_async_t *a)
{
	struct worker *w = a->data;
	struct bench *b = w->b;
	for (int i = (int)(w - b->workers); i < b->n_subs; i += b->n_workers)
		if (!b->subs[i].closed)
			stream_abort(&b->subs[i].stream, 0,
				     "the bench is done");
	uv_close((uv_handle_t *)&w->stop, NULL);
}

static const struct stream_callbacks sub_callbacks = {
    .on_handshake = on_handshake,
    .on_frame = on_frame,
    .on_close = on_close,
};

/* Any thread. The writer is closed by on_done, on the main thread. */
static void finish(struct bench *b)
{
	if (__atomic_exchange_n(&finishing, true, __ATOMIC_ACQ_REL))
		return;
	b->cpu_self1 = self_cpu_us();
	b->cpu_daemon1 = proc_cpu_us(b->daemon_pid);
	for (int i = 0; i < b->n_workers; i++)
		uv_async_send(&b->workers[i].stop);
}

/* ---- the writer (live) ------------------------------------------------- */

static void send_change(struct bench *b);

static void on_answer(struct ipsnet_conn *c, int status, const char *message,
		      const Ipsnet__V1__Envelope *resp, void *arg)
{
	struct bench *b = arg;
	uint64_t t = now_us();
	if (status != 0 || resp == NULL || resp->change_ok == NULL) {
		set_error(b, "the change was refused: %s",
			  message != NULL ? message : "no answer");
		finish(b);
		return;
	}
	uint64_t seq = resp->change_ok->seq;
	uint64_t i = b->answered++;
	if (seq != b->first_seq + i) {
		set_error(b,
			  "change %" PRIu64 " got seq %" PRIu64 ", not %" PRIu64
			  ": someone else changes the journal meanwhile",
			  i, seq, b->first_seq + i);
		finish(b);
		return;
	}
	if (seq >= b->first_seq && seq < b->first_seq + b->n_changes) {
		b->t_ack[seq - b->first_seq] = t;
		b->t_sent_by_seq[seq - b->first_seq] = b->t_send[i];
	}
}

static void on_tick(uv_timer_t *t)
{
	struct bench *b = t->data;
	if (b->sent < b->n_changes) {
		send_change(b);
		return;
	}
	/* Done sending: wait until every subscriber has the last change, or
	 * 5 s. */
	bool all = b->answered == b->n_changes;
	for (int i = 0; all && i < b->n_subs; i++)
		all = LOAD(b->subs[i].last_seq) >=
		      b->first_seq + b->n_changes - 1;
	if (all || now_us() - b->pending_send_us > 5000000)
		finish(b);
}

static void send_change(struct bench *b)
{
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	uint8_t key[16];
	char bsn[16], name[64];
	/* BSNs from a random 8-digit start, each with its 11-proof digit:
	 * from 50,000,000 up, where sync_bench.sh's journal (built from 0
	 * up) has none. */
	static uint64_t next;
	if (next == 0) {
		uint32_t r;
		util_random(&r, sizeof(r));
		next = 50000000 + r % 40000000;
	}
	for (;;) {
		char d[9];
		int sum = 0;
		snprintf(d, sizeof(d), "%08" PRIu64, next++ % 100000000);
		for (int i = 0; i < 8; i++)
			sum += (9 - i) * (d[i] - '0');
		if (sum % 11 == 10 || sum - sum % 11 == 0)
			continue;
		snprintf(bsn, sizeof(bsn), "%s%d", d, sum % 11);
		break;
	}
	snprintf(name, sizeof(name), "Bench Live %" PRIu64, b->sent);
	m.bsn = bsn;
	m.name = name;
	m.birth_date = "1980-01-01";
	m.municipality = "GM0363";
	m.benefit = IPSNET__V1__BENEFIT__BENEFIT_NONE;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_REGISTER_CLIENT;
	e.register_client = &m;
	ipsnet_new_idempotency_key(key);
	e.idempotency_key.data = key;
	e.idempotency_key.len = sizeof(key);
	b->t_send[b->sent++] = now_us();
	b->pending_send_us = now_us();
	if (ipsnet_request(b->wconn, &e, on_answer, b) != 0) {
		set_error(b, "cannot send a change");
		finish(b);
	}
}

static void writer_ready(struct ipsnet_conn *c, int status, const char *message,
			 void *arg)
{
	struct bench *b = arg;
	if (status != 0) {
		set_error(b, "writer: %s", message);
		b->wconn = NULL;
		finish(b);
		return;
	}
	b->writing = true;
	if (LOAD(b->n_caught_up) == b->n_subs)
		start_writing(b);
}

static void writer_closed(struct ipsnet_conn *c, int status,
			  const char *message, void *arg)
{
	struct bench *b = arg;
	b->wconn = NULL;
}

static const struct ipsnet_callbacks writer_callbacks = {
    .on_ready = writer_ready,
    .on_closed = writer_closed,
};

static void start_writing(struct bench *b)
{
	if (!b->writing || b->sent > 0)
		return;
	/* Every subscriber is live at the head: the changes follow it. */
	uint64_t head = LOAD(b->head);
	for (int i = 0; i < b->n_subs; i++) {
		uint64_t seq = LOAD(b->subs[i].last_seq);
		if (seq > head)
			head = seq;
	}
	STORE(b->first_seq, head + 1);
	uint64_t period_ms = b->rate > 0 ? 1000 / b->rate : 0;
	b->t0 = now_us();
	b->cpu_self0 = self_cpu_us();
	b->cpu_daemon0 = proc_cpu_us(b->daemon_pid);
	uv_timer_start(&b->timer, on_tick, period_ms,
		       period_ms ? period_ms : 1);
}

static void on_go(uv_async_t *a)
{
	start_writing(a->data);
}

static void worker_run(void *arg)
{
	struct worker *w = arg;
	uv_run(w->loop, UV_RUN_DEFAULT);
}

/* ---- results ----------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static double pct(const uint64_t *v, size_t n, double p)
{
	if (n == 0)
		return 0;
	size_t i = (size_t)(p / 100.0 * (double)(n - 1) + 0.5);
	return (double)v[i] / 1000.0;
}

static int report(struct bench *b)
{
	json_t *o = json_object();
	if (b->error[0] != '\0')
		fprintf(stderr, "sync-bench: %s\n", b->error);
	json_object_set_new(o, "subscribers", json_integer(b->n_subs));
	if (b->mode == MODE_CATCHUP) {
		uint64_t events = 0, slowest = 0, first_start = UINT64_MAX;
		for (int i = 0; i < b->n_subs; i++) {
			struct sub *s = &b->subs[i];
			events += s->events;
			if (s->t_start < first_start)
				first_start = s->t_start;
			if (s->t_caught_up > slowest)
				slowest = s->t_caught_up;
		}
		double secs = (double)(slowest - first_start) / 1e6;
		json_object_set_new(o, "head_seq",
				    json_integer((json_int_t)b->head));
		json_object_set_new(o, "events",
				    json_integer((json_int_t)events));
		json_object_set_new(o, "seconds", json_real(secs));
		json_object_set_new(
		    o, "entries_per_s",
		    json_real((double)b->head * b->n_subs / secs));
		json_object_set_new(o, "events_per_s",
				    json_real((double)events / secs));
		if (!b->json)
			printf("catch-up: %d subscriber(s), head %" PRIu64
			       ", %" PRIu64
			       " events in %.2f s: %.0f entries/s, "
			       "%.0f events/s (all subscribers together)\n",
			       b->n_subs, b->head, events, secs,
			       (double)b->head * b->n_subs / secs,
			       (double)events / secs);
	} else if (b->mode == MODE_LIVE) {
		size_t n = 0, missing = 0;
		size_t total = (size_t)b->n_subs * b->n_changes;
		uint64_t *from_ack = malloc(total * sizeof(uint64_t));
		uint64_t *from_send = malloc(total * sizeof(uint64_t));
		size_t n_send = 0;
		int64_t min_ack = INT64_MAX;
		for (int i = 0; i < b->n_subs; i++)
			for (uint64_t k = 0; k < b->answered; k++) {
				uint64_t r =
				    b->recv[(size_t)i * b->n_changes + k];
				if (r == 0) {
					missing++;
					continue;
				}
				int64_t d = (int64_t)r - (int64_t)b->t_ack[k];
				if (d < min_ack)
					min_ack = d;
				from_ack[n++] = d > 0 ? (uint64_t)d : 0;
				from_send[n_send++] = r - b->t_sent_by_seq[k];
			}
		qsort(from_ack, n, sizeof(uint64_t), cmp_u64);
		qsort(from_send, n_send, sizeof(uint64_t), cmp_u64);
		json_object_set_new(o, "changes",
				    json_integer((json_int_t)b->answered));
		json_object_set_new(o, "deliveries",
				    json_integer((json_int_t)n));
		json_object_set_new(o, "missing",
				    json_integer((json_int_t)missing));
		uint64_t ev_bytes = 0, ev_n = 0;
		for (int i = 0; i < b->n_subs; i++) {
			ev_bytes += b->subs[i].bytes;
			ev_n += b->subs[i].events;
		}
		json_object_set_new(
		    o, "event_bytes",
		    json_real(ev_n > 0 ? (double)ev_bytes / (double)ev_n : 0));
		json_object_set_new(o, "after_ack_p50_ms",
				    json_real(pct(from_ack, n, 50)));
		json_object_set_new(o, "after_ack_p99_ms",
				    json_real(pct(from_ack, n, 99)));
		json_object_set_new(o, "after_ack_p999_ms",
				    json_real(pct(from_ack, n, 99.9)));
		json_object_set_new(o, "after_ack_max_ms",
				    json_real(pct(from_ack, n, 100)));
		json_object_set_new(
		    o, "before_ack_ms",
		    json_real(min_ack < 0 ? -min_ack / 1000.0 : 0));
		json_object_set_new(o, "after_send_p50_ms",
				    json_real(pct(from_send, n_send, 50)));
		json_object_set_new(o, "after_send_p99_ms",
				    json_real(pct(from_send, n_send, 99)));
		json_object_set_new(o, "after_send_max_ms",
				    json_real(pct(from_send, n_send, 100)));
		double per = n > 0 ? (double)n : 1;
		json_object_set_new(
		    o, "bench_cpu_us_per_delivery",
		    json_real((double)(b->cpu_self1 - b->cpu_self0) / per));
		if (b->daemon_pid > 0)
			json_object_set_new(o, "daemon_cpu_us_per_delivery",
					    json_real((double)(b->cpu_daemon1 -
							       b->cpu_daemon0) /
						      per));
		if (!b->json)
			printf("live: %d subscribers, %" PRIu64
			       " changes, %zu deliveries (%zu missing); "
			       "commit-to-delivery (from the writer's answer) "
			       "p50 %.2f ms p99 %.2f ms p99.9 %.2f ms max %.2f "
			       "ms; from the request p50 %.2f ms p99 %.2f ms\n",
			       b->n_subs, b->answered, n, missing,
			       pct(from_ack, n, 50), pct(from_ack, n, 99),
			       pct(from_ack, n, 99.9), pct(from_ack, n, 100),
			       pct(from_send, n_send, 50),
			       pct(from_send, n_send, 99));
		free(from_ack);
		free(from_send);
	}
	if (b->json) {
		char *s = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
	}
	json_decref(o);
	return b->error[0] != '\0' ? 1 : 0;
}

static void on_signal(uv_signal_t *h, int signum)
{
	finish(h->data);
}

static int parse_server(struct bench *b, const char *server)
{
	char host[64];
	const char *colon = strrchr(server, ':');
	if (colon == NULL || (size_t)(colon - server) >= sizeof(host))
		return -1;
	memcpy(host, server, (size_t)(colon - server));
	host[colon - server] = '\0';
	if (strcmp(host, "127.0.0.1") != 0)
		return -1; /* loopback only */
	return uv_ip4_addr(host, atoi(colon + 1), &b->addr) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"server", required_argument, NULL, 's'},
	    {"ca", required_argument, NULL, 'a'},
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"writer-cert", required_argument, NULL, 'C'},
	    {"writer-key", required_argument, NULL, 'K'},
	    {"subscribers", required_argument, NULL, 'n'},
	    {"changes", required_argument, NULL, 'm'},
	    {"rate", required_argument, NULL, 'r'},
	    {"never-read", no_argument, NULL, 'N'},
	    {"daemon-pid", required_argument, NULL, 'p'},
	    {"json", no_argument, NULL, 'j'},
	    {"threads", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct bench b = {.loop = uv_default_loop(),
			  .n_subs = 1,
			  .n_workers = 1,
			  .n_changes = 1000,
			  .rate = 100};
	const char *server = NULL, *ca = NULL, *cert = NULL, *key = NULL;
	const char *wcert = NULL, *wkey = NULL;
	char err[512];
	int ch;

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			server = optarg;
			break;
		case 'a':
			ca = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'C':
			wcert = optarg;
			break;
		case 'K':
			wkey = optarg;
			break;
		case 'n':
			b.n_subs = atoi(optarg);
			break;
		case 'm':
			b.n_changes = strtoull(optarg, NULL, 10);
			break;
		case 'r':
			b.rate = strtoull(optarg, NULL, 10);
			break;
		case 'N':
			b.never_read = true;
			break;
		case 'p':
			b.daemon_pid = atoi(optarg);
			break;
		case 'j':
			b.json = true;
			break;
		case 't':
			b.n_workers = atoi(optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind + 1 != argc || server == NULL || ca == NULL ||
	    cert == NULL || key == NULL || b.n_subs < 1 ||
	    b.n_subs > MAX_SUBSCRIBERS || b.n_changes < 1 ||
	    b.n_changes > MAX_CHANGES || b.rate < 1 || b.rate > 1000 ||
	    b.n_workers < 1 || b.n_workers > MAX_THREADS ||
	    b.n_workers > b.n_subs) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (strcmp(argv[optind], "catchup") == 0)
		b.mode = MODE_CATCHUP;
	else if (strcmp(argv[optind], "live") == 0)
		b.mode = MODE_LIVE;
	else if (strcmp(argv[optind], "hold") == 0)
		b.mode = MODE_HOLD;
	else {
		fputs(usage_text, stderr);
		return 2;
	}
	if (parse_server(&b, server) != 0) {
		fprintf(stderr,
			"sync-bench: --server must be 127.0.0.1:PORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct tls_ctx_opts t = {.ca = ca, .cert = cert, .key = key};
	for (int i = 0; i < b.n_workers; i++)
		if (tls_ctx_new(&b.workers[i].ctx, &t, err, sizeof(err)) != 0) {
			fprintf(stderr, "sync-bench: %s\n", err);
			return 1;
		}
	b.subs = calloc((size_t)b.n_subs, sizeof(*b.subs));
	if (b.mode == MODE_LIVE) {
		size_t total = (size_t)b.n_subs * b.n_changes;
		b.recv = calloc(total, sizeof(uint64_t));
		b.t_send = calloc(b.n_changes, sizeof(uint64_t));
		b.t_ack = calloc(b.n_changes, sizeof(uint64_t));
		b.t_sent_by_seq = calloc(b.n_changes, sizeof(uint64_t));
		if (b.recv == NULL || b.t_send == NULL || b.t_ack == NULL ||
		    b.t_sent_by_seq == NULL) {
			fprintf(stderr, "sync-bench: out of memory\n");
			return 1;
		}
	}
	if (b.subs == NULL)
		return 1;
	uv_mutex_init(&b.error_lock);
	uv_async_init(b.loop, &b.go, on_go);
	uv_async_init(b.loop, &b.done, on_done);
	b.go.data = b.done.data = &b;
	for (int i = 0; i < b.n_workers; i++) {
		struct worker *w = &b.workers[i];
		w->b = &b;
		w->loop = i == 0 ? b.loop : &w->loop_storage;
		if (i > 0 && uv_loop_init(w->loop) != 0) {
			fprintf(stderr, "sync-bench: cannot make a loop\n");
			return 1;
		}
		uv_async_init(w->loop, &w->stop, on_stop);
		w->stop.data = w;
	}
	uv_signal_init(b.loop, &b.sigint);
	uv_signal_init(b.loop, &b.sigterm);
	b.sigint.data = b.sigterm.data = &b;
	uv_signal_start(&b.sigint, on_signal, SIGINT);
	uv_signal_start(&b.sigterm, on_signal, SIGTERM);
	uv_timer_init(b.loop, &b.timer);
	b.timer.data = &b;
	for (int i = 0; i < b.n_subs; i++) {
		struct sub *s = &b.subs[i];
		s->b = &b;
		s->w = &b.workers[i % b.n_workers];
		s->index = i;
		int rv = stream_connect(
		    &s->stream, s->w->loop, (const struct sockaddr *)&b.addr,
		    s->w->ctx, "127.0.0.1", 16u << 20, &sub_callbacks, s);
		if (rv != 0) {
			fprintf(stderr, "sync-bench: cannot connect: %s\n",
				ipsnet_strerror(rv));
			return 1;
		}
	}
	if (b.mode == MODE_LIVE) {
		b.writer = (struct ipsnet_options){
		    .server = server,
		    .ca = ca,
		    .cert = wcert != NULL ? wcert : cert,
		    .key = wkey != NULL ? wkey : key,
		    .user = "bench",
		    .timeout_ms = 30000,
		};
		if (ipsnet_connect(b.loop, &b.writer, &writer_callbacks, &b,
				   &b.wconn, err, sizeof(err)) != 0) {
			fprintf(stderr, "sync-bench: writer: %s\n", err);
			return 1;
		}
	}
	for (int i = 1; i < b.n_workers; i++)
		if (uv_thread_create(&b.workers[i].thread, worker_run,
				     &b.workers[i]) != 0) {
			fprintf(stderr, "sync-bench: cannot start a thread\n");
			return 1;
		}
	uv_run(b.loop, UV_RUN_DEFAULT);
	for (int i = 1; i < b.n_workers; i++) {
		uv_thread_join(&b.workers[i].thread);
		uv_loop_close(b.workers[i].loop);
	}
	int rv = report(&b);
	uv_loop_close(b.loop);
	uv_mutex_destroy(&b.error_lock);
	for (int i = 0; i < b.n_workers; i++)
		SSL_CTX_free(b.workers[i].ctx);
	free(b.subs);
	free(b.recv);
	free(b.t_send);
	free(b.t_ack);
	free(b.t_sent_by_seq);
	return rv;
}
