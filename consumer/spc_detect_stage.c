/*
 * spc_detect_stage.c -- stage DETECT: spc.measurements -> spc.anomalies, with
 * per-partition engine state checkpointed in Redis.
 *
 * DATA FLOW: poll thread: message -> queue of the worker owning its
 *   partition (bounded: a full queue blocks the poll thread, i.e. back
 *   pressure, never unbounded memory) -> worker: Avro -> spc_event ->
 *   the partition's engine -> anomalies -> Avro/JSON -> spc.anomalies
 *   (key "test_plan|station", partition by test plan so one INCIDENT owner
 *   sees a whole plan).
 * STATE: one engine per assigned input partition, owned by one worker
 *   thread (no locks on the event path).  Checkpoint (every
 *   checkpoint_interval_ms / checkpoint_events, on revoke, on shutdown):
 *   wait until every anomaly produced so far for the partition is
 *   acknowledged by Kafka, then write the changed key states and the next
 *   offset with the partition's fencing token in one Lua script.  On
 *   assignment: fence, load the states, and start consuming at the stored
 *   offset, passed to the assign call (no seek).  No checkpoint: start at
 *   the beginning, so the state is rebuilt rather than lost.
 * EFFECTIVELY ONCE: a crash replays from the last checkpoint; the engine is
 *   deterministic, so the replay produces the same anomalies with the same
 *   ids: outputs may repeat, never go missing or change.
 * THREADING: poll thread (consumer, rebalance callback, its own Redis
 *   connection for fence+load); N workers (@locality worker, each with a
 *   Redis connection and an Avro codec); one producer-poll thread serving
 *   delivery reports.
 * FAILURE MODES: Redis down -> checkpoints retried with backoff, processing
 *   goes on (a crash then replays more); fenced -> the partition's state is
 *   dropped (a newer owner has it); fatal Kafka/Redis errors -> stop, exit 1.
 */
#include "spc_avro.h"
#include "spc_codec.h"
#include "spc_engine.h"
#include "spc_log.h"
#include "spc_run.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define QUEUE_CAP 4096

enum item_kind { IT_MSG, IT_TAKE, IT_RELEASE, IT_STOP };

struct item {
    enum item_kind kind;
    rd_kafka_message_t *msg;
    struct dpart *part;
    int lost;
};

struct queue {
    pthread_mutex_t mu;
    pthread_cond_t nonempty, nonfull;
    struct item buf[QUEUE_CAP];
    size_t head, n;
};

struct dpart {
    int32_t partition;
    struct spc_engine *eng;
    uint64_t token;
    int64_t next_offset, ckpt_offset;
    long events_since;
    int64_t last_ckpt_ms;
    atomic_long inflight;
    atomic_int delivery_failed;
    int fenced;
    int released; /* set by the worker, guarded by detect->mu */
    struct worker *w;
};

struct worker {
    pthread_t th;
    struct spc_detect *d;
    struct queue q;
    struct dpart **parts;
    size_t nparts, cap;
    struct spc_ckpt *ckpt;
    struct spc_avro *avro;
    struct spc_arena strings;
    struct spc_buf out, key;
    struct dpart *cur; /* partition being processed (engine sink) */
    char pos[64];      /* spc-pos of the event being processed, or "" */
    int64_t backoff_until;
};

struct spc_detect {
    struct spc_run *r;
    rd_kafka_t *consumer, *producer;
    pthread_t poll_th, dr_th;
    struct worker *w;
    int nw;
    struct spc_ckpt *ckpt; /* poll thread's */
    char scope[256];
    int32_t anom_parts;
    struct dpart **by_p; /* index = partition, poll thread */
    int32_t cap_p;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    atomic_int dr_stop;
};

/* ---- queue ---- */

static void q_init(struct queue *q)
{
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->nonempty, NULL);
    pthread_cond_init(&q->nonfull, NULL);
    q->head = q->n = 0;
}

static void q_fini(struct queue *q)
{
    pthread_mutex_destroy(&q->mu);
    pthread_cond_destroy(&q->nonempty);
    pthread_cond_destroy(&q->nonfull);
}

static void q_push(struct queue *q, const struct item *it)
{
    pthread_mutex_lock(&q->mu);
    while (q->n == QUEUE_CAP) /* back pressure on the poll thread */
        pthread_cond_wait(&q->nonfull, &q->mu);
    q->buf[(q->head + q->n) % QUEUE_CAP] = *it;
    q->n++;
    pthread_cond_signal(&q->nonempty);
    pthread_mutex_unlock(&q->mu);
}

/* @returns 1 with *it, 0 on timeout. */
static int q_pop(struct queue *q, struct item *it, long timeout_ms)
{
    struct timespec ts;
    int got = 0;

    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&q->mu);
    while (q->n == 0)
        if (pthread_cond_timedwait(&q->nonempty, &q->mu, &ts) != 0)
            break;
    if (q->n) {
        *it = q->buf[q->head];
        q->head = (q->head + 1) % QUEUE_CAP;
        q->n--;
        got = 1;
        pthread_cond_signal(&q->nonfull);
    }
    pthread_mutex_unlock(&q->mu);
    return got;
}

/* ---- delivery reports (producer-poll thread) ---- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct spc_detect *d = opaque;
    struct dpart *p = m->_private;

    (void)rk;
    if (!p)
        return;
    if (m->err) {
        atomic_store(&p->delivery_failed, 1);
        spc_log_limited(SPC_LOG_ERROR, "detect-delivery",
                        "detect: anomaly not delivered: %s",
                        rd_kafka_err2str(m->err));
    }
    pthread_mutex_lock(&d->mu);
    atomic_fetch_sub(&p->inflight, 1);
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void *dr_main(void *arg)
{
    struct spc_detect *d = arg;

    while (!atomic_load(&d->dr_stop))
        rd_kafka_poll(d->producer, 100);
    return NULL;
}

/* ---- worker ---- */

static void emit_anomaly(const struct spc_anomaly *a, void *opaque)
{
    struct worker *w = opaque;
    struct spc_detect *d = w->d;
    struct dpart *p = w->cur;
    const char *st = a->meta[SPC_DIM_STATION];
    const char *topic = d->r->o.topics.anomalies;
    char err[256];
    rd_kafka_resp_err_t e;
    int32_t part;

    spc_buf_reset(&w->out);
    spc_buf_reset(&w->key);
    if (d->r->o.format == SPC_OUT_JSON)
        spc_anomaly_to_json(a, &w->out);
    else if (spc_avro_encode_anomaly(w->avro, topic, a, &w->out, err,
                                     sizeof(err)) != SPC_OK) {
        spc_log_limited(SPC_LOG_ERROR, "detect-encode", "detect: encode: %s",
                        err);
        spc_run_stop(d->r, 1);
        return;
    }
    spc_buf_printf(&w->key, "%s|%s", a->test_plan, st ? st : "");
    part =
        spc_kafka_partition(a->test_plan, strlen(a->test_plan), d->anom_parts);
    atomic_fetch_add(&p->inflight, 1);
    for (;;) {
        e = rd_kafka_producev(
            d->producer, RD_KAFKA_V_TOPIC(topic), RD_KAFKA_V_PARTITION(part),
            RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
            RD_KAFKA_V_KEY(w->key.data, w->key.len),
            RD_KAFKA_V_VALUE(w->out.data, w->out.len),
            RD_KAFKA_V_HEADER("anomaly-id", a->id, 32),
            /* parenthesized: the macro casts
                               * without parentheses */
            RD_KAFKA_V_HEADER(SPC_HDR_POS, w->pos, (ssize_t)strlen(w->pos)),
            RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    if (e) {
        atomic_fetch_sub(&p->inflight, 1);
        spc_log(SPC_LOG_ERROR, "detect: produce: %s", rd_kafka_err2str(e));
        spc_run_stop(d->r, 1);
        return;
    }
    atomic_fetch_add(&d->r->m.anomalies, 1);
}

static struct dpart *find_part(struct worker *w, int32_t partition)
{
    size_t i;

    for (i = 0; i < w->nparts; i++)
        if (w->parts[i]->partition == partition)
            return w->parts[i];
    return NULL;
}

/* Wait until every anomaly of @p p is acknowledged; 0 on timeout. */
static int wait_delivered(struct spc_detect *d, struct dpart *p, long ms)
{
    int64_t end = spc_now_mono_ms() + ms;
    int ok;

    pthread_mutex_lock(&d->mu);
    while (atomic_load(&p->inflight) > 0 && spc_now_mono_ms() < end) {
        struct timespec ts;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&d->cv, &d->mu, &ts);
    }
    ok = atomic_load(&p->inflight) == 0;
    pthread_mutex_unlock(&d->mu);
    return ok;
}

struct items {
    struct spc_ckpt_item *v;
    size_t n, cap;
    struct spc_arena mem;
};

static int collect(const char *key, size_t klen, const void *blob, size_t len,
                   void *opaque)
{
    struct items *it = opaque;
    char *k, *b;

    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 256;
        struct spc_ckpt_item *v = spc_realloc(it->v, cap * sizeof(*v));

        if (!v)
            return -1;
        it->v = v;
        it->cap = cap;
    }
    k = spc_arena_alloc(&it->mem, klen ? klen : 1);
    b = spc_arena_alloc(&it->mem, len ? len : 1);
    if (!k || !b)
        return -1;
    memcpy(k, key, klen);
    memcpy(b, blob, len);
    it->v[it->n].key = k;
    it->v[it->n].key_len = klen;
    it->v[it->n].blob = b;
    it->v[it->n].len = len;
    it->n++;
    return 0;
}

/* @returns SPC_OK, SPC_ERR_TRANSIENT (try later), SPC_ERR_FENCED. */
static spc_err_t checkpoint(struct worker *w, struct dpart *p)
{
    struct spc_detect *d = w->d;
    struct items it = {NULL, 0, 0, {0}};
    char err[512];
    spc_err_t e;
    int64_t t0 = spc_now_mono_ms();

    if (p->fenced)
        return SPC_ERR_FENCED;
    if (p->next_offset == p->ckpt_offset)
        return SPC_OK;
    if (spc_now_mono_ms() < w->backoff_until)
        return SPC_ERR_TRANSIENT;
    if (!wait_delivered(d, p, 10000))
        return SPC_ERR_TRANSIENT; /* outputs first, then the checkpoint */
    if (atomic_load(&p->delivery_failed)) {
        spc_run_stop(d->r, 1);
        return SPC_ERR_FATAL;
    }
    spc_arena_init(&it.mem, 1 << 16);
    e = spc_codec_export(p->eng, 1, collect, &it);
    if (e)
        goto out;
    if (!spc_ckpt_connected(w->ckpt) &&
        (e = spc_ckpt_reconnect(w->ckpt, err, sizeof(err))))
        goto fail;
    e = spc_ckpt_write(w->ckpt, d->scope, p->partition, p->token,
                       p->next_offset, it.v, it.n, err, sizeof(err));
    if (e)
        goto fail;
    spc_engine_clear_dirty(p->eng);
    p->ckpt_offset = p->next_offset;
    p->events_since = 0;
    p->last_ckpt_ms = spc_now_mono_ms();
    w->backoff_until = 0;
    atomic_fetch_add(&d->r->m.checkpoints, 1);
    spc_atomic_max(&d->r->m.ckpt_max_ms, (long)(spc_now_mono_ms() - t0));
    atomic_store(&d->r->m.last_checkpoint_ms, p->last_ckpt_ms);
    {
        rd_kafka_topic_partition_list_t *o =
            rd_kafka_topic_partition_list_new(1);

        rd_kafka_topic_partition_list_add(o, d->r->o.topics.measurements,
                                          p->partition)
            ->offset = p->next_offset;
        rd_kafka_offsets_store(d->consumer, o); /* for lag tools */
        rd_kafka_topic_partition_list_destroy(o);
    }
    goto out;
fail:
    atomic_fetch_add(&d->r->m.checkpoint_errors, 1);
    if (e == SPC_ERR_FENCED) {
        p->fenced = 1;
        spc_log(SPC_LOG_WARN,
                "detect: partition %d: fenced by a newer owner, dropping "
                "its state",
                (int)p->partition);
    } else if (e == SPC_ERR_TRANSIENT) {
        w->backoff_until = spc_now_mono_ms() + 1000;
        spc_log_limited(SPC_LOG_WARN, "detect-ckpt",
                        "detect: checkpoint of partition %d deferred: %s",
                        (int)p->partition, err);
    } else {
        spc_log(SPC_LOG_ERROR, "detect: checkpoint: %s", err);
        spc_run_stop(d->r, 1);
    }
out:
    free(it.v);
    spc_arena_fini(&it.mem);
    return e;
}

/* A control record (header spc-control) in spc.measurements: applied in
 * stream order, so a replay from a checkpoint applies it at the same
 * place.  @returns 1 when @p m was one. */
static void forward_tick(struct worker *w, struct dpart *p,
                         const rd_kafka_message_t *m)
{
    struct spc_detect *d = w->d;
    json_t *root = json_loadb(m->payload, m->len, 0, NULL);
    json_t *r = json_object_get(root, "r"), *o = json_object_get(root, "next");
    char val[128];
    int32_t part;

    if (!json_is_integer(r) || !json_is_integer(o)) {
        spc_log_limited(SPC_LOG_WARN, "detect-control",
                        "detect: malformed tick at offset %lld skipped",
                        (long long)m->offset);
        json_decref(root);
        return;
    }
    /* after the anomalies of every earlier event of this partition: the
     * producer keeps the order per partition */
    snprintf(val, sizeof(val),
             "{\"control\":\"tick\",\"m\":%d,\"r\":%lld,\"next\":%lld}",
             (int)p->partition, (long long)json_integer_value(r),
             (long long)json_integer_value(o));
    json_decref(root);
    for (part = 0; part < d->anom_parts; part++) {
        rd_kafka_resp_err_t e;

        atomic_fetch_add(&p->inflight, 1);
        while ((e = rd_kafka_producev(
                    d->producer, RD_KAFKA_V_TOPIC(d->r->o.topics.anomalies),
                    RD_KAFKA_V_PARTITION(part),
                    RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                    RD_KAFKA_V_VALUE(val, strlen(val)),
                    RD_KAFKA_V_HEADER(SPC_HDR_CONTROL, "tick", 4),
                    RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END)) ==
               RD_KAFKA_RESP_ERR__QUEUE_FULL) {
            struct timespec ts = {0, 10 * 1000000L};

            nanosleep(&ts, NULL);
        }
        if (e) {
            atomic_fetch_sub(&p->inflight, 1);
            spc_log(SPC_LOG_ERROR, "detect: produce tick: %s",
                    rd_kafka_err2str(e));
            spc_run_stop(d->r, 1);
            return;
        }
    }
}

static int control_msg(struct worker *w, struct dpart *p,
                       const rd_kafka_message_t *m)
{
    const void *val;
    size_t len;
    json_t *root;
    const char *match;
    size_t n;

    if (!(val = spc_kafka_header(m, SPC_HDR_CONTROL, &len)))
        return 0;
    if (len == 4 && !memcmp(val, "tick", 4)) {
        forward_tick(w, p, m);
        return 1;
    }
    if (len != strlen("rebaseline") || memcmp(val, "rebaseline", len) != 0) {
        spc_log_limited(SPC_LOG_WARN, "detect-control",
                        "detect: unknown control record at offset %lld "
                        "skipped",
                        (long long)m->offset);
        return 1;
    }
    root = json_loadb(m->payload, m->len, 0, NULL);
    match = json_string_value(json_object_get(root, "match"));
    if (match) {
        n = spc_engine_rebaseline(p->eng, match);
        spc_log(SPC_LOG_INFO,
                "detect: partition %d: re-baselined %zu step keys matching "
                "%s",
                (int)p->partition, n, match);
    } else {
        spc_log_limited(SPC_LOG_WARN, "detect-control",
                        "detect: re-baseline record without \"match\" at "
                        "offset %lld skipped",
                        (long long)m->offset);
    }
    json_decref(root);
    return 1;
}

static void process_msg(struct worker *w, rd_kafka_message_t *m)
{
    struct spc_detect *d = w->d;
    struct dpart *p = find_part(w, m->partition);
    struct spc_event ev;
    char err[256];
    spc_err_t e;

    if (!p || p->fenced)
        return;
    if (control_msg(w, p, m)) {
        p->next_offset = m->offset + 1;
        p->events_since++;
        return;
    }
    {
        size_t plen;
        const void *pv = spc_kafka_header(m, SPC_HDR_POS, &plen);

        if (pv && plen < sizeof(w->pos)) {
            memcpy(w->pos, pv, plen);
            w->pos[plen] = '\0';
        } else {
            w->pos[0] = '\0';
        }
    }
    spc_arena_reset(&w->strings);
    e = spc_avro_decode_event(w->avro, m->payload, m->len, &d->r->cfg->dims,
                              &ev, &w->strings, err, sizeof(err));
    if (e) {
        atomic_fetch_add(&d->r->m.dlq, 1);
        spc_log_limited(SPC_LOG_WARN, "detect-dlq",
                        "detect: %s [%d] offset %lld -> DLQ: %s",
                        rd_kafka_topic_name(m->rkt), (int)m->partition,
                        (long long)m->offset, err);
        if (spc_kafka_dlq(d->producer, d->r->o.topics.dlq, "detect", err, m))
            spc_log(SPC_LOG_ERROR, "detect: cannot write to the DLQ");
    } else {
        w->cur = p;
        spc_engine_set_sink(p->eng, emit_anomaly, w);
        if (spc_engine_process(p->eng, &ev, 1) != SPC_OK) {
            spc_log(SPC_LOG_ERROR, "detect: out of memory");
            spc_run_stop(d->r, 1);
        }
        atomic_fetch_add(&d->r->m.events_in, 1);
    }
    p->next_offset = m->offset + 1;
    p->events_since++;
}

static void release_part(struct worker *w, struct dpart *p, int lost)
{
    struct spc_detect *d = w->d;
    int64_t end = spc_now_mono_ms() + d->r->o.shutdown_ms;
    size_t i;

    while (!lost && !p->fenced && spc_now_mono_ms() < end) {
        spc_err_t e;

        w->backoff_until = 0;
        e = checkpoint(w, p);
        if (e == SPC_OK || e == SPC_ERR_FENCED || e == SPC_ERR_FATAL)
            break;
        struct timespec ts = {0, 200 * 1000000L};
        nanosleep(&ts, NULL);
    }
    wait_delivered(d, p, d->r->o.shutdown_ms); /* no dangling opaques */
    for (i = 0; i < w->nparts; i++)
        if (w->parts[i] == p) {
            w->parts[i] = w->parts[--w->nparts];
            break;
        }
    spc_engine_destroy(p->eng);
    p->eng = NULL;
    atomic_fetch_sub(&d->r->m.partitions, 1);
    pthread_mutex_lock(&d->mu);
    p->released = 1;
    pthread_cond_broadcast(&d->cv);
    pthread_mutex_unlock(&d->mu);
}

static void cadence(struct worker *w)
{
    const struct spc_run_opts *o = &w->d->r->o;
    int64_t now = spc_now_mono_ms();
    size_t i;

    for (i = 0; i < w->nparts; i++) {
        struct dpart *p = w->parts[i];

        if (p->next_offset != p->ckpt_offset &&
            (p->events_since >= o->checkpoint_events ||
             now - p->last_ckpt_ms >= o->checkpoint_ms))
            (void)checkpoint(w, p);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct item it;
    int64_t last = spc_now_mono_ms();

    for (;;) {
        if (q_pop(&w->q, &it, 100)) {
            if (it.kind == IT_STOP)
                break;
            if (it.kind == IT_MSG) {
                process_msg(w, it.msg);
                rd_kafka_message_destroy(it.msg);
            } else if (it.kind == IT_TAKE) {
                if (w->nparts == w->cap) {
                    size_t cap = w->cap ? w->cap * 2 : 8;
                    struct dpart **np =
                        spc_realloc(w->parts, cap * sizeof(*np));

                    if (!np) {
                        spc_run_stop(w->d->r, 1);
                        continue;
                    }
                    w->parts = np;
                    w->cap = cap;
                }
                w->parts[w->nparts++] = it.part;
            } else {
                release_part(w, it.part, it.lost);
            }
        }
        if (spc_now_mono_ms() - last >= 100) {
            cadence(w);
            last = spc_now_mono_ms();
        }
    }
    return NULL;
}

/* ---- poll thread: assignment ---- */

static int import_cb(const char *key, size_t klen, const void *blob, size_t len,
                     void *opaque)
{
    struct spc_engine *e = opaque;
    char err[256];

    if (spc_codec_import(e, blob, len, err, sizeof(err)) != SPC_OK)
        spc_log(SPC_LOG_WARN,
                "detect: state of %.*s not restored (%s): it starts over",
                (int)(klen > 200 ? 200 : klen), key, err);
    return 0;
}

/* Fence and load partition @p tp; retries while Redis is unavailable.
 * @returns the new part, NULL when stopping. */
static struct dpart *load_part(struct spc_detect *d, int32_t partition,
                               int64_t *offset)
{
    struct dpart *p = spc_calloc(1, sizeof(*p));
    char err[512];
    long backoff = 200;
    spc_err_t e;

    if (!p)
        return NULL;
    p->partition = partition;
    while (spc_running(d->r)) {
        spc_engine_destroy(p->eng);
        p->eng = spc_engine_new(d->r->cfg, err, sizeof(err));
        if (!p->eng)
            break;
        e = spc_ckpt_connected(d->ckpt)
                ? SPC_OK
                : spc_ckpt_reconnect(d->ckpt, err, sizeof(err));
        if (!e)
            e = spc_ckpt_fence(d->ckpt, d->scope, partition, &p->token, err,
                               sizeof(err));
        if (!e)
            e = spc_ckpt_load(d->ckpt, d->scope, partition, offset, import_cb,
                              p->eng, err, sizeof(err));
        if (!e) {
            p->next_offset = p->ckpt_offset = *offset >= 0 ? *offset : 0;
            p->last_ckpt_ms = spc_now_mono_ms();
            spc_engine_clear_dirty(p->eng);
            return p;
        }
        if (e != SPC_ERR_TRANSIENT) {
            spc_log(SPC_LOG_ERROR, "detect: partition %d: %s", (int)partition,
                    err);
            spc_run_stop(d->r, 1);
            break;
        }
        spc_log_limited(SPC_LOG_WARN, "detect-load",
                        "detect: partition %d: Redis unavailable (%s), "
                        "retrying",
                        (int)partition, err);
        spc_run_sleep(d->r, backoff);
        backoff = SPC_MIN(backoff * 2, 5000);
    }
    spc_engine_destroy(p->eng);
    free(p);
    return NULL;
}

static void assign(struct spc_detect *d, rd_kafka_topic_partition_list_t *ps)
{
    int i;

    for (i = 0; i < ps->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &ps->elems[i];
        int64_t off = -1;
        struct dpart *p = load_part(d, tp->partition, &off);
        struct item it = {IT_TAKE, NULL, NULL, 0};

        if (!p) {
            tp->offset = RD_KAFKA_OFFSET_INVALID;
            continue;
        }
        if (tp->partition >= d->cap_p) {
            int32_t cap = tp->partition + 16;
            struct dpart **n = spc_realloc(d->by_p, cap * sizeof(*n));

            if (!n) {
                spc_run_stop(d->r, 1);
                return;
            }
            memset(n + d->cap_p, 0, (cap - d->cap_p) * sizeof(*n));
            d->by_p = n;
            d->cap_p = cap;
        }
        d->by_p[tp->partition] = p;
        p->w = &d->w[tp->partition % d->nw];
        it.part = p;
        q_push(&p->w->q, &it);
        /* resume exactly after the checkpoint; nothing stored: from the
         * beginning, so the state is rebuilt */
        tp->offset = off >= 0 ? off : RD_KAFKA_OFFSET_BEGINNING;
        atomic_fetch_add(&d->r->m.partitions, 1);
        spc_log(SPC_LOG_INFO,
                "detect: partition %d assigned (token %llu), from offset "
                "%lld",
                (int)tp->partition, (unsigned long long)p->token,
                (long long)(off >= 0 ? off : 0));
    }
}

static void revoke(struct spc_detect *d, int lost)
{
    int32_t i;

    for (i = 0; i < d->cap_p; i++) {
        struct item it = {IT_RELEASE, NULL, d->by_p[i], lost};

        if (d->by_p[i])
            q_push(&d->by_p[i]->w->q, &it);
    }
    pthread_mutex_lock(&d->mu);
    for (i = 0; i < d->cap_p; i++) {
        while (d->by_p[i] && !d->by_p[i]->released)
            pthread_cond_wait(&d->cv, &d->mu);
    }
    pthread_mutex_unlock(&d->mu);
    for (i = 0; i < d->cap_p; i++) {
        free(d->by_p[i]);
        d->by_p[i] = NULL;
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct spc_detect *d = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign(d, parts);
        rd_kafka_assign(rk, parts); /* with the checkpointed offsets */
        return;
    }
    revoke(d, rd_kafka_assignment_lost(rk));
    rd_kafka_assign(rk, NULL);
}

static void update_lag(struct spc_detect *d)
{
    rd_kafka_topic_partition_list_t *a = NULL;
    long lag = 0;
    int i;

    if (rd_kafka_assignment(d->consumer, &a) || !a)
        return;
    rd_kafka_position(d->consumer, a);
    for (i = 0; i < a->cnt; i++) {
        int64_t lo, hi;

        if (a->elems[i].offset >= 0 &&
            !rd_kafka_get_watermark_offsets(d->consumer, a->elems[i].topic,
                                            a->elems[i].partition, &lo, &hi) &&
            hi > a->elems[i].offset)
            lag += (long)(hi - a->elems[i].offset);
    }
    atomic_store(&d->r->m.lag, lag);
    rd_kafka_topic_partition_list_destroy(a);
}

static void *poll_main(void *arg)
{
    struct spc_detect *d = arg;
    int64_t last = spc_now_mono_ms();

    while (spc_running(d->r)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(d->consumer, 100);

        if (spc_now_mono_ms() - last > 2000) {
            update_lag(d);
            rd_kafka_commit(d->consumer, NULL, 1); /* stored offsets, async */
            last = spc_now_mono_ms();
        }
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                spc_log_limited(SPC_LOG_WARN, "detect-consume",
                                "detect: consume: %s",
                                rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        if (m->partition < d->cap_p && d->by_p[m->partition]) {
            struct item it = {IT_MSG, m, NULL, 0};

            q_push(&d->by_p[m->partition]->w->q, &it);
        } else {
            rd_kafka_message_destroy(m);
        }
    }
    rd_kafka_consumer_close(d->consumer); /* revoke: checkpoints */
    return NULL;
}

static void detect_free(struct spc_detect *d)
{
    int i;

    for (i = 0; d->w && i < d->nw; i++) {
        q_fini(&d->w[i].q);
        spc_ckpt_destroy(d->w[i].ckpt);
        spc_avro_destroy(d->w[i].avro);
        spc_arena_fini(&d->w[i].strings);
        spc_buf_fini(&d->w[i].out);
        spc_buf_fini(&d->w[i].key);
        free(d->w[i].parts);
    }
    free(d->w);
    if (d->consumer)
        rd_kafka_destroy(d->consumer);
    if (d->producer)
        rd_kafka_destroy(d->producer);
    spc_ckpt_destroy(d->ckpt);
    free(d->by_p);
    pthread_mutex_destroy(&d->mu);
    pthread_cond_destroy(&d->cv);
    free(d);
}

static int make_workers(struct spc_detect *d, char *err, size_t n)
{
    struct spc_avro_opts ao;
    int i;

    memset(&ao, 0, sizeof(ao));
    ao.registry_url = d->r->o.registry_url;
    ao.registry_user = d->r->o.registry_user;
    ao.registry_password = d->r->o.registry_password;
    ao.timeout_ms = 10000;
    d->nw = d->r->o.workers;
    d->w = spc_calloc((size_t)d->nw, sizeof(*d->w));
    if (!d->w)
        return -1;
    for (i = 0; i < d->nw; i++) {
        struct worker *w = &d->w[i];

        w->d = d;
        q_init(&w->q);
        spc_arena_init(&w->strings, 4096);
        spc_buf_init(&w->out);
        spc_buf_init(&w->key);
        w->avro = spc_avro_new(&ao, n ? err : NULL, n);
        w->ckpt = spc_ckpt_new(&d->r->redis, err, n);
        if (!w->avro || !w->ckpt)
            return -1;
    }
    return 0;
}

struct spc_detect *spc_detect_start(struct spc_run *r)
{
    struct spc_detect *d = spc_calloc(1, sizeof(*d));
    rd_kafka_conf_t *conf;
    rd_kafka_topic_partition_list_t *topics;
    char err[512] = "out of memory", group[256];
    int i;

    if (!d)
        return NULL;
    d->r = r;
    pthread_mutex_init(&d->mu, NULL);
    pthread_cond_init(&d->cv, NULL);
    snprintf(d->scope, sizeof(d->scope), "%s:detect:%s", r->o.group,
             r->o.topics.measurements);
    snprintf(group, sizeof(group), "%s-detect", r->o.group);
    d->ckpt = spc_ckpt_new(&r->redis, err, sizeof(err));
    if (!d->ckpt || make_workers(d, err, sizeof(err)))
        goto fail;
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, d);
    d->producer = spc_kafka_client(&r->o, SPC_ROLE_PRODUCER, NULL, NULL, conf,
                                   err, sizeof(err));
    if (!d->producer)
        goto fail;
    d->anom_parts =
        spc_kafka_partition_count(d->producer, r->o.topics.anomalies, 10000);
    if (d->anom_parts <= 0) {
        snprintf(err, sizeof(err), "topic %s: no metadata",
                 r->o.topics.anomalies);
        goto fail;
    }
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, d);
    d->consumer = spc_kafka_client(&r->o, SPC_ROLE_CONSUMER, group, NULL, conf,
                                   err, sizeof(err));
    if (!d->consumer)
        goto fail;
    topics = rd_kafka_topic_partition_list_new(1);
    rd_kafka_topic_partition_list_add(topics, r->o.topics.measurements,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(d->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    for (i = 0; i < d->nw; i++)
        if (pthread_create(&d->w[i].th, NULL, worker_main, &d->w[i]) != 0)
            goto fail_threads;
    pthread_create(&d->dr_th, NULL, dr_main, d);
    pthread_create(&d->poll_th, NULL, poll_main, d);
    spc_log(SPC_LOG_INFO,
            "detect: %s -> %s, %d workers, checkpoints in "
            "Redis scope %s",
            r->o.topics.measurements, r->o.topics.anomalies, d->nw, d->scope);
    return d;
fail_threads:
    snprintf(err, sizeof(err), "cannot start threads");
fail:
    spc_log(SPC_LOG_ERROR, "detect: %s", err);
    detect_free(d);
    return NULL;
}

void spc_detect_join(struct spc_detect *d)
{
    struct item stop = {IT_STOP, NULL, NULL, 0};
    int i;

    pthread_join(d->poll_th, NULL); /* closes the consumer: checkpoints */
    for (i = 0; i < d->nw; i++)
        q_push(&d->w[i].q, &stop);
    for (i = 0; i < d->nw; i++)
        pthread_join(d->w[i].th, NULL);
    rd_kafka_flush(d->producer, (int)d->r->o.shutdown_ms);
    atomic_store(&d->dr_stop, 1);
    pthread_join(d->dr_th, NULL);
    detect_free(d);
}
