#!/usr/bin/env bats
# `taskscope metrics` with the real engine: a Prometheus on loopback scrapes `metrics --listen`,
# and node_exporter's textfile collector reads `metrics --textfile`; what Prometheus stores is
# compared with what the victims know (parked: 9 live tasks, 9 created, none finished; spawner
# after its work: 41 created, 41 finished). promtool checks the exposition. The endpoint stays
# up, and says why in taskscope_scrape_error, through a target that exits and a hostile
# registry. Ports are free ones picked at run time, data in the test's temp dir.

load test_helper
bats_require_minimum_version 1.5.0

PARKED=$BUILD/progs/parked
SPAWNER=$BUILD/progs/spawner
HOSTILE=$BUILD/progs/hostile_registry
BLOCKED=$BUILD/progs/blocked_loop
EXECER=$BUILD/progs/execer

setup() {
	local f
	for f in "$TASKSCOPE" "$PARKED" "$SPAWNER" "$HOSTILE" "$BLOCKED" "$EXECER"; do
		[ -x "$f" ] || { echo "missing $f: run make" >&2; return 1; }
	done
	require_cmd prometheus
	require_cmd promtool
	require_cmd prometheus-node-exporter
	require_cmd curl
	require_cmd jq
	T=$BATS_TEST_TMPDIR
	PIDS=()
}

teardown() {
	stop_spawned
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Poll until command "$@" succeeds, up to ~60 s (the machine is shared and loaded).
until_ok() {
	local i
	for ((i = 0; i < 600; i++)); do
		"$@" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "timed out waiting for: $*" >&2
	return 1
}

# parked, 2 loop threads of 4 tasks: PARKED_PID
start_parked() {
	spawn parked "$PARKED" --threads 2 --tasks 4
	PARKED_PID=$PID
	wait_line "$T/parked.out" '^ready$' 300
}

# spawner, its work done and held alive: SPAWNER_PID
start_spawner() {
	touch "$T/go"
	spawn spawner "$SPAWNER" -y 20 "$T/go" "$T/hold"
	SPAWNER_PID=$PID
	wait_line "$T/spawner.out" '^outcomes ' 600
	grep -q '^created 41 finished 41 ' "$T/spawner.out"
}

# taskscope metrics ARGS --listen 127.0.0.1:0: URL
start_metrics() {
	spawn metrics "$TASKSCOPE" metrics --listen 127.0.0.1:0 "$@"
	METRICS_PID=$PID
	wait_line "$T/metrics.out" 'listening on http://' 300
	URL=$(sed -n 's/.*listening on \(http:[^ ]*\).*/\1/p' "$T/metrics.out")
	ADDR=${URL#http://}
	ADDR=${ADDR%/metrics}
}

# A Prometheus scraping each host:port given, every 500 ms: PROM (its API's base URL)
start_prometheus() {
	local port t n=0
	port=$(free_port)
	{
		printf 'global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n'
		printf 'scrape_configs:\n'
		for t in "$@"; do
			printf '  - job_name: j%d\n    static_configs:\n      - targets: ["%s"]\n' $((n++)) "$t"
		done
	} > "$T/prometheus.yml"
	spawn prometheus prometheus --config.file="$T/prometheus.yml" \
		--storage.tsdb.path="$T/tsdb" --web.listen-address="127.0.0.1:$port"
	PROM=http://127.0.0.1:$port
	until_ok curl -sf "$PROM/-/ready" -o /dev/null
}

# The value of an instant PromQL query that returns one sample, or fails.
prom_value() {
	curl -sf "$PROM/api/v1/query" --data-urlencode "query=$1" |
		jq -er 'if (.data.result | length) == 1 then .data.result[0].value[1] else error end'
}

# Wait until PromQL query $1 has the value $2, up to ~60 s.
prom_until() {
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(prom_value "$1" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	echo "query $1: $(prom_value "$1" || true), expected $2" >&2
	return 1
}

@test "metrics: promtool accepts the exposition; Prometheus gets OpenMetrics, others text" {
	start_parked
	run -0 --separate-stderr "$TASKSCOPE" metrics "$PARKED_PID"
	printf '%s\n' "$output" > "$T/once.prom"
	promtool check metrics < "$T/once.prom"
	grep -qx "taskscope_tasks{pid=\"$PARKED_PID\",exe=\"$PARKED\",state=\"waiting\"} 9" "$T/once.prom"
	start_metrics -p "$PARKED_PID"
	curl -sf "$URL" -D "$T/h1" -o "$T/text.prom"
	grep -qi '^content-type: text/plain; version=0.0.4' "$T/h1"
	promtool check metrics < "$T/text.prom"
	# what Prometheus 2 asks for
	curl -sf "$URL" -D "$T/h2" -o "$T/om.txt" -H 'Accept: application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1'
	grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$T/h2"
	[ "$(tail -n 1 "$T/om.txt")" = "# EOF" ]
	grep -qx '# TYPE taskscope_tasks_created counter' "$T/om.txt"
	grep -q "^taskscope_tasks_created_total{pid=\"$PARKED_PID\"" "$T/om.txt"
}

@test "metrics --listen: a real Prometheus stores the task count and the created and finished counters" {
	start_parked
	start_spawner
	start_metrics -p "$PARKED_PID" "$SPAWNER_PID"
	start_prometheus "$ADDR"
	prom_until "up{job=\"j0\"}" 1
	prom_until "sum(taskscope_tasks{pid=\"$PARKED_PID\"})" 9
	prom_until "taskscope_tasks{pid=\"$PARKED_PID\",state=\"waiting\"}" 9
	prom_until "taskscope_tasks_created_total{pid=\"$PARKED_PID\"}" 9
	prom_until "taskscope_tasks_finished_total{pid=\"$PARKED_PID\"}" 0
	prom_until "taskscope_loops{pid=\"$PARKED_PID\"}" 3
	prom_until "count(taskscope_loop_cpu_seconds_total{pid=\"$PARKED_PID\"})" 3
	prom_until "taskscope_tasks_waiting_longer_than{pid=\"$PARKED_PID\",seconds=\"1\"}" 9
	prom_until "count(taskscope_loop_lag_seconds{pid=\"$PARKED_PID\"})" 3
	prom_until "taskscope_tasks_created_total{pid=\"$SPAWNER_PID\"}" 41
	prom_until "taskscope_tasks_finished_total{pid=\"$SPAWNER_PID\"}" 41
	prom_until "sum(taskscope_tasks{pid=\"$SPAWNER_PID\"})" 0
	prom_until "taskscope_up{pid=\"$SPAWNER_PID\",exe=\"$SPAWNER\"}" 1
	# Prometheus parsed every sample it was given
	curl -sf "$PROM/api/v1/targets" | jq -e '[.data.activeTargets[] | select(.health != "up")] == []'
}

@test "metrics --textfile: node_exporter's textfile collector, scraped by Prometheus" {
	start_parked
	mkdir "$T/textfile"
	spawn textfile "$TASKSCOPE" metrics --textfile "$T/textfile" --interval 0.5 -p "$PARKED_PID"
	until_ok test -s "$T/textfile/taskscope.prom"
	promtool check metrics < "$T/textfile/taskscope.prom"
	# only the file, replaced whole: no temporary name left in the directory
	[ "$(ls -A "$T/textfile")" = taskscope.prom ]
	local port
	port=$(free_port)
	spawn node prometheus-node-exporter --web.listen-address="127.0.0.1:$port" \
		--collector.disable-defaults --collector.textfile \
		--collector.textfile.directory="$T/textfile"
	until_ok curl -sf "http://127.0.0.1:$port/metrics" -o /dev/null
	start_prometheus "127.0.0.1:$port"
	prom_until "node_textfile_scrape_error" 0
	prom_until "taskscope_tasks{pid=\"$PARKED_PID\",state=\"waiting\"}" 9
	prom_until "taskscope_tasks_created_total{pid=\"$PARKED_PID\"}" 9

	# --once writes once and exits; a symbolic link at the name is never followed
	rm -rf "$T/tf2" && mkdir "$T/tf2"
	run -0 "$TASKSCOPE" metrics --textfile "$T/tf2" --once -p "$PARKED_PID"
	grep -q "^taskscope_tasks_created_total{pid=\"$PARKED_PID\",.*} 9$" "$T/tf2/taskscope.prom"
	rm "$T/tf2/taskscope.prom"
	ln -s "$T/victim-file" "$T/tf2/taskscope.prom"
	echo keep > "$T/victim-file"
	run -0 "$TASKSCOPE" metrics --textfile "$T/tf2" --once -p "$PARKED_PID"
	[[ $output == *"cannot write $T/tf2/taskscope.prom"* ]]
	[ "$(cat "$T/victim-file")" = keep ]
}

# The value of series $1 (a prefix up to its last label) in the exposition at $URL.
series_value() {
	curl -sf "$URL" | grep -F "$1" | sed -n 's/^[^ ]* \([0-9.e+-]*\)$/\1/p'
}

# Wait until series $1's value v meets awk condition $2 (on v), up to ~60 s.
until_series() {
	local i v
	for ((i = 0; i < 600; i++)); do
		v=$(series_value "$1")
		[ -n "$v" ] && awk -v v="$v" "BEGIN { exit !($2) }" && return 0
		sleep 0.1
	done
	echo "$1 = '$v', never $2" >&2
	return 1
}

@test "metrics: wait ages and loop lag, against what the victims know" {
	start_parked
	start_metrics -w 3600,0.5 -p "$PARKED_PID"
	local lab="pid=\"$PARKED_PID\",exe=\"$PARKED\""
	# every one of parked's 9 tasks waits for good from before "ready"
	until_series "taskscope_tasks_waiting_longer_than{$lab,seconds=\"0.5\"}" 'v == 9'
	[ "$(series_value "taskscope_tasks_waiting_longer_than{$lab,seconds=\"3600\"}")" = 0 ]
	local longest up
	longest=$(series_value "taskscope_task_wait_longest_seconds{$lab}")
	up=$(ps -o etimes= -p "$PARKED_PID")
	awk -v l="$longest" -v u="$up" 'BEGIN { exit !(l >= 0.5 && l <= u + 1) }'
	stop_proc "$METRICS_PID"

	# a loop whose thread is held in pause() from "ready" on: its ticker's 10 ms timer is
	# overdue by at least the time since we saw "ready", less those 10 ms
	spawn blocked "$BLOCKED"
	local b=$PID
	wait_line "$T/blocked.out" '^ready$' 300
	local seen=$EPOCHREALTIME
	start_metrics -p "$b"
	lab="pid=\"$b\",exe=\"$BLOCKED\""
	until_series "taskscope_loop_lag_seconds{$lab,tid=\"$b\"}" 'v > 0.5'
	local before=$EPOCHREALTIME lag
	lag=$(series_value "taskscope_loop_lag_seconds{$lab,tid=\"$b\"}")
	up=$(ps -o etimes= -p "$b")
	awk -v l="$lag" -v b="$before" -v s="$seen" -v u="$up" \
		'BEGIN { exit !(l + 0.011 >= b - s && l <= u + 1) }'
}

@test "metrics: a target that exits is reported once, then gone; the endpoint stays up" {
	start_parked
	start_spawner
	start_metrics -p "$PARKED_PID" -p "$SPAWNER_PID"
	curl -sf "$URL" | grep -q "^taskscope_up{pid=\"$SPAWNER_PID\",.*} 1$"
	# the spawner exits under a scrape loop: every scrape answers
	touch "$T/hold"
	local i seen=0
	for ((i = 0; i < 600; i++)); do
		curl -sf "$URL" -o "$T/s.prom"
		grep -q "^taskscope_scrape_error{pid=\"$SPAWNER_PID\",.*,reason=\"exited\"} 1$" "$T/s.prom" && seen=1
		! grep -q "pid=\"$SPAWNER_PID\"" "$T/s.prom" && break
		sleep 0.05
	done
	[ "$seen" = 1 ]
	! grep -q "pid=\"$SPAWNER_PID\"" "$T/s.prom"
	grep -q "^taskscope_up{pid=\"$PARKED_PID\",.*} 1$" "$T/s.prom"
	grep -qx 'taskscope_exporter_targets 1' "$T/s.prom"
	kill -0 "$METRICS_PID"
}

@test "metrics --all: a target that execs is reported once as exec, then read as the new program" {
	start_metrics --all
	spawn execer "$EXECER" --threads 1 --tasks 2 --rate 50
	local e=$PID
	wait_line "$T/execer.out" '^ready gen=0 ' 300
	until_ok bash -c "curl -sf '$URL' | grep -q '^taskscope_up{pid=\"$e\",.*} 1$'"
	kill -USR1 "$e"
	wait_line "$T/execer.out" '^ready gen=1 ' 300
	curl -sf "$URL" -o "$T/s1.prom"
	grep -q "^taskscope_scrape_error{pid=\"$e\",.*,reason=\"exec\"} 1$" "$T/s1.prom"
	! grep -q "^taskscope_tasks{pid=\"$e\"," "$T/s1.prom"
	# found again as the program it is now: task ids start over
	curl -sf "$URL" -o "$T/s2.prom"
	grep -q "^taskscope_up{pid=\"$e\",.*} 1$" "$T/s2.prom"
	! grep -q "pid=\"$e\",.*reason=" "$T/s2.prom"
}

@test "metrics: a hostile registry is reported as a scrape error; the others are still read" {
	start_parked
	spawn hostile "$HOSTILE" gen-table
	local h=$PID
	wait_line "$T/hostile.out" '^ready$' 600
	start_metrics -p "$PARKED_PID" -p "$h"
	curl -sf -m 60 "$URL" -o "$T/s.prom"
	grep -q "^taskscope_scrape_error{pid=\"$h\",.*,reason=\"inconsistent\"} 1$" "$T/s.prom"
	grep -q "^taskscope_up{pid=\"$h\",.*} 0$" "$T/s.prom"
	grep -q "^taskscope_up{pid=\"$PARKED_PID\",.*} 1$" "$T/s.prom"
	promtool check metrics < "$T/s.prom"
	# and again: the endpoint stays up, the target runs on
	curl -sf -m 60 "$URL" -o "$T/s2.prom"
	grep -q "^taskscope_scrape_error{pid=\"$h\",.*,reason=\"inconsistent\"} 1$" "$T/s2.prom"
	kill -0 "$h"
	kill -0 "$METRICS_PID"
}

@test "metrics: every hostile registry of 24-hostile-registry: bounded, reported, the target unharmed" {
	[ -x /usr/bin/time ] || strict_skip "/usr/bin/time is not installed (package time)"
	local mode kib secs
	for mode in loops dup oddseq coros bogus frames cycle desc ids gen gen-moving gen-table \
		desc-name desc-loops; do
		spawn "h-$mode" "$HOSTILE" "$mode"
		wait_line "$T/h-$mode.out" '^ready$' 600
		status=0
		timeout -k 5 30 /usr/bin/time -o "$T/time" -f '%M %e' "$TASKSCOPE" metrics "$PID" \
			> "$T/m.prom" 2> "$T/m.err" || status=$?
		read -r kib secs < <(tail -n 1 "$T/time")
		echo "$mode: exit $status, $kib KiB, $secs s: $(head -n 1 "$T/m.err" | cut -c 1-150)" >&3
		[ "$kib" -le $((192 * 1024)) ]
		case $mode in
		desc*) # a descriptor this taskscope does not read: refused at the start, as ps does
			[ "$status" = 10 ] ;;
		*)
			[ "$status" = 0 ]
			promtool check metrics < "$T/m.prom"
			grep -Eq "^taskscope_up\{pid=\"$PID\",.*\} 1$|^taskscope_scrape_error\{pid=\"$PID\"," "$T/m.prom"
			;;
		esac
		# task pointers the runtime never handed out are said, not counted
		[ "$mode" != ids ] ||
			grep -Eq "^taskscope_registry_invalid\{pid=\"$PID\",.*\} [1-9][0-9]*$" "$T/m.prom"
		kill -0 "$PID"
		stop_proc "$PID"
	done
}

@test "metrics --all: a runtime process that starts is added, one that ABI-fails is reported" {
	start_metrics --all
	spawn hostile "$HOSTILE" desc-loops
	local h=$PID
	wait_line "$T/hostile.out" '^ready$' 600
	start_parked
	until_ok bash -c "curl -sf '$URL' | grep -q '^taskscope_up{pid=\"$PARKED_PID\",.*} 1$'"
	curl -sf "$URL" -o "$T/s.prom"
	grep -q "^taskscope_scrape_error{pid=\"$h\",.*,reason=\"abi\"} 1$" "$T/s.prom"
	grep -q '^taskscope_exporter_unreadable_processes ' "$T/s.prom"
	# nothing but runtime processes: a plain process never shows
	! grep -q "pid=\"$$\"" "$T/s.prom"
	! grep -q "pid=\"$METRICS_PID\"" "$T/s.prom"
	stop_proc "$PARKED_PID"
	until_ok bash -c "! curl -sf '$URL' | grep -q 'pid=\"$PARKED_PID\"'"
	# one whose runtime could never be read leaves too
	stop_proc "$h"
	until_ok bash -c "! curl -sf '$URL' | grep -q 'pid=\"$h\"'"
}

@test "metrics --listen: a silent client, a request too large, a bad method: served, and others too" {
	start_parked
	start_metrics -p "$PARKED_PID"
	local host=${ADDR%:*} port=${ADDR##*:}
	# a client that connects and says half a request, and stays
	exec 5<>"/dev/tcp/$host/$port"
	printf 'GET /metr' >&5
	curl -sf -m 20 "$URL" | grep -q "^taskscope_up{pid=\"$PARKED_PID\",.*} 1$"
	exec 5>&-
	# a request past the bound
	run curl -s -m 20 -o /dev/null -w '%{http_code}' -H "X-Big: $(head -c 9000 /dev/zero | tr '\0' a)" "$URL"
	[ "$output" = 431 ]
	run curl -s -m 20 -o /dev/null -w '%{http_code}' -X POST "$URL"
	[ "$output" = 405 ]
	run curl -s -m 20 -o /dev/null -w '%{http_code}' "${URL%/metrics}/other"
	[ "$output" = 404 ]
	curl -sf -m 20 "$URL" -o /dev/null
}

@test "metrics: a PID given twice is one process, its series once" {
	start_parked
	run -0 --separate-stderr "$TASKSCOPE" metrics "$PARKED_PID" -p "$PARKED_PID" "$PARKED_PID"
	[ "$(printf '%s\n' "$output" | grep -c '^taskscope_up{')" = 1 ]
	printf '%s\n' "$output" | promtool check metrics
}

@test "metrics: usage" {
	run -0 "$TASKSCOPE" metrics --help
	[[ $output == *"USAGE: taskscope metrics"* ]]
	run -2 "$TASKSCOPE" metrics
	[[ $output == *"no PID given"* ]]
	run -2 "$TASKSCOPE" metrics --all 1
	run -2 "$TASKSCOPE" metrics --once 1
	run -2 "$TASKSCOPE" metrics --listen nonsense 1
	run -2 "$TASKSCOPE" metrics --textfile /nonexistent-dir 1
	run -4 "$TASKSCOPE" metrics 999999999
}
