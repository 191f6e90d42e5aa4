/* The ipsnet command against the real ipsnetd: the README walkthrough run
 * as it is written, every verb's output and exit code, and the bulk import
 * (good and bad rows, re-runs, the progress bar on a terminal).
 *
 * The walkthrough test makes a development network with
 * deploy/dev-network.sh (the demo organisations and their profiles), runs
 * the daemon on it on a free port and the README's sh blocks through bash,
 * with an `ipsnet` on PATH that records each call's exit code. The other
 * tests use the harness's certificates and organisations (ggz-test,
 * gm0363, uwv, network). */
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>

#include "harness.h"
#include "util.h"
#include "validate.h"

#ifndef IPSNET_SOURCE_DIR
#error "CMake passes IPSNET_SOURCE_DIR, the top of the source tree"
#endif

enum {
	EXIT_OK = 0,
	EXIT_ELSE = 1,
	EXIT_USAGE = 2,
	EXIT_CONNECT = 3,
	EXIT_DENIED = 4,
	EXIT_NOT_FOUND = 5,
	EXIT_CONFLICT = 6,
};

/* Made once in the group setup. */
static const char *certs;

struct fx {
	const char *dir;
	struct h_daemon d;
	struct h_result r; /* the last run of ipsnet */
	json_t *json;	   /* the last JSON it printed */
};

static int group_setup(void **state)
{
	h_init();
	certs = h_tmpdir();
	if (certs == NULL || h_make_certs(certs) != 0)
		return -1;
	return 0;
}

static int group_teardown(void **state)
{
	h_cleanup();
	return 0;
}

static struct fx *fx_new(void)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	if (fx == NULL)
		return NULL;
	fx->dir = h_tmpdir();
	if (fx->dir == NULL) {
		free(fx);
		return NULL;
	}
	return fx;
}

/* A daemon with the harness's organisations. */
static int setup(void **state)
{
	struct fx *fx = fx_new();
	if (fx == NULL)
		return -1;
	*state = fx;
	if (h_write_config(fx->dir, certs, NULL) != 0 ||
	    h_daemon_start(&fx->d, fx->dir) != 0)
		return -1;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;
	h_result_free(&fx->r);
	json_decref(fx->json);
	int status = h_daemon_stop(&fx->d, SIGTERM);
	free(fx);
	if (status != 0) {
		fprintf(stderr, "ipsnetd exited with status %d on SIGTERM\n",
			status);
		return -1;
	}
	return 0;
}

/* ---- running ipsnet ----------------------------------------------------- */

/* a, started afresh: h_args_server's options to reach fx->d with the
 * network CA, no client certificate. */
static void args_server(struct fx *fx, struct h_args *a)
{
	char ca[PATH_MAX];
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	h_args_init(a);
	h_args_server(a, &fx->d, ca);
}

/* Appends the options of h_args_org but its --user: --server
 * 127.0.0.1:PORT, the network CA, and org's certificate and key. */
static void args_org_without_user(struct h_args *a, int port, const char *org)
{
	h_args_add(a, "--server");
	h_args_add(a, "127.0.0.1:%d", port);
	h_args_add(a, "--ca");
	h_args_add(a, "%s/ca.crt", certs);
	h_args_add(a, "--cert");
	h_args_add(a, "%s/%s.crt", certs, org);
	h_args_add(a, "--key");
	h_args_add(a, "%s/%s.key", certs, org);
}

static void print_result(const struct h_result *r)
{
	fprintf(stderr, "exit %d\nstdout: %s\nstderr: %s\n", r->code, r->out,
		r->err);
}

/* Runs ipsnet as org (the holder of certs/ORG.crt; NULL: no connection
 * options) with the NULL-terminated arguments after it, and checks the exit
 * code. The result is in fx->r. */
static void vrun(struct fx *fx, int want, const char *org, va_list ap)
{
	struct h_args a;
	const char *arg;
	h_args_init(&a);
	if (org != NULL)
		h_args_org(&a, &fx->d, certs, org);
	while ((arg = va_arg(ap, const char *)) != NULL)
		h_args_add(&a, "%s", arg);
	h_result_free(&fx->r);
	if (h_run_cli(&fx->r, a.argv) != want) {
		fputs("ipsnet", stderr);
		for (int i = 0; i < a.n; i++)
			fprintf(stderr, " %s", a.argv[i]);
		fputc('\n', stderr);
		print_result(&fx->r);
		fail_msg("ipsnet exited %d, not %d", fx->r.code, want);
	}
}

static void run(struct fx *fx, int want, const char *org, ...)
{
	va_list ap;
	va_start(ap, org);
	vrun(fx, want, org, ap);
	va_end(ap);
}

/* run, then the JSON on stdout (owned by fx). */
static json_t *run_json(struct fx *fx, int want, const char *org, ...)
{
	va_list ap;
	json_error_t e;
	va_start(ap, org);
	vrun(fx, want, org, ap);
	va_end(ap);
	json_decref(fx->json);
	fx->json = json_loads(fx->r.out, 0, &e);
	if (fx->json == NULL) {
		print_result(&fx->r);
		fail_msg("stdout is not JSON: %s", e.text);
	}
	return fx->json;
}

/* run with --quiet: the id it printed, in buf. */
static const char *run_id(struct fx *fx, char *buf, size_t cap, const char *org,
			  ...)
{
	va_list ap;
	va_start(ap, org);
	vrun(fx, EXIT_OK, org, ap);
	va_end(ap);
	size_t n = strcspn(fx->r.out, "\n");
	if (n == 0 || n >= cap || fx->r.out[n] != '\n' ||
	    fx->r.out[n + 1] != '\0') {
		print_result(&fx->r);
		fail_msg("--quiet printed more than one id");
	}
	memcpy(buf, fx->r.out, n);
	buf[n] = '\0';
	return buf;
}

static void assert_out(struct fx *fx, const char *needle)
{
	if (strstr(fx->r.out, needle) == NULL) {
		print_result(&fx->r);
		fail_msg("stdout does not hold '%s'", needle);
	}
}

static void assert_not_out(struct fx *fx, const char *needle)
{
	if (strstr(fx->r.out, needle) != NULL) {
		print_result(&fx->r);
		fail_msg("stdout holds '%s'", needle);
	}
}

static void assert_err(struct fx *fx, const char *needle)
{
	if (strstr(fx->r.err, needle) == NULL) {
		print_result(&fx->r);
		fail_msg("stderr does not hold '%s'", needle);
	}
}

/* stderr is exactly one line, starting "ipsnet: ". */
static void assert_one_line_error(struct fx *fx)
{
	const struct h_result *r = &fx->r;
	if (r->err_len == 0 || strncmp(r->err, "ipsnet: ", 8) != 0 ||
	    strchr(r->err, '\n') != r->err + r->err_len - 1) {
		print_result(r);
		fail_msg("stderr is not one line starting 'ipsnet: '");
	}
}

static const char *jstr(json_t *o, const char *path)
{
	/* "a.b" or "a[0].b" is enough here */
	char key[64];
	json_t *v = o;
	const char *p = path;
	while (v != NULL && *p != '\0') {
		size_t n = strcspn(p, ".[");
		snprintf(key, sizeof(key), "%.*s", (int)n, p);
		v = json_object_get(v, key);
		p += n;
		while (*p == '[') {
			v = json_array_get(v, strtoul(p + 1, NULL, 10));
			p = strchr(p, ']') + 1;
		}
		if (*p == '.')
			p++;
	}
	if (v == NULL)
		fail_msg("no %s in the JSON", path);
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_null(v))
		return "(null)";
	static char num[64];
	if (json_is_integer(v))
		snprintf(num, sizeof(num), "%lld",
			 (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(num, sizeof(num), "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(num, sizeof(num), "%s",
			 json_is_true(v) ? "true" : "false");
	else
		fail_msg("%s is not a scalar", path);
	return num;
}

/* Fills s (size bytes) with c, terminated: a text of size - 1 c's. */
static void repeated(char *s, size_t size, char c)
{
	memset(s, c, size - 1);
	s[size - 1] = '\0';
}

/* The journal head, as whoami says it. */
static long long journal_seq(struct fx *fx)
{
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "whoami", "--json", NULL);
	return json_integer_value(json_object_get(j, "journal_seq"));
}

static char *today(char buf[11])
{
	nl_date_of_us(buf, 11, (long long)util_now_us());
	return buf;
}

/* The n-th valid BSN from 100000000 on (n >= 0). */
static const char *bsn(int n, char buf[10])
{
	for (long v = 100000000;; v++) {
		snprintf(buf, 10, "%ld", v);
		if (bsn_valid(buf) && n-- == 0)
			return buf;
	}
}

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* A profile at path: the daemon fx->d, the network CA, org's certificate
 * and key, and user. */
static void write_profile(struct fx *fx, const char *path, const char *org,
			  const char *user)
{
	char text[4 * PATH_MAX];
	snprintf(text, sizeof(text),
		 "[profile]\nserver = 127.0.0.1:%d\nca = %s/ca.crt\n"
		 "cert = %s/%s.crt\nkey = %s/%s.key\n"
		 "user = %s\n",
		 fx->d.port, certs, certs, org, certs, org, user);
	write_file(path, text);
}

static char *read_text(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		fail_msg("cannot read %s", path);
	char *buf = NULL;
	size_t len = 0, cap = 0, n;
	do {
		if (cap - len < 4096) {
			cap = cap * 2 + 8192;
			buf = realloc(buf, cap + 1);
			assert_non_null(buf);
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
	} while (n > 0);
	fclose(f);
	buf[len] = '\0';
	return buf;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	for (const char *p = hay; (p = strstr(p, needle)) != NULL;
	     p += strlen(needle))
		n++;
	return n;
}

/* ---- the README walkthrough --------------------------------------------- */

static const char *const demo_orgs[] = {"ggz-demo", "gm0363", "uwv", "network"};

/* The development network of deploy/dev-network.sh in fx->dir/var, the
 * daemon on its embedded demo organisations (a config without
 * [organisation] sections keeps them) on a free port, the profiles
 * pointing at that port, and fx->dir/build/client/ipsnet: the command
 * under test behind a wrapper that appends "EXIT ARGS" to calls.log. */
static int setup_dev(void **state)
{
	struct fx *fx = fx_new();
	struct h_result r;
	char path[PATH_MAX], var[PATH_MAX];
	if (fx == NULL)
		return -1;
	*state = fx;

	snprintf(var, sizeof(var), "%s/var", fx->dir);
	const char *argv[] = {"dev-network.sh", var, NULL};
	if (h_run(&r, IPSNET_SOURCE_DIR "/deploy/dev-network.sh", argv) != 0) {
		print_result(&r);
		h_result_free(&r);
		return -1;
	}
	h_result_free(&r);

	snprintf(path, sizeof(path), "%s/ipsnetd.conf", fx->dir);
	FILE *f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"[server]\n"
		"listen = 127.0.0.1:0\n"
		"database = %s/ipsnet.db\n"
		"ca = %s/dev/ca.crt\n"
		"cert = %s/dev/server.crt\n"
		"key = %s/dev/server.key\n"
		"crl = %s/dev/crl.pem\n",
		var, var, var, var, var);
	if (fclose(f) != 0 || h_daemon_start(&fx->d, fx->dir) != 0)
		return -1;

	for (size_t i = 0; i < ARRAY_SIZE(demo_orgs); i++) {
		snprintf(path, sizeof(path), "%s/dev/profiles/%s.ini", var,
			 demo_orgs[i]);
		char *ini = read_text(path);
		char *at = strstr(ini, "127.0.0.1:7443");
		if (at == NULL) {
			fprintf(stderr, "%s has no server 127.0.0.1:7443\n",
				path);
			free(ini);
			return -1;
		}
		f = fopen(path, "w");
		if (f == NULL)
			return -1;
		fprintf(f, "%.*s127.0.0.1:%d%s", (int)(at - ini), ini,
			fx->d.port, at + strlen("127.0.0.1:7443"));
		free(ini);
		if (fclose(f) != 0)
			return -1;
	}

	snprintf(path, sizeof(path), "%s/build", fx->dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/build/client", fx->dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/build/client/ipsnet", fx->dir);
	f = fopen(path, "w");
	if (f == NULL)
		return -1;
	fprintf(f,
		"#!/bin/sh\n"
		"'%s' \"$@\"\n"
		"rc=$?\n"
		"echo \"$rc $*\" >> '%s/calls.log'\n"
		"exit $rc\n",
		IPSNET_PATH, fx->dir);
	if (fclose(f) != 0 || chmod(path, 0755) != 0)
		return -1;
	return 0;
}

/* The sh blocks between the walkthrough markers of README.md, joined. */
static char *walkthrough_script(void)
{
	char *readme = read_text(IPSNET_SOURCE_DIR "/README.md");
	const char *begin = strstr(readme, "<!-- walkthrough:begin -->");
	const char *end = strstr(readme, "<!-- walkthrough:end -->");
	if (begin == NULL || end == NULL || end < begin)
		fail_msg("README.md has no walkthrough markers");
	size_t cap = (size_t)(end - begin) + 1;
	char *script = calloc(1, cap);
	assert_non_null(script);
	const char *p = begin;
	while ((p = strstr(p, "```sh\n")) != NULL && p < end) {
		p += strlen("```sh\n");
		const char *close = strstr(p, "```\n");
		assert_non_null(close);
		strncat(script, p, (size_t)(close - p));
		p = close + 4;
	}
	free(readme);
	return script;
}

static void test_readme_walkthrough_runs_as_written(void **state)
{
	struct fx *fx = *state;
	char *script = walkthrough_script();
	size_t cap = strlen(script) + 1024;
	char *full = malloc(cap);
	assert_non_null(full);
	/* From the top of a checkout: ./build/client and ./var/dev. HOME is
	 * the test's, so that no profile of the person running the tests is
	 * found first. */
	snprintf(full, cap,
		 "set -u\ncd '%s'\nexport HOME=\"$PWD\"\n"
		 "unset XDG_CONFIG_HOME\n%s",
		 fx->dir, script);
	const char *argv[] = {"bash", "-c", full, NULL};
	h_result_free(&fx->r);
	int code = h_run(&fx->r, "/bin/bash", argv);
	free(script);
	free(full);
	if (code != 0) {
		print_result(&fx->r);
		fail_msg("the walkthrough's last command exited %d", code);
	}

	/* Each ipsnet call, in order, with its exit code. */
	static const struct {
		int code;
		const char *call;
	} calls[] = {
	    {0, "--profile network program put ips-demo"},
	    {0, "--profile ggz-demo client register"},
	    {0, "--profile ggz-demo consent grant"},
	    {0, "--profile ggz-demo refer"},
	    {0, "--profile ggz-demo trajectory accept"},
	    {0, "--profile ggz-demo funding request"},
	    {0, "--profile gm0363 funding list --pending"},
	    {0, "--profile gm0363 funding approve"},
	    {0, "--profile ggz-demo trajectory start"},
	    {0, "--profile ggz-demo job add"},
	    {0, "--profile ggz-demo case show"},
	    {0, "--profile gm0363 case show"},
	    {EXIT_DENIED, "--profile uwv case show"},
	    {0, "--profile uwv funding list"},
	    {0, "--profile ggz-demo audit --client"},
	};
	char log_path[PATH_MAX];
	snprintf(log_path, sizeof(log_path), "%s/calls.log", fx->dir);
	char *log = read_text(log_path);
	const char *line = log;
	for (size_t i = 0; i < ARRAY_SIZE(calls); i++) {
		char want[128];
		snprintf(want, sizeof(want), "%d %s", calls[i].code,
			 calls[i].call);
		if (line == NULL || strncmp(line, want, strlen(want)) != 0) {
			print_result(&fx->r);
			fail_msg("call %zu: want '%s', the log has:\n%s", i + 1,
				 want, log);
		}
		line = strchr(line, '\n');
		line = line != NULL ? line + 1 : NULL;
	}
	if (line != NULL && *line != '\0')
		fail_msg("more calls than the walkthrough has:\n%s", line);
	free(log);

	/* What each side saw. */
	assert_out(fx, "program ips-demo added");
	assert_out(fx, "gm0363 may see client");
	assert_out(fx, "now accepted (version 2)");
	assert_out(fx, "Anna de Vries  gm0363  12      requested");
	assert_out(fx, "approved on");
	assert_out(fx, "now active (version 3)");
	assert_out(fx, "Bakkerij Van Dam");
	assert_out(fx, "Participatiewet");
	assert_out(fx, "WK-2026-0042");
	assert_out(fx, "no funding requests\n");
	assert_out(fx, "PERMISSION_DENIED");
	/* the clinical note: the GGZ's case show only, not the
	 * municipality's */
	assert_int_equal(count(fx->r.out, "Wants to work with her hands"), 1);
	/* the one error: UWV's refused look at the case */
	assert_one_line_error(fx);
	/* no BSN in the daemon's log */
	assert_false(h_daemon_log_contains(&fx->d, "111222333"));
}

/* ---- the verbs ---------------------------------------------------------- */

static void add_program(struct fx *fx)
{
	run(fx, EXIT_OK, "network", "program", "put", "ips-test", "--owner",
	    "ggz-test", "--name", "IPS Test", "--region", "1", "--specialists",
	    "3", NULL);
}

static const char *register_client(struct fx *fx, int n, const char *benefit,
				   char *id, size_t cap)
{
	char b[10];
	return run_id(fx, id, cap, "ggz-test", "client", "register", "--bsn",
		      bsn(n, b), "--name", "Anna de Vries", "--birth-date",
		      "1990-04-12", "--municipality", "GM0363", "--benefit",
		      benefit, "--quiet", NULL);
}

static bool watch_until(struct fx *fx, bool json, const char *needle, char *out,
			size_t cap);

static void test_a_case_from_referral_to_job_in_words_and_json(void **state)
{
	struct fx *fx = *state;
	char client[64], consent[64], tr[64], funding[64], job[64], b[10],
	    day[11];
	add_program(fx);

	json_t *j =
	    run_json(fx, EXIT_OK, "ggz-test", "client", "register", "--bsn",
		     bsn(0, b), "--name", "Anna de Vries", "--birth-date",
		     "1990-04-12", "--municipality", "GM0363", "--benefit",
		     "participatiewet", "--json", NULL);
	assert_string_equal(jstr(j, "kind"), "client");
	assert_string_equal(jstr(j, "client.benefit"), "participatiewet");
	assert_string_equal(jstr(j, "client.version"), "1");
	snprintf(client, sizeof(client), "%s", jstr(j, "client.id"));

	run(fx, EXIT_OK, "ggz-test", "client", "find", "--bsn", b, NULL);
	assert_out(fx, client);
	assert_out(fx, "benefit       Participatiewet");

	run_id(fx, consent, sizeof(consent), "ggz-test", "consent", "grant",
	       client, "--to", "gm0363", "--purpose", "IPS funding", "--until",
	       "2030-12-31", "--quiet", NULL);
	run_id(fx, tr, sizeof(tr), "ggz-test", "refer", client, "--program",
	       "ips-test", "--note", "clinical context", "--quiet", NULL);

	run(fx, EXIT_OK, "ggz-test", "trajectory", "accept", tr, "--version",
	    "1", NULL);
	assert_out(fx, "now accepted (version 2)");
	const char *accepted = strstr(fx->r.out, " accepted on ");
	assert_non_null(accepted);
	char accepted_on[11], want[96];
	snprintf(accepted_on, sizeof(accepted_on), "%.10s", accepted + 13);
	/* a move the state machine does not have */
	run(fx, EXIT_CONFLICT, "ggz-test", "trajectory", "hold", tr,
	    "--version", "2", NULL);
	assert_one_line_error(fx);
	/* a stale version: the current one is named, with the state the
	 * trajectory is in now */
	run(fx, EXIT_CONFLICT, "ggz-test", "trajectory", "accept", tr,
	    "--version", "1", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "changed since the version you gave: trajectory ");
	snprintf(want, sizeof(want), "now at version 2 (accepted on %s)",
		 accepted_on);
	assert_err(fx, want);
	assert_err(fx, "--version 2");
	assert_int_equal(fx->r.out_len, 0);
	/* ... and with --json the trajectory as it is now, on stdout */
	j = run_json(fx, EXIT_CONFLICT, "ggz-test", "trajectory", "accept", tr,
		     "--version", "1", "--json", NULL);
	assert_one_line_error(fx);
	assert_string_equal(jstr(j, "error.status"), "CONFLICT");
	assert_string_equal(jstr(j, "error.current_version"), "2");
	assert_non_null(strstr(jstr(j, "error.message"), want));
	assert_string_equal(jstr(j, "current.kind"), "trajectory");
	assert_string_equal(jstr(j, "current.id"), tr);
	assert_string_equal(jstr(j, "current.version"), "2");
	assert_string_equal(jstr(j, "current.trajectory.status"), "accepted");
	assert_string_equal(jstr(j, "current.trajectory.accepted_on"),
			    accepted_on);
	/* No journal seq: none came with the refusal (it said 0). */
	assert_null(json_object_get(json_object_get(j, "current"), "seq"));

	run_id(fx, funding, sizeof(funding), "ggz-test", "funding", "request",
	       tr, "--funder", "gm0363", "--months", "12", "--quiet", NULL);
	j = run_json(fx, EXIT_OK, "gm0363", "funding", "list", "--pending",
		     "--json", NULL);
	assert_string_equal(jstr(j, "fundings[0].id"), funding);
	assert_string_equal(jstr(j, "fundings[0].status"), "requested");
	assert_string_equal(jstr(j, "fundings[0].client_name"),
			    "Anna de Vries");
	run(fx, EXIT_OK, "gm0363", "funding", "list", "--pending", NULL);
	assert_out(fx, "requested");
	assert_out(fx, "Anna de Vries");
	run(fx, EXIT_OK, "gm0363", "funding", "approve", funding, "--version",
	    "1", "--reference", "WK-1", NULL);
	assert_out(fx, "approved on");
	const char *approved = strstr(fx->r.out, "approved on ");
	assert_non_null(approved);
	snprintf(want, sizeof(want), "now at version 2 (%.22s)", approved);
	/* the GGZ, not knowing, withdraws the request it read */
	run(fx, EXIT_CONFLICT, "ggz-test", "funding", "withdraw", funding,
	    "--version", "1", NULL);
	assert_one_line_error(fx);
	assert_err(fx, want);
	run(fx, EXIT_OK, "gm0363", "funding", "list", "--pending", NULL);
	assert_out(fx, "no funding requests waiting");

	run(fx, EXIT_OK, "ggz-test", "trajectory", "start", tr, "--version",
	    "2", "--on", today(day), NULL);
	assert_out(fx, "now active (version 3)");
	run(fx, EXIT_OK, "ggz-test", "trajectory", "hold", tr, "--version", "3",
	    NULL);
	assert_out(fx, "now on hold (version 4)");

	run(fx, EXIT_OK, "ggz-test", "case", "show", client, NULL);
	assert_out(fx, "on hold");
	assert_out(fx, "Participatiewet");
	assert_out(fx, "approved");
	assert_out(fx, "note: clinical context");
	assert_not_out(fx, "ON_HOLD");
	assert_not_out(fx, "TRAJECTORY_");
	assert_not_out(fx, "BENEFIT_");
	j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client, "--json",
		     NULL);
	assert_string_equal(jstr(j, "trajectories[0].status"), "on_hold");
	assert_string_equal(jstr(j, "trajectories[0].held_on"), day);
	assert_string_equal(jstr(j, "trajectories[0].version"), "4");
	assert_string_equal(jstr(j, "fundings[0].status"), "approved");
	assert_string_equal(jstr(j, "consents[0].id"), consent);

	run(fx, EXIT_OK, "ggz-test", "trajectory", "resume", tr, "--version",
	    "4", NULL);
	assert_out(fx, "now active (version 5)");

	j = run_json(fx, EXIT_OK, "ggz-test", "job", "add", client,
		     "--employer", "Bakkerij", "--start", day, "--hours",
		     "12,5", "--not-competitive", "--trajectory", tr, "--json",
		     NULL);
	assert_string_equal(jstr(j, "job.hours_per_week"), "12.5");
	assert_string_equal(jstr(j, "job.competitive"), "false");
	assert_string_equal(jstr(j, "job.trajectory_id"), tr);
	snprintf(job, sizeof(job), "%s", jstr(j, "job.id"));
	run(fx, EXIT_OK, "ggz-test", "job", "end", job, "--version", "1",
	    "--on", day, NULL);
	assert_out(fx, "ended on");
	/* a job that has not begun, called off today: withdrawn */
	char later[11];
	nl_date_of_us(later, sizeof(later),
		      (long long)util_now_us() + 30LL * 86400 * 1000000);
	run_id(fx, job, sizeof(job), "ggz-test", "job", "add", client,
	       "--employer", "Bakkerij", "--start", later, "--hours", "20",
	       "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "job", "end", job, "--version", "1",
	    "--on", day, NULL);
	snprintf(want, sizeof(want),
		 "job %s withdrawn on %s: it was to begin on %s and never did",
		 job, day, later);
	assert_out(fx, want);
	j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client, "--json",
		     NULL);
	assert_string_equal(jstr(j, "jobs[0].withdrawn"), "false");
	assert_string_equal(jstr(j, "jobs[1].id"), job);
	assert_string_equal(jstr(j, "jobs[1].withdrawn"), "true");
	run(fx, EXIT_OK, "ggz-test", "case", "show", client, NULL);
	assert_out(fx, "withdrawn");
	/* and watch says so, not "ended" */
	char watched[PATH_MAX];
	snprintf(want, sizeof(want),
		 "withdrew job %s of client %s on %s: it was to begin on %s",
		 job, client, day, later);
	if (!watch_until(fx, false, want, watched, sizeof(watched))) {
		char *text = h_read_file(watched, NULL);
		fail_msg("watch did not print \"%s\":\n%s", want,
			 text != NULL ? text : "");
	}
	/* Each line of the case names its client, so that a caseworker
	 * watching sees whose case moved. */
	char lines[3][256];
	snprintf(lines[0], sizeof(lines[0]),
		 "asked gm0363 for 12 months of funding %s for trajectory %s "
		 "of client %s (version 1)",
		 funding, tr, client);
	snprintf(lines[1], sizeof(lines[1]),
		 "marked funding %s of client %s approved (version 2)", funding,
		 client);
	snprintf(lines[2], sizeof(lines[2]),
		 "moved trajectory %s of client %s to on hold (version 4)", tr,
		 client);
	for (size_t i = 0; i < ARRAY_SIZE(lines); i++)
		if (!h_file_contains(watched, lines[i])) {
			char *text = h_read_file(watched, NULL);
			fail_msg("watch did not print \"%s\":\n%s", lines[i],
				 text != NULL ? text : "");
		}
	/* a stale version: the state named is the withdrawal, not an end */
	run(fx, EXIT_CONFLICT, "ggz-test", "job", "end", job, "--version", "1",
	    "--on", day, NULL);
	assert_one_line_error(fx);
	snprintf(want, sizeof(want), "now at version 2 (withdrawn on %s)", day);
	assert_err(fx, want);

	run(fx, EXIT_USAGE, "ggz-test", "trajectory", "close", tr, "--version",
	    "5", NULL);
	assert_one_line_error(fx);
	run(fx, EXIT_OK, "ggz-test", "trajectory", "close", tr, "--version",
	    "5", "--reason", "found work", NULL);
	assert_out(fx, "now closed (version 6)");

	/* the municipality with consent: the case, without the note */
	run(fx, EXIT_OK, "gm0363", "case", "show", client, NULL);
	assert_out(fx, "closed");
	assert_not_out(fx, "clinical context");
	/* UWV: nothing */
	run(fx, EXIT_DENIED, "uwv", "case", "show", client, NULL);
	assert_one_line_error(fx);
	assert_string_equal(fx->r.out, "");
	run(fx, EXIT_OK, "uwv", "funding", "list", NULL);
	assert_out(fx, "no funding requests");

	/* consent withdrawn: the next read is refused */
	run(fx, EXIT_OK, "ggz-test", "consent", "withdraw", consent,
	    "--version", "1", NULL);
	assert_out(fx, "withdrew consent");
	run(fx, EXIT_DENIED, "gm0363", "case", "show", client, NULL);
	assert_one_line_error(fx);

	/* an update keeps what it does not name */
	run(fx, EXIT_OK, "ggz-test", "client", "update", client, "--version",
	    "1", "--municipality", "GM0518", NULL);
	assert_out(fx, "now at version 2");
	j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client, "--json",
		     NULL);
	assert_string_equal(jstr(j, "client.municipality"), "GM0518");
	assert_string_equal(jstr(j, "client.name"), "Anna de Vries");
	assert_string_equal(jstr(j, "client.benefit"), "participatiewet");
	run(fx, EXIT_CONFLICT, "ggz-test", "client", "update", client,
	    "--version", "1", "--name", "Anna", NULL);
	assert_err(fx, "now at version 2");
}

/* Free text a case holds is written by people of other organisations too
 * (the municipality's reason for a rejection): in case show it must not
 * reach the terminal as escape sequences, nor start a line of its own that
 * reads like one of ours. */
static void
test_case_show_keeps_control_characters_of_text_off_the_terminal(void **state)
{
	struct fx *fx = *state;
	char client[64], tr[64], funding[64], b[10];
	add_program(fx);
	run_id(fx, client, sizeof(client), "ggz-test", "client", "register",
	       "--bsn", bsn(0, b), "--name",
	       "Anna\033[2J\nBSN           999999999", "--birth-date",
	       "1990-04-12", "--municipality", "GM0363", "--benefit",
	       "participatiewet", "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "consent", "grant", client, "--to",
	    "gm0363", "--purpose", "IPS funding", "--until", "2030-12-31",
	    NULL);
	run_id(fx, tr, sizeof(tr), "ggz-test", "refer", client, "--program",
	       "ips-test", "--note", "line one\033]0;title\007\nline two",
	       "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "trajectory", "accept", tr, "--version",
	    "1", NULL);
	run_id(fx, funding, sizeof(funding), "ggz-test", "funding", "request",
	       tr, "--funder", "gm0363", "--months", "12", "--quiet", NULL);
	run(fx, EXIT_OK, "gm0363", "funding", "reject", funding, "--version",
	    "1", "--reason", "no budget\r\njobs\n  fake-job  employer", NULL);

	run(fx, EXIT_OK, "ggz-test", "case", "show", client, NULL);
	assert_null(strchr(fx->r.out, '\033'));
	assert_null(strchr(fx->r.out, '\007'));
	assert_null(strchr(fx->r.out, '\r'));
	assert_not_out(fx, "\nBSN           999999999");
	assert_not_out(fx, "\njobs\n");
	assert_not_out(fx, "\n  fake-job");
	assert_out(fx, "name          Anna?[2J\n              BSN");
	assert_out(fx, " note: line one?]0;title?\n    line two\n");
	assert_out(fx, " rejected: no budget\n    jobs\n      fake-job");
	/* --json keeps the text as it is */
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client,
			     "--json", NULL);
	assert_string_equal(jstr(j, "client.name"),
			    "Anna\033[2J\nBSN           999999999");
}

/* Whether s holds a C1 control character (U+0080-009F) in UTF-8. */
static bool holds_c1(const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		if (p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F)
			return true;
	return false;
}

/* The C1 control characters are control characters too: a terminal such
 * as xterm takes U+009B for ESC [ and U+009D for ESC ], and U+0085 is a
 * line break. Text of a case, a program's name and a table's cells showed
 * C0 ones as '?' but passed these on. */
static void
test_c1_control_characters_of_text_stay_off_the_terminal(void **state)
{
	struct fx *fx = *state;
	char client[64], tr[64], funding[64], b[10];
	run(fx, EXIT_OK, "network", "program", "put", "ips-test", "--owner",
	    "ggz-test", "--name", "IPS\302\2332J team", "--region", "1",
	    "--specialists", "3", NULL);
	run_id(fx, client, sizeof(client), "ggz-test", "client", "register",
	       "--bsn", bsn(0, b), "--name", "Anna\302\2332J", "--birth-date",
	       "1990-04-12", "--municipality", "GM0363", "--benefit",
	       "participatiewet", "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "consent", "grant", client, "--to",
	    "gm0363", "--purpose", "IPS\302\235funding", "--until",
	    "2030-12-31", NULL);
	run_id(fx, tr, sizeof(tr), "ggz-test", "refer", client, "--program",
	       "ips-test", "--note", "one\302\2350;title\302\234two", "--quiet",
	       NULL);
	run(fx, EXIT_OK, "ggz-test", "trajectory", "accept", tr, "--version",
	    "1", NULL);
	run_id(fx, funding, sizeof(funding), "ggz-test", "funding", "request",
	       tr, "--funder", "gm0363", "--months", "12", "--quiet", NULL);
	run(fx, EXIT_OK, "gm0363", "funding", "reject", funding, "--version",
	    "1", "--reason", "no\302\205budget", NULL);
	run(fx, EXIT_OK, "ggz-test", "job", "add", client, "--employer",
	    "Bakker\302\2332J BV", "--start", "2026-01-05", "--hours", "20",
	    NULL);

	run(fx, EXIT_OK, "ggz-test", "case", "show", client, NULL);
	if (holds_c1(fx->r.out))
		fail_msg("case show printed a C1 control character:\n%s",
			 fx->r.out);
	assert_out(fx, "name          Anna?2J\n");
	assert_out(fx, " note: one?0;title?two\n");
	assert_out(fx, " rejected: no?budget\n");
	assert_out(fx, "Bakker?2J BV");
	assert_out(fx, "IPS?funding");
	run(fx, EXIT_OK, "ggz-test", "program", "list", NULL);
	assert_false(holds_c1(fx->r.out));
	assert_out(fx, "IPS?2J team");
	run(fx, EXIT_OK, "network", "report", "--year", "2026", NULL);
	assert_false(holds_c1(fx->r.out));
	assert_out(fx, "IPS?2J team ");
	/* --json keeps the text as it is */
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client,
			     "--json", NULL);
	assert_string_equal(jstr(j, "client.name"), "Anna\302\2332J");
}

/* Registers Anna (client, 64 bytes) with a consent to gm0363 (consent, 64
 * bytes), withdrawn at once (version 2). */
static void anna_with_a_withdrawn_consent(struct fx *fx, char *client,
					  char *consent)
{
	char b[10];
	run_id(fx, client, 64, "ggz-test", "client", "register", "--bsn",
	       bsn(0, b), "--name", "Anna de Vries", "--birth-date",
	       "1990-04-12", "--municipality", "GM0363", "--benefit",
	       "participatiewet", "--quiet", NULL);
	run_id(fx, consent, 64, "ggz-test", "consent", "grant", client, "--to",
	       "gm0363", "--purpose", "IPS funding", "--until", "2030-12-31",
	       "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "consent", "withdraw", consent,
	    "--version", "1", NULL);
}

/* The server records when a client was registered and a consent granted
 * or withdrawn as UTC times; the command shows each as the day it was in
 * the Netherlands, the day its "today" and a consent's last day are. */
static void test_case_show_gives_times_as_dutch_days(void **state)
{
	struct fx *fx = *state;
	char client[64], consent[64], db[PATH_MAX];
	anna_with_a_withdrawn_consent(fx, client, consent);
	/* Registered at 00:30 in summer (CEST), granted at 00:10 and
	 * withdrawn at 00:40 in winter (CET), Dutch time. */
	snprintf(db, sizeof(db), "%s/ipsnet.db", fx->dir);
	h_db_exec(db, "UPDATE client SET registered_at = "
		      "'2026-07-01T22:30:00.000Z'; UPDATE consent SET "
		      "granted_at = '2026-11-25T23:10:00.000Z', withdrawn_at = "
		      "'2026-11-25T23:40:00.000Z'");
	run(fx, EXIT_OK, "ggz-test", "case", "show", client, NULL);
	assert_out(fx, "registered    2026-07-02 by");
	assert_not_out(fx, "2026-07-01");
	assert_out(fx, "2026-11-26");
	assert_not_out(fx, "2026-11-25");
}

/* Withdrawing a consent again says when it was withdrawn as every time
 * shown is: the minute in the Netherlands. It gave the stored UTC time
 * ("2026-11-25T23:40:00.000Z", the evening before). */
static void test_withdrawing_again_says_when_in_dutch_time(void **state)
{
	struct fx *fx = *state;
	char client[64], consent[64], db[PATH_MAX];
	anna_with_a_withdrawn_consent(fx, client, consent);
	/* withdrawn at 00:40 in winter (CET), Dutch time */
	snprintf(db, sizeof(db), "%s/ipsnet.db", fx->dir);
	h_db_exec(db, "UPDATE consent SET withdrawn_at = "
		      "'2026-11-25T23:40:00.000Z'");
	run(fx, EXIT_CONFLICT, "ggz-test", "consent", "withdraw", consent,
	    "--version", "2", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "already withdrawn at 2026-11-26 00:40 (Dutch time)");
}

/* consent grant says what the consent lets the recipient see: a funder
 * sees a client only with consent and a funding request addressed to it
 * (DESIGN.md §1, docs/access.md). It said "gm0363 may see client X" with
 * no request addressed to gm0363, when gm0363 was refused her case. */
static void test_consent_grant_says_a_funder_needs_a_request(void **state)
{
	struct fx *fx = *state;
	char client[64], tr[64], want[256];
	add_program(fx);
	register_client(fx, 0, "participatiewet", client, sizeof(client));
	run(fx, EXIT_OK, "ggz-test", "consent", "grant", client, "--to",
	    "gm0363", "--purpose", "IPS funding", "--until", "2030-12-31",
	    NULL);
	snprintf(want, sizeof(want),
		 "gm0363 may see client %s for 'IPS funding' until 2030-12-31 "
		 "if a funding request for her is addressed to gm0363\n",
		 client);
	assert_out(fx, want);
	/* not yet: no request is addressed to gm0363 */
	run(fx, EXIT_DENIED, "gm0363", "case", "show", client, NULL);
	assert_err(fx, "not the addressed funder");
	/* and with one, it does */
	run_id(fx, tr, sizeof(tr), "ggz-test", "refer", client, "--program",
	       "ips-test", "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "trajectory", "accept", tr, "--version",
	    "1", NULL);
	run(fx, EXIT_OK, "ggz-test", "funding", "request", tr, "--funder",
	    "gm0363", "--months", "12", "--quiet", NULL);
	run(fx, EXIT_OK, "gm0363", "case", "show", client, NULL);
	assert_out(fx, client);
}

/* report --explain says what the server's small-count threshold does:
 * counts below 5 shown as "<5" by default, and with a threshold of 0
 * (suppression off, docs/reports.md) that nothing is hidden. It said a
 * count below 0 is shown as "<0". */
static void test_report_explain_says_when_nothing_is_hidden(void **state)
{
	struct fx *fx = *state;
	run(fx, EXIT_OK, "network", "report", "--explain", NULL);
	assert_out(fx, "a count below 5 is\n             shown as \"<5\"");
	assert_out(fx,
		   "counts below 5 suppressed (as the server is configured)");
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	assert_int_equal(
	    h_write_config(fx->dir, certs,
			   "\n[report]\nsmall_count_threshold = 0\n"),
	    0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	run(fx, EXIT_OK, "network", "report", "--explain", NULL);
	assert_not_out(fx, "<0");
	assert_not_out(fx, "below 0");
	assert_out(fx, "small_count_threshold\n             is 0, which turns "
		       "suppression off");
	assert_out(fx, "no count suppressed (as the server is configured)");
}

static void path_in(struct fx *fx, char *buf, size_t cap, const char *name);

/* s: n times the UTF-8 letter letter (two bytes, "\305\237": s with a
 * cedilla, as in the Turkish name Ye\305\237im). */
static void letters(char *s, size_t cap, const char *letter, size_t n)
{
	size_t len = strlen(letter);
	assert_true(n * len < cap);
	for (size_t i = 0; i < n; i++)
		memcpy(s + i * len, letter, len);
	s[n * len] = '\0';
}

/* Limits of text count characters, as their messages say ("1 to 200
 * characters"), not bytes: a name of 150 Turkish letters of two bytes each
 * is taken, at ipsnet's door, the daemon's and in an import, and one of
 * 201 is refused. Both took the 300 bytes for 300 characters. */
static void test_text_limits_count_characters_not_bytes(void **state)
{
	struct fx *fx = *state;
	char name[1024], longer[1024], program[1024], path[PATH_MAX],
	    text[2048], b[10], client[64];
	letters(name, sizeof(name), "\305\237", 150);
	letters(longer, sizeof(longer), "\305\237", 201);

	run_id(fx, client, sizeof(client), "ggz-test", "client", "register",
	       "--bsn", bsn(0, b), "--name", name, "--birth-date", "1990-04-12",
	       "--municipality", "GM0363", "--benefit", "participatiewet",
	       "--quiet", NULL);
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client,
			     "--json", NULL);
	assert_string_equal(jstr(j, "client.name"), name);
	run(fx, EXIT_USAGE, "ggz-test", "client", "register", "--bsn",
	    bsn(1, b), "--name", longer, "--birth-date", "1990-04-12",
	    "--municipality", "GM0363", "--benefit", "participatiewet", NULL);
	assert_err(fx, "--name must be 1 to 200 characters");

	/* the daemon's own check (ipsnet checks no purpose) */
	run(fx, EXIT_OK, "ggz-test", "consent", "grant", client, "--to",
	    "gm0363", "--purpose", name, "--until", "2030-12-31", NULL);
	run(fx, EXIT_ELSE, "ggz-test", "consent", "grant", client, "--to",
	    "gm0363", "--purpose", longer, "--until", "2030-12-31", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "the purpose must be 1 to 200 characters");

	/* an import's row */
	path_in(fx, path, sizeof(path), "clients.csv");
	snprintf(text, sizeof(text),
		 "bsn;name;birth_date;municipality;benefit\n"
		 "%s;%s;1980-01-01;GM0363;ww\n",
		 bsn(2, b), name);
	write_file(path, text);
	run(fx, EXIT_OK, "ggz-test", "import", path, NULL);
	assert_out(fx, "1 imported");

	/* A program of 200 letters: the current program a stale change is
	 * answered with keeps its whole name. */
	letters(program, sizeof(program), "\303\253", 200);
	run(fx, EXIT_OK, "network", "program", "put", "ips-long", "--owner",
	    "ggz-test", "--name", program, "--region", "1", "--specialists",
	    "3", NULL);
	run(fx, EXIT_OK, "network", "program", "put", "ips-long", "--version",
	    "1", "--specialists", "4", NULL);
	run(fx, EXIT_CONFLICT, "network", "program", "put", "ips-long",
	    "--version", "1", "--specialists", "5", "--json", NULL);
	assert_out(fx, program);
}

/* program list shows of each program the review the report counts: the
 * latest, and on one day an independent review before the program's own
 * self-assessment (docs/reports.md), whichever was recorded last. */
static void test_program_list_shows_the_review_the_report_counts(void **state)
{
	struct fx *fx = *state;
	add_program(fx);
	/* 25 x 3 = 75: fair; 25 x 5 = 125: exemplary */
	run(fx, EXIT_OK, "network", "fidelity", "record", "ips-test", "--date",
	    "2025-10-05", "--scores",
	    "3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3", NULL);
	run(fx, EXIT_OK, "ggz-test", "fidelity", "record", "ips-test", "--date",
	    "2025-10-05", "--scores",
	    "5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5", NULL);
	json_t *j = run_json(fx, EXIT_OK, "network", "report", "--year", "2025",
			     "--json", NULL);
	assert_string_equal(jstr(j, "fidelity.programs[0].total"), "75");
	assert_string_equal(jstr(j, "fidelity.programs[0].independent"),
			    "true");
	j = run_json(fx, EXIT_OK, "ggz-test", "program", "list", "--json",
		     NULL);
	assert_string_equal(jstr(j, "reviews[0].total"), "75");
	assert_string_equal(jstr(j, "reviews[0].independent"), "true");
	run(fx, EXIT_OK, "ggz-test", "program", "list", NULL);
	assert_out(fx, "2025-10-05  75");
	assert_not_out(fx, "exemplary");
}

/* Starts `ipsnet watch --since 0` as ggz-test (with --json when json),
 * its stdout into the file out and its stderr into err. */
static void start_watch(struct fx *fx, struct h_proc *w, bool json,
			const char *out, const char *err)
{
	struct h_args a;
	h_args_init(&a);
	h_args_org(&a, &fx->d, certs, "ggz-test");
	h_args_add(&a, "watch");
	h_args_add(&a, "--since");
	h_args_add(&a, "0");
	if (json)
		h_args_add(&a, "--json");
	assert_int_equal(h_proc_start_cli(w, a.argv, out, err), 0);
}

/* ipsnet watch shows when a change was made as the time in the
 * Netherlands, as every other time the command shows; --json keeps the
 * journal's UTC time. The Dutch time is one hour (CET) or two (CEST)
 * ahead of UTC, so the two never show the same hour. */
static void test_watch_gives_times_in_dutch_time(void **state)
{
	struct fx *fx = *state;
	char client[64], b[10], out[2][PATH_MAX], err[PATH_MAX];
	struct h_proc w[2];
	run_id(fx, client, sizeof(client), "ggz-test", "client", "register",
	       "--bsn", bsn(0, b), "--name", "Anna de Vries", "--birth-date",
	       "1990-04-12", "--municipality", "GM0363", "--benefit",
	       "participatiewet", "--quiet", NULL);
	for (int i = 0; i < 2; i++) {
		snprintf(out[i], sizeof(out[i]), "%s/watch-%d.out", fx->dir, i);
		snprintf(err, sizeof(err), "%s/watch-%d.err", fx->dir, i);
		start_watch(fx, &w[i], i == 1, out[i], err);
	}
	bool seen[2];
	for (int i = 0; i < 2; i++)
		seen[i] = h_wait_file(out[i], client, H_RUN_MS);
	for (int i = 0; i < 2; i++)
		assert_int_equal(h_proc_stop(&w[i], SIGTERM, H_RUN_MS), 0);
	assert_true(seen[0] && seen[1]);

	char *text = h_read_file(out[0], NULL),
	     *json = h_read_file(out[1], NULL);
	assert_non_null(text);
	assert_non_null(json);
	const char *t = strstr(json, "\"time\":\"");
	assert_non_null(t);
	t += 8;
	char utc_date[11];
	int uh, um, th, tm;
	assert_int_equal(sscanf(t, "%10[0-9-]T%2d:%2d", utc_date, &uh, &um), 3);
	char *line = strstr(text, client);
	while (line > text && line[-1] != '\n')
		line--;
	char shown_date[11];
	assert_int_equal(
	    sscanf(line, "%10[0-9-] %2d:%2d", shown_date, &th, &tm), 3);
	long long us =
	    ((long long)date_days(utc_date) * 86400 + uh * 3600 + um * 60) *
	    1000000;
	char nl_date[11];
	nl_date_of_us(nl_date, sizeof(nl_date), us);
	int ahead = ((th * 60 + tm) - (uh * 60 + um) + 1440) % 1440;
	if (strcmp(shown_date, nl_date) != 0 || (ahead != 60 && ahead != 120))
		fail_msg("watch shows '%.16s' for the UTC time %sT%02d:%02d",
			 line, utc_date, uh, um);
	free(text);
	free(json);
}

/* Runs `ipsnet watch --since 0` as ggz-test (with --json when json), its
 * output into out (fx->dir/watch.out), until it has printed needle, then
 * stops it. Whether it did within H_RUN_MS. */
static bool watch_until(struct fx *fx, bool json, const char *needle, char *out,
			size_t cap)
{
	char err[PATH_MAX];
	struct h_proc w;
	snprintf(out, cap, "%s/watch.out", fx->dir);
	snprintf(err, sizeof(err), "%s/watch.err", fx->dir);
	start_watch(fx, &w, json, out, err);
	bool seen = h_wait_file(out, needle, H_RUN_MS);
	assert_int_equal(h_proc_stop(&w, SIGTERM, H_RUN_MS), 0);
	return seen;
}

/* ipsnet watch names a trajectory's state as the other commands do
 * ("now on hold", STATUS "on hold"), not as the wire's enum ("on_hold"). */
static void test_watch_names_states_as_the_other_commands(void **state)
{
	struct fx *fx = *state;
	char client[64], tr[64], b[10], out[PATH_MAX], needle[96];
	add_program(fx);
	run_id(fx, client, sizeof(client), "ggz-test", "client", "register",
	       "--bsn", bsn(0, b), "--name", "Anna de Vries", "--birth-date",
	       "1990-04-12", "--municipality", "GM0363", "--benefit",
	       "participatiewet", "--quiet", NULL);
	run_id(fx, tr, sizeof(tr), "ggz-test", "refer", client, "--program",
	       "ips-test", "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "trajectory", "accept", tr, "--version",
	    "1", NULL);
	run(fx, EXIT_OK, "ggz-test", "trajectory", "start", tr, "--version",
	    "2", NULL);
	run(fx, EXIT_OK, "ggz-test", "trajectory", "hold", tr, "--version", "3",
	    NULL);
	assert_out(fx, "now on hold");

	assert_true(watch_until(fx, false, "(version 4)", out, sizeof(out)));
	char *text = h_read_file(out, NULL);
	assert_non_null(text);
	snprintf(needle, sizeof(needle),
		 "moved trajectory %s of client %s to on hold (", tr, client);
	if (strstr(text, needle) == NULL)
		fail_msg("watch printed:\n%s", text);
	free(text);
}

/* start and resume both ask for active, each from its own state: a resume
 * of an accepted trajectory is refused (it would be its start, counted as
 * one in the reports, with no way back), as is a start of a held one. Was:
 * done, and the sentence said what had happened instead. */
static void test_start_and_resume_each_from_its_own_state(void **state)
{
	struct fx *fx = *state;
	char client[64], tr[64], want[128];
	add_program(fx);
	register_client(fx, 0, "participatiewet", client, sizeof(client));
	run_id(fx, tr, sizeof(tr), "ggz-test", "refer", client, "--program",
	       "ips-test", "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "trajectory", "accept", tr, "--version",
	    "1", NULL);
	run(fx, EXIT_CONFLICT, "ggz-test", "trajectory", "resume", tr,
	    "--version", "2", NULL);
	assert_err(fx,
		   "the trajectory is accepted, not on hold: it is started, "
		   "not resumed");
	run(fx, EXIT_OK, "ggz-test", "trajectory", "start", tr, "--version",
	    "2", NULL);
	snprintf(want, sizeof(want), "trajectory %s started on ", tr);
	assert_out(fx, want);
	assert_out(fx, "now active (version 3)");
	run(fx, EXIT_OK, "ggz-test", "trajectory", "hold", tr, "--version", "3",
	    NULL);
	run(fx, EXIT_CONFLICT, "ggz-test", "trajectory", "start", tr,
	    "--version", "4", NULL);
	assert_err(fx,
		   "the trajectory is on hold, not accepted: it is resumed, "
		   "not started");
	run(fx, EXIT_OK, "ggz-test", "trajectory", "resume", tr, "--version",
	    "4", NULL);
	snprintf(want, sizeof(want), "trajectory %s resumed on ", tr);
	assert_out(fx, want);
	assert_out(fx, "now active (version 5)");
}

static void test_programs_and_fidelity_reviews(void **state)
{
	struct fx *fx = *state;
	add_program(fx);
	/* the owner changes one thing; the rest stays */
	json_t *j =
	    run_json(fx, EXIT_OK, "ggz-test", "program", "put", "ips-test",
		     "--version", "1", "--specialists", "5", "--json", NULL);
	assert_string_equal(jstr(j, "program.version"), "2");
	assert_string_equal(jstr(j, "program.name"), "IPS Test");
	assert_string_equal(jstr(j, "program.specialists"), "5");
	run(fx, EXIT_CONFLICT, "network", "program", "put", "ips-test",
	    "--version", "1", "--name", "Other", NULL);
	assert_err(fx, "now at version 2");
	run(fx, EXIT_DENIED, "gm0363", "program", "put", "ips-gm", "--owner",
	    "ggz-test", "--name", "X", "--region", "1", "--specialists", "1",
	    NULL);
	assert_one_line_error(fx);

	/* 24 x 4 + 3 = 99: fair */
	const char scores[] =
	    "4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,3";
	j = run_json(fx, EXIT_OK, "network", "fidelity", "record", "ips-test",
		     "--date", "2026-10-01", "--scores", scores, "--json",
		     NULL);
	assert_string_equal(jstr(j, "fidelity_review.total"), "99");
	assert_string_equal(jstr(j, "fidelity_review.band"), "fair");
	assert_string_equal(jstr(j, "fidelity_review.independent"), "true");
	run(fx, EXIT_OK, "ggz-test", "fidelity", "record", "ips-test", "--date",
	    "2026-10-02", "--scores", scores, NULL);
	assert_out(fx, "total 99 of 125, fair (self-assessment)");
	run(fx, EXIT_USAGE, "network", "fidelity", "record", "ips-test",
	    "--date", "2026-10-01", "--scores", "5,5,5", NULL);
	assert_one_line_error(fx);
	run(fx, EXIT_USAGE, "network", "fidelity", "record", "ips-test",
	    "--date", "2026-10-01", "--scores",
	    "6,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,3", NULL);
	assert_one_line_error(fx);

	run(fx, EXIT_OK, "network", "program", "list", NULL);
	assert_out(fx, "IPS Test");
	assert_out(fx, "fidelity reviews");
	j = run_json(fx, EXIT_OK, "ggz-test", "program", "list", "--json",
		     NULL);
	assert_string_equal(jstr(j, "programs[0].id"), "ips-test");
	assert_string_equal(jstr(j, "reviews[0].total"), "99");
}

/* fidelity record takes the review's day as --on, as trajectory start,
 * job end and funding approve take theirs; --date, its first name, still
 * works for the scripts written with it. */
static void test_fidelity_record_takes_the_day_as_on(void **state)
{
	struct fx *fx = *state;
	const char scores[] =
	    "4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,4,3";
	add_program(fx);

	run(fx, EXIT_OK, NULL, "fidelity", "record", "--help", NULL);
	assert_out(fx, "PROGRAM --on DATE --scores");
	assert_out(fx, "  --on DATE ");

	run(fx, EXIT_OK, "network", "fidelity", "record", "ips-test", "--on",
	    "2026-10-01", "--scores", scores, NULL);
	assert_out(fx, "of program ips-test on 2026-10-01: total 99 of 125");
	json_t *j =
	    run_json(fx, EXIT_OK, "network", "program", "list", "--json", NULL);
	assert_string_equal(jstr(j, "reviews[0].review_date"), "2026-10-01");
	run(fx, EXIT_OK, "ggz-test", "fidelity", "record", "ips-test", "--date",
	    "2026-10-02", "--scores", scores, NULL);
	assert_out(fx, "of program ips-test on 2026-10-02: total 99 of 125");
	j = run_json(fx, EXIT_OK, "ggz-test", "program", "list", "--json",
		     NULL);
	assert_string_equal(jstr(j, "reviews[0].review_date"), "2026-10-02");

	long long head = journal_seq(fx);
	run(fx, EXIT_USAGE, "network", "fidelity", "record", "ips-test",
	    "--scores", scores, NULL);
	assert_one_line_error(fx);
	assert_err(fx, "needs --on");
	run(fx, EXIT_USAGE, "network", "fidelity", "record", "ips-test", "--on",
	    "2026-10-03", "--date", "2026-10-04", "--scores", scores, NULL);
	assert_one_line_error(fx);
	run(fx, EXIT_USAGE, "network", "fidelity", "record", "ips-test", "--on",
	    "1 oktober", "--scores", scores, NULL);
	assert_one_line_error(fx);
	assert_err(fx, "--on takes a date as YYYY-MM-DD");
	/* A date of the right shape that the calendar has not: said so. */
	static const char *const wrong[][2] = {
	    {"2026-02-29", "--on '2026-02-29' is no date: February 2026 has "
			   "28 days"},
	    {"2026-11-31", "--on '2026-11-31' is no date: November 2026 has "
			   "30 days"},
	    {"2026-13-01", "--on '2026-13-01' is no date: a month is 01 to "
			   "12"},
	    {"1850-10-01", "--on takes a date from 1900 to 2199, not "
			   "'1850-10-01'"}};
	for (size_t i = 0; i < ARRAY_SIZE(wrong); i++) {
		run(fx, EXIT_USAGE, "network", "fidelity", "record", "ips-test",
		    "--on", wrong[i][0], "--scores", scores, NULL);
		assert_one_line_error(fx);
		assert_err(fx, wrong[i][1]);
	}
	assert_int_equal(journal_seq(fx), head);
}

static void test_the_audit_trail_shows_reads_changes_and_refusals(void **state)
{
	struct fx *fx = *state;
	char client[64], since[32];
	/* --since takes a day in the Netherlands, as every date ipsnet
	 * takes; today's, taken before the first row. */
	nl_date_of_us(since, sizeof(since), (long long)util_now_us());
	register_client(fx, 3, "wia", client, sizeof(client));
	run(fx, EXIT_OK, "ggz-test", "case", "show", client, NULL);
	run(fx, EXIT_DENIED, "uwv", "case", "show", client, NULL);

	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client",
			     client, "--json", NULL);
	json_t *records = json_object_get(j, "records");
	bool change = false, read = false, refusal = false;
	for (size_t i = 0; i < json_array_size(records); i++) {
		json_t *r = json_array_get(records, i);
		const char *org = jstr(r, "organisation");
		const char *action = jstr(r, "action");
		const char *result = jstr(r, "result");
		change |= strcmp(action, "register_client") == 0 &&
			  strcmp(result, "OK") == 0;
		read |= strcmp(org, "ggz-test") == 0 &&
			strcmp(action, "show_case") == 0;
		refusal |= strcmp(org, "uwv") == 0 &&
			   strcmp(result, "PERMISSION_DENIED") == 0;
	}
	assert_true(change);
	assert_true(read);
	assert_true(refusal);
	run(fx, EXIT_OK, "ggz-test", "audit", "--client", client, NULL);
	assert_out(fx, "TIME (UTC)");
	assert_out(fx, "PERMISSION_DENIED");

	j = run_json(fx, EXIT_OK, "network", "audit", "--since", since,
		     "--limit", "100", "--json", NULL);
	assert_true(json_array_size(json_object_get(j, "records")) >= 3);
	run(fx, EXIT_DENIED, "gm0363", "audit", "--client", client, NULL);
	assert_one_line_error(fx);
	run(fx, EXIT_USAGE, "network", "audit", NULL);
	assert_one_line_error(fx);
}

/* Whether the audit rows ipsnet printed as JSON (records) hold one with
 * object. */
static bool audit_has_object(json_t *records, const char *object)
{
	for (size_t i = 0; i < json_array_size(records); i++)
		if (strcmp(jstr(json_array_get(records, i), "object"),
			   object) == 0)
			return true;
	return false;
}

/* An AuditQuery of network with since, as a program using libipsnet asks
 * it: whether its answer holds a row with object. */
static bool raw_audit_since_has_object(struct fx *fx, const char *since,
				       const char *object)
{
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT, *answer;
	Ipsnet__V1__AuditQuery m = IPSNET__V1__AUDIT_QUERY__INIT;
	struct h_tls c;
	bool found = false;
	assert_int_equal(h_tls_connect_hello(&c, fx->d.port, certs, "network"),
			 0);
	m.client_id = "";
	m.since = (char *)since;
	m.limit = 1000;
	m.paged = true;
	e.request_id = 1;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_AUDIT_QUERY;
	e.audit_query = &m;
	assert_int_equal(h_tls_send_envelope(&c, &e), 0);
	answer = h_tls_recv_envelope(&c, 5000);
	if (answer == NULL)
		fail_msg("no answer to AuditQuery: %s", c.error);
	assert_int_equal(answer->body_case,
			 IPSNET__V1__ENVELOPE__BODY_AUDIT_LIST);
	for (size_t i = 0; i < answer->audit_list->n_records; i++)
		if (strcmp(answer->audit_list->records[i]->object, object) == 0)
			found = true;
	h_envelope_free(answer);
	h_tls_close(&c);
	return found;
}

/* audit --since DAY reads from that day's midnight in the Netherlands, as
 * every date ipsnet takes is a Dutch day: a row of 00:30 Dutch time
 * (23:30 UTC the day before in winter, 22:30 in summer) is on it, one of
 * 23:30 Dutch time the evening before is not. It read DAY as a UTC day,
 * and left out the first hour or two of the Dutch day. A UTC time stays
 * exact. The server reads a bare date on the wire (AuditQuery.since) the
 * same way, for a program using libipsnet: it read it as a UTC day. */
static void test_audit_since_a_day_is_the_dutch_day(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *day;
		int h, m;
		const char *object;
	} rows[] = {
	    {"2026-11-25", 22, 30, "border:winter-before"},
	    {"2026-11-25", 23, 30, "border:winter-after"},
	    {"2026-07-01", 21, 30, "border:summer-before"},
	    {"2026-07-01", 22, 30, "border:summer-after"},
	};
	char db[PATH_MAX], sql[512];
	snprintf(db, sizeof(db), "%s/ipsnet.db", fx->dir);
	for (size_t i = 0; i < ARRAY_SIZE(rows); i++) {
		long long us = ((long long)date_days(rows[i].day) * 86400 +
				rows[i].h * 3600 + rows[i].m * 60) *
			       1000000;
		snprintf(sql, sizeof(sql),
			 "INSERT INTO audit (time_us, org, user, client_id, "
			 "action, object, result, peer) VALUES (%lld, "
			 "'ggz-test', 'test.user', NULL, 'show_case', '%s', "
			 "'OK', '127.0.0.1:1')",
			 us, rows[i].object);
		h_db_exec(db, sql);
	}
	json_t *j = run_json(fx, EXIT_OK, "network", "audit", "--since",
			     "2026-11-26", "--json", NULL);
	json_t *records = json_object_get(j, "records");
	assert_true(audit_has_object(records, "border:winter-after"));
	assert_false(audit_has_object(records, "border:winter-before"));
	j = run_json(fx, EXIT_OK, "network", "audit", "--since", "2026-07-02",
		     "--json", NULL);
	records = json_object_get(j, "records");
	assert_true(audit_has_object(records, "border:summer-after"));
	assert_false(audit_has_object(records, "border:summer-before"));
	/* a UTC time is the time it says */
	j = run_json(fx, EXIT_OK, "network", "audit", "--since",
		     "2026-11-25T23:30:00Z", "--json", NULL);
	records = json_object_get(j, "records");
	assert_true(audit_has_object(records, "border:winter-after"));
	j = run_json(fx, EXIT_OK, "network", "audit", "--since",
		     "2026-11-25 23:30:01", "--json", NULL);
	assert_false(audit_has_object(json_object_get(j, "records"),
				      "border:winter-after"));
	/* a day before 1970 (whose Dutch midnight is before the epoch):
	 * everything */
	static const char *const early[] = {"1900-01-01", "1970-01-01"};
	for (size_t i = 0; i < ARRAY_SIZE(early); i++) {
		j = run_json(fx, EXIT_OK, "network", "audit", "--since",
			     early[i], "--json", NULL);
		assert_true(audit_has_object(json_object_get(j, "records"),
					     "border:summer-before"));
	}
	/* AuditQuery.since, a bare date on the wire */
	assert_true(raw_audit_since_has_object(fx, "2026-11-26",
					       "border:winter-after"));
	assert_false(raw_audit_since_has_object(fx, "2026-11-26",
						"border:winter-before"));
	assert_true(raw_audit_since_has_object(fx, "2026-07-02",
					       "border:summer-after"));
	assert_false(raw_audit_since_has_object(fx, "2026-07-02",
						"border:summer-before"));
	assert_true(raw_audit_since_has_object(fx, "1900-01-01",
					       "border:summer-before"));
}

/* audit --since takes a time with its offset from UTC, as RFC 3339 writes
 * one ("2026-11-26T00:30:00+01:00"), and reads from the UTC time it is; an
 * offset it cannot read is a usage error that says how to write one.
 *
 * CLI bug (failed before the fix): every time with an offset was refused,
 * "--since takes a day ... or a UTC time". */
static void test_audit_since_takes_a_time_with_an_offset(void **state)
{
	struct fx *fx = *state;
	char db[PATH_MAX], sql[512];
	snprintf(db, sizeof(db), "%s/ipsnet.db", fx->dir);
	/* 2026-11-25 23:30:00 UTC: 00:30 in Amsterdam, 18:30 in New York */
	long long us =
	    ((long long)date_days("2026-11-25") * 86400 + 23 * 3600 + 30 * 60) *
	    1000000;
	snprintf(sql, sizeof(sql),
		 "INSERT INTO audit (time_us, org, user, client_id, action, "
		 "object, result, peer) VALUES (%lld, 'ggz-test', 'test.user', "
		 "NULL, 'show_case', 'offset:row', 'OK', '127.0.0.1:1')",
		 us);
	h_db_exec(db, sql);
	static const struct {
		const char *since;
		bool has_row;
	} cases[] = {
	    {"2026-11-26T00:30:00+01:00", true},
	    {"2026-11-26T00:30:01+01:00", false},
	    {"2026-11-26 00:30:00+0100", true},
	    {"2026-11-25T18:30:00.000-05:00", true},
	    {"2026-11-25T18:30:00.5-05:00", false},
	    {"2026-11-25T23:30:00+00:00", true},
	    {"2026-11-25T23:30:01-00:00", false},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		json_t *j = run_json(fx, EXIT_OK, "network", "audit", "--since",
				     cases[i].since, "--json", NULL);
		if (audit_has_object(json_object_get(j, "records"),
				     "offset:row") != cases[i].has_row)
			fail_msg("audit --since %s %s the row of 23:30 UTC",
				 cases[i].since,
				 cases[i].has_row ? "leaves out" : "shows");
	}
	static const char *const refused[] = {
	    "2026-11-26T00:30:00+1",	  "2026-11-26T00:30:00+01",
	    "2026-11-26T00:30:00+01:60",  "2026-11-26T00:30:00+24:00",
	    "2026-11-26T00:30:00+01:00x", "2026-11-26T00:30:00+1:00",
	    "2026-11-26T00:30:00+01:00Z", "2026-11-26T00:30:00 +01:00"};
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		run(fx, EXIT_USAGE, "network", "audit", "--since", refused[i],
		    NULL);
		assert_one_line_error(fx);
		assert_err(fx, "--since");
		assert_err(fx, i < 7 ? "offset from UTC that is not +HH:MM"
				     : "offset from UTC");
	}
}

/* audit --after ID reads the trail on from a record already read, by id:
 * oldest first from the record after ID, in pages that join with none
 * missed and none twice (a time cannot promise that: a read is timed when
 * it is judged and written a moment later); --after 0 is from the first;
 * the table's last line names the id to go on from. The whole trail by
 * id is NETWORK's, as by time; a GGZ reads its client's so. */
static void test_audit_after_reads_on_by_id(void **state)
{
	struct fx *fx = *state;
	char client[64], after[32], want[128];
	register_client(fx, 3, "wia", client, sizeof(client));
	for (int i = 0; i < 3; i++)
		run(fx, EXIT_OK, "ggz-test", "case", "show", client, NULL);
	run(fx, EXIT_DENIED, "uwv", "case", "show", client, NULL);

	json_t *j = run_json(fx, EXIT_OK, "network", "audit", "--after", "0",
			     "--limit", "1000", "--json", NULL);
	json_t *all = json_incref(json_object_get(j, "records"));
	size_t n = json_array_size(all);
	assert_true(n >= 5);
	json_int_t last = 0;
	for (size_t i = 0; i < n; i++) {
		json_int_t id = json_integer_value(
		    json_object_get(json_array_get(all, i), "id"));
		assert_true(id > last);
		last = id;
	}
	/* Each query adds its own row: the pages go on past n, and their
	 * first n rows are those. */
	json_int_t from = 0;
	for (size_t seen = 0; seen < n;) {
		snprintf(after, sizeof(after), "%lld", (long long)from);
		j = run_json(fx, EXIT_OK, "network", "audit", "--after", after,
			     "--limit", "2", "--json", NULL);
		json_t *page = json_object_get(j, "records");
		assert_in_range(json_array_size(page), 1, 2);
		for (size_t i = 0; i < json_array_size(page) && seen < n;
		     i++, seen++)
			assert_int_equal(json_integer_value(json_object_get(
					     json_array_get(page, i), "id")),
					 json_integer_value(json_object_get(
					     json_array_get(all, seen), "id")));
		from = json_integer_value(json_object_get(
		    json_array_get(page, json_array_size(page) - 1), "id"));
	}

	json_int_t first =
	    json_integer_value(json_object_get(json_array_get(all, 0), "id"));
	json_int_t second =
	    json_integer_value(json_object_get(json_array_get(all, 1), "id"));
	snprintf(after, sizeof(after), "%lld", (long long)first);
	run(fx, EXIT_OK, "network", "audit", "--after", after, "--limit", "1",
	    NULL);
	snprintf(want, sizeof(want),
		 "last record shown: %lld (--after %lld reads on from it)",
		 (long long)second, (long long)second);
	assert_out(fx, want);

	j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client", client,
		     "--after", after, "--json", NULL);
	json_t *hers = json_object_get(j, "records");
	assert_true(json_array_size(hers) >= 4);
	for (size_t i = 0; i < json_array_size(hers); i++) {
		json_t *r = json_array_get(hers, i);
		assert_string_equal(jstr(r, "client_id"), client);
		assert_true(json_integer_value(json_object_get(r, "id")) >
			    first);
	}
	run(fx, EXIT_DENIED, "ggz-test", "audit", "--after", "0", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "only the network operator reads the audit trail of "
		       "every client; name one of your clients");
	run(fx, EXIT_USAGE, "network", "audit", "--after", "x", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "--after takes a whole number");
	json_decref(all);
}

/* audit --since takes a time as the trail's TIME (UTC) column shows it,
 * to read on from a row; a time the server would refuse is a usage error
 * that names --since, before anything is sent. */
static void test_audit_since_takes_the_time_the_trail_shows(void **state)
{
	struct fx *fx = *state;
	char client[64], shown[32];
	register_client(fx, 3, "wia", client, sizeof(client));
	run(fx, EXIT_DENIED, "uwv", "case", "show", client, NULL);
	run(fx, EXIT_OK, "ggz-test", "audit", "--client", client, NULL);
	const char *line = strstr(fx->r.out, "PERMISSION_DENIED");
	assert_non_null(line);
	while (line > fx->r.out && line[-1] != '\n')
		line--;
	snprintf(shown, sizeof(shown), "%.19s", line); /* 2026-11-26 17:14:42 */
	assert_int_equal(shown[10], ' ');

	run(fx, EXIT_OK, "network", "audit", "--since", shown, NULL);
	assert_out(fx, "PERMISSION_DENIED");
	assert_out(fx, shown);
	/* as --json gives a time, and as the help writes it */
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client",
			     client, "--json", NULL);
	const char *first = jstr(j, "records[0].time");
	run(fx, EXIT_OK, "network", "audit", "--since", first, NULL);
	assert_out(fx, "register_client");
	char z[32];
	snprintf(z, sizeof(z), "%.10sT%.8sZ", shown, shown + 11);
	run(fx, EXIT_OK, "network", "audit", "--since", z, NULL);
	assert_out(fx, "PERMISSION_DENIED");
	/* Her GGZ reads her trail from a time on too, as the usage offers
	 * (was refused: "only the network operator reads the audit trail by
	 * time"); another organisation does not. */
	run(fx, EXIT_OK, "ggz-test", "audit", "--client", client, "--since", z,
	    NULL);
	assert_out(fx, "PERMISSION_DENIED");
	run(fx, EXIT_DENIED, "uwv", "audit", "--client", client, "--since", z,
	    NULL);
	assert_one_line_error(fx);
	static const char *const refused[] = {
	    "2026-11-26T06:59:00", "2026-11-26T25:00:00Z", "2026-11-26 06:59",
	    "2026-11-26x", "2026-11-26T06:59:00Zulu"};
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		run(fx, EXIT_USAGE, "network", "audit", "--since", refused[i],
		    NULL);
		assert_one_line_error(fx);
		assert_err(fx, "--since");
	}
}

static void test_mistakes_are_usage_errors_before_anything_is_sent(void **state)
{
	struct fx *fx = *state;
	static const char *const cases[][12] = {
	    {"client", "register", "--bsn", "123456789", "--name", "x",
	     "--birth-date", "1990-01-01", "--municipality", "GM0363",
	     "--benefit", "wia"},
	    {"client", "register", "--bsn", "111222333", "--name", "x",
	     "--birth-date", "1990-02-30", "--municipality", "GM0363",
	     "--benefit", "wia"},
	    {"client", "register", "--bsn", "111222333", "--name", "x",
	     "--birth-date", "1990-02-03", "--municipality", "Amsterdam",
	     "--benefit", "wia"},
	    {"client", "register", "--bsn", "111222333", "--name", "x",
	     "--birth-date", "1990-02-03", "--municipality", "GM0363",
	     "--benefit", "bijstand"},
	    {"client", "register", "--bsn", "111222333", "--name", "Jos\xe9",
	     "--birth-date", "1990-02-03", "--municipality", "GM0363",
	     "--benefit", "wia"},
	    {"case", "show", "cl-\xff"},
	    /* a UTF-16 surrogate, and an overlong '/' */
	    {"refer", "cl-1", "--program", "p", "--note", "\xed\xa0\x80"},
	    {"refer", "cl-1", "--program", "p", "--note", "\xe0\x80\xaf"},
	    {"client", "register", "--bsn", "111222333"},
	    {"client"},
	    {"client", "remove", "x"},
	    {"refer", "cl-1"},
	    {"refer", "cl-1", "cl-2", "--program", "p"},
	    {"refer", "cl-1", "--program", "p", "--colour", "red"},
	    {"trajectory", "accept", "tr-1"},
	    {"trajectory", "accept", "tr-1", "--version", "two"},
	    {"trajectory", "decline", "tr-1", "--version", "1", "--reason",
	     "not now"},
	    {"trajectory", "start", "tr-1", "--version", "2", "--on",
	     "25-11-2026x"},
	    {"funding", "request", "tr-1", "--months", "12"},
	    {"funding", "request", "tr-1", "--funder", "gm0363", "--other", "x",
	     "--months", "12"},
	    {"funding", "request", "tr-1", "--funder", "gm0363", "--months",
	     "0"},
	    /* the server takes 1 to 60 months */
	    {"funding", "request", "tr-1", "--funder", "gm0363", "--months",
	     "61"},
	    {"funding", "reject", "fu-1", "--version", "1"},
	    {"funding", "reject", "fu-1", "--version", "1", "--reason", ""},
	    {"job", "add", "cl-1", "--employer", "E", "--start", "2026-01-01",
	     "--hours", "lots"},
	    {"job", "add", "cl-1", "--employer", "E", "--start", "2026-01-01",
	     "--hours", "0x10"},
	    {"job", "add", "cl-1", "--employer", "E", "--start", "2026-01-01",
	     "--hours", "2e1"},
	    {"job", "add", "cl-1", "--employer", "E", "--start", "2026-01-01",
	     "--hours", "8", "--competitive", "--not-competitive"},
	    {"program", "put", "p", "--name", "only a name"},
	    {"audit", "--since", "yesterday"},
	    {"import"},
	    {"import", "x.csv", "--kind", "people"},
	    {"sync", "--mirror", "x.db", "--bogus"},
	    {"watch", "--since"},
	    {"report", "--year", "2025", "--bogus"},
	    {"ping", "--count"},
	    {"whoami", "extra"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct h_args a;
		h_args_init(&a);
		h_args_org(&a, &fx->d, certs, "ggz-test");
		for (size_t k = 0; k < 12 && cases[i][k] != NULL; k++)
			h_args_add(&a, "%s", cases[i][k]);
		h_result_free(&fx->r);
		if (h_run_cli(&fx->r, a.argv) != EXIT_USAGE) {
			print_result(&fx->r);
			fail_msg("case %zu (%s %s) exited %d, not 2", i,
				 cases[i][0], cases[i][1] ? cases[i][1] : "",
				 fx->r.code);
		}
		assert_one_line_error(fx);
	}
	/* nothing reached the journal */
	assert_int_equal(journal_seq(fx), 0);

	run(fx, EXIT_NOT_FOUND, "ggz-test", "program", "put", "nope",
	    "--version", "1", "--specialists", "2", NULL);
	assert_one_line_error(fx);
	run(fx, EXIT_USAGE, NULL, "frobnicate", NULL);
	/* what to give, not only what is wrong */
	run(fx, EXIT_USAGE, "gm0363", "funding", "reject", "fu-1", "--version",
	    "1", NULL);
	assert_err(fx, "needs --reason");
	/* nobody listening */
	char ca[PATH_MAX];
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	run(fx, EXIT_CONNECT, NULL, "--server", "127.0.0.1:1", "--ca", ca,
	    "program", "list", NULL);
	assert_one_line_error(fx);
}

/* Exit code 3 says the server could not be reached, and a script tries
 * again later; a file of the caller's own that cannot be read or written
 * is another failure (1). */
static void
test_a_local_file_that_fails_is_not_a_connection_failure(void **state)
{
	struct fx *fx = *state;
	char missing[PATH_MAX], not_a_db[PATH_MAX], out[PATH_MAX];
	snprintf(missing, sizeof(missing), "%s/no-such-clients.csv", fx->dir);
	snprintf(not_a_db, sizeof(not_a_db), "%s/notes.txt", fx->dir);
	snprintf(out, sizeof(out), "%s/no-such-dir/report.html", fx->dir);
	write_file(not_a_db, "these are notes, not a mirror\n");

	run(fx, EXIT_ELSE, "ggz-test", "import", missing, NULL);
	assert_one_line_error(fx);
	assert_err(fx, "cannot read");
	run(fx, EXIT_ELSE, "ggz-test", "sync", "--mirror", not_a_db, NULL);
	assert_one_line_error(fx);
	assert_err(fx, "not a database");
	run(fx, EXIT_ELSE, "network", "report", "--year", "2025", "--format",
	    "html", "--output", out, NULL);
	assert_one_line_error(fx);
	assert_err(fx, "cannot write");
}

/* A key that is another organisation's says so: it is read all right,
 * it only does not go with the certificate. */
static void test_a_key_of_another_certificate_is_named_as_such(void **state)
{
	struct fx *fx = *state;
	struct h_args a;
	args_server(fx, &a);
	h_args_add(&a, "--cert");
	h_args_add(&a, "%s/gm0363.crt", certs);
	h_args_add(&a, "--key");
	h_args_add(&a, "%s/ggz-test.key", certs);
	h_args_add(&a, "whoami");
	h_result_free(&fx->r);
	h_run_cli(&fx->r, a.argv);
	assert_int_equal(fx->r.code, EXIT_ELSE);
	assert_one_line_error(fx);
	assert_err(fx, "does not belong to certificate");
	assert_err(fx, "gm0363.crt");
}

/* A key without its certificate is a usage error, as a certificate
 * without its key is, said before anything is sent: ipsnet connected
 * without a certificate and exited 4, "the server requires a client
 * certificate", a refusal by the server for a mistake of the command's. */
static void test_a_key_without_its_certificate_is_a_usage_error(void **state)
{
	struct fx *fx = *state;
	struct h_args a;
	args_server(fx, &a);
	h_args_add(&a, "--key");
	h_args_add(&a, "%s/ggz-test.key", certs);
	h_args_add(&a, "whoami");
	h_result_free(&fx->r);
	h_run_cli(&fx->r, a.argv);
	if (fx->r.code != EXIT_USAGE) {
		print_result(&fx->r);
		fail_msg("exit %d, not %d", fx->r.code, EXIT_USAGE);
	}
	assert_one_line_error(fx);
	assert_err(fx, "ggz-test.key' given without its certificate (--cert)");
}

/* A CA, certificate or key file that cannot be opened (a typo in a
 * profile, a file not there yet) says why, as the system does: it said
 * "system lib", OpenSSL's last word, which names nothing to fix. */
static void test_a_file_that_cannot_be_opened_says_why(void **state)
{
	struct fx *fx = *state;
	static const char *const what[] = {"the network CA", "certificate",
					   "key"};
	static const char *const file[] = {"ca.crt", "ggz-test.crt",
					   "ggz-test.key"};
	char missing[PATH_MAX], want[PATH_MAX + 64];
	snprintf(missing, sizeof(missing), "%s/no-such-file", fx->dir);
	for (size_t i = 0; i < ARRAY_SIZE(what); i++) {
		struct h_args a;
		h_args_init(&a);
		h_args_add(&a, "--server");
		h_args_add(&a, "127.0.0.1:%d", fx->d.port);
		h_args_add(&a, "--user");
		h_args_add(&a, "test.user");
		static const char *const opt[] = {"--ca", "--cert", "--key"};
		for (size_t k = 0; k < ARRAY_SIZE(opt); k++) {
			h_args_add(&a, "%s", opt[k]);
			if (k == i)
				h_args_add(&a, "%s", missing);
			else
				h_args_add(&a, "%s/%s", certs, file[k]);
		}
		h_args_add(&a, "whoami");
		h_result_free(&fx->r);
		h_run_cli(&fx->r, a.argv);
		if (fx->r.code != EXIT_ELSE) {
			print_result(&fx->r);
			fail_msg("%s missing: exit %d", what[i], fx->r.code);
		}
		assert_one_line_error(fx);
		snprintf(want, sizeof(want),
			 "cannot read %s '%s': No such file or directory",
			 what[i], missing);
		assert_err(fx, want);
	}
}

/* A --server that is not ipsnetd (here a web server, as on a port mixed
 * up with another service's) is said to be so: ipsnet said "no TLS
 * version in common (the server requires TLS 1.3 unless configured for
 * 1.2)", which sent the operator to the TLS settings of a server that
 * speaks no TLS at all. */
static void test_a_server_that_speaks_no_tls_is_said_to_be_so(void **state)
{
	struct fx *fx = *state;
	int fd;
	int port = h_closed_port(&fd);
	assert_int_not_equal(port, 0);
	assert_int_equal(listen(fd, 1), 0);
	pid_t pid = fork();
	assert_int_not_equal(pid, -1);
	if (pid == 0) {
		/* what python3 -m http.server answers to a TLS hello */
		static const char answer[] =
		    "HTTP/1.0 400 Bad request\r\n"
		    "Content-Type: text/html;charset=utf-8\r\n\r\n"
		    "<html><body>Bad request</body></html>\n";
		char buf[4096];
		int c = accept(fd, NULL, NULL);
		if (c < 0 || read(c, buf, sizeof(buf)) <= 0 ||
		    write(c, answer, sizeof(answer) - 1) < 0)
			_exit(1);
		close(c);
		_exit(0);
	}
	close(fd);
	struct h_args a;
	h_args_init(&a);
	args_org_without_user(&a, port, "ggz-test");
	h_args_add(&a, "whoami");
	h_result_free(&fx->r);
	int code = h_run_cli(&fx->r, a.argv);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	assert_int_equal(code, EXIT_CONNECT);
	assert_one_line_error(fx);
	assert_err(fx, "does not speak TLS");
	if (strstr(fx->r.err, "TLS version") != NULL)
		fail_msg("said to be a TLS version: %s", fx->r.err);
}

/* A server given as an IPv6 address is named in brackets, as --server
 * takes it: "cannot connect to ::1:7443" reads as another address, and
 * given back to --server it is refused as not HOST:PORT. */
static void test_an_ipv6_server_is_named_as_it_is_given(void **state)
{
	struct fx *fx = *state;
	char server[64], want[96];
	int fd;
	int port = h_closed_port(&fd); /* 127.0.0.1's; nothing on ::1 */
	assert_int_not_equal(port, 0);
	snprintf(server, sizeof(server), "[::1]:%d", port);
	run(fx, EXIT_CONNECT, "ggz-test", "--server", server, "whoami", NULL);
	close(fd);
	assert_one_line_error(fx);
	snprintf(want, sizeof(want), "cannot connect to %s: ", server);
	assert_err(fx, want);
}

/* A profile that is not found is named with the files looked for, as they
 * are: under $XDG_CONFIG_HOME when that is set (not ~/.config), and a
 * NAME with a '/' is the file itself. */
static void test_a_missing_profile_names_the_files_looked_for(void **state)
{
	struct fx *fx = *state;
	char xdg[PATH_MAX], want[PATH_MAX + 32], file[PATH_MAX];
	struct h_result by_name, by_path;
	char *old = getenv("XDG_CONFIG_HOME")
			? strdup(getenv("XDG_CONFIG_HOME"))
			: NULL;
	snprintf(xdg, sizeof(xdg), "%s/xdg", fx->dir);
	snprintf(file, sizeof(file), "%s/no-such-profile.ini", fx->dir);
	assert_int_equal(setenv("XDG_CONFIG_HOME", xdg, 1), 0);
	h_run_cli(&by_name, (const char *const[]){"--profile", "ggz-nope",
						  "whoami", NULL});
	h_run_cli(&by_path,
		  (const char *const[]){"--profile", file, "whoami", NULL});
	if (old != NULL)
		setenv("XDG_CONFIG_HOME", old, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	free(old);

	h_result_free(&fx->r);
	fx->r = by_name;
	assert_int_equal(fx->r.code, EXIT_USAGE);
	assert_one_line_error(fx);
	snprintf(want, sizeof(want), "%s/ipsnet/profiles/ggz-nope.ini", xdg);
	assert_err(fx, want);
	assert_err(fx, "var/dev/profiles/ggz-nope.ini");
	if (strstr(fx->r.err, "~/.config") != NULL ||
	    strstr(fx->r.err, "IPSNET_PROFILE_DIR") != NULL)
		fail_msg("not where it looked: %s", fx->r.err);

	h_result_free(&fx->r);
	fx->r = by_path;
	assert_int_equal(fx->r.code, EXIT_USAGE);
	assert_one_line_error(fx);
	assert_err(fx, file);
	if (strstr(fx->r.err, "var/dev/profiles") != NULL)
		fail_msg("not where it looked: %s", fx->r.err);
}

/* Under cron or a systemd service there may be no $HOME: the profile is
 * still looked for in the account's home folder (its passwd entry), as
 * ssh and git do. ipsnet looked in ./var/dev/profiles alone, so a
 * profile that worked from a shell was "no profile" in a cron job. */
static void test_without_home_the_accounts_home_is_looked_in(void **state)
{
	struct fx *fx = *state;
	char want[PATH_MAX + 64];
	struct h_result r;
	const struct passwd *pw = getpwuid(geteuid());
	assert_non_null(pw);
	char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
	char *xdg = getenv("XDG_CONFIG_HOME")
			? strdup(getenv("XDG_CONFIG_HOME"))
			: NULL;
	unsetenv("HOME");
	unsetenv("XDG_CONFIG_HOME");
	h_run_cli(&r, (const char *const[]){"--profile", "h39-nowhere",
					    "whoami", NULL});
	if (home != NULL)
		setenv("HOME", home, 1);
	if (xdg != NULL)
		setenv("XDG_CONFIG_HOME", xdg, 1);
	free(home);
	free(xdg);

	h_result_free(&fx->r);
	fx->r = r;
	assert_int_equal(fx->r.code, EXIT_USAGE);
	assert_one_line_error(fx);
	snprintf(want, sizeof(want),
		 "%s/.config/ipsnet/profiles/h39-nowhere.ini", pw->pw_dir);
	assert_err(fx, want);
}

/* `ipsnet whoami` with the key file key: its exit code. */
static int whoami_with_key(struct fx *fx, const char *key)
{
	char server[64], ca[PATH_MAX + 8], cert[PATH_MAX + 16];
	snprintf(server, sizeof(server), "127.0.0.1:%d", fx->d.port);
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	snprintf(cert, sizeof(cert), "%s/ggz-test.crt", certs);
	const char *argv[] = {IPSNET_PATH, "--server", server,	    "--ca",
			      ca,	   "--cert",   cert,	    "--key",
			      key,	   "--user",   "test.user", "whoami",
			      NULL};
	h_result_free(&fx->r);
	return h_run(&fx->r, IPSNET_PATH, argv);
}

/* A key that anyone on the machine may read lets anyone act as the
 * organisation: the command says so on stderr (as ssh refuses such a
 * key) and goes on; a key readable by its owner or her team (a group)
 * gives no note. Was: nothing, whatever its mode. */
static void test_a_key_anyone_may_read_is_noted(void **state)
{
	struct fx *fx = *state;
	char from[PATH_MAX + 16], key[PATH_MAX], *text;
	size_t len;
	snprintf(from, sizeof(from), "%s/ggz-test.key", certs);
	text = h_read_file(from, &len);
	assert_non_null(text);
	snprintf(key, sizeof(key), "%s/team.key", fx->dir);
	write_file(key, text);
	free(text);
	assert_int_equal(chmod(key, 0640), 0);
	assert_int_equal(whoami_with_key(fx, key), EXIT_OK);
	assert_true(strstr(fx->r.err, "note:") == NULL);
	assert_int_equal(chmod(key, 0644), 0);
	assert_int_equal(whoami_with_key(fx, key), EXIT_OK);
	assert_err(fx, "may be read by anyone on this machine (mode 0644)");
	assert_out(fx, "ggz-test");
}

/* Runs `ipsnet --profile NAME whoami` in folder dir, with no profile of
 * that name in $IPSNET_PROFILE_DIR or the caller's config: the search ends
 * in dir's ./var/dev/profiles. */
static int whoami_in(struct fx *fx, const char *dir, const char *name)
{
	char here[PATH_MAX], xdg[PATH_MAX + 8];
	snprintf(xdg, sizeof(xdg), "XDG_CONFIG_HOME=%s/none", dir);
	assert_non_null(getcwd(here, sizeof(here)));
	assert_int_equal(chdir(dir), 0);
	const char *argv[] = {"env", "-u",	  "IPSNET_PROFILE_DIR",
			      xdg,   IPSNET_PATH, "--profile",
			      name,  "whoami",	  NULL};
	h_result_free(&fx->r);
	int code = h_run(&fx->r, "/usr/bin/env", argv);
	assert_int_equal(chdir(here), 0);
	return code;
}

/* A profile looked for in the current folder's ./var/dev/profiles (the
 * development network's) that another user put there (a caseworker who
 * runs ipsnet in /tmp) is not used: it would send her requests, and the
 * personal data in them, to the server it names. It must be the caller's
 * or root's, and writable by nobody else. Was: used, whoever it was. */
static void
test_a_profile_planted_in_the_current_folder_is_not_used(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], path[PATH_MAX + 64];
	snprintf(dir, sizeof(dir), "%s/shared", fx->dir);
	static const char *const sub[] = {"", "/var", "/var/dev",
					  "/var/dev/profiles"};
	for (size_t i = 0; i < ARRAY_SIZE(sub); i++) {
		snprintf(path, sizeof(path), "%s%s", dir, sub[i]);
		assert_int_equal(mkdir(path, 0755), 0);
	}
	snprintf(path, sizeof(path), "%s/var/dev/profiles/planted.ini", dir);
	write_profile(fx, path, "gm0363", "test.user");
	assert_int_equal(chmod(path, 0644), 0);

	assert_int_equal(chown(path, 65534, 65534), 0); /* nobody's */
	assert_int_equal(whoami_in(fx, dir, "planted"), EXIT_USAGE);
	assert_one_line_error(fx);
	assert_err(fx, "belongs to another user");
	assert_int_equal(chown(path, geteuid(), getegid()), 0);
	assert_int_equal(chmod(path, 0666), 0);
	assert_int_equal(whoami_in(fx, dir, "planted"), EXIT_USAGE);
	assert_err(fx, "may be written by others");
	/* the caller's own: used */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(whoami_in(fx, dir, "planted"), EXIT_OK);
	assert_out(fx, "gm0363");
}

/* A profile that is there but cannot be read (not readable by the
 * caseworker, a broken link) stops the search with the reason: the search
 * went on to the next place, and the command acted with another file of
 * the same name there, here another organisation's, without a word (or
 * said "no profile" of a file that is there). */
static void test_a_profile_that_cannot_be_read_is_not_passed_over(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], xdg[PATH_MAX], path[PATH_MAX + 32], env[PATH_MAX];
	snprintf(dir, sizeof(dir), "%s/profiles", fx->dir);
	snprintf(xdg, sizeof(xdg), "%s/xdg", fx->dir);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(mkdir(xdg, 0755), 0);
	snprintf(path, sizeof(path), "%s/ipsnet", xdg);
	assert_int_equal(mkdir(path, 0755), 0);
	snprintf(path, sizeof(path), "%s/ipsnet/profiles", xdg);
	assert_int_equal(mkdir(path, 0755), 0);
	/* the one in $IPSNET_PROFILE_DIR: a link to itself (ELOOP, which
	 * root gets too, where a mode of 0600 would not stop root) */
	snprintf(path, sizeof(path), "%s/ggz.ini", dir);
	assert_int_equal(symlink("ggz.ini", path), 0);
	/* another of that name further on, another organisation's */
	snprintf(path, sizeof(path), "%s/ipsnet/profiles/ggz.ini", xdg);
	write_profile(fx, path, "gm0363", "test.user");

	char *old = getenv("XDG_CONFIG_HOME")
			? strdup(getenv("XDG_CONFIG_HOME"))
			: NULL;
	assert_int_equal(setenv("XDG_CONFIG_HOME", xdg, 1), 0);
	snprintf(env, sizeof(env), "IPSNET_PROFILE_DIR=%s", dir);
	const char *argv[] = {"env", env,      IPSNET_PATH, "--profile",
			      "ggz", "whoami", NULL};
	h_result_free(&fx->r);
	int code = h_run(&fx->r, "/usr/bin/env", argv);
	if (old != NULL)
		setenv("XDG_CONFIG_HOME", old, 1);
	else
		unsetenv("XDG_CONFIG_HOME");
	free(old);
	if (code != EXIT_USAGE) {
		print_result(&fx->r);
		fail_msg("exit %d, not %d", code, EXIT_USAGE);
	}
	assert_one_line_error(fx);
	snprintf(path, sizeof(path),
		 "cannot read profile '%s/ggz.ini': Too many levels of "
		 "symbolic links",
		 dir);
	assert_err(fx, path);
	assert_not_out(fx, "gm0363");
}

/* A new mirror holds personal data (BSNs, names; for a GGZ the referral
 * notes): like the daemon's database and its backups, it is made readable
 * by its owner only, whatever the umask, and so are its -wal and -shm. */
static void test_a_new_mirror_is_its_owners_only(void **state)
{
	struct fx *fx = *state;
	char client[64], mirror[PATH_MAX], side[PATH_MAX + 8];
	struct stat st;
	register_client(fx, 6, "wia", client, sizeof(client));
	snprintf(mirror, sizeof(mirror), "%s/ggz-test.db", fx->dir);
	mode_t old = umask(022);
	struct h_args a;
	h_args_init(&a);
	h_args_org(&a, &fx->d, certs, "ggz-test");
	h_args_add(&a, "sync");
	h_args_add(&a, "--mirror");
	h_args_add(&a, "%s", mirror);
	h_result_free(&fx->r);
	int code = h_run_cli(&fx->r, a.argv);
	umask(old);
	assert_int_equal(code, EXIT_OK);
	assert_null(strstr(fx->r.err, "every user"));
	assert_int_equal(stat(mirror, &st), 0);
	if ((st.st_mode & 077) != 0)
		fail_msg("the mirror has mode %03o",
			 (unsigned)st.st_mode & 0777);
	static const char *const sides[] = {"-wal", "-shm"};
	for (size_t i = 0; i < ARRAY_SIZE(sides); i++) {
		snprintf(side, sizeof(side), "%s%s", mirror, sides[i]);
		if (stat(side, &st) == 0 && (st.st_mode & 077) != 0)
			fail_msg("%s has mode %03o", side,
				 (unsigned)st.st_mode & 0777);
	}
}

/* A mirror file that was there keeps its mode (a group may be meant to
 * read it), but one every user may read is said at each sync, with the
 * command that mends it; the sync goes on. */
static void test_a_mirror_every_user_may_read_is_warned_of(void **state)
{
	struct fx *fx = *state;
	char client[64], mirror[PATH_MAX], want[PATH_MAX + 64];
	struct stat st;
	register_client(fx, 6, "wia", client, sizeof(client));
	snprintf(mirror, sizeof(mirror), "%s/ggz-test.db", fx->dir);
	int fd = open(mirror, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(fchmod(fd, 0644), 0);
	assert_int_equal(close(fd), 0);
	for (int pass = 0; pass < 2; pass++) {
		run(fx, EXIT_OK, "ggz-test", "sync", "--mirror", mirror, NULL);
		assert_err(fx, "ipsnet: warning: every user of this computer "
			       "may read");
		snprintf(want, sizeof(want),
			 "(mode 644), which holds personal "
			 "data (BSNs, names): 'chmod o-rw %s'",
			 mirror);
		assert_err(fx, want);
	}
	assert_int_equal(stat(mirror, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0644);
	assert_int_equal(chmod(mirror, 0640), 0);
	run(fx, EXIT_OK, "ggz-test", "sync", "--mirror", mirror, NULL);
	assert_null(strstr(fx->r.err, "every user"));
}

/* The server refuses a Hello without a user (the audit trail records who
 * acts): run without $USER, as under cron, ipsnet names the account it
 * runs as. */
static void test_without_user_the_account_is_the_user(void **state)
{
	struct fx *fx = *state;
	const struct passwd *pw = getpwuid(geteuid());
	assert_non_null(pw);
	char *user = getenv("USER") ? strdup(getenv("USER")) : NULL;
	char *ipsnet_user =
	    getenv("IPSNET_USER") ? strdup(getenv("IPSNET_USER")) : NULL;
	struct h_args a;
	json_error_t e;
	h_args_init(&a); /* h_args_org would say --user */
	args_org_without_user(&a, fx->d.port, "ggz-test");
	h_args_add(&a, "whoami");
	h_args_add(&a, "--json");
	unsetenv("USER");
	unsetenv("IPSNET_USER");
	h_result_free(&fx->r);
	int code = h_run_cli(&fx->r, a.argv);
	if (user != NULL)
		setenv("USER", user, 1);
	if (ipsnet_user != NULL)
		setenv("IPSNET_USER", ipsnet_user, 1);
	free(user);
	free(ipsnet_user);
	if (code != EXIT_OK) {
		print_result(&fx->r);
		fail_msg("ipsnet whoami without $USER exited %d", code);
	}
	json_decref(fx->json);
	fx->json = json_loads(fx->r.out, 0, &e);
	assert_non_null(fx->json);
	assert_string_equal(jstr(fx->json, "user"), pw->pw_name);
}

/* A user of blanks only names nobody, as an empty one: the audit trail
 * would record every read and change of that connection as done by "   ".
 * The server refused an empty user but took blanks. ipsnet refuses both
 * itself, as a usage error, before it connects (it exited 1 with the
 * server's refusal); the server refuses them from any other client. */
static void test_a_user_of_blanks_only_is_refused(void **state)
{
	struct fx *fx = *state;
	static const char *const blanks[] = {"", " ", "   "};
	for (size_t i = 0; i < ARRAY_SIZE(blanks); i++) {
		run(fx, EXIT_USAGE, "ggz-test", "--user", blanks[i], "whoami",
		    NULL);
		assert_one_line_error(fx);
		assert_err(fx, "the user is empty or blanks only");
	}
	assert_false(h_daemon_log_contains(&fx->d, "Hello names no user"));
	for (size_t i = 0; i < ARRAY_SIZE(blanks); i++) {
		struct h_tls c;
		struct h_tls_opts o;
		h_tls_opts_org(&o, certs, "ggz-test");
		if (h_tls_connect(&c, fx->d.port, &o) != 0)
			fail_msg("ggz-test: %s", c.error);
		assert_int_equal(h_tls_hello(&c, blanks[i], NULL),
				 IPSNET__V1__CODE__INVALID_ARGUMENT);
		h_tls_close(&c);
	}
	/* The refusal is logged as the connection closes, after the answer. */
	assert_true(h_daemon_wait_log(&fx->d, "Hello names no user", H_TLS_MS));
	/* a tab is a control character: ipsnet refuses it before it
	 * connects */
	static const char *const tabs[] = {"\t", " \t "};
	for (size_t i = 0; i < ARRAY_SIZE(tabs); i++) {
		run(fx, EXIT_USAGE, "ggz-test", "--user", tabs[i], "whoami",
		    NULL);
		assert_one_line_error(fx);
		assert_err(fx, "the user holds a control character");
	}
	/* a name with blanks in it is a name */
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "--user", "Jan de Vries",
			     "whoami", "--json", NULL);
	assert_string_equal(jstr(j, "user"), "Jan de Vries");
}

/* The user goes as it is into the audit trail, the journal and the log:
 * a line break in it forged a record's line in what a security officer
 * reads, an escape sequence (ESC, or CSI as the C1 character U+009B)
 * took over her terminal. The server took any user. ipsnet refuses it
 * itself, as a usage error, before it connects (it exited 1 with the
 * server's refusal); the server refuses it from any other client. */
static void test_a_user_with_control_characters_is_refused(void **state)
{
	struct fx *fx = *state;
	static const char *const users[] = {
	    "eve\n2026-11-26 10:00:00  ggz-test  piet  read_case",
	    "eve\033[2J",
	    "eve\r",
	    "eve\tpiet",
	    "eve\177",
	    "eve\302\2332J", /* U+009B, CSI */
	    "eve\302\205",   /* U+0085, NEL: a line break */
	};
	for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
		run(fx, EXIT_USAGE, "ggz-test", "--user", users[i], "whoami",
		    NULL);
		assert_one_line_error(fx);
		assert_err(fx, "the user holds a control character at byte 4");
		struct h_tls c;
		struct h_tls_opts o;
		h_tls_opts_org(&o, certs, "ggz-test");
		if (h_tls_connect(&c, fx->d.port, &o) != 0)
			fail_msg("ggz-test: %s", c.error);
		assert_int_equal(h_tls_hello(&c, users[i], NULL),
				 IPSNET__V1__CODE__INVALID_ARGUMENT);
		h_tls_close(&c);
	}
	assert_true(h_daemon_wait_log(
	    &fx->d, "the user in Hello holds a control character", H_TLS_MS));
	/* the profile's user, by the same rule */
	char file[PATH_MAX];
	snprintf(file, sizeof(file), "%s/p.ini", fx->dir);
	write_profile(fx, file, "ggz-test", "eve\033[2J");
	run(fx, EXIT_USAGE, NULL, "--profile", file, "whoami", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "the user holds a control character at byte 4");
	/* letters beyond ASCII are letters */
	json_t *j =
	    run_json(fx, EXIT_OK, "ggz-test", "--user",
		     "Zo\303\253 \303\207elik", "whoami", "--json", NULL);
	assert_string_equal(jstr(j, "user"), "Zo\303\253 \303\207elik");
}

/* out: file (an absolute path) with slashes added before its last part
 * until it is len bytes long; the same file. */
static void padded_path(char *out, size_t cap, const char *file, size_t len)
{
	const char *base = strrchr(file, '/');
	size_t dir = (size_t)(base - file), rest = strlen(base);
	assert_true(len >= dir + rest && len < cap);
	memcpy(out, file, dir);
	memset(out + dir, '/', len - dir - rest);
	memcpy(out + len - rest, base, rest + 1);
}

/* ipsnet with the IPSNET_* variable assignment in its environment (the
 * harness runs it without the test's), then args. */
static void run_env(struct fx *fx, int want, const char *assignment,
		    const char *const args[])
{
	const char *argv[H_ARGS_MAX + 4] = {"env", assignment, IPSNET_PATH};
	int n = 3;
	for (int i = 0; args[i] != NULL && n < H_ARGS_MAX + 3; i++)
		argv[n++] = args[i];
	h_result_free(&fx->r);
	if (h_run(&fx->r, "/usr/bin/env", argv) != want) {
		print_result(&fx->r);
		fail_msg("ipsnet with %.40s... exited %d, not %d", assignment,
			 fx->r.code, want);
	}
}

/* A setting too long for ipsnet's buffers is refused as a usage error,
 * naming the setting and its limit, before anything is sent. It was cut:
 * the first 1023 bytes of a longer path may name another file (here the
 * real one: the command then worked with a path it was not given), and a
 * cut user puts a name in the audit trail that nobody gave. A user of 127
 * bytes, what the daemon takes in Hello, goes through whole. */
static void test_settings_too_long_are_refused_not_cut(void **state)
{
	struct fx *fx = *state;
	char user[129], file[PATH_MAX], path[PATH_MAX], env[PATH_MAX + 16];
	memset(user, 'u', 127);
	user[127] = '\0';
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "whoami", "--user", user,
			     "--json", NULL);
	assert_string_equal(jstr(j, "user"), user);
	strcpy(user + 127, "v");
	run(fx, EXIT_USAGE, "ggz-test", "whoami", "--user", user, NULL);
	assert_one_line_error(fx);
	assert_err(fx, "--user is 128 bytes long; the user (whom the audit "
		       "trail names) may be at most 127 bytes");

	snprintf(file, sizeof(file), "%s/ca.crt", certs);
	padded_path(path, sizeof(path), file, 1023);
	strcat(path, "x"); /* cut, it is ca.crt */
	run(fx, EXIT_USAGE, "ggz-test", "--ca", path, "whoami", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "--ca is 1024 bytes long; a file name may be at most "
		       "1023 bytes");

	/* the environment */
	struct h_args a;
	args_server(fx, &a); /* its --user: not IPSNET_USER */
	h_args_add(&a, "--cert");
	h_args_add(&a, "%s/ggz-test.crt", certs);
	h_args_add(&a, "whoami");
	snprintf(file, sizeof(file), "%s/ggz-test.key", certs);
	padded_path(path, sizeof(path), file, 1023);
	snprintf(env, sizeof(env), "IPSNET_KEY=%sx", path);
	run_env(fx, EXIT_USAGE, env, a.argv);
	assert_one_line_error(fx);
	assert_err(fx, "IPSNET_KEY is 1024 bytes long; a file name may be at "
		       "most 1023 bytes");
	h_args_init(&a);
	args_org_without_user(&a, fx->d.port, "ggz-test");
	h_args_add(&a, "whoami");
	snprintf(env, sizeof(env), "IPSNET_USER=%s", user);
	run_env(fx, EXIT_USAGE, env, a.argv);
	assert_one_line_error(fx);
	assert_err(fx, "IPSNET_USER is 128 bytes long");
	snprintf(env, sizeof(env), "USER=%s", user);
	run_env(fx, EXIT_USAGE, env, a.argv);
	assert_one_line_error(fx);
	assert_err(fx, "$USER is 128 bytes long");

	/* a profile named by its path */
	snprintf(file, sizeof(file), "%s/p.ini", fx->dir);
	write_profile(fx, file, "ggz-test", "test.user");
	run(fx, EXIT_OK, NULL, "--profile", file, "whoami", NULL);
	padded_path(path, sizeof(path), file, 1023);
	strcat(path, "x");
	run(fx, EXIT_USAGE, NULL, "--profile", path, "whoami", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "the profile's path is 1024 bytes long; a file name "
		       "may be at most 1023 bytes");
}

/* What a flag names, the environment does not: with --user, a login name
 * too long to be a user is not asked about ($USER is the user only when
 * nothing else names one), and with --server, --ca, --cert, --key and
 * --user an IPSNET_ variable too long for its setting is not either. */
static void test_a_variable_too_long_does_not_stop_the_flag_over_it(void **state)
{
	static const char *const vars[] = {"USER",	    "IPSNET_USER",
					   "IPSNET_SERVER", "IPSNET_CA",
					   "IPSNET_CERT",   "IPSNET_KEY"};
	struct fx *fx = *state;
	char env[PATH_MAX + 32];
	struct h_args a;
	h_args_init(&a);
	h_args_org(&a, &fx->d, certs, "ggz-test"); /* its --user */
	h_args_add(&a, "whoami");
	h_args_add(&a, "--json");
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		snprintf(env, sizeof(env), "%s=%0*d", vars[i], PATH_MAX, 0);
		run_env(fx, EXIT_OK, env, a.argv);
		assert_out(fx, "\"test.user\"");
	}
}

/* An empty --profile (a script's "--profile $ORG" with ORG unset) is a
 * usage error: it was taken as no profile, and $IPSNET_PROFILE, which the
 * flag is to override, chose the organisation the command acted as. */
static void test_an_empty_profile_flag_is_not_the_environments(void **state)
{
	struct fx *fx = *state;
	char file[PATH_MAX], env[PATH_MAX + 32];
	snprintf(file, sizeof(file), "%s/gm0363.ini", fx->dir);
	write_profile(fx, file, "gm0363", "test.user");
	snprintf(env, sizeof(env), "IPSNET_PROFILE=%s", file);
	const char *const with_env[] = {"whoami", NULL};
	run_env(fx, EXIT_OK, env, with_env);
	assert_out(fx, "gm0363");
	const char *const empty[] = {"--profile", "", "whoami", NULL};
	run_env(fx, EXIT_USAGE, env, empty);
	assert_one_line_error(fx);
	assert_err(fx, "--profile needs a NAME");
	assert_not_out(fx, "gm0363");
	const char *const empty_eq[] = {"--profile=", "whoami", NULL};
	run_env(fx, EXIT_USAGE, env, empty_eq);
	assert_one_line_error(fx);
}

/* Text that is not UTF-8 (a name typed in Latin-1) is refused at the
 * daemon's door, naming the field, and the connection goes on. Text of
 * that kind that is in a database already (from before the door checked)
 * cannot be a JSON string as it is: --json still gives every key, the
 * text with '?' for what it could not keep, rather than leaving the key
 * out. */
static void test_json_keeps_keys_whose_text_is_not_utf8(void **state)
{
	struct fx *fx = *state;
	/* a user too: a usage error before connecting (it exited 1 with the
	 * server's refusal) */
	run(fx, EXIT_USAGE, "ggz-test", "whoami", "--user", "Jos\xe9", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "the user is not UTF-8 text");

	/* ipsnet refuses such a name itself; the daemon refuses it from
	 * another client of the protocol. */
	struct h_tls c;
	assert_int_equal(h_tls_connect_hello(&c, fx->d.port, certs, "network"),
			 0);
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT, *answer;
	Ipsnet__V1__PutProgram m = IPSNET__V1__PUT_PROGRAM__INIT;
	uint8_t key[16] = {'l', 'a', 't', 'i', 'n', '1'};
	m.program_id = "ips-latin1";
	m.owner = "ggz-test";
	m.name = "Caf\xe9 team";
	m.region = 5;
	m.specialists = 2;
	e.request_id = 1;
	e.idempotency_key.data = key;
	e.idempotency_key.len = sizeof(key);
	e.body_case = IPSNET__V1__ENVELOPE__BODY_PUT_PROGRAM;
	e.put_program = &m;
	assert_int_equal(h_tls_send_envelope(&c, &e), 0);
	answer = h_tls_recv_envelope(&c, 5000);
	assert_non_null(answer);
	assert_non_null(answer->status);
	assert_int_equal(answer->status->code,
			 IPSNET__V1__CODE__INVALID_ARGUMENT);
	assert_non_null(strstr(answer->status->message, "put_program.name"));
	h_envelope_free(answer);
	assert_true(h_tls_ping(&c, 2));
	m.name = "Cafe team";
	e.request_id = 3;
	assert_int_equal(h_tls_send_envelope(&c, &e), 0);
	answer = h_tls_recv_envelope(&c, 5000);
	assert_non_null(answer);
	assert_int_equal(answer->body_case,
			 IPSNET__V1__ENVELOPE__BODY_CHANGE_OK);
	h_envelope_free(answer);
	h_tls_close(&c);
	/* As a database from before the check could hold it. */
	char db[PATH_MAX];
	snprintf(db, sizeof(db), "%s/ipsnet.db", fx->dir);
	h_db_exec(db, "UPDATE program SET name = CAST(X'436166E9207465616D' "
		      "AS TEXT) WHERE id = 'ips-latin1'");

	json_t *j = run_json(fx, EXIT_OK, "network", "report", "--year", "2025",
			     "--json", NULL);
	json_t *programs =
	    json_object_get(json_object_get(j, "fidelity"), "programs");
	assert_int_equal(json_array_size(programs), 1);
	assert_string_equal(jstr(json_array_get(programs, 0), "program"),
			    "ips-latin1");
	assert_string_equal(jstr(json_array_get(programs, 0), "name"),
			    "Caf? team");
	/* The program's row of the breakdown names it too. */
	j = run_json(fx, EXIT_OK, "network", "report", "--year", "2025", "--by",
		     "program", "--json", NULL);
	json_t *rows = json_object_get(
	    json_array_get(json_object_get(j, "periods"), 0), "by_program");
	assert_int_equal(json_array_size(rows), 1);
	assert_string_equal(jstr(json_array_get(rows, 0), "key"), "ips-latin1");
	assert_string_equal(jstr(json_array_get(rows, 0), "label"),
			    "Caf? team");
}

/* The report's table of programs shows each name in a column 30
 * characters wide: cut at a whole character, not in the middle of one, and
 * without the escape sequences a name can hold (any GGZ names its own
 * programs). */
static void
test_report_table_cuts_names_at_characters_and_hides_controls(void **state)
{
	struct fx *fx = *state;
	/* 29 letters, then an e with a diaeresis: bytes 30 and 31 */
	const char *long_name = "Zorggroep Noord-Brabant en Li\xc3\xabmbeek";
	run(fx, EXIT_OK, "network", "program", "put", "ips-long", "--owner",
	    "ggz-test", "--name", long_name, "--region", "5", "--specialists",
	    "2", NULL);
	run(fx, EXIT_OK, "network", "program", "put", "ips-esc", "--owner",
	    "ggz-test", "--name", "IPS\033[2J team", "--region", "6",
	    "--specialists", "2", NULL);
	run(fx, EXIT_OK, "network", "report", "--year", "2025", NULL);
	assert_null(strchr(fx->r.out, '\033'));
	assert_out(fx, "IPS?[2J team ");
	assert_out(fx, "Zorggroep Noord-Brabant en Li\xc3\xab      5 ");
}

/* A program's name that a spreadsheet would run as a formula reaches the
 * CSV as text: NETWORK opens the file, and any GGZ names its programs. */
static void test_report_csv_keeps_formulas_as_text(void **state)
{
	struct fx *fx = *state;
	run(fx, EXIT_OK, "network", "program", "put", "ips-formula", "--owner",
	    "ggz-test", "--name", "=HYPERLINK(\"x\";\"y\")", "--region", "7",
	    "--specialists", "2", NULL);
	run(fx, EXIT_OK, "network", "program", "put", "ips-minus", "--owner",
	    "ggz-test", "--name", "-1 team", "--region", "7", "--specialists",
	    "2", NULL);
	run(fx, EXIT_OK, "network", "report", "--year", "2025", "--by",
	    "program", "--format", "csv", NULL);
	assert_out(fx, ",ips-formula,\"'=HYPERLINK(\"\"x\"\";\"\"y\"\")\",");
	assert_out(fx, ",ips-minus,\"'-1 team\",");
	assert_null(strstr(fx->r.out, ",=HYPERLINK"));
	assert_null(strstr(fx->r.out, ",-1 team"));
}

static void test_every_verb_has_help(void **state)
{
	struct fx *fx = *state;
	static const char *const verbs[][2] = {
	    {"client", NULL},
	    {"client", "register"},
	    {"client", "update"},
	    {"client", "find"},
	    {"consent", NULL},
	    {"consent", "grant"},
	    {"consent", "withdraw"},
	    {"case", NULL},
	    {"case", "show"},
	    {"refer", NULL},
	    {"trajectory", NULL},
	    {"trajectory", "accept"},
	    {"trajectory", "decline"},
	    {"trajectory", "start"},
	    {"trajectory", "hold"},
	    {"trajectory", "resume"},
	    {"trajectory", "close"},
	    {"trajectory", "cancel"},
	    {"funding", NULL},
	    {"funding", "request"},
	    {"funding", "list"},
	    {"funding", "approve"},
	    {"funding", "reject"},
	    {"funding", "withdraw"},
	    {"job", NULL},
	    {"job", "add"},
	    {"job", "end"},
	    {"program", NULL},
	    {"program", "put"},
	    {"program", "list"},
	    {"fidelity", NULL},
	    {"fidelity", "record"},
	    {"audit", NULL},
	    {"import", NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++) {
		if (verbs[i][1] != NULL)
			run(fx, EXIT_OK, NULL, verbs[i][0], verbs[i][1],
			    "--help", NULL);
		else
			run(fx, EXIT_OK, NULL, verbs[i][0], "--help", NULL);
		assert_int_equal(strncmp(fx->r.out, "usage: ipsnet ", 14), 0);
		assert_out(fx, "--json");
		assert_string_equal(fx->r.err, "");
	}
	/* A consent's dates in the terms the server judges them: its last
	 * day, in the Netherlands. */
	run(fx, EXIT_OK, NULL, "consent", "grant", "--help", NULL);
	assert_out(fx, "up to and including DATE");
	assert_out(fx, "DATE is a day in the Netherlands");
	run(fx, EXIT_OK, NULL, "case", "show", "--help", NULL);
	assert_out(fx, "Dates are days in the");
	assert_out(fx, "live up to and including its\nVALID UNTIL day");
	run(fx, EXIT_OK, NULL, "import", "--help", NULL);
	assert_out(fx, "birth_date");
	assert_out(fx, "referred_on");
	assert_out(fx, "hours_per_week");
}

/* Help is read before anything is set up: a profile that cannot be read
 * (a typo in --profile or $IPSNET_PROFILE) does not stop ipsnet --help,
 * a command's --help or report --explain, which need no server; a command
 * that needs the server still says why it cannot have it. */
static void test_help_works_without_a_readable_profile(void **state)
{
	struct fx *fx = *state;
	char profile[PATH_MAX];
	snprintf(profile, sizeof(profile), "%s/no-such-profile.ini", fx->dir);
	static const char *const helps[][3] = {
	    {"--help", NULL, NULL},	      {"client", "--help", NULL},
	    {"client", "register", "--help"}, {"fidelity", "record", "--help"},
	    {"watch", "--help", NULL},
	};
	for (size_t i = 0; i < ARRAY_SIZE(helps); i++) {
		run(fx, EXIT_OK, NULL, "--profile", profile, helps[i][0],
		    helps[i][1], helps[i][2], NULL);
		assert_int_equal(strncmp(fx->r.out, "usage: ipsnet ", 14), 0);
		assert_string_equal(fx->r.err, "");
	}
	run(fx, EXIT_OK, NULL, "--profile", profile, "report", "--explain",
	    NULL);
	assert_out(fx, "Thresholds: 6 months");
	assert_string_equal(fx->r.err, "");

	run(fx, EXIT_USAGE, NULL, "--profile", profile, "whoami", NULL);
	assert_one_line_error(fx);
	assert_err(fx, profile);
	run(fx, EXIT_USAGE, NULL, "--profile", profile, "watch", NULL);
	assert_one_line_error(fx);
	assert_err(fx, profile);
}

/* The connection options may stand before the command, and --help and
 * --version are answered after them too: ipsnet --help says "options
 * (before or after the command)", and an alias that holds --profile is
 * how a caseworker types every command. */
static void test_help_and_version_after_the_connection_options(void **state)
{
	struct fx *fx = *state;
	static const char *const helps[] = {"--help", "-h", "help"};
	for (size_t i = 0; i < ARRAY_SIZE(helps); i++) {
		run(fx, EXIT_OK, "ggz-test", helps[i], NULL);
		assert_int_equal(strncmp(fx->r.out, "usage: ipsnet ", 14), 0);
		assert_out(fx, "commands:");
		assert_string_equal(fx->r.err, "");
		run(fx, EXIT_OK, NULL, "--json", helps[i], NULL);
		assert_int_equal(strncmp(fx->r.out, "usage: ipsnet ", 14), 0);
	}
	run(fx, EXIT_OK, "ggz-test", "--version", NULL);
	assert_int_equal(strncmp(fx->r.out, "ipsnet ", 7), 0);
	assert_string_equal(fx->r.err, "");
}

/* The HTML report's tiles mark a change from the year compared: a figure
 * that stayed the same is not drawn as a rise ("+0%" with an up arrow,
 * in green). One trajectory active from 2024 on: enrolled once in 2024
 * and once in 2025. */
static void test_report_html_shows_no_change_as_none(void **state)
{
	struct fx *fx = *state;
	char client[64], b[10], csv[PATH_MAX], html[PATH_MAX];
	add_program(fx);
	register_client(fx, 5, "wia", client, sizeof(client));
	snprintf(csv, sizeof(csv), "%s/trajectories.csv", fx->dir);
	char rows[256];
	snprintf(rows, sizeof(rows),
		 "bsn,program,referred_on,accepted_on,started_on\n"
		 "%s,ips-test,2024-02-01,2024-02-15,2024-03-01\n",
		 bsn(5, b));
	write_file(csv, rows);
	run(fx, EXIT_OK, "ggz-test", "import", csv, NULL);
	snprintf(html, sizeof(html), "%s/report.html", fx->dir);
	run(fx, EXIT_OK, "network", "report", "--year", "2025", "--compare",
	    "2024", "--format", "html", "--output", html, NULL);
	char *page = h_read_file(html, NULL);
	assert_non_null(page);
	const char *tile = strstr(page, "clients enrolled</div>");
	assert_non_null(tile);
	const char *end = strstr(tile, "</div></div>");
	assert_non_null(end);
	char cell[256];
	snprintf(cell, sizeof(cell), "%.*s", (int)(end - tile), tile);
	if (strstr(cell, "2024: 1") == NULL ||
	    strstr(cell, "&#9650;") != NULL || strstr(cell, "+0%") != NULL ||
	    strstr(cell, "&plusmn;0%") == NULL)
		fail_msg("the tile of 1 enrolled against 1 says: %s", cell);
	free(page);
}

/* ---- import ------------------------------------------------------------- */

static void path_in(struct fx *fx, char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/%s", fx->dir, name);
}

static void
test_import_applies_good_rows_lists_bad_ones_and_never_twice(void **state)
{
	struct fx *fx = *state;
	char clients[PATH_MAX], trajectories[PATH_MAX], jobs[PATH_MAX],
	    text[4096], b[7][10];
	for (int i = 0; i < 7; i++)
		bsn(10 + i, b[i]);
	add_program(fx);

	/* CRLF, as spreadsheets write it; quotes, a doubled quote */
	path_in(fx, clients, sizeof(clients), "clients.csv");
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality,benefit\r\n"
		 "%s,\"de Vries, Anna\",1990-04-12,GM0363,participatiewet\r\n"
		 "123456789,Bad BSN,1990-01-01,GM0363,wia\r\n"
		 "%s,\"Jan \"\"Jantje\"\" Smit\",1985-13-01,GM0363,wia\r\n"
		 "%s,Piet,1980-02-03,gm0363,WAJONG\r\n"
		 "%s,Kees,1980-02-03,GM0363,bijstand\r\n"
		 "%s,Too few\r\n"
		 "%s,\"de Vries, Anna\",1990-04-12,GM0363,participatiewet\r\n"
		 "%s,Marie,01-02-1975,GM0363,none\r\n",
		 b[0], b[1], b[2], b[3], b[4], b[0], b[5]);
	write_file(clients, text);
	long long head = journal_seq(fx);
	run(fx, EXIT_ELSE, "ggz-test", "import", clients, NULL);
	assert_out(fx, "(clients): 8 rows: 3 imported, 0 imported before, "
		       "5 rejected");
	char want[PATH_MAX + 100];
	static const char *const rejected[][2] = {
	    {"3", "the BSN must be 9 digits that pass the 11-proof"},
	    {"4", "birth_date is not a date"},
	    {"6", "benefit must be none, participatiewet"},
	    {"7", "2 fields where the header has 5"},
	    {"8", "repeats line 2"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(rejected); i++) {
		snprintf(want, sizeof(want), "%s:%s: %s", clients,
			 rejected[i][0], rejected[i][1]);
		assert_err(fx, want);
	}
	assert_int_equal(count(fx->r.err, "\n"), ARRAY_SIZE(rejected));
	assert_int_equal(journal_seq(fx), head + 3);
	/* the progress bar is for terminals only */
	assert_null(strstr(fx->r.err, "rows/s"));

	/* again: nothing new, the same rejections */
	head = journal_seq(fx);
	json_t *j = run_json(fx, EXIT_ELSE, "ggz-test", "import", clients,
			     "--json", NULL);
	assert_string_equal(jstr(j, "imported"), "0");
	assert_string_equal(jstr(j, "already_imported"), "3");
	assert_string_equal(jstr(j, "rejected"), "5");
	json_t *problems = json_object_get(j, "problems");
	assert_int_equal(json_array_size(problems), ARRAY_SIZE(rejected));
	for (size_t i = 0; i < ARRAY_SIZE(rejected); i++)
		assert_string_equal(jstr(json_array_get(problems, i), "line"),
				    rejected[i][0]);
	assert_int_equal(journal_seq(fx), head);

	/* normalised on the way in */
	j = run_json(fx, EXIT_OK, "ggz-test", "client", "find", "--bsn", b[2],
		     "--json", NULL);
	assert_string_equal(jstr(j, "municipality"), "GM0363");
	assert_string_equal(jstr(j, "benefit"), "wajong");
	j = run_json(fx, EXIT_OK, "ggz-test", "client", "find", "--bsn", b[5],
		     "--json", NULL);
	assert_string_equal(jstr(j, "birth_date"), "1975-02-01");
	j = run_json(fx, EXIT_OK, "ggz-test", "client", "find", "--bsn", b[0],
		     "--json", NULL);
	char anna[64];
	snprintf(anna, sizeof(anna), "%s", jstr(j, "id"));

	/* trajectories, ';'-separated as Dutch spreadsheets write them */
	path_in(fx, trajectories, sizeof(trajectories), "trajectories.csv");
	snprintf(text, sizeof(text),
		 "bsn;program;referred_on;accepted_on;started_on;holds;"
		 "closed_on;close_reason;note\n"
		 "%s;ips-test;2025-01-06;2025-01-20;2025-02-03;"
		 "2025-05-01/2025-06-01;2025-10-01;found work;\"Note; with\n"
		 "two lines\"\n"
		 "%s;ips-test;2025-03-01;;2025-03-05;;;;\n"
		 "%s;ips-test;2025-03-01;2025-03-02;;;;;\n"
		 "%s;ips-test;2025-03-01;;;;;;\n",
		 b[0], b[2], b[5], b[6]);
	write_file(trajectories, text);
	head = journal_seq(fx);
	run(fx, EXIT_ELSE, "ggz-test", "import", trajectories, NULL);
	assert_out(fx, "(trajectories): 4 rows: 2 imported, 0 imported "
		       "before, 2 rejected");
	snprintf(want, sizeof(want), "%s:4: started_on needs accepted_on",
		 trajectories);
	assert_err(fx, want);
	snprintf(want, sizeof(want),
		 "%s:6: no client with this BSN is registered by your "
		 "organisation",
		 trajectories);
	assert_err(fx, want);
	assert_int_equal(journal_seq(fx), head + 2);
	run(fx, EXIT_ELSE, "ggz-test", "import", trajectories, NULL);
	assert_out(fx, "4 rows: 0 imported, 2 imported before");
	assert_int_equal(journal_seq(fx), head + 2);

	j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", anna, "--json",
		     NULL);
	assert_string_equal(jstr(j, "trajectories[0].status"), "closed");
	assert_string_equal(jstr(j, "trajectories[0].referred_on"),
			    "2025-01-06");
	assert_string_equal(jstr(j, "trajectories[0].held_on"), "2025-05-01");
	assert_string_equal(jstr(j, "trajectories[0].resumed_on"),
			    "2025-06-01");
	assert_string_equal(jstr(j, "trajectories[0].closed_on"), "2025-10-01");
	assert_string_equal(jstr(j, "trajectories[0].close_reason"),
			    "found work");
	assert_string_equal(jstr(j, "trajectories[0].note"),
			    "Note; with\ntwo lines");
	char tr[64];
	snprintf(tr, sizeof(tr), "%s", jstr(j, "trajectories[0].id"));

	/* jobs: one linked to its trajectory by program, one without */
	path_in(fx, jobs, sizeof(jobs), "jobs.csv");
	snprintf(text, sizeof(text),
		 "bsn,employer,start_date,end_date,hours_per_week,competitive,"
		 "program\n"
		 "%s,Bakkerij,2025-06-15,2025-09-30,\"24,5\",ja,ips-test\n"
		 "%s,Shop,2025-04-01,,20,no,\n"
		 "%s,Office,2025-04-01,,20,yes,ips-test\n"
		 "%s,Office,2025-04-01,2025-03-01,20,yes,\n",
		 b[0], b[5], b[2], b[5]);
	write_file(jobs, text);
	head = journal_seq(fx);
	run(fx, EXIT_ELSE, "ggz-test", "import", jobs, NULL);
	assert_out(fx, "(jobs): 4 rows: 2 imported, 0 imported before, "
		       "2 rejected");
	snprintf(want, sizeof(want),
		 "%s:4: the client has no trajectory in program 'ips-test'",
		 jobs);
	assert_err(fx, want);
	snprintf(want, sizeof(want), "%s:5: end_date is before start_date",
		 jobs);
	assert_err(fx, want);
	assert_int_equal(journal_seq(fx), head + 2);
	run(fx, EXIT_ELSE, "ggz-test", "import", jobs, NULL);
	assert_int_equal(journal_seq(fx), head + 2);

	j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", anna, "--json",
		     NULL);
	assert_string_equal(jstr(j, "jobs[0].trajectory_id"), tr);
	assert_string_equal(jstr(j, "jobs[0].end_date"), "2025-09-30");
	assert_string_equal(jstr(j, "jobs[0].hours_per_week"), "24.5");
	assert_string_equal(jstr(j, "jobs[0].competitive"), "true");
}

/* A client with two live consents for one funder (two purposes, or a
 * renewal granted before the old one ended) is still shared with it when
 * one of them is withdrawn: the command says so, naming the other, instead
 * of leaving "nothing more is shared" unsaid-against. The last one
 * withdrawn leaves no note. Was: "withdrew consent ..." and nothing else,
 * while the funder went on seeing her case. */
static void test_a_withdrawal_says_what_still_shares_the_case(void **state)
{
	struct fx *fx = *state;
	char client[64], first[64], second[64];
	register_client(fx, 95, "participatiewet", client, sizeof(client));
	run_id(fx, first, sizeof(first), "ggz-test", "consent", "grant", client,
	       "--to", "gm0363", "--purpose", "IPS funding", "--until",
	       "2030-12-31", "--quiet", NULL);
	run_id(fx, second, sizeof(second), "ggz-test", "consent", "grant",
	       client, "--to", "gm0363", "--purpose", "debt counselling",
	       "--until", "2031-06-30", "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "consent", "withdraw", first, "--version",
	    "1", NULL);
	assert_out(fx, "withdrew consent");
	char want[160];
	snprintf(want, sizeof(want),
		 "note: consent %s (debt counselling, until 2031-06-30) is "
		 "still live",
		 second);
	assert_err(fx, want);
	assert_err(fx, "still shared with gm0363");
	run(fx, EXIT_OK, "ggz-test", "consent", "withdraw", second, "--version",
	    "1", NULL);
	assert_true(strstr(fx->r.err, "note:") == NULL);
}

/* The same job recorded twice (a sheet exported again with the end date
 * filled in, a job added by hand and then imported) is refused, naming the
 * job there is and how to record its end: two copies count twice, and an
 * open copy of an ended job keeps her employed in the reports for good.
 * Was: a second job, from the same employer on the same day. Another start
 * at the same employer is another job. */
static void test_the_same_job_twice_is_refused_naming_it(void **state)
{
	struct fx *fx = *state;
	char client[64], jobs[PATH_MAX], text[512], job[64], b[10];
	register_client(fx, 94, "wia", client, sizeof(client));
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "job", "add", client,
			     "--employer", "Bakkerij Jansen", "--start",
			     "2025-06-15", "--hours", "24", "--json", NULL);
	snprintf(job, sizeof(job), "%s", jstr(j, "job.id"));

	path_in(fx, jobs, sizeof(jobs), "jobs.csv");
	snprintf(text, sizeof(text),
		 "bsn,employer,start_date,end_date,hours_per_week\n"
		 "%s,bakkerij jansen,2025-06-15,2025-09-30,24\n",
		 bsn(94, b));
	write_file(jobs, text);
	uint64_t head = journal_seq(fx);
	run(fx, EXIT_ELSE, "ggz-test", "import", jobs, NULL);
	assert_out(fx, "1 rejected");
	assert_err(fx, "this job is recorded already");
	char want[160];
	snprintf(want, sizeof(want), "ipsnet job end %s --version 1", job);
	assert_err(fx, want);
	run(fx, EXIT_ELSE, "ggz-test", "job", "add", client, "--employer",
	    "Bakkerij Jansen", "--start", "2025-06-15", "--hours", "24", NULL);
	assert_one_line_error(fx);
	assert_err(fx, job);
	assert_int_equal(journal_seq(fx), head);

	/* Its end recorded as the refusal says: the sheet's row is that. */
	run(fx, EXIT_OK, "ggz-test", "job", "end", job, "--version", "1",
	    "--on", "2025-09-30", NULL);
	run(fx, EXIT_ELSE, "ggz-test", "import", jobs, NULL);
	assert_err(fx, "from 2025-06-15 to 2025-09-30");
	/* Back at the same employer later: another job. */
	run(fx, EXIT_OK, "ggz-test", "job", "add", client, "--employer",
	    "Bakkerij Jansen", "--start", "2026-01-05", "--hours", "24", NULL);
	j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client, "--json",
		     NULL);
	assert_int_equal(json_array_size(json_object_get(j, "jobs")), 2);
}

/* A count of one is said in the singular wherever the command puts a
 * count in a sentence: "1 program", not "1 programs". */
static void test_a_count_of_one_is_said_in_the_singular(void **state)
{
	struct fx *fx = *state;
	char client[64], tr[64], b[10], path[PATH_MAX], text[256],
	    out[PATH_MAX];

	run(fx, EXIT_OK, "network", "program", "put", "ips-one", "--owner",
	    "ggz-test", "--name", "IPS One", "--region", "1", "--specialists",
	    "1", NULL);
	assert_out(fx, ", 1 specialist (version 1)");
	run(fx, EXIT_USAGE, "network", "fidelity", "record", "ips-one",
	    "--date", "2025-10-05", "--scores", "3", NULL);
	assert_err(fx, "--scores has 1 score;");
	run(fx, EXIT_OK, "network", "fidelity", "record", "ips-one", "--date",
	    "2025-10-05", "--scores",
	    "3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3,3", NULL);
	run(fx, EXIT_OK, "network", "report", "--year", "2025", NULL);
	assert_out(fx, "  fair             1 program\n");
	assert_out(fx, "  exemplary        0 programs\n");
	path_in(fx, path, sizeof(path), "report.html");
	run(fx, EXIT_OK, "network", "report", "--year", "2025", "--by",
	    "program", "--format", "html", "--output", path, NULL);
	assert_true(h_file_contains(path, ">1 employment specialist<"));
	assert_true(h_file_contains(path, "of the 1 program up to"));
	assert_true(h_file_contains(path, "(1 row)</summary>"));

	run_id(fx, client, sizeof(client), "ggz-test", "client", "register",
	       "--bsn", bsn(0, b), "--name", "Anna de Vries", "--birth-date",
	       "1990-04-12", "--municipality", "GM0363", "--benefit",
	       "participatiewet", "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "consent", "grant", client, "--to",
	    "gm0363", "--purpose", "IPS funding", "--until", "2030-12-31",
	    NULL);
	run_id(fx, tr, sizeof(tr), "ggz-test", "refer", client, "--program",
	       "ips-one", "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "trajectory", "accept", tr, "--version",
	    "1", NULL);
	run(fx, EXIT_OK, "ggz-test", "funding", "request", tr, "--funder",
	    "gm0363", "--months", "1", NULL);
	assert_out(fx, "asked gm0363 for 1 month of funding for trajectory");

	assert_true(watch_until(fx, false, "of funding", out, sizeof(out)));
	assert_true(
	    h_file_contains(out, "asked gm0363 for 1 month of funding fu-"));
	snprintf(text, sizeof(text), " for trajectory %s of client %s (", tr,
		 client);
	assert_true(h_file_contains(out, text));

	path_in(fx, path, sizeof(path), "one.csv");
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality,benefit\n"
		 "%s,Piet,1980-02-03,GM0363,wia\n",
		 bsn(1, b));
	write_file(path, text);
	run(fx, EXIT_OK, "ggz-test", "import", path, "--check", NULL);
	assert_out(fx, "(clients): 1 row: 1 fit to import, 0 rejected");
	run(fx, EXIT_OK, "ggz-test", "import", path, NULL);
	assert_out(fx, "(clients): 1 row: 1 imported, 0 imported before");
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality,benefit\n%s\n", bsn(2, b));
	write_file(path, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_err(fx, "1 field where the header has 5");
	assert_out(
	    fx, "(clients): 1 row: 0 imported, 0 imported before, 1 rejected");
}

/* Whether stdout holds a number with more than 3 decimals. */
static bool has_long_decimals(const char *s)
{
	for (const char *p = s; (p = strchr(p, '.')) != NULL; p++)
		if (strspn(p + 1, "0123456789") > 3)
			return true;
	return false;
}

/* The JSON the command prints gives a real as the number it stands for,
 * the way a script compares it and a person reads it: 12.1 hours, a ping
 * of 0.082 ms, not the 17 digits of the double nearest to it
 * (12.099999999999999, 0.082000000000000003). */
static void test_json_gives_reals_as_the_numbers_they_stand_for(void **state)
{
	struct fx *fx = *state;
	char client[64], b[10], out[PATH_MAX];

	run(fx, EXIT_OK, "ggz-test", "ping", "--count", "20", "--json", NULL);
	if (has_long_decimals(fx->r.out))
		fail_msg("ping --json printed:\n%s", fx->r.out);

	run_id(fx, client, sizeof(client), "ggz-test", "client", "register",
	       "--bsn", bsn(0, b), "--name", "Anna de Vries", "--birth-date",
	       "1990-04-12", "--municipality", "GM0363", "--benefit", "wia",
	       "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "job", "add", client, "--employer",
	    "Bakkerij", "--start", "2026-01-05", "--hours", "12,1", "--json",
	    NULL);
	assert_out(fx, "\"hours_per_week\": 12.1,");
	run(fx, EXIT_OK, "ggz-test", "case", "show", client, "--json", NULL);
	assert_out(fx, "\"hours_per_week\": 12.1,");

	assert_true(watch_until(fx, true, "hours_per_week", out, sizeof(out)));
	assert_true(h_file_contains(out, "\"hours_per_week\":12.1,"));
}

static void test_import_of_a_malformed_file_applies_nothing(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX], want[PATH_MAX + 100], text[1024], b[3][10];
	for (int i = 0; i < 3; i++)
		bsn(20 + i, b[i]);
	path_in(fx, path, sizeof(path), "clients.csv");

	/* a quote never closed: line 3 on is one field */
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality,benefit\n"
		 "%s,Anna,1990-04-12,GM0363,wia\n"
		 "%s,\"Piet,1980-02-03,GM0363,wia\n"
		 "%s,Kees,1980-02-03,GM0363,wia\n",
		 b[0], b[1], b[2]);
	write_file(path, text);
	long long head = journal_seq(fx);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_one_line_error(fx);
	snprintf(want, sizeof(want),
		 "%s:3: the quoted field that starts here is never closed; "
		 "nothing was imported",
		 path);
	assert_err(fx, want);

	/* a column the kind does not have */
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality,benefit,shoe_size\n"
		 "%s,Anna,1990-04-12,GM0363,wia,38\n",
		 b[0]);
	write_file(path, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_one_line_error(fx);
	assert_err(fx, "unknown column 'shoe_size'");

	/* a required column missing */
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality\n%s,"
		 "Anna,1990-04-12,GM0363\n",
		 b[0]);
	write_file(path, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_err(fx, "no column 'benefit'");

	/* --check reads and judges, and sends nothing */
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality,benefit\n"
		 "%s,Anna,1990-04-12,GM0363,wia\n"
		 "%s,Piet,1980-02-30,GM0363,wia\n",
		 b[0], b[1]);
	write_file(path, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, "--check", NULL);
	assert_out(fx, "2 rows: 1 fit to import, 1 rejected");
	assert_int_equal(journal_seq(fx), head);
}

/* A sheet saved by Excel as "CSV UTF-8": a byte order mark, CRLF, ';',
 * empty cells after the last used column in the header and in the rows
 * (or fewer of them in some rows), and empty rows at the end. The empty
 * columns are ignored and the empty lines skipped; a value in a column
 * without a name refuses its row. */
static void test_import_takes_a_sheet_saved_by_excel(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX], want[PATH_MAX + 100], text[4096], b[4][10];
	for (int i = 0; i < 4; i++)
		bsn(30 + i, b[i]);
	path_in(fx, path, sizeof(path), "clients.csv");
	snprintf(text, sizeof(text),
		 "\xEF\xBB\xBF"
		 "bsn;name;birth_date;municipality;benefit;;;\r\n"
		 "%s;Anna;1990-04-12;GM0363;wia;;;;;;\r\n"
		 "%s;Piet;1980-02-03;GM0363;ww;;2025;\r\n"
		 "%s;Kees;1980-02-03;GM0363;none;\r\n"
		 "%s;Marie;1-2-1975;GM0363;none\r\n"
		 "12345672;Jan;1980-01-01;GM0363;none\r\n"
		 "%s;Joke;1980-02-03;GM0363;none;;;;;x\r\n"
		 ";;;;;;;\r\n"
		 "\r\n"
		 ";;;;;;;\r\n",
		 b[0], b[1], b[2], b[3], b[1]);
	write_file(path, text);
	long long head = journal_seq(fx);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_out(fx, "(clients): 6 rows: 3 imported, 0 imported before, "
		       "3 rejected");
	snprintf(want, sizeof(want),
		 "%s:3: column 7 (G) has a value but no name in the first "
		 "row",
		 path);
	assert_err(fx, want);
	/* Past the header's last column too (was: "10 fields where the
	 * header has 8", and so for Anna's row of empty cells). */
	snprintf(want, sizeof(want),
		 "%s:7: column 10 (J) has a value but no name in the first "
		 "row",
		 path);
	assert_err(fx, want);
	/* A BSN whose leading 0 the sheet dropped: said, not guessed. */
	snprintf(want, sizeof(want),
		 "%s:6: the BSN must be 9 digits that pass the 11-proof (8 "
		 "digits: a spreadsheet may have dropped its leading 0",
		 path);
	assert_err(fx, want);
	assert_int_equal(count(fx->r.err, "\n"), 3);
	assert_int_equal(journal_seq(fx), head + 3);
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "client", "find", "--bsn",
			     b[0], "--json", NULL);
	assert_string_equal(jstr(j, "name"), "Anna");
	assert_string_equal(jstr(j, "benefit"), "wia");
	/* Day first, as Dutch Excel writes a date, zeros left out. */
	j = run_json(fx, EXIT_OK, "ggz-test", "client", "find", "--bsn", b[3],
		     "--json", NULL);
	assert_string_equal(jstr(j, "birth_date"), "1975-02-01");

	/* A named column is never left out, even when empty. */
	snprintf(text, sizeof(text),
		 "bsn;name;birth_date;municipality;benefit;;;\r\n"
		 "%s;Anna;1990-04-12;GM0363\r\n",
		 b[0]);
	write_file(path, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, "--check", NULL);
	snprintf(want, sizeof(want), "%s:2: 4 fields where the header has 8",
		 path);
	assert_err(fx, want);

	/* A formatted range far to the right: hundreds of empty cells after
	 * the last column, more than a record may have fields (was: the
	 * whole file refused). */
	size_t n = (size_t)snprintf(text, sizeof(text),
				    "bsn;name;birth_date;municipality;benefit");
	for (int i = 0; i < 300; i++)
		text[n++] = ';';
	n += (size_t)snprintf(text + n, sizeof(text) - n,
			      "\r\n%s;Anna;1990-04-12;GM0363;wia", b[0]);
	for (int i = 0; i < 300; i++)
		text[n++] = ';';
	snprintf(text + n, sizeof(text) - n, "\r\n");
	write_file(path, text);
	run(fx, EXIT_OK, "ggz-test", "import", path, "--check", NULL);
	assert_out(fx, "1 row: 1 fit to import");
}

/* A daemon whose frame limit (max_frame_bytes, at least 1024) is below
 * what a trajectory with a long note takes. */
static int setup_frame_limit(void **state)
{
	struct fx *fx = fx_new();
	if (fx == NULL)
		return -1;
	*state = fx;
	if (h_write_config(fx->dir, certs, "max_frame_bytes = 1024\n") != 0 ||
	    h_daemon_start(&fx->d, fx->dir) != 0)
		return -1;
	return 0;
}

/* Restarts fx's daemon on the same database with max_frame_bytes 1024:
 * what was written under the default limit stays, as when an operator
 * lowers the limit. */
static void lower_frame_limit(struct fx *fx)
{
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	assert_int_equal(
	    h_write_config(fx->dir, certs, "max_frame_bytes = 1024\n"), 0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
}

/* Client n of ggz-test, referred with note, with a funding request to a
 * funder outside the network withdrawn with an 880-character reason, all
 * written under the default frame limit; then the daemon is restarted
 * with max_frame_bytes 1024 (lower_frame_limit). */
static void a_case_in_a_frame_too_small(struct fx *fx, int n, const char *note,
					char client[64], char funding[64])
{
	char tr[64], reason[881];
	add_program(fx);
	register_client(fx, n, "wia", client, 64);
	run_id(fx, tr, sizeof(tr), "ggz-test", "refer", client, "--program",
	       "ips-test", "--note", note, "--quiet", NULL);
	run_id(fx, funding, 64, "ggz-test", "funding", "request", tr, "--other",
	       "Fonds", "--months", "6", "--quiet", NULL);
	repeated(reason, sizeof(reason), 'r');
	run(fx, EXIT_OK, "ggz-test", "funding", "withdraw", funding,
	    "--version", "1", "--reason", reason, NULL);
	lower_frame_limit(fx);
}

/* Imports three clients of ggz-test (the BSNs bsn(first) to bsn(first + 2)
 * into b) and puts program ips-test, for an import of their trajectories. */
static void three_clients_and_a_program(struct fx *fx, int first, char b[3][10])
{
	char clients[PATH_MAX], text[1024];
	for (int i = 0; i < 3; i++)
		bsn(first + i, b[i]);
	add_program(fx);
	path_in(fx, clients, sizeof(clients), "clients.csv");
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality,benefit\n"
		 "%s,Anna,1990-04-12,GM0363,wia\n"
		 "%s,Piet,1980-02-03,GM0363,wia\n"
		 "%s,Kees,1980-02-03,GM0363,wia\n",
		 b[0], b[1], b[2]);
	write_file(clients, text);
	run(fx, EXIT_OK, "ggz-test", "import", clients, NULL);
}

/* The same referral imported twice (a sheet of trajectories exported again
 * once a trajectory was closed, a referral made by hand and then
 * imported) is refused, naming the trajectory there is: the row has
 * another key, and the copy would leave the first one open, so that she
 * stays enrolled in the reports for good. Was: a second trajectory, closed,
 * beside the open one. Another referral to the program is another
 * trajectory. */
static void test_the_same_referral_twice_is_refused_naming_it(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX], text[1024], b[3][10];
	three_clients_and_a_program(fx, 70, b);
	path_in(fx, path, sizeof(path), "trajectories.csv");
	snprintf(text, sizeof(text),
		 "bsn,program,referred_on,accepted_on,started_on,closed_on,"
		 "close_reason\n"
		 "%s,ips-test,2025-01-06,2025-01-20,2025-02-03,,\n",
		 b[0]);
	write_file(path, text);
	run(fx, EXIT_OK, "ggz-test", "import", path, NULL);
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "client", "find", "--bsn",
			     b[0], "--json", NULL);
	char client[64], tr[64];
	snprintf(client, sizeof(client), "%s", jstr(j, "id"));
	j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client, "--json",
		     NULL);
	snprintf(tr, sizeof(tr), "%s", jstr(j, "trajectories[0].id"));

	/* Exported again, now closed: the same referral. */
	snprintf(text, sizeof(text),
		 "bsn,program,referred_on,accepted_on,started_on,closed_on,"
		 "close_reason\n"
		 "%s,ips-test,2025-01-06,2025-01-20,2025-02-03,2025-10-01,"
		 "found work\n",
		 b[0]);
	write_file(path, text);
	uint64_t head = journal_seq(fx);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_out(fx, "1 rejected");
	assert_err(fx, "this trajectory is recorded already");
	assert_err(fx, tr);
	assert_int_equal(journal_seq(fx), head);
	j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client, "--json",
		     NULL);
	assert_int_equal(json_array_size(json_object_get(j, "trajectories")),
			 1);

	/* Closed as the refusal says; referred again later: another one. */
	run(fx, EXIT_OK, "ggz-test", "trajectory", "close", tr, "--version",
	    "1", "--on", "2025-10-01", "--reason", "found work", NULL);
	snprintf(text, sizeof(text),
		 "bsn,program,referred_on,accepted_on,started_on,closed_on,"
		 "close_reason\n"
		 "%s,ips-test,2025-11-03,,,,\n",
		 b[0]);
	write_file(path, text);
	run(fx, EXIT_OK, "ggz-test", "import", path, NULL);
	j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client, "--json",
		     NULL);
	assert_int_equal(json_array_size(json_object_get(j, "trajectories")),
			 2);
}

/* An import takes each text column up to the server's own limit, and
 * refuses one character more itself, naming the column: a name and an
 * employer of 200 characters, a close reason of 1000 and a note of 4000.
 * It refused a close reason over 500 characters, which the server (and
 * `ipsnet trajectory move`) takes. A program at its limit is named whole
 * when it is rejected. */
static void test_import_text_limits_are_the_servers(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX], text[16384], want[PATH_MAX + 400], b[3][10],
	    more[2][10];
	char name[201], name_over[202], reason[1001], reason_over[1002],
	    note[4001], note_over[4002];
	three_clients_and_a_program(fx, 60, b);
	repeated(name, sizeof(name), 'a');
	repeated(name_over, sizeof(name_over), 'a');
	repeated(reason, sizeof(reason), 'r');
	repeated(reason_over, sizeof(reason_over), 'r');
	repeated(note, sizeof(note), 'n');
	repeated(note_over, sizeof(note_over), 'n');

	path_in(fx, path, sizeof(path), "clients.csv");
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality,benefit\n"
		 "%s,%s,1990-04-12,GM0363,wia\n"
		 "%s,%s,1990-04-12,GM0363,wia\n",
		 bsn(63, more[0]), name, bsn(64, more[1]), name_over);
	write_file(path, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_out(fx, "2 rows: 1 imported, 0 imported before, 1 rejected");
	snprintf(want, sizeof(want), "%s:3: name is longer than 200 characters",
		 path);
	assert_err(fx, want);

	path_in(fx, path, sizeof(path), "trajectories.csv");
	snprintf(text, sizeof(text),
		 "bsn,program,referred_on,accepted_on,started_on,closed_on,"
		 "close_reason,note\n"
		 "%s,ips-test,2025-03-01,2025-03-02,2025-03-03,2025-03-04,%s,"
		 "%s\n"
		 "%s,ips-test,2025-03-01,2025-03-02,2025-03-03,2025-03-04,%s,\n"
		 "%s,ips-test,2025-03-01,,,,,%s\n",
		 b[0], reason, note, b[1], reason_over, b[2], note_over);
	write_file(path, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_out(fx, "3 rows: 1 imported, 0 imported before, 2 rejected");
	snprintf(want, sizeof(want),
		 "%s:3: close_reason is longer than 1000 characters", path);
	assert_err(fx, want);
	snprintf(want, sizeof(want),
		 "%s:4: note is longer than 4000 characters", path);
	assert_err(fx, want);

	path_in(fx, path, sizeof(path), "jobs.csv");
	snprintf(text, sizeof(text),
		 "bsn,employer,start_date,hours_per_week\n"
		 "%s,%s,2025-03-03,20\n"
		 "%s,%s,2025-03-03,20\n",
		 b[0], name, b[0], name_over);
	write_file(path, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_out(fx, "2 rows: 1 imported, 0 imported before, 1 rejected");
	snprintf(want, sizeof(want),
		 "%s:3: employer is longer than 200 characters", path);
	assert_err(fx, want);

	/* A program of 63 characters, 3 bytes each, that is none of the
	 * client's trajectories, is named whole: the sentence was cut at 199
	 * bytes, in the middle of a character, and the command printed
	 * broken UTF-8. */
	char program[64 * 3];
	letters(program, sizeof(program), "\342\202\254", 63); /* euro sign */
	snprintf(text, sizeof(text),
		 "bsn,employer,start_date,hours_per_week,program\n"
		 "%s,Bakkerij,2025-03-03,20,%s\n",
		 b[1], program);
	write_file(path, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_out(fx, "1 row: 0 imported, 0 imported before, 1 rejected");
	snprintf(want, sizeof(want),
		 "%s:2: the client has no trajectory in program '%s' (import "
		 "the trajectories first)",
		 path, program);
	assert_err(fx, want);
	assert_true(utf8_valid(fx->r.err));
}

/* A row whose change is larger than the server's frame limit is rejected
 * with its size and the limit, and the rows sent with it are imported.
 * The library sent it, the server closed the connection over it, and the
 * rows in flight on that connection were rejected with the server's
 * complaint about a frame they had nothing to do with. */
static void test_import_rejects_a_row_over_the_frame_limit_alone(void **state)
{
	struct fx *fx = *state;
	char trajectories[PATH_MAX], text[8192], b[3][10];
	char note[2001], want[PATH_MAX + 100];
	three_clients_and_a_program(fx, 40, b);

	repeated(note, sizeof(note), 'n');
	path_in(fx, trajectories, sizeof(trajectories), "trajectories.csv");
	snprintf(text, sizeof(text),
		 "bsn,program,referred_on,note\n"
		 "%s,ips-test,2025-03-01,short\n"
		 "%s,ips-test,2025-03-01,%s\n"
		 "%s,ips-test,2025-03-01,short\n",
		 b[0], b[1], note, b[2]);
	write_file(trajectories, text);
	long long head = journal_seq(fx);
	run(fx, EXIT_ELSE, "ggz-test", "import", trajectories, NULL);
	assert_out(fx, "(trajectories): 3 rows: 2 imported, 0 imported "
		       "before, 1 rejected");
	snprintf(want, sizeof(want), "%s:3: the request is ", trajectories);
	assert_err(fx, want);
	assert_err(fx, "the server takes at most 1024 bytes");
	assert_int_equal(count(fx->r.err, "\n"), 1);
	assert_int_equal(journal_seq(fx), head + 2);
}

/* How many of the records of an `audit --json` answer have action, with
 * the ids in increasing order. */
static size_t audit_rows_as(json_t *j, const char *action, const char *result,
			    const char *object)
{
	json_t *records = json_object_get(j, "records");
	json_int_t last = 0;
	size_t n = 0;
	for (size_t r = 0; r < json_array_size(records); r++) {
		json_t *rec = json_array_get(records, r);
		json_int_t id = json_integer_value(json_object_get(rec, "id"));
		assert_true(id > last);
		last = id;
		n += strcmp(jstr(rec, "action"), action) == 0 &&
		     (result == NULL ||
		      strcmp(jstr(rec, "result"), result) == 0) &&
		     (object == NULL ||
		      strcmp(jstr(rec, "object"), object) == 0);
	}
	return n;
}

static size_t audit_rows(json_t *j, const char *action)
{
	return audit_rows_as(j, action, NULL, NULL);
}

/* Sends e on c: it must be refused RESOURCE_EXHAUSTED, in a frame within
 * the server's limit (1024 bytes), its message saying words, with no
 * body. */
static void assert_exhausted(struct h_tls *c, Ipsnet__V1__Envelope *e,
			     const char *words)
{
	assert_int_equal(h_tls_send_envelope(c, e), 0);
	Ipsnet__V1__Envelope *refusal = h_tls_recv_envelope(c, 5000);
	if (refusal == NULL)
		fail_msg("no answer: %s", c->error);
	assert_true(ipsnet__v1__envelope__get_packed_size(refusal) <= 1024);
	assert_int_equal(refusal->request_id, e->request_id);
	assert_non_null(refusal->status);
	assert_int_equal(refusal->status->code,
			 IPSNET__V1__CODE__RESOURCE_EXHAUSTED);
	assert_non_null(strstr(refusal->status->message, words));
	assert_int_equal(refusal->body_case,
			 IPSNET__V1__ENVELOPE__BODY__NOT_SET);
	h_envelope_free(refusal);
}

/* Sends e on c; its answer must carry want and be no larger than the
 * server's frame limit (1024 bytes). Free it with h_envelope_free. */
static Ipsnet__V1__Envelope *ask_in_a_small_frame(struct h_tls *c,
						  Ipsnet__V1__Envelope *e,
						  const char *what, int want)
{
	assert_int_equal(h_tls_send_envelope(c, e), 0);
	Ipsnet__V1__Envelope *answer = h_tls_recv_envelope(c, 5000);
	if (answer == NULL)
		fail_msg("no answer to %s: %s", what, c->error);
	size_t frame = ipsnet__v1__envelope__get_packed_size(answer);
	if (frame > 1024)
		fail_msg("the answer to %s is a %zu-byte frame; the server's "
			 "max_frame_bytes is 1024",
			 what, frame);
	assert_int_equal(answer->body_case, want);
	return answer;
}

/* ListFunding as a client of the protocol asks it, on c: the page after
 * the cursor (NULL: the first), at most limit requests (0: the server's
 * default). The answer must be a FundingList no larger than the server's
 * frame limit; free it with h_envelope_free. */
static Ipsnet__V1__Envelope *list_funding_page(struct h_tls *c, uint64_t id,
					       uint32_t limit,
					       const char *after_on,
					       const char *after_id)
{
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__ListFunding m = IPSNET__V1__LIST_FUNDING__INIT;
	m.limit = limit;
	m.after_requested_on = (char *)(after_on != NULL ? after_on : "");
	m.after_id = (char *)(after_id != NULL ? after_id : "");
	e.request_id = id;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_LIST_FUNDING;
	e.list_funding = &m;
	return ask_in_a_small_frame(c, &e, "ListFunding",
				    IPSNET__V1__ENVELOPE__BODY_FUNDING_LIST);
}

/* A GGZ with more funding requests than one frame holds (max_frame_bytes
 * 1024, a page of four or five) lists every one of them, once and in
 * order (requested_on, then id), with each one's client, and the audit
 * trail holds one row for each request given. All are asked today, so
 * each page boundary falls between two requests of the same date. Before,
 * the daemon answered ListFunding with every request in one frame (here
 * 12 requests, 1,444 bytes) whatever its own frame limit: a client that
 * keeps to the limit the server announced closes the connection over it,
 * and libipsnet (which takes 16 MiB) failed past that. */
#define PAGED_FUNDINGS 12
static void test_funding_list_pages_through_more_than_one_frame(void **state)
{
	struct fx *fx = *state;
	char client[2][64], tr[2][64], funding[PAGED_FUNDINGS][64];
	char desc[32];
	add_program(fx);
	for (int i = 0; i < 2; i++) {
		register_client(fx, 60 + i, "wia", client[i],
				sizeof(client[i]));
		run(fx, EXIT_OK, "ggz-test", "consent", "grant", client[i],
		    "--to", "uwv", "--purpose", "IPS funding", "--until",
		    "2099-12-31", NULL);
		run_id(fx, tr[i], sizeof(tr[i]), "ggz-test", "refer", client[i],
		       "--program", "ips-test", "--note", "context", "--quiet",
		       NULL);
		run_id(fx, funding[i], sizeof(funding[i]), "ggz-test",
		       "funding", "request", tr[i], "--funder", "uwv",
		       "--months", "12", "--quiet", NULL);
	}
	for (int i = 2; i < PAGED_FUNDINGS; i++) {
		snprintf(desc, sizeof(desc), "Fonds %d", i);
		run_id(fx, funding[i], sizeof(funding[i]), "ggz-test",
		       "funding", "request", tr[i % 2], "--other", desc,
		       "--months", "6", "--quiet", NULL);
	}

	/* The command: every request once, in order, with its client. */
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "funding", "list",
			     "--json", NULL);
	json_t *list = json_object_get(j, "fundings");
	assert_int_equal(json_array_size(list), PAGED_FUNDINGS);
	char last[64] = "";
	for (size_t i = 0; i < json_array_size(list); i++) {
		json_t *f = json_array_get(list, i);
		const char *id = jstr(f, "id");
		assert_true(strcmp(id, last) > 0);
		snprintf(last, sizeof(last), "%s", id);
		int found = 0;
		for (int k = 0; k < PAGED_FUNDINGS; k++)
			found += strcmp(funding[k], id) == 0;
		assert_int_equal(found, 1);
		assert_string_equal(jstr(f, "client_name"), "Anna de Vries");
	}
	/* One audit row of ggz-test's list per request given. */
	for (int i = 0; i < 2; i++) {
		j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client",
			     client[i], "--limit", "1000", "--json", NULL);
		json_t *records = json_object_get(j, "records");
		size_t rows = 0;
		for (size_t r = 0; r < json_array_size(records); r++) {
			json_t *rec = json_array_get(records, r);
			if (strcmp(jstr(rec, "action"), "list_funding") != 0)
				continue;
			rows++;
			assert_string_equal(jstr(rec, "result"), "OK");
			int found = 0;
			for (int k = i; k < PAGED_FUNDINGS; k += 2) {
				char object[80];
				snprintf(object, sizeof(object), "funding:%s",
					 funding[k]);
				found +=
				    strcmp(jstr(rec, "object"), object) == 0;
			}
			assert_int_equal(found, 1);
		}
		assert_int_equal(rows, PAGED_FUNDINGS / 2);
	}
	run(fx, EXIT_OK, "ggz-test", "funding", "list", NULL);
	for (int k = 0; k < PAGED_FUNDINGS; k++)
		assert_int_equal(count(fx->r.out, funding[k]), 1);
	j = run_json(fx, EXIT_OK, "uwv", "funding", "list", "--json", NULL);
	assert_int_equal(json_array_size(json_object_get(j, "fundings")), 2);

	/* The protocol: a client that sends no limit and no cursor (one from
	 * before paging, which knows no more) is not given a list cut short
	 * without a word: 12 requests do not fit in one answer, so it is
	 * refused, saying why; uwv's 2 do, and come whole. */
	struct h_tls c;
	assert_int_equal(h_tls_connect_hello(&c, fx->d.port, certs, "ggz-test"),
			 0);
	Ipsnet__V1__Envelope unpaged = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__ListFunding all = IPSNET__V1__LIST_FUNDING__INIT;
	unpaged.request_id = 9;
	unpaged.body_case = IPSNET__V1__ENVELOPE__BODY_LIST_FUNDING;
	unpaged.list_funding = &all;
	assert_exhausted(&c, &unpaged, "a page at a time");
	struct h_tls u;
	assert_int_equal(h_tls_connect_hello(&u, fx->d.port, certs, "uwv"), 0);
	Ipsnet__V1__Envelope *whole = list_funding_page(&u, 1, 0, NULL, NULL);
	assert_int_equal(whole->funding_list->n_fundings, 2);
	assert_false(whole->funding_list->more);
	h_envelope_free(whole);
	h_tls_close(&u);

	/* A client that pages gets the first page within the frame limit;
	 * the next page starts after its last request, asked the same day. */
	Ipsnet__V1__Envelope *first =
	    list_funding_page(&c, 1, 1000, NULL, NULL);
	const Ipsnet__V1__FundingList *l = first->funding_list;
	assert_true(l->n_fundings >= 2 && l->n_fundings < PAGED_FUNDINGS);
	assert_true(l->more);
	const Ipsnet__V1__Funding *end = l->fundings[l->n_fundings - 1];
	assert_string_equal(l->next_id, end->id);
	assert_string_equal(l->next_requested_on, end->requested_on);
	Ipsnet__V1__Envelope *second =
	    list_funding_page(&c, 2, 0, l->next_requested_on, l->next_id);
	const Ipsnet__V1__FundingList *l2 = second->funding_list;
	assert_true(l2->n_fundings >= 1);
	assert_string_equal(l2->fundings[0]->requested_on, end->requested_on);
	assert_true(strcmp(l2->fundings[0]->id, end->id) > 0);
	/* each page names the clients of its own requests */
	assert_true(l2->n_clients >= 1);
	h_envelope_free(second);
	h_envelope_free(first);
	/* a limit asked for is kept */
	first = list_funding_page(&c, 3, 2, NULL, NULL);
	assert_int_equal(first->funding_list->n_fundings, 2);
	assert_true(first->funding_list->more);
	h_envelope_free(first);
	h_tls_close(&c);
}

/* A request too large for any page of the server's frame limit (a
 * withdrawal's reason of 880 characters, max_frame_bytes 1024) is not
 * sent in a frame over the limit, nor left out of the list in silence:
 * the list is refused RESOURCE_EXHAUSTED, naming the request and the
 * setting, and the trail holds the refused look. */
static void
test_funding_list_refuses_a_request_larger_than_a_frame(void **state)
{
	struct fx *fx = *state;
	char client[64], funding[64], object[80];
	a_case_in_a_frame_too_small(fx, 70, "context", client, funding);

	run(fx, EXIT_ELSE, "ggz-test", "funding", "list", NULL);
	assert_one_line_error(fx);
	assert_err(fx, funding);
	assert_err(fx, "max_frame_bytes");
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client",
			     client, "--json", NULL);
	snprintf(object, sizeof(object), "funding:%s", funding);
	assert_int_equal(audit_rows(j, "list_funding"), 1);
	assert_int_equal(
	    audit_rows_as(j, "list_funding", "RESOURCE_EXHAUSTED", object), 1);
}

static void write_many_clients(const char *path, int first, int n);

/* AuditQuery as a client of the protocol asks it, on c. The answer must be
 * an AuditList no larger than the server's frame limit (1024 bytes); free
 * it with h_envelope_free. */
static Ipsnet__V1__Envelope *audit_page(struct h_tls *c, uint64_t id,
					const char *client, const char *since,
					uint32_t limit, uint64_t after_id,
					uint64_t before_id)
{
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT, *answer;
	Ipsnet__V1__AuditQuery m = IPSNET__V1__AUDIT_QUERY__INIT;
	m.client_id = (char *)(client != NULL ? client : "");
	m.since = (char *)(since != NULL ? since : "");
	m.limit = limit;
	m.after_id = after_id;
	m.before_id = before_id;
	m.paged = true;
	e.request_id = id;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_AUDIT_QUERY;
	e.audit_query = &m;
	answer = ask_in_a_small_frame(c, &e, "AuditQuery",
				      IPSNET__V1__ENVELOPE__BODY_AUDIT_LIST);
	for (size_t i = 1; i < answer->audit_list->n_records; i++)
		assert_true(answer->audit_list->records[i]->id >
			    answer->audit_list->records[i - 1]->id);
	return answer;
}

/* A trail to read from since (today, UTC, taken before its first row):
 * client (BSN seed bsn) registered by ggz-test, then n clients imported
 * from BSN prefix first on. */
static void a_trail_to_read(struct fx *fx, int bsn, int first, int n,
			    char client[64], char since[32])
{
	char clients[PATH_MAX];
	util_iso8601(since, 32, util_now_us());
	since[10] = '\0';
	register_client(fx, bsn, "wia", client, 64);
	path_in(fx, clients, sizeof(clients), "clients.csv");
	write_many_clients(clients, first, n);
	run(fx, EXIT_OK, "ggz-test", "import", clients, NULL);
}

/* An audit trail longer than one frame holds (max_frame_bytes 1024: about
 * seven records) is answered a page at a time: an answer stops before the
 * frame limit and says with more that rows were left out, and the next
 * page goes on from it (with since, after the last record; or else, for
 * the latest rows, before the first). `ipsnet audit` asks for every page
 * and shows all the rows asked for, in order; each page is one
 * audit_query row of the trail. Before, the daemon sent the rows asked
 * for (up to 1000, about 124 bytes each) in one frame whatever its own
 * frame limit: a client that keeps to the limit the server announced
 * closes the connection over it. */
#define AUDITED_SHOWS 15
#define AUDITED_IMPORTS 20
static void test_audit_pages_through_more_than_one_frame(void **state)
{
	struct fx *fx = *state;
	char client[64], since[32];
	a_trail_to_read(fx, 80, 200, AUDITED_IMPORTS, client, since);

	/* Her case looked at fifteen times: a trail of sixteen rows. */
	struct h_tls c;
	assert_int_equal(h_tls_connect_hello(&c, fx->d.port, certs, "ggz-test"),
			 0);
	for (uint64_t i = 1; i <= AUDITED_SHOWS; i++) {
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT, *answer;
		Ipsnet__V1__ShowCase m = IPSNET__V1__SHOW_CASE__INIT;
		m.client_id = client;
		e.request_id = i;
		e.body_case = IPSNET__V1__ENVELOPE__BODY_SHOW_CASE;
		e.show_case = &m;
		assert_int_equal(h_tls_send_envelope(&c, &e), 0);
		answer = h_tls_recv_envelope(&c, 5000);
		assert_non_null(answer);
		assert_int_equal(answer->body_case,
				 IPSNET__V1__ENVELOPE__BODY_CASE_VIEW);
		h_envelope_free(answer);
	}
	/* The latest rows: the newest that fit, then the earlier ones. */
	Ipsnet__V1__Envelope *first =
	    audit_page(&c, 100, client, NULL, 1000, 0, 0);
	const Ipsnet__V1__AuditList *l = first->audit_list;
	assert_true(l->n_records >= 2 && l->n_records < AUDITED_SHOWS);
	assert_true(l->more);
	assert_string_equal(l->records[l->n_records - 1]->action, "show_case");
	Ipsnet__V1__Envelope *second =
	    audit_page(&c, 101, client, NULL, (uint32_t)(1000 - l->n_records),
		       0, l->records[0]->id);
	const Ipsnet__V1__AuditList *l2 = second->audit_list;
	assert_true(l2->n_records >= 1);
	assert_true(l2->records[l2->n_records - 1]->id < l->records[0]->id);
	h_envelope_free(second);
	h_envelope_free(first);
	/* a limit that fits is kept, and nothing said to be left out */
	first = audit_page(&c, 102, client, NULL, 3, 0, 0);
	assert_int_equal(first->audit_list->n_records, 3);
	assert_false(first->audit_list->more);
	h_envelope_free(first);
	/* A client that does not page (no paged: one from before paging,
	 * which knows no more) is not given what fits as all there is. */
	Ipsnet__V1__Envelope old = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__AuditQuery q = IPSNET__V1__AUDIT_QUERY__INIT;
	q.client_id = client;
	q.limit = 1000;
	old.request_id = 103;
	old.body_case = IPSNET__V1__ENVELOPE__BODY_AUDIT_QUERY;
	old.audit_query = &q;
	assert_exhausted(&c, &old, "a page at a time");
	h_tls_close(&c);

	/* From since on: the oldest that fit, then the later ones. */
	assert_int_equal(h_tls_connect_hello(&c, fx->d.port, certs, "network"),
			 0);
	first = audit_page(&c, 1, NULL, since, 1000, 0, 0);
	l = first->audit_list;
	assert_true(l->more);
	assert_string_equal(l->records[0]->action, "register_client");
	second = audit_page(&c, 2, NULL, since, 1000,
			    l->records[l->n_records - 1]->id, 0);
	assert_true(second->audit_list->n_records >= 1);
	assert_true(second->audit_list->records[0]->id >
		    l->records[l->n_records - 1]->id);
	h_envelope_free(second);
	h_envelope_free(first);
	h_tls_close(&c);

	/* The command shows every row asked for, in order; the trail holds
	 * one audit_query row for each query asked above, the refused one
	 * as refused (those of the command's own pages come after what they
	 * read). */
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client",
			     client, "--limit", "1000", "--json", NULL);
	assert_int_equal(audit_rows(j, "show_case"), AUDITED_SHOWS);
	assert_int_equal(audit_rows(j, "register_client"), 1);
	assert_int_equal(audit_rows(j, "audit_query"), 4);
	assert_int_equal(
	    audit_rows_as(j, "audit_query", "RESOURCE_EXHAUSTED", NULL), 1);
	assert_int_equal(json_array_size(json_object_get(j, "records")),
			 1 + AUDITED_SHOWS + 4);
	run(fx, EXIT_OK, "ggz-test", "audit", "--client", client, "--limit",
	    "1000", NULL);
	assert_int_equal(count(fx->r.out, "show_case"), AUDITED_SHOWS);
	/* the latest five, as without a frame limit */
	j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client", client,
		     "--limit", "5", "--json", NULL);
	assert_int_equal(json_array_size(json_object_get(j, "records")), 5);
	assert_int_equal(audit_rows(j, "audit_query"), 5);
	j = run_json(fx, EXIT_OK, "network", "audit", "--since", since,
		     "--limit", "1000", "--json", NULL);
	assert_int_equal(audit_rows(j, "register_client"), 1 + AUDITED_IMPORTS);
	assert_int_equal(audit_rows(j, "show_case"), AUDITED_SHOWS);
}

/* The ids of an `audit --json` answer's records, in order; its "more". */
static size_t audit_ids(json_t *j, uint64_t *ids, size_t cap, bool *more)
{
	json_t *records = json_object_get(j, "records");
	size_t n = json_array_size(records);
	assert_true(n <= cap);
	for (size_t i = 0; i < n; i++) {
		ids[i] = (uint64_t)json_integer_value(
		    json_object_get(json_array_get(records, i), "id"));
		assert_true(ids[i] > 0);
		if (i > 0)
			assert_true(ids[i] > ids[i - 1]);
	}
	json_t *m = json_object_get(j, "more");
	assert_true(json_is_boolean(m));
	*more = json_is_true(m);
	return n;
}

/* `ipsnet audit` shows the rows --limit asks for, up to 100,000, past the
 * server's 1,000 a query, and says when the trail holds more than it
 * shows: a security officer must know whether what she reads is the whole
 * trail. Was: at most 1,000 rows whatever --limit said (which took up to
 * 100,000), and the default 100 shown with no word that there were more. */
#define AUDITED_REGISTRATIONS 1030
static void test_audit_shows_its_limit_and_says_what_it_leaves_out(void **state)
{
	struct fx *fx = *state;
	char client[64], since[32], limit[16];
	static uint64_t all[4096], some[4096];
	bool more;
	a_trail_to_read(fx, 93, 300, AUDITED_REGISTRATIONS, client, since);

	/* Everything from since on: more than one query's 1,000 rows. */
	json_t *j = run_json(fx, EXIT_OK, "network", "audit", "--since", since,
			     "--limit", "100000", "--json", NULL);
	size_t n_all = audit_ids(j, all, ARRAY_SIZE(all), &more);
	assert_false(more);
	assert_int_equal(audit_rows(j, "register_client"),
			 1 + AUDITED_REGISTRATIONS);
	assert_true(n_all > 1 + AUDITED_REGISTRATIONS);
	/* A limit past 1,000: the first rows from since on, and more. */
	snprintf(limit, sizeof(limit), "%zu", n_all - 5);
	j = run_json(fx, EXIT_OK, "network", "audit", "--since", since,
		     "--limit", limit, "--json", NULL);
	assert_int_equal(audit_ids(j, some, ARRAY_SIZE(some), &more),
			 n_all - 5);
	assert_true(more);
	assert_memory_equal(some, all, (n_all - 5) * sizeof(*all));
	/* The default: 100 of them, and more. */
	j = run_json(fx, EXIT_OK, "network", "audit", "--since", since,
		     "--json", NULL);
	assert_int_equal(audit_ids(j, some, ARRAY_SIZE(some), &more), 100);
	assert_true(more);
	assert_memory_equal(some, all, 100 * sizeof(*all));
	run(fx, EXIT_OK, "network", "audit", "--since", since, "--limit", "5",
	    NULL);
	assert_int_equal(count(fx->r.out, "register_client"), 5);
	assert_out(fx, "later records are not shown");

	/* One client's trail: the latest rows, and more while there are. */
	for (int i = 0; i < 3; i++)
		run(fx, EXIT_OK, "ggz-test", "case", "show", client, NULL);
	j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client", client,
		     "--limit", "1000", "--json", NULL);
	size_t n_hers = audit_ids(j, all, ARRAY_SIZE(all), &more);
	assert_false(more);
	assert_int_equal(audit_rows(j, "show_case"), 3);
	j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client", client,
		     "--limit", "2", "--json", NULL);
	assert_int_equal(audit_ids(j, some, ARRAY_SIZE(some), &more), 2);
	assert_true(more);
	/* the latest two then were the last two of the whole trail, and the
	 * query before this one is the latest of those */
	assert_int_equal(some[0], all[n_hers - 1]);
	assert_true(some[1] > all[n_hers - 1]);
	run(fx, EXIT_OK, "ggz-test", "audit", "--client", client, "--limit",
	    "1", NULL);
	assert_out(fx, "earlier records are not shown");
	run(fx, EXIT_OK, "ggz-test", "audit", "--client", client, "--limit",
	    "100000", NULL);
	assert_true(strstr(fx->r.out, "not shown") == NULL);
}

/* A change that would make its entity too large for one frame of the
 * server's limit (a referral with a 900-character note, max_frame_bytes
 * 1024) is refused RESOURCE_EXHAUSTED, naming the limit, before it is
 * applied: no journal entry, no trajectory, the refusal on the client's
 * trail; the same referral with a short note goes. Was: applied, then
 * answered in a frame over the limit the server announced (1,029 bytes),
 * and its sync events as large. */
static void test_a_change_too_large_for_a_frame_is_refused(void **state)
{
	struct fx *fx = *state;
	char client[64], tr[64], note[901];
	add_program(fx);
	register_client(fx, 91, "wia", client, sizeof(client));
	long long head = journal_seq(fx);
	repeated(note, sizeof(note), 'n');
	run(fx, EXIT_ELSE, "ggz-test", "refer", client, "--program", "ips-test",
	    "--note", note, NULL);
	assert_one_line_error(fx);
	assert_err(fx, "max_frame_bytes of 1024");
	assert_int_equal(journal_seq(fx), head);
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client,
			     "--json", NULL);
	assert_int_equal(json_array_size(json_object_get(j, "trajectories")),
			 0);
	j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client", client,
		     "--json", NULL);
	assert_int_equal(audit_rows_as(j, "refer", "RESOURCE_EXHAUSTED", NULL),
			 1);

	note[100] = '\0';
	run_id(fx, tr, sizeof(tr), "ggz-test", "refer", client, "--program",
	       "ips-test", "--note", note, "--quiet", NULL);
	assert_int_equal(journal_seq(fx), head + 1);
}

/* An answer that does not fit in one frame of the server's limit (a case
 * with a 900-character note and a funding request withdrawn with an
 * 880-character reason, max_frame_bytes 1024; a report) is not sent: the
 * request is refused RESOURCE_EXHAUSTED, naming its size and
 * max_frame_bytes, the connection goes on, the daemon logs it, and the
 * case read is on her trail as refused, not as given. Before, the daemon
 * sent the answer in a frame over its own limit: a client that keeps to
 * the limit it announced closes the connection over it, and `ipsnet`
 * (libipsnet takes 16 MiB) showed it. */
static void test_an_answer_over_the_frame_limit_is_refused(void **state)
{
	struct fx *fx = *state;
	char client[64], funding[64], note[901];
	repeated(note, sizeof(note), 'n');
	a_case_in_a_frame_too_small(fx, 90, note, client, funding);

	run(fx, EXIT_ELSE, "ggz-test", "case", "show", client, NULL);
	assert_one_line_error(fx);
	assert_err(fx, "more than the server's max_frame_bytes of 1024 bytes");

	struct h_tls c;
	assert_int_equal(h_tls_connect_hello(&c, fx->d.port, certs, "ggz-test"),
			 0);
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__ShowCase m = IPSNET__V1__SHOW_CASE__INIT;
	m.client_id = client;
	e.request_id = 7;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_SHOW_CASE;
	e.show_case = &m;
	assert_exhausted(&c, &e, "max_frame_bytes");
	assert_true(h_tls_ping(&c, 8));
	h_tls_close(&c);
	assert_true(h_daemon_wait_log(&fx->d,
				      "msg=\"answer over the frame limit\" "
				      "org=ggz-test read=show_case",
				      5000));

	/* Read, not given: both looks are on her trail as refused. */
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client",
			     client, "--json", NULL);
	assert_int_equal(audit_rows(j, "show_case"), 2);
	assert_int_equal(
	    audit_rows_as(j, "show_case", "RESOURCE_EXHAUSTED", NULL), 2);

	/* A report of ten years by region is larger than 1024 bytes whatever
	 * the data. */
	run(fx, EXIT_ELSE, "network", "report", "--year", "2025", "--compare",
	    "2024", "--by", "region", "--history", "10", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "more than the server's max_frame_bytes of 1024 bytes");
	assert_true(
	    h_daemon_wait_log(&fx->d, "result=IPSNET_EFRAME_TOO_LARGE", 5000));
}

/* A change that cannot be sent for want of memory stops the import: the
 * answer to the row sent before it is waited for and reported, the rows
 * not sent are not confirmed, and the exit code says so; the same import
 * run again applies the rest. The import took the failure for a
 * connection going away and waited for a new one that nothing was going
 * to make: it hung. fail_malloc.c fails the command's allocations of
 * FAIL_LO to FAIL_HI bytes: of the import's, only the buffer of the second
 * row's change (a 4000-byte note and a 500-byte close reason) is that
 * large, not the values read from the file. */
#define FAIL_LO 4600
#define FAIL_HI 5000
static void test_import_out_of_memory_stops_and_reports_the_rows(void **state)
{
	struct fx *fx = *state;
	char trajectories[PATH_MAX], text[8192], b[3][10];
	char note[4001], reason[501], range[32];
	three_clients_and_a_program(fx, 50, b);

	repeated(note, sizeof(note), 'n');
	repeated(reason, sizeof(reason), 'r');
	path_in(fx, trajectories, sizeof(trajectories), "trajectories.csv");
	snprintf(text, sizeof(text),
		 "bsn,program,referred_on,accepted_on,started_on,closed_on,"
		 "close_reason,note\n"
		 "%s,ips-test,2025-03-01,,,,,short\n"
		 "%s,ips-test,2025-03-01,2025-03-02,2025-03-03,2025-03-04,%s,"
		 "%s\n"
		 "%s,ips-test,2025-03-01,,,,,short\n",
		 b[0], b[1], reason, note, b[2]);
	write_file(trajectories, text);
	long long head = journal_seq(fx);
	struct h_args a;
	h_args_init(&a);
	h_args_org(&a, &fx->d, certs, "ggz-test");
	h_args_add(&a, "import");
	h_args_add(&a, "%s", trajectories);
	snprintf(range, sizeof(range), "%d-%d", FAIL_LO, FAIL_HI);
	h_result_free(&fx->r);
	if (h_run_cli_preloaded(&fx->r, FAIL_MALLOC_PATH, "IT_FAIL_MALLOC",
				range, a.argv) != EXIT_ELSE) {
		print_result(&fx->r);
		fail_msg("the import out of memory exited %d, not %d",
			 fx->r.code, EXIT_ELSE);
	}
	assert_out(fx, "(trajectories): 3 rows: 1 imported, 0 imported "
		       "before, 0 rejected, 2 not confirmed");
	assert_err(fx, "ipsnet: out of memory: 2 rows are not confirmed; run "
		       "the same import again");
	assert_int_equal(journal_seq(fx), head + 1);

	run(fx, EXIT_OK, "ggz-test", "import", trajectories, NULL);
	assert_out(fx, "3 rows: 2 imported, 1 imported before, 0 rejected");
	assert_int_equal(journal_seq(fx), head + 3);
}

/* Runs ipsnet with args on a pseudo-terminal (so that stderr isatty);
 * returns everything it wrote and its exit code in *code, and the time it
 * took in *ms. */
static char *run_on_terminal(const char *const args[], int *code, long *ms)
{
	const char *argv[H_ARGS_MAX + 2];
	struct h_result r;
	int n = 0;
	argv[n++] = "ipsnet";
	for (int i = 0; args[i] != NULL && n <= H_ARGS_MAX; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	*code = h_run_on_terminal(&r, IPSNET_PATH, argv, ms);
	char *out = r.out;
	r.out = NULL;
	h_result_free(&r);
	return out;
}

/* A clients file of n rows with the BSNs from the first-th valid one on. */
static void write_many_clients(const char *path, int first, int n)
{
	char b[10];
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "bsn;name;birth_date;municipality;benefit\n");
	long v = 100000000;
	for (int seen = 0, i = 0; i < n; v++) {
		snprintf(b, sizeof(b), "%ld", v);
		if (!bsn_valid(b) || seen++ < first)
			continue;
		fprintf(f, "%s;Client %d;1980-01-01;GM0363;ww\n", b, i++);
	}
	assert_int_equal(fclose(f), 0);
}

/* A server that cannot write (here its journal's chain is broken, as a
 * full disk would do it) answers each change UNAVAILABLE. That judges no
 * row: the import stops sending after the first such answer, says once
 * why and that a run of the same import later confirms the rest, and
 * exits 3; before, every row was sent, "rejected" with a line each, and
 * the command exited 1 as for rows to mend. */
static void test_import_stops_when_the_server_cannot_write(void **state)
{
	struct fx *fx = *state;
	char first[PATH_MAX], rest[PATH_MAX], db[PATH_MAX];

	path_in(fx, first, sizeof(first), "first.csv");
	write_many_clients(first, 0, 3);
	run(fx, EXIT_OK, "ggz-test", "import", first, NULL);
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	snprintf(db, sizeof(db), "%s/ipsnet.db", fx->dir);
	assert_int_equal(h_sqlite3(db, "DROP TRIGGER journal_no_update; "
				       "UPDATE journal SET user = "
				       "'someone.else' WHERE seq = 2;"),
			 0);
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	assert_true(h_daemon_wait_log(&fx->d, "writes=stopped", 10000));

	path_in(fx, rest, sizeof(rest), "rest.csv");
	write_many_clients(rest, 3, 100);
	run(fx, EXIT_CONNECT, "ggz-test", "import", "--in-flight", "4", rest,
	    NULL);
	assert_out(fx, "100 rows: 0 imported, 0 imported before, 0 rejected, "
		       "100 not confirmed");
	assert_err(fx, "ipsnet: the server cannot act now (");
	assert_err(fx, "seq 2");
	assert_err(fx, "100 rows are not confirmed; run the same import "
		       "again");
	/* One line: no row was judged. */
	int lines = 0;
	for (const char *c = fx->r.err; *c != '\0'; c++)
		lines += *c == '\n';
	assert_int_equal(lines, 1);
	/* What the daemon was asked: the first window, not the 100 rows. */
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	char *log = h_read_file(fx->d.log, NULL);
	assert_non_null(log);
	const char *at = strstr(log, "journal_changes=");
	assert_non_null(at);
	long asked = strtol(at + strlen("journal_changes="), NULL, 10);
	free(log);
	if (asked > 8)
		fail_msg("the server was sent %ld changes after it could not "
			 "write",
			 asked);
	assert_int_equal(h_daemon_restart(&fx->d), 0);
}

/* Output that cannot be written fails the command, with why: a job that
 * keeps the output must not take an empty file for a result. Was: exit 0
 * with nothing written (found by a review). */
static void test_output_that_cannot_be_written_fails_the_command(void **state)
{
	struct fx *fx = *state;
	char mirror[PATH_MAX], client[64], consent[64];
	snprintf(mirror, sizeof(mirror), "%s/full.db", fx->dir);
	register_client(fx, 0, "participatiewet", client, sizeof(client));
	run_id(fx, consent, sizeof(consent), "ggz-test", "consent", "grant",
	       client, "--to", "gm0363", "--purpose", "IPS funding", "--until",
	       "2030-12-31", "--quiet", NULL);
	/* consent withdraw flushes its line itself, before its note: glibc
	 * drops what a failed write held, and the flush at the end has
	 * nothing left to fail on. */
	const char *const cmds[][6] = {
	    {"gm0363", "whoami"},
	    {"gm0363", "--json", "whoami"},
	    {"gm0363", "sync", "--mirror", mirror},
	    {"ggz-test", "consent", "withdraw", consent, "--version", "1"},
	};
	for (size_t i = 0; i < ARRAY_SIZE(cmds); i++) {
		struct h_args a;
		const char *argv[H_ARGS_MAX + 4] = {
		    "sh", "-c", "exec \"$0\" \"$@\" >/dev/full", IPSNET_PATH};
		int n = 4;
		h_args_init(&a);
		h_args_org(&a, &fx->d, certs, cmds[i][0]);
		for (int k = 1; k < 6 && cmds[i][k] != NULL; k++)
			h_args_add(&a, "%s", cmds[i][k]);
		for (int k = 0; k < a.n; k++)
			argv[n++] = a.argv[k];
		argv[n] = NULL;
		h_result_free(&fx->r);
		h_run(&fx->r, "/bin/sh", argv);
		/* Why, where the flush that failed is the last one; where
		 * it came before, the failure only. */
		const char *said = i < 3 ? "ipsnet: cannot write the output: "
					   "No space left on device\n"
					 : "ipsnet: cannot write the output";
		if (fx->r.code != EXIT_ELSE ||
		    strstr(fx->r.err, said) == NULL) {
			print_result(&fx->r);
			fail_msg("%s %s: not refused", cmds[i][1],
				 cmds[i][2] != NULL ? cmds[i][2] : "");
		}
	}
}

static void test_import_shows_a_progress_bar_on_a_terminal(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX];
	enum { ROWS = 3000 };
	path_in(fx, path, sizeof(path), "many-clients.csv");
	write_many_clients(path, 100, ROWS);

	struct h_args a;
	h_args_init(&a);
	h_args_org(&a, &fx->d, certs, "ggz-test");
	h_args_add(&a, "--timeout");
	h_args_add(&a, "30000");
	h_args_add(&a, "import");
	h_args_add(&a, "%s", path);
	int code;
	long ms;
	char *out = run_on_terminal(a.argv, &code, &ms);
	if (code != 0 || strstr(out, "3000 rows: 3000 imported") == NULL) {
		fprintf(stderr, "%s\n", out);
		fail_msg("import on a terminal: exit %d", code);
	}
	/* drawn in place, with the count (grouped by thousands), the rate and
	 * the time */
	assert_non_null(strstr(out, "\rmany-clients.csv ["));
	assert_non_null(strstr(out, "3,000/3,000 rows"));
	assert_non_null(strstr(out, "rows/s"));
	assert_non_null(strstr(out, "\033[K"));
	/* at most about ten times a second, and once at the end */
	size_t draws = count(out, "rows/s");
	if ((long)draws > ms / 100 + 2)
		fail_msg("%zu redraws in %ld ms", draws, ms);
	free(out);
	assert_int_equal(journal_seq(fx), ROWS);
}

/* Starts ipsnet with args in the background, stdout and stderr into
 * files; returns its pid. */
static pid_t spawn_cli(const char *const args[], const char *out,
		       const char *err)
{
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		const char *argv[H_ARGS_MAX + 2];
		int n = 0;
		argv[n++] = "ipsnet";
		for (int i = 0; args[i] != NULL && n <= H_ARGS_MAX; i++)
			argv[n++] = args[i];
		argv[n] = NULL;
		int o = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		int e = open(err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		execv(IPSNET_PATH, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

static void
test_import_after_a_lost_connection_applies_the_rest_once(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX], out[PATH_MAX], err[PATH_MAX];
	enum { ROWS = 6000 };
	path_in(fx, path, sizeof(path), "clients.csv");
	path_in(fx, out, sizeof(out), "import.out");
	path_in(fx, err, sizeof(err), "import.err");
	write_many_clients(path, 1000, ROWS);

	struct h_args a;
	h_args_init(&a);
	h_args_org(&a, &fx->d, certs, "ggz-test");
	h_args_add(&a, "--json");
	h_args_add(&a, "import");
	h_args_add(&a, "%s", path);
	pid_t pid = spawn_cli(a.argv, out, err);

	/* The daemon dies (kill -9) while the import is under way. */
	long long seq = 0;
	for (int i = 0; i < 2000 && seq < 300; i++)
		seq = journal_seq(fx);
	assert_true(seq >= 300);
	h_daemon_stop(&fx->d, SIGKILL);
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	char *text = read_text(out), *why = read_text(err);
	json_error_t e;
	json_t *first = json_loads(text, 0, &e);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != EXIT_CONNECT ||
	    first == NULL) {
		fprintf(stderr, "stdout: %s\nstderr: %s\n", text, why);
		fail_msg("the import did not stop as cut off (status %d)",
			 status);
	}
	/* What is not confirmed may or may not have been applied. */
	if (strstr(why, "rows are not confirmed; run the same import "
			"again") == NULL)
		fail_msg("stderr: %s", why);
	long long confirmed =
	    json_integer_value(json_object_get(first, "imported"));
	long long unconfirmed =
	    json_integer_value(json_object_get(first, "unconfirmed"));
	assert_true(unconfirmed > 0);
	assert_int_equal(confirmed + unconfirmed, ROWS);
	json_decref(first);
	free(text);
	free(why);

	/* Again, on the daemon started again: the rest, and nothing twice. */
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "--timeout", "30000",
			     "import", path, "--json", NULL);
	long long imported = json_integer_value(json_object_get(j, "imported"));
	long long before =
	    json_integer_value(json_object_get(j, "already_imported"));
	assert_int_equal(imported + before, ROWS);
	assert_true(before >= confirmed);
	assert_int_equal(journal_seq(fx), ROWS);
}

/* A search by BSN refused to an organisation that may not search (a
 * municipality, UWV, the network operator) is still a look for that
 * person: its row names each client with that BSN, so that it is on her
 * trail for the GGZ that registered her, as a GGZ's search that finds
 * another GGZ's client is. It named no client ("client:by-bsn"), and her
 * trail never showed that UWV had looked her up. */
static void test_a_refused_search_by_bsn_is_on_the_clients_trail(void **state)
{
	struct fx *fx = *state;
	static const char *const orgs[] = {"gm0363", "uwv", "network"};
	char client[64], b[10], object[80];
	register_client(fx, 3, "wia", client, sizeof(client));
	for (size_t i = 0; i < ARRAY_SIZE(orgs); i++)
		run(fx, EXIT_DENIED, orgs[i], "client", "find", "--bsn",
		    bsn(3, b), NULL);
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client",
			     client, "--json", NULL);
	json_t *records = json_object_get(j, "records");
	snprintf(object, sizeof(object), "client:%s", client);
	for (size_t i = 0; i < ARRAY_SIZE(orgs); i++) {
		bool found = false;
		for (size_t k = 0; k < json_array_size(records); k++) {
			json_t *r = json_array_get(records, k);
			found |=
			    strcmp(jstr(r, "organisation"), orgs[i]) == 0 &&
			    strcmp(jstr(r, "action"), "find_client") == 0 &&
			    strcmp(jstr(r, "result"), "PERMISSION_DENIED") ==
				0 &&
			    strcmp(jstr(r, "object"), object) == 0;
		}
		if (!found) {
			print_result(&fx->r);
			fail_msg("the search of %s is not on the trail of %s",
				 orgs[i], client);
		}
	}
	/* the answer is the refusal it was, and no row holds the BSN */
	run(fx, EXIT_DENIED, "uwv", "client", "find", "--bsn", bsn(4, b), NULL);
	assert_err(fx, "finding a client by BSN is for the GGZ that "
		       "registered the client");
	j = run_json(fx, EXIT_OK, "network", "audit", "--after", "0", "--limit",
		     "1000", "--json", NULL);
	assert_null(strstr(fx->r.out, bsn(3, b)));
}

/* Whether the audit rows ipsnet printed as JSON (records) hold one of org
 * with action (and result, unless NULL). */
static bool audit_has_row(json_t *records, const char *org, const char *action,
			  const char *result)
{
	for (size_t i = 0; i < json_array_size(records); i++) {
		json_t *r = json_array_get(records, i);
		if (strcmp(jstr(r, "organisation"), org) == 0 &&
		    strcmp(jstr(r, "action"), action) == 0 &&
		    (result == NULL || strcmp(jstr(r, "result"), result) == 0))
			return true;
	}
	return false;
}

/* client update sends what it changes and nothing else (the server keeps
 * what an update does not name): it read the whole case first (her BSN,
 * her consents, the referral notes) to fill in the rest, so every update
 * was on her trail as a look at her case too; and a funder's update was
 * never sent at all: refused as that look ("not the addressed funder",
 * "no consent", as if a request or a consent would let it change her),
 * its trail held a show_case and not the change it tried. */
static void test_a_client_update_reads_no_case(void **state)
{
	struct fx *fx = *state;
	char client[64];
	register_client(fx, 6, "participatiewet", client, sizeof(client));
	run(fx, EXIT_OK, "ggz-test", "client", "update", client, "--version",
	    "1", "--benefit", "ww", NULL);
	assert_out(fx, "now at version 2");
	run(fx, EXIT_DENIED, "uwv", "client", "update", client, "--version",
	    "2", "--name", "Anna Jansen", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "only the GGZ that registered a client changes its "
		       "registration");
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "audit", "--client",
			     client, "--json", NULL);
	json_t *records = json_object_get(j, "records");
	assert_true(audit_has_row(records, "ggz-test", "update_client", "OK"));
	assert_true(audit_has_row(records, "uwv", "update_client",
				  "PERMISSION_DENIED"));
	assert_false(audit_has_row(records, "ggz-test", "show_case", NULL));
	assert_false(audit_has_row(records, "uwv", "show_case", NULL));
	j = run_json(fx, EXIT_OK, "ggz-test", "case", "show", client, "--json",
		     NULL);
	assert_string_equal(jstr(j, "client.name"), "Anna de Vries");
	assert_string_equal(jstr(j, "client.benefit"), "ww");
	assert_string_equal(jstr(j, "client.municipality"), "GM0363");
	assert_string_equal(jstr(j, "client.birth_date"), "1990-04-12");
}

/* A caseworker who gives her client's BSN where the command takes the
 * client's id (ipsnet case show 123456782) is told that CLIENT is the id
 * and how to find it, before anything is sent. The server can only say
 * what it says to anyone who names a client it may not see, and said it to
 * her own GGZ: "not your client: your organisation did not register this
 * client". */
static void test_a_bsn_given_for_a_client_says_how_to_find_her(void **state)
{
	struct fx *fx = *state;
	char client[64], b[10], grouped[16];
	register_client(fx, 7, "wia", client, sizeof(client));
	bsn(7, b);
	snprintf(grouped, sizeof(grouped), "%.3s.%.3s.%.3s", b, b + 3, b + 6);
	long long head = journal_seq(fx);
	const char *const given[] = {b, grouped};
	for (size_t i = 0; i < ARRAY_SIZE(given); i++) {
		run(fx, EXIT_USAGE, "ggz-test", "case", "show", given[i], NULL);
		assert_one_line_error(fx);
		assert_err(fx, "ipsnet client find --bsn");
		assert_null(strstr(fx->r.err, b));
		assert_null(strstr(fx->r.err, "not your client"));
		run(fx, EXIT_USAGE, "ggz-test", "audit", "--client", given[i],
		    NULL);
		assert_one_line_error(fx);
		assert_err(fx, "ipsnet client find --bsn");
		run(fx, EXIT_USAGE, "ggz-test", "client", "update", given[i],
		    "--version", "1", "--benefit", "ww", NULL);
		assert_err(fx, "ipsnet client find --bsn");
		run(fx, EXIT_USAGE, "ggz-test", "consent", "grant", given[i],
		    "--to", "uwv", "--purpose", "IPS", "--until", "2030-12-31",
		    NULL);
		assert_err(fx, "ipsnet client find --bsn");
		run(fx, EXIT_USAGE, "ggz-test", "refer", given[i], "--program",
		    "ips-test", NULL);
		assert_err(fx, "ipsnet client find --bsn");
		run(fx, EXIT_USAGE, "ggz-test", "job", "add", given[i],
		    "--employer", "Bakkerij Jansen", "--start", "2026-01-05",
		    "--hours", "24", NULL);
		assert_err(fx, "ipsnet client find --bsn");
	}
	/* nothing was sent: no change, no read on the trail */
	assert_int_equal(journal_seq(fx), head);
	json_t *j = run_json(fx, EXIT_OK, "network", "audit", "--after", "0",
			     "--limit", "1000", "--json", NULL);
	assert_false(audit_has_object(json_object_get(j, "records"),
				      "client:withheld-bsn"));
	assert_false(audit_has_object(json_object_get(j, "records"),
				      "audit:withheld-bsn"));
	/* her id, or anything else, is sent as it is */
	run(fx, EXIT_OK, "ggz-test", "case", "show", client, NULL);
	run(fx, EXIT_DENIED, "ggz-test", "case", "show", "12345678", NULL);
}

/* A change refused as stale names the client whose case to look at: the
 * answer carries the entity, and with it her id. It said "run 'ipsnet
 * case show CLIENT'", the word CLIENT as it is, to a caseworker who gave
 * a trajectory's or a consent's id and may not have the client's at hand. */
static void test_a_stale_change_names_the_case_to_look_at(void **state)
{
	struct fx *fx = *state;
	char client[64], tr[64], consent[64], want[128];
	add_program(fx);
	register_client(fx, 8, "wia", client, sizeof(client));
	run_id(fx, tr, sizeof(tr), "ggz-test", "refer", client, "--program",
	       "ips-test", "--quiet", NULL);
	run_id(fx, consent, sizeof(consent), "ggz-test", "consent", "grant",
	       client, "--to", "uwv", "--purpose", "IPS", "--until",
	       "2030-12-31", "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "trajectory", "accept", tr, "--version",
	    "1", NULL);
	run(fx, EXIT_OK, "ggz-test", "consent", "withdraw", consent,
	    "--version", "1", NULL);
	snprintf(want, sizeof(want), "run 'ipsnet case show %s' and try again",
		 client);
	run(fx, EXIT_CONFLICT, "ggz-test", "trajectory", "start", tr,
	    "--version", "1", NULL);
	assert_one_line_error(fx);
	assert_err(fx, want);
	run(fx, EXIT_CONFLICT, "ggz-test", "consent", "withdraw", consent,
	    "--version", "1", NULL);
	assert_one_line_error(fx);
	assert_err(fx, want);
}

/* audit --client '' (a script's unset variable) is a usage error. It asked
 * for no one client, which is every client's trail: NETWORK got the whole
 * trail, shown without its CLIENT column as the trail of one client is. */
static void test_audit_of_an_empty_client_is_a_usage_error(void **state)
{
	struct fx *fx = *state;
	char client[64];
	register_client(fx, 9, "wia", client, sizeof(client));
	run(fx, EXIT_USAGE, "network", "audit", "--client", "", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "--client");
	assert_not_out(fx, "register_client");
	run(fx, EXIT_USAGE, "network", "audit", "--client", "", "--since",
	    "2020-01-01", "--json", NULL);
	assert_one_line_error(fx);
	assert_int_equal(fx->r.out_len, 0);
}

/* The note after a withdrawal names the consent that still shares the case
 * with its purpose, free text of the case: its control characters are
 * masked, as everywhere ipsnet shows such text on a terminal. It printed
 * the purpose as it is, so that a purpose holding a line break wrote a
 * line of its own that reads like one of ipsnet's, and escape sequences
 * reached the terminal. */
static void test_the_note_after_a_withdrawal_masks_the_purpose(void **state)
{
	struct fx *fx = *state;
	char client[64], first[64], second[64];
	register_client(fx, 10, "participatiewet", client, sizeof(client));
	run_id(fx, first, sizeof(first), "ggz-test", "consent", "grant", client,
	       "--to", "gm0363", "--purpose", "IPS funding", "--until",
	       "2030-12-31", "--quiet", NULL);
	run_id(fx, second, sizeof(second), "ggz-test", "consent", "grant",
	       client, "--to", "gm0363", "--purpose",
	       "debt\033[2J\nipsnet: all sharing stopped", "--until",
	       "2031-06-30", "--quiet", NULL);
	run(fx, EXIT_OK, "ggz-test", "consent", "withdraw", first, "--version",
	    "1", NULL);
	assert_err(fx, "still shared with gm0363");
	assert_null(strchr(fx->r.err, '\033'));
	assert_null(strstr(fx->r.err, "\nipsnet: all sharing stopped"));
	assert_err(fx, "debt?[2J?ipsnet: all sharing stopped");
}

/* program put --version without --name prints the program's name as the
 * server has it, which its GGZ wrote: its control characters are masked,
 * as in program list. It printed the name as it is, so that NETWORK
 * changing a team's size got the GGZ's escape sequences on its terminal
 * and a line of the name's own that read like one of ipsnet's. */
static void test_program_put_masks_the_name_it_keeps(void **state)
{
	struct fx *fx = *state;
	add_program(fx);
	run(fx, EXIT_OK, "ggz-test", "program", "put", "ips-test", "--version",
	    "1", "--name", "IPS\033[2J\nipsnet: program removed", NULL);
	run(fx, EXIT_OK, "network", "program", "put", "ips-test", "--version",
	    "2", "--specialists", "4", NULL);
	assert_null(strchr(fx->r.out, '\033'));
	assert_not_out(fx, "\nipsnet: program removed");
	assert_out(fx, "IPS?[2J?ipsnet: program removed of ggz-test");
	assert_out(fx, "4 specialists (version 3)");
}

/* A table pads each cell to the columns the terminal draws, not to its
 * characters: an employer's name written with a combining mark ("Ö" as O
 * and U+0308, as a Mac may send it) takes one column less than its
 * characters, a CJK character two columns. Counted in characters, the
 * FROM column of case show's jobs stood two columns further right in the
 * other rows than in that one. */
static void test_tables_align_combining_and_wide_characters(void **state)
{
	struct fx *fx = *state;
	char client[64];
	register_client(fx, 11, "wia", client, sizeof(client));
	run(fx, EXIT_OK, "ggz-test", "job", "add", client, "--employer",
	    "Bakkerij O\xcc\x88zdemir", "--start", "2026-01-05", "--hours",
	    "24", NULL);
	run(fx, EXIT_OK, "ggz-test", "job", "add", client, "--employer",
	    "Bakkerij Jansen", "--start", "2026-02-02", "--hours", "24", NULL);
	run(fx, EXIT_OK, "ggz-test", "job", "add", client, "--employer",
	    "\xe5\xaf\xbf\xe5\x8f\xb8 Sushi", "--start", "2026-03-03",
	    "--hours", "24", NULL);
	run(fx, EXIT_OK, "ggz-test", "case", "show", client, NULL);
	/* 16 columns wide, the widest: two spaces after each name's end */
	assert_out(fx, "  EMPLOYER          FROM");
	assert_out(fx, "Bakkerij O\xcc\x88zdemir  2026-01-05");
	assert_out(fx, "Bakkerij Jansen   2026-02-02");
	assert_out(fx, "\xe5\xaf\xbf\xe5\x8f\xb8 Sushi        2026-03-03");
}

/* A --version above the one the thing is at (a typo, a version read off
 * another row) is said as such, not as "changed since the version you
 * gave": nothing changed since, and a caseworker told so looks for who
 * changed it. The current version and the case to look at are still
 * named, with --json too. */
static void test_a_version_not_reached_is_not_called_changed(void **state)
{
	struct fx *fx = *state;
	char client[64], tr[64], want[160];
	add_program(fx);
	register_client(fx, 12, "wia", client, sizeof(client));
	run_id(fx, tr, sizeof(tr), "ggz-test", "refer", client, "--program",
	       "ips-test", "--quiet", NULL);
	snprintf(want, sizeof(want),
		 "no version 3 of trajectory %s: it is at version 1 (referred "
		 "on ",
		 tr);
	run(fx, EXIT_CONFLICT, "ggz-test", "trajectory", "accept", tr,
	    "--version", "3", NULL);
	assert_one_line_error(fx);
	assert_err(fx, want);
	assert_null(strstr(fx->r.err, "changed since"));
	snprintf(want, sizeof(want),
		 "run 'ipsnet case show %s' and try again with --version 1",
		 client);
	assert_err(fx, want);
	json_t *j = run_json(fx, EXIT_CONFLICT, "ggz-test", "trajectory",
			     "accept", tr, "--version", "3", "--json", NULL);
	assert_string_equal(jstr(j, "error.current_version"), "1");
	assert_non_null(strstr(jstr(j, "error.message"), "no version 3 of"));
	run(fx, EXIT_CONFLICT, "network", "program", "put", "ips-test",
	    "--version", "5", "--specialists", "4", NULL);
	assert_err(fx, "no version 5 of program ips-test: it is at version 1");
}

/* funding withdraw --help names the options withdraw takes: --on (the
 * day of the withdrawal, as README says) and --quiet. Its usage line ended
 * at --reason, as if a withdrawal were always dated today and printed
 * more than its id. */
static void test_funding_withdraw_help_names_on_and_quiet(void **state)
{
	struct fx *fx = *state;
	run(fx, EXIT_OK, NULL, "funding", "withdraw", "--help", NULL);
	const char *from = strstr(fx->r.out, "ipsnet funding withdraw ");
	assert_non_null(from);
	const char *to = strstr(from, "\nThe funder");
	assert_non_null(to);
	char line[256];
	snprintf(line, sizeof(line), "%.*s", (int)(to - from), from);
	assert_non_null(strstr(line, "[--on DATE]"));
	assert_non_null(strstr(line, "[--quiet]"));
}

/* fidelity record --scores takes commas between the scores, and says so
 * when another character stands there. A space was skipped as if it were
 * the comma, taking the score after it along: 25 scores separated by
 * spaces were "13 scores", and 49 were recorded as the 25 odd ones; a
 * row pasted from a spreadsheet (tabs) or written with semicolons was
 * "item 1 is not", a score 1 to 5 that was right. */
static void test_fidelity_scores_need_commas_between_them(void **state)
{
	struct fx *fx = *state;
	char scores[128];
	add_program(fx);
	long long head = journal_seq(fx);
	static const struct {
		const char *sep, *named;
	} seps[] = {{" ", "a space"}, {"\t", "a tab"}, {";", "';'"}};
	for (size_t i = 0; i < ARRAY_SIZE(seps); i++) {
		scores[0] = '\0';
		for (int k = 0; k < 25; k++) {
			strcat(scores, k == 0 ? "" : seps[i].sep);
			strcat(scores, "4");
		}
		run(fx, EXIT_USAGE, "ggz-test", "fidelity", "record",
		    "ips-test", "--on", "2026-01-05", "--scores", scores, NULL);
		assert_one_line_error(fx);
		assert_err(fx, "item 1 is followed by ");
		assert_err(fx, seps[i].named);
	}
	/* 49 scores and spaces: not half of them recorded */
	scores[0] = '\0';
	for (int k = 0; k < 49; k++)
		strcat(scores, k == 0 ? "5" : k % 2 == 1 ? " 1" : " 5");
	run(fx, EXIT_USAGE, "ggz-test", "fidelity", "record", "ips-test",
	    "--on", "2026-01-05", "--scores", scores, NULL);
	assert_int_equal(journal_seq(fx), head);
	/* spaces beside the commas are fine */
	scores[0] = '\0';
	for (int k = 0; k < 25; k++)
		strcat(scores, k == 0 ? "4" : " , 4");
	run(fx, EXIT_OK, "ggz-test", "fidelity", "record", "ips-test", "--on",
	    "2026-01-05", "--scores", scores, NULL);
	assert_out(fx, "total 100 of 125");
}

/* The reasons import lists for rejected rows keep control characters off
 * the terminal: the server's sentence quotes the row ("no program '...'"),
 * whose cell may hold a line break (a quoted CSV field may) or an escape
 * sequence. The reason was printed as it is, so that a program cell with
 * a line break wrote a line of its own that read as another rejected
 * row. --json gives the reason as it is. */
static void test_import_reasons_keep_controls_off_the_terminal(void **state)
{
	struct fx *fx = *state;
	char clients[PATH_MAX], trajectories[PATH_MAX], text[1024], b[10];
	bsn(13, b);
	path_in(fx, clients, sizeof(clients), "clients.csv");
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality,benefit\n"
		 "%s,Anna,1990-04-12,GM0363,wia\n",
		 b);
	write_file(clients, text);
	run(fx, EXIT_OK, "ggz-test", "import", clients, NULL);
	path_in(fx, trajectories, sizeof(trajectories), "trajectories.csv");
	snprintf(text, sizeof(text),
		 "bsn,program,referred_on\n"
		 "%s,\"ips\ntrajectories.csv:9: all rows \033[2Jimported\","
		 "2025-01-10\n",
		 b);
	write_file(trajectories, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", trajectories, NULL);
	assert_null(strchr(fx->r.err, '\033'));
	assert_null(strstr(fx->r.err, "\ntrajectories.csv:9:"));
	assert_err(fx, "no program 'ips?trajectories.csv:9: all rows ?[2J");
	json_t *j = run_json(fx, EXIT_ELSE, "ggz-test", "import", trajectories,
			     "--json", NULL);
	assert_non_null(strstr(jstr(j, "problems[0].reason"),
			       "'ips\ntrajectories.csv:9: all rows \033[2J"));
}

/* An empty cell between named ones in the header (a spreadsheet's spacer
 * column) names no column, as the empty cells after the last one do: its
 * rows are taken, and a value under it refuses its row. The whole file
 * was refused with "unknown column ''". */
static void test_import_takes_an_empty_column_between_named_ones(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX], want[PATH_MAX + 100], text[1024], b[2][10];
	for (int i = 0; i < 2; i++)
		bsn(40 + i, b[i]);
	path_in(fx, path, sizeof(path), "clients.csv");
	snprintf(text, sizeof(text),
		 "bsn;;name;birth_date;municipality;benefit\r\n"
		 "%s;;Anna;1990-04-12;GM0363;wia\r\n"
		 "%s;x;Piet;1980-02-03;GM0363;ww\r\n",
		 b[0], b[1]);
	write_file(path, text);
	long long head = journal_seq(fx);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_out(fx, "(clients): 2 rows: 1 imported, 0 imported before, "
		       "1 rejected");
	snprintf(want, sizeof(want),
		 "%s:3: column 2 (B) has a value but no name in the first "
		 "row",
		 path);
	assert_err(fx, want);
	assert_int_equal(journal_seq(fx), head + 1);
	json_t *j = run_json(fx, EXIT_OK, "ggz-test", "client", "find", "--bsn",
			     b[0], "--json", NULL);
	assert_string_equal(jstr(j, "name"), "Anna");
}

/* A header cell that import quotes in its refusal ("unknown column '...'")
 * keeps control characters off the terminal, as the reasons for rows do:
 * a cell may hold a line break (a quoted CSV field may) or an escape
 * sequence. It was printed as it was. */
static void
test_import_header_in_a_refusal_keeps_controls_off_the_terminal(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX], want[PATH_MAX + 100], text[1024], b[10];
	bsn(42, b);
	path_in(fx, path, sizeof(path), "clients.csv");
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality,benefit,\"shoe\n"
		 "\033[2Jsize\"\n"
		 "%s,Anna,1990-04-12,GM0363,wia,38\n",
		 b);
	write_file(path, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, NULL);
	assert_one_line_error(fx);
	assert_null(strchr(fx->r.err, '\033'));
	snprintf(want, sizeof(want), "%s:1: unknown column 'shoe??[2Jsize'",
		 path);
	assert_err(fx, want);
}

/* An error is one line on stderr, whatever it quotes: the server's refusal
 * repeats what it was sent ("no program '...'") and, in other refusals,
 * what another organisation wrote. Its control characters are '?', as in
 * a table; an escape sequence went to the terminal as it came. */
static void
test_an_error_quoting_control_characters_stays_one_line(void **state)
{
	struct fx *fx = *state;
	run(fx, EXIT_NOT_FOUND, "ggz-test", "fidelity", "record",
	    "p-\033[2J\nipsnet: done", "--on", "2024-01-01", "--scores",
	    "5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5,5", NULL);
	assert_one_line_error(fx);
	assert_null(strchr(fx->r.err, '\033'));
	assert_err(fx, "no program 'p-?[2J?ipsnet: done'");
}

/* An import makes what only a GGZ makes: as a municipality it is refused
 * once, exit 4, with nothing sent. Was: every row was sent and refused
 * with the same PERMISSION_DENIED line, one a row, and the exit code was
 * 1, as for rows of a GGZ's that were rejected. */
static void test_import_as_another_kind_than_a_ggz_sends_nothing(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX], text[256], b1[10], b2[10];
	bsn(61, b1);
	bsn(62, b2);
	path_in(fx, path, sizeof(path), "clients.csv");
	snprintf(text, sizeof(text),
		 "bsn,name,birth_date,municipality,benefit\n"
		 "%s,Anna,1990-04-12,GM0363,participatiewet\n"
		 "%s,Bram,1991-05-13,GM0363,participatiewet\n",
		 b1, b2);
	write_file(path, text);
	run(fx, EXIT_DENIED, "gm0363", "import", path, NULL);
	assert_one_line_error(fx);
	assert_err(fx, "'gm0363' is a municipality, so nothing was sent");
	assert_string_equal(fx->r.out, "");
	/* The GGZ's import of the same file is the first of its rows. */
	run(fx, EXIT_OK, "ggz-test", "import", path, NULL);
	assert_out(fx, "2 imported, 0 imported before");
}

/* A file import cannot read says why, as one that is not there does
 * ("No such file or directory"): a directory given for the file was
 * refused with "cannot read DIR" alone. */
static void test_import_of_a_directory_says_why_it_cannot_be_read(void **state)
{
	struct fx *fx = *state;
	char want[PATH_MAX + 100];
	run(fx, EXIT_ELSE, "ggz-test", "import", fx->dir, "--kind", "clients",
	    NULL);
	assert_one_line_error(fx);
	snprintf(want, sizeof(want), "cannot read %s: %s", fx->dir,
		 strerror(EISDIR));
	assert_err(fx, want);
}

/* A file whose name says another kind than its header holds (the jobs of
 * clients saved as "client-jobs.csv": "client" comes first) is refused
 * saying that the kind was taken from the name and that --kind gives it.
 * The refusal named the columns of clients alone, and the operator could
 * not tell why a file of jobs was read as clients. */
static void test_import_says_the_kind_came_from_the_files_name(void **state)
{
	struct fx *fx = *state;
	char path[PATH_MAX], want[PATH_MAX + 200], text[1024], b[10];
	bsn(43, b);
	path_in(fx, path, sizeof(path), "client-jobs.csv");
	snprintf(text, sizeof(text),
		 "bsn,employer,start_date,hours_per_week\n"
		 "%s,Bakkerij Jansen,2025-01-06,24\n",
		 b);
	write_file(path, text);
	run(fx, EXIT_ELSE, "ggz-test", "import", path, "--check", NULL);
	assert_one_line_error(fx);
	snprintf(want, sizeof(want),
		 "%s:1: unknown column 'employer'; the columns of clients are: "
		 "bsn, name, birth_date, municipality, benefit (the kind was "
		 "taken from the file's name; give --kind if it holds "
		 "another)",
		 path);
	assert_err(fx, want);
	run(fx, EXIT_OK, "ggz-test", "import", path, "--check", "--kind",
	    "jobs", NULL);
	assert_out(fx, "(jobs): 1 row: 1 fit to import");
}

/* job add --end (a job that has already ended) says the end it recorded.
 * The line said "from START, 24 hours a week" alone, as it does for a job
 * that goes on, and a caseworker recording a past job could not tell the
 * end had been taken. */
static void test_job_add_says_the_end_it_recorded(void **state)
{
	struct fx *fx = *state;
	char client[64];
	register_client(fx, 14, "wia", client, sizeof(client));
	run(fx, EXIT_OK, "ggz-test", "job", "add", client, "--employer",
	    "Bakkerij Jansen", "--start", "2025-01-06", "--end", "2025-06-30",
	    "--hours", "24", NULL);
	assert_out(fx, "from 2025-01-06 until 2025-06-30, 24 hours a week");
	run(fx, EXIT_OK, "ggz-test", "job", "add", client, "--employer",
	    "Bakkerij Jansen", "--start", "2025-09-01", "--hours", "24", NULL);
	assert_out(fx, "from 2025-09-01, 24 hours a week");
}

/* A text that must be given (a name, a purpose, an employer, a reason, the
 * description of a funder) given as white space alone is a usage error
 * that says it is not given, before anything is sent, as the server takes
 * it. The command looked for "" only, and sent the blanks, and the
 * server's refusal (exit 1) said "the name must be 1 to 200 characters",
 * of a name of three. */
static void test_blank_text_is_not_given(void **state)
{
	struct fx *fx = *state;
	char b[10];
	const char *const blank = " \t ";
	long long head = journal_seq(fx);
	run(fx, EXIT_USAGE, "ggz-test", "client", "register", "--bsn",
	    bsn(15, b), "--name", blank, "--birth-date", "1990-04-12",
	    "--municipality", "GM0363", "--benefit", "wia", NULL);
	assert_one_line_error(fx);
	assert_err(fx, "--name is empty or white space only");
	run(fx, EXIT_USAGE, "ggz-test", "client", "update", "cl-1", "--version",
	    "1", "--name", blank, NULL);
	assert_err(fx, "--name is empty or white space only");
	run(fx, EXIT_USAGE, "ggz-test", "consent", "grant", "cl-1", "--to",
	    "uwv", "--purpose", blank, "--until", "2030-12-31", NULL);
	assert_err(fx, "--purpose says what the consent is for");
	run(fx, EXIT_USAGE, "ggz-test", "job", "add", "cl-1", "--employer",
	    blank, "--start", "2026-01-05", "--hours", "24", NULL);
	assert_err(fx, "--employer names the employer");
	run(fx, EXIT_USAGE, "ggz-test", "trajectory", "close", "tr-1",
	    "--version", "3", "--reason", blank, NULL);
	assert_err(fx, "closing a trajectory needs --reason");
	run(fx, EXIT_USAGE, "gm0363", "funding", "reject", "fu-1", "--version",
	    "1", "--reason", blank, NULL);
	assert_err(fx, "rejecting a funding request needs --reason");
	run(fx, EXIT_USAGE, "ggz-test", "funding", "request", "tr-1", "--other",
	    blank, "--months", "12", NULL);
	assert_err(fx, "the funder must not be empty");
	run(fx, EXIT_USAGE, "network", "program", "put", "ips-test", "--owner",
	    "ggz-test", "--name", blank, "--region", "1", "--specialists", "3",
	    NULL);
	assert_err(fx, "--name is empty or white space only");
	assert_int_equal(journal_seq(fx), head);
}

/* --json with --quiet prints JSON, the change's entity with its id: a
 * script that asked for JSON got the bare id of --quiet, which is not
 * JSON (found by a review). */
static void test_json_wins_over_quiet(void **state)
{
	struct fx *fx = *state;
	char b[10];
	json_t *o = run_json(
	    fx, EXIT_OK, "ggz-test", "--json", "client", "register", "--bsn",
	    bsn(16, b), "--name", "Anna de Vries", "--birth-date", "1990-04-12",
	    "--municipality", "GM0363", "--benefit", "wia", "--quiet", NULL);
	const char *id = json_string_value(json_object_get(o, "id"));
	if (id == NULL || strncmp(id, "cl-", 3) != 0) {
		print_result(&fx->r);
		fail_msg("no id of a client in the JSON");
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(
		test_readme_walkthrough_runs_as_written, setup_dev, teardown),
	    cmocka_unit_test_setup_teardown(
		test_output_that_cannot_be_written_fails_the_command, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_case_from_referral_to_job_in_words_and_json, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_case_show_keeps_control_characters_of_text_off_the_terminal,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_c1_control_characters_of_text_stay_off_the_terminal, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_case_show_gives_times_as_dutch_days, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_withdrawing_again_says_when_in_dutch_time, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_consent_grant_says_a_funder_needs_a_request, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_report_explain_says_when_nothing_is_hidden, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_text_limits_count_characters_not_bytes, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_watch_gives_times_in_dutch_time, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_watch_names_states_as_the_other_commands, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_start_and_resume_each_from_its_own_state, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_programs_and_fidelity_reviews,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_program_list_shows_the_review_the_report_counts, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_count_of_one_is_said_in_the_singular, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_json_gives_reals_as_the_numbers_they_stand_for, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_fidelity_record_takes_the_day_as_on, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_the_audit_trail_shows_reads_changes_and_refusals, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_audit_since_a_day_is_the_dutch_day, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_audit_since_takes_a_time_with_an_offset, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_audit_after_reads_on_by_id,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_audit_since_takes_the_time_the_trail_shows, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_mistakes_are_usage_errors_before_anything_is_sent, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_local_file_that_fails_is_not_a_connection_failure, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_key_of_another_certificate_is_named_as_such, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_key_without_its_certificate_is_a_usage_error, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_file_that_cannot_be_opened_says_why, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_server_that_speaks_no_tls_is_said_to_be_so, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_an_ipv6_server_is_named_as_it_is_given, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_missing_profile_names_the_files_looked_for, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_without_home_the_accounts_home_is_looked_in, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_profile_that_cannot_be_read_is_not_passed_over, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_profile_planted_in_the_current_folder_is_not_used, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_a_key_anyone_may_read_is_noted,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_new_mirror_is_its_owners_only, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_mirror_every_user_may_read_is_warned_of, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_json_keeps_keys_whose_text_is_not_utf8, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_settings_too_long_are_refused_not_cut, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_variable_too_long_does_not_stop_the_flag_over_it, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_an_empty_profile_flag_is_not_the_environments, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_without_user_the_account_is_the_user, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_user_of_blanks_only_is_refused, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_user_with_control_characters_is_refused, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_report_csv_keeps_formulas_as_text, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_report_html_shows_no_change_as_none, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_report_table_cuts_names_at_characters_and_hides_controls,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(test_every_verb_has_help, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(
		test_help_and_version_after_the_connection_options, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_help_works_without_a_readable_profile, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_applies_good_rows_lists_bad_ones_and_never_twice,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_of_a_malformed_file_applies_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_takes_a_sheet_saved_by_excel, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_shows_a_progress_bar_on_a_terminal, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_after_a_lost_connection_applies_the_rest_once,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_rejects_a_row_over_the_frame_limit_alone,
		setup_frame_limit, teardown),
	    cmocka_unit_test_setup_teardown(
		test_funding_list_pages_through_more_than_one_frame,
		setup_frame_limit, teardown),
	    cmocka_unit_test_setup_teardown(
		test_funding_list_refuses_a_request_larger_than_a_frame, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_audit_pages_through_more_than_one_frame, setup_frame_limit,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_audit_shows_its_limit_and_says_what_it_leaves_out, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_withdrawal_says_what_still_shares_the_case, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_the_same_job_twice_is_refused_naming_it, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_the_same_referral_twice_is_refused_naming_it, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_an_answer_over_the_frame_limit_is_refused, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_change_too_large_for_a_frame_is_refused,
		setup_frame_limit, teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_text_limits_are_the_servers, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_out_of_memory_stops_and_reports_the_rows, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_stops_when_the_server_cannot_write, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_refused_search_by_bsn_is_on_the_clients_trail, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(test_a_client_update_reads_no_case,
					    setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_bsn_given_for_a_client_says_how_to_find_her, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_stale_change_names_the_case_to_look_at, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_audit_of_an_empty_client_is_a_usage_error, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_the_note_after_a_withdrawal_masks_the_purpose, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_program_put_masks_the_name_it_keeps, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_tables_align_combining_and_wide_characters, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_a_version_not_reached_is_not_called_changed, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_funding_withdraw_help_names_on_and_quiet, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_fidelity_scores_need_commas_between_them, setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_reasons_keep_controls_off_the_terminal, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_takes_an_empty_column_between_named_ones, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_header_in_a_refusal_keeps_controls_off_the_terminal,
		setup, teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_of_a_directory_says_why_it_cannot_be_read, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_as_another_kind_than_a_ggz_sends_nothing, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_an_error_quoting_control_characters_stays_one_line, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_import_says_the_kind_came_from_the_files_name, setup,
		teardown),
	    cmocka_unit_test_setup_teardown(
		test_job_add_says_the_end_it_recorded, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_blank_text_is_not_given, setup,
					    teardown),
	    cmocka_unit_test_setup_teardown(test_json_wins_over_quiet, setup,
					    teardown),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
