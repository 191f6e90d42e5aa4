/* TLS contexts for ipsnet: mutual TLS, ECDHE + AEAD suites only, TLS 1.3 by
 * default (1.2 only when configured), no renegotiation, the CRL checked on
 * the peer's leaf certificate. */
#ifndef IPSNET_TLS_H
#define IPSNET_TLS_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include <openssl/ssl.h>

struct tls_ctx_opts {
	bool server;
	const char *ca;      /* network CA (PEM): peers must chain to it */
	const char *cert;    /* our certificate (PEM) */
	const char *key;     /* our private key (PEM) */
	const char *crl;     /* CRL (PEM) checked on the peer's certificate; NULL or "" = none */
	int min_version;     /* 12 or 13; 0 = 13 */
	int max_version;     /* 12 or 13; 0 = 13 (tests use 12 to play an old client) */
};

/* A new SSL_CTX from o. On failure returns IPSNET_ETLS or IPSNET_ECONFIG with
 * a sentence in err ("cannot read certificate 'x.crt': no such file"), or
 * for a server IPSNET_ECERT when its certificate or CRL is out of its time
 * (a renewal sets that right, with no change to the config). */
int tls_ctx_new(SSL_CTX **out, const struct tls_ctx_opts *o, char *err,
		size_t errlen);

/* The subject CN of the peer's verified certificate into buf, or "" when
 * there is none, or more than one. Returns buf. */
const char *tls_peer_cn(SSL *ssl, char *buf, size_t cap);

/* The subject CN of cert into buf, or "" (none, or more than one).
 * Returns buf. */
const char *tls_cert_cn(X509 *cert, char *buf, size_t cap);

/* Whether a CRL loaded in ctx lists cert as revoked (for connections that
 * were made before the CRL was reloaded). */
bool tls_cert_revoked(SSL_CTX *ctx, X509 *cert);

/* "TLSv1.3" etc. */
/* When ctx's own certificate stops being valid (its notAfter) and when
 * its CRL must be replaced (the earliest nextUpdate of those loaded), in
 * seconds since 1970; 0 where there is none. */
void tls_ctx_expiry(SSL_CTX *ctx, int64_t *cert_until, int64_t *crl_until);

/* When cert stops being valid (its notAfter), in seconds since 1970; 0
 * when there is no certificate or its date cannot be read. */
int64_t tls_cert_until(X509 *cert);

/* A CA and the highest number of its CRLs: the CA by its key (the SHA-256
 * of its public key, in hex). */
struct tls_crl_mark {
	char key[65];
	int64_t number;
};

/* The marks of ctx's numbered CRLs, each CA's once, that a CA of ctx's
 * signed: at most cap into out; returns how many. */
size_t tls_ctx_crl_marks(SSL_CTX *ctx, struct tls_crl_mark *out, size_t cap);

/* Whether a and b trust the same CA certificates. */
bool tls_ctx_same_cas(SSL_CTX *a, SSL_CTX *b);

/* Whether ssl's peer certificate, with the chain it sent, verifies against
 * ctx's CAs and CRLs now (a connection made before ctx was loaded). */
bool tls_peer_trusted(SSL_CTX *ctx, SSL *ssl);

const char *tls_version_name(SSL *ssl);

/* A sentence for the most recent failure of an SSL_* call that returned ret,
 * drawn from SSL_get_error, the verify result and OpenSSL's error queue; the
 * queue is cleared. */
const char *tls_error_reason(SSL *ssl, int ret, char *buf, size_t cap);

/* A sentence for a TLS alert the peer sent us (alert description code, such
 * as 44 for certificate_revoked), seen from the side whose certificate was
 * refused: "revoked", "expired", "not signed by the network CA", ... */
const char *tls_alert_reason(int alert);

#endif
