#include "validate.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <protobuf-c/protobuf-c.h>

bool bsn_valid(const char *bsn)
{
	int sum = 0;
	if (bsn == NULL || strlen(bsn) != 9)
		return false;
	for (int i = 0; i < 9; i++) {
		if (bsn[i] < '0' || bsn[i] > '9')
			return false;
		int d = bsn[i] - '0';
		sum += i < 8 ? (9 - i) * d : -d;
	}
	return sum != 0 && sum % 11 == 0;
}

static bool leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30,
				   31, 31, 30, 31, 30, 31};
	return m == 2 && leap(y) ? 29 : days[m - 1];
}

static enum date_problem read_date(const char *s, int *y, int *m, int *d)
{
	if (s == NULL || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return DATE_SHAPE;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return DATE_SHAPE;
	*y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	     (s[3] - '0');
	*m = (s[5] - '0') * 10 + (s[6] - '0');
	*d = (s[8] - '0') * 10 + (s[9] - '0');
	if (*y < 1900 || *y > 2199)
		return DATE_YEAR;
	if (*m < 1 || *m > 12)
		return DATE_MONTH;
	if (*d < 1 || *d > days_in_month(*y, *m))
		return DATE_DAY;
	return DATE_OK;
}

static bool parse_date(const char *s, int *y, int *m, int *d)
{
	return read_date(s, y, m, d) == DATE_OK;
}

bool date_valid(const char *date)
{
	int y, m, d;
	return parse_date(date, &y, &m, &d);
}

enum date_problem date_problem(const char *date, int *days)
{
	int y = 0, m = 0, d = 0;
	enum date_problem p = read_date(date, &y, &m, &d);
	if (days != NULL)
		*days = p == DATE_DAY ? days_in_month(y, m) : 0;
	return p;
}

/* Days from civil, after Howard Hinnant's algorithm. */
static long days_from_civil(int y, int m, int d)
{
	y -= m <= 2;
	long era = (y >= 0 ? y : y - 399) / 400;
	long yoe = y - era * 400;
	long doy = (153L * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

long date_days(const char *date)
{
	int y, m, d;
	if (!parse_date(date, &y, &m, &d))
		return 0;
	return days_from_civil(y, m, d);
}

/* The day (since the epoch) of the last Sunday of month m (31 days long)
 * of year y. 1970-01-01 was a Thursday. */
static long last_sunday(int y, int m)
{
	long day31 = days_from_civil(y, m, 31);
	return day31 - ((day31 + 4) % 7 + 7) % 7;
}

/* How far the Netherlands' civil time is ahead of UTC, in seconds, at secs
 * since the epoch: an hour (CET), and two (CEST) from 01:00 UTC on the
 * last Sunday of March until 01:00 UTC on the last Sunday of October, the
 * EU's rule since 1996. Written out instead of asked of the system's
 * zoneinfo: a machine without tzdata would quietly give UTC, and a
 * journal's replay would depend on the machine it runs on. */
static long long nl_offset_s(long long secs)
{
	time_t t = (time_t)secs;
	struct tm tm;
	gmtime_r(&t, &tm);
	int y = tm.tm_year + 1900;
	long long start = (long long)last_sunday(y, 3) * 86400 + 3600;
	long long end = (long long)last_sunday(y, 10) * 86400 + 3600;
	return secs >= start && secs < end ? 7200 : 3600;
}

static long long floor_div(long long a, long long b)
{
	return a / b - (a % b != 0 && (a < 0) != (b < 0));
}

long nl_days_of_us(long long us)
{
	long long secs = floor_div(us, 1000000);
	return (long)floor_div(secs + nl_offset_s(secs), 86400);
}

long long nl_day_start_us(const char *date)
{
	long long midnight = (long long)date_days(date) * 86400;
	/* The clocks change at 01:00 UTC, never between 22:00 and 00:00
	 * UTC: the offset an hour before midnight UTC is the one at the
	 * Dutch midnight. */
	return (midnight - nl_offset_s(midnight - 3600)) * 1000000;
}

/* The time in the Netherlands at us, written with strftime's fmt. */
static const char *nl_format(char *buf, unsigned long cap, long long us,
			     const char *fmt)
{
	long long secs = floor_div(us, 1000000);
	time_t t = (time_t)(secs + nl_offset_s(secs));
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, cap, fmt, &tm);
	return buf;
}

const char *nl_date_of_us(char *buf, unsigned long cap, long long us)
{
	return nl_format(buf, cap, us, "%Y-%m-%d");
}

const char *nl_minute_of_us(char *buf, unsigned long cap, long long us)
{
	return nl_format(buf, cap, us, "%Y-%m-%d %H:%M");
}

const char *nl_minute_of_iso(char *buf, unsigned long cap, const char *iso)
{
	char date[11];
	int h, mi;
	if (strlen(iso) >= 16 && iso[10] == 'T' &&
	    snprintf(date, sizeof(date), "%.10s", iso) == 10 &&
	    date_valid(date) && sscanf(iso + 10, "T%2d:%2d", &h, &mi) == 2)
		return nl_minute_of_us(
		    buf, cap,
		    ((long long)date_days(date) * 86400 + h * 3600 + mi * 60) *
			1000000);
	snprintf(buf, cap, "%s", iso);
	return buf;
}

bool cbs_code_valid(const char *code)
{
	if (code == NULL || strlen(code) != 6 || code[0] != 'G' ||
	    code[1] != 'M')
		return false;
	for (int i = 2; i < 6; i++)
		if (code[i] < '0' || code[i] > '9')
			return false;
	return true;
}

bool utf8_valid(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	while (*p != '\0') {
		int n = *p < 0x80	      ? 0
			: (*p & 0xE0) == 0xC0 ? 1
			: (*p & 0xF0) == 0xE0 ? 2
			: (*p & 0xF8) == 0xF0 ? 3
					      : -1;
		if (n < 0 || (n == 1 && *p < 0xC2) || *p > 0xF4)
			return false;
		/* The second byte's range: no overlong form, no UTF-16
		 * surrogate (U+D800-DFFF), nothing above U+10FFFF. */
		if ((*p == 0xE0 && p[1] < 0xA0) ||
		    (*p == 0xED && p[1] > 0x9F) ||
		    (*p == 0xF0 && p[1] < 0x90) || (*p == 0xF4 && p[1] > 0x8F))
			return false;
		p++;
		for (int i = 0; i < n; i++, p++)
			if ((*p & 0xC0) != 0x80)
				return false;
	}
	return true;
}

size_t text_chars(const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
		n += (*p & 0xC0) != 0x80;
	return n;
}

/* The code point s starts with (UTF-8, as utf8_valid says), and moves s
 * past it. */
static uint32_t next_code_point(const unsigned char **s)
{
	const unsigned char *p = *s;
	int n = *p < 0x80 ? 0 : *p < 0xE0 ? 1 : *p < 0xF0 ? 2 : 3;
	uint32_t c = n == 0 ? *p : *p & (0x3F >> n);
	for (p++; n > 0 && (*p & 0xC0) == 0x80; n--, p++)
		c = c << 6 | (*p & 0x3F);
	*s = p;
	return c;
}

/* The small letter of capital c, for A-Z and U+00C0-017F (Latin-1 and
 * Latin Extended-A, whose pairs alternate, capital first); any other c as
 * it is. */
static uint32_t small_letter(uint32_t c)
{
	if ((c >= 'A' && c <= 'Z') || (c >= 0xC0 && c <= 0xDE && c != 0xD7))
		return c + 0x20;
	/* Turkish I with dot above, whose small one is i. */
	if (c == 0x130)
		return 'i';
	/* Latin Extended-A's pairs, the capital first: at an even code
	 * point here, ... */
	if ((c >= 0x100 && c <= 0x137) || (c >= 0x14A && c <= 0x177))
		return c | 1;
	/* ... at an odd one here. */
	if ((c >= 0x139 && c <= 0x148) || (c >= 0x179 && c <= 0x17E))
		return c + (c & 1);
	/* Y with diaeresis, whose small one is in Latin-1. */
	if (c == 0x178)
		return 0xFF;
	return c;
}

/* The bytes of the white space character p starts with: a space, a tab,
 * a line break, a no-break space (U+00A0); 0 for any other. */
static size_t space_len(const unsigned char *p)
{
	if (*p == ' ' || (*p >= '\t' && *p <= '\r'))
		return 1;
	return p[0] == 0xC2 && p[1] == 0xA0 ? 2 : 0;
}

static const unsigned char *skip_spaces(const unsigned char *p)
{
	for (size_t n; (n = space_len(p)) > 0;)
		p += n;
	return p;
}

bool text_same_name(const char *a, const char *b)
{
	const unsigned char *p = skip_spaces((const unsigned char *)a);
	const unsigned char *q = skip_spaces((const unsigned char *)b);
	while (*p != '\0' && *q != '\0') {
		bool sp = space_len(p) > 0, sq = space_len(q) > 0;
		if (sp || sq) {
			if (!sp || !sq)
				return false;
			p = skip_spaces(p);
			q = skip_spaces(q);
		} else if (small_letter(next_code_point(&p)) !=
			   small_letter(next_code_point(&q))) {
			return false;
		}
	}
	return *skip_spaces(p) == '\0' && *skip_spaces(q) == '\0';
}

bool text_blank(const char *s)
{
	return s == NULL || *skip_spaces((const unsigned char *)s) == '\0';
}

size_t text_control_len(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	if (*p < 0x20 || *p == 0x7f)
		return *p != '\0';
	return p[0] == 0xC2 && p[1] >= 0x80 && p[1] <= 0x9F ? 2 : 0;
}

size_t text_control_at(const char *s)
{
	for (size_t i = 0; s[i] != '\0'; i++)
		if (text_control_len(s + i) > 0)
			return i + 1;
	return 0;
}

void text_mask_controls(char *s)
{
	size_t to = 0;
	for (size_t from = 0; s[from] != '\0'; to++) {
		size_t n = text_control_len(s + from);
		s[to] = n > 0 ? '?' : s[from];
		from += n > 0 ? n : 1;
	}
	s[to] = '\0';
}

/* Puts name in front of the path in where: "name" or "name.path". */
static void name_field(char *where, size_t cap, const char *name)
{
	char inner[256];
	snprintf(inner, sizeof(inner), "%s", where);
	if (inner[0] == '\0')
		snprintf(where, cap, "%s", name);
	else
		snprintf(where, cap, "%s.%s", name, inner);
}

/* A judge of one text field of a message: its descriptor, its value and
 * the caller's arg. */
typedef bool (*text_judge)(const ProtobufCFieldDescriptor *f, const char *v,
			   void *arg);

/* Whether judge takes every text field of m and of the messages in it
 * (repeated ones each, of a oneof only the member it holds). where is
 * written only on the way back from the first it does not take: that
 * field's path (every request is walked, and nearly all are taken). */
static bool texts_walk(const struct ProtobufCMessage *m, text_judge judge,
		       void *arg, char *where, size_t cap)
{
	const ProtobufCMessageDescriptor *d = m->descriptor;
	const char *base = (const char *)m;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_STRING &&
		    f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const void *member = base + f->offset;
		size_t n = 1;
		const void *const *items = member;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			n = *(const size_t *)(base + f->quantifier_offset);
			items = *(const void *const *const *)member;
		} else if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) {
			/* Only the member the oneof holds. */
			if (*(const uint32_t *)(base + f->quantifier_offset) !=
			    f->id)
				continue;
		}
		for (size_t k = 0; k < n; k++) {
			const void *v = items[k];
			if (v == NULL)
				continue;
			if (f->type == PROTOBUF_C_TYPE_STRING) {
				if (judge(f, v, arg))
					continue;
				where[0] = '\0';
			} else if (texts_walk(v, judge, arg, where, cap)) {
				continue;
			}
			name_field(where, cap, f->name);
			return false;
		}
	}
	return true;
}

static bool utf8_judge(const ProtobufCFieldDescriptor *f, const char *v,
		       void *arg)
{
	(void)f;
	(void)arg;
	return utf8_valid(v);
}

/* Gives the caller the path of a field that failed, behind the caller's
 * own prefix when where holds one. */
static void put_path(char *where, size_t cap, const char *path)
{
	if (where[0] == '\0') {
		snprintf(where, cap, "%s", path);
	} else {
		char outer[256];
		snprintf(outer, sizeof(outer), "%s", where);
		snprintf(where, cap, "%s.%s", outer, path);
	}
}

bool message_utf8_valid(const struct ProtobufCMessage *m, char *where,
			size_t cap)
{
	char path[256];
	if (texts_walk(m, utf8_judge, NULL, path, sizeof(path)))
		return true;
	put_path(where, cap, path);
	return false;
}

/* The fields that take ids of one kind, and the prefix of that kind's
 * ids (apply.c, new_id). */
static const struct {
	const char *field, prefix[3], *kind;
} id_kinds[] = {
    {"client_id", "cl", "a client"},
    {"consent_id", "co", "a consent"},
    {"trajectory_id", "tr", "a trajectory"},
    {"funding_id", "fu", "a funding request"},
    {"job_id", "jo", "a job"},
    {"review_id", "fr", "a fidelity review"},
};
#define N_ID_KINDS (sizeof(id_kinds) / sizeof(id_kinds[0]))

struct id_why {
	char *why;
	size_t cap;
};

/* Whether v, in field f, is no server id of another kind than f takes;
 * if it is, the sentence goes into arg's why. */
static bool id_judge(const ProtobufCFieldDescriptor *f, const char *v,
		     void *arg)
{
	/* Most text is not shaped as an id at all: two letters, '-' and 16
	 * hex digits. */
	if (v[0] == '\0' || v[1] == '\0' || v[2] != '-' || strlen(v) != 19)
		return true;
	size_t want = N_ID_KINDS, is = N_ID_KINDS;
	for (size_t i = 0; i < N_ID_KINDS; i++) {
		if (strcmp(f->name, id_kinds[i].field) == 0)
			want = i;
		if (memcmp(v, id_kinds[i].prefix, 2) == 0)
			is = i;
	}
	if (want == N_ID_KINDS || is == N_ID_KINDS || want == is ||
	    strspn(v + 3, "0123456789abcdef") != 16)
		return true;
	struct id_why *w = arg;
	snprintf(w->why, w->cap, "'%s' is the id of %s, not of %s", v,
		 id_kinds[is].kind, id_kinds[want].kind);
	return false;
}

bool message_ids_fit(const struct ProtobufCMessage *m, char *why, size_t cap)
{
	char path[256];
	struct id_why w = {why, cap};
	return texts_walk(m, id_judge, &w, path, sizeof(path));
}

/* Reads the varint at *p (before end) into *v and moves *p past it; false
 * when it does not end before end or within 10 bytes. */
static bool read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
	*v = 0;
	for (unsigned shift = 0; *p < end && shift < 70; shift += 7) {
		uint8_t b = *(*p)++;
		*v |= (uint64_t)(b & 0x7f) << shift;
		if ((b & 0x80) == 0)
			return true;
	}
	return false;
}

/* Where (from 1) the first NUL of a text field of the message d at
 * data[0..len) is, counted in that field's bytes; 0 when there is none.
 * where gets the field's path, written only on the way back from such a
 * field (as texts_walk does). Bytes that do not walk as a message say 0:
 * the decoder has judged them. */
static size_t text_nul_at(const ProtobufCMessageDescriptor *d,
			  const uint8_t *data, size_t len, char *where,
			  size_t cap)
{
	const uint8_t *p = data, *end = data + len;
	while (p < end) {
		uint64_t tag, n;
		if (!read_varint(&p, end, &tag))
			return 0;
		switch (tag & 7) {
		case 0:
			if (!read_varint(&p, end, &n))
				return 0;
			continue;
		case 1:
			n = 8;
			break;
		case 5:
			n = 4;
			break;
		case 2:
			if (!read_varint(&p, end, &n))
				return 0;
			break;
		default:
			return 0;
		}
		if (n > (uint64_t)(end - p))
			return 0;
		const ProtobufCFieldDescriptor *f =
		    (tag & 7) == 2 && tag >> 3 <= UINT32_MAX
			? protobuf_c_message_descriptor_get_field(
			      d, (unsigned)(tag >> 3))
			: NULL;
		size_t at = 0;
		if (f != NULL && f->type == PROTOBUF_C_TYPE_STRING) {
			const uint8_t *nul = memchr(p, 0, (size_t)n);
			if (nul != NULL) {
				at = (size_t)(nul - p) + 1;
				where[0] = '\0';
			}
		} else if (f != NULL && f->type == PROTOBUF_C_TYPE_MESSAGE) {
			at = text_nul_at(f->descriptor, p, (size_t)n, where,
					 cap);
		}
		if (at > 0) {
			name_field(where, cap, f->name);
			return at;
		}
		p += n;
	}
	return 0;
}

size_t message_text_nul_at(const struct ProtobufCMessageDescriptor *d,
			   const void *packed, size_t len, char *where,
			   size_t cap)
{
	char path[256];
	size_t at = text_nul_at(d, packed, len, path, sizeof(path));
	if (at == 0)
		return 0;
	put_path(where, cap, path);
	return at;
}
