#!/usr/bin/env bats
# taskscope top against real processes: CPU of a hog among idle tasks in both modes, tasks
# appearing and disappearing within one refresh, the live view in a real terminal (tmux),
# batch and JSON frames against ps, the target exiting, losses and resyncs, usage errors.

load test_helper

setup() {
	spawn_setup || return 1
	VICTIM=$BUILD/progs/top_victim
	TMUX_SOCK=tsc-top-$$-$BATS_TEST_NUMBER
}

teardown() {
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	stop_spawned
	return 0
}

# The demo with its truth file written: every long-lived task is running.
start_demo() {
	spawn demo "$DEMO" --truth "$T/truth" "$@"
	DEMO_PID=$PID
	wait_for_lines "$T/truth"
}

# top_victim reading commands from a FIFO held open by this shell's fd 4.
start_victim() {
	mkfifo "$T/cmd"
	exec {CMD_FD}<>"$T/cmd" # read-write: opening it does not wait for the other end
	# the redirection on the command itself: a background job's stdin is /dev/null otherwise
	"$VICTIM" "$@" <"$T/cmd" >"$T/victim.out" 2>"$T/victim.err" 3>&- &
	VICTIM_PID=$!
	PIDS+=("$VICTIM_PID")
	wait_for_lines "$T/victim.out"
}

victim_cmd() {
	local n
	n=$(wc -l <"$T/victim.out")
	echo "$1" >&"$CMD_FD"
	wait_for_lines "$T/victim.out" $((n + 1))
	tail -n 1 "$T/victim.out"
}

# ---- usage and errors: no privileges needed ----

@test "top: --help, usage errors, no terminal" {
	run "$TASKSCOPE" top --help
	[ "$status" -eq 0 ]
	[[ $output == *"USAGE: taskscope top"* ]]
	[[ $output == *"--exact"* ]]
	run "$TASKSCOPE" help top
	[ "$status" -eq 0 ]
	run "$TASKSCOPE" top
	[ "$status" -eq 2 ]
	[[ $output == *"no PID given"* ]]
	run "$TASKSCOPE" top -d 0 1
	[ "$status" -eq 2 ]
	run "$TASKSCOPE" top --hz 99 --exact 1
	[ "$status" -eq 2 ]
	run "$TASKSCOPE" top -s bogus 1
	[ "$status" -eq 2 ]
	run "$TASKSCOPE" top -n 3 1
	[ "$status" -eq 2 ]
	[[ $output == *"-n is for batch"* ]]
	# stdin and stdout are not a terminal here: the live view says to use -b
	run "$TASKSCOPE" top 1
	[ "$status" -eq 2 ]
	[[ $output == *"needs a terminal"* ]]
	run "$TASKSCOPE" --help
	[[ $output == *"top "*"a live view"* ]]
}

@test "top: no such process, not a taskscope process" {
	require_root_bpf
	run "$TASKSCOPE" top -b -n 1 4000000
	[ "$status" -eq 4 ]
	spawn sleeper sleep 60
	wait_exec "$PID" sleep
	run "$TASKSCOPE" top -b -n 1 "$PID"
	[ "$status" -eq 5 ]
	[[ $output == *"not a taskscope process"* ]]
}

# ---- CPU: a hog among idle tasks ----

# check_hog FILE MODE: over the frames after the first, the hog holds most of its thread's
# time and every idle task almost none. Wide bands: a correctness check, not a timing test (on a
# loaded machine the hog's thread may get a sixth of a CPU; the hog must still hold most of it).
check_hog() {
	jq -e -s --arg mode "$2" '
		.[1:] as $f
		| ($f | length) >= 2
		| if . then true else error("too few frames") end
		| ($f | map(.mode == $mode) | all)
		| if . then true else error("mode") end
		| [$f[] | .tasks[] | select(.name == "hog")] as $hog
		| [$f[] | . as $fr | .tasks[] | select(.name == "hog") | .thread as $tid
		   | $fr.threads[] | select(.tid == $tid)] as $th
		| ($hog | length) == ($f | length)
		| if . then true else error("hog missing") end
		| (($hog | map(.cpu_pct) | add) / ($hog | length)) as $h
		| (($th | map(.task_pct) | add) / ($th | length)) as $tt
		| if $h > 50 or ($h > 0.5 * $tt and $tt > 2) then true
		  else error("hog at \($h)% (its thread running tasks \($tt)%)") end
		| [$f[] | .tasks[] | select(.name | test("^(worker|feeder)")) | select(.cpu_pct >= 5)]
		| if length == 0 then true else error("busy idle tasks: \(map({name, cpu_pct}))") end
		| [$f[] | .tasks[] | select(.name == "hog") | .cpu_ns]
		| if .[-1] > .[0] then true else error("hog CPU time does not grow") end
	' "$1"
}

@test "top: sampling shows the hog busy and the idle tasks idle" {
	require_root_bpf
	start_demo --threads 2 --tasks 6 --hog
	run "$TASKSCOPE" top --json -n 4 -d 0.6 "$DEMO_PID"
	[ "$status" -eq 0 ]
	echo "$output" >"$T/frames"
	check_hog "$T/frames" sampling
	# the sampler saw the loop threads, and attributes what it saw
	jq -e -s 'map(.hz == 99) | all' "$T/frames"
	jq -e -s '.[-1].threads | map(select(.current != null)) | length >= 1' "$T/frames"
}

@test "top --exact shows the hog busy and the idle tasks idle, with switch events" {
	require_root_bpf
	start_demo --threads 2 --tasks 6 --hog
	run "$TASKSCOPE" top --exact --json -n 4 -d 0.6 "$DEMO_PID"
	[ "$status" -eq 0 ]
	echo "$output" >"$T/frames"
	check_hog "$T/frames" exact
	# the hog yields about every millisecond of its thread's time: hundreds of switch events
	# per second
	jq -e -s '.[-1].events_per_s > 100 and .[-1].lost == 0 and .[-1].map_full == 0' "$T/frames"
	# the hog's switches counted between the first frame and the last (a rate over one frame
	# depends on how much CPU a loaded machine gave its thread in that frame)
	jq -e -s '([.[-1].tasks[] | select(.name == "hog") | .switches][0]) >
		([.[0].tasks[] | select(.name == "hog") | .switches][0])' "$T/frames"
	jq -e -s '[.[-1].tasks[] | select(.name == "hog") | .switches_per_s][0] >= 0' "$T/frames"
	# the same through libbpf's per-probe USDT attach (kernels without uprobe-multi links)
	TASKSCOPE_TEST_NO_MULTI=1 run "$TASKSCOPE" top --exact --json -n 3 -d 0.6 "$DEMO_PID"
	[ "$status" -eq 0 ]
	echo "$output" >"$T/frames"
	check_hog "$T/frames" exact
}

@test "top: a higher --hz gives the same picture" {
	require_root_bpf
	start_demo --threads 1 --tasks 4 --hog
	run "$TASKSCOPE" top --hz 499 --json -n 3 -d 0.5 "$DEMO_PID"
	[ "$status" -eq 0 ]
	echo "$output" >"$T/frames"
	jq -e -s 'map(.hz == 499) | all' "$T/frames"
	check_hog "$T/frames" sampling
}

# ---- the live set ----

# frames_agree FILE ID NAME FROM_NS TO_NS: every frame whose refresh began after FROM_NS (taken
# more than one interval later) and was taken before TO_NS shows task ID named NAME; every
# frame from one interval after TO_NS on does not. TO_NS 0: never finished.
frames_agree() {
	jq -e -s --argjson id "$2" --arg name "$3" --argjson from "$4" --argjson to "$5" '
		map(. as $fr | { t: .taken_ns, d: (.interval_s * 1e9),
				  has: ([.tasks[] | select(.id == $id and .name == $name)] | length == 1) })
		| map(select(.t > $from + .d)) as $after
		| ($after | length) >= 1
		| if . then true else error("no frame after the spawn") end
		| [$after[] | select($to == 0 or .t < $to) | select(.has | not)]
		| if length == 0 then true else error("missing in a frame taken after its spawn") end
		| [$after[] | select($to > 0 and .t > $to + .d) | select(.has)]
		| if length == 0 then true else error("still there a refresh after it finished") end
	' "$1"
}

@test "top: tasks created and finished while it runs appear and go within one refresh" {
	require_root_bpf
	start_victim
	spawn top "$TASKSCOPE" top --json -d 0.25 -n 24 "$VICTIM_PID"
	TOP=$PID
	wait_for_lines "$T/top.out" 2
	read -r _ a_id _ a_born <<<"$(victim_cmd "spawn alpha")"
	read -r _ b_id _ b_born <<<"$(victim_cmd "spawn beta")"
	sleep 0.8
	read -r _ _ _ a_gone <<<"$(victim_cmd "finish alpha")"
	sleep 0.8
	read -r _ c_id _ c_born <<<"$(victim_cmd "spawn gamma")"
	read -r _ _ _ b_gone <<<"$(victim_cmd "finish beta")"
	wait "$TOP"
	jq -e . "$T/top.out" >/dev/null
	frames_agree "$T/top.out" "$a_id" alpha "$a_born" "$a_gone"
	frames_agree "$T/top.out" "$b_id" beta "$b_born" "$b_gone"
	frames_agree "$T/top.out" "$c_id" gamma "$c_born" 0
	# the lifecycle probes counted them (and the finishes)
	jq -e -s '.[-1].created >= 3 and .[-1].finished >= 2' "$T/top.out"
	echo quit >&"$CMD_FD"
}

@test "top: churn: created/s and finished/s, and the live set holds the long-lived tasks" {
	require_root_bpf
	start_demo --threads 2 --tasks 3 --churn 300
	run "$TASKSCOPE" top --json -n 3 -d 0.5 "$DEMO_PID"
	[ "$status" -eq 0 ]
	echo "$output" >"$T/frames"
	# 2 threads x 300/s: wide bands
	jq -e -s '.[1:] | map(.created_per_s > 200 and .created_per_s < 2000 and
			      .finished_per_s > 200) | all' "$T/frames"
	jq -e -s --slurpfile truth "$T/truth" '
		map([.tasks[].id]) | map(. as $ids | [$truth[].id] - $ids | length == 0) | all
	' "$T/frames"
}

# ---- output ----

@test "top: batch and JSON frames parse and agree with ps on a quiescent workload" {
	require_root_bpf
	start_victim
	for n in one two three; do victim_cmd "spawn $n" >/dev/null; done
	run "$TASKSCOPE" ps --json "$VICTIM_PID"
	[ "$status" -eq 0 ]
	echo "$output" >"$T/ps.json"
	run "$TASKSCOPE" top --json -n 2 -d 0.3 "$VICTIM_PID"
	[ "$status" -eq 0 ]
	echo "$output" >"$T/top.json"
	[ "$(wc -l <"$T/top.json")" -eq 2 ]
	jq -e . "$T/top.json" >/dev/null
	want=$(jq -c '[.tasks[] | [.id, .name, .thread, .coro, .parent]] | sort' "$T/ps.json")
	got=$(jq -s -c '.[-1] | [.tasks[] | [.id, .name, .thread, .coro, .parent]] | sort' "$T/top.json")
	[ "$want" = "$got" ]
	want=$(jq -c '[.threads[] | [.tid, .loop]] | sort' "$T/ps.json")
	got=$(jq -s -c '.[-1] | [.threads[] | [.tid, .loop]] | sort' "$T/top.json")
	[ "$want" = "$got" ]
	jq -e -s 'map(.live == (.tasks | length) and .pid == '"$VICTIM_PID"') | all' "$T/top.json"
	jq -e -s '.[-1].tasks | map(select(.name == "one"))[0] |
		  .state == "waiting" and .wait == "sleep" and .coro == "idler"' "$T/top.json"

	run "$TASKSCOPE" top -b -n 2 -d 0.3 "$VICTIM_PID"
	[ "$status" -eq 0 ]
	echo "$output" >"$T/top.txt"
	[ "$(grep -c "^taskscope top - pid $VICTIM_PID - " "$T/top.txt")" -eq 2 ]
	[ "$(grep -c '^ *ID NAME ' "$T/top.txt")" -eq 2 ]
	# every ps task in the last frame's table: id, name, thread
	last=$(awk '/^taskscope top - pid/ { n++ } n == 2' "$T/top.txt")
	for row in $(jq -r '.tasks[] | "\(.id):\(.name):\(.thread)"' "$T/ps.json"); do
		IFS=: read -r id name thread <<<"$row"
		grep -Eq "^ *$id +$name +[a-z]+ .* $thread +[0-9.]+ " <<<"$last" ||
			{ echo "no row for $row in:"; echo "$last"; false; }
	done
	# the filter
	run "$TASKSCOPE" top --json -n 1 -d 0.2 -f tw "$VICTIM_PID"
	[ "$status" -eq 0 ]
	[ "$(jq -c '[.tasks[].name]' <<<"$output")" = '["two"]' ]
	echo quit >&"$CMD_FD"
}

# No line of FILE wider than $2 columns (characters: our output's are one column each).
fits_width() {
	python3 -c '
import sys
w = int(sys.argv[2])
bad = [l for l in open(sys.argv[1], encoding="utf-8").read().split("\n") if len(l) > w]
sys.exit("wider than %d columns:\n" % w + "\n".join(bad) if bad else 0)' "$1" "$2"
}

@test "top -b at COLUMNS=80: every line fits, NAME narrows first, AGE and CORO stay" {
	require_root_bpf
	start_victim
	long=$(printf 'n%.0s' {1..60})
	victim_cmd "spawn $long" >/dev/null
	victim_cmd "spawn short" >/dev/null
	COLUMNS=80 run "$TASKSCOPE" top -b -n 1 -d 0.3 "$VICTIM_PID"
	[ "$status" -eq 0 ]
	echo "$output" >"$T/top.txt"
	fits_width "$T/top.txt" 80
	# every column, and the header lines wrapped between fields, never inside one
	grep -Eq '^ *ID NAME +STATE +WAITED +THREAD +CPU% +CPU-TIME +SW/s +AGE +CORO$' "$T/top.txt"
	grep -Eq '(^|, )resyncs [0-9]+$' "$T/top.txt"
	grep -Eq '(^|, )created [0-9.]+/s(,|$)' "$T/top.txt"
	# the long name cut with an ellipsis, its state, wait, age and coroutine all there
	grep -Eq "^ *[0-9]+ nnnnn+… +waiting +sleep for .* +[0-9]+ .* [0-9.]+[a-z]+ idler$" "$T/top.txt"
	grep -Eq "^ *[0-9]+ short +waiting .* idler$" "$T/top.txt"
	# without a width (not a terminal, no COLUMNS) nothing is cut
	run env -u COLUMNS "$TASKSCOPE" top -b -n 1 -d 0.3 "$VICTIM_PID"
	[ "$status" -eq 0 ]
	grep -q " $long " <<<"$output"
	echo quit >&"$CMD_FD"
}

@test "top in a terminal 80 columns wide: every column, NAME narrowed, the header whole" {
	require_root_bpf
	require_cmd tmux
	start_victim
	long=$(printf 'n%.0s' {1..60})
	victim_cmd "spawn $long" >/dev/null
	TMUX_W=80 top_in_tmux "$VICTIM_PID"
	wait_screen "CURRENT TASK"
	wait_screen " CORO"
	screen >"$T/screen"
	grep -Eq '^ +ID NAME +STATE +WAITED +THREAD +CPU% +CPU-TIME +SW/s +AGE +CORO *$' "$T/screen" ||
		{ cat "$T/screen"; false; }
	grep -Eq 'nnnnn+(…|~) +waiting +sleep .* idler *$' "$T/screen" || { cat "$T/screen"; false; }
	grep -Eq '(^|  )resyncs: [0-9]+ *$' "$T/screen" || { cat "$T/screen"; false; }
	keys q
	check_restored 0
	echo quit >&"$CMD_FD"
}

@test "top: a task name with quotes, a newline, an escape and bad UTF-8 drives nothing" {
	require_root_bpf
	spawn parked "$BUILD/progs/parked" --threads 1 --tasks 2 --odd-name
	wait_for_lines "$T/parked.out"
	run "$TASKSCOPE" top -b -n 1 -d 0.2 "$PID"
	[ "$status" -eq 0 ]
	! grep -q $'\x1b' <<<"$output"
	# one table row per task: the newline in the name was not printed as one
	rows=$(awk '/^ *ID NAME /{ t = 1; next } t && NF' <<<"$output" | wc -l)
	[ "$rows" -eq 4 ]
	run "$TASKSCOPE" top --json -n 1 -d 0.2 "$PID"
	[ "$status" -eq 0 ]
	[ "$(wc -l <<<"$output")" -eq 1 ]
	jq -e '[.tasks[].name | select(test("\n") and test("\u001b"))] | length == 1' <<<"$output"
}

@test "top: WAITED says how long each task has waited, and -s waited puts the longest first" {
	start_victim
	victim_cmd "spawn first" >/dev/null
	# first has waited a while before second begins to
	for _ in $(seq 100); do
		"$TASKSCOPE" ps --no-bpf --json "$VICTIM_PID" > "$T/ps.json"
		jq -e '.tasks[] | select(.name == "first" and .waited_ns > 200000000)' "$T/ps.json" \
			>/dev/null && break
		sleep 0.05
	done
	victim_cmd "spawn second" >/dev/null
	run "$TASKSCOPE" top --no-bpf -b -n 1 -d 0.2 -s waited "$VICTIM_PID"
	[ "$status" -eq 0 ]
	echo "$output"
	grep -q " WAITED " <<<"$output"
	grep -qE '^ +[0-9]+ first +waiting +sleep for [0-9.hms]+ \([0-9hms]+ left\) ' <<<"$output"
	# the longest wait first (second and Task-1, back from the command, may tie)
	[ "$(awk '/^ *ID NAME / { getline; print $2; exit }' <<<"$output")" = first ]
	run "$TASKSCOPE" top --no-bpf --json -n 1 -d 0.2 -s waited "$VICTIM_PID"
	jq -e '.tasks[0].name == "first" and
		([.tasks[].waited_ns] | . == (sort | reverse) and .[0] > .[1] + 100000000)' <<<"$output"
	echo quit >&"$CMD_FD"
}

@test "top: a task that never ran is pending, one that ran and yielded is ready" {
	require_root_bpf
	spawn states "$BUILD/progs/states"
	wait_for_lines "$T/states.out"
	run "$TASKSCOPE" top -b -n 1 -d 0.2 "$PID"
	[ "$status" -eq 0 ]
	grep -qx 'threads 1, tasks 4: 1 running, 1 ready, 1 waiting, 1 pending' <<<"$output"
	# WAITED: how long a ready or pending task has waited for its turn
	grep -qE '^ +2 yielded +ready +queued for [0-9.hms]+ ' <<<"$output"
	grep -qE '^ +3 sleeper +waiting +sleep ' <<<"$output"
	grep -qE '^ +4 never-ran +pending +queued for [0-9.hms]+ ' <<<"$output"
	run "$TASKSCOPE" top --json -n 1 -d 0.2 "$PID"
	[ "$status" -eq 0 ]
	jq -e '.states == {"pending":1,"ready":1,"running":1,"waiting":1}' <<<"$output"
	jq -e '([.tasks[] | [.name, .state]] | sort) == ([["Task-1","running"],["yielded","ready"],
	       ["sleeper","waiting"],["never-ran","pending"]] | sort)' <<<"$output"
}

@test "top --no-bpf: states and switches from the registry, no CPU" {
	require_root_bpf
	start_demo --threads 1 --tasks 3 --hog
	run "$TASKSCOPE" top --no-bpf --json -n 2 -d 0.3 "$DEMO_PID"
	[ "$status" -eq 0 ]
	jq -e -s 'map(.mode == "registry" and .hz == null and .events == 0) | all' <<<"$output"
	jq -e -s '.[-1].tasks | map(.cpu_pct == null) | all' <<<"$output"
	jq -e -s '[.[-1].tasks[] | select(.name == "hog")][0].switches_per_s > 5' <<<"$output"
}

# ---- the target exits; losses ----

@test "top: says so when the target exits, and exits 7" {
	require_root_bpf
	start_victim
	spawn top "$TASKSCOPE" top -b -d 0.2 "$VICTIM_PID"
	TOP=$PID
	wait_for_lines "$T/top.out" 3
	echo quit >&"$CMD_FD"
	rc=0
	for _ in $(seq 100); do kill -0 "$TOP" 2>/dev/null || break; sleep 0.05; done
	wait "$TOP" || rc=$?
	[ "$rc" -eq 7 ]
	grep -q "process $VICTIM_PID exited" "$T/top.err"
}

@test "top: map-full failures show in the next frame and resync" {
	require_root_bpf
	start_victim
	# the lifecycle probes' live map holds 2 tasks: the third created under them fails
	TASKSCOPE_TEST_MAX_LIVE=2 spawn top "$TASKSCOPE" top --json -d 0.3 -n 14 "$VICTIM_PID"
	TOP=$PID
	wait_for_lines "$T/top.out" 2
	for n in 1 2 3 4 5; do victim_cmd "spawn t$n" >/dev/null; done
	read -r _ _ _ last <<<"$(tail -n 1 "$T/victim.out")"
	wait "$TOP"
	jq -e . "$T/top.out" >/dev/null
	# shown in the first frame that began after the failures, resynced, the view whole
	jq -e -s --argjson at "$last" '
		[.[] | select(.taken_ns > $at + .interval_s * 1e9)] as $after
		| ($after | length) >= 2
		and ($after[0].map_full >= 3)
		and (.[-1].resyncs >= 1)
		and ([.[] | select(.note != null and (.note | test("resynced")))] | length >= 1)
		and ($after | map([.tasks[].name | select(test("^t[1-5]$"))] | length == 5) | all)
	' "$T/top.out"
	echo quit >&"$CMD_FD"
}

# ---- a real terminal ----

tmux_run() {
	tmux -L "$TMUX_SOCK" -f /dev/null new-session -d -s top -x "${TMUX_W:-140}" -y 45 "$@"
	tmux -L "$TMUX_SOCK" set-option -t top remain-on-exit on >/dev/null
}

screen() {
	tmux -L "$TMUX_SOCK" capture-pane -p -t top
}

keys() {
	tmux -L "$TMUX_SOCK" send-keys -t top "$@"
	sleep 0.4
}

# Wait until the pane shows text $1, up to ~10 s.
wait_screen() {
	for _ in $(seq 100); do
		screen | grep -qF -- "$1" && return 0
		sleep 0.1
	done
	echo "the screen never showed '$1':" >&2
	screen >&2
	return 1
}

pane() {
	tmux -L "$TMUX_SOCK" display-message -p -t top "$1"
}

# A shell in the pane records the terminal's settings, runs top, records them again.
top_in_tmux() {
	cat >"$T/run.sh" <<-EOF
		stty -a >"$T/stty.before"
		"$TASKSCOPE" top -d 0.5 $*
		echo "EXIT=\$?" >"$T/exit"
		stty -a >"$T/stty.after"
		echo DONE
		sleep 60
	EOF
	tmux_run "bash $T/run.sh"
}

# After top left: exit code, terminal settings unchanged, cursor shown, main screen back.
check_restored() {
	wait_for_lines "$T/exit"
	grep -qx "EXIT=$1" "$T/exit" || { cat "$T/exit"; false; }
	wait_for_lines "$T/stty.after"
	diff "$T/stty.before" "$T/stty.after"
	[ "$(pane '#{cursor_flag}')" = 1 ]
	[ "$(pane '#{alternate_on}')" = 0 ]
	wait_screen DONE
}

@test "top in a terminal: sort, filter, details, tree, help, quit; terminal restored" {
	require_root_bpf
	require_cmd tmux
	start_demo --threads 2 --tasks 3 --deadlock --hog
	top_in_tmux "$DEMO_PID"
	wait_screen "taskscope top - pid $DEMO_PID"
	wait_screen "CURRENT TASK"
	screen | grep -q "Sort: cpu"
	# sort by name: Task-1 first (upper case sorts before lower)
	keys n
	wait_screen "Sort: name"
	first=$(screen | awk '/ ID NAME /{ getline; print $2; exit }')
	[ "$first" = Task-1 ]
	# again: reversed
	keys n
	wait_screen "Sort: name (reversed)"
	first=$(screen | awk '/ ID NAME /{ getline; print $2; exit }')
	[ "$first" = worker-1-2 ]
	keys n
	# filter by name
	keys / d e a d
	wait_screen "Filter by name: dead"
	keys Enter
	wait_screen 'Filter: "dead"'
	[ "$(screen | grep -v '^! ' | grep -c ' deadlock-[ABC] ')" -eq 3 ] # '!': the warnings
	screen | grep -q "^! await cycle, a deadlock: deadlock-A"
	! screen | grep -q ' worker-'
	# details of the first row, deadlock-A: it awaits B and C awaits it
	keys Enter
	wait_screen "awaited by"
	screen | grep -Eq "awaiting +[0-9]+ deadlock-B"
	screen | grep -Eq "awaited by +[0-9]+ deadlock-C"
	screen | grep -Eq "wait object +await task [0-9]+ \(deadlock-B\)"
	screen | grep -Eq "coroutine +deadlocked\(\)"
	screen | grep -Eq "parent +1 Task-1"
	keys Escape
	wait_screen " ID NAME "
	# the await tree: the cycle is marked
	keys t
	wait_screen "View: await tree"
	wait_screen "[cycle]"
	keys '?'
	wait_screen "Keys"
	keys x
	wait_screen " ID NAME "
	# pause
	keys p
	wait_screen "[PAUSED]"
	keys p
	keys Escape
	wait_screen "View: await tree"
	! screen | grep -q 'Filter:'
	keys q
	check_restored 0
}

@test "top in a terminal: SIGINT, SIGTERM and the target's exit restore the terminal" {
	require_root_bpf
	require_cmd tmux
	start_demo --threads 1 --tasks 2
	top_in_tmux "$DEMO_PID"
	wait_screen "CURRENT TASK"
	keys C-c
	check_restored 0
	tmux -L "$TMUX_SOCK" kill-server

	rm -f "$T/exit" "$T/stty.after"
	top_in_tmux "$DEMO_PID"
	wait_screen "CURRENT TASK"
	pkill_top() { # the top of this test's pane, by its parent shell
		local sh
		sh=$(pane '#{pane_pid}')
		kill -TERM "$(pgrep -P "$sh" -x taskscope)"
	}
	pkill_top
	check_restored 0
	tmux -L "$TMUX_SOCK" kill-server

	rm -f "$T/exit" "$T/stty.after"
	top_in_tmux "$DEMO_PID"
	wait_screen "CURRENT TASK"
	kill "$DEMO_PID"
	check_restored 7
	screen | grep -q "process $DEMO_PID exited"
}
