/* The import's CSV reader (client/cli/csv.c): RFC 4180 records, quotes,
 * separators and line breaks inside quotes, CRLF, and errors that name the
 * line they are on. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "alloc.h"
#include "csv.h"
#include "ipsnet_errors.h"

/* Reads all of text; the fields of every record joined as "a|b|c" lines
 * into out ("@LINE " before each record when with_lines). Returns the last
 * csv_next result (0 at a clean end). */
static int read_all(const char *text, size_t len, char sep, bool with_lines,
		    char *out, size_t cap, struct csv_reader *r)
{
	int rv;
	out[0] = '\0';
	csv_init(r, text, len, sep);
	while ((rv = csv_next(r)) == 1) {
		size_t n = strlen(out);
		if (with_lines)
			n += (size_t)snprintf(out + n, cap - n, "@%lu ",
					      r->record_line);
		for (size_t i = 0; i < r->n_fields; i++)
			n += (size_t)snprintf(out + n, cap - n, "%s%s",
					      i > 0 ? "|" : "", r->fields[i]);
		snprintf(out + n, cap - n, "\n");
	}
	return rv;
}

static void expect(const char *text, const char *want)
{
	struct csv_reader r;
	char got[1024];
	int rv = read_all(text, strlen(text), ',', false, got, sizeof(got), &r);
	if (rv != 0)
		fail_msg("%s", r.error);
	assert_string_equal(got, want);
	csv_free(&r);
}

static void expect_error(const char *text, unsigned long line,
			 const char *words)
{
	struct csv_reader r;
	char got[1024];
	int rv = read_all(text, strlen(text), ',', false, got, sizeof(got), &r);
	assert_int_equal(rv, IPSNET_EINVAL);
	assert_int_equal(r.error_line, line);
	char prefix[32];
	snprintf(prefix, sizeof(prefix), "line %lu: ", line);
	assert_memory_equal(r.error, prefix, strlen(prefix));
	if (strstr(r.error, words) == NULL)
		fail_msg("error '%s' does not say '%s'", r.error, words);
	/* the error sticks */
	assert_int_equal(csv_next(&r), IPSNET_EINVAL);
	csv_free(&r);
}

static void test_plain_records_split_on_commas_and_newlines(void **state)
{
	expect("a,b,c\n1,2,3\n", "a|b|c\n1|2|3\n");
}

static void test_last_record_needs_no_newline(void **state)
{
	expect("a,b\n1,2", "a|b\n1|2\n");
}

static void test_crlf_and_lone_cr_end_records(void **state)
{
	expect("a,b\r\n1,2\r\n3,4\r5,6", "a|b\n1|2\n3|4\n5|6\n");
}

static void test_empty_fields_are_kept(void **state)
{
	expect(",a,,b,\n", "|a||b|\n");
}

static void test_quoted_fields_hold_separators_quotes_and_newlines(void **state)
{
	expect("name,note\n\"de Vries, Anna\",\"says \"\"hi\"\"\nand "
	       "bye\"\n",
	       "name|note\nde Vries, Anna|says \"hi\"\nand bye\n");
}

static void test_quoted_crlf_is_kept_inside_the_field(void **state)
{
	expect("\"a\r\nb\",c\r\n", "a\r\nb|c\n");
}

static void test_empty_quoted_field(void **state)
{
	expect("\"\",x\n", "|x\n");
}

static void test_blank_lines_hold_no_record(void **state)
{
	expect("\n\na,b\n\n\r\n1,2\n\n", "a|b\n1|2\n");
}

static void test_byte_order_mark_is_skipped(void **state)
{
	expect("\xEF\xBB\xBF"
	       "bsn,name\n1,2\n",
	       "bsn|name\n1|2\n");
}

static void test_spaces_are_part_of_the_field(void **state)
{
	expect(" a , b \n", " a | b \n");
}

static void test_utf8_passes_through(void **state)
{
	expect("Zo\xC3\xAB,Ren\xC3\xA9\n", "Zo\xC3\xAB|Ren\xC3\xA9\n");
}

static void test_records_know_the_line_they_start_on(void **state)
{
	struct csv_reader r;
	char got[1024];
	const char text[] =
	    "h1,h2\n\"multi\nline\",x\n\ny,z\n\"a\r\n\r\nb\",c\n"
	    "last,one";
	int rv = read_all(text, strlen(text), ',', true, got, sizeof(got), &r);
	assert_int_equal(rv, 0);
	assert_string_equal(got, "@1 h1|h2\n"
				 "@2 multi\nline|x\n"
				 "@5 y|z\n"
				 "@6 a\r\n\r\nb|c\n"
				 "@9 last|one\n");
	csv_free(&r);
}

static void test_semicolon_and_tab_separators(void **state)
{
	struct csv_reader r;
	char got[256];
	const char semi[] = "a;\"b;c\";d\n";
	assert_int_equal(
	    read_all(semi, strlen(semi), ';', false, got, sizeof(got), &r), 0);
	assert_string_equal(got, "a|b;c|d\n");
	csv_free(&r);
	const char tab[] = "a\tb,c\n";
	assert_int_equal(
	    read_all(tab, strlen(tab), '\t', false, got, sizeof(got), &r), 0);
	assert_string_equal(got, "a|b,c\n");
	csv_free(&r);
}

static void test_separator_is_guessed_from_the_first_line(void **state)
{
	const char semi[] = "bsn;name;\"x,y,z\"\n1,2,3,4\n";
	const char comma[] = "bsn,name;x\n";
	const char tab[] = "bsn\tname\tbirth\n";
	const char one[] = "bsn\n";
	assert_int_equal(csv_guess_separator(semi, strlen(semi)), ';');
	assert_int_equal(csv_guess_separator(comma, strlen(comma)), ',');
	assert_int_equal(csv_guess_separator(tab, strlen(tab)), '\t');
	assert_int_equal(csv_guess_separator(one, strlen(one)), ',');
	assert_int_equal(csv_guess_separator("", 0), ',');
}

/* The reader skips blank lines before the header; so does the guess. */
static void test_separator_is_guessed_past_blank_lines(void **state)
{
	const char semi[] = "\r\n\nbsn;name;birth_date\r\n1;2;3\r\n";
	const char bom[] = "\xEF\xBB\xBF\r\nbsn;name\r\n";
	assert_int_equal(csv_guess_separator(semi, strlen(semi)), ';');
	assert_int_equal(csv_guess_separator(bom, strlen(bom)), ';');
	assert_int_equal(csv_guess_separator("\n\n", 2), ',');
}

/* A line of spaces and tabs is blank to the import (cmd_import skips it
 * before the header): the separator is the header's, not a tab's. */
static void test_separator_is_guessed_past_lines_of_spaces(void **state)
{
	const char spaces[] = "  \r\n\t \nbsn;name;birth_date\r\n1;2;3\r\n";
	const char tabs[] = "\t\t\t\nbsn;name;birth_date\n";
	const char tab_file[] = "\t\t\nbsn\tname\tbirth_date\n";
	assert_int_equal(csv_guess_separator(spaces, strlen(spaces)), ';');
	assert_int_equal(csv_guess_separator(tabs, strlen(tabs)), ';');
	assert_int_equal(csv_guess_separator(tab_file, strlen(tab_file)), '\t');
}

static void test_quote_inside_unquoted_field_is_an_error(void **state)
{
	expect_error("a,b\nAnna \"Ankie\" de Vries,2\n", 2,
		     "quote inside a field that is not in quotes");
}

static void test_text_after_closing_quote_is_an_error(void **state)
{
	expect_error("a,b\n1,2\n\"abc\"d,3\n", 3, "after the closing quote");
}

static void test_unclosed_quote_names_the_line_it_opens_on(void **state)
{
	expect_error("a,b\n1,2\n3,\"never\nclosed\n\n", 3, "never closed");
}

static void test_nul_byte_is_an_error(void **state)
{
	struct csv_reader r;
	char got[64];
	const char text[] = "a,b\n1,\0\n";
	assert_int_equal(
	    read_all(text, sizeof(text) - 1, ',', false, got, sizeof(got), &r),
	    IPSNET_EINVAL);
	assert_int_equal(r.error_line, 2);
	assert_non_null(strstr(r.error, "NUL"));
	csv_free(&r);
}

/* Excel's "Unicode text" is UTF-16: said so, with what to do. */
static void test_utf16_is_named(void **state)
{
	static const char le[] = "\xFF\xFE"
				 "b\0s\0n\0\n\0";
	static const char be[] = "\0b\0s\0n\0\n";
	const char *texts[] = {le, be};
	size_t lens[] = {sizeof(le) - 1, sizeof(be) - 1};
	for (size_t i = 0; i < 2; i++) {
		struct csv_reader r;
		char got[256];
		assert_int_equal(read_all(texts[i], lens[i], ',', false, got,
					  sizeof(got), &r),
				 IPSNET_EINVAL);
		if (strstr(r.error, "UTF-16") == NULL ||
		    strstr(r.error, "CSV UTF-8") == NULL)
			fail_msg("error '%s'", r.error);
		csv_free(&r);
	}
}

static void test_error_line_counts_newlines_inside_quotes(void **state)
{
	expect_error("a,b\n\"x\ny\nz\",1\nbad\"quote,2\n", 5, "quote");
}

static void test_too_many_fields_is_an_error(void **state)
{
	char text[2 * CSV_MAX_FIELDS + 8];
	size_t n = 0;
	for (int i = 0; i <= CSV_MAX_FIELDS; i++)
		text[n++] = i < CSV_MAX_FIELDS ? ',' : 'x';
	text[n++] = '\n';
	text[n] = '\0';
	expect_error(text, 1, "a value after the 256th field");
}

/* A spreadsheet whose formatted range runs far to the right writes
 * hundreds of empty cells after its last column: they are dropped. */
static void test_empty_fields_past_the_limit_are_dropped(void **state)
{
	char text[4 * CSV_MAX_FIELDS + 64];
	size_t n = (size_t)snprintf(text, sizeof(text), "a,\"\"");
	for (int i = 0; i < CSV_MAX_FIELDS + 300; i++)
		text[n++] = ',';
	n += (size_t)snprintf(text + n, sizeof(text) - n, "\nb\n");
	struct csv_reader r;
	csv_init(&r, text, n, ',');
	assert_int_equal(csv_next(&r), 1);
	assert_int_equal(r.n_fields, CSV_MAX_FIELDS);
	assert_string_equal(r.fields[0], "a");
	for (size_t i = 1; i < r.n_fields; i++)
		assert_string_equal(r.fields[i], "");
	assert_int_equal(csv_next(&r), 1);
	assert_int_equal(r.n_fields, 1);
	assert_string_equal(r.fields[0], "b");
	assert_int_equal(r.record_line, 2);
	assert_int_equal(csv_next(&r), 0);
	csv_free(&r);
	/* A value after them is still refused. */
	n = 0;
	for (int i = 0; i < CSV_MAX_FIELDS + 300; i++)
		text[n++] = ',';
	text[n++] = 'x';
	text[n] = '\0';
	expect_error(text, 1, "a value after the 256th field");
}

static void test_empty_input_has_no_records(void **state)
{
	expect("", "");
	expect("\xEF\xBB\xBF", "");
	expect("\r\n\n", "");
}

static void test_a_long_field_grows_the_buffer(void **state)
{
	size_t len = 100000;
	char *text = malloc(len + 8);
	assert_non_null(text);
	text[0] = '"';
	memset(text + 1, 'x', len);
	memcpy(text + 1 + len, "\",y\n", 5);
	struct csv_reader r;
	csv_init(&r, text, strlen(text), ',');
	assert_int_equal(csv_next(&r), 1);
	assert_int_equal(r.n_fields, 2);
	assert_int_equal(strlen(r.fields[0]), len);
	assert_string_equal(r.fields[1], "y");
	assert_int_equal(csv_next(&r), 0);
	csv_free(&r);
	free(text);
}

/* ---- out of memory ------------------------------------------------------ */

static long fail_in; /* fail the n-th allocation from now; 0: never */
static size_t live;

static void *failing_malloc(size_t size)
{
	if (fail_in > 0 && --fail_in == 0)
		return NULL;
	void *p = malloc(size);
	if (p != NULL)
		live++;
	return p;
}

static void *failing_realloc(void *ptr, size_t size)
{
	if (ptr == NULL)
		return failing_malloc(size);
	if (fail_in > 0 && --fail_in == 0)
		return NULL;
	return realloc(ptr, size);
}

static void failing_free(void *ptr)
{
	if (ptr != NULL)
		live--;
	free(ptr);
}

static const struct ipsnet_allocator failing = {failing_malloc, failing_realloc,
						failing_free};

static void
test_every_failed_allocation_is_reported_and_leaks_nothing(void **state)
{
	const char text[] = "a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r\n"
			    "\"long field to make the buffer grow beyond its "
			    "first size of two hundred and fifty-six bytes, "
			    "which takes a while to write out in words, and "
			    "a little more still, to be sure of it, really "
			    "sure\",2\n";
	ipsnet_replace_allocator(&failing);
	for (long n = 1;; n++) {
		struct csv_reader r;
		int rv;
		fail_in = n;
		live = 0;
		csv_init(&r, text, strlen(text), ',');
		while ((rv = csv_next(&r)) == 1)
			;
		csv_free(&r);
		assert_int_equal(live, 0);
		if (rv == 0)
			break;
		assert_int_equal(rv, IPSNET_ENOMEM);
		assert_true(n < 100);
	}
	fail_in = 0;
	ipsnet_replace_allocator(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_plain_records_split_on_commas_and_newlines),
	    cmocka_unit_test(test_last_record_needs_no_newline),
	    cmocka_unit_test(test_crlf_and_lone_cr_end_records),
	    cmocka_unit_test(test_empty_fields_are_kept),
	    cmocka_unit_test(
		test_quoted_fields_hold_separators_quotes_and_newlines),
	    cmocka_unit_test(test_quoted_crlf_is_kept_inside_the_field),
	    cmocka_unit_test(test_empty_quoted_field),
	    cmocka_unit_test(test_blank_lines_hold_no_record),
	    cmocka_unit_test(test_byte_order_mark_is_skipped),
	    cmocka_unit_test(test_spaces_are_part_of_the_field),
	    cmocka_unit_test(test_utf8_passes_through),
	    cmocka_unit_test(test_records_know_the_line_they_start_on),
	    cmocka_unit_test(test_semicolon_and_tab_separators),
	    cmocka_unit_test(test_separator_is_guessed_from_the_first_line),
	    cmocka_unit_test(test_separator_is_guessed_past_blank_lines),
	    cmocka_unit_test(test_separator_is_guessed_past_lines_of_spaces),
	    cmocka_unit_test(test_quote_inside_unquoted_field_is_an_error),
	    cmocka_unit_test(test_text_after_closing_quote_is_an_error),
	    cmocka_unit_test(test_unclosed_quote_names_the_line_it_opens_on),
	    cmocka_unit_test(test_nul_byte_is_an_error),
	    cmocka_unit_test(test_utf16_is_named),
	    cmocka_unit_test(test_error_line_counts_newlines_inside_quotes),
	    cmocka_unit_test(test_too_many_fields_is_an_error),
	    cmocka_unit_test(test_empty_fields_past_the_limit_are_dropped),
	    cmocka_unit_test(test_empty_input_has_no_records),
	    cmocka_unit_test(test_a_long_field_grows_the_buffer),
	    cmocka_unit_test(
		test_every_failed_allocation_is_reported_and_leaks_nothing),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
