/* Who may do and see what: the access matrix of DESIGN §1 as code. Every
 * apply and read function asks here; docs/access.md is the same matrix as a
 * table. Functions are pure: the caller gathers the facts (from the state
 * tables, inside its transaction) and policy decides. A refusal comes with
 * a sentence that says why without revealing what it protects: a caller
 * that may not see a client gets the same answer whether the client exists
 * or not.
 *
 * Every function returns 0 when allowed, else IPSNET_EPERMISSION with the
 * sentence in why (size cap). */
#ifndef IPSNETD_POLICY_H
#define IPSNETD_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "ipsnet.pb-c.h"
#include "journal.h"

/* What the caller's organisation has to do with one client, gathered at the
 * moment of the request. exists false: there is no such client (the other
 * facts are then false and empty). */
struct policy_client {
	bool exists;
	char registered_by[ORG_ID_MAX]; /* the registering GGZ */
	/* The client has a trajectory in a program the caller owns. */
	bool in_own_program;
	/* A funding request for the client (in any state) is addressed to
	 * the caller. */
	bool funding_addressed;
	/* The client has live consent for the caller: recipient = the
	 * caller, not withdrawn, valid until today or later. */
	bool consent_live;
};

/* The parties of one trajectory. */
struct policy_trajectory {
	char referrer[ORG_ID_MAX];	/* the GGZ that referred */
	char program_owner[ORG_ID_MAX]; /* the GGZ that runs the program */
};

/* How much of a client the caller sees. */
enum policy_view {
	POLICY_VIEW_NONE = 0,
	/* MUNICIPALITY / UWV, addressed and with live consent: identity,
	 * benefit, trajectory status and dates, jobs, the consents given to
	 * it and the funding requests addressed to it. Never the note. */
	POLICY_VIEW_FUNDER,
	/* A GGZ party of the case: everything, the referral note too. */
	POLICY_VIEW_GGZ,
};

/* ---- reads ------------------------------------------------------------- */

/* Whether and how much the caller may see of a client (show case, the
 * clients in a funding list). c->exists false is refused like a client the
 * caller may not see. */
int policy_see_client(const struct journal_actor *a,
		      const struct policy_client *c, enum policy_view *view,
		      char *why, size_t cap);

/* The field cuts of a view. */
bool policy_view_has_note(enum policy_view v);
bool policy_view_has_registration(enum policy_view v); /* registered_by/at */
/* A consent given to recipient, or a funding request addressed to funder,
 * is shown to the caller. */
bool policy_view_has_consent(const struct journal_actor *a, enum policy_view v,
			     const char *recipient);
bool policy_view_has_funding(const struct journal_actor *a, enum policy_view v,
			     const char *funder);

/* Finding a client by BSN: the GGZ that registered it (the lookup itself is
 * limited to the caller's own registrations). */
int policy_find_client(const struct journal_actor *a, char *why, size_t cap);

/* Listing funding requests: a MUNICIPALITY or UWV its addressed ones, a GGZ
 * the ones it asked for; NETWORK sees aggregates only. */
int policy_list_funding(const struct journal_actor *a, char *why, size_t cap);

/* Programs and their fidelity reviews: everyone. */
int policy_list_programs(const struct journal_actor *a, char *why, size_t cap);

/* The audit trail: of one client (client != NULL), for its registering
 * GGZ and NETWORK; of every client (client == NULL), for NETWORK only;
 * from a time or a record on, or not, alike. */
int policy_audit_query(const struct journal_actor *a,
		       const struct policy_client *client, char *why,
		       size_t cap);

/* ---- changes ----------------------------------------------------------- */

/* Registering a client: a GGZ. */
int policy_register_client(const struct journal_actor *a, char *why,
			   size_t cap);

/* Changing a client's registration, granting and withdrawing its consent:
 * the GGZ that registered it. */
int policy_update_client(const struct journal_actor *a,
			 const struct policy_client *c, char *why, size_t cap);
int policy_record_consent(const struct journal_actor *a,
			  const struct policy_client *c, char *why, size_t cap);

/* Referring a client to a program, recording its jobs: a GGZ party of the
 * case (it registered the client or runs a program the client is in). */
int policy_refer(const struct journal_actor *a, const struct policy_client *c,
		 char *why, size_t cap);
int policy_record_job(const struct journal_actor *a,
		      const struct policy_client *c, char *why, size_t cap);

/* Moving a trajectory to state `to`: the GGZ that runs the program;
 * cancelling also the referrer. c is the trajectory's client: a caller that
 * may not see it is told so. */
int policy_move_trajectory(const struct journal_actor *a,
			   const struct policy_client *c,
			   const struct policy_trajectory *t,
			   Ipsnet__V1__TrajectoryStatus to, char *why,
			   size_t cap);

/* Asking a funder for funding of a trajectory: the referrer, the program's
 * GGZ or the client's registering GGZ. */
int policy_request_funding(const struct journal_actor *a,
			   const struct policy_client *c,
			   const struct policy_trajectory *t, char *why,
			   size_t cap);

/* Deciding on a funding request: APPROVED / REJECTED by the addressed
 * funder, while the client's consent for it is live (for funding from
 * outside the network, OTHER: by the GGZ that asked); WITHDRAWN by the GGZ
 * that asked. What the GGZ that asked may do, the GGZ that runs the
 * trajectory's program now (runs_program; NULL or "": unknown) may do too:
 * after a program is handed over, the one that asked may be no party of
 * the case any more. */
int policy_decide_funding(const struct journal_actor *a,
			  const struct policy_client *c, const char *funder,
			  const char *requested_by, const char *runs_program,
			  Ipsnet__V1__FundingStatus decision, char *why,
			  size_t cap);

/* Adding or changing a program: NETWORK for any GGZ, a GGZ for its own. */
int policy_put_program(const struct journal_actor *a, const char *owner,
		       char *why, size_t cap);

/* Recording a fidelity review of a program owned by owner: NETWORK (an
 * independent review) or the owner (a self-assessment); *independent says
 * which. */
int policy_record_fidelity(const struct journal_actor *a, const char *owner,
			   bool *independent, char *why, size_t cap);

#endif
