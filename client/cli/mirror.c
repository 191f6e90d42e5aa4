/* The local SQLite mirror: see mirror.h. The tables are made from the
 * proto descriptors of the entities, so a field added to the wire schema
 * becomes a column (added to an existing mirror on its next open). */
#include "mirror.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <sqlite3.h>

#include "ipsnet_errors.h"
#include "util.h"

/* Raised for an existing mirror whose layout an older build cannot read. */
#define MIRROR_FORMAT 1
/* The longest kind noted in meta.skipped_kinds. */
#define SKIPPED_KIND_MAX 40

struct table {
	const char *name;
	const ProtobufCMessageDescriptor *desc;
};

static const struct table tables[] = {
    {"client", &ipsnet__v1__client__descriptor},
    {"consent", &ipsnet__v1__consent__descriptor},
    {"trajectory", &ipsnet__v1__trajectory__descriptor},
    {"funding", &ipsnet__v1__funding__descriptor},
    {"job", &ipsnet__v1__job__descriptor},
    {"program", &ipsnet__v1__program__descriptor},
    {"fidelity_review", &ipsnet__v1__fidelity_review__descriptor},
};

#define N_TABLES ARRAY_SIZE(tables)

/* The table of the kind named by the n bytes at name, or NULL when this
 * ipsnet has none. */
static const struct table *table_named(const char *name, size_t n)
{
	for (size_t i = 0; i < N_TABLES; i++)
		if (strlen(tables[i].name) == n &&
		    strncmp(tables[i].name, name, n) == 0)
			return &tables[i];
	return NULL;
}

struct mirror {
	sqlite3 *db;
	int lock_fd;
	struct mirror_meta meta;
	sqlite3_stmt *upsert[N_TABLES];
	sqlite3_stmt *upsert_again[N_TABLES]; /* a version again: refill */
	sqlite3_stmt *set_meta;
	sqlite3_stmt *has_client;
	sqlite3_stmt *shadow_put;
	bool knows_all; /* the file has no column this ipsnet does not know */
	bool check_in_file; /* meta holds check_seq and check_hash (they go
			       with the first commit of a cursor past 0) */
	bool in_tx;
	size_t pending;	     /* events in the open transaction */
	uint64_t tx_seq;     /* the seq the open transaction reaches */
	uint8_t tx_hash[32]; /* and its hash */
	bool tx_has_hash;
	uint64_t tx_events; /* events applied in it */
};

/* ---- values ------------------------------------------------------------ */

const char *mirror_enum_word(const ProtobufCEnumDescriptor *d, int value,
			     char *buf, size_t cap)
{
	const ProtobufCEnumValue *v =
	    value != 0 ? protobuf_c_enum_descriptor_get_value(d, value) : NULL;
	buf[0] = '\0';
	if (value == 0)
		return buf;
	if (v == NULL) {
		snprintf(buf, cap, "%d", value);
		return buf;
	}
	/* "TRAJECTORY_ON_HOLD": the enum's own prefix, then the word. */
	const char *word = strchr(v->name, '_');
	word = word != NULL ? word + 1 : v->name;
	size_t i = 0;
	for (; word[i] != '\0' && i + 1 < cap; i++)
		buf[i] = (char)tolower((unsigned char)word[i]);
	buf[i] = '\0';
	return buf;
}

static const void *field_ptr(const ProtobufCMessage *msg,
			     const ProtobufCFieldDescriptor *f)
{
	return (const char *)msg + f->offset;
}

/* One element of a field as JSON; p points at it. */
static json_t *scalar_json(const ProtobufCFieldDescriptor *f, const void *p)
{
	char word[64];
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		if (s == NULL)
			s = "";
		json_t *j = json_string(s);
		if (j == NULL) {
			/* Not UTF-8: keep what can be kept. */
			char *copy = strdup(s);
			if (copy == NULL)
				return NULL;
			for (char *c = copy; *c != '\0'; c++)
				if ((unsigned char)*c >= 0x80)
					*c = '?';
			j = json_string(copy);
			free(copy);
		}
		return j;
	}
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer(*(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer(*(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
		return json_integer(*(const int64_t *)p);
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return json_integer((json_int_t) * (const uint64_t *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(*(const protobuf_c_boolean *)p);
	case PROTOBUF_C_TYPE_FLOAT:
		return json_real(*(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return json_real(*(const double *)p);
	case PROTOBUF_C_TYPE_ENUM:
		return json_string(mirror_enum_word(
		    f->descriptor, *(const int *)p, word, sizeof(word)));
	default:
		return json_null(); /* bytes, messages: no entity has them */
	}
}

static size_t scalar_size(const ProtobufCFieldDescriptor *f)
{
	switch (f->type) {
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 8;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_MESSAGE:
		return sizeof(void *);
	case PROTOBUF_C_TYPE_BYTES:
		return sizeof(ProtobufCBinaryData);
	case PROTOBUF_C_TYPE_BOOL:
		return sizeof(protobuf_c_boolean);
	default:
		return 4;
	}
}

static json_t *field_json(const ProtobufCMessage *msg,
			  const ProtobufCFieldDescriptor *f)
{
	const void *p = field_ptr(msg, f);
	if (f->label != PROTOBUF_C_LABEL_REPEATED)
		return scalar_json(f, p);
	size_t n = *(const size_t *)((const char *)msg + f->quantifier_offset);
	const char *elems = *(const char *const *)p;
	json_t *a = json_array();
	for (size_t i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(
			a, scalar_json(f, elems + i * scalar_size(f))) != 0) {
			json_decref(a);
			a = NULL;
		}
	return a;
}

json_t *mirror_entity_json(const ProtobufCMessage *msg)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	json_t *o = json_object();
	for (unsigned i = 0; o != NULL && i < d->n_fields; i++) {
		json_t *v = field_json(msg, &d->fields[i]);
		if (v == NULL || json_object_set_new(o, d->fields[i].name, v)) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

bool mirror_entity(const Ipsnet__V1__ChangeOk *ok, const char **kind,
		   const ProtobufCMessage **msg)
{
	const void *m = NULL;
	size_t t = N_TABLES;
	switch (ok->entity_case) {
	case IPSNET__V1__CHANGE_OK__ENTITY_CLIENT:
		m = ok->client, t = 0;
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_CONSENT:
		m = ok->consent, t = 1;
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_TRAJECTORY:
		m = ok->trajectory, t = 2;
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_FUNDING:
		m = ok->funding, t = 3;
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_JOB:
		m = ok->job, t = 4;
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_PROGRAM:
		m = ok->program, t = 5;
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_REVIEW:
		m = ok->review, t = 6;
		break;
	default:
		return false;
	}
	if (m == NULL)
		return false;
	*kind = tables[t].name;
	*msg = m;
	return true;
}

/* Binds field f of msg to parameter col of st. */
static int bind_field(sqlite3_stmt *st, int col, const ProtobufCMessage *msg,
		      const ProtobufCFieldDescriptor *f)
{
	const void *p = field_ptr(msg, f);
	char word[64];
	if (f->label == PROTOBUF_C_LABEL_REPEATED) {
		json_t *a = field_json(msg, f);
		char *s = a != NULL ? json_dumps(a, JSON_COMPACT) : NULL;
		json_decref(a);
		if (s == NULL)
			return SQLITE_NOMEM;
		int rc = sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT);
		free(s);
		return rc;
	}
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING: {
		const char *s = *(char *const *)p;
		return sqlite3_bind_text(st, col, s != NULL ? s : "", -1,
					 SQLITE_STATIC);
	}
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SINT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return sqlite3_bind_int64(st, col, *(const int32_t *)p);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return sqlite3_bind_int64(st, col, *(const uint32_t *)p);
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SINT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		return sqlite3_bind_int64(st, col, *(const sqlite3_int64 *)p);
	case PROTOBUF_C_TYPE_BOOL:
		return sqlite3_bind_int(st, col,
					*(const protobuf_c_boolean *)p != 0);
	case PROTOBUF_C_TYPE_FLOAT:
		return sqlite3_bind_double(st, col, *(const float *)p);
	case PROTOBUF_C_TYPE_DOUBLE:
		return sqlite3_bind_double(st, col, *(const double *)p);
	case PROTOBUF_C_TYPE_ENUM:
		return sqlite3_bind_text(st, col,
					 mirror_enum_word(f->descriptor,
							  *(const int *)p, word,
							  sizeof(word)),
					 -1, SQLITE_TRANSIENT);
	default:
		return sqlite3_bind_null(st, col);
	}
}

static const char *column_type(const ProtobufCFieldDescriptor *f)
{
	if (f->label == PROTOBUF_C_LABEL_REPEATED)
		return "TEXT"; /* a JSON array */
	switch (f->type) {
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_ENUM:
		return "TEXT";
	case PROTOBUF_C_TYPE_FLOAT:
	case PROTOBUF_C_TYPE_DOUBLE:
		return "REAL";
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return "BLOB";
	default:
		return "INTEGER";
	}
}

/* ---- schema ------------------------------------------------------------ */

/* A growing SQL text. */
struct sql {
	char *s;
	size_t len, cap;
	bool failed;
};

static void sql_add(struct sql *q, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void sql_add(struct sql *q, const char *fmt, ...)
{
	va_list ap;
	for (;;) {
		if (q->failed)
			return;
		va_start(ap, fmt);
		int n = vsnprintf(q->s != NULL ? q->s + q->len : NULL,
				  q->s != NULL ? q->cap - q->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			q->failed = true;
			return;
		}
		if (q->s != NULL && q->len + (size_t)n < q->cap) {
			q->len += (size_t)n;
			return;
		}
		size_t cap = (q->cap == 0 ? 512 : q->cap * 2) + (size_t)n;
		char *grown = realloc(q->s, cap);
		if (grown == NULL) {
			q->failed = true;
			return;
		}
		q->s = grown;
		q->cap = cap;
	}
}

static int fail_db(sqlite3 *db, int code, char *err, size_t errlen,
		   const char *what)
{
	snprintf(err, errlen, "%s: %s", what, sqlite3_errmsg(db));
	return code;
}

/* Whether the query sql gives a row. */
static bool has_row(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return false;
	bool row = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return row;
}

/* Whether every column of table t in the file is a field this ipsnet
 * knows (or seq): else a newer ipsnet added the others. */
static bool knows_every_column(sqlite3 *db, const struct table *t)
{
	sqlite3_stmt *st;
	bool known = true;
	char sql[128];
	snprintf(sql, sizeof(sql), "PRAGMA table_info(\"%s\")", t->name);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return false;
	while (known && sqlite3_step(st) == SQLITE_ROW) {
		const char *name = (const char *)sqlite3_column_text(st, 1);
		known = name != NULL &&
			(strcmp(name, "seq") == 0 ||
			 protobuf_c_message_descriptor_get_field_by_name(
			     t->desc, name) != NULL);
	}
	sqlite3_finalize(st);
	return known;
}

static bool has_column(sqlite3 *db, const char *table, const char *column)
{
	sqlite3_stmt *st;
	bool found = false;
	char sql[128];
	snprintf(sql, sizeof(sql), "PRAGMA table_info(\"%s\")", table);
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return false;
	while (!found && sqlite3_step(st) == SQLITE_ROW)
		found = strcmp((const char *)sqlite3_column_text(st, 1),
			       column) == 0;
	sqlite3_finalize(st);
	return found;
}

/* Creates the table, or adds the columns a newer schema has. */
static int make_table(struct mirror *m, const struct table *t, char *err,
		      size_t errlen)
{
	const ProtobufCMessageDescriptor *d = t->desc;
	struct sql q = {0};
	int rv = 0;

	sql_add(&q, "CREATE TABLE IF NOT EXISTS \"%s\" (", t->name);
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		sql_add(&q, "\"%s\" %s%s, ", f->name, column_type(f),
			strcmp(f->name, "id") == 0 ? " PRIMARY KEY" : "");
	}
	sql_add(&q, "seq INTEGER NOT NULL)");
	if (q.failed) {
		rv = IPSNET_ENOMEM;
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (sqlite3_exec(m->db, q.s, NULL, NULL, NULL) != SQLITE_OK) {
		rv = fail_db(m->db, IPSNET_EIO, err, errlen,
			     "cannot make the mirror's tables");
		goto out;
	}
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		char sql[256];
		if (has_column(m->db, t->name, f->name))
			continue;
		snprintf(sql, sizeof(sql),
			 "ALTER TABLE \"%s\" ADD COLUMN \"%s\" %s", t->name,
			 f->name, column_type(f));
		if (sqlite3_exec(m->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			rv = fail_db(m->db, IPSNET_EIO, err, errlen,
				     "cannot add a column to the mirror");
			goto out;
		}
		/* Rows there were written by an ipsnet that did not know the
		 * field: they hold nothing of it, even where the journal
		 * does. */
		snprintf(sql, sizeof(sql), "SELECT 1 FROM \"%s\" LIMIT 1",
			 t->name);
		if (!m->meta.refill && has_row(m->db, sql))
			m->meta.refill = true;
	}
	/* The questions a local system asks: a client's case, a program's
	 * trajectories and reviews. */
	static const char *const indexed[] = {"client_id", "program_id"};
	for (size_t k = 0; k < ARRAY_SIZE(indexed); k++) {
		char sql[256];
		if (protobuf_c_message_descriptor_get_field_by_name(
			d, indexed[k]) == NULL)
			continue;
		snprintf(
		    sql, sizeof(sql),
		    "CREATE INDEX IF NOT EXISTS \"%s_%s\" ON \"%s\"(\"%s\")",
		    t->name, indexed[k], t->name, indexed[k]);
		if (sqlite3_exec(m->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
			rv = fail_db(m->db, IPSNET_EIO, err, errlen,
				     "cannot index the mirror");
			goto out;
		}
	}
out:
	free(q.s);
	return rv;
}

/* INSERT ... ON CONFLICT(id) DO UPDATE ... WHERE the version grows, or
 * with again, does not go back: a version read again to fill in a column
 * (meta.refill_upto) is the same entity, as this ipsnet reads it. */
static int prepare_upsert(struct mirror *m, size_t ti, bool again, char *err,
			  size_t errlen)
{
	const struct table *t = &tables[ti];
	const ProtobufCMessageDescriptor *d = t->desc;
	struct sql q = {0};
	int rv = 0;

	sql_add(&q, "INSERT INTO \"%s\" (", t->name);
	for (unsigned i = 0; i < d->n_fields; i++)
		sql_add(&q, "\"%s\", ", d->fields[i].name);
	sql_add(&q, "seq) VALUES (");
	for (unsigned i = 0; i <= d->n_fields; i++)
		sql_add(&q, "?%u%s", i + 1, i < d->n_fields ? ", " : "");
	sql_add(&q, ") ON CONFLICT(id) DO UPDATE SET ");
	for (unsigned i = 0; i < d->n_fields; i++)
		if (strcmp(d->fields[i].name, "id") != 0)
			sql_add(&q, "\"%s\" = excluded.\"%s\", ",
				d->fields[i].name, d->fields[i].name);
	sql_add(&q,
		"seq = excluded.seq WHERE excluded.version %s \"%s\".version",
		again ? ">=" : ">", t->name);
	/* A row that holds NULL in a field was written by an older ipsnet
	 * without it: its version again fills it in, also past refill_upto
	 * (a case brought that version before its entry came). */
	if (!again) {
		sql_add(&q, " OR (excluded.version = \"%s\".version AND (",
			t->name);
		for (unsigned i = 0; i < d->n_fields; i++)
			sql_add(&q, "\"%s\".\"%s\" IS NULL%s", t->name,
				d->fields[i].name,
				i + 1 < d->n_fields ? " OR " : "))");
	}
	if (q.failed) {
		snprintf(err, errlen, "out of memory");
		rv = IPSNET_ENOMEM;
	} else if (sqlite3_prepare_v3(m->db, q.s, -1, SQLITE_PREPARE_PERSISTENT,
				      again ? &m->upsert_again[ti]
					    : &m->upsert[ti],
				      NULL) != SQLITE_OK) {
		rv = fail_db(m->db, IPSNET_EIO, err, errlen,
			     "cannot prepare the mirror's statements");
	}
	free(q.s);
	return rv;
}

/* ---- meta -------------------------------------------------------------- */

static int read_meta(struct mirror *m, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int64_t hash_seq = -1; /* the seq the hash is of (NULL: none) */
	if (sqlite3_prepare_v2(m->db, "SELECT key, value FROM meta", -1, &st,
			       NULL) != SQLITE_OK)
		return fail_db(m->db, IPSNET_EIO, err, errlen,
			       "cannot read the mirror");
	/* As the file has them now (mirror_refill reads them again). */
	m->meta.has_hash = false;
	m->meta.has_check = false;
	while (sqlite3_step(st) == SQLITE_ROW) {
		const char *key = (const char *)sqlite3_column_text(st, 0);
		/* Its type before column_text converts it. */
		bool blob = sqlite3_column_type(st, 1) == SQLITE_BLOB;
		const char *text = (const char *)sqlite3_column_text(st, 1);
		if (key == NULL)
			continue;
		if (text == NULL)
			text = "";
		if (strcmp(key, "seq") == 0)
			m->meta.seq = (uint64_t)sqlite3_column_int64(st, 1);
		else if (strcmp(key, "hash") == 0 && blob &&
			 sqlite3_column_bytes(st, 1) == 32) {
			memcpy(m->meta.hash, sqlite3_column_blob(st, 1), 32);
			m->meta.has_hash = true;
		} else if (strcmp(key, "hash_seq") == 0 &&
			   sqlite3_column_type(st, 1) == SQLITE_INTEGER)
			hash_seq = sqlite3_column_int64(st, 1);
		else if (strcmp(key, "events") == 0)
			m->meta.events = (uint64_t)sqlite3_column_int64(st, 1);
		else if (strcmp(key, "check_seq") == 0)
			m->meta.check_seq =
			    (uint64_t)sqlite3_column_int64(st, 1);
		else if (strcmp(key, "check_hash") == 0 && blob &&
			 sqlite3_column_bytes(st, 1) == 32) {
			memcpy(m->meta.check_hash, sqlite3_column_blob(st, 1),
			       32);
			m->meta.has_check = true;
		} else if (strcmp(key, "refill_upto") == 0)
			m->meta.refill_upto =
			    (uint64_t)sqlite3_column_int64(st, 1);
		else if (strcmp(key, "organisation") == 0)
			util_strlcpy(m->meta.organisation, text,
				     sizeof(m->meta.organisation));
		else if (strcmp(key, "kinds") == 0)
			util_strlcpy(m->meta.kinds, text,
				     sizeof(m->meta.kinds));
	}
	sqlite3_finalize(st);
	m->check_in_file = m->meta.has_check;
	/* An ipsnet without hashes moves seq and leaves the hash of an
	 * earlier entry: it is no longer the hash of entry seq. */
	if (hash_seq < 0 || (uint64_t)hash_seq != m->meta.seq)
		m->meta.has_hash = false;
	return 0;
}

/* A file that is a database but not a mirror, or a mirror of a format
 * this ipsnet does not read, is never written to: checked before the
 * first write. A mirror is a file with a table meta that names its format:
 * the first sync makes both in one transaction. Another program's database
 * may well have a table called meta (without a format in it); was: it was
 * taken for a mirror and filled with BSNs and names. A mirror of a newer
 * format was given the columns and the refill of this one (its cursor set
 * back to 0) before it was refused. */
static int check_is_mirror(struct mirror *m, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int tables_n = 0, meta_n = 0;
	int64_t format = -1; /* no format row */
	if (sqlite3_prepare_v2(m->db,
			       "SELECT count(*), count(*) FILTER (WHERE name = "
			       "'meta') FROM sqlite_schema WHERE type = "
			       "'table'",
			       -1, &st, NULL) != SQLITE_OK)
		return fail_db(m->db, IPSNET_EIO, err, errlen,
			       "cannot read the file as SQLite");
	if (sqlite3_step(st) == SQLITE_ROW) {
		tables_n = sqlite3_column_int(st, 0);
		meta_n = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	if (tables_n == 0)
		return 0; /* a new mirror */
	if (meta_n > 0 &&
	    sqlite3_prepare_v2(m->db,
			       "SELECT value FROM meta WHERE key = 'format'",
			       -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW &&
		    sqlite3_column_type(st, 0) != SQLITE_NULL)
			format = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
	}
	if (format < 0) {
		snprintf(err, errlen,
			 "the file is an SQLite database but not an ipsnet "
			 "mirror; give a new file name");
		return IPSNET_EPRECONDITION;
	}
	if (format != MIRROR_FORMAT) {
		snprintf(err, errlen,
			 "the mirror has format %" PRId64
			 "; this ipsnet reads format %d%s",
			 format, MIRROR_FORMAT,
			 format > MIRROR_FORMAT
			     ? ": a newer ipsnet wrote it; sync it with that "
			       "one, or give a new file name"
			     : "");
		return IPSNET_EPRECONDITION;
	}
	return 0;
}

/* Starts reading the journal again from seq 0 up to where the mirror is
 * (meta.refill_upto): the cursor and its hash go back to 0, and the entry
 * it had reached is kept with its hash (check_seq, check_hash) for the
 * server to be checked against first (cmd_sync). complete_seq goes back
 * with the cursor: an older ipsnet that goes on with the refill before
 * this one commits leaves the cursor above it, not below. */
static const char refill_sql[] =
    "INSERT OR REPLACE INTO meta SELECT 'check_seq', s.value "
    "FROM meta s, meta h, meta hs WHERE s.key = 'seq' AND h.key "
    "= 'hash' AND hs.key = 'hash_seq' AND hs.value = s.value "
    "AND length(h.value) = 32;"
    "INSERT OR REPLACE INTO meta SELECT 'check_hash', h.value "
    "FROM meta s, meta h, meta hs WHERE s.key = 'seq' AND h.key "
    "= 'hash' AND hs.key = 'hash_seq' AND hs.value = s.value "
    "AND length(h.value) = 32;"
    "UPDATE meta SET value = max(value, (SELECT value FROM "
    "meta WHERE key = 'seq')) WHERE key = 'refill_upto';"
    "UPDATE meta SET value = 0 WHERE key IN ('seq', "
    "'complete_seq');"
    "UPDATE meta SET value = NULL WHERE key IN ('hash', "
    "'hash_seq');"
    "UPDATE meta SET value = '' WHERE key = 'skipped_kinds';";

/* The kinds in meta.skipped_kinds (mirror_apply) that this ipsnet has a
 * table for, into meta.refill_kinds ("" when none). */
static void known_skipped_kinds(struct mirror *m)
{
	sqlite3_stmt *st;
	char *out = m->meta.refill_kinds;
	size_t cap = sizeof(m->meta.refill_kinds), len = 0;
	out[0] = '\0';
	if (sqlite3_prepare_v2(m->db,
			       "SELECT value FROM meta WHERE key = "
			       "'skipped_kinds'",
			       -1, &st, NULL) != SQLITE_OK)
		return;
	const char *p = sqlite3_step(st) == SQLITE_ROW
			    ? (const char *)sqlite3_column_text(st, 0)
			    : NULL;
	while (p != NULL && *p != '\0') {
		size_t n = strcspn(p, ",");
		const struct table *t = table_named(p, n);
		if (t != NULL && len + n + 2 <= cap)
			len += (size_t)snprintf(out + len, cap - len, "%s%s",
						len > 0 ? "," : "", t->name);
		p += n;
		if (*p == ',')
			p++;
	}
	sqlite3_finalize(st);
}

int mirror_open(struct mirror **out, const char *path, char *err, size_t errlen)
{
	struct mirror *m = calloc(1, sizeof(*m));
	int rv;
	if (m == NULL) {
		snprintf(err, errlen, "out of memory");
		return IPSNET_ENOMEM;
	}
	m->lock_fd = -1;
	/* A new mirror is its owner's alone, like the daemon's database: it
	 * holds BSNs and names. SQLite would make it 0644 under the usual
	 * umask, and gives its -wal and -shm the file's mode. An existing
	 * file keeps the mode it has. */
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	if (sqlite3_open_v2(path, &m->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    NULL) != SQLITE_OK) {
		rv = fail_db(m->db, IPSNET_EIO, err, errlen,
			     "cannot open the mirror");
		goto err_after_db;
	}
	/* One sync per file: a second one would race the first's cursor.
	 * (flock, not fcntl: closing this descriptor must not drop SQLite's
	 * own POSIX locks, and it stays open until SQLite has closed.) */
	m->lock_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (m->lock_fd < 0) {
		snprintf(err, errlen, "cannot open the mirror: %s",
			 strerror(errno));
		rv = IPSNET_EIO;
		goto err_after_db;
	}
	if (flock(m->lock_fd, LOCK_EX | LOCK_NB) != 0) {
		snprintf(err, errlen,
			 "another ipsnet sync is writing to this mirror");
		rv = IPSNET_EBUSY;
		goto err_after_db;
	}
	sqlite3_busy_timeout(m->db, 5000);
	if ((rv = check_is_mirror(m, err, errlen)) != 0)
		goto err_after_db;
	/* WAL: readers of the mirror never block the sync, nor it them.
	 * synchronous=NORMAL: a crash of this process loses nothing
	 * committed; power loss may take the last transactions back, rows and
	 * seq together, and the next sync fetches them again. */
	if (sqlite3_exec(m->db,
			 "PRAGMA journal_mode = WAL;"
			 "PRAGMA synchronous = NORMAL;"
			 "BEGIN IMMEDIATE;"
			 "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY "
			 "KEY, value);"
			 "CREATE TABLE IF NOT EXISTS wanted (client_id TEXT "
			 "PRIMARY KEY);"
			 "CREATE TABLE IF NOT EXISTS shadow (kind TEXT NOT "
			 "NULL, id TEXT NOT NULL, version INTEGER NOT NULL, "
			 "client_id TEXT NOT NULL, party TEXT NOT NULL, "
			 "PRIMARY KEY (kind, id));"
			 "INSERT OR IGNORE INTO meta VALUES ('format', 1), "
			 "('seq', 0), ('events', 0), ('organisation', ''), "
			 "('kinds', ''), ('updated_at', ''), ('hash', NULL), "
			 "('hash_seq', NULL), ('refill_upto', 0), "
			 "('skipped_kinds', '');"
			 "INSERT OR IGNORE INTO meta SELECT 'complete_seq', "
			 "value FROM meta WHERE key = 'seq';",
			 NULL, NULL, NULL) != SQLITE_OK) {
		rv = fail_db(m->db, IPSNET_EIO, err, errlen,
			     "cannot set up the mirror");
		goto err_after_tx;
	}
	m->knows_all = true;
	for (size_t i = 0; i < N_TABLES; i++) {
		if ((rv = make_table(m, &tables[i], err, errlen)) != 0)
			goto err_after_tx;
		if (!knows_every_column(m->db, &tables[i]))
			m->knows_all = false;
	}
	/* The cursor moved past complete_seq, the last this ipsnet (or one
	 * that knew every column) committed: an older ipsnet wrote since. A
	 * row it inserted holds NULL in a field it did not know, and a row it
	 * changed holds that field as the version before had it: read again,
	 * as when a column is added, or nothing would ever write them again.
	 * Only after such a run. */
	if (m->knows_all &&
	    has_row(m->db, "SELECT 1 FROM meta s, meta c WHERE s.key = 'seq' "
			   "AND c.key = 'complete_seq' AND s.value > c.value"))
		m->meta.refill = true;
	m->meta.refill_columns = m->meta.refill;
	/* Entries of kinds that an ipsnet which synced here did not know,
	 * and this one does: read again as well. */
	known_skipped_kinds(m);
	if (m->meta.refill_kinds[0] != '\0')
		m->meta.refill = true;
	/* Read again from the start: the same versions come again, up to
	 * where it was, and are written again (upsert_again) with every
	 * field (refill_sql). */
	if (m->meta.refill &&
	    sqlite3_exec(m->db, refill_sql, NULL, NULL, NULL) != SQLITE_OK) {
		rv = fail_db(m->db, IPSNET_EIO, err, errlen,
			     "cannot set up the mirror");
		goto err_after_tx;
	}
	if (sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		rv = fail_db(m->db, IPSNET_EIO, err, errlen,
			     "cannot set up the mirror");
		goto err_after_tx;
	}
	if ((rv = read_meta(m, err, errlen)) != 0)
		goto err_after_db;
	for (size_t i = 0; i < N_TABLES; i++)
		if ((rv = prepare_upsert(m, i, false, err, errlen)) != 0 ||
		    (rv = prepare_upsert(m, i, true, err, errlen)) != 0)
			goto err_after_db;
	if (sqlite3_prepare_v3(
		m->db, "UPDATE meta SET value = ?2 WHERE key = ?1", -1,
		SQLITE_PREPARE_PERSISTENT, &m->set_meta, NULL) != SQLITE_OK) {
		rv = fail_db(m->db, IPSNET_EIO, err, errlen,
			     "cannot prepare the mirror's statements");
		goto err_after_db;
	}
	m->tx_seq = m->meta.seq;
	memcpy(m->tx_hash, m->meta.hash, 32);
	m->tx_has_hash = m->meta.has_hash;
	*out = m;
	return 0;

err_after_tx:
	sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
err_after_db:
	mirror_close(m);
	return rv;
}

void mirror_close(struct mirror *m)
{
	if (m == NULL)
		return;
	if (m->in_tx)
		sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
	for (size_t i = 0; i < N_TABLES; i++) {
		sqlite3_finalize(m->upsert[i]);
		sqlite3_finalize(m->upsert_again[i]);
	}
	sqlite3_finalize(m->set_meta);
	sqlite3_finalize(m->has_client);
	sqlite3_finalize(m->shadow_put);
	sqlite3_close(m->db);
	if (m->lock_fd >= 0)
		close(m->lock_fd); /* after SQLite: see mirror_open */
	free(m);
}

const struct mirror_meta *mirror_meta(const struct mirror *m)
{
	return &m->meta;
}

static int set_meta_text(struct mirror *m, const char *key, const char *text)
{
	sqlite3_bind_text(m->set_meta, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_text(m->set_meta, 2, text, -1, SQLITE_STATIC);
	int rc = sqlite3_step(m->set_meta);
	sqlite3_reset(m->set_meta);
	return rc == SQLITE_DONE ? 0 : IPSNET_EIO;
}

static int set_meta_int(struct mirror *m, const char *key, uint64_t v);

/* The cursor's hash: a blob, or NULL when unknown; and hash_seq, the seq
 * it is of (an ipsnet without hashes moves seq, not hash_seq). */
static int set_meta_hash(struct mirror *m)
{
	sqlite3_bind_text(m->set_meta, 1, "hash", -1, SQLITE_STATIC);
	if (m->tx_has_hash)
		sqlite3_bind_blob(m->set_meta, 2, m->tx_hash, 32,
				  SQLITE_STATIC);
	else
		sqlite3_bind_null(m->set_meta, 2);
	int rc = sqlite3_step(m->set_meta);
	sqlite3_reset(m->set_meta);
	if (rc != SQLITE_DONE)
		return IPSNET_EIO;
	return set_meta_int(m, "hash_seq", m->tx_seq);
}

static void set_tx_hash(struct mirror *m, const uint8_t *hash)
{
	m->tx_has_hash = hash != NULL;
	if (hash != NULL)
		memcpy(m->tx_hash, hash, 32);
}

static int set_meta_int(struct mirror *m, const char *key, uint64_t v)
{
	sqlite3_bind_text(m->set_meta, 1, key, -1, SQLITE_STATIC);
	sqlite3_bind_int64(m->set_meta, 2, (sqlite3_int64)v);
	int rc = sqlite3_step(m->set_meta);
	sqlite3_reset(m->set_meta);
	return rc == SQLITE_DONE ? 0 : IPSNET_EIO;
}

int mirror_checked(struct mirror *m, char *err, size_t errlen)
{
	/* Not forgotten in the file until the refill has committed a cursor
	 * past 0 (commit_with), whose hash a resumed sync then sends: a sync
	 * killed before that reads from seq 0 again, and from a server it
	 * checks again. Was: forgotten here, and such a sync's next run read
	 * from 0 unchecked, from whatever journal the server had then. */
	m->meta.has_check = false;
	return 0;
}

int mirror_bind(struct mirror *m, const char *organisation, const char *kinds,
		char *err, size_t errlen)
{
	struct mirror_meta *meta = &m->meta;
	if (meta->organisation[0] != '\0' &&
	    strcmp(meta->organisation, organisation) != 0) {
		snprintf(err, errlen,
			 "the mirror holds what %s may see, and this "
			 "connection is %s's; give another file",
			 meta->organisation, organisation);
		return IPSNET_EPRECONDITION;
	}
	if ((meta->seq > 0 || meta->refill_upto > 0) &&
	    strcmp(meta->kinds, kinds) != 0) {
		snprintf(err, errlen,
			 "the mirror holds %s, up to seq %" PRIu64
			 "; resume it with %s%s, or start another file",
			 meta->kinds[0] != '\0' ? meta->kinds : "every kind",
			 meta->seq,
			 meta->kinds[0] != '\0' ? "--kinds " : "no --kinds",
			 meta->kinds);
		return IPSNET_EPRECONDITION;
	}
	if (strcmp(meta->organisation, organisation) == 0 &&
	    strcmp(meta->kinds, kinds) == 0)
		return 0;
	if (sqlite3_exec(m->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
		SQLITE_OK ||
	    set_meta_text(m, "organisation", organisation) != 0 ||
	    set_meta_text(m, "kinds", kinds) != 0 ||
	    sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int rv = fail_db(m->db, IPSNET_EIO, err, errlen,
				 "cannot write to the mirror");
		sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
		return rv;
	}
	util_strlcpy(meta->organisation, organisation,
		     sizeof(meta->organisation));
	util_strlcpy(meta->kinds, kinds, sizeof(meta->kinds));
	return 0;
}

static int begin(struct mirror *m, char *err, size_t errlen)
{
	if (m->in_tx)
		return 0;
	if (sqlite3_exec(m->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) !=
	    SQLITE_OK)
		return fail_db(m->db, IPSNET_EIO, err, errlen,
			       "cannot write to the mirror");
	m->in_tx = true;
	m->pending = 0;
	m->tx_events = 0;
	return 0;
}

/* Whether every 64-bit unsigned field of msg fits SQLite's INTEGER: a
 * version of 2^63 or more would be stored negative and compare below every
 * other. No server's journal counts that far; a sender that does is
 * refused, with a sentence in err. */
static bool fits(const ProtobufCMessage *msg, char *err, size_t errlen)
{
	const ProtobufCMessageDescriptor *d = msg->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->label == PROTOBUF_C_LABEL_REPEATED ||
		    (f->type != PROTOBUF_C_TYPE_UINT64 &&
		     f->type != PROTOBUF_C_TYPE_FIXED64))
			continue;
		uint64_t v = *(const uint64_t *)field_ptr(msg, f);
		if (v > INT64_MAX) {
			snprintf(err, errlen,
				 "the server sent a %s whose %s is %" PRIu64
				 ", beyond what the mirror can hold",
				 d->short_name, f->name, v);
			return false;
		}
	}
	return true;
}

static bool seq_fits(uint64_t seq, char *err, size_t errlen)
{
	if (seq <= INT64_MAX)
		return true;
	snprintf(err, errlen,
		 "the server sent seq %" PRIu64
		 ", beyond what the mirror can hold",
		 seq);
	return false;
}

bool mirror_holds(const struct mirror *m, const char *kind)
{
	const char *p = m->meta.kinds;
	size_t n = strlen(kind);
	if (*p == '\0')
		return true;
	while (*p != '\0') {
		size_t len = strcspn(p, ",");
		if (len == n && strncmp(p, kind, n) == 0)
			return true;
		p += len;
		if (*p == ',')
			p++;
	}
	return false;
}

static const char *text_or_empty(const char *s)
{
	return s != NULL ? s : "";
}

/* After a write statement's step (rc): st made ready again; 0, or
 * IPSNET_EIO with why. */
static int written(struct mirror *m, sqlite3_stmt *st, int rc, char *err,
		   size_t errlen)
{
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc != SQLITE_DONE)
		return fail_db(m->db, IPSNET_EIO, err, errlen,
			       "cannot write to the mirror");
	return 0;
}

/* Records in table shadow what the sync needs to know of an entity of a
 * kind the mirror does not hold (the open transaction, its version
 * permitting): a client's id, a consent's client and recipient, a
 * program's owner. Of the other kinds nothing. */
static int shadow_put(struct mirror *m, const ProtobufCMessage *msg, char *err,
		      size_t errlen)
{
	const char *kind, *id, *client = "", *party = "";
	uint64_t version;
	if (msg->descriptor == &ipsnet__v1__client__descriptor) {
		const Ipsnet__V1__Client *c = (const Ipsnet__V1__Client *)msg;
		kind = "client", id = c->id, client = c->id;
		version = c->version;
	} else if (msg->descriptor == &ipsnet__v1__consent__descriptor) {
		const Ipsnet__V1__Consent *c = (const Ipsnet__V1__Consent *)msg;
		kind = "consent", id = c->id, client = c->client_id;
		party = c->recipient, version = c->version;
	} else if (msg->descriptor == &ipsnet__v1__program__descriptor) {
		const Ipsnet__V1__Program *p = (const Ipsnet__V1__Program *)msg;
		kind = "program", id = p->id, party = p->owner;
		version = p->version;
	} else {
		return 0;
	}
	if (m->shadow_put == NULL &&
	    sqlite3_prepare_v3(
		m->db,
		"INSERT INTO shadow VALUES (?1, ?2, ?3, ?4, ?5) ON "
		"CONFLICT(kind, id) DO UPDATE SET version = excluded.version, "
		"client_id = excluded.client_id, party = excluded.party WHERE "
		"excluded.version >= shadow.version",
		-1, SQLITE_PREPARE_PERSISTENT, &m->shadow_put,
		NULL) != SQLITE_OK)
		return fail_db(m->db, IPSNET_EIO, err, errlen,
			       "cannot prepare the mirror's statements");
	sqlite3_stmt *st = m->shadow_put;
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, text_or_empty(id), -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)version);
	sqlite3_bind_text(st, 4, text_or_empty(client), -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 5, text_or_empty(party), -1, SQLITE_STATIC);
	return written(m, st, sqlite3_step(st), err, errlen);
}

/* Upserts msg into its table (the open transaction), its version
 * permitting. */
static int upsert(struct mirror *m, const ProtobufCMessage *msg, uint64_t seq,
		  char *err, size_t errlen)
{
	size_t ti = 0;
	while (ti < N_TABLES && tables[ti].desc != msg->descriptor)
		ti++;
	if (ti == N_TABLES)
		return 0;
	sqlite3_stmt *st =
	    seq <= m->meta.refill_upto ? m->upsert_again[ti] : m->upsert[ti];
	const ProtobufCMessageDescriptor *d = tables[ti].desc;
	int rc = SQLITE_OK;
	for (unsigned i = 0; rc == SQLITE_OK && i < d->n_fields; i++)
		rc = bind_field(st, (int)i + 1, msg, &d->fields[i]);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(st, (int)d->n_fields + 1,
					(sqlite3_int64)seq);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(st);
	return written(m, st, rc, err, errlen);
}

/* The kind of an entity this build does not know (a newer server's), as
 * the server names it (ChangeOk.entity_kind, the name of the kind's table
 * in an ipsnet that knows it), when it is a name a table could have and
 * none of this build's tables has; else NULL. */
static const char *unknown_kind(const Ipsnet__V1__ChangeOk *ok)
{
	const char *k = ok->entity_kind;
	size_t n = k != NULL ? strlen(k) : 0;
	if (n == 0 || n > SKIPPED_KIND_MAX ||
	    strspn(k, "abcdefghijklmnopqrstuvwxyz0123456789_") != n)
		return NULL;
	return table_named(k, n) == NULL ? k : NULL;
}

/* Notes kind in meta.skipped_kinds (the open transaction), once. */
static int skipped_put(struct mirror *m, const char *kind, char *err,
		       size_t errlen)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(
		m->db,
		"UPDATE meta SET value = CASE WHEN value = '' THEN ?1 ELSE "
		"value || ',' || ?1 END WHERE key = 'skipped_kinds' AND "
		"instr(',' || value || ',', ',' || ?1 || ',') = 0 AND "
		"length(value) < ?2",
		-1, &st, NULL) != SQLITE_OK)
		return fail_db(m->db, IPSNET_EIO, err, errlen,
			       "cannot write to the mirror");
	sqlite3_bind_text(st, 1, kind, -1, SQLITE_STATIC);
	/* What is noted, and so the part of it this ipsnet knows, fits
	 * meta.refill_kinds. */
	sqlite3_bind_int(st, 2,
			 (int)sizeof(m->meta.refill_kinds) - 1 -
			     SKIPPED_KIND_MAX - 1);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail_db(m->db, IPSNET_EIO, err, errlen,
			       "cannot write to the mirror");
	return 0;
}

int mirror_apply(struct mirror *m, const Ipsnet__V1__Event *ev, bool *counted,
		 char *err, size_t errlen)
{
	const char *kind = NULL;
	const ProtobufCMessage *msg = NULL;
	int rv;

	bool entity =
	    ev->state != NULL && mirror_entity(ev->state, &kind, &msg);
	/* An entity this build does not know (a newer server's kind) is
	 * skipped, not fetched forever, and the cursor moves past it; its
	 * kind is noted (meta.skipped_kinds), so that an ipsnet that knows
	 * it reads the journal again to bring its entries in (mirror_open).
	 * Was: skipped without a word, and counted in meta.events: a later
	 * ipsnet made the kind's table, empty, and its entries up to the
	 * cursor never came. */
	const char *unknown =
	    ev->state != NULL && !entity ? unknown_kind(ev->state) : NULL;
	/* An entity of a kind the mirror does not hold came only for the
	 * sync to know which cases to fetch (cmd_sync): it is not applied.
	 * Nor is one this build does not know: neither counts. */
	bool held = entity ? mirror_holds(m, kind) : ev->state == NULL;
	if (counted != NULL)
		*counted = held;
	if (ev->seq <= m->tx_seq)
		return 0; /* handled already: never twice */
	if (!seq_fits(ev->seq, err, errlen) ||
	    (entity && !fits(msg, err, errlen)))
		return IPSNET_EPROTOCOL;
	if ((rv = begin(m, err, errlen)) != 0)
		return rv;
	if (entity && held && (rv = upsert(m, msg, ev->seq, err, errlen)) != 0)
		return rv;
	if (entity && !held && (rv = shadow_put(m, msg, err, errlen)) != 0)
		return rv;
	if (unknown != NULL && (rv = skipped_put(m, unknown, err, errlen)) != 0)
		return rv;
	m->tx_seq = ev->seq;
	set_tx_hash(m, ev->hash.len == 32 ? ev->hash.data : NULL);
	if (held)
		m->tx_events++;
	m->pending++;
	return 0;
}

size_t mirror_pending(const struct mirror *m)
{
	return m->in_tx ? m->pending : 0;
}

int mirror_advance(struct mirror *m, uint64_t seq, const uint8_t *hash,
		   char *err, size_t errlen)
{
	/* At the same seq only to learn its hash (a mirror made without
	 * hashes, at the head). */
	bool learn =
	    seq == m->tx_seq && seq > 0 && hash != NULL && !m->tx_has_hash;
	if (seq < m->tx_seq || (seq == m->tx_seq && !learn))
		return 0;
	if (!seq_fits(seq, err, errlen))
		return IPSNET_EPROTOCOL;
	int rv = begin(m, err, errlen);
	if (rv == 0) {
		m->tx_seq = seq;
		set_tx_hash(m, hash);
	}
	return rv;
}

/* Commits the open transaction with the cursor it reached, running sql
 * (when not NULL) in it after meta is written and before the COMMIT. */
static int commit_with(struct mirror *m, const char *sql, char *err,
		       size_t errlen)
{
	char now[32];
	if (!m->in_tx)
		return 0;
	/* SQLite ends a transaction itself after some errors (a full disk,
	 * an I/O error while it wrote part of it before the commit): its rows
	 * are gone, and meta written now would commit on its own, the cursor
	 * past them for good. */
	if (sqlite3_get_autocommit(m->db)) {
		snprintf(err, errlen,
			 "cannot commit to the mirror: SQLite took the "
			 "transaction back after an error, and nothing of it "
			 "was written");
		mirror_rollback(m);
		return IPSNET_EIO;
	}
	util_iso8601(now, sizeof(now), util_now_us());
	/* Past where it was: nothing more is read again. */
	bool refilled =
	    m->meta.refill_upto > 0 && m->tx_seq >= m->meta.refill_upto;
	/* The entry to check was checked (mirror_checked), and the cursor
	 * that now goes past 0 carries the check on: its hash is what a
	 * resumed sync sends. */
	bool forget_check =
	    m->check_in_file && !m->meta.has_check && m->tx_seq > 0;
	if (set_meta_int(m, "seq", m->tx_seq) != 0 || set_meta_hash(m) != 0 ||
	    (m->knows_all && set_meta_int(m, "complete_seq", m->tx_seq) != 0) ||
	    set_meta_int(m, "events", m->meta.events + m->tx_events) != 0 ||
	    set_meta_text(m, "updated_at", now) != 0 ||
	    (refilled && set_meta_int(m, "refill_upto", 0) != 0) ||
	    (forget_check &&
	     sqlite3_exec(m->db,
			  "DELETE FROM meta WHERE key IN ('check_seq', "
			  "'check_hash')",
			  NULL, NULL, NULL) != SQLITE_OK) ||
	    (sql != NULL &&
	     sqlite3_exec(m->db, sql, NULL, NULL, NULL) != SQLITE_OK) ||
	    sqlite3_exec(m->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		int rv = fail_db(m->db, IPSNET_EIO, err, errlen,
				 "cannot commit to the mirror");
		mirror_rollback(m);
		return rv;
	}
	m->in_tx = false;
	m->meta.seq = m->tx_seq;
	m->meta.has_hash = m->tx_has_hash;
	memcpy(m->meta.hash, m->tx_hash, 32);
	m->meta.events += m->tx_events;
	if (refilled)
		m->meta.refill_upto = 0;
	if (forget_check)
		m->check_in_file = false;
	m->pending = 0;
	m->tx_events = 0;
	return 0;
}

int mirror_commit(struct mirror *m, char *err, size_t errlen)
{
	return commit_with(m, NULL, err, errlen);
}

void mirror_rollback(struct mirror *m)
{
	if (!m->in_tx)
		return;
	if (!sqlite3_get_autocommit(m->db))
		sqlite3_exec(m->db, "ROLLBACK", NULL, NULL, NULL);
	m->in_tx = false;
	m->tx_seq = m->meta.seq;
	set_tx_hash(m, m->meta.has_hash ? m->meta.hash : NULL);
	m->pending = 0;
	m->tx_events = 0;
}

int mirror_put_case(struct mirror *m, const Ipsnet__V1__CaseView *v, char *err,
		    size_t errlen)
{
	/* The seq the mirror has reached: these versions are at most as old
	 * as that. */
	uint64_t seq = m->tx_seq;
	/* All or nothing: every entity is checked before the first row. */
	bool ok = v->client == NULL || fits(&v->client->base, err, errlen);
	for (size_t i = 0; ok && i < v->n_consents; i++)
		ok = fits(&v->consents[i]->base, err, errlen);
	for (size_t i = 0; ok && i < v->n_trajectories; i++)
		ok = fits(&v->trajectories[i]->base, err, errlen);
	for (size_t i = 0; ok && i < v->n_fundings; i++)
		ok = fits(&v->fundings[i]->base, err, errlen);
	for (size_t i = 0; ok && i < v->n_jobs; i++)
		ok = fits(&v->jobs[i]->base, err, errlen);
	if (!ok)
		return IPSNET_EPROTOCOL;
	/* Only the mirror's kinds, as a new mirror of them holds; of a client
	 * and consents of the others what the sync needs to know (shadow). */
	bool consents = mirror_holds(m, "consent"),
	     trajectories = mirror_holds(m, "trajectory"),
	     fundings = mirror_holds(m, "funding"),
	     jobs = mirror_holds(m, "job");
	int rv = begin(m, err, errlen);
	if (rv == 0 && v->client != NULL)
		rv = mirror_holds(m, "client")
			 ? upsert(m, &v->client->base, seq, err, errlen)
			 : shadow_put(m, &v->client->base, err, errlen);
	for (size_t i = 0; rv == 0 && i < v->n_consents; i++)
		rv = consents
			 ? upsert(m, &v->consents[i]->base, seq, err, errlen)
			 : shadow_put(m, &v->consents[i]->base, err, errlen);
	for (size_t i = 0; trajectories && rv == 0 && i < v->n_trajectories;
	     i++)
		rv = upsert(m, &v->trajectories[i]->base, seq, err, errlen);
	for (size_t i = 0; fundings && rv == 0 && i < v->n_fundings; i++)
		rv = upsert(m, &v->fundings[i]->base, seq, err, errlen);
	for (size_t i = 0; jobs && rv == 0 && i < v->n_jobs; i++)
		rv = upsert(m, &v->jobs[i]->base, seq, err, errlen);
	return rv;
}

/* Runs sql with ?1 = id in the open transaction (begun when needed). */
static int exec_id(struct mirror *m, const char *sql, const char *id, char *err,
		   size_t errlen)
{
	sqlite3_stmt *st;
	int rv = begin(m, err, errlen);
	if (rv != 0)
		return rv;
	if (sqlite3_prepare_v2(m->db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail_db(m->db, IPSNET_EIO, err, errlen,
			       "cannot write to the mirror");
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail_db(m->db, IPSNET_EIO, err, errlen,
			       "cannot write to the mirror");
	return 0;
}

int mirror_want(struct mirror *m, const char *client_id, char *err,
		size_t errlen)
{
	return exec_id(m, "INSERT OR IGNORE INTO wanted VALUES (?1)", client_id,
		       err, errlen);
}

int mirror_unwant(struct mirror *m, const char *client_id, char *err,
		  size_t errlen)
{
	return exec_id(m, "DELETE FROM wanted WHERE client_id = ?1", client_id,
		       err, errlen);
}

int mirror_wanted(struct mirror *m, void (*fn)(void *arg, const char *id),
		  void *arg, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(m->db, "SELECT client_id FROM wanted", -1, &st,
			       NULL) != SQLITE_OK)
		return fail_db(m->db, IPSNET_EIO, err, errlen,
			       "cannot read the mirror");
	int rc;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *id = (const char *)sqlite3_column_text(st, 0);
		if (id != NULL)
			fn(arg, id);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return fail_db(m->db, IPSNET_EIO, err, errlen,
			       "cannot read the mirror");
	return 0;
}

bool mirror_has_client(struct mirror *m, const char *id)
{
	bool found = false;
	if (m->has_client == NULL &&
	    sqlite3_prepare_v3(m->db,
			       mirror_holds(m, "client")
				   ? "SELECT 1 FROM client WHERE id = ?1"
				   : "SELECT 1 FROM shadow WHERE kind = "
				     "'client' AND id = ?1",
			       -1, SQLITE_PREPARE_PERSISTENT, &m->has_client,
			       NULL) != SQLITE_OK)
		return true; /* cannot tell: do not fetch */
	sqlite3_bind_text(m->has_client, 1, id, -1, SQLITE_STATIC);
	found = sqlite3_step(m->has_client) == SQLITE_ROW;
	sqlite3_reset(m->has_client);
	return found;
}

bool mirror_has_other_consent(struct mirror *m, const Ipsnet__V1__Consent *c)
{
	sqlite3_stmt *st;
	bool found = false;
	if (sqlite3_prepare_v2(m->db,
			       mirror_holds(m, "consent")
				   ? "SELECT 1 FROM consent WHERE client_id = "
				     "?1 AND recipient = ?2 AND id != ?3"
				   : "SELECT 1 FROM shadow WHERE kind = "
				     "'consent' AND client_id = ?1 AND party = "
				     "?2 AND id != ?3",
			       -1, &st, NULL) != SQLITE_OK)
		return false; /* cannot tell: as before consents were asked */
	sqlite3_bind_text(st, 1, c->client_id, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, c->recipient, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, c->id, -1, SQLITE_STATIC);
	found = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	return found;
}

bool mirror_program_owner(struct mirror *m, const char *id, char *owner,
			  size_t cap)
{
	sqlite3_stmt *st;
	bool found = false;
	owner[0] = '\0';
	if (sqlite3_prepare_v2(m->db,
			       mirror_holds(m, "program")
				   ? "SELECT owner FROM program WHERE id = ?1"
				   : "SELECT party FROM shadow WHERE kind = "
				     "'program' AND id = ?1",
			       -1, &st, NULL) != SQLITE_OK)
		return false; /* cannot tell: as a program not seen before */
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	if (sqlite3_step(st) == SQLITE_ROW) {
		const char *o = (const char *)sqlite3_column_text(st, 0);
		util_strlcpy(owner, o != NULL ? o : "", cap);
		found = true;
	}
	sqlite3_finalize(st);
	return found;
}

int mirror_refill(struct mirror *m, char *err, size_t errlen)
{
	/* In the transaction of the event that calls for it: committed on
	 * its own first, a sync killed before the refill was recorded had its
	 * cursor past the event and the program's new owner in its row, and
	 * never saw the hand-over again (the program's clients' earlier
	 * entries missing for good). */
	int rv = begin(m, err, errlen);
	if (rv == 0)
		rv = commit_with(m, refill_sql, err, errlen);
	if (rv != 0)
		return rv;
	if ((rv = read_meta(m, err, errlen)) != 0)
		return rv;
	m->tx_seq = m->meta.seq;
	set_tx_hash(m, m->meta.has_hash ? m->meta.hash : NULL);
	return 0;
}
