#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/rand.h>

#include "ipsnet.pb-c.h"
#include "ipsnet_errors.h"

#include <protobuf-c/protobuf-c.h>

uint64_t util_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

uint64_t util_mono_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static char *put_digits(char *p, unsigned v, int n)
{
	for (int i = n - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
	return p + n;
}

const char *util_iso8601(char *buf, size_t cap, uint64_t us)
{
	time_t secs = (time_t)(us / 1000000u);
	unsigned ms = (unsigned)((us / 1000u) % 1000u);
	struct tm tm;
	char t[64];
	gmtime_r(&secs, &tm);
	if (tm.tm_year < -1900 || tm.tm_year > 9999 - 1900) {
		char date[48];
		strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
		snprintf(buf, cap, "%s.%03uZ", date, ms);
		return buf;
	}
	/* By hand: stamps go with changes, log lines and every row of an
	 * audit read, and strftime with snprintf cost more than the rest. */
	char *p = put_digits(t, (unsigned)tm.tm_year + 1900u, 4);
	*p++ = '-';
	p = put_digits(p, (unsigned)tm.tm_mon + 1u, 2);
	*p++ = '-';
	p = put_digits(p, (unsigned)tm.tm_mday, 2);
	*p++ = 'T';
	p = put_digits(p, (unsigned)tm.tm_hour, 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_min, 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)tm.tm_sec, 2);
	*p++ = '.';
	p = put_digits(p, ms, 3);
	*p++ = 'Z';
	*p = '\0';
	util_strlcpy(buf, t, cap);
	return buf;
}

int util_random(void *buf, size_t len)
{
	return RAND_bytes(buf, (int)len) == 1 ? 0 : IPSNET_EINTERNAL;
}

char *util_hex(char *out, size_t cap, const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;
	for (i = 0; i < len && 2 * i + 2 < cap; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	if (cap > 0)
		out[2 * i] = '\0';
	return out;
}

char *util_thousands(char *buf, size_t cap, uint64_t v)
{
	char digits[24];
	int n = snprintf(digits, sizeof(digits), "%" PRIu64, v);
	size_t o = 0;
	for (int i = 0; i < n && o + 2 < cap; i++) {
		if (i > 0 && (n - i) % 3 == 0)
			buf[o++] = ',';
		buf[o++] = digits[i];
	}
	if (cap > 0)
		buf[o] = '\0';
	return buf;
}

char *util_strlcpy(char *dst, const char *src, size_t cap)
{
	if (cap == 0)
		return dst;
	size_t n = strlen(src);
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
	return dst;
}

const char *util_folder_of(char *dir, size_t cap, const char *path)
{
	const char *slash = strrchr(path, '/');
	if (slash == NULL)
		snprintf(dir, cap, ".");
	else if (slash == path)
		snprintf(dir, cap, "/");
	else
		snprintf(dir, cap, "%.*s", (int)(slash - path), path);
	return slash != NULL ? slash + 1 : path;
}

int util_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int util_proto_has_unknown_fields(const struct ProtobufCMessage *m)
{
	if (m == NULL)
		return 0;
	if (m->n_unknown_fields != 0)
		return 1;
	const ProtobufCMessageDescriptor *d = m->descriptor;
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		if (f->type != PROTOBUF_C_TYPE_MESSAGE)
			continue;
		const char *base = (const char *)m;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = *(const size_t *)(base + f->quantifier_offset);
			const ProtobufCMessage *const *items =
			    *(const ProtobufCMessage *const **)(base + f->offset);
			for (size_t k = 0; k < n; k++)
				if (util_proto_has_unknown_fields(items[k]))
					return 1;
			continue;
		}
		if ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0 &&
		    *(const uint32_t *)(base + f->quantifier_offset) !=
			f->id)
			continue;
		const ProtobufCMessage *sub =
		    *(const ProtobufCMessage *const *)(base + f->offset);
		if (util_proto_has_unknown_fields(sub))
			return 1;
	}
	return 0;
}

const char *util_change_ok_client(const struct Ipsnet__V1__ChangeOk *ok)
{
	const char *id = NULL;
	switch (ok->entity_case) {
	case IPSNET__V1__CHANGE_OK__ENTITY_CLIENT:
		id = ok->client->id;
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_CONSENT:
		id = ok->consent->client_id;
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_TRAJECTORY:
		id = ok->trajectory->client_id;
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_FUNDING:
		id = ok->funding->client_id;
		break;
	case IPSNET__V1__CHANGE_OK__ENTITY_JOB:
		id = ok->job->client_id;
		break;
	default:
		break;
	}
	return id != NULL ? id : "";
}
