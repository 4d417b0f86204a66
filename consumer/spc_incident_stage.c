/*
 * spc_incident_stage.c -- stage INCIDENT: spc.anomalies + spc.incident-actions
 * -> spc.incidents, with the incident tables checkpointed in Redis and LLM
 * advice for qualifying incidents.
 *
 * DATA FLOW: anomalies (partitioned by test plan) and operator actions
 *   (keyed by test plan, so co-partitioned: same partition count, same
 *   partitioner) are consumed by one group; the range assignor gives
 *   partition p of both topics to the same member.  Per partition: an
 *   incident table.  anomaly -> spc_incidents_add -> revisions ->
 *   spc.incidents (key incident id, compacted).  action -> ack / resolve /
 *   note -> revision; re-baseline -> control records to every partition of
 *   spc.measurements (header spc-control), which DETECT applies in order.
 *   LLM: a qualifying revision queues a request (spc_llm thread); the reply
 *   is handed back through a locked list and applied on this thread.
 * STATE: per partition, the incidents (versioned JSON blobs, changed ones
 *   only) plus the next anomaly offset (the checkpoint's offset) and the
 *   next action offset (a pseudo key), in one fenced Lua write, after every
 *   revision produced so far was acknowledged.  Trimmed incidents are
 *   deleted from Redis after the write.
 * THREADING: one thread does everything (the anomaly rate is orders of
 *   magnitude below the measurement rate); delivery reports are served by
 *   rd_kafka_poll on this thread.  The LLM advisor has its own thread.
 * DETERMINISM: anomalies alone give the same incidents and ids on replay;
 *   the interleaving with actions and LLM replies is not replayed exactly
 *   (a revision count may differ after a crash, ids and grouping do not).
 * FAILURE MODES: malformed anomaly or action -> DLQ; Redis down ->
 *   checkpoints retried with backoff; fenced -> the partition's table is
 *   dropped; fatal Kafka/Redis errors -> stop, exit 1.
 */
#include "spc_avro.h"
#include "spc_incident.h"
#include "spc_llm.h"
#include "spc_log.h"
#include "spc_run.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* Pseudo keys in a partition's checkpoint: the action offset, and the
 * input-order state (watermarks, last released, held anomalies). */
#define ACT_KEY                                                                \
    "\x01"                                                                     \
    "actions-offset"
#define REORDER_KEY                                                            \
    "\x01"                                                                     \
    "reorder"
#define REORDER_MAGIC 0x31524353u /* "SCR1" */

/* An anomaly waiting until every DETECT partition has passed its place in
 * the input (watermark). */
struct held {
    struct spc_pos pos;
    char id[33];
    void *data;
    size_t len;
    int64_t since_ms; /* arrival (monotonic), for the stalled-source rule */
};

/* Per wats.reports partition r: how far each measurement partition has
 * been processed, and the last anomaly released (older ones are repeats). */
struct rstate {
    int32_t r;
    int64_t *wm; /* [meas_parts]: reports of r below this offset are done */
    struct spc_pos last;
    char last_id[33];
    int have_last;
};

struct ipart {
    int32_t partition;
    struct spc_incidents *tab;
    uint64_t token;
    int64_t anom_next, anom_ckpt; /* next offset of anomalies[p] */
    int64_t act_next, act_ckpt;   /* next offset of actions[p] */
    long since;
    int64_t last_ckpt_ms;
    long inflight; /* revisions not yet acknowledged */
    int delivery_failed, fenced, full_export;
    char **drops; /* trimmed incident ids to delete from Redis */
    size_t n_drops, cap_drops;
    struct held *held;
    size_t n_held, cap_held;
    struct rstate *rs;
    size_t n_rs;
    int reorder_dirty;
    struct spc_incident_stage *s;
};

struct reply {
    struct reply *next;
    char id[33];
    struct spc_advice adv;
};

struct spc_incident_stage {
    struct spc_run *r;
    rd_kafka_t *consumer, *producer;
    pthread_t th;
    struct spc_ckpt *ckpt;
    struct spc_avro *avro;
    struct spc_incident_opts iopts;
    struct spc_llm_opts lopts;
    struct spc_llm *llm;
    char scope[256];
    struct ipart **by_p; /* index = partition */
    int32_t cap_p;
    struct ipart *cur; /* partition being processed (sinks) */
    int32_t meas_parts;
    int64_t *tick_ms; /* [meas_parts]: last tick seen from each (monotonic) */
    long hold_ms;     /* a source silent this long no longer holds back */
    struct spc_buf out, facts, ctl;
    struct spc_arena strings;
    pthread_mutex_t mu; /* replies */
    struct reply *replies;
    int64_t last_flush_ms, backoff_until;
};

/* ---- output ---- */

static void dr_cb(rd_kafka_t *rk, const rd_kafka_message_t *m, void *opaque)
{
    struct ipart *p = m->_private;

    (void)rk;
    (void)opaque;
    if (!p)
        return;
    if (m->err) {
        p->delivery_failed = 1;
        spc_log_limited(SPC_LOG_ERROR, "incident-delivery",
                        "incident: output not delivered: %s",
                        rd_kafka_err2str(m->err));
    }
    p->inflight--;
}

static int produce(struct spc_incident_stage *s, struct ipart *p,
                   const char *topic, int32_t partition, const void *key,
                   size_t klen, const void *val, size_t vlen, const char *hname,
                   const char *hval)
{
    rd_kafka_resp_err_t e;

    if (p)
        p->inflight++;
    for (;;) {
        e = rd_kafka_producev(s->producer, RD_KAFKA_V_TOPIC(topic),
                              RD_KAFKA_V_PARTITION(partition),
                              RD_KAFKA_V_MSGFLAGS(RD_KAFKA_MSG_F_COPY),
                              RD_KAFKA_V_KEY(key, klen),
                              RD_KAFKA_V_VALUE((void *)val, vlen),
                              RD_KAFKA_V_HEADER(hname, hval, -1),
                              RD_KAFKA_V_OPAQUE(p), RD_KAFKA_V_END);
        if (e != RD_KAFKA_RESP_ERR__QUEUE_FULL)
            break;
        rd_kafka_poll(s->producer, 10);
    }
    if (e) {
        if (p)
            p->inflight--;
        spc_log(SPC_LOG_ERROR, "incident: produce to %s: %s", topic,
                rd_kafka_err2str(e));
        spc_run_stop(s->r, 1);
        return -1;
    }
    return 0;
}

static void emit_incident(const struct spc_incident *inc, void *opaque)
{
    struct spc_incident_stage *s = opaque;
    const char *topic = s->r->o.topics.incidents;
    char err[256];

    spc_buf_reset(&s->out);
    if (s->r->o.incident_format == SPC_OUT_JSON) {
        spc_incident_to_json(inc, &s->out);
    } else if (spc_avro_encode_incident(s->avro, topic, inc, &s->out, err,
                                        sizeof(err)) != SPC_OK) {
        spc_log(SPC_LOG_ERROR, "incident: encode: %s", err);
        spc_run_stop(s->r, 1);
        return;
    }
    if (!spc_buf_ok(&s->out)) {
        spc_log(SPC_LOG_ERROR, "incident: out of memory");
        spc_run_stop(s->r, 1);
        return;
    }
    if (produce(s, s->cur, topic, RD_KAFKA_PARTITION_UA, inc->id, 32,
                s->out.data, s->out.len, "incident-state",
                spc_inc_state_name(inc->state)) == 0)
        atomic_fetch_add(&s->r->m.incidents, 1);
    if (inc->revision == 1 || inc->state == SPC_INC_RESOLVED) {
        spc_buf_reset(&s->out);
        spc_incident_render_line(inc, &s->out);
        spc_log(SPC_LOG_INFO, "incident %.12s rev %u: %s", inc->id,
                inc->revision, s->out.data ? s->out.data : "");
    }
}

static int llm_request(const struct spc_incident *inc, void *opaque)
{
    struct spc_incident_stage *s = opaque;
    spc_err_t e;

    if (!s->llm ||
        !spc_llm_qualifies(&s->lopts, inc->pattern, (int)inc->severity))
        return 0;
    spc_buf_reset(&s->facts);
    spc_incident_facts_json(inc, &s->facts);
    if (!spc_buf_ok(&s->facts))
        return 0;
    e = spc_llm_submit(s->llm, inc->id, inc->revision, s->facts.data);
    if (e)
        spc_log_limited(SPC_LOG_WARN, "incident-llm",
                        "incident %.12s: no LLM advice requested (%s): the "
                        "rule advice stands",
                        inc->id, spc_err2str(e));
    return e == SPC_OK;
}

/* @locality llm thread (and the caller of spc_llm_new) */
static void llm_log(int level, const char *msg, void *opaque)
{
    (void)opaque;
    spc_log(level >= SPC_LLM_LOG_WARN   ? SPC_LOG_WARN
            : level == SPC_LLM_LOG_INFO ? SPC_LOG_INFO
                                        : SPC_LOG_DEBUG,
            "llm: %s", msg);
}

/* @locality llm thread */
static void llm_reply(const char *id, uint32_t revision,
                      const struct spc_advice *adv, const char *error,
                      void *opaque)
{
    struct spc_incident_stage *s = opaque;
    struct reply *r;

    (void)revision;
    if (!adv) {
        spc_log_limited(SPC_LOG_WARN, "incident-llm-reply",
                        "incident %.12s: LLM advice failed (%s): the rule "
                        "advice stands",
                        id, error ? error : "?");
        return;
    }
    r = spc_calloc(1, sizeof(*r));
    if (!r || spc_advice_copy(&r->adv, adv) != SPC_OK) {
        free(r);
        return;
    }
    snprintf(r->id, sizeof(r->id), "%s", id);
    pthread_mutex_lock(&s->mu);
    r->next = s->replies;
    s->replies = r;
    pthread_mutex_unlock(&s->mu);
}

static void apply_replies(struct spc_incident_stage *s)
{
    struct reply *list, *r;
    int32_t i;

    pthread_mutex_lock(&s->mu);
    list = s->replies;
    s->replies = NULL;
    pthread_mutex_unlock(&s->mu);
    while ((r = list)) {
        list = r->next;
        for (i = 0; i < s->cap_p; i++) {
            struct ipart *p = s->by_p[i];
            spc_err_t e;

            if (!p || p->fenced)
                continue;
            s->cur = p;
            e = spc_incidents_apply_llm(p->tab, r->id, &r->adv);
            if (e == SPC_OK)
                break;
            if (e == SPC_ERR_NOMEM)
                spc_run_stop(s->r, 1);
        }
        spc_advice_fini(&r->adv);
        free(r);
    }
}

static void on_drop(const char *id, void *opaque)
{
    struct ipart *p = opaque;

    if (p->n_drops == p->cap_drops) {
        size_t cap = p->cap_drops ? p->cap_drops * 2 : 16;
        char **n = spc_realloc(p->drops, cap * sizeof(*n));

        if (!n)
            return; /* stays in Redis; trimmed again after a reload */
        p->drops = n;
        p->cap_drops = cap;
    }
    if ((p->drops[p->n_drops] = spc_strdup(id)))
        p->n_drops++;
}

static struct rstate *rs_get(struct spc_incident_stage *s, struct ipart *p,
                             int32_t r)
{
    struct rstate *n;
    size_t i;
    int32_t m;

    for (i = 0; i < p->n_rs; i++)
        if (p->rs[i].r == r)
            return &p->rs[i];
    n = spc_realloc(p->rs, (p->n_rs + 1) * sizeof(*n));
    if (!n)
        return NULL;
    p->rs = n;
    n = &p->rs[p->n_rs];
    memset(n, 0, sizeof(*n));
    n->r = r;
    n->wm = spc_calloc((size_t)s->meas_parts, sizeof(*n->wm));
    if (!n->wm)
        return NULL;
    for (m = 0; m < s->meas_parts; m++)
        n->wm[m] = -1;
    p->n_rs++;
    return n;
}

/* ---- checkpoints ---- */

static void reorder_export(const struct spc_incident_stage *s,
                           const struct ipart *p, struct spc_buf *b)
{
    size_t i;
    int32_t m;

    spc_buf_u32(b, REORDER_MAGIC);
    spc_buf_u32(b, (uint32_t)s->meas_parts);
    spc_buf_u32(b, (uint32_t)p->n_rs);
    for (i = 0; i < p->n_rs; i++) {
        const struct rstate *rs = &p->rs[i];

        spc_buf_u32(b, (uint32_t)rs->r);
        spc_buf_u32(b, (uint32_t)rs->have_last);
        spc_buf_u64(b, (uint64_t)rs->last.o);
        spc_buf_u32(b, rs->last.i);
        spc_buf_append(b, rs->last_id, 32);
        for (m = 0; m < s->meas_parts; m++)
            spc_buf_u64(b, (uint64_t)rs->wm[m]);
    }
    spc_buf_u32(b, (uint32_t)p->n_held);
    for (i = 0; i < p->n_held; i++) {
        const struct held *h = &p->held[i];

        spc_buf_u32(b, (uint32_t)h->pos.r);
        spc_buf_u64(b, (uint64_t)h->pos.o);
        spc_buf_u32(b, h->pos.i);
        spc_buf_append(b, h->id, 32);
        spc_buf_u32(b, (uint32_t)h->len);
        spc_buf_append(b, h->data, h->len);
    }
}

static const void *rd_bytes(struct spc_rd *rd, size_t n)
{
    const void *v = rd->p;

    if (rd->err || (size_t)(rd->end - rd->p) < n) {
        rd->err = 1;
        return NULL;
    }
    rd->p += n;
    return v;
}

/* @returns 0, -1 on malformed or OOM (then the state starts empty). */
static int reorder_import(struct spc_incident_stage *s, struct ipart *p,
                          const void *blob, size_t len)
{
    struct spc_rd rd;
    uint32_t parts, nrs, nh, i, m;

    spc_rd_init(&rd, blob, len);
    if (spc_rd_u32(&rd) != REORDER_MAGIC)
        return -1;
    parts = spc_rd_u32(&rd);
    nrs = spc_rd_u32(&rd);
    for (i = 0; i < nrs && !rd.err; i++) {
        int32_t r = (int32_t)spc_rd_u32(&rd);
        struct rstate *rs = rs_get(s, p, r);
        const void *id;

        if (!rs)
            return -1;
        rs->have_last = (int)spc_rd_u32(&rd);
        rs->last.r = r;
        rs->last.o = (int64_t)spc_rd_u64(&rd);
        rs->last.i = spc_rd_u32(&rd);
        id = rd_bytes(&rd, 32);
        if (id)
            memcpy(rs->last_id, id, 32);
        rs->last_id[32] = '\0';
        for (m = 0; m < parts; m++) {
            int64_t w = (int64_t)spc_rd_u64(&rd);

            if ((int32_t)m < s->meas_parts)
                rs->wm[m] = w;
        }
    }
    nh = spc_rd_u32(&rd);
    for (i = 0; i < nh && !rd.err; i++) {
        struct held h;
        const void *id, *data;

        memset(&h, 0, sizeof(h));
        h.pos.r = (int32_t)spc_rd_u32(&rd);
        h.pos.o = (int64_t)spc_rd_u64(&rd);
        h.pos.i = spc_rd_u32(&rd);
        id = rd_bytes(&rd, 32);
        h.len = spc_rd_u32(&rd);
        data = rd_bytes(&rd, h.len);
        if (!id || !data)
            return -1;
        memcpy(h.id, id, 32);
        h.since_ms = spc_now_mono_ms();
        if (p->n_held == p->cap_held) {
            size_t cap = p->cap_held ? p->cap_held * 2 : 64;
            struct held *n = spc_realloc(p->held, cap * sizeof(*n));

            if (!n)
                return -1;
            p->held = n;
            p->cap_held = cap;
        }
        if (!(h.data = spc_malloc(h.len ? h.len : 1)))
            return -1;
        memcpy(h.data, data, h.len);
        p->held[p->n_held++] = h;
    }
    return !rd.err ? 0 : -1;
}

static int wait_delivered(struct spc_incident_stage *s, struct ipart *p,
                          long ms)
{
    int64_t end = spc_now_mono_ms() + ms;

    while (p->inflight > 0 && spc_now_mono_ms() < end)
        rd_kafka_poll(s->producer, 50);
    return p->inflight == 0;
}

struct items {
    struct spc_ckpt_item *v;
    size_t n, cap;
    struct spc_arena mem;
};

static int collect(const char *key, const void *blob, size_t len, void *opaque)
{
    struct items *it = opaque;
    size_t klen = strlen(key);
    char *k, *b;

    if (it->n == it->cap) {
        size_t cap = it->cap ? it->cap * 2 : 64;
        struct spc_ckpt_item *v = spc_realloc(it->v, cap * sizeof(*v));

        if (!v)
            return -1;
        it->v = v;
        it->cap = cap;
    }
    k = spc_arena_alloc(&it->mem, klen + 1);
    b = spc_arena_alloc(&it->mem, len ? len : 1);
    if (!k || !b)
        return -1;
    memcpy(k, key, klen + 1);
    memcpy(b, blob, len);
    it->v[it->n].key = k;
    it->v[it->n].key_len = klen;
    it->v[it->n].blob = b;
    it->v[it->n].len = len;
    it->n++;
    return 0;
}

static void drops_clear(struct ipart *p)
{
    size_t i;

    for (i = 0; i < p->n_drops; i++)
        free(p->drops[i]);
    p->n_drops = 0;
}

/* @returns SPC_OK, SPC_ERR_TRANSIENT (later), SPC_ERR_FENCED, fatal. */
static spc_err_t checkpoint(struct spc_incident_stage *s, struct ipart *p)
{
    struct items it = {NULL, 0, 0, {0}};
    char err[512], off[32];
    spc_err_t e;
    size_t i;

    if (p->fenced)
        return SPC_ERR_FENCED;
    if (p->anom_next == p->anom_ckpt && p->act_next == p->act_ckpt &&
        !p->n_drops)
        return SPC_OK;
    if (spc_now_mono_ms() < s->backoff_until)
        return SPC_ERR_TRANSIENT;
    if (!wait_delivered(s, p, 10000))
        return SPC_ERR_TRANSIENT; /* outputs first, then the checkpoint */
    if (p->delivery_failed) {
        spc_run_stop(s->r, 1);
        return SPC_ERR_FATAL;
    }
    spc_arena_init(&it.mem, 1 << 14);
    e = spc_incidents_export(p->tab, !p->full_export, collect, &it);
    snprintf(off, sizeof(off), "%lld", (long long)p->act_next);
    if (!e && collect(ACT_KEY, off, strlen(off), &it))
        e = SPC_ERR_NOMEM;
    if (!e && (p->reorder_dirty || p->full_export)) {
        spc_buf_reset(&s->ctl);
        reorder_export(s, p, &s->ctl);
        if (!spc_buf_ok(&s->ctl) ||
            collect(REORDER_KEY, s->ctl.data, s->ctl.len, &it))
            e = SPC_ERR_NOMEM;
    }
    if (e)
        goto out;
    /* the export cleared the dirty flags: until a write succeeds, every
     * incident is written */
    p->full_export = 1;
    if (!spc_ckpt_connected(s->ckpt) &&
        (e = spc_ckpt_reconnect(s->ckpt, err, sizeof(err))))
        goto fail;
    e = spc_ckpt_write(s->ckpt, s->scope, p->partition, p->token, p->anom_next,
                       it.v, it.n, err, sizeof(err));
    if (e)
        goto fail;
    p->full_export = 0;
    p->reorder_dirty = 0;
    if (p->n_drops) {
        struct spc_ckpt_item *k = spc_calloc(p->n_drops, sizeof(*k));

        for (i = 0; k && i < p->n_drops; i++) {
            k[i].key = p->drops[i];
            k[i].key_len = strlen(p->drops[i]);
        }
        if (k &&
            spc_ckpt_delete_keys(s->ckpt, s->scope, p->partition, p->token, -1,
                                 k, p->n_drops, err, sizeof(err)) == SPC_OK)
            drops_clear(p);
        free(k);
    }
    p->anom_ckpt = p->anom_next;
    p->act_ckpt = p->act_next;
    p->since = 0;
    p->last_ckpt_ms = spc_now_mono_ms();
    s->backoff_until = 0;
    atomic_fetch_add(&s->r->m.checkpoints, 1);
    atomic_store(&s->r->m.last_checkpoint_ms, p->last_ckpt_ms);
    goto out;
fail:
    atomic_fetch_add(&s->r->m.checkpoint_errors, 1);
    if (e == SPC_ERR_FENCED) {
        p->fenced = 1;
        spc_log(SPC_LOG_WARN,
                "incident: partition %d: fenced by a newer owner, dropping "
                "its incidents",
                (int)p->partition);
    } else if (e == SPC_ERR_TRANSIENT) {
        s->backoff_until = spc_now_mono_ms() + 1000;
        spc_log_limited(SPC_LOG_WARN, "incident-ckpt",
                        "incident: checkpoint of partition %d deferred: %s",
                        (int)p->partition, err);
    } else {
        spc_log(SPC_LOG_ERROR, "incident: checkpoint: %s", err);
        spc_run_stop(s->r, 1);
    }
out:
    free(it.v);
    spc_arena_fini(&it.mem);
    return e;
}

/* ---- input ---- */

static void to_dlq(struct spc_incident_stage *s, const rd_kafka_message_t *m,
                   const char *err)
{
    atomic_fetch_add(&s->r->m.dlq, 1);
    spc_log_limited(SPC_LOG_WARN, "incident-dlq",
                    "incident: %s [%d] offset %lld -> DLQ: %s",
                    rd_kafka_topic_name(m->rkt), (int)m->partition,
                    (long long)m->offset, err);
    if (spc_kafka_dlq(s->producer, s->r->o.topics.dlq, "incident", err, m))
        spc_log(SPC_LOG_ERROR, "incident: cannot write to the DLQ");
}

/* Decode an anomaly record.  Strings point into the arena or *root. */
static spc_err_t decode_anomaly(struct spc_incident_stage *s, const void *data,
                                size_t len, struct spc_anomaly *a,
                                json_t **root, char *err, size_t n)
{
    json_error_t jerr;

    *root = NULL;
    spc_arena_reset(&s->strings);
    if (s->r->o.format == SPC_OUT_JSON) {
        *root = json_loadb(data, len, 0, &jerr);
        if (!*root) {
            snprintf(err, n, "not JSON: %s (offset %d)", jerr.text,
                     jerr.position);
            return SPC_ERR_PARSE;
        }
        return spc_anomaly_from_json(*root, &s->r->cfg->dims, a, err, n);
    }
    return spc_avro_decode_anomaly(s->avro, data, len, &s->r->cfg->dims, a,
                                   &s->strings, err, n);
}

static void add_anomaly(struct spc_incident_stage *s, struct ipart *p,
                        const void *data, size_t len)
{
    struct spc_anomaly a;
    json_t *root;
    char err[256];

    if (decode_anomaly(s, data, len, &a, &root, err, sizeof(err)) != SPC_OK)
        spc_log_limited(SPC_LOG_WARN, "incident-decode",
                        "incident: held anomaly no longer decodes: %s", err);
    else if (spc_incidents_add(p->tab, &a) != SPC_OK) {
        spc_log(SPC_LOG_ERROR, "incident: out of memory");
        spc_run_stop(s->r, 1);
    }
    json_decref(root);
}

/* ---- input order (watermarks) ---- */

static int pos_cmp(const struct spc_pos *a, const char *aid,
                   const struct spc_pos *b, const char *bid)
{
    if (a->r != b->r)
        return a->r < b->r ? -1 : 1;
    if (a->o != b->o)
        return a->o < b->o ? -1 : 1;
    /* within a report by id (replay sorts a report's anomalies the same
     * way; the event index is not needed) */
    return strcmp(aid, bid);
}

static int held_cmp(const void *x, const void *y)
{
    const struct held *a = x, *b = y;

    return pos_cmp(&a->pos, a->id, &b->pos, b->id);
}

/* May @p h go?  Every measurement partition has passed its report, or the
 * ones that have not are silent (stopped, or fed by a producer that sends
 * no ticks) for hold_ms. */
static int releasable(const struct spc_incident_stage *s,
                      const struct rstate *rs, const struct held *h,
                      int64_t now)
{
    int32_t m;

    for (m = 0; m < s->meas_parts; m++)
        if (rs->wm[m] <= h->pos.o && (now - h->since_ms < s->hold_ms ||
                                      now - s->tick_ms[m] < s->hold_ms))
            return 0;
    return 1;
}

/* Process the held anomalies whose turn has come, in input order. */
static void release(struct spc_incident_stage *s, struct ipart *p)
{
    int64_t now = spc_now_mono_ms();
    size_t i, j, n = 0;
    int blocked = 0;
    int32_t blocked_r = 0;

    if (!p->n_held)
        return;
    qsort(p->held, p->n_held, sizeof(*p->held), held_cmp);
    for (i = j = 0; i < p->n_held; i++) {
        struct held *h = &p->held[i];
        struct rstate *rs;

        if (blocked && h->pos.r == blocked_r) {
            p->held[j++] = *h; /* after a waiting one of its partition */
            continue;
        }
        if (!(rs = rs_get(s, p, h->pos.r))) {
            spc_run_stop(s->r, 1);
            p->held[j++] = *h;
            continue;
        }
        if (!releasable(s, rs, h, now)) {
            blocked = 1;
            blocked_r = h->pos.r;
            p->held[j++] = *h;
            continue;
        }
        add_anomaly(s, p, h->data, h->len);
        rs->last = h->pos;
        memcpy(rs->last_id, h->id, sizeof(rs->last_id));
        rs->have_last = 1;
        free(h->data);
        n++;
    }
    p->n_held = j;
    if (n)
        p->reorder_dirty = 1;
}

static void on_anomaly(struct spc_incident_stage *s, struct ipart *p,
                       const rd_kafka_message_t *m)
{
    struct spc_anomaly a;
    struct spc_pos pos;
    struct rstate *rs;
    struct held *h;
    json_t *root;
    const void *pv;
    size_t plen;
    char err[256];
    size_t i;

    if (decode_anomaly(s, m->payload, m->len, &a, &root, err, sizeof(err))) {
        to_dlq(s, m, err);
        json_decref(root);
        return;
    }
    pv = spc_kafka_header(m, SPC_HDR_POS, &plen);
    if (!pv || spc_pos_parse(pv, plen, &pos)) {
        /* no place in the input (another producer): at once */
        if (spc_incidents_add(p->tab, &a) != SPC_OK)
            spc_run_stop(s->r, 1);
        json_decref(root);
        return;
    }
    json_decref(root);
    if (!(rs = rs_get(s, p, pos.r))) {
        spc_run_stop(s->r, 1);
        return;
    }
    /* a repeat after a DETECT restart: already released or already held */
    if (rs->have_last && pos_cmp(&pos, a.id, &rs->last, rs->last_id) <= 0)
        return;
    for (i = 0; i < p->n_held; i++)
        if (!strcmp(p->held[i].id, a.id))
            return;
    if (p->n_held == p->cap_held) {
        size_t cap = p->cap_held ? p->cap_held * 2 : 64;
        struct held *n = spc_realloc(p->held, cap * sizeof(*n));

        if (!n) {
            spc_run_stop(s->r, 1);
            return;
        }
        p->held = n;
        p->cap_held = cap;
    }
    h = &p->held[p->n_held];
    h->pos = pos;
    memcpy(h->id, a.id, sizeof(h->id));
    h->since_ms = spc_now_mono_ms();
    h->len = m->len;
    h->data = spc_malloc(m->len ? m->len : 1);
    if (!h->data) {
        spc_run_stop(s->r, 1);
        return;
    }
    memcpy(h->data, m->payload, m->len);
    p->n_held++;
    p->reorder_dirty = 1;
    release(s, p);
}

static void on_tick(struct spc_incident_stage *s, struct ipart *p,
                    const rd_kafka_message_t *m)
{
    json_t *root = json_loadb(m->payload, m->len, 0, NULL);
    json_t *jm = json_object_get(root, "m"), *jr = json_object_get(root, "r"),
           *jo = json_object_get(root, "next");
    struct rstate *rs;
    int64_t mm;

    if (!json_is_integer(jm) || !json_is_integer(jr) || !json_is_integer(jo) ||
        (mm = json_integer_value(jm)) < 0 || mm >= s->meas_parts) {
        spc_log_limited(SPC_LOG_WARN, "incident-tick",
                        "incident: malformed tick at %s [%d] offset %lld "
                        "skipped",
                        rd_kafka_topic_name(m->rkt), (int)m->partition,
                        (long long)m->offset);
        json_decref(root);
        return;
    }
    rs = rs_get(s, p, (int32_t)json_integer_value(jr));
    if (!rs) {
        spc_run_stop(s->r, 1);
        json_decref(root);
        return;
    }
    if (json_integer_value(jo) > rs->wm[mm]) {
        rs->wm[mm] = json_integer_value(jo);
        p->reorder_dirty = 1;
    }
    s->tick_ms[mm] = spc_now_mono_ms();
    json_decref(root);
    release(s, p);
}

/* Re-baseline: one control record per partition of spc.measurements, so
 * every DETECT owner of a matching key sees it in order. */
static void send_rebaseline(struct spc_incident_stage *s,
                            const struct spc_action *act, char **globs)
{
    int32_t part;
    size_t i;

    for (i = 0; globs[i]; i++) {
        spc_buf_reset(&s->ctl);
        spc_buf_puts(&s->ctl, "{\"action\":\"rebaseline\",\"match\":");
        spc_json_str(&s->ctl, globs[i]);
        spc_buf_puts(&s->ctl, ",\"incident_id\":");
        spc_json_str(&s->ctl, act->incident_id);
        spc_buf_puts(&s->ctl, ",\"user\":");
        spc_json_str(&s->ctl, act->user ? act->user : "");
        spc_buf_putc(&s->ctl, '}');
        if (!spc_buf_ok(&s->ctl))
            return;
        for (part = 0; part < s->meas_parts; part++)
            if (produce(s, s->cur, s->r->o.topics.measurements, part, globs[i],
                        strlen(globs[i]), s->ctl.data, s->ctl.len,
                        "spc-control", "rebaseline"))
                return;
        spc_log(SPC_LOG_INFO,
                "incident %.12s: re-baseline of %s requested "
                "by %s",
                act->incident_id, globs[i], act->user ? act->user : "?");
    }
}

static void on_action(struct spc_incident_stage *s, struct ipart *p,
                      const rd_kafka_message_t *m)
{
    struct spc_action act;
    json_error_t jerr;
    json_t *root = json_loadb(m->payload, m->len, 0, &jerr);
    char err[256], **globs = NULL;
    spc_err_t e;
    size_t i;

    if (!root) {
        snprintf(err, sizeof(err), "action is not JSON: %s (offset %d)",
                 jerr.text, jerr.position);
        to_dlq(s, m, err);
        return;
    }
    if (spc_action_from_json(root, &act, err, sizeof(err)) != SPC_OK) {
        to_dlq(s, m, err);
        json_decref(root);
        return;
    }
    e = spc_incidents_action(p->tab, &act, &globs);
    if (e == SPC_ERR_NOTFOUND)
        spc_log(SPC_LOG_WARN,
                "incident: action %s on unknown incident %s ignored (is the "
                "action keyed by the incident's test_plan?)",
                json_string_value(json_object_get(root, "action")),
                act.incident_id);
    else if (e)
        spc_run_stop(s->r, 1);
    else if (globs)
        send_rebaseline(s, &act, globs);
    for (i = 0; globs && globs[i]; i++)
        free(globs[i]);
    free(globs);
    json_decref(root);
}

/* ---- assignment ---- */

static int import_cb(const char *key, size_t klen, const void *blob, size_t len,
                     void *opaque)
{
    struct ipart *p = opaque;
    char err[256], num[32];

    if (klen == strlen(REORDER_KEY) && !memcmp(key, REORDER_KEY, klen)) {
        if (reorder_import(p->s, p, blob, len))
            spc_log(SPC_LOG_WARN,
                    "incident: partition %d: input-order state not "
                    "restored: anomalies are taken as they come until the "
                    "next ticks",
                    (int)p->partition);
        return 0;
    }
    if (klen == strlen(ACT_KEY) && !memcmp(key, ACT_KEY, klen)) {
        snprintf(num, sizeof(num), "%.*s", (int)(len < 31 ? len : 31),
                 (const char *)blob);
        p->act_next = p->act_ckpt = strtoll(num, NULL, 10);
        return 0;
    }
    if (spc_incidents_import(p->tab, blob, len, err, sizeof(err)) != SPC_OK)
        spc_log(SPC_LOG_WARN, "incident: %.*s not restored: %s",
                (int)(klen > 64 ? 64 : klen), key, err);
    return 0;
}

static void reorder_clear(struct ipart *p)
{
    size_t i;

    for (i = 0; i < p->n_held; i++)
        free(p->held[i].data);
    for (i = 0; i < p->n_rs; i++)
        free(p->rs[i].wm);
    free(p->held);
    free(p->rs);
    p->held = NULL;
    p->rs = NULL;
    p->n_held = p->cap_held = p->n_rs = 0;
}

static void part_free(struct ipart *p)
{
    if (!p)
        return;
    reorder_clear(p);
    spc_incidents_destroy(p->tab);
    drops_clear(p);
    free(p->drops);
    free(p);
}

static struct ipart *load_part(struct spc_incident_stage *s, int32_t partition)
{
    struct ipart *p = spc_calloc(1, sizeof(*p));
    char err[512];
    long backoff = 200;
    spc_err_t e;

    if (!p)
        return NULL;
    p->partition = partition;
    p->s = s;
    while (spc_running(s->r)) {
        int64_t off = -1;

        spc_incidents_destroy(p->tab);
        reorder_clear(p);
        p->tab = spc_incidents_new(&s->iopts);
        if (!p->tab)
            break;
        spc_incidents_set_sink(p->tab, emit_incident, s);
        spc_incidents_set_llm(p->tab, llm_request, s);
        spc_incidents_set_drop(p->tab, on_drop, p);
        p->act_next = p->act_ckpt = -1;
        e = spc_ckpt_connected(s->ckpt)
                ? SPC_OK
                : spc_ckpt_reconnect(s->ckpt, err, sizeof(err));
        if (!e)
            e = spc_ckpt_fence(s->ckpt, s->scope, partition, &p->token, err,
                               sizeof(err));
        if (!e)
            e = spc_ckpt_load(s->ckpt, s->scope, partition, &off, import_cb, p,
                              err, sizeof(err));
        if (!e) {
            p->anom_next = p->anom_ckpt = off;
            p->last_ckpt_ms = spc_now_mono_ms();
            return p;
        }
        if (e != SPC_ERR_TRANSIENT) {
            spc_log(SPC_LOG_ERROR, "incident: partition %d: %s", (int)partition,
                    err);
            spc_run_stop(s->r, 1);
            break;
        }
        spc_log_limited(SPC_LOG_WARN, "incident-load",
                        "incident: partition %d: Redis unavailable (%s), "
                        "retrying",
                        (int)partition, err);
        spc_run_sleep(s->r, backoff);
        backoff = SPC_MIN(backoff * 2, 5000);
    }
    part_free(p);
    return NULL;
}

static int grow_parts(struct spc_incident_stage *s, int32_t partition)
{
    int32_t cap = partition + 16;
    struct ipart **n;

    if (partition < s->cap_p)
        return 0;
    n = spc_realloc(s->by_p, cap * sizeof(*n));
    if (!n)
        return -1;
    memset(n + s->cap_p, 0, (cap - s->cap_p) * sizeof(*n));
    s->by_p = n;
    s->cap_p = cap;
    return 0;
}

static void assign(struct spc_incident_stage *s,
                   rd_kafka_topic_partition_list_t *ps)
{
    int i;

    for (i = 0; i < ps->cnt; i++) {
        rd_kafka_topic_partition_t *tp = &ps->elems[i];
        int anomalies = !strcmp(tp->topic, s->r->o.topics.anomalies);
        struct ipart *p;
        int64_t off;

        if (grow_parts(s, tp->partition)) {
            spc_run_stop(s->r, 1);
            return;
        }
        p = s->by_p[tp->partition];
        if (!p && !(p = s->by_p[tp->partition] = load_part(s, tp->partition))) {
            tp->offset = RD_KAFKA_OFFSET_INVALID;
            continue;
        }
        off = anomalies ? p->anom_next : p->act_next;
        tp->offset = off >= 0 ? off : RD_KAFKA_OFFSET_BEGINNING;
        if (anomalies) {
            atomic_fetch_add(&s->r->m.partitions, 1);
            spc_log(SPC_LOG_INFO,
                    "incident: partition %d assigned (token %llu), "
                    "%zu incidents, anomalies from offset %lld",
                    (int)tp->partition, (unsigned long long)p->token,
                    spc_incidents_count(p->tab),
                    (long long)(off >= 0 ? off : 0));
        }
    }
}

static void release_all(struct spc_incident_stage *s, int lost)
{
    int32_t i;

    for (i = 0; i < s->cap_p; i++) {
        struct ipart *p = s->by_p[i];
        int64_t end;

        if (!p)
            continue;
        s->cur = p;
        spc_incidents_flush(p->tab); /* held-back revisions */
        end = spc_now_mono_ms() + s->r->o.shutdown_ms;
        while (!lost && !p->fenced && spc_now_mono_ms() < end) {
            spc_err_t e;

            s->backoff_until = 0;
            e = checkpoint(s, p);
            if (e == SPC_OK || e == SPC_ERR_FENCED || e == SPC_ERR_FATAL)
                break;
            spc_run_sleep(s->r, 200);
        }
        wait_delivered(s, p, s->r->o.shutdown_ms); /* no dangling opaques */
        part_free(p);
        s->by_p[i] = NULL;
        atomic_fetch_sub(&s->r->m.partitions, 1);
    }
}

static void rebalance_cb(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                         rd_kafka_topic_partition_list_t *parts, void *opaque)
{
    struct spc_incident_stage *s = opaque;

    if (err == RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS) {
        assign(s, parts);
        rd_kafka_assign(rk, parts);
        return;
    }
    release_all(s, rd_kafka_assignment_lost(rk));
    rd_kafka_assign(rk, NULL);
}

/* ---- main loop ---- */

static void cadence(struct spc_incident_stage *s)
{
    const struct spc_run_opts *o = &s->r->o;
    int64_t now = spc_now_mono_ms();
    int flush = now - s->last_flush_ms >= s->iopts.update_ms;
    int32_t i;

    for (i = 0; i < s->cap_p; i++) {
        struct ipart *p = s->by_p[i];

        if (!p || p->fenced)
            continue;
        s->cur = p;
        release(s, p); /* held back by a silent source */
        if (flush)
            spc_incidents_flush(p->tab);
        if ((p->anom_next != p->anom_ckpt || p->act_next != p->act_ckpt ||
             p->n_drops) &&
            (p->since >= o->checkpoint_events ||
             now - p->last_ckpt_ms >= o->checkpoint_ms))
            (void)checkpoint(s, p);
    }
    if (flush)
        s->last_flush_ms = now;
}

static void *stage_main(void *arg)
{
    struct spc_incident_stage *s = arg;
    int64_t last = spc_now_mono_ms();

    while (spc_running(s->r)) {
        rd_kafka_message_t *m = rd_kafka_consumer_poll(s->consumer, 100);
        struct ipart *p;

        rd_kafka_poll(s->producer, 0);
        apply_replies(s);
        if (spc_now_mono_ms() - last >= 100) {
            cadence(s);
            last = spc_now_mono_ms();
        }
        if (!m)
            continue;
        if (m->err) {
            if (m->err != RD_KAFKA_RESP_ERR__PARTITION_EOF)
                spc_log_limited(SPC_LOG_WARN, "incident-consume",
                                "incident: consume: %s",
                                rd_kafka_message_errstr(m));
            rd_kafka_message_destroy(m);
            continue;
        }
        p = m->partition < s->cap_p ? s->by_p[m->partition] : NULL;
        if (p && !p->fenced) {
            s->cur = p;
            if (!strcmp(rd_kafka_topic_name(m->rkt),
                        s->r->o.topics.anomalies)) {
                size_t clen;
                const void *cv = spc_kafka_header(m, SPC_HDR_CONTROL, &clen);

                if (cv && clen == 4 && !memcmp(cv, "tick", 4))
                    on_tick(s, p, m);
                else if (!cv)
                    on_anomaly(s, p, m);
                p->anom_next = m->offset + 1;
            } else {
                on_action(s, p, m);
                p->act_next = m->offset + 1;
            }
            p->since++;
        }
        rd_kafka_message_destroy(m);
    }
    rd_kafka_consumer_close(s->consumer); /* revoke: flush + checkpoints */
    return NULL;
}

static void stage_free(struct spc_incident_stage *s)
{
    struct reply *r;
    int32_t i;

    spc_llm_destroy(s->llm); /* no callback after this */
    spc_llm_opts_fini(&s->lopts);
    for (i = 0; i < s->cap_p; i++)
        part_free(s->by_p[i]);
    free(s->by_p);
    while ((r = s->replies)) {
        s->replies = r->next;
        spc_advice_fini(&r->adv);
        free(r);
    }
    if (s->consumer)
        rd_kafka_destroy(s->consumer);
    if (s->producer)
        rd_kafka_destroy(s->producer);
    spc_ckpt_destroy(s->ckpt);
    spc_avro_destroy(s->avro);
    spc_buf_fini(&s->out);
    spc_buf_fini(&s->facts);
    spc_buf_fini(&s->ctl);
    spc_arena_fini(&s->strings);
    free(s->tick_ms);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

struct spc_incident_stage *spc_incident_start(struct spc_run *r)
{
    struct spc_incident_stage *s = spc_calloc(1, sizeof(*s));
    rd_kafka_conf_t *conf;
    rd_kafka_topic_partition_list_t *topics;
    struct spc_avro_opts ao;
    char err[512] = "out of memory", group[256];
    int32_t na, nact;

    if (!s)
        return NULL;
    s->r = r;
    pthread_mutex_init(&s->mu, NULL);
    spc_buf_init(&s->out);
    spc_buf_init(&s->facts);
    spc_buf_init(&s->ctl);
    spc_arena_init(&s->strings, 4096);
    spc_llm_opts_defaults(&s->lopts);
    snprintf(s->scope, sizeof(s->scope), "%s:incident:%s", r->o.group,
             r->o.topics.anomalies);
    snprintf(group, sizeof(group), "%s-incident", r->o.group);
    if (spc_incident_opts_from_json(
            json_object_get(r->cfg->sections, "incidents"), &s->iopts, err,
            sizeof(err)) ||
        spc_llm_opts_from_json(json_object_get(r->cfg->sections, "llm"),
                               &s->lopts, err, sizeof(err)))
        goto fail;
    memset(&ao, 0, sizeof(ao));
    ao.registry_url = r->o.registry_url;
    ao.registry_user = r->o.registry_user;
    ao.registry_password = r->o.registry_password;
    ao.timeout_ms = 10000;
    s->avro = spc_avro_new(&ao, err, sizeof(err));
    s->ckpt = spc_ckpt_new(&r->redis, err, sizeof(err));
    if (!s->avro || !s->ckpt)
        goto fail;
    s->lopts.log = llm_log;
    if (s->lopts.enabled) {
        s->llm = spc_llm_new(&s->lopts, llm_reply, s, err, sizeof(err));
        if (!s->llm)
            goto fail;
    }
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_dr_msg_cb(conf, dr_cb);
    rd_kafka_conf_set_opaque(conf, s);
    s->producer = spc_kafka_client(&r->o, SPC_ROLE_PRODUCER, NULL, NULL, conf,
                                   err, sizeof(err));
    if (!s->producer)
        goto fail;
    na = spc_kafka_partition_count(s->producer, r->o.topics.anomalies, 10000);
    nact = spc_kafka_partition_count(s->producer, r->o.topics.actions, 10000);
    s->meas_parts =
        spc_kafka_partition_count(s->producer, r->o.topics.measurements, 10000);
    if (na <= 0 || nact <= 0 || s->meas_parts <= 0) {
        snprintf(err, sizeof(err), "no metadata for %s, %s or %s",
                 r->o.topics.anomalies, r->o.topics.actions,
                 r->o.topics.measurements);
        goto fail;
    }
    s->tick_ms = spc_calloc((size_t)s->meas_parts, sizeof(*s->tick_ms));
    if (!s->tick_ms)
        goto fail;
    s->hold_ms = 10000;
    if (na != nact) {
        snprintf(err, sizeof(err),
                 "%s has %d partitions and %s %d: they must be equal (both "
                 "are partitioned by test plan)",
                 r->o.topics.anomalies, (int)na, r->o.topics.actions,
                 (int)nact);
        goto fail;
    }
    conf = rd_kafka_conf_new();
    rd_kafka_conf_set_rebalance_cb(conf, rebalance_cb);
    rd_kafka_conf_set_opaque(conf, s);
    s->consumer = spc_kafka_client(&r->o, SPC_ROLE_CONSUMER, group, NULL, conf,
                                   err, sizeof(err));
    if (!s->consumer)
        goto fail;
    topics = rd_kafka_topic_partition_list_new(2);
    rd_kafka_topic_partition_list_add(topics, r->o.topics.anomalies,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_topic_partition_list_add(topics, r->o.topics.actions,
                                      RD_KAFKA_PARTITION_UA);
    rd_kafka_subscribe(s->consumer, topics);
    rd_kafka_topic_partition_list_destroy(topics);
    s->last_flush_ms = spc_now_mono_ms();
    if (pthread_create(&s->th, NULL, stage_main, s) != 0) {
        snprintf(err, sizeof(err), "cannot start a thread");
        goto fail;
    }
    spc_log(SPC_LOG_INFO,
            "incident: %s + %s -> %s, LLM advice %s, checkpoints in Redis "
            "scope %s",
            r->o.topics.anomalies, r->o.topics.actions, r->o.topics.incidents,
            s->llm ? "on" : "off", s->scope);
    return s;
fail:
    spc_log(SPC_LOG_ERROR, "incident: %s", err);
    stage_free(s);
    return NULL;
}

void spc_incident_join(struct spc_incident_stage *s)
{
    pthread_join(s->th, NULL); /* closes the consumer: checkpoints */
    if (s->llm)
        spc_llm_flush(s->llm, 2000);
    rd_kafka_flush(s->producer, (int)s->r->o.shutdown_ms);
    stage_free(s);
}
