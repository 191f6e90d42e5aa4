/* The journal: one SQLite file in WAL mode with synchronous=FULL, a
 * hash-chained table of every change, and the state tables that are its
 * projections, written in the same transaction.
 *
 * Threads: one writer thread owns the only writing connection. Changes are
 * submitted from the loop thread and queued; the writer takes everything
 * queued as one batch, applies each change inside its own savepoint (a
 * refused change never disturbs its neighbours), commits the batch with one
 * fsync, and hands the results back to the loop through a uv_async_t. What
 * arrives while a commit runs goes into the next batch (group commit).
 * Reads run on reader threads with their own connections. The loop thread
 * never touches the database.
 *
 * The journal knows nothing of sockets; what a change does to the state is
 * the business of its apply function (apply.h).
 *
 * The audit trail (NEN 7513) is written by the writer too: each change,
 * applied or refused, leaves its row in the change's own transaction, and
 * journal_audit commits the rows of a read before the read is answered. */
#ifndef IPSNETD_JOURNAL_H
#define IPSNETD_JOURNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>
#include <uv.h>

#include "config.h"
#include "ipsnet.pb-c.h"

#define JOURNAL_HASH_BYTES 32
#define JOURNAL_KEY_BYTES 16
/* The key a change is kept under (journal_kept_key of its organisation and
 * the key it sent): the key and 16 bytes of SHA-256, longer than any key a
 * client sends, so that no client can send it itself. Entries written before 32-byte keys
 * came are kept under the 16 bytes sent. */
#define JOURNAL_OWN_KEY_BYTES 32
#define JOURNAL_ID_MAX 64
/* The random salt of an entry (journal_entry_hash_salted). */
#define JOURNAL_SALT_BYTES 16

struct journal;

/* Who asks, as the loop knows it from the connection. */
struct journal_actor {
	char org[ORG_ID_MAX];
	enum org_kind org_kind;
	char user[128];
	char peer[64];
};

/* One change on its way through the writer. The submitter fills the first
 * part and owns the struct; the writer fills the result; done runs on the
 * loop thread. */
struct journal_change {
	struct journal_actor actor;
	uint8_t key[JOURNAL_KEY_BYTES];  /* idempotency key */
	/* the writer's: the key the change is kept under */
	uint8_t own_key[JOURNAL_OWN_KEY_BYTES];
	Ipsnet__V1__Envelope *req;        /* the change; borrowed until done */
	void (*done)(struct journal_change *c);
	void *data;

	/* result */
	int err;                  /* 0 or IPSNET_E* */
	char message[256];        /* with err: a sentence for the caller */
	uint64_t current_version; /* with IPSNET_ECONFLICT */
	bool replayed;            /* the key was applied before: first answer */
	uint64_t seq;             /* the journal entry (0 if refused) */
	uint8_t *response;	  /* packed Envelope (ChangeOk), ipsnet_free;
				     with IPSNET_ECONFLICT the whole refusal
				     (status and the entity as it is now),
				     or NULL */
	size_t response_len;

	struct journal_change *next; /* the journal's own */
	char narrows_org[ORG_ID_MAX]; /* the journal's own (apply.h) */
	char narrows_client[JOURNAL_ID_MAX];
};

/* One read on a reader thread: fn runs there with a read-only connection;
 * done runs on the loop thread afterwards. */
struct journal_read {
	int (*fn)(sqlite3 *db, struct journal_read *r);
	void (*done)(struct journal_read *r);
	void *data;
	int err;
	struct journal_read *next; /* the journal's own */
};

/* One row of the audit trail (NEN 7513): who did or read what of which
 * client, and how it ended. */
struct journal_audit_row {
	int64_t time_us;
	char org[ORG_ID_MAX];
	char user[128];
	char peer[64];
	char client_id[JOURNAL_ID_MAX]; /* "": no one client */
	char action[32];                /* "show_case", "move_trajectory", ... */
	char object[JOURNAL_ID_MAX + 32]; /* "trajectory:tr-..." */
	char result[32];                /* "OK" or the refusal's status name */
};

/* Audit rows of a read, committed by the writer in their own transaction;
 * done runs on the loop thread afterwards. err is 0 when the rows are on
 * disk: only then may the read's answer go out.
 *
 * judged_at (0: not checked) is the journal head of the snapshot the read
 * was judged at. When a change that can take away what an organisation
 * may see of a client (a consent withdrawn, a program given to another
 * GGZ) committed after it, and a row names that organisation and client,
 * no row is written and err is IPSNET_ECONFLICT: the judgement is stale,
 * and the read is to be made again. Rows that are written
 * commit before any later change, and their done runs before that
 * change's, so what goes out with them goes before it is answered. */
struct journal_audit {
	struct journal_audit_row *rows; /* borrowed until done */
	size_t n;
	/* A change refused before the writer judged it (its key, fields the
	 * server does not know), whose one row names only the consent,
	 * trajectory, funding request or job: the writer finds its client
	 * (apply_audit_client), so that it is on her trail. NULL: none. */
	const Ipsnet__V1__Envelope *change;
	uint64_t judged_at;
	void (*done)(struct journal_audit *a);
	void *data;
	int err;
	/* With err IPSNET_EUNAVAILABLE: what stopped the rows, in words ("the
	 * disk is full"), for the refusal's sentence. */
	char cause[64];
	struct journal_audit *next; /* the journal's own */
};

/* " (the cause)" of a journal_audit that failed, as the writer gave it, to
 * put into a sentence; "" when it gave none. In buf (cap bytes). */
const char *journal_audit_cause(const struct journal_audit *ja, char *buf,
				size_t cap);

struct journal_stats {
	uint64_t head_seq;
	uint8_t head_hash[JOURNAL_HASH_BYTES];
	uint8_t audit_hash[JOURNAL_HASH_BYTES]; /* the audit trail's last row's
						 * (zeros: none chained) */
	uint64_t batches;
	uint64_t changes;  /* applied or refused, through the writer */
	uint64_t checkpoints; /* the checkpointer's passes over the WAL */
	uint64_t checkpoint_failures; /* passes that failed (a full disk),
				       * the checkpointer's and the writer's */
	bool writes_stopped;
	uint64_t broken_seq;
};

/* Opens the database (which `ipsnetd init` made), checks the hash chain and
 * starts the writer and reader threads. A broken chain does not stop the
 * open: writes are refused (UNAVAILABLE, naming the seq) and reads go on.
 * Call on the loop thread; it reads the disk before serving starts. */
int journal_open(struct journal **out, uv_loop_t *loop, const char *path,
		 char *err, size_t errlen);

/* The largest frame the server sends (max_frame_bytes): a change whose
 * answer, or an event of it, would not fit is refused with
 * IPSNET_EFRAME_TOO_LARGE. Call before the first change; 0: no limit. */
void journal_set_answer_limit(struct journal *j, uint32_t max_frame_bytes);

/* Queues a change. Always answers through c->done. */
void journal_submit(struct journal *j, struct journal_change *c);

/* Queues a read. Always answers through r->done. */
void journal_read(struct journal *j, struct journal_read *r);

/* Queues a read that may take long and may wait for others (a page of a
 * subscriber's catch-up, a report): bulk readers of their own run it at a
 * lower CPU priority. Always answers through r->done. */
void journal_read_bulk(struct journal *j, struct journal_read *r);

/* Queues audit rows. Always answers through a->done. Changes need none of
 * this: the writer audits each change in the change's own transaction. */
void journal_audit(struct journal *j, struct journal_audit *a);

/* Queues the audit rows of a bulk read (a page of a subscriber's
 * catch-up): the writer takes them when no change waits, or once they
 * have waited 20 ms, so that a catch-up neither holds up the changes nor
 * stops while they keep coming. Always answers through a->done. */
void journal_audit_bulk(struct journal *j, struct journal_audit *a);

/* The head and counters (loop thread). */
void journal_stats(struct journal *j, struct journal_stats *out);

/* Called on the loop thread after each batch that moved the head, with the
 * new head seq and its hash, and the moment (util_mono_us) the first commit
 * since the last call ended (sync uses them to push live events and to
 * measure how long they take to go out). */
void journal_on_commit(struct journal *j,
		       void (*cb)(void *arg, uint64_t head,
				  const uint8_t hash[JOURNAL_HASH_BYTES],
				  uint64_t commit_us),
		       void *arg);

/* Starts closing the async handle (loop thread, when no change or read is
 * outstanding). */
void journal_close_handle(struct journal *j);

/* After uv_run has returned: stops and joins the threads, closes the
 * connections, frees j. */
void journal_free(struct journal *j);

/* ---- offline and operator commands (block; not on a loop) -------------- */

/* The key a change of org sent with key is kept under in the journal: the
 * key, then 16 bytes of SHA-256 over a tag, org and the key. 0, or -1 when
 * SHA-256 failed. */
int journal_kept_key(const char *org, const uint8_t key[JOURNAL_KEY_BYTES],
		     uint8_t out[JOURNAL_OWN_KEY_BYTES]);

/* SHA-256 over the previous hash and the entry's canonical bytes: the
 * form of the entries written before salts (schema 7 and before; their
 * salt is NULL), "ipsnet.journal.v1". key is the key kept (key_len:
 * JOURNAL_KEY_BYTES or JOURNAL_OWN_KEY_BYTES). 0, or -1 when SHA-256
 * failed (out of memory): out is then no hash. */
int journal_entry_hash(const uint8_t prev[JOURNAL_HASH_BYTES], uint64_t seq,
		       int64_t time_us, const char *org, const char *user,
		       const uint8_t *key, size_t key_len,
		       const char *entity_kind, const char *entity_id,
		       uint64_t version, const void *payload,
		       size_t payload_len, uint8_t out[JOURNAL_HASH_BYTES]);

/* The form of every entry written since (schema 8): "ipsnet.journal.v2",
 * the previous hash, the entry's salt (JOURNAL_SALT_BYTES random bytes the
 * writer draws for it, stored in the journal and never sent to anyone)
 * and the same fields as journal_entry_hash. The hash goes out in every
 * sync event, also to subscribers that see the entry cut; the salt makes
 * it say nothing of what they do not see (a note, the user), which could
 * otherwise be guessed and tested against it offline. 0, or -1 as
 * journal_entry_hash. */
int journal_entry_hash_salted(const uint8_t prev[JOURNAL_HASH_BYTES],
			      const uint8_t salt[JOURNAL_SALT_BYTES],
			      uint64_t seq, int64_t time_us, const char *org,
			      const char *user, const uint8_t *key,
			      size_t key_len, const char *entity_kind,
			      const char *entity_id, uint64_t version,
			      const void *payload, size_t payload_len,
			      uint8_t out[JOURNAL_HASH_BYTES]);

/* The hash of an audit row, chained to the row before it: SHA-256 over
 * "ipsnet.audit.v1", prev (that row's hash; 32 zero bytes before the first
 * row of the chain) and the row's fields, as journal_entry_hash does;
 * client_id NULL when the row names no client. The row's id is not in it:
 * the chain itself orders the rows. 0, or -1 as journal_entry_hash. */
int journal_audit_hash(const uint8_t prev[JOURNAL_HASH_BYTES], int64_t time_us,
		       const char *org, const char *user, const char *client_id,
		       const char *action, const char *object,
		       const char *result, const char *peer,
		       uint8_t out[JOURNAL_HASH_BYTES]);

/* How far a long walk over the journal or the audit trail has got, for an
 * operator at a terminal: fn is told what it walks ("hash chain",
 * "replay", "state tables", "audit trail"), what it counts ("entries",
 * "tables", "rows"), how many it has done and about how many there are:
 * at the start, every JOURNAL_PROGRESS_ROWS rows and at the end. A NULL
 * struct journal_progress tells nothing. */
struct journal_progress {
	void (*fn)(void *arg, const char *what, const char *unit, uint64_t done,
		   uint64_t total);
	void *arg;
};

#define JOURNAL_PROGRESS_ROWS 4096

static inline void journal_progress_tell(const struct journal_progress *p,
					 const char *what, const char *unit,
					 uint64_t done, uint64_t total)
{
	if (p != NULL && p->fn != NULL)
		p->fn(p->arg, what, unit, done, total);
}

struct journal_verify_report {
	uint64_t entries;           /* entries walked */
	uint64_t sent_keys;	    /* of them, kept under the 16 bytes sent */
	uint64_t unsalted;	    /* of them, from before salts (schema 8) */
	uint64_t first_bad_seq;     /* 0: the chain is whole */
	uint64_t audit_rows;	    /* audit rows walked, chained */
	uint64_t audit_unchained;   /* rows from before the chain (schema 6) */
	int64_t first_bad_audit_id; /* 0: the audit chain is whole */
	/* The last entry's and the last chained audit row's hashes (zeros
	 * when none), as the daemon's stop logs them: what the operator
	 * compares with those lines, since a chain cannot show its own end
	 * cut off. */
	uint8_t head_hash[JOURNAL_HASH_BYTES];
	uint8_t audit_hash[JOURNAL_HASH_BYTES];
	/* The head DATABASE.served holds when it is above the journal's (0:
	 * none is, or no such file): entries after the head are gone, by a
	 * restore or cut off. */
	uint64_t served_seq;
	char problem[512]; /* what is wrong, in a sentence */
};

/* The head a daemon last committed to the database at path, from
 * path.served (see README, Restore). false: no such file, or not one. */
bool journal_served_seq(const char *database, uint64_t *served);

/* Walks the chain; then rebuilds the projections in a scratch database and
 * compares them with the live tables; then walks the audit trail's chain.
 * Returns 0 when it could look (then r->problem is "" when all is well, or
 * says what is damaged, with r->first_bad_seq the first damaged entry, or
 * r->first_bad_audit_id the first damaged audit row, or both 0 when the
 * entries are whole but a state table differs), or an error when it could
 * not. Tells progress how far it is. */
int journal_verify(const char *path, const struct journal_progress *progress,
		   struct journal_verify_report *r, char *err, size_t errlen);

/* Empties the state tables and replays the journal into them, in one
 * transaction. */
int journal_rebuild(const char *path, const struct journal_progress *progress,
		    uint64_t *entries, char *err, size_t errlen);

/* An online copy with SQLite's backup API, consistent as of one moment,
 * safe while the daemon serves; its journal's chain is walked. */
int journal_backup(const char *path, const char *dest,
		   const struct journal_progress *progress, char *err,
		   size_t errlen);

/* What journal_restore did. */
struct journal_restore_report {
	uint64_t head_seq; /* the restored journal's last seq (0: empty) */
	char aside[CONFIG_MAX_PATH + 64]; /* where the replaced files went;
					   * "" when there were none */
	bool changed; /* on failure: whether anything was moved */
	size_t stale; /* copies of restores stopped before, removed */
};

/* Puts the backup at backup in the place of the database at path (the
 * caller holds store_lock). The backup is copied into a temporary file in
 * path's folder (PATH.restore-XXXXXX, 0600, owned as the database it
 * replaces or, with none, as the folder; fsynced), and that copy is
 * verified as journal_verify does and refused when damaged, of a newer
 * schema, or not a journal (the copy removed); a path that is there but
 * is not a file (a folder) is refused too. The copies stopped restores
 * left are removed, and the verified copy is renamed to
 * PATH.restored-XXXXXX (fsync of the folder): only one of that name may
 * be put in place by hand. Then the database with its
 * -wal, -shm and -journal (those there) is moved into
 * PATH.before-restore-YYYYMMDDTHHMMSSZ/ (0700), never over a file, and the
 * copy renamed into place (fsync of the folder). The files are moved one
 * by one into PATH.before-restore-YYYYMMDDTHHMMSSZ.unfinished/, renamed
 * without ".unfinished" once all are in; a restore that finds one (a
 * restore stopped between the moves) moves the rest into it and names it
 * so. With two or more such folders it refuses. A path that is a symbolic
 * link is restored where it points (the link stays), as SQLite opens it.
 * PATH.served is left as it is.
 * The backup is only read. Returns 0, or an error with a sentence in err
 * and r->changed false when nothing was changed. */
int journal_restore(const char *path, const char *backup,
		    const struct journal_progress *progress,
		    struct journal_restore_report *r, char *err, size_t errlen);

/* The chain walk alone (used at start-up and by verify). */
int journal_check_chain(sqlite3 *db, const struct journal_progress *progress,
			struct journal_verify_report *r);

/* The audit trail's chain walk (verify): sets r->audit_rows,
 * r->audit_unchained and, at the first damaged row, r->first_bad_audit_id
 * and r->problem. Leaves the journal's fields alone. 0, or IPSNET_EDB when
 * it could not read. */
int journal_check_audit(sqlite3 *db, const struct journal_progress *progress,
			struct journal_verify_report *r);

#endif
