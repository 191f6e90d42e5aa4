/* sync_change_name: the name an event carries, read from a journal entry's
 * payload bytes without decoding them. The payloads are the daemon's own,
 * but the journal is a file on a disk: bytes that do not parse must give
 * "unknown", never a read past the end or a loop without end. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "sync.h"

/* Every body member of Envelope, packed with the fields a change carries
 * before it (request_id, idempotency_key), gives its own name. */
static void test_every_body_member(void **state)
{
	(void)state;
	const ProtobufCMessageDescriptor *d = &ipsnet__v1__envelope__descriptor;
	static uint8_t key[16] = {1, 2, 3};
	int seen = 0;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->id < 10)
			continue;
		/* The member, present and empty: its sub-message's INIT. */
		const ProtobufCMessageDescriptor *md = f->descriptor;
		ProtobufCMessage *sub = calloc(1, md->sizeof_message);
		assert_non_null(sub);
		md->message_init(sub);
		Ipsnet__V1__Envelope env = IPSNET__V1__ENVELOPE__INIT;
		env.request_id = 300; /* two bytes of varint */
		env.idempotency_key.data = key;
		env.idempotency_key.len = sizeof(key);
		*(uint32_t *)((char *)&env + f->quantifier_offset) = f->id;
		*(ProtobufCMessage **)((char *)&env + f->offset) = sub;
		uint8_t buf[256];
		size_t n = ipsnet__v1__envelope__get_packed_size(&env);
		assert_true(n <= sizeof(buf));
		ipsnet__v1__envelope__pack(&env, buf);
		assert_string_equal(sync_change_name(buf, n), f->name);
		free(sub);
		seen++;
	}
	assert_true(seen > 20);
	/* A real one, spelled out: field 100 (register_client), empty. */
	static const uint8_t rc[] = {0x08, 0x07, 0xa2, 0x06, 0x00};
	assert_string_equal(sync_change_name(rc, sizeof(rc)),
			    "register_client");
}

static void test_bytes_that_do_not_parse(void **state)
{
	(void)state;
	/* Nothing, or no field from 10 on. */
	assert_string_equal(sync_change_name(NULL, 0), "unknown");
	static const uint8_t only_id[] = {0x08, 0x05};
	assert_string_equal(sync_change_name(only_id, sizeof(only_id)),
			    "unknown");
	/* A length that runs past the end, by one and by 2^63: "unknown",
	 * not a jump back into the bytes (i + len wraps). */
	static const uint8_t past_end[] = {0x12, 0x03, 0xaa, 0xbb};
	assert_string_equal(sync_change_name(past_end, sizeof(past_end)),
			    "unknown");
	static const uint8_t huge[] = {0x12, 0xff, 0xff, 0xff, 0xff,
				       0xff, 0xff, 0xff, 0xff, 0xff,
				       0x01, 0xa2, 0x06, 0x00};
	assert_string_equal(sync_change_name(huge, sizeof(huge)), "unknown");
	/* 2^64 - 11 after 11 bytes: i + len wraps to 0, which without the
	 * check read the same bytes again for ever. */
	static const uint8_t wraps[] = {0x12, 0xf5, 0xff, 0xff, 0xff, 0xff,
					0xff, 0xff, 0xff, 0xff, 0x01};
	assert_string_equal(sync_change_name(wraps, sizeof(wraps)), "unknown");
	/* A varint that never ends; a wire type protobuf does not have. */
	static const uint8_t endless[] = {0x08, 0xff, 0xff, 0xff};
	assert_string_equal(sync_change_name(endless, sizeof(endless)),
			    "unknown");
	static const uint8_t bad_type[] = {0x0f, 0x00};
	assert_string_equal(sync_change_name(bad_type, sizeof(bad_type)),
			    "unknown");
	/* A field number from 10 on that Envelope does not have. */
	static const uint8_t no_such[] = {0xb8, 0x3e, 0x01}; /* field 999 */
	assert_string_equal(sync_change_name(no_such, sizeof(no_such)),
			    "unknown");
	/* Fixed-width fields skipped, then the body. */
	static const uint8_t fixed[] = {0x19, 1, 2, 3, 4, 5,	6,    7,   8,
					0x25, 1, 2, 3, 4, 0xa2, 0x06, 0x00};
	assert_string_equal(sync_change_name(fixed, sizeof(fixed)),
			    "register_client");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_body_member),
	    cmocka_unit_test(test_bytes_that_do_not_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
