#!/usr/bin/env bash
# The installed static libipsnet, linked as a program links it: the build
# is installed (cmake --install) into a folder of its own, without the
# shared library (a system that has only libipsnet.a), and PROGRAM is
# compiled with what `pkg-config --static libipsnet` says, then run.
#
#   lib_static.sh CMAKE PKG_CONFIG BUILD_DIR PROGRAM.c CC [CFLAG...]
set -euo pipefail
cmake=$1 pkg_config=$2 build=$3 program=$4 cc=$5
shift 5
dir=$(mktemp -d "${TMPDIR:-/tmp}/lib_static.XXXXXX")
trap 'rm -rf "$dir"' EXIT
unset DESTDIR # the folder is the whole destination
"$cmake" --install "$build" --prefix "$dir/usr" >/dev/null
pc=$(find "$dir/usr" -name libipsnet.pc)
rm -f "$(dirname "$pc")"/../libipsnet.so*
export PKG_CONFIG_PATH=$(dirname "$pc")
# shellcheck disable=SC2046 # the flags are words
"$cc" "$@" -o "$dir/program" "$program" \
	$("$pkg_config" --cflags libipsnet) \
	$("$pkg_config" --static --libs libipsnet)
"$dir/program"
