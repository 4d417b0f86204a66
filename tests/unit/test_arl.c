/*
 * test_arl.c -- average run lengths against the closed form (Shewhart) and
 * the published tables (CUSUM, EWMA), the inverse searches, the CUSUM fast
 * initial response, and the alarm budget's threshold derivation.
 *
 * REFERENCES:
 *   - Montgomery, D. C., Introduction to Statistical Quality Control, 7th
 *     ed. (Wiley 2013), Table 9.3 "ARL performance of the tabular CUSUM with
 *     k = 1/2 and h = 4 or h = 5"; Table 9.11 "ARLs for several EWMA
 *     control schemes" (adapted from Lucas & Saccucci 1990, Technometrics
 *     32(1), Table 3).
 *   - Lucas, J. M. & Crosier, R. B. (1982), Fast initial response for
 *     CUSUM quality-control schemes, Technometrics 24(3): k = 0.5, h = 5,
 *     head start h/2, shift 1 sigma: ARL ~6.35 against 10.4 without.
 */
#include "spc_test.h"

#include "spc_arl.h"
#include "spc_config.h"
#include "spc_stats.h"

#include <float.h>

#define T_REQUIRE(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

static const double shifts[10] = {0,   0.25, 0.5, 0.75, 1.0,
                                  1.5, 2.0,  2.5, 3.0,  4.0};

START_TEST(test_arl_shewhart_closed_form)
{
    /* ARL = 1 / (Phi(-L - d) + 1 - Phi(L - d)), L = 3, with
     *   Phi(-3) = 0.0013498980316301   Phi(-4) = 3.1671241833120e-5
     *   Phi(-5) = 2.8665157187919e-7   Phi(-6) = 9.8658764503770e-10
     *   Phi(-2) = 0.022750131948179    Phi(-1) = 0.15865525393146
     * d = 0: 1 / (2 x 0.0013498980316301)       = 370.39834734496
     * d = 1: 1 / (3.16712418e-5 + 0.0227501319) = 43.894681718540
     * d = 2: 1 / (2.86651572e-7 + 0.1586552539) = 6.3029629871430
     * d = 3: 1 / (9.86587645e-10 + 0.5)         = 1.9999999960536 */
    CK_DBL_NEAR(spc_arl_shewhart(3.0, 0.0), 370.39834734496, 1e-7);
    CK_DBL_NEAR(spc_arl_shewhart(3.0, 1.0), 43.894681718540, 1e-9);
    CK_DBL_NEAR(spc_arl_shewhart(3.0, 2.0), 6.3029629871430, 1e-10);
    CK_DBL_NEAR(spc_arl_shewhart(3.0, 3.0), 1.9999999960536, 1e-11);
    /* two-sided: symmetric in the shift */
    CK_DBL_NEAR(spc_arl_shewhart(3.0, -1.0), 43.894681718540, 1e-9);
    /* L = z_0.999 = 3.090232306167814 (the "0.001 probability limits"):
     * ARL0 = 1 / (2 x 0.001) = 500 */
    CK_DBL_NEAR(spc_arl_shewhart(3.090232306167814, 0.0), 500.0, 1e-6);
}
END_TEST

/* Montgomery Table 9.3, k = 1/2. */
static const double cusum_h4[10] = {168,  74.2, 26.6, 13.3, 8.38,
                                    4.75, 3.34, 2.62, 2.19, 1.71};
static const double cusum_h5[10] = {465,  139,  38.0, 17.0, 10.4,
                                    5.75, 4.01, 3.11, 2.57, 2.01};

/* Allowed distance from a published value printed with resolution @p res:
 * half a unit of its last digit plus 0.5 % for the Markov-chain
 * discretization (200 states: converged to < 0.1 %, see
 * test_arl_markov_chain_converged). */
static double table_tol(double v, double res)
{
    return 0.5 * res + 0.005 * v;
}

/* resolution of a 3-significant-digit table entry */
static double res3(double v)
{
    return v >= 100 ? 1.0 : v >= 10 ? 0.1 : 0.01;
}

START_TEST(test_arl_cusum_montgomery_table_9_3)
{
    int i;

    for (i = 0; i < 10; i++) {
        double a4 = spc_arl_cusum(0.5, 4.0, shifts[i], 0.0, 200);
        double a5 = spc_arl_cusum(0.5, 5.0, shifts[i], 0.0, 200);

        ck_assert_msg(
            fabs(a4 - cusum_h4[i]) <= table_tol(cusum_h4[i], res3(cusum_h4[i])),
            "h=4 shift %g: ARL %.4f, table %g", shifts[i], a4, cusum_h4[i]);
        ck_assert_msg(
            fabs(a5 - cusum_h5[i]) <= table_tol(cusum_h5[i], res3(cusum_h5[i])),
            "h=5 shift %g: ARL %.4f, table %g", shifts[i], a5, cusum_h5[i]);
        /* two-sided: a downward shift gives the same ARL */
        CK_DBL_NEAR(spc_arl_cusum(0.5, 5.0, -shifts[i], 0.0, 200), a5,
                    1e-9 * a5);
        if (i > 0) /* ARL falls as the shift grows */
            ck_assert(a5 < spc_arl_cusum(0.5, 5.0, shifts[i - 1], 0.0, 200));
    }
}
END_TEST

/* Lucas & Saccucci (1990) via Montgomery Table 9.11: values printed with 3
 * significant digits above 10 and 2 below (resolution 0.1). */
struct ewma_row {
    double lambda, L, arl[10];
};

static const struct ewma_row ewma_table[3] = {
    {0.10, 2.814, {500, 106, 31.3, 15.9, 10.3, 6.1, 4.4, 3.4, 2.9, 2.2}},
    {0.05, 2.615, {500, 84.1, 28.8, 16.4, 11.4, 7.1, 5.2, 4.2, 3.5, 2.7}},
    {0.20, 2.962, {500, 150, 41.8, 18.2, 10.5, 5.5, 3.7, 2.9, 2.4, 1.9}},
};

START_TEST(test_arl_ewma_lucas_saccucci)
{
    int j, i;

    for (j = 0; j < 3; j++) {
        const struct ewma_row *row = &ewma_table[j];

        for (i = 0; i < 10; i++) {
            double want = row->arl[i];
            double res = want >= 100 ? 1.0 : 0.1;
            double got = spc_arl_ewma(row->lambda, row->L, shifts[i], 201);

            /* ARL0 = 500 also absorbs L printed to 3 decimals:
             * dARL0/dL ~ 1500 here, so +-0.0005 in L is +-0.75 */
            ck_assert_msg(fabs(got - want) <=
                              table_tol(want, res) + (i == 0 ? 0.75 : 0.0),
                          "lambda %g L %g shift %g: ARL %.4f, table %g",
                          row->lambda, row->L, shifts[i], got, want);
            CK_DBL_NEAR(spc_arl_ewma(row->lambda, row->L, -shifts[i], 201), got,
                        1e-9 * got);
        }
    }
}
END_TEST

START_TEST(test_arl_markov_chain_converged)
{
    /* Doubling the states moves the ARLs by well under the 0.5 % allowed
     * for discretization above. */
    double c200 = spc_arl_cusum(0.5, 5.0, 0.0, 0.0, 200);
    double c400 = spc_arl_cusum(0.5, 5.0, 0.0, 0.0, 400);
    double e201 = spc_arl_ewma(0.05, 2.615, 0.0, 201);
    double e401 = spc_arl_ewma(0.05, 2.615, 0.0, 401);

    ck_assert_msg(fabs(c200 - c400) < 1e-3 * c400, "cusum %g vs %g", c200,
                  c400);
    ck_assert_msg(fabs(e201 - e401) < 2e-3 * e401, "ewma %g vs %g", e201, e401);
    /* an even state count is made odd (a centre state at 0) */
    CK_DBL_NEAR(spc_arl_ewma(0.1, 2.814, 0.5, 200),
                spc_arl_ewma(0.1, 2.814, 0.5, 201), 1e-12);
}
END_TEST

START_TEST(test_arl_inverse_searches)
{
    double h = spc_cusum_h_for_arl(0.5, 465.0);
    double L = spc_ewma_L_for_arl(0.1, 500.0);

    /* Table 9.3: h = 5 gives 465; h = 4 gives 168 */
    CK_DBL_NEAR(h, 5.0, 0.01);
    CK_DBL_NEAR(spc_cusum_h_for_arl(0.5, 168.0), 4.0, 0.01);
    /* Table 9.11: L = 2.814 (lambda .1), 2.615 (.05), 2.962 (.2) */
    CK_DBL_NEAR(L, 2.814, 0.002);
    CK_DBL_NEAR(spc_ewma_L_for_arl(0.05, 500.0), 2.615, 0.002);
    CK_DBL_NEAR(spc_ewma_L_for_arl(0.20, 500.0), 2.962, 0.002);
    /* and the found thresholds do give the asked ARL0 */
    ck_assert(fabs(spc_arl_cusum(0.5, h, 0, 0, 200) - 465.0) < 0.01 * 465);
    ck_assert(fabs(spc_arl_ewma(0.1, L, 0, 201) - 500.0) < 0.01 * 500);
    /* larger ARL0 needs a wider threshold */
    ck_assert(spc_cusum_h_for_arl(0.5, 5000.0) > h);
    ck_assert(spc_ewma_L_for_arl(0.1, 5000.0) > L);
}
END_TEST

/* Run length of a two-sided tabular CUSUM started at @p head on both
 * sides, observations N(delta, 1): plain simulation, no discretization. */
static long cusum_run(struct t_rng *r, double k, double h, double head,
                      double delta)
{
    double up = head, dn = head;
    long n = 0;

    for (;;) {
        double x = delta + t_norm(r);

        n++;
        up = fmax(0.0, up + x - k);
        dn = fmax(0.0, dn - x - k);
        if (up > h || dn > h)
            return n;
    }
}

START_TEST(test_arl_cusum_fir)
{
    double fir = spc_arl_cusum(0.5, 5.0, 1.0, 2.5, 200);
    double plain = spc_arl_cusum(0.5, 5.0, 1.0, 0.0, 200);
    double fir0 = spc_arl_cusum(0.5, 5.0, 0.0, 2.5, 200);
    double plain0 = spc_arl_cusum(0.5, 5.0, 0.0, 0.0, 200);
    struct t_rng r;
    double sum = 0, sum2 = 0, mean, se;
    long i, n = 40000;

    /* Lucas & Crosier: the head start cuts the 1-sigma ARL from 10.4 to
     * about 6.35 and costs little in control */
    ck_assert_msg(fir < 0.7 * plain, "FIR %g vs %g", fir, plain);
    ck_assert_msg(fir > 5.8 && fir < 6.9, "FIR ARL %g, published ~6.35", fir);
    ck_assert_msg(fir0 < plain0 && fir0 > 0.9 * plain0, "in control %g vs %g",
                  fir0, plain0);
    /* head 0 is the plain chart */
    CK_DBL_NEAR(spc_arl_cusum(0.5, 5.0, 1.0, 0.0, 200), plain, 0.0);

    /* An independent simulation of the two-sided FIR chart (the Markov
     * chain combines the sides by 1/ARL = 1/ARL+ + 1/ARL-, which is an
     * approximation with a head start on both sides). */
    t_rng_seed(&r, 2024);
    for (i = 0; i < n; i++) {
        long rl = cusum_run(&r, 0.5, 5.0, 2.5, 1.0);

        sum += (double)rl;
        sum2 += (double)rl * (double)rl;
    }
    mean = sum / n;
    se = sqrt((sum2 / n - mean * mean) / n);
    ck_assert_msg(fabs(mean - fir) < 4 * se + 0.01 * fir,
                  "simulated FIR ARL %g (se %g) vs chain %g", mean, se, fir);
}
END_TEST

/* The in-control alarm rate a detector's threshold implies. */
static double shewhart_rate(const struct spc_params *p)
{
    return 2.0 * spc_norm_sf(p->shewhart_L);
}

static double rz_rate(const struct spc_params *p)
{
    return 2.0 * spc_t_sf(p->rz_threshold, 0.37 * p->rz_min_samples + 1.0);
}

START_TEST(test_arl_budget_alpha)
{
    struct spc_alarm_budget b = {1, 1.0, 120.0, 200.0};

    /* 1 false alarm / hour over 120 units / hour x 200 charted steps:
     * alpha = 1 / 24000 = 4.1667e-5 per step sample */
    CK_DBL_NEAR(spc_budget_alpha(&b), 1.0 / 24000.0, 1e-18);
    CK_DBL_NEAR(spc_budget_alpha(&b), 4.1667e-5, 1e-9);
    b.set = 0;
    ck_assert(spc_budget_alpha(&b) == 0.0);
    ck_assert(spc_budget_alpha(NULL) == 0.0);
}
END_TEST

/*
 * Shares (the fixed weights of spc_arl.c, a design choice, normalised over
 * the enabled detectors): shewhart .10, robust_z .10, ewma .15, cusum .15,
 * trend .10, variance .10, yield .05, near_limit .05, subgroup .15,
 * flatline .05 (split in half between its two tests), runs 0 (its fixed
 * rate, ARL 91.75, is taken off the top).
 */
static void check_budget(const struct spc_params *p, double alpha, double wsum)
{
    double share = alpha / wsum, total = 0.0, r;

    /* Shewhart: 2 (1 - Phi(L)) is exactly its share */
    r = shewhart_rate(p);
    ck_assert_msg(fabs(r - 0.10 * share) < 1e-6 * 0.10 * share,
                  "shewhart rate %g, share %g", r, 0.10 * share);
    total += r;
    r = rz_rate(p);
    ck_assert_msg(fabs(r - 0.10 * share) < 1e-6 * 0.10 * share,
                  "robust_z rate %g, share %g", r, 0.10 * share);
    total += r;
    /* CUSUM and EWMA: in-control ARL = 1 / share within 2 % */
    r = 1.0 / spc_arl_cusum(p->cusum_k, p->cusum_h, 0.0, 0.0, 200);
    ck_assert_msg(fabs(r - 0.15 * share) < 0.02 * 0.15 * share,
                  "cusum h %g: ARL0 %g, wanted %g", p->cusum_h, 1.0 / r,
                  1.0 / (0.15 * share));
    total += r;
    r = 1.0 / spc_arl_ewma(p->ewma_lambda, p->ewma_L, 0.0, 201);
    ck_assert_msg(fabs(r - 0.15 * share) < 0.02 * 0.15 * share,
                  "ewma L %g: ARL0 %g, wanted %g", p->ewma_L, 1.0 / r,
                  1.0 / (0.15 * share));
    total += r;
    CK_DBL_NEAR(p->trend_alpha, 0.10 * share, 1e-12 * share);
    CK_DBL_NEAR(p->var_alpha, 0.10 * share, 1e-12 * share);
    CK_DBL_NEAR(p->yield_alpha, 0.05 * share, 1e-12 * share);
    CK_DBL_NEAR(p->nl_alpha, 0.05 * share, 1e-12 * share);
    CK_DBL_NEAR(p->flat_alpha + p->flat_invalid_alpha, 0.05 * share,
                1e-12 * share);
    total += p->trend_alpha + p->var_alpha + p->yield_alpha + p->nl_alpha +
             p->flat_alpha + p->flat_invalid_alpha;
    if (p->enabled[SPC_DET_SUBGROUP]) {
        CK_DBL_NEAR(p->sg_alpha, 0.15 * share, 1e-12 * share);
        total += p->sg_alpha;
    }
    /* the shares of the enabled detectors add up to the budget */
    ck_assert_msg(fabs(total - alpha) < 0.01 * alpha, "total %g, alpha %g",
                  total, alpha);
}

START_TEST(test_arl_budget_apply)
{
    struct spc_config *cfg = spc_config_new();
    struct spc_alarm_budget b = {1, 1.0, 120.0, 200.0};
    struct spc_params p, before;
    double alpha = 1.0 / 24000.0;

    ck_assert_ptr_nonnull(cfg);
    /* defaults: every detector but runs enabled (weights sum to 1) */
    ck_assert(!cfg->defaults.enabled[SPC_DET_RUNS]);
    p = cfg->defaults;
    spc_budget_apply(&b, &p);
    check_budget(&p, alpha, 1.0);
    /* the thresholds are wider than the classic ones: L > 3 */
    ck_assert(p.shewhart_L > 3.0 && p.ewma_L > 2.814 && p.cusum_h > 5.0);
    /* parameters the budget does not own are untouched */
    ck_assert(p.cusum_k == cfg->defaults.cusum_k);
    ck_assert(p.ewma_lambda == cfg->defaults.ewma_lambda);
    ck_assert(p.rz_min_samples == cfg->defaults.rz_min_samples);

    /* a disabled detector's share goes to the others: without subgroup
     * the weights sum to 0.85 */
    p = cfg->defaults;
    p.enabled[SPC_DET_SUBGROUP] = 0;
    spc_budget_apply(&b, &p);
    check_budget(&p, alpha, 0.85);

    /* runs enabled: its fixed rate 1/91.75 comes off the top first
     * (budget 6 FA/h, 100 units/h, 2 steps: alpha = 0.03) */
    p = cfg->defaults;
    p.enabled[SPC_DET_RUNS] = 1;
    b.false_alarms_per_hour = 6.0;
    b.units_per_hour = 100.0;
    b.charted_steps = 2.0;
    spc_budget_apply(&b, &p);
    check_budget(&p, 0.03 - 1.0 / 91.75, 1.0);

    /* no budget: nothing changes */
    p = before = cfg->defaults;
    b.set = 0;
    spc_budget_apply(&b, &p);
    ck_assert(memcmp(&p, &before, sizeof(p)) == 0);
    spc_config_destroy(cfg);
}
END_TEST

START_TEST(test_arl_budget_from_config)
{
    /* The config's alarm_budget section yields the same thresholds. */
    struct spc_config *cfg =
        t_config("{\"alarm_budget\":{\"false_alarms_per_hour\":1,"
                 "\"units_per_hour\":120,\"charted_steps\":200}}");
    struct spc_config *plain = spc_config_new();
    struct spc_params p;

    ck_assert_ptr_nonnull(plain);
    p = plain->defaults;
    spc_budget_apply(&cfg->budget, &p);
    CK_DBL_NEAR(cfg->defaults.shewhart_L, p.shewhart_L, 1e-12);
    CK_DBL_NEAR(cfg->defaults.cusum_h, p.cusum_h, 1e-12);
    CK_DBL_NEAR(cfg->defaults.ewma_L, p.ewma_L, 1e-12);
    CK_DBL_NEAR(shewhart_rate(&cfg->defaults), 0.10 / 24000.0, 1e-12);
    spc_config_destroy(cfg);
    spc_config_destroy(plain);
}
END_TEST

/*
 * Regression (spc_config.c, spc_config_parse, fixed): the
 * alarm budget was applied to the defaults *before* the "detectors" section
 * is read, so the enabled flags set in the same config are not seen by
 * spc_budget_apply: with subgroup disabled the remaining detectors still
 * get only 85 % of the budget (and with runs enabled its 1/91.75 is never
 * taken off, so the combined false-alarm rate is ~260 x the budget for the
 * 1 FA/h, 120 units/h, 200 steps example).  Proposed fix: read "detectors"
 * first, apply the budget, then read "detectors" again so explicit
 * thresholds still override the derived ones.
 */
START_TEST(test_arl_budget_sees_config_enabled_flags)
{
    struct spc_config *cfg =
        t_config("{\"alarm_budget\":{\"false_alarms_per_hour\":1,"
                 "\"units_per_hour\":120,\"charted_steps\":200},"
                 "\"detectors\":{\"subgroup\":{\"enabled\":false}}}");

    ck_assert(!cfg->defaults.enabled[SPC_DET_SUBGROUP]);
    check_budget(&cfg->defaults, 1.0 / 24000.0, 0.85);
    spc_config_destroy(cfg);
}
END_TEST

Suite *arl_suite(void)
{
    Suite *s = suite_create("arl");
    TCase *t;

    t = tcase_create("shewhart");
    tcase_add_test(t, test_arl_shewhart_closed_form);
    suite_add_tcase(s, t);

    t = tcase_create("markov");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_arl_cusum_montgomery_table_9_3);
    tcase_add_test(t, test_arl_ewma_lucas_saccucci);
    tcase_add_test(t, test_arl_markov_chain_converged);
    tcase_add_test(t, test_arl_inverse_searches);
    tcase_add_test(t, test_arl_cusum_fir);
    suite_add_tcase(s, t);

    t = tcase_create("budget");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_arl_budget_alpha);
    tcase_add_test(t, test_arl_budget_apply);
    tcase_add_test(t, test_arl_budget_from_config);
    tcase_add_test(t, test_arl_budget_sees_config_enabled_flags);
    suite_add_tcase(s, t);
    return s;
}
