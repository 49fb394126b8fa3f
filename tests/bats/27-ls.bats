#!/usr/bin/env bats
# `taskscope ls`: every runtime process of the machine, whatever holds its runtime (a static
# executable, libtaskscope.so linked, libtaskscope.so loaded with dlopen, a stripped binary),
# and nothing else. Other processes run on this machine meanwhile: the checks are on the
# processes this test started.

load test_helper
bats_require_minimum_version 1.5.0

PARKED=$BUILD/progs/parked
DLRT=$BUILD/progs/dlrt
HOSTILE=$BUILD/progs/hostile_registry

setup() {
	spawn_setup "$PARKED" "$PARKED-shared" "$PARKED-stripped" "$DLRT" "$HOSTILE" || return 1
}

teardown() {
	stop_spawned
}

# Start a victim as NAME and wait for its "ready".
start() { # name cmd...
	local name=$1
	spawn "$@"
	wait_line "$T/$name.out" '^ready$' 300
}

# ls --json, checked against the schema; in $T/ls.json
ls_json() {
	run -0 --separate-stderr "$TASKSCOPE" ls --json
	printf '%s\n' "$output" > "$T/ls.json"
	python3 "$ROOT/tests/bats/json-validate.py" "$ROOT/docs/json/schema.json" "ls --json" "$T/ls.json"
}

# The pids among $@ that ls listed, sorted, one line.
listed() {
	local p want
	want=$(printf '%s\n' "$@")
	jq -r '.processes[].pid' "$T/ls.json" | grep -xF "$want" | sort -n | tr '\n' ' '
}

@test "ls: static, shared, stripped and dlopen'd runtimes are listed, a plain process is not" {
	# the dlopen victim's own binary holds no runtime: only the library it loads does
	! readelf -S "$DLRT" | grep -q taskscope_debug
	start static "$PARKED" --threads 2 --tasks 4
	local static=$PID
	start shared "$PARKED-shared" --threads 1 --tasks 3
	local shared=$PID
	start stripped "$PARKED-stripped" --threads 0 --tasks 2
	local stripped=$PID
	start dl "$DLRT" "$BUILD/libtaskscope.so"
	local dl=$PID
	spawn sleeper sleep 600
	local sleeper=$PID
	wait_exec "$sleeper" sleep
	ls_json
	local want
	want=$(printf '%s\n' "$static" "$shared" "$stripped" "$dl" | sort -n | tr '\n' ' ')
	[ "$(listed "$static" "$shared" "$stripped" "$dl" "$sleeper" $$ "$BATS_RUN_PID")" = "$want" ]
	# what each holds: loops (loop threads plus the ts_run loop), tasks (each one's N per
	# thread plus the main task), its executable and the file with the runtime
	row() { jq -c --argjson p "$1" '.processes[] | select(.pid == $p) |
		[.loops, .tasks, .exe, .runtime, .error]' "$T/ls.json"; }
	[ "$(row "$static")" = "[3,9,\"$PARKED\",\"$PARKED\",null]" ]
	[ "$(row "$shared")" = "[2,4,\"$PARKED-shared\",\"$(readlink -f "$BUILD/libtaskscope.so")\",null]" ]
	[ "$(row "$stripped")" = "[1,3,\"$PARKED-stripped\",\"$PARKED-stripped\",null]" ]
	[ "$(row "$dl")" = "[1,1,\"$DLRT\",\"$(readlink -f "$BUILD/libtaskscope.so")\",null]" ]
	# uptime: from the process's start, so at least what it has been alive for here
	jq -e --argjson p "$static" '.processes[] | select(.pid == $p) | .uptime_ns > 0' "$T/ls.json"

	# the table: a row per process, the sleeper absent
	run -0 --separate-stderr "$TASKSCOPE" ls
	[[ ${lines[0]} =~ PID\ +LOOPS\ +TASKS\ +UPTIME\ +EXE ]]
	printf '%s\n' "${lines[@]}" | grep -E "^ *$static +3 +9 .* $PARKED\$"
	printf '%s\n' "${lines[@]}" | grep -E "^ *$dl +1 +1 .* $DLRT\$"
	! printf '%s\n' "${lines[@]}" | grep -E "^ *$sleeper "

	# the completion's list is the same set
	run -0 "$TASKSCOPE" __pids
	[ "$(printf '%s\n' "${lines[@]}" | grep -xE "$static|$shared|$stripped|$dl|$sleeper" | sort -n |
		tr '\n' ' ')" = "$want" ]
}

@test "ls: a process that exited is gone; one started since is there" {
	start a "$PARKED" --threads 0 --tasks 1
	local a=$PID
	ls_json
	[ "$(listed "$a")" = "$a " ]
	stop_proc "$a"
	start b "$PARKED-shared" --threads 0 --tasks 1
	local b=$PID
	ls_json
	[ "$(listed "$a" "$b")" = "$b " ]
}

@test "ls: a runtime that cannot be read is listed with why; the others still are" {
	start hostile "$HOSTILE" desc-loops
	local h=$PID
	start ok "$PARKED" --threads 0 --tasks 1
	local ok=$PID
	ls_json
	[ "$(listed "$h" "$ok")" = "$(printf '%s\n' "$h" "$ok" | sort -n | tr '\n' ' ')" ]
	jq -e --argjson p "$h" '.processes[] | select(.pid == $p) |
		(.error | test("loop table slots")) and .tasks == 0' "$T/ls.json"
	run -0 --separate-stderr "$TASKSCOPE" ls
	printf '%s\n' "${lines[@]}" | grep -E "^ *$h +\? +\? .*loop table slots"
}

@test "ls: usage" {
	run -0 "$TASKSCOPE" ls --help
	[[ $output == *"USAGE: taskscope ls"* ]]
	run -2 "$TASKSCOPE" ls 1234
	[[ $output == *"takes no operand"* ]]
	run -2 "$TASKSCOPE" ls --bogus
	[[ $output == *"unknown option '--bogus'"* ]]
}
