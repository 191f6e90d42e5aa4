/* Frames: a 4-byte big-endian length N (1 <= N <= max) and N bytes of a
 * serialized Envelope.
 *
 * The decoder accepts bytes as they come from the socket, in pieces of any
 * size, and hands out whole frames. The length is checked against the
 * maximum before a byte is reserved for the body: a peer never decides how
 * much we allocate beyond max_frame_bytes. */
#ifndef IPSNET_FRAME_H
#define IPSNET_FRAME_H

#include <stddef.h>
#include <stdint.h>

#define FRAME_HEADER_BYTES 4
#define FRAME_DEFAULT_MAX_BYTES (1024u * 1024u)
/* The largest frame limit there is: ipsnetd's max_frame_bytes at most, and
 * what a client takes at most whatever a server's HelloOk announces. */
#define FRAME_MAX_BYTES (64u * 1024u * 1024u)

struct frame_decoder {
	uint32_t max_frame_bytes;
	uint8_t header[FRAME_HEADER_BYTES];
	size_t header_len; /* bytes of header received so far */
	uint8_t *body;     /* allocated once the header is complete */
	uint32_t body_len; /* length announced by the header */
	size_t body_got;   /* bytes of body received so far */
	int error;         /* sticky: once set, the decoder refuses more input */
	uint8_t *held;	   /* bytes after a FRAME_HOLD, not yet decoded */
	size_t held_len;
};

void frame_decoder_init(struct frame_decoder *d, uint32_t max_frame_bytes);
/* Frees any partial frame. */
void frame_decoder_close(struct frame_decoder *d);

/* Called for each whole frame. The body belongs to the decoder and is valid
 * only during the call. Return 0 to go on, FRAME_HOLD to take this frame and
 * hand out no more for now (the bytes after it are kept: a reader that has
 * as many requests as it takes holds the rest back), or a negative code to
 * stop decoding (frame_decoder_feed then returns that code). */
typedef int (*frame_cb)(void *arg, const uint8_t *body, size_t len);
#define FRAME_HOLD 1

/* Feeds len bytes. Calls cb for every frame completed, in order. Returns 0,
 * FRAME_HOLD when cb held the rest back (the decoder keeps a copy of what
 * was left of data: frame_decoder_resume hands it out, and no more may be
 * fed until it has), IPSNET_EFRAME_EMPTY for a zero length,
 * IPSNET_EFRAME_TOO_LARGE for a length above the maximum, IPSNET_ENOMEM, or
 * what cb returned. After an error the decoder stays failed and returns the
 * same error. */
int frame_decoder_feed(struct frame_decoder *d, const uint8_t *data, size_t len,
		       frame_cb cb, void *arg);

/* Whether bytes held back by a FRAME_HOLD wait to be decoded. */
static inline int frame_decoder_holding(const struct frame_decoder *d)
{
	return d->held != NULL;
}

/* Decodes the bytes held back, as frame_decoder_feed would; returns as it
 * does (0 once none are left, FRAME_HOLD if cb held back again). */
int frame_decoder_resume(struct frame_decoder *d, frame_cb cb, void *arg);

/* Writes the 4-byte header for a body of len bytes. */
void frame_put_header(uint8_t out[FRAME_HEADER_BYTES], uint32_t len);

#endif
