/* SPDX-License-Identifier: MIT */
/* The interactive view's state, shared by render.c (drawing) and keys.c (keys). */
#ifndef TSC_TOP_UI_H
#define TSC_TOP_UI_H

#include "top/top.h"

enum top_screen { SCREEN_TABLE, SCREEN_FILTER, SCREEN_DETAILS, SCREEN_HELP };

struct top_ui {
	struct top_view view;
	enum top_screen screen;
	int paused;
	char edit[TS_NAME_MAX];     /* the filter being typed */
	char saved[TS_NAME_MAX];    /* the filter before '/', back on Esc */
	size_t sel;                 /* selected row (position in the current order) */
	size_t first;               /* first row shown */
	size_t page;                /* rows the table showed at the last draw */
	size_t total;               /* rows in the order at the last draw */
	uint64_t sel_id;            /* the task on the selected row at the last draw */
	uint64_t *shown;            /* the tasks on rows first.. of the last draw */
	size_t nshown;
	int details_pending;        /* Enter on a row not drawn yet: resolved by the draw */
	uint64_t details_id;        /* the task whose details are shown */
	char msg[160];              /* one-shot message for the status line */
	int colw[TOP_NCOLS];        /* the table's widest cells shown, at a width of: */
	int colw_for;               /* ... this many columns (COLS) */
};

#endif
