#!/usr/bin/env bash
# libipsnet from C++: the installed headers compile in a C++ program and
# its calls link to the library's C functions (extern "C"). The build is
# installed (cmake --install) into a folder of its own; PROGRAM is
# compiled with what `pkg-config libipsnet` says, then run.
#
#   lib_cxx.sh CMAKE PKG_CONFIG BUILD_DIR PROGRAM.cc CXX [CXXFLAG...]
set -euo pipefail
cmake=$1 pkg_config=$2 build=$3 program=$4 cxx=$5
shift 5
dir=$(mktemp -d "${TMPDIR:-/tmp}/lib_cxx.XXXXXX")
trap 'rm -rf "$dir"' EXIT
unset DESTDIR # the folder is the whole destination
"$cmake" --install "$build" --prefix "$dir/usr" >/dev/null
pc=$(find "$dir/usr" -name libipsnet.pc)
export PKG_CONFIG_PATH=$(dirname "$pc")
# shellcheck disable=SC2046 # the flags are words
"$cxx" "$@" -Wall -Wextra -o "$dir/program" "$program" \
	$("$pkg_config" --cflags libipsnet) \
	$("$pkg_config" --libs libipsnet) -Wl,-rpath,"$(dirname "$pc")/.."
"$dir/program"
