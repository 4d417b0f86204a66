/*
 * spc_codec.c -- key state <-> versioned binary blob.
 *
 * LAYOUT (little-endian, see spc_buf.h codec primitives):
 *   "SPCK" u16 version | plan step meas unit (str) | kind u8
 *   | counters (seq, nvalid, ninvalid, base_seq, last_alarm u64)
 *   | active bits, quiet counters | long-run Welford | spec | baseline
 *   | chart state (EWMA, CUSUM, runs) | trend sums | variance sums
 *   | yield / near-limit / flatline counters
 *   | dimension names (u8 n, str...) | local tuple dictionary (u32 n, then
 *     n x ndims value strings) | ring (u32 count, then value f64, ts u32,
 *     flags u32 | local tuple index u32, oldest first)
 *   | subgroup (center, cur, fill, total buckets, u32 n entries: dim name
 *     index u8, value str, active u8, two buckets)
 * Dimensions are matched by name on import: a dimension the importing config
 * does not have is dropped, a new one starts empty.
 * FAILURE MODES: truncated or inconsistent input -> SPC_ERR_PARSE; OOM ->
 *   SPC_ERR_NOMEM; the engine is left as it was when import fails before
 *   the key is modified (the key is only replaced once the blob decoded).
 */
#include "spc_codec.h"

#include "spc_detect.h"
#include "spc_intern.h"

#include <math.h>
#include <string.h>

#define MAGIC 0x4b435053u /* "SPCK" */

static void put_welford(struct spc_buf *b, const struct spc_welford *w)
{
    spc_buf_f64(b, w->n);
    spc_buf_f64(b, w->mean);
    spc_buf_f64(b, w->m2);
}

static void get_welford(struct spc_rd *r, struct spc_welford *w)
{
    w->n = spc_rd_f64(r);
    w->mean = spc_rd_f64(r);
    w->m2 = spc_rd_f64(r);
}

static void put_bucket(struct spc_buf *b, const struct spc_sgb *x)
{
    spc_buf_u16(b, x->n);
    spc_buf_u16(b, x->ne);
    spc_buf_u16(b, x->npass);
    spc_buf_f64(b, x->sum);
    spc_buf_f64(b, x->sumsq);
}

static void get_bucket(struct spc_rd *r, struct spc_sgb *x)
{
    x->n = spc_rd_u16(r);
    x->ne = spc_rd_u16(r);
    x->npass = spc_rd_u16(r);
    x->sum = (float)spc_rd_f64(r);
    x->sumsq = (float)spc_rd_f64(r);
}

/* Scalars of the key (everything but strings, ring and subgroups). */
static void put_scalars(struct spc_buf *b, const struct spc_key *k)
{
    const struct spc_runs *u = &k->runs;

    spc_buf_u8(b, k->kind);
    spc_buf_u64(b, k->seq);
    spc_buf_u64(b, k->nvalid);
    spc_buf_u64(b, k->ninvalid);
    spc_buf_u64(b, k->base_seq);
    spc_buf_u64(b, k->last_alarm);
    spc_buf_u16(b, k->active);
    spc_buf_u8(b, k->ewma_quiet);
    spc_buf_u8(b, k->var_quiet);
    spc_buf_u8(b, k->trend_quiet);
    put_welford(b, &k->lr);
    spc_buf_f64(b, k->spec.lsl);
    spc_buf_f64(b, k->spec.usl);
    spc_buf_f64(b, k->spec.target);
    spc_buf_u8(b, (uint8_t)(k->spec.has_lsl | k->spec.has_usl << 1 |
                            k->spec.has_target << 2));
    spc_buf_f64(b, k->base.mean);
    spc_buf_f64(b, k->base.sigma);
    put_welford(b, &k->base.acc);
    spc_buf_u8(b, (uint8_t)(k->base.ready | k->base.frozen << 1 |
                            k->base.degenerate << 2));
    spc_buf_f64(b, k->base.reps);
    spc_buf_f64(b, k->base.pairs);
    spc_buf_f64(b, k->base.near);
    spc_buf_f64(b, k->base.near_n);
    spc_buf_u32(b, k->base.counted);
    spc_buf_f64(b, k->ewma);
    spc_buf_u32(b, k->ewma_t);
    spc_buf_f64(b, k->cu_hi);
    spc_buf_f64(b, k->cu_lo);
    spc_buf_u32(b, k->cu_hi_n);
    spc_buf_u32(b, k->cu_lo_n);
    spc_buf_u16(b, u->side_run);
    spc_buf_u8(b, (uint8_t)u->side);
    spc_buf_u8(b, (uint8_t)u->dir);
    spc_buf_u16(b, u->mono_run);
    spc_buf_u16(b, u->alt_run);
    spc_buf_u16(b, u->in1_run);
    spc_buf_u16(b, u->out1_run);
    spc_buf_u8(b, u->hi2);
    spc_buf_u8(b, u->lo2);
    spc_buf_u8(b, u->hi1);
    spc_buf_u8(b, u->lo1);
    spc_buf_f64(b, u->prev);
    spc_buf_u16(b, u->active);
    spc_buf_u8(b, u->have_prev);
    spc_buf_f64(b, k->tr_s1);
    spc_buf_f64(b, k->tr_s2);
    spc_buf_f64(b, k->tr_sy);
    spc_buf_f64(b, k->tr_siy);
    spc_buf_f64(b, k->tr_center);
    spc_buf_f64(b, k->tr_lo);
    spc_buf_f64(b, k->tr_hi);
    spc_buf_u16(b, k->tr_n);
    spc_buf_u16(b, k->tr_next);
    spc_buf_u8(b, k->tr_mk_wait);
    spc_buf_f64(b, k->var_q);
    spc_buf_f64(b, k->var_sum);
    spc_buf_f64(b, k->var_cap);
    spc_buf_u16(b, k->var_m);
    spc_buf_u16(b, k->var_next);
    spc_buf_u32(b, k->y_pass);
    spc_buf_f64(b, k->y_base_pass);
    spc_buf_f64(b, k->y_base_n);
    spc_buf_u32(b, k->nl_hi);
    spc_buf_u32(b, k->nl_lo);
    spc_buf_u32(b, k->flat_run);
    spc_buf_u64(b, k->invalid_bits);
    spc_buf_u8(b, k->inv_count);
}

static void get_scalars(struct spc_rd *r, struct spc_key *k)
{
    struct spc_runs *u = &k->runs;
    uint8_t f;

    k->kind = spc_rd_u8(r);
    k->seq = spc_rd_u64(r);
    k->nvalid = spc_rd_u64(r);
    k->ninvalid = spc_rd_u64(r);
    k->base_seq = spc_rd_u64(r);
    k->last_alarm = spc_rd_u64(r);
    k->active = spc_rd_u16(r);
    k->ewma_quiet = spc_rd_u8(r);
    k->var_quiet = spc_rd_u8(r);
    k->trend_quiet = spc_rd_u8(r);
    get_welford(r, &k->lr);
    k->spec.lsl = spc_rd_f64(r);
    k->spec.usl = spc_rd_f64(r);
    k->spec.target = spc_rd_f64(r);
    f = spc_rd_u8(r);
    k->spec.has_lsl = f & 1;
    k->spec.has_usl = (f >> 1) & 1;
    k->spec.has_target = (f >> 2) & 1;
    k->base.mean = spc_rd_f64(r);
    k->base.sigma = spc_rd_f64(r);
    get_welford(r, &k->base.acc);
    f = spc_rd_u8(r);
    k->base.ready = f & 1;
    k->base.frozen = (f >> 1) & 1;
    k->base.degenerate = (f >> 2) & 1;
    k->base.reps = spc_rd_f64(r);
    k->base.pairs = spc_rd_f64(r);
    k->base.near = spc_rd_f64(r);
    k->base.near_n = spc_rd_f64(r);
    k->base.counted = spc_rd_u32(r);
    k->ewma = spc_rd_f64(r);
    k->ewma_t = spc_rd_u32(r);
    k->cu_hi = spc_rd_f64(r);
    k->cu_lo = spc_rd_f64(r);
    k->cu_hi_n = spc_rd_u32(r);
    k->cu_lo_n = spc_rd_u32(r);
    u->side_run = spc_rd_u16(r);
    u->side = (int8_t)spc_rd_u8(r);
    u->dir = (int8_t)spc_rd_u8(r);
    u->mono_run = spc_rd_u16(r);
    u->alt_run = spc_rd_u16(r);
    u->in1_run = spc_rd_u16(r);
    u->out1_run = spc_rd_u16(r);
    u->hi2 = spc_rd_u8(r);
    u->lo2 = spc_rd_u8(r);
    u->hi1 = spc_rd_u8(r);
    u->lo1 = spc_rd_u8(r);
    u->prev = spc_rd_f64(r);
    u->active = spc_rd_u16(r);
    u->have_prev = spc_rd_u8(r);
    k->tr_s1 = spc_rd_f64(r);
    k->tr_s2 = spc_rd_f64(r);
    k->tr_sy = spc_rd_f64(r);
    k->tr_siy = spc_rd_f64(r);
    k->tr_center = spc_rd_f64(r);
    k->tr_lo = spc_rd_f64(r);
    k->tr_hi = spc_rd_f64(r);
    k->tr_n = spc_rd_u16(r);
    k->tr_next = spc_rd_u16(r);
    k->tr_mk_wait = spc_rd_u8(r);
    k->var_q = spc_rd_f64(r);
    k->var_sum = spc_rd_f64(r);
    k->var_cap = spc_rd_f64(r);
    k->var_m = spc_rd_u16(r);
    k->var_next = spc_rd_u16(r);
    k->y_pass = spc_rd_u32(r);
    k->y_base_pass = spc_rd_f64(r);
    k->y_base_n = spc_rd_f64(r);
    k->nl_hi = spc_rd_u32(r);
    k->nl_lo = spc_rd_u32(r);
    k->flat_run = spc_rd_u32(r);
    k->invalid_bits = spc_rd_u64(r);
    k->inv_count = spc_rd_u8(r);
}

/* Local dictionary of the tuples a key's ring uses. */
struct tdict {
    uint32_t *ids; /* engine tuple ids, in first-use order */
    uint32_t n, cap;
};

static int tdict_index(struct tdict *d, uint32_t id, uint32_t *out)
{
    uint32_t i;

    for (i = 0; i < d->n; i++)
        if (d->ids[i] == id) {
            *out = i;
            return 1;
        }
    if (d->n == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 16;
        uint32_t *n = spc_realloc(d->ids, cap * sizeof(*n));

        if (!n)
            return 0;
        d->ids = n;
        d->cap = cap;
    }
    d->ids[d->n] = id;
    *out = d->n++;
    return 1;
}

static spc_err_t encode_key(struct spc_engine *e, const struct spc_key *k,
                            struct spc_buf *b)
{
    const struct spc_dims *dims = spc_engine_dims(e);
    const uint32_t *tuples = spc_engine_tuples(e);
    struct tdict d = {NULL, 0, 0};
    uint32_t i, j, *loc = NULL;
    const struct spc_ring *r = &k->ring;
    spc_err_t err = SPC_OK;

    loc = spc_malloc((r->count ? r->count : 1) * sizeof(*loc));
    if (!loc)
        return SPC_ERR_NOMEM;
    for (i = 0; i < r->count; i++)
        if (!tdict_index(&d, spc_ring_at(r, i)->mp & SPC_SAMPLE_TUPLE_MASK,
                         &loc[i])) {
            err = SPC_ERR_NOMEM;
            goto out;
        }
    spc_buf_u32(b, MAGIC);
    spc_buf_u16(b, SPC_CODEC_VERSION);
    spc_buf_str(b, spc_engine_str(e, k->plan));
    spc_buf_str(b, spc_engine_str(e, k->step));
    spc_buf_str(b, spc_engine_str(e, k->meas));
    spc_buf_str(b, k->unit ? spc_engine_str(e, k->unit) : NULL);
    put_scalars(b, k);
    spc_buf_u8(b, (uint8_t)dims->n);
    for (i = 0; i < dims->n; i++)
        spc_buf_str(b, dims->names[i]);
    spc_buf_u32(b, d.n);
    for (i = 0; i < d.n; i++)
        for (j = 0; j < dims->n; j++) {
            uint32_t v = tuples[(size_t)d.ids[i] * dims->n + j];

            spc_buf_str(b, v ? spc_engine_str(e, v) : NULL);
        }
    spc_buf_u32(b, r->count);
    for (i = 0; i < r->count; i++) {
        const struct spc_sample *s = spc_ring_at(r, i);

        spc_buf_f64(b, s->value);
        spc_buf_u32(b, s->ts);
        spc_buf_u32(b, s->mp & ~SPC_SAMPLE_TUPLE_MASK);
        spc_buf_u32(b, loc[i]);
    }
    spc_buf_f64(b, k->sg_center);
    spc_buf_u8(b, k->sg_cur);
    spc_buf_u16(b, k->sg_fill);
    put_bucket(b, &k->sg_tot.b[0]);
    put_bucket(b, &k->sg_tot.b[1]);
    spc_buf_u32(b, k->n_sg);
    for (i = 0; i < k->n_sg; i++) {
        const struct spc_sg *g = &k->sg[i];

        spc_buf_u8(b, g->dim);
        spc_buf_str(b, spc_engine_str(e, g->value));
        spc_buf_u8(b, g->active);
        put_bucket(b, &g->b[0]);
        put_bucket(b, &g->b[1]);
    }
    if (!spc_buf_ok(b))
        err = SPC_ERR_NOMEM;
out:
    free(loc);
    free(d.ids);
    return err;
}

struct export_ctx {
    struct spc_engine *e;
    spc_codec_sink *cb;
    void *opaque;
    struct spc_buf blob, id;
    spc_err_t err;
};

static void export_one(struct spc_key *k, void *opaque)
{
    struct export_ctx *x = opaque;
    struct spc_engine *e = x->e;

    if (x->err)
        return;
    spc_buf_reset(&x->blob);
    spc_buf_reset(&x->id);
    spc_buf_printf(&x->id, "%s\x1f%s\x1f%s", spc_engine_str(e, k->plan),
                   spc_engine_str(e, k->step), spc_engine_str(e, k->meas));
    x->err = spc_buf_ok(&x->id) ? encode_key(e, k, &x->blob) : SPC_ERR_NOMEM;
    if (!x->err &&
        x->cb(x->id.data, x->id.len, x->blob.data, x->blob.len, x->opaque))
        x->err = SPC_ERR_IO;
}

spc_err_t spc_codec_export(struct spc_engine *e, int dirty_only,
                           spc_codec_sink *cb, void *opaque)
{
    struct export_ctx x;

    memset(&x, 0, sizeof(x));
    x.e = e;
    x.cb = cb;
    x.opaque = opaque;
    spc_buf_init(&x.blob);
    spc_buf_init(&x.id);
    spc_engine_foreach_key(e, dirty_only, export_one, &x);
    spc_buf_fini(&x.blob);
    spc_buf_fini(&x.id);
    return x.err;
}

/* ---- import ---- */

struct decoded {
    char *plan, *step, *meas, *unit;
    struct spc_key k; /* scalars only */
    int dim_map[256]; /* blob dimension -> engine dimension, -1 = drop */
    uint8_t ndims;
    uint32_t ntuples, *tuples; /* engine tuple ids */
    uint32_t count;
    struct spc_sample *samples;
    struct spc_sg tot;
    uint32_t n_sg;
    struct spc_sg *sg; /* value = engine string id */
    double center;
    uint8_t cur;
    uint16_t fill;
};

static void decoded_fini(struct decoded *d)
{
    free(d->plan);
    free(d->step);
    free(d->meas);
    free(d->unit);
    free(d->tuples);
    free(d->samples);
    free(d->sg);
}

static char *rd_strdup(struct spc_rd *r, int *null)
{
    uint32_t n;
    const char *s = spc_rd_str(r, &n);
    char *c;

    *null = s == NULL;
    if (!s)
        return NULL;
    c = spc_malloc(n + 1);
    if (c) {
        memcpy(c, s, n);
        c[n] = '\0';
    }
    return c;
}

/* Intern a (possibly absent) string from the blob. */
static spc_err_t rd_intern(struct spc_engine *e, struct spc_rd *r, uint32_t *id)
{
    uint32_t n;
    const char *s = spc_rd_str(r, &n);

    *id = SPC_INTERN_NONE;
    if (!s)
        return r->err ? SPC_ERR_PARSE : SPC_OK;
    return spc_engine_intern(e, s, n, id);
}

static spc_err_t decode_dims(struct spc_engine *e, struct spc_rd *r,
                             struct decoded *d)
{
    const struct spc_dims *dims = spc_engine_dims(e);
    uint32_t i, j, n;

    d->ndims = spc_rd_u8(r);
    for (i = 0; i < d->ndims; i++) {
        const char *s = spc_rd_str(r, &n);
        char name[64];

        d->dim_map[i] = -1;
        if (!s || n >= sizeof(name))
            continue;
        memcpy(name, s, n);
        name[n] = '\0';
        d->dim_map[i] = spc_dims_find(dims, name);
    }
    d->ntuples = spc_rd_u32(r);
    if (r->err || d->ntuples > (uint32_t)(r->end - r->p))
        return SPC_ERR_PARSE;
    d->tuples = spc_calloc(d->ntuples ? d->ntuples : 1, sizeof(uint32_t));
    if (!d->tuples)
        return SPC_ERR_NOMEM;
    for (i = 0; i < d->ntuples; i++) {
        uint32_t vals[SPC_META_MAX] = {0}, v;
        spc_err_t err;

        for (j = 0; j < d->ndims; j++) {
            if ((err = rd_intern(e, r, &v)))
                return err;
            if (d->dim_map[j] >= 0)
                vals[d->dim_map[j]] = v;
        }
        if ((err = spc_engine_tuple_intern(e, vals, &d->tuples[i])))
            return err;
    }
    return r->err ? SPC_ERR_PARSE : SPC_OK;
}

static spc_err_t decode_ring(struct spc_rd *r, struct decoded *d)
{
    uint32_t i;

    d->count = spc_rd_u32(r);
    if (r->err || d->count > SPC_RING_MAX ||
        (size_t)d->count * 20 > (size_t)(r->end - r->p))
        return SPC_ERR_PARSE;
    d->samples = spc_malloc((d->count ? d->count : 1) * sizeof(*d->samples));
    if (!d->samples)
        return SPC_ERR_NOMEM;
    for (i = 0; i < d->count; i++) {
        struct spc_sample *s = &d->samples[i];
        uint32_t flags, t;

        s->value = spc_rd_f64(r);
        s->ts = spc_rd_u32(r);
        flags = spc_rd_u32(r);
        t = spc_rd_u32(r);
        if (t >= d->ntuples || (flags & SPC_SAMPLE_TUPLE_MASK))
            return SPC_ERR_PARSE;
        s->mp = flags | d->tuples[t];
    }
    return r->err ? SPC_ERR_PARSE : SPC_OK;
}

static spc_err_t decode_subgroups(struct spc_engine *e, struct spc_rd *r,
                                  struct decoded *d)
{
    uint32_t i, kept = 0;
    spc_err_t err;

    d->center = spc_rd_f64(r);
    d->cur = spc_rd_u8(r) & 1;
    d->fill = spc_rd_u16(r);
    get_bucket(r, &d->tot.b[0]);
    get_bucket(r, &d->tot.b[1]);
    d->n_sg = spc_rd_u32(r);
    if (r->err || d->n_sg > 16384)
        return SPC_ERR_PARSE;
    d->sg = spc_calloc(d->n_sg ? d->n_sg : 1, sizeof(*d->sg));
    if (!d->sg)
        return SPC_ERR_NOMEM;
    for (i = 0; i < d->n_sg; i++) {
        struct spc_sg *g = &d->sg[kept];
        uint8_t dim = spc_rd_u8(r);

        if ((err = rd_intern(e, r, &g->value)))
            return err;
        g->active = spc_rd_u8(r);
        get_bucket(r, &g->b[0]);
        get_bucket(r, &g->b[1]);
        if (dim >= d->ndims || d->dim_map[dim] < 0 || !g->value)
            continue; /* a dimension this config does not track */
        g->dim = (uint8_t)d->dim_map[dim];
        kept++;
    }
    d->n_sg = kept;
    return r->err ? SPC_ERR_PARSE : SPC_OK;
}

static spc_err_t decode(struct spc_engine *e, const void *blob, size_t len,
                        struct decoded *d, char *errstr, size_t n)
{
    struct spc_rd r;
    uint32_t magic;
    uint16_t version;
    int null;
    spc_err_t err;

    spc_rd_init(&r, blob, len);
    magic = spc_rd_u32(&r);
    version = spc_rd_u16(&r);
    if (r.err || magic != MAGIC) {
        spc_errstr_set(errstr, n, "not a key state blob");
        return SPC_ERR_PARSE;
    }
    if (version != SPC_CODEC_VERSION) {
        spc_errstr_set(errstr, n, "state blob version %u, expected %u", version,
                       SPC_CODEC_VERSION);
        return SPC_ERR_PARSE;
    }
    d->plan = rd_strdup(&r, &null);
    d->step = rd_strdup(&r, &null);
    d->meas = rd_strdup(&r, &null);
    d->unit = rd_strdup(&r, &null);
    if (r.err || !d->plan || !d->step || !d->meas) {
        spc_errstr_set(errstr, n, "truncated key names");
        return r.err ? SPC_ERR_PARSE : SPC_ERR_NOMEM;
    }
    get_scalars(&r, &d->k);
    if ((err = decode_dims(e, &r, d)) || (err = decode_ring(&r, d)) ||
        (err = decode_subgroups(e, &r, d))) {
        spc_errstr_set(errstr, n, "%s in the state of %s/%s/%s",
                       err == SPC_ERR_NOMEM ? "out of memory"
                                            : "truncated or corrupt data",
                       d->plan, d->step, d->meas);
        return err;
    }
    if (r.p != r.end) {
        spc_errstr_set(errstr, n, "%zu trailing bytes in the state of %s",
                       (size_t)(r.end - r.p), d->step);
        return SPC_ERR_PARSE;
    }
    return SPC_OK;
}

/* Move decoded state into the key @p k (fresh or existing). */
static spc_err_t apply(struct spc_engine *e, struct spc_key *k,
                       struct decoded *d)
{
    struct spc_key saved = *k;
    uint32_t i, first;

    /* scalars: copy everything decode filled, keep the key's identity,
     * params, ring and subgroup table */
    *k = d->k;
    k->plan = saved.plan;
    k->step = saved.step;
    k->meas = saved.meas;
    k->p = saved.p;
    k->ring = saved.ring;
    k->sg = saved.sg;
    k->sg_ix = saved.sg_ix;
    k->cap_sg = saved.cap_sg;
    k->ix_sg = saved.ix_sg;
    k->n_sg = 0;
    k->unit = SPC_INTERN_NONE;
    if (d->unit && spc_engine_intern(e, d->unit, strlen(d->unit), &k->unit))
        return SPC_ERR_NOMEM;
    spc_ring_clear(&k->ring);
    first = d->count > k->ring.cap ? d->count - k->ring.cap : 0;
    for (i = first; i < d->count; i++)
        spc_ring_push(&k->ring, &d->samples[i]);
    if (k->sg_ix)
        memset(k->sg_ix, 0, k->ix_sg * sizeof(*k->sg_ix));
    k->sg_tot = d->tot;
    k->sg_center = d->center;
    k->sg_cur = d->cur;
    k->sg_fill = d->fill;
    k->sg_active_any = 0;
    return spc_sg_restore(k, d->sg, d->n_sg);
}

spc_err_t spc_codec_import(struct spc_engine *e, const void *blob, size_t len,
                           char *errstr, size_t errstr_size)
{
    struct decoded d;
    struct spc_key *k;
    spc_err_t err;

    memset(&d, 0, sizeof(d));
    err = decode(e, blob, len, &d, errstr, errstr_size);
    if (!err)
        err = spc_engine_key_get(e, d.plan, d.step, d.meas, d.k.kind, &k);
    if (!err)
        err = apply(e, k, &d);
    if (err == SPC_ERR_NOMEM)
        spc_errstr_set(errstr, errstr_size, "out of memory");
    else if (!err)
        k->dirty = 0;
    decoded_fini(&d);
    return err;
}
