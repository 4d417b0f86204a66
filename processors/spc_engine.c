/*
 * spc_engine.c -- step-key table, metadata tuples, baselines and the
 * per-event flow through the detectors.
 *
 * DATA FLOW: spc_event -> key (hash of plan/step/measurement) -> point
 *   detectors on the value against the state before it -> sample pushed into
 *   the ring (windows slide) -> window detectors -> baseline learning.
 * OWNERSHIP: the engine owns keys, rings, subgroup tables, interned strings
 *   and metadata tuples; anomalies handed to the sink borrow from the event
 *   and the intern table.
 * THREADING: single-threaded (@locality worker).
 * FAILURE MODES: OOM while creating a key or interning returns
 *   SPC_ERR_NOMEM before any state of that event changed.
 * REFERENCES: baseline estimation: Rousseeuw & Croux (1993) for the MAD
 *   consistency constant 1.4826; truncated-normal variance 1 - 2a phi(a) /
 *   (2 Phi(a) - 1) for the +-3.5 sigma refinement (factor 1.003071);
 *   estimation-error widening: Jensen, Jones-Farmer, Champ & Woodall (2006),
 *   "Effects of parameter estimation on control chart properties", JQT 38.
 */
#include "spc_engine.h"

#include "spc_detect.h"
#include "spc_intern.h"

#include <math.h>
#include <string.h>

/* 1 / sqrt(1 - 2a phi(a) / (2 Phi(a) - 1)) at a = 3.5 */
#define TRUNC35_SD_FACTOR 1.003071
#define REFINE_CUT 3.5

/* A key's allocation: whole cache lines (see spc_key.h). */
#define KEY_BYTES ((sizeof(struct spc_key) + 63) & ~(size_t)63)

struct kslot {
    uint64_t hash;
    struct spc_key *k;
};

struct spc_engine {
    const struct spc_config *cfg;
    struct spc_param_cache *params;
    struct spc_intern *strs;
    spc_anomaly_cb *sink;
    void *sink_opaque;
    /* step keys: open addressing on the hash of the three names */
    struct kslot *slots;
    uint32_t nslots, nkeys;
    struct spc_key **keys; /* creation order (deterministic iteration) */
    uint32_t cap_keys;
    /* metadata tuples: ndims interned ids each */
    uint32_t ndims;
    uint32_t *tuples;
    uint32_t ntuples, cap_tuples;
    uint32_t *tslots; /* hash table of tuple ids + 1 */
    uint32_t ntslots;
    struct spc_engine_stats st;
    struct spc_buf scratch;
    struct spc_key **batch; /* keys of the events being processed */
    size_t cap_batch;
};

const struct spc_dims *spc_engine_dims(const struct spc_engine *e)
{
    return &e->cfg->dims;
}

const struct spc_config *spc_engine_config(const struct spc_engine *e)
{
    return e->cfg;
}

const char *spc_engine_str(const struct spc_engine *e, uint32_t id)
{
    return spc_intern_str(e->strs, id);
}

const uint32_t *spc_engine_tuples(const struct spc_engine *e)
{
    return e->tuples;
}

spc_err_t spc_engine_intern(struct spc_engine *e, const char *s, size_t len,
                            uint32_t *id)
{
    return spc_intern_add(e->strs, s, len, id);
}

struct spc_engine *spc_engine_new(const struct spc_config *cfg, char *errstr,
                                  size_t errstr_size)
{
    struct spc_engine *e = spc_calloc(1, sizeof(*e));

    if (!e)
        goto oom;
    e->cfg = cfg;
    e->ndims = cfg->dims.n;
    e->params = spc_param_cache_new();
    e->strs = spc_intern_new();
    e->nslots = 1024;
    e->slots = spc_calloc(e->nslots, sizeof(*e->slots));
    e->ntslots = 256;
    e->tslots = spc_calloc(e->ntslots, sizeof(*e->tslots));
    spc_buf_init(&e->scratch);
    if (!e->params || !e->strs || !e->slots || !e->tslots)
        goto oom;
    return e;
oom:
    spc_engine_destroy(e);
    spc_errstr_set(errstr, errstr_size, "out of memory");
    return NULL;
}

static void key_free(struct spc_key *k)
{
    spc_ring_fini(&k->ring);
    free(k->sg);
    free(k->sg_ix);
    free(k);
}

void spc_engine_destroy(struct spc_engine *e)
{
    uint32_t i;

    if (!e)
        return;
    for (i = 0; i < e->nkeys; i++)
        key_free(e->keys[i]);
    free(e->keys);
    free(e->batch);
    free(e->slots);
    free(e->tuples);
    free(e->tslots);
    spc_intern_destroy(e->strs);
    spc_param_cache_destroy(e->params);
    spc_buf_fini(&e->scratch);
    free(e);
}

void spc_engine_set_sink(struct spc_engine *e, spc_anomaly_cb *cb, void *opaque)
{
    e->sink = cb;
    e->sink_opaque = opaque;
}

/* Hash of (plan, step, measurement); @p plan_h = hash of the plan, which
 * a batch (one report) computes once. */
static uint64_t key_hash(uint64_t plan_h, const char *step, const char *meas)
{
    uint64_t h = spc_hash64(step, strlen(step), plan_h);

    return spc_hash64(meas, strlen(meas), h);
}

static int key_equal(const struct spc_engine *e, const struct spc_key *k,
                     const char *plan, const char *step, const char *meas)
{
    return strcmp(spc_intern_str(e->strs, k->meas), meas) == 0 &&
           strcmp(spc_intern_str(e->strs, k->step), step) == 0 &&
           strcmp(spc_intern_str(e->strs, k->plan), plan) == 0;
}

static spc_err_t grow_keys(struct spc_engine *e)
{
    uint32_t n = e->nslots * 2, i, j;
    struct kslot *s = spc_calloc(n, sizeof(*s));

    if (!s)
        return SPC_ERR_NOMEM;
    for (i = 0; i < e->nslots; i++) {
        if (!e->slots[i].k)
            continue;
        j = (uint32_t)e->slots[i].hash & (n - 1);
        while (s[j].k)
            j = (j + 1) & (n - 1);
        s[j] = e->slots[i];
    }
    free(e->slots);
    e->slots = s;
    e->nslots = n;
    return SPC_OK;
}

static spc_err_t intern(struct spc_engine *e, const char *s, uint32_t *id)
{
    return spc_intern_add(e->strs, s, strlen(s), id);
}

static void base_set_known(struct spc_key *k)
{
    k->base.mean = k->p->known_mean;
    k->base.sigma = k->p->known_sigma;
    k->base.ready = 1;
    k->base.frozen = 1;
    k->ewma = k->base.mean;
    k->cu_hi = k->cu_lo = k->p->cusum_fir ? k->p->cusum_h / 2 : 0.0;
}

static spc_err_t key_init(struct spc_engine *e, struct spc_key *k,
                          const char *plan, const char *step, const char *meas,
                          uint8_t kind)
{
    char why[256];
    spc_err_t err;

    if ((err = intern(e, plan, &k->plan)) ||
        (err = intern(e, step, &k->step)) || (err = intern(e, meas, &k->meas)))
        return err;
    spc_buf_reset(&e->scratch);
    spc_buf_printf(&e->scratch, "%s/%s/%s", plan, step, meas);
    if (!spc_buf_ok(&e->scratch))
        return SPC_ERR_NOMEM;
    k->p = spc_config_resolve(e->cfg, e->params, e->scratch.data, why,
                              sizeof(why));
    if (!k->p)
        return SPC_ERR_NOMEM; /* overrides were validated at load time */
    k->kind = kind;
    if ((err = spc_ring_init(&k->ring, e->cfg->buffer_size)))
        return err;
    if (k->p->known)
        base_set_known(k);
    k->sg_center = NAN;
    return SPC_OK;
}

/* Find the key of (plan, step, meas) with hash @p h, or create it with
 * @p kind when @p create is set; *err says why on NULL. */
static struct spc_key *key_find(struct spc_engine *e, const char *plan,
                                const char *step, const char *meas,
                                uint8_t kind, uint64_t h, int create,
                                spc_err_t *err)
{
    uint32_t i = (uint32_t)h & (e->nslots - 1);
    struct spc_key *k;

    for (; e->slots[i].k; i = (i + 1) & (e->nslots - 1))
        if (e->slots[i].hash == h &&
            key_equal(e, e->slots[i].k, plan, step, meas))
            return e->slots[i].k;
    *err = SPC_ERR_NOTFOUND;
    if (!create)
        return NULL;
    *err = SPC_ERR_NOMEM;
    if ((uint64_t)(e->nkeys + 1) * 4 > (uint64_t)e->nslots * 3) {
        if (grow_keys(e) != SPC_OK)
            return NULL;
        for (i = (uint32_t)h & (e->nslots - 1); e->slots[i].k;
             i = (i + 1) & (e->nslots - 1))
            ;
    }
    if (e->nkeys == e->cap_keys) {
        uint32_t cap = e->cap_keys ? e->cap_keys * 2 : 256;
        struct spc_key **nk = spc_realloc(e->keys, cap * sizeof(*nk));

        if (!nk)
            return NULL;
        e->keys = nk;
        e->cap_keys = cap;
    }
    k = spc_zalloc_aligned(64, KEY_BYTES); /* first line: see spc_key.h */
    if (!k)
        return NULL;
    if ((*err = key_init(e, k, plan, step, meas, kind)) != SPC_OK) {
        key_free(k);
        return NULL;
    }
    e->slots[i].hash = h;
    e->slots[i].k = k;
    e->keys[e->nkeys++] = k;
    *err = SPC_OK;
    return k;
}

static spc_err_t grow_tuples(struct spc_engine *e)
{
    uint32_t n = e->ntslots * 2, i, j;
    uint32_t *s = spc_calloc(n, sizeof(*s));

    if (!s)
        return SPC_ERR_NOMEM;
    for (i = 0; i < e->ntuples; i++) {
        j = (uint32_t)spc_hash64(&e->tuples[(size_t)i * e->ndims], e->ndims * 4,
                                 7) &
            (n - 1);
        while (s[j])
            j = (j + 1) & (n - 1);
        s[j] = i + 1;
    }
    free(e->tslots);
    e->tslots = s;
    e->ntslots = n;
    return SPC_OK;
}

/* Intern the metadata of @p ev as a tuple of value ids. */
static spc_err_t tuple_of(struct spc_engine *e, const struct spc_event *ev,
                          uint32_t *out)
{
    uint32_t t[SPC_META_MAX], i;
    spc_err_t err;

    for (i = 0; i < e->ndims; i++) {
        t[i] = SPC_INTERN_NONE;
        if (ev->meta[i] && (err = intern(e, ev->meta[i], &t[i])))
            return err;
    }
    return spc_engine_tuple_intern(e, t, out);
}

spc_err_t spc_engine_tuple_intern(struct spc_engine *e, const uint32_t *t,
                                  uint32_t *out)
{
    uint32_t j;
    uint64_t h;

    h = spc_hash64(t, e->ndims * 4, 7);
    for (j = (uint32_t)h & (e->ntslots - 1); e->tslots[j];
         j = (j + 1) & (e->ntslots - 1)) {
        uint32_t id = e->tslots[j] - 1;

        if (!memcmp(&e->tuples[(size_t)id * e->ndims], t, e->ndims * 4)) {
            *out = id;
            return SPC_OK;
        }
    }
    if (e->ntuples >= SPC_SAMPLE_TUPLE_MASK)
        return SPC_ERR_RANGE;
    if (e->ntuples == e->cap_tuples) {
        uint32_t cap = e->cap_tuples ? e->cap_tuples * 2 : 64;
        uint32_t *nt = spc_realloc(e->tuples, (size_t)cap * e->ndims * 4);

        if (!nt)
            return SPC_ERR_NOMEM;
        e->tuples = nt;
        e->cap_tuples = cap;
    }
    if ((uint64_t)(e->ntuples + 1) * 2 > e->ntslots) {
        if (grow_tuples(e) != SPC_OK)
            return SPC_ERR_NOMEM;
        for (j = (uint32_t)h & (e->ntslots - 1); e->tslots[j];
             j = (j + 1) & (e->ntslots - 1))
            ;
    }
    memcpy(&e->tuples[(size_t)e->ntuples * e->ndims], t, e->ndims * 4);
    e->tslots[j] = ++e->ntuples;
    *out = e->ntuples - 1;
    return SPC_OK;
}

/* ------------------------------------------------------------------ */
/* anomaly helpers                                                     */

void spc_detect_begin(const struct spc_dctx *c, struct spc_anomaly *a,
                      enum spc_det det)
{
    const struct spc_event *ev = c->ev;

    memset(a, 0, sizeof(*a));
    a->detector = det;
    a->test_plan = ev->test_plan;
    a->test_step = ev->test_step;
    a->measurement = ev->measurement;
    a->uut_id = ev->uut_id;
    a->report_id = ev->report_id;
    a->unit = ev->unit;
    a->ts_ms = ev->ts_ms;
    a->value = ev->value_valid ? ev->value : NAN;
    a->seq = c->k->seq;
    a->passed = ev->passed;
    a->dims = &c->eng->cfg->dims;
    memcpy(a->meta, ev->meta, sizeof(a->meta));
}

/* Counts of one metadata value in the recent window (fill_breakdown). */
struct br_acc {
    uint32_t id, n, nv, np;
    double sum;
};

#define BR_CACHE 256 /* tuple -> accumulators, direct mapped */
#define BR_VCACHE 64 /* per dimension: value id -> row, direct mapped */

/* The row of value @p v (not 0) in @p acc (@p cnt rows), appended when
 * new and there is room; -1 when the dimension is full.  @p hint is a
 * direct-mapped cache of value -> row (checked against acc, so any byte
 * is safe), which saves the linear search for values seen before. */
static int br_row(struct br_acc *acc, unsigned *cnt, uint8_t *hint, uint32_t v)
{
    uint8_t *h = &hint[v % BR_VCACHE];
    unsigned j = *h;

    if (j < *cnt && acc[j].id == v)
        return (int)j;
    for (j = 0; j < *cnt && acc[j].id != v; j++)
        ;
    if (j == SPC_BREAKDOWN_MAX)
        return -1;
    if (j == *cnt)
        acc[(*cnt)++] = (struct br_acc){.id = v};
    *h = (uint8_t)j;
    return (int)j;
}

/* A tuple's accumulators: indexes into the flat acc array, one per
 * dimension that has a value (and room). */
struct br_tuple {
    uint32_t tid;
    uint8_t n;
    uint16_t ix[SPC_META_MAX];
};

/* Per-dimension breakdown of the last @p w events, in one pass over the
 * samples: each sample's tuple is mapped to its accumulator in every
 * dimension it has a value for (caches of tuple -> accumulators and of
 * value -> row save the searches for repeated tuples and values); each
 * accumulator adds its samples in window order.
 * Dimensions with a single value carry no information and are left out;
 * order: dimension, then first appearance; at most SPC_BREAKDOWN_MAX
 * entries in all, earlier dimensions first. */
static void fill_breakdown(const struct spc_dctx *c, struct spc_anomaly_ctx *x,
                           uint32_t w)
{
    const struct spc_dims *dims = &c->eng->cfg->dims;
    unsigned nd = dims->n, cnt[SPC_META_MAX] = {0}, d, j, part;
    struct br_acc acc[SPC_META_MAX][SPC_BREAKDOWN_MAX], *flat = acc[0];
    struct br_tuple tc[BR_CACHE];
    uint8_t hint[SPC_META_MAX][BR_VCACHE];
    const struct spc_sample *span[2];
    uint32_t nspan[2], i;

    for (i = 0; i < BR_CACHE; i++)
        tc[i].tid = UINT32_MAX;
    memset(hint, 0xff, nd * sizeof(hint[0]));
    spc_ring_spans(&c->k->ring, w, &span[0], &nspan[0], &span[1], &nspan[1]);
    for (part = 0; part < 2; part++) {
        for (i = 0; i < nspan[part]; i++) {
            const struct spc_sample *s = &span[part][i];
            uint32_t tid = s->mp & SPC_SAMPLE_TUPLE_MASK, pass, m;
            struct br_tuple *t = &tc[tid % BR_CACHE];
            int valid = !isnan(s->value);

            if (t->tid != tid) { /* map the tuple's values */
                t->tid = tid;
                t->n = 0;
                for (d = 0; d < nd; d++) {
                    uint32_t v = spc_tuple_val(c, tid, d);
                    int row = v ? br_row(acc[d], &cnt[d], hint[d], v) : -1;

                    if (row >= 0)
                        t->ix[t->n++] =
                            (uint16_t)(d * SPC_BREAKDOWN_MAX + (unsigned)row);
                }
            }
            pass = (s->mp & SPC_SAMPLE_PASS) != 0;
            for (m = 0; m < t->n; m++) {
                struct br_acc *a = &flat[t->ix[m]];

                a->n++;
                a->np += pass;
                if (valid) {
                    a->sum += s->value;
                    a->nv++;
                }
            }
        }
    }
    x->n_br = 0;
    for (d = 0; d < nd && x->n_br < SPC_BREAKDOWN_MAX; d++) {
        unsigned m = SPC_MIN(cnt[d], SPC_BREAKDOWN_MAX - x->n_br);

        if (m < 2) /* one value only: no information */
            continue;
        for (j = 0; j < m; j++) {
            struct spc_breakdown *b = &x->br[x->n_br++];
            const struct br_acc *a = &acc[d][j];

            b->dim = dims->names[d];
            b->value = spc_engine_str(c->eng, a->id);
            b->n = a->n;
            b->mean = a->nv ? a->sum / a->nv : NAN;
            b->yield = (double)a->np / a->n;
        }
    }
}

/* Recent-window statistics and the per-dimension breakdown of the last
 * sg_window events (only when an anomaly fires). */
static void fill_context(const struct spc_dctx *c, struct spc_anomaly *a)
{
    struct spc_anomaly_ctx *x = &a->ctx;
    const struct spc_ring *r = &c->k->ring;
    uint32_t w = SPC_MIN(r->count, c->p->sg_window), i;
    const struct spc_sample *span[2];
    uint32_t nspan[2];
    struct spc_welford wf;
    double pass = 0;
    int part;

    spc_welford_reset(&wf);
    spc_ring_spans(r, w, &span[0], &nspan[0], &span[1], &nspan[1]);
    for (part = 1; part >= 0; part--) { /* newest first */
        for (i = nspan[part]; i > 0; i--) {
            const struct spc_sample *s = &span[part][i - 1];

            if (!isnan(s->value))
                spc_welford_add(&wf, s->value);
            pass += (s->mp & SPC_SAMPLE_PASS) != 0;
        }
    }
    x->window_n = w;
    x->recent_mean = wf.n > 0 ? wf.mean : NAN;
    x->recent_sd = wf.n > 1 ? spc_welford_sd(&wf) : NAN;
    x->recent_yield = w ? pass / w : NAN;
    x->baseline_mean = c->base_ok ? c->mu : NAN;
    x->baseline_sigma = c->base_ok ? c->sigma : NAN;
    x->baseline_yield = c->k->y_base_n > 0
                            ? (c->k->y_base_pass + 0.5) / (c->k->y_base_n + 1)
                            : NAN;
    fill_breakdown(c, x, w);
}

void spc_detect_fire(const struct spc_dctx *c, struct spc_anomaly *a)
{
    struct spc_engine *e = c->eng;

    if (c->base_ok && a->detector != SPC_DET_YIELD) {
        spc_anomaly_evidence(a, "baseline_mean", c->mu);
        spc_anomaly_evidence(a, "baseline_sigma", c->sigma);
        spc_anomaly_evidence(a, "baseline_n", c->p->known ? 0 : c->nbase);
    }
    if (c->k->spec.has_lsl)
        spc_anomaly_evidence(a, "lsl", c->k->spec.lsl);
    if (c->k->spec.has_usl)
        spc_anomaly_evidence(a, "usl", c->k->spec.usl);
    fill_context(c, a);
    spc_anomaly_make_id(a);
    c->k->last_alarm = c->k->seq;
    e->st.anomalies[a->detector]++;
    e->st.anomalies_total++;
    if (e->sink)
        e->sink(a, e->sink_opaque);
}

void spc_detect_step_name(const struct spc_dctx *c, char *out, size_t size)
{
    const char *step = c->ev->test_step, *meas = c->ev->measurement;
    const char *last = strrchr(step, '/');

    last = last ? last + 1 : step;
    if (strcmp(last, meas) == 0)
        snprintf(out, size, "%s", step);
    else
        snprintf(out, size, "%s/%s", step, meas);
}

void spc_detect_where(const struct spc_dctx *c, char *out, size_t size)
{
    const char *st = c->ev->meta[SPC_DIM_STATION];
    const char *fx = c->ev->meta[SPC_DIM_FIXTURE];

    if (st && fx)
        snprintf(out, size, " on %s/%s", st, fx);
    else if (st || fx)
        snprintf(out, size, " on %s", st ? st : fx);
    else
        out[0] = '\0';
}

void spc_detect_fmt_value(const struct spc_dctx *c, double v, char *out,
                          size_t size)
{
    const char *u = c->ev->unit;

    if (u && *u && strcmp(u, "NA") != 0)
        snprintf(out, size, "%.6g %s", v, u);
    else
        snprintf(out, size, "%.6g", v);
}

/* ------------------------------------------------------------------ */
/* baselines                                                           */

/* Robust start: median/MAD of the warm-up window, then mean and SD of the
 * samples within +-3.5 robust sigma, SD corrected for the truncation. */
static void base_estimate(struct spc_key *k)
{
    struct spc_ring *r = &k->ring;
    double med = spc_ring_median(r), srob, prev = NAN;
    uint32_t i;

    srob = 1.4826 * spc_ring_mad(r, med);
    spc_welford_reset(&k->base.acc);
    k->base.reps = k->base.pairs = 0;
    k->base.near = k->base.near_n = 0;
    for (i = 0; i < r->count; i++) {
        const struct spc_sample *s = spc_ring_at(r, i);

        if (isnan(s->value)) {
            prev = NAN;
            continue;
        }
        if (!isnan(prev)) {
            k->base.pairs += 1;
            k->base.reps += s->value == prev;
        }
        prev = s->value;
        if (srob > 0 && fabs(s->value - med) > REFINE_CUT * srob)
            continue;
        spc_welford_add(&k->base.acc, s->value);
        k->base.near_n += 1;
        k->base.near +=
            (s->mp & (SPC_SAMPLE_NEAR_HI | SPC_SAMPLE_NEAR_LO)) ? 1 : 0;
    }
    k->base.counted = (uint32_t)k->base.near_n;
    k->base.mean = k->base.acc.mean;
    k->base.sigma = spc_welford_sd(&k->base.acc) * TRUNC35_SD_FACTOR;
    k->base.degenerate = !(k->base.sigma > 0);
    k->base.ready = 1;
    k->base.frozen = k->base.acc.n >= k->p->base_max;
}

static void detectors_reset(struct spc_key *k)
{
    k->ewma = k->base.mean;
    k->ewma_t = 0;
    k->cu_hi = k->cu_lo = k->p->cusum_fir ? k->p->cusum_h / 2 : 0.0;
    k->cu_hi_n = k->cu_lo_n = 0;
    memset(&k->runs, 0, sizeof(k->runs));
    k->active = 0;
}

/* Accept the sample accept_delay events back into the baseline when the
 * key has been quiet since then and the sample looks in control: it counts
 * for the data-quality and near-limit rates (known baselines too) and, for
 * an estimated baseline not yet frozen, for the mean and sigma. */
static void base_learn(struct spc_key *k)
{
    const struct spc_params *p = k->p;
    const struct spc_sample *s, *before;
    uint32_t d = p->accept_delay;
    int learn_ms = !p->known && !k->base.frozen;

    if (!k->base.ready || k->base.degenerate ||
        (!learn_ms && k->base.counted >= p->base_max))
        return;
    if (k->seq - k->base_seq <= d || k->ring.count <= d + 1)
        return;
    if (k->active || k->runs.active || k->sg_active_any ||
        k->seq - k->last_alarm <= d)
        return;
    if (k->cu_hi > p->cusum_h / 2 || k->cu_lo > p->cusum_h / 2)
        return;
    s = spc_ring_back(&k->ring, d);
    if (isnan(s->value) ||
        fabs(s->value - k->base.mean) >= REFINE_CUT * k->base.sigma)
        return;
    if (k->base.counted < p->base_max) {
        before = spc_ring_back(&k->ring, d + 1);
        if (!isnan(before->value)) {
            k->base.pairs += 1;
            k->base.reps += s->value == before->value;
        }
        k->base.near_n += 1;
        k->base.near +=
            (s->mp & (SPC_SAMPLE_NEAR_HI | SPC_SAMPLE_NEAR_LO)) ? 1 : 0;
        k->base.counted++;
    }
    if (!learn_ms)
        return;
    spc_welford_add(&k->base.acc, s->value);
    k->base.mean = k->base.acc.mean;
    k->base.sigma = spc_welford_sd(&k->base.acc) * TRUNC35_SD_FACTOR;
    if (k->base.acc.n >= p->base_max)
        k->base.frozen = 1;
}

static void base_after_push(struct spc_key *k)
{
    if (!k->p->known && !k->base.ready) {
        if (k->nvalid >= k->p->warmup) {
            base_estimate(k);
            k->base_seq = k->seq;
            detectors_reset(k);
        }
        return;
    }
    base_learn(k);
}

/* Operator re-baseline: the process has a new normal.  Baseline, chart
 * statistics and every window start afresh (the warm-up must not see the
 * old samples); seq continues so anomaly ids stay unique. */
static void key_restart(struct spc_key *k)
{
    uint64_t seq = k->seq;

    memset(&k->base, 0, sizeof(k->base));
    if (k->p->known)
        base_set_known(k);
    detectors_reset(k);
    spc_ring_clear(&k->ring);
    k->nvalid = k->ninvalid = 0;
    k->base_seq = k->last_alarm = seq;
    k->y_pass = 0;
    k->y_base_pass = k->y_base_n = 0;
    k->nl_hi = k->nl_lo = 0;
    k->tr_next = 0;
    k->tr_mk_wait = 0;
    k->var_cap = k->var_q = 0.0;
    k->flat_run = 0;
    k->invalid_bits = 0;
    k->inv_count = 0;
    k->ewma_quiet = k->var_quiet = k->trend_quiet = 0;
    spc_sg_reset(k);
    spc_welford_reset(&k->lr);
    k->dirty = 1;
}

size_t spc_engine_rebaseline(struct spc_engine *e, const char *glob)
{
    size_t n = 0;
    uint32_t i;

    for (i = 0; i < e->nkeys; i++) {
        struct spc_key *k = e->keys[i];

        spc_buf_reset(&e->scratch);
        spc_buf_printf(
            &e->scratch, "%s/%s/%s", spc_intern_str(e->strs, k->plan),
            spc_intern_str(e->strs, k->step), spc_intern_str(e->strs, k->meas));
        if (!spc_buf_ok(&e->scratch) || !spc_glob_match(glob, e->scratch.data))
            continue;
        key_restart(k);
        n++;
    }
    return n;
}

/* ------------------------------------------------------------------ */
/* per-event flow                                                      */

static void ctx_baseline(struct spc_dctx *c)
{
    const struct spc_key *k = c->k;

    c->base_ok = k->base.ready && !k->base.degenerate;
    c->mu = k->base.mean;
    c->sigma = k->base.sigma;
    c->nbase = k->p->known ? 1e9 : k->base.acc.n;
    c->widen = k->p->known || !k->p->widen || c->nbase < 2
                   ? 1.0
                   : sqrt(1.0 + 1.0 / c->nbase);
}

/* Sample leaving a window of @p w events when the next one is pushed. */
static const struct spc_sample *leaving(const struct spc_key *k, uint32_t w)
{
    return k->ring.count >= w ? spc_ring_back(&k->ring, w - 1) : NULL;
}

static void windows_slide(struct spc_dctx *c, const struct spc_sample *s)
{
    struct spc_key *k = c->k;
    const struct spc_params *p = k->p;
    const struct spc_sample *l;

    l = leaving(k, p->yield_window);
    k->y_pass += (s->mp & SPC_SAMPLE_PASS) ? 1 : 0;
    if (l && (l->mp & SPC_SAMPLE_PASS))
        k->y_pass--;
    if (l && !(k->active & (1u << SPC_DET_YIELD)) &&
        k->y_base_n < p->yield_base_max) { /* baseline yield: events that */
        k->y_base_n += 1;                  /* left the window while quiet */
        k->y_base_pass += (l->mp & SPC_SAMPLE_PASS) ? 1 : 0;
    }
    if (k->kind != SPC_KIND_NUMERIC)
        return;
    l = leaving(k, p->nl_window);
    k->nl_hi += (s->mp & SPC_SAMPLE_NEAR_HI) ? 1 : 0;
    k->nl_lo += (s->mp & SPC_SAMPLE_NEAR_LO) ? 1 : 0;
    if (l) {
        k->nl_hi -= (l->mp & SPC_SAMPLE_NEAR_HI) ? 1 : 0;
        k->nl_lo -= (l->mp & SPC_SAMPLE_NEAR_LO) ? 1 : 0;
    }
    { /* invalid values among the last flat_invalid_window events */
        uint32_t w = p->flat_invalid_window;
        uint32_t out =
            k->seq > w ? (uint32_t)(k->invalid_bits >> (w - 1)) & 1 : 0;

        k->invalid_bits = (k->invalid_bits << 1) | (isnan(s->value) ? 1u : 0u);
        k->inv_count = (uint8_t)(k->inv_count + (k->invalid_bits & 1) - out);
    }
}

static spc_err_t subgroup_slide(struct spc_dctx *c, const struct spc_sample *s)
{
    struct spc_key *k = c->k;

    if (!k->p->enabled[SPC_DET_SUBGROUP])
        return SPC_OK;
    return spc_sg_slide(c, s);
}

static void point_detectors(struct spc_dctx *c)
{
    const struct spc_params *p = c->p;

    if (c->base_ok)
        spc_chart_update(c);
    if (p->enabled[SPC_DET_SHEWHART] && c->base_ok)
        spc_det_shewhart(c);
    if (p->enabled[SPC_DET_ROBUST_Z])
        spc_det_robust_z(c);
    if (p->enabled[SPC_DET_EWMA] && c->base_ok)
        spc_det_ewma(c);
    if (p->enabled[SPC_DET_CUSUM] && c->base_ok)
        spc_det_cusum(c);
    if (p->enabled[SPC_DET_RUNS] && c->base_ok)
        spc_det_runs(c);
}

static void window_detectors(struct spc_dctx *c)
{
    const struct spc_params *p = c->p;

    if (c->ev->value_valid && c->base_ok) {
        if (p->enabled[SPC_DET_TREND])
            spc_det_trend(c);
        if (p->enabled[SPC_DET_VARIANCE])
            spc_det_variance(c);
        if (p->enabled[SPC_DET_NEAR_LIMIT])
            spc_det_near_limit(c);
    }
    if (p->enabled[SPC_DET_YIELD])
        spc_det_yield(c);
    if (p->enabled[SPC_DET_SUBGROUP])
        spc_det_subgroup(c);
    if (p->enabled[SPC_DET_FLATLINE])
        spc_det_flatline(c);
}

static spc_err_t process_one(struct spc_engine *e, const struct spc_event *ev,
                             struct spc_key *k, uint32_t tuple)
{
    struct spc_dctx c;
    struct spc_sample s;
    spc_err_t err = SPC_OK;

    memset(&c, 0, sizeof(c));
    c.eng = e;
    c.k = k;
    c.p = k->p;
    c.ev = ev;
    c.tuple = tuple;
    c.tuples = e->tuples;
    c.ndims = e->ndims;
    c.x = ev->value;
    k->seq++;
    k->dirty = 1;
    e->st.events++;
    if (k->kind == SPC_KIND_NUMERIC) {
        spc_event_spec(ev, &k->spec);
        ctx_baseline(&c);
        if (ev->value_valid) {
            e->st.valid++;
            point_detectors(&c);
        } else {
            e->st.invalid++;
            k->ninvalid++;
        }
    } else {
        e->st.attribute++;
    }
    s.value = k->kind == SPC_KIND_NUMERIC && ev->value_valid ? ev->value : NAN;
    s.ts = spc_sample_time(ev->ts_ms);
    s.mp = tuple | (ev->passed ? SPC_SAMPLE_PASS : 0u);
    if (!isnan(s.value))
        s.mp |= spc_near_flags(k, k->p, s.value);
    err = subgroup_slide(&c, &s);
    if (err)
        return err; /* the subgroup table could not grow: nothing changed */
    windows_slide(&c, &s);
    spc_ring_push(&k->ring, &s);
    if (!isnan(s.value)) {
        k->nvalid++;
        spc_welford_add(&k->lr, s.value);
    }
    if (k->kind == SPC_KIND_NUMERIC) {
        spc_trend_slide(&c);
        spc_variance_slide(&c);
    }
    window_detectors(&c);
    if (k->kind == SPC_KIND_NUMERIC) {
        if (k->active || k->runs.active)
            k->last_alarm = k->seq;
        base_after_push(k);
    }
    return SPC_OK;
}

static int same_meta(const struct spc_event *a, const struct spc_event *b,
                     unsigned n)
{
    return memcmp(a->meta, b->meta, n * sizeof(a->meta[0])) == 0;
}

/* Bring the lines the next event will touch towards the cache while the
 * current one is processed (state of 10 000 keys does not fit in L3).
 * Everything read here sits in the key's first line, which key_find()
 * loaded when the report's keys were resolved, so no prefetch waits for a
 * load (see spc_key.h).  Measured (docs/performance.md): the subgroup
 * table +9 %; the first line holding all of this and the leaving samples
 * +6 %; the whole sample array, every line of the key struct, anything
 * two events ahead, or only the event's own subgroup entries: slower or
 * no gain. */
static void prefetch_key(const struct spc_key *k)
{
    const struct spc_ring *r = &k->ring;
    const struct spc_params *p = k->p;
    const struct spc_sample *l;
    uint32_t i;

    /* the key struct's next lines */
    __builtin_prefetch((const char *)k + 64);
    __builtin_prefetch((const char *)k + 128);
    __builtin_prefetch((const char *)k + 192);
    __builtin_prefetch(r->s + (r->head ? r->head - 1 : r->cap - 1));
    __builtin_prefetch(r->s + r->head, 1);
    /* the samples leaving the yield and near-limit windows (the trend and
     * variance windows are as long by default), as windows_slide reads them */
    if ((l = leaving(k, p->yield_window)))
        __builtin_prefetch(l);
    if ((l = leaving(k, p->nl_window)))
        __builtin_prefetch(l);
    /* the sorted values where the first levels of every binary search
     * (push, median, MAD) land: sixteenths of the array (eighths and the
     * whole array measured slower) */
    for (i = 1; i < 16; i++)
        __builtin_prefetch(r->v + r->nvalid * i / 16);
    if (k->sg_ix) { /* the subgroup table: index and entries */
        __builtin_prefetch(k->sg_ix);
        __builtin_prefetch((const char *)k->sg_ix + 64);
    }
    for (i = 0; i < k->n_sg * sizeof(*k->sg); i += 64)
        __builtin_prefetch((const char *)k->sg + i, 1);
}

#define RESOLVE_CHUNK 64

/* Resolve (creating when new) the keys of ev[0..n) into e->batch. */
static spc_err_t resolve_keys(struct spc_engine *e, const struct spc_event *ev,
                              size_t n)
{
    const char *plan = NULL;
    uint64_t plan_h = 0, hs[RESOLVE_CHUNK];
    size_t i, c0;
    spc_err_t err = SPC_OK;

    if (n > e->cap_batch) {
        struct spc_key **b = spc_realloc(e->batch, n * sizeof(*b));

        if (!b)
            return SPC_ERR_NOMEM;
        e->batch = b;
        e->cap_batch = n;
    }
    for (c0 = 0; c0 < n; c0 += RESOLVE_CHUNK) {
        size_t m = SPC_MIN(n - c0, (size_t)RESOLVE_CHUNK);

        /* hashes first, their table slots prefetched, then the lookups:
         * the slot misses of a report overlap instead of queueing */
        for (i = 0; i < m; i++) {
            if (ev[c0 + i].test_plan != plan) {
                plan = ev[c0 + i].test_plan;
                plan_h = spc_hash64(plan, strlen(plan), 1);
            }
            hs[i] =
                key_hash(plan_h, ev[c0 + i].test_step, ev[c0 + i].measurement);
            __builtin_prefetch(&e->slots[(uint32_t)hs[i] & (e->nslots - 1)]);
        }
        for (i = 0; i < m; i++) {
            const struct spc_event *x = &ev[c0 + i];

            e->batch[c0 + i] =
                key_find(e, x->test_plan, x->test_step, x->measurement, x->kind,
                         hs[i], 1, &err);
            if (!e->batch[c0 + i])
                return err;
            __builtin_prefetch(e->batch[c0 + i]);
        }
    }
    return SPC_OK;
}

spc_err_t spc_engine_process(struct spc_engine *e, const struct spc_event *ev,
                             size_t n)
{
    const struct spc_event *tuple_ev = NULL;
    uint32_t tuple = 0;
    size_t i;
    spc_err_t err;

    if ((err = resolve_keys(e, ev, n)))
        return err;
    for (i = 0; i < n; i++) {
        if (i + 1 < n)
            prefetch_key(e->batch[i + 1]);
        /* events of one report share their meta pointers: intern once */
        if (!tuple_ev || !same_meta(tuple_ev, &ev[i], e->ndims)) {
            if ((err = tuple_of(e, &ev[i], &tuple)))
                return err;
            tuple_ev = &ev[i];
        }
        if ((err = process_one(e, &ev[i], e->batch[i], tuple)))
            return err;
    }
    return SPC_OK;
}

void spc_engine_get_stats(const struct spc_engine *e,
                          struct spc_engine_stats *out)
{
    size_t bytes = sizeof(*e) + e->nslots * sizeof(*e->slots) +
                   e->cap_keys * sizeof(*e->keys) +
                   (size_t)e->cap_tuples * e->ndims * 4 +
                   e->ntslots * sizeof(*e->tslots) + spc_intern_bytes(e->strs);
    uint32_t i;

    for (i = 0; i < e->nkeys; i++)
        bytes += KEY_BYTES + spc_ring_bytes(&e->keys[i]->ring) +
                 spc_sg_bytes(e->keys[i]);
    *out = e->st;
    out->keys = e->nkeys;
    out->state_bytes = bytes;
}

void spc_engine_foreach_key(struct spc_engine *e, int dirty_only,
                            spc_key_visit_cb *cb, void *opaque)
{
    uint32_t i;

    for (i = 0; i < e->nkeys; i++)
        if (!dirty_only || e->keys[i]->dirty)
            cb(e->keys[i], opaque);
}

spc_err_t spc_engine_key_get(struct spc_engine *e, const char *plan,
                             const char *step, const char *meas, uint8_t kind,
                             struct spc_key **out)
{
    uint64_t h = key_hash(spc_hash64(plan, strlen(plan), 1), step, meas);
    spc_err_t err = SPC_OK;
    struct spc_key *k = key_find(e, plan, step, meas, kind, h, 1, &err);

    if (!k)
        return err;
    *out = k;
    return SPC_OK;
}

struct spc_key *spc_engine_key_find(struct spc_engine *e, const char *plan,
                                    const char *step, const char *meas)
{
    uint64_t h = key_hash(spc_hash64(plan, strlen(plan), 1), step, meas);
    spc_err_t err;

    return key_find(e, plan, step, meas, 0, h, 0, &err);
}

void spc_engine_clear_dirty(struct spc_engine *e)
{
    uint32_t i;

    for (i = 0; i < e->nkeys; i++)
        e->keys[i]->dirty = 0;
}
