/* Subscriptions (DESIGN §5): every journal entry after a cursor that the
 * subscriber may see, cut to what it may see, first from the database
 * (catch-up), then live as entries commit, with no gap and no duplicate at
 * the switch.
 *
 * All delivery reads the journal on the reader threads: catch-up one page
 * per subscriber at a time, live one range per commit for every
 * organisation that has live subscribers (policy is checked there, at the
 * moment of delivery, so a consent withdrawal stops the flow at once). The
 * loop thread only copies ready frames into the connections; with many live
 * subscribers it does so together with delivery threads (fanout.h), one
 * subscriber per thread at a time, while it waits. A connection
 * whose send buffer is full (sync_send_bound bytes queued) is never waited
 * for: it drops back to catching up from the database when it drains. */
#ifndef IPSNETD_SYNC_H
#define IPSNETD_SYNC_H

#include <stddef.h>
#include <stdint.h>

#include "ipsnet.pb-c.h"
#include "journal.h"

struct conn;
struct sync;
struct sync_sub;

struct sync_stats {
	uint32_t subscribers;
	uint32_t live;
	uint64_t live_seq;     /* live delivery has reached this seq */
	uint64_t fallbacks;    /* times a slow subscriber fell back */
	/* Live deliveries, and the time from an entry's commit until its
	 * bytes were handed to the kernel (or to libuv's queue), in ms. */
	uint64_t live_sent;
	double sent_p50_ms, sent_p99_ms, sent_max_ms;
};

/* The daemon's one sync instance (loop thread). send_bound: bytes queued on
 * a connection beyond which it falls back to catch-up. threads: threads that
 * write live events, the loop's included (0: one per CPU, at most 8). */
int sync_new(struct sync **out, struct journal *j, size_t send_bound,
	     unsigned threads);
void sync_free(struct sync *s);
/* No read of the journal is in flight (shutdown waits for it). */
bool sync_idle(const struct sync *s);

/* cb(arg) runs on the loop thread each time the last read in flight is
 * back, so that a shutdown waiting for sync_idle looks again: the live
 * fetch's read belongs to no connection. */
void sync_on_idle(struct sync *s, void (*cb)(void *arg), void *arg);
void sync_stats(struct sync *s, struct sync_stats *out);

/* Handles Subscribe and Unsubscribe from an authenticated connection (takes
 * ownership of req). */
void sync__request(struct sync *s, struct conn *c, Ipsnet__V1__Envelope *req);

/* The connection has drained its send buffer / has closed. */
void sync__conn_drained(struct sync_sub *sub);
void sync__conn_closed(struct sync_sub *sub);

/* Whether the subscriber may see an entry (*visible), and the entry cut to
 * what it may see: reads the facts it needs from db. ok is the entity
 * after the change; it is cut in place (fields cleared). Returns 0, or
 * IPSNET_EDB or IPSNET_ENOMEM when it could not judge (then *visible is
 * false): a failed read is not "sees nothing". */
int sync_visible(sqlite3 *db, const struct journal_actor *who,
		 Ipsnet__V1__ChangeOk *ok, bool *visible);

/* The change's name ("register_client", ...) from a journal entry's payload
 * (the request Envelope's bytes) without decoding it: the first top-level
 * field from 10 on is the body's oneof member. "unknown" when there is none
 * or the bytes do not parse. */
const char *sync_change_name(const uint8_t *payload, size_t n);

#endif
