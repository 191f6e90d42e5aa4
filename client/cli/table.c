/* Aligned tables: see table.h. */
#define _XOPEN_SOURCE 700 /* wcwidth */
#include "table.h"

#include <locale.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>
#include <wchar.h>

#include "alloc.h"
#include "validate.h"

/* A copy of s fit for a terminal: control characters (C1 ones too) become
 * '?'. */
static char *cell_copy(const char *s)
{
	if (s == NULL || s[0] == '\0')
		s = "-";
	char *c = ipsnet_strdup(s);
	if (c == NULL)
		return NULL;
	text_mask_controls(c);
	return c;
}

static void add_row(struct table *t, const char *const *cells)
{
	if (t->failed)
		return;
	if (t->n_rows == t->cap_rows) {
		size_t cap = t->cap_rows == 0 ? 16 : t->cap_rows * 2;
		char **bigger =
		    ipsnet_realloc(t->cells, cap * t->n_cols * sizeof(*bigger));
		if (bigger == NULL) {
			t->failed = 1;
			return;
		}
		t->cells = bigger;
		t->cap_rows = cap;
	}
	char **row = t->cells + t->n_rows * t->n_cols;
	for (size_t i = 0; i < t->n_cols; i++) {
		row[i] = cell_copy(cells[i]);
		if (row[i] == NULL)
			t->failed = 1;
	}
	t->n_rows++;
}

void table_init(struct table *t, size_t n_cols, const char *const *header)
{
	memset(t, 0, sizeof(*t));
	t->n_cols = n_cols <= TABLE_MAX_COLS ? n_cols : TABLE_MAX_COLS;
	add_row(t, header);
}

void table_add(struct table *t, ...)
{
	const char *cells[TABLE_MAX_COLS];
	va_list ap;
	va_start(ap, t);
	for (size_t i = 0; i < t->n_cols; i++)
		cells[i] = va_arg(ap, const char *);
	va_end(ap);
	add_row(t, cells);
}

size_t table_width(const char *s)
{
	static locale_t utf8;
	static bool looked;
	size_t w = 0;
	if (!looked) {
		utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
		looked = true;
	}
	/* No UTF-8 locale to ask: a column a character. */
	if (utf8 == (locale_t)0)
		return text_chars(s);
	/* As the terminal draws them: a combining mark (the diaeresis of an
	 * "Ö" written as O and U+0308, as a Mac may send a name) takes no
	 * column, a wide (CJK) character two. */
	locale_t was = uselocale(utf8);
	mbstate_t st;
	memset(&st, 0, sizeof(st));
	for (const char *p = s, *end = s + strlen(s); p < end;) {
		wchar_t wc;
		size_t n = mbrtowc(&wc, p, (size_t)(end - p), &st);
		int cw = n >= 1 && n <= 4 ? wcwidth(wc) : -1;
		if (n < 1 || n > 4) {
			n = 1;
			memset(&st, 0, sizeof(st));
		}
		w += cw >= 0 ? (size_t)cw : ((unsigned char)*p & 0xC0) != 0x80;
		p += n;
	}
	uselocale(was);
	return w;
}

void table_print(const struct table *t, FILE *out, const char *indent)
{
	size_t width[TABLE_MAX_COLS] = {0};
	if (t->failed) {
		fputs("ipsnet: out of memory while making a table\n", stderr);
		return;
	}
	for (size_t r = 0; r < t->n_rows; r++)
		for (size_t c = 0; c < t->n_cols; c++) {
			size_t w = table_width(t->cells[r * t->n_cols + c]);
			if (w > width[c])
				width[c] = w;
		}
	for (size_t r = 0; r < t->n_rows; r++) {
		fputs(indent, out);
		for (size_t c = 0; c < t->n_cols; c++) {
			const char *cell = t->cells[r * t->n_cols + c];
			fputs(cell, out);
			if (c + 1 == t->n_cols)
				break;
			for (size_t pad = table_width(cell); pad < width[c] + 2;
			     pad++)
				fputc(' ', out);
		}
		fputc('\n', out);
	}
}

size_t table_rows(const struct table *t)
{
	return t->n_rows > 0 ? t->n_rows - 1 : 0;
}

void table_free(struct table *t)
{
	for (size_t i = 0; i < t->n_rows * t->n_cols; i++)
		ipsnet_free(t->cells[i]);
	ipsnet_free(t->cells);
	memset(t, 0, sizeof(*t));
}
