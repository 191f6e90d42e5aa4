#!/usr/bin/env bash
# Installs every Debian 12 package that building, running and testing ipsnet needs.
# Idempotent: packages already present are left as they are.
set -euo pipefail

packages=(
	build-essential cmake pkg-config git
	# cpack -G DEB (the deploy_package test) runs file(1) on what it
	# packs; a minimal Debian 12 has no file.
	file
	libuv1-dev libprotobuf-c-dev protobuf-c-compiler
	libssl-dev openssl
	libsqlite3-dev sqlite3
	libcmocka-dev libinih-dev libjansson-dev
	tzdata
	systemd
	clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done

if [ ${#missing[@]} -eq 0 ]; then
	exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
	sudo=()
else
	sudo=(sudo)
fi

echo "setup: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
