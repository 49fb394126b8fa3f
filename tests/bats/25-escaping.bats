#!/usr/bin/env bats
# Names from the target are its data: they never drive the terminal and never break the JSON.
# A victim (tests/progs/names.c) names its tasks and coroutines with escape sequences, C1
# controls (raw and as UTF-8), bytes that are not UTF-8, a newline and a tab, a quote and a
# backslash, and valid UTF-8 (accents, Greek, wide CJK, a combining accent). Every human output
# must be valid UTF-8 without a control character but the newline, show each name in the one
# escaped notation (README: output conventions), show valid names unchanged, and align its
# columns by display width. Every JSON output must be valid UTF-8 that gives the valid names
# back exactly; the Perfetto export's strings must be UTF-8.

load test_helper

NAMES=$BUILD/progs/names

setup() {
	spawn_setup
	TMUX_SOCK=tsc-esc-$$-$BATS_TEST_NUMBER
}

teardown() {
	tmux -L "$TMUX_SOCK" kill-server 2>/dev/null || true
	stop_spawned
}

start_names() {
	spawn names "$NAMES" "$@"
	V=$PID
	wait_line "$T/names.out" '^ready$'
}

# check_text FILE KIND [ROWS]: human output. KIND names the table whose columns are checked:
# ps, top (the column after NAME), at, summary (the two after NAME), or none (tree, events).
# ROWS: how many rows that table must have.
check_text() {
	python3 - "$@" <<'PY'
import re, sys, unicodedata
path, kind = sys.argv[1], sys.argv[2]
rows_want = int(sys.argv[3]) if len(sys.argv) > 3 else None
raw = open(path, 'rb').read()
text = raw.decode('utf-8')  # strict: fails on any byte that is not UTF-8
bad = [(i, hex(ord(c))) for i, c in enumerate(text)
       if (ord(c) < 0x20 and c != '\n') or 0x7f <= ord(c) <= 0x9f]
assert not bad, f"control characters in the output: {bad[:10]}"

def width(s):
    w = 0
    for c in s:
        if unicodedata.combining(c) or unicodedata.category(c) in ('Mn', 'Me', 'Cf'):
            continue
        w += 2 if unicodedata.east_asian_width(c) in ('W', 'F') else 1
    return w

# each name in the one notation (the long bad- name may be cut to a column: its start);
# valid UTF-8 unchanged
shown = ['esc-\\e[31mred\\e[0m', 'osc-\\e]0;title\\x07', 'c1raw-\\x9b31m', 'c1utf8-\\u009b31m',
         'bad-\\xc3-\\xff-\\xc0', 'nl\\nand\\ttab', 'uote\\\\back', 'waiter-\\e[1m',
         'réseau-α', '任务-漢字', 'cafe\u0301']
missing = [s for s in shown if s not in text]
assert not missing, f"not shown: {missing}\n{text}"

if kind != 'none':
    lines = text.split('\n')
    head = next(i for i, l in enumerate(lines) if re.search(r'\bID NAME\b', l))
    rows = []
    for l in lines[head + 1:]:
        if not l.strip() or l.startswith('#'):
            break
        rows.append(l)
    cols = {'ps': [2], 'top': [2], 'at': [2], 'summary': [2, 3]}[kind]
    def starts(l):
        return [width(l[:m.start()]) for m in re.finditer(r'\S+', l)]
    want = starts(lines[head])
    for r in rows:
        got = starts(r)
        for k in cols:
            assert got[k] == want[k], f"column {k} at {got[k]}, not {want[k]}:\n{lines[head]}\n{r}"
    if rows_want is not None:
        assert len(rows) == rows_want, f"{len(rows)} rows, not {rows_want}"
    if kind in ('at', 'summary'):  # the name column is 20 wide: cut between characters
        assert 'bad-\\xc3-\\xff-\\xc0…' in text, text
PY
}

# check_json FILE [lines]: valid UTF-8, parses, and the names come back as the target wrote
# them (a byte that is not UTF-8 as U+FFFD, one per byte). With "lines", one value per line.
check_json() {
	python3 - "$@" <<'PY'
import json, sys
path = sys.argv[1]
raw = open(path, 'rb').read()
text = raw.decode('utf-8')
bad = [hex(ord(c)) for c in text if (ord(c) < 0x20 and c != '\n') or 0x7f <= ord(c) <= 0x9f]
assert not bad, f"raw control characters in the JSON: {bad[:10]}"
docs = [json.loads(l) for l in text.splitlines() if l] if 'lines' in sys.argv[2:] \
    else [json.loads(text)]
names = set()
def walk(v):
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(x, str) and (k in ('name', 'coro') or k.endswith('_name')):
                names.add(x)
            walk(x)
    elif isinstance(v, list):
        for x in v:
            walk(x)
for d in docs:
    walk(d)
want = ['esc-\x1b[31mred\x1b[0m', 'osc-\x1b]0;title\x07', 'c1raw-\ufffd31m', 'c1utf8-\x9b31m',
        'bad-\ufffd-\ufffd-\ufffd\ufffd-\ufffd\ufffd\ufffd', 'nl\nand\ttab', 'q"uote\\back',
        'réseau-α', '任务-漢字', 'cafe\u0301']
missing = [n for n in want if n not in names] + \
          [n for n in want if 'chrome' not in sys.argv[2:] and 'co-' + n not in names]
assert not missing, f"not given back: {missing}; got {sorted(names)}"
PY
}

@test "ps and tree (registry only): names escaped, valid UTF-8, columns by display width; JSON exact" {
	start_names
	"$TASKSCOPE" ps --no-bpf "$V" >"$T/ps.txt"
	check_text "$T/ps.txt" ps 12
	# the notation, in full: what the name holds, unambiguously
	grep -qF 'bad-\xc3-\xff-\xc0\xaf-\xed\xa0\x80 ' "$T/ps.txt"
	grep -qF ' q"uote\\back ' "$T/ps.txt"
	grep -qF ' co-c1utf8-\u009b31m' "$T/ps.txt"
	run "$TASKSCOPE" tree --no-bpf "$V"
	[ "$status" -eq 0 ]
	printf '%s\n' "$output" >"$T/tree.txt"
	check_text "$T/tree.txt" none
	grep -qF 'waiter-\e[1m (12) waiter_task() waiting await 10' "$T/tree.txt"
	"$TASKSCOPE" ps --no-bpf --json "$V" >"$T/ps.json"
	check_json "$T/ps.json"
	"$TASKSCOPE" tree --no-bpf --json "$V" >"$T/tree.json"
	check_json "$T/tree.json"
}

@test "ps with probes, top -b and top --json: the same escaping and alignment" {
	require_root_bpf
	start_names
	"$TASKSCOPE" ps "$V" >"$T/ps.txt"
	check_text "$T/ps.txt" ps 12
	"$TASKSCOPE" top -b -n 1 -d 0.2 "$V" >"$T/top.txt"
	check_text "$T/top.txt" top 12
	"$TASKSCOPE" top --json -n 1 -d 0.2 "$V" >"$T/top.json"
	check_json "$T/top.json"
	# the filter echoes what was typed, escaped too
	"$TASKSCOPE" top -b -n 1 -d 0.2 -f "$(printf 'x\033[1m')" "$V" >"$T/filter.txt"
	grep -qF '0 of 12 tasks match "x\e[1m"' "$T/filter.txt"
}

@test "top's full-screen view: names escaped, wide characters take two columns" {
	require_root_bpf
	require_cmd tmux
	start_names
	tmux -u -L "$TMUX_SOCK" -f /dev/null new-session -d -s esc -x 160 -y 40 \
		"LC_ALL=C.UTF-8 $TASKSCOPE top -d 0.3 -s id $V; sleep 60"
	local i
	# once the table is up, pause the refresh: the screen then holds still for the capture
	for i in $(seq 100); do
		tmux -L "$TMUX_SOCK" capture-pane -p -t esc >"$T/screen.txt"
		grep -qF 'waiter-\e[1m' "$T/screen.txt" && break
		sleep 0.1
	done
	tmux -L "$TMUX_SOCK" send-keys -t esc p
	for i in $(seq 100); do
		tmux -L "$TMUX_SOCK" capture-pane -p -t esc >"$T/screen.txt"
		grep -qF '[PAUSED]' "$T/screen.txt" && break
		sleep 0.1
	done
	cat "$T/screen.txt"
	grep -qF '[PAUSED]' "$T/screen.txt"
	check_text "$T/screen.txt" top 12
}

@test "dump (events, --at, --summary) and export of a recorded trace: escaped, valid, exact" {
	require_root_bpf
	local i
	start_names "$T/go"
	spawn rec "$TASKSCOPE" record -v -o "$T/n.tsc" "$V"
	REC=$PID
	wait_line "$T/rec.err" '^taskscope: recording process'
	touch "$T/go"
	wait_line "$T/names.out" '^done$'
	kill -INT "$REC"
	for i in $(seq 200); do kill -0 "$REC" 2>/dev/null || break; sleep 0.1; done
	wait "$REC"
	# events: each name once created and run under the recorder, the rename, the awaits
	"$TASKSCOPE" dump "$T/n.tsc" >"$T/ev.txt"
	check_text "$T/ev.txt" none
	grep -qF ' -> "renamed-\e[2J"' "$T/ev.txt"
	grep -qF ' "q\"uote\\back" coro="co-q\"uote\\back" parent=1 "Task-1"' "$T/ev.txt"
	grep -qE ' await task=[0-9]+ "任务-漢字"$' "$T/ev.txt"
	"$TASKSCOPE" dump --at end "$T/n.tsc" >"$T/at.txt"
	check_text "$T/at.txt" at 23
	"$TASKSCOPE" dump --summary "$T/n.tsc" >"$T/summary.txt"
	check_text "$T/summary.txt" summary 23
	grep -qF ' co-c1utf8-… ' "$T/summary.txt"   # 16 columns
	# JSON: every form
	"$TASKSCOPE" dump --json "$T/n.tsc" >"$T/ev.jsonl"
	check_json "$T/ev.jsonl" lines
	jq -se '[.[] | select(.type == "rename") | .name] == ["renamed-\u001b[2J"]' "$T/ev.jsonl"
	"$TASKSCOPE" dump --at end --json "$T/n.tsc" >"$T/at.json"
	check_json "$T/at.json"
	"$TASKSCOPE" dump --summary --json "$T/n.tsc" >"$T/summary.jsonl"
	check_json "$T/summary.jsonl" lines
	# Chrome JSON: the slices carry the names as the target wrote them
	"$TASKSCOPE" export "$T/n.tsc" --format chrome -o "$T/n.json"
	check_json "$T/n.json" chrome
	# Perfetto: protoc reads it; every string field is UTF-8 and the names are exact
	require_cmd protoc
	"$TASKSCOPE" export "$T/n.tsc" -o "$T/n.pftrace"
	protoc --decode_raw <"$T/n.pftrace" >/dev/null
	python3 "$ROOT/tests/bats/export-check.py" perfetto "$T/n.pftrace" --names "$T/names.jsonl"
	python3 - "$T/names.jsonl" <<'PY'
import json, sys
names = {json.loads(l) for l in open(sys.argv[1])}
want = ['esc-\x1b[31mred\x1b[0m', 'osc-\x1b]0;title\x07', 'c1raw-\ufffd31m', 'c1utf8-\x9b31m',
        'bad-\ufffd-\ufffd-\ufffd\ufffd-\ufffd\ufffd\ufffd', 'nl\nand\ttab', 'q"uote\\back',
        'réseau-α', '任务-漢字', 'cafe\u0301']
missing = [n for n in want if n not in names]
assert not missing, (missing, sorted(names))
PY
}
