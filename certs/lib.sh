# shellcheck shell=bash
# Shared pieces of the certs/ scripts. Sourced, not run.
#
# Every script works on a CA folder DIR. openssl.cnf in DIR names its files
# relative to DIR ("dir = ."), so the scripts run openssl from inside DIR and
# the folder can be moved or backed up as a whole.

# Certificates and the CRL are public (0644); private keys are written under
# umask 077 (0600) by gen_key.
umask 022

prog=$(basename "$0")

die() {
	printf '%s: %s\n' "$prog" "$*" >&2
	exit 1
}

# usage_error MESSAGE: the message, the script's usage text, exit 2.
usage_error() {
	printf '%s: %s\n' "$prog" "$1" >&2
	usage >&2
	exit 2
}

# need_value OPTION ARGC: an option that takes a value must have one.
need_value() {
	[ "$2" -ge 2 ] || usage_error "$1 needs a value"
}

check_days() {
	[[ $1 =~ ^[1-9][0-9]{0,4}$ ]] || usage_error "--days must be a whole number of days from 1 to 99999, not '$1'"
}

# An ASN.1 GeneralizedTime as openssl ca -startdate/-enddate take it.
check_gentime() {
	[[ $2 =~ ^[0-9]{14}Z$ ]] || usage_error "$1 must be YYYYMMDDHHMMSSZ (UTC), such as 20200101000000Z, not '$2'"
}

# The name of a file written into DIR: NAME.crt, NAME.key.
check_file_name() {
	[[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$ ]] ||
		usage_error "'$1' is not a usable name: 1-63 of A-Z a-z 0-9 . _ -, not starting with . _ or -"
}

# abs_path PATH: PATH made absolute (it need not exist yet).
abs_path() {
	case $1 in
	/*) printf '%s\n' "$1" ;;
	*) printf '%s/%s\n' "$PWD" "$1" ;;
	esac
}

# require_ca DIR: DIR holds a CA made by ca.sh; sets CA_DIR (absolute), takes
# the folder's lock (so two scripts never update index.txt and serial at once)
# and changes into it.
require_ca() {
	[ -d "$1" ] || die "no CA folder '$1' (make one with certs/ca.sh $1)"
	CA_DIR=$(cd "$1" && pwd)
	local f
	for f in openssl.cnf ca.key ca.crt index.txt serial crlnumber; do
		[ -f "$CA_DIR/$f" ] || die "'$CA_DIR' is not a CA folder: $f is missing (make one with certs/ca.sh)"
	done
	lock_dir "$CA_DIR"
	cd "$CA_DIR" || exit 1
}

lock_dir() {
	[ ! -L "$1/.lock" ] || die "'$1/.lock' is a symbolic link; refusing to write through it"
	exec 9>"$1/.lock"
	flock -w 60 9 || die "another certs script holds '$1/.lock' for more than 60 s"
}

# gen_key FILE: a new ECDSA P-256 private key, mode 0600 from the start.
# FILE is made new (noclobber: O_EXCL): a key is never written into a file
# that is there already, nor where a symbolic link planted in its place
# points.
gen_key() {
	refuse_link "$1"
	(
		umask 077
		set -C
		openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
			>"$1" 2>/dev/null
	) || die "cannot write private key '$1' as a new file"
}

# refuse_link FILE...: stop if any of the files is a symbolic link, even
# one that points nowhere yet: writing FILE would write where the link
# points, which whoever could write the folder chose.
refuse_link() {
	local f
	for f in "$@"; do
		[ ! -L "$f" ] || die "'${CA_DIR:+$CA_DIR/}$f' is a symbolic link; refusing to write through it"
	done
}

# refuse_overwrite HINT FILE...: stop, saying HINT, if any of the files
# exists (a symbolic link, see refuse_link, counts).
refuse_overwrite() {
	local hint=$1 f
	shift
	refuse_link "$@"
	for f in "$@"; do
		[ ! -e "$f" ] || die "'${CA_DIR:+$CA_DIR/}$f' exists already; refusing to overwrite it ($hint)"
	done
}

# new_public_tmp FILE: sets TMP to the name of a new empty file
# FILE.XXXXXX (mktemp: O_EXCL, never through a link), mode 0644, to be
# written and then renamed over FILE. The rename replaces FILE itself,
# never what a link at FILE points to. Called in the script's own shell
# (not in $(...)), so that the exit removes it when it was not renamed.
new_public_tmp() {
	scratch
	TMP=$(mktemp "$1.XXXXXX") || die "cannot write '${CA_DIR:+$CA_DIR/}$1'"
	TMP_FILES+=("$PWD/$TMP")
	chmod 644 "$TMP" || die "cannot write '${CA_DIR:+$CA_DIR/}$1'"
}

# Scratch files live in one folder that is removed on exit, with what a
# run stopped part-way made in the CA folder and did not put in place: a
# new key (new_key) and the temporary files of new_public_tmp (once one is
# renamed into place, its name is gone and removing it removes nothing).
TMP_FILES=()
scratch() {
	if [ -z "${SCRATCH:-}" ]; then
		SCRATCH=$(mktemp -d "${TMPDIR:-/tmp}/ipsnet-certs.XXXXXX")
		trap 'rm -rf "$SCRATCH" ${NEW_KEY:+"$NEW_KEY"} "${TMP_FILES[@]}"' EXIT
	fi
}

# new_key FILE: a new key (gen_key) under a name of its own beside FILE,
# .FILE.new, in NEW_KEY; key_in_place puts it at FILE once its certificate
# is. A script stopped before (openssl failed, a kill) leaves no FILE
# that every run after it refuses to overwrite, and no key: the exit
# removes it. Run inside CA_DIR, under its lock.
new_key() {
	scratch
	NEW_KEY=$CA_DIR/.$1.new
	refuse_link "$NEW_KEY"
	rm -f -- "$NEW_KEY"
	gen_key "$NEW_KEY"
}

key_in_place() {
	mv -f -- "$NEW_KEY" "$1" || die "cannot put the key in place as '$CA_DIR/$1'"
	NEW_KEY=
}

# run_openssl ARGS...: openssl with its chatter kept back unless it fails.
run_openssl() {
	scratch
	if ! openssl "$@" >"$SCRATCH/openssl.out" 2>&1; then
		sed 's/^/  openssl: /' "$SCRATCH/openssl.out" >&2
		die "openssl $1 failed"
	fi
}

# sign_csr CSR OUT EXTSECTION [openssl ca options...]: signs CSR
# with the CA into OUT (PEM only), recording it in index.txt. Run inside
# CA_DIR.
sign_csr() {
	local csr=$1 out=$2 ext=$3 tmp
	shift 3
	new_public_tmp "$out"
	tmp=$TMP
	run_openssl ca -batch -config openssl.cnf -notext -extensions "$ext" \
		-in "$csr" -out "$tmp" "$@"
	mv -f "$tmp" "$out"
}

# write_crl DAYS [openssl ca options...]: a fresh DIR/crl.pem, replaced
# atomically so that a daemon reloading it on SIGHUP never reads half a
# file. Run inside CA_DIR.
write_crl() {
	local tmp days=$1
	shift
	new_public_tmp crl.pem
	tmp=$TMP
	run_openssl ca -batch -config openssl.cnf -gencrl -crldays "$days" \
		-out "$tmp" "$@"
	mv -f "$tmp" crl.pem
}
