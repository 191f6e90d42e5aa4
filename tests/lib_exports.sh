#!/usr/bin/env bash
# libipsnet.so exports the functions its installed headers declare, and no
# other symbol of ours (the generated ipsnet__v1__* code aside): a symbol
# the library exports is one a program's own function of the same name
# takes the place of (ELF interposition), for the library's own calls too.
# LIBRARY may be the static libipsnet.a: it defines those functions itself
# (a program that links it needs nothing else of ours) and no other global
# symbol, whatever its name: a program's own function of the same name
# would clash with it, or take its place.
#
#   lib_exports.sh LIBRARY HEADER...
set -euo pipefail
lib=$1
shift
declared=$(grep -ohE '\bipsnet_[a-z0-9_]+\(' "$@" | tr -d '(' | sort -u)
if [[ $lib == *.a ]]; then
	exported=$(nm -g --defined-only "$lib" | awk 'NF == 3 { print $3 }' |
		grep -v '^ipsnet__v1__' | sort -u)
else
	exported=$(nm -D --defined-only "$lib" | awk '{ print $3 }' |
		grep -E '^ipsnet_' | grep -v '^ipsnet__v1__' | sort -u)
fi
extra=$(comm -13 <(echo "$declared") <(echo "$exported"))
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
status=0
if [ -n "$extra" ]; then
	echo "exported by $lib but declared in no installed header:" $extra >&2
	status=1
fi
if [ -n "$missing" ]; then
	echo "declared in an installed header but not exported by $lib:" $missing >&2
	status=1
fi
# The generated message code that ipsnet.h's types need.
if [[ $lib == *.a ]] && ! nm -g --defined-only "$lib" |
	grep -w ipsnet__v1__envelope__descriptor >/dev/null; then
	echo "$lib holds no generated ipsnet__v1__* code" >&2
	status=1
fi
exit $status
