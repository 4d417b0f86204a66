/*
 * spc_kafka.c -- options, librdkafka configuration and clients, topics,
 * partitioner, dead-letter queue.  The only file of the daemon that talks
 * to librdkafka's configuration and admin API.
 *
 * FAILURE MODES: bad properties and bad options are reported with their
 *   name (exit 2 by the caller); an unreachable broker during topic creation
 *   is SPC_ERR_TRANSIENT (the caller retries with backoff).
 * REFERENCES: librdkafka CONFIGURATION.md; Kafka's default partitioner
 *   (murmur2 of the key, masked positive, modulo the partition count).
 */
#define _DEFAULT_SOURCE /* gethostname */
#include "spc_kafka.h"
#include "spc_config.h"
#include "spc_log.h"

#include <stdint.h>
#include <stdlib.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

static spc_err_t oerr(char *errstr, size_t n, const char *fmt, ...)
    SPC_PRINTF(3, 4);

static spc_err_t oerr(char *errstr, size_t n, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    if (errstr && n)
        vsnprintf(errstr, n, fmt, ap);
    va_end(ap);
    return SPC_ERR_INVALID;
}

unsigned spc_stages_parse(const char *s)
{
    unsigned m = 0;
    char buf[128], *tok, *save = NULL;

    if (!s || strlen(s) >= sizeof(buf))
        return 0;
    strcpy(buf, s);
    for (tok = strtok_r(buf, ", ", &save); tok;
         tok = strtok_r(NULL, ", ", &save)) {
        if (!strcmp(tok, "all"))
            m |= SPC_STAGE_ALL;
        else if (!strcmp(tok, "normalize"))
            m |= SPC_STAGE_NORMALIZE;
        else if (!strcmp(tok, "detect"))
            m |= SPC_STAGE_DETECT;
        else if (!strcmp(tok, "incident") || !strcmp(tok, "incidents"))
            m |= SPC_STAGE_INCIDENT;
        else
            return 0;
    }
    return m;
}

static void defaults(struct spc_run_opts *o)
{
    char host[128] = "spcstream";

    memset(o, 0, sizeof(*o));
    o->stages = SPC_STAGE_ALL;
    o->group = spc_strdup("spcstream");
    if (gethostname(host, sizeof(host) - 1) != 0)
        strcpy(host, "spcstream");
    host[sizeof(host) - 1] = '\0';
    o->instance = spc_strdup(host);
    o->workers = 2;
    o->checkpoint_ms = 5000;
    o->checkpoint_events = 50000;
    o->stats_ms = 10000;
    o->shutdown_ms = 20000;
    o->format = SPC_OUT_AVRO;
    o->incident_format = SPC_OUT_JSON;
    o->create_topics = 1;
    o->topics.reports = spc_strdup("wats.reports");
    o->topics.measurements = spc_strdup("spc.measurements");
    o->topics.anomalies = spc_strdup("spc.anomalies");
    o->topics.incidents = spc_strdup("spc.incidents");
    o->topics.actions = spc_strdup("spc.incident-actions");
    o->topics.dlq = spc_strdup("spc.dlq");
    o->topics.measurements_partitions = 6;
    o->topics.anomalies_partitions = 3;
    o->topics.other_partitions = 3;
    o->topics.replication = 1;
    o->kafka = json_object();
}

void spc_run_opts_fini(struct spc_run_opts *o)
{
    free(o->group);
    free(o->instance);
    free(o->topics.reports);
    free(o->topics.measurements);
    free(o->topics.anomalies);
    free(o->topics.incidents);
    free(o->topics.actions);
    free(o->topics.dlq);
    free(o->registry_url);
    free(o->registry_user);
    free(o->registry_password);
    json_decref(o->kafka);
    memset(o, 0, sizeof(*o));
}

static spc_err_t set_str(char **dst, const json_t *v, const char *path,
                         char *errstr, size_t n)
{
    const char *s = json_string_value(v);

    if (!s || !*s)
        return oerr(errstr, n, "%s: expected a non-empty string", path);
    free(*dst);
    *dst = spc_strdup(s);
    return *dst ? SPC_OK : SPC_ERR_NOMEM;
}

static spc_err_t set_long(long *dst, const json_t *v, long lo, long hi,
                          const char *path, char *errstr, size_t n)
{
    json_int_t x;

    if (!json_is_integer(v))
        return oerr(errstr, n, "%s: expected an integer", path);
    x = json_integer_value(v);
    if (x < lo || x > hi)
        return oerr(errstr, n, "%s: must be in [%ld, %ld] (got %lld)", path, lo,
                    hi, (long long)x);
    *dst = (long)x;
    return SPC_OK;
}

static spc_err_t parse_registry(struct spc_run_opts *o, const json_t *r,
                                char *errstr, size_t n)
{
    const char *key, *env;
    json_t *v;
    spc_err_t err;

    if (!json_is_object(r))
        return oerr(errstr, n, "run.schema_registry: expected an object");
    json_object_foreach((json_t *)r, key, v)
    {
        if (!strcmp(key, "url"))
            err = set_str(&o->registry_url, v, "run.schema_registry.url",
                          errstr, n);
        else if (!strcmp(key, "user"))
            err = set_str(&o->registry_user, v, "run.schema_registry.user",
                          errstr, n);
        else if (!strcmp(key, "password_env")) {
            env = json_string_value(v) ? getenv(json_string_value(v)) : NULL;
            if (!json_string_value(v))
                return oerr(errstr, n,
                            "run.schema_registry.password_env: expected the "
                            "name of an environment variable");
            free(o->registry_password);
            o->registry_password = env ? spc_strdup(env) : NULL;
            err = SPC_OK;
        } else
            return oerr(errstr, n,
                        "run.schema_registry.%s: unknown key (expected url, "
                        "user, password_env)",
                        key);
        if (err)
            return err;
    }
    return SPC_OK;
}

static spc_err_t parse_run(struct spc_run_opts *o, const json_t *run,
                           char *errstr, size_t n)
{
    const char *key;
    json_t *v;
    long x = 0;
    spc_err_t err = SPC_OK;

    if (!json_is_object(run))
        return oerr(errstr, n, "run: expected an object");
    json_object_foreach((json_t *)run, key, v)
    {
        char path[96];

        snprintf(path, sizeof(path), "run.%s", key);
        if (!strcmp(key, "group"))
            err = set_str(&o->group, v, path, errstr, n);
        else if (!strcmp(key, "instance"))
            err = set_str(&o->instance, v, path, errstr, n);
        else if (!strcmp(key, "stages")) {
            o->stages = spc_stages_parse(json_string_value(v));
            if (!o->stages)
                return oerr(errstr, n,
                            "%s: expected a list like \"normalize,detect,"
                            "incident\" or \"all\"",
                            path);
        } else if (!strcmp(key, "workers")) {
            if (!(err = set_long(&x, v, 1, 64, path, errstr, n)))
                o->workers = (int)x;
        } else if (!strcmp(key, "checkpoint_interval_ms"))
            err = set_long(&o->checkpoint_ms, v, 100, 3600000, path, errstr, n);
        else if (!strcmp(key, "checkpoint_events"))
            err = set_long(&o->checkpoint_events, v, 1, 100000000, path, errstr,
                           n);
        else if (!strcmp(key, "stats_interval_ms"))
            err = set_long(&o->stats_ms, v, 0, 3600000, path, errstr, n);
        else if (!strcmp(key, "shutdown_timeout_ms"))
            err = set_long(&o->shutdown_ms, v, 1000, 600000, path, errstr, n);
        else if (!strcmp(key, "metrics_port")) {
            if (!(err = set_long(&x, v, 0, 65535, path, errstr, n)))
                o->metrics_port = (int)x;
        } else if (!strcmp(key, "output_format") ||
                   !strcmp(key, "incident_format")) {
            const char *s = json_string_value(v);
            enum spc_out_format *f = !strcmp(key, "output_format")
                                         ? &o->format
                                         : &o->incident_format;

            if (s && !strcmp(s, "avro"))
                *f = SPC_OUT_AVRO;
            else if (s && !strcmp(s, "json"))
                *f = SPC_OUT_JSON;
            else
                return oerr(errstr, n, "%s: expected \"avro\" or \"json\"",
                            path);
        } else if (!strcmp(key, "create_topics")) {
            if (!json_is_boolean(v))
                return oerr(errstr, n, "%s: expected true or false", path);
            o->create_topics = json_is_true(v);
        } else if (!strcmp(key, "schema_registry"))
            err = parse_registry(o, v, errstr, n);
        else
            return oerr(errstr, n, "%s: unknown key", path);
        if (err)
            return err;
    }
    return SPC_OK;
}

static spc_err_t parse_topics(struct spc_run_opts *o, const json_t *t,
                              char *errstr, size_t n)
{
    static const char *const names[] = {
        "reports", "measurements", "anomalies", "incidents", "actions", "dlq"};
    char **dst[6];
    const char *key;
    json_t *v;
    size_t i;
    long x = 0;
    spc_err_t err;

    dst[0] = &o->topics.reports;
    dst[1] = &o->topics.measurements;
    dst[2] = &o->topics.anomalies;
    dst[3] = &o->topics.incidents;
    dst[4] = &o->topics.actions;
    dst[5] = &o->topics.dlq;
    if (!json_is_object(t))
        return oerr(errstr, n, "topics: expected an object");
    json_object_foreach((json_t *)t, key, v)
    {
        char path[96];

        snprintf(path, sizeof(path), "topics.%s", key);
        for (i = 0; i < 6; i++)
            if (!strcmp(key, names[i]))
                break;
        if (i < 6)
            err = set_str(dst[i], v, path, errstr, n);
        else if (!strcmp(key, "measurements_partitions")) {
            if (!(err = set_long(&x, v, 1, 10000, path, errstr, n)))
                o->topics.measurements_partitions = (int32_t)x;
        } else if (!strcmp(key, "anomalies_partitions")) {
            if (!(err = set_long(&x, v, 1, 10000, path, errstr, n)))
                o->topics.anomalies_partitions = (int32_t)x;
        } else if (!strcmp(key, "partitions")) {
            if (!(err = set_long(&x, v, 1, 10000, path, errstr, n)))
                o->topics.other_partitions = (int32_t)x;
        } else if (!strcmp(key, "replication_factor")) {
            if (!(err = set_long(&x, v, 1, 32, path, errstr, n)))
                o->topics.replication = (int16_t)x;
        } else
            return oerr(errstr, n,
                        "%s: unknown key (expected reports, measurements, "
                        "anomalies, incidents, actions, dlq, "
                        "measurements_partitions, anomalies_partitions, "
                        "partitions, replication_factor)",
                        path);
        if (err)
            return err;
    }
    return SPC_OK;
}

/* kafka: {"<librdkafka property>": string | number | boolean} */
static spc_err_t parse_kafka(struct spc_run_opts *o, const json_t *k,
                             char *errstr, size_t n)
{
    const char *key;
    json_t *v;

    if (!json_is_object(k))
        return oerr(errstr, n,
                    "kafka: expected an object of librdkafka "
                    "properties");
    json_object_foreach((json_t *)k, key, v)
    {
        char num[64];
        json_t *s;

        if (json_is_string(v))
            s = json_string(json_string_value(v));
        else if (json_is_integer(v)) {
            snprintf(num, sizeof(num), "%lld",
                     (long long)json_integer_value(v));
            s = json_string(num);
        } else if (json_is_boolean(v))
            s = json_string(json_is_true(v) ? "true" : "false");
        else
            return oerr(errstr, n,
                        "kafka.%s: expected a string, integer or boolean", key);
        if (!s || json_object_set_new(o->kafka, key, s))
            return SPC_ERR_NOMEM;
    }
    return SPC_OK;
}

/* SPCSTREAM_KAFKA_SASL_USERNAME=x -> "sasl.username" = x */
static spc_err_t apply_env(struct spc_run_opts *o)
{
    char **e, prop[128];
    const char *v;
    size_t i;

    if ((v = getenv("SPCSTREAM_BOOTSTRAP_SERVERS")) && *v &&
        json_object_set_new(o->kafka, "bootstrap.servers", json_string(v)))
        return SPC_ERR_NOMEM;
    if ((v = getenv("SPCSTREAM_GROUP")) && *v) {
        free(o->group);
        o->group = spc_strdup(v);
    }
    if ((v = getenv("SPCSTREAM_INSTANCE")) && *v) {
        free(o->instance);
        o->instance = spc_strdup(v);
    }
    for (e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '='), *name = *e + 16;

        if (strncmp(*e, "SPCSTREAM_KAFKA_", 16) != 0 || !eq ||
            (size_t)(eq - name) >= sizeof(prop) || eq == name)
            continue;
        for (i = 0; name + i < eq; i++)
            prop[i] =
                name[i] == '_' ? '.' : (char)tolower((unsigned char)name[i]);
        prop[i] = '\0';
        if (json_object_set_new(o->kafka, prop, json_string(eq + 1)))
            return SPC_ERR_NOMEM;
    }
    return o->group && o->instance ? SPC_OK : SPC_ERR_NOMEM;
}

spc_err_t spc_run_opts_load(struct spc_run_opts *o, const json_t *run,
                            const json_t *topics, const json_t *kafka,
                            char *errstr, size_t errstr_size)
{
    spc_err_t err;

    defaults(o);
    if (!o->group || !o->instance || !o->kafka || !o->topics.dlq)
        return SPC_ERR_NOMEM;
    if (run && (err = parse_run(o, run, errstr, errstr_size)))
        return err;
    if (topics && (err = parse_topics(o, topics, errstr, errstr_size)))
        return err;
    if (kafka && (err = parse_kafka(o, kafka, errstr, errstr_size)))
        return err;
    if ((err = apply_env(o)))
        return err;
    if (!json_object_get(o->kafka, "bootstrap.servers"))
        return oerr(errstr, errstr_size,
                    "kafka.bootstrap.servers: missing (set it in the config "
                    "or SPCSTREAM_BOOTSTRAP_SERVERS)");
    return SPC_OK;
}

static int conf_set(rd_kafka_conf_t *conf, const char *k, const char *v,
                    char *errstr, size_t n)
{
    char why[256];

    if (rd_kafka_conf_set(conf, k, v, why, sizeof(why)) != RD_KAFKA_CONF_OK) {
        oerr(errstr, n, "kafka.%s: %s", k, why);
        return -1;
    }
    return 0;
}

/* Set @p k unless the user configured it. */
static int conf_default(const struct spc_run_opts *o, rd_kafka_conf_t *conf,
                        const char *k, const char *v, char *errstr, size_t n)
{
    if (json_object_get(o->kafka, k))
        return 0;
    return conf_set(conf, k, v, errstr, n);
}

static int role_settings(const struct spc_run_opts *o, rd_kafka_conf_t *conf,
                         enum spc_client_role role, const char *group,
                         const char *txn_id, char *errstr, size_t n)
{
    if (role == SPC_ROLE_CONSUMER)
        return conf_set(conf, "group.id", group, errstr, n) ||
               conf_set(conf, "enable.auto.commit", "false", errstr, n) ||
               conf_set(conf, "enable.auto.offset.store", "false", errstr, n) ||
               /* the outputs must never see an aborted NORMALIZE batch */
               conf_set(conf, "isolation.level", "read_committed", errstr, n) ||
               /* eager: cooperative-sticky has rebalance bugs in 2.0.x */
               conf_set(conf, "partition.assignment.strategy", "range", errstr,
                        n) ||
               conf_default(o, conf, "auto.offset.reset", "earliest", errstr,
                            n) ||
               conf_default(o, conf, "session.timeout.ms", "10000", errstr,
                            n) ||
               conf_default(o, conf, "heartbeat.interval.ms", "2000", errstr,
                            n) ||
               /* read_committed: data below the stable offset may sit in
                * the broker until the fetch wait runs out (500 ms by
                * default): bound it for latency */
               conf_default(o, conf, "fetch.wait.max.ms", "50", errstr, n);
    if (conf_set(conf, "enable.idempotence", "true", errstr, n) ||
        conf_set(conf, "acks", "all", errstr, n) ||
        conf_default(o, conf, "linger.ms", "5", errstr, n) ||
        conf_default(o, conf, "compression.type", "lz4", errstr, n) ||
        conf_default(o, conf, "partitioner", "murmur2_random", errstr, n) ||
        /* never give up on a message: outages are waited out */
        conf_default(o, conf, "message.timeout.ms", "0", errstr, n))
        return -1;
    if (role == SPC_ROLE_TXN_PRODUCER)
        return conf_set(conf, "transactional.id", txn_id, errstr, n) ||
               conf_default(o, conf, "transaction.timeout.ms", "60000", errstr,
                            n);
    return 0;
}

/* librdkafka's log lines through ours (one format, rate-limited per
 * facility so a broker outage does not flood the log). */
static void kafka_log(const rd_kafka_t *rk, int level, const char *fac,
                      const char *buf)
{
    char key[64];

    snprintf(key, sizeof(key), "rdkafka-%s", fac);
    spc_log_limited(level <= 3   ? SPC_LOG_ERROR
                    : level == 4 ? SPC_LOG_WARN
                    : level <= 6 ? SPC_LOG_INFO
                                 : SPC_LOG_DEBUG,
                    key, "kafka %s: %s: %s", rd_kafka_name(rk), fac, buf);
}

rd_kafka_t *spc_kafka_client(const struct spc_run_opts *o,
                             enum spc_client_role role, const char *group,
                             const char *txn_id, rd_kafka_conf_t *conf,
                             char *errstr, size_t errstr_size)
{
    const char *key;
    json_t *v;
    rd_kafka_t *rk;
    char why[512];

    if (!conf)
        conf = rd_kafka_conf_new();
    rd_kafka_conf_set_log_cb(conf, kafka_log);
    json_object_foreach(o->kafka, key, v)
    {
        /* producer-only / consumer-only properties are accepted by both
         * kinds of handle with a warning; keep them for both */
        if (conf_set(conf, key, json_string_value(v), errstr, errstr_size))
            goto fail;
    }
    if (role_settings(o, conf, role, group, txn_id, errstr, errstr_size))
        goto fail;
    rk = rd_kafka_new(role == SPC_ROLE_CONSUMER ? RD_KAFKA_CONSUMER
                                                : RD_KAFKA_PRODUCER,
                      conf, why, sizeof(why));
    if (!rk) {
        oerr(errstr, errstr_size, "%s", why);
        goto fail;
    }
    if (role == SPC_ROLE_CONSUMER)
        rd_kafka_poll_set_consumer(rk);
    return rk;
fail:
    rd_kafka_conf_destroy(conf);
    return NULL;
}

static rd_kafka_NewTopic_t *new_topic(const char *name, int32_t parts,
                                      int16_t repl, int compact)
{
    char why[256];
    rd_kafka_NewTopic_t *t =
        rd_kafka_NewTopic_new(name, parts, repl, why, sizeof(why));

    if (t && compact)
        rd_kafka_NewTopic_set_config(t, "cleanup.policy", "compact");
    return t;
}

spc_err_t spc_kafka_ensure_topics(rd_kafka_t *rk, const struct spc_run_opts *o,
                                  unsigned stages, char *errstr,
                                  size_t errstr_size)
{
    const struct spc_topics *t = &o->topics;
    rd_kafka_NewTopic_t *nt[6];
    size_t n = 0, i, cnt;
    rd_kafka_queue_t *q = rd_kafka_queue_new(rk);
    rd_kafka_event_t *ev;
    const rd_kafka_CreateTopics_result_t *res;
    const rd_kafka_topic_result_t **tr;
    spc_err_t err = SPC_OK;

    nt[n++] = new_topic(t->reports, t->other_partitions, t->replication, 0);
    nt[n++] = new_topic(t->measurements, t->measurements_partitions,
                        t->replication, 0);
    nt[n++] =
        new_topic(t->anomalies, t->anomalies_partitions, t->replication, 0);
    nt[n++] = new_topic(t->incidents, t->other_partitions, t->replication, 1);
    /* actions are keyed by test plan like the anomalies: co-partitioned */
    nt[n++] = new_topic(t->actions, t->anomalies_partitions, t->replication, 0);
    nt[n++] = new_topic(t->dlq, 1, t->replication, 0);
    (void)stages;
    rd_kafka_CreateTopics(rk, nt, n, NULL, q);
    ev = rd_kafka_queue_poll(q, 15000);
    if (!ev) {
        err = SPC_ERR_TRANSIENT;
        oerr(errstr, errstr_size, "topic creation: no answer from the broker");
        goto out;
    }
    if (rd_kafka_event_error(ev)) {
        err = SPC_ERR_TRANSIENT;
        oerr(errstr, errstr_size, "topic creation: %s",
             rd_kafka_event_error_string(ev));
        goto out;
    }
    res = rd_kafka_event_CreateTopics_result(ev);
    tr = rd_kafka_CreateTopics_result_topics(res, &cnt);
    for (i = 0; i < cnt; i++) {
        rd_kafka_resp_err_t e = rd_kafka_topic_result_error(tr[i]);

        if (e && e != RD_KAFKA_RESP_ERR_TOPIC_ALREADY_EXISTS) {
            err =
                spc_kafka_err_transient(e) ? SPC_ERR_TRANSIENT : SPC_ERR_FATAL;
            oerr(errstr, errstr_size, "topic %s: %s",
                 rd_kafka_topic_result_name(tr[i]),
                 rd_kafka_topic_result_error_string(tr[i]));
            break;
        }
    }
out:
    if (ev)
        rd_kafka_event_destroy(ev);
    rd_kafka_queue_destroy(q);
    for (i = 0; i < n; i++)
        rd_kafka_NewTopic_destroy(nt[i]);
    return err;
}

int32_t spc_kafka_partition(const void *key, size_t keylen, int32_t n)
{
    return rd_kafka_msg_partitioner_murmur2(NULL, key, keylen, n, NULL, NULL);
}

int32_t spc_kafka_partition_count(rd_kafka_t *rk, const char *topic,
                                  int timeout_ms)
{
    rd_kafka_topic_t *rkt = rd_kafka_topic_new(rk, topic, NULL);
    const struct rd_kafka_metadata *md = NULL;
    int32_t n = -1;

    if (!rkt)
        return -1;
    if (rd_kafka_metadata(rk, 0, rkt, &md, timeout_ms) ==
            RD_KAFKA_RESP_ERR_NO_ERROR &&
        md->topic_cnt == 1 && !md->topics[0].err)
        n = md->topics[0].partition_cnt;
    if (md)
        rd_kafka_metadata_destroy(md);
    rd_kafka_topic_destroy(rkt);
    return n;
}

spc_err_t spc_kafka_dlq(rd_kafka_t *producer, const char *dlq_topic,
                        const char *stage, const char *error,
                        const rd_kafka_message_t *src)
{
    char part[16], off[24];
    rd_kafka_resp_err_t e;

    snprintf(part, sizeof(part), "%d", (int)src->partition);
    snprintf(off, sizeof(off), "%lld", (long long)src->offset);
    e = rd_kafka_producev(producer, RD_KAFKA_V_TOPIC(dlq_topic),
                          RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                          RD_KAFKA_V_VALUE(src->payload, src->len),
                          RD_KAFKA_V_KEY(src->key, src->key_len),
                          RD_KAFKA_V_HEADER("spc-stage", stage, -1),
                          RD_KAFKA_V_HEADER("spc-error", error, -1),
                          RD_KAFKA_V_HEADER("spc-source-topic",
                                            rd_kafka_topic_name(src->rkt), -1),
                          RD_KAFKA_V_HEADER("spc-source-partition", part, -1),
                          RD_KAFKA_V_HEADER("spc-source-offset", off, -1),
                          RD_KAFKA_V_END);
    if (e == RD_KAFKA_RESP_ERR__QUEUE_FULL)
        return SPC_ERR_TRANSIENT;
    return e ? SPC_ERR_FATAL : SPC_OK;
}

int spc_kafka_err_transient(rd_kafka_resp_err_t err)
{
    switch (err) {
    case RD_KAFKA_RESP_ERR__TRANSPORT:
    case RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN:
    case RD_KAFKA_RESP_ERR__TIMED_OUT:
    case RD_KAFKA_RESP_ERR__QUEUE_FULL:
    case RD_KAFKA_RESP_ERR_REQUEST_TIMED_OUT:
    case RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION:
    case RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_NOT_COORDINATOR:
    case RD_KAFKA_RESP_ERR_COORDINATOR_NOT_AVAILABLE:
    case RD_KAFKA_RESP_ERR_COORDINATOR_LOAD_IN_PROGRESS:
    case RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS:
    case RD_KAFKA_RESP_ERR_NETWORK_EXCEPTION:
    case RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART:
        return 1;
    default:
        return 0;
    }
}

void spc_pos_format(int32_t r, int64_t o, uint32_t i, char *out, size_t n)
{
    snprintf(out, n, "%d:%lld:%u", (int)r, (long long)o, (unsigned)i);
}

int spc_pos_parse(const void *v, size_t len, struct spc_pos *p)
{
    char buf[64], *end;
    long long r, o, i;

    if (!v || len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, v, len);
    buf[len] = '\0';
    r = strtoll(buf, &end, 10);
    if (*end != ':' || r < 0 || r > INT32_MAX)
        return -1;
    o = strtoll(end + 1, &end, 10);
    if (*end != ':' || o < 0)
        return -1;
    i = strtoll(end + 1, &end, 10);
    if (*end != '\0' || i < 0 || i > UINT32_MAX)
        return -1;
    p->r = (int32_t)r;
    p->o = o;
    p->i = (uint32_t)i;
    return 0;
}

const void *spc_kafka_header(const rd_kafka_message_t *m, const char *name,
                             size_t *len)
{
    rd_kafka_headers_t *h = NULL;
    const void *v = NULL;

    if (rd_kafka_message_headers(m, &h) || !h ||
        rd_kafka_header_get_last(h, name, &v, len))
        return NULL;
    return v;
}

spc_err_t spc_run_opts_from_file(const char *path, struct spc_config **cfg,
                                 struct spc_run_opts *o, char *errstr,
                                 size_t errstr_size)
{
    struct spc_config *c;
    char why[512];
    spc_err_t e;

    memset(o, 0, sizeof(*o));
    c = path ? spc_config_load(path, spc_config_daemon_sections, why,
                               sizeof(why))
             : spc_config_new();
    if (!c) {
        oerr(errstr, errstr_size, "config: %s", path ? why : "out of memory");
        return SPC_ERR_INVALID;
    }
    e = spc_run_opts_load(o, spc_config_section(c, "run"),
                          spc_config_section(c, "topics"),
                          spc_config_section(c, "kafka"), errstr, errstr_size);
    if (e) {
        spc_run_opts_fini(o);
        spc_config_destroy(c);
        return e;
    }
    *cfg = c;
    return SPC_OK;
}
