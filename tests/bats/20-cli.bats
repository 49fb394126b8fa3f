#!/usr/bin/env bats
# The CLI without BPF: help, version and usage errors; `probes` on binaries and processes;
# `ps --no-bpf` and `tree --no-bpf` rebuilding the task registry from outside (checked against
# the victims' own truth files); and each fault with its message and exit code.
# BPF-dependent assertions live in 21-attach.bats.

load test_helper
bats_require_minimum_version 1.5.0

PARKED=$BUILD/progs/parked

setup() {
	local f
	for f in "$TASKSCOPE" "$DEMO" "$PARKED" "$PARKED-shared" "$PARKED-stripped"; do
		[ -x "$f" ] || { echo "missing $f: run make" >&2; return 1; }
	done
	T=$BATS_TEST_TMPDIR
}

teardown() {
	[ -n "${VICTIM:-}" ] && stop_proc "$VICTIM"
	[ -n "${SLEEPER:-}" ] && stop_proc "$SLEEPER"
	return 0
}

# Start a victim in the background; wait until it printed "ready" (or until FILE has N lines).
start_victim() {
	"$@" > "$T/victim.out" 2> "$T/victim.err" &
	VICTIM=$!
	wait_for_lines "$T/victim.out" 1
	grep -qx ready "$T/victim.out"
}

start_demo() { # truthfile nlines args...
	local truth=$1 n=$2
	shift 2
	"$DEMO" --truth "$truth" "$@" > "$T/victim.out" 2> "$T/victim.err" &
	VICTIM=$!
	wait_for_lines "$truth" "$n"
}

# Every task of the truth file (JSON lines: id, name, tid, coro) exactly once in the ps JSON,
# with the same name, thread and coroutine; ids unique; each thread's current task null or a
# task of that thread. Prints what differs.
check_against_truth() { # truth ps.json
	jq -e -n --slurpfile truth "$1" --slurpfile ps "$2" '
		($ps[0].tasks) as $t |
		[ $truth[] | . as $w | [ $t[] | select(.id == $w.id) ] as $m |
		  select(($m | length) != 1 or $m[0].name != $w.name or
			 $m[0].thread != $w.tid or $m[0].coro != $w.coro) ] as $bad |
		([ $t[].id ] | length) as $n | ([ $t[].id ] | unique | length) as $u |
		[ $ps[0].threads[] | . as $th | select(.current != null and
		  ([ $t[] | select(.id == $th.current and .thread == $th.tid) ] | length) != 1) ]
		as $badcur |
		if ($bad | length) > 0 then "truth tasks missing or different: \($bad)"
		elif $n != $u then "duplicate task ids"
		elif ($badcur | length) > 0 then "bad current tasks: \($badcur)"
		else true end' | grep -qx true || {
		jq -e -n --slurpfile truth "$1" --slurpfile ps "$2" '
			($ps[0].tasks) as $t | [ $truth[] | . as $w |
			select(([ $t[] | select(.id == $w.id and .name == $w.name and
			.thread == $w.tid and .coro == $w.coro) ] | length) != 1) ]' >&2
		return 1
	}
}

# "name location semaphore args" per taskscope note, addresses normalized to 0x%x.
normalize_probes() {
	local n loc sem args
	while read -r n loc sem args; do
		printf '%s 0x%x 0x%x %s\n' "$n" "$loc" "$sem" "$args"
	done | LC_ALL=C sort
}

# readelf -n FILE, as above.
readelf_probes() {
	readelf -n "$1" | awk '
		/^ *stapsdt / { p = ""; n = ""; loc = ""; sem = ""; in_note = 1; next }
		!in_note { next }
		/^ *Provider: / { p = $2 }
		/^ *Name: / { n = $2 }
		/^ *Location: / { gsub(",", ""); loc = $2; sem = $6 }
		/^ *Arguments:/ { sub(/^ *Arguments: */, ""); if (p == "taskscope")
			print n, loc, sem, $0; in_note = 0 }' | normalize_probes
}

# taskscope probes --json FILE|PID, as above.
ts_probes() {
	"$TASKSCOPE" probes --json "$1" |
		jq -r '.probes[] | "\(.name) \(.address) \(.semaphore) \(.args)"' | normalize_probes
}

# ---- help, version, usage ----

@test "--help: usage, commands and exit codes on stdout, exit 0" {
	run --separate-stderr "$TASKSCOPE" --help
	[ "$status" -eq 0 ]
	[ -z "$stderr" ]
	[[ $output == *USAGE:* ]]
	for w in ps tree probes "EXIT CODES" EXAMPLES; do [[ $output == *"$w"* ]]; done
	# every exit code the tests below rely on is documented
	for c in "3  tree" "4  no such process" "5  not a taskscope" "6  missing privileges" \
		"7  the target exited" "8  the kernel lacks"; do
		[[ $output == *"$c"* ]] || { echo "undocumented: $c" >&2; return 1; }
	done
	run -0 "$TASKSCOPE" -h
}

@test "each command's --help goes to stdout with exit 0, and so does 'help CMD'" {
	for cmd in ps tree probes; do
		run --separate-stderr "$TASKSCOPE" "$cmd" --help
		[ "$status" -eq 0 ] && [ -z "$stderr" ] && [[ $output == *USAGE:*"$cmd"* ]] ||
			{ echo "$cmd --help: $status" >&2; return 1; }
		run --separate-stderr "$TASKSCOPE" help "$cmd"
		[ "$status" -eq 0 ] && [[ $output == *USAGE:*"$cmd"* ]]
	done
}

@test "--version: the version and the git commit" {
	run --separate-stderr "$TASKSCOPE" --version
	[ "$status" -eq 0 ]
	[[ $output =~ ^taskscope\ [0-9]+\.[0-9]+\.[0-9]+\ \(([0-9a-f]{7,}|unknown)\)$ ]]
	if git -C "$ROOT" rev-parse HEAD >/dev/null 2>&1; then
		local commit=${BASH_REMATCH[1]}
		git -C "$ROOT" cat-file -e "$commit^{commit}"
	fi
}

@test "usage errors: message on stderr, nothing on stdout, exit 2" {
	local args
	for args in "" "frobnicate" "--frobnicate" "ps" "ps abc" "ps 12 34" "ps -0 1" \
		"ps --bogus 1" "ps 0" "ps -5" "tree" "tree x1" "probes" "probes a b" \
		"help frobnicate"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$TASKSCOPE" $args
		[ "$status" -eq 2 ] && [ -z "$output" ] && [ -n "$stderr" ] ||
			{ echo "'taskscope $args': status $status, stdout '$output'" >&2; return 1; }
	done
}

# ---- probes ----

@test "probes BINARY: every taskscope note readelf shows, same addresses and arguments" {
	local bin
	for bin in "$DEMO" "$PARKED" "$PARKED-stripped"; do
		diff <(readelf_probes "$bin") <(ts_probes "$bin")
		[ "$(ts_probes "$bin" | wc -l)" -ge 7 ]
	done
	run -0 "$TASKSCOPE" probes "$DEMO"
	[[ $output == *task_create*8@%rdi* ]]
	[[ $output == *PROBE*ADDRESS*SEMAPHORE*ARGS* ]]
}

@test "probes BINARY: a binary without the runtime exits 5, a missing file 1" {
	run --separate-stderr "$TASKSCOPE" probes /bin/sleep
	[ "$status" -eq 5 ]
	[[ $stderr == *"no taskscope probes"* ]]
	run --separate-stderr "$TASKSCOPE" probes "$T/nonexistent"
	[ "$status" -eq 1 ]
	[[ $stderr == *"cannot open"* ]]
}

@test "probes PID: the executable's notes, with semaphore counts 0 while nobody traces" {
	start_victim "$PARKED" --threads 1 --tasks 2
	diff <(readelf_probes "$PARKED") <(ts_probes "$VICTIM")
	run -0 "$TASKSCOPE" probes --json "$VICTIM"
	[ "$(jq '[.probes[] | select(.semaphore_count != 0)] | length' <<<"$output")" -eq 0 ]
	[ "$(jq '.probes | length' <<<"$output")" -ge 7 ]
	run -0 "$TASKSCOPE" probes "$VICTIM"
	[[ $output == *COUNT* ]]
}

@test "probes PID: the runtime in libtaskscope.so, found through the maps" {
	start_victim "$PARKED-shared" --threads 1 --tasks 2
	run -0 "$TASKSCOPE" probes --json "$VICTIM"
	local files
	files=$(jq -r '[.probes[].file] | unique | .[]' <<<"$output")
	[[ $files == */libtaskscope.so* ]] || { echo "probes in: $files" >&2; return 1; }
	local lib
	lib=$(readlink -f "$(jq -r '.probes[0].file' <<<"$output")")
	diff <(readelf_probes "$lib") <(ts_probes "$VICTIM")
}

# ---- faults ----

@test "a PID that does not exist: exit 4 and says so" {
	local pid=4194000
	while kill -0 "$pid" 2>/dev/null; do pid=$((pid + 1)); done
	for cmd in "ps --no-bpf" "ps" "tree --no-bpf" "probes"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$TASKSCOPE" $cmd "$pid"
		[ "$status" -eq 4 ] && [[ $stderr == *"no process with PID $pid"* ]] &&
			[ -z "$output" ] || { echo "$cmd: $status $stderr" >&2; return 1; }
	done
}

@test "a thread id rather than a process id: exit 4, says to give the process's" {
	start_victim "$PARKED" --threads 1 --tasks 1
	local tid
	tid=$(ls /proc/"$VICTIM"/task | grep -vx "$VICTIM" | head -1)
	[ -n "$tid" ]
	run --separate-stderr "$TASKSCOPE" ps --no-bpf "$tid"
	[ "$status" -eq 4 ]
	[[ $stderr == *"not a process id but a thread of process $VICTIM"* ]]
}

@test "a process without the runtime (sleep): 'not a taskscope process', exit 5" {
	sleep 1000 &
	SLEEPER=$!
	wait_exec "$SLEEPER" sleep
	local cmds=("ps --no-bpf" "tree --no-bpf" "probes")
	[ "$(id -u)" = 0 ] && cmds+=("ps" "tree")
	for cmd in "${cmds[@]}"; do
		# shellcheck disable=SC2086
		run --separate-stderr "$TASKSCOPE" $cmd "$SLEEPER"
		[ "$status" -eq 5 ] && [[ $stderr == *"not a taskscope process"* ]] &&
			[ -z "$output" ] || { echo "$cmd: $status $stderr" >&2; return 1; }
	done
}

@test "unprivileged (nobody): names the missing capabilities, exit 6, attaches nothing" {
	[ "$(id -u)" = 0 ] || strict_skip "needs root to run a command as nobody"
	require_cmd setpriv
	start_victim "$PARKED" --threads 1 --tasks 3
	local as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	# the checkout may sit in a folder nobody cannot enter: run a copy from one it can
	local pub
	pub=$(mktemp -d)
	chmod 755 "$pub"
	cp "$TASKSCOPE" "$pub/taskscope"
	local TASKSCOPE=$pub/taskscope
	"${as_nobody[@]}" test -x "$TASKSCOPE" || strict_skip "nobody cannot execute $TASKSCOPE"
	for cmd in ps tree; do
		run --separate-stderr "${as_nobody[@]}" "$TASKSCOPE" "$cmd" "$VICTIM"
		[ "$status" -eq 6 ] || { echo "$cmd: status $status: $stderr" >&2; return 1; }
		for cap in CAP_BPF CAP_PERFMON CAP_SYS_PTRACE; do
			[[ $stderr == *"lacks"*"$cap"* ]] || { echo "no $cap in: $stderr" >&2; return 1; }
		done
		[[ $stderr == *"Nothing was attached"* ]]
		[[ $stderr == *"--no-bpf"* ]]
		[ -z "$output" ]
	done
	# without BPF, reading root's process needs ptrace access: refused, with what to do
	run --separate-stderr "${as_nobody[@]}" "$TASKSCOPE" ps --no-bpf "$VICTIM"
	[ "$status" -eq 6 ]
	[[ $stderr == *"permission denied"* && $stderr == *"CAP_SYS_PTRACE"* ]]
	# nothing attached: every semaphore still 0, the victim still fine
	run -0 "$TASKSCOPE" probes --json "$VICTIM"
	[ "$(jq '[.probes[] | select(.semaphore_count != 0)] | length' <<<"$output")" -eq 0 ]
	kill -0 "$VICTIM"
	rm -rf "$pub"
}

@test "the target exits between attach and snapshot: exit 7, says it exited" {
	start_victim "$PARKED" --threads 2 --tasks 50
	TASKSCOPE_TEST_SNAPSHOT_DELAY_MS=1500 "$TASKSCOPE" ps --no-bpf --json "$VICTIM" \
		> "$T/ps.out" 2> "$T/ps.err" &
	local ts=$!
	sleep 0.5
	kill -9 "$VICTIM"
	local rc=0
	wait "$ts" || rc=$?
	[ "$rc" -eq 7 ] || { echo "status $rc: $(cat "$T/ps.err")" >&2; return 1; }
	grep -q "exited" "$T/ps.err"
	[ ! -s "$T/ps.out" ]
	VICTIM=
}

@test "the target exiting while it is read: a full correct answer or exit 7/4, never garbage" {
	local i rc ok=0 gone=0
	for i in 1 2 3 4 5 6; do
		"$PARKED" --threads 4 --tasks 500 --truth "$T/truth" --exit-after $((i * 7)) \
			> "$T/victim.out" 2>&1 &
		VICTIM=$!
		wait_for_lines "$T/truth" 2000
		while :; do
			rc=0
			"$TASKSCOPE" ps --no-bpf --json "$VICTIM" > "$T/ps.json" 2> "$T/ps.err" || rc=$?
			if [ $rc = 0 ]; then
				check_against_truth "$T/truth" "$T/ps.json"
				ok=$((ok + 1))
			else
				[ $rc = 7 ] || [ $rc = 4 ] || { echo "status $rc: $(cat "$T/ps.err")" >&2; return 1; }
				[ ! -s "$T/ps.json" ]
				gone=$((gone + 1))
				break
			fi
		done
		wait "$VICTIM" || true
		rm -f "$T/truth"
	done
	echo "complete answers $ok, exits seen $gone" >&3
	[ "$gone" -eq 6 ]
}

# ---- ps and tree, from the registry ----

@test "ps --no-bpf --json on taskscope-demo: every truth task once, same name, thread, coro" {
	start_demo "$T/truth" 12 --threads 2 --tasks 5
	run -0 "$TASKSCOPE" ps --no-bpf --json "$VICTIM"
	echo "$output" > "$T/ps.json"
	check_against_truth "$T/truth" "$T/ps.json"
	# the design's shape
	jq -e '(.pid | type) == "number" and (.threads | length) == 3 and
		(.tasks | length) == 13 and has("events") and has("lost") and
		all(.threads[]; has("tid") and has("current")) and
		all(.tasks[]; has("id") and has("name") and has("coro") and has("state") and
		    has("thread") and has("parent") and (.awaiting | type) == "array" and
		    has("wait") and has("age_ms") and has("created_ns") and has("switches"))' \
		"$T/ps.json"
	[ "$(jq -r '.pid' "$T/ps.json")" = "$VICTIM" ]
	[ "$(jq -r '.tasks[] | select(.id == 1) | "\(.name) \(.coro) \(.thread)"' "$T/ps.json")" = \
		"Task-1 main_coro $VICTIM" ]
	# workers were spawned by Task-1
	[ "$(jq '[.tasks[] | select(.name | startswith("worker-")) | select(.parent != 1)] | length' \
		"$T/ps.json")" -eq 0 ]
}

@test "ps --no-bpf: the table, per thread TID CURRENT, per task the columns, under 80 wide" {
	start_demo "$T/truth" 12 --threads 2 --tasks 5
	run -0 "$TASKSCOPE" ps --no-bpf "$VICTIM"
	[[ ${lines[0]} == "PID $VICTIM: 3 threads, 13 tasks"* ]]
	grep -qE '^TID +CURRENT$' <<<"$output"
	grep -qE '^ *ID NAME +STATE +WAITED +THREAD +PARENT +AGE CORO$' <<<"$output"
	local name
	while read -r name; do
		grep -qE "^ *[0-9]+ $name +[a-z]+ " <<<"$output" || { echo "no row for $name" >&2; return 1; }
	done < <(jq -r .name "$T/truth")
	grep -qE '^ +1 Task-1 +waiting +fd [0-9]+ for [0-9.hms]+ +'"$VICTIM"' +- +[0-9.hms]+ main_coro$' \
		<<<"$output"
	[ "$(awk '{ print length }' <<<"$output" | sort -n | tail -1)" -le 80 ]
}

@test "ps --no-bpf: a task that never ran is pending, one that ran and yielded is ready" {
	start_victim "$BUILD/progs/states"
	run -0 "$TASKSCOPE" ps --no-bpf --json "$VICTIM"
	[ "$(jq -c '[.tasks[] | [.id, .name, .state]] | sort' <<<"$output")" = \
		'[[1,"Task-1","running"],[2,"yielded","ready"],[3,"sleeper","waiting"],[4,"never-ran","pending"]]' ]
	run -0 "$TASKSCOPE" ps --no-bpf "$VICTIM"
	grep -qE '^ +2 yielded +ready +queued for [0-9.hms]+ ' <<<"$output"
	grep -qE '^ +4 never-ran +pending +queued for [0-9.hms]+ ' <<<"$output"
}

@test "seed example of ten tasks, kept alive: Task-1 runs main_coro, Task-2..11 task_coro" {
	start_victim_seed() {
		"$EXAMPLES/seed-all-tasks-ten" --hold > "$T/victim.out" 2>&1 &
		VICTIM=$!
		local i
		for i in $(seq 200); do grep -qx ready "$T/victim.out" && return 0; sleep 0.05; done
		return 1
	}
	start_victim_seed
	run -0 "$TASKSCOPE" ps --no-bpf --json "$VICTIM"
	[ "$(jq -r '.tasks[] | "\(.id) \(.name) \(.coro) \(.thread)"' <<<"$output")" = "$(
		echo "1 Task-1 main_coro $VICTIM"
		for n in $(seq 2 11); do echo "$n Task-$n task_coro $VICTIM"; done)" ]
	[ "$(jq '[.tasks[] | select(.state != "waiting" or .wait != "sleep")] | length' \
		<<<"$output")" -eq 0 ]
	run -0 "$TASKSCOPE" ps --no-bpf "$VICTIM"
	grep -qE '^ +1 Task-1 .* main_coro$' <<<"$output"
	grep -qE '^ *11 Task-11 .* task_coro$' <<<"$output"
}

@test "tree on taskscope-demo --deadlock: the 3-task cycle, named, exit 3" {
	start_demo "$T/truth" 5 --threads 1 --tasks 2 --deadlock
	local a b c
	a=$(jq -r 'select(.name == "deadlock-A") | .id' "$T/truth")
	b=$(jq -r 'select(.name == "deadlock-B") | .id' "$T/truth")
	c=$(jq -r 'select(.name == "deadlock-C") | .id' "$T/truth")
	run --separate-stderr "$TASKSCOPE" tree --no-bpf "$VICTIM"
	[ "$status" -eq 3 ]
	grep -qx "deadlock: cycle deadlock-A ($a) -> deadlock-B ($b) -> deadlock-C ($c) -> deadlock-A ($a)" \
		<<<"$output"
	[ "$(grep -c '^deadlock:' <<<"$output")" -eq 1 ]
	# every task appears in the tree
	local name
	while read -r name; do grep -q "$name (" <<<"$output"; done < <(jq -r .name "$T/truth")
	run --separate-stderr "$TASKSCOPE" tree --no-bpf --json "$VICTIM"
	[ "$status" -eq 3 ]
	[ "$(jq -c '.cycles' <<<"$output")" = "[[$a,$b,$c]]" ]
	[ "$(jq -r ".tasks[] | select(.id == $a) | .awaiting[0]" <<<"$output")" = "$b" ]
	[ "$(jq -c ".tasks[] | select(.id == $a) | .awaited_by" <<<"$output")" = "[$c]" ]
	# ps shows the same awaits
	run -0 "$TASKSCOPE" ps --no-bpf --json "$VICTIM"
	[ "$(jq -c "[.tasks[] | select(.id == $a or .id == $b or .id == $c) | .awaiting[0]]" \
		<<<"$output")" = "[$b,$c,$a]" ]
}

@test "tree without a cycle: every task listed, exit 0" {
	start_demo "$T/truth" 8 --threads 2 --tasks 3
	run --separate-stderr "$TASKSCOPE" tree --no-bpf "$VICTIM"
	[ "$status" -eq 0 ]
	! grep -q '^deadlock' <<<"$output"
	[ "$(grep -cE '\([0-9]+\) [a-z_]+\(\)' <<<"$output")" -eq 9 ]
	run -0 "$TASKSCOPE" tree --no-bpf --json "$VICTIM"
	[ "$(jq '.cycles | length' <<<"$output")" -eq 0 ]
}

@test "runtime statically linked in a PIE, as libtaskscope.so, and stripped: ps matches truth" {
	readelf -h "$PARKED" | grep -q 'DYN'
	! readelf -S "$PARKED-stripped" | grep -q '\.symtab'
	ldd "$PARKED-shared" | grep -q libtaskscope.so
	local v
	for v in "$PARKED" "$PARKED-shared" "$PARKED-stripped"; do
		rm -f "$T/truth"
		start_victim "$v" --threads 3 --tasks 7 --truth "$T/truth"
		run -0 "$TASKSCOPE" ps --no-bpf --json "$VICTIM"
		echo "$output" > "$T/ps.json"
		check_against_truth "$T/truth" "$T/ps.json" || { echo "variant $v" >&2; return 1; }
		[ "$(jq '.tasks | length' "$T/ps.json")" -eq 22 ]
		run -0 "$TASKSCOPE" -v ps --no-bpf "$VICTIM"
		stop_proc "$VICTIM"
	done
}

@test "10k tasks on 4 threads: all of them, each once, read in under a second" {
	start_victim "$PARKED" --threads 4 --tasks 2500 --stack 16 --truth "$T/truth"
	local t0 t1
	t0=$(date +%s%N)
	"$TASKSCOPE" ps --no-bpf --json "$VICTIM" > "$T/ps.json"
	t1=$(date +%s%N)
	check_against_truth "$T/truth" "$T/ps.json"
	[ "$(jq '.tasks | length' "$T/ps.json")" -eq 10001 ]
	echo "10k tasks: $(((t1 - t0) / 1000000)) ms" >&3
	[ $(((t1 - t0) / 1000000)) -lt 1000 ]
}

@test "names from the target cannot break the JSON or drive the terminal" {
	start_victim "$PARKED" --threads 0 --tasks 2 --odd-name
	run -0 "$TASKSCOPE" ps --no-bpf --json "$VICTIM"
	local odd
	odd=$(jq -r '.tasks[] | select(.name | startswith("odd")) | .name | @json' <<<"$output")
	[ "$odd" = '"odd\"\\\n\u001b[31mred�"' ]
	run -0 "$TASKSCOPE" ps --no-bpf "$VICTIM"
	! grep -q $'\e' <<<"$output"
	! LC_ALL=C grep -q $'\xff' <<<"$output"
	# escaped as README's output conventions say: \\ \n \e, \xNN for a byte that is not UTF-8
	grep -qF 'odd"\\\n\e[31mred\xff ' <<<"$output"
	run -0 "$TASKSCOPE" tree --no-bpf "$VICTIM"
	! grep -q $'\e' <<<"$output"
}

@test "a registry that never holds still, or fails validation: exit 9, nothing shown" {
	local c
	for c in gen id; do
		start_victim "$PARKED" --threads 1 --tasks 3 --corrupt "$c"
		run --separate-stderr "$TASKSCOPE" ps --no-bpf --json "$VICTIM"
		[ "$status" -eq 9 ] && [ -z "$output" ] || { echo "$c: $status $stderr" >&2; return 1; }
		case $c in
		gen) [[ $stderr == *"never held still"*"stuck odd"* ]] ;;
		id) [[ $stderr == *"failed validation"* ]] ;;
		esac
		run --separate-stderr "$TASKSCOPE" tree --no-bpf "$VICTIM"
		[ "$status" -eq 9 ] && [ -z "$output" ]
		stop_proc "$VICTIM"
	done
}

@test "a target in its own pid namespace: thread ids shown as ours" {
	[ "$(id -u)" = 0 ] || strict_skip "needs root for unshare"
	require_cmd unshare
	unshare --pid --fork --mount-proc "$PARKED" --threads 2 --tasks 3 --truth "$T/truth" \
		> "$T/victim.out" 2>&1 &
	SLEEPER=$!
	wait_for_lines "$T/victim.out" 1
	VICTIM=$(pgrep -P "$SLEEPER" -x parked)
	[ -n "$VICTIM" ]
	run -0 "$TASKSCOPE" ps --no-bpf --json "$VICTIM"
	# the truth's ids and names, each on one of the target's threads as we number them
	[ "$(jq -r '.tasks[] | select(.id > 1) | "\(.id) \(.name) \(.coro)"' <<<"$output")" = \
		"$(jq -r '"\(.id) \(.name) \(.coro)"' "$T/truth")" ]
	local tid
	for tid in $(jq -r '.threads[].tid, .tasks[].thread' <<<"$output" | sort -u); do
		[ -d "/proc/$VICTIM/task/$tid" ] || { echo "$tid is not a thread of $VICTIM" >&2; return 1; }
	done
	[ "$(jq '.threads | length' <<<"$output")" -eq 3 ]
	# the init of a pid namespace ignores SIGTERM from outside
	kill -9 "$VICTIM"
}

@test "a target in its own mount namespace: its binary found through /proc/PID/root" {
	[ "$(id -u)" = 0 ] || strict_skip "needs root for unshare"
	require_cmd unshare
	mkdir -p "$T/mnt"
	unshare --mount sh -c 'mount -t tmpfs none "$1" && cp "$2" "$1/victim" &&
		exec "$1/victim" --threads 1 --tasks 2 --truth "$3"' sh "$T/mnt" "$PARKED" "$T/truth" \
		> "$T/victim.out" 2>&1 &
	VICTIM=$!
	wait_for_lines "$T/victim.out" 1
	[ ! -e "$T/mnt/victim" ] # not visible from here
	run -0 "$TASKSCOPE" ps --no-bpf --json "$VICTIM"
	echo "$output" > "$T/ps.json"
	check_against_truth "$T/truth" "$T/ps.json"
	run -0 "$TASKSCOPE" probes "$VICTIM"
	[[ $output == *"$T/mnt/victim"* ]]
}

@test "a target whose binary was deleted (upgraded in place): read through map_files" {
	[ "$(id -u)" = 0 ] || strict_skip "map_files needs CAP_SYS_ADMIN"
	cp "$PARKED" "$T/victim"
	start_victim "$T/victim" --threads 1 --tasks 2 --truth "$T/truth"
	rm "$T/victim"
	run -0 "$TASKSCOPE" ps --no-bpf --json "$VICTIM"
	echo "$output" > "$T/ps.json"
	check_against_truth "$T/truth" "$T/ps.json"
	run -0 "$TASKSCOPE" probes "$VICTIM"
	[[ $output == *"$T/victim (deleted)"* ]]
}

@test "a kernel without a feature we need: says which, exit 8" {
	local nosys=$BUILD/progs/nosys
	[ -x "$nosys" ] || { echo "missing $nosys: run make" >&2; return 1; }
	start_victim "$PARKED" --threads 1 --tasks 2
	run --separate-stderr "$nosys" pidfd_open "$TASKSCOPE" ps --no-bpf "$VICTIM"
	[ "$status" -eq 8 ] && [[ $stderr == *"no pidfd_open"* ]] && [ -z "$output" ]
	run --separate-stderr "$nosys" process_vm_readv "$TASKSCOPE" tree --no-bpf "$VICTIM"
	[ "$status" -eq 8 ] && [[ $stderr == *"no process_vm_readv"* ]] && [ -z "$output" ]
	if [ "$(id -u)" = 0 ]; then
		# the BPF half says what failed; the exit code says it is the kernel
		run --separate-stderr "$nosys" bpf "$TASKSCOPE" ps "$VICTIM"
		[ "$status" -eq 8 ] && [ -n "$stderr" ] && [ -z "$output" ]
	fi
}

@test "tree: an await chain that merges, each task above the one it awaits" {
	start_victim "$PARKED" --threads 0 --tasks 1 --chain
	run -0 "$TASKSCOPE" tree --no-bpf "$VICTIM"
	grep -qE '^chain-0 \([0-9]+\) awaiter_task\(\) waiting await [0-9]+ for [0-9.hms]+$' <<<"$output"
	grep -qE '^└─ chain-1 \([0-9]+\) awaiter_task\(\) waiting await [0-9]+ for [0-9.hms]+$' \
		<<<"$output"
	grep -qE '^   └─ chain-2 \([0-9]+\) parked_task\(\) waiting sleep ' <<<"$output"
	grep -qE '^chain-x \([0-9]+\) awaiter_task\(\)' <<<"$output"
	grep -qE '^└─ chain-2 .*shown above' <<<"$output"
	run -0 "$TASKSCOPE" tree --no-bpf --json "$VICTIM"
	local c0 c1 c2 cx
	for v in 0 1 2 x; do
		eval "c$v=\$(jq '.tasks[] | select(.name == \"chain-$v\") | .id' <<<\"\$output\")"
	done
	[ "$(jq -c ".tasks[] | select(.id == $c2) | .awaited_by | sort" <<<"$output")" = \
		"$(jq -cn "[$c1, $cx] | sort")" ]
	[ "$(jq -c ".tasks[] | select(.id == $c0) | [.awaiting, .awaited_by]" <<<"$output")" = \
		"[[$c1],[]]" ]
	[ "$(jq -c '.roots' <<<"$output")" = "$(jq -c '[.tasks[] | select(.awaited_by == []) | .id]' \
		<<<"$output")" ]
	[ "$(jq -c '.cycles' <<<"$output")" = "[]" ]
}

@test "taskscope-demo --report: the work done so far and the process's CPU time, never going back" {
	"$DEMO" --threads 2 --tasks 2 --churn 1000 --report 20 > "$T/work" 2> "$T/demo.err" &
	VICTIM=$!
	# "work MONOTONIC_MS UNITS CPU_NS": wait for work done and two more reports after it
	wait_line "$T/work" '^work [0-9]+ [1-9][0-9]* [1-9][0-9]*$'
	local n
	n=$(grep -c . "$T/work")
	wait_for_lines "$T/work" $((n + 2))
	kill -TERM "$VICTIM"
	wait_exit "$VICTIM"
	VICTIM=
	[ "$RC" = 0 ]
	awk '$1 != "work" || NF != 4 { bad = 1 }
	     NR > 1 && ($2 < t || $3 < u || $4 < c) { bad = 1 }
	     { t = $2; u = $3; c = $4 }
	     END { exit bad || NR < 3 }' "$T/work" || { cat "$T/work" >&2; false; }
	grep -qE '^taskscope-demo: work done: [1-9][0-9]* units .* in [0-9.]+ s of CPU$' "$T/demo.err"
}

@test "taskscope-demo --flight-ab: its flight recorder off and on by turns in quads, each report saying which" {
	run "$DEMO" --flight-ab 1 --duration 0.1
	[ "$status" = 2 ] # it needs --report
	"$DEMO" --threads 1 --tasks 2 --churn 1000 --report 20 --flight-ab 1 > "$T/work" \
		2> "$T/demo.err" &
	VICTIM=$!
	wait_for_lines "$T/work" 10
	kill -TERM "$VICTIM"
	wait_exit "$VICTIM"
	VICTIM=
	[ "$RC" = 0 ]
	# the start's line "on" (the rings made then), then periods off on on off, off on on off...
	awk '$1 != "work" || NF != 5 { bad = 1 }
	     { s = s substr($5, 1, 2) " " }
	     END { exit bad || NR < 10 || substr(s, 1, 30) != "on of on on of of on on of of " }' \
		"$T/work" || { cat "$T/work" >&2; false; }
}
