/* SPDX-License-Identifier: MIT */
#include "cli.h"
#include "trace.h"
int tsc_cmd_export(int argc, char **argv)
{
	(void)argc, (void)argv;
	return TSC_EXIT_ERROR;
}
