#include "ipsnet_errors.h"

#include "ipsnet.pb-c.h"

#define STATUS(s) IPSNET__V1__CODE__##s

const char *ipsnet_strerror(int err)
{
	switch (err) {
#define XX(name, status, msg)                                                  \
	case IPSNET_E##name:                                                   \
		return msg;
		IPSNET_ERRNO_MAP(XX)
#undef XX
	case 0:
		return "ok";
	}
	return "unknown error";
}

const char *ipsnet_err_name(int err)
{
	switch (err) {
#define XX(name, status, msg)                                                  \
	case IPSNET_E##name:                                                   \
		return "IPSNET_E" #name;
		IPSNET_ERRNO_MAP(XX)
#undef XX
	case 0:
		return "OK";
	}
	return "IPSNET_EUNKNOWN";
}

int ipsnet_err_status(int err)
{
	switch (err) {
#define XX(name, status, msg)                                                  \
	case IPSNET_E##name:                                                   \
		return STATUS(status);
		IPSNET_ERRNO_MAP(XX)
#undef XX
	case 0:
		return STATUS(OK);
	}
	return STATUS(UNKNOWN);
}

const char *ipsnet_status_name(int status)
{
	const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
	    &ipsnet__v1__code__descriptor, status);
	return v != NULL ? v->name : "UNKNOWN";
}

int ipsnet_err_from_status(int status)
{
	switch (status) {
	case STATUS(OK):
		return 0;
	case STATUS(INVALID_ARGUMENT):
	case STATUS(OUT_OF_RANGE):
		return IPSNET_EINVAL;
	case STATUS(UNAUTHENTICATED):
		return IPSNET_EUNAUTHENTICATED;
	case STATUS(PERMISSION_DENIED):
		return IPSNET_EPERMISSION;
	case STATUS(NOT_FOUND):
		return IPSNET_ENOT_FOUND;
	case STATUS(ALREADY_EXISTS):
		return IPSNET_EEXISTS;
	case STATUS(ABORTED):
		return IPSNET_ECONFLICT;
	case STATUS(FAILED_PRECONDITION):
		return IPSNET_EPRECONDITION;
	case STATUS(RESOURCE_EXHAUSTED):
		return IPSNET_EBUSY;
	case STATUS(UNAVAILABLE):
		return IPSNET_EUNAVAILABLE;
	case STATUS(DEADLINE_EXCEEDED):
		return IPSNET_ETIMEOUT;
	case STATUS(UNIMPLEMENTED):
		return IPSNET_EUNIMPLEMENTED;
	}
	return IPSNET_EINTERNAL;
}
