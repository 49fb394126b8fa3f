#!/usr/bin/env bats
# A target that execs while a command watches it (tests/progs/execer.c execs itself, or
# another runtime binary, on SIGUSR1 or after a delay that starts once the command watches): every command says so and exits 11,
# never shows the new program's tasks as the old one's; record ends its trace at the exec,
# complete. The attach window is hit on purpose with TASKSCOPE_TEST_HOLD_UNTIL.

load test_helper

EXECER=$BUILD/progs/execer

setup() {
	spawn_setup
}

teardown() {
	stop_spawned
}

# The victim, ready: pid in V.
start_execer() {
	spawn victim "$EXECER" "$@"
	V=$PID
	wait_line "$T/victim.out" '^ready gen=0'
}

# Make the victim exec now and wait until the new program is up.
exec_victim() {
	kill -USR1 "$V"
	wait_line "$T/victim.out" '^ready gen=1'
}

# Run `taskscope ARGS... $V` held inside its attach window, make the victim exec there, then
# let it go on: its status in RC, its output in $T/cmd.out and $T/cmd.err.
exec_in_window() {
	rm -f "$T/go"
	spawn cmd env TASKSCOPE_TEST_HOLD_UNTIL="$T/go" "$TASKSCOPE" "$@" "$V"
	local c=$PID
	wait_line "$T/cmd.err" 'test: holding'
	exec_victim
	touch "$T/go"
	wait_exit "$c" 30
	cat "$T/cmd.err"
}

@test "record: the target execs itself mid-record: the trace ends at the exec, complete; exit 11" {
	require_root_bpf
	start_execer --rate 2000
	spawn rec "$TASKSCOPE" record -v -o "$T/x.tsc" "$V"
	local r=$PID
	wait_line "$T/rec.err" '^taskscope: recording process'
	sleep 0.5
	exec_victim
	wait_exit "$r" 20
	cat "$T/rec.err"
	[ "$RC" -eq 11 ]
	grep -q "^taskscope: target $V exec'd $EXECER; stopping" "$T/rec.err"
	# every event the old program's probes fired is in the file, none of the new one's
	awk '$1 == "taskscope:" && NF == 5 && $3 ~ /^[0-9]+$/ && ($3 != $4 || $5 != 0) { bad = 1 }
	     END { exit bad }' "$T/rec.err"
	run "$TASKSCOPE" dump --json "$T/x.tsc"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$T/x.jsonl"
	[ "$(tail -1 "$T/x.jsonl" | jq -r '.complete, .exec' | tr '\n' ' ')" = "true true " ]
	# the exec is the last event, and names the program
	[ "$(tail -2 "$T/x.jsonl" | head -1 | jq -r '.type, .file' | tr '\n' ' ')" = "exec $EXECER " ]
	[ "$(jq -c 'select(.type == "exec")' "$T/x.jsonl" | wc -l)" -eq 1 ]
	# task ids only grow: nothing of the new program (ids from 1 again) came in
	jq -r 'select(.type == "create") | .id' "$T/x.jsonl" > "$T/ids"
	[ "$(wc -l < "$T/ids")" -gt 100 ]
	sort -n -c "$T/ids"
	[ "$(jq -r 'select(.type == "create") | .name' "$T/x.jsonl" | grep -c '^held-1-')" -eq 0 ]
	# after the exec nothing of the old program is alive
	run "$TASKSCOPE" dump --at end --json "$T/x.tsc"
	[ "$(jq '(.tasks | length), (.threads | length)' <<<"$output" | tr '\n' ' ')" = "0 0 " ]
	run "$TASKSCOPE" dump "$T/x.tsc"
	[[ "${lines[-2]}" == *" exec tid=$V file=\"$EXECER\"" ]]
	[[ "${lines[-1]}" == *"ended by an exec, complete" ]]
	# the probes went with the recorder: the new program runs on, and can be recorded
	kill -0 "$V"
	run "$TASKSCOPE" record --duration 0.3 -o "$T/y.tsc" "$V"
	[ "$status" -eq 0 ]
}

@test "record: the target execs another runtime binary after a delay: exit 11, the file names it" {
	require_root_bpf
	# the delay runs from when record records, so that the exec comes after its attach
	start_execer --go "$T/go" --after 300 -- "$DEMO" --threads 1 --tasks 2
	spawn rec "$TASKSCOPE" record -v -o "$T/d.tsc" "$V"
	local r=$PID
	wait_line "$T/rec.err" '^taskscope: recording process'
	touch "$T/go"
	wait_exit "$r" 30
	cat "$T/rec.err"
	[ "$RC" -eq 11 ]
	grep -q "^taskscope: target $V exec'd $DEMO; stopping" "$T/rec.err"
	run "$TASKSCOPE" dump --json "$T/d.tsc"
	[ "$status" -eq 0 ]
	[ "$(jq -r 'select(.type == "exec") | .file' <<<"$output")" = "$DEMO" ]
	[ "$(tail -1 <<<"$output" | jq -r .complete)" = true ]
	# export shows the exec and closes every run there
	run "$TASKSCOPE" export "$T/d.tsc" --format chrome -o "$T/d.json"
	[ "$status" -eq 0 ]
	jq -e --arg f "exec $DEMO" '[.traceEvents[] | select(.name == $f)] | length == 1' "$T/d.json"
}

@test "record: an exec in the attach window: exit 11, a message, no file" {
	require_root_bpf
	start_execer
	exec_in_window record -o "$T/w.tsc"
	[ "$RC" -eq 11 ]
	grep -q "^taskscope: target $V exec'd $EXECER; stopping" "$T/cmd.err"
	[ ! -e "$T/w.tsc" ]
	[ -z "$(find "$T" -name '.tsc-*')" ]
}

@test "top -b: the target execs, itself or another binary: a message and exit 11, not the old tasks" {
	require_root_bpf
	local mode
	for mode in sampling --exact --no-bpf; do
		start_execer
		local args=(-b -d 0.2)
		[ "$mode" = sampling ] || args+=("$mode")
		spawn top "$TASKSCOPE" top "${args[@]}" "$V"
		local t=$PID
		wait_line "$T/top.out" 'held-0-0-0'
		exec_victim
		wait_exit "$t" 20
		echo "$mode: status $RC"
		cat "$T/top.err"
		[ "$RC" -eq 11 ]
		grep -q "^taskscope: target $V exec'd $EXECER; stopping" "$T/top.err"
		# no frame shows the new program's tasks
		! grep -q 'held-1-' "$T/top.out"
		stop_proc "$V"
	done
	# a delay instead of a signal (from top's first frame on), into the demo
	rm -f "$T/go"
	start_execer --go "$T/go" --after 300 -- "$DEMO" --threads 1 --tasks 2
	spawn top "$TASKSCOPE" top -b -d 0.2 "$V"
	local t=$PID
	wait_line "$T/top.out" 'held-0-0-0'
	touch "$T/go"
	wait_exit "$t" 20
	cat "$T/top.err"
	[ "$RC" -eq 11 ]
	grep -q "^taskscope: target $V exec'd $DEMO; stopping" "$T/top.err"
	! grep -q 'worker-0-' "$T/top.out"
}

@test "top: an exec in the attach window: exit 11 with a message, no frame" {
	require_root_bpf
	local mode
	for mode in sampling --no-bpf; do
		start_execer
		local args=(-b -n 2 -d 0.2)
		[ "$mode" = sampling ] || args+=("$mode")
		exec_in_window top "${args[@]}"
		[ "$RC" -eq 11 ]
		grep -q "^taskscope: target $V exec'd $EXECER; stopping" "$T/cmd.err"
		[ ! -s "$T/cmd.out" ]
		stop_proc "$V"
	done
}

@test "ps, tree, ps --stacks, with and without BPF: an exec in the attach window: exit 11, nothing shown" {
	require_root_bpf
	local args
	for args in "ps" "ps --json" "ps --no-bpf" "ps --stacks" "tree" "tree --no-bpf --json"; do
		start_execer
		exec_in_window $args
		echo "$args: status $RC"
		[ "$RC" -eq 11 ]
		grep -q "^taskscope: target $V exec'd $EXECER; stopping" "$T/cmd.err"
		[ ! -s "$T/cmd.out" ]
		# once it runs the new program, ps shows that one
		run "$TASKSCOPE" ps --json "$V"
		[ "$status" -eq 0 ]
		jq -e '[.tasks[].name | select(startswith("held-1-"))] | length == 6' <<<"$output"
		stop_proc "$V"
	done
}

@test "the name of the program exec'd cannot drive the terminal" {
	local odd=$T/ex$'\e'[2J$'\a'er
	cp "$EXECER" "$odd"
	start_execer -- "$odd"
	spawn top "$TASKSCOPE" top --no-bpf -b -d 0.2 "$V"
	local t=$PID
	wait_line "$T/top.out" 'held-0-0-0'
	kill -USR1 "$V"
	wait_exit "$t" 20
	cat "$T/top.err"
	[ "$RC" -eq 11 ]
	grep -qF "target $V exec'd $T/ex\\e[2J\\x07er; stopping" "$T/top.err"
	! grep -q $'[\e\a]' "$T/top.err"
}
