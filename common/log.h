/* Logging in logfmt on stderr:
 *   ts=2026-11-25T16:31:02.123Z level=info msg="connection closed" org=ggz-noord peer=127.0.0.1:51234
 * Never log a BSN, a name or a clinical note. Thread-safe: one line is one
 * write(2). */
#ifndef IPSNET_LOG_H
#define IPSNET_LOG_H

#include <stdbool.h>
#include <stdio.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_OFF };

void log_set_level(enum log_level level);
enum log_level log_get_level(void);
/* "debug", "info", "warn", "error", "off" -> 0 and *out; anything else -> IPSNET_ECONFIG. */
int log_level_parse(const char *name, enum log_level *out);
/* Where lines go (default stderr). For tests. */
void log_set_stream(FILE *stream);
bool log_enabled(enum log_level level);

/* msg is quoted as needed; fields is a printf format of further
 * key=value pairs, already in logfmt. Use log_quote for values that may hold
 * spaces or quotes. Example:
 *   log_msg(LOG_INFO, "listening", "addr=%s max_conns=%u", addr, n); */
void log_msg(enum log_level level, const char *msg, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes value into buf (size cap) quoted for logfmt if it needs quoting
 * (spaces, '=', '"', control bytes); returns buf. Truncates to fit. */
const char *log_quote(char *buf, size_t cap, const char *value);

#define log_debug(msg, ...) log_msg(LOG_DEBUG, msg, __VA_ARGS__)
#define log_info(msg, ...) log_msg(LOG_INFO, msg, __VA_ARGS__)
#define log_warn(msg, ...) log_msg(LOG_WARN, msg, __VA_ARGS__)
#define log_error(msg, ...) log_msg(LOG_ERROR, msg, __VA_ARGS__)

#endif
