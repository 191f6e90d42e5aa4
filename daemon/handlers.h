/* Request handlers: one per request kind, reached through one dispatch
 * table. A handler answers with conn__send / conn__send_error, now or later
 * (after the journal's writer thread has answered), and then calls
 * conn__request_done. */
#ifndef IPSNETD_HANDLERS_H
#define IPSNETD_HANDLERS_H

#include "conn.h"

/* Handles one request from an authenticated connection. Takes ownership of
 * req (freed with ipsnet__v1__envelope__free_unpacked). */
void handlers__dispatch(struct conn *c, Ipsnet__V1__Envelope *req);

/* Refuses a request from an authenticated connection for what it holds as
 * it came (text that is not UTF-8, a NUL byte, an id of another kind),
 * counted in flight as a dispatched one. A change is on the audit trail as
 * every refused change: its row is committed, then the refusal goes out.
 * Takes ownership of req; message is copied. */
void handlers__refuse(struct conn *c, Ipsnet__V1__Envelope *req, int err,
		      const char *message);

#endif
