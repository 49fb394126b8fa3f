#!/usr/bin/env bats
# The BPF half of the attach protocol (bpf/taskscope.bpf.c, src/cli/probes/attach.c) against real
# processes: what `taskscope ps` rebuilds under churn, of a hung process, with two tracers at
# once, after a tracer is killed with SIGKILL, with a forking target, in every link variant.
# An independent oracle (bpftrace on task_finish) tells when each task finished.

load test_helper

setup() {
	require_root_bpf
	spawn_setup
}

teardown() {
	stop_spawned
}

mono_ns() {
	python3 -c 'import time; print(time.monotonic_ns())'
}

# name and value of every taskscope probe semaphore in process $1, in each ELF it maps (the
# executable or libtaskscope.so): the semaphore's file address from the notes, plus the load
# bias from /proc/PID/maps, read through /proc/PID/mem.
sems() {
	python3 - "$1" <<'PY'
import re, subprocess, sys
pid = int(sys.argv[1])
files = {}
for line in open(f"/proc/{pid}/maps"):
    f = line.split()
    if len(f) >= 6 and f[5].startswith("/"):
        files.setdefault(f[5], []).append((int(f[0].split("-")[0], 16), int(f[2], 16)))
out = []
for path, maps in files.items():
    elf = f"/proc/{pid}/root{path}"
    notes = subprocess.run(["readelf", "-nW", elf], capture_output=True, text=True).stdout
    probes = set(re.findall(r"Provider: taskscope\s+Name: (\w+)\s+Location: \S+, "
                            r"Base: \S+, Semaphore: (0x[0-9a-f]+)", notes))
    if not probes:
        continue
    phdrs = subprocess.run(["readelf", "-lW", elf], capture_output=True, text=True).stdout
    first = min(int(l.split()[2], 16) for l in phdrs.splitlines() if l.split()[:1] == ["LOAD"])
    bias = min(lo for lo, off in maps if off == 0) - (first & ~0xfff)
    with open(f"/proc/{pid}/mem", "rb") as mem:
        for name, sem in sorted(probes):
            mem.seek(bias + int(sem, 16))
            out.append(f"{name} {int.from_bytes(mem.read(2), 'little')}")
if not out:
    sys.exit(f"no taskscope semaphores in process {pid}")
print("\n".join(out))
PY
}

sems_total() {
	sems "$1" | awk '{ s += $2 } END { print s + 0 }'
}

# Wait until the semaphores of $1 sum to $2 ("nonzero" for any positive sum), up to ~10 s.
wait_sems() {
	local pid=$1 want=$2 i s
	for i in $(seq 200); do
		s=$(sems_total "$pid") || return 1
		if [ "$want" = nonzero ]; then [ "$s" -gt 0 ] && return 0; else [ "$s" = "$want" ] && return 0; fi
		sleep 0.05
	done
	echo "semaphores of $pid stayed at $s, want $want:" >&2
	sems "$pid" >&2
	return 1
}

# check_ps TRUTH ORACLE RUN... where RUN is T0:T1:FILE, the CLOCK_MONOTONIC ns before that
# `ps --json` started and after it ended. Checks each listing against the truth file (every task
# there exactly once, same name, thread and coroutine), for duplicate ids, threads' current
# tasks, and tasks that are neither truth nor allowed extras (EXTRA, a regex of coroutine
# names). With an ORACLE file of "id finish_ns" lines (or - for none): no task reported had
# finished before its `ps` completed its snapshot (taken_ns), and a truth task may be missing only if it had finished
# before that `ps` ended (a target overloaded past its limits loses its churners).
check_ps() {
	python3 - "$@" <<'PY'
import json, os, re, sys
truth_file, oracle_file, runs = sys.argv[1], sys.argv[2], sys.argv[3:]
extra = re.compile(os.environ.get("EXTRA", "^$"))
truth = [json.loads(l) for l in open(truth_file) if l.strip()]
fin, lost = {}, 0
if oracle_file != "-":
    for l in open(oracle_file):
        f = l.split()
        if len(f) == 2 and f[0].isdigit():
            fin[int(f[0])] = int(f[1])
        elif "Lost" in l:
            lost += int(re.sub(r"\D", "", l) or 0)
bad = []
extras = checked = gone = 0
for run in runs:
    t0, t1, path = run.split(":", 2)
    t0, t1 = int(t0), int(t1)
    try:
        ps = json.load(open(path))
    except ValueError as e:
        bad.append(f"{path}: not JSON: {e}")
        continue
    tasks = ps["tasks"]
    # The snapshot completed at taken_ns and the BPF maps were read after: a task that had
    # finished by then was seen finishing and must not be listed.
    tfin = max(t0, ps.get("taken_ns") or 0)
    if not ps.get("reconciled"):
        bad.append(f"{path}: not reconciled with BPF")
    if ps.get("map_full"):
        bad.append(f"{path}: map_full {ps['map_full']}")
    ids = [t["id"] for t in tasks]
    if len(ids) != len(set(ids)):
        bad.append(f"{path}: duplicate ids {sorted(i for i in set(ids) if ids.count(i) > 1)[:10]}")
    by_id = {t["id"]: t for t in tasks}
    for w in truth:
        t = by_id.get(w["id"])
        if t is None:
            if w["id"] in fin and fin[w["id"]] < t1:
                gone += 1 # the target itself ended it; the oracle saw when
            else:
                bad.append(f"{path}: truth task {w} missing")
        elif (t["name"], t["thread"], t["coro"]) != (w["name"], w["tid"], w["coro"]):
            bad.append(f"{path}: task {w['id']} is {t['name']},{t['thread']},{t['coro']}; "
                       f"truth {w['name']},{w['tid']},{w['coro']}")
    tids = {th["tid"] for th in ps["threads"]}
    for th in ps["threads"]:
        c = th["current"]
        if c is not None and (c not in by_id or by_id[c]["thread"] != th["tid"]):
            bad.append(f"{path}: thread {th['tid']} current {c} is not a task of that thread")
    truth_ids = {w["id"] for w in truth}
    for t in tasks:
        if t["id"] in fin:
            checked += 1
            if fin[t["id"]] < tfin:
                bad.append(f"{path}: task {t['id']} {t['name']} ({t['coro']}) finished "
                           f"{(tfin - fin[t['id']]) / 1e6:.3f} ms before the snapshot ended")
        if t["id"] in truth_ids:
            continue
        extras += 1
        if not extra.search(t["coro"]):
            bad.append(f"{path}: unexpected task {t['id']} {t['name']} coro {t['coro']}")
        if t["thread"] not in tids:
            bad.append(f"{path}: task {t['id']} on thread {t['thread']}, not a loop thread")
print(f"{len(runs)} listings, {extras} tasks beyond the truth, {gone} truth tasks ended by "
      f"the target; oracle: {len(fin)} finishes, {lost} lost, {checked} reported tasks that "
      f"finished after their ps started")
for b in bad[:40]:
    print(b)
sys.exit(1 if bad else 0)
PY
}

# Start the demo under churn and the oracle; sets DEMO_PID, ORACLE_PID.
start_churn_with_oracle() {
	spawn demo "$DEMO" --threads 4 --tasks 200 --churn 20000 --truth "$T/truth"
	DEMO_PID=$PID
	wait_for_lines "$T/truth" 808
	local maxid
	maxid=$(jq -s 'map(.id) | max' "$T/truth")
	# The oracle: when tasks finished (bpf_ktime_get_ns is CLOCK_MONOTONIC), every truth task
	# and one short task in 8: printing every finish through bpftrace's perf buffer would slow
	# the target down to collapse.
	spawn oracle bpftrace -p "$DEMO_PID" -e "usdt:$DEMO:taskscope:task_finish \
		/arg0 % 8 == 0 || arg0 <= $maxid/ { printf(\"%llu %llu\\n\", arg0, nsecs); }"
	ORACLE_PID=$PID
	wait_for_lines "$T/oracle.out" 20
}

stop_oracle() {
	kill -0 "$DEMO_PID" # the target lived through it all
	kill -0 "$ORACLE_PID" || { echo "the oracle died: $(cat "$T/oracle.err")" >&2; return 1; }
	sleep 0.2
	kill -INT "$ORACLE_PID"
	wait "$ORACLE_PID" || true
}

@test "fidelity under churn: 20 listings, each exact against the truth and the oracle" {
	require_cmd bpftrace
	start_churn_with_oracle
	local runs=() i t0 t1
	for i in $(seq 20); do
		t0=$(mono_ns)
		run "$TASKSCOPE" ps "$DEMO_PID" --json
		t1=$(mono_ns)
		[ "$status" = 0 ] || { echo "ps #$i: status $status: $output" >&2; return 1; }
		printf '%s\n' "$output" > "$T/ps$i.json"
		runs+=("$t0:$t1:$T/ps$i.json")
	done
	stop_oracle
	EXTRA='^(short_task|main_coro)$' run check_ps "$T/truth" "$T/oracle.out" "${runs[@]}"
	echo "$output"
	[ "$status" = 0 ]
}

@test "two taskscope ps at once on one target: both exact" {
	require_cmd bpftrace
	start_churn_with_oracle
	local i runs=() a b t0 ta tb
	for i in 1 2 3; do
		# a stays attached 1.5 s before its snapshot: b attaches, reads and detaches
		# meanwhile, twice
		t0=$(mono_ns)
		TASKSCOPE_TEST_HOLD_MS=1500 "$TASKSCOPE" ps "$DEMO_PID" --json > "$T/a$i.json" \
			2>"$T/a$i.err" 3>&- &
		a=$!
		sleep 0.3
		tb=$(mono_ns)
		"$TASKSCOPE" ps "$DEMO_PID" --json > "$T/b$i.json" 2>"$T/b$i.err" 3>&- || \
			{ cat "$T/b$i.err" >&2; return 1; }
		runs+=("$tb:$(mono_ns):$T/b$i.json")
		tb=$(mono_ns)
		"$TASKSCOPE" ps "$DEMO_PID" --json > "$T/c$i.json" 2>"$T/c$i.err" 3>&- || \
			{ cat "$T/c$i.err" >&2; return 1; }
		runs+=("$tb:$(mono_ns):$T/c$i.json")
		wait "$a" || { cat "$T/a$i.err" >&2; return 1; }
		runs+=("$t0:$(mono_ns):$T/a$i.json")
	done
	stop_oracle
	EXTRA='^(short_task|main_coro)$' run check_ps "$T/truth" "$T/oracle.out" "${runs[@]}"
	echo "$output"
	[ "$status" = 0 ]
	wait_sems "$DEMO_PID" 0
}

@test "a hung process (a three-task await cycle, loops idle): ps exact" {
	spawn demo "$DEMO" --threads 2 --tasks 0 --deadlock --truth "$T/truth"
	local demo=$PID
	wait_for_lines "$T/truth" 3
	run "$TASKSCOPE" ps "$demo" --json
	[ "$status" = 0 ]
	printf '%s\n' "$output" > "$T/ps.json"
	EXTRA='^main_coro$' run check_ps "$T/truth" - "0:0:$T/ps.json"
	echo "$output"
	[ "$status" = 0 ]
	# exactly the truth and Task-1, the cycle waiting on each other
	[ "$(jq '.tasks | length' "$T/ps.json")" = $(($(wc -l < "$T/truth") + 1)) ]
	run jq -r '.tasks[] | select(.name | startswith("deadlock-")) | "\(.name) \(.state) \(.wait)"' \
		"$T/ps.json"
	[ "$output" = "deadlock-A waiting await
deadlock-B waiting await
deadlock-C waiting await" ]
}

@test "semaphores: raised while attached, back to 0 after ps exits" {
	spawn parked "$BUILD/progs/parked" --tasks 3 --truth "$T/truth"
	local p=$PID
	wait_for_lines "$T/parked.out" 1
	[ "$(sems_total "$p")" = 0 ]
	TASKSCOPE_TEST_HOLD_MS=3000 "$TASKSCOPE" ps "$p" --json > "$T/ps.json" 2>"$T/ps.err" 3>&- &
	local ts=$!
	PIDS+=("$ts")
	wait_sems "$p" nonzero
	# ps attaches the lifecycle probes only
	run sems "$p"
	echo "$output"
	[[ "$output" == *"task_create 1"* && "$output" == *"task_finish 1"* ]]
	[[ "$output" == *"task_rename 1"* && "$output" == *"task_switch 0"* ]]
	wait "$ts"
	[ "$(sems_total "$p")" = 0 ]
	EXTRA='^main_coro$' run check_ps "$T/truth" - "0:0:$T/ps.json"
	echo "$output"
	[ "$status" = 0 ]
}

@test "a semaphore counts its probe's sites with a uprobe, not tracers: record and top share them" {
	spawn parked "$BUILD/progs/parked" --tasks 3
	local p=$PID i
	wait_for_lines "$T/parked.out" 1
	# the value of each probe's semaphore, as probes --json reads it ("name=count ...")
	counts() {
		"$TASKSCOPE" probes --json "$p" |
			jq -r '[.probes[] | "\(.name)=\(.semaphore_count)"] | unique | join(" ")'
	}
	# the uprobes (record from the event rings raises the rings probe's semaphore alone)
	spawn rec "$TASKSCOPE" record --uprobes -v -o "$T/r.tsc" "$p"
	wait_sems "$p" nonzero
	local alone
	for i in $(seq 100); do grep -q 'recording process' "$T/rec.err" && break; sleep 0.1; done
	alone=$(counts)
	echo "record: $alone"
	# one site each (every probe is fired from one translation unit, ring.c's traced path)
	[[ " $alone " == *" task_create=1 "* && " $alone " == *" thread_start=1 "* ]]
	spawn top "$TASKSCOPE" top -b "$p"
	for i in $(seq 100); do grep -q 'parked' "$T/top.out" && break; sleep 0.1; done
	grep -q 'parked' "$T/top.out"
	echo "record + top: $(counts)"
	[ "$(counts)" = "$alone" ]
	"$TASKSCOPE" probes --help | grep -q 'not how many tracers'
}

# spawner waits for GOFILE, runs a deterministic workload that fires every probe, prints its
# results and exits: run it untraced, then under an attached taskscope.
spawner_run() {
	local out=$1 go=$2
	shift 2
	"$BUILD/progs/spawner" "$go" > "$out" 2>&1 3>&- &
	SP=$!
	PIDS+=("$SP")
	wait_for_lines "$out" 1 # "ready"
}

@test "the target's output and exit code are the same traced and untraced" {
	spawner_run "$T/plain.out" "$T/go1"
	touch "$T/go1"
	wait "$SP"
	local rc_plain=$?
	spawner_run "$T/traced.out" "$T/go2"
	local sp=$SP
	TASKSCOPE_TEST_HOLD_MS=4000 "$TASKSCOPE" ps "$sp" > /dev/null 2>&1 3>&- &
	PIDS+=("$!")
	wait_sems "$sp" nonzero
	touch "$T/go2" # the whole workload runs with the probes attached
	wait "$sp"
	local rc_traced=$?
	echo "untraced: status $rc_plain"; cat "$T/plain.out"
	echo "traced: status $rc_traced"; cat "$T/traced.out"
	[ "$rc_plain" = 0 ]
	[ "$rc_traced" = 0 ]
	diff "$T/plain.out" "$T/traced.out"
	grep -q '^created ' "$T/traced.out"
}

@test "taskscope killed with SIGKILL while attached: target unchanged, semaphores back to 0" {
	spawner_run "$T/plain.out" "$T/go1"
	touch "$T/go1"
	wait "$SP"
	spawner_run "$T/victim.out" "$T/go2"
	local sp=$SP
	TASKSCOPE_TEST_HOLD_MS=30000 "$TASKSCOPE" ps "$sp" > /dev/null 2>&1 3>&- &
	local ts=$!
	PIDS+=("$ts")
	wait_sems "$sp" nonzero
	kill -9 "$ts"
	wait "$ts" || true
	wait_sems "$sp" 0 # the kernel dropped the uprobes with the dead tracer's fds
	touch "$T/go2"
	wait "$sp"
	diff "$T/plain.out" "$T/victim.out"

	# the same against a target that keeps running: it goes on, semaphores at 0
	spawn demo "$DEMO" --threads 2 --tasks 20 --churn 2000 --truth "$T/truth"
	local demo=$PID
	wait_for_lines "$T/truth" 40
	TASKSCOPE_TEST_HOLD_MS=30000 "$TASKSCOPE" ps "$demo" > /dev/null 2>&1 3>&- &
	ts=$!
	PIDS+=("$ts")
	wait_sems "$demo" nonzero
	kill -9 "$ts"
	wait "$ts" || true
	wait_sems "$demo" 0
	kill -0 "$demo"
	run "$TASKSCOPE" ps "$demo" --json
	[ "$status" = 0 ]
	printf '%s\n' "$output" > "$T/ps.json"
	EXTRA='^(short_task|main_coro)$' run check_ps "$T/truth" - "0:0:$T/ps.json"
	echo "$output"
	[ "$status" = 0 ]
}

# The attach modes: one uprobe-multi link for every site (the default when the notes follow
# the probe ABI), one link per probe (older kernels), and libbpf's generic argument specs
# (notes that do not follow the ABI's registers).
MODES=("" "TASKSCOPE_TEST_NO_MULTI=1" "TASKSCOPE_TEST_GENERIC_ARGS=1")

@test "a forked child of the target is never reported as the target" {
	# forker's children rename the parent's tasks and create tasks with the parent's next
	# ids, with the probes patched and semaphores set in their copy of the parent; its
	# CLONE_VM children fire probes in the parent's own address space
	spawn forker "$BUILD/progs/forker" -n 8 "$T/truth"
	local f=$PID
	wait_for_lines "$T/forker.out" 1
	local i m runs=()
	for m in "${MODES[@]}"; do
		for i in 1 2; do
			env $m TASKSCOPE_TEST_HOLD_MS=500 "$TASKSCOPE" ps "$f" --json > "$T/ps$i$m.json" \
				2>"$T/ps.err" 3>&- || { cat "$T/ps.err" >&2; return 1; }
			runs+=("0:0:$T/ps$i$m.json")
		done
	done
	EXTRA='^$' run check_ps "$T/truth" - "${runs[@]}"
	echo "$output"
	[ "$status" = 0 ]
	! grep -q -e child- -e clone- "$T"/ps*.json
	wait_sems "$f" 0
}

@test "every attach mode under churn: exact, semaphores back to 0" {
	spawn demo "$DEMO" --threads 4 --tasks 200 --churn 20000 --truth "$T/truth"
	local demo=$PID m i runs=()
	wait_for_lines "$T/truth" 808
	for m in "${MODES[@]}"; do
		for i in 1 2 3; do
			env $m "$TASKSCOPE" ps "$demo" --json > "$T/ps$i$m.json" 2>"$T/ps.err" 3>&- ||
				{ cat "$T/ps.err" >&2; return 1; }
			runs+=("0:0:$T/ps$i$m.json")
		done
		wait_sems "$demo" 0
	done
	EXTRA='^(short_task|main_coro)$' run check_ps "$T/truth" - "${runs[@]}"
	echo "$output"
	[ "$status" = 0 ]
}

@test "tasks created and renamed after the snapshot: from the events, exact" {
	spawn forker "$BUILD/progs/forker" -n 8 "$T/truth"
	local f=$PID
	wait_for_lines "$T/forker.out" 1
	# reconciliation waits 1 s: the late tasks and the rename happen after the snapshot
	TASKSCOPE_TEST_RECONCILE_DELAY_MS=1000 "$TASKSCOPE" ps "$f" --json > "$T/ps.json" \
		2>"$T/ps.err" 3>&- &
	local ts=$!
	sleep 0.4
	kill -USR1 "$f"
	wait "$ts" || { cat "$T/ps.err" >&2; return 1; }
	wait_for_lines "$T/truth.late" 4
	# the truth, with parent-0 renamed, and the late tasks
	{ grep -v '"parent-0"' "$T/truth"; cat "$T/truth.late"; } > "$T/truth.all"
	EXTRA='^$' run check_ps "$T/truth.all" - "0:0:$T/ps.json"
	echo "$output"
	[ "$status" = 0 ]
	[ "$(jq '.tasks | length' "$T/ps.json")" = 11 ]
}

@test "a target in its own pid namespace: threads by our ids, events included" {
	require_cmd unshare
	spawn ns unshare --pid --fork --mount-proc "$BUILD/progs/forker" -n 4 "$T/truth"
	local u=$PID f i
	wait_for_lines "$T/ns.out" 1
	f=$(pgrep -P "$u" forker)
	[ -n "$f" ]
	PIDS+=("$f")
	TASKSCOPE_TEST_RECONCILE_DELAY_MS=1000 "$TASKSCOPE" ps "$f" --json > "$T/ps.json" \
		2>"$T/ps.err" 3>&- &
	local ts=$!
	sleep 0.4
	kill -USR1 "$f"
	wait "$ts" || { cat "$T/ps.err" >&2; return 1; }
	[ "$(jq '.tasks | length' "$T/ps.json")" = 7 ]
	[ "$(jq -r '[.tasks[].name] | sort | join(" ")' "$T/ps.json")" = \
		"late-0 late-1 late-2 parent-1 parent-2 parent-3 renamed-0" ]
	# every thread, the late tasks' included, is one of the target's by our (outer) ids
	for i in $(jq -r '.threads[].tid, .tasks[].thread' "$T/ps.json" | sort -u); do
		[ -d "/proc/$f/task/$i" ] || { echo "thread $i is not one of process $f" >&2; return 1; }
	done
	# and the loop thread id the runtime wrote (its own namespace's) is not ours
	[ "$(jq -s '.[0].tid' "$T/truth")" != "$(jq '.tasks[0].thread' "$T/ps.json")" ]
}

@test "static, shared and stripped runtimes: ps exact, semaphores back to 0" {
	local v p
	for v in parked parked-shared parked-stripped; do
		rm -f "$T/truth"
		spawn "$v" "$BUILD/progs/$v" --threads 3 --tasks 50 --truth "$T/truth"
		p=$PID
		wait_for_lines "$T/$v.out" 1
		run "$TASKSCOPE" ps "$p" --json
		[ "$status" = 0 ] || { echo "$v: $output" >&2; return 1; }
		printf '%s\n' "$output" > "$T/$v.json"
		EXTRA='^main_coro$' run check_ps "$T/truth" - "0:0:$T/$v.json"
		echo "$v: $output"
		[ "$status" = 0 ]
		[ "$(jq .reconciled "$T/$v.json")" = true ]
		wait_sems "$p" 0
		stop_proc "$p"
	done
}

@test "a full BPF map is counted and reported, not silently wrong" {
	spawn demo "$DEMO" --threads 2 --tasks 10 --churn 20000 --truth "$T/truth"
	local demo=$PID
	wait_for_lines "$T/truth" 20
	TASKSCOPE_TEST_MAX_LIVE=4 TASKSCOPE_TEST_SNAPSHOT_DELAY_MS=200 run "$TASKSCOPE" ps "$demo" --json
	[ "$status" = 0 ]
	printf '%s\n' "$output" > "$T/ps.json"
	[ "$(jq .map_full "$T/ps.json")" -gt 0 ]
	# with room, the same target reads clean
	run "$TASKSCOPE" ps "$demo" --json
	[ "$status" = 0 ]
	[ "$(jq .map_full <<<"$output")" = 0 ]
}
