/* A progress bar on a terminal: see progress.h. */
#include "progress.h"

#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "util.h"

void progress_init(struct progress *p, FILE *out, const char *label,
		   const char *unit, size_t total, uint64_t now_us)
{
	memset(p, 0, sizeof(*p));
	p->out = out;
	p->label = label;
	p->unit = unit;
	p->total = total;
	p->start_us = now_us;
}

/* "0:04", "12:30", "1:02:03" */
static void duration(char *buf, size_t cap, uint64_t secs)
{
	if (secs >= 3600)
		snprintf(buf, cap, "%llu:%02llu:%02llu",
			 (unsigned long long)(secs / 3600),
			 (unsigned long long)(secs / 60 % 60),
			 (unsigned long long)(secs % 60));
	else
		snprintf(buf, cap, "%llu:%02llu",
			 (unsigned long long)(secs / 60),
			 (unsigned long long)(secs % 60));
}

void progress_format(const struct progress *p, uint64_t now_us, int width,
		     char *buf, size_t cap)
{
	char counts[96], rate[64], left[48], done[32], total[32], per[32];
	double secs = (double)(now_us - p->start_us) / 1e6;
	double per_s = secs > 0.2 ? (double)p->done / secs : 0.0;

	snprintf(counts, sizeof(counts), "%s/%s %s",
		 util_thousands(done, sizeof(done), p->done),
		 util_thousands(total, sizeof(total), p->total), p->unit);
	if (per_s > 0.0) {
		snprintf(
		    rate, sizeof(rate), "%s %s/s",
		    util_thousands(per, sizeof(per), (uint64_t)(per_s + 0.5)),
		    p->unit);
		char d[24];
		duration(
		    d, sizeof(d),
		    (uint64_t)((double)(p->total - p->done) / per_s + 0.5));
		snprintf(left, sizeof(left), "%s left", d);
	} else {
		snprintf(rate, sizeof(rate), "- %s/s", p->unit);
		snprintf(left, sizeof(left), "-:-- left");
	}
	if (p->done >= p->total) {
		char d[24];
		duration(d, sizeof(d), (uint64_t)secs);
		snprintf(left, sizeof(left), "%s taken", d);
	}

	/* label [bar] counts  rate  left */
	int fixed = (int)(strlen(p->label) + 1 + strlen(counts) + 2 +
			  strlen(rate) + 2 + strlen(left));
	int bar = width - fixed - 3; /* " [" ... "]" around it */
	if (bar > 40)
		bar = 40;
	size_t n = 0;
	if (bar >= 5) {
		int filled = p->total > 0
				 ? (int)((double)bar * (double)p->done /
					 (double)p->total)
				 : bar;
		if (filled > bar)
			filled = bar;
		char bars[48];
		memset(bars, '#', (size_t)filled);
		memset(bars + filled, '-', (size_t)(bar - filled));
		bars[bar] = '\0';
		n = (size_t)snprintf(buf, cap, "%s [%s] %s  %s  %s", p->label,
				     bars, counts, rate, left);
	} else {
		n = (size_t)snprintf(buf, cap, "%s %s  %s  %s", p->label,
				     counts, rate, left);
	}
	if (width > 0 && n > (size_t)width && (size_t)width < cap)
		buf[width] = '\0';
}

static int terminal_width(FILE *out)
{
	struct winsize ws;
	if (ioctl(fileno(out), TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
		return ws.ws_col - 1;
	return 79;
}

void progress_draw(struct progress *p, uint64_t now_us)
{
	char line[512];
	if (p->out == NULL)
		return;
	progress_format(p, now_us, terminal_width(p->out), line, sizeof(line));
	/* back to the start of the line, the text, the rest cleared */
	fprintf(p->out, "\r%s\033[K", line);
	fflush(p->out);
	p->drawn = true;
}

void progress_clear(struct progress *p)
{
	if (p->out == NULL || !p->drawn)
		return;
	fputs("\r\033[K", p->out);
	fflush(p->out);
	p->drawn = false;
}
