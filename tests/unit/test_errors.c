/* The error table: every code written once, with a name, a message and a
 * wire status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "ipsnet.pb-c.h"
#include "ipsnet_errors.h"

struct code {
	int code;
	const char *name;
	const char *message;
};

static const struct code codes[] = {
#define XX(name, status, msg) {IPSNET_E##name, "IPSNET_E" #name, msg},
    IPSNET_ERRNO_MAP(XX)
#undef XX
};

#define N_CODES (sizeof(codes) / sizeof(codes[0]))

static void test_errors_every_code_is_negative_and_distinct(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CODES; i++) {
		assert_true(codes[i].code < 0);
		assert_true(codes[i].code > IPSNET__ERR_FIRST);
		assert_true(codes[i].code < IPSNET__ERR_LAST);
		for (size_t j = 0; j < i; j++)
			assert_int_not_equal(codes[i].code, codes[j].code);
	}
}

static void test_errors_every_code_has_its_own_name(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CODES; i++) {
		const char *name = ipsnet_err_name(codes[i].code);
		assert_string_equal(name, codes[i].name);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(name,
						ipsnet_err_name(codes[j].code));
	}
}

static void test_errors_every_code_has_a_message(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CODES; i++) {
		const char *msg = ipsnet_strerror(codes[i].code);
		assert_non_null(msg);
		assert_true(strlen(msg) > 0);
		assert_string_equal(msg, codes[i].message);
		assert_string_not_equal(msg, "unknown error");
	}
}

static void
test_errors_every_code_has_a_wire_status_that_maps_back(void **state)
{
	(void)state;
	for (size_t i = 0; i < N_CODES; i++) {
		int status = ipsnet_err_status(codes[i].code);
		assert_int_not_equal(status, IPSNET__V1__CODE__OK);
		assert_string_not_equal(ipsnet_status_name(status), "UNKNOWN");
		/* The way back gives some error of the same status. */
		int back = ipsnet_err_from_status(status);
		assert_true(back < 0);
		assert_int_equal(ipsnet_err_status(back), status);
	}
}

static void test_errors_zero_is_ok(void **state)
{
	(void)state;
	assert_string_equal(ipsnet_strerror(0), "ok");
	assert_string_equal(ipsnet_err_name(0), "OK");
	assert_int_equal(ipsnet_err_status(0), IPSNET__V1__CODE__OK);
	assert_int_equal(ipsnet_err_from_status(IPSNET__V1__CODE__OK), 0);
	assert_string_equal(ipsnet_status_name(IPSNET__V1__CODE__OK), "OK");
}

static void test_errors_unknown_codes_are_named_unknown(void **state)
{
	static const int unknown[] = {1, -1, IPSNET__ERR_FIRST,
				      IPSNET__ERR_LAST, -100000};
	(void)state;
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		assert_string_equal(ipsnet_strerror(unknown[i]),
				    "unknown error");
		assert_string_equal(ipsnet_err_name(unknown[i]),
				    "IPSNET_EUNKNOWN");
		assert_int_equal(ipsnet_err_status(unknown[i]),
				 IPSNET__V1__CODE__UNKNOWN);
	}
	assert_string_equal(ipsnet_status_name(9999), "UNKNOWN");
	assert_int_equal(ipsnet_err_from_status(9999), IPSNET_EINTERNAL);
}

static void test_errors_conflict_is_aborted_on_the_wire(void **state)
{
	(void)state;
	assert_int_equal(ipsnet_err_status(IPSNET_ECONFLICT),
			 IPSNET__V1__CODE__ABORTED);
	assert_int_equal(ipsnet_err_from_status(IPSNET__V1__CODE__ABORTED),
			 IPSNET_ECONFLICT);
	assert_int_equal(ipsnet_err_status(IPSNET_EFRAME_TOO_LARGE),
			 IPSNET__V1__CODE__RESOURCE_EXHAUSTED);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_errors_every_code_is_negative_and_distinct),
	    cmocka_unit_test(test_errors_every_code_has_its_own_name),
	    cmocka_unit_test(test_errors_every_code_has_a_message),
	    cmocka_unit_test(
		test_errors_every_code_has_a_wire_status_that_maps_back),
	    cmocka_unit_test(test_errors_zero_is_ok),
	    cmocka_unit_test(test_errors_unknown_codes_are_named_unknown),
	    cmocka_unit_test(test_errors_conflict_is_aborted_on_the_wire),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
