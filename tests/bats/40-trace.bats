#!/usr/bin/env bats
# Trace files: dump and export on traces of a simulated demo (tests/unit/trace_sim.h, written
# by the generator mode of $BUILD/tests/test_trace_rw), damaged files, and the fuzz target.

load test_helper

GEN=$BUILD/tests/test_trace_rw

setup() {
	[ -x "$TASKSCOPE" ] || { echo "missing $TASKSCOPE: run make" >&2; return 1; }
	[ -x "$GEN" ] || { echo "missing $GEN: run make unit" >&2; return 1; }
	T=$(mktemp -d)
}

teardown() {
	rm -rf "$T"
}

# A small trace (a few kB, several blocks) and its full dump.
small_trace() {
	"$GEN" --write "$T/small.tsc" --threads 2 --tasks 4 --churn 300 --duration 0.03 \
		--seed 7 --block-events 40 2>/dev/null
	"$TASKSCOPE" dump "$T/small.tsc" > "$T/small.txt"
}

# Event lines of a text dump (not the # header and closing lines).
events_of() {
	grep -v '^#' "$1" || true
}

@test "dump: every event of a recorded simulation, counts as emitted" {
	"$GEN" --write "$T/a.tsc" --threads 3 --tasks 4 --churn 2000 --duration 0.5 2> "$T/emitted"
	run "$TASKSCOPE" dump --json "$T/a.tsc"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$T/a.jsonl"
	[ "$(head -1 "$T/a.jsonl" | jq -r .type)" = header ]
	[ "$(tail -1 "$T/a.jsonl" | jq -r .complete)" = true ]
	for type in create switch finish wait; do
		want=$(awk -v t="$type" '$1 == "emitted" && $2 == t { print $3 }' "$T/emitted")
		got=$(jq -c "select(.type == \"$type\")" "$T/a.jsonl" | wc -l)
		echo "$type: emitted $want, dumped $got"
		[ "$want" -gt 0 ] && [ "$got" -eq "$want" ]
	done
	# names are resolved: every switch to a task carries the task's name
	[ "$(jq -c 'select(.type == "switch" and .next != null and .next_name == "")' "$T/a.jsonl" | wc -l)" -eq 0 ]
	run "$TASKSCOPE" dump "$T/a.tsc"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == "# taskscope trace 1.3: pid 4242, "* ]]
	[[ "$output" == *' create tid=4242 '*' "Task-'*' coro="short_task" parent='*' "churn-0"'* ]]
	[[ "${lines[-1]}" == *", complete" ]]
}

@test "trace files are created with mode 0600" {
	touch "$T/m.tsc" && chmod 644 "$T/m.tsc"
	(umask 000 && "$GEN" --write "$T/m.tsc" --duration 0.01 2>/dev/null)
	[ "$(stat -c %a "$T/m.tsc")" = 600 ]
	(umask 000 && "$GEN" --write "$T/new.tsc" --duration 0.01 2>/dev/null)
	[ "$(stat -c %a "$T/new.tsc")" = 600 ]
}

@test "dump of a file cut at every byte offset: events up to the fault, a warning, status 1" {
	small_trace
	size=$(stat -c %s "$T/small.tsc")
	events_of "$T/small.txt" > "$T/full.ev"
	total=$(wc -l < "$T/full.ev")
	echo "small trace: $size bytes, $total events"
	[ "$size" -lt 8000 ] && [ "$total" -gt 100 ]
	bad=0 max=0
	for ((cut = 0; cut < size; cut++)); do
		head -c "$cut" "$T/small.tsc" > "$T/cut.tsc"
		rc=0
		"$TASKSCOPE" dump "$T/cut.tsc" > "$T/cut.txt" 2> "$T/cut.err" || rc=$?
		events_of "$T/cut.txt" > "$T/cut.ev"
		n=$(wc -l < "$T/cut.ev")
		[ "$n" -gt "$max" ] && max=$n
		# status 1 (never a crash, never success), a message, and a prefix of the events
		if [ $rc -ne 1 ] || ! grep -q '^taskscope dump: ' "$T/cut.err" ||
			! cmp -s "$T/cut.ev" <(head -n "$n" "$T/full.ev"); then
			echo "cut at $cut: status $rc, $n events: $(cat "$T/cut.err")"
			bad=$((bad + 1))
			[ $bad -gt 5 ] && break
		fi
	done
	[ $bad -eq 0 ]
	# the last whole block before the end held events: a cut file still shows them
	[ "$max" -gt $((total / 2)) ]
}

@test "dump of files with a flipped bit at every offset: a prefix of the events, status 1" {
	small_trace
	size=$(stat -c %s "$T/small.tsc")
	events_of "$T/small.txt" > "$T/full.ev"
	bad=0
	for ((off = 0; off < size; off++)); do
		cp "$T/small.tsc" "$T/flip.tsc"
		byte=$(od -An -tu1 -j "$off" -N1 "$T/small.tsc" | tr -d ' ')
		printf "\\x$(printf %02x $(((byte ^ (1 << (off % 8))) & 255)))" |
			dd of="$T/flip.tsc" bs=1 seek="$off" conv=notrunc status=none
		rc=0
		"$TASKSCOPE" dump "$T/flip.tsc" > "$T/flip.txt" 2> "$T/flip.err" || rc=$?
		events_of "$T/flip.txt" > "$T/flip.ev"
		n=$(wc -l < "$T/flip.ev")
		if [ $rc -ne 1 ] || ! grep -q '^taskscope dump: ' "$T/flip.err" ||
			! cmp -s "$T/flip.ev" <(head -n "$n" "$T/full.ev"); then
			echo "flip at $off: status $rc, $n events: $(cat "$T/flip.err")"
			bad=$((bad + 1))
			[ $bad -gt 5 ] && break
		fi
	done
	[ $bad -eq 0 ]
}

@test "dump skips a record of unknown type with a warning" {
	"$GEN" --write "$T/x.tsc" --duration 0.05 --ext 2>/dev/null
	run "$TASKSCOPE" dump "$T/x.tsc"
	[ "$status" -eq 0 ]
	[[ "$output" == *"warning: block 1: record type 20 unknown to this taskscope, skipped (6 bytes)"* ]]
	[ "$("$TASKSCOPE" dump --json "$T/x.tsc" 2>/dev/null | tail -1 | jq .skipped)" = 1 ]
}

@test "dump shows lost events: LOST lines and counts; recorded + lost = emitted" {
	"$GEN" --write "$T/l.tsc" --duration 0.3 --churn 2000 --lost 50 2> "$T/emitted"
	run "$TASKSCOPE" dump "$T/l.tsc"
	[ "$status" -eq 0 ]
	[[ "$output" == *" LOST "*" switch events"* ]]
	[[ "${lines[-1]}" == *" lost switch="* ]]
	"$TASKSCOPE" dump --json "$T/l.tsc" > "$T/l.jsonl"
	lost=$(tail -1 "$T/l.jsonl" | jq .lost.switch)
	lost_lines=$(jq -s '[.[] | select(.type == "lost") | .count] | add' "$T/l.jsonl")
	switches=$(jq -c 'select(.type == "switch")' "$T/l.jsonl" | wc -l)
	emitted=$(awk '$2 == "switch" { print $3 }' "$T/emitted")
	echo "lost $lost ($lost_lines in records), recorded $switches, emitted $emitted"
	[ "$lost" -gt 0 ] && [ "$lost" -eq "$lost_lines" ]
	[ $((lost + switches)) -eq "$emitted" ]
	# the state and summary views say so too
	run "$TASKSCOPE" dump --at end "$T/l.tsc"
	[[ "$output" == *"LOST $lost switch events"* ]]
	run "$TASKSCOPE" dump --summary "$T/l.tsc"
	[[ "${lines[-1]}" == "# $lost lost events"* ]]
}

@test "dump --at end equals the simulated process's final state, in ps --json's shape" {
	"$GEN" --write "$T/s.tsc" --threads 3 --tasks 5 --churn 1000 --duration 0.4 \
		--truth "$T/truth.json" 2>/dev/null
	run "$TASKSCOPE" dump --at end --json "$T/s.tsc"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$T/at.json"
	norm='{pid, threads: [.threads[] | {tid, current}] | sort_by(.tid),
	       tasks: [.tasks[] | {id, name, coro, state, thread, parent, awaiting, wait}] | sort_by(.id)}'
	diff -u <(jq -S "$norm" "$T/truth.json") <(jq -S "$norm" "$T/at.json")
	# the keys of ps --json are all there
	jq -e '.tasks[0] | has("id", "name", "coro", "state", "thread", "parent", "awaiting",
		"wait", "created_ns", "age_ms", "switches")' "$T/at.json"
}

@test "dump --at T: a short task is live between its create and its finish, not after" {
	"$GEN" --write "$T/s.tsc" --duration 0.2 --churn 1000 2>/dev/null
	"$TASKSCOPE" dump --json "$T/s.tsc" > "$T/s.jsonl"
	id=$(jq -r 'select(.type == "create") | .id' "$T/s.jsonl" | sed -n 50p)
	# instants to the nanosecond: seconds since the header's start
	t0=$(head -1 "$T/s.jsonl" | jq .mono_ns)
	secs() { awk -v ns="$1" -v t0="$t0" 'BEGIN { printf "%.9f", (ns - t0) / 1e9 }'; }
	born=$(secs "$(jq -r "select(.type == \"create\" and .id == $id) | .ts_ns" "$T/s.jsonl")")
	died=$(secs "$(jq -r "select(.type == \"finish\" and .id == $id) | .ts_ns" "$T/s.jsonl")")
	echo "task $id: $born .. $died"
	during=$(awk -v a="$born" -v b="$died" 'BEGIN { printf "%.6f", (a + b) / 2 }')
	"$TASKSCOPE" dump --at "$born" --json "$T/s.tsc" | jq -e ".tasks | any(.id == $id)"
	"$TASKSCOPE" dump --at "$died" --json "$T/s.tsc" | jq -e ".tasks | all(.id != $id)"
	"$TASKSCOPE" dump --at 0 --json "$T/s.tsc" | jq -e ".tasks | all(.id != $id)"
	[ "$("$TASKSCOPE" dump --at "$during" --json "$T/s.tsc" | jq ".tasks | map(select(.id == $id)) | length")" -le 1 ]
	run "$TASKSCOPE" dump --at soon "$T/s.tsc"
	[ "$status" -eq 2 ]
}

@test "dump --at before the clock's zero is the state at the start, past its end the state at the end" {
	# CLOCK_MONOTONIC starts at boot: on a machine up for less than 1000 s, "--at -1000"
	# once wrapped around to the far future and showed the end instead of the start
	"$GEN" --write "$T/s.tsc" --duration 0.2 --churn 1000 2>/dev/null
	state='{threads, tasks: [.tasks[] | {id, name, state, switches}]}'
	"$TASKSCOPE" dump --at 0 --json "$T/s.tsc" | jq -S "$state" > "$T/start.json"
	"$TASKSCOPE" dump --at end --json "$T/s.tsc" | jq -S "$state" > "$T/end.json"
	! cmp -s "$T/start.json" "$T/end.json"
	for at in -1e12 -1e300 -inf; do
		"$TASKSCOPE" dump --at "$at" --json "$T/s.tsc" | jq -S "$state" | diff -u "$T/start.json" -
	done
	for at in 1e12 1e300 inf; do
		"$TASKSCOPE" dump --at "$at" --json "$T/s.tsc" | jq -S "$state" | diff -u "$T/end.json" -
	done
}

@test "dump --summary: lifetime, CPU time, switches and waits per task" {
	"$GEN" --write "$T/s.tsc" --duration 0.3 --churn 1000 2>/dev/null
	"$TASKSCOPE" dump --summary --json "$T/s.tsc" > "$T/sum.jsonl"
	"$TASKSCOPE" dump --json "$T/s.tsc" > "$T/s.jsonl"
	# one row per task seen: the snapshot's and every one created
	creates=$(jq -c 'select(.type == "create")' "$T/s.jsonl" | wc -l)
	snap=$(head -1 "$T/s.jsonl" | jq .snapshot.tasks)
	[ "$(jq -c 'select(.id)' "$T/sum.jsonl" | wc -l)" -eq $((creates + snap)) ]
	# switches in = switch events into tasks; CPU time within the lifetime of finished tasks
	[ "$(jq -s '[.[] | select(.id) | .switches] | add' "$T/sum.jsonl")" -eq \
	  "$(jq -c 'select(.type == "switch" and .next != null)' "$T/s.jsonl" | wc -l)" ]
	jq -e -s 'map(select(.outcome == "done")) | length > 10 and
		all(.cpu_ns > 0 and .cpu_ns <= .lifetime_ns and .waits.yield == 1)' "$T/sum.jsonl"
	[ "$(tail -1 "$T/sum.jsonl" | jq -r .type)" = end ]
	run "$TASKSCOPE" dump --summary "$T/s.tsc"
	[ "$status" -eq 0 ]
	[[ "${lines[0]}" == *"LIFETIME"*"CPU"*"SWITCHES"*"WAITS"* ]]
	[[ "$output" == *"churn-0"*"sleep="* ]]
}

@test "dump of a recording whose recorder died: every flushed event, then status 1" {
	"$GEN" --write "$T/k.tsc" --duration 0.3 --no-footer 2> "$T/emitted"
	run "$TASKSCOPE" dump --json "$T/k.tsc"
	[ "$status" -eq 1 ]
	[[ "$output" == *"without a footer"* ]]
	switches=$(printf '%s\n' "$output" | grep -c '"type":"switch"' || true)
	[ "$switches" -eq "$(awk '$2 == "switch" { print $3 }' "$T/emitted")" ]
}

# Perfetto's trace schema, the messages taskscope writes, with upstream's field numbers.
PROTO_DIR=$ROOT/tests/proto
EXPORT_CHECK=$ROOT/tests/bats/export-check.py

@test "export perfetto: protoc decodes it; a slice per run of a task, one track per thread, flows" {
	require_cmd protoc
	"$GEN" --write "$T/e.tsc" --threads 2 --tasks 4 --churn 2000 --duration 0.1 2>/dev/null
	run "$TASKSCOPE" export "$T/e.tsc" --format perfetto -o "$T/e.pftrace"
	[ "$status" -eq 0 ]
	[ "$(stat -c %a "$T/e.pftrace")" = 600 ]
	"$TASKSCOPE" dump --json "$T/e.tsc" > "$T/e.jsonl"
	runs=$(jq -c 'select(.type == "switch" and .next != null)' "$T/e.jsonl" | wc -l)
	creates=$(jq -c 'select(.type == "create")' "$T/e.jsonl" | wc -l)
	awaits=$(jq -c 'select(.type == "wait" and .reason == "await")' "$T/e.jsonl" | wc -l)
	[ "$awaits" -gt 0 ]

	# the independent decoder, untyped: every packet is field 1 of the Trace
	protoc --decode_raw < "$T/e.pftrace" > "$T/raw.txt"
	[ "$(grep -c '^1 {' "$T/raw.txt")" -gt "$runs" ]
	[ "$(grep -c '^    9: 1$' "$T/raw.txt")" -eq "$runs" ]    # TYPE_SLICE_BEGIN
	[ "$(grep -c '^    9: 2$' "$T/raw.txt")" -eq "$runs" ]    # TYPE_SLICE_END

	# typed, with the schema's field numbers
	protoc -I "$PROTO_DIR" --decode=perfetto.protos.Trace "$PROTO_DIR/perfetto_trace.proto" \
		< "$T/e.pftrace" > "$T/typed.txt"
	[ "$(grep -c 'type: TYPE_SLICE_BEGIN' "$T/typed.txt")" -eq "$runs" ]
	[ "$(grep -c 'thread {' "$T/typed.txt")" -eq 2 ]           # one track per thread
	grep -q 'thread_name: "loop 1 (tid 4242)"' "$T/typed.txt"
	# the slices of worker-0-0 are its runs
	w=$(jq -c 'select(.type == "switch" and .next_name == "worker-0-0")' "$T/e.jsonl" | wc -l)
	[ "$w" -gt 0 ]
	[ "$(grep -c 'name: "worker-0-0"' "$T/typed.txt")" -eq "$w" ]
	# flows: one out of each create and each await; ended at first runs and at finishes
	[ "$(grep -c ' flow_ids:' "$T/typed.txt")" -eq $((creates + awaits)) ]
	[ "$(grep -c 'terminating_flow_ids:' "$T/typed.txt")" -ge "$creates" ]
	# the clock: every time is CLOCK_MONOTONIC's, declared so (Perfetto assumes BOOTTIME)
	[ "$(grep -c '^  timestamp_clock_id: 3$' "$T/typed.txt")" -eq "$(grep -c '^  timestamp: ' "$T/typed.txt")" ]
	# tracks declared before use, slices paired, strings UTF-8, flows started before they end
	python3 "$EXPORT_CHECK" perfetto "$T/e.pftrace"
}

@test "export chrome: jq reads it; X slices are the runs; flows start and finish" {
	"$GEN" --write "$T/e.tsc" --threads 2 --tasks 4 --churn 2000 --duration 0.1 2>/dev/null
	run "$TASKSCOPE" export "$T/e.tsc" --format chrome -o "$T/e.json"
	[ "$status" -eq 0 ]
	"$TASKSCOPE" dump --json "$T/e.tsc" > "$T/e.jsonl"
	runs=$(jq -c 'select(.type == "switch" and .next != null)' "$T/e.jsonl" | wc -l)
	[ "$(jq '[.traceEvents[] | select(.ph == "X")] | length' "$T/e.json")" -eq "$runs" ]
	jq -e '[.traceEvents[] | select(.ph == "X")] | all(.dur >= 0 and (.name | length) > 0)' "$T/e.json"
	jq -e '[.traceEvents[] | select(.ph == "M" and .name == "thread_name")] | length == 2' "$T/e.json"
	# every flow that starts also ends
	jq -e '([.traceEvents[] | select(.ph == "s") | .id] | sort) ==
	       ([.traceEvents[] | select(.ph == "f") | .id] | sort)' "$T/e.json"
	# ... and binds, as DevTools binds it, to a slice of its own category at its time
	python3 "$EXPORT_CHECK" chrome "$T/e.json"
	# worker-0-0's slices on its thread, in time order and not overlapping
	jq -e '[.traceEvents[] | select(.ph == "X" and .name == "worker-0-0")] | sort_by(.ts) |
	       . as $s | [range(1; length)] | all($s[.].ts >= $s[. - 1].ts + $s[. - 1].dur)' "$T/e.json"
}

@test "export chrome: a snapshot and events older than the file's header: no negative time" {
	"$GEN" --write "$T/o.tsc" --threads 2 --tasks 4 --churn 2000 --duration 0.1 --early 0.02 2>/dev/null
	# the file holds times before its start, as record's do
	[ "$("$TASKSCOPE" dump --json "$T/o.tsc" | jq -s '[.[] | .t // empty | select(. < 0)] | length')" -gt 0 ]
	"$TASKSCOPE" export "$T/o.tsc" --format chrome -o "$T/o.json"
	jq -e '[.traceEvents[] | select(has("ts"))] | length > 1000 and all(.ts >= 0)' "$T/o.json"
	python3 "$EXPORT_CHECK" chrome "$T/o.json"
}

@test "export and dump name the program, not the library that holds the runtime" {
	"$GEN" --write "$T/p.tsc" --duration 0.01 --binary /usr/lib/libtaskscope.so.0 \
		--program /opt/réseau/app 2>/dev/null
	run "$TASKSCOPE" dump "$T/p.tsc"
	[[ "${lines[0]}" == "# taskscope trace 1.3: pid 4242, /opt/réseau/app (runtime /usr/lib/libtaskscope.so.0), started "* ]]
	"$TASKSCOPE" dump --json "$T/p.tsc" | head -1 |
		jq -e '.program == "/opt/réseau/app" and .binary == "/usr/lib/libtaskscope.so.0"'
	"$TASKSCOPE" export "$T/p.tsc" --format chrome -o "$T/p.json"
	jq -e '[.traceEvents[] | select(.name == "process_name") | .args.name] == ["app (pid 4242)"]' "$T/p.json"
	"$TASKSCOPE" export "$T/p.tsc" -o "$T/p.pftrace"
	protoc -I "$PROTO_DIR" --decode=perfetto.protos.Trace "$PROTO_DIR/perfetto_trace.proto" \
		< "$T/p.pftrace" > "$T/p.txt"
	grep -qF 'process_name: "app (pid 4242)"' "$T/p.txt"
	# a file without a program (older than 1.2) is named by the runtime's ELF, as before
	"$GEN" --write "$T/q.tsc" --duration 0.01 2>/dev/null
	"$TASKSCOPE" export "$T/q.tsc" --format chrome -o "$T/q.json"
	jq -e '[.traceEvents[] | select(.name == "process_name") | .args.name] == ["taskscope-demo (pid 4242)"]' "$T/q.json"
}

@test "export of a damaged file converts up to the fault and exits 1" {
	small_trace
	size=$(stat -c %s "$T/small.tsc")
	head -c $((size - 100)) "$T/small.tsc" > "$T/cut.tsc"
	run "$TASKSCOPE" export "$T/cut.tsc" --format chrome -o "$T/cut.json"
	[ "$status" -eq 1 ]
	[[ "$output" == *"converted up to there"* ]]
	jq -e '.traceEvents | length > 10' "$T/cut.json"
	run "$TASKSCOPE" export "$T/small.tsc" --format svg -o "$T/x"
	[ "$status" -eq 2 ]
}

@test "fuzz targets: the trace reader, the unwinder, the ELF readers under libFuzzer with ASan and UBSan, bounded run" {
	require_cmd clang
	[ -x "$ROOT/tests/fuzz/run" ] || { echo "missing tests/fuzz/run" >&2; return 1; }
	# a minute in all: 20 s per target
	run "$ROOT/tests/fuzz/run" --time "${FUZZ_TIME:-20}"
	echo "$output" | tail -5
	[ "$status" -eq 0 ]
}
