# The Markdown of the README's sections to roff (man macros, tables through tbl):
#   awk -f roff.awk -f md.awk [-v first=DESCRIPTION] SECTION.md
# What the README uses and nothing more: "##" and "###" headings, paragraphs, "- " and "1. "
# lists with indented continuation lines, fenced code, pipe tables, `code`, **bold**,
# *emphasis* and [links](target). first, when given, renames the first "##" heading.

BEGIN { mode = "" }

# In a fence: verbatim to the closing fence.
mode == "code" {
	if ($0 ~ /^ *```/) {
		print ".EE"
		print ".RE"
		mode = ""
	} else {
		t = $0
		sub("^" fence_indent, "", t)
		print line(esc(t))
	}
	next
}

/^ *```/ {
	end_table()
	match($0, /^ */)
	fence_indent = substr($0, 1, RLENGTH)
	print (mode == "list" ? ".IP" : ".PP")
	print ".RS 4"
	print ".EX"
	mode = "code"
	next
}

/^ *$/ {
	end_table()
	if (mode == "list")
		mode = "list-gap"
	else
		mode = ""
	next
}

/^\|/ {
	row($0)
	next
}

{ end_table() }

/^## / {
	h = substr($0, 4)
	if (first != "" && !renamed) {
		h = first
		renamed = 1
	}
	print ".SH \"" toupper(plain(h)) "\""
	mode = ""
	next
}

/^### / {
	print ".SS \"" plain(substr($0, 5)) "\""
	mode = ""
	next
}

/^- / {
	print ".IP \\(bu 2"
	print line(fmt(substr($0, 3)))
	mode = "list"
	next
}

/^[0-9][0-9]*\. / {
	match($0, /^[0-9]*\. /)
	print ".IP " substr($0, 1, RLENGTH - 1) " 4"
	print line(fmt(substr($0, RLENGTH + 1)))
	mode = "list"
	next
}

# Indented text: goes on with the list item above it.
/^  */ && (mode == "list" || mode == "list-gap") {
	if (mode == "list-gap")
		print ".IP"
	t = $0
	sub(/^  */, "", t)
	print line(fmt(t))
	mode = "list"
	next
}

{
	if (mode != "para") {
		if (mode == "list" || mode == "list-gap")
			print ".PP"
		else
			print ".PP"
	}
	mode = "para"
	print line(fmt($0))
}

END {
	end_table()
	if (mode == "code") {
		print ".EE"
		print ".RE"
	}
}

# ---- tables: the header row in bold, long cells as text blocks that wrap ----
function row(s,    n, c, i, out) {
	if (s ~ /^\|[ :|-]*$/)
		return # the line under the header
	sub(/^\| */, "", s)
	sub(/ *\|[ \t]*$/, "", s)
	n = split(s, c, / *\| */)
	if (!intable) {
		intable = 1
		ncols = n
		print ".PP"
		print ".TS"
		out = ""
		for (i = 1; i <= n; i++)
			out = out (i > 1 ? " " : "") "lB"
		print out
		out = ""
		for (i = 1; i <= n; i++)
			out = out (i > 1 ? " " : "") (i == n ? "lx" : "l")
		print out "."
		header = 1
	}
	out = ""
	for (i = 1; i <= ncols; i++)
		out = out (i > 1 ? "\t" : "") cell(i <= n ? c[i] : "")
	print out
	if (header)
		print "_"
	header = 0
}

function cell(s) {
	s = fmt(s)
	return length(s) > 24 ? "T{\n" line(s) "\nT}" : s
}

function end_table() {
	if (intable)
		print ".TE"
	intable = 0
}

# ---- inline: `code` and **bold** in bold, *emphasis* in italics, links as their text ----
function fmt(s,    out, c, j, inner) {
	out = ""
	while (s != "") {
		c = substr(s, 1, 1)
		if (c == "`" && (j = index(substr(s, 2), "`")) > 0) {
			out = out "\\fB" esc(substr(s, 2, j - 1)) "\\fR"
			s = substr(s, j + 2)
		} else if (substr(s, 1, 2) == "**" && (j = index(substr(s, 3), "**")) > 0) {
			out = out "\\fB" fmt(substr(s, 3, j - 1)) "\\fR"
			s = substr(s, j + 4)
		} else if (c == "*" && substr(s, 2, 1) ~ /[A-Za-z]/ &&
			   match(substr(s, 2), /^[^*]*[A-Za-z]\*/)) {
			out = out "\\fI" esc(substr(s, 2, RLENGTH - 1)) "\\fR"
			s = substr(s, RLENGTH + 2)
		} else if (c == "[" && match(s, /^\[[^]]*\]\([^)]*\)/)) {
			inner = substr(s, 2, index(s, "]") - 2)
			out = out fmt(inner)
			s = substr(s, RLENGTH + 1)
		} else {
			out = out esc(c)
			s = substr(s, 2)
		}
	}
	return out
}

# A heading's text without its Markdown.
function plain(s) {
	gsub(/`|\*\*/, "", s)
	gsub(/"/, "", s)
	return esc(s)
}
