// A C++ program that uses libipsnet (tests/lib_cxx.sh): the header needs
// its extern "C", or these calls look for C++ names the library has not.
#include <cstdio>
#include <cstring>

#include <ipsnet.h>

int main()
{
	const char *v = ipsnet_version();
	if (v == nullptr || std::strlen(v) == 0) {
		std::fprintf(stderr, "no version\n");
		return 1;
	}
	if (std::strlen(ipsnet_strerror(IPSNET_ETIMEOUT)) == 0) {
		std::fprintf(stderr, "no error text\n");
		return 1;
	}
	std::printf("libipsnet %s from C++\n", v);
	return 0;
}
