/* The IPS monitor reports (report.h, docs/reports.md).
 *
 * How: one read transaction loads what the figures need — programs,
 * trajectories with their transitions, approved and open funding requests,
 * jobs, fidelity reviews — into flat arrays indexed by number (every id
 * string is looked up once, while loading). Each period is then one pass
 * over the clients: a client's trajectories decide which cells she is
 * enrolled or started in, her jobs decide whether she is (sustainably)
 * employed, and each cell counts her once. Nothing of the pass depends on
 * the period but the two dates, so a comparison period or ten years of
 * history cost one more pass each, not one more read of the database.
 *
 * Who sees what is decided here, once per trajectory and program (in_scope),
 * before anything is counted: a figure the caller may not see is never
 * computed into its cells. Small numbers are suppressed on the way out, on
 * the true counts, before the message is packed: a suppressed count never
 * leaves the daemon. */
#include "report.h"

#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "ipsnet_errors.h"
#include "log.h"
#include "server.h"
#include "util.h"
#include "validate.h"

#define NO_DATE INT32_MIN
#define OPEN_END INT32_MAX
#define N_REGIONS 35

/* Trajectory statuses as the state tables keep them (the wire's enum). */
#define ST_ACTIVE IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ACTIVE
#define ST_ON_HOLD IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_ON_HOLD
#define ST_CLOSED IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_CLOSED
#define FU_REQUESTED IPSNET__V1__FUNDING_STATUS__FUNDING_REQUESTED
#define FU_APPROVED IPSNET__V1__FUNDING_STATUS__FUNDING_APPROVED

/* Funding types, in the order of the ReportFigures fields. */
enum fund_type { FT_MUNICIPALITY, FT_UWV, FT_OTHER, FT_NONE, N_FUND_TYPES };

/* ---- dates ---------------------------------------------------------------
 * A date is a day number (days since 1970-01-01), so that comparing and
 * overlapping are integer comparisons. */

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
				   31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Howard Hinnant's days_from_civil. */
static int32_t civil_days(int y, int m, int d)
{
	y -= m <= 2;
	int era = (y >= 0 ? y : y - 399) / 400;
	int yoe = y - era * 400;
	int doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

/* "YYYY-MM-DD" (a real calendar date) into y, m, d. */
static bool parse_ymd(const unsigned char *s, int *y, int *m, int *d)
{
	if (s == NULL)
		return false;
	for (int i = 0; i < 10; i++) {
		bool digit = s[i] >= '0' && s[i] <= '9';
		if ((i == 4 || i == 7) ? s[i] != '-' : !digit)
			return false;
	}
	if (s[10] != '\0')
		return false;
	*y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	     (s[3] - '0');
	*m = (s[5] - '0') * 10 + (s[6] - '0');
	*d = (s[8] - '0') * 10 + (s[9] - '0');
	return *y >= 1 && *m >= 1 && *m <= 12 && *d >= 1 &&
	       *d <= month_days(*y, *m);
}

static int32_t parse_day(const unsigned char *s)
{
	int y, m, d;
	return parse_ymd(s, &y, &m, &d) ? civil_days(y, m, d) : NO_DATE;
}

/* The last day of a job of `months` months that starts on s: the day before
 * the same calendar day `months` later, that day clamped to its month's end
 * (31 August + 6 months is 28 February, so the last day is 27 February). */
static int32_t last_day_of_months(const unsigned char *s, uint32_t months)
{
	int y, m, d;
	if (!parse_ymd(s, &y, &m, &d))
		return NO_DATE;
	int m0 = m - 1 + (int)months;
	y += m0 / 12;
	m = m0 % 12 + 1;
	if (d > month_days(y, m))
		d = month_days(y, m);
	return civil_days(y, m, d) - 1;
}

static int year_of_day(int32_t day)
{
	/* Inverse of civil_days, year only. */
	int32_t z = day + 719468;
	int era = (z >= 0 ? z : z - 146096) / 146097;
	int doe = z - era * 146097;
	int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int mp = (5 * doy + 2) / 153;
	int m = mp < 10 ? mp + 3 : mp - 9;
	return yoe + era * 400 + (m <= 2);
}

/* ---- an arena for everything one report allocates ----------------------- */

struct chunk {
	struct chunk *next;
	size_t used, cap;
	max_align_t data[];
};

struct arena {
	struct chunk *head;
	bool failed;
};

static void *arena_alloc(struct arena *a, size_t n)
{
	n = (n + sizeof(max_align_t) - 1) / sizeof(max_align_t) *
	    sizeof(max_align_t);
	struct chunk *c = a->head;
	if (c == NULL || c->cap - c->used < n) {
		size_t cap = n > 65536 ? n : 65536;
		c = ipsnet_malloc(sizeof(*c) + cap);
		if (c == NULL) {
			a->failed = true;
			return NULL;
		}
		c->next = a->head;
		c->used = 0;
		c->cap = cap;
		a->head = c;
	}
	void *p = (char *)c->data + c->used;
	c->used += n;
	memset(p, 0, n);
	return p;
}

static char *arena_strdup(struct arena *a, const char *s)
{
	size_t n = strlen(s) + 1;
	char *p = arena_alloc(a, n);
	if (p != NULL)
		memcpy(p, s, n);
	return p;
}

static char *arena_printf(struct arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *arena_printf(struct arena *a, const char *fmt, ...)
{
	char buf[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return arena_strdup(a, buf);
}

static void arena_free(struct arena *a)
{
	struct chunk *c = a->head;
	while (c != NULL) {
		struct chunk *next = c->next;
		ipsnet_free(c);
		c = next;
	}
	a->head = NULL;
}

/* Grows *arr (of *cap elements of size sz) to hold at least n. */
static int grow(void *arr, size_t *cap, size_t n, size_t sz)
{
	if (n <= *cap)
		return 0;
	size_t want = *cap == 0 ? 256 : *cap * 2;
	while (want < n)
		want *= 2;
	void *p = ipsnet_realloc(*(void **)arr, want * sz);
	if (p == NULL)
		return IPSNET_ENOMEM;
	*(void **)arr = p;
	*cap = want;
	return 0;
}

/* ---- id strings to numbers ---------------------------------------------- */

/* Interns id strings: the i-th distinct string gets number i. Open
 * addressing; slots hold number + 1 (0: empty). */
struct idmap {
	char **names;
	size_t n, names_cap;
	uint32_t *slot;
	size_t nslots; /* a power of two */
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;
	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static int64_t idmap_find(const struct idmap *m, const char *s)
{
	if (m->nslots == 0 || s == NULL)
		return -1;
	size_t mask = m->nslots - 1;
	for (size_t i = hash_str(s) & mask;; i = (i + 1) & mask) {
		uint32_t v = m->slot[i];
		if (v == 0)
			return -1;
		if (strcmp(m->names[v - 1], s) == 0)
			return v - 1;
	}
}

static int idmap_rehash(struct idmap *m, size_t nslots)
{
	uint32_t *slot = ipsnet_calloc(nslots, sizeof(*slot));
	if (slot == NULL)
		return IPSNET_ENOMEM;
	for (size_t k = 0; k < m->n; k++) {
		size_t i = hash_str(m->names[k]) & (nslots - 1);
		while (slot[i] != 0)
			i = (i + 1) & (nslots - 1);
		slot[i] = (uint32_t)k + 1;
	}
	ipsnet_free(m->slot);
	m->slot = slot;
	m->nslots = nslots;
	return 0;
}

/* The number of s, adding it (a copy in a) when new. */
static int idmap_intern(struct idmap *m, struct arena *a, const char *s,
			uint32_t *out, bool *added)
{
	int64_t found = idmap_find(m, s);
	*added = found < 0;
	if (found >= 0) {
		*out = (uint32_t)found;
		return 0;
	}
	if ((m->n + 1) * 2 > m->nslots &&
	    idmap_rehash(m, m->nslots == 0 ? 1024 : m->nslots * 2) != 0)
		return IPSNET_ENOMEM;
	if (grow(&m->names, &m->names_cap, m->n + 1, sizeof(char *)) != 0)
		return IPSNET_ENOMEM;
	char *copy = arena_strdup(a, s);
	if (copy == NULL)
		return IPSNET_ENOMEM;
	m->names[m->n] = copy;
	size_t mask = m->nslots - 1;
	size_t i = hash_str(s) & mask;
	while (m->slot[i] != 0)
		i = (i + 1) & mask;
	m->slot[i] = (uint32_t)m->n + 1;
	*out = (uint32_t)m->n++;
	return 0;
}

static void idmap_free(struct idmap *m)
{
	ipsnet_free(m->names);
	ipsnet_free(m->slot);
	memset(m, 0, sizeof(*m));
}

/* ---- the model: what the figures are computed from ---------------------- */

struct m_org {
	enum org_kind kind;
	const char *name;
};

struct m_program {
	const char *owner;
	const char *name;
	uint32_t region;
	uint32_t specialists;
	bool in_scope;	/* the caller may see it and it passes the filter */
	int32_t review; /* latest review up to the cut-off, or -1 */
};

struct m_traj {
	uint32_t client;
	int32_t program; /* -1: not a known program */
	int status;
	int32_t start; /* the day it became ACTIVE, or NO_DATE */
	int32_t started_on, closed_on; /* its columns, or NO_DATE */
	uint32_t seg, nseg;	       /* its enrolment segments in segs[] */
	int32_t funder; /* org number of the counting approval, or -1 */
	int32_t best_decided, best_requested; /* of the counting approval */
	const char *best_id;
	enum fund_type fund;
	uint16_t n_approved, n_pending, n_undated_decisions;
	bool has_events;
	bool out_of_order; /* a transition dated before its predecessor */
	bool no_start;	   /* began (by its status) without a start date */
	bool funded_by_caller;
	bool in_scope;
};

/* Days in [from, to], both inclusive; to may be OPEN_END. */
struct m_seg {
	int32_t from, to;
};

struct m_job {
	uint32_t client;
	int32_t start, end;   /* end: OPEN_END while it lasts */
	int32_t sustained_by; /* the day it has lasted the sustained months */
	bool competitive;
};

struct m_review {
	uint32_t program;
	int32_t date;
	const char *date_text;
	uint32_t total;
	bool independent;
	const char *id;
};

struct model {
	struct arena strings;
	struct idmap orgs, programs, clients, trajs;
	struct m_org *org;
	size_t org_cap;
	struct m_program *prog;
	size_t prog_cap;
	struct m_traj *traj;
	size_t traj_cap;
	struct m_seg *segs;
	size_t n_segs, segs_cap;
	struct m_job *jobs;
	size_t n_jobs, jobs_cap;
	struct m_review *reviews;
	size_t n_reviews, reviews_cap;
	/* Per client, her trajectories and jobs (CSR: the i-th client's are
	 * [first[i], first[i + 1]) of the index array). */
	uint32_t *traj_first, *traj_ix;
	uint32_t *job_first, *job_ix;
	uint64_t journal_seq;
};

static void model_free(struct model *m)
{
	idmap_free(&m->orgs);
	idmap_free(&m->programs);
	idmap_free(&m->clients);
	idmap_free(&m->trajs);
	ipsnet_free(m->org);
	ipsnet_free(m->prog);
	ipsnet_free(m->traj);
	ipsnet_free(m->segs);
	ipsnet_free(m->jobs);
	ipsnet_free(m->reviews);
	ipsnet_free(m->traj_first);
	ipsnet_free(m->traj_ix);
	ipsnet_free(m->job_first);
	ipsnet_free(m->job_ix);
	arena_free(&m->strings);
}

/* ---- loading ------------------------------------------------------------ */

struct loader {
	sqlite3 *db;
	struct model *m;
	char *why;
	size_t cap;
};

static int db_fail(struct loader *l, const char *what)
{
	snprintf(l->why, l->cap, "cannot read %s: %s", what,
		 sqlite3_errmsg(l->db));
	return IPSNET_EDB;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

static int load_orgs(struct loader *l)
{
	struct model *m = l->m;
	sqlite3_stmt *st;
	int rc, rv = 0;
	if (sqlite3_prepare_v2(l->db, "SELECT id, kind, name FROM organisation",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(l, "the organisations");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t i;
		bool added;
		if ((rv = idmap_intern(&m->orgs, &m->strings, col_text(st, 0),
				       &i, &added)) != 0 ||
		    (rv = grow(&m->org, &m->org_cap, i + 1, sizeof(*m->org))) !=
			0)
			break;
		m->org[i].kind = org_kind_parse(col_text(st, 1));
		m->org[i].name = arena_strdup(&m->strings, col_text(st, 2));
	}
	sqlite3_finalize(st);
	if (rv == 0 && rc != SQLITE_DONE)
		rv = db_fail(l, "the organisations");
	return rv != 0 ? rv : m->strings.failed ? IPSNET_ENOMEM : 0;
}

static int load_programs(struct loader *l)
{
	struct model *m = l->m;
	sqlite3_stmt *st;
	int rc, rv = 0;
	if (sqlite3_prepare_v2(l->db,
			       "SELECT id, owner, name, region, specialists "
			       "FROM program ORDER BY region, name, id",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(l, "the programs");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t i;
		bool added;
		if ((rv = idmap_intern(&m->programs, &m->strings,
				       col_text(st, 0), &i, &added)) != 0 ||
		    (rv = grow(&m->prog, &m->prog_cap, i + 1,
			       sizeof(*m->prog))) != 0)
			break;
		struct m_program *p = &m->prog[i];
		memset(p, 0, sizeof(*p));
		p->owner = arena_strdup(&m->strings, col_text(st, 1));
		p->name = arena_strdup(&m->strings, col_text(st, 2));
		int region = sqlite3_column_int(st, 3);
		p->region =
		    region >= 1 && region <= N_REGIONS ? (uint32_t)region : 0;
		p->specialists = (uint32_t)sqlite3_column_int(st, 4);
		p->review = -1;
	}
	sqlite3_finalize(st);
	if (rv == 0 && rc != SQLITE_DONE)
		rv = db_fail(l, "the programs");
	return rv != 0 ? rv : m->strings.failed ? IPSNET_ENOMEM : 0;
}

static int load_trajectories(struct loader *l)
{
	struct model *m = l->m;
	sqlite3_stmt *st;
	int rc, rv = 0;
	if (sqlite3_prepare_v2(l->db,
			       "SELECT id, client_id, program_id, status, "
			       "started_on, closed_on FROM trajectory",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(l, "the trajectories");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint32_t i, client;
		bool added;
		if ((rv = idmap_intern(&m->trajs, &m->strings, col_text(st, 0),
				       &i, &added)) != 0 ||
		    (rv = idmap_intern(&m->clients, &m->strings,
				       col_text(st, 1), &client, &added)) !=
			0 ||
		    (rv = grow(&m->traj, &m->traj_cap, i + 1,
			       sizeof(*m->traj))) != 0)
			break;
		struct m_traj *t = &m->traj[i];
		memset(t, 0, sizeof(*t));
		t->client = client;
		t->program = (int32_t)idmap_find(&m->programs, col_text(st, 2));
		t->status = sqlite3_column_int(st, 3);
		t->start = NO_DATE;
		t->started_on = parse_day(sqlite3_column_text(st, 4));
		t->closed_on = parse_day(sqlite3_column_text(st, 5));
		t->funder = -1;
		t->fund = FT_NONE;
	}
	sqlite3_finalize(st);
	if (rv == 0 && rc != SQLITE_DONE)
		rv = db_fail(l, "the trajectories");
	return rv != 0 ? rv : m->strings.failed ? IPSNET_ENOMEM : 0;
}

static int add_seg(struct model *m, struct m_traj *t, int32_t from, int32_t to)
{
	if (from == NO_DATE)
		return 0; /* cannot be placed: the trajectory has no start */
	if (to == NO_DATE)
		to = from;
	if (grow(&m->segs, &m->segs_cap, m->n_segs + 1, sizeof(*m->segs)) != 0)
		return IPSNET_ENOMEM;
	if (t->nseg == 0)
		t->seg = (uint32_t)m->n_segs;
	m->segs[m->n_segs].from = from;
	m->segs[m->n_segs].to = to;
	m->n_segs++;
	t->nseg++;
	return 0;
}

static bool enrolled_status(int s)
{
	return s == ST_ACTIVE || s == ST_ON_HOLD;
}

/* Walks one trajectory's transitions (in their order): the spans in which
 * it was ACTIVE or ON_HOLD, each from the day it entered them to the day it
 * left them (both inclusive: on the day of a transition it was in both
 * states at some moment), and the day it first became ACTIVE. */
struct walk {
	struct m_traj *t;
	bool in;
	int32_t from, last;
};

static int walk_event(struct model *m, struct walk *w, int status, int32_t d)
{
	struct m_traj *t = w->t;
	t->has_events = true;
	if (d == NO_DATE) {
		t->out_of_order = true;
		d = w->last;
	} else {
		if (w->last != NO_DATE && d < w->last)
			t->out_of_order = true;
		w->last = d;
	}
	if (status == ST_ACTIVE && t->start == NO_DATE && !w->in)
		t->start = d;
	if (!w->in && enrolled_status(status)) {
		w->in = true;
		w->from = d;
	} else if (w->in && !enrolled_status(status)) {
		w->in = false;
		return add_seg(m, t, w->from, d);
	}
	return 0;
}

static int walk_end(struct model *m, struct walk *w)
{
	if (w->t == NULL || !w->in)
		return 0;
	w->in = false;
	return add_seg(m, w->t, w->from, OPEN_END);
}

/* One transition as read; grouped per trajectory and put in order
 * afterwards. */
struct m_event {
	uint32_t traj;
	uint32_t seq;
	int32_t day;
	int status;
};

static int cmp_event(const void *a, const void *b)
{
	const struct m_event *x = a, *y = b;
	if (x->traj != y->traj)
		return x->traj < y->traj ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* The transitions are read in the table's own order (a scan, not a walk of
 * the index: several times faster) and sorted here. */
static int load_events(struct loader *l)
{
	struct model *m = l->m;
	struct m_event *ev = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st;
	int rc, rv = 0;
	char current[JOURNAL_ID_MAX] = "";
	int64_t ti = -1;

	if (sqlite3_prepare_v2(
		l->db,
		"SELECT trajectory_id, seq, status, on_date FROM "
		"trajectory_event",
		-1, &st, NULL) != SQLITE_OK)
		return db_fail(l, "the trajectory transitions");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = col_text(st, 0);
		if (strcmp(id, current) != 0) {
			util_strlcpy(current, id, sizeof(current));
			ti = idmap_find(&m->trajs, id);
		}
		if (ti < 0)
			continue;
		if ((rv = grow(&ev, &cap, n + 1, sizeof(*ev))) != 0)
			break;
		ev[n].traj = (uint32_t)ti;
		ev[n].seq = (uint32_t)sqlite3_column_int(st, 1);
		ev[n].status = sqlite3_column_int(st, 2);
		ev[n].day = parse_day(sqlite3_column_text(st, 3));
		n++;
	}
	sqlite3_finalize(st);
	if (rv == 0 && rc != SQLITE_DONE)
		rv = db_fail(l, "the trajectory transitions");
	struct m_event *sorted = NULL;
	uint32_t *first = NULL;
	if (rv == 0 && n > 0) {
		/* By trajectory (counting), then by seq within each (few, and
		 * mostly in order already). */
		sorted = ipsnet_malloc(n * sizeof(*sorted));
		first = ipsnet_calloc(m->trajs.n + 1, sizeof(*first));
		if (sorted == NULL || first == NULL)
			rv = IPSNET_ENOMEM;
	}
	if (rv == 0 && n > 0) {
		for (size_t i = 0; i < n; i++)
			first[ev[i].traj + 1]++;
		for (size_t t = 0; t < m->trajs.n; t++)
			first[t + 1] += first[t];
		for (size_t i = 0; i < n; i++)
			sorted[first[ev[i].traj]++] = ev[i];
		for (size_t i = 1; i < n; i++) {
			struct m_event e = sorted[i];
			size_t k = i;
			while (k > 0 && cmp_event(&sorted[k - 1], &e) > 0) {
				sorted[k] = sorted[k - 1];
				k--;
			}
			sorted[k] = e;
		}
		struct m_event *tmp = ev;
		ev = sorted;
		sorted = tmp;
		struct walk w = {0};
		for (size_t i = 0; i < n && rv == 0; i++) {
			if (i == 0 || ev[i].traj != ev[i - 1].traj) {
				if ((rv = walk_end(m, &w)) != 0)
					break;
				memset(&w, 0, sizeof(w));
				w.t = &m->traj[ev[i].traj];
				w.from = w.last = NO_DATE;
			}
			rv = walk_event(m, &w, ev[i].status, ev[i].day);
		}
		if (rv == 0)
			rv = walk_end(m, &w);
	}
	ipsnet_free(first);
	ipsnet_free(sorted);
	ipsnet_free(ev);
	return rv;
}

/* A trajectory without transition rows (written by something older than
 * trajectory_event, or whose rows say nothing of its start) is placed by its
 * columns: from started_on to closed_on. */
static int place_by_columns(struct model *m)
{
	for (size_t i = 0; i < m->trajs.n; i++) {
		struct m_traj *t = &m->traj[i];
		bool began = t->status == ST_ACTIVE ||
			     t->status == ST_ON_HOLD || t->status == ST_CLOSED;
		if (t->start == NO_DATE && t->started_on != NO_DATE) {
			/* Segments from the events (none, as there was no
			 * start) give way to the columns. */
			int32_t end = OPEN_END;
			if (t->status == ST_CLOSED)
				end = t->closed_on != NO_DATE ? t->closed_on
							      : t->started_on;
			t->start = t->started_on;
			t->nseg = 0;
			if (began && add_seg(m, t, t->started_on, end) != 0)
				return IPSNET_ENOMEM;
		}
		t->no_start = began && t->start == NO_DATE;
		if (t->no_start)
			t->nseg = 0; /* cannot be placed in any period */
	}
	return 0;
}

/* The journal entry that last touched a funding request (0: none, as in a
 * database filled by other means). */
static int64_t funding_seq(struct loader *l, sqlite3_stmt **st, const char *id)
{
	if (*st == NULL &&
	    sqlite3_prepare_v2(
		l->db,
		"SELECT coalesce(max(seq), 0) FROM journal WHERE "
		"entity_kind = 'funding' AND entity_id = ?1",
		-1, st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_text(*st, 1, id, -1, SQLITE_STATIC);
	int64_t seq =
	    sqlite3_step(*st) == SQLITE_ROW ? sqlite3_column_int64(*st, 0) : 0;
	sqlite3_reset(*st);
	return seq;
}

/* Whether an approval (decided, requested, id) came after the trajectory's
 * best one so far: the later decision; on one day, the one the journal
 * took last; then the later request; then the larger id. */
static bool approval_is_later(struct loader *l, sqlite3_stmt **seq_st,
			      const struct m_traj *t, int32_t decided,
			      int32_t requested, const char *id)
{
	if (decided != t->best_decided)
		return decided > t->best_decided;
	int64_t a = funding_seq(l, seq_st, id);
	int64_t b = funding_seq(l, seq_st, t->best_id);
	if (a != b)
		return a > b;
	if (requested != t->best_requested)
		return requested > t->best_requested;
	return strcmp(id, t->best_id) > 0;
}

static int load_funding(struct loader *l, const char *caller)
{
	struct model *m = l->m;
	sqlite3_stmt *st, *seq_st = NULL;
	int rc, rv = 0;
	/* In the table's order; the approval that counts is picked here. */
	if (sqlite3_prepare_v2(l->db,
			       "SELECT trajectory_id, funder, status, "
			       "decided_on, requested_on, id FROM funding",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(l, "the funding requests");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t i = idmap_find(&m->trajs, col_text(st, 0));
		if (i < 0)
			continue;
		struct m_traj *t = &m->traj[i];
		const char *funder = col_text(st, 1);
		int status = sqlite3_column_int(st, 2);
		int32_t decided = parse_day(sqlite3_column_text(st, 3));
		bool is_decided = status != FU_REQUESTED;
		if (is_decided && decided == NO_DATE &&
		    t->n_undated_decisions < UINT16_MAX)
			t->n_undated_decisions++;
		if (status == FU_REQUESTED && t->n_pending < UINT16_MAX)
			t->n_pending++;
		if (status != FU_APPROVED)
			continue;
		if (caller != NULL && funder != NULL &&
		    strcmp(funder, caller) == 0)
			t->funded_by_caller = true;
		int32_t requested = parse_day(sqlite3_column_text(st, 4));
		const char *id = col_text(st, 5);
		if (t->n_approved > 0 &&
		    !approval_is_later(l, &seq_st, t, decided, requested, id)) {
			if (t->n_approved < UINT16_MAX)
				t->n_approved++;
			continue;
		}
		if (t->n_approved < UINT16_MAX)
			t->n_approved++;
		t->best_decided = decided;
		t->best_requested = requested;
		if ((t->best_id = arena_strdup(&m->strings, id)) == NULL) {
			rv = IPSNET_ENOMEM;
			break;
		}
		int64_t org = funder != NULL && funder[0] != '\0'
				  ? idmap_find(&m->orgs, funder)
				  : -1;
		enum org_kind kind =
		    org >= 0 ? m->org[org].kind : ORG_KIND_NONE;
		t->fund = kind == ORG_KIND_MUNICIPALITY ? FT_MUNICIPALITY
			  : kind == ORG_KIND_UWV	? FT_UWV
							: FT_OTHER;
		t->funder = t->fund == FT_OTHER ? -1 : (int32_t)org;
	}
	sqlite3_finalize(st);
	sqlite3_finalize(seq_st);
	if (rv == 0 && rc != SQLITE_DONE)
		rv = db_fail(l, "the funding requests");
	return rv;
}

static int load_jobs(struct loader *l, uint32_t sustained_months)
{
	struct model *m = l->m;
	sqlite3_stmt *st;
	int rc, rv = 0;
	/* A withdrawn job never began: in no figure, nor in data quality. */
	if (sqlite3_prepare_v2(l->db,
			       "SELECT client_id, start_date, end_date, "
			       "competitive FROM job WHERE NOT withdrawn",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(l, "the jobs");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		/* A client without a trajectory is in no figure, nor are her
		 * jobs. */
		int64_t client = idmap_find(&m->clients, col_text(st, 0));
		if (client < 0)
			continue;
		if ((rv = grow(&m->jobs, &m->jobs_cap, m->n_jobs + 1,
			       sizeof(*m->jobs))) != 0)
			break;
		struct m_job *j = &m->jobs[m->n_jobs++];
		const unsigned char *start = sqlite3_column_text(st, 1);
		const unsigned char *end = sqlite3_column_text(st, 2);
		j->client = (uint32_t)client;
		j->start = parse_day(start);
		j->end =
		    end == NULL || end[0] == '\0' ? OPEN_END : parse_day(end);
		j->sustained_by = last_day_of_months(start, sustained_months);
		j->competitive = sqlite3_column_int(st, 3) != 0;
	}
	sqlite3_finalize(st);
	if (rv == 0 && rc != SQLITE_DONE)
		rv = db_fail(l, "the jobs");
	return rv;
}

static int load_reviews(struct loader *l)
{
	struct model *m = l->m;
	sqlite3_stmt *st;
	int rc, rv = 0;
	if (sqlite3_prepare_v2(l->db,
			       "SELECT program_id, review_date, total, "
			       "independent, id FROM fidelity_review",
			       -1, &st, NULL) != SQLITE_OK)
		return db_fail(l, "the fidelity reviews");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t p = idmap_find(&m->programs, col_text(st, 0));
		int32_t date = parse_day(sqlite3_column_text(st, 1));
		if (p < 0 || date == NO_DATE)
			continue;
		if ((rv = grow(&m->reviews, &m->reviews_cap, m->n_reviews + 1,
			       sizeof(*m->reviews))) != 0)
			break;
		struct m_review *r = &m->reviews[m->n_reviews++];
		r->program = (uint32_t)p;
		r->date = date;
		r->date_text = arena_strdup(&m->strings, col_text(st, 1));
		r->total = (uint32_t)sqlite3_column_int(st, 2);
		r->independent = sqlite3_column_int(st, 3) != 0;
		r->id = arena_strdup(&m->strings, col_text(st, 4));
	}
	sqlite3_finalize(st);
	if (rv == 0 && rc != SQLITE_DONE)
		rv = db_fail(l, "the fidelity reviews");
	return rv != 0 ? rv : m->strings.failed ? IPSNET_ENOMEM : 0;
}

static int load_head(struct loader *l)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(l->db,
			       "SELECT coalesce(max(seq), 0) FROM journal", -1,
			       &st, NULL) != SQLITE_OK)
		return db_fail(l, "the journal head");
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		l->m->journal_seq = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : db_fail(l, "the journal head");
}

/* first[] and ix[]: for each of n owners, the items that name it. */
static int build_csr(size_t n_owners, size_t n_items,
		     uint32_t (*owner)(const struct model *, size_t),
		     const struct model *m, uint32_t **first_out,
		     uint32_t **ix_out)
{
	uint32_t *first = ipsnet_calloc(n_owners + 1, sizeof(*first));
	uint32_t *ix = ipsnet_malloc((n_items > 0 ? n_items : 1) * sizeof(*ix));
	if (first == NULL || ix == NULL) {
		ipsnet_free(first);
		ipsnet_free(ix);
		return IPSNET_ENOMEM;
	}
	for (size_t i = 0; i < n_items; i++)
		first[owner(m, i) + 1]++;
	for (size_t c = 0; c < n_owners; c++)
		first[c + 1] += first[c];
	/* Fill with a moving cursor per owner, then shift back. */
	for (size_t i = 0; i < n_items; i++)
		ix[first[owner(m, i)]++] = (uint32_t)i;
	for (size_t c = n_owners; c > 0; c--)
		first[c] = first[c - 1];
	first[0] = 0;
	*first_out = first;
	*ix_out = ix;
	return 0;
}

static uint32_t traj_owner(const struct model *m, size_t i)
{
	return m->traj[i].client;
}

static uint32_t job_owner(const struct model *m, size_t i)
{
	return m->jobs[i].client;
}

static int model_load(sqlite3 *db, struct model *m, const char *caller,
		      uint32_t sustained_months, char *why, size_t cap)
{
	struct loader l = {db, m, why, cap};
	int rv;

	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(&l, "the database");
	if ((rv = load_head(&l)) != 0 || (rv = load_orgs(&l)) != 0 ||
	    (rv = load_programs(&l)) != 0 ||
	    (rv = load_trajectories(&l)) != 0 || (rv = load_events(&l)) != 0 ||
	    (rv = place_by_columns(m)) != 0 ||
	    (rv = load_funding(&l, caller)) != 0 ||
	    (rv = load_jobs(&l, sustained_months)) != 0 ||
	    (rv = load_reviews(&l)) != 0)
		goto err_after_begin;
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);

	rv = build_csr(m->clients.n, m->trajs.n, traj_owner, m, &m->traj_first,
		       &m->traj_ix);
	if (rv == 0)
		rv = build_csr(m->clients.n, m->n_jobs, job_owner, m,
			       &m->job_first, &m->job_ix);
	if (rv == IPSNET_ENOMEM)
		snprintf(why, cap, "the server is out of memory");
	return rv;

err_after_begin:
	sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	if (rv == IPSNET_ENOMEM)
		snprintf(why, cap, "the server is out of memory");
	return rv;
}

/* ---- the query: who asks, for what -------------------------------------- */

struct period {
	int32_t from, to;
	int32_t until; /* jobs count up to here: to, or today if before */
	const char *label, *from_text, *to_text;
};

struct query {
	const struct journal_actor *actor;
	const struct report_settings *settings;
	struct period periods[REPORT_MAX_PERIODS];
	size_t n_periods;
	int32_t today;	 /* settings->today; NO_DATE: none */
	uint32_t region; /* 0: all */
	int32_t program; /* -1: all */
	bool by[4];	 /* indexed by ReportGrouping */
	uint32_t history_years;
	bool national_scope; /* NETWORK without a filter */
	bool exact_scope;    /* the scope row is not subject to suppression */
};

/* The last day a period counts jobs up to: its own, or today when the
 * period is not over yet (a job that has not begun, or the months it has
 * not yet lasted, are not facts). */
static int32_t until_of(const struct query *q, int32_t to)
{
	return q->today != NO_DATE && q->today < to ? q->today : to;
}

static int check_query(const Ipsnet__V1__ReportQuery *q, struct query *out,
		       char *why, size_t cap)
{
	if (q->n_periods == 0) {
		snprintf(why, cap,
			 "a report needs a period: a year or a quarter");
		return IPSNET_EINVAL;
	}
	if (q->n_periods > REPORT_MAX_PERIODS) {
		snprintf(why, cap, "a report compares at most %d periods",
			 REPORT_MAX_PERIODS);
		return IPSNET_EINVAL;
	}
	out->today =
	    out->settings->today != NULL
		? parse_day((const unsigned char *)out->settings->today)
		: NO_DATE;
	for (size_t i = 0; i < q->n_periods; i++) {
		const Ipsnet__V1__ReportPeriod *p = q->periods[i];
		struct period *o = &out->periods[i];
		o->from = parse_day((const unsigned char *)p->from);
		o->to = parse_day((const unsigned char *)p->to);
		if (o->from == NO_DATE || o->to == NO_DATE || o->to < o->from) {
			snprintf(why, cap,
				 "period %zu must run from a date to a date "
				 "not before it (YYYY-MM-DD)",
				 i + 1);
			return IPSNET_EINVAL;
		}
		if (out->today != NO_DATE && o->from > out->today) {
			snprintf(why, cap,
				 "period %zu (from %s) has not begun yet: "
				 "today is %s",
				 i + 1, p->from, out->settings->today);
			return IPSNET_EINVAL;
		}
		o->until = until_of(out, o->to);
		o->label = p->label != NULL && p->label[0] != '\0' ? p->label
								   : p->from;
		o->from_text = p->from;
		o->to_text = p->to;
	}
	out->n_periods = q->n_periods;
	if (q->region > N_REGIONS) {
		snprintf(why, cap,
			 "the region must be a labour-market region from 1 to "
			 "35");
		return IPSNET_EINVAL;
	}
	out->region = q->region;
	for (size_t i = 0; i < q->n_by; i++) {
		int b = (int)q->by[i];
		if (b < IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION ||
		    b > IPSNET__V1__REPORT_GROUPING__REPORT_BY_FUNDER) {
			snprintf(why, cap,
				 "a breakdown is by region, program or funder");
			return IPSNET_EINVAL;
		}
		out->by[b] = true;
	}
	if (q->history_years > REPORT_MAX_HISTORY_YEARS) {
		snprintf(why, cap, "the history goes back at most %d years",
			 REPORT_MAX_HISTORY_YEARS);
		return IPSNET_EINVAL;
	}
	out->history_years = q->history_years;
	return 0;
}

/* Decides, once, which programs and trajectories the caller sees and the
 * filter keeps. */
static int apply_scope(struct model *m, struct query *q,
		       const Ipsnet__V1__ReportQuery *rq, char *why, size_t cap)
{
	const struct journal_actor *a = q->actor;
	bool network = a->org_kind == ORG_KIND_NETWORK;
	bool ggz = a->org_kind == ORG_KIND_GGZ;
	bool funder =
	    a->org_kind == ORG_KIND_MUNICIPALITY || a->org_kind == ORG_KIND_UWV;

	if (!network && !ggz && !funder) {
		snprintf(why, cap, "your organisation may not read reports");
		return IPSNET_EPERMISSION;
	}
	q->program = -1;
	if (rq->program_id != NULL && rq->program_id[0] != '\0') {
		int64_t p = idmap_find(&m->programs, rq->program_id);
		if (p < 0) {
			snprintf(why, cap, "no program '%.64s'",
				 rq->program_id);
			return IPSNET_ENOT_FOUND;
		}
		if (ggz && strcmp(m->prog[p].owner, a->org) != 0) {
			snprintf(why, cap,
				 "program '%.64s' is not one of your "
				 "organisation's programs: a GGZ reads the "
				 "reports of its own programs",
				 rq->program_id);
			return IPSNET_EPERMISSION;
		}
		q->program = (int32_t)p;
	}
	q->national_scope = network && q->region == 0 && q->program < 0;
	q->exact_scope =
	    q->national_scope || q->settings->small_count_threshold == 0;

	/* Programs a funder sees: those of the trajectories it funds. */
	for (size_t i = 0; i < m->trajs.n; i++) {
		struct m_traj *t = &m->traj[i];
		if (t->program < 0)
			continue;
		struct m_program *p = &m->prog[t->program];
		bool sees = network || (ggz && strcmp(p->owner, a->org) == 0) ||
			    (funder && t->funded_by_caller);
		bool kept = (q->region == 0 || p->region == q->region) &&
			    (q->program < 0 || t->program == q->program);
		t->in_scope = sees && kept;
		if (funder && t->funded_by_caller && kept)
			p->in_scope = true;
	}
	for (size_t i = 0; i < m->programs.n; i++) {
		struct m_program *p = &m->prog[i];
		bool kept = (q->region == 0 || p->region == q->region) &&
			    (q->program < 0 || (int32_t)i == q->program);
		if (network || ggz)
			p->in_scope =
			    kept && (network || strcmp(p->owner, a->org) == 0);
	}
	return 0;
}

/* ---- counting ----------------------------------------------------------- */

enum metric {
	M_ENROLLED,
	M_STARTED,
	M_EMPLOYED,
	M_SUSTAINED,
	M_FUNDED, /* + enum fund_type */
	N_METRICS = M_FUNDED + N_FUND_TYPES
};

struct cell {
	uint64_t n[N_METRICS];
};

enum quality_item {
	Q_WITHOUT_START,
	Q_OUT_OF_ORDER,
	Q_JOBS_NOT_COMPETITIVE,
	Q_JOBS_BEFORE_TRAJECTORY,
	Q_JOBS_END_BEFORE_START,
	Q_FUNDING_UNDATED,
	Q_FUNDING_PENDING,
	Q_SEVERAL_APPROVED,
	Q_SEVERAL_PROGRAMS,
	N_QUALITY
};

/* Cells: the nation, the caller's scope, each region, each program, each
 * funder organisation, other funders, no funding. */
struct layout {
	size_t national, scope, region0, program0, funder0, other, unfunded, n;
};

static struct layout layout_of(const struct model *m)
{
	struct layout L;
	L.national = 0;
	L.scope = 1;
	L.region0 = 2 - 1; /* region r is region0 + r, r = 1..35 */
	L.program0 = 2 + N_REGIONS;
	L.funder0 = L.program0 + m->programs.n;
	L.other = L.funder0 + m->orgs.n;
	L.unfunded = L.other + 1;
	L.n = L.unfunded + 1;
	return L;
}

struct pass {
	struct cell *cells;
	uint64_t quality[N_QUALITY];
	/* per cell: the client that last touched it, and her flags there */
	uint32_t *stamp;
	uint16_t *flags;
	uint32_t *touched;
};

/* A client's flags in one cell. */
#define F_ENROLLED 0x01
#define F_STARTED 0x02
#define F_FUND0 0x04 /* << fund type */

static bool overlaps(const struct model *m, const struct m_traj *t,
		     int32_t from, int32_t to)
{
	for (uint32_t k = 0; k < t->nseg; k++) {
		const struct m_seg *s = &m->segs[t->seg + k];
		if (s->from <= to && s->to >= from)
			return true;
	}
	return false;
}

static size_t funder_cell(const struct layout *L, const struct m_traj *t)
{
	if (t->fund == FT_NONE)
		return L->unfunded;
	if (t->fund == FT_OTHER || t->funder < 0)
		return L->other;
	return L->funder0 + (size_t)t->funder;
}

static void touch(struct pass *ps, size_t *n_touched, uint32_t client,
		  size_t cell, uint16_t f)
{
	if (ps->stamp[cell] != client + 1) {
		ps->stamp[cell] = client + 1;
		ps->flags[cell] = 0;
		ps->touched[(*n_touched)++] = (uint32_t)cell;
	}
	ps->flags[cell] |= f;
}

/* One period: every cell's counts and the scope's data-quality counts. */
static void count_period(const struct model *m, const struct layout *L,
			 const struct period *p, struct pass *ps)
{
	memset(ps->cells, 0, L->n * sizeof(*ps->cells));
	memset(ps->stamp, 0, L->n * sizeof(*ps->stamp));
	memset(ps->quality, 0, sizeof(ps->quality));

	for (size_t i = 0; i < m->trajs.n; i++) {
		const struct m_traj *t = &m->traj[i];
		if (!t->in_scope)
			continue;
		ps->quality[Q_WITHOUT_START] += t->no_start;
		ps->quality[Q_OUT_OF_ORDER] += t->out_of_order;
	}

	for (uint32_t c = 0; c < m->clients.n; c++) {
		size_t n_touched = 0;
		bool enrolled_in_scope = false;
		int32_t first_start = OPEN_END; /* of her scope trajectories */
		int32_t program_seen = -1;
		bool several_programs = false;

		for (uint32_t k = m->traj_first[c]; k < m->traj_first[c + 1];
		     k++) {
			const struct m_traj *t = &m->traj[m->traj_ix[k]];
			bool enr = overlaps(m, t, p->from, p->to);
			bool st = t->start != NO_DATE && t->start >= p->from &&
				  t->start <= p->to;
			if (!enr && !st)
				continue;
			uint16_t f = (uint16_t)((enr ? F_ENROLLED : 0) |
						(st ? F_STARTED : 0) |
						(enr ? F_FUND0 << t->fund : 0));
			touch(ps, &n_touched, c, L->national, f);
			if (!t->in_scope)
				continue;
			touch(ps, &n_touched, c, L->scope, f);
			if (t->program >= 0) {
				const struct m_program *pg =
				    &m->prog[t->program];
				if (pg->region != 0)
					touch(ps, &n_touched, c,
					      L->region0 + pg->region, f);
				touch(ps, &n_touched, c,
				      L->program0 + (size_t)t->program, f);
			}
			touch(ps, &n_touched, c, funder_cell(L, t), f);
			if (!enr)
				continue;
			enrolled_in_scope = true;
			int32_t begun = t->start != NO_DATE
					    ? t->start
					    : m->segs[t->seg].from;
			if (begun < first_start)
				first_start = begun;
			if (program_seen >= 0 && t->program != program_seen)
				several_programs = true;
			program_seen = t->program;
			ps->quality[Q_FUNDING_UNDATED] +=
			    t->n_undated_decisions;
			ps->quality[Q_FUNDING_PENDING] +=
			    t->n_pending > 0 && t->fund == FT_NONE;
			ps->quality[Q_SEVERAL_APPROVED] += t->n_approved > 1;
		}
		if (n_touched == 0)
			continue;

		bool employed = false, sustained = false;
		for (uint32_t k = m->job_first[c]; k < m->job_first[c + 1];
		     k++) {
			const struct m_job *j = &m->jobs[m->job_ix[k]];
			bool dated = j->start != NO_DATE && j->end != NO_DATE;
			bool backwards = dated && j->end < j->start;
			bool overlap = dated && !backwards &&
				       j->start <= p->until &&
				       j->end >= p->from;
			if (enrolled_in_scope) {
				ps->quality[Q_JOBS_END_BEFORE_START] +=
				    backwards;
				ps->quality[Q_JOBS_NOT_COMPETITIVE] +=
				    overlap && !j->competitive;
				ps->quality[Q_JOBS_BEFORE_TRAJECTORY] +=
				    overlap && j->competitive &&
				    j->start < first_start;
			}
			if (!overlap || !j->competitive)
				continue;
			employed = true;
			int32_t last = j->end < p->until ? j->end : p->until;
			if (j->sustained_by != NO_DATE &&
			    last >= j->sustained_by)
				sustained = true;
		}
		ps->quality[Q_SEVERAL_PROGRAMS] += several_programs;

		for (size_t k = 0; k < n_touched; k++) {
			struct cell *cl = &ps->cells[ps->touched[k]];
			uint16_t f = ps->flags[ps->touched[k]];
			bool enr = f & F_ENROLLED;
			cl->n[M_ENROLLED] += enr;
			cl->n[M_STARTED] += (f & F_STARTED) != 0;
			cl->n[M_EMPLOYED] += enr && employed;
			cl->n[M_SUSTAINED] += enr && sustained;
			for (int ft = 0; ft < N_FUND_TYPES; ft++)
				cl->n[M_FUNDED + ft] +=
				    (f & (F_FUND0 << ft)) != 0;
		}
	}
}

/* ---- building the answer ------------------------------------------------ */

struct builder {
	struct arena a; /* every message and string of the answer */
	const struct model *m;
	const struct query *q;
	struct layout L;
	uint32_t threshold;
	bool network;
	/* Per metric: 0 in NETWORK's national figure of the period being
	 * built, which is exact, so 0 in every cell, and the reader knows
	 * it: such hidden zeros protect nothing. */
	bool known_zero[N_METRICS];
	/* A MUNICIPALITY or UWV: its report by funder has a row for every
	 * funder, so that no row's presence tells that another funder's
	 * approval overtook one of its own (it sees only the requests
	 * addressed to it). A row of a funder outside its scope holds no
	 * one and takes no part in protect: the shown counts are the ones
	 * the scope's rows alone would give. */
	bool every_funder;
	const bool *scope_funders; /* per organisation: a row of the scope */
};

static Ipsnet__V1__ReportCount *count_msg(struct builder *b, uint64_t n,
					  bool subject)
{
	Ipsnet__V1__ReportCount *c = arena_alloc(&b->a, sizeof(*c));
	if (c == NULL)
		return NULL;
	ipsnet__v1__report_count__init(c);
	c->value = n;
	c->suppressed = subject && b->threshold > 0 && n < b->threshold;
	return c;
}

static Ipsnet__V1__ReportCount **metric_slot(Ipsnet__V1__ReportFigures *f,
					     int metric)
{
	switch (metric) {
	case M_ENROLLED:
		return &f->enrolled;
	case M_STARTED:
		return &f->started;
	case M_EMPLOYED:
		return &f->employed;
	case M_SUSTAINED:
		return &f->sustained;
	case M_FUNDED + FT_MUNICIPALITY:
		return &f->funded_municipality;
	case M_FUNDED + FT_UWV:
		return &f->funded_uwv;
	case M_FUNDED + FT_OTHER:
		return &f->funded_other;
	default:
		return &f->unfunded;
	}
}

/* A row of figures with the true counts; suppression marks are set for
 * counts below the threshold when subject (a cell, or a caller other than
 * NETWORK). Values are zeroed later, in finish_row. */
static Ipsnet__V1__ReportFigures *figures(struct builder *b,
					  const struct cell *cl,
					  const char *key, const char *label,
					  bool subject)
{
	Ipsnet__V1__ReportFigures *f = arena_alloc(&b->a, sizeof(*f));
	if (f == NULL)
		return NULL;
	ipsnet__v1__report_figures__init(f);
	f->key = arena_strdup(&b->a, key);
	f->label = arena_strdup(&b->a, label);
	for (int k = 0; k < N_METRICS; k++)
		*metric_slot(f, k) = count_msg(b, cl->n[k], subject);
	return f;
}

static bool row_is_whole(Ipsnet__V1__ReportFigures *f)
{
	for (int k = 0; k < N_METRICS; k++)
		if (*metric_slot(f, k) == NULL)
			return false;
	return f->key != NULL && f->label != NULL;
}

/* Hides c to protect another count ("x"). Returns true. */
static bool protect_one(Ipsnet__V1__ReportCount *c)
{
	c->suppressed = true;
	c->secondary = true;
	return true;
}

/* Of counts that add up to a total, one suppressed count alone could be
 * worked out: a part by subtraction from a shown total, a total (hidden to
 * protect another count) by adding up its parts. So could several hidden
 * parts of a shown total that add up to 0: the total less the shown parts
 * says that each of them is 0. Then the smallest shown part is suppressed
 * too; when the hidden part is the only part (a region of one program),
 * the shown total is that part, and it is suppressed instead, unless it
 * is exact (NETWORK's national figures). Returns whether it suppressed
 * anything. */
static bool protect(Ipsnet__V1__ReportCount *total,
		    Ipsnet__V1__ReportCount *const *parts, size_t n,
		    bool total_exact)
{
	if (total == NULL)
		return false;
	size_t hidden = total->suppressed;
	uint64_t hidden_sum = 0; /* of the hidden parts, true counts */
	Ipsnet__V1__ReportCount *smallest = NULL;
	for (size_t i = 0; i < n; i++) {
		if (parts[i]->suppressed) {
			hidden++;
			hidden_sum += parts[i]->value;
		} else if (smallest == NULL ||
			   parts[i]->value < smallest->value)
			smallest = parts[i];
	}
	bool zeros = hidden > 1 && !total->suppressed && hidden_sum == 0;
	if (zeros)
		return smallest != NULL && protect_one(smallest);
	if (hidden != 1)
		return false;
	if (smallest == NULL) {
		if (n == 0 || total->suppressed || total_exact)
			return false;
		smallest = total;
	}
	return protect_one(smallest);
}

/* Whether metric k is 0 in every cell of the scope and the reader knows
 * it, so that its hidden zeros protect nothing: 0 in NETWORK's national
 * figure (known_zero), or no approved funding in a MUNICIPALITY's or
 * UWV's report, whose scope is the trajectories it approved funding for
 * (the nation beside it is no such scope). */
static bool scope_zero(const struct builder *b, int k)
{
	return b->known_zero[k] || (b->every_funder && k == M_FUNDED + FT_NONE);
}

static bool protect_funding(const struct builder *b,
			    Ipsnet__V1__ReportFigures *f, bool exact,
			    bool national)
{
	Ipsnet__V1__ReportCount *parts[N_FUND_TYPES];
	size_t n = 0;
	for (int ft = 0; ft < N_FUND_TYPES; ft++)
		if (!(national ? b->known_zero[M_FUNDED + ft]
			       : scope_zero(b, M_FUNDED + ft)))
			parts[n++] = *metric_slot(f, M_FUNDED + ft);
	return protect(f->enrolled, parts, n, exact);
}

/* Whether a row of the funder breakdown takes part in protect: every row
 * but one of a funder outside the scope, shown only so that the rows do
 * not depend on the scope (every_funder), and empty; nor, in such a
 * report, the row of no approved funding, empty too (scope_zero). */
static bool funder_row_counts(const struct builder *b,
			      const Ipsnet__V1__ReportFigures *f)
{
	if (!b->every_funder || strcmp(f->key, "OTHER") == 0)
		return true;
	if (strcmp(f->key, "UNFUNDED") == 0)
		return false;
	int64_t o = idmap_find(&b->m->orgs, f->key);
	return o >= 0 && b->scope_funders[o];
}

static int funder_row_type(const struct builder *b,
			   const Ipsnet__V1__ReportFigures *f);

/* Rows of a breakdown add up to their parent, metric by metric. A region
 * row without a program is known to be empty (it shows its programs): its
 * hidden zeros protect nothing, so it takes no part. Nor does a funder's
 * row in the count of a funding type other than its own, 0 by what the
 * row is. */
static bool protect_group(struct builder *b, Ipsnet__V1__ReportFigures *parent,
			  Ipsnet__V1__ReportGroup *g)
{
	bool changed = false;
	if (g->n_rows == 0)
		return false;
	Ipsnet__V1__ReportCount **parts =
	    arena_alloc(&b->a, g->n_rows * sizeof(*parts));
	if (parts == NULL)
		return false;
	for (int k = 0; k < N_METRICS; k++) {
		size_t n = 0;
		if (scope_zero(b, k))
			continue;
		for (size_t i = 0; i < g->n_rows; i++)
			if ((g->by !=
				 IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION ||
			     g->rows[i]->programs > 0) &&
			    (g->by !=
				 IPSNET__V1__REPORT_GROUPING__REPORT_BY_FUNDER ||
			     (funder_row_counts(b, g->rows[i]) &&
			      (k < M_FUNDED || funder_row_type(b, g->rows[i]) ==
						   k - M_FUNDED))))
				parts[n++] = *metric_slot(g->rows[i], k);
		changed |= protect(*metric_slot(parent, k), parts, n,
				   b->q->exact_scope);
	}
	return changed;
}

/* The funding type a row of the funder breakdown counts: its
 * organisation's kind, OTHER, or no approved funding. */
static int funder_row_type(const struct builder *b,
			   const Ipsnet__V1__ReportFigures *f)
{
	if (strcmp(f->key, "OTHER") == 0)
		return FT_OTHER;
	if (strcmp(f->key, "UNFUNDED") == 0)
		return FT_NONE;
	int64_t o = idmap_find(&b->m->orgs, f->key);
	return o >= 0 && b->m->org[o].kind == ORG_KIND_UWV ? FT_UWV
							   : FT_MUNICIPALITY;
}

/* A funder's row counts one funding type: the rows of a type add up to
 * the parent's count of that type, and a row's enrolled and its type's
 * count are one number. Either way a hidden count could be read off shown
 * ones (the other rows' zeros of a type, hidden too, kept protect_group
 * from seeing it). */
static bool protect_funders(struct builder *b,
			    Ipsnet__V1__ReportFigures *parent,
			    Ipsnet__V1__ReportGroup *g)
{
	bool changed = false;
	Ipsnet__V1__ReportCount **parts =
	    arena_alloc(&b->a, g->n_rows * sizeof(*parts));
	if (parts == NULL)
		return false;
	for (int ft = 0; ft < N_FUND_TYPES; ft++) {
		size_t n = 0;
		if (scope_zero(b, M_FUNDED + ft))
			continue;
		for (size_t i = 0; i < g->n_rows; i++)
			if (funder_row_type(b, g->rows[i]) == ft &&
			    funder_row_counts(b, g->rows[i]))
				parts[n++] = g->rows[i]->enrolled;
		if (n > 0)
			changed |= protect(*metric_slot(parent, M_FUNDED + ft),
					   parts, n, b->q->exact_scope);
	}
	for (size_t i = 0; i < g->n_rows; i++) {
		Ipsnet__V1__ReportFigures *f = g->rows[i];
		Ipsnet__V1__ReportCount *own =
		    *metric_slot(f, M_FUNDED + funder_row_type(b, f));
		if (f->enrolled->suppressed == own->suppressed)
			continue;
		changed |=
		    protect_one(f->enrolled->suppressed ? own : f->enrolled);
	}
	return changed;
}

/* The programs of a region add up to its row, metric by metric: with both
 * breakdowns in a report, a region's row is a shown total of its own
 * programs (the programs elsewhere, hidden or not, do not protect them). */
static bool protect_regions(struct builder *b, Ipsnet__V1__ReportGroup *regions,
			    Ipsnet__V1__ReportGroup *programs)
{
	bool changed = false;
	if (regions == NULL || programs == NULL || programs->n_rows == 0)
		return false;
	Ipsnet__V1__ReportCount **parts =
	    arena_alloc(&b->a, programs->n_rows * sizeof(*parts));
	if (parts == NULL)
		return false;
	for (size_t i = 0; i < regions->n_rows; i++) {
		Ipsnet__V1__ReportFigures *region = regions->rows[i];
		uint32_t r = (uint32_t)strtoul(region->key, NULL, 10);
		for (int k = 0; k < N_METRICS; k++) {
			size_t n = 0;
			if (scope_zero(b, k))
				continue;
			for (size_t j = 0; j < programs->n_rows; j++) {
				int64_t pi = idmap_find(&b->m->programs,
							programs->rows[j]->key);
				if (pi >= 0 && b->m->prog[pi].region == r)
					parts[n++] =
					    *metric_slot(programs->rows[j], k);
			}
			changed |=
			    protect(*metric_slot(region, k), parts, n, false);
		}
	}
	return changed;
}

/* Zeroes what is suppressed and works out the share. */
static void finish_row(struct builder *b, Ipsnet__V1__ReportFigures *f)
{
	Ipsnet__V1__ReportShare *s = arena_alloc(&b->a, sizeof(*s));
	if (s == NULL)
		return;
	ipsnet__v1__report_share__init(s);
	if (f->enrolled->suppressed || f->employed->suppressed)
		s->suppressed = true;
	else if (f->enrolled->value == 0)
		s->undefined = true;
	else
		s->percent = 100.0 * (double)f->employed->value /
			     (double)f->enrolled->value;
	f->employed_share = s;
	for (int k = 0; k < N_METRICS; k++) {
		Ipsnet__V1__ReportCount *c = *metric_slot(f, k);
		if (c->suppressed)
			c->value = 0;
	}
}

static void add_programs(const struct model *m, Ipsnet__V1__ReportFigures *f,
			 bool (*in)(const struct model *, size_t, uint32_t),
			 uint32_t arg)
{
	for (size_t i = 0; i < m->programs.n; i++) {
		if (!in(m, i, arg))
			continue;
		f->programs++;
		f->specialists += m->prog[i].specialists;
	}
}

static bool prog_any(const struct model *m, size_t i, uint32_t arg)
{
	(void)m, (void)i, (void)arg;
	return true;
}

static bool prog_in_scope(const struct model *m, size_t i, uint32_t arg)
{
	(void)arg;
	return m->prog[i].in_scope;
}

static bool prog_in_region(const struct model *m, size_t i, uint32_t region)
{
	return m->prog[i].in_scope && m->prog[i].region == region;
}

static bool prog_is(const struct model *m, size_t i, uint32_t which)
{
	return m->prog[i].in_scope && i == which;
}

static const char *scope_text(struct builder *b)
{
	const struct query *q = b->q;
	const struct model *m = b->m;
	const struct journal_actor *a = q->actor;
	char filter[160] = "";
	if (q->program >= 0)
		snprintf(filter, sizeof(filter), " in program %s",
			 m->programs.names[q->program]);
	else if (q->region != 0)
		snprintf(filter, sizeof(filter), " in region %u", q->region);
	switch (a->org_kind) {
	case ORG_KIND_NETWORK:
		if (q->program >= 0)
			return arena_printf(&b->a, "program %s",
					    m->programs.names[q->program]);
		if (q->region != 0)
			return arena_printf(&b->a, "region %u", q->region);
		return "national";
	case ORG_KIND_GGZ:
		return arena_printf(&b->a, "programs of %s%s", a->org, filter);
	default:
		return arena_printf(&b->a, "trajectories funded by %s%s",
				    a->org, filter);
	}
}

/* Which rows a breakdown has. NETWORK sees every region and funder, cells
 * with nobody in them too; other callers the cells of their own scope. The
 * rows do not depend on the period, so that compared periods line up and an
 * empty cell is not told apart from a small one by its absence. */
static bool region_row(struct builder *b, uint32_t r, const bool *scope_regions)
{
	if (b->q->region != 0 && b->q->region != r)
		return false;
	if (b->network && b->q->program < 0)
		return true;
	return scope_regions[r];
}

static bool funder_row(struct builder *b, size_t org, const bool *scope_funders)
{
	enum org_kind k = b->m->org[org].kind;
	if (k != ORG_KIND_MUNICIPALITY && k != ORG_KIND_UWV)
		return false;
	return b->network || b->every_funder || scope_funders[org];
}

static Ipsnet__V1__ReportGroup *
group(struct builder *b, Ipsnet__V1__ReportGrouping by, size_t max_rows)
{
	Ipsnet__V1__ReportGroup *g = arena_alloc(&b->a, sizeof(*g));
	if (g == NULL)
		return NULL;
	ipsnet__v1__report_group__init(g);
	g->by = by;
	g->rows = arena_alloc(&b->a, (max_rows + 1) * sizeof(*g->rows));
	return g->rows != NULL ? g : NULL;
}

static int build_groups(struct builder *b, const struct pass *ps,
			Ipsnet__V1__ReportPeriodResult *pr,
			const bool *scope_regions, const bool *scope_funders)
{
	const struct model *m = b->m;
	const struct layout *L = &b->L;
	size_t n = 0;
	pr->groups = arena_alloc(&b->a, 3 * sizeof(*pr->groups));
	if (pr->groups == NULL)
		return IPSNET_ENOMEM;

	if (b->q->by[IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION]) {
		Ipsnet__V1__ReportGroup *g =
		    group(b, IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION,
			  N_REGIONS);
		if (g == NULL)
			return IPSNET_ENOMEM;
		for (uint32_t r = 1; r <= N_REGIONS; r++) {
			if (!region_row(b, r, scope_regions))
				continue;
			char key[16], label[32];
			snprintf(key, sizeof(key), "%u", r);
			snprintf(label, sizeof(label), "region %u", r);
			Ipsnet__V1__ReportFigures *f = figures(
			    b, &ps->cells[L->region0 + r], key, label, true);
			if (f == NULL)
				return IPSNET_ENOMEM;
			add_programs(m, f, prog_in_region, r);
			g->rows[g->n_rows++] = f;
		}
		pr->groups[n++] = g;
	}
	if (b->q->by[IPSNET__V1__REPORT_GROUPING__REPORT_BY_PROGRAM]) {
		Ipsnet__V1__ReportGroup *g =
		    group(b, IPSNET__V1__REPORT_GROUPING__REPORT_BY_PROGRAM,
			  m->programs.n);
		if (g == NULL)
			return IPSNET_ENOMEM;
		/* Programs were read in (region, name) order. */
		for (size_t i = 0; i < m->programs.n; i++) {
			if (!m->prog[i].in_scope)
				continue;
			Ipsnet__V1__ReportFigures *f = figures(
			    b, &ps->cells[L->program0 + i],
			    m->programs.names[i], m->prog[i].name, true);
			if (f == NULL)
				return IPSNET_ENOMEM;
			add_programs(m, f, prog_is, (uint32_t)i);
			g->rows[g->n_rows++] = f;
		}
		pr->groups[n++] = g;
	}
	if (b->q->by[IPSNET__V1__REPORT_GROUPING__REPORT_BY_FUNDER]) {
		Ipsnet__V1__ReportGroup *g =
		    group(b, IPSNET__V1__REPORT_GROUPING__REPORT_BY_FUNDER,
			  m->orgs.n + 2);
		if (g == NULL)
			return IPSNET_ENOMEM;
		for (size_t i = 0; i < m->orgs.n; i++) {
			if (!funder_row(b, i, scope_funders))
				continue;
			Ipsnet__V1__ReportFigures *f = figures(
			    b, &ps->cells[L->funder0 + i], m->orgs.names[i],
			    m->org[i].name != NULL ? m->org[i].name
						   : m->orgs.names[i],
			    true);
			if (f == NULL)
				return IPSNET_ENOMEM;
			g->rows[g->n_rows++] = f;
		}
		Ipsnet__V1__ReportFigures *other = figures(
		    b, &ps->cells[L->other], "OTHER", "other funders", true);
		Ipsnet__V1__ReportFigures *none =
		    figures(b, &ps->cells[L->unfunded], "UNFUNDED",
			    "no approved funding", true);
		if (other == NULL || none == NULL)
			return IPSNET_ENOMEM;
		g->rows[g->n_rows++] = other;
		g->rows[g->n_rows++] = none;
		pr->groups[n++] = g;
	}
	pr->n_groups = n;
	for (size_t i = 0; i < n; i++)
		for (size_t k = 0; k < pr->groups[i]->n_rows; k++)
			if (!row_is_whole(pr->groups[i]->rows[k]))
				return IPSNET_ENOMEM;
	return 0;
}

static Ipsnet__V1__ReportQuality *quality_msg(struct builder *b,
					      const struct pass *ps)
{
	Ipsnet__V1__ReportQuality *q = arena_alloc(&b->a, sizeof(*q));
	if (q == NULL)
		return NULL;
	ipsnet__v1__report_quality__init(q);
	bool subject = !b->q->exact_scope;
	Ipsnet__V1__ReportCount **slots[N_QUALITY] = {
	    [Q_WITHOUT_START] = &q->trajectories_without_start,
	    [Q_OUT_OF_ORDER] = &q->transitions_out_of_order,
	    [Q_JOBS_NOT_COMPETITIVE] = &q->jobs_not_competitive,
	    [Q_JOBS_BEFORE_TRAJECTORY] = &q->jobs_before_trajectory,
	    [Q_JOBS_END_BEFORE_START] = &q->jobs_end_before_start,
	    [Q_FUNDING_UNDATED] = &q->funding_without_decision_date,
	    [Q_FUNDING_PENDING] = &q->funding_pending,
	    [Q_SEVERAL_APPROVED] = &q->several_approved,
	    [Q_SEVERAL_PROGRAMS] = &q->clients_in_several_programs,
	};
	for (int i = 0; i < N_QUALITY; i++) {
		*slots[i] = count_msg(b, ps->quality[i], subject);
		if (*slots[i] == NULL)
			return NULL;
		if ((*slots[i])->suppressed)
			(*slots[i])->value = 0;
	}
	return q;
}

static Ipsnet__V1__ReportFigures *scope_row(struct builder *b,
					    const struct pass *ps,
					    const char *key, const char *label)
{
	Ipsnet__V1__ReportFigures *f =
	    figures(b, &ps->cells[b->L.scope], key, label, !b->q->exact_scope);
	if (f != NULL && !row_is_whole(f))
		return NULL;
	if (f != NULL)
		add_programs(b->m, f, prog_in_scope, 0);
	return f;
}

static Ipsnet__V1__ReportFigures *national_row(struct builder *b,
					       const struct pass *ps,
					       const char *key,
					       const char *label)
{
	/* Exact for NETWORK; for everyone else subject to suppression. */
	bool subject = !b->network && b->threshold > 0;
	Ipsnet__V1__ReportFigures *f =
	    figures(b, &ps->cells[b->L.national], key, label, subject);
	if (f != NULL && !row_is_whole(f))
		return NULL;
	if (f != NULL)
		add_programs(b->m, f, prog_any, 0);
	return f;
}

static void protect_and_finish(struct builder *b,
			       Ipsnet__V1__ReportPeriodResult *pr)
{
	Ipsnet__V1__ReportGroup *regions = NULL, *programs = NULL;
	for (size_t i = 0; i < pr->n_groups; i++) {
		if (pr->groups[i]->by ==
		    IPSNET__V1__REPORT_GROUPING__REPORT_BY_REGION)
			regions = pr->groups[i];
		else if (pr->groups[i]->by ==
			 IPSNET__V1__REPORT_GROUPING__REPORT_BY_PROGRAM)
			programs = pr->groups[i];
	}
	bool changed;
	do {
		changed = false;
		changed |= protect_regions(b, regions, programs);
		changed |=
		    protect_funding(b, pr->scope, b->q->exact_scope, false);
		if (pr->national != NULL)
			changed |=
			    protect_funding(b, pr->national, b->network, true);
		for (size_t i = 0; i < pr->n_groups; i++) {
			Ipsnet__V1__ReportGroup *g = pr->groups[i];
			/* A funder's row is one funding type: its enrolled
			 * is that type's count, the other types are 0 by
			 * what the row is (protect_funders). */
			bool funder =
			    g->by ==
			    IPSNET__V1__REPORT_GROUPING__REPORT_BY_FUNDER;
			for (size_t k = 0; k < g->n_rows && !funder; k++)
				changed |= protect_funding(b, g->rows[k], false,
							   false);
			changed |= protect_group(b, pr->scope, g);
			if (funder)
				changed |= protect_funders(b, pr->scope, g);
		}
	} while (changed);
	finish_row(b, pr->scope);
	if (pr->national != NULL)
		finish_row(b, pr->national);
	for (size_t i = 0; i < pr->n_groups; i++)
		for (size_t k = 0; k < pr->groups[i]->n_rows; k++)
			finish_row(b, pr->groups[i]->rows[k]);
}

/* A history year that is one of the report's periods shows the same cell
 * twice: hidden there by the period's breakdowns (a funder's row, a
 * region's), it is hidden in the year's row too, or the year's row would
 * print what the period's hides. */
static void hide_as(Ipsnet__V1__ReportCount *to,
		    const Ipsnet__V1__ReportCount *from)
{
	if (to != NULL && from != NULL && from->suppressed && !to->suppressed) {
		to->suppressed = true;
		to->secondary = from->secondary;
	}
}

static void hide_as_row(Ipsnet__V1__ReportFigures *to,
			Ipsnet__V1__ReportFigures *from)
{
	if (from == NULL)
		return;
	for (int k = 0; k < N_METRICS; k++)
		hide_as(*metric_slot(to, k), *metric_slot(from, k));
}

static void protect_and_finish_row(struct builder *b,
				   Ipsnet__V1__ReportFigures *f, bool exact,
				   bool national)
{
	while (protect_funding(b, f, exact, national))
		;
	finish_row(b, f);
}

static const char *band_of(uint32_t total)
{
	return total >= 115   ? "exemplary"
	       : total >= 100 ? "good"
	       : total >= 74  ? "fair"
			      : "not IPS";
}

static int build_fidelity(struct builder *b, Ipsnet__V1__Report *r,
			  int32_t cutoff, struct model *m)
{
	static const char *const bands[] = {"exemplary", "good", "fair",
					    "not IPS", "not reviewed"};
	uint32_t per_band[5] = {0};

	for (size_t i = 0; i < m->programs.n; i++)
		m->prog[i].review = -1;
	for (size_t k = 0; k < m->n_reviews; k++) {
		const struct m_review *v = &m->reviews[k];
		if (v->date > cutoff)
			continue;
		struct m_program *p = &m->prog[v->program];
		const struct m_review *best =
		    p->review >= 0 ? &m->reviews[p->review] : NULL;
		/* The latest; on one day an independent review before a
		 * self-assessment; then the larger id, to be stable. */
		if (best == NULL || v->date > best->date ||
		    (v->date == best->date &&
		     (v->independent > best->independent ||
		      (v->independent == best->independent &&
		       strcmp(v->id, best->id) > 0))))
			p->review = (int32_t)k;
	}
	r->fidelity =
	    arena_alloc(&b->a, (m->programs.n + 1) * sizeof(*r->fidelity));
	r->bands = arena_alloc(&b->a, 5 * sizeof(*r->bands));
	if (r->fidelity == NULL || r->bands == NULL)
		return IPSNET_ENOMEM;
	for (size_t i = 0; i < m->programs.n; i++) {
		const struct m_program *p = &m->prog[i];
		if (!p->in_scope)
			continue;
		Ipsnet__V1__FidelityScore *s = arena_alloc(&b->a, sizeof(*s));
		if (s == NULL)
			return IPSNET_ENOMEM;
		ipsnet__v1__fidelity_score__init(s);
		s->program_id = m->programs.names[i];
		s->program_name = (char *)p->name;
		s->region = p->region;
		if (p->review >= 0) {
			const struct m_review *v = &m->reviews[p->review];
			s->review_date = (char *)v->date_text;
			s->total = v->total;
			s->band = (char *)band_of(v->total);
			s->independent = v->independent;
			per_band[v->total >= 115   ? 0
				 : v->total >= 100 ? 1
				 : v->total >= 74  ? 2
						   : 3]++;
		} else {
			per_band[4]++;
		}
		r->fidelity[r->n_fidelity++] = s;
	}
	for (int k = 0; k < 5; k++) {
		Ipsnet__V1__FidelityBandCount *c =
		    arena_alloc(&b->a, sizeof(*c));
		if (c == NULL)
			return IPSNET_ENOMEM;
		ipsnet__v1__fidelity_band_count__init(c);
		c->band = (char *)bands[k];
		c->programs = per_band[k];
		r->bands[r->n_bands++] = c;
	}
	return 0;
}

static int pack_answer(Ipsnet__V1__Report *r, uint8_t **out, size_t *out_len)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Status status = IPSNET__V1__STATUS__INIT;
	env.status = &status;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_REPORT;
	env.report = r;
	size_t n = ipsnet__v1__envelope__get_packed_size(&env);
	*out = ipsnet_malloc(n);
	if (*out == NULL)
		return IPSNET_ENOMEM;
	*out_len = ipsnet__v1__envelope__pack(&env, *out);
	return 0;
}

static void note_known_zeros(struct builder *b, const struct pass *ps)
{
	for (int k = 0; k < N_METRICS; k++)
		b->known_zero[k] =
		    b->network && ps->cells[b->L.national].n[k] == 0;
}

static int build_report(struct builder *b, struct model *m,
			Ipsnet__V1__Report *r)
{
	const struct query *q = b->q;
	const struct layout *L = &b->L;
	struct pass ps = {0};
	int rv = IPSNET_ENOMEM;

	ps.cells = ipsnet_calloc(L->n, sizeof(*ps.cells));
	ps.stamp = ipsnet_calloc(L->n, sizeof(*ps.stamp));
	ps.flags = ipsnet_calloc(L->n, sizeof(*ps.flags));
	ps.touched = ipsnet_calloc(L->n, sizeof(*ps.touched));
	bool *scope_regions =
	    arena_alloc(&b->a, (N_REGIONS + 1) * sizeof(bool));
	bool *scope_funders =
	    arena_alloc(&b->a, (m->orgs.n + 1) * sizeof(bool));
	if (ps.cells == NULL || ps.stamp == NULL || ps.flags == NULL ||
	    ps.touched == NULL || scope_regions == NULL ||
	    scope_funders == NULL)
		goto out;
	for (size_t i = 0; i < m->programs.n; i++)
		if (m->prog[i].in_scope)
			scope_regions[m->prog[i].region] = true;
	for (size_t i = 0; i < m->trajs.n; i++)
		if (m->traj[i].in_scope && m->traj[i].funder >= 0)
			scope_funders[m->traj[i].funder] = true;
	b->scope_funders = scope_funders;
	b->every_funder = q->actor->org_kind == ORG_KIND_MUNICIPALITY ||
			  q->actor->org_kind == ORG_KIND_UWV;

	const char *scope = scope_text(b);
	r->scope = (char *)scope;
	r->national_scope = q->national_scope;
	r->periods = arena_alloc(&b->a, q->n_periods * sizeof(*r->periods));
	if (r->periods == NULL || scope == NULL)
		goto out;

	for (size_t i = 0; i < q->n_periods; i++) {
		const struct period *p = &q->periods[i];
		Ipsnet__V1__ReportPeriodResult *pr =
		    arena_alloc(&b->a, sizeof(*pr));
		Ipsnet__V1__ReportPeriod *pp = arena_alloc(&b->a, sizeof(*pp));
		if (pr == NULL || pp == NULL)
			goto out;
		ipsnet__v1__report_period_result__init(pr);
		ipsnet__v1__report_period__init(pp);
		pp->label = (char *)p->label;
		pp->from = (char *)p->from_text;
		pp->to = (char *)p->to_text;
		pr->period = pp;
		count_period(m, L, p, &ps);
		note_known_zeros(b, &ps);
		pr->scope = q->national_scope
				? national_row(b, &ps, "national", "national")
				: scope_row(b, &ps, "scope", scope);
		if (pr->scope == NULL)
			goto out;
		if (!q->national_scope &&
		    (pr->national =
			 national_row(b, &ps, "national", "national")) == NULL)
			goto out;
		if ((rv = build_groups(b, &ps, pr, scope_regions,
				       scope_funders)) != 0)
			goto out;
		rv = IPSNET_ENOMEM;
		if ((pr->quality = quality_msg(b, &ps)) == NULL)
			goto out;
		protect_and_finish(b, pr);
		r->periods[r->n_periods++] = pr;
	}

	if (q->history_years > 0) {
		int last = year_of_day(q->periods[0].to);
		size_t n = q->history_years;
		r->history = arena_alloc(&b->a, n * sizeof(*r->history));
		r->national_history =
		    arena_alloc(&b->a, n * sizeof(*r->national_history));
		if (r->history == NULL || r->national_history == NULL)
			goto out;
		for (int y = last - (int)n + 1; y <= last; y++) {
			char key[16], from[16], to[16];
			snprintf(key, sizeof(key), "%d", y);
			snprintf(from, sizeof(from), "%04d-01-01", y);
			snprintf(to, sizeof(to), "%04d-12-31", y);
			struct period p = {
			    .from = parse_day((const unsigned char *)from),
			    .to = parse_day((const unsigned char *)to),
			    .label = key,
			    .from_text = from,
			    .to_text = to};
			p.until = until_of(q, p.to);
			count_period(m, L, &p, &ps);
			note_known_zeros(b, &ps);
			/* The report's period of this very year, if any. */
			const Ipsnet__V1__ReportPeriodResult *same = NULL;
			for (size_t k = 0; k < r->n_periods; k++)
				if (q->periods[k].from == p.from &&
				    q->periods[k].to == p.to)
					same = r->periods[k];
			Ipsnet__V1__ReportFigures *f =
			    q->national_scope ? national_row(b, &ps, key, key)
					      : scope_row(b, &ps, key, key);
			if (f == NULL)
				goto out;
			if (same != NULL)
				hide_as_row(f, same->scope);
			protect_and_finish_row(b, f, q->exact_scope, false);
			r->history[r->n_history++] = f;
			if (q->national_scope)
				continue;
			f = national_row(b, &ps, key, key);
			if (f == NULL)
				goto out;
			if (same != NULL)
				hide_as_row(f, same->national);
			protect_and_finish_row(b, f, b->network, true);
			r->national_history[r->n_national_history++] = f;
		}
	}
	rv = build_fidelity(b, r, q->periods[0].to, m);
	if (rv == 0 && b->a.failed)
		rv = IPSNET_ENOMEM;
out:
	ipsnet_free(ps.cells);
	ipsnet_free(ps.stamp);
	ipsnet_free(ps.flags);
	ipsnet_free(ps.touched);
	return rv;
}

int report_build(sqlite3 *db, const struct journal_actor *actor,
		 const struct report_settings *settings,
		 const Ipsnet__V1__ReportQuery *rq, uint8_t **out,
		 size_t *out_len, char *why, size_t cap)
{
	struct model m;
	struct query q;
	struct builder b;
	char generated_at[32];
	int rv;

	memset(&m, 0, sizeof(m));
	memset(&q, 0, sizeof(q));
	memset(&b, 0, sizeof(b));
	why[0] = '\0';
	q.actor = actor;
	q.settings = settings;
	b.threshold = settings->small_count_threshold;
	b.network = actor->org_kind == ORG_KIND_NETWORK;
	b.q = &q;
	b.m = &m;

	Ipsnet__V1__Report r = IPSNET__V1__REPORT__INIT;
	Ipsnet__V1__ReportDefinitions defs =
	    IPSNET__V1__REPORT_DEFINITIONS__INIT;
	defs.sustained_months = settings->sustained_months;
	defs.small_count_threshold = settings->small_count_threshold;
	r.definitions = &defs;
	r.generated_at = (char *)util_iso8601(
	    generated_at, sizeof(generated_at), util_now_us());
	if (rq->definitions_only)
		return pack_answer(&r, out, out_len);

	rv = check_query(rq, &q, why, cap);
	if (rv != 0)
		return rv;
	rv = model_load(db, &m,
			actor->org_kind == ORG_KIND_NETWORK ||
				actor->org_kind == ORG_KIND_GGZ
			    ? NULL
			    : actor->org,
			settings->sustained_months, why, cap);
	if (rv != 0)
		goto err_after_model;
	rv = apply_scope(&m, &q, rq, why, cap);
	if (rv != 0)
		goto err_after_model;
	b.L = layout_of(&m);
	r.journal_seq = m.journal_seq;
	rv = build_report(&b, &m, &r);
	if (rv == 0)
		rv = pack_answer(&r, out, out_len);
	if (rv == IPSNET_ENOMEM)
		snprintf(why, cap, "the server is out of memory");
	arena_free(&b.a);
err_after_model:
	model_free(&m);
	return rv;
}

/* ---- the handler -------------------------------------------------------- */

struct report_read {
	struct journal_read jr;
	struct conn *conn;
	Ipsnet__V1__Envelope *req;
	struct journal_actor actor;
	struct report_settings settings;
	char today[16]; /* settings.today */
	uint8_t *answer;
	size_t answer_len;
	uint32_t max_frame_bytes; /* the server's, when the request came */
	uint64_t started_us;
	char why[256];
};

static int report_read_fn(sqlite3 *db, struct journal_read *jr)
{
	struct report_read *rr = container_of(jr, struct report_read, jr);
	int rv = report_build(db, &rr->actor, &rr->settings,
			      rr->req->report_query, &rr->answer,
			      &rr->answer_len, rr->why, sizeof(rr->why));
	/* A report is never sent in a frame over the limit the server
	 * announced: it is refused, its size logged (report_read_done). */
	if (rv == 0 && rr->max_frame_bytes != 0 &&
	    rr->answer_len + CONN_REQUEST_ID_BYTES > rr->max_frame_bytes) {
		rr->answer_len += CONN_REQUEST_ID_BYTES;
		snprintf(rr->why, sizeof(rr->why),
			 "the report takes %zu bytes, more than the server's "
			 "max_frame_bytes of %u bytes, so it is not sent; "
			 "ask for less of it, or the server's operator can "
			 "raise max_frame_bytes",
			 rr->answer_len, rr->max_frame_bytes);
		ipsnet_free(rr->answer);
		rr->answer = NULL;
		rv = IPSNET_EFRAME_TOO_LARGE;
	}
	return rv;
}

static void report_read_done(struct journal_read *jr)
{
	struct report_read *rr = container_of(jr, struct report_read, jr);
	struct conn *c = rr->conn;
	uint64_t ms = (util_mono_us() - rr->started_us) / 1000;

	if (conn__open(c)) {
		if (jr->err != 0)
			conn__send_error(c, rr->req->request_id, jr->err,
					 rr->why[0] != '\0' ? rr->why : NULL);
		else
			conn__send_packed(c, rr->req->request_id, rr->answer,
					  rr->answer_len);
	}
	log_msg(
	    jr->err == 0 ? LOG_INFO : LOG_WARN, "report",
	    "org=%s result=%s bytes=%zu max_frame_bytes=%u duration_ms=%llu",
	    rr->actor.org, jr->err == 0 ? "ok" : ipsnet_err_name(jr->err),
	    rr->answer_len, rr->max_frame_bytes, (unsigned long long)ms);
	ipsnet_free(rr->answer);
	ipsnet__v1__envelope__free_unpacked(rr->req,
					    &ipsnet_protobuf_allocator);
	ipsnet_free(rr);
	conn__request_done(c);
}

void report__handle(struct conn *c, Ipsnet__V1__Envelope *req)
{
	struct report_read *rr = ipsnet_calloc(1, sizeof(*rr));
	if (rr == NULL) {
		conn__send_error(c, req->request_id, IPSNET_ENOMEM,
				 "the server is out of memory");
		conn__request_done(c);
		ipsnet__v1__envelope__free_unpacked(req,
						    &ipsnet_protobuf_allocator);
		return;
	}
	rr->conn = c;
	rr->req = req;
	rr->started_us = util_mono_us();
	rr->max_frame_bytes = c->server->cfg.max_frame_bytes;
	conn__actor(c, &rr->actor);
	rr->settings.sustained_months = c->server->cfg.report.sustained_months;
	rr->settings.small_count_threshold =
	    c->server->cfg.report.small_count_threshold;
	rr->settings.today = nl_date_of_us(rr->today, sizeof(rr->today),
					   (long long)util_now_us());
	rr->jr.fn = report_read_fn;
	rr->jr.done = report_read_done;
	/* A report reads every trajectory of its scope (a quarter of a second
	 * for the nation): on the bulk readers, so that two or three at once
	 * neither hold up the caseworkers' reads nor take their CPU. */
	journal_read_bulk(c->server->journal, &rr->jr);
}
