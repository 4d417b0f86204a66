/*
 * main.c -- the spcstream binary: dispatch to subcommands.
 */
#include "spc_cli.h"

#include <stdio.h>
#include <string.h>

#ifndef SPC_VERSION
#define SPC_VERSION "0.0.0"
#endif

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: spcstream <command> [options]\n"
            "\n"
            "Streaming statistical process control for electronics test "
            "data.\n"
            "\n"
            "Commands:\n"
            "  run       the streaming daemon: Kafka in, anomalies and "
            "incidents out,\n"
            "            state checkpointed in Redis\n"
            "  replay    run the same engine on a file of WSJF reports or "
            "flat events\n"
            "  action    acknowledge, resolve, annotate or re-baseline an "
            "incident\n"
            "  incidents show the incidents on spc.incidents (alerts, briefs)\n"
            "  config    check a config file or print the effective "
            "defaults\n"
            "  version   print the version\n"
            "\n"
            "Run 'spcstream <command> --help' for the options of a "
            "command.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return SPC_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
        !strcmp(argv[1], "help")) {
        usage(stdout);
        return SPC_EXIT_OK;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("spcstream %s\n", SPC_VERSION);
        return SPC_EXIT_OK;
    }
    if (!strcmp(argv[1], "replay"))
        return spc_cmd_replay(argc - 1, argv + 1);
    if (!strcmp(argv[1], "config"))
        return spc_cmd_config(argc - 1, argv + 1);
    if (!strcmp(argv[1], "run"))
        return spc_cmd_run(argc - 1, argv + 1);
    if (!strcmp(argv[1], "action"))
        return spc_cmd_action(argc - 1, argv + 1);
    if (!strcmp(argv[1], "incidents"))
        return spc_cmd_incidents(argc - 1, argv + 1);
    fprintf(stderr, "spcstream: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return SPC_EXIT_USAGE;
}
