# The public declarations of a C header, without comments or bodies, for a SYNOPSIS:
#   awk -f roff.awk -f header.awk include/taskscope/taskscope.h
# Prints prototypes, typedefs, enums, and function-like macros as their signature alone.
# Skips names ending in '_' (the functions behind the macros), include guards and extern "C".

# Strip comments, also those across lines.
{
	s = $0
	if (incomment) {
		if (!match(s, /\*\//))
			next
		s = substr(s, RSTART + 2)
		incomment = 0
	}
	while (match(s, /\/\*/)) {
		pre = substr(s, 1, RSTART - 1)
		rest = substr(s, RSTART + 2)
		if (pre ~ /^[ \t]*$/ && rest ~ /^ ---- .* ---- \*\/[ \t]*$/) {
			# a group heading: "---- loops and running ----"
			sub(/^ ---- /, "", rest)
			sub(/ ---- \*\/[ \t]*$/, "", rest)
			group = rest
			s = ""
			break
		}
		if (match(rest, /\*\//)) {
			s = pre substr(rest, RSTART + 2)
		} else {
			s = pre
			incomment = 1
		}
	}
	sub(/[ \t]+$/, "", s)
	if (s == "")
		next
	if (cont) {
		# a macro's body goes on with a backslash: not shown
		cont = s ~ /\\$/
		next
	}
	if (s ~ /^#/) {
		cont = s ~ /\\$/
		if (s !~ /^#define [A-Za-z_]/ || s ~ /^#define [A-Z_]*_H$/)
			next
		name = s
		sub(/^#define /, "", name)
		if (match(name, /^[A-Za-z0-9_]*\([^)]*\)/)) {
			sig = substr(name, 1, RLENGTH)
			if (sig ~ /^[A-Za-z0-9_]*_\(/)
				next
			emit("#define " sig)
		} else {
			emit(s)
		}
		next
	}
	if (s ~ /^extern "C"|^}$/)
		next
	if (inenum) {
		emit(s)
		inenum = s !~ /^}/
		next
	}
	if (s ~ /^enum [a-z_]* {$/) {
		emit(s)
		inenum = 1
		next
	}
	sub(/^__attribute__\(\([a-z_]*\)\) /, "", s)
	if (match(s, /[A-Za-z0-9_]+\(/) && substr(s, RSTART + RLENGTH - 2, 1) == "_")
		next
	emit(s)
}

function emit(s) {
	if (group != shown) {
		if (shown != "" || nemitted)
			print ""
		print "/* " esc(group) " */"
		shown = group
	}
	nemitted++
	gsub(/\t/, "    ", s)
	print line(esc(s))
}
