/* SPDX-License-Identifier: MIT */
/* What each key does to top's interactive view. */
#include "top/ui.h"

#include <curses.h>
#include <string.h>

#define KEY_ESC 27
#define KEY_CTRL(c) ((c) & 0x1f)

static void set_sort(struct top_ui *ui, enum top_sort s)
{
	/* the same key again reverses the order */
	if (ui->view.sort == s && !ui->view.tree)
		ui->view.reverse = !ui->view.reverse;
	else
		ui->view.reverse = 0;
	ui->view.sort = s;
	ui->sel = ui->first = 0;
}

static void move_sel(struct top_ui *ui, long by)
{
	long s = (long)ui->sel + by;
	if (s < 0 || !ui->total)
		s = 0;
	else if ((size_t)s >= ui->total)
		s = (long)ui->total - 1;
	ui->sel = (size_t)s;
}

/* The filter prompt: typed text filters at once; Enter keeps it, Esc restores the old one. */
static void filter_key(struct top_ui *ui, int k)
{
	size_t len = strlen(ui->edit);
	switch (k) {
	case KEY_ESC:
		memcpy(ui->view.filter, ui->saved, sizeof(ui->view.filter));
		ui->screen = SCREEN_TABLE;
		return;
	case '\n':
	case '\r':
	case KEY_ENTER:
		ui->screen = SCREEN_TABLE;
		return;
	case KEY_BACKSPACE:
	case 127:
	case 8:
		while (len > 0 && ((unsigned char)ui->edit[len - 1] & 0xc0) == 0x80)
			len--; /* a whole UTF-8 character */
		if (len > 0)
			len--;
		ui->edit[len] = 0;
		break;
	case KEY_CTRL('u'):
		ui->edit[0] = 0;
		break;
	default:
		if (k < 0x20 || k > 0xff || len + 1 >= sizeof(ui->edit))
			return;
		ui->edit[len] = (char)k;
		ui->edit[len + 1] = 0;
	}
	memcpy(ui->view.filter, ui->edit, sizeof(ui->view.filter));
	ui->sel = ui->first = 0;
}

int top_ui_keys(struct top_ui *ui, const struct top_model *m)
{
	int k;
	(void)m;
	while ((k = getch()) != ERR) {
		if (k == KEY_RESIZE)
			continue;
		if (ui->screen == SCREEN_FILTER) {
			filter_key(ui, k);
			continue;
		}
		if (ui->screen == SCREEN_HELP) {
			if (k == 'q')
				return 1;
			ui->screen = SCREEN_TABLE;
			continue;
		}
		if (ui->screen == SCREEN_DETAILS && (k == KEY_ESC || k == '\n' || k == '\r' ||
						     k == KEY_ENTER || k == KEY_BACKSPACE ||
						     k == 127)) {
			ui->screen = SCREEN_TABLE;
			continue;
		}
		switch (k) {
		case 'q':
		case 'Q':
			return 1;
		case 'c': set_sort(ui, TOP_SORT_CPU); break;
		case 'a': set_sort(ui, TOP_SORT_AGE); break;
		case 'n': set_sort(ui, TOP_SORT_NAME); break;
		case 'i': set_sort(ui, TOP_SORT_ID); break;
		case 's': set_sort(ui, TOP_SORT_SWITCHES); break;
		case 'w': set_sort(ui, TOP_SORT_WAITED); break;
		case '/':
			memcpy(ui->saved, ui->view.filter, sizeof(ui->saved));
			memcpy(ui->edit, ui->view.filter, sizeof(ui->edit));
			ui->screen = SCREEN_FILTER;
			break;
		case KEY_ESC:
			if (ui->view.filter[0]) {
				ui->view.filter[0] = 0;
				ui->sel = ui->first = 0;
			}
			break;
		case 't':
			ui->view.tree = !ui->view.tree;
			ui->sel = ui->first = 0;
			break;
		case 'p':
		case ' ':
			ui->paused = !ui->paused;
			top_ui_message(ui, ui->paused ? "Paused: p resumes" : "Resumed");
			break;
		case '?':
		case 'h':
			ui->screen = SCREEN_HELP;
			break;
		case '\n':
		case '\r':
		case KEY_ENTER:
			/* keys come in bursts: the selection may have moved since the draw */
			if (ui->sel >= ui->first && ui->sel - ui->first < ui->nshown) {
				ui->details_id = ui->shown[ui->sel - ui->first];
				ui->screen = SCREEN_DETAILS;
			} else if (ui->total) {
				ui->details_pending = 1;
			}
			break;
		case KEY_UP:
		case 'k':
			move_sel(ui, -1);
			break;
		case KEY_DOWN:
		case 'j':
			move_sel(ui, 1);
			break;
		case KEY_PPAGE:
			move_sel(ui, -(long)(ui->page ? ui->page : 1));
			break;
		case KEY_NPAGE:
			move_sel(ui, (long)(ui->page ? ui->page : 1));
			break;
		case KEY_HOME:
		case 'g':
			ui->sel = 0;
			break;
		case KEY_END:
		case 'G':
			ui->sel = ui->total ? ui->total - 1 : 0;
			break;
		case KEY_CTRL('l'):
			clearok(curscr, TRUE);
			break;
		default:
			break;
		}
	}
	return 0;
}
