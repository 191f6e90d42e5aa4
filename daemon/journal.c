/* pthread_setname_np (the threads' names, as top -H and /proc show them)
 * and gettid, for the bulk readers. */
#define _GNU_SOURCE

#include "journal.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "alloc.h"
#include "apply.h"
#include "ipsnet_errors.h"
#include "log.h"
#include "util.h"
#include "walbuf.h"

#define READERS 2
/* Bulk reads (journal_read_bulk) have readers of their own, this much
 * nicer than the daemon: they take the CPU the others leave. */
#define BULK_READERS 2
#ifndef BULK_NICE /* -DBULK_NICE=0 builds the same at the daemon's nice */
#define BULK_NICE 10
#endif
/* The audit rows of a bulk read (journal_audit_bulk) wait while changes
 * wait, for at most this long, so that a catch-up keeps going however busy
 * the writer is. */
#define BULK_AUDIT_WAIT_US 20000
#define BUSY_TIMEOUT_MS 2000
/* What a sync event (seq, time, organisation, change, hash) and the
 * request id add to a change's answer, at most. */
#define ANSWER_MARGIN_BYTES 256
/* WAL frames between checkpoints (SQLite's own default). */
#define CHECKPOINT_FRAMES 1000
#define STR_(x) #x
#define STR(x) STR_(x)
/* The writer's page cache, KiB: the hot ends of the indexes. 64 MiB was
 * measured no faster than 8 MiB, and would sit in the daemon's memory. */
#define WRITER_CACHE_KIB 8192
/* Audit rows a statement of the writer inserts when it has many (a
 * delivery to many subscribers, a page of a catch-up): one statement a row
 * cost a third more of the writer's time (a bare SQLite harness: 2.6–4.5
 * against 1.7–2.9 us a row). */
#define AUDIT_ROWS_A_STATEMENT 16
/* How long the writer looks for the next change after a batch before it
 * sleeps on its condition variable, microseconds (see writer_spin). */
#define WRITER_SPIN_US 200

/* A run of write failures is logged when it begins and then at most once
 * this often while it goes on (a full disk refuses every batch: a line
 * each would flood the log, on a disk that may be the full one). */
#define TROUBLE_LOG_US (60ULL * 1000000)
/* The loop polls without sleeping while at most this many changes are in
 * the writer, for at most LOOP_SPIN_US after the last submit (see
 * loop_spin_cb). */
#define LOOP_SPIN_MAX_CHANGES 2
#define LOOP_SPIN_US 2000
/* ... and only when this change came at most this soon after the last
 * answer: a client that sends its next change as soon as it has the
 * answer to the one before. */
#define LOOP_SPIN_GAP_US 1000
/* Changes that can take away what an organisation may see, the last ones
 * kept to check audit jobs against (judged_before_narrowing). */
#define NARROWINGS_KEPT 64
/* Salts one RAND_bytes call draws for the writer's pool (draw_salt). */
#define SALT_POOL 64

/* Appends the chain first..last (linked by next) to the queue head..tail:
 * every queue here, to and from the threads, is one of these. Under mu. */
#define QUEUE_APPEND(head, tail, first, last)                                  \
	do {                                                                   \
		if ((tail) != NULL)                                            \
			(tail)->next = (first);                                \
		else                                                           \
			(head) = (first);                                      \
		(tail) = (last);                                               \
	} while (0)

struct journal {
	uv_loop_t *loop;
	uv_async_t async;
	uv_idle_t spin; /* the loop's: active while it polls without sleeping */
	char path[CONFIG_MAX_PATH];
	pthread_t writer;
	pthread_t readers[READERS + BULK_READERS];
	int n_readers, n_bulk_readers;
	uint32_t answer_limit; /* max_frame_bytes; 0: none */
	bool writer_started;
	pthread_t checkpointer;
	sqlite3 *cdb; /* the checkpointer's connection, opened before it */
	bool checkpointer_started;
	pthread_cond_t checkpoint_cv;
	bool checkpoint_wanted;   /* under mu */
	bool checkpoint_tail;     /* under mu: the checkpointer did a pass */
	int checkpoint_asked_at;  /* the writer's: WAL frames when last asked */

	pthread_mutex_t mu;
	pthread_cond_t writer_cv;
	pthread_cond_t reader_cv;
	pthread_cond_t bulk_cv;
	struct journal_change *wq_head, *wq_tail;     /* to the writer */
	struct journal_change *done_head, *done_tail; /* back to the loop */
	struct journal_read *rq_head, *rq_tail;
	struct journal_read *bq_head, *bq_tail; /* to the bulk readers */
	struct journal_read *rdone_head, *rdone_tail;
	struct journal_audit *aq_head, *aq_tail;       /* to the writer */
	struct journal_audit *baq_head, *baq_tail;     /* bulk, to the writer */
	uint64_t baq_since_us; /* when the oldest of baq was queued */
	struct journal_audit *adone_head, *adone_tail; /* back to the loop */
	bool stopping;
	/* Set by every submit after it queued (changes or audits), cleared
	 * by the writer when it takes the queues: what writer_spin watches
	 * without taking mu. */
	atomic_bool work;
	struct journal_stats stats; /* published copy, under mu */
	uint64_t unnotified_commit_us; /* the first commit that moved the
					* head since the loop last looked,
					* monotonic; 0: none (under mu) */

	/* The loop's own. */
	unsigned in_writer;     /* changes submitted and not yet done */
	uint64_t submitted_at;  /* util_mono_us of the last submit */
	uint64_t answered_at;   /* util_mono_us of the last change done */
	void (*on_commit)(void *arg, uint64_t head,
			  const uint8_t hash[JOURNAL_HASH_BYTES],
			  uint64_t commit_us);
	void *on_commit_arg;
	uint64_t notified_head;

	/* The writer's own. */
	sqlite3_vfs *walbuf; /* wdb's VFS */
	sqlite3 *wdb;
	sqlite3_stmt *st_lookup;
	sqlite3_stmt *st_append;
	sqlite3_stmt *st_audit, *st_audit_many; /* 1, AUDIT_ROWS_A_STATEMENT */
	struct apply_stmts *stmts; /* the apply functions' statements */
	sqlite3_stmt *st_savepoint, *st_release, *st_rollback_to;
	sqlite3_stmt *st_begin, *st_commit; /* a batch's, compiled once */
	uint64_t head_seq;
	uint8_t head_hash[JOURNAL_HASH_BYTES];
	/* The audit trail's chain: the hash of its last committed row, and
	 * that of the last row written in the open transaction (from
	 * audit_hash at each BEGIN, into it at each COMMIT). */
	uint8_t audit_hash[JOURNAL_HASH_BYTES];
	uint8_t audit_tx_hash[JOURNAL_HASH_BYTES];
	/* DATABASE.served and the head last written into it (the writer's
	 * after open): see served_open. */
	int served_fd;
	uint64_t served_seq;
	/* The last committed changes that can take away what an organisation
	 * may see (apply_ctx.narrows_org), the newest at (n_narrowings - 1) %
	 * NARROWINGS_KEPT, and the seq of the newest. None at open: every
	 * judgement is made at a snapshot taken since, which holds all that
	 * was committed before. */
	struct narrowing {
		uint64_t seq;
		char org[ORG_ID_MAX];
		char client[JOURNAL_ID_MAX]; /* "": any client */
	} narrowings[NARROWINGS_KEPT];
	uint64_t n_narrowings; /* ever kept */
	uint64_t narrows_seq;
	/* Whether an entry is kept under the 16 bytes sent (written before
	 * journal_kept_key): only then does lookup_key look there too. The
	 * writer's, set at open. */
	bool sent_keys;
	/* Salts drawn ahead (draw_salt): one RAND_bytes call fills the pool,
	 * which costs what a call for a single salt does; salt_pool_left of
	 * them, from the end, not yet given out. Each is given out once. */
	uint8_t salt_pool[SALT_POOL * JOURNAL_SALT_BYTES];
	unsigned salt_pool_left;
	bool writes_stopped;
	char stopped_why[256];
	/* The database file and its WAL as the journal opened them
	 * (file_replaced): device and inode, 0 when not known. */
	char wal_path[CONFIG_MAX_PATH + 8];
	dev_t db_dev, wal_dev;
	ino_t db_ino, wal_ino;
	/* A checkpoint's sync of the database file failed (checkpoint_failed):
	 * no checkpoint runs again, writes stop, the WAL stays at the close. */
	atomic_bool sync_failed;
	/* Runs of failed writes of the writer: changes' batches, audit rows
	 * (writer thread only; see trouble_log_now). */
	struct trouble {
		uint64_t since_us;  /* its first failure */
		uint64_t logged_us; /* its last line */
		uint64_t failures;  /* 0: none now */
	} jtrouble, atrouble;
	/* The run of failed checkpoint passes, the checkpointer's and the
	 * writer's (under mu). */
	struct trouble ctrouble;
};

static void served_write(struct journal *j);

/* ---- the chain --------------------------------------------------------- */

/* The canonical bytes go to SHA-256 through a small buffer: one
 * EVP_DigestUpdate per few hundred bytes, not one per field. */
struct hash_in {
	EVP_MD_CTX *md;
	bool failed; /* out of memory: what hash_end gives is no hash */
	size_t n;
	uint8_t b[512];
};

static void put_raw(struct hash_in *h, const void *p, size_t n)
{
	if (h->failed)
		return;
	if (n > sizeof(h->b) - h->n) {
		h->failed = EVP_DigestUpdate(h->md, h->b, h->n) != 1;
		h->n = 0;
		if (n >= sizeof(h->b)) {
			h->failed |= EVP_DigestUpdate(h->md, p, n) != 1;
			return;
		}
	}
	memcpy(h->b + h->n, p, n);
	h->n += n;
}

static void put_u64(struct hash_in *h, uint64_t v)
{
	uint8_t b[8];
	for (int i = 7; i >= 0; i--) {
		b[i] = (uint8_t)(v & 0xff);
		v >>= 8;
	}
	put_raw(h, b, sizeof(b));
}

static void put_bytes(struct hash_in *h, const void *p, size_t n)
{
	put_u64(h, n);
	if (n > 0)
		put_raw(h, p, n);
}

static void put_str(struct hash_in *h, const char *s)
{
	put_bytes(h, s, strlen(s));
}

/* SHA-256 fetched from the default provider once, not looked up again for
 * every entry (EVP_sha256() in EVP_DigestInit_ex does that lookup). */
static EVP_MD *sha256_fetched;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256_fetched = EVP_MD_fetch(NULL, "SHA256", NULL);
}

/* SHA-256 begun over a domain (its letters, no NUL) and the hash of what
 * came before. */
static void hash_begin(struct hash_in *h, const char *domain,
		       const uint8_t prev[JOURNAL_HASH_BYTES])
{
	pthread_once(&sha256_once, sha256_fetch);
	h->md = EVP_MD_CTX_new();
	h->n = 0;
	h->failed = h->md == NULL ||
		    EVP_DigestInit_ex2(h->md,
				       sha256_fetched != NULL ? sha256_fetched
							      : EVP_sha256(),
				       NULL) != 1;
	put_raw(h, domain, strlen(domain));
	put_raw(h, prev, JOURNAL_HASH_BYTES);
}

/* 0, or -1 when OpenSSL failed on the way (out of memory): out is then no
 * hash, and must be neither stored nor chained onto. */
static int hash_end(struct hash_in *h, uint8_t out[JOURNAL_HASH_BYTES])
{
	unsigned int n = 0;
	if (!h->failed)
		h->failed = EVP_DigestUpdate(h->md, h->b, h->n) != 1 ||
			    EVP_DigestFinal_ex(h->md, out, &n) != 1 ||
			    n != JOURNAL_HASH_BYTES;
	EVP_MD_CTX_free(h->md);
	return h->failed ? -1 : 0;
}

/* The domains of an entry's hash: before salts (schema 7), and since. */
#define ENTRY_V1 "ipsnet.journal.v1"
#define ENTRY_V2 "ipsnet.journal.v2"

/* The canonical bytes of an entry: every field in a fixed order, integers as
 * 8 bytes big-endian, strings and blobs with their 8-byte length first, so
 * that no two different entries give the same bytes; the salt (NULL: none,
 * the v1 form) right after the previous hash. */
static int entry_hash(const char *domain,
		      const uint8_t prev[JOURNAL_HASH_BYTES],
		      const uint8_t *salt, uint64_t seq, int64_t time_us,
		      const char *org, const char *user, const uint8_t *key,
		      size_t key_len, const char *entity_kind,
		      const char *entity_id, uint64_t version,
		      const void *payload, size_t payload_len,
		      uint8_t out[JOURNAL_HASH_BYTES])
{
	struct hash_in h;
	hash_begin(&h, domain, prev);
	if (salt != NULL)
		put_bytes(&h, salt, JOURNAL_SALT_BYTES);
	put_u64(&h, seq);
	put_u64(&h, (uint64_t)time_us);
	put_str(&h, org);
	put_str(&h, user);
	put_bytes(&h, key, key_len);
	put_str(&h, entity_kind);
	put_str(&h, entity_id);
	put_u64(&h, version);
	put_bytes(&h, payload, payload_len);
	return hash_end(&h, out);
}

int journal_entry_hash(const uint8_t prev[JOURNAL_HASH_BYTES], uint64_t seq,
		       int64_t time_us, const char *org, const char *user,
		       const uint8_t *key, size_t key_len,
		       const char *entity_kind, const char *entity_id,
		       uint64_t version, const void *payload,
		       size_t payload_len, uint8_t out[JOURNAL_HASH_BYTES])
{
	return entry_hash(ENTRY_V1, prev, NULL, seq, time_us, org, user, key,
			  key_len, entity_kind, entity_id, version, payload,
			  payload_len, out);
}

int journal_entry_hash_salted(const uint8_t prev[JOURNAL_HASH_BYTES],
			      const uint8_t salt[JOURNAL_SALT_BYTES],
			      uint64_t seq, int64_t time_us, const char *org,
			      const char *user, const uint8_t *key,
			      size_t key_len, const char *entity_kind,
			      const char *entity_id, uint64_t version,
			      const void *payload, size_t payload_len,
			      uint8_t out[JOURNAL_HASH_BYTES])
{
	return entry_hash(ENTRY_V2, prev, salt, seq, time_us, org, user, key,
			  key_len, entity_kind, entity_id, version, payload,
			  payload_len, out);
}

int journal_audit_hash(const uint8_t prev[JOURNAL_HASH_BYTES], int64_t time_us,
		       const char *org, const char *user, const char *client_id,
		       const char *action, const char *object,
		       const char *result, const char *peer,
		       uint8_t out[JOURNAL_HASH_BYTES])
{
	static const char domain[] = "ipsnet.audit.v1";
	struct hash_in h;
	hash_begin(&h, domain, prev);
	put_u64(&h, (uint64_t)time_us);
	put_str(&h, org);
	put_str(&h, user);
	put_u64(&h, client_id != NULL); /* none and "" differ */
	if (client_id != NULL)
		put_str(&h, client_id);
	put_str(&h, action);
	put_str(&h, object);
	put_str(&h, result);
	put_str(&h, peer);
	return hash_end(&h, out);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	return t != NULL ? (const char *)t : "";
}

/* The single integer sql gives (a largest seq or id), 0 when none: the
 * total a walk's progress is told. */
static uint64_t count_of(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;
	uint64_t n = 0;
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return 0;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
		n = (uint64_t)sqlite3_column_int64(st, 0);
	sqlite3_finalize(st);
	return n;
}

/* Whether table (a name of ours, not a user's) has column: a backup of an
 * older schema, verified before a restore, may lack it. 0, or -1. */
static int has_column(sqlite3 *db, const char *table, const char *column,
		      bool *out)
{
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(db,
			       "SELECT count(*) FROM pragma_table_info(?1) "
			       "WHERE name = ?2",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	*out = rc == SQLITE_ROW && sqlite3_column_int(st, 0) > 0;
	sqlite3_finalize(st);
	return rc == SQLITE_ROW ? 0 : -1;
}

int journal_check_chain(sqlite3 *db, const struct journal_progress *progress,
			struct journal_verify_report *r)
{
	sqlite3_stmt *st;
	uint8_t prev[JOURNAL_HASH_BYTES] = {0};
	uint64_t expect_seq = 1, total = 0;
	int rc;

	memset(r, 0, sizeof(*r));
	/* A database from before schema 8 (a backup of then, verified before
	 * a restore) has no salt column: every entry has the v1 form. */
	bool has_salt;
	if (has_column(db, "journal", "salt", &has_salt) != 0)
		return IPSNET_EDB;
	/* The seqs run from 1 without a gap (this walk checks it). */
	if (progress != NULL)
		total = count_of(db, "SELECT max(seq) FROM journal");
	journal_progress_tell(progress, "hash chain", "entries", 0, total);
	char sql[192];
	snprintf(sql, sizeof(sql),
		 "SELECT seq, time_us, org, user, idem_key, entity_kind, "
		 "entity_id, version, payload, prev_hash, hash, %s FROM "
		 "journal ORDER BY seq",
		 has_salt ? "salt" : "NULL");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return IPSNET_EDB;
	bool salted = false; /* an entry with a salt was seen */
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		uint64_t seq = (uint64_t)sqlite3_column_int64(st, 0);
		uint8_t h[JOURNAL_HASH_BYTES];
		const void *key = sqlite3_column_blob(st, 4);
		const void *prev_col = sqlite3_column_blob(st, 9);
		const void *hash_col = sqlite3_column_blob(st, 10);
		bool has_row_salt = sqlite3_column_type(st, 11) != SQLITE_NULL;
		const char *problem = NULL;

		if (seq != expect_seq)
			problem = "an entry is missing before this one";
		else if ((sqlite3_column_bytes(st, 4) != JOURNAL_KEY_BYTES &&
			  sqlite3_column_bytes(st, 4) !=
			      JOURNAL_OWN_KEY_BYTES) ||
			 sqlite3_column_bytes(st, 9) != JOURNAL_HASH_BYTES ||
			 sqlite3_column_bytes(st, 10) != JOURNAL_HASH_BYTES)
			problem = "a key or hash has the wrong length";
		else if (has_row_salt &&
			 (sqlite3_column_type(st, 11) != SQLITE_BLOB ||
			  sqlite3_column_bytes(st, 11) != JOURNAL_SALT_BYTES))
			problem = "its salt has the wrong length";
		else if (!has_row_salt && salted)
			/* Every entry since the first salted one is salted:
			 * an ipsnetd that salts never writes one without. */
			problem = "it has no salt, and an entry before it has "
				  "one (it was changed)";
		else if (memcmp(prev_col, prev, JOURNAL_HASH_BYTES) != 0)
			problem = "its previous hash is not the hash of the "
				  "entry before it";
		r->sent_keys +=
		    sqlite3_column_bytes(st, 4) == JOURNAL_KEY_BYTES;
		r->unsalted += !has_row_salt;
		if (problem == NULL) {
			const uint8_t *salt =
			    has_row_salt ? sqlite3_column_blob(st, 11) : NULL;
			int hrv =
			    entry_hash(salt != NULL ? ENTRY_V2 : ENTRY_V1, prev,
				       salt, seq, sqlite3_column_int64(st, 1),
				       col_text(st, 2), col_text(st, 3), key,
				       (size_t)sqlite3_column_bytes(st, 4),
				       col_text(st, 5), col_text(st, 6),
				       (uint64_t)sqlite3_column_int64(st, 7),
				       sqlite3_column_blob(st, 8),
				       (size_t)sqlite3_column_bytes(st, 8), h);
			if (hrv != 0) {
				sqlite3_finalize(st);
				return IPSNET_ENOMEM;
			}
			if (memcmp(h, hash_col, JOURNAL_HASH_BYTES) != 0)
				problem = "its contents do not match its hash "
					  "(the entry was changed)";
		}
		if (problem != NULL) {
			/* Out of order: the first seq that is not where it
			 * should be. */
			r->first_bad_seq = seq != expect_seq ? expect_seq : seq;
			snprintf(r->problem, sizeof(r->problem),
				 "journal entry %llu: %s",
				 (unsigned long long)r->first_bad_seq, problem);
			sqlite3_finalize(st);
			return 0;
		}
		memcpy(prev, hash_col, JOURNAL_HASH_BYTES);
		salted |= has_row_salt;
		r->entries++;
		expect_seq++;
		if (r->entries % JOURNAL_PROGRESS_ROWS == 0)
			journal_progress_tell(progress, "hash chain", "entries",
					      r->entries, total);
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return IPSNET_EDB;
	memcpy(r->head_hash, prev, JOURNAL_HASH_BYTES);
	journal_progress_tell(progress, "hash chain", "entries", r->entries,
			      r->entries);
	return 0;
}

int journal_check_audit(sqlite3 *db, const struct journal_progress *progress,
			struct journal_verify_report *r)
{
	sqlite3_stmt *st;
	uint8_t prev[JOURNAL_HASH_BYTES] = {0};
	bool chained = false; /* a row with a hash was seen */
	uint64_t walked = 0, total = 0;
	int rc;

	r->audit_rows = r->audit_unchained = 0;
	r->first_bad_audit_id = 0;
	/* A database from before schema 7 (a backup of then, verified before
	 * a restore) has no hash column: every row is from before the
	 * chain. */
	bool has_hash;
	if (has_column(db, "audit", "hash", &has_hash) != 0)
		return IPSNET_EDB;
	/* Without the column, every row is counted by the same walk. */
	char sql[128];
	snprintf(sql, sizeof(sql),
		 "SELECT id, time_us, org, user, client_id, action, object, "
		 "result, peer, %s FROM audit ORDER BY id",
		 has_hash ? "hash" : "NULL");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return IPSNET_EDB;
	if (progress != NULL)
		total = count_of(db, "SELECT max(id) FROM audit");
	journal_progress_tell(progress, "audit trail", "rows", 0, total);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const char *problem = NULL;
		if (++walked % JOURNAL_PROGRESS_ROWS == 0)
			journal_progress_tell(progress, "audit trail", "rows",
					      walked, total);
		if (sqlite3_column_type(st, 9) == SQLITE_NULL) {
			/* Rows from before the chain come first. */
			if (!chained) {
				r->audit_unchained++;
				continue;
			}
			problem = "it has no hash: it was added by something "
				  "other than ipsnetd";
		} else if (sqlite3_column_bytes(st, 9) != JOURNAL_HASH_BYTES) {
			problem = "its hash has the wrong length";
		} else {
			uint8_t h[JOURNAL_HASH_BYTES];
			if (journal_audit_hash(
				prev, sqlite3_column_int64(st, 1),
				col_text(st, 2), col_text(st, 3),
				(const char *)sqlite3_column_text(st, 4),
				col_text(st, 5), col_text(st, 6),
				col_text(st, 7), col_text(st, 8), h) != 0) {
				sqlite3_finalize(st);
				return IPSNET_ENOMEM;
			}
			if (memcmp(h, sqlite3_column_blob(st, 9),
				   JOURNAL_HASH_BYTES) != 0)
				problem = "its contents do not match its hash "
					  "(it, or the row before it, was "
					  "changed or removed)";
		}
		if (problem != NULL) {
			r->first_bad_audit_id = sqlite3_column_int64(st, 0);
			snprintf(r->problem, sizeof(r->problem),
				 "audit row %lld: %s",
				 (long long)r->first_bad_audit_id, problem);
			sqlite3_finalize(st);
			return 0;
		}
		memcpy(prev, sqlite3_column_blob(st, 9), JOURNAL_HASH_BYTES);
		chained = true;
		r->audit_rows++;
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return IPSNET_EDB;
	memcpy(r->audit_hash, prev, JOURNAL_HASH_BYTES);
	journal_progress_tell(progress, "audit trail", "rows", walked, walked);
	return 0;
}

/* ---- the writer -------------------------------------------------------- */

static bool is_fatal_db_error(sqlite3 *db)
{
	switch (sqlite3_errcode(db) & 0xff) {
	case SQLITE_FULL:
	case SQLITE_IOERR:
	case SQLITE_READONLY:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_NOMEM:
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_CANTOPEN:
	case SQLITE_PROTOCOL:
		return true;
	}
	/* SQLite may have rolled the whole transaction back by itself. */
	return sqlite3_get_autocommit(db) != 0;
}

/* What stopped a write, in words (for the client's sentence and the
 * operator's log line). */
static const char *db_failure_cause(sqlite3 *db)
{
	const char *what;
	switch (sqlite3_errcode(db) & 0xff) {
	case SQLITE_FULL:
		what = "the disk is full";
		break;
	case SQLITE_READONLY:
		what = "the database is read-only";
		break;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
		what = "the database is locked by another process";
		break;
	case SQLITE_IOERR:
		what = "the disk reported an input/output error";
		break;
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
		what = "the database file is damaged";
		break;
	default:
		what = sqlite3_errmsg(db);
		break;
	}
	return what;
}

static const char *db_failure_sentence(sqlite3 *db, char *buf, size_t cap)
{
	snprintf(buf, cap,
		 "the journal cannot be written now (%s); nothing was changed, "
		 "try again later",
		 db_failure_cause(db));
	return buf;
}

/* Counts a failure of t's run; true when it is to be logged: the first,
 * and then one a TROUBLE_LOG_US. */
static bool trouble_log_now(struct trouble *t)
{
	uint64_t now = util_mono_us();
	if (t->failures++ == 0) {
		t->since_us = now;
		t->logged_us = now;
		return true;
	}
	if (now - t->logged_us < TROUBLE_LOG_US)
		return false;
	t->logged_us = now;
	return true;
}

/* A write went through: the end of t's run of failures, if there was
 * one, is logged. */
static void trouble_over(struct trouble *t, const char *msg)
{
	if (t->failures == 0)
		return;
	log_warn(msg, "failures=%llu for_ms=%llu",
		 (unsigned long long)t->failures,
		 (unsigned long long)((util_mono_us() - t->since_us) / 1000));
	memset(t, 0, sizeof(*t));
}

/* The line of a failed write of t's kind, when it is to be logged. */
static void trouble_log(struct journal *j, struct trouble *t, const char *msg,
			const char *what)
{
	char cause[160], error[160];
	if (!trouble_log_now(t))
		return;
	log_error(msg,
		  "%s cause=%s error=%s failures=%llu detail=\"logged when it "
		  "begins and then once a minute while it goes on\"",
		  what,
		  log_quote(cause, sizeof(cause), db_failure_cause(j->wdb)),
		  log_quote(error, sizeof(error), sqlite3_errmsg(j->wdb)),
		  (unsigned long long)t->failures);
}

/* Runs a prepared statement that returns no rows (a batch's BEGIN and
 * COMMIT and the savepoints, which every change goes through: compiled
 * once). */
static int run(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : IPSNET_EDB;
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK
		   ? 0
		   : IPSNET_EDB;
}

/* The key a change of org sent with key is kept under: the 16 bytes sent,
 * then the first 16 of SHA-256 over a tag, the org and the key. The same
 * for every retry of the change, no other organisation's (short of a
 * collision of 128 bits of SHA-256), and never a key a client sends (16
 * bytes). The key sent stays in front: keys grow with time
 * (ipsnet_new_idempotency_key), so the key index is appended to at its
 * end, not written all over. 0, or -1 when SHA-256 failed. */
int journal_kept_key(const char *org, const uint8_t key[JOURNAL_KEY_BYTES],
		     uint8_t out[JOURNAL_OWN_KEY_BYTES])
{
	static const char tag[] = "ipsnetd-kept-key-v3";
	uint8_t buf[sizeof(tag) + ORG_ID_MAX + JOURNAL_KEY_BYTES],
	    md[EVP_MAX_MD_SIZE];
	unsigned int n = 0;
	size_t len = 0, olen = strlen(org) + 1;
	memcpy(buf, tag, sizeof(tag));
	len += sizeof(tag);
	if (olen > ORG_ID_MAX)
		olen = ORG_ID_MAX;
	memcpy(buf + len, org, olen);
	len += olen;
	memcpy(buf + len, key, JOURNAL_KEY_BYTES);
	len += JOURNAL_KEY_BYTES;
	pthread_once(&sha256_once, sha256_fetch);
	_Static_assert(JOURNAL_OWN_KEY_BYTES == 2 * JOURNAL_KEY_BYTES,
		       "the key sent and as much of a SHA-256");
	if (EVP_Digest(buf, len, md, &n,
		       sha256_fetched != NULL ? sha256_fetched : EVP_sha256(),
		       NULL) != 1 ||
	    n < JOURNAL_KEY_BYTES)
		return -1;
	memcpy(out, key, JOURNAL_KEY_BYTES);
	memcpy(out + JOURNAL_KEY_BYTES, md, JOURNAL_KEY_BYTES);
	return 0;
}

/* A change whose key was applied before gets the first answer. Returns 1
 * when it was, 0 when the key is new, or an error.
 *
 * A key is its organisation's: every change is kept under
 * journal_kept_key of its org and the key it sent, where its own retries
 * find it, and which does not depend on whether another organisation used
 * the key. Were it kept under the key itself when that is free and under
 * another one when not, the entry's hash (in every sync event, over the
 * key kept) would tell the sender which: whether another organisation used
 * the key (an import's, worked out from a person's details). Entries
 * written before are kept under the key sent; a retry of one finds it
 * there (looked for only in a journal that holds such entries: a second
 * search of the key index for every new change otherwise), and a change
 * of another organisation with that key is new. */
static int lookup_key(struct journal *j, struct journal_change *c)
{
	sqlite3_stmt *st = j->st_lookup;
	int rv = 0;
	bool legacy = false;
	if (journal_kept_key(c->actor.org, c->key, c->own_key) != 0) {
		c->err = IPSNET_ENOMEM;
		util_strlcpy(c->message,
			     "the server could not work out the change's key; "
			     "send the change again with the same key",
			     sizeof(c->message));
		return IPSNET_ENOMEM;
	}
again:
	if (legacy)
		sqlite3_bind_blob(st, 1, c->key, JOURNAL_KEY_BYTES,
				  SQLITE_STATIC);
	else
		sqlite3_bind_blob(st, 1, c->own_key, JOURNAL_OWN_KEY_BYTES,
				  SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_DONE && !legacy && j->sent_keys) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		legacy = true;
		goto again;
	}
	if (rc == SQLITE_ROW) {
		if (strcmp(col_text(st, 0), c->actor.org) != 0 && legacy) {
			/* Another organisation's, kept under the key it
			 * sent: this change is new. */
		} else if (strcmp(col_text(st, 0), c->actor.org) != 0) {
			/* journal_kept_key collided (128 bits): astronomically
			 * unlikely. */
			c->err = IPSNET_EINVAL;
			util_strlcpy(c->message,
				     "this idempotency key was already used; "
				     "send the change with a new key",
				     sizeof(c->message));
			rv = IPSNET_EINVAL;
		} else {
			size_t n = (size_t)sqlite3_column_bytes(st, 1);
			c->response = ipsnet_malloc(n);
			if (c->response == NULL) {
				c->err = rv = IPSNET_ENOMEM;
				util_strlcpy(
				    c->message,
				    "the server is out of memory; send "
				    "the change again with the same "
				    "key",
				    sizeof(c->message));
			} else {
				memcpy(c->response, sqlite3_column_blob(st, 1),
				       n);
				c->response_len = n;
				c->seq = (uint64_t)sqlite3_column_int64(st, 2);
				c->replayed = true;
				rv = 1;
			}
		}
	} else if (rc != SQLITE_DONE) {
		rv = IPSNET_EDB;
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

/* The salt of a new entry (journal_entry_hash_salted): 16 bytes from
 * OpenSSL's generator, taken from the writer's pool, which one RAND_bytes
 * call fills when it is empty (one call for a single salt cost 6,600
 * instructions, 5 % of a change). A salt given out is wiped from the pool
 * and never given again, also when its change is refused. 0, or
 * IPSNET_EUNAVAILABLE with ctx->message: an entry without its salt, or
 * with one that is not random, is never written. */
static int draw_salt(struct journal *j, struct apply_ctx *ctx,
		     uint8_t salt[JOURNAL_SALT_BYTES])
{
	if (j->salt_pool_left == 0) {
		ERR_clear_error();
		if (RAND_bytes(j->salt_pool, sizeof(j->salt_pool)) == 1)
			j->salt_pool_left = SALT_POOL;
	}
	if (j->salt_pool_left > 0) {
		uint8_t *p = j->salt_pool +
			     --j->salt_pool_left * JOURNAL_SALT_BYTES;
		memcpy(salt, p, JOURNAL_SALT_BYTES);
		OPENSSL_cleanse(p, JOURNAL_SALT_BYTES);
		return 0;
	}
	char why[160];
	unsigned long e = ERR_get_error();
	if (e != 0)
		ERR_error_string_n(e, why, sizeof(why));
	else
		util_strlcpy(why, "no reason given", sizeof(why));
	ERR_clear_error();
	log_error("journal salt not drawn",
		  "error=\"%s\" changes_refused=yes detail=\"OpenSSL's "
		  "random generator failed\"",
		  why);
	util_strlcpy(ctx->message,
		     "the server could not draw the random bytes a journal "
		     "entry needs (logged); nothing was changed, try again "
		     "later",
		     sizeof(ctx->message));
	return IPSNET_EUNAVAILABLE;
}

static int append_entry(struct journal *j, struct journal_change *c,
			struct apply_ctx *ctx, uint64_t seq,
			uint8_t hash[JOURNAL_HASH_BYTES])
{
	/* The payload is the change as applied: no request id, no status. */
	Ipsnet__V1__Envelope e = *c->req;
	e.request_id = 0;
	e.status = NULL;
	uint8_t salt[JOURNAL_SALT_BYTES];
	int rv = draw_salt(j, ctx, salt);
	if (rv != 0)
		return rv;
	size_t n = ipsnet__v1__envelope__get_packed_size(&e);
	uint8_t *payload = ipsnet_malloc(n);
	uint8_t next[JOURNAL_HASH_BYTES];

	if (payload == NULL)
		return IPSNET_ENOMEM;
	ipsnet__v1__envelope__pack(&e, payload);
	/* The key it is kept under (lookup_key). */
	if (journal_entry_hash_salted(
		hash, salt, seq, ctx->time_us, c->actor.org, c->actor.user,
		c->own_key, JOURNAL_OWN_KEY_BYTES, ctx->entity_kind,
		ctx->entity_id, ctx->version, payload, n, next) != 0) {
		ipsnet_free(payload);
		return IPSNET_ENOMEM;
	}
	sqlite3_stmt *st = j->st_append;
	sqlite3_bind_int64(st, 1, (sqlite3_int64)seq);
	sqlite3_bind_int64(st, 2, ctx->time_us);
	sqlite3_bind_text(st, 3, c->actor.org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, c->actor.user, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 5, c->own_key, JOURNAL_OWN_KEY_BYTES,
			  SQLITE_STATIC);
	sqlite3_bind_text(st, 6, ctx->entity_kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 7, ctx->entity_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 8, (sqlite3_int64)ctx->version);
	sqlite3_bind_blob(st, 9, payload, (int)n, SQLITE_STATIC);
	sqlite3_bind_blob(st, 10, ctx->response, (int)ctx->response_len,
			  SQLITE_STATIC);
	sqlite3_bind_blob(st, 11, hash, JOURNAL_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 12, next, JOURNAL_HASH_BYTES, SQLITE_STATIC);
	sqlite3_bind_blob(st, 13, salt, JOURNAL_SALT_BYTES, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		rv = IPSNET_EDB;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	ipsnet_free(payload);
	if (rv == 0)
		memcpy(hash, next, JOURNAL_HASH_BYTES);
	return rv;
}

/* Whether an id has the shape of a BSN: nine digits, bare or in the
 * groups people write them in, with spaces, dots, hyphens or slashes
 * between and around them ("123.456.782", "1234 56 782"). No id the
 * server gives has it; one that has came from a caller who typed a
 * client's BSN where its id goes ("ipsnet case show 123456782"). */
static bool bsn_shaped(const char *s)
{
	size_t digits = 0;
	for (; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9')
			digits++;
		else if (*s != ' ' && *s != '.' && *s != '-' && *s != '/' &&
			 *s != '\t')
			return false;
	}
	return digits == 9;
}

/* Whether id has the form of one the server gives (apply.c, new_id): two
 * letters, '-' and 16 hex digits ("cl-0123456789abcdef"). */
static bool server_id_shaped(const char *id)
{
	if (strlen(id) != 19 || id[0] < 'a' || id[0] > 'z' || id[1] < 'a' ||
	    id[1] > 'z' || id[2] != '-')
		return false;
	for (size_t i = 3; i < 19; i++)
		if (!((id[i] >= '0' && id[i] <= '9') ||
		      (id[i] >= 'a' && id[i] <= 'f')))
			return false;
	return true;
}

/* Why the trail does not keep the id a caller gave for an object of kind
 * (kind_len bytes), or NULL when it keeps it. The trail never holds a BSN,
 * name, birth date or note (docs/access.md), not even one typed where an
 * id goes: an id is kept in the form the server gives, as a program's id
 * (the operator's: a-z, 0-9 and '-') or as one of the server's own words;
 * anything else ("Anna de Vries", "jansen", "1980-02-03") is withheld. */
static const char *withheld(const char *kind, size_t kind_len, const char *id)
{
	if (bsn_shaped(id))
		return "withheld-bsn";
	if (server_id_shaped(id) || strcmp(id, "-") == 0 ||
	    strcmp(id, "all") == 0 || strcmp(id, "by-bsn") == 0 ||
	    (kind_len == 7 && memcmp(kind, "program", 7) == 0 &&
	     org_id_valid(id)))
		return NULL;
	return "withheld-text";
}

/* An audit row as the trail keeps it: the object and client it may hold
 * (withheld), and its hash in the chain. */
struct stored_row {
	const struct journal_audit_row *r; /* its other fields */
	const char *client_id;		   /* NULL: none */
	char object[sizeof(((struct journal_audit_row *)0)->object)];
	uint8_t hash[JOURNAL_HASH_BYTES];
};

/* r as it is stored, chained to prev. 0, or IPSNET_ENOMEM when its hash
 * could not be had. */
static int store_row(const struct journal_audit_row *r,
		     const uint8_t prev[JOURNAL_HASH_BYTES],
		     struct stored_row *out)
{
	const char *id = strchr(r->object, ':');
	const char *why = NULL;
	if (id != NULL &&
	    strncmp(r->object, "journal:", 8) != 0) /* a seq, not an id */
		why = withheld(r->object, (size_t)(id - r->object), id + 1);
	if (why != NULL)
		snprintf(out->object, sizeof(out->object), "%.*s:%s",
			 (int)(id - r->object), r->object, why);
	else
		util_strlcpy(out->object, r->object, sizeof(out->object));
	out->r = r;
	out->client_id = r->client_id[0] != '\0' &&
				 withheld("client", 6, r->client_id) == NULL
			     ? r->client_id
			     : NULL;
	return journal_audit_hash(prev, r->time_us, r->org, r->user,
				  out->client_id, r->action, out->object,
				  r->result, r->peer, out->hash) == 0
		   ? 0
		   : IPSNET_ENOMEM;
}

/* Binds a stored row to parameters at + 1 to at + 9 of an INSERT INTO
 * audit (time_us, org, user, client_id, action, object, result, peer,
 * hash); s must outlive the step. */
static void bind_row(sqlite3_stmt *st, int at, const struct stored_row *s)
{
	const struct journal_audit_row *r = s->r;
	sqlite3_bind_int64(st, at + 1, r->time_us);
	sqlite3_bind_text(st, at + 2, r->org, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, at + 3, r->user, -1, SQLITE_STATIC);
	if (s->client_id != NULL)
		sqlite3_bind_text(st, at + 4, s->client_id, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, at + 4);
	sqlite3_bind_text(st, at + 5, r->action, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, at + 6, s->object, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, at + 7, r->result, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, at + 8, r->peer, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, at + 9, s->hash, JOURNAL_HASH_BYTES,
			  SQLITE_STATIC);
}

/* Inserts stored rows (1 or AUDIT_ROWS_A_STATEMENT, each chained to the
 * one before it, the first to audit_tx_hash) with one statement; the last
 * one's hash is then the transaction's head. 0 or IPSNET_EDB. */
static int insert_rows(struct journal *j, const struct stored_row *rows,
		       size_t n)
{
	sqlite3_stmt *st = n == 1 ? j->st_audit : j->st_audit_many;
	int rv = 0;
	for (size_t i = 0; i < n; i++)
		bind_row(st, 9 * (int)i, &rows[i]);
	if (sqlite3_step(st) != SQLITE_DONE)
		rv = IPSNET_EDB;
	else
		memcpy(j->audit_tx_hash, rows[n - 1].hash, JOURNAL_HASH_BYTES);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return rv;
}

/* Writes one audit row with the writer's statement, chained to the last
 * row written (audit_tx_hash). 0, IPSNET_ENOMEM or IPSNET_EDB. */
static int write_audit_row(struct journal *j, const struct journal_audit_row *r)
{
	struct stored_row s;
	if (store_row(r, j->audit_tx_hash, &s) != 0)
		return IPSNET_ENOMEM;
	return insert_rows(j, &s, 1);
}

/* Audit rows written AUDIT_ROWS_A_STATEMENT at a time (a delivery to many
 * subscribers, a page of a catch-up), in order. */
struct row_batch {
	struct stored_row rows[AUDIT_ROWS_A_STATEMENT];
	size_t n;
};

static int batch_add(struct journal *j, struct row_batch *b,
		     const struct journal_audit_row *r)
{
	if (store_row(r, b->n > 0 ? b->rows[b->n - 1].hash : j->audit_tx_hash,
		      &b->rows[b->n]) != 0)
		return IPSNET_ENOMEM;
	if (++b->n < AUDIT_ROWS_A_STATEMENT)
		return 0;
	b->n = 0;
	return insert_rows(j, b->rows, AUDIT_ROWS_A_STATEMENT);
}

/* The rows left, one by one. */
static int batch_end(struct journal *j, struct row_batch *b)
{
	int rv = 0;
	for (size_t i = 0; i < b->n && rv == 0; i++)
		rv = insert_rows(j, &b->rows[i], 1);
	b->n = 0;
	return rv;
}

/* The audit chain's head in a writer transaction: after its BEGIN, rows
 * chain onto the last committed one; after its COMMIT, the last row
 * written is the head. A transaction rolled back leaves the head. */
static void audit_chain_begin(struct journal *j)
{
	memcpy(j->audit_tx_hash, j->audit_hash, JOURNAL_HASH_BYTES);
}

static void audit_chain_committed(struct journal *j)
{
	memcpy(j->audit_hash, j->audit_tx_hash, JOURNAL_HASH_BYTES);
	pthread_mutex_lock(&j->mu);
	memcpy(j->stats.audit_hash, j->audit_hash, JOURNAL_HASH_BYTES);
	pthread_mutex_unlock(&j->mu);
}

/* The audit row of a change as it ended (rv: what apply_one returned). */
static int audit_change(struct journal *j, const struct journal_change *c,
			struct journal_audit_row *row, int rv)
{
	int err = rv == 0 ? 0 : c->err != 0 ? c->err : rv;
	util_strlcpy(row->org, c->actor.org, sizeof(row->org));
	util_strlcpy(row->user, c->actor.user, sizeof(row->user));
	util_strlcpy(row->peer, c->actor.peer, sizeof(row->peer));
	util_strlcpy(row->result,
		     err == 0 ? "OK"
			      : ipsnet_status_name(ipsnet_err_status(err)),
		     sizeof(row->result));
	return write_audit_row(j, row);
}

/* Applies one change inside the open transaction. 0: applied or replayed;
 * a negative refusal; or IPSNET_EDB when the database failed. row gets
 * what the audit trail records of it (action, object, client, time). */
static int apply_one(struct journal *j, struct journal_change *c, uint64_t *seq,
		     uint8_t hash[JOURNAL_HASH_BYTES],
		     struct journal_audit_row *row)
{
	row->time_us = (int64_t)util_now_us();
	int rv = lookup_key(j, c);
	if (rv != 0) {
		apply_audit_request(c->req, c->response, c->response_len, row);
		if (rv < 0) {
			/* Not after a failure that takes the batch: its error
			 * is what process_batch judges and tells, and a read
			 * that went through would take its place. The
			 * batch's refusal names the client
			 * (audit_refused_batch). */
			if (rv != IPSNET_EDB || !is_fatal_db_error(j->wdb))
				apply_audit_client(j->wdb, c->req, row);
			return rv;
		}
		/* The first answer, judged again: what the organisation may
		 * no longer see of the client is not given again. */
		rv = apply_replay_cut(j->wdb, &c->actor, &c->response,
				      &c->response_len);
		if (rv != 0) {
			ipsnet_free(c->response);
			c->response = NULL;
			c->response_len = 0;
			c->replayed = false;
			/* A failed read (IPSNET_EDB) is the batch's to
			 * judge: the transaction may have gone with it. */
			c->err = rv == IPSNET_EDB ? IPSNET_EINTERNAL : rv;
			util_strlcpy(c->message,
				     "the first answer to this change cannot "
				     "be given again (logged)",
				     sizeof(c->message));
			log_error("replayed answer not given",
				  "error=%s seq=%llu", ipsnet_err_name(rv),
				  (unsigned long long)c->seq);
		}
		return rv;
	}

	struct apply_ctx ctx = {
	    .db = j->wdb,
	    .stmts = j->stmts,
	    .actor = &c->actor,
	    .req = c->req,
	    .time_us = (int64_t)util_now_us(),
	    .seq = *seq + 1,
	};
	rv = apply_change(&ctx);
	/* The answer and the events sync makes of it must each fit in one
	 * frame: a change that makes its entity too large for one is
	 * refused, not applied and then not told. */
	if (rv == 0 && j->answer_limit != 0 &&
	    ctx.response_len + ANSWER_MARGIN_BYTES > j->answer_limit) {
		snprintf(ctx.message, sizeof(ctx.message),
			 "with this change the %s would take %zu bytes, more "
			 "than an answer may hold under the server's "
			 "max_frame_bytes of %u; shorten its text, or ask the "
			 "server's operator to raise max_frame_bytes",
			 ctx.entity_kind != NULL ? ctx.entity_kind : "entity",
			 ctx.response_len + ANSWER_MARGIN_BYTES,
			 j->answer_limit);
		rv = IPSNET_EFRAME_TOO_LARGE;
	}
	apply_audit(&ctx, row);
	row->time_us = ctx.time_us;
	if (rv == 0)
		rv = append_entry(j, c, &ctx, *seq + 1, hash);
	if (rv != 0) {
		if (rv == IPSNET_ECONFLICT && ctx.response != NULL) {
			/* The refusal with the entity as it is now. Not kept
			 * under the key: a retry is judged again. */
			c->response = ctx.response;
			c->response_len = ctx.response_len;
		} else {
			ipsnet_free(ctx.response);
		}
		if (rv != IPSNET_EDB) {
			c->err = rv;
			util_strlcpy(c->message,
				     ctx.message[0] != '\0' ? ctx.message
							    : ipsnet_strerror(rv),
				     sizeof(c->message));
			c->current_version = ctx.current_version;
		}
		return rv;
	}
	c->response = ctx.response;
	c->response_len = ctx.response_len;
	c->seq = *seq + 1;
	*seq += 1;
	util_strlcpy(c->narrows_org, ctx.narrows_org, sizeof(c->narrows_org));
	util_strlcpy(c->narrows_client, ctx.narrows_client,
		     sizeof(c->narrows_client));
	return 0;
}

static void refuse_all(struct journal *j, struct journal_change *batch, int err,
		       const char *why)
{
	for (struct journal_change *c = batch; c != NULL; c = c->next) {
		/* A change made before, sent again: "nothing was changed"
		 * would read as "not made", and a client that sent it again
		 * under a new key would make it twice. Before: committed, at
		 * or below the head (a key found in this same batch went with
		 * it). */
		if (c->replayed && c->seq != 0 && c->seq <= j->head_seq)
			snprintf(c->message, sizeof(c->message),
				 "this change was made before (journal seq "
				 "%llu) and is not made again, but its answer "
				 "cannot be given now, as the journal cannot "
				 "be written; send it again later with the "
				 "same idempotency key",
				 (unsigned long long)c->seq);
		else
			util_strlcpy(c->message, why, sizeof(c->message));
		ipsnet_free(c->response);
		c->response = NULL;
		c->response_len = 0;
		c->replayed = false;
		c->seq = 0;
		c->current_version = 0; /* a CONFLICT's, of a batch now gone */
		c->err = err;
	}
}

/* The audit rows of a batch refused as a whole (writes stopped, or the
 * disk failed), in a transaction of their own: NEN 7513 wants refused
 * changes on record too. Best effort: when the disk fails this fails too,
 * and the log says so. */
static void audit_refused_batch(struct journal *j,
				struct journal_change *batch)
{
	int rv = exec(j->wdb, "BEGIN IMMEDIATE");
	audit_chain_begin(j);
	for (struct journal_change *c = batch; c != NULL && rv == 0;
	     c = c->next) {
		struct journal_audit_row row;
		memset(&row, 0, sizeof(row));
		row.time_us = (int64_t)util_now_us();
		apply_audit_request(c->req, NULL, 0, &row);
		apply_audit_client(j->wdb, c->req, &row);
		rv = audit_change(j, c, &row, c->err);
	}
	if (rv == 0)
		rv = exec(j->wdb, "COMMIT");
	if (rv == 0)
		audit_chain_committed(j);
	if (rv != 0) {
		trouble_log(j, &j->atrouble, "audit write failed",
			    "refused_changes_unaudited=yes");
		if (sqlite3_get_autocommit(j->wdb) == 0)
			(void)exec(j->wdb, "ROLLBACK");
	} else {
		trouble_over(&j->atrouble, "audit writes work again");
	}
}

/* The files the writer's connection has open, as their names find them at
 * the open (the WAL exists once the journal has read the database). */
static void note_files(struct journal *j)
{
	struct stat st;
	snprintf(j->wal_path, sizeof(j->wal_path), "%s-wal", j->path);
	if (stat(j->path, &st) == 0) {
		j->db_dev = st.st_dev;
		j->db_ino = st.st_ino;
	}
	if (stat(j->wal_path, &st) == 0) {
		j->wal_dev = st.st_dev;
		j->wal_ino = st.st_ino;
	}
}

/* Whether path no longer finds the file noted as dev and ino (0: not
 * known, never). */
static bool not_the_file(const char *path, dev_t dev, ino_t ino)
{
	struct stat st;
	return ino != 0 && (stat(path, &st) != 0 || st.st_ino != ino ||
			    st.st_dev != dev);
}

/* "database" or "wal" when that file is no longer the one the journal has
 * open: removed, or another put in its place (a backup copied over it by
 * hand while the daemon served); else NULL. Changes committed then would
 * go to a file no name finds, lost at the next start; so writes stop, and
 * the operator restarts ipsnetd (README, Restore). One stat of each a
 * batch. */
static const char *file_replaced(const struct journal *j)
{
	if (not_the_file(j->path, j->db_dev, j->db_ino))
		return "database";
	if (not_the_file(j->wal_path, j->wal_dev, j->wal_ino))
		return "wal";
	return NULL;
}

/* From the next batch on every change is refused UNAVAILABLE with why
 * (writer thread). */
static void stop_writes(struct journal *j, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void stop_writes(struct journal *j, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(j->stopped_why, sizeof(j->stopped_why), fmt, ap);
	va_end(ap);
	j->writes_stopped = true;
	pthread_mutex_lock(&j->mu);
	j->stats.writes_stopped = true;
	pthread_mutex_unlock(&j->mu);
}

static void process_batch(struct journal *j, struct journal_change *batch)
{
	char why[256];
	uint64_t seq = j->head_seq;
	uint8_t hash[JOURNAL_HASH_BYTES];
	bool failed = false, no_memory = false;

	const char *which;
	if (!j->writes_stopped && (which = file_replaced(j)) != NULL) {
		stop_writes(j,
			    "writes are stopped: the journal's %s was removed or "
			    "replaced while ipsnetd served it (ipsnetd must be "
			    "stopped and started again)",
			    strcmp(which, "wal") == 0 ? "WAL" : "database file");
		log_error("database file replaced",
			  "file=%s writes=stopped detail=\"a file moved or "
			  "copied over the database while ipsnetd serves it is "
			  "not served: changes are refused; stop ipsnetd, then "
			  "restore as README says, and start it\"",
			  which);
	}
	if (!j->writes_stopped && atomic_load(&j->sync_failed))
		stop_writes(j, "writes are stopped: the disk failed to write "
			       "the database file in a checkpoint (ipsnetd must "
			       "be started again, which copies the journal into "
			       "the database again)");
	if (j->writes_stopped) {
		refuse_all(j, batch, IPSNET_EUNAVAILABLE, j->stopped_why);
		audit_refused_batch(j, batch);
		return;
	}
	memcpy(hash, j->head_hash, sizeof(hash));
	if (run(j->st_begin) != 0) {
		refuse_all(j, batch, IPSNET_EUNAVAILABLE,
			   db_failure_sentence(j->wdb, why, sizeof(why)));
		trouble_log(j, &j->jtrouble, "journal write failed",
			    "step=begin changes_refused=yes");
		return;
	}
	audit_chain_begin(j);
	for (struct journal_change *c = batch; c != NULL; c = c->next) {
		if (run(j->st_savepoint) != 0) {
			failed = true;
			break;
		}
		struct journal_audit_row row;
		memset(&row, 0, sizeof(row));
		c->narrows_org[0] = '\0';
		int rv = apply_one(j, c, &seq, hash, &row);
		/* SQLite rolls the whole transaction back by itself on some
		 * errors (I/O, out of memory), also under a read whose failure
		 * was taken for the change's alone: then nothing more may be
		 * written in the batch's name (an audit row written now would
		 * commit on its own, chained to rows that are gone). */
		if ((rv == IPSNET_EDB && is_fatal_db_error(j->wdb)) ||
		    sqlite3_get_autocommit(j->wdb) != 0) {
			failed = true;
			break;
		}
		if (rv != 0) {
			if (rv == IPSNET_EDB) {
				/* A statement failed without harming the
				 * transaction: this change alone is refused. */
				log_error("change failed", "error=\"%s\"",
					  sqlite3_errmsg(j->wdb));
				if (c->err == 0) {
					c->err = IPSNET_EINTERNAL;
					util_strlcpy(
					    c->message,
					    "the server could not apply this "
					    "change (logged)",
					    sizeof(c->message));
				}
			}
			if (run(j->st_rollback_to) != 0) {
				failed = true;
				break;
			}
		}
		/* Applied: inside the change's savepoint; refused: after the
		 * rollback to it. Either way in the batch's transaction. */
		int audited = audit_change(j, c, &row, rv);
		if (audited != 0) {
			failed = true;
			no_memory = audited == IPSNET_ENOMEM;
			break;
		}
		if (run(j->st_release) != 0) {
			failed = true;
			break;
		}
	}
	bool at_commit = false;
	if (!failed && run(j->st_commit) != 0) {
		failed = true;
		/* A full disk stops the frames before the one that commits;
		 * anything else may come after the sync (SQLite updates its
		 * WAL index after it, and can run out of memory there). */
		at_commit = (sqlite3_errcode(j->wdb) & 0xff) != SQLITE_FULL;
	}
	if (failed) {
		if (no_memory)
			/* An audit row's hash: SQLite has no word of it. */
			util_strlcpy(why,
				     "the server is out of memory; nothing was "
				     "changed, try again later",
				     sizeof(why));
		else if (at_commit)
			/* The WAL frames may be on the disk already: after a
			 * crash, recovery could bring this batch back. Only a
			 * resend with the same key tells the client which. */
			snprintf(why, sizeof(why),
				 "%s while saving: the change may or may not "
				 "have been saved; send it again with the same "
				 "idempotency key and the answer will say",
				 db_failure_cause(j->wdb));
		else
			db_failure_sentence(j->wdb, why, sizeof(why));
		if (!no_memory)
			trouble_log(j, &j->jtrouble, "journal write failed",
				    "changes_refused=yes");
		else if (trouble_log_now(&j->jtrouble))
			log_error("journal write failed",
				  "changes_refused=yes cause=\"out of memory\" "
				  "failures=%llu",
				  (unsigned long long)j->jtrouble.failures);
		if (sqlite3_get_autocommit(j->wdb) == 0)
			(void)exec(j->wdb, "ROLLBACK");
		refuse_all(j, batch, IPSNET_EUNAVAILABLE, why);
		audit_refused_batch(j, batch);
		return;
	}
	trouble_over(&j->jtrouble, "journal writes work again");
	audit_chain_committed(j);
	j->head_seq = seq;
	memcpy(j->head_hash, hash, sizeof(hash));
	for (struct journal_change *c = batch; c != NULL; c = c->next) {
		if (c->err != 0 || c->replayed || c->narrows_org[0] == '\0')
			continue;
		struct narrowing *n =
		    &j->narrowings[j->n_narrowings++ % NARROWINGS_KEPT];
		n->seq = j->narrows_seq = c->seq;
		util_strlcpy(n->org, c->narrows_org, sizeof(n->org));
		util_strlcpy(n->client, c->narrows_client, sizeof(n->client));
	}
}

/* A read judged before a change that narrowed what an organisation may
 * see of a client its rows name: what it would send may no longer be
 * allowed. At most one comparison unless such a change came since. */
static bool judged_before_narrowing(const struct journal *j,
				    const struct journal_audit *a)
{
	if (a->judged_at == 0 || j->narrows_seq <= a->judged_at)
		return false;
	uint64_t kept = j->n_narrowings < NARROWINGS_KEPT ? j->n_narrowings
							  : NARROWINGS_KEPT;
	for (uint64_t k = 1; k <= kept; k++) {
		const struct narrowing *n =
		    &j->narrowings[(j->n_narrowings - k) % NARROWINGS_KEPT];
		if (n->seq <= a->judged_at)
			return false;
		for (size_t i = 0; i < a->n; i++)
			if (strcmp(a->rows[i].org, n->org) == 0 &&
			    (n->client[0] == '\0' ||
			     strcmp(a->rows[i].client_id, n->client) == 0))
				return true;
	}
	/* Those not kept any more may have come after it too. */
	return j->n_narrowings > NARROWINGS_KEPT;
}

const char *journal_audit_cause(const struct journal_audit *ja, char *buf,
				size_t cap)
{
	if (ja->cause[0] == '\0')
		return "";
	snprintf(buf, cap, " (%s)", ja->cause);
	return buf;
}

/* Commits the audit rows of reads queued together in one transaction. */
static void process_audits(struct journal *j, struct journal_audit *batch)
{
	int err = 0;
	/* A copy: db_failure_cause may give SQLite's message, which the
	 * rollback below can free. */
	char cause[sizeof(((struct journal_audit *)0)->cause)] = "";
	if (exec(j->wdb, "BEGIN IMMEDIATE") != 0) {
		err = IPSNET_EUNAVAILABLE;
		goto out;
	}
	audit_chain_begin(j);
	struct row_batch rows;
	rows.n = 0;
	for (struct journal_audit *a = batch; a != NULL && err == 0;
	     a = a->next) {
		a->err = judged_before_narrowing(j, a) ? IPSNET_ECONFLICT : 0;
		if (a->err != 0)
			continue; /* no row */
		if (a->change != NULL && a->n == 1)
			apply_audit_client(j->wdb, a->change, &a->rows[0]);
		for (size_t i = 0; i < a->n && err == 0; i++)
			if (batch_add(j, &rows, &a->rows[i]) != 0)
				err = IPSNET_EUNAVAILABLE;
	}
	if (err == 0 && batch_end(j, &rows) != 0)
		err = IPSNET_EUNAVAILABLE;
	if (err == 0 && exec(j->wdb, "COMMIT") != 0)
		err = IPSNET_EUNAVAILABLE;
	if (err == 0)
		audit_chain_committed(j);
out:
	/* Before the rollback, which has an error code of its own. A failed
	 * row without an error code ran out of memory for its hash. */
	if (err != 0) {
		util_strlcpy(cause,
			     sqlite3_errcode(j->wdb) != SQLITE_OK
				 ? db_failure_cause(j->wdb)
				 : "the server is out of memory",
			     sizeof(cause));
		trouble_log(j, &j->atrouble, "audit write failed",
			    "reads_refused=yes");
	} else
		trouble_over(&j->atrouble, "audit writes work again");
	if (err != 0 && sqlite3_get_autocommit(j->wdb) == 0)
		(void)exec(j->wdb, "ROLLBACK");
	for (struct journal_audit *a = batch; a != NULL; a = a->next)
		if (a->err == 0) {
			a->err = err;
			util_strlcpy(a->cause, cause, sizeof(a->cause));
		}
}

static void writer_audits(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	struct journal_audit *audits = j->aq_head;
	j->aq_head = j->aq_tail = NULL;
	pthread_mutex_unlock(&j->mu);
	if (audits == NULL)
		return;
	struct journal_audit *last = audits;
	while (last->next != NULL)
		last = last->next;
	process_audits(j, audits);
	pthread_mutex_lock(&j->mu);
	QUEUE_APPEND(j->adone_head, j->adone_tail, audits, last);
	pthread_mutex_unlock(&j->mu);
	uv_async_send(&j->async);
}

/* A checkpoint failed on db. One whose sync of the database file failed
 * may have lost pages: SQLite syncs the database only at the end of a pass
 * that copies the whole WAL, so the pages an earlier, partial pass copied
 * were written without a sync, and the kernel, once it failed to write
 * them, says so once (here) and calls them clean. The next pass would
 * sync without error and let the WAL start over without them: committed
 * changes gone from the disk. So no checkpoint runs again in this process,
 * writes stop (reads and their audit rows go on, into the WAL), and no
 * connection checkpoints as it closes: the WAL stays, and the next start's
 * recovery reads it from its first frame and copies all of it again (as
 * PostgreSQL replays from its last good checkpoint after a failed
 * fsync). */
static void checkpoint_failed(struct journal *j, sqlite3 *db, const char *by)
{
	int code = sqlite3_extended_errcode(db);
	/* A pass that fails (a full disk) fails again at each 1,000 frames
	 * while it lasts: counted, and logged as the writes' failures are,
	 * when it begins and then once a minute (checkpoint_worked). */
	pthread_mutex_lock(&j->mu);
	j->stats.checkpoint_failures++;
	bool log_now = trouble_log_now(&j->ctrouble);
	uint64_t failures = j->ctrouble.failures;
	pthread_mutex_unlock(&j->mu);
	if (code != SQLITE_IOERR_FSYNC && code != SQLITE_IOERR_DIR_FSYNC) {
		if (log_now)
			log_warn("checkpoint failed",
				 "error=\"%s\" by=%s failures=%llu "
				 "detail=\"logged when it begins and then once "
				 "a minute while it goes on; the WAL grows "
				 "until a checkpoint works\"",
				 sqlite3_errmsg(db), by,
				 (unsigned long long)failures);
		return;
	}
	if (!atomic_exchange(&j->sync_failed, true))
		log_error("checkpoint sync failed",
			  "error=\"%s\" by=%s writes=stopped detail=\"the "
			  "disk did not take the database file's pages; no "
			  "checkpoint runs and no change is taken until "
			  "ipsnetd starts again, which copies the WAL into the "
			  "database again from its start\"",
			  sqlite3_errmsg(db), by);
}

/* A checkpoint pass went through: the end of a run of failed ones, if
 * there was one, is logged once, with how many failed and for how long. */
static void checkpoint_worked(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	struct trouble run = j->ctrouble;
	memset(&j->ctrouble, 0, sizeof(j->ctrouble));
	pthread_mutex_unlock(&j->mu);
	trouble_over(&run, "checkpoints work again");
}

/* Closes a connection of the journal: after a failed checkpoint sync
 * without the checkpoint SQLite makes at the last close (which would let
 * the WAL go: checkpoint_failed). */
static void close_db(struct journal *j, sqlite3 *db)
{
	if (db != NULL && atomic_load(&j->sync_failed))
		sqlite3_db_config(db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1,
				  (int *)NULL);
	sqlite3_close(db);
}

/* SQLite starts the WAL over from its beginning (overwriting the file in
 * place) only when a write transaction begins with every frame copied into
 * the database. The checkpointer's pass never gets there while changes keep
 * coming: what was committed during the pass is left, the WAL grows without
 * end, and every commit's fdatasync must also write the file's new size
 * through the file system's journal (measured at one connection: 250 us a
 * commit instead of 150 us). So after a pass the writer copies the few
 * frames left itself, between two batches, after the answers of the last
 * one went to the loop, and only when no change waits (under load the
 * pass would hold up the next batch: p99 at 64 connections 4.7 -> 6.1 ms):
 * its next BEGIN then starts the WAL over. */
static void writer_checkpoint_tail(struct journal *j)
{
	pthread_mutex_lock(&j->mu);
	bool wanted = j->checkpoint_tail && j->wq_head == NULL;
	if (wanted)
		j->checkpoint_tail = false;
	pthread_mutex_unlock(&j->mu);
	if (!wanted || atomic_load(&j->sync_failed))
		return;
	int wal = 0, copied = 0;
	int rc = sqlite3_wal_checkpoint_v2(j->wdb, NULL,
					   SQLITE_CHECKPOINT_PASSIVE, &wal,
					   &copied);
	/* BUSY: the checkpointer is in a pass again, and will ask again. */
	if (rc == SQLITE_OK)
		checkpoint_worked(j);
	else if (rc != SQLITE_BUSY)
		checkpoint_failed(j, j->wdb, "writer");
}

/* Waking a thread asleep on a condition variable costs this virtual
 * machine about 30 us (the sleeping CPU must be woken). At one change in
 * flight the next change comes about 100 us after a batch's answers went
 * out, so after a batch the writer looks for it for up to WRITER_SPIN_US
 * before it sleeps, yielding its CPU on every turn to the loop or anyone
 * else who wants it. Under load the queue is seldom empty after a batch,
 * and then it does not look at all. It looks only when the last change
 * came that soon after its batch (last_wait_us): changes seconds apart
 * gain nothing from it, and its polling would share the CPUs with what a
 * commit sets going (the sync fan-out). */
static void writer_spin(struct journal *j, uint64_t last_wait_us)
{
	if (last_wait_us > WRITER_SPIN_US)
		return;
	uint64_t until = util_mono_us() + WRITER_SPIN_US;
	while (!atomic_load_explicit(&j->work, memory_order_acquire) &&
	       util_mono_us() < until)
		sched_yield();
}

static void *writer_main(void *arg)
{
	struct journal *j = arg;
	pthread_setname_np(pthread_self(), "ipsnetd-writer");
	uint64_t last_wait_us = 0; /* from a batch's end to the next work */
	for (;;) {
		writer_checkpoint_tail(j);
		uint64_t idle_since = util_mono_us();
		writer_spin(j, last_wait_us);
		pthread_mutex_lock(&j->mu);
		while (j->wq_head == NULL && j->aq_head == NULL &&
		       j->baq_head == NULL && !j->stopping)
			pthread_cond_wait(&j->writer_cv, &j->mu);
		last_wait_us = util_mono_us() - idle_since;
		struct journal_change *batch = j->wq_head;
		bool audits = j->aq_head != NULL;
		/* A catch-up's rows go when no change waits, or once they
		 * have waited BULK_AUDIT_WAIT_US. */
		struct journal_audit *bulk = NULL, *bulk_last = NULL;
		if (j->baq_head != NULL &&
		    (batch == NULL ||
		     util_mono_us() - j->baq_since_us >= BULK_AUDIT_WAIT_US)) {
			bulk = j->baq_head;
			bulk_last = j->baq_tail;
			j->baq_head = j->baq_tail = NULL;
		}
		j->wq_head = j->wq_tail = NULL;
		/* Rows left waiting are work: no polling for it after the
		 * batch. */
		atomic_store_explicit(&j->work, j->baq_head != NULL,
				      memory_order_relaxed);
		pthread_mutex_unlock(&j->mu);
		if (audits)
			writer_audits(j);
		if (bulk != NULL) {
			process_audits(j, bulk);
			pthread_mutex_lock(&j->mu);
			QUEUE_APPEND(j->adone_head, j->adone_tail, bulk,
				     bulk_last);
			pthread_mutex_unlock(&j->mu);
			uv_async_send(&j->async);
		}
		if (batch == NULL) {
			if (audits || bulk != NULL)
				continue;
			break;
		}

		uint64_t n = 0;
		struct journal_change *last = batch;
		for (struct journal_change *c = batch; c != NULL; c = c->next) {
			n++;
			last = c;
		}
		process_batch(j, batch);
		uint64_t committed_us = util_mono_us();

		pthread_mutex_lock(&j->mu);
		if (j->head_seq != j->stats.head_seq &&
		    j->unnotified_commit_us == 0)
			j->unnotified_commit_us = committed_us;
		QUEUE_APPEND(j->done_head, j->done_tail, batch, last);
		j->stats.batches++;
		j->stats.changes += n;
		j->stats.head_seq = j->head_seq;
		memcpy(j->stats.head_hash, j->head_hash, JOURNAL_HASH_BYTES);
		pthread_mutex_unlock(&j->mu);
		uv_async_send(&j->async);
		served_write(j); /* after the answers are on their way */
	}
	return NULL;
}

/* ---- the readers ------------------------------------------------------- */

/* vfs: a VFS's name, or NULL for the default. */
static int open_db(const char *path, int flags, const char *vfs, sqlite3 **out,
		   char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	if (sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, vfs) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "cannot open the database '%s': %s",
			 path, db != NULL ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return IPSNET_EDB;
	}
	sqlite3_busy_timeout(db, BUSY_TIMEOUT_MS);
	sqlite3_extended_result_codes(db, 0);
	*out = db;
	return 0;
}

/* After each commit, in place of SQLite's automatic checkpoint inside the
 * writer's COMMIT (a fifth of its time under load): asks the checkpoint
 * thread, once per CHECKPOINT_FRAMES new frames. */
static int wal_hook(void *arg, sqlite3 *db, const char *name, int frames)
{
	struct journal *j = arg;
	(void)db;
	(void)name;
	if (frames < j->checkpoint_asked_at)
		j->checkpoint_asked_at = 0; /* the WAL started over */
	if (frames < CHECKPOINT_FRAMES ||
	    frames - j->checkpoint_asked_at < CHECKPOINT_FRAMES)
		return SQLITE_OK;
	j->checkpoint_asked_at = frames;
	pthread_mutex_lock(&j->mu);
	j->checkpoint_wanted = true;
	pthread_mutex_unlock(&j->mu);
	pthread_cond_signal(&j->checkpoint_cv);
	return SQLITE_OK;
}

/* The checkpointer's connection, in j->cdb: 0, or -1 (logged) when it
 * cannot be had, and then SQLite keeps checkpointing inside the writer's
 * COMMIT. Before the thread starts: a checkpointer without a connection
 * would leave the WAL to grow until the disk is full. */
static int checkpointer_open(struct journal *j)
{
	char err[256];
	if (open_db(j->path, SQLITE_OPEN_READWRITE, NULL, &j->cdb, err,
		    sizeof(err)) != 0) {
		log_error("checkpointer cannot open the database; the writer "
			  "checkpoints in its commits",
			  "error=\"%s\"", err);
		return -1;
	}
	/* A connection learns that the database is in WAL mode when it first
	 * reads it; until then a checkpoint on it does nothing (and says
	 * SQLITE_OK, with -1 frames). */
	if (exec(j->cdb, "SELECT count(*) FROM sqlite_schema") != 0) {
		log_error("checkpointer cannot read the database; the writer "
			  "checkpoints in its commits",
			  "error=\"%s\"", sqlite3_errmsg(j->cdb));
		sqlite3_close(j->cdb);
		j->cdb = NULL;
		return -1;
	}
	return 0;
}

/* Copies the WAL into the database file on its own connection, beside the
 * writer (PASSIVE: never waits for a reader or the writer). */
static void *checkpoint_main(void *arg)
{
	struct journal *j = arg;
	pthread_setname_np(pthread_self(), "ipsnetd-ckpt");
	sqlite3 *db = j->cdb;
	for (;;) {
		pthread_mutex_lock(&j->mu);
		while (!j->checkpoint_wanted && !j->stopping)
			pthread_cond_wait(&j->checkpoint_cv, &j->mu);
		bool stop = j->stopping;
		j->checkpoint_wanted = false;
		pthread_mutex_unlock(&j->mu);
		if (stop)
			break;
		if (atomic_load(&j->sync_failed))
			continue;
		int wal = 0, copied = 0;
		int rc = sqlite3_wal_checkpoint_v2(
		    db, NULL, SQLITE_CHECKPOINT_PASSIVE, &wal, &copied);
		if (rc != SQLITE_OK) {
			/* BUSY: the writer is copying the tail (or another
			 * process checkpoints); the next pass will do. */
			if (rc != SQLITE_BUSY)
				checkpoint_failed(j, db, "checkpointer");
			continue;
		}
		checkpoint_worked(j);
		/* What the writer committed during the pass is left for the
		 * writer's own short pass (writer_checkpoint_tail). */
		pthread_mutex_lock(&j->mu);
		if (wal >= 0)
			j->stats.checkpoints++;
		j->checkpoint_tail = true;
		pthread_mutex_unlock(&j->mu);
	}
	close_db(j, db);
	j->cdb = NULL;
	return NULL;
}

static void reader_loop(struct journal *j, bool bulk)
{
	struct journal_read **head = bulk ? &j->bq_head : &j->rq_head;
	struct journal_read **tail = bulk ? &j->bq_tail : &j->rq_tail;
	pthread_cond_t *cv = bulk ? &j->bulk_cv : &j->reader_cv;
	sqlite3 *db = NULL;
	char err[256];
	int open_rv =
	    open_db(j->path, SQLITE_OPEN_READONLY, NULL, &db, err, sizeof(err));
	if (open_rv != 0)
		log_error("reader cannot open the database", "error=\"%s\"",
			  err);
	for (;;) {
		pthread_mutex_lock(&j->mu);
		while (*head == NULL && !j->stopping)
			pthread_cond_wait(cv, &j->mu);
		struct journal_read *r = *head;
		if (r != NULL) {
			*head = r->next;
			if (*head == NULL)
				*tail = NULL;
		}
		pthread_mutex_unlock(&j->mu);
		if (r == NULL)
			break;
		r->next = NULL;
		/* One that could not open (no file descriptor, no memory
		 * then) tries again for each read: else it would refuse every
		 * read it takes, half of them, for the daemon's whole life. */
		if (open_rv != 0 &&
		    (open_rv = open_db(j->path, SQLITE_OPEN_READONLY, NULL, &db,
				       err, sizeof(err))) == 0)
			log_info("reader opened the database", "bulk=%s",
				 bulk ? "yes" : "no");
		r->err = open_rv != 0 ? IPSNET_EUNAVAILABLE : r->fn(db, r);
		pthread_mutex_lock(&j->mu);
		QUEUE_APPEND(j->rdone_head, j->rdone_tail, r, r);
		pthread_mutex_unlock(&j->mu);
		uv_async_send(&j->async);
	}
	close_db(j, db);
}

static void *reader_main(void *arg)
{
	pthread_setname_np(pthread_self(), "ipsnetd-read");
	reader_loop(arg, false);
	return NULL;
}

/* A bulk reader runs nicer than the daemon (Linux: nice is a thread's),
 * so that a subscriber's catch-up takes the CPU the loop, the writer and
 * the other reads leave, and does not take it from them. */
static void *bulk_reader_main(void *arg)
{
	pthread_setname_np(pthread_self(), "ipsnetd-bulk");
	errno = 0;
	int nice = getpriority(PRIO_PROCESS, (id_t)gettid());
	if (errno == 0) {
		nice = nice + BULK_NICE > 19 ? 19 : nice + BULK_NICE;
		if (setpriority(PRIO_PROCESS, (id_t)gettid(), nice) != 0)
			log_warn("bulk reader keeps the daemon's priority",
				 "error=\"%s\"", strerror(errno));
	}
	reader_loop(arg, true);
	return NULL;
}

/* ---- the loop side ----------------------------------------------------- */

static void async_cb(uv_async_t *a)
{
	struct journal *j = container_of(a, struct journal, async);
	pthread_mutex_lock(&j->mu);
	struct journal_change *done = j->done_head;
	struct journal_read *rdone = j->rdone_head;
	struct journal_audit *adone = j->adone_head;
	uint64_t head = j->stats.head_seq;
	uint8_t head_hash[JOURNAL_HASH_BYTES];
	memcpy(head_hash, j->stats.head_hash, sizeof(head_hash));
	uint64_t commit_us = j->unnotified_commit_us;
	j->unnotified_commit_us = 0;
	j->done_head = j->done_tail = NULL;
	j->rdone_head = j->rdone_tail = NULL;
	j->adone_head = j->adone_tail = NULL;
	pthread_mutex_unlock(&j->mu);

	if (head != j->notified_head) {
		j->notified_head = head;
		if (j->on_commit != NULL)
			j->on_commit(j->on_commit_arg, head, head_hash,
				     commit_us);
	}

	/* Audit rows first: the writer commits the ones it takes with a batch
	 * before the batch, so a read (a sync delivery) whose rows committed
	 * before a change goes out before that change is answered, also when
	 * the loop hears of both at once. One committed after a change was
	 * judged after it (journal_audit refuses it otherwise). */
	while (adone != NULL) {
		struct journal_audit *next = adone->next;
		adone->next = NULL;
		adone->done(adone);
		adone = next;
	}
	bool changes_done = done != NULL;
	while (done != NULL) {
		struct journal_change *next = done->next;
		done->next = NULL;
		j->in_writer--;
		done->done(done);
		done = next;
	}
	if (j->in_writer == 0)
		uv_idle_stop(&j->spin);
	if (changes_done)
		j->answered_at = util_mono_us();
	while (rdone != NULL) {
		struct journal_read *next = rdone->next;
		rdone->next = NULL;
		rdone->done(rdone);
		rdone = next;
	}
}

/* While one or two changes are in the writer (few clients, each waiting
 * for its answer) the loop polls for the writer's wake-up instead of
 * sleeping in epoll_wait: waking a sleeping thread costs this virtual
 * machine about 30 us, on the way of every answer. An active idle handle
 * is how libuv polls without sleeping; this callback only ends it when the
 * writer takes long (a slow disk) or many changes are in it (under load
 * the loop has work enough and never sleeps anyway). Changes that come
 * apart (more than LOOP_SPIN_GAP_US after the last answer) gain nothing
 * and are not polled for: measured with 1,000 live subscribers, the
 * polling shared the two CPUs with the fan-out that a commit sets going
 * (commit-to-send p50 +0.8 ms). */
static void loop_spin_cb(uv_idle_t *h)
{
	struct journal *j = container_of(h, struct journal, spin);
	if (j->in_writer == 0 || j->in_writer > LOOP_SPIN_MAX_CHANGES ||
	    util_mono_us() - j->submitted_at > LOOP_SPIN_US)
		uv_idle_stop(h);
	else
		sched_yield(); /* the writer or a client may want this CPU */
}

void journal_submit(struct journal *j, struct journal_change *c)
{
	uint64_t now = util_mono_us();
	j->in_writer++;
	j->submitted_at = now;
	if (j->in_writer <= LOOP_SPIN_MAX_CHANGES &&
	    now - j->answered_at <= LOOP_SPIN_GAP_US)
		uv_idle_start(&j->spin, loop_spin_cb);
	c->next = NULL;
	c->err = 0;
	c->message[0] = '\0';
	c->response = NULL;
	c->response_len = 0;
	c->replayed = false;
	c->seq = 0;
	pthread_mutex_lock(&j->mu);
	QUEUE_APPEND(j->wq_head, j->wq_tail, c, c);
	atomic_store_explicit(&j->work, true, memory_order_release);
	pthread_mutex_unlock(&j->mu);
	/* After unlocking: the writer wakes to a free lock. */
	pthread_cond_signal(&j->writer_cv);
}

void journal_set_answer_limit(struct journal *j, uint32_t max_frame_bytes)
{
	pthread_mutex_lock(&j->mu);
	j->answer_limit = max_frame_bytes;
	pthread_mutex_unlock(&j->mu);
}

/* Queues r on the readers' queue head..tail and wakes one of them. */
static void queue_read(struct journal *j, struct journal_read *r,
		       struct journal_read **head, struct journal_read **tail,
		       pthread_cond_t *cv)
{
	r->next = NULL;
	r->err = 0;
	pthread_mutex_lock(&j->mu);
	QUEUE_APPEND(*head, *tail, r, r);
	pthread_cond_signal(cv);
	pthread_mutex_unlock(&j->mu);
}

void journal_read(struct journal *j, struct journal_read *r)
{
	queue_read(j, r, &j->rq_head, &j->rq_tail, &j->reader_cv);
}

void journal_read_bulk(struct journal *j, struct journal_read *r)
{
	if (j->n_bulk_readers == 0)
		journal_read(j, r);
	else
		queue_read(j, r, &j->bq_head, &j->bq_tail, &j->bulk_cv);
}

/* Queues a on the writer's audit queue (bulk: the one that waits while
 * changes wait) and wakes the writer. */
static void queue_audit(struct journal *j, struct journal_audit *a, bool bulk)
{
	a->next = NULL;
	a->err = 0;
	pthread_mutex_lock(&j->mu);
	if (!bulk) {
		QUEUE_APPEND(j->aq_head, j->aq_tail, a, a);
	} else {
		if (j->baq_head == NULL)
			j->baq_since_us = util_mono_us();
		QUEUE_APPEND(j->baq_head, j->baq_tail, a, a);
	}
	atomic_store_explicit(&j->work, true, memory_order_release);
	pthread_cond_signal(&j->writer_cv);
	pthread_mutex_unlock(&j->mu);
}

void journal_audit(struct journal *j, struct journal_audit *a)
{
	queue_audit(j, a, false);
}

void journal_audit_bulk(struct journal *j, struct journal_audit *a)
{
	queue_audit(j, a, true);
}

void journal_stats(struct journal *j, struct journal_stats *out)
{
	pthread_mutex_lock(&j->mu);
	*out = j->stats;
	pthread_mutex_unlock(&j->mu);
}

static int prepare_writer(struct journal *j, char *err, size_t errlen)
{
	/* AUDIT_ROWS_A_STATEMENT rows of nine parameters each, numbered in
	 * order (bind_row). */
	static const char row_params[] = "(?,?,?,?,?,?,?,?,?)";
	char audit_many_sql[160 + AUDIT_ROWS_A_STATEMENT * sizeof(row_params)];
	size_t len = (size_t)snprintf(
	    audit_many_sql, sizeof(audit_many_sql),
	    "INSERT INTO audit (time_us, org, user, client_id, action, "
	    "object, result, peer, hash) VALUES ");
	for (int i = 0; i < AUDIT_ROWS_A_STATEMENT; i++)
		len += (size_t)snprintf(audit_many_sql + len,
					sizeof(audit_many_sql) - len, "%s%s",
					i > 0 ? "," : "", row_params);
	const struct {
		const char *sql;
		sqlite3_stmt **st;
	} kept[] = {
	    {"SELECT org, response, seq FROM journal WHERE idem_key = ?1",
	     &j->st_lookup},
	    {"INSERT INTO journal (seq, time_us, org, user, idem_key, "
	     "entity_kind, entity_id, version, payload, response, prev_hash, "
	     "hash, salt) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, "
	     "?11, ?12, ?13)",
	     &j->st_append},
	    {"INSERT INTO audit (time_us, org, user, client_id, action, "
	     "object, result, peer, hash) "
	     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
	     &j->st_audit},
	    {audit_many_sql, &j->st_audit_many},
	    {"SAVEPOINT change", &j->st_savepoint},
	    {"RELEASE change", &j->st_release},
	    {"ROLLBACK TO change", &j->st_rollback_to},
	    {"BEGIN IMMEDIATE", &j->st_begin},
	    {"COMMIT", &j->st_commit},
	};
	for (size_t i = 0; i < ARRAY_SIZE(kept); i++) {
		if (sqlite3_prepare_v3(j->wdb, kept[i].sql, -1,
				       SQLITE_PREPARE_PERSISTENT, kept[i].st,
				       NULL) != SQLITE_OK) {
			snprintf(err, errlen,
				 "the database '%s' has no journal: run "
				 "'ipsnetd init' (%s)",
				 j->path, sqlite3_errmsg(j->wdb));
			return IPSNET_EDB;
		}
	}
	return 0;
}

/* Finalizes what prepare_writer (and apply) kept, then closes the writer's
 * connection. */
static void close_writer_db(struct journal *j)
{
	sqlite3_stmt *kept[] = {
	    j->st_lookup,      j->st_append,	j->st_audit,
	    j->st_audit_many,  j->st_savepoint, j->st_release,
	    j->st_rollback_to, j->st_begin,	j->st_commit};
	for (size_t i = 0; i < ARRAY_SIZE(kept); i++)
		sqlite3_finalize(kept[i]);
	apply_stmts_free(j->stmts);
	close_db(j, j->wdb);
	j->wdb = NULL;
	walbuf_free(j->walbuf);
	j->walbuf = NULL;
	if (j->served_fd >= 0)
		close(j->served_fd);
}

/* Writes the head into DATABASE.served, when it moved. No fsync: after a
 * crash the file may be behind the journal, never ahead of it (it is
 * written after the commit). */
static void served_write(struct journal *j)
{
	char buf[32];
	if (j->served_fd < 0 || j->head_seq == j->served_seq)
		return;
	int n = snprintf(buf, sizeof(buf), "%020llu\n",
			 (unsigned long long)j->head_seq);
	if (pwrite(j->served_fd, buf, (size_t)n, 0) == n)
		j->served_seq = j->head_seq;
}

/* DATABASE.served of database. */
static void served_path(char out[CONFIG_MAX_PATH + 8], const char *database)
{
	snprintf(out, CONFIG_MAX_PATH + 8, "%s.served", database);
}

/* The head in an open DATABASE.served: 20 digits and a new line. */
static bool served_parse(int fd, uint64_t *served)
{
	char buf[32];
	unsigned long long v;
	if (pread(fd, buf, 21, 0) != 21 || buf[20] != '\n' ||
	    strspn(buf, "0123456789") != 20)
		return false;
	buf[20] = '\0';
	if (sscanf(buf, "%20llu", &v) != 1)
		return false;
	*served = v;
	return true;
}

bool journal_served_seq(const char *database, uint64_t *served)
{
	char path[CONFIG_MAX_PATH + 8];
	served_path(path, database);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return false;
	bool ok = served_parse(fd, served);
	close(fd);
	return ok;
}

/* DATABASE.served holds the head this database last had under a daemon.
 * One above the head now is a journal that went back (a backup copied
 * back, entries after its head gone): said at start, for the operator and
 * the security officer. Best effort: without the file, nothing is said. */
static void served_open(struct journal *j)
{
	char path[CONFIG_MAX_PATH + 8];
	served_path(path, j->path);
	j->served_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (j->served_fd < 0) {
		/* None made in a read-only folder: nothing to say. One that
		 * is there but not ours (a serve run as root made it) would
		 * keep the warning from ever coming: said. */
		int why = errno;
		if (why != ENOENT && why != EROFS && access(path, F_OK) == 0) {
			char q[2 * CONFIG_MAX_PATH];
			log_warn("cannot keep the journal head",
				 "file=%s reason=\"%s\" detail=\"a journal "
				 "head that went back (a restore) will not be "
				 "said at start; give the file to the user "
				 "ipsnetd runs as\"",
				 log_quote(q, sizeof(q), path), strerror(why));
		}
		return;
	}
	uint64_t served;
	if (served_parse(j->served_fd, &served) && served > j->head_seq)
		log_warn("journal head went back",
			 "served_seq=%llu head_seq=%llu "
			 "hint=\"restored from a backup? entries "
			 "after head_seq are gone\"",
			 (unsigned long long)served,
			 (unsigned long long)j->head_seq);
	j->served_seq = UINT64_MAX;
	served_write(j);
}

static int load_head(struct journal *j, char *err, size_t errlen)
{
	struct journal_verify_report r;
	uint64_t t0 = util_mono_us();
	if (journal_check_chain(j->wdb, NULL, &r) != 0) {
		snprintf(err, errlen, "cannot read the journal: %s",
			 sqlite3_errmsg(j->wdb));
		return IPSNET_EDB;
	}
	j->sent_keys = r.sent_keys > 0;
	if (r.first_bad_seq != 0 || r.problem[0] != '\0') {
		j->writes_stopped = true;
		snprintf(j->stopped_why, sizeof(j->stopped_why),
			 "writes are stopped: the journal's hash chain is "
			 "broken at seq %llu (run 'ipsnetd verify')",
			 (unsigned long long)r.first_bad_seq);
		log_error("journal chain broken", "seq=%llu problem=\"%s\" "
			  "writes=stopped",
			  (unsigned long long)r.first_bad_seq, r.problem);
		j->stats.writes_stopped = true;
		j->stats.broken_seq = r.first_bad_seq;
	}
	/* The head is the last entry as stored. */
	sqlite3_stmt *st;
	if (sqlite3_prepare_v2(j->wdb,
			       "SELECT seq, hash FROM journal ORDER BY seq "
			       "DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot read the journal's head: %s",
			 sqlite3_errmsg(j->wdb));
		return IPSNET_EDB;
	}
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_bytes(st, 1) == JOURNAL_HASH_BYTES) {
		j->head_seq = (uint64_t)sqlite3_column_int64(st, 0);
		memcpy(j->head_hash, sqlite3_column_blob(st, 1),
		       JOURNAL_HASH_BYTES);
	}
	sqlite3_finalize(st);
	/* The audit chain goes on from its last row (rows from before the
	 * chain, schema 6, have no hash). */
	if (sqlite3_prepare_v2(j->wdb,
			       "SELECT hash FROM audit WHERE hash IS NOT NULL "
			       "ORDER BY id DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot read the audit trail: %s",
			 sqlite3_errmsg(j->wdb));
		return IPSNET_EDB;
	}
	if (sqlite3_step(st) == SQLITE_ROW &&
	    sqlite3_column_bytes(st, 0) == JOURNAL_HASH_BYTES)
		memcpy(j->audit_hash, sqlite3_column_blob(st, 0),
		       JOURNAL_HASH_BYTES);
	sqlite3_finalize(st);
	memcpy(j->stats.audit_hash, j->audit_hash, JOURNAL_HASH_BYTES);
	j->stats.head_seq = j->head_seq;
	j->notified_head = j->head_seq;
	memcpy(j->stats.head_hash, j->head_hash, JOURNAL_HASH_BYTES);
	log_info("journal open", "entries=%llu head_seq=%llu check_ms=%llu",
		 (unsigned long long)r.entries,
		 (unsigned long long)j->head_seq,
		 (unsigned long long)((util_mono_us() - t0) / 1000));
	return 0;
}

int journal_open(struct journal **out, uv_loop_t *loop, const char *path,
		 char *err, size_t errlen)
{
	int rv;
	struct journal *j = ipsnet_calloc(1, sizeof(*j));
	if (j == NULL) {
		snprintf(err, errlen, "out of memory");
		return IPSNET_ENOMEM;
	}
	j->loop = loop;
	j->served_fd = -1;
	util_strlcpy(j->path, path, sizeof(j->path));
	/* The writer syncs every commit (synchronous=FULL), as walbuf asks. */
	j->walbuf = walbuf_new();
	if (j->walbuf == NULL) {
		snprintf(err, errlen,
			 "cannot set up the writer's SQLite VFS (out of "
			 "memory)");
		rv = IPSNET_ENOMEM;
		goto err;
	}
	rv = open_db(path, SQLITE_OPEN_READWRITE, walbuf_name(j->walbuf),
		     &j->wdb, err, errlen);
	if (rv != 0)
		goto err;
	if (exec(j->wdb, "PRAGMA journal_mode = WAL; PRAGMA synchronous = "
			 "FULL; PRAGMA foreign_keys = ON; PRAGMA cache_size = "
			 "-" STR(WRITER_CACHE_KIB)) != 0) {
		snprintf(err, errlen, "cannot set up '%s': %s", path,
			 sqlite3_errmsg(j->wdb));
		rv = IPSNET_EDB;
		goto err_after_db;
	}
	rv = prepare_writer(j, err, errlen);
	if (rv != 0)
		goto err_after_db;
	j->stmts = apply_stmts_new();
	if (j->stmts == NULL) {
		snprintf(err, errlen, "out of memory");
		rv = IPSNET_ENOMEM;
		goto err_after_db;
	}
	rv = load_head(j, err, errlen);
	if (rv != 0)
		goto err_after_db;
	if (sqlite3_db_readonly(j->wdb, "main") == 1) {
		/* SQLite opened it read-only (the file, or its folder, is not
		 * the daemon's user's to write) and stays so: a start is what
		 * takes changes again, not a chmod. */
		char q[2 * CONFIG_MAX_PATH];
		log_error("database read-only",
			  "database=%s detail=\"changes are refused "
			  "(UNAVAILABLE), reads go on; make the file and its "
			  "folder writable for the daemon's user, then "
			  "restart ipsnetd\"",
			  log_quote(q, sizeof(q), path));
	}
	served_open(j);
	note_files(j);
	pthread_mutex_init(&j->mu, NULL);
	pthread_cond_init(&j->writer_cv, NULL);
	pthread_cond_init(&j->reader_cv, NULL);
	pthread_cond_init(&j->bulk_cv, NULL);
	pthread_cond_init(&j->checkpoint_cv, NULL);
	if (uv_async_init(loop, &j->async, async_cb) != 0) {
		snprintf(err, errlen, "cannot start the journal's wake-up");
		rv = IPSNET_EINTERNAL;
		goto err_after_sync;
	}
	uv_idle_init(loop, &j->spin);
	/* Checkpoints are the checkpointer's, not the writer's: the hook
	 * replaces SQLite's automatic ones. Without the thread or its
	 * connection, SQLite keeps checkpointing inside COMMIT, as by
	 * default. */
	if (checkpointer_open(j) == 0) {
		if (pthread_create(&j->checkpointer, NULL, checkpoint_main,
				   j) == 0) {
			j->checkpointer_started = true;
			sqlite3_wal_hook(j->wdb, wal_hook, j);
		} else {
			sqlite3_close(j->cdb);
			j->cdb = NULL;
		}
	}
	if (pthread_create(&j->writer, NULL, writer_main, j) != 0) {
		snprintf(err, errlen, "cannot start the writer thread");
		rv = IPSNET_EINTERNAL;
		goto err_after_async;
	}
	j->writer_started = true;
	int rv_thread = 0;
	for (int i = 0; i < READERS; i++) {
		rv_thread = pthread_create(&j->readers[j->n_readers], NULL,
					   reader_main, j);
		if (rv_thread != 0)
			break;
		j->n_readers++;
	}
	/* Without a reader every read would wait for good, and a stop with
	 * a read in flight with it: the bulk readers take no plain reads
	 * (none of them is needed: journal_read_bulk then goes to the
	 * readers). */
	if (j->n_readers == 0) {
		snprintf(err, errlen, "cannot start the reader threads: %s",
			 strerror(rv_thread));
		rv = IPSNET_EINTERNAL;
		goto err_after_writer;
	}
	for (int i = 0; i < BULK_READERS; i++) {
		if (pthread_create(&j->readers[j->n_readers], NULL,
				   bulk_reader_main, j) != 0)
			break;
		j->n_readers++;
		j->n_bulk_readers++;
	}
	*out = j;
	return 0;

err_after_writer:
	pthread_mutex_lock(&j->mu);
	j->stopping = true;
	pthread_mutex_unlock(&j->mu);
	pthread_cond_broadcast(&j->writer_cv);
	pthread_join(j->writer, NULL);
err_after_async:
	if (j->checkpointer_started) {
		pthread_mutex_lock(&j->mu);
		j->stopping = true;
		pthread_mutex_unlock(&j->mu);
		pthread_cond_broadcast(&j->checkpoint_cv);
		pthread_join(j->checkpointer, NULL);
	}
	uv_close((uv_handle_t *)&j->async, NULL);
	uv_close((uv_handle_t *)&j->spin, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
err_after_sync:
	pthread_cond_destroy(&j->checkpoint_cv);
	pthread_cond_destroy(&j->reader_cv);
	pthread_cond_destroy(&j->bulk_cv);
	pthread_cond_destroy(&j->writer_cv);
	pthread_mutex_destroy(&j->mu);
err_after_db:
	close_writer_db(j);
err:
	walbuf_free(j->walbuf);
	ipsnet_free(j);
	return rv;
}

void journal_on_commit(struct journal *j,
		       void (*cb)(void *arg, uint64_t head,
				  const uint8_t hash[JOURNAL_HASH_BYTES],
				  uint64_t commit_us),
		       void *arg)
{
	j->on_commit = cb;
	j->on_commit_arg = arg;
}

void journal_close_handle(struct journal *j)
{
	if (!uv_is_closing((uv_handle_t *)&j->async))
		uv_close((uv_handle_t *)&j->async, NULL);
	if (!uv_is_closing((uv_handle_t *)&j->spin))
		uv_close((uv_handle_t *)&j->spin, NULL);
}

void journal_free(struct journal *j)
{
	if (j == NULL)
		return;
	pthread_mutex_lock(&j->mu);
	j->stopping = true;
	pthread_cond_broadcast(&j->writer_cv);
	pthread_cond_broadcast(&j->reader_cv);
	pthread_cond_broadcast(&j->bulk_cv);
	pthread_cond_broadcast(&j->checkpoint_cv);
	pthread_mutex_unlock(&j->mu);
	if (j->writer_started)
		pthread_join(j->writer, NULL);
	if (j->checkpointer_started)
		pthread_join(j->checkpointer, NULL);
	for (int i = 0; i < j->n_readers; i++)
		pthread_join(j->readers[i], NULL);
	close_writer_db(j);
	OPENSSL_cleanse(j->salt_pool, sizeof(j->salt_pool));
	pthread_cond_destroy(&j->checkpoint_cv);
	pthread_cond_destroy(&j->reader_cv);
	pthread_cond_destroy(&j->bulk_cv);
	pthread_cond_destroy(&j->writer_cv);
	pthread_mutex_destroy(&j->mu);
	ipsnet_free(j);
}
