#include "tls.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "ipsnet_errors.h"
#include "util.h"

/* ECDHE + AEAD only. TLS 1.3 suites are all AEAD with (EC)DHE. */
static const char tls12_ciphers[] =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
static const char tls13_suites[] =
    "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:"
    "TLS_CHACHA20_POLY1305_SHA256";

static const char *openssl_reason(char *buf, size_t cap)
{
	unsigned long e = ERR_peek_last_error();
	const char *r = e != 0 ? ERR_reason_error_string(e) : NULL;
	/* A file that cannot be opened ends in "system lib"; the system's
	 * own error, first in the queue, says why (no such file,
	 * permission denied). */
	while ((e = ERR_get_error()) != 0) {
		if (ERR_SYSTEM_ERROR(e)) {
			r = strerror(ERR_GET_REASON(e));
			break;
		}
	}
	util_strlcpy(buf, r != NULL ? r : "unknown reason", cap);
	ERR_clear_error();
	return buf;
}

static int version_of(int v)
{
	return v == 12 ? TLS1_2_VERSION : TLS1_3_VERSION;
}

/* "2020-02-01 00:00 UTC" */
static void format_time(const ASN1_TIME *t, char *buf, size_t cap)
{
	struct tm tm;
	util_strlcpy(buf, "an unreadable date", cap);
	if (ASN1_TIME_to_tm(t, &tm) == 1)
		strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm);
}

/* t as seconds since 1970; 0 when it cannot be read. */
static int64_t seconds_of(const ASN1_TIME *t)
{
	struct tm tm;
	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

int64_t tls_cert_until(X509 *cert)
{
	return cert != NULL ? seconds_of(X509_get0_notAfter(cert)) : 0;
}

/* crl's crlNumber into *v: false when it has none (or none that fits). */
static bool crl_number(X509_CRL *crl, int64_t *v)
{
	ASN1_INTEGER *n = X509_CRL_get_ext_d2i(crl, NID_crl_number, NULL, NULL);
	bool numbered = n != NULL && ASN1_INTEGER_get_int64(v, n) == 1;
	ASN1_INTEGER_free(n);
	return numbered;
}

/* The earliest nextUpdate of the CRLs ctx holds (seconds; 0: none). */
static int64_t crl_until(SSL_CTX *ctx)
{
	int64_t until = 0;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	if (store == NULL || !X509_STORE_lock(store))
		return 0;
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
		if (X509_OBJECT_get_type(o) != X509_LU_CRL)
			continue;
		int64_t next = seconds_of(
		    X509_CRL_get0_nextUpdate(X509_OBJECT_get0_X509_CRL(o)));
		if (next != 0 && (until == 0 || next < until))
			until = next;
	}
	X509_STORE_unlock(store);
	return until;
}

void tls_ctx_expiry(SSL_CTX *ctx, int64_t *cert_until, int64_t *crl_until_out)
{
	*cert_until = tls_cert_until(SSL_CTX_get0_certificate(ctx));
	*crl_until_out = crl_until(ctx);
}

/* The CA of objs that signed crl, or NULL. */
static X509 *crl_signer(STACK_OF(X509_OBJECT) * objs, X509_CRL *crl)
{
	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
		if (X509_OBJECT_get_type(o) != X509_LU_X509)
			continue;
		X509 *ca = X509_OBJECT_get0_X509(o);
		if (X509_NAME_cmp(X509_get_subject_name(ca),
				  X509_CRL_get_issuer(crl)) == 0 &&
		    X509_CRL_verify(crl, X509_get0_pubkey(ca)) == 1)
			return ca;
	}
	return NULL;
}

size_t tls_ctx_crl_marks(SSL_CTX *ctx, struct tls_crl_mark *out, size_t cap)
{
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	size_t n = 0;
	if (store == NULL || !X509_STORE_lock(store))
		return 0;
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	for (int i = 0; i < sk_X509_OBJECT_num(objs); i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
		if (X509_OBJECT_get_type(o) != X509_LU_CRL)
			continue;
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(o);
		int64_t v;
		X509 *ca = crl_number(crl, &v) && v >= 0 ? crl_signer(objs, crl)
							 : NULL;
		unsigned char md[32];
		unsigned int len = 0;
		if (ca == NULL ||
		    X509_pubkey_digest(ca, EVP_sha256(), md, &len) != 1 ||
		    len != sizeof(md))
			continue;
		char key[sizeof(out->key)];
		for (unsigned int k = 0; k < len; k++)
			snprintf(key + 2 * k, 3, "%02x", md[k]);
		size_t at = 0;
		while (at < n && strcmp(out[at].key, key) != 0)
			at++;
		if (at == n) {
			if (n == cap)
				continue;
			memcpy(out[n].key, key, sizeof(key));
			out[n++].number = v;
		} else if (v > out[at].number) {
			out[at].number = v;
		}
	}
	X509_STORE_unlock(store);
	ERR_clear_error();
	return n;
}

/* Whether every CA certificate of a is one of b's. */
static bool cas_within(X509_STORE *a, X509_STORE *b)
{
	STACK_OF(X509_OBJECT) *in_a = X509_STORE_get0_objects(a);
	STACK_OF(X509_OBJECT) *in_b = X509_STORE_get0_objects(b);
	for (int i = 0; i < sk_X509_OBJECT_num(in_a); i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(in_a, i);
		if (X509_OBJECT_get_type(o) != X509_LU_X509)
			continue;
		X509 *ca = X509_OBJECT_get0_X509(o);
		bool found = false;
		for (int j = 0; j < sk_X509_OBJECT_num(in_b) && !found; j++) {
			X509_OBJECT *p = sk_X509_OBJECT_value(in_b, j);
			found = X509_OBJECT_get_type(p) == X509_LU_X509 &&
				X509_cmp(ca, X509_OBJECT_get0_X509(p)) == 0;
		}
		if (!found)
			return false;
	}
	return true;
}

bool tls_ctx_same_cas(SSL_CTX *a, SSL_CTX *b)
{
	X509_STORE *sa = SSL_CTX_get_cert_store(a);
	X509_STORE *sb = SSL_CTX_get_cert_store(b);
	if (sa == sb)
		return true;
	if (!X509_STORE_lock(sa))
		return false;
	if (!X509_STORE_lock(sb)) {
		X509_STORE_unlock(sa);
		return false;
	}
	bool same = cas_within(sa, sb) && cas_within(sb, sa);
	X509_STORE_unlock(sb);
	X509_STORE_unlock(sa);
	return same;
}

bool tls_peer_trusted(SSL_CTX *ctx, SSL *ssl)
{
	X509 *leaf = SSL_get0_peer_certificate(ssl);
	X509_STORE_CTX *x = X509_STORE_CTX_new();
	bool trusted = false;
	if (leaf != NULL && x != NULL &&
	    X509_STORE_CTX_init(x, SSL_CTX_get_cert_store(ctx), leaf,
				SSL_get_peer_cert_chain(ssl)) == 1 &&
	    X509_STORE_CTX_set_purpose(x, X509_PURPOSE_SSL_CLIENT) == 1) {
		X509_VERIFY_PARAM_set_depth(X509_STORE_CTX_get0_param(x),
					    SSL_CTX_get_verify_depth(ctx));
		trusted = X509_verify_cert(x) == 1;
	}
	X509_STORE_CTX_free(x);
	ERR_clear_error();
	return trusted;
}

/* The server's own certificate out of its validity would make every
 * client refuse the server: say so when it is loaded instead. */
static int check_validity(X509 *cert, const char *path, char *err,
			  size_t errlen)
{
	char when[32];
	if (cert == NULL)
		return 0;
	if (X509_cmp_current_time(X509_get0_notAfter(cert)) <= 0) {
		format_time(X509_get0_notAfter(cert), when, sizeof(when));
		snprintf(err, errlen,
			 "certificate '%s' expired on %s: every client would "
			 "refuse the server; issue a new one with "
			 "certs/server-cert.sh",
			 path, when);
		return IPSNET_ECERT;
	}
	if (X509_cmp_current_time(X509_get0_notBefore(cert)) >= 0) {
		format_time(X509_get0_notBefore(cert), when, sizeof(when));
		snprintf(err, errlen,
			 "certificate '%s' is not valid until %s: every client "
			 "would refuse the server until then",
			 path, when);
		return IPSNET_ECERT;
	}
	return 0;
}

/* Whether a CA certificate in objs issued and signed crl. */
static bool crl_signed_by_store(STACK_OF(X509_OBJECT) * objs, X509_CRL *crl)
{
	bool signed_by = crl_signer(objs, crl) != NULL;
	ERR_clear_error();
	return signed_by;
}

/* A CRL past its nextUpdate, or one that is not the network CA's, makes
 * OpenSSL refuse every client certificate, and the client is told that its
 * own certificate expired or is not the network's: say so when the CRL is
 * loaded instead. */
static int check_crls(X509_STORE *store, const char *path, const char *ca,
		      char *err, size_t errlen)
{
	int rv = 0;
	if (!X509_STORE_lock(store))
		return 0;
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	for (int i = 0; i < sk_X509_OBJECT_num(objs) && rv == 0; i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
		if (X509_OBJECT_get_type(o) != X509_LU_CRL)
			continue;
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(o);
		if (!crl_signed_by_store(objs, crl)) {
			snprintf(err, errlen,
				 "CRL '%s' is not signed by the network CA "
				 "'%s': every client would be refused; use the "
				 "crl.pem of that CA's folder",
				 path, ca);
			rv = IPSNET_ECONFIG;
			break;
		}
		const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
		if (next == NULL || X509_cmp_current_time(next) > 0)
			continue;
		char when[32];
		format_time(next, when, sizeof(when));
		snprintf(
		    err, errlen,
		    "CRL '%s' expired on %s (its nextUpdate): every client "
		    "would be refused; write a new one with certs/crl.sh",
		    path, when);
		rv = IPSNET_ECERT;
	}
	X509_STORE_unlock(store);
	return rv;
}

static int load_crl(X509_STORE *store, const char *path, const char *ca,
		    char *err, size_t errlen)
{
	char why[128];
	int n = X509_load_crl_file(X509_STORE_add_lookup(store,
							 X509_LOOKUP_file()),
				   path, X509_FILETYPE_PEM);
	if (n <= 0) {
		snprintf(err, errlen, "cannot read CRL '%s': %s", path,
			 openssl_reason(why, sizeof(why)));
		return IPSNET_ECONFIG;
	}
	int rv = check_crls(store, path, ca, err, errlen);
	if (rv != 0)
		return rv;
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK);
	return 0;
}

int tls_ctx_new(SSL_CTX **out, const struct tls_ctx_opts *o, char *err,
		size_t errlen)
{
	char why[128];
	int rv;

	ERR_clear_error();
	SSL_CTX *ctx =
	    SSL_CTX_new(o->server ? TLS_server_method() : TLS_client_method());
	if (ctx == NULL) {
		snprintf(err, errlen, "cannot create a TLS context: %s",
			 openssl_reason(why, sizeof(why)));
		rv = IPSNET_ETLS;
		goto err;
	}
	int min = o->min_version != 0 ? o->min_version : 13;
	int max = o->max_version != 0 ? o->max_version : 13;
	if ((min != 12 && min != 13) || (max != 12 && max != 13) || min > max) {
		snprintf(err, errlen,
			 "TLS versions must be 1.2 or 1.3 (minimum %d.%d, "
			 "maximum %d.%d)",
			 min / 10, min % 10, max / 10, max % 10);
		rv = IPSNET_ECONFIG;
		goto err_after_ctx;
	}
	SSL_CTX_set_min_proto_version(ctx, version_of(min));
	SSL_CTX_set_max_proto_version(ctx, version_of(max));
	SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION |
				     SSL_OP_NO_COMPRESSION |
				     SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set_cipher_list(ctx, tls12_ciphers) != 1 ||
	    SSL_CTX_set_ciphersuites(ctx, tls13_suites) != 1) {
		snprintf(err, errlen, "cannot set the TLS cipher suites: %s",
			 openssl_reason(why, sizeof(why)));
		rv = IPSNET_ETLS;
		goto err_after_ctx;
	}
	if (o->ca == NULL || o->ca[0] == '\0' ||
	    SSL_CTX_load_verify_locations(ctx, o->ca, NULL) != 1) {
		snprintf(err, errlen, "cannot read the network CA '%s': %s",
			 o->ca != NULL ? o->ca : "",
			 openssl_reason(why, sizeof(why)));
		rv = IPSNET_ECONFIG;
		goto err_after_ctx;
	}
	if (o->cert != NULL && o->cert[0] != '\0') {
		if (SSL_CTX_use_certificate_chain_file(ctx, o->cert) != 1) {
			snprintf(err, errlen,
				 "cannot read certificate '%s': %s", o->cert,
				 openssl_reason(why, sizeof(why)));
			rv = IPSNET_ECONFIG;
			goto err_after_ctx;
		}
		if (SSL_CTX_use_PrivateKey_file(ctx, o->key, SSL_FILETYPE_PEM) !=
		    1) {
			/* OpenSSL checks the key against the certificate as
			 * it takes it: a key read well but of another
			 * certificate fails here, not in the check below. */
			unsigned long e = ERR_peek_last_error();
			if (ERR_GET_LIB(e) == ERR_LIB_X509 &&
			    ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH) {
				snprintf(err, errlen,
					 "key '%s' does not belong to "
					 "certificate '%s'",
					 o->key, o->cert);
				ERR_clear_error();
			} else {
				snprintf(err, errlen,
					 "cannot read key '%s': %s",
					 o->key != NULL ? o->key : "",
					 openssl_reason(why, sizeof(why)));
			}
			rv = IPSNET_ECONFIG;
			goto err_after_ctx;
		}
		if (o->server) {
			rv = check_validity(SSL_CTX_get0_certificate(ctx),
					    o->cert, err, errlen);
			if (rv != 0)
				goto err_after_ctx;
		}
		if (SSL_CTX_check_private_key(ctx) != 1) {
			snprintf(err, errlen,
				 "key '%s' does not belong to certificate '%s'",
				 o->key, o->cert);
			ERR_clear_error();
			rv = IPSNET_ECONFIG;
			goto err_after_ctx;
		}
	} else if (o->server) {
		snprintf(err, errlen, "the server needs a certificate and key");
		rv = IPSNET_ECONFIG;
		goto err_after_ctx;
	}
	if (o->crl != NULL && o->crl[0] != '\0') {
		rv = load_crl(SSL_CTX_get_cert_store(ctx), o->crl, o->ca, err,
			      errlen);
		if (rv != 0)
			goto err_after_ctx;
	}
	if (o->server) {
		SSL_CTX_set_verify(ctx,
				   SSL_VERIFY_PEER |
				       SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
				   NULL);
		/* No resumption: every connection's certificate is checked
		 * against the CRL of the moment. NO_TICKET is TLS 1.2's
		 * num_tickets 0; without it a ticket was issued, and offered
		 * back it failed the handshake ("session id context
		 * uninitialized") instead of giving a full one. */
		SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
		SSL_CTX_set_num_tickets(ctx, 0);
		SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	} else {
		SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	}
	SSL_CTX_set_verify_depth(ctx, 4);
	*out = ctx;
	return 0;

err_after_ctx:
	SSL_CTX_free(ctx);
err:
	return rv;
}

const char *tls_peer_cn(SSL *ssl, char *buf, size_t cap)
{
	return tls_cert_cn(SSL_get0_peer_certificate(ssl), buf, cap);
}

const char *tls_cert_cn(X509 *cert, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (cert == NULL)
		return buf;
	X509_NAME *name = X509_get_subject_name(cert);
	int i = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
	/* A second CN would name a second organisation: which one the
	 * holder is would depend on who reads it (the first, the last). */
	if (i < 0 || X509_NAME_get_index_by_NID(name, NID_commonName, i) >= 0)
		return buf;
	ASN1_STRING *s = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, i));
	const unsigned char *d = ASN1_STRING_get0_data(s);
	int n = ASN1_STRING_length(s);
	if (n <= 0 || (size_t)n >= cap || memchr(d, '\0', (size_t)n) != NULL)
		return buf;
	memcpy(buf, d, (size_t)n);
	buf[n] = '\0';
	return buf;
}

bool tls_cert_revoked(SSL_CTX *ctx, X509 *cert)
{
	if (cert == NULL)
		return false;
	X509_STORE *store = SSL_CTX_get_cert_store(ctx);
	bool revoked = false;
	if (!X509_STORE_lock(store))
		return false;
	STACK_OF(X509_OBJECT) *objs = X509_STORE_get0_objects(store);
	for (int i = 0; i < sk_X509_OBJECT_num(objs) && !revoked; i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
		if (X509_OBJECT_get_type(o) != X509_LU_CRL)
			continue;
		X509_REVOKED *r = NULL;
		X509_CRL *crl = X509_OBJECT_get0_X509_CRL(o);
		revoked = X509_CRL_get0_by_cert(crl, &r, cert) == 1;
	}
	X509_STORE_unlock(store);
	return revoked;
}

const char *tls_version_name(SSL *ssl)
{
	return SSL_get_version(ssl);
}

static const char *verify_reason(long v)
{
	switch (v) {
	case X509_V_ERR_CERT_REVOKED:
		return "the certificate is revoked";
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "the certificate has expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "the certificate is not valid yet";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return "the certificate is not signed by the network CA";
	case X509_V_ERR_CRL_HAS_EXPIRED:
		return "the certificate revocation list has expired (renew it "
		       "with certs/crl.sh)";
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		return "no certificate revocation list for the network CA";
	case X509_V_ERR_HOSTNAME_MISMATCH:
	case X509_V_ERR_IP_ADDRESS_MISMATCH:
		return "the certificate is not for this server name";
	}
	return X509_verify_cert_error_string(v);
}

const char *tls_error_reason(SSL *ssl, int ret, char *buf, size_t cap)
{
	int e = SSL_get_error(ssl, ret);
	long v = SSL_get_verify_result(ssl);
	unsigned long q = ERR_peek_last_error();

	if (v != X509_V_OK && ERR_GET_REASON(q) ==
				  SSL_R_CERTIFICATE_VERIFY_FAILED) {
		snprintf(buf, cap, "%s", verify_reason(v));
	} else if (ERR_GET_LIB(q) == ERR_LIB_SSL &&
		   ERR_GET_REASON(q) == SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE) {
		snprintf(buf, cap, "the peer sent no certificate");
	} else if (ERR_GET_LIB(q) == ERR_LIB_SSL &&
		   ERR_GET_REASON(q) == SSL_R_WRONG_VERSION_NUMBER &&
		   !SSL_is_server(ssl)) {
		/* The first bytes back are no TLS record at all (a web
		 * server's answer, another service's greeting). */
		snprintf(buf, cap,
			 "the server does not speak TLS: it is not ipsnetd "
			 "(check the server's host and port)");
	} else if (ERR_GET_LIB(q) == ERR_LIB_SSL &&
		   (ERR_GET_REASON(q) == SSL_R_UNSUPPORTED_PROTOCOL ||
		    ERR_GET_REASON(q) == SSL_R_WRONG_VERSION_NUMBER ||
		    ERR_GET_REASON(q) == SSL_R_TLSV1_ALERT_PROTOCOL_VERSION)) {
		snprintf(buf, cap,
			 "no TLS version in common (the server requires TLS "
			 "1.3 unless configured for 1.2)");
	} else if (q != 0) {
		const char *r = ERR_reason_error_string(q);
		snprintf(buf, cap, "TLS error: %s",
			 r != NULL ? r : "unknown reason");
	} else if (e == SSL_ERROR_SYSCALL || e == SSL_ERROR_ZERO_RETURN) {
		snprintf(buf, cap, "the connection was closed during TLS");
	} else {
		snprintf(buf, cap, "TLS error %d", e);
	}
	ERR_clear_error();
	return buf;
}

const char *tls_alert_reason(int alert)
{
	switch (alert) {
	case SSL_AD_CERTIFICATE_REVOKED:
		return "revoked";
	case SSL_AD_CERTIFICATE_EXPIRED:
		return "expired";
	case SSL_AD_UNKNOWN_CA:
		return "not signed by the network CA";
	case SSL_AD_CERTIFICATE_REQUIRED:
		return "a client certificate is required";
	case SSL_AD_HANDSHAKE_FAILURE:
		return "the TLS handshake failed (no client certificate, or no "
		       "cipher suite in common)";
	case SSL_AD_BAD_CERTIFICATE:
		return "bad certificate";
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
		return "unsupported certificate";
	case SSL_AD_CERTIFICATE_UNKNOWN:
		return "certificate unknown";
	case SSL_AD_PROTOCOL_VERSION:
		return "no TLS version in common (the server requires TLS 1.3)";
	case SSL_AD_ACCESS_DENIED:
		return "access denied";
	}
	return SSL_alert_desc_string_long(alert);
}
