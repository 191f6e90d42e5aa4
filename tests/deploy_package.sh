#!/usr/bin/env bash
# cpack makes the Debian package of this build (deploy/package.cmake), and
# it holds what an installed ipsnet needs: the programs, the library and
# its header, the systemd units pointing at the package's own ipsnetd, the
# backup and the example config; its Depends name the shared libraries the
# programs use, and adduser, which its postinst runs to make the user the
# units run as.
#
#   deploy_package.sh BUILD_DIR PREFIX
set -euo pipefail
build=$1 prefix=$2
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$build" && cpack -G DEB -B "$out" >"$out/cpack.log" 2>&1) || {
	cat "$out/cpack.log" >&2
	exit 1
}
deb=$(ls "$out"/ipsnet_*.deb)
status=0
say() {
	echo "$deb: $*" >&2
	status=1
}
files=$(dpkg-deb -c "$deb" | awk '{ print $6 }' | sed 's|^\./|/|')
for f in sbin/ipsnetd sbin/ipsnet-backup bin/ipsnet include/ipsnet/ipsnet.h \
	lib/systemd/system/ipsnetd.service lib/systemd/system/ipsnetd-init.service \
	lib/systemd/system/ipsnet-backup.service lib/systemd/system/ipsnet-backup.timer \
	share/ipsnet/ipsnetd.conf.example share/ipsnet/README.md; do
	grep -qx "$prefix/$f" <<<"$files" || say "no $prefix/$f"
done
grep -qE "^$prefix/lib/([a-z0-9_-]+/)?libipsnet\.so\.0$" <<<"$files" ||
	say "no libipsnet.so.0"
depends=$(dpkg-deb -f "$deb" Depends)
# adduser: what the postinst runs to make the user.
for lib in libuv1 libssl3 libsqlite3-0 libprotobuf-c1 libinih1 libjansson4 adduser; do
	grep -q "\b$lib\b" <<<"$depends" || say "Depends does not name $lib: $depends"
done
mkdir "$out/x"
dpkg-deb -x "$deb" "$out/x"
dpkg-deb -e "$deb" "$out/x/DEBIAN"
grep -q "^ExecStart=$prefix/sbin/ipsnetd serve " \
	"$out/x/$prefix/lib/systemd/system/ipsnetd.service" ||
	say "ipsnetd.service does not start $prefix/sbin/ipsnetd"
[ -x "$out/x/DEBIAN/postinst" ] && grep -q "adduser --system" "$out/x/DEBIAN/postinst" ||
	say "no postinst that adds the user ipsnet"
# Removed, the package stops its daemon and backup first: they ran on
# without their programs (found by a review).
[ -x "$out/x/DEBIAN/prerm" ] && grep -q "systemctl stop" "$out/x/DEBIAN/prerm" &&
	grep -q "ipsnetd.service" "$out/x/DEBIAN/prerm" ||
	say "no prerm that stops ipsnetd"
"$out/x/$prefix/sbin/ipsnetd" --version >/dev/null || say "its ipsnetd does not run"
exit $status
