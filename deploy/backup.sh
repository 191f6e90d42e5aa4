#!/usr/bin/env bash
# A verified online backup of the ipsnet journal, for the nightly
# ipsnet-backup.timer (deploy/systemd) or cron: installed as ipsnet-backup.
#
#   ipsnet-backup [--config FILE] [--keep DAYS] DIR
#
# 1. ipsnetd backup copies the database named in the config into
#    DIR/ipsnet-YYYYMMDDTHHMMSSZ.db (UTC) while the daemon serves; the copy
#    is readable by its owner only and never overwrites a file.
# 2. ipsnetd verify checks the copy: its hash chain, and its state tables
#    replayed from the journal. A copy that does not verify is renamed
#    NAME.damaged, kept for a look, and the run fails; the damaged copies
#    of earlier runs are removed then, so that nights that keep failing
#    do not fill the disk with one more copy each. A copy that verify could
#    not read through (its exit 2: out of memory, a read error) is kept as
#    NAME.unverified the same way: it may be whole.
# 3. Only then are the backups in DIR older than DAYS days (default 30)
#    removed, judged by the time in their names; the one just made is
#    always kept. So is every backup when the run fails. Damaged and
#    unverified copies and unfinished ones of a run that was killed
#    (NAME.partial-XXXXXX) go when their backups would: they are copies
#    of the same personal data.
#
# Exit 0 when the new backup verified; 1 when it failed (one line on
# stderr says why); 2 on a usage error. IPSNETD names the ipsnetd binary
# (default: the one on PATH).
set -euo pipefail

usage() {
	echo "usage: ipsnet-backup [--config FILE] [--keep DAYS] DIR" >&2
	exit 2
}

ipsnetd=${IPSNETD:-ipsnetd}
config=()
keep=30
while [ $# -gt 0 ]; do
	case $1 in
	--config)
		[ $# -ge 2 ] || usage
		config=(--config "$2")
		shift 2
		;;
	--keep)
		[ $# -ge 2 ] || usage
		keep=$2
		shift 2
		;;
	-h | --help)
		sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	-*) usage ;;
	*) break ;;
	esac
done
[ $# -eq 1 ] || usage
dir=$1
if ! [[ $keep =~ ^[0-9]+$ ]] || [ "$keep" -lt 1 ] || [ "$keep" -gt 36500 ]; then
	echo "ipsnet-backup: --keep takes a number of days, 1 to 36500, not '$keep'" >&2
	exit 2
fi

# Under systemd (its stderr is the journal's: JOURNAL_STREAM) a failure is
# logged at priority err, "<3>" (SyslogLevelPrefix), not info: a monitor
# that watches the journal for errors learns of a night without a backup.
fail() {
	echo "${JOURNAL_STREAM:+<3>}ipsnet-backup: $*" >&2
	exit 1
}

if [ ! -d "$dir" ]; then
	mkdir -p -m 0700 -- "$dir" || fail "cannot make the folder '$dir'"
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ)
file=$dir/ipsnet-$stamp.db
if ! out=$("$ipsnetd" backup "$file" "${config[@]}" 2>&1); then
	fail "the backup failed, nothing was removed: ${out//$'\n'/ }"
fi
# set_aside SUFFIX WHAT OUT: the copy just made, which did not verify, is
# kept as NAME.db.SUFFIX for a look, and the run fails. One such copy is
# enough: those of earlier runs go, or nights that keep failing would add
# a whole copy each, none removed (only a run that verifies removes), until
# the disk (the daemon's too, when it is one) is full.
set_aside() {
	local suffix=$1 what=$2 why=$3 old earlier=0 also=
	if ! mv -- "$file" "$file.$suffix" 2>/dev/null; then
		rm -f -- "$file"
		fail "the backup $file $what and cannot be kept aside (removed), nothing else was removed: $why"
	fi
	for old in "$dir"/ipsnet-????????T??????Z.db."$suffix"; do
		if [ -e "$old" ] && [ "$old" != "$file.$suffix" ] && rm -f -- "$old"; then
			earlier=$((earlier + 1))
		fi
	done
	[ "$earlier" -eq 0 ] || also=" (copies of earlier runs removed: $earlier; one is kept)"
	fail "the backup $file $what, kept as $file.$suffix$also, no backup was removed: $why"
}
if out=$("$ipsnetd" verify --database "$file" "${config[@]}" 2>&1); then
	status=0
else
	status=$?
fi
# verify exits 1 for damage it found, 2 when it could not read the copy
# through (out of memory, a read error): that copy may be whole, and is
# not called damaged.
case $status in
0) ;;
1) set_aside damaged "does not verify" "${out//$'\n'/ }" ;;
*) set_aside unverified "could not be verified (ipsnetd verify exit $status)" "${out//$'\n'/ }" ;;
esac
entries=$(sed -n 's/^ok: \([0-9]*\) journal entries.*/\1/p' <<<"$out")

# Older backups, damaged and unfinished copies: their names' times before
# the cut-off, oldest first.
cutoff=$(date -u -d "$keep days ago" +%Y%m%dT%H%M%SZ)
removed=0 leftovers=0
for old in "$dir"/ipsnet-????????T??????Z.db "$dir"/ipsnet-????????T??????Z.db.damaged \
	"$dir"/ipsnet-????????T??????Z.db.unverified \
	"$dir"/ipsnet-????????T??????Z.db.partial-*; do
	[ -e "$old" ] || continue
	name=${old##*/ipsnet-}
	name=${name%%.db*}
	if [ "$old" != "$file" ] && [[ $name < $cutoff ]]; then
		rm -f -- "$old" || fail "the backup $file verified, but '$old' cannot be removed"
		if [[ $old == *.db ]]; then
			removed=$((removed + 1))
		else
			leftovers=$((leftovers + 1))
		fi
	fi
done
also=
[ "$leftovers" -eq 0 ] || also=", and $leftovers damaged, unverified or unfinished copies"
echo "ipsnet-backup: $file verified ($entries journal entries); removed $removed backup(s) older than $keep days$also"
