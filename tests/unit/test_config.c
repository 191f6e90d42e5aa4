/* The daemon's config file, client profiles and host:port: good files give
 * the values written, every bad one gives IPSNET_ECONFIG and a sentence
 * that names the file and the line. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "ipsnet_errors.h"

struct fixture {
	char dir[1024];
	char path[PATH_MAX]; /* of the last file written */
	char err[512];
	struct server_config cfg;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/ipsnet-test-config-XXXXXX",
		 getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp");
	if (mkdtemp(f->dir) == NULL) {
		free(f);
		return -1;
	}
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[PATH_MAX + 16];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	int rc = system(cmd);
	config_free(&f->cfg);
	free(f);
	return rc == 0 ? 0 : -1;
}

/* Writes text to DIR/name (name may hold one sub-folder) and returns the
 * path. */
static const char *write_file(struct fixture *f, const char *name,
			      const char *text)
{
	const char *slash = strchr(name, '/');
	if (slash != NULL) {
		char sub[PATH_MAX];
		snprintf(sub, sizeof(sub), "%s/%.*s", f->dir,
			 (int)(slash - name), name);
		mkdir(sub, 0700);
	}
	snprintf(f->path, sizeof(f->path), "%s/%s", f->dir, name);
	FILE *file = fopen(f->path, "w");
	assert_non_null(file);
	assert_int_equal(fputs(text, file) >= 0, 1);
	assert_int_equal(fclose(file), 0);
	return f->path;
}

static const struct org_config *find_org(const struct server_config *c,
					 const char *id)
{
	for (size_t i = 0; i < c->n_orgs; i++) {
		if (strcmp(c->orgs[i].id, id) == 0)
			return &c->orgs[i];
	}
	return NULL;
}

/* a and b hold the same settings and the same organisations, each in its
 * own array. */
static void assert_config_equal(const struct server_config *a,
				const struct server_config *b)
{
	struct server_config x, y;

	assert_int_equal(a->n_orgs, b->n_orgs);
	assert_memory_equal(a->orgs, b->orgs, a->n_orgs * sizeof(*a->orgs));
	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	x.orgs = y.orgs = NULL;
	x.orgs_cap = y.orgs_cap = 0;
	assert_memory_equal(&x, &y, sizeof(x));
}

/* Loads text as a config file and checks that it fails at line, with a
 * message holding what. */
static void assert_config_fails(struct fixture *f, const char *text, int line,
				const char *what)
{
	char prefix[PATH_MAX + 32];
	const char *path = write_file(f, "ipsnetd.conf", text);

	f->err[0] = '\0';
	int rv = config_load(&f->cfg, path, f->err, sizeof(f->err));
	if (rv != IPSNET_ECONFIG || strstr(f->err, what) == NULL)
		print_error("for:\n%s\ngot %d: %s\n", text, rv, f->err);
	assert_int_equal(rv, IPSNET_ECONFIG);
	snprintf(prefix, sizeof(prefix), "%s:%d: ", path, line);
	if (strncmp(f->err, prefix, strlen(prefix)) != 0)
		print_error("wanted prefix %s, got %s\n", prefix, f->err);
	assert_int_equal(strncmp(f->err, prefix, strlen(prefix)), 0);
	assert_non_null(strstr(f->err, what));
	assert_null(strchr(f->err, '\n')); /* one sentence, one line */
}

/* ---- defaults ------------------------------------------------------------ */

static void test_config_defaults_are_the_development_network(void **state)
{
	struct fixture *f = *state;
	struct server_config *c = &f->cfg;

	config_defaults(c);
	assert_string_equal(c->listen, "127.0.0.1:7443");
	assert_string_equal(c->database, "var/ipsnet.db");
	assert_string_equal(c->ca, "var/dev/ca.crt");
	assert_string_equal(c->cert, "var/dev/server.crt");
	assert_string_equal(c->key, "var/dev/server.key");
	assert_string_equal(c->crl, "var/dev/crl.pem");
	assert_int_equal(c->tls_min_version, 13);
	assert_int_equal(c->max_connections, 1024);
	assert_int_equal(c->max_connections_per_organisation, 256);
	assert_int_equal(c->max_frame_bytes, 1048576);
	assert_int_equal(c->handshake_timeout_ms, 10000);
	assert_int_equal(c->idle_timeout_ms, 300000);
	assert_int_equal(c->max_inflight, 64);
	assert_int_equal(c->send_buffer_bytes, 1048576);
	assert_string_equal(c->log_level, "info");
	assert_int_equal(c->n_orgs, 4);

	const struct org_config *o = find_org(c, "ggz-demo");
	assert_non_null(o);
	assert_int_equal(o->kind, ORG_KIND_GGZ);
	assert_string_equal(o->name, "GGZ Demo");
	assert_string_equal(o->cbs_code, "");
	o = find_org(c, "gm0363");
	assert_non_null(o);
	assert_int_equal(o->kind, ORG_KIND_MUNICIPALITY);
	assert_string_equal(o->name, "Gemeente Amsterdam");
	assert_string_equal(o->cbs_code, "GM0363");
	assert_int_equal(o->region, 18);
	o = find_org(c, "uwv");
	assert_non_null(o);
	assert_int_equal(o->kind, ORG_KIND_UWV);
	o = find_org(c, "network");
	assert_non_null(o);
	assert_int_equal(o->kind, ORG_KIND_NETWORK);
	assert_string_equal(o->name, "IPS netwerk beheer");

	assert_int_equal(config_validate(c, f->err, sizeof(f->err)), 0);
}

static void test_config_load_without_a_file_gives_the_defaults(void **state)
{
	struct fixture *f = *state;
	struct server_config want;

	config_defaults(&want);
	/* Every setting is written; the organisations are an array c owns
	 * (none here). */
	memset(&f->cfg, 0x5a, sizeof(f->cfg));
	f->cfg.orgs = NULL;
	f->cfg.n_orgs = f->cfg.orgs_cap = 0;
	assert_int_equal(config_load(&f->cfg, NULL, f->err, sizeof(f->err)), 0);
	assert_config_equal(&f->cfg, &want);
	config_free(&want);
}

/* ---- good files ---------------------------------------------------------- */

static void test_config_good_file_sets_every_key(void **state)
{
	struct fixture *f = *state;
	struct server_config *c = &f->cfg;
	const char *path =
	    write_file(f, "ipsnetd.conf",
		       "; the test network\n"
		       "[server]\n"
		       "listen = [::1]:9443          ; inline comment\n"
		       "database = /srv/ipsnet/journal.db\n"
		       "ca = /etc/ipsnet/ca.crt\n"
		       "cert = /etc/ipsnet/server.crt\n"
		       "key = /etc/ipsnet/server.key\n"
		       "crl =\n"
		       "tls_min_version = 1.2\n"
		       "max_connections = 10\n"
		       "max_connections_per_organisation = 3\n"
		       "max_frame_bytes = 67108864\n"
		       "handshake_timeout_ms = 2000\n"
		       "idle_timeout_ms = 60000\n"
		       "max_inflight = 8\n"
		       "log_level = DEBUG\n"
		       "\n"
		       "# organisations\n"
		       "[organisation ggz-noord]\n"
		       "kind = ggz\n"
		       "name = GGZ Noord; kliniek\n"
		       "region = 1\n"
		       "  [organisation gm0014]\n"
		       "  kind = MUNICIPALITY\n"
		       "  name = Gemeente Groningen\n"
		       "  region = 1\n"
		       "  cbs_code = GM0014\n");

	assert_int_equal(config_load(c, path, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->err, "");
	assert_string_equal(c->listen, "[::1]:9443");
	assert_string_equal(c->database, "/srv/ipsnet/journal.db");
	assert_string_equal(c->ca, "/etc/ipsnet/ca.crt");
	assert_string_equal(c->cert, "/etc/ipsnet/server.crt");
	assert_string_equal(c->key, "/etc/ipsnet/server.key");
	assert_string_equal(c->crl, "");
	assert_int_equal(c->tls_min_version, 12);
	assert_int_equal(c->max_connections, 10);
	assert_int_equal(c->max_connections_per_organisation, 3);
	assert_int_equal(c->max_frame_bytes, 67108864);
	assert_int_equal(c->handshake_timeout_ms, 2000);
	assert_int_equal(c->idle_timeout_ms, 60000);
	assert_int_equal(c->max_inflight, 8);
	assert_string_equal(c->log_level, "debug");

	/* The file's organisations replace the demo ones. */
	assert_int_equal(c->n_orgs, 2);
	assert_null(find_org(c, "ggz-demo"));
	const struct org_config *o = find_org(c, "ggz-noord");
	assert_non_null(o);
	assert_int_equal(o->kind, ORG_KIND_GGZ);
	assert_string_equal(o->name, "GGZ Noord; kliniek");
	assert_int_equal(o->region, 1);
	assert_string_equal(o->cbs_code, "");
	o = find_org(c, "gm0014");
	assert_non_null(o);
	assert_int_equal(o->kind, ORG_KIND_MUNICIPALITY);
	assert_string_equal(o->name, "Gemeente Groningen");
	assert_string_equal(o->cbs_code, "GM0014");
}

static void
test_config_file_without_organisations_keeps_the_demo_ones(void **state)
{
	struct fixture *f = *state;
	const char *path =
	    write_file(f, "ipsnetd.conf", "[server]\nlisten = 0.0.0.0:0\n");

	assert_int_equal(config_load(&f->cfg, path, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->cfg.listen, "0.0.0.0:0");
	assert_int_equal(f->cfg.n_orgs, 4);
	assert_non_null(find_org(&f->cfg, "gm0363"));
}

static void test_config_empty_file_gives_the_defaults(void **state)
{
	struct fixture *f = *state;
	struct server_config want;
	const char *path = write_file(f, "ipsnetd.conf", "");

	config_defaults(&want);
	assert_int_equal(config_load(&f->cfg, path, f->err, sizeof(f->err)), 0);
	assert_config_equal(&f->cfg, &want);
	config_free(&want);
}

static void test_config_long_organisation_id_is_kept_whole(void **state)
{
	struct fixture *f = *state;
	/* 63 characters: longer than inih keeps of a section name. */
	const char *id =
	    "ggz-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcdefghij-abcd";
	char text[512];

	assert_int_equal(strlen(id), 63);
	snprintf(text, sizeof(text),
		 "[organisation %s]\nkind = GGZ\nname = Long\nregion = 35\n",
		 id);
	const char *path = write_file(f, "ipsnetd.conf", text);
	assert_int_equal(config_load(&f->cfg, path, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->cfg.n_orgs, 1);
	assert_string_equal(f->cfg.orgs[0].id, id);
	assert_int_equal(f->cfg.orgs[0].region, 35);
}

static void test_config_long_path_is_read_whole(void **state)
{
	struct fixture *f = *state;
	char value[CONFIG_MAX_PATH];
	char text[CONFIG_MAX_PATH + 64];

	memset(value, 'p', sizeof(value) - 1);
	value[0] = '/';
	value[sizeof(value) - 1] = '\0';
	snprintf(text, sizeof(text), "[server]\ndatabase = %s\n", value);
	const char *path = write_file(f, "ipsnetd.conf", text);
	assert_int_equal(config_load(&f->cfg, path, f->err, sizeof(f->err)), 0);
	assert_string_equal(f->cfg.database, value);
}

static void test_config_example_file_holds_exactly_the_defaults(void **state)
{
	struct fixture *f = *state;
	struct server_config want;

	config_defaults(&want);
	int rv =
	    config_load(&f->cfg, IPSNET_EXAMPLE_CONFIG, f->err, sizeof(f->err));
	if (rv != 0)
		print_error("%s\n", f->err);
	assert_int_equal(rv, 0);
	/* The same organisations, named by the file's sections. */
	assert_true(want.demo_orgs);
	assert_false(f->cfg.demo_orgs);
	want.demo_orgs = false;
	assert_config_equal(&f->cfg, &want);
	config_free(&want);
}

/* A file without [organisation] sections keeps the demo organisations,
 * and says they are (store_init refuses them over other registered
 * ones). */
static void test_config_without_organisations_keeps_the_demo_ones(void **state)
{
	struct fixture *f = *state;
	const char *path =
	    write_file(f, "ipsnetd.conf", "[server]\nmax_inflight = 8\n");
	assert_int_equal(config_load(&f->cfg, path, f->err, sizeof(f->err)), 0);
	assert_true(f->cfg.demo_orgs);
	assert_int_equal(f->cfg.n_orgs, 4);
	assert_string_equal(f->cfg.orgs[0].id, "ggz-demo");
}

/* A file of n organisations: a network, a UWV, n/2 - 1 municipalities
 * (gm0001...) and the rest GGZs (ggz-0001...). Free the text. */
static char *network_of(size_t n)
{
	size_t cap = 128 * n + 64, len = 0;
	char *text = malloc(cap);
	assert_non_null(text);
	len += (size_t)snprintf(text + len, cap - len,
				"[organisation network]\nkind = NETWORK\n"
				"name = IPS netwerk\nregion = 1\n\n"
				"[organisation uwv]\nkind = UWV\nname = UWV\n"
				"region = 1\n\n");
	for (size_t i = 2; i < n; i++) {
		if (i - 2 < n / 2 - 1)
			len += (size_t)snprintf(
			    text + len, cap - len,
			    "[organisation gm%04zu]\nkind = MUNICIPALITY\n"
			    "name = Gemeente %zu\nregion = %zu\n"
			    "cbs_code = GM%04zu\n\n",
			    i - 1, i - 1, 1 + i % 35, i - 1);
		else
			len += (size_t)snprintf(
			    text + len, cap - len,
			    "[organisation ggz-%04zu]\nkind = GGZ\n"
			    "name = GGZ %zu\nregion = %zu\n\n",
			    i, i, 1 + i % 35);
		assert_true(len < cap);
	}
	return text;
}

/* The Netherlands has 342 municipalities: with the GGZs, UWV and the
 * network a national registry has some 400 organisations.
 *
 * Bug (failed before the fix): more than 256 were refused with "too many
 * organisations: at most 256". */
static void
test_config_a_national_network_of_400_organisations_loads(void **state)
{
	struct fixture *f = *state;
	char *text = network_of(400);
	const char *path = write_file(f, "ipsnetd.conf", text);
	free(text);

	int rv = config_load(&f->cfg, path, f->err, sizeof(f->err));
	if (rv != 0)
		print_error("%s\n", f->err);
	assert_int_equal(rv, 0);
	assert_int_equal(f->cfg.n_orgs, 400);
	assert_false(f->cfg.demo_orgs);
	const struct org_config *o = find_org(&f->cfg, "gm0199");
	assert_non_null(o);
	assert_int_equal(o->kind, ORG_KIND_MUNICIPALITY);
	assert_string_equal(o->cbs_code, "GM0199");
	o = find_org(&f->cfg, "ggz-0399");
	assert_non_null(o);
	assert_string_equal(o->name, "GGZ 399");
	assert_string_equal(f->cfg.orgs[399].id, "ggz-0399");
	assert_int_equal(config_validate(&f->cfg, f->err, sizeof(f->err)), 0);

	/* Loaded again over itself: the first array goes (ASan sees a
	 * leak or a double free). */
	assert_int_equal(config_load(&f->cfg, path, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->cfg.n_orgs, 400);
}

/* The registry has a bound all the same, said at the section past it. */
static void
test_config_more_than_the_most_organisations_is_refused(void **state)
{
	struct fixture *f = *state;
	char *text = network_of(CONFIG_MAX_ORGS + 1);
	/* The last section's line: each section is 5 or 6 lines. */
	int line = 1;
	const char *last = text;
	for (const char *p = text; *p != '\0'; p++) {
		if (*p == '\n' && p[1] == '[')
			last = p + 1;
	}
	for (const char *p = text; p < last; p++)
		line += *p == '\n';
	char what[128];
	snprintf(what, sizeof(what),
		 "too many organisations: a registry holds at most %d",
		 CONFIG_MAX_ORGS);
	/* At the last one: the CONFIG_MAX_ORGS before it were taken. */
	assert_config_fails(f, text, line, what);
	free(text);
}

/* An organisation's name is one line of UTF-8, as every text a client
 * sends must be: it is shown in reports and on terminals.
 *
 * Bug (failed before the fix): any bytes were taken. */
static void
test_config_org_name_that_is_not_one_line_of_utf8_is_refused(void **state)
{
	assert_config_fails(*state,
			    "[organisation ggz-x]\nkind = GGZ\n"
			    "name = GGZ \xff\xfeNoord\nregion = 1\n",
			    3, "the name of organisation ggz-x is not UTF-8");
	/* Overlong, and a UTF-16 surrogate. */
	assert_config_fails(*state, "[organisation ggz-x]\nname = \xc0\xafx\n",
			    2, "the name of organisation ggz-x is not UTF-8");
	assert_config_fails(*state,
			    "[organisation ggz-x]\nname = \xed\xa0\x80\n", 2,
			    "the name of organisation ggz-x is not UTF-8");
	/* ESC, a tab, a C1 CSI (U+009B), DEL. */
	assert_config_fails(*state,
			    "[server]\n[organisation ggz-x]\nkind = GGZ\n"
			    "name = \x1b[2JGGZ\n",
			    4,
			    "the name of organisation ggz-x holds a control "
			    "character at byte 1");
	assert_config_fails(*state, "[organisation ggz-x]\nname = GGZ\tNoord\n",
			    2, "holds a control character at byte 4");
	assert_config_fails(*state,
			    "[organisation ggz-x]\nname = GGZ \xc2\x9b"
			    "2J\n",
			    2, "holds a control character at byte 5");
	assert_config_fails(*state, "[organisation ggz-x]\nname = GGZ\x7f\n", 2,
			    "holds a control character at byte 4");
}

static void test_config_org_name_in_other_scripts_is_taken(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(
	    f, "ipsnetd.conf",
	    "[organisation ggz-x]\nkind = GGZ\n"
	    "name = GGZ Fryslân \xe2\x80\x94 \xd8\xb4\xd9\x85\xd8\xa7\xd9\x84\n"
	    "region = 1\n");

	assert_int_equal(config_load(&f->cfg, path, f->err, sizeof(f->err)), 0);
	assert_string_equal(
	    f->cfg.orgs[0].name,
	    "GGZ Fryslân \xe2\x80\x94 \xd8\xb4\xd9\x85\xd8\xa7\xd9\x84");
}

/* ---- bad files: each one names the line ---------------------------------- */

static void test_config_missing_file_is_named_in_the_error(void **state)
{
	struct fixture *f = *state;
	char path[PATH_MAX + 16], want[PATH_MAX + 80];

	snprintf(path, sizeof(path), "%s/none.conf", f->dir);
	assert_int_equal(config_load(&f->cfg, path, f->err, sizeof(f->err)),
			 IPSNET_ECONFIG);
	snprintf(want, sizeof(want),
		 "cannot read config '%s': No such file or directory", path);
	assert_string_equal(f->err, want);
}

static void test_config_unknown_key_is_refused(void **state)
{
	assert_config_fails(
	    *state, "[server]\nlisten = 127.0.0.1:1\nmax_conections = 5\n", 3,
	    "unknown key 'max_conections' in [server]");
	assert_config_fails(*state, "[organisation a]\nkind = GGZ\nregio = 3\n",
			    3, "unknown key 'regio' in [organisation a]");
}

static void test_config_unknown_section_is_refused(void **state)
{
	assert_config_fails(*state, "[server]\nlisten = 127.0.0.1:1\n[sever]\n",
			    3, "unknown section [sever]");
	/* Also when the section has no keys at all, or is the wrong case. */
	assert_config_fails(*state, "[Server]\n", 1,
			    "unknown section [Server]");
	assert_config_fails(*state, "\n\n[organization x]\nkind = GGZ\n", 3,
			    "unknown section [organization x]");
}

static void test_config_key_outside_a_section_is_refused(void **state)
{
	assert_config_fails(*state, "listen = 127.0.0.1:1\n", 1,
			    "'listen' is outside any section");
}

static void test_config_key_set_twice_is_refused(void **state)
{
	assert_config_fails(
	    *state, "[server]\nmax_inflight = 4\n[server]\nmax_inflight = 5\n",
	    4, "max_inflight is already set on line 2");
}

static void test_config_bad_number_is_refused(void **state)
{
	static const char *const bad[] = {
	    "12x", "-5", "+5", "0x10", "1 000", "", "1.5", "1e3",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text),
			 "[server]\n\nmax_connections = %s\n", bad[i]);
		assert_config_fails(*state, text, 3,
				    "max_connections must be a number from 1 "
				    "to 1048576");
	}
}

static void test_config_number_out_of_range_is_refused(void **state)
{
	static const char *const bad[] = {
	    "1023", "67108865", "0", "4294967296", "99999999999999999999999",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text), "[server]\nmax_frame_bytes = %s\n",
			 bad[i]);
		assert_config_fails(*state, text, 2,
				    "max_frame_bytes must be a number from "
				    "1024 to 67108864");
	}
}

static void
test_config_bad_tls_version_log_level_or_listen_is_refused(void **state)
{
	assert_config_fails(*state, "[server]\ntls_min_version = 1.1\n", 2,
			    "tls_min_version must be 1.3 or 1.2");
	assert_config_fails(
	    *state, "[server]\nlog_level = verbose\n", 2,
	    "log_level must be debug, info, warn, error or off");
	assert_config_fails(*state, "[server]\nlisten = localhost\n", 2,
			    "listen must be HOST:PORT");
	assert_config_fails(*state, "[server]\nlisten = 127.0.0.1:70000\n", 2,
			    "listen must be HOST:PORT");
	/* The daemon binds an address, never looks a name up: a host name
	 * is refused here, with the line, not at the next start (a SIGHUP
	 * would take it as a change for then). */
	assert_config_fails(*state,
			    "[server]\nlisten = ipsnet.example.nl:7443\n", 2,
			    "listen must be HOST:PORT");
	assert_config_fails(*state, "[server]\nlisten = 10.0.0.256:7443\n", 2,
			    "HOST an IPv4 address or localhost");
	assert_config_fails(*state, "[server]\ndatabase =\n", 2,
			    "database must name a file");
}

static void test_config_bad_org_kind_is_refused(void **state)
{
	assert_config_fails(
	    *state, "[organisation ggz-x]\nname = X\nkind = HOSPITAL\n", 3,
	    "kind must be GGZ, MUNICIPALITY, UWV or NETWORK");
}

static void test_config_duplicate_org_id_is_refused(void **state)
{
	assert_config_fails(*state,
			    "[organisation uwv]\nkind = UWV\nname = UWV\n"
			    "region = 1\n\n[organisation uwv]\nkind = UWV\n",
			    6, "organisation uwv is already defined on line 1");
}

static void test_config_bad_org_id_is_refused(void **state)
{
	assert_config_fails(*state, "[organisation GGZ_Noord]\n", 1,
			    "organisation id 'GGZ_Noord' is not valid");
	assert_config_fails(*state, "[organisation -x]\n", 1,
			    "organisation id '-x' is not valid");
	assert_config_fails(*state, "[organisation]\n", 1,
			    "needs an id: [organisation ID]");
}

static void test_config_bad_cbs_code_is_refused(void **state)
{
	assert_config_fails(*state,
			    "[organisation gm0363]\nkind = MUNICIPALITY\n"
			    "cbs_code = 0363\n",
			    3, "cbs_code must be GM and 4 digits");
	assert_config_fails(*state,
			    "[organisation gm0363]\nkind = MUNICIPALITY\n"
			    "cbs_code = GM036\n",
			    3, "cbs_code must be GM and 4 digits");
	/* A municipality without one: at its section. */
	assert_config_fails(*state,
			    "[server]\n[organisation gm0363]\n"
			    "kind = MUNICIPALITY\nname = A\nregion = 18\n",
			    2, "is a MUNICIPALITY and needs cbs_code");
	/* Anything else with one: at the cbs_code line. */
	assert_config_fails(*state,
			    "[organisation ggz-a]\ncbs_code = GM0363\n"
			    "kind = GGZ\nname = A\nregion = 18\n",
			    2,
			    "is not a MUNICIPALITY and must not have a "
			    "cbs_code");
}

static void test_config_region_out_of_range_is_refused(void **state)
{
	assert_config_fails(*state, "[organisation a]\nregion = 36\n", 2,
			    "region must be a number from 1 to 35");
	assert_config_fails(*state, "[organisation a]\nregion = 0\n", 2,
			    "region must be a number from 1 to 35");
}

static void test_config_incomplete_org_is_refused_at_its_section(void **state)
{
	assert_config_fails(*state,
			    "[server]\n\n[organisation a]\nkind = GGZ\n"
			    "region = 3\n",
			    3, "organisation a needs name");
}

static void test_config_line_that_is_not_key_value_is_refused(void **state)
{
	assert_config_fails(*state, "[server]\nlisten 127.0.0.1:1\n", 2,
			    "expected 'key = value'");
	assert_config_fails(*state, "[server\n", 1,
			    "a section header needs a closing ']'");
	assert_config_fails(*state, "[server] junk\n", 1,
			    "unexpected text after the section header");
}

static void test_config_over_long_line_is_refused(void **state)
{
	char *text = malloc(6000);
	assert_non_null(text);
	strcpy(text, "[server]\ndatabase = ");
	size_t n = strlen(text);
	memset(text + n, 'd', 5000);
	strcpy(text + n + 5000, "\n");
	assert_config_fails(*state, text, 2, "the line is longer than");
	free(text);
}

/* A NUL byte cut the line short: the rest of it was dropped unseen, and
 * a file saved as UTF-16 was refused as a line without '='. */
static void test_config_nul_byte_is_refused_at_its_line(void **state)
{
	static const char text[] = "[server]\nlog_level = info\n"
				   "database = ipsnet.db\0.old\n";
	static const char utf16[] = "\xff\xfe[\0s\0e\0r\0v\0e\0r\0]\0\n\0";
	struct fixture *f = *state;
	const char *files[] = {text, utf16};
	size_t sizes[] = {sizeof(text) - 1, sizeof(utf16) - 1};
	int lines[] = {3, 1};

	for (size_t i = 0; i < 2; i++) {
		write_file(f, "ipsnetd.conf", "");
		FILE *file = fopen(f->path, "wb");
		assert_non_null(file);
		assert_int_equal(fwrite(files[i], 1, sizes[i], file), sizes[i]);
		assert_int_equal(fclose(file), 0);
		f->err[0] = '\0';
		assert_int_equal(
		    config_load(&f->cfg, f->path, f->err, sizeof(f->err)),
		    IPSNET_ECONFIG);
		char prefix[PATH_MAX + 32];
		snprintf(prefix, sizeof(prefix), "%s:%d: a NUL byte", f->path,
			 lines[i]);
		if (strncmp(f->err, prefix, strlen(prefix)) != 0)
			print_error("wanted %s, got %s\n", prefix, f->err);
		assert_int_equal(strncmp(f->err, prefix, strlen(prefix)), 0);
		assert_non_null(strstr(f->err, "UTF-8"));
	}
}

static void test_config_bad_file_leaves_the_config_untouched(void **state)
{
	struct fixture *f = *state;
	struct server_config before;

	memset(&f->cfg, 0x33, sizeof(f->cfg));
	memcpy(&before, &f->cfg, sizeof(before));
	assert_config_fails(f, "[server]\nmax_inflight = 2\nbogus = 1\n", 3,
			    "unknown key");
	assert_memory_equal(&f->cfg, &before, sizeof(before));
	memset(&f->cfg, 0, sizeof(f->cfg)); /* owns nothing */
}

/* ---- config_validate ----------------------------------------------------- */

static void assert_invalid(struct fixture *f, const char *what)
{
	f->err[0] = '\0';
	assert_int_equal(config_validate(&f->cfg, f->err, sizeof(f->err)),
			 IPSNET_ECONFIG);
	if (strstr(f->err, what) == NULL)
		print_error("wanted '%s' in '%s'\n", what, f->err);
	assert_non_null(strstr(f->err, what));
	config_free(&f->cfg);
	config_defaults(&f->cfg);
}

static void test_config_validate_refuses_each_bad_value(void **state)
{
	struct fixture *f = *state;
	struct server_config *c = &f->cfg;

	config_defaults(c);
	c->max_frame_bytes = 100;
	assert_invalid(f, "max_frame_bytes must be a number from 1024");
	c->max_connections = 0;
	assert_invalid(f, "max_connections must be a number from 1");
	c->tls_min_version = 11;
	assert_invalid(f, "tls_min_version must be 1.3 or 1.2");
	c->database[0] = '\0';
	assert_invalid(f, "database must name a file");
	strcpy(c->listen, "nowhere");
	assert_invalid(f, "listen must be HOST:PORT");
	strcpy(c->log_level, "loud");
	assert_invalid(f, "log_level must be");

	c->orgs[1] = c->orgs[0];
	assert_invalid(f, "organisation ggz-demo is defined twice");
	strcpy(c->orgs[0].id, "Bad Id");
	assert_invalid(f, "organisation id 'Bad Id' is not valid");
	c->orgs[0].kind = ORG_KIND_NONE;
	assert_invalid(f, "organisation ggz-demo needs a kind");
	c->orgs[0].name[0] = '\0';
	assert_invalid(f, "organisation ggz-demo needs a name");
	strcpy(c->orgs[0].name, "GGZ \xff");
	assert_invalid(f, "the name of organisation ggz-demo is not UTF-8");
	strcpy(c->orgs[0].name, "GGZ\nDemo");
	assert_invalid(f, "the name of organisation ggz-demo holds a control "
			  "character at byte 4");
	c->orgs[0].region = 0;
	assert_invalid(f, "region must be a labour-market region from 1 to 35");
	c->orgs[0].region = 36;
	assert_invalid(f, "region must be a labour-market region from 1 to 35");
	strcpy(c->orgs[0].cbs_code, "GM0001");
	assert_invalid(f, "organisation ggz-demo is not a MUNICIPALITY");
	strcpy(c->orgs[1].cbs_code, "GM12");
	assert_invalid(f, "organisation gm0363 is a MUNICIPALITY and needs");
	c->orgs[1].cbs_code[0] = '\0';
	assert_invalid(f, "organisation gm0363 is a MUNICIPALITY and needs");
}

static void test_config_report_section_sets_the_thresholds(void **state)
{
	struct fixture *f = *state;
	const char *path = write_file(f, "ipsnetd.conf",
				      "[report]\nsustained_months = 12\n"
				      "small_count_threshold = 0\n"
				      "[server]\nmax_inflight = 8\n");

	assert_int_equal(config_load(&f->cfg, path, f->err, sizeof(f->err)), 0);
	assert_int_equal(f->cfg.report.sustained_months, 12);
	assert_int_equal(f->cfg.report.small_count_threshold, 0);
	assert_int_equal(f->cfg.max_inflight, 8);
}

static void test_config_report_defaults_are_six_months_and_five(void **state)
{
	struct fixture *f = *state;

	config_defaults(&f->cfg);
	assert_int_equal(f->cfg.report.sustained_months, 6);
	assert_int_equal(f->cfg.report.small_count_threshold, 5);
}

static void test_config_report_section_is_strict(void **state)
{
	assert_config_fails(*state, "[report]\nsustained_month = 6\n", 2,
			    "unknown key 'sustained_month' in [report]");
	assert_config_fails(*state, "[report]\nsustained_months = 0\n", 2,
			    "sustained_months must be a number from 1 to 120");
	assert_config_fails(*state, "[report]\nsustained_months = 121\n", 2,
			    "sustained_months must be a number from 1 to 120");
	assert_config_fails(*state,
			    "[report]\nsmall_count_threshold = 1001\n", 2,
			    "small_count_threshold must be a number from 0 to "
			    "1000");
	assert_config_fails(*state,
			    "[report]\nsmall_count_threshold = -1\n", 2,
			    "small_count_threshold must be a number from 0 to "
			    "1000");
	assert_config_fails(*state,
			    "[report]\nsustained_months = 6\n\n"
			    "[report]\nsustained_months = 7\n",
			    5, "sustained_months is already set on line 2");
	/* [report] keys belong in [report], not in [server]. */
	assert_config_fails(*state, "[server]\nsustained_months = 6\n", 2,
			    "unknown key 'sustained_months' in [server]");
	assert_config_fails(*state, "[reports]\n", 1,
			    "unknown section [reports]");
}

static void test_config_validate_refuses_bad_report_thresholds(void **state)
{
	struct fixture *f = *state;

	config_defaults(&f->cfg);
	f->cfg.report.sustained_months = 0;
	assert_invalid(f, "sustained_months must be a number from 1 to 120");
	f->cfg.report.small_count_threshold = 5000;
	assert_invalid(f, "small_count_threshold must be a number from 0 to "
			  "1000");
}

/* ---- profiles ------------------------------------------------------------ */

static void test_profile_relative_paths_are_taken_from_its_folder(void **state)
{
	struct fixture *f = *state;
	struct client_profile p;
	char want[PATH_MAX + 64];

	memset(&p, 0, sizeof(p));
	strcpy(p.key, "/kept/as/it/was.key");
	const char *path = write_file(f, "profiles/ggz-demo.ini",
				      "[profile]\n"
				      "server = localhost:7443\n"
				      "ca = ../ca.crt\n"
				      "cert = /etc/ipsnet/ggz-demo.crt\n"
				      "user = j.jansen\n");
	assert_int_equal(profile_load(&p, path, f->err, sizeof(f->err)), 0);
	assert_string_equal(p.server, "localhost:7443");
	snprintf(want, sizeof(want), "%s/profiles/../ca.crt", f->dir);
	assert_string_equal(p.ca, want);
	assert_string_equal(p.cert, "/etc/ipsnet/ggz-demo.crt");
	assert_string_equal(p.key, "/kept/as/it/was.key");
	assert_string_equal(p.user, "j.jansen");
}

/* Loads the profile at path with $HOME set to home (NULL: unset), and puts
 * the test's $HOME back. */
static int load_with_home(struct fixture *f, struct client_profile *p,
			  const char *path, const char *home)
{
	const char *was = getenv("HOME");
	char *kept = was != NULL ? strdup(was) : NULL;
	if (home != NULL)
		setenv("HOME", home, 1);
	else
		unsetenv("HOME");
	memset(p, 0, sizeof(*p));
	int rv = profile_load(p, path, f->err, sizeof(f->err));
	if (kept != NULL)
		setenv("HOME", kept, 1);
	else
		unsetenv("HOME");
	free(kept);
	return rv;
}

/* A path written "~/..." is in the home folder, as a shell takes it. It
 * was taken relative to the profile's folder ("profiles/~/keys/ggz.key"),
 * a file nobody has. Only "~/": "~keys" is a name like any other. */
static void test_profile_tilde_is_the_home_folder(void **state)
{
	struct fixture *f = *state;
	struct client_profile p;
	char want[PATH_MAX + 64];

	const char *path = write_file(f, "profiles/ggz.ini",
				      "[profile]\n"
				      "key = ~/keys/ggz.key\n"
				      "cert = ~keys/ggz.crt\n");
	assert_int_equal(load_with_home(f, &p, path, "/home/j.jansen"), 0);
	assert_string_equal(p.key, "/home/j.jansen/keys/ggz.key");
	snprintf(want, sizeof(want), "%s/profiles/~keys/ggz.crt", f->dir);
	assert_string_equal(p.cert, want);
}

/* Without $HOME (cron, a service) "~/" is the account's home folder, as
 * for the profile's own lookup. */
static void test_profile_tilde_without_home_is_the_accounts(void **state)
{
	struct fixture *f = *state;
	struct client_profile p;
	char want[PATH_MAX + 64];

	const char *path =
	    write_file(f, "profiles/ggz.ini", "[profile]\nca = ~/ca.crt\n");
	assert_int_equal(load_with_home(f, &p, path, NULL), 0);
	const struct passwd *pw = getpwuid(geteuid());
	assert_non_null(pw);
	snprintf(want, sizeof(want), "%s/ca.crt", pw->pw_dir);
	assert_string_equal(p.ca, want);
}

/* A path that names a folder ("~" and "~/", the home folder as a shell
 * takes them, or any that ends in "/") is refused where it is written,
 * naming the key and the line. "~" was taken as a file "~" in the
 * profile's folder, and "~/" as the home folder, opened as the CA or key
 * only when connecting. */
static void test_profile_path_of_a_folder_is_refused_at_its_line(void **state)
{
	struct fixture *f = *state;
	struct client_profile p;
	char want[PATH_MAX + 64];
	static const char *const folders[] = {"~", "~/", "keys/", "/etc/"};

	for (size_t i = 0; i < sizeof(folders) / sizeof(folders[0]); i++) {
		char text[128];
		snprintf(text, sizeof(text),
			 "[profile]\nserver = 127.0.0.1:7443\nca = %s\n",
			 folders[i]);
		const char *path = write_file(f, "profiles/dir.ini", text);
		assert_int_equal(load_with_home(f, &p, path, "/home/j.jansen"),
				 IPSNET_ECONFIG);
		snprintf(want, sizeof(want), "%s:3: ca is '%s', a folder", path,
			 folders[i]);
		if (strncmp(f->err, want, strlen(want)) != 0)
			fail_msg("'%s' gave: %s", folders[i], f->err);
	}
}

/* A path too long for the field says what was put in front of it: the
 * home folder for "~/", nothing for an absolute one. It said "with the
 * profile's folder in front" for both. */
static void test_profile_too_long_path_says_what_is_in_front(void **state)
{
	struct fixture *f = *state;
	struct client_profile p;
	char text[CONFIG_MAX_PATH + 64], want[PATH_MAX + 128];
	char name[CONFIG_MAX_PATH - 8];

	memset(name, 'k', sizeof(name) - 1);
	name[sizeof(name) - 1] = '\0';
	snprintf(text, sizeof(text), "[profile]\nkey = ~/%s\n", name);
	const char *path = write_file(f, "profiles/long.ini", text);
	assert_int_equal(load_with_home(f, &p, path, "/home/j.jansen"),
			 IPSNET_ECONFIG);
	snprintf(want, sizeof(want),
		 "%s:2: key is too long: at most %d bytes with the home "
		 "folder (/home/j.jansen) in front",
		 path, CONFIG_MAX_PATH - 1);
	assert_string_equal(f->err, want);

	snprintf(text, sizeof(text), "[profile]\nkey = /%s%s\n", name, name);
	path = write_file(f, "profiles/long.ini", text);
	assert_int_equal(load_with_home(f, &p, path, "/home/j.jansen"),
			 IPSNET_ECONFIG);
	snprintf(want, sizeof(want), "%s:2: key is too long: at most %d bytes",
		 path, CONFIG_MAX_PATH - 1);
	assert_string_equal(f->err, want);
}

static void
test_profile_in_the_current_folder_keeps_relative_paths(void **state)
{
	struct fixture *f = *state;
	struct client_profile p;
	char cwd[PATH_MAX];

	memset(&p, 0, sizeof(p));
	write_file(f, "me.ini", "[profile]\nkey = me.key\n");
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(f->dir), 0);
	int rv = profile_load(&p, "me.ini", f->err, sizeof(f->err));
	assert_int_equal(chdir(cwd), 0);
	assert_int_equal(rv, 0);
	assert_string_equal(p.key, "me.key");
}

static void test_profile_errors_name_the_line(void **state)
{
	struct fixture *f = *state;
	struct client_profile p, before;
	char prefix[PATH_MAX + 32];

	memset(&p, 0, sizeof(p));
	memcpy(&before, &p, sizeof(p));
	const char *path = write_file(f, "bad.ini",
				      "[profile]\nserver = 127.0.0.1:7443\n"
				      "usr = x\n");
	assert_int_equal(profile_load(&p, path, f->err, sizeof(f->err)),
			 IPSNET_ECONFIG);
	snprintf(prefix, sizeof(prefix), "%s:3: unknown key 'usr'", path);
	assert_int_equal(strncmp(f->err, prefix, strlen(prefix)), 0);
	assert_memory_equal(&p, &before, sizeof(p));

	path = write_file(f, "bad.ini", "[server]\n");
	assert_int_equal(profile_load(&p, path, f->err, sizeof(f->err)),
			 IPSNET_ECONFIG);
	snprintf(prefix, sizeof(prefix), "%s:1: unknown section [server]",
		 path);
	assert_int_equal(strncmp(f->err, prefix, strlen(prefix)), 0);

	path = write_file(f, "bad.ini", "[profile]\n\nserver = 127.0.0.1\n");
	assert_int_equal(profile_load(&p, path, f->err, sizeof(f->err)),
			 IPSNET_ECONFIG);
	snprintf(prefix, sizeof(prefix), "%s:3: server must be HOST:PORT",
		 path);
	assert_int_equal(strncmp(f->err, prefix, strlen(prefix)), 0);
}

static void test_profile_missing_file_is_named_in_the_error(void **state)
{
	struct fixture *f = *state;
	struct client_profile p;
	char path[PATH_MAX + 16], want[PATH_MAX + 80];

	memset(&p, 0, sizeof(p));
	snprintf(path, sizeof(path), "%s/none.ini", f->dir);
	assert_int_equal(profile_load(&p, path, f->err, sizeof(f->err)),
			 IPSNET_ECONFIG);
	snprintf(want, sizeof(want),
		 "cannot read profile '%s': No such file or directory", path);
	assert_string_equal(f->err, want);
}

/* ---- host:port, ids and kinds -------------------------------------------- */

static void test_split_hostport_accepts_v4_v6_and_names(void **state)
{
	char host[64];
	int port = -1;
	(void)state;

	assert_int_equal(
	    config_split_hostport("127.0.0.1:7443", host, sizeof(host), &port),
	    0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 7443);
	assert_int_equal(
	    config_split_hostport("[::1]:7443", host, sizeof(host), &port), 0);
	assert_string_equal(host, "::1");
	assert_int_equal(port, 7443);
	assert_int_equal(
	    config_split_hostport("localhost:7443", host, sizeof(host), &port),
	    0);
	assert_string_equal(host, "localhost");
	assert_int_equal(
	    config_split_hostport("localhost:0", host, sizeof(host), &port), 0);
	assert_int_equal(port, 0);
	assert_int_equal(
	    config_split_hostport("h:65535", host, sizeof(host), &port), 0);
	assert_int_equal(port, 65535);
	assert_int_equal(
	    config_split_hostport("[fe80::1:2]:1", host, sizeof(host), &port),
	    0);
	assert_string_equal(host, "fe80::1:2");
}

static void test_split_hostport_refuses_malformed_addresses(void **state)
{
	static const char *const bad[] = {
	    "localhost",  "::1:7443", "[::1]",	    "[::1]:",
	    "[::1]7443",  ":7443",    "host:",	    "host:-1",
	    "host:+80",	  "host:80x", "host:65536", "host:007443",
	    "[nothex]:1", "[]:1",     "a b:1",	    "",
	};
	char host[64];
	int port = 42;
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (config_split_hostport(bad[i], host, sizeof(host), &port) !=
		    IPSNET_EINVAL)
			print_error("accepted '%s'\n", bad[i]);
		assert_int_equal(
		    config_split_hostport(bad[i], host, sizeof(host), &port),
		    IPSNET_EINVAL);
	}
	assert_int_equal(port, 42);
	assert_int_equal(config_split_hostport(NULL, host, sizeof(host), &port),
			 IPSNET_EINVAL);
	/* A host that does not fit the caller's buffer. */
	char small[4];
	assert_int_equal(
	    config_split_hostport("abcd:1", small, sizeof(small), &port),
	    IPSNET_EINVAL);
	assert_int_equal(
	    config_split_hostport("abc:1", small, sizeof(small), &port), 0);
}

static void test_org_id_valid_allows_lower_case_digits_and_dashes(void **state)
{
	char long_id[80];
	(void)state;

	assert_true(org_id_valid("ggz-noord"));
	assert_true(org_id_valid("gm0363"));
	assert_true(org_id_valid("a"));
	assert_true(org_id_valid("9-a-"));
	assert_false(org_id_valid(""));
	assert_false(org_id_valid(NULL));
	assert_false(org_id_valid("-ggz"));
	assert_false(org_id_valid("GGZ"));
	assert_false(org_id_valid("ggz noord"));
	assert_false(org_id_valid("ggz_noord"));
	assert_false(org_id_valid("ggz.noord"));
	memset(long_id, 'a', 63);
	long_id[63] = '\0';
	assert_true(org_id_valid(long_id));
	long_id[63] = 'a';
	long_id[64] = '\0';
	assert_false(org_id_valid(long_id));
}

static void test_org_kind_parse_and_name_round_trip(void **state)
{
	(void)state;
	assert_int_equal(org_kind_parse("GGZ"), ORG_KIND_GGZ);
	assert_int_equal(org_kind_parse("municipality"), ORG_KIND_MUNICIPALITY);
	assert_int_equal(org_kind_parse("Uwv"), ORG_KIND_UWV);
	assert_int_equal(org_kind_parse("NETWORK"), ORG_KIND_NETWORK);
	assert_int_equal(org_kind_parse("NONE"), ORG_KIND_NONE);
	assert_int_equal(org_kind_parse("hospital"), ORG_KIND_NONE);
	assert_int_equal(org_kind_parse(""), ORG_KIND_NONE);
	assert_int_equal(org_kind_parse(NULL), ORG_KIND_NONE);
	for (int k = ORG_KIND_GGZ; k <= ORG_KIND_NETWORK; k++)
		assert_int_equal(org_kind_parse(org_kind_name(k)), k);
	assert_string_equal(org_kind_name(ORG_KIND_MUNICIPALITY),
			    "MUNICIPALITY");
	assert_string_equal(org_kind_name(ORG_KIND_NONE), "NONE");
	assert_string_equal(org_kind_name((enum org_kind)99), "NONE");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_config_defaults_are_the_development_network),
	    T(test_config_load_without_a_file_gives_the_defaults),
	    T(test_config_good_file_sets_every_key),
	    T(test_config_file_without_organisations_keeps_the_demo_ones),
	    T(test_config_empty_file_gives_the_defaults),
	    T(test_config_long_organisation_id_is_kept_whole),
	    T(test_config_long_path_is_read_whole),
	    T(test_config_example_file_holds_exactly_the_defaults),
	    T(test_config_without_organisations_keeps_the_demo_ones),
	    T(test_config_a_national_network_of_400_organisations_loads),
	    T(test_config_more_than_the_most_organisations_is_refused),
	    T(test_config_org_name_that_is_not_one_line_of_utf8_is_refused),
	    T(test_config_org_name_in_other_scripts_is_taken),
	    T(test_config_missing_file_is_named_in_the_error),
	    T(test_config_unknown_key_is_refused),
	    T(test_config_unknown_section_is_refused),
	    T(test_config_key_outside_a_section_is_refused),
	    T(test_config_key_set_twice_is_refused),
	    T(test_config_bad_number_is_refused),
	    T(test_config_number_out_of_range_is_refused),
	    T(test_config_bad_tls_version_log_level_or_listen_is_refused),
	    T(test_config_bad_org_kind_is_refused),
	    T(test_config_duplicate_org_id_is_refused),
	    T(test_config_bad_org_id_is_refused),
	    T(test_config_bad_cbs_code_is_refused),
	    T(test_config_region_out_of_range_is_refused),
	    T(test_config_incomplete_org_is_refused_at_its_section),
	    T(test_config_line_that_is_not_key_value_is_refused),
	    T(test_config_over_long_line_is_refused),
	    T(test_config_nul_byte_is_refused_at_its_line),
	    T(test_config_bad_file_leaves_the_config_untouched),
	    T(test_config_validate_refuses_each_bad_value),
	    T(test_config_report_section_sets_the_thresholds),
	    T(test_config_report_defaults_are_six_months_and_five),
	    T(test_config_report_section_is_strict),
	    T(test_config_validate_refuses_bad_report_thresholds),
	    T(test_profile_relative_paths_are_taken_from_its_folder),
	    T(test_profile_tilde_is_the_home_folder),
	    T(test_profile_tilde_without_home_is_the_accounts),
	    T(test_profile_path_of_a_folder_is_refused_at_its_line),
	    T(test_profile_too_long_path_says_what_is_in_front),
	    T(test_profile_in_the_current_folder_keeps_relative_paths),
	    T(test_profile_errors_name_the_line),
	    T(test_profile_missing_file_is_named_in_the_error),
	    T(test_split_hostport_accepts_v4_v6_and_names),
	    T(test_split_hostport_refuses_malformed_addresses),
	    T(test_org_id_valid_allows_lower_case_digits_and_dashes),
	    T(test_org_kind_parse_and_name_round_trip),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
