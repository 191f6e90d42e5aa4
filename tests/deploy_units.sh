#!/usr/bin/env bash
# The systemd units of deploy/systemd, as configured for the install, pass
# systemd-analyze verify with nothing to say: every key known, every
# command there. The installed paths are pointed at this build's
# binaries, which are not installed.
#
#   deploy_units.sh UNITDIR SBINDIR IPSNETD BACKUP_SH TIMER
set -euo pipefail
unitdir=$1 sbindir=$2 ipsnetd=$3 backup=$4 timer=$5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for unit in "$unitdir"/*.service "$timer"; do
	sed -e "s|$sbindir/ipsnetd |$ipsnetd |g" \
		-e "s|$sbindir/ipsnet-backup |$backup |g" "$unit" >"$tmp/${unit##*/}"
done
ls "$tmp"/ipsnetd.service "$tmp"/ipsnetd-init.service \
	"$tmp"/ipsnet-backup.service "$tmp"/ipsnet-backup.timer >/dev/null
status=0
# A config error (exit 2) is not restarted every RestartSec for ever.
if ! grep -qx 'RestartPreventExitStatus=2' "$tmp/ipsnetd.service"; then
	echo "ipsnetd.service restarts a daemon that exited 2 (a config error)" >&2
	status=1
fi
for unit in "$tmp"/*; do
	if ! out=$(cd "$tmp" && systemd-analyze verify "./${unit##*/}" 2>&1) ||
		[ -n "$out" ]; then
		echo "${unit##*/}: systemd-analyze verify says:" >&2
		echo "$out" >&2
		status=1
	fi
done
exit $status
