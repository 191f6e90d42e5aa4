/* The frame decoder: every way of cutting a byte stream gives the same
 * frames, lengths are checked before memory is reserved, errors stick. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "frame.h"
#include "ipsnet_errors.h"

/* ---- a counting allocator ------------------------------------------------ */

static struct {
	size_t mallocs;	  /* calls to malloc */
	size_t largest;	  /* largest size asked for */
	size_t live;	  /* blocks not freed yet */
	long fail_in;	  /* fail the n-th malloc from now; 0: never */
	size_t last_size; /* size of the latest malloc */
} heap;

static void *counting_malloc(size_t size)
{
	heap.mallocs++;
	heap.last_size = size;
	if (size > heap.largest)
		heap.largest = size;
	if (heap.fail_in > 0 && --heap.fail_in == 0)
		return NULL;
	void *p = malloc(size);
	if (p != NULL)
		heap.live++;
	return p;
}

static void *counting_realloc(void *ptr, size_t size)
{
	if (ptr == NULL)
		return counting_malloc(size);
	heap.mallocs++;
	if (size > heap.largest)
		heap.largest = size;
	return realloc(ptr, size);
}

static void counting_free(void *ptr)
{
	if (ptr != NULL)
		heap.live--;
	free(ptr);
}

static const struct ipsnet_allocator counting = {
    counting_malloc, counting_realloc, counting_free};

static int setup(void **state)
{
	(void)state;
	memset(&heap, 0, sizeof(heap));
	ipsnet_replace_allocator(&counting);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	ipsnet_replace_allocator(NULL);
	/* Every test ends with nothing of the decoder's left on the heap. */
	assert_int_equal(heap.live, 0);
	return 0;
}

/* ---- recording what the decoder hands out -------------------------------- */

#define MAX_FRAMES 64
#define MAX_BYTES 8192

struct record {
	size_t n;
	size_t lens[MAX_FRAMES];
	size_t used;
	uint8_t bytes[MAX_BYTES];
	int stop_at; /* return stop_rv for frame number stop_at (1-based) */
	int stop_rv;
};

static int record_frame(void *arg, const uint8_t *body, size_t len)
{
	struct record *r = arg;
	assert_true(r->n < MAX_FRAMES);
	assert_true(r->used + len <= MAX_BYTES);
	r->lens[r->n++] = len;
	memcpy(r->bytes + r->used, body, len);
	r->used += len;
	if (r->stop_at != 0 && (int)r->n == r->stop_at)
		return r->stop_rv;
	return 0;
}

static void assert_same_frames(const struct record *a, const struct record *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++)
		assert_int_equal(a->lens[i], b->lens[i]);
	assert_int_equal(a->used, b->used);
	assert_memory_equal(a->bytes, b->bytes, a->used);
}

/* Appends a frame of len bytes (filled from seed) to out; returns the new
 * length of out. */
static size_t put_frame(uint8_t *out, size_t at, size_t len, uint8_t seed)
{
	frame_put_header(out + at, (uint32_t)len);
	for (size_t i = 0; i < len; i++)
		out[at + FRAME_HEADER_BYTES + i] = (uint8_t)(seed + i * 7);
	return at + FRAME_HEADER_BYTES + len;
}

/* Several frames of awkward sizes: 1 byte, 3 bytes (shorter than a header),
 * 4, 5, 40 and 300 bytes. */
static const size_t sizes[] = {1, 3, 4, 5, 40, 300, 2};
#define N_SIZES (sizeof(sizes) / sizeof(sizes[0]))

static size_t make_stream(uint8_t *out, struct record *expected)
{
	size_t len = 0;
	memset(expected, 0, sizeof(*expected));
	for (size_t i = 0; i < N_SIZES; i++) {
		size_t start = len + FRAME_HEADER_BYTES;
		len = put_frame(out, len, sizes[i], (uint8_t)(i * 31 + 1));
		record_frame(expected, out + start, sizes[i]);
	}
	return len;
}

/* got set to answer stop_rv at frame stop_at (1-based), d ready. */
static void stop_at(struct record *got, int at, int rv, struct frame_decoder *d)
{
	memset(got, 0, sizeof(*got));
	got->stop_at = at;
	got->stop_rv = rv;
	frame_decoder_init(d, 0);
}

/* Feeds data cut at the given points; every feed must succeed. */
static void decode_in_pieces(const uint8_t *data, size_t len,
			     const size_t *cuts, size_t n_cuts,
			     struct record *got)
{
	struct frame_decoder d;
	size_t from = 0;

	memset(got, 0, sizeof(*got));
	frame_decoder_init(&d, 0);
	for (size_t i = 0; i <= n_cuts; i++) {
		size_t to = i < n_cuts ? cuts[i] : len;
		assert_int_equal(frame_decoder_feed(&d, data + from, to - from,
						    record_frame, got),
				 0);
		from = to;
	}
	assert_int_equal(d.header_len, 0); /* ends at a frame boundary */
	frame_decoder_close(&d);
}

/* ---- the tests ----------------------------------------------------------- */

static void test_frame_header_is_four_bytes_big_endian(void **state)
{
	uint8_t h[FRAME_HEADER_BYTES];
	(void)state;

	frame_put_header(h, 0x01020304u);
	assert_int_equal(h[0], 1);
	assert_int_equal(h[1], 2);
	assert_int_equal(h[2], 3);
	assert_int_equal(h[3], 4);
	frame_put_header(h, 300);
	assert_int_equal(h[0], 0);
	assert_int_equal(h[1], 0);
	assert_int_equal(h[2], 1);
	assert_int_equal(h[3], 44);
}

static void test_frame_many_frames_in_one_read_are_all_delivered(void **state)
{
	uint8_t stream[2048];
	struct record expected, got;
	(void)state;

	size_t len = make_stream(stream, &expected);
	decode_in_pieces(stream, len, NULL, 0, &got);
	assert_same_frames(&expected, &got);
}

static void test_frame_whole_frames_are_passed_without_allocating(void **state)
{
	uint8_t stream[2048];
	struct record expected, got;
	(void)state;

	size_t len = make_stream(stream, &expected);
	decode_in_pieces(stream, len, NULL, 0, &got);
	assert_int_equal(heap.mallocs, 0);
}

static void
test_frame_split_at_every_point_in_two_reads_yields_same_frames(void **state)
{
	uint8_t stream[2048];
	struct record expected, got;
	(void)state;

	size_t len = make_stream(stream, &expected);
	for (size_t cut = 0; cut <= len; cut++) {
		decode_in_pieces(stream, len, &cut, 1, &got);
		assert_same_frames(&expected, &got);
	}
}

static void test_frame_one_byte_reads_yield_same_frames(void **state)
{
	uint8_t stream[2048];
	size_t cuts[2048];
	struct record expected, got;
	(void)state;

	size_t len = make_stream(stream, &expected);
	for (size_t i = 0; i + 1 < len; i++)
		cuts[i] = i + 1;
	decode_in_pieces(stream, len, cuts, len - 1, &got);
	assert_same_frames(&expected, &got);
}

static void test_frame_split_in_three_reads_yields_same_frames(void **state)
{
	uint8_t stream[2048];
	struct record expected, got;
	(void)state;

	size_t len = make_stream(stream, &expected);
	/* Every pair of cuts inside the first 80 bytes (which hold the short
	 * frames and the start of the long one), and a few across the long
	 * frame. */
	for (size_t a = 0; a <= 80; a++) {
		for (size_t b = a; b <= 80; b++) {
			size_t cuts[2] = {a, b};
			decode_in_pieces(stream, len, cuts, 2, &got);
			assert_same_frames(&expected, &got);
		}
	}
	const size_t across[][2] = {
	    {1, len - 1}, {45, 200}, {70, 371}, {100, 372}, {2, 3}};
	for (size_t i = 0; i < sizeof(across) / sizeof(across[0]); i++) {
		decode_in_pieces(stream, len, across[i], 2, &got);
		assert_same_frames(&expected, &got);
	}
}

static void
test_frame_partial_frame_allocates_its_body_once_exactly(void **state)
{
	uint8_t stream[64];
	struct frame_decoder d;
	struct record got = {0};
	(void)state;

	size_t len = put_frame(stream, 0, 40, 9);
	frame_decoder_init(&d, 0);
	/* Header and a few body bytes, then the body in small pieces. */
	assert_int_equal(frame_decoder_feed(&d, stream, 6, record_frame, &got),
			 0);
	assert_int_equal(heap.mallocs, 1);
	assert_int_equal(heap.last_size, 40);
	for (size_t at = 6; at < len; at += 5) {
		size_t n = len - at < 5 ? len - at : 5;
		assert_int_equal(
		    frame_decoder_feed(&d, stream + at, n, record_frame, &got),
		    0);
	}
	assert_int_equal(heap.mallocs, 1);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.lens[0], 40);
	assert_memory_equal(got.bytes, stream + FRAME_HEADER_BYTES, 40);
	frame_decoder_close(&d);
}

static void test_frame_zero_length_is_refused(void **state)
{
	uint8_t stream[4] = {0, 0, 0, 0};
	struct frame_decoder d;
	struct record got = {0};
	(void)state;

	frame_decoder_init(&d, 0);
	assert_int_equal(frame_decoder_feed(&d, stream, 4, record_frame, &got),
			 IPSNET_EFRAME_EMPTY);
	assert_int_equal(got.n, 0);
	frame_decoder_close(&d);

	/* Also when the header comes byte by byte. */
	frame_decoder_init(&d, 0);
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(
		    frame_decoder_feed(&d, stream + i, 1, record_frame, &got),
		    0);
	assert_int_equal(
	    frame_decoder_feed(&d, stream + 3, 1, record_frame, &got),
	    IPSNET_EFRAME_EMPTY);
	assert_int_equal(got.n, 0);
	frame_decoder_close(&d);
}

static void test_frame_oversize_is_refused_without_allocating(void **state)
{
	static const uint32_t lengths[] = {0xffffffffu, 0x80000000u,
					   FRAME_DEFAULT_MAX_BYTES + 1};
	struct frame_decoder d;
	struct record got = {0};
	uint8_t h[FRAME_HEADER_BYTES];
	(void)state;

	for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++) {
		frame_put_header(h, lengths[i]);
		/* The whole header at once ... */
		frame_decoder_init(&d, 0);
		assert_int_equal(
		    frame_decoder_feed(&d, h, sizeof(h), record_frame, &got),
		    IPSNET_EFRAME_TOO_LARGE);
		frame_decoder_close(&d);
		/* ... and a byte at a time. */
		frame_decoder_init(&d, 0);
		int rv = 0;
		for (size_t k = 0; k < sizeof(h) && rv == 0; k++)
			rv = frame_decoder_feed(&d, h + k, 1, record_frame,
						&got);
		assert_int_equal(rv, IPSNET_EFRAME_TOO_LARGE);
		frame_decoder_close(&d);
	}
	assert_int_equal(got.n, 0);
	assert_int_equal(heap.mallocs, 0);
	assert_int_equal(heap.largest, 0);
}

static void test_frame_exactly_max_is_accepted(void **state)
{
	enum { MAX = 1024 };
	uint8_t stream[FRAME_HEADER_BYTES + MAX];
	struct frame_decoder d;
	struct record got = {0};
	(void)state;

	size_t len = put_frame(stream, 0, MAX, 3);
	frame_decoder_init(&d, MAX);
	assert_int_equal(
	    frame_decoder_feed(&d, stream, len, record_frame, &got), 0);
	assert_int_equal(got.n, 1);
	assert_int_equal(got.lens[0], MAX);
	frame_decoder_close(&d);

	/* Buffered: the body is allocated at its exact size. */
	memset(&got, 0, sizeof(got));
	frame_decoder_init(&d, MAX);
	assert_int_equal(
	    frame_decoder_feed(&d, stream, 100, record_frame, &got), 0);
	assert_int_equal(
	    frame_decoder_feed(&d, stream + 100, len - 100, record_frame, &got),
	    0);
	assert_int_equal(got.n, 1);
	assert_int_equal(heap.largest, MAX);
	assert_memory_equal(got.bytes, stream + FRAME_HEADER_BYTES, MAX);
	frame_decoder_close(&d);
}

static void test_frame_max_plus_one_is_refused(void **state)
{
	enum { MAX = 1024 };
	uint8_t stream[FRAME_HEADER_BYTES + MAX + 1];
	struct frame_decoder d;
	struct record got = {0};
	(void)state;

	size_t len = put_frame(stream, 0, MAX + 1, 3);
	frame_decoder_init(&d, MAX);
	assert_int_equal(
	    frame_decoder_feed(&d, stream, len, record_frame, &got),
	    IPSNET_EFRAME_TOO_LARGE);
	assert_int_equal(got.n, 0);
	assert_int_equal(heap.mallocs, 0);
	frame_decoder_close(&d);
}

static void test_frame_zero_max_means_default_max(void **state)
{
	struct frame_decoder d;
	(void)state;

	frame_decoder_init(&d, 0);
	assert_int_equal(d.max_frame_bytes, FRAME_DEFAULT_MAX_BYTES);
	frame_decoder_close(&d);
}

static void test_frame_error_is_sticky(void **state)
{
	uint8_t bad[4] = {0, 0, 0, 0};
	uint8_t good[16];
	struct frame_decoder d;
	struct record got = {0};
	(void)state;

	size_t len = put_frame(good, 0, 3, 1);
	frame_decoder_init(&d, 0);
	assert_int_equal(frame_decoder_feed(&d, bad, 4, record_frame, &got),
			 IPSNET_EFRAME_EMPTY);
	assert_int_equal(frame_decoder_feed(&d, good, len, record_frame, &got),
			 IPSNET_EFRAME_EMPTY);
	assert_int_equal(frame_decoder_feed(&d, good, 1, record_frame, &got),
			 IPSNET_EFRAME_EMPTY);
	assert_int_equal(got.n, 0);
	frame_decoder_close(&d);
}

static void test_frame_frames_before_a_bad_header_are_delivered(void **state)
{
	uint8_t stream[64];
	struct frame_decoder d;
	struct record got = {0};
	(void)state;

	size_t len = put_frame(stream, 0, 5, 1);
	len = put_frame(stream, len, 2, 2);
	frame_put_header(stream + len, 0xffffffffu);
	len += FRAME_HEADER_BYTES;
	frame_decoder_init(&d, 0);
	assert_int_equal(
	    frame_decoder_feed(&d, stream, len, record_frame, &got),
	    IPSNET_EFRAME_TOO_LARGE);
	assert_int_equal(got.n, 2);
	frame_decoder_close(&d);
}

static void test_frame_callback_can_stop_decoding(void **state)
{
	uint8_t stream[2048];
	struct record expected, got;
	struct frame_decoder d;
	(void)state;

	size_t len = make_stream(stream, &expected);
	stop_at(&got, 2, IPSNET_EDECODE, &d);
	assert_int_equal(
	    frame_decoder_feed(&d, stream, len, record_frame, &got),
	    IPSNET_EDECODE);
	assert_int_equal(got.n, 2); /* nothing after the stop */
	/* The stop sticks like any other error. */
	assert_int_equal(
	    frame_decoder_feed(&d, stream, len, record_frame, &got),
	    IPSNET_EDECODE);
	assert_int_equal(got.n, 2);
	frame_decoder_close(&d);
}

static void test_frame_callback_can_stop_on_a_buffered_frame(void **state)
{
	uint8_t stream[2048];
	struct record expected, got;
	struct frame_decoder d;
	(void)state;

	size_t len = make_stream(stream, &expected);
	/* At the last frame, cut below. */
	stop_at(&got, (int)N_SIZES, IPSNET_EPROTOCOL, &d);
	assert_int_equal(
	    frame_decoder_feed(&d, stream, len - 1, record_frame, &got), 0);
	assert_int_equal(
	    frame_decoder_feed(&d, stream + len - 1, 1, record_frame, &got),
	    IPSNET_EPROTOCOL);
	assert_int_equal(got.n, N_SIZES);
	assert_null(d.body); /* the buffered body was freed */
	frame_decoder_close(&d);
}

static void test_frame_positive_callback_result_means_go_on(void **state)
{
	uint8_t stream[2048];
	struct record expected, got;
	struct frame_decoder d;
	(void)state;

	size_t len = make_stream(stream, &expected);
	stop_at(&got, 1, FRAME_HOLD + 1, &d);
	assert_int_equal(
	    frame_decoder_feed(&d, stream, len, record_frame, &got), 0);
	assert_int_equal(got.n, N_SIZES);
	frame_decoder_close(&d);
}

/* A reader with as many requests as it takes holds the rest of a read back:
 * the frames after the one that held come out at frame_decoder_resume, the
 * same frames in the same order, and none before. */
static void test_frame_callback_can_hold_the_rest_back(void **state)
{
	uint8_t stream[2048];
	struct record expected, got;
	struct frame_decoder d;
	(void)state;

	size_t len = make_stream(stream, &expected);
	stop_at(&got, 2, FRAME_HOLD, &d);
	assert_int_equal(
	    frame_decoder_feed(&d, stream, len, record_frame, &got),
	    FRAME_HOLD);
	assert_int_equal(got.n, 2);
	assert_true(frame_decoder_holding(&d));
	/* Held again at the fifth frame, then the rest. */
	got.stop_at = 5;
	assert_int_equal(frame_decoder_resume(&d, record_frame, &got),
			 FRAME_HOLD);
	assert_int_equal(got.n, 5);
	assert_int_equal(frame_decoder_resume(&d, record_frame, &got), 0);
	assert_false(frame_decoder_holding(&d));
	assert_same_frames(&got, &expected);
	/* Nothing held: resume does nothing. */
	assert_int_equal(frame_decoder_resume(&d, record_frame, &got), 0);
	assert_int_equal(got.n, N_SIZES);
	frame_decoder_close(&d);
}

/* Held on a frame that was buffered across feeds, with a frame and the
 * start of another after it: the start stays a start, completed by the
 * next feed. */
static void
test_frame_hold_on_a_buffered_frame_keeps_a_frame_begun(void **state)
{
	uint8_t stream[2048];
	struct record expected, got;
	struct frame_decoder d;
	(void)state;

	size_t len = make_stream(stream, &expected);
	/* Frame 6 (300 bytes) starts at this offset. */
	size_t six = 0;
	for (size_t i = 0; i < 5; i++)
		six += FRAME_HEADER_BYTES + sizes[i];
	stop_at(&got, 5, FRAME_HOLD, &d);
	size_t cut = six - 10; /* inside frame 5 */
	assert_int_equal(
	    frame_decoder_feed(&d, stream, cut, record_frame, &got), 0);
	assert_int_equal(got.n, 4);
	size_t end = six + 100; /* inside frame 6 */
	assert_int_equal(
	    frame_decoder_feed(&d, stream + cut, end - cut, record_frame, &got),
	    FRAME_HOLD);
	assert_int_equal(got.n, 5);
	/* Feeding while something is held is a caller's mistake. */
	struct frame_decoder bad;
	frame_decoder_init(&bad, 0);
	struct record other = {.stop_at = 1, .stop_rv = FRAME_HOLD};
	assert_int_equal(
	    frame_decoder_feed(&bad, stream, len, record_frame, &other),
	    FRAME_HOLD);
	assert_int_equal(
	    frame_decoder_feed(&bad, stream, len, record_frame, &other),
	    IPSNET_EPROTOCOL);
	frame_decoder_close(&bad);
	assert_int_equal(frame_decoder_resume(&d, record_frame, &got), 0);
	assert_int_equal(got.n, 5);
	assert_int_equal(d.header_len, FRAME_HEADER_BYTES); /* frame 6 begun */
	assert_int_equal(
	    frame_decoder_feed(&d, stream + end, len - end, record_frame, &got),
	    0);
	assert_same_frames(&got, &expected);
	frame_decoder_close(&d);
}

/* A hold at the last byte of a feed keeps nothing; one that cannot keep
 * the rest fails as out of memory, for good. Closing frees what is held. */
static void test_frame_hold_at_the_end_keeps_nothing(void **state)
{
	uint8_t stream[2048];
	struct record expected, got;
	struct frame_decoder d;
	(void)state;

	size_t len = make_stream(stream, &expected);
	stop_at(&got, (int)N_SIZES, FRAME_HOLD, &d);
	assert_int_equal(
	    frame_decoder_feed(&d, stream, len, record_frame, &got),
	    FRAME_HOLD);
	assert_false(frame_decoder_holding(&d));
	assert_int_equal(heap.live, 0);
	frame_decoder_close(&d);

	stop_at(&got, 1, FRAME_HOLD, &d);
	heap.fail_in = 1; /* the copy of what is held */
	assert_int_equal(
	    frame_decoder_feed(&d, stream, len, record_frame, &got),
	    IPSNET_ENOMEM);
	assert_int_equal(frame_decoder_resume(&d, record_frame, &got),
			 IPSNET_ENOMEM);
	frame_decoder_close(&d);

	stop_at(&got, 1, FRAME_HOLD, &d);
	assert_int_equal(
	    frame_decoder_feed(&d, stream, len, record_frame, &got),
	    FRAME_HOLD);
	assert_int_equal(heap.live, 1);
	frame_decoder_close(&d); /* the teardown finds nothing left */
}

static void test_frame_out_of_memory_is_reported_and_sticky(void **state)
{
	uint8_t stream[64];
	struct frame_decoder d;
	struct record got = {0};
	(void)state;

	size_t len = put_frame(stream, 0, 40, 1);
	heap.fail_in = 1;
	frame_decoder_init(&d, 0);
	assert_int_equal(frame_decoder_feed(&d, stream, 10, record_frame, &got),
			 IPSNET_ENOMEM);
	assert_int_equal(
	    frame_decoder_feed(&d, stream + 10, len - 10, record_frame, &got),
	    IPSNET_ENOMEM);
	assert_int_equal(got.n, 0);
	frame_decoder_close(&d);
}

static void test_frame_close_frees_a_partial_frame(void **state)
{
	uint8_t stream[64];
	struct frame_decoder d;
	struct record got = {0};
	(void)state;

	put_frame(stream, 0, 40, 1);
	frame_decoder_init(&d, 0);
	assert_int_equal(frame_decoder_feed(&d, stream, 20, record_frame, &got),
			 0);
	assert_int_equal(heap.live, 1);
	frame_decoder_close(&d);
	assert_int_equal(heap.live, 0);
	frame_decoder_close(&d); /* twice is harmless */
}

static void test_frame_empty_feed_changes_nothing(void **state)
{
	struct frame_decoder d;
	struct record got = {0};
	(void)state;

	frame_decoder_init(&d, 0);
	assert_int_equal(frame_decoder_feed(&d, NULL, 0, record_frame, &got),
			 0);
	assert_int_equal(d.header_len, 0);
	assert_int_equal(got.n, 0);
	frame_decoder_close(&d);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    T(test_frame_header_is_four_bytes_big_endian),
	    T(test_frame_many_frames_in_one_read_are_all_delivered),
	    T(test_frame_whole_frames_are_passed_without_allocating),
	    T(test_frame_split_at_every_point_in_two_reads_yields_same_frames),
	    T(test_frame_one_byte_reads_yield_same_frames),
	    T(test_frame_split_in_three_reads_yields_same_frames),
	    T(test_frame_partial_frame_allocates_its_body_once_exactly),
	    T(test_frame_zero_length_is_refused),
	    T(test_frame_oversize_is_refused_without_allocating),
	    T(test_frame_exactly_max_is_accepted),
	    T(test_frame_max_plus_one_is_refused),
	    T(test_frame_zero_max_means_default_max),
	    T(test_frame_error_is_sticky),
	    T(test_frame_frames_before_a_bad_header_are_delivered),
	    T(test_frame_callback_can_stop_decoding),
	    T(test_frame_callback_can_stop_on_a_buffered_frame),
	    T(test_frame_positive_callback_result_means_go_on),
	    T(test_frame_callback_can_hold_the_rest_back),
	    T(test_frame_hold_on_a_buffered_frame_keeps_a_frame_begun),
	    T(test_frame_hold_at_the_end_keeps_nothing),
	    T(test_frame_out_of_memory_is_reported_and_sticky),
	    T(test_frame_close_frees_a_partial_frame),
	    T(test_frame_empty_feed_changes_nothing),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
