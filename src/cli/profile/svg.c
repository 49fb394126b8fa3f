/* SPDX-License-Identifier: MIT */
/*
 * The tree as a self-contained SVG flame graph, in the manner of flamegraph.pl: the root at the
 * bottom, each frame as wide as its samples (or time waited), children in name order. Frames
 * narrower than a tenth of a pixel are left out. A small script makes it interactive when
 * opened in a browser: click a frame to zoom to it (its ancestors stay, full width), click
 * "all" or "Reset zoom" to go back, Ctrl-F or "Search" to highlight frames by a regular
 * expression. Without the script (an image viewer), the same graph shows, unzoomed.
 * Every name is escaped text already (fold.c); here it only gets XML's five entities.
 */
#include "profile/prof.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define WIDTH 1200.0
#define PAD 10.0
#define ROW 16
#define FONT 12
#define HEAD 48
#define FOOT 24
#define MIN_PX 0.1
#define CHAR_PX (FONT * 0.59)  /* a character's width, for cutting labels to fit */

/* Escaped text (out.h: valid UTF-8, no control characters) as XML character data. XML 1.0
 * also refuses the two noncharacters U+FFFE and U+FFFF, which are valid UTF-8. */
static void xml(FILE *f, const char *s, size_t max)
{
	for (size_t i = 0; s[i] && i < max; i++) {
		if ((unsigned char)s[i] == 0xef && (unsigned char)s[i + 1] == 0xbf &&
		    ((unsigned char)s[i + 2] & 0xfe) == 0xbe) {
			fputs((unsigned char)s[i + 2] == 0xbe ? "\\uFFFE" : "\\uFFFF", f);
			i += 2;
			continue;
		}
		switch (s[i]) {
		case '&': fputs("&amp;", f); break;
		case '<': fputs("&lt;", f); break;
		case '>': fputs("&gt;", f); break;
		case '"': fputs("&quot;", f); break;
		case '\'': fputs("&apos;", f); break;
		default: putc_unlocked(s[i], f);
		}
	}
}

/* How many bytes of s fit in px, cut between UTF-8 characters; 0 when not even 3 do. */
static size_t fit(const char *s, double px, int *cut)
{
	size_t chars = (size_t)(px / CHAR_PX), len = strlen(s), i = 0, n = 0;
	*cut = 0;
	if (chars < 3)
		return 0;
	while (i < len && n < chars) {
		i++;
		while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
			i++;
		n++;
	}
	if (i < len) { /* room for "..": two characters less */
		*cut = 1;
		size_t keep = chars > 2 ? chars - 2 : 0;
		for (i = 0, n = 0; i < len && n < keep; n++) {
			i++;
			while (i < len && ((unsigned char)s[i] & 0xc0) == 0x80)
				i++;
		}
	}
	return i;
}

/* A warm colour from the name (flamegraph.pl's "hot"), blue for roots, grey for loops. */
static void colour(const char *name, int depth, char *buf, size_t n)
{
	uint32_t h = 2166136261u;
	for (const char *p = name; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	if (depth == 1 && name[0] == '[')
		snprintf(buf, n, "rgb(%u,%u,%u)", 160 + h % 40, 160 + h % 40, 170 + h % 40);
	else if (depth == 1)
		snprintf(buf, n, "rgb(%u,%u,%u)", 80 + h % 60, 140 + (h >> 8) % 60, 220 + (h >> 16) % 35);
	else if (depth == 0)
		snprintf(buf, n, "rgb(220,220,220)");
	else
		snprintf(buf, n, "rgb(%u,%u,%u)", 205 + h % 50, (h >> 8) % 230, (h >> 16) % 55);
}

static void amount(FILE *f, const struct prof_tree *t, const struct prof_node *p)
{
	double pct = t->node[0].weight ? 100.0 * (double)p->weight / (double)t->node[0].weight : 0;
	if (t->kind == PROF_WAIT)
		fprintf(f, "%.3f s waited, %.2f%%", (double)p->weight / 1e9, pct);
	else
		fprintf(f, "%" PRIu64 " samples, %.2f%%", p->count, pct);
}

/* after "var W = WIDTH, P = PAD, CH = CHAR_PX;" */
static const char script[] =
	"var frames = [], zoomed = null;\n"
	"function init() {\n"
	"  var gs = document.querySelectorAll('g.f');\n"
	"  for (var i = 0; i < gs.length; i++) {\n"
	"    var g = gs[i];\n"
	"    frames.push({ g: g, x: +g.getAttribute('data-x'), w: +g.getAttribute('data-w'),\n"
	"      d: +g.getAttribute('data-d'), name: g.querySelector('title').textContent\n"
	"        .replace(/ \\([^()]*\\)$/, ''), r: g.querySelector('rect'),\n"
	"      t: g.querySelector('text') });\n"
	"    g.addEventListener('click', click);\n"
	"  }\n"
	"  document.getElementById('reset').addEventListener('click', reset);\n"
	"  document.getElementById('search').addEventListener('click', search);\n"
	"  window.addEventListener('keydown', function (e) {\n"
	"    if ((e.ctrlKey || e.metaKey) && e.key === 'f') { e.preventDefault(); search(); }\n"
	"    if (e.key === 'Escape') reset();\n"
	"  });\n"
	"}\n"
	"function label(f, px) {\n"
	"  var n = Math.floor(px / CH);\n"
	"  if (n < 3) return '';\n"
	"  return f.name.length <= n ? f.name : f.name.slice(0, n - 2) + '..';\n"
	"}\n"
	"function place(f, x, w) {\n"
	"  var px = w * (W - 2 * P);\n"
	"  f.g.style.display = px < 0.1 ? 'none' : '';\n"
	"  f.r.setAttribute('x', P + x * (W - 2 * P));\n"
	"  f.r.setAttribute('width', px);\n"
	"  f.t.setAttribute('x', P + x * (W - 2 * P) + 3);\n"
	"  f.t.textContent = label(f, px - 3);\n"
	"}\n"
	"function zoom(z) {\n"
	"  zoomed = z;\n"
	"  for (var i = 0; i < frames.length; i++) {\n"
	"    var f = frames[i];\n"
	"    var inside = f.x >= z.x - 1e-12 && f.x + f.w <= z.x + z.w + 1e-12;\n"
	"    var above = f.d < z.d && f.x <= z.x + 1e-12 && f.x + f.w >= z.x + z.w - 1e-12;\n"
	"    if (inside && f.d >= z.d) place(f, (f.x - z.x) / z.w, f.w / z.w);\n"
	"    else if (above) { place(f, 0, 1); f.g.style.opacity = 0.6; continue; }\n"
	"    else f.g.style.display = 'none';\n"
	"    f.g.style.opacity = '';\n"
	"  }\n"
	"}\n"
	"function click(e) {\n"
	"  var g = e.currentTarget;\n"
	"  for (var i = 0; i < frames.length; i++) if (frames[i].g === g) zoom(frames[i]);\n"
	"}\n"
	"function reset() { zoom(frames[0]); }\n"
	"function search() {\n"
	"  var s = prompt('Highlight frames matching (a regular expression):', '');\n"
	"  if (s === null) return;\n"
	"  var re; try { re = new RegExp(s); } catch (err) { return; }\n"
	"  for (var i = 0; i < frames.length; i++) {\n"
	"    var f = frames[i];\n"
	"    if (!f.r.hasAttribute('data-fill')) f.r.setAttribute('data-fill', f.r.getAttribute('fill'));\n"
	"    f.r.setAttribute('fill', s && re.test(f.name) ? 'rgb(230,0,230)' : f.r.getAttribute('data-fill'));\n"
	"  }\n"
	"}\n"
	"init();\n"
	"]]></script>\n";

int prof_write_svg(FILE *f, const struct prof_tree *t, const char *title)
{
	struct pos { uint32_t node; double x; };
	struct pos *stack = malloc((t->n ? t->n : 1) * sizeof(*stack));
	uint32_t *depth = malloc((t->n ? t->n : 1) * sizeof(*depth));
	if (!stack || !depth) {
		free(stack);
		free(depth);
		return -ENOMEM;
	}
	double total = t->n && t->node[0].weight ? (double)t->node[0].weight : 1;
	double span = WIDTH - 2 * PAD;
	/* the depth of the deepest frame drawn sets the height */
	unsigned maxd = 0;
	depth[0] = 0;
	for (size_t i = 1; i < t->n; i++) { /* a parent is always made before its children */
		depth[i] = depth[t->node[i].parent] + 1;
		if ((double)t->node[i].weight / total * span >= MIN_PX && depth[i] > maxd)
			maxd = depth[i];
	}
	double height = HEAD + (maxd + 1) * ROW + FOOT;

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"no\"?>\n"
		   "<svg version=\"1.1\" xmlns=\"http://www.w3.org/2000/svg\" "
		   "width=\"%.0f\" height=\"%.0f\" viewBox=\"0 0 %.0f %.0f\">\n",
		WIDTH, height, WIDTH, height);
	fprintf(f, "<style>text { font-family: Verdana, sans-serif; font-size: %dpx; fill: #000; }"
		   " g.f:hover rect { stroke: #000; stroke-width: 0.5; cursor: pointer; }"
		   " .ui { cursor: pointer; fill: #225; }</style>\n", FONT);
	fprintf(f, "<rect x=\"0\" y=\"0\" width=\"%.0f\" height=\"%.0f\" fill=\"#f8f8f2\"/>\n",
		WIDTH, height);
	fprintf(f, "<text x=\"%.0f\" y=\"24\" text-anchor=\"middle\" style=\"font-size:17px\">",
		WIDTH / 2);
	xml(f, title, SIZE_MAX);
	fputs("</text>\n", f);
	fprintf(f, "<text id=\"reset\" class=\"ui\" x=\"%.0f\" y=\"24\">Reset zoom</text>\n", PAD);
	fprintf(f, "<text id=\"search\" class=\"ui\" x=\"%.0f\" y=\"24\" text-anchor=\"end\">"
		   "Search</text>\n", WIDTH - PAD);

	/* depth-first, children left to right, each at its parent's x plus its elder
	 * siblings' widths */
	size_t sp = 0;
	if (t->n)
		stack[sp++] = (struct pos){ 0, 0 };
	char fill[48];
	while (sp) {
		struct pos cur = stack[--sp];
		const struct prof_node *p = &t->node[cur.node];
		double w = (double)p->weight / total;
		if (w * span < MIN_PX)
			continue;
		unsigned d = depth[cur.node];
		double y = height - FOOT - (d + 1) * ROW;
		const char *name = t->names.s[p->name];
		colour(name, (int)d, fill, sizeof(fill));
		fprintf(f, "<g class=\"f\" data-x=\"%.9f\" data-w=\"%.9f\" data-d=\"%u\"><title>",
			cur.x, w, d);
		xml(f, name, SIZE_MAX);
		fputs(" (", f);
		amount(f, t, p);
		fprintf(f, ")</title><rect x=\"%.2f\" y=\"%.0f\" width=\"%.2f\" height=\"%d\" "
			   "fill=\"%s\" rx=\"2\"/><text x=\"%.2f\" y=\"%.1f\">",
			PAD + cur.x * span, y, w * span, ROW - 1, fill, PAD + cur.x * span + 3,
			y + ROW - 4.5);
		int cut;
		size_t keep = fit(name, w * span - 3, &cut);
		xml(f, name, keep);
		if (cut)
			fputs("..", f);
		fputs("</text></g>\n", f);
		/* children pushed right to left, so that they come out left to right */
		size_t first = sp;
		double x = cur.x;
		for (uint32_t c = p->child; c; c = t->node[c].next) {
			stack[sp++] = (struct pos){ c, x };
			x += (double)t->node[c].weight / total;
		}
		for (size_t a = first, b = sp; a + 1 < b; a++, b--) {
			struct pos tmp = stack[a];
			stack[a] = stack[b - 1];
			stack[b - 1] = tmp;
		}
	}
	fprintf(f, "<text x=\"%.0f\" y=\"%.0f\" style=\"font-size:11px;fill:#555\">",
		PAD, height - 8);
	if (t->kind == PROF_WAIT)
		fprintf(f, "wait profile: %.3f s of task time waited over %.1f s",
			(double)(t->n ? t->node[0].weight : 0) / 1e9, (double)t->duration_ns / 1e9);
	else
		fprintf(f, "CPU profile: %" PRIu64 " samples at %.0f Hz over %.1f s",
			t->n ? t->node[0].count : 0, t->period_ns ? 1e9 / (double)t->period_ns : 0,
			(double)t->duration_ns / 1e9);
	fputs("; click a frame to zoom, Ctrl-F to search</text>\n", f);
	fprintf(f, "<script type=\"text/ecmascript\"><![CDATA[\n'use strict';\n"
		   "var W = %.0f, P = %.0f, CH = %.2f;\n", WIDTH, PAD, CHAR_PX);
	fputs(script, f);
	fputs("</svg>\n", f);
	free(stack);
	free(depth);
	return ferror(f) ? -EIO : 0;
}
