#include "handlers.h"

#include "alloc.h"
#include "ipsnet_errors.h"
#include "util.h"

typedef void (*handler_fn)(struct conn *c, Ipsnet__V1__Envelope *req);

static void respond(struct conn *c, Ipsnet__V1__Envelope *env)
{
	(void)conn__send(c, env);
	conn__request_done(c);
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
	respond(c, &env);
}

static void handle_hello_again(struct conn *c, Ipsnet__V1__Envelope *req)
{
	conn__send_error(c, req->request_id, IPSNET_EPROTOCOL,
			 "Hello was already accepted on this connection");
	conn__request_done(c);
}

/* Indexed by the Envelope's body case: a request kind without an entry
 * is answered UNIMPLEMENTED. */
static const handler_fn handlers[] = {
    [IPSNET__V1__ENVELOPE__BODY_HELLO] = handle_hello_again,
    [IPSNET__V1__ENVELOPE__BODY_PING] = handle_ping,
};

void handlers__dispatch(struct conn *c, Ipsnet__V1__Envelope *req)
{
	size_t kind = (size_t)req->body_case;
	handler_fn fn = kind < ARRAY_SIZE(handlers) ? handlers[kind] : NULL;
	if (fn != NULL) {
		fn(c, req);
	} else {
		conn__send_error(c, req->request_id, IPSNET_EUNIMPLEMENTED,
				 "this server does not know that request");
		conn__request_done(c);
	}
	ipsnet__v1__envelope__free_unpacked(req, &ipsnet_protobuf_allocator);
}
