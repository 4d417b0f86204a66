/*
 * spc_cmd_run_absent.c -- `spcstream run` in a build configured with
 * -DSPC_CONSUMER=OFF (no librdkafka, hiredis or avro-c on the machine):
 * the engine, replay and config work; the daemon is not part of the build.
 */
#include "spc_cli.h"

#include "spc_config.h"

#include <stdio.h>

int spc_cmd_run(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "spcstream run: this build has no streaming daemon "
                    "(configured with -DSPC_CONSUMER=OFF); rebuild with "
                    "librdkafka, hiredis and avro-c installed\n");
    return SPC_EXIT_RUNTIME;
}

int spc_cmd_action(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "spcstream action: this build has no Kafka client "
                    "(configured with -DSPC_CONSUMER=OFF)\n");
    return SPC_EXIT_RUNTIME;
}

int spc_cmd_incidents(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "spcstream incidents: this build has no Kafka client "
                    "(configured with -DSPC_CONSUMER=OFF)\n");
    return SPC_EXIT_RUNTIME;
}

int spc_daemon_config_check(const struct spc_config *cfg, char *errstr,
                            size_t errstr_size)
{
    (void)cfg;
    (void)errstr;
    (void)errstr_size;
    return 0; /* no daemon in this build: its sections are not checked */
}
