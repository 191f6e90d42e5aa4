/* RFC 4180 CSV reader: see csv.h. */
#include "csv.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "alloc.h"
#include "ipsnet_errors.h"

void csv_init(struct csv_reader *r, const char *data, size_t len, char sep)
{
	memset(r, 0, sizeof(*r));
	r->data = data;
	r->len = len;
	r->sep = sep;
	r->line = 1;
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		r->pos = 3;
}

void csv_free(struct csv_reader *r)
{
	ipsnet_free(r->buf);
	ipsnet_free(r->starts);
	ipsnet_free(r->fields);
	r->buf = NULL;
	r->starts = NULL;
	r->fields = NULL;
	r->n_fields = 0;
}

char csv_guess_separator(const char *data, size_t len)
{
	static const char candidates[] = {',', ';', '\t'};
	size_t count[3] = {0};
	bool quoted = false;
	size_t start = 0;

	/* The first line the import takes: after a byte order mark and
	 * blank lines, also lines of spaces and tabs (blank cells whatever
	 * the separator). */
	if (len >= 3 && memcmp(data, "\xEF\xBB\xBF", 3) == 0)
		start = 3;
	for (size_t i = start; i < len && (data[i] == ' ' || data[i] == '\t' ||
					   data[i] == '\r' || data[i] == '\n');
	     i++)
		if (data[i] == '\r' || data[i] == '\n')
			start = i + 1;
	for (size_t i = start; i < len; i++) {
		char ch = data[i];
		if (ch == '"')
			quoted = !quoted;
		else if (!quoted && (ch == '\n' || ch == '\r'))
			break;
		else if (!quoted)
			for (size_t k = 0; k < 3; k++)
				count[k] += ch == candidates[k];
	}
	size_t best = 0;
	for (size_t k = 1; k < 3; k++)
		if (count[k] > count[best])
			best = k;
	return count[best] > 0 ? candidates[best] : ',';
}

static int fail(struct csv_reader *r, unsigned long line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct csv_reader *r, unsigned long line, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->error, sizeof(r->error), "line %lu: ", line);
	va_start(ap, fmt);
	vsnprintf(r->error + n, sizeof(r->error) - (size_t)n, fmt, ap);
	va_end(ap);
	r->error_line = line;
	r->err = IPSNET_EINVAL;
	return r->err;
}

/* A NUL byte: no text holds one, but UTF-16 (Excel's "Unicode text") has
 * one in about every other byte. */
static int nul_byte(struct csv_reader *r)
{
	const unsigned char *d = (const unsigned char *)r->data;
	bool utf16 = r->len >= 2 &&
		     ((d[0] == 0xFF && d[1] == 0xFE) ||
		      (d[0] == 0xFE && d[1] == 0xFF) || d[0] == 0 || d[1] == 0);
	return fail(r, r->line,
		    utf16 ? "UTF-16 text (Excel's \"Unicode text\"); save the "
			    "sheet as \"CSV UTF-8\""
			  : "a NUL byte; is this a text file?");
}

static int put_byte(struct csv_reader *r, char ch)
{
	if (r->buf_len == r->buf_cap) {
		size_t cap = r->buf_cap == 0 ? 256 : r->buf_cap * 2;
		char *bigger = ipsnet_realloc(r->buf, cap);
		if (bigger == NULL)
			return r->err = IPSNET_ENOMEM;
		r->buf = bigger;
		r->buf_cap = cap;
	}
	r->buf[r->buf_len++] = ch;
	return 0;
}

/* Ends the field being written and starts the next one. */
static int end_field(struct csv_reader *r)
{
	if (put_byte(r, '\0') != 0)
		return r->err;
	if (r->n_fields == CSV_MAX_FIELDS) {
		/* The empty cells a spreadsheet writes after its last column
		 * (a formatted range that runs far to the right) are dropped:
		 * only a value past the limit is an error. */
		if (r->buf_len - 1 == r->starts[r->n_fields]) {
			r->buf_len--;
			return 0;
		}
		return fail(r, r->record_line,
			    "a value after the %dth field; check the "
			    "separator",
			    CSV_MAX_FIELDS);
	}
	if (r->n_fields + 2 > r->starts_cap) {
		size_t cap = r->starts_cap * 2;
		size_t *bigger =
		    ipsnet_realloc(r->starts, cap * sizeof(*bigger));
		if (bigger == NULL)
			return r->err = IPSNET_ENOMEM;
		r->starts = bigger;
		r->starts_cap = cap;
	}
	r->n_fields++;
	r->starts[r->n_fields] = r->buf_len;
	return 0;
}

/* Points r->fields at the fields in buf (which no longer moves). */
static int finish_record(struct csv_reader *r)
{
	if (r->n_fields > r->fields_cap) {
		char **bigger =
		    ipsnet_realloc(r->fields, r->starts_cap * sizeof(*bigger));
		if (bigger == NULL)
			return r->err = IPSNET_ENOMEM;
		r->fields = bigger;
		r->fields_cap = r->starts_cap;
	}
	for (size_t i = 0; i < r->n_fields; i++)
		r->fields[i] = r->buf + r->starts[i];
	return 1;
}

/* Whether pos is at a line break; if so, steps over it and counts it. */
static bool take_line_break(struct csv_reader *r)
{
	if (r->pos >= r->len)
		return false;
	if (r->data[r->pos] == '\n') {
		r->pos++;
	} else if (r->data[r->pos] == '\r') {
		r->pos++;
		if (r->pos < r->len && r->data[r->pos] == '\n')
			r->pos++;
	} else {
		return false;
	}
	r->line++;
	return true;
}

/* A quoted field, from its opening quote to the separator, line break or
 * end after the closing quote. */
static int quoted_field(struct csv_reader *r)
{
	unsigned long opened = r->line;
	r->pos++; /* the opening quote */
	for (;;) {
		if (r->pos >= r->len)
			return fail(r, opened,
				    "the quoted field that starts here is "
				    "never closed");
		char ch = r->data[r->pos];
		if (ch == '"') {
			if (r->pos + 1 < r->len && r->data[r->pos + 1] == '"') {
				if (put_byte(r, '"') != 0)
					return r->err;
				r->pos += 2;
				continue;
			}
			r->pos++;
			break;
		}
		if (ch == '\0')
			return nul_byte(r);
		if (ch == '\n' || (ch == '\r' && (r->pos + 1 >= r->len ||
						  r->data[r->pos + 1] != '\n')))
			r->line++;
		if (put_byte(r, ch) != 0)
			return r->err;
		r->pos++;
	}
	if (r->pos < r->len) {
		char ch = r->data[r->pos];
		if (ch != r->sep && ch != '\n' && ch != '\r')
			return fail(r, r->line,
				    "text after the closing quote of a field; "
				    "a quote inside quotes is written twice "
				    "(\"\")");
	}
	return 0;
}

static int plain_field(struct csv_reader *r)
{
	while (r->pos < r->len) {
		char ch = r->data[r->pos];
		if (ch == r->sep || ch == '\n' || ch == '\r')
			break;
		if (ch == '"')
			return fail(r, r->line,
				    "a quote inside a field that is not in "
				    "quotes; put the field in quotes and write "
				    "the quote twice (\"\")");
		if (ch == '\0')
			return nul_byte(r);
		if (put_byte(r, ch) != 0)
			return r->err;
		r->pos++;
	}
	return 0;
}

int csv_next(struct csv_reader *r)
{
	if (r->err != 0)
		return r->err;
	for (;;) {
		if (r->pos >= r->len)
			return 0;
		/* Blank lines hold no record. */
		if (!take_line_break(r))
			break;
	}
	r->record_line = r->line;
	r->buf_len = 0;
	r->n_fields = 0;
	if (r->starts_cap == 0) {
		r->starts = ipsnet_malloc(16 * sizeof(*r->starts));
		if (r->starts == NULL)
			return r->err = IPSNET_ENOMEM;
		r->starts_cap = 16;
	}
	r->starts[0] = 0;
	for (;;) {
		int rv = r->pos < r->len && r->data[r->pos] == '"'
			     ? quoted_field(r)
			     : plain_field(r);
		if (rv != 0)
			return rv;
		if (end_field(r) != 0)
			return r->err;
		if (r->pos < r->len && r->data[r->pos] == r->sep) {
			r->pos++;
			continue;
		}
		take_line_break(r);
		return finish_record(r);
	}
}
