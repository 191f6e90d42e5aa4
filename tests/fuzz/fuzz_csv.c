/* libFuzzer driver for the import's CSV reader (client/cli/csv.c).
 *
 * Input layout:
 *   byte 0, low 2 bits: the separator: 0 ',', 1 ';', 2 tab, 3 guessed
 *                       from the first line as the import does
 *   the rest:           the file
 *
 * Every record is read until the end or an error. What must hold: fields
 * are NUL-terminated strings inside the record's storage, each record
 * starts on a line no earlier than the one before and no later than the
 * lines the input has, an error names a line and sticks, and nothing
 * leaks (AddressSanitizer). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "ipsnet_errors.h"

static unsigned long count_lines(const char *p, size_t n)
{
	unsigned long lines = 1;
	for (size_t i = 0; i < n; i++)
		if (p[i] == '\n' ||
		    (p[i] == '\r' && (i + 1 == n || p[i + 1] != '\n')))
			lines++;
	return lines;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char seps[] = {',', ';', '\t'};
	if (size == 0)
		return 0;
	const char *text = (const char *)data + 1;
	size_t len = size - 1;
	char sep = (data[0] & 3) == 3 ? csv_guess_separator(text, len)
				      : seps[data[0] & 3];
	unsigned long lines = count_lines(text, len), last = 0;
	struct csv_reader r;
	int rv;

	csv_init(&r, text, len, sep);
	while ((rv = csv_next(&r)) == 1) {
		if (r.n_fields == 0 || r.n_fields > CSV_MAX_FIELDS)
			abort();
		if (r.record_line < last || r.record_line > lines)
			abort();
		last = r.record_line;
		size_t total = 0;
		for (size_t i = 0; i < r.n_fields; i++)
			total += strlen(r.fields[i]);
		if (total > len)
			abort();
	}
	if (rv != 0) {
		if (rv != IPSNET_EINVAL && rv != IPSNET_ENOMEM)
			abort();
		if (rv == IPSNET_EINVAL &&
		    (r.error_line == 0 || r.error_line > lines ||
		     strncmp(r.error, "line ", 5) != 0))
			abort();
		if (csv_next(&r) != rv)
			abort();
	} else if (csv_next(&r) != 0) {
		abort();
	}
	csv_free(&r);
	return 0;
}
