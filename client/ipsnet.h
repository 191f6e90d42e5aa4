/* libipsnet: the client library of ipsnet.
 *
 * A connection is mutually authenticated TLS to ipsnetd, carrying protobuf
 * Envelopes (ipsnet/ipsnet.pb-c.h, package ipsnet.v1). Two ways to use it:
 *
 * - asynchronous, on the caller's own libuv loop: ipsnet_connect,
 *   ipsnet_request, ipsnet_close. Every function and every callback runs
 *   on the loop's thread.
 * - synchronous, for commands and scripts: ipsnet_client_open,
 *   ipsnet_client_call, ipsnet_client_close. The client runs a private
 *   loop; one thread at a time may use a given client. Its callbacks run
 *   inside that loop: from them, ipsnet_client_call, _subscribe and _run
 *   on the same client are refused with IPSNET_EUSAGE, and
 *   ipsnet_client_close must not be called; ipsnet_client_stop may.
 *
 * Functions return 0 or a negative IPSNET_E* code (ipsnet_errors.h); where
 * they take err/errlen they also write one sentence a person can act on.
 */
#ifndef IPSNET_H
#define IPSNET_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "ipsnet.pb-c.h"
#include "ipsnet_errors.h"

#ifdef __cplusplus
extern "C" {
#endif

#define IPSNET_PROTOCOL_VERSION 1
/* The size of a journal entry's hash (SHA-256). */
#define IPSNET_HASH_BYTES 32

/* Where and as whom to connect. Strings are borrowed: they must outlive
 * the call that takes the options. */
struct ipsnet_options {
	const char *server;       /* "127.0.0.1:7443", "[::1]:7443", "host:7443";
				     a name's addresses are tried in turn
				     until one takes the connection */
	const char *ca;           /* the network CA (PEM) */
	const char *cert;         /* the organisation's certificate (PEM) */
	const char *key;          /* its private key (PEM) */
	const char *user;	  /* the person acting, for the audit trail;
				     required, not blanks only, at most 127
				     bytes of UTF-8 without a control
				     character (C0, DEL or C1); else refused
				     with IPSNET_EUSAGE */
	const char *software;	  /* "ipsnet/0.1.0"; NULL: "libipsnet/VERSION";
				     UTF-8, at most 63 bytes go in Hello
				     (longer is cut at a character and ends
				     in "..."); one with a control character
				     (C0, DEL or C1) in them is refused with
				     IPSNET_EUSAGE, as ipsnetd refuses it */
	uint32_t timeout_ms;	  /* name lookup + connect + handshake +
				     Hello, and each synchronous call; 0:
				     10000. A lookup still running then is
				     let go (it ends on a thread of its
				     own); the deadline holds */
	int tls_max_version;      /* 0: TLS 1.3; 12: at most 1.2 (tests) */
};

/* Settings with their own storage, filled from a profile file and from
 * IPSNET_* environment variables. */
struct ipsnet_settings {
	char server[128];
	char ca[1024];
	char cert[1024];
	char key[1024];
	char user[128];
	char profile_path[1024]; /* the profile file read, or "" */
};

/* Fills s: first the profile (when profile is not NULL, or $IPSNET_PROFILE
 * is set), then the environment variables IPSNET_SERVER, IPSNET_CA,
 * IPSNET_CERT, IPSNET_KEY and IPSNET_USER on top. A profile NAME is looked
 * for as $IPSNET_PROFILE_DIR/NAME.ini, $XDG_CONFIG_HOME/ipsnet/profiles/
 * NAME.ini (or ~/.config/ipsnet/profiles/NAME.ini) and ./var/dev/profiles/
 * NAME.ini, the first there taken (one there that cannot be read is an
 * error, not passed over); a NAME with a '/' is a file path. The caller
 * applies its own flags on top afterwards. Defaults: server
 * 127.0.0.1:7443, user $USER
 * (without it, the name of the account the program runs as). The server
 * refuses a Hello without a user: the audit trail records who acts. A
 * value too long for its field here is refused with IPSNET_EUSAGE and err
 * naming it, never cut. */
int ipsnet_settings_load(struct ipsnet_settings *s, const char *profile,
			 char *err, size_t errlen);

/* Options pointing into s. */
struct ipsnet_options ipsnet_settings_options(const struct ipsnet_settings *s);

/* ---- asynchronous API (caller's loop) ---------------------------------- */

struct ipsnet_conn;

struct ipsnet_callbacks {
	/* The connection is ready (status 0: Hello answered; see
	 * ipsnet_conn_hello) or could not be made (status < 0, message says
	 * why; on_closed follows). */
	void (*on_ready)(struct ipsnet_conn *c, int status, const char *message,
			 void *arg);
	/* Optional: an Envelope the server pushed (request id 0). The
	 * Envelope is freed after the call. */
	void (*on_push)(struct ipsnet_conn *c, const Ipsnet__V1__Envelope *env,
			void *arg);
	/* The connection is closed (status 0: closed by ipsnet_close, and
	 * message NULL; else a sentence). Every pending request has had its
	 * callback. The connection is freed right after this call. */
	void (*on_closed)(struct ipsnet_conn *c, int status,
			  const char *message, void *arg);
};

/* Starts connecting. On 0, *out is the connection and the callbacks will
 * follow; on failure nothing was started and err says why. */
int ipsnet_connect(uv_loop_t *loop, const struct ipsnet_options *o,
		   const struct ipsnet_callbacks *cb, void *arg,
		   struct ipsnet_conn **out, char *err, size_t errlen);

/* The server's answer to Hello: organisation, kind, server version,
 * journal head. Valid from on_ready (status 0) until on_closed. Answers
 * and pushes are read up to its max_frame_bytes (at least 16 MiB). */
const Ipsnet__V1__HelloOk *ipsnet_conn_hello(const struct ipsnet_conn *c);

/* Called with the response to a request. status is 0 when the response's
 * Status is OK, else the error code (message: the server's sentence, or
 * why no answer came). resp is NULL when no response arrived; it is freed
 * after the call. Status 0 comes only with the body that answers the
 * request (Ping: pong; a change: change_ok; FindClient and ShowCase:
 * case_view; ListFunding: funding_list, one page: ask for the next with
 * ListFunding.after_requested_on and after_id set to the answer's
 * next_requested_on and next_id while its more is set, and ListFunding.limit
 * caps a page (at most 1000; 0 with a cursor: 200; the server also stops
 * a page before its frame limit; 0 without a cursor asks for the whole
 * list in one answer, refused RESOURCE_EXHAUSTED when it does not fit);
 * ListPrograms: program_list;
 * Subscribe and Unsubscribe: subscribed; AuditQuery: audit_list, one
 * page (set AuditQuery.paged): while its more is set, ask again with
 * AuditQuery.after_id (with since: the last record's id) or before_id
 * (without: the first record's id); without paged, rows that do not fit
 * in one answer make it RESOURCE_EXHAUSTED;
 * ReportQuery: report). With IPSNET_ECONFLICT on a change, resp may carry
 * change_ok: the entity as it is now (see ipsnet_client_call). A response
 * with another body is refused: status
 * IPSNET_EPROTOCOL, resp NULL, message naming both; the connection goes
 * on (after a Subscribe it is closed). */
typedef void (*ipsnet_response_cb)(struct ipsnet_conn *c, int status,
				   const char *message,
				   const Ipsnet__V1__Envelope *resp, void *arg);

/* Sends req (its request_id is set by the library) and calls cb with the
 * answer (cb NULL: the answer, whatever it is, is dropped; for
 * ipsnet_subscribe, on_done NULL likewise). Requests may be pipelined. The
 * caller keeps ownership of req; it is serialized before the call returns. A
 * req larger serialized than the server takes
 * (ipsnet_conn_hello(c)->max_frame_bytes; the server would close the connection
 * over it) is refused with IPSNET_EFRAME_TOO_LARGE: nothing is sent, cb is not
 * called, and the connection and the other requests go on. A request is made
 * from on_ready (status 0) on: before it, it is refused with IPSNET_EUSAGE
 * (nothing is sent, the connection goes on being made); once ipsnet_close
 * was called or the connection failed, with IPSNET_ECLOSED. The same holds
 * for ipsnet_subscribe. */
int ipsnet_request(struct ipsnet_conn *c, Ipsnet__V1__Envelope *req,
		   ipsnet_response_cb cb, void *arg);

/* Closes gracefully (close_notify). Pending requests get IPSNET_ECLOSED;
 * on_closed follows. A server that takes none of what is still queued
 * for it within timeout_ms is cut off: the pending requests and on_closed
 * then have IPSNET_ETIMEOUT. */
void ipsnet_close(struct ipsnet_conn *c);

/* ---- subscriptions (asynchronous) -------------------------------------- */

/* What a subscription delivers, on the connection's loop thread. The Event
 * is freed after the call. */
struct ipsnet_subscription_callbacks {
	/* Every journal entry after since_seq that the organisation may see,
	 * cut to what it may see: catch-up first (ev->live false), then live.
	 * Store ev->seq after handling the event: resuming from it later
	 * gives no gap and no duplicate. An event whose seq is not above
	 * the last one's fails the connection (IPSNET_EPROTOCOL) before it
	 * gets here. */
	void (*on_event)(struct ipsnet_conn *c, const Ipsnet__V1__Event *ev,
			 void *arg);
	/* Optional: the stream has caught up with the journal head (seq) and
	 * goes on live. May come again after the server moved a slow
	 * subscriber back to catching up. Never below the last event's seq:
	 * such a CaughtUp fails the connection. */
	void (*on_caught_up)(struct ipsnet_conn *c, uint64_t seq, void *arg);
};

/* Subscribes this connection (one subscription per connection). on_done
 * gets the Subscribed answer (its subscribed->head_seq is the journal head
 * at that moment; status 0 comes with nothing else) or the refusal. cb takes
 * over from the Subscribed answer on; a refused Subscribe changes nothing. An
 * event or CaughtUp that comes before the answer fails the connection
 * (IPSNET_EPROTOCOL). */
int ipsnet_subscribe(struct ipsnet_conn *c, uint64_t since_seq,
		     const char *const *kinds, size_t n_kinds,
		     const struct ipsnet_subscription_callbacks *cb, void *arg,
		     ipsnet_response_cb on_done, void *done_arg);

/* The same, resuming from since_seq whose journal entry the caller got
 * with hash since_hash (IPSNET_HASH_BYTES: ev->hash, or what
 * ipsnet_subscription_hash gave; NULL: not checked). Store the hash with
 * the seq. When the server's entry since_seq is another one (its journal
 * was restored from a backup, or it is another server), nothing is
 * delivered: the Subscribe is refused, or the subscription is ended, with
 * IPSNET_EPRECONDITION and a sentence. */
int ipsnet_subscribe_from(struct ipsnet_conn *c, uint64_t since_seq,
			  const uint8_t *since_hash, const char *const *kinds,
			  size_t n_kinds,
			  const struct ipsnet_subscription_callbacks *cb,
			  void *arg, ipsnet_response_cb on_done,
			  void *done_arg);

/* How far the server has read the journal for this subscription: the seq
 * of the last event, of CaughtUp, or during catch-up of the last stretch
 * with none of the subscriber's events (the server's Progress; an older
 * server sends none). For a progress display: where events are few, the
 * last event's seq stands still while the catch-up reads on. Not a cursor
 * to resume from: store ev->seq or CaughtUp's seq. */
uint64_t ipsnet_subscription_read(const struct ipsnet_conn *c);

/* In on_event or on_caught_up: the hash of the journal entry at that seq,
 * as the server gave it (IPSNET_HASH_BYTES), or NULL when it gave none (an
 * older server). */
const uint8_t *ipsnet_subscription_hash(const struct ipsnet_conn *c);

/* ---- synchronous API --------------------------------------------------- */

struct ipsnet_client;

/* Connects, handshakes and says Hello, waiting at most o->timeout_ms. */
int ipsnet_client_open(struct ipsnet_client **out,
		       const struct ipsnet_options *o, char *err,
		       size_t errlen);

const Ipsnet__V1__HelloOk *ipsnet_client_hello(const struct ipsnet_client *c);

/* Sends req and waits for its answer. On 0 *resp is the response, with the
 * body that answers req (see ipsnet_response_cb; free it with
 * ipsnet_envelope_free). When the server answers with an error status
 * the code is returned, err has the server's sentence and *resp is still
 * set. With IPSNET_ECONFLICT, resp->status->current_version is the
 * entity's version now and, where the caller may change the entity,
 * resp->change_ok the entity as it is now (as a successful change's answer
 * shows it; seq 0). A req larger than the
 * server takes is not sent: IPSNET_EFRAME_TOO_LARGE, err naming its size
 * and the limit, and the client goes on (see ipsnet_request). After
 * IPSNET_ETIMEOUT the connection is closed (whether the server acted is
 * unknown): later calls return IPSNET_ECLOSED, err saying so; open the
 * client again. */
int ipsnet_client_call(struct ipsnet_client *c, Ipsnet__V1__Envelope *req,
		       Ipsnet__V1__Envelope **resp, char *err, size_t errlen);

/* Closes and frees the client. */
void ipsnet_client_close(struct ipsnet_client *c);

/* Subscribes and waits for the answer; *head gets the journal head. The
 * callbacks then run inside ipsnet_client_run (those of events that come
 * with an answer, inside this call or ipsnet_client_call). After
 * IPSNET_ETIMEOUT the connection is closed, as after a call that timed
 * out: the answer may still come, and no later call may take it for its
 * own. */
int ipsnet_client_subscribe(struct ipsnet_client *c, uint64_t since_seq,
			    const char *const *kinds, size_t n_kinds,
			    const struct ipsnet_subscription_callbacks *cb,
			    void *arg, uint64_t *head, char *err,
			    size_t errlen);

/* The same, resuming from since_seq with its hash (see
 * ipsnet_subscribe_from): another journal is refused with
 * IPSNET_EPRECONDITION and the server's sentence in err. */
int ipsnet_client_subscribe_from(struct ipsnet_client *c, uint64_t since_seq,
				 const uint8_t *since_hash,
				 const char *const *kinds, size_t n_kinds,
				 const struct ipsnet_subscription_callbacks *cb,
				 void *arg, uint64_t *head, char *err,
				 size_t errlen);

/* Runs the client's loop, delivering events, until ipsnet_client_stop is
 * called from a callback (returns 0) or the connection ends (returns why,
 * with err). timeout_ms 0: no limit; else returns IPSNET_ETIMEOUT after
 * that long without ipsnet_client_stop. */
int ipsnet_client_run(struct ipsnet_client *c, uint32_t timeout_ms, char *err,
		      size_t errlen);

/* Makes ipsnet_client_run return (call from a callback). Events that come
 * with an answer run their callbacks inside ipsnet_client_subscribe or
 * ipsnet_client_call; a stop asked for there makes the next
 * ipsnet_client_run return 0 at once. After a stop no subscription
 * callback runs until the next ipsnet_client_run: what the client had
 * already read is kept and handed over first there, in order (with its
 * own ipsnet_subscription_hash), one stop at a time. Kept events the
 * connection's end leaves undelivered are dropped: resuming from the last
 * seq handled gets them again. At most IPSNET_HELD_MAX_BYTES are kept
 * (a program that makes a call for each event while events come faster
 * than that: the client reads on for the call's answer): beyond, the
 * connection ends, and the call it cuts, or else the next
 * ipsnet_client_run, returns IPSNET_EBUSY, saying so (a change cut so may
 * or may not have been applied: send it again with its idempotency key);
 * open a client and subscribe again from the last seq handled. */
#define IPSNET_HELD_MAX_BYTES (8u << 20)
void ipsnet_client_stop(struct ipsnet_client *c);

/* The asynchronous connection under a synchronous client. */
struct ipsnet_conn *ipsnet_client_conn(struct ipsnet_client *c);

void ipsnet_envelope_free(Ipsnet__V1__Envelope *env);

/* A fresh 16-byte idempotency key for a change. */
int ipsnet_new_idempotency_key(uint8_t key[16]);

/* The library's version ("0.1.0"). */
const char *ipsnet_version(void);

#ifdef __cplusplus
}
#endif

#endif
