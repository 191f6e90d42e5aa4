/* Transport: mutual TLS, framing and the daemon's life, against the real
 * ipsnetd and the real ipsnet command (DESIGN §3).
 *
 * Each test starts its own daemon on a free port in its own folder; the
 * certificates are made once for the whole group. Every refusal is checked
 * while a good connection stays open, and that connection must still answer
 * a Ping afterwards: one client's failure never reaches another. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "frame.h"
#include "harness.h"
#include "util.h"

/* The ipsnet command's exit codes. */
enum {
	EXIT_OK = 0,
	EXIT_USAGE = 2,
	EXIT_CONNECT = 3, /* cannot connect or TLS failure */
	EXIT_UNAUTH = 4,  /* unauthenticated or permission denied */
};

/* Small limits, so that an over-size frame is cheap to announce. */
static const char daemon_settings[] = "max_frame_bytes = 4096\n"
				      "handshake_timeout_ms = 5000\n";

/* Made once in the group setup. */
static const char *certs;

/* What a test holds is held here, so that the teardown releases it even
 * when an assertion ends the test early. */
struct fx {
	const char *dir;
	struct h_daemon d;
	struct h_tls good;    /* a served connection that must stay served */
	struct h_tls conn[3]; /* the test's other raw connections */
	struct h_result r;    /* the last run of ipsnet */
	json_t *json;	      /* the last JSON it printed */
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

static int setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		return -1;
	fx->good.fd = -1;
	for (size_t i = 0; i < ARRAY_SIZE(fx->conn); i++)
		fx->conn[i].fd = -1;
	fx->dir = h_tmpdir();
	if (fx->dir == NULL) {
		free(fx);
		return -1;
	}
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fx *fx = *state;

	h_tls_close(&fx->good);
	for (size_t i = 0; i < ARRAY_SIZE(fx->conn); i++)
		h_tls_close(&fx->conn[i]);
	h_result_free(&fx->r);
	json_decref(fx->json);
	/* A test that stopped the daemon itself has checked how it went. */
	bool was_running = h_daemon_pid(&fx->d) > 0;
	int status = h_daemon_stop(&fx->d, SIGTERM);
	free(fx);
	if (was_running && status != 0) {
		fprintf(stderr, "ipsnetd exited with status %d on SIGTERM\n",
			status);
		return -1;
	}
	return 0;
}

/* Starts the daemon with the certificates in cert_dir. */
static void start_daemon(struct fx *fx, const char *cert_dir)
{
	assert_int_equal(h_write_config(fx->dir, cert_dir, daemon_settings), 0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
}

/* Starts the daemon with settings for its [server] section and opens the
 * good connection (ggz-test, after Hello), which answers a Ping. */
static void start_with_settings_and_good_connection(struct fx *fx,
						    const char *settings)
{
	assert_int_equal(h_write_config(fx->dir, certs, settings), 0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	if (h_tls_connect_hello(&fx->good, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("good connection: %s", fx->good.error);
	if (!h_tls_ping(&fx->good, 1001))
		fail_msg("good connection before: %s", fx->good.error);
}

static bool active_in_database(const char *path, const char *id);
static void remove_gm0363_from_config(struct fx *fx);
static void write_config(struct fx *fx, char *conf);

/* The same with the group's small limits. */
static void start_with_good_connection(struct fx *fx)
{
	start_with_settings_and_good_connection(fx, daemon_settings);
}

static void assert_good_connection_served(struct fx *fx, uint64_t id)
{
	if (!h_tls_ping(&fx->good, id))
		fail_msg("the good connection is no longer served: %s",
			 fx->good.error);
}

/* ---- the ipsnet command ------------------------------------------------- */

static void print_result(const struct h_result *r)
{
	fprintf(stderr, "ipsnet: exit %d\nstdout: %s\nstderr: %s\n", r->code,
		r->out, r->err);
}

/* Runs ipsnet with a's arguments into fx->r and checks its exit code. */
static void run_cli(struct fx *fx, const struct h_args *a, int want_exit)
{
	h_result_free(&fx->r);
	if (h_run_cli(&fx->r, a->argv) != want_exit) {
		print_result(&fx->r);
		fail_msg("ipsnet exited %d, not %d", fx->r.code, want_exit);
	}
}

/* Runs ipsnet as the holder of certificate name (under cert_dir) with the
 * command words cmd1 [cmd2] after the connection options. */
static void run_cli_as(struct fx *fx, const char *cert_dir, const char *name,
		       const char *cmd1, const char *cmd2, int want_exit)
{
	struct h_args a;

	h_args_init(&a);
	h_args_org(&a, &fx->d, cert_dir, name);
	h_args_add(&a, "%s", cmd1);
	if (cmd2 != NULL)
		h_args_add(&a, "%s", cmd2);
	run_cli(fx, &a, want_exit);
}

/* ipsnet's stderr is one line starting "ipsnet: " that holds every one of
 * the (NULL-terminated) words. */
static void assert_one_line_error(struct fx *fx, ...)
{
	const struct h_result *r = &fx->r;
	const char *word;
	va_list ap;

	if (strncmp(r->err, "ipsnet: ", 8) != 0 || r->err_len == 0 ||
	    strchr(r->err, '\n') != r->err + r->err_len - 1) {
		print_result(r);
		fail_msg("stderr is not one line starting 'ipsnet: '");
	}
	va_start(ap, fx);
	while ((word = va_arg(ap, const char *)) != NULL) {
		if (strstr(r->err, word) == NULL) {
			va_end(ap);
			print_result(r);
			fail_msg("stderr does not mention '%s'", word);
		}
	}
	va_end(ap);
}

/* ---- the raw client ----------------------------------------------------- */

/* A raw connection with certificate name (NULL: none) is refused by the
 * server during or right after the TLS handshake; returns the TLS alert it
 * sent (or -1). */
static int raw_refusal_alert(struct fx *fx, const char *name, int max_version)
{
	struct h_tls_opts o;
	struct h_tls *c = &fx->conn[0];

	h_tls_opts_org(&o, certs, name);
	o.max_version = max_version;
	/* In TLS 1.3 the client's side of the handshake ends before the
	 * server has judged its certificate: the refusal arrives as an alert
	 * on the first read, here the answer to Hello. */
	if (h_tls_connect(c, fx->d.port, &o) == 0) {
		int code = h_tls_hello(c, "test.user", NULL);
		if (code != -1 || !c->closed)
			fail_msg(
			    "the server served a connection it should have "
			    "refused (Hello answered %d: %s)",
			    code, c->error);
	}
	int alert = c->alert;
	if (alert < 0)
		fprintf(stderr, "no alert: %s\n", c->error);
	h_tls_close(c);
	return alert;
}

/* ---- a good certificate ------------------------------------------------- */

static json_t *whoami_json(struct fx *fx, const char *name)
{
	json_error_t jerr;

	run_cli_as(fx, certs, name, "--json", "whoami", EXIT_OK);
	json_decref(fx->json);
	fx->json = json_loads(fx->r.out, 0, &jerr);
	if (fx->json == NULL || !json_is_object(fx->json)) {
		print_result(&fx->r);
		fail_msg("stdout is not a JSON object: %s", jerr.text);
	}
	return fx->json;
}

static const char *json_str(json_t *j, const char *key)
{
	const char *s = json_string_value(json_object_get(j, key));

	if (s == NULL)
		fail_msg("whoami --json has no string '%s'", key);
	return s;
}

static void test_whoami_json_names_ggz_test_as_ggz(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	json_t *j = whoami_json(fx, "ggz-test");
	assert_string_equal(json_str(j, "organisation"), "ggz-test");
	assert_string_equal(json_str(j, "kind"), "GGZ");
	assert_string_equal(json_str(j, "name"), "GGZ Test");
	assert_string_equal(json_str(j, "user"), "test.user");
	assert_string_equal(json_str(j, "server_version"), IPSNET_VERSION);
	/* A fresh journal: the head is entry 0, hash 32 zero bytes. */
	assert_true(json_is_integer(json_object_get(j, "journal_seq")));
	assert_int_equal(json_integer_value(json_object_get(j, "journal_seq")),
			 0);
	const char *hash = json_str(j, "journal_hash");
	assert_int_equal(strlen(hash), 64);
	assert_int_equal(strspn(hash, "0"), 64);
}

static void test_whoami_json_names_gm0363_as_municipality(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	json_t *j = whoami_json(fx, "gm0363");
	assert_string_equal(json_str(j, "organisation"), "gm0363");
	assert_string_equal(json_str(j, "kind"), "MUNICIPALITY");
}

static void test_whoami_text_names_organisation_and_kind(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	run_cli_as(fx, certs, "uwv", "whoami", NULL, EXIT_OK);
	if (strstr(fx->r.out, "uwv") == NULL ||
	    strstr(fx->r.out, "UWV") == NULL ||
	    strstr(fx->r.out, "test.user") == NULL) {
		print_result(&fx->r);
		fail_msg("whoami does not name uwv, UWV and the user");
	}
}

static void test_ping_exits_0(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	run_cli_as(fx, certs, "network", "ping", NULL, EXIT_OK);
}

/* ---- refused, while another connection is served ------------------------ */

static void test_no_client_certificate_is_refused(void **state)
{
	struct fx *fx = *state;
	char ca[PATH_MAX];
	struct h_args a;

	start_with_good_connection(fx);
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	h_args_init(&a);
	h_args_server(&a, &fx->d, ca);
	h_args_add(&a, "whoami");
	run_cli(fx, &a, EXIT_UNAUTH);
	assert_one_line_error(fx, "requires a client certificate", "--cert",
			      NULL);
	assert_good_connection_served(fx, 2);
	assert_int_equal(raw_refusal_alert(fx, NULL, 0),
			 SSL_AD_CERTIFICATE_REQUIRED);
	assert_good_connection_served(fx, 3);
}

/* With a good connection open, certificate name (under certs, CN ggz-test)
 * is refused in the TLS handshake: ipsnet exits 4 naming the certificate
 * and the reason, a raw client gets the alert, and the good connection
 * answers Ping after each. */
static void assert_handshake_refuses(struct fx *fx, const char *name,
				     const char *reason, int alert)
{
	start_with_good_connection(fx);
	run_cli_as(fx, certs, name, "whoami", NULL, EXIT_UNAUTH);
	assert_one_line_error(fx, "'ggz-test'", reason, NULL);
	assert_good_connection_served(fx, 2);
	assert_int_equal(raw_refusal_alert(fx, name, 0), alert);
	assert_good_connection_served(fx, 3);
	/* The log names the refused certificate (the good connection is
	 * still open: its line comes at the end). */
	if (!h_daemon_wait_log(&fx->d,
			       "org=- user=- cn=ggz-test peer=", H_TLS_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the refusal does not name the certificate's CN");
	}
}

static void test_certificate_of_another_ca_is_refused(void **state)
{
	/* The server is checked with the network CA; the client's own
	 * certificate comes from the other one. */
	assert_handshake_refuses(*state, "other/ggz-test",
				 "not signed by the network CA",
				 SSL_AD_UNKNOWN_CA);
}

static void test_expired_certificate_is_refused(void **state)
{
	assert_handshake_refuses(*state, "expired", "expired",
				 SSL_AD_CERTIFICATE_EXPIRED);
}

/* A certificate whose validity begins in 2040: ipsnet says so, with the
 * date. Was: "bad certificate", OpenSSL's alert for it, which did not say
 * what to do (found by a review). */
static void test_certificate_not_yet_valid_is_refused(void **state)
{
	assert_int_equal(
	    h_certs_script("org-cert.sh",
			   (const char *const[]){certs, "ggz-test", "--out",
						 "future", "--startdate",
						 "20400101000000Z", "--enddate",
						 "20410101000000Z", NULL}),
	    0);
	assert_handshake_refuses(*state, "future",
				 "not valid until 2040-01-01 00:00 UTC",
				 SSL_AD_BAD_CERTIFICATE);
}

static void test_revoked_certificate_is_refused(void **state)
{
	assert_handshake_refuses(*state, "revoked", "revoked",
				 SSL_AD_CERTIFICATE_REVOKED);
}

static void test_certificate_not_in_registry_is_refused(void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;
	struct h_tls *c = &fx->conn[0];

	start_with_good_connection(fx);
	run_cli_as(fx, certs, "ghost", "whoami", NULL, EXIT_UNAUTH);
	assert_one_line_error(fx, "'ghost'", "not in the registry", NULL);
	assert_good_connection_served(fx, 2);

	/* The handshake succeeds (the certificate is the network's); the
	 * answer to Hello is UNAUTHENTICATED, then the connection closes. */
	h_tls_opts_org(&o, certs, "ghost");
	if (h_tls_connect(c, fx->d.port, &o) != 0)
		fail_msg("ghost: %s", c->error);
	assert_int_equal(h_tls_hello(c, "test.user", NULL),
			 IPSNET__V1__CODE__UNAUTHENTICATED);
	if (!h_tls_read_closed(c, H_TLS_MS))
		fail_msg("ghost's connection: %s", c->error);
	assert_good_connection_served(fx, 3);
}

/* Issues dir/NAME.crt and .key, signed by the test CA (certs/ca.crt), for
 * a client whose subject holds two CNs: gm0363, then network. */
static void issue_two_cn_certificate(const char *dir, const char *name)
{
	char path[PATH_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ca.crt", certs);
	assert_non_null(f = fopen(path, "r"));
	X509 *ca = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	snprintf(path, sizeof(path), "%s/ca.key", certs);
	assert_non_null(f = fopen(path, "r"));
	EVP_PKEY *ca_key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	assert_non_null(ca);
	assert_non_null(ca_key);
	EVP_PKEY *key = EVP_EC_gen("P-256");
	X509 *x = X509_new();
	assert_non_null(key);
	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), 0x7eadbeefL);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 86400);
	X509_NAME *subject = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(
			     subject, "CN", MBSTRING_ASC,
			     (const unsigned char *)"gm0363", -1, -1, 0),
			 1);
	assert_int_equal(X509_NAME_add_entry_by_txt(
			     subject, "CN", MBSTRING_ASC,
			     (const unsigned char *)"network", -1, -1, 0),
			 1);
	X509_set_issuer_name(x, X509_get_subject_name(ca));
	X509_set_pubkey(x, key);
	X509V3_CTX v3;
	X509V3_set_ctx(&v3, ca, x, NULL, NULL, 0);
	X509_EXTENSION *eku =
	    X509V3_EXT_conf_nid(NULL, &v3, NID_ext_key_usage, "clientAuth");
	assert_non_null(eku);
	X509_add_ext(x, eku, -1);
	X509_EXTENSION_free(eku);
	assert_true(X509_sign(x, ca_key, EVP_sha256()) > 0);
	snprintf(path, sizeof(path), "%s/%s.crt", dir, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(PEM_write_X509(f, x), 1);
	assert_int_equal(fclose(f), 0);
	snprintf(path, sizeof(path), "%s/%s.key", dir, name);
	assert_non_null(f = fopen(path, "w"));
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(
	    PEM_write_PrivateKey(f, key, NULL, NULL, 0, NULL, NULL), 1);
	assert_int_equal(fclose(f), 0);
	X509_free(x);
	EVP_PKEY_free(key);
	EVP_PKEY_free(ca_key);
	X509_free(ca);
}

/* A certificate of the network CA whose subject names two organisations
 * (CN=gm0363, CN=network) is refused after the handshake: which one its
 * holder is would depend on who reads it. Was: served as gm0363, the
 * first, while a reader that takes the last saw the network operator
 * (found by a review). */
static void test_certificate_naming_two_organisations_is_refused(void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;
	struct h_tls *c = &fx->conn[0];
	char ca[PATH_MAX];
	struct h_args a;

	start_with_good_connection(fx);
	issue_two_cn_certificate(fx->dir, "two");
	snprintf(ca, sizeof(ca), "%s/ca.crt", certs);
	h_args_init(&a);
	h_args_server(&a, &fx->d, ca);
	h_args_add(&a, "--cert");
	h_args_add(&a, "%s/two.crt", fx->dir);
	h_args_add(&a, "--key");
	h_args_add(&a, "%s/two.key", fx->dir);
	h_args_add(&a, "whoami");
	run_cli(fx, &a, EXIT_UNAUTH);
	assert_one_line_error(fx, "refused", "more than one", NULL);
	assert_good_connection_served(fx, 2);

	h_tls_opts_org(&o, certs, NULL);
	snprintf(o.cert, sizeof(o.cert), "%s/two.crt", fx->dir);
	snprintf(o.key, sizeof(o.key), "%s/two.key", fx->dir);
	if (h_tls_connect(c, fx->d.port, &o) != 0)
		fail_msg("two: %s", c->error);
	assert_int_equal(h_tls_hello(c, "test.user", NULL),
			 IPSNET__V1__CODE__UNAUTHENTICATED);
	if (!h_tls_read_closed(c, H_TLS_MS))
		fail_msg("two's connection: %s", c->error);
	assert_good_connection_served(fx, 3);
	if (!h_daemon_wait_log(&fx->d, "org=- user=- cn=- peer=", H_TLS_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("no refusal in the log");
	}
}

static void test_tls12_only_client_fails_the_handshake(void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;
	struct h_tls *c = &fx->conn[0];

	start_with_good_connection(fx);
	h_tls_opts_org(&o, certs, "ggz-test");
	o.max_version = 12;
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), -1);
	assert_int_equal(c->alert, SSL_AD_PROTOCOL_VERSION);
	assert_good_connection_served(fx, 2);
}

/* With tls_min_version = 1.2, a TLS 1.2 client that offers the session of
 * its last connection again (as TLS libraries do when they keep a session
 * cache) gets a full handshake and is served: the daemon resumes no
 * session, so that every connection's certificate is checked against the
 * CRL. */
/* A served TLS 1.2 client asks to renegotiate: the daemon refuses (it
 * never renegotiates), the client's OpenSSL ends the connection with a
 * fatal alert, and the daemon's log says that alert as it is, while the
 * good connection goes on. Was: "the peer refused the connection: the TLS
 * handshake failed (no client certificate, or no cipher suite in
 * common)", the words for a refused handshake, after a Hello accepted
 * (found by a review). */
static void test_an_alert_after_hello_is_logged_as_it_is(void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;
	struct h_tls *c = &fx->conn[0];

	start_with_settings_and_good_connection(fx, "tls_min_version = 1.2\n");
	h_tls_opts_org(&o, certs, "ggz-test");
	o.max_version = 12;
	if (h_tls_connect(c, fx->d.port, &o) != 0)
		fail_msg("TLS 1.2 connection: %s", c->error);
	assert_int_equal(h_tls_hello(c, "test.user", NULL),
			 IPSNET__V1__CODE__OK);
	assert_int_equal(SSL_renegotiate(c->ssl), 1);
	(void)SSL_do_handshake(c->ssl);
	ERR_clear_error();
	if (!h_tls_read_closed(c, H_TLS_MS))
		fail_msg("the renegotiating connection stays open: %s",
			 c->error);
	if (!h_daemon_wait_log(&fx->d,
			       "reason=\"the peer ended the connection with "
			       "the TLS alert",
			       H_TLS_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the log does not say the alert as it is");
	}
	assert_false(h_daemon_log_contains(&fx->d, "no client certificate"));
	assert_good_connection_served(fx, 2);
}

static void test_tls12_client_offering_its_last_session_is_served(void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;
	struct h_tls *c = fx->conn;

	assert_int_equal(
	    h_write_config(fx->dir, certs, "tls_min_version = 1.2\n"), 0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	h_tls_opts_org(&o, certs, "ggz-test");
	o.max_version = 12;
	if (h_tls_connect(&c[0], fx->d.port, &o) != 0)
		fail_msg("first TLS 1.2 connection: %s", c[0].error);
	assert_int_equal(h_tls_hello(&c[0], "test.user", NULL),
			 IPSNET__V1__CODE__OK);
	o.session = SSL_get1_session(c[0].ssl);
	assert_non_null(o.session);
	int rv = h_tls_connect(&c[1], fx->d.port, &o);
	SSL_SESSION_free(o.session);
	if (rv != 0)
		fail_msg("TLS 1.2 connection offering the last session: %s",
			 c[1].error);
	if (h_tls_hello(&c[1], "test.user", NULL) != IPSNET__V1__CODE__OK)
		fail_msg("Hello on the second TLS 1.2 connection: %s",
			 c[1].error);
	assert_false(SSL_session_reused(c[1].ssl));
}

/* The client refuses a server whose certificate is not from the CA it was
 * given: a TLS failure on the client's side, not a refusal by the server. */
static void test_server_certificate_of_another_ca_exits_3(void **state)
{
	struct fx *fx = *state;
	char other_ca[PATH_MAX];
	struct h_args a;

	snprintf(other_ca, sizeof(other_ca), "%s/other/ca.crt", certs);
	start_with_good_connection(fx);
	h_args_init(&a);
	h_args_server(&a, &fx->d, other_ca);
	h_args_add(&a, "--cert");
	h_args_add(&a, "%s/gm0363.crt", certs);
	h_args_add(&a, "--key");
	h_args_add(&a, "%s/gm0363.key", certs);
	h_args_add(&a, "whoami");
	run_cli(fx, &a, EXIT_CONNECT);
	assert_one_line_error(fx, "cannot trust the server", NULL);
	assert_good_connection_served(fx, 2);
}

static void test_no_daemon_listening_exits_3(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	/* Nothing listens on the port the daemon had. */
	run_cli_as(fx, certs, "ggz-test", "ping", NULL, EXIT_CONNECT);
	assert_one_line_error(fx, "cannot connect", NULL);
}

/* ---- bad frames --------------------------------------------------------- */

/* After what was sent on c, the server answers with status code and closes
 * the connection. */
static void assert_error_then_closed(struct h_tls *c, int code)
{
	if (!h_tls_read_closed(c, H_TLS_MS))
		fail_msg("the connection stays open: %s", c->error);
	Ipsnet__V1__Envelope *e = h_tls_take_envelope(c);
	if (e == NULL)
		fail_msg("no error frame before the connection closed (%s)",
			 c->error);
	int got = e->status != NULL ? (int)e->status->code : -1;
	h_envelope_free(e);
	if (got != code)
		fail_msg("the error frame has status %d, not %d", got, code);
}

static void test_oversize_frame_closes_only_that_connection(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	uint8_t header[FRAME_HEADER_BYTES];

	start_with_good_connection(fx);
	if (h_tls_connect_hello(c, fx->d.port, certs, "gm0363") != 0)
		fail_msg("second connection: %s", c->error);
	frame_put_header(header, 1024u * 1024u); /* max_frame_bytes is 4096 */
	assert_int_equal(h_tls_send_raw(c, header, sizeof(header)), 0);
	assert_error_then_closed(c, IPSNET__V1__CODE__RESOURCE_EXHAUSTED);
	assert_good_connection_served(fx, 2);
}

/* A frame within the limit that decodes into far more than its size (here
 * 1,300 empty audit records in under 3 KB, about 150 KB once decoded; 1 MiB
 * of them took 77 MB and 170 ms of the event loop) is refused before it is
 * decoded whole: RESOURCE_EXHAUSTED, and only that connection closes. */
static void test_a_frame_of_many_empty_parts_is_not_decoded(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	enum { PARTS = 1300 };
	static Ipsnet__V1__AuditRecord records[PARTS];
	static Ipsnet__V1__AuditRecord *list[PARTS];
	Ipsnet__V1__AuditList al = IPSNET__V1__AUDIT_LIST__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;

	for (size_t i = 0; i < PARTS; i++) {
		ipsnet__v1__audit_record__init(&records[i]);
		list[i] = &records[i];
	}
	al.records = list;
	al.n_records = PARTS;
	e.request_id = 7;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_AUDIT_LIST;
	e.audit_list = &al;
	size_t len = ipsnet__v1__envelope__get_packed_size(&e);
	assert_true(len < 4096); /* within max_frame_bytes */
	assert_true(len * 4 + 65536 < PARTS * sizeof(records[0]));

	start_with_good_connection(fx);
	if (h_tls_connect_hello(c, fx->d.port, certs, "gm0363") != 0)
		fail_msg("second connection: %s", c->error);
	assert_int_equal(h_tls_send_envelope(c, &e), 0);
	assert_error_then_closed(c, IPSNET__V1__CODE__RESOURCE_EXHAUSTED);
	/* The connection's line is written once it has closed on its side. */
	assert_true(h_daemon_wait_log(&fx->d, "far more parts", H_TLS_MS));
	assert_good_connection_served(fx, 2);
}

static void
test_garbage_after_handshake_closes_only_that_connection(void **state)
{
	struct fx *fx = *state;
	uint8_t bytes[FRAME_HEADER_BYTES + 200];
	uint32_t x = 0x9e3779b9u; /* fixed seed: the same bytes every run */
	struct h_tls_opts o;
	struct h_tls *c = &fx->conn[0];

	for (size_t i = FRAME_HEADER_BYTES; i < sizeof(bytes); i++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		bytes[i] = (uint8_t)x;
	}
	bytes[FRAME_HEADER_BYTES] = 0xff; /* field 31, wire type 7: invalid */
	/* A whole frame within the limit whose body is not an Envelope. */
	frame_put_header(bytes, sizeof(bytes) - FRAME_HEADER_BYTES);
	Ipsnet__V1__Envelope *decoded = ipsnet__v1__envelope__unpack(
	    NULL, sizeof(bytes) - FRAME_HEADER_BYTES,
	    bytes + FRAME_HEADER_BYTES);
	assert_null(decoded);

	start_with_good_connection(fx);
	h_tls_opts_org(&o, certs, "uwv");
	if (h_tls_connect(c, fx->d.port, &o) != 0)
		fail_msg("second connection: %s", c->error);
	assert_int_equal(h_tls_send_raw(c, bytes, sizeof(bytes)), 0);
	assert_error_then_closed(c, IPSNET__V1__CODE__INVALID_ARGUMENT);
	assert_good_connection_served(fx, 2);
}

/* DESIGN §3: a certificate whose CN is not in the registry has its first
 * frame answered UNAUTHENTICATED, whatever that frame is. One that does not
 * decode, is empty, or is longer than a frame before Hello may be was
 * answered as if fixing the frame would let the peer in. */
static void
test_any_first_frame_of_an_unregistered_certificate_is_unauthenticated(
    void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;
	uint8_t garbage[FRAME_HEADER_BYTES + 8] = {0};
	uint8_t header[FRAME_HEADER_BYTES];

	frame_put_header(garbage, sizeof(garbage) - FRAME_HEADER_BYTES);
	garbage[FRAME_HEADER_BYTES] = 0xff; /* field 31, wire type 7 */
	start_with_good_connection(fx);
	h_tls_opts_org(&o, certs, "ghost");
	for (int i = 0; i < 3; i++) {
		struct h_tls *c = &fx->conn[i];
		if (h_tls_connect(c, fx->d.port, &o) != 0)
			fail_msg("ghost: %s", c->error);
		if (i == 0) {
			assert_int_equal(
			    h_tls_send_raw(c, garbage, sizeof(garbage)), 0);
		} else {
			/* longer than 4096 bytes; empty */
			frame_put_header(header, i == 1 ? 5000 : 0);
			assert_int_equal(
			    h_tls_send_raw(c, header, sizeof(header)), 0);
		}
		assert_error_then_closed(c, IPSNET__V1__CODE__UNAUTHENTICATED);
	}
	assert_good_connection_served(fx, 2);
}

/* ---- limits ------------------------------------------------------------- */

/* A client that pipelines requests and never reads the answers: the daemon
 * stops reading from it once its answers queued past send_buffer_bytes
 * (1 MiB) instead of queueing answers for as long as the client sends.
 * The bound is that buffer in write requests (each small answer costs
 * some 250 bytes of the daemon's heap) plus room for the allocator;
 * unbounded, the daemon grows by several bytes for every byte of Ping the
 * client sends. */
#define PIPELINE_BOUND_KIB (16 * 1024)

#define PIPELINE_MAX_BYTES (64u * 1024u * 1024u)
#define PIPELINE_STALL_MS 2000

/* Fills buf with whole Ping frames; returns how many. */
static size_t fill_with_pings(uint8_t *buf, size_t cap)
{
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	ping.client_time_us = 1;
	e.request_id = 7;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_PING;
	e.ping = &ping;
	size_t len = ipsnet__v1__envelope__get_packed_size(&e);
	size_t n = 0;
	for (size_t off = 0; off + FRAME_HEADER_BYTES + len <= cap;
	     off += FRAME_HEADER_BYTES + len) {
		frame_put_header(buf + off, (uint32_t)len);
		ipsnet__v1__envelope__pack(&e, buf + off + FRAME_HEADER_BYTES);
		n++;
	}
	return n;
}

/* Writes buf whole; false when the socket took nothing for stall_ms. */
static bool write_or_stall(struct h_tls *c, const uint8_t *buf, size_t len,
			   int stall_ms)
{
	for (;;) {
		ERR_clear_error();
		int ret = SSL_write(c->ssl, buf, (int)len);
		if (ret > 0)
			return true;
		int e = SSL_get_error(c->ssl, ret);
		if (e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ)
			fail_msg("TLS write failed (%d)", e);
		struct pollfd p = {
		    c->fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0};
		if (poll(&p, 1, stall_ms) == 0)
			return false;
	}
}

static void
test_pipelined_requests_whose_answers_are_not_read_keep_memory_bounded(
    void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	struct h_tls_opts o;
	static uint8_t chunk[16000];
	size_t per_chunk = fill_with_pings(chunk, sizeof(chunk));
	size_t sent = 0, pings = 0;

	start_with_good_connection(fx);
	pid_t pid = h_daemon_pid(&fx->d);
	h_tls_opts_org(&o, certs, "gm0363");
	o.rcvbuf = 4096; /* the kernel holds little of the answers */
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), 0);
	assert_int_equal(h_tls_hello(c, "test.user", NULL),
			 IPSNET__V1__CODE__OK);
	long before = h_rss_kib(pid);
	assert_true(before > 0);
	long peak = before;
	while (sent < PIPELINE_MAX_BYTES) {
		if (!write_or_stall(c, chunk, sizeof(chunk), PIPELINE_STALL_MS))
			break; /* the daemon stopped reading */
		sent += sizeof(chunk);
		pings += per_chunk;
		long rss = h_rss_kib(pid);
		if (rss > peak)
			peak = rss;
		if (RSS_IS_THE_DAEMONS && peak - before > PIPELINE_BOUND_KIB)
			fail_msg("the daemon grew by %ld KiB after %zu KiB of "
				 "Pings whose answers were not read",
				 peak - before, sent / 1024);
	}
	fprintf(stderr,
		"daemon RSS: %ld KiB, peak %ld KiB (+%ld KiB) after %zu KiB "
		"of Pings whose answers were not read; bound +%d KiB\n",
		before, peak, peak - before, sent / 1024, PIPELINE_BOUND_KIB);
	if (sent >= PIPELINE_MAX_BYTES)
		fail_msg("the daemon took %zu KiB of Pings without its answers "
			 "being read",
			 sent / 1024);
	/* Once the answers are read, every Ping is answered. */
	for (size_t i = 0; i < pings; i++) {
		Ipsnet__V1__Envelope *e = h_tls_recv_envelope(c, H_TLS_MS);
		if (e == NULL)
			fail_msg("answer %zu of %zu: %s", i + 1, pings,
				 c->error);
		bool pong = e->body_case == IPSNET__V1__ENVELOPE__BODY_PONG;
		h_envelope_free(e);
		if (!pong)
			fail_msg("answer %zu of %zu is not a Pong", i + 1,
				 pings);
	}
	assert_good_connection_served(fx, 2);
}

/* A client that sends requests and reads none of the answers is let go
 * once it has taken none of them for a whole idle period (two ticks of the
 * idle timer), and the log says why. Was: closed as idle, "without a
 * request", which it was not; and a client that took a large answer more
 * slowly than the idle timeout was cut off in the middle of it. */
static void test_a_client_that_reads_no_answers_is_told_so(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	struct h_tls_opts o;
	static uint8_t chunk[16000];

	start_with_settings_and_good_connection(
	    fx, "max_frame_bytes = 4096\nidle_timeout_ms = 1000\n"
		"send_buffer_bytes = 65536\n");
	(void)fill_with_pings(chunk, sizeof(chunk));
	h_tls_opts_org(&o, certs, "gm0363");
	o.rcvbuf = 4096; /* the kernel holds little of the answers */
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), 0);
	assert_int_equal(h_tls_hello(c, "test.user", NULL),
			 IPSNET__V1__CODE__OK);
	/* Until the daemon stops reading, or has closed the connection
	 * (whose last bytes it reads and drops): either way it holds
	 * answers this client does not take. */
	for (size_t sent = 0; sent < PIPELINE_MAX_BYTES;
	     sent += sizeof(chunk)) {
		ERR_clear_error();
		int ret = SSL_write(c->ssl, chunk, (int)sizeof(chunk));
		if (ret > 0)
			continue;
		int e = SSL_get_error(c->ssl, ret);
		struct pollfd p = {
		    c->fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0};
		if ((e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) ||
		    poll(&p, 1, 200) == 0)
			break;
		sent -= sizeof(chunk); /* written again */
	}
	if (!h_daemon_wait_log(
		&fx->d, "reason=\"answers not read for 1000 ms\"", 10000))
		fail_msg("the connection was not closed for its unread "
			 "answers");
}

/* ---- requests made by hand ---------------------------------------------- */

/* Appends e as one frame to buf (cap bytes) at *len. */
static void put_frame(uint8_t *buf, size_t cap, size_t *len,
		      const Ipsnet__V1__Envelope *e)
{
	size_t n = ipsnet__v1__envelope__get_packed_size(e);
	assert_true(*len + FRAME_HEADER_BYTES + n <= cap);
	frame_put_header(buf + *len, (uint32_t)n);
	ipsnet__v1__envelope__pack(e, buf + *len + FRAME_HEADER_BYTES);
	*len += FRAME_HEADER_BYTES + n;
}

/* Appends ListPrograms numbered 1 to n, a frame each. */
static void put_list_programs(uint8_t *buf, size_t cap, size_t *len, uint64_t n)
{
	for (uint64_t id = 1; id <= n; id++) {
		Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__ListPrograms lp = IPSNET__V1__LIST_PROGRAMS__INIT;
		e.request_id = id;
		e.body_case = IPSNET__V1__ENVELOPE__BODY_LIST_PROGRAMS;
		e.list_programs = &lp;
		put_frame(buf, cap, len, &e);
	}
}

/* A PutProgram of a team of ggz-test, its idempotency key made of its id. */
struct put_program {
	Ipsnet__V1__Envelope e;
	Ipsnet__V1__PutProgram m;
	uint8_t key[16];
};

static void put_program_init(struct put_program *p, uint64_t request_id,
			     const char *id, const char *name)
{
	size_t n = strlen(id);
	p->m = (Ipsnet__V1__PutProgram)IPSNET__V1__PUT_PROGRAM__INIT;
	p->m.program_id = (char *)id;
	p->m.owner = "ggz-test";
	p->m.name = (char *)name;
	p->m.region = 5;
	p->m.specialists = 2;
	memset(p->key, 0, sizeof(p->key));
	memcpy(p->key, id, n < sizeof(p->key) ? n : sizeof(p->key));
	p->e = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT;
	p->e.request_id = request_id;
	p->e.idempotency_key.data = p->key;
	p->e.idempotency_key.len = sizeof(p->key);
	p->e.body_case = IPSNET__V1__ENVELOPE__BODY_PUT_PROGRAM;
	p->e.put_program = &p->m;
}

/* Puts the program through c (NETWORK's), which must accept it. */
static void must_put_program(struct h_tls *c, uint64_t request_id,
			     const char *id, const char *name)
{
	struct put_program p;
	put_program_init(&p, request_id, id, name);
	assert_int_equal(h_tls_send_envelope(c, &p.e), 0);
	Ipsnet__V1__Envelope *r = h_tls_recv_envelope(c, H_TLS_MS);
	if (r == NULL)
		fail_msg("no answer to PutProgram: %s", c->error);
	bool ok = r->status == NULL || r->status->code == IPSNET__V1__CODE__OK;
	h_envelope_free(r);
	if (!ok)
		fail_msg("PutProgram %s was refused", id);
}

/* A client may pipeline: requests past max_inflight wait
 * their turn, the daemon reading no further until answers have gone, and
 * every one is answered. Here 40 reads go in one TLS record to a daemon
 * that takes 2 at a time. Was: the frames decoded from that record past the
 * second were each refused RESOURCE_EXHAUSTED, "too many requests in
 * flight", depending on how the client's writes fell into records. */
#define HELD_REQUESTS 40

static void test_requests_past_max_inflight_wait_their_turn(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	static uint8_t buf[HELD_REQUESTS * 64];
	bool seen[HELD_REQUESTS + 1] = {false};
	size_t len = 0;

	start_with_settings_and_good_connection(
	    fx, "max_frame_bytes = 4096\nmax_inflight = 2\n");
	if (h_tls_connect_hello(c, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("connection: %s", c->error);
	put_list_programs(buf, sizeof(buf), &len, HELD_REQUESTS);
	assert_true(len <= 16384); /* one record */
	assert_int_equal(h_tls_send_raw(c, buf, len), 0);
	for (size_t i = 0; i < HELD_REQUESTS; i++) {
		Ipsnet__V1__Envelope *e = h_tls_recv_envelope(c, H_TLS_MS);
		if (e == NULL)
			fail_msg("answer %zu of %d: %s", i + 1, HELD_REQUESTS,
				 c->error);
		uint64_t id = e->request_id;
		bool listed =
		    e->body_case == IPSNET__V1__ENVELOPE__BODY_PROGRAM_LIST;
		char why[200] = "";
		if (e->status != NULL && e->status->message != NULL)
			snprintf(why, sizeof(why), "%s", e->status->message);
		h_envelope_free(e);
		if (!listed)
			fail_msg("request %" PRIu64 " was not answered with "
				 "the programs: %s",
				 id, why);
		assert_true(id >= 1 && id <= HELD_REQUESTS && !seen[id]);
		seen[id] = true;
	}
	assert_good_connection_served(fx, 2);
}

/* A subscriber's catch-up page counts as in flight: at max_inflight 1 an
 * Unsubscribe and a Ping sent with the Subscribe wait for the page. Once
 * it has gone they are answered, in order, and the daemon serves on.
 * Was: the end of the page handed the held Unsubscribe out from inside
 * sync's page code (conn__request_done resumed the stream at once), which
 * freed the subscription that code went on to use; the daemon crashed
 * (a double free, or a use after free under ASan). */
static void test_an_unsubscribe_held_behind_a_catch_up_page(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[1];
	uint8_t buf[256];
	size_t len = 0;

	start_with_settings_and_good_connection(
	    fx, "max_frame_bytes = 4096\nmax_inflight = 1\n");
	/* One entry in the journal, for a page to read. */
	assert_int_equal(
	    h_tls_connect_hello(&fx->conn[0], fx->d.port, certs, "network"), 0);
	must_put_program(&fx->conn[0], 1, "ips-held", "Team vast");

	/* Subscribe from 0, Unsubscribe, Ping: one write, one record. */
	if (h_tls_connect_hello(c, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("connection: %s", c->error);
	Ipsnet__V1__Subscribe sub = IPSNET__V1__SUBSCRIBE__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	e.request_id = 1;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_SUBSCRIBE;
	e.subscribe = &sub;
	put_frame(buf, sizeof(buf), &len, &e);
	Ipsnet__V1__Unsubscribe unsub = IPSNET__V1__UNSUBSCRIBE__INIT;
	e = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT;
	e.request_id = 2;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_UNSUBSCRIBE;
	e.unsubscribe = &unsub;
	put_frame(buf, sizeof(buf), &len, &e);
	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	e = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT;
	e.request_id = 3;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_PING;
	e.ping = &ping;
	put_frame(buf, sizeof(buf), &len, &e);
	assert_int_equal(h_tls_send_raw(c, buf, len), 0);

	/* The answers 1, 2, 3 in order; what is pushed (id 0) between. */
	uint64_t next = 1;
	while (next <= 3) {
		Ipsnet__V1__Envelope *r = h_tls_recv_envelope(c, H_TLS_MS);
		if (r == NULL)
			fail_msg("waiting for the answer to request %" PRIu64
				 ": %s",
				 next, c->error);
		uint64_t id = r->request_id;
		int code = r->status != NULL ? (int)r->status->code : 0;
		h_envelope_free(r);
		if (id == 0)
			continue;
		if (id != next || code != IPSNET__V1__CODE__OK)
			fail_msg("request %" PRIu64 " answered (status %d) "
				 "where %" PRIu64 " was due",
				 id, code, next);
		next++;
	}
	assert_good_connection_served(fx, 2);
	assert_true(h_tls_ping(c, 4));
}

/* Requests held at max_inflight when SIGTERM comes: once the one in
 * flight is answered, each held one is answered too, UNAVAILABLE as one
 * that arrives after the signal, in order, before the notice and the
 * close; none is dropped unanswered. */
#define SIGTERM_HELD 30

static void test_requests_held_at_a_sigterm_are_answered(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	uint8_t buf[SIGTERM_HELD * 16];
	size_t len = 0;

	start_with_settings_and_good_connection(
	    fx, "max_frame_bytes = 4096\nmax_inflight = 1\n");
	if (h_tls_connect_hello(c, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("connection: %s", c->error);
	put_list_programs(buf, sizeof(buf), &len, SIGTERM_HELD);
	assert_int_equal(h_tls_send_raw(c, buf, len), 0);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGTERM), 0);
	for (uint64_t id = 1; id <= SIGTERM_HELD; id++) {
		Ipsnet__V1__Envelope *e = h_tls_recv_envelope(c, H_TLS_MS);
		if (e == NULL)
			fail_msg("no answer to request %" PRIu64 " of %d: %s",
				 id, SIGTERM_HELD, c->error);
		uint64_t got = e->request_id;
		bool listed =
		    e->body_case == IPSNET__V1__ENVELOPE__BODY_PROGRAM_LIST;
		bool stopping =
		    e->status != NULL &&
		    e->status->code == IPSNET__V1__CODE__UNAVAILABLE;
		h_envelope_free(e);
		if (got != id || !(listed || stopping))
			fail_msg("answer %" PRIu64 " was request %" PRIu64
				 ", %s",
				 id, got,
				 listed ? "listed"
					: "neither listed nor "
					  "UNAVAILABLE");
	}
	Ipsnet__V1__Envelope *e = h_tls_recv_envelope(c, H_TLS_MS);
	if (e == NULL)
		fail_msg("no notice: %s", c->error);
	bool notice = e->request_id == 0 && e->status != NULL &&
		      e->status->code == IPSNET__V1__CODE__UNAVAILABLE;
	h_envelope_free(e);
	assert_true(notice);
	assert_true(h_tls_read_closed(c, H_TLS_MS));
	assert_int_equal(h_daemon_stop(&fx->d, 0), 0);
}

/* A TLS 1.3 client that asks for KeyUpdates and reads nothing: OpenSSL
 * answers each with a KeyUpdate of its own, with no frame to hold the
 * daemon back, and the daemon stops reading once send_buffer_bytes of them
 * wait, as it does for answers (PIPELINE_BOUND_KIB, above). The setting
 * is at its least, 64 KiB, and the client's kernel send buffer small: the
 * KeyUpdates taken before the daemon stops, each a key derivation on both
 * sides, fell from 262,000 to 117,000. The client's records are made in
 * memory and written in large pieces, so that the daemon, not the client,
 * sets the pace. */
#define KEY_UPDATES_PER_WRITE 1000
/* How long the daemon may take to work through what the kernel's buffers
 * hold of them once the answers are read: a quarter of a million key
 * derivations took over 30 s under ThreadSanitizer on a loaded 2-CPU
 * machine. A bound against a hang, not a measure. */
#define KEY_UPDATES_DRAIN_MS 120000

/* Keeps c's kernel send buffer small: every byte it would hold for the
 * daemon is a key derivation to drain later, slow under the sanitizers. */
static void keep_send_buffer_small(struct h_tls *c)
{
	int bytes = 16 * 1024;
	assert_int_equal(
	    setsockopt(c->fd, SOL_SOCKET, SO_SNDBUF, &bytes, sizeof(bytes)), 0);
}

/* Hands the bytes mem holds to c's socket; false when it took nothing for
 * stall_ms. */
static bool write_mem_or_stall(struct h_tls *c, BIO *mem, int stall_ms)
{
	char *data, skip[4096];
	long len;
	while ((len = BIO_get_mem_data(mem, &data)) > 0) {
		ssize_t n = write(c->fd, data, (size_t)len);
		for (ssize_t left = n; left > 0;)
			left -= BIO_read(mem, skip,
					 left < (ssize_t)sizeof(skip)
					     ? (int)left
					     : (int)sizeof(skip));
		if (n > 0)
			continue;
		struct pollfd p = {c->fd, POLLOUT, 0};
		if (n < 0 && errno != EAGAIN && errno != EINTR)
			fail_msg("write: %s", strerror(errno));
		if (poll(&p, 1, stall_ms) == 0)
			return false;
	}
	return true;
}

static void
test_key_updates_whose_answers_are_not_read_keep_memory_bounded(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	struct h_tls_opts o;
	size_t sent = 0, updates = 0;

	start_with_settings_and_good_connection(fx,
						"max_frame_bytes = 4096\n"
						"send_buffer_bytes = 65536\n");
	pid_t pid = h_daemon_pid(&fx->d);
	h_tls_opts_org(&o, certs, "gm0363");
	o.rcvbuf = 4096; /* the kernel holds little of the answers */
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), 0);
	assert_int_equal(h_tls_hello(c, "test.user", NULL),
			 IPSNET__V1__CODE__OK);
	keep_send_buffer_small(c);
	BIO *mem = BIO_new(BIO_s_mem());
	assert_non_null(mem);
	SSL_set0_wbio(c->ssl, mem);
	long before = h_rss_kib(pid);
	assert_true(before > 0);
	long peak = before;
	while (sent < PIPELINE_MAX_BYTES) {
		for (int i = 0; i < KEY_UPDATES_PER_WRITE; i++) {
			ERR_clear_error();
			assert_int_equal(
			    SSL_key_update(c->ssl, SSL_KEY_UPDATE_REQUESTED),
			    1);
			assert_int_equal(SSL_do_handshake(c->ssl), 1);
		}
		size_t len = BIO_ctrl_pending(mem);
		if (!write_mem_or_stall(c, mem, PIPELINE_STALL_MS))
			break; /* the daemon stopped reading */
		sent += len;
		updates += KEY_UPDATES_PER_WRITE;
		long rss = h_rss_kib(pid);
		if (rss > peak)
			peak = rss;
		if (RSS_IS_THE_DAEMONS && peak - before > PIPELINE_BOUND_KIB)
			fail_msg("the daemon grew by %ld KiB after %zu KiB of "
				 "KeyUpdates whose answers were not read",
				 peak - before, sent / 1024);
	}
	fprintf(stderr,
		"daemon RSS: %ld KiB, peak %ld KiB (+%ld KiB) after %zu "
		"KeyUpdates (%zu KiB) whose answers were not read; bound +%d "
		"KiB\n",
		before, peak, peak - before, updates, sent / 1024,
		PIPELINE_BOUND_KIB);
	if (sent >= PIPELINE_MAX_BYTES)
		fail_msg("the daemon took %zu KiB of KeyUpdates without its "
			 "answers being read",
			 sent / 1024);
	/* Once the answers are read, the daemon reads again: the rest of the
	 * KeyUpdates goes, and a Ping sent behind them is answered. */
	uint64_t deadline = util_mono_us() + KEY_UPDATES_DRAIN_MS * 1000ull;
	while (BIO_ctrl_pending(mem) > 0) {
		struct pollfd p = {c->fd, POLLIN | POLLOUT, 0};
		if (util_mono_us() > deadline || poll(&p, 1, H_TLS_MS) != 1)
			fail_msg("the daemon does not read again after its "
				 "answers were read");
		if (p.revents & POLLOUT)
			(void)write_mem_or_stall(c, mem, 0);
		uint8_t none[64];
		if ((p.revents & POLLIN) &&
		    SSL_read(c->ssl, none, sizeof(none)) > 0)
			fail_msg("an answer came to nothing that was asked");
		ERR_clear_error();
	}
	BIO *sock = BIO_new_socket(c->fd, BIO_NOCLOSE);
	assert_non_null(sock);
	SSL_set0_wbio(c->ssl, sock);
	/* The Ping waits behind what the kernel's buffers still hold of the
	 * KeyUpdates (megabytes; a key derivation each, slow under the
	 * sanitizers): the same time as the drain above. */
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Ping ping = IPSNET__V1__PING__INIT;
	e.request_id = 3;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_PING;
	e.ping = &ping;
	assert_int_equal(h_tls_send_envelope(c, &e), 0);
	Ipsnet__V1__Envelope *pong =
	    h_tls_recv_envelope(c, KEY_UPDATES_DRAIN_MS);
	if (pong == NULL)
		fail_msg("no Pong after the KeyUpdates: %s", c->error);
	assert_int_equal(pong->request_id, 3);
	assert_int_equal(pong->body_case, IPSNET__V1__ENVELOPE__BODY_PONG);
	h_envelope_free(pong);
	assert_good_connection_served(fx, 2);
}

/* A client that asks for many answers, does not read them, and ends its
 * side with close_notify: the daemon stops at once, and what it still
 * holds for that client goes out for the same few seconds as after any
 * close (CLOSE_DEADLINE_MS in daemon/conn.c, 5 s) before the connection
 * is cut. Enough Pongs are asked for to fill the kernel's send buffer
 * (at most tcp_wmem's maximum) and leave some with the daemon;
 * send_buffer_bytes is high so that the daemon keeps reading and sees the
 * close_notify. */
#define CLOSE_DEADLINE_MS 5000
#define CLOSE_SEEN_MS (CLOSE_DEADLINE_MS + 60000)
#define PONG_FRAME_MIN_BYTES 20

static size_t kernel_send_buffer_max(void)
{
	unsigned long lo, def, max = 4ul * 1024 * 1024;
	FILE *f = fopen("/proc/sys/net/ipv4/tcp_wmem", "r");
	if (f != NULL) {
		if (fscanf(f, "%lu %lu %lu", &lo, &def, &max) != 3)
			max = 4ul * 1024 * 1024;
		fclose(f);
	}
	return max;
}

static void
test_a_peer_that_ends_with_close_notify_and_reads_nothing_is_cut_off(
    void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	struct h_tls_opts o;
	static uint8_t chunk[16000];
	size_t per_chunk = fill_with_pings(chunk, sizeof(chunk));
	size_t want =
	    (kernel_send_buffer_max() + 1024 * 1024) / PONG_FRAME_MIN_BYTES;

	assert_int_equal(h_write_config(fx->dir, certs,
					"max_frame_bytes = 4096\n"
					"handshake_timeout_ms = 5000\n"
					"send_buffer_bytes = 67108864\n"),
			 0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	if (h_tls_connect_hello(&fx->good, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("good connection: %s", fx->good.error);
	h_tls_opts_org(&o, certs, "gm0363");
	o.rcvbuf = 4096; /* the kernel holds little of the answers */
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), 0);
	assert_int_equal(h_tls_hello(c, "test.user", NULL),
			 IPSNET__V1__CODE__OK);
	for (size_t pings = 0; pings < want; pings += per_chunk)
		if (!write_or_stall(c, chunk, sizeof(chunk), PIPELINE_STALL_MS))
			fail_msg("the daemon stopped reading after %zu Pings",
				 pings);
	for (;;) {
		ERR_clear_error();
		int ret = SSL_shutdown(c->ssl);
		if (ret >= 0)
			break;
		int e = SSL_get_error(c->ssl, ret);
		struct pollfd p = {
		    c->fd, e == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, 0};
		if ((e != SSL_ERROR_WANT_WRITE && e != SSL_ERROR_WANT_READ) ||
		    poll(&p, 1, H_TLS_MS) != 1)
			fail_msg("cannot send close_notify (%d)", e);
	}
	/* The daemon sees the close_notify only once it has read the Pings
	 * before it (under ThreadSanitizer that took over 10 s); the idle
	 * timeout, which closed such a connection before the fix, is 300 s
	 * away. */
	if (!h_daemon_wait_log(&fx->d,
			       "msg=\"connection closed\" org=gm0363 "
			       "user=test.user",
			       CLOSE_SEEN_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the connection was not closed within %d ms of its "
			 "close_notify",
			 CLOSE_SEEN_MS);
	}
	assert_good_connection_served(fx, 2);
}

/* The local port of the connection on fd (the peer the daemon sees). */
static int local_port(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	return ntohs(sa.sin_port);
}

/* Starts the daemon with max_connections = 1 and takes that one with the
 * good connection; o is then for a connection of gm0363 beyond it. */
static void start_full(struct fx *fx, struct h_tls_opts *o)
{
	assert_int_equal(
	    h_write_config(fx->dir, certs, "max_connections = 1\n"), 0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	if (h_tls_connect_hello(&fx->good, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("good connection: %s", fx->good.error);
	h_tls_opts_org(o, certs, "gm0363");
}

/* Beyond max_connections a connection is closed at once, the log names
 * the peer that was refused, and the command tells its user why. */
static void
test_connection_beyond_max_connections_is_logged_with_its_peer(void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;
	struct h_tls *c = &fx->conn[0];
	char needle[128];

	start_full(fx, &o);
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), -1);
	snprintf(needle, sizeof(needle), "peer=127.0.0.1:%d",
		 local_port(c->fd));
	assert_true(
	    h_daemon_wait_log(&fx->d, "msg=\"connection refused\"", H_TLS_MS));
	if (!h_daemon_log_contains(&fx->d, needle)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the refusal does not name %s", needle);
	}
	assert_good_connection_served(fx, 2);
	/* The command says why, not only that the handshake was cut. */
	run_cli_as(fx, certs, "gm0363", "ping", NULL, EXIT_CONNECT);
	assert_one_line_error(fx, "connection limit", "max_connections", NULL);
	assert_good_connection_served(fx, 3);
}

static int log_count(const struct h_daemon *d, const char *needle);

/* A client that connects again and again while the daemon is at
 * max_connections does not write a line each time: the first refusal is
 * logged at once with its peer, the others are counted and said in one
 * line, msg="connections refused" count=N, when their 10 s are over or,
 * as here, when the daemon stops. Was: a line each. Every try ends when
 * the daemon has closed it, so each was counted before the next. The
 * lines are added up rather than taken to be two: tries that outlast a
 * window (a loaded machine) start another pair; the bound of one line for
 * every four tries leaves room for five windows, 40 s. */
#define REFUSED_TRIES 40
static void test_refused_connections_are_counted_not_logged_each(void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;
	struct h_tls *c = &fx->conn[0];
	char first[128];

	start_full(fx, &o);
	for (int i = 0; i < REFUSED_TRIES; i++) {
		assert_int_equal(h_tls_connect(c, fx->d.port, &o), -1);
		if (i == 0)
			snprintf(first, sizeof(first),
				 "msg=\"connection refused\" "
				 "peer=127.0.0.1:%d ",
				 local_port(c->fd));
		h_tls_close(c);
	}
	assert_good_connection_served(fx, 2);
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);

	char *log = h_read_file(fx->d.log, NULL);
	assert_non_null(log);
	const char *one = strstr(log, "msg=\"connection refused\"");
	const char *counted = strstr(log, "msg=\"connections refused\"");
	bool first_at_once = one != NULL && one == strstr(log, first) &&
			     (counted == NULL || one < counted);
	static const char count[] = "msg=\"connections refused\" count=";
	unsigned long long total = 0;
	for (const char *at = log; (at = strstr(at, count)) != NULL;
	     at += sizeof(count) - 1)
		total += strtoull(at + sizeof(count) - 1, NULL, 10);
	free(log);
	int singles = log_count(&fx->d, "msg=\"connection refused\"");
	int summaries = log_count(&fx->d, "msg=\"connections refused\"");
	if (!first_at_once || singles + total != REFUSED_TRIES ||
	    singles + summaries > REFUSED_TRIES / 4 || summaries == 0) {
		h_daemon_dump_log(&fx->d);
		fail_msg("%d refusal line(s) and %d summaries counting %llu, "
			 "for %d refusals (the first logged at once: %s)",
			 singles, summaries, total, REFUSED_TRIES,
			 first_at_once ? "yes" : "no");
	}
}

/* A plain TCP connection to the daemon that says nothing: no handshake. */
static int tcp_open(int port)
{
	struct sockaddr_in sa = {.sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

/* Whether the daemon has closed fd (EOF or reset) within ms. */
static bool tcp_closed_within(int fd, int ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int n;
	do
		n = poll(&p, 1, ms);
	while (n < 0 && errno == EINTR);
	char byte;
	return n > 0 && recv(fd, &byte, 1, MSG_DONTWAIT) <= 0;
}

/* At max_connections, a connection that has not been authenticated yet
 * (here: TCP only, no handshake) makes room for a new one, the oldest
 * first, and the log names it; one that is serving never does. Was: every
 * new connection was refused until the idle ones reached the handshake
 * timeout, so a peer with no certificate that kept max_connections of
 * them open kept every organisation out. */
static void
test_an_unauthenticated_connection_makes_room_at_max_connections(void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;
	char needle[128];

	assert_int_equal(
	    h_write_config(fx->dir, certs, "max_connections = 3\n"), 0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	if (h_tls_connect_hello(&fx->good, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("good connection: %s", fx->good.error);
	int idle[2] = {tcp_open(fx->d.port), tcp_open(fx->d.port)};

	if (h_tls_connect_hello(&fx->conn[0], fx->d.port, certs, "gm0363") != 0)
		fail_msg("a connection at max_connections with two idle ones "
			 "open: %s",
			 fx->conn[0].error);
	assert_true(tcp_closed_within(idle[0], H_TLS_MS));
	assert_false(tcp_closed_within(idle[1], 0));
	snprintf(needle, sizeof(needle),
		 "msg=\"connection dropped\" peer=127.0.0.1:%d ",
		 local_port(idle[0]));
	if (!h_daemon_wait_log(&fx->d, needle, H_TLS_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("no line %s", needle);
	}

	if (h_tls_connect_hello(&fx->conn[1], fx->d.port, certs, "uwv") != 0)
		fail_msg("a connection with one idle one open: %s",
			 fx->conn[1].error);
	assert_true(tcp_closed_within(idle[1], H_TLS_MS));

	/* Three serving: the next is refused, and none of them goes. */
	h_tls_opts_org(&o, certs, "gm0363");
	assert_int_equal(h_tls_connect(&fx->conn[2], fx->d.port, &o), -1);
	assert_true(
	    h_daemon_wait_log(&fx->d, "msg=\"connection refused\"", H_TLS_MS));
	assert_good_connection_served(fx, 2);
	assert_true(h_tls_ping(&fx->conn[0], 3));
	assert_true(h_tls_ping(&fx->conn[1], 4));
	close(idle[0]);
	close(idle[1]);
}

/* A connection the daemon cannot take from the listener (memory runs out
 * at that moment; fail_accept.c fails it once) is taken again a moment
 * later, and the clients after it are served: libuv watches the listener
 * again only once the connection it reported is accepted, so a daemon
 * that gave up on it left every later client in the backlog. */
static void test_a_connection_not_taken_at_first_is_taken_again(void **state)
{
	struct fx *fx = *state;
	char gate[PATH_MAX];
	snprintf(gate, sizeof(gate), "%s/fail-accept", fx->dir);
	assert_int_equal(h_write_config(fx->dir, certs, daemon_settings), 0);
	assert_int_equal(h_daemon_start_preloaded(&fx->d, fx->dir,
						  FAIL_ACCEPT_PATH,
						  "IT_FAIL_ACCEPT", gate),
			 0);
	FILE *f = fopen(gate, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);

	if (h_tls_connect_hello(&fx->conn[0], fx->d.port, certs, "ggz-test") !=
	    0)
		fail_msg("the connection that met the failure: %s",
			 fx->conn[0].error);
	/* It did meet it. */
	assert_int_not_equal(access(gate, F_OK), 0);
	assert_true(h_daemon_log_contains(&fx->d, "msg=\"accept failed\""));
	if (h_tls_connect_hello(&fx->conn[1], fx->d.port, certs, "gm0363") != 0)
		fail_msg("the connection after it: %s", fx->conn[1].error);
	assert_true(h_tls_ping(&fx->conn[0], 1));
	assert_true(h_tls_ping(&fx->conn[1], 2));
}

/* A daemon that cannot start its reader threads (a limit of threads:
 * fail_thread.c fails the first reader's pthread_create, after the
 * checkpointer's and the writer's; the bulk readers start) does not start,
 * and says why. It used to listen: every read then waited for a reader
 * that never came, and a SIGTERM with one in flight never ended the
 * daemon. */
static void test_a_start_without_reader_threads_is_refused(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(h_write_config(fx->dir, certs, daemon_settings), 0);
	if (h_daemon_start_preloaded(&fx->d, fx->dir, FAIL_THREAD_PATH,
				     "IT_FAIL_THREAD", "3-3") == 0) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the daemon listened without its reader threads");
	}
	assert_int_equal(fx->d.status, 1);
	assert_true(
	    h_daemon_log_contains(&fx->d, "cannot start the reader threads"));
}

/* A reader thread that cannot open the database at its start (out of file
 * descriptors) opens it at its next read. Was: it answered every read it
 * took UNAVAILABLE until the daemon was restarted, while the daemon looked
 * healthy. */
static void
test_a_reader_that_could_not_open_opens_at_its_next_read(void **state)
{
	struct fx *fx = *state;
	assert_int_equal(h_write_config(fx->dir, certs, daemon_settings), 0);
	/* The two readers and the two bulk readers. */
	if (h_daemon_start_preloaded(&fx->d, fx->dir, FAIL_READER_OPEN_PATH,
				     "IT_FAIL_READER_OPEN", "4") != 0) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the daemon did not start");
	}
	/* By the threads themselves, once the daemon listens. */
	assert_true(
	    h_daemon_wait_log(&fx->d, "fail_reader_open: 4 failed", 10000));
	assert_true(h_daemon_wait_log(&fx->d, "reader cannot open the database",
				      10000));
	for (int i = 0; i < 4; i++)
		run_cli_as(fx, certs, "ggz-test", "program", "list", EXIT_OK);
	assert_true(
	    h_daemon_log_contains(&fx->d, "reader opened the database"));
}

/* One organisation may have max_connections_per_organisation connections
 * past Hello: the next Hello of it is answered RESOURCE_EXHAUSTED, naming
 * the organisation and the setting, and logged with its user, while
 * another organisation is served; once one of its connections has closed,
 * it may connect again.
 *
 * Daemon bug (failed before the fix): neither the answer nor the log named
 * max_connections_per_organisation (the refusal for max_connections does),
 * and the log said user=-. */
static void test_one_organisation_cannot_take_every_connection(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = fx->conn, extra;
	struct h_tls_opts o;
	Ipsnet__V1__Envelope *ok = NULL;

	assert_int_equal(
	    h_write_config(fx->dir, certs,
			   "max_connections_per_organisation = 2\n"),
	    0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	for (int i = 0; i < 2; i++)
		if (h_tls_connect_hello(&c[i], fx->d.port, certs, "gm0363") !=
		    0)
			fail_msg("gm0363's connection %d: %s", i, c[i].error);
	h_tls_opts_org(&o, certs, "gm0363");
	assert_int_equal(h_tls_connect(&extra, fx->d.port, &o), 0);
	assert_int_equal(h_tls_hello(&extra, "case.tester", &ok),
			 IPSNET__V1__CODE__RESOURCE_EXHAUSTED);
	if (strstr(extra.error, "'gm0363' has 2 connections open") == NULL ||
	    strstr(extra.error, "max_connections_per_organisation = 2") == NULL)
		fail_msg("the third Hello: %s", extra.error);
	assert_true(h_tls_read_closed(&extra, H_TLS_MS));
	h_tls_close(&extra);
	if (!h_daemon_wait_log(&fx->d,
			       "user=case.tester cn=gm0363 peer=", H_TLS_MS) ||
	    !h_daemon_log_contains(&fx->d, "outcome=refused") ||
	    !h_daemon_log_contains(&fx->d,
				   "max_connections_per_organisation = 2"))
		fail_msg("the refusal is not logged with its user and the "
			 "setting (see %s)",
			 fx->d.log);
	if (h_tls_connect_hello(&fx->good, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("ggz-test: %s", fx->good.error);
	assert_true(h_tls_ping(&fx->good, 1));

	/* One goes: room for one again, once the daemon has seen it go. */
	h_tls_close(&c[0]);
	bool served = false;
	for (int i = 0; i < H_TLS_MS / 20 && !served; i++) {
		served = h_tls_connect_hello(&c[0], fx->d.port, certs,
					     "gm0363") == 0;
		if (!served) {
			h_tls_close(&c[0]);
			nanosleep(&(struct timespec){.tv_nsec = 20000000},
				  NULL);
		}
	}
	assert_true(served);
	assert_true(h_tls_ping(&c[0], 2));
	assert_true(h_tls_ping(&c[1], 3));
}

/* The open-files limit a service inherits is often 1024 or less: the daemon
 * raises its own soft limit (up to the hard one) so that max_connections,
 * not the limit, decides how many clients are served. Started here with a
 * soft limit of FD_LIMIT and max_connections = MANY_CONNECTIONS. */
#define FD_LIMIT 64
#define MANY_CONNECTIONS 100

static void
test_max_connections_is_not_cut_short_by_the_open_files_limit(void **state)
{
	struct fx *fx = *state;
	struct rlimit saved, low;
	char settings[64];

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &saved), 0);
	if (saved.rlim_max != RLIM_INFINITY &&
	    saved.rlim_max < 2 * MANY_CONNECTIONS + 64)
		skip();
	snprintf(settings, sizeof(settings), "max_connections = %d\n",
		 MANY_CONNECTIONS);
	assert_int_equal(h_write_config(fx->dir, certs, settings), 0);
	low = saved;
	low.rlim_cur = FD_LIMIT;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	int rv = h_daemon_start(&fx->d, fx->dir);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &saved), 0);
	assert_int_equal(rv, 0);

	struct h_tls *c = calloc(MANY_CONNECTIONS, sizeof(*c));
	assert_non_null(c);
	int served = 0;
	char why[256] = "";
	for (int i = 0; i < MANY_CONNECTIONS; i++)
		c[i].fd = -1;
	for (int i = 0; i < MANY_CONNECTIONS; i++) {
		if (h_tls_connect_hello(&c[i], fx->d.port, certs, "ggz-test") !=
		    0) {
			snprintf(why, sizeof(why), "%s", c[i].error);
			break;
		}
		served++;
	}
	for (int i = 0; i < MANY_CONNECTIONS; i++)
		h_tls_close(&c[i]);
	free(c);
	if (served != MANY_CONNECTIONS) {
		h_daemon_dump_log(&fx->d);
		fail_msg("only %d of %d connections were served: %s", served,
			 MANY_CONNECTIONS, why);
	}
}

/* ---- the log ------------------------------------------------------------ */

/* The user named in Hello is the client's to choose: in a log line it is one
 * quoted value, and cannot add fields of its own. */
static void test_user_from_hello_cannot_forge_log_fields(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	struct h_tls_opts o;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribe sub = IPSNET__V1__SUBSCRIBE__INIT;

	start_daemon(fx, certs);
	h_tls_opts_org(&o, certs, "ggz-test");
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), 0);
	assert_int_equal(
	    h_tls_hello(c, "j.jansen org=network forged=yes", NULL),
	    IPSNET__V1__CODE__OK);
	e.request_id = 2;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_SUBSCRIBE;
	e.subscribe = &sub;
	assert_int_equal(h_tls_send_envelope(c, &e), 0);
	Ipsnet__V1__Envelope *r = h_tls_recv_envelope(c, H_TLS_MS);
	if (r == NULL)
		fail_msg("no answer to Subscribe: %s", c->error);
	bool ok = r->status != NULL && r->status->code == IPSNET__V1__CODE__OK;
	h_envelope_free(r);
	assert_true(ok);
	assert_true(h_daemon_wait_log(&fx->d, "msg=subscribed", H_TLS_MS));
	if (h_daemon_log_contains(&fx->d, " forged=yes ")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the user from Hello wrote a field of its own");
	}
	assert_true(h_daemon_log_contains(
	    &fx->d, "user=\"j.jansen org=network forged=yes\""));
}

/* Sends Hello as user with software as its client_software on c, a new
 * connection as ggz-test, and returns the answer (never NULL). */
static Ipsnet__V1__Envelope *hello_with_software(struct fx *fx, struct h_tls *c,
						 const char *software)
{
	struct h_tls_opts o;
	Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Hello hello = IPSNET__V1__HELLO__INIT;

	h_tls_opts_org(&o, certs, "ggz-test");
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), 0);
	hello.protocol_version = 1;
	hello.client_software = (char *)software;
	hello.user = "j.jansen";
	req.request_id = 1;
	req.body_case = IPSNET__V1__ENVELOPE__BODY_HELLO;
	req.hello = &hello;
	assert_int_equal(h_tls_send_envelope(c, &req), 0);
	Ipsnet__V1__Envelope *r = h_tls_recv_envelope(c, H_TLS_MS);
	if (r == NULL)
		fail_msg("no answer to Hello: %s", c->error);
	assert_non_null(r->status);
	return r;
}

/* The operator can tell which program, and which version of it, a user
 * connected with (to find the old ones before an upgrade, or a script
 * that acts as a person): an accepted Hello logs its client software next
 * to organisation and user, as one quoted value. One that holds a control
 * character, or is too long to log whole, is refused with a sentence.
 *
 * Daemon bug (failed before the fix): client_software was read by nobody;
 * no line named it, whatever it held. */
static void test_hello_logs_the_client_software(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	run_cli_as(fx, certs, "network", "ping", NULL, EXIT_OK);
	if (!h_daemon_wait_log(&fx->d, "msg=\"hello accepted\" org=network ",
			       H_TLS_MS) ||
	    !h_daemon_log_contains(
		&fx->d,
		" user=test.user software=ipsnet/" IPSNET_VERSION "\n")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("no log line names the client software of ipsnet");
	}

	Ipsnet__V1__Envelope *r =
	    hello_with_software(fx, &fx->conn[0], "werkfit \"beta\" 2.0");
	assert_int_equal(r->status->code, IPSNET__V1__CODE__OK);
	h_envelope_free(r);
	if (!h_daemon_wait_log(&fx->d,
			       " user=j.jansen software=\"werkfit \\\"beta\\\" "
			       "2.0\"\n",
			       H_TLS_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the client software is not one quoted value");
	}

	char long_software[200];
	memset(long_software, 'w', sizeof(long_software) - 1);
	long_software[sizeof(long_software) - 1] = '\0';
	const char *bad[] = {"werkfit/2.0\nlevel=error forged=yes",
			     "werkfit\x1b[2J/2.0", long_software};
	const char *said[] = {"control character at byte 12",
			      "control character at byte 8",
			      "199 bytes long; at most 127"};
	for (int i = 0; i < 3; i++) {
		struct h_tls *c = &fx->conn[1 + i % 2];
		h_tls_close(c);
		r = hello_with_software(fx, c, bad[i]);
		assert_int_equal(r->status->code,
				 IPSNET__V1__CODE__INVALID_ARGUMENT);
		if (strstr(r->status->message, "client software") == NULL ||
		    strstr(r->status->message, said[i]) == NULL)
			fail_msg("Hello with a bad client software: %s",
				 r->status->message);
		assert_int_not_equal(r->body_case,
				     IPSNET__V1__ENVELOPE__BODY_HELLO_OK);
		h_envelope_free(r);
		assert_true(h_tls_read_closed(c, H_TLS_MS));
	}
	assert_false(h_daemon_log_contains(&fx->d, "forged=yes"));
}

/* Sends e as one frame with a NUL in place of the first '#' of its bytes:
 * what a client of the protocol can send, and protobuf-c cannot pack. */
static void send_with_nul(struct h_tls *c, const Ipsnet__V1__Envelope *e)
{
	uint8_t buf[FRAME_HEADER_BYTES + 512];
	size_t len = ipsnet__v1__envelope__get_packed_size(e);
	assert_true(len <= sizeof(buf) - FRAME_HEADER_BYTES);
	frame_put_header(buf, (uint32_t)len);
	ipsnet__v1__envelope__pack(e, buf + FRAME_HEADER_BYTES);
	uint8_t *hash = memchr(buf + FRAME_HEADER_BYTES, '#', len);
	assert_non_null(hash);
	*hash = '\0';
	assert_int_equal(h_tls_send_raw(c, buf, FRAME_HEADER_BYTES + len), 0);
}

/* The next answer on c: INVALID_ARGUMENT, its message holding every one
 * of the (NULL-terminated) words. */
static void expect_refused(struct h_tls *c, ...)
{
	Ipsnet__V1__Envelope *r = h_tls_recv_envelope(c, H_TLS_MS);
	if (r == NULL)
		fail_msg("no answer: %s", c->error);
	assert_non_null(r->status);
	assert_int_equal(r->status->code, IPSNET__V1__CODE__INVALID_ARGUMENT);
	va_list ap;
	va_start(ap, c);
	for (const char *w; (w = va_arg(ap, const char *)) != NULL;)
		if (strstr(r->status->message, w) == NULL)
			fail_msg("the refusal does not say '%s': %s", w,
				 r->status->message);
	va_end(ap);
	h_envelope_free(r);
}

/* How many programs of the id the daemon's database holds. */
static int programs_stored(struct fx *fx, const char *id)
{
	char db[PATH_MAX];
	snprintf(db, sizeof(db), "%s/ipsnet.db", fx->dir);
	sqlite3 *sq;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(db, &sq, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(sq,
					    "SELECT count(*) FROM program "
					    "WHERE id = ?",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int stored = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(sq);
	return stored;
}

/* Protobuf strings carry their length; protobuf-c hands them on cut at a
 * NUL byte. A user "alice\0mallory" is refused, not served (and audited)
 * as "alice"; so is a name with a NUL in a request, not stored cut, and
 * the connection goes on.
 *
 * Daemon bug (failed before the fix): the Hello was answered HelloOk as
 * "alice", the program stored as "Cafe". */
static void test_a_nul_byte_in_text_is_refused(void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;
	struct h_tls *c = &fx->conn[0];
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Hello hello = IPSNET__V1__HELLO__INIT;

	start_daemon(fx, certs);
	h_tls_opts_org(&o, certs, "ggz-test");
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), 0);
	hello.protocol_version = 1;
	hello.client_software = "werkfit/2.0";
	hello.user = "alice#mallory";
	e.request_id = 1;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_HELLO;
	e.hello = &hello;
	send_with_nul(c, &e);
	expect_refused(c, "hello.user", "NUL byte at byte 6", NULL);
	assert_true(h_tls_read_closed(c, H_TLS_MS));
	assert_false(h_daemon_log_contains(&fx->d, "user=alice"));

	/* After Hello: a change whose name holds one. */
	c = &fx->conn[1];
	assert_int_equal(h_tls_connect_hello(c, fx->d.port, certs, "network"),
			 0);
	struct put_program p;
	put_program_init(&p, 2, "ips-nul", "Cafe#team");
	send_with_nul(c, &p.e);
	expect_refused(c, "put_program.name", "NUL byte at byte 5", NULL);
	assert_true(h_tls_ping(c, 3));
	assert_int_equal(programs_stored(fx, "ips-nul"), 0);
}

/* A request numbered 0: its answer would carry the id of what the server
 * sends unasked, and a client waiting for it would take the answer for a
 * notice. It is refused, saying so, and nothing is changed; the
 * connection goes on. Was: the program was stored and the answer went
 * out as id 0. */
static void test_a_request_numbered_0_is_refused(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	struct put_program p;

	start_daemon(fx, certs);
	assert_int_equal(h_tls_connect_hello(c, fx->d.port, certs, "network"),
			 0);
	put_program_init(&p, 0, "ips-zero", "Team nul");
	assert_int_equal(h_tls_send_envelope(c, &p.e), 0);
	expect_refused(c, "request id 0", "number requests from 1", NULL);
	assert_true(h_tls_ping(c, 1));
	assert_int_equal(programs_stored(fx, "ips-zero"), 0);
}

/* Sends ListPrograms numbered id on c and returns the answer (free with
 * h_envelope_free). */
static Ipsnet__V1__Envelope *list_programs(struct h_tls *c, uint64_t id)
{
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__ListPrograms lp = IPSNET__V1__LIST_PROGRAMS__INIT;
	e.request_id = id;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_LIST_PROGRAMS;
	e.list_programs = &lp;
	assert_int_equal(h_tls_send_envelope(c, &e), 0);
	Ipsnet__V1__Envelope *r = h_tls_recv_envelope(c, H_TLS_MS);
	if (r == NULL)
		fail_msg("no answer to ListPrograms: %s", c->error);
	assert_int_equal(r->request_id, id);
	return r;
}

/* An answer over 4 KiB is framed in a buffer of its own. A daemon that
 * cannot allocate it answers the request with a refusal that says so, and
 * the connection goes on. Was: the answer was dropped without a word, and
 * the client waited for its timeout. */
#define MANY_PROGRAMS 30

static void test_an_answer_without_memory_is_refused_not_dropped(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	char id[32], name[200], range[64];

	/* The default frame limit, 1 MiB: the answer is not refused for its
	 * size. */
	start_with_settings_and_good_connection(
	    fx, "handshake_timeout_ms = 5000\n");
	assert_int_equal(h_tls_connect_hello(c, fx->d.port, certs, "network"),
			 0);
	for (int i = 0; i < MANY_PROGRAMS; i++) {
		snprintf(id, sizeof(id), "ips-many-%02d", i);
		snprintf(name, sizeof(name),
			 "Werkplaats %02d, een team met een lange naam om het "
			 "antwoord op de vraag naar alle programma's groter "
			 "te maken dan wat de daemon op de stapel inpakt",
			 i);
		must_put_program(c, (uint64_t)i + 1, id, name);
	}
	/* The answer's frame, as the daemon allocates it: header and
	 * body. */
	Ipsnet__V1__Envelope *r = list_programs(c, 1);
	if (r->body_case != IPSNET__V1__ENVELOPE__BODY_PROGRAM_LIST)
		fail_msg("ListPrograms: %s",
			 r->status != NULL ? r->status->message : "?");
	size_t frame =
	    FRAME_HEADER_BYTES + ipsnet__v1__envelope__get_packed_size(r);
	h_envelope_free(r);
	if (frame <= 4096)
		fail_msg("the answer is %zu bytes, not over 4 KiB", frame);
	h_tls_close(c);
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);

	snprintf(range, sizeof(range), "%zu-%zu", frame, frame);
	assert_int_equal(h_daemon_restart_preloaded(&fx->d, FAIL_MALLOC_PATH,
						    "IT_FAIL_MALLOC", range),
			 0);
	assert_int_equal(h_tls_connect_hello(c, fx->d.port, certs, "network"),
			 0);
	r = list_programs(c, 1);
	if (r->status == NULL ||
	    r->status->code != IPSNET__V1__CODE__RESOURCE_EXHAUSTED ||
	    strstr(r->status->message, "out of memory for this answer") == NULL)
		fail_msg("ListPrograms without memory for its answer was "
			 "answered %d: %s",
			 r->status != NULL ? (int)r->status->code : -1,
			 r->status != NULL ? r->status->message : "");
	h_envelope_free(r);
	assert_true(h_tls_ping(c, 2));
	assert_true(
	    h_daemon_wait_log(&fx->d, "msg=\"answer not sent\"", H_TLS_MS));
}

/* File names are the operator's to choose and may hold a space: in a log
 * line each is one quoted value, and the line stays logfmt. */
static void test_file_names_with_a_space_are_one_value_in_the_log(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], ca_dir[PATH_MAX], conf[PATH_MAX],
	    want[3 * PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/ipsnet data", fx->dir);
	snprintf(ca_dir, sizeof(ca_dir), "%s/ca files", fx->dir);
	assert_int_equal(mkdir(dir, 0700), 0);
	assert_int_equal(h_copy_dir(certs, ca_dir), 0);
	assert_int_equal(h_write_config(dir, ca_dir, daemon_settings), 0);
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", dir);
	assert_int_equal(
	    h_run_ipsnetd(
		&fx->r, (const char *const[]){"init", "--config", conf, NULL}),
	    0);
	snprintf(want, sizeof(want), "database=\"%s/ipsnet.db\" ", dir);
	if (strstr(fx->r.err, want) == NULL) {
		print_result(&fx->r);
		fail_msg("ipsnetd init does not log %s", want);
	}
	assert_int_equal(h_daemon_start(&fx->d, dir), 0);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	assert_true(
	    h_daemon_wait_log(&fx->d, "msg=reloaded", H_DAEMON_START_MS));
	snprintf(want, sizeof(want), "crl=\"%s/crl.pem\"\n", ca_dir);
	if (!h_daemon_log_contains(&fx->d, want)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload does not log %s", want);
	}
}

/* The audit trail records who acts: a Hello that names nobody is refused
 * with a sentence that says how to name someone, and nothing is served;
 * so is one whose user would have to be cut to fit. */
static void test_hello_without_a_user_is_refused(void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;

	start_daemon(fx, certs);
	h_tls_opts_org(&o, certs, "ggz-test");
	char long_user[200];
	memset(long_user, 'a', sizeof(long_user) - 1);
	long_user[sizeof(long_user) - 1] = '\0';
	for (int i = 0; i < 3; i++) {
		struct h_tls *c = &fx->conn[i];
		Ipsnet__V1__Envelope req = IPSNET__V1__ENVELOPE__INIT;
		Ipsnet__V1__Hello hello = IPSNET__V1__HELLO__INIT;
		assert_int_equal(h_tls_connect(c, fx->d.port, &o), 0);
		hello.protocol_version = 1;
		/* empty; not sent at all; too long to keep whole */
		hello.user = i == 0 ? "" : i == 1 ? NULL : long_user;
		req.request_id = 1;
		req.body_case = IPSNET__V1__ENVELOPE__BODY_HELLO;
		req.hello = &hello;
		assert_int_equal(h_tls_send_envelope(c, &req), 0);
		Ipsnet__V1__Envelope *r = h_tls_recv_envelope(c, H_TLS_MS);
		if (r == NULL)
			fail_msg("no answer to a Hello without a user: %s",
				 c->error);
		assert_non_null(r->status);
		assert_int_equal(r->status->code,
				 IPSNET__V1__CODE__INVALID_ARGUMENT);
		assert_non_null(strstr(r->status->message,
				       i < 2 ? "--user" : "199 bytes long"));
		assert_int_not_equal(r->body_case,
				     IPSNET__V1__ENVELOPE__BODY_HELLO_OK);
		h_envelope_free(r);
		assert_true(h_tls_read_closed(c, H_TLS_MS));
	}
}

/* ---- the CRL ------------------------------------------------------------ */

/* Copies the group's certificates to fx->dir/certs and replaces the CRL
 * there with one that expired in 2020; returns the folder. */
static const char *certs_with_expired_crl(struct fx *fx, char *dir, size_t cap)
{
	char cmd[3 * PATH_MAX];
	struct h_result r;

	snprintf(dir, cap, "%s/certs", fx->dir);
	assert_int_equal(h_copy_dir(certs, dir), 0);
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && openssl ca -batch -config openssl.cnf -gencrl "
		 "-crl_lastupdate 20200101000000Z -crl_nextupdate "
		 "20200201000000Z -out crl.pem.tmp",
		 dir);
	int code =
	    h_run(&r, "/bin/sh", (const char *const[]){"sh", "-c", cmd, NULL});
	if (code != 0)
		fprintf(stderr, "%s\n", r.err);
	h_result_free(&r);
	assert_int_equal(code, 0);
	return dir;
}

static void replace_crl(const char *dir)
{
	char from[PATH_MAX], to[PATH_MAX];
	snprintf(from, sizeof(from), "%s/crl.pem.tmp", dir);
	snprintf(to, sizeof(to), "%s/crl.pem", dir);
	assert_int_equal(rename(from, to), 0);
}

/* Makes a database for the certificates in dir and starts ipsnetd on it,
 * which must stop at once with exit code want (1: a certificate or CRL out
 * of its time, which a renewal sets right; 2: what the config names is
 * wrong) saying every one of the NULL-terminated needles; what names the
 * case in the failure message. */
static void start_is_refused(struct fx *fx, const char *dir, int want,
			     const char *what, ...)
{
	char conf[PATH_MAX];
	assert_int_equal(h_write_config(fx->dir, dir, daemon_settings), 0);
	snprintf(conf, sizeof(conf), "%s/ipsnetd.conf", fx->dir);
	assert_int_equal(
	    h_run_ipsnetd(
		&fx->r, (const char *const[]){"init", "--config", conf, NULL}),
	    0);
	h_result_free(&fx->r);
	int code = h_run_ipsnetd(&fx->r,
				 (const char *const[]){"--config", conf, NULL});
	bool said = true;
	va_list ap;
	va_start(ap, what);
	for (const char *n; (n = va_arg(ap, const char *)) != NULL;)
		said = said && strstr(fx->r.err, n) != NULL;
	va_end(ap);
	if (code != want || !said) {
		print_result(&fx->r);
		fail_msg("ipsnetd with %s exited %d", what, code);
	}
}

/* With a CRL past its nextUpdate every client would be refused, and told
 * that its own certificate expired: the daemon does not start, and says
 * which file and what to do. */
static void test_expired_crl_stops_the_start_with_a_sentence(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX];

	replace_crl(certs_with_expired_crl(fx, dir, sizeof(dir)));
	start_is_refused(fx, dir, 1, "an expired CRL",
			 "crl.pem' expired on 2020-02-01", "certs/crl.sh",
			 NULL);
}

/* A SIGHUP or SIGTERM that comes while the daemon starts, before its
 * handlers are in place, is held and acted on once it listens: a SIGHUP
 * then reloads (it used to end the daemon), a SIGTERM stops it cleanly. */
static void test_signals_during_start_up_are_acted_on_once_started(void **state)
{
	struct fx *fx = *state;
	start_daemon(fx, certs);
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	fx->d.start_signal = SIGHUP;
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=reloaded", H_DAEMON_START_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the SIGHUP sent during start-up was not acted on");
	}
	run_cli_as(fx, certs, "ggz-test", "ping", NULL, EXIT_OK);
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	fx->d.start_signal = SIGTERM;
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	assert_int_equal(h_daemon_stop(&fx->d, 0), 0);
}

/* A SIGHUP that would load an expired CRL fails and keeps the one the
 * daemon has. */
static void test_sighup_with_an_expired_crl_keeps_the_previous(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX];

	certs_with_expired_crl(fx, dir, sizeof(dir));
	start_daemon(fx, dir);
	replace_crl(dir);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=\"reload failed\"",
			       H_DAEMON_START_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload of an expired CRL did not fail");
	}
	assert_true(h_daemon_log_contains(&fx->d, "expired on 2020-02-01"));
	run_cli_as(fx, dir, "ggz-test", "ping", NULL, EXIT_OK);
}

/* A CRL of another CA would refuse every client as "not signed by the
 * network CA": the daemon does not start, and says which file. */
static void test_crl_of_another_ca_stops_the_start_with_a_sentence(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], from[PATH_MAX], to[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/certs", fx->dir);
	assert_int_equal(h_copy_dir(certs, dir), 0);
	snprintf(from, sizeof(from), "%s/other/crl.pem", dir);
	snprintf(to, sizeof(to), "%s/crl.pem", dir);
	assert_int_equal(rename(from, to), 0);
	start_is_refused(fx, dir, 2, "another CA's CRL",
			 "crl.pem' is not signed by the network CA", NULL);
}

/* A server certificate that has expired would be refused by every client:
 * the daemon does not start, and says which file and when. (The test's
 * expired client certificate, valid in 2020 only, stands in for it.) */
static void test_expired_server_certificate_stops_the_start(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], from[PATH_MAX], to[PATH_MAX];

	snprintf(dir, sizeof(dir), "%s/certs", fx->dir);
	assert_int_equal(h_copy_dir(certs, dir), 0);
	static const char *const ext[] = {"crt", "key"};
	for (int i = 0; i < 2; i++) {
		snprintf(from, sizeof(from), "%s/expired.%s", dir, ext[i]);
		snprintf(to, sizeof(to), "%s/server.%s", dir, ext[i]);
		assert_int_equal(rename(from, to), 0);
	}
	start_is_refused(fx, dir, 1, "an expired certificate",
			 "server.crt' expired on", NULL);
}

/* The daemon started on a copy of the certificates in dir (PATH_MAX)
 * whose server key, key (PATH_MAX + 16), is its owner's only (0600). */
static void start_with_own_key(struct fx *fx, char *dir, char *key)
{
	snprintf(dir, PATH_MAX, "%s/certs", fx->dir);
	assert_int_equal(h_copy_dir(certs, dir), 0);
	snprintf(key, PATH_MAX + 16, "%s/server.key", dir);
	assert_int_equal(chmod(key, 0600), 0);
	start_daemon(fx, dir);
}

/* A server key that others than its owner may read (a copy made with cp,
 * a checkout, a umask of 022) lets anyone on the machine act as the
 * server: the daemon says so at start, naming the file, its mode and what
 * to do; of a key of its owner only it says nothing. Was: nothing either
 * way (certs/README.md asks for 0600, and nobody checked). */
static void test_a_key_readable_by_others_is_said_at_start(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], key[PATH_MAX + 16];
	start_with_own_key(fx, dir, key);
	bool quiet = !h_daemon_log_contains(&fx->d, "readable by others");
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	assert_true(quiet);

	assert_int_equal(chmod(key, 0640), 0);
	start_daemon(fx, dir);
	bool said =
	    h_daemon_log_contains(&fx->d, "msg=\"key readable by others\"") &&
	    h_daemon_log_contains(&fx->d, "mode=0640") &&
	    h_daemon_log_contains(&fx->d, "fix=\"chmod 600\"") &&
	    h_daemon_log_contains(&fx->d, "/certs/server.key");
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	assert_true(said);
}

/* A key put in place for a SIGHUP (a certificate renewed as
 * certs/README.md says, the key copied with cp under umask 022) is as
 * readable by others as one found at start: the reload says so, as the
 * start does. Was: said at start only, so a key swapped in by a reload
 * went unsaid until the next start. */
static void test_a_key_readable_by_others_is_said_at_reload(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], key[PATH_MAX + 16];
	start_with_own_key(fx, dir, key);
	assert_false(h_daemon_log_contains(&fx->d, "readable by others"));

	assert_int_equal(chmod(key, 0644), 0);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=\"key readable by others\"",
			       H_DAEMON_START_MS) ||
	    !h_daemon_log_contains(&fx->d, "mode=0644") ||
	    !h_daemon_log_contains(&fx->d, "msg=reloaded ")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload does not say the key is readable by "
			 "others");
	}
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
}

/* A --log-level that is not a level is refused naming every level the
 * option takes, as the config's log_level does: off too. Was: "not debug,
 * info, warn or error", which left off out. */
static void test_a_bad_log_level_option_names_every_level(void **state)
{
	struct fx *fx = *state;
	int code =
	    h_run_ipsnetd(&fx->r, (const char *const[]){"verify", "--log-level",
							"verbose", NULL});
	if (code != 2 ||
	    strstr(fx->r.err, "debug, info, warn, error or off") == NULL) {
		print_result(&fx->r);
		fail_msg("ipsnetd --log-level verbose exited %d", code);
	}
}

/* A bad --listen is named as the option's, not the config file's. Was:
 * "configuration: listen must be ..." (found by a review). */
static void test_a_bad_listen_option_is_named_as_the_option(void **state)
{
	struct fx *fx = *state;
	int code = h_run_ipsnetd(
	    &fx->r, (const char *const[]){"serve", "--listen",
					  "127.0.0.1:99999", NULL});
	if (code != 2 ||
	    strncmp(fx->r.err, "ipsnetd: --listen: listen must be HOST:PORT",
		    43) != 0) {
		print_result(&fx->r);
		fail_msg("ipsnetd --listen 127.0.0.1:99999 exited %d", code);
	}
}

/* ---- the daemon's life -------------------------------------------------- */

/* The "tr" (timer) of the daemon's end of the TCP connection from client
 * port to daemon port, as /proc/net/tcp shows it: 2 is TCP keepalive's;
 * -1 when there is no such connection. */
static int daemon_side_timer(int daemon_port, int client_port)
{
	FILE *f = fopen("/proc/net/tcp", "r");
	char line[512];
	int tr = -1;
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned lport, rport, state;
		int timer;
		if (sscanf(line, " %*d: %*8X:%4X %*8X:%4X %2X %*8X:%*8X %2d",
			   &lport, &rport, &state, &timer) == 4 &&
		    (int)lport == daemon_port && (int)rport == client_port &&
		    state == 1 /* ESTABLISHED */)
			tr = timer;
	}
	fclose(f);
	return tr;
}

/* A peer that vanishes without a word (a NAT that forgot the connection, a
 * power cut) is found by TCP keepalive on the daemon's end of every
 * connection; without it a subscriber that is sent nothing (no idle
 * timeout applies to it) held its connection, and its organisation's share
 * of max_connections, for good. Was: no keepalive (timer 0). */
/* c is closed by the daemon within ms, and what it sent last before that
 * is a notice (request id 0) with status code and a message holding
 * word. */
static void assert_told_then_closed(struct h_tls *c, int ms, int code,
				    const char *word)
{
	if (!h_tls_read_closed(c, ms))
		fail_msg("the connection stays open: %s", c->error);
	Ipsnet__V1__Envelope *e = h_tls_take_envelope(c), *next;
	while (e != NULL && (next = h_tls_take_envelope(c)) != NULL) {
		h_envelope_free(e);
		e = next;
	}
	if (e == NULL)
		fail_msg("closed without a word (%s)", c->error);
	uint64_t id = e->request_id;
	int got = e->status != NULL ? (int)e->status->code : -1;
	bool said = e->status != NULL && e->status->message != NULL &&
		    strstr(e->status->message, word) != NULL;
	if (!said)
		fprintf(stderr, "the notice: %s\n",
			e->status != NULL && e->status->message != NULL
			    ? e->status->message
			    : "(none)");
	h_envelope_free(e);
	assert_int_equal(id, 0);
	assert_int_equal(got, code);
	if (!said)
		fail_msg("the notice does not say '%s'", word);
}

/* A served connection closed as idle is told why first. Was: closed
 * without a word, so that a program that keeps its connection learned
 * only that the peer had closed it (found by a review). */
static void test_an_idle_connection_is_told_why_it_is_closed(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];

	assert_int_equal(
	    h_write_config(fx->dir, certs, "idle_timeout_ms = 1000\n"), 0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	if (h_tls_connect_hello(c, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("ggz-test: %s", c->error);
	assert_told_then_closed(c, H_DAEMON_STOP_MS,
				IPSNET__V1__CODE__UNAVAILABLE,
				"without a request (its idle_timeout_ms)");
	assert_true(h_daemon_wait_log(&fx->d, "outcome=idle", H_TLS_MS));
}

/* A subscriber (which the idle timeout spares) that begins a frame and
 * does not finish it is told and closed once a whole idle period has
 * passed without the frame coming whole. Was: held for good, with the
 * room the frame announced (found by a review). */
static void
test_a_frame_begun_and_never_finished_is_not_waited_for(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];

	assert_int_equal(
	    h_write_config(fx->dir, certs, "idle_timeout_ms = 1000\n"), 0);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);
	if (h_tls_connect_hello(c, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("ggz-test: %s", c->error);
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Subscribe m = IPSNET__V1__SUBSCRIBE__INIT;
	e.request_id = 2;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_SUBSCRIBE;
	e.subscribe = &m;
	assert_int_equal(h_tls_send_envelope(c, &e), 0);
	Ipsnet__V1__Envelope *got = h_tls_recv_envelope(c, H_TLS_MS);
	assert_non_null(got);
	assert_int_equal(got->body_case, IPSNET__V1__ENVELOPE__BODY_SUBSCRIBED);
	h_envelope_free(got);

	/* 100 bytes announced, 10 sent. */
	uint8_t part[FRAME_HEADER_BYTES + 10] = {0};
	frame_put_header(part, 100);
	assert_int_equal(h_tls_send_raw(c, part, sizeof(part)), 0);
	assert_told_then_closed(c, H_DAEMON_STOP_MS,
				IPSNET__V1__CODE__DEADLINE_EXCEEDED,
				"a frame began and did not come whole");
	assert_true(h_daemon_wait_log(&fx->d, "outcome=timeout", H_TLS_MS));
}

/* A connection that made its TLS handshake but says no Hello within
 * handshake_timeout_ms is told so as it is closed. Was: closed without a
 * word (found by a review). */
static void
test_a_connection_without_hello_is_told_why_it_is_closed(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	struct h_tls_opts o;

	start_daemon(fx, certs);
	h_tls_opts_org(&o, certs, "ggz-test");
	if (h_tls_connect(c, fx->d.port, &o) != 0)
		fail_msg("ggz-test: %s", c->error);
	assert_told_then_closed(c, H_DAEMON_STOP_MS,
				IPSNET__V1__CODE__DEADLINE_EXCEEDED,
				"no TLS handshake and Hello within 5000 ms");
	assert_true(h_daemon_wait_log(&fx->d, "outcome=timeout", H_TLS_MS));
}

static void test_every_connection_has_tcp_keepalive(void **state)
{
	struct fx *fx = *state;
	start_daemon(fx, certs);
	if (h_tls_connect_hello(&fx->good, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("connection: %s", fx->good.error);
	int me = local_port(fx->good.fd);
	/* Once what was sent is acknowledged (timer 1 until then), the
	 * timer left is keepalive's, or none. */
	int tr;
	uint64_t deadline = util_mono_us() + 5000000;
	while ((tr = daemon_side_timer(fx->d.port, me)) == 1 &&
	       util_mono_us() < deadline)
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	h_tls_close(&fx->good);
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	assert_int_equal(tr, 2);
}

static void test_sigterm_closes_clients_and_exits_0(void **state)
{
	struct fx *fx = *state;
	static const char *const names[] = {"ggz-test", "gm0363", "uwv"};
	struct h_tls *c = fx->conn;

	start_daemon(fx, certs);
	for (int i = 0; i < 3; i++) {
		if (h_tls_connect_hello(&c[i], fx->d.port, certs, names[i]) !=
		    0)
			fail_msg("client %s: %s", names[i], c[i].error);
	}
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGTERM), 0);
	for (int i = 0; i < 3; i++) {
		if (!h_tls_read_closed(&c[i], H_DAEMON_STOP_MS))
			fail_msg("client %s after SIGTERM: %s", names[i],
				 c[i].error);
		/* Closed by the daemon's TLS shutdown, not by its death. */
		if (!(SSL_get_shutdown(c[i].ssl) & SSL_RECEIVED_SHUTDOWN))
			fail_msg("client %s got no TLS close_notify: %s",
				 names[i], c[i].error);
	}
	assert_int_equal(h_daemon_stop(&fx->d, 0), 0);
}

/* A RegisterClient of a client with a valid BSN. */
struct change {
	uint8_t key[16];
	Ipsnet__V1__Envelope env;
	Ipsnet__V1__RegisterClient rc;
};

static void change_init(struct change *ch, uint64_t request_id)
{
	memset(ch, 0, sizeof(*ch));
	memset(ch->key, 0xa5, sizeof(ch->key));
	ch->env = (Ipsnet__V1__Envelope)IPSNET__V1__ENVELOPE__INIT;
	ch->rc = (Ipsnet__V1__RegisterClient)IPSNET__V1__REGISTER_CLIENT__INIT;
	ch->rc.bsn = "111222333";
	ch->rc.name = "Client Test";
	ch->rc.birth_date = "1988-02-29";
	ch->rc.municipality = "GM0363";
	ch->rc.benefit = IPSNET__V1__BENEFIT__BENEFIT_PARTICIPATIEWET;
	ch->env.request_id = request_id;
	ch->env.idempotency_key.data = ch->key;
	ch->env.idempotency_key.len = 16;
	ch->env.body_case = IPSNET__V1__ENVELOPE__BODY_REGISTER_CLIENT;
	ch->env.register_client = &ch->rc;
}

/* SIGTERM while a change is in flight: the connection waits for that
 * answer, but a request sent after the signal is answered UNAVAILABLE
 * instead of being served, so that a client that keeps its pipeline full
 * (an import) cannot hold the shutdown open until the deadline cuts it
 * off. The change is held in flight before its COMMIT for as long as the
 * test needs (hold_fetch.c's -commit file). Was: by a write lock on the
 * database, which the writer waits for only up to its busy timeout (2 s):
 * on a loaded machine the signal, the log line and a Ping's round trip
 * took longer, the change was refused UNAVAILABLE, and the test failed or
 * was made again. */
static void test_sigterm_refuses_new_requests_on_a_busy_connection(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	struct change ch;
	char gate[PATH_MAX], hold[PATH_MAX + 8], held[PATH_MAX + 16];

	snprintf(gate, sizeof(gate), "%s/hold", fx->dir);
	snprintf(hold, sizeof(hold), "%s-commit", gate);
	snprintf(held, sizeof(held), "%s-commit-held", gate);
	assert_int_equal(h_write_config(fx->dir, certs, daemon_settings), 0);
	assert_int_equal(h_daemon_start_preloaded(&fx->d, fx->dir,
						  HOLD_FETCH_PATH,
						  "IT_HOLD_FETCH", gate),
			 0);
	assert_int_equal(h_tls_connect_hello(c, fx->d.port, certs, "ggz-test"),
			 0);
	FILE *f = fopen(hold, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	change_init(&ch, 2);
	assert_int_equal(h_tls_send_envelope(c, &ch.env), 0);
	if (!h_wait_file(held, "", H_DAEMON_STOP_MS))
		fail_msg("the change did not reach its COMMIT");
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGTERM), 0);
	assert_true(
	    h_daemon_wait_log(&fx->d, "msg=\"shutting down\"", H_TLS_MS));

	/* Sent after the daemon began to shut down. */
	Ipsnet__V1__Envelope ping = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Ping p = IPSNET__V1__PING__INIT;
	ping.request_id = 3;
	ping.body_case = IPSNET__V1__ENVELOPE__BODY_PING;
	ping.ping = &p;
	assert_int_equal(h_tls_send_envelope(c, &ping), 0);
	Ipsnet__V1__Envelope *e = h_tls_recv_envelope(c, H_TLS_MS);
	uint64_t id = e != NULL ? e->request_id : 0;
	int code = e != NULL && e->status != NULL ? (int)e->status->code : -1;
	h_envelope_free(e);
	assert_int_equal(unlink(hold), 0);
	if (id != 3)
		fail_msg("no answer to the Ping: %s", c->error);
	if (code != IPSNET__V1__CODE__UNAVAILABLE)
		fail_msg("a Ping sent during shutdown was answered %d, not "
			 "UNAVAILABLE",
			 code);

	/* The change in flight is answered, then the client is told why the
	 * connection closes, and it closes. */
	e = h_tls_recv_envelope(c, H_DAEMON_STOP_MS);
	if (e == NULL)
		fail_msg("no answer to the change in flight: %s", c->error);
	id = e->request_id;
	code = e->status != NULL ? (int)e->status->code : -1;
	h_envelope_free(e);
	assert_int_equal(id, 2);
	assert_int_equal(code, IPSNET__V1__CODE__OK);
	/* Told why, as a connection idle at the signal is. Was: closed
	 * without a word (found by a review). */
	assert_told_then_closed(c, H_DAEMON_STOP_MS,
				IPSNET__V1__CODE__UNAVAILABLE,
				"the server is shutting down");
	assert_true(SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN);
	assert_int_equal(h_daemon_stop(&fx->d, 0), 0);
}

/* The daemon dies (SIGKILL) while a change of ipsnet's waits for its
 * commit: ipsnet ends at once, exit 3, naming the server and saying that
 * no answer came. Was: "the peer closed the connection", which said
 * neither (found by a review). */
static void test_a_server_gone_before_its_answer_is_named(void **state)
{
	struct fx *fx = *state;
	char gate[PATH_MAX], hold[PATH_MAX + 8], held[PATH_MAX + 16];
	char out[PATH_MAX + 8], err[PATH_MAX + 8];
	struct h_proc p;
	struct h_args a;

	snprintf(gate, sizeof(gate), "%s/hold", fx->dir);
	snprintf(hold, sizeof(hold), "%s-commit", gate);
	snprintf(held, sizeof(held), "%s-commit-held", gate);
	snprintf(out, sizeof(out), "%s/cli.out", fx->dir);
	snprintf(err, sizeof(err), "%s/cli.err", fx->dir);
	assert_int_equal(h_write_config(fx->dir, certs, daemon_settings), 0);
	assert_int_equal(h_daemon_start_preloaded(&fx->d, fx->dir,
						  HOLD_FETCH_PATH,
						  "IT_HOLD_FETCH", gate),
			 0);
	FILE *f = fopen(hold, "w");
	assert_non_null(f);
	assert_int_equal(fclose(f), 0);
	h_args_init(&a);
	h_args_org(&a, &fx->d, certs, "ggz-test");
	h_args_add(&a, "client");
	h_args_add(&a, "register");
	h_args_add(&a, "--bsn");
	h_args_add(&a, "111222333");
	h_args_add(&a, "--name");
	h_args_add(&a, "Client Test");
	h_args_add(&a, "--birth-date");
	h_args_add(&a, "1988-02-29");
	h_args_add(&a, "--municipality");
	h_args_add(&a, "GM0363");
	h_args_add(&a, "--benefit");
	h_args_add(&a, "participatiewet");
	assert_int_equal(h_proc_start_cli(&p, a.argv, out, err), 0);
	if (!h_wait_file(held, "", H_DAEMON_STOP_MS)) {
		h_proc_stop(&p, SIGKILL, H_RUN_MS);
		fail_msg("the change did not reach its COMMIT");
	}
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGKILL), 0);
	assert_int_equal(h_daemon_stop(&fx->d, 0), 128 + SIGKILL);
	int code = h_proc_stop(&p, 0, H_RUN_MS);
	char *said = h_read_file(err, NULL);
	assert_non_null(said);
	char want[128];
	snprintf(want, sizeof(want),
		 "ipsnet: the server at 127.0.0.1:%d closed the connection "
		 "before it answered",
		 fx->d.port);
	if (code != EXIT_CONNECT || strstr(said, want) == NULL) {
		fprintf(stderr, "ipsnet: exit %d\nstderr: %s\n", code, said);
		free(said);
		fail_msg("not exit %d with '%s'", EXIT_CONNECT, want);
	}
	free(said);
}

/* Connections idle after one large answer each (an audit page of some
 * 140 KB): the daemon keeps little of it. Was: OpenSSL's memory BIO kept
 * the room of the largest frame it held until the connection closed, some
 * 172 KiB a connection against 29 (found by a review). The bound leaves
 * room for the allocator; unbounded, each held its answer's size. */
#define IDLE_CONNS 40
#define IDLE_BOUND_KIB 96

static Ipsnet__V1__Envelope *audit_page(struct h_tls *c, uint64_t id,
					uint32_t limit)
{
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__AuditQuery q = IPSNET__V1__AUDIT_QUERY__INIT;
	q.since = "2000-01-01";
	q.limit = limit;
	e.request_id = id;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_AUDIT_QUERY;
	e.audit_query = &q;
	if (h_tls_send_envelope(c, &e) != 0)
		return NULL;
	return h_tls_recv_envelope(c, H_TLS_MS);
}

static void test_an_idle_connection_lets_go_of_its_largest_answer(void **state)
{
	struct fx *fx = *state;
	static struct h_tls idle[IDLE_CONNS];
	struct h_tls *c = &fx->conn[0];
	size_t bytes = 0;

	start_with_settings_and_good_connection(fx,
						"max_frame_bytes = 1048576\n");
	if (h_tls_connect_hello(c, fx->d.port, certs, "network") != 0)
		fail_msg("network: %s", c->error);
	/* Each query is a row of the audit trail. */
	for (uint64_t i = 1; i <= 1000; i++) {
		Ipsnet__V1__Envelope *e = audit_page(c, i, 1);
		if (e == NULL)
			fail_msg("audit query %llu: %s", (unsigned long long)i,
				 c->error);
		h_envelope_free(e);
	}
	pid_t pid = h_daemon_pid(&fx->d);
	long before = h_rss_kib(pid);
	for (int i = 0; i < IDLE_CONNS; i++) {
		if (h_tls_connect_hello(&idle[i], fx->d.port, certs,
					"network") != 0)
			fail_msg("connection %d: %s", i, idle[i].error);
		Ipsnet__V1__Envelope *e = audit_page(&idle[i], 1, 1000);
		if (e == NULL)
			fail_msg("connection %d: %s", i, idle[i].error);
		assert_int_equal(e->body_case,
				 IPSNET__V1__ENVELOPE__BODY_AUDIT_LIST);
		bytes = ipsnet__v1__envelope__get_packed_size(e);
		h_envelope_free(e);
	}
	long after = h_rss_kib(pid);
	for (int i = 0; i < IDLE_CONNS; i++)
		h_tls_close(&idle[i]);
	long each = (after - before) / IDLE_CONNS;
	fprintf(stderr,
		"daemon RSS %ld KiB, %ld KiB with %d connections idle after "
		"an answer of %zu KiB each: +%ld KiB a connection; bound %d\n",
		before, after, IDLE_CONNS, bytes / 1024, each, IDLE_BOUND_KIB);
	assert_true(bytes > 80 * 1024);
	if (RSS_IS_THE_DAEMONS && each > IDLE_BOUND_KIB)
		fail_msg("each idle connection kept %ld KiB", each);
}

/* SIGTERM while a client pipelines faster than it reads: the daemon had
 * stopped reading from it (its answers queued past send_buffer_bytes), so
 * requests lie unread in its socket when it closes. It reads on until the
 * client's EOF and drops them, so that the close is a close_notify and a
 * FIN after the last answer. Was: the socket was closed with the requests
 * unread, the kernel sent a reset, and the answers still on their way were
 * thrown away with the close_notify (found by a review: of 6,383 changes
 * made, 852 were answered). */
static void
test_sigterm_closes_a_pipelining_connection_without_a_reset(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	struct h_tls_opts o;
	static uint8_t chunk[16000];
	fill_with_pings(chunk, sizeof(chunk));
	size_t sent = 0;

	start_with_good_connection(fx);
	h_tls_opts_org(&o, certs, "gm0363");
	o.rcvbuf = 4096; /* the answers wait in the daemon's socket */
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), 0);
	assert_int_equal(h_tls_hello(c, "test.user", NULL),
			 IPSNET__V1__CODE__OK);
	while (sent < PIPELINE_MAX_BYTES &&
	       write_or_stall(c, chunk, sizeof(chunk), PIPELINE_STALL_MS))
		sent += sizeof(chunk);
	assert_true(sent < PIPELINE_MAX_BYTES); /* it stopped reading */
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGTERM), 0);
	if (!h_tls_read_closed(c, H_DAEMON_STOP_MS))
		fail_msg("the connection did not close: %s", c->error);
	size_t pongs = 0;
	Ipsnet__V1__Envelope *e;
	while ((e = h_tls_take_envelope(c)) != NULL) {
		pongs += e->body_case == IPSNET__V1__ENVELOPE__BODY_PONG;
		h_envelope_free(e);
	}
	fprintf(stderr, "%zu KiB of Pings sent, %zu answered, then: %s\n",
		sent / 1024, pongs,
		SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN
		    ? "close_notify"
		    : c->error);
	assert_true(pongs > 0);
	assert_true(SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN);
	h_tls_close(c);
	assert_int_equal(h_daemon_stop(&fx->d, 0), 0);
}

/* A client that sends a change and then closes its side, by a TCP
 * half-close or by close_notify, before the answer: the change is applied,
 * so it is answered, then the connection closes. Was: the connection was
 * dropped at the peer's EOF, the change applied and its answer lost (found
 * by a review). The change is held before its COMMIT until the daemon has
 * seen the close. */
static void
test_a_change_sent_before_the_peer_closes_its_side_is_answered(void **state)
{
	struct fx *fx = *state;
	char settings[256], gate[PATH_MAX], hold[PATH_MAX + 8],
	    held[PATH_MAX + 16];

	snprintf(gate, sizeof(gate), "%s/hold", fx->dir);
	snprintf(hold, sizeof(hold), "%s-commit", gate);
	snprintf(held, sizeof(held), "%s-commit-held", gate);
	snprintf(settings, sizeof(settings), "%slog_level = debug\n",
		 daemon_settings);
	assert_int_equal(h_write_config(fx->dir, certs, settings), 0);
	assert_int_equal(h_daemon_start_preloaded(&fx->d, fx->dir,
						  HOLD_FETCH_PATH,
						  "IT_HOLD_FETCH", gate),
			 0);
	for (int how = 0; how < 2; how++) {
		struct h_tls *c = &fx->conn[how];
		struct change ch;
		assert_int_equal(
		    h_tls_connect_hello(c, fx->d.port, certs, "ggz-test"), 0);
		FILE *f = fopen(hold, "w");
		assert_non_null(f);
		assert_int_equal(fclose(f), 0);
		change_init(&ch, 40 + (uint64_t)how);
		assert_int_equal(h_tls_send_envelope(c, &ch.env), 0);
		if (!h_wait_file(held, "", H_DAEMON_STOP_MS))
			fail_msg("the change did not reach its COMMIT");
		if (how == 0)
			assert_int_equal(shutdown(c->fd, SHUT_WR), 0);
		else
			assert_true(SSL_shutdown(c->ssl) >= 0);
		/* Seen (before: the connection was dropped, no line). */
		struct sockaddr_in me;
		socklen_t len = sizeof(me);
		char seen[96];
		assert_int_equal(
		    getsockname(c->fd, (struct sockaddr *)&me, &len), 0);
		snprintf(seen, sizeof(seen), "peer=127.0.0.1:%d inflight=1",
			 ntohs(me.sin_port));
		(void)h_daemon_wait_log(&fx->d, seen, H_TLS_MS);
		assert_int_equal(unlink(hold), 0);
		Ipsnet__V1__Envelope *e = h_tls_recv_envelope(c, H_TLS_MS);
		if (e == NULL)
			fail_msg("%s: no answer to the change: %s",
				 how == 0 ? "half-close" : "close_notify",
				 c->error);
		uint64_t id = e->request_id;
		int code = e->status != NULL ? (int)e->status->code : -1;
		h_envelope_free(e);
		assert_int_equal(id, 40 + (uint64_t)how);
		assert_int_equal(code, IPSNET__V1__CODE__OK);
		assert_true(h_tls_read_closed(c, H_TLS_MS));
		assert_true(SSL_get_shutdown(c->ssl) & SSL_RECEIVED_SHUTDOWN);
		unlink(held);
	}
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
}

static void test_sighup_after_revocation_refuses_and_cuts_off_the_certificate(void **state)
{
	struct fx *fx = *state;
	char ca_dir[PATH_MAX], cert[PATH_MAX];
	struct h_args a;

	/* A CA of this test's own: the revocation must not reach the others. */
	snprintf(ca_dir, sizeof(ca_dir), "%s/certs", fx->dir);
	snprintf(cert, sizeof(cert), "%s/gm0363.crt", ca_dir);
	assert_int_equal(h_copy_dir(certs, ca_dir), 0);
	start_daemon(fx, ca_dir);
	run_cli_as(fx, ca_dir, "gm0363", "whoami", NULL, EXIT_OK);
	/* A connection made before the revocation is cut off by the reload. */
	struct h_tls before;
	assert_int_equal(
	    h_tls_connect_hello(&before, fx->d.port, ca_dir, "gm0363"), 0);

	assert_int_equal(
	    h_certs_script("revoke.sh",
			   (const char *const[]){ca_dir, cert, NULL}),
	    0);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);

	/* The reload takes effect some time after the signal: try until the
	 * certificate is refused, for as long as a daemon start may take. */
	h_args_init(&a);
	h_args_org(&a, &fx->d, ca_dir, "gm0363");
	h_args_add(&a, "whoami");
	uint64_t deadline = util_mono_us() / 1000 + H_DAEMON_START_MS;
	do {
		h_result_free(&fx->r);
		h_run_cli(&fx->r, a.argv);
	} while (fx->r.code == EXIT_OK && util_mono_us() / 1000 < deadline);
	if (fx->r.code != EXIT_UNAUTH) {
		print_result(&fx->r);
		fail_msg("gm0363 after revocation and SIGHUP: exit %d, not %d",
			 fx->r.code, EXIT_UNAUTH);
	}
	assert_one_line_error(fx, "gm0363", "revoked", NULL);
	assert_true(h_tls_read_closed(&before, H_DAEMON_START_MS));
	h_tls_close(&before);
	/* Its line is written once the connection is closed, after the
	 * close_notify it sent. */
	assert_true(h_daemon_wait_log(&fx->d, "outcome=revoked", H_TLS_MS));

	/* The reload left the daemon running and serving the others. */
	run_cli_as(fx, ca_dir, "ggz-test", "ping", NULL, EXIT_OK);
}

/* The network moves to a new CA by a SIGHUP. The new CA's first CRL has
 * a lower number than the old one's: numbers are one CA's, so the reload
 * is taken. Connections whose certificates the old CA signed lose their
 * rights: one served is cut off, one that made its handshake before says
 * Hello in vain. Was (found by a review): the reload was refused, "a CRL
 * never goes back"; and once it was taken (by a restart of the CRL's
 * number), the old certificates' connections went on being served. */
static void
test_a_reload_to_a_new_ca_cuts_off_the_old_certificates(void **state)
{
	struct fx *fx = *state;
	char ca1[PATH_MAX], ca2[PATH_MAX], crl[PATH_MAX + 16];
	struct h_tls *served = &fx->conn[0], *early = &fx->conn[1];
	struct h_tls_opts o;
	size_t len;

	snprintf(ca1, sizeof(ca1), "%s/ca1", fx->dir);
	snprintf(ca2, sizeof(ca2), "%s/ca2", fx->dir);
	snprintf(crl, sizeof(crl), "%s/crl.pem", ca1);
	assert_int_equal(h_copy_dir(certs, ca1), 0);
	char *older = h_read_file(crl, &len);
	assert_non_null(older);
	assert_int_equal(
	    h_certs_script("crl.sh", (const char *const[]){ca1, NULL}), 0);
	start_daemon(fx, ca1);
	assert_int_equal(
	    h_tls_connect_hello(served, fx->d.port, ca1, "ggz-test"), 0);
	h_tls_opts_org(&o, ca1, "gm0363");
	assert_int_equal(h_tls_connect(early, fx->d.port, &o), 0);
	assert_int_equal(
	    h_certs_script(
		"ca.sh",
		(const char *const[]){ca2, "--name", "ipsnet test CA 2", NULL}),
	    0);
	assert_int_equal(
	    h_certs_script("server-cert.sh",
			   (const char *const[]){ca2, "server", NULL}),
	    0);
	assert_int_equal(
	    h_certs_script("org-cert.sh",
			   (const char *const[]){ca2, "ggz-test", NULL}),
	    0);
	assert_int_equal(h_write_config(fx->dir, ca2, daemon_settings), 0);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=reloaded ", H_DAEMON_START_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload to a new CA was not taken");
	}
	assert_error_then_closed(served, IPSNET__V1__CODE__UNAUTHENTICATED);
	assert_true(h_daemon_wait_log(&fx->d, "outcome=untrusted", H_TLS_MS));
	assert_int_equal(h_tls_hello(early, "test.user", NULL),
			 IPSNET__V1__CODE__UNAUTHENTICATED);
	run_cli_as(fx, ca2, "ggz-test", "ping", NULL, EXIT_OK);
	run_cli_as(fx, ca1, "ggz-test", "ping", NULL, EXIT_CONNECT);

	/* Back to the first CA with an older CRL of its own: refused, as
	 * without the other CA in between. Was: only the last CA's number
	 * was kept (found by a review). */
	FILE *f = fopen(crl, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(older, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(older);
	assert_int_equal(h_write_config(fx->dir, ca1, daemon_settings), 0);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=\"reload failed\"",
			       H_DAEMON_START_MS) ||
	    !h_daemon_log_contains(&fx->d, "served before")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the first CA's older CRL was taken");
	}
	run_cli_as(fx, ca2, "ggz-test", "ping", NULL, EXIT_OK);
}

/* A reload with no CRL, then one with a CRL older than the one served
 * before it: refused. Was: the CRL in use was the only one compared, and
 * with none in use the older one was taken, and kept as the one served
 * (found by a review). */
static void test_a_reload_without_a_crl_keeps_the_number_served(void **state)
{
	struct fx *fx = *state;
	char ca[PATH_MAX], crl[PATH_MAX + 16], no_crl[PATH_MAX + 32];
	size_t len;

	snprintf(ca, sizeof(ca), "%s/certs", fx->dir);
	snprintf(crl, sizeof(crl), "%s/crl.pem", ca);
	assert_int_equal(h_copy_dir(certs, ca), 0);
	char *older = h_read_file(crl, &len);
	assert_non_null(older);
	assert_int_equal(
	    h_certs_script("crl.sh", (const char *const[]){ca, NULL}), 0);
	start_daemon(fx, ca);
	/* The file with "crl =": none. */
	char *conf = h_read_file(fx->d.conf, &len);
	assert_non_null(conf);
	snprintf(no_crl, sizeof(no_crl), "crl = %s\n", crl);
	char *at = strstr(conf, no_crl);
	assert_non_null(at);
	memmove(at + strlen("crl =\n"), at + strlen(no_crl),
		strlen(at + strlen(no_crl)) + 1);
	memcpy(at, "crl =\n", strlen("crl =\n"));
	write_config(fx, conf);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	assert_true(h_daemon_wait_log(&fx->d,
				      "msg=reloaded organisations=4 "
				      "crl=-",
				      H_DAEMON_START_MS));

	FILE *f = fopen(crl, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(older, 1, strlen(older), f), strlen(older));
	assert_int_equal(fclose(f), 0);
	free(older);
	assert_int_equal(h_write_config(fx->dir, ca, daemon_settings), 0);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=\"reload failed\"",
			       H_DAEMON_START_MS) ||
	    !h_daemon_log_contains(&fx->d, "served before")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the older CRL was taken after one without a CRL");
	}
}

/* Sends SIGHUP, waits for the reload, then says Hello on c (whose
 * handshake came before the reload): it must be refused UNAUTHENTICATED
 * and closed; who says what c is. */
static void reload_then_hello_is_refused(struct fx *fx, struct h_tls *c,
					 const char *who)
{
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	assert_true(
	    h_daemon_wait_log(&fx->d, "msg=reloaded", H_DAEMON_START_MS));
	int code = h_tls_hello(c, "test.user", NULL);
	if (code != IPSNET__V1__CODE__UNAUTHENTICATED)
		fail_msg("Hello with %s was answered %d: %s", who, code,
			 c->error);
	assert_true(h_tls_read_closed(c, H_TLS_MS));
}

/* A connection whose TLS handshake was done before a SIGHUP that revokes
 * its certificate, and which says Hello only after the reload, is refused
 * at Hello: the reload cuts off served connections, and one that is not
 * served yet must not slip through. */
static void
test_hello_after_a_reload_that_revoked_the_certificate_is_refused(void **state)
{
	struct fx *fx = *state;
	char ca_dir[PATH_MAX], cert[PATH_MAX];
	struct h_tls_opts o;
	struct h_tls *c = &fx->conn[0];

	snprintf(ca_dir, sizeof(ca_dir), "%s/certs", fx->dir);
	snprintf(cert, sizeof(cert), "%s/gm0363.crt", ca_dir);
	assert_int_equal(h_copy_dir(certs, ca_dir), 0);
	start_daemon(fx, ca_dir);
	h_tls_opts_org(&o, ca_dir, "gm0363");
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), 0);
	assert_int_equal(
	    h_certs_script("revoke.sh",
			   (const char *const[]){ca_dir, cert, NULL}),
	    0);
	reload_then_hello_is_refused(
	    fx, c, "a certificate revoked since the handshake");
	assert_true(h_daemon_wait_log(&fx->d, "outcome=revoked", H_TLS_MS));
}

/* A reload never takes an older CRL than the one in use (a copy put back
 * by mistake, or to undo a revocation): it fails, naming both numbers, and
 * the revoked certificate stays refused. */
static void test_sighup_with_an_older_crl_keeps_the_newer(void **state)
{
	struct fx *fx = *state;
	char ca_dir[PATH_MAX], cert[PATH_MAX + 16], crl[PATH_MAX + 16];
	size_t len;
	struct h_tls t;

	snprintf(ca_dir, sizeof(ca_dir), "%s/certs", fx->dir);
	snprintf(cert, sizeof(cert), "%s/gm0363.crt", ca_dir);
	snprintf(crl, sizeof(crl), "%s/crl.pem", ca_dir);
	assert_int_equal(h_copy_dir(certs, ca_dir), 0);
	char *older = h_read_file(crl, &len);
	assert_non_null(older);
	assert_int_equal(
	    h_certs_script("revoke.sh",
			   (const char *const[]){ca_dir, cert, NULL}),
	    0);
	start_daemon(fx, ca_dir);
	assert_int_not_equal(
	    h_tls_connect_hello(&t, fx->d.port, ca_dir, "gm0363"), 0);
	h_tls_close(&t);

	FILE *f = fopen(crl, "w");
	assert_non_null(f);
	assert_int_equal(fwrite(older, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	free(older);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=\"reload failed\"",
			       H_DAEMON_START_MS) ||
	    !h_daemon_log_contains(&fx->d, "older than number") ||
	    !h_daemon_log_contains(&fx->d, "a CRL never goes back") ||
	    !h_daemon_log_contains(&fx->d, "kept=previous")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the older CRL was not refused with a sentence");
	}
	assert_int_not_equal(
	    h_tls_connect_hello(&t, fx->d.port, ca_dir, "gm0363"), 0);
	h_tls_close(&t);
	assert_int_equal(
	    h_tls_connect_hello(&t, fx->d.port, ca_dir, "ggz-test"), 0);
	h_tls_close(&t);

	/* Nor does a start take it (it lets gm0363 in again): exit 2, with
	 * why. Was: a restart served it without a word (found by a
	 * review). A newer CRL starts, and gm0363 stays out. */
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	/* ... and it changes nothing: not the registry the file changed
	 * (was: written before the CRL was checked; found by a review). */
	remove_gm0363_from_config(fx);
	int code = h_run_ipsnetd(
	    &fx->r, (const char *const[]){"--config", fx->d.conf, NULL});
	if (code != 2 || strstr(fx->r.err, "older than number") == NULL ||
	    strstr(fx->r.err, "a CRL never goes back") == NULL) {
		print_result(&fx->r);
		fail_msg("a start with the older CRL exited %d", code);
	}
	char db[PATH_MAX + 16];
	snprintf(db, sizeof(db), "%s/ipsnet.db", fx->dir);
	assert_true(active_in_database(db, "gm0363"));
	assert_int_equal(
	    h_certs_script("crl.sh", (const char *const[]){ca_dir, NULL}), 0);
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	assert_int_not_equal(
	    h_tls_connect_hello(&t, fx->d.port, ca_dir, "gm0363"), 0);
	h_tls_close(&t);
}

/* A connection outlives the certificate its handshake judged (a sync
 * --follow runs for months): once the certificate has ended, its next
 * request is answered UNAUTHENTICATED with the date and the connection
 * closes (outcome=expired); another connection goes on. The certificate
 * is made once the daemon runs, to last BRIEF_LIFE_S; a run in which the
 * handshake and a Ping took longer than that (a loaded machine under the
 * sanitizers) says nothing, and is made again with one that lasts twice
 * as long. Was: made before the daemon started, to last 8 s, which a
 * daemon's start under TSan can take on its own. */
#define BRIEF_LIFE_S 8
#define BRIEF_LIFE_MAX_S 64

static void test_a_connection_ends_with_its_certificate(void **state)
{
	struct fx *fx = *state;
	char ca_dir[PATH_MAX], start[32], end[32], name[32];
	struct h_tls *c = &fx->conn[0];
	time_t until;
	struct tm tm;

	snprintf(ca_dir, sizeof(ca_dir), "%s/certs", fx->dir);
	assert_int_equal(h_copy_dir(certs, ca_dir), 0);
	start_daemon(fx, ca_dir);
	for (int life = BRIEF_LIFE_S;; life *= 2) {
		time_t now = time(NULL);
		until = now + life;
		gmtime_r(&(time_t){now - 3600}, &tm);
		strftime(start, sizeof(start), "%Y%m%d%H%M%SZ", &tm);
		gmtime_r(&until, &tm);
		strftime(end, sizeof(end), "%Y%m%d%H%M%SZ", &tm);
		snprintf(name, sizeof(name), "brief-%d", life);
		assert_int_equal(h_certs_script("org-cert.sh",
						(const char *const[]){
						    ca_dir, "uwv", "--out",
						    name, "--startdate", start,
						    "--enddate", end, NULL}),
				 0);
		if (h_tls_connect_hello(c, fx->d.port, ca_dir, name) == 0 &&
		    h_tls_ping(c, 1))
			break;
		if (time(NULL) <= until || life >= BRIEF_LIFE_MAX_S)
			fail_msg("the brief certificate (%d s): %s", life,
				 c->error);
		fprintf(stderr,
			"the certificate of %d s ended before a Ping was "
			"answered; again with %d s\n",
			life, 2 * life);
		h_tls_close(c);
	}
	if (h_tls_connect_hello(&fx->good, fx->d.port, ca_dir, "ggz-test") != 0)
		fail_msg("good connection: %s", fx->good.error);

	/* Past its end (the time has whole seconds). */
	while (time(NULL) <= until)
		nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Ping p = IPSNET__V1__PING__INIT;
	e.request_id = 2;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_PING;
	e.ping = &p;
	assert_int_equal(h_tls_send_envelope(c, &e), 0);
	assert_error_then_closed(c, IPSNET__V1__CODE__UNAUTHENTICATED);
	assert_true(h_daemon_wait_log(&fx->d, "outcome=expired", H_TLS_MS));
	assert_true(
	    h_daemon_log_contains(&fx->d, "your certificate expired on"));
	assert_good_connection_served(fx, 3);
}

/* Writes conf (read with h_read_file and edited; freed here) back as the
 * daemon's config file. */
static void write_config(struct fx *fx, char *conf)
{
	FILE *f = fopen(fx->d.conf, "w");
	assert_non_null(f);
	fputs(conf, f);
	free(conf);
	assert_int_equal(fclose(f), 0);
}

/* Puts to (of the same length) for the first from in the daemon's config. */
static void config_replace(struct fx *fx, const char *from, const char *to)
{
	size_t len;
	char *conf = h_read_file(fx->d.conf, &len);
	assert_non_null(conf);
	char *at = strstr(conf, from);
	assert_non_null(at);
	assert_int_equal(strlen(from), strlen(to));
	memcpy(at, to, strlen(to));
	write_config(fx, conf);
}

/* Takes the [organisation gm0363] section out of the daemon's config. */
static void remove_gm0363_from_config(struct fx *fx)
{
	size_t len;
	char *conf = h_read_file(fx->d.conf, &len);
	assert_non_null(conf);
	char *from = strstr(conf, "[organisation gm0363]");
	char *to = from != NULL ? strstr(from, "[organisation uwv]") : NULL;
	if (to == NULL) {
		free(conf);
		fail_msg("no gm0363 section before uwv in %s", fx->d.conf);
	}
	memmove(from, to, strlen(to) + 1);
	write_config(fx, conf);
}

/* An organisation taken out of the config, or put back, before a restart
 * is taken as a reload takes it, and the log names it. Was: the registry
 * was read from the database alone, and changed only at init or a SIGHUP
 * (found by a review): the removed organisation kept being served. */
static void test_a_restart_takes_the_configs_organisations(void **state)
{
	struct fx *fx = *state;
	size_t len;

	start_daemon(fx, certs);
	run_cli_as(fx, certs, "gm0363", "whoami", NULL, EXIT_OK);
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	remove_gm0363_from_config(fx);
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	if (!h_daemon_log_contains(&fx->d, "msg=\"registry updated from the "
					   "config\" organisations=3 "
					   "removed=gm0363\n")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the start does not name the organisation removed");
	}
	run_cli_as(fx, certs, "gm0363", "whoami", NULL, EXIT_UNAUTH);
	run_cli_as(fx, certs, "ggz-test", "ping", NULL, EXIT_OK);

	/* Put back: served again. */
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	assert_int_equal(h_write_config(fx->dir, certs, daemon_settings), 0);
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	assert_true(h_daemon_log_contains(&fx->d, "organisations=4 "
						  "added=gm0363\n"));
	run_cli_as(fx, certs, "gm0363", "whoami", NULL, EXIT_OK);

	/* A start with the registry unchanged writes nothing and says
	 * nothing of it. */
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	char *log = h_read_file(fx->d.log, &len);
	assert_non_null(log);
	const char *last = strstr(log, "added=gm0363\n");
	bool again = last == NULL || strstr(last, "registry updated") != NULL;
	free(log);
	assert_false(again);
}

/* The same for an organisation taken out of the config before the SIGHUP:
 * a connection that did its handshake before is refused at Hello. */
static void
test_hello_after_a_reload_that_removed_the_organisation_is_refused(void **state)
{
	struct fx *fx = *state;
	struct h_tls_opts o;
	struct h_tls *c = &fx->conn[0];

	start_daemon(fx, certs);
	h_tls_opts_org(&o, certs, "gm0363");
	assert_int_equal(h_tls_connect(c, fx->d.port, &o), 0);
	remove_gm0363_from_config(fx);
	reload_then_hello_is_refused(
	    fx, c, "an organisation removed since the handshake");
	/* The log names what the reload changed. */
	assert_true(h_daemon_log_contains(
	    &fx->d, "msg=reloaded organisations=3 removed=gm0363 crl="));
}

/* A SIGHUP that changes an organisation's kind (an operator correcting a
 * registration) takes the old kind away from the connections served
 * before it too: they hold a copy of the registration made at Hello, and
 * must not act with it after the reload. Here ggz-test becomes NETWORK,
 * which registers no clients. */
static void
test_a_connection_does_not_keep_a_kind_the_reload_took_away(void **state)
{
	struct fx *fx = *state;
	struct h_tls *c = &fx->conn[0];
	static const char ggz[] = "[organisation ggz-test]\nkind = GGZ\n";
	static const char network[] =
	    "[organisation ggz-test]\nkind = NETWORK\n";
	size_t len;

	start_daemon(fx, certs);
	if (h_tls_connect_hello(&fx->good, fx->d.port, certs, "uwv") != 0)
		fail_msg("good connection: %s", fx->good.error);
	if (h_tls_connect_hello(c, fx->d.port, certs, "ggz-test") != 0)
		fail_msg("connection before the reload: %s", c->error);
	char *conf = h_read_file(fx->d.conf, &len);
	assert_non_null(conf);
	char *at = strstr(conf, ggz);
	assert_non_null(at);
	char *changed = malloc(len + sizeof(network));
	assert_non_null(changed);
	snprintf(changed, len + sizeof(network), "%.*s%s%s", (int)(at - conf),
		 conf, network, at + strlen(ggz));
	free(conf);
	write_config(fx, changed);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	assert_true(
	    h_daemon_wait_log(&fx->d, "msg=reloaded", H_DAEMON_START_MS));
	assert_string_equal(json_str(whoami_json(fx, "ggz-test"), "kind"),
			    "NETWORK");

	Ipsnet__V1__RegisterClient m = IPSNET__V1__REGISTER_CLIENT__INIT;
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	uint8_t key[16] = {0x52, 0x65, 0x6c, 0x6f, 0x61, 0x64};
	m.bsn = "111222333";
	m.name = "Testpersoon Herladen";
	m.birth_date = "1985-04-12";
	m.municipality = "GM0363";
	m.benefit = IPSNET__V1__BENEFIT__BENEFIT_PARTICIPATIEWET;
	e.request_id = 5;
	e.idempotency_key.data = key;
	e.idempotency_key.len = sizeof(key);
	e.body_case = IPSNET__V1__ENVELOPE__BODY_REGISTER_CLIENT;
	e.register_client = &m;
	(void)h_tls_send_envelope(c, &e);
	Ipsnet__V1__Envelope *r;
	while ((r = h_tls_recv_envelope(c, H_TLS_MS)) != NULL) {
		bool registered = r->request_id == 5 && r->status != NULL &&
				  r->status->code == IPSNET__V1__CODE__OK;
		bool answered = r->request_id == 5;
		h_envelope_free(r);
		if (registered)
			fail_msg("a connection made as GGZ registered a client "
				 "after the reload made its organisation "
				 "NETWORK");
		if (answered)
			break;
	}
	assert_good_connection_served(fx, 2);
}

/* A SIGHUP after "crl =" was emptied in the config turns revocation off:
 * the "reloaded" line says there is no CRL (not the file it had) and warns
 * as the start does. */
static void test_sighup_without_a_crl_says_so(void **state)
{
	struct fx *fx = *state;
	size_t len;

	start_daemon(fx, certs);
	char *conf = h_read_file(fx->d.conf, &len);
	assert_non_null(conf);
	char *line = strstr(conf, "\ncrl = ");
	char *end = line != NULL ? strchr(line + 1, '\n') : NULL;
	if (end == NULL) {
		free(conf);
		fail_msg("no crl line in %s", fx->d.conf);
	}
	memmove(line + strlen("\ncrl ="), end, strlen(end) + 1);
	write_config(fx, conf);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	/* The warning is the reload's last line: wait for it, not for
	 * "reloaded", which the daemon writes before it. */
	if (!h_daemon_wait_log(&fx->d, "msg=\"no CRL configured\" ",
			       H_DAEMON_START_MS) ||
	    !h_daemon_log_contains(&fx->d, "msg=reloaded ") ||
	    !h_daemon_log_contains(&fx->d, "crl=-\n")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload does not say that no CRL is used");
	}
	/* The CRL is reloaded: nothing waits for a restart. */
	assert_false(
	    h_daemon_log_contains(&fx->d, "msg=\"settings not reloaded\""));
}

/* A reload applies the organisations, certificates and CRL; a limit
 * changed in the file waits for the next start, and the log says which. */
static void test_sighup_names_the_settings_it_does_not_apply(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	config_replace(fx, "max_frame_bytes = 4096", "max_frame_bytes = 8192");
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=\"settings not reloaded\"",
			       H_DAEMON_START_MS) ||
	    !h_daemon_log_contains(&fx->d, "changed=max_frame_bytes ")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload does not name the limit it left");
	}
}

/* Runs ipsnetd reload on the test daemon's config, expecting code. */
static void run_reload(struct fx *fx, int code)
{
	h_result_free(&fx->r);
	int got =
	    h_run_ipsnetd(&fx->r, (const char *const[]){"reload", "--config",
							fx->d.conf, NULL});
	if (got != code) {
		print_result(&fx->r);
		h_daemon_dump_log(&fx->d);
		fail_msg("ipsnetd reload: exit %d, not %d", got, code);
	}
}

/* `ipsnetd reload` (systemctl reload's command) sends the SIGHUP and says
 * how the reload went, with its exit code: what it did and what waits for
 * a start, a failure with the daemon's reason, and a daemon that is not
 * there. Was: the unit's kill -HUP, which succeeds whatever the daemon
 * makes of it; a config with an error was "reloaded" for systemctl. */
static void test_ipsnetd_reload_says_how_the_reload_went(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	run_reload(fx, 0);
	assert_non_null(strstr(fx->r.out, "reloaded"));
	assert_non_null(strstr(fx->r.out, "organisations=4"));

	config_replace(fx, "max_frame_bytes = 4096", "max_frame_bytes = 8192");
	run_reload(fx, 0);
	assert_non_null(
	    strstr(fx->r.out, "for the next start: max_frame_bytes"));

	/* A CRL that is not there: the daemon's reason. */
	config_replace(fx, "/crl.pem", "/crl.pex");
	run_reload(fx, 1);
	if (strstr(fx->r.err, "reload failed") == NULL ||
	    strstr(fx->r.err, "crl.pex") == NULL ||
	    strstr(fx->r.err, "previous settings are kept") == NULL) {
		print_result(&fx->r);
		fail_msg("the failed reload is not said with its reason");
	}
	run_cli_as(fx, certs, "ggz-test", "ping", NULL, EXIT_OK);

	/* A file that does not parse is refused before the signal, as the
	 * daemon would refuse it, with its line. */
	config_replace(fx, "max_frame_bytes = 8192", "max_frame_bytes = 8x92");
	run_reload(fx, 2);
	assert_non_null(strstr(fx->r.err, "max_frame_bytes"));

	assert_int_equal(h_write_config(fx->dir, certs, daemon_settings), 0);
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	run_reload(fx, 3);
	assert_non_null(strstr(fx->r.err, "no ipsnetd serves"));
}

/* A listen address changed in the file waits for the next start (the
 * listener is bound), and the reload names it with the others.
 *
 * Daemon bug (failed before the fix): listen was left out of the names, as
 * --listen may set it, so a changed address that was not applied went
 * unsaid although no --listen was given. */
static void test_sighup_names_a_changed_listen_address(void **state)
{
	struct fx *fx = *state;
	size_t len;

	start_daemon(fx, certs);
	char *conf = h_read_file(fx->d.conf, &len);
	assert_non_null(conf);
	char *v = strstr(conf, "listen = 127.0.0.1:0\n");
	if (v == NULL) {
		free(conf);
		fail_msg("no listen line in %s", fx->d.conf);
	}
	memcpy(v, "listen = 127.0.0.2:0", strlen("listen = 127.0.0.2:0"));
	write_config(fx, conf);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=\"settings not reloaded\"",
			       H_DAEMON_START_MS) ||
	    !h_daemon_log_contains(&fx->d, "changed=listen ")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload does not name the listen address it left");
	}
}

/* Sets the daemon's config file's log_level (the file has none at first:
 * the default, info). */
static void set_log_level_in_config(struct fx *fx, const char *level)
{
	size_t len;
	char *conf = h_read_file(fx->d.conf, &len);
	assert_non_null(conf);
	char *line = strstr(conf, "\nlog_level = ");
	char *rest = line != NULL ? strchr(line + 1, '\n')
				  : strstr(conf, "\nmax_frame_bytes = ");
	if (rest == NULL) {
		free(conf);
		fail_msg("no [server] line to put log_level next to in %s",
			 fx->d.conf);
	}
	char *changed = malloc(len + 64);
	assert_non_null(changed);
	snprintf(changed, len + 64, "%.*s\nlog_level = %s%s",
		 (int)((line != NULL ? line : rest) - conf), conf, level, rest);
	free(conf);
	write_config(fx, changed);
}

/* `ipsnetd reload` prints a log level it took from the file, as the
 * daemon's reloaded line names it: the operator who raised it to debug
 * sees that it was taken.
 *
 * Daemon bug (failed before the fix): the answer named the organisations
 * and what waits for a start, not the level reloaded. */
static void test_ipsnetd_reload_names_the_log_level_it_took(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	set_log_level_in_config(fx, "debug");
	run_reload(fx, 0);
	if (strstr(fx->r.out, "log_level=debug") == NULL) {
		print_result(&fx->r);
		fail_msg("ipsnetd reload does not name the level it took");
	}
	/* Unchanged: not named again. */
	run_reload(fx, 0);
	assert_null(strstr(fx->r.out, "log_level="));
}

/* The config's log_level is taken on SIGHUP, as an operator who sets it
 * and reloads expects, and the reload's line names the level now in force.
 *
 * Daemon bug (failed before the fix): the reload left log_level out, so
 * the level stayed the one of the start until a restart. */
static void test_sighup_applies_the_log_level_of_the_file(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	set_log_level_in_config(fx, "warn");
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=reloaded ", H_DAEMON_START_MS) ||
	    !h_daemon_wait_log(&fx->d, " log_level=warn\n",
			       H_DAEMON_START_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload does not say the level is now warn");
	}
	/* At warn the shutdown's info lines are not written: the daemon has
	 * exited, so its log is whole. */
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	if (h_daemon_log_contains(&fx->d, "msg=\"signal received\"") ||
	    h_daemon_log_contains(&fx->d, "msg=stopped")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("info lines were written after log_level = warn was "
			 "reloaded");
	}
}

/* A level lowered from warn to info by a reload is said too: the reload's
 * line comes at the new level, not the old one that hides it.
 *
 * Daemon bug (failed before the fix): the line was written at warn, the
 * level before, so the operator saw no sign that info was taken. */
static void test_sighup_says_a_log_level_lowered_to_info(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	set_log_level_in_config(fx, "warn");
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, " log_level=warn\n",
			       H_DAEMON_START_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload does not say the level is now warn");
	}
	set_log_level_in_config(fx, "info");
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, " log_level=info\n",
			       H_DAEMON_START_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload does not say the level is info again");
	}
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	assert_true(h_daemon_log_contains(&fx->d, "msg=stopped"));
}

/* A --log-level given on the command line stays over the file's on
 * SIGHUP, and the reload says so. */
static void test_sighup_keeps_the_log_level_of_the_command_line(void **state)
{
	struct fx *fx = *state;

	start_daemon(fx, certs);
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	fx->d.log_level = "info";
	assert_int_equal(h_daemon_restart(&fx->d), 0);
	set_log_level_in_config(fx, "warn");
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d,
			       "msg=\"log level not reloaded\" log_level=info "
			       "file=warn ",
			       H_DAEMON_START_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload does not say --log-level info stays");
	}
	assert_false(h_daemon_log_contains(&fx->d, " log_level=warn\n"));
	assert_int_equal(h_daemon_stop(&fx->d, SIGTERM), 0);
	/* The first run's "stopped" is in the log too: this run's comes
	 * after the reload. */
	size_t len;
	char *log = h_read_file(fx->d.log, &len);
	assert_non_null(log);
	const char *reload = strstr(log, "msg=\"log level not reloaded\"");
	bool stopped = reload != NULL && strstr(reload, "msg=stopped") != NULL;
	free(log);
	if (!stopped) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the file's warn was taken over --log-level info");
	}
}

/* A reload writes the organisations into the database the daemon serves,
 * whatever database the file names now: that one is a setting that waits
 * for the next start, and the log says so.
 *
 * Daemon bug (failed before the fix): the reload made the file's new
 * database (folder and all), wrote the registry there without taking its
 * lock, and admitted the organisations read back from it, while the
 * journal went on in the database served, whose registry never had the
 * organisation that was let in. */
static void
test_sighup_writes_the_registry_into_the_database_served(void **state)
{
	struct fx *fx = *state;
	char db_path[PATH_MAX], elsewhere[PATH_MAX], line[PATH_MAX + 16];
	size_t len;
	sqlite3 *db;
	sqlite3_stmt *st;

	start_daemon(fx, certs);
	snprintf(db_path, sizeof(db_path), "%s/ipsnet.db", fx->dir);
	snprintf(elsewhere, sizeof(elsewhere), "%s/elsewhere", fx->dir);
	char *conf = h_read_file(fx->d.conf, &len);
	assert_non_null(conf);
	snprintf(line, sizeof(line), "database = %s\n", db_path);
	char *at = strstr(conf, line);
	if (at == NULL) {
		free(conf);
		fail_msg("no '%s' in %s", line, fx->d.conf);
	}
	size_t cap = len + PATH_MAX + 128;
	char *changed = malloc(cap);
	assert_non_null(changed);
	snprintf(changed, cap,
		 "%.*sdatabase = %s/ipsnet.db\n%s\n"
		 "[organisation ggz-late]\nkind = GGZ\n"
		 "name = GGZ Late\nregion = 2\n",
		 (int)(at - conf), conf, elsewhere, at + strlen(line));
	free(conf);
	write_config(fx, changed);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=\"settings not reloaded\"",
			       H_DAEMON_START_MS) ||
	    !h_daemon_log_contains(&fx->d, "msg=reloaded organisations=5 ") ||
	    !h_daemon_log_contains(&fx->d, "changed=database ")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload does not say the database waits");
	}
	if (access(elsewhere, F_OK) == 0)
		fail_msg("the reload made %s", elsewhere);
	assert_int_equal(
	    sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL),
	    SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM organisation "
					    "WHERE id = 'ggz-late' AND active",
					    -1, &st, NULL),
			 SQLITE_OK);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int late = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	sqlite3_close(db);
	if (late != 1)
		fail_msg("ggz-late, admitted by the reload, is not in the "
			 "registry of the database served");
}

/* Whether organisation id is active in the registry of the database at
 * path (read while the daemon serves it). */
static bool active_in_database(const char *path, const char *id)
{
	sqlite3 *db;
	sqlite3_stmt *st;
	assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL),
			 SQLITE_OK);
	sqlite3_busy_timeout(db, 5000);
	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM organisation "
					    "WHERE id = ?1 AND active",
					    -1, &st, NULL),
			 SQLITE_OK);
	sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	bool active = sqlite3_column_int(st, 0) == 1;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return active;
}

/* A reload that fails keeps the previous registry in the database too,
 * not in memory alone: a restart (which reads the registry from the
 * database) after the operator put the old config back admits what the
 * log said was kept.
 *
 * Daemon bug (failed before the fix): the registry was written into the
 * database before the certificates were loaded, so a reload that failed on
 * a certificate ("reload failed ... kept=previous") had already marked
 * gm0363 inactive there, and the next start refused it. */
static void
test_sighup_that_fails_leaves_the_registry_in_the_database(void **state)
{
	struct fx *fx = *state;
	char db_path[PATH_MAX], line[PATH_MAX + 16];
	size_t len;

	start_daemon(fx, certs);
	snprintf(db_path, sizeof(db_path), "%s/ipsnet.db", fx->dir);
	remove_gm0363_from_config(fx);
	char *conf = h_read_file(fx->d.conf, &len);
	assert_non_null(conf);
	snprintf(line, sizeof(line), "cert = %s/server.crt\n", certs);
	char *at = strstr(conf, line);
	if (at == NULL) {
		free(conf);
		fail_msg("no '%s' in %s", line, fx->d.conf);
	}
	/* Same length: cert names a file that is not there. */
	memcpy(at + strlen(line) - strlen("server.crt\n"), "nothing.crt",
	       strlen("nothing.crt"));
	write_config(fx, conf);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	if (!h_daemon_wait_log(&fx->d, "msg=\"reload failed\"",
			       H_DAEMON_START_MS) ||
	    !h_daemon_log_contains(&fx->d, "kept=previous")) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the reload did not fail on the missing certificate");
	}
	if (!active_in_database(db_path, "gm0363"))
		fail_msg("the reload that failed took gm0363 out of the "
			 "database's registry");
	run_cli_as(fx, certs, "gm0363", "whoami", NULL, EXIT_OK);
}

/* A SIGHUP that comes while a reload runs is not lost: the running reload
 * may have read the config before it changed, so another one follows. The
 * first reload is held up by a write lock on the database (it writes the
 * registry; SQLite waits up to 5 s for the lock). */
static void test_sighup_during_a_reload_is_not_lost(void **state)
{
	struct fx *fx = *state;
	char db_path[PATH_MAX];
	sqlite3 *db;

	start_with_good_connection(fx);
	snprintf(db_path, sizeof(db_path), "%s/ipsnet.db", fx->dir);
	assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL),
			 SQLITE_OK);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	assert_true(h_daemon_wait_log(&fx->d, "msg=reloading", H_TLS_MS));
	remove_gm0363_from_config(fx);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	/* Two turns of the daemon's loop after the signal was sent: it has
	 * seen it. */
	assert_good_connection_served(fx, 2);
	assert_good_connection_served(fx, 3);
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
			 SQLITE_OK);
	sqlite3_close(db);
	if (!h_daemon_wait_log(&fx->d, "msg=reloaded organisations=3",
			       H_DAEMON_START_MS)) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the second SIGHUP was not acted on");
	}
	run_cli_as(fx, certs, "gm0363", "whoami", NULL, EXIT_UNAUTH);
}

/* How many times the daemon's log holds needle. */
static int log_count(const struct h_daemon *d, const char *needle)
{
	char *log = h_read_file(d->log, NULL);
	int n = 0;
	for (const char *at = log; at != NULL && (at = strstr(at, needle));
	     at += strlen(needle))
		n++;
	free(log);
	return n;
}

/* Waits (H_DAEMON_START_MS) until the log holds needle n times. */
static bool wait_log_count(const struct h_daemon *d, const char *needle, int n)
{
	for (int i = 0; i < H_DAEMON_START_MS / 10; i++) {
		if (log_count(d, needle) >= n)
			return true;
		nanosleep(&(struct timespec){.tv_nsec = 10000000}, NULL);
	}
	return log_count(d, needle) >= n;
}

/* A server certificate or CRL that ends within two weeks is announced at
 * start and at each reload, with the file, the date, the days left and
 * what to do: once it ends every client is refused. A reload that brings
 * a fresh CRL announces the certificate alone. */
static void test_the_end_of_the_certificate_and_crl_is_announced(void **state)
{
	struct fx *fx = *state;
	char dir[PATH_MAX], cert_line[PATH_MAX + 32], key_line[PATH_MAX + 32];
	static const char cert_warn[] =
	    "level=warn msg=\"certificate or CRL expires soon\" what=\"server "
	    "certificate\"";
	static const char crl_warn[] =
	    "level=warn msg=\"certificate or CRL expires soon\" what=\"CRL\"";

	snprintf(dir, sizeof(dir), "%s", h_tmpdir());
	assert_int_equal(h_make_certs(dir), 0);
	assert_int_equal(h_certs_script("server-cert.sh",
					(const char *const[]){
					    dir, "short", "--days", "3", NULL}),
			 0);
	assert_int_equal(
	    h_certs_script("crl.sh",
			   (const char *const[]){dir, "--days", "2", NULL}),
	    0);
	assert_int_equal(h_write_config(fx->dir, dir, daemon_settings), 0);
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/ipsnetd.conf", fx->dir);
	char *conf = h_read_file(path, NULL);
	assert_non_null(conf);
	snprintf(cert_line, sizeof(cert_line), "cert = %s/server.crt\n", dir);
	snprintf(key_line, sizeof(key_line), "key = %s/server.key\n", dir);
	char *c = strstr(conf, cert_line), *k = strstr(conf, key_line);
	assert_non_null(c);
	assert_non_null(k);
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fprintf(f, "%.*scert = %s/short.crt\n%.*skey = %s/short.key\n%s",
		(int)(c - conf), conf, dir, (int)(k - c - strlen(cert_line)),
		c + strlen(cert_line), dir, k + strlen(key_line));
	assert_int_equal(fclose(f), 0);
	free(conf);
	assert_int_equal(h_daemon_start(&fx->d, fx->dir), 0);

	assert_true(wait_log_count(&fx->d, crl_warn, 1));
	assert_true(wait_log_count(&fx->d, cert_warn, 1));
	/* Whole days left: 3 (or 2, a second later) and 2 (or 1). */
	if (!h_daemon_log_contains(&fx->d, "short.crt expires=") ||
	    (!h_daemon_log_contains(&fx->d, "days_left=3 detail=\"then every "
					    "client is refused: issue a new "
					    "one with certs/server-cert.sh") &&
	     !h_daemon_log_contains(&fx->d, "days_left=2 detail=\"then every "
					    "client is refused: issue a new "
					    "one with certs/server-cert.sh")) ||
	    !h_daemon_log_contains(&fx->d, "crl.pem expires=") ||
	    (!h_daemon_log_contains(&fx->d, "days_left=2 detail=\"then every "
					    "client is refused: write a new "
					    "one with certs/crl.sh") &&
	     !h_daemon_log_contains(&fx->d, "days_left=1 detail=\"then every "
					    "client is refused: write a new "
					    "one with certs/crl.sh"))) {
		h_daemon_dump_log(&fx->d);
		fail_msg("the start does not announce the end of both");
	}
	/* Clients are served meanwhile. */
	struct h_tls t;
	assert_int_equal(h_tls_connect_hello(&t, fx->d.port, dir, "ggz-test"),
			 0);
	h_tls_close(&t);

	assert_int_equal(
	    h_certs_script("crl.sh", (const char *const[]){dir, NULL}), 0);
	assert_int_equal(kill(h_daemon_pid(&fx->d), SIGHUP), 0);
	assert_true(wait_log_count(&fx->d, cert_warn, 2));
	assert_true(h_daemon_log_contains(&fx->d, "msg=reloaded "));
	assert_int_equal(log_count(&fx->d, crl_warn), 1);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
	    T(test_whoami_json_names_ggz_test_as_ggz),
	    T(test_whoami_json_names_gm0363_as_municipality),
	    T(test_whoami_text_names_organisation_and_kind),
	    T(test_ping_exits_0),
	    T(test_no_client_certificate_is_refused),
	    T(test_certificate_of_another_ca_is_refused),
	    T(test_expired_certificate_is_refused),
	    T(test_revoked_certificate_is_refused),
	    T(test_certificate_not_yet_valid_is_refused),
	    T(test_certificate_not_in_registry_is_refused),
	    T(test_certificate_naming_two_organisations_is_refused),
	    T(test_tls12_only_client_fails_the_handshake),
	    T(test_tls12_client_offering_its_last_session_is_served),
	    T(test_an_alert_after_hello_is_logged_as_it_is),
	    T(test_server_certificate_of_another_ca_exits_3),
	    T(test_no_daemon_listening_exits_3),
	    T(test_oversize_frame_closes_only_that_connection),
	    T(test_garbage_after_handshake_closes_only_that_connection),
	    T(test_a_frame_of_many_empty_parts_is_not_decoded),
	    T(test_any_first_frame_of_an_unregistered_certificate_is_unauthenticated),
	    T(test_pipelined_requests_whose_answers_are_not_read_keep_memory_bounded),
	    T(test_requests_past_max_inflight_wait_their_turn),
	    T(test_a_client_that_reads_no_answers_is_told_so),
	    T(test_an_unsubscribe_held_behind_a_catch_up_page),
	    T(test_requests_held_at_a_sigterm_are_answered),
	    T(test_key_updates_whose_answers_are_not_read_keep_memory_bounded),
	    T(test_a_peer_that_ends_with_close_notify_and_reads_nothing_is_cut_off),
	    T(test_connection_beyond_max_connections_is_logged_with_its_peer),
	    T(test_refused_connections_are_counted_not_logged_each),
	    T(test_an_unauthenticated_connection_makes_room_at_max_connections),
	    T(test_max_connections_is_not_cut_short_by_the_open_files_limit),
	    T(test_one_organisation_cannot_take_every_connection),
	    T(test_a_connection_not_taken_at_first_is_taken_again),
	    T(test_a_start_without_reader_threads_is_refused),
	    T(test_a_reader_that_could_not_open_opens_at_its_next_read),
	    T(test_user_from_hello_cannot_forge_log_fields),
	    T(test_hello_logs_the_client_software),
	    T(test_a_nul_byte_in_text_is_refused),
	    T(test_a_request_numbered_0_is_refused),
	    T(test_an_answer_without_memory_is_refused_not_dropped),
	    T(test_file_names_with_a_space_are_one_value_in_the_log),
	    T(test_hello_without_a_user_is_refused),
	    T(test_expired_crl_stops_the_start_with_a_sentence),
	    T(test_signals_during_start_up_are_acted_on_once_started),
	    T(test_sighup_with_an_expired_crl_keeps_the_previous),
	    T(test_sighup_with_an_older_crl_keeps_the_newer),
	    T(test_a_connection_ends_with_its_certificate),
	    T(test_crl_of_another_ca_stops_the_start_with_a_sentence),
	    T(test_expired_server_certificate_stops_the_start),
	    T(test_a_key_readable_by_others_is_said_at_start),
	    T(test_a_key_readable_by_others_is_said_at_reload),
	    T(test_a_bad_log_level_option_names_every_level),
	    T(test_a_bad_listen_option_is_named_as_the_option),
	    T(test_every_connection_has_tcp_keepalive),
	    T(test_an_idle_connection_is_told_why_it_is_closed),
	    T(test_a_connection_without_hello_is_told_why_it_is_closed),
	    T(test_a_frame_begun_and_never_finished_is_not_waited_for),
	    T(test_sigterm_closes_clients_and_exits_0),
	    T(test_sigterm_refuses_new_requests_on_a_busy_connection),
	    T(test_a_server_gone_before_its_answer_is_named),
	    T(test_sigterm_closes_a_pipelining_connection_without_a_reset),
	    T(test_an_idle_connection_lets_go_of_its_largest_answer),
	    T(test_a_change_sent_before_the_peer_closes_its_side_is_answered),
	    T(test_sighup_after_revocation_refuses_and_cuts_off_the_certificate),
	    T(test_hello_after_a_reload_that_revoked_the_certificate_is_refused),
	    T(test_a_restart_takes_the_configs_organisations),
	    T(test_hello_after_a_reload_that_removed_the_organisation_is_refused),
	    T(test_a_reload_to_a_new_ca_cuts_off_the_old_certificates),
	    T(test_a_reload_without_a_crl_keeps_the_number_served),
	    T(test_a_connection_does_not_keep_a_kind_the_reload_took_away),
	    T(test_sighup_without_a_crl_says_so),
	    T(test_sighup_names_the_settings_it_does_not_apply),
	    T(test_ipsnetd_reload_says_how_the_reload_went),
	    T(test_ipsnetd_reload_names_the_log_level_it_took),
	    T(test_sighup_names_a_changed_listen_address),
	    T(test_sighup_applies_the_log_level_of_the_file),
	    T(test_sighup_says_a_log_level_lowered_to_info),
	    T(test_sighup_keeps_the_log_level_of_the_command_line),
	    T(test_sighup_writes_the_registry_into_the_database_served),
	    T(test_sighup_that_fails_leaves_the_registry_in_the_database),
	    T(test_sighup_during_a_reload_is_not_lost),
	    T(test_the_end_of_the_certificate_and_crl_is_announced),
	};

	return cmocka_run_group_tests_name("integration transport", tests,
					   group_setup, group_teardown);
}
