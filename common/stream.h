/* A framed, mutually authenticated TLS stream over a libuv TCP handle.
 *
 * OpenSSL works as a filter over memory BIOs; libuv owns the socket. Bytes
 * read from the socket go into OpenSSL, plaintext comes out into the frame
 * decoder, and each whole frame is handed to on_frame. Frames sent are
 * encrypted and queued with uv_write. Used the same way by the daemon (for
 * accepted connections) and by libipsnet (for outgoing ones).
 *
 * Every function is called on the loop thread, except
 * stream_send_framed_offloop (see there). The struct is embedded in
 * its owner; the owner may free it only in on_close, after libuv has
 * finished with the handle. */
#ifndef IPSNET_STREAM_H
#define IPSNET_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>
#include <uv.h>

#include "frame.h"
#include "ipsnet.pb-c.h"

struct ipsnet_stream;

struct stream_callbacks {
	/* The TLS handshake has completed. */
	void (*on_handshake)(struct ipsnet_stream *s);
	/* A whole frame arrived. Return 0 to go on; a negative code makes the
	 * stream stop reading (the callback is expected to close it). */
	int (*on_frame)(struct ipsnet_stream *s, const uint8_t *body,
			size_t len);
	/* Optional: the peer's bytes do not form a valid frame (err is
	 * IPSNET_EFRAME_EMPTY or IPSNET_EFRAME_TOO_LARGE). The stream has
	 * stopped reading; the owner may send one last answer and must close
	 * it. Without this callback the stream closes itself. */
	void (*on_bad_frame)(struct ipsnet_stream *s, int err);
	/* Optional: the stream has begun to close (stream_close, also of its
	 * own accord: the peer's close_notify, a TLS failure). The queued
	 * bytes still go out before on_close, for as long as the peer takes
	 * them: the owner bounds that wait. */
	void (*on_closing)(struct ipsnet_stream *s);
	/* Optional: every queued byte has been handed to the kernel. */
	void (*on_drain)(struct ipsnet_stream *s);
	/* Optional: the open stream's peer closed its side (its EOF or
	 * close_notify). true keeps the stream to write what is still to
	 * come, reading no more: the owner closes it later (stream_close
	 * still sends close_notify). false, or no callback: it closes now. */
	bool (*on_peer_closed)(struct ipsnet_stream *s);
	/* The stream is closed and libuv is done with it: the owner may free
	 * it. s->error and s->reason tell why it closed (0 = cleanly). */
	void (*on_close)(struct ipsnet_stream *s);
	/* Optional: a read filled the whole buffer (more is likely waiting)
	 * and the stream stopped reading, so that one peer that pipelines
	 * cheap requests does not hold the loop for a whole turn (libuv
	 * reads on up to 32 times): the owner calls stream_read_on in a
	 * later turn of the loop (a 0 ms timer). Without it the stream
	 * reads on. */
	void (*on_yield)(struct ipsnet_stream *s);
};

enum stream_state {
	STREAM_CONNECTING,
	STREAM_HANDSHAKING,
	STREAM_OPEN,
	STREAM_CLOSING,
	STREAM_CLOSED,
};

struct ipsnet_stream {
	uv_tcp_t tcp;
	uv_connect_t connect_req;
	uv_shutdown_t shutdown_req;
	uv_loop_t *loop;
	const struct stream_callbacks *cb;
	void *data; /* the owner's */

	SSL *ssl;
	BIO *rbio; /* ciphertext from the network, read by OpenSSL */
	BIO *wbio; /* ciphertext written by OpenSSL, to the network */
	struct frame_decoder decoder;

	enum stream_state state;
	bool is_server;
	bool reading;          /* the owner wants bytes (not paused) */
	bool yielded;	       /* stopped for this turn (on_yield) */
	bool in_pump;          /* guards against re-entering the read pump */
	bool repump;           /* resumed while pumping: pump again */
	bool handshake_failed; /* no close_notify after a failed handshake */
	bool peer_closed;      /* the peer sent close_notify or EOF */
	bool half_open;	       /* the peer closed its side; the owner writes
				  on (on_peer_closed) */
	bool linger;	       /* closing: reads the peer's bytes until its
				  EOF and drops them (stream_close) */
	bool shut_down;	       /* closing: the last bytes were written */
	size_t queued_bytes;   /* handed to uv_write, not yet written */
	size_t max_backlog;    /* reading pauses while more than this waits
				  for the peer, also of what OpenSSL writes of
				  its own accord; 0: no bound */
	int pending_writes;    /* uv_write requests not yet completed */
	int peer_alert;        /* TLS alert the peer sent, or -1 */
	long verify_result;    /* our verification of the peer's certificate */
	int error;             /* why it closed: 0 or an IPSNET_E* code */
	char reason[256];      /* ... in a sentence */
	char peer[64];         /* "127.0.0.1:51234" */
	char peer_cn[64];      /* the CN of the peer's certificate, "" if none;
				  set while it is checked, so also when it is
				  refused (server side) */
	uint64_t bytes_in, bytes_out;
};

/* Accepts a connection from server into s and starts the server side of the
 * handshake. On failure nothing needs closing, except that when it returns
 * IPSNET_EIO the accept itself failed. */
int stream_accept(struct ipsnet_stream *s, uv_loop_t *loop, uv_stream_t *server,
		  SSL_CTX *ctx, uint32_t max_frame_bytes,
		  const struct stream_callbacks *cb, void *data);

/* Connects to addr (an IPv4 or IPv6 literal and port; resolving names is the
 * caller's business) and runs the client side of the handshake, verifying
 * the server's certificate for server_name (a host name or IP literal). */
int stream_connect(struct ipsnet_stream *s, uv_loop_t *loop,
		   const struct sockaddr *addr, SSL_CTX *ctx,
		   const char *server_name, uint32_t max_frame_bytes,
		   const struct stream_callbacks *cb, void *data);

/* Frames, encrypts and queues one body. 0, IPSNET_ECLOSED when the stream is
 * not open, IPSNET_EFRAME_TOO_LARGE, IPSNET_ENOMEM or IPSNET_ETLS. */
int stream_send(struct ipsnet_stream *s, const uint8_t *body, size_t len);

/* Sends one frame whose body is the n parts one after the other. */
int stream_send_parts(struct ipsnet_stream *s, const uint8_t *const *parts,
		      const size_t *lens, size_t n);

/* Sends bytes that are already whole frames (headers included), in one
 * write: for many small frames at once. */
int stream_send_framed(struct ipsnet_stream *s, const uint8_t *frames,
		       size_t len);

/* The same as stream_send_framed, but safe on another thread while the
 * loop thread waits (a parallel fan-out): it touches this stream, its TLS
 * object and its socket, never the loop. The frames are encrypted and go
 * to the kernel when nothing is queued before them; what the socket does
 * not take stays in the TLS buffer. Nothing is closed here: the loop
 * thread must call stream_flush_pending afterwards with the result. */
int stream_send_framed_offloop(struct ipsnet_stream *s, const uint8_t *frames,
			       size_t len);

/* Loop thread, after stream_send_framed_offloop: queues what it left with
 * libuv, or with err (its result) closes the stream. Returns err, or the
 * error of the queueing. */
int stream_flush_pending(struct ipsnet_stream *s, int err);

/* Bytes sent but not yet taken by the kernel (queued or still in the TLS
 * buffer). */
size_t stream_backlog(const struct ipsnet_stream *s);

/* Lets go of the room the TLS buffer grew to past 64 KiB (a memory BIO
 * keeps the most it ever held), once it is empty; else nothing. For a
 * connection between answers: one that streams (a subscription) would
 * grow it again at once, a third of a catch-up's time. */
void stream_trim(struct ipsnet_stream *s);

/* Whether a closing stream's last bytes, its close_notify among them, are
 * all written and acknowledged by the peer's TCP: closing the socket now
 * loses nothing of them, even with the peer's bytes unread. */
bool stream_delivered(const struct ipsnet_stream *s);

/* Bytes sent that the peer has not taken yet: in the TLS buffer, queued
 * with libuv (counted down as libuv writes a large write in parts), and
 * in the kernel unacknowledged. Falls as the peer reads, however slowly,
 * and stays as it is while the peer reads nothing. */
size_t stream_untaken(const struct ipsnet_stream *s);

/* Serializes an Envelope and sends it as one frame. */
int stream_send_envelope(struct ipsnet_stream *s,
			 const Ipsnet__V1__Envelope *env);

/* Stops or restarts reading from the socket (backpressure). */
void stream_pause(struct ipsnet_stream *s);

/* Reads on after on_yield (nothing when the stream was paused or closed
 * since). */
void stream_read_on(struct ipsnet_stream *s);
/* Reads again, and hands out at once, before it returns, the frames held
 * back and what OpenSSL holds: the caller must be ready for on_frame. Inside
 * this stream's own on_frame it only marks the stream to read on. */
void stream_resume(struct ipsnet_stream *s);

/* Whether the stream is inside its read pump (an on_frame of its own up
 * the stack): a resume then hands nothing out before it returns. */
static inline bool stream_pumping(const struct ipsnet_stream *s)
{
	return s->in_pump;
}

/* Closes the stream: sends close_notify, lets the queued bytes go out, shuts
 * the socket down and closes the handle; on_close follows. err and reason
 * (may be NULL) are recorded as why it closed, unless a reason was already
 * recorded. Safe to call more than once. */
void stream_close(struct ipsnet_stream *s, int err, const char *reason);

/* Closes at once, without close_notify or waiting for queued bytes (for a
 * peer that is gone or misbehaves). */
void stream_abort(struct ipsnet_stream *s, int err, const char *reason);

#endif
