/* gen_drive: the synthetic network sent to a running ipsnetd through
 * libipsnet, one connection per organisation on a loop of our own, as the
 * organisations themselves would send it: NETWORK adds the programs and
 * records fidelity reviews; each GGZ registers its clients, records their
 * consent, imports their trajectories (up to the last open step), asks for
 * funding, withdraws, closes, changes a benefit and records jobs; the
 * municipalities and UWV approve and reject what is addressed to them.
 *
 * A client's changes depend on each other (the trajectory needs the
 * client's id, the decision the request's), so each client is a chain
 * worked through one change at a time, and many clients run at once: the
 * daemon sees a few hundred changes in flight and commits them in groups.
 *
 * This file reads the generator's records (report_gen.c includes it at the
 * end, so that the records stay private to the two). */

#include <uv.h>

#include "ipsnet.h"

#define DRIVE_MAX_CONNS 64

struct drive;

struct dconn {
	struct drive *d;
	struct ipsnet_conn *conn;
	int org;
	unsigned inflight;
	/* Work waiting for a free slot on this connection. */
	struct chain **wait;
	size_t n_wait, wait_cap, wait_head;
};

enum phase {
	PH_REGISTER,
	PH_CONSENT, /* fitting funder, then UWV if the benefit changes */
	PH_IMPORT,  /* trajectory k */
	PH_FUNDING, /* trajectory k, request f */
	PH_DECIDE,  /* trajectory k, request f */
	PH_UPDATE,  /* before the request asked after a change */
	PH_CLOSE,   /* trajectory k's terminal step */
	PH_JOB,	    /* job j */
	PH_DONE,
};

struct chain {
	const struct gen *g;
	uint32_t ci;
	enum phase phase;
	int consent;	  /* which consent next */
	uint32_t k, f, j; /* trajectory, request, job */
	bool updated;
	char client_id[64];
	uint64_t client_version;
	char (*traj_id)[64];
	uint64_t *traj_version;
	char funding_id[64];
};

struct drive {
	const struct gen *g;
	const struct gen_drive_options *o;
	uv_loop_t loop;
	struct dconn conns[DRIVE_MAX_CONNS];
	size_t n_conns, ready, closed;
	struct chain *chains;
	uint32_t next_client, active, finished;
	uint32_t programs_sent, programs_done, reviews_sent;
	uint64_t changes;
	char error[512];
	bool failed, closing;
};

static struct dconn *conn_of(struct drive *d, int org)
{
	for (size_t i = 0; i < d->n_conns; i++)
		if (d->conns[i].org == org)
			return &d->conns[i];
	return NULL;
}

static void drive_fail(struct drive *d, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void drive_fail(struct drive *d, const char *fmt, ...)
{
	if (d->failed)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(d->error, sizeof(d->error), fmt, ap);
	va_end(ap);
	d->failed = true;
}

static void maybe_close(struct drive *d);

/* ---- building the changes ----------------------------------------------- */

static bool terminal(int status)
{
	return status == S_CLOSED || status == S_DECLINED ||
	       status == S_CANCELLED;
}

/* The change the chain makes next, and who makes it; false when done. */
struct change {
	Ipsnet__V1__Envelope env;
	union {
		Ipsnet__V1__RegisterClient reg;
		Ipsnet__V1__GrantConsent consent;
		Ipsnet__V1__ImportTrajectory imp;
		Ipsnet__V1__RequestFunding req;
		Ipsnet__V1__DecideFunding dec;
		Ipsnet__V1__UpdateClient upd;
		Ipsnet__V1__MoveTrajectory move;
		Ipsnet__V1__AddJob job;
		Ipsnet__V1__PutProgram prog;
		Ipsnet__V1__RecordFidelity fid;
	} u;
	Ipsnet__V1__TrajectoryStep steps[MAX_STEPS];
	Ipsnet__V1__TrajectoryStep *stepp[MAX_STEPS];
	uint32_t scores[25];
	uint8_t key[16];
	char name[64];
	int org;
};

/* Skips what needs no change; leaves the chain at its next change. */
static void settle(struct chain *ch)
{
	const struct gen *g = ch->g;
	const struct g_client *c = &g->clients[ch->ci];
	for (;;) {
		const struct g_traj *t =
		    ch->k < c->ntraj ? &g->trajs[c->traj0 + ch->k] : NULL;
		switch (ch->phase) {
		case PH_CONSENT:
			if (ch->consent == 0 &&
			    funder_of_benefit(g, c, c->benefit) >= 0)
				return;
			if (ch->consent <= 1 && c->benefit_after != 0) {
				ch->consent = 1;
				return;
			}
			ch->phase = PH_IMPORT;
			ch->k = 0;
			continue;
		case PH_IMPORT:
			if (t == NULL) {
				ch->phase = PH_JOB;
				ch->j = 0;
				continue;
			}
			return;
		case PH_FUNDING:
			if (ch->f >= t->n_funding) {
				ch->phase = PH_CLOSE;
				continue;
			}
			if (t->funding[ch->f].after_change && !ch->updated) {
				ch->phase = PH_UPDATE;
				return;
			}
			return;
		case PH_DECIDE:
			if (t->funding[ch->f].outcome == F_REQUESTED) {
				ch->f++;
				ch->phase = PH_FUNDING;
				continue;
			}
			return;
		case PH_CLOSE:
			if (!terminal(t->steps[t->n_steps - 1].status)) {
				ch->k++;
				ch->phase = PH_IMPORT;
				continue;
			}
			return;
		case PH_JOB:
			if (ch->j >= c->njob) {
				ch->phase = PH_DONE;
				continue;
			}
			return;
		default:
			return;
		}
	}
}

static const char *org_id(const struct gen *g, int org)
{
	return g->orgs[org].id;
}

static void build(struct chain *ch, struct change *x)
{
	const struct gen *g = ch->g;
	const struct g_client *c = &g->clients[ch->ci];
	const struct g_traj *t =
	    ch->k < c->ntraj ? &g->trajs[c->traj0 + ch->k] : NULL;
	Ipsnet__V1__Envelope *e = &x->env;

	ipsnet__v1__envelope__init(e);
	ipsnet_new_idempotency_key(x->key);
	e->idempotency_key.data = x->key;
	e->idempotency_key.len = 16;
	x->org = c->ggz;

	switch (ch->phase) {
	case PH_REGISTER:
		ipsnet__v1__register_client__init(&x->u.reg);
		snprintf(x->name, sizeof(x->name), "Client %u", ch->ci);
		x->u.reg.bsn = (char *)c->bsn;
		x->u.reg.name = x->name;
		x->u.reg.birth_date = (char *)c->birth;
		x->u.reg.municipality = (char *)c->cbs;
		x->u.reg.benefit = c->benefit;
		e->body_case = IPSNET__V1__ENVELOPE__BODY_REGISTER_CLIENT;
		e->register_client = &x->u.reg;
		break;
	case PH_CONSENT:
		ipsnet__v1__grant_consent__init(&x->u.consent);
		x->u.consent.client_id = ch->client_id;
		x->u.consent.recipient = (char *)org_id(
		    g, ch->consent == 0 ? funder_of_benefit(g, c, c->benefit)
					: (int)g->uwv);
		x->u.consent.purpose = "IPS trajectory and its funding";
		x->u.consent.valid_until = "2099-12-31";
		e->body_case = IPSNET__V1__ENVELOPE__BODY_GRANT_CONSENT;
		e->grant_consent = &x->u.consent;
		break;
	case PH_IMPORT: {
		ipsnet__v1__import_trajectory__init(&x->u.imp);
		size_t n = t->n_steps;
		if (terminal(t->steps[n - 1].status))
			n--; /* closed after its funding */
		for (size_t i = 0; i < n; i++) {
			ipsnet__v1__trajectory_step__init(&x->steps[i]);
			x->steps[i].status = t->steps[i].status;
			x->steps[i].on = (char *)t->steps[i].on;
			x->stepp[i] = &x->steps[i];
		}
		x->u.imp.client_id = ch->client_id;
		x->u.imp.program_id = (char *)g->programs[t->program].id;
		x->u.imp.note = "synthetic";
		x->u.imp.steps = x->stepp;
		x->u.imp.n_steps = n;
		e->body_case = IPSNET__V1__ENVELOPE__BODY_IMPORT_TRAJECTORY;
		e->import_trajectory = &x->u.imp;
		break;
	}
	case PH_FUNDING: {
		const struct g_funding *fd = &t->funding[ch->f];
		ipsnet__v1__request_funding__init(&x->u.req);
		x->u.req.trajectory_id = ch->traj_id[ch->k];
		if (fd->funder >= 0)
			x->u.req.funder = (char *)org_id(g, fd->funder);
		else
			x->u.req.other_description = "a fund of the GGZ";
		x->u.req.months = 12;
		e->body_case = IPSNET__V1__ENVELOPE__BODY_REQUEST_FUNDING;
		e->request_funding = &x->u.req;
		break;
	}
	case PH_DECIDE: {
		const struct g_funding *fd = &t->funding[ch->f];
		ipsnet__v1__decide_funding__init(&x->u.dec);
		x->u.dec.funding_id = ch->funding_id;
		x->u.dec.expected_version = 1;
		x->u.dec.decision = fd->outcome;
		if (fd->outcome == F_REJECTED)
			x->u.dec.reason = "does not meet the conditions";
		/* A funder outside the network (OTHER): the GGZ that asked
		 * records its decision. */
		if (fd->outcome != F_WITHDRAWN && fd->funder >= 0)
			x->org = fd->funder;
		e->body_case = IPSNET__V1__ENVELOPE__BODY_DECIDE_FUNDING;
		e->decide_funding = &x->u.dec;
		break;
	}
	case PH_UPDATE:
		ipsnet__v1__update_client__init(&x->u.upd);
		x->u.upd.client_id = ch->client_id;
		x->u.upd.expected_version = ch->client_version;
		x->u.upd.benefit = c->benefit_after;
		e->body_case = IPSNET__V1__ENVELOPE__BODY_UPDATE_CLIENT;
		e->update_client = &x->u.upd;
		break;
	case PH_CLOSE: {
		const struct g_step *s = &t->steps[t->n_steps - 1];
		ipsnet__v1__move_trajectory__init(&x->u.move);
		x->u.move.trajectory_id = ch->traj_id[ch->k];
		x->u.move.expected_version = ch->traj_version[ch->k];
		x->u.move.to = s->status;
		x->u.move.on = (char *)s->on;
		if (s->status == S_CLOSED)
			x->u.move.reason = "the trajectory ended";
		e->body_case = IPSNET__V1__ENVELOPE__BODY_MOVE_TRAJECTORY;
		e->move_trajectory = &x->u.move;
		break;
	}
	case PH_JOB: {
		const struct g_job *j = &g->jobs[c->job0 + ch->j];
		ipsnet__v1__add_job__init(&x->u.job);
		x->u.job.client_id = ch->client_id;
		if (j->traj >= 0)
			x->u.job.trajectory_id =
			    ch->traj_id[(uint32_t)j->traj - c->traj0];
		/* One employer a job of hers: ipsnetd refuses the same
		 * job (client, employer, start) twice. */
		snprintf(x->name, sizeof(x->name), "Werkgever %u", ch->j + 1);
		x->u.job.employer = x->name;
		x->u.job.start_date = (char *)j->start;
		x->u.job.end_date = (char *)j->end;
		x->u.job.hours_per_week = 24;
		x->u.job.competitive = j->competitive;
		e->body_case = IPSNET__V1__ENVELOPE__BODY_ADD_JOB;
		e->add_job = &x->u.job;
		break;
	}
	default:
		break;
	}
}

static const char *phase_name(enum phase p)
{
	static const char *const names[] = {
	    "register the client",  "grant consent",  "import a trajectory",
	    "request funding",	    "decide funding", "change the benefit",
	    "close the trajectory", "add a job",      "done"};
	return names[p];
}

/* ---- sending --------------------------------------------------------------
 */

static void send_next(struct drive *d, struct chain *ch);

static void advance(struct chain *ch, const Ipsnet__V1__ChangeOk *ok)
{
	switch (ch->phase) {
	case PH_REGISTER:
		snprintf(ch->client_id, sizeof(ch->client_id), "%s",
			 ok->entity_id);
		ch->client_version = ok->version;
		ch->phase = PH_CONSENT;
		ch->consent = 0;
		break;
	case PH_CONSENT:
		ch->consent++;
		break;
	case PH_IMPORT:
		snprintf(ch->traj_id[ch->k], 64, "%s", ok->entity_id);
		ch->traj_version[ch->k] = ok->version;
		ch->phase = PH_FUNDING;
		ch->f = 0;
		break;
	case PH_FUNDING:
		snprintf(ch->funding_id, sizeof(ch->funding_id), "%s",
			 ok->entity_id);
		ch->phase = PH_DECIDE;
		break;
	case PH_DECIDE:
		ch->f++;
		ch->phase = PH_FUNDING;
		break;
	case PH_UPDATE:
		ch->updated = true;
		ch->client_version = ok->version;
		ch->phase = PH_FUNDING;
		break;
	case PH_CLOSE:
		ch->k++;
		ch->phase = PH_IMPORT;
		break;
	case PH_JOB:
		ch->j++;
		break;
	default:
		break;
	}
}

struct pending {
	struct drive *d;
	struct dconn *dc;
	struct chain *ch; /* NULL: a program or a review */
	bool program;
};

static void take_waiting(struct dconn *dc);

static void on_change(struct ipsnet_conn *c, int status, const char *message,
		      const Ipsnet__V1__Envelope *resp, void *arg)
{
	struct pending *pd = arg;
	struct drive *d = pd->d;
	struct dconn *dc = pd->dc;
	struct chain *ch = pd->ch;
	(void)c;
	dc->inflight--;
	if (status == 0)
		d->changes++;
	if (status != 0)
		drive_fail(
		    d, "%s as %s (client %u): %s (%s)",
		    ch != NULL ? phase_name(ch->phase) : "program/review",
		    d->g->orgs[dc->org].id, ch != NULL ? ch->ci : 0,
		    message != NULL ? message : "", ipsnet_err_name(status));
	else if (resp == NULL ||
		 resp->body_case != IPSNET__V1__ENVELOPE__BODY_CHANGE_OK)
		drive_fail(d, "a change was answered without ChangeOk");
	if (ch != NULL && !d->failed) {
		advance(ch, resp->change_ok);
		send_next(d, ch);
	} else if (ch == NULL && pd->program) {
		d->programs_done++;
	}
	free(pd);
	if (!d->failed)
		take_waiting(dc);
	/* Start the clients once every program is in. */
	if (!d->failed && d->programs_done == d->g->o.programs &&
	    d->next_client == 0) {
		uint32_t n = d->o->clients_in_flight;
		for (uint32_t i = 0; i < n && d->next_client < d->g->o.clients;
		     i++) {
			struct chain *nch = &d->chains[d->next_client++];
			d->active++;
			send_next(d, nch);
		}
	}
	maybe_close(d);
}

static int submit(struct drive *d, struct dconn *dc, struct change *x,
		  struct chain *ch, bool program)
{
	struct pending *pd = calloc(1, sizeof(*pd));
	if (pd == NULL) {
		drive_fail(d, "out of memory");
		return -1;
	}
	pd->d = d;
	pd->dc = dc;
	pd->ch = ch;
	pd->program = program;
	dc->inflight++;
	int rv = ipsnet_request(dc->conn, &x->env, on_change, pd);
	if (rv != 0) {
		dc->inflight--;
		free(pd);
		drive_fail(d, "cannot send: %s", ipsnet_strerror(rv));
		return -1;
	}
	return 0;
}

static void wait_push(struct dconn *dc, struct chain *ch)
{
	if (dc->n_wait == dc->wait_cap) {
		/* Compact, then grow. */
		memmove(dc->wait, dc->wait + dc->wait_head,
			(dc->n_wait - dc->wait_head) * sizeof(*dc->wait));
		dc->n_wait -= dc->wait_head;
		dc->wait_head = 0;
		if (dc->n_wait == dc->wait_cap) {
			size_t cap = dc->wait_cap == 0 ? 256 : dc->wait_cap * 2;
			struct chain **w = realloc(dc->wait, cap * sizeof(*w));
			if (w == NULL)
				return;
			dc->wait = w;
			dc->wait_cap = cap;
		}
	}
	dc->wait[dc->n_wait++] = ch;
}

static void take_waiting(struct dconn *dc)
{
	while (dc->wait_head < dc->n_wait &&
	       dc->inflight < dc->d->o->per_connection && !dc->d->failed) {
		struct chain *ch = dc->wait[dc->wait_head++];
		send_next(dc->d, ch);
	}
}

static void send_next(struct drive *d, struct chain *ch)
{
	settle(ch);
	if (ch->phase == PH_DONE) {
		d->active--;
		d->finished++;
		if (d->next_client < d->g->o.clients && !d->failed) {
			struct chain *nch = &d->chains[d->next_client++];
			d->active++;
			send_next(d, nch);
		}
		return;
	}
	struct change x;
	build(ch, &x);
	struct dconn *dc = conn_of(d, x.org);
	if (dc == NULL) {
		drive_fail(d, "no connection for %s", d->g->orgs[x.org].id);
		return;
	}
	if (dc->inflight >= d->o->per_connection) {
		wait_push(dc, ch);
		return;
	}
	submit(d, dc, &x, ch, false);
}

static void send_programs_and_reviews(struct drive *d)
{
	const struct gen *g = d->g;
	struct dconn *net = conn_of(d, (int)g->network);
	for (uint32_t i = 0; i < g->o.programs; i++) {
		const struct g_program *p = &g->programs[i];
		struct change x;
		ipsnet__v1__envelope__init(&x.env);
		ipsnet_new_idempotency_key(x.key);
		x.env.idempotency_key.data = x.key;
		x.env.idempotency_key.len = 16;
		ipsnet__v1__put_program__init(&x.u.prog);
		x.u.prog.program_id = (char *)p->id;
		x.u.prog.owner = (char *)g->orgs[p->owner].id;
		x.u.prog.name = (char *)p->name;
		x.u.prog.region = (uint32_t)p->region;
		x.u.prog.specialists = p->specialists;
		x.env.body_case = IPSNET__V1__ENVELOPE__BODY_PUT_PROGRAM;
		x.env.put_program = &x.u.prog;
		if (submit(d, net, &x, NULL, true) != 0)
			return;
	}
	for (size_t i = 0; i < g->n_reviews; i++) {
		const struct g_review *v = &g->reviews[i];
		struct change x;
		ipsnet__v1__envelope__init(&x.env);
		ipsnet_new_idempotency_key(x.key);
		x.env.idempotency_key.data = x.key;
		x.env.idempotency_key.len = 16;
		ipsnet__v1__record_fidelity__init(&x.u.fid);
		x.u.fid.program_id = (char *)g->programs[v->program].id;
		x.u.fid.review_date = (char *)v->date;
		for (int k = 0; k < 25; k++)
			x.scores[k] = v->scores[k];
		x.u.fid.scores = x.scores;
		x.u.fid.n_scores = 25;
		x.env.body_case = IPSNET__V1__ENVELOPE__BODY_RECORD_FIDELITY;
		x.env.record_fidelity = &x.u.fid;
		if (submit(d, net, &x, NULL, false) != 0)
			return;
	}
}

/* ---- connections ------------------------------------------------------- */

static void on_closed(struct ipsnet_conn *c, int status, const char *message,
		      void *arg)
{
	struct dconn *dc = arg;
	(void)c;
	dc->conn = NULL;
	dc->d->closed++;
	if (status != 0 && !dc->d->closing)
		drive_fail(dc->d, "the connection of %s closed: %s",
			   dc->d->g->orgs[dc->org].id,
			   message != NULL ? message : "");
	maybe_close(dc->d);
}

static void on_ready(struct ipsnet_conn *c, int status, const char *message,
		     void *arg)
{
	struct dconn *dc = arg;
	struct drive *d = dc->d;
	(void)c;
	if (status != 0) {
		drive_fail(d, "cannot connect as %s: %s",
			   d->g->orgs[dc->org].id,
			   message != NULL ? message : "");
		return;
	}
	if (++d->ready == d->n_conns)
		send_programs_and_reviews(d);
}

static void maybe_close(struct drive *d)
{
	bool busy = false;
	for (size_t i = 0; i < d->n_conns; i++)
		busy |= d->conns[i].inflight > 0;
	bool all_done = d->finished == d->g->o.clients &&
			d->programs_done == d->g->o.programs;
	if (busy || d->closing || (!d->failed && !all_done))
		return;
	d->closing = true;
	for (size_t i = 0; i < d->n_conns; i++)
		if (d->conns[i].conn != NULL)
			ipsnet_close(d->conns[i].conn);
}

int gen_drive(const struct gen *g, const struct gen_drive_options *o,
	      struct gen_drive_stats *stats, char *err, size_t errlen)
{
	struct drive *d = calloc(1, sizeof(*d));
	int rv = -1;
	if (d == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	d->g = g;
	d->o = o;
	d->chains = calloc(g->o.clients + 1, sizeof(*d->chains));
	if (d->chains == NULL || g->n_orgs > DRIVE_MAX_CONNS) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	for (uint32_t i = 0; i < g->o.clients; i++) {
		struct chain *ch = &d->chains[i];
		ch->g = g;
		ch->ci = i;
		ch->phase = PH_REGISTER;
		uint32_t nt = g->clients[i].ntraj + 1;
		ch->traj_id = calloc(nt, sizeof(*ch->traj_id));
		ch->traj_version = calloc(nt, sizeof(*ch->traj_version));
		if (ch->traj_id == NULL || ch->traj_version == NULL) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	}
	uv_loop_init(&d->loop);
	uint64_t t0 = uv_hrtime();
	char ca[1024];
	snprintf(ca, sizeof(ca), "%s/ca.crt", o->certs);
	for (size_t i = 0; i < g->n_orgs; i++) {
		struct dconn *dc = &d->conns[d->n_conns];
		char cert[1024], key[1024], e[256];
		snprintf(cert, sizeof(cert), "%s/%s.crt", o->certs,
			 g->orgs[i].id);
		snprintf(key, sizeof(key), "%s/%s.key", o->certs,
			 g->orgs[i].id);
		struct ipsnet_options io = {
		    .server = o->server,
		    .ca = ca,
		    .cert = cert,
		    .key = key,
		    .user = "report.generator",
		    .software = "report_gen",
		    .timeout_ms = 60000,
		};
		struct ipsnet_callbacks cb = {on_ready, NULL, on_closed};
		dc->d = d;
		dc->org = (int)i;
		if (ipsnet_connect(&d->loop, &io, &cb, dc, &dc->conn, e,
				   sizeof(e)) != 0) {
			drive_fail(d, "cannot connect as %s: %s", g->orgs[i].id,
				   e);
			break;
		}
		d->n_conns++;
	}
	if (d->failed)
		maybe_close(d);
	uv_run(&d->loop, UV_RUN_DEFAULT);
	uv_loop_close(&d->loop);
	if (stats != NULL) {
		stats->changes = d->changes;
		stats->seconds = (double)(uv_hrtime() - t0) / 1e9;
	}
	if (d->failed)
		snprintf(err, errlen, "%s", d->error);
	else
		rv = 0;
out:
	for (uint32_t i = 0; d->chains != NULL && i < g->o.clients; i++) {
		free(d->chains[i].traj_id);
		free(d->chains[i].traj_version);
	}
	for (size_t i = 0; i < d->n_conns; i++)
		free(d->conns[i].wait);
	free(d->chains);
	free(d);
	return rv;
}
