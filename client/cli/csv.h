/* An RFC 4180 CSV reader over a buffer in memory.
 *
 * Records end at CRLF, LF or a lone CR; a field in double quotes may hold
 * the separator, line breaks and doubled quotes (""). A UTF-8 byte order
 * mark at the start is skipped, and so are blank lines. Every record knows
 * the line it starts on, so that a message can point at it.
 *
 * A syntax error (a quote inside an unquoted field, text after a closing
 * quote, a quoted field never closed, a NUL byte) stops the reader: after
 * it the record boundaries cannot be trusted. */
#ifndef IPSNET_CLI_CSV_H
#define IPSNET_CLI_CSV_H

#include <stddef.h>

/* A value in a field after this many in one record is an error; empty
 * fields after them are dropped. */
#define CSV_MAX_FIELDS 256

struct csv_reader {
	const char *data; /* borrowed: must outlive the reader */
	size_t len;
	size_t pos;
	char sep;
	unsigned long line; /* the line pos is on (1-based) */

	/* The current record, after csv_next returned 1. */
	char **fields; /* n_fields NUL-terminated strings */
	size_t n_fields;
	unsigned long record_line; /* the line it starts on */

	/* After csv_next returned an error: "line 7: ..." */
	char error[200];
	unsigned long error_line;
	int err; /* sticky */

	/* storage */
	char *buf;
	size_t buf_len, buf_cap;
	size_t *starts; /* offsets of the fields in buf */
	size_t starts_cap;
	size_t fields_cap;
};

/* Starts reading data (len bytes) with separator sep (',', ';' or '\t'). */
void csv_init(struct csv_reader *r, const char *data, size_t len, char sep);

/* The separator the first line that is not blank (nor only spaces and
 * tabs) uses most among ',', ';' and tab (',' when it holds none): Dutch
 * spreadsheets write ';'. */
char csv_guess_separator(const char *data, size_t len);

/* Reads the next record: 1 with r->fields, r->n_fields and r->record_line
 * set (valid until the next call); 0 at the end of the data; or
 * IPSNET_EINVAL with r->error and r->error_line, or IPSNET_ENOMEM. After an
 * error every further call returns the same error. */
int csv_next(struct csv_reader *r);

/* Releases the reader's storage (not the data). */
void csv_free(struct csv_reader *r);

#endif
