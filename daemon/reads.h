/* Reads of the case data: find a client, show a case, list funding
 * requests and programs, query the audit trail. Each runs on one of the
 * journal's reader threads with that thread's read-only connection (see
 * journal_read), asks policy.h what the caller may see at this moment, and
 * leaves behind the packed answer and the audit rows to commit before the
 * answer goes out.
 *
 * Also here, because apply functions need them on the writer's connection
 * too: gathering the facts policy decides on, and turning state rows into
 * wire messages. */
#ifndef IPSNETD_READS_H
#define IPSNETD_READS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "ipsnet.pb-c.h"
#include "journal.h"
#include "policy.h"

/* ---- an arena for the messages of one answer --------------------------- */

/* Every string and message of an answer is allocated here and freed at
 * once with arena_free, after the answer has been packed. */
struct arena {
	void **ptrs;
	size_t n, cap;
	bool failed; /* an allocation failed: the answer cannot be built */
};

void *arena_alloc(struct arena *a, size_t size);    /* zeroed; NULL: failed */
char *arena_strdup(struct arena *a, const char *s); /* NULL s: "" */
void arena_free(struct arena *a);

/* ---- facts and rows ---------------------------------------------------- */

/* What organisation org has to do with client client_id, with consent
 * judged live on date today ("YYYY-MM-DD"). A client that does not exist
 * gives out->exists false. 0 or IPSNET_EDB. */
int reads_client_facts(sqlite3 *db, const char *client_id, const char *org,
		       const char *today, struct policy_client *out);

/* The same with the statement kept in *cache between calls (prepared on
 * the first; the caller finalizes it): for many clients in a row, as sync
 * checks them. */
int reads_client_facts_cached(sqlite3 *db, sqlite3_stmt **cache,
			      const char *client_id, const char *org,
			      const char *today, struct policy_client *out);

/* One entity by id, as the wire message, with everything in it (cut it
 * with the policy before sending it to anyone but a GGZ party). 0,
 * IPSNET_ENOT_FOUND, IPSNET_ENOMEM or IPSNET_EDB. */
int reads_client(sqlite3 *db, struct arena *a, const char *id,
		 Ipsnet__V1__Client **out);
int reads_consent(sqlite3 *db, struct arena *a, const char *id,
		  Ipsnet__V1__Consent **out);
int reads_trajectory(sqlite3 *db, struct arena *a, const char *id,
		     Ipsnet__V1__Trajectory **out);
int reads_funding(sqlite3 *db, struct arena *a, const char *id,
		  Ipsnet__V1__Funding **out);
int reads_job(sqlite3 *db, struct arena *a, const char *id,
	      Ipsnet__V1__Job **out);
int reads_review(sqlite3 *db, struct arena *a, const char *id,
		 Ipsnet__V1__FidelityReview **out);

/* The journal head of the open read transaction's snapshot into *out:
 * what a read or a sync fetch is judged at (journal_audit.judged_at). */
int reads_snapshot_head(sqlite3 *db, uint64_t *out);

/* ---- the reads --------------------------------------------------------- */

/* Whether an Envelope body case is a read this module answers. */
bool reads_is_read(int body_case);

struct reads_ctx {
	const struct journal_actor *actor;
	const Ipsnet__V1__Envelope *req;
	int64_t now_us; /* the moment of the read: consent is judged then */
	/* The largest answer the caller takes (max_frame_bytes): a page of
	 * ListFunding stops before it; 0: no limit. */
	uint32_t max_answer_bytes;

	/* out */
	int err;	   /* 0 or a refusal / failure */
	char message[256]; /* with err: a sentence for the caller */
	uint8_t *response; /* with err 0: the packed Envelope (status
			      OK and the answer, no request id);
			      ipsnet_free */
	size_t response_len;
	/* The audit rows of this read (reads of personal data, refused ones
	 * too); ipsnet_free. None for a read of no personal data. */
	struct journal_audit_row *audit;
	size_t n_audit;
	/* The journal head of the snapshot the read was judged at: the
	 * writer refuses its audit rows (IPSNET_ECONFLICT) when a change
	 * that narrows what the caller may see of a client they name came
	 * after it, and the read is then made again (journal.h). */
	uint64_t judged_at;
};

/* Runs the read ctx->req on db (reader thread). Always fills ctx: an
 * answer or an error, and the audit rows. */
void reads_run(sqlite3 *db, struct reads_ctx *ctx);

/* Frees what reads_run left in ctx. */
void reads_ctx_free(struct reads_ctx *ctx);

#endif
