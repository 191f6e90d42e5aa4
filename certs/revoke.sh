#!/usr/bin/env bash
# Revokes a certificate issued by the CA in DIR and writes a new DIR/crl.pem.
set -euo pipefail
# shellcheck source=certs/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
usage: $prog DIR CERT_FILE [--reason REASON] [--crl-days N]
  Marks CERT_FILE revoked in DIR's CA database and writes a new DIR/crl.pem.
  Then copy crl.pem to the daemon's host and run systemctl reload ipsnetd
  there, so that it reloads the CRL.
  --reason    unspecified (default), keyCompromise, affiliationChanged,
              superseded or cessationOfOperation
  --crl-days  validity of the new CRL in days (default 30)
EOF
}

[ $# -ge 2 ] || usage_error "DIR and CERT_FILE are needed"
dir=$1
cert=$(abs_path "$2")
shift 2
reason=unspecified
crl_days=30
while [ $# -gt 0 ]; do
	case $1 in
	--reason) need_value "$1" $#; reason=$2; shift 2 ;;
	--crl-days) need_value "$1" $#; crl_days=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown argument '$1'" ;;
	esac
done
case $reason in
unspecified | keyCompromise | affiliationChanged | superseded | cessationOfOperation) ;;
*) usage_error "unknown --reason '$reason'" ;;
esac
check_days "$crl_days"
[ -f "$cert" ] || die "no certificate '$cert'"

require_ca "$dir"
if ! openssl verify -CAfile ca.crt -no_check_time "$cert" >/dev/null 2>&1; then
	die "'$cert' was not issued by the CA in $CA_DIR"
fi
serial=$(openssl x509 -in "$cert" -noout -serial)
serial=${serial#serial=}
if awk -F'\t' -v s="$serial" '$1 == "R" && toupper($4) == toupper(s) { found = 1 } END { exit !found }' index.txt; then
	echo "$prog: $cert (serial $serial) was revoked before; writing the CRL again"
else
	run_openssl ca -batch -config openssl.cnf -revoke "$cert" -crl_reason "$reason"
	echo "$prog: revoked $cert (serial $serial, $reason)"
fi
write_crl "$crl_days"
echo "$prog: new $CA_DIR/crl.pem: copy it to the daemon's host and run systemctl reload ipsnetd there"
