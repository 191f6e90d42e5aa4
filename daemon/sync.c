#include "sync.h"

#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "apply.h"
#include "conn.h"
#include "fanout.h"
#include "frame.h"
#include "ipsnet_errors.h"
#include "log.h"
#include "policy.h"
#include "reads.h"
#include "server.h"
#include "util.h"
#include "validate.h"

/* Commit-to-send times of live deliveries: buckets of 50 us up to 100 ms,
 * the last one holding everything above. */
#define SEND_BUCKET_US 50
#define SEND_BUCKETS 2000

#define PAGE_ROWS 512
#define PAGE_BYTES (256 * 1024)
#define SEND_CHUNK (64 * 1024)

enum sub_mode {
	SUB_CATCHUP, /* reading pages from the database */
	SUB_PARKED,  /* caught up with the live stream, waiting to join it */
	SUB_LIVE,    /* fed by live fetches */
};

struct sync_sub {
	struct sync *sync;
	struct conn *conn; /* NULL once the connection closed */
	struct journal_actor actor;
	uint32_t kinds;    /* bit mask of entity kinds; 0: all */
	uint64_t cursor;   /* every entry up to here was delivered or skipped */
	uint8_t
	    cursor_hash[JOURNAL_HASH_BYTES]; /* entry cursor's, for CaughtUp */
	bool cursor_hash_known;
	bool check_since; /* cursor_hash is what the subscriber said entry
			   * cursor has: the first page checks it */
	enum sub_mode mode;
	bool fetching;     /* a catch-up page is being read */
	bool drop_read;    /* ... and is dropped when it comes (fell back) */
	struct fetch *pending; /* a page read, its audit rows being committed */
	struct fetch *parked;  /* the page after it, read meanwhile */
	bool auditing;     /* in the live delivery under way (its audit rows
			    * are being committed) */
	bool full;         /* waiting for the send buffer to drain */
	bool progress;	   /* asked for Progress during catch-up */
	struct sync_sub *prev, *next;
};

struct out_event {
	uint64_t seq;
	uint32_t off, len;
	uint32_t kind;
	char client[JOURNAL_ID_MAX]; /* whose personal data; "": nobody's */
};

struct fetch_org {
	struct journal_actor actor;
	uint8_t *buf;
	size_t len, cap;
	struct out_event *evs;
	size_t n, ncap;
};

struct fetch {
	struct journal_read r;
	struct sync *sync;
	struct sync_sub *sub; /* a catch-up page: its subscriber; live: NULL */
	struct conn *held;    /* a catch-up page: its connection (see hold) */
	uint64_t from, upto;  /* the range (from, upto] */
	uint64_t commit_us;   /* live: when its first entry committed (0:
			       * unknown) */
	uint32_t limit;       /* rows at most; 0: no limit */
	uint64_t last;        /* the last seq read */
	uint64_t judged_at;   /* the journal head of the snapshot it was
			       * judged at (journal_audit checks it) */
	int64_t judged_us;    /* when it was judged: the day consent was
			       * judged on, and its audit rows' time */
	uint8_t last_hash[JOURNAL_HASH_BYTES]; /* entry last's */
	bool last_hash_known;
	bool check_from; /* a page: entry from must have last_hash */
	size_t n_orgs;
	struct fetch_org *orgs;
	/* The audit rows of what goes out, committed before it does. */
	struct journal_audit ja;
	struct journal_audit_row *rows;
	size_t n_rows, rows_cap;
};

struct sync {
	struct journal *journal;
	size_t send_bound;
	uint64_t head;     /* the journal head as the loop knows it */
	uint64_t live_seq; /* live delivery is complete up to here */
	uint8_t head_hash[JOURNAL_HASH_BYTES]; /* entry head's */
	uint8_t live_hash[JOURNAL_HASH_BYTES]; /* entry live_seq's */
	struct fetch *live; /* the live fetch in flight, or NULL */
	struct sync_sub *subs;
	uint32_t n_subs;
	uint32_t fetches;  /* reads in flight */
	uint64_t fallbacks;
	struct fanout *fanout;         /* the live fan-out's threads */
	struct delivery *deliveries;   /* the live fan-out's work */
	size_t n_deliveries, deliveries_cap;
	uint64_t unfetched_commit_us; /* the first commit not yet in a live
				       * fetch (0: none) */
	uint64_t sent_hist[SEND_BUCKETS]; /* live: commit to send */
	uint64_t sent_n, sent_max_us;
	void (*on_idle)(void *arg); /* sync_on_idle */
	void *on_idle_arg;
};

/* One subscriber's share of a fetch, on its way out. */
struct delivery {
	struct sync_sub *sub;
	const struct fetch_org *o;
	uint64_t last; /* the fetch's last seq */
	const uint8_t *last_hash; /* its hash (NULL: unknown) */
	int err;       /* of the stream (deliver_finish closes it) */
	uint64_t sent_us; /* when the last byte went to the kernel or libuv
			   * (0: nothing was sent) */
	bool all;      /* everything went; else the cursor stops before the
			* first event that did not fit */
};

/* ---- entity kinds ------------------------------------------------------ */

static const char *const kind_names[] = {
    "client", "consent", "trajectory", "funding", "job", "program",
    "fidelity_review",
};

static uint32_t kind_bit(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++)
		if (strcmp(name, kind_names[i]) == 0)
			return 1u << i;
	return 1u << 31;
}

/* ---- visibility (reader thread) --------------------------------------- */

/* The visibility checks of one fetch ask policy (policy.h) with the facts
 * reads_client_facts gathers, and remember recent answers per organisation
 * and client, since the entries of one client tend to come together. */
#define MEMO_SLOTS 256

struct memo_slot {
	char org[ORG_ID_MAX];
	char client[JOURNAL_ID_MAX];
	enum policy_view view;
};

struct facts {
	sqlite3 *db;
	sqlite3_stmt *client_facts; /* reads_client_facts_cached's */
	int err; /* a read failed: what is judged since is not to be used */
	char today[16];
	struct memo_slot memo[MEMO_SLOTS];
};

static void facts_init(struct facts *f, sqlite3 *db, int64_t now_us)
{
	memset(f, 0, sizeof(*f));
	f->db = db;
	nl_date_of_us(f->today, sizeof(f->today), (long long)now_us);
}

static uint32_t memo_hash(const char *org, const char *client)
{
	uint32_t h = 2166136261u;
	for (const char *p = org; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	for (const char *p = client; *p != '\0'; p++)
		h = (h ^ (uint8_t)*p) * 16777619u;
	return h % MEMO_SLOTS;
}

static enum policy_view client_view(struct facts *f,
				    const struct journal_actor *who,
				    const char *client)
{
	struct memo_slot *m = &f->memo[memo_hash(who->org, client)];
	if (strcmp(m->org, who->org) == 0 && strcmp(m->client, client) == 0)
		return m->view;
	struct policy_client pc;
	enum policy_view view = POLICY_VIEW_NONE;
	char why[160];
	if (reads_client_facts_cached(f->db, &f->client_facts, client, who->org,
				      f->today, &pc) != 0) {
		/* Not "sees nothing": an entry left out for a read that
		 * failed would be a gap in the stream. Not kept either. */
		f->err = IPSNET_EDB;
		return POLICY_VIEW_NONE;
	}
	if (policy_see_client(who, &pc, &view, why, sizeof(why)) != 0)
		view = POLICY_VIEW_NONE;
	util_strlcpy(m->org, who->org, sizeof(m->org));
	util_strlcpy(m->client, client, sizeof(m->client));
	m->view = view;
	return view;
}

/* Clears a text field of a message unpacked with ipsnet_protobuf_allocator:
 * the text goes back to the allocator (free_unpacked skips the empty
 * string it now points to, so it would be lost otherwise). */
static void cut_text(char **field)
{
	if (*field != NULL && *field != protobuf_c_empty_string)
		ipsnet_protobuf_allocator.free(
		    ipsnet_protobuf_allocator.allocator_data, *field);
	*field = (char *)protobuf_c_empty_string;
}

static bool visible_cut(struct facts *f, const struct journal_actor *who,
			Ipsnet__V1__ChangeOk *ok)
{
	const char *client = util_change_ok_client(ok);
	enum policy_view view;

	if (ok->entity_case == IPSNET__V1__CHANGE_OK__ENTITY_PROGRAM ||
	    ok->entity_case == IPSNET__V1__CHANGE_OK__ENTITY_REVIEW)
		return true; /* no personal data: everyone sees programs */
	if (client[0] == '\0')
		return false;
	if (ok->entity_case == IPSNET__V1__CHANGE_OK__ENTITY_CLIENT &&
	    who->org_kind == ORG_KIND_GGZ &&
	    strcmp(ok->client->registered_by, who->org) == 0)
		view = POLICY_VIEW_GGZ; /* its own registration, no query */
	else
		view = client_view(f, who, client);
	if (view == POLICY_VIEW_NONE)
		return false;
	switch (ok->entity_case) {
	case IPSNET__V1__CHANGE_OK__ENTITY_CLIENT:
		if (!policy_view_has_registration(view)) {
			cut_text(&ok->client->registered_by);
			cut_text(&ok->client->registered_at);
		}
		return true;
	case IPSNET__V1__CHANGE_OK__ENTITY_TRAJECTORY:
		if (!policy_view_has_note(view))
			cut_text(&ok->trajectory->note);
		return true;
	case IPSNET__V1__CHANGE_OK__ENTITY_CONSENT:
		return policy_view_has_consent(who, view,
					       ok->consent->recipient);
	case IPSNET__V1__CHANGE_OK__ENTITY_FUNDING:
		return policy_view_has_funding(who, view, ok->funding->funder);
	default:
		return true;
	}
}

int sync_visible(sqlite3 *db, const struct journal_actor *who,
		 Ipsnet__V1__ChangeOk *ok, bool *visible)
{
	*visible = false;
	struct facts *f = ipsnet_malloc(sizeof(*f));
	if (f == NULL)
		return IPSNET_ENOMEM;
	facts_init(f, db, (int64_t)util_now_us());
	bool seen = visible_cut(f, who, ok);
	int rv = f->err;
	sqlite3_finalize(f->client_facts);
	ipsnet_free(f);
	*visible = rv == 0 && seen;
	return rv;
}

/* ---- fetching (reader thread) ----------------------------------------- */

const char *sync_change_name(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint64_t tag = 0;
		int shift = 0;
		while (i < n && shift < 64) {
			tag |= (uint64_t)(p[i] & 0x7f) << shift;
			shift += 7;
			if ((p[i++] & 0x80) == 0)
				break;
		}
		uint32_t field = (uint32_t)(tag >> 3);
		if (field >= 10) {
			const ProtobufCFieldDescriptor *f =
			    protobuf_c_message_descriptor_get_field(
				&ipsnet__v1__envelope__descriptor, field);
			return f != NULL ? f->name : "unknown";
		}
		switch (tag & 7) {
		case 0:
			while (i < n && (p[i++] & 0x80) != 0)
				;
			break;
		case 1:
			i += 8;
			break;
		case 5:
			i += 4;
			break;
		case 2: {
			uint64_t len = 0;
			shift = 0;
			while (i < n && shift < 64) {
				len |= (uint64_t)(p[i] & 0x7f) << shift;
				shift += 7;
				if ((p[i++] & 0x80) == 0)
					break;
			}
			if (len > n - i)
				return "unknown"; /* runs past the end */
			i += (size_t)len;
			break;
		}
		default:
			return "unknown";
		}
	}
	return "unknown";
}

static void free_env(Ipsnet__V1__Envelope *env)
{
	if (env != NULL)
		ipsnet__v1__envelope__free_unpacked(env,
						    &ipsnet_protobuf_allocator);
}

static int org_append(struct fetch_org *o, uint64_t seq, uint32_t kind,
		      const char *client, const Ipsnet__V1__Envelope *env)
{
	size_t n = ipsnet__v1__envelope__get_packed_size(env);
	size_t need = o->len + FRAME_HEADER_BYTES + n;
	if (need > o->cap) {
		size_t cap = o->cap == 0 ? 16384 : o->cap;
		while (cap < need)
			cap *= 2;
		uint8_t *grown = ipsnet_realloc(o->buf, cap);
		if (grown == NULL)
			return IPSNET_ENOMEM;
		o->buf = grown;
		o->cap = cap;
	}
	if (o->n == o->ncap) {
		size_t ncap = o->ncap == 0 ? 64 : o->ncap * 2;
		struct out_event *grown =
		    ipsnet_realloc(o->evs, ncap * sizeof(*grown));
		if (grown == NULL)
			return IPSNET_ENOMEM;
		o->evs = grown;
		o->ncap = ncap;
	}
	frame_put_header(o->buf + o->len, (uint32_t)n);
	ipsnet__v1__envelope__pack(env, o->buf + o->len + FRAME_HEADER_BYTES);
	o->evs[o->n] = (struct out_event){
	    .seq = seq,
	    .off = (uint32_t)o->len,
	    .len = (uint32_t)(FRAME_HEADER_BYTES + n),
	    .kind = kind,
	};
	util_strlcpy(o->evs[o->n].client, client, sizeof(o->evs[0].client));
	o->n++;
	o->len = need;
	return 0;
}

/* Reads the hash of entry f->from into f->last_hash; with f->check_from,
 * it must be the one there already (what the subscriber said it has), or
 * IPSNET_EPRECONDITION. An entry that is not there or has no hash is
 * damage (ipsnetd verify names it), IPSNET_EDB, not another journal. */
static int hash_at_from(sqlite3 *db, struct fetch *f)
{
	sqlite3_stmt *st;
	int rv = IPSNET_EDB; /* no such entry, or no hash: damaged */
	if (sqlite3_prepare_v3(db, "SELECT hash FROM journal WHERE seq = ?1",
			       -1, SQLITE_PREPARE_PERSISTENT, &st,
			       NULL) != SQLITE_OK)
		return IPSNET_EDB;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)f->from);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW &&
	    sqlite3_column_bytes(st, 0) == JOURNAL_HASH_BYTES) {
		const void *h = sqlite3_column_blob(st, 0);
		rv = IPSNET_EPRECONDITION;
		if (!f->check_from ||
		    memcmp(h, f->last_hash, JOURNAL_HASH_BYTES) == 0) {
			memcpy(f->last_hash, h, JOURNAL_HASH_BYTES);
			f->last_hash_known = true;
			rv = 0;
		}
	}
	sqlite3_finalize(st);
	return rv;
}

static int fetch_fn(sqlite3 *db, struct journal_read *r)
{
	struct fetch *f = container_of(r, struct fetch, r);
	sqlite3_stmt *st;
	size_t bytes = 0;
	int rv = 0, rc;

	f->last = f->from;
	if (sqlite3_prepare_v3(
		db,
		"SELECT seq, time_us, org, entity_kind, payload, "
		"response, hash FROM journal WHERE seq > ?1 AND "
		"seq <= ?2 ORDER BY seq LIMIT ?3",
		-1, SQLITE_PREPARE_PERSISTENT, &st, NULL) != SQLITE_OK)
		return IPSNET_EDB;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)f->from);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)f->upto);
	sqlite3_bind_int64(st, 3, f->limit != 0 ? (sqlite3_int64)f->limit : -1);
	/* One read transaction: facts and entries as of one moment. */
	sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
	struct facts *facts = ipsnet_malloc(sizeof(*facts));
	if (facts == NULL) {
		rv = IPSNET_ENOMEM;
		goto out;
	}
	f->judged_us = (int64_t)util_now_us();
	facts_init(facts, db, f->judged_us);
	/* First: the snapshot begins with the transaction's first read. */
	if ((rv = reads_snapshot_head(db, &f->judged_at)) != 0)
		goto out;
	if (f->from > 0 && (f->check_from || !f->last_hash_known) &&
	    (rv = hash_at_from(db, f)) != 0)
		goto out;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
		char when[32];
		util_iso8601(when, sizeof(when),
			     (uint64_t)sqlite3_column_int64(st, 1));
		const char *name = sync_change_name(
		    sqlite3_column_blob(st, 4),
		    (size_t)sqlite3_column_bytes(st, 4));
		uint32_t kind =
		    kind_bit((const char *)sqlite3_column_text(st, 3));
		for (size_t i = 0; i < f->n_orgs; i++) {
			struct fetch_org *o = &f->orgs[i];
			Ipsnet__V1__Envelope *resp =
			    ipsnet__v1__envelope__unpack(
				&ipsnet_protobuf_allocator,
				(size_t)sqlite3_column_bytes(st, 5),
				sqlite3_column_blob(st, 5));
			if (resp == NULL || resp->change_ok == NULL) {
				/* Damaged (ipsnetd verify names it too):
				 * nobody gets it, and the operator hears. */
				free_env(resp);
				if (i == 0)
					log_error("journal entry does not "
						  "decode; not delivered",
						  "seq=%llu",
						  (unsigned long long)seq);
				continue;
			}
			bool seen =
			    visible_cut(facts, &o->actor, resp->change_ok);
			if (facts->err != 0) {
				/* Judged again from this entry on, by the
				 * next fetch: no gap. */
				free_env(resp);
				rv = facts->err;
				goto out;
			}
			if (seen) {
				Ipsnet__V1__Envelope env =
				    IPSNET__V1__ENVELOPE__INIT;
				Ipsnet__V1__Event ev = IPSNET__V1__EVENT__INIT;
				ev.seq = seq;
				ev.time = when;
				ev.organisation =
				    (char *)sqlite3_column_text(st, 2);
				ev.change = (char *)name;
				ev.state = resp->change_ok;
				ev.live = f->sub == NULL;
				ev.hash.len =
				    (size_t)sqlite3_column_bytes(st, 6);
				ev.hash.data =
				    (uint8_t *)sqlite3_column_blob(st, 6);
				env.body_case = IPSNET__V1__ENVELOPE__BODY_EVENT;
				env.event = &ev;
				rv = org_append(
				    o, seq, kind,
				    util_change_ok_client(resp->change_ok),
				    &env);
			}
			free_env(resp);
			if (rv != 0)
				goto out;
		}
		f->last = seq;
		f->last_hash_known =
		    sqlite3_column_bytes(st, 6) == JOURNAL_HASH_BYTES;
		if (f->last_hash_known)
			memcpy(f->last_hash, sqlite3_column_blob(st, 6),
			       JOURNAL_HASH_BYTES);
		bytes += (size_t)sqlite3_column_bytes(st, 5);
		if (f->sub != NULL && bytes >= PAGE_BYTES)
			break;
	}
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		rv = IPSNET_EDB;
out:
	if (facts != NULL)
		sqlite3_finalize(facts->client_facts);
	ipsnet_free(facts);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	sqlite3_finalize(st);
	return rv;
}

static void fetch_free(struct fetch *f)
{
	for (size_t i = 0; i < f->n_orgs; i++) {
		ipsnet_free(f->orgs[i].buf);
		ipsnet_free(f->orgs[i].evs);
	}
	ipsnet_free(f->orgs);
	ipsnet_free(f->rows);
	ipsnet_free(f);
}

static void fetch_done(struct journal_read *r);

static struct fetch *fetch_new(struct sync *s, uint64_t from, uint64_t upto)
{
	struct fetch *f = ipsnet_calloc(1, sizeof(*f));
	if (f == NULL)
		return NULL;
	f->sync = s;
	f->from = from;
	f->upto = upto;
	f->r.fn = fetch_fn;
	f->r.done = fetch_done;
	return f;
}

static int fetch_add_org(struct fetch *f, const struct journal_actor *a)
{
	for (size_t i = 0; i < f->n_orgs; i++)
		if (strcmp(f->orgs[i].actor.org, a->org) == 0)
			return 0;
	struct fetch_org *grown =
	    ipsnet_realloc(f->orgs, (f->n_orgs + 1) * sizeof(*grown));
	if (grown == NULL)
		return IPSNET_ENOMEM;
	f->orgs = grown;
	memset(&f->orgs[f->n_orgs], 0, sizeof(f->orgs[0]));
	f->orgs[f->n_orgs].actor = *a;
	f->n_orgs++;
	return 0;
}

static const struct fetch_org *fetch_org_of(const struct fetch *f,
					    const char *org)
{
	for (size_t i = 0; i < f->n_orgs; i++)
		if (strcmp(f->orgs[i].actor.org, org) == 0)
			return &f->orgs[i];
	return NULL;
}

/* ---- delivery (loop thread) ------------------------------------------- */

static void sub_free(struct sync_sub *sub)
{
	struct sync *s = sub->sync;
	if (sub->prev != NULL)
		sub->prev->next = sub->next;
	else
		s->subs = sub->next;
	if (sub->next != NULL)
		sub->next->prev = sub->prev;
	s->n_subs--;
	ipsnet_free(sub);
}

/* Whether sub takes events of kind (a bit of its mask; 0: all). */
static bool wants(const struct sync_sub *sub, uint32_t kind)
{
	return sub->kinds == 0 || (sub->kinds & kind) != 0;
}

static bool sub_gone(struct sync_sub *sub)
{
	return sub->conn == NULL || !conn__open(sub->conn);
}

/* Encrypts and writes what d->o holds after the subscriber's cursor, up to
 * the send bound. Touches only the subscriber and its stream, so that it
 * may run on a delivery thread while the loop waits; deliver_finish
 * follows on the loop thread. */
static void deliver(struct delivery *d)
{
	struct sync_sub *sub = d->sub;
	const struct fetch_org *o = d->o;
	struct ipsnet_stream *st = &sub->conn->stream;
	size_t bound = sub->sync->send_bound;
	size_t i = 0;
	bool sent = false;
	while (i < o->n && o->evs[i].seq <= sub->cursor)
		i++;
	while (i < o->n) {
		/* A run of wanted events, as one write of at most a chunk. */
		while (i < o->n && !wants(sub, o->evs[i].kind))
			i++;
		if (i == o->n)
			break;
		size_t first = i, len = 0;
		while (i < o->n && len + o->evs[i].len <= SEND_CHUNK &&
		       wants(sub, o->evs[i].kind))
			len += o->evs[i++].len;
		if (len == 0)
			len = o->evs[i++].len; /* one event above a chunk */
		if (stream_backlog(st) + len > bound) {
			sub->cursor = o->evs[first].seq - 1;
			sub->cursor_hash_known = false; /* its page reads it */
			return;
		}
		d->err = stream_send_framed_offloop(
		    st, o->buf + o->evs[first].off, len);
		if (d->err != 0)
			return;
		sent = true;
	}
	sub->cursor = d->last;
	sub->cursor_hash_known = d->last_hash != NULL;
	if (d->last_hash != NULL)
		memcpy(sub->cursor_hash, d->last_hash, JOURNAL_HASH_BYTES);
	d->all = true;
	if (sent) /* a delivery that sent nothing has no time to count */
		d->sent_us = util_mono_us();
}

static void deliver_at(void *arg, size_t i)
{
	struct sync *s = arg;
	deliver(&s->deliveries[i]);
}

static void fall_back(struct sync_sub *sub);

/* Loop thread, after deliver: what the socket did not take goes to libuv;
 * a failed stream closes; a subscriber that could not take everything
 * falls back. Returns true when everything went. */
static bool deliver_finish(struct delivery *d)
{
	struct ipsnet_stream *st = &d->sub->conn->stream;
	if (stream_flush_pending(st, d->err) != 0)
		return false;
	if (d->all)
		return true;
	fall_back(d->sub);
	/* The socket took everything after all: no drain will be reported,
	 * so it catches up at once. */
	if (st->queued_bytes == 0)
		sync__conn_drained(d->sub);
	return false;
}

static void send_push(struct sync_sub *sub, Ipsnet__V1__Envelope *env)
{
	if (!sub_gone(sub))
		(void)conn__send(sub->conn, env);
}

static void send_caught_up(struct sync_sub *sub)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__CaughtUp cu = IPSNET__V1__CAUGHT_UP__INIT;
	cu.seq = sub->cursor;
	if (sub->cursor > 0 && sub->cursor_hash_known) {
		cu.hash.len = JOURNAL_HASH_BYTES;
		cu.hash.data = sub->cursor_hash;
	}
	env.body_case = IPSNET__V1__ENVELOPE__BODY_CAUGHT_UP;
	env.caught_up = &cu;
	send_push(sub, &env);
	/* The catch-up is over: the room its pages made in the TLS buffer
	 * goes (stream_trim), or a follower would keep it while it idles. */
	if (!sub_gone(sub))
		stream_trim(&sub->conn->stream);
}

static void fetch_page(struct sync_sub *sub);
static void fetch_page_from(struct sync_sub *sub, uint64_t from,
			    const uint8_t *from_hash);
static bool sub_release(struct sync_sub *sub);
static void start_live(struct sync *s);

static void fall_back(struct sync_sub *sub)
{
	sub->mode = SUB_CATCHUP;
	sub->full = true;
	sub->sync->fallbacks++;
	log_debug("subscriber falls back", "org=%s cursor=%llu",
		  sub->actor.org, (unsigned long long)sub->cursor);
}

/* A subscriber that has read up to its cursor decides where it goes. */
static void place(struct sync_sub *sub)
{
	struct sync *s = sub->sync;
	struct fetch *live = s->live;
	if (sub->full || sub->fetching || sub->pending != NULL)
		return;
	if (sub->check_since || (sub->cursor > 0 && !sub->cursor_hash_known)) {
		/* Its hash at the cursor is only the subscriber's word, or
		 * unknown: a page reads it (and checks the subscriber's)
		 * before anything goes out, so that a CaughtUp carries it,
		 * even where the live fetch in flight ends. */
		sub->mode = SUB_CATCHUP;
		fetch_page(sub);
		return;
	}
	if (live == NULL && sub->cursor == s->live_seq) {
		sub->mode = SUB_LIVE;
		send_caught_up(sub);
		return;
	}
	if (live == NULL && sub->cursor >= s->head) {
		/* Ahead of live delivery (it could not start): wait for it. */
		sub->mode = SUB_PARKED;
		start_live(s);
		return;
	}
	if (live != NULL && sub->cursor == live->upto) {
		sub->mode = SUB_LIVE;
		send_caught_up(sub);
		return;
	}
	if (live != NULL && sub->cursor == live->from) {
		if (fetch_org_of(live, sub->actor.org) != NULL) {
			sub->mode = SUB_LIVE;
			send_caught_up(sub);
		} else {
			sub->mode = SUB_PARKED;
		}
		return;
	}
	if (live != NULL && sub->cursor > live->upto) {
		/* Beyond the live fetch in flight (commits came after it
		 * began): nothing to read until it is done, then placed. */
		sub->mode = SUB_PARKED;
		return;
	}
	sub->mode = SUB_CATCHUP;
	fetch_page(sub);
}

static void fetch_page(struct sync_sub *sub)
{
	fetch_page_from(sub, sub->cursor, NULL);
}

/* A page after from; from_hash is entry from's when the caller has it (the
 * page before read it), else the subscriber's cursor hash serves when from
 * is its cursor, else fetch_fn reads it. */
static void fetch_page_from(struct sync_sub *sub, uint64_t from,
			    const uint8_t *from_hash)
{
	struct sync *s = sub->sync;
	/* The server is stopping and waits for this connection's work: no
	 * more pages; it closes once the last one is back. */
	if (sub->conn != NULL && sub->conn->drain)
		return;
	uint64_t upto = s->live != NULL ? s->live->upto : s->head;
	struct fetch *f = fetch_new(s, from, upto);
	if (f == NULL || fetch_add_org(f, &sub->actor) != 0) {
		if (f != NULL)
			fetch_free(f);
		if (!sub_gone(sub))
			conn__refuse(sub->conn, 0, IPSNET_ENOMEM,
				     "the server is out of memory for the "
				     "subscription",
				     "error");
		return;
	}
	f->sub = sub;
	f->limit = PAGE_ROWS;
	if (from_hash != NULL) {
		memcpy(f->last_hash, from_hash, JOURNAL_HASH_BYTES);
		f->last_hash_known = true;
	} else if (from == sub->cursor && sub->cursor_hash_known) {
		memcpy(f->last_hash, sub->cursor_hash, JOURNAL_HASH_BYTES);
		f->last_hash_known = true;
		f->check_from = sub->check_since;
	}
	if (sub->conn != NULL) {
		f->held = sub->conn;
		conn__request_begin(f->held);
	}
	sub->fetching = true;
	s->fetches++;
	journal_read_bulk(s->journal, &f->r);
}

static int grow_deliveries(struct sync *s)
{
	size_t cap = s->deliveries_cap == 0 ? 64 : 2 * s->deliveries_cap;
	struct delivery *d =
	    ipsnet_realloc(s->deliveries, cap * sizeof(*s->deliveries));
	if (d == NULL)
		return IPSNET_ENOMEM;
	s->deliveries = d;
	s->deliveries_cap = cap;
	return 0;
}

static void count_sent(struct sync *s, uint64_t us)
{
	size_t b = us / SEND_BUCKET_US;
	s->sent_hist[b < SEND_BUCKETS ? b : SEND_BUCKETS - 1]++;
	s->sent_n++;
	if (us > s->sent_max_us)
		s->sent_max_us = us;
}

/* The p-th percentile of the commit-to-send times, in ms (the upper edge
 * of its bucket). */
static double sent_pct(const struct sync *s, double p)
{
	if (s->sent_n == 0)
		return 0;
	uint64_t want = (uint64_t)(p / 100.0 * (double)s->sent_n + 0.5);
	uint64_t seen = 0;
	for (size_t b = 0; b < SEND_BUCKETS; b++) {
		seen += s->sent_hist[b];
		if (seen >= want && seen > 0)
			return (double)((b + 1) * SEND_BUCKET_US) / 1000.0;
	}
	return (double)s->sent_max_us / 1000.0;
}

/* ---- the audit trail of deliveries (loop thread) ---------------------- */

/* What goes out to a subscriber is a read of personal data (DESIGN §4): one
 * audit row per subscriber and run of entries of one client, committed by
 * the writer before the first byte of it goes out, as a read's rows are. A
 * delivery that cannot be recorded does not go out. Programs and reviews
 * carry no personal data and leave no row. */

static int add_row(struct fetch *f, const struct sync_sub *sub,
		   const char *client, uint64_t first, uint64_t last)
{
	if (f->n_rows == f->rows_cap) {
		size_t cap = f->rows_cap == 0 ? 16 : 2 * f->rows_cap;
		struct journal_audit_row *grown =
		    ipsnet_realloc(f->rows, cap * sizeof(*grown));
		if (grown == NULL)
			return IPSNET_ENOMEM;
		f->rows = grown;
		f->rows_cap = cap;
	}
	struct journal_audit_row *r = &f->rows[f->n_rows++];
	memset(r, 0, sizeof(*r));
	/* The moment consent was judged, as a read's rows have: a row taken
	 * later could fall on the day after a consent's last one. */
	r->time_us = f->judged_us;
	util_strlcpy(r->org, sub->actor.org, sizeof(r->org));
	util_strlcpy(r->user, sub->actor.user, sizeof(r->user));
	util_strlcpy(r->peer, sub->actor.peer, sizeof(r->peer));
	util_strlcpy(r->client_id, client, sizeof(r->client_id));
	util_strlcpy(r->action, "sync", sizeof(r->action));
	if (first == last)
		snprintf(r->object, sizeof(r->object), "journal:%llu",
			 (unsigned long long)first);
	else
		snprintf(r->object, sizeof(r->object), "journal:%llu-%llu",
			 (unsigned long long)first, (unsigned long long)last);
	util_strlcpy(r->result, "OK", sizeof(r->result));
	return 0;
}

/* The rows of what deliver would send sub from o once its cursor is at
 * from: the entries after it, of its kinds, that concern a client. A row's
 * run "journal:A-B" holds consecutive entries only: an entry between two
 * of the client's that sub does not receive (one it may not see, or not
 * of its kinds) may be the client's too, and the row would say it went. */
static int add_rows(struct fetch *f, const struct sync_sub *sub,
		    const struct fetch_org *o, uint64_t from)
{
	const char *client = "";
	uint64_t first = 0, last = 0;
	for (size_t i = 0; i < o->n; i++) {
		const struct out_event *e = &o->evs[i];
		if (e->seq <= from || !wants(sub, e->kind) ||
		    e->client[0] == '\0')
			continue;
		if (strcmp(e->client, client) == 0 && e->seq == last + 1) {
			last = e->seq;
			continue;
		}
		if (client[0] != '\0' && add_row(f, sub, client, first, last))
			return IPSNET_ENOMEM;
		client = e->client;
		first = last = e->seq;
	}
	if (client[0] != '\0')
		return add_row(f, sub, client, first, last);
	return 0;
}

static void fetch_finish(struct fetch *f)
{
	struct conn *held = f->held;
	struct sync *s = f->sync;
	s->fetches--;
	fetch_free(f);
	if (held != NULL)
		conn__request_done(held);
	if (s->fetches == 0 && s->on_idle != NULL)
		s->on_idle(s->on_idle_arg);
}

/* ---- live and catch-up deliveries (loop thread) ------------------------ */

/* The second half of a live fetch: its rows are on disk (err 0), or could
 * not be written. */
static void live_send(struct sync *s, struct fetch *f, int err)
{
	/* Judged before a change that can take away what a subscriber may
	 * see (a consent withdrawn) committed: nothing goes, and the range
	 * is read again from live_seq, judged anew. */
	bool stale = err == IPSNET_ECONFLICT;
	s->live = NULL;
	/* Subscribers that joined the range while its rows were written:
	 * not in them, so they read it themselves. */
	for (struct sync_sub *sub = s->subs; sub != NULL; sub = sub->next)
		if (!sub->auditing && !sub_gone(sub) && sub->mode == SUB_LIVE &&
		    sub->cursor == f->from) {
			sub->mode = SUB_CATCHUP;
			fetch_page(sub);
		}
	size_t n = 0;
	for (size_t i = 0; i < s->n_deliveries; i++) {
		struct sync_sub *sub = s->deliveries[i].sub;
		sub->auditing = false;
		if (sub_release(sub)) {
		} else if (sub_gone(sub)) {
		} else if (stale) {
			/* Stays live at its cursor, where the range read
			 * again starts. */
		} else if (err != 0) {
			/* Not recorded, so not sent: it tries again from the
			 * database, and is closed if that fails too. */
			sub->mode = SUB_CATCHUP;
			fetch_page(sub);
		} else {
			s->deliveries[n++] = s->deliveries[i];
		}
	}
	s->n_deliveries = n;
	/* The loop waits while the records are encrypted and written: no
	 * other work of the loop touches these subscribers meanwhile. */
	fanout_run(s->fanout, s->n_deliveries, deliver_at, s);
	for (size_t i = 0; i < s->n_deliveries; i++) {
		struct delivery *d = &s->deliveries[i];
		if (deliver_finish(d) && f->commit_us != 0 && d->sent_us != 0)
			count_sent(s, d->sent_us - f->commit_us);
	}
	s->n_deliveries = 0;
	if (f->r.err == 0 && !stale) {
		s->live_seq = f->upto;
		memcpy(s->live_hash, f->last_hash, JOURNAL_HASH_BYTES);
	} else {
		if (stale) {
			log_debug("live fetch judged before a narrowing "
				  "change; read again",
				  "from=%llu judged_at=%llu",
				  (unsigned long long)f->from,
				  (unsigned long long)f->judged_at);
			if (f->commit_us != 0)
				s->unfetched_commit_us = f->commit_us;
		} else {
			log_warn("live fetch failed", "error=\"%s\"",
				 ipsnet_strerror(f->r.err));
		}
		/* Subscribers that joined where the range ends: live delivery
		 * reads it again from live_seq and goes past their cursor, so
		 * they read from it themselves. */
		for (struct sync_sub *sub = s->subs; sub != NULL;
		     sub = sub->next)
			if (sub->mode == SUB_LIVE && !sub_gone(sub) &&
			    sub->cursor != s->live_seq) {
				sub->mode = SUB_CATCHUP;
				fetch_page(sub);
			}
	}
	/* Subscribers that were waiting for this range to pass. */
	for (struct sync_sub *sub = s->subs; sub != NULL; sub = sub->next)
		if (sub->mode == SUB_PARKED && !sub_gone(sub))
			place(sub);
	start_live(s);
}

static void live_audited(struct journal_audit *ja)
{
	struct fetch *f = container_of(ja, struct fetch, ja);
	live_send(f->sync, f, ja->err);
	fetch_finish(f);
}

static void live_done(struct sync *s, struct fetch *f)
{
	struct sync_sub *next;
	int err = 0;
	for (struct sync_sub *sub = s->subs; sub != NULL; sub = next) {
		next = sub->next;
		if (sub_gone(sub) || sub->mode != SUB_LIVE ||
		    sub->cursor != f->from)
			continue;
		const struct fetch_org *o = fetch_org_of(f, sub->actor.org);
		if (o == NULL || f->r.err != 0) {
			/* Not fetched for it: it reads the range itself. */
			sub->mode = SUB_CATCHUP;
			fetch_page(sub);
			continue;
		}
		if (s->n_deliveries == s->deliveries_cap &&
		    grow_deliveries(s) != 0) {
			sub->mode = SUB_CATCHUP; /* it reads the range itself */
			fetch_page(sub);
			continue;
		}
		s->deliveries[s->n_deliveries++] = (struct delivery){
		    .sub = sub,
		    .o = o,
		    .last = f->upto,
		    .last_hash = f->last_hash_known ? f->last_hash : NULL};
		sub->auditing = true;
		if (err == 0)
			err = add_rows(f, sub, o, sub->cursor);
	}
	if (err != 0 || f->n_rows == 0) {
		live_send(s, f, err);
		fetch_finish(f);
		return;
	}
	/* Until the rows are on disk these subscribers stay as they are, and
	 * the range stays in flight (s->live). */
	f->ja.rows = f->rows;
	f->ja.n = f->n_rows;
	f->ja.judged_at = f->judged_at;
	f->ja.done = live_audited;
	journal_audit(s->journal, &f->ja);
}

/* ---- catch-up pages (loop thread) -------------------------------------- */

/* A subscriber in catch-up has at most one page being read and one whose
 * audit rows are being committed (pending): the next page is read while
 * the writer records the one before, and waits (parked) until that one
 * went out. */

/* A subscriber whose connection went: what it holds is let go, and it is
 * freed once nothing of it is in flight. True when it went. */
static bool sub_release(struct sync_sub *sub)
{
	if (sub->conn != NULL)
		return false;
	if (sub->parked != NULL) {
		struct fetch *p = sub->parked;
		sub->parked = NULL;
		fetch_finish(p);
	}
	if (!sub->fetching && sub->pending == NULL && !sub->auditing)
		sub_free(sub);
	return true;
}

/* Why a subscriber that says entry seq has another hash is refused. */
static const char *not_ours(char *why, size_t cap, uint64_t seq)
{
	snprintf(why, cap,
		 "journal entry %llu on this server is not the one this "
		 "subscriber has: the server's journal was restored from a "
		 "backup, or this is another server; start again from seq 0 "
		 "(sync to a new mirror file, or watch --since 0)",
		 (unsigned long long)seq);
	return why;
}

/* The seq of the last event of o that sub wants; 0: none. */
static uint64_t last_wanted(const struct sync_sub *sub,
			    const struct fetch_org *o)
{
	for (size_t i = o->n; i-- > 0;)
		if (wants(sub, o->evs[i].kind))
			return o->evs[i].seq;
	return 0;
}

/* A page whose last entries were none of the subscriber's: it is told how
 * far the catch-up read, when it asked (a progress display would stand
 * still where its events are few). Not while bytes wait for the peer: a
 * subscriber that reads nothing would get one more a page, beyond the
 * send bound, as its catch-up reads on through what it may not see; one
 * that reads gets the next when it took the last (a hint, not owed). */
static void send_progress(struct sync_sub *sub, const struct fetch *f)
{
	if (!sub->progress || last_wanted(sub, &f->orgs[0]) == f->last ||
	    stream_backlog(&sub->conn->stream) > 0)
		return;
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Progress p = IPSNET__V1__PROGRESS__INIT;
	p.seq = f->last;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_PROGRESS;
	env.progress = &p;
	send_push(sub, &env);
}

/* Sends page f, its rows recorded (err 0) or not. True when all of it
 * went and the subscription goes on. */
static bool page_send(struct fetch *f, int err)
{
	struct sync_sub *sub = f->sub;
	if (sub_gone(sub))
		return false;
	if (f->r.err == IPSNET_EPRECONDITION) {
		char why[320];
		conn__refuse(sub->conn, 0, IPSNET_EPRECONDITION,
			     not_ours(why, sizeof(why), f->from), "error");
		return false;
	}
	if (f->r.err != 0) {
		conn__refuse(sub->conn, 0, IPSNET_EUNAVAILABLE,
			     "the subscription cannot read the journal now; "
			     "subscribe again later",
			     "error");
		return false;
	}
	if (err != 0) {
		char why[240], cause[sizeof(f->ja.cause) + 3];
		snprintf(why, sizeof(why),
			 "what the subscription would deliver cannot be "
			 "recorded in the audit trail now%s, so it is not "
			 "sent; subscribe again later",
			 journal_audit_cause(&f->ja, cause, sizeof(cause)));
		conn__refuse(sub->conn, 0, IPSNET_EUNAVAILABLE, why, "error");
		return false;
	}
	sub->check_since = false;
	struct delivery d = {.sub = sub,
			     .o = &f->orgs[0],
			     .last = f->last,
			     .last_hash =
				 f->last_hash_known ? f->last_hash : NULL};
	deliver(&d);
	if (!deliver_finish(&d))
		return false;
	send_progress(sub, f);
	return true;
}

static void page_take(struct fetch *f);

/* After a page went out (ok) or did not: the next one, or place. */
static void page_next(struct sync_sub *sub, bool ok)
{
	if (sub_release(sub))
		return;
	if (!ok) {
		/* Fell back or closing: what was read ahead is stale. */
		if (sub->parked != NULL) {
			struct fetch *p = sub->parked;
			sub->parked = NULL;
			fetch_finish(p);
		}
		if (sub->fetching)
			sub->drop_read = true;
		return;
	}
	if (sub->parked != NULL) {
		struct fetch *p = sub->parked;
		sub->parked = NULL;
		page_take(p);
		return;
	}
	if (!sub->fetching)
		place(sub);
}

static void page_audited(struct journal_audit *ja)
{
	struct fetch *f = container_of(ja, struct fetch, ja);
	struct sync_sub *sub = f->sub;
	sub->pending = NULL;
	if (ja->err == IPSNET_ECONFLICT && !sub_gone(sub)) {
		/* Judged before a change that can take away what it may see
		 * (a consent withdrawn) committed: nothing goes, what was
		 * read ahead is dropped, and the page is read again from the
		 * cursor. Not a failure: the subscription goes on. */
		fetch_finish(f);
		page_next(sub, false);
		if (!sub->fetching)
			place(sub);
		return;
	}
	bool ok = page_send(f, ja->err);
	fetch_finish(f);
	page_next(sub, ok);
}

/* A page read, with nothing before it still to go: its rows are
 * committed, the next page is read meanwhile, then it goes. */
static void page_take(struct fetch *f)
{
	struct sync_sub *sub = f->sub;
	int err = 0;
	if (!sub_gone(sub) && f->r.err == 0)
		err = add_rows(f, sub, &f->orgs[0], sub->cursor);
	if (err != 0 || f->n_rows == 0) {
		bool ok = page_send(f, err);
		fetch_finish(f);
		page_next(sub, ok);
		return;
	}
	sub->pending = f;
	f->ja.rows = f->rows;
	f->ja.n = f->n_rows;
	f->ja.judged_at = f->judged_at;
	f->ja.done = page_audited;
	journal_audit_bulk(f->sync->journal, &f->ja);
	if (f->last < f->upto && !sub->fetching) /* a page was not all */
		fetch_page_from(sub, f->last,
				f->last_hash_known ? f->last_hash : NULL);
}

static void page_done(struct fetch *f)
{
	struct sync_sub *sub = f->sub;
	sub->fetching = false;
	if (sub->drop_read) {
		sub->drop_read = false;
		fetch_finish(f);
		if (!sub_release(sub) && !sub_gone(sub))
			place(sub);
		return;
	}
	if (sub->pending != NULL) {
		sub->parked = f;
		if (sub->conn == NULL)
			sub_release(sub);
		return;
	}
	if (sub->conn == NULL) {
		fetch_finish(f);
		sub_release(sub);
		return;
	}
	page_take(f);
}

static void fetch_done(struct journal_read *r)
{
	struct fetch *f = container_of(r, struct fetch, r);
	if (f->sub != NULL)
		page_done(f);
	else
		live_done(f->sync, f);
}

/* Reads the next committed range, at most a page of entries, for every
 * organisation with live (or parked) subscribers: what piled up meanwhile
 * follows a page at a time, so that the daemon's memory does not grow
 * with the pile. */
static void start_live(struct sync *s)
{
	if (s->live != NULL || s->head <= s->live_seq)
		return;
	uint64_t upto = s->head - s->live_seq > PAGE_ROWS
			    ? s->live_seq + PAGE_ROWS
			    : s->head;
	struct fetch *f = fetch_new(s, s->live_seq, upto);
	if (f == NULL)
		return;
	struct sync_sub *next;
	for (struct sync_sub *sub = s->subs; sub != NULL; sub = next) {
		next = sub->next;
		if (sub_gone(sub))
			continue;
		if (sub->mode == SUB_PARKED && sub->cursor == s->live_seq) {
			sub->mode = SUB_LIVE;
			send_caught_up(sub);
		}
		if (sub->mode == SUB_LIVE &&
		    fetch_add_org(f, &sub->actor) != 0) {
			/* Not fetched for (out of memory): it reads the range
			 * itself, or is told why it cannot. */
			sub->mode = SUB_CATCHUP;
			fetch_page(sub);
		}
	}
	if (f->n_orgs == 0) {
		/* Nobody is listening: the range passes unread. */
		s->live_seq = s->head;
		memcpy(s->live_hash, s->head_hash, JOURNAL_HASH_BYTES);
		s->unfetched_commit_us = 0;
		fetch_free(f);
		/* Subscribers parked at the head waited for this range to
		 * pass, and no live fetch will come back to place them. */
		for (struct sync_sub *sub = s->subs; sub != NULL;
		     sub = sub->next)
			if (sub->mode == SUB_PARKED && !sub_gone(sub) &&
			    sub->cursor == s->live_seq) {
				sub->mode = SUB_LIVE;
				send_caught_up(sub);
			}
		return;
	}
	f->commit_us = s->unfetched_commit_us;
	memcpy(f->last_hash, s->live_hash, JOURNAL_HASH_BYTES);
	f->last_hash_known = true;
	if (upto == s->head) /* else the next page's is no later */
		s->unfetched_commit_us = 0;
	s->live = f;
	s->fetches++;
	journal_read(s->journal, &f->r);
}

static void on_commit(void *arg, uint64_t head,
		      const uint8_t hash[JOURNAL_HASH_BYTES],
		      uint64_t commit_us)
{
	struct sync *s = arg;
	s->head = head;
	memcpy(s->head_hash, hash, JOURNAL_HASH_BYTES);
	if (s->unfetched_commit_us == 0)
		s->unfetched_commit_us = commit_us;
	start_live(s);
}

/* ---- requests ---------------------------------------------------------- */

static void answer(struct conn *c, Ipsnet__V1__Envelope *req, uint64_t head)
{
	Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Status status = IPSNET__V1__STATUS__INIT;
	Ipsnet__V1__Subscribed ok = IPSNET__V1__SUBSCRIBED__INIT;
	ok.head_seq = head;
	env.request_id = req->request_id;
	env.status = &status;
	env.body_case = IPSNET__V1__ENVELOPE__BODY_SUBSCRIBED;
	env.subscribed = &ok;
	(void)conn__send(c, &env);
}

/* A Subscribe with since_hash: false (and refused) when it is not 32
 * bytes, or since_seq is beyond the journal, or is the head or live_seq
 * and its hash differs. A seq below those is checked by the first page. */
static bool since_hash_holds(struct sync *s, struct conn *c,
			     uint64_t request_id,
			     const Ipsnet__V1__Subscribe *m)
{
	char why[320];
	if (m->since_hash.len != JOURNAL_HASH_BYTES) {
		conn__send_error(c, request_id, IPSNET_EINVAL,
				 "since_hash must be a journal entry's hash "
				 "(32 bytes), as an event or CaughtUp gave it");
		return false;
	}
	if (m->since_seq == 0)
		return true;
	const uint8_t *ours = m->since_seq == s->head	    ? s->head_hash
			      : m->since_seq == s->live_seq ? s->live_hash
							    : NULL;
	if (m->since_seq > s->head)
		snprintf(why, sizeof(why),
			 "this server's journal ends at seq %llu, before "
			 "this subscriber's seq %llu: the journal was "
			 "restored from a backup, or this is another server; "
			 "start again from seq 0 (sync to a new mirror file, "
			 "or watch --since 0)",
			 (unsigned long long)s->head,
			 (unsigned long long)m->since_seq);
	else if (ours != NULL &&
		 memcmp(ours, m->since_hash.data, JOURNAL_HASH_BYTES) != 0)
		not_ours(why, sizeof(why), m->since_seq);
	else
		return true;
	conn__send_error(c, request_id, IPSNET_EPRECONDITION, why);
	return false;
}

void sync__request(struct sync *s, struct conn *c, Ipsnet__V1__Envelope *req)
{
	if (req->body_case == IPSNET__V1__ENVELOPE__BODY_UNSUBSCRIBE) {
		if (c->sub != NULL) {
			c->sub->conn = NULL;
			sub_release(c->sub);
			c->sub = NULL;
		}
		answer(c, req, s->head);
		goto done;
	}
	const Ipsnet__V1__Subscribe *m = req->subscribe;
	/* The head as committed now: Hello told the subscriber the journal's
	 * own, and the loop may not have run on_commit for it yet (it was
	 * busy, or took this socket first), which would read its cursor as
	 * beyond the journal. */
	struct journal_stats js;
	journal_stats(s->journal, &js);
	if (js.head_seq > s->head) {
		s->head = js.head_seq;
		memcpy(s->head_hash, js.head_hash, JOURNAL_HASH_BYTES);
	}
	if (c->sub != NULL) {
		conn__send_error(c, req->request_id, IPSNET_EPRECONDITION,
				 "this connection is subscribed already; "
				 "unsubscribe first");
		goto done;
	}
	uint32_t kinds = 0;
	for (size_t i = 0; i < m->n_kinds; i++) {
		uint32_t bit = kind_bit(m->kinds[i]);
		if (bit == 1u << 31) {
			char why[160];
			/* At most 40 bytes of it, cut between two characters:
			 * the answer's text must stay UTF-8 (the kind is). */
			size_t n = strlen(m->kinds[i]);
			if (n > 40) {
				n = 40;
				while (n > 0 &&
				       ((uint8_t)m->kinds[i][n] & 0xc0) == 0x80)
					n--;
			}
			snprintf(why, sizeof(why),
				 "unknown entity kind '%.*s' (client, consent, "
				 "trajectory, funding, job, program, "
				 "fidelity_review)",
				 (int)n, m->kinds[i]);
			conn__send_error(c, req->request_id, IPSNET_EINVAL,
					 why);
			goto done;
		}
		kinds |= bit;
	}
	if (m->since_hash.len != 0 &&
	    !since_hash_holds(s, c, req->request_id, m))
		goto done;
	struct sync_sub *sub = ipsnet_calloc(1, sizeof(*sub));
	if (sub == NULL) {
		conn__send_error(c, req->request_id, IPSNET_ENOMEM, NULL);
		goto done;
	}
	sub->sync = s;
	sub->conn = c;
	sub->kinds = kinds;
	sub->progress = m->progress;
	sub->cursor = m->since_seq < s->head ? m->since_seq : s->head;
	if (m->since_hash.len != 0 && sub->cursor > 0) {
		/* Checked above when it is the head's or live_seq's; else
		 * by the first page, which reads from it. */
		memcpy(sub->cursor_hash, m->since_hash.data,
		       JOURNAL_HASH_BYTES);
		sub->cursor_hash_known = true;
		sub->check_since =
		    sub->cursor != s->head && sub->cursor != s->live_seq;
	} else if (sub->cursor == s->live_seq) {
		memcpy(sub->cursor_hash, s->live_hash, JOURNAL_HASH_BYTES);
		sub->cursor_hash_known = true;
	} else if (sub->cursor == s->head) {
		memcpy(sub->cursor_hash, s->head_hash, JOURNAL_HASH_BYTES);
		sub->cursor_hash_known = true;
	}
	conn__actor(c, &sub->actor);
	sub->next = s->subs;
	if (s->subs != NULL)
		s->subs->prev = sub;
	s->subs = sub;
	s->n_subs++;
	c->sub = sub;
	answer(c, req, s->head);
	/* The user is the client's to choose: one quoted value. */
	char user[2 * sizeof(sub->actor.user)];
	log_quote(user, sizeof(user),
		  sub->actor.user[0] ? sub->actor.user : "-");
	log_info("subscribed", "org=%s user=%s since_seq=%llu head_seq=%llu",
		 sub->actor.org, user, (unsigned long long)m->since_seq,
		 (unsigned long long)s->head);
	place(sub);
done:
	conn__request_done(c);
	ipsnet__v1__envelope__free_unpacked(req, &ipsnet_protobuf_allocator);
}

void sync__conn_drained(struct sync_sub *sub)
{
	if (!sub->full || sub_gone(sub))
		return;
	sub->full = false;
	place(sub);
}

void sync__conn_closed(struct sync_sub *sub)
{
	sub->conn = NULL;
	sub_release(sub);
}

/* ---- life -------------------------------------------------------------- */

int sync_new(struct sync **out, struct journal *j, size_t send_bound,
	     unsigned threads)
{
	struct sync *s = ipsnet_calloc(1, sizeof(*s));
	if (s == NULL)
		return IPSNET_ENOMEM;
	if (threads == 0) {
		unsigned cpus = uv_available_parallelism();
		threads = cpus < 1 ? 1 : cpus > 8 ? 8 : cpus;
	}
	if (fanout_new(&s->fanout, threads - 1) != 0) {
		ipsnet_free(s);
		return IPSNET_ENOMEM;
	}
	struct journal_stats js;
	journal_stats(j, &js);
	s->journal = j;
	s->send_bound = send_bound;
	s->head = js.head_seq;
	s->live_seq = js.head_seq;
	memcpy(s->head_hash, js.head_hash, JOURNAL_HASH_BYTES);
	memcpy(s->live_hash, js.head_hash, JOURNAL_HASH_BYTES);
	journal_on_commit(j, on_commit, s);
	*out = s;
	return 0;
}

bool sync_idle(const struct sync *s)
{
	return s->fetches == 0;
}

void sync_on_idle(struct sync *s, void (*cb)(void *arg), void *arg)
{
	s->on_idle = cb;
	s->on_idle_arg = arg;
}

void sync_stats(struct sync *s, struct sync_stats *out)
{
	memset(out, 0, sizeof(*out));
	out->subscribers = s->n_subs;
	for (struct sync_sub *sub = s->subs; sub != NULL; sub = sub->next)
		out->live += sub->mode == SUB_LIVE;
	out->live_seq = s->live_seq;
	out->fallbacks = s->fallbacks;
	out->live_sent = s->sent_n;
	out->sent_p50_ms = sent_pct(s, 50);
	out->sent_p99_ms = sent_pct(s, 99);
	out->sent_max_ms = (double)s->sent_max_us / 1000.0;
}

void sync_free(struct sync *s)
{
	if (s == NULL)
		return;
	while (s->subs != NULL)
		sub_free(s->subs);
	fanout_free(s->fanout);
	ipsnet_free(s->deliveries);
	ipsnet_free(s);
}
