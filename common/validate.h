/* Checks of the values people type: BSN, dates, CBS codes, slugs. Pure
 * functions, no allocation. */
#ifndef IPSNET_VALIDATE_H
#define IPSNET_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

/* A BSN is 9 digits that pass the 11-proof:
 * 9*d1 + 8*d2 + ... + 2*d8 - 1*d9 is a multiple of 11 (and not 0). */
bool bsn_valid(const char *bsn);

/* "YYYY-MM-DD", a real calendar date from 1900-01-01 to 2199-12-31. */
bool date_valid(const char *date);

/* Why a date is not one date_valid takes, to say so: not the shape
 * YYYY-MM-DD, a year outside 1900 to 2199, a month outside 1 to 12, or a
 * day its month does not have (*days, when not NULL: the days the month
 * has; 0 for the others). DATE_OK for a valid date. */
enum date_problem { DATE_OK, DATE_SHAPE, DATE_YEAR, DATE_MONTH, DATE_DAY };
enum date_problem date_problem(const char *date, int *days);

/* Days since 1970-01-01 of a valid date (for comparing and spans). */
long date_days(const char *date);

/* The date in the Netherlands (CET/CEST) at a time in microseconds since
 * the epoch, "YYYY-MM-DD"; buf >= 11. Every "today" of the domain is this
 * date: a caseworker's day, a consent's last day. Right for times since
 * 1996, as the journal's are. */
const char *nl_date_of_us(char *buf, unsigned long cap, long long us);

/* The same date as days since 1970-01-01 (as date_days gives). */
long nl_days_of_us(long long us);

/* The time (microseconds since the epoch) at which a valid date begins in
 * the Netherlands: its 00:00 there, 23:00 UTC the day before in winter,
 * 22:00 in summer. */
long long nl_day_start_us(const char *date);

/* The time in the Netherlands at us, to the minute: "YYYY-MM-DD HH:MM";
 * buf >= 17. */
const char *nl_minute_of_us(char *buf, unsigned long cap, long long us);

/* The same of a UTC time as the daemon writes one
 * ("2026-11-25T23:40:00.000Z" gives "2026-11-26 00:40"); anything else is
 * copied as it is. */
const char *nl_minute_of_iso(char *buf, unsigned long cap, const char *iso);

/* "GM" and 4 digits. */
bool cbs_code_valid(const char *code);

/* Whether s is UTF-8: no overlong form, no UTF-16 surrogate, nothing above
 * U+10FFFF. */
bool utf8_valid(const char *s);

/* The characters (Unicode code points) of UTF-8 text s: its bytes but
 * the continuation ones. What a limit of "N characters" counts, so that a
 * name in Turkish or Arabic letters, two bytes each, has as many as one
 * in ASCII. s is UTF-8 (as utf8_valid says). */
size_t text_chars(const char *s);

/* Whether UTF-8 texts a and b name the same, as people type a name: the
 * same but for letter case, of A-Z and of the Latin letters with accents,
 * strokes and ligatures of Dutch, Turkish, Western and Central European
 * writing (U+00C0-017F: Ö and ö, the Dutch Ĳ and ĳ, Ł and ł; other letters
 * are compared as they are), and for white space (as text_blank's): none
 * at either end, and a run of it inside as one space. */
bool text_same_name(const char *a, const char *b);

/* Whether s (NULL too) holds nothing but white space: spaces, tabs, line
 * breaks, no-break spaces (U+00A0). A text that must be given, such as a
 * name or a reason, is not given by these alone. */
bool text_blank(const char *s);

/* The bytes of the control character s starts with: 1 for a C0 one
 * (U+0000-001F) or DEL, 2 for a C1 one (U+0080-009F, 0xC2 0x80-0x9F in
 * UTF-8), 0 for any other. A terminal obeys all three kinds: a line break
 * starts a line, ESC or CSI (U+009B) a sequence that moves the cursor. */
size_t text_control_len(const char *s);

/* Where the first control character of s is (as text_control_len says):
 * its byte, counted from 1; 0 when there is none. */
size_t text_control_at(const char *s);

/* Replaces, in place, each control character of s (as text_control_len
 * says) with one '?'. */
void text_mask_controls(char *s);

struct ProtobufCMessage;

/* Whether every text (string) field of m, and of the messages in it, is
 * UTF-8, as proto3 requires of its strings (protobuf-c does not check). If
 * not, where gets the first such field's path, "put_program.name". */
bool message_utf8_valid(const struct ProtobufCMessage *m, char *where,
			size_t cap);

/* Whether every id of m (and of the messages in it) in a field that takes
 * ids of one kind (client_id, consent_id, trajectory_id, funding_id,
 * job_id, review_id) is not an id the server gave to another kind: the
 * server's ids say their kind ("cl-", "tr-": apply.c, new_id), and one
 * pasted where another goes ("tr-0123456789abcdef" as a client) is a
 * mistake better named than answered "not your client". If one is, why
 * gets the sentence. Other text is not judged here. */
bool message_ids_fit(const struct ProtobufCMessage *m, char *why, size_t cap);

struct ProtobufCMessageDescriptor;

/* Whether a text (string) field of the packed message d (len bytes), or
 * of a message in it, holds a NUL byte: protobuf carries the length of a
 * string, protobuf-c hands it on as a C string, and a NUL would cut it
 * there ("alice\0mallory" read as "alice"). Where (from 1) the NUL is in
 * the first such field's bytes, with where its path ("hello.user"); 0 when
 * there is none. */
size_t message_text_nul_at(const struct ProtobufCMessageDescriptor *d,
			   const void *packed, size_t len, char *where,
			   size_t cap);

#endif
