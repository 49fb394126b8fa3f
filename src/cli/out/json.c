/* SPDX-License-Identifier: MIT */
/* The streaming JSON writer's out-of-line half: buffer, strings, seconds, doubles. */
#include "out/json.h"
#include "out/out.h"
#include "trace/latency.h"

#include <math.h>
#include <stdlib.h>

struct tsc_json *tsc_json_new(FILE *f)
{
	struct tsc_json *w = malloc(sizeof(*w));
	if (!w)
		return NULL;
	w->f = f;
	w->n = 0;
	w->depth = 0;
	w->comma = 0;
	return w;
}

void tsc_json_flush(struct tsc_json *w)
{
	if (w->n)
		fwrite_unlocked(w->b, 1, w->n, w->f);
	w->n = 0;
}

void tsc_json_free(struct tsc_json *w)
{
	if (!w)
		return;
	tsc_json_flush(w);
	free(w);
}

void tsc_json_raw_str(struct tsc_json *w, const char *s)
{
	tsc_json_ch(w, '"');
	while (*s) {
		size_t n;
		s = tsc_json_part(s, tsc_json_room(w, 512), 512, &n);
		w->n += n;
	}
	tsc_json_ch(w, '"');
}

void tsc_json_double(struct tsc_json *w, double v, int prec)
{
	char b[64];
	if (!isfinite(v))
		v = 0;
	int n = snprintf(b, sizeof(b), "%.*f", prec, v);
	b[n > 0 && (size_t)n < sizeof(b) ? n : 0] = 0;
	tsc_json_word(w, b);
}

void tsc_json_lat(struct tsc_json *w, const struct tsc_lat_figs *f)
{
	tsc_json_obj(w);
	tsc_json_key(w, "count");
	tsc_json_u64(w, f->count);
	tsc_json_key(w, "kept");
	tsc_json_u64(w, f->kept);
	tsc_json_key(w, "p50_ns");
	tsc_json_u64(w, f->p50);
	tsc_json_key(w, "p99_ns");
	tsc_json_u64(w, f->p99);
	tsc_json_key(w, "max_ns");
	tsc_json_u64(w, f->max);
	tsc_json_end_obj(w);
}
