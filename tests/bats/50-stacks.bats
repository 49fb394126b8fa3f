#!/usr/bin/env bats
# Stacks of suspended tasks (docs/stacks.md): `ps --stacks` and `tree --stacks` on real
# processes. The victim tests/progs/parked_stacks parks its tasks at lines marked
# "/* @park:NAME */" (the call that parks) and "/* @call:NAME */" (its caller's call), found
# here with grep -n, in its three links: static PIE, linked to libtaskscope.so, stripped.

load test_helper

PROG=$BUILD/progs/parked_stacks
SRC=$ROOT/tests/progs/parked_stacks.c

setup() {
	local f
	for f in "$TASKSCOPE" "$PROG" "$PROG-shared" "$PROG-stripped"; do
		[ -x "$f" ] || { echo "missing $f: run make" >&2; return 1; }
	done
	T=$BATS_TEST_TMPDIR
}

teardown() {
	[ -n "${VICTIM_PID:-}" ] && stop_proc "$VICTIM_PID"
	return 0
}

# The line of marker MARK (e.g. park:sleep) in the victim's source.
line_of() { marker_line "$SRC" "$1"; }

# Start the victim (a program and its options); returns once it printed "ready".
start_victim() {
	"$@" > "$T/victim.out" 2>&1 &
	VICTIM_PID=$!
	wait_for_lines "$T/victim.out" 1
	[ "$(head -1 "$T/victim.out")" = ready ] || { cat "$T/victim.out" >&2; return 1; }
}

# ps --stacks --json of the victim into $T/ps.json (registry only: no BPF, no root needed).
ps_json() {
	timeout 20 "$TASKSCOPE" ps --no-bpf --stacks --json "$@" "$VICTIM_PID" > "$T/ps.json"
}

# The real (not inlined) frames of task NAME, one word each: fn@file-basename:line.
frames_of() {
	jq -r --arg n "$1" '.tasks[] | select(.name == $n) |
		[.stack[] | select(.inlined | not) |
		 "\(.fn)@\((.file // "?") | split("/") | last):\(.line)"] | join(" ")' "$T/ps.json"
}

end_of() {
	jq -r --arg n "$1" '.tasks[] | select(.name == $n) | .stack_end' "$T/ps.json"
}

# The parked tasks' frames, exactly, whatever the link of the runtime.
check_parked_frames() {
	local sleep await fd main s
	sleep="sleep_here@parked_stacks.c:$(line_of park:sleep) sleeper@parked_stacks.c:$(line_of call:sleep)"
	await="await_here@parked_stacks.c:$(line_of park:await) awaiter@parked_stacks.c:$(line_of call:await)"
	fd="fd_here@parked_stacks.c:$(line_of park:fd) fd_waiter@parked_stacks.c:$(line_of call:fd)"
	main="main_task@parked_stacks.c:$(line_of park:main)"

	s=$(frames_of sleeper)
	echo "sleeper: $s"
	[[ " $s " == *" ts_sleep_ns@task.c:"[0-9]*" $sleep task_entry@"* ]]
	s=$(frames_of awaiter)
	echo "awaiter: $s"
	[[ " $s " == *" ts_await@task.c:"[0-9]*" $await task_entry@"* ]]
	s=$(frames_of fd-waiter)
	echo "fd-waiter: $s"
	[[ " $s " == *" ts_wait_fd@io.c:"[0-9]*" $fd task_entry@"* ]]
	s=$(frames_of Task-1)
	echo "Task-1: $s"
	[[ " $s " == *" ts_await@task.c:"[0-9]*" $main task_entry@"* ]]
	for s in sleeper awaiter fd-waiter Task-1; do
		[ "$(end_of "$s")" = complete ]
	done
	# the innermost frame is where the runtime switched away: inside the runtime
	[ "$(jq -r '.tasks[] | select(.name == "sleeper") | .stack[0].file' "$T/ps.json")" != null ]
}

@test "ps --stacks: each parked task's functions and lines, exactly (static PIE)" {
	start_victim "$PROG"
	ps_json
	check_parked_frames
	# the human output, one stack per task: frames under the task's row,
	# "#N 0xADDR fn+0xOFF (file:line)"
	run timeout 20 "$TASKSCOPE" ps --no-bpf --stacks --no-group "$VICTIM_PID"
	[ "$status" = 0 ]
	echo "$output"
	grep -Eq "^ +#[0-9]+ +0x[0-9a-f]+ sleep_here\+0x[0-9a-f]+ \(.*parked_stacks\.c:$(line_of park:sleep)\)$" <<<"$output"
	grep -Eq "^ +#[0-9]+ +0x[0-9a-f]+ fd_here\+0x[0-9a-f]+ \(.*parked_stacks\.c:$(line_of park:fd)\)$" <<<"$output"
	# the frames of the sleeper come after its row and before the next task's row
	awk '/ sleeper /{in_s=1; next} in_s && / #[0-9]/{ if ($0 ~ /sleep_here/) found=1; next } in_s{exit} END{exit !found}' <<<"$output"
}

@test "ps --stacks: the same with the runtime as a shared library" {
	start_victim "$PROG-shared"
	ps_json
	check_parked_frames
	# runtime frames resolve in libtaskscope.so, the victim's in the program
	run jq -r '.tasks[] | select(.name == "sleeper") | .stack[] |
		select(.fn == "ts_sleep_ns" or .fn == "sleep_here") | "\(.fn) \(.obj | split("/") | last)"' "$T/ps.json"
	[ "$status" = 0 ]
	[[ "$output" == *"ts_sleep_ns libtaskscope.so"* ]]
	[[ "$output" == *"sleep_here parked_stacks-shared"* ]]
}

@test "ps --stacks: a stripped binary gives addresses with its build-id, right ones, no crash" {
	local id offs fns
	start_victim "$PROG-stripped"
	ps_json
	id=$(readelf -n "$PROG-stripped" | awk '/Build ID/ { print $3 }')
	[ -n "$id" ]
	[ "$(end_of sleeper)" = complete ]
	# no symbol survives strip in a PIE's own code: every frame is an address + build-id
	run jq -r --arg id "$id" '.tasks[] | select(.name == "sleeper") | .stack[] |
		select(.fn != null or .build_id != $id)' "$T/ps.json"
	[ "$status" = 0 ]
	[ -z "$output" ]
	# and those addresses are the right ones: the unstripped twin resolves them
	offs=$(jq -r '.tasks[] | select(.name == "sleeper") | .stack[] | .obj_addr - 1' "$T/ps.json" |
		awk '{ printf "0x%x\n", $1 }')
	fns=$(addr2line -f -e "$PROG" $offs | paste -sd' ')
	echo "$fns"
	[[ "$fns" == *"sleep_here "*"parked_stacks.c:$(line_of park:sleep) "* ]]
	[[ "$fns" == *"sleeper "*"parked_stacks.c:$(line_of call:sleep)"* ]]
	# the human output says the same
	run timeout 20 "$TASKSCOPE" ps --no-bpf --stacks "$VICTIM_PID"
	[ "$status" = 0 ]
	grep -q "?? (parked_stacks-stripped+0x[0-9a-f]* build-id $id)" <<<"$output"
}

@test "ps --stacks: a stripped binary with separate debug info found by build-id" {
	local id
	id=$(readelf -n "$PROG-stripped" | awk '/Build ID/ { print $3 }')
	mkdir -p "$T/debug/.build-id/${id:0:2}"
	objcopy --only-keep-debug "$PROG" "$T/debug/.build-id/${id:0:2}/${id:2}.debug"
	start_victim "$PROG-stripped"
	TASKSCOPE_DEBUG_DIRS=$T/debug ps_json
	check_parked_frames
}

@test "ps --stacks: a deep recursion is cut at the frame bound, and says so" {
	start_victim "$PROG" -d 500
	ps_json
	[ "$(end_of deep)" = truncated ]
	# 64 frames (unwind.h TSC_STACK_MAX_FRAMES), inlined ones shown with the same address
	[ "$(jq '.tasks[] | select(.name == "deep") | [.stack[] | select(.inlined | not)] | length' "$T/ps.json")" = 64 ]
	[ "$(frames_of deep | tr ' ' '\n' | grep -c "^recurse@parked_stacks.c:$(line_of park:recurse)$")" -ge 60 ]
	run timeout 20 "$TASKSCOPE" ps --no-bpf --stacks "$VICTIM_PID"
	[ "$status" = 0 ]
	grep -q "^ *\.\.\. more frames (stopped at 64 frames)$" <<<"$output"
	# the other tasks are whole
	check_parked_frames
}

@test "ps --stacks: a recursion under the bound shows every frame" {
	local want
	start_victim "$PROG" -d 20
	ps_json
	[ "$(end_of deep)" = complete ]
	want="recurse@parked_stacks.c:$(line_of park:deep)"
	for _ in $(seq 20); do want+=" recurse@parked_stacks.c:$(line_of park:recurse)"; done
	want+=" deep@parked_stacks.c:$(line_of call:deep) task_entry@"
	[[ " $(frames_of deep) " == *" ts_sleep_ns@task.c:"[0-9]*" $want"* ]]
}

@test "ps --stacks: a corrupted saved frame pointer ends the stack with a marker" {
	local c
	start_victim "$PROG" -c
	ps_json
	c="corrupt_here@parked_stacks.c:$(line_of park:corrupt) corrupted@parked_stacks.c:$(line_of call:corrupt)"
	# garbage: an address outside every stack
	[ "$(end_of corrupt-garbage)" = bad-frame ]
	[ "$(jq -r '.tasks[] | select(.name == "corrupt-garbage") | .stack_bad_fp' "$T/ps.json")" = 0xdeadbeefdeadbee8 ]
	[[ "$(frames_of corrupt-garbage)" == *" ts_sleep_ns@task.c:"[0-9]*" $c" ]]
	# a frame record pointing at itself: would loop forever without the checks
	[ "$(end_of corrupt-loop)" = bad-frame ]
	[[ "$(frames_of corrupt-loop)" == *" ts_sleep_ns@task.c:"[0-9]*" $c" ]]
	check_parked_frames
	run timeout 20 "$TASKSCOPE" ps --no-bpf --stacks "$VICTIM_PID"
	[ "$status" = 0 ]
	grep -q "^ *<bad frame pointer 0xdeadbeefdeadbee8: stack ends here>$" <<<"$output"
	# and the victim is untouched: still parked, still answering
	kill -0 "$VICTIM_PID"
}

@test "ps --stacks with the probes attached (root)" {
	require_root_bpf
	start_victim "$PROG"
	timeout 20 "$TASKSCOPE" ps --stacks --json "$VICTIM_PID" > "$T/ps.json"
	check_parked_frames
}

@test "tree --stacks: frames under each task of the await chain" {
	start_victim "$PROG"
	run timeout 20 "$TASKSCOPE" tree --no-bpf --stacks "$VICTIM_PID"
	echo "$output"
	[ "$status" = 0 ]
	# awaiter is shown above the sleeper it awaits, each with its own frames below it
	awk '/awaiter \(/ { a = NR } /await_here\+/ { w = NR } /└─ sleeper \(/ { s = NR }
	     /sleep_here\+/ { h = NR } END { exit !(a && a < w && w < s && s < h) }' <<<"$output"
	timeout 20 "$TASKSCOPE" tree --no-bpf --stacks --json "$VICTIM_PID" > "$T/ps.json"
	[[ " $(frames_of sleeper) " == *" sleep_here@parked_stacks.c:$(line_of park:sleep) "* ]]
}

# Every task whose stack was read whole shows its own coroutine function right above the
# runtime's entry frame, and a stack that was not read whole has no frames.
check_own_frames() {
	jq -e '
		[.tasks[] | select(.stack_end == "complete") |
		 [.stack[] | select(.inlined | not) | .fn] as $f |
		 select(($f | length) < 2 or $f[-1] != "task_entry" or $f[-2] != .coro)] == [] and
		[.tasks[] | select(.stack_end != "complete" and .stack_end != "truncated" and
		                   .stack_end != "bad-frame") | select(.stack | length > 0)] == [] and
		[.tasks[] | select(.coro == "worker") | .stack[].fn |
		 select(. == "churner" or . == "short_task" or . == "feeder")] == []' "$1"
}

@test "ps --stacks under churn: no task's stack holds another task's frames" {
	local n best=0
	"$DEMO" --threads 2 --tasks 50 --churn 20000 --truth "$T/truth" > "$T/demo.out" 2>&1 &
	VICTIM_PID=$!
	wait_for_lines "$T/truth" 100
	for _ in $(seq 10); do
		timeout 20 "$TASKSCOPE" ps --no-bpf --stacks --json "$VICTIM_PID" > "$T/ps.json"
		check_own_frames "$T/ps.json"
		# most of the 100 workers are parked at any moment: their stacks were checked
		# the runtime's internal helpers (sync.c's queue_wait) are its frames too
		jq -e '[.tasks[].stack[] | select(.fn == "queue_wait" and (.runtime | not))] == []' "$T/ps.json"
		n=$(jq '[.tasks[] | select(.coro == "worker" and .stack_end == "complete")] | length' "$T/ps.json")
		echo "complete worker stacks: $n"
		if [ "$n" -gt "$best" ]; then best=$n; fi
	done
	# the check saw most workers' stacks whole at least once: how many a read finds whole
	# at one moment depends on how the loaded machine interleaves the churn with it
	[ "$best" -ge 50 ]
}

@test "ps --stacks: a running task is shown running, without a stack" {
	local seen=0
	"$DEMO" --threads 1 --tasks 2 --hog --truth "$T/truth" > "$T/demo.out" 2>&1 &
	VICTIM_PID=$!
	wait_for_lines "$T/truth" 2
	for _ in $(seq 20); do
		timeout 20 "$TASKSCOPE" ps --no-bpf --stacks --json "$VICTIM_PID" > "$T/ps.json"
		[ "$(jq '[.tasks[] | select(.stack_end == "running" and (.stack | length) > 0)] | length' "$T/ps.json")" = 0 ]
		if [ "$(jq '[.tasks[] | select(.coro == "hog" and .stack_end == "running")] | length' "$T/ps.json")" = 1 ]; then
			seen=1
			break
		fi
	done
	[ "$seen" = 1 ]
	run timeout 20 "$TASKSCOPE" ps --no-bpf --stacks "$VICTIM_PID"
	[ "$status" = 0 ]
}

# ---- grouped stacks (tests/progs/stack_groups: three places, three spawn sites) ----

GROUPS_PROG=$BUILD/progs/stack_groups
GROUPS_SRC=$ROOT/tests/progs/stack_groups.c

# The line of marker MARK in stack_groups.c.
groups_line() {
	SRC=$GROUPS_SRC line_of "$1"
}

@test "ps --stacks: 10,000 tasks parked at 3 places are exactly 3 groups, with their counts, members and creators" {
	local name count
	start_victim "$GROUPS_PROG" -n 10000
	ps_json
	[ "$(jq '.stack_groups | length' "$T/ps.json")" = 3 ]
	[ "$(jq -c '[.stack_groups[].count]' "$T/ps.json")" = "[5000,3000,2000]" ]
	for name in alpha:5000:sleep beta:3000:event gamma:2000:sleep; do
		IFS=: read -r name count wait <<<"$name"
		# the group whose stack parks in park_NAME holds exactly the tasks named NAME-*
		jq -e --arg n "$name" --arg w "$wait" --argjson c "$count" --arg at "$(groups_line "park:$name")" '
			[.tasks[] | select(.name | startswith($n + "-")) | .id] as $ids |
			[.stack_groups[] | select(any(.stack[]; .fn == "park_" + $n and (.line | tostring) == $at))] as $g |
			($g | length) == 1 and $g[0].count == $c and $g[0].tasks == $ids and
			($ids | length) == $c and $g[0].wait == $w and $g[0].stack_end == "complete"' "$T/ps.json"
		# created by: the function that spawned them, at the line of its ts_spawn_on call
		jq -e --arg n "$name" --arg at "$(groups_line "spawn:$name")" '
			([.tasks[] | select(.name == $n + "-0") | .id][0]) as $first |
			[.stack_groups[] | select(.tasks[0] == $first)][0] | .spawned_at.fn == "spawn_" + $n and (.spawned_at.line | tostring) == $at and
			  (.spawned_at.file | endswith("stack_groups.c"))' "$T/ps.json"
	done
	# the text: each group's line, then its one stack
	run timeout 20 "$TASKSCOPE" ps --no-bpf --stacks "$VICTIM_PID"
	[ "$status" = 0 ]
	echo "$output" | head -40
	grep -q "^10000 tasks, 3 distinct stacks" <<<"$output"
	grep -Eqx "5000 tasks waiting sleep for [0-9.]+[a-z]+(-[0-9.]+[a-z]+)?: alpha-0 alpha-1 alpha-2 alpha-3 … alpha-4999 \(ids 1-5000\)" <<<"$output"
	grep -Eqx "3000 tasks waiting event for [^:]+: beta-0 beta-1 beta-2 beta-3 … beta-2999 \(ids 5001-8000\)" <<<"$output"
	grep -Eqx "2000 tasks waiting sleep for [^:]+: gamma-0 gamma-1 gamma-2 gamma-3 … gamma-1999 \(ids 8001-10000\)" <<<"$output"
	# each group's stack, then where its tasks were created
	awk '/^5000 tasks/ { g = NR } /park_alpha\+/ { p = NR } /^      created by spawn_alpha at / { c = NR; l = $0 }
	     END { exit !(g && g < p && p < c && c == p + 3) }' <<<"$output"
	grep -qx "      created by spawn_alpha at tests/progs/stack_groups.c:$(groups_line spawn:alpha)" <<<"$output"
	grep -qx "      created by spawn_beta at tests/progs/stack_groups.c:$(groups_line spawn:beta)" <<<"$output"
	grep -qx "      created by spawn_gamma at tests/progs/stack_groups.c:$(groups_line spawn:gamma)" <<<"$output"
	[ "$(grep -c "park_alpha+0x[0-9a-f]* (.*stack_groups\.c:$(groups_line park:alpha))$" <<<"$output")" = 1 ]
	awk '/^3000 tasks/ { g = NR } /park_beta\+/ { b = NR } /^2000 tasks/ { n = NR }
	     END { exit !(g && g < b && b < n) }' <<<"$output"
}

@test "ps --stacks: the runtime's frames fold into one line; --all-frames shows them; JSON marks them" {
	start_victim "$PROG"
	ps_json
	# runtime: the ts_* functions, what is inlined into them, and the entry frame; no other
	jq -e '.tasks[] | select(.name == "sleeper") | [.stack[] | select(.runtime) | .fn] ==
		["do_switch", "schedule_away", "suspend_", "suspend", "ts__suspend", "ts_sleep_ns", "task_entry"]' "$T/ps.json"
	jq -e '[.tasks[].stack[] | select(.runtime | not) | .fn | select(startswith("ts_") or . == "task_entry")] == []' "$T/ps.json"
	run timeout 20 "$TASKSCOPE" ps --no-bpf --stacks "$VICTIM_PID"
	[ "$status" = 0 ]
	echo "$output"
	grep -qx "      #0-5 ts_sleep_ns (runtime, 6 frames)" <<<"$output"
	grep -qx "      #0-5 ts_wait_fd (runtime, 6 frames)" <<<"$output"
	grep -qx "      #8  task_entry (runtime)" <<<"$output"
	! grep -Eq "ts__suspend|do_switch|0x[0-9a-f]+ task_entry" <<<"$output"
	grep -Eq "^      #6  0x[0-9a-f]+ sleep_here\+0x[0-9a-f]+ \(.*parked_stacks\.c:$(line_of park:sleep)\)$" <<<"$output"
	# every frame, as before
	run timeout 20 "$TASKSCOPE" ps --no-bpf --all-frames "$VICTIM_PID"
	[ "$status" = 0 ]
	grep -Eq "^      #0  0x[0-9a-f]+ do_switch \(inlined\) \(src/runtime/sched\.c:[0-9]+\)$" <<<"$output"
	grep -Eq "^      #4  0x[0-9a-f]+ ts__suspend\+0x[0-9a-f]+ " <<<"$output"
	grep -Eq "^      #8  0x[0-9a-f]+ task_entry\+0x[0-9a-f]+ " <<<"$output"
	! grep -q "(runtime" <<<"$output"
	# tree folds them the same way
	run timeout 20 "$TASKSCOPE" tree --no-bpf --stacks "$VICTIM_PID"
	grep -q "^ *#0-5 ts_sleep_ns (runtime, 6 frames)$" <<<"$output"
	run timeout 20 "$TASKSCOPE" tree --no-bpf --all-frames "$VICTIM_PID"
	grep -q "ts__suspend+0x" <<<"$output"
}

@test "ps --stacks --no-group --all-frames: each task's row and its every frame, as before grouping" {
	start_victim "$GROUPS_PROG" -n 30
	run timeout 20 "$TASKSCOPE" ps --no-bpf --no-group --all-frames "$VICTIM_PID"
	[ "$status" = 0 ]
	# 30 rows, each followed by its own 9 frames
	[ "$(grep -Ec "^ *[0-9]+ (alpha|beta|gamma)-[0-9]+ +waiting " <<<"$output")" = 30 ]
	[ "$(grep -Ec "^      #0  0x[0-9a-f]+ do_switch \(inlined\)" <<<"$output")" = 30 ]
	awk '/ beta-7 / { r = NR } r && NR == r + 7 && /park_beta\+/ { ok = 1 } END { exit !ok }' <<<"$output"
	! grep -q "distinct stack" <<<"$output"
}
