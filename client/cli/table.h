/* Aligned tables for people: a header row and rows of text, each column
 * as wide as its widest cell (counted in the terminal's columns, not in
 * bytes or characters), two spaces between columns. Control characters in a
 * cell are shown as '?', so text from the server cannot move the terminal's
 * cursor. */
#ifndef IPSNET_CLI_TABLE_H
#define IPSNET_CLI_TABLE_H

#include <stddef.h>
#include <stdio.h>

#define TABLE_MAX_COLS 12

struct table {
	size_t n_cols;
	size_t n_rows; /* the header is row 0 */
	size_t cap_rows;
	char **cells; /* n_rows * n_cols, each owned */
	int failed;   /* out of memory: print says so */
};

/* Starts a table with the given header (n_cols <= TABLE_MAX_COLS). */
void table_init(struct table *t, size_t n_cols, const char *const *header);

/* Adds a row of n_cols cells (NULL or "" is shown as "-"). */
void table_add(struct table *t, ...);

/* Prints the table, each line starting with indent. */
void table_print(const struct table *t, FILE *out, const char *indent);

/* The number of rows below the header. */
size_t table_rows(const struct table *t);

void table_free(struct table *t);

/* The width of s on a terminal, in columns: a combining mark takes none,
 * a wide (CJK) character two, any other character one. */
size_t table_width(const char *s);

#endif
