/* libipsnet against servers that misbehave or stall (client/ipsnet.h is
 * the contract).
 *
 * The misbehaving server is a fake one in this file: ipsnetd's own TLS
 * context and framed stream (common/tls.c, common/stream.c) on 127.0.0.1
 * with the certificates of h_make_certs, answering Hello and then doing
 * what the test scripts. It runs on the test's loop for the asynchronous
 * API, and on a thread of its own for the synchronous one (whose loop is
 * private to the library). */
#include <dlfcn.h>
#include <netdb.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <uv.h>

#include "alloc.h"
#include "frame.h"
#include "harness.h"
#include "ipsnet.h"
#include "stream.h"
#include "tls.h"
#include "util.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name

/* The library's deadline in the tests of what happens when it passes, and
 * how long a test waits for what must follow. In every other test the
 * library's deadline is WAIT_MS too: the fake server answers what it is
 * asked, and the real ipsnetd's answers must come (a change waits for its
 * fsync); a connection to either, with a sanitizer on a loaded CI, can
 * take longer than a short deadline. Was: 300 ms for every connection to
 * the fake server, and tests that never meant to wait it out failed with
 * IPSNET_ETIMEOUT (shown with the test process held stopped 100 ms of
 * every 150 under TSan). TIMEOUT_MS is also the connect's deadline in
 * those tests: long enough to connect, short enough to wait out. */
#define TIMEOUT_MS 1000
#define WAIT_MS 5000

static const char *certs;

/* ---- the fake server --------------------------------------------------- */

struct fake;
/* A request after Hello, decoded; the fake frees it. */
typedef void (*fake_request_fn)(struct fake *f,
				const Ipsnet__V1__Envelope *req);

struct fake {
	uv_loop_t *loop;
	uv_tcp_t listener;
	SSL_CTX *ctx;
	int port;
	struct ipsnet_stream stream; /* its one connection */
	bool accepted;
	bool closed; /* the connection's handle is closed */
	bool listener_closed;
	bool pause_after_hello; /* reads nothing after Hello */
	uint32_t max_frame_bytes; /* what its HelloOk says */
	fake_request_fn on_request;
	uint64_t held_id; /* a request whose answer is held back */
	bool subscribed;
	uint64_t after; /* what out_of_order sends after Event 5 */
	bool after_caught_up;
	bool after_progress; /* Progress at f->after instead */
	bool event_first;
	uint64_t since;		 /* the Subscribe's since_seq */
	char hello_software[80]; /* what Hello's client_software said */
	/* on a thread of its own */
	uv_loop_t own_loop;
	uv_async_t wake;
	uv_thread_t thread;
};

/* The fake may run on a thread of its own, where a failed assertion
 * cannot end the test: it asserts nothing, and a frame that did not go
 * shows as what the client did not get. */
static void fake_send(struct fake *f, Ipsnet__V1__Envelope *env)
{
	Ipsnet__V1__Status st = IPSNET__V1__STATUS__INIT;
	if (env->status == NULL)
		env->status = &st;
	(void)stream_send_envelope(&f->stream, env);
}

/* Answers the Subscribe request_id with Subscribed at head_seq. */
static void fake_send_subscribed(struct fake *f, uint64_t request_id,
				 uint64_t head_seq)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribed sd = IPSNET__V1__SUBSCRIBED__INIT;
	sd.head_seq = head_seq;
	env.request_id = request_id;
	env.body_case = BODY(SUBSCRIBED);
	env.subscribed = &sd;
	fake_send(f, &env);
}

/* Answers request_id with a Pong carrying client_time_us. */
static void fake_send_pong(struct fake *f, uint64_t request_id,
			   uint64_t client_time_us)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Pong pong = IPSNET__V1__PONG__INIT;
	pong.client_time_us = client_time_us;
	env.request_id = request_id;
	env.body_case = BODY(PONG);
	env.pong = &pong;
	fake_send(f, &env);
}

/* Answers request_id with a ProgramList of one program, ggz-test's id
 * named name. */
static void fake_send_program(struct fake *f, uint64_t request_id,
			      const char *id, const char *name)
{
	Ipsnet__V1__Program program = IPSNET__V1__PROGRAM__INIT;
	Ipsnet__V1__Program *programs[] = {&program};
	Ipsnet__V1__ProgramList list = IPSNET__V1__PROGRAM_LIST__INIT;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	program.id = (char *)id;
	program.owner = "ggz-test";
	program.name = (char *)name;
	list.programs = programs;
	list.n_programs = 1;
	env.request_id = request_id;
	env.body_case = BODY(PROGRAM_LIST);
	env.program_list = &list;
	fake_send(f, &env);
}

static void fake_hello_ok(struct fake *f, uint64_t id)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__HelloOk ok = IPSNET__V1__HELLO_OK__INIT;
	ok.organisation_id = "ggz-test";
	ok.organisation_kind = IPSNET__V1__ORG_KIND__GGZ;
	ok.organisation_name = "fake";
	ok.server_version = "fake";
	ok.protocol_version = IPSNET_PROTOCOL_VERSION;
	ok.max_frame_bytes = f->max_frame_bytes;
	env.request_id = id;
	env.body_case = BODY(HELLO_OK);
	env.hello_ok = &ok;
	fake_send(f, &env);
}

static int fake_on_frame(struct ipsnet_stream *s, const uint8_t *body,
			 size_t len)
{
	struct fake *f = s->data;
	Ipsnet__V1__Envelope *req =
	    ipsnet__v1__envelope__unpack(&ipsnet_protobuf_allocator, len, body);
	if (req == NULL)
		return IPSNET_EDECODE;
	if (req->body_case == BODY(HELLO)) {
		snprintf(f->hello_software, sizeof(f->hello_software), "%s",
			 req->hello->client_software);
		fake_hello_ok(f, req->request_id);
		if (f->pause_after_hello)
			stream_pause(s);
	} else if (f->on_request != NULL) {
		f->on_request(f, req);
	}
	ipsnet__v1__envelope__free_unpacked(req, &ipsnet_protobuf_allocator);
	return 0;
}

static void fake_on_close(struct ipsnet_stream *s)
{
	struct fake *f = s->data;
	f->closed = true;
}

static const struct stream_callbacks fake_stream_cb = {
    .on_frame = fake_on_frame,
    .on_close = fake_on_close,
};

static void fake_on_connection(uv_stream_t *server, int status)
{
	struct fake *f =
	    container_of((uv_tcp_t *)server, struct fake, listener);
	if (status != 0 || f->accepted)
		return; /* one connection a test; others wait unaccepted */
	f->accepted = true;
	(void)stream_accept(&f->stream, f->loop, server, f->ctx,
			    64u * 1024 * 1024, &fake_stream_cb, f);
}

/* Listens on 127.0.0.1 (f->port) on loop. */
static void fake_start(struct fake *f, uv_loop_t *loop)
{
	char server_crt[PATH_MAX], server_key[PATH_MAX], ca[PATH_MAX];
	char err[256];
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	snprintf(server_crt, sizeof(server_crt), "%s/server.crt", certs);
	snprintf(server_key, sizeof(server_key), "%s/server.key", certs);
	struct tls_ctx_opts t = {
	    .server = true, .ca = ca, .cert = server_crt, .key = server_key};
	if (tls_ctx_new(&f->ctx, &t, err, sizeof(err)) != 0)
		fail_msg("fake server: %s", err);
	f->loop = loop;
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof(bound);
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
	assert_int_equal(uv_tcp_init(loop, &f->listener), 0);
	assert_int_equal(
	    uv_tcp_bind(&f->listener, (const struct sockaddr *)&addr, 0), 0);
	assert_int_equal(
	    uv_listen((uv_stream_t *)&f->listener, 4, fake_on_connection), 0);
	assert_int_equal(
	    uv_tcp_getsockname(&f->listener, (struct sockaddr *)&bound, &len),
	    0);
	f->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void fake_listener_closed(uv_handle_t *h)
{
	struct fake *f = container_of((uv_tcp_t *)h, struct fake, listener);
	f->listener_closed = true;
}

/* Cuts the connection (no close_notify) and stops listening; the handles
 * close on the loop's next turns. */
static void fake_stop(struct fake *f)
{
	if (f->accepted && !f->closed)
		stream_abort(&f->stream, IPSNET_ECLOSED, "the test is over");
	if (!uv_is_closing((uv_handle_t *)&f->listener))
		uv_close((uv_handle_t *)&f->listener, fake_listener_closed);
}

static bool fake_done(const struct fake *f)
{
	return f->listener_closed && (!f->accepted || f->closed);
}

static void fake_free(struct fake *f)
{
	SSL_CTX_free(f->ctx);
}

static void fake_woken(uv_async_t *a)
{
	struct fake *f = container_of(a, struct fake, wake);
	fake_stop(f);
	uv_close((uv_handle_t *)&f->wake, NULL);
}

static void fake_thread(void *arg)
{
	struct fake *f = arg;
	uv_run(&f->own_loop, UV_RUN_DEFAULT);
}

/* The fake on a thread and loop of its own, for the synchronous API. */
static void fake_start_thread(struct fake *f)
{
	assert_int_equal(uv_loop_init(&f->own_loop), 0);
	fake_start(f, &f->own_loop);
	assert_int_equal(uv_async_init(&f->own_loop, &f->wake, fake_woken), 0);
	assert_int_equal(uv_thread_create(&f->thread, fake_thread, f), 0);
}

static void fake_stop_thread(struct fake *f)
{
	uv_async_send(&f->wake);
	uv_thread_join(&f->thread);
	assert_true(fake_done(f));
	assert_int_equal(uv_loop_close(&f->own_loop), 0);
	fake_free(f);
}

/* ---- the library's side ------------------------------------------------ */

static struct ipsnet_options options(char *server, size_t cap, char *ca,
				     char *cert, char *key, int port)
{
	snprintf(server, cap, "127.0.0.1:%d", port);
	snprintf(ca, PATH_MAX, "%s/ca.crt", certs);
	snprintf(cert, PATH_MAX, "%s/ggz-test.crt", certs);
	snprintf(key, PATH_MAX, "%s/ggz-test.key", certs);
	struct ipsnet_options o = {
	    .server = server,
	    .ca = ca,
	    .cert = cert,
	    .key = key,
	    .user = "lib.tester",
	    .timeout_ms = WAIT_MS,
	};
	return o;
}

/* What an asynchronous connection's callbacks saw. */
struct seen {
	bool ready, closed;
	int ready_status, closed_status;
	int responses; /* response callbacks */
	bool response_after_close;
	int response_status;
};

static void seen_ready(struct ipsnet_conn *c, int status, const char *message,
		       void *arg)
{
	struct seen *s = arg;
	s->ready = true;
	s->ready_status = status;
}

static void seen_closed(struct ipsnet_conn *c, int status, const char *message,
			void *arg)
{
	struct seen *s = arg;
	s->closed = true;
	s->closed_status = status;
}

static void seen_response(struct ipsnet_conn *c, int status,
			  const char *message, const Ipsnet__V1__Envelope *resp,
			  void *arg)
{
	struct seen *s = arg;
	s->responses++;
	s->response_status = status;
	if (s->closed)
		s->response_after_close = true;
}

static const struct ipsnet_callbacks seen_cb = {
    .on_ready = seen_ready,
    .on_closed = seen_closed,
};

static void deadline_passed(uv_timer_t *t)
{
	*(bool *)t->data = true;
}

/* Runs loop until done(arg) holds or ms pass; whether it held. */
static bool run_until(uv_loop_t *loop, bool (*done)(const void *),
		      const void *arg, int ms)
{
	uv_timer_t timer;
	bool passed = false;
	uv_timer_init(loop, &timer);
	timer.data = &passed;
	uv_timer_start(&timer, deadline_passed, (uint64_t)ms, 0);
	while (!done(arg) && !passed)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&timer, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
	return done(arg);
}

static bool is_ready(const void *arg)
{
	return ((const struct seen *)arg)->ready;
}

static bool is_closed(const void *arg)
{
	return ((const struct seen *)arg)->closed;
}

/* A fake server on loop (new here), and an asynchronous connection to it as
 * ggz-test with the library's deadline timeout_ms, ready (the fake has
 * answered Hello); s sees its callbacks. */
static struct ipsnet_conn *connect_fake_within(uv_loop_t *loop, struct fake *f,
					       struct seen *s, int timeout_ms)
{
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	struct ipsnet_conn *c;
	assert_int_equal(uv_loop_init(loop), 0);
	fake_start(f, loop);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, f->port);
	o.timeout_ms = timeout_ms;
	if (ipsnet_connect(loop, &o, &seen_cb, s, &c, err, sizeof(err)) != 0)
		fail_msg("cannot connect to the fake server: %s", err);
	assert_true(run_until(loop, is_ready, s, WAIT_MS));
	return c;
}

static struct ipsnet_conn *connect_fake(uv_loop_t *loop, struct fake *f,
					struct seen *s)
{
	return connect_fake_within(loop, f, s, WAIT_MS);
}

struct both {
	const struct seen *seen;
	const struct fake *fake;
};

static bool both_done(const void *arg)
{
	const struct both *b = arg;
	return b->seen->closed && fake_done(b->fake);
}

/* The end of a test with a fake server: stops f, runs the loop until the
 * client's connection (s) and f are both closed, frees f and closes the
 * loop, which must hold no handle then. */
static void end_fake(uv_loop_t *loop, struct fake *f, const struct seen *s)
{
	fake_stop(f);
	struct both b = {s, f};
	assert_true(run_until(loop, both_done, &b, WAIT_MS));
	fake_free(f);
	assert_int_equal(uv_loop_close(loop), 0);
}

/* ---- the synchronous client -------------------------------------------- */

/* Holds the answer to Subscribe back and sends it when the next request
 * comes, whose own answer then comes only with the one after (a server
 * that runs behind). */
static void late_subscribed(struct fake *f, const Ipsnet__V1__Envelope *req)
{
	if (req->body_case == BODY(SUBSCRIBE)) {
		f->held_id = req->request_id;
		return;
	}
	if (f->held_id != 0) {
		fake_send_subscribed(f, f->held_id, 0);
		f->held_id = 0;
		return;
	}
	if (req->body_case == BODY(PING)) {
		fake_send_pong(f, req->request_id, req->ping->client_time_us);
	}
}

static void ignore_event(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
			 void *arg)
{
}

/* ipsnet_client_subscribe gave up waiting (IPSNET_ETIMEOUT); when the
 * answer comes after all, it must not be taken for the answer to the
 * next call: ipsnet_client_call returned 0 with *resp NULL, and a caller
 * that trusts 0 reads through NULL. */
static void test_a_late_subscribed_does_not_answer_the_next_call(void **state)
{
	struct fake f = {.on_request = late_subscribed};
	struct ipsnet_client *cl = NULL;
	Ipsnet__V1__Envelope *resp = NULL;
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	const struct ipsnet_subscription_callbacks sub = {.on_event =
							      ignore_event};

	fake_start_thread(&f);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, f.port);
	o.timeout_ms = TIMEOUT_MS;
	if (ipsnet_client_open(&cl, &o, err, sizeof(err)) != 0)
		fail_msg("cannot open: %s", err);
	assert_int_equal(ipsnet_client_subscribe(cl, 0, NULL, 0, &sub, NULL,
						 NULL, err, sizeof(err)),
			 IPSNET_ETIMEOUT);

	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	ping.client_time_us = 42;
	e.body_case = BODY(PING);
	e.ping = &ping;
	int rv = ipsnet_client_call(cl, &e, &resp, err, sizeof(err));
	bool pong = rv == 0 && resp != NULL && resp->body_case == BODY(PONG);
	const char *got = resp == NULL ? "NULL" : "not a Pong";
	ipsnet_envelope_free(resp);
	ipsnet_client_close(cl);
	fake_stop_thread(&f);

	if (rv == 0 && !pong)
		fail_msg("ipsnet_client_call returned 0 without its answer "
			 "(resp %s)",
			 got);
}

/* A user too long for Hello (ipsnetd takes 127 bytes) is refused before
 * connecting, with IPSNET_EUSAGE and a sentence naming its length and
 * the limit. The library cut it to 127 bytes, possibly inside a
 * character, and the audit trail named a user nobody gave. (test_cli
 * sends a user of 127 bytes whole through the library.) */
static void test_a_user_too_long_for_hello_is_refused_not_cut(void **state)
{
	struct fake f = {0};
	struct ipsnet_client *cl = NULL;
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	char user[129];

	fake_start_thread(&f);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, f.port);
	memset(user, 'u', 128);
	user[128] = '\0';
	o.user = user;
	int rv = ipsnet_client_open(&cl, &o, err, sizeof(err));
	if (rv == 0)
		ipsnet_client_close(cl);
	fake_stop_thread(&f);

	if (rv != IPSNET_EUSAGE)
		fail_msg("a 128-byte user: ipsnet_client_open returned %d, not "
			 "IPSNET_EUSAGE",
			 rv);
	if (strstr(err, "128 bytes") == NULL ||
	    strstr(err, "127 bytes") == NULL)
		fail_msg("the sentence does not name the length and the limit: "
			 "%s",
			 err);
}

/* Answers Subscribe with Subscribed, one Event and CaughtUp, written at
 * once: a short journal, caught up in one read. */
static void caught_up_at_once(struct fake *f, const Ipsnet__V1__Envelope *req)
{
	if (req->body_case != BODY(SUBSCRIBE))
		return;
	fake_send_subscribed(f, req->request_id, 1);
	Ipsnet__V1__Envelope push = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
	ev.seq = 1;
	ev.change = "register_client";
	push.body_case = BODY(EVENT);
	push.event = &ev;
	fake_send(f, &push);
	Ipsnet__V1__Envelope cu_env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__CaughtUp cu = IPSNET__V1__CAUGHT_UP__INIT;
	cu.seq = 1;
	cu_env.body_case = BODY(CAUGHT_UP);
	cu_env.caught_up = &cu;
	fake_send(f, &cu_env);
}

struct follow {
	struct ipsnet_client *cl;
	int events;
	bool caught_up;
};

static void follow_event(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
			 void *arg)
{
	struct follow *fl = arg;
	fl->events++;
}

static void follow_caught_up(struct ipsnet_conn *c, uint64_t seq, void *arg)
{
	struct follow *fl = arg;
	fl->caught_up = true;
	ipsnet_client_stop(fl->cl);
}

/* A program that reads the journal up to its head and then stops: it
 * calls ipsnet_client_stop from on_caught_up. When the events and the
 * CaughtUp come with the Subscribed answer, the callbacks run inside
 * ipsnet_client_subscribe; the stop must still make ipsnet_client_run
 * return 0. It was forgotten, and ipsnet_client_run waited for events
 * that would never come (without a timeout: for ever). */
static void
test_a_stop_from_a_callback_inside_subscribe_is_not_lost(void **state)
{
	struct fake f = {.on_request = caught_up_at_once};
	struct follow fl = {0};
	uint64_t head = 0;
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	const struct ipsnet_subscription_callbacks cb = {
	    .on_event = follow_event, .on_caught_up = follow_caught_up};

	fake_start_thread(&f);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, f.port);
	if (ipsnet_client_open(&fl.cl, &o, err, sizeof(err)) != 0)
		fail_msg("cannot open: %s", err);
	assert_int_equal(ipsnet_client_subscribe(fl.cl, 0, NULL, 0, &cb, &fl,
						 &head, err, sizeof(err)),
			 0);
	int rv = ipsnet_client_run(fl.cl, WAIT_MS, err, sizeof(err));
	ipsnet_client_close(fl.cl);
	fake_stop_thread(&f);

	assert_int_equal(head, 1);
	assert_int_equal(fl.events, 1);
	assert_true(fl.caught_up);
	if (rv != 0)
		fail_msg("ipsnet_client_run returned %d (%s) after "
			 "ipsnet_client_stop",
			 rv, err);
}

/* Answers Subscribe with Subscribed, five Events and CaughtUp, written at
 * once; each event's hash is its seq in every byte, CaughtUp's 5s. */
static void five_at_once(struct fake *f, const Ipsnet__V1__Envelope *req)
{
	if (req->body_case != BODY(SUBSCRIBE))
		return;
	fake_send_subscribed(f, req->request_id, 5);
	uint8_t hash[IPSNET_HASH_BYTES];
	for (uint64_t seq = 1; seq <= 5; seq++) {
		Ipsnet__V1__Envelope push = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
		memset(hash, (int)seq, sizeof(hash));
		ev.seq = seq;
		ev.change = "register_client";
		ev.hash.data = hash;
		ev.hash.len = sizeof(hash);
		push.body_case = BODY(EVENT);
		push.event = &ev;
		fake_send(f, &push);
	}
	Ipsnet__V1__Envelope cu_env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__CaughtUp cu = IPSNET__V1__CAUGHT_UP__INIT;
	memset(hash, 5, sizeof(hash));
	cu.seq = 5;
	cu.hash.data = hash;
	cu.hash.len = sizeof(hash);
	cu_env.body_case = BODY(CAUGHT_UP);
	cu_env.caught_up = &cu;
	fake_send(f, &cu_env);
}

/* One step at a time: every callback stops the client. */
struct stepper {
	struct ipsnet_client *cl;
	uint64_t seqs[8]; /* each callback's seq, CaughtUp's as 100 + seq */
	int n;
	bool wrong_hash;
};

static void step_check_hash(struct stepper *st, struct ipsnet_conn *c,
			    uint8_t want)
{
	const uint8_t *h = ipsnet_subscription_hash(c);
	if (h == NULL)
		st->wrong_hash = true;
	else
		for (size_t i = 0; i < IPSNET_HASH_BYTES; i++)
			if (h[i] != want)
				st->wrong_hash = true;
}

static void step_event(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
		       void *arg)
{
	struct stepper *st = arg;
	if (st->n < (int)ARRAY_SIZE(st->seqs))
		st->seqs[st->n] = ev->seq;
	st->n++;
	step_check_hash(st, c, (uint8_t)ev->seq);
	ipsnet_client_stop(st->cl);
}

static void step_caught_up(struct ipsnet_conn *c, uint64_t seq, void *arg)
{
	struct stepper *st = arg;
	if (st->n < (int)ARRAY_SIZE(st->seqs))
		st->seqs[st->n] = 100 + seq;
	st->n++;
	step_check_hash(st, c, 5);
	ipsnet_client_stop(st->cl);
}

/* Starts f, opens st's client on it and subscribes from 0 with the
 * stepper's callbacks. */
static void step_subscribe(struct fake *f, struct stepper *st)
{
	uint64_t head = 0;
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	const struct ipsnet_subscription_callbacks cb = {
	    .on_event = step_event, .on_caught_up = step_caught_up};

	fake_start_thread(f);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, f->port);
	if (ipsnet_client_open(&st->cl, &o, err, sizeof(err)) != 0)
		fail_msg("cannot open: %s", err);
	assert_int_equal(ipsnet_client_subscribe(st->cl, 0, NULL, 0, &cb, st,
						 &head, err, sizeof(err)),
			 0);
	assert_int_equal(head, 5);
}

/* A stop from a callback holds what came after it: each
 * ipsnet_client_run hands over the next event, one at a time, in order,
 * and ipsnet_subscription_hash in its callback is that event's own. Was:
 * the events read with the first went to their callbacks before
 * ipsnet_client_run returned, one stop or not. */
static void test_a_stop_holds_the_events_already_read(void **state)
{
	struct fake f = {.on_request = five_at_once};
	struct stepper st = {0};
	char err[256];
	step_subscribe(&f, &st);
	assert_true(st.n <= 1);
	int runs = 0, rv = 0;
	/* A stop asked inside ipsnet_client_subscribe makes the next run
	 * return at once, with nothing handed over. */
	if (st.n == 1) {
		rv = ipsnet_client_run(st.cl, WAIT_MS, err, sizeof(err));
		assert_int_equal(rv, 0);
		assert_int_equal(st.n, 1);
	}
	while (st.n < 6 && runs < 12 && rv == 0) {
		int before = st.n;
		rv = ipsnet_client_run(st.cl, WAIT_MS, err, sizeof(err));
		runs++;
		if (rv == 0 && st.n != before + 1)
			fail_msg(
			    "run %d handed over %d callbacks after a stop, "
			    "not 1",
			    runs, st.n - before);
	}
	ipsnet_client_close(st.cl);
	fake_stop_thread(&f);

	if (rv != 0)
		fail_msg("ipsnet_client_run: %d (%s)", rv, err);
	assert_int_equal(st.n, 6);
	static const uint64_t want[] = {1, 2, 3, 4, 5, 105};
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_int_equal(st.seqs[i], want[i]);
	assert_false(st.wrong_hash);
}

/* What a stop kept and no run handed over goes with the client: closing
 * it runs no callback (and, under ASan, leaks nothing). */
static void test_events_kept_after_a_stop_go_with_the_client(void **state)
{
	struct fake f = {.on_request = five_at_once};
	struct stepper st = {0};
	char err[256];
	step_subscribe(&f, &st);
	/* Wait for the first event (with the answer, or in a run). */
	int runs = 0;
	while (st.n == 0 && runs++ < 12)
		assert_int_equal(
		    ipsnet_client_run(st.cl, WAIT_MS, err, sizeof(err)), 0);
	assert_int_equal(st.n, 1);
	ipsnet_client_close(st.cl);
	fake_stop_thread(&f);
	assert_int_equal(st.n, 1);
}

/* A journal busier than its reader: Subscribed and one event of 400 KiB,
 * then, before each Ping's Pong, four more. */
#define LARGE_EVENT_BYTES (400u << 10)

static void send_large(struct fake *f, uint64_t seq)
{
	char *org = malloc(LARGE_EVENT_BYTES + 1);
	if (org == NULL)
		return; /* the test sees no event */
	memset(org, 'o', LARGE_EVENT_BYTES);
	org[LARGE_EVENT_BYTES] = '\0';
	uint8_t hash[IPSNET_HASH_BYTES];
	Ipsnet__V1__Envelope push = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
	memset(hash, (int)seq, sizeof(hash));
	ev.seq = seq;
	ev.change = "register_client";
	ev.organisation = org;
	ev.hash.data = hash;
	ev.hash.len = sizeof(hash);
	push.body_case = BODY(EVENT);
	push.event = &ev;
	fake_send(f, &push);
	free(org);
}

static void four_before_each_pong(struct fake *f,
				  const Ipsnet__V1__Envelope *req)
{
	if (req->body_case == BODY(SUBSCRIBE)) {
		fake_send_subscribed(f, req->request_id, 1);
		send_large(f, ++f->after);
		return;
	}
	if (req->body_case != BODY(PING))
		return;
	for (int i = 0; i < 4; i++)
		send_large(f, ++f->after);
	fake_send_pong(f, req->request_id, 0);
}

/* A program that stops at each event and makes a call for it, while
 * events come faster than that: the client reads on for the call's
 * answer, so the server's bounded send buffer holds nothing back, and what
 * it keeps after the stop grew without end. Past IPSNET_HELD_MAX_BYTES
 * (8 MiB: here after about seven calls) the connection ends, and the call
 * it cuts, or the run, says why (IPSNET_EBUSY; was: the call said
 * IPSNET_ECLOSED, "the connection is closed"); the events handled came in
 * order.
 * Resuming from the last one handled loses nothing. */
static void test_what_a_stop_keeps_is_bounded(void **state)
{
	struct fake f = {.on_request = four_before_each_pong,
			 .max_frame_bytes = 1u << 20};
	struct stepper st = {0};
	char err[256] = "";
	uint64_t head = 0;
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	const struct ipsnet_subscription_callbacks cb = {
	    .on_event = step_event, .on_caught_up = step_caught_up};

	fake_start_thread(&f);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, f.port);
	if (ipsnet_client_open(&st.cl, &o, err, sizeof(err)) != 0)
		fail_msg("cannot open: %s", err);
	assert_int_equal(ipsnet_client_subscribe(st.cl, 0, NULL, 0, &cb, &st,
						 &head, err, sizeof(err)),
			 0);
	int rv = 0, calls = 0;
	while (rv == 0 && calls < 40) {
		rv = ipsnet_client_run(st.cl, WAIT_MS, err, sizeof(err));
		if (rv != 0)
			break;
		Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__Envelope *resp = NULL;
		e.body_case = BODY(PING);
		e.ping = &ping;
		rv = ipsnet_client_call(st.cl, &e, &resp, err, sizeof(err));
		ipsnet_envelope_free(resp);
		calls++;
	}
	int n = st.n;
	ipsnet_client_close(st.cl);
	fake_stop_thread(&f);

	if (rv != IPSNET_EBUSY)
		fail_msg("after %d calls and %d events: %d (%s), not "
			 "IPSNET_EBUSY",
			 calls, n, rv, err);
	assert_non_null(strstr(err, "MiB of events came after "
				    "ipsnet_client_stop"));
	assert_true(calls < 20);
	for (int i = 0; i < n && i < (int)ARRAY_SIZE(st.seqs); i++)
		assert_int_equal(st.seqs[i], (uint64_t)i + 1);
}

/* ---- closing ----------------------------------------------------------- */

/* A server that takes no more bytes (hung, or its host swapped out) while
 * a large request waits to be written: ipsnet_close must still end the
 * connection, within timeout_ms, and the request's callback must come
 * before on_closed, both saying why. A graceful close waits for the
 * queued writes to go out, which here is never. */
static void test_close_ends_even_when_the_server_reads_nothing(void **state)
{
	uv_loop_t loop;
	struct fake f = {.pause_after_hello = true};
	struct seen s = {0};
	struct ipsnet_conn *c;

	c = connect_fake_within(&loop, &f, &s, TIMEOUT_MS);
	assert_int_equal(s.ready_status, 0);

	/* More than the kernel's buffers on both ends hold. */
	size_t n = 32u * 1024 * 1024;
	char *name = malloc(n + 1);
	assert_non_null(name);
	memset(name, 'x', n);
	name[n] = '\0';
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	m.name = name;
	e.body_case = BODY(REGISTER_CLIENT);
	e.register_client = &m;
	assert_int_equal(ipsnet_request(c, &e, seen_response, &s), 0);
	free(name);

	ipsnet_close(c);
	bool closed = run_until(&loop, is_closed, &s, 10 * TIMEOUT_MS);

	/* Unstick the connection either way, so the test ends clean. */
	end_fake(&loop, &f, &s);

	if (!closed)
		fail_msg("ipsnet_close did not end the connection within %d "
			 "ms while the server read nothing",
			 10 * TIMEOUT_MS);
	assert_int_equal(s.closed_status, IPSNET_ETIMEOUT);
	assert_int_equal(s.responses, 1);
	assert_false(s.response_after_close);
	assert_int_equal(s.response_status, IPSNET_ETIMEOUT);
}

/* ---- subscriptions ----------------------------------------------------- */

/* The fake of a subscription: Subscribe is answered as ipsnetd answers it
 * (a second one on the connection is refused FAILED_PRECONDITION, see
 * daemon/sync.c), and a Ping makes it push one Event (seq 1) before its
 * Pong. */
static void subscriber(struct fake *f, const Ipsnet__V1__Envelope *req)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	env.request_id = req->request_id;
	if (req->body_case == BODY(SUBSCRIBE)) {
		Ipsnet__V1__Subscribed sd = IPSNET__V1__SUBSCRIBED__INIT;
		Ipsnet__V1__Status st = IPSNET__V1__STATUS__INIT;
		if (f->subscribed) {
			st.code = IPSNET__V1__CODE__FAILED_PRECONDITION;
			st.message = "this connection is subscribed already; "
				     "unsubscribe first";
			env.status = &st;
		} else {
			env.body_case = BODY(SUBSCRIBED);
			env.subscribed = &sd;
			f->subscribed = true;
		}
		fake_send(f, &env);
		return;
	}
	if (req->body_case == BODY(PING)) {
		Ipsnet__V1__Envelope push = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
		ev.seq = 1;
		ev.change = "register_client";
		push.body_case = BODY(EVENT);
		push.event = &ev;
		fake_send(f, &push);
		Ipsnet__V1__Pong pong = IPSNET__V1__PONG__INIT;
		env.body_case = BODY(PONG);
		env.pong = &pong;
		fake_send(f, &env);
	}
}

struct answer {
	bool done;
	int status;
};

static void answered(struct ipsnet_conn *c, int status, const char *message,
		     const Ipsnet__V1__Envelope *resp, void *arg)
{
	struct answer *a = arg;
	a->done = true;
	a->status = status;
}

static bool is_answered(const void *arg)
{
	return ((const struct answer *)arg)->done;
}

static void count_event(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
			void *arg)
{
	(*(int *)arg)++;
}

/* A second ipsnet_subscribe on a subscribed connection is refused by the
 * server; the first subscription's events must still go to the first
 * subscription's callbacks. They went to the refused one's (with its
 * arg), which the caller had every reason to think was never set up. */
static void
test_a_refused_subscribe_leaves_the_subscription_as_it_was(void **state)
{
	uv_loop_t loop;
	struct fake f = {.on_request = subscriber};
	struct seen s = {0};
	struct ipsnet_conn *c;
	struct answer first = {0}, second = {0}, pong = {0};
	int events_first = 0, events_second = 0;
	const struct ipsnet_subscription_callbacks cb = {.on_event =
							     count_event};

	c = connect_fake(&loop, &f, &s);
	assert_int_equal(s.ready_status, 0);

	assert_int_equal(ipsnet_subscribe(c, 0, NULL, 0, &cb, &events_first,
					  answered, &first),
			 0);
	assert_true(run_until(&loop, is_answered, &first, WAIT_MS));
	assert_int_equal(first.status, 0);
	assert_int_equal(ipsnet_subscribe(c, 0, NULL, 0, &cb, &events_second,
					  answered, &second),
			 0);
	assert_true(run_until(&loop, is_answered, &second, WAIT_MS));
	assert_int_equal(second.status, IPSNET_EPRECONDITION);

	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	e.body_case = BODY(PING);
	e.ping = &ping;
	assert_int_equal(ipsnet_request(c, &e, answered, &pong), 0);
	assert_true(run_until(&loop, is_answered, &pong, WAIT_MS));

	ipsnet_close(c);
	end_fake(&loop, &f, &s);

	assert_int_equal(events_second, 0);
	assert_int_equal(events_first, 1);
}

/* Answers Subscribe with Subscribed and Event 5, then f->after: Event
 * (or, with f->after_caught_up, CaughtUp) at f->after. With
 * f->event_first, Event 1 comes before the Subscribed. */
static void out_of_order(struct fake *f, const Ipsnet__V1__Envelope *req)
{
	if (req->body_case != BODY(SUBSCRIBE))
		return;
	Ipsnet__V1__Envelope push = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
	push.body_case = BODY(EVENT);
	push.event = &ev;
	if (f->event_first) {
		ev.seq = 1;
		fake_send(f, &push);
	}
	fake_send_subscribed(f, req->request_id, 0);
	ev.seq = 5;
	ev.change = "register_client";
	fake_send(f, &push);
	Ipsnet__V1__Envelope next = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__CaughtUp cu = IPSNET__V1__CAUGHT_UP__INIT;
	Ipsnet__V1__Progress pr = IPSNET__V1__PROGRESS__INIT;
	if (f->after_caught_up) {
		cu.seq = f->after;
		next.body_case = BODY(CAUGHT_UP);
		next.caught_up = &cu;
	} else if (f->after_progress) {
		pr.seq = f->after;
		next.body_case = BODY(PROGRESS);
		next.progress = &pr;
	} else {
		ev.seq = f->after;
		next.body_case = BODY(EVENT);
		next.event = &ev;
	}
	fake_send(f, &next);
}

struct stream_seen {
	int events;
	uint64_t last_seq;
	bool caught_up;
};

static void stream_event(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
			 void *arg)
{
	struct stream_seen *ss = arg;
	ss->events++;
	ss->last_seq = ev->seq;
}

static void stream_caught_up(struct ipsnet_conn *c, uint64_t seq, void *arg)
{
	struct stream_seen *ss = arg;
	ss->caught_up = true;
}

/* Subscribes to a fake that sends Event 5 and then what f says; returns
 * when the connection has closed. */
static void subscribe_out_of_order(struct fake *f, struct seen *s,
				   struct stream_seen *ss)
{
	uv_loop_t loop;
	struct ipsnet_conn *c;
	struct answer done = {0};
	const struct ipsnet_subscription_callbacks cb = {
	    .on_event = stream_event, .on_caught_up = stream_caught_up};

	f->on_request = out_of_order;
	c = connect_fake(&loop, f, s);
	assert_int_equal(
	    ipsnet_subscribe(c, f->since, NULL, 0, &cb, ss, answered, &done),
	    0);
	bool closed = run_until(&loop, is_closed, s, WAIT_MS);
	if (!closed)
		ipsnet_close(c);
	end_fake(&loop, f, s);
	assert_true(done.done);
	if (!f->event_first)
		assert_int_equal(done.status, 0);
	if (!closed)
		fail_msg("the connection stayed open after the server's "
			 "stream broke its order (%d events, last seq %llu)",
			 ss->events, (unsigned long long)ss->last_seq);
}

/* Events come in the order of their seq: a program stores ev->seq as its
 * cursor and applies each entity's state over the one before. An event
 * below the last one is refused, the connection failed with a sentence,
 * and it reaches no callback (it would move the cursor back and put an
 * older state over a newer one). */
static void test_an_event_below_the_last_one_fails_the_connection(void **state)
{
	struct fake f = {.after = 3};
	struct seen s = {0};
	struct stream_seen ss = {0};
	subscribe_out_of_order(&f, &s, &ss);
	assert_int_equal(ss.events, 1);
	assert_int_equal(ss.last_seq, 5);
	assert_int_equal(s.closed_status, IPSNET_EPROTOCOL);
}

/* The same for a repeated one: resuming from ev->seq gives no duplicate,
 * and the stream itself may not bring one either. */
static void test_an_event_repeated_fails_the_connection(void **state)
{
	struct fake f = {.after = 5};
	struct seen s = {0};
	struct stream_seen ss = {0};
	subscribe_out_of_order(&f, &s, &ss);
	assert_int_equal(ss.events, 1);
	assert_int_equal(s.closed_status, IPSNET_EPROTOCOL);
}

/* A CaughtUp below the last event says the server's head is behind what
 * it sent: refused the same way, before on_caught_up. */
static void
test_a_caught_up_below_the_last_event_fails_the_connection(void **state)
{
	struct fake f = {.after = 4, .after_caught_up = true};
	struct seen s = {0};
	struct stream_seen ss = {0};
	subscribe_out_of_order(&f, &s, &ss);
	assert_int_equal(ss.events, 1);
	assert_false(ss.caught_up);
	assert_int_equal(s.closed_status, IPSNET_EPROTOCOL);
}

/* A Progress below the last event: the same. */
static void
test_a_progress_below_the_last_event_fails_the_connection(void **state)
{
	struct fake f = {.after = 4, .after_progress = true};
	struct seen s = {0};
	struct stream_seen ss = {0};
	subscribe_out_of_order(&f, &s, &ss);
	assert_int_equal(ss.events, 1);
	assert_int_equal(s.closed_status, IPSNET_EPROTOCOL);
}

/* The first event at or below since_seq: the subscriber has it already
 * (it resumes from there), and it would move its cursor back. Was: only
 * events after the first were checked (found by a review). */
static void test_an_event_at_or_below_since_fails_the_connection(void **state)
{
	for (uint64_t since = 5; since <= 6; since++) {
		struct fake f = {.after = 9, .since = since};
		struct seen s = {0};
		struct stream_seen ss = {0};
		subscribe_out_of_order(&f, &s, &ss);
		assert_int_equal(ss.events, 0);
		assert_int_equal(s.closed_status, IPSNET_EPROTOCOL);
	}
}

/* An Event before the answer to Subscribe: the subscription does not
 * exist yet (and may still be refused). It reaches no callback and the
 * connection fails; it went to on_event of a subscription not yet
 * made. */
static void test_an_event_before_subscribed_fails_the_connection(void **state)
{
	struct fake f = {.after = 6, .event_first = true};
	struct seen s = {0};
	struct stream_seen ss = {0};
	subscribe_out_of_order(&f, &s, &ss);
	assert_int_equal(ss.events, 0);
	assert_int_equal(s.closed_status, IPSNET_EPROTOCOL);
}

/* Answers Subscribe with status OK and a Pong. */
static void subscribe_answered_pong(struct fake *f,
				    const Ipsnet__V1__Envelope *req)
{
	if (req->body_case != BODY(SUBSCRIBE))
		return;
	fake_send_pong(f, req->request_id, 0);
}

struct sub_answer {
	bool done;
	int status;
	bool subscribed; /* resp was a Subscribed */
};

static void sub_answered(struct ipsnet_conn *c, int status, const char *message,
			 const Ipsnet__V1__Envelope *resp, void *arg)
{
	struct sub_answer *a = arg;
	a->done = true;
	a->status = status;
	a->subscribed = resp != NULL && resp->body_case == BODY(SUBSCRIBED);
}

/* on_done's status 0 means Subscribed: callers read
 * resp->subscribed->head_seq (ipsnet sync and ipsnet_client_subscribe
 * do), and resp->subscribed shares its union with the other bodies. Any
 * other answer with status OK is the server's error, and on_done must not
 * get 0 with it: the callers took the Pong's bytes for a head seq, and the
 * subscription's events went nowhere. */
static void
test_subscribe_answered_with_another_body_fails_the_connection(void **state)
{
	uv_loop_t loop;
	struct fake f = {.on_request = subscribe_answered_pong};
	struct seen s = {0};
	struct ipsnet_conn *c;
	struct sub_answer done = {0};
	int events = 0;
	const struct ipsnet_subscription_callbacks cb = {.on_event =
							     count_event};

	c = connect_fake(&loop, &f, &s);
	assert_int_equal(
	    ipsnet_subscribe(c, 0, NULL, 0, &cb, &events, sub_answered, &done),
	    0);
	bool closed = run_until(&loop, is_closed, &s, WAIT_MS);
	if (!closed)
		ipsnet_close(c);
	end_fake(&loop, &f, &s);

	assert_true(done.done);
	if (done.status == 0 && !done.subscribed)
		fail_msg("on_done got status 0 without a Subscribed");
	assert_int_equal(done.status, IPSNET_EPROTOCOL);
	assert_true(closed);
	assert_int_equal(s.closed_status, IPSNET_EPROTOCOL);
}

/* ---- a name lookup that takes long ------------------------------------ */

/* getaddrinfo of this file, in front of the C library's (the test binary
 * links libuv and libipsnet's resolver calls it): SLOW_HOST takes until
 * the test releases it, or WAIT_MS, and then is not found; any other
 * name is the C library's. No DNS is involved. */
#define SLOW_HOST "slow.ipsnet.invalid"
/* The library's deadline for it: nothing to connect to, so short, well
 * before the lookup is let go (WAIT_MS). */
#define LOOKUP_TIMEOUT_MS 300

static uv_mutex_t slow_mutex;
static uv_cond_t slow_cond;
static bool slow_released;
static int slow_ended; /* lookups of SLOW_HOST that have returned */

/* While not 0, "localhost" is found first at 127.0.0.1 on this port,
 * then at 127.0.0.1 on the port asked for: a name with an address where
 * nothing listens before the one where the server does (::1 first, with
 * ipsnetd listening on 127.0.0.1 only). */
static int localhost_refused_port;

int getaddrinfo(const char *node, const char *service,
		const struct addrinfo *hints, struct addrinfo **res)
{
	int (*real)(const char *, const char *, const struct addrinfo *,
		    struct addrinfo **) =
	    (int (*)(const char *, const char *, const struct addrinfo *,
		     struct addrinfo **))dlsym(RTLD_NEXT, "getaddrinfo");
	if (node != NULL && strcmp(node, "localhost") == 0 &&
	    localhost_refused_port != 0) {
		char refused[8];
		struct addrinfo *first, *then;
		int rv;
		snprintf(refused, sizeof(refused), "%d",
			 localhost_refused_port);
		if ((rv = real("127.0.0.1", refused, hints, &first)) != 0)
			return rv;
		if ((rv = real("127.0.0.1", service, hints, &then)) != 0) {
			freeaddrinfo(first);
			return rv;
		}
		struct addrinfo *last = first;
		while (last->ai_next != NULL)
			last = last->ai_next;
		last->ai_next = then;
		*res = first;
		return 0;
	}
	if (node == NULL || strcmp(node, SLOW_HOST) != 0)
		return real(node, service, hints, res);
	uint64_t deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000;
	uv_mutex_lock(&slow_mutex);
	for (uint64_t now; !slow_released && (now = uv_hrtime()) < deadline;)
		(void)uv_cond_timedwait(&slow_cond, &slow_mutex,
					deadline - now);
	slow_ended++;
	uv_cond_broadcast(&slow_cond);
	uv_mutex_unlock(&slow_mutex);
	return EAI_NONAME;
}

/* A host name whose lookup is still running when timeout_ms passes:
 * ipsnet_client_open returns IPSNET_ETIMEOUT at the deadline, while the
 * lookup still runs. It returned only when the lookup ended (uv_cancel
 * cannot stop one that runs, and the private loop was closed only after
 * it), so a resolver that hangs (an unreachable DNS server: 5 s a try)
 * held the ipsnet command well past --timeout. */
static void test_open_keeps_its_deadline_while_a_lookup_runs(void **state)
{
	struct ipsnet_client *cl = NULL;
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];

	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, 7443);
	o.server = SLOW_HOST ":7443";
	o.timeout_ms = LOOKUP_TIMEOUT_MS;
	int rv = ipsnet_client_open(&cl, &o, err, sizeof(err));
	uv_mutex_lock(&slow_mutex);
	bool lookup_ended = slow_ended > 0;
	slow_released = true;
	uv_cond_broadcast(&slow_cond);
	/* Nothing of the test left running when it ends. */
	uint64_t deadline = uv_hrtime() + (uint64_t)WAIT_MS * 1000000;
	for (uint64_t now; slow_ended == 0 && (now = uv_hrtime()) < deadline;)
		(void)uv_cond_timedwait(&slow_cond, &slow_mutex,
					deadline - now);
	uv_mutex_unlock(&slow_mutex);
	if (rv == 0)
		ipsnet_client_close(cl);

	if (lookup_ended)
		fail_msg("ipsnet_client_open (timeout %d ms) returned only "
			 "when the lookup of %s had ended (%d: %s)",
			 LOOKUP_TIMEOUT_MS, SLOW_HOST, rv, err);
	assert_int_equal(rv, IPSNET_ETIMEOUT);
}

/* ---- answers of the wrong kind ----------------------------------------- */

/* Answers ShowCase with a ChangeOk (status OK) and Ping with a Pong. */
static void show_case_answered_change_ok(struct fake *f,
					 const Ipsnet__V1__Envelope *req)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__ChangeOk ok = IPSNET__V1__CHANGE_OK__INIT;
	Ipsnet__V1__Pong pong = IPSNET__V1__PONG__INIT;
	env.request_id = req->request_id;
	if (req->body_case == BODY(SHOW_CASE)) {
		ok.seq = 7;
		ok.entity_kind = "client";
		ok.entity_id = "c-1";
		env.body_case = BODY(CHANGE_OK);
		env.change_ok = &ok;
	} else if (req->body_case == BODY(PING)) {
		env.body_case = BODY(PONG);
		env.pong = &pong;
	} else {
		return;
	}
	fake_send(f, &env);
}

struct body_answer {
	bool done;
	int status;
	bool resp;			     /* resp was not NULL */
	Ipsnet__V1__Envelope__BodyCase body; /* its body */
	char message[256];
};

static void body_answered(struct ipsnet_conn *c, int status,
			  const char *message, const Ipsnet__V1__Envelope *resp,
			  void *arg)
{
	struct body_answer *a = arg;
	a->done = true;
	a->status = status;
	a->resp = resp != NULL;
	a->body = resp != NULL ? resp->body_case : 0;
	snprintf(a->message, sizeof(a->message), "%s",
		 message != NULL ? message : "");
}

static bool is_body_answered(const void *arg)
{
	return ((const struct body_answer *)arg)->done;
}

/* Status OK promises the body that answers the request: a ShowCase gets a
 * CaseView, a change a ChangeOk. An answer of another kind fails that
 * request with IPSNET_EPROTOCOL, no resp and a sentence naming both; the
 * connection and the other requests go on. It came with status 0, and
 * callers that read resp->case_view read the ChangeOk through the union
 * (ipsnet sync's backfill put it in the mirror as a case). */
static void test_an_answer_of_the_wrong_kind_fails_its_request(void **state)
{
	uv_loop_t loop;
	struct fake f = {.on_request = show_case_answered_change_ok};
	struct seen s = {0};
	struct ipsnet_conn *c;
	struct body_answer show = {0}, pong = {0};

	c = connect_fake(&loop, &f, &s);
	Ipsnet__V1__ShowCase sc = IPSNET__V1__SHOW_CASE__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	sc.client_id = "c-1";
	e.body_case = BODY(SHOW_CASE);
	e.show_case = &sc;
	assert_int_equal(ipsnet_request(c, &e, body_answered, &show), 0);
	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	Ipsnet__V1__Envelope p = IPSNET__V1__ENVELOPE__INIT;
	p.body_case = BODY(PING);
	p.ping = &ping;
	assert_int_equal(ipsnet_request(c, &p, body_answered, &pong), 0);
	run_until(&loop, is_body_answered, &pong, WAIT_MS);
	bool closed = s.closed;

	ipsnet_close(c);
	end_fake(&loop, &f, &s);

	assert_true(show.done);
	if (show.status == 0)
		fail_msg("a ShowCase answered with %s had status 0",
			 show.body == BODY(CHANGE_OK) ? "a ChangeOk"
						      : "another body");
	assert_int_equal(show.status, IPSNET_EPROTOCOL);
	assert_false(show.resp);
	if (strstr(show.message, "show_case") == NULL ||
	    strstr(show.message, "change_ok") == NULL)
		fail_msg("the sentence does not name the request and the "
			 "answer: %s",
			 show.message);
	assert_false(closed);
	assert_true(pong.done);
	assert_int_equal(pong.status, 0);
	assert_int_equal(pong.body, BODY(PONG));
}

/* A journal of one entry for `ipsnet sync`: Subscribe is answered with
 * Subscribed, Event 1 (a trajectory of client c-1, whose registration the
 * mirror does not hold, so that sync asks for the case) and CaughtUp; the
 * ShowCase that follows gets a ChangeOk. */
static void backfill_answered_change_ok(struct fake *f,
					const Ipsnet__V1__Envelope *req)
{
	if (req->body_case != BODY(SUBSCRIBE)) {
		show_case_answered_change_ok(f, req);
		return;
	}
	fake_send_subscribed(f, req->request_id, 1);
	Ipsnet__V1__Trajectory tr = IPSNET__V1__TRAJECTORY__INIT;
	tr.id = "t-1";
	tr.version = 1;
	tr.client_id = "c-1";
	tr.program_id = "ips-test";
	tr.status = IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_REFERRED;
	tr.referred_on = "2025-03-01";
	Ipsnet__V1__ChangeOk ok = IPSNET__V1__CHANGE_OK__INIT;
	ok.seq = 1;
	ok.entity_kind = "trajectory";
	ok.entity_id = "t-1";
	ok.version = 1;
	ok.entity_case = IPSNET__V1__CHANGE_OK__ENTITY_TRAJECTORY;
	ok.trajectory = &tr;
	Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
	ev.seq = 1;
	ev.change = "refer";
	ev.state = &ok;
	Ipsnet__V1__Envelope push = IPSNET__V1__ENVELOPE__INIT;
	push.body_case = BODY(EVENT);
	push.event = &ev;
	fake_send(f, &push);
	Ipsnet__V1__CaughtUp cu = IPSNET__V1__CAUGHT_UP__INIT;
	cu.seq = 1;
	Ipsnet__V1__Envelope cu_env = IPSNET__V1__ENVELOPE__INIT;
	cu_env.body_case = BODY(CAUGHT_UP);
	cu_env.caught_up = &cu;
	fake_send(f, &cu_env);
}

/* `ipsnet sync --mirror` asks for the case of a client whose registration
 * it missed; a ChangeOk in answer ends the run with the library's
 * sentence, and the mirror still wants that case. It read the ChangeOk as
 * a CaseView (resp->case_view shares a union with resp->change_ok) and
 * crashed or put what it read in the mirror. */
static void test_sync_ends_on_a_case_answered_with_a_change(void **state)
{
	struct fake f = {.on_request = backfill_answered_change_ok};
	struct h_result r = {0};
	struct h_args a;
	const char *dir = h_tmpdir();
	assert_non_null(dir);

	fake_start_thread(&f);
	struct h_daemon d = {.port = f.port};
	h_args_init(&a);
	h_args_org(&a, &d, certs, "ggz-test");
	h_args_add(&a, "sync");
	h_args_add(&a, "--mirror");
	h_args_add(&a, "%s/mirror.db", dir);
	int code = h_run_cli(&r, a.argv);
	bool said = strstr(r.err, "show_case") != NULL &&
		    strstr(r.err, "change_ok") != NULL;
	fake_stop_thread(&f);

	if (code == 0 || code >= 128 || code < 0 || !said) {
		fprintf(stderr, "exit %d\nstdout: %s\nstderr: %s\n", code,
			r.out, r.err);
		h_result_free(&r);
		fail_msg("ipsnet sync did not end with the server's wrong "
			 "answer named");
	}
	h_result_free(&r);
}

/* ---- requests over the server's frame limit ---------------------------- */

/* Starts a daemon of the test's own, in a folder of its own. */
static void start_own_daemon(struct h_daemon *d)
{
	const char *dir = h_tmpdir();
	assert_non_null(dir);
	assert_int_equal(h_write_config(dir, certs, ""), 0);
	assert_int_equal(h_daemon_start(d, dir), 0);
}

/* Registers a client as the options' organisation: one journal entry. */
static void register_a_client(const struct ipsnet_options *o)
{
	struct ipsnet_client *cl;
	Ipsnet__V1__Envelope *resp = NULL;
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	uint8_t key16[16];
	char err[256];
	m.bsn = "111222333";
	m.name = "Test Client";
	m.birth_date = "1980-01-01";
	m.municipality = "GM0363";
	m.benefit = IPSNET__V1__BENEFIT__BENEFIT_NONE;
	e.body_case = BODY(REGISTER_CLIENT);
	e.register_client = &m;
	assert_int_equal(ipsnet_new_idempotency_key(key16), 0);
	e.idempotency_key.data = key16;
	e.idempotency_key.len = sizeof(key16);
	if (ipsnet_client_open(&cl, o, err, sizeof(err)) != 0)
		fail_msg("cannot connect: %s", err);
	if (ipsnet_client_call(cl, &e, &resp, err, sizeof(err)) != 0)
		fail_msg("register: %s", err);
	ipsnet_envelope_free(resp);
	ipsnet_client_close(cl);
}

/* ipsnet_client_subscribe_from resumes from a seq with its hash: the
 * journal's (HelloOk.journal_hash at the head) is taken, another refused
 * with IPSNET_EPRECONDITION and the server's sentence. */
static void test_client_subscribe_from_checks_the_hash(void **state)
{
	struct h_daemon d = {0};
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	const struct ipsnet_subscription_callbacks cb = {.on_event =
							     ignore_event};
	start_own_daemon(&d);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, d.port);
	o.timeout_ms = WAIT_MS;

	struct ipsnet_client *cl;
	register_a_client(&o);

	for (int wrong = 0; wrong < 2; wrong++) {
		uint8_t hash[IPSNET_HASH_BYTES];
		uint64_t head = 0;
		if (ipsnet_client_open(&cl, &o, err, sizeof(err)) != 0)
			fail_msg("cannot connect: %s", err);
		const Ipsnet__V1__HelloOk *h = ipsnet_client_hello(cl);
		assert_int_equal(h->journal_seq, 1);
		assert_int_equal(h->journal_hash.len, IPSNET_HASH_BYTES);
		memcpy(hash, h->journal_hash.data, sizeof(hash));
		if (wrong)
			hash[0] ^= 1;
		int rv = ipsnet_client_subscribe_from(
		    cl, 1, hash, NULL, 0, &cb, NULL, &head, err, sizeof(err));
		if (wrong) {
			assert_int_equal(rv, IPSNET_EPRECONDITION);
			assert_non_null(
			    strstr(err, "is not the one this subscriber has"));
		} else {
			if (rv != 0)
				fail_msg("subscribe_from: %s", err);
			assert_int_equal(head, 1);
		}
		ipsnet_client_close(cl);
	}
	assert_int_equal(h_daemon_stop(&d, SIGTERM), 0);
}

/* An OpenSSL error the application left on its thread's queue does not
 * break the library's connection on that thread: SSL_get_error reads the
 * queue, and a stale entry would turn the next "wants more bytes" into a
 * failure. Both the reads and the writes after it go on. */
static void
test_an_openssl_error_left_by_the_caller_is_not_the_librarys(void **state)
{
	struct h_daemon d = {0};
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	uv_loop_t loop;
	struct seen s = {0};
	struct ipsnet_conn *c;
	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	e.body_case = BODY(PING);
	e.ping = &ping;
	start_own_daemon(&d);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, d.port);
	assert_int_equal(uv_loop_init(&loop), 0);
	if (ipsnet_connect(&loop, &o, &seen_cb, &s, &c, err, sizeof(err)) != 0)
		fail_msg("cannot connect: %s", err);
	assert_true(run_until(&loop, is_ready, &s, WAIT_MS));
	assert_int_equal(s.ready_status, 0);

	for (int i = 0; i < 3; i++) {
		struct answer a = {0};
		ERR_raise(ERR_LIB_SSL, SSL_R_BAD_PACKET_LENGTH);
		assert_int_equal(ipsnet_request(c, &e, answered, &a), 0);
		ERR_raise(ERR_LIB_SSL, SSL_R_BAD_PACKET_LENGTH);
		assert_true(run_until(&loop, is_answered, &a, WAIT_MS));
		assert_int_equal(a.status, 0);
		assert_false(s.closed);
	}
	ERR_clear_error();
	ipsnet_close(c);
	assert_true(run_until(&loop, is_closed, &s, WAIT_MS));
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(h_daemon_stop(&d, SIGTERM), 0);
}

/* A software name longer than Hello's 63 bytes is cut before the character
 * its 61st byte is in, and ends in "..."; ipsnetd takes the Hello.
 *
 * Library bug (failed before the fix): it cut at byte 63, inside the
 * second "\u20ac", and ipsnetd refused the Hello ("the text of
 * hello.client_software is not UTF-8"): an application with such a name
 * could not connect. */
static void test_a_long_software_name_is_cut_at_a_character(void **state)
{
	struct h_daemon d = {0};
	struct fake f = {0};
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	char software[80], want[64];
	struct ipsnet_client *cl;
	(void)state;

	/* a euro sign at bytes 59-61 and one at 62-64 */
	memset(software, 'a', 58);
	snprintf(software + 58, sizeof(software) - 58,
		 "\xe2\x82\xac\xe2\x82\xac-werkfit/2.0");
	memset(want, 'a', 58);
	snprintf(want + 58, sizeof(want) - 58, "...");

	fake_start_thread(&f);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, f.port);
	o.software = software;
	int rv = ipsnet_client_open(&cl, &o, err, sizeof(err));
	if (rv == 0)
		ipsnet_client_close(cl);
	fake_stop_thread(&f);
	if (rv != 0)
		fail_msg("cannot connect to the fake server: %s", err);
	assert_string_equal(f.hello_software, want);

	start_own_daemon(&d);
	o = options(server, sizeof(server), ca, cert, key, d.port);
	o.timeout_ms = WAIT_MS;
	o.software = software;
	rv = ipsnet_client_open(&cl, &o, err, sizeof(err));
	if (rv == 0)
		ipsnet_client_close(cl);
	assert_int_equal(h_daemon_stop(&d, SIGTERM), 0);
	if (rv != 0)
		fail_msg("a %zu-byte software name: %s", strlen(software), err);
}

/* ipsnetd refuses a Hello whose client software holds a control character
 * (it logs the name): libipsnet says so before it connects, as it does of
 * a user, naming the byte, with IPSNET_EUSAGE.
 *
 * Library bug (failed before the fix): the connection was made and Hello
 * refused by the server, a failure of the network kind, not of the
 * application's options. */
static void
test_a_software_name_with_a_control_character_is_refused(void **state)
{
	struct h_daemon d = {0};
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	struct ipsnet_client *cl = NULL;
	(void)state;

	start_own_daemon(&d);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, d.port);
	o.timeout_ms = WAIT_MS;
	o.software = "werkfit\n2.0";
	int rv = ipsnet_client_open(&cl, &o, err, sizeof(err));
	if (rv == 0)
		ipsnet_client_close(cl);
	assert_int_equal(h_daemon_stop(&d, SIGTERM), 0);
	if (rv != IPSNET_EUSAGE || strstr(err, "software") == NULL ||
	    strstr(err, "control character at byte 8") == NULL)
		fail_msg("software 'werkfit\\n2.0': %d %s", rv, err);
}

/* The server's limit in these tests (max_frame_bytes, at least 1024), and
 * a request over it. */
#define FRAME_LIMIT 4096
#define OVERSIZE_NAME_BYTES (FRAME_LIMIT + 1000)

/* ipsnetd on 127.0.0.1 with max_frame_bytes = FRAME_LIMIT. */
static void start_daemon_with_frame_limit(struct h_daemon *d)
{
	char extra[64];
	const char *dir = h_tmpdir();
	assert_non_null(dir);
	snprintf(extra, sizeof(extra), "max_frame_bytes = %d\n", FRAME_LIMIT);
	assert_int_equal(h_write_config(dir, certs, extra), 0);
	assert_int_equal(h_daemon_start(d, dir), 0);
}

/* A RegisterClient whose name makes it larger than FRAME_LIMIT; free
 * m->name. */
static void oversize_request(Ipsnet__V1__Envelope *e,
			     Ipsnet__V1__RegisterClient *m)
{
	char *name = malloc(OVERSIZE_NAME_BYTES + 1);
	assert_non_null(name);
	memset(name, 'x', OVERSIZE_NAME_BYTES);
	name[OVERSIZE_NAME_BYTES] = '\0';
	m->name = name;
	e->body_case = BODY(REGISTER_CLIENT);
	e->register_client = m;
}

/* A request larger than the server's frame limit (HelloOk.max_frame_bytes)
 * is refused by the library before anything is written, with
 * IPSNET_EFRAME_TOO_LARGE; the connection and the requests pipelined with
 * it go on. It was sent, and the server answered it with an error and
 * closed the connection, failing every request on it (an import pipelines
 * dozens). */
static void
test_a_request_over_the_frame_limit_is_refused_before_it_is_sent(void **state)
{
	struct h_daemon d = {0};
	uv_loop_t loop;
	struct seen s = {0};
	struct ipsnet_conn *c;
	struct answer before = {0}, after = {0}, sub = {0};
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	const char *kinds[FRAME_LIMIT / 8];
	const struct ipsnet_subscription_callbacks cb = {.on_event =
							     ignore_event};

	start_daemon_with_frame_limit(&d);
	assert_int_equal(uv_loop_init(&loop), 0);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, d.port);
	o.timeout_ms = WAIT_MS;
	if (ipsnet_connect(&loop, &o, &seen_cb, &s, &c, err, sizeof(err)) != 0)
		fail_msg("cannot connect to ipsnetd: %s", err);
	assert_true(run_until(&loop, is_ready, &s, WAIT_MS));
	assert_int_equal(s.ready_status, 0);
	assert_int_equal(ipsnet_conn_hello(c)->max_frame_bytes, FRAME_LIMIT);

	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	Ipsnet__V1__Envelope p = IPSNET__V1__ENVELOPE__INIT;
	p.body_case = BODY(PING);
	p.ping = &ping;
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	oversize_request(&e, &m);
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++)
		kinds[i] = "trajectory";

	assert_int_equal(ipsnet_request(c, &p, answered, &before), 0);
	int big = ipsnet_request(c, &e, seen_response, &s);
	int big_sub =
	    ipsnet_subscribe(c, 0, kinds, sizeof(kinds) / sizeof(kinds[0]), &cb,
			     NULL, answered, &sub);
	assert_int_equal(ipsnet_request(c, &p, answered, &after), 0);
	free((char *)m.name);
	run_until(&loop, is_answered, &after, WAIT_MS);
	bool closed = s.closed;

	ipsnet_close(c);
	assert_true(run_until(&loop, is_closed, &s, WAIT_MS));
	assert_int_equal(uv_loop_close(&loop), 0);
	assert_int_equal(h_daemon_stop(&d, SIGTERM), 0);

	if (big != IPSNET_EFRAME_TOO_LARGE)
		fail_msg("a request of more than %d bytes: ipsnet_request "
			 "returned %d, not IPSNET_EFRAME_TOO_LARGE",
			 FRAME_LIMIT, big);
	assert_int_equal(big_sub, IPSNET_EFRAME_TOO_LARGE);
	assert_int_equal(s.responses, 0); /* refused: no callback */
	assert_false(sub.done);
	assert_false(closed);
	assert_true(before.done);
	assert_int_equal(before.status, 0);
	assert_true(after.done);
	assert_int_equal(after.status, 0);
}

/* The same through ipsnet_client_call: IPSNET_EFRAME_TOO_LARGE, a sentence
 * naming the request's size and the server's limit, and the client still
 * answers the next call. */
static void
test_a_call_over_the_frame_limit_says_its_size_and_the_limit(void **state)
{
	struct h_daemon d = {0};
	struct ipsnet_client *cl = NULL;
	Ipsnet__V1__Envelope *resp = NULL;
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	char want[64];

	start_daemon_with_frame_limit(&d);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, d.port);
	o.timeout_ms = WAIT_MS;
	if (ipsnet_client_open(&cl, &o, err, sizeof(err)) != 0)
		fail_msg("cannot open: %s", err);
	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	oversize_request(&e, &m);
	int rv = ipsnet_client_call(cl, &e, &resp, err, sizeof(err));
	/* with the request id the library gave it */
	size_t size = ipsnet__v1__envelope__get_packed_size(&e);
	free((char *)m.name);
	bool got_resp = resp != NULL;
	ipsnet_envelope_free(resp);

	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	Ipsnet__V1__Envelope p = IPSNET__V1__ENVELOPE__INIT;
	char ping_err[256];
	p.body_case = BODY(PING);
	p.ping = &ping;
	int ping_rv =
	    ipsnet_client_call(cl, &p, &resp, ping_err, sizeof(ping_err));
	ipsnet_envelope_free(resp);
	ipsnet_client_close(cl);
	assert_int_equal(h_daemon_stop(&d, SIGTERM), 0);

	if (rv != IPSNET_EFRAME_TOO_LARGE)
		fail_msg("a request of %zu bytes: ipsnet_client_call returned "
			 "%d (%s), not IPSNET_EFRAME_TOO_LARGE",
			 size, rv, err);
	assert_false(got_resp);
	snprintf(want, sizeof(want), "%zu bytes", size);
	if (strstr(err, want) == NULL)
		fail_msg("the sentence does not name the size (%s): %s", want,
			 err);
	snprintf(want, sizeof(want), "%d bytes", FRAME_LIMIT);
	if (strstr(err, want) == NULL)
		fail_msg("the sentence does not name the limit (%s): %s", want,
			 err);
	if (ping_rv != 0)
		fail_msg("the call after it failed: %s", ping_err);
}

/* ---- answers as large as the server's frame limit ---------------------- */

/* The fake's max_frame_bytes (ipsnetd takes up to 64 MiB), and an answer
 * under it that is larger than 16 MiB. */
#define LARGE_FRAME_LIMIT (32u * 1024 * 1024)
#define LARGE_ANSWER_BYTES (17u * 1024 * 1024)

/* Answers ListPrograms with a ProgramList of LARGE_ANSWER_BYTES. */
static void programs_answered_large(struct fake *f,
				    const Ipsnet__V1__Envelope *req)
{
	if (req->body_case != BODY(LIST_PROGRAMS))
		return;
	char *name = malloc(LARGE_ANSWER_BYTES + 1);
	if (name == NULL)
		return; /* shows as no answer */
	memset(name, 'x', LARGE_ANSWER_BYTES);
	name[LARGE_ANSWER_BYTES] = '\0';
	fake_send_program(f, req->request_id, "ips-large", name);
	free(name);
}

/* Connects to f, asks ListPrograms and waits (until WAIT_MS) for its
 * answer; then closes and stops f. Whether the connection had closed by
 * the answer goes to *closed. */
static void ask_programs_of_fake(struct fake *f, struct answer *list,
				 bool *closed)
{
	uv_loop_t loop;
	struct seen s = {0};
	struct ipsnet_conn *c = connect_fake(&loop, f, &s);
	assert_int_equal(s.ready_status, 0);
	assert_int_equal(ipsnet_conn_hello(c)->max_frame_bytes,
			 f->max_frame_bytes);
	Ipsnet__V1__ListPrograms lp = IPSNET__V1__LIST_PROGRAMS__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	e.body_case = BODY(LIST_PROGRAMS);
	e.list_programs = &lp;
	assert_int_equal(ipsnet_request(c, &e, answered, list), 0);
	run_until(&loop, is_answered, list, WAIT_MS);
	*closed = s.closed;

	if (!s.closed)
		ipsnet_close(c);
	end_fake(&loop, f, &s);
}

/* A server answers in frames up to the max_frame_bytes its HelloOk names
 * (ipsnetd's operator raises it when an answer does not fit, as its
 * RESOURCE_EXHAUSTED refusals say). The library read frames of at most
 * 16 MiB whatever the server said: a larger answer under the server's
 * limit failed the connection with IPSNET_EFRAME_TOO_LARGE, and with it
 * every request pipelined on it. */
static void test_an_answer_under_the_servers_frame_limit_is_read(void **state)
{
	struct fake f = {.on_request = programs_answered_large,
			 .max_frame_bytes = LARGE_FRAME_LIMIT};
	struct answer list = {0};
	bool closed;
	ask_programs_of_fake(&f, &list, &closed);
	assert_true(list.done);
	if (list.status != 0)
		fail_msg("an answer of more than %u bytes, under the server's "
			 "limit of %u bytes, failed with %s",
			 LARGE_ANSWER_BYTES, LARGE_FRAME_LIMIT,
			 ipsnet_err_name(list.status));
	assert_false(closed);
}

/* Answers ListPrograms with the header of a frame one byte over
 * FRAME_MAX_BYTES, and nothing after it. */
static void programs_answered_too_large(struct fake *f,
					const Ipsnet__V1__Envelope *req)
{
	if (req->body_case != BODY(LIST_PROGRAMS))
		return;
	uint32_t n = htonl(FRAME_MAX_BYTES + 1);
	(void)stream_send_framed(&f->stream, (const uint8_t *)&n, sizeof(n));
}

/* ... but no further than any server may: a HelloOk that announces 4 GiB
 * does not let the server make the library take a frame over
 * FRAME_MAX_BYTES (64 MiB, ipsnetd's largest max_frame_bytes); such a
 * frame fails the connection at its header, at once. Was (after HelloOk
 * raised the limit): taken as announced, a body of the header's size
 * reserved and waited for. */
static void test_no_server_makes_the_library_take_more_than_64_mib(void **state)
{
	struct fake f = {.on_request = programs_answered_too_large,
			 .max_frame_bytes = UINT32_MAX};
	struct answer list = {0};
	bool closed;
	ask_programs_of_fake(&f, &list, &closed);
	assert_true(list.done);
	assert_int_equal(list.status, IPSNET_EFRAME_TOO_LARGE);
}

/* Answers Ping with Pong and ListFunding with a Pong (not its body);
 * holds ListPrograms unanswered. */
static void pongs_and_holds(struct fake *f, const Ipsnet__V1__Envelope *req)
{
	if (req->body_case != BODY(PING) &&
	    req->body_case != BODY(LIST_FUNDING))
		return;
	fake_send_pong(f, req->request_id, 0);
}

/* A request whose answer nobody waits for (cb NULL, as ipsnet.h allows):
 * its answer, a wrong answer to it, and its end when the connection
 * closes are dropped, and the connection and the other requests go on.
 * Was: the library called the NULL callback, a crash at the answer. */
static void test_a_request_without_a_callback_drops_its_answer(void **state)
{
	uv_loop_t loop;
	struct fake f = {.on_request = pongs_and_holds};
	struct seen s = {0};
	struct answer last = {0};
	struct ipsnet_conn *c;

	c = connect_fake(&loop, &f, &s);
	assert_int_equal(s.ready_status, 0);
	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	Ipsnet__V1__ListFunding lf = IPSNET__V1__LIST_FUNDING__INIT;
	Ipsnet__V1__ListPrograms lp = IPSNET__V1__LIST_PROGRAMS__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	e.body_case = BODY(LIST_PROGRAMS);
	e.list_programs = &lp;
	assert_int_equal(ipsnet_request(c, &e, NULL, NULL), 0);
	e.body_case = BODY(LIST_FUNDING);
	e.list_funding = &lf;
	assert_int_equal(ipsnet_request(c, &e, NULL, NULL), 0);
	e.body_case = BODY(PING);
	e.ping = &ping;
	assert_int_equal(ipsnet_request(c, &e, NULL, NULL), 0);
	assert_int_equal(ipsnet_request(c, &e, answered, &last), 0);
	assert_true(run_until(&loop, is_answered, &last, WAIT_MS));
	bool closed = s.closed;

	ipsnet_close(c); /* ListPrograms is still pending */
	end_fake(&loop, &f, &s);
	assert_int_equal(last.status, 0);
	assert_false(closed);
}

/* A request made before on_ready is refused with IPSNET_EUSAGE (nothing
 * is sent) and one made after it goes; after close it is IPSNET_ECLOSED.
 * Was: IPSNET_ECLOSED before on_ready too, as if the connection had
 * failed, while it was still being made. */
static void test_a_request_before_ready_is_a_usage_error(void **state)
{
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	uv_loop_t loop;
	struct fake f = {.on_request = pongs_and_holds};
	struct seen s = {0};
	struct answer last = {0};
	struct ipsnet_conn *c;
	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	e.body_case = BODY(PING);
	e.ping = &ping;

	assert_int_equal(uv_loop_init(&loop), 0);
	fake_start(&f, &loop);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, f.port);
	if (ipsnet_connect(&loop, &o, &seen_cb, &s, &c, err, sizeof(err)) != 0)
		fail_msg("cannot connect to the fake server: %s", err);
	int early = ipsnet_request(c, &e, answered, &last);
	assert_true(run_until(&loop, is_ready, &s, WAIT_MS));
	assert_int_equal(s.ready_status, 0);
	int ready = ipsnet_request(c, &e, answered, &last);
	assert_true(run_until(&loop, is_answered, &last, WAIT_MS));
	ipsnet_close(c);
	int closing = ipsnet_request(c, &e, answered, &last);
	end_fake(&loop, &f, &s);
	if (early != IPSNET_EUSAGE)
		fail_msg("a request before on_ready: %s, not IPSNET_EUSAGE",
			 ipsnet_err_name(early));
	assert_int_equal(ready, 0);
	assert_int_equal(last.status, 0);
	assert_int_equal(closing, IPSNET_ECLOSED);
}

/* ---- the synchronous client's own callbacks ----------------------------- */

struct nested {
	struct ipsnet_client *cl;
	int events;
	int call_rv;
	char err[256];
};

/* On the first event, a Ping through ipsnet_client_call, then a stop. */
static void call_from_event(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
			    void *arg)
{
	struct nested *n = arg;
	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	Ipsnet__V1__Envelope p = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Envelope *resp = NULL;
	if (n->events++ > 0)
		return;
	p.body_case = BODY(PING);
	p.ping = &ping;
	n->call_rv =
	    ipsnet_client_call(n->cl, &p, &resp, n->err, sizeof(n->err));
	ipsnet_envelope_free(resp);
	ipsnet_client_stop(n->cl);
}

/* A program that follows the journal and asks the server more about an
 * event (ShowCase of its client) calls ipsnet_client_call from on_event.
 * The client's private loop cannot run inside itself: the call waited
 * timeout_ms for an answer the loop under it could not hand over, said
 * "no answer from the server" and closed the connection, and the
 * ipsnet_client_run around it returned IPSNET_ETIMEOUT as well. Such a
 * call is refused at once with IPSNET_EUSAGE and the client goes on. */
static void
test_a_call_from_a_callback_of_the_client_is_refused_at_once(void **state)
{
	struct h_daemon d = {0};
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	struct nested n = {0};
	uint64_t head = 0;
	const struct ipsnet_subscription_callbacks cb = {.on_event =
							     call_from_event};
	start_own_daemon(&d);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, d.port);
	o.timeout_ms = WAIT_MS;
	register_a_client(&o);

	if (ipsnet_client_open(&n.cl, &o, err, sizeof(err)) != 0)
		fail_msg("cannot connect: %s", err);
	if (ipsnet_client_subscribe(n.cl, 0, NULL, 0, &cb, &n, &head, err,
				    sizeof(err)) != 0)
		fail_msg("subscribe: %s", err);
	int rv = ipsnet_client_run(n.cl, WAIT_MS, err, sizeof(err));
	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	Ipsnet__V1__Envelope p = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Envelope *resp = NULL;
	char ping_err[256];
	p.body_case = BODY(PING);
	p.ping = &ping;
	int ping_rv =
	    ipsnet_client_call(n.cl, &p, &resp, ping_err, sizeof(ping_err));
	ipsnet_envelope_free(resp);
	ipsnet_client_close(n.cl);
	assert_int_equal(h_daemon_stop(&d, SIGTERM), 0);

	assert_int_equal(n.events, 1);
	if (n.call_rv != IPSNET_EUSAGE)
		fail_msg("ipsnet_client_call from on_event returned %s (%s), "
			 "not IPSNET_EUSAGE",
			 ipsnet_err_name(n.call_rv), n.err);
	assert_non_null(strstr(n.err, "callback"));
	if (rv != 0)
		fail_msg("ipsnet_client_run returned %s (%s) after "
			 "ipsnet_client_stop",
			 ipsnet_err_name(rv), err);
	if (ping_rv != 0)
		fail_msg("the call after it failed: %s", ping_err);
}

/* ---- a name with more than one address -------------------------------- */

/* A server name that resolves to more than one address (localhost: ::1
 * and 127.0.0.1; a host with an AAAA record the client cannot reach) is
 * reached on the first address that takes the connection. Only the first
 * was tried: with nothing listening there, ipsnet_client_open failed with
 * IPSNET_ECONNECT ("connection refused (is ipsnetd running?)") while the
 * server answered on the next one. */
static void test_a_name_is_tried_at_each_of_its_addresses(void **state)
{
	struct h_daemon d = {0};
	struct ipsnet_client *cl = NULL;
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	int fd;
	start_own_daemon(&d);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, d.port);
	o.timeout_ms = WAIT_MS;
	snprintf(server, sizeof(server), "localhost:%d", d.port);
	localhost_refused_port = h_closed_port(&fd);
	assert_int_not_equal(localhost_refused_port, 0);

	int rv = ipsnet_client_open(&cl, &o, err, sizeof(err));
	localhost_refused_port = 0;
	close(fd);
	if (rv == 0)
		ipsnet_client_close(cl);
	assert_int_equal(h_daemon_stop(&d, SIGTERM), 0);

	if (rv != 0)
		fail_msg("localhost (127.0.0.1 refused, then 127.0.0.1:%d): "
			 "%s: %s",
			 d.port, ipsnet_err_name(rv), err);
}

/* A call that got no answer in time closes the connection (whether the
 * server acted is unknown); the calls and the run after it say that, not
 * a bare "cannot send the request: connection closed" that left a program
 * and its log to guess why. */
static void test_calls_after_a_timed_out_call_say_why(void **state)
{
	struct fake f = {.on_request = pongs_and_holds};
	struct ipsnet_client *cl = NULL;
	Ipsnet__V1__Envelope *resp = NULL;
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	char call_err[256] = "", run_err[256] = "";

	fake_start_thread(&f);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, f.port);
	o.timeout_ms = TIMEOUT_MS;
	if (ipsnet_client_open(&cl, &o, err, sizeof(err)) != 0)
		fail_msg("cannot open: %s", err);
	Ipsnet__V1__ListPrograms lp = IPSNET__V1__LIST_PROGRAMS__INIT;
	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	e.body_case = BODY(LIST_PROGRAMS);
	e.list_programs = &lp;
	int held = ipsnet_client_call(cl, &e, &resp, err, sizeof(err));
	ipsnet_envelope_free(resp);
	e.body_case = BODY(PING);
	e.ping = &ping;
	int call =
	    ipsnet_client_call(cl, &e, &resp, call_err, sizeof(call_err));
	ipsnet_envelope_free(resp);
	int run = ipsnet_client_run(cl, TIMEOUT_MS, run_err, sizeof(run_err));
	ipsnet_client_close(cl);
	fake_stop_thread(&f);

	assert_int_equal(held, IPSNET_ETIMEOUT);
	if (call != IPSNET_ECLOSED ||
	    strstr(call_err, "no answer within") == NULL)
		fail_msg("the call after it: %s (%s)", ipsnet_err_name(call),
			 call_err);
	if (run != IPSNET_ECLOSED ||
	    strstr(run_err, "no answer within") == NULL)
		fail_msg("the run after it: %s (%s)", ipsnet_err_name(run),
			 run_err);
}

/* ---- two clients on one thread ----------------------------------------- */

/* Appends env as a frame to buf (cap bytes) at *len. */
static void put_frame(uint8_t *buf, size_t cap, size_t *len,
		      const Ipsnet__V1__Envelope *env)
{
	size_t n = ipsnet__v1__envelope__get_packed_size(env);
	if (*len + FRAME_HEADER_BYTES + n > cap)
		return; /* the test sees the frame missing */
	frame_put_header(buf + *len, (uint32_t)n);
	ipsnet__v1__envelope__pack(env, buf + *len + FRAME_HEADER_BYTES);
	*len += FRAME_HEADER_BYTES + n;
}

/* Answers Subscribe with Subscribed, five Events (seq 1 to 5) and CaughtUp
 * in one write, one TLS record, as ipsnetd sends a stretch of the journal
 * (stream_send_framed); answers ListPrograms with a program whose name is
 * 4000 bytes long. */
static void five_in_one_record(struct fake *f, const Ipsnet__V1__Envelope *req)
{
	uint8_t buf[8192];
	size_t len = 0;
	char text[4000];
	Ipsnet__V1__Status ok = IPSNET__V1__STATUS__INIT;
	memset(text, 'n', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	if (req->body_case == BODY(LIST_PROGRAMS)) {
		fake_send_program(f, req->request_id, "ips-long", text);
		return;
	}
	if (req->body_case != BODY(SUBSCRIBE))
		return;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribed sd = IPSNET__V1__SUBSCRIBED__INIT;
	sd.head_seq = 5;
	env.status = &ok;
	env.request_id = req->request_id;
	env.body_case = BODY(SUBSCRIBED);
	env.subscribed = &sd;
	put_frame(buf, sizeof(buf), &len, &env);
	for (uint64_t seq = 1; seq <= 5; seq++) {
		Ipsnet__V1__Envelope push = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
		ev.seq = seq;
		ev.change = "register_client";
		ev.organisation = text + sizeof(text) - 1 - 400;
		push.status = &ok;
		push.body_case = BODY(EVENT);
		push.event = &ev;
		put_frame(buf, sizeof(buf), &len, &push);
	}
	Ipsnet__V1__Envelope cu_env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__CaughtUp cu = IPSNET__V1__CAUGHT_UP__INIT;
	cu.seq = 5;
	cu_env.status = &ok;
	cu_env.body_case = BODY(CAUGHT_UP);
	cu_env.caught_up = &cu;
	put_frame(buf, sizeof(buf), &len, &cu_env);
	(void)stream_send_framed(&f->stream, buf, len);
}

struct relay {
	struct ipsnet_client *cl, *other;
	uint64_t seqs[8];
	int n;
	int call_rv; /* the first call on other that failed */
	char err[256];
};

/* For each event, ListPrograms through another client. */
static void ask_other(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
		      void *arg)
{
	struct relay *r = arg;
	Ipsnet__V1__ListPrograms lp = IPSNET__V1__LIST_PROGRAMS__INIT;
	Ipsnet__V1__Envelope p = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Envelope *resp = NULL;
	if (r->n < (int)ARRAY_SIZE(r->seqs))
		r->seqs[r->n] = ev->seq;
	r->n++;
	p.body_case = BODY(LIST_PROGRAMS);
	p.list_programs = &lp;
	int rv =
	    ipsnet_client_call(r->other, &p, &resp, r->err, sizeof(r->err));
	ipsnet_envelope_free(resp);
	if (rv != 0 && r->call_rv == 0)
		r->call_rv = rv;
}

static void relay_caught_up(struct ipsnet_conn *c, uint64_t seq, void *arg)
{
	struct relay *r = arg;
	if (r->n < (int)ARRAY_SIZE(r->seqs))
		r->seqs[r->n] = 100 + seq;
	r->n++;
	ipsnet_client_stop(r->cl);
}

/* A program that follows one organisation's journal and, for each event,
 * asks something of another client (of another server, or as another
 * organisation), as the refusal of a call from a callback of the same
 * client advises ("or use another client"). The other client's answer was
 * decrypted into the buffer that the first client's frames, read in the
 * same TLS record, were still being decoded from: the events after the
 * first were lost and the connection failed ("does not decode"), or the
 * other connection's bytes were taken for this one's. */
static void test_a_call_on_another_client_from_a_callback(void **state)
{
	struct fake fa = {.on_request = five_in_one_record};
	struct fake fb = {.on_request = five_in_one_record};
	struct relay r = {0};
	uint64_t head = 0;
	char server[64], ca[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], err[256];
	const struct ipsnet_subscription_callbacks cb = {
	    .on_event = ask_other, .on_caught_up = relay_caught_up};

	fake_start_thread(&fa);
	fake_start_thread(&fb);
	struct ipsnet_options o =
	    options(server, sizeof(server), ca, cert, key, fb.port);
	if (ipsnet_client_open(&r.other, &o, err, sizeof(err)) != 0)
		fail_msg("cannot open: %s", err);
	o = options(server, sizeof(server), ca, cert, key, fa.port);
	if (ipsnet_client_open(&r.cl, &o, err, sizeof(err)) != 0)
		fail_msg("cannot open: %s", err);
	int rv = ipsnet_client_subscribe(r.cl, 0, NULL, 0, &cb, &r, &head, err,
					 sizeof(err));
	if (rv == 0 && r.n < 6)
		rv = ipsnet_client_run(r.cl, WAIT_MS, err, sizeof(err));
	ipsnet_client_close(r.cl);
	ipsnet_client_close(r.other);
	fake_stop_thread(&fa);
	fake_stop_thread(&fb);

	if (rv != 0)
		fail_msg("after %d callbacks: %s (%s)", r.n,
			 ipsnet_err_name(rv), err);
	if (r.call_rv != 0)
		fail_msg("a call on the other client: %s (%s)",
			 ipsnet_err_name(r.call_rv), r.err);
	static const uint64_t want[] = {1, 2, 3, 4, 5, 105};
	assert_int_equal(r.n, 6);
	for (size_t i = 0; i < ARRAY_SIZE(want); i++)
		assert_int_equal(r.seqs[i], want[i]);
}

/* ---- group ------------------------------------------------------------- */

static int group_setup(void **state)
{
	if (uv_mutex_init(&slow_mutex) != 0 || uv_cond_init(&slow_cond) != 0)
		return -1;
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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(
		test_a_late_subscribed_does_not_answer_the_next_call),
	    cmocka_unit_test(test_a_user_too_long_for_hello_is_refused_not_cut),
	    cmocka_unit_test(
		test_close_ends_even_when_the_server_reads_nothing),
	    cmocka_unit_test(
		test_a_refused_subscribe_leaves_the_subscription_as_it_was),
	    cmocka_unit_test(
		test_a_stop_from_a_callback_inside_subscribe_is_not_lost),
	    cmocka_unit_test(test_a_stop_holds_the_events_already_read),
	    cmocka_unit_test(test_events_kept_after_a_stop_go_with_the_client),
	    cmocka_unit_test(test_what_a_stop_keeps_is_bounded),
	    cmocka_unit_test(
		test_an_event_below_the_last_one_fails_the_connection),
	    cmocka_unit_test(test_an_event_repeated_fails_the_connection),
	    cmocka_unit_test(
		test_a_caught_up_below_the_last_event_fails_the_connection),
	    cmocka_unit_test(
		test_an_event_before_subscribed_fails_the_connection),
	    cmocka_unit_test(
		test_a_progress_below_the_last_event_fails_the_connection),
	    cmocka_unit_test(
		test_an_event_at_or_below_since_fails_the_connection),
	    cmocka_unit_test(
		test_subscribe_answered_with_another_body_fails_the_connection),
	    cmocka_unit_test(
		test_an_answer_of_the_wrong_kind_fails_its_request),
	    cmocka_unit_test(test_sync_ends_on_a_case_answered_with_a_change),
	    cmocka_unit_test(test_open_keeps_its_deadline_while_a_lookup_runs),
	    cmocka_unit_test(test_client_subscribe_from_checks_the_hash),
	    cmocka_unit_test(
		test_an_openssl_error_left_by_the_caller_is_not_the_librarys),
	    cmocka_unit_test(test_a_long_software_name_is_cut_at_a_character),
	    cmocka_unit_test(
		test_a_software_name_with_a_control_character_is_refused),
	    cmocka_unit_test(
		test_a_request_over_the_frame_limit_is_refused_before_it_is_sent),
	    cmocka_unit_test(
		test_a_call_over_the_frame_limit_says_its_size_and_the_limit),
	    cmocka_unit_test(
		test_an_answer_under_the_servers_frame_limit_is_read),
	    cmocka_unit_test(
		test_no_server_makes_the_library_take_more_than_64_mib),
	    cmocka_unit_test(
		test_a_request_without_a_callback_drops_its_answer),
	    cmocka_unit_test(test_a_request_before_ready_is_a_usage_error),
	    cmocka_unit_test(
		test_a_call_from_a_callback_of_the_client_is_refused_at_once),
	    cmocka_unit_test(test_a_name_is_tried_at_each_of_its_addresses),
	    cmocka_unit_test(test_a_call_on_another_client_from_a_callback),
	    cmocka_unit_test(test_calls_after_a_timed_out_call_say_why),
	};

	return cmocka_run_group_tests_name("integration lib", tests,
					   group_setup, group_teardown);
}
