/* sqlite-baseline: what bare SQLite does on this disk with rows the size of
 * ipsnetd's journal entries.
 *
 * A fresh database in the given folder, WAL mode, synchronous=FULL (as the
 * daemon opens it), a table with the journal's columns and indexes (the
 * 16-byte idempotency key UNIQUE, the entity index), and one prepared INSERT
 * run in transactions of B rows (B may be fractional: 1.5 commits after 1,
 * then 2 rows, and so on, so that the average is B). Prints rows per second
 * and the percentiles of the transactions' times (BEGIN to COMMIT done).
 *
 * With --daemon-sql every row also does the SQL the daemon does for a
 * RegisterClient (a savepoint, the key lookup, the BSN check, the client row),
 * without TLS, protobuf, threads or hashing: the gap between that and the
 * daemon is the cost of everything outside SQLite. */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "walbuf.h"

#define MAX_SECONDS 3600
#define MAX_BLOB 1048576

static const char usage_text[] =
    "usage: sqlite-baseline DIR --batch B (--duration S | --rows N)\n"
    "                       [--warmup S] [--payload-bytes P]\n"
    "                       [--response-bytes R] [--daemon-sql] [--walbuf]\n"
    "                       [--keep]\n"
    "\n"
    "Inserts journal-sized rows into a new SQLite database in DIR (WAL,\n"
    "synchronous=FULL), B rows a transaction, and prints rows per second\n"
    "and the p50/p99/p99.9 time of a transaction.\n"
    "\n"
    "  --batch B           rows per transaction, 1 to 100000; a fraction\n"
    "                      gives that average (1.5: 1, 2, 1, 2, ...)\n"
    "  --duration S        insert for S seconds (after the warm-up)\n"
    "  --rows N            insert N rows (after the warm-up)\n"
    "  --warmup S          insert for S seconds first, not counted\n"
    "                      (default 0.5)\n"
    "  --payload-bytes P   the packed change (default 96)\n"
    "  --response-bytes R  the packed answer (default 156)\n"
    "  --daemon-sql        per row also: SAVEPOINT, the idempotency-key\n"
    "                      lookup, the BSN check, a client row, RELEASE\n"
    "  --walbuf            write the WAL as the daemon's writer does, a\n"
    "                      commit's frames in one write (daemon/walbuf.c)\n"
    "  --keep              leave the database file in DIR\n";

struct options {
	const char *dir;
	double batch;
	double duration_s, warmup_s;
	uint64_t rows;
	size_t payload_bytes, response_bytes;
	bool daemon_sql;
	bool walbuf;
	bool keep;
};

struct bench {
	struct options o;
	sqlite3_vfs *walbuf; /* with --walbuf */
	sqlite3 *db;
	sqlite3_stmt *insert, *lookup, *client_check, *client_insert;
	sqlite3_stmt *begin, *commit, *savepoint, *release;
	uint8_t *payload, *response;
	uint64_t seq;
	uint64_t rng;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int usage_error(const char *fmt, const char *arg)
{
	fprintf(stderr, "sqlite-baseline: ");
	fprintf(stderr, fmt, arg);
	fprintf(stderr, "\n\n%s", usage_text);
	return 2;
}

static bool parse_double(const char *s, double min, double max, double *out)
{
	char *end;
	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	double v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !(v >= min) || v > max)
		return false;
	*out = v;
	return true;
}

static bool parse_u64(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	char *end;
	if (s == NULL || *s == '\0' || *s == '-')
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static int parse_args(int argc, char **argv, struct options *o)
{
	enum {
		O_BATCH = 1000,
		O_DURATION,
		O_ROWS,
		O_WARMUP,
		O_PAYLOAD,
		O_RESPONSE,
		O_DAEMON_SQL,
		O_WALBUF,
		O_KEEP,
		O_HELP,
	};
	static const struct option longopts[] = {
	    {"batch", required_argument, NULL, O_BATCH},
	    {"duration", required_argument, NULL, O_DURATION},
	    {"rows", required_argument, NULL, O_ROWS},
	    {"warmup", required_argument, NULL, O_WARMUP},
	    {"payload-bytes", required_argument, NULL, O_PAYLOAD},
	    {"response-bytes", required_argument, NULL, O_RESPONSE},
	    {"daemon-sql", no_argument, NULL, O_DAEMON_SQL},
	    {"walbuf", no_argument, NULL, O_WALBUF},
	    {"keep", no_argument, NULL, O_KEEP},
	    {"help", no_argument, NULL, O_HELP},
	    {NULL, 0, NULL, 0},
	};
	uint64_t v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->warmup_s = 0.5;
	/* A RegisterClient and its answer as ipsnetd journals them. */
	o->payload_bytes = 96;
	o->response_bytes = 156;
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case O_BATCH:
			if (!parse_double(optarg, 1, 100000, &o->batch))
				return usage_error(
				    "--batch must be 1 to 100000, "
				    "not '%s'",
				    optarg);
			break;
		case O_DURATION:
			if (!parse_double(optarg, 0.001, MAX_SECONDS,
					  &o->duration_s))
				return usage_error(
				    "--duration must be more than "
				    "0 and at most 3600 seconds, "
				    "not '%s'",
				    optarg);
			break;
		case O_ROWS:
			if (!parse_u64(optarg, 1, 1000000000ULL, &o->rows))
				return usage_error("--rows must be 1 to "
						   "1000000000, not '%s'",
						   optarg);
			break;
		case O_WARMUP:
			if (!parse_double(optarg, 0, MAX_SECONDS, &o->warmup_s))
				return usage_error("--warmup must be 0 to 3600 "
						   "seconds, not '%s'",
						   optarg);
			break;
		case O_PAYLOAD:
			if (!parse_u64(optarg, 1, MAX_BLOB, &v))
				return usage_error(
				    "--payload-bytes must be 1 to "
				    "1048576, not '%s'",
				    optarg);
			o->payload_bytes = (size_t)v;
			break;
		case O_RESPONSE:
			if (!parse_u64(optarg, 1, MAX_BLOB, &v))
				return usage_error("--response-bytes must be 1 "
						   "to 1048576, not '%s'",
						   optarg);
			o->response_bytes = (size_t)v;
			break;
		case O_DAEMON_SQL:
			o->daemon_sql = true;
			break;
		case O_WALBUF:
			o->walbuf = true;
			break;
		case O_KEEP:
			o->keep = true;
			break;
		case O_HELP:
		case 'h':
			fputs(usage_text, stdout);
			exit(0);
		default:
			fputs(usage_text, stderr);
			return 2;
		}
	}
	if (optind != argc - 1)
		return usage_error("%s", "give exactly one folder DIR");
	o->dir = argv[optind];
	if (o->batch == 0)
		return usage_error("%s", "--batch is needed");
	if ((o->duration_s > 0) == (o->rows > 0))
		return usage_error("%s", "give exactly one of --duration and "
					 "--rows: the run must be bounded");
	struct stat st;
	if (stat(o->dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return usage_error("'%s' is not a folder", o->dir);
	return 0;
}

/* xorshift64*: the bytes need only differ, not be secret. */
static uint64_t next_random(struct bench *b)
{
	b->rng ^= b->rng >> 12;
	b->rng ^= b->rng << 25;
	b->rng ^= b->rng >> 27;
	return b->rng * 2685821657736338717ULL;
}

static void fill_random(struct bench *b, uint8_t *p, size_t n)
{
	while (n > 0) {
		uint64_t r = next_random(b);
		size_t k = n < 8 ? n : 8;
		memcpy(p, &r, k);
		p += k;
		n -= k;
	}
}

static int fail(struct bench *b, const char *what)
{
	fprintf(stderr, "sqlite-baseline: %s: %s\n", what,
		b->db != NULL ? sqlite3_errmsg(b->db) : "out of memory");
	return 1;
}

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

static int prepare(struct bench *b, const char *sql, sqlite3_stmt **st)
{
	return sqlite3_prepare_v3(b->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st,
				  NULL) == SQLITE_OK
		   ? 0
		   : -1;
}

static int open_db(struct bench *b, const char *path)
{
	if (b->o.walbuf && (b->walbuf = walbuf_new()) == NULL)
		return fail(b, "cannot register the walbuf VFS");
	if (sqlite3_open_v2(path, &b->db,
			    SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
				SQLITE_OPEN_NOMUTEX,
			    b->walbuf != NULL ? walbuf_name(b->walbuf)
					      : NULL) != SQLITE_OK)
		return fail(b, "cannot open the database");
	/* The daemon's settings (daemon/journal.c) and the journal's table
	 * (daemon/store.c, as of migration 4). */
	if (sqlite3_exec(
		b->db,
		"PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;"
		"PRAGMA foreign_keys = ON;"
		"CREATE TABLE journal ("
		"  seq INTEGER PRIMARY KEY,"
		"  time_us INTEGER NOT NULL,"
		"  org TEXT NOT NULL,"
		"  user TEXT NOT NULL,"
		"  idem_key BLOB NOT NULL UNIQUE,"
		"  entity_kind TEXT NOT NULL,"
		"  entity_id TEXT NOT NULL,"
		"  version INTEGER NOT NULL,"
		"  payload BLOB NOT NULL,"
		"  response BLOB NOT NULL,"
		"  prev_hash BLOB NOT NULL,"
		"  hash BLOB NOT NULL"
		") STRICT;"
		"CREATE INDEX journal_funding ON journal (entity_id) "
		"WHERE entity_kind = 'funding';"
		"CREATE TABLE client ("
		"  id TEXT PRIMARY KEY, version INTEGER NOT NULL,"
		"  bsn TEXT NOT NULL, name TEXT NOT NULL,"
		"  birth_date TEXT NOT NULL,"
		"  municipality TEXT NOT NULL, benefit INTEGER NOT NULL,"
		"  registered_by TEXT NOT NULL,"
		"  registered_at TEXT NOT NULL,"
		"  UNIQUE (registered_by, bsn)"
		") STRICT, WITHOUT ROWID;",
		NULL, NULL, NULL) != SQLITE_OK)
		return fail(b, "cannot set up the database");
	if (prepare(
		b,
		"INSERT INTO journal (seq, time_us, org, user, idem_key, "
		"entity_kind, entity_id, version, payload, response, "
		"prev_hash, hash) VALUES (?1, ?2, 'ggz-bench', 'bench', ?3, "
		"'client', ?4, 1, ?5, ?6, ?7, ?8)",
		&b->insert) != 0 ||
	    prepare(b, "BEGIN IMMEDIATE", &b->begin) != 0 ||
	    prepare(b, "COMMIT", &b->commit) != 0 ||
	    prepare(b, "SAVEPOINT change", &b->savepoint) != 0 ||
	    prepare(b, "RELEASE change", &b->release) != 0 ||
	    prepare(b,
		    "SELECT org, response, seq FROM journal WHERE idem_key = "
		    "?1",
		    &b->lookup) != 0 ||
	    prepare(b,
		    "SELECT 1 FROM client WHERE registered_by = 'ggz-bench' "
		    "AND bsn = ?1",
		    &b->client_check) != 0 ||
	    prepare(b,
		    "INSERT INTO client (id, version, bsn, name, birth_date, "
		    "municipality, benefit, registered_by, registered_at) "
		    "VALUES (?1, 1, ?2, ?3, '1970-01-01', 'GM0363', 1, "
		    "'ggz-bench', '2026-01-01T00:00:00.000000Z')",
		    &b->client_insert) != 0)
		return fail(b, "cannot prepare the statements");
	return 0;
}

static int insert_row(struct bench *b)
{
	uint8_t key[16], prev[32], hash[32];
	char id[20], bsn[10], name[32];
	static const char hexd[] = "0123456789abcdef";

	fill_random(b, key, sizeof(key));
	fill_random(b, prev, sizeof(prev));
	fill_random(b, hash, sizeof(hash));
	uint64_t r = next_random(b);
	memcpy(id, "cl-", 3);
	for (int i = 0; i < 16; i++)
		id[3 + i] = hexd[(r >> (4 * i)) & 0xf];
	id[19] = '\0';
	/* The bytes of the blobs change a little with every row. */
	memcpy(b->payload, &r,
	       sizeof(r) < b->o.payload_bytes ? sizeof(r) : b->o.payload_bytes);
	b->seq++;

	if (b->o.daemon_sql) {
		if (step_done(b->savepoint) != 0)
			return -1;
		sqlite3_bind_blob(b->lookup, 1, key, sizeof(key),
				  SQLITE_STATIC);
		if (sqlite3_step(b->lookup) != SQLITE_DONE)
			return -1;
		sqlite3_reset(b->lookup);
		snprintf(bsn, sizeof(bsn), "%09" PRIu64, b->seq % 1000000000u);
		snprintf(name, sizeof(name), "Bench Client %" PRIu64, b->seq);
		sqlite3_bind_text(b->client_check, 1, bsn, -1, SQLITE_STATIC);
		if (sqlite3_step(b->client_check) != SQLITE_DONE)
			return -1;
		sqlite3_reset(b->client_check);
		sqlite3_bind_text(b->client_insert, 1, id, -1, SQLITE_STATIC);
		sqlite3_bind_text(b->client_insert, 2, bsn, -1, SQLITE_STATIC);
		sqlite3_bind_text(b->client_insert, 3, name, -1, SQLITE_STATIC);
		if (step_done(b->client_insert) != 0)
			return -1;
	}
	sqlite3_stmt *st = b->insert;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)b->seq);
	sqlite3_bind_int64(st, 2, (sqlite3_int64)time(NULL) * 1000000);
	sqlite3_bind_blob(st, 3, key, sizeof(key), SQLITE_STATIC);
	sqlite3_bind_text(st, 4, id, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, b->payload, (int)b->o.payload_bytes,
			  SQLITE_STATIC);
	sqlite3_bind_blob(st, 6, b->response, (int)b->o.response_bytes,
			  SQLITE_STATIC);
	sqlite3_bind_blob(st, 7, prev, sizeof(prev), SQLITE_STATIC);
	sqlite3_bind_blob(st, 8, hash, sizeof(hash), SQLITE_STATIC);
	if (step_done(st) != 0)
		return -1;
	if (b->o.daemon_sql && step_done(b->release) != 0)
		return -1;
	return 0;
}

/* Transaction times in microseconds, for the percentiles. */
struct times {
	uint32_t *us;
	size_t n, cap;
};

static void add_time(struct times *t, double seconds)
{
	if (t == NULL)
		return;
	if (t->n == t->cap) {
		size_t cap = t->cap == 0 ? 65536 : t->cap * 2;
		uint32_t *bigger = realloc(t->us, cap * sizeof(*bigger));
		if (bigger == NULL)
			return; /* the percentiles cover what fitted */
		t->us = bigger;
		t->cap = cap;
	}
	double us = seconds * 1e6;
	t->us[t->n++] = us > 4e9 ? 4000000000u : (uint32_t)us;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static double quantile_ms(const struct times *t, double q)
{
	if (t->n == 0)
		return 0;
	size_t rank = (size_t)(q * (double)t->n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > t->n)
		rank = t->n;
	return t->us[rank - 1] / 1000.0;
}

/* Inserts transactions until the time is up or the rows are done; returns
 * the rows and transactions it committed, and each one's time in times. */
static int run(struct bench *b, double seconds, uint64_t rows,
	       uint64_t *rows_out, uint64_t *txns_out, struct times *times)
{
	double end = now_s() + seconds;
	uint64_t n = 0, txns = 0;

	for (;;) {
		double t0 = now_s();
		if (rows > 0 ? n >= rows : now_s() >= end)
			break;
		/* Rows after this transaction: round((txns + 1) * B). */
		uint64_t target =
		    (uint64_t)((double)(txns + 1) * b->o.batch + 0.5);
		if (target <= n)
			target = n + 1;
		if (rows > 0 && target > rows)
			target = rows;
		if (step_done(b->begin) != 0)
			return fail(b, "BEGIN failed");
		for (; n < target; n++)
			if (insert_row(b) != 0)
				return fail(b, "INSERT failed");
		if (step_done(b->commit) != 0)
			return fail(b, "COMMIT failed");
		add_time(times, now_s() - t0);
		txns++;
	}
	*rows_out = n;
	*txns_out = txns;
	return 0;
}

static void remove_db(const char *path)
{
	char p[4200];
	static const char *const suffixes[] = {"", "-wal", "-shm", "-journal"};
	for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		(void)unlink(p);
	}
}

int main(int argc, char **argv)
{
	struct bench b;
	char path[4096];
	uint64_t rows = 0, txns = 0, wrows, wtxns;
	struct times times = {0};
	int rv;

	memset(&b, 0, sizeof(b));
	rv = parse_args(argc, argv, &b.o);
	if (rv != 0)
		return rv;
	snprintf(path, sizeof(path), "%s/sqlite-baseline-%ld.db", b.o.dir,
		 (long)getpid());
	remove_db(path);
	b.rng = ((uint64_t)getpid() << 32) ^ (uint64_t)time(NULL) ^
		0x9e3779b97f4a7c15ULL;
	b.payload = malloc(b.o.payload_bytes);
	b.response = malloc(b.o.response_bytes);
	if (b.payload == NULL || b.response == NULL) {
		fprintf(stderr, "sqlite-baseline: out of memory\n");
		return 1;
	}
	fill_random(&b, b.payload, b.o.payload_bytes);
	fill_random(&b, b.response, b.o.response_bytes);

	rv = open_db(&b, path);
	if (rv == 0 && b.o.warmup_s > 0)
		rv = run(&b, b.o.warmup_s, 0, &wrows, &wtxns, NULL);
	double t0 = now_s();
	if (rv == 0)
		rv = run(&b, b.o.duration_s, b.o.rows, &rows, &txns, &times);
	double elapsed = now_s() - t0;

	sqlite3_stmt *all[] = {b.insert,	b.lookup, b.client_check,
			       b.client_insert, b.begin,  b.commit,
			       b.savepoint,	b.release};
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		sqlite3_finalize(all[i]);
	sqlite3_close(b.db);
	walbuf_free(b.walbuf);
	if (!b.o.keep)
		remove_db(path);
	free(b.payload);
	free(b.response);
	if (rv != 0) {
		free(times.us);
		return 1;
	}
	qsort(times.us, times.n, sizeof(*times.us), cmp_u32);
	printf("batch=%.2f rows=%" PRIu64 " transactions=%" PRIu64
	       " seconds=%.3f rows_per_s=%.1f transactions_per_s=%.1f "
	       "txn_p50_ms=%.3f txn_p99_ms=%.3f txn_p999_ms=%.3f "
	       "payload_bytes=%zu response_bytes=%zu daemon_sql=%s walbuf=%s\n",
	       b.o.batch, rows, txns, elapsed,
	       elapsed > 0 ? (double)rows / elapsed : 0,
	       elapsed > 0 ? (double)txns / elapsed : 0,
	       quantile_ms(&times, 0.50), quantile_ms(&times, 0.99),
	       quantile_ms(&times, 0.999), b.o.payload_bytes,
	       b.o.response_bytes, b.o.daemon_sql ? "yes" : "no",
	       b.o.walbuf ? "yes" : "no");
	free(times.us);
	return 0;
}
