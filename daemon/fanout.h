/* A fork-join pool for work that the loop thread would otherwise do alone
 * and that splits into independent items: the live fan-out of sync, where
 * each item is one subscriber's TLS record and write(2).
 *
 * fanout_run blocks the calling (loop) thread while it and the pool's
 * threads call fn for every index once; it returns when all are done. No
 * item may touch what another item touches, nor the loop. Helpers that
 * wake after the work is gone do not delay the return. */
#ifndef IPSNETD_FANOUT_H
#define IPSNETD_FANOUT_H

#include <stddef.h>

struct fanout;

/* threads: helper threads besides the caller (0: fanout_run runs every
 * item on the caller). */
int fanout_new(struct fanout **out, unsigned threads);

/* Stops and joins the helpers. NULL is fine. */
void fanout_free(struct fanout *f);

/* Calls fn(arg, i) for every i in [0, n), spread over the caller and the
 * helpers; small runs stay on the caller. */
void fanout_run(struct fanout *f, size_t n, void (*fn)(void *arg, size_t i),
		void *arg);

#endif
