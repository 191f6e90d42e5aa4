/* The daemon's configuration file and the client's profiles, read with inih.
 *
 * inih hands us key = value pairs but neither the line number nor section
 * names longer than 49 bytes (it cuts them). So we give it our own line
 * reader: it counts lines, reads [section] headers itself (and so sees every
 * section, also one without keys), refuses over-long lines and strips
 * leading blanks, which turns off inih's indented continuation lines: an
 * indented "key = value" is a key, never part of the value above.
 *
 * Everything is strict: an unknown section or key, a key set twice, a
 * number with trailing junk or out of range is an error with the file and
 * the line, because a typo that is silently ignored runs a network with a
 * setting nobody chose. */
#include "config.h"
#include "frame.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <ini.h>

#include "alloc.h"
#include "ipsnet_errors.h"
#include "log.h"
#include "util.h"
#include "validate.h"

/* Longest line we accept, without its newline. */
#define CONFIG_LINE_MAX 4096
#define REGION_MIN 1
#define REGION_MAX 35
#define SECTION_MAX (ORG_ID_MAX + 32)

/* ---- organisation kinds and ids ------------------------------------------ */

static const char *const kind_names[] = {
    [ORG_KIND_GGZ] = "GGZ",
    [ORG_KIND_MUNICIPALITY] = "MUNICIPALITY",
    [ORG_KIND_UWV] = "UWV",
    [ORG_KIND_NETWORK] = "NETWORK",
};

enum org_kind org_kind_parse(const char *s)
{
	if (s == NULL)
		return ORG_KIND_NONE;
	for (size_t i = 0; i < ARRAY_SIZE(kind_names); i++) {
		if (kind_names[i] != NULL && strcasecmp(s, kind_names[i]) == 0)
			return (enum org_kind)i;
	}
	return ORG_KIND_NONE;
}

const char *org_kind_name(enum org_kind kind)
{
	if ((size_t)kind < ARRAY_SIZE(kind_names) && kind_names[kind] != NULL)
		return kind_names[kind];
	return "NONE";
}

bool org_id_valid(const char *id)
{
	size_t n = 0;

	if (id == NULL || id[0] == '\0' || id[0] == '-')
		return false;
	for (const char *p = id; *p; p++, n++) {
		bool ok = (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '-';
		if (!ok || n >= ORG_ID_MAX - 1)
			return false;
	}
	return true;
}

/* ---- host:port ----------------------------------------------------------- */

static bool parse_port(const char *s, int *port)
{
	long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return false;
	for (const char *p = s; *p; p++) {
		if (!isdigit((unsigned char)*p))
			return false;
		v = v * 10 + (*p - '0');
	}
	if (v > 65535)
		return false;
	*port = (int)v;
	return true;
}

int config_split_hostport(const char *s, char *host, size_t hostlen, int *port)
{
	const char *h, *colon;
	size_t n;

	if (s == NULL || host == NULL || hostlen == 0 || port == NULL)
		return IPSNET_EINVAL;
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (close == NULL || close[1] != ':')
			return IPSNET_EINVAL;
		h = s + 1;
		n = (size_t)(close - h);
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return IPSNET_EINVAL;
		h = s;
		n = (size_t)(colon - s);
		/* A bare IPv6 address needs its brackets. */
		if (memchr(h, ':', n) != NULL)
			return IPSNET_EINVAL;
	}
	if (n == 0 || n >= hostlen)
		return IPSNET_EINVAL;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)h[i];
		if (c <= ' ' || c == 0x7f || c == '[' || c == ']' || c == '/')
			return IPSNET_EINVAL;
	}

	char name[128];
	if (n >= sizeof(name))
		return IPSNET_EINVAL;
	memcpy(name, h, n);
	name[n] = '\0';
	if (s[0] == '[') {
		unsigned char addr[16];
		if (inet_pton(AF_INET6, name, addr) != 1)
			return IPSNET_EINVAL;
	}
	int p;
	if (!parse_port(colon + 1, &p))
		return IPSNET_EINVAL;
	memcpy(host, name, n + 1);
	*port = p;
	return 0;
}

/* ---- defaults ------------------------------------------------------------ */

/* Room for one more organisation in c: the array doubles, up to
 * CONFIG_MAX_ORGS. */
static int grow_orgs(struct server_config *c)
{
	if (c->n_orgs < c->orgs_cap)
		return 0;
	if (c->n_orgs >= CONFIG_MAX_ORGS)
		return IPSNET_ECONFIG;
	size_t cap = c->orgs_cap < 4 ? 4 : 2 * c->orgs_cap;
	if (cap > CONFIG_MAX_ORGS)
		cap = CONFIG_MAX_ORGS;
	struct org_config *grown =
	    ipsnet_realloc(c->orgs, cap * sizeof(*grown));
	if (grown == NULL)
		return IPSNET_ENOMEM;
	c->orgs = grown;
	c->orgs_cap = cap;
	return 0;
}

int config_add_org(struct server_config *c, const struct org_config *o)
{
	int rv = grow_orgs(c);
	if (rv != 0)
		return rv;
	c->orgs[c->n_orgs++] = *o;
	return 0;
}

void config_free(struct server_config *c)
{
	ipsnet_free(c->orgs);
	c->orgs = NULL;
	c->n_orgs = 0;
	c->orgs_cap = 0;
}

static int add_org(struct server_config *c, const char *id, enum org_kind kind,
		   const char *name, int region, const char *cbs_code)
{
	struct org_config o;
	memset(&o, 0, sizeof(o));
	util_strlcpy(o.id, id, sizeof(o.id));
	o.kind = kind;
	util_strlcpy(o.name, name, sizeof(o.name));
	o.region = region;
	util_strlcpy(o.cbs_code, cbs_code, sizeof(o.cbs_code));
	return config_add_org(c, &o);
}

int config_defaults(struct server_config *c)
{
	memset(c, 0, sizeof(*c));
	util_strlcpy(c->listen, "127.0.0.1:7443", sizeof(c->listen));
	util_strlcpy(c->database, "var/ipsnet.db", sizeof(c->database));
	util_strlcpy(c->ca, "var/dev/ca.crt", sizeof(c->ca));
	util_strlcpy(c->cert, "var/dev/server.crt", sizeof(c->cert));
	util_strlcpy(c->key, "var/dev/server.key", sizeof(c->key));
	util_strlcpy(c->crl, "var/dev/crl.pem", sizeof(c->crl));
	c->tls_min_version = 13;
	c->max_connections = 1024;
	c->max_connections_per_organisation = 256;
	c->max_frame_bytes = 1048576;
	c->handshake_timeout_ms = 10000;
	c->idle_timeout_ms = 300000;
	c->max_inflight = 64;
	c->send_buffer_bytes = 1048576;
	util_strlcpy(c->log_level, "info", sizeof(c->log_level));
	c->report.sustained_months = 6;
	c->report.small_count_threshold = 5;

	/* The development network. Amsterdam's labour-market region is
	 * Groot Amsterdam, CBS code AM18. */
	c->demo_orgs = true;
	if (add_org(c, "ggz-demo", ORG_KIND_GGZ, "GGZ Demo", 1, "") != 0 ||
	    add_org(c, "gm0363", ORG_KIND_MUNICIPALITY, "Gemeente Amsterdam",
		    18, "GM0363") != 0 ||
	    add_org(c, "uwv", ORG_KIND_UWV, "UWV", 1, "") != 0 ||
	    add_org(c, "network", ORG_KIND_NETWORK, "IPS netwerk beheer", 1,
		    "") != 0) {
		config_free(c);
		return IPSNET_ENOMEM;
	}
	return 0;
}

/* ---- the [server] keys --------------------------------------------------- */

enum key_type {
	KEY_ADDR,     /* host:port */
	KEY_PATH,     /* a file name, not empty */
	KEY_PATH_OPT, /* a file name, may be empty */
	KEY_TLS,      /* "1.2" or "1.3" */
	KEY_U32,      /* a number in [min, max] */
	KEY_LEVEL,    /* a log level */
};

struct server_key {
	const char *name;
	enum key_type type;
	size_t offset;
	size_t size; /* of a string field */
	uint32_t min, max;
};

/* clang-format off */
#define FIELD_SIZE(field) sizeof(((struct server_config *)0)->field)
#define STR_KEY(field, type)                                                   \
	{#field, type, offsetof(struct server_config, field),                  \
	 FIELD_SIZE(field), 0, 0}
#define U32_KEY(field, lo, hi)                                                 \
	{#field, KEY_U32, offsetof(struct server_config, field),               \
	 FIELD_SIZE(field), lo, hi}
/* clang-format on */

static const struct server_key server_keys[] = {
    STR_KEY(listen, KEY_ADDR),
    STR_KEY(database, KEY_PATH),
    STR_KEY(ca, KEY_PATH),
    STR_KEY(cert, KEY_PATH),
    STR_KEY(key, KEY_PATH),
    STR_KEY(crl, KEY_PATH_OPT),
    {"tls_min_version", KEY_TLS,
     offsetof(struct server_config, tls_min_version), sizeof(int), 12, 13},
    U32_KEY(max_connections, 1, 1048576),
    U32_KEY(max_connections_per_organisation, 1, 1048576),
    U32_KEY(max_frame_bytes, 1024, FRAME_MAX_BYTES),
    U32_KEY(handshake_timeout_ms, 100, 600000),
    U32_KEY(idle_timeout_ms, 1000, 86400000),
    U32_KEY(max_inflight, 1, 65536),
    U32_KEY(send_buffer_bytes, 65536, 67108864),
    U32_KEY(delivery_threads, 0, 64),
    STR_KEY(log_level, KEY_LEVEL),
};

#define N_SERVER_KEYS ARRAY_SIZE(server_keys)

/* The [report] keys: numbers only, kept in the same struct. */
static const struct server_key report_keys[] = {
    {"sustained_months", KEY_U32,
     offsetof(struct server_config, report.sustained_months),
     sizeof(uint32_t), 1, 120},
    {"small_count_threshold", KEY_U32,
     offsetof(struct server_config, report.small_count_threshold),
     sizeof(uint32_t), 0, 1000},
};

#define N_REPORT_KEYS ARRAY_SIZE(report_keys)

/* A strict unsigned decimal: digits only, no sign, no blanks. */
static bool parse_u32(const char *s, uint32_t min, uint32_t max, uint32_t *out)
{
	char *end;

	if (!isdigit((unsigned char)s[0]))
		return false;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < min || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

static int set_server_key(void *field, const struct server_key *k,
			  const char *value, char *why, size_t whylen);

int config_set_server_key(struct server_config *c, const char *name,
			  const char *value, char *why, size_t whylen)
{
	for (size_t i = 0; i < N_SERVER_KEYS; i++)
		if (strcmp(server_keys[i].name, name) == 0)
			return set_server_key((char *)c + server_keys[i].offset,
					      &server_keys[i], value, why,
					      whylen);
	snprintf(why, whylen, "no key %s", name);
	return IPSNET_ECONFIG;
}

/* Writes into why (size whylen) what is wrong with value for key k, or
 * returns 0 and stores the value into field (k->size bytes). */
static int set_server_key(void *field, const struct server_key *k,
			  const char *value, char *why, size_t whylen)
{
	char host[128];
	int port;
	uint32_t v;
	enum log_level level;

	switch (k->type) {
	case KEY_ADDR: {
		/* The daemon binds an address and looks no name up: a
		 * bracketed one is checked as IPv6 by the split, a bare one
		 * must be IPv4 or localhost. */
		unsigned char addr[4];
		if (strlen(value) >= k->size ||
		    config_split_hostport(value, host, sizeof(host), &port) !=
			0 ||
		    (value[0] != '[' && strcmp(host, "localhost") != 0 &&
		     inet_pton(AF_INET, host, addr) != 1)) {
			snprintf(why, whylen,
				 "%s must be HOST:PORT or [IPV6]:PORT with "
				 "HOST an IPv4 address or localhost and a port "
				 "from 0 to 65535, e.g. 127.0.0.1:7443",
				 k->name);
			return IPSNET_ECONFIG;
		}
		break;
	}
	case KEY_PATH:
	case KEY_PATH_OPT:
		if (k->type == KEY_PATH && value[0] == '\0') {
			snprintf(why, whylen, "%s must name a file", k->name);
			return IPSNET_ECONFIG;
		}
		if (strlen(value) >= k->size) {
			snprintf(why, whylen,
				 "%s must be a file name of at most %zu bytes",
				 k->name, k->size - 1);
			return IPSNET_ECONFIG;
		}
		break;
	case KEY_TLS:
		if (strcmp(value, "1.3") == 0) {
			*(int *)field = 13;
		} else if (strcmp(value, "1.2") == 0) {
			*(int *)field = 12;
		} else {
			snprintf(why, whylen, "%s must be 1.3 or 1.2", k->name);
			return IPSNET_ECONFIG;
		}
		return 0;
	case KEY_U32:
		if (!parse_u32(value, k->min, k->max, &v)) {
			snprintf(why, whylen,
				 "%s must be a number from %" PRIu32
				 " to %" PRIu32,
				 k->name, k->min, k->max);
			return IPSNET_ECONFIG;
		}
		*(uint32_t *)field = v;
		return 0;
	case KEY_LEVEL:
		if (log_level_parse(value, &level) != 0) {
			snprintf(why, whylen,
				 "%s must be debug, info, warn, error or off",
				 k->name);
			return IPSNET_ECONFIG;
		}
		/* Stored in its canonical lower-case spelling. */
		util_strlcpy(field, value, k->size);
		for (char *p = field; *p != '\0'; p++)
			*p = (char)tolower((unsigned char)*p);
		return 0;
	}
	util_strlcpy(field, value, k->size);
	return 0;
}

/* ---- checks shared by config_load and config_validate -------------------- */

static int check_org_id(const char *id, char *why, size_t whylen)
{
	if (org_id_valid(id))
		return 0;
	snprintf(why, whylen,
		 "organisation id '%.*s' is not valid: use 1 to %d of a-z, 0-9 "
		 "and '-', not starting with '-'",
		 ORG_ID_MAX, id, ORG_ID_MAX - 1);
	return IPSNET_ECONFIG;
}

static int check_region(const char *id, int region, char *why, size_t whylen)
{
	if (region >= REGION_MIN && region <= REGION_MAX)
		return 0;
	snprintf(why, whylen,
		 "organisation %s: region must be a labour-market region from "
		 "%d to %d",
		 id, REGION_MIN, REGION_MAX);
	return IPSNET_ECONFIG;
}

static int check_cbs_code(const struct org_config *o, char *why, size_t whylen)
{
	if (o->kind == ORG_KIND_MUNICIPALITY && !cbs_code_valid(o->cbs_code)) {
		snprintf(
		    why, whylen,
		    "organisation %s is a MUNICIPALITY and needs cbs_code, "
		    "GM and 4 digits (e.g. GM0363)",
		    o->id);
		return IPSNET_ECONFIG;
	}
	if (o->kind != ORG_KIND_MUNICIPALITY && o->cbs_code[0] != '\0') {
		snprintf(why, whylen,
			 "organisation %s is not a MUNICIPALITY and must not "
			 "have a cbs_code",
			 o->id);
		return IPSNET_ECONFIG;
	}
	return 0;
}

/* A name is one line of UTF-8 text, as is every text a client sends
 * (conn.c): it is shown in reports and on terminals. */
static int check_org_name(const char *id, const char *name, char *why,
			  size_t whylen)
{
	if (!utf8_valid(name)) {
		snprintf(why, whylen,
			 "the name of organisation %s is not UTF-8; write the "
			 "file in UTF-8",
			 id);
		return IPSNET_ECONFIG;
	}
	size_t at = text_control_at(name);
	if (at != 0) {
		snprintf(why, whylen,
			 "the name of organisation %s holds a control "
			 "character at byte %zu; a name is one line of text "
			 "without tabs or escape sequences",
			 id, at);
		return IPSNET_ECONFIG;
	}
	return 0;
}

static int check_org(const struct org_config *o, char *why, size_t whylen)
{
	int rv = check_org_id(o->id, why, whylen);
	if (rv != 0)
		return rv;
	if (o->kind < ORG_KIND_GGZ || o->kind > ORG_KIND_NETWORK) {
		snprintf(why, whylen,
			 "organisation %s needs a kind: GGZ, MUNICIPALITY, UWV "
			 "or NETWORK",
			 o->id);
		return IPSNET_ECONFIG;
	}
	if (o->name[0] == '\0') {
		snprintf(why, whylen, "organisation %s needs a name", o->id);
		return IPSNET_ECONFIG;
	}
	rv = check_org_name(o->id, o->name, why, whylen);
	if (rv != 0)
		return rv;
	rv = check_region(o->id, o->region, why, whylen);
	if (rv != 0)
		return rv;
	return check_cbs_code(o, why, whylen);
}

int config_validate(const struct server_config *c, char *err, size_t errlen)
{
	char why[256];
	char value[32];
	/* Where set_server_key may write: c itself is const. */
	union {
		char text[CONFIG_MAX_PATH];
		uint32_t u32;
		int i;
	} scratch;
	int rv;

	/* Run every [server] value through the same parser as the file. */
	for (size_t i = 0; i < N_SERVER_KEYS; i++) {
		const struct server_key *k = &server_keys[i];
		const char *field = (const char *)c + k->offset;
		const char *text = value;

		switch (k->type) {
		case KEY_TLS:
			snprintf(value, sizeof(value), "%s",
				 *(const int *)field == 12   ? "1.2"
				 : *(const int *)field == 13 ? "1.3"
							     : "?");
			break;
		case KEY_U32:
			snprintf(value, sizeof(value), "%" PRIu32,
				 *(const uint32_t *)field);
			break;
		default:
			if (memchr(field, '\0', k->size) == NULL) {
				snprintf(err, errlen,
					 "configuration: %s is not terminated",
					 k->name);
				return IPSNET_ECONFIG;
			}
			text = field;
		}
		if (k->size > sizeof(scratch)) {
			snprintf(err, errlen, "configuration: %s is too large",
				 k->name);
			return IPSNET_ECONFIG;
		}
		rv = set_server_key(&scratch, k, text, why, sizeof(why));
		if (rv != 0) {
			snprintf(err, errlen, "configuration: %s", why);
			return rv;
		}
	}

	for (size_t i = 0; i < N_REPORT_KEYS; i++) {
		const struct server_key *k = &report_keys[i];
		snprintf(value, sizeof(value), "%" PRIu32,
			 *(const uint32_t *)((const char *)c + k->offset));
		rv = set_server_key(&scratch, k, value, why, sizeof(why));
		if (rv != 0) {
			snprintf(err, errlen, "configuration: [report] %s",
				 why);
			return rv;
		}
	}

	if (c->n_orgs > CONFIG_MAX_ORGS) {
		snprintf(err, errlen,
			 "configuration: at most %d organisations are allowed",
			 CONFIG_MAX_ORGS);
		return IPSNET_ECONFIG;
	}
	if (c->n_orgs == 0 || c->orgs == NULL) {
		snprintf(err, errlen,
			 "configuration: there is no organisation (out of "
			 "memory for the demo ones?)");
		return IPSNET_ECONFIG;
	}
	for (size_t i = 0; i < c->n_orgs; i++) {
		const struct org_config *o = &c->orgs[i];
		if (memchr(o->id, '\0', sizeof(o->id)) == NULL ||
		    memchr(o->name, '\0', sizeof(o->name)) == NULL ||
		    memchr(o->cbs_code, '\0', sizeof(o->cbs_code)) == NULL) {
			snprintf(err, errlen,
				 "configuration: organisation %zu has a field "
				 "that is not terminated",
				 i + 1);
			return IPSNET_ECONFIG;
		}
		rv = check_org(o, why, sizeof(why));
		if (rv != 0) {
			snprintf(err, errlen, "configuration: %s", why);
			return rv;
		}
		for (size_t j = 0; j < i; j++) {
			if (strcmp(c->orgs[j].id, o->id) == 0) {
				snprintf(err, errlen,
					 "configuration: organisation %s is "
					 "defined twice; ids must be unique",
					 o->id);
				return IPSNET_ECONFIG;
			}
		}
	}
	return 0;
}

/* ---- reading a file ------------------------------------------------------ */

enum section {
	SEC_NONE,
	SEC_SERVER,
	SEC_REPORT,
	SEC_ORG,
	SEC_PROFILE,
};

/* Where each key of an organisation was set, for messages. */
struct org_lines {
	int section, kind, name, region, cbs_code;
};

enum profile_key {
	PK_SERVER,
	PK_CA,
	PK_CERT,
	PK_KEY,
	PK_USER,
	N_PROFILE_KEYS,
};

struct parse {
	const char *path;
	FILE *file;
	int line;
	char *err;
	size_t errlen;
	int rv;	      /* first error of ours */
	int err_line; /* its line */

	enum section section;
	/* Called by the reader for each [section] header. */
	int (*on_section)(struct parse *ps, const char *name);

	/* The daemon's file. */
	struct server_config cfg; /* what it says: c once it is all read */
	bool file_has_orgs;
	size_t org; /* index of the current [organisation] */
	int server_lines[N_SERVER_KEYS];
	int report_lines[N_REPORT_KEYS];
	struct org_lines *org_lines; /* lines_cap, one for each of cfg.orgs */
	size_t lines_cap;

	/* A profile. */
	struct client_profile *profile;
	char dir[CONFIG_MAX_PATH]; /* the profile's folder, "" for cwd */
	int profile_lines[N_PROFILE_KEYS];
};

static int parse_fail(struct parse *ps, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Records the first error, as "FILE:LINE: what". */
static int parse_fail(struct parse *ps, const char *fmt, ...)
{
	char why[512];
	va_list ap;

	if (ps->rv != 0)
		return ps->rv;
	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->path, ps->line, why);
	ps->rv = IPSNET_ECONFIG;
	ps->err_line = ps->line;
	return ps->rv;
}

/* Records running out of memory as the first error (config_load names
 * it). */
static int parse_nomem(struct parse *ps)
{
	if (ps->rv != 0)
		return ps->rv;
	ps->rv = IPSNET_ENOMEM;
	ps->err_line = ps->line;
	return ps->rv;
}

/* A key may be set once; *seen holds the line where it was. */
static int once(struct parse *ps, int *seen, const char *key)
{
	if (*seen != 0)
		return parse_fail(ps,
				  "%s is already set on line %d; set it once",
				  key, *seen);
	*seen = ps->line;
	return 0;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

/* A "[name]" line, seen by the reader before inih sees it. */
static void read_section(struct parse *ps, char *line)
{
	char *close = strchr(line + 1, ']');
	if (close == NULL) {
		parse_fail(ps, "a section header needs a closing ']'");
		return;
	}
	char *after = close + 1;
	after += strspn(after, " \t\r\n");
	if (*after != '\0' && *after != ';' && *after != '#') {
		parse_fail(ps, "unexpected text after the section header");
		return;
	}
	char name[SECTION_MAX + 1];
	size_t n = (size_t)(close - (line + 1));
	if (n > SECTION_MAX)
		n = SECTION_MAX; /* too long for any known section */
	memcpy(name, line + 1, n);
	name[n] = '\0';
	ps->on_section(ps, trim(name));
}

/* inih's line reader: one line per call, counted. */
static char *read_line(char *str, int num, void *stream)
{
	struct parse *ps = stream;

	if (ps->rv != 0 || num < 2)
		return NULL; /* stop at our first error */
	/* fgets does not say how many bytes it read: with the buffer filled
	 * with non-NUL bytes first, its own NUL is the last one in it. */
	memset(str, 1, (size_t)num);
	if (fgets(str, num, ps->file) == NULL)
		return NULL;
	ps->line++;

	size_t n = strlen(str);
	size_t got = (size_t)num - 1;
	while (str[got] != '\0')
		got--;
	if (n < got) {
		/* What follows a NUL would be dropped unseen. */
		parse_fail(ps, "a NUL byte in the line; the file must be "
			       "text in UTF-8 (not UTF-16)");
		return NULL;
	}
	if (n == (size_t)num - 1 && str[n - 1] != '\n') {
		int c = getc(ps->file);
		if (c != EOF) {
			parse_fail(ps, "the line is longer than %d bytes",
				   num - 2);
			return NULL;
		}
	}
	/* No byte-order mark and no leading blanks. */
	char *start = str;
	if (ps->line == 1 && strncmp(start, "\xEF\xBB\xBF", 3) == 0)
		start += 3;
	start += strspn(start, " \t");
	if (start != str)
		memmove(str, start, strlen(start) + 1);
	if (str[0] == '[') {
		read_section(ps, str);
	} else if (strchr(";#\r\n", str[0]) == NULL && str[0] != '\0') {
		/* inih would also take "key: value"; we want one syntax. */
		size_t sep = strcspn(str, "=:");
		if (str[sep] != '=')
			parse_fail(ps, "expected 'key = value', a [section] "
				       "header or a comment");
	}
	return ps->rv == 0 ? str : NULL;
}

static int run_parser(struct parse *ps, ini_handler handler, const char *what)
{
	/* inih's line buffer is on its stack, sized by this global; raise it
	 * once (never lower it) so that long paths fit. */
	if (ini_max_line < CONFIG_LINE_MAX + 3)
		ini_max_line = CONFIG_LINE_MAX + 3;

	ps->file = fopen(ps->path, "r");
	if (ps->file == NULL) {
		snprintf(ps->err, ps->errlen, "cannot read %s '%s': %s", what,
			 ps->path, strerror(errno));
		return IPSNET_ECONFIG;
	}
	int r = ini_parse_stream(read_line, ps, handler, ps);
	bool read_error = ferror(ps->file) != 0;
	int saved_errno = errno;
	fclose(ps->file);
	ps->file = NULL;

	if (r == -2)
		return IPSNET_ENOMEM;
	if (r > 0 && (ps->rv == 0 || r < ps->err_line)) {
		snprintf(ps->err, ps->errlen,
			 "%s:%d: expected 'key = value', a [section] header or "
			 "a comment",
			 ps->path, r);
		return IPSNET_ECONFIG;
	}
	if (ps->rv != 0)
		return ps->rv;
	if (read_error || r < 0) {
		snprintf(ps->err, ps->errlen, "cannot read %s '%s': %s", what,
			 ps->path, strerror(saved_errno));
		return IPSNET_ECONFIG;
	}
	return 0;
}

/* ---- the daemon's file --------------------------------------------------- */

static int server_section(struct parse *ps, const char *name)
{
	if (strcmp(name, "server") == 0) {
		ps->section = SEC_SERVER;
		return 0;
	}
	if (strcmp(name, "report") == 0) {
		ps->section = SEC_REPORT;
		return 0;
	}
	if (strncmp(name, "organisation", 12) != 0 ||
	    (name[12] != '\0' && name[12] != ' ' && name[12] != '\t'))
		return parse_fail(ps,
				  "unknown section [%s]; the sections are "
				  "[server], [report] and [organisation ID]",
				  name);

	char why[256];
	const char *id = name + 12;
	id += strspn(id, " \t");
	if (*id == '\0')
		return parse_fail(ps, "an organisation section needs an id: "
				      "[organisation ID]");
	if (check_org_id(id, why, sizeof(why)) != 0)
		return parse_fail(ps, "%s", why);

	struct server_config *c = &ps->cfg;
	if (!ps->file_has_orgs) {
		/* The file's organisations replace the demo ones. */
		ps->file_has_orgs = true;
		c->n_orgs = 0;
		c->demo_orgs = false;
	}
	for (size_t i = 0; i < c->n_orgs; i++) {
		if (strcmp(c->orgs[i].id, id) == 0)
			return parse_fail(ps,
					  "organisation %s is already defined "
					  "on line %d; ids must be unique",
					  id, ps->org_lines[i].section);
	}
	if (c->n_orgs >= CONFIG_MAX_ORGS)
		return parse_fail(ps,
				  "too many organisations: a registry holds "
				  "at most %d [organisation ID] sections",
				  CONFIG_MAX_ORGS);
	struct org_config o;
	memset(&o, 0, sizeof(o));
	util_strlcpy(o.id, id, sizeof(o.id));
	if (config_add_org(c, &o) != 0)
		return parse_nomem(ps);
	ps->org = c->n_orgs - 1;
	if (ps->lines_cap < c->orgs_cap) {
		struct org_lines *grown =
		    ipsnet_realloc(ps->org_lines, c->orgs_cap * sizeof(*grown));
		if (grown == NULL)
			return parse_nomem(ps);
		ps->org_lines = grown;
		ps->lines_cap = c->orgs_cap;
	}
	memset(&ps->org_lines[ps->org], 0, sizeof(ps->org_lines[ps->org]));
	ps->org_lines[ps->org].section = ps->line;
	ps->section = SEC_ORG;
	return 0;
}

/* A key of a section whose keys are a table ([server], [report]): set once,
 * parsed by its type. An unknown key is refused with the table's names, so
 * the sentence can never fall behind the table. */
static int table_key(struct parse *ps, const char *section,
		     const struct server_key *keys, size_t n, int *lines,
		     const char *name, const char *value)
{
	char why[256];

	for (size_t i = 0; i < n; i++) {
		const struct server_key *k = &keys[i];
		if (strcmp(name, k->name) != 0)
			continue;
		if (once(ps, &lines[i], name) != 0)
			return ps->rv;
		if (set_server_key((char *)&ps->cfg + k->offset, k, value, why,
				   sizeof(why)) != 0)
			return parse_fail(ps, "%s", why);
		return 0;
	}
	char known[512] = "";
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(known);
		snprintf(known + len, sizeof(known) - len, "%s%s",
			 i == 0 ? "" : i + 1 == n ? " and " : ", ", keys[i].name);
	}
	return parse_fail(ps, "unknown key '%s' in [%s]; the keys are %s", name,
			  section, known);
}


static int org_key(struct parse *ps, const char *name, const char *value)
{
	struct org_config *o = &ps->cfg.orgs[ps->org];
	struct org_lines *lines = &ps->org_lines[ps->org];
	uint32_t region;

	if (strcmp(name, "kind") == 0) {
		if (once(ps, &lines->kind, name) != 0)
			return ps->rv;
		o->kind = org_kind_parse(value);
		if (o->kind == ORG_KIND_NONE)
			return parse_fail(ps,
					  "kind must be GGZ, MUNICIPALITY, UWV "
					  "or NETWORK");
		return 0;
	}
	if (strcmp(name, "name") == 0) {
		if (once(ps, &lines->name, name) != 0)
			return ps->rv;
		if (value[0] == '\0' || strlen(value) >= sizeof(o->name))
			return parse_fail(ps,
					  "name must be 1 to %zu bytes of text",
					  sizeof(o->name) - 1);
		char why[256];
		if (check_org_name(o->id, value, why, sizeof(why)) != 0)
			return parse_fail(ps, "%s", why);
		util_strlcpy(o->name, value, sizeof(o->name));
		return 0;
	}
	if (strcmp(name, "region") == 0) {
		if (once(ps, &lines->region, name) != 0)
			return ps->rv;
		if (!parse_u32(value, REGION_MIN, REGION_MAX, &region))
			return parse_fail(ps,
					  "region must be a number from %d to "
					  "%d (the labour-market region)",
					  REGION_MIN, REGION_MAX);
		o->region = (int)region;
		return 0;
	}
	if (strcmp(name, "cbs_code") == 0) {
		if (once(ps, &lines->cbs_code, name) != 0)
			return ps->rv;
		if (!cbs_code_valid(value))
			return parse_fail(ps, "cbs_code must be GM and 4 "
					      "digits, e.g. GM0363");
		util_strlcpy(o->cbs_code, value, sizeof(o->cbs_code));
		return 0;
	}
	return parse_fail(ps,
			  "unknown key '%s' in [organisation %s]; the keys are "
			  "kind, name, region and cbs_code",
			  name, o->id);
}

static int server_handler(void *user, const char *section, const char *name,
			  const char *value)
{
	struct parse *ps = user;
	(void)section; /* inih cuts long names: we keep our own */

	if (ps->rv != 0)
		return 0;
	switch (ps->section) {
	case SEC_SERVER:
		table_key(ps, "server", server_keys, N_SERVER_KEYS,
			  ps->server_lines, name, value);
		break;
	case SEC_REPORT:
		table_key(ps, "report", report_keys, N_REPORT_KEYS,
			  ps->report_lines, name, value);
		break;
	case SEC_ORG:
		org_key(ps, name, value);
		break;
	default:
		parse_fail(ps,
			   "'%s' is outside any section; put it under "
			   "[server], [report] or [organisation ID]",
			   name);
	}
	return ps->rv == 0;
}

/* What only the whole section can tell: every key present, cbs_code fitting
 * the kind. Reported at the section header, or at the offending key. */
static int check_file_orgs(struct parse *ps)
{
	struct server_config *c = &ps->cfg;
	char why[256];

	if (!ps->file_has_orgs)
		return 0;
	for (size_t i = 0; i < c->n_orgs; i++) {
		const struct org_config *o = &c->orgs[i];
		const struct org_lines *lines = &ps->org_lines[i];
		const char *missing = lines->kind == 0	   ? "kind"
				      : lines->name == 0   ? "name"
				      : lines->region == 0 ? "region"
							   : NULL;
		if (missing != NULL) {
			ps->line = lines->section;
			return parse_fail(ps,
					  "organisation %s needs %s (its keys "
					  "are kind, name, region and "
					  "cbs_code)",
					  o->id, missing);
		}
		if (check_cbs_code(o, why, sizeof(why)) != 0) {
			ps->line = lines->cbs_code != 0 ? lines->cbs_code
							: lines->section;
			return parse_fail(ps, "%s", why);
		}
	}
	return 0;
}

int config_load(struct server_config *c, const char *path, char *err,
		size_t errlen)
{
	char scratch[1];
	struct parse *ps;
	int rv;

	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	ps = ipsnet_calloc(1, sizeof(*ps));
	if (ps == NULL) {
		rv = IPSNET_ENOMEM;
		goto err;
	}
	rv = config_defaults(&ps->cfg);
	if (rv != 0)
		goto err_after_parse;

	if (path != NULL) {
		ps->path = path;
		ps->err = err;
		ps->errlen = errlen;
		ps->on_section = server_section;
		rv = run_parser(ps, server_handler, "config");
		if (rv == 0)
			rv = check_file_orgs(ps);
		if (rv != 0)
			goto err_after_cfg;
	}
	rv = config_validate(&ps->cfg, err, errlen);
	if (rv != 0)
		goto err_after_cfg;

	/* c's organisations go, and it takes the file's. */
	config_free(c);
	memcpy(c, &ps->cfg, sizeof(*c));
	ipsnet_free(ps->org_lines);
	ipsnet_free(ps);
	return 0;

err_after_cfg:
	config_free(&ps->cfg);
	ipsnet_free(ps->org_lines);
err_after_parse:
	ipsnet_free(ps);
err:
	if (rv == IPSNET_ENOMEM)
		snprintf(err, errlen, "out of memory reading config '%s'",
			 path != NULL ? path : "(defaults)");
	return rv;
}

/* ---- client profiles ----------------------------------------------------- */

static int profile_section(struct parse *ps, const char *name)
{
	if (strcmp(name, "profile") != 0)
		return parse_fail(ps,
				  "unknown section [%s]; a profile has only "
				  "[profile]",
				  name);
	ps->section = SEC_PROFILE;
	return 0;
}

const char *config_home_folder(void)
{
	const char *home = getenv("HOME");
	if (home == NULL || home[0] == '\0') {
		const struct passwd *pw = getpwuid(geteuid());
		home = pw != NULL ? pw->pw_dir : NULL;
	}
	return home != NULL && home[0] != '\0' ? home : NULL;
}

/* value, taken relative to the profile's folder unless absolute; a leading
 * "~/" is the home folder, as in a shell. */
static int set_path(struct parse *ps, char *field, size_t size, const char *key,
		    const char *value)
{
	int n;
	const char *home;

	if (value[0] == '\0')
		return parse_fail(ps, "%s must name a file", key);
	/* As a shell takes them: the home folder, or another folder; a
	 * folder is opened as the file only later, with a message that
	 * names neither the key nor this line. */
	if (strcmp(value, "~") == 0 || value[strlen(value) - 1] == '/')
		return parse_fail(ps,
				  "%s is '%s', a folder; name the file in it",
				  key, value);
	if (strncmp(value, "~/", 2) == 0) {
		if ((home = config_home_folder()) == NULL)
			return parse_fail(ps,
					  "%s starts with ~/ but there is no "
					  "home folder ($HOME); give the "
					  "whole path",
					  key);
		n = snprintf(field, size, "%s/%s", home, value + 2);
		if (n < 0 || (size_t)n >= size)
			return parse_fail(ps,
					  "%s is too long: at most %zu bytes "
					  "with the home folder (%s) in front",
					  key, size - 1, home);
		return 0;
	}
	if (value[0] == '/' || ps->dir[0] == '\0')
		n = snprintf(field, size, "%s", value);
	else if (strcmp(ps->dir, "/") == 0)
		n = snprintf(field, size, "/%s", value);
	else
		n = snprintf(field, size, "%s/%s", ps->dir, value);
	if (n < 0 || (size_t)n >= size)
		return parse_fail(ps,
				  value[0] == '/'
				      ? "%s is too long: at most %zu bytes"
				      : "%s is too long: at most %zu bytes "
					"with the profile's folder in front",
				  key, size - 1);
	return 0;
}

static int profile_handler(void *user, const char *section, const char *name,
			   const char *value)
{
	static const char *const names[N_PROFILE_KEYS] = {
	    [PK_SERVER] = "server", [PK_CA] = "ca",	[PK_CERT] = "cert",
	    [PK_KEY] = "key",	    [PK_USER] = "user",
	};
	struct parse *ps = user;
	struct client_profile *p = ps->profile;
	char host[128];
	int port;
	size_t i;
	(void)section;

	if (ps->rv != 0)
		return 0;
	if (ps->section != SEC_PROFILE) {
		parse_fail(ps,
			   "'%s' is outside any section; put it under "
			   "[profile]",
			   name);
		return 0;
	}
	for (i = 0; i < N_PROFILE_KEYS; i++) {
		if (strcmp(name, names[i]) == 0)
			break;
	}
	if (i == N_PROFILE_KEYS) {
		parse_fail(ps,
			   "unknown key '%s' in [profile]; the keys are "
			   "server, ca, cert, key and user",
			   name);
		return 0;
	}
	if (once(ps, &ps->profile_lines[i], name) != 0)
		return 0;

	switch ((enum profile_key)i) {
	case PK_SERVER:
		if (strlen(value) >= sizeof(p->server) ||
		    config_split_hostport(value, host, sizeof(host), &port) !=
			0) {
			parse_fail(ps, "server must be HOST:PORT or "
				       "[IPV6]:PORT, e.g. 127.0.0.1:7443");
			break;
		}
		util_strlcpy(p->server, value, sizeof(p->server));
		break;
	case PK_CA:
		set_path(ps, p->ca, sizeof(p->ca), name, value);
		break;
	case PK_CERT:
		set_path(ps, p->cert, sizeof(p->cert), name, value);
		break;
	case PK_KEY:
		set_path(ps, p->key, sizeof(p->key), name, value);
		break;
	case PK_USER:
		if (value[0] == '\0' || strlen(value) >= sizeof(p->user)) {
			parse_fail(ps, "user must be 1 to %zu bytes of text",
				   sizeof(p->user) - 1);
			break;
		}
		util_strlcpy(p->user, value, sizeof(p->user));
		break;
	case N_PROFILE_KEYS:
		break;
	}
	return ps->rv == 0;
}

int profile_load(struct client_profile *p, const char *path, char *err,
		 size_t errlen)
{
	char scratch[1];
	struct parse *ps;
	int rv;

	if (err == NULL || errlen == 0) {
		err = scratch;
		errlen = sizeof(scratch);
	}
	err[0] = '\0';
	if (path == NULL)
		return IPSNET_EINVAL;
	ps = ipsnet_calloc(1, sizeof(*ps));
	if (ps == NULL) {
		rv = IPSNET_ENOMEM;
		goto err;
	}
	ps->profile = ipsnet_malloc(sizeof(*ps->profile));
	if (ps->profile == NULL) {
		rv = IPSNET_ENOMEM;
		goto err_after_parse;
	}
	memcpy(ps->profile, p, sizeof(*p));
	ps->path = path;
	ps->err = err;
	ps->errlen = errlen;
	ps->on_section = profile_section;

	const char *slash = strrchr(path, '/');
	if (slash != NULL) {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof(ps->dir)) {
			snprintf(ps->err, ps->errlen,
				 "cannot read profile '%s': the folder name is "
				 "longer than %zu bytes",
				 path, sizeof(ps->dir) - 1);
			rv = IPSNET_ECONFIG;
			goto err_after_profile;
		}
		if (n == 0)
			n = 1; /* the root folder */
		memcpy(ps->dir, path, n);
		ps->dir[n] = '\0';
	}

	rv = run_parser(ps, profile_handler, "profile");
	if (rv != 0)
		goto err_after_profile;
	memcpy(p, ps->profile, sizeof(*p));
	ipsnet_free(ps->profile);
	ipsnet_free(ps);
	return 0;

err_after_profile:
	ipsnet_free(ps->profile);
err_after_parse:
	ipsnet_free(ps);
err:
	if (rv == IPSNET_ENOMEM)
		snprintf(err, errlen, "out of memory reading profile '%s'",
			 path);
	return rv;
}
