/*
 * spc_det_subgroup.c -- context-aware comparisons: for each metadata
 * dimension (station, fixture, operator, firmware, ...) the subgroup of the
 * current event against the rest of the key's recent window: mean (Welch),
 * yield (Fisher's exact test) and spread (log F), Bonferroni-corrected for
 * the number of subgroups tracked.
 *
 * DATA FLOW: sample -> per (dimension, value) sums of a jumping window (two
 *   buckets of W/2 events: the window holds the last W/2 to W events) ->
 *   tests for the event's own subgroups -> the most significant dimension
 *   is reported ("only fixture FX-2B"), the other significant ones are
 *   latched so one problem gives one alarm.
 * OWNERSHIP: the per-key entries and index are owned by the key.
 * THREADING: @locality worker.
 * FAILURE MODES: OOM while growing the table leaves the sums unchanged for
 *   that event and returns SPC_ERR_NOMEM (the engine reports it).
 * REFERENCES: Welch (1947) t-test and Welch-Satterthwaite df; Fisher's exact
 *   test (hypergeometric tail); log-F normal approximation,
 *   Var(ln F) ~ 2/df1 + 2/df2 (Box 1953); Bonferroni correction.
 */
#include "spc_detect.h"

#include <math.h>
#include <string.h>

#define CLIP_SIGMA 4.0

static inline uint32_t ix_hash(uint32_t value, unsigned dim)
{
    return (uint32_t)spc_mix64(((uint64_t)value << 5) | dim);
}

static struct spc_sg *sg_find(const struct spc_key *k, uint32_t value,
                              unsigned dim)
{
    uint32_t m = k->ix_sg - 1u, i;

    if (!k->ix_sg)
        return NULL;
    for (i = ix_hash(value, dim) & m; k->sg_ix[i]; i = (i + 1) & m) {
        struct spc_sg *e = &k->sg[k->sg_ix[i] - 1];

        if (e->value == value && e->dim == dim)
            return e;
    }
    return NULL;
}

/* Rebuild the index for the current entries with @p slots slots. */
static spc_err_t ix_rebuild(struct spc_key *k, uint32_t slots)
{
    uint16_t *ix = spc_calloc(slots, sizeof(*ix));
    uint32_t i, j;

    if (!ix)
        return SPC_ERR_NOMEM;
    for (i = 0; i < k->n_sg; i++) {
        j = ix_hash(k->sg[i].value, k->sg[i].dim) & (slots - 1);
        while (ix[j])
            j = (j + 1) & (slots - 1);
        ix[j] = (uint16_t)(i + 1);
    }
    free(k->sg_ix);
    k->sg_ix = ix;
    k->ix_sg = (uint16_t)slots;
    return SPC_OK;
}

static struct spc_sg *sg_add_entry(struct spc_key *k, uint32_t value,
                                   unsigned dim, spc_err_t *err)
{
    struct spc_sg *e;

    *err = SPC_ERR_NOMEM;
    if (k->n_sg == k->cap_sg) {
        uint32_t cap = k->cap_sg ? k->cap_sg * 2u : 8u;
        struct spc_sg *ne;

        if (cap > 16384u) {
            *err = SPC_ERR_RANGE;
            return NULL;
        }
        ne = spc_realloc(k->sg, cap * sizeof(*ne));
        if (!ne)
            return NULL;
        k->sg = ne;
        k->cap_sg = (uint16_t)cap;
    }
    e = &k->sg[k->n_sg++];
    memset(e, 0, sizeof(*e));
    e->value = value;
    e->dim = (uint8_t)dim;
    if ((uint32_t)k->n_sg * 4 > (uint32_t)k->ix_sg * 3) {
        uint32_t slots = k->ix_sg ? k->ix_sg * 2u : 16u;

        if (ix_rebuild(k, slots) != SPC_OK) {
            k->n_sg--;
            return NULL;
        }
    } else {
        uint32_t m = k->ix_sg - 1u, j = ix_hash(value, dim) & m;

        while (k->sg_ix[j])
            j = (j + 1) & m;
        k->sg_ix[j] = k->n_sg;
    }
    *err = SPC_OK;
    return e;
}

static inline void sg_accum(struct spc_sgb *b, int pass, int valid, float v)
{
    b->ne++;
    b->npass = (uint16_t)(b->npass + pass);
    if (!valid)
        return;
    b->n++;
    b->sum += v;
    b->sumsq += v * v;
}

/* Centred value, clipped at +-4 sigma of the baseline once there is one. */
static float sg_value(const struct spc_key *k, double x)
{
    if (k->base.ready && !k->base.degenerate) {
        double lim = CLIP_SIGMA * k->base.sigma;

        if (x < k->base.mean - lim)
            x = k->base.mean - lim;
        else if (x > k->base.mean + lim)
            x = k->base.mean + lim;
    }
    return (float)(x - k->sg_center);
}

/* Shift bucket @p b from centre c to centre c + d (exactly, in double). */
static void sgb_recentre(struct spc_sgb *b, double d)
{
    double n = b->n, sum = b->sum, sumsq = b->sumsq;

    b->sum = (float)(sum - n * d);
    b->sumsq = (float)(sumsq - 2.0 * d * sum + n * d * d);
}

/* Start a new half-window: the older bucket is cleared and refilled from
 * now on; values that have no event left in either bucket are dropped;
 * the sums are re-centred on the mean of the kept bucket. */
static spc_err_t sg_rotate(struct spc_key *k)
{
    unsigned keep = k->sg_cur, fresh = keep ^ 1u;
    double d = k->sg_tot.b[keep].n
                   ? (double)k->sg_tot.b[keep].sum / k->sg_tot.b[keep].n
                   : 0.0;
    uint32_t i, j;

    for (i = j = 0; i < k->n_sg; i++) {
        struct spc_sg *e = &k->sg[i];

        if (e->b[keep].ne == 0) { /* nothing of this value in the window */
            if (e->active)
                k->sg_active_any--;
            continue;
        }
        memset(&e->b[fresh], 0, sizeof(e->b[fresh]));
        sgb_recentre(&e->b[keep], d);
        k->sg[j++] = *e;
    }
    memset(&k->sg_tot.b[fresh], 0, sizeof(k->sg_tot.b[fresh]));
    sgb_recentre(&k->sg_tot.b[keep], d);
    k->sg_center += d;
    k->sg_cur = (uint8_t)fresh;
    k->sg_fill = 0;
    if (j != k->n_sg) {
        k->n_sg = (uint16_t)j;
        if (ix_rebuild(k, k->ix_sg) != SPC_OK)
            return SPC_ERR_NOMEM;
    }
    return SPC_OK;
}

spc_err_t spc_sg_slide(struct spc_dctx *c, const struct spc_sample *s)
{
    struct spc_key *k = c->k;
    uint32_t tuple = s->mp & SPC_SAMPLE_TUPLE_MASK, mask = c->p->sg_dims;
    int pass = (s->mp & SPC_SAMPLE_PASS) != 0, valid = !isnan(s->value);
    unsigned d, cur;
    float v;
    spc_err_t err;

    if (k->sg_fill >= (c->p->sg_window + 1) / 2 && (err = sg_rotate(k)))
        return err;
    if (valid && isnan(k->sg_center))
        k->sg_center = s->value;
    v = valid ? sg_value(k, s->value) : 0.0f;
    cur = k->sg_cur;
    c->n_sg_ent = 0;
    for (d = 0; d < c->ndims; d++) {
        uint32_t val;
        struct spc_sg *g;

        if (!(mask & (1u << d)))
            continue;
        val = spc_tuple_val(c, tuple, d);
        if (!val)
            continue;
        g = sg_find(k, val, d);
        if (!g && !(g = sg_add_entry(k, val, d, &err)))
            return err;
        sg_accum(&g->b[cur], pass, valid, v);
        c->sg_dim[c->n_sg_ent] = d;
        c->sg_ent[c->n_sg_ent++] = (uint16_t)(g - k->sg);
    }
    sg_accum(&k->sg_tot.b[cur], pass, valid, v);
    k->sg_fill++;
    return SPC_OK;
}

spc_err_t spc_sg_restore(struct spc_key *k, const struct spc_sg *entries,
                         size_t n)
{
    size_t i;
    spc_err_t err;

    k->n_sg = 0;
    k->sg_active_any = 0;
    if (k->sg_ix)
        memset(k->sg_ix, 0, k->ix_sg * sizeof(*k->sg_ix));
    for (i = 0; i < n; i++) {
        struct spc_sg *g = sg_find(k, entries[i].value, entries[i].dim);

        if (!g &&
            !(g = sg_add_entry(k, entries[i].value, entries[i].dim, &err)))
            return err;
        g->active = entries[i].active;
        g->b[0] = entries[i].b[0];
        g->b[1] = entries[i].b[1];
        if (g->active)
            k->sg_active_any++;
    }
    return SPC_OK;
}

void spc_sg_reset(struct spc_key *k)
{
    k->n_sg = 0;
    k->sg_active_any = 0;
    if (k->sg_ix)
        memset(k->sg_ix, 0, k->ix_sg * sizeof(*k->sg_ix));
    memset(&k->sg_tot, 0, sizeof(k->sg_tot));
    k->sg_cur = 0;
    k->sg_fill = 0;
    k->sg_center = NAN;
}

size_t spc_sg_bytes(const struct spc_key *k)
{
    return k->cap_sg * sizeof(struct spc_sg) + k->ix_sg * sizeof(uint16_t);
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

/* One subgroup of the event and the rest of the window, summarised once
 * for all three tests. */
/* Window totals of an entry: both buckets. */
struct sgw {
    double n, ne, npass, sum, sumsq;
};

struct sgs {
    struct spc_sg *g;
    unsigned dim;
    struct sgw w, t; /* the subgroup's and the whole window's sums */
    double ng, nr;   /* valid samples */
    double mg, mr;   /* means (centred) */
    double vg, vr;   /* variances; 0 until computed */
};

/* Result of one test on one subgroup. */
struct sgt {
    const struct sgs *s;
    double effect; /* size of the difference (units, yield, variance) */
    double stat;   /* ranking statistic (|t| or z) */
    double pv;     /* Bonferroni-adjusted p-value */
    double a, b;   /* subgroup and rest summary (mean / yield / sigma) */
    double na, nb; /* their counts */
    int dir;
};

/* The significance level of this event's tests: alpha, or alpha_diagnosis
 * while another detector's condition is active on the key (something is
 * known to be wrong; the question is only where). */
struct sglev {
    double alpha, zc; /* family-wise level, its critical z for G tests */
    double zhold;     /* an active condition holds while z > zhold */
    uint32_t G;
};

static double zc_at(double alpha, uint32_t g, const double *table)
{
    return g <= 64 ? table[g] : spc_norm_quantile(1.0 - alpha / (2.0 * g));
}

/* Diagnosis (alpha_diagnosis) only while a chart condition is active and
 * no subgroup is named yet: the first name comes sooner, further names
 * (overlapping subgroups: the operator of that shift, the socket of that
 * fixture) still need the full alpha.  A named condition holds at half
 * the lower critical value either way, so it does not flap when the chart
 * condition comes and goes. */
static void sg_level(const struct spc_dctx *c, struct sglev *L)
{
    const struct spc_params *p = c->p;
    const struct spc_key *k = c->k;
    uint32_t g = k->n_sg ? k->n_sg : 1;
    int diag = (k->active != 0 || k->runs.active) && !k->sg_active_any;
    double zn = zc_at(p->sg_alpha, g, p->d_sg_zc);
    double zd = zc_at(p->sg_alpha_diag, g, p->d_sg_zc_diag);

    L->alpha = diag ? p->sg_alpha_diag : p->sg_alpha;
    L->G = g;
    L->zc = diag ? zd : zn;
    L->zhold = SPC_MIN(zn, zd) / 2;
}

static double var_of(double n, double sum, double sumsq)
{
    double v = n > 1 ? (sumsq - sum * sum / n) / (n - 1.0) : 0.0;

    return v > 1e-300 ? v : 1e-300;
}

static inline void sg_window(const struct spc_sg *e, struct sgw *w)
{
    w->n = (double)e->b[0].n + e->b[1].n;
    w->ne = (double)e->b[0].ne + e->b[1].ne;
    w->npass = (double)e->b[0].npass + e->b[1].npass;
    w->sum = (double)e->b[0].sum + e->b[1].sum;
    w->sumsq = (double)e->b[0].sumsq + e->b[1].sumsq;
}

static void sgs_init(struct sgs *s, const struct sgw *tot, struct spc_sg *g,
                     unsigned dim)
{
    s->g = g;
    s->dim = dim;
    sg_window(g, &s->w);
    s->t = *tot;
    s->ng = s->w.n;
    s->nr = s->t.n - s->w.n;
    s->mg = s->ng > 0 ? s->w.sum / s->ng : 0.0;
    s->mr = s->nr > 0 ? (s->t.sum - s->w.sum) / s->nr : 0.0;
    s->vg = s->vr = 0.0;
}

static void sgs_var(struct sgs *s)
{
    if (s->vg > 0.0)
        return;
    s->vg = var_of(s->ng, s->w.sum, s->w.sumsq);
    s->vr = var_of(s->nr, s->t.sum - s->w.sum, s->t.sumsq - s->w.sumsq);
}

/* The test statistics, each written once: Welch's z of two means, the
 * pooled two-proportion z, and ln F over its asymptotic standard error. */
static double welch_z(double ma, double va, double na, double mb, double vb,
                      double nb)
{
    return (ma - mb) / sqrt(va / na + vb / nb);
}

static double prop_z(double pa, double na, double pb, double nb, double pp)
{
    return (pa - pb) / sqrt(pp * (1.0 - pp) * (1.0 / na + 1.0 / nb));
}

static double logf_z(double va, double na, double vb, double nb)
{
    return log(va / vb) / sqrt(2.0 / (na - 1.0) + 2.0 / (nb - 1.0));
}

/* What a report says of a subgroup against the rest, one function per
 * test: the statistic, effect, both sides' summaries and counts, the
 * direction (fill_*), and the Bonferroni-adjusted p-value (pv_*).  The
 * tests gate on them; sg_describe() uses them ungated. */
static void fill_mean(const struct spc_dctx *c, const struct sgs *s,
                      struct sgt *t)
{
    double d = s->mg - s->mr;

    t->stat = fabs(welch_z(s->mg, s->vg, s->ng, s->mr, s->vr, s->nr));
    t->effect = fabs(d);
    t->a = s->mg + c->k->sg_center;
    t->b = s->mr + c->k->sg_center;
    t->na = s->ng;
    t->nb = s->nr;
    t->dir = d > 0 ? 1 : -1;
}

static double pv_mean(const struct sgs *s, const struct sgt *t, uint32_t G)
{
    double a = s->vg / s->ng, b = s->vr / s->nr;
    double df =
        (a + b) * (a + b) / (a * a / (s->ng - 1.0) + b * b / (s->nr - 1.0));

    return SPC_MIN(1.0, 2.0 * G * spc_t_sf(t->stat, df));
}

static void fill_yield(const struct sgs *s, struct sgt *t)
{
    double ng = s->w.ne, nr = s->t.ne - s->w.ne;
    double pg = s->w.npass / ng, pr = (s->t.npass - s->w.npass) / nr;
    double pp = s->t.npass / s->t.ne;

    t->stat = prop_z(pr, nr, pg, ng, pp);
    t->effect = pr - pg;
    t->a = pg;
    t->b = pr;
    t->na = ng;
    t->nb = nr;
    t->dir = -1;
}

static double pv_yield(const struct sgs *s, uint32_t G)
{
    uint32_t fg = (uint32_t)(s->w.ne - s->w.npass);
    uint32_t F = (uint32_t)(s->t.ne - s->t.npass);

    return SPC_MIN(
        1.0, G * spc_hypergeom_sf(fg, (uint32_t)s->t.ne, F, (uint32_t)s->w.ne));
}

static void fill_var(const struct sgs *s, struct sgt *t)
{
    double F = s->vg / s->vr;

    t->stat = fabs(logf_z(s->vg, s->ng, s->vr, s->nr));
    /* excess (F - 1) or deficit (1 - F) of variance: both dilute linearly
     * when the subgroup is only part of a larger one */
    t->effect = F > 1.0 ? F - 1.0 : 1.0 - F;
    t->a = sqrt(s->vg);
    t->b = sqrt(s->vr);
    t->na = s->ng;
    t->nb = s->nr;
    t->dir = F > 1.0 ? 1 : -1;
}

static double pv_var(const struct sgt *t, uint32_t G)
{
    return SPC_MIN(1.0, 2.0 * G * spc_norm_sf(t->stat));
}

/* @returns 1 significant (a new or held condition), 0 not. */
static int test_mean(const struct spc_dctx *c, struct sgs *s, struct sgt *t,
                     const struct sglev *L)
{
    const double zc = L->zc;
    int hold = (s->g->active & SPC_SG_MEAN) != 0;
    double zt = hold ? L->zhold : zc, d = s->mg - s->mr;

    if (s->ng < c->p->sg_min_n || s->nr < c->p->sg_min_n)
        return 0;
    if (!hold && c->base_ok) {
        double off = c->k->sg_center - c->mu;

        if (fabs(d) < c->p->sg_min_shift * c->sigma)
            return 0; /* not a shift worth reporting, whatever its t */
        /* the subgroup must be the part that moved away from the
         * baseline, not the healthy remainder of a split population, and
         * significantly so against the baseline too */
        if (fabs(s->mg + off) <= fabs(s->mr + off) ||
            fabs(s->mg + off) * sqrt(s->ng) <= zc * c->sigma)
            return 0;
    }
    sgs_var(s);
    if (d * d <= zt * zt * (s->vg / s->ng + s->vr / s->nr))
        return 0; /* |t| <= z: cannot pass, skip the sqrt and the tail */
    fill_mean(c, s, t);
    if (hold)
        return 1;
    t->pv = pv_mean(s, t, L->G);
    return t->pv < L->alpha;
}

static int test_yield(const struct spc_dctx *c, struct sgs *s, struct sgt *t,
                      const struct sglev *L)
{
    double ng = s->w.ne, nr = s->t.ne - s->w.ne;
    uint32_t fg = (uint32_t)(s->w.ne - s->w.npass);
    int hold = (s->g->active & SPC_SG_YIELD) != 0;

    if (fg < (hold ? 1u : 3u) || ng < c->p->sg_min_n || nr < c->p->sg_min_n)
        return 0;
    fill_yield(s, t);
    if (!hold && t->effect < c->p->yield_min_drop_abs)
        return 0;
    if (t->stat <= (hold ? L->zhold : L->zc))
        return 0;
    if (hold)
        return 1;
    t->pv = pv_yield(s, L->G);
    return t->pv < L->alpha;
}

static int test_var(const struct spc_dctx *c, struct sgs *s, struct sgt *t,
                    const struct sglev *L)
{
    const double zc = L->zc;
    double r2 = c->p->var_ratio * c->p->var_ratio, F;
    int hold = (s->g->active & SPC_SG_VARIANCE) != 0;

    if (s->ng < c->p->sg_min_n || s->nr < c->p->sg_min_n)
        return 0;
    sgs_var(s);
    F = s->vg / s->vr;
    /* wider (noise, intermittent contact) or narrower (a stuck reading,
     * a clamped input): both ways, |ln F| against the normal limit */
    if (hold ? (F > 1.0 / r2 && F < r2) : (F > 1.0 / (r2 * r2) && F < r2))
        return 0;
    if (!hold && c->base_ok) {
        /* the subgroup's spread, not the rest's, must have left the
         * baseline, in the direction of the difference */
        double s2 = c->sigma * c->sigma;
        double lg = log(s->vg / s2), lr = log(s->vr / s2);

        if (fabs(lg) <= fabs(lr) || (lg > 0) != (F > 1.0) ||
            fabs(lg) <= zc * sqrt(2.0 / (s->ng - 1.0)))
            return 0;
        /* a subgroup far off the baseline sits on the clip (sg_value):
         * its spread is the clip's, not a stuck reading */
        if (F < 1.0 && fabs(s->mg + c->k->sg_center - c->mu) >
                           (CLIP_SIGMA - 1.0) * c->sigma)
            return 0;
    }
    fill_var(s, t);
    if (t->stat <= (hold ? L->zhold : zc))
        return 0;
    if (hold)
        return 1;
    t->pv = pv_var(t, L->G);
    return t->pv < L->alpha;
}

static void sg_fire(struct spc_dctx *c, unsigned test, const struct sgt *t,
                    const struct sglev *L)
{
    const struct spc_dims *dims = spc_engine_dims(c->eng);
    const char *dim = dims->names[t->s->dim];
    const char *val = spc_engine_str(c->eng, t->s->g->value);
    struct spc_anomaly a;
    char name[256], av[64], bv[64];

    spc_detect_begin(c, &a, SPC_DET_SUBGROUP);
    a.check = test == SPC_SG_MEAN    ? "mean"
              : test == SPC_SG_YIELD ? "yield"
                                     : "variance";
    a.sg_dim = dim;
    a.sg_value = val;
    a.value = t->a;
    a.score = t->stat;
    a.threshold = L->zc;
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
    } else if (t->a <= 1e-6 * t->b) {
        spc_anomaly_evidence(&a, "sigma_ratio", t->a / t->b);
        snprintf(a.message, sizeof(a.message),
                 "Only %s %s: %s read the same value for all of its last %.0f "
                 "units while it varies on the rest: the reading looks "
                 "stuck.",
                 dim_label(dim), val, name, t->na);
    } else if (t->a < 0.2 * t->b) {
        spc_anomaly_evidence(&a, "sigma_ratio", t->a / t->b);
        snprintf(a.message, sizeof(a.message),
                 "Only %s %s: %s barely varies there (%.2fx the rest's "
                 "spread over %.0f units): the reading looks stuck or "
                 "clamped.",
                 dim_label(dim), val, name, t->a / t->b, t->na);
    } else {
        spc_anomaly_evidence(&a, "sigma_ratio", t->a / t->b);
        snprintf(a.message, sizeof(a.message),
                 "Only %s %s: the spread of %s is %.2fx the rest's (%.0f vs "
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

typedef int (*sg_test_fn)(const struct spc_dctx *, struct sgs *, struct sgt *,
                          const struct sglev *);

/* A fixture sits on one station: when the station of the event is also
 * significant the same way with an effect of at least 60 % of the
 * fixture's, the station (both its fixtures) is the better explanation --
 * and if that station was already reported, the fixture is part of the same
 * condition: NULL, nothing new to report. */
static struct sgt *prefer_general(struct sgt *best, struct sgt *t,
                                  const int *sig, unsigned n, unsigned test)
{
    unsigned i;

    if (best->s->dim != SPC_DIM_FIXTURE)
        return best;
    for (i = 0; i < n; i++)
        if (sig[i] && t[i].dir == best->dir && t[i].s->dim == SPC_DIM_STATION &&
            t[i].effect >= 0.6 * best->effect)
            return (t[i].s->g->active & test) ? NULL : &t[i];
    return best;
}

/* @p s against the rest of the window for @p test, without any gate:
 * the statistics a report needs (attribution, see within_station). */
static void sg_describe(const struct spc_dctx *c, struct sgs *s, unsigned test,
                        struct sgt *t, uint32_t G)
{
    t->s = s;
    if (test == SPC_SG_YIELD) {
        fill_yield(s, t);
        t->pv = pv_yield(s, G);
        return;
    }
    sgs_var(s);
    if (test == SPC_SG_MEAN) {
        fill_mean(c, s, t);
        t->pv = pv_mean(s, t, G);
    } else {
        fill_var(s, t);
        t->pv = pv_var(t, G);
    }
}

/* The event's station @p st is significant for @p test in direction
 * @p dir.  Is it the station, or one of its fixtures?  The event's fixture
 * @p fx against the rest of the same station (a fixture sits on one
 * station, so station minus fixture is the station's other fixtures):
 * a wider station whose fixtures read different means is explained by the
 * fixture farther from the other stations.
 * @returns 1 the fixture stands out the same way (the fixture is the
 *   problem), -1 the station's other fixtures stand out (this event's
 *   fixture is a healthy one: nothing to report on this event), 0 neither
 *   (the whole station).  The station test already holds at the full
 *   alpha; this only attributes it, at z = zc / 2. */
static int within_station(const struct spc_dctx *c, const struct sgs *st,
                          const struct sgs *fx, unsigned test, int dir,
                          double zc)
{
    double nf, nr, z;

    if (test == SPC_SG_YIELD) {
        double pf, pr, pp;

        nf = fx->w.ne;
        nr = st->w.ne - fx->w.ne;
        if (nf < c->p->sg_min_n || nr < c->p->sg_min_n)
            return 0;
        pf = fx->w.npass / nf;
        pr = (st->w.npass - fx->w.npass) / nr;
        pp = st->w.npass / st->w.ne;
        if (pp <= 0.0 || pp >= 1.0)
            return 0;
        z = prop_z(pf, nf, pr, nr, pp);
    } else {
        double vf, vr, mf, mr, floor;

        nf = fx->w.n;
        nr = st->w.n - fx->w.n;
        if (nf < c->p->sg_min_n || nr < c->p->sg_min_n)
            return 0;
        /* floored at 1e-6 of the window's variance: two stuck fixtures
         * (float residuals of zero) are alike, not infinitely apart */
        floor = 1e-6 * var_of(st->t.n, st->t.sum, st->t.sumsq);
        vf = SPC_MAX(floor, var_of(nf, fx->w.sum, fx->w.sumsq));
        vr = SPC_MAX(floor, var_of(nr, st->w.sum - fx->w.sum,
                                   st->w.sumsq - fx->w.sumsq));
        mf = fx->w.sum / nf;
        mr = (st->w.sum - fx->w.sum) / nr;
        z = welch_z(mf, vf, nf, mr, vr, nr);
        if (test == SPC_SG_VARIANCE && dir > 0 && fabs(z) >= zc / 2) {
            /* the station is wider because its fixtures disagree: the
             * culprit is the one farther from the other stations */
            double no = st->t.n - st->w.n;
            double mo = no > 0 ? (st->t.sum - st->w.sum) / no : 0.0;

            return fabs(mf - mo) > fabs(mr - mo) ? 1 : -1;
        }
        if (test == SPC_SG_VARIANCE)
            z = logf_z(vf, nf, vr, nr);
    }
    if (dir * z >= zc / 2)
        return 1;
    return dir * z <= -zc / 2 ? -1 : 0;
}

/* Another subgroup of this event is already named for @p test, the same
 * way, with an effect at least 60 % of @p best's: @p best overlaps the
 * named condition (the operator of that station's shift, the socket of
 * that fixture) rather than being a problem of its own, so it is latched
 * without a report.  A genuinely separate problem shows on events outside
 * the named subgroup and is reported there. */
static int explained_by_named(const struct sgt *best, const struct sgt *t,
                              const int *sig, unsigned n, unsigned test)
{
    unsigned i;

    for (i = 0; i < n; i++)
        if (&t[i] != best && sig[i] && (t[i].s->g->active & test) &&
            t[i].dir == best->dir && t[i].effect >= 0.6 * best->effect)
            return 1;
    return 0;
}

/* Run @p test on the event's subgroups; report the strongest newly
 * significant one, latch the other significant ones, clear the rest. */
static void run_test(struct spc_dctx *c, struct sgs *ss, unsigned n,
                     unsigned test, sg_test_fn fn, const struct sglev *L)
{
    struct sgt t[SPC_META_MAX], *best = NULL;
    int sig[SPC_META_MAX], fresh;
    unsigned i, fx = n; /* the event's fixture entry, if any */

    for (i = 0; i < n; i++) {
        if (ss[i].dim == SPC_DIM_FIXTURE)
            fx = i;
        t[i].s = &ss[i];
        t[i].pv = 1.0;
        sig[i] = fn(c, &ss[i], &t[i], L);
        if (sig[i] && !(ss[i].g->active & test) &&
            (!best || t[i].stat > best->stat))
            best = &t[i];
    }
    fresh = best != NULL;
    if (best && fx < n && best->s->dim == SPC_DIM_STATION) {
        int w = within_station(c, best->s, &ss[fx], test, best->dir, L->zc);

        if (w < 0)
            return;  /* another fixture of this station: its events tell */
        if (w > 0) { /* one fixture of the station: name it */
            int named = (ss[fx].g->active & test) != 0;

            sg_describe(c, &ss[fx], test, &t[fx], L->G);
            sig[fx] = 1;
            best = named ? NULL : &t[fx]; /* named already: same condition */
        }
    } else if (best) {
        best = prefer_general(best, t, sig, n, test);
    }
    if (best && explained_by_named(best, t, sig, n, test))
        best = NULL;
    for (i = 0; i < n; i++)
        if (fresh || !sig[i])
            set_active(c->k, ss[i].g, test, sig[i]);
    if (best)
        sg_fire(c, test, best, L);
}

void spc_det_subgroup(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    unsigned tests = c->p->sg_tests, i, n;
    struct sgw tot;
    int numeric = k->kind == SPC_KIND_NUMERIC && c->ev->value_valid;
    struct sglev L;
    struct sgs ss[SPC_META_MAX];

    n = c->n_sg_ent; /* the event's own subgroups, found on entry */
    if (!n)
        return;
    sg_window(&k->sg_tot, &tot);
    for (i = 0; i < n; i++)
        sgs_init(&ss[i], &tot, &k->sg[c->sg_ent[i]], c->sg_dim[i]);
    sg_level(c, &L);
    if ((tests & SPC_SG_MEAN) && numeric)
        run_test(c, ss, n, SPC_SG_MEAN, test_mean, &L);
    if (tests & SPC_SG_YIELD)
        run_test(c, ss, n, SPC_SG_YIELD, test_yield, &L);
    if ((tests & SPC_SG_VARIANCE) && numeric)
        run_test(c, ss, n, SPC_SG_VARIANCE, test_var, &L);
}
