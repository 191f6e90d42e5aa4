/* The synthetic IPS network and its truth (report_gen.h). */
#include "report_gen.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define N_REGIONS 35
#define N_MUNICIPALITIES 8
#define MAX_STEPS 12
#define MAX_FUNDING 3
/* Nothing is dated after this day (the daemon refuses future dates). */
#define LAST_DAY "2025-06-30"

enum {
	S_REFERRED = 1,
	S_ACCEPTED,
	S_DECLINED,
	S_ACTIVE,
	S_ON_HOLD,
	S_CLOSED,
	S_CANCELLED
};
enum { F_REQUESTED = 1, F_APPROVED, F_REJECTED, F_WITHDRAWN };
/* Benefits as the wire numbers them. */
enum { B_NONE = 1, B_PARTICIPATIEWET, B_WIA, B_WAJONG, B_WW, B_OTHER };

#define FUNDER_OTHER (-1)
#define UNFUNDED (-2)

struct g_step {
	uint8_t status;
	char on[11];
};

struct g_funding {
	int16_t funder; /* org number, or FUNDER_OTHER */
	uint8_t outcome;
	bool after_change; /* asked after the client's benefit changed */
	char requested[11], decided[11];
};

struct g_traj {
	uint32_t client;
	uint16_t program;
	uint8_t n_steps, n_funding;
	struct g_step steps[MAX_STEPS];
	struct g_funding funding[MAX_FUNDING];
	char start[11], close[11]; /* "" when none */
	int16_t funder;		   /* the latest approval, or UNFUNDED */
	uint8_t n_approved;
	bool pending;
};

struct g_job {
	uint32_t client;
	int32_t traj; /* or -1 */
	char start[11], end[11];
	bool competitive;
};

struct g_client {
	uint16_t ggz;			/* org number */
	uint8_t benefit, benefit_after; /* after: 0 when it never changes */
	int16_t municipality; /* org number for PARTICIPATIEWET, or -1 */
	char cbs[8], bsn[10], birth[11];
	uint32_t traj0, ntraj, job0, njob;
};

struct g_review {
	uint16_t program;
	char date[11];
	uint8_t scores[25];
	uint32_t total;
	bool independent;
};

struct g_program {
	char id[32], name[64];
	uint16_t owner; /* org number */
	int region;
	uint32_t specialists;
};

struct gen {
	struct gen_options o;
	struct gen_org *orgs;
	size_t n_orgs;
	size_t first_ggz, first_municipality, uwv, network;
	struct g_program *programs;
	struct g_client *clients;
	struct g_traj *trajs;
	size_t n_trajs, trajs_cap;
	struct g_job *jobs;
	size_t n_jobs, jobs_cap;
	struct g_review *reviews;
	size_t n_reviews, reviews_cap;
	uint64_t rng;
};

/* ---- randomness (splitmix64) --------------------------------------------- */

static uint64_t rnd(struct gen *g)
{
	uint64_t z = (g->rng += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static double unif(struct gen *g)
{
	return (double)(rnd(g) >> 11) / 9007199254740992.0;
}

/* lo..hi inclusive */
static int range(struct gen *g, int lo, int hi)
{
	return lo + (int)(rnd(g) % (uint64_t)(hi - lo + 1));
}

/* ---- dates for generating: day numbers ----------------------------------- */

static int32_t day_of(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void text_of(int32_t day, char out[11])
{
	int32_t z = day + 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	int doe = z - era * 146097;
	int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int mp = (5 * doy + 2) / 153;
	int d = doy - (153 * mp + 2) / 5 + 1;
	int m = mp < 10 ? mp + 3 : mp - 9;
	int y = yoe + era * 400 + (m <= 2);
	snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}

static int32_t day_of_text(const char *s)
{
	int y, m, d;
	sscanf(s, "%d-%d-%d", &y, &m, &d);
	return day_of(y, m, d);
}

/* Now and then a date is moved (forward, so that the order of a
 * trajectory's steps holds) to the edge of a year, where the definitions are
 * easiest to get wrong: to 31 December, or to 1 January after it. */
static int32_t edgy(struct gen *g, int32_t day)
{
	double u = unif(g);
	char t[11];
	int y;
	if (u >= 0.06)
		return day;
	text_of(day, t);
	y = atoi(t);
	return u < 0.03 ? day_of(y, 12, 31) : day_of(y + 1, 1, 1);
}

/* ---- the truth's own date arithmetic: on strings ------------------------- */

static int days_in(int y, int m)
{
	static const int n[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	return m == 2 && leap ? 29 : n[m - 1];
}

/* The last day a job starting on start must reach to have lasted months:
 * the same day-of-month months later (clamped to that month), less a day. */
static void lasted_by(const char *start, uint32_t months, char out[11])
{
	int y, m, d;
	sscanf(start, "%d-%d-%d", &y, &m, &d);
	m += (int)months;
	while (m > 12) {
		m -= 12;
		y++;
	}
	if (d > days_in(y, m))
		d = days_in(y, m);
	if (--d == 0) {
		if (--m == 0) {
			m = 12;
			y--;
		}
		d = days_in(y, m);
	}
	snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
}

/* ---- the network ----------------------------------------------------------
 */

struct gen_options gen_default_options(void)
{
	struct gen_options o = {
	    .seed = 1,
	    .clients = 3000,
	    .programs = 48,
	    .ggz = 6,
	    .first_year = 2021,
	    .last_year = 2024,
	    .sustained_months = 6,
	    .daemon = false,
	};
	return o;
}

static const struct {
	const char *id, *name, *cbs;
	int region;
} municipalities[N_MUNICIPALITIES] = {
    {"gm0363", "Gemeente Amsterdam", "GM0363", 18},
    {"gm0599", "Gemeente Rotterdam", "GM0599", 27},
    {"gm0518", "Gemeente 's-Gravenhage", "GM0518", 24},
    {"gm0344", "Gemeente Utrecht", "GM0344", 19},
    {"gm0014", "Gemeente Groningen", "GM0014", 1},
    {"gm0772", "Gemeente Eindhoven", "GM0772", 30},
    {"gm1900", "Gemeente Súdwest-Fryslân", "GM1900", 3},
    {"gm0193", "Gemeente Zwolle", "GM0193", 9},
};

static int add_org(struct gen *g, const char *id, enum org_kind kind,
		   const char *name, int region, const char *cbs)
{
	struct gen_org *o = &g->orgs[g->n_orgs];
	memset(o, 0, sizeof(*o));
	snprintf(o->id, sizeof(o->id), "%s", id);
	o->kind = kind;
	snprintf(o->name, sizeof(o->name), "%s", name);
	o->region = region;
	snprintf(o->cbs, sizeof(o->cbs), "%s", cbs);
	return (int)g->n_orgs++;
}

static void make_orgs(struct gen *g)
{
	g->network = (size_t)add_org(g, "network", ORG_KIND_NETWORK,
				     "IPS netwerk beheer", 1, "");
	g->first_ggz = g->n_orgs;
	for (uint32_t i = 0; i < g->o.ggz; i++) {
		char id[32], name[64];
		snprintf(id, sizeof(id), "ggz-%02u", i + 1);
		snprintf(name, sizeof(name), "GGZ instelling %u", i + 1);
		add_org(g, id, ORG_KIND_GGZ, name, (int)(i * 6 % N_REGIONS) + 1,
			"");
	}
	g->first_municipality = g->n_orgs;
	for (int i = 0; i < N_MUNICIPALITIES; i++)
		add_org(g, municipalities[i].id, ORG_KIND_MUNICIPALITY,
			municipalities[i].name, municipalities[i].region,
			municipalities[i].cbs);
	g->uwv = (size_t)add_org(g, "uwv", ORG_KIND_UWV, "UWV", 1, "");
}

static void make_programs(struct gen *g)
{
	for (uint32_t i = 0; i < g->o.programs; i++) {
		struct g_program *p = &g->programs[i];
		/* Every region has a program; the rest go to a few regions. */
		p->region = i < N_REGIONS ? (int)i + 1 : range(g, 1, 12);
		p->owner = (uint16_t)(g->first_ggz + i % g->o.ggz);
		snprintf(p->id, sizeof(p->id), "ips-r%02d-%02u", p->region,
			 i + 1);
		snprintf(p->name, sizeof(p->name), "IPS team %u (region %d)",
			 i + 1, p->region);
		p->specialists = (uint32_t)range(g, 1, 9);
	}
}

static bool is_open(const struct g_traj *t)
{
	int s = t->steps[t->n_steps - 1].status;
	return s != S_CLOSED && s != S_DECLINED && s != S_CANCELLED;
}

/* A program of the client's GGZ; other than avoid, when it runs more. */
static uint16_t pick_program(struct gen *g, uint16_t ggz, int avoid)
{
	for (int tries = 0; tries < 64; tries++) {
		uint16_t p = (uint16_t)range(g, 0, (int)g->o.programs - 1);
		if (g->programs[p].owner == ggz && p != avoid)
			return p;
	}
	for (uint16_t p = 0; p < g->o.programs; p++)
		if (g->programs[p].owner == ggz)
			return p;
	return 0;
}

static void make_bsn(struct gen *g, uint32_t n, char out[10])
{
	/* Eight digits, each client from a range of her own; the ninth makes
	 * the 11-proof hold (9*d1 + 8*d2 + ... + 2*d8 - d9 = 0 mod 11). */
	uint32_t base =
	    10000000u + (uint32_t)(g->o.seed % 30) * 2000000u + n * 13u;
	for (uint32_t k = base;; k++) {
		char d[10];
		snprintf(d, sizeof(d), "%08u", k);
		int sum = 0;
		for (int i = 0; i < 8; i++)
			sum += (9 - i) * (d[i] - '0');
		int d9 = sum % 11;
		if (d9 == 10)
			continue;
		snprintf(out, 10, "%s%d", d, d9);
		return;
	}
}

static int funder_of_benefit(const struct gen *g, const struct g_client *c,
			     int benefit)
{
	switch (benefit) {
	case B_PARTICIPATIEWET:
		return c->municipality;
	case B_WIA:
	case B_WAJONG:
	case B_WW:
		return (int)g->uwv;
	default:
		return FUNDER_OTHER;
	}
}

static int push_traj(struct gen *g)
{
	if (g->n_trajs == g->trajs_cap) {
		size_t cap = g->trajs_cap == 0 ? 4096 : g->trajs_cap * 2;
		struct g_traj *t = realloc(g->trajs, cap * sizeof(*t));
		if (t == NULL)
			return -1;
		g->trajs = t;
		g->trajs_cap = cap;
	}
	memset(&g->trajs[g->n_trajs], 0, sizeof(g->trajs[0]));
	return (int)g->n_trajs++;
}

static int push_job(struct gen *g)
{
	if (g->n_jobs == g->jobs_cap) {
		size_t cap = g->jobs_cap == 0 ? 4096 : g->jobs_cap * 2;
		struct g_job *j = realloc(g->jobs, cap * sizeof(*j));
		if (j == NULL)
			return -1;
		g->jobs = j;
		g->jobs_cap = cap;
	}
	memset(&g->jobs[g->n_jobs], 0, sizeof(g->jobs[0]));
	return (int)g->n_jobs++;
}

static void step(struct g_traj *t, int status, int32_t day)
{
	struct g_step *s = &t->steps[t->n_steps++];
	s->status = (uint8_t)status;
	text_of(day, s->on);
}

/* A trajectory referred on day r: its steps, and its start and close. */
static void make_steps(struct gen *g, struct g_traj *t, int32_t r)
{
	const int32_t last = day_of_text(LAST_DAY);
	double u = unif(g);
	int32_t d = r;

	step(t, S_REFERRED, d);
	if (u < 0.06) {
		int32_t e = d + range(g, 3, 40);
		step(t, S_DECLINED, e < last ? e : last);
		return;
	}
	if (u < 0.10) {
		step(t, S_CANCELLED, d + 10 < last ? d + 10 : last);
		return;
	}
	d += range(g, 0, 20);
	if (d > last)
		return; /* still REFERRED */
	step(t, S_ACCEPTED, d);
	if (u < 0.13) {
		if (d + 15 <= last)
			step(t, S_CANCELLED, d + 15);
		return;
	}
	d = edgy(g, d + range(g, 0, 45));
	if (d > last)
		return; /* accepted, not started yet */
	step(t, S_ACTIVE, d);
	text_of(d, t->start);
	int32_t close = edgy(g, d + range(g, 30, 1000));
	/* Holds, inside the trajectory. */
	int holds = unif(g) < 0.3 ? range(g, 1, 2) : 0;
	int32_t at = d;
	for (int h = 0; h < holds; h++) {
		int32_t hold = at + range(g, 10, 300);
		if (hold >= close || hold > last)
			break;
		step(t, S_ON_HOLD, hold);
		int32_t resume = hold + range(g, 10, 220);
		if (resume >= close || resume > last)
			break; /* closed (or still) on hold */
		step(t, S_ACTIVE, resume);
		at = resume;
	}
	if (close <= last) {
		step(t, S_CLOSED, close);
		text_of(close, t->close);
	}
}

/* The requests of one trajectory, and with them its funding type. In
 * daemon mode a decision is dated when it is sent; a request to OTHER is
 * decided by the GGZ that asked. */
static void make_funding(struct gen *g, struct g_client *c, struct g_traj *t,
			 bool last_of_client)
{
	int fit = funder_of_benefit(g, c, c->benefit);
	bool other = fit == FUNDER_OTHER;
	double u = unif(g);
	int32_t asked = day_of_text(t->steps[0].on) + range(g, 0, 30);
	int32_t last = day_of_text(LAST_DAY);

#define ASK(who, outcome_)                                                 \
	do {                                                               \
		struct g_funding *f_ = &t->funding[t->n_funding++];        \
		f_->funder = (int16_t)(who);                               \
		f_->outcome = (uint8_t)(outcome_);         \
		if (asked > last)                                          \
			asked = last;                                      \
		text_of(asked, f_->requested);                             \
		if (f_->outcome != F_REQUESTED) {                          \
			asked += range(g, 1, 30);                          \
			text_of(asked < last ? asked : last, f_->decided); \
			asked++;                                           \
		}                                                          \
	} while (0)

	if (u < 0.12)
		return;
	if (u < 0.62) {
		ASK(fit, F_APPROVED);
	} else if (u < 0.70) {
		ASK(fit, F_REJECTED);
	} else if (u < 0.75) {
		ASK(fit, F_WITHDRAWN);
	} else if (u < 0.80) {
		ASK(fit, F_REQUESTED);
	} else if (u < 0.87) {
		ASK(fit, F_REJECTED);
		ASK(fit, F_APPROVED);
	} else if (u < 0.93 && !other) {
		/* Somebody else asked too, never answered. */
		ASK(FUNDER_OTHER, F_REQUESTED);
		ASK(fit, F_APPROVED);
	} else if (!other && c->benefit == B_PARTICIPATIEWET &&
		   last_of_client && c->benefit_after == 0 && t->n_steps > 0 &&
		   t->steps[t->n_steps - 1].status != S_CLOSED &&
		   t->steps[t->n_steps - 1].status != S_DECLINED &&
		   t->steps[t->n_steps - 1].status != S_CANCELLED) {
		/* Funded by the municipality; then the client's benefit
		 * changes to WIA and UWV takes over: the latest approval
		 * counts. (Only on an open last trajectory, so that the
		 * change of benefit comes after everything else.) */
		ASK(fit, F_APPROVED);
		c->benefit_after = B_WIA;
		ASK(g->uwv, F_APPROVED);
		t->funding[t->n_funding - 1].after_change = true;
	} else {
		ASK(FUNDER_OTHER, F_APPROVED);
		ASK(fit, F_APPROVED);
	}
#undef ASK
	t->funder = UNFUNDED;
	for (int i = 0; i < t->n_funding; i++) {
		if (t->funding[i].outcome == F_APPROVED) {
			t->funder = t->funding[i].funder;
			t->n_approved++;
		}
		if (t->funding[i].outcome == F_REQUESTED)
			t->pending = true;
	}
}

static int make_jobs(struct gen *g, uint32_t ci, int32_t traj)
{
	const int32_t last = day_of_text(LAST_DAY);
	struct g_traj *t = traj >= 0 ? &g->trajs[traj] : NULL;
	int32_t base = t != NULL && t->start[0] != '\0'
			   ? day_of_text(t->start)
			   : day_of(g->o.first_year, 1, 1) + range(g, 0, 1200);
	int n = unif(g) < 0.2 ? 2 : 1;
	for (int k = 0; k < n; k++) {
		int j = push_job(g);
		if (j < 0)
			return -1;
		struct g_job *jb = &g->jobs[j];
		jb->client = ci;
		jb->traj = traj;
		jb->competitive = unif(g) < 0.85;
		double u = unif(g);
		int32_t start = u < 0.12 ? base - range(g, 20, 400) /* before */
					 : base + range(g, 15, 500);
		start = edgy(g, start);
		if (start > last)
			start = last - range(g, 0, 60);
		text_of(start, jb->start);
		u = unif(g);
		if (u < 0.45) {
			jb->end[0] = '\0'; /* lasts */
		} else if (u < 0.55) {
			/* Just at, or a day short of, the sustained months. */
			char by[11];
			lasted_by(jb->start, g->o.sustained_months, by);
			int32_t e = day_of_text(by) - (u < 0.50 ? 0 : 1);
			if (e <= last)
				text_of(e, jb->end);
		} else {
			int32_t e = edgy(g, start + range(g, 5, 700));
			if (e < start)
				e = start;
			if (e <= last)
				text_of(e, jb->end);
		}
		base = start + range(g, 30, 300);
	}
	return 0;
}

static int make_clients(struct gen *g)
{
	const int32_t first = day_of(g->o.first_year - 1, 7, 1);
	const int32_t latest = day_of(g->o.last_year, 12, 31);

	for (uint32_t ci = 0; ci < g->o.clients; ci++) {
		struct g_client *c = &g->clients[ci];
		memset(c, 0, sizeof(*c));
		c->ggz = (uint16_t)(g->first_ggz + rnd(g) % g->o.ggz);
		double u = unif(g);
		c->benefit = u < 0.38	? B_PARTICIPATIEWET
			     : u < 0.52 ? B_WIA
			     : u < 0.62 ? B_WAJONG
			     : u < 0.70 ? B_WW
			     : u < 0.90 ? B_NONE
					: B_OTHER;
		c->municipality = -1;
		int m = range(g, 0, N_MUNICIPALITIES - 1);
		snprintf(c->cbs, sizeof(c->cbs), "%s", municipalities[m].cbs);
		if (c->benefit == B_PARTICIPATIEWET)
			c->municipality = (int16_t)(g->first_municipality + m);
		else if (unif(g) < 0.5)
			snprintf(c->cbs, sizeof(c->cbs), "GM%04d",
				 range(g, 1, 1999));
		make_bsn(g, ci, c->bsn);
		text_of(day_of(1960, 1, 1) + range(g, 0, 15000), c->birth);

		int n = unif(g) < 0.8 ? 1 : unif(g) < 0.85 ? 2 : 3;
		int32_t r = first + range(g, 0, latest - first);
		c->traj0 = (uint32_t)g->n_trajs;
		for (int k = 0; k < n; k++) {
			/* A client has one open trajectory per program at
			 * most: a later one goes elsewhere while one stays
			 * open. */
			int program = -1;
			for (int tries = 0; tries < 16 && program < 0;
			     tries++) {
				program = pick_program(g, c->ggz, -1);
				for (uint32_t e = c->traj0; e < g->n_trajs; e++)
					if (g->trajs[e].program == program &&
					    is_open(&g->trajs[e]))
						program = -1;
			}
			if (program < 0)
				break;
			if (r > day_of_text(LAST_DAY))
				r = day_of_text(LAST_DAY) - range(g, 0, 30);
			/* Never the same referral (client, program, day)
			 * twice: the daemon refuses it as recorded already. */
			for (bool again = true; again;) {
				again = false;
				for (uint32_t e = c->traj0; e < g->n_trajs; e++)
					if (g->trajs[e].program == program &&
					    day_of_text(
						g->trajs[e].steps[0].on) == r) {
						r--;
						again = true;
					}
			}
			int ti = push_traj(g);
			if (ti < 0)
				return -1;
			struct g_traj *t = &g->trajs[ti];
			t->client = ci;
			t->funder = UNFUNDED;
			t->program = (uint16_t)program;
			make_steps(g, t, r);
			/* The next one: after this one, or (a few) while it
			 * runs. */
			r = day_of_text(t->steps[t->n_steps - 1].on) +
			    range(g, 30, 400);
			if (unif(g) < 0.15)
				r = day_of_text(t->steps[0].on) +
				    range(g, 20, 300);
		}
		c->ntraj = (uint32_t)g->n_trajs - c->traj0;
		for (uint32_t k = 0; k < c->ntraj; k++)
			make_funding(g, c, &g->trajs[c->traj0 + k],
				     k + 1 == c->ntraj);

		c->job0 = (uint32_t)g->n_jobs;
		int32_t started = -1;
		for (uint32_t k = 0; k < c->ntraj; k++)
			if (g->trajs[c->traj0 + k].start[0] != '\0') {
				started = (int32_t)(c->traj0 + k);
				break;
			}
		double uj = unif(g);
		if ((started >= 0 && uj < 0.5) || uj < 0.04) {
			if (make_jobs(g, ci, started) != 0)
				return -1;
		}
		c->njob = (uint32_t)g->n_jobs - c->job0;
	}
	return 0;
}

static int make_reviews(struct gen *g)
{
	for (uint32_t p = 0; p < g->o.programs; p++) {
		int n = range(g, 0, 3);
		int32_t d =
		    day_of(g->o.first_year - 1, 1, 1) + range(g, 0, 200);
		int level = range(g, 2, 5);
		for (int k = 0; k < n; k++) {
			if (g->n_reviews == g->reviews_cap) {
				size_t cap = g->reviews_cap == 0
						 ? 64
						 : g->reviews_cap * 2;
				struct g_review *r =
				    realloc(g->reviews, cap * sizeof(*r));
				if (r == NULL)
					return -1;
				g->reviews = r;
				g->reviews_cap = cap;
			}
			struct g_review *v = &g->reviews[g->n_reviews++];
			memset(v, 0, sizeof(*v));
			v->program = (uint16_t)p;
			if (d > day_of_text(LAST_DAY)) {
				g->n_reviews--;
				break;
			}
			text_of(d, v->date);
			for (int i = 0; i < 25; i++) {
				int s = level + range(g, -1, 1);
				v->scores[i] = (uint8_t)(s < 1	 ? 1
							 : s > 5 ? 5
								 : s);
				v->total += v->scores[i];
			}
			v->independent = g->o.daemon || unif(g) < 0.7;
			d += range(g, 200, 500);
			level += range(g, -1, 1);
			level = level < 1 ? 1 : level > 5 ? 5 : level;
		}
	}
	return 0;
}

struct gen *gen_new(const struct gen_options *o)
{
	struct gen *g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	g->o = *o;
	if (g->o.programs < N_REGIONS)
		g->o.programs = N_REGIONS;
	if (g->o.ggz == 0)
		g->o.ggz = 1;
	g->rng = o->seed;
	g->orgs = calloc(2 + g->o.ggz + N_MUNICIPALITIES, sizeof(*g->orgs));
	g->programs = calloc(g->o.programs, sizeof(*g->programs));
	g->clients = calloc(g->o.clients + 1, sizeof(*g->clients));
	if (g->orgs == NULL || g->programs == NULL || g->clients == NULL)
		goto err;
	make_orgs(g);
	make_programs(g);
	if (make_clients(g) != 0 || make_reviews(g) != 0)
		goto err;
	return g;
err:
	gen_free(g);
	return NULL;
}

void gen_free(struct gen *g)
{
	if (g == NULL)
		return;
	free(g->orgs);
	free(g->programs);
	free(g->clients);
	free(g->trajs);
	free(g->jobs);
	free(g->reviews);
	free(g);
}

size_t gen_n_orgs(const struct gen *g)
{
	return g->n_orgs;
}

const struct gen_org *gen_org(const struct gen *g, size_t i)
{
	return i < g->n_orgs ? &g->orgs[i] : NULL;
}

void gen_counts(const struct gen *g, struct gen_counts *out)
{
	memset(out, 0, sizeof(*out));
	out->clients = g->o.clients;
	out->trajectories = g->n_trajs;
	out->jobs = g->n_jobs;
	out->reviews = g->n_reviews;
	for (size_t i = 0; i < g->n_trajs; i++) {
		out->steps += g->trajs[i].n_steps;
		out->fundings += g->trajs[i].n_funding;
	}
}

/* ---- the state tables, directly ------------------------------------------ */

struct filler {
	sqlite3 *db;
	char *err;
	size_t errlen;
};

static int fill_fail(struct filler *f, const char *what)
{
	snprintf(f->err, f->errlen, "%s: %s", what, sqlite3_errmsg(f->db));
	return -1;
}

static int prep(struct filler *f, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v2(f->db, sql, -1, st, NULL) == SQLITE_OK
		   ? 0
		   : fill_fail(f, sql);
}

static int done(struct filler *f, sqlite3_stmt *st, const char *what)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rc == SQLITE_DONE ? 0 : fill_fail(f, what);
}

static void bind_text(sqlite3_stmt *st, int i, const char *s)
{
	if (s == NULL || s[0] == '\0')
		sqlite3_bind_null(st, i);
	else
		sqlite3_bind_text(st, i, s, -1, SQLITE_TRANSIENT);
}

static int fill_trajectory(struct filler *f, const struct gen *g, size_t i,
			   sqlite3_stmt *tr, sqlite3_stmt *ev, sqlite3_stmt *fu,
			   uint32_t *funding_n)
{
	const struct g_traj *t = &g->trajs[i];
	const struct g_client *c = &g->clients[t->client];
	char id[32], client[32], cols[8][11], resumed[11] = "";
	memset(cols, 0, sizeof(cols));
	snprintf(id, sizeof(id), "tr-%07zu", i);
	snprintf(client, sizeof(client), "cl-%06u", t->client);
	bool active_seen = false;
	for (int k = 0; k < t->n_steps; k++) {
		const struct g_step *s = &t->steps[k];
		if (s->status == S_ACTIVE && active_seen)
			snprintf(resumed, sizeof(resumed), "%s", s->on);
		else
			snprintf(cols[s->status], 11, "%s", s->on);
		active_seen |= s->status == S_ACTIVE;
	}
	int status = t->steps[t->n_steps - 1].status;
	sqlite3_bind_text(tr, 1, id, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(tr, 2, client, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(tr, 3, g->programs[t->program].id, -1, SQLITE_STATIC);
	sqlite3_bind_text(tr, 4, g->orgs[c->ggz].id, -1, SQLITE_STATIC);
	sqlite3_bind_int(tr, 5, status);
	for (int s = S_REFERRED; s <= S_CANCELLED; s++) {
		static const int param[] = {0, 6, 7, 8, 9, 10, 12, 13};
		bind_text(tr, param[s], cols[s]);
	}
	bind_text(tr, 11, resumed);
	bind_text(tr, 14, status == S_CLOSED ? "the trajectory ended" : NULL);
	if (done(f, tr, "insert a trajectory") != 0)
		return -1;
	for (int k = 0; k < t->n_steps; k++) {
		sqlite3_bind_text(ev, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_int(ev, 2, k + 1);
		sqlite3_bind_int(ev, 3, t->steps[k].status);
		sqlite3_bind_text(ev, 4, t->steps[k].on, -1, SQLITE_TRANSIENT);
		if (done(f, ev, "insert a transition") != 0)
			return -1;
	}
	for (int k = 0; k < t->n_funding; k++) {
		const struct g_funding *fd = &t->funding[k];
		char fid[32];
		snprintf(fid, sizeof(fid), "fu-%07u", (*funding_n)++);
		sqlite3_bind_text(fu, 1, fid, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(fu, 2, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(fu, 3, client, -1, SQLITE_TRANSIENT);
		bind_text(fu, 4,
			  fd->funder >= 0 ? g->orgs[fd->funder].id : NULL);
		bind_text(fu, 5, fd->funder >= 0 ? NULL : "fonds");
		sqlite3_bind_int(fu, 6, fd->outcome);
		sqlite3_bind_text(fu, 7, fd->requested, -1, SQLITE_TRANSIENT);
		bind_text(fu, 8, fd->decided);
		bind_text(fu, 9, g->orgs[c->ggz].id);
		if (done(f, fu, "insert a funding request") != 0)
			return -1;
	}
	return 0;
}

int gen_fill_db(const struct gen *g, sqlite3 *db, char *err, size_t errlen)
{
	struct filler f = {db, err, errlen};
	sqlite3_stmt *org = NULL, *pr = NULL, *cl = NULL, *tr = NULL,
		     *ev = NULL, *fu = NULL, *jo = NULL, *fr = NULL;
	uint32_t funding_n = 0;
	int rv = -1;

	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return fill_fail(&f, "begin");
	if (prep(&f,
		 "INSERT OR REPLACE INTO organisation (id, kind, name, region, "
		 "cbs_code, active) VALUES (?1, ?2, ?3, ?4, ?5, 1)",
		 &org) ||
	    prep(&f,
		 "INSERT INTO program (id, version, owner, name, region, "
		 "specialists) VALUES (?1, 1, ?2, ?3, ?4, ?5)",
		 &pr) ||
	    prep(&f,
		 "INSERT INTO client (id, version, bsn, name, birth_date, "
		 "municipality, benefit, registered_by, registered_at) VALUES "
		 "(?1, 1, ?2, 'Client', ?3, ?4, ?5, ?6, "
		 "'2020-01-01T00:00:00.000Z')",
		 &cl) ||
	    prep(&f,
		 "INSERT INTO trajectory (id, version, client_id, program_id, "
		 "referrer, status, note, referred_on, accepted_on, "
		 "declined_on, started_on, held_on, resumed_on, closed_on, "
		 "cancelled_on, close_reason) VALUES (?1, 1, ?2, ?3, ?4, ?5, "
		 "'', ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)",
		 &tr) ||
	    prep(&f,
		 "INSERT INTO trajectory_event (trajectory_id, seq, status, "
		 "on_date) VALUES (?1, ?2, ?3, ?4)",
		 &ev) ||
	    prep(&f,
		 "INSERT INTO funding (id, version, trajectory_id, client_id, "
		 "funder, other_description, months, status, requested_on, "
		 "decided_on, requested_by) VALUES (?1, 1, ?2, ?3, ?4, ?5, 12, "
		 "?6, ?7, ?8, ?9)",
		 &fu) ||
	    prep(&f,
		 "INSERT INTO job (id, version, client_id, trajectory_id, "
		 "employer, start_date, end_date, hours_per_week, competitive) "
		 "VALUES (?1, 1, ?2, ?3, 'Werkgever', ?4, ?5, 24, ?6)",
		 &jo) ||
	    prep(&f,
		 "INSERT INTO fidelity_review (id, version, program_id, "
		 "review_date, scores, total, band, independent, recorded_by) "
		 "VALUES (?1, 1, ?2, ?3, '', ?4, '', ?5, 'network')",
		 &fr))
		goto out;

	for (size_t i = 0; i < g->n_orgs; i++) {
		const struct gen_org *o = &g->orgs[i];
		sqlite3_bind_text(org, 1, o->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(org, 2, org_kind_name(o->kind), -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(org, 3, o->name, -1, SQLITE_STATIC);
		sqlite3_bind_int(org, 4, o->region);
		bind_text(org, 5, o->cbs);
		if (done(&f, org, "insert an organisation") != 0)
			goto out;
	}
	for (uint32_t i = 0; i < g->o.programs; i++) {
		const struct g_program *p = &g->programs[i];
		sqlite3_bind_text(pr, 1, p->id, -1, SQLITE_STATIC);
		sqlite3_bind_text(pr, 2, g->orgs[p->owner].id, -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(pr, 3, p->name, -1, SQLITE_STATIC);
		sqlite3_bind_int(pr, 4, p->region);
		sqlite3_bind_int(pr, 5, (int)p->specialists);
		if (done(&f, pr, "insert a program") != 0)
			goto out;
	}
	for (uint32_t i = 0; i < g->o.clients; i++) {
		const struct g_client *c = &g->clients[i];
		char id[32];
		snprintf(id, sizeof(id), "cl-%06u", i);
		sqlite3_bind_text(cl, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(cl, 2, c->bsn, -1, SQLITE_STATIC);
		sqlite3_bind_text(cl, 3, c->birth, -1, SQLITE_STATIC);
		sqlite3_bind_text(cl, 4, c->cbs, -1, SQLITE_STATIC);
		sqlite3_bind_int(cl, 5,
				 c->benefit_after != 0 ? c->benefit_after
						       : c->benefit);
		sqlite3_bind_text(cl, 6, g->orgs[c->ggz].id, -1, SQLITE_STATIC);
		if (done(&f, cl, "insert a client") != 0)
			goto out;
	}
	for (size_t i = 0; i < g->n_trajs; i++)
		if (fill_trajectory(&f, g, i, tr, ev, fu, &funding_n) != 0)
			goto out;
	for (size_t i = 0; i < g->n_jobs; i++) {
		const struct g_job *j = &g->jobs[i];
		char id[32], client[32], traj[32];
		snprintf(id, sizeof(id), "jo-%07zu", i);
		snprintf(client, sizeof(client), "cl-%06u", j->client);
		snprintf(traj, sizeof(traj), "tr-%07d", j->traj);
		sqlite3_bind_text(jo, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(jo, 2, client, -1, SQLITE_TRANSIENT);
		bind_text(jo, 3, j->traj >= 0 ? traj : NULL);
		sqlite3_bind_text(jo, 4, j->start, -1, SQLITE_TRANSIENT);
		bind_text(jo, 5, j->end);
		sqlite3_bind_int(jo, 6, j->competitive);
		if (done(&f, jo, "insert a job") != 0)
			goto out;
	}
	for (size_t i = 0; i < g->n_reviews; i++) {
		const struct g_review *v = &g->reviews[i];
		char id[32];
		snprintf(id, sizeof(id), "fr-%05zu", i);
		sqlite3_bind_text(fr, 1, id, -1, SQLITE_TRANSIENT);
		sqlite3_bind_text(fr, 2, g->programs[v->program].id, -1,
				  SQLITE_STATIC);
		sqlite3_bind_text(fr, 3, v->date, -1, SQLITE_STATIC);
		sqlite3_bind_int(fr, 4, (int)v->total);
		sqlite3_bind_int(fr, 5, v->independent);
		if (done(&f, fr, "insert a fidelity review") != 0)
			goto out;
	}
	if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		fill_fail(&f, "commit");
		goto out;
	}
	rv = 0;
out:
	sqlite3_finalize(org);
	sqlite3_finalize(pr);
	sqlite3_finalize(cl);
	sqlite3_finalize(tr);
	sqlite3_finalize(ev);
	sqlite3_finalize(fu);
	sqlite3_finalize(jo);
	sqlite3_finalize(fr);
	if (rv != 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rv;
}

/* ---- the truth ------------------------------------------------------------
 */

const char *gen_metric_name(int metric)
{
	static const char *const names[GEN_N_METRICS] = {"enrolled",
							 "started",
							 "employed",
							 "sustained",
							 "funded_municipality",
							 "funded_uwv",
							 "funded_other",
							 "unfunded"};
	return metric >= 0 && metric < GEN_N_METRICS ? names[metric] : "?";
}

const char *gen_dim_name(enum gen_dim dim)
{
	static const char *const names[] = {"national", "region", "program",
					    "funder"};
	return names[dim];
}

size_t gen_rows(const struct gen *g, enum gen_dim dim)
{
	switch (dim) {
	case GEN_REGION:
		return N_REGIONS;
	case GEN_PROGRAM:
		return g->o.programs;
	case GEN_FUNDER:
		return N_MUNICIPALITIES + 1 + 2;
	default:
		return 1;
	}
}

static int org_number(const struct gen *g, const char *id)
{
	for (size_t i = 0; i < g->n_orgs; i++)
		if (strcmp(g->orgs[i].id, id) == 0)
			return (int)i;
	return -1;
}

static bool approved_by(const struct g_traj *t, int org)
{
	for (int k = 0; k < t->n_funding; k++)
		if (t->funding[k].outcome == F_APPROVED &&
		    t->funding[k].funder == org)
			return true;
	return false;
}

static bool sees(const struct gen *g, int org, const struct g_traj *t)
{
	if (org < 0 || g->orgs[org].kind == ORG_KIND_NETWORK)
		return true;
	if (g->orgs[org].kind == ORG_KIND_GGZ)
		return g->programs[t->program].owner == org;
	return approved_by(t, org);
}

static int type_of(const struct gen *g, const struct g_traj *t)
{
	if (t->funder == UNFUNDED)
		return GEN_UNFUNDED;
	if (t->funder == FUNDER_OTHER)
		return GEN_FUNDED_OTHER;
	return g->orgs[t->funder].kind == ORG_KIND_MUNICIPALITY
		   ? GEN_FUNDED_MUNICIPALITY
		   : GEN_FUNDED_UWV;
}

struct selector {
	int org; /* -1: NETWORK */
	enum gen_dim dim;
	int region;    /* GEN_REGION */
	int program;   /* GEN_PROGRAM */
	int funder;    /* GEN_FUNDER: org, FUNDER_OTHER or UNFUNDED */
	bool national; /* the nation beside a scope: everything */
};

static bool selected(const struct gen *g, const struct selector *s,
		     const struct g_traj *t)
{
	if (!s->national && !sees(g, s->org, t))
		return false;
	switch (s->dim) {
	case GEN_REGION:
		return g->programs[t->program].region == s->region;
	case GEN_PROGRAM:
		return t->program == s->program;
	case GEN_FUNDER:
		return t->funder == s->funder;
	default:
		return true;
	}
}

static bool enrolled_in(const struct g_traj *t, const char *from,
			const char *to)
{
	return t->start[0] != '\0' && strcmp(t->start, to) <= 0 &&
	       (t->close[0] == '\0' || strcmp(t->close, from) >= 0);
}

static bool started_in(const struct g_traj *t, const char *from, const char *to)
{
	return t->start[0] != '\0' && strcmp(t->start, from) >= 0 &&
	       strcmp(t->start, to) <= 0;
}

static bool job_overlaps(const struct g_job *j, const char *from,
			 const char *to)
{
	return strcmp(j->start, to) <= 0 &&
	       (j->end[0] == '\0' || strcmp(j->end, from) >= 0);
}

static void employment(const struct gen *g, const struct g_client *c,
		       const char *from, const char *to, bool *employed,
		       bool *sustained)
{
	*employed = *sustained = false;
	for (uint32_t k = 0; k < c->njob; k++) {
		const struct g_job *j = &g->jobs[c->job0 + k];
		if (!j->competitive || !job_overlaps(j, from, to))
			continue;
		*employed = true;
		char by[11];
		const char *last =
		    j->end[0] == '\0' || strcmp(j->end, to) > 0 ? to : j->end;
		lasted_by(j->start, g->o.sustained_months, by);
		if (strcmp(last, by) >= 0)
			*sustained = true;
	}
}

static void count(const struct gen *g, const struct selector *s,
		  const char *from, const char *to, struct gen_cell *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t ci = 0; ci < g->o.clients; ci++) {
		const struct g_client *c = &g->clients[ci];
		bool enr = false, st = false;
		bool types[GEN_N_METRICS] = {false};
		for (uint32_t k = 0; k < c->ntraj; k++) {
			const struct g_traj *t = &g->trajs[c->traj0 + k];
			if (!selected(g, s, t))
				continue;
			bool e = enrolled_in(t, from, to);
			enr |= e;
			st |= started_in(t, from, to);
			if (e)
				types[type_of(g, t)] = true;
		}
		out->n[GEN_ENROLLED] += enr;
		out->n[GEN_STARTED] += st;
		if (!enr)
			continue;
		bool employed, sustained;
		employment(g, c, from, to, &employed, &sustained);
		out->n[GEN_EMPLOYED] += employed;
		out->n[GEN_SUSTAINED] += sustained;
		for (int m = GEN_FUNDED_MUNICIPALITY; m <= GEN_UNFUNDED; m++)
			out->n[m] += types[m];
	}
	/* Programs in the cell that the caller sees. */
	for (uint32_t p = 0; p < g->o.programs && s->dim != GEN_FUNDER; p++) {
		const struct g_program *pg = &g->programs[p];
		bool in;
		if (s->national || s->org < 0 ||
		    g->orgs[s->org].kind == ORG_KIND_NETWORK)
			in = true;
		else if (g->orgs[s->org].kind == ORG_KIND_GGZ)
			in = pg->owner == s->org;
		else {
			in = false;
			for (size_t t = 0; t < g->n_trajs && !in; t++)
				in = g->trajs[t].program == p &&
				     approved_by(&g->trajs[t], s->org);
		}
		if (s->dim == GEN_REGION)
			in = in && pg->region == s->region;
		if (s->dim == GEN_PROGRAM)
			in = in && (int)p == s->program;
		if (in) {
			out->programs++;
			out->specialists += pg->specialists;
		}
	}
}

int gen_truth(const struct gen *g, const char *from, const char *to,
	      const char *org, enum gen_dim dim, const char *key,
	      struct gen_cell *out)
{
	struct selector s = {.org = -1, .dim = dim};
	if (org != NULL && (s.org = org_number(g, org)) < 0)
		return -1;
	switch (dim) {
	case GEN_REGION:
		s.region = atoi(key);
		if (s.region < 1 || s.region > N_REGIONS)
			return -1;
		break;
	case GEN_PROGRAM:
		s.program = -1;
		for (uint32_t p = 0; p < g->o.programs; p++)
			if (strcmp(g->programs[p].id, key) == 0)
				s.program = (int)p;
		if (s.program < 0)
			return -1;
		break;
	case GEN_FUNDER:
		if (strcmp(key, "OTHER") == 0)
			s.funder = FUNDER_OTHER;
		else if (strcmp(key, "UNFUNDED") == 0)
			s.funder = UNFUNDED;
		else if ((s.funder = org_number(g, key)) < 0)
			return -1;
		break;
	default:
		break;
	}
	count(g, &s, from, to, out);
	return 0;
}

int gen_truth_year(const struct gen *g, int year, enum gen_dim dim,
		   const char *key, struct gen_cell *out)
{
	char from[16], to[16];
	snprintf(from, sizeof(from), "%04d-01-01", year);
	snprintf(to, sizeof(to), "%04d-12-31", year);
	return gen_truth(g, from, to, NULL, dim, key, out);
}

void gen_quality_truth(const struct gen *g, const char *from, const char *to,
		       struct gen_quality *out)
{
	memset(out, 0, sizeof(*out));
	for (uint32_t ci = 0; ci < g->o.clients; ci++) {
		const struct g_client *c = &g->clients[ci];
		const char *first = NULL;
		int program = -1;
		bool several = false, enrolled = false;
		for (uint32_t k = 0; k < c->ntraj; k++) {
			const struct g_traj *t = &g->trajs[c->traj0 + k];
			if (!enrolled_in(t, from, to))
				continue;
			enrolled = true;
			if (first == NULL || strcmp(t->start, first) < 0)
				first = t->start;
			if (program >= 0 && t->program != program)
				several = true;
			program = t->program;
			out->funding_pending +=
			    t->pending && t->funder == UNFUNDED;
			out->several_approved += t->n_approved > 1;
		}
		if (!enrolled)
			continue;
		out->clients_in_several_programs += several;
		for (uint32_t k = 0; k < c->njob; k++) {
			const struct g_job *j = &g->jobs[c->job0 + k];
			if (!job_overlaps(j, from, to))
				continue;
			if (!j->competitive)
				out->jobs_not_competitive++;
			else if (strcmp(j->start, first) < 0)
				out->jobs_before_trajectory++;
		}
	}
}

void gen_fidelity_truth(const struct gen *g, const char *cutoff,
			uint32_t bands[5])
{
	memset(bands, 0, 5 * sizeof(bands[0]));
	for (uint32_t p = 0; p < g->o.programs; p++) {
		const struct g_review *best = NULL;
		for (size_t k = 0; k < g->n_reviews; k++) {
			const struct g_review *v = &g->reviews[k];
			if (v->program == p && strcmp(v->date, cutoff) <= 0 &&
			    (best == NULL || strcmp(v->date, best->date) > 0))
				best = v;
		}
		if (best == NULL)
			bands[4]++;
		else
			bands[best->total >= 115   ? 0
			      : best->total >= 100 ? 1
			      : best->total >= 74  ? 2
						   : 3]++;
	}
}

#ifdef REPORT_GEN_DRIVE
/* gen_drive, with libipsnet: only in the programs that link it. */
#include "report_gen_drive.c"
#endif
