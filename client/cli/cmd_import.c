/* ipsnet import: clients, trajectories or jobs from a CSV file.
 *
 * The whole file is read and checked first; a CSV syntax error stops
 * everything before anything is sent. Each row is then one change, applied
 * whole or not at all, with an idempotency key derived from the row
 * itself (SHA-256 over "ipsnet-import-v1", the organisation, the kind and
 * the row's normalised values): running the same file again gets the first
 * answers back and applies nothing twice.
 *
 * Requests are pipelined on the asynchronous API, a window of them in
 * flight: first the lookups (clients by BSN, for jobs their trajectories),
 * then the changes. A lost connection is made again once, and the requests
 * that had no answer are sent again with the same keys. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "alloc.h"
#include "cli.h"
#include "csv.h"
#include "format.h"
#include "progress.h"
#include "util.h"
#include "validate.h"

#define BODY(name) IPSNET__V1__ENVELOPE__BODY_##name
#define TS(name) IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_##name

#define MAX_FILE_BYTES (256u * 1024u * 1024u)
#define MAX_COLS 11
#define MAX_HOLDS 20
#define DEFAULT_WINDOW 32
#define TICK_MS 100

/* ---- the kinds and their columns -------------------------------------- */

struct column {
	const char *name;
	bool required;
};

enum { CL_BSN, CL_NAME, CL_BIRTH, CL_MUNICIPALITY, CL_BENEFIT };
static const struct column client_cols[] = {
    {"bsn", true},	    {"name", true},    {"birth_date", true},
    {"municipality", true}, {"benefit", true},
};

enum {
	TR_BSN,
	TR_PROGRAM,
	TR_REFERRED,
	TR_ACCEPTED,
	TR_DECLINED,
	TR_STARTED,
	TR_HOLDS,
	TR_CLOSED,
	TR_CLOSE_REASON,
	TR_CANCELLED,
	TR_NOTE,
};
static const struct column trajectory_cols[] = {
    {"bsn", true},	     {"program", true},	     {"referred_on", true},
    {"accepted_on", false},  {"declined_on", false}, {"started_on", false},
    {"holds", false},	     {"closed_on", false},   {"close_reason", false},
    {"cancelled_on", false}, {"note", false},
};

enum {
	JO_BSN,
	JO_EMPLOYER,
	JO_START,
	JO_HOURS,
	JO_END,
	JO_COMPETITIVE,
	JO_PROGRAM
};
static const struct column job_cols[] = {
    {"bsn", true},	  {"employer", true},
    {"start_date", true}, {"hours_per_week", true},
    {"end_date", false},  {"competitive", false},
    {"program", false},
};

struct row;
struct kind {
	const char *name; /* "clients" */
	const struct column *cols;
	size_t n_cols;
	/* Normalises the row's values in place; 0, or 1 with why. */
	int (*check)(struct row *r, char *why, size_t cap);
};

/* ---- rows --------------------------------------------------------------- */

enum row_state {
	ROW_PENDING,
	ROW_REJECTED,
	ROW_APPLIED, /* now */
	ROW_ALREADY, /* by an earlier run */
	ROW_UNCONFIRMED,
};

struct row {
	unsigned long line;
	char *v[MAX_COLS]; /* normalised values, "" when empty */
	enum row_state state;
	char *reason;
	uint8_t fingerprint[16]; /* the key without the organisation */
	uint8_t key[16];
	size_t lookup; /* index in lookups, or SIZE_MAX */
	const char *trajectory_id;
	bool resent; /* its change went again after a lost connection */
};

struct trajectory_brief {
	char *id;
	char *program_id;
	char *referred_on;
	int status;
};

/* One client, looked up by BSN (and for jobs, her trajectories). */
struct lookup {
	const char *bsn; /* borrowed from a row */
	char *client_id; /* NULL: not found, see reason */
	char *reason;
	bool need_case;
	struct trajectory_brief *tr;
	size_t n_tr;
};

/* ---- values ------------------------------------------------------------- */

/* Replaces a value by another (owned) string. */
static int set_value(struct row *r, int col, const char *s)
{
	char *copy = ipsnet_strdup(s);
	if (copy == NULL)
		return IPSNET_ENOMEM;
	ipsnet_free(r->v[col]);
	r->v[col] = copy;
	return 0;
}

/* The digits of s from *i on (at least min, at most max) as a number, or
 * -1; *i moves past them. */
static int digits(const char *s, size_t *i, int min, int max)
{
	int v = 0, n = 0;
	while (s[*i] >= '0' && s[*i] <= '9' && n < max) {
		v = v * 10 + (s[(*i)++] - '0');
		n++;
	}
	return n >= min && !(s[*i] >= '0' && s[*i] <= '9') ? v : -1;
}

/* A date as YYYY-MM-DD, or as Dutch spreadsheets write it, day first:
 * DD-MM-YYYY or without the leading zeros (1-2-1975). Into out (11
 * bytes). */
static bool norm_date(const char *s, char out[11])
{
	size_t i = 0;
	int d = digits(s, &i, 1, 2), m = -1, y = -1;
	if (d >= 0 && s[i] == '-' && (++i, m = digits(s, &i, 1, 2)) >= 0 &&
	    s[i] == '-' && (++i, y = digits(s, &i, 4, 4)) >= 0 &&
	    s[i] == '\0') {
		snprintf(out, 11, "%04d-%02d-%02d", y, m, d);
	} else {
		util_strlcpy(out, s, 11);
		if (strlen(s) != 10)
			return false;
	}
	return date_valid(out);
}

/* An optional date column: "" stays "". */
static int date_col(struct row *r, int col, const char *name, char *why,
		    size_t cap)
{
	char d[11];
	if (r->v[col][0] == '\0')
		return 0;
	if (!norm_date(r->v[col], d)) {
		snprintf(why, cap,
			 "%s is not a date (YYYY-MM-DD, or DD-MM-YYYY)", name);
		return 1;
	}
	return set_value(r, col, d) != 0 ? -1 : 0;
}

static int bsn_col(struct row *r, int col, char *why, size_t cap)
{
	const char *v = r->v[col];
	if (!bsn_valid(v)) {
		/* A spreadsheet that took the column for numbers dropped
		 * the leading 0; it is not put back by guess. */
		bool eight = strlen(v) == 8 && strspn(v, "0123456789") == 8;
		snprintf(why, cap,
			 "the BSN must be 9 digits that pass the "
			 "11-proof%s",
			 eight ? " (8 digits: a spreadsheet may have dropped "
				 "its leading 0; format the column as text)"
			       : "");
		return 1;
	}
	return 0;
}

static int text_col(struct row *r, int col, const char *name, bool required,
		    size_t max, char *why, size_t cap)
{
	const char *s = r->v[col];
	if (required && s[0] == '\0') {
		snprintf(why, cap, "%s is empty", name);
		return 1;
	}
	if (text_chars(s) > max) {
		snprintf(why, cap, "%s is longer than %zu characters", name,
			 max);
		return 1;
	}
	return 0;
}

static int check_client(struct row *r, char *why, size_t cap)
{
	char d[11];
	int rv;
	if ((rv = bsn_col(r, CL_BSN, why, cap)) != 0 ||
	    (rv = text_col(r, CL_NAME, "name", true, 200, why, cap)) != 0)
		return rv;
	if (!norm_date(r->v[CL_BIRTH], d)) {
		snprintf(
		    why, cap,
		    "birth_date is not a date (YYYY-MM-DD, or DD-MM-YYYY)");
		return 1;
	}
	if (set_value(r, CL_BIRTH, d) != 0)
		return -1;
	for (char *p = r->v[CL_MUNICIPALITY]; *p != '\0'; p++)
		if (*p >= 'a' && *p <= 'z')
			*p = (char)(*p - 'a' + 'A');
	if (!cbs_code_valid(r->v[CL_MUNICIPALITY])) {
		snprintf(why, cap,
			 "municipality must be a CBS code such as GM0363");
		return 1;
	}
	int b = fmt_parse_benefit(r->v[CL_BENEFIT]);
	if (b == 0) {
		snprintf(why, cap,
			 "benefit must be none, participatiewet, wia, wajong, "
			 "ww or other");
		return 1;
	}
	return set_value(r, CL_BENEFIT, fmt_benefit_key(b)) != 0 ? -1 : 0;
}

/* A trajectory's steps from its columns, in order. Returns the number of
 * steps, or -1 with why. */
struct step {
	int status;
	const char *on;
};

static int parse_holds(const char *s, char from[][11], char to[][11], size_t *n,
		       char *why, size_t cap)
{
	*n = 0;
	const char *p = s;
	for (;;) {
		p += strspn(p, " ;,");
		if (*p == '\0')
			return 0;
		size_t len = strcspn(p, " ;,");
		char item[32];
		if (len >= sizeof(item) || *n == MAX_HOLDS)
			goto bad;
		memcpy(item, p, len);
		item[len] = '\0';
		char *slash = strchr(item, '/');
		if (slash == NULL)
			goto bad;
		*slash = '\0';
		if (!norm_date(item, from[*n]))
			goto bad;
		to[*n][0] = '\0';
		if (slash[1] != '\0' && !norm_date(slash + 1, to[*n]))
			goto bad;
		(*n)++;
		p += len;
	}
bad:
	snprintf(why, cap,
		 "holds must be periods FROM/TO (YYYY-MM-DD/YYYY-MM-DD, the "
		 "last may be open: FROM/), separated by spaces, at most %d",
		 MAX_HOLDS);
	return 1;
}

static int trajectory_steps(const struct row *r, struct step *steps,
			    char from[][11], char to[][11], size_t *holds,
			    char *why, size_t cap)
{
	const char *const *v = (const char *const *)r->v;
	size_t n_holds, n = 0;
	if (parse_holds(v[TR_HOLDS], from, to, &n_holds, why, cap) != 0)
		return -1;
	*holds = n_holds;
	steps[n++] = (struct step){TS(REFERRED), v[TR_REFERRED]};
	if (v[TR_ACCEPTED][0] != '\0' && v[TR_DECLINED][0] != '\0') {
		snprintf(why, cap,
			 "a referral is accepted or declined, not "
			 "both");
		return -1;
	}
	if (v[TR_ACCEPTED][0] != '\0')
		steps[n++] = (struct step){TS(ACCEPTED), v[TR_ACCEPTED]};
	if (v[TR_DECLINED][0] != '\0')
		steps[n++] = (struct step){TS(DECLINED), v[TR_DECLINED]};
	if (v[TR_STARTED][0] != '\0') {
		if (v[TR_ACCEPTED][0] == '\0') {
			snprintf(why, cap,
				 "started_on needs accepted_on: a "
				 "trajectory starts after it is "
				 "accepted");
			return -1;
		}
		steps[n++] = (struct step){TS(ACTIVE), v[TR_STARTED]};
	}
	for (size_t i = 0; i < n_holds; i++) {
		if (v[TR_STARTED][0] == '\0') {
			snprintf(why, cap,
				 "holds need started_on: only an "
				 "active trajectory is put on hold");
			return -1;
		}
		if (to[i][0] == '\0' && i + 1 < n_holds) {
			snprintf(why, cap, "only the last hold may be open");
			return -1;
		}
		steps[n++] = (struct step){TS(ON_HOLD), from[i]};
		if (to[i][0] != '\0')
			steps[n++] = (struct step){TS(ACTIVE), to[i]};
	}
	if (v[TR_CLOSED][0] != '\0') {
		if (v[TR_STARTED][0] == '\0') {
			snprintf(why, cap,
				 "closed_on needs started_on: only "
				 "a started trajectory is closed "
				 "(cancelled_on ends one before)");
			return -1;
		}
		if (v[TR_CLOSE_REASON][0] == '\0') {
			snprintf(why, cap, "closed_on needs close_reason");
			return -1;
		}
		steps[n++] = (struct step){TS(CLOSED), v[TR_CLOSED]};
	} else if (v[TR_CLOSE_REASON][0] != '\0') {
		snprintf(why, cap, "close_reason without closed_on");
		return -1;
	}
	if (v[TR_CANCELLED][0] != '\0') {
		if (v[TR_STARTED][0] != '\0' || v[TR_DECLINED][0] != '\0') {
			snprintf(why, cap,
				 "cancelled_on is for a referral "
				 "that was neither declined nor "
				 "started");
			return -1;
		}
		steps[n++] = (struct step){TS(CANCELLED), v[TR_CANCELLED]};
	}
	for (size_t i = 1; i < n; i++) {
		if (strcmp(steps[i].on, steps[i - 1].on) < 0) {
			snprintf(why, cap,
				 "the dates are out of order: %s %s comes "
				 "before %s %s",
				 fmt_trajectory_status(steps[i].status),
				 steps[i].on,
				 fmt_trajectory_status(steps[i - 1].status),
				 steps[i - 1].on);
			return -1;
		}
	}
	return (int)n;
}

#define MAX_STEPS (5 + 2 * MAX_HOLDS)

static int check_trajectory(struct row *r, char *why, size_t cap)
{
	static const struct {
		int col;
		const char *name;
	} dates[] = {
	    {TR_REFERRED, "referred_on"}, {TR_ACCEPTED, "accepted_on"},
	    {TR_DECLINED, "declined_on"}, {TR_STARTED, "started_on"},
	    {TR_CLOSED, "closed_on"},	  {TR_CANCELLED, "cancelled_on"},
	};
	int rv;
	if ((rv = bsn_col(r, TR_BSN, why, cap)) != 0 ||
	    (rv = text_col(r, TR_PROGRAM, "program", true, 63, why, cap)) !=
		0 ||
	    (rv = text_col(r, TR_CLOSE_REASON, "close_reason", false, 1000, why,
			   cap)) != 0 ||
	    (rv = text_col(r, TR_NOTE, "note", false, 4000, why, cap)) != 0)
		return rv;
	if (r->v[TR_REFERRED][0] == '\0') {
		snprintf(why, cap, "referred_on is empty");
		return 1;
	}
	for (size_t i = 0; i < ARRAY_SIZE(dates); i++)
		if ((rv = date_col(r, dates[i].col, dates[i].name, why, cap)) !=
		    0)
			return rv;
	struct step steps[MAX_STEPS];
	char from[MAX_HOLDS][11], to[MAX_HOLDS][11];
	size_t n_holds;
	if (trajectory_steps(r, steps, from, to, &n_holds, why, cap) < 0)
		return 1;
	/* The holds, normalised: "FROM/TO FROM/" */
	char holds[MAX_HOLDS * 23 + 1] = "";
	for (size_t i = 0; i < n_holds; i++) {
		size_t len = strlen(holds);
		snprintf(holds + len, sizeof(holds) - len, "%s%s/%s",
			 i > 0 ? " " : "", from[i], to[i]);
	}
	return set_value(r, TR_HOLDS, holds) != 0 ? -1 : 0;
}

static int parse_yes_no(const char *s)
{
	static const char *const yes[] = {"yes", "y", "true", "1", "ja", "j"};
	static const char *const no[] = {"no", "n", "false", "0", "nee"};
	for (size_t i = 0; i < ARRAY_SIZE(yes); i++)
		if (strcasecmp(s, yes[i]) == 0)
			return 1;
	for (size_t i = 0; i < ARRAY_SIZE(no); i++)
		if (strcasecmp(s, no[i]) == 0)
			return 0;
	return -1;
}

static int check_job(struct row *r, char *why, size_t cap)
{
	double h;
	int rv;
	if ((rv = bsn_col(r, JO_BSN, why, cap)) != 0 ||
	    (rv = text_col(r, JO_EMPLOYER, "employer", true, 200, why, cap)) !=
		0 ||
	    (rv = text_col(r, JO_PROGRAM, "program", false, 63, why, cap)) != 0)
		return rv;
	if (r->v[JO_START][0] == '\0') {
		snprintf(why, cap, "start_date is empty");
		return 1;
	}
	if ((rv = date_col(r, JO_START, "start_date", why, cap)) != 0 ||
	    (rv = date_col(r, JO_END, "end_date", why, cap)) != 0)
		return rv;
	if (r->v[JO_END][0] != '\0' &&
	    strcmp(r->v[JO_END], r->v[JO_START]) < 0) {
		snprintf(why, cap, "end_date is before start_date");
		return 1;
	}
	if (!cli_parse_hours(r->v[JO_HOURS], &h)) {
		snprintf(why, cap,
			 "hours_per_week must be more than 0 and at most 80");
		return 1;
	}
	char hours[32];
	snprintf(hours, sizeof(hours), "%.2f", h);
	if (set_value(r, JO_HOURS, hours) != 0)
		return -1;
	int c = r->v[JO_COMPETITIVE][0] == '\0'
		    ? 1
		    : parse_yes_no(r->v[JO_COMPETITIVE]);
	if (c < 0) {
		snprintf(why, cap, "competitive must be yes or no");
		return 1;
	}
	return set_value(r, JO_COMPETITIVE, c ? "yes" : "no") != 0 ? -1 : 0;
}

static const struct kind kinds[] = {
    {"clients", client_cols, ARRAY_SIZE(client_cols), check_client},
    {"trajectories", trajectory_cols, ARRAY_SIZE(trajectory_cols),
     check_trajectory},
    {"jobs", job_cols, ARRAY_SIZE(job_cols), check_job},
};

/* ---- the import --------------------------------------------------------- */

enum phase_no { P_FIND, P_CASES, P_APPLY, P_DONE };

struct import;
struct phase {
	size_t n;
	uint8_t *state; /* per item: 0 to send, 1 in flight, 2 done */
	size_t next, inflight, finished;
	/* Sends item i: 1 when sent, 0 when there is nothing to send for it
	 * (done at once), or an error. */
	int (*send)(struct import *im, size_t i);
	void (*answer)(struct import *im, size_t i, int status,
		       const char *message, const Ipsnet__V1__Envelope *resp);
};

struct import {
	struct cli *cli;
	const char *path;
	const struct kind *kind;
	struct row *rows;
	size_t n_rows;
	struct lookup *lookups;
	size_t n_lookups;
	size_t window;
	EVP_MD_CTX *md;

	uv_loop_t loop;
	uv_timer_t tick;
	struct ipsnet_conn *conn;
	bool connected_once;
	bool retried;
	char org[64];
	uint64_t head_seq; /* the journal head when the import began */
	int fatal;	   /* stops everything: the code */
	char fatal_msg[400];
	char lost_msg[400]; /* why the connection ended early */

	enum phase_no phase_no;
	struct phase ph;
	uint64_t last_answer_us;

	struct progress bar;
};

struct ticket {
	struct import *im;
	size_t i;
};

static void reject(struct row *r, const char *why)
{
	if (r->state != ROW_PENDING)
		return;
	r->state = ROW_REJECTED;
	r->reason = ipsnet_strdup(why);
}

static void derive(struct import *im, const char *org, const struct row *r,
		   uint8_t out[16])
{
	static const char tag[] = "ipsnet-import-v1";
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len;
	EVP_DigestInit_ex(im->md, EVP_sha256(), NULL);
	EVP_DigestUpdate(im->md, tag, sizeof(tag)); /* with its NUL */
	EVP_DigestUpdate(im->md, org, strlen(org) + 1);
	EVP_DigestUpdate(im->md, im->kind->name, strlen(im->kind->name) + 1);
	for (size_t c = 0; c < im->kind->n_cols; c++)
		EVP_DigestUpdate(im->md, r->v[c], strlen(r->v[c]) + 1);
	EVP_DigestFinal_ex(im->md, md, &len);
	memcpy(out, md, 16);
}

/* Whether no answer came because the connection failed. */
static bool lost(int status, const Ipsnet__V1__Envelope *resp)
{
	int s = ipsnet_err_status(status);
	return status != 0 && resp == NULL &&
	       (s == IPSNET__V1__CODE__UNAVAILABLE ||
		s == IPSNET__V1__CODE__DEADLINE_EXCEEDED);
}

static size_t rows_finished(const struct import *im)
{
	size_t n = 0;
	for (size_t i = 0; i < im->n_rows; i++)
		n += im->rows[i].state != ROW_PENDING;
	return n;
}

static void start_phase(struct import *im, enum phase_no p);
static void pump(struct import *im);

static void on_answer(struct ipsnet_conn *c, int status, const char *message,
		      const Ipsnet__V1__Envelope *resp, void *arg)
{
	struct ticket *t = arg;
	struct import *im = t->im;
	size_t i = t->i;
	ipsnet_free(t);
	im->last_answer_us = util_mono_us();
	im->ph.inflight--;
	if (lost(status, resp)) {
		im->ph.state[i] = 0; /* to be sent again, same key */
		if (im->phase_no == P_APPLY)
			im->rows[i].resent = true;
		if (i < im->ph.next)
			im->ph.next = i;
		return;
	}
	if (status != 0 && resp != NULL &&
	    ipsnet_err_status(status) == IPSNET__V1__CODE__UNAVAILABLE) {
		/* The server cannot act now (its disk is full, its writes
		 * stopped): not a judgement of the row, and every row after
		 * it would get the same. Nothing more is sent; the row stays
		 * to be confirmed by a run of the same import later. */
		if (im->fatal == 0) {
			im->fatal = status;
			snprintf(im->fatal_msg, sizeof(im->fatal_msg),
				 "the server cannot act now (%s)",
				 message != NULL && message[0] != '\0'
				     ? message
				     : ipsnet_strerror(status));
		}
		pump(im);
		return;
	}
	im->ph.state[i] = 2;
	im->ph.finished++;
	im->ph.answer(im, i, status, message, resp);
	pump(im);
}

/* Sends what the window allows; moves on when the phase is done. */
static void pump(struct import *im)
{
	while (im->phase_no != P_DONE && im->conn != NULL) {
		struct phase *ph = &im->ph;
		while (im->fatal == 0 && ph->inflight < im->window &&
		       ph->next < ph->n) {
			size_t i = ph->next++;
			if (ph->state[i] != 0)
				continue;
			int rv = ph->send(im, i);
			if (rv == 1) {
				ph->state[i] = 1;
				ph->inflight++;
			} else if (rv == 0) {
				ph->state[i] = 2;
				ph->finished++;
			} else if (rv == IPSNET_ENOMEM) {
				/* The connection goes on and nothing would
				 * send it again: the import stops once the
				 * answers in flight are in. */
				ph->next = i;
				im->fatal = rv;
				snprintf(im->fatal_msg, sizeof(im->fatal_msg),
					 "out of memory");
			} else {
				/* the connection is going: sent again
				 * after reconnecting */
				ph->next = i;
				return;
			}
		}
		if (im->fatal != 0) {
			if (ph->inflight == 0) {
				im->phase_no = P_DONE;
				ipsnet_close(im->conn);
			}
			return;
		}
		if (ph->finished < ph->n)
			return;
		start_phase(im, (enum phase_no)(im->phase_no + 1));
	}
}

static int request(struct import *im, Ipsnet__V1__Envelope *req, size_t i)
{
	struct ticket *t = ipsnet_malloc(sizeof(*t));
	if (t == NULL)
		return IPSNET_ENOMEM;
	t->im = im;
	t->i = i;
	int rv = ipsnet_request(im->conn, req, on_answer, t);
	if (rv == IPSNET_EFRAME_TOO_LARGE) {
		/* Refused before it was sent; sending it again would not
		 * help, and the connection goes on. */
		char why[160];
		ipsnet_free(t);
		snprintf(
		    why, sizeof(why),
		    "the request is %zu bytes; the server takes at most %u "
		    "bytes",
		    ipsnet__v1__envelope__get_packed_size(req),
		    ipsnet_conn_hello(im->conn)->max_frame_bytes);
		im->ph.answer(im, i, rv, why, NULL);
		return 0;
	}
	if (rv != 0) {
		ipsnet_free(t);
		return rv;
	}
	return 1;
}

/* -- phase 1: clients by BSN -- */

static int send_find(struct import *im, size_t i)
{
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__FindClient m = IPSNET__V1__FIND_CLIENT__INIT;
	m.bsn = (char *)im->lookups[i].bsn;
	req.body_case = BODY(FIND_CLIENT);
	req.find_client = &m;
	return request(im, &req, i);
}

static void answer_find(struct import *im, size_t i, int status,
			const char *message, const Ipsnet__V1__Envelope *resp)
{
	struct lookup *l = &im->lookups[i];
	const Ipsnet__V1__Client *c =
	    status == 0 && resp != NULL && resp->body_case == BODY(CASE_VIEW)
		? resp->case_view->client
		: NULL;
	if (c != NULL && c->id != NULL && c->id[0] != '\0') {
		l->client_id = ipsnet_strdup(c->id);
		if (l->client_id != NULL)
			return;
		message = "out of memory";
	} else if (status == 0 ||
		   ipsnet_err_status(status) == IPSNET__V1__CODE__NOT_FOUND) {
		message = "no client with this BSN is registered by your "
			  "organisation (import the clients first)";
	}
	char why[400];
	snprintf(why, sizeof(why), "%s", message != NULL ? message : "");
	l->reason = ipsnet_strdup(why[0] != '\0' ? why : "client not found");
}

/* -- phase 2 (jobs with a program): the client's trajectories -- */

static int send_case(struct import *im, size_t i)
{
	struct lookup *l = &im->lookups[i];
	if (!l->need_case || l->client_id == NULL)
		return 0;
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__ShowCase m = IPSNET__V1__SHOW_CASE__INIT;
	m.client_id = l->client_id;
	req.body_case = BODY(SHOW_CASE);
	req.show_case = &m;
	return request(im, &req, i);
}

static void answer_case(struct import *im, size_t i, int status,
			const char *message, const Ipsnet__V1__Envelope *resp)
{
	struct lookup *l = &im->lookups[i];
	if (status != 0 || resp == NULL || resp->body_case != BODY(CASE_VIEW)) {
		l->reason =
		    ipsnet_strdup(message != NULL && message[0] != '\0'
				      ? message
				      : "cannot read the client's case");
		return;
	}
	const Ipsnet__V1__CaseView *v = resp->case_view;
	l->tr = ipsnet_calloc(v->n_trajectories + 1, sizeof(*l->tr));
	if (l->tr == NULL) {
		l->reason = ipsnet_strdup("out of memory");
		return;
	}
	for (size_t k = 0; k < v->n_trajectories; k++) {
		const Ipsnet__V1__Trajectory *t = v->trajectories[k];
		struct trajectory_brief *b = &l->tr[l->n_tr++];
		b->id = ipsnet_strdup(t->id);
		b->program_id = ipsnet_strdup(t->program_id);
		b->referred_on = ipsnet_strdup(t->referred_on);
		b->status = t->status;
	}
}

/* The trajectory of the client in the program that a job starting on
 * start belongs to: of those not declined or cancelled, the last one
 * referred on or before start (else the last one). */
static const char *job_trajectory(const struct lookup *l, const char *program,
				  const char *start)
{
	const struct trajectory_brief *best = NULL;
	for (size_t k = 0; k < l->n_tr; k++) {
		const struct trajectory_brief *b = &l->tr[k];
		if (b->id == NULL || b->program_id == NULL ||
		    b->referred_on == NULL ||
		    strcmp(b->program_id, program) != 0 ||
		    b->status == TS(DECLINED) || b->status == TS(CANCELLED))
			continue;
		bool before = strcmp(b->referred_on, start) <= 0;
		bool best_before =
		    best != NULL && strcmp(best->referred_on, start) <= 0;
		if (best == NULL || (before && !best_before) ||
		    (before == best_before &&
		     strcmp(b->referred_on, best->referred_on) > 0))
			best = b;
	}
	return best != NULL ? best->id : NULL;
}

/* After the lookups: each row gets its client (and trajectory), or is
 * rejected with why not. */
static void resolve_rows(struct import *im)
{
	for (size_t i = 0; i < im->n_rows; i++) {
		struct row *r = &im->rows[i];
		if (r->state != ROW_PENDING || r->lookup == SIZE_MAX)
			continue;
		const struct lookup *l = &im->lookups[r->lookup];
		if (l->client_id == NULL) {
			reject(r, l->reason != NULL ? l->reason
						    : "client not found");
			continue;
		}
		if (im->kind->cols != job_cols || r->v[JO_PROGRAM][0] == '\0')
			continue;
		if (l->reason != NULL) {
			reject(r, l->reason);
			continue;
		}
		r->trajectory_id =
		    job_trajectory(l, r->v[JO_PROGRAM], r->v[JO_START]);
		if (r->trajectory_id == NULL) {
			/* Room for the whole program (check_job: at most 63
			 * characters, 4 bytes at most each): never cut. */
			char why[400];
			snprintf(why, sizeof(why),
				 "the client has no trajectory in program "
				 "'%s' (import the trajectories first)",
				 r->v[JO_PROGRAM]);
			reject(r, why);
		}
	}
}

/* -- phase 3: the changes -- */

static int send_change(struct import *im, size_t i)
{
	struct row *r = &im->rows[i];
	if (r->state != ROW_PENDING)
		return 0;
	const char *const *v = (const char *const *)r->v;
	const char *client_id =
	    r->lookup != SIZE_MAX ? im->lookups[r->lookup].client_id : NULL;
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
	req.idempotency_key.data = r->key;
	req.idempotency_key.len = sizeof(r->key);

	if (im->kind->cols == client_cols) {
		Ipsnet__V1__RegisterClient m =
		    IPSNET__V1__REGISTER_CLIENT__INIT;
		m.bsn = (char *)v[CL_BSN];
		m.name = (char *)v[CL_NAME];
		m.birth_date = (char *)v[CL_BIRTH];
		m.municipality = (char *)v[CL_MUNICIPALITY];
		m.benefit = fmt_parse_benefit(v[CL_BENEFIT]);
		req.body_case = BODY(REGISTER_CLIENT);
		req.register_client = &m;
		return request(im, &req, i);
	}
	if (im->kind->cols == trajectory_cols) {
		struct step steps[MAX_STEPS];
		char from[MAX_HOLDS][11], to[MAX_HOLDS][11], why[200];
		Ipsnet__V1__TrajectoryStep s[MAX_STEPS], *sp[MAX_STEPS];
		size_t n_holds;
		int n = trajectory_steps(r, steps, from, to, &n_holds, why,
					 sizeof(why));
		if (n < 0) {
			reject(r, why); /* checked before: cannot happen */
			return 0;
		}
		for (int k = 0; k < n; k++) {
			ipsnet__v1__trajectory_step__init(&s[k]);
			s[k].status = steps[k].status;
			s[k].on = (char *)steps[k].on;
			sp[k] = &s[k];
		}
		Ipsnet__V1__ImportTrajectory m =
		    IPSNET__V1__IMPORT_TRAJECTORY__INIT;
		m.client_id = (char *)client_id;
		m.program_id = (char *)v[TR_PROGRAM];
		m.note = (char *)v[TR_NOTE];
		m.n_steps = (size_t)n;
		m.steps = sp;
		m.close_reason = (char *)v[TR_CLOSE_REASON];
		req.body_case = BODY(IMPORT_TRAJECTORY);
		req.import_trajectory = &m;
		return request(im, &req, i);
	}
	Ipsnet__V1__AddJob m = IPSNET__V1__ADD_JOB__INIT;
	m.client_id = (char *)client_id;
	m.trajectory_id =
	    (char *)(r->trajectory_id != NULL ? r->trajectory_id : "");
	m.employer = (char *)v[JO_EMPLOYER];
	m.start_date = (char *)v[JO_START];
	m.end_date = (char *)v[JO_END];
	m.hours_per_week = strtod(v[JO_HOURS], NULL);
	m.competitive = strcmp(v[JO_COMPETITIVE], "yes") == 0;
	req.body_case = BODY(ADD_JOB);
	req.add_job = &m;
	return request(im, &req, i);
}

static void answer_change(struct import *im, size_t i, int status,
			  const char *message, const Ipsnet__V1__Envelope *resp)
{
	struct row *r = &im->rows[i];
	if (status == 0 && resp != NULL && resp->body_case == BODY(CHANGE_OK)) {
		/* Applied by this run: after its Hello, and not by another
		 * run of the same rows at the same time (the server answers
		 * that one's first answer, marked replayed), unless it may
		 * be this run's own first try, whose answer was lost. */
		r->state = resp->change_ok->seq > im->head_seq &&
				   (!resp->replayed || r->resent)
			       ? ROW_APPLIED
			       : ROW_ALREADY;
		return;
	}
	reject(r,
	       message != NULL && message[0] != '\0'
		   ? message
		   : ipsnet_strerror(status != 0 ? status : IPSNET_EPROTOCOL));
}

static void start_phase(struct import *im, enum phase_no p)
{
	static const struct {
		int (*send)(struct import *im, size_t i);
		void (*answer)(struct import *im, size_t i, int status,
			       const char *message,
			       const Ipsnet__V1__Envelope *resp);
	} phases[] = {
	    [P_FIND] = {send_find, answer_find},
	    [P_CASES] = {send_case, answer_case},
	    [P_APPLY] = {send_change, answer_change},
	};
	if (p == P_APPLY)
		resolve_rows(im);
	im->phase_no = p;
	ipsnet_free(im->ph.state);
	memset(&im->ph, 0, sizeof(im->ph));
	if (p == P_DONE) {
		ipsnet_close(im->conn);
		return;
	}
	im->ph.n = p == P_APPLY ? im->n_rows : im->n_lookups;
	im->ph.state = ipsnet_calloc(im->ph.n + 1, 1);
	im->ph.send = phases[p].send;
	im->ph.answer = phases[p].answer;
	if (im->ph.state == NULL) {
		im->fatal = IPSNET_ENOMEM;
		snprintf(im->fatal_msg, sizeof(im->fatal_msg), "out of memory");
		im->phase_no = P_DONE;
		ipsnet_close(im->conn);
	}
}

/* ---- the connection ----------------------------------------------------- */

static int connect_server(struct import *im);

static void on_ready(struct ipsnet_conn *c, int status, const char *message,
		     void *arg)
{
	struct import *im = arg;
	if (status != 0) {
		snprintf(im->lost_msg, sizeof(im->lost_msg), "%s", message);
		return; /* on_closed follows */
	}
	im->last_answer_us = util_mono_us();
	if (!im->connected_once) {
		const Ipsnet__V1__HelloOk *h = ipsnet_conn_hello(c);
		/* Clients, referrals and jobs are a GGZ's to make: anyone
		 * else would have every row refused alike, one line each. */
		if (h->organisation_kind != IPSNET__V1__ORG_KIND__GGZ) {
			im->fatal = IPSNET_EPERMISSION;
			snprintf(im->fatal_msg, sizeof(im->fatal_msg),
				 "an import makes clients, referrals and jobs, "
				 "which a GGZ makes; '%s' is %s, so nothing "
				 "was sent (is this the right --profile?)",
				 h->organisation_id,
				 h->organisation_kind ==
					 IPSNET__V1__ORG_KIND__MUNICIPALITY
				     ? "a municipality"
				 : h->organisation_kind ==
					 IPSNET__V1__ORG_KIND__UWV
				     ? "UWV"
				     : "the network operator");
			im->phase_no = P_DONE;
			ipsnet_close(c);
			return;
		}
		im->connected_once = true;
		util_strlcpy(im->org, h->organisation_id, sizeof(im->org));
		im->head_seq = h->journal_seq;
		for (size_t i = 0; i < im->n_rows; i++)
			derive(im, im->org, &im->rows[i], im->rows[i].key);
		start_phase(im, im->n_lookups > 0 ? P_FIND : P_APPLY);
	} else {
		im->ph.next = 0; /* what had no answer goes again */
	}
	pump(im);
}

static void on_closed(struct ipsnet_conn *c, int status, const char *message,
		      void *arg)
{
	struct import *im = arg;
	im->conn = NULL;
	if (im->phase_no != P_DONE) {
		if (im->lost_msg[0] == '\0')
			snprintf(im->lost_msg, sizeof(im->lost_msg), "%s",
				 message != NULL && message[0] != '\0'
				     ? message
				     : ipsnet_strerror(status));
		if (im->connected_once && !im->retried && im->fatal == 0) {
			im->retried = true;
			im->lost_msg[0] = '\0';
			if (connect_server(im) == 0)
				return;
		}
		if (!im->connected_once) {
			im->fatal = status != 0 ? status : IPSNET_ECLOSED;
			snprintf(im->fatal_msg, sizeof(im->fatal_msg), "%s",
				 im->lost_msg);
		}
	}
	uv_close((uv_handle_t *)&im->tick, NULL);
}

static const struct ipsnet_callbacks callbacks = {
    .on_ready = on_ready,
    .on_closed = on_closed,
};

static int connect_server(struct import *im)
{
	struct ipsnet_options o = cli_options(im->cli);
	o.timeout_ms = im->cli->timeout_ms;
	o.software = "ipsnet/" IPSNET_VERSION;
	int rv = ipsnet_connect(&im->loop, &o, &callbacks, im, &im->conn,
				im->lost_msg, sizeof(im->lost_msg));
	if (rv != 0)
		im->conn = NULL;
	return rv;
}

static void on_tick(uv_timer_t *t)
{
	struct import *im = container_of(t, struct import, tick);
	uint64_t now = util_mono_us();
	im->bar.done = rows_finished(im);
	progress_draw(&im->bar, now);
	/* The asynchronous API has no deadline per request: a server that
	 * stops answering is given up on here, and the requests are sent
	 * again once on a new connection. */
	if (im->conn != NULL && im->ph.inflight > 0 &&
	    now - im->last_answer_us > (uint64_t)im->cli->timeout_ms * 1000) {
		snprintf(im->lost_msg, sizeof(im->lost_msg),
			 "no answer from the server within %u ms",
			 im->cli->timeout_ms);
		im->last_answer_us = now; /* close once */
		ipsnet_close(im->conn);
	}
}

/* ---- reading the file --------------------------------------------------- */

static int read_all(const char *path, char **out, size_t *len)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL)
		return cli_fail(IPSNET_EINVAL, "cannot read %s: %s", path,
				strerror(errno));
	char *buf = NULL;
	size_t n = 0, cap = 0;
	int why = 0;
	for (;;) {
		if (cap - n < 65536) {
			cap = cap == 0 ? 65536 : cap * 2;
			char *bigger = cap > MAX_FILE_BYTES + 65536
					   ? NULL
					   : ipsnet_realloc(buf, cap + 1);
			if (bigger == NULL) {
				ipsnet_free(buf);
				if (f != stdin)
					fclose(f);
				return cli_fail(IPSNET_EINVAL,
						"%s is larger than %u MiB; "
						"split it",
						path, MAX_FILE_BYTES >> 20);
			}
			buf = bigger;
		}
		errno = 0;
		size_t got = fread(buf + n, 1, cap - n, f);
		n += got;
		if (got == 0) {
			why = errno; /* a directory: EISDIR */
			break;
		}
	}
	bool failed = ferror(f) != 0;
	if (f != stdin)
		fclose(f);
	if (failed) {
		ipsnet_free(buf);
		return cli_fail(IPSNET_EINVAL, "cannot read %s%s%s", path,
				why != 0 ? ": " : "",
				why != 0 ? strerror(why) : "");
	}
	buf[n] = '\0';
	*out = buf;
	*len = n;
	return 0;
}

/* "Birth date" -> "birth_date" */
static void column_key(const char *in, char *out, size_t cap)
{
	size_t n = 0;
	in += strspn(in, " \t");
	for (; *in != '\0' && n + 1 < cap; in++) {
		char ch = *in;
		if (ch >= 'A' && ch <= 'Z')
			ch = (char)(ch - 'A' + 'a');
		if (ch == ' ' || ch == '-' || ch == '\t')
			ch = '_';
		out[n++] = ch;
	}
	while (n > 0 && out[n - 1] == '_')
		n--;
	out[n] = '\0';
}

static const struct kind *kind_named(const char *s)
{
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
		if (strcmp(s, kinds[k].name) == 0)
			return &kinds[k];
	return NULL;
}

/* The kind from the file's name ("clients-2026.csv"), else from the
 * header's columns; *by_name says which. */
static const struct kind *guess_kind(const char *path, char **header, size_t n,
				     bool *by_name)
{
	const char *base = strrchr(path, '/');
	base = base != NULL ? base + 1 : path;
	static const char *const stems[] = {"client", "traject", "job"};
	char lower[256];
	column_key(base, lower, sizeof(lower));
	*by_name = true;
	for (size_t k = 0; k < ARRAY_SIZE(kinds); k++)
		if (strstr(lower, stems[k]) != NULL)
			return &kinds[k];
	*by_name = false;
	for (size_t i = 0; i < n; i++) {
		char key[64];
		column_key(header[i], key, sizeof(key));
		if (strcmp(key, "referred_on") == 0)
			return &kinds[1];
		if (strcmp(key, "employer") == 0)
			return &kinds[2];
		if (strcmp(key, "birth_date") == 0)
			return &kinds[0];
	}
	return NULL;
}

static void columns_list(const struct kind *k, char *buf, size_t cap)
{
	buf[0] = '\0';
	for (size_t c = 0; c < k->n_cols; c++) {
		size_t len = strlen(buf);
		snprintf(buf + len, cap - len, "%s%s%s", c > 0 ? ", " : "",
			 k->cols[c].name,
			 k->cols[c].required ? "" : " (optional)");
	}
}

/* Whether s is empty but for spaces and tabs. */
static bool blank(const char *s)
{
	return s[strspn(s, " \t")] == '\0';
}

/* Whether every field of a record is blank: a spreadsheet's empty row. */
static bool blank_record(char **fields, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!blank(fields[i]))
			return false;
	return true;
}

/* Maps the header's columns to the kind's: map[i] is the column of field
 * i, or -1 for a column without a name (an empty cell). Spreadsheets write
 * empty cells after the last column used, in the header too: *n_named is
 * the number of fields up to the last one with a name. 0 or the exit code
 * (printed). */
static int read_header(const struct import *im, char **fields, size_t n,
		       int *map, size_t *n_named, unsigned long line,
		       const char *hint)
{
	bool seen[MAX_COLS] = {0};
	char known[400];
	columns_list(im->kind, known, sizeof(known));
	for (*n_named = n; *n_named > 0 && blank(fields[*n_named - 1]);)
		map[--*n_named] = -1;
	for (size_t i = 0; i < *n_named; i++) {
		char key[64];
		map[i] = -1;
		/* An empty cell between named ones (a spreadsheet's spacer
		 * column) names no column, as those after the last: a value
		 * under it refuses its row (take_row). */
		if (blank(fields[i]))
			continue;
		column_key(fields[i], key, sizeof(key));
		for (size_t c = 0; c < im->kind->n_cols; c++)
			if (strcmp(key, im->kind->cols[c].name) == 0)
				map[i] = (int)c;
		if (map[i] < 0)
			return cli_fail(IPSNET_EINVAL,
					"%s:%lu: unknown column '%s'; the "
					"columns of %s are: %s%s",
					im->path, line, fields[i],
					im->kind->name, known, hint);
		if (seen[map[i]])
			return cli_fail(IPSNET_EINVAL,
					"%s:%lu: column '%s' appears twice",
					im->path, line, fields[i]);
		seen[map[i]] = true;
	}
	for (size_t c = 0; c < im->kind->n_cols; c++)
		if (im->kind->cols[c].required && !seen[c])
			return cli_fail(IPSNET_EINVAL,
					"%s:%lu: no column '%s'; the columns "
					"of %s are: %s%s",
					im->path, line, im->kind->cols[c].name,
					im->kind->name, known, hint);
	return 0;
}

/* The spreadsheet's name of column i (0-based): A, B, ..., Z, AA, ... */
static void column_letters(size_t i, char out[8])
{
	char rev[8];
	size_t n = 0;
	do {
		rev[n++] = (char)('A' + i % 26);
		i = i / 26;
	} while (i-- > 0 && n < sizeof(rev) - 1);
	for (size_t k = 0; k < n; k++)
		out[k] = rev[n - 1 - k];
	out[n] = '\0';
}

/* A row from a record: values trimmed and checked. The fields after the
 * header's n_named must be empty, and may be missing; so may fields after
 * the header's last (a spreadsheet's trailing empty cells). 0, or -1 when
 * out of memory. */
static int take_row(struct import *im, struct row *r, char **fields, size_t n,
		    size_t n_named, size_t n_header, const int *map,
		    unsigned long line)
{
	char why[300];
	memset(r, 0, sizeof(*r));
	r->line = line;
	r->lookup = SIZE_MAX;
	for (size_t c = 0; c < im->kind->n_cols; c++)
		if ((r->v[c] = ipsnet_strdup("")) == NULL)
			return -1;
	if (n < n_named) {
		snprintf(why, sizeof(why),
			 "%zu field%s where the header has %zu", n,
			 n == 1 ? "" : "s", n_header);
		reject(r, why);
		return 0;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s = fields[i] + strspn(fields[i], " \t");
		size_t len = strlen(s);
		while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
			len--;
		int col = i < n_header ? map[i] : -1;
		if (col < 0 && len > 0) {
			char letters[8];
			column_letters(i, letters);
			snprintf(why, sizeof(why),
				 "column %zu (%s) has a value but no name in "
				 "the first row; name the column or empty it",
				 i + 1, letters);
			reject(r, why);
			return 0;
		}
		if (col < 0)
			continue;
		char *v = ipsnet_malloc(len + 1);
		if (v == NULL)
			return -1;
		memcpy(v, s, len);
		v[len] = '\0';
		ipsnet_free(r->v[col]);
		r->v[col] = v;
		if (!utf8_valid(v)) {
			snprintf(why, sizeof(why),
				 "%s is not UTF-8 text; save the file as "
				 "UTF-8",
				 im->kind->cols[col].name);
			reject(r, why);
			return 0;
		}
	}
	int rv = im->kind->check(r, why, sizeof(why));
	if (rv < 0)
		return -1;
	if (rv > 0)
		reject(r, why);
	return 0;
}

/* ---- duplicates and lookups -------------------------------------------- */

static int by_fingerprint(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a;
	const struct row *y = *(const struct row *const *)b;
	int c = memcmp(x->fingerprint, y->fingerprint, 16);
	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

static int by_bsn(const void *a, const void *b)
{
	const struct row *x = *(const struct row *const *)a;
	const struct row *y = *(const struct row *const *)b;
	int c = strcmp(x->v[0], y->v[0]);
	return c != 0 ? c : (x->line > y->line) - (x->line < y->line);
}

/* A row that repeats an earlier one is rejected; for clients, so is a
 * second row with the same BSN. Then each BSN gets one lookup. */
static int plan(struct import *im)
{
	struct row **p = ipsnet_calloc(im->n_rows + 1, sizeof(*p));
	size_t n = 0;
	char why[100];
	if (p == NULL)
		return IPSNET_ENOMEM;
	for (size_t i = 0; i < im->n_rows; i++) {
		if (im->rows[i].state != ROW_PENDING)
			continue;
		derive(im, "", &im->rows[i], im->rows[i].fingerprint);
		p[n++] = &im->rows[i];
	}
	qsort(p, n, sizeof(*p), by_fingerprint);
	for (size_t i = 1; i < n; i++)
		if (memcmp(p[i]->fingerprint, p[i - 1]->fingerprint, 16) == 0) {
			snprintf(why, sizeof(why), "repeats line %lu",
				 p[i - 1]->line);
			reject(p[i], why);
		}
	/* Only the rows still pending, by BSN (v[0] in every kind). */
	size_t kept = 0;
	for (size_t i = 0; i < n; i++)
		if (p[i]->state == ROW_PENDING)
			p[kept++] = p[i];
	n = kept;
	qsort(p, n, sizeof(*p), by_bsn);
	if (im->kind->cols == client_cols) {
		for (size_t i = 1, first = 0; i < n; i++) {
			if (strcmp(p[i]->v[0], p[first]->v[0]) != 0) {
				first = i;
				continue;
			}
			snprintf(why, sizeof(why), "the same BSN as line %lu",
				 p[first]->line);
			reject(p[i], why);
		}
		ipsnet_free(p);
		return 0;
	}
	im->lookups = ipsnet_calloc(n + 1, sizeof(*im->lookups));
	if (im->lookups == NULL) {
		ipsnet_free(p);
		return IPSNET_ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		if (im->n_lookups == 0 ||
		    strcmp(im->lookups[im->n_lookups - 1].bsn, p[i]->v[0]) != 0)
			im->lookups[im->n_lookups++].bsn = p[i]->v[0];
		struct lookup *l = &im->lookups[im->n_lookups - 1];
		p[i]->lookup = im->n_lookups - 1;
		if (im->kind->cols == job_cols &&
		    p[i]->v[JO_PROGRAM][0] != '\0')
			l->need_case = true;
	}
	ipsnet_free(p);
	return 0;
}

/* ---- the command -------------------------------------------------------- */

static const char import_usage[] =
    "usage: ipsnet import FILE [--kind clients|trajectories|jobs]\n"
    "                     [--separator CHAR] [--check] [--in-flight N]\n"
    "Imports an organisation's existing registration from a CSV file (RFC\n"
    "4180; FILE '-' reads stdin). The first row names the columns, in any\n"
    "order; names are matched without regard to case. Each further row is\n"
    "checked and applied whole or not at all; rejected rows are listed\n"
    "with their line number and why, and the exit code is then 1. Running\n"
    "the same file again applies nothing twice: each row's change carries\n"
    "a key derived from the row. Import clients first, then trajectories,\n"
    "then jobs: those find their client by BSN.\n"
    "\n"
    "clients.csv       bsn, name, birth_date, municipality (CBS code, "
    "GM0363),\n"
    "                  benefit (none, participatiewet, wia, wajong, ww, "
    "other)\n"
    "trajectories.csv  bsn, program, referred_on, and as far as it got:\n"
    "                  accepted_on or declined_on, started_on, holds,\n"
    "                  closed_on with close_reason, or cancelled_on; note\n"
    "                  holds: periods on hold, 'FROM/TO FROM/TO', the "
    "last\n"
    "                  may be open ('2025-03-01/')\n"
    "jobs.csv          bsn, employer, start_date, hours_per_week; "
    "optional\n"
    "                  end_date, competitive (yes or no; default yes) and\n"
    "                  program (links the job to the client's trajectory\n"
    "                  in that program)\n"
    "\n"
    "Dates are YYYY-MM-DD (DD-MM-YYYY, also 1-2-1975, is taken too); hours\n"
    "may be 12,5.\n"
    "\n"
    "  --kind K         what the file holds (default: from the file's name,\n"
    "                   else from its columns)\n"
    "  --separator C    ',' ';' or 'tab' (default: what the header uses)\n"
    "  --check          check the file only; send nothing\n"
    "  --in-flight N    requests in flight at once, 1 to 64 (32)\n"
    "\n"
    "On a terminal a progress bar on stderr shows rows done, the rate and\n"
    "the time left.\n";

static void free_import(struct import *im)
{
	for (size_t i = 0; i < im->n_rows; i++) {
		for (size_t c = 0; c < MAX_COLS; c++)
			ipsnet_free(im->rows[i].v[c]);
		ipsnet_free(im->rows[i].reason);
	}
	ipsnet_free(im->rows);
	for (size_t i = 0; i < im->n_lookups; i++) {
		struct lookup *l = &im->lookups[i];
		ipsnet_free(l->client_id);
		ipsnet_free(l->reason);
		for (size_t k = 0; k < l->n_tr; k++) {
			ipsnet_free(l->tr[k].id);
			ipsnet_free(l->tr[k].program_id);
			ipsnet_free(l->tr[k].referred_on);
		}
		ipsnet_free(l->tr);
	}
	ipsnet_free(im->lookups);
	ipsnet_free(im->ph.state);
	if (im->md != NULL)
		EVP_MD_CTX_free(im->md);
}

/* Reads and checks the whole file into im->rows. 0 or the exit code. */
static int load(struct import *im, const char *data, size_t len, char sep,
		const char *kind_name)
{
	struct csv_reader r;
	int map[CSV_MAX_FIELDS];
	size_t n_header = 0, n_named = 0, cap = 0;
	bool by_name = false;
	int rv;

	csv_init(&r, data, len,
		 sep != 0 ? sep : csv_guess_separator(data, len));
	while ((rv = csv_next(&r)) == 1 && blank_record(r.fields, r.n_fields))
		;
	if (rv == 0) {
		csv_free(&r);
		return cli_fail(IPSNET_EINVAL,
				"%s is empty: the first row must name the "
				"columns",
				im->path);
	}
	if (rv < 0)
		goto err_csv;
	im->kind = kind_name != NULL
		       ? kind_named(kind_name)
		       : guess_kind(im->path, r.fields, r.n_fields, &by_name);
	if (im->kind == NULL) {
		csv_free(&r);
		return cli_fail(IPSNET_EUSAGE,
				"cannot tell what %s holds; give --kind "
				"clients, trajectories or jobs",
				im->path);
	}
	n_header = r.n_fields;
	/* A name may say another kind than the file holds
	 * ("jobs-of-clients.csv"): a header that does not fit says where
	 * the kind came from. */
	if ((rv = read_header(im, r.fields, r.n_fields, map, &n_named,
			      r.record_line,
			      by_name ? " (the kind was taken from the file's "
					"name; give --kind if it holds "
					"another)"
				      : "")) != 0) {
		csv_free(&r);
		return rv;
	}
	while ((rv = csv_next(&r)) == 1) {
		if (blank_record(r.fields, r.n_fields))
			continue;
		if (im->n_rows == cap) {
			cap = cap == 0 ? 256 : cap * 2;
			struct row *bigger =
			    ipsnet_realloc(im->rows, cap * sizeof(*bigger));
			if (bigger == NULL)
				goto err_nomem;
			im->rows = bigger;
		}
		struct row *row = &im->rows[im->n_rows++];
		if (take_row(im, row, r.fields, r.n_fields, n_named, n_header,
			     map, r.record_line) != 0)
			goto err_nomem;
	}
	if (rv < 0)
		goto err_csv;
	csv_free(&r);
	return 0;

err_csv:
	rv = rv == IPSNET_ENOMEM
		 ? cli_fail(rv, "out of memory")
		 : cli_fail(rv, "%s:%s; nothing was imported", im->path,
			    r.error + strlen("line "));
	csv_free(&r);
	return rv;
err_nomem:
	csv_free(&r);
	return cli_fail(IPSNET_ENOMEM, "out of memory");
}

/* Runs the lookups and the changes on a private loop. 0 or exit code. */
static int run(struct import *im)
{
	if (uv_loop_init(&im->loop) != 0)
		return cli_fail(IPSNET_EINTERNAL, "cannot start an event loop");
	uv_timer_init(&im->loop, &im->tick);
	uv_timer_start(&im->tick, on_tick, TICK_MS, TICK_MS);
	if (connect_server(im) != 0) {
		im->fatal = IPSNET_ECONNECT;
		snprintf(im->fatal_msg, sizeof(im->fatal_msg), "%s",
			 im->lost_msg);
		uv_close((uv_handle_t *)&im->tick, NULL);
	}
	uv_run(&im->loop, UV_RUN_DEFAULT);
	uv_loop_close(&im->loop);
	im->bar.done = rows_finished(im);
	if (im->connected_once)
		progress_draw(&im->bar, util_mono_us());
	progress_clear(&im->bar);
	/* Once connected, what was done is reported (report) with why the
	 * import stopped. */
	if (im->fatal != 0 && !im->connected_once)
		return cli_fail(im->fatal, "%s", im->fatal_msg);
	return 0;
}

/* A reason on stderr, its control characters as '?': the server's
 * sentence may quote the row ("no program '...'"), whose cells may hold
 * a line break or an escape sequence, and one line is one row. */
static void put_reason(const char *s)
{
	while (*s != '\0') {
		size_t n = text_control_len(s);
		fputc(n > 0 ? '?' : *s, stderr);
		s += n > 0 ? n : 1;
	}
}

static int report(struct import *im, bool checking)
{
	size_t counts[ROW_UNCONFIRMED + 1] = {0};
	for (size_t i = 0; i < im->n_rows; i++) {
		struct row *r = &im->rows[i];
		if (r->state == ROW_PENDING && !checking)
			r->state = ROW_UNCONFIRMED;
		counts[r->state]++;
		if (r->state == ROW_REJECTED) {
			fprintf(stderr, "%s:%lu: ", im->path, r->line);
			put_reason(r->reason != NULL ? r->reason : "rejected");
			fputc('\n', stderr);
		}
	}
	if (im->cli->json) {
		json_t *o = json_object(), *rej = json_array();
		for (size_t i = 0; i < im->n_rows; i++) {
			struct row *r = &im->rows[i];
			if (r->state != ROW_REJECTED)
				continue;
			json_t *e = json_object();
			json_object_set_new(e, "line",
					    json_integer((json_int_t)r->line));
			json_object_set_new(e, "reason",
					    fmt_json_str(r->reason));
			json_array_append_new(rej, e);
		}
		json_object_set_new(o, "file", fmt_json_str(im->path));
		json_object_set_new(o, "kind", json_string(im->kind->name));
		json_object_set_new(o, "rows",
				    json_integer((json_int_t)im->n_rows));
		if (checking)
			json_object_set_new(
			    o, "valid",
			    json_integer((json_int_t)counts[ROW_PENDING]));
		json_object_set_new(
		    o, "imported",
		    json_integer((json_int_t)counts[ROW_APPLIED]));
		json_object_set_new(
		    o, "already_imported",
		    json_integer((json_int_t)counts[ROW_ALREADY]));
		json_object_set_new(
		    o, "rejected",
		    json_integer((json_int_t)counts[ROW_REJECTED]));
		json_object_set_new(
		    o, "unconfirmed",
		    json_integer((json_int_t)counts[ROW_UNCONFIRMED]));
		json_object_set_new(o, "problems", rej);
		cli_print_json(o);
	} else if (checking) {
		printf("%s (%s): %zu row%s: %zu fit to import, %zu rejected\n",
		       im->path, im->kind->name, im->n_rows,
		       im->n_rows == 1 ? "" : "s", counts[ROW_PENDING],
		       counts[ROW_REJECTED]);
	} else {
		printf("%s (%s): %zu row%s: %zu imported, %zu imported before, "
		       "%zu rejected",
		       im->path, im->kind->name, im->n_rows,
		       im->n_rows == 1 ? "" : "s", counts[ROW_APPLIED],
		       counts[ROW_ALREADY], counts[ROW_REJECTED]);
		if (counts[ROW_UNCONFIRMED] > 0)
			printf(", %zu not confirmed", counts[ROW_UNCONFIRMED]);
		printf("\n");
	}
	if (im->fatal != 0 && !checking) {
		if (counts[ROW_UNCONFIRMED] == 0)
			return cli_fail(im->fatal, "%s", im->fatal_msg);
		return cli_fail(im->fatal,
				"%s: %zu row%s not confirmed; run the same "
				"import again: rows already applied are not "
				"applied twice",
				im->fatal_msg, counts[ROW_UNCONFIRMED],
				counts[ROW_UNCONFIRMED] == 1 ? " is" : "s are");
	}
	if (counts[ROW_UNCONFIRMED] > 0) {
		fprintf(stderr,
			"ipsnet: the connection was lost (%s): %zu row%s "
			"not confirmed; run the same import again: rows "
			"already applied are not applied twice\n",
			im->lost_msg, counts[ROW_UNCONFIRMED],
			counts[ROW_UNCONFIRMED] == 1 ? " is" : "s are");
		return 3;
	}
	return counts[ROW_REJECTED] > 0 ? 1 : 0;
}

int cmd_import(struct cli *cli, int argc, char **argv)
{
	const char *path, *kind = NULL, *sep_name = NULL, *in_flight = NULL;
	bool check = false;
	const struct cli_opt opts[] = {
	    {"kind", CLI_STR, &kind, NULL, false},
	    {"separator", CLI_STR, &sep_name, NULL, false},
	    {"check", CLI_FLAG, NULL, &check, false},
	    {"in-flight", CLI_STR, &in_flight, NULL, false},
	};
	unsigned long window = DEFAULT_WINDOW;
	char sep = 0;
	int rv = cli_parse(argc, argv, opts, ARRAY_SIZE(opts), &path, 1,
			   import_usage);
	if (rv >= 0)
		return rv;
	if (kind != NULL && kind_named(kind) == NULL)
		return cli_fail(IPSNET_EUSAGE,
				"--kind is clients, trajectories or jobs, not "
				"'%s'",
				kind);
	if (sep_name != NULL) {
		if (strcmp(sep_name, "tab") == 0 ||
		    strcmp(sep_name, "\\t") == 0)
			sep = '\t';
		else if (strcmp(sep_name, ",") == 0 ||
			 strcmp(sep_name, ";") == 0)
			sep = sep_name[0];
		else
			return cli_fail(IPSNET_EUSAGE,
					"--separator is ',', ';' or 'tab'");
	}
	if (in_flight != NULL &&
	    (rv = cli_uint("--in-flight", in_flight, 1, 64, &window)) != 0)
		return rv;

	char *data = NULL;
	size_t len = 0;
	if ((rv = read_all(path, &data, &len)) != 0)
		return rv;
	struct import *im = ipsnet_calloc(1, sizeof(*im));
	if (im == NULL) {
		ipsnet_free(data);
		return cli_fail(IPSNET_ENOMEM, "out of memory");
	}
	im->cli = cli;
	im->path = path;
	im->window = window;
	im->md = EVP_MD_CTX_new();
	if (im->md == NULL) {
		rv = cli_fail(IPSNET_ENOMEM, "out of memory");
		goto out;
	}
	if ((rv = load(im, data, len, sep, kind)) != 0)
		goto out;
	if (plan(im) != 0) {
		rv = cli_fail(IPSNET_ENOMEM, "out of memory");
		goto out;
	}
	bool pending = false;
	for (size_t i = 0; i < im->n_rows && !pending; i++)
		pending = im->rows[i].state == ROW_PENDING;
	if (!check && pending) {
		const char *base = strrchr(path, '/');
		if ((rv = cli_settings(cli)) != 0)
			goto out;
		progress_init(&im->bar, isatty(STDERR_FILENO) ? stderr : NULL,
			      base != NULL ? base + 1 : path, "rows",
			      im->n_rows, util_mono_us());
		if ((rv = run(im)) != 0)
			goto out;
	}
	rv = report(im, check);
out:
	free_import(im);
	ipsnet_free(im);
	ipsnet_free(data);
	return rv;
}
