/* What libipsnet's synchronous client (sync.c) needs of a connection
 * beyond the public API; not exported (libipsnet.map). */
#ifndef IPSNET_CONN_INTERNAL_H
#define IPSNET_CONN_INTERNAL_H

#include <stdint.h>

#include "ipsnet.h"

/* What ipsnet_subscription_hash gives from now on: hash
 * (IPSNET_HASH_BYTES), or none for NULL. For an event handed over later
 * than it came, so that its callback reads its own hash. */
void conn_set_subscription_hash(struct ipsnet_conn *c, const uint8_t *hash);

/* ipsnet_close for a reason of the caller's: the requests in flight, and
 * on_closed, are told status and why instead of a bare close. */
void conn_close_for(struct ipsnet_conn *c, int status, const char *why);

#endif
