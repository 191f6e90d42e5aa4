/* libFuzzer driver for the frame decoder and the Envelope decoder.
 *
 * Input layout:
 *   byte 0, low 4 bits:  n, the number of piece sizes that follow (0..15)
 *   byte 0, high 4 bits: the maximum frame size: 0 is the default (1 MiB),
 *                        h > 0 is 2^(h+4) bytes (32 B .. 512 KiB)
 *   bytes 1..n:          piece sizes, each byte b meaning b+1 bytes, used
 *                        in turn (n = 0: the whole stream in one piece)
 *   the rest:            the byte stream, as it would come off the socket
 *
 * The stream is decoded twice, whole and cut into the pieces; both must
 * give the same frames and the same result. Each frame is unpacked as an
 * Envelope with ipsnet's allocator, packed again and freed. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "frame.h"
#include "ipsnet.pb-c.h"
#include "ipsnet_errors.h"

struct seen {
	size_t frames;
	uint64_t hash; /* FNV-1a over every frame's length and bytes */
	bool unpack;
};

static void mix(uint64_t *h, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		*h ^= p[i];
		*h *= 1099511628211ull;
	}
}

/* protobuf-c 1.4.1 takes a field number 0 written as a varint of two or
 * more bytes (80 00 ...) as an unknown field, then packs it in its short
 * form (00 ...), which it refuses to unpack. Such a message cannot make the
 * round trip; everything else must. */
static bool has_field_zero(const ProtobufCMessage *m)
{
	const ProtobufCMessageDescriptor *desc = m->descriptor;

	for (unsigned i = 0; i < m->n_unknown_fields; i++) {
		if (m->unknown_fields[i].tag == 0)
			return true;
	}
	for (unsigned i = 0; i < desc->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &desc->fields[i];
		const char *base = (const char *)m;
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) &&
		    *(const uint32_t *)(base + f->quantifier_offset) != f->id)
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n =
			    *(const size_t *)(base + f->quantifier_offset);
			ProtobufCMessage *const *items = *(
			    ProtobufCMessage *const *const *)(base + f->offset);
			for (size_t k = 0; k < n; k++) {
				if (has_field_zero(items[k]))
					return true;
			}
		} else {
			const ProtobufCMessage *sub = *(
			    const ProtobufCMessage *const *)(base + f->offset);
			if (sub != NULL && has_field_zero(sub))
				return true;
		}
	}
	return false;
}

static void check_envelope(const uint8_t *body, size_t len)
{
	Ipsnet__V1__Envelope *env =
	    ipsnet__v1__envelope__unpack(&ipsnet_protobuf_allocator, len, body);
	if (env == NULL)
		return;
	if (has_field_zero(&env->base)) {
		ipsnet__v1__envelope__free_unpacked(env,
						    &ipsnet_protobuf_allocator);
		return;
	}
	size_t packed_len = ipsnet__v1__envelope__get_packed_size(env);
	uint8_t *packed = malloc(packed_len ? packed_len : 1);
	if (packed == NULL)
		abort();
	if (ipsnet__v1__envelope__pack(env, packed) != packed_len)
		abort();
	/* What we pack must decode again. */
	Ipsnet__V1__Envelope *again = ipsnet__v1__envelope__unpack(
	    &ipsnet_protobuf_allocator, packed_len, packed);
	if (again == NULL)
		abort();
	ipsnet__v1__envelope__free_unpacked(again, &ipsnet_protobuf_allocator);
	free(packed);
	ipsnet__v1__envelope__free_unpacked(env, &ipsnet_protobuf_allocator);
}

static int on_frame(void *arg, const uint8_t *body, size_t len)
{
	struct seen *s = arg;
	uint8_t n[8];

	if (len == 0 || body == NULL)
		abort(); /* the decoder never hands out an empty frame */
	for (int i = 0; i < 8; i++)
		n[i] = (uint8_t)(len >> (8 * i));
	mix(&s->hash, n, sizeof(n));
	mix(&s->hash, body, len);
	s->frames++;
	if (s->unpack)
		check_envelope(body, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_decoder d;
	struct seen whole = {0, 14695981039346656037ull, false};
	struct seen cut = {0, 14695981039346656037ull, true};

	if (size == 0)
		return 0;
	size_t n_sizes = data[0] & 15u;
	unsigned h = data[0] >> 4;
	uint32_t max = h == 0 ? FRAME_DEFAULT_MAX_BYTES : 1u << (h + 4);
	if (size < 1 + n_sizes)
		return 0;
	const uint8_t *sizes = data + 1;
	const uint8_t *stream = data + 1 + n_sizes;
	size_t len = size - 1 - n_sizes;

	frame_decoder_init(&d, max);
	int rv_whole = frame_decoder_feed(&d, stream, len, on_frame, &whole);
	frame_decoder_close(&d);

	frame_decoder_init(&d, max);
	int rv_cut = 0;
	size_t pos = 0;
	for (size_t i = 0; pos < len; i++) {
		size_t piece =
		    n_sizes == 0 ? len : (size_t)sizes[i % n_sizes] + 1;
		if (piece > len - pos)
			piece = len - pos;
		rv_cut =
		    frame_decoder_feed(&d, stream + pos, piece, on_frame, &cut);
		pos += piece;
		if (rv_cut != 0)
			break;
	}
	if (rv_cut != 0) {
		/* The error sticks, and nothing more is handed out. */
		size_t frames = cut.frames;
		if (frame_decoder_feed(&d, stream, len, on_frame, &cut) !=
			rv_cut ||
		    cut.frames != frames)
			abort();
	}
	/* A failed decoder holds no partial body. */
	if (rv_cut != 0 && d.body != NULL)
		abort();
	frame_decoder_close(&d);

	if (rv_whole != rv_cut || whole.frames != cut.frames ||
	    whole.hash != cut.hash)
		abort();
	if (rv_cut != 0 && rv_cut != IPSNET_EFRAME_EMPTY &&
	    rv_cut != IPSNET_EFRAME_TOO_LARGE)
		abort();
	return 0;
}
