/* pthread_setname_np: the delivery threads' name, as top -H shows it. */
#define _GNU_SOURCE

#include "fanout.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "alloc.h"
#include "ipsnet_errors.h"
#include "log.h"

/* Items taken at a time: large enough that the shared counter is touched
 * rarely, small enough to balance a run of a thousand. */
#define CHUNK 16
/* Below this many items the hand-off costs more than it saves. */
#define MIN_PARALLEL (4 * CHUNK)

struct fanout {
	pthread_mutex_t mu;
	pthread_cond_t go;   /* a new run is open, or stopping */
	pthread_cond_t done; /* the last helper in the run has finished */
	pthread_t *threads;
	unsigned n_threads;
	/* Under mu. */
	uint64_t generation; /* runs opened so far */
	bool open;           /* the current run still takes helpers */
	unsigned busy;       /* helpers inside the current run */
	bool stopping;
	/* The run: written under mu before it opens, read-only during it. */
	void (*fn)(void *arg, size_t i);
	void *arg;
	size_t n;
	atomic_size_t next; /* the next index to take */
};

static void work(struct fanout *f)
{
	for (;;) {
		size_t i = atomic_fetch_add_explicit(&f->next, CHUNK,
						     memory_order_relaxed);
		if (i >= f->n)
			return;
		size_t end = f->n - i < CHUNK ? f->n : i + CHUNK;
		for (; i < end; i++)
			f->fn(f->arg, i);
	}
}

static void *helper(void *arg)
{
	struct fanout *f = arg;
	uint64_t seen = 0;
	pthread_setname_np(pthread_self(), "ipsnetd-fanout");
	pthread_mutex_lock(&f->mu);
	for (;;) {
		while (!f->stopping && f->generation == seen)
			pthread_cond_wait(&f->go, &f->mu);
		if (f->stopping)
			break;
		seen = f->generation;
		if (!f->open)
			continue; /* woke too late: the caller did it all */
		f->busy++;
		pthread_mutex_unlock(&f->mu);
		work(f);
		pthread_mutex_lock(&f->mu);
		if (--f->busy == 0)
			pthread_cond_signal(&f->done);
	}
	pthread_mutex_unlock(&f->mu);
	return NULL;
}

int fanout_new(struct fanout **out, unsigned threads)
{
	struct fanout *f = ipsnet_calloc(1, sizeof(*f));
	if (f == NULL)
		return IPSNET_ENOMEM;
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->go, NULL);
	pthread_cond_init(&f->done, NULL);
	atomic_init(&f->next, 0);
	if (threads > 0) {
		f->threads = ipsnet_calloc(threads, sizeof(*f->threads));
		if (f->threads == NULL) {
			fanout_free(f);
			return IPSNET_ENOMEM;
		}
	}
	for (unsigned t = 0; t < threads; t++) {
		if (pthread_create(&f->threads[t], NULL, helper, f) != 0) {
			log_warn("cannot start a delivery thread",
				 "started=%u wanted=%u", t, threads);
			break;
		}
		f->n_threads++;
	}
	*out = f;
	return 0;
}

void fanout_free(struct fanout *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->stopping = true;
	pthread_cond_broadcast(&f->go);
	pthread_mutex_unlock(&f->mu);
	for (unsigned t = 0; t < f->n_threads; t++)
		pthread_join(f->threads[t], NULL);
	ipsnet_free(f->threads);
	pthread_cond_destroy(&f->done);
	pthread_cond_destroy(&f->go);
	pthread_mutex_destroy(&f->mu);
	ipsnet_free(f);
}

void fanout_run(struct fanout *f, size_t n, void (*fn)(void *arg, size_t i),
		void *arg)
{
	if (f->n_threads == 0 || n < MIN_PARALLEL) {
		for (size_t i = 0; i < n; i++)
			fn(arg, i);
		return;
	}
	pthread_mutex_lock(&f->mu);
	f->fn = fn;
	f->arg = arg;
	f->n = n;
	atomic_store_explicit(&f->next, 0, memory_order_relaxed);
	f->open = true;
	f->generation++;
	pthread_cond_broadcast(&f->go);
	pthread_mutex_unlock(&f->mu);

	work(f);

	pthread_mutex_lock(&f->mu);
	f->open = false;
	while (f->busy > 0)
		pthread_cond_wait(&f->done, &f->mu);
	pthread_mutex_unlock(&f->mu);
}
