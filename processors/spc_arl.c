/*
 * spc_arl.c -- ARL computation and the alarm budget.
 *
 * REFERENCES:
 *   - Brook, D. & Evans, D. A. (1972). An approach to the probability
 *     distribution of CUSUM run length. Biometrika 59(3), 539-549.
 *   - Lucas, J. M. & Crosier, R. B. (1982). Fast initial response for CUSUM
 *     quality-control schemes. Technometrics 24(3), 199-205 (two-sided ARL
 *     from the one-sided ones).
 *   - Lucas, J. M. & Saccucci, M. S. (1990). Exponentially weighted moving
 *     average control schemes: properties and enhancements. Technometrics
 *     32(1), 1-12.
 *   - Montgomery, D. C. Introduction to Statistical Quality Control, 7th ed.,
 *     sections 9.1 (CUSUM) and 9.2 (EWMA).
 */
#include "spc_arl.h"

#include "spc_config.h"
#include "spc_stats.h"

#include <math.h>
#include <string.h>

double spc_arl_shewhart(double L, double delta)
{
    double p = spc_norm_cdf(-L - delta) + spc_norm_sf(L - delta);

    return 1.0 / p;
}

/* Solve (I - R) x = 1 for x by Gaussian elimination with partial pivoting;
 * R is m x m row-major; returns x[start]. */
static double solve_arl(double *R, int m, int start)
{
    double *x = spc_malloc((size_t)m * sizeof(double)), res;
    int i, j, c;

    if (!x)
        return NAN;
    for (i = 0; i < m; i++) {
        for (j = 0; j < m; j++)
            R[i * m + j] = (i == j ? 1.0 : 0.0) - R[i * m + j];
        x[i] = 1.0;
    }
    for (c = 0; c < m; c++) {
        int piv = c;
        double t;

        for (i = c + 1; i < m; i++)
            if (fabs(R[i * m + c]) > fabs(R[piv * m + c]))
                piv = i;
        if (piv != c) {
            for (j = 0; j < m; j++) {
                t = R[c * m + j];
                R[c * m + j] = R[piv * m + j];
                R[piv * m + j] = t;
            }
            t = x[c];
            x[c] = x[piv];
            x[piv] = t;
        }
        for (i = c + 1; i < m; i++) {
            double f = R[i * m + c] / R[c * m + c];

            if (f == 0.0)
                continue;
            for (j = c; j < m; j++)
                R[i * m + j] -= f * R[c * m + j];
            x[i] -= f * x[c];
        }
    }
    for (i = m - 1; i >= 0; i--) {
        double s = x[i];

        for (j = i + 1; j < m; j++)
            s -= R[i * m + j] * x[j];
        x[i] = s / R[i * m + i];
    }
    res = x[start];
    free(x);
    return res;
}

/* One-sided upper CUSUM C = max(0, C + x - k), signal when C > h, x ~
 * N(delta, 1).  State 0 is [0, w/2], state i the interval of width w
 * centred on i*w; w = 2h / (2m - 1) so the last state ends at h. */
static double cusum_one_sided(double k, double h, double delta, double head,
                              int m)
{
    double w = 2.0 * h / (2.0 * m - 1.0), res;
    double *R = spc_malloc((size_t)m * m * sizeof(double));
    int i, j, start;

    if (!R)
        return NAN;
    for (i = 0; i < m; i++) {
        double c = i * w;

        R[i * m] = spc_norm_cdf(0.5 * w - c + k - delta);
        for (j = 1; j < m; j++)
            R[i * m + j] = spc_norm_cdf((j + 0.5) * w - c + k - delta) -
                           spc_norm_cdf((j - 0.5) * w - c + k - delta);
    }
    start = (int)floor(head / w + 0.5);
    if (start >= m)
        start = m - 1;
    res = solve_arl(R, m, start);
    free(R);
    return res;
}

double spc_arl_cusum(double k, double h, double delta, double head, int states)
{
    double up = cusum_one_sided(k, h, delta, head, states);
    double down = cusum_one_sided(k, h, -delta, head, states);

    return 1.0 / (1.0 / up + 1.0 / down);
}

double spc_arl_ewma(double lambda, double L, double delta, int states)
{
    double hw = L * sqrt(lambda / (2.0 - lambda)), w, res;
    int m = states | 1, i, j;
    double *R = spc_malloc((size_t)m * m * sizeof(double));

    if (!R)
        return NAN;
    w = 2.0 * hw / m;
    for (i = 0; i < m; i++) {
        double c = -hw + (i + 0.5) * w, base = (1.0 - lambda) * c;

        for (j = 0; j < m; j++) {
            double lo = -hw + j * w, up = lo + w;

            R[i * m + j] = spc_norm_cdf((up - base) / lambda - delta) -
                           spc_norm_cdf((lo - base) / lambda - delta);
        }
    }
    res = solve_arl(R, m, m / 2);
    free(R);
    return res;
}

double spc_cusum_h_for_arl(double k, double arl0)
{
    double lo = 0.5, hi = 60.0;
    int i;

    for (i = 0; i < 60; i++) {
        double mid = 0.5 * (lo + hi);

        if (spc_arl_cusum(k, mid, 0.0, 0.0, 120) < arl0)
            lo = mid;
        else
            hi = mid;
        if (hi - lo < 1e-3)
            break;
    }
    return 0.5 * (lo + hi);
}

double spc_ewma_L_for_arl(double lambda, double arl0)
{
    double lo = 1.0, hi = 8.0;
    int i;

    for (i = 0; i < 60; i++) {
        double mid = 0.5 * (lo + hi);

        if (spc_arl_ewma(lambda, mid, 0.0, 151) < arl0)
            lo = mid;
        else
            hi = mid;
        if (hi - lo < 1e-4)
            break;
    }
    return 0.5 * (lo + hi);
}

double spc_budget_alpha(const struct spc_alarm_budget *b)
{
    if (!b || !b->set)
        return 0.0;
    return b->false_alarms_per_hour / (b->units_per_hour * b->charted_steps);
}

/* Share of the budget per detector (normalised over the enabled ones).
 * runs is not tunable: when enabled its fixed rate is subtracted first. */
static const double budget_weight[SPC_DET__COUNT] = {
    [SPC_DET_SHEWHART] = 0.10, [SPC_DET_ROBUST_Z] = 0.10,
    [SPC_DET_EWMA] = 0.15,     [SPC_DET_CUSUM] = 0.15,
    [SPC_DET_TREND] = 0.10,    [SPC_DET_VARIANCE] = 0.10,
    [SPC_DET_YIELD] = 0.05,    [SPC_DET_NEAR_LIMIT] = 0.05,
    [SPC_DET_SUBGROUP] = 0.15, [SPC_DET_RUNS] = 0.0,
    [SPC_DET_FLATLINE] = 0.05,
};

void spc_budget_apply(const struct spc_alarm_budget *b, struct spc_params *p)
{
    double alpha = spc_budget_alpha(b), wsum = 0.0, a[SPC_DET__COUNT];
    int d;

    if (alpha <= 0.0)
        return;
    if (p->enabled[SPC_DET_RUNS]) /* Western Electric 1,2,5,6: ARL 91.75 */
        alpha -= 1.0 / 91.75;
    if (alpha <= 1e-12)
        alpha = 1e-12; /* the budget is spent by runs alone: be strict */
    for (d = 0; d < SPC_DET__COUNT; d++)
        if (p->enabled[d])
            wsum += budget_weight[d];
    if (wsum <= 0.0)
        return;
    for (d = 0; d < SPC_DET__COUNT; d++)
        a[d] = alpha * budget_weight[d] / wsum;
    p->shewhart_L = spc_norm_quantile(1.0 - a[SPC_DET_SHEWHART] / 2.0);
    /* robust z uses a window estimate: treat as Student t with the MAD's
     * effective degrees of freedom (efficiency 0.37 of n). */
    p->rz_threshold = spc_t_quantile(1.0 - a[SPC_DET_ROBUST_Z] / 2.0,
                                     0.37 * p->rz_min_samples + 1.0);
    p->cusum_h = spc_cusum_h_for_arl(p->cusum_k, 1.0 / a[SPC_DET_CUSUM]);
    p->ewma_L = spc_ewma_L_for_arl(p->ewma_lambda, 1.0 / a[SPC_DET_EWMA]);
    p->trend_alpha = a[SPC_DET_TREND];
    p->var_alpha = a[SPC_DET_VARIANCE];
    p->yield_alpha = a[SPC_DET_YIELD];
    p->nl_alpha = a[SPC_DET_NEAR_LIMIT];
    p->sg_alpha = a[SPC_DET_SUBGROUP];
    p->flat_alpha = a[SPC_DET_FLATLINE] / 2.0;
    p->flat_invalid_alpha = a[SPC_DET_FLATLINE] / 2.0;
}
