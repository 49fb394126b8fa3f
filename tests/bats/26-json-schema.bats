#!/usr/bin/env bats
# Every command's JSON against docs/json/schema.json, the machine-readable half of
# docs/json.md: real output of ps, tree, top, dump (events, --at, --summary) and probes, field
# by field, with nothing undocumented; one task object in ps, tree, top and dump --at; and
# every field of the schema described in docs/json.md.

load test_helper
bats_require_minimum_version 1.5.0

setup() {
	spawn_setup
	SCHEMA=$ROOT/docs/json/schema.json
	CHECK=$ROOT/tests/bats/json-validate.py
	GEN=$BUILD/tests/test_trace_rw
}

teardown() {
	stop_spawned
}

# validate OUTPUT FILE: FILE is the output named OUTPUT in the schema ("ps --json").
validate() {
	python3 "$CHECK" "$SCHEMA" "$1" "$2"
}

# The demo, deadlocked (await cycles) and churning (sleeps, finishes), with a name that
# needs escaping among its tasks' names; waits until every long-lived task runs.
start_demo() {
	spawn demo "$DEMO" --truth "$T/truth" --threads 2 --tasks 3 --churn 200 --deadlock
	DEMO_PID=$PID
	wait_for_lines "$T/truth"
}

@test "docs/json.md describes every output and every field of docs/json/schema.json" {
	python3 "$CHECK" "$SCHEMA" --doc "$ROOT/docs/json.md"
}

@test "the validator rejects an undocumented field, a missing one, a wrong type and no schema" {
	start_demo
	run -0 "$TASKSCOPE" ps --no-bpf --json "$DEMO_PID"
	printf '%s\n' "$output" > "$T/ps.json"
	validate "ps --json" "$T/ps.json"
	jq -c '.tasks[0].extra = 1' "$T/ps.json" > "$T/bad1.json"
	jq -c 'del(.tasks[0].awaiting)' "$T/ps.json" > "$T/bad2.json"
	jq -c '.tasks[0].awaiting = null' "$T/ps.json" > "$T/bad3.json"
	jq -c 'del(.schema)' "$T/ps.json" > "$T/bad4.json"
	for b in 1 2 3 4; do
		run validate "ps --json" "$T/bad$b.json"
		[ "$status" -eq 1 ]
	done
}

@test "ps, tree, top and probes --json match the schema, with and without BPF" {
	require_root_bpf
	start_demo
	local mode
	for mode in --no-bpf ""; do
		"$TASKSCOPE" ps $mode --json "$DEMO_PID" > "$T/ps.json"
		validate "ps --json" "$T/ps.json"
		"$TASKSCOPE" ps $mode --stacks --json "$DEMO_PID" > "$T/pss.json"
		validate "ps --json" "$T/pss.json"
		# the stack fields the schema describes are there to check: groups, runtime frames
		jq -e '(.stack_groups | length) > 0 and any(.tasks[].stack[]; .runtime == true)' "$T/pss.json"
		run "$TASKSCOPE" tree $mode --json "$DEMO_PID"
		[ "$status" -eq 3 ] # the demo's cycle
		printf '%s\n' "$output" > "$T/tree.json"
		validate "tree --json" "$T/tree.json"
		"$TASKSCOPE" tree $mode --stacks --json "$DEMO_PID" > "$T/trees.json" || [ $? -eq 3 ]
		validate "tree --json" "$T/trees.json"
		timeout 60 "$TASKSCOPE" top $mode --json -n 2 -d 0.2 "$DEMO_PID" > "$T/top.json"
		[ "$(wc -l < "$T/top.json")" -eq 2 ]
		validate "top --json" "$T/top.json"
	done
	# --exact from the rings: where from, and each loop's scheduling latency
	timeout 60 "$TASKSCOPE" top --exact --json -n 2 -d 0.2 "$DEMO_PID" > "$T/topx.json"
	validate "top --json" "$T/topx.json"
	jq -e -s 'all(.exact_from == "rings" and all(.threads[]; .sched_latency.count >= 0))' "$T/topx.json"
	"$TASKSCOPE" probes --json "$DEMO_PID" > "$T/probes.json"
	validate "probes --json" "$T/probes.json"
	"$TASKSCOPE" probes --json "$DEMO" > "$T/probes-bin.json"
	validate "probes --json" "$T/probes-bin.json"
	# the awaits of the cycle are arrays everywhere, and a sleep has its deadline and time left
	jq -e '[.tasks[] | .awaiting | type] | unique == ["array"]' "$T/tree.json"
	jq -e '[.tasks[] | select(.in_cycle) | .awaiting | length] | unique == [1]' "$T/tree.json"
	jq -e '[.tasks[] | select(.wait == "sleep")] | length > 0 and
		all(.wait_until_ns == .wait_obj and .wait_left_ns >= 0)' "$T/ps.json"
	jq -e '.taken_ns as $now | [.tasks[] | select(.wait == "sleep")] |
		all(.wait_left_ns == (if .wait_until_ns > $now then .wait_until_ns - $now else 0 end))' \
		"$T/ps.json"
}

@test "ps --core and tree --core --json match the schema: core and crash, crashed or not" {
	require_cmd gdb
	local v=$BUILD/progs/crasher
	# a crash (gdb dumps the victim at its SIGSEGV) and a core no signal wrote (gcore)
	TASKSCOPE_STACK_GUARD=mprotect timeout 120 gdb -batch -nx -ex run -ex "gcore $T/crash.core" \
		-ex kill --args "$v" segv >"$T/gdb.out" 2>&1 </dev/null || true
	start_demo
	timeout 120 gcore -o "$T/demo" "$DEMO_PID" >"$T/gcore.out" 2>&1
	local c
	for c in "$T/crash.core" "$T/demo.$DEMO_PID"; do
		"$TASKSCOPE" ps --stacks --json --core "$c" > "$T/ps.json"
		validate "ps --json" "$T/ps.json"
		"$TASKSCOPE" tree --stacks --json --core "$c" > "$T/tree.json" || [ $? -eq 3 ]
		validate "tree --json" "$T/tree.json"
	done
	[ "$(jq -r .crash "$T/ps.json")" = null ]
	"$TASKSCOPE" ps --json --core "$T/crash.core" > "$T/ps.json"
	[ "$(jq -r .crash.signal "$T/ps.json")" = SIGSEGV ]
}

@test "one task object: ps, tree, top and dump --at carry the same task fields" {
	require_root_bpf
	start_demo
	"$TASKSCOPE" record -d 1 -o "$T/r.tsc" "$DEMO_PID" 2> "$T/record.err" &
	local rec=$!
	"$TASKSCOPE" ps --json "$DEMO_PID" > "$T/ps.json"
	"$TASKSCOPE" tree --json "$DEMO_PID" > "$T/tree.json" || [ $? -eq 3 ]
	timeout 60 "$TASKSCOPE" top --json -n 1 -d 0.2 "$DEMO_PID" > "$T/top.json"
	wait "$rec"
	"$TASKSCOPE" dump --at end --json "$T/r.tsc" > "$T/at.json"
	validate "dump --at T --json" "$T/at.json"
	# the fields of the task of a long-lived waiting task, without each command's own extras
	keys='[.tasks[] | select(.name == "deadlock-A") | keys - ["awaited_by", "in_cycle",
		"cpu_pct", "cpu_ns", "switches_per_s", "spawned_at"]] | .[0]'
	local want
	want=$(jq -c "$keys" "$T/ps.json")
	[ "$want" = "$(jq -c "$keys" "$T/tree.json")" ]
	[ "$want" = "$(jq -c "$keys" "$T/top.json")" ]
	[ "$want" = "$(jq -c "$keys" "$T/at.json")" ]
	[ "$want" != null ]
}

@test "dump --json, --at and --summary --json of a generated trace match the schema" {
	[ -x "$GEN" ] || { echo "missing $GEN: run make unit" >&2; return 1; }
	"$GEN" --write "$T/s.tsc" --threads 3 --tasks 4 --churn 2000 --duration 0.3 --ready 2>/dev/null
	"$TASKSCOPE" dump --json "$T/s.tsc" > "$T/d.jsonl"
	validate "dump --json" "$T/d.jsonl"
	# the kinds of line a recording holds most are there to be checked
	[ "$(jq -r .type "$T/d.jsonl" | sort -u | tr '\n' ' ')" = \
		"create end finish header ready switch wait " ]
	"$TASKSCOPE" dump --at 0.1 --json "$T/s.tsc" > "$T/at.json"
	validate "dump --at T --json" "$T/at.json"
	"$TASKSCOPE" dump --summary --json "$T/s.tsc" > "$T/sum.jsonl"
	validate "dump --summary --json" "$T/sum.jsonl"
	# a scheduling latency line per loop thread
	[ "$(jq -c 'select(.sched_latency)' "$T/sum.jsonl" | wc -l)" = 3 ]
	# a cut file: the end line says why
	head -c 3000 "$T/s.tsc" > "$T/cut.tsc"
	run --separate-stderr "$TASKSCOPE" dump --json "$T/cut.tsc"
	[ "$status" -eq 1 ]
	printf '%s\n' "$output" > "$T/cut.jsonl"
	validate "dump --json" "$T/cut.jsonl"
	jq -e 'select(.type == "end") | .complete == false and (.error | type) == "string"' \
		"$T/cut.jsonl"
}
