/*
 * spc_normalize.c -- stage NORMALIZE: wats.reports -> spc.measurements.
 *
 * DATA FLOW: WSJF report (Kafka message) --flatten--> spc_event[] --Avro-->
 *   spc.measurements, key "test_plan/test_step/measurement", partition =
 *   murmur2(key) (every event of a step key in one partition, in order);
 *   a report that is not valid JSON/WSJF -> spc.dlq with the reason.
 * EXACTLY ONCE: consume-transform-produce in Kafka transactions (KIP-98,
 *   KIP-447): the events and DLQ records of a batch of reports and the
 *   consumed offsets commit together; a crash aborts the open transaction
 *   (the next instance with the same transactional.id fences it), DETECT
 *   reads read_committed, so every report is turned into events exactly
 *   once.  On revoke the open transaction is committed, on a lost
 *   assignment aborted and the consumer rewound by re-assigning the
 *   committed offsets (no seek: rd_kafka_seek_partitions has a timeout-unit
 *   bug in 2.0.x, librdkafka PR #4230).
 * THREADING: one thread owns the consumer and the transactional producer
 *   (@locality normalize thread).
 * FAILURE MODES: poison input -> DLQ, counted, logged once per kind per
 *   minute; broker trouble -> retriable errors retried, abortable ones
 *   abort + rewind; fatal (fenced by another instance) -> stop, exit 1.
 */
#include "spc_avro.h"
#include "spc_log.h"
#include "spc_run.h"
#include "spc_wsjf.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* A transaction spans at least BATCH_MIN_MS of input; it commits as soon as
 * the consumer has nothing more at hand (low latency when keeping up), or
 * at BATCH_MAX_MS / BATCH_MAX reports under a backlog (throughput: each
 * commit costs a few broker round trips, ~20 ms here). */
#define BATCH_MIN_MS 50
#define BATCH_MAX_MS 500
#define BATCH_MAX 5000

struct spc_normalize {
    pthread_t th;
    struct spc_run *r;
    rd_kafka_t *consumer, *producer;
    struct spc_avro *avro;
    struct spc_wsjf_opts wopts;
    struct spc_batch batch;
    struct spc_buf key, val;
    int32_t nparts; /* partitions of spc.measurements */
    int in_txn;
    rd_kafka_topic_partition_list_t *offsets; /* next offsets of the batch */
};

static void txn_error(struct spc_normalize *s, const char *what,
                      rd_kafka_error_t *e)
{
    spc_log(rd_kafka_error_is_fatal(e) ? SPC_LOG_ERROR : SPC_LOG_WARN,
            "normalize: %s: %s", what, rd_kafka_error_string(e));
    if (rd_kafka_error_is_fatal(e))
        spc_run_stop(s->r, 1);
}

/* Re-assign the committed positions (after an abort: the batch's reports
 * must be consumed again). */
static void rewind_consumer(struct spc_normalize *s)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    rd_kafka_resp_err_t e = rd_kafka_assignment(s->consumer, &a);
    int i;

    if (e || !a)
        return;
    if (rd_kafka_committed(s->consumer, a, 10000) ==
        RD_KAFKA_RESP_ERR_NO_ERROR) {
        for (i = 0; i < a->cnt; i++)
            if (a->elems[i].offset < 0)
                a->elems[i].offset = RD_KAFKA_OFFSET_BEGINNING;
        rd_kafka_assign(s->consumer, a);
    }
    rd_kafka_topic_partition_list_destroy(a);
}

static void abort_txn(struct spc_normalize *s)
{
    rd_kafka_error_t *e;

    if (!s->in_txn)
        return;
    e = rd_kafka_abort_transaction(s->producer, 30000);
    if (e) {
        txn_error(s, "abort transaction", e);
        rd_kafka_error_destroy(e);
    }
    s->in_txn = 0;
    atomic_fetch_add(&s->r->m.txn_aborts, 1);
    rd_kafka_topic_partition_list_destroy(s->offsets);
    s->offsets = rd_kafka_topic_partition_list_new(8);
    rewind_consumer(s);
}

static int produce(struct spc_normalize *s, const char *topic, int32_t part,
                   const void *key, size_t klen, const void *val, size_t vlen,
                   const char *hname, const char *hval);

/* Progress ticks, in the transaction: to every partition of
 * spc.measurements, "reports partition r is normalized below offset o".
 * DETECT forwards them to spc.anomalies, where INCIDENT uses them as
 * watermarks to process anomalies in input order. */
static int send_ticks(struct spc_normalize *s)
{
    char val[96];
    int32_t part;
    int i;

    for (i = 0; i < s->offsets->cnt; i++) {
        const rd_kafka_topic_partition_t *tp = &s->offsets->elems[i];

        snprintf(val, sizeof(val),
                 "{\"control\":\"tick\",\"r\":%d,"
                 "\"next\":%lld}",
                 (int)tp->partition, (long long)tp->offset);
        for (part = 0; part < s->nparts; part++)
            if (!produce(s, s->r->o.topics.measurements, part, NULL, 0, val,
                         strlen(val), SPC_HDR_CONTROL, "tick"))
                return -1;
    }
    return 0;
}

/* Commit the open transaction with the batch's offsets.  @returns 1 when
 * committed (or nothing was open), 0 when it had to be aborted. */
static int commit_txn(struct spc_normalize *s)
{
    rd_kafka_consumer_group_metadata_t *md;
    rd_kafka_error_t *e;

    int64_t t0 = spc_now_mono_ms();

    if (!s->in_txn)
        return 1;
    if (send_ticks(s) != 0) {
        abort_txn(s);
        return 0;
    }
    for (;;) {
        md = rd_kafka_consumer_group_metadata(s->consumer);
        e = rd_kafka_send_offsets_to_transaction(s->producer, s->offsets, md,
                                                 -1);
        rd_kafka_consumer_group_metadata_destroy(md);
        if (!e)
            e = rd_kafka_commit_transaction(s->producer, -1);
        if (!e)
            break;
        if (rd_kafka_error_is_retriable(e) && spc_running(s->r)) {
            rd_kafka_error_destroy(e);
            continue;
        }
        txn_error(s, "commit transaction", e);
        rd_kafka_error_destroy(e);
        abort_txn(s);
        return 0;
    }
    s->in_txn = 0;
    atomic_fetch_add(&s->r->m.txn_commits, 1);
    spc_atomic_max(&s->r->m.commit_max_ms, (long)(spc_now_mono_ms() - t0));
    rd_kafka_topic_partition_list_destroy(s->offsets);
    s->offsets = rd_kafka_topic_partition_list_new(8);
    return 1;
}

static int begin_txn(struct spc_normalize *s)
{
    rd_kafka_error_t *e;

    if (s->in_txn)
        return 1;
    e = rd_kafka_begin_transaction(s->producer);
    if (e) {
        txn_error(s, "begin transaction", e);
        rd_kafka_error_destroy(e);
        return 0;
    }
    s->in_txn = 1;
    return 1;
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct spc_normalize *s = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        rd_kafka_assign(rk, parts);
        return;
    }
    /* revoke: finish the batch of the partitions we give away; lost: the
     * group moved on without us, our transaction must not commit */
    if (rd_kafka_assignment_lost(rk))
        abort_txn(s);
    else
        commit_txn(s);
    rd_kafka_assign(rk, NULL);
}

/* Produce, waiting out a full local queue. */
static int produce(struct spc_normalize *s, const char *topic, int32_t part,
                   const void *key, size_t klen, const void *val, size_t vlen,
                   const char *hname, const char *hval)
{
    rd_kafka_resp_err_t e;

    for (;;) {
        e = rd_kafka_producev(
            s->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY), RD_KAFKA_V_KEY(key, klen),
            RD_KAFKA_V_VALUE((void *)val, vlen),
            RD_KAFKA_V_HEADER(hname, hval, -1), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(s->producer, 50);
    }
    if (e)
        spc_log_limited(SPC_LOG_ERROR, "normalize-produce",
                        "normalize: produce to %s: %s", topic,
                        rd_kafka_err2str(e));
    return e == RD_KAFKA_RESP_ERR_NO_ERROR;
}

static void to_dlq(struct spc_normalize *s, const rd_kafka_message_t *m,
                   const char *kind, const char *why)
{
    atomic_fetch_add(&s->r->m.dlq, 1);
    spc_log_limited(SPC_LOG_WARN, kind,
                    "normalize: %s [%d] offset %lld -> %s: %s",
                    rd_kafka_topic_name(m->rkt), (int)m->partition,
                    (long long)m->offset, s->r->o.topics.dlq, why);
    if (spc_kafka_dlq(s->producer, s->r->o.topics.dlq, "normalize", why, m))
        spc_log(SPC_LOG_ERROR, "normalize: cannot write to the DLQ");
}

/* One report -> events.  @returns 0 on success or poison, -1 when the
 * batch must be aborted (produce failure). */
static int process(struct spc_normalize *s, const rd_kafka_message_t *m)
{
    const char *mt = s->r->o.topics.measurements;
    char err[512], pos[64];
    spc_err_t e;
    size_t i;
    int ok = 1;

    if (!m->payload || m->len == 0) {
        to_dlq(s, m, "dlq-empty", "empty message");
        return 0;
    }
    e = spc_wsjf_flatten_buf(m->payload, m->len, &s->wopts, &s->batch, err,
                             sizeof(err));
    if (e == SPC_ERR_NOMEM)
        return -1;
    if (e) {
        to_dlq(s, m, e == SPC_ERR_PARSE ? "dlq-json" : "dlq-wsjf", err);
        return 0;
    }
    if (s->batch.repair) {
        atomic_fetch_add(&s->r->m.repairs, 1);
        return 0;
    }
    for (i = 0; i < s->batch.n && ok; i++) {
        const struct spc_event *ev = &s->batch.ev[i];

        spc_buf_reset(&s->key);
        spc_buf_reset(&s->val);
        spc_buf_printf(&s->key, "%s/%s/%s", ev->test_plan, ev->test_step,
                       ev->measurement);
        e = spc_avro_encode_event(s->avro, mt, ev, &s->r->cfg->dims, &s->val,
                                  err, sizeof(err));
        if (e || !spc_buf_ok(&s->key)) {
            spc_log_limited(SPC_LOG_ERROR, "normalize-encode",
                            "normalize: encode: %s", err);
            ok = 0;
            break;
        }
        /* the event's place in the input: INCIDENT restores this order */
        spc_pos_format(m->partition, m->offset, (uint32_t)i, pos, sizeof(pos));
        ok = produce(
            s, mt, spc_kafka_partition(s->key.data, s->key.len, s->nparts),
            s->key.data, s->key.len, s->val.data, s->val.len, SPC_HDR_POS, pos);
    }
    if (!ok)
        return -1;
    atomic_fetch_add(&s->r->m.reports, 1);
    atomic_fetch_add(&s->r->m.events_out, s->batch.n);
    return 0;
}

static void note_offset(struct spc_normalize *s, const rd_kafka_message_t *m)
{
    rd_kafka_topic_partition_t *tp = rd_kafka_topic_partition_list_find(
        s->offsets, rd_kafka_topic_name(m->rkt), m->partition);

    if (!tp)
        tp = rd_kafka_topic_partition_list_add(
            s->offsets, rd_kafka_topic_name(m->rkt), m->partition);
    tp->offset = m->offset + 1;
}

static void run_batch(struct spc_normalize *s)
{
    int64_t t0 = spc_now_mono_ms();
    int n = 0;

    while (n < BATCH_MAX && spc_now_mono_ms() - t0 < BATCH_MAX_MS &&
           spc_running(s->r)) {
        int late = spc_now_mono_ms() - t0 >= BATCH_MIN_MS;
        rd_kafka_message_t *m =
            rd_kafka_consumer_poll(s->consumer, late ? 0 : 20);

        if (!m) {
            if (late)
                break; /* caught up: commit now */
            continue;
        }
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                spc_log_limited(SPC_LOG_WARN, "normalize-consume",
                                "normalize: consume: %s",
                                rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (!begin_txn(s)) {
            rd_kafka_message_destroy(m);
            rewind_consumer(s);
            return;
        }
        if (process(s, m) < 0) {
            rd_kafka_message_destroy(m);
            abort_txn(s);
            return;
        }
        note_offset(s, m);
        rd_kafka_message_destroy(m);
        n++;
    }
    commit_txn(s);
}

static void *normalize_main(void *arg)
{
    struct spc_normalize *s = arg;
    rd_kafka_error_t *e;

    while (spc_running(s->r)) { /* the broker may not be up yet */
        e = rd_kafka_init_transactions(s->producer, 30000);
        if (!e)
            break;
        txn_error(s, "init transactions", e);
        if (rd_kafka_error_is_fatal(e)) {
            rd_kafka_error_destroy(e);
            return NULL;
        }
        rd_kafka_error_destroy(e);
        spc_run_sleep(s->r, 1000);
    }
    spc_log(SPC_LOG_INFO,
            "normalize: %s -> %s (%d partitions), "
            "transactional.id %s-normalize-%s",
            s->r->o.topics.reports, s->r->o.topics.measurements, (int)s->nparts,
            s->r->o.group, s->r->o.instance);
    while (spc_running(s->r))
        run_batch(s);
    commit_txn(s);
    rd_kafka_consumer_close(s->consumer); /* revoke: commits what is open */
    return NULL;
}

static void stage_free(struct spc_normalize *s)
{
    if (s->consumer)
        rd_kafka_destroy(s->consumer);
    if (s->producer)
        rd_kafka_destroy(s->producer);
    spc_avro_destroy(s->avro);
    spc_batch_fini(&s->batch);
    spc_buf_fini(&s->key);
    spc_buf_fini(&s->val);
    if (s->offsets)
        rd_kafka_topic_partition_list_destroy(s->offsets);
    free(s);
}

struct spc_normalize *spc_normalize_start(struct spc_run *r)
{
    struct spc_normalize *s = spc_calloc(1, sizeof(*s));
    struct spc_avro_opts ao;
    rd_kafka_conf_t *conf;
    rd_kafka_topic_partition_list_t *topics;
    char err[512], group[256], txn[256];

    if (!s)
        return NULL;
    s->r = r;
    spc_batch_init(&s->batch);
    spc_buf_init(&s->key);
    spc_buf_init(&s->val);
    spc_config_wsjf_opts(r->cfg, &s->wopts);
    s->offsets = rd_kafka_topic_partition_list_new(8);
    memset(&ao, 0, sizeof(ao));
    ao.registry_url = r->o.registry_url;
    ao.registry_user = r->o.registry_user;
    ao.registry_password = r->o.registry_password;
    ao.timeout_ms = 10000;
    s->avro = spc_avro_new(&ao, err, sizeof(err));
    if (!s->avro)
        goto fail;
    snprintf(group, sizeof(group), "%s-normalize", r->o.group);
    snprintf(txn, sizeof(txn), "%s-normalize-%s", r->o.group, r->o.instance);
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, s);
    s->consumer = spc_kafka_client(&r->o, SPC_ROLE_CONSUMER, group, NULL, conf,
                                   err, sizeof(err));
    if (!s->consumer)
        goto fail;
    s->producer = spc_kafka_client(&r->o, SPC_ROLE_TXN_PRODUCER, NULL, txn,
                                   NULL, err, sizeof(err));
    if (!s->producer)
        goto fail;
    s->nparts =
        spc_kafka_partition_count(s->producer, r->o.topics.measurements, 10000);
    if (s->nparts <= 0) {
        snprintf(err, sizeof(err), "topic %s: no metadata (does it exist?)",
                 r->o.topics.measurements);
        goto fail;
    }
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, r->o.topics.reports,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(s->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    if (pthread_create(&s->th, NULL, normalize_main, s) != 0) {
        snprintf(err, sizeof(err), "cannot start a thread");
        goto fail;
    }
    return s;
fail:
    spc_log(SPC_LOG_ERROR, "normalize: %s", err);
    stage_free(s);
    return NULL;
}

void spc_normalize_join(struct spc_normalize *s)
{
    pthread_join(s->th, NULL);
    stage_free(s);
}
