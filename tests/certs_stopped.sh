#!/usr/bin/env bash
# certs/ca.sh stopped part-way (here: its openssl req fails) leaves no
# half-made CA that every later run refuses: ca.crt comes last, and a run
# again over what it left makes the CA whole, its CRL signed by it. A CA
# that issued certificates and lost its ca.crt is refused, not replaced.
#
#   certs_stopped.sh CERTS_DIR
set -euo pipefail
certs=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
fail() {
	echo "FAIL: $*" >&2
	status=1
}

mkdir "$tmp/bin"
cat >"$tmp/bin/openssl" <<SH
#!/bin/sh
for a in "\$@"; do
	[ "\$a" != -x509 ] || { echo "openssl stopped here" >&2; exit 1; }
done
exec $(command -v openssl) "\$@"
SH
chmod +x "$tmp/bin/openssl"
if PATH="$tmp/bin:$PATH" "$certs/ca.sh" "$tmp/ca" >"$tmp/out" 2>&1; then
	fail "ca.sh succeeded with an openssl req that failed"
fi
[ ! -e "$tmp/ca/ca.crt" ] || fail "a stopped ca.sh left a ca.crt"
[ -e "$tmp/ca/ca.key" ] || fail "the test did not stop ca.sh after its key"

if ! "$certs/ca.sh" "$tmp/ca" >"$tmp/out" 2>&1; then
	fail "ca.sh again over a stopped one:"
	cat "$tmp/out" >&2
fi
grep -q "did not finish left" "$tmp/out" || fail "ca.sh did not say what it removed"
openssl verify -crl_check -CAfile "$tmp/ca/ca.crt" -CRLfile "$tmp/ca/crl.pem" \
	"$tmp/ca/ca.crt" >/dev/null 2>&1 || fail "the CA made anew has no CRL it signed"
for f in "$tmp"/ca/ca.crt.?????? "$tmp"/ca/crl.pem.??????; do
	[ ! -e "$f" ] || fail "a temporary file is left: $f"
done

# org-cert.sh and server-cert.sh stopped at the signing leave no key that
# every run after them refuses to overwrite ("exists already"), and no key
# of their own anywhere in the folder.
cat >"$tmp/bin/openssl" <<SH
#!/bin/sh
[ "\$1" != ca ] || { echo "openssl stopped here" >&2; exit 1; }
exec $(command -v openssl) "\$@"
SH
for script in "org-cert.sh ggz-b" "server-cert.sh server2 127.0.0.1"; do
	set -- $script
	name=$2
	if PATH="$tmp/bin:$PATH" "$certs/$1" "$tmp/ca" "${@:2}" >"$tmp/out" 2>&1; then
		fail "$1 succeeded with an openssl ca that failed"
	fi
	ls -A "$tmp/ca" | grep -q "$name" && fail "a stopped $1 left: $(ls -A "$tmp/ca" | grep "$name")"
	if ! "$certs/$1" "$tmp/ca" "${@:2}" >"$tmp/out" 2>&1; then
		fail "$1 again over a stopped one: $(cat "$tmp/out")"
	fi
	[ -s "$tmp/ca/$name.key" ] && [ -s "$tmp/ca/$name.crt" ] ||
		fail "$1 again made no key and certificate"
	[ "$(stat -c %a "$tmp/ca/$name.key")" = 600 ] || fail "$name.key is not 0600"
	[ ! -e "$tmp/ca/.$name.key.new" ] || fail "$1 left .$name.key.new"
done

# A CA that issued a certificate and lost its ca.crt is not made anew.
"$certs/org-cert.sh" "$tmp/ca" ggz-a >/dev/null
mv "$tmp/ca/ca.crt" "$tmp/ca.crt.saved"
if "$certs/ca.sh" "$tmp/ca" >"$tmp/out" 2>&1; then
	fail "ca.sh made a new CA over one that issued certificates"
fi
grep -q "records certificates, but no ca.crt" "$tmp/out" ||
	fail "ca.sh did not say why it refused: $(cat "$tmp/out")"
[ -s "$tmp/ca/ca.key" ] && [ -s "$tmp/ca/index.txt" ] ||
	fail "ca.sh removed a CA that issued certificates"
exit $status
