/* The frame decoder.
 *
 * A frame that lies whole inside the bytes of one feed is handed to the
 * callback as a pointer into those bytes: no allocation, no copy. Only a
 * frame cut by the end of a feed is buffered, and its body is allocated once,
 * at exactly the announced length, after that length has been checked
 * against the maximum.
 *
 * A callback that holds the rest back (FRAME_HOLD) leaves what was left of
 * that feed copied aside, one allocation, until frame_decoder_resume.
 *
 * Any error, including a callback that asks to stop, leaves the decoder
 * failed: the bytes after the point of failure were not consumed, so the
 * stream can no longer be read in step with the frames. */
#include "frame.h"

#include <string.h>

#include "alloc.h"
#include "ipsnet_errors.h"

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

void frame_put_header(uint8_t out[FRAME_HEADER_BYTES], uint32_t len)
{
	out[0] = (uint8_t)(len >> 24);
	out[1] = (uint8_t)(len >> 16);
	out[2] = (uint8_t)(len >> 8);
	out[3] = (uint8_t)len;
}

/* max_frame_bytes 0 means FRAME_DEFAULT_MAX_BYTES. */
void frame_decoder_init(struct frame_decoder *d, uint32_t max_frame_bytes)
{
	d->max_frame_bytes =
	    max_frame_bytes != 0 ? max_frame_bytes : FRAME_DEFAULT_MAX_BYTES;
	d->header_len = 0;
	d->body = NULL;
	d->body_len = 0;
	d->body_got = 0;
	d->error = 0;
	d->held = NULL;
	d->held_len = 0;
}

void frame_decoder_close(struct frame_decoder *d)
{
	ipsnet_free(d->body);
	d->body = NULL;
	ipsnet_free(d->held);
	d->held = NULL;
	d->held_len = 0;
	d->header_len = 0;
	d->body_len = 0;
	d->body_got = 0;
}

static int fail(struct frame_decoder *d, int rv)
{
	d->error = rv;
	return rv;
}

/* A refused length stays in body_len, so that the caller can say how long
 * the frame claimed to be. */
static int check_length(struct frame_decoder *d, uint32_t len)
{
	if (len == 0)
		return IPSNET_EFRAME_EMPTY;
	if (len > d->max_frame_bytes) {
		d->body_len = len;
		return IPSNET_EFRAME_TOO_LARGE;
	}
	return 0;
}

/* Hands the buffered body to cb and makes the decoder ready for the next
 * header. The body is detached first so that the decoder is consistent
 * while cb runs. */
static int deliver_buffered(struct frame_decoder *d, frame_cb cb, void *arg)
{
	uint8_t *body = d->body;
	size_t len = d->body_len;

	d->body = NULL;
	d->header_len = 0;
	d->body_len = 0;
	d->body_got = 0;
	int rv = cb(arg, body, len);
	ipsnet_free(body);
	return rv < 0 || rv == FRAME_HOLD ? rv : 0;
}

/* Keeps data[pos, len) for frame_decoder_resume. */
static int hold(struct frame_decoder *d, const uint8_t *data, size_t pos,
		size_t len)
{
	if (pos == len)
		return FRAME_HOLD;
	d->held = ipsnet_malloc(len - pos);
	if (d->held == NULL)
		return fail(d, IPSNET_ENOMEM);
	memcpy(d->held, data + pos, len - pos);
	d->held_len = len - pos;
	return FRAME_HOLD;
}

int frame_decoder_feed(struct frame_decoder *d, const uint8_t *data, size_t len,
		       frame_cb cb, void *arg)
{
	size_t pos = 0;
	int rv;

	if (d->error != 0)
		return d->error;
	if (d->held != NULL)
		return fail(d, IPSNET_EPROTOCOL); /* resume first */

	while (pos < len) {
		size_t left = len - pos;

		if (d->header_len == 0 && left >= FRAME_HEADER_BYTES) {
			/* At a frame boundary with a whole header in hand. */
			uint32_t n = get_be32(data + pos);
			rv = check_length(d, n);
			if (rv != 0)
				return fail(d, rv);
			if (left - FRAME_HEADER_BYTES >= n) {
				rv =
				    cb(arg, data + pos + FRAME_HEADER_BYTES, n);
				if (rv < 0)
					return fail(d, rv);
				pos += FRAME_HEADER_BYTES + (size_t)n;
				if (rv == FRAME_HOLD)
					return hold(d, data, pos, len);
				continue;
			}
		}

		if (d->header_len < FRAME_HEADER_BYTES) {
			size_t want = FRAME_HEADER_BYTES - d->header_len;
			size_t take = left < want ? left : want;
			memcpy(d->header + d->header_len, data + pos, take);
			d->header_len += take;
			pos += take;
			if (d->header_len < FRAME_HEADER_BYTES)
				break;
			uint32_t n = get_be32(d->header);
			rv = check_length(d, n);
			if (rv != 0)
				return fail(d, rv);
			d->body = ipsnet_malloc(n);
			if (d->body == NULL)
				return fail(d, IPSNET_ENOMEM);
			d->body_len = n;
			d->body_got = 0;
			continue;
		}

		size_t want = d->body_len - d->body_got;
		size_t take = left < want ? left : want;
		memcpy(d->body + d->body_got, data + pos, take);
		d->body_got += take;
		pos += take;
		if (d->body_got == d->body_len) {
			rv = deliver_buffered(d, cb, arg);
			if (rv < 0)
				return fail(d, rv);
			if (rv == FRAME_HOLD)
				return hold(d, data, pos, len);
		}
	}
	return 0;
}

int frame_decoder_resume(struct frame_decoder *d, frame_cb cb, void *arg)
{
	uint8_t *held = d->held;
	size_t len = d->held_len;

	if (d->error != 0)
		return d->error;
	if (held == NULL)
		return 0;
	d->held = NULL;
	d->held_len = 0;
	int rv = frame_decoder_feed(d, held, len, cb, arg);
	ipsnet_free(held);
	return rv;
}
