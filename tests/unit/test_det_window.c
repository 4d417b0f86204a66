/*
 * test_det_window.c -- trend, variance, near_limit and flatline on
 * hand-analysed sequences (expected values computed independently, see the
 * comments).
 */
#include "spc_rig.h"

/* Trend, window 20, alpha 1e-3 (z 3.29053), mu 0 sigma 1: 25 zeros, then a
 * noise-free ramp 0.3 j.  With j ramp values in the window (the rest 0):
 * OLS t = b sqrt(665) and Mann-Kendall S = (20 - j) j + j (j - 1) / 2,
 * z = (S - 1) / sqrt(950):
 *   j = 8: t 3.0014, S 124 (z 3.99) -> OLS not yet significant;
 *   j = 9: t 3.5773, S 135 (z 4.35), slope 0.13872 -> fires, seq 34.
 * (Computed with a two-pass OLS and an O(n^2) S in Python.) */
START_TEST(test_det_window_trend_ramp)
{
    struct rig r;
    int j;

    rig_init_x(&r,
               "\"trend\":{\"enabled\":true,\"window\":20,"
               "\"alpha\":0.001}",
               "\"buffer_size\":32,\"baseline\":{\"accept_delay\":10}", 1);
    for (j = 0; j < 25; j++)
        feed(&r, "S", 0.0);
    for (j = 1; j <= 12; j++)
        feed(&r, "S", 0.3 * j);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 34);
    ck_assert_int_eq(r.s->a[0].dir, SPC_DIR_UP);
    CK_DBL_NEAR(r.s->a[0].score, 3.5773, 1e-3); /* min(|z_MK|, |t|) */
    ck_assert_ptr_nonnull(strstr(r.s->a[0].message, "drifting up"));
    rig_fini(&r);
}
END_TEST

/* One 10-sigma spike at the end of a flat window, clipped at 3 sigma:
 * b = 3 (19 - 9.5) / 665 = 0.0429, t = 1.1; S = 19, z = 0.58: nothing. */
START_TEST(test_det_window_trend_ignores_a_spike)
{
    struct rig r;
    int j;

    rig_init_x(&r,
               "\"trend\":{\"enabled\":true,\"window\":20,"
               "\"alpha\":0.001}",
               "\"buffer_size\":32,\"baseline\":{\"accept_delay\":10}", 1);
    for (j = 0; j < 40; j++)
        feed(&r, "S", j == 30 ? 10.0 : 0.0);
    ck_assert_uint_eq(r.s->n, 0);
    rig_fini(&r);
}
END_TEST

/* Variance, window 20 (19 successive differences), ratio 1.5, alpha 0.01:
 * nu = 2 * 19^2 / (3 * 19 - 1) = 12.893; Wilson-Hilferty chi2 limits give
 * hi = max(1.5^2, 2.1376) = 2.25 and lo = min(1 / 2.25, 0.31077) = 0.31077.
 * Pattern A (+-0.5 alternating): q = 1 / 2 = 0.5, inside.  Pattern B
 * (+-1.5) from seq 41: after j values of B the window holds j - 1 B-B pairs
 * (d^2 = 9), one A-B pair (d^2 = 4) and 19 - j A-A pairs (d^2 = 1):
 * q = (8 j + 14) / 38 > 2.25 first at j = 9 (q = 2.2632): seq 49. */
START_TEST(test_det_window_variance_grows)
{
    struct rig r;
    int i;

    rig_init_x(&r,
               "\"variance\":{\"enabled\":true,\"window\":20,"
               "\"ratio\":1.5,\"alpha\":0.01}",
               "\"buffer_size\":32,\"baseline\":{\"accept_delay\":10}", 1);
    for (i = 0; i < 40; i++)
        feed(&r, "S", i % 2 ? -0.5 : 0.5);
    ck_assert_uint_eq(r.s->n, 0);
    for (i = 40; i < 60; i++)
        feed(&r, "S", i % 2 ? -1.5 : 1.5);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 49);
    ck_assert_int_eq(r.s->a[0].dir, SPC_DIR_UP);
    CK_DBL_NEAR(r.s->a[0].score, sqrt(86.0 / 38.0), 1e-9);
    rig_fini(&r);
}
END_TEST

/* A constant reading has q = 0 < lo: the narrower spread is reported. */
START_TEST(test_det_window_variance_shrinks)
{
    struct rig r;
    int i;

    rig_init_x(&r,
               "\"variance\":{\"enabled\":true,\"window\":20,"
               "\"ratio\":1.5,\"alpha\":0.01}",
               "\"buffer_size\":32,\"baseline\":{\"accept_delay\":10}", 1);
    for (i = 0; i < 40; i++)
        feed(&r, "S", i % 2 ? -1.0 : 1.0); /* q = 2: inside */
    for (i = 0; i < 40; i++)
        feed(&r, "S", 0.25);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_int_eq(r.s->a[0].dir, SPC_DIR_DOWN);
    rig_fini(&r);
}
END_TEST

/* Near limit: spec 0..10 (GELE), fraction 0.1 -> near zone >= 9 or <= 1;
 * window 20, min rate 0.1 (and at least 3), alpha 1e-3.  The baseline near
 * rate is learned from in-control samples (0 here, smoothed to 0.5 / (n+1)
 * with n ~ 100): P(X >= 3 | 20, ~0.005) ~ 1e-4 < 1e-3.  Two near values
 * do not fire (count < 3), the third does. */
START_TEST(test_det_window_near_limit_creep)
{
    struct rig r;
    struct spc_event ev;
    int i;

    rig_init_x(&r,
               "\"near_limit\":{\"enabled\":true,\"window\":20,"
               "\"min_rate\":0.1,\"alpha\":0.001}",
               "\"buffer_size\":32,\"baseline\":{\"accept_delay\":10},"
               "\"steps\":[{\"match\":\"*\",\"baseline\":{\"mean\":5,"
               "\"sigma\":1}}]",
               0);
    for (i = 0; i < 140; i++) {
        t_event(&ev, "S", i == 137 || i == 138 || i == 139 ? 9.3 : 5.0, i);
        ev.comp_op = "GELE";
        ev.has_low = ev.has_high = 1;
        ev.low_limit = 0;
        ev.high_limit = 10;
        ck_assert_int_eq(spc_engine_process(r.e, &ev, 1), SPC_OK);
        if (i == 138)
            ck_assert_uint_eq(r.s->n, 0);
    }
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 140);
    ck_assert_int_eq(r.s->a[0].dir, SPC_DIR_UP);
    ck_assert_ptr_nonnull(strstr(r.s->a[0].message, "upper limit 10"));
    rig_fini(&r);
}
END_TEST

/* Stuck reading: 150 distinct values (repeat rate q = 0.5 / (pairs + 1),
 * ~0.0036), then one value repeated: (r - 1) ln q < ln 1e-6 already at the
 * minimum run of 6 (5 ln 0.0036 = -28 < -13.8): fires at seq 156. */
START_TEST(test_det_window_flatline_stuck)
{
    struct rig r;
    struct t_rng g;
    int i;

    rig_init_x(&r,
               "\"flatline\":{\"enabled\":true,\"min_run\":6,"
               "\"alpha\":1e-6}",
               "\"buffer_size\":32,\"baseline\":{\"accept_delay\":10}", 1);
    t_rng_seed(&g, 3);
    for (i = 0; i < 150; i++)
        feed(&r, "S", t_norm(&g));
    for (i = 0; i < 10; i++)
        feed(&r, "S", 1.2345);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 156);
    ck_assert_str_eq(r.s->a[0].check, "stuck");
    rig_fini(&r);
}
END_TEST

/* Coarsely quantized data repeat often (q ~ 0.5 for the pattern 0 0 1 1):
 * a run of 12 is then ordinary (0.5^11 = 5e-4 >> 1e-6); only a run where
 * 0.5^(r-1) < 1e-6, r ~ 21, is reported. */
START_TEST(test_det_window_flatline_adapts_to_quantized_data)
{
    struct rig r;
    int i;

    rig_init_x(&r,
               "\"flatline\":{\"enabled\":true,\"min_run\":6,"
               "\"alpha\":1e-6}",
               "\"buffer_size\":32,\"baseline\":{\"accept_delay\":10},"
               "\"steps\":[{\"match\":\"*\",\"baseline\":{\"mean\":0.5,"
               "\"sigma\":0.5}}]",
               0);
    for (i = 0; i < 400; i++)
        feed(&r, "S", (i / 2) % 2);
    /* values 398 and 399 are already 1: the run starts there, so after 12
     * more it is 14 long (0.5^13 = 1.2e-4: ordinary) */
    for (i = 0; i < 12; i++)
        feed(&r, "S", 1.0);
    ck_assert_uint_eq(r.s->n, 0);
    for (i = 0; i < 13; i++)
        feed(&r, "S", 1.0);
    ck_assert_uint_eq(r.s->n, 1);
    /* run length at the alarm = seq - 398: about 21 (q ~ 0.5) */
    ck_assert_uint_ge(r.s->a[0].seq - 398, 21);
    ck_assert_uint_le(r.s->a[0].seq - 398, 24);
    rig_fini(&r);
}
END_TEST

/* Invalid values: window 64, min rate 0.1, alpha 1e-6.  After 150 valid
 * values, every second event is NaN: the 6th (event 11) is 6/64 < 0.1, the
 * 7th (event 13) is 0.109 with P(X >= 7 | 64, 0.5/100) ~ 5e-8: seq 163. */
START_TEST(test_det_window_flatline_invalid_rate)
{
    struct rig r;
    int i;

    rig_init(&r,
             "\"flatline\":{\"enabled\":true,\"invalid_window\":64,"
             "\"invalid_min_rate\":0.1,\"invalid_alpha\":1e-6}",
             1);
    for (i = 0; i < 150; i++)
        feed(&r, "S", (i % 7) * 0.1);
    for (i = 1; i <= 20; i++)
        feed(&r, "S", i % 2 ? NAN : 0.3);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 163);
    ck_assert_str_eq(r.s->a[0].check, "invalid_rate");
    rig_fini(&r);
}
END_TEST

Suite *det_window_suite(void)
{
    Suite *s = suite_create("det_window");
    TCase *t = tcase_create("window");

    tcase_add_test(t, test_det_window_trend_ramp);
    tcase_add_test(t, test_det_window_trend_ignores_a_spike);
    tcase_add_test(t, test_det_window_variance_grows);
    tcase_add_test(t, test_det_window_variance_shrinks);
    tcase_add_test(t, test_det_window_near_limit_creep);
    tcase_add_test(t, test_det_window_flatline_stuck);
    tcase_add_test(t, test_det_window_flatline_adapts_to_quantized_data);
    tcase_add_test(t, test_det_window_flatline_invalid_rate);
    suite_add_tcase(s, t);
    return s;
}
