#include "stream.h"

#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <openssl/buffer.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "alloc.h"
#include "ipsnet_errors.h"
#include "tls.h"
#include "util.h"

#define READ_BUF_BYTES (64 * 1024)
#define PLAIN_BUF_BYTES (16 * 1024)
#define SMALL_FRAME_BYTES 4096

struct write_req {
	uv_write_t req;
	struct ipsnet_stream *s;
	size_t len;
	char data[];
};

/* Reads are handled to the end inside read_cb, so one buffer per thread is
 * enough however many streams the loop has. */
static _Thread_local char read_buf[READ_BUF_BYTES];

static void close_cb(uv_handle_t *h);
static void pump(struct ipsnet_stream *s);

static void record(struct ipsnet_stream *s, int err, const char *reason)
{
	if (s->reason[0] != '\0' || (err == 0 && reason == NULL))
		return;
	s->error = err;
	util_strlcpy(s->reason,
		     reason != NULL ? reason : ipsnet_strerror(err),
		     sizeof(s->reason));
}

static void write_cb(uv_write_t *req, int status)
{
	struct write_req *w = container_of(req, struct write_req, req);
	struct ipsnet_stream *s = w->s;

	s->queued_bytes -= w->len;
	s->pending_writes--;
	ipsnet_free(w);
	if (status < 0) {
		char why[128];
		snprintf(why, sizeof(why), "cannot write to the peer: %s",
			 uv_strerror(status));
		stream_abort(s, IPSNET_EIO, why);
		return;
	}
	if (s->queued_bytes == 0 && s->state == STREAM_OPEN &&
	    s->cb->on_drain != NULL)
		s->cb->on_drain(s);
}

/* What an emptied TLS buffer may keep of the room it grew to. */
#define WBIO_KEEP_BYTES 65536

void stream_trim(struct ipsnet_stream *s)
{
	BUF_MEM *bm = NULL;
	BIO *fresh = NULL;
	if (s->ssl == NULL || BIO_ctrl_pending(s->wbio) != 0 ||
	    BIO_get_mem_ptr(s->wbio, &bm) <= 0 || bm == NULL ||
	    bm->max <= WBIO_KEEP_BYTES ||
	    (fresh = BIO_new(BIO_s_mem())) == NULL)
		return;
	BIO_set_mem_eof_return(fresh, -1);
	SSL_set0_wbio(s->ssl, fresh); /* frees the old one */
	s->wbio = fresh;
}

/* Drops n bytes that went to the kernel from the front of the TLS buffer. */
static int skip_sent(struct ipsnet_stream *s, size_t n)
{
	uint8_t skip[4096];
	s->bytes_out += n;
	while (n > 0) {
		int r = BIO_read(s->wbio, skip,
				 n < sizeof(skip) ? (int)n : (int)sizeof(skip));
		if (r <= 0)
			return IPSNET_ETLS;
		n -= (size_t)r;
	}
	return 0;
}

/* When nothing is queued with libuv before them, hands the bytes OpenSSL
 * wrote to the kernel now, without a copy, a request or a turn of the
 * loop; what the socket does not take stays in the TLS buffer. Touches
 * only this stream and its socket, so it is safe off the loop thread too
 * (stream_send_framed_offloop). 0, IPSNET_EIO or IPSNET_ETLS. */
static int write_now(struct ipsnet_stream *s)
{
	char *data;
	long pending = BIO_get_mem_data(s->wbio, &data);
	uv_os_fd_t fd;
	if (pending <= 0 || s->pending_writes != 0)
		return 0;
	if (uv_fileno((uv_handle_t *)&s->tcp, &fd) != 0)
		return IPSNET_EIO;
	ssize_t took;
	do
		took = send(fd, data, (size_t)pending,
			    MSG_NOSIGNAL | MSG_DONTWAIT);
	while (took < 0 && errno == EINTR);
	if (took < 0) {
		bool later = errno == EAGAIN || errno == EWOULDBLOCK ||
			     errno == ENOBUFS;
		return later ? 0 : IPSNET_EIO;
	}
	if (took == pending) {
		s->bytes_out += (size_t)took;
		(void)BIO_reset(s->wbio);
		return 0;
	}
	return skip_sent(s, (size_t)took);
}

/* Empties this thread's OpenSSL error queue before an SSL_read or SSL_write,
 * whose SSL_get_error reads it. OpenSSL 3.0's ERR_clear_error wipes all
 * sixteen slots even when the queue is empty, as it is before nearly every
 * call: a look first costs less than that wipe on every record. */
static void errq_empty(void)
{
	if (ERR_peek_error() != 0)
		ERR_clear_error();
}

/* Hands what OpenSSL wrote to the kernel, and what it does not take to
 * libuv. */
static int flush(struct ipsnet_stream *s)
{
	if (BIO_ctrl_pending(s->wbio) == 0)
		return 0;
	if (uv_is_closing((uv_handle_t *)&s->tcp)) {
		(void)BIO_reset(s->wbio);
		return IPSNET_ECLOSED;
	}
	int rv = write_now(s);
	if (rv != 0)
		return rv;
	size_t n = BIO_ctrl_pending(s->wbio);
	if (n == 0)
		return 0;
	struct write_req *w = ipsnet_malloc(sizeof(*w) + n);
	if (w == NULL)
		return IPSNET_ENOMEM;
	int got = BIO_read(s->wbio, w->data, (int)n);
	if (got <= 0) {
		ipsnet_free(w);
		return IPSNET_ETLS;
	}
	w->s = s;
	w->len = (size_t)got;
	uv_buf_t buf = uv_buf_init(w->data, (unsigned)got);
	if (uv_write(&w->req, (uv_stream_t *)&s->tcp, &buf, 1, write_cb) != 0) {
		ipsnet_free(w);
		return IPSNET_EIO;
	}
	s->queued_bytes += w->len;
	s->pending_writes++;
	s->bytes_out += w->len;
	return 0;
}

static void info_cb(const SSL *ssl, int where, int ret)
{
	/* SSL_CB_READ_ALERT is two bits: both must be set. */
	if ((where & SSL_CB_READ_ALERT) != SSL_CB_READ_ALERT)
		return;
	if ((ret >> 8) != SSL3_AL_FATAL)
		return;
	struct ipsnet_stream *s = SSL_get_app_data(ssl);
	if (s != NULL)
		s->peer_alert = ret & 0xff;
}

static void tls_failed(struct ipsnet_stream *s, int ret)
{
	char why[200];
	s->verify_result = SSL_get_verify_result(s->ssl);
	if (s->peer_alert >= 0 && s->state == STREAM_OPEN)
		/* Not a refusal of the handshake, which is over: the alert
		 * as it is, not read as the handshake's ("no client
		 * certificate"). */
		snprintf(why, sizeof(why),
			 "the peer ended the connection with the TLS alert "
			 "'%s'",
			 SSL_alert_desc_string_long(s->peer_alert));
	else if (s->peer_alert >= 0)
		snprintf(why, sizeof(why), "the peer refused the connection: %s",
			 tls_alert_reason(s->peer_alert));
	else
		tls_error_reason(s->ssl, ret, why, sizeof(why));
	s->handshake_failed = s->state == STREAM_HANDSHAKING;
	/* Let any alert OpenSSL wrote reach the peer before closing. */
	(void)flush(s);
	stream_close(s, IPSNET_ETLS, why);
}

/* Returns true once the handshake is done. */
static bool handshake(struct ipsnet_stream *s)
{
	ERR_clear_error();
	int r = SSL_do_handshake(s->ssl);
	if (r == 1) {
		if (flush(s) != 0) {
			stream_abort(s, IPSNET_EIO, "cannot write to the peer");
			return false;
		}
		s->state = STREAM_OPEN;
		if (s->cb->on_handshake != NULL)
			s->cb->on_handshake(s);
		return s->state == STREAM_OPEN;
	}
	int e = SSL_get_error(s->ssl, r);
	if (e == SSL_ERROR_WANT_READ) {
		if (flush(s) != 0)
			stream_abort(s, IPSNET_EIO, "cannot write to the peer");
		return false;
	}
	tls_failed(s, r);
	return false;
}

static int deliver_frame(void *arg, const uint8_t *body, size_t len)
{
	struct ipsnet_stream *s = arg;
	if (s->state != STREAM_OPEN)
		return IPSNET_ECLOSED;
	int rv = s->cb->on_frame(s, body, len);
	/* The owner paused the stream (as many requests in flight as it
	 * takes, or a send backlog): the frames after this one, already
	 * decrypted, wait with the decoder as the rest waits in the socket,
	 * and stream_resume hands them out. */
	if (rv == 0 && s->state == STREAM_OPEN && !s->reading)
		return FRAME_HOLD;
	return rv;
}

static void bad_frame(struct ipsnet_stream *s, int rv)
{
	if (s->state != STREAM_OPEN)
		return;
	if (rv == IPSNET_EFRAME_EMPTY || rv == IPSNET_EFRAME_TOO_LARGE) {
		uv_read_stop((uv_stream_t *)&s->tcp);
		s->reading = false;
		if (s->cb->on_bad_frame != NULL) {
			s->cb->on_bad_frame(s, rv);
			if (s->state == STREAM_OPEN)
				stream_close(s, rv, NULL);
			return;
		}
	}
	stream_close(s, rv, NULL);
}

/* The peer closed its side of an open stream: whether its owner writes on
 * (stream_callbacks.on_peer_closed); if so, nothing more is read. */
static bool peer_closed_kept(struct ipsnet_stream *s)
{
	s->peer_closed = true;
	if (s->state != STREAM_OPEN || s->cb->on_peer_closed == NULL ||
	    !s->cb->on_peer_closed(s))
		return false;
	s->half_open = true;
	stream_pause(s);
	return true;
}

/* Runs the ciphertext that has arrived through OpenSSL and the decoder.
 * Frames are decoded in place from the plaintext buffer, and a frame's
 * callback may pump another stream on this thread (a synchronous client's
 * call from a callback of another connection runs that client's loop):
 * the nested pump takes a buffer of its own, or it would write its
 * plaintext over the frames still to be decoded here. */
static void pump(struct ipsnet_stream *s)
{
	static _Thread_local uint8_t shared[PLAIN_BUF_BYTES];
	static _Thread_local bool shared_busy;
	uint8_t *plain = shared;

	if (s->in_pump) {
		s->repump = true;
		return;
	}
	if (shared_busy) {
		plain = ipsnet_malloc(PLAIN_BUF_BYTES);
		if (plain == NULL) {
			stream_abort(s, IPSNET_ENOMEM,
				     "out of memory for TLS input");
			return;
		}
	} else {
		shared_busy = true;
	}
	s->in_pump = true;
	do {
		s->repump = false;
		if (s->state == STREAM_HANDSHAKING && !handshake(s))
			break;
		while (s->state == STREAM_OPEN && s->reading) {
			if (frame_decoder_holding(&s->decoder)) {
				int rv = frame_decoder_resume(&s->decoder,
							      deliver_frame, s);
				if (rv < 0) {
					bad_frame(s, rv);
					break;
				}
				continue;
			}
			errq_empty();
			int n = SSL_read(s->ssl, plain, PLAIN_BUF_BYTES);
			if (n > 0) {
				int rv = frame_decoder_feed(&s->decoder, plain,
							    (size_t)n, deliver_frame,
							    s);
				if (rv < 0) {
					bad_frame(s, rv);
					break;
				}
				continue;
			}
			int e = SSL_get_error(s->ssl, n);
			if (e == SSL_ERROR_WANT_READ) {
				if (flush(s) != 0)
					stream_abort(s, IPSNET_EIO,
						     "cannot write to the peer");
				/* OpenSSL answers some records itself (a
				 * KeyUpdate, a TLS 1.2 renegotiation), with
				 * no frame to hold it back: a peer that sends
				 * them and reads nothing would otherwise make
				 * the queue grow without end. on_drain
				 * resumes. */
				else if (s->max_backlog != 0 &&
					 stream_backlog(s) > s->max_backlog)
					stream_pause(s);
				break;
			}
			if (e == SSL_ERROR_ZERO_RETURN) {
				if (!peer_closed_kept(s))
					stream_close(
					    s, IPSNET_ECLOSED,
					    "the peer closed the connection");
				break;
			}
			tls_failed(s, n);
			break;
		}
	} while (s->repump && s->state < STREAM_CLOSING);
	s->in_pump = false;
	if (plain == shared)
		shared_busy = false;
	else
		ipsnet_free(plain);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	(void)suggested;
	*buf = uv_buf_init(read_buf, sizeof(read_buf));
}

/* Why a connection closed before its handshake was done. A server that
 * sent not one byte before closing has not looked at the client's
 * certificate (that refusal comes as an alert): ipsnetd does that only at
 * its max_connections, or while it stops. */
static const char *handshake_cut_reason(const struct ipsnet_stream *s)
{
	if (s->peer_alert >= 0)
		return tls_alert_reason(s->peer_alert);
	if (!s->is_server && s->bytes_in == 0)
		return "the server closed the connection before the TLS "
		       "handshake began: it is at its connection limit "
		       "(max_connections) or stopping; try again later, or "
		       "ask its operator (its log says which)";
	return "the peer closed the connection during the TLS handshake";
}

static void linger_read(struct ipsnet_stream *s, ssize_t nread);

static void read_cb(uv_stream_t *h, ssize_t nread, const uv_buf_t *buf)
{
	struct ipsnet_stream *s = container_of(h, struct ipsnet_stream, tcp);
	if (nread == 0)
		return;
	if (s->linger) {
		linger_read(s, nread);
		return;
	}
	if (nread < 0) {
		s->peer_closed = true;
		if (s->state == STREAM_HANDSHAKING)
			stream_abort(s, IPSNET_ETLS, handshake_cut_reason(s));
		else if (nread == UV_EOF && peer_closed_kept(s))
			return;
		else if (nread == UV_EOF)
			stream_abort(s, IPSNET_ECLOSED,
				     "the peer closed the connection");
		else
			stream_abort(s, IPSNET_EIO, uv_strerror((int)nread));
		return;
	}
	s->bytes_in += (uint64_t)nread;
	if (BIO_write(s->rbio, buf->base, (int)nread) != (int)nread) {
		stream_abort(s, IPSNET_ENOMEM, "out of memory for TLS input");
		return;
	}
	pump(s);
	/* A full buffer: more is likely waiting, and libuv would read on
	 * for this peer alone, up to 32 times this turn (2 MiB of Pings held
	 * the daemon's loop, and its SIGTERM, for seconds). */
	if (nread == (ssize_t)sizeof(read_buf) && s->cb->on_yield != NULL &&
	    s->state == STREAM_OPEN && s->reading && !s->yielded) {
		uv_read_stop((uv_stream_t *)&s->tcp);
		s->yielded = true;
		s->cb->on_yield(s);
	}
}

void stream_read_on(struct ipsnet_stream *s)
{
	if (!s->yielded)
		return;
	s->yielded = false;
	if (s->state == STREAM_OPEN && s->reading && !s->half_open)
		uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb);
}

static void peer_name(struct ipsnet_stream *s)
{
	struct sockaddr_storage ss;
	int len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		uv_ip4_name(a, host, sizeof(host));
		port = ntohs(a->sin_port);
		snprintf(s->peer, sizeof(s->peer), "%s:%d", host, port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		uv_ip6_name(a, host, sizeof(host));
		port = ntohs(a->sin6_port);
		snprintf(s->peer, sizeof(s->peer), "[%s]:%d", host, port);
	}
}

static void init_fields(struct ipsnet_stream *s, uv_loop_t *loop,
			uint32_t max_frame_bytes,
			const struct stream_callbacks *cb, void *data)
{
	memset(s, 0, sizeof(*s));
	s->loop = loop;
	s->cb = cb;
	s->data = data;
	s->peer_alert = -1;
	s->reading = true;
	util_strlcpy(s->peer, "?", sizeof(s->peer));
	frame_decoder_init(&s->decoder, max_frame_bytes);
}

static int make_ssl(struct ipsnet_stream *s, SSL_CTX *ctx)
{
	s->ssl = SSL_new(ctx);
	if (s->ssl == NULL)
		goto err;
	s->rbio = BIO_new(BIO_s_mem());
	if (s->rbio == NULL)
		goto err_after_ssl;
	s->wbio = BIO_new(BIO_s_mem());
	if (s->wbio == NULL)
		goto err_after_rbio;
	/* An empty read BIO means "more to come", not end of file. */
	BIO_set_mem_eof_return(s->rbio, -1);
	BIO_set_mem_eof_return(s->wbio, -1);
	SSL_set_bio(s->ssl, s->rbio, s->wbio);
	SSL_set_app_data(s->ssl, s);
	SSL_set_info_callback(s->ssl, info_cb);
	return 0;

err_after_rbio:
	BIO_free(s->rbio);
err_after_ssl:
	SSL_free(s->ssl);
	s->ssl = NULL;
err:
	ERR_clear_error();
	return IPSNET_ENOMEM;
}

/* Notes the CN of the client's own certificate while OpenSSL checks it, so
 * that a refusal can name the certificate. Changes no verdict. */
static int note_peer_cn(int ok, X509_STORE_CTX *x)
{
	if (X509_STORE_CTX_get_error_depth(x) != 0)
		return ok;
	SSL *ssl =
	    X509_STORE_CTX_get_ex_data(x, SSL_get_ex_data_X509_STORE_CTX_idx());
	struct ipsnet_stream *s = ssl != NULL ? SSL_get_app_data(ssl) : NULL;
	if (s != NULL)
		tls_cert_cn(X509_STORE_CTX_get_current_cert(x), s->peer_cn,
			    sizeof(s->peer_cn));
	return ok;
}

/* A peer that vanished without a word (a NAT that forgot the connection,
 * a power cut) is found by TCP keepalive: a connection idle for
 * KEEPALIVE_IDLE_S is probed every KEEPALIVE_INTERVAL_S, and given up
 * after KEEPALIVE_PROBES unanswered probes (about two minutes in all).
 * Without it a subscriber sent nothing (no idle timeout applies to it)
 * would hold its connection, and its organisation's share of
 * max_connections, for good. */
#define KEEPALIVE_IDLE_S 60
#define KEEPALIVE_INTERVAL_S 10
#define KEEPALIVE_PROBES 6

static void keep_alive(struct ipsnet_stream *s)
{
	uv_os_fd_t fd;
	if (uv_tcp_keepalive(&s->tcp, 1, KEEPALIVE_IDLE_S) != 0 ||
	    uv_fileno((uv_handle_t *)&s->tcp, &fd) != 0)
		return; /* the kernel's defaults, or none */
	int interval = KEEPALIVE_INTERVAL_S, probes = KEEPALIVE_PROBES;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &interval,
			 sizeof(interval));
	(void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &probes, sizeof(probes));
}

int stream_accept(struct ipsnet_stream *s, uv_loop_t *loop, uv_stream_t *server,
		  SSL_CTX *ctx, uint32_t max_frame_bytes,
		  const struct stream_callbacks *cb, void *data)
{
	int rv;

	init_fields(s, loop, max_frame_bytes, cb, data);
	s->is_server = true;
	rv = uv_tcp_init(loop, &s->tcp);
	if (rv != 0)
		return IPSNET_EIO;
	if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
		rv = IPSNET_EIO;
		goto err_after_tcp;
	}
	peer_name(s);
	uv_tcp_nodelay(&s->tcp, 1);
	keep_alive(s);
	rv = make_ssl(s, ctx);
	if (rv != 0)
		goto err_after_tcp;
	SSL_set_accept_state(s->ssl);
	SSL_set_verify(s->ssl, SSL_get_verify_mode(s->ssl), note_peer_cn);
	s->state = STREAM_HANDSHAKING;
	if (uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb) != 0) {
		rv = IPSNET_EIO;
		goto err_after_tcp;
	}
	return 0;

err_after_tcp:
	/* The handle is closed the ordinary way: on_close tells the owner. */
	s->state = STREAM_CLOSING;
	record(s, rv, NULL);
	uv_close((uv_handle_t *)&s->tcp, close_cb);
	return 0;
}

static void connect_cb(uv_connect_t *req, int status)
{
	struct ipsnet_stream *s = container_of(req, struct ipsnet_stream,
					       connect_req);
	if (status == UV_ECANCELED)
		return;
	if (status < 0) {
		stream_abort(s, IPSNET_ECONNECT, uv_strerror(status));
		return;
	}
	if (s->state != STREAM_CONNECTING)
		return;
	peer_name(s);
	uv_tcp_nodelay(&s->tcp, 1);
	s->state = STREAM_HANDSHAKING;
	if (uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb) != 0) {
		stream_abort(s, IPSNET_EIO, "cannot read from the socket");
		return;
	}
	pump(s);
}

int stream_connect(struct ipsnet_stream *s, uv_loop_t *loop,
		   const struct sockaddr *addr, SSL_CTX *ctx,
		   const char *server_name, uint32_t max_frame_bytes,
		   const struct stream_callbacks *cb, void *data)
{
	int rv;

	init_fields(s, loop, max_frame_bytes, cb, data);
	rv = make_ssl(s, ctx);
	if (rv != 0)
		goto err;
	SSL_set_connect_state(s->ssl);
	if (server_name != NULL && server_name[0] != '\0') {
		X509_VERIFY_PARAM *param = SSL_get0_param(s->ssl);
		X509_VERIFY_PARAM_set_hostflags(
		    param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (X509_VERIFY_PARAM_set1_ip_asc(param, server_name) != 1) {
			ERR_clear_error();
			if (SSL_set1_host(s->ssl, server_name) != 1 ||
			    SSL_set_tlsext_host_name(s->ssl, server_name) !=
				1) {
				rv = IPSNET_EINVAL;
				goto err_after_ssl;
			}
		}
	}
	rv = uv_tcp_init(loop, &s->tcp);
	if (rv != 0) {
		rv = IPSNET_EIO;
		goto err_after_ssl;
	}
	s->state = STREAM_CONNECTING;
	rv = uv_tcp_connect(&s->connect_req, &s->tcp, addr, connect_cb);
	if (rv != 0)
		stream_abort(s, IPSNET_ECONNECT, uv_strerror(rv));
	return 0;

err_after_ssl:
	SSL_free(s->ssl);
	s->ssl = NULL;
err:
	frame_decoder_close(&s->decoder);
	ERR_clear_error();
	return rv;
}

/* Encrypts len bytes (len <= INT32_MAX) and hands them to libuv. */
static int write_plain(struct ipsnet_stream *s, const uint8_t *buf, size_t len)
{
	errq_empty();
	int rv = SSL_write(s->ssl, buf, (int)len);
	if (rv <= 0) {
		tls_failed(s, rv);
		return IPSNET_ETLS;
	}
	rv = flush(s);
	if (rv != 0)
		stream_abort(s, rv, "cannot write to the peer");
	return rv;
}

/* Header and parts go into one buffer and one SSL_write: one TLS record for
 * a small frame. */
int stream_send_parts(struct ipsnet_stream *s, const uint8_t *const *parts,
		      const size_t *lens, size_t n)
{
	uint8_t small[SMALL_FRAME_BYTES];
	size_t total = 0;
	int rv;

	if (s->state != STREAM_OPEN)
		return IPSNET_ECLOSED;
	for (size_t i = 0; i < n; i++)
		total += lens[i];
	if (total == 0)
		return IPSNET_EFRAME_EMPTY;
	if (total > UINT32_MAX || total > INT32_MAX - FRAME_HEADER_BYTES)
		return IPSNET_EFRAME_TOO_LARGE;
	size_t size = total + FRAME_HEADER_BYTES;
	uint8_t *buf = size <= sizeof(small) ? small : ipsnet_malloc(size);
	if (buf == NULL)
		return IPSNET_ENOMEM;
	frame_put_header(buf, (uint32_t)total);
	size_t off = FRAME_HEADER_BYTES;
	for (size_t i = 0; i < n; i++) {
		memcpy(buf + off, parts[i], lens[i]);
		off += lens[i];
	}
	rv = write_plain(s, buf, size);
	if (buf != small)
		ipsnet_free(buf);
	return rv;
}

int stream_send_framed(struct ipsnet_stream *s, const uint8_t *frames,
		       size_t len)
{
	if (s->state != STREAM_OPEN)
		return IPSNET_ECLOSED;
	if (len == 0)
		return 0;
	if (len > INT32_MAX)
		return IPSNET_EFRAME_TOO_LARGE;
	return write_plain(s, frames, len);
}

int stream_send_framed_offloop(struct ipsnet_stream *s, const uint8_t *frames,
			       size_t len)
{
	if (s->state != STREAM_OPEN || uv_is_closing((uv_handle_t *)&s->tcp))
		return IPSNET_ECLOSED;
	if (len == 0)
		return 0;
	if (len > INT32_MAX)
		return IPSNET_EFRAME_TOO_LARGE;
	/* No ERR_clear_error first: the error queue is this thread's, and a
	 * failure is not looked into here, only cleared. */
	if (SSL_write(s->ssl, frames, (int)len) <= 0) {
		ERR_clear_error();
		return IPSNET_ETLS;
	}
	return write_now(s);
}

int stream_flush_pending(struct ipsnet_stream *s, int err)
{
	if (err == 0 && s->state == STREAM_OPEN)
		err = flush(s);
	if (err != 0 && err != IPSNET_ECLOSED)
		stream_abort(s, err,
			     err == IPSNET_ETLS ? "cannot encrypt for the peer"
						: "cannot write to the peer");
	return err;
}

size_t stream_backlog(const struct ipsnet_stream *s)
{
	return s->queued_bytes + BIO_ctrl_pending(s->wbio);
}

int stream_send(struct ipsnet_stream *s, const uint8_t *body, size_t len)
{
	return stream_send_parts(s, &body, &len, 1);
}

int stream_send_envelope(struct ipsnet_stream *s,
			 const Ipsnet__V1__Envelope *env)
{
	uint8_t small[SMALL_FRAME_BYTES];
	size_t len = ipsnet__v1__envelope__get_packed_size(env);
	uint8_t *buf = len <= sizeof(small) ? small : ipsnet_malloc(len);
	if (buf == NULL)
		return IPSNET_ENOMEM;
	ipsnet__v1__envelope__pack(env, buf);
	int rv = stream_send(s, buf, len);
	if (buf != small)
		ipsnet_free(buf);
	return rv;
}

void stream_pause(struct ipsnet_stream *s)
{
	if (!s->reading)
		return;
	s->reading = false;
	if (s->state == STREAM_OPEN)
		uv_read_stop((uv_stream_t *)&s->tcp);
}

void stream_resume(struct ipsnet_stream *s)
{
	if (s->reading || s->state != STREAM_OPEN || s->half_open)
		return;
	s->reading = true;
	s->yielded = false;
	uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb);
	/* Bytes OpenSSL already holds will not arrive again from the socket. */
	pump(s);
}

static void close_cb(uv_handle_t *h)
{
	struct ipsnet_stream *s = container_of((uv_tcp_t *)h,
					       struct ipsnet_stream, tcp);
	s->state = STREAM_CLOSED;
	if (s->ssl != NULL) {
		SSL_free(s->ssl); /* frees both BIOs */
		s->ssl = NULL;
	}
	frame_decoder_close(&s->decoder);
	if (s->cb->on_close != NULL)
		s->cb->on_close(s);
}

static void shutdown_cb(uv_shutdown_t *req, int status)
{
	struct ipsnet_stream *s = container_of(req, struct ipsnet_stream,
					       shutdown_req);
	s->shut_down = true;
	if (s->linger && !s->peer_closed && status == 0)
		return; /* read_cb closes at the peer's EOF */
	if (!uv_is_closing((uv_handle_t *)&s->tcp))
		uv_close((uv_handle_t *)&s->tcp, close_cb);
}

/* The bytes the kernel holds for the peer, sent or not, that the peer has
 * not acknowledged; -1 when the socket cannot say. */
static int unacked_bytes(const struct ipsnet_stream *s)
{
	uv_os_fd_t fd;
	int unacked = 0;
	if (uv_fileno((const uv_handle_t *)&s->tcp, &fd) != 0 ||
	    ioctl(fd, SIOCOUTQ, &unacked) != 0)
		return -1;
	return unacked;
}

bool stream_delivered(const struct ipsnet_stream *s)
{
	return s->shut_down && unacked_bytes(s) == 0;
}

size_t stream_untaken(const struct ipsnet_stream *s)
{
	int unacked = unacked_bytes(s);
	return uv_stream_get_write_queue_size((const uv_stream_t *)&s->tcp) +
	       BIO_ctrl_pending(s->wbio) + (unacked > 0 ? (size_t)unacked : 0);
}

/* A closing server's reads (stream_close): what the peer still sends is
 * dropped; its EOF, once the last bytes are written, closes. */
static void linger_read(struct ipsnet_stream *s, ssize_t nread)
{
	if (nread >= 0)
		return;
	s->peer_closed = true;
	uv_read_stop((uv_stream_t *)&s->tcp);
	if (s->shut_down && !uv_is_closing((uv_handle_t *)&s->tcp))
		uv_close((uv_handle_t *)&s->tcp, close_cb);
}

void stream_close(struct ipsnet_stream *s, int err, const char *reason)
{
	record(s, err, reason);
	if (s->state >= STREAM_CLOSING ||
	    uv_is_closing((uv_handle_t *)&s->tcp))
		return;
	if (s->state == STREAM_CONNECTING) {
		stream_abort(s, err, reason);
		return;
	}
	bool was_open = s->state == STREAM_OPEN;
	if (was_open && (!s->peer_closed || s->half_open)) {
		ERR_clear_error();
		(void)SSL_shutdown(s->ssl);
		ERR_clear_error();
		(void)flush(s);
	}
	s->state = STREAM_CLOSING;
	/* A server reads on until the peer's EOF, and drops what comes (its
	 * owner's deadline bounds the wait): a socket closed with bytes
	 * unread makes the kernel send a reset, and a reset throws away the
	 * answers and the close_notify still on their way to the peer. */
	if (s->is_server && was_open && !s->peer_closed) {
		s->linger = true;
		(void)uv_read_start((uv_stream_t *)&s->tcp, alloc_cb, read_cb);
	} else {
		uv_read_stop((uv_stream_t *)&s->tcp);
	}
	/* uv_shutdown waits until the queued writes have gone out. */
	if (uv_shutdown(&s->shutdown_req, (uv_stream_t *)&s->tcp,
			shutdown_cb) != 0)
		uv_close((uv_handle_t *)&s->tcp, close_cb);
	if (s->cb->on_closing != NULL)
		s->cb->on_closing(s);
}

void stream_abort(struct ipsnet_stream *s, int err, const char *reason)
{
	record(s, err, reason);
	if (s->state == STREAM_CLOSED || uv_is_closing((uv_handle_t *)&s->tcp))
		return;
	s->state = STREAM_CLOSING;
	uv_close((uv_handle_t *)&s->tcp, close_cb);
}
