#!/usr/bin/env bats
# The event rings (docs/rings.md): record from the rings against record --uprobes on the same
# deterministic workload, a recorder killed with SIGKILL, rings overflowed on purpose, the
# flight recorder, targets that write over their own ring, and runtimes without rings.

load test_helper

VICTIM=$BUILD/progs/rec_victim
SCRIBBLER=$BUILD/progs/ring_scribbler

setup() {
	spawn_setup || return 1
}

teardown() {
	stop_spawned
	return 0
}

# Stop the recorder with SIGINT; it must end cleanly.
stop_record() {
	kill -INT "$REC"
	wait_exit "$REC" 60
	[ "$RC" = 0 ] || { echo "record exited $RC:" >&2; cat "$T/rec.err" >&2; return 1; }
}

# The rings probe's semaphore in process $1, as `probes` reads it.
rings_sem() {
	"$TASKSCOPE" probes --json "$1" | jq '[.probes[] | select(.name == "rings") | .semaphore_count] | max'
}

# Record the victim's workload from its go file on, one loop thread, and print the events
# from its first task creation on, without their times, one JSON object per line.
record_workload() {
	local mode=$1 args=() victim=$VICTIM
	[ "$mode" = uprobes ] && args=(--uprobes)
	[ "$mode" = rings-v2 ] && victim=$VICTIM-v2
	spawn v "$victim" --threads 0 --tasks 60 --batch 7 --yields 4 --park 2 "$T/go.$mode"
	local v=$PID
	wait_line "$T/v.out" '^ready'
	start_record "$T/$mode.tsc" "$v" "${args[@]}"
	touch "$T/go.$mode"
	wait_line "$T/v.out" '^created'
	stop_record
	stop_proc "$v"
	# one thread, whose id differs between runs; the sleeps' deadlines are times too; ready
	# events are the rings' alone (no probe marks them)
	"$TASKSCOPE" dump --json "$T/$mode.tsc" |
		jq -c 'select(.ts_ns and .type != "ready") | del(.t, .ts_ns, .tid, .loop_tid) |
		       if .reason == "sleep" then del(.object) else . end' |
		awk '/"type":"create"/ { on = 1 } on' > "$T/$mode.events"
}

@test "record: the rings and the uprobes give the same events in the same order" {
	require_root_bpf
	record_workload rings
	grep -q 'from its event rings' "$T/rec.err"
	record_workload uprobes
	# 60 short tasks and 2 parked ones, each created, each short one finished
	[ "$(grep -c '"type":"create"' "$T/rings.events")" = 62 ]
	[ "$(grep -c '"type":"finish"' "$T/rings.events")" = 60 ]
	[ "$(grep -c '"type":"rename"' "$T/rings.events")" = 2 ]
	diff "$T/uprobes.events" "$T/rings.events"
}

@test "record: the rings of an ABI version 2 runtime (head and counts where they were) read the same, every event counted" {
	require_root_bpf
	record_workload rings
	record_workload rings-v2
	grep -q 'from its event rings' "$T/rec.err"
	diff "$T/rings.events" "$T/rings-v2.events"
	# what the ring fired, by type, is read from version 2's counts: all of it recorded
	# (a count read from the wrong place would not match what was recorded)
	grep -E '^taskscope: (create|switch|finish|wait|ready) ' "$T/rec.err" > "$T/counts"
	[ "$(wc -l < "$T/counts")" = 5 ]
	awk '{ if ($3 != $4 || $5 != 0 || $3 == 0) exit 1 }' "$T/counts"
}

@test "record: a recorder killed with SIGKILL leaves the rings semaphore at 0 and the rings unwritten" {
	require_root_bpf
	spawn v "$VICTIM" --threads 2 --rate 20000 "$T/go"
	local v=$PID
	touch "$T/go"
	wait_line "$T/v.out" '^ready'
	start_record "$T/killed.tsc" "$v"
	[ "$(rings_sem "$v")" -ge 1 ]
	kill -KILL "$REC"
	wait_exit "$REC"
	for i in $(seq 100); do [ "$(rings_sem "$v")" = 0 ] && break; sleep 0.1; done
	[ "$(rings_sem "$v")" = 0 ]
	# what each ring fired, twice, with the victim at work in between: the same
	"$TASKSCOPE" -v record --flight -o "$T/a.tsc" "$v" 2> "$T/a.err"
	grep -o 'ring of thread [0-9]* (loop [0-9]*): [0-9]* fired' "$T/a.err" | sort > "$T/a.fired"
	[ -s "$T/a.fired" ]
	local cpu0 cpu
	cpu0=$(awk '{ print $14 + $15 }' "/proc/$v/stat")
	for i in $(seq 600); do
		cpu=$(awk '{ print $14 + $15 }' "/proc/$v/stat")
		[ "$cpu" -ge $((cpu0 + 10)) ] && break
		sleep 0.1
	done
	[ "$cpu" -ge $((cpu0 + 10)) ]
	"$TASKSCOPE" -v record --flight -o "$T/b.tsc" "$v" 2> "$T/b.err"
	grep -o 'ring of thread [0-9]* (loop [0-9]*): [0-9]* fired' "$T/b.err" | sort > "$T/b.fired"
	diff "$T/a.fired" "$T/b.fired"
	kill -0 "$v"
}

@test "record: rings overflowed on purpose: recorded + lost == fired, per type" {
	require_root_bpf
	spawn v env TASKSCOPE_RING_SIZE=32K "$VICTIM" --threads 2 --tasks 400 --batch 16 \
		--yields 500 "$T/go"
	local v=$PID
	wait_line "$T/v.out" '^ready'
	# the smallest backlog made ahead, too: the rings lap before any copier could come
	start_record "$T/over.tsc" "$v" -b 1M
	touch "$T/go"
	wait_line "$T/v.out" '^created' 600
	stop_record
	rec_table > "$T/table"
	cat "$T/table"
	[ "$(wc -l < "$T/table")" = 8 ] # the 7 event types and ready
	awk '$2 != $3 + $4 { print "bad:", $0; bad = 1 } END { exit bad }' "$T/table"
	# events were lost, and the file says how many of each type
	[ "$(awk '{ s += $4 } END { print s }' "$T/table")" -gt 0 ]
	"$TASKSCOPE" dump --json "$T/over.tsc" | jq -r 'select(.type == "lost") | "\(.event) \(.count)"' |
		awk '{ n[$1] += $2 } END { for (t in n) print t, n[t] }' | sort > "$T/file.lost"
	# (a lost ready has no LOST record: the file counts types 1..7; it is a latency fewer)
	awk '$4 > 0 && $1 != "ready" { print $1, $4 }' "$T/table" | sort > "$T/table.lost"
	diff "$T/table.lost" "$T/file.lost"
}

@test "record: a process that exits mid-record keeps its last events: every one recorded" {
	# the victim exits within a millisecond of its last events: they are read from the
	# recorder's own mapping of its rings, which outlives the process. It goes once the
	# recorder has found its three loops' rings (made at their first events).
	spawn v "$VICTIM" --threads 2 --tasks 3000 --park 4 --exit-after "$T/exit" "$T/go"
	local v=$PID
	wait_line "$T/v.out" '^ready'
	start_record "$T/e.tsc" "$v" --duration 60
	touch "$T/go"
	wait_line "$T/v.out" '^created'
	wait_rings_mapped 3
	touch "$T/exit"
	wait_exit "$REC" 20
	cat "$T/rec.err"
	[ "$RC" -eq 0 ]
	grep -q "^taskscope: target $v exited; trace complete" "$T/rec.err"
	grep -q '^exiting' "$T/v.out"
	! grep -q 'went with it' "$T/rec.err"
	run "$TASKSCOPE" dump --json "$T/e.tsc"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" > "$T/e.jsonl"
	[ "$(tail -1 "$T/e.jsonl" | jq -r '[.complete, .lost_total] | @tsv')" = "true	0" ]
	[ "$(jq -c 'select(.type == "create")' "$T/e.jsonl" | wc -l)" -eq 3004 ]
	# the parked tasks cancelled and the loops stopped: the very last events
	[ "$(jq -c 'select(.type == "finish" and .outcome == "cancelled")' "$T/e.jsonl" | wc -l)" -eq 4 ]
	[ "$(jq -c 'select(.type == "thread_stop")' "$T/e.jsonl" | wc -l)" -eq 3 ]
	# fired == recorded per type, from the rings' own counts
	rec_table | awk '$3 != $2 || $4 != 0 { bad = 1; print "lost:", $0 } END { exit bad }'
}

@test "record --flight: the last events, in order per thread, with nobody attached before" {
	require_root_bpf
	spawn v env TASKSCOPE_FLIGHT_RECORDER=1M "$VICTIM" --threads 2 --tasks 30 --yields 3 "$T/go"
	local v=$PID
	wait_line "$T/v.out" '^ready'
	touch "$T/go"
	wait_line "$T/v.out" '^created'
	[ "$(rings_sem "$v")" = 0 ]
	run "$TASKSCOPE" record --flight -o "$T/f.tsc" "$v"
	[ "$status" = 0 ]
	"$TASKSCOPE" dump --json "$T/f.tsc" | jq -c 'select(.ts_ns)' > "$T/f.json"
	# every short task's end is there, the last one included
	[ "$(jq -s '[.[] | select(.type == "finish")] | length' "$T/f.json")" = 30 ]
	last=$(jq -s '[.[] | select(.type == "create") | .id] | max' "$T/f.json")
	jq -e -s --argjson id "$last" '[.[] | select(.type == "finish" and .id == $id)] | length == 1' "$T/f.json"
	# per thread, in the order it ran: a task waits or finishes only while switched in there
	jq -e -s 'group_by(.tid) | all(reduce .[] as $e ({cur: null, ok: true};
		if $e.type == "switch" then .cur = $e.next
		elif ($e.type == "wait" or $e.type == "finish") and .cur != null then
			.ok = (.ok and $e.id == .cur) else . end) | .ok)' "$T/f.json"
	# each task created, then run, then finished
	jq -e -s --argjson id "$last" '[.[] | select((.type == "create" and .id == $id) or
		(.type == "switch" and .next == $id) or (.type == "finish" and .id == $id)) | .type] |
		.[0] == "create" and .[-1] == "finish" and index("switch") != null' "$T/f.json"
}

@test "record --flight: a target that wrote over its ring gets a clear error, and a readable file" {
	require_root_bpf
	for mode in none header slots; do
		spawn s "$SCRIBBLER" "$mode"
		local s=$PID
		wait_line "$T/s.out" '^ready'
		run "$TASKSCOPE" record --flight -o "$T/$mode.tsc" "$s"
		echo "$mode: $status: $output"
		case $mode in
		none) [ "$status" = 0 ] ;;
		header) [ "$status" = 9 ]; [[ $output == *"has lost its magic number: the process wrote over it"* ]] ;;
		slots) [ "$status" = 9 ]; [[ $output == *"failed validation: the process wrote over its ring"* ]] ;;
		esac
		kill -0 "$s"
		"$TASKSCOPE" dump "$T/$mode.tsc" > /dev/null
		stop_proc "$s"
	done
	# the control holds the ping-pong: 3000 yields of each task, the last 2040 slots of them
	[ "$("$TASKSCOPE" dump --json "$T/none.tsc" | jq -c 'select(.ts_ns)' | wc -l)" -gt 1000 ]
}

# A copy of the victim whose descriptor says ABI version $1 (the field is plain data: no
# relocation touches it).
victim_abi() {
	local off
	off=$(readelf -SW "$VICTIM" | awk '$2 == ".taskscope_debug" { print $5 } $3 == ".taskscope_debug" { print $6 }')
	[ -n "$off" ]
	cp "$VICTIM" "$T/victim-abi$1"
	printf "$(printf '\\x%02x' "$1")" | dd of="$T/victim-abi$1" bs=1 seek=$((0x$off + 8)) conv=notrunc status=none
}

@test "record: a runtime without rings (descriptor ABI version 1) is recorded with uprobes, saying so" {
	require_root_bpf
	victim_abi 1
	spawn v "$T/victim-abi1" --threads 1 --tasks 5 "$T/go"
	local v=$PID
	wait_line "$T/v.out" '^ready'
	start_record "$T/v1.tsc" "$v"
	grep -q 'offers no event rings .*: recording with uprobes' "$T/rec.err"
	touch "$T/go"
	wait_line "$T/v.out" '^created'
	stop_record
	[ "$("$TASKSCOPE" dump --json "$T/v1.tsc" | jq -c 'select(.type == "finish")' | wc -l)" = 5 ]
	run "$TASKSCOPE" record --flight -o "$T/v1f.tsc" "$v"
	[ "$status" = 1 ]
	[[ $output == *"has no event rings"* ]]
}

@test "a descriptor of a later ABI version is refused with exit 10, as version 1 readers refuse version 2" {
	victim_abi 4
	spawn v "$T/victim-abi4" --threads 1 --tasks 5 "$T/go"
	wait_line "$T/v.out" '^ready'
	run "$TASKSCOPE" ps "$PID"
	[ "$status" = 10 ]
	[[ $output == *"ABI version 4; this taskscope reads versions 1 to 3"* ]]
}
