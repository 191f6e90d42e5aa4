#include "conn.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "handlers.h"
#include "journal.h"
#include "ipsnet_errors.h"
#include "log.h"
#include "server.h"
#include "sync.h"
#include "tls.h"
#include "util.h"
#include "validate.h"

#define PROTOCOL_VERSION 1
/* Before Hello a peer gets small frames only: an unauthenticated peer never
 * makes the daemon reserve a full max_frame_bytes. */
#define PRE_HELLO_MAX_FRAME_BYTES 4096
#define CLOSE_DEADLINE_MS 5000
/* How often a closing connection looks whether the peer has all of it. */
#define CLOSE_POLL_MS 20
/* The longest client_software Hello may carry (libipsnet sends at most 63). */
#define SOFTWARE_MAX_BYTES 127

#define BIT(s) (1u << (s))

static const struct {
	const char *name;
	unsigned next; /* the states this one may move to */
} conn_states[CONN_N_STATES] = {
    [CONN_HANDSHAKING] = {"handshaking", BIT(CONN_HELLO) | BIT(CONN_CLOSING)},
    [CONN_HELLO] = {"hello", BIT(CONN_SERVING) | BIT(CONN_CLOSING)},
    [CONN_SERVING] = {"serving", BIT(CONN_CLOSING)},
    [CONN_CLOSING] = {"closing", 0},
};

static void unauth_unlink(struct conn *c)
{
	struct server *s = c->server;
	if (!c->unauth_linked)
		return;
	if (c->unauth_prev != NULL)
		c->unauth_prev->unauth_next = c->unauth_next;
	else
		s->unauth_head = c->unauth_next;
	if (c->unauth_next != NULL)
		c->unauth_next->unauth_prev = c->unauth_prev;
	else
		s->unauth_tail = c->unauth_prev;
	c->unauth_prev = c->unauth_next = NULL;
	c->unauth_linked = false;
}

/* The one place a connection changes state. A move the table does not
 * allow is a bug: it stops the daemon rather than serve in a wrong state. */
static void conn_move(struct conn *c, enum conn_state next)
{
	if ((conn_states[c->state].next & BIT(next)) == 0) {
		log_error("forbidden connection state change",
			  "from=%s to=%s peer=%s", conn_states[c->state].name,
			  conn_states[next].name, c->stream.peer);
		abort();
	}
	c->state = next;
	if (next == CONN_SERVING || next == CONN_CLOSING)
		unauth_unlink(c);
	if (next == CONN_SERVING)
		c->idle_untaken = SIZE_MAX; /* as after a frame (on_frame) */
}

static void timer_close_cb(uv_handle_t *h)
{
	struct conn *c = container_of((uv_timer_t *)h, struct conn, timer);
	if (--c->open_handles == 0)
		server__conn_closed(c->server, c);
}

static void read_on_close_cb(uv_handle_t *h)
{
	struct conn *c = container_of((uv_timer_t *)h, struct conn, read_on);
	if (--c->open_handles == 0)
		server__conn_closed(c->server, c);
}

static bool may_read(const struct conn *c);

/* Reads on after a yield (on_yield), or resumes a stream that
 * conn__request_done let go of the limit outside its reading. */
static void read_on_cb(uv_timer_t *t)
{
	struct conn *c = container_of(t, struct conn, read_on);
	stream_read_on(&c->stream);
	if (c->state == CONN_SERVING && may_read(c))
		stream_resume(&c->stream);
}

/* A read filled the stream's buffer: the others' turn first, then this
 * connection reads on. */
static void on_yield(struct ipsnet_stream *s)
{
	struct conn *c = s->data;
	uv_timer_start(&c->read_on, read_on_cb, 0, 0);
}

static void log_closed(struct conn *c)
{
	char reason[300], cn[80], user[2 * sizeof(c->user) + 3];
	struct ipsnet_stream *s = &c->stream;
	const char *outcome = c->outcome;
	if (outcome == NULL)
		outcome = c->org.id[0] != '\0' ? "ok" : "refused";
	const char *why = s->reason[0] != '\0' ? s->reason : "closed";
	log_quote(reason, sizeof(reason), why);
	/* A refused certificate's CN is known to the stream only. */
	const char *name = c->cn[0] != '\0'	   ? c->cn
			   : s->peer_cn[0] != '\0' ? s->peer_cn
						   : "-";
	log_quote(cn, sizeof(cn), name);
	/* The user its Hello named, so that each line says whose it was. */
	log_quote(user, sizeof(user), c->user[0] != '\0' ? c->user : "-");
	log_info("connection closed",
		 "org=%s user=%s cn=%s peer=%s tls=%s outcome=%s reason=%s "
		 "requests=%llu duration_ms=%llu bytes_in=%llu bytes_out=%llu",
		 c->org.id[0] != '\0' ? c->org.id : "-", user, cn, s->peer,
		 c->tls_version != NULL ? c->tls_version : "-", outcome, reason,
		 (unsigned long long)c->requests,
		 (unsigned long long)((util_mono_us() - c->started_us) / 1000),
		 (unsigned long long)s->bytes_in,
		 (unsigned long long)s->bytes_out);
}

static void on_close(struct ipsnet_stream *s)
{
	struct conn *c = s->data;
	if (c->state != CONN_CLOSING)
		conn_move(c, CONN_CLOSING);
	if (c->sub != NULL) {
		sync__conn_closed(c->sub);
		c->sub = NULL;
	}
	log_closed(c);
	uv_close((uv_handle_t *)&c->timer, timer_close_cb);
	uv_close((uv_handle_t *)&c->read_on, read_on_close_cb);
	if (--c->open_handles == 0)
		server__conn_closed(c->server, c);
}

static void deadline_cb(uv_timer_t *t)
{
	struct conn *c = container_of(t, struct conn, timer);
	char why[160];
	switch (c->state) {
	case CONN_HANDSHAKING:
	case CONN_HELLO:
		snprintf(why, sizeof(why),
			 "no TLS handshake and Hello within %u ms",
			 c->server->cfg.handshake_timeout_ms);
		/* After the handshake the client can be told why. */
		conn__refuse(c, 0, IPSNET_ETIMEOUT, why, "timeout");
		break;
	case CONN_SERVING:
		/* Not idle: work in flight, a subscription that is
		 * waiting for the journal to move, or requests held back
		 * that the stream reads on to at the next turn
		 * (conn__request_done's read_on, which may come due after
		 * this timer). */
		if (c->inflight > 0 || c->sub != NULL ||
		    uv_is_active((uv_handle_t *)&c->read_on)) {
			/* But a frame begun comes whole within a period, as
			 * long as the daemon reads: a peer that trickles one
			 * would hold its room (up to max_frame_bytes) and
			 * the connection for good. */
			bool part = c->stream.decoder.header_len > 0 &&
				    c->stream.reading;
			if (part && c->frame_begun) {
				snprintf(why, sizeof(why),
					 "a frame began and did not come "
					 "whole within %u ms",
					 c->server->cfg.idle_timeout_ms);
				conn__refuse(c, 0, IPSNET_ETIMEOUT, why,
					     "timeout");
				break;
			}
			c->frame_begun = part;
			uv_timer_again(t);
			break;
		}
		/* Not idle either while the peer takes its answers, however
		 * slowly (a large one on a slow line): only one that takes
		 * none of them for a whole period is let go, and told so. */
		size_t untaken = stream_untaken(&c->stream);
		if (untaken > 0 && untaken < c->idle_untaken) {
			c->idle_untaken = untaken;
			uv_timer_again(t);
			break;
		}
		/* Told, as at a shutdown: a program that keeps its
		 * connection learns why it ended, not only that it did. */
		uint32_t ms = c->server->cfg.idle_timeout_ms;
		if (untaken > 0)
			snprintf(why, sizeof(why),
				 "the server closed the connection: its "
				 "answers were not read for %u ms (its "
				 "idle_timeout_ms); read the answers to what "
				 "you send",
				 ms);
		else
			snprintf(why, sizeof(why),
				 "the server closed the connection after %u ms "
				 "without a request (its idle_timeout_ms); "
				 "connect again",
				 ms);
		conn__send_error(c, 0, IPSNET_EUNAVAILABLE, why);
		snprintf(why, sizeof(why),
			 untaken > 0 ? "answers not read for %u ms"
				     : "idle for %u ms",
			 ms);
		conn__close(c, IPSNET_ETIMEOUT, why, "idle");
		break;
	default:
		/* Closing: the daemon reads on and drops what comes until the
		 * peer's EOF (stream_close), but once the peer's TCP has all of
		 * the last bytes, closing loses nothing, whether or not the
		 * peer closes its side. */
		if (stream_delivered(&c->stream))
			stream_abort(&c->stream, 0, NULL);
		else if (uv_now(t->loop) >= c->close_deadline)
			stream_abort(&c->stream, IPSNET_ETIMEOUT,
				     "the peer did not take the last bytes in "
				     "time");
		break;
	}
}

void conn__close(struct conn *c, int err, const char *reason,
		 const char *outcome)
{
	if (c->state == CONN_CLOSING)
		return;
	if (c->outcome == NULL)
		c->outcome = outcome;
	conn_move(c, CONN_CLOSING);
	c->close_deadline = uv_now(c->timer.loop) + CLOSE_DEADLINE_MS;
	uv_timer_start(&c->timer, deadline_cb, CLOSE_POLL_MS, CLOSE_POLL_MS);
	stream_close(&c->stream, err, reason);
}

void conn__refuse(struct conn *c, uint64_t request_id, int err, const char *why,
		  const char *outcome)
{
	conn__send_error(c, request_id, err, why);
	conn__close(c, err, why, outcome);
}

/* After an answer, a connection without a subscription lets go of the
 * room a large one (an audit page of some 140 KB) made in its TLS buffer,
 * once that is written (now, or at on_drain): idle, it would keep it. */
static int answered(struct conn *c, int rv)
{
	if (c->sub == NULL)
		stream_trim(&c->stream);
	return rv;
}

/* An answer of over 4 KiB is framed in memory of its own: without it the
 * request is still answered, with a refusal that fits on the stack, not
 * left to wait for the client's timeout. */
static int unsent(struct conn *c, uint64_t request_id, int rv, size_t bytes)
{
	if (rv != IPSNET_ENOMEM)
		return rv;
	log_warn("answer not sent",
		 "org=%s peer=%s request=%" PRIu64
		 " bytes=%zu reason=\"out of memory\"",
		 c->org.id, c->stream.peer, request_id, bytes);
	return conn__send_error(
	    c, request_id, IPSNET_ENOMEM,
	    "the server ran out of memory for this answer; ask again, and "
	    "tell its operator if this goes on");
}

int conn__send(struct conn *c, const Ipsnet__V1__Envelope *env)
{
	int rv = answered(c, stream_send_envelope(&c->stream, env));
	if (env->body_case == IPSNET__V1__ENVELOPE__BODY__NOT_SET)
		return rv; /* a refusal's own: its Status fits on the stack */
	return unsent(c, env->request_id, rv,
		      ipsnet__v1__envelope__get_packed_size(env));
}

int conn__send_status(struct conn *c, uint64_t request_id, int err,
		      const char *message, uint64_t current_version)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Status status = IPSNET__V1__STATUS__INIT;
	status.code = ipsnet_err_status(err);
	status.message = (char *)(message != NULL ? message
						  : ipsnet_strerror(err));
	status.current_version = current_version;
	env.request_id = request_id;
	env.status = &status;
	return conn__send(c, &env);
}

int conn__send_error(struct conn *c, uint64_t request_id, int err,
		     const char *message)
{
	return conn__send_status(c, request_id, err, message, 0);
}

static int send_packed(struct conn *c, uint64_t request_id, bool replayed,
		       const uint8_t *packed, size_t len)
{
	/* Field 1 (request_id), varint: protobuf allows the fields of a
	 * message in any order, so the id can simply go in front; so can
	 * field 4 (replayed), true. */
	uint8_t prefix[13];
	size_t n = 0;
	prefix[n++] = 0x08;
	uint64_t v = request_id;
	do {
		uint8_t b = v & 0x7f;
		v >>= 7;
		prefix[n++] = (uint8_t)(b | (v != 0 ? 0x80 : 0));
	} while (v != 0);
	if (replayed) {
		prefix[n++] = 0x20;
		prefix[n++] = 0x01;
	}
	const uint8_t *parts[2] = {prefix, packed};
	size_t lens[2] = {n, len};
	return unsent(
	    c, request_id,
	    answered(c, stream_send_parts(&c->stream, parts, lens, 2)),
	    n + len);
}

int conn__send_packed(struct conn *c, uint64_t request_id,
		      const uint8_t *packed, size_t len)
{
	return send_packed(c, request_id, false, packed, len);
}

int conn__send_replayed(struct conn *c, uint64_t request_id,
			const uint8_t *packed, size_t len)
{
	return send_packed(c, request_id, true, packed, len);
}

bool conn__open(const struct conn *c)
{
	return c->state == CONN_SERVING;
}

void conn__actor(const struct conn *c, struct journal_actor *a)
{
	util_strlcpy(a->org, c->org.id, sizeof(a->org));
	a->org_kind = c->org.kind;
	util_strlcpy(a->user, c->user, sizeof(a->user));
	util_strlcpy(a->peer, c->stream.peer, sizeof(a->peer));
}

/* Whether to read more requests: fewer than max_inflight in flight, and no
 * more than send_buffer_bytes of answers waiting for the peer to take them
 * (a peer that pipelines and never reads would otherwise make the daemon
 * queue answers without bound). */
static bool may_read(const struct conn *c)
{
	return c->inflight < c->server->cfg.max_inflight &&
	       stream_backlog(&c->stream) <= c->server->cfg.send_buffer_bytes;
}

void conn__request_begin(struct conn *c)
{
	c->inflight++;
	c->server->inflight++;
	if (!may_read(c))
		stream_pause(&c->stream);
}

void conn__request_done(struct conn *c)
{
	assert(c->inflight > 0);
	c->inflight--;
	c->server->inflight--;
	if (c->released) {
		if (c->inflight == 0)
			server__conn_free(c->server, c);
		return;
	}
	if (c->state == CONN_SERVING) {
		/* A resume hands out the frames held back at once, and this
		 * is called from the middle of a handler's work (sync's page
		 * code goes on with the subscription after it, which a held
		 * Unsubscribe would free): from outside the stream's own
		 * on_frame, where a resume only marks it to read on, they
		 * wait for the next turn of the loop. Draining, they are
		 * answered UNAVAILABLE, handed to no handler, before the
		 * close. */
		if (!may_read(c))
			stream_pause(&c->stream);
		else if (stream_pumping(&c->stream) || c->drain)
			stream_resume(&c->stream);
		else if (!c->stream.reading)
			uv_timer_start(&c->read_on, read_on_cb, 0, 0);
		if (c->drain && c->inflight == 0)
			conn__close_for_shutdown(c);
	}
}

void conn__close_for_shutdown(struct conn *c)
{
	if (c->peer_done) {
		conn__close(c, 0, "the peer closed the connection", NULL);
		return;
	}
	/* Requests read and held back, due at the next turn of the loop
	 * (conn__request_done), in the frame decoder or still in OpenSSL
	 * (when the frame that reached the limit ended its record):
	 * answered UNAVAILABLE now, as those that come after the signal
	 * are, not dropped unanswered. */
	if (c->state == CONN_SERVING && !c->stream.reading && may_read(c)) {
		c->drain = true;
		stream_resume(&c->stream);
	}
	conn__send_error(c, 0, IPSNET_EUNAVAILABLE,
			 "the server is shutting down");
	conn__close(c, 0, "the server is shutting down", NULL);
}

bool conn__cert_ended(struct conn *c, uint64_t request_id)
{
	if (c->cert_until == 0 || (int64_t)time(NULL) < c->cert_until)
		return false;
	char when[32], why[160];
	time_t t = (time_t)c->cert_until;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M UTC", &tm);
	snprintf(why, sizeof(why),
		 "your certificate expired on %s: ask the network operator "
		 "for a new one",
		 when);
	conn__refuse(c, request_id, IPSNET_EUNAUTHENTICATED, why, "expired");
	return true;
}

static void on_handshake(struct ipsnet_stream *s)
{
	struct conn *c = s->data;
	tls_peer_cn(s->ssl, c->cn, sizeof(c->cn));
	c->tls_version = tls_version_name(s->ssl);
	c->cert_until = tls_cert_until(SSL_get0_peer_certificate(s->ssl));
	const struct org_config *org =
	    registry_find(&c->server->registry, c->cn);
	if (org != NULL)
		c->org = *org;
	else
		c->org_unknown = true;
	conn_move(c, CONN_HELLO);
}

/* Whether the certificate may say Hello: its organisation is in the
 * registry and no reload since the handshake revoked it. If not, answers
 * request_id UNAUTHENTICATED, closes, and returns false: DESIGN §3 answers
 * the first frame so, whatever that frame is. */
static bool hello_allowed(struct conn *c, uint64_t request_id)
{
	char why[160];

	/* A SIGHUP between the handshake and Hello may have taken the
	 * organisation out of the registry or revoked the certificate: the
	 * reload cuts off served connections only, so look again here. */
	const struct org_config *org =
	    registry_find(&c->server->registry, c->cn);
	if (org != NULL)
		c->org = *org;
	else
		memset(&c->org, 0, sizeof(c->org));
	c->org_unknown = org == NULL;
	/* A handshake judged by the CAs and CRL before a reload: judged
	 * again by those in use. */
	bool judged_before =
	    !c->org_unknown && SSL_get_SSL_CTX(c->stream.ssl) != c->server->tls;
	if (judged_before &&
	    tls_cert_revoked(c->server->tls,
			     SSL_get0_peer_certificate(c->stream.ssl))) {
		snprintf(why, sizeof(why), "certificate '%s' was revoked",
			 c->cn);
		conn__send_error(c, request_id, IPSNET_EUNAUTHENTICATED, why);
		conn__close(c, IPSNET_EUNAUTHENTICATED,
			    "the certificate was revoked", "revoked");
		return false;
	}
	/* The CA changed since the handshake: what that CA signed counts
	 * no longer. */
	if (judged_before && !tls_peer_trusted(c->server->tls, c->stream.ssl)) {
		conn__refuse(c, request_id, IPSNET_EUNAUTHENTICATED,
			     CERT_NOT_TRUSTED_NOW, "untrusted");
		return false;
	}
	if (c->org_unknown && c->cn[0] == '\0') {
		conn__refuse(c, request_id, IPSNET_EUNAUTHENTICATED,
			     "the certificate names no organisation, or more "
			     "than one: its subject must hold one CN, the "
			     "organisation's id; ask the network operator for "
			     "a new certificate",
			     "refused");
		return false;
	}
	if (c->org_unknown) {
		snprintf(why, sizeof(why),
			 "certificate '%s' names an organisation that is not "
			 "in the registry",
			 c->cn);
		conn__refuse(c, request_id, IPSNET_EUNAUTHENTICATED, why,
			     "refused");
		return false;
	}
	return true;
}

static void hello(struct conn *c, Ipsnet__V1__Envelope *req)
{
	char why[256];

	if (!hello_allowed(c, req->request_id))
		return;
	if (req->body_case != IPSNET__V1__ENVELOPE__BODY_HELLO) {
		conn__send_error(c, req->request_id, IPSNET_EPROTOCOL,
				 "the first request must be Hello");
		conn__close(c, IPSNET_EPROTOCOL, "first frame was not Hello",
			    "error");
		return;
	}
	const Ipsnet__V1__Hello *h = req->hello;
	if (h->protocol_version != PROTOCOL_VERSION) {
		snprintf(why, sizeof(why),
			 "protocol version %u is not supported; this server "
			 "speaks version %d",
			 h->protocol_version, PROTOCOL_VERSION);
		conn__refuse(c, req->request_id, IPSNET_EPROTOCOL, why,
			     "error");
		return;
	}
	/* Blanks only name nobody either. */
	if (h->user == NULL || h->user[strspn(h->user, " \t")] == '\0') {
		conn__refuse(c, req->request_id, IPSNET_EINVAL,
			     "Hello names no user: the audit trail records who "
			     "acts, so say who (ipsnet: --user, IPSNET_USER or "
			     "the profile's user)",
			     "error");
		return;
	}
	if (strlen(h->user) >= sizeof(c->user)) {
		/* Cut, it would name someone else in the audit trail. */
		snprintf(why, sizeof(why),
			 "the user in Hello is %zu bytes long; at most %zu",
			 strlen(h->user), sizeof(c->user) - 1);
		conn__refuse(c, req->request_id, IPSNET_EINVAL, why, "error");
		return;
	}
	/* The user goes as it is into the audit trail, the journal and the
	 * log: a line break or an escape sequence in it would forge lines
	 * there, or take over the terminal of whoever reads them. */
	size_t at = text_control_at(h->user);
	if (at > 0) {
		snprintf(
		    why, sizeof(why),
		    "the user in Hello holds a control character at byte %zu "
		    "(a line break, a tab, an escape or another); name the "
		    "user in printable characters",
		    at);
		conn__refuse(c, req->request_id, IPSNET_EINVAL, why, "error");
		return;
	}
	/* The client software goes into the log as the user does: the same
	 * limits. A program sets it, not a person, so a bad one is refused
	 * (the program's maker sees why) rather than cleaned into a name
	 * that hides which program it was. */
	const char *software =
	    h->client_software != NULL ? h->client_software : "";
	if (strlen(software) > SOFTWARE_MAX_BYTES) {
		snprintf(why, sizeof(why),
			 "the client software in Hello is %zu bytes long; at "
			 "most %d",
			 strlen(software), SOFTWARE_MAX_BYTES);
		conn__refuse(c, req->request_id, IPSNET_EINVAL, why, "error");
		return;
	}
	at = text_control_at(software);
	if (at > 0) {
		snprintf(why, sizeof(why),
			 "the client software in Hello holds a control "
			 "character at byte %zu; name the program in printable "
			 "characters",
			 at);
		conn__refuse(c, req->request_id, IPSNET_EINVAL, why, "error");
		return;
	}
	/* The user is said from here on, a refusal's log line included. */
	util_strlcpy(c->user, h->user, sizeof(c->user));
	uint32_t same = 0,
		 most = c->server->cfg.max_connections_per_organisation;
	for (const struct conn *o = c->server->conns; o != NULL; o = o->next)
		same += o->state == CONN_SERVING &&
			strcmp(o->org.id, c->org.id) == 0;
	if (same >= most) {
		/* The setting named, as the refusal for max_connections
		 * names its own (server.c). */
		snprintf(why, sizeof(why),
			 "'%s' has %u connections open, the most one "
			 "organisation may have "
			 "(max_connections_per_organisation = %u); close one "
			 "and try again",
			 c->org.id, same, most);
		conn__refuse(c, req->request_id, IPSNET_EBUSY, why, "refused");
		return;
	}

	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Status status = IPSNET__V1__STATUS__INIT;
	Ipsnet__V1__HelloOk ok = IPSNET__V1__HELLO_OK__INIT;
	uint8_t head_hash[32] = {0};
	ok.organisation_id = c->org.id;
	ok.organisation_kind = (Ipsnet__V1__OrgKind)c->org.kind;
	ok.organisation_name = c->org.name;
	ok.server_version = IPSNET_VERSION;
	ok.protocol_version = PROTOCOL_VERSION;
	struct journal_stats js;
	journal_stats(c->server->journal, &js);
	memcpy(head_hash, js.head_hash, sizeof(head_hash));
	ok.journal_seq = js.head_seq;
	ok.journal_hash.data = head_hash;
	ok.journal_hash.len = sizeof(head_hash);
	ok.max_frame_bytes = c->server->cfg.max_frame_bytes;
	env.request_id = req->request_id;
	env.status = &status;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_HELLO_OK;
	env.hello_ok = &ok;
	char user_q[2 * sizeof(c->user) + 3],
	    software_q[2 * SOFTWARE_MAX_BYTES + 3];
	log_info("hello accepted", "org=%s peer=%s user=%s software=%s",
		 c->org.id, c->stream.peer,
		 log_quote(user_q, sizeof(user_q), c->user),
		 log_quote(software_q, sizeof(software_q), software));
	conn_move(c, CONN_SERVING);
	c->stream.decoder.max_frame_bytes = c->server->cfg.max_frame_bytes;
	if (c->server->cfg.idle_timeout_ms > 0)
		uv_timer_start(&c->timer, deadline_cb,
			       c->server->cfg.idle_timeout_ms,
			       c->server->cfg.idle_timeout_ms);
	else
		uv_timer_stop(&c->timer);
	conn__send(c, &env);
	if (c->server->stopping)
		conn__close(c, 0, "the server is shutting down", NULL);
}

static int on_frame(struct ipsnet_stream *s, const uint8_t *body, size_t len)
{
	struct conn *c = s->data;
	if (c->state == CONN_CLOSING)
		return IPSNET_ECLOSED;
	c->frame_begun = false;
	struct ipsnet_pb_budget budget;
	ipsnet_pb_budget_init(&budget, IPSNET_PB_BUDGET(len));
	Ipsnet__V1__Envelope *req =
	    ipsnet__v1__envelope__unpack(&budget.allocator, len, body);
	if (req == NULL) {
		if (c->state == CONN_HELLO && !hello_allowed(c, 0))
			return IPSNET_EUNAUTHENTICATED;
		if (budget.exceeded) {
			static const char why[] =
			    "the frame decodes into far more parts than a "
			    "request of its size holds";
			conn__send_error(c, 0, IPSNET_EFRAME_TOO_LARGE, why);
			conn__close(c, IPSNET_EFRAME_TOO_LARGE, why, "error");
			return IPSNET_EFRAME_TOO_LARGE;
		}
		conn__send_error(c, 0, IPSNET_EDECODE,
				 "the frame does not decode as an Envelope");
		conn__close(c, IPSNET_EDECODE, NULL, "error");
		return IPSNET_EDECODE;
	}
	c->requests++;
	char field[160] = "", refusal[256] = "";
	size_t nul;
	if (!message_utf8_valid(&req->base, field, sizeof(field)))
		/* protobuf-c takes any bytes for a proto3 string: what is
		 * stored would come back broken to every reader. */
		snprintf(refusal, sizeof(refusal),
			 "the text of %s is not UTF-8; send text as UTF-8",
			 field);
	else if ((nul = message_text_nul_at(&ipsnet__v1__envelope__descriptor,
					    body, len, field, sizeof(field))) >
		 0)
		/* protobuf-c cuts a string at a NUL: "alice\0mallory" would
		 * act, and be stored and audited, as "alice". */
		snprintf(refusal, sizeof(refusal),
			 "the text of %s holds a NUL byte at byte %zu, which "
			 "would cut it short; send text without NUL bytes",
			 field, nul);
	else if (req->request_id == 0 && c->state == CONN_SERVING)
		/* Its answer would carry id 0, which is what the server
		 * sends unasked: a client would take it for an event or a
		 * notice, and its request would wait for ever. */
		snprintf(refusal, sizeof(refusal),
			 "request id 0 is kept for what the server sends "
			 "unasked (events, notices); number requests from 1");
	else
		/* A trajectory's id where a client's goes would be answered
		 * as a client the caller may not see. (Writes refusal only
		 * when one does not fit.) */
		(void)message_ids_fit(&req->base, refusal, sizeof(refusal));
	if (refusal[0] != '\0' && c->state == CONN_HELLO) {
		if (hello_allowed(c, req->request_id))
			conn__refuse(c, req->request_id, IPSNET_EINVAL, refusal,
				     "error");
		ipsnet__v1__envelope__free_unpacked(req,
						    &ipsnet_protobuf_allocator);
		return 0;
	}
	if (c->state == CONN_HELLO) {
		hello(c, req);
		ipsnet__v1__envelope__free_unpacked(req,
						    &ipsnet_protobuf_allocator);
		return 0;
	}
	/* The handshake judged the certificate; a connection may outlive
	 * it. */
	if (conn__cert_ended(c, req->request_id)) {
		ipsnet__v1__envelope__free_unpacked(req,
						    &ipsnet_protobuf_allocator);
		return 0;
	}
	if (c->server->cfg.idle_timeout_ms > 0)
		uv_timer_again(&c->timer);
	c->idle_untaken = SIZE_MAX;
	/* Shutting down, this connection waits only for what was in flight
	 * at the signal: a client that kept sending would hold it open until
	 * the deadline cut it off. */
	if (c->drain) {
		conn__send_error(c, req->request_id, IPSNET_EUNAVAILABLE,
				 "the server is shutting down; send the "
				 "request again once it is back");
		ipsnet__v1__envelope__free_unpacked(req,
						    &ipsnet_protobuf_allocator);
		return 0;
	}
	/* Not reached: the stream pauses at the limit and holds the frames
	 * after it back (stream.c: deliver_frame). Kept so that a mistake
	 * there refuses a request instead of taking any number. */
	if (c->inflight >= c->server->cfg.max_inflight) {
		char why[96];
		snprintf(why, sizeof(why),
			 "too many requests in flight (at most %u a "
			 "connection); wait for answers",
			 c->server->cfg.max_inflight);
		conn__send_error(c, req->request_id, IPSNET_EBUSY, why);
		ipsnet__v1__envelope__free_unpacked(req,
						    &ipsnet_protobuf_allocator);
		return 0;
	}
	c->inflight++;
	c->server->inflight++;
	if (c->inflight >= c->server->cfg.max_inflight)
		stream_pause(&c->stream);
	/* Refused as it came, but a change refused is on the audit trail
	 * as every other. */
	if (refusal[0] != '\0')
		handlers__refuse(c, req, IPSNET_EINVAL, refusal);
	else
		handlers__dispatch(c, req);
	if (!may_read(c))
		stream_pause(&c->stream);
	return 0;
}

static void on_bad_frame(struct ipsnet_stream *s, int err)
{
	struct conn *c = s->data;
	char why[160];
	if (c->state == CONN_HELLO && !hello_allowed(c, 0))
		return;
	if (err == IPSNET_EFRAME_TOO_LARGE)
		snprintf(why, sizeof(why),
			 "frame of %u bytes is larger than the maximum of %u "
			 "bytes",
			 s->decoder.body_len, s->decoder.max_frame_bytes);
	else
		snprintf(why, sizeof(why), "%s", ipsnet_strerror(err));
	conn__send_error(c, 0, err, why);
	conn__close(c, err, why, "error");
}

/* The stream closes of its own accord (the peer's close_notify, a TLS
 * failure): the close deadline bounds how long the answers it still holds
 * wait for a peer that does not read them. */
static void on_closing(struct ipsnet_stream *s)
{
	struct conn *c = s->data;
	if (c->state != CONN_CLOSING)
		conn__close(c, s->error, s->reason, NULL);
}

static void on_drain(struct ipsnet_stream *s)
{
	struct conn *c = s->data;
	if (c->sub != NULL)
		sync__conn_drained(c->sub);
	else
		stream_trim(s);
	/* Before Hello the stream pauses only for its own backlog. */
	if ((c->state == CONN_SERVING || c->state == CONN_HELLO) && may_read(c))
		stream_resume(&c->stream);
}

/* The peer closed its side with requests in flight (a client that sends
 * its changes, then shuts its writing down): their answers still go out,
 * then the connection closes. A change applied is answered. */
static bool on_peer_closed(struct ipsnet_stream *s)
{
	struct conn *c = s->data;
	if (c->state != CONN_SERVING || c->inflight == 0 || c->sub != NULL)
		return false;
	c->drain = true;
	c->peer_done = true;
	log_debug("peer closed its side; what is in flight is still answered",
		  "org=%s peer=%s inflight=%u", c->org.id, s->peer,
		  c->inflight);
	return true;
}

static const struct stream_callbacks conn_callbacks = {
    .on_handshake = on_handshake,
    .on_frame = on_frame,
    .on_bad_frame = on_bad_frame,
    .on_closing = on_closing,
    .on_drain = on_drain,
    .on_peer_closed = on_peer_closed,
    .on_close = on_close,
    .on_yield = on_yield,
};

int conn__accept(struct server *srv)
{
	struct conn *c = ipsnet_calloc(1, sizeof(*c));
	if (c == NULL)
		return IPSNET_ENOMEM;
	c->server = srv;
	c->started_us = util_mono_us();
	c->state = CONN_HANDSHAKING;
	uv_timer_init(srv->loop, &c->timer);
	uv_timer_init(srv->loop, &c->read_on);
	c->open_handles = 3;
	/* Linked first: stream_accept reports every failure through on_close. */
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	c->unauth_prev = srv->unauth_tail;
	if (srv->unauth_tail != NULL)
		srv->unauth_tail->unauth_next = c;
	else
		srv->unauth_head = c;
	srv->unauth_tail = c;
	c->unauth_linked = true;
	int max = srv->cfg.max_frame_bytes < PRE_HELLO_MAX_FRAME_BYTES
		      ? (int)srv->cfg.max_frame_bytes
		      : PRE_HELLO_MAX_FRAME_BYTES;
	int rv = stream_accept(&c->stream, srv->loop,
			       (uv_stream_t *)&srv->listener, srv->tls,
			       (uint32_t)max, &conn_callbacks, c);
	if (rv != 0) {
		/* Nothing of the stream is open: close the timers only. */
		c->open_handles = 2;
		conn_move(c, CONN_CLOSING);
		uv_close((uv_handle_t *)&c->timer, timer_close_cb);
		uv_close((uv_handle_t *)&c->read_on, read_on_close_cb);
		return rv;
	}
	c->stream.max_backlog = srv->cfg.send_buffer_bytes;
	uv_timer_start(&c->timer, deadline_cb, srv->cfg.handshake_timeout_ms,
		       0);
	return 0;
}

bool conn__drop_oldest_unauthenticated(struct server *srv, char *peer,
				       size_t cap)
{
	struct conn *c = srv->unauth_head;
	if (c == NULL)
		return false;
	util_strlcpy(peer, c->stream.peer, cap);
	c->outcome = "dropped";
	conn_move(c, CONN_CLOSING);
	uv_timer_stop(&c->timer);
	/* At once: its room is for the connection being accepted, and one
	 * that waits to send an alert would hold it for CLOSE_DEADLINE_MS. */
	stream_abort(&c->stream, IPSNET_EBUSY,
		     "dropped for a newer connection: the server is at "
		     "max_connections and this one was not yet authenticated");
	return true;
}
