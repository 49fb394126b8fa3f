#!/usr/bin/env bats
# A target whose registry is an attack (tests/progs/hostile_registry.c, one mode per attack):
# the runtime runs for real, and the descriptor points readers at fake loops and tasks built to
# exhaust them. Every command that walks the registry (ps, ps --json, tree, ps --stacks, top -b,
# record, profile) must end under a hang detector, with the exit code and message the attack
# deserves, within a bound on its peak memory (RSS, from /usr/bin/time), and the target must
# keep running.
# Each test writes what each command cost to $BUILD/hostile-registry/MODE.txt.

load test_helper
bats_require_minimum_version 1.5.0

HOSTILE=$BUILD/progs/hostile_registry
# Peak RSS of any command against any attack, in KiB. Measured here: at most ~65 MiB (top and
# ps --stacks over 2^20 task pointers or 40,000 tasks); before the bounds, 2 GiB (loops) and
# 290 to 520 MiB (dup, desc).
MEM_KIB=$((192 * 1024))
HANG_S=20        # a hang detector: every command here takes well under 2 s
OUT_KIB=102400   # output files: a tree that prints its depth squared is stopped (SIGXFSZ)

setup() {
	require_root_bpf
	local f
	for f in "$TASKSCOPE" "$HOSTILE"; do
		[ -x "$f" ] || { echo "missing $f: run make" >&2; return 1; }
	done
	[ -x /usr/bin/time ] || strict_skip "/usr/bin/time is not installed (package time)"
	T=$BATS_TEST_TMPDIR
	mkdir -p "$BUILD/hostile-registry"
}

teardown() {
	[ -n "${VICTIM:-}" ] && stop_proc "$VICTIM"
	return 0
}

start_hostile() { # mode
	MODE=$1
	"$HOSTILE" "$1" --truth "$T/truth" > "$T/victim.out" 2> "$T/victim.err" 3>&- &
	VICTIM=$!
	local i
	for i in $(seq 600); do # up to 30 s, however loaded the machine
		grep -qx ready "$T/victim.out" && break
		kill -0 "$VICTIM" 2>/dev/null || break
		sleep 0.05
	done
	grep -qx ready "$T/victim.out" || {
		echo "$1: the victim never got ready: $(cat "$T/victim.err")" >&2
		return 1
	}
	: > "$BUILD/hostile-registry/$MODE.txt"
}

# bounded NAME ARGS...: `taskscope ARGS PID` under the hang detector and /usr/bin/time, output in
# $T/NAME.out and .err; sets status. Fails when it hung or went past the memory bound.
bounded() {
	local name=$1 kib secs
	shift
	status=0
	(ulimit -f $OUT_KIB; exec timeout -k 5 $HANG_S /usr/bin/time -o "$T/$name.time" -f '%M %e' \
		"$TASKSCOPE" "$@" "$VICTIM" > "$T/$name.out" 2> "$T/$name.err" 3>&-) || status=$?
	read -r kib secs < <(tail -n 1 "$T/$name.time")
	printf '%-10s %-10s exit %-3s %7s KiB %6s s  %s\n' "$MODE" "$name" "$status" "$kib" "$secs" \
		"$(head -n 1 "$T/$name.err" | cut -c 1-120)" >> "$BUILD/hostile-registry/$MODE.txt"
	if [ "$status" = 124 ] || [ "$status" = 137 ]; then
		echo "$MODE: taskscope $* hung (killed after $HANG_S s)" >&2
		return 1
	fi
	if ! [[ $kib =~ ^[0-9]+$ ]] || [ "$kib" -gt $MEM_KIB ]; then
		echo "$MODE: taskscope $* peaked at ${kib} KiB (bound $MEM_KIB KiB)" >&2
		return 1
	fi
}

# every command against the target: expect EXIT (one code for all, or "ps=... top=..." per
# command, by the names below); a failing command prints PATTERN on stderr and nothing else.
all_commands() { # expect pattern
	local expect=$1 pattern=$2 name want
	local -A args=(
		[ps]="ps" [ps-json]="ps --json" [tree]="tree" [ps-stacks]="ps --stacks --no-group"
		[ps-groups]="ps --stacks"
		[top]="top -b -n 2 -d 0.2" [record]="record -d 1 -o $T/rec.tsc"
		[profile]="profile -d 1 -o $T/prof.folded"
		[profile-wait]="profile --wait -d 1 -o $T/wait.folded"
	)
	for name in ps ps-json tree ps-stacks ps-groups top record profile profile-wait; do
		want=$expect
		# the stacks grouped (the default) end as the stacks one per task do
		[[ $expect == *=* ]] && want=$(tr ' ' '\n' <<<"$expect" | sed -n "s/^${name/ps-groups/ps-stacks}=//p")
		# shellcheck disable=SC2086
		bounded "$name" ${args[$name]}
		if [[ " $want " != *" $status "* ]]; then
			echo "$MODE: $name exited $status, expected $want: $(cat "$T/$name.err")" >&2
			return 1
		fi
		if [ "$status" = 9 ] || [ "$status" = 10 ]; then
			[ ! -s "$T/$name.out" ] || { echo "$MODE: $name printed a guess" >&2; return 1; }
			grep -q -- "$pattern" "$T/$name.err" || {
				echo "$MODE: $name said: $(cat "$T/$name.err")" >&2
				return 1
			}
		fi
	done
}

# The target still runs: its main task answers SIGUSR1 with "alive N" (its live tasks).
still_alive() {
	kill -0 "$VICTIM"
	kill -USR1 "$VICTIM"
	wait_for_lines "$T/victim.out" 2
	grep -q '^alive [0-9]' "$T/victim.out"
}

@test "256 loops claiming 2^20 tasks each: refused before any array is allocated" {
	start_hostile loops
	all_commands 9 "claim 268435456 tasks: more than the 2097152 taskscope reads"
	still_alive
}

@test "task pointers listed 2^20 times: each task read and shown once" {
	start_hostile dup
	all_commands 0
	# the real tasks, each once, and nothing else but the main task
	jq -e -n --slurpfile truth "$T/truth" --slurpfile ps "$T/ps-json.out" '
		[$truth[].id] as $want | [$ps[0].tasks[] | select(.id != 1) | .id] as $got |
		($got | sort) == ($want | sort)' >/dev/null
	still_alive
}

@test "a task whose seq stays odd, 200,000 times in the array: one budget, then exit 9" {
	start_hostile oddseq
	# top keeps the last read of a task that never holds still (a live view goes on)
	all_commands "ps=9 ps-json=9 tree=9 ps-stacks=9 top=0 record=9 profile=0 profile-wait=9" "task(s) of process .* kept changing"
	still_alive
}

@test "60,000 distinct coroutine names: each read once, cut at 63 bytes, unreadable as ?" {
	start_hostile coros
	all_commands 0
	jq -e '[.tasks[] | select(.name | startswith("c-")) | .coro] | unique | length == 60003' \
		"$T/ps-json.out" >/dev/null
	[ "$(jq -r '.tasks[] | select(.name == "c-41999") | .coro' "$T/ps-json.out")" = coro_41999 ]
	# before an unmapped page; at an unmapped address; 4 KiB without a NUL
	[ "$(jq -r '.tasks[] | select(.name == "c-odd-0") | .coro' "$T/ps-json.out")" = uuuuuuuuuu ]
	[ "$(jq -r '.tasks[] | select(.name == "c-odd-1") | .coro' "$T/ps-json.out")" = "?" ]
	[ "$(jq -r '.tasks[] | select(.name == "c-odd-2") | .coro' "$T/ps-json.out")" = \
		"$(printf 'L%.0s' $(seq 63))" ]
	grep -q 'coro_59999' "$T/top.out"
	still_alive
}

@test "NULL, unmapped, kernel, misaligned and self-referring pointers: exit 9, top notes them" {
	start_hostile bogus
	all_commands "ps=9 ps-json=9 tree=9 ps-stacks=9 top=0 record=9 profile=0 profile-wait=9" "failed validation"
	grep -q 'failed validation and are not shown' "$T/top.out"
	still_alive
}

@test "await cycles, a 20,000-deep await chain, awaits of nobody, frame loops: all shown" {
	start_hostile cycle
	all_commands "ps=0 ps-json=0 tree=3 ps-stacks=0 top=0 record=0 profile=0 profile-wait=0"
	grep -q '^deadlock: cycle cycle-a ([0-9]*) -> cycle-b ([0-9]*) -> cycle-a' "$T/tree.out"
	grep -q '^deadlock: cycle self-await ([0-9]*) -> self-await' "$T/tree.out"
	# the chain's depth is shown, not printed in spaces
	grep -q '└─ \[19999\] chain-19999 ' "$T/tree.out"
	[ "$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$T/tree.out")" -lt 400 ]
	grep -A3 '^ *[0-9]* frames-loop ' "$T/ps-stacks.out" | grep -q 'bad frame pointer'
	grep -q 'bad frame pointer' "$T/ps-groups.out"
	grep -A100 '^ *[0-9]* frames-deep ' "$T/ps-stacks.out" | grep -q 'more frames (stopped at 64'
	still_alive
}

@test "5,000 stacks of 60 distinct return addresses: symbolizing stops at its budget" {
	start_hostile frames
	all_commands 0
	grep -q 'frame address(es) of process [0-9]* left unresolved' "$T/ps-stacks.err"
	grep -q '^ *#[0-9]* *0x[0-9a-f]* ??$' "$T/ps-stacks.out"
	still_alive
}

@test "a descriptor whose task fields end 64 KiB in: exit 10 before any read" {
	start_hostile desc
	all_commands 10 "describes 65448 bytes of task fields; this taskscope reads at most 512"
	still_alive
}

@test "a descriptor with 4000-byte names or 65536 loop slots: exit 10" {
	start_hostile desc-name
	all_commands 10 "describes 4000 bytes per task name"
	still_alive
	stop_proc "$VICTIM"
	start_hostile desc-loops
	all_commands 10 "describes 65536 loop table slots"
	still_alive
}

@test "ids 0 and past the next id, loops on threads not the process's: exit 9" {
	start_hostile ids
	all_commands "ps=9 ps-json=9 tree=9 ps-stacks=9 top=0 record=9 profile=0 profile-wait=9" "failed validation"
	grep -q '3 task(s) failed validation' "$T/top.out"
	still_alive
}

@test "generations that never settle: exit 9 within the retry budget" {
	start_hostile gen
	all_commands 9 "never held still in .* (generation stuck odd"
	still_alive
	stop_proc "$VICTIM"
	start_hostile gen-table
	all_commands 9 "the loop table of process .* kept changing"
	still_alive
	stop_proc "$VICTIM"
	# moving without pause: a read holds still only while the mover is off the CPU, so
	# either answer is right; what matters is the time and memory it costs
	start_hostile gen-moving
	all_commands "0 9" "never held still"
	still_alive
}
