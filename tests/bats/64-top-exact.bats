#!/usr/bin/env bats
# top --exact from the event rings (docs/rings.md): the rings probe held while it runs, and let
# go when it ends or is killed, no uprobe on task_switch; --uprobes and a runtime without rings
# take the uprobe, saying so; rings overwritten on purpose are counted in the header and
# resynced; each loop's scheduling latency against what the victim measured of itself
# (tests/progs/sched_latency.c, as dump --summary's test). CPU figures against /proc in both
# ways: 61-top-cpu.bats.

load test_helper

setup() {
	spawn_setup "$BUILD/progs/cpu_hogs" "$BUILD/progs/sched_latency" || return 1
}

teardown() {
	stop_spawned
	return 0
}

# The semaphore of probe $2 in process $1, as `probes` reads it.
sem() {
	"$TASKSCOPE" probes --json "$1" | jq --arg p "$2" '[.probes[] | select(.name == $p) | .semaphore_count] | max'
}

# Wait until probe $2's semaphore in process $1 is 0 (the kernel lowers it as it releases
# the event of a process that went), up to ~10 s.
sem_drops() {
	for _ in $(seq 100); do [ "$(sem "$1" "$2")" = 0 ] && return 0; sleep 0.1; done
	echo "the $2 semaphore of $1 stays at $(sem "$1" "$2")" >&2
	return 1
}

start_hogs() {
	spawn hogs "$BUILD/progs/cpu_hogs"
	HOGS=$PID
	wait_line "$T/hogs.out" '^ready '
}

@test "top --exact reads the rings: their semaphore up while it runs, task_switch's at 0; 0 after it ends or is killed" {
	require_root_bpf
	start_hogs
	spawn top "$TASKSCOPE" top --exact --json -d 0.2 "$HOGS"
	local top=$PID
	wait_for_lines "$T/top.out" 2
	head -1 "$T/top.out" | jq -e '.mode == "exact" and .exact_from == "rings"'
	# the switches come from the rings: no uprobe on any task event
	[ "$(sem "$HOGS" rings)" -ge 1 ]
	for p in task_switch task_wait task_create task_finish; do
		[ "$(sem "$HOGS" "$p")" = 0 ]
	done
	# the hog's time grows, switch records or not (it never switches)
	tail -1 "$T/top.out" | jq -e '[.tasks[] | select(.name == "hog") | .cpu_pct] | .[0] > 0'
	kill -KILL "$top"
	wait_exit "$top"
	sem_drops "$HOGS" rings
	# an ordinary end lets go too
	run "$TASKSCOPE" top --exact -b -n 1 -d 0.2 "$HOGS"
	[ "$status" = 0 ]
	[[ ${lines[0]} == *" - exact, event rings - "* ]]
	sem_drops "$HOGS" rings
	kill -0 "$HOGS"
}

@test "top --exact --uprobes takes the task_switch uprobe, not the rings" {
	require_root_bpf
	start_hogs
	spawn top "$TASKSCOPE" top --exact --uprobes --json -d 0.2 "$HOGS"
	local top=$PID
	wait_for_lines "$T/top.out" 2
	head -1 "$T/top.out" | jq -e '.exact_from == "uprobes" and (.threads | all(.sched_latency == null))'
	[ "$(sem "$HOGS" task_switch)" -ge 1 ]
	[ "$(sem "$HOGS" rings)" = 0 ]
	kill -INT "$top"
	wait_exit "$top"
	[ "$RC" = 0 ]
	sem_drops "$HOGS" task_switch
	run "$TASKSCOPE" top --uprobes -b -n 1 "$HOGS"
	[ "$status" = 2 ]
	[[ $output == *"--uprobes is where --exact reads switches from"* ]]
}

@test "top --exact on a runtime without rings (descriptor ABI 1) takes the uprobe and says so" {
	require_root_bpf
	spawn hogs "$BUILD/progs/cpu_hogs-v1"
	HOGS=$PID
	wait_line "$T/hogs.out" '^ready '
	run "$TASKSCOPE" top --exact -b -n 1 -d 0.3 "$HOGS"
	[ "$status" = 0 ]
	[[ ${lines[0]} == *" - exact, uprobes (no event rings) - "* ]]
	# every switch seen: the half-hogs switch hundreds of times a second
	echo "$output" | grep -Eq '^created .*events [1-9][0-9]* '
	run "$TASKSCOPE" top --exact --json -n 1 -d 0.3 "$HOGS"
	[ "$status" = 0 ]
	jq -e '.exact_from == "uprobes" and .mode == "exact"' <<<"$output"
}

@test "top --exact: rings overwritten before they were read are counted in the header and resynced" {
	require_root_bpf
	# a ping-pong of two tasks fills a 32 KiB ring (1024 slots) in microseconds
	mkfifo "$T/cmd"
	exec {CMD_FD}<>"$T/cmd"
	TASKSCOPE_RING_SIZE=32K "$BUILD/progs/top_victim" --pingpong <"$T/cmd" >"$T/v.out" 2>&1 3>&- &
	local v=$!
	PIDS+=("$v")
	wait_line "$T/v.out" '^rate '
	run "$TASKSCOPE" top --exact --json -n 3 -d 0.3 "$v"
	[ "$status" = 0 ]
	echo "$output" > "$T/frames"
	jq -c '{lost, resyncs, events, note, threads: [.threads[] | {tid, cpu_pct, task_pct}],
		pp: [.tasks[] | select(.name == "ping" or .name == "pong") | .cpu_pct]}' "$T/frames"
	# every frame: events lost, counted, said, and each lapped ring resynced
	jq -e -s 'all(.lost > 0 and .resyncs > 0 and .lost <= .events and
		      (.note | test("events overwritten in the rings before they were read")))' "$T/frames"
	jq -e -s '.[0].lost < .[-1].lost' "$T/frames"
	# what is shown stays within what the kernel gave the thread: nothing made up
	jq -e -s 'all(.[1:][]; (.threads | map(.cpu_pct) | max) as $th |
		([.tasks[] | select(.name == "ping" or .name == "pong") | .cpu_pct] | add) <= $th + 5)' "$T/frames"
	run "$TASKSCOPE" top --exact -b -n 1 -d 0.3 "$v"
	[ "$status" = 0 ]
	echo "$output" | grep -Eq ', LOST [1-9][0-9]*, .*resyncs [1-9]'
	exec {CMD_FD}>&-
}

@test "top --exact: each loop's scheduling latency, p50, p99 and max as the victim measured them" {
	require_root_bpf
	local n=20
	mkfifo "$T/go"
	spawn v "$BUILD/progs/sched_latency" --tasks "$n" --burn 5 "$T/go"
	local v=$PID
	wait_line "$T/v.out" '^ready'
	# frames 2 s apart: the round (20 tasks of 5 ms) falls between the first and the second
	spawn top "$TASKSCOPE" top --exact --json -n 3 -d 2 "$v"
	local top=$PID
	wait_for_lines "$T/top.out" 1
	echo go > "$T/go"
	wait_line "$T/v.out" '^done' 600
	wait_exit "$top" 60
	[ "$RC" = 0 ]
	read -r tn p50 p99 max < <(sched_truth "$T/v.out")
	echo "victim: $tn samples, p50 $p50 p99 $p99 max $max" >&2
	[ "$tn" = $((n + 2)) ]
	jq -c '.threads[] | .sched_latency' "$T/top.out" >&2
	# one loop thread; the round in one frame, the others before and after it idle
	jq -e -s 'all(.threads | length == 1)' "$T/top.out"
	[ "$(jq -s '[.[] | .threads[0].sched_latency | select(.count > 0)] | length' "$T/top.out")" = 1 ]
	read -r c k tp50 tp99 tmax < <(jq -r '.threads[0].sched_latency | select(.count > 0) |
		"\(.count) \(.kept) \(.p50_ns) \(.p99_ns) \(.max_ns)"' "$T/top.out")
	[ "$c" = "$tn" ]
	[ "$k" = "$tn" ]
	within "$tp50" "$p50"
	within "$tp99" "$p99"
	within "$tmax" "$max"
	# the text form: the thread's line with its figures
	run "$TASKSCOPE" top --exact -b -n 1 -d 0.2 "$v"
	[ "$status" = 0 ]
	echo "$output" | grep -Eq '^ +TID +CPU% +TASK% +LAT-N +LAT-P50 +LAT-P99 +LAT-MAX +CURRENT$'
}
