#include "policy.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ipsnet_errors.h"

/* The reasons a refusal gives. None of them says whether the client
 * exists: a caller that may not see a client hears the same sentence
 * either way. */
#define NOT_YOUR_CLIENT                                                    \
	"not your client: your organisation did not register this client " \
	"and runs no program the client was referred to"
#define NOT_ADDRESSED                                                      \
	"not the addressed funder: no funding request for this client is " \
	"addressed to your organisation"
#define NO_CONSENT                                                          \
	"no consent: the client has not consented (or no longer consents) " \
	"to share with your organisation"
#define AGGREGATES_ONLY                                                \
	"the network operator sees aggregates only, never a client's " \
	"personal data"

static int refuse(char *why, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int refuse(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return IPSNET_EPERMISSION;
}

static bool is_funder(const struct journal_actor *a)
{
	return a->org_kind == ORG_KIND_MUNICIPALITY ||
	       a->org_kind == ORG_KIND_UWV;
}

static bool registered_it(const struct journal_actor *a,
			  const struct policy_client *c)
{
	return c->exists && strcmp(c->registered_by, a->org) == 0;
}

/* A GGZ is a party of a case when it registered the client or runs a
 * program the client was referred to. */
static bool ggz_party(const struct journal_actor *a,
		      const struct policy_client *c)
{
	return a->org_kind == ORG_KIND_GGZ && c->exists &&
	       (registered_it(a, c) || c->in_own_program);
}

/* ---- reads ------------------------------------------------------------- */

int policy_see_client(const struct journal_actor *a,
		      const struct policy_client *c, enum policy_view *view,
		      char *why, size_t cap)
{
	*view = POLICY_VIEW_NONE;
	switch (a->org_kind) {
	case ORG_KIND_GGZ:
		if (!ggz_party(a, c))
			return refuse(why, cap, NOT_YOUR_CLIENT);
		*view = POLICY_VIEW_GGZ;
		return 0;
	case ORG_KIND_MUNICIPALITY:
	case ORG_KIND_UWV:
		if (!c->exists || !c->funding_addressed)
			return refuse(why, cap, NOT_ADDRESSED);
		if (!c->consent_live)
			return refuse(why, cap, NO_CONSENT);
		*view = POLICY_VIEW_FUNDER;
		return 0;
	case ORG_KIND_NETWORK:
		return refuse(why, cap, AGGREGATES_ONLY);
	default:
		return refuse(why, cap, "your organisation has no known kind");
	}
}

bool policy_view_has_note(enum policy_view v)
{
	return v == POLICY_VIEW_GGZ;
}

bool policy_view_has_registration(enum policy_view v)
{
	return v == POLICY_VIEW_GGZ;
}

bool policy_view_has_consent(const struct journal_actor *a, enum policy_view v,
			     const char *recipient)
{
	return v == POLICY_VIEW_GGZ ||
	       (v == POLICY_VIEW_FUNDER && strcmp(recipient, a->org) == 0);
}

bool policy_view_has_funding(const struct journal_actor *a, enum policy_view v,
			     const char *funder)
{
	return v == POLICY_VIEW_GGZ ||
	       (v == POLICY_VIEW_FUNDER && strcmp(funder, a->org) == 0);
}

int policy_find_client(const struct journal_actor *a, char *why, size_t cap)
{
	if (a->org_kind != ORG_KIND_GGZ)
		return refuse(why, cap,
			      "finding a client by BSN is for the GGZ that "
			      "registered the client");
	return 0;
}

int policy_list_funding(const struct journal_actor *a, char *why, size_t cap)
{
	if (a->org_kind == ORG_KIND_NETWORK)
		return refuse(why, cap, AGGREGATES_ONLY);
	if (a->org_kind != ORG_KIND_GGZ && !is_funder(a))
		return refuse(why, cap, "your organisation has no known kind");
	return 0;
}

int policy_list_programs(const struct journal_actor *a, char *why, size_t cap)
{
	return 0;
}

int policy_audit_query(const struct journal_actor *a,
		       const struct policy_client *client, char *why,
		       size_t cap)
{
	if (a->org_kind == ORG_KIND_NETWORK)
		return 0;
	if (client == NULL)
		return refuse(why, cap,
			      a->org_kind == ORG_KIND_GGZ
				  ? "only the network operator reads the audit "
				    "trail of every client; name one of your "
				    "clients"
				  : "the audit trail is read by the GGZ that "
				    "registered a client and by the network "
				    "operator");
	if (a->org_kind == ORG_KIND_GGZ && registered_it(a, client))
		return 0;
	return refuse(why, cap,
		      "the audit trail of a client is read by the GGZ that "
		      "registered the client and by the network operator");
}

/* ---- changes ----------------------------------------------------------- */

int policy_register_client(const struct journal_actor *a, char *why, size_t cap)
{
	if (a->org_kind != ORG_KIND_GGZ)
		return refuse(why, cap,
			      "only a mental-health institution (GGZ) "
			      "registers clients");
	return 0;
}

int policy_update_client(const struct journal_actor *a,
			 const struct policy_client *c, char *why, size_t cap)
{
	if (a->org_kind != ORG_KIND_GGZ)
		return refuse(why, cap,
			      "only the GGZ that registered a client changes "
			      "its registration");
	if (!ggz_party(a, c))
		return refuse(why, cap, NOT_YOUR_CLIENT);
	if (!registered_it(a, c))
		return refuse(why, cap,
			      "only the GGZ that registered this client (%s) "
			      "changes its registration",
			      c->registered_by);
	return 0;
}

int policy_record_consent(const struct journal_actor *a,
			  const struct policy_client *c, char *why, size_t cap)
{
	if (a->org_kind != ORG_KIND_GGZ)
		return refuse(why, cap,
			      "consent is recorded by the GGZ that registered "
			      "the client");
	if (!ggz_party(a, c))
		return refuse(why, cap, NOT_YOUR_CLIENT);
	if (!registered_it(a, c))
		return refuse(why, cap,
			      "consent is recorded by the GGZ that registered "
			      "this client (%s)",
			      c->registered_by);
	return 0;
}

int policy_refer(const struct journal_actor *a, const struct policy_client *c,
		 char *why, size_t cap)
{
	if (a->org_kind != ORG_KIND_GGZ)
		return refuse(why, cap,
			      "only a mental-health institution (GGZ) refers "
			      "a client to an IPS program");
	if (!ggz_party(a, c))
		return refuse(why, cap, NOT_YOUR_CLIENT);
	return 0;
}

int policy_record_job(const struct journal_actor *a,
		      const struct policy_client *c, char *why, size_t cap)
{
	if (a->org_kind != ORG_KIND_GGZ)
		return refuse(why, cap,
			      "jobs are recorded by the client's GGZ");
	if (!ggz_party(a, c))
		return refuse(why, cap, NOT_YOUR_CLIENT);
	return 0;
}

int policy_move_trajectory(const struct journal_actor *a,
			   const struct policy_client *c,
			   const struct policy_trajectory *t,
			   Ipsnet__V1__TrajectoryStatus to, char *why,
			   size_t cap)
{
	bool runs_it = strcmp(t->program_owner, a->org) == 0;
	bool referred_it = strcmp(t->referrer, a->org) == 0;

	if (a->org_kind != ORG_KIND_GGZ)
		return refuse(why, cap,
			      "a trajectory is moved by the GGZ that runs its "
			      "program");
	if (!ggz_party(a, c))
		return refuse(why, cap, NOT_YOUR_CLIENT);
	if (to == IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_CANCELLED) {
		if (runs_it || referred_it)
			return 0;
		return refuse(
		    why, cap,
		    "a referral is cancelled by the GGZ that referred "
		    "(%s) or the GGZ that runs the program (%s)",
		    t->referrer, t->program_owner);
	}
	if (!runs_it)
		return refuse(why, cap,
			      "only the GGZ that runs the program (%s) "
			      "accepts, declines, starts, holds, resumes or "
			      "closes a trajectory",
			      t->program_owner);
	return 0;
}

int policy_request_funding(const struct journal_actor *a,
			   const struct policy_client *c,
			   const struct policy_trajectory *t, char *why,
			   size_t cap)
{
	if (a->org_kind != ORG_KIND_GGZ)
		return refuse(why, cap,
			      "only a mental-health institution (GGZ) asks a "
			      "funder for funding");
	if (!ggz_party(a, c))
		return refuse(why, cap, NOT_YOUR_CLIENT);
	if (strcmp(t->referrer, a->org) != 0 &&
	    strcmp(t->program_owner, a->org) != 0 && !registered_it(a, c))
		return refuse(why, cap,
			      "funding for this trajectory is asked by the GGZ "
			      "that referred (%s) or runs the program (%s)",
			      t->referrer, t->program_owner);
	return 0;
}

int policy_decide_funding(const struct journal_actor *a,
			  const struct policy_client *c, const char *funder,
			  const char *requested_by, const char *runs_program,
			  Ipsnet__V1__FundingStatus decision, char *why,
			  size_t cap)
{
	bool asker =
	    strcmp(requested_by, a->org) == 0 ||
	    (runs_program != NULL && strcmp(runs_program, a->org) == 0);
	if (decision == IPSNET__V1__FUNDING_STATUS__FUNDING_WITHDRAWN) {
		if (a->org_kind != ORG_KIND_GGZ)
			return refuse(why, cap,
				      "a funding request is withdrawn by the "
				      "GGZ that asked for it");
		if (!ggz_party(a, c))
			return refuse(why, cap, NOT_YOUR_CLIENT);
		if (!asker)
			return refuse(why, cap,
				      "only the GGZ that asked for this "
				      "funding (%s), or the one that runs its "
				      "program now, withdraws it",
				      requested_by);
		return 0;
	}
	if (c->exists && funder[0] == '\0' && ggz_party(a, c)) {
		/* OTHER: the funder is outside the network, so the GGZ that
		 * asked (or runs the program now) records its decision. */
		if (asker)
			return 0;
		return refuse(
		    why, cap,
		    "a decision on funding from outside the network "
		    "is recorded by the GGZ that asked for it (%s) or "
		    "the one that runs its program now",
		    requested_by);
	}
	if (a->org_kind == ORG_KIND_GGZ || a->org_kind == ORG_KIND_NETWORK)
		return refuse(why, cap,
			      "only the addressed funder approves or rejects a "
			      "funding request");
	if (!c->exists || strcmp(funder, a->org) != 0)
		return refuse(why, cap,
			      "not the addressed funder: this funding request "
			      "is not addressed to your organisation");
	if (!c->consent_live)
		return refuse(why, cap, NO_CONSENT);
	return 0;
}

int policy_put_program(const struct journal_actor *a, const char *owner,
		       char *why, size_t cap)
{
	if (a->org_kind == ORG_KIND_NETWORK)
		return 0;
	if (a->org_kind == ORG_KIND_GGZ && strcmp(a->org, owner) == 0)
		return 0;
	return refuse(why, cap,
		      "programs are managed by their own GGZ or by the "
		      "network operator");
}

int policy_record_fidelity(const struct journal_actor *a, const char *owner,
			   bool *independent, char *why, size_t cap)
{
	*independent = false;
	if (a->org_kind == ORG_KIND_NETWORK) {
		*independent = true;
		return 0;
	}
	if (a->org_kind == ORG_KIND_GGZ && strcmp(a->org, owner) == 0)
		return 0;
	return refuse(why, cap,
		      "a fidelity review is recorded by the network operator "
		      "(independent) or by the program's own GGZ "
		      "(self-assessment)");
}
