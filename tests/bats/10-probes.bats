#!/usr/bin/env bats
# The probe ABI (design.md, "The probe ABI"; include/taskscope/probes.h): the notes that
# readelf sees, the nop5 at every probe site, and bpftrace attached by PID to the victim
# tests/progs/spawner in its three links (static PIE, linked to libtaskscope.so, stripped).

load test_helper

PROG=$BUILD/progs/spawner

# The probe ABI: name and argument spec of every probe of provider taskscope.
EXPECTED_PROBES='rings
task_create 8@%rdi 8@%rsi 8@%rdx 8@%rcx 8@%r8
task_finish 8@%rdi 8@%rsi
task_rename 8@%rdi 8@%rsi
task_switch 8@%rdi 8@%rsi
task_wait 8@%rdi 8@%rsi 8@%rdx
thread_start 8@%rdi 8@%rsi
thread_stop 8@%rdi 8@%rsi'
PROBE_NAMES='task_create task_finish task_rename task_switch task_wait thread_start thread_stop'

setup() {
	local f
	for f in "$PROG" "$PROG-shared" "$PROG-stripped"; do
		[ -x "$f" ] || { echo "missing $f: run make" >&2; return 1; }
	done
	T=$BATS_TEST_TMPDIR
}

teardown() {
	[ -n "${BT_PID:-}" ] && stop_proc "$BT_PID"
	[ -n "${VICTIM_PID:-}" ] && stop_proc "$VICTIM_PID"
	return 0
}

# The libtaskscope.so that the -shared variant really loads (found through its rpath).
shared_lib() {
	local lib
	lib=$(ldd "$PROG-shared" | awk '$1 ~ /^libtaskscope\.so/ { print $3 }')
	[ -n "$lib" ] && [ -f "$lib" ] || { echo "spawner-shared loads no libtaskscope.so" >&2; return 1; }
	readlink -f "$lib"
}

# readelf -n FILE, one line per stapsdt note: provider name location base semaphore args
readelf_probes() {
	readelf -n "$1" | awk '
		/^ *stapsdt / { p = ""; n = ""; loc = ""; base = ""; sem = ""; args = ""; in_note = 1; next }
		/^ *[A-Za-z]+ +0x[0-9a-f]+\t/ { in_note = 0 }
		!in_note { next }
		/^ *Provider: / { p = $2 }
		/^ *Name: / { n = $2 }
		/^ *Location: / { gsub(",", ""); loc = $2; base = $4; sem = $6 }
		/^ *Arguments:/ { sub(/^ *Arguments: */, ""); args = $0;
			print p, n, loc, base, sem, args }'
}

# ELF work that readelf does not do: map a note's addresses to file offsets and to the live
# process (load base from /proc/PID/maps), and read the bytes there.
#   elfprobes sites FILE        name location file-offset and the 5 bytes there, per note
#   elfprobes sems FILE PID     name and value of each probe's semaphore in process PID
#   elfprobes live FILE PID     name, the 5 bytes at each site in process PID, and, when the
#                               first is a call (e8), the mapping the call goes to
elfprobes() {
	python3 - "$@" <<'PY'
import os, struct, sys

def load(path):
    d = open(path, 'rb').read()
    if d[:4] != b'\x7fELF' or d[4] != 2 or d[5] != 1:
        sys.exit(f'{path}: not an ELF64 little-endian file')
    phoff, shoff = struct.unpack_from('<QQ', d, 0x20)
    phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from('<HHHHH', d, 0x36)
    loads = []
    for i in range(phnum):
        typ, _, off, vaddr, _, filesz, _, _ = struct.unpack_from('<IIQQQQQQ', d, phoff + i * phentsize)
        if typ == 1:  # PT_LOAD
            loads.append((vaddr, off, filesz))
    secs = [struct.unpack_from('<IIQQQQIIQQ', d, shoff + i * shentsize) for i in range(shnum)]
    strs = secs[shstrndx][4]
    name = lambda s: d[strs + s[0]:d.index(b'\0', strs + s[0])].decode()
    return d, loads, {name(s): s for s in secs}

def notes(d, secs):
    s = secs.get('.note.stapsdt')
    if s is None:
        return []
    base = secs.get('.stapsdt.base')
    off, end, out = s[4], s[4] + s[5], []
    while off < end:
        namesz, descsz, typ = struct.unpack_from('<III', d, off)
        owner = d[off + 12:off + 12 + namesz].rstrip(b'\0')
        desc = d[off + 12 + ((namesz + 3) & ~3):][:descsz]
        off += 12 + ((namesz + 3) & ~3) + ((descsz + 3) & ~3)
        if owner != b'stapsdt' or typ != 3:
            continue
        loc, nbase, sem = struct.unpack_from('<QQQ', desc)
        prov, pname = desc[24:].split(b'\0')[:2]
        if base is not None:  # the prelink adjustment SystemTap documents; 0 when not prelinked
            loc += base[3] - nbase
            sem += base[3] - nbase if sem else 0
        if prov == b'taskscope':
            out.append((pname.decode(), loc, sem))
    return out

def file_off(loads, v):
    for vaddr, off, filesz in loads:
        if vaddr <= v < vaddr + filesz:
            return v - vaddr + off
    sys.exit(f'address {v:#x} is in no PT_LOAD segment')

def maps(pid):
    out = []
    for line in open(f'/proc/{pid}/maps'):
        f = line.split(None, 5)
        lo, hi = (int(x, 16) for x in f[0].split('-'))
        out.append((lo, hi, int(f[2], 16), int(f[4]), f[5].strip() if len(f) > 5 else ''))
    return out

def load_base(path, loads, pid):
    ino = os.stat(path).st_ino
    starts = [lo for lo, hi, off, i, _ in maps(pid) if i == ino and off == 0]
    if not starts:
        sys.exit(f'{path} is not mapped in process {pid}')
    return min(starts) - (min(v for v, _, _ in loads) & ~0xfff)

cmd, path = sys.argv[1], sys.argv[2]
d, loads, secs = load(path)
ns = notes(d, secs)
if not ns:
    sys.exit(f'{path}: no taskscope probes')
if cmd == 'sites':
    for pname, loc, sem in ns:
        o = file_off(loads, loc)
        print(pname, hex(loc), hex(o), d[o:o + 5].hex(' '))
elif cmd == 'sems':
    pid = sys.argv[3]
    base = load_base(path, loads, pid)
    with open(f'/proc/{pid}/mem', 'rb') as m:
        for pname, sem in sorted({(n, s) for n, _, s in ns}):
            m.seek(base + sem)
            print(pname, struct.unpack('<H', m.read(2))[0])
elif cmd == 'live':
    pid = sys.argv[3]
    base = load_base(path, loads, pid)
    mp = maps(pid)
    with open(f'/proc/{pid}/mem', 'rb') as m:
        for pname, loc, sem in ns:
            m.seek(base + loc)
            b = m.read(5)
            where = '-'
            if b[0] == 0xe8:
                target = base + loc + 5 + struct.unpack('<i', b[1:])[0]
                where = next((n or 'anonymous' for lo, hi, _, _, n in mp if lo <= target < hi), 'unmapped')
            print(pname, b.hex(' '), where)
else:
    sys.exit('elfprobes: unknown command ' + cmd)
PY
}

# Check the notes of FILE against EXPECTED_PROBES: every probe present with its exact argument
# spec, nothing else in the provider, a non-zero semaphore inside .probes shared by all sites
# of one probe and distinct between probes, and the base that .stapsdt.base really has.
check_notes() {
	local file=$1 notes probes_sec lo size base_addr
	notes=$(readelf_probes "$file")
	[ -n "$notes" ] || { echo "$file: readelf -n shows no stapsdt notes" >&2; return 1; }
	echo "$notes" | awk '$1 != "taskscope" { bad = 1; print "foreign provider: " $0 > "/dev/stderr" } END { exit bad }' ||
		return 1
	diff -u <(echo "$EXPECTED_PROBES") \
		<(echo "$notes" | awk '{ $3 = $4 = $5 = ""; $1 = ""; sub(/^ +/, ""); gsub(/  +/, " "); print }' |
			sed "s/ *$//" | LC_ALL=C sort -u) || { echo "$file: probe names or argument specs differ" >&2; return 1; }
	probes_sec=$(readelf -SW "$file" | awk '$2 == ".probes" { print $4, $6 }')
	[ -n "$probes_sec" ] || { echo "$file: no .probes section" >&2; return 1; }
	read -r lo size <<<"$probes_sec"
	base_addr=$(readelf -SW "$file" | awk '$2 == ".stapsdt.base" { print $4 }')
	[ -n "$base_addr" ] || { echo "$file: no .stapsdt.base section" >&2; return 1; }
	local prov name loc base sem args s bad=0
	local -A sem_of owner
	while read -r prov name loc base sem args; do
		s=$((sem))
		if [ $s = 0 ]; then
			echo "$file: $name has no semaphore" >&2; bad=1
		elif [ $s -lt $((16#$lo)) ] || [ $((s + 2)) -gt $((16#$lo + 16#$size)) ]; then
			echo "$file: $name semaphore $sem is outside .probes" >&2; bad=1
		fi
		[ $((base)) = $((16#$base_addr)) ] || { echo "$file: $name base $base is not .stapsdt.base" >&2; bad=1; }
		[ $((loc)) != 0 ] || { echo "$file: $name has location 0" >&2; bad=1; }
		if [ -n "${sem_of[$name]:-}" ] && [ "${sem_of[$name]}" != $s ]; then
			echo "$file: the sites of $name have different semaphores" >&2; bad=1
		fi
		sem_of[$name]=$s
		if [ -n "${owner[$s]:-}" ] && [ "${owner[$s]}" != "$name" ]; then
			echo "$file: $name and ${owner[$s]} share a semaphore" >&2; bad=1
		fi
		owner[$s]=$name
	done <<<"$notes"
	return $bad
}

# Every site of FILE holds 0f 1f 44 00 00 in the file, 8-byte aligned (never across a page);
# with a symbol table, each site is inside the probe's naked hook taskscope__hook_NAME, after
# its fork guard (the red-zone rule: nothing of the caller's below rsp there).
check_sites() {
	local file=$1 sites n bad=0 name loc off bytes value size sym hooks
	sites=$(elfprobes sites "$file") || return 1
	n=$(echo "$sites" | wc -l)
	[ "$n" -ge 7 ] || { echo "$file: only $n probe sites" >&2; return 1; }
	[ "$n" -eq "$(readelf_probes "$file" | wc -l)" ] || { echo "$file: site count differs from readelf" >&2; return 1; }
	[ "${2:-}" = symbols ] &&
		hooks=$(readelf -sW "$file" | awk '$4 == "FUNC" && $8 ~ /^taskscope__hook_/ { print $2, $3, $8 }')
	while read -r name loc off bytes; do
		if [ "$bytes" != "0f 1f 44 00 00" ]; then
			echo "$file: $name at $loc (file offset $off) holds $bytes, not a nop5" >&2
			bad=1
		fi
		if ((loc % 8)); then
			echo "$file: $name at $loc is not 8-byte aligned" >&2
			bad=1
		fi
		[ "${2:-}" = symbols ] || continue
		sym=none
		while read -r value size sym; do
			((16#$value < loc && loc + 5 < 16#$value + size)) && break
			sym=none
		done <<<"$hooks"
		if [ "$sym" != "taskscope__hook_$name" ]; then
			echo "$file: $name at $loc is not inside taskscope__hook_$name (in: $sym)" >&2
			bad=1
		fi
	done <<<"$sites"
	return $bad
}

@test "probes.h: its header comment lists exactly the probes and argument counts of the ABI" {
	local listed want
	listed=$(sed -n '/^ \* Probes/,/^ \*\/$/p' "$ROOT/include/taskscope/probes.h" |
		awk '/^ \*   [a-z_]+ +\(/ { n = $2; sub(/\).*/, "", $0); sub(/^[^(]*\(/, "", $0);
			c = split($0, a, ","); print n, c }' | LC_ALL=C sort)
	want=$(echo "$EXPECTED_PROBES" | awk '{ print $1, NF - 1 }' | LC_ALL=C sort)
	diff -u <(echo "$want") <(echo "$listed")
}

@test "readelf -n: every probe with its argument spec and a semaphore, in the static PIE" {
	check_notes "$PROG"
	readelf -h "$PROG" | grep -q 'DYN (Position-Independent Executable file)'
}

@test "readelf -n: every probe with its argument spec and a semaphore, in libtaskscope.so" {
	local lib
	lib=$(shared_lib)
	check_notes "$lib"
	# the probes are in the library, not in the program linked to it
	[ -z "$(readelf_probes "$PROG-shared")" ]
}

@test "readelf -n: every probe with its argument spec and a semaphore, in the stripped binary" {
	check_notes "$PROG-stripped"
	[ -z "$(readelf -SW "$PROG-stripped" | grep '\.symtab')" ]
}

@test "probe sites: 0f 1f 44 00 00 at every note location, aligned, inside its hook" {
	check_sites "$PROG" symbols
	check_sites "$(shared_lib)" symbols
	check_sites "$PROG-stripped"
}

@test "check_notes and check_sites fail on a broken note and on a site that is not a nop5" {
	# the checks themselves must be able to fail: a copy of the binary with one arg spec
	# changed, and one with the first byte of a probe site replaced by int3
	local loc off
	cp "$PROG" "$T/bad-args"
	python3 - "$T/bad-args" <<-'PY'
	import sys
	p = sys.argv[1]; d = bytearray(open(p, 'rb').read())
	i = d.index(b'8@%rdi 8@%rsi 8@%rdx 8@%rcx 8@%r8\0')
	d[i:i + 2] = b'4@'
	open(p, 'wb').write(d)
	PY
	run check_notes "$T/bad-args"
	[ "$status" -ne 0 ]
	[[ $output == *"+task_create 4@%rdi 8@%rsi 8@%rdx 8@%rcx 8@%r8"*"probe names or argument specs differ"* ]]
	check_notes "$PROG"
	cp "$PROG" "$T/bad-site"
	read -r _ loc off _ < <(elfprobes sites "$PROG" | awk '$1 == "task_switch"' | head -1)
	printf '\xcc' | dd of="$T/bad-site" bs=1 seek=$((off)) conv=notrunc status=none
	run check_sites "$T/bad-site"
	[ "$status" -ne 0 ]
	[[ $output == *"task_switch at $loc"*"holds cc 1f 44 00 00"* ]]
}

# ---- bpftrace attached by PID ----

# Start the victim: VICTIM_PID; it prints "ready" and waits for $T/go; with hold, after its
# results it waits for $T/hold before exiting. fd 3 closed: bats waits for whoever holds it.
start_victim() {
	local bin=$1 hold=$2
	shift 2
	rm -f "$T/go" "$T/hold"
	if [ "$hold" = hold ]; then
		"$bin" "$@" "$T/go" "$T/hold" > "$T/victim.out" 2> "$T/victim.err" 3>&- &
	else
		"$bin" "$@" "$T/go" > "$T/victim.out" 2> "$T/victim.err" 3>&- &
	fi
	VICTIM_PID=$!
	wait_for_lines "$T/victim.out" 1 || return 1
	[ "$(head -1 "$T/victim.out")" = ready ] || { cat "$T/victim.out" >&2; return 1; }
}

# The bpftrace script: every probe of PROBEBIN, counted; with args, it also reads every
# argument, strings included.
bt_script() {
	local mode=$2 p="usdt:$1:taskscope"
	if [ "$mode" = args ]; then
		cat <<-EOF
		$p:task_create { @create = count(); @name[str(arg2)] = count(); @coro[str(arg3)] = count();
			@ids = sum(arg0); @parents = sum(arg1); @tids[arg4] = count(); }
		$p:task_switch { @switch = count(); @to_task[arg1 != 0] = count(); @from = sum(arg0); }
		$p:task_finish { @finish = count(); @outcome[arg1] = count(); }
		$p:task_rename { @rename = count(); @renamed[str(arg1)] = count(); }
		$p:task_wait { @wait = count(); @reason[arg1] = count(); @objs = sum(arg2 & 1); }
		$p:thread_start { @tstart = count(); @loop_start[arg0] = count(); @tid_start[arg1] = count(); }
		$p:thread_stop { @tstop = count(); @loop_stop[arg0] = count(); }
		EOF
	else
		cat <<-EOF
		$p:task_create { @create = count(); }
		$p:task_switch { @switch = count(); }
		$p:task_finish { @finish = count(); @outcome[arg1] = count(); }
		$p:task_rename { @rename = count(); }
		$p:task_wait { @wait = count(); @reason[arg1] = count(); }
		$p:thread_start { @tstart = count(); }
		$p:thread_stop { @tstop = count(); }
		EOF
	fi
}

# Attach bpftrace to VICTIM_PID with every probe of PROBEBIN: BT_PID. bpftrace prints
# "Attaching N probes..." before it attaches (and fires BEGIN before too), so the proof that
# it has attached is the semaphores: the kernel counts one per attached site.
attach_bpftrace() {
	local probebin=$1 mode=$2 i name sites want ok
	bt_script "$probebin" "$mode" > "$T/script.bt"
	elfprobes sems "$probebin" "$VICTIM_PID" > "$T/sems.before"
	if awk '$2 != 0 { bad = 1 } END { exit !bad }' "$T/sems.before"; then
		echo "semaphores non-zero before any tracer:" >&2; cat "$T/sems.before" >&2; return 1
	fi
	timeout 300 bpftrace -p "$VICTIM_PID" "$T/script.bt" > "$T/bt.out" 2> "$T/bt.err" 3>&- &
	BT_PID=$!
	# every site but the rings probe's, which the script leaves alone (it is never fired)
	sites=$(elfprobes sites "$probebin" | awk '$1 != "rings" { n[$1]++ } END { for (k in n) print k, n[k] }')
	for i in $(seq 600); do
		if ! kill -0 "$BT_PID" 2>/dev/null; then
			echo "bpftrace exited before attaching:" >&2; cat "$T/bt.out" "$T/bt.err" >&2; return 1
		fi
		if grep -q '^Attaching [0-9]* probes\.\.\.' "$T/bt.out" "$T/bt.err"; then
			elfprobes sems "$probebin" "$VICTIM_PID" > "$T/sems.attached" || return 1
			ok=1
			while read -r name want; do
				[ "$(awk -v n="$name" '$1 == n { print $2 }' "$T/sems.attached")" -ge "$want" ] || ok=0
			done <<<"$sites"
			if [ $ok = 1 ]; then
				sleep 0.3 # the program is attached just after the semaphore is counted
				return 0
			fi
		fi
		sleep 0.05
	done
	echo "bpftrace did not attach every site within 30 s; semaphores:" >&2
	cat "$T/sems.attached" "$T/bt.err" >&2
	return 1
}

# The value of map line "@NAME: V" in bpftrace's output (0 when the map was never updated).
bt_map() {
	awk -v k="@$1:" '$1 == k { v = $2 } END { print v + 0 }' "$T/bt.out"
}

# Run the victim untraced; the reference for output and exit status.
reference_run() {
	local bin=$1
	shift
	run timeout 120 "$bin" "$@" < /dev/null
	REF_STATUS=$status
	REF_OUTPUT=$output
	[ "$REF_STATUS" -eq 0 ] || { echo "untraced run failed ($REF_STATUS): $REF_OUTPUT" >&2; return 1; }
	[[ $REF_OUTPUT == *"created "*" finished "*" result "* ]]
}

# Let the victim go and wait for it: VICTIM_STATUS.
go_and_wait() {
	touch "$T/go"
	local i
	for i in $(seq 1200); do kill -0 "$VICTIM_PID" 2>/dev/null || break; sleep 0.05; done
	if kill -0 "$VICTIM_PID" 2>/dev/null; then
		echo "the victim still runs after 60 s" >&2
		return 1
	fi
	wait "$VICTIM_PID" && VICTIM_STATUS=0 || VICTIM_STATUS=$?
	VICTIM_PID=
}

# Traced run of BIN with probes of PROBEBIN, counting: compare with the untraced run.
check_counts() {
	local bin=$1 probebin=$2 created finished done p
	reference_run "$bin"
	start_victim "$bin" nohold
	attach_bpftrace "$probebin" count
	go_and_wait
	# bpftrace -p exits when its process does, printing its maps
	wait "$BT_PID" || true
	BT_PID=
	[ "$VICTIM_STATUS" -eq 0 ] || { echo "traced run exited $VICTIM_STATUS" >&2; cat "$T/victim.err" >&2; return 1; }
	diff -u <(echo "$REF_OUTPUT") "$T/victim.out" || { echo "traced output differs" >&2; return 1; }
	read -r created finished < <(awk '$1 == "created" { print $2, $4 }' "$T/victim.out")
	read -r done < <(awk '$1 == "outcomes" { print $3 }' "$T/victim.out")
	echo "program: created $created finished $finished done $done" >&2
	grep '^@' "$T/bt.out" >&2 || echo "bpftrace printed no maps" >&2
	[ "$created" -ge 30 ] || return 1
	[ "$finished" -eq "$created" ] || return 1
	[ "$(bt_map create)" -eq "$created" ] || { echo "bpftrace counted $(bt_map create) creates" >&2; return 1; }
	[ "$(bt_map finish)" -eq "$finished" ] || { echo "bpftrace counted $(bt_map finish) finishes" >&2; return 1; }
	# outcomes: 4 done, 5 cancelled, 6 failed, as the program counted them
	[ "$(bt_map 'outcome[4]')" -eq "$done" ] || return 1
	[ "$(bt_map 'outcome[5]')" -eq 1 ] || return 1
	[ "$(bt_map 'outcome[6]')" -eq 1 ] || return 1
	# the ts_run loop and two ts_loop_start loops
	[ "$(bt_map tstart)" -eq 3 ] || return 1
	[ "$(bt_map tstop)" -eq 3 ] || return 1
	[ "$(bt_map rename)" -eq 2 ] || return 1
	for p in switch wait; do
		[ "$(bt_map $p)" -ge 1 ] || { echo "task_$p never fired" >&2; return 1; }
	done
	# every wait reason: sleep, fd, await, queue, event, yield
	for p in 1 2 3 4 5 6; do
		[ "$(bt_map "reason[$p]")" -ge 1 ] || { echo "no task_wait with reason $p" >&2; return 1; }
	done
}

@test "bpftrace -p on the static PIE: exact create and finish counts, every probe fires, same results" {
	require_root_bpf
	require_cmd bpftrace
	check_counts "$PROG" "$PROG"
}

@test "bpftrace -p on the -shared variant (probes in libtaskscope.so): same counts and results" {
	require_root_bpf
	require_cmd bpftrace
	local lib
	lib=$(shared_lib)
	check_counts "$PROG-shared" "$lib"
}

@test "bpftrace -p on the stripped binary: same counts and results" {
	require_root_bpf
	require_cmd bpftrace
	check_counts "$PROG-stripped" "$PROG-stripped"
}

# Red zone: with every probe attached, reading every argument, a heavy run (ping-pong of
# YIELDS yields each) gives the same output; on this kernel the sites really run the optimized
# call (the hazard the design describes); with the tracer gone, semaphores are zero and the
# sites are nop5 again.
check_under_tracer() {
	local bin=$1 probebin=$2 yields=200000 live kmaj kmin
	reference_run "$bin" -y $yields
	start_victim "$bin" hold -y $yields
	attach_bpftrace "$probebin" args
	touch "$T/go"
	local i
	for i in $(seq 1200); do
		[ "$(wc -l < "$T/victim.out")" -ge 3 ] && break
		kill -0 "$VICTIM_PID" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$VICTIM_PID" || { echo "victim died under the tracer" >&2; cat "$T/victim.out" "$T/victim.err" >&2; return 1; }
	diff -u <(echo "$REF_OUTPUT") "$T/victim.out" || { echo "output under the tracer differs" >&2; return 1; }

	# the sites, live, while attached: on kernels that optimize nop5 uprobes (6.18+) each hit
	# site is a call into the kernel's uprobe trampoline, so the [rsp-8] hazard was exercised
	live=$(elfprobes live "$probebin" "$VICTIM_PID")
	echo "$live" >&2
	IFS=. read -r kmaj kmin _ <<<"$(uname -r)"
	if [ "$kmaj" -gt 6 ] || { [ "$kmaj" -eq 6 ] && [ "${kmin%%[!0-9]*}" -ge 18 ]; }; then
		echo "$live" | awk '$1 == "task_switch" && $2 == "e8" && $7 == "[uprobes-trampoline]" { ok = 1 } END { exit !ok }' ||
			{ echo "task_switch was not optimized into a call to [uprobes-trampoline]" >&2; return 1; }
	fi

	kill -INT "$BT_PID"
	wait "$BT_PID" || true
	BT_PID=
	grep '^@' "$T/bt.out" | grep -v '^@\(ids\|parents\|from\|objs\)' >&2 || true
	# the arguments bpftrace read are the right ones: names, coroutine names, renames
	local k
	for k in '@name[Task-1]:' '@name[consumer]:' '@name[fd-reader]:' '@name[worker-1]:' \
		'@coro[main_task]:' '@coro[remote_worker]:' '@coro[square]:' '@coro[pingpong]:' \
		'@renamed[sleeper-self]:' '@renamed[renamed-sleeper]:' '@outcome[5]:' '@outcome[6]:'; do
		grep -qF -- "$k " "$T/bt.out" ||
			{ echo "bpftrace did not see $k" >&2; return 1; }
	done
	[ "$(bt_map 'coro[remote_worker]')" -eq 16 ] || return 1
	[ "$(bt_map 'coro[square]')" -eq 16 ] || return 1
	[ "$(bt_map 'coro[pingpong]')" -eq 2 ] || return 1
	[ "$(bt_map 'name[Task-1]')" -eq 1 ] || return 1
	[ "$(bt_map 'to_task[1]')" -gt $((2 * yields)) ] || return 1
	[ "$(bt_map 'reason[6]')" -ge $((2 * yields)) ] || return 1
	[ "$(bt_map tstart)" -eq 3 ] || return 1
	[ "$(bt_map tstop)" -eq 3 ] || return 1
	# three loop threads: three distinct tids and loop ids
	[ "$(grep -c '^@tid_start\[' "$T/bt.out")" -eq 3 ] || return 1
	[ "$(grep -c '^@loop_start\[' "$T/bt.out")" -eq 3 ] || return 1

	# the tracer is gone: semaphores back to zero, sites back to nop5, in the live process
	elfprobes sems "$probebin" "$VICTIM_PID" > "$T/sems.after"
	cat "$T/sems.after" >&2
	[ "$(wc -l < "$T/sems.after")" -eq 8 ] || return 1 # the seven probes and rings
	awk '$2 != 0 { bad = 1 } END { exit bad }' "$T/sems.after" || { echo "semaphores left non-zero" >&2; return 1; }
	elfprobes live "$probebin" "$VICTIM_PID" | awk '{ $1 = ""; sub(/^ /, "") } $0 != "0f 1f 44 00 00 -" { bad = 1 } END { exit bad }' ||
		{ echo "probe sites not restored" >&2; return 1; }
	touch "$T/hold"
	go_and_wait
	[ "$VICTIM_STATUS" -eq 0 ] || { echo "victim exited $VICTIM_STATUS" >&2; cat "$T/victim.err" >&2; return 1; }
}

@test "red zone: all probes attached, reading every argument, heavy ping-pong: results unchanged, then semaphores zero (static PIE)" {
	require_root_bpf
	require_cmd bpftrace
	check_under_tracer "$PROG" "$PROG"
}

@test "red zone: all probes attached, reading every argument, heavy ping-pong: results unchanged, then semaphores zero (-shared)" {
	require_root_bpf
	require_cmd bpftrace
	check_under_tracer "$PROG-shared" "$(shared_lib)"
}
