/*
 * test_det_yield.c -- yield of a key's recent window against its long-run
 * baseline.
 */
#include "spc_rig.h"

static void feed_attr(struct rig *r, const char *step, int passed)
{
    struct spc_event ev;

    t_event(&ev, step, NAN, r->i++);
    ev.kind = SPC_KIND_ATTRIBUTE;
    ev.measurement = SPC_UUT_MEAS;
    ev.value_valid = 0;
    ev.passed = (uint8_t)passed;
    ck_assert_int_eq(spc_engine_process(r->e, &ev, 1), SPC_OK);
}

/* Window 100, min drop 0.05 absolute and relative, alpha 1e-5.  300 passes,
 * then failures.  At event 305 (5 failures): the baseline counts events
 * 1..205 that left the window, p0 = 205.5 / 206 = 0.99757, recent yield
 * 0.95: drop 0.0476 < 0.05.  At 306: p0 = 206.5 / 207 = 0.99758, recent
 * 0.94: drop 0.0576, relative 0.058, and P(X <= 94 | 100, p0) = P(fails >=
 * 6 | 100, 0.00242) = 1.9e-7 < 1e-5 (summed independently): fires. */
START_TEST(test_det_yield_drop_hand_computed)
{
    struct rig r;
    int i;

    rig_init(&r,
             "\"yield\":{\"enabled\":true,\"window\":100,\"min_drop_abs\":0.05,"
             "\"min_drop_rel\":0.05,\"alpha\":1e-5}",
             0);
    for (i = 0; i < 300; i++)
        feed_attr(&r, SPC_UUT_STEP, 1);
    for (i = 0; i < 5; i++)
        feed_attr(&r, SPC_UUT_STEP, 0);
    ck_assert_uint_eq(r.s->n, 0);
    feed_attr(&r, SPC_UUT_STEP, 0);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 306);
    ck_assert_int_eq(r.s->a[0].dir, SPC_DIR_DOWN);
    CK_DBL_NEAR(r.s->a[0].value, 0.94, 1e-12);
    CK_DBL_NEAR(r.s->a[0].score, 206.5 / 207 - 0.94, 1e-12);
    ck_assert_ptr_nonnull(strstr(r.s->a[0].message, "First-pass yield"));
    /* still failing: no second alarm */
    for (i = 0; i < 20; i++)
        feed_attr(&r, SPC_UUT_STEP, 0);
    ck_assert_uint_eq(r.s->n, 1);
    rig_fini(&r);
}
END_TEST

/* It re-arms once the drop is under half the minimum (0.025), i.e. when the
 * failures have left the window, and fires again on a new drop. */
START_TEST(test_det_yield_rearms)
{
    struct rig r;
    int i;

    rig_init(&r, "\"yield\":{\"enabled\":true}", 0);
    for (i = 0; i < 300; i++)
        feed_attr(&r, "B", 1);
    for (i = 0; i < 10; i++)
        feed_attr(&r, "B", 0);
    ck_assert_uint_eq(r.s->n, 1);
    for (i = 0; i < 200; i++)
        feed_attr(&r, "B", 1);
    for (i = 0; i < 10; i++)
        feed_attr(&r, "B", 0);
    ck_assert_uint_eq(r.s->n, 2);
    rig_fini(&r);
}
END_TEST

/* No verdict before the baseline has min_baseline (100) events: 150 events
 * in, only 50 have left the 100-event window. */
START_TEST(test_det_yield_needs_a_baseline)
{
    struct rig r;
    int i;

    rig_init(&r, "\"yield\":{\"enabled\":true}", 0);
    for (i = 0; i < 110; i++)
        feed_attr(&r, "B", 1);
    for (i = 0; i < 40; i++)
        feed_attr(&r, "B", 0);
    ck_assert_uint_eq(r.s->n, 0);
    rig_fini(&r);
}
END_TEST

/* A numeric step's yield counts invalid readings as failures when their
 * status says so. */
START_TEST(test_det_yield_on_numeric_steps)
{
    struct rig r;
    struct spc_event ev;
    int i;

    rig_init(&r, "\"yield\":{\"enabled\":true}", 0);
    for (i = 0; i < 400; i++) {
        t_event(&ev, "N", i < 300 || i % 3 ? 1.0 : NAN, i);
        ev.passed = (uint8_t)(ev.value_valid ? 1 : 0);
        ck_assert_int_eq(spc_engine_process(r.e, &ev, 1), SPC_OK);
    }
    ck_assert_uint_eq(t_count(r.s, SPC_DET_YIELD), 1);
    rig_fini(&r);
}
END_TEST

Suite *det_yield_suite(void)
{
    Suite *s = suite_create("det_yield");
    TCase *t = tcase_create("yield");

    tcase_add_test(t, test_det_yield_drop_hand_computed);
    tcase_add_test(t, test_det_yield_rearms);
    tcase_add_test(t, test_det_yield_needs_a_baseline);
    tcase_add_test(t, test_det_yield_on_numeric_steps);
    suite_add_tcase(s, t);
    return s;
}
