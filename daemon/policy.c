#include "policy.h"

#include <stdio.h>
#include <string.h>

#include "ipsnet_errors.h"

static int refuse(char *why, size_t cap, const char *sentence)
{
	snprintf(why, cap, "%s", sentence);
	return IPSNET_EPERMISSION;
}

int policy_register_client(const struct journal_actor *a, char *why,
			   size_t cap)
{
	if (a->org_kind != ORG_KIND_GGZ)
		return refuse(why, cap,
			      "only a mental-health institution (GGZ) "
			      "registers clients");
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
