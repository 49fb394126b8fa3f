#!/usr/bin/env bats
# The target's files are hostile input (docs/stacks.md, "The target's files are hostile
# input"): corrupted copies of real binaries for `probes FILE`; live processes whose files are
# corrupted where the process does not look (separate debug info found by build-id, a library
# it loaded with dlopen, the notes of its runtime library); a library truncated and rewritten
# under the reader; a FIFO mounted over the binary's path by an unprivileged target. Every
# command must answer (a hang detector: timeout) without a crash (no signal, no sanitizer
# report, no "double free"), with a clear error when it cannot read something, and the
# target must never be harmed. The corruptions are deterministic (tests/bats/mutate-elf.py,
# seeded); $HOSTILE_N sets how many per test.

load test_helper
bats_require_minimum_version 1.5.0

N=${HOSTILE_N:-100}
MUTATE=$BATS_TEST_DIRNAME/mutate-elf.py
LIBV=$BUILD/progs/lib_victim
PARKLIB=$BUILD/progs/libparklib.so
STACKS=$BUILD/progs/parked_stacks

setup() {
	local f
	for f in "$TASKSCOPE" "$LIBV-shared" "$PARKLIB" "$STACKS" "$STACKS-stripped" \
		"$BUILD/libtaskscope.so"; do
		[ -e "$f" ] || { echo "missing $f: run make" >&2; return 1; }
	done
	require_cmd python3
	T=$BATS_TEST_TMPDIR
}

teardown() {
	[ -n "${VICTIM:-}" ] && stop_proc "$VICTIM"
	[ -n "${BG:-}" ] && stop_proc "$BG"
	[ -n "${PUB:-}" ] && rm -rf "$PUB"
	return 0
}

# Run a command with a hang detector and look at how it ended: no answer within $HANG_S
# seconds, a signal, a sanitizer or allocator report, or an error without a message fail.
# Sets RC; stdout and stderr in $T/out and $T/err.
answer() { # label command...
	local label=$1
	shift
	RC=0
	timeout -k 5 "${HANG_S:-30}" "$@" > "$T/out" 2> "$T/err" 3>&- || RC=$?
	if [ "$RC" -eq 124 ] || [ "$RC" -eq 137 ]; then
		echo "$label: no answer within ${HANG_S:-30} s: $*" >&2
		return 1
	fi
	if [ "$RC" -ge 128 ]; then
		echo "$label: killed by signal $((RC - 128)): $*" >&2
		tail -5 "$T/err" >&2
		return 1
	fi
	if grep -qE 'double free|free\(\)|corruption|AddressSanitizer|LeakSanitizer|runtime error|Segmentation|Aborted' "$T/err"; then
		echo "$label: crash report: $*" >&2
		tail -20 "$T/err" >&2
		return 1
	fi
	if [ "$RC" -ne 0 ] && ! grep -q '^taskscope' "$T/err"; then
		echo "$label: exit $RC without a message: $*" >&2
		return 1
	fi
}

# Start a victim (command and arguments) in the background; returns once it printed "ready".
start_victim() {
	"$@" > "$T/victim.out" 2> "$T/victim.err" 3>&- &
	VICTIM=$!
	wait_for_lines "$T/victim.out" 1
	grep -qx ready "$T/victim.out" || { cat "$T/victim.err" >&2; return 1; }
}

# Stop the coprocess MUT (mutate-elf.py serve): end of its input.
end_mutator() {
	local pid=$MUT_PID
	eval "exec ${MUT[1]}>&-"
	wait "$pid" || true
}

# The names of the tasks ps --json gave, sorted, one line.
task_names() {
	jq -r '[.tasks[].name] | sort | join(" ")' "$T/out"
}

@test "probes FILE: $N corrupted copies each of three real binaries, each answered without a crash or a hang" {
	local bin k n=0 ok=0 refused=0
	for bin in "$STACKS" "$BUILD/libtaskscope.so" "$PARKLIB"; do
		python3 "$MUTATE" copies any "$bin" "$T/m" "$N" 7
		for ((k = 0; k < N; k++)); do
			local f=$T/m/$(printf %03d $k)
			answer "probes $(basename "$bin") copy $k ($(cat "$f.how"))" \
				"$TASKSCOPE" probes "$f"
			case $RC in
			0) grep -q PROBE "$T/out"; ok=$((ok + 1)) ;;
			1 | 5) refused=$((refused + 1)) ;;
			*) echo "copy $k ($(cat "$f.how")): exit $RC" >&2; return 1 ;;
			esac
			n=$((n + 1))
		done
		rm -rf "$T/m"
	done
	echo "# $n corrupted copies: $ok listed, $refused refused with a message" >&3
	[ "$ok" -gt 0 ] && [ "$refused" -gt 0 ]
}

@test "probes FILE: a FIFO, a directory, a device are refused at once, not opened" {
	mkfifo "$T/fifo"
	answer fifo "$TASKSCOPE" probes "$T/fifo"
	[ "$RC" -eq 1 ] && grep -q 'not a regular file' "$T/err"
	answer dir "$TASKSCOPE" probes "$T"
	[ "$RC" -eq 1 ] && grep -q 'not a regular file' "$T/err"
	answer dev "$TASKSCOPE" probes /dev/zero
	[ "$RC" -eq 1 ] && grep -q 'not a regular file' "$T/err"
	: > "$T/empty"
	answer empty "$TASKSCOPE" probes "$T/empty"
	[ "$RC" -eq 1 ] && grep -q 'not a 64-bit ELF file' "$T/err"
}

@test "a symbol table whose entsize exceeds its size (the double free): ps --stacks, probes, on a live process and a file" {
	mkdir -p "$T/lib"
	cp "$PARKLIB" "$T/lib/libparklib.so"
	start_victim "$LIBV-shared" "$T/lib/libparklib.so"
	# .symtab and .dynsym: section headers only, where the process does not look
	python3 "$MUTATE" entsize "$T/lib/libparklib.so"
	answer "ps --stacks" "$TASKSCOPE" ps --no-bpf --stacks --json "$VICTIM"
	[ "$RC" -eq 0 ]
	[ "$(task_names)" = "Task-1 in-lib sleeper" ]
	# DWARF still names the library's function
	jq -e '.tasks[] | select(.name == "in-lib") | .stack[] | select(.fn == "parklib_park")' \
		"$T/out" > /dev/null
	answer "tree --stacks" "$TASKSCOPE" tree --no-bpf --stacks "$VICTIM"
	[ "$RC" -eq 0 ]
	answer "probes PID" "$TASKSCOPE" probes "$VICTIM"
	[ "$RC" -eq 0 ]
	answer "probes FILE" "$TASKSCOPE" probes "$T/lib/libparklib.so"
	[ "$RC" -eq 0 ]
	kill -0 "$VICTIM"
}

@test "ps --stacks with $N corrupted copies of separate debug info, found by build-id in a debug dir" {
	local k id dbg frames=0
	objcopy --only-keep-debug "$STACKS" "$T/orig.debug"
	id=$(readelf -n "$STACKS" | awk '/Build ID/ { print $3 }')
	[ -n "$id" ]
	dbg=$T/dbg/.build-id/${id:0:2}/${id:2}.debug
	mkdir -p "$(dirname "$dbg")"
	start_victim "$STACKS-stripped"
	# control: the debug file is really read (names and lines), and without it there are none
	cp "$T/orig.debug" "$dbg"
	TASKSCOPE_DEBUG_DIRS=$T/dbg answer control "$TASKSCOPE" ps --no-bpf --stacks --json "$VICTIM"
	[ "$RC" -eq 0 ]
	jq -e '[.tasks[].stack[] | select(.fn == "sleep_here" and .line > 0)] | length > 0' "$T/out"
	python3 "$MUTATE" copies debug "$T/orig.debug" "$T/m" "$N" 11
	for ((k = 0; k < N; k++)); do
		cp "$T/m/$(printf %03d $k)" "$dbg"
		TASKSCOPE_DEBUG_DIRS=$T/dbg answer "debug copy $k ($(cat "$T/m/$(printf %03d $k).how"))" \
			"$TASKSCOPE" ps --no-bpf --stacks --json "$VICTIM"
		# the runtime is read from the process's own (intact) file: always an answer
		[ "$RC" -eq 0 ] || { echo "copy $k: exit $RC: $(cat "$T/err")" >&2; return 1; }
		[ "$(task_names)" = "Task-1 awaiter deep fd-waiter sleeper" ]
		jq -e '[.tasks[].stack[] | select(.fn == "sleep_here")] | length > 0' "$T/out" \
			> /dev/null && frames=$((frames + 1))
	done
	echo "# $N corrupted debug files: $frames still named the parked function" >&3
	kill -0 "$VICTIM"
}

@test "ps, ps --stacks, probes PID: a library the process loaded with dlopen, corrupted after load where the process does not look, $N rounds" {
	local k how
	mkdir -p "$T/lib"
	cp "$PARKLIB" "$T/lib/libparklib.so"
	start_victim "$LIBV-shared" "$T/lib/libparklib.so"
	coproc MUT { python3 "$MUTATE" serve "$PARKLIB" "$T/lib/libparklib.so" 3>&-; }
	for ((k = 0; k < N; k++)); do
		echo "$k" >&"${MUT[1]}"
		read -r how <&"${MUT[0]}"
		answer "ps round $k ($how)" "$TASKSCOPE" ps --no-bpf --json "$VICTIM"
		[ "$RC" -eq 0 ] && [ "$(task_names)" = "Task-1 in-lib sleeper" ]
		answer "ps --stacks round $k ($how)" "$TASKSCOPE" ps --no-bpf --stacks --json "$VICTIM"
		[ "$RC" -eq 0 ] && [ "$(task_names)" = "Task-1 in-lib sleeper" ]
		answer "probes round $k ($how)" "$TASKSCOPE" probes "$VICTIM"
		[ "$RC" -eq 0 ]
	done
	end_mutator
	kill -0 "$VICTIM"
}

@test "attach to a process whose runtime library's notes are corrupted after load: no probe outside a probe site, the target unharmed" {
	require_root_bpf
	local k how bad=0 before
	# the victim and its own copy of libtaskscope.so (found through its rpath, $ORIGIN/..)
	mkdir -p "$T/rt/progs"
	cp "$BUILD/libtaskscope.so" "$T/rt/libtaskscope.so.0"
	cp "$LIBV-shared" "$T/rt/progs/"
	start_victim "$T/rt/progs/lib_victim-shared" "$PARKLIB"
	grep -q "$T/rt/libtaskscope.so.0" "/proc/$VICTIM/maps"
	before=$("$TASKSCOPE" ps --no-bpf --json "$VICTIM" | jq -c '[.tasks[] | [.id, .name, .state]]')
	coproc MUT { python3 "$MUTATE" serve "$BUILD/libtaskscope.so" "$T/rt/libtaskscope.so.0" \
		.note.stapsdt 3>&-; }
	for ((k = 0; k < ${HOSTILE_ATTACH_N:-40}; k++)); do
		echo "$k" >&"${MUT[1]}"
		read -r how <&"${MUT[0]}"
		answer "ps round $k ($how)" "$TASKSCOPE" ps --json "$VICTIM"
		case $RC in
		0) [ "$(task_names)" = "Task-1 in-lib sleeper" ] ;;
		1) grep -qE 'damaged file|USDT|cannot attach probe' "$T/err"; bad=$((bad + 1)) ;;
		*) echo "round $k ($how): exit $RC: $(cat "$T/err")" >&2; return 1 ;;
		esac
		# the target: alive, its tasks as they were, every semaphore back to 0
		kill -0 "$VICTIM"
		[ "$("$TASKSCOPE" ps --no-bpf --json "$VICTIM" | jq -c '[.tasks[] | [.id, .name, .state]]')" = "$before" ]
	done
	end_mutator
	python3 "$MUTATE" inplace "$BUILD/libtaskscope.so" "$T/rt/libtaskscope.so.0" 0 .none > /dev/null
	"$TASKSCOPE" probes --json "$VICTIM" |
		jq -e '[.probes[] | select(.semaphore_count != null) | .semaphore_count] | max == 0'
	echo "# ${HOSTILE_ATTACH_N:-40} rounds: $bad refused to attach to a damaged file" >&3
}

@test "a library truncated and rewritten in a loop by its own process: probes, ps, ps --stacks never die of a signal" {
	local cmd i sig=0 runs=0
	mkdir -p "$T/lib"
	cp "$PARKLIB" "$T/lib/libparklib.so"
	start_victim "$LIBV-shared" "$T/lib/libparklib.so" -r
	for cmd in "probes" "ps --no-bpf" "ps --no-bpf --stacks"; do
		for ((i = 0; i < ${HOSTILE_TRUNC_N:-100}; i++)); do
			# shellcheck disable=SC2086
			answer "$cmd try $i" "$TASKSCOPE" $cmd "$VICTIM"
			# the runtime's own library is never cut: always a full answer
			[ "$RC" -eq 0 ] || { echo "$cmd try $i: exit $RC: $(cat "$T/err")" >&2; return 1; }
			runs=$((runs + 1))
		done
	done
	echo "# $runs runs against a library cut short and rewritten every ~0.1 ms: 0 signals" >&3
	kill -0 "$VICTIM"
}

# ---- a FIFO where the binary was: an unprivileged target in its own user+mount namespace ----

# Start a copy of parked_stacks as nobody in its own user and mount namespaces, which then
# mounts a tmpfs over the copy's folder and puts a FIFO at the copy's path. VICTIM: its pid;
# PUB: a folder nobody can enter (the checkout may sit where nobody cannot).
start_fifo_victim() {
	[ "$(id -u)" = 0 ] || strict_skip "needs root to start a victim as nobody"
	require_cmd setpriv
	require_cmd unshare
	PUB=$(mktemp -d)
	mkdir "$PUB/d"
	cp "$STACKS" "$PUB/d/victim"
	chmod 755 "$PUB"
	chown -R 65534:65534 "$PUB"
	setpriv --reuid=65534 --regid=65534 --clear-groups test -x "$PUB/d/victim" ||
		strict_skip "nobody cannot reach $PUB"
	setpriv --reuid=65534 --regid=65534 --clear-groups \
		unshare --user --map-root-user --mount sh -c '
		"$1/d/victim" > "$1/victim.out" 2>&1 &
		echo $! > "$1/victim.pid"
		while ! grep -qx ready "$1/victim.out" 2>/dev/null; do sleep 0.05; done
		mount -t tmpfs none "$1/d" && mkfifo "$1/d/victim" && echo trapped > "$1/trap"
		wait' sh "$PUB" > "$T/ns.err" 2>&1 3>&- &
	BG=$!
	wait_for_lines "$PUB/trap" 1 || { cat "$T/ns.err" "$PUB/victim.out" >&2; return 1; }
	VICTIM=$(cat "$PUB/victim.pid")
	# from inside its namespaces the binary's path is a FIFO now
	[ -p "/proc/$VICTIM/root$PUB/d/victim" ]
}

@test "a FIFO mounted over the binary's path: ps, tree, top, record, probes, ps --stacks all answer, through map_files" {
	require_root_bpf
	start_fifo_victim
	local names="Task-1 awaiter deep fd-waiter sleeper"
	answer ps "$TASKSCOPE" ps --json "$VICTIM"
	[ "$RC" -eq 0 ] && [ "$(task_names)" = "$names" ]
	answer "ps --stacks" "$TASKSCOPE" ps --no-bpf --stacks --json "$VICTIM"
	[ "$RC" -eq 0 ] && [ "$(task_names)" = "$names" ]
	jq -e '[.tasks[].stack[] | select(.fn == "sleep_here")] | length > 0' "$T/out"
	answer tree "$TASKSCOPE" tree "$VICTIM"
	[ "$RC" -eq 0 ] && grep -q 'sleeper' "$T/out"
	answer top "$TASKSCOPE" top -b -n 1 "$VICTIM"
	[ "$RC" -eq 0 ] && grep -q 'fd-waiter' "$T/out"
	answer record "$TASKSCOPE" record -d 1 -o "$T/rec.tsc" "$VICTIM"
	[ "$RC" -eq 0 ]
	"$TASKSCOPE" dump --at end --json "$T/rec.tsc" | jq -e '[.tasks[].name] | length == 5'
	answer probes "$TASKSCOPE" probes "$VICTIM"
	[ "$RC" -eq 0 ] && grep -q task_switch "$T/out"
	kill -0 "$VICTIM"
}

@test "a FIFO mounted over the binary's path, read without CAP_SYS_ADMIN: a clear error at once, no hang" {
	start_fifo_victim
	cp "$TASKSCOPE" "$PUB/taskscope"
	chmod 755 "$PUB/taskscope"
	# nobody owns the victim's user namespace: ptrace access, but no map_files
	local as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)
	for cmd in "ps --no-bpf" "tree --no-bpf" "ps --no-bpf --stacks"; do
		# shellcheck disable=SC2086
		answer "$cmd" "${as_nobody[@]}" "$PUB/taskscope" $cmd "$VICTIM"
		[ "$RC" -eq 1 ] && grep -q 'not a regular file' "$T/err"
	done
	answer probes "${as_nobody[@]}" "$PUB/taskscope" probes "$VICTIM"
	[ "$RC" -eq 1 ] && grep -q 'not a regular file' "$T/err"
	kill -0 "$VICTIM"
}

@test "top and record: SIGTERM ends them at once, while they attach and while they run" {
	require_root_bpf
	local pid i
	start_victim "$STACKS"
	# while attaching: the test hook holds the probes attached 30 s inside the attach
	for cmd in "top -b" "record -o $T/r1.tsc"; do
		# shellcheck disable=SC2086
		TASKSCOPE_TEST_HOLD_MS=30000 "$TASKSCOPE" $cmd "$VICTIM" > "$T/bg.out" 2>&1 3>&- &
		pid=$!
		for i in $(seq 200); do # attached: the semaphores are up
			"$TASKSCOPE" probes --json "$VICTIM" |
				jq -e '[.probes[].semaphore_count] | max > 0' > /dev/null && break
			sleep 0.05
		done
		kill -TERM "$pid"
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		! kill -0 "$pid" 2>/dev/null || { echo "$cmd: alive 5 s after SIGTERM" >&2; return 1; }
		wait "$pid" || true
	done
	# the kernel released their probes
	"$TASKSCOPE" probes --json "$VICTIM" | jq -e '[.probes[].semaphore_count] | max == 0'
	# while running: a clean end, exit 0
	for cmd in "top -b" "record -v -o $T/r2.tsc"; do
		# emptied before the start, not by the background child: the wait below must not
		# see what the previous command wrote
		: > "$T/bg.out"
		: > "$T/bg.err"
		# shellcheck disable=SC2086
		"$TASKSCOPE" $cmd "$VICTIM" >> "$T/bg.out" 2>> "$T/bg.err" 3>&- &
		pid=$!
		for i in $(seq 200); do
			grep -qE 'recording process|fd-waiter' "$T/bg.out" "$T/bg.err" 2>/dev/null && break
			sleep 0.05
		done
		kill -TERM "$pid"
		for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		! kill -0 "$pid" 2>/dev/null || { echo "$cmd: alive 5 s after SIGTERM" >&2; return 1; }
		local rc=0
		wait "$pid" || rc=$?
		[ "$rc" -eq 0 ] || { echo "$cmd: exit $rc: $(cat "$T/bg.err")" >&2; return 1; }
	done
	"$TASKSCOPE" dump --summary "$T/r2.tsc" > /dev/null
}
