/* SPDX-License-Identifier: MIT */
/* stub */
#include "profile/prof.h"
#include <errno.h>
int prof_write_svg(FILE *f, const struct prof_tree *t, const char *title) { (void)f; (void)t; (void)title; return -ENOSYS; }
