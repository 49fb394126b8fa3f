#!/usr/bin/env bats
# Scheduling latency (ready -> running, per loop: dump --summary) against a victim whose
# latencies are known (tests/progs/sched_latency.c): N tasks made ready at one instant by an
# event, each spinning BURN ms on the clock when it runs, each measuring its own delay. The
# trace's figures must match the victim's own measurements (never a figure about speed).

load test_helper

VICTIM=$BUILD/progs/sched_latency
N=20
BURN=5

setup() {
	spawn_setup "$VICTIM" || return 1
}

teardown() {
	stop_spawned
	return 0
}

# Record the victim's one round (its options: $VOPTS); the trace in $T/lat.tsc, the victim's
# lines in $T/v.out; record's options in "$@".
record_round() {
	mkfifo "$T/go"
	# shellcheck disable=SC2086
	spawn v "$VICTIM" --tasks "$N" --burn "$BURN" ${VOPTS:-} "$T/go"
	local v=$PID
	wait_line "$T/v.out" '^ready'
	start_record "$T/lat.tsc" "$v" "$@"
	echo go > "$T/go"
	wait_line "$T/v.out" '^done' 600
	kill -INT "$REC"
	wait_exit "$REC" 60
	[ "$RC" = 0 ] || { cat "$T/rec.err" >&2; return 1; }
	stop_proc "$v"
}

@test "dump --summary: scheduling latency per loop, p50, p99 and max as the victim measured them" {
	require_root_bpf
	record_round
	read -r n p50 p99 max < <(sched_truth "$T/v.out")
	echo "victim: $n samples, p50 $p50 p99 $p99 max $max" >&2
	[ "$n" = $((N + 2)) ]
	"$TASKSCOPE" dump --summary --json "$T/lat.tsc" > "$T/sum.json"
	jq -c 'select(.sched_latency)' "$T/sum.json" > "$T/lat.json"
	cat "$T/lat.json" >&2
	# one loop, the victim's
	[ "$(wc -l < "$T/lat.json")" = 1 ]
	read -r tn tp50 tp99 tmax kept ready < <(jq -r '.sched_latency as $l |
		"\($l.count) \($l.p50_ns) \($l.p99_ns) \($l.max_ns) \($l.kept) \(.ready_events)"' \
		"$T/lat.json")
	[ "$tn" = "$n" ]
	[ "$kept" = "$n" ]
	# every wake of the round is a ready event: N tasks, Task-1 twice
	[ "$ready" = $((N + 2)) ]
	within "$tp50" "$p50"
	within "$tp99" "$p99"
	within "$tmax" "$max"
	# the text form: the section, its one loop, its count
	run "$TASKSCOPE" dump --summary "$T/lat.tsc"
	[ "$status" = 0 ]
	[[ "$output" == *"# scheduling latency per loop: ready -> running, exact"* ]]
	echo "$output" | grep -Eq "^ +[0-9]+ +1 +$n +[0-9.]+ms +[0-9.]+ms +[0-9.]+ms$"
}

@test "dump --summary: a trace from uprobes has no ready events: yields alone give latencies, and it says so" {
	require_root_bpf
	VOPTS="--yields 3" record_round --uprobes
	[ "$("$TASKSCOPE" dump --json "$T/lat.tsc" | jq -c 'select(.type == "ready")' | wc -l)" = 0 ]
	"$TASKSCOPE" dump --summary --json "$T/lat.tsc" > "$T/sum.json"
	jq -c 'select(.sched_latency)' "$T/sum.json" > "$T/lat.json"
	cat "$T/lat.json" >&2
	[ "$(wc -l < "$T/lat.json")" = 1 ]
	# no ready events; some of the 3 x N yields were switched back in (the last task's, alone
	# in the end, were not), and no wake counts: the event's N wakes are missing
	[ "$(jq '.ready_events' "$T/lat.json")" = 0 ]
	local n
	n=$(jq '.sched_latency.count' "$T/lat.json")
	[ "$n" -ge 1 ] && [ "$n" -le $((3 * N)) ]
	run "$TASKSCOPE" dump --summary "$T/lat.tsc"
	[ "$status" = 0 ]
	[[ "$output" == *"# no ready events in this trace (recorded with --uprobes?): only yields count"* ]]
}
