#!/usr/bin/env bats
# The ports of the asyncio tutorials' examples, and the README's example (quickstart): each
# one's output must match what the tutorial shows (tests/expected/NAME.out), except for
# addresses and the order of a set's lines. quickstart-live must stay alive for ps to attach.

load test_helper
bats_require_minimum_version 1.5.0

# Addresses vary from run to run; lines listing a set ("> " lines of ts_all_tasks) come in no
# particular order, so each run of them is sorted.
normalize() {
	local line set=()
	while IFS= read -r line; do
		line=$(sed -E 's/0x[0-9a-f]+/0xADDR/g' <<<"$line")
		if [[ $line == "> "* ]]; then
			set+=("$line")
			continue
		fi
		[ ${#set[@]} -gt 0 ] && printf '%s\n' "${set[@]}" | LC_ALL=C sort
		set=()
		printf '%s\n' "$line"
	done
	[ ${#set[@]} -gt 0 ] && printf '%s\n' "${set[@]}" | LC_ALL=C sort
	return 0
}

teardown() {
	[ -n "${HOLD_PID:-}" ] && stop_proc "$HOLD_PID"
	return 0
}

check_example() {
	local name=$1
	[ -x "$EXAMPLES/$name" ] || { echo "missing $EXAMPLES/$name: run make examples" >&2; return 1; }
	run timeout 20 "$EXAMPLES/$name"
	[ "$status" -eq 0 ] || { echo "$name exited with $status" >&2; return 1; }
	diff -u <(normalize < "$ROOT/tests/expected/$name.out") <(normalize <<<"$output")
}

@test "seed-current-main: the function given to ts_run is Task-1" {
	check_example seed-current-main
}

@test "seed-current-coro: a plain function called by a task sees the calling task" {
	check_example seed-current-coro
}

@test "seed-current-task: a spawned task is Task-2 and sees itself" {
	check_example seed-current-task
}

@test "seed-await-self: a task awaiting itself gets an error and goes on" {
	check_example seed-await-self
}

@test "seed-cancel-self: a task cancels itself and finishes cancelled" {
	check_example seed-cancel-self
}

@test "cancel-swallow: a task that swallows -ECANCELED and returns finishes done" {
	check_example cancel-swallow
}

@test "seed-all-tasks-one: all tasks holds the current task" {
	check_example seed-all-tasks-one
}

@test "seed-all-tasks-ten: all tasks holds main and ten not-yet-started tasks" {
	check_example seed-all-tasks-ten
}

@test "seed-wait-all: awaiting all tasks but myself" {
	check_example seed-wait-all
}

@test "seed-all-tasks-ten --hold: stays alive with eleven tasks after printing ready" {
	local out=$BATS_TEST_TMPDIR/hold.out
	# fd 3 closed: bats waits for whoever holds it
	"$EXAMPLES/seed-all-tasks-ten" --hold > "$out" 3>&- &
	HOLD_PID=$!
	local i
	for i in $(seq 200); do grep -qx ready "$out" && break; sleep 0.05; done
	grep -qx ready "$out" || { echo "no ready line" >&2; return 1; }
	sleep 0.1
	kill -0 "$HOLD_PID" || { echo "exited after ready" >&2; return 1; }
	[ "$(grep -c '^> <Task pending ' "$out")" -eq 11 ]
	[ "$(grep -c '^task [0-9] is running$' "$out")" -eq 10 ]
}

@test "quickstart: the README's example" {
	check_example quickstart
}

@test "quickstart-live: stays alive with its eleven tasks, as taskscope ps shows them" {
	require_root_bpf
	local out=$BATS_TEST_TMPDIR/live.out
	"$EXAMPLES/quickstart-live" > "$out" 3>&- &
	HOLD_PID=$!
	wait_for_lines "$out" 10
	run -0 --separate-stderr "$TASKSCOPE" ps --json "$HOLD_PID"
	jq -e '[.tasks[] | "\(.name) \(.coro)"] | sort ==
		(["Task-1 main_coro"] + [range(2; 12) | "Task-\(.) task_coro"] | sort)' \
		<<<"$output" >/dev/null || { echo "ps shows: $output" >&2; return 1; }
	kill -0 "$HOLD_PID"
}

@test "normalize: ignores addresses and the order of a set" {
	a=$(printf 'x 0x1234\n> b\n> a\ny\n' | normalize)
	b=$(printf 'x 0xbeef\n> a\n> b\ny\n' | normalize)
	[ "$a" = "$b" ]
	c=$(printf 'y\n> a\n> b\nx 0x1\n' | normalize)
	[ "$a" != "$c" ]
}
