#!/usr/bin/env bats
# What a new user meets first: `make install` to any prefix, from a built tree or a fresh one;
# the README's example built through the installed pkg-config, as the README says; the man
# pages; the bash completion; `version`; and the README's two commands, run as root with no
# sudo.

load test_helper
bats_require_minimum_version 1.5.0

# make in the tree under test, into its build directory; never ldconfig the machine's cache
mk() {
	make -C "$ROOT" BUILD="$BUILD" LDCONFIG=: "$@"
}

# One install, into a prefix of its own, for the tests that read what it installed.
setup_file() {
	export P=$BATS_FILE_TMPDIR/prefix
	mk install PREFIX="$P" > "$BATS_FILE_TMPDIR/install.log" 2>&1 ||
		{ cat "$BATS_FILE_TMPDIR/install.log" >&2; return 1; }
}

setup() {
	T=$BATS_TEST_TMPDIR
}

teardown() {
	local p
	for p in ${KILL_PIDS:-}; do stop_proc "$p"; done
	rm -f "$ROOT/quickstart" # built by the README's commands, where they run
	return 0
}

# Compile and run examples/quickstart.c through PREFIX's pkg-config, as the README says, with
# every warning an error; its output must be the expected one.
build_quickstart() { # prefix out
	local prefix=$1 out=$2
	PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --exists taskscope
	# shellcheck disable=SC2046
	cc -Wall -Wextra -Werror -fno-omit-frame-pointer "$ROOT/examples/quickstart.c" \
		$(PKG_CONFIG_PATH=$prefix/lib/pkgconfig pkg-config --cflags --libs taskscope) -o "$out"
	run -0 env LD_LIBRARY_PATH="$prefix/lib" timeout 20 "$out"
	diff -u "$ROOT/tests/expected/quickstart.out" <(printf '%s\n' "$output")
	# the library it ran with is this prefix's
	LD_LIBRARY_PATH=$prefix/lib ldd "$out" | grep -q "=> $prefix/lib/libtaskscope.so.0 "
}

# The ps JSON of examples/quickstart-live: Task-1 in main_coro and the ten task_coro tasks
# (their states not checked: a task may be caught between its print and its sleep).
check_live_tasks() {
	jq -e '[.tasks[] | "\(.name) \(.coro)"] | sort ==
		(["Task-1 main_coro"] + [range(2; 12) | "Task-\(.) task_coro"] | sort)' \
		>/dev/null || { echo "ps shows other tasks" >&2; return 1; }
}

# The options a --help text lists: -x and --xx words, wherever they stand.
help_options() {
	grep -oE '(^|[][ ,|(])--?[A-Za-z][A-Za-z0-9-]*' | sed -E 's/^[][ ,|(]//' | sort -u
}

# The man page as a reader sees it, at 80 columns.
man_text() {
	MANWIDTH=80 man -l "$1" 2>/dev/null | col -bx
}

# ---- install ----

@test "install after a plain make, to two prefixes: each .pc names its own prefix" {
	local p
	for p in "$T/one" "$T/two/deeper"; do
		run -0 mk install PREFIX="$p"
		[ "$(PKG_CONFIG_PATH=$p/lib/pkgconfig pkg-config --variable=prefix taskscope)" = "$p" ]
		build_quickstart "$p" "$T/quickstart"
	done
	# and the first one still works, with its own files
	build_quickstart "$T/one" "$T/quickstart-one"
}

@test "install on a fresh tree builds, installs and lists the CLI, libraries, headers, .pc, man pages, completion" {
	local fresh=$T/build p=$T/fresh f
	run -0 make -C "$ROOT" -j2 BUILD="$fresh" LDCONFIG=: install PREFIX="$p"
	for f in bin/taskscope include/taskscope/taskscope.h include/taskscope/probes.h \
		include/taskscope/debug.h lib/libtaskscope.a lib/libtaskscope.so.0 lib/libtaskscope.so \
		lib/pkgconfig/taskscope.pc share/man/man1/taskscope.1 share/man/man1/taskscope-ps.1 \
		share/man/man3/libtaskscope.3 share/man/man7/taskscope-probes.7 \
		share/bash-completion/completions/taskscope; do
		[ -e "$p/$f" ] || { echo "not installed: $f" >&2; return 1; }
		# it says what it installs (the .so's link goes with the .so.0)
		[ "$f" = lib/libtaskscope.so ] || [[ $output == *"INSTALL  $p/$f"* ]] ||
			{ echo "not listed: $f" >&2; return 1; }
	done
	run -0 "$p/bin/taskscope" --version
	[[ $output == "taskscope "* ]]
	build_quickstart "$p" "$T/quickstart"
}

@test "install with DESTDIR stages under it, and the .pc names PREFIX" {
	run -0 mk install DESTDIR="$T/stage" PREFIX=/opt/ts
	[ -x "$T/stage/opt/ts/bin/taskscope" ]
	grep -qx 'prefix=/opt/ts' "$T/stage/opt/ts/lib/pkgconfig/taskscope.pc"
	[ ! -e /opt/ts/bin/taskscope ]
}

@test "the live example, built through the installed pkg-config, is what the installed ps shows" {
	require_root_bpf
	# shellcheck disable=SC2046
	cc -Wall -Wextra -Werror -fno-omit-frame-pointer "$ROOT/examples/quickstart-live.c" \
		$(PKG_CONFIG_PATH=$P/lib/pkgconfig pkg-config --cflags --libs taskscope) \
		-Wl,-rpath,"$P/lib" -o "$T/live"
	"$T/live" > "$T/live.out" 2>&1 3>&- &
	KILL_PIDS=$!
	wait_for_lines "$T/live.out" 10
	run -0 --separate-stderr "$P/bin/taskscope" ps --json "$KILL_PIDS"
	check_live_tasks <<<"$output"
}

# ---- the README ----

# The README's fenced block that follows the line holding TEXT.
readme_block() {
	awk -v text="$1" 'index($0, text) { found = 1 } found && /^```/ { n++; next }
		found && n == 1 { print } n == 2 { exit }' "$ROOT/README.md"
}

@test "README: its example is examples/quickstart.c, word for word" {
	diff -u <(sed -n '/^#include/,$p' "$ROOT/examples/quickstart.c") \
		<(awk '/^## The runtime/ { s = 1 } s && /^```c$/ { p = 1; next } p && /^```$/ { exit }
			p' "$ROOT/README.md")
}

@test "README: the commands for a prefix of your own work as written" {
	readme_block "Any other prefix works" > "$T/commands.sh"
	grep -q 'PKG_CONFIG_PATH' "$T/commands.sh"
	grep -q 'LD_LIBRARY_PATH' "$T/commands.sh"
	grep -q 'rpath' "$T/commands.sh"
	mkdir "$T/home"
	# in the tree (the commands name examples/), with a home of our own, stopping at any error
	run -0 env -C "$ROOT" HOME="$T/home" BUILD="$BUILD" LDCONFIG=: bash -e "$T/commands.sh"
	# the example ran twice: with LD_LIBRARY_PATH, then through its rpath
	[ "$(grep -c '^>task 0 executing$' <<<"$output")" -eq 2 ]
	[ "$(grep -c '^all done$' <<<"$output")" -eq 2 ]
	# the rpath build runs with no environment at all
	run -0 env -i "$ROOT/quickstart"
	diff -u "$ROOT/tests/expected/quickstart.out" <(printf '%s\n' "$output")
	# man finds the pages through PATH, bash-completion through ~/.local/share
	run -0 env -u MANPATH PATH="$T/home/.local/bin:$PATH" man -w taskscope-ps
	[ "$output" = "$T/home/.local/share/man/man1/taskscope-ps.1" ]
	[ -f /usr/share/bash-completion/bash_completion ] || strict_skip "bash-completion is not installed"
	run -0 env -u XDG_DATA_HOME HOME="$T/home" bash -c \
		'. /usr/share/bash-completion/bash_completion; __load_completion taskscope; complete -p taskscope'
	[ "$output" = "complete -F _taskscope taskscope" ]
}

@test "README: the two commands need no sudo; as root they work as written" {
	local block
	block=$(readme_block "## Two commands")
	[ "$(grep -c . <<<"$block")" -eq 2 ]
	! grep -q sudo <<<"$block"
	grep -q '^tools/try ' <<<"$block"
	grep -q '^tools/install-deps && make test ' <<<"$block"
	require_root_bpf
	# the main job, in batch mode so that it ends: one frame of the demo, with its hog task
	run -0 env -C "$ROOT" timeout 300 tools/try -b -n 1
	[[ $output == *hog* ]]
}

@test "README: record --help quotes the cost per event that the measured figures give" {
	local figure
	figure=$(grep -E '^\| `record`: cost on the target per event' "$ROOT/README.md" |
		grep -oE '[0-9]+ ns' | head -n 1)
	[ -n "$figure" ]
	run -0 "$TASKSCOPE" record --help
	[[ $(tr -s ' \n' '  ' <<<"$output") == *"about $figure per event"* ]] ||
		{ echo "record --help does not say $figure" >&2; return 1; }
}

# ---- man pages ----

@test "man pages: every one renders with no warning" {
	local page n=0 warn
	for page in "$P"/share/man/man*/*; do
		warn=$(MANWIDTH=80 man -l --warnings=w "$page" 2>&1 >/dev/null)
		[ -z "$warn" ] || { echo "$page: $warn" >&2; return 1; }
		[ -n "$(man_text "$page")" ]
		n=$((n + 1))
	done
	[ "$n" -ge 4 ]
}

@test "man pages: taskscope(1) and one page per command, holding every option its --help lists" {
	local cmd opt text cmds
	cmds=$("$TASKSCOPE" --help | awk '/^COMMANDS:/ { p = 1; next } /^$/ { p = 0 } p { print $1 }')
	[ "$(wc -l <<<"$cmds")" -ge 7 ]
	for cmd in "" $cmds; do
		page=$P/share/man/man1/taskscope${cmd:+-$cmd}.1
		[ -f "$page" ] || { echo "no page for '$cmd'" >&2; return 1; }
		text=$(man_text "$page")
		# shellcheck disable=SC2086
		for opt in $("$P/bin/taskscope" $cmd --help | help_options); do
			grep -qE -- "(^|[^A-Za-z0-9-])$opt([^A-Za-z0-9-]|$)" <<<"$text" ||
				{ echo "taskscope-$cmd(1) lacks $opt" >&2; return 1; }
		done
		# the synopsis, whole, however the page wraps it
		usage=$("$P/bin/taskscope" $cmd --help |
			awk '/^USAGE: / { u = 1; sub(/^USAGE: /, "") } u && /^$/ { exit } u' | tr -s ' \n' '  ')
		[[ $(tr -s ' \n' '  ' <<<"$text") == *"${usage% }"* ]] ||
			{ echo "taskscope-$cmd(1) lacks the synopsis '$usage'" >&2; return 1; }
	done
	# and its prose
	text=$(man_text "$P/share/man/man1/taskscope-ps.1" | tr -s ' \n' '  ')
	[[ $text == *"Probes are attached before the registry is read"* ]]
}

@test "man pages: libtaskscope(3) names every function and macro of taskscope.h" {
	local name text n=0
	text=$(man_text "$P/share/man/man3/libtaskscope.3")
	for name in $(grep -oE '\b(ts_[a-z_]*[a-z]|TS_[A-Z_]*[A-Z])\b *\(' \
		"$ROOT/include/taskscope/taskscope.h" | grep -oE '^[A-Za-z_]+' | sort -u); do
		grep -qE "\b$name\b" <<<"$text" || { echo "libtaskscope(3) lacks $name" >&2; return 1; }
		n=$((n + 1))
	done
	[ "$n" -ge 30 ]
	grep -q '#include <taskscope/taskscope.h>' <<<"$text"
}

@test "man pages: taskscope-probes(7) names every probe and every public macro of probes.h" {
	local name text
	text=$(man_text "$P/share/man/man7/taskscope-probes.7")
	for name in $(grep -oE 'TASKSCOPE_[A-Z][A-Z_]*[A-Z]\(' "$ROOT/include/taskscope/probes.h" |
		tr -d '(' | sort -u) \
		$(grep -oE '^TASKSCOPE__HOOK\([a-z_]+' "$ROOT/include/taskscope/probes.h" | cut -d'(' -f2); do
		grep -qE "\b$name\b" <<<"$text" || { echo "taskscope-probes(7) lacks $name" >&2; return 1; }
	done
	# and every probe a binary built with it has
	for name in $("$TASKSCOPE" probes --json "$DEMO" | jq -r '.probes[].name' | sort -u); do
		grep -qE "\b$name\b" <<<"$text" || { echo "taskscope-probes(7) lacks $name" >&2; return 1; }
	done
}

# ---- bash completion ----

# Run the installed completion in a fresh bash for the words given (the last one is being
# completed); prints one candidate a line.
complete_words() {
	complete_in "$P/share/bash-completion/completions/taskscope" "$@"
}

@test "completion: installed where bash-completion looks, and registered for taskscope" {
	[ -f "$P/share/bash-completion/completions/taskscope" ]
	run -0 bash -c '. "$1"; complete -p taskscope' bash "$P/share/bash-completion/completions/taskscope"
	[ "$output" = "complete -F _taskscope taskscope" ]
	[ -f /usr/share/bash-completion/bash_completion ] || strict_skip "bash-completion is not installed"
	run -0 env XDG_DATA_DIRS="$P/share:/usr/share" bash -c \
		'. /usr/share/bash-completion/bash_completion; __load_completion taskscope; complete -p taskscope'
	[ "$output" = "complete -F _taskscope taskscope" ]
}

@test "completion: commands, options from each --help, option values" {
	local ts=$P/bin/taskscope
	run -0 complete_words "$ts" ""
	for c in ps tree probes record top dump export profile version help; do
		grep -qx "$c" <<<"$output" || { echo "no command $c: $output" >&2; return 1; }
	done
	! grep -qx __pids <<<"$output"
	run -0 complete_words "$ts" t
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "top tree " ]
	run -0 complete_words "$ts" ps --
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "--all-frames --core --exe --help --json --no-bpf --no-group --pid --stacks --stuck --verbose --warnings " ]
	run -0 complete_words "$ts" -v record --d
	[ "$output" = --duration ]
	run -0 complete_words "$ts" top -s ""
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "age cpu id name switches waited " ]
	run -0 complete_words "$ts" export run.tsc --format ""
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "chrome perfetto " ]
	run -0 complete_words "$ts" help p
	[ "$(sort <<<"$output" | tr '\n' ' ')" = "probes profile ps " ]
	# after an option that takes a value, no PID: the value is asked for
	run -0 complete_words "$ts" top -d ""
	[ -z "$output" ]
	cd "$ROOT"
	run -0 complete_words "$ts" dump READ
	[ "$output" = README.md ]
}

@test "completion: a PID argument offers the runtime's processes, not others" {
	local ts=$P/bin/taskscope demo sleeper
	"$DEMO" --threads 1 --tasks 1 --truth "$T/truth" > /dev/null 2>&1 3>&- &
	demo=$!
	sleep 1000 3>&- &
	sleeper=$!
	KILL_PIDS="$demo $sleeper"
	wait_for_lines "$T/truth" 1
	for cmd in ps tree top record probes; do
		run -0 complete_words "$ts" "$cmd" ""
		grep -qx "$demo" <<<"$output" || { echo "$cmd: no $demo in: $output" >&2; return 1; }
		! grep -qx "$sleeper" <<<"$output"
	done
	# completing a prefix of the PID
	run -0 complete_words "$ts" ps "${demo:0:2}"
	grep -qx "$demo" <<<"$output"
	! grep -qvx "${demo:0:2}[0-9]*" <<<"$output"
	# options still come first after the command
	run -0 complete_words "$ts" ps -
	! grep -qx "$demo" <<<"$output"
}

@test "completion: a runtime process whose mapped path leads to a FIFO hangs neither the PID list nor ps" {
	[ "$(id -u)" = 0 ] || strict_skip "needs root for chroot"
	# Chrooted in J, the process maps J/live, which /proc/PID/maps shows as J/live: through
	# the process's root that path is J/J/live, a FIFO it could have put there itself.
	local j=$T/jail pid
	mkdir -p "$j$j"
	cc -static -O2 -I"$ROOT/include" "$ROOT/examples/quickstart-live.c" "$BUILD/libtaskscope.a" \
		-lpthread -o "$j/live"
	mkfifo "$j$j/live"
	chroot "$j" /live > "$T/live.out" 2>&1 3>&- &
	pid=$!
	KILL_PIDS=$pid
	wait_for_lines "$T/live.out" 10
	run -0 timeout 20 "$TASKSCOPE" __pids
	grep -qx "$pid" <<<"$output"
	run -0 timeout 20 "$TASKSCOPE" ps --no-bpf --json "$pid"
	check_live_tasks <<<"$output"
}

# ---- version ----

@test "version: the command and --version print the same, with the git commit" {
	run -0 --separate-stderr "$TASKSCOPE" version
	[[ $output =~ ^taskscope\ [0-9]+\.[0-9]+\.[0-9]+\ \(([0-9a-f]{7,}|unknown)\)$ ]]
	local v=$output
	run -0 "$TASKSCOPE" --version
	[ "$output" = "$v" ]
	run -0 "$TASKSCOPE" -V
	[ "$output" = "$v" ]
	run -0 "$TASKSCOPE" version --help
	[[ $output == *USAGE:* ]]
	run -2 --separate-stderr "$TASKSCOPE" version extra
	[ -z "$output" ]
}

@test "--help lists the short options that work: taskscope -v, probes -j and -v" {
	run -0 "$TASKSCOPE" --help
	for o in "-v, --verbose" "-V, --version" "-h, --help"; do
		[[ $output == *"  $o "* ]] || { echo "taskscope --help lacks $o" >&2; return 1; }
	done
	run -0 "$TASKSCOPE" probes --help
	for o in "-j, --json" "-v, --verbose"; do
		[[ $output == *"  $o "* ]] || { echo "probes --help lacks $o" >&2; return 1; }
	done
	# and they do work
	run -0 "$TASKSCOPE" probes -j "$DEMO"
	jq -e '.probes | length > 0' <<<"$output" >/dev/null
	run -0 "$TASKSCOPE" probes -v -j "$DEMO"
}

@test "each command's --help lists the short options that work, -p PID and -h among them" {
	local cmd o
	declare -A want=(
		[ps]="-p, --pid|-j, --json|-n, --no-bpf|-s, --stacks|-v, --verbose|-h, --help"
		[tree]="-p, --pid|-j, --json|-n, --no-bpf|-s, --stacks|-v, --verbose|-h, --help"
		[top]="-p, --pid|-d, --delay|-b, --batch|-n, --frames|-s, --sort|-f, --filter|-v, --verbose|-h, --help"
		[record]="-p, --pid|-o, --output|-d, --duration|-b, --buffer-size|-z, --compress|-v, --verbose|-h, --help"
		[probes]="-p, --pid|-j, --json|-v, --verbose|-h, --help"
		[dump]="-j, --json|-a, --at|-s, --summary|-h, --help"
		[export]="-f, --format|-o, --output|-v, --verbose|-h, --help"
	)
	for cmd in "${!want[@]}"; do
		run -0 "$TASKSCOPE" "$cmd" -h
		local help=$output
		IFS='|' read -ra opts <<<"${want[$cmd]}"
		for o in "${opts[@]}"; do
			[[ $help == *"  $o "* ]] || { echo "$cmd --help lacks '$o'" >&2; return 1; }
		done
	done
	"$TASKSCOPE" record --help | grep '^USAGE' | grep -q -- '-z N'
	# -p works wherever a PID is taken, and is checked as a PID operand is
	"$DEMO" --threads 1 --tasks 2 --truth "$T/truth" > /dev/null 2>&1 &
	KILL_PIDS=$!
	local pid=$KILL_PIDS
	wait_for_lines "$T/truth"
	[ "$("$TASKSCOPE" ps -n -j -p "$pid" | jq .pid)" = "$pid" ]
	[ "$("$TASKSCOPE" tree --no-bpf --json --pid "$pid" | jq .pid)" = "$pid" ]
	[ "$(timeout 60 "$TASKSCOPE" top --no-bpf --json -n 1 -d 0.1 -p "$pid" | jq .pid)" = "$pid" ]
	[ "$("$TASKSCOPE" probes -j -p "$pid" | jq .pid)" = "$pid" ]
	run --separate-stderr "$TASKSCOPE" ps -p "$pid" "$pid"
	[ "$status" -eq 2 ]
	run --separate-stderr "$TASKSCOPE" record -o "$T/x.tsc" -p nope
	[ "$status" -eq 2 ]
	[[ $stderr == *"'nope' is not a PID"* ]]
}
