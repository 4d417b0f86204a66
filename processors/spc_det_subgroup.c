/*
 * spc_det_subgroup.c -- context-aware comparisons: for each metadata
 * dimension (station, fixture, operator, firmware, ...) the subgroup of the
 * current event against the rest of the key's recent window: mean (Welch),
 * yield (Fisher's exact test) and spread (log F), Bonferroni-corrected for
 * the number of subgroups tracked.
 *
 * DATA FLOW: sample -> per (dimension, value) window sums (added on entry,
 *   removed when it leaves the window, recomputed exactly every window) ->
 *   tests for the event's own subgroups -> the most significant dimension is
 *   reported ("only fixture FX-2B"), the other significant ones are latched
 *   so one problem gives one alarm.
 * OWNERSHIP: the per-key table is an open-addressed array owned by the key.
 * THREADING: @locality worker.
 * REFERENCES: Welch (1947) t-test and Welch-Satterthwaite df; Fisher's exact
 *   test (hypergeometric tail); log-F normal approximation,
 *   Var(ln F) ~ 2/df1 + 2/df2 (Box 1953); Bonferroni correction.
 */
#include "spc_detect.h"

#include <math.h>
#include <string.h>

#define CLIP_SIGMA 4.0

static uint32_t slot_of(uint32_t value, unsigned dim, uint16_t cap)
{
    return (uint32_t)spc_mix64(((uint64_t)value << 5) | dim) & (cap - 1u);
}

static struct spc_sg *sg_find(struct spc_key *k, uint32_t value, unsigned dim)
{
    uint32_t i;

    if (!k->cap_sg)
        return NULL;
    for (i = slot_of(value, dim, k->cap_sg); k->sg[i].value;
         i = (i + 1) & (k->cap_sg - 1u))
        if (k->sg[i].value == value && k->sg[i].dim == dim)
            return &k->sg[i];
    return NULL;
}

static void sg_place(struct spc_sg *tab, uint16_t cap, const struct spc_sg *e)
{
    uint32_t i = slot_of(e->value, e->dim, cap);

    while (tab[i].value)
        i = (i + 1) & (cap - 1u);
    tab[i] = *e;
}

/* Rebuild with @p cap slots, dropping entries with no events in the window
 * when @p prune is set. */
static spc_err_t sg_rebuild(struct spc_key *k, uint16_t cap, int prune)
{
    struct spc_sg *tab = spc_calloc(cap, sizeof(*tab));
    uint16_t i, n = 0;

    if (!tab)
        return SPC_ERR_NOMEM;
    for (i = 0; i < k->cap_sg; i++) {
        const struct spc_sg *e = &k->sg[i];

        if (!e->value)
            continue;
        if (prune && e->ne == 0) {
            if (e->active)
                k->sg_active_any--;
            continue;
        }
        sg_place(tab, cap, e);
        n++;
    }
    free(k->sg);
    k->sg = tab;
    k->cap_sg = cap;
    k->n_sg = n;
    return SPC_OK;
}

static struct spc_sg *sg_get(struct spc_key *k, uint32_t value, unsigned dim,
                             spc_err_t *err)
{
    struct spc_sg *e = sg_find(k, value, dim), ne;

    *err = SPC_OK;
    if (e)
        return e;
    if ((uint32_t)(k->n_sg + 1) * 2 > k->cap_sg) {
        uint32_t cap = k->cap_sg ? k->cap_sg * 2u : 16u;

        if (cap > 32768u) {
            *err = SPC_ERR_RANGE;
            return NULL;
        }
        if ((*err = sg_rebuild(k, (uint16_t)cap, 0)))
            return NULL;
    }
    memset(&ne, 0, sizeof(ne));
    ne.value = value;
    ne.dim = (uint8_t)dim;
    sg_place(k->sg, k->cap_sg, &ne);
    k->n_sg++;
    return sg_find(k, value, dim);
}

static void sg_accum(struct spc_sg *e, int sign, int pass, int valid, double v)
{
    e->ne = (uint16_t)(e->ne + sign);
    e->npass = (uint16_t)(e->npass + (pass ? sign : 0));
    if (!valid)
        return;
    e->n = (uint16_t)(e->n + sign);
    e->sum += sign * v;
    e->sumsq += sign * v * v;
}

/* Centred value, clipped at +-4 sigma of the baseline once there is one. */
static double sg_value(const struct spc_key *k, double x)
{
    if (k->base.ready && !k->base.degenerate) {
        double lo = k->base.mean - CLIP_SIGMA * k->base.sigma;
        double hi = k->base.mean + CLIP_SIGMA * k->base.sigma;

        x = x < lo ? lo : x > hi ? hi : x;
    }
    return x - k->sg_center;
}

spc_err_t spc_sg_add(struct spc_engine *e, struct spc_key *k,
                     const struct spc_sample *s, int sign)
{
    const struct spc_dims *dims = spc_engine_dims(e);
    uint32_t tuple = s->mp & SPC_SAMPLE_TUPLE_MASK, mask = k->p->sg_dims;
    int pass = (s->mp & SPC_SAMPLE_PASS) != 0, valid = !isnan(s->value);
    double v = 0.0;
    unsigned d;
    spc_err_t err;

    if (valid) {
        if (isnan(k->sg_center))
            k->sg_center = s->value; /* fixed offset against cancellation */
        v = sg_value(k, s->value);
    }
    for (d = 0; d < dims->n; d++) {
        uint32_t val;
        struct spc_sg *g;

        if (!(mask & (1u << d)))
            continue;
        val = spc_engine_tuple_value(e, tuple, d);
        if (!val)
            continue;
        if (sign > 0) {
            g = sg_get(k, val, d, &err);
            if (!g)
                return err;
        } else {
            g = sg_find(k, val, d);
            if (!g)
                continue; /* pruned while empty: nothing to remove */
        }
        sg_accum(g, sign, pass, valid, v);
    }
    sg_accum(&k->sg_tot, sign, pass, valid, v);
    return SPC_OK;
}

spc_err_t spc_sg_refresh(struct spc_engine *e, struct spc_key *k)
{
    uint32_t w = SPC_MIN(k->p->sg_window, k->ring.count), i;
    spc_err_t err;

    for (i = 0; i < k->cap_sg; i++) {
        struct spc_sg *g = &k->sg[i];

        g->n = g->ne = g->npass = 0;
        g->sum = g->sumsq = 0.0;
    }
    memset(&k->sg_tot, 0, sizeof(k->sg_tot));
    for (i = 0; i < w; i++)
        if ((err = spc_sg_add(e, k, spc_ring_back(&k->ring, w - 1 - i), 1)))
            return err;
    if (k->cap_sg && (err = sg_rebuild(k, k->cap_sg, 1)))
        return err;
    return SPC_OK;
}

static const char *dim_label(const char *dim)
{
    static const char *const map[][2] = {
        {"fw", "firmware"},
        {"sw_version", "software version"},
        {"sw_file", "test program"},
        {"hw_rev", "hardware revision"},
    };
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(map); i++)
        if (strcmp(dim, map[i][0]) == 0)
            return map[i][1];
    return dim;
}

/* Result of one test on one subgroup. */
struct sgt {
    struct spc_sg *g;
    unsigned dim;
    double stat;   /* ranking statistic (|t| or z) */
    double pv;     /* Bonferroni-adjusted p-value */
    double a, b;   /* subgroup and rest summary (mean / yield / sigma) */
    double na, nb; /* their counts */
    int sig, dir;
};

static double zcrit(const struct spc_params *p, uint32_t g)
{
    if (g <= 64)
        return p->d_sg_zc[g ? g : 1];
    return spc_norm_quantile(1.0 - p->sg_alpha / (2.0 * g));
}

static double var_of(const struct spc_sg *e, double n, double sum,
                     double sumsq)
{
    double v;

    (void)e;
    v = n > 1 ? (sumsq - sum * sum / n) / (n - 1.0) : 0.0;
    return v > 1e-300 ? v : 1e-300;
}

static void test_mean(const struct spc_dctx *c, struct sgt *t, double zc,
                      uint32_t G)
{
    const struct spc_key *k = c->k;
    const struct spc_sg *g = t->g, *T = &k->sg_tot;
    double ng = g->n, nr = (double)T->n - g->n, mg, mr, vg, vr, a, b, tt, df;
    double shift, scale;

    if (ng < c->p->sg_min_n || nr < c->p->sg_min_n)
        return;
    mg = g->sum / ng;
    mr = (T->sum - g->sum) / nr;
    vg = var_of(g, ng, g->sum, g->sumsq);
    vr = var_of(g, nr, T->sum - g->sum, T->sumsq - g->sumsq);
    a = vg / ng;
    b = vr / nr;
    tt = (mg - mr) / sqrt(a + b);
    scale = c->base_ok ? c->sigma : sqrt((vg + vr) / 2.0);
    shift = (mg - mr) / scale;
    t->stat = fabs(tt);
    t->a = mg + k->sg_center;
    t->b = mr + k->sg_center;
    t->na = ng;
    t->nb = nr;
    t->dir = tt > 0 ? 1 : -1;
    if ((g->active & SPC_SG_MEAN)) {
        t->sig = t->stat > zc / 2; /* hold */
        return;
    }
    if (t->stat <= zc || fabs(shift) < c->p->sg_min_shift)
        return;
    df = (a + b) * (a + b) /
         (a * a / (ng - 1.0) + b * b / (nr - 1.0));
    t->pv = SPC_MIN(1.0, 2.0 * G * spc_t_sf(t->stat, df));
    t->sig = t->pv < c->p->sg_alpha;
}

static void test_yield(const struct spc_dctx *c, struct sgt *t, double zc,
                       uint32_t G)
{
    const struct spc_sg *g = t->g, *T = &c->k->sg_tot;
    double ng = g->ne, nr = (double)T->ne - g->ne, pg, pr, pp, z;
    uint32_t fg = g->ne - g->npass, F = (T->ne - T->npass);

    if (ng < c->p->sg_min_n || nr < c->p->sg_min_n)
        return;
    pg = g->npass / ng;
    pr = (T->npass - g->npass) / nr;
    pp = T->npass / (double)T->ne;
    if (pp >= 1.0 || pp <= 0.0)
        return;
    z = (pr - pg) / sqrt(pp * (1.0 - pp) * (1.0 / ng + 1.0 / nr));
    t->stat = z;
    t->a = pg;
    t->b = pr;
    t->na = ng;
    t->nb = nr;
    t->dir = -1;
    if (g->active & SPC_SG_YIELD) {
        t->sig = z > zc / 2;
        return;
    }
    if (z <= zc || fg < 3 || pr - pg < c->p->yield_min_drop_abs)
        return;
    t->pv = SPC_MIN(1.0, G * spc_hypergeom_sf(fg, T->ne, F, g->ne));
    t->sig = t->pv < c->p->sg_alpha;
}

static void test_var(const struct spc_dctx *c, struct sgt *t, double zc,
                     uint32_t G)
{
    const struct spc_sg *g = t->g, *T = &c->k->sg_tot;
    double ng = g->n, nr = (double)T->n - g->n, vg, vr, F, z;
    double r2 = c->p->var_ratio * c->p->var_ratio;

    if (ng < c->p->sg_min_n || nr < c->p->sg_min_n)
        return;
    vg = var_of(g, ng, g->sum, g->sumsq);
    vr = var_of(g, nr, T->sum - g->sum, T->sumsq - g->sumsq);
    F = vg / vr;
    z = log(F) / sqrt(2.0 / (ng - 1.0) + 2.0 / (nr - 1.0));
    t->stat = z;
    t->a = sqrt(vg);
    t->b = sqrt(vr);
    t->na = ng;
    t->nb = nr;
    t->dir = 1;
    if (g->active & SPC_SG_VARIANCE) {
        t->sig = z > zc / 2;
        return;
    }
    if (z <= zc || F < r2)
        return;
    t->pv = SPC_MIN(1.0, G * spc_norm_sf(z));
    t->sig = t->pv < c->p->sg_alpha;
}

static void sg_fire(struct spc_dctx *c, unsigned test, const struct sgt *t)
{
    const struct spc_dims *dims = spc_engine_dims(c->eng);
    const char *dim = dims->names[t->dim];
    const char *val = spc_engine_str(c->eng, t->g->value);
    struct spc_anomaly a;
    char name[256], av[64], bv[64];

    spc_detect_begin(c, &a, SPC_DET_SUBGROUP);
    a.check = test == SPC_SG_MEAN ? "mean" : test == SPC_SG_YIELD ? "yield"
                                                                  : "variance";
    a.sg_dim = dim;
    a.sg_value = val;
    a.value = t->a;
    a.score = t->stat;
    a.threshold = zcrit(c->p, c->k->n_sg);
    a.direction = t->dir > 0 ? SPC_DIR_UP : SPC_DIR_DOWN;
    a.severity = spc_severity_of(t->stat, a.threshold, NAN, NULL);
    spc_anomaly_evidence(&a, "subgroup_n", t->na);
    spc_anomaly_evidence(&a, "rest_n", t->nb);
    spc_anomaly_evidence(&a, "p_value", t->pv);
    spc_detect_step_name(c, name, sizeof(name));
    if (test == SPC_SG_YIELD) {
        spc_anomaly_evidence(&a, "subgroup_yield", t->a);
        spc_anomaly_evidence(&a, "rest_yield", t->b);
        snprintf(a.message, sizeof(a.message),
                 "Only %s %s: yield of %s is %.1f%% there vs %.1f%% on the "
                 "rest (%.0f vs %.0f units).",
                 dim_label(dim), val, name, t->a * 100, t->b * 100, t->na,
                 t->nb);
    } else if (test == SPC_SG_MEAN) {
        spc_anomaly_evidence(&a, "subgroup_mean", t->a);
        spc_anomaly_evidence(&a, "rest_mean", t->b);
        spc_detect_fmt_value(c, t->a, av, sizeof(av));
        spc_detect_fmt_value(c, t->b, bv, sizeof(bv));
        snprintf(a.message, sizeof(a.message),
                 "Only %s %s: %s reads %s there vs %s on the rest (%.1f sigma "
                 "%s, %.0f vs %.0f units).",
                 dim_label(dim), val, name, av, bv,
                 c->base_ok ? fabs(t->a - t->b) / c->sigma : t->stat,
                 t->dir > 0 ? "higher" : "lower", t->na, t->nb);
    } else {
        spc_anomaly_evidence(&a, "sigma_ratio", t->a / t->b);
        snprintf(a.message, sizeof(a.message),
                 "Only %s %s: the spread of %s is %.1fx the rest's (%.0f vs "
                 "%.0f units).",
                 dim_label(dim), val, name, t->a / t->b, t->na, t->nb);
    }
    spc_detect_fire(c, &a);
}

static void set_active(struct spc_key *k, struct spc_sg *g, unsigned test,
                       int on)
{
    uint8_t before = g->active;

    if (on)
        g->active |= (uint8_t)test;
    else
        g->active &= (uint8_t)~test;
    if (!before && g->active)
        k->sg_active_any++;
    else if (before && !g->active)
        k->sg_active_any--;
}

/* Run @p test on every tracked dimension of the event; report the strongest
 * newly significant subgroup. */
static void run_test(struct spc_dctx *c, unsigned test)
{
    const struct spc_dims *dims = spc_engine_dims(c->eng);
    struct sgt t[SPC_META_MAX], *best = NULL;
    uint32_t G = c->k->n_sg ? c->k->n_sg : 1;
    double zc = zcrit(c->p, G);
    unsigned d, n = 0, i;
    int fresh = 0;

    for (d = 0; d < dims->n; d++) {
        uint32_t v;

        if (!(c->p->sg_dims & (1u << d)))
            continue;
        v = spc_engine_tuple_value(c->eng, c->tuple, d);
        if (!v)
            continue;
        memset(&t[n], 0, sizeof(t[n]));
        t[n].g = sg_find(c->k, v, d);
        t[n].dim = d;
        t[n].pv = 1.0;
        if (!t[n].g)
            continue;
        if (test == SPC_SG_MEAN)
            test_mean(c, &t[n], zc, G);
        else if (test == SPC_SG_YIELD)
            test_yield(c, &t[n], zc, G);
        else
            test_var(c, &t[n], zc, G);
        n++;
    }
    for (i = 0; i < n; i++) {
        if (t[i].sig && !(t[i].g->active & test)) {
            fresh = 1;
            if (!best || t[i].stat > best->stat)
                best = &t[i];
        }
    }
    for (i = 0; i < n; i++)
        if (fresh || !t[i].sig)
            set_active(c->k, t[i].g, test, t[i].sig);
    if (fresh && best)
        sg_fire(c, test, best);
}

void spc_det_subgroup(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    unsigned tests = c->p->sg_tests;

    if (--k->sg_refresh == 0) {
        k->sg_refresh = c->p->sg_window;
        if (spc_sg_refresh(c->eng, k) != SPC_OK)
            return; /* keeps the incremental sums; retried next window */
    }
    if ((tests & SPC_SG_MEAN) && c->ev->value_valid &&
        k->kind == SPC_KIND_NUMERIC)
        run_test(c, SPC_SG_MEAN);
    if (tests & SPC_SG_YIELD)
        run_test(c, SPC_SG_YIELD);
    if ((tests & SPC_SG_VARIANCE) && c->ev->value_valid &&
        k->kind == SPC_KIND_NUMERIC)
        run_test(c, SPC_SG_VARIANCE);
}
