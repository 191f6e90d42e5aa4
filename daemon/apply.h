/* What each change does to the state tables: one apply function per change
 * kind, run by the journal's writer inside the change's savepoint (and by
 * rebuild and verify, replaying the journal). Apply functions check the
 * state machine, the versions and, through policy.h, who may do it; they
 * write the projections and build the answer. They are deterministic in
 * the change, the actor, the time and the state: everything the server
 * chooses (ids) is put into the request by apply_prepare before the change
 * is journaled. */
#ifndef IPSNETD_APPLY_H
#define IPSNETD_APPLY_H

#include <stdbool.h>
#include <stdint.h>

#include <sqlite3.h>

#include "ipsnet.pb-c.h"
#include "journal.h"

/* Prepared statements kept between changes on one connection (the
 * writer's): a change reuses them instead of compiling its SQL again. */
struct apply_stmts;
struct apply_stmts *apply_stmts_new(void);
/* Finalizes every statement: before the connection closes. */
void apply_stmts_free(struct apply_stmts *c);

struct apply_ctx {
	sqlite3 *db;
	struct apply_stmts *stmts; /* NULL: statements are not kept */
	const struct journal_actor *actor;
	const Ipsnet__V1__Envelope *req;
	int64_t time_us; /* the entry's time */
	uint64_t seq;	 /* the entry's seq, if the change is applied */
	bool replay;	 /* rebuilding: the change was accepted once */

	/* out */
	const char *entity_kind; /* "client", "consent", "trajectory", ... */
	char entity_id[JOURNAL_ID_MAX];
	char client_id[JOURNAL_ID_MAX]; /* the client concerned, "" if none
					   (for the audit trail, refused
					   changes too) */
	uint64_t version;
	char message[256];	  /* with a refusal */
	uint64_t current_version; /* with IPSNET_ECONFLICT */
	uint8_t *response;	  /* packed Envelope with ChangeOk; with
				     IPSNET_ECONFLICT the refusal, its status
				     and the entity as it is now (NULL when
				     the caller may not see it) */
	size_t response_len;
	/* The change, applied, can take away what organisation narrows_org
	 * may see of client narrows_client ("": of any client): a consent's
	 * recipient when it is withdrawn, a program's former owner when it
	 * is given to another GGZ. What was judged before it may not go out
	 * (journal.h). narrows_org "": it takes nothing away. */
	char narrows_org[ORG_ID_MAX];
	char narrows_client[JOURNAL_ID_MAX];
};

/* Whether an Envelope body case is a change (goes through the writer). */
bool apply_is_change(int body_case);

/* Fills in what the server chooses (new ids) before the change is
 * journaled. Loop thread. 0 or IPSNET_ENOMEM / IPSNET_EINTERNAL. */
int apply_prepare(Ipsnet__V1__Envelope *req);

/* Applies one change. Returns 0, a refusal (IPSNET_EINVAL,
 * IPSNET_EPERMISSION, IPSNET_ENOT_FOUND, IPSNET_ECONFLICT,
 * IPSNET_EPRECONDITION, IPSNET_EEXISTS) with ctx->message, or IPSNET_EDB
 * when the database itself failed. */
int apply_change(struct apply_ctx *ctx);

/* What the audit trail records of a change after apply_change (applied or
 * refused): action, object and client in row. */
void apply_audit(const struct apply_ctx *ctx, struct journal_audit_row *row);

/* The same for a change that apply_change did not run: from the request,
 * and from its first answer when it was replayed (response, len; NULL:
 * none). */
void apply_audit_request(const Ipsnet__V1__Envelope *req,
			 const uint8_t *response, size_t len,
			 struct journal_audit_row *row);

/* Cuts the first answer of a replayed change (response, *len; replaced
 * in place) to what actor may see now, as sync cuts an event: a retry
 * after a consent withdrawal or a program handed over says the change was
 * applied (its kind, id and version) but shows nothing of the client the
 * organisation may no longer see. db: the writer's connection, inside
 * the change's savepoint. 0, or IPSNET_ENOMEM / IPSNET_EINTERNAL (the
 * kept answer does not decode) / IPSNET_EDB (a read failed: nothing is
 * given, and the writer judges whether the transaction survived). */
int apply_replay_cut(sqlite3 *db, const struct journal_actor *actor,
		     uint8_t **response, size_t *len);

/* After apply_audit_request: the client of the consent, trajectory,
 * funding request or job the change names, from the state tables in db,
 * when the request does not name it, so that a change refused before it
 * was judged (writes stopped, the disk failed) is on that client's trail
 * too. Best effort: a failing database leaves the row without one. */
void apply_audit_client(sqlite3 *db, const Ipsnet__V1__Envelope *req,
			struct journal_audit_row *row);

/* The state machines of DESIGN §2, each a declared table checked here
 * alone. 0 when `from` may move to `to`, else IPSNET_EPRECONDITION with a
 * sentence naming both states in why (size cap). */
int apply_trajectory_move(Ipsnet__V1__TrajectoryStatus from,
			  Ipsnet__V1__TrajectoryStatus to, char *why,
			  size_t cap);
int apply_funding_move(Ipsnet__V1__FundingStatus from,
		       Ipsnet__V1__FundingStatus to, char *why, size_t cap);

/* "REFERRED", "ON_HOLD", ...; "UNKNOWN" out of range. */
const char *apply_trajectory_status_name(Ipsnet__V1__TrajectoryStatus s);
const char *apply_funding_status_name(Ipsnet__V1__FundingStatus s);

/* The fidelity band of a total of 25 item scores: "exemplary" (115-125),
 * "good" (100-114), "fair" (74-99) or "not IPS" (73 or less). */
const char *apply_fidelity_band(unsigned total);

/* The state tables that apply functions write (rebuild empties them; verify
 * compares them), NULL-terminated. */
extern const char *const apply_state_tables[];

#endif
