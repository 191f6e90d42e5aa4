/* Who may do and see what: the access matrix of DESIGN §1 as code. Every
 * apply and read function asks here; docs/access.md is the same matrix as a
 * table. Functions are pure: the caller gathers the facts (from the state
 * tables, inside its transaction) and policy decides. A refusal comes with
 * a sentence that says why without revealing what it protects. */
#ifndef IPSNETD_POLICY_H
#define IPSNETD_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "journal.h"

/* 0 when allowed, else IPSNET_EPERMISSION with why (size cap). */
int policy_register_client(const struct journal_actor *a, char *why,
			   size_t cap);

/* Adding or changing a program: NETWORK for any GGZ, a GGZ for its own. */
int policy_put_program(const struct journal_actor *a, const char *owner,
		       char *why, size_t cap);

#endif
