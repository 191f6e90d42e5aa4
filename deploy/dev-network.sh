#!/usr/bin/env bash
# Makes a development network under VARDIR (default ./var): a CA, the
# daemon's certificate and, for each demo organisation, a client certificate
# and a client profile. These are the files ipsnetd's embedded defaults read
# (var/dev/ca.crt, server.crt, server.key, crl.pem; database var/ipsnet.db).
#
# Idempotent: what exists already is kept; only what is missing is made.
set -euo pipefail

prog=$(basename "$0")
certs=$(cd "$(dirname "${BASH_SOURCE[0]}")/../certs" && pwd)

usage() {
	cat <<EOF
usage: $prog [VARDIR]
  Makes (or completes) the development network under VARDIR (default ./var):
  VARDIR/dev/ca.crt, server.crt/.key, crl.pem, ORG.crt/.key and
  VARDIR/dev/profiles/ORG.ini for the demo organisations
  ggz-demo, gm0363, uwv and network.
EOF
}

case ${1:-} in -h | --help) usage; exit 0 ;; -*) printf '%s: unknown option %s\n' "$prog" "$1" >&2; usage >&2; exit 2 ;; esac
[ $# -le 1 ] || { printf '%s: one VARDIR at most\n' "$prog" >&2; usage >&2; exit 2; }
vardir=${1:-./var}
mkdir -p "$vardir"
vardir=$(cd "$vardir" && pwd)
dev=$vardir/dev

# organisation id and the user its profile acts as
orgs=(ggz-demo:demo.ggz gm0363:demo.gemeente uwv:demo.uwv network:demo.beheer)

if [ ! -f "$dev/ca.crt" ]; then
	"$certs/ca.sh" "$dev" --name "ipsnet development CA"
	# A development CRL that does not run out under a developer's feet.
	"$certs/crl.sh" "$dev" --days 3650
elif [ ! -f "$dev/crl.pem" ]; then
	"$certs/crl.sh" "$dev" --days 3650
fi
if [ ! -f "$dev/server.crt" ] || [ ! -f "$dev/server.key" ]; then
	# As long as the organisations' certificates and the CRL: with the
	# script's 825 days, ./deploy/dev.sh would stop at an expired server
	# certificate after some two years, remaking only what is missing.
	"$certs/server-cert.sh" "$dev" server --days 3650
fi

mkdir -p "$dev/profiles"
for entry in "${orgs[@]}"; do
	org=${entry%%:*}
	user=${entry#*:}
	if [ ! -f "$dev/$org.crt" ] || [ ! -f "$dev/$org.key" ]; then
		"$certs/org-cert.sh" "$dev" "$org" --days 3650
	fi
	profile=$dev/profiles/$org.ini
	if [ ! -f "$profile" ]; then
		cat >"$profile.tmp" <<EOF
[profile]
server = 127.0.0.1:7443
ca = $dev/ca.crt
cert = $dev/$org.crt
key = $dev/$org.key
user = $user
EOF
		mv -f "$profile.tmp" "$profile"
		echo "$prog: profile $profile"
	fi
done
echo "$prog: development network ready in $dev"
