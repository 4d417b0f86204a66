/*
 * spc_stats.h -- online moments (Welford) and the distribution functions
 * the detectors use for thresholds and p-values.
 *
 * THREADING: pure functions; Welford state belongs to its owner.
 */
#ifndef SPC_STATS_H
#define SPC_STATS_H

#include <stdint.h>

/** Welford running mean/variance (Welford 1962; Knuth TAOCP vol. 2). */
struct spc_welford {
    double n; /* double so that merges and weights stay exact enough */
    double mean;
    double m2;
};

static inline void spc_welford_reset(struct spc_welford *w)
{
    w->n = w->mean = w->m2 = 0.0;
}

static inline void spc_welford_add(struct spc_welford *w, double x)
{
    double d = x - w->mean;

    w->n += 1.0;
    w->mean += d / w->n;
    w->m2 += d * (x - w->mean);
}

/** Sample variance (n-1 denominator); 0 when n < 2. */
static inline double spc_welford_var(const struct spc_welford *w)
{
    return w->n > 1.0 ? w->m2 / (w->n - 1.0) : 0.0;
}

double spc_welford_sd(const struct spc_welford *w);

/** Standard normal density, CDF and upper tail (accurate far in the tail). */
double spc_norm_pdf(double z);
double spc_norm_cdf(double z);
double spc_norm_sf(double z);
/** Inverse standard normal CDF, |relative error| < 1e-9 (Wichura AS241). */
double spc_norm_quantile(double p);

/** Natural log of the gamma function (Lanczos). */
double spc_lgamma(double x);

/** Regularized incomplete beta I_x(a, b) (continued fraction). */
double spc_betai(double a, double b, double x);

/** P(X >= k) for X ~ Binomial(n, p). */
double spc_binom_sf(uint32_t k, uint32_t n, double p);
/** P(X <= k) for X ~ Binomial(n, p). */
double spc_binom_cdf(uint32_t k, uint32_t n, double p);

/** P(X >= k) for X ~ Hypergeometric(population N, K marked, n drawn):
 *  the one-sided p-value of Fisher's exact test. */
double spc_hypergeom_sf(uint32_t k, uint32_t N, uint32_t K, uint32_t n);

/** Upper tail of Student's t with nu degrees of freedom: P(T > t). */
double spc_t_sf(double t, double nu);
/** Quantile of Student's t: P(T <= q) = p. */
double spc_t_quantile(double p, double nu);

/** Upper tail of chi-square with k degrees of freedom: P(X > x). */
double spc_chi2_sf(double x, double k);
/** Lower tail P(X < x) of chi-square with k degrees of freedom. */
double spc_chi2_cdf(double x, double k);

/** Regularized lower incomplete gamma P(a, x). */
double spc_gammainc_p(double a, double x);

#endif /* SPC_STATS_H */
