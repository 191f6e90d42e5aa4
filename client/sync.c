/* libipsnet's synchronous client: the asynchronous connection driven by a
 * private loop until the awaited answer arrives or the deadline passes. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "conn_internal.h"
#include "ipsnet.h"
#include "util.h"

/* An event or CaughtUp that came after ipsnet_client_stop, kept for the
 * next ipsnet_client_run (ev NULL: a CaughtUp at seq), with the hash
 * ipsnet_subscription_hash gave for it. */
struct held {
	struct held *next;
	Ipsnet__V1__Event *ev;
	size_t bytes; /* what it counts against IPSNET_HELD_MAX_BYTES */
	uint64_t seq;
	bool hash_known;
	uint8_t hash[IPSNET_HASH_BYTES];
};

struct ipsnet_client {
	uv_loop_t loop;
	uv_timer_t timer;
	struct ipsnet_conn *conn; /* NULL once closed */
	uint32_t timeout_ms;
	bool stop;                /* ipsnet_client_stop was called */
	/* The subscription's callbacks (those of a Subscribe in flight
	 * until its answer), and what came for them after a stop, oldest
	 * first. */
	struct ipsnet_subscription_callbacks cb, asked_cb;
	void *cb_arg, *asked_arg;
	struct held *held, **held_tail;
	size_t held_bytes;
	/* Why the connection ended or is ending (0 while it is open and the
	 * client has no reason of its own to end it), as the calls made after
	 * it say. */
	int closed_status;
	char closed_why[320];
	bool in_loop;		  /* its loop runs: a callback may be ours */
	uint64_t head;            /* from Subscribed */
	/* what the loop is waiting for */
	bool done;
	int status;
	char message[320];
	Ipsnet__V1__Envelope *resp;
};

static void note(struct ipsnet_client *cl, int status, const char *message)
{
	cl->done = true;
	cl->status = status;
	util_strlcpy(cl->message, message != NULL ? message : "",
		     sizeof(cl->message));
}

static void on_ready(struct ipsnet_conn *c, int status, const char *message,
		     void *arg)
{
	note(arg, status, message);
}

static void drop_held(struct ipsnet_client *cl)
{
	while (cl->held != NULL) {
		struct held *h = cl->held;
		cl->held = h->next;
		if (h->ev != NULL)
			ipsnet__v1__event__free_unpacked(
			    h->ev, &ipsnet_protobuf_allocator);
		ipsnet_free(h);
	}
	cl->held_tail = &cl->held;
	cl->held_bytes = 0;
}

/* Ends the connection for a reason of the client's own, which the call
 * it cuts and the calls made after it give. */
static void close_for(struct ipsnet_client *cl, int status, const char *why)
{
	if (cl->closed_status == 0) {
		cl->closed_status = status;
		util_strlcpy(cl->closed_why, why, sizeof(cl->closed_why));
	}
	conn_close_for(cl->conn, status, why);
}

static void on_closed(struct ipsnet_conn *c, int status, const char *message,
		      void *arg)
{
	struct ipsnet_client *cl = arg;
	cl->conn = NULL;
	/* Not handed over: resuming from the last event handled gets them
	 * again. */
	drop_held(cl);
	if (cl->closed_status == 0) {
		cl->closed_status = status != 0 ? status : IPSNET_ECLOSED;
		util_strlcpy(cl->closed_why, message != NULL ? message : "",
			     sizeof(cl->closed_why));
	}
	if (!cl->done)
		note(cl, cl->closed_status, cl->closed_why);
}

/* What a call on a client whose connection ended says: why it ended. */
static int closed(const struct ipsnet_client *cl, char *err, size_t errlen)
{
	snprintf(err, errlen, "%s",
		 cl->closed_why[0] != '\0' ? cl->closed_why
					   : "the connection is closed");
	return cl->closed_status != 0 ? cl->closed_status : IPSNET_ECLOSED;
}

/* Ends the connection after what (a call, Subscribe) got no answer in
 * time; the calls made after it say so, not a bare "connection closed". */
static void close_after_timeout(struct ipsnet_client *cl, const char *what)
{
	char why[240];
	snprintf(why, sizeof(why),
		 "the connection was closed after %s got no answer within %u "
		 "ms (whether the server acted on it is unknown); open the "
		 "client again",
		 what, cl->timeout_ms);
	close_for(cl, IPSNET_ECLOSED, why);
}

static const struct ipsnet_callbacks callbacks = {
    .on_ready = on_ready,
    .on_closed = on_closed,
};

static void timed_out(uv_timer_t *t)
{
	struct ipsnet_client *cl = container_of(t, struct ipsnet_client, timer);
	char msg[96];
	snprintf(msg, sizeof(msg), "no answer from the server within %u ms",
		 cl->timeout_ms);
	note(cl, IPSNET_ETIMEOUT, msg);
}

/* Runs the loop until the awaited thing is done or the deadline passes. */
static void wait_done(struct ipsnet_client *cl)
{
	/* The private loop sleeps between calls: its clock is as old as the
	 * last call, and a deadline counted from it would pass at once. */
	uv_update_time(&cl->loop);
	uv_timer_start(&cl->timer, timed_out, cl->timeout_ms, 0);
	cl->in_loop = true;
	while (!cl->done && uv_run(&cl->loop, UV_RUN_ONCE) != 0)
		;
	cl->in_loop = false;
	uv_timer_stop(&cl->timer);
	if (!cl->done)
		note(cl, IPSNET_ECLOSED, "the connection is closed");
}

/* A call from one of the client's callbacks would run its loop inside
 * itself, which libuv does not do: the answer could never be handed over.
 * Whether that is so (err then says what to do instead). */
static bool called_from_callback(const struct ipsnet_client *cl,
				 const char *what, char *err, size_t errlen)
{
	if (!cl->in_loop)
		return false;
	snprintf(err, errlen,
		 "%s cannot be called from a callback of the same client "
		 "(its loop is running); call it after ipsnet_client_run "
		 "returns (ipsnet_client_stop), or use another client",
		 what);
	return true;
}

static void drain_loop(struct ipsnet_client *cl)
{
	uv_close((uv_handle_t *)&cl->timer, NULL);
	uv_run(&cl->loop, UV_RUN_DEFAULT);
	uv_loop_close(&cl->loop);
}

int ipsnet_client_open(struct ipsnet_client **out,
		       const struct ipsnet_options *o, char *err,
		       size_t errlen)
{
	struct ipsnet_client *cl = ipsnet_calloc(1, sizeof(*cl));
	int rv;
	if (cl == NULL) {
		snprintf(err, errlen, "out of memory");
		return IPSNET_ENOMEM;
	}
	if (uv_loop_init(&cl->loop) != 0) {
		snprintf(err, errlen, "cannot start an event loop");
		rv = IPSNET_EINTERNAL;
		goto err;
	}
	uv_timer_init(&cl->loop, &cl->timer);
	cl->held_tail = &cl->held;
	/* The connection has its own deadline; this one only backs it up. */
	cl->timeout_ms = (o->timeout_ms != 0 ? o->timeout_ms : 10000) + 1000;
	rv = ipsnet_connect(&cl->loop, o, &callbacks, cl, &cl->conn, err,
			    errlen);
	if (rv != 0)
		goto err_after_loop;
	wait_done(cl);
	if (cl->status != 0) {
		rv = cl->status;
		snprintf(err, errlen, "%s", cl->message);
		if (cl->conn != NULL)
			ipsnet_close(cl->conn);
		goto err_after_loop;
	}
	cl->timeout_ms = o->timeout_ms != 0 ? o->timeout_ms : 10000;
	*out = cl;
	return 0;

err_after_loop:
	drain_loop(cl);
err:
	ipsnet_free(cl);
	return rv;
}

const Ipsnet__V1__HelloOk *ipsnet_client_hello(const struct ipsnet_client *cl)
{
	return cl->conn != NULL ? ipsnet_conn_hello(cl->conn) : NULL;
}

/* A copy of m of its own (freed with its type's free_unpacked and
 * ipsnet_protobuf_allocator), or NULL without memory. */
static ProtobufCMessage *copy_message(const ProtobufCMessage *m)
{
	size_t n = protobuf_c_message_get_packed_size(m);
	uint8_t *buf = ipsnet_malloc(n + 1);
	if (buf == NULL)
		return NULL;
	protobuf_c_message_pack(m, buf);
	ProtobufCMessage *copy = protobuf_c_message_unpack(
	    m->descriptor, &ipsnet_protobuf_allocator, n, buf);
	ipsnet_free(buf);
	return copy;
}

static void on_response(struct ipsnet_conn *c, int status, const char *message,
			const Ipsnet__V1__Envelope *resp, void *arg)
{
	struct ipsnet_client *cl = arg;
	if (resp != NULL) {
		/* Keep a copy: the library frees resp after this call. */
		cl->resp = (Ipsnet__V1__Envelope *)copy_message(&resp->base);
		if (cl->resp == NULL && status == 0) {
			status = IPSNET_ENOMEM;
			message = "out of memory";
		}
	}
	note(cl, status, message);
}

int ipsnet_client_call(struct ipsnet_client *cl, Ipsnet__V1__Envelope *req,
		       Ipsnet__V1__Envelope **resp, char *err, size_t errlen)
{
	*resp = NULL;
	if (called_from_callback(cl, "ipsnet_client_call", err, errlen))
		return IPSNET_EUSAGE;
	if (cl->conn == NULL || cl->closed_status != 0)
		return closed(cl, err, errlen);
	cl->done = false;
	cl->status = 0;
	cl->message[0] = '\0';
	cl->resp = NULL;
	int rv = ipsnet_request(cl->conn, req, on_response, cl);
	if (rv == IPSNET_EFRAME_TOO_LARGE) {
		snprintf(err, errlen,
			 "the request is %zu bytes; the server takes at most "
			 "%u bytes; nothing was sent",
			 ipsnet__v1__envelope__get_packed_size(req),
			 ipsnet_conn_hello(cl->conn)->max_frame_bytes);
		return rv;
	}
	if (rv != 0) {
		snprintf(err, errlen, "cannot send the request: %s",
			 ipsnet_strerror(rv));
		return rv;
	}
	wait_done(cl);
	if (cl->status == IPSNET_ETIMEOUT && cl->conn != NULL) {
		/* Whether the server acted is unknown: this connection is not
		 * to be trusted with more requests. */
		close_after_timeout(cl, "a call");
	}
	*resp = cl->resp;
	cl->resp = NULL;
	if (cl->status != 0)
		snprintf(err, errlen, "%s",
			 cl->message[0] != '\0' ? cl->message
						: ipsnet_strerror(cl->status));
	return cl->status;
}

/* Keeps what came after a stop, in order (ev NULL: a CaughtUp at seq).
 * Without memory for it, or past IPSNET_HELD_MAX_BYTES kept (a program that
 * makes a call for each event while events come faster: the client reads
 * on to get the call's answer, so the server's send buffer does not hold
 * them back), the connection ends (IPSNET_ENOMEM, IPSNET_EBUSY): resuming
 * from the last event handled loses nothing. */
static void hold(struct ipsnet_client *cl, const Ipsnet__V1__Event *ev,
		 uint64_t seq)
{
	if (cl->closed_status != 0)
		return; /* closing: dropped with the rest */
	size_t bytes =
	    sizeof(struct held) +
	    (ev != NULL ? ipsnet__v1__event__get_packed_size(ev) : 0);
	if (cl->held_bytes + bytes > IPSNET_HELD_MAX_BYTES) {
		char why[200];
		snprintf(why, sizeof(why),
			 "more than %u MiB of events came after "
			 "ipsnet_client_stop before they were handed over; "
			 "subscribe again from the last seq handled",
			 (unsigned)(IPSNET_HELD_MAX_BYTES >> 20));
		close_for(cl, IPSNET_EBUSY, why);
		return;
	}
	struct held *h = ipsnet_calloc(1, sizeof(*h));
	if (h != NULL && ev != NULL) {
		h->ev = (Ipsnet__V1__Event *)copy_message(&ev->base);
		if (h->ev == NULL) {
			ipsnet_free(h);
			h = NULL;
		}
	}
	if (h == NULL) {
		close_for(cl, IPSNET_ENOMEM,
			  "out of memory keeping an event for the next "
			  "ipsnet_client_run; subscribe again from the last "
			  "seq handled");
		return;
	}
	h->seq = seq;
	h->bytes = bytes;
	cl->held_bytes += bytes;
	const uint8_t *hash = ipsnet_subscription_hash(cl->conn);
	h->hash_known = hash != NULL;
	if (hash != NULL)
		memcpy(h->hash, hash, IPSNET_HASH_BYTES);
	*cl->held_tail = h;
	cl->held_tail = &h->next;
}

static void sub_event(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
		      void *arg)
{
	struct ipsnet_client *cl = arg;
	if (cl->stop || cl->held != NULL)
		hold(cl, ev, 0);
	else
		cl->cb.on_event(c, ev, cl->cb_arg);
}

static void sub_caught_up(struct ipsnet_conn *c, uint64_t seq, void *arg)
{
	struct ipsnet_client *cl = arg;
	if (cl->cb.on_caught_up == NULL)
		return;
	if (cl->stop || cl->held != NULL)
		hold(cl, NULL, seq);
	else
		cl->cb.on_caught_up(c, seq, cl->cb_arg);
}

static const struct ipsnet_subscription_callbacks sub_callbacks = {
    .on_event = sub_event,
    .on_caught_up = sub_caught_up,
};

/* Hands over what came after a stop, until a callback stops again. */
static void deliver_held(struct ipsnet_client *cl)
{
	while (cl->held != NULL && !cl->stop && cl->conn != NULL) {
		struct held *h = cl->held;
		cl->held = h->next;
		if (cl->held == NULL)
			cl->held_tail = &cl->held;
		cl->held_bytes -= h->bytes;
		/* Its own hash, then the newest again: what came after it
		 * and was not held told the connection that one. */
		uint8_t newest[IPSNET_HASH_BYTES];
		const uint8_t *now = ipsnet_subscription_hash(cl->conn);
		if (now != NULL)
			memcpy(newest, now, sizeof(newest));
		conn_set_subscription_hash(cl->conn,
					   h->hash_known ? h->hash : NULL);
		if (h->ev != NULL) {
			cl->cb.on_event(cl->conn, h->ev, cl->cb_arg);
			ipsnet__v1__event__free_unpacked(
			    h->ev, &ipsnet_protobuf_allocator);
		} else {
			cl->cb.on_caught_up(cl->conn, h->seq, cl->cb_arg);
		}
		ipsnet_free(h);
		if (cl->conn != NULL)
			conn_set_subscription_hash(cl->conn,
						   now != NULL ? newest : NULL);
	}
}

static void on_subscribed(struct ipsnet_conn *c, int status,
			  const char *message, const Ipsnet__V1__Envelope *resp,
			  void *arg)
{
	struct ipsnet_client *cl = arg;
	if (status == 0 && resp != NULL && resp->subscribed != NULL)
		cl->head = resp->subscribed->head_seq;
	/* Before the events that may follow at once; a refused Subscribe
	 * leaves the subscription as it was. */
	if (status == 0) {
		cl->cb = cl->asked_cb;
		cl->cb_arg = cl->asked_arg;
	}
	note(cl, status, message);
}

int ipsnet_client_subscribe(struct ipsnet_client *cl, uint64_t since_seq,
			    const char *const *kinds, size_t n_kinds,
			    const struct ipsnet_subscription_callbacks *cb,
			    void *arg, uint64_t *head, char *err,
			    size_t errlen)
{
	return ipsnet_client_subscribe_from(cl, since_seq, NULL, kinds, n_kinds,
					    cb, arg, head, err, errlen);
}

int ipsnet_client_subscribe_from(struct ipsnet_client *cl, uint64_t since_seq,
				 const uint8_t *since_hash,
				 const char *const *kinds, size_t n_kinds,
				 const struct ipsnet_subscription_callbacks *cb,
				 void *arg, uint64_t *head, char *err,
				 size_t errlen)
{
	if (called_from_callback(cl, "ipsnet_client_subscribe", err, errlen))
		return IPSNET_EUSAGE;
	if (cl->conn == NULL || cl->closed_status != 0)
		return closed(cl, err, errlen);
	if (cb == NULL || cb->on_event == NULL) {
		snprintf(err, errlen, "cannot subscribe: no on_event callback");
		return IPSNET_EINVAL;
	}
	cl->done = false;
	cl->status = 0;
	cl->message[0] = '\0';
	cl->asked_cb = *cb;
	cl->asked_arg = arg;
	int rv = ipsnet_subscribe_from(cl->conn, since_seq, since_hash, kinds,
				       n_kinds, &sub_callbacks, cl,
				       on_subscribed, cl);
	if (rv == IPSNET_EFRAME_TOO_LARGE) {
		snprintf(err, errlen,
			 "cannot subscribe: the request is larger than the "
			 "%u bytes the server takes (name fewer kinds)",
			 ipsnet_conn_hello(cl->conn)->max_frame_bytes);
		return rv;
	}
	if (rv != 0) {
		snprintf(err, errlen, "cannot subscribe: %s",
			 ipsnet_strerror(rv));
		return rv;
	}
	wait_done(cl);
	if (cl->status == IPSNET_ETIMEOUT && cl->conn != NULL) {
		/* The answer may still come, and would be taken for the
		 * answer to the next call: as in ipsnet_client_call, this
		 * connection is not to be trusted with more requests. */
		close_after_timeout(cl, "Subscribe");
	}
	if (cl->status != 0) {
		snprintf(err, errlen, "%s",
			 cl->message[0] != '\0' ? cl->message
						: ipsnet_strerror(cl->status));
		return cl->status;
	}
	if (head != NULL)
		*head = cl->head;
	return 0;
}

static void run_timeout(uv_timer_t *t)
{
	struct ipsnet_client *cl = container_of(t, struct ipsnet_client, timer);
	note(cl, IPSNET_ETIMEOUT, "the time given has passed");
}

int ipsnet_client_run(struct ipsnet_client *cl, uint32_t timeout_ms, char *err,
		      size_t errlen)
{
	if (called_from_callback(cl, "ipsnet_client_run", err, errlen))
		return IPSNET_EUSAGE;
	if (cl->conn == NULL || cl->closed_status != 0)
		return closed(cl, err, errlen);
	/* No reset of cl->stop: a callback that ran inside
	 * ipsnet_client_subscribe or ipsnet_client_call (events that came
	 * with an answer) may have asked for it already. */
	cl->done = false;
	cl->status = 0;
	cl->message[0] = '\0';
	cl->in_loop = true;
	deliver_held(cl);
	uv_update_time(&cl->loop); /* see wait_done */
	if (timeout_ms != 0)
		uv_timer_start(&cl->timer, run_timeout, timeout_ms, 0);
	while (!cl->stop && !cl->done &&
	       uv_run(&cl->loop, UV_RUN_ONCE) != 0)
		;
	cl->in_loop = false;
	uv_timer_stop(&cl->timer);
	if (cl->stop) {
		cl->stop = false;
		return 0;
	}
	if (!cl->done)
		note(cl, IPSNET_ECLOSED, "the connection is closed");
	snprintf(err, errlen, "%s",
		 cl->message[0] != '\0' ? cl->message
					: ipsnet_strerror(cl->status));
	return cl->status != 0 ? cl->status : IPSNET_ECLOSED;
}

void ipsnet_client_stop(struct ipsnet_client *cl)
{
	cl->stop = true;
}

struct ipsnet_conn *ipsnet_client_conn(struct ipsnet_client *cl)
{
	return cl->conn;
}

void ipsnet_client_close(struct ipsnet_client *cl)
{
	if (cl == NULL)
		return;
	if (cl->conn != NULL)
		ipsnet_close(cl->conn);
	drain_loop(cl);
	drop_held(cl);
	ipsnet_free(cl);
}
