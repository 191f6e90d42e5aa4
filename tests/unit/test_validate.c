/* The checks of values people type: BSN (the 11-proof), dates, CBS
 * municipality codes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "ipsnet.pb-c.h"
#include "validate.h"

static void test_bsn_valid_passes(void **state)
{
	/* 9*1 + 8*1 + 7*1 + 6*2 + 5*2 + 4*2 + 3*3 + 2*3 - 3 = 66 = 6 * 11 */
	assert_true(bsn_valid("111222333"));
	assert_true(bsn_valid("123456782"));
	assert_true(bsn_valid("999999990"));
}

static void test_bsn_wrong_check_digit_fails(void **state)
{
	assert_false(bsn_valid("111222334"));
	assert_false(bsn_valid("123456781"));
	assert_false(bsn_valid("123456783"));
}

static void test_bsn_wrong_length_fails(void **state)
{
	assert_false(bsn_valid(""));
	assert_false(bsn_valid("12345678"));
	assert_false(bsn_valid("1234567820"));
	assert_false(bsn_valid("0123456782"));
	assert_false(bsn_valid(NULL));
}

static void test_bsn_letters_fail(void **state)
{
	assert_false(bsn_valid("12345678a"));
	assert_false(bsn_valid("abcdefghi"));
	assert_false(bsn_valid("1234 5678"));
	assert_false(bsn_valid("-23456782"));
	assert_false(bsn_valid("12345678\xb2"));
}

static void test_bsn_all_zeros_fails(void **state)
{
	/* The sum is 0, a multiple of 11, and still no BSN. */
	assert_false(bsn_valid("000000000"));
}

static void test_date_real_calendar_dates_pass(void **state)
{
	assert_true(date_valid("2026-11-25"));
	assert_true(date_valid("2024-02-29"));
	assert_true(date_valid("2000-02-29"));
	assert_true(date_valid("1900-01-01"));
	assert_true(date_valid("2199-12-31"));
	assert_true(date_valid("2026-04-30"));
}

/* Why a date is refused, for the message that says so. */
static void test_date_problem_says_what_is_wrong(void **state)
{
	int days = -1;
	assert_int_equal(date_problem("2024-02-29", &days), DATE_OK);
	assert_int_equal(days, 0);
	assert_int_equal(date_problem("2023-02-29", &days), DATE_DAY);
	assert_int_equal(days, 28);
	assert_int_equal(date_problem("2026-04-31", &days), DATE_DAY);
	assert_int_equal(days, 30);
	assert_int_equal(date_problem("2026-01-00", &days), DATE_DAY);
	assert_int_equal(days, 31);
	assert_int_equal(date_problem("2026-13-01", &days), DATE_MONTH);
	assert_int_equal(days, 0);
	assert_int_equal(date_problem("2026-00-10", NULL), DATE_MONTH);
	assert_int_equal(date_problem("1899-12-31", NULL), DATE_YEAR);
	assert_int_equal(date_problem("2200-02-30", NULL), DATE_YEAR);
	assert_int_equal(date_problem("2026-1-01", NULL), DATE_SHAPE);
	assert_int_equal(date_problem("2026/01/01", NULL), DATE_SHAPE);
	assert_int_equal(date_problem(NULL, &days), DATE_SHAPE);
	assert_int_equal(days, 0);
}

static void test_date_impossible_or_malformed_fails(void **state)
{
	assert_false(date_valid("2023-02-29"));
	assert_false(date_valid("1900-02-29"));
	assert_false(date_valid("2026-04-31"));
	assert_false(date_valid("2026-13-01"));
	assert_false(date_valid("2026-00-10"));
	assert_false(date_valid("2026-01-00"));
	assert_false(date_valid("1899-12-31"));
	assert_false(date_valid("2200-01-01"));
	assert_false(date_valid("2026-1-01"));
	assert_false(date_valid("2026/01/01"));
	assert_false(date_valid("2026-01-01T00:00:00Z"));
	assert_false(date_valid("20260101"));
	assert_false(date_valid(""));
	assert_false(date_valid(NULL));
}

static void test_date_days_counts_from_the_epoch(void **state)
{
	assert_int_equal(date_days("1970-01-01"), 0);
	assert_int_equal(date_days("1970-01-02"), 1);
	assert_int_equal(date_days("1969-12-31"), -1);
	assert_int_equal(date_days("2000-03-01") - date_days("2000-02-28"), 2);
	assert_int_equal(date_days("2001-03-01") - date_days("2001-02-28"), 1);
	assert_int_equal(date_days("2026-11-25"), 20782);
}

/* Microseconds since the epoch at "YYYY-MM-DD" hh:mm:ss UTC. */
static long long utc_us(const char *date, int h, int m, int sec)
{
	return ((long long)date_days(date) * 86400 + h * 3600 + m * 60 + sec) *
	       1000000;
}

static void test_today_is_the_date_in_the_netherlands(void **state)
{
	char buf[16];
	/* Winter, CET (UTC+1): a new day at 23:00 UTC. */
	assert_string_equal(
	    nl_date_of_us(buf, sizeof(buf), utc_us("2026-11-24", 22, 59, 59)),
	    "2026-11-24");
	assert_string_equal(
	    nl_date_of_us(buf, sizeof(buf), utc_us("2026-11-24", 23, 0, 0)),
	    "2026-11-25");
	assert_string_equal(
	    nl_date_of_us(buf, sizeof(buf), utc_us("2025-12-31", 23, 30, 0)),
	    "2026-01-01");
	/* Summer, CEST (UTC+2): at 22:00 UTC. */
	assert_string_equal(
	    nl_date_of_us(buf, sizeof(buf), utc_us("2026-07-01", 21, 59, 59)),
	    "2026-07-01");
	assert_string_equal(
	    nl_date_of_us(buf, sizeof(buf), utc_us("2026-07-01", 22, 0, 0)),
	    "2026-07-02");
	/* Summer time starts at 01:00 UTC on the last Sunday of March
	 * (2026-03-29, 2025-03-30) and ends at 01:00 UTC on the last Sunday
	 * of October (2026-10-25). */
	assert_string_equal(
	    nl_date_of_us(buf, sizeof(buf), utc_us("2026-03-28", 23, 30, 0)),
	    "2026-03-29");
	assert_string_equal(
	    nl_date_of_us(buf, sizeof(buf), utc_us("2026-03-29", 22, 30, 0)),
	    "2026-03-30");
	assert_string_equal(
	    nl_date_of_us(buf, sizeof(buf), utc_us("2025-03-29", 22, 30, 0)),
	    "2025-03-29");
	assert_string_equal(
	    nl_date_of_us(buf, sizeof(buf), utc_us("2025-03-30", 22, 30, 0)),
	    "2025-03-31");
	assert_string_equal(
	    nl_date_of_us(buf, sizeof(buf), utc_us("2026-10-24", 22, 30, 0)),
	    "2026-10-25");
	assert_string_equal(
	    nl_date_of_us(buf, sizeof(buf), utc_us("2026-10-25", 22, 30, 0)),
	    "2026-10-25");
	assert_int_equal(nl_days_of_us(utc_us("2026-11-24", 23, 0, 0)),
			 date_days("2026-11-25"));
}

/* The minute shown for a UTC time (ipsnet watch) is the Dutch one, on
 * the Dutch date, on either side of a change of summer time. */
static void test_the_minute_in_the_netherlands(void **state)
{
	char buf[32];
	(void)state;
	assert_string_equal(
	    nl_minute_of_us(buf, sizeof(buf), utc_us("2026-11-24", 23, 5, 59)),
	    "2026-11-25 00:05");
	assert_string_equal(
	    nl_minute_of_us(buf, sizeof(buf), utc_us("2026-07-01", 9, 30, 0)),
	    "2026-07-01 11:30");
	assert_string_equal(
	    nl_minute_of_us(buf, sizeof(buf), utc_us("2026-03-29", 0, 59, 0)),
	    "2026-03-29 01:59");
	assert_string_equal(
	    nl_minute_of_us(buf, sizeof(buf), utc_us("2026-03-29", 1, 0, 0)),
	    "2026-03-29 03:00");
	assert_string_equal(
	    nl_minute_of_us(buf, sizeof(buf), utc_us("2026-10-25", 0, 59, 0)),
	    "2026-10-25 02:59");
	assert_string_equal(
	    nl_minute_of_us(buf, sizeof(buf), utc_us("2026-10-25", 1, 0, 0)),
	    "2026-10-25 02:00"); /* A UTC time as the daemon writes one;
				    anything else as it is. */
	assert_string_equal(
	    nl_minute_of_iso(buf, sizeof(buf), "2026-11-25T23:40:00.000Z"),
	    "2026-11-26 00:40");
	assert_string_equal(
	    nl_minute_of_iso(buf, sizeof(buf), "2026-07-01T22:30:00.000Z"),
	    "2026-07-02 00:30");
	assert_string_equal(nl_minute_of_iso(buf, sizeof(buf), "yesterday"),
			    "yesterday");
}

/* A Dutch day begins at its midnight in the Netherlands: 23:00 UTC the
 * day before in winter, 22:00 in summer, on either side of a change of
 * summer time. */
static void test_a_dutch_day_begins_at_dutch_midnight(void **state)
{
	(void)state;
	assert_true(nl_day_start_us("2026-11-26") ==
		    utc_us("2026-11-25", 23, 0, 0));
	assert_true(nl_day_start_us("2026-07-02") ==
		    utc_us("2026-07-01", 22, 0, 0));
	assert_true(nl_day_start_us("2026-01-01") ==
		    utc_us("2025-12-31", 23, 0, 0));
	assert_true(nl_day_start_us("2026-03-29") ==
		    utc_us("2026-03-28", 23, 0, 0));
	assert_true(nl_day_start_us("2026-03-30") ==
		    utc_us("2026-03-29", 22, 0, 0));
	assert_true(nl_day_start_us("2026-10-25") ==
		    utc_us("2026-10-24", 22, 0, 0));
	assert_true(nl_day_start_us("2026-10-26") ==
		    utc_us("2026-10-25", 23, 0, 0));
}

/* Every quarter of an hour from 1996 to 2037, the date agrees with the C
 * library's for Europe/Amsterdam (tzdata, installed by deploy/setup.sh),
 * and the day count with the date. */
static void test_today_agrees_with_zoneinfo(void **state)
{
	(void)state;
	assert_int_equal(
	    access("/usr/share/zoneinfo/Europe/Amsterdam", R_OK), 0);
	assert_int_equal(setenv("TZ", "Europe/Amsterdam", 1), 0);
	tzset();
	long long from = utc_us("1996-01-01", 0, 0, 0) / 1000000;
	long long to = utc_us("2037-12-31", 0, 0, 0) / 1000000;
	for (long long t = from; t < to; t += 900) {
		char ours[16], theirs[16];
		time_t tt = (time_t)t;
		struct tm tm;
		localtime_r(&tt, &tm);
		strftime(theirs, sizeof(theirs), "%Y-%m-%d", &tm);
		nl_date_of_us(ours, sizeof(ours), t * 1000000);
		if (strcmp(ours, theirs) != 0)
			fail_msg("at %lld: %s, zoneinfo says %s", t, ours,
				 theirs);
		if (nl_days_of_us(t * 1000000) != date_days(ours))
			fail_msg("at %lld: day %ld for %s", t,
				 nl_days_of_us(t * 1000000), ours);
	}
	unsetenv("TZ");
	tzset();
}

static void test_cbs_codes(void **state)
{
	assert_true(cbs_code_valid("GM0363"));
	assert_true(cbs_code_valid("GM0599"));
	assert_false(cbs_code_valid("gm0363"));
	assert_false(cbs_code_valid("GM363"));
	assert_false(cbs_code_valid("GM03630"));
	assert_false(cbs_code_valid("GMabcd"));
	assert_false(cbs_code_valid("PV0363"));
	assert_false(cbs_code_valid("0363"));
	assert_false(cbs_code_valid(""));
	assert_false(cbs_code_valid(NULL));
}

static void test_utf8(void **state)
{
	(void)state;
	assert_true(utf8_valid(""));
	assert_true(
	    utf8_valid("Li\xc3\xabmbeek \xe2\x82\xac \xf0\x9f\x98\x80"));
	assert_false(utf8_valid("Caf\xe9"));	      /* Latin-1 */
	assert_false(utf8_valid("\xc0\xaf"));	      /* overlong '/' */
	assert_false(utf8_valid("\xe0\x80\xaf"));     /* overlong '/' */
	assert_false(utf8_valid("\xed\xa0\x80"));     /* a surrogate */
	assert_false(utf8_valid("\xf4\x90\x80\x80")); /* above U+10FFFF */
	assert_false(utf8_valid("\xe2\x82"));	      /* cut short */
}

static void test_control_characters(void **state)
{
	(void)state;
	assert_int_equal(text_control_len("\n"), 1);
	assert_int_equal(text_control_len("\033[2J"), 1);
	assert_int_equal(text_control_len("\t"), 1);
	assert_int_equal(text_control_len("\177"), 1);
	assert_int_equal(text_control_len("\302\200"), 2); /* U+0080 */
	assert_int_equal(text_control_len("\302\233"), 2); /* U+009B CSI */
	assert_int_equal(text_control_len("\302\237"), 2); /* U+009F */
	assert_int_equal(text_control_len(""), 0);
	assert_int_equal(text_control_len(" "), 0);
	assert_int_equal(text_control_len("~"), 0);
	assert_int_equal(text_control_len("\302\240"), 0); /* no-break space */
	assert_int_equal(text_control_len("\303\253"), 0); /* e-umlaut */
	assert_int_equal(text_control_len("\302"), 0);	   /* cut short */
	/* Each one, of one byte or two, becomes one '?'. */
	char s[] = "Zo\303\253\033[2J\302\233H\tx\n";
	text_mask_controls(s);
	assert_string_equal(s, "Zo\303\253?[2J?H?x?");
	/* The first one's byte, from 1; 0: none. */
	assert_int_equal(text_control_at("Zo\303\253\302\233x\n"), 5);
	assert_int_equal(text_control_at("\teve"), 1);
	assert_int_equal(text_control_at("Zo\303\253 \302\240"), 0);
	assert_int_equal(text_control_at(""), 0);
}

/* A limit "of N characters" counts code points: a letter of two, three or
 * four bytes of UTF-8 is one. */
static void test_text_chars_counts_code_points(void **state)
{
	(void)state;
	assert_int_equal(text_chars(""), 0);
	assert_int_equal(text_chars("Anna de Vries"), 13);
	assert_int_equal(text_chars("Ye\305\237im \303\207elik"), 11);
	assert_int_equal(text_chars("\330\263\331\204\331\205\331\211"),
			 4); /* Arabic: Salma */
	assert_int_equal(text_chars("\342\202\254 \360\237\230\200"),
			 3); /* euro sign, space, an emoji */
}

/* A server id of one kind where another kind goes is named; an id of the
 * right kind, text not shaped as an id, a BSN, or a field that takes no
 * kind of id pass. Nested: the answer's path is no matter here. */
static void test_message_ids_fit(void **state)
{
	(void)state;
	char why[160] = "";
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__AddJob job = IPSNET__V1__ADD_JOB__INIT;
	job.client_id = "cl-0661495b3fea93fb";
	job.trajectory_id = "tr-0661495b6bbdd587";
	job.employer = "tr-0661495b6bbdd587"; /* text: no kind of id */
	e.body_case = IPSNET__V1__ENVELOPE__BODY_ADD_JOB;
	e.add_job = &job;
	assert_true(message_ids_fit(&e.base, why, sizeof(why)));
	assert_string_equal(why, "");

	job.client_id = "tr-0661495b6bbdd587";
	assert_false(message_ids_fit(&e.base, why, sizeof(why)));
	assert_string_equal(why, "'tr-0661495b6bbdd587' is the id of a "
				 "trajectory, not of a client");
	job.client_id = "cl-0661495b3fea93fb";
	job.trajectory_id = "fu-0661495b842d8900";
	assert_false(message_ids_fit(&e.base, why, sizeof(why)));
	assert_string_equal(why, "'fu-0661495b842d8900' is the id of a "
				 "funding request, not of a trajectory");

	/* Not the server's form: judged where it is looked up. */
	why[0] = '\0';
	static const char *const not_ids[] = {"123456782",
					      "tr-0661495b6bbdd58",
					      "tr-0661495B6BBDD587",
					      "xx-0661495b6bbdd587",
					      "tr_0661495b6bbdd587",
					      "",
					      "t"};
	for (size_t i = 0; i < sizeof(not_ids) / sizeof(not_ids[0]); i++) {
		job.trajectory_id = (char *)not_ids[i];
		assert_true(message_ids_fit(&e.base, why, sizeof(why)));
	}
	assert_string_equal(why, "");

	Ipsnet__V1__ShowCase show = IPSNET__V1__SHOW_CASE__INIT;
	show.client_id = "jo-0661495c80c593e1";
	e.body_case = IPSNET__V1__ENVELOPE__BODY_SHOW_CASE;
	e.show_case = &show;
	assert_false(message_ids_fit(&e.base, why, sizeof(why)));
	assert_string_equal(why, "'jo-0661495c80c593e1' is the id of a job, "
				 "not of a client");
}

/* Every text field of a request, nested and repeated ones too, and the
 * path of the first that is not UTF-8; bytes fields are not text. */
static void test_message_utf8(void **state)
{
	(void)state;
	char where[160] = "";
	uint8_t key[16] = {0xff, 0xfe};
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__PutProgram m = IPSNET__V1__PUT_PROGRAM__INIT;
	m.program_id = "ips-1";
	m.owner = "ggz-test";
	m.name = "Caf\xc3\xa9 team";
	e.idempotency_key.data = key;
	e.idempotency_key.len = sizeof(key);
	e.body_case = IPSNET__V1__ENVELOPE__BODY_PUT_PROGRAM;
	e.put_program = &m;
	assert_true(message_utf8_valid(&e.base, where, sizeof(where)));
	assert_string_equal(where, "");
	m.name = "Caf\xe9 team";
	assert_false(message_utf8_valid(&e.base, where, sizeof(where)));
	assert_string_equal(where, "put_program.name");

	Ipsnet__V1__Subscribe sub = IPSNET__V1__SUBSCRIBE__INIT;
	char *kinds[] = {"client", "consent\xff"};
	sub.n_kinds = 2;
	sub.kinds = kinds;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_SUBSCRIBE;
	e.subscribe = &sub;
	where[0] = '\0';
	assert_false(message_utf8_valid(&e.base, where, sizeof(where)));
	assert_string_equal(where, "subscribe.kinds");
	kinds[1] = "consent";
	where[0] = '\0';
	assert_true(message_utf8_valid(&e.base, where, sizeof(where)));

	/* Three levels down, and after a valid sibling; a caller's prefix
	 * stays in front. */
	Ipsnet__V1__CaseView view = IPSNET__V1__CASE_VIEW__INIT;
	Ipsnet__V1__Client client = IPSNET__V1__CLIENT__INIT;
	client.id = "cl-1";
	client.name = "Ay\xc5 Y\xc4"; /* a character cut off at the end */
	view.client = &client;
	e.body_case = IPSNET__V1__ENVELOPE__BODY_CASE_VIEW;
	e.case_view = &view;
	assert_false(message_utf8_valid(&e.base, where, sizeof(where)));
	assert_string_equal(where, "case_view.client.name");
	snprintf(where, sizeof(where), "%s", "answer");
	assert_false(message_utf8_valid(&e.base, where, sizeof(where)));
	assert_string_equal(where, "answer.case_view.client.name");
	client.name = "Ay\xc5\x9f";
	snprintf(where, sizeof(where), "%s", "kept");
	assert_true(message_utf8_valid(&e.base, where, sizeof(where)));
	assert_string_equal(where, "kept");
}

/* Packs e into buf and puts a NUL in place of the first '#' of it. */
static size_t pack_with_nul(const Ipsnet__V1__Envelope *e, uint8_t *buf,
			    size_t cap)
{
	size_t len = ipsnet__v1__envelope__get_packed_size(e);
	assert_true(len <= cap);
	ipsnet__v1__envelope__pack(e, buf);
	uint8_t *hash = memchr(buf, '#', len);
	if (hash != NULL)
		*hash = '\0';
	return len;
}

/* protobuf-c cuts a string at a NUL byte; the packed bytes still have it,
 * in a field of the body, of a message in a repeated field of it, and
 * none in a bytes field. */
static void test_message_text_nul(void **state)
{
	(void)state;
	char where[160] = "";
	uint8_t buf[512], key[16] = {0, 0, '#'};
	Ipsnet__V1__Envelope e = IPSNET__V1__ENVELOPE__INIT;
	Ipsnet__V1__Hello h = IPSNET__V1__HELLO__INIT;
	h.protocol_version = 1;
	h.client_software = "werkfit/2.0";
	h.user = "alice#mallory";
	e.body_case = IPSNET__V1__ENVELOPE__BODY_HELLO;
	e.hello = &h;
	size_t len = pack_with_nul(&e, buf, sizeof(buf));
	Ipsnet__V1__Envelope *u = ipsnet__v1__envelope__unpack(NULL, len, buf);
	assert_non_null(u);
	assert_string_equal(u->hello->user, "alice"); /* what it would act as */
	ipsnet__v1__envelope__free_unpacked(u, NULL);
	assert_int_equal(message_text_nul_at(&ipsnet__v1__envelope__descriptor,
					     buf, len, where, sizeof(where)),
			 6);
	assert_string_equal(where, "hello.user");

	h.user = "alice";
	where[0] = '\0';
	len = pack_with_nul(&e, buf, sizeof(buf));
	assert_int_equal(message_text_nul_at(&ipsnet__v1__envelope__descriptor,
					     buf, len, where, sizeof(where)),
			 0);
	assert_string_equal(where, "");

	Ipsnet__V1__ImportTrajectory it = IPSNET__V1__IMPORT_TRAJECTORY__INIT;
	Ipsnet__V1__TrajectoryStep s0 = IPSNET__V1__TRAJECTORY_STEP__INIT,
				   s1 = IPSNET__V1__TRAJECTORY_STEP__INIT;
	Ipsnet__V1__TrajectoryStep *steps[] = {&s0, &s1};
	it.client_id = "cl-1";
	it.program_id = "ips-1";
	it.note = "verwezen";
	s0.on = "2026-01-05";
	s1.on = "2026-02-01#2026-01-06";
	it.n_steps = 2;
	it.steps = steps;
	e.request_id = 7;
	e.idempotency_key.data = key; /* bytes: a NUL is fine there */
	e.idempotency_key.len = sizeof(key);
	e.body_case = IPSNET__V1__ENVELOPE__BODY_IMPORT_TRAJECTORY;
	e.import_trajectory = &it;
	len = pack_with_nul(&e, buf, sizeof(buf));
	assert_int_equal(message_text_nul_at(&ipsnet__v1__envelope__descriptor,
					     buf, len, where, sizeof(where)),
			 0);
	key[2] = 'k';
	len = pack_with_nul(&e, buf, sizeof(buf));
	assert_int_equal(message_text_nul_at(&ipsnet__v1__envelope__descriptor,
					     buf, len, where, sizeof(where)),
			 11);
	assert_string_equal(where, "import_trajectory.steps.on");
}

/* A text of white space alone (spaces, tabs, line breaks, no-break
 * spaces) is blank: a name or a reason that must be given is not. */
static void test_text_blank(void **state)
{
	(void)state;
	assert_true(text_blank(NULL));
	assert_true(text_blank(""));
	assert_true(text_blank(" "));
	assert_true(text_blank(" \t\r\n\v\f "));
	assert_true(text_blank("\302\240 \302\240")); /* no-break spaces */
	assert_false(text_blank("x"));
	assert_false(text_blank("  a reason  "));
	assert_false(text_blank("\303\253")); /* e-umlaut */
	assert_false(text_blank("\302\241")); /* inverted exclamation */
	assert_false(text_blank(" \302"));    /* cut short */
}

/* Letter case aside: of A-Z and of the Latin letters of Dutch, Turkish
 * and Central European names, not only of the ASCII ones; and white space
 * at the ends, or a run of it where one space is. */
static void test_text_same_name(void **state)
{
	(void)state;
	assert_true(text_same_name("", ""));
	assert_true(text_same_name("De Korf", "DE KORF"));
	assert_true(text_same_name("Bakkerij \303\226zt\303\274rk",
				   "BAKKERIJ \303\226ZT\303\234RK"));
	assert_true(text_same_name("\304\263ssel", "\304\262SSEL")); /* IJ */
	assert_true(text_same_name("\305\201\303\263d\305\272",
				   "\305\201\303\223D\305\271")); /* Lodz */
	assert_true(text_same_name("\304\260zmir", "izmir"));
	assert_true(text_same_name("\305\270", "\303\277")); /* Y-diaeresis */
	assert_true(text_same_name("De Korf", "De Korf "));
	assert_true(text_same_name("De Korf", " \302\240De  KORF\t\n"));
	assert_false(text_same_name("De Korf", "DeKorf"));
	assert_false(text_same_name("De Korf", "De Korf x"));
	assert_false(text_same_name("De Korf ", "De Kor"));
	assert_false(text_same_name("De Korf", "De Kor"));
	assert_false(text_same_name("\303\226", "O"));
	assert_false(
	    text_same_name("\303\227", "\303\267"));   /* times, divide */
	assert_false(text_same_name("\304\261", "i")); /* dotless i */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_bsn_valid_passes),
	    cmocka_unit_test(test_bsn_wrong_check_digit_fails),
	    cmocka_unit_test(test_bsn_wrong_length_fails),
	    cmocka_unit_test(test_bsn_letters_fail),
	    cmocka_unit_test(test_bsn_all_zeros_fails),
	    cmocka_unit_test(test_date_real_calendar_dates_pass),
	    cmocka_unit_test(test_date_problem_says_what_is_wrong),
	    cmocka_unit_test(test_date_impossible_or_malformed_fails),
	    cmocka_unit_test(test_date_days_counts_from_the_epoch),
	    cmocka_unit_test(test_today_is_the_date_in_the_netherlands),
	    cmocka_unit_test(test_the_minute_in_the_netherlands),
	    cmocka_unit_test(test_a_dutch_day_begins_at_dutch_midnight),
	    cmocka_unit_test(test_today_agrees_with_zoneinfo),
	    cmocka_unit_test(test_cbs_codes),
	    cmocka_unit_test(test_utf8),
	    cmocka_unit_test(test_control_characters),
	    cmocka_unit_test(test_text_chars_counts_code_points),
	    cmocka_unit_test(test_text_blank),
	    cmocka_unit_test(test_text_same_name),
	    cmocka_unit_test(test_message_utf8),
	    cmocka_unit_test(test_message_ids_fit),
	    cmocka_unit_test(test_message_text_nul),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
