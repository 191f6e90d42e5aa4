#include "handlers.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "apply.h"
#include "ipsnet_errors.h"
#include "journal.h"
#include "reads.h"
#include "report.h"
#include "server.h"
#include "sync.h"
#include "util.h"

/* A handler owns req: it frees it now or when its answer has gone out. */
typedef void (*handler_fn)(struct conn *c, Ipsnet__V1__Envelope *req);

static void free_req(Ipsnet__V1__Envelope *req)
{
	ipsnet__v1__envelope__free_unpacked(req, &ipsnet_protobuf_allocator);
}

static void answer_error(struct conn *c, Ipsnet__V1__Envelope *req, int err,
			 const char *message)
{
	conn__send_error(c, req->request_id, err, message);
	conn__request_done(c);
	free_req(req);
}

static void handle_ping(struct conn *c, Ipsnet__V1__Envelope *req)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Status status = IPSNET__V1__STATUS__INIT;
	Ipsnet__V1__Pong pong = IPSNET__V1__PONG__INIT;
	pong.client_time_us = req->ping->client_time_us;
	pong.server_time_us = util_now_us();
	env.request_id = req->request_id;
	env.status = &status;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_PONG;
	env.pong = &pong;
	(void)conn__send(c, &env);
	conn__request_done(c);
	free_req(req);
}

static void handle_hello_again(struct conn *c, Ipsnet__V1__Envelope *req)
{
	answer_error(c, req, IPSNET_EPROTOCOL,
		     "Hello was already accepted on this connection");
}

/* ---- changes: through the journal's writer ----------------------------- */

struct change {
	struct journal_change jc;
	struct conn *conn;
	uint64_t request_id;
};

static void change_done(struct journal_change *jc)
{
	struct change *ch = container_of(jc, struct change, jc);
	struct conn *c = ch->conn;
	if (conn__open(c)) {
		if (jc->err != 0 && jc->response == NULL)
			conn__send_status(c, ch->request_id, jc->err,
					  jc->message, jc->current_version);
		else if (jc->err == 0 && jc->replayed)
			conn__send_replayed(c, ch->request_id, jc->response,
					    jc->response_len);
		else /* an answer, or a CONFLICT with the current state */
			conn__send_packed(c, ch->request_id, jc->response,
					  jc->response_len);
	}
	ipsnet_free(jc->response);
	free_req(jc->req);
	ipsnet_free(ch);
	conn__request_done(c);
}

/* A change refused before it reaches the journal's judgement (its key,
 * fields this server does not know) is on the audit trail as every
 * refused change: its row is committed by the writer, then the refusal
 * goes out. */
struct unjudged {
	struct journal_audit ja;
	struct journal_audit_row row;
	struct conn *conn;
	Ipsnet__V1__Envelope *req;
	int err;
	char message[256];
};

static void unjudged_audited(struct journal_audit *ja)
{
	struct unjudged *u = container_of(ja, struct unjudged, ja);
	struct conn *c = u->conn;
	if (conn__open(c))
		conn__send_error(c, u->req->request_id, u->err, u->message);
	free_req(u->req);
	ipsnet_free(u);
	conn__request_done(c);
}

static void refuse_unjudged(struct conn *c, Ipsnet__V1__Envelope *req, int err,
			    const char *message)
{
	struct unjudged *u = ipsnet_calloc(1, sizeof(*u));
	if (u == NULL) {
		answer_error(c, req, err, message);
		return;
	}
	u->conn = c;
	u->req = req;
	u->err = err;
	util_strlcpy(u->message, message, sizeof(u->message));
	u->row.time_us = (int64_t)util_now_us();
	util_strlcpy(u->row.org, c->org.id, sizeof(u->row.org));
	util_strlcpy(u->row.user, c->user, sizeof(u->row.user));
	util_strlcpy(u->row.peer, c->stream.peer, sizeof(u->row.peer));
	apply_audit_request(req, NULL, 0, &u->row);
	util_strlcpy(u->row.result, ipsnet_status_name(ipsnet_err_status(err)),
		     sizeof(u->row.result));
	u->ja.rows = &u->row;
	u->ja.n = 1;
	u->ja.change = req;
	u->ja.done = unjudged_audited;
	journal_audit(c->server->journal, &u->ja);
}

static void handle_change(struct conn *c, Ipsnet__V1__Envelope *req)
{
	if (req->idempotency_key.len != JOURNAL_KEY_BYTES) {
		refuse_unjudged(c, req, IPSNET_EINVAL,
				"a change needs an idempotency key of 16 "
				"bytes");
		return;
	}
	if (util_proto_has_unknown_fields(&req->base)) {
		refuse_unjudged(c, req, IPSNET_EINVAL,
				"the change has fields this server does not "
				"know; use a client of the server's version");
		return;
	}
	struct change *ch = ipsnet_calloc(1, sizeof(*ch));
	if (ch == NULL) {
		answer_error(c, req, IPSNET_ENOMEM, "the server is out of memory");
		return;
	}
	int rv = apply_prepare(req);
	if (rv != 0) {
		ipsnet_free(ch);
		answer_error(c, req, rv, NULL);
		return;
	}
	ch->conn = c;
	ch->request_id = req->request_id;
	conn__actor(c, &ch->jc.actor);
	memcpy(ch->jc.key, req->idempotency_key.data, JOURNAL_KEY_BYTES);
	ch->jc.req = req;
	ch->jc.done = change_done;
	journal_submit(c->server->journal, &ch->jc);
}

void handlers__refuse(struct conn *c, Ipsnet__V1__Envelope *req, int err,
		      const char *message)
{
	if (apply_is_change(req->body_case))
		refuse_unjudged(c, req, err, message);
	else
		answer_error(c, req, err, message);
}

/* ---- reads: on a reader thread, audited through the writer ------------- */

/* A read of the case data: it runs on a reader thread (reads.h), its audit
 * rows are committed by the writer, and only then does the answer go out.
 * A read that cannot be audited is not answered with data. */
struct read {
	struct journal_read jr;
	struct journal_audit ja;
	struct journal_actor actor;
	struct reads_ctx ctx;
	struct conn *conn;
	Ipsnet__V1__Envelope *req;
	int rejudged; /* times made again after a narrowing change */
};

/* A read whose judgement a consent withdrawal (or a program handed over)
 * overtook is made again, as a sync delivery is: at most this often,
 * then it is answered UNAVAILABLE. */
#define READ_REJUDGE_MAX 8

static void read_finish(struct read *rd, int err, const char *message)
{
	struct conn *c = rd->conn;
	if (conn__open(c)) {
		if (err != 0)
			conn__send_status(c, rd->req->request_id, err, message,
					  0);
		else
			conn__send_packed(c, rd->req->request_id,
					  rd->ctx.response,
					  rd->ctx.response_len);
	}
	reads_ctx_free(&rd->ctx);
	free_req(rd->req);
	ipsnet_free(rd);
	conn__request_done(c);
}

static int read_run(sqlite3 *db, struct journal_read *jr)
{
	struct read *rd = container_of(jr, struct read, jr);
	reads_run(db, &rd->ctx);
	return 0;
}

/* Sends the rows of the read's last judgement to the audit trail; done
 * runs once they are committed. The writer checks them against the
 * journal since judged_at (0: not at all, as for a refusal, with which
 * nothing goes out). */
static void read_audit(struct read *rd, uint64_t judged_at,
		       void (*done)(struct journal_audit *ja))
{
	memset(&rd->ja, 0, sizeof(rd->ja));
	rd->ja.rows = rd->ctx.audit;
	rd->ja.n = rd->ctx.n_audit;
	rd->ja.judged_at = judged_at;
	rd->ja.done = done;
	journal_audit(rd->conn->server->journal, &rd->ja);
}

static void read_refusal_audited(struct journal_audit *ja)
{
	struct read *rd = container_of(ja, struct read, ja);
	read_finish(rd, IPSNET_EUNAVAILABLE,
		    "what this read may show kept changing while it was made; "
		    "try again");
}

static void read_audited(struct journal_audit *ja)
{
	struct read *rd = container_of(ja, struct read, ja);
	if (ja->err == IPSNET_ECONFLICT && rd->rejudged < READ_REJUDGE_MAX &&
	    conn__open(rd->conn)) {
		/* Judged before a change that narrowed what the caller may
		 * see of a client it names, and committed since: what it
		 * would answer may no longer be allowed. No row was written;
		 * the read is made again, on the state after that change. */
		rd->rejudged++;
		reads_ctx_free(&rd->ctx);
		memset(&rd->ctx, 0, sizeof(rd->ctx));
		memset(&rd->ja, 0, sizeof(rd->ja));
		rd->ctx.actor = &rd->actor;
		rd->ctx.req = rd->req;
		rd->ctx.max_answer_bytes =
		    rd->conn->server->cfg.max_frame_bytes;
		journal_read(rd->conn->server->journal, &rd->jr);
		return;
	}
	if (ja->err == IPSNET_ECONFLICT) {
		/* Refused, and on the audit trail as every refused read: the
		 * rows of its last judgement, with the refusal's result. They
		 * are not judged again, as nothing goes out with them. */
		const char *result =
		    ipsnet_status_name(ipsnet_err_status(IPSNET_EUNAVAILABLE));
		for (size_t i = 0; i < rd->ctx.n_audit; i++)
			util_strlcpy(rd->ctx.audit[i].result, result,
				     sizeof(rd->ctx.audit[i].result));
		read_audit(rd, 0, read_refusal_audited);
	} else if (ja->err != 0) {
		char why[200], cause[sizeof(ja->cause) + 3];
		snprintf(why, sizeof(why),
			 "this read cannot be recorded in the audit trail "
			 "now%s, so it is not answered; try again later",
			 journal_audit_cause(ja, cause, sizeof(cause)));
		read_finish(rd, IPSNET_EUNAVAILABLE, why);
	} else
		read_finish(rd, rd->ctx.err, rd->ctx.message);
}

static void read_done(struct journal_read *jr)
{
	struct read *rd = container_of(jr, struct read, jr);
	if (jr->err != 0) {
		read_finish(rd, IPSNET_EUNAVAILABLE,
			    "the case data cannot be read now; try again "
			    "later");
		return;
	}
	if (rd->ctx.n_audit == 0) { /* no personal data was read */
		read_finish(rd, rd->ctx.err, rd->ctx.message);
		return;
	}
	read_audit(rd, rd->ctx.judged_at, read_audited);
}

static void handle_read(struct conn *c, Ipsnet__V1__Envelope *req)
{
	struct read *rd = ipsnet_calloc(1, sizeof(*rd));
	if (rd == NULL) {
		answer_error(c, req, IPSNET_ENOMEM, "the server is out of memory");
		return;
	}
	rd->conn = c;
	rd->req = req;
	conn__actor(c, &rd->actor);
	rd->ctx.actor = &rd->actor;
	rd->ctx.req = req;
	rd->ctx.max_answer_bytes = c->server->cfg.max_frame_bytes;
	rd->jr.fn = read_run;
	rd->jr.done = read_done;
	journal_read(c->server->journal, &rd->jr);
}

static void handle_sync(struct conn *c, Ipsnet__V1__Envelope *req)
{
	sync__request(c->server->sync, c, req);
}

/* Indexed by the Envelope's body case: a request kind without an entry
 * is answered UNIMPLEMENTED. */
static const handler_fn handlers[] = {
    [IPSNET__V1__ENVELOPE__BODY_HELLO] = handle_hello_again,
    [IPSNET__V1__ENVELOPE__BODY_PING] = handle_ping,
    [IPSNET__V1__ENVELOPE__BODY_SUBSCRIBE] = handle_sync,
    [IPSNET__V1__ENVELOPE__BODY_UNSUBSCRIBE] = handle_sync,
    [IPSNET__V1__ENVELOPE__BODY_FIND_CLIENT] = handle_read,
    [IPSNET__V1__ENVELOPE__BODY_SHOW_CASE] = handle_read,
    [IPSNET__V1__ENVELOPE__BODY_LIST_FUNDING] = handle_read,
    [IPSNET__V1__ENVELOPE__BODY_LIST_PROGRAMS] = handle_read,
    [IPSNET__V1__ENVELOPE__BODY_AUDIT_QUERY] = handle_read,
    [IPSNET__V1__ENVELOPE__BODY_REPORT_QUERY] = report__handle,
};

void handlers__dispatch(struct conn *c, Ipsnet__V1__Envelope *req)
{
	size_t kind = (size_t)req->body_case;
	handler_fn fn = kind < ARRAY_SIZE(handlers) ? handlers[kind] : NULL;
	if (fn == NULL && apply_is_change(req->body_case))
		fn = handle_change;
	if (fn == NULL) {
		answer_error(c, req, IPSNET_EUNIMPLEMENTED,
			     "this server does not know that request");
		return;
	}
	fn(c, req);
}
