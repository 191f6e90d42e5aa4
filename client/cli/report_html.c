/* ipsnet report --format html: one self-contained page. The styles are
 * inline, the charts are inline SVG drawn here, the fonts are the reader's
 * own: the page fetches nothing and runs no script, so it can be mailed,
 * archived and opened offline. */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_out.h"

#define BY_REGION IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION

/* Funding types and fidelity bands keep one colour throughout. */
static const char *const fund_colour[] = {"#2f6f9f", "#e08a2c", "#7a9e3d",
					  "#b9bfc6"};
static const char *const fund_name[] = {"municipality", "UWV", "other funder",
					"no approved funding"};
static const char *const band_colour[] = {"#1b7f5a", "#5fae6e", "#e3b23c",
					  "#c8553d", "#b9bfc6"};

struct page {
	FILE *f;
	uint32_t threshold;
};

static void put(struct page *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void put(struct page *p, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vfprintf(p->f, fmt, ap);
	va_end(ap);
}

/* Text into HTML (also into SVG text and attributes). */
static void esc(struct page *p, const char *s)
{
	for (; s != NULL && *s; s++) {
		switch (*s) {
		case '&':
			fputs("&amp;", p->f);
			break;
		case '<':
			fputs("&lt;", p->f);
			break;
		case '>':
			fputs("&gt;", p->f);
			break;
		case '"':
			fputs("&quot;", p->f);
			break;
		default:
			fputc(*s, p->f);
		}
	}
}

static const char *count(struct page *p, char *buf,
			 const Ipsnet__V1__ReportCount *c)
{
	return report_count_text(buf, 32, c, p->threshold, true);
}

static const Ipsnet__V1__ReportCount *
fund_count(const Ipsnet__V1__ReportFigures *f, int k)
{
	switch (k) {
	case 0:
		return f->funded_municipality;
	case 1:
		return f->funded_uwv;
	case 2:
		return f->funded_other;
	default:
		return f->unfunded;
	}
}

static double value(const Ipsnet__V1__ReportCount *c)
{
	return c == NULL || c->suppressed ? 0.0 : (double)c->value;
}

static const char style[] =
    "<style>\n"
    ":root{--ink:#1d2733;--muted:#5d6b7a;--line:#dfe4ea;--paper:#f5f7f9;"
    "--accent:#2f6f9f}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;background:var(--paper);color:var(--ink);"
    "font:15px/1.45 system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,"
    "Arial,sans-serif}\n"
    "header{background:#1f3a52;color:#fff;padding:28px 0 24px}\n"
    ".wrap{max-width:1080px;margin:0 auto;padding:0 28px}\n"
    "header .kicker{text-transform:uppercase;letter-spacing:.12em;"
    "font-size:12px;opacity:.75}\n"
    "header h1{margin:6px 0 6px;font-size:30px;font-weight:650}\n"
    "header .meta{font-size:13px;opacity:.8}\n"
    ".tiles{display:grid;grid-template-columns:repeat(6,1fr);gap:12px;"
    "margin:-1px 0 0;padding-top:22px}\n"
    ".tile{background:#fff;border:1px solid var(--line);border-radius:10px;"
    "padding:14px 14px 12px}\n"
    ".tile .v{font-size:26px;font-weight:700;letter-spacing:-.01em}\n"
    ".tile .k{font-size:12.5px;color:var(--muted);margin-top:2px}\n"
    ".tile .s{font-size:12px;color:var(--muted);margin-top:8px;"
    "border-top:1px solid var(--line);padding-top:6px}\n"
    ".up{color:#1b7f5a}.down{color:#c8553d}.same{color:var(--muted)}\n"
    ".tile.hero{background:#2f6f9f;border-color:#2f6f9f;color:#fff}\n"
    ".tile.hero .k,.tile.hero .s{color:#dbe8f3;border-color:#5b8fb8}\n"
    "section{background:#fff;border:1px solid var(--line);border-radius:10px;"
    "padding:20px 22px;margin:16px 0}\n"
    "section h2{font-size:17px;margin:0 0 4px}\n"
    "section p.note{margin:0 0 12px;color:var(--muted);font-size:13px}\n"
    ".two{display:grid;grid-template-columns:1fr 1fr;gap:16px;margin:16px 0}\n"
    ".two section{margin:0}\n"
    "table{border-collapse:collapse;width:100%;font-size:13.5px;"
    "font-variant-numeric:tabular-nums}\n"
    "th,td{padding:6px 8px;border-bottom:1px solid var(--line);"
    "text-align:right;white-space:nowrap}\n"
    "th:first-child,td:first-child{text-align:left}\n"
    "thead th{color:var(--muted);font-weight:600;font-size:12.5px}\n"
    "tr.sub td:first-child{padding-left:22px;color:var(--muted)}\n"
    "tr.strong td{font-weight:650}\n"
    ".legend{display:flex;flex-wrap:wrap;gap:14px;font-size:12.5px;"
    "color:var(--muted);margin:6px 0 4px}\n"
    ".legend i{display:inline-block;width:11px;height:11px;border-radius:2px;"
    "margin-right:5px;vertical-align:-1px}\n"
    "ul.quality{list-style:none;padding:0;margin:0}\n"
    "ul.quality li{display:flex;gap:14px;padding:6px 0;"
    "border-bottom:1px solid var(--line);font-size:13.5px}\n"
    "ul.quality b{min-width:56px;text-align:right;"
    "font-variant-numeric:tabular-nums}\n"
    "ul.quality li.zero{color:var(--muted)}\n"
    "ul.quality li.warn b{color:#b5531f}\n"
    "details summary{cursor:pointer;color:var(--accent);font-weight:600;"
    "margin:4px 0}\n"
    "footer{color:var(--muted);font-size:12.5px;padding:6px 0 40px}\n"
    "footer dt{font-weight:650;color:var(--ink);margin-top:8px}\n"
    "footer dd{margin:0}\n"
    ".band{display:inline-block;padding:1px 8px;border-radius:9px;"
    "font-size:12px;color:#fff}\n"
    "svg text{font-family:inherit}\n"
    "@media print{body{background:#fff}section,.tile{break-inside:avoid}}\n"
    "</style>\n";

/* ---- the tiles ---------------------------------------------------------- */

static void delta(struct page *p, const Ipsnet__V1__ReportCount *now,
		  const Ipsnet__V1__ReportCount *then, const char *label)
{
	char b[32];
	put(p, "<div class=\"s\">");
	esc(p, label);
	put(p, " ");
	esc(p, count(p, b, then));
	if (now != NULL && then != NULL && !now->suppressed &&
	    !then->suppressed && then->value > 0) {
		/* In whole percent, rounded half up (away from zero) from
		 * the counts, as the shares are (report_out.h): printf's
		 * "%.0f" made +12% of 27 against 24. A change that rounds to
		 * 0% is none, not a rise (nor "-0%", a fall). */
		uint64_t a = now->value, was = then->value;
		uint64_t diff = a > was ? a - was : was - a;
		uint64_t pct = (200 * diff + was) / (2 * was);
		if (pct == 0)
			put(p, " <span class=\"same\">&plusmn;0%%</span>");
		else
			put(p, " <span class=\"%s\">%s%" PRIu64 "%%</span>",
			    a > was ? "up" : "down",
			    a > was ? "&#9650; +" : "&#9660; -", pct);
	}
	put(p, "</div>");
}

static void tile_count(struct page *p, const char *label,
		       const Ipsnet__V1__ReportCount *c,
		       const Ipsnet__V1__ReportCount *compare,
		       const char *compare_label,
		       const Ipsnet__V1__ReportCount *national)
{
	char b[32];
	put(p, "<div class=\"tile\"><div class=\"v\">");
	esc(p, count(p, b, c));
	put(p, "</div><div class=\"k\">%s</div>", label);
	if (compare != NULL)
		delta(p, c, compare, compare_label);
	else if (national != NULL) {
		put(p, "<div class=\"s\">national ");
		esc(p, count(p, b, national));
		put(p, "</div>");
	}
	put(p, "</div>\n");
}

static void tiles(struct page *p, const Ipsnet__V1__Report *r)
{
	const Ipsnet__V1__ReportPeriodResult *p0 = r->periods[0];
	const Ipsnet__V1__ReportFigures *f = p0->scope;
	const Ipsnet__V1__ReportFigures *cmp =
	    r->n_periods > 1 ? r->periods[1]->scope : NULL;
	const Ipsnet__V1__ReportFigures *nat = p0->national;
	char label[48] = "", b[32];
	if (cmp != NULL)
		snprintf(label, sizeof(label),
			 "%s:", r->periods[1]->period->label);

	put(p, "<div class=\"tiles\">\n");
	put(p, "<div class=\"tile hero\"><div class=\"v\">");
	esc(p, report_share_text(b, sizeof(b), f));
	put(p, "</div><div class=\"k\">found competitive work</div>");
	if (cmp != NULL || nat != NULL) {
		const Ipsnet__V1__ReportFigures *o = cmp != NULL ? cmp : nat;
		put(p, "<div class=\"s\">");
		esc(p, cmp != NULL ? label : "national");
		put(p, " ");
		esc(p, report_share_text(b, sizeof(b), o));
		put(p, "</div>");
	}
	put(p, "</div>\n");
	tile_count(p, "clients enrolled", f->enrolled,
		   cmp ? cmp->enrolled : NULL, label,
		   nat ? nat->enrolled : NULL);
	tile_count(p, "started IPS", f->started, cmp ? cmp->started : NULL,
		   label, nat ? nat->started : NULL);
	tile_count(p, "in competitive work", f->employed,
		   cmp ? cmp->employed : NULL, label,
		   nat ? nat->employed : NULL);
	tile_count(p, "of whom sustained", f->sustained,
		   cmp ? cmp->sustained : NULL, label,
		   nat ? nat->sustained : NULL);
	put(p,
	    "<div class=\"tile\"><div class=\"v\">%u</div><div class=\"k\">IPS "
	    "programs</div><div class=\"s\">%u employment specialist%s</div>"
	    "</div>\n",
	    f->programs, f->specialists, f->specialists == 1 ? "" : "s");
	put(p, "</div>\n");
}

/* ---- charts ------------------------------------------------------------- */

/* The top of a count axis with four gridlines: four times a whole step of
 * 1, 2 or 5 times a power of ten, so that every gridline is a whole number
 * of clients. */
static double count_axis_max(double v)
{
	double step = 1;
	while (step * 4 < v) {
		if (step * 2 * 4 >= v)
			return step * 2 * 4;
		if (step * 5 * 4 >= v)
			return step * 5 * 4;
		step *= 10;
	}
	return step * 4;
}

/* A round upper bound for an axis: 1, 2, 2.5 or 5 times a power of ten. */
static double nice_max(double v)
{
	double m = 1;
	if (v <= 0)
		return 1;
	while (m * 10 <= v)
		m *= 10;
	static const double steps[] = {1, 2, 2.5, 5, 10};
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
		if (steps[i] * m >= v)
			return steps[i] * m;
	return 10 * m;
}

static void legend(struct page *p, const char *const *names,
		   const char *const *colours, int n)
{
	put(p, "<div class=\"legend\">");
	for (int i = 0; i < n; i++)
		put(p, "<span><i style=\"background:%s\"></i>%s</span>",
		    colours[i], names[i]);
	put(p, "</div>\n");
}

/* Enrolment by funding type, one stacked column a year. */
static void chart_funding(struct page *p,
			  Ipsnet__V1__ReportFigures *const *rows, size_t n)
{
	const int W = 500, H = 270, left = 48, right = 12, top = 22,
		  bottom = 30;
	double max = 0;
	bool hidden = false;
	for (size_t i = 0; i < n; i++) {
		double sum = 0;
		for (int k = 0; k < 4; k++) {
			sum += value(fund_count(rows[i], k));
			hidden |= fund_count(rows[i], k)->suppressed;
		}
		if (sum > max)
			max = sum;
	}
	max = count_axis_max(max);
	double plot_h = H - top - bottom;
	double slot = (double)(W - left - right) / (double)(n > 0 ? n : 1);
	double bar = slot * 0.58;

	put(p,
	    "<section id=\"funding\"><h2>Enrolment by funding type</h2>"
	    "<p class=\"note\">Clients enrolled each year, by the funder of "
	    "the trajectory's approved funding request.%s</p>\n",
	    hidden ? " Segments below the small-number threshold are left "
		     "out."
		   : "");
	legend(p, fund_name, fund_colour, 4);
	put(p,
	    "<svg viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
	    "aria-label=\"enrolment by funding type per year\">\n",
	    W, H);
	for (int t = 0; t <= 4; t++) {
		double y = top + plot_h - plot_h * t / 4.0;
		put(p,
		    "<line x1=\"%d\" x2=\"%d\" y1=\"%.1f\" y2=\"%.1f\" "
		    "stroke=\"#e6eaee\"/>"
		    "<text x=\"%d\" y=\"%.1f\" font-size=\"11\" "
		    "fill=\"#5d6b7a\" "
		    "text-anchor=\"end\">%.0f</text>\n",
		    left, W - right, y, y, left - 6, y + 4, max * t / 4.0);
	}
	for (size_t i = 0; i < n; i++) {
		double x = left + slot * (double)i + (slot - bar) / 2;
		double y = top + plot_h, sum = 0;
		for (int k = 0; k < 4; k++) {
			double v = value(fund_count(rows[i], k));
			double h = plot_h * v / max;
			y -= h;
			sum += v;
			if (h > 0)
				put(p,
				    "<rect x=\"%.1f\" y=\"%.1f\" "
				    "width=\"%.1f\" "
				    "height=\"%.1f\" fill=\"%s\"><title>%s: "
				    "%.0f</title></rect>\n",
				    x, y, bar, h, fund_colour[k], fund_name[k],
				    v);
		}
		char b[32];
		put(p,
		    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"12\" "
		    "font-weight=\"600\" text-anchor=\"middle\" "
		    "fill=\"#1d2733\">",
		    x + bar / 2, y - 6);
		esc(p, count(p, b, rows[i]->enrolled));
		put(p,
		    "</text><text x=\"%.1f\" y=\"%d\" font-size=\"12\" "
		    "text-anchor=\"middle\" fill=\"#5d6b7a\">",
		    x + bar / 2, H - 10);
		esc(p, rows[i]->key);
		put(p, "</text>\n");
		(void)sum;
	}
	put(p, "</svg></section>\n");
}

/* The fidelity bands, one bar each. */
static void chart_bands(struct page *p, const Ipsnet__V1__Report *r)
{
	const int W = 500, row = 34, left = 110, right = 50, top = 8;
	uint32_t max = 0, total = 0;
	for (size_t i = 0; i < r->n_bands; i++) {
		if (r->bands[i]->programs > max)
			max = r->bands[i]->programs;
		total += r->bands[i]->programs;
	}
	int H = top + row * (int)r->n_bands + 6;
	put(p,
	    "<section id=\"fidelity\"><h2>Fidelity of the programs</h2>"
	    "<p class=\"note\">The latest fidelity review of each of the "
	    "%u program%s up to ",
	    total, total == 1 ? "" : "s");
	esc(p, r->periods[0]->period->to);
	put(p, ", by band of the 25-item IPS fidelity scale.</p>\n");
	put(p,
	    "<svg viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
	    "aria-label=\"fidelity band distribution\">\n",
	    W, H);
	static const char *const ranges[] = {"115-125", "100-114", "74-99",
					     "25-73", ""};
	for (size_t i = 0; i < r->n_bands && i < 5; i++) {
		double y = top + row * (double)i;
		double w = max > 0 ? (double)(W - left - right) *
					 r->bands[i]->programs / max
				   : 0;
		put(p,
		    "<text x=\"%d\" y=\"%.1f\" font-size=\"13\" "
		    "text-anchor=\"end\" fill=\"#1d2733\">",
		    left - 10, y + 15);
		esc(p, r->bands[i]->band);
		put(p,
		    "</text><text x=\"%d\" y=\"%.1f\" font-size=\"10.5\" "
		    "text-anchor=\"end\" fill=\"#5d6b7a\">%s</text>",
		    left - 10, y + 27, ranges[i]);
		put(p,
		    "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"22\" "
		    "rx=\"3\" fill=\"%s\"/>"
		    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"13\" "
		    "font-weight=\"600\" fill=\"#1d2733\">%u</text>\n",
		    left, y + 2, w < 2 && r->bands[i]->programs > 0 ? 2 : w,
		    band_colour[i], left + w + 8, y + 18,
		    r->bands[i]->programs);
	}
	put(p, "</svg></section>\n");
}

static int cmp_share(const void *a, const void *b)
{
	const Ipsnet__V1__ReportFigures *x =
	    *(Ipsnet__V1__ReportFigures *const *)a;
	const Ipsnet__V1__ReportFigures *y =
	    *(Ipsnet__V1__ReportFigures *const *)b;
	bool xs = x->employed_share->suppressed || x->employed_share->undefined;
	bool ys = y->employed_share->suppressed || y->employed_share->undefined;
	if (xs != ys)
		return xs ? 1 : -1;
	if (!xs && x->employed_share->percent != y->employed_share->percent)
		return x->employed_share->percent < y->employed_share->percent
			   ? 1
			   : -1;
	/* Keys are region numbers or program ids: numbers in their order
	 * (region 2 before region 10), the rest by name. */
	char *xe, *ye;
	long xn = strtol(x->key, &xe, 10), yn = strtol(y->key, &ye, 10);
	if (*x->key != '\0' && *xe == '\0' && *y->key != '\0' && *ye == '\0' &&
	    xn != yn)
		return xn < yn ? -1 : 1;
	return strcmp(x->key, y->key);
}

/* The share employed in each region, highest first, the nation as a line. */
static void chart_regions(struct page *p,
			  const Ipsnet__V1__ReportPeriodResult *pr,
			  const Ipsnet__V1__ReportFigures *nation)
{
	const Ipsnet__V1__ReportGroup *g = NULL;
	for (size_t i = 0; i < pr->n_groups; i++)
		if (pr->groups[i]->by == BY_REGION)
			g = pr->groups[i];
	if (g == NULL || g->n_rows == 0)
		return;
	Ipsnet__V1__ReportFigures *rows[64];
	size_t n = g->n_rows < 64 ? g->n_rows : 64;
	memcpy(rows, g->rows, n * sizeof(rows[0]));
	qsort(rows, n, sizeof(rows[0]), cmp_share);

	double max = 0;
	for (size_t i = 0; i < n; i++)
		if (!rows[i]->employed_share->suppressed &&
		    rows[i]->employed_share->percent > max)
			max = rows[i]->employed_share->percent;
	const Ipsnet__V1__ReportShare *ns = nation->employed_share;
	bool nation_shown = !ns->suppressed && !ns->undefined;
	if (nation_shown && ns->percent > max)
		max = ns->percent;
	max = max <= 0 ? 10 : nice_max(max);

	const int W = 1000, row = 19, left = 92, right = 150, top = 26;
	int bottom = top + row * (int)n + 4;
	int H = bottom + 20;
	double plot_w = W - left - right;
	put(p, "<section id=\"regions\"><h2>Share in competitive work, by "
	       "region</h2>"
	       "<p class=\"note\">Clients in competitive work as a share of "
	       "clients enrolled in ");
	esc(p, pr->period->label);
	put(p, ", per labour-market region of the program, highest first. ");
	char nd[32] = "";
	if (nation_shown)
		put(p, "The dashed line is the national %s%%. ",
		    report_share_digits(nd, sizeof(nd), nation, 1));
	if (p->threshold > 0)
		put(p,
		    "Regions with fewer than %u clients (or where a count is "
		    "hidden) show no bar.</p>\n",
		    p->threshold);
	else
		put(p, "No count is hidden: the server's small_count_threshold "
		       "is 0, which turns suppression off (for tests "
		       "only).</p>\n");
	put(p,
	    "<svg viewBox=\"0 0 %d %d\" width=\"100%%\" role=\"img\" "
	    "aria-label=\"share employed per region\">\n",
	    W, H);
	for (int t = 0; t <= 5; t++) {
		double x = left + plot_w * t / 5.0;
		put(p,
		    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" "
		    "stroke=\"#eef1f4\"/><text x=\"%.1f\" y=\"%d\" "
		    "font-size=\"11\" fill=\"#5d6b7a\" "
		    "text-anchor=\"middle\">%.0f%%</text>\n",
		    x, x, top - 4, bottom, x, top - 10, max * t / 5.0);
	}
	/* The nation first, so that bars and labels stand in front of it. */
	if (nation_shown) {
		double x = left + plot_w * ns->percent / max;
		put(p,
		    "<line x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" y2=\"%d\" "
		    "stroke=\"#1d2733\" stroke-width=\"1.2\" "
		    "stroke-dasharray=\"4 3\"/><text x=\"%.1f\" y=\"%d\" "
		    "font-size=\"11.5\" font-weight=\"600\" "
		    "text-anchor=\"middle\" fill=\"#1d2733\">national "
		    "%s%%</text>\n",
		    x, x, top - 4, bottom, x, bottom + 15, nd);
	}
	for (size_t i = 0; i < n; i++) {
		const Ipsnet__V1__ReportFigures *f = rows[i];
		double y = top + row * (double)i;
		char b[32];
		put(p,
		    "<text x=\"%d\" y=\"%.1f\" font-size=\"12\" "
		    "text-anchor=\"end\" fill=\"#1d2733\">",
		    left - 8, y + 13);
		esc(p, f->label);
		put(p, "</text>");
		const Ipsnet__V1__ReportShare *s = f->employed_share;
		if (s->suppressed || s->undefined) {
			put(p,
			    "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" "
			    "height=\"13\" rx=\"2\" fill=\"#f0f2f4\"/>"
			    "<text x=\"%d\" y=\"%.1f\" font-size=\"11.5\" "
			    "fill=\"#8a96a3\">",
			    left, y + 3, plot_w, left + 6, y + 13);
			put(p, "%s</text>\n",
			    s->undefined ? "nobody enrolled"
					 : "not shown: small numbers");
			continue;
		}
		double w = plot_w * s->percent / max;
		bool above = nation_shown && s->percent >= ns->percent;
		put(p,
		    "<rect x=\"%d\" y=\"%.1f\" width=\"%.1f\" height=\"13\" "
		    "rx=\"2\" fill=\"%s\"><title>%s%%</title></rect>"
		    "<text x=\"%.1f\" y=\"%.1f\" font-size=\"11.5\" "
		    "fill=\"#1d2733\" paint-order=\"stroke\" stroke=\"#fff\" "
		    "stroke-width=\"3\">%s%% <tspan fill=\"#8a96a3\">",
		    left, y + 3, w, above ? "#2f6f9f" : "#8fb3d1",
		    report_share_digits(b, sizeof(b), f, 1), left + w + 6,
		    y + 13, b);
		esc(p, count(p, b, f->employed));
		put(p, " of ");
		esc(p, count(p, b, f->enrolled));
		put(p, "</tspan></text>\n");
	}
	put(p, "</svg></section>\n");
}

/* ---- tables ------------------------------------------------------------- */

static void factsheet(struct page *p, const char *title, const char *note,
		      Ipsnet__V1__ReportFigures *const *rows, size_t n)
{
	if (n == 0)
		return;
	put(p,
	    "<section><h2>%s</h2><p class=\"note\">%s</p><table><thead>"
	    "<tr><th></th>",
	    title, note);
	for (size_t i = 0; i < n; i++) {
		put(p, "<th>");
		esc(p, rows[i]->key);
		put(p, "</th>");
	}
	put(p, "</tr></thead><tbody>\n");
	static const struct {
		const char *label, *cls;
		int what;
	} lines[] = {
	    {"Clients enrolled", "strong", 0},
	    {"started IPS", "sub", 1},
	    {"In competitive work", "strong", 2},
	    {"share of enrolled", "sub", 8},
	    {"sustained (lasting)", "sub", 3},
	    {"Enrolled by funding type", "", -1},
	    {"municipality", "sub", 4},
	    {"UWV", "sub", 5},
	    {"other funder", "sub", 6},
	    {"no approved funding", "sub", 7},
	    {"IPS programs", "", 9},
	    {"Employment specialists", "", 10},
	};
	for (size_t l = 0; l < sizeof(lines) / sizeof(lines[0]); l++) {
		put(p, "<tr class=\"%s\"><td>%s</td>", lines[l].cls,
		    lines[l].label);
		for (size_t i = 0; i < n && lines[l].what < 0; i++)
			put(p, "<td></td>");
		for (size_t i = 0; i < n && lines[l].what >= 0; i++) {
			const Ipsnet__V1__ReportFigures *f = rows[i];
			char b[32];
			const Ipsnet__V1__ReportCount *c[] = {
			    f->enrolled,
			    f->started,
			    f->employed,
			    f->sustained,
			    f->funded_municipality,
			    f->funded_uwv,
			    f->funded_other,
			    f->unfunded};
			int w = lines[l].what;
			if (w < 8)
				count(p, b, c[w]);
			else if (w == 8)
				report_share_text(b, sizeof(b), f);
			else
				snprintf(b, sizeof(b), "%u",
					 w == 9 ? f->programs : f->specialists);
			put(p, "<td>");
			esc(p, b);
			put(p, "</td>");
		}
		put(p, "</tr>\n");
	}
	put(p, "</tbody></table></section>\n");
}

static void group_table(struct page *p, const Ipsnet__V1__ReportGroup *g,
			const char *period)
{
	bool funder = g->by == IPSNET__V1__REPORT_GROUPING__REPORT_BY_FUNDER;
	put(p, "<details><summary>By %s, ", report_grouping_name(g->by));
	esc(p, period);
	put(p,
	    " (%zu row%s)</summary><table><thead>"
	    "<tr><th>%s</th><th>enrolled</th><th>started</th>"
	    "<th>employed</th><th>share</th><th>sustained</th>"
	    "<th>municipality</th><th>UWV</th><th>other</th>"
	    "<th>unfunded</th>%s</tr></thead><tbody>\n",
	    g->n_rows, g->n_rows == 1 ? "" : "s", report_grouping_name(g->by),
	    funder ? "" : "<th>programs</th><th>specialists</th>");
	for (size_t i = 0; i < g->n_rows; i++) {
		const Ipsnet__V1__ReportFigures *f = g->rows[i];
		const Ipsnet__V1__ReportCount *c[] = {
		    f->enrolled,   f->started,	    f->employed,
		    NULL,	   f->sustained,    f->funded_municipality,
		    f->funded_uwv, f->funded_other, f->unfunded};
		char b[32];
		put(p, "<tr><td>");
		esc(p, f->label);
		put(p, "</td>");
		for (int k = 0; k < 9; k++) {
			if (k == 3)
				report_share_text(b, sizeof(b), f);
			else
				count(p, b, c[k]);
			put(p, "<td>");
			esc(p, b);
			put(p, "</td>");
		}
		if (!funder)
			put(p, "<td>%u</td><td>%u</td>", f->programs,
			    f->specialists);
		put(p, "</tr>\n");
	}
	put(p, "</tbody></table></details>\n");
}

static void quality(struct page *p, const Ipsnet__V1__ReportPeriodResult *pr)
{
	const Ipsnet__V1__ReportQuality *q = pr->quality;
	if (q == NULL)
		return;
	const struct {
		const Ipsnet__V1__ReportCount *c;
		const char *text;
	} items[] = {
	    {q->trajectories_without_start,
	     "trajectories that started (by their state) but have no start "
	     "date: they are in no figure"},
	    {q->transitions_out_of_order,
	     "trajectories with a transition dated before the one it follows"},
	    {q->jobs_not_competitive,
	     "jobs of enrolled clients, in the period, not marked competitive: "
	     "they do not count as employment"},
	    {q->jobs_before_trajectory,
	     "competitive jobs that count but began before the trajectory "
	     "started"},
	    {q->jobs_end_before_start,
	     "jobs that end before they begin: in no figure"},
	    {q->funding_without_decision_date,
	     "funding decisions without a decision date"},
	    {q->funding_pending,
	     "enrolled trajectories with a funding request still open and none "
	     "approved: counted as no approved funding"},
	    {q->several_approved,
	     "enrolled trajectories with more than one approval: the latest "
	     "counts"},
	    {q->clients_in_several_programs,
	     "clients enrolled in more than one program: counted once in each"},
	};
	put(p, "<section class=\"quality\"><h2>Data quality, ");
	esc(p, pr->period->label);
	put(p, "</h2><p class=\"note\">What in the data could bend a figure, "
	       "counted so that nobody drops out of one unseen.</p><ul "
	       "class=\"quality\">\n");
	for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++) {
		char b[32];
		bool zero = items[i].c != NULL && !items[i].c->suppressed &&
			    items[i].c->value == 0;
		put(p, "<li class=\"%s\"><b>", zero ? "zero" : "warn");
		esc(p, count(p, b, items[i].c));
		put(p, "</b><span>%s</span></li>\n", items[i].text);
	}
	put(p, "</ul></section>\n");
}

static void fidelity_table(struct page *p, const Ipsnet__V1__Report *r)
{
	if (r->n_fidelity == 0)
		return;
	put(p,
	    "<details><summary>Fidelity per program (%zu)</summary><table>"
	    "<thead><tr><th>program</th><th>region</th><th>reviewed</th>"
	    "<th>total</th><th>band</th><th>by</th></tr></thead><tbody>\n",
	    r->n_fidelity);
	for (size_t i = 0; i < r->n_fidelity; i++) {
		const Ipsnet__V1__FidelityScore *s = r->fidelity[i];
		bool reviewed = s->review_date != NULL && s->review_date[0];
		int b = !reviewed	  ? 4
			: s->total >= 115 ? 0
			: s->total >= 100 ? 1
			: s->total >= 74  ? 2
					  : 3;
		put(p, "<tr><td>");
		esc(p, s->program_name);
		put(p, "</td><td>%u</td><td>", s->region);
		esc(p, reviewed ? s->review_date : "-");
		put(p, "</td><td>");
		if (reviewed)
			put(p, "%u", s->total);
		else
			put(p, "-");
		put(p, "</td><td><span class=\"band\" style=\"background:%s\">",
		    band_colour[b]);
		esc(p, reviewed ? s->band : "not reviewed");
		put(p, "</span></td><td>%s</td></tr>\n",
		    !reviewed	     ? ""
		    : s->independent ? "independent"
				     : "self-assessment");
	}
	put(p, "</tbody></table></details>\n");
}

static void footer(struct page *p, const Ipsnet__V1__Report *r)
{
	uint32_t months = r->definitions->sustained_months;
	put(p,
	    "<footer><dl>"
	    "<dt>Enrolled</dt><dd>A trajectory ACTIVE or ON_HOLD at any "
	    "moment of the period (from its start to its close, both days "
	    "included).</dd>"
	    "<dt>Started</dt><dd>The trajectory became ACTIVE in the "
	    "period.</dd>"
	    "<dt>In competitive work</dt><dd>Enrolled, with a competitive "
	    "job that overlaps the period.</dd>"
	    "<dt>Sustained</dt><dd>In competitive work in a job that had "
	    "lasted, or has lasted, at least %u months by the end of the "
	    "period.</dd>"
	    "<dt>Funding type</dt><dd>The funder of the trajectory's "
	    "approved funding request (the latest, if several).</dd>"
	    "<dt>Counting</dt><dd>A client counts once in each cell, "
	    "however many trajectories or jobs she has.",
	    months);
	if (p->threshold > 0)
		put(p,
		    " Counts below %u are shown as &lt;%u in every region, "
		    "program and funder cell%s; where a hidden count could "
		    "be worked out from a total, one more is hidden, shown "
		    "as x, and so is a share made of a hidden count.",
		    p->threshold, p->threshold,
		    r->national_scope ? "" : " and throughout this report");
	put(p, "</dd></dl><p>Made by ipsnet from journal entry %llu at ",
	    (unsigned long long)r->journal_seq);
	esc(p, r->generated_at);
	put(p, ". The definitions in full: <code>ipsnet report --explain"
	       "</code>.</p></footer>\n");
}

int report_html_write(FILE *out, const Ipsnet__V1__Report *r)
{
	struct page pg = {out, r->definitions->small_count_threshold};
	struct page *p = &pg;
	const Ipsnet__V1__ReportPeriodResult *p0 = r->periods[0];
	const Ipsnet__V1__ReportFigures *nation =
	    p0->national != NULL ? p0->national : p0->scope;

	put(p, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta "
	       "charset=\"utf-8\">\n<meta name=\"viewport\" "
	       "content=\"width=device-width,initial-scale=1\">\n<title>IPS "
	       "monitor ");
	esc(p, p0->period->label);
	put(p, " - ");
	esc(p, r->scope);
	put(p, "</title>\n%s</head><body>\n", style);

	put(p, "<header><div class=\"wrap\"><div class=\"kicker\">IPS monitor"
	       "</div><h1>");
	esc(p, p0->period->label);
	put(p, ": ");
	esc(p, r->scope);
	put(p, "</h1><div class=\"meta\">");
	esc(p, p0->period->from);
	put(p, " to ");
	esc(p, p0->period->to);
	for (size_t i = 1; i < r->n_periods; i++) {
		put(p, i == 1 ? " &middot; compared with " : ", ");
		esc(p, r->periods[i]->period->label);
	}
	put(p, " &middot; sustained = %u months",
	    r->definitions->sustained_months);
	char day[16];
	if (report_counted_to(day, sizeof(day), r) != NULL) {
		put(p, " &middot; not over yet: jobs counted up to ");
		esc(p, day);
	}
	if (p->threshold > 0)
		put(p,
		    " &middot; &lt;%u = fewer than %u clients &middot; x = "
		    "hidden "
		    "so that such a count cannot be worked out",
		    p->threshold, p->threshold);
	put(p, "</div></div></header>\n<div class=\"wrap\">\n");

	tiles(p, r);

	Ipsnet__V1__ReportFigures *const *years =
	    r->n_national_history > 0 ? r->national_history : r->history;
	size_t n_years =
	    r->n_national_history > 0 ? r->n_national_history : r->n_history;
	put(p, "<div class=\"two\">\n");
	if (r->n_history > 0)
		chart_funding(p, r->history, r->n_history);
	chart_bands(p, r);
	put(p, "</div>\n");
	chart_regions(p, p0, nation);
	factsheet(
	    p, "The national factsheet, year by year",
	    "The monitor's key figures for each calendar year: each a "
	    "year's own count, so a client enrolled for three years is in "
	    "three columns.",
	    years, n_years);
	if (r->n_national_history > 0)
		factsheet(p, "This report's scope, year by year",
			  "The same figures for the scope of this report.",
			  r->history, r->n_history);

	put(p, "<section id=\"breakdowns\"><h2>Breakdowns</h2><p "
	       "class=\"note\">The figures of "
	       "every cell, for each period.</p>\n");
	for (size_t i = 0; i < r->n_periods; i++)
		for (size_t g = 0; g < r->periods[i]->n_groups; g++)
			group_table(p, r->periods[i]->groups[g],
				    r->periods[i]->period->label);
	fidelity_table(p, r);
	put(p, "</section>\n");
	for (size_t i = 0; i < r->n_periods; i++)
		quality(p, r->periods[i]);
	footer(p, r);
	put(p, "</div></body></html>\n");
	return ferror(out) ? -1 : 0;
}
