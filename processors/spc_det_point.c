/*
 * spc_det_point.c -- point detectors: each judges the new value against the
 * state before it (baseline, window, chart statistic).
 *
 * DATA FLOW: struct spc_dctx (value, baseline) -> chart statistic ->
 *   hysteresis edge -> spc_detect_fire()
 * THREADING: @locality worker.
 * REFERENCES:
 *   - Shewhart individuals chart: Montgomery, Introduction to Statistical
 *     Quality Control, 7th ed., section 6.4.  Estimation-error widening: the
 *     prediction-interval form x - xbar ~ s sqrt(1 + 1/n) t_{n-1}, the t
 *     quantile by its Cornish-Fisher expansion (Abramowitz & Stegun 26.7.5).
 *   - Robust z: Iglewicz & Hoaglin (1993), "How to detect and handle
 *     outliers" (modified z-score, MAD scaled by 1.4826).
 *   - EWMA: Montgomery section 9.2, eq. 9.24-9.25 (exact time-varying limits
 *     L sigma sqrt(lambda/(2-lambda) [1 - (1-lambda)^(2t)])); Lucas &
 *     Saccucci (1990).
 *   - Tabular CUSUM: Montgomery section 9.1.2, eq. 9.2-9.3; shift estimate
 *     mu0 + K + C+/N+ (eq. 9.4); fast initial response: Lucas & Crosier
 *     (1982), head start h/2.
 *   - Runs rules: Nelson, L. S. (1984), "The Shewhart control chart -- tests
 *     for special causes", JQT 16(4), rules 1-8.
 */
#include "spc_detect.h"

#include <float.h>
#include <math.h>
#include <string.h>

/* t quantile for the normal quantile z with nu degrees of freedom,
 * Cornish-Fisher to second order. */
static double t_from_z(double z, double nu)
{
    double z3 = z * z * z, z5 = z3 * z * z;

    return z + (z3 + z) / (4.0 * nu) +
           (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * nu * nu);
}

/* Limit widened for estimating mu and sigma from n samples. */
static double widen_limit(const struct spc_dctx *c, double L)
{
    if (c->widen <= 1.0)
        return L;
    return t_from_z(L, c->nbase - 1.0) * c->widen;
}

/* Clip a standardised value at +-clip (0 = no clipping). */
static inline double clip_z(double z, double clip)
{
    if (clip <= 0.0)
        return z;
    return z > clip ? clip : z < -clip ? -clip : z;
}

void spc_chart_update(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    const struct spc_params *p = c->p;
    double lam = p->ewma_lambda, kk = p->cusum_k;
    double z = (c->x - c->mu) / c->sigma;
    double ze = clip_z(z, p->ewma_clip), zc = clip_z(z, p->cusum_clip);

    k->ewma_t++;
    k->ewma = lam * (c->mu + ze * c->sigma) + (1.0 - lam) * k->ewma;
    k->cu_hi = SPC_MAX(0.0, k->cu_hi + zc - kk);
    k->cu_lo = SPC_MAX(0.0, k->cu_lo - zc - kk);
    k->cu_hi_n = k->cu_hi > 0 ? k->cu_hi_n + 1 : 0;
    k->cu_lo_n = k->cu_lo > 0 ? k->cu_lo_n + 1 : 0;
}

void spc_det_shewhart(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    struct spc_anomaly a;
    double z = (c->x - c->mu) / c->sigma, zj = z;
    double L = widen_limit(c, c->p->shewhart_L);
    char name[256], val[64], mean[64], where[160];
    int up = z > 0;

    /* During a reported sustained move, a point is judged against the
     * current level (the EWMA), not the old baseline: the move has already
     * been reported, only a spike on top of it is news. */
    if (spc_shift_active(k, up))
        zj = (c->x - k->ewma) / c->sigma;
    if (spc_spread_active(k) && k->var_q > 1.0)
        zj /= sqrt(k->var_q);
    if (!spc_edge(&k->active, SPC_DET_SHEWHART, fabs(zj) > L))
        return;
    spc_detect_begin(c, &a, SPC_DET_SHEWHART);
    a.score = fabs(zj);
    a.threshold = L;
    a.direction = up ? SPC_DIR_UP : SPC_DIR_DOWN;
    a.severity = spc_severity_of(a.score, L, c->x, &k->spec);
    spc_anomaly_evidence(&a, "z", z);
    spc_detect_step_name(c, name, sizeof(name));
    spc_detect_fmt_value(c, c->x, val, sizeof(val));
    spc_detect_fmt_value(c, c->mu, mean, sizeof(mean));
    spc_detect_where(c, where, sizeof(where));
    snprintf(a.message, sizeof(a.message),
             "%s read %s%s, %.1f sigma %s the baseline mean %s (limit %.2f "
             "sigma).",
             name, val, where, fabs(z), up ? "above" : "below", mean, L);
    spc_detect_fire(c, &a);
}

/* Mean absolute deviation from the median, scaled to sigma for normal data
 * (sqrt(pi/2)); the fallback when more than half the window is one value. */
static double mean_abs_dev(const struct spc_ring *r, double med)
{
    double s = 0.0;
    uint32_t i, n = 0;

    for (i = 0; i < r->count; i++) {
        double v = spc_ring_at(r, i)->value;

        if (!isnan(v)) {
            s += fabs(v - med);
            n++;
        }
    }
    return n ? 1.2533141373155 * s / n : 0.0;
}

void spc_det_robust_z(struct spc_dctx *c)
{
    const struct spc_ring *r = &c->k->ring;
    const struct spc_params *p = c->p;
    struct spc_anomaly a;
    double med, mad, scale, z, d;
    char name[256], val[64], medv[64], where[160];
    int on;

    if (r->nvalid < p->rz_min_samples)
        return;
    med = spc_ring_median(r);
    /* |x - med| > T (1.4826 MAD + eps)  <=>  MAD < (|x - med| / T - eps)
     * / 1.4826: two rank counts instead of computing the MAD. */
    d = (fabs(c->x - med) / p->rz_threshold - p->rz_eps) / 1.4826;
    on = spc_ring_mad_below(r, med, d);
    if (on && spc_ring_mad_below(r, med, DBL_MIN)) {
        /* MAD == 0 (more than half the window is one value): judge with
         * the mean absolute deviation instead, or not at all */
        scale = mean_abs_dev(r, med);
        on = scale > 0 &&
             fabs(c->x - med) / (scale + p->rz_eps) > p->rz_threshold;
    }
    if (!spc_edge(&c->k->active, SPC_DET_ROBUST_Z, on))
        return;
    /* the same point already reported by the Shewhart chart */
    if (c->k->last_alarm == c->k->seq &&
        (c->k->active & (1u << SPC_DET_SHEWHART)))
        return;
    mad = spc_ring_mad(r, med);
    scale = 1.4826 * mad;
    if (scale == 0.0)
        scale = mean_abs_dev(r, med);
    z = (c->x - med) / (scale + p->rz_eps);
    spc_detect_begin(c, &a, SPC_DET_ROBUST_Z);
    a.score = fabs(z);
    a.threshold = p->rz_threshold;
    a.direction = z > 0 ? SPC_DIR_UP : SPC_DIR_DOWN;
    a.severity = spc_severity_of(a.score, a.threshold, c->x, &c->k->spec);
    spc_anomaly_evidence(&a, "median", med);
    spc_anomaly_evidence(&a, "mad", mad);
    spc_anomaly_evidence(&a, "window", r->nvalid);
    spc_detect_step_name(c, name, sizeof(name));
    spc_detect_fmt_value(c, c->x, val, sizeof(val));
    spc_detect_fmt_value(c, med, medv, sizeof(medv));
    spc_detect_where(c, where, sizeof(where));
    snprintf(a.message, sizeof(a.message),
             "%s read %s%s, an outlier %.1f robust sigma %s the recent median "
             "%s of %u units.",
             name, val, where, fabs(z), z > 0 ? "above" : "below", medv,
             r->nvalid);
    spc_detect_fire(c, &a);
}

/* A level condition already reported by another detector (CUSUM, EWMA or
 * trend active the same way), or explained by a grown spread or by a
 * subgroup condition on the key: the caller latches without a new anomaly. */
static int explained(const struct spc_key *k, unsigned self, int up)
{
    uint16_t a = k->active;

    if (spc_spread_active(k) || k->sg_active_any)
        return 1; /* a grown spread, or one subgroup, explains the move */
    if (self != SPC_DET_CUSUM &&
        (a & (1u << (up ? SPC_DET_CUSUM : SPC_ACT_CUSUM_DN))))
        return 1;
    if (a & (1u << (up ? SPC_DET_TREND : SPC_ACT_TREND_DN)))
        return 1;
    return self != SPC_DET_EWMA && (a & (1u << SPC_DET_EWMA)) &&
           (up ? k->ewma > k->base.mean : k->ewma < k->base.mean);
}

void spc_det_ewma(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    const struct spc_params *p = c->p;
    double lam = p->ewma_lambda, f, sz, dev, score;
    struct spc_anomaly a;
    char name[256], where[160];
    unsigned need = (unsigned)ceil(1.0 / lam);

    f = lam / (2.0 - lam);
    if (p->ewma_exact && k->ewma_t < 60.0 / lam)
        f *= 1.0 - pow(1.0 - lam, 2.0 * k->ewma_t);
    if (c->widen > 1.0)
        f += 1.0 / c->nbase; /* Var(z - mu_hat) = sigma^2 (f + 1/n) */
    sz = c->sigma * sqrt(f);
    dev = k->ewma - c->mu;
    score = fabs(dev) / sz;
    /* hysteresis: latched until within half the limit for 1/lambda samples
     * (the EWMA's memory), so a small persistent shift alarms once */
    if (need > 255)
        need = 255;
    if (!spc_latch(&k->active, SPC_DET_EWMA, score > p->ewma_L,
                   score < p->ewma_L / 2, &k->ewma_quiet, need) ||
        explained(k, SPC_DET_EWMA, dev > 0))
        return;
    spc_detect_begin(c, &a, SPC_DET_EWMA);
    a.score = score;
    a.threshold = p->ewma_L;
    a.direction = dev > 0 ? SPC_DIR_UP : SPC_DIR_DOWN;
    a.severity = spc_severity_of(score, p->ewma_L, NAN, NULL);
    spc_anomaly_evidence(&a, "ewma", k->ewma);
    spc_anomaly_evidence(&a, "limit", p->ewma_L * sz);
    spc_anomaly_evidence(&a, "lambda", lam);
    spc_anomaly_evidence(&a, "shift_sigma", dev / c->sigma);
    spc_detect_step_name(c, name, sizeof(name));
    spc_detect_where(c, where, sizeof(where));
    snprintf(a.message, sizeof(a.message),
             "%s has moved %s: its EWMA is %.2f sigma %s the baseline "
             "(limit %.2f)%s.",
             name, dev > 0 ? "up" : "down", fabs(dev) / c->sigma,
             dev > 0 ? "above" : "below", p->ewma_L * sz / c->sigma, where);
    spc_detect_fire(c, &a);
}

static void cusum_fire(struct spc_dctx *c, int up, double cval, uint32_t run)
{
    struct spc_anomaly a;
    double shift = c->p->cusum_k + cval / (run ? run : 1);
    uint64_t change = c->k->seq >= run ? c->k->seq - run + 1 : 1;
    char name[256], where[160], delta[64];

    spc_detect_begin(c, &a, SPC_DET_CUSUM);
    a.score = cval;
    a.threshold = c->p->cusum_h;
    a.direction = up ? SPC_DIR_UP : SPC_DIR_DOWN;
    a.severity = shift >= 2.0   ? SPC_SEV_CRITICAL
                 : shift >= 1.0 ? SPC_SEV_WARNING
                                : SPC_SEV_INFO;
    if (spc_severity_of(0, 1, c->x, &c->k->spec) == SPC_SEV_CRITICAL)
        a.severity = SPC_SEV_CRITICAL;
    spc_anomaly_evidence(&a, "cusum", cval);
    spc_anomaly_evidence(&a, "k", c->p->cusum_k);
    spc_anomaly_evidence(&a, "h", c->p->cusum_h);
    spc_anomaly_evidence(&a, "shift_sigma", up ? shift : -shift);
    spc_anomaly_evidence(&a, "change_seq", (double)change);
    spc_detect_step_name(c, name, sizeof(name));
    spc_detect_where(c, where, sizeof(where));
    spc_detect_fmt_value(c, shift * c->sigma, delta, sizeof(delta));
    snprintf(a.message, sizeof(a.message),
             "%s has shifted %s by about %.1f sigma (%s%s) since sample %llu "
             "of this step%s.",
             name, up ? "up" : "down", shift, up ? "+" : "-", delta,
             (unsigned long long)change, where);
    spc_detect_fire(c, &a);
}

/* One side: signal on crossing h; latched (no reset) until back below h/2;
 * the statistic is clamped at 2h so recovery takes about 1.5h/k samples. */
static void cusum_side(struct spc_dctx *c, int up)
{
    struct spc_key *k = c->k;
    double h = c->p->cusum_h;
    double *cv = up ? &k->cu_hi : &k->cu_lo;
    unsigned bit = up ? SPC_DET_CUSUM : SPC_ACT_CUSUM_DN;
    int on = (k->active & (1u << bit)) ? *cv > h / 2 : *cv > h;

    if (spc_edge(&k->active, bit, on) && !explained(k, SPC_DET_CUSUM, up))
        cusum_fire(c, up, *cv, up ? k->cu_hi_n : k->cu_lo_n);
    *cv = SPC_MIN(*cv, 2.0 * h);
}

void spc_det_cusum(struct spc_dctx *c)
{
    cusum_side(c, 1);
    cusum_side(c, 0);
}

static const char *const nelson_text[9] = {
    "",
    "one point beyond 3 sigma",
    "%u points in a row on one side of the mean",
    "six points in a row steadily %s",
    "fourteen points in a row alternating up and down",
    "two of three points beyond 2 sigma on one side",
    "four of five points beyond 1 sigma on one side",
    "fifteen points in a row within 1 sigma (stratification)",
    "eight points in a row beyond 1 sigma on both sides (mixture)",
};

static void runs_fire(struct spc_dctx *c, int rule, double z)
{
    struct spc_anomaly a;
    char name[256], where[160], what[96];

    spc_detect_begin(c, &a, SPC_DET_RUNS);
    a.rule = rule;
    a.score = fabs(z);
    a.threshold = rule == 1 ? 3.0 : rule == 5 ? 2.0 : 1.0;
    a.direction = rule == 4 || rule == 7 || rule == 8 ? SPC_DIR_BOTH
                  : rule == 3 ? (c->k->runs.dir > 0 ? SPC_DIR_UP : SPC_DIR_DOWN)
                  : z > 0     ? SPC_DIR_UP
                              : SPC_DIR_DOWN;
    a.severity = rule == 1 ? SPC_SEV_WARNING : SPC_SEV_INFO;
    spc_anomaly_evidence(&a, "z", z);
    snprintf(what, sizeof(what), nelson_text[rule],
             rule == 2 ? c->p->runs_run_length : 0u);
    if (rule == 3)
        snprintf(what, sizeof(what), nelson_text[3],
                 c->k->runs.dir > 0 ? "increasing" : "decreasing");
    spc_detect_step_name(c, name, sizeof(name));
    spc_detect_where(c, where, sizeof(where));
    snprintf(a.message, sizeof(a.message), "%s: Nelson rule %d, %s%s.", name,
             rule, what, where);
    spc_detect_fire(c, &a);
}

static void runs_update(struct spc_runs *r, double x, double z)
{
    int side = z > 0 ? 1 : z < 0 ? -1 : 0;
    int dir = 0;

    r->side_run = side && side == r->side ? r->side_run + 1 : side ? 1 : 0;
    r->side = (int8_t)side;
    if (r->have_prev)
        dir = x > r->prev ? 1 : x < r->prev ? -1 : 0;
    r->mono_run = dir && dir == r->dir ? r->mono_run + 1 : dir ? 1 : 0;
    r->alt_run = dir && dir == -r->dir ? r->alt_run + 1 : dir ? 1 : 0;
    r->dir = (int8_t)dir;
    r->prev = x;
    r->have_prev = 1;
    r->in1_run = fabs(z) < 1.0 ? r->in1_run + 1 : 0;
    r->out1_run = fabs(z) > 1.0 ? r->out1_run + 1 : 0;
    r->hi2 = (uint8_t)(((r->hi2 << 1) | (z > 2.0)) & 0x7);
    r->lo2 = (uint8_t)(((r->lo2 << 1) | (z < -2.0)) & 0x7);
    r->hi1 = (uint8_t)((r->hi1 << 1) | (z > 1.0)); /* last 8 points */
    r->lo1 = (uint8_t)((r->lo1 << 1) | (z < -1.0));
}

void spc_det_runs(struct spc_dctx *c)
{
    struct spc_runs *r = &c->k->runs;
    double z = (c->x - c->mu) / c->sigma;
    int on[9] = {0}, rule;

    runs_update(r, c->x, z);
    on[1] = fabs(z) > 3.0;
    on[2] = r->side_run >= c->p->runs_run_length;
    on[3] = r->mono_run >= 5; /* six points: five steps one way */
    on[4] = r->alt_run >= 13; /* fourteen points: thirteen alternations */
    on[5] = spc_popc8(r->hi2) >= 2 || spc_popc8(r->lo2) >= 2;
    on[6] = spc_popc8(r->hi1 & 0x1fu) >= 4 || spc_popc8(r->lo1 & 0x1fu) >= 4;
    on[7] = r->in1_run >= 15;
    on[8] = r->out1_run >= 8 && r->hi1 && r->lo1; /* both sides present */
    for (rule = 1; rule <= 8; rule++) {
        if (!(c->p->runs_rules & (1u << rule)))
            continue;
        if (spc_edge(&r->active, (unsigned)rule, on[rule]))
            runs_fire(c, rule, z);
    }
}
