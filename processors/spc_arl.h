/*
 * spc_arl.h -- average run lengths of the classic charts, computed (not
 * simulated): closed form for Shewhart, Brook-Evans Markov chains for CUSUM
 * and EWMA; and the alarm budget that derives detector thresholds from a
 * tolerated false-alarm rate.
 *
 * THREADING: pure functions.
 */
#ifndef SPC_ARL_H
#define SPC_ARL_H

#include "spc_common.h"

struct spc_params;
struct spc_alarm_budget;

/** ARL of a two-sided individuals chart with limits +-L sigma when the
 *  mean has shifted by @p delta sigma: 1 / (Phi(-L-d) + 1 - Phi(L-d)). */
double spc_arl_shewhart(double L, double delta);

/**
 * @brief ARL of the two-sided tabular CUSUM (reference k, decision h, in
 * sigma units) for a shift of @p delta sigma, starting both sides at
 * @p head (0, or h/2 for the fast initial response).
 * One-sided ARLs from a Brook & Evans (1972) Markov chain with @p states
 * states; combined by 1/ARL = 1/ARL+ + 1/ARL- (Lucas & Crosier 1982).
 */
double spc_arl_cusum(double k, double h, double delta, double head, int states);

/**
 * @brief ARL of the two-sided EWMA chart with asymptotic limits
 * +-L sqrt(lambda/(2-lambda)) for a shift of @p delta sigma, Markov chain of
 * Lucas & Saccucci (1990) with @p states (odd) states, started at 0.
 */
double spc_arl_ewma(double lambda, double L, double delta, int states);

/** h giving in-control two-sided CUSUM ARL @p arl0 (bisection). */
double spc_cusum_h_for_arl(double k, double arl0);
/** L giving in-control EWMA ARL @p arl0 (bisection). */
double spc_ewma_L_for_arl(double lambda, double arl0);

/**
 * @brief Derive per-detector thresholds from an alarm budget: the tolerated
 * in-control alarm rate per step sample, alpha = FA/h / (units/h x steps),
 * is shared among the enabled detectors by fixed weights (documented in
 * docs/detectors.md) and each detector's threshold is set so its own
 * in-control alarm rate is its share.
 */
void spc_budget_apply(const struct spc_alarm_budget *b, struct spc_params *p);

/** The per-sample in-control alarm rate the budget allows (0 if unset). */
double spc_budget_alpha(const struct spc_alarm_budget *b);

#endif /* SPC_ARL_H */
