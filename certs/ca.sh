#!/usr/bin/env bash
# Makes the network CA in DIR: ca.key, ca.crt, the openssl ca database
# (openssl.cnf, index.txt, serial, crlnumber) and an empty CRL crl.pem.
set -euo pipefail
# shellcheck source=certs/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

usage() {
	cat <<EOF
usage: $prog DIR [--name "display name"] [--days N]
  Makes the ipsnet network CA in DIR (created if missing).
  --name   the CA's subject CN (default "ipsnet network CA")
  --days   validity of the CA certificate in days (default 3650)
  Refuses to touch a DIR that already holds a CA.
EOF
}

[ $# -ge 1 ] || usage_error "DIR is missing"
case $1 in -h | --help) usage; exit 0 ;; -*) usage_error "DIR is missing" ;; esac
dir=$1
shift
name="ipsnet network CA"
days=3650
while [ $# -gt 0 ]; do
	case $1 in
	--name) need_value "$1" $#; name=$2; shift 2 ;;
	--days) need_value "$1" $#; days=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage_error "unknown argument '$1'" ;;
	esac
done
check_days "$days"
if [ -z "$name" ] || [ ${#name} -gt 64 ]; then
	usage_error "--name must be 1-64 characters"
fi
[[ $name != *[[:cntrl:]]* ]] || usage_error "--name must not hold control characters"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
lock_dir "$dir"
cd "$dir"
CA_DIR=$dir
# What this script writes with > and openssl -out: never through a link.
refuse_link ca.key ca.crt openssl.cnf index.txt index.txt.attr serial \
	crlnumber crl.pem newcerts
# ca.crt is written last: a folder with the other files and no ca.crt is
# what a ca.sh stopped part-way left (an openssl that failed, a kill, a
# power cut). Nothing was issued from it (openssl ca needs ca.crt), so it
# is cleared and the CA made anew, rather than refused for ever. One whose
# index.txt or newcerts/ records a certificate lost its ca.crt: refused.
if [ ! -e ca.crt ]; then
	if [ -s index.txt ] || [ -n "$(ls -A newcerts 2>/dev/null)" ]; then
		die "'$dir' holds a CA database that records certificates, but no ca.crt: put its ca.crt back; refusing to make a new CA over it"
	fi
	left=()
	for f in ca.key openssl.cnf index.txt index.txt.attr index.txt.old \
		index.txt.attr.old serial serial.old crlnumber crlnumber.old \
		crl.pem ca.crt.?????? crl.pem.??????; do
		if [ -e "$f" ] || [ -L "$f" ]; then
			left+=("$f")
		fi
	done
	if [ ${#left[@]} -gt 0 ]; then
		echo "$prog: '$dir' holds what a ca.sh that did not finish left (${left[*]}); removing it and making the CA anew" >&2
		rm -f -- "${left[@]}" || die "cannot remove what a ca.sh that did not finish left in '$dir'"
		[ ! -d newcerts ] || rmdir newcerts || die "cannot remove '$dir/newcerts'"
	fi
fi
for f in ca.key ca.crt openssl.cnf index.txt serial; do
	[ ! -e "$f" ] || die "'$dir' already holds a CA ($f exists); refusing to overwrite it"
done

# Paths are relative to the CA folder: the scripts run openssl from inside it.
cat >openssl.cnf <<'EOF'
# openssl ca configuration of an ipsnet network CA (written by certs/ca.sh).
# Paths are relative to this folder: run openssl from inside it, or use the
# scripts in certs/.

[ ca ]
default_ca = ipsnet_ca

[ ipsnet_ca ]
dir              = .
database         = $dir/index.txt
serial           = $dir/serial
crlnumber        = $dir/crlnumber
new_certs_dir    = $dir/newcerts
certificate      = $dir/ca.crt
private_key      = $dir/ca.key
default_md       = sha256
default_days     = 365
default_crl_days = 30
crl_extensions   = crl_ext
policy           = policy_cn
# An organisation gets a new certificate before the old one expires.
unique_subject   = no
# Nothing a requester writes into a CSR ends up in a certificate.
copy_extensions  = none
email_in_dn      = no
name_opt         = ca_default
cert_opt         = ca_default

[ policy_cn ]
commonName = supplied

[ req ]
distinguished_name = req_dn
string_mask        = utf8only
prompt             = no

[ req_dn ]
CN = unused

[ v3_ca ]
basicConstraints       = critical, CA:TRUE
keyUsage               = critical, keyCertSign, cRLSign
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid:always

# The server certificate's extensions (server_ext, with its subjectAltName)
# are written by server-cert.sh for each certificate.

[ org_ext ]
basicConstraints       = critical, CA:FALSE
keyUsage               = critical, digitalSignature
extendedKeyUsage       = clientAuth
subjectKeyIdentifier   = hash
authorityKeyIdentifier = keyid, issuer

[ crl_ext ]
authorityKeyIdentifier = keyid:always
EOF

: >index.txt
echo "unique_subject = no" >index.txt.attr
# A random positive serial, so two CAs never hand out the same numbers.
echo "01$(openssl rand -hex 15)" >serial
echo 1000 >crlnumber
mkdir -p newcerts

gen_key ca.key
# -subj takes '/' and '\' as syntax: escape them in the display name.
subj_name=${name//\\/\\\\}
subj_name=${subj_name//\//\\/}
new_public_tmp ca.crt
tmp=$TMP
run_openssl req -new -x509 -config openssl.cnf -key ca.key -sha256 \
	-days "$days" -subj "/CN=$subj_name" -extensions v3_ca -out "$tmp"
# The CRL is signed with the certificate under its temporary name: ca.crt
# comes last, and with it a whole CA.
write_crl 30 -cert "$tmp"
mv -f "$tmp" ca.crt
echo "$prog: CA '$name' in $dir: ca.crt (valid $days days), ca.key, crl.pem"
