/* A progress bar on a terminal: what is done of the total, the rate and
 * the time left, on one line of stderr that is redrawn in place. The
 * caller redraws it from a timer (about 10 times a second); on anything
 * that is not a terminal it stays silent. */
#ifndef IPSNET_PROGRESS_H
#define IPSNET_PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct progress {
	FILE *out;	   /* NULL: silent */
	const char *label; /* "clients.csv" */
	const char *unit;  /* "rows" */
	size_t total;
	size_t done;
	uint64_t start_us; /* monotonic */
	bool drawn;	   /* a line is on the screen */
};

/* Starts counting total things now. out is stderr when it is a terminal
 * (isatty), else NULL. */
void progress_init(struct progress *p, FILE *out, const char *label,
		   const char *unit, size_t total, uint64_t now_us);

/* Formats the line for the state at now_us into buf, at most width
 * characters: "label [#####-----] 4,500/10,000 rows  1,520 rows/s  0:04
 * left" (the counts grouped by thousands).
 * The bar shrinks (and then goes) to fit. */
void progress_format(const struct progress *p, uint64_t now_us, int width,
		     char *buf, size_t cap);

/* Redraws the line in place (no-op when silent). */
void progress_draw(struct progress *p, uint64_t now_us);

/* Takes the line off the screen, so that what follows starts clean. */
void progress_clear(struct progress *p);

#endif
