/* The local SQLite mirror of `ipsnet sync --mirror FILE` (docs/sync.md).
 *
 * One table per entity kind the organisation may see (client, consent,
 * trajectory, funding, job, program, fidelity_review), whose columns are
 * the fields of the entity's proto message plus `seq`, the journal entry
 * that made the row's version. A row only ever moves forward: an event
 * with a version not above the row's is counted and skipped. Table `meta`
 * holds the mirror's cursor: `seq`, the last journal entry handled, is
 * written in the same transaction as the rows that entry changed, so the
 * file is always a consistent picture of the journal up to `seq`, and a
 * sync that was killed resumes from there with no gap and no duplicate.
 * With it goes `hash`, that entry's hash in the server's chain: resuming
 * sends it, and a server whose entry `seq` is another one (restored from
 * a backup, or another server) refuses instead of mixing its journal in.
 * `hash_seq` says which seq `hash` is of: an ipsnet without hashes moves
 * `seq` and leaves them, and such a hash is not sent.
 *
 * The column values are also what `ipsnet watch --json` prints: enums as
 * lower-case words ("on_hold", "participatiewet"), repeated numbers as a
 * JSON array. */
#ifndef IPSNET_CLI_MIRROR_H
#define IPSNET_CLI_MIRROR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "ipsnet.pb-c.h"

struct mirror;

/* What the mirror file says about itself. */
struct mirror_meta {
	uint64_t seq;		/* the last journal entry handled (0: none) */
	uint8_t hash[32];	/* its hash in the server's journal ... */
	bool has_hash;		/* ... when the server gave it */
	uint64_t events;	/* events applied over the mirror's life */
	char organisation[64];	/* whose view it holds ("" until the first
				   sync) */
	char kinds[160];	/* "client,program"; "" for every kind */
	bool refill;		/* it is read again from seq 0 (one of the
				 * two below) */
	bool refill_columns;	/* ... its rows were written by an older
				 * ipsnet without columns this one has, and
				 * are filled in */
	char refill_kinds[160]; /* ... an older ipsnet skipped the entries
				 * of these kinds, which it did not know
				 * ("trajectory,job"; "" for none): they
				 * are brought in */
	uint64_t refill_upto;	/* entries up to this seq are read again
				 * (0: none); a version again is written */
	bool has_check;		/* a refill forgot seq and hash: the entry
				 * it had reached is to be checked first */
	uint64_t check_seq;	/* ... that entry */
	uint8_t check_hash[32]; /* ... and its hash */
};

/* Opens (creating when missing) the mirror at path, and takes a lock on it
 * so that a second sync of the same file is refused while this one runs.
 * A file that is a database but not a mirror, or a mirror of a newer
 * format, is refused (IPSNET_EPRECONDITION) before anything is written.
 * Returns 0, or an IPSNET_E* code with err saying why. */
int mirror_open(struct mirror **out, const char *path, char *err,
		size_t errlen);

void mirror_close(struct mirror *m);

const struct mirror_meta *mirror_meta(const struct mirror *m);

/* The server's entry meta.check_seq is the one whose hash is
 * meta.check_hash (the refill may read from it): forgets the check
 * (meta.has_check), in the file with the first commit of a cursor past 0
 * (until then a sync that is stopped checks again on its next run). 0 or
 * IPSNET_EIO. */
int mirror_checked(struct mirror *m, char *err, size_t errlen);

/* Records whose view and which kinds the mirror holds (the first sync), or
 * checks that they are the same as before: a mirror of one organisation is
 * never filled with another's events, nor resumed with other kinds (that
 * would leave a gap). kinds: sorted, comma-separated; "" for all. */
int mirror_bind(struct mirror *m, const char *organisation, const char *kinds,
		char *err, size_t errlen);

/* Applies one event inside the current transaction (begun when needed).
 * ev->seq must be above the mirror's seq; it becomes the new seq when the
 * transaction commits. An entity of a kind the mirror does not hold
 * (mirror_bind's kinds) only moves the seq, is not counted in
 * meta.events, and leaves in table `shadow` (kind, id, version,
 * client_id, party) what the sync needs to know of it: a client's id, a
 * consent's client and recipient (party), a program's owner (party). An
 * entity this build does not know (a newer server's kind) only moves the
 * seq too, is not counted, and its kind (ChangeOk.entity_kind) is noted in
 * meta.skipped_kinds: an ipsnet that knows the kind reads the journal
 * again when it opens the mirror (mirror_meta refill_kinds).
 * *counted (when not NULL) says whether an event of its kind counts in
 * meta.events (set also when it was handled already, or not applied). */
int mirror_apply(struct mirror *m, const Ipsnet__V1__Event *ev, bool *counted,
		 char *err, size_t errlen);

/* Moves the cursor to seq without an event: the server's CaughtUp says
 * every entry up to seq was delivered or is not for this organisation, so
 * the next sync need not read them again. hash: that entry's (32 bytes),
 * or NULL when the server gave none. */
int mirror_advance(struct mirror *m, uint64_t seq, const uint8_t *hash,
		   char *err, size_t errlen);

/* Events applied since the last commit. */
size_t mirror_pending(const struct mirror *m);

/* Commits the open transaction (rows and meta.seq together), if any. */
int mirror_commit(struct mirror *m, char *err, size_t errlen);

/* Takes the open transaction back, if any: its rows and its cursor, so
 * that a run that stops on a failed write commits nothing past what it
 * could not record; the next run reads those events again. */
void mirror_rollback(struct mirror *m);

/* Whether the mirror holds kind ("client", ...): its kinds name it, or
 * are "" (all). */
bool mirror_holds(const struct mirror *m, const char *kind);

/* Whether the mirror has a row for client id (in table shadow when it
 * does not hold clients). */
bool mirror_has_client(struct mirror *m, const char *id);

/* Whether the mirror has a consent of c's client for c's recipient other
 * than c (in table shadow when it does not hold consents). */
bool mirror_has_other_consent(struct mirror *m, const Ipsnet__V1__Consent *c);

/* The owner of program id as the mirror has it (in table shadow when it
 * does not hold programs) into owner; false when it has none. */
bool mirror_program_owner(struct mirror *m, const char *id, char *owner,
			  size_t cap);

/* Commits the open transaction together with the start of reading the
 * journal again from seq 0 up to the seq reached (meta.refill_upto), as
 * for a column added: meta.seq goes back to 0, and check_seq and
 * check_hash keep the entry it had reached, for the server to be checked
 * against first. For entries the server judged before this organisation
 * could see what it may see now (a program handed to it): the event that
 * says so is never committed without the refill. 0 or an IPSNET_E* code
 * (nothing of the transaction committed). */
int mirror_refill(struct mirror *m, char *err, size_t errlen);

/* Upserts a client's case as ShowCase answered it (the open transaction,
 * begun when needed; each row only if its version grows), for a client
 * whose earlier entries were not delivered (see docs/sync.md). Only the
 * kinds the mirror holds (mirror_bind) are put; of the client and her
 * consents otherwise what table shadow keeps (mirror_apply). The rows get
 * the mirror's current seq. */
int mirror_put_case(struct mirror *m, const Ipsnet__V1__CaseView *v, char *err,
		    size_t errlen);

/* The clients whose case is still to be fetched with ShowCase (table
 * `wanted`): an id is added in the open transaction of the event that
 * needs it, so it commits with that event's seq, and stays until the case
 * is put or refused; a sync that stopped before the answer asks again. */
int mirror_want(struct mirror *m, const char *client_id, char *err,
		size_t errlen);
int mirror_unwant(struct mirror *m, const char *client_id, char *err,
		  size_t errlen);
/* Calls fn with each wanted id (from the last commit). 0 or IPSNET_EIO. */
int mirror_wanted(struct mirror *m, void (*fn)(void *arg, const char *id),
		  void *arg, char *err, size_t errlen);

/* ---- the entity of an event -------------------------------------------- */

/* The table (entity kind) and message of a ChangeOk's entity, or false when
 * it carries none this build knows. */
bool mirror_entity(const Ipsnet__V1__ChangeOk *ok, const char **kind,
		   const ProtobufCMessage **msg);

/* The entity as a JSON object: one member per field, named and valued as
 * the mirror's columns. A new reference, or NULL when out of memory. */
json_t *mirror_entity_json(const ProtobufCMessage *msg);

/* An enum value as the mirror stores it: "on_hold" for
 * TRAJECTORY_ON_HOLD, "participatiewet" for BENEFIT_PARTICIPATIEWET; ""
 * for 0 (unset). Writes into buf (cap >= 32) and returns it. */
const char *mirror_enum_word(const ProtobufCEnumDescriptor *d, int value,
			     char *buf, size_t cap);

#endif
