/* logfmt lines: quoting, the fields of a line, level filtering, and one
 * whole line per entry even when threads log at once. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "ipsnet_errors.h"
#include "log.h"
#include "util.h"

struct capture {
	FILE *file;
	char text[65536];
	size_t len;
};

static int setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -1;
	c->file = tmpfile();
	if (c->file == NULL) {
		free(c);
		return -1;
	}
	log_set_stream(c->file);
	log_set_level(LOG_DEBUG);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct capture *c = *state;
	log_set_stream(NULL);
	log_set_level(LOG_INFO);
	fclose(c->file);
	free(c);
	return 0;
}

/* Everything written so far, as a string. */
static const char *captured(struct capture *c)
{
	rewind(c->file);
	c->len = fread(c->text, 1, sizeof(c->text) - 1, c->file);
	c->text[c->len] = '\0';
	return c->text;
}

static size_t count_char(const char *s, char ch)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == ch;
	return n;
}

/* ---- log_quote ----------------------------------------------------------- */

static void test_log_quote_leaves_a_plain_value_alone(void **state)
{
	char buf[64];
	(void)state;
	assert_string_equal(log_quote(buf, sizeof(buf), "ggz-noord"),
			    "ggz-noord");
	assert_string_equal(log_quote(buf, sizeof(buf), "127.0.0.1:51234"),
			    "127.0.0.1:51234");
	assert_string_equal(log_quote(buf, sizeof(buf), "C:\\x"), "C:\\x");
}

static void test_log_quote_quotes_spaces_equals_and_quotes(void **state)
{
	char buf[64];
	(void)state;
	assert_string_equal(log_quote(buf, sizeof(buf), "connection closed"),
			    "\"connection closed\"");
	assert_string_equal(log_quote(buf, sizeof(buf), "a=b"), "\"a=b\"");
	assert_string_equal(log_quote(buf, sizeof(buf), "say \"hi\""),
			    "\"say \\\"hi\\\"\"");
	assert_string_equal(log_quote(buf, sizeof(buf), "tab\there"),
			    "\"tab\\there\"");
}

static void test_log_quote_escapes_backslash_inside_quotes(void **state)
{
	char buf[64];
	(void)state;
	assert_string_equal(log_quote(buf, sizeof(buf), "a \\ b"),
			    "\"a \\\\ b\"");
}

static void test_log_quote_escapes_newlines_and_control_bytes(void **state)
{
	char buf[64];
	(void)state;
	assert_string_equal(log_quote(buf, sizeof(buf), "two\nlines\r"),
			    "\"two\\nlines\\r\"");
	assert_string_equal(log_quote(buf, sizeof(buf), "bell\x07"),
			    "\"bell\\u0007\"");
	assert_string_equal(log_quote(buf, sizeof(buf), "del\x7f"),
			    "\"del\\u007f\"");
}

static void test_log_quote_writes_empty_and_null_as_empty_quotes(void **state)
{
	char buf[8];
	(void)state;
	assert_string_equal(log_quote(buf, sizeof(buf), ""), "\"\"");
	assert_string_equal(log_quote(buf, sizeof(buf), NULL), "\"\"");
}

static void test_log_quote_keeps_utf8_unquoted(void **state)
{
	char buf[64];
	(void)state;
	assert_string_equal(log_quote(buf, sizeof(buf), "Zoë"), "Zoë");
}

static void test_log_quote_truncates_and_keeps_quotes_balanced(void **state)
{
	char buf[8];
	(void)state;
	/* Room for 7 bytes: the quotes and 5 of the value. */
	assert_string_equal(log_quote(buf, sizeof(buf), "a b c d e f"),
			    "\"a b c\"");
	/* An escape is never cut in half. */
	assert_string_equal(log_quote(buf, sizeof(buf), "abcd\"e"), "\"abcd\"");
	assert_string_equal(log_quote(buf, sizeof(buf), "abcdefghij"),
			    "abcdefg");
	/* Nor is a UTF-8 character. */
	assert_string_equal(log_quote(buf, sizeof(buf), "a b ëëë"), "\"a b \"");
	char tiny[2] = {'x', 'x'};
	assert_string_equal(log_quote(tiny, sizeof(tiny), "a b"), "");
	log_quote(tiny, 0, "a b"); /* writes nothing at all */
	assert_int_equal(tiny[1], 'x');
}

/* ---- lines --------------------------------------------------------------- */

static void test_log_line_has_ts_level_msg_in_logfmt(void **state)
{
	struct capture *c = *state;

	log_msg(LOG_INFO, "connection closed", "org=%s peer=%s", "ggz-noord",
		"127.0.0.1:51234");
	const char *line = captured(c);
	assert_int_equal(count_char(line, '\n'), 1);
	assert_true(line[c->len - 1] == '\n');
	assert_memory_equal(line, "ts=", 3);
	/* ts=2026-11-25T16:31:02.123Z */
	const char *ts = line + 3;
	assert_int_equal(ts[4], '-');
	assert_int_equal(ts[10], 'T');
	assert_int_equal(ts[19], '.');
	assert_int_equal(ts[23], 'Z');
	assert_int_equal(ts[24], ' ');
	assert_string_equal(ts + 25, "level=info msg=\"connection closed\" "
				     "org=ggz-noord peer=127.0.0.1:51234\n");
}

static void test_log_msg_without_spaces_is_not_quoted(void **state)
{
	struct capture *c = *state;

	log_msg(LOG_WARN, "listening", "addr=%s", "127.0.0.1:7443");
	assert_non_null(strstr(
	    captured(c), " level=warn msg=listening addr=127.0.0.1:7443\n"));
}

static void test_log_line_without_fields_ends_after_msg(void **state)
{
	struct capture *c = *state;

	log_msg(LOG_ERROR, "stopped", NULL);
	log_msg(LOG_ERROR, "stopped again", "%s", "");
	const char *text = captured(c);
	assert_non_null(strstr(text, " level=error msg=stopped\n"));
	assert_non_null(strstr(text, " level=error msg=\"stopped again\"\n"));
}

static void test_log_level_filter_drops_lower_levels(void **state)
{
	struct capture *c = *state;

	log_set_level(LOG_WARN);
	assert_false(log_enabled(LOG_DEBUG));
	assert_false(log_enabled(LOG_INFO));
	assert_true(log_enabled(LOG_WARN));
	assert_true(log_enabled(LOG_ERROR));
	log_debug("d", "n=%d", 1);
	log_info("i", "n=%d", 2);
	log_warn("w", "n=%d", 3);
	log_error("e", "n=%d", 4);
	const char *text = captured(c);
	assert_int_equal(count_char(text, '\n'), 2);
	assert_null(strstr(text, "level=debug"));
	assert_null(strstr(text, "level=info"));
	assert_non_null(strstr(text, "level=warn msg=w n=3\n"));
	assert_non_null(strstr(text, "level=error msg=e n=4\n"));
}

static void test_log_level_off_writes_nothing(void **state)
{
	struct capture *c = *state;

	log_set_level(LOG_OFF);
	assert_int_equal(log_get_level(), LOG_OFF);
	assert_false(log_enabled(LOG_ERROR));
	log_error("e", "n=%d", 1);
	log_msg(LOG_OFF, "never", NULL);
	assert_string_equal(captured(c), "");
}

static void test_log_level_parse_accepts_the_five_names(void **state)
{
	enum log_level level;
	(void)state;

	assert_int_equal(log_level_parse("debug", &level), 0);
	assert_int_equal(level, LOG_DEBUG);
	assert_int_equal(log_level_parse("info", &level), 0);
	assert_int_equal(level, LOG_INFO);
	assert_int_equal(log_level_parse("warn", &level), 0);
	assert_int_equal(level, LOG_WARN);
	assert_int_equal(log_level_parse("ERROR", &level), 0);
	assert_int_equal(level, LOG_ERROR);
	assert_int_equal(log_level_parse("off", &level), 0);
	assert_int_equal(level, LOG_OFF);
	assert_int_equal(log_level_parse("warning", &level), IPSNET_ECONFIG);
	assert_int_equal(log_level_parse("", &level), IPSNET_ECONFIG);
	assert_int_equal(log_level_parse(NULL, &level), IPSNET_ECONFIG);
}

static void test_log_long_line_is_cut_to_one_closed_line(void **state)
{
	struct capture *c = *state;
	char big[4000];

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[1500] = ' ';
	char quoted[sizeof(big) + 8];
	log_quote(quoted, sizeof(quoted), big);
	log_msg(LOG_INFO, "big", "value=%s after=1", quoted);
	const char *line = captured(c);
	assert_true(c->len < 2048);
	assert_int_equal(count_char(line, '\n'), 1);
	assert_int_equal(count_char(line, '"') % 2, 0);
	assert_non_null(strstr(line, "\" truncated=true\n"));
}

static void test_log_long_msg_is_cut_to_one_closed_line(void **state)
{
	struct capture *c = *state;
	char big[4000];

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	big[10] = ' ';
	log_msg(LOG_INFO, big, "org=%s", "uwv");
	const char *line = captured(c);
	assert_true(c->len < 2048);
	assert_int_equal(count_char(line, '\n'), 1);
	assert_int_equal(count_char(line, '"'), 2);
	assert_non_null(strstr(line, "\" truncated=true\n"));
}

static void test_log_newline_in_fields_cannot_start_a_new_line(void **state)
{
	struct capture *c = *state;

	log_msg(LOG_INFO, "x", "peer=%s", "evil\nts=forged level=error");
	const char *line = captured(c);
	assert_int_equal(count_char(line, '\n'), 1);
	assert_non_null(strstr(line, "peer=evil?ts=forged"));
}

static void test_log_keeps_errno(void **state)
{
	(void)state;
	errno = ENOENT;
	log_msg(LOG_INFO, "x", NULL);
	assert_int_equal(errno, ENOENT);
}

#define THREADS 8
#define LINES_EACH 200

static void *log_lines(void *arg)
{
	int id = (int)(intptr_t)arg;
	char pad[600];
	memset(pad, 'a' + id, sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int i = 0; i < LINES_EACH; i++)
		log_msg(LOG_INFO, "tick", "thread=%d i=%d pad=%s end=1", id, i,
			pad);
	return NULL;
}

static void test_log_lines_from_threads_never_interleave(void **state)
{
	struct capture *c = *state;
	pthread_t threads[THREADS];

	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, log_lines,
						(void *)(intptr_t)i),
				 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(threads[i], NULL);

	rewind(c->file);
	char line[2048];
	int n = 0;
	while (fgets(line, sizeof(line), c->file) != NULL) {
		n++;
		assert_memory_equal(line, "ts=", 3);
		assert_non_null(strstr(line, " level=info msg=tick thread="));
		assert_non_null(strstr(line, " end=1\n"));
		int id = atoi(strstr(line, "thread=") + 7);
		const char *pad = strstr(line, "pad=") + 4;
		for (int k = 0; k < 599; k++)
			assert_int_equal(pad[k], 'a' + id);
	}
	assert_int_equal(n, THREADS * LINES_EACH);
}

/* The stamps of log lines, changes and audit rows. */
static void test_iso8601_stamps(void **state)
{
	(void)state;
	char b[40];
	assert_string_equal(util_iso8601(b, sizeof(b), 0),
			    "1970-01-01T00:00:00.000Z");
	assert_string_equal(util_iso8601(b, sizeof(b), 951868798999999u),
			    "2000-02-29T23:59:58.999Z");
	assert_string_equal(util_iso8601(b, sizeof(b), 1767225600123456u),
			    "2026-01-01T00:00:00.123Z");
	assert_string_equal(util_iso8601(b, sizeof(b), 253402300799000000u),
			    "9999-12-31T23:59:59.000Z");
	assert_string_equal(util_iso8601(b, sizeof(b), 253402300800000000u),
			    "10000-01-01T00:00:00.000Z");
	/* Cut to the buffer, never past it. */
	assert_string_equal(util_iso8601(b, 11, 1767225600123456u),
			    "2026-01-01");
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_iso8601_stamps),
	    cmocka_unit_test(test_log_quote_leaves_a_plain_value_alone),
	    cmocka_unit_test(test_log_quote_quotes_spaces_equals_and_quotes),
	    cmocka_unit_test(test_log_quote_escapes_backslash_inside_quotes),
	    cmocka_unit_test(test_log_quote_escapes_newlines_and_control_bytes),
	    cmocka_unit_test(
		test_log_quote_writes_empty_and_null_as_empty_quotes),
	    cmocka_unit_test(test_log_quote_keeps_utf8_unquoted),
	    cmocka_unit_test(
		test_log_quote_truncates_and_keeps_quotes_balanced),
	    T(test_log_line_has_ts_level_msg_in_logfmt),
	    T(test_log_msg_without_spaces_is_not_quoted),
	    T(test_log_line_without_fields_ends_after_msg),
	    T(test_log_level_filter_drops_lower_levels),
	    T(test_log_level_off_writes_nothing),
	    cmocka_unit_test(test_log_level_parse_accepts_the_five_names),
	    T(test_log_long_line_is_cut_to_one_closed_line),
	    T(test_log_long_msg_is_cut_to_one_closed_line),
	    T(test_log_newline_in_fields_cannot_start_a_new_line),
	    T(test_log_keeps_errno),
	    T(test_log_lines_from_threads_never_interleave),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
