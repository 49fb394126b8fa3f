#!/usr/bin/env bats
# taskscope record --uprobes (the BPF path; record from the event rings: 42-rings) against real
# processes: the demo with churn, a victim that spawns a known
# number of tasks and then holds still (tests/progs/rec_victim.c), the ten-task seed example
# from its first instruction of main to its exit, a recorder killed with SIGKILL, a ring buffer
# overflowed on purpose, a target that exits mid-record.

load test_helper

VICTIM=$BUILD/progs/rec_victim

setup_file() {
	# A preloaded constructor that holds a process before main until a file exists: the
	# runtime's descriptor is relocated by then, so the recorder can attach, and nothing
	# of the program has run yet.
	local cc=${CC:-cc}
	cat > "$BATS_FILE_TMPDIR/gate.c" <<'EOF'
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
__attribute__((constructor)) static void gate(void)
{
	const char *f = getenv("GATE_FILE");
	if (!f)
		return;
	fprintf(stderr, "gate: held\n");
	for (int i = 0; i < 60000 && access(f, F_OK); i++)
		usleep(1000);
}
EOF
	"$cc" -shared -fPIC -O2 -o "$BATS_FILE_TMPDIR/gate.so" "$BATS_FILE_TMPDIR/gate.c"
}

setup() {
	spawn_setup
}

teardown() {
	stop_spawned
}

# dump --json events of a type.
count_type() {
	jq -c "select(.type == \"$2\")" "$1" | wc -l
}

# Fields both `ps --json` and `dump --at --json` report, in a canonical order. Not the switch
# counts: a task's count in the snapshot may already include switches that the file also holds
# (those between the attach and the moment the snapshot read that task); see same_switches.
canon() {
	jq -S '{threads: ([.threads[] | {tid, loop, current}] | sort_by(.tid)),
		tasks: ([.tasks[] | {id, name, coro, state, thread, parent, awaiting, wait, wait_obj}]
			| sort_by(.id))}' "$1"
}

# Switch counts of ps ($1) and dump --at end ($2): equal, but for the tasks of the snapshot
# (dump --at before the first event, $3): a switch of theirs between the attach and the moment
# the snapshot read them is in both the snapshot's count and the events ($4, dump --json), so
# each may count up to as many more as it has switches recorded before the snapshot was taken.
same_switches() {
	python3 - "$@" <<'PY'
import json, sys
ps, at, snap = (json.load(open(f)) for f in sys.argv[1:4])
events = [json.loads(l) for l in open(sys.argv[4])]
head = events[0]
taken = head["mono_ns"] + round(head["snapshot"]["t"] * 1e9) + 1000  # printed to the us
early = {}
for e in events:
    if e.get("type") == "switch" and e.get("next") and e["ts_ns"] <= taken:
        early[e["next"]] = early.get(e["next"], 0) + 1
snap = {t["id"] for t in snap["tasks"]}
a = {t["id"]: t["switches"] for t in at["tasks"]}
for t in ps["tasks"]:
    d = a[t["id"]] - t["switches"]
    assert d == 0 or (t["id"] in snap and 0 < d <= early.get(t["id"], 0)), \
        (t, a[t["id"]], early.get(t["id"], 0))
PY
}

@test "record: usage errors exit 2, a bad output path exits 1 and leaves no file" {
	run "$TASKSCOPE" record --help
	[ "$status" -eq 0 ]
	[[ "$output" == *"USAGE: taskscope record"*"--buffer-size"* ]]
	run "$TASKSCOPE" record 1
	[ "$status" -eq 2 ] && [[ "$output" == *"no output file"* ]]
	run "$TASKSCOPE" record -o "$BATS_TEST_TMPDIR/x.tsc"
	[ "$status" -eq 2 ] && [[ "$output" == *"no PID"* ]]
	run "$TASKSCOPE" record --duration -1 -o "$BATS_TEST_TMPDIR/x.tsc" 1
	[ "$status" -eq 2 ]
	run "$TASKSCOPE" record --buffer-size lots -o "$BATS_TEST_TMPDIR/x.tsc" 1
	[ "$status" -eq 2 ]
	run "$TASKSCOPE" record -o "$BATS_TEST_TMPDIR/no/such/dir/x.tsc" 1
	[ "$status" -eq 1 ] && [[ "$output" == *"cannot write"* ]]
	run "$TASKSCOPE" record -o "$BATS_TEST_TMPDIR/x.tsc" 999999999
	[ "$status" -eq 2 ] || [ "$status" -eq 4 ]
	[ ! -e "$BATS_TEST_TMPDIR/x.tsc" ]
	run "$TASKSCOPE" --help
	[[ "$output" == *"record "*"record every task event"* ]]
}

@test "record -o and export -o: never through a symbolic link; a regular file is replaced whole, never truncated" {
	local gen=$BUILD/tests/test_trace_rw
	"$gen" --write "$T/in.tsc" --duration 0.05 2>/dev/null
	echo secret > "$T/precious" && chmod 644 "$T/precious"
	ln -s precious "$T/link"
	ln -s nowhere "$T/dangling"
	chown -h nobody "$T/link" "$T/dangling" 2>/dev/null || true
	mkfifo "$T/fifo"
	mkdir "$T/dir"
	local f
	for f in link dangling fifo dir; do
		run timeout 20 "$TASKSCOPE" record -o "$T/$f" 1
		echo "$f: $output"
		[ "$status" -eq 1 ] && [[ "$output" == *"cannot write $T/$f: "* ]]
		run timeout 20 "$TASKSCOPE" export "$T/in.tsc" -o "$T/$f"
		echo "$f: $output"
		[ "$status" -eq 1 ] && [[ "$output" == *"cannot create $T/$f: "* ]]
	done
	[[ "$output" == *"is a directory"* ]]
	run "$TASKSCOPE" export "$T/in.tsc" -o "$T/link"
	[[ "$output" == *"symbolic link"* ]]
	# nothing was written, created or changed through them
	[ "$(cat "$T/precious")" = secret ] && [ "$(stat -c %a "$T/precious")" = 644 ]
	[ ! -e "$T/nowhere" ] && [ -L "$T/link" ] && [ -L "$T/dangling" ] && [ -p "$T/fifo" ]
	# a regular file the user names is replaced by a new file (mode 0600): another link to
	# the old one keeps the old contents
	echo old > "$T/out.json" && chmod 644 "$T/out.json" && ln "$T/out.json" "$T/other"
	run "$TASKSCOPE" export "$T/in.tsc" --format chrome -o "$T/out.json"
	[ "$status" -eq 0 ]
	jq -e '.traceEvents | length > 0' "$T/out.json"
	[ "$(cat "$T/other")" = old ] && [ "$(stat -c %a "$T/out.json")" = 600 ]
	# no temporary file is left behind
	[ -z "$(find "$T" -name '.tsc-*')" ]
}

@test "record killed with SIGKILL at any moment: no file, or one that dump reads" {
	require_root_bpf
	# many parked tasks: a snapshot that takes a while to read and write
	spawn victim "$VICTIM" --threads 2 --park 25000 "$T/go"
	V=$PID
	wait_line "$T/victim.out" '^ready'
	touch "$T/go"
	wait_line "$T/victim.out" '^created' 600
	# readable: dump exits 0, or 1 saying the recording was cut (no footer); never "not a
	# taskscope trace"
	readable_or_absent() {
		[ -e "$1" ] || return 0
		local rc=0
		"$TASKSCOPE" dump --summary "$1" > /dev/null 2> "$T/dump.err" || rc=$?
		cat "$T/dump.err"
		! grep -q 'not a taskscope trace' "$T/dump.err"
		[ "$rc" -eq 0 ] || { [ "$rc" -eq 1 ] && grep -qi footer "$T/dump.err"; }
	}
	# killed while attached, before the snapshot is read
	spawn rec env TASKSCOPE_TEST_HOLD_MS=60000 "$TASKSCOPE" record --uprobes -o "$T/h.tsc" "$V"
	wait_line "$T/rec.err" 'test: holding'
	kill -KILL "$PID"
	wait "$PID" || true
	[ ! -e "$T/h.tsc" ]
	# and at moments spread over the start: the snapshot read, written, the first blocks
	local d
	for d in 0 0.01 0.03 0.06 0.1 0.15 0.2 0.3 0.45 0.7 1 1.5; do
		rm -f "$T/k.tsc"
		"$TASKSCOPE" record --uprobes -o "$T/k.tsc" "$V" 2>/dev/null 3>&- &
		local r=$!
		sleep "$d"
		kill -KILL "$r"
		wait "$r" || true
		echo "killed after $d s: $(stat -c %s "$T/k.tsc" 2>/dev/null || echo no) bytes"
		readable_or_absent "$T/k.tsc"
	done
	[ -z "$(find "$T" -name '.tsc-*')" ]
}

@test "record: events keep being drained while the snapshot of many tasks is read and written: none lost" {
	require_root_bpf
	# 25,000 live tasks and a steady stream of short ones (about 70,000 events a second);
	# the hook holds 6 s between the attach and the snapshot read, more than the default
	# ring buffer (about 300,000 events) holds at that rate: only draining meanwhile
	# keeps every event
	spawn victim "$VICTIM" --threads 2 --park 25000 --rate 10000 "$T/go"
	V=$PID
	wait_line "$T/victim.out" '^ready'
	touch "$T/go"
	wait_line "$T/victim.out" '^created' 600
	run env TASKSCOPE_TEST_SNAPSHOT_DELAY_MS=6000 "$TASKSCOPE" record --uprobes -v --duration 2 \
		-o "$T/s.tsc" "$V"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"recording process $V (3 threads, 2500"[0-9]" tasks)"* ]]
	drained=$(sed -n 's/^taskscope: \([0-9]*\) events drained during the snapshot.*/\1/p' <<<"$output")
	[ "$drained" -gt 100000 ]
	[[ "$output" == *" events recorded, 0 lost, "* ]]
	printf '%s\n' "$output" > "$T/rec.err"
	rec_table > "$T/table"
	[ "$(wc -l < "$T/table")" -eq 7 ]
	awk '$2 != $3 || $4 != 0 { bad = 1 } END { exit bad }' "$T/table"
	run "$TASKSCOPE" dump --json "$T/s.tsc"
	[ "$status" -eq 0 ]
	[ "$(tail -1 <<<"$output" | jq -r '.complete, .lost_total' | tr '\n' ' ')" = "true 0 " ]
	[ "$(jq -c 'select(.type == "create")' <<<"$output" | wc -l)" -eq \
	  "$(awk '$1 == "create" { print $3 }' "$T/table")" ]
}

@test "record the demo with churn until it exits: nothing lost, ids without gaps, counts as the demo's, mode 0600" {
	require_root_bpf
	touch "$T/d.tsc" && chmod 644 "$T/d.tsc"
	spawn demo "$DEMO" --threads 2 --tasks 10 --churn 2000 --duration 4
	DEMO_PID=$PID
	wait_exec "$DEMO_PID" "$DEMO"
	start_record "$T/d.tsc" "$DEMO_PID" --uprobes
	wait_exit "$REC" 20
	cat "$T/rec.err"
	[ "$RC" -eq 0 ]
	grep -q "^taskscope: target $DEMO_PID exited; trace complete" "$T/rec.err"
	[ "$(stat -c %a "$T/d.tsc")" = 600 ]
	# every event the probes fired is in the file
	rec_table > "$T/table"
	[ "$(wc -l < "$T/table")" -eq 7 ]
	awk '$2 != $3 || $4 != 0 { bad = 1 } END { exit bad }' "$T/table"
	[ "$(awk '$1 == "create" { print $3 }' "$T/table")" -gt 5000 ]
	run "$TASKSCOPE" dump --json "$T/d.tsc"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$T/d.jsonl"
	[ "$(tail -1 "$T/d.jsonl" | jq -r '.complete, .lost_total' | tr '\n' ' ')" = "true 0 " ]
	for type in create switch finish wait thread_stop; do
		[ "$(count_type "$T/d.jsonl" "$type")" -eq "$(awk -v t=$type '$1 == t { print $3 }' "$T/table")" ]
	done
	# ids are handed out in sequence: the creates in the file have no gap
	jq -r 'select(.type == "create") | .id' "$T/d.jsonl" | sort -n > "$T/ids"
	first=$(head -1 "$T/ids") last=$(tail -1 "$T/ids") n=$(wc -l < "$T/ids")
	echo "creates: $n, ids $first..$last"
	[ $((last - first + 1)) -eq "$n" ]
	# the demo's churn count: short tasks created in the file, plus those created before it
	# (every id below the first created in the file, but the long-lived tasks, all alive in
	# the snapshot)
	spawned=$(sed -n 's/.*churn spawned \([0-9]*\), finished \([0-9]*\).*/\1/p' "$T/demo.err")
	finished=$(sed -n 's/.*churn spawned \([0-9]*\), finished \([0-9]*\).*/\2/p' "$T/demo.err")
	long=$(python3 - "$T/d.tsc" "$first" "$TASKSCOPE" <<'PY'
import json, subprocess, sys
out = subprocess.run([sys.argv[3], "dump", "--json", "--at", "-1000", sys.argv[1]],
                     capture_output=True, text=True).stdout
snap = json.loads(out)
print(sum(1 for t in snap["tasks"] if t["coro"] != "short_task" and t["id"] < int(sys.argv[2])))
PY
)
	in_file=$(jq -c 'select(.type == "create" and .coro == "short_task")' "$T/d.jsonl" | wc -l)
	echo "demo: spawned $spawned finished $finished; in file $in_file, before $((first - 1 - long))"
	[ "$spawned" -eq "$finished" ]
	[ $((in_file + first - 1 - long)) -eq "$spawned" ]
	# every task created in the file finished in it; at the end nothing is left
	jq -r 'select(.type == "finish") | .id' "$T/d.jsonl" | sort > "$T/fin"
	[ -z "$(sort "$T/ids" | comm -23 - "$T/fin")" ]
	run "$TASKSCOPE" dump --at end --json "$T/d.tsc"
	[ "$status" -eq 0 ]
	[ "$(jq '.tasks | length' <<<"$output")" -eq 0 ]
}

@test "record a victim, then ps on it quiescent: dump --at end equals ps; counts equal the victim's" {
	require_root_bpf
	spawn victim "$VICTIM" --threads 2 --tasks 20000 --park 8 "$T/go"
	V=$PID
	wait_line "$T/victim.out" '^ready'
	start_record "$T/v.tsc" "$V" --uprobes
	touch "$T/go"
	wait_line "$T/victim.out" '^created' 300
	# every probe is on while recording, and off again after: the target back on its
	# untraced path
	"$TASKSCOPE" probes --json "$V" | jq -e '[.probes[] | select(.name != "rings") | .semaphore_count] | length >= 7 and min > 0'
	sleep 0.2
	"$TASKSCOPE" ps --json "$V" > "$T/ps.json"
	sleep 0.2
	kill -INT "$REC"
	wait_exit "$REC" 10
	cat "$T/rec.err"
	[ "$RC" -eq 0 ]
	"$TASKSCOPE" probes --json "$V" | jq -e '[.probes[].semaphore_count] | max == 0'
	! grep -q 'exited; trace complete' "$T/rec.err"
	read -r _ created _ finished < <(grep '^created' "$T/victim.out")
	[ "$created" -eq 20008 ] && [ "$finished" -eq 20000 ]
	run "$TASKSCOPE" dump --json "$T/v.tsc"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$T/v.jsonl"
	[ "$(count_type "$T/v.jsonl" create)" -eq "$created" ]
	[ "$(jq -c 'select(.type == "finish" and .outcome == "done")' "$T/v.jsonl" | wc -l)" -eq "$finished" ]
	[ "$(count_type "$T/v.jsonl" finish)" -eq "$finished" ]
	[ "$(count_type "$T/v.jsonl" rename)" -eq 8 ]
	[ "$(tail -1 "$T/v.jsonl" | jq -r .lost_total)" -eq 0 ]
	"$TASKSCOPE" dump --at end --json "$T/v.tsc" > "$T/at.json"
	canon "$T/ps.json" > "$T/ps.canon"
	canon "$T/at.json" > "$T/at.canon"
	diff "$T/ps.canon" "$T/at.canon"
	"$TASKSCOPE" dump --at -1000 --json "$T/v.tsc" > "$T/snap.json"
	same_switches "$T/ps.json" "$T/at.json" "$T/snap.json" "$T/v.jsonl"
	[ "$(jq '.tasks | length' "$T/at.json")" -eq 9 ]   # Task-1 and the eight held ones
	[ "$(jq -r '[.tasks[].name | select(startswith("held-"))] | length' "$T/at.json")" -eq 8 ]
}

@test "record the ten-task seed example from before main to its exit: every task's whole life" {
	require_root_bpf
	# (an ASan build would refuse a library preloaded before its runtime)
	GATE_FILE=$T/go LD_PRELOAD=$BATS_FILE_TMPDIR/gate.so \
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		spawn seed "$EXAMPLES/seed-all-tasks-ten"
	S=$PID
	wait_line "$T/seed.err" '^gate: held'
	start_record "$T/s.tsc" "$S" --uprobes
	touch "$T/go"
	wait_exit "$REC" 20
	cat "$T/rec.err"
	[ "$RC" -eq 0 ]
	grep -q "^taskscope: target $S exited; trace complete" "$T/rec.err"
	wait "$S"
	# still correct while traced
	diff "$ROOT/tests/expected/seed-all-tasks-ten.out" "$T/seed.out"
	run "$TASKSCOPE" dump --json "$T/s.tsc"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$T/s.jsonl"
	[ "$(head -1 "$T/s.jsonl" | jq -c .snapshot.tasks)" -eq 0 ]
	python3 - "$T/s.jsonl" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])][1:-1]
tasks = {}
for e in ev:
    if e["type"] == "create":
        assert e["id"] not in tasks, e
        tasks[e["id"]] = {"name": e["name"], "coro": e["coro"], "life": ["create"]}
    elif e["type"] == "switch" and e.get("next"):
        tasks[e["next"]]["life"].append("run")
    elif e["type"] == "finish":
        tasks[e["id"]]["life"].append("finish:" + e["outcome"])
names = sorted(t["name"] for t in tasks.values())
assert names == sorted(["Task-%d" % i for i in range(1, 12)]), names
for i, t in tasks.items():
    life = t["life"]
    # created, ran, finished, in that order, each once (create, finish)
    assert life[0] == "create" and life[-1] == "finish:done" and "run" in life, (i, t)
    assert life.count("create") == 1 and sum(x.startswith("finish") for x in life) == 1, (i, t)
    want = "main_coro" if t["name"] == "Task-1" else "task_coro"
    assert t["coro"] == want, (i, t)
starts = [e for e in ev if e["type"] == "thread_start"]
stops = [e for e in ev if e["type"] == "thread_stop"]
assert len(starts) == 1 and len(stops) == 1, (starts, stops)
assert ev.index(starts[0]) < min(ev.index(e) for e in ev if e["type"] == "create")
print("tasks:", len(tasks), "events:", len(ev))
PY
	run "$TASKSCOPE" dump --at end --json "$T/s.tsc"
	[ "$(jq '.tasks | length' <<<"$output")" -eq 0 ]
	[ "$(jq '.threads | length' <<<"$output")" -eq 0 ]
}

@test "record killed with SIGKILL: the file reads back to its last flushed block" {
	require_root_bpf
	spawn demo "$DEMO" --threads 2 --tasks 4 --churn 1000
	DEMO_PID=$PID
	wait_exec "$DEMO_PID" "$DEMO"
	start_record "$T/k.tsc" "$DEMO_PID" --uprobes
	sleep 2.5
	kill -KILL "$REC"
	wait "$REC" || true
	rc=0
	"$TASKSCOPE" dump --json "$T/k.tsc" > "$T/k.jsonl" 2> "$T/k.err" || rc=$?
	cat "$T/k.err"
	[ "$rc" -eq 1 ]
	grep -q '^taskscope dump: ' "$T/k.err"
	grep -qi 'footer' "$T/k.err"
	n=$(jq -c 'select(.type != "header" and .type != "end")' "$T/k.jsonl" | wc -l)
	last=$(jq -r 'select(.t != null) | .t' "$T/k.jsonl" | sort -g | tail -1)
	echo "$n events, the last at $last s"
	[ "$n" -gt 1000 ]
	# a block every second: at most ~1 s lost of the 2.5 s recorded
	python3 -c "import sys; sys.exit(0 if float('$last') >= 1.3 else 1)"
	[ "$(tail -1 "$T/k.jsonl" | jq -r .complete)" = false ]
	# the probes went with the recorder: a new one attaches
	run "$TASKSCOPE" record --uprobes --duration 0.3 -o "$T/k2.tsc" "$DEMO_PID"
	[ "$status" -eq 0 ]
	"$TASKSCOPE" dump "$T/k2.tsc" > /dev/null
}

@test "record with a ring buffer overflowed on purpose: recorded + lost == fired, per type" {
	require_root_bpf
	spawn victim "$VICTIM" --threads 2 --tasks 100000 --yields 2 --batch 2048 "$T/go"
	V=$PID
	wait_line "$T/victim.out" '^ready'
	start_record "$T/o.tsc" "$V" --uprobes --buffer-size 4K
	touch "$T/go"
	wait_line "$T/victim.out" '^created' 600
	sleep 0.2
	kill -TERM "$REC"
	wait_exit "$REC" 10
	cat "$T/rec.err"
	[ "$RC" -eq 0 ]
	grep -q 'events were lost' "$T/rec.err"
	read -r _ created _ finished < <(grep '^created' "$T/victim.out")
	run "$TASKSCOPE" dump --json "$T/o.tsc"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$T/o.jsonl"
	rec_table > "$T/table"
	lost_total=$(tail -1 "$T/o.jsonl" | jq .lost_total)
	echo "lost in the file: $lost_total"
	[ "$lost_total" -gt 0 ]
	# LOST records are shown by the text dump too
	"$TASKSCOPE" dump "$T/o.tsc" | grep -q ' LOST [0-9]* switch events'
	while read -r type fired recorded lost; do
		in_file=$(count_type "$T/o.jsonl" "$type")
		lost_file=$(tail -1 "$T/o.jsonl" | jq ".lost.$type // 0")
		echo "$type: fired $fired, in the file $in_file + lost $lost_file"
		[ "$in_file" -eq "$recorded" ] && [ "$lost_file" -eq "$lost" ]
		[ $((in_file + lost_file)) -eq "$fired" ]
		case $type in
		create) [ $((in_file + lost_file)) -eq "$created" ] ;;
		finish) [ $((in_file + lost_file)) -eq "$finished" ] ;;
		esac
	done < "$T/table"
}

@test "record: the target exits mid-record; record says so, exits 0, the file is complete" {
	require_root_bpf
	spawn victim "$VICTIM" --threads 2 --tasks 3000 --park 4 --exit "$T/go"
	V=$PID
	wait_line "$T/victim.out" '^ready'
	start_record "$T/e.tsc" "$V" --uprobes --duration 60
	touch "$T/go"
	wait_exit "$REC" 20
	cat "$T/rec.err"
	[ "$RC" -eq 0 ]
	grep -q "^taskscope: target $V exited; trace complete" "$T/rec.err"
	grep -q '^exiting' "$T/victim.out"
	run "$TASKSCOPE" dump --json "$T/e.tsc"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$T/e.jsonl"
	[ "$(tail -1 "$T/e.jsonl" | jq -r .complete)" = true ]
	[ "$(count_type "$T/e.jsonl" create)" -eq 3004 ]
	[ "$(jq -c 'select(.type == "finish" and .outcome == "cancelled")' "$T/e.jsonl" | wc -l)" -eq 4 ]
	[ "$(count_type "$T/e.jsonl" thread_stop)" -eq 3 ]
	run "$TASKSCOPE" dump --at end --json "$T/e.tsc"
	[ "$(jq '.tasks | length' <<<"$output")" -eq 0 ]
}

@test "record a program linked against libtaskscope.so: dump and both exports name the program; viewers read the exports" {
	require_root_bpf
	require_cmd protoc
	local prog=rec_victim-shared
	spawn victim "$VICTIM-shared" --threads 2 --tasks 300 --park 3 --exit-after "$T/exit" "$T/go"
	V=$PID
	wait_line "$T/victim.out" '^ready'
	# the rings: the victim exits within a millisecond of its last event, once record has
	# found (and mapped) its three loops' rings; what they held then is still read
	spawn rec "$TASKSCOPE" record -v -o "$T/s.tsc" "$V"
	REC=$PID
	wait_line "$T/rec.err" '^taskscope: recording process'
	touch "$T/go"
	wait_line "$T/victim.out" '^created'
	wait_rings_mapped 3
	touch "$T/exit"
	wait_exit "$REC" 20
	[ "$RC" -eq 0 ] || { cat "$T/rec.err" >&2; return 1; }
	# the header names the program, and the library that holds the runtime beside it
	"$TASKSCOPE" dump --json "$T/s.tsc" | head -1 > "$T/h.json"
	jq -e --arg p "$prog" '(.program | endswith("/" + $p)) and (.binary | test("libtaskscope[.]so"))' "$T/h.json"
	run "$TASKSCOPE" dump "$T/s.tsc"
	[[ "${lines[0]}" == *"/$prog (runtime "*"libtaskscope.so"* ]]
	# Chrome JSON: the process by the program's name; no negative time (the snapshot and
	# the first events come before the file's header); every flow bound to a slice
	"$TASKSCOPE" export "$T/s.tsc" --format chrome -o "$T/s.json"
	jq -e --arg n "$prog (pid $V)" '[.traceEvents[] | select(.ph == "M" and .name == "process_name")
		| .args.name] == [$n]' "$T/s.json"
	python3 "$ROOT/tests/bats/export-check.py" chrome "$T/s.json"
	# Perfetto: decoded as Perfetto's schema declares it; the clock, the tracks, the pairs
	"$TASKSCOPE" export "$T/s.tsc" -o "$T/s.pftrace"
	protoc -I "$ROOT/tests/proto" --decode=perfetto.protos.Trace \
		"$ROOT/tests/proto/perfetto_trace.proto" < "$T/s.pftrace" > "$T/s.txt"
	grep -qF "process_name: \"$prog (pid $V)\"" "$T/s.txt"
	! grep -q 'libtaskscope' "$T/s.txt"
	[ "$(grep -c '^  timestamp: ' "$T/s.txt")" -gt 600 ]
	[ "$(grep -c '^  timestamp_clock_id: 3$' "$T/s.txt")" -eq "$(grep -c '^  timestamp: ' "$T/s.txt")" ]
	python3 "$ROOT/tests/bats/export-check.py" perfetto "$T/s.pftrace"
}

@test "record --duration stops on time and leaves a complete file" {
	require_root_bpf
	spawn victim "$VICTIM" --threads 1 --park 2 "$T/go"
	V=$PID
	wait_line "$T/victim.out" '^ready'
	touch "$T/go"
	wait_line "$T/victim.out" '^created'
	start=$(date +%s.%N)
	run "$TASKSCOPE" record --uprobes --duration 1 -o "$T/t.tsc" "$V"
	end=$(date +%s.%N)
	[ "$status" -eq 0 ]
	python3 -c "import sys; d = $end - $start; print(d); sys.exit(0 if 0.9 < d < 5 else 1)"
	run "$TASKSCOPE" dump --at end --json "$T/t.tsc"
	[ "$status" -eq 0 ]
	[ "$(jq '.tasks | length' <<<"$output")" -eq 3 ]
	kill -0 "$V"
}

@test "record in every attach variant and runtime link: exact counts, names and loop threads" {
	require_root_bpf
	local v env bin
	for v in multi per-probe generic-args shared stripped; do
		env=() bin=$VICTIM
		case $v in
		per-probe) env=(TASKSCOPE_TEST_NO_MULTI=1) ;;
		generic-args) env=(TASKSCOPE_TEST_GENERIC_ARGS=1) ;;
		shared | stripped) bin=$VICTIM-$v ;;
		esac
		rm -f "$T/go"
		spawn victim "$bin" --threads 2 --tasks 500 --park 3 --exit "$T/go"
		local p=$PID
		wait_line "$T/victim.out" '^ready'
		spawn rec env "${env[@]}" "$TASKSCOPE" record --uprobes -v -o "$T/$v.tsc" "$p"
		REC=$PID
		wait_line "$T/rec.err" '^taskscope: recording process'
		touch "$T/go"
		wait_exit "$REC" 20
		[ "$RC" -eq 0 ] || { cat "$T/rec.err" >&2; return 1; }
		"$TASKSCOPE" dump --json "$T/$v.tsc" > "$T/$v.jsonl"
		python3 - "$T/$v.jsonl" "$v" <<'PY'
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert ev[-1]["complete"] and ev[-1]["lost_total"] == 0, ev[-1]
creates = [e for e in ev if e.get("type") == "create"]
assert len(creates) == 503, len(creates)
names = sorted(e["name"] for e in creates if e["coro"] == "parked_task")
assert names == ["parked-0", "parked-1", "parked-2"], names
renames = sorted(e["name"] for e in ev if e.get("type") == "rename")
assert renames == ["held-0", "held-1", "held-2"], renames
# a task runs on the loop thread its create named (ids as we see them)
loop = {e["id"]: e["loop_tid"] for e in creates}
for e in ev:
    if e.get("type") == "switch" and e.get("next") in loop:
        assert e["tid"] == loop[e["next"]], (e, loop[e["next"]])
print(sys.argv[2], "ok:", len(ev), "records")
PY
	done
}

@test "record a target in its own pid namespace: loop threads by our ids" {
	require_root_bpf
	require_cmd unshare
	spawn ns unshare --pid --fork --mount-proc "$VICTIM" --threads 2 --tasks 200 --park 2 "$T/go"
	local u=$PID f
	wait_line "$T/ns.out" '^ready'
	f=$(pgrep -P "$u" rec_victim)
	[ -n "$f" ]
	PIDS+=("$f")
	start_record "$T/n.tsc" "$f" --uprobes
	touch "$T/go"
	wait_line "$T/ns.out" '^created'
	sleep 0.2
	kill -INT "$REC"
	wait_exit "$REC" 10
	[ "$RC" -eq 0 ]
	"$TASKSCOPE" dump --json "$T/n.tsc" > "$T/n.jsonl"
	[ "$(count_type "$T/n.jsonl" create)" -eq 202 ]
	# every loop thread a create names is one of the target's threads, by our ids
	for i in $(jq -r 'select(.type == "create") | .loop_tid' "$T/n.jsonl" | sort -u); do
		[ -d "/proc/$f/task/$i" ] || { echo "thread $i is not one of process $f" >&2; return 1; }
	done
	run "$TASKSCOPE" dump --at end --json "$T/n.tsc"
	[ "$(jq '.tasks | length' <<<"$output")" -eq 3 ]
	for i in $(jq -r '.tasks[].thread' <<<"$output" | sort -u); do
		[ -d "/proc/$f/task/$i" ]
	done
}
