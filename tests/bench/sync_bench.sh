#!/usr/bin/env bash
# The sync benchmark (issue 6, item 6), over TLS on 127.0.0.1:
#
#   1. catch-up: journal entries a second for one subscriber reading a
#      journal of a million registrations from seq 0 (a GGZ that sees them
#      all), and for a municipality that sees none of them;
#   2. commit-to-delivery latency, p50 / p99, with 100 and with 1,000 live
#      subscribers, while one client registers clients one at a time; and
#      alongside, in the same run, the same subscribers and changes against
#      fanout-peer, a peer server with ipsnetd's TLS, streams and fan-out
#      threads and nothing else: the baseline, what a TLS fan-out costs on
#      this machine by itself;
#   3. the daemon's resident memory (VmRSS) with 1,000 subscribers, and with
#      one subscriber that never reads while changes keep committing.
#   4. changes at 64 connections alone and beside a subscriber that
#      catches up from 0 over and over (a journal of its own).
#
# The journal is built once by ipsnet-load (many pipelined RegisterClient
# changes) and kept in the work folder as it was built (ipsnet.db.built):
# each run, and each catch-up in it, starts from a copy of it. A run adds
# audit rows (a GGZ's catch-up one a client, written into the middle of
# the audit_client index) and changes; a database that grew with every run
# would make each run measure another one. Run it through
# CMake (`cmake --build BUILD --target sync-bench-run`) or by hand. Build
# Release for figures.
set -euo pipefail

prog=$(basename "$0")
# shellcheck source=tests/bench/lib.sh
. "$(dirname "$0")/lib.sh"

usage() {
	cat <<EOF
usage: $prog --ipsnetd FILE --load FILE --bench FILE --peer FILE
             --certs DIR [--entries N] [--dir DIR] [--runs N]

  --ipsnetd FILE   the daemon
  --load FILE      ipsnet-load (builds the journal)
  --bench FILE     sync-bench
  --peer FILE      fanout-peer (the baseline of the live latency)
  --certs DIR      the certs/ scripts of the source tree
  --entries N      journal entries (default 1000000; \$BENCH_ENTRIES)
  --dir DIR        the work folder, kept between runs with its journal
                   as built (ipsnet.db.built)
                   (default \$BENCH_DIR, else \${TMPDIR:-/tmp}/ipsnet-sync-bench)
  --runs N         runs of each catch-up and live case, the median
                   reported (default 3)
EOF
}

ipsnetd=
load=
bench=
peer=
certs=
entries=${BENCH_ENTRIES:-1000000}
work=${BENCH_DIR:-${TMPDIR:-/tmp}/ipsnet-sync-bench}
runs=3

while [ $# -gt 0 ]; do
	case $1 in
	--ipsnetd) need "$1" $#; ipsnetd=$2; shift 2 ;;
	--load) need "$1" $#; load=$2; shift 2 ;;
	--bench) need "$1" $#; bench=$2; shift 2 ;;
	--peer) need "$1" $#; peer=$2; shift 2 ;;
	--certs) need "$1" $#; certs=$2; shift 2 ;;
	--entries) need "$1" $#; entries=$2; shift 2 ;;
	--dir) need "$1" $#; work=$2; shift 2 ;;
	--runs) need "$1" $#; runs=$2; shift 2 ;;
	-h | --help) usage; exit 0 ;;
	*) usage >&2; die "unknown argument '$1'" ;;
	esac
done

[ -x "$ipsnetd" ] || die "--ipsnetd: '$ipsnetd' is not a program"
[ -x "$load" ] || die "--load: '$load' is not a program"
[ -x "$bench" ] || die "--bench: '$bench' is not a program"
[ -x "$peer" ] || die "--peer: '$peer' is not a program"
[ -x "$certs/ca.sh" ] || die "--certs: '$certs' has no ca.sh"
if ! [[ $entries =~ ^[0-9]+$ ]] || [ "$entries" -lt 1000 ] ||
	[ "$entries" -gt 10000000 ]; then
	die "--entries: 1000 to 10000000"
fi
if ! [[ $runs =~ ^[0-9]+$ ]] || [ "$runs" -lt 1 ] || [ "$runs" -gt 20 ]; then
	die "--runs: 1 to 20"
fi
# 1,000 subscribers and the daemon's connections need descriptors.
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 2100 ] || die "needs 2100 file descriptors (ulimit -n)"

mkdir -p "$work"
daemon_pid=
hold_pid=
peer_pid=
result=

cleanup() {
	local rc=$?
	[ -z "$hold_pid" ] || stop_pid "$hold_pid"
	[ -z "$peer_pid" ] || stop_pid "$peer_pid"
	[ -z "$daemon_pid" ] || stop_pid "$daemon_pid"
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---- certificates and config, made once -------------------------------------
ca=$work/ca
if [ ! -f "$ca/network.key" ]; then
	rm -rf "$ca"
	"$certs/ca.sh" "$ca" --name "ipsnet sync bench CA" >/dev/null
	"$certs/server-cert.sh" "$ca" server >/dev/null
	for org in ggz-bench gm0363 network; do
		"$certs/org-cert.sh" "$ca" "$org" >/dev/null
	done
fi
cat >"$work/ipsnetd.conf" <<EOF
[server]
listen = 127.0.0.1:0
database = $work/ipsnet.db
ca = $ca/ca.crt
cert = $ca/server.crt
key = $ca/server.key
crl = $ca/crl.pem
max_connections = 4096
max_connections_per_organisation = 4096
max_inflight = 1024

[organisation ggz-bench]
kind = GGZ
name = GGZ Bench
region = 1

[organisation gm0363]
kind = MUNICIPALITY
name = Gemeente Amsterdam
region = 1
cbs_code = GM0363

[organisation network]
kind = NETWORK
name = IPS netwerk
region = 1
EOF
# The journal as built, kept: every run starts from a copy of it. A work
# folder from before holds a journal that earlier runs added to: made anew.
db=$work/ipsnet.db
built=$work/ipsnet.db.built
if [ ! -f "$built" ] && [ -f "$db" ]; then
	echo "the kept journal has earlier runs' rows in it and no copy as built: made anew" >&2
	rm -f "$db" "$db-wal" "$db-shm"
fi

# Puts a copy of the journal as built in the database's place (the daemon
# stopped), on disk before it is read, so that no write-back of the copy
# runs beside what is measured. The head the daemon last served goes too:
# the copy is this bench's own, no restore to warn of ("journal head went
# back").
restore_built() {
	[ -f "$built" ] || return 0
	rm -f "$db-wal" "$db-shm" "$db.served"
	cp "$built" "$db.copy"
	sync "$db.copy"
	mv "$db.copy" "$db"
}

# Keeps the journal as built (the daemon stopped, so that the database
# file holds everything and no -wal is left).
save_built() {
	[ ! -s "$db-wal" ] || die "$db-wal is left after the daemon stopped"
	cp "$db" "$built.copy"
	sync "$built.copy"
	mv "$built.copy" "$built"
}

restore_built
# A new database, or the kept one brought to this ipsnetd's schema; kept so
# brought, or every run's copy would be of the schema before, which the
# daemon refuses to serve.
"$ipsnetd" init --config "$work/ipsnetd.conf" >/dev/null 2>"$work/init.log" ||
	die "ipsnetd init failed: $(tail -n 3 "$work/init.log")"
[ ! -f "$built" ] || save_built

start_daemon() {
	start_daemon_in "$work" 60
}

head_seq() {
	sed -n 's/.*msg="journal open".* head_seq=\([0-9]*\).*/\1/p' \
		"$work/ipsnetd.log" | head -n 1
}

rss_kib() {
	awk '/^VmRSS:/ { print $2 }' "/proc/$daemon_pid/status"
}

as() { # ORG: the options to act as ORG
	echo "--server 127.0.0.1:$port --ca $ca/ca.crt --cert $ca/$1.crt --key $ca/$1.key"
}

median() {
	sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

json_field() { # KEY JSON
	printf '%s\n' "$2" | sed -n "s/.*\"$1\":\([0-9.e+-]*\).*/\1/p"
}

start_daemon
have=$(head_seq)
if [ "$have" -lt "$entries" ]; then
	echo "building the journal: $have entries, $((entries - have)) to go" >&2
	t0=$(date +%s)
	# The journal's BSNs from prefix 0 up (past what an earlier build of
	# it took), the live runs' from 50,000,000 up: they never meet, as a
	# client registered twice is refused.
	# shellcheck disable=SC2046
	"$load" $(as ggz-bench) --count $((entries - have)) --connections 16 \
		--inflight 64 --bsn-start $((have * 2)) >"$work/load.log" 2>&1 ||
		die "ipsnet-load failed: $(tail -n 3 "$work/load.log")"
	echo "built in $(($(date +%s) - t0)) s" >&2
	stop_pid "$daemon_pid"
	save_built
	start_daemon
fi
head=$(head_seq)
echo "journal: $head entries ($(du -h "$work/ipsnet.db" | cut -f1)), $(nproc) CPUs"
echo

# ---- 1. catch-up -------------------------------------------------------------
# Each GGZ catch-up from the journal as built: one before would have left
# its audit rows, a million of them.
rates=()
for _ in $(seq 1 "$runs"); do
	stop_pid "$daemon_pid"
	restore_built
	start_daemon
	# shellcheck disable=SC2046
	out=$("$bench" $(as ggz-bench) --json catchup)
	rates+=("$(json_field entries_per_s "$out")")
done
best=$(printf '%s\n' "${rates[@]}" | sort -g | tail -n 1)
med=$(printf '%s\n' "${rates[@]}" | median)
printf 'catch-up, GGZ (sees every entry):    median %8.0f entries/s, best %8.0f (target >= 200000)\n' \
	"$med" "$best"
# shellcheck disable=SC2046
out=$("$bench" $(as gm0363) --json catchup)
printf 'catch-up, municipality (sees none):  %8.0f entries/s (every entry judged by policy)\n' \
	"$(json_field entries_per_s "$out")"
echo

# ---- 2. commit-to-delivery latency -------------------------------------------
# Each run on a fresh daemon, whose "stopped" line then gives its own side:
# from the commit to the moment the event's bytes were handed to the kernel.
# The bench measures from the writer's answer to the event's arrival in the
# subscriber, which runs on the same CPUs. 1,000 subscribers are measured
# at 20 changes a second, where one change is delivered before the next
# (at 100 a second the deliveries alone need about two CPUs here), and at
# 100 a second as a load test. Each ipsnetd run is followed by a run of the
# same subscribers and changes against fanout-peer; the medians of --runs
# pairs are printed, with the run-by-run p99s.
# One run each; the result in $result (the bench's JSON, and for ipsnetd
# its "stopped" line after it). No subshell, so that the trap can stop what
# runs.
live_daemon() { # SUBSCRIBERS RATE CHANGES
	local n=$1 rate=$2 changes=$3 out
	start_daemon
	# shellcheck disable=SC2046
	out=$("$bench" $(as ggz-bench) --json --subscribers "$n" \
		--changes "$changes" --rate "$rate" --daemon-pid "$daemon_pid" live)
	stop_pid "$daemon_pid"
	daemon_pid=
	result=$(printf '%s\n%s\n' "$out" "$(grep 'msg=stopped' "$work/ipsnetd.log" | tail -n 1)")
}

live_peer() { # SUBSCRIBERS RATE CHANGES
	local n=$1 rate=$2 changes=$3 out pport=
	"$peer" --ca "$ca/ca.crt" --cert "$ca/server.crt" --key "$ca/server.key" \
		>"$work/peer.out" 2>&1 &
	peer_pid=$!
	for _ in $(seq 1 100); do
		pport=$(sed -n 's/^listening 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$work/peer.out")
		[ -z "$pport" ] || break
		kill -0 "$peer_pid" 2>/dev/null || break
		sleep 0.1
	done
	[ -n "$pport" ] || die "fanout-peer did not listen: $(cat "$work/peer.out")"
	out=$("$bench" --server "127.0.0.1:$pport" --ca "$ca/ca.crt" \
		--cert "$ca/ggz-bench.crt" --key "$ca/ggz-bench.key" --json \
		--subscribers "$n" --changes "$changes" --rate "$rate" \
		--daemon-pid "$peer_pid" live)
	stop_pid "$peer_pid"
	peer_pid=
	result=$out
}

two_places() { # NUMBER...: "1.26 1.20 0.94"
	printf '%.2f ' "$@" | sed 's/ $//'
}

stopped_field() { # KEY STOPPED-LINE
	sed -n "s/.*$1=\([0-9.]*\).*/\1/p" <<<"$2"
}

live_case() { # SUBSCRIBERS RATE CHANGES
	local n=$1 rate=$2 changes=$3 d p
	local d50=() d99=() s50=() s99=() dcpu=() bcpu=() p50=() p99=() pcpu=() pbcpu=() missing=0
	stop_pid "$daemon_pid"
	daemon_pid=
	for _ in $(seq 1 "$runs"); do
		live_daemon "$n" "$rate" "$changes"
		d=$result
		d50+=("$(json_field after_ack_p50_ms "$d")")
		d99+=("$(json_field after_ack_p99_ms "$d")")
		dcpu+=("$(json_field daemon_cpu_us_per_delivery "$d")")
		bcpu+=("$(json_field bench_cpu_us_per_delivery "$d")")
		s50+=("$(stopped_field live_commit_to_send_p50_ms "$d")")
		s99+=("$(stopped_field live_commit_to_send_p99_ms "$d")")
		missing=$((missing + $(json_field missing "$d")))
		live_peer "$n" "$rate" "$changes"
		p=$result
		p50+=("$(json_field after_ack_p50_ms "$p")")
		p99+=("$(json_field after_ack_p99_ms "$p")")
		pcpu+=("$(json_field daemon_cpu_us_per_delivery "$p")")
		pbcpu+=("$(json_field bench_cpu_us_per_delivery "$p")")
	done
	local md50 md99 mp50 mp99
	md50=$(printf '%s\n' "${d50[@]}" | median)
	md99=$(printf '%s\n' "${d99[@]}" | median)
	mp50=$(printf '%s\n' "${p50[@]}" | median)
	mp99=$(printf '%s\n' "${p99[@]}" | median)
	printf 'live, %4d subscribers, %3d changes/s, writer'"'"'s answer to arrival, median of %d:\n' \
		"$n" "$rate" "$runs"
	printf '      ipsnetd      p50 %6.2f ms p99 %6.2f ms (p99 by run: %s); %s missing\n' \
		"$md50" "$md99" "$(two_places "${d99[@]}")" "$missing"
	printf '      fanout-peer  p50 %6.2f ms p99 %6.2f ms (p99 by run: %s)\n' \
		"$mp50" "$mp99" "$(two_places "${p99[@]}")"
	printf '      ratio        p50 %6.2f    p99 %6.2f (ipsnetd / the bare TLS fan-out)\n' \
		"$(awk -v a="$md50" -v b="$mp50" 'BEGIN { print (b > 0 ? a / b : 0) }')" \
		"$(awk -v a="$md99" -v b="$mp99" 'BEGIN { print (b > 0 ? a / b : 0) }')"
	printf '      ipsnetd, commit to send: p50 %s ms p99 %s ms\n' \
		"$(printf '%s\n' "${s50[@]}" | median)" "$(printf '%s\n' "${s99[@]}" | median)"
	printf '      CPU per delivery: ipsnetd %.1f us, its subscribers %.1f us; fanout-peer %.1f us, its subscribers %.1f us\n' \
		"$(printf '%s\n' "${dcpu[@]}" | median)" "$(printf '%s\n' "${bcpu[@]}" | median)" \
		"$(printf '%s\n' "${pcpu[@]}" | median)" "$(printf '%s\n' "${pbcpu[@]}" | median)"
	# The last of N subscribers cannot have a change before the CPU of all
	# N deliveries, server's and subscribers' alike, was spent on this
	# machine's CPUs: a floor under the p99 that no order of the work
	# goes below while the subscribers share the CPUs.
	printf '      CPU floor of the last delivery (all deliveries'"'"' CPU / %d CPUs): ipsnetd %.2f ms, fanout-peer %.2f ms\n' \
		"$(nproc)" \
		"$(awk -v a="$(printf '%s\n' "${dcpu[@]}" | median)" -v b="$(printf '%s\n' "${bcpu[@]}" | median)" \
			-v n="$n" -v c="$(nproc)" 'BEGIN { print (a + b) * n / c / 1000 }')" \
		"$(awk -v a="$(printf '%s\n' "${pcpu[@]}" | median)" -v b="$(printf '%s\n' "${pbcpu[@]}" | median)" \
			-v n="$n" -v c="$(nproc)" 'BEGIN { print (a + b) * n / c / 1000 }')"
}
live_case 100 100 1000
live_case 1000 20 400
live_case 1000 100 1000
echo

# ---- 3. memory ---------------------------------------------------------------
# Waits for the hold's "ready" line; prints the daemon's RSS then.
hold() { # ORG N [--never-read]
	local org=$1 n=$2
	shift 2
	# shellcheck disable=SC2046
	"$bench" $(as "$org") --subscribers "$n" "$@" hold >"$work/hold.out" 2>&1 &
	hold_pid=$!
	for _ in $(seq 1 600); do
		grep -q '^ready' "$work/hold.out" && return 0
		kill -0 "$hold_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$work/hold.out" >&2
	die "the subscribers were not all subscribed within 60 s"
}

start_daemon
sleep 1
idle=$(rss_kib)
hold ggz-bench 1000
sleep 2
with1000=$(rss_kib)
# shellcheck disable=SC2046
"$load" $(as ggz-bench) --count 2000 --connections 1 --inflight 8 >/dev/null 2>&1
sleep 1
with1000_after=$(rss_kib)
stop_pid "$hold_pid"
hold_pid=
printf 'memory: %d KiB idle; %d KiB with 1,000 live subscribers (+%d KiB, %.1f KiB each); %d KiB after 2,000 changes delivered to all\n' \
	"$idle" "$with1000" $((with1000 - idle)) \
	"$(awk -v a="$with1000" -v b="$idle" 'BEGIN { printf "%.1f", (a - b) / 1000 }')" \
	"$with1000_after"

stop_pid "$daemon_pid"
start_daemon
sleep 1
# Warm: one subscriber catches up the whole journal and goes, so that the
# reader threads' caches are in the baseline.
# shellcheck disable=SC2046
"$bench" $(as ggz-bench) catchup >/dev/null
before=$(rss_kib)
hold ggz-bench 1 --never-read
peak=$(rss_kib)
# shellcheck disable=SC2046
"$load" $(as ggz-bench) --duration 10 --connections 4 --inflight 16 \
	>"$work/load-stuck.log" 2>&1 &
load_pid=$!
for _ in $(seq 1 100); do
	r=$(rss_kib)
	[ "$r" -le "$peak" ] || peak=$r
	sleep 0.1
done
wait "$load_pid" || true
committed=$(sed -n 's/.*run_acknowledged=\([0-9]*\).*/\1/p' "$work/load-stuck.log")
stop_pid "$hold_pid"
hold_pid=
printf 'memory: one subscriber from seq 0 that never reads, while %s more changes commit: %d KiB before, peak %d KiB (+%d KiB; send buffer 1024 KiB)\n' \
	"${committed:-?}" "$before" "$peak" $((peak - before))
echo

# ---- 4. changes beside a catch-up ----------------------------------------------
# A subscriber that catches up (a new mirror, one back after a night away,
# one that fell back) must not slow the writer or the others. 64
# connections send changes as fast as they are answered, alone, then beside
# a GGZ (every entry delivered and audited) and a municipality (every entry
# judged, none sent) that catch up from 0 over and over. On a journal of
# its own, made here and removed after, so that the kept one stays the
# size the catch-up target names.
stop_pid "$daemon_pid"
daemon_pid=
contest=$work/contest
contest_entries=200000
rm -rf "$contest"
mkdir -p "$contest"
sed "s|^database = .*|database = $contest/ipsnet.db|" "$work/ipsnetd.conf" \
	>"$contest/ipsnetd.conf"
"$ipsnetd" init --config "$contest/ipsnetd.conf" >/dev/null 2>"$contest/init.log" ||
	die "ipsnetd init failed: $(tail -n 3 "$contest/init.log")"
start_daemon_in "$contest" 60
# shellcheck disable=SC2046
"$load" $(as ggz-bench) --count "$contest_entries" --connections 16 \
	--inflight 64 --bsn-start 0 >"$contest/load.log" 2>&1 ||
	die "ipsnet-load failed: $(tail -n 3 "$contest/load.log")"

# One 8-second run of the changes, beside ORG's catch-ups (or none); sets
# beside (ipsnet-load's result line) and catchups (the catch-ups' entries a
# second, those that ended in the run).
changes_beside() { # ORG|none BSN-START
	local org=$1 cu_pid=
	: >"$contest/catchups"
	if [ "$org" != none ]; then
		(
			end=$((SECONDS + 10))
			while [ "$SECONDS" -lt "$end" ]; do
				# shellcheck disable=SC2046
				json_field entries_per_s "$("$bench" $(as "$org") --json catchup)"
			done
		) >"$contest/catchups" 2>&1 &
		cu_pid=$!
	fi
	# shellcheck disable=SC2046
	beside=$("$load" $(as ggz-bench) --connections 64 --duration 8 --warmup 1 \
		--bsn-start "$2" | sed -n 2p)
	[ -z "$cu_pid" ] || wait "$cu_pid" || true
	catchups=$(awk '{ printf "%s%.0f", (NR > 1 ? ", " : ""), $1 }' "$contest/catchups")
}

beside_line() { # WHAT
	printf 'changes, 64 connections, %-28s %8.0f/s, p50 %6.2f ms, p99 %6.2f ms%s\n' \
		"$1:" "$(field_of changes_per_s "$beside")" "$(field_of p50_ms "$beside")" \
		"$(field_of p99_ms "$beside")" "${catchups:+; catch-ups at $catchups entries/s}"
}

field_of() { # KEY LINE
	tr ' ' '\n' <<<"$2" | sed -n "s/^$1=//p"
}

changes_beside none 30000000
alone=$(field_of changes_per_s "$beside")
beside_line "alone"
changes_beside ggz-bench 35000000
beside_line "beside a GGZ catching up"
ggz=$(field_of changes_per_s "$beside")
changes_beside gm0363 40000000
beside_line "beside a municipality"
gm=$(field_of changes_per_s "$beside")
printf 'changes beside a catch-up, as a share of alone: GGZ %.2f, municipality %.2f (a %d-entry journal; the subscriber on the same CPUs)\n' \
	"$(awk -v a="$ggz" -v b="$alone" 'BEGIN { print (b > 0 ? a / b : 0) }')" \
	"$(awk -v a="$gm" -v b="$alone" 'BEGIN { print (b > 0 ? a / b : 0) }')" \
	"$contest_entries"
stop_pid "$daemon_pid"
daemon_pid=
rm -rf "$contest"
