/*
 * spc_cmd_config.c -- `spcstream config`: validate a config file or print
 * the effective defaults.
 */
#include "spc_cli.h"

#include "spc_config.h"
#include "spc_incident.h"
#include "spc_llm.h"

#include <stdio.h>
#include <string.h>

static void help(void)
{
    printf("Usage: spcstream config --check FILE | --defaults\n"
           "\n"
           "  --check FILE   parse and validate FILE (engine and daemon "
           "sections);\n"
           "                 errors name the JSON path\n"
           "  --defaults     print the built-in engine defaults as JSON\n");
}

/* The sections parsed outside spc_config: incidents, llm, and the daemon's
 * (when built).  @returns 0 or -1 with the reason in @p err. */
static int check_sections(const struct spc_config *cfg, char *err, size_t n)
{
    struct spc_incident_opts io;
    struct spc_llm_opts lo;

    if (spc_incident_opts_from_json(spc_config_section(cfg, "incidents"), &io,
                                    err, n) != SPC_OK)
        return -1;
    if (spc_llm_opts_from_json(spc_config_section(cfg, "llm"), &lo, err, n) !=
        SPC_OK)
        return -1;
    spc_llm_opts_fini(&lo);
    return spc_daemon_config_check(cfg, err, n);
}

int spc_cmd_config(int argc, char **argv)
{
    char err[512];
    struct spc_config *cfg;
    struct spc_buf b;

    if (argc == 2 && !strcmp(argv[1], "--defaults")) {
        cfg = spc_config_new();
        if (!cfg)
            return SPC_EXIT_RUNTIME;
        spc_buf_init(&b);
        spc_config_dump_defaults(cfg, &b);
        if (spc_buf_ok(&b))
            printf("%s\n", b.data);
        spc_buf_fini(&b);
        spc_config_destroy(cfg);
        return SPC_EXIT_OK;
    }
    if (argc == 3 && !strcmp(argv[1], "--check")) {
        cfg = spc_config_load(argv[2], spc_config_daemon_sections, err,
                              sizeof(err));
        if (!cfg) {
            fprintf(stderr, "spcstream config: %s: %s\n", argv[2], err);
            return SPC_EXIT_USAGE;
        }
        if (check_sections(cfg, err, sizeof(err))) {
            fprintf(stderr, "spcstream config: %s: %s\n", argv[2], err);
            spc_config_destroy(cfg);
            return SPC_EXIT_USAGE;
        }
        printf("%s: ok\n", argv[2]);
        spc_config_destroy(cfg);
        return SPC_EXIT_OK;
    }
    if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
        help();
        return SPC_EXIT_OK;
    }
    help();
    return SPC_EXIT_USAGE;
}
