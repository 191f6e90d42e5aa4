# Pieces the benchmark scripts share. Source it after setting $prog and
# $ipsnetd; the scripts keep their own daemon_pid and port.

die() {
	echo "$prog: $*" >&2
	exit 1
}

need() { # OPTION ARGS_LEFT
	[ "$2" -ge 2 ] || die "$1 needs a value"
}

# Stops PID with SIGTERM, waiting up to 30 s before SIGKILL.
stop_pid() { # PID
	local pid=$1
	kill -TERM "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		echo "$prog: pid $pid did not stop within 30 s of SIGTERM; killing it" >&2
		kill -KILL "$pid" 2>/dev/null || true
	fi
	wait "$pid" 2>/dev/null || true
}

# Starts ipsnetd on DIR/ipsnetd.conf, its log in DIR/ipsnetd.log (emptied
# first); waits up to SECONDS for its msg=listening line. Sets daemon_pid
# and port.
start_daemon_in() { # DIR SECONDS
	local dir=$1 seconds=$2
	: >"$dir/ipsnetd.log"
	"$ipsnetd" --config "$dir/ipsnetd.conf" 2>"$dir/ipsnetd.log" &
	daemon_pid=$!
	port=
	for _ in $(seq 1 $((seconds * 10))); do
		port=$(sed -n 's/.*msg=listening .*addr=127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' \
			"$dir/ipsnetd.log" | head -n 1)
		[ -z "$port" ] || return 0
		kill -0 "$daemon_pid" 2>/dev/null || break
		sleep 0.1
	done
	cat "$dir/ipsnetd.log" >&2
	die "ipsnetd did not log msg=listening within $seconds s"
}
