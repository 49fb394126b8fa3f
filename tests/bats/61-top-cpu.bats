#!/usr/bin/env bats
# taskscope top's CPU figures are CPU time: a task's CPU% against its thread's CPU% read from
# /proc over the same intervals, in both modes (--exact from the rings, and from the uprobe of a
# runtime without them). The victim (tests/progs/cpu_hogs.c) has a hog
# that never yields beside idle tasks, and two half-hogs that block their thread half of the
# time they are switched in. On a loaded machine the threads get what they get: the tasks are
# compared with what their thread was measured to get, never with a fixed figure.

load test_helper

setup() {
	spawn_setup || return 1
	CHECK=$BATS_TEST_DIRNAME/thread-cpu.py
}

teardown() {
	stop_spawned
	return 0
}

# The victim running (cpu_hogs, or the program $1), HOG_TID and HALF_TID its two busy threads,
# and their CPU time logged from /proc every few ms.
start_hogs() {
	spawn hogs "${1:-$BUILD/progs/cpu_hogs}"
	HOGS=$PID
	wait_line "$T/hogs.out" '^ready '
	read -r _ HOG_TID HALF_TID <"$T/hogs.out"
	spawn clock python3 "$CHECK" sample "$HOGS" "$HOG_TID" "$HALF_TID"
	CLOCK=$PID
	wait_for_lines "$T/clock.out" 2
}

# top_frames ARGS...: top's JSON frames of the victim into $T/frames, the /proc log stopped.
top_frames() {
	run "$TASKSCOPE" top --json -n 4 -d 0.5 "$@" "$HOGS"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	echo "$output" >"$T/frames"
	# a reading after the last frame, then no more
	local n
	n=$(wc -l <"$T/clock.out")
	wait_for_lines "$T/clock.out" $((n + 1))
	stop_proc "$CLOCK"
}

check_hogs() {
	python3 "$CHECK" check "$T/frames" "$T/clock.out" "$HOG_TID" hog --idle '^idle-'
	python3 "$CHECK" check "$T/frames" "$T/clock.out" "$HALF_TID" half-a half-b "$@"
}

@test "top --exact: a task's CPU% is its thread's CPU time, not its time switched in" {
	require_root_bpf
	start_hogs
	top_frames --exact
	jq -e -s 'map(.mode == "exact" and .exact_from == "rings") | all' "$T/frames"
	# switched in equally: each half-hog gets half
	check_hogs --split
	# the hog never switched: it ran all along, and its CPU time grows
	jq -e -s '[.[] | .tasks[] | select(.name == "hog") | .cpu_ns] | .[-1] > .[0]' "$T/frames"
}

@test "top --exact on a runtime without rings: the task_switch uprobe, the same CPU time" {
	require_root_bpf
	start_hogs "$BUILD/progs/cpu_hogs-v1"
	top_frames --exact
	jq -e -s 'map(.mode == "exact" and .exact_from == "uprobes") | all' "$T/frames"
	check_hogs --split
	jq -e -s '[.[] | .tasks[] | select(.name == "hog") | .cpu_ns] | .[-1] > .[0]' "$T/frames"
}

@test "top (sampling): a task's CPU% is its thread's CPU time shared by samples" {
	require_root_bpf
	start_hogs
	top_frames --hz 49
	jq -e -s 'map(.mode == "sampling") | all' "$T/frames"
	check_hogs
}
