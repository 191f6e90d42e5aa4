#!/usr/bin/env bash
# The certs/ scripts never write a key, a certificate or a CRL through a
# symbolic link planted where the file goes (a CA folder or a new CA's
# folder that someone else could write): a new key is made as a new file,
# and a certificate or CRL is written beside its place and renamed over
# it. Each refusal names the link; the place the link points to stays as
# it was (absent, or with its own content).
#
#   certs_links.sh CERTS_DIR
set -euo pipefail
certs=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0

fail() {
	echo "FAIL: $*" >&2
	status=1
}

# refused WHAT LINK CMD...: CMD must fail and say DIR/LINK is a symbolic
# link, DIR named once.
refused() {
	local what=$1 link=$2
	shift 2
	if "$@" >"$tmp/out" 2>"$tmp/err"; then
		fail "$what: wrote through the link $link"
	elif ! grep -q "'$tmp/[a-z-]*/$link' is a symbolic link; refusing to write through it" "$tmp/err"; then
		fail "$what: did not name the link $link:"
		cat "$tmp/err" >&2
	fi
}

# absent WHAT FILE: FILE (a link's target) was not made.
absent() {
	[ ! -e "$2" ] || fail "$1: $2 was written"
}

mkdir "$tmp/elsewhere"
"$certs/ca.sh" "$tmp/ca" >/dev/null

# A new CA: its key.
mkdir "$tmp/new-ca"
ln -s "$tmp/elsewhere/ca.key" "$tmp/new-ca/ca.key"
refused "ca.sh" ca.key "$certs/ca.sh" "$tmp/new-ca"
absent "ca.sh" "$tmp/elsewhere/ca.key"

# An organisation's key, and a server's.
ln -s "$tmp/elsewhere/ggz-a.key" "$tmp/ca/ggz-a.key"
refused "org-cert.sh" ggz-a.key "$certs/org-cert.sh" "$tmp/ca" ggz-a
absent "org-cert.sh" "$tmp/elsewhere/ggz-a.key"
ln -s "$tmp/elsewhere/srv.key" "$tmp/ca/srv.key"
refused "server-cert.sh" srv.key "$certs/server-cert.sh" "$tmp/ca" srv
absent "server-cert.sh" "$tmp/elsewhere/srv.key"

# The certificate's place, with a key made from a CSR elsewhere.
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
	-out "$tmp/b.key" 2>/dev/null
openssl req -new -key "$tmp/b.key" -subj /CN=x -out "$tmp/b.csr"
ln -s "$tmp/elsewhere/ggz-b.crt" "$tmp/ca/ggz-b.crt"
refused "org-cert.sh --csr" ggz-b.crt \
	"$certs/org-cert.sh" "$tmp/ca" ggz-b --csr "$tmp/b.csr"
absent "org-cert.sh --csr" "$tmp/elsewhere/ggz-b.crt"

# The names the scripts wrote a certificate and a CRL under before
# renaming them: links there are left alone, and what they point to is
# not overwritten.
echo "mine" >"$tmp/elsewhere/precious"
ln -s "$tmp/elsewhere/precious" "$tmp/ca/ggz-c.crt.tmp"
ln -s "$tmp/elsewhere/precious" "$tmp/ca/crl.pem.tmp"
"$certs/org-cert.sh" "$tmp/ca" ggz-c >/dev/null || fail "org-cert.sh ggz-c failed"
"$certs/crl.sh" "$tmp/ca" >/dev/null || fail "crl.sh failed"
"$certs/revoke.sh" "$tmp/ca" "$tmp/ca/ggz-c.crt" >/dev/null ||
	fail "revoke.sh failed"
[ "$(cat "$tmp/elsewhere/precious")" = mine ] ||
	fail "a certificate or CRL was written into a link's target"
for f in ggz-c.crt crl.pem; do
	if [ -L "$tmp/ca/$f" ] || [ ! -f "$tmp/ca/$f" ]; then
		fail "$f is not a file of its own"
	fi
	[ "$(stat -c %a "$tmp/ca/$f")" = 644 ] ||
		fail "$f has mode $(stat -c %a "$tmp/ca/$f"), not 644"
done
[ "$(stat -c %a "$tmp/ca/ggz-c.key")" = 600 ] ||
	fail "ggz-c.key has mode $(stat -c %a "$tmp/ca/ggz-c.key"), not 600"
openssl verify -CAfile "$tmp/ca/ca.crt" -crl_check \
	-CRLfile "$tmp/ca/crl.pem" "$tmp/ca/ggz-c.crt" >/dev/null 2>&1 &&
	fail "ggz-c.crt is not on the CRL after revoke.sh"

# A CRL whose place is a link: the link is replaced, not written through.
rm "$tmp/ca/crl.pem"
ln -s "$tmp/elsewhere/precious" "$tmp/ca/crl.pem"
"$certs/crl.sh" "$tmp/ca" >/dev/null || fail "crl.sh failed"
[ "$(cat "$tmp/elsewhere/precious")" = mine ] ||
	fail "crl.sh wrote through the link crl.pem"
[ ! -L "$tmp/ca/crl.pem" ] || fail "crl.pem is still a link"

# The lock file.
rm "$tmp/ca/.lock"
ln -s "$tmp/elsewhere/lock" "$tmp/ca/.lock"
refused "the lock" .lock "$certs/crl.sh" "$tmp/ca"
absent "the lock" "$tmp/elsewhere/lock"

exit $status
