/* Small helpers shared by daemon and client: time, randomness, hex. */
#ifndef IPSNET_UTIL_H
#define IPSNET_UTIL_H

#include <stddef.h>
#include <stdint.h>

#ifndef container_of
#define container_of(ptr, type, member)                                        \
	((type *)((char *)(ptr)-offsetof(type, member)))
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* UTC wall clock, microseconds since the Unix epoch. */
uint64_t util_now_us(void);
/* Monotonic clock, microseconds. */
uint64_t util_mono_us(void);
/* "2026-11-25T16:31:02.123Z" from microseconds since the epoch; buf >= 32. */
const char *util_iso8601(char *buf, size_t cap, uint64_t us);
/* Cryptographically random bytes (OpenSSL RAND_bytes). 0 or IPSNET_EINTERNAL. */
int util_random(void *buf, size_t len);
/* Lower-case hex of len bytes into out (cap >= 2*len+1). Returns out. */
char *util_hex(char *out, size_t cap, const uint8_t *data, size_t len);
/* v in digits grouped by thousands ("1,222,962") into buf (cap >= 27 holds
 * any). Returns buf. */
char *util_thousands(char *buf, size_t cap, uint64_t v);
/* Copies src into dst (size cap), always terminated; returns dst. */
char *util_strlcpy(char *dst, const char *src, size_t cap);
/* The folder of path into dir (cap bytes): "." for a bare name, "/" for one
 * at the root. Returns path's last part, its name in that folder. */
const char *util_folder_of(char *dir, size_t cap, const char *path);
/* Writes all len bytes of buf to fd, again after a short write or EINTR.
 * 0, or -1 with errno. */
int util_write_all(int fd, const char *buf, size_t len);

/* Whether a decoded protobuf message, or any message inside it, carries
 * fields this build does not know. Such a message cannot be stored and
 * replayed faithfully, so changes that carry them are refused. */
struct ProtobufCMessage;
int util_proto_has_unknown_fields(const struct ProtobufCMessage *m);

/* The client whose case a change's entity (ChangeOk) belongs to: the
 * client's own id for a client, the client_id of a consent, trajectory,
 * funding request or job; "" for any other (a program, a review). */
struct Ipsnet__V1__ChangeOk;
const char *util_change_ok_client(const struct Ipsnet__V1__ChangeOk *ok);

#endif
