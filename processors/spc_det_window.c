/*
 * spc_det_window.c -- detectors over the recent window of a key: trend,
 * variance, near_limit, flatline (data quality).
 *
 * DATA FLOW: ring (after the new sample) -> window statistic -> hysteresis
 *   edge -> spc_detect_fire()
 * THREADING: @locality worker.
 * REFERENCES:
 *   - Trend: the OLS slope of the last w values, winsorized at +-3 sigma of
 *     the baseline, tested with the baseline sigma (t = b sqrt(Sxx) / sigma,
 *     Montgomery & Runger, Applied Statistics, 11-4), kept in O(1) per
 *     event by sliding its sums; a single spike moves t by at most
 *     3 (w-1)/2 / sqrt(Sxx) = 0.8 at w = 40.  A new alarm also needs the
 *     Mann-Kendall test (Mann 1945; Kendall 1975: S = sum_{i<j}
 *     sgn(x_j - x_i), Var S = n(n-1)(2n+5)/18 without ties, continuity
 *     correction) to agree, so only a monotonic change is called a trend.
 *   - Variance: mean squared successive difference (von Neumann et al.
 *     1941), q = sum (x_i - x_{i-1})^2 / (2m); Var(q)/sigma^4 = (3n-4)/
 *     (n-1)^2 for iid normal data, so nu q ~ chi2(nu), nu = 2m^2/(3m-1)
 *     (Satterthwaite); insensitive to shifts and slow drifts.  Differences are
 *     winsorized at 3 sqrt(2) sigma so one spike cannot raise an alarm.
 *   - Binomial tails for near-limit and invalid-value rates.
 */
#include "spc_detect.h"

#include <math.h>
#include <string.h>

static inline int sgn(double d)
{
    return (d > 0) - (d < 0);
}

/* Clipped, centred value for the trend sums. */
static inline double tr_y(const struct spc_key *k, double x)
{
    x = x < k->tr_lo ? k->tr_lo : x > k->tr_hi ? k->tr_hi : x;
    return x - k->tr_center;
}

/* Exact recomputation of the OLS sums over the newest w events, with the
 * clip bounds of the current baseline (+-3 sigma) fixed until the next
 * recomputation so additions and removals stay consistent. */
static void trend_refresh(struct spc_key *k, uint32_t w, double mu,
                          double sigma)
{
    uint32_t n = SPC_MIN(w, k->ring.count), na, nb, i;
    const struct spc_sample *a, *b;

    k->tr_center = mu;
    k->tr_lo = mu - 3.0 * sigma;
    k->tr_hi = mu + 3.0 * sigma;
    k->tr_s1 = k->tr_s2 = k->tr_sy = k->tr_siy = 0.0;
    k->tr_n = 0;
    spc_ring_spans(&k->ring, n, &a, &na, &b, &nb);
    for (i = 0; i < n; i++) {
        double v = i < na ? a[i].value : b[i - na].value, y;
        double pos = (double)(w - n + i); /* newest at w - 1 */

        if (isnan(v))
            continue;
        y = tr_y(k, v);
        k->tr_n++;
        k->tr_s1 += pos;
        k->tr_s2 += pos * pos;
        k->tr_sy += y;
        k->tr_siy += pos * y;
    }
    k->tr_next = (uint16_t)w;
}

void spc_trend_slide(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    const struct spc_ring *r = &k->ring;
    uint32_t w = c->p->trend_window;
    double xn = spc_ring_back(r, 0)->value, n, last = w - 1.0;

    if (!c->p->enabled[SPC_DET_TREND] || !c->base_ok)
        return;
    if (k->tr_next == 0 || --k->tr_next == 0) {
        trend_refresh(k, w, c->mu, c->sigma);
        return;
    }
    if (r->count > w) { /* the oldest, at position 0, leaves */
        double xl = spc_ring_back(r, w)->value;

        if (!isnan(xl)) {
            k->tr_n--;
            k->tr_sy -= tr_y(k, xl);
        }
    }
    /* every remaining position moves down by one */
    n = k->tr_n;
    k->tr_s2 = k->tr_s2 - 2.0 * k->tr_s1 + n;
    k->tr_s1 -= n;
    k->tr_siy -= k->tr_sy;
    if (!isnan(xn)) { /* the new one enters at position w - 1 */
        double y = tr_y(k, xn);

        k->tr_n++;
        k->tr_s1 += last;
        k->tr_s2 += last * last;
        k->tr_sy += y;
        k->tr_siy += last * y;
    }
}

/* Mann-Kendall S of the newest w events, O(w^2): computed only when the
 * OLS test is already significant, to confirm a monotonic change. */
static int32_t mann_kendall(const struct spc_ring *r, uint32_t w)
{
    const struct spc_sample *a, *b;
    uint32_t na, nb, i, j;
    int32_t s = 0;

    spc_ring_spans(r, w, &a, &na, &b, &nb);
    for (i = 0; i < w; i++) {
        double vi = i < na ? a[i].value : b[i - na].value;

        if (isnan(vi))
            continue;
        for (j = i + 1; j < w; j++) {
            double vj = j < na ? a[j].value : b[j - na].value;

            s += (vj > vi) - (vj < vi); /* NaN: both false */
        }
    }
    return s;
}

static void trend_fire(struct spc_dctx *c, double slope, double zmk, double t,
                       uint32_t n)
{
    struct spc_anomaly a;
    char name[256], where[160], per[64];
    double s = slope / c->sigma;

    spc_detect_begin(c, &a, SPC_DET_TREND);
    a.score = SPC_MIN(fabs(zmk), fabs(t));
    a.threshold = c->p->d_trend_zc;
    a.direction = slope > 0 ? SPC_DIR_UP : SPC_DIR_DOWN;
    a.severity = spc_severity_of(a.score, a.threshold, c->x, &c->k->spec);
    spc_anomaly_evidence(&a, "slope_sigma", s);
    spc_anomaly_evidence(&a, "mk_z", zmk);
    spc_anomaly_evidence(&a, "ols_t", t);
    spc_anomaly_evidence(&a, "window", n);
    spc_detect_step_name(c, name, sizeof(name));
    spc_detect_where(c, where, sizeof(where));
    spc_detect_fmt_value(c, fabs(slope) * 100.0, per, sizeof(per));
    snprintf(a.message, sizeof(a.message),
             "%s is drifting %s by %s per 100 units (%.2f sigma per 100) over "
             "the last %u units%s.",
             name, slope > 0 ? "up" : "down", per, fabs(s) * 100.0, n, where);
    spc_detect_fire(c, &a);
}

void spc_det_trend(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    uint32_t w = c->p->trend_window;
    double n = k->tr_n, zc = c->p->d_trend_zc, sxx, slope, t, zmk = 0.0;
    int up = 0, down = 0, active;

    if (k->ring.count < w || k->tr_n < SPC_MAX(8u, w / 2))
        return;
    sxx = k->tr_s2 - k->tr_s1 * k->tr_s1 / n;
    if (sxx <= 0.0)
        return;
    slope = (k->tr_siy - k->tr_s1 * k->tr_sy / n) / sxx;
    t = slope * sqrt(sxx) / c->sigma; /* known-sigma t of the slope */
    active =
        ((k->active >> SPC_DET_TREND) | (k->active >> SPC_ACT_TREND_DN)) & 1;
    if (k->tr_mk_wait)
        k->tr_mk_wait--;
    else if (!active && fabs(t) > zc &&
             fabs(slope) / c->sigma >= c->p->trend_min_slope) {
        double s = mann_kendall(&k->ring, w);

        zmk = (s - (s > 0) + (s < 0)) /
              sqrt(n * (n - 1.0) * (2.0 * n + 5.0) / 18.0);
        up = t > zc && zmk > zc;
        down = t < -zc && zmk < -zc;
        if (!up && !down) /* O(w^2): not again for a tenth of a window */
            k->tr_mk_wait = (uint8_t)SPC_MIN(255u, w / 10);
    }
    /* cleared after half a window with the slope under half the limit */
    if (spc_latch(&k->active, SPC_DET_TREND, up, t < zc / 2, &k->trend_quiet,
                  SPC_MIN(255u, w / 2)) ||
        spc_latch(&k->active, SPC_ACT_TREND_DN, down, t > -zc / 2,
                  &k->trend_quiet, SPC_MIN(255u, w / 2)))
        trend_fire(c, slope, zmk, t, k->tr_n);
}

/* Exact recomputation of the windowed sum of capped squared successive
 * differences.  The cap is (3 sqrt 2)^2 = 18 times the larger of the
 * baseline variance and the last window's, fixed until the next
 * recomputation so additions and removals stay consistent: a spike counts
 * as at most a 3-sigma step while a real growth of the spread raises the
 * cap with it. */
static void variance_refresh(struct spc_key *k, uint32_t w, double sigma)
{
    const struct spc_sample *a, *b;
    uint32_t na, nb, i, n = SPC_MIN(w, k->ring.count);
    double prev = NAN, s = 0.0;

    k->var_cap = 18.0 * SPC_MAX(1.0, k->var_q) * sigma * sigma;
    k->var_m = 0;
    spc_ring_spans(&k->ring, n, &a, &na, &b, &nb);
    for (i = 0; i < n; i++) {
        double v = i < na ? a[i].value : b[i - na].value, d;

        if (!isnan(v) && !isnan(prev)) {
            d = v - prev;
            s += SPC_MIN(d * d, k->var_cap);
            k->var_m++;
        }
        prev = v;
    }
    k->var_sum = s;
    k->var_next = (uint16_t)w;
}

static inline double capped_sq(const struct spc_key *k, double x, double y)
{
    double d = x - y;

    return SPC_MIN(d * d, k->var_cap);
}

void spc_variance_slide(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    const struct spc_ring *r = &k->ring;
    uint32_t w = c->p->var_window;
    double x0, x1, xw, xw1;

    if (!c->p->enabled[SPC_DET_VARIANCE] || !c->base_ok)
        return;
    if (k->var_cap == 0.0 || --k->var_next == 0) {
        variance_refresh(k, w, c->sigma);
        return;
    }
    x0 = spc_ring_back(r, 0)->value;
    x1 = r->count > 1 ? spc_ring_back(r, 1)->value : NAN;
    if (!isnan(x0) && !isnan(x1)) { /* the new pair enters */
        k->var_sum += capped_sq(k, x0, x1);
        k->var_m++;
    }
    if (r->count > w) { /* the oldest pair leaves */
        xw = spc_ring_back(r, w)->value;
        xw1 = spc_ring_back(r, w - 1)->value;
        if (!isnan(xw) && !isnan(xw1)) {
            k->var_sum = SPC_MAX(0.0, k->var_sum - capped_sq(k, xw1, xw));
            k->var_m--;
        }
    }
}

static void variance_fire(struct spc_dctx *c, int up, double q, uint32_t m)
{
    struct spc_anomaly a;
    char name[256], where[160], rs[64], bs[64];
    double ratio = sqrt(q);

    spc_detect_begin(c, &a, SPC_DET_VARIANCE);
    a.value = c->sigma * ratio;
    a.score = up ? ratio : 1.0 / ratio;
    a.threshold = up ? sqrt(c->p->d_var_hi) : 1.0 / sqrt(c->p->d_var_lo);
    a.direction = up ? SPC_DIR_UP : SPC_DIR_DOWN;
    a.severity = spc_severity_of(a.score - 1.0, a.threshold - 1.0, NAN, NULL);
    spc_anomaly_evidence(&a, "sigma_ratio", ratio);
    spc_anomaly_evidence(&a, "recent_sigma", c->sigma * ratio);
    spc_anomaly_evidence(&a, "window", m + 1);
    spc_detect_step_name(c, name, sizeof(name));
    spc_detect_where(c, where, sizeof(where));
    spc_detect_fmt_value(c, c->sigma * ratio, rs, sizeof(rs));
    spc_detect_fmt_value(c, c->sigma, bs, sizeof(bs));
    snprintf(a.message, sizeof(a.message),
             "The spread of %s has %s to %.2fx its baseline (sigma %s vs %s) "
             "over the last %u units%s.",
             name, up ? "grown" : "shrunk", ratio, rs, bs, m + 1, where);
    spc_detect_fire(c, &a);
}

void spc_det_variance(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    uint32_t w = c->p->var_window, m;
    double q, hi = c->p->d_var_hi, lo = c->p->d_var_lo;

    if (k->ring.count < w || k->var_m < w / 2)
        return;
    m = k->var_m;
    q = k->var_sum / (2.0 * m * c->sigma * c->sigma);
    k->var_q = q;
    /* cleared once the ratio stayed half-way back to 1 for half a window */
    if (spc_latch(&k->active, SPC_DET_VARIANCE, q > hi, q < (1.0 + hi) / 2,
                  &k->var_quiet, SPC_MIN(255u, w / 2)))
        variance_fire(c, 1, q, m);
    if (spc_latch(&k->active, SPC_ACT_VAR_DN, q<lo, q>(1.0 + lo) / 2,
                  &k->var_quiet, SPC_MIN(255u, w / 2)))
        variance_fire(c, 0, q, m);
}

uint32_t spc_near_flags(const struct spc_key *k, const struct spc_params *p,
                        double x)
{
    const struct spc_spec *s = &k->spec;
    double f = p->nl_fraction, mu = k->base.mean;
    uint32_t fl = 0;

    if (s->has_lsl && s->has_usl) {
        double range = s->usl - s->lsl;

        if (x >= s->usl - f * range)
            fl |= SPC_SAMPLE_NEAR_HI;
        if (x <= s->lsl + f * range)
            fl |= SPC_SAMPLE_NEAR_LO;
        return fl;
    }
    if (!k->base.ready)
        return 0;
    /* one-sided: as if the spec were symmetric about the baseline mean */
    if (s->has_usl && s->usl > mu && x >= mu + (1.0 - 2.0 * f) * (s->usl - mu))
        fl |= SPC_SAMPLE_NEAR_HI;
    if (s->has_lsl && s->lsl < mu && x <= mu - (1.0 - 2.0 * f) * (mu - s->lsl))
        fl |= SPC_SAMPLE_NEAR_LO;
    return fl;
}

static void near_fire(struct spc_dctx *c, int hi, uint32_t cnt, uint32_t w,
                      double pb, double pv)
{
    struct spc_anomaly a;
    char name[256], where[160], lim[64];
    const struct spc_spec *s = &c->k->spec;

    spc_detect_begin(c, &a, SPC_DET_NEAR_LIMIT);
    a.score = (double)cnt / w;
    a.threshold = c->p->nl_min_rate;
    a.direction = hi ? SPC_DIR_UP : SPC_DIR_DOWN;
    a.severity = spc_severity_of(a.score, a.threshold, c->x, s);
    if (a.severity == SPC_SEV_INFO)
        a.severity = SPC_SEV_WARNING; /* margin erosion is worth a look */
    spc_anomaly_evidence(&a, "recent_near_rate", a.score);
    spc_anomaly_evidence(&a, "baseline_near_rate", pb);
    spc_anomaly_evidence(&a, "count", cnt);
    spc_anomaly_evidence(&a, "window", w);
    spc_anomaly_evidence(&a, "p_value", pv);
    spc_detect_step_name(c, name, sizeof(name));
    spc_detect_where(c, where, sizeof(where));
    spc_detect_fmt_value(c, hi ? s->usl : s->lsl, lim, sizeof(lim));
    snprintf(a.message, sizeof(a.message),
             "%s is creeping toward its %s limit %s: %u of the last %u units "
             "were within %.0f%% of the spec range of it (baseline %.1f%%)%s.",
             name, hi ? "upper" : "lower", lim, cnt, w,
             c->p->nl_fraction * 100.0, pb * 100.0, where);
    spc_detect_fire(c, &a);
}

static void near_side(struct spc_dctx *c, int hi, uint32_t cnt, double pb)
{
    struct spc_key *k = c->k;
    const struct spc_params *p = c->p;
    unsigned bit = hi ? SPC_DET_NEAR_LIMIT : SPC_ACT_NL_LO;
    uint32_t w = p->nl_window;
    double rate = (double)cnt / w, pv = 1.0;
    int on;

    if (k->active & (1u << bit)) {
        on = rate >= p->nl_min_rate / 2;
    } else {
        on = rate >= p->nl_min_rate && cnt >= 3;
        if (on) {
            pv = spc_binom_sf(cnt, w, pb);
            on = pv < p->nl_alpha;
        }
    }
    if (spc_edge(&k->active, bit, on))
        near_fire(c, hi, cnt, w, pb, pv);
}

void spc_det_near_limit(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    double pb;

    if ((!k->spec.has_lsl && !k->spec.has_usl) ||
        k->ring.count < c->p->nl_window)
        return;
    pb = (k->base.near + 0.5) / (k->base.near_n + 1.0);
    near_side(c, 1, k->nl_hi, pb);
    near_side(c, 0, k->nl_lo, pb);
}

static void flat_fire(struct spc_dctx *c, int stuck, double score, double thr,
                      double rate, uint32_t cnt)
{
    struct spc_anomaly a;
    char name[256], where[160], val[64];

    spc_detect_begin(c, &a, SPC_DET_FLATLINE);
    a.check = stuck ? "stuck" : "invalid_rate";
    a.score = score;
    a.threshold = thr;
    a.direction = SPC_DIR_NONE;
    a.severity = SPC_SEV_WARNING;
    spc_detect_step_name(c, name, sizeof(name));
    spc_detect_where(c, where, sizeof(where));
    if (stuck) {
        spc_anomaly_evidence(&a, "stuck_run", cnt);
        spc_anomaly_evidence(&a, "repeat_rate", rate);
        spc_detect_fmt_value(c, c->x, val, sizeof(val));
        snprintf(a.message, sizeof(a.message),
                 "%s has read exactly %s %u times in a row%s: the instrument "
                 "or its driver may be stuck.",
                 name, val, cnt, where);
    } else {
        spc_anomaly_evidence(&a, "count", cnt);
        spc_anomaly_evidence(&a, "baseline_rate", rate);
        spc_anomaly_evidence(&a, "window", c->p->flat_invalid_window);
        snprintf(a.message, sizeof(a.message),
                 "%s returned no valid number (NaN or text) in %u of the last "
                 "%u units%s.",
                 name, cnt, c->p->flat_invalid_window, where);
    }
    spc_detect_fire(c, &a);
}

static void flat_stuck(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    const struct spc_ring *r = &k->ring;
    double q, lq;
    int on;

    if (!c->ev->value_valid) {
        k->flat_run = 0;
    } else if (r->count >= 2 && spc_ring_back(r, 1)->value == c->x) {
        k->flat_run++;
    } else {
        k->flat_run = 1;
    }
    if (!k->base.ready)
        return;
    q = (k->base.reps + 0.5) / (k->base.pairs + 1.0);
    lq = (k->flat_run - 1.0) * log(q);
    on = k->flat_run >= c->p->flat_min_run && lq < c->p->d_flat_log_alpha;
    if (spc_edge(&k->active, SPC_DET_FLATLINE, on))
        flat_fire(c, 1, -lq / log(10.0), -c->p->d_flat_log_alpha / log(10.0), q,
                  k->flat_run);
}

static void flat_invalid(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    const struct spc_params *p = c->p;
    uint32_t w = p->flat_invalid_window, cnt = k->inv_count;
    double before, pb, pv = 1.0, rate = (double)cnt / w;
    int on;

    if (k->seq < w)
        return;
    before = (double)(k->seq - w);
    pb = ((double)(k->ninvalid - cnt) + 0.5) / (before + 1.0);
    if (k->active & (1u << SPC_ACT_FLAT_INVALID)) {
        on = rate >= p->flat_invalid_min_rate / 2;
    } else {
        on = rate >= p->flat_invalid_min_rate && cnt >= 3;
        if (on) {
            pv = spc_binom_sf(cnt, w, pb);
            on = pv < p->flat_invalid_alpha;
        }
    }
    if (spc_edge(&k->active, SPC_ACT_FLAT_INVALID, on))
        flat_fire(c, 0, rate, p->flat_invalid_min_rate, pb, cnt);
}

void spc_det_flatline(struct spc_dctx *c)
{
    if (c->k->kind != SPC_KIND_NUMERIC)
        return;
    flat_stuck(c);
    flat_invalid(c);
}
