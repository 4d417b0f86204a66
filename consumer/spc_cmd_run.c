/*
 * spc_cmd_run.c -- `spcstream run`, the streaming daemon (see spc_run.c).
 */
#include "spc_cli.h"

#include <stdio.h>

int spc_cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "spcstream run: not built yet\n");
    return SPC_EXIT_RUNTIME;
}
