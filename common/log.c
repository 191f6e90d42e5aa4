/* logfmt lines, one write(2) each.
 *
 * A line is formatted into a buffer on the stack and written with a single
 * write(2), so that lines from several threads never interleave (the buffer
 * is smaller than PIPE_BUF, which makes the write atomic on a pipe too). A
 * line that does not fit is cut at a character boundary, an open quote is
 * closed, and "truncated=true" is appended. */
#include "log.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "ipsnet_errors.h"
#include "util.h"

#define LOG_LINE_BYTES 2048
#define LOG_TRUNCATED " truncated=true\n"

static atomic_int current_level = LOG_INFO;
static _Atomic(FILE *) current_stream;

static const char *const level_names[] = {
    [LOG_DEBUG] = "debug", [LOG_INFO] = "info", [LOG_WARN] = "warn",
    [LOG_ERROR] = "error", [LOG_OFF] = "off",
};

void log_set_level(enum log_level level)
{
	if (level < LOG_DEBUG || level > LOG_OFF)
		level = LOG_INFO;
	atomic_store(&current_level, (int)level);
}

enum log_level log_get_level(void)
{
	return (enum log_level)atomic_load(&current_level);
}

int log_level_parse(const char *name, enum log_level *out)
{
	if (name == NULL)
		return IPSNET_ECONFIG;
	for (size_t i = 0; i < ARRAY_SIZE(level_names); i++) {
		if (strcasecmp(name, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return IPSNET_ECONFIG;
}

void log_set_stream(FILE *stream)
{
	atomic_store(&current_stream, stream);
}

bool log_enabled(enum log_level level)
{
	int current = atomic_load(&current_level);
	return level >= LOG_DEBUG && level < LOG_OFF && (int)level >= current;
}

static bool needs_quoting(const char *value)
{
	if (*value == '\0')
		return true;
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		if (*p <= ' ' || *p == '=' || *p == '"' || *p == 0x7f)
			return true;
	}
	return false;
}

/* The escape for byte c inside a quoted value, written into esc (>= 7
 * bytes); returns its length. */
static size_t escape_byte(unsigned char c, char *esc)
{
	static const char hex[] = "0123456789abcdef";

	switch (c) {
	case '"':
		return (size_t)snprintf(esc, 7, "\\\"");
	case '\\':
		return (size_t)snprintf(esc, 7, "\\\\");
	case '\n':
		return (size_t)snprintf(esc, 7, "\\n");
	case '\r':
		return (size_t)snprintf(esc, 7, "\\r");
	case '\t':
		return (size_t)snprintf(esc, 7, "\\t");
	}
	if (c < ' ' || c == 0x7f) {
		memcpy(esc, "\\u00", 4);
		esc[4] = hex[c >> 4];
		esc[5] = hex[c & 15];
		esc[6] = '\0';
		return 6;
	}
	esc[0] = (char)c;
	esc[1] = '\0';
	return 1;
}

/* The length of s[0..n) without a UTF-8 sequence cut short at its end. */
static size_t utf8_whole(const char *s, size_t n)
{
	size_t end = n;
	while (end > 0 && ((unsigned char)s[end - 1] & 0xc0) == 0x80)
		end--;
	if (end > 0 && (unsigned char)s[end - 1] >= 0xc0) {
		unsigned char lead = (unsigned char)s[end - 1];
		size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;
		if (n - (end - 1) < need)
			return end - 1;
	}
	return n;
}

/* log_quote, also telling whether value had to be cut. */
static size_t quote(char *buf, size_t cap, const char *value, bool *cut)
{
	size_t n = 0;

	*cut = false;
	if (cap == 0)
		return 0;
	if (value == NULL)
		value = "";
	if (!needs_quoting(value)) {
		n = strlen(value);
		if (n >= cap) {
			n = utf8_whole(value, cap - 1);
			*cut = true;
		}
		memcpy(buf, value, n);
		buf[n] = '\0';
		return n;
	}
	if (cap < 3) {
		buf[0] = '\0';
		*cut = true;
		return 0;
	}

	buf[n++] = '"';
	for (const unsigned char *p = (const unsigned char *)value; *p; p++) {
		char esc[8];
		size_t k = escape_byte(*p, esc);
		/* Room for the escape, the closing quote and the NUL. */
		if (n + k + 2 > cap) {
			n = 1 + utf8_whole(buf + 1, n - 1);
			*cut = true;
			break;
		}
		memcpy(buf + n, esc, k);
		n += k;
	}
	buf[n++] = '"';
	buf[n] = '\0';
	return n;
}

const char *log_quote(char *buf, size_t cap, const char *value)
{
	bool cut;
	quote(buf, cap, value, &cut);
	return buf;
}

/* Cuts line (of length *len) so that it ends at a character boundary and
 * outside any quoted value. */
static void cut_safely(char *line, size_t *len)
{
	size_t n = utf8_whole(line, *len);

	bool quoted = false, escaped = false;
	for (size_t i = 0; i < n; i++) {
		if (escaped)
			escaped = false;
		else if (quoted && line[i] == '\\')
			escaped = true;
		else if (line[i] == '"')
			quoted = !quoted;
	}
	if (escaped)
		n--; /* a lone backslash would escape the closing quote */
	if (quoted)
		line[n++] = '"';
	*len = n;
}

void log_msg(enum log_level level, const char *msg, const char *fields, ...)
{
	char line[LOG_LINE_BYTES];
	/* What a cut line needs after its text: maybe a closing quote, the
	 * marker with its newline, and the NUL. */
	const size_t reserve = 1 + sizeof(LOG_TRUNCATED);
	const size_t limit = sizeof(line) - reserve;
	char ts[32];
	size_t len;
	int saved_errno = errno;

	if (!log_enabled(level))
		return;

	util_iso8601(ts, sizeof(ts), util_now_us());
	int n = snprintf(line, limit + 1, "ts=%s level=%s msg=", ts,
			 level_names[level]);
	len = (size_t)n; /* the prefix always fits */
	bool truncated;
	len += quote(line + len, limit + 1 - len, msg, &truncated);

	if (truncated) {
		/* the quoted msg is already closed and whole */
	} else if (fields != NULL && fields[0] != '\0' && len < limit) {
		line[len++] = ' ';
		size_t start = len;
		va_list ap;
		va_start(ap, fields);
		n = vsnprintf(line + len, limit + 1 - len, fields, ap);
		va_end(ap);
		if (n <= 0) {
			len = start - 1; /* nothing to add: no trailing blank */
		} else if ((size_t)n > limit - len) {
			len = limit;
			truncated = true;
		} else {
			len += (size_t)n;
		}
		/* Fields are the caller's logfmt; a raw control byte in them
		 * would break the one-line-per-entry rule. */
		for (size_t i = start; i < len; i++) {
			unsigned char c = (unsigned char)line[i];
			if (c < ' ' || c == 0x7f)
				line[i] = '?';
		}
	} else if (fields != NULL && fields[0] != '\0') {
		truncated = true;
	}

	if (truncated) {
		cut_safely(line, &len);
		memcpy(line + len, LOG_TRUNCATED, sizeof(LOG_TRUNCATED) - 1);
		len += sizeof(LOG_TRUNCATED) - 1;
	} else {
		line[len++] = '\n';
	}

	FILE *stream = atomic_load(&current_stream);
	if (stream == NULL)
		stream = stderr;
	/* Where it cannot be written, nowhere is left to say so. */
	(void)util_write_all(fileno(stream), line, len);
	errno = saved_errno;
}
