#!/usr/bin/env bats
# Children of a traced process (include/taskscope/probes.h, "Forked children"). On this kernel
# a uprobe on our nop5 becomes a call into the tracer's [uprobes-trampoline] mapping, which a
# forked child does not inherit: without the fork handler, its first probe hit jumps to
# unmapped memory. The victim tests/progs/forksafe makes children on command in every way a
# process can (fork, daemon, posix_spawn, vfork, exec, raw clone, _Fork) while a tracer has
# patched its sites: every child must run its own loop and exit 0, whatever tracer patched
# the sites, while it is attached or after it has gone; a tracer that attaches to a child
# later must work. Last, tracers killed with SIGKILL at random moments must leave no
# semaphore up and no link or program behind. TASKSCOPE_TEST_KILLS sets how many (10).

load test_helper

FS=$BUILD/progs/forksafe

setup() {
	require_root_bpf
	[ -x "$TASKSCOPE" ] || { echo "missing $TASKSCOPE: run make" >&2; return 1; }
	[ -x "$FS" ] || { echo "missing $FS: run make" >&2; return 1; }
	T=$BATS_TEST_TMPDIR
	PIDS=()
}

teardown() {
	local i
	# children waiting for a file get it, so that none waits out its 120 s
	[ -d "$T/d" ] && touch "$T/d/go" "$T/d/release"
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		kill -CONT "${PIDS[i]}" 2>/dev/null
		stop_proc "${PIDS[i]}"
	done
	return 0
}

# Poll a command until it succeeds, up to ~60 s (a hang detector, not a timing assertion).
wait_until() {
	local i
	for i in $(seq 1200); do
		"$@" && return 0
		sleep 0.05
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

# Every taskscope probe site of process $1, one line each: probe, semaphore value, and what
# the site holds: nop (the nop5), trampoline (a call into [uprobes-trampoline]), call-elsewhere
# (a call to anything else), int3, or other. The addresses come from `taskscope probes`.
sites() {
	"$TASKSCOPE" probes --json "$1" | python3 -c '
import json, sys
pid = int(sys.argv[1])
maps = []
for line in open(f"/proc/{pid}/maps"):
    f = line.split()
    lo, hi = (int(x, 16) for x in f[0].split("-"))
    maps.append((lo, hi, f[5] if len(f) > 5 else "[anonymous]"))
def where(a):
    return next((m for lo, hi, m in maps if lo <= a < hi), "unmapped")
with open(f"/proc/{pid}/mem", "rb") as mem:
    for p in json.load(sys.stdin)["probes"]:
        a = p["runtime_address"]
        mem.seek(a)
        b = mem.read(5)
        if b == bytes.fromhex("0f1f440000"):
            kind = "nop"
        elif b[0] == 0xe8:
            dest = a + 5 + int.from_bytes(b[1:5], "little", signed=True)
            kind = "trampoline" if where(dest) == "[uprobes-trampoline]" else "call-elsewhere"
        elif b[0] == 0xcc:
            kind = "int3"
        else:
            kind = "other"
        print(p["name"], p["semaphore_count"], kind)
' "$1"
}

sems_total() {
	sites "$1" | awk '{ s += $2 } END { print s + 0 }'
}

sems_zero() {
	[ "$(sems_total "$1")" = 0 ]
}

# At least one site of process $1 is an optimized uprobe (a call into the trampoline).
patched() {
	local s
	s=$(sites "$1") && grep -q ' trampoline$' <<<"$s"
}

# All sites of process $1 hold the nop5 and all semaphores are 0.
clean() {
	local s
	s=$(sites "$1") && ! grep -v ' 0 nop$' <<<"$s"
}

# File $1 has at least $2 lines.
has_lines() {
	[ -f "$1" ] && [ "$(wc -l <"$1")" -ge "$2" ]
}

# Start forksafe in $T/d as FSPID, wait for "ready".
start_victim() {
	rm -rf "$T/d"
	mkdir "$T/d"
	spawn victim "${1:-$FS}" "${@:2}" "$T/d"
	FSPID=$PID
	wait_for_lines "$T/victim.out" 1
	NCMD=0
}

# forks MODE COUNT FLAGS: have the victim make COUNT children; wait until it has.
forks() {
	echo "$1 $2 $3" >"$T/d/cmd.tmp"
	mv "$T/d/cmd.tmp" "$T/d/cmd"
	NCMD=$((NCMD + 1))
	kill -USR1 "$FSPID"
	wait_until test -f "$T/d/forked.$NCMD"
}

# Let gated children go, then check that all N children (and M more processes: the middle
# ones of daemon mode) were reaped with exit 0 and that the N wrote ok; then stop the victim
# and check its own output.
check_children() {
	local n=$1 m=${2:-0} bad
	touch "$T/d/go"
	wait_until has_lines "$T/d/reaped" $((n + m))
	bad=$(grep -v ' exit=0$' "$T/d/reaped" || true)
	[ -z "$bad" ] || { echo "children that died or failed: $bad" >&2; cat "$T/d"/bad.* >&2 2>/dev/null; return 1; }
	[ "$(ls "$T/d" | grep -c '^ok\.')" = "$n" ] || { ls "$T/d" >&2; return 1; }
	[ "$(wc -l <"$T/d/reaped")" = $((n + m)) ]
	echo "# $n children ($(awk '{ print $1 }' "$T/d/forks" | sort | uniq -c | xargs)): none died" >&3
	kill "$FSPID"
	wait "$FSPID" || { echo "victim exit $?: $(cat "$T/victim.out" "$T/victim.err")" >&2; return 1; }
	[ "$(cat "$T/victim.out")" = "ready
self-check ok" ]
}

# The common run: under a tracer that has patched the sites, three children wait until it
# has gone and three run at once, while it is still attached.
fork_under() {
	wait_until patched "$FSPID"
	forks fork 3 g
	forks fork 3 -
	patched "$FSPID" || { echo "the tracer left before the children were made" >&2; return 1; }
}

@test "fork under ps: children that run during the attach and after it" {
	start_victim
	TASKSCOPE_TEST_HOLD_MS=3000 "$TASKSCOPE" ps --json "$FSPID" >"$T/ps.json" 2>"$T/ps.err" 3>&- &
	local ps=$!
	PIDS+=("$ps")
	wait_until patched "$FSPID"
	# the hold keeps the probes attached; stopped, ps keeps them for as long as we need
	kill -STOP "$ps"
	fork_under
	kill -CONT "$ps"
	wait "$ps" || { cat "$T/ps.err" >&2; return 1; }
	wait_until sems_zero "$FSPID"
	check_children 6
}

@test "fork under top -b, in the static and the shared runtime" {
	local v
	for v in forksafe forksafe-shared; do
		start_victim "$BUILD/progs/$v"
		spawn top "$TASKSCOPE" top -b -d 0.2 "$FSPID"
		local top=$PID
		fork_under
		wait_until grep -q worker "$T/top.out" # a frame, from after the forks
		kill -INT "$top"
		wait "$top" || true
		wait_until sems_zero "$FSPID"
		check_children 6
	done
}

@test "fork under record" {
	start_victim
	spawn rec "$TASKSCOPE" record --uprobes -o "$T/trace.tsc" "$FSPID" # a tracer that patches sites
	local rec=$PID
	fork_under
	kill -INT "$rec"
	wait "$rec" || { cat "$T/rec.err" >&2; return 1; }
	wait_until sems_zero "$FSPID"
	check_children 6
	"$TASKSCOPE" dump "$T/trace.tsc" >"$T/dump.txt"
	grep -q 'worker-' "$T/dump.txt"
}

@test "fork with no /proc in the victim's view: the sites are written back through mprotect" {
	require_cmd unshare
	rm -rf "$T/d"
	mkdir "$T/d"
	# a mount namespace with an empty /proc: /proc/self/mem cannot be opened there
	spawn victim unshare --mount sh -c \
		'mount -t tmpfs none /proc && ! [ -e /proc/self/mem ] && exec "$0" "$1"' "$FS" "$T/d"
	FSPID=$PID NCMD=0
	wait_for_lines "$T/victim.out" 1
	spawn rec "$TASKSCOPE" record --uprobes -o "$T/trace.tsc" "$FSPID" # a tracer that patches sites
	local rec=$PID
	fork_under
	kill -INT "$rec"
	wait "$rec" || { cat "$T/rec.err" >&2; return 1; }
	wait_until sems_zero "$FSPID"
	check_children 6
}

@test "fork under bpftrace -p, and under bpftrace on the binary, system-wide" {
	require_cmd bpftrace
	local p
	for p in "-p" ""; do
		start_victim
		spawn bt bpftrace ${p:+-p "$FSPID"} -e \
			"usdt:$FS:taskscope:task_switch { @n = count(); }"
		local bt=$PID
		fork_under
		kill -INT "$bt"
		wait "$bt" || { cat "$T/bt.err" >&2; return 1; }
		grep -q '@n: [1-9]' "$T/bt.out"
		wait_until sems_zero "$FSPID"
		check_children 6
	done
}

@test "daemon-style double fork, posix_spawn, vfork and fork+exec under a tracer" {
	start_victim
	spawn rec "$TASKSCOPE" record --uprobes -o "$T/trace.tsc" "$FSPID" # a tracer that patches sites
	local rec=$PID m
	wait_until patched "$FSPID"
	for m in daemon spawn vfork exec; do
		forks "$m" 2 g
		forks "$m" 1 -
	done
	patched "$FSPID"
	kill -INT "$rec"
	wait "$rec" || { cat "$T/rec.err" >&2; return 1; }
	wait_until sems_zero "$FSPID"
	# 12 children, plus the 3 middle processes of daemon mode
	check_children 12 3
}

# check_held_child PID: the child starts clean; ps attached to it gets its sites patched (its
# own probes fire, into its own trampoline), sees its three held tasks by id and name and
# events from its probes; once ps is gone, the child is clean again.
check_held_child() {
	local c=$1 id name ps
	wait_until has_lines "$T/d/held.$c" 3
	clean "$c" || { sites "$c" >&2; return 1; }
	TASKSCOPE_TEST_HOLD_MS=3000 "$TASKSCOPE" ps --json "$c" >"$T/child.json" \
		2>"$T/child.err" 3>&- &
	ps=$!
	wait_until patched "$c"
	wait "$ps" || { cat "$T/child.err" >&2; return 1; }
	while read -r id name; do
		[ "$(jq -r --argjson id "$id" '.tasks[] | select(.id == $id) | .name' "$T/child.json")" = "$name" ] ||
			{ echo "ps on child $c: task $id $name missing" >&2; cat "$T/child.json" >&2; return 1; }
	done < <(jq -r '"\(.id) \(.name)"' "$T/d/held.$c")
	[ "$(jq .events "$T/child.json")" -gt 0 ]
	wait_until clean "$c"
}

@test "a child that a tracer attaches to later: its own probes work, then go back to 0" {
	start_victim
	spawn top "$TASKSCOPE" top -b -d 0.2 "$FSPID"
	local top=$PID c
	wait_until patched "$FSPID"
	forks fork 1 gh
	wait_until grep -q worker "$T/top.out"
	kill -INT "$top"
	wait "$top" || true
	touch "$T/d/go"
	c=$(awk '{ print $2 }' "$T/d/forks")
	check_held_child "$c"
	touch "$T/d/release"
	check_children 1
}

@test "raw clone and _Fork children: probes off until their loop starts, then traceable" {
	start_victim
	spawn rec "$TASKSCOPE" record --uprobes -o "$T/trace.tsc" "$FSPID" # a tracer that patches sites
	local rec=$PID c
	wait_until patched "$FSPID"
	# each renames its copy of a parent task first: task_rename, with no fork handler run
	forks clone 2 g
	forks _fork 2 g
	forks clone 1 -
	forks _fork 1 -
	forks clone 1 gh
	patched "$FSPID"
	kill -INT "$rec"
	wait "$rec" || { cat "$T/rec.err" >&2; return 1; }
	wait_until sems_zero "$FSPID"
	touch "$T/d/go"
	c=$(awk '$1 == "clone" { c = $2 } END { print c }' "$T/d/forks")
	check_held_child "$c"
	touch "$T/d/release"
	check_children 7
}

@test "the flight recorder on: a child's event rings are its own, never its parent's" {
	# The rings are shared memory (docs/rings.md): a child must neither write into its
	# parent's nor read back as its own what its parent wrote before the fork.
	TASKSCOPE_FLIGHT_RECORDER=1M start_victim
	local m c parent
	for m in fork clone _fork; do
		forks "$m" 1 gh
	done
	forks fork 2 -
	forks clone 1 -
	touch "$T/d/go"
	parent=$(ls /proc/"$FSPID"/task | sort -n | paste -sd' ')
	for c in $(awk 'NR <= 3 { print $2 }' "$T/d/forks"); do
		wait_until has_lines "$T/d/held.$c" 3
		"$TASKSCOPE" record --flight "$c" -o "$T/c$c.tsc" 2>"$T/c$c.err" ||
			{ cat "$T/c$c.err" >&2; return 1; }
		"$TASKSCOPE" dump --json "$T/c$c.tsc" | jq -r 'select(.ts_ns) | .tid' | sort -un >"$T/c$c.tids"
		[ -s "$T/c$c.tids" ] # its own events: its own loop's ring
		for tid in $parent; do
			! grep -qx "$tid" "$T/c$c.tids" ||
				{ echo "child $c's rings hold events of its parent's thread $tid" >&2; return 1; }
		done
	done
	# the parent's rings whole: a slot written by a child would fail validation (exit 9)
	"$TASKSCOPE" record --flight "$FSPID" -o "$T/p.tsc"
	[ "$("$TASKSCOPE" dump --json "$T/p.tsc" | jq -r 'select(.type == "switch") | .tid' | sort -u | wc -l)" -ge 1 ]
	touch "$T/d/release"
	check_children 6
}

# bpf_ids PID: the ids of the BPF links, programs and maps that process PID holds.
bpf_ids() {
	local f
	for f in /proc/"$1"/fdinfo/*; do
		awk '$1 == "link_id:" { print "link", $2 } $1 == "prog_id:" { print "prog", $2 }' "$f" 2>/dev/null
	done
}

# Every thread of process $1 is stopped (or the process is gone).
stopped() {
	! grep -qv '^[^)]*) [TtZX]' /proc/"$1"/task/*/stat 2>/dev/null
}

# The recorded ids (from $T/ids) that the kernel still has.
leftover_ids() {
	local live
	live=$({ bpftool -j link list | jq -r '.[] | "link \(.id)"'
		bpftool -j prog list | jq -r '.[] | "prog \(.id)"'; } | sort -u)
	sort -u "$T/ids" | comm -12 - <(printf '%s\n' "$live")
}

no_leftover_ids() {
	[ -z "$(leftover_ids)" ]
}

@test "tracers killed with SIGKILL at random moments: nothing stuck, no child harmed" {
	require_cmd bpftool
	local kills=${TASKSCOPE_TEST_KILLS:-10} i cmd tr ms
	start_victim "$FS" -f 50 # and a child every 50 ms throughout
	: >"$T/ids"
	for ((i = 0; i < kills; i++)); do
		cmd=$((RANDOM % 3))
		case $cmd in
		0) "$TASKSCOPE" ps "$FSPID" >/dev/null 2>&1 3>&- & ;;
		1) "$TASKSCOPE" top -b -d 0.2 "$FSPID" >/dev/null 2>&1 3>&- & ;;
		2) "$TASKSCOPE" record -o "$T/trace$i.tsc" "$FSPID" >/dev/null 2>&1 3>&- & ;;
		esac
		tr=$!
		# anywhere from before the attach to well into the trace (ps takes about 0.3 s)
		ms=$((RANDOM % (cmd == 0 ? 400 : 1500)))
		sleep "$((ms / 1000)).$(printf %03d $((ms % 1000)))"
		# stopped first, so that the ids it holds are all there to read
		kill -STOP "$tr" 2>/dev/null && wait_until stopped "$tr" && bpf_ids "$tr" >>"$T/ids"
		kill -9 "$tr" 2>/dev/null || true
		wait "$tr" 2>/dev/null || true
		echo "kill $i: $(echo ps top record | cut -d' ' -f$((cmd + 1))) after $ms ms," \
			"$(wc -l <"$T/ids") ids so far" >>"$T/kills.log"
	done
	wait_until sems_zero "$FSPID"
	wait_until no_leftover_ids || { leftover_ids >&2; return 1; }
	clean "$FSPID" || { sites "$FSPID" >&2; return 1; }
	# the victim makes children until told to stop, then waits for them
	kill "$FSPID"
	wait "$FSPID" || { cat "$T/victim.out" "$T/victim.err" >&2; return 1; }
	[ "$(cat "$T/victim.out")" = "ready
self-check ok" ]
	n=$(wc -l <"$T/d/forks")
	echo "# $kills tracers killed ($(awk '{ print $3 }' "$T/kills.log" | sort | uniq -c | xargs))," \
		"$(sort -u "$T/ids" | wc -l) link and program ids gone, semaphores 0, $n children" >&3
	[ "$n" -gt 0 ]
	bad=$(grep -v ' exit=0$' "$T/d/reaped" || true)
	[ -z "$bad" ] || { echo "children that died: $bad" >&2; return 1; }
	[ "$(wc -l <"$T/d/reaped")" = "$n" ]
	[ "$(ls "$T/d" | grep -c '^ok\.')" = "$n" ]
}
