#!/usr/bin/env bash
# Issues the daemon's TLS certificate: DIR/NAME.key and DIR/NAME.crt, signed
# by the CA in DIR, for localhost, 127.0.0.1, ::1 and any extra names.
set -euo pipefail
# shellcheck source=certs/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
usage: $prog DIR NAME [--days N] [EXTRA_NAME_OR_IP...]
  Issues DIR/NAME.crt and DIR/NAME.key (subject CN=NAME, extendedKeyUsage
  serverAuth) signed by the CA in DIR.
  The certificate is valid for localhost, 127.0.0.1 and ::1, plus each extra
  argument: an IPv4 or IPv6 address becomes an IP name, anything else a DNS
  name (ipsnet.example.nl).
  --days   validity in days (default 825)
EOF
}

[ $# -ge 2 ] || usage_error "DIR and NAME are needed"
dir=$1
name=$2
shift 2
check_file_name "$name"
days=825
san="DNS:localhost,IP:127.0.0.1,IP:::1"
while [ $# -gt 0 ]; do
	case $1 in
	--days) need_value "$1" $#; days=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	-*) usage_error "unknown option '$1'" ;;
	*)
		if [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || ($1 == *:* && $1 =~ ^[0-9A-Fa-f:.]+$) ]]; then
			san+=",IP:$1"
		elif [[ $1 =~ ^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$ ]]; then
			san+=",DNS:$1"
		else
			usage_error "'$1' is neither an IP address nor a DNS name"
		fi
		shift
		;;
	esac
done
check_days "$days"

require_ca "$dir"
refuse_overwrite "to replace it, move the old $name.crt and $name.key aside first" \
	"$name.key" "$name.crt"

scratch
printf '[ server_ext ]\nbasicConstraints = critical, CA:FALSE\nkeyUsage = critical, digitalSignature\nextendedKeyUsage = serverAuth\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid, issuer\nsubjectAltName = %s\n' \
	"$san" >"$SCRATCH/ext.cnf"

new_key "$name.key"
run_openssl req -new -config openssl.cnf -key "$NEW_KEY" -subj "/CN=$name" \
	-out "$SCRATCH/req.csr"
sign_csr "$SCRATCH/req.csr" "$name.crt" server_ext -days "$days" \
	-extfile "$SCRATCH/ext.cnf"
key_in_place "$name.key"
echo "$prog: $CA_DIR/$name.crt for $san (valid $days days), key $CA_DIR/$name.key"
