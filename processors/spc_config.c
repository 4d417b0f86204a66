/*
 * spc_config.c -- configuration parsing, validation and per-key resolution.
 *
 * DATA FLOW: JSON file -> json_t -> struct spc_config (defaults + rules)
 *            key path -> matching rules -> struct spc_params (cached)
 * OWNERSHIP: see spc_config.h.
 * FAILURE MODES: every unknown key or bad value is an error naming its JSON
 *   path ("detectors.cusum.h: must be > 0 (got -1)"); per-step overrides are
 *   validated at parse time so resolution cannot fail on bad input later.
 */
#include "spc_config.h"

#include "spc_arl.h"
#include "spc_ring.h"
#include "spc_stats.h"

#include <math.h>
#include <string.h>

struct spc_resolved {
    uint32_t *rules; /* indexes of the matching rules */
    size_t n;
    struct spc_params p;
};

struct spc_param_cache {
    struct spc_resolved **r; /* stable pointers: params are borrowed */
    size_t n, cap;
};

struct spc_param_cache *spc_param_cache_new(void)
{
    return spc_calloc(1, sizeof(struct spc_param_cache));
}

void spc_param_cache_destroy(struct spc_param_cache *c)
{
    size_t i;

    if (!c)
        return;
    for (i = 0; i < c->n; i++) {
        free(c->r[i]->rules);
        free(c->r[i]);
    }
    free(c->r);
    free(c);
}

static const char *const det_names[SPC_DET__COUNT] = {
    [SPC_DET_SHEWHART] = "shewhart", [SPC_DET_ROBUST_Z] = "robust_z",
    [SPC_DET_EWMA] = "ewma",         [SPC_DET_CUSUM] = "cusum",
    [SPC_DET_TREND] = "trend",       [SPC_DET_VARIANCE] = "variance",
    [SPC_DET_YIELD] = "yield",       [SPC_DET_NEAR_LIMIT] = "near_limit",
    [SPC_DET_SUBGROUP] = "subgroup", [SPC_DET_RUNS] = "runs",
    [SPC_DET_FLATLINE] = "flatline",
};

const char *spc_det_name(enum spc_det d)
{
    return (unsigned)d < SPC_DET__COUNT ? det_names[d] : "unknown";
}

int spc_det_find(const char *name)
{
    int i;

    for (i = 0; i < SPC_DET__COUNT; i++)
        if (strcmp(det_names[i], name) == 0)
            return i;
    return -1;
}

enum ptype {
    PT_F64,
    PT_U32,
    PT_BOOL,
    PT_LIMITS,
    PT_RULES,
    PT_SGTESTS,
    PT_DIMS
};

/* One tunable: detector (-1 = baseline section), JSON name, type, field
 * offset and the allowed range (lo/hi, open or closed). */
struct pdesc {
    int det;
    const char *name;
    enum ptype t;
    size_t off;
    double lo, hi;
    uint8_t lo_open, hi_open;
};

#define P(d, n, t, f, lo, hi, lop, hop)                                        \
    {                                                                          \
        d, n, t, offsetof(struct spc_params, f), lo, hi, lop, hop              \
    }
#define BASE (-1)

static const struct pdesc pdescs[] = {
    P(BASE, "warmup", PT_U32, warmup, 10, 1e6, 0, 0),
    P(BASE, "max_samples", PT_U32, base_max, 10, 1e9, 0, 0),
    P(BASE, "accept_delay", PT_U32, accept_delay, 0, 16384, 0, 0),
    P(BASE, "widen", PT_BOOL, widen, 0, 1, 0, 0),
    P(SPC_DET_SHEWHART, "L", PT_F64, shewhart_L, 0, 100, 1, 0),
    P(SPC_DET_ROBUST_Z, "threshold", PT_F64, rz_threshold, 0, 100, 1, 0),
    P(SPC_DET_ROBUST_Z, "epsilon", PT_F64, rz_eps, 0, 1e300, 0, 0),
    P(SPC_DET_ROBUST_Z, "min_samples", PT_U32, rz_min_samples, 5, 1e6, 0, 0),
    P(SPC_DET_EWMA, "lambda", PT_F64, ewma_lambda, 0, 1, 1, 0),
    P(SPC_DET_EWMA, "L", PT_F64, ewma_L, 0, 100, 1, 0),
    P(SPC_DET_EWMA, "limits", PT_LIMITS, ewma_exact, 0, 1, 0, 0),
    P(SPC_DET_EWMA, "clip", PT_F64, ewma_clip, 0, 100, 0, 0),
    P(SPC_DET_CUSUM, "k", PT_F64, cusum_k, 0, 10, 0, 0),
    P(SPC_DET_CUSUM, "h", PT_F64, cusum_h, 0, 1000, 1, 0),
    P(SPC_DET_CUSUM, "fir", PT_BOOL, cusum_fir, 0, 1, 0, 0),
    P(SPC_DET_CUSUM, "clip", PT_F64, cusum_clip, 0, 100, 0, 0),
    P(SPC_DET_TREND, "window", PT_U32, trend_window, 8, 4096, 0, 0),
    P(SPC_DET_TREND, "alpha", PT_F64, trend_alpha, 0, 0.5, 1, 0),
    P(SPC_DET_TREND, "min_slope", PT_F64, trend_min_slope, 0, 100, 0, 0),
    P(SPC_DET_VARIANCE, "window", PT_U32, var_window, 8, 4096, 0, 0),
    P(SPC_DET_VARIANCE, "ratio", PT_F64, var_ratio, 1, 100, 1, 0),
    P(SPC_DET_VARIANCE, "alpha", PT_F64, var_alpha, 0, 0.5, 1, 0),
    P(SPC_DET_YIELD, "window", PT_U32, yield_window, 10, 16384, 0, 0),
    P(SPC_DET_YIELD, "min_drop_abs", PT_F64, yield_min_drop_abs, 0, 1, 0, 0),
    P(SPC_DET_YIELD, "min_drop_rel", PT_F64, yield_min_drop_rel, 0, 1, 0, 0),
    P(SPC_DET_YIELD, "alpha", PT_F64, yield_alpha, 0, 0.5, 1, 0),
    P(SPC_DET_YIELD, "min_baseline", PT_U32, yield_min_baseline, 10, 1e9, 0, 0),
    P(SPC_DET_YIELD, "baseline_max", PT_U32, yield_base_max, 10, 1e9, 0, 0),
    P(SPC_DET_NEAR_LIMIT, "window", PT_U32, nl_window, 8, 16384, 0, 0),
    P(SPC_DET_NEAR_LIMIT, "fraction", PT_F64, nl_fraction, 0, 0.5, 1, 0),
    P(SPC_DET_NEAR_LIMIT, "alpha", PT_F64, nl_alpha, 0, 0.5, 1, 0),
    P(SPC_DET_NEAR_LIMIT, "min_rate", PT_F64, nl_min_rate, 0, 1, 0, 0),
    P(SPC_DET_SUBGROUP, "window", PT_U32, sg_window, 10, 16384, 0, 0),
    P(SPC_DET_SUBGROUP, "min_n", PT_U32, sg_min_n, 3, 16384, 0, 0),
    P(SPC_DET_SUBGROUP, "alpha", PT_F64, sg_alpha, 0, 0.5, 1, 0),
    P(SPC_DET_SUBGROUP, "alpha_diagnosis", PT_F64, sg_alpha_diag, 0, 0.5, 1, 0),
    P(SPC_DET_SUBGROUP, "min_shift", PT_F64, sg_min_shift, 0, 100, 0, 0),
    P(SPC_DET_SUBGROUP, "tests", PT_SGTESTS, sg_tests, 0, 0, 0, 0),
    P(SPC_DET_SUBGROUP, "dimensions", PT_DIMS, sg_dims, 0, 0, 0, 0),
    P(SPC_DET_RUNS, "rules", PT_RULES, runs_rules, 0, 0, 0, 0),
    P(SPC_DET_RUNS, "run_length", PT_U32, runs_run_length, 7, 15, 0, 0),
    P(SPC_DET_FLATLINE, "min_run", PT_U32, flat_min_run, 2, 1e6, 0, 0),
    P(SPC_DET_FLATLINE, "alpha", PT_F64, flat_alpha, 0, 0.5, 1, 0),
    P(SPC_DET_FLATLINE, "invalid_window", PT_U32, flat_invalid_window, 8, 64, 0,
      0),
    P(SPC_DET_FLATLINE, "invalid_alpha", PT_F64, flat_invalid_alpha, 0, 0.5, 1,
      0),
    P(SPC_DET_FLATLINE, "invalid_min_rate", PT_F64, flat_invalid_min_rate, 0, 1,
      0, 0),
};

/* Wilson-Hilferty approximation of the chi-square quantile. */
static double chi2_quantile(double prob, double nu)
{
    double z = spc_norm_quantile(prob), a = 2.0 / (9.0 * nu);
    double c = 1.0 - a + z * sqrt(a);

    return nu * c * c * c;
}

void spc_params_derive(struct spc_params *p)
{
    double m = p->var_window - 1.0;
    double nu = 2.0 * m * m / (3.0 * m - 1.0); /* MSSD: Var = (3n-4)/(n-1)^2 */
    double r2 = p->var_ratio * p->var_ratio;
    int g;

    p->d_trend_zc = spc_norm_quantile(1.0 - p->trend_alpha / 2.0);
    p->d_var_hi = SPC_MAX(r2, chi2_quantile(1.0 - p->var_alpha, nu) / nu);
    p->d_var_lo = SPC_MIN(1.0 / r2, chi2_quantile(p->var_alpha, nu) / nu);
    p->d_flat_log_alpha = log(p->flat_alpha);
    p->d_sg_zc[0] = 0.0;
    p->d_sg_zc_diag[0] = 0.0;
    for (g = 1; g <= 64; g++) {
        p->d_sg_zc[g] = spc_norm_quantile(1.0 - p->sg_alpha / (2.0 * g));
        p->d_sg_zc_diag[g] =
            spc_norm_quantile(1.0 - p->sg_alpha_diag / (2.0 * g));
    }
}

/* Defaults: see docs/detectors.md for how each was chosen (alarm budget:
 * combined in-control ARL >= 5000 per step). */
static void params_defaults(struct spc_params *p, unsigned ndims)
{
    int d;

    memset(p, 0, sizeof(*p));
    for (d = 0; d < SPC_DET__COUNT; d++)
        p->enabled[d] = 1;
    p->enabled[SPC_DET_RUNS] = 0; /* Nelson rules: ARL 91.75 with 1,2,5,6 */
    p->warmup = 100;
    p->base_max = 1000;
    p->accept_delay = 50;
    p->widen = 1;
    p->shewhart_L = 4.5;
    p->rz_threshold = 4.5;
    p->rz_eps = 1e-12;
    p->rz_min_samples = 30;
    p->ewma_lambda = 0.1;
    p->ewma_L = 4.2;
    p->ewma_exact = 1;
    p->ewma_clip = 4.0;
    p->cusum_k = 0.5;
    p->cusum_h = 10.0;
    p->cusum_fir = 0;
    p->cusum_clip = 4.0;
    p->trend_window = 100;
    p->trend_alpha = 1e-5;
    p->trend_min_slope = 0.0;
    p->var_window = 50;
    p->var_ratio = 1.5;
    p->var_alpha = 1e-6;
    p->yield_window = 100;
    p->yield_min_drop_abs = 0.05;
    p->yield_min_drop_rel = 0.05;
    p->yield_alpha = 1e-5;
    p->yield_min_baseline = 100;
    p->yield_base_max = 2000;
    p->nl_window = 50;
    p->nl_fraction = 0.1;
    p->nl_alpha = 1e-6;
    p->nl_min_rate = 0.1;
    p->sg_window = 200;
    p->sg_min_n = 10;
    p->sg_alpha = 1e-6;
    p->sg_alpha_diag = 1e-3;
    p->sg_min_shift = 1.0;
    p->sg_tests = SPC_SG_MEAN | SPC_SG_YIELD | SPC_SG_VARIANCE;
    p->sg_dims = ndims >= 32 ? UINT32_MAX : (1u << ndims) - 1u;
    p->runs_rules = (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6);
    p->runs_run_length = 9;
    p->flat_min_run = 6;
    p->flat_alpha = 1e-6;
    p->flat_invalid_window = 64;
    p->flat_invalid_alpha = 1e-6;
    p->flat_invalid_min_rate = 0.1;
}

static spc_err_t perr(char *errstr, size_t size, const char *path,
                      const char *key, const char *fmt, ...) SPC_PRINTF(5, 6);

static spc_err_t perr(char *errstr, size_t size, const char *path,
                      const char *key, const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (key)
        spc_errstr_set(errstr, size, "%s%s%s: %s", path, *path ? "." : "", key,
                       msg);
    else
        spc_errstr_set(errstr, size, "%s: %s", *path ? path : "(config)", msg);
    return SPC_ERR_INVALID;
}

static spc_err_t set_rules(uint32_t *out, const json_t *v, const char *path,
                           const char *key, char *errstr, size_t size)
{
    size_t i;
    json_t *e;
    uint32_t m = 0;

    if (!json_is_array(v))
        return perr(errstr, size, path, key,
                    "expected an array of Nelson rule numbers 1-8");
    json_array_foreach(v, i, e)
    {
        json_int_t r = json_is_integer(e) ? json_integer_value(e) : 0;

        if (r < 1 || r > 8)
            return perr(errstr, size, path, key,
                        "element %zu: expected a rule number 1-8", i);
        m |= 1u << r;
    }
    *out = m;
    return SPC_OK;
}

static spc_err_t set_sgtests(uint32_t *out, const json_t *v, const char *path,
                             const char *key, char *errstr, size_t size)
{
    size_t i;
    json_t *e;
    uint32_t m = 0;

    if (!json_is_array(v))
        return perr(errstr, size, path, key,
                    "expected an array of \"mean\", \"yield\", \"variance\"");
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);

        if (s && strcmp(s, "mean") == 0)
            m |= SPC_SG_MEAN;
        else if (s && strcmp(s, "yield") == 0)
            m |= SPC_SG_YIELD;
        else if (s && strcmp(s, "variance") == 0)
            m |= SPC_SG_VARIANCE;
        else
            return perr(errstr, size, path, key,
                        "element %zu: expected \"mean\", \"yield\" or "
                        "\"variance\"",
                        i);
    }
    *out = m;
    return SPC_OK;
}

static spc_err_t set_dims(uint32_t *out, const json_t *v,
                          const struct spc_dims *dims, const char *path,
                          const char *key, char *errstr, size_t size)
{
    size_t i;
    json_t *e;
    uint32_t m = 0;

    if (!json_is_array(v))
        return perr(errstr, size, path, key,
                    "expected an array of dimension names");
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);
        int d = s ? spc_dims_find(dims, s) : -1;

        if (d < 0)
            return perr(errstr, size, path, key,
                        "element %zu: unknown dimension \"%s\"", i,
                        s ? s : "(not a string)");
        m |= 1u << d;
    }
    *out = m;
    return SPC_OK;
}

static spc_err_t set_number(const struct pdesc *pd, struct spc_params *p,
                            const json_t *v, const char *path, char *errstr,
                            size_t size)
{
    char *f = (char *)p + pd->off;
    double x;

    if (!json_is_number(v))
        return perr(errstr, size, path, pd->name, "expected a number");
    x = json_number_value(v);
    if ((pd->lo_open ? x <= pd->lo : x < pd->lo) ||
        (pd->hi_open ? x >= pd->hi : x > pd->hi))
        return perr(errstr, size, path, pd->name,
                    "must be in %c%g, %g%c (got %g)", pd->lo_open ? '(' : '[',
                    pd->lo, pd->hi, pd->hi_open ? ')' : ']', x);
    if (pd->t == PT_U32) {
        if (!json_is_integer(v))
            return perr(errstr, size, path, pd->name,
                        "expected an integer (got %g)", x);
        *(uint32_t *)(void *)f = (uint32_t)x;
    } else {
        *(double *)(void *)f = x;
    }
    return SPC_OK;
}

static spc_err_t set_param(const struct pdesc *pd, struct spc_params *p,
                           const json_t *v, const struct spc_dims *dims,
                           const char *path, char *errstr, size_t size)
{
    char *f = (char *)p + pd->off;
    const char *s;

    switch (pd->t) {
    case PT_F64:
    case PT_U32:
        return set_number(pd, p, v, path, errstr, size);
    case PT_BOOL:
        if (!json_is_boolean(v))
            return perr(errstr, size, path, pd->name, "expected true or false");
        *(uint8_t *)f = json_is_true(v);
        return SPC_OK;
    case PT_LIMITS:
        s = json_string_value(v);
        if (!s || (strcmp(s, "exact") != 0 && strcmp(s, "asymptotic") != 0))
            return perr(errstr, size, path, pd->name,
                        "expected \"exact\" or \"asymptotic\"");
        *(uint8_t *)f = strcmp(s, "exact") == 0;
        return SPC_OK;
    case PT_RULES:
        return set_rules((uint32_t *)(void *)f, v, path, pd->name, errstr,
                         size);
    case PT_SGTESTS:
        return set_sgtests((uint32_t *)(void *)f, v, path, pd->name, errstr,
                           size);
    case PT_DIMS:
        return set_dims((uint32_t *)(void *)f, v, dims, path, pd->name, errstr,
                        size);
    }
    return SPC_ERR_INVALID;
}

static const struct pdesc *find_pdesc(int det, const char *name)
{
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(pdescs); i++)
        if (pdescs[i].det == det && strcmp(pdescs[i].name, name) == 0)
            return &pdescs[i];
    return NULL;
}

/* Apply one detector's object: {"enabled": bool, <param>: value, ...}. */
static spc_err_t apply_detector(struct spc_params *p, int det, const json_t *o,
                                const struct spc_dims *dims, const char *path,
                                char *errstr, size_t size)
{
    const char *key;
    json_t *v;
    spc_err_t err;

    if (!json_is_object(o))
        return perr(errstr, size, path, NULL, "expected an object");
    json_object_foreach((json_t *)o, key, v)
    {
        const struct pdesc *pd;

        if (strcmp(key, "enabled") == 0) {
            if (!json_is_boolean(v))
                return perr(errstr, size, path, key, "expected true or false");
            p->enabled[det] = json_is_true(v);
            continue;
        }
        pd = find_pdesc(det, key);
        if (!pd)
            return perr(errstr, size, path, key, "unknown key");
        if ((err = set_param(pd, p, v, dims, path, errstr, size)))
            return err;
    }
    return SPC_OK;
}

static spc_err_t apply_detectors(struct spc_params *p, const json_t *o,
                                 const struct spc_dims *dims, const char *path,
                                 char *errstr, size_t size)
{
    const char *key;
    json_t *v;
    char sub[256];
    spc_err_t err;

    if (!json_is_object(o))
        return perr(errstr, size, path, NULL, "expected an object");
    json_object_foreach((json_t *)o, key, v)
    {
        int det = spc_det_find(key);

        if (det < 0)
            return perr(errstr, size, path, key,
                        "unknown detector (expected one of shewhart, "
                        "robust_z, ewma, cusum, trend, variance, yield, "
                        "near_limit, subgroup, runs, flatline)");
        snprintf(sub, sizeof(sub), "%s.%s", path, key);
        if ((err = apply_detector(p, det, v, dims, sub, errstr, size)))
            return err;
    }
    return SPC_OK;
}

/* baseline: {warmup, max_samples, accept_delay, widen} and, per step only,
 * {mean, sigma} (both or neither). */
static spc_err_t apply_baseline(struct spc_params *p, const json_t *o,
                                int per_step, const char *path, char *errstr,
                                size_t size)
{
    const char *key;
    json_t *v, *mean, *sigma;
    spc_err_t err;

    if (!json_is_object(o))
        return perr(errstr, size, path, NULL, "expected an object");
    json_object_foreach((json_t *)o, key, v)
    {
        const struct pdesc *pd;

        if (per_step && (!strcmp(key, "mean") || !strcmp(key, "sigma")))
            continue;
        pd = find_pdesc(BASE, key);
        if (!pd)
            return perr(errstr, size, path, key,
                        per_step ? "unknown key (expected mean, sigma, "
                                   "warmup, max_samples, accept_delay, widen)"
                                 : "unknown key (expected warmup, "
                                   "max_samples, accept_delay, widen)");
        if ((err = set_param(pd, p, v, NULL, path, errstr, size)))
            return err;
    }
    if (!per_step)
        return SPC_OK;
    mean = json_object_get(o, "mean");
    sigma = json_object_get(o, "sigma");
    if (!mean && !sigma)
        return SPC_OK;
    if (!mean || !json_is_number(mean) || !isfinite(json_number_value(mean)))
        return perr(errstr, size, path, "mean",
                    mean ? "expected a finite number"
                         : "missing (a known baseline needs mean and sigma)");
    if (!sigma || !json_is_number(sigma) || !(json_number_value(sigma) > 0) ||
        !isfinite(json_number_value(sigma)))
        return perr(errstr, size, path, "sigma",
                    sigma ? "expected a finite number > 0"
                          : "missing (a known baseline needs mean and sigma)");
    p->known = 1;
    p->known_mean = json_number_value(mean);
    p->known_sigma = json_number_value(sigma);
    return SPC_OK;
}

/* Cross-parameter checks after all overrides. */
static spc_err_t check_params(const struct spc_params *p, uint32_t buffer,
                              const char *path, char *errstr, size_t size)
{
    static const struct {
        size_t off;
        int det;
        const char *name;
    } windows[] = {
        {offsetof(struct spc_params, trend_window), SPC_DET_TREND,
         "detectors.trend.window"},
        {offsetof(struct spc_params, var_window), SPC_DET_VARIANCE,
         "detectors.variance.window"},
        {offsetof(struct spc_params, yield_window), SPC_DET_YIELD,
         "detectors.yield.window"},
        {offsetof(struct spc_params, nl_window), SPC_DET_NEAR_LIMIT,
         "detectors.near_limit.window"},
        {offsetof(struct spc_params, sg_window), SPC_DET_SUBGROUP,
         "detectors.subgroup.window"},
    };
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(windows); i++) {
        uint32_t w =
            *(const uint32_t *)(const void *)((const char *)p + windows[i].off);

        if (p->enabled[windows[i].det] && w >= buffer)
            return perr(errstr, size, path, windows[i].name,
                        "window %u must be smaller than buffer_size %u", w,
                        buffer);
    }
    if (p->accept_delay >= buffer)
        return perr(errstr, size, path, "baseline.accept_delay",
                    "must be smaller than buffer_size %u", buffer);
    return SPC_OK;
}

static spc_err_t parse_metadata(struct spc_config *cfg, const json_t *o,
                                char *errstr, size_t size)
{
    const char *key, *k2;
    json_t *v, *mi;

    if (!json_is_object(o))
        return perr(errstr, size, "metadata", NULL, "expected an object");
    json_object_foreach((json_t *)o, key, v)
    {
        if (strcmp(key, "misc_infos") != 0)
            return perr(errstr, size, "metadata", key,
                        "unknown key (expected misc_infos)");
    }
    mi = json_object_get(o, "misc_infos");
    if (!mi)
        return SPC_OK;
    if (!json_is_object(mi))
        return perr(errstr, size, "metadata", "misc_infos",
                    "expected an object {\"<description>\": \"<dimension>\"}");
    /* replace the default FirmwareVersion mapping */
    while (cfg->n_misc)
        free((char *)cfg->misc[--cfg->n_misc].description);
    json_object_foreach(mi, k2, v)
    {
        const char *dim = json_string_value(v);
        struct spc_misc_map *m;
        int d;

        if (!dim || !*dim)
            return perr(errstr, size, "metadata.misc_infos", k2,
                        "expected a dimension name");
        d = spc_dims_add(&cfg->dims, dim);
        if (d < 0)
            return perr(errstr, size, "metadata.misc_infos", k2,
                        "too many dimensions (at most %d)", SPC_META_MAX);
        m = spc_realloc(cfg->misc, (cfg->n_misc + 1) * sizeof(*m));
        if (!m)
            return SPC_ERR_NOMEM;
        cfg->misc = m;
        m[cfg->n_misc].description = spc_strdup(k2);
        m[cfg->n_misc].dim = d;
        if (!m[cfg->n_misc].description)
            return SPC_ERR_NOMEM;
        cfg->n_misc++;
    }
    return SPC_OK;
}

static spc_err_t parse_budget(struct spc_config *cfg, const json_t *o,
                              char *errstr, size_t size)
{
    static const char *const keys[] = {"false_alarms_per_hour",
                                       "units_per_hour", "charted_steps"};
    double *dst[3];
    const char *key;
    json_t *v;
    size_t i;

    dst[0] = &cfg->budget.false_alarms_per_hour;
    dst[1] = &cfg->budget.units_per_hour;
    dst[2] = &cfg->budget.charted_steps;
    if (!json_is_object(o))
        return perr(errstr, size, "alarm_budget", NULL, "expected an object");
    json_object_foreach((json_t *)o, key, v)
    {
        for (i = 0; i < 3; i++)
            if (strcmp(key, keys[i]) == 0)
                break;
        if (i == 3)
            return perr(errstr, size, "alarm_budget", key,
                        "unknown key (expected false_alarms_per_hour, "
                        "units_per_hour, charted_steps)");
        if (!json_is_number(v) || !(json_number_value(v) > 0))
            return perr(errstr, size, "alarm_budget", key,
                        "expected a number > 0");
        *dst[i] = json_number_value(v);
    }
    for (i = 0; i < 3; i++)
        if (!json_object_get(o, keys[i]))
            return perr(errstr, size, "alarm_budget", keys[i], "missing");
    cfg->budget.set = 1;
    return SPC_OK;
}

static spc_err_t parse_rule(struct spc_config *cfg, size_t idx, const json_t *o,
                            char *errstr, size_t size)
{
    struct spc_step_rule *r = &cfg->rules[idx];
    struct spc_params scratch = cfg->defaults;
    char path[64];
    const char *key, *match;
    json_t *v;
    spc_err_t err;

    snprintf(path, sizeof(path), "steps[%zu]", idx);
    if (!json_is_object(o))
        return perr(errstr, size, path, NULL, "expected an object");
    json_object_foreach((json_t *)o, key, v)
    {
        if (strcmp(key, "match") && strcmp(key, "baseline") &&
            strcmp(key, "detectors") && strcmp(key, "comment"))
            return perr(errstr, size, path, key,
                        "unknown key (expected match, baseline, detectors, "
                        "comment)");
    }
    match = json_string_value(json_object_get(o, "match"));
    if (!match || !*match)
        return perr(errstr, size, path, "match",
                    "expected a glob over \"test_plan/test_step/measurement\"");
    r->match = spc_strdup(match);
    if (!r->match)
        return SPC_ERR_NOMEM;
    if ((v = json_object_get(o, "baseline"))) {
        char sub[80];

        snprintf(sub, sizeof(sub), "%s.baseline", path);
        if ((err = apply_baseline(&scratch, v, 1, sub, errstr, size)))
            return err;
        r->baseline = json_incref(v);
    }
    if ((v = json_object_get(o, "detectors"))) {
        char sub[80];

        snprintf(sub, sizeof(sub), "%s.detectors", path);
        if ((err = apply_detectors(&scratch, v, &cfg->dims, sub, errstr, size)))
            return err;
        r->detectors = json_incref(v);
    }
    return check_params(&scratch, cfg->buffer_size, path, errstr, size);
}

static spc_err_t parse_steps(struct spc_config *cfg, const json_t *arr,
                             char *errstr, size_t size)
{
    size_t i;
    spc_err_t err;

    if (!json_is_array(arr))
        return perr(errstr, size, "steps", NULL, "expected an array");
    cfg->rules = spc_calloc(json_array_size(arr) + 1, sizeof(*cfg->rules));
    if (!cfg->rules)
        return SPC_ERR_NOMEM;
    for (i = 0; i < json_array_size(arr); i++) {
        cfg->n_rules = i + 1;
        if ((err = parse_rule(cfg, i, json_array_get(arr, i), errstr, size)))
            return err;
    }
    return SPC_OK;
}

struct spc_config *spc_config_new(void)
{
    struct spc_config *cfg = spc_calloc(1, sizeof(*cfg));

    if (!cfg)
        return NULL;
    cfg->buffer_size = 256;
    cfg->boolean_steps = 1;
    cfg->plan_format = spc_strdup("{pn}/{processCode}");
    cfg->sections = json_object();
    cfg->misc = spc_calloc(1, sizeof(*cfg->misc));
    if (spc_dims_init(&cfg->dims) != SPC_OK || !cfg->plan_format ||
        !cfg->sections || !cfg->misc) {
        spc_config_destroy(cfg);
        return NULL;
    }
    cfg->misc[0].description = spc_strdup("FirmwareVersion");
    cfg->misc[0].dim = SPC_DIM_FW;
    if (!cfg->misc[0].description) {
        spc_config_destroy(cfg);
        return NULL;
    }
    cfg->n_misc = 1;
    params_defaults(&cfg->defaults, cfg->dims.n);
    spc_params_derive(&cfg->defaults);
    return cfg;
}

void spc_config_destroy(struct spc_config *cfg)
{
    size_t i;

    if (!cfg)
        return;
    for (i = 0; i < cfg->n_rules; i++) {
        free(cfg->rules[i].match);
        json_decref(cfg->rules[i].detectors);
        json_decref(cfg->rules[i].baseline);
    }
    free(cfg->rules);
    for (i = 0; i < cfg->n_misc; i++)
        free((char *)cfg->misc[i].description);
    free(cfg->misc);
    spc_dims_fini(&cfg->dims);
    free(cfg->plan_format);
    json_decref(cfg->sections);
    free(cfg);
}

static const char *const engine_keys[] = {
    "buffer_size", "test_plan_format", "boolean_steps", "metadata",
    "baseline",    "detectors",        "alarm_budget",  "steps",
    "comment",     "incidents",        "llm",           NULL};

static int in_list(const char *const *list, const char *s)
{
    for (; list && *list; list++)
        if (strcmp(*list, s) == 0)
            return 1;
    return 0;
}

static spc_err_t parse_scalars(struct spc_config *cfg, const json_t *root,
                               char *errstr, size_t size)
{
    json_t *v;
    char why[160];

    if ((v = json_object_get(root, "buffer_size"))) {
        json_int_t n = json_is_integer(v) ? json_integer_value(v) : -1;

        if (n < 16 || n > SPC_RING_MAX)
            return perr(errstr, size, "", "buffer_size",
                        "expected an integer in [16, %u]", SPC_RING_MAX);
        cfg->buffer_size = (uint32_t)n;
    }
    if ((v = json_object_get(root, "test_plan_format"))) {
        const char *s = json_string_value(v);

        if (!s || spc_wsjf_check_plan_format(s, why, sizeof(why)) != SPC_OK)
            return perr(errstr, size, "", "test_plan_format", "%s",
                        s ? why : "expected a string");
        free(cfg->plan_format);
        cfg->plan_format = spc_strdup(s);
        if (!cfg->plan_format)
            return SPC_ERR_NOMEM;
    }
    if ((v = json_object_get(root, "boolean_steps"))) {
        if (!json_is_boolean(v))
            return perr(errstr, size, "", "boolean_steps",
                        "expected true or false");
        cfg->boolean_steps = json_is_true(v);
    }
    return SPC_OK;
}

static spc_err_t parse_root(struct spc_config *cfg, const json_t *root,
                            const char *const *foreign, char *errstr,
                            size_t size)
{
    const char *key;
    json_t *v;
    spc_err_t err;

    if (!json_is_object(root))
        return perr(errstr, size, "", NULL, "expected a JSON object");
    json_object_foreach((json_t *)root, key, v)
    {
        if (in_list(foreign, key) || !strcmp(key, "incidents") ||
            !strcmp(key, "llm")) {
            if (json_object_set(cfg->sections, key, v))
                return SPC_ERR_NOMEM;
        } else if (!in_list(engine_keys, key)) {
            return perr(errstr, size, "", key, "unknown key");
        }
    }
    if ((err = parse_scalars(cfg, root, errstr, size)))
        return err;
    if ((v = json_object_get(root, "metadata")) &&
        (err = parse_metadata(cfg, v, errstr, size)))
        return err;
    params_defaults(&cfg->defaults, cfg->dims.n);
    /* the budget is shared among the detectors this config enables: read
     * "detectors" once before it (it is read again below, so explicit
     * thresholds still override the derived ones) */
    if ((v = json_object_get(root, "detectors")) &&
        json_object_get(root, "alarm_budget") &&
        (err = apply_detectors(&cfg->defaults, v, &cfg->dims, "detectors",
                               errstr, size)))
        return err;
    if ((v = json_object_get(root, "alarm_budget"))) {
        if ((err = parse_budget(cfg, v, errstr, size)))
            return err;
        spc_budget_apply(&cfg->budget, &cfg->defaults);
    }
    if ((v = json_object_get(root, "baseline")) &&
        (err = apply_baseline(&cfg->defaults, v, 0, "baseline", errstr, size)))
        return err;
    if ((v = json_object_get(root, "detectors")) &&
        (err = apply_detectors(&cfg->defaults, v, &cfg->dims, "detectors",
                               errstr, size)))
        return err;
    if ((err =
             check_params(&cfg->defaults, cfg->buffer_size, "", errstr, size)))
        return err;
    spc_params_derive(&cfg->defaults);
    if ((v = json_object_get(root, "steps")) &&
        (err = parse_steps(cfg, v, errstr, size)))
        return err;
    return SPC_OK;
}

struct spc_config *spc_config_parse(const json_t *root,
                                    const char *const *foreign, char *errstr,
                                    size_t errstr_size)
{
    struct spc_config *cfg = spc_config_new();
    spc_err_t err;

    if (!cfg) {
        spc_errstr_set(errstr, errstr_size, "out of memory");
        return NULL;
    }
    err = parse_root(cfg, root, foreign, errstr, errstr_size);
    if (err) {
        if (err == SPC_ERR_NOMEM)
            spc_errstr_set(errstr, errstr_size, "out of memory");
        spc_config_destroy(cfg);
        return NULL;
    }
    return cfg;
}

const char *const spc_config_daemon_sections[] = {"kafka", "redis", "topics",
                                                  "run", NULL};

struct spc_config *spc_config_load(const char *path, const char *const *foreign,
                                   char *errstr, size_t errstr_size)
{
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    struct spc_config *cfg;

    if (!root) {
        spc_errstr_set(errstr, errstr_size, "%s:%d:%d: %s", path, jerr.line,
                       jerr.column, jerr.text);
        return NULL;
    }
    cfg = spc_config_parse(root, foreign, errstr, errstr_size);
    json_decref(root);
    return cfg;
}

const json_t *spc_config_section(const struct spc_config *cfg, const char *name)
{
    return json_object_get(cfg->sections, name);
}

int spc_glob_match(const char *pat, const char *s)
{
    const char *star = NULL, *resume = NULL;

    while (*s) {
        if (*pat == '*') {
            star = pat++;
            resume = s;
        } else if (*pat == '?' || *pat == *s) {
            pat++;
            s++;
        } else if (star) {
            pat = star + 1;
            s = ++resume;
        } else {
            return 0;
        }
    }
    while (*pat == '*')
        pat++;
    return *pat == '\0';
}

static struct spc_resolved *find_resolved(struct spc_param_cache *c,
                                          const uint32_t *rules, size_t n)
{
    size_t i;

    for (i = 0; i < c->n; i++) {
        struct spc_resolved *r = c->r[i];

        if (r->n == n && (n == 0 || !memcmp(r->rules, rules, n * 4)))
            return r;
    }
    return NULL;
}

static spc_err_t build_params(const struct spc_config *cfg,
                              const uint32_t *rules, size_t n,
                              struct spc_params *p, char *errstr, size_t size)
{
    size_t i;
    spc_err_t err;

    *p = cfg->defaults;
    for (i = 0; i < n; i++) {
        const struct spc_step_rule *r = &cfg->rules[rules[i]];
        char path[64];

        snprintf(path, sizeof(path), "steps[%u]", rules[i]);
        if (r->baseline &&
            (err = apply_baseline(p, r->baseline, 1, path, errstr, size)))
            return err;
        if (r->detectors && (err = apply_detectors(p, r->detectors, &cfg->dims,
                                                   path, errstr, size)))
            return err;
    }
    spc_params_derive(p);
    return SPC_OK;
}

static struct spc_resolved *add_resolved(const struct spc_config *cfg,
                                         struct spc_param_cache *c,
                                         const uint32_t *rules, size_t n,
                                         char *errstr, size_t errstr_size)
{
    struct spc_resolved *r;

    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        struct spc_resolved **nr = spc_realloc(c->r, cap * sizeof(*nr));

        if (!nr)
            return NULL;
        c->r = nr;
        c->cap = cap;
    }
    r = spc_calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->rules = spc_malloc(n ? n * sizeof(uint32_t) : 1);
    if (!r->rules ||
        build_params(cfg, rules, n, &r->p, errstr, errstr_size) != SPC_OK) {
        free(r->rules);
        free(r);
        return NULL;
    }
    if (n)
        memcpy(r->rules, rules, n * sizeof(uint32_t));
    r->n = n;
    c->r[c->n++] = r;
    return r;
}

const struct spc_params *spc_config_resolve(const struct spc_config *cfg,
                                            struct spc_param_cache *cache,
                                            const char *key_path, char *errstr,
                                            size_t errstr_size)
{
    uint32_t stack[64], *rules = stack;
    size_t i, n = 0;
    struct spc_resolved *r;

    if (cfg->n_rules > SPC_ARRAY_SIZE(stack)) {
        rules = spc_malloc(cfg->n_rules * sizeof(*rules));
        if (!rules)
            return NULL;
    }
    for (i = 0; i < cfg->n_rules; i++)
        if (spc_glob_match(cfg->rules[i].match, key_path))
            rules[n++] = (uint32_t)i;
    r = find_resolved(cache, rules, n);
    if (!r)
        r = add_resolved(cfg, cache, rules, n, errstr, errstr_size);
    if (rules != stack)
        free(rules);
    return r ? &r->p : NULL;
}

void spc_config_wsjf_opts(const struct spc_config *cfg,
                          struct spc_wsjf_opts *out)
{
    out->dims = &cfg->dims;
    out->misc = cfg->misc;
    out->n_misc = cfg->n_misc;
    out->plan_format = cfg->plan_format;
    out->boolean_steps = cfg->boolean_steps;
}

static void dump_param(const struct pdesc *pd, const struct spc_params *p,
                       const struct spc_dims *dims, struct spc_buf *b)
{
    const char *f = (const char *)p + pd->off;
    uint32_t m;
    int i, first = 1;

    spc_json_key(b, pd->name);
    switch (pd->t) {
    case PT_F64:
        spc_json_num(b, *(const double *)(const void *)f);
        break;
    case PT_U32:
        spc_json_int(b, *(const uint32_t *)(const void *)f);
        break;
    case PT_BOOL:
        spc_buf_puts(b, *(const uint8_t *)f ? "true" : "false");
        break;
    case PT_LIMITS:
        spc_json_str(b, *(const uint8_t *)f ? "exact" : "asymptotic");
        break;
    case PT_RULES:
    case PT_SGTESTS:
    case PT_DIMS:
        m = *(const uint32_t *)(const void *)f;
        spc_buf_putc(b, '[');
        for (i = 0; i < 32; i++) {
            const char *name = NULL;

            if (!(m & (1u << i)))
                continue;
            if (!first)
                spc_buf_putc(b, ',');
            first = 0;
            if (pd->t == PT_RULES) {
                spc_json_int(b, i);
                continue;
            }
            if (pd->t == PT_SGTESTS)
                name = i == 0 ? "mean" : i == 1 ? "yield" : "variance";
            else if ((unsigned)i < dims->n)
                name = dims->names[i];
            spc_json_str(b, name);
        }
        spc_buf_putc(b, ']');
        break;
    }
}

void spc_config_dump_defaults(const struct spc_config *cfg, struct spc_buf *b)
{
    const struct spc_params *p = &cfg->defaults;
    size_t i;
    int d, first;

    spc_buf_printf(
        b, "{\"buffer_size\":%u,\"test_plan_format\":", cfg->buffer_size);
    spc_json_str(b, cfg->plan_format);
    spc_buf_puts(b, ",\"baseline\":{");
    for (i = 0, first = 1; i < SPC_ARRAY_SIZE(pdescs); i++) {
        if (pdescs[i].det != BASE)
            continue;
        if (!first)
            spc_buf_putc(b, ',');
        first = 0;
        dump_param(&pdescs[i], p, &cfg->dims, b);
    }
    spc_buf_puts(b, "},\"detectors\":{");
    for (d = 0; d < SPC_DET__COUNT; d++) {
        spc_buf_printf(b, "%s\"%s\":{\"enabled\":%s", d ? "," : "",
                       det_names[d], p->enabled[d] ? "true" : "false");
        for (i = 0; i < SPC_ARRAY_SIZE(pdescs); i++) {
            if (pdescs[i].det != d)
                continue;
            spc_buf_putc(b, ',');
            dump_param(&pdescs[i], p, &cfg->dims, b);
        }
        spc_buf_putc(b, '}');
    }
    spc_buf_puts(b, "}}");
}
