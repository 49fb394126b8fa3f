/* SPDX-License-Identifier: MIT */
/*
 * top's full-screen view, drawn with curses: a header, one line per loop thread, then the
 * task table (or the await tree), a details panel, a help panel, and a status line.
 *
 * The terminal is restored on every way out: top_ui_end on quit, signals and errors (the
 * caller's paths), an atexit handler for an exit from anywhere else, and a handler for fatal
 * signals that writes the terminal's own restore strings and the saved termios before dying.
 */
#include "top/ui.h"
#include "out/out.h"

#include <curses.h>
#include <term.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>
#include <taskscope/taskscope.h>

static volatile sig_atomic_t ui_active;
static struct termios saved_tio;
static int have_tio;
static char restore_seq[256];   /* rmcup, cnorm, sgr0 of this terminal */
static size_t restore_len;
static struct top_ui *the_ui;
static SCREEN *screen;

static int saved_stderr = -1;

static void restore_stderr(void)
{
	if (saved_stderr < 0)
		return;
	dup2(saved_stderr, STDERR_FILENO);
	close(saved_stderr);
	saved_stderr = -1;
}

static void fatal_signal(int sig)
{
	if (ui_active) {
		if (restore_len)
			(void)!write(STDOUT_FILENO, restore_seq, restore_len);
		if (have_tio)
			tcsetattr(STDIN_FILENO, TCSANOW, &saved_tio);
		if (saved_stderr >= 0)
			dup2(saved_stderr, STDERR_FILENO);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void at_exit(void)
{
	top_ui_end(the_ui);
}

static void add_seq(const char *cap)
{
	const char *s = tigetstr((char *)cap);
	if (!s || s == (char *)-1)
		return;
	size_t l = strlen(s);
	if (restore_len + l < sizeof(restore_seq)) {
		memcpy(restore_seq + restore_len, s, l);
		restore_len += l;
	}
}

int top_ui_start(struct top_ui **out)
{
	static int atexit_done;
	struct top_ui *ui = calloc(1, sizeof(*ui));
	*out = NULL;
	if (!ui)
		return -ENOMEM;
	setlocale(LC_ALL, "");
	if (tcgetattr(STDIN_FILENO, &saved_tio) == 0)
		have_tio = 1;
	/* Messages to stderr (a library's, a failed resync's) would land in the middle of the
	 * screen: they go nowhere until the terminal is given back. */
	saved_stderr = dup(STDERR_FILENO);
	int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
	if (saved_stderr >= 0 && null >= 0)
		dup2(null, STDERR_FILENO);
	if (null >= 0)
		close(null);
	if (!(screen = newterm(NULL, stdout, stdin))) {
		restore_stderr();
		free(ui);
		return -ENOTTY;
	}
	ui_active = 1;
	the_ui = ui;
	add_seq("rmcup");
	add_seq("cnorm");
	add_seq("sgr0");
	if (!atexit_done && !atexit(at_exit))
		atexit_done = 1;
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGQUIT };
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], fatal_signal);
	cbreak();
	noecho();
	nonl();
	keypad(stdscr, TRUE);
	nodelay(stdscr, TRUE);
	set_escdelay(25);
	curs_set(0);
	if (has_colors()) {
		start_color();
		use_default_colors();
		init_pair(1, COLOR_RED, -1);
		init_pair(2, COLOR_BLACK, COLOR_CYAN);
	}
	*out = ui;
	return 0;
}

void top_ui_end(struct top_ui *ui)
{
	if (!ui_active)
		return;
	curs_set(1);
	endwin();
	ui_active = 0;
	static const int fatal[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT, SIGQUIT };
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		signal(fatal[i], SIG_DFL);
	if (have_tio)
		tcsetattr(STDIN_FILENO, TCSADRAIN, &saved_tio);
	restore_stderr();
	free(ui->shown);
	delscreen(screen);
	screen = NULL;
	if (the_ui == ui)
		the_ui = NULL;
	free(ui);
}

int top_ui_paused(const struct top_ui *ui)
{
	return ui->paused;
}

struct top_view *top_ui_view(struct top_ui *ui)
{
	return &ui->view;
}

void top_ui_message(struct top_ui *ui, const char *msg)
{
	snprintf(ui->msg, sizeof(ui->msg), "%s", msg);
}

/* ---- drawing ---- */

/* Print s, text we made or escaped (tsc_text), at (y, x) in at most w columns, right-aligned
 * or padded; widths as every other output counts them. Text cut short ends with an ellipsis
 * ("~" where the terminal's locale is not UTF-8). */
static void cell(int y, int x, int w, const char *s, int right)
{
	size_t cols;
	if (w <= 0 || x >= COLS)
		return;
	if (x + w > COLS)
		w = COLS - x;
	size_t bytes = tsc_text_prefix(s, (size_t)w, &cols);
	int cut = s[bytes] != 0;
	if (cut)
		bytes = tsc_text_prefix(s, (size_t)w - 1, &cols);
	int pad = w - (int)cols - cut;
	move(y, x);
	if (right)
		for (int i = 0; i < pad; i++)
			addch(' ');
	addnstr(s, (int)bytes);
	if (cut)
		addstr(MB_CUR_MAX > 1 ? "\xe2\x80\xa6" : "~");
	if (!right)
		for (int i = 0; i < pad; i++)
			addch(' ');
}

static void line(int y, const char *s)
{
	move(y, 0);
	clrtoeol();
	cell(y, 0, COLS, s, 0);
}

static int measured(const struct top_model *m)
{
	return m->exact || m->hz > 0;
}

static void pct(const struct top_model *m, double v, char *buf, size_t n)
{
	if (measured(m))
		snprintf(buf, n, "%.1f", v);
	else
		snprintf(buf, n, "-");
}

/* Fields on lines from y, each whole, sep between two: a field that does not fit goes to the
 * next line (indented), so no line is cut inside one. attr[i]: field i's attributes. Returns
 * the line after the last. */
static int fields(int y, const char *const *f, const attr_t *attr, size_t n, const char *sep)
{
	int seplen = (int)strlen(sep);
	for (size_t i = 0; i < n; y++) {
		size_t k = top_fields_fit(f + i, n - i, (size_t)seplen, i ? 2 : 0, COLS);
		int x = i ? 2 : 0;
		move(y, 0);
		clrtoeol();
		for (size_t j = i; j < i + k && x < COLS; j++) {
			if (j > i) {
				cell(y, x, seplen, sep, 0);
				x += seplen;
			}
			int w = (int)tsc_text_width(f[j]);
			attron(attr[j]);
			cell(y, x, w < COLS - x ? w : COLS - x, f[j], 0);
			attroff(attr[j]);
			x += w;
		}
		i += k;
	}
	return y;
}

static int draw_header(const struct top_ui *ui, const struct top_model *m, const char *mode)
{
	char clock[16] = "", v[6][64], tasks[160];
	const attr_t none[6] = { 0 };
	time_t now = time(NULL);
	struct tm tm;
	if (localtime_r(&now, &tm))
		strftime(clock, sizeof(clock), "%H:%M:%S", &tm);
	snprintf(v[0], sizeof(v[0]), "pid %d", m->pid);
	snprintf(v[1], sizeof(v[1]), "every %.2gs%s", m->interval, ui->paused ? "  [PAUSED]" : "");
	const attr_t bold[5] = { A_BOLD, A_BOLD, A_BOLD, A_BOLD, A_BOLD };
	int y = fields(0, (const char *const[]){ "taskscope top", v[0], clock, mode, v[1] }, bold,
		       5, " - ");
	snprintf(v[0], sizeof(v[0]), "Threads: %zu", m->nthreads);
	snprintf(tasks, sizeof(tasks), "Tasks: %zu live (%zu running, %zu ready, %zu waiting, "
				       "%zu pending)", m->ntasks, m->nstate[TS_RUNNING],
		 m->nstate[TS_READY], m->nstate[TS_WAITING], m->nstate[TS_PENDING]);
	y = fields(y, (const char *const[]){ v[0], tasks }, none, 2, "  ");
	if (measured(m)) {
		top_counter_fields(m, 1, v);
		attr_t a = m->lost || m->map_full ? A_BOLD | (has_colors() ? COLOR_PAIR(1) : A_REVERSE)
						  : 0;
		y = fields(y, (const char *const[]){ v[0], v[1], v[2], v[3], v[4], v[5] },
			   (const attr_t[]){ 0, 0, 0, a, a, a }, 6, "  ");
	} else {
		line(y++, "Registry only (--no-bpf): no CPU figures, no event counts");
	}
	char filt[TSC_TEXT_SIZE(TS_NAME_MAX) + 16], note[TSC_TEXT_SIZE(sizeof(m->note)) + 4];
	const char *f[4];
	attr_t fa[4] = { 0 };
	size_t n = 0;
	snprintf(v[0], sizeof(v[0]), "Sort: %s%s", top_sort_name(ui->view.sort),
		 ui->view.reverse ? " (reversed)" : "");
	snprintf(v[1], sizeof(v[1]), "View: %s", ui->view.tree ? "await tree" : "table");
	f[n++] = v[0];
	f[n++] = v[1];
	if (ui->view.filter[0]) {
		size_t k = (size_t)snprintf(filt, sizeof(filt), "Filter: \"");
		k += tsc_text(filt + k, sizeof(filt) - k - 1, ui->view.filter, SIZE_MAX,
			      TSC_TEXT_QUOTED, NULL);
		snprintf(filt + k, sizeof(filt) - k, "\"");
		f[n++] = filt;
	}
	if (m->note[0]) {
		memcpy(note, "! ", 2);
		tsc_esc(note + 2, sizeof(note) - 2, m->note);
		fa[n] = A_BOLD;
		f[n++] = note;
	}
	y = fields(y, f, fa, n, "  ");
	for (size_t i = 0; i < m->warn.n && i < 3; i++) { /* the rest: top -b, ps --warnings */
		char warn[512] = "! ";
		tsc_warning_text(&m->warn.w[i], warn + 2, sizeof(warn) - 2);
		attron(A_BOLD);
		line(y++, i == 2 && m->warn.n > 3 ? "! ... more warnings: taskscope top -b" : warn);
		attroff(A_BOLD);
	}
	return y + 1;
}

static int draw_threads(const struct top_model *m, int y, int maxrows)
{
	char buf[512], name[TSC_TEXT_SIZE(TS_NAME_MAX)], cpu[16], task[16], lat[4][24];
	char latf[128] = "";
	attron(A_REVERSE);
	int k = snprintf(buf, sizeof(buf), "%8s %6s %6s", "TID", "CPU%", "TASK%");
	if (m->exact) /* each thread's scheduling latency over the interval too */
		k += snprintf(buf + k, sizeof(buf) - (size_t)k, TOP_LAT_FMT, TOP_LAT_HEAD);
	snprintf(buf + k, sizeof(buf) - (size_t)k, "  %s", "CURRENT TASK");
	line(y++, buf);
	cell(y - 1, (int)strlen(buf), COLS, "", 0);
	attroff(A_REVERSE);
	size_t n = m->nthreads;
	if ((int)n > maxrows)
		n = maxrows > 1 ? (size_t)maxrows - 1 : 0;
	for (size_t i = 0; i < n; i++) {
		const struct top_thread *th = &m->threads[i];
		const struct top_task *t = top_find(m, th->current);
		pct(m, th->cpu_pct, cpu, sizeof(cpu));
		pct(m, th->task_pct, task, sizeof(task));
		if (m->exact) {
			top_lat_cells(th, lat);
			snprintf(latf, sizeof(latf), TOP_LAT_FMT, lat[0], lat[1], lat[2], lat[3]);
		}
		if (t) {
			snprintf(buf, sizeof(buf), "%8d %6s %6s%s  %llu %s", th->tid, cpu, task, latf,
				 (unsigned long long)t->id, tsc_esc(name, sizeof(name), t->name));
		} else {
			snprintf(buf, sizeof(buf), "%8d %6s %6s%s  -", th->tid, cpu, task, latf);
		}
		line(y++, buf);
	}
	if (n < m->nthreads) {
		snprintf(buf, sizeof(buf), "   ... and %zu more threads", m->nthreads - n);
		line(y++, buf);
	}
	return y + 1;
}

/* Column widths and positions of the table as drawn. */
struct cols {
	int w[TOP_NCOLS], x[TOP_NCOLS];
};

/* A row's cell c; in the await tree the name carries its indent and mark. */
static void row_cell(const struct top_model *m, const struct top_task *t, int c, int depth,
		     int mark, char *buf, size_t n)
{
	char name[TOP_CELL_SIZE];
	if (c != TOP_COL_NAME) {
		top_cell(m, t, (enum top_col_id)c, buf, n);
		return;
	}
	top_cell(m, t, TOP_COL_NAME, name, sizeof(name));
	if (depth > 0) {
		int ind = depth > 12 ? 12 : depth;
		snprintf(buf, n, "%*s└─ %s%s", 2 * (ind - 1), "", name,
			 mark == 2 ? " [cycle]" : mark == 1 ? " [above]" : "");
	} else {
		snprintf(buf, n, "%s%s", name, mark == 2 ? " [cycle]" : "");
	}
}

/* Each column as wide as its widest cell shown since the terminal last changed width (so
 * columns do not jump as rows scroll), then fitted to the terminal: NAME narrows first. */
static void layout(struct top_ui *ui, const struct top_model *m, const uint32_t *rows,
		   const struct top_tree *tree, size_t first, size_t n, struct cols *c)
{
	char buf[TOP_CELL_SIZE + 80];
	if (ui->colw_for != COLS) {
		top_cols_init(ui->colw);
		ui->colw_for = COLS;
	}
	/* ids: as wide as the next one will be, four at least, whatever rows are shown */
	int idw = snprintf(buf, sizeof(buf), "%llu", (unsigned long long)m->next_id);
	if (idw < 4)
		idw = 4;
	if (ui->colw[TOP_COL_ID] < idw)
		ui->colw[TOP_COL_ID] = idw;
	for (size_t i = first; i < first + n; i++) {
		for (int k = 0; k < TOP_NCOLS; k++) {
			row_cell(m, &m->tasks[rows[i]], k, tree ? tree->depth[i] : 0,
				 tree ? tree->mark[i] : 0, buf, sizeof(buf));
			int w = (int)tsc_text_width(buf);
			if (w > ui->colw[k])
				ui->colw[k] = w;
		}
	}
	memcpy(c->w, ui->colw, sizeof(c->w));
	top_cols_fit(c->w, COLS);
	for (int k = 0, x = 0; k < TOP_NCOLS; k++) {
		c->x[k] = x;
		x += c->w[k] + 1;
	}
	/* the last column takes the rest of the line */
	if (COLS - c->x[TOP_NCOLS - 1] > c->w[TOP_NCOLS - 1])
		c->w[TOP_NCOLS - 1] = COLS - c->x[TOP_NCOLS - 1];
}

static void draw_row(const struct top_model *m, const struct cols *c, int y,
		     const struct top_task *t, int depth, int mark, int selected)
{
	char buf[TOP_CELL_SIZE + 80];
	if (selected)
		attron(A_REVERSE);
	move(y, 0);
	clrtoeol();
	for (int k = 0; k < TOP_NCOLS; k++) {
		row_cell(m, t, k, depth, mark, buf, sizeof(buf));
		cell(y, c->x[k], c->w[k], buf, top_cols[k].right);
		if (k < TOP_NCOLS - 1)
			cell(y, c->x[k] + c->w[k], 1, " ", 0);
	}
	if (selected)
		attroff(A_REVERSE);
}

static void draw_table(struct top_ui *ui, const struct top_model *m, int y, int bottom)
{
	int head = y++;
	int page = bottom - y;
	if (page < 1)
		page = 1;
	ui->page = (size_t)page;

	struct top_tree tree = { 0 };
	uint32_t *rows = NULL;
	size_t nrows = 0, total = 0;
	if (ui->view.tree) {
		if (top_tree_build(m, &ui->view, &tree)) {
			line(y, "(out of memory)");
			return;
		}
		rows = tree.rows;
		total = nrows = tree.n;
	}
	/* the selection stays on screen; rows are computed down to the last one shown */
	if (ui->sel < ui->first)
		ui->first = ui->sel;
	if (ui->sel >= ui->first + (size_t)page)
		ui->first = ui->sel - (size_t)page + 1;
	if (!ui->view.tree)
		total = top_rows(m, &ui->view, ui->first + (size_t)page, &rows, &nrows);
	ui->total = total;
	if (total && ui->sel >= total)
		ui->sel = total - 1;
	if (ui->first > ui->sel)
		ui->first = ui->sel;
	if (ui->first + (size_t)page > total)
		ui->first = total > (size_t)page ? total - (size_t)page : 0;
	size_t shown = ui->first < nrows ? nrows - ui->first : 0;
	if (shown > (size_t)page)
		shown = (size_t)page;

	struct cols c;
	layout(ui, m, rows, ui->view.tree ? &tree : NULL, ui->first, shown, &c);
	attron(A_REVERSE);
	move(head, 0);
	clrtoeol();
	for (int k = 0; k < TOP_NCOLS; k++) {
		if (!ui->view.tree && top_cols[k].sort == (int)ui->view.sort)
			attron(A_BOLD | A_UNDERLINE);
		cell(head, c.x[k], c.w[k], top_cols[k].head, top_cols[k].right);
		attroff(A_BOLD | A_UNDERLINE);
		if (k < TOP_NCOLS - 1)
			cell(head, c.x[k] + c.w[k], 1, " ", 0);
	}
	attroff(A_REVERSE);

	ui->sel_id = 0;
	ui->nshown = 0;
	uint64_t *ids = realloc(ui->shown, (size_t)page * sizeof(*ids));
	if (ids)
		ui->shown = ids;
	for (int r = 0; r < page; r++) {
		size_t i = ui->first + (size_t)r;
		if (i >= nrows) {
			move(y + r, 0);
			clrtoeol();
			continue;
		}
		const struct top_task *t = &m->tasks[rows[i]];
		int sel = i == ui->sel;
		if (ids)
			ui->shown[ui->nshown++] = t->id;
		if (sel)
			ui->sel_id = t->id;
		draw_row(m, &c, y + r, t, ui->view.tree ? tree.depth[i] : 0,
			 ui->view.tree ? tree.mark[i] : 0, sel);
	}
	if (!total)
		line(y, ui->view.filter[0] ? "  (no task matches the filter)" : "  (no live tasks)");
	if (ui->view.tree)
		top_tree_free(&tree);
	else
		free(rows);
}

static void box_line(int y, int x, int w, const char *label, const char *value)
{
	char buf[1100];
	snprintf(buf, sizeof(buf), "  %-12s %s", label, value);
	cell(y, x, w, buf, 0);
}

static void draw_details(struct top_ui *ui, const struct top_model *m, int y, int bottom)
{
	char buf[1024], name[TSC_TEXT_SIZE(TS_NAME_MAX)], v[TSC_TEXT_SIZE(TS_NAME_MAX) + 64];
	int x = 0, w = COLS;
	for (int r = y; r < bottom; r++) {
		move(r, 0);
		clrtoeol();
	}
	const struct top_task *t = top_find(m, ui->details_id);
	attron(A_REVERSE);
	snprintf(buf, sizeof(buf), " Task %llu  (Esc or Enter: back to the table)",
		 (unsigned long long)ui->details_id);
	line(y++, buf);
	attroff(A_REVERSE);
	if (!t) {
		line(y + 1, "  This task is gone: it finished.");
		return;
	}
	box_line(y++, x, w, "name", tsc_esc(name, sizeof(name), t->name));
	snprintf(buf, sizeof(buf), "%s()", tsc_esc(v, sizeof(v), t->coro));
	box_line(y++, x, w, "coroutine", buf);
	snprintf(buf, sizeof(buf), "%s", tsc_state_name(t->state));
	box_line(y++, x, w, "state", buf);
	top_wait_long(m, t, v, sizeof(v));
	box_line(y++, x, w, "wait object", v);
	snprintf(buf, sizeof(buf), "%d", t->tid);
	box_line(y++, x, w, "thread", buf);
	const struct top_task *p = top_find(m, t->parent);
	if (!t->parent) {
		snprintf(buf, sizeof(buf), "-");
	} else if (p) {
		snprintf(buf, sizeof(buf), "%llu %s", (unsigned long long)t->parent,
			 tsc_esc(v, sizeof(v), p->name));
	} else {
		snprintf(buf, sizeof(buf), "%llu (finished)", (unsigned long long)t->parent);
	}
	box_line(y++, x, w, "parent", buf);
	if (t->state == TS_WAITING && t->wait == TS_WAIT_AWAIT) {
		const struct top_task *a = top_find(m, t->wait_obj);
		snprintf(buf, sizeof(buf), "%llu %s", (unsigned long long)t->wait_obj,
			 a ? tsc_esc(v, sizeof(v), a->name) : "(finished)");
	} else {
		snprintf(buf, sizeof(buf), "-");
	}
	box_line(y++, x, w, "awaiting", buf);
	uint32_t by[8];
	size_t nby = top_awaited_by(m, t->id, by, 8), o = 0;
	buf[0] = 0;
	for (size_t i = 0; i < nby && i < 8; i++) {
		o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s%llu %s", i ? ", " : "",
				      (unsigned long long)m->tasks[by[i]].id,
				      tsc_esc(v, sizeof(v), m->tasks[by[i]].name));
		if (o >= sizeof(buf))
			break;
	}
	if (nby > 8 && o < sizeof(buf))
		snprintf(buf + o, sizeof(buf) - o, " and %zu more", nby - 8);
	box_line(y++, x, w, "awaited by", nby ? buf : "-");
	/* created_ns is CLOCK_MONOTONIC: the wall clock then is now minus its age */
	struct timespec rt;
	clock_gettime(CLOCK_REALTIME, &rt);
	uint64_t age = m->taken_ns > t->created_ns ? m->taken_ns - t->created_ns : 0;
	time_t when = rt.tv_sec - (time_t)(age / 1000000000u);
	struct tm tm;
	char clock[32] = "?", ages[32];
	if (localtime_r(&when, &tm))
		strftime(clock, sizeof(clock), "%Y-%m-%d %H:%M:%S", &tm);
	tsc_fmt_age(age, ages, sizeof(ages));
	snprintf(buf, sizeof(buf), "%s (%s ago)", clock, ages);
	box_line(y++, x, w, "created", buf);
	if (measured(m)) {
		top_fmt_cputime(t->cpu_ns, v, sizeof(v));
		snprintf(buf, sizeof(buf), "%.1f%% of a CPU now; %s since top started", t->cpu_pct,
			 v);
	} else {
		snprintf(buf, sizeof(buf), "- (registry only)");
	}
	box_line(y++, x, w, "CPU", buf);
	snprintf(buf, sizeof(buf), "%llu (%.1f/s)", (unsigned long long)t->switches, t->sw_rate);
	box_line(y++, x, w, "switches", buf);
	snprintf(buf, sizeof(buf), "0x%llx", (unsigned long long)t->addr);
	box_line(y++, x, w, "address", buf);
	(void)bottom;
}

static void draw_help(int y, int bottom)
{
	static const char *const help[] = {
		"Keys",
		"",
		"  c a n i s w  sort by CPU, age, name, id, switches/s, waited (again: reverse)",
		"  /                filter by name (Enter keeps it, Esc cancels, empty: all)",
		"  t                await tree: each task above the task it awaits",
		"  Enter            details of the selected task (Esc or Enter: back)",
		"  p                pause or resume the refresh",
		"  Up Down j k      move; PgUp PgDn; Home End",
		"  ?                this help",
		"  q                quit (so do Ctrl-C and SIGTERM)",
		"",
		"Columns",
		"",
		"  CPU%      share of one CPU over the last interval: the thread's CPU time",
		"            (the kernel's), shared among its tasks by samples or switch times",
		"  CPU-TIME  since top started;  SW/s  times switched in, per second",
		"  TASK%     of a thread: the share of its time spent running tasks",
		"",
		"Any key: back",
	};
	for (int r = y; r < bottom; r++) {
		move(r, 0);
		clrtoeol();
	}
	for (size_t i = 0; i < sizeof(help) / sizeof(help[0]) && y < bottom; i++)
		line(y++, help[i]);
}

static void draw_status(struct top_ui *ui)
{
	char buf[512];
	int y = LINES - 1;
	if (ui->screen == SCREEN_FILTER) {
		char safe[TSC_TEXT_SIZE(TS_NAME_MAX)];
		snprintf(buf, sizeof(buf), "Filter by name: %s", tsc_esc(safe, sizeof(safe), ui->edit));
		line(y, buf);
		curs_set(1);
		int cx = (int)tsc_text_width(buf);
		move(y, cx < COLS ? cx : COLS - 1);
		return;
	}
	curs_set(0);
	if (ui->msg[0]) {
		attron(A_BOLD);
		line(y, ui->msg);
		attroff(A_BOLD);
		ui->msg[0] = 0;
		return;
	}
	/* on a narrow terminal the hints go from the right, the row count stays */
	const char *hint[] = { "q quit", "? help", "/ filter", "t tree", "p pause", "Enter details",
			       "sort: c a n i s w" };
	size_t nh = sizeof(hint) / sizeof(hint[0]), o;
	char count[48];
	snprintf(count, sizeof(count), "(%zu/%zu)", ui->total ? ui->sel + 1 : 0, ui->total);
	do {
		o = 0;
		for (size_t i = 0; i < nh; i++)
			o += (size_t)snprintf(buf + o, sizeof(buf) - o, "%s  ", hint[i]);
		snprintf(buf + o, sizeof(buf) - o, "%s", count);
	} while (strlen(buf) > (size_t)COLS && --nh > 2);
	line(y, buf);
}

void top_ui_draw(struct top_ui *ui, const struct top_model *m, const char *mode)
{
	erase();
	if (LINES < 8 || COLS < 40) {
		line(0, "taskscope top: the terminal is too small");
		refresh();
		return;
	}
	int y = draw_header(ui, m, mode);
	int bottom = LINES - 1;
	int room = bottom - y;
	y = draw_threads(m, y, room / 3 > 2 ? room / 3 : 2);
	switch (ui->screen) {
	case SCREEN_HELP:
		draw_help(y, bottom);
		break;
	case SCREEN_DETAILS:
		draw_details(ui, m, y, bottom);
		break;
	default:
		draw_table(ui, m, y, bottom);
		if (ui->details_pending && ui->sel_id) {
			ui->details_id = ui->sel_id;
			ui->screen = SCREEN_DETAILS;
			draw_details(ui, m, y, bottom);
		}
	}
	ui->details_pending = 0;
	draw_status(ui);
	refresh();
}
