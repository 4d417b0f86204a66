/*
 * spc_cmd_incidents.c -- `spcstream incidents`: show what is on
 * spc.incidents for people: a one-line alert whenever an incident opens or
 * changes in a way an operator cares about (severity, state, title, LLM
 * advice), then on request the Markdown brief of every incident still open
 * and a summary.
 *
 * DATA FLOW: spc.incidents record (JSON) -> json_t -> struct spc_incident
 *   (spc_incident_from_json) -> spc_incident_render_line/_brief -> stdout.
 * OWNERSHIP: the latest JSON of each incident is held (json_t reference)
 *   until the end, for the briefs and the summary.
 * FAILURE MODES: Avro-encoded incidents (run --incident-format avro) and
 *   records that are not incidents are counted and reported once; the
 *   broker not answering is fatal after librdkafka's own retries (exit 1).
 */
#include "spc_cli.h"

#include "spc_config.h"
#include "spc_incident.h"
#include "spc_kafka.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
    (void)sig;
    g_stop = 1;
}

static void help(void)
{
    printf(
        "Usage: spcstream incidents [options]\n"
        "\n"
        "Show the incidents on spc.incidents: a one-line alert when one opens "
        "or\n"
        "changes severity, state, title or advice; with --brief the Markdown "
        "brief\n"
        "of every incident not resolved, and a summary, at the end.\n"
        "\n"
        "Options:\n"
        "  -f, --follow             keep reading new revisions until "
        "SIGINT/SIGTERM\n"
        "                           (default: read what is there and stop)\n"
        "      --brief              briefs of the incidents not resolved, and "
        "a summary\n"
        "      --all-revisions      a line for every revision, not only "
        "changes\n"
        "      --station NAME       only incidents at station NAME (or the "
        "whole fleet)\n"
        "  -c, --config FILE        config with \"kafka\" and \"topics\" "
        "sections\n"
        "  -b, --bootstrap SERVERS  Kafka bootstrap servers (also "
        "SPCSTREAM_BOOTSTRAP_SERVERS)\n"
        "  -h, --help               this help\n"
        "\n"
        "Needs spc.incidents in JSON (the default of spcstream run).\n"
        "Exit status: 0 success, 1 Kafka failure, 2 bad usage.\n");
}

/* What an operator sees of one incident; a line is printed when it
 * changes. */
struct seen {
    char id[33];
    json_t *last; /* latest revision (owned reference) */
    char sig[512];
};

struct viewer {
    struct seen *v;
    size_t n, cap;
    int all_revisions;
    const char *station;
    unsigned long records, avro, bad;
};

static struct seen *seen_get(struct viewer *w, const char *id)
{
    size_t i;
    struct seen *s;

    for (i = 0; i < w->n; i++)
        if (!strcmp(w->v[i].id, id))
            return &w->v[i];
    if (w->n == w->cap) {
        size_t cap = w->cap ? 2 * w->cap : 64;
        struct seen *nv = realloc(w->v, cap * sizeof(*nv));

        if (!nv)
            return NULL;
        w->v = nv;
        w->cap = cap;
    }
    s = &w->v[w->n++];
    memset(s, 0, sizeof(*s));
    snprintf(s->id, sizeof(s->id), "%s", id);
    return s;
}

static int wanted(const struct viewer *w, const struct spc_incident *inc)
{
    if (!w->station)
        return 1;
    if (inc->station && !strcmp(inc->station, w->station))
        return 1;
    return inc->scope_dim && !strcmp(inc->scope_dim, "fleet");
}

static void show(struct viewer *w, const void *val, size_t len)
{
    json_error_t jerr;
    json_t *o;
    struct spc_incident inc;
    struct seen *s;
    struct spc_buf b;
    char sig[512], err[256];

    w->records++;
    if (len && ((const unsigned char *)val)[0] != '{') {
        if (w->avro++ == 0)
            fprintf(stderr, "spcstream incidents: skipping records that are "
                            "not JSON (Avro? run with --incident-format "
                            "json)\n");
        return;
    }
    o = json_loadb(val, len, 0, &jerr);
    if (!o || spc_incident_from_json(o, &inc, err, sizeof(err))) {
        if (w->bad++ == 0)
            fprintf(stderr, "spcstream incidents: skipping a record: %s\n",
                    o ? err : jerr.text);
        json_decref(o);
        return;
    }
    s = wanted(w, &inc) ? seen_get(w, inc.id) : NULL;
    if (s) {
        snprintf(sig, sizeof(sig), "%s|%s|%s|%s", inc.title ? inc.title : "",
                 spc_severity_name(inc.severity), spc_inc_state_name(inc.state),
                 inc.llm.source ? inc.llm.source : "rules");
        json_decref(s->last);
        s->last = o;
        o = NULL;
        if (w->all_revisions || strcmp(sig, s->sig)) {
            snprintf(s->sig, sizeof(s->sig), "%s", sig);
            spc_buf_init(&b);
            spc_incident_render_line(&inc, &b);
            fwrite(b.data, 1, b.len, stdout);
            if (!b.len || b.data[b.len - 1] != '\n')
                fputc('\n', stdout);
            fflush(stdout);
            spc_buf_fini(&b);
        }
    }
    json_decref(o);
    spc_incident_fini(&inc);
}

/* Briefs of the incidents not resolved (merged ones are resolved), then
 * counts by state and severity. */
static void summary(const struct viewer *w)
{
    unsigned by_state[3] = {0}, by_sev[3] = {0}, merged = 0;
    struct spc_incident inc;
    struct spc_buf b;
    size_t i;
    char err[256];

    for (i = 0; i < w->n; i++) {
        if (spc_incident_from_json(w->v[i].last, &inc, err, sizeof(err)))
            continue;
        if (inc.merged_into[0])
            merged++;
        else
            by_state[inc.state]++;
        if (!inc.merged_into[0] && inc.state != SPC_INC_RESOLVED) {
            by_sev[inc.severity]++;
            spc_buf_init(&b);
            spc_incident_render_brief(&inc, &b);
            printf("\n");
            fwrite(b.data, 1, b.len, stdout);
            spc_buf_fini(&b);
        }
        spc_incident_fini(&inc);
    }
    printf("\n%zu incidents: %u open, %u acknowledged, %u resolved, %u merged "
           "into others; not resolved by severity: %u critical, %u warning, "
           "%u info\n",
           w->n, by_state[SPC_INC_OPEN], by_state[SPC_INC_ACKNOWLEDGED],
           by_state[SPC_INC_RESOLVED], merged, by_sev[SPC_SEV_CRITICAL],
           by_sev[SPC_SEV_WARNING], by_sev[SPC_SEV_INFO]);
}

/* Assign every partition of the topic from its beginning. */
static int assign_all(rd_kafka_t *rk, const char *topic, int32_t *nparts)
{
    rd_kafka_topic_partition_list_t *l;
    rd_kafka_resp_err_t e;
    int32_t n = spc_kafka_partition_count(rk, topic, 10000), p;

    if (n <= 0) {
        fprintf(stderr,
                "spcstream incidents: topic %s not found (is "
                "spcstream run up?)\n",
                topic);
        return -1;
    }
    l = rd_kafka_topic_partition_list_new(n);
    for (p = 0; p < n; p++)
        rd_kafka_topic_partition_list_add(l, topic, p)->offset =
            RD_KAFKA_OFFSET_BEGINNING;
    e = rd_kafka_assign(rk, l);
    rd_kafka_topic_partition_list_destroy(l);
    if (e) {
        fprintf(stderr, "spcstream incidents: assign: %s\n",
                rd_kafka_err2str(e));
        return -1;
    }
    *nparts = n;
    return 0;
}

static int consume(rd_kafka_t *rk, struct viewer *w, int follow, int32_t nparts)
{
    int32_t eofs = 0;
    rd_kafka_message_t *m;

    while (!g_stop && (follow || eofs < nparts)) {
        m = rd_kafka_consumer_poll(rk, 200);
        if (!m)
            continue;
        if (m->err == RD_KAFKA_RESP_ERR__PARTITION_EOF) {
            eofs++;
        } else if (m->err) {
            fprintf(stderr, "spcstream incidents: %s\n",
                    rd_kafka_message_errstr(m));
            if (!spc_kafka_err_transient(m->err)) {
                rd_kafka_message_destroy(m);
                return -1;
            }
        } else if (m->payload) {
            show(w, m->payload, m->len);
        }
        rd_kafka_message_destroy(m);
    }
    return 0;
}

int spc_cmd_incidents(int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'},
        {"brief", no_argument, NULL, 'B'},
        {"all-revisions", no_argument, NULL, 'A'},
        {"station", required_argument, NULL, 'S'},
        {"config", required_argument, NULL, 'c'},
        {"bootstrap", required_argument, NULL, 'b'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    const char *config = NULL;
    struct spc_config *cfg = NULL;
    struct spc_run_opts o;
    struct viewer w;
    rd_kafka_t *rk = NULL;
    rd_kafka_conf_t *conf;
    char err[512], group[64];
    int c, follow = 0, brief = 0, rc = SPC_EXIT_USAGE;
    int32_t nparts = 0;
    size_t i;

    memset(&o, 0, sizeof(o));
    memset(&w, 0, sizeof(w));
    optind = 1;
    while ((c = getopt_long(argc, argv, "fc:b:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f':
            follow = 1;
            break;
        case 'B':
            brief = 1;
            break;
        case 'A':
            w.all_revisions = 1;
            break;
        case 'S':
            w.station = optarg;
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
            fprintf(stderr, "Try 'spcstream incidents --help'.\n");
            return SPC_EXIT_USAGE;
        }
    }
    if (optind != argc) {
        fprintf(stderr, "spcstream incidents: unexpected argument '%s'\n",
                argv[optind]);
        return SPC_EXIT_USAGE;
    }
    if (spc_run_opts_from_file(config, &cfg, &o, err, sizeof(err))) {
        fprintf(stderr, "spcstream incidents: %s\n", err);
        return SPC_EXIT_USAGE;
    }
    rc = SPC_EXIT_RUNTIME;
    conf = rd_kafka_conf_new();
    if (rd_kafka_conf_set(conf, "enable.partition.eof", "true", err,
                          sizeof(err)) != RD_KAFKA_CONF_OK) {
        rd_kafka_conf_destroy(conf);
        fprintf(stderr, "spcstream incidents: %s\n", err);
        goto out;
    }
    /* partitions are assigned, not subscribed: the group is never joined
     * and nothing is committed */
    snprintf(group, sizeof(group), "%s-incidents-viewer", o.group);
    rk = spc_kafka_client(&o, SPC_ROLE_CONSUMER, group, NULL, conf, err,
                          sizeof(err));
    if (!rk) {
        fprintf(stderr, "spcstream incidents: %s\n", err);
        goto out;
    }
    if (assign_all(rk, o.topics.incidents, &nparts))
        goto out;
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    if (consume(rk, &w, follow, nparts))
        goto out;
    if (brief)
        summary(&w);
    if (w.avro || w.bad)
        fprintf(stderr,
                "spcstream incidents: %lu records, %lu not JSON, "
                "%lu not incidents\n",
                w.records, w.avro, w.bad);
    rc = SPC_EXIT_OK;
out:
    if (rk) {
        rd_kafka_consumer_close(rk);
        rd_kafka_destroy(rk);
    }
    for (i = 0; i < w.n; i++)
        json_decref(w.v[i].last);
    free(w.v);
    spc_run_opts_fini(&o);
    spc_config_destroy(cfg);
    return rc;
}
