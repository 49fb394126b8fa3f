#!/usr/bin/env bats
# taskscope profile on real processes: per-task roots and the 3:1 CPU split of
# tests/progs/prof_victim (two tasks on one loop thread, one burning three units of work in
# burn_a for each unit the other burns in burn_b) in its three links; pprof read by go tool
# pprof; the SVG parsed as XML and rendered by headless Chromium; the wait profile of the demo's
# deadlock; a target that exits mid-profile; usage errors and output files.

load test_helper
bats_require_minimum_version 1.5.0

PROG=$BUILD/progs/prof_victim

setup() {
	spawn_setup "$PROG" "$PROG-shared" "$PROG-stripped" "$DEMO" || return 1
}

teardown() {
	stop_spawned
}

# Start a victim (program and options); returns once it printed "ready".
start_victim() {
	spawn victim "$@"
	VICTIM_PID=$PID
	wait_line "$T/victim.out" '^ready$'
}

# The total of folded file $1's lines whose root (first frame) matches regex $2, and whose
# stack holds frame $3 when given.
total() {
	awk -v root="$2" -v fn="${3:-}" '{
		n = split($0, w, " "); split($0, f, ";")
		if (f[1] !~ root) next
		if (fn != "" && (";" $0 " ") !~ (";" fn "[; ]")) next
		s += w[n] } END { print s + 0 }' "$1"
}

# Profile the victim at 999 Hz, 2 s at a time, appending to $T/cpu.folded, until its two
# tasks hold 1500 samples between them: enough for the 3:1 split to show within 20% however
# loaded the machine is (a run's count depends on the CPU the victim gets, not its split).
profile_enough() {
	local i
	: >"$T/cpu.folded"
	for i in $(seq 40); do
		"$TASKSCOPE" profile --hz 999 -d 2 "$@" -o "$T/run.folded" "$VICTIM_PID"
		cat "$T/run.folded" >>"$T/cpu.folded"
		[ $(($(total "$T/cpu.folded" '^burn-a #') + $(total "$T/cpu.folded" '^burn-b #'))) -ge 1500 ] && return 0
	done
	echo "fewer than 1500 samples of the victim's tasks after 40 runs" >&2
	return 1
}

# burn_a under burn-a's root, burn_b under burn-b's, in a 3:1 ratio (2.4 to 3.6).
check_split() {
	local a b a_fn b_fn cross
	a=$(total "$T/cpu.folded" '^burn-a #')
	b=$(total "$T/cpu.folded" '^burn-b #')
	a_fn=$(total "$T/cpu.folded" '^burn-a #' "${1:-burn_a}")
	b_fn=$(total "$T/cpu.folded" '^burn-b #' "${2:-burn_b}")
	cross=$(($(total "$T/cpu.folded" '^burn-a #' "${2:-burn_b}") + $(total "$T/cpu.folded" '^burn-b #' "${1:-burn_a}")))
	echo "burn-a $a ($a_fn in burn_a), burn-b $b ($b_fn in burn_b), $cross crossed"
	[ "$cross" = 0 ]
	# nearly every sample of each task is in its own function (the rest: yields)
	[ $((a_fn * 10)) -ge $((a * 9)) ] && [ $((b_fn * 10)) -ge $((b * 9)) ]
	[ $((a_fn * 10)) -ge $((b_fn * 24)) ] && [ $((a_fn * 10)) -le $((b_fn * 36)) ]
}

# ---- usage: no privileges needed ----

@test "profile: --help, usage errors" {
	run "$TASKSCOPE" profile --help
	[ "$status" -eq 0 ]
	[[ $output == *"USAGE: taskscope profile"* ]]
	[[ $output == *"frame pointers"* ]]
	run "$TASKSCOPE" profile
	[ "$status" -eq 2 ]
	[[ $output == *"no PID given"* ]]
	run "$TASKSCOPE" profile --by thread 1
	[ "$status" -eq 2 ]
	[[ $output == *"--by takes task, name or coro"* ]]
	run "$TASKSCOPE" profile -f png 1
	[ "$status" -eq 2 ]
	[[ $output == *"--format takes folded, pprof or svg"* ]]
	run "$TASKSCOPE" profile --hz 0 1
	[ "$status" -eq 2 ]
	run "$TASKSCOPE" profile -d -1 1
	[ "$status" -eq 2 ]
}

# ---- CPU profiles ----

@test "profile: each task its own root, burn_a:burn_b 3:1 (static PIE)" {
	require_root_bpf
	start_victim "$PROG"
	profile_enough
	check_split
	# the main task never runs: no root of its own; the loop's own time under [loop N]
	! grep -q '^Task-1 #' "$T/cpu.folded"
	run "$TASKSCOPE" profile --hz 999 -d 1 --by name "$VICTIM_PID"
	[ "$status" = 0 ]
	grep -q '^burn-a;.*;burn_a [0-9]*$' <<<"$output"
	run "$TASKSCOPE" profile --hz 999 -d 1 --by coro "$VICTIM_PID"
	[ "$status" = 0 ]
	grep -q '^task_a();.*;burn_a [0-9]*$' <<<"$output"
	grep -q '^task_b();.*;burn_b [0-9]*$' <<<"$output"
}

@test "profile: 3:1 with libtaskscope.so" {
	require_root_bpf
	start_victim "$PROG-shared"
	profile_enough
	check_split
	grep -q ';task_entry;' "$T/cpu.folded" # a frame of the library, resolved in it
}

@test "profile: 3:1 stripped, with separate debug info found by build-id, and without" {
	local id
	require_root_bpf
	id=$(readelf -n "$PROG-stripped" | awk '/Build ID/ { print $3 }')
	mkdir -p "$T/debug/.build-id/${id:0:2}"
	objcopy --only-keep-debug "$PROG" "$T/debug/.build-id/${id:0:2}/${id:2}.debug"
	start_victim "$PROG-stripped"
	TASKSCOPE_DEBUG_DIRS=$T/debug profile_enough
	check_split
	# without: addresses in the file, the roots as they were
	"$TASKSCOPE" profile --hz 999 -d 1 -o "$T/bare.folded" "$VICTIM_PID"
	grep -q '^burn-a #[0-9]*;.*\[prof_victim-stripped+0x[0-9a-f]*\] [0-9]*$' "$T/bare.folded"
	! grep -q 'burn_a' "$T/bare.folded"
}

@test "profile: go tool pprof reads the .pb.gz and lists the functions" {
	require_root_bpf
	require_cmd go
	start_victim "$PROG"
	"$TASKSCOPE" profile --hz 999 -d 2 -o "$T/cpu.pb.gz" "$VICTIM_PID"
	[ "$(head -c 2 "$T/cpu.pb.gz" | od -An -tx1 | tr -d ' ')" = 1f8b ] # gzip
	run go tool pprof -top "$T/cpu.pb.gz"
	echo "$output"
	[ "$status" = 0 ]
	[[ $output == *"Type: cpu"* ]]
	grep -Eq ' burn_a$' <<<"$output"
	grep -Eq ' burn_b$' <<<"$output"
	grep -Eq ' burn-a #[0-9]+$' <<<"$output"
	# the tasks as tags too
	run go tool pprof -tags "$T/cpu.pb.gz"
	[ "$status" = 0 ]
	[[ $output == *"burn-a"* && $output == *"burn-b"* ]]
	# --format wins over the extension
	"$TASKSCOPE" profile -d 1 -f folded -o "$T/x.pb.gz" "$VICTIM_PID"
	grep -q '^burn-a #' "$T/x.pb.gz"
}

@test "profile: the SVG is XML, and Chromium renders it (not blank)" {
	require_root_bpf
	require_cmd xmllint
	require_cmd chromium
	start_victim "$PROG"
	"$TASKSCOPE" profile --hz 999 -d 2 -o "$T/cpu.svg" "$VICTIM_PID"
	xmllint --noout "$T/cpu.svg"
	grep -q '<title>burn_a (' "$T/cpu.svg"
	grep -q '<title>burn-b #[0-9]* (' "$T/cpu.svg"
	grep -q '<script' "$T/cpu.svg"
	HOME=$T timeout 120 chromium --headless --no-sandbox --disable-gpu --hide-scrollbars \
		--user-data-dir="$T/chromium" --window-size=1200,300 \
		--screenshot="$T/shot.png" "file://$T/cpu.svg" >"$T/chromium.log" 2>&1 || {
		cat "$T/chromium.log" >&2
		return 1
	}
	colours=$(python3 "$BATS_TEST_DIRNAME/png-colors.py" "$T/shot.png")
	echo "$colours colours"
	[ "$colours" -ge 20 ]
}

@test "profile: samples outside any task go to their loop" {
	local i
	require_root_bpf
	start_victim "$PROG" --sleepers 100
	# the loop's own time (timers, polling): profile until it is seen. The same tests end the
	# loop as the checks after it: a sample taken mid-switch in a task the profiler has yet
	# to read (README, "Limits") can still carry one's name on the other's stack, and such
	# a sample alone must not end it early.
	seen() {
		# the loop runs on the main thread (ts_run), its timers outside any task
		grep -Eq '^\[loop [0-9]+\];(.*;)?main;ts_run_;' "$T/all.folded" &&
			grep -Eq '^sleeper #[0-9]+;(.*;)?sleeper;' "$T/all.folded"
	}
	for i in $(seq 30); do
		"$TASKSCOPE" profile --hz 999 -d 1 -o "$T/run.folded" "$VICTIM_PID"
		cat "$T/run.folded" >>"$T/all.folded"
		seen && break
	done
	cat "$T/all.folded"
	seen
}

@test "profile: a sample taken mid-switch goes to the task whose frames it holds" {
	local ping pong cross
	require_root_bpf
	start_victim "$PROG" --pingpong
	# two tasks that do nearly nothing but switch to each other: without the frame pointer's
	# check, a sample between the loop's current-task store and the new frames (about one in
	# ten here) lands under the other task, or the loop's stack under a task
	"$TASKSCOPE" profile --hz 999 -d 3 -o "$T/pp.folded" "$VICTIM_PID"
	ping=$(total "$T/pp.folded" '^ping #')
	pong=$(total "$T/pp.folded" '^pong #')
	cross=$(($(total "$T/pp.folded" '^ping #' pong_task) + $(total "$T/pp.folded" '^pong #' ping_task) +
		$(total "$T/pp.folded" '^p[io]ng #' main) + $(total "$T/pp.folded" '^\[loop ' 'p[io]ng_task')))
	echo "ping $ping, pong $pong, $cross crossed"
	grep -E '^ping #[^;]*;(.*;)?(pong_task|main)[; ]|^pong #[^;]*;(.*;)?(ping_task|main)[; ]|^\[loop [^;]*;(.*;)?p[io]ng_task[; ]' "$T/pp.folded" | head -5
	[ $((ping + pong)) -ge 500 ]
	[ $((ping * 4)) -ge "$pong" ] && [ $((pong * 4)) -ge "$ping" ]
	[ "$cross" = 0 ]
}

@test "profile: the target's exit ends the profile, which is written" {
	require_root_bpf
	spawn demo "$DEMO" --threads 1 --tasks 1 --hog --duration 2 --truth "$T/truth"
	wait_for_lines "$T/truth"
	run timeout 60 "$TASKSCOPE" profile --hz 999 -o "$T/cpu.folded" "$PID"
	[ "$status" = 0 ]
	[[ $output == *"process $PID exited; profile complete"* ]]
	grep -Eq '^hog #[0-9]+;(.*;)?hog;' "$T/cpu.folded"
}

@test "profile: SIGINT writes the profile; SIGKILL leaves no program, and the target runs on" {
	require_root_bpf
	start_victim "$PROG"
	spawn prof "$TASKSCOPE" profile -v --hz 999 -o "$T/int.folded" "$VICTIM_PID"
	wait_line "$T/prof.err" 'runtime in'
	sleep 1 # some samples to write; any count passes, none included
	kill -INT "$PID"
	wait_exit "$PID" 30
	[ "$RC" = 0 ]
	[ -f "$T/int.folded" ]
	! grep -Evq '^(burn-[ab] #[0-9]+|\[loop [0-9]+\])(;[^;]+)+ [0-9]+$' "$T/int.folded"
	spawn prof2 "$TASKSCOPE" profile -v --hz 999 -o "$T/kill.folded" "$VICTIM_PID"
	wait_line "$T/prof2.err" 'runtime in'
	# its sampler attached: the program shows in the kernel's list
	for _ in $(seq 100); do bpftool prog show | grep -q tsp_sample && break; sleep 0.1; done
	bpftool prog show | grep -q tsp_sample
	kill -KILL "$PID"
	wait_exit "$PID" 30
	[ ! -e "$T/kill.folded" ]
	for _ in $(seq 100); do bpftool prog show | grep -q tsp_sample || break; sleep 0.1; done
	! bpftool prog show | grep -q tsp_sample
	kill -0 "$VICTIM_PID"
	grep -qx ready "$T/victim.out"
}

# ---- wait profiles ----

@test "profile --wait: the demo's deadlocked tasks under their await frame" {
	local t
	spawn demo "$DEMO" --threads 2 --tasks 2 --deadlock --truth "$T/truth"
	wait_for_lines "$T/truth"
	run timeout 60 "$TASKSCOPE" profile --wait -d 1 "$PID"
	echo "$output"
	[ "$status" = 0 ]
	for t in deadlock-A deadlock-B deadlock-C; do
		grep -Eq "^$t #[0-9]+;(.*;)?deadlocked;ts_await;.* [0-9]+$" <<<"$output"
	done
	# the workers wait elsewhere, and nothing runs
	grep -Eq '^worker-0-0 #[0-9]+;(.*;)?worker;ts_sleep_ns;' <<<"$output"
	! grep -q '^\[loop' <<<"$output"
	run timeout 60 "$TASKSCOPE" profile --wait --by coro -d 1 -o "$T/wait.pb.gz" "$PID"
	[ "$status" = 0 ]
	if command -v go >/dev/null; then
		run go tool pprof -top "$T/wait.pb.gz"
		[ "$status" = 0 ]
		[[ $output == *"Type: wait"* ]]
		grep -Eq ' deadlocked\(\)$' <<<"$output"
	fi
}

@test "profile: a task name with ';', XML's specials, controls, bad UTF-8 and U+FFFE stays inert" {
	start_victim "$PROG" --odd-name
	run -0 timeout 60 "$TASKSCOPE" profile --wait -d 1 -o "$T/w.folded" "$VICTIM_PID"
	cat -A "$T/w.folded"
	# one line per stack, each "frame;frame;... VALUE": the name broke no line, added no ';'
	! grep -Evq '^[^;]+(;[^;]+)+ [0-9]+$' "$T/w.folded"
	! grep -q $'\e' "$T/w.folded"
	grep -q '^odd:<b>&"q"\\n\\e\[31m\\xff'$'\xef\xbf\xbe'' #[0-9]*;' "$T/w.folded"
	run -0 timeout 60 "$TASKSCOPE" profile --wait -d 1 -o "$T/w.svg" "$VICTIM_PID"
	xmllint --noout "$T/w.svg"
	grep -q '<title>odd:&lt;b&gt;&amp;&quot;q&quot;\\n\\e\[31m\\xff\\uFFFE #[0-9]* (' "$T/w.svg"
	if command -v go >/dev/null; then
		run -0 timeout 60 "$TASKSCOPE" profile --wait -d 1 -o "$T/w.pb.gz" "$VICTIM_PID"
		run -0 go tool pprof -top "$T/w.pb.gz"
		grep -q 'odd:.*&"q"' <<<"$output" # pprof shortens the <b> away, as a C++ template
	fi
}

# ---- the output file ----

@test "profile: -o never follows a symbolic link" {
	echo precious >"$T/precious"
	ln -s precious "$T/link"
	spawn demo "$DEMO" --threads 1 --tasks 1
	wait_exec "$PID" "$DEMO"
	run "$TASKSCOPE" profile --wait -d 1 -o "$T/link" "$PID"
	[ "$status" = 1 ]
	[[ $output == *"cannot create"* ]]
	[ "$(cat "$T/precious")" = precious ]
}

# ---- the shell completion (tools/completion), run on the build's CLI ----

complete_words() {
	complete_in "$ROOT/tools/completion/taskscope.bash" "$@"
}

@test "profile: the completion offers its options, their values and the runtime's PIDs" {
	run -0 complete_words "$TASKSCOPE" ""
	grep -qx profile <<<"$output"
	run -0 complete_words "$TASKSCOPE" profile --
	for o in --by --duration --format --help --hz --output --pid --verbose --wait; do
		grep -qx -- "$o" <<<"$output" || { echo "no $o in: $output" >&2; return 1; }
	done
	run -0 complete_words "$TASKSCOPE" profile --by ""
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "coro name task " ]
	run -0 complete_words "$TASKSCOPE" profile -f ""
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "folded pprof svg " ]
	run -0 complete_words "$TASKSCOPE" profile --hz ""
	[ -z "$output" ]
	spawn demo "$DEMO" --threads 1 --tasks 1 --truth "$T/truth"
	wait_for_lines "$T/truth"
	run -0 complete_words "$TASKSCOPE" profile ""
	grep -qx "$PID" <<<"$output"
}
