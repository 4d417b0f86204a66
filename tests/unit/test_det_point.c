/*
 * test_det_point.c -- Shewhart, robust z, EWMA, CUSUM and the Nelson rules on
 * hand-computed sequences (the arithmetic is in the comments), plus the
 * hysteresis and "explained" rules between them.
 */
#include "spc_rig.h"

START_TEST(test_det_point_shewhart_known_limits_and_hysteresis)
{
    /* mu 0, sigma 1, L 3: |z| > 3 fires once per excursion */
    static const double v[] = {0, 2.9, 3.1, 3.2, 0, -3.2};
    struct rig r;

    rig_init(&r, "\"shewhart\":{\"enabled\":true,\"L\":3}", 1);
    feed_n(&r, "S", v, 6);
    ck_assert_uint_eq(r.s->n, 2);
    ck_assert_uint_eq(r.s->a[0].seq, 3);
    ck_assert_int_eq(r.s->a[0].dir, SPC_DIR_UP);
    CK_DBL_NEAR(r.s->a[0].score, 3.1, 1e-12);
    CK_DBL_NEAR(r.s->a[0].threshold, 3.0, 0); /* known: no widening */
    ck_assert_uint_eq(r.s->a[1].seq, 6);
    ck_assert_int_eq(r.s->a[1].dir, SPC_DIR_DOWN);
    rig_fini(&r);
}
END_TEST

/* Estimated baseline: the limit is widened for estimation error,
 * L' = t_{n-1}(L) sqrt(1 + 1/n) with t by Cornish-Fisher to 2nd order:
 * L = 4.5, n = 100: 4.5 + (4.5^3 + 4.5) / (4 * 99)
 *   + (5 * 4.5^5 + 16 * 4.5^3 + 3 * 4.5) / (96 * 99^2)
 *   = 4.5 + 95.625 / 396 + 10697.906 / 940896 = 4.752846,
 * times sqrt(1.01) = 1.0049876 -> 4.776552. */
START_TEST(test_det_point_shewhart_widened_for_estimation)
{
    struct rig r;
    int i;

    rig_init_x(&r, "\"shewhart\":{\"enabled\":true,\"L\":4.5}",
               "\"baseline\":{\"warmup\":100,\"max_samples\":100,"
               "\"widen\":true}",
               0);
    /* uniform on [-0.99, 0.99]: median 0, MAD 0.5, robust sigma 0.741,
     * so the +-3.5 sigma cut (2.59) keeps all 100: n = 100 */
    for (i = 0; i < 100; i++)
        feed(&r, "S", (i - 49.5) / 50.0);
    feed(&r, "S", 100.0);
    ck_assert_uint_eq(r.s->n, 1);
    CK_DBL_NEAR(r.s->a[0].threshold, 4.776552, 2e-6);
    rig_fini(&r);
}
END_TEST

/* Window 0.5 - 19.5 ... 19.5 around 0 (40 values, k - 19.5):
 * median 0; |deviations| 0.5, 0.5, 1.5, 1.5, ..., 19.5, 19.5, so the 20th
 * and 21st smallest are 9.5 and 10.5: MAD = 10, scale 14.826, and
 * threshold 4.5 is crossed at |x| > 66.717. */
START_TEST(test_det_point_robust_z_hand_computed)
{
    struct rig r;
    char step[8];
    int probe, k;
    static const double probes[2] = {66.7, 66.8};

    rig_init(&r, "\"robust_z\":{\"enabled\":true,\"threshold\":4.5}", 0);
    for (probe = 0; probe < 2; probe++) {
        snprintf(step, sizeof(step), "S%d", probe);
        for (k = 0; k < 40; k++)
            feed(&r, step, k - 19.5);
        feed(&r, step, probes[probe]);
    }
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_str_eq(r.s->a[0].step, "S1");
    ck_assert_uint_eq(r.s->a[0].seq, 41);
    CK_DBL_NEAR(r.s->a[0].score, 66.8 / 14.826, 1e-9);
    rig_fini(&r);
}
END_TEST

START_TEST(test_det_point_robust_z_warmup_and_constant_window)
{
    struct rig r;
    int k;

    rig_init(&r, "\"robust_z\":{\"enabled\":true,\"min_samples\":30}", 0);
    for (k = 0; k < 29; k++)
        feed(&r, "S", k % 3);
    feed(&r, "S", 1000); /* 29 samples in the window: still warming up */
    for (k = 0; k < 50; k++)
        feed(&r, "C", 5.0);
    feed(&r, "C", 6.0); /* MAD 0 and mean |dev| 0: left to flatline */
    ck_assert_uint_eq(r.s->n, 0);
    rig_fini(&r);
}
END_TEST

/* EWMA lambda 0.2, L 3, exact limits, x = 2 from t = 1 (mu 0, sigma 1):
 * z_t = 0.2 * 2 + 0.8 z_{t-1}: 0.4, 0.72, 0.976;
 * sigma_z(t) = sqrt(0.2/1.8 * (1 - 0.8^(2t))): 0.2, 0.256125, 0.286328;
 * z / sigma_z = 2.0, 2.811, 3.40868: fires at t = 3. */
START_TEST(test_det_point_ewma_exact_limits)
{
    struct rig r;
    int k;

    rig_init(&r,
             "\"ewma\":{\"enabled\":true,\"lambda\":0.2,\"L\":3,"
             "\"limits\":\"exact\",\"clip\":0}",
             1);
    for (k = 0; k < 3; k++)
        feed(&r, "S", 2.0);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 3);
    CK_DBL_NEAR(r.s->a[0].score, 0.976 / 0.2863284, 1e-5);
    rig_fini(&r);
}
END_TEST

/* Asymptotic limits: sigma_z = sqrt(0.2/1.8) = 0.333333 at every t, so
 * z_t / 0.3333 = 1.2, 2.16, 2.928, 3.5424: fires at t = 4. */
START_TEST(test_det_point_ewma_asymptotic_limits)
{
    struct rig r;
    int k;

    rig_init(&r,
             "\"ewma\":{\"enabled\":true,\"lambda\":0.2,\"L\":3,"
             "\"limits\":\"asymptotic\",\"clip\":0}",
             1);
    for (k = 0; k < 4; k++)
        feed(&r, "S", 2.0);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 4);
    CK_DBL_NEAR(r.s->a[0].score, 3.5424, 1e-9);
    rig_fini(&r);
}
END_TEST

/* CUSUM k 0.5, h 4: x = 1 gives C+ = 0.5 t; C+ = 4.5 > 4 at t = 9.
 * Shift estimate k + C/N = 0.5 + 4.5 / 9 = 1.0 (the true shift), change
 * point 9 - 9 + 1 = 1.  Latched: C+ grows to the clamp 2h = 8; x = -1 takes
 * 1.5 per step: 8 -> 6.5 -> 5 -> 3.5 -> 2 (<= h/2: cleared at seq 24);
 * x = 1 again: 2.5, 3, 3.5, 4, 4.5: fires on the 5th, seq 20 + 4 + 5 = 29. */
START_TEST(test_det_point_cusum_hand_computed)
{
    struct rig r;
    int k;

    rig_init(&r, "\"cusum\":{\"enabled\":true,\"k\":0.5,\"h\":4,\"clip\":0}",
             1);
    for (k = 0; k < 20; k++)
        feed(&r, "S", 1.0);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 9);
    CK_DBL_NEAR(r.s->a[0].score, 4.5, 1e-12);
    ck_assert_int_eq(r.s->a[0].dir, SPC_DIR_UP);
    ck_assert_ptr_nonnull(strstr(r.s->a[0].message, "about 1.0 sigma"));
    ck_assert_ptr_nonnull(strstr(r.s->a[0].message, "since sample 1"));
    for (k = 0; k < 4; k++)
        feed(&r, "S", -1.0);
    for (k = 0; k < 4; k++)
        feed(&r, "S", 1.0);
    ck_assert_uint_eq(r.s->n, 1);
    feed(&r, "S", 1.0);
    ck_assert_uint_eq(r.s->n, 2);
    ck_assert_uint_eq(r.s->a[1].seq, 29);
    rig_fini(&r);
}
END_TEST

/* The lower side mirrors the upper; FIR starts both at h/2 = 2, so x = -1
 * reaches C- = 2 + 0.5 t > 4 at t = 5 instead of 9. */
START_TEST(test_det_point_cusum_lower_side_and_fir)
{
    struct rig r;
    int k;

    rig_init(&r,
             "\"cusum\":{\"enabled\":true,\"k\":0.5,\"h\":4,\"clip\":0,"
             "\"fir\":true}",
             1);
    for (k = 0; k < 5; k++)
        feed(&r, "S", -1.0);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 5);
    ck_assert_int_eq(r.s->a[0].dir, SPC_DIR_DOWN);
    rig_fini(&r);
}
END_TEST

/* A spike does not look like a shift: inputs are clipped at 4 sigma, so
 * one 10-sigma point adds at most 3.5 to the CUSUM (h 10) and 0.4 to the
 * EWMA (0.4 / 0.23 < 4.2).  Only the Shewhart chart reports it. */
START_TEST(test_det_point_spike_is_not_a_shift)
{
    struct rig r;
    struct t_rng g;
    int k;

    rig_init(&r,
             "\"shewhart\":{\"enabled\":true},\"robust_z\":{\"enabled\":true},"
             "\"ewma\":{\"enabled\":true},\"cusum\":{\"enabled\":true}",
             1);
    t_rng_seed(&g, 11);
    for (k = 0; k < 200; k++)
        feed(&r, "S", 0.3 * t_norm(&g));
    feed(&r, "S", 10.0);
    for (k = 0; k < 20; k++)
        feed(&r, "S", 0.3 * t_norm(&g));
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_int_eq(r.s->a[0].det, SPC_DET_SHEWHART);
    ck_assert_uint_eq(r.s->a[0].seq, 201);
    rig_fini(&r);
}
END_TEST

/* One sustained move, one alarm: x = 2 (mu 0, sigma 1) makes the EWMA
 * (lambda 0.1, L 4.2, exact) cross at t = 5 (z = 0.81902, sigma_z =
 * 0.185149: 4.42 > 4.2; at t = 4: 0.6878 / 0.17313 = 3.97), the CUSUM
 * (k 0.5, h 10) at t = 7; the CUSUM then latches silently. */
START_TEST(test_det_point_one_shift_one_alarm)
{
    struct rig r;
    int k;

    rig_init(&r, "\"ewma\":{\"enabled\":true},\"cusum\":{\"enabled\":true}", 1);
    for (k = 0; k < 30; k++)
        feed(&r, "S", 2.0);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_int_eq(r.s->a[0].det, SPC_DET_EWMA);
    ck_assert_uint_eq(r.s->a[0].seq, 5);
    rig_fini(&r);
}
END_TEST

/* During a reported shift, points are judged against the current level. */
START_TEST(test_det_point_shewhart_follows_reported_shift)
{
    struct rig r;
    int k;

    rig_init(&r,
             "\"shewhart\":{\"enabled\":true,\"L\":3},"
             "\"cusum\":{\"enabled\":true,\"h\":4}",
             1);
    for (k = 0; k < 30; k++)
        feed(&r, "S", 2.5 + (k % 2 ? 0.4 : -0.4));
    /* 2.9 is 2.9 sigma from mu but ~0.4 from the level: no Shewhart */
    ck_assert_uint_eq(t_count(r.s, SPC_DET_SHEWHART), 0);
    ck_assert_uint_eq(t_count(r.s, SPC_DET_CUSUM), 1);
    feed(&r, "S", 9.0); /* a spike on top of the shift is news */
    ck_assert_uint_eq(t_count(r.s, SPC_DET_SHEWHART), 1);
    rig_fini(&r);
}
END_TEST

static void runs_case(int rule, const double *v, int n, int expect_seq)
{
    char det[256];
    struct rig r;

    snprintf(det, sizeof(det),
             "\"runs\":{\"enabled\":true,\"rules\":[%d],\"run_length\":9}",
             rule);
    rig_init(&r, det, 1);
    feed_n(&r, "S", v, n);
    ck_assert_msg(r.s->n == 1, "rule %d: %zu anomalies", rule, r.s->n);
    ck_assert_int_eq(r.s->a[0].rule, rule);
    ck_assert_msg(r.s->a[0].seq == (uint64_t)expect_seq,
                  "rule %d fired at %llu, expected %d", rule,
                  (unsigned long long)r.s->a[0].seq, expect_seq);
    rig_fini(&r);
}

START_TEST(test_det_point_nelson_rules)
{
    static const double r1[] = {0, 1, 3.5, 0};
    static const double r2[] = {0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5};
    static const double r3[] = {0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.5};
    static const double r5[] = {2.5, 0, 2.5, 0};
    static const double r6[] = {1.5, 1.5, 0, 1.5, 1.5, 0};
    static const double r8[] = {1.5, -1.5, 1.5, -1.5, 1.5, -1.5, 1.5, -1.5};
    double r4[14], r7[15];
    int i;

    for (i = 0; i < 14; i++)
        r4[i] = i % 2 ? -0.5 : 0.5;
    /* within 1 sigma, no 6-monotone run, no alternation of 14, sides ++-- */
    for (i = 0; i < 15; i++)
        r7[i] = (double[]){0.5, 0.6, -0.5, -0.4}[i % 4];
    runs_case(1, r1, 4, 3);
    runs_case(2, r2, 9, 9);
    runs_case(3, r3, 7, 6);
    runs_case(4, r4, 14, 14);
    runs_case(5, r5, 4, 3);
    runs_case(6, r6, 6, 5);
    runs_case(7, r7, 15, 15);
    runs_case(8, r8, 8, 8);
}
END_TEST

Suite *det_point_suite(void)
{
    Suite *s = suite_create("det_point");
    TCase *t = tcase_create("charts");

    tcase_add_test(t, test_det_point_shewhart_known_limits_and_hysteresis);
    tcase_add_test(t, test_det_point_shewhart_widened_for_estimation);
    tcase_add_test(t, test_det_point_robust_z_hand_computed);
    tcase_add_test(t, test_det_point_robust_z_warmup_and_constant_window);
    tcase_add_test(t, test_det_point_ewma_exact_limits);
    tcase_add_test(t, test_det_point_ewma_asymptotic_limits);
    tcase_add_test(t, test_det_point_cusum_hand_computed);
    tcase_add_test(t, test_det_point_cusum_lower_side_and_fir);
    tcase_add_test(t, test_det_point_nelson_rules);
    suite_add_tcase(s, t);
    t = tcase_create("hygiene");
    tcase_add_test(t, test_det_point_spike_is_not_a_shift);
    tcase_add_test(t, test_det_point_one_shift_one_alarm);
    tcase_add_test(t, test_det_point_shewhart_follows_reported_shift);
    suite_add_tcase(s, t);
    return s;
}
