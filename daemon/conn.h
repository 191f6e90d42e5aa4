/* One client connection: its TLS stream, its timer, and its life as a
 * declared state machine (handshaking -> hello -> serving -> closing). */
#ifndef IPSNETD_CONN_H
#define IPSNETD_CONN_H

#include <stdbool.h>
#include <stdint.h>

#include "config.h"
#include "ipsnet.pb-c.h"
#include "stream.h"

struct server;
struct sync_sub;

enum conn_state {
	CONN_HANDSHAKING, /* TLS handshake under way */
	CONN_HELLO,       /* TLS up, waiting for Hello */
	CONN_SERVING,     /* authenticated: requests are served */
	CONN_CLOSING,     /* closing: nothing more is read */
	CONN_N_STATES
};

struct conn {
	struct ipsnet_stream stream;
	uv_timer_t timer; /* handshake deadline, then idle, then close deadline */
	uv_timer_t read_on;	 /* the next turn of the loop, after on_yield */
	uint64_t close_deadline; /* closing: uv_now by which the peer has all */
	struct server *server;
	struct conn *prev, *next;
	/* Before its Hello is accepted, a connection is also on the server's
	 * list of those not yet authenticated, oldest first: the first to go
	 * when a newer one needs the room (conn__drop_oldest_unauthenticated).
	 */
	struct conn *unauth_prev, *unauth_next;
	bool unauth_linked;

	enum conn_state state;
	struct org_config org; /* who: from the certificate's CN and the registry */
	char cn[ORG_ID_MAX];
	char user[128];
	const char *tls_version; /* "TLSv1.3", once the handshake is done */
	int64_t cert_until;	 /* its certificate's end (seconds), or 0 */
	bool org_unknown;      /* the CN is not an active organisation */
	bool drain;            /* close once nothing is in flight */
	bool peer_done;	       /* the peer closed its side (with drain) */
	bool released;         /* handles closed; freed when nothing is in flight */
	struct sync_sub *sub;  /* the subscription on this connection, or NULL */
	bool frame_begun;      /* a frame was part-way in at the last idle tick,
				  with none whole since */
	size_t idle_untaken;   /* stream_untaken at the last idle tick, with no
				  frame since; SIZE_MAX: a frame came */
	uint32_t inflight;
	uint64_t requests;
	uint64_t started_us;
	int open_handles;
	const char *outcome;   /* for the connection's log line */
};

/* Whether c's certificate has ended since its handshake; if so, answers
 * request_id (0: a notice) UNAUTHENTICATED with the date and closes c,
 * outcome=expired. */
bool conn__cert_ended(struct conn *c, uint64_t request_id);

/* Accepts a connection from the server's listener. */
int conn__accept(struct server *srv);

/* At max_connections: closes the oldest connection that has not yet had
 * its Hello accepted, at once, so that a new one can take its room; its
 * peer goes into peer. A peer that opens connections and never finishes
 * them cannot keep the organisations out (they would be refused until the
 * handshake timeout, and again for as long as it goes on); a connection
 * that is serving is never dropped. False when there is none. */
bool conn__drop_oldest_unauthenticated(struct server *srv, char *peer,
				       size_t cap);

/* Sends a response. env's request_id and status are the caller's. */
int conn__send(struct conn *c, const Ipsnet__V1__Envelope *env);

/* Said to a connection whose certificate the CA configured at a reload
 * did not sign. */
#define CERT_NOT_TRUSTED_NOW                                             \
	"your certificate is not signed by a CA the server trusts: the " \
	"network's CA was replaced; connect with a certificate of the new CA"

/* Sends an error Status for request_id. */
int conn__send_error(struct conn *c, uint64_t request_id, int err,
		     const char *message);

/* The same, with the entity's current version (for CONFLICT). */
int conn__send_status(struct conn *c, uint64_t request_id, int err,
		      const char *message, uint64_t current_version);

/* Sends a packed Envelope that has no request id (as the journal keeps
 * answers) with request_id put in front: its tag and up to ten bytes of
 * varint, CONN_REQUEST_ID_BYTES at most. An answer of n packed bytes
 * takes a frame of n + CONN_REQUEST_ID_BYTES. */
#define CONN_REQUEST_ID_BYTES 11
int conn__send_packed(struct conn *c, uint64_t request_id,
		      const uint8_t *packed, size_t len);

/* The same for the first answer to a change whose idempotency key was
 * applied before, marked Envelope.replayed (two bytes more, within the
 * margin the journal keeps for a change's answer). */
int conn__send_replayed(struct conn *c, uint64_t request_id,
			const uint8_t *packed, size_t len);

/* Whether answers can still be sent. */
bool conn__open(const struct conn *c);

/* Who acts through the connection: its organisation, kind, user and peer,
 * as the journal, the audit trail and the policy take them. */
struct journal_actor;
void conn__actor(const struct conn *c, struct journal_actor *a);

/* Work on the connection's behalf has started outside a request (a sync
 * page being read): like a request in flight, it keeps the connection
 * from being freed and a stopping server from finishing until
 * conn__request_done. */
void conn__request_begin(struct conn *c);

/* A request that was in flight has been answered. */
void conn__request_done(struct conn *c);

/* Closes gracefully: close_notify, queued bytes go out, then the handles
 * close; forced after a deadline. */
void conn__close(struct conn *c, int err, const char *reason,
		 const char *outcome);

/* Answers request_id (0: a notice) with err and why, then closes with why
 * as the reason. */
void conn__refuse(struct conn *c, uint64_t request_id, int err, const char *why,
		  const char *outcome);

/* Closes a serving connection with nothing in flight at a shutdown: told
 * so first (UNAVAILABLE), unless the peer closed its side already. */
void conn__close_for_shutdown(struct conn *c);

#endif
