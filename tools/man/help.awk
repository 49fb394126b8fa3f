# A command's --help text to the body of its man page (NAME to the last section).
#   awk -v page=taskscope-ps -f roff.awk -f help.awk HELP-TEXT
# The help texts share one shape, which this reads and nothing else assumes:
#   taskscope ps: one-line summary.          the first line: NAME
#   USAGE: taskscope ps [OPTIONS] PID        SYNOPSIS; indented lines continue it, and
#                                            3 or more spaces, or an indented line that
#                                            starts with taskscope, part two synopses
#     -o, --output FILE  what it does        an indented paragraph with no heading: OPTIONS,
#                        continued here      one item per line indented less than 4
#   Prose paragraphs.                        DESCRIPTION, with indented lines kept as displays
#   EXAMPLES:                                a heading: its own section, until a blank line
#     taskscope ps 1234                      followed by prose; EXAMPLES and KEYS verbatim,
#                                            the others (COMMANDS, EXIT CODES...) as items

{ text[++n] = $0 }

END {
	summary = text[1]
	sub(/^[^:]*: */, "", summary)
	sub(/\.$/, "", summary)
	i = 2
	nsect = 0
	ndesc = 0
	nopt = 0
	while (i <= n) {
		if (text[i] ~ /^[ \t]*$/) {
			i++
			continue
		}
		if (match(text[i], /^[A-Z][A-Z ]*:/)) {
			head = substr(text[i], 1, RLENGTH - 1)
			rest = substr(text[i], RLENGTH + 1)
			if (head == "USAGE") {
				usage = trim(rest)
				# a continued line that starts with the command again is a second synopsis
				for (i++; i <= n && text[i] ~ /^ /; i++)
					usage = usage (trim(text[i]) ~ /^taskscope / ? "    " : " ") trim(text[i])
				continue
			}
			# the heading's lines: to a blank line followed by an unindented one
			first = i
			for (i++; i <= n; i++)
				if (text[i] ~ /^[ \t]*$/ && (i == n || text[i + 1] !~ /^ /))
					break
			sect[++nsect] = head
			sect_body[nsect] = section(head, rest, first + 1, i - 1)
			continue
		}
		if (text[i] ~ /^ /) {
			first = i
			for (i++; i <= n && text[i] !~ /^[ \t]*$/; i++)
				;
			opts = opts items(first, i - 1)
			continue
		}
		first = i
		for (i++; i <= n && text[i] !~ /^[ \t]*$/; i++)
			;
		desc = desc prose(first, i - 1)
	}

	print ".SH NAME"
	print page " \\- " esc(summary)
	if (usage != "") {
		print ".SH SYNOPSIS"
		nsyn = split(usage, syn, /    */)
		for (k = 1; k <= nsyn; k++) {
			s = syn[k]
			# the command's own words in bold: taskscope, then its subcommand if any
			if (match(s, /^taskscope( [a-z_][a-z_]*)?( |$)/)) {
				print ".SY \"" trim(substr(s, 1, RLENGTH)) "\""
				s = substr(s, RLENGTH + 1)
			} else {
				print ".SY"
			}
			if (s != "")
				print line(spec(s))
			print ".YS"
		}
	}
	print ".SH DESCRIPTION"
	print line(esc(toupper(substr(summary, 1, 1)) substr(summary, 2) "."))
	printf "%s", desc
	if (opts != "") {
		print ".SH OPTIONS"
		printf "%s", opts
	}
	for (k = 1; k <= nsect; k++) {
		print ".SH \"" sect[k] "\""
		printf "%s", sect_body[k]
	}
}

# Lines a..b of text as items: "TERM  description", a description alone on the next line when
# the term is long, continuation lines indented 4 or more.
function items(a, b,    out, j, t, term, d) {
	out = ""
	for (j = a; j <= b; j++) {
		t = text[j]
		if (t ~ /^[ \t]*$/)
			continue
		if (t ~ /^    / && out != "") {
			out = out line(esc(trim(t))) "\n"
			continue
		}
		t = trim(t)
		if (match(t, /   */)) {
			term = substr(t, 1, RSTART - 1)
			d = substr(t, RSTART + RLENGTH)
		} else {
			# one space before the description: the term is the options and placeholders
			term = t
			d = ""
			if (t !~ /^(-[^ ]*|[A-Z][A-Z0-9_|]*)( (-[^ ]*|[A-Z][A-Z0-9_|]*))*$/ &&
			    match(t, /^(-[^ ]*|[A-Z][A-Z0-9_|]*)( (-[^ ]*|[A-Z][A-Z0-9_|]*))* /)) {
				term = substr(t, 1, RLENGTH - 1)
				d = substr(t, RLENGTH + 1)
			}
		}
		out = out ".TP\n" line(spec(term)) "\n"
		if (d != "")
			out = out line(esc(d)) "\n"
	}
	return out
}

# Lines a..b as prose: filled, with indented lines kept as they are (a display).
function prose(a, b,    out, j, shown) {
	out = ".PP\n"
	shown = 0
	for (j = a; j <= b; j++) {
		if (text[j] ~ /^ /) {
			if (!shown)
				out = out ".RS 4\n.EX\n"
			shown = 1
			out = out line(esc(substr(text[j], 3))) "\n"
			continue
		}
		if (shown)
			out = out ".EE\n.RE\n"
		shown = 0
		out = out line(esc(text[j])) "\n"
	}
	if (shown)
		out = out ".EE\n.RE\n"
	return out
}

# A heading's lines: examples and key lists verbatim, anything else as items.
function section(head, rest, a, b,    out, j, pad) {
	if (head !~ /^(EXAMPLES?|KEYS)$/) {
		if (trim(rest) != "") {
			text[a - 1] = "  " trim(rest)
			a--
		}
		return items(a, b)
	}
	out = ".EX\n"
	if (trim(rest) != "") {
		# the heading's own line: its text where it stood, the heading blanked out
		pad = sprintf("%" (length(head) + 1) "s", "")
		out = out line(esc(substr(pad rest, 3))) "\n"
	}
	for (j = a; j <= b; j++)
		out = out line(esc(substr(text[j], 3))) "\n"
	return out ".EE\n"
}
