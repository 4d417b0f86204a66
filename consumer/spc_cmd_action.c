/*
 * spc_cmd_action.c -- `spcstream action`: an operator action on an incident
 * (ack, resolve, note, re-baseline) published to spc.incident-actions, keyed
 * by the incident's test plan so that it reaches the INCIDENT stage that
 * owns the incident (the actions topic is co-partitioned with
 * spc.anomalies).
 */
#include "spc_cli.h"

#include "spc_config.h"
#include "spc_kafka.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void help(void)
{
    printf(
        "Usage: spcstream action ack|resolve|note|rebaseline --incident ID "
        "--plan TEST_PLAN\n"
        "                        [--user NAME] [--note TEXT] [options]\n"
        "\n"
        "Publish an operator action on an incident to spc.incident-actions.\n"
        "  ack         acknowledge: someone is on it\n"
        "  resolve     the problem is fixed\n"
        "  note        attach a note (--note)\n"
        "  rebaseline  the process has a new normal: reset the baselines of "
        "the\n"
        "              incident's steps (DETECT learns them again)\n"
        "\n"
        "Options:\n"
        "      --incident ID        incident id (32 hex digits, from "
        "spc.incidents)\n"
        "      --plan TEST_PLAN     the incident's test_plan (routes the "
        "action)\n"
        "      --user NAME          who (default $USER)\n"
        "      --note TEXT          note text\n"
        "  -c, --config FILE        config with \"kafka\" and \"topics\" "
        "sections\n"
        "  -b, --bootstrap SERVERS  Kafka bootstrap servers (also "
        "SPCSTREAM_BOOTSTRAP_SERVERS)\n"
        "  -h, --help               this help\n"
        "\n"
        "Exit status: 0 delivered, 1 not delivered, 2 bad usage.\n");
}

static int is_hex32(const char *s)
{
    size_t i;

    if (!s || strlen(s) != 32)
        return 0;
    for (i = 0; i < 32; i++)
        if (!strchr("0123456789abcdef", s[i]))
            return 0;
    return 1;
}

int spc_cmd_action(int argc, char **argv)
{
    static const struct option opts[] = {
        {"incident", required_argument, NULL, 'I'},
        {"plan", required_argument, NULL, 'P'},
        {"user", required_argument, NULL, 'U'},
        {"note", required_argument, NULL, 'N'},
        {"config", required_argument, NULL, 'c'},
        {"bootstrap", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    static const char *const kinds[] = {"ack", "resolve", "note", "rebaseline"};
    const char *incident = NULL, *plan = NULL, *user = getenv("USER"),
               *note = NULL, *config = NULL, *kind;
    struct spc_config *cfg = NULL;
    struct spc_run_opts o;
    rd_kafka_t *rk = NULL;
    json_t *msg = NULL;
    char err[512], ts[40], *val = NULL;
    int c, rc = SPC_EXIT_USAGE;
    size_t i;
    rd_kafka_resp_err_t e;

    memset(&o, 0, sizeof(o));
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:b:h", opts, NULL)) != -1) {
        switch (c) {
        case 'I':
            incident = optarg;
            break;
        case 'P':
            plan = optarg;
            break;
        case 'U':
            user = optarg;
            break;
        case 'N':
            note = optarg;
            break;
        case 'c':
            config = optarg;
            break;
        case 'b':
            setenv("SPCSTREAM_BOOTSTRAP_SERVERS", optarg, 1);
            break;
        case 'h':
            help();
            return SPC_EXIT_OK;
        default:
            fprintf(stderr, "Try 'spcstream action --help'.\n");
            return SPC_EXIT_USAGE;
        }
    }
    kind = optind < argc ? argv[optind] : NULL;
    for (i = 0; kind && i < SPC_ARRAY_SIZE(kinds); i++)
        if (!strcmp(kind, kinds[i]))
            break;
    if (!kind || i == SPC_ARRAY_SIZE(kinds) || optind + 1 != argc) {
        fprintf(stderr, "spcstream action: expected one of ack, resolve, "
                        "note, rebaseline\n");
        return SPC_EXIT_USAGE;
    }
    if (!is_hex32(incident) || !plan || !*plan) {
        fprintf(stderr, "spcstream action: --incident (32 lowercase hex "
                        "digits) and --plan are required\n");
        return SPC_EXIT_USAGE;
    }
    if (!strcmp(kind, "note") && !note) {
        fprintf(stderr, "spcstream action: note needs --note TEXT\n");
        return SPC_EXIT_USAGE;
    }
    if (spc_run_opts_from_file(config, &cfg, &o, err, sizeof(err))) {
        fprintf(stderr, "spcstream action: %s\n", err);
        return SPC_EXIT_USAGE;
    }
    {
        struct timespec now;

        clock_gettime(CLOCK_REALTIME, &now); /* when the operator acted */
        spc_time_format((int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, ts,
                        sizeof(ts));
    }
    msg = json_pack("{s:s,s:s,s:s,s:s*,s:s*,s:s}", "action", kind,
                    "incident_id", incident, "test_plan", plan, "user", user,
                    "note", note, "timestamp", ts);
    val = msg ? json_dumps(msg, JSON_COMPACT) : NULL;
    rc = SPC_EXIT_RUNTIME;
    if (!val)
        goto out;
    rk = spc_kafka_client(&o, SPC_ROLE_PRODUCER, NULL, NULL, NULL, err,
                          sizeof(err));
    if (!rk) {
        fprintf(stderr, "spcstream action: %s\n", err);
        goto out;
    }
    /* default partitioner on the key = murmur2(test_plan), like the
     * anomalies of that plan */
    e = rd_kafka_producev(
        rk, RD_KAFKA_V_TOPIC(o.topics.actions),
        RD_KAFKA_V_KEY(plan, strlen(plan)), RD_KAFKA_V_VALUE(val, strlen(val)),
        RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_END);
    if (!e)
        e = rd_kafka_flush(rk, 15000);
    if (e) {
        fprintf(stderr, "spcstream action: not delivered to %s: %s\n",
                o.topics.actions, rd_kafka_err2str(e));
        goto out;
    }
    printf("%s %s (%s) sent to %s\n", kind, incident, plan, o.topics.actions);
    rc = SPC_EXIT_OK;
out:
    if (rk)
        rd_kafka_destroy(rk);
    free(val);
    json_decref(msg);
    spc_run_opts_fini(&o);
    spc_config_destroy(cfg);
    return rc;
}
