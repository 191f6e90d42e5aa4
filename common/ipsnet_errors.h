/* ipsnet error codes: every failure in ipsnet is one of these, written once.
 *
 * Functions return 0 on success or a negative IPSNET_E* code. Each code has a
 * gRPC-style status (what the wire and the command's exit code say) and a
 * sentence. This header is part of libipsnet's public API. */
#ifndef IPSNET_ERRORS_H
#define IPSNET_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

/* XX(name, status, message) */
#define IPSNET_ERRNO_MAP(XX)                                                   \
	XX(INVAL, INVALID_ARGUMENT, "invalid argument")                        \
	XX(USAGE, INVALID_ARGUMENT, "wrong usage")                             \
	XX(NOMEM, RESOURCE_EXHAUSTED, "out of memory")                         \
	XX(FRAME_EMPTY, INVALID_ARGUMENT, "zero-length frame")                 \
	XX(FRAME_TOO_LARGE, RESOURCE_EXHAUSTED,                                \
	   "frame larger than the maximum frame size")                         \
	XX(DECODE, INVALID_ARGUMENT, "frame does not decode as an Envelope")   \
	XX(PROTOCOL, INVALID_ARGUMENT, "protocol violation")                   \
	XX(CONFIG, INVALID_ARGUMENT, "configuration error")                    \
	XX(CONNECT, UNAVAILABLE, "cannot connect to the server")               \
	XX(TLS, UNAVAILABLE, "TLS failure")                                    \
	XX(CERT, UNAUTHENTICATED, "certificate refused")                       \
	XX(TIMEOUT, DEADLINE_EXCEEDED, "timed out")                            \
	XX(CLOSED, UNAVAILABLE, "connection closed")                           \
	XX(BUSY, RESOURCE_EXHAUSTED, "too many requests or connections")       \
	XX(IO, UNAVAILABLE, "input/output error")                              \
	XX(DB, UNAVAILABLE, "database error")                                  \
	XX(UNAUTHENTICATED, UNAUTHENTICATED, "not authenticated")              \
	XX(PERMISSION, PERMISSION_DENIED, "permission denied")                 \
	XX(NOT_FOUND, NOT_FOUND, "not found")                                  \
	XX(EXISTS, ALREADY_EXISTS, "already exists")                           \
	XX(CONFLICT, ABORTED, "changed since the version you gave")            \
	XX(PRECONDITION, FAILED_PRECONDITION, "not allowed in the current state") \
	XX(UNAVAILABLE, UNAVAILABLE, "service unavailable")                    \
	XX(UNIMPLEMENTED, UNIMPLEMENTED, "not implemented")                    \
	XX(INTERNAL, INTERNAL, "internal error")

enum {
	IPSNET__ERR_FIRST = -1000,
#define IPSNET__ERR_ENUM(name, status, msg) IPSNET_E##name,
	IPSNET_ERRNO_MAP(IPSNET__ERR_ENUM)
#undef IPSNET__ERR_ENUM
	IPSNET__ERR_LAST
};

/* The sentence for a code ("frame larger than the maximum frame size"). Never
 * NULL; an unknown code gives "unknown error". */
const char *ipsnet_strerror(int err);

/* The code's name ("IPSNET_EFRAME_TOO_LARGE"). */
const char *ipsnet_err_name(int err);

/* The gRPC-style status of a code, as the wire's Code enum value (0 = OK). */
int ipsnet_err_status(int err);

/* The name of a wire status ("PERMISSION_DENIED"). */
const char *ipsnet_status_name(int status);

/* The error code that best fits a wire status (0 for OK). */
int ipsnet_err_from_status(int status);

#ifdef __cplusplus
}
#endif

#endif
