#!/usr/bin/env bash
# Installs the packages, builds with warnings as errors and runs the whole
# test suite with ctest. --sanitize does the same in a separate build with
# AddressSanitizer and UndefinedBehaviorSanitizer, --tsan with
# ThreadSanitizer (its suppressions: tests/tsan.supp).
set -euo pipefail
cd "$(dirname "$0")/.."

build=build
flags=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DIPSNET_WERROR=ON)
case "${1:-}" in
	"") ;;
	--sanitize)
		build=build-sanitize
		flags=(-DCMAKE_BUILD_TYPE=Debug -DIPSNET_WERROR=ON -DIPSNET_SANITIZE=ON)
		export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
		export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
		;;
	--tsan)
		build=build-tsan
		flags=(-DCMAKE_BUILD_TYPE=Debug -DIPSNET_WERROR=ON -DIPSNET_TSAN=ON)
		;;
	*)
		echo "usage: deploy/test.sh [--sanitize | --tsan]" >&2
		exit 2
		;;
esac

./deploy/setup.sh
cmake -S . -B "$build" "${flags[@]}" >/dev/null
cmake --build "$build" -j"$(nproc)"
ctest --test-dir "$build" --output-on-failure -j"$(nproc)"
