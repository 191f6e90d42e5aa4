/* A synthetic IPS network for testing the reports, deterministic from a
 * seed: 35 labour-market regions, dozens of programs run by a handful of
 * GGZs, municipalities and UWV as funders, and thousands of clients with
 * trajectories (referrals that are declined or cancelled, starts, holds,
 * closures, trajectories that span years and a few that overlap in two
 * programs), funding requests (approved, rejected, withdrawn, still open,
 * approved twice after a change of benefit), jobs (competitive or not,
 * some that start before the trajectory, some exactly at the sustained
 * threshold) and fidelity reviews.
 *
 * The generator knows the true value of every report cell: gen_truth works
 * it out from its own records with its own, deliberately plain, arithmetic
 * on date strings — nothing of daemon/report.c — so that the report can be
 * held against it.
 *
 * Two ways into a database: gen_fill_db writes the state tables directly
 * (unit tests, the benchmark); gen_drive (report_gen_drive.c) sends every
 * change to a running ipsnetd through libipsnet, as the organisations
 * would. In drive mode the generator keeps to what the daemon accepts
 * (gen_options.daemon): a request to OTHER is decided by the GGZ that asked
 * for it, and decisions are dated the day they are sent. */
#ifndef IPSNET_REPORT_GEN_H
#define IPSNET_REPORT_GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <sqlite3.h>

#include "config.h"

struct gen_options {
	uint64_t seed;
	uint32_t clients;
	uint32_t programs;	   /* at least 35: one per region, then more */
	uint32_t ggz;		   /* GGZ organisations running the programs */
	int first_year, last_year; /* the years with trajectories */
	uint32_t sustained_months; /* the truth's threshold (6) */
	bool daemon;		   /* only what ipsnetd accepts (gen_drive) */
};

/* 3000 clients, 48 programs, 6 GGZs, 2021..2024, 6 months, seed 1. */
struct gen_options gen_default_options(void);

struct gen;

/* NULL when out of memory. */
struct gen *gen_new(const struct gen_options *o);
void gen_free(struct gen *g);

/* ---- the organisations, for a daemon's config and certificates ---------- */

struct gen_org {
	char id[ORG_ID_MAX];
	enum org_kind kind;
	char name[64];
	int region;
	char cbs[8]; /* MUNICIPALITY: "GM0363" */
};

size_t gen_n_orgs(const struct gen *g);
const struct gen_org *gen_org(const struct gen *g, size_t i);

/* ---- filling a database ------------------------------------------------- */

/* Writes the organisations and every entity straight into the state tables
 * of db (made by store_migrate), in one transaction. 0, or -1 with err. */
int gen_fill_db(const struct gen *g, sqlite3 *db, char *err, size_t errlen);

/* Drives a running daemon (report_gen_drive.c). certs holds ca.crt and
 * ORG.crt / ORG.key for every organisation of gen_org. */
struct gen_drive_options {
	const char *server; /* "127.0.0.1:PORT" */
	const char *certs;
	unsigned clients_in_flight; /* clients worked on at once (200) */
	unsigned per_connection;    /* requests in flight per connection (48) */
};

struct gen_drive_stats {
	uint64_t changes;
	double seconds;
};

int gen_drive(const struct gen *g, const struct gen_drive_options *o,
	      struct gen_drive_stats *stats, char *err, size_t errlen);

/* ---- the truth ---------------------------------------------------------- */

enum gen_dim { GEN_NATIONAL, GEN_REGION, GEN_PROGRAM, GEN_FUNDER };

#define GEN_N_METRICS 8 /* the order of the ReportFigures counts: */
enum gen_metric {
	GEN_ENROLLED,
	GEN_STARTED,
	GEN_EMPLOYED,
	GEN_SUSTAINED,
	GEN_FUNDED_MUNICIPALITY,
	GEN_FUNDED_UWV,
	GEN_FUNDED_OTHER,
	GEN_UNFUNDED,
};

struct gen_cell {
	uint64_t n[GEN_N_METRICS];
	uint32_t programs, specialists;
};

/* The true figures of one cell for the period [from, to] (YYYY-MM-DD,
 * inclusive), as org (NULL: NETWORK) may see them: dim GEN_NATIONAL with
 * org NULL is the nation, with an org its scope; a region ("7"), a program
 * id, or a funder ("gm0363", "OTHER", "UNFUNDED") within that scope.
 * Returns 0, or -1 for a key the network does not have. */
int gen_truth(const struct gen *g, const char *from, const char *to,
	      const char *org, enum gen_dim dim, const char *key,
	      struct gen_cell *out);

/* The same for a calendar year. */
int gen_truth_year(const struct gen *g, int year, enum gen_dim dim,
		   const char *key, struct gen_cell *out);

/* How many rows NETWORK's breakdown by dim has. */
size_t gen_rows(const struct gen *g, enum gen_dim dim);

/* The data-quality counts that this (clean) network can have, for the
 * nation in [from, to]. */
struct gen_quality {
	uint64_t jobs_not_competitive, jobs_before_trajectory, funding_pending,
	    several_approved, clients_in_several_programs;
};
void gen_quality_truth(const struct gen *g, const char *from, const char *to,
		       struct gen_quality *out);

/* Fidelity: how many programs (of the nation) fall in each band by the
 * latest review up to cutoff: exemplary, good, fair, not IPS, not
 * reviewed. */
void gen_fidelity_truth(const struct gen *g, const char *cutoff,
			uint32_t bands[5]);

const char *gen_metric_name(int metric);
const char *gen_dim_name(enum gen_dim dim);

/* Numbers, for the test's log. */
struct gen_counts {
	size_t clients, trajectories, steps, fundings, jobs, reviews;
};
void gen_counts(const struct gen *g, struct gen_counts *out);

#endif
