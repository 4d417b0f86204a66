/*
 * mock_cluster.c -- librdkafka's mock cluster as a process, for fault
 * injection a real broker cannot do on demand (request errors, leader
 * changes, a broker down).  The tests start it, read "BOOTSTRAP=..." from
 * its stdout and send it commands, one per line, on stdin:
 *
 *   topic NAME PARTITIONS REPLICATION   create a topic
 *   errors API COUNT ERR                 the next COUNT requests of API
 *                                        (Produce, Fetch, ...) fail with ERR
 *                                        (a librdkafka error name without
 *                                        the RD_KAFKA_RESP_ERR_ prefix)
 *   leader TOPIC PARTITION BROKER        move a partition's leader
 *   down BROKER | up BROKER              take a broker down / bring it back
 *   rtt BROKER MS                        add latency to a broker
 *   quit                                 (or EOF) destroy the cluster, exit
 *
 * Each command is answered with "ok" or "error: ..." on stdout.
 * Known limits of the 2.0.2 mock (tested on the real broker instead):
 * transactions are not enforced (aborted records are visible, transactional
 * offset commits are dropped) and a partition keeps about 5 MiB.
 */
#include <librdkafka/rdkafka.h>
#include <librdkafka/rdkafka_mock.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    int16_t key;
} apis[] = {
    {"Produce", 0},          {"Fetch", 1},           {"ListOffsets", 2},
    {"Metadata", 3},         {"OffsetCommit", 8},    {"OffsetFetch", 9},
    {"FindCoordinator", 10}, {"JoinGroup", 11},      {"Heartbeat", 12},
    {"SyncGroup", 14},       {"InitProducerId", 22}, {"AddPartitionsToTxn", 24},
    {"AddOffsetsToTxn", 25}, {"EndTxn", 26},         {"TxnOffsetCommit", 28}};

static int api_key(const char *name)
{
    size_t i;

    for (i = 0; i < sizeof(apis) / sizeof(apis[0]); i++)
        if (!strcmp(apis[i].name, name))
            return apis[i].key;
    return -1;
}

static int err_code(const char *name, rd_kafka_resp_err_t *out)
{
    const struct rd_kafka_err_desc *d;
    size_t n, i;

    rd_kafka_get_err_descs(&d, &n);
    for (i = 0; i < n; i++)
        if (d[i].name && !strcmp(d[i].name, name)) {
            *out = d[i].code;
            return 0;
        }
    return -1;
}

static const char *run(rd_kafka_mock_cluster_t *mc, char *line)
{
    char a[256], b[256], c[256];
    long x, y;
    int n = sscanf(line, "%255s %255s %255s", a, b, c);
    rd_kafka_resp_err_t e = RD_KAFKA_RESP_ERR_NO_ERROR;

    if (n >= 1 && !strcmp(line, "quit"))
        return NULL;
    if (sscanf(line, "topic %255s %ld %ld", a, &x, &y) == 3)
        e = rd_kafka_mock_topic_create(mc, a, (int)x, (int)y);
    else if (sscanf(line, "errors %255s %ld %255s", a, &x, b) == 3) {
        int k = api_key(a);
        rd_kafka_resp_err_t code;
        rd_kafka_resp_err_t *errs;
        long i;

        if (k < 0 || err_code(b, &code) || x < 1 || x > 1000)
            return "error: unknown API or error name, or bad count";
        errs = calloc((size_t)x, sizeof(*errs));
        if (!errs)
            return "error: out of memory";
        for (i = 0; i < x; i++)
            errs[i] = code;
        rd_kafka_mock_push_request_errors_array(mc, (int16_t)k, (size_t)x,
                                                errs);
        free(errs);
    } else if (sscanf(line, "leader %255s %ld %ld", a, &x, &y) == 3)
        e = rd_kafka_mock_partition_set_leader(mc, a, (int32_t)x, (int32_t)y);
    else if (sscanf(line, "down %ld", &x) == 1)
        e = rd_kafka_mock_broker_set_down(mc, (int32_t)x);
    else if (sscanf(line, "up %ld", &x) == 1)
        e = rd_kafka_mock_broker_set_up(mc, (int32_t)x);
    else if (sscanf(line, "rtt %ld %ld", &x, &y) == 2)
        e = rd_kafka_mock_broker_set_rtt(mc, (int32_t)x, (int)y);
    else
        return "error: unknown command";
    return e ? rd_kafka_err2str(e) : "ok";
}

int main(int argc, char **argv)
{
    int brokers = argc > 1 ? atoi(argv[1]) : 3;
    char errstr[512], line[1024];
    rd_kafka_conf_t *conf = rd_kafka_conf_new();
    rd_kafka_t *rk;
    rd_kafka_mock_cluster_t *mc;

    rd_kafka_conf_set(conf, "log_level", "3", errstr, sizeof(errstr));
    rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, errstr, sizeof(errstr));
    if (!rk) {
        fprintf(stderr, "mock_cluster: %s\n", errstr);
        return 1;
    }
    mc = rd_kafka_mock_cluster_new(rk, brokers < 1 ? 1 : brokers);
    if (!mc) {
        fprintf(stderr, "mock_cluster: could not create the cluster\n");
        rd_kafka_destroy(rk);
        return 1;
    }
    printf("BOOTSTRAP=%s\n", rd_kafka_mock_cluster_bootstraps(mc));
    fflush(stdout);
    while (fgets(line, sizeof(line), stdin)) {
        const char *r;

        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        r = run(mc, line);
        if (!r)
            break;
        printf("%s\n", r);
        fflush(stdout);
    }
    rd_kafka_mock_cluster_destroy(mc);
    rd_kafka_destroy(rk);
    return 0;
}
