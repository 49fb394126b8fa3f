#!/usr/bin/env bats
# Post-mortem (README "post-mortem"): ps and tree read a core file (--core), offline.
#
# Real cores: `gcore` of the demo (stopped, so that the live reading just before and the core
# hold the same instant), and cores of tests/progs/crasher taken by gdb at its crash (a NULL
# dereference, abort()) or written by the kernel, in the victim's three links (static PIE,
# shared, stripped) and stripped with separate debug info found by build-id.
#
# gdb reads a process's memory through /proc/PID/mem, where a mapping with guard markers
# (MADV_GUARD_INSTALL, how the runtime guards its stacks on Linux 6.13+) fails whole: its
# cores hold zeros for every task stack then. Victims that gdb dumps run with
# TASKSCOPE_STACK_GUARD=mprotect; the kernel's own dumps need nothing.

load test_helper

VICTIM=$BUILD/progs/crasher
SRC=$ROOT/tests/progs/crasher.c

setup_file() {
	command -v gdb >/dev/null || return 0 # the tests say it
	local T=$BATS_FILE_TMPDIR i rc
	TASKSCOPE_STACK_GUARD=mprotect "$DEMO" --threads 2 --tasks 3 --deadlock >"$T/demo.out" 2>&1 3>&- &
	local pid=$!
	echo "$pid" >"$T/demo.pid"
	# all 12 tasks there (Task-1, 2 x (3 workers + a feeder), the 3 of the cycle)
	for i in $(seq 200); do
		[ "$("$TASKSCOPE" ps --no-bpf --json "$pid" 2>/dev/null | jq '.tasks | length')" = 12 ] && break
		sleep 0.05
	done
	# Stopped, the live reading and the core are of one instant. A thread stopped in the
	# middle of a change makes the live reading fail (exit 9): let it run on, and stop again.
	local opts=()
	[ "$(id -u)" = 0 ] || opts=(--no-bpf)
	for i in $(seq 20); do
		kill -STOP "$pid"
		rc=0
		"$TASKSCOPE" ps --json "${opts[@]}" "$pid" >"$T/live.json" 2>"$T/live.err" || rc=$?
		[ $rc = 0 ] && "$TASKSCOPE" ps --no-bpf --stacks --json "$pid" >"$T/live-stacks.json" \
			2>>"$T/live.err" && break
		kill -CONT "$pid"
	done
	timeout 120 gcore -o "$T/demo" "$pid" >"$T/gcore.out" 2>&1 || true
	mv "$T/demo.$pid" "$T/demo.core" 2>/dev/null || true
	kill -CONT "$pid"
	kill "$pid"
	wait "$pid" 2>/dev/null || true # gone, not a zombie, before the tests begin
}

teardown_file() {
	[ -f "$BATS_FILE_TMPDIR/demo.pid" ] && kill "$(cat "$BATS_FILE_TMPDIR/demo.pid")" 2>/dev/null
	return 0
}

setup() {
	T=$BATS_TEST_TMPDIR
	require_cmd gdb
	require_cmd jq
	[ -x "$VICTIM" ] || { echo "missing $VICTIM: run make" >&2; return 1; }
}

# The line of marker MARK (e.g. crash:segv) in the victim's source.
line_of() { marker_line "$SRC" "$1"; }

# Run the victim $1 (a link of crasher) with mode $2 under gdb, which dumps it at the crash
# into $T/$2.core; its loop thread's id in TID.
gdb_core() {
	TASKSCOPE_STACK_GUARD=mprotect timeout 120 gdb -batch -nx -ex run -ex "gcore $T/$2.core" \
		-ex kill --args "$1" "$2" >"$T/gdb.out" 2>&1 </dev/null || true
	[ -s "$T/$2.core" ] || { cat "$T/gdb.out" >&2; return 1; }
	TID=$(sed -n 's/^tid \([0-9]*\)$/\1/p' "$T/gdb.out")
	[ -n "$TID" ] || { cat "$T/gdb.out" >&2; return 1; }
}

# The real (not inlined) frames of task NAME in $T/ps.json, one word each:
# fn@file-basename:line.
frames_of() {
	jq -r --arg n "$1" '.tasks[] | select(.name == $n) |
		[.stack[] | select(.inlined | not) |
		 "\(.fn)@\((.file // "?") | split("/") | last):\(.line)"] | join(" ")' "$T/ps.json"
}

# The other tasks of the crasher, parked, with their wait reasons.
check_others() {
	local f=$1
	run jq -r '.tasks[] | select(.name != "worker-3") | "\(.name) \(.state) \(.wait) \(.wait_obj // "")"' "$f"
	[ "$status" = 0 ]
	[ "${lines[0]}" = "Task-1 waiting event $(jq -r '.tasks[0].wait_obj' "$f")" ]
	[ "${lines[1]}" = "sleeper waiting sleep $(jq -r '.tasks[1].wait_obj' "$f")" ]
	[ "${lines[2]}" = "waiter waiting queue $(jq -r '.tasks[2].wait_obj' "$f")" ]
	[ "${lines[3]}" = "awaiter waiting await 2" ]
}

@test "core: ps --core --json of the demo equals ps --json of it just before gcore" {
	[ -s "$BATS_FILE_TMPDIR/demo.core" ] || { cat "$BATS_FILE_TMPDIR"/*.out "$BATS_FILE_TMPDIR/live.err" >&2; false; }
	run "$TASKSCOPE" ps --json --core "$BATS_FILE_TMPDIR/demo.core"
	[ "$status" = 0 ]
	echo "$output" >"$T/core.json"
	# What differs, and why: taken_ns, each task's age_ms, wait_left_ns and waited_ns, and
	# each loop's lag_ns, which counts how overdue its timers are now (a core holds no clock:
	# taken_ns is when the core file was written); reconciled, events, lost and map_full (no
	# probes offline); core and crash (only a core has them).
	local d='del(.taken_ns, .reconciled, .events, .lost, .map_full, .core, .crash) |
		.tasks |= map(del(.age_ms, .wait_left_ns, .waited_ns)) | .threads |= map(del(.lag_ns))'
	diff <(jq -S "$d" "$BATS_FILE_TMPDIR/live.json") <(jq -S "$d" "$T/core.json")
	# the waits began at the same instants: taken_ns - waited_ns, task by task
	local since='. as $s | [.tasks[] | select(.waited_ns != null) | {id, since: ($s.taken_ns - .waited_ns)}]'
	[ "$(jq -c "$since" "$T/core.json")" = "$(jq -c "$since" "$BATS_FILE_TMPDIR/live.json")" ]
	[ "$(jq "$since | length" "$T/core.json")" -gt 0 ]
	[ "$(jq '.tasks | length' "$T/core.json")" = 12 ]
	[ "$(jq -r .core "$T/core.json")" = "$BATS_FILE_TMPDIR/demo.core" ]
	[ "$(jq -r .crash "$T/core.json")" = null ] # gcore: no signal wrote it
	# no process and no root needed: the reading of a core works with the demo gone
	! kill -0 "$(cat "$BATS_FILE_TMPDIR/demo.pid")" 2>/dev/null
}

@test "core: tree --core finds the demo's await cycle and exits 3" {
	[ -s "$BATS_FILE_TMPDIR/demo.core" ]
	run "$TASKSCOPE" tree --core "$BATS_FILE_TMPDIR/demo.core"
	[ "$status" = 3 ]
	[[ "$output" == *"deadlock: cycle deadlock-A ("*") -> deadlock-B ("*") -> deadlock-C ("*") -> deadlock-A ("* ]]
	run "$TASKSCOPE" tree --json --core "$BATS_FILE_TMPDIR/demo.core"
	[ "$status" = 3 ]
	[ "$(jq '.cycles | length' <<<"$output")" = 1 ]
}

@test "core: ps --stacks --core gives the demo's frames as ps --stacks gave them live" {
	[ -s "$BATS_FILE_TMPDIR/demo.core" ]
	run "$TASKSCOPE" ps --stacks --json --core "$BATS_FILE_TMPDIR/demo.core"
	[ "$status" = 0 ]
	echo "$output" >"$T/core.json"
	local f='[.tasks[] | {id, stack_end, frames: [.stack[] | "\(.fn):\(.file):\(.line)"]}]'
	diff <(jq -S "$f" "$BATS_FILE_TMPDIR/live-stacks.json") <(jq -S "$f" "$T/core.json")
	# and they are real frames: every task ends at its entry, through a demo function
	[ "$(jq '[.tasks[] | select(.stack_end == "complete")] | length' "$T/core.json")" = 12 ]
	jq -e '.tasks[] | select(.name == "deadlock-A") | .stack[] | select(.fn == "deadlocked")' "$T/core.json" >/dev/null
}

@test "core: a NULL dereference in a task: the crash in one line, its stack to the line, the others parked" {
	for v in "$VICTIM" "$VICTIM-shared"; do
		gdb_core "$v" segv
		run "$TASKSCOPE" ps --stacks --core "$T/segv.core"
		[ "$status" = 0 ]
		[ "${lines[0]}" = "killed by SIGSEGV (address 0x0) in thread $TID, running task 'worker-3' (id 5)" ]
		"$TASKSCOPE" ps --stacks --json --core "$T/segv.core" >"$T/ps.json"
		[ "$(jq -c .crash "$T/ps.json")" = "{\"signal\":\"SIGSEGV\",\"signo\":11,\"code\":1,\"addr\":0,\"thread\":$TID,\"task\":5,\"task_name\":\"worker-3\"}" ]
		[[ "$(frames_of worker-3)" == "crash_here@crasher.c:$(line_of crash:segv) worker@crasher.c:$(line_of call:crash) task_entry@"* ]]
		check_others "$T/ps.json"
		rm -f "$T/segv.core"
	done
}

@test "core: abort() in a task: SIGABRT, and its stack through the C library back to the call" {
	gdb_core "$VICTIM" abort
	run "$TASKSCOPE" ps --core "$T/abort.core"
	[ "$status" = 0 ]
	[ "${lines[0]}" = "killed by SIGABRT in thread $TID, running task 'worker-3' (id 5)" ]
	"$TASKSCOPE" ps --stacks --json --core "$T/abort.core" >"$T/ps.json"
	[ "$(jq -c '.crash | [.signal, .addr, .thread, .task]' "$T/ps.json")" = "[\"SIGABRT\",null,$TID,5]" ]
	# the C library's frames (abort, raise...), then the task's own, by CFI
	[[ "$(frames_of worker-3)" == *"abort@"*" crash_here"*"@crasher.c:$(line_of crash:abort) worker@crasher.c:$(line_of call:crash) task_entry@"* ]]
	check_others "$T/ps.json"
	# tree shows the crash too
	run "$TASKSCOPE" tree --core "$T/abort.core"
	[ "$status" = 0 ]
	[ "${lines[0]}" = "killed by SIGABRT in thread $TID, running task 'worker-3' (id 5)" ]
}

@test "core: the kernel's own core of a crash reads the same" {
	# the kernel writes "core" in the working directory when core_pattern is a plain name
	local pattern
	pattern=$(cat /proc/sys/kernel/core_pattern)
	if [ "$pattern" != core ]; then
		[ "$(id -u)" = 0 ] || strict_skip "core_pattern is '$pattern' and only root may set it"
		echo "$pattern" >"$T/pattern.saved"
		echo core >/proc/sys/kernel/core_pattern
	fi
	mkdir "$T/cwd"
	# with the flight recorder on: its rings (shared memory, a sealed memfd) are in the core
	(cd "$T/cwd" && ulimit -c unlimited && TASKSCOPE_FLIGHT_RECORDER=64K \
		exec "$VICTIM" segv >"$T/victim.out" 2>&1) || true
	if [ -f "$T/pattern.saved" ]; then
		cat "$T/pattern.saved" >/proc/sys/kernel/core_pattern
	fi
	TID=$(sed -n 's/^tid \([0-9]*\)$/\1/p' "$T/victim.out")
	local core
	core=$(ls "$T"/cwd/core*) # core, or core.PID with kernel.core_uses_pid
	[ -s "$core" ]
	"$TASKSCOPE" ps --stacks --json --core "$core" >"$T/ps.json"
	[ "$(jq -c '.crash | [.signal, .addr, .thread, .task_name]' "$T/ps.json")" = "[\"SIGSEGV\",0,$TID,\"worker-3\"]" ]
	[[ "$(frames_of worker-3)" == "crash_here@crasher.c:$(line_of crash:segv) worker@crasher.c:$(line_of call:crash) task_entry@"* ]]
	check_others "$T/ps.json"
	"$TASKSCOPE" record --core "$core" -o "$T/last.tsc"
	run "$TASKSCOPE" dump "$T/last.tsc"
	[ "$status" = 0 ]
	[[ "$(grep " tid=$TID " <<<"$output" | tail -1)" == *" switch tid=$TID "*' -> 5 "worker-3"' ]]
	[[ "${lines[-1]}" == "# "*" events, 0 lost, complete" ]]
}

@test "core: stripped, names and lines come from separate debug info found by build-id" {
	gdb_core "$VICTIM-stripped" segv
	"$TASKSCOPE" ps --stacks --json --core "$T/segv.core" >"$T/ps.json"
	[ "$(frames_of worker-3)" = "null@?:null null@?:null null@?:null" ] # nothing to name them by
	local id
	id=$(readelf -n "$VICTIM" | sed -n 's/.*Build ID: //p')
	mkdir -p "$T/debug/.build-id/${id:0:2}"
	objcopy --only-keep-debug "$VICTIM" "$T/debug/.build-id/${id:0:2}/${id:2}.debug"
	TASKSCOPE_DEBUG_DIRS=$T/debug "$TASKSCOPE" ps --stacks --json --core "$T/segv.core" >"$T/ps.json"
	[[ "$(frames_of worker-3)" == "crash_here@crasher.c:$(line_of crash:segv) worker@crasher.c:$(line_of call:crash) task_entry@"* ]]
	[ "$(jq -r '.crash.task_name' "$T/ps.json")" = worker-3 ]
}

@test "core: --exe gives the executable; one of another build is refused (exit 13), never read" {
	gdb_core "$VICTIM" segv
	# the very file, by another path: fine
	cp "$VICTIM" "$T/elsewhere"
	run "$TASKSCOPE" ps --core "$T/segv.core" --exe "$T/elsewhere"
	[ "$status" = 0 ]
	[ "${lines[0]}" = "killed by SIGSEGV (address 0x0) in thread $TID, running task 'worker-3' (id 5)" ]
	# another program
	run "$TASKSCOPE" ps --core "$T/segv.core" --exe "$BUILD/progs/parked"
	[ "$status" = 13 ]
	[[ "$output" == *"is not the executable the core's process ran (another build-id)"* ]]
	run "$TASKSCOPE" ps --exe "$VICTIM" 1
	[ "$status" = 2 ]
}

@test "core: damaged input: truncated, not a core, not a taskscope process; each its error and exit code" {
	gdb_core "$VICTIM" segv
	head -c $(($(stat -c %s "$T/segv.core") / 2)) "$T/segv.core" >"$T/half.core"
	run "$TASKSCOPE" ps --core "$T/half.core"
	[ "$status" = 12 ]
	[[ "$output" == *"half.core is truncated: "*" bytes, its headers describe "* ]]
	head -c 100 "$T/segv.core" >"$T/stub.core"
	run "$TASKSCOPE" ps --core "$T/stub.core"
	[ "$status" = 12 ]
	run "$TASKSCOPE" tree --core "$VICTIM"
	[ "$status" = 12 ]
	[[ "$output" == *"is an ELF file but not a core file"* ]]
	run "$TASKSCOPE" ps --core /etc/passwd
	[ "$status" = 12 ]
	[[ "$output" == *"is not a core file (not ELF)"* ]]
	# a core of a program without the runtime
	timeout 60 gdb -batch -nx -ex run -ex "gcore $T/sleep.core" -ex kill --args \
		bash -c 'kill -SEGV $$' >"$T/gdb.out" 2>&1 </dev/null || true
	[ -s "$T/sleep.core" ]
	run "$TASKSCOPE" ps --core "$T/sleep.core"
	[ "$status" = 5 ]
	[[ "$output" == *"was not a taskscope process"* ]]
}

@test "core: record --core writes what the flight recorder's rings held; dump shows the crash's last events" {
	TASKSCOPE_FLIGHT_RECORDER=64K gdb_core "$VICTIM" segv
	run "$TASKSCOPE" record --core "$T/segv.core" -o "$T/last.tsc"
	[ "$status" = 0 ]
	run "$TASKSCOPE" dump "$T/last.tsc"
	[ "$status" = 0 ]
	# the last event of the crashing thread: its loop switched to the task that crashed
	local last
	last=$(grep " tid=$TID " <<<"$output" | tail -1)
	[[ "$last" == *" switch tid=$TID "*' -> 5 "worker-3"' ]]
	grep -q 'create tid=.* 5 "worker-3" coro="worker"' <<<"$output"
	[[ "${lines[-1]}" == "# "*" events, 0 lost, complete" ]]
	# without the flight recorder the core holds no ring: said, and no file
	gdb_core "$VICTIM" abort
	run "$TASKSCOPE" record --core "$T/abort.core" -o "$T/none.tsc"
	[ "$status" = 1 ]
	[[ "$output" == *"holds no event ring"* ]]
	[ ! -e "$T/none.tsc" ]
	run "$TASKSCOPE" record --core "$T/abort.core" --duration 1 -o "$T/none.tsc"
	[ "$status" = 2 ]
}
