#!/usr/bin/env bash
# Quick start, one command: installs the packages, builds, makes the
# development network under ./var/dev, initialises the journal under ./var
# and runs ipsnetd in the foreground on 127.0.0.1:7443 (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")/.."

./deploy/setup.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
./deploy/dev-network.sh ./var >/dev/null
./build/daemon/ipsnetd init

cat <<'TXT'

ipsnetd is starting on 127.0.0.1:7443 with the development network in ./var/dev.
In another terminal, call it as each demo organisation:

  ./build/client/ipsnet --profile ggz-demo whoami     # GGZ Demo (mental-health institution)
  ./build/client/ipsnet --profile gm0363 whoami       # Gemeente Amsterdam (municipality)
  ./build/client/ipsnet --profile uwv whoami          # UWV
  ./build/client/ipsnet --profile network whoami      # the network operator
  ./build/client/ipsnet --profile ggz-demo ping --count 3

Ctrl-C stops the daemon gracefully.

TXT
exec ./build/daemon/ipsnetd
