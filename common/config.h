/* Configuration files, read with inih.
 *
 * The daemon's file (deploy/ipsnetd.conf.example documents every key):
 *
 *   [server]
 *   listen = 127.0.0.1:7443
 *   database = var/ipsnet.db
 *   ca = var/dev/ca.crt
 *   cert = var/dev/server.crt
 *   key = var/dev/server.key
 *   crl = var/dev/crl.pem
 *   tls_min_version = 1.3          ; or 1.2
 *   max_connections = 1024
 *   max_connections_per_organisation = 256 ; past Hello, of one organisation
 *   max_frame_bytes = 1048576
 *   handshake_timeout_ms = 10000
 *   idle_timeout_ms = 300000
 *   max_inflight = 64
 *   send_buffer_bytes = 1048576    ; queued for a subscriber before it falls
 * back delivery_threads = 0           ; threads writing live events, the loop's
 *                                  ; included; 0: one per CPU
 *   log_level = info
 *
 *   [report]
 *   sustained_months = 6           ; a job this long is sustained employment
 *   small_count_threshold = 5      ; counts below it are shown as "<5"; 0: none
 *
 *   [organisation ggz-demo]
 *   kind = GGZ                     ; GGZ, MUNICIPALITY, UWV, NETWORK
 *   name = GGZ Demo
 *   region = 1                     ; labour-market region 1..35
 *   cbs_code = GM0363              ; MUNICIPALITY only
 *
 * Every key has an embedded default (config_defaults), so the daemon runs
 * without a file: the defaults are those of the development network under
 * ./var (README.md).
 *
 * A client profile (var/dev/profiles/NAME.ini,
 * ~/.config/ipsnet/profiles/NAME.ini):
 *
 *   [profile]
 *   server = 127.0.0.1:7443
 *   ca = /path/ca.crt
 *   cert = /path/ggz-demo.crt
 *   key = /path/ggz-demo.key
 *   user = j.jansen
 */
#ifndef IPSNET_CONFIG_H
#define IPSNET_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_PATH 1024
/* Organisations in the registry: the Netherlands' 342 municipalities and
 * the GGZs, UWV and the network fit many times over. */
#define CONFIG_MAX_ORGS 10000
#define ORG_ID_MAX 64
#define ORG_NAME_MAX 128

enum org_kind {
	ORG_KIND_NONE = 0,
	ORG_KIND_GGZ = 1,
	ORG_KIND_MUNICIPALITY = 2,
	ORG_KIND_UWV = 3,
	ORG_KIND_NETWORK = 4,
};

/* "GGZ" -> ORG_KIND_GGZ (case-insensitive); ORG_KIND_NONE if unknown. */
enum org_kind org_kind_parse(const char *s);
/* ORG_KIND_GGZ -> "GGZ"; "NONE" for anything else. */
const char *org_kind_name(enum org_kind kind);

struct org_config {
	char id[ORG_ID_MAX];   /* slug: [a-z0-9-], 1..63 chars */
	enum org_kind kind;
	char name[ORG_NAME_MAX];
	int region;            /* 1..35 */
	char cbs_code[8];      /* "GM0363" for a MUNICIPALITY, else "" */
};

struct server_config {
	char listen[128];      /* "127.0.0.1:7443" or "[::1]:7443" */
	char database[CONFIG_MAX_PATH];
	char ca[CONFIG_MAX_PATH];
	char cert[CONFIG_MAX_PATH];
	char key[CONFIG_MAX_PATH];
	char crl[CONFIG_MAX_PATH]; /* "" = no CRL file */
	int tls_min_version;   /* 12 or 13 */
	uint32_t max_connections;
	uint32_t max_connections_per_organisation;
	uint32_t max_frame_bytes;
	uint32_t handshake_timeout_ms;
	uint32_t idle_timeout_ms;
	uint32_t max_inflight;
	uint32_t send_buffer_bytes; /* 64 KiB..64 MiB */
	uint32_t delivery_threads;  /* 0..64; 0: one per CPU */
	char log_level[16];
	struct {
		uint32_t sustained_months;      /* 1..120 */
		uint32_t small_count_threshold; /* 0..1000; 0: no suppression */
	} report; /* [report]: the IPS monitor reports (docs/reports.md) */
	/* The organisations: n_orgs of them at orgs, an array of orgs_cap
	 * that c owns (config_free frees it). A copy of the struct by value
	 * borrows the array: only the original adds to it or frees it. */
	size_t n_orgs;
	size_t orgs_cap;
	struct org_config *orgs;
	bool demo_orgs; /* orgs are the embedded demo ones: no file, or a file
			 * that names no organisation */
};

/* Fills c with the embedded defaults, including the demo organisations
 * (ggz-demo, gm0363, uwv, network), in an array c owns: config_free it.
 * What c held is not read (nor freed). Returns 0, or IPSNET_ENOMEM when
 * the array cannot be had: c then has no organisation, which
 * config_validate refuses. */
int config_defaults(struct server_config *c);

/* Appends a copy of o to c's organisations. Returns 0, IPSNET_ECONFIG when
 * c has CONFIG_MAX_ORGS already, or IPSNET_ENOMEM. */
int config_add_org(struct server_config *c, const struct org_config *o);

/* Frees c's organisations (n_orgs and orgs_cap become 0, orgs NULL); the
 * other fields stay. c may be all zero. */
void config_free(struct server_config *c);

/* Reads path over the defaults. If the file has any [organisation ...]
 * section, the file's organisations replace the demo ones. c holds a
 * configuration (config_defaults, config_load) or its orgs are NULL: on
 * success c's organisations are freed and c gets the file's; on a failure
 * c is left as it was. On a bad file returns IPSNET_ECONFIG and writes one
 * sentence naming the file, the line and the problem into err (size
 * errlen), e.g.
 * "ipsnetd.conf:7: max_frame_bytes must be a number from 1024 to 67108864". */
int config_load(struct server_config *c, const char *path, char *err,
		size_t errlen);

/* Checks the values together (limits in range, every organisation complete,
 * ids unique). Same error form as config_load. config_load calls it. */
int config_validate(const struct server_config *c, char *err, size_t errlen);

/* Sets the [server] key name of c to value, as the file would (a value
 * given on the command line): 0, or IPSNET_ECONFIG with what is wrong in
 * why ("listen must be HOST:PORT ..."). */
int config_set_server_key(struct server_config *c, const char *name,
			  const char *value, char *why, size_t whylen);

/* An organisation id is 1..63 of [a-z0-9-], not starting with '-'. */
bool org_id_valid(const char *id);

struct client_profile {
	char server[128];
	char ca[CONFIG_MAX_PATH];
	char cert[CONFIG_MAX_PATH];
	char key[CONFIG_MAX_PATH];
	char user[128];
};

/* The caller's home folder: $HOME, or without it (cron, a service) the
 * account's; NULL when there is none. */
const char *config_home_folder(void);

/* Reads a profile file; keys not in the file are left as they are in p.
 * Paths in the file that are relative are taken relative to the file's
 * folder; a leading "~/" is the home folder ($HOME, else the account's).
 * Errors as config_load. */
int profile_load(struct client_profile *p, const char *path, char *err,
		 size_t errlen);

/* Splits "host:port" or "[v6]:port" into host (no brackets) and port.
 * Returns 0 or IPSNET_EINVAL. */
int config_split_hostport(const char *s, char *host, size_t hostlen,
			  int *port);

#endif
