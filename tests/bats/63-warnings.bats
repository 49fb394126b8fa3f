#!/usr/bin/env bats
# Warnings (tokio-console's lints) on real processes: top's header and JSON, ps --warnings.
# A task that runs without yielding (the demo's hog with a long burst, --hog-ms), await cycles
# (the demo's deadlock); idle tasks never warn.

load test_helper

setup() {
	spawn_setup || return 1
}

teardown() {
	stop_spawned
	return 0
}

# The demo with a hog that runs 10 minutes between yields: its loop (loop 0) starves once it
# runs, so no truth file (writing it needs loop 0); wait until ps shows the hog running.
start_hog() {
	local i
	spawn demo "$DEMO" --threads 2 --tasks 3 --churn 50 --hog --hog-ms 600000
	DEMO_PID=$PID
	wait_exec "$DEMO_PID" "$DEMO"
	for i in $(seq 200); do
		"$TASKSCOPE" ps --no-bpf --json "$DEMO_PID" > "$T/ps.json" 2>/dev/null &&
			jq -e '.tasks[] | select(.name == "hog" and .state == "running")' "$T/ps.json" \
				> /dev/null && return 0
		sleep 0.05
	done
	echo "the hog never ran" >&2
	return 1
}

# top -b with ARGS, N frames; the warning lines of frame K (1-based) into $T/frameK.
top_frames() {
	local n=$1
	shift
	timeout 60 "$TASKSCOPE" top -b -n "$n" -d 0.3 "$@" "$DEMO_PID" > "$T/top.out"
	awk -v dir="$T" '/^taskscope top - / { f++ } /^warning: / { print > (dir "/frame" f) }' "$T/top.out"
}

# The hog warns within two refreshes, and only the hog ever warns of a long run.
check_hog_warns() {
	local hog
	hog=$(jq '.tasks[] | select(.name == "hog") | .id' "$T/ps.json")
	cat "$T/top.out"
	grep -Eq "^warning: hog \\($hog\\) has run [0-9.]+(ms|s) without yielding on thread [0-9]+, starving its loop \\(.*switch.*\\)$" \
		"$T/frame1" "$T/frame2"
	! grep "without yielding" "$T/top.out" | grep -v "^warning: hog ($hog) "
}

@test "top warns of the demo's hog running without yielding within two refreshes, registry only" {
	start_hog
	top_frames 4 --no-bpf
	check_hog_warns
}

@test "top warns of the hog with the sampler and with --exact (root), with the samples as evidence" {
	require_root_bpf
	start_hog
	top_frames 4
	check_hog_warns
	grep -Eq "^warning: hog .* in [0-9]+ of its thread's [0-9]+ samples\\)$" "$T/top.out"
	top_frames 3 --exact
	check_hog_warns
	# JSON frames carry the same warnings
	timeout 60 "$TASKSCOPE" top --json -n 2 -d 0.3 "$DEMO_PID" > "$T/top.json"
	[ "$(tail -1 "$T/top.json" | jq -r '[.warnings[] | select(.kind == "long-run") | .name] | join(",")')" = hog ]
}

@test "top: idle workers, sleepers and churn never warn of a long run, beside a hog" {
	spawn demo "$DEMO" --threads 2 --tasks 3 --churn 200 --hog --truth "$T/truth"
	DEMO_PID=$PID
	wait_for_lines "$T/truth"
	top_frames 6 --no-bpf
	cat "$T/top.out"
	# the hog (1 ms between yields) may warn: a yield with nothing else ready switches
	# nowhere, so its loop's timers can starve; no other task ever does
	! grep "without yielding" "$T/top.out" | grep -v "^warning: hog "
	spawn demo2 "$DEMO" --threads 2 --tasks 3 --churn 200 --truth "$T/truth2"
	DEMO_PID=$PID
	wait_for_lines "$T/truth2"
	top_frames 6 --no-bpf
	! grep -q "without yielding" "$T/top.out"
}

@test "top and ps --warnings name an await cycle with its members" {
	spawn demo "$DEMO" --threads 2 --tasks 2 --deadlock --truth "$T/truth"
	DEMO_PID=$PID
	wait_for_lines "$T/truth"
	top_frames 1 --no-bpf
	cat "$T/top.out"
	grep -Eq "^warning: await cycle, a deadlock: deadlock-A \\([0-9]+\\) -> deadlock-B \\([0-9]+\\) -> deadlock-C \\([0-9]+\\) -> deadlock-A \\([0-9]+\\)$" "$T/frame1"
	[ "$(grep -c "await cycle" "$T/top.out")" = 1 ]
	# ps --warnings: the same, in a section after the table, and in JSON with the ids
	run timeout 20 "$TASKSCOPE" ps --no-bpf --warnings "$DEMO_PID"
	[ "$status" = 0 ]
	echo "$output"
	[ "$(grep -A1 -x "1 warning" <<<"$output" | tail -1)" = "$(cat "$T/frame1")" ]
	timeout 20 "$TASKSCOPE" ps --no-bpf --warnings --json "$DEMO_PID" > "$T/ps.json"
	python3 "$ROOT/tests/bats/json-validate.py" "$ROOT/docs/json/schema.json" "ps --json" "$T/ps.json"
	jq -e '(.warnings | length) == 1 and .warnings[0].kind == "await-cycle" and
		.warnings[0].name == "deadlock-A" and
		.warnings[0].task == ([.tasks[] | select(.name == "deadlock-A") | .id][0])' "$T/ps.json"
	# no cycle, no warning
	stop_proc "$DEMO_PID"
	spawn demo2 "$DEMO" --threads 2 --tasks 2 --truth "$T/truth2"
	DEMO_PID=$PID
	wait_for_lines "$T/truth2"
	run timeout 20 "$TASKSCOPE" ps --no-bpf --warnings "$DEMO_PID"
	[ "$status" = 0 ]
	[ "$(tail -1 <<<"$output")" = "0 warnings" ]
}

@test "a loop blocked by a long synchronous call shows loop lag, naming what runs; the others far less" {
	local i hog tid lag
	start_hog
	hog=$(jq '.tasks[] | select(.name == "hog") | .id' "$T/ps.json")
	tid=$(jq '.tasks[] | select(.name == "hog") | .thread' "$T/ps.json")
	# the hog's loop has timers (its workers sleep): they fall due while it spins
	for i in $(seq 100); do
		"$TASKSCOPE" ps --no-bpf --json "$DEMO_PID" > "$T/lag.json"
		lag=$(jq --argjson t "$tid" '.threads[] | select(.tid == $t) | .lag_ns' "$T/lag.json")
		[ "$lag" -gt 300000000 ] && break
		sleep 0.1
	done
	[ "$lag" -gt 300000000 ]
	run timeout 20 "$TASKSCOPE" ps --no-bpf --warnings "$DEMO_PID"
	[ "$status" = 0 ]
	echo "$output"
	grep -Eq "^warning: the loop on thread $tid fires its timers [0-9.hms]+ late \\(.*running now: hog \\($hog\\)\\)$" <<<"$output"
	timeout 20 "$TASKSCOPE" ps --no-bpf --warnings --json "$DEMO_PID" > "$T/w.json"
	jq -e --argjson t "$tid" '[.warnings[] | select(.kind == "loop-lag" and .thread == $t)] |
		length == 1 and .[0].ns > 300000000 and .[0].task == null' "$T/w.json"
	# the other loops' timers are on time, give or take a loaded machine: far less late
	jq -e --argjson t "$tid" '([.threads[] | select(.tid == $t) | .lag_ns][0]) as $l |
		[.threads[] | select(.tid != $t and .lag_ns * 3 > $l)] == []' "$T/w.json"
	# top's header says the same
	top_frames 1 --no-bpf
	grep -q "^warning: the loop on thread $tid fires its timers" "$T/frame1"
}

@test "ps --warnings and top name the task waiting longest past the threshold, and how many wait" {
	local victim=$BUILD/progs/parked_stacks
	"$victim" > "$T/victim.out" 2>&1 &
	DEMO_PID=$!
	PIDS+=("$DEMO_PID")
	wait_for_lines "$T/victim.out" 1
	# every task of the victim waits from its start: wait until they all have for 0.3 s
	for _ in $(seq 100); do
		"$TASKSCOPE" ps --no-bpf --json "$DEMO_PID" > "$T/ps.json"
		jq -e '[.tasks[] | select(.waited_ns == null or .waited_ns < 300000000)] == []' \
			"$T/ps.json" > /dev/null && break
		sleep 0.1
	done
	run timeout 20 "$TASKSCOPE" ps --no-bpf --warnings --stuck 0.3s "$DEMO_PID"
	[ "$status" = 0 ]
	echo "$output"
	# the sleeper parked first (the others after it, in spawn order): it waited longest
	grep -Eq "^warning: sleeper \\(2\\) has waited [0-9.hms]+ \\(sleep [0-9hms]+; the longest of 5 tasks waiting longer than 0.3s: taskscope ps --stuck 0.3s\\)$" <<<"$output"
	# no warning with a threshold nobody passes
	run timeout 20 "$TASKSCOPE" ps --no-bpf --warnings "$DEMO_PID"
	[ "$(tail -1 <<<"$output")" = "0 warnings" ]
	top_frames 1 --no-bpf --warn-wait 0.3s
	grep -q "^warning: sleeper (2) has waited .*the longest of 5 tasks" "$T/frame1"
}

@test "top --exact times a task that runs without yielding from its switch-in (root)" {
	local id
	require_root_bpf
	mkfifo "$T/cmd"
	exec {CMD_FD}<>"$T/cmd"
	"$BUILD/progs/top_victim" <"$T/cmd" >"$T/victim.out" 2>&1 3>&- &
	DEMO_PID=$!
	PIDS+=("$DEMO_PID")
	wait_for_lines "$T/victim.out"
	spawn top "$TASKSCOPE" top --exact -b -n 8 -d 0.3 "$DEMO_PID"
	wait_line "$T/top.out" "^taskscope top - "
	echo "spin hot" >&"$CMD_FD"
	wait_line "$T/victim.out" "^spinning "
	id=$(awk '/^spinning / { print $2 }' "$T/victim.out")
	wait_exit "$PID" 30
	[ "$RC" = 0 ]
	cat "$T/top.out"
	# switched in after top attached: the switch record's time, not a lower bound
	grep -Eq "^warning: hot \\($id\\) has run [0-9.hms]+ without yielding on thread [0-9]+, starving its loop \\(switched in [0-9.]+s ago by the switch record of its ring, not out since\\)$" "$T/top.out"
	! grep "without yielding" "$T/top.out" | grep -v "^warning: hot "
	echo quit >&"$CMD_FD"
}
