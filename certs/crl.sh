#!/usr/bin/env bash
# Writes a new CRL DIR/crl.pem from the CA database in DIR.
set -euo pipefail
# shellcheck source=certs/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
usage: $prog DIR [--days N]
  Writes a new DIR/crl.pem listing every certificate revoked in DIR, valid
  N days (default 30). ipsnetd refuses every connection once its CRL is past
  nextUpdate: run this from cron well before then, copy crl.pem to the
  daemon's host and run systemctl reload ipsnetd there afterwards.
EOF
}

[ $# -ge 1 ] || usage_error "DIR is missing"
case $1 in -h | --help) usage; exit 0 ;; -*) usage_error "DIR is missing" ;; esac
dir=$1
shift
days=30
while [ $# -gt 0 ]; do
	case $1 in
	--days) need_value "$1" $#; days=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown argument '$1'" ;;
	esac
done
check_days "$days"
require_ca "$dir"
write_crl "$days"
next=$(openssl crl -in crl.pem -noout -nextupdate)
echo "$prog: $CA_DIR/crl.pem (${next#nextUpdate=})"
