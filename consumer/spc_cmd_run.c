/*
 * spc_cmd_run.c -- `spcstream run`: the streaming daemon (DESIGN sections 2
 * and 6).  Parses options and the config, creates missing topics, starts
 * the requested stages, logs stats, serves metrics, and stops cleanly on
 * SIGTERM/SIGINT (stop polling, finish in-flight work, checkpoint, commit,
 * exit 0 within shutdown_timeout_ms; a second signal exits at once).
 */
#include "spc_cli.h"

#include "spc_log.h"
#include "spc_metrics.h"
#include "spc_run.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static struct spc_run *the_run;
static volatile sig_atomic_t signals_seen;

static void on_signal(int sig)
{
    (void)sig;
    if (++signals_seen > 1)
        _exit(SPC_EXIT_RUNTIME);
    if (the_run)
        atomic_store(&the_run->running, 0);
}

void spc_run_sleep(struct spc_run *r, long ms)
{
    while (ms > 0 && spc_running(r)) {
        long step = ms > 100 ? 100 : ms;
        struct timespec ts = {0, step * 1000000L};

        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static void help(void)
{
    printf(
        "Usage: spcstream run [options]\n"
        "\n"
        "The streaming daemon: wats.reports -> NORMALIZE -> spc.measurements "
        "->\nDETECT -> spc.anomalies -> INCIDENT -> spc.incidents, state "
        "checkpointed in Redis.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE        config (JSON): engine sections plus "
        "\"kafka\"\n"
        "                           (librdkafka properties), \"redis\", "
        "\"topics\", \"run\"\n"
        "  -s, --stages LIST        normalize,detect,incident or all "
        "(default all)\n"
        "  -b, --bootstrap SERVERS  Kafka bootstrap servers (also "
        "SPCSTREAM_BOOTSTRAP_SERVERS)\n"
        "  -g, --group NAME         consumer group prefix (default "
        "spcstream)\n"
        "  -i, --instance ID        this process's stable id (default the "
        "host name)\n"
        "      --redis HOST:PORT    Redis for checkpoints (overrides the "
        "config)\n"
        "      --metrics-port N     Prometheus text on 127.0.0.1:N/metrics\n"
        "      --format avro|json   encoding of spc.anomalies (default "
        "avro)\n"
        "      --incident-format avro|json\n"
        "                           encoding of spc.incidents (default "
        "json)\n"
        "  -v, --verbose            debug logging\n"
        "  -h, --help               this help\n"
        "\n"
        "Environment: SPCSTREAM_BOOTSTRAP_SERVERS, SPCSTREAM_KAFKA_<PROP> "
        "(e.g.\nSPCSTREAM_KAFKA_SASL_USERNAME=u sets sasl.username), "
        "SPCSTREAM_GROUP,\nSPCSTREAM_INSTANCE, SPCSTREAM_REDIS "
        "(host:port), SPCSTREAM_LLM_URL.\n"
        "Exit status: 0 after a clean stop, 1 on a fatal error, 2 on bad "
        "usage or config.\n");
}

struct args {
    const char *config, *stages, *bootstrap, *group, *instance, *redis, *format,
        *incident_format;
    int metrics_port, verbose;
};

static int parse_args(struct args *a, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"stages", required_argument, NULL, 's'},
        {"bootstrap", required_argument, NULL, 'b'},
        {"group", required_argument, NULL, 'g'},
        {"instance", required_argument, NULL, 'i'},
        {"redis", required_argument, NULL, 'R'},
        {"metrics-port", required_argument, NULL, 'M'},
        {"format", required_argument, NULL, 'F'},
        {"incident-format", required_argument, NULL, 'I'},
        {"verbose", no_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;

    memset(a, 0, sizeof(*a));
    a->metrics_port = -1;
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:s:b:g:i:vh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            a->config = optarg;
            break;
        case 's':
            a->stages = optarg;
            break;
        case 'b':
            a->bootstrap = optarg;
            break;
        case 'g':
            a->group = optarg;
            break;
        case 'i':
            a->instance = optarg;
            break;
        case 'R':
            a->redis = optarg;
            break;
        case 'M':
            a->metrics_port = atoi(optarg);
            break;
        case 'F':
            a->format = optarg;
            break;
        case 'I':
            a->incident_format = optarg;
            break;
        case 'v':
            a->verbose = 1;
            break;
        case 'h':
            help();
            return -1;
        default:
            fprintf(stderr, "Try 'spcstream run --help'.\n");
            return SPC_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "spcstream run: unexpected argument '%s'\n",
                argv[optind]);
        return SPC_EXIT_USAGE;
    }
    return 0;
}

static int parse_format(const char *s, enum spc_out_format *f)
{
    if (!strcmp(s, "json"))
        *f = SPC_OUT_JSON;
    else if (!strcmp(s, "avro"))
        *f = SPC_OUT_AVRO;
    else
        return -1;
    return 0;
}

/* Command line and SPCSTREAM_REDIS over the config. */
static int apply_args(struct spc_run *r, const struct args *a, char *redis_host,
                      size_t hostsz)
{
    const char *redis = a->redis ? a->redis : getenv("SPCSTREAM_REDIS");

    if (a->stages && !(r->o.stages = spc_stages_parse(a->stages))) {
        fprintf(stderr, "spcstream run: --stages: expected normalize, detect, "
                        "incident or all\n");
        return SPC_EXIT_USAGE;
    }
    if (a->bootstrap)
        json_object_set_new(r->o.kafka, "bootstrap.servers",
                            json_string(a->bootstrap));
    if (a->group) {
        free(r->o.group);
        r->o.group = spc_strdup(a->group);
    }
    if (a->instance) {
        free(r->o.instance);
        r->o.instance = spc_strdup(a->instance);
    }
    if (a->metrics_port >= 0)
        r->o.metrics_port = a->metrics_port;
    if ((a->format && parse_format(a->format, &r->o.format)) ||
        (a->incident_format &&
         parse_format(a->incident_format, &r->o.incident_format))) {
        fprintf(stderr, "spcstream run: --format, --incident-format: avro "
                        "or json\n");
        return SPC_EXIT_USAGE;
    }
    if (redis && *redis) {
        const char *colon = strrchr(redis, ':');

        snprintf(redis_host, hostsz, "%.*s",
                 (int)(colon ? colon - redis : (long)strlen(redis)), redis);
        r->redis.host = redis_host;
        if (colon)
            r->redis.port = atoi(colon + 1);
    }
    return 0;
}

static int load(struct spc_run *r, const struct args *a, char *redis_host,
                size_t hostsz)
{
    char err[512];
    const json_t *empty = NULL;
    int rc;

    r->cfg = a->config ? spc_config_load(a->config, spc_config_daemon_sections,
                                         err, sizeof(err))
                       : spc_config_new();
    if (!r->cfg) {
        fprintf(stderr, "spcstream run: config %s: %s\n", a->config, err);
        return SPC_EXIT_USAGE;
    }
    if (a->bootstrap) /* before opts_load checks it is set */
        setenv("SPCSTREAM_BOOTSTRAP_SERVERS", a->bootstrap, 1);
    if (spc_run_opts_load(&r->o, spc_config_section(r->cfg, "run"),
                          spc_config_section(r->cfg, "topics"),
                          spc_config_section(r->cfg, "kafka"), err,
                          sizeof(err))) {
        fprintf(stderr, "spcstream run: %s\n", err);
        return SPC_EXIT_USAGE;
    }
    if (spc_redis_opts_from_json(spc_config_section(r->cfg, "redis"), &r->redis,
                                 err, sizeof(err))) {
        fprintf(stderr, "spcstream run: %s\n", err);
        return SPC_EXIT_USAGE;
    }
    (void)empty;
    rc = apply_args(r, a, redis_host, hostsz);
    return rc;
}

int spc_daemon_config_check(const struct spc_config *cfg, char *errstr,
                            size_t errstr_size)
{
    struct spc_run_opts o;
    struct spc_redis_opts ro;
    int bad;

    memset(&o, 0, sizeof(o));
    memset(&ro, 0, sizeof(ro));
    /* the bootstrap servers may come from the environment at run time */
    if (!getenv("SPCSTREAM_BOOTSTRAP_SERVERS"))
        setenv("SPCSTREAM_BOOTSTRAP_SERVERS", "unset.invalid:9092", 0);
    bad = spc_run_opts_load(&o, spc_config_section(cfg, "run"),
                            spc_config_section(cfg, "topics"),
                            spc_config_section(cfg, "kafka"), errstr,
                            errstr_size) != SPC_OK ||
          spc_redis_opts_from_json(spc_config_section(cfg, "redis"), &ro,
                                   errstr, errstr_size) != SPC_OK;
    spc_run_opts_fini(&o); /* ro borrows from cfg */
    return bad ? -1 : 0;
}

static int ensure_topics(struct spc_run *r)
{
    char err[512];
    long backoff = 500;
    rd_kafka_t *admin;
    spc_err_t e = SPC_ERR_TRANSIENT;

    if (!r->o.create_topics)
        return 0;
    admin = spc_kafka_client(&r->o, SPC_ROLE_PRODUCER, NULL, NULL, NULL, err,
                             sizeof(err));
    if (!admin) {
        spc_log(SPC_LOG_ERROR, "%s", err);
        return -1;
    }
    while (spc_running(r)) {
        e = spc_kafka_ensure_topics(admin, &r->o, r->o.stages, err,
                                    sizeof(err));
        if (e != SPC_ERR_TRANSIENT)
            break;
        spc_log_limited(SPC_LOG_WARN, "topics",
                        "waiting for Kafka to create topics: %s", err);
        spc_run_sleep(r, backoff);
        backoff = SPC_MIN(backoff * 2, 5000);
    }
    if (e == SPC_ERR_FATAL)
        spc_log(SPC_LOG_ERROR, "%s", err);
    rd_kafka_destroy(admin);
    return e == SPC_OK ? 0 : -1;
}

int spc_cmd_run(int argc, char **argv)
{
    struct spc_run r;
    struct args a;
    struct spc_normalize *norm = NULL;
    struct spc_detect *det = NULL;
    struct spc_incident_stage *inc = NULL;
    struct spc_metrics_srv *srv = NULL;
    struct sigaction sa;
    char redis_host[256];
    int64_t last_stats;
    int rc;

    rc = parse_args(&a, argc, argv);
    if (rc)
        return rc < 0 ? SPC_EXIT_OK : rc;
    memset(&r, 0, sizeof(r));
    atomic_store(&r.running, 1);
    spc_log_set_level(a.verbose ? SPC_LOG_DEBUG : SPC_LOG_INFO);
    if ((rc = load(&r, &a, redis_host, sizeof(redis_host))))
        goto out;
    the_run = &r;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    spc_log(SPC_LOG_INFO, "starting: stages%s%s%s, group %s, instance %s",
            r.o.stages & SPC_STAGE_NORMALIZE ? " normalize" : "",
            r.o.stages & SPC_STAGE_DETECT ? " detect" : "",
            r.o.stages & SPC_STAGE_INCIDENT ? " incident" : "", r.o.group,
            r.o.instance);
    if (ensure_topics(&r)) {
        rc = spc_running(&r) ? SPC_EXIT_RUNTIME : SPC_EXIT_OK;
        goto out;
    }
    if (((r.o.stages & SPC_STAGE_NORMALIZE) &&
         !(norm = spc_normalize_start(&r))) ||
        ((r.o.stages & SPC_STAGE_DETECT) && !(det = spc_detect_start(&r))) ||
        ((r.o.stages & SPC_STAGE_INCIDENT) && !(inc = spc_incident_start(&r))))
        spc_run_stop(&r, 1);
    srv = spc_metrics_serve(&r, r.o.metrics_port);
    last_stats = spc_now_mono_ms();
    while (spc_running(&r)) {
        spc_run_sleep(&r, 200);
        if (r.o.stats_ms && spc_now_mono_ms() - last_stats >= r.o.stats_ms) {
            spc_metrics_log(&r);
            last_stats = spc_now_mono_ms();
        }
    }
    spc_log(SPC_LOG_INFO, "stopping: finishing in-flight work");
    if (norm)
        spc_normalize_join(norm);
    if (det)
        spc_detect_join(det);
    if (inc)
        spc_incident_join(inc);
    spc_metrics_stop(srv);
    spc_metrics_log(&r);
    rc = atomic_load(&r.failed) ? SPC_EXIT_RUNTIME : SPC_EXIT_OK;
    spc_log(SPC_LOG_INFO, "stopped (%s)", rc ? "after an error" : "clean");
out:
    the_run = NULL;
    spc_run_opts_fini(&r.o);
    spc_config_destroy(r.cfg);
    return rc;
}
