/* ipsnet-load: a load generator for ipsnetd's write path.
 *
 * One libuv loop, libipsnet's asynchronous API, N connections with D
 * pipelined RegisterClient changes each. Every change has a fresh
 * idempotency key and a BSN nobody used before in this run; its latency is
 * the time from ipsnet_request to the answer (monotonic clock). At the end
 * it prints durable changes per second, p50/p99/p99.9 latency and the
 * refusals by status.
 *
 * --ping sends Pings instead, which the daemon answers on its loop without
 * the journal: the round trip of a request through TLS and the loop alone,
 * the part of a change's latency that no journal work can take away.
 *
 * --record FILE appends "KEYHEX SEQ CLIENT_ID" for every acknowledged change
 * with one write(2) as the answer arrives, for the crash test: when the
 * daemon is killed the connections drop, the tool prints what it counted
 * and exits 0.
 *
 * Bounded: --duration or --count is required, and only loopback servers are
 * accepted. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <uv.h>

#include "config.h"
#include "ipsnet.h"
#include "util.h"

#define MAX_CONNECTIONS 4096
#define MAX_INFLIGHT 4096
#define MAX_SECONDS 3600
#define MAX_COUNT 100000000ULL
/* In duration mode the latency array holds this many answers a second. */
#define SAMPLES_PER_SECOND 400000ULL
#define DRAIN_DEADLINE_MS 10000
#define BSN_PREFIXES 100000000ULL /* 8 digits; the 9th is the check digit */
#define N_STATUS 17		  /* wire codes OK .. UNAUTHENTICATED */

static const char usage_text[] =
    "usage: ipsnet-load --server HOST:PORT --ca FILE --cert FILE --key FILE\n"
    "                   (--duration S | --count N) [--connections N]\n"
    "                   [--inflight D] [--warmup S] [--record FILE] [--ping]\n"
    "                   [--json]\n"
    "\n"
    "Sends RegisterClient changes to ipsnetd as fast as the answers come and\n"
    "measures durable changes per second and the latency of acknowledged\n"
    "changes (from the request to its answer).\n"
    "\n"
    "  --server HOST:PORT  127.0.0.1:PORT or [::1]:PORT (loopback only)\n"
    "  --ca, --cert, --key the network CA and a GGZ organisation's\n"
    "                      certificate and key (only GGZ registers clients)\n"
    "  --connections N     connections on the one loop (default 1)\n"
    "  --inflight D        changes in flight on each connection (default 1:\n"
    "                      each client waits for every answer)\n"
    "  --duration S        measure for S seconds (answers that arrive in the\n"
    "                      window count), then let the rest finish\n"
    "  --count N           send exactly N changes after the warm-up; the\n"
    "                      window ends with the last answer\n"
    "  --warmup S          send for S seconds before measuring (default 0)\n"
    "  --record FILE       append 'KEYHEX SEQ CLIENT_ID' for every\n"
    "                      acknowledged change, as soon as it is answered\n"
    "  --ping              send Pings, not changes: the round trip without\n"
    "                      the journal (counted as changes in the output)\n"
    "  --bsn-start N       first 8-digit BSN prefix (default: random), so\n"
    "                      that runs against one database do not collide\n"
    "  --user NAME         the user in Hello (default 'bench')\n"
    "  --timeout-ms MS     connect, TLS and Hello deadline (default 10000)\n"
    "  --json              print the result as one JSON object\n"
    "\n"
    "Exit status: 0 when the run ended, also when the server went away or\n"
    "could not be reached (the counts say what happened); 1 when the record\n"
    "file could not be written; 2 on wrong usage.\n";

enum phase {
	PHASE_CONNECTING,
	PHASE_WARMUP,
	PHASE_MEASURE,
	PHASE_DRAIN,
	PHASE_CLOSING,
};

struct load;
struct lconn;

/* One change in flight. */
struct slot {
	struct lconn *lc;
	uint64_t sent_ns;
	bool measured; /* sent in the measured part of a --count run */
	uint8_t key[16];
	struct slot *next_free;
};

struct lconn {
	struct load *L;
	struct ipsnet_conn *conn;
	bool ready;
	bool closed;
	unsigned inflight;
	struct slot *free_slots;
	struct slot *slots;
};

struct options {
	const char *server;
	const char *ca, *cert, *key, *user;
	const char *record;
	unsigned connections, inflight;
	double duration_s, warmup_s;
	uint64_t count;
	bool have_bsn_start;
	uint64_t bsn_start;
	uint32_t timeout_ms;
	bool json;
	bool ping;
};

struct load {
	struct options o;
	uv_loop_t loop;
	uv_timer_t phase_timer; /* warm-up end, then window end */
	uv_timer_t drain_timer;
	uv_signal_t sig_int, sig_term;
	struct lconn *conns;
	unsigned n_ready, n_failed, n_alive;
	char connect_error[320];
	char close_error[320];
	enum phase phase;
	const char *ended; /* why the run ended */
	int record_fd;
	int record_error; /* errno of a failed record write */

	/* BSNs: 8-digit prefixes walked from a random start. */
	uint64_t bsn_next;
	uint64_t serial;

	uint64_t run_start_ns, t0_ns, t1_ns;
	uint64_t sent_measured; /* --count: changes sent after the warm-up */
	uint64_t done_measured; /* --count: their answers */

	/* Counted in the window. */
	uint64_t acked;
	uint64_t refused[N_STATUS];
	uint64_t no_answer;
	uint32_t *lat_us;
	uint64_t lat_n, lat_cap, lat_dropped;
	uint64_t lat_max_us;

	/* Counted over the whole run. */
	uint64_t acked_total, refused_total, no_answer_total, sent_total;
};

static void start_closing(struct load *L);
static void start_drain(struct load *L);
static void send_more(struct lconn *lc);

static uint64_t now_ns(void)
{
	return uv_hrtime();
}

/* ---- arguments ---------------------------------------------------------- */

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "ipsnet-load: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n\n%s", usage_text);
	return 2;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (s == NULL || *s == '\0' || *s == '-')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_seconds(const char *s, double min, double *out)
{
	char *end;
	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= min) || v > MAX_SECONDS)
		return false;
	*out = v;
	return true;
}

/* Only the loopback: a load test never leaves this machine. */
static bool server_is_loopback(const char *server)
{
	char host[128];
	int port;
	struct in_addr a4;
	struct in6_addr a6;

	if (config_split_hostport(server, host, sizeof(host), &port) != 0 ||
	    port <= 0)
		return false;
	if (inet_pton(AF_INET, host, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	if (inet_pton(AF_INET6, host, &a6) == 1)
		return IN6_IS_ADDR_LOOPBACK(&a6);
	return false;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum {
		O_SERVER = 1000,
		O_CA,
		O_CERT,
		O_KEY,
		O_CONNECTIONS,
		O_INFLIGHT,
		O_DURATION,
		O_COUNT,
		O_WARMUP,
		O_RECORD,
		O_JSON,
		O_BSN_START,
		O_USER,
		O_TIMEOUT,
		O_PING,
		O_HELP,
	};
	static const struct option longopts[] = {
	    {"server", required_argument, NULL, O_SERVER},
	    {"ca", required_argument, NULL, O_CA},
	    {"cert", required_argument, NULL, O_CERT},
	    {"key", required_argument, NULL, O_KEY},
	    {"connections", required_argument, NULL, O_CONNECTIONS},
	    {"inflight", required_argument, NULL, O_INFLIGHT},
	    {"duration", required_argument, NULL, O_DURATION},
	    {"count", required_argument, NULL, O_COUNT},
	    {"warmup", required_argument, NULL, O_WARMUP},
	    {"record", required_argument, NULL, O_RECORD},
	    {"json", no_argument, NULL, O_JSON},
	    {"bsn-start", required_argument, NULL, O_BSN_START},
	    {"user", required_argument, NULL, O_USER},
	    {"timeout-ms", required_argument, NULL, O_TIMEOUT},
	    {"ping", no_argument, NULL, O_PING},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	uint64_t v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->connections = 1;
	o->inflight = 1;
	o->user = "bench";
	o->timeout_ms = 10000;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case O_SERVER:
			o->server = optarg;
			break;
		case O_CA:
			o->ca = optarg;
			break;
		case O_CERT:
			o->cert = optarg;
			break;
		case O_KEY:
			o->key = optarg;
			break;
		case O_CONNECTIONS:
			if (!parse_u64(optarg, 1, MAX_CONNECTIONS, &v))
				return usage_error("--connections must be 1 to "
						   "4096, not '%s'",
						   optarg);
			o->connections = (unsigned)v;
			break;
		case O_INFLIGHT:
			if (!parse_u64(optarg, 1, MAX_INFLIGHT, &v))
				return usage_error("--inflight must be 1 to "
						   "4096, not '%s'",
						   optarg);
			o->inflight = (unsigned)v;
			break;
		case O_DURATION:
			if (!parse_seconds(optarg, 0.001, &o->duration_s))
				return usage_error(
				    "--duration must be seconds, "
				    "more than 0 and at most "
				    "3600, not '%s'",
				    optarg);
			break;
		case O_COUNT:
			if (!parse_u64(optarg, 1, MAX_COUNT, &o->count))
				return usage_error("--count must be 1 to "
						   "100000000, not '%s'",
						   optarg);
			break;
		case O_WARMUP:
			if (!parse_seconds(optarg, 0, &o->warmup_s))
				return usage_error("--warmup must be 0 to 3600 "
						   "seconds, not '%s'",
						   optarg);
			break;
		case O_RECORD:
			o->record = optarg;
			break;
		case O_JSON:
			o->json = true;
			break;
		case O_BSN_START:
			if (!parse_u64(optarg, 0, BSN_PREFIXES - 1,
				       &o->bsn_start))
				return usage_error("--bsn-start must be 0 to "
						   "99999999, not '%s'",
						   optarg);
			o->have_bsn_start = true;
			break;
		case O_USER:
			o->user = optarg;
			break;
		case O_TIMEOUT:
			if (!parse_u64(optarg, 100, 600000, &v))
				return usage_error(
				    "--timeout-ms must be 100 to "
				    "600000, not '%s'",
				    optarg);
			o->timeout_ms = (uint32_t)v;
			break;
		case O_PING:
			o->ping = true;
			break;
		case O_HELP:
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind < argc)
		return usage_error("unexpected argument '%s'", argv[optind]);
	if (o->server == NULL || o->ca == NULL || o->cert == NULL ||
	    o->key == NULL)
		return usage_error("%s", "--server, --ca, --cert and --key are "
					 "needed");
	if (!server_is_loopback(o->server))
		return usage_error("--server must be 127.0.0.1:PORT or "
				   "[::1]:PORT (a load test stays on this "
				   "machine), not '%s'",
				   o->server);
	if (o->ping && o->record != NULL)
		return usage_error("%s", "--record needs changes; a --ping run "
					 "makes none");
	if ((o->duration_s > 0) == (o->count > 0))
		return usage_error("%s", "give exactly one of --duration and "
					 "--count: the run must be bounded");
	return 0;
}

/* ---- the changes -------------------------------------------------------- */

/* The next valid BSN: 8 digits from the walk, the 9th chosen so that
 * 9*d1 + 8*d2 + ... + 2*d8 - d9 is a multiple of 11 (prefixes that would
 * need a check digit of 10, or whose whole sum would be 0, are skipped). */
static void next_bsn(struct load *L, char out[10])
{
	for (;;) {
		uint64_t p = L->bsn_next;
		L->bsn_next = (L->bsn_next + 1) % BSN_PREFIXES;
		int sum = 0;
		for (int i = 7; i >= 0; i--) {
			int d = (int)(p % 10);
			p /= 10;
			out[i] = (char)('0' + d);
			sum += (9 - i) * d;
		}
		int check = sum % 11;
		if (check == 10 || sum - check == 0)
			continue;
		out[8] = (char)('0' + check);
		out[9] = '\0';
		return;
	}
}

static void record_ack(struct load *L, const uint8_t key[16],
		       const Ipsnet__V1__Envelope *resp)
{
	char line[256];
	char hex[33];
	const Ipsnet__V1__ChangeOk *ok =
	    resp->body_case == IPSNET__V1__ENVELOPE__BODY_CHANGE_OK
		? resp->change_ok
		: NULL;

	if (L->record_fd < 0 || L->record_error != 0)
		return;
	util_hex(hex, sizeof(hex), key, 16);
	int n = snprintf(line, sizeof(line), "%s %" PRIu64 " %s\n", hex,
			 ok != NULL ? ok->seq : 0,
			 ok != NULL && ok->entity_id != NULL &&
				 ok->entity_id[0] != '\0'
			     ? ok->entity_id
			     : "-");
	if (n <= 0 || (size_t)n >= sizeof(line))
		return;
	size_t off = 0;
	while (off < (size_t)n) {
		ssize_t w = write(L->record_fd, line + off, (size_t)n - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			L->record_error = w < 0 ? errno : EIO;
			fprintf(stderr,
				"ipsnet-load: cannot write to the record file "
				"'%s': %s; stopping\n",
				L->o.record, strerror(L->record_error));
			start_closing(L);
			return;
		}
		off += (size_t)w;
	}
}

static void count_latency(struct load *L, uint64_t lat_us)
{
	if (lat_us > L->lat_max_us)
		L->lat_max_us = lat_us;
	if (L->lat_n < L->lat_cap)
		L->lat_us[L->lat_n++] =
		    lat_us > UINT32_MAX ? UINT32_MAX : (uint32_t)lat_us;
	else
		L->lat_dropped++;
}

static void answered(struct ipsnet_conn *c, int status, const char *message,
		     const Ipsnet__V1__Envelope *resp, void *arg)
{
	struct slot *s = arg;
	struct lconn *lc = s->lc;
	struct load *L = lc->L;
	uint64_t t = now_ns();
	uint64_t lat_us = (t - s->sent_ns) / 1000;
	bool in_window =
	    L->o.count > 0 ? s->measured : L->phase == PHASE_MEASURE;
	bool ok = status == 0 && resp != NULL;

	if (ok) {
		L->acked_total++;
		record_ack(L, s->key, resp);
	} else if (resp != NULL) {
		L->refused_total++;
	} else {
		L->no_answer_total++;
	}
	if (in_window) {
		if (ok) {
			L->acked++;
			count_latency(L, lat_us);
		} else if (resp != NULL) {
			int code = resp->status != NULL
				       ? (int)resp->status->code
				       : IPSNET__V1__CODE__UNKNOWN;
			if (code < 0 || code >= N_STATUS)
				code = IPSNET__V1__CODE__UNKNOWN;
			L->refused[code]++;
		} else {
			L->no_answer++;
		}
		if (L->o.count > 0)
			L->done_measured++;
	}
	if (!ok && resp != NULL && L->refused_total == 1)
		fprintf(stderr, "ipsnet-load: first refusal: %s\n",
			message != NULL ? message : "(no message)");

	s->next_free = lc->free_slots;
	lc->free_slots = s;
	lc->inflight--;

	if (L->o.count > 0 && L->phase == PHASE_MEASURE &&
	    L->done_measured == L->o.count) {
		L->t1_ns = t;
		L->ended = "count reached";
		/* Warm-up stragglers may still be on their way: let them
		 * finish, so that what the server applied is recorded. */
		start_drain(L);
		return;
	}
	if (L->phase == PHASE_DRAIN) {
		bool idle = true;
		for (unsigned i = 0; i < L->o.connections && idle; i++)
			idle = L->conns[i].inflight == 0;
		if (idle)
			start_closing(L);
		return;
	}
	if (resp != NULL)
		send_more(lc);
	(void)c;
}


/* Fills the connection up to D changes in flight. */
static void send_more(struct lconn *lc)
{
	struct load *L = lc->L;

	while (lc->free_slots != NULL && lc->ready && !lc->closed &&
	       (L->phase == PHASE_WARMUP || L->phase == PHASE_MEASURE)) {
		if (L->o.count > 0 && L->phase == PHASE_MEASURE &&
		    L->sent_measured == L->o.count)
			return;

		Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__RegisterClient rc =
		    IPSNET__V1__REGISTER_CLIENT__INIT;
		Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
		char bsn[10], name[48], birth[11];
		struct slot *s = lc->free_slots;
		uint64_t n = L->serial++;

		if (L->o.ping) {
			ping.client_time_us = n;
			env.body_case = IPSNET__V1__ENVELOPE__BODY_PING;
			env.ping = &ping;
		} else if (ipsnet_new_idempotency_key(s->key) != 0) {
			fprintf(stderr, "ipsnet-load: no randomness for an "
					"idempotency key\n");
			start_closing(L);
			return;
		} else {
			next_bsn(L, bsn);
			snprintf(name, sizeof(name), "Bench Client %" PRIu64,
				 n);
			snprintf(birth, sizeof(birth), "19%02u-%02u-%02u",
				 (unsigned)(50 + n % 50),
				 (unsigned)(1 + n % 12),
				 (unsigned)(1 + n % 28));
			rc.bsn = bsn;
			rc.name = name;
			rc.birth_date = birth;
			rc.municipality = "GM0363";
			rc.benefit =
			    (Ipsnet__V1__Benefit)(IPSNET__V1__BENEFIT__BENEFIT_NONE +
						  (int)(n % 6));
			env.idempotency_key.data = s->key;
			env.idempotency_key.len = sizeof(s->key);
			env.body_case =
			    IPSNET__V1__ENVELOPE__BODY_REGISTER_CLIENT;
			env.register_client = &rc;
		}

		s->measured = L->o.count > 0 && L->phase == PHASE_MEASURE;
		s->sent_ns = now_ns();
		lc->free_slots = s->next_free;
		lc->inflight++;
		int rv = ipsnet_request(lc->conn, &env, answered, s);
		if (rv != 0) {
			/* The connection is going; on_closed will say why. */
			lc->inflight--;
			s->next_free = lc->free_slots;
			lc->free_slots = s;
			return;
		}
		L->sent_total++;
		if (s->measured)
			L->sent_measured++;
	}
}

/* ---- phases ------------------------------------------------------------- */

static void handle_closed(uv_handle_t *h)
{
	(void)h;
}

static void close_own_handles(struct load *L)
{
	uv_handle_t *hs[] = {
	    (uv_handle_t *)&L->phase_timer, (uv_handle_t *)&L->drain_timer,
	    (uv_handle_t *)&L->sig_int, (uv_handle_t *)&L->sig_term};
	for (size_t i = 0; i < ARRAY_SIZE(hs); i++)
		if (!uv_is_closing(hs[i]))
			uv_close(hs[i], handle_closed);
}

static void maybe_finish(struct load *L)
{
	if (L->phase == PHASE_CLOSING && L->n_alive == 0)
		close_own_handles(L);
}

static void start_closing(struct load *L)
{
	if (L->phase == PHASE_CLOSING)
		return;
	if (L->phase == PHASE_MEASURE || L->phase == PHASE_DRAIN) {
		if (L->t1_ns == 0)
			L->t1_ns = now_ns();
	}
	L->phase = PHASE_CLOSING;
	uv_timer_stop(&L->phase_timer);
	uv_timer_stop(&L->drain_timer);
	for (unsigned i = 0; i < L->o.connections; i++) {
		struct lconn *lc = &L->conns[i];
		if (lc->conn != NULL && !lc->closed)
			ipsnet_close(lc->conn);
	}
	maybe_finish(L);
}

static void drain_deadline(uv_timer_t *t)
{
	struct load *L = container_of(t, struct load, drain_timer);
	fprintf(stderr,
		"ipsnet-load: answers still missing %d ms after the "
		"window; closing\n",
		DRAIN_DEADLINE_MS);
	start_closing(L);
}

static void start_drain(struct load *L)
{
	L->phase = PHASE_DRAIN;
	bool idle = true;
	for (unsigned i = 0; i < L->o.connections && idle; i++)
		idle = L->conns[i].inflight == 0;
	if (idle) {
		start_closing(L);
		return;
	}
	uv_timer_start(&L->drain_timer, drain_deadline, DRAIN_DEADLINE_MS, 0);
}

static void window_end(uv_timer_t *t)
{
	struct load *L = container_of(t, struct load, phase_timer);
	L->t1_ns = now_ns();
	L->ended = "duration reached";
	start_drain(L);
}

static void begin_measure(struct load *L)
{
	L->phase = PHASE_MEASURE;
	L->t0_ns = now_ns();
	if (L->o.duration_s > 0)
		uv_timer_start(&L->phase_timer, window_end,
			       (uint64_t)(L->o.duration_s * 1000 + 0.5), 0);
	/* A --count run starts sending its measured changes at once. */
	for (unsigned i = 0; i < L->o.connections; i++)
		send_more(&L->conns[i]);
}

static void warmup_end(uv_timer_t *t)
{
	begin_measure(container_of(t, struct load, phase_timer));
}

static void start_run(struct load *L)
{
	L->run_start_ns = now_ns();
	if (L->o.warmup_s > 0) {
		L->phase = PHASE_WARMUP;
		uv_timer_start(&L->phase_timer, warmup_end,
			       (uint64_t)(L->o.warmup_s * 1000 + 0.5), 0);
		for (unsigned i = 0; i < L->o.connections; i++)
			send_more(&L->conns[i]);
	} else {
		begin_measure(L);
	}
}

static void on_ready(struct ipsnet_conn *c, int status, const char *message,
		     void *arg)
{
	struct lconn *lc = arg;
	struct load *L = lc->L;

	if (status == 0) {
		lc->ready = true;
		L->n_ready++;
	} else {
		L->n_failed++;
		if (L->connect_error[0] == '\0')
			util_strlcpy(L->connect_error,
				     message != NULL ? message
						     : ipsnet_strerror(status),
				     sizeof(L->connect_error));
	}
	if (L->phase == PHASE_CONNECTING &&
	    L->n_ready + L->n_failed == L->o.connections) {
		if (L->n_ready == 0) {
			L->ended = "no connection";
			start_closing(L);
		} else {
			start_run(L);
		}
	}
	(void)c;
}

static void on_closed(struct ipsnet_conn *c, int status, const char *message,
		      void *arg)
{
	struct lconn *lc = arg;
	struct load *L = lc->L;

	lc->closed = true;
	lc->conn = NULL;
	L->n_alive--;
	if (status != 0 && lc->ready && L->close_error[0] == '\0' &&
	    L->phase != PHASE_CLOSING)
		util_strlcpy(L->close_error,
			     message != NULL ? message
					     : ipsnet_strerror(status),
			     sizeof(L->close_error));
	if (L->phase != PHASE_CLOSING && lc->ready) {
		/* The server went away (or closed this connection): no
		 * reconnecting, the run ends with what was answered. */
		if (L->ended == NULL)
			L->ended = "server closed the connection";
		start_closing(L);
	}
	maybe_finish(L);
	(void)c;
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct load *L = h->data;
	if (L->ended == NULL)
		L->ended = signum == SIGINT ? "interrupted" : "terminated";
	if (L->phase == PHASE_WARMUP || L->phase == PHASE_MEASURE) {
		L->t1_ns = now_ns();
		start_drain(L);
	} else {
		start_closing(L);
	}
}

/* ---- the report --------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* The q-quantile (nearest rank) in milliseconds of the sorted array. */
static double quantile_ms(const uint32_t *v, uint64_t n, double q)
{
	if (n == 0)
		return 0;
	uint64_t rank = (uint64_t)(q * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return v[rank - 1] / 1000.0;
}

static void report(struct load *L)
{
	const struct options *o = &L->o;
	double measured_s = L->t1_ns > L->t0_ns && L->t0_ns != 0
				? (double)(L->t1_ns - L->t0_ns) / 1e9
				: 0;
	double rate = measured_s > 0 ? (double)L->acked / measured_s : 0;
	uint64_t refused = 0;

	qsort(L->lat_us, (size_t)L->lat_n, sizeof(*L->lat_us), cmp_u32);
	double p50 = quantile_ms(L->lat_us, L->lat_n, 0.50);
	double p99 = quantile_ms(L->lat_us, L->lat_n, 0.99);
	double p999 = quantile_ms(L->lat_us, L->lat_n, 0.999);
	double max = (double)L->lat_max_us / 1000.0;
	for (int i = 0; i < N_STATUS; i++)
		refused += L->refused[i];

	if (o->json) {
		json_t *errors = json_object();
		for (int i = 0; i < N_STATUS; i++)
			if (L->refused[i] > 0)
				json_object_set_new(
				    errors, ipsnet_status_name(i),
				    json_integer((json_int_t)L->refused[i]));
		json_t *root = json_pack(
		    "{s:i, s:i, s:i, s:i, s:f, s:f, s:I, s:f, "
		    "s:{s:f, s:f, s:f, s:f, s:I}, s:o, s:I, s:I, "
		    "s:{s:I, s:I, s:I, s:I}, s:s, s:s, s:s}",
		    "connections", (int)o->connections, "inflight",
		    (int)o->inflight, "connected", (int)L->n_ready,
		    "connect_failed", (int)L->n_failed, "warmup_s", o->warmup_s,
		    "measured_s", measured_s, "acknowledged",
		    (json_int_t)L->acked, "changes_per_s", rate, "latency_ms",
		    "p50", p50, "p99", p99, "p999", p999, "max", max,
		    "samples_dropped", (json_int_t)L->lat_dropped, "refused",
		    errors, "refused_total", (json_int_t)refused, "no_answer",
		    (json_int_t)L->no_answer, "run", "sent",
		    (json_int_t)L->sent_total, "acknowledged",
		    (json_int_t)L->acked_total, "refused",
		    (json_int_t)L->refused_total, "no_answer",
		    (json_int_t)L->no_answer_total, "ended",
		    L->ended != NULL ? L->ended : "", "connect_error",
		    L->connect_error, "close_error", L->close_error);
		if (root != NULL) {
			char *s = json_dumps(root, JSON_COMPACT);
			if (s != NULL)
				printf("%s\n", s);
			free(s);
			json_decref(root);
		}
		return;
	}
	printf("connections=%u inflight=%u connected=%u connect_failed=%u "
	       "warmup_s=%.1f measured_s=%.3f\n",
	       o->connections, o->inflight, L->n_ready, L->n_failed,
	       o->warmup_s, measured_s);
	printf("acknowledged=%" PRIu64 " changes_per_s=%.1f p50_ms=%.3f "
	       "p99_ms=%.3f p999_ms=%.3f max_ms=%.3f\n",
	       L->acked, rate, p50, p99, p999, max);
	printf("refused=%" PRIu64, refused);
	for (int i = 0; i < N_STATUS; i++)
		if (L->refused[i] > 0)
			printf(" %s=%" PRIu64, ipsnet_status_name(i),
			       L->refused[i]);
	printf(" no_answer=%" PRIu64 "\n", L->no_answer);
	printf("run_sent=%" PRIu64 " run_acknowledged=%" PRIu64
	       " run_refused=%" PRIu64 " run_no_answer=%" PRIu64
	       " ended=\"%s\"\n",
	       L->sent_total, L->acked_total, L->refused_total,
	       L->no_answer_total, L->ended != NULL ? L->ended : "");
	if (L->lat_dropped > 0)
		printf("note: %" PRIu64 " latencies beyond the array were not "
		       "kept; percentiles cover the first %" PRIu64 "\n",
		       L->lat_dropped, L->lat_n);
	if (L->connect_error[0] != '\0')
		fprintf(stderr,
			"ipsnet-load: %u of %u connections failed: %s\n",
			L->n_failed, o->connections, L->connect_error);
	if (L->close_error[0] != '\0')
		fprintf(stderr, "ipsnet-load: connection lost: %s\n",
			L->close_error);
}

/* ---- main --------------------------------------------------------------- */

static uint64_t random_bsn_start(void)
{
	uint64_t r = 0;
	if (util_random(&r, sizeof(r)) != 0)
		r = uv_hrtime();
	return r % BSN_PREFIXES;
}

int main(int argc, char **argv)
{
	static struct load load;
	struct load *L = &load;
	char err[512];
	int rv = parse_args(argc, argv, &L->o);
	if (rv != 0)
		return rv;
	const struct options *o = &L->o;

	signal(SIGPIPE, SIG_IGN);
	L->record_fd = -1;
	L->bsn_next = o->have_bsn_start ? o->bsn_start : random_bsn_start();
	L->lat_cap = o->count > 0
			 ? o->count
			 : (uint64_t)(o->duration_s + 1) * SAMPLES_PER_SECOND;
	L->lat_us = malloc((size_t)L->lat_cap * sizeof(*L->lat_us));
	L->conns = calloc(o->connections, sizeof(*L->conns));
	if (L->lat_us == NULL || L->conns == NULL) {
		fprintf(stderr, "ipsnet-load: out of memory\n");
		return 1;
	}
	if (o->record != NULL) {
		L->record_fd = open(
		    o->record, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (L->record_fd < 0) {
			fprintf(stderr, "ipsnet-load: cannot open '%s': %s\n",
				o->record, strerror(errno));
			return 1;
		}
	}

	uv_loop_init(&L->loop);
	uv_timer_init(&L->loop, &L->phase_timer);
	uv_timer_init(&L->loop, &L->drain_timer);
	uv_signal_init(&L->loop, &L->sig_int);
	uv_signal_init(&L->loop, &L->sig_term);
	L->sig_int.data = L->sig_term.data = L;
	uv_signal_start(&L->sig_int, on_signal, SIGINT);
	uv_signal_start(&L->sig_term, on_signal, SIGTERM);

	struct ipsnet_options opts = {
	    .server = o->server,
	    .ca = o->ca,
	    .cert = o->cert,
	    .key = o->key,
	    .user = o->user,
	    .software = "ipsnet-load/" IPSNET_VERSION,
	    .timeout_ms = o->timeout_ms,
	};
	static const struct ipsnet_callbacks cb = {
	    .on_ready = on_ready,
	    .on_closed = on_closed,
	};
	int local_failure = 0;
	L->phase = PHASE_CONNECTING;
	for (unsigned i = 0; i < o->connections; i++) {
		struct lconn *lc = &L->conns[i];
		lc->L = L;
		lc->slots = calloc(o->inflight, sizeof(*lc->slots));
		if (lc->slots == NULL) {
			fprintf(stderr, "ipsnet-load: out of memory\n");
			local_failure = 1;
			break;
		}
		for (unsigned k = 0; k < o->inflight; k++) {
			lc->slots[k].lc = lc;
			lc->slots[k].next_free = lc->free_slots;
			lc->free_slots = &lc->slots[k];
		}
		rv = ipsnet_connect(&L->loop, &opts, &cb, lc, &lc->conn, err,
				    sizeof(err));
		if (rv != 0) {
			/* Certificates that do not load fail every
			 * connection alike: stop here. */
			fprintf(stderr, "ipsnet-load: %s\n", err);
			lc->closed = true;
			local_failure = 1;
			break;
		}
		L->n_alive++;
	}
	if (local_failure) {
		L->ended = "could not start";
		start_closing(L);
	}

	uv_run(&L->loop, UV_RUN_DEFAULT);
	if (uv_loop_close(&L->loop) != 0)
		fprintf(stderr, "ipsnet-load: the loop still had handles\n");
	if (!local_failure)
		report(L);
	if (L->record_fd >= 0 && close(L->record_fd) != 0 &&
	    L->record_error == 0)
		L->record_error = errno;
	for (unsigned i = 0; i < o->connections; i++)
		free(L->conns[i].slots);
	free(L->conns);
	free(L->lat_us);
	fflush(stdout);
	if (local_failure)
		return 1;
	return L->record_error != 0 ? 1 : 0;
}
