# Shared by every bats suite: paths, a strict skip, and process helpers.
# In CI (CI=true) a test that would skip fails instead: BPF tests must really run there.
ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
BUILD=${BUILD:-build}
case $BUILD in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
TASKSCOPE=$BUILD/taskscope
DEMO=$BUILD/taskscope-demo
EXAMPLES=$BUILD/examples

strict_skip() {
	if [ "${CI:-}" = true ]; then
		echo "would skip in CI, which fails instead: $*" >&2
		return 1
	fi
	skip "$*"
}

require_root_bpf() {
	[ "$(id -u)" = 0 ] || strict_skip "needs root for BPF"
	[ -r /sys/kernel/btf/vmlinux ] || strict_skip "kernel has no BTF"
}

require_cmd() {
	command -v "$1" >/dev/null 2>&1 || strict_skip "$1 is not installed"
}

# Wait until FILE has at least N lines (default 1), up to ~10 s.
wait_for_lines() {
	local file=$1 n=${2:-1} i
	for i in $(seq 200); do
		[ -f "$file" ] && [ "$(wc -l < "$file")" -ge "$n" ] && return 0
		sleep 0.05
	done
	echo "timed out waiting for $n lines in $file" >&2
	return 1
}

# The state most files' tests start from: T, the test's own folder, and PIDS, the processes
# spawn starts; a file's setup calls it (then adds its own), its teardown calls stop_spawned.
# Each FILE given must be built too.
spawn_setup() { # [FILE...]
	local f
	for f in "$TASKSCOPE" "$@"; do
		[ -x "$f" ] || { echo "missing $f: run make" >&2; return 1; }
	done
	T=$BATS_TEST_TMPDIR
	PIDS=()
}

# Stop what spawn started, the last first.
stop_spawned() {
	local i
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_proc "${PIDS[i]}"; done
	return 0
}

# Kill a background process started by a test, if still alive.
stop_proc() {
	local pid=$1
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.05; done
	kill -9 "$pid" 2>/dev/null || true
}

# Start "$@" in the background as NAME: stdout in $T/NAME.out, stderr in $T/NAME.err, pid in
# PID and appended to PIDS (for teardown). The files are emptied here, not in the background
# child: a wait on them that follows must never match what the last process of that name left.
spawn() {
	local name=$1
	shift
	: >"$T/$name.out"
	: >"$T/$name.err"
	"$@" >>"$T/$name.out" 2>>"$T/$name.err" 3>&- &
	PID=$!
	PIDS+=("$PID")
}

# Run the bash completion in file $1 in a fresh bash for the words that follow (the last one is
# being completed); prints one candidate a line.
complete_in() {
	bash -c '
		. "$1"
		shift
		COMP_WORDS=("$@")
		COMP_CWORD=$(($# - 1))
		_taskscope
		printf "%s\n" "${COMPREPLY[@]}"' bash "$@"
}

# Wait until file $1 holds a line matching regex $2, up to $3 tenths of a second (100).
wait_line() {
	local i
	for ((i = 0; i < ${3:-100}; i++)); do
		grep -qE "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timed out waiting for /$2/ in $1:" >&2
	cat "$1" >&2
	return 1
}

# Wait until process $1 (a child of this shell) exits, up to $2 seconds (then it is killed:
# a hang fails, it does not hang the suite); its status in RC.
wait_exit() {
	local i
	for ((i = 0; i < ${2:-20} * 10; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null || true
	RC=0
	wait "$1" || RC=$?
}

# Wait until process $1 runs program $2 (its exec done), up to ~10 s: a command started with
# `&` is the shell for a moment, and an exec during an attach ends taskscope with exit 11.
wait_exec() {
	local i
	for i in $(seq 200); do
		[ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$(readlink -f "$(command -v "$2")")" ] && return 0
		sleep 0.05
	done
	echo "process $1 never ran $2" >&2
	return 1
}

# The line of marker MARK in source FILE, a comment "/* @MARK */" there exactly once.
marker_line() {
	local n
	n=$(grep -n "/\* @$2 \*/" "$1" | cut -d: -f1)
	[ -n "$n" ] && [ "$(wc -l <<<"$n")" = 1 ] || { echo "marker @$2: not exactly once in $1" >&2; return 1; }
	echo "$n"
}

# Start `record -v -o FILE [args] PID` in the background as rec (pid in REC) and wait until it
# records.
start_record() {
	local file=$1 pid=$2
	shift 2
	spawn rec "$TASKSCOPE" record -v -o "$file" "$@" "$pid"
	REC=$PID
	wait_line "$T/rec.err" '^taskscope: recording process'
}

# Wait until record -v (its stderr in $T/rec.err) reads $1 event rings through mappings of
# them: then what they hold is read even after the process exits.
wait_rings_mapped() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(grep -c 'event ring of thread .* through a mapping' "$T/rec.err")" -ge "$1" ] && return 0
		sleep 0.1
	done
	echo "record did not map $1 rings:" >&2
	cat "$T/rec.err" >&2
	return 1
}

# The per-type table of record -v: "TYPE FIRED RECORDED LOST" lines.
rec_table() {
	awk '$1 == "taskscope:" && NF == 5 && $3 ~ /^[0-9]+$/ { print $2, $3, $4, $5 }' "$T/rec.err"
}

# The scheduling latencies tests/progs/sched_latency printed in FILE (its delays, and its
# extra near-zero samples): "COUNT P50 P99 MAX", nearest-rank, in ns.
sched_truth() {
	awk '$1 == "delays_ns" { for (i = 2; i <= NF; i++) print $i }
	     $1 == "extra" { for (i = 0; i < $2; i++) print 0 }' "$1" | sort -n |
		awk '{ v[NR] = $1 } END {
			r50 = int((NR * 50 + 99) / 100); r99 = int((NR * 99 + 99) / 100)
			print NR, v[r50], v[r99], v[NR] }'
}

# within A B: A is B within 10% + 1 ms
within() {
	awk -v a="$1" -v b="$2" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= b / 10 + 1000000) }'
}
