/* libipsnet's asynchronous connection: resolve, connect, TLS, Hello, then
 * requests matched to responses by request id. */
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "alloc.h"
#include "config.h"
#include "ipsnet.h"
#include "stream.h"
#include "tls.h"
#include "util.h"
#include "validate.h"

#define DEFAULT_TIMEOUT_MS 10000

enum conn_state {
	C_RESOLVING,
	C_CONNECTING, /* TCP and TLS */
	C_HELLO,      /* Hello sent, waiting for HelloOk */
	C_READY,
	C_CLOSING,
};

struct pending {
	uint64_t id;
	Ipsnet__V1__Envelope__BodyCase asked; /* the request's body */
	ipsnet_response_cb cb;
	void *arg;
	/* A Subscribe's callbacks, which take over when it is answered
	 * Subscribed (sub_cb.on_event is NULL for any other request). */
	struct ipsnet_subscription_callbacks sub_cb;
	void *sub_arg;
	uint64_t since; /* a Subscribe's since_seq */
	struct pending *next;
};

/* A name lookup on a thread of its own. getaddrinfo cannot be stopped
 * once it runs (uv_cancel stops only a lookup still queued), and a
 * uv_getaddrinfo request holds its loop until it ends: a resolver that
 * hung held the caller past timeout_ms, and ipsnet_client_open, which
 * closes its private loop, until the resolver gave up. A connection that
 * no longer waits lets go of its lookup; the thread then frees it when
 * getaddrinfo returns, and touches nothing of the connection. */
struct lookup {
	uv_mutex_t mutex;
	int refs; /* the thread's, and the connection's until it lets go */
	uv_async_t *done; /* the connection's; NULL once it let go */
	char host[128];
	char port[8];
	int status; /* getaddrinfo's */
	struct addrinfo *ai;
};

struct ipsnet_conn {
	struct ipsnet_stream stream;
	uv_timer_t timer; /* the deadline for connect, handshake and Hello */
	uv_async_t looked_up;  /* the lookup's answer comes to the loop */
	struct lookup *lookup; /* NULL once answered or let go */
	struct addrinfo *addrs; /* what the lookup found */
	struct addrinfo *addr;	/* the one connecting to */
	uv_loop_t *loop;
	SSL_CTX *ctx;
	struct ipsnet_callbacks cb;
	void *arg;

	enum conn_state state;
	bool resolving;	     /* looked_up is open */
	bool stream_started; /* the stream's handle exists */
	bool timer_open;
	char host[128];
	char port[8];
	char where[144]; /* HOST:PORT or [IPV6]:PORT, as --server takes it */
	char cn[ORG_ID_MAX]; /* of our own certificate */
	char user[128];
	char software[64];
	uint32_t timeout_ms;
	uint64_t next_id;
	struct pending *pending, *pending_tail;
	/* the subscription's, from its Subscribed answer on */
	struct ipsnet_subscription_callbacks sub_cb;
	void *sub_arg;
	uint64_t last_event_seq;     /* of the subscription's last event */
	uint64_t sub_since;	     /* its since_seq: events come after it */
	uint64_t sub_read;	     /* how far the server said it read: the
				      * last event's, Progress's or CaughtUp's
				      * seq */
	uint8_t sub_hash[IPSNET_HASH_BYTES]; /* of its last event or CaughtUp */
	bool sub_hash_known;
	int subscribing;	     /* Subscribe requests not yet answered */
	Ipsnet__V1__Envelope *hello; /* the HelloOk response */
	int status;                  /* why it closed */
	char message[320];
};

static void finish(struct ipsnet_conn *c);
static void let_go(struct ipsnet_conn *c);
static int connect_next(struct ipsnet_conn *c);

static void set_status(struct ipsnet_conn *c, int status, const char *message)
{
	if (c->status != 0 || status == 0)
		return;
	c->status = status;
	util_strlcpy(c->message, message != NULL ? message
						 : ipsnet_strerror(status),
		     sizeof(c->message));
}

/* Whether our own certificate's validity begins after now; if so, when
 * (UTC) into buf. */
static bool own_not_yet_valid(struct ipsnet_conn *c, char *buf, size_t cap)
{
	X509 *own = SSL_CTX_get0_certificate(c->ctx);
	struct tm tm;
	if (own == NULL ||
	    X509_cmp_current_time(X509_get0_notBefore(own)) <= 0 ||
	    ASN1_TIME_to_tm(X509_get0_notBefore(own), &tm) != 1)
		return false;
	strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm);
	return true;
}

/* Turns what the stream saw into one sentence a person can act on. */
static void explain_stream_failure(struct ipsnet_conn *c)
{
	struct ipsnet_stream *s = &c->stream;
	char msg[320], when[32];
	int code = s->error != 0 ? s->error : IPSNET_ECLOSED;

	if (code == IPSNET_ETLS && s->peer_alert >= 0) {
		switch (s->peer_alert) {
		case SSL_AD_CERTIFICATE_REQUIRED:
		case SSL_AD_HANDSHAKE_FAILURE:
			if (c->cn[0] == '\0') {
				snprintf(msg, sizeof(msg),
					 "the server requires a client "
					 "certificate: give --cert and --key, "
					 "or --profile");
				code = IPSNET_ECERT;
				break;
			}
			/* fall through */
		case SSL_AD_BAD_CERTIFICATE:
			/* OpenSSL's alert for a certificate whose time has
			 * not come yet: say that, not "bad certificate". */
			if (own_not_yet_valid(c, when, sizeof(when))) {
				snprintf(msg, sizeof(msg),
					 "the server refused certificate '%s': "
					 "it is not valid until %s (check the "
					 "clocks, or ask the network operator)",
					 c->cn, when);
				code = IPSNET_ECERT;
				break;
			}
			/* fall through */
		case SSL_AD_CERTIFICATE_REVOKED:
		case SSL_AD_CERTIFICATE_EXPIRED:
		case SSL_AD_UNKNOWN_CA:
		case SSL_AD_UNSUPPORTED_CERTIFICATE:
		case SSL_AD_CERTIFICATE_UNKNOWN:
		case SSL_AD_ACCESS_DENIED:
			snprintf(msg, sizeof(msg),
				 "the server refused certificate '%s': %s",
				 c->cn, tls_alert_reason(s->peer_alert));
			code = IPSNET_ECERT;
			break;
		case SSL_AD_PROTOCOL_VERSION:
			snprintf(msg, sizeof(msg),
				 "the server and this client have no TLS "
				 "version in common (the server requires TLS "
				 "1.3 unless configured for 1.2)");
			break;
		default:
			snprintf(msg, sizeof(msg),
				 "the server ended the TLS connection: %s",
				 tls_alert_reason(s->peer_alert));
			break;
		}
	} else if (code == IPSNET_ETLS && s->verify_result != X509_V_OK) {
		snprintf(msg, sizeof(msg), "cannot trust the server at %s: %s",
			 c->where, s->reason);
	} else if (code == IPSNET_ECONNECT) {
		snprintf(msg, sizeof(msg),
			 "cannot connect to %s: %s (is ipsnetd running?)",
			 c->where, s->reason);
	} else if (c->state < C_READY && code == IPSNET_ECLOSED) {
		snprintf(msg, sizeof(msg),
			 "the server at %s closed the connection before "
			 "it was ready",
			 c->where);
	} else if (code == IPSNET_ECLOSED || code == IPSNET_EIO) {
		/* Whose connection, and whether a request was left without
		 * its answer (a change then may or may not have been made). */
		snprintf(msg, sizeof(msg),
			 "the server at %s closed the connection%s%s%s",
			 c->where,
			 c->pending != NULL ? " before it answered" : "",
			 code == IPSNET_EIO ? ": " : "",
			 code == IPSNET_EIO ? s->reason : "");
	} else {
		snprintf(msg, sizeof(msg), "%s",
			 s->reason[0] != '\0' ? s->reason
					      : ipsnet_strerror(code));
	}
	set_status(c, code, msg);
}

static void timer_closed(uv_handle_t *h)
{
	struct ipsnet_conn *c = container_of((uv_timer_t *)h,
					     struct ipsnet_conn, timer);
	c->timer_open = false;
	finish(c);
}

static void close_timer(struct ipsnet_conn *c)
{
	if (c->timer_open && !uv_is_closing((uv_handle_t *)&c->timer))
		uv_close((uv_handle_t *)&c->timer, timer_closed);
}

/* A graceful close waits until the queued writes have gone out: from a
 * server that takes no more bytes, never. It gets timeout_ms, then the
 * connection is cut. */
static void close_deadline(uv_timer_t *t)
{
	struct ipsnet_conn *c = container_of(t, struct ipsnet_conn, timer);
	char msg[160];
	snprintf(msg, sizeof(msg),
		 "the server at %s took nothing more within %u ms; the "
		 "connection was cut before all was sent",
		 c->where, c->timeout_ms);
	stream_abort(&c->stream, IPSNET_ETIMEOUT, msg);
}

static void begin_close(struct ipsnet_conn *c, int status, const char *msg)
{
	set_status(c, status, msg);
	if (c->state == C_CLOSING)
		return;
	c->state = C_CLOSING;
	let_go(c);
	if (c->stream_started) {
		stream_close(&c->stream, status, msg);
		if (c->timer_open)
			uv_timer_start(&c->timer, close_deadline, c->timeout_ms,
				       0);
	} else {
		close_timer(c);
	}
	finish(c);
}

static void finish(struct ipsnet_conn *c)
{
	if (c->state != C_CLOSING || c->resolving || c->stream_started ||
	    c->timer_open)
		return;
	const char *msg = c->message[0] != '\0' ? c->message
						: "the connection is closed";
	int status = c->status != 0 ? c->status : IPSNET_ECLOSED;
	if (c->hello == NULL && c->cb.on_ready != NULL) {
		/* on_ready was not called yet: it learns the failure first. */
		c->cb.on_ready(c, status, msg, c->arg);
	}
	struct pending *p = c->pending;
	while (p != NULL) {
		struct pending *next = p->next;
		if (p->cb != NULL)
			p->cb(c, status, msg, NULL, p->arg);
		ipsnet_free(p);
		p = next;
	}
	c->pending = NULL;
	if (c->cb.on_closed != NULL)
		c->cb.on_closed(c, c->status, c->status != 0 ? msg : NULL,
				c->arg);
	if (c->hello != NULL)
		ipsnet_envelope_free(c->hello);
	if (c->addrs != NULL)
		freeaddrinfo(c->addrs);
	SSL_CTX_free(c->ctx);
	ipsnet_free(c);
}

static void on_stream_close(struct ipsnet_stream *s)
{
	struct ipsnet_conn *c = s->data;
	c->stream_started = false;
	/* A name may have other addresses (::1 and 127.0.0.1): the server
	 * may listen on one of those. */
	if (c->state == C_CONNECTING && s->error == IPSNET_ECONNECT &&
	    c->addr->ai_next != NULL) {
		c->addr = c->addr->ai_next;
		int rv = connect_next(c);
		if (rv == 0)
			return;
		set_status(c, rv, "cannot start connecting");
	}
	if (c->status == 0 && !(c->state == C_CLOSING && s->error == 0))
		explain_stream_failure(c);
	close_timer(c);
	if (c->state != C_CLOSING)
		begin_close(c, c->status, c->message);
	else
		finish(c);
}

static void on_handshake(struct ipsnet_stream *s)
{
	struct ipsnet_conn *c = s->data;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Hello hello = IPSNET__V1__HELLO__INIT;
	hello.protocol_version = IPSNET_PROTOCOL_VERSION;
	hello.client_software = c->software;
	hello.user = c->user;
	env.request_id = ++c->next_id;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_HELLO;
	env.hello = &hello;
	c->state = C_HELLO;
	int rv = stream_send_envelope(s, &env);
	if (rv != 0)
		begin_close(c, rv, "cannot send Hello");
}

static int response_status(const Ipsnet__V1__Envelope *env,
			   const char **message)
{
	if (env->status == NULL || env->status->code == IPSNET__V1__CODE__OK) {
		*message = NULL;
		return 0;
	}
	*message = env->status->message;
	int err = ipsnet_err_from_status(env->status->code);
	return err != 0 ? err : IPSNET_EINTERNAL;
}

static void got_hello(struct ipsnet_conn *c, Ipsnet__V1__Envelope *env)
{
	const char *server_msg;
	char msg[320];
	int rv = response_status(env, &server_msg);
	if (rv == 0 && env->body_case != IPSNET__V1__ENVELOPE__BODY_HELLO_OK)
		rv = IPSNET_EPROTOCOL;
	if (rv != 0) {
		if (rv == IPSNET_EUNAUTHENTICATED)
			snprintf(msg, sizeof(msg),
				 "the server refused the connection: %s",
				 server_msg != NULL ? server_msg : "");
		else
			snprintf(msg, sizeof(msg),
				 "the server did not accept Hello: %s",
				 server_msg != NULL ? server_msg
						    : "unexpected answer");
		ipsnet_envelope_free(env);
		begin_close(c, rv, msg);
		return;
	}
	c->hello = env;
	/* The server answers in frames up to its own limit, which its
	 * operator may have raised past what we read before Hello; but no
	 * further than any server may (a peer never decides how much we
	 * take). */
	uint32_t theirs = env->hello_ok->max_frame_bytes;
	if (theirs > FRAME_MAX_BYTES)
		theirs = FRAME_MAX_BYTES;
	if (theirs > c->stream.decoder.max_frame_bytes)
		c->stream.decoder.max_frame_bytes = theirs;
	c->state = C_READY;
	uv_timer_stop(&c->timer);
	if (c->cb.on_ready != NULL)
		c->cb.on_ready(c, 0, NULL, c->arg);
}

/* A subscription's events come in the order of their seq, and a CaughtUp
 * is at or after the last of them: a program stores ev->seq as its cursor
 * and puts each entity's state over the one before. Whether env, pushed,
 * breaks that (msg says how). */
static bool out_of_order(struct ipsnet_conn *c, const Ipsnet__V1__Envelope *env,
			 char *msg, size_t cap)
{
	bool event = env->body_case == IPSNET__V1__ENVELOPE__BODY_EVENT;
	bool progress = env->body_case == IPSNET__V1__ENVELOPE__BODY_PROGRESS;
	if (c->sub_cb.on_event == NULL) {
		/* Before the answer to Subscribe there is no subscription
		 * yet, and it may still be refused. */
		if (c->subscribing == 0 ||
		    (!event && !progress &&
		     env->body_case != IPSNET__V1__ENVELOPE__BODY_CAUGHT_UP))
			return false;
		snprintf(msg, cap,
			 "the server sent %s before its answer to Subscribe",
			 event	    ? "an event"
			 : progress ? "Progress"
				    : "CaughtUp");
		return true;
	}
	if (progress && env->progress->seq < c->last_event_seq) {
		snprintf(msg, cap,
			 "the server said it had read up to seq %llu after it "
			 "sent event %llu",
			 (unsigned long long)env->progress->seq,
			 (unsigned long long)c->last_event_seq);
		return true;
	}
	if (event && env->event->seq <= c->sub_since) {
		/* The subscriber has it (it resumes from since): it would move
		 * its cursor back. (A CaughtUp may be below since: since beyond
		 * the head.) */
		snprintf(
		    msg, cap,
		    "the server sent event %llu to a subscription from seq "
		    "%llu: a subscription's events come after its seq",
		    (unsigned long long)env->event->seq,
		    (unsigned long long)c->sub_since);
		return true;
	}
	if (event) {
		if (env->event->seq > c->last_event_seq) {
			c->last_event_seq = env->event->seq;
			return false;
		}
		snprintf(msg, cap,
			 "the server sent event %llu after event %llu: a "
			 "subscription's events come in the order of their seq",
			 (unsigned long long)env->event->seq,
			 (unsigned long long)c->last_event_seq);
		return true;
	}
	if (env->body_case == IPSNET__V1__ENVELOPE__BODY_CAUGHT_UP &&
	    env->caught_up->seq < c->last_event_seq) {
		snprintf(msg, cap,
			 "the server said it had caught up at seq %llu after "
			 "it sent event %llu",
			 (unsigned long long)env->caught_up->seq,
			 (unsigned long long)c->last_event_seq);
		return true;
	}
	return false;
}

/* Keeps the hash of the entry at the seq of a pushed event or CaughtUp
 * (ipsnet_subscription_hash). */
static void note_hash(struct ipsnet_conn *c, const Ipsnet__V1__Envelope *env)
{
	const ProtobufCBinaryData *h =
	    env->body_case == IPSNET__V1__ENVELOPE__BODY_EVENT
		? &env->event->hash
	    : env->body_case == IPSNET__V1__ENVELOPE__BODY_CAUGHT_UP
		? &env->caught_up->hash
		: NULL;
	if (h == NULL)
		return;
	c->sub_hash_known = h->len == IPSNET_HASH_BYTES;
	if (c->sub_hash_known)
		memcpy(c->sub_hash, h->data, IPSNET_HASH_BYTES);
}

/* Keeps how far the server said it read (ipsnet_subscription_read). */
static void note_read(struct ipsnet_conn *c, const Ipsnet__V1__Envelope *env)
{
	uint64_t seq = env->body_case == IPSNET__V1__ENVELOPE__BODY_EVENT
			   ? env->event->seq
		       : env->body_case == IPSNET__V1__ENVELOPE__BODY_CAUGHT_UP
			   ? env->caught_up->seq
		       : env->body_case == IPSNET__V1__ENVELOPE__BODY_PROGRESS
			   ? env->progress->seq
			   : 0;
	if (seq > c->sub_read)
		c->sub_read = seq;
}

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name

/* The body that answers a request's body when its status is OK; NOT_SET
 * for a body that is no request. Callers read the member of that body
 * (resp->case_view->client), which shares a union with the others. */
static Ipsnet__V1__Envelope__BodyCase
answer_body(Ipsnet__V1__Envelope__BodyCase asked)
{
	switch (asked) {
	case BODY(PING):
		return BODY(PONG);
	case BODY(REGISTER_CLIENT):
	case BODY(UPDATE_CLIENT):
	case BODY(GRANT_CONSENT):
	case BODY(WITHDRAW_CONSENT):
	case BODY(REFER):
	case BODY(MOVE_TRAJECTORY):
	case BODY(REQUEST_FUNDING):
	case BODY(DECIDE_FUNDING):
	case BODY(ADD_JOB):
	case BODY(END_JOB):
	case BODY(PUT_PROGRAM):
	case BODY(RECORD_FIDELITY):
	case BODY(IMPORT_TRAJECTORY):
		return BODY(CHANGE_OK);
	case BODY(FIND_CLIENT):
	case BODY(SHOW_CASE):
		return BODY(CASE_VIEW);
	case BODY(LIST_FUNDING):
		return BODY(FUNDING_LIST);
	case BODY(LIST_PROGRAMS):
		return BODY(PROGRAM_LIST);
	case BODY(SUBSCRIBE):
	case BODY(UNSUBSCRIBE):
		return BODY(SUBSCRIBED);
	case BODY(AUDIT_QUERY):
		return BODY(AUDIT_LIST);
	case BODY(REPORT_QUERY):
		return BODY(REPORT);
	default:
		return IPSNET__V1__ENVELOPE__BODY__NOT_SET;
	}
}

/* The proto's name of a body ("show_case"). */
static const char *body_name(Ipsnet__V1__Envelope__BodyCase b)
{
	const ProtobufCFieldDescriptor *f =
	    protobuf_c_message_descriptor_get_field(
		&ipsnet__v1__envelope__descriptor, (unsigned)b);
	return f != NULL ? f->name : "no body";
}

static int on_frame(struct ipsnet_stream *s, const uint8_t *body, size_t len)
{
	struct ipsnet_conn *c = s->data;
	Ipsnet__V1__Envelope *env =
	    ipsnet__v1__envelope__unpack(&ipsnet_protobuf_allocator, len, body);
	if (env == NULL) {
		begin_close(c, IPSNET_EDECODE,
			    "the server sent a frame that does not decode");
		return IPSNET_EDECODE;
	}
	if (env->request_id == 0) {
		/* Pushed by the server: an event, or a notice before it
		 * closes the connection. */
		const char *m;
		char why[200];
		int rv = response_status(env, &m);
		if (rv == 0 && out_of_order(c, env, why, sizeof(why))) {
			ipsnet_envelope_free(env);
			begin_close(c, IPSNET_EPROTOCOL, why);
			return IPSNET_EPROTOCOL;
		}
		if (rv == 0 && c->sub_cb.on_event != NULL) {
			note_hash(c, env);
			note_read(c, env);
		}
		if (rv != 0)
			set_status(c, rv, m);
		else if (env->body_case == IPSNET__V1__ENVELOPE__BODY_EVENT &&
			 c->sub_cb.on_event != NULL)
			c->sub_cb.on_event(c, env->event, c->sub_arg);
		else if (env->body_case ==
			     IPSNET__V1__ENVELOPE__BODY_CAUGHT_UP &&
			 c->sub_cb.on_caught_up != NULL)
			c->sub_cb.on_caught_up(c, env->caught_up->seq,
					       c->sub_arg);
		else if (env->body_case == IPSNET__V1__ENVELOPE__BODY_PROGRESS)
			; /* kept by note_read, for ipsnet_subscription_read */
		else if (c->cb.on_push != NULL)
			c->cb.on_push(c, env, c->arg);
		ipsnet_envelope_free(env);
		return 0;
	}
	if (c->state == C_HELLO) {
		got_hello(c, env);
		return 0;
	}
	struct pending *prev = NULL, *p = c->pending;
	while (p != NULL && p->id != env->request_id) {
		prev = p;
		p = p->next;
	}
	if (p == NULL) {
		ipsnet_envelope_free(env);
		begin_close(c, IPSNET_EPROTOCOL,
			    "the server answered a request that was not made");
		return IPSNET_EPROTOCOL;
	}
	if (prev != NULL)
		prev->next = p->next;
	else
		c->pending = p->next;
	if (c->pending_tail == p)
		c->pending_tail = prev;
	const char *m;
	int rv = response_status(env, &m);
	if (p->sub_cb.on_event != NULL)
		c->subscribing--;
	Ipsnet__V1__Envelope__BodyCase want = answer_body(p->asked);
	if (rv == 0 && want != IPSNET__V1__ENVELOPE__BODY__NOT_SET &&
	    env->body_case != want) {
		/* Status 0 promises the body that answers the request. */
		char why[200];
		snprintf(why, sizeof(why),
			 "the server answered %s with %s, not %s; is it "
			 "another version?",
			 body_name(p->asked), body_name(env->body_case),
			 body_name(want));
		bool subscribe = p->sub_cb.on_event != NULL;
		if (p->cb != NULL)
			p->cb(c, IPSNET_EPROTOCOL, why, NULL, p->arg);
		ipsnet_free(p);
		ipsnet_envelope_free(env);
		if (!subscribe)
			return 0;
		/* Whether the server now pushes events for it is unknown. */
		begin_close(c, IPSNET_EPROTOCOL, why);
		return IPSNET_EPROTOCOL;
	}
	if (rv == 0 && p->sub_cb.on_event != NULL) {
		/* Before on_done: events may follow the answer at once. */
		c->sub_cb = p->sub_cb;
		c->sub_arg = p->sub_arg;
		c->last_event_seq = 0;
		c->sub_since = p->since;
		c->sub_read = 0;
		c->sub_hash_known = false;
	}
	if (p->cb != NULL)
		p->cb(c, rv, m, env, p->arg);
	ipsnet_free(p);
	ipsnet_envelope_free(env);
	return 0;
}

static const struct stream_callbacks stream_cb = {
    .on_handshake = on_handshake,
    .on_frame = on_frame,
    .on_close = on_stream_close,
};

static void deadline(uv_timer_t *t)
{
	struct ipsnet_conn *c = container_of(t, struct ipsnet_conn, timer);
	char msg[160];
	snprintf(msg, sizeof(msg),
		 "no answer from the server at %s within %u ms", c->where,
		 c->timeout_ms);
	begin_close(c, IPSNET_ETIMEOUT, msg);
}

static void lookup_unref(struct lookup *l)
{
	uv_mutex_lock(&l->mutex);
	bool last = --l->refs == 0;
	uv_mutex_unlock(&l->mutex);
	if (!last)
		return;
	if (l->ai != NULL)
		freeaddrinfo(l->ai);
	uv_mutex_destroy(&l->mutex);
	ipsnet_free(l);
}

static void *lookup_run(void *arg)
{
	struct lookup *l = arg;
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM};
	struct addrinfo *ai = NULL;
	int status = getaddrinfo(l->host, l->port, &hints, &ai);
	uv_mutex_lock(&l->mutex);
	l->status = status;
	l->ai = ai;
	if (l->done != NULL)
		uv_async_send(l->done);
	uv_mutex_unlock(&l->mutex);
	lookup_unref(l);
	return NULL;
}

static void lookup_closed(uv_handle_t *h)
{
	struct ipsnet_conn *c =
	    container_of((uv_async_t *)h, struct ipsnet_conn, looked_up);
	c->resolving = false;
	finish(c);
}

/* What the lookup finds is not wanted any more (or has been taken). */
static void let_go(struct ipsnet_conn *c)
{
	struct lookup *l = c->lookup;
	if (l == NULL)
		return;
	c->lookup = NULL;
	uv_mutex_lock(&l->mutex);
	l->done = NULL;
	uv_mutex_unlock(&l->mutex);
	lookup_unref(l);
	uv_close((uv_handle_t *)&c->looked_up, lookup_closed);
}

static void looked_up(uv_async_t *a)
{
	struct ipsnet_conn *c = container_of(a, struct ipsnet_conn, looked_up);
	struct lookup *l = c->lookup;
	char msg[256];
	if (l == NULL)
		return;
	uv_mutex_lock(&l->mutex);
	int status = l->status;
	struct addrinfo *ai = l->ai;
	l->ai = NULL;
	uv_mutex_unlock(&l->mutex);
	let_go(c);
	if (status != 0 || ai == NULL) {
		snprintf(msg, sizeof(msg), "cannot find server '%s': %s",
			 c->host,
			 status != 0 ? gai_strerror(status) : "no address");
		if (ai != NULL)
			freeaddrinfo(ai);
		begin_close(c, IPSNET_ECONNECT, msg);
		return;
	}
	c->state = C_CONNECTING;
	c->addrs = ai;
	c->addr = ai;
	int rv = connect_next(c);
	if (rv != 0)
		begin_close(c, rv, "cannot start connecting");
}

/* Starts connecting to c->addr. */
static int connect_next(struct ipsnet_conn *c)
{
	int rv = stream_connect(&c->stream, c->loop, c->addr->ai_addr, c->ctx,
				c->host, FRAME_DEFAULT_MAX_BYTES * 16,
				&stream_cb, c);
	if (rv == 0)
		c->stream_started = true;
	return rv;
}

/* Starts looking up c->host on a thread of its own. 0 or an IPSNET_E*
 * code; on failure nothing is left to close. */
static int start_lookup(struct ipsnet_conn *c)
{
	pthread_attr_t attr;
	pthread_t thread;
	int rv = IPSNET_ENOMEM;
	struct lookup *l = ipsnet_calloc(1, sizeof(*l));
	if (l == NULL)
		return IPSNET_ENOMEM;
	if (uv_mutex_init(&l->mutex) != 0)
		goto err_after_alloc;
	util_strlcpy(l->host, c->host, sizeof(l->host));
	util_strlcpy(l->port, c->port, sizeof(l->port));
	if (pthread_attr_init(&attr) != 0)
		goto err_after_mutex;
	/* The lock keeps the thread's answer back until looked_up exists. */
	uv_mutex_lock(&l->mutex);
	l->refs = 2;
	if (pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED) != 0 ||
	    pthread_create(&thread, &attr, lookup_run, l) != 0) {
		uv_mutex_unlock(&l->mutex);
		pthread_attr_destroy(&attr);
		goto err_after_mutex;
	}
	pthread_attr_destroy(&attr);
	if (uv_async_init(c->loop, &c->looked_up, looked_up) != 0) {
		/* the thread frees l when it is done */
		l->refs--;
		uv_mutex_unlock(&l->mutex);
		return IPSNET_ECONNECT;
	}
	l->done = &c->looked_up;
	uv_mutex_unlock(&l->mutex);
	c->lookup = l;
	c->resolving = true;
	return 0;

err_after_mutex:
	uv_mutex_destroy(&l->mutex);
err_after_alloc:
	ipsnet_free(l);
	return rv;
}

/* Copies software into dst (cap bytes). One too long is cut at a character
 * and ends in "...": cut inside a character it would not be UTF-8, and the
 * server refuses a Hello whose text is not. */
static void set_software(char *dst, size_t cap, const char *software)
{
	size_t n = strlen(software);
	if (n < cap) {
		memcpy(dst, software, n + 1);
		return;
	}
	n = cap - sizeof("...");
	/* software[n] is the first byte left out: not one inside a
	 * character (10xxxxxx). */
	while (n > 0 && ((unsigned char)software[n] & 0xC0) == 0x80)
		n--;
	memcpy(dst, software, n);
	memcpy(dst + n, "...", sizeof("..."));
}

int ipsnet_connect(uv_loop_t *loop, const struct ipsnet_options *o,
		   const struct ipsnet_callbacks *cb, void *arg,
		   struct ipsnet_conn **out, char *err, size_t errlen)
{
	int port, rv;
	struct ipsnet_conn *c = ipsnet_calloc(1, sizeof(*c));
	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return IPSNET_ENOMEM;
	}
	/* Never cut: the audit trail would name someone nobody gave. */
	size_t user_len = o->user != NULL ? strlen(o->user) : 0;
	if (user_len >= sizeof(c->user)) {
		snprintf(err, errlen,
			 "the user is %zu bytes long; the server takes at most "
			 "%zu bytes",
			 user_len, sizeof(c->user) - 1);
		rv = IPSNET_EUSAGE;
		goto err;
	}
	/* The server refuses it (the audit trail and its log would show a
	 * line break or an escape sequence as it is), as it refuses text
	 * that is not UTF-8: said here, before connecting, by the same
	 * rules. */
	if (o->user != NULL && !utf8_valid(o->user)) {
		snprintf(err, errlen,
			 "the user is not UTF-8 text; set the terminal or the "
			 "script to UTF-8");
		rv = IPSNET_EUSAGE;
		goto err;
	}
	size_t at = o->user != NULL ? text_control_at(o->user) : 0;
	if (at > 0) {
		snprintf(err, errlen,
			 "the user holds a control character at byte %zu (a "
			 "line break, a tab, an escape or another); name the "
			 "user in printable characters",
			 at);
		rv = IPSNET_EUSAGE;
		goto err;
	}
	/* Blanks only name nobody either: the server's own rule. */
	if (o->user == NULL || o->user[strspn(o->user, " \t")] == '\0') {
		snprintf(err, errlen,
			 "the user is empty or blanks only; the audit trail "
			 "records who acts, so name the person acting");
		rv = IPSNET_EUSAGE;
		goto err;
	}
	const char *server = o->server != NULL ? o->server : "127.0.0.1:7443";
	if (config_split_hostport(server, c->host, sizeof(c->host), &port) !=
		0 ||
	    port == 0) {
		snprintf(err, errlen,
			 "server '%s' is not HOST:PORT (127.0.0.1:7443)",
			 server);
		rv = IPSNET_EUSAGE;
		goto err;
	}
	snprintf(c->port, sizeof(c->port), "%d", port);
	snprintf(c->where, sizeof(c->where),
		 strchr(c->host, ':') != NULL ? "[%s]:%s" : "%s:%s", c->host,
		 c->port);
	struct tls_ctx_opts t = {
	    .server = false,
	    .ca = o->ca,
	    .cert = o->cert,
	    .key = o->key,
	    .max_version = o->tls_max_version,
	    .min_version = o->tls_max_version == 12 ? 12 : 0,
	};
	if (o->cert != NULL && o->cert[0] != '\0' &&
	    (o->key == NULL || o->key[0] == '\0')) {
		snprintf(err, errlen,
			 "certificate '%s' given without its key (--key)",
			 o->cert);
		rv = IPSNET_EUSAGE;
		goto err;
	}
	if (o->key != NULL && o->key[0] != '\0' &&
	    (o->cert == NULL || o->cert[0] == '\0')) {
		snprintf(err, errlen,
			 "key '%s' given without its certificate (--cert)",
			 o->key);
		rv = IPSNET_EUSAGE;
		goto err;
	}
	rv = tls_ctx_new(&c->ctx, &t, err, errlen);
	if (rv != 0)
		goto err;
	tls_cert_cn(SSL_CTX_get0_certificate(c->ctx), c->cn, sizeof(c->cn));
	util_strlcpy(c->user, o->user != NULL ? o->user : "", sizeof(c->user));
	set_software(c->software, sizeof(c->software),
		     o->software != NULL ? o->software
					 : "libipsnet/" IPSNET_VERSION);
	/* ipsnetd logs it and refuses a Hello whose software holds one:
	 * said here, before connecting, as of the user. */
	at = text_control_at(c->software);
	if (at > 0) {
		snprintf(err, errlen,
			 "the software name holds a control character at byte "
			 "%zu (a line break, a tab, an escape or another); "
			 "name the program in printable characters",
			 at);
		rv = IPSNET_EUSAGE;
		goto err_after_ctx;
	}
	c->loop = loop;
	c->cb = *cb;
	c->arg = arg;
	c->timeout_ms = o->timeout_ms != 0 ? o->timeout_ms : DEFAULT_TIMEOUT_MS;
	c->state = C_RESOLVING;
	rv = start_lookup(c);
	if (rv != 0) {
		snprintf(err, errlen, "cannot look up '%s': %s", c->host,
			 ipsnet_strerror(rv));
		goto err_after_ctx;
	}
	uv_timer_init(loop, &c->timer);
	c->timer_open = true;
	uv_timer_start(&c->timer, deadline, c->timeout_ms, 0);
	*out = c;
	return 0;

err_after_ctx:
	SSL_CTX_free(c->ctx);
err:
	ipsnet_free(c);
	return rv;
}

const Ipsnet__V1__HelloOk *ipsnet_conn_hello(const struct ipsnet_conn *c)
{
	return c->hello != NULL ? c->hello->hello_ok : NULL;
}

static int send_request(struct ipsnet_conn *c, Ipsnet__V1__Envelope *req,
			ipsnet_response_cb cb, void *arg,
			const struct ipsnet_subscription_callbacks *sub_cb,
			void *sub_arg)
{
	/* Before on_ready the connection is still being made: the caller's
	 * mistake, not a connection that failed. */
	if (c->state < C_READY)
		return IPSNET_EUSAGE;
	if (c->state != C_READY)
		return IPSNET_ECLOSED;
	/* The server answers a frame over its limit with an error and closes
	 * the connection, failing every request pipelined on it. */
	req->request_id = c->next_id + 1;
	uint32_t max = c->hello->hello_ok->max_frame_bytes;
	if (max != 0 && ipsnet__v1__envelope__get_packed_size(req) > max)
		return IPSNET_EFRAME_TOO_LARGE;
	struct pending *p = ipsnet_calloc(1, sizeof(*p));
	if (p == NULL)
		return IPSNET_ENOMEM;
	c->next_id++;
	p->id = req->request_id;
	p->asked = req->body_case;
	p->cb = cb;
	p->arg = arg;
	if (sub_cb != NULL) {
		p->sub_cb = *sub_cb;
		p->sub_arg = sub_arg;
		p->since = req->subscribe->since_seq;
	}
	int rv = stream_send_envelope(&c->stream, req);
	if (rv != 0) {
		ipsnet_free(p);
		return rv;
	}
	if (c->pending_tail != NULL)
		c->pending_tail->next = p;
	else
		c->pending = p;
	c->pending_tail = p;
	if (p->sub_cb.on_event != NULL)
		c->subscribing++;
	return 0;
}

int ipsnet_request(struct ipsnet_conn *c, Ipsnet__V1__Envelope *req,
		   ipsnet_response_cb cb, void *arg)
{
	return send_request(c, req, cb, arg, NULL, NULL);
}

int ipsnet_subscribe(struct ipsnet_conn *c, uint64_t since_seq,
		     const char *const *kinds, size_t n_kinds,
		     const struct ipsnet_subscription_callbacks *cb, void *arg,
		     ipsnet_response_cb on_done, void *done_arg)
{
	return ipsnet_subscribe_from(c, since_seq, NULL, kinds, n_kinds, cb,
				     arg, on_done, done_arg);
}

int ipsnet_subscribe_from(struct ipsnet_conn *c, uint64_t since_seq,
			  const uint8_t *since_hash, const char *const *kinds,
			  size_t n_kinds,
			  const struct ipsnet_subscription_callbacks *cb,
			  void *arg, ipsnet_response_cb on_done, void *done_arg)
{
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribe sub = IPSNET__V1__SUBSCRIBE__INIT;
	if (cb == NULL || cb->on_event == NULL)
		return IPSNET_EINVAL;
	sub.since_seq = since_seq;
	if (since_hash != NULL && since_seq > 0) {
		sub.since_hash.len = IPSNET_HASH_BYTES;
		sub.since_hash.data = (uint8_t *)since_hash;
	}
	sub.kinds = (char **)kinds;
	sub.n_kinds = n_kinds;
	sub.progress = true;
	req.body_case = IPSNET__V1__ENVELOPE__BODY_SUBSCRIBE;
	req.subscribe = &sub;
	/* The callbacks take over only when the server has said Subscribed:
	 * a refused Subscribe leaves a running subscription's own. */
	return send_request(c, &req, on_done, done_arg, cb, arg);
}

uint64_t ipsnet_subscription_read(const struct ipsnet_conn *c)
{
	return c->sub_read;
}

const uint8_t *ipsnet_subscription_hash(const struct ipsnet_conn *c)
{
	return c->sub_hash_known ? c->sub_hash : NULL;
}

void conn_set_subscription_hash(struct ipsnet_conn *c, const uint8_t *hash)
{
	c->sub_hash_known = hash != NULL;
	if (hash != NULL)
		memcpy(c->sub_hash, hash, IPSNET_HASH_BYTES);
}

void ipsnet_close(struct ipsnet_conn *c)
{
	begin_close(c, 0, NULL);
}

void conn_close_for(struct ipsnet_conn *c, int status, const char *why)
{
	begin_close(c, status, why);
}

void ipsnet_envelope_free(Ipsnet__V1__Envelope *env)
{
	if (env != NULL)
		ipsnet__v1__envelope__free_unpacked(env,
						    &ipsnet_protobuf_allocator);
}

/* 8 bytes of time (microseconds, big-endian) and 8 random ones, like a
 * UUIDv7: keys that grow keep the journal's key index appended to at its
 * end, and 64 random bits keep two clients' keys apart. */
int ipsnet_new_idempotency_key(uint8_t key[16])
{
	uint64_t t = util_now_us();
	for (int i = 7; i >= 0; i--) {
		key[i] = (uint8_t)(t & 0xff);
		t >>= 8;
	}
	return util_random(key + 8, 8);
}

const char *ipsnet_version(void)
{
	return IPSNET_VERSION;
}
