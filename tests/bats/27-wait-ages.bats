#!/usr/bin/env bats
# Wait ages, on a live victim that knows the truth (tests/progs/waits.c): since when each task
# waits (ps's WAITED, waited_ns; tree), ps --stuck, where each task was spawned (spawned_at),
# how late a blocked loop's timers are (lag_ns), and an older-ABI target (waits-v1, the
# runtime's first descriptor form) still read, without ages. Ages are checked against the
# victim's own clock readings and the snapshot's time, never against how fast we run.

load test_helper
bats_require_minimum_version 1.5.0

MS=1000000

setup() {
	spawn_setup || return 1
	WAITS=$BUILD/progs/waits
	SCHEMA=$ROOT/docs/json/schema.json
	CHECK=$ROOT/tests/bats/json-validate.py
}

teardown() {
	stop_spawned
	return 0
}

# start_waits BINARY [ARGS...]: the victim, once its truth is written.
start_waits() {
	local bin=$1
	shift
	spawn waits "$bin" --truth "$T/truth" "$@"
	VICTIM=$PID
	wait_line "$T/waits.out" '^ready$'
}

# Each stuck task's waited_ns in ps.json against the truth at the snapshot's time: within
# 10% + 50 ms.
check_waited() { # ps.json
	jq -e -n --slurpfile truth "$T/truth" --slurpfile ps "$1" --argjson ms "$MS" '
		$ps[0].taken_ns as $now |
		[ $truth[] | select(.kind == "stuck") | . as $w |
		  ($ps[0].tasks[] | select(.id == $w.id)) as $t |
		  ($now - $w.since_ns) as $true |
		  select($t.waited_ns == null or
			 ($t.waited_ns - $true | fabs) > $true / 10 + 50 * $ms) |
		  { name: $w.name, truth: $true, waited: $t.waited_ns } ] as $bad |
		if ($bad | length) > 0 then "waited_ns off: \($bad)"
		elif ([ $truth[] | select(.kind == "stuck") ] | length) != 5 then "truth short"
		else true end' | grep -qx true || {
		jq -n --slurpfile truth "$T/truth" --slurpfile ps "$1" \
			'[$ps[0].taken_ns, [$ps[0].tasks[] | {id, name, waited_ns}], $truth]' >&2
		return 1
	}
}

# A table age ("350ms", "12.3s", "5m03s", "2h05m") in ns.
age_ns() {
	awk -v a="$1" 'BEGIN {
		if (a ~ /^[0-9]+ms$/) { sub(/ms/, "", a); printf "%d\n", a * 1e6; exit }
		if (a ~ /^[0-9.]+s$/) { sub(/s/, "", a); printf "%d\n", a * 1e9; exit }
		if (a ~ /^[0-9]+m[0-9]+s$/) { split(a, p, /[ms]/); printf "%d\n", (p[1] * 60 + p[2]) * 1e9; exit }
		if (a ~ /^[0-9]+h[0-9]+m$/) { split(a, p, /[hm]/); printf "%d\n", (p[1] * 3600 + p[2] * 60) * 1e9; exit }
		exit 1 }'
}

@test "ps --json: waited_ns of tasks parked for known times, within 10% + 50 ms of the truth" {
	start_waits "$WAITS"
	"$TASKSCOPE" ps --no-bpf --json "$VICTIM" > "$T/ps.json"
	python3 "$CHECK" "$SCHEMA" "ps --json" "$T/ps.json"
	[ "$(jq .wait_ages "$T/ps.json")" = true ]
	check_waited "$T/ps.json"
	# a task not waiting has none; every thread's lag is known
	[ "$(jq '[.tasks[] | select(.state != "waiting" and .waited_ns != null)] | length' \
		"$T/ps.json")" -eq 0 ]
	[ "$(jq '[.threads[] | select(.lag_ns == null)] | length' "$T/ps.json")" -eq 0 ]
}

@test "ps --json with BPF: waited_ns within 10% + 50 ms of the truth, reconciled" {
	require_root_bpf
	start_waits "$WAITS"
	"$TASKSCOPE" ps --json "$VICTIM" > "$T/ps.json"
	[ "$(jq .reconciled "$T/ps.json")" = true ]
	check_waited "$T/ps.json"
}

@test "ps: the WAITED column, reason then age, between the ages at two snapshots around it" {
	start_waits "$WAITS"
	"$TASKSCOPE" ps --no-bpf --json "$VICTIM" > "$T/before.json"
	"$TASKSCOPE" ps --no-bpf "$VICTIM" > "$T/ps.txt"
	"$TASKSCOPE" ps --no-bpf --json "$VICTIM" > "$T/after.json"
	grep -qE '^ *ID NAME +STATE +WAITED +THREAD +PARENT +AGE CORO$' "$T/ps.txt"
	local t0 t1 name wait since row age ns lo hi
	t0=$(jq .taken_ns "$T/before.json")
	t1=$(jq .taken_ns "$T/after.json")
	while read -r name wait since; do
		row=$(grep -E "^ *[0-9]+ $name " "$T/ps.txt")
		case $wait in
		fd) [[ $row =~ waiting\ fd\ [0-9]+\ for\ ([0-9.hms]+)\  ]] ;;
		await) [[ $row =~ waiting\ await\ [0-9]+\ for\ ([0-9.hms]+)\  ]] ;;
		sleep) [[ $row =~ waiting\ sleep\ for\ ([0-9.hms]+)\ \([0-9.hmsd]+\ left\)\  ]] ;;
		*) [[ $row =~ waiting\ $wait\ for\ ([0-9.hms]+)\  ]] ;;
		esac || { echo "no age in: $row" >&2; return 1; }
		age=${BASH_REMATCH[1]}
		ns=$(age_ns "$age")
		# the table rounds down to 0.1 s (1 s past a minute)
		lo=$(((t0 - since) * 9 / 10 - 50 * MS - 1000 * MS))
		hi=$(((t1 - since) * 11 / 10 + 50 * MS))
		[ "$ns" -ge "$lo" ] && [ "$ns" -le "$hi" ] ||
			{ echo "$name: $age not in [$lo, $hi] ns" >&2; return 1; }
	done < <(jq -r 'select(.kind == "stuck") | "\(.name) \(.wait) \(.since_ns)"' "$T/truth")
}

@test "ps --stuck: exactly the tasks waiting longer than the threshold, in JSON and the table" {
	start_waits "$WAITS"
	run -0 "$TASKSCOPE" ps --no-bpf --json --stuck 500ms "$VICTIM"
	printf '%s\n' "$output" > "$T/stuck.json"
	python3 "$CHECK" "$SCHEMA" "ps --json" "$T/stuck.json"
	[ "$(jq .stuck_ns "$T/stuck.json")" -eq $((500 * MS)) ]
	# every stuck task is at least a second old by the truth; the others wait 20 ms at a time
	[ "$(jq -n --slurpfile truth "$T/truth" --slurpfile ps "$T/stuck.json" '
		[$truth[] | select(.kind == "stuck") | select($ps[0].taken_ns - .since_ns > 1e9)]
		| length')" -eq 5 ]
	diff <(jq -r 'select(.kind == "stuck") | .name' "$T/truth" | sort) \
		<(jq -r '.tasks[].name' "$T/stuck.json" | sort)
	# each with its age over the threshold
	[ "$(jq '[.tasks[] | select(.waited_ns <= 500000000)] | length' "$T/stuck.json")" -eq 0 ]
	run -0 "$TASKSCOPE" ps --no-bpf --stuck 0.5 "$VICTIM"
	[[ ${lines[1]} == "5 tasks waiting longer than 500ms" ]]
	diff <(jq -r 'select(.kind == "stuck") | .name' "$T/truth" | sort) \
		<(awk '/^ *ID NAME/ { on = 1; next } on { print $2 }' <<<"$output" | sort)
	# a threshold past every wait lists none; a bad duration is a usage error
	run -0 "$TASKSCOPE" ps --no-bpf --json --stuck 1h "$VICTIM"
	[ "$(jq '.tasks | length' <<<"$output")" -eq 0 ]
	local bad
	for bad in abc -1 1x '' ' 1' inf 5e30; do
		run -2 "$TASKSCOPE" ps --no-bpf --stuck "$bad" "$VICTIM"
		[[ $output == *"--stuck takes a duration"* ]]
	done
	run -2 "$TASKSCOPE" tree --no-bpf --stuck 1s "$VICTIM"
	[[ $output == *"--stuck is an option of ps"* ]]
}

@test "spawned_at: the function, file and line of each task's spawn (static and shared runtime)" {
	local bin
	for bin in "$WAITS" "$WAITS-shared"; do
		start_waits "$bin"
		"$TASKSCOPE" ps --no-bpf --json "$VICTIM" > "$T/ps.json"
		jq -e -n --slurpfile truth "$T/truth" --slurpfile ps "$T/ps.json" '
			[ $truth[] | select(.kind != "blocked") | . as $w |
			  ($ps[0].tasks[] | select(.id == $w.id)) as $t |
			  select($t.spawned_at.fn != "spawn_group" or
				 $t.spawned_at.line != $w.spawn_line or
				 ($t.spawned_at.file | endswith("tests/progs/waits.c") | not) or
				 $t.spawned_at.addr <= 0) ] | length == 0' >/dev/null || {
			jq -c '.tasks[] | {name, spawned_at}' "$T/ps.json" >&2
			return 1
		}
		# the first task was spawned by ts_run, called from main
		[ "$(jq -r '.tasks[] | select(.id == 1) | .spawned_at.fn' "$T/ps.json")" = main ]
		"$TASKSCOPE" tree --no-bpf --json "$VICTIM" > "$T/tree.json"
		python3 "$CHECK" "$SCHEMA" "tree --json" "$T/tree.json"
		[ "$(jq '[.tasks[] | select(.spawned_at.fn == "spawn_group")] | length' \
			"$T/tree.json")" -eq 9 ]
		stop_proc "$VICTIM"
	done
}

@test "tree: each waiting task shows for how long" {
	start_waits "$WAITS"
	run -0 "$TASKSCOPE" tree --no-bpf "$VICTIM"
	grep -qE '^stuck-fd \(3\) stuck_task\(\) waiting fd [0-9]+ for [0-9.]+s$' <<<"$output"
	grep -qE '^stuck-await \(6\) stuck_task\(\) waiting await 5 for [0-9.]+s$' <<<"$output"
	grep -qE '^└─ stuck-sleep \(5\) stuck_task\(\) waiting sleep for [0-9.]+s \([0-9hmsd]+ left\)$' \
		<<<"$output"
	grep -qE '^busy-0 \([0-9]+\) busy_task\(\) waiting sleep for [0-9]+ms \([0-9]+ms left\)$' \
		<<<"$output"
}

@test "a loop blocked in a synchronous call: its lag_ns, from the victim's clock" {
	start_waits "$WAITS" --block
	"$TASKSCOPE" ps --no-bpf --json "$VICTIM" > "$T/ps.json"
	local tid since now lag
	tid=$(jq 'select(.kind == "blocked") | .tid' "$T/truth")
	since=$(jq 'select(.kind == "blocked") | .since_ns' "$T/truth")
	now=$(jq .taken_ns "$T/ps.json")
	lag=$(jq --argjson tid "$tid" '.threads[] | select(.tid == $tid) | .lag_ns' "$T/ps.json")
	# its ticker's timer fell due at most 5 ms after the block began, and cannot fire since
	[ "$lag" -ge $((now - since - 5 * MS)) ] ||
		{ echo "lag $lag < $((now - since)) - 5 ms" >&2; return 1; }
	[ "$lag" -le $(((now - since) * 11 / 10 + 50 * MS)) ]
}

@test "an older-ABI target (the runtime's first descriptor form): read whole, without ages" {
	start_waits "$WAITS-v1"
	"$TASKSCOPE" ps --no-bpf --json "$VICTIM" > "$T/ps.json"
	python3 "$CHECK" "$SCHEMA" "ps --json" "$T/ps.json"
	[ "$(jq .wait_ages "$T/ps.json")" = false ]
	# every task of the truth, with its name and wait
	jq -e -n --slurpfile truth "$T/truth" --slurpfile ps "$T/ps.json" '
		[ $truth[] | select(.kind != "blocked") | . as $w |
		  select([$ps[0].tasks[] | select(.id == $w.id and .name == $w.name and
			  .wait == $w.wait and .thread == $w.tid)] | length != 1) ] | length == 0' \
		>/dev/null
	[ "$(jq '[.tasks[] | select(.waited_ns != null or .spawned_at != null)] | length' \
		"$T/ps.json")" -eq 0 ]
	[ "$(jq '[.threads[] | select(.lag_ns != null)] | length' "$T/ps.json")" -eq 0 ]
	# the table shows each wait without an age; --stuck says it cannot tell
	run -0 "$TASKSCOPE" ps --no-bpf "$VICTIM"
	grep -qE '^ *[0-9]+ stuck-fd +waiting +fd [0-9]+ +[0-9]+ ' <<<"$output"
	grep -q ' for ' <<<"$output" && { echo "an age from an older runtime" >&2; return 1; }
	run -0 "$TASKSCOPE" ps --no-bpf --stuck 1s "$VICTIM"
	[[ $output == *"0 tasks waiting longer than 1.0s (its runtime does not record"* ]]
	run -0 "$TASKSCOPE" tree --no-bpf "$VICTIM"
	grep -qE '^stuck-fd \(3\) stuck_task\(\) waiting fd [0-9]+$' <<<"$output"
}
