/* The fork-join pool of the live fan-out (daemon/fanout): every index is
 * run exactly once, by the caller or a helper, whatever the size of the
 * run and the number of helpers, run after run. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include <cmocka.h>

#include "fanout.h"

struct counts {
	atomic_uint *hits;
	size_t n;
	atomic_uint outside; /* indices past n (a helper may not fail cmocka) */
};

static void hit(void *arg, size_t i)
{
	struct counts *c = arg;
	if (i < c->n)
		atomic_fetch_add(&c->hits[i], 1);
	else
		atomic_fetch_add(&c->outside, 1);
}

static void every_index_once(unsigned threads)
{
	static const size_t sizes[] = {0,  1,  15, 16,   17,
				       63, 64, 65, 1000, 4099};
	struct fanout *f;
	assert_int_equal(fanout_new(&f, threads), 0);
	for (int round = 0; round < 50; round++) {
		for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
			struct counts c = {
			    calloc(sizes[k] + 1, sizeof(atomic_uint)),
			    sizes[k], 0};
			assert_non_null(c.hits);
			fanout_run(f, c.n, hit, &c);
			/* Returned: everything ran, and only once. */
			assert_int_equal(atomic_load(&c.outside), 0);
			for (size_t i = 0; i < c.n; i++)
				assert_int_equal(atomic_load(&c.hits[i]), 1);
			free(c.hits);
		}
	}
	fanout_free(f);
}

static void test_no_helpers(void **state)
{
	every_index_once(0);
}

static void test_one_helper(void **state)
{
	every_index_once(1);
}

static void test_more_helpers_than_cpus(void **state)
{
	every_index_once(7);
}

static void test_free_while_helpers_wait(void **state)
{
	struct fanout *f;
	assert_int_equal(fanout_new(&f, 3), 0);
	fanout_free(f); /* never ran: the helpers must still stop */
	fanout_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_no_helpers),
	    cmocka_unit_test(test_one_helper),
	    cmocka_unit_test(test_more_helpers_than_cpus),
	    cmocka_unit_test(test_free_while_helpers_wait),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
