/* The access matrix (daemon/policy) and the state machines (daemon/apply)
 * as pure functions: every organisation kind against the facts that
 * decide, and every pair of states. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "apply.h"
#include "ipsnet_errors.h"
#include "policy.h"
#include "util.h"

#define TS(name) IPSNET__V1__TRAJECTORY_STATUS__TRAJECTORY_##name
#define FS(name) IPSNET__V1__FUNDING_STATUS__FUNDING_##name

static struct journal_actor actor(const char *org, enum org_kind kind)
{
	struct journal_actor a;
	memset(&a, 0, sizeof(a));
	util_strlcpy(a.org, org, sizeof(a.org));
	a.org_kind = kind;
	util_strlcpy(a.user, "someone", sizeof(a.user));
	return a;
}

static struct policy_client client(const char *registered_by, bool in_own,
				   bool addressed, bool consent)
{
	struct policy_client c;
	memset(&c, 0, sizeof(c));
	c.exists = true;
	util_strlcpy(c.registered_by, registered_by, sizeof(c.registered_by));
	c.in_own_program = in_own;
	c.funding_addressed = addressed;
	c.consent_live = consent;
	return c;
}

static const struct policy_client no_such_client = {0};

/* ---- seeing a client --------------------------------------------------- */

static void test_see_client_matrix(void **state)
{
	static const struct {
		const char *org;
		enum org_kind kind;
		const char *registered_by;
		bool in_own, addressed, consent;
		int want_err;
		enum policy_view want_view;
		const char *why; /* words the refusal holds */
	} rows[] = {
	    /* A GGZ: its own registrations and referrals to its programs. */
	    {"ggz-a", ORG_KIND_GGZ, "ggz-a", false, false, false, 0,
	     POLICY_VIEW_GGZ, NULL},
	    {"ggz-a", ORG_KIND_GGZ, "ggz-b", true, false, false, 0,
	     POLICY_VIEW_GGZ, NULL},
	    {"ggz-a", ORG_KIND_GGZ, "ggz-b", false, false, false,
	     IPSNET_EPERMISSION, POLICY_VIEW_NONE, "not your client"},
	    /* Consent and funding do not open a case to a GGZ. */
	    {"ggz-a", ORG_KIND_GGZ, "ggz-b", false, true, true,
	     IPSNET_EPERMISSION, POLICY_VIEW_NONE, "not your client"},
	    /* A funder: addressed and with live consent, both. */
	    {"gm0363", ORG_KIND_MUNICIPALITY, "ggz-a", false, true, true, 0,
	     POLICY_VIEW_FUNDER, NULL},
	    {"gm0363", ORG_KIND_MUNICIPALITY, "ggz-a", false, true, false,
	     IPSNET_EPERMISSION, POLICY_VIEW_NONE, "no consent"},
	    {"gm0363", ORG_KIND_MUNICIPALITY, "ggz-a", false, false, true,
	     IPSNET_EPERMISSION, POLICY_VIEW_NONE, "not the addressed funder"},
	    {"gm0363", ORG_KIND_MUNICIPALITY, "ggz-a", true, false, false,
	     IPSNET_EPERMISSION, POLICY_VIEW_NONE, "not the addressed funder"},
	    {"uwv", ORG_KIND_UWV, "ggz-a", false, true, true, 0,
	     POLICY_VIEW_FUNDER, NULL},
	    {"uwv", ORG_KIND_UWV, "ggz-a", false, true, false,
	     IPSNET_EPERMISSION, POLICY_VIEW_NONE, "no consent"},
	    {"uwv", ORG_KIND_UWV, "ggz-a", false, false, true,
	     IPSNET_EPERMISSION, POLICY_VIEW_NONE, "not the addressed funder"},
	    /* NETWORK: never. */
	    {"network", ORG_KIND_NETWORK, "ggz-a", true, true, true,
	     IPSNET_EPERMISSION, POLICY_VIEW_NONE, "aggregates only"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		struct journal_actor a = actor(rows[i].org, rows[i].kind);
		struct policy_client c =
		    client(rows[i].registered_by, rows[i].in_own,
			   rows[i].addressed, rows[i].consent);
		enum policy_view v = POLICY_VIEW_GGZ;
		char why[256] = "";
		int err = policy_see_client(&a, &c, &v, why, sizeof(why));
		if (err != rows[i].want_err || v != rows[i].want_view ||
		    (rows[i].why != NULL && strstr(why, rows[i].why) == NULL))
			fail_msg("row %zu (%s): got %d view %d '%s'", i,
				 rows[i].org, err, v, why);
	}
}

/* A caller that may not see a client hears the same sentence whether the
 * client exists or not. */
static void test_refusal_is_the_same_for_a_missing_client(void **state)
{
	static const struct {
		const char *org;
		enum org_kind kind;
	} who[] = {
	    {"ggz-a", ORG_KIND_GGZ},
	    {"gm0363", ORG_KIND_MUNICIPALITY},
	    {"uwv", ORG_KIND_UWV},
	    {"network", ORG_KIND_NETWORK},
	};
	for (size_t i = 0; i < ARRAY_SIZE(who); i++) {
		struct journal_actor a = actor(who[i].org, who[i].kind);
		struct policy_client hidden =
		    client("ggz-b", false, false, false);
		enum policy_view v;
		char why1[256], why2[256];
		assert_int_equal(
		    policy_see_client(&a, &hidden, &v, why1, sizeof(why1)),
		    IPSNET_EPERMISSION);
		assert_int_equal(policy_see_client(&a, &no_such_client, &v,
						   why2, sizeof(why2)),
				 IPSNET_EPERMISSION);
		assert_string_equal(why1, why2);

		/* The same for changes. */
		assert_int_equal(
		    policy_update_client(&a, &hidden, why1, sizeof(why1)),
		    IPSNET_EPERMISSION);
		assert_int_equal(policy_update_client(&a, &no_such_client, why2,
						      sizeof(why2)),
				 IPSNET_EPERMISSION);
		assert_string_equal(why1, why2);
		assert_int_equal(
		    policy_decide_funding(&a, &hidden, "gm0599", "ggz-b", NULL,
					  FS(APPROVED), why1, sizeof(why1)),
		    IPSNET_EPERMISSION);
		assert_int_equal(policy_decide_funding(&a, &no_such_client, "",
						       "", NULL, FS(APPROVED),
						       why2, sizeof(why2)),
				 IPSNET_EPERMISSION);
		assert_string_equal(why1, why2);
	}
}

static void test_view_cuts(void **state)
{
	struct journal_actor gm = actor("gm0363", ORG_KIND_MUNICIPALITY);
	assert_true(policy_view_has_note(POLICY_VIEW_GGZ));
	assert_false(policy_view_has_note(POLICY_VIEW_FUNDER));
	assert_false(policy_view_has_note(POLICY_VIEW_NONE));
	assert_true(policy_view_has_registration(POLICY_VIEW_GGZ));
	assert_false(policy_view_has_registration(POLICY_VIEW_FUNDER));
	/* A funder sees the consent given to it and the requests addressed
	 * to it, never those of others. */
	assert_true(policy_view_has_consent(&gm, POLICY_VIEW_FUNDER, "gm0363"));
	assert_false(policy_view_has_consent(&gm, POLICY_VIEW_FUNDER, "uwv"));
	assert_true(policy_view_has_funding(&gm, POLICY_VIEW_FUNDER, "gm0363"));
	assert_false(policy_view_has_funding(&gm, POLICY_VIEW_FUNDER, "uwv"));
	assert_false(policy_view_has_funding(&gm, POLICY_VIEW_FUNDER, ""));
	assert_true(policy_view_has_consent(&gm, POLICY_VIEW_GGZ, "uwv"));
	assert_true(policy_view_has_funding(&gm, POLICY_VIEW_GGZ, ""));
	assert_false(policy_view_has_consent(&gm, POLICY_VIEW_NONE, "gm0363"));
}

/* ---- reads ------------------------------------------------------------- */

static void test_reads_by_kind(void **state)
{
	struct journal_actor ggz = actor("ggz-a", ORG_KIND_GGZ);
	struct journal_actor gm = actor("gm0363", ORG_KIND_MUNICIPALITY);
	struct journal_actor uwv = actor("uwv", ORG_KIND_UWV);
	struct journal_actor net = actor("network", ORG_KIND_NETWORK);
	struct policy_client own = client("ggz-a", false, false, false);
	struct policy_client referred = client("ggz-b", true, false, false);
	struct policy_client funded = client("ggz-b", false, true, true);
	char why[256];

	assert_int_equal(policy_find_client(&ggz, why, sizeof(why)), 0);
	assert_int_equal(policy_find_client(&gm, why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_int_equal(policy_find_client(&net, why, sizeof(why)),
			 IPSNET_EPERMISSION);

	assert_int_equal(policy_list_funding(&ggz, why, sizeof(why)), 0);
	assert_int_equal(policy_list_funding(&gm, why, sizeof(why)), 0);
	assert_int_equal(policy_list_funding(&uwv, why, sizeof(why)), 0);
	assert_int_equal(policy_list_funding(&net, why, sizeof(why)),
			 IPSNET_EPERMISSION);

	assert_int_equal(policy_list_programs(&net, why, sizeof(why)), 0);
	assert_int_equal(policy_list_programs(&gm, why, sizeof(why)), 0);

	/* The audit trail: the client's registering GGZ and NETWORK. */
	assert_int_equal(policy_audit_query(&ggz, &own, why, sizeof(why)), 0);
	assert_int_equal(policy_audit_query(&ggz, &referred, why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_int_equal(policy_audit_query(&gm, &funded, why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_int_equal(policy_audit_query(&ggz, NULL, why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_non_null(strstr(why, "every client"));
	/* A funder is not told to name one of its clients: it reads none. */
	assert_int_equal(policy_audit_query(&gm, NULL, why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_null(strstr(why, "name one of your"));
	assert_non_null(strstr(why, "the GGZ that registered a client"));
	assert_int_equal(policy_audit_query(&net, &own, why, sizeof(why)), 0);
	assert_int_equal(policy_audit_query(&net, NULL, why, sizeof(why)), 0);
	assert_int_equal(
	    policy_audit_query(&net, &no_such_client, why, sizeof(why)), 0);
}

/* ---- changes ----------------------------------------------------------- */

static void test_client_changes(void **state)
{
	struct journal_actor ggz = actor("ggz-a", ORG_KIND_GGZ);
	struct journal_actor gm = actor("gm0363", ORG_KIND_MUNICIPALITY);
	struct journal_actor net = actor("network", ORG_KIND_NETWORK);
	struct policy_client own = client("ggz-a", false, false, false);
	struct policy_client referred = client("ggz-b", true, false, false);
	struct policy_client funded = client("ggz-b", false, true, true);
	char why[256];

	assert_int_equal(policy_register_client(&ggz, why, sizeof(why)), 0);
	assert_int_equal(policy_register_client(&gm, why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_int_equal(policy_register_client(&net, why, sizeof(why)),
			 IPSNET_EPERMISSION);

	/* The registration and the consent: the registering GGZ only. */
	assert_int_equal(policy_update_client(&ggz, &own, why, sizeof(why)), 0);
	assert_int_equal(
	    policy_update_client(&ggz, &referred, why, sizeof(why)),
	    IPSNET_EPERMISSION);
	assert_non_null(strstr(why, "ggz-b"));
	assert_int_equal(policy_update_client(&gm, &funded, why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_int_equal(policy_record_consent(&ggz, &own, why, sizeof(why)),
			 0);
	assert_int_equal(
	    policy_record_consent(&ggz, &referred, why, sizeof(why)),
	    IPSNET_EPERMISSION);
	assert_int_equal(policy_record_consent(&gm, &funded, why, sizeof(why)),
			 IPSNET_EPERMISSION);

	/* Referrals and jobs: any GGZ party of the case. */
	assert_int_equal(policy_refer(&ggz, &own, why, sizeof(why)), 0);
	assert_int_equal(policy_refer(&ggz, &referred, why, sizeof(why)), 0);
	assert_int_equal(policy_refer(&ggz, &funded, why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_int_equal(policy_refer(&gm, &funded, why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_int_equal(policy_record_job(&ggz, &referred, why, sizeof(why)),
			 0);
	assert_int_equal(policy_record_job(&gm, &funded, why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_int_equal(policy_record_job(&net, &own, why, sizeof(why)),
			 IPSNET_EPERMISSION);
}

static void test_trajectory_moves_by_party(void **state)
{
	struct journal_actor runs = actor("ggz-runs", ORG_KIND_GGZ);
	struct journal_actor referred_it = actor("ggz-refers", ORG_KIND_GGZ);
	struct journal_actor gm = actor("gm0363", ORG_KIND_MUNICIPALITY);
	struct policy_trajectory t;
	char why[256];

	util_strlcpy(t.referrer, "ggz-refers", sizeof(t.referrer));
	util_strlcpy(t.program_owner, "ggz-runs", sizeof(t.program_owner));
	struct policy_client for_runs =
	    client("ggz-refers", true, false, false);
	struct policy_client for_referrer =
	    client("ggz-refers", false, false, false);
	struct policy_client for_gm = client("ggz-refers", false, true, true);

	for (int to = TS(ACCEPTED); to <= TS(CANCELLED); to++) {
		/* The program's GGZ makes every move. */
		assert_int_equal(policy_move_trajectory(&runs, &for_runs, &t,
							to, why, sizeof(why)),
				 0);
		/* The referrer only cancels. */
		assert_int_equal(policy_move_trajectory(&referred_it,
							&for_referrer, &t, to,
							why, sizeof(why)),
				 to == TS(CANCELLED) ? 0 : IPSNET_EPERMISSION);
		/* A funder never. */
		assert_int_equal(policy_move_trajectory(&gm, &for_gm, &t, to,
							why, sizeof(why)),
				 IPSNET_EPERMISSION);
	}
	/* Asking for funding: referrer, program or registering GGZ. */
	assert_int_equal(
	    policy_request_funding(&runs, &for_runs, &t, why, sizeof(why)), 0);
	assert_int_equal(policy_request_funding(&referred_it, &for_referrer, &t,
						why, sizeof(why)),
			 0);
	assert_int_equal(
	    policy_request_funding(&gm, &for_gm, &t, why, sizeof(why)),
	    IPSNET_EPERMISSION);
}

static void test_funding_decisions_by_party(void **state)
{
	struct journal_actor ggz = actor("ggz-a", ORG_KIND_GGZ);
	struct journal_actor ggz_b = actor("ggz-b", ORG_KIND_GGZ);
	struct journal_actor gm = actor("gm0363", ORG_KIND_MUNICIPALITY);
	struct journal_actor gm2 = actor("gm0599", ORG_KIND_MUNICIPALITY);
	struct journal_actor uwv = actor("uwv", ORG_KIND_UWV);
	struct journal_actor net = actor("network", ORG_KIND_NETWORK);
	struct policy_client c = client("ggz-a", false, true, true);
	struct policy_client c_no_consent = client("ggz-a", false, true, false);
	struct policy_client c_ggz_b = client("ggz-a", true, false, false);
	char why[256];

	/* APPROVED / REJECTED: the addressed funder, with live consent. */
	for (int d = FS(APPROVED); d <= FS(REJECTED); d++) {
		assert_int_equal(policy_decide_funding(&gm, &c, "gm0363",
						       "ggz-a", NULL, d, why,
						       sizeof(why)),
				 0);
		assert_int_equal(policy_decide_funding(&gm, &c_no_consent,
						       "gm0363", "ggz-a", NULL,
						       d, why, sizeof(why)),
				 IPSNET_EPERMISSION);
		assert_non_null(strstr(why, "no consent"));
		assert_int_equal(policy_decide_funding(&gm2, &c, "gm0363",
						       "ggz-a", NULL, d, why,
						       sizeof(why)),
				 IPSNET_EPERMISSION);
		assert_non_null(strstr(why, "not the addressed funder"));
		assert_int_equal(policy_decide_funding(&uwv, &c, "gm0363",
						       "ggz-a", NULL, d, why,
						       sizeof(why)),
				 IPSNET_EPERMISSION);
		assert_int_equal(policy_decide_funding(&ggz, &c, "gm0363",
						       "ggz-a", NULL, d, why,
						       sizeof(why)),
				 IPSNET_EPERMISSION);
		assert_int_equal(policy_decide_funding(&net, &c, "gm0363",
						       "ggz-a", NULL, d, why,
						       sizeof(why)),
				 IPSNET_EPERMISSION);
	}
	/* OTHER (no funder in the network): the GGZ that asked records the
	 * outside funder's decision; nobody else does. */
	for (int d = FS(APPROVED); d <= FS(REJECTED); d++) {
		assert_int_equal(policy_decide_funding(&ggz, &c, "", "ggz-a",
						       NULL, d, why,
						       sizeof(why)),
				 0);
		assert_int_equal(policy_decide_funding(&ggz_b, &c_ggz_b, "",
						       "ggz-a", NULL, d, why,
						       sizeof(why)),
				 IPSNET_EPERMISSION);
		assert_non_null(strstr(why, "the GGZ that asked"));
		/* ... or the one that runs the trajectory's program now */
		assert_int_equal(policy_decide_funding(&ggz_b, &c_ggz_b, "",
						       "ggz-a", "ggz-b", d, why,
						       sizeof(why)),
				 0);
		assert_int_equal(policy_decide_funding(&gm, &c, "", "ggz-a",
						       NULL, d, why,
						       sizeof(why)),
				 IPSNET_EPERMISSION);
		assert_int_equal(policy_decide_funding(&net, &c, "", "ggz-a",
						       NULL, d, why,
						       sizeof(why)),
				 IPSNET_EPERMISSION);
	}
	/* WITHDRAWN: the GGZ that asked, and no one else. */
	assert_int_equal(policy_decide_funding(&ggz, &c, "gm0363", "ggz-a",
					       NULL, FS(WITHDRAWN), why,
					       sizeof(why)),
			 0);
	assert_int_equal(policy_decide_funding(&ggz_b, &c_ggz_b, "gm0363",
					       "ggz-a", NULL, FS(WITHDRAWN),
					       why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_int_equal(policy_decide_funding(&ggz_b, &c_ggz_b, "gm0363",
					       "ggz-a", "ggz-b", FS(WITHDRAWN),
					       why, sizeof(why)),
			 0);
	assert_int_equal(policy_decide_funding(&gm, &c, "gm0363", "ggz-a", NULL,
					       FS(WITHDRAWN), why, sizeof(why)),
			 IPSNET_EPERMISSION);
}

static void test_programs_and_fidelity(void **state)
{
	struct journal_actor ggz = actor("ggz-a", ORG_KIND_GGZ);
	struct journal_actor gm = actor("gm0363", ORG_KIND_MUNICIPALITY);
	struct journal_actor net = actor("network", ORG_KIND_NETWORK);
	bool independent;
	char why[256];

	assert_int_equal(policy_put_program(&ggz, "ggz-a", why, sizeof(why)),
			 0);
	assert_int_equal(policy_put_program(&ggz, "ggz-b", why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_int_equal(policy_put_program(&net, "ggz-b", why, sizeof(why)),
			 0);
	assert_int_equal(policy_put_program(&gm, "ggz-a", why, sizeof(why)),
			 IPSNET_EPERMISSION);

	assert_int_equal(policy_record_fidelity(&net, "ggz-a", &independent,
						why, sizeof(why)),
			 0);
	assert_true(independent);
	assert_int_equal(policy_record_fidelity(&ggz, "ggz-a", &independent,
						why, sizeof(why)),
			 0);
	assert_false(independent);
	assert_int_equal(policy_record_fidelity(&ggz, "ggz-b", &independent,
						why, sizeof(why)),
			 IPSNET_EPERMISSION);
	assert_int_equal(policy_record_fidelity(&gm, "ggz-a", &independent, why,
						sizeof(why)),
			 IPSNET_EPERMISSION);
}

/* ---- the state machines ------------------------------------------------ */

static void test_trajectory_state_machine_every_pair(void **state)
{
	/* DESIGN §2, written out independently of the daemon's table. */
	static const char *const allowed[] = {
	    "referred>accepted", "referred>declined",  "referred>cancelled",
	    "accepted>active",	 "accepted>cancelled", "active>on hold",
	    "active>closed",	 "on hold>active",     "on hold>closed",
	};
	size_t n_allowed = 0;
	for (int from = 0; from <= TS(CANCELLED) + 1; from++) {
		for (int to = 0; to <= TS(CANCELLED) + 1; to++) {
			char pair[64], why[256] = "";
			snprintf(pair, sizeof(pair), "%s>%s",
				 apply_trajectory_status_name(from),
				 apply_trajectory_status_name(to));
			bool want = false;
			for (size_t i = 0; i < ARRAY_SIZE(allowed); i++)
				want |= strcmp(pair, allowed[i]) == 0;
			int err =
			    apply_trajectory_move(from, to, why, sizeof(why));
			if (want) {
				n_allowed++;
				assert_int_equal(err, 0);
				continue;
			}
			if (err != IPSNET_EPRECONDITION)
				fail_msg("%s was allowed", pair);
			/* The sentence names both states. */
			assert_non_null(
			    strstr(why, apply_trajectory_status_name(from)));
			assert_non_null(
			    strstr(why, apply_trajectory_status_name(to)));
		}
	}
	assert_int_equal(n_allowed, ARRAY_SIZE(allowed));
}

static void test_funding_state_machine_every_pair(void **state)
{
	for (int from = 0; from <= FS(WITHDRAWN) + 1; from++) {
		for (int to = 0; to <= FS(WITHDRAWN) + 1; to++) {
			char why[256] = "";
			bool want = from == FS(REQUESTED) &&
				    (to == FS(APPROVED) || to == FS(REJECTED) ||
				     to == FS(WITHDRAWN));
			int err =
			    apply_funding_move(from, to, why, sizeof(why));
			assert_int_equal(err, want ? 0 : IPSNET_EPRECONDITION);
			if (!want) {
				assert_non_null(strstr(
				    why, apply_funding_status_name(from)));
				assert_non_null(
				    strstr(why, apply_funding_status_name(to)));
			}
		}
	}
}

static void test_fidelity_bands(void **state)
{
	assert_string_equal(apply_fidelity_band(125), "exemplary");
	assert_string_equal(apply_fidelity_band(115), "exemplary");
	assert_string_equal(apply_fidelity_band(114), "good");
	assert_string_equal(apply_fidelity_band(100), "good");
	assert_string_equal(apply_fidelity_band(99), "fair");
	assert_string_equal(apply_fidelity_band(74), "fair");
	assert_string_equal(apply_fidelity_band(73), "not IPS");
	assert_string_equal(apply_fidelity_band(25), "not IPS");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_see_client_matrix),
	    cmocka_unit_test(test_refusal_is_the_same_for_a_missing_client),
	    cmocka_unit_test(test_view_cuts),
	    cmocka_unit_test(test_reads_by_kind),
	    cmocka_unit_test(test_client_changes),
	    cmocka_unit_test(test_trajectory_moves_by_party),
	    cmocka_unit_test(test_funding_decisions_by_party),
	    cmocka_unit_test(test_programs_and_fidelity),
	    cmocka_unit_test(test_trajectory_state_machine_every_pair),
	    cmocka_unit_test(test_funding_state_machine_every_pair),
	    cmocka_unit_test(test_fidelity_bands),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
