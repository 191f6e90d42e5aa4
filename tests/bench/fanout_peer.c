/* fanout-peer: the baseline of the sync benchmark's live latency.
 *
 * A peer server that speaks just enough of ipsnetd's protocol for
 * sync-bench's `live` mode, with the same TLS contexts (common/tls.c), the
 * same framed streams (common/stream.c) and the same parallel fan-out
 * (daemon/fanout.c, one thread a CPU) as ipsnetd, and nothing else: no
 * journal, no SQLite, no policy, no cut per organisation.
 *
 *   Hello      -> HelloOk with the head seq
 *   Subscribe  -> Subscribed and CaughtUp at the head; the stream is live
 *   a change   -> ChangeOk at head + 1 to the writer, then one Event of the
 *                 same shape as ipsnetd's (the client after registration)
 *                 serialized once and written to every live stream
 *
 * Measured with the same sync-bench against the same loopback and CPUs,
 * its latency is what a TLS fan-out costs here by itself; the daemon's
 * figure over it is the cost of everything ipsnet adds. Loopback only;
 * stops on SIGINT or SIGTERM. */
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uv.h>

#include "alloc.h"
#include "fanout.h"
#include "frame.h"
#include "ipsnet_errors.h"
#include "stream.h"
#include "tls.h"
#include "util.h"

#define MAX_PEERS 20000
#define MAX_FRAME (1u << 20)
#define PROTOCOL_VERSION 1 /* as daemon/conn.c */

static const char usage_text[] =
    "usage: fanout-peer --ca FILE --cert FILE --key FILE [--port N]\n"
    "                   [--threads N]\n"
    "\n"
    "  --cert, --key   the server's certificate and key\n"
    "  --port N        on 127.0.0.1 (default 0: any; the port is printed)\n"
    "  --threads N     fan-out threads, the loop's included (default: one\n"
    "                  a CPU, at most 8, as ipsnetd)\n";

struct peer {
	struct ipsnet_stream stream;
	struct server *srv;
	struct peer *next, *prev;
	bool live;
	int err; /* the fan-out's result for this stream */
};

struct server {
	uv_loop_t *loop;
	uv_tcp_t listener;
	uv_signal_t sigint, sigterm;
	SSL_CTX *ctx;
	struct fanout *fanout;
	struct peer *peers;
	int n_peers;
	bool stopping;
	uint64_t head;
	struct peer **live; /* this fan-out's streams */
	size_t n_live;
	uint8_t *frame; /* this fan-out's Event, framed */
	size_t frame_len;
	uint64_t deliveries, fanouts, fanout_us;
};

static void utc_now(char *buf, size_t cap)
{
	struct timespec ts;
	struct tm tm;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	snprintf(buf, cap, "%04d-%02d-%02dT%02d:%02d:%02d.%06ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000);
}

static int answer(struct peer *p, uint64_t request_id,
		  Ipsnet__V1__Envelope *env)
{
	Ipsnet__V1__Status st = IPSNET__V1__STATUS__INIT;
	env->request_id = request_id;
	env->status = &st;
	return stream_send_envelope(&p->stream, env);
}

static void hello(struct peer *p, const Ipsnet__V1__Envelope *req)
{
	static uint8_t zero_hash[32];
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__HelloOk ok = IPSNET__V1__HELLO_OK__INIT;
	char cn[128];
	ok.organisation_id = (char *)tls_peer_cn(p->stream.ssl, cn, sizeof(cn));
	ok.organisation_kind = IPSNET__V1__ORG_KIND__GGZ;
	ok.organisation_name = "fanout-peer";
	ok.server_version = IPSNET_VERSION;
	ok.protocol_version = PROTOCOL_VERSION;
	ok.journal_seq = p->srv->head;
	ok.journal_hash.data = zero_hash;
	ok.journal_hash.len = sizeof(zero_hash);
	ok.max_frame_bytes = MAX_FRAME;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_HELLO_OK;
	env.hello_ok = &ok;
	answer(p, req->request_id, &env);
}

static void subscribe(struct peer *p, const Ipsnet__V1__Envelope *req)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribed sd = IPSNET__V1__SUBSCRIBED__INIT;
	Ipsnet__V1__CaughtUp cu = IPSNET__V1__CAUGHT_UP__INIT;
	sd.head_seq = p->srv->head;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_SUBSCRIBED;
	env.subscribed = &sd;
	if (answer(p, req->request_id, &env) != 0)
		return;
	Ipsnet__V1__Envelope push = IPSNET__V1__ENVELOPE__INIT;
	cu.seq = p->srv->head;
	push.body_case = IPSNET__V1__ENVELOPE__BODY_CAUGHT_UP;
	push.caught_up = &cu;
	if (stream_send_envelope(&p->stream, &push) == 0)
		p->live = true;
}

static void deliver_at(void *arg, size_t i)
{
	struct server *s = arg;
	struct peer *p = s->live[i];
	p->err = stream_send_framed_offloop(&p->stream, s->frame, s->frame_len);
}

/* The writer's change: answered, then pushed to every live stream. */
static void change(struct peer *p, const Ipsnet__V1__Envelope *req)
{
	struct server *s = p->srv;
	const Ipsnet__V1__RegisterClient *rc = req->register_client;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__ChangeOk ok = IPSNET__V1__CHANGE_OK__INIT;
	Ipsnet__V1__Client cl = IPSNET__V1__CLIENT__INIT;
	char id[32], now[40], cn[128];

	snprintf(id, sizeof(id), "cl-%016" PRIx64, util_now_us() << 8);
	utc_now(now, sizeof(now));
	cl.id = id;
	cl.version = 1;
	cl.bsn = rc->bsn;
	cl.name = rc->name;
	cl.birth_date = rc->birth_date;
	cl.municipality = rc->municipality;
	cl.benefit = rc->benefit;
	cl.registered_by = (char *)tls_peer_cn(p->stream.ssl, cn, sizeof(cn));
	cl.registered_at = now;
	ok.seq = ++s->head;
	ok.entity_kind = "client";
	ok.entity_id = id;
	ok.version = 1;
	ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_CLIENT;
	ok.client = &cl;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_CHANGE_OK;
	env.change_ok = &ok;
	if (answer(p, req->request_id, &env) != 0)
		return;

	Ipsnet__V1__Envelope push = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
	ev.seq = ok.seq;
	ev.time = now;
	ev.organisation = cl.registered_by;
	ev.change = "register_client";
	ev.state = &ok;
	ev.live = true;
	push.body_case = IPSNET__V1__ENVELOPE__BODY_EVENT;
	push.event = &ev;
	size_t n = ipsnet__v1__envelope__get_packed_size(&push);
	s->frame = ipsnet_malloc(FRAME_HEADER_BYTES + n);
	if (s->frame == NULL)
		return;
	frame_put_header(s->frame, (uint32_t)n);
	ipsnet__v1__envelope__pack(&push, s->frame + FRAME_HEADER_BYTES);
	s->frame_len = FRAME_HEADER_BYTES + n;

	uint64_t t0 = util_mono_us();
	s->n_live = 0;
	for (struct peer *q = s->peers; q != NULL; q = q->next)
		if (q->live && q->stream.state == STREAM_OPEN)
			s->live[s->n_live++] = q;
	fanout_run(s->fanout, s->n_live, deliver_at, s);
	for (size_t i = 0; i < s->n_live; i++)
		(void)stream_flush_pending(&s->live[i]->stream,
					   s->live[i]->err);
	s->fanout_us += util_mono_us() - t0;
	s->fanouts++;
	s->deliveries += s->n_live;
	ipsnet_free(s->frame);
	s->frame = NULL;
}

static int on_frame(struct ipsnet_stream *st, const uint8_t *body, size_t len)
{
	struct peer *p = st->data;
	Ipsnet__V1__Envelope *req =
	    ipsnet__v1__envelope__unpack(&ipsnet_protobuf_allocator, len, body);
	if (req == NULL) {
		stream_close(st, IPSNET_EDECODE,
			     "a frame that does not decode");
		return IPSNET_EDECODE;
	}
	switch (req->body_case) {
	case IPSNET__V1__ENVELOPE__BODY_HELLO:
		hello(p, req);
		break;
	case IPSNET__V1__ENVELOPE__BODY_SUBSCRIBE:
		subscribe(p, req);
		break;
	case IPSNET__V1__ENVELOPE__BODY_REGISTER_CLIENT:
		change(p, req);
		break;
	default:
		stream_close(st, IPSNET_EPROTOCOL,
			     "the peer knows Hello, Subscribe and "
			     "RegisterClient only");
		break;
	}
	ipsnet__v1__envelope__free_unpacked(req, &ipsnet_protobuf_allocator);
	return 0;
}

static void on_close(struct ipsnet_stream *st)
{
	struct peer *p = st->data;
	struct server *s = p->srv;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		s->peers = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	s->n_peers--;
	ipsnet_free(p);
	if (s->stopping && s->n_peers == 0 &&
	    !uv_is_closing((uv_handle_t *)&s->sigint)) {
		uv_close((uv_handle_t *)&s->sigint, NULL);
		uv_close((uv_handle_t *)&s->sigterm, NULL);
	}
}

static const struct stream_callbacks peer_callbacks = {
    .on_frame = on_frame,
    .on_close = on_close,
};

static void on_connection(uv_stream_t *listener, int status)
{
	struct server *s = listener->data;
	if (status < 0 || s->stopping)
		return;
	struct peer *p = ipsnet_calloc(1, sizeof(*p));
	if (p == NULL)
		return;
	if (s->n_peers >= MAX_PEERS ||
	    stream_accept(&p->stream, s->loop, listener, s->ctx, MAX_FRAME,
			  &peer_callbacks, p) != 0) {
		fprintf(stderr, "fanout-peer: a connection was not accepted\n");
		ipsnet_free(p);
		return;
	}
	p->srv = s;
	p->next = s->peers;
	if (s->peers != NULL)
		s->peers->prev = p;
	s->peers = p;
	s->n_peers++;
}

static void on_signal(uv_signal_t *h, int signum)
{
	struct server *s = h->data;
	(void)signum;
	if (s->stopping)
		return;
	s->stopping = true;
	uv_close((uv_handle_t *)&s->listener, NULL);
	if (s->n_peers == 0) {
		uv_close((uv_handle_t *)&s->sigint, NULL);
		uv_close((uv_handle_t *)&s->sigterm, NULL);
		return;
	}
	for (struct peer *p = s->peers; p != NULL; p = p->next)
		stream_abort(&p->stream, 0, "the peer stops");
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
	    {"ca", required_argument, NULL, 'a'},
	    {"cert", required_argument, NULL, 'c'},
	    {"key", required_argument, NULL, 'k'},
	    {"port", required_argument, NULL, 'p'},
	    {"threads", required_argument, NULL, 't'},
	    {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0},
	};
	struct server s = {.loop = uv_default_loop(), .head = 1000};
	const char *ca = NULL, *cert = NULL, *key = NULL;
	int port = 0, threads = 0, ch;
	char err[512];

	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'a':
			ca = optarg;
			break;
		case 'c':
			cert = optarg;
			break;
		case 'k':
			key = optarg;
			break;
		case 'p':
			port = atoi(optarg);
			break;
		case 't':
			threads = atoi(optarg);
			break;
		case 'h':
			fputs(usage_text, stdout);
			return 0;
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind != argc || ca == NULL || cert == NULL || key == NULL ||
	    port < 0 || port > 65535 || threads < 0 || threads > 64) {
		fputs(usage_text, stderr);
		return 2;
	}
	if (threads == 0) {
		unsigned cpus = uv_available_parallelism();
		threads = cpus < 1 ? 1 : cpus > 8 ? 8 : (int)cpus;
	}
	signal(SIGPIPE, SIG_IGN);
	struct tls_ctx_opts t = {
	    .server = true, .ca = ca, .cert = cert, .key = key};
	if (tls_ctx_new(&s.ctx, &t, err, sizeof(err)) != 0) {
		fprintf(stderr, "fanout-peer: %s\n", err);
		return 1;
	}
	s.live = calloc(MAX_PEERS, sizeof(*s.live));
	if (s.live == NULL ||
	    fanout_new(&s.fanout, (unsigned)threads - 1) != 0) {
		fprintf(stderr, "fanout-peer: out of memory\n");
		return 1;
	}
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int blen = sizeof(bound);
	uv_ip4_addr("127.0.0.1", port, &addr);
	uv_tcp_init(s.loop, &s.listener);
	s.listener.data = &s;
	int rv = uv_tcp_bind(&s.listener, (const struct sockaddr *)&addr, 0);
	if (rv == 0)
		rv = uv_listen((uv_stream_t *)&s.listener, 4096, on_connection);
	if (rv == 0)
		rv = uv_tcp_getsockname(&s.listener, (struct sockaddr *)&bound,
					&blen);
	if (rv != 0) {
		fprintf(stderr,
			"fanout-peer: cannot listen on 127.0.0.1:%d: %s\n",
			port, uv_strerror(rv));
		return 1;
	}
	uv_signal_init(s.loop, &s.sigint);
	uv_signal_init(s.loop, &s.sigterm);
	s.sigint.data = s.sigterm.data = &s;
	uv_signal_start(&s.sigint, on_signal, SIGINT);
	uv_signal_start(&s.sigterm, on_signal, SIGTERM);
	printf("listening 127.0.0.1:%d threads=%d\n",
	       ntohs(((struct sockaddr_in *)&bound)->sin_port), threads);
	fflush(stdout);

	uv_run(s.loop, UV_RUN_DEFAULT);
	printf("stopped fanouts=%" PRIu64 " deliveries=%" PRIu64
	       " fanout_avg_ms=%.2f\n",
	       s.fanouts, s.deliveries,
	       s.fanouts ? (double)s.fanout_us / (double)s.fanouts / 1000.0
			 : 0.0);
	uv_loop_close(s.loop);
	fanout_free(s.fanout);
	SSL_CTX_free(s.ctx);
	free(s.live);
	return 0;
}
