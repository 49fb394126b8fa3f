# Shared by the man page generators (POSIX awk): text to roff.

# Literal text: a backslash is \e, and every '-' is a minus sign (\-) so that options render
# as ASCII and survive copy and paste.
function esc(s,    out, i, c) {
	out = ""
	for (i = 1; i <= length(s); i++) {
		c = substr(s, i, 1)
		if (c == "\\")
			out = out "\\e"
		else if (c == "-")
			out = out "\\-"
		else
			out = out c
	}
	return out
}

# A line of input text: a leading '.' or '\'' would be read as a request.
function line(s) {
	if (s ~ /^[.']/)
		s = "\\&" s
	return s
}

# An option spec or a synopsis: options in bold, placeholders (FILE, PID, SECS) in italics,
# the rest as it is.
function spec(s,    out, tok, pre) {
	out = ""
	while (match(s, /--?[A-Za-z][A-Za-z0-9-]*|[A-Z][A-Z0-9_]*/)) {
		pre = substr(s, 1, RSTART - 1)
		tok = substr(s, RSTART, RLENGTH)
		s = substr(s, RSTART + RLENGTH)
		# a whole word only: not the BPF of CAP_BPF, nor a capital starting a sentence
		if (tok ~ /^-/ && (pre == "" || pre ~ /[ [|,(]$/))
			out = out esc(pre) "\\fB" esc(tok) "\\fR"
		else if (tok ~ /^[A-Z]/ && (pre == "" || pre ~ /[ [|,(]$/) && s !~ /^[a-z]/)
			out = out esc(pre) "\\fI" esc(tok) "\\fR"
		else
			out = out esc(pre tok)
	}
	return out esc(s)
}

function trim(s) {
	sub(/^[ \t]+/, "", s)
	sub(/[ \t]+$/, "", s)
	return s
}
