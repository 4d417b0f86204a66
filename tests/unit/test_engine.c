/*
 * test_engine.c -- the engine as a whole: seq semantics, warm-up versus
 * known baselines, determinism, re-baseline, key isolation, statistics,
 * out-of-memory behaviour.
 */
#include "spc_rig.h"

START_TEST(test_engine_seq_counts_every_event)
{
    struct rig r;
    int i;

    rig_init(&r, "\"shewhart\":{\"enabled\":true,\"L\":3}", 1);
    for (i = 0; i < 4; i++)
        feed(&r, "S", NAN); /* invalid values count too */
    feed(&r, "S", 5.0);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 5);
    rig_fini(&r);
}
END_TEST

START_TEST(test_engine_known_baseline_alarms_from_sample_one)
{
    struct rig r;

    rig_init(&r, "\"shewhart\":{\"enabled\":true,\"L\":3}", 1);
    feed(&r, "S", 3.5);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 1);
    rig_fini(&r);
}
END_TEST

/* An estimated baseline: nothing during the warm-up (100 valid samples),
 * whatever the values, then the estimated limits apply. */
START_TEST(test_engine_warmup_then_estimated_limits)
{
    struct rig r;
    struct t_rng g;
    int i;

    rig_init(&r, "\"shewhart\":{\"enabled\":true}", 0);
    t_rng_seed(&g, 1);
    for (i = 0; i < 99; i++)
        feed(&r, "S", i == 50 ? 40.0 : t_norm(&g));
    ck_assert_uint_eq(r.s->n, 0);
    feed(&r, "S", t_norm(&g)); /* 100th: the baseline is estimated now */
    feed(&r, "S", 40.0);
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_uint_eq(r.s->a[0].seq, 101);
    rig_fini(&r);
}
END_TEST

static void json_out(const struct spc_anomaly *a, void *opaque)
{
    spc_anomaly_to_json(a, opaque);
    spc_buf_putc(opaque, '\n');
}

static void run_mixed(struct spc_buf *out)
{
    struct spc_config *cfg = t_config(NULL);
    char err[256];
    struct spc_engine *e = spc_engine_new(cfg, err, sizeof(err));
    struct t_rng g;
    struct spc_event ev[3];
    int u, k;

    spc_engine_set_sink(e, json_out, out);
    t_rng_seed(&g, 99);
    for (u = 0; u < 3000; u++) {
        for (k = 0; k < 3; k++) {
            t_event(&ev[k],
                    k == 0   ? "A"
                    : k == 1 ? "B"
                             : "C",
                    t_norm(&g) + (u > 2000 && k == 1 ? 2.0 : 0), u);
            ev[k].meta[SPC_DIM_STATION] = u % 2 ? "S1" : "S2";
        }
        ck_assert_int_eq(spc_engine_process(e, ev, 3), SPC_OK);
    }
    spc_engine_destroy(e);
    spc_config_destroy(cfg);
}

START_TEST(test_engine_same_input_same_output)
{
    struct spc_buf a, b;

    spc_buf_init(&a);
    spc_buf_init(&b);
    run_mixed(&a);
    run_mixed(&b);
    ck_assert_uint_gt(a.len, 0);
    ck_assert_str_eq(a.data, b.data);
    spc_buf_fini(&a);
    spc_buf_fini(&b);
}
END_TEST

START_TEST(test_engine_rebaseline_restarts_the_warmup)
{
    struct rig r;
    struct t_rng g;
    int i;

    rig_init(&r, "\"shewhart\":{\"enabled\":true}", 0);
    t_rng_seed(&g, 2);
    for (i = 0; i < 200; i++)
        feed(&r, "S", t_norm(&g));
    /* a new normal at 100: re-baselined, its warm-up learns it */
    ck_assert_uint_eq(spc_engine_rebaseline(r.e, "PLAN/S/*"), 1);
    ck_assert_uint_eq(spc_engine_rebaseline(r.e, "OTHER/*"), 0);
    for (i = 0; i < 150; i++)
        feed(&r, "S", 100 + t_norm(&g));
    ck_assert_uint_eq(r.s->n, 0);
    feed(&r, "S", 130);
    ck_assert_uint_eq(r.s->n, 1);
    rig_fini(&r);
}
END_TEST

START_TEST(test_engine_keys_are_isolated)
{
    struct rig r;
    struct spc_engine_stats st;
    int i;

    rig_init(&r, "\"shewhart\":{\"enabled\":true,\"L\":3}", 1);
    for (i = 0; i < 10; i++) {
        feed(&r, "A", 0.1);
        feed(&r, "B", i == 5 ? 4.0 : 0.1);
    }
    ck_assert_uint_eq(r.s->n, 1);
    ck_assert_str_eq(r.s->a[0].step, "B");
    ck_assert_uint_eq(r.s->a[0].seq, 6); /* B's own count */
    spc_engine_get_stats(r.e, &st);
    ck_assert_uint_eq(st.keys, 2);
    ck_assert_uint_eq(st.events, 20);
    ck_assert_uint_eq(st.valid, 20);
    ck_assert_uint_eq(st.anomalies[SPC_DET_SHEWHART], 1);
    ck_assert_uint_gt(st.state_bytes, 2 * 256 * 18);
    rig_fini(&r);
}
END_TEST

/* Every allocation on the event path may fail: the engine reports
 * SPC_ERR_NOMEM, does not crash, and keeps working afterwards. */
START_TEST(test_engine_allocation_failure_sweep)
{
    struct spc_config *cfg = t_config(NULL);
    char err[256];
    struct spc_event ev[4];
    unsigned long n, total;
    int k;

    for (k = 0; k < 4; k++) {
        t_event(&ev[k], k < 2 ? "A" : "B", 1.0 + k, k);
        ev[k].meta[SPC_DIM_STATION] = "S1";
        ev[k].meta[SPC_DIM_FIXTURE] = k % 2 ? "F1" : "F2";
    }
    {
        struct spc_engine *e = spc_engine_new(cfg, err, sizeof(err));

        spc_alloc_fail_after(100000);
        ck_assert_int_eq(spc_engine_process(e, ev, 4), SPC_OK);
        total = spc_alloc_fail_after(0);
        spc_engine_destroy(e);
    }
    ck_assert_uint_gt(total, 3);
    for (n = 1; n <= total; n++) {
        struct spc_engine *e = spc_engine_new(cfg, err, sizeof(err));
        spc_err_t rc;

        ck_assert_ptr_nonnull(e);
        spc_alloc_fail_after(n);
        rc = spc_engine_process(e, ev, 4);
        spc_alloc_fail_after(0);
        ck_assert_msg(rc == SPC_ERR_NOMEM || rc == SPC_OK, "allocation %lu: %s",
                      n, spc_err2str(rc));
        ck_assert_int_eq(spc_engine_process(e, ev, 4), SPC_OK);
        spc_engine_destroy(e);
    }
    spc_config_destroy(cfg);
}
END_TEST

Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *t = tcase_create("engine");

    tcase_add_test(t, test_engine_seq_counts_every_event);
    tcase_add_test(t, test_engine_known_baseline_alarms_from_sample_one);
    tcase_add_test(t, test_engine_warmup_then_estimated_limits);
    tcase_add_test(t, test_engine_same_input_same_output);
    tcase_add_test(t, test_engine_rebaseline_restarts_the_warmup);
    tcase_add_test(t, test_engine_keys_are_isolated);
    tcase_add_test(t, test_engine_allocation_failure_sweep);
    suite_add_tcase(s, t);
    return s;
}
