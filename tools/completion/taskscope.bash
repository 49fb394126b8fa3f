# bash completion for taskscope: its commands, each command's options, option values, and
# the PIDs of the processes that hold a taskscope runtime. Commands and options are read
# from the CLI's own --help, so they follow it. Installed as
# PREFIX/share/bash-completion/completions/taskscope, where bash-completion finds it; or
# source it from ~/.bashrc.

# The options that `taskscope [CMD] --help` lists, one a line, with "=" after those that
# take an argument: an option followed by a placeholder (FILE, PID) in its item, or by a
# word in the USAGE line (--format perfetto|chrome).
_taskscope_opts()
{
	"$@" --help 2>/dev/null | awk '
		/^USAGE:/ { usage = 1 }
		usage && !/^(USAGE:| )/ { usage = 0 }
		usage {
			n = split($0, w, " ")
			for (i = 1; i <= n; i++) {
				t = w[i]
				sub(/^\[+/, "", t)
				if (t !~ /^--?[A-Za-z]/)
					continue
				if (t ~ /\]$/) {
					sub(/\]+$/, "", t)
					opt[t] = opt[t]
					continue
				}
				opt[t] = opt[t]
				if (i < n && w[i + 1] !~ /^[-[|]/)
					opt[t] = "="
			}
			next
		}
		/^ +-/ {
			# the term: up to two spaces, where the description starts
			term = $0
			sub(/^ +/, "", term)
			if (match(term, /  +/))
				term = substr(term, 1, RSTART - 1)
			n = split(term, w, " ")
			k = 0
			for (i = 1; i <= n && w[i] ~ /^--?[A-Za-z]/; i++) {
				t = w[i]
				sub(/,$/, "", t)
				g[++k] = t
			}
			arg = i <= n && w[i] ~ /^[A-Z][A-Z0-9_|]*$/
			for (j = 1; j <= k; j++)
				opt[g[j]] = (arg || opt[g[j]] == "=") ? "=" : opt[g[j]]
		}
		END { for (o in opt) print o opt[o] }'
}

# The processes that hold a taskscope runtime, as the CLI finds them; bounded in time, since
# reading a process's mappings can wait on that process.
_taskscope_pids()
{
	timeout 5 "$1" __pids 2>/dev/null
}

_taskscope_commands()
{
	"$1" --help 2>/dev/null | awk '/^COMMANDS:/ { p = 1; next } /^$/ { p = 0 } p { print $1 }'
}

_taskscope()
{
	local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD - 1]}
	local tool=${COMP_WORDS[0]} cmd="" i opts o
	COMPREPLY=()
	[[ $tool == "~/"* ]] && tool=$HOME/${tool#"~/"}
	type -P "$tool" >/dev/null || tool=taskscope

	for ((i = 1; i < COMP_CWORD; i++)); do
		if [[ ${COMP_WORDS[i]} != -* ]]; then
			cmd=${COMP_WORDS[i]}
			break
		fi
	done
	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			opts=$(_taskscope_opts "$tool" | sed 's/=$//')
		else
			opts="$(_taskscope_commands "$tool") help"
		fi
		mapfile -t COMPREPLY < <(compgen -W "$opts" -- "$cur")
		return 0
	fi
	if [[ $cmd == help ]]; then
		((COMP_CWORD == i + 1)) &&
			mapfile -t COMPREPLY < <(compgen -W "$(_taskscope_commands "$tool")" -- "$cur")
		return 0
	fi

	opts=$(_taskscope_opts "$tool" "$cmd")
	if ((COMP_CWORD > i + 1)) && [[ $prev == -* ]] && grep -qxF -- "$prev=" <<<"$opts"; then
		# the value of an option
		case $cmd:$prev in
		export:-f | export:--format) o="perfetto chrome" ;;
		top:-s | top:--sort) o="cpu age name id switches waited" ;;
		metrics:-t | metrics:--textfile)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -d -- "$cur")
			return 0
			;;
		profile:-f | profile:--format) o="folded pprof svg" ;;
		profile:-b | profile:--by) o="task name coro" ;;
		*:-o | *:--output)
			compopt -o filenames 2>/dev/null
			mapfile -t COMPREPLY < <(compgen -f -- "$cur")
			return 0
			;;
		*) return 0 ;;
		esac
		mapfile -t COMPREPLY < <(compgen -W "$o" -- "$cur")
		return 0
	fi
	if [[ $cur == -* ]]; then
		mapfile -t COMPREPLY < <(compgen -W "$(sed 's/=$//' <<<"$opts")" -- "$cur")
		return 0
	fi
	case $cmd in
	ps | tree | top | record | metrics | profile)
		mapfile -t COMPREPLY < <(compgen -W "$(_taskscope_pids "$tool")" -- "$cur")
		;;
	probes)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -W "$(_taskscope_pids "$tool")" -- "$cur"
			compgen -f -- "$cur")
		;;
	dump | export)
		compopt -o filenames 2>/dev/null
		mapfile -t COMPREPLY < <(compgen -f -- "$cur")
		;;
	esac
	return 0
}

complete -F _taskscope taskscope
