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

/* The anomaly context's breakdown against a naive model (one pass per
 * dimension and value over the window): per value its events, the mean of
 * its valid values and its yield; order dimension, then first appearance;
 * single-value dimensions left out; at most SPC_BREAKDOWN_MAX entries,
 * earlier dimensions first.  The metadata is chosen to defeat the
 * engine's caches: 300 tuples exist before the window, and the window
 * alternates tuples (and operator ids) 256 apart. */
#define BR_W 40

struct br_capture {
    unsigned n;
    char dim[SPC_BREAKDOWN_MAX][32], val[SPC_BREAKDOWN_MAX][32];
    uint32_t cnt[SPC_BREAKDOWN_MAX];
    double mean[SPC_BREAKDOWN_MAX], yield[SPC_BREAKDOWN_MAX];
    unsigned anomalies;
};

static void br_sink(const struct spc_anomaly *a, void *opaque)
{
    struct br_capture *c = opaque;
    unsigned i;

    c->anomalies++;
    c->n = a->ctx.n_br;
    for (i = 0; i < a->ctx.n_br; i++) {
        snprintf(c->dim[i], sizeof(c->dim[i]), "%s", a->ctx.br[i].dim);
        snprintf(c->val[i], sizeof(c->val[i]), "%s", a->ctx.br[i].value);
        c->cnt[i] = a->ctx.br[i].n;
        c->mean[i] = a->ctx.br[i].mean;
        c->yield[i] = a->ctx.br[i].yield;
    }
}

/* Metadata of tuple number j: station, a single fixture, operator X-j. */
static void br_meta(char (*m)[16], unsigned j)
{
    snprintf(m[0], 16, "ST-%u", j % 3);
    snprintf(m[1], 16, "FX-A");
    snprintf(m[2], 16, "X-%u", j);
}

static unsigned br_tuple_of(unsigned i) /* window event i -> tuple number */
{
    return i / 2 + (i % 2) * 256;
}

static double br_value(unsigned i)
{
    return i == BR_W - 1 ? 10.0 : i % 7 == 5 ? NAN : (double)(i % 2);
}

START_TEST(test_engine_anomaly_breakdown)
{
    static const unsigned dim_ix[3] = {SPC_DIM_STATION, SPC_DIM_FIXTURE,
                                       SPC_DIM_OPERATOR};
    static const char *const dim_name[3] = {"station", "fixture", "operator"};
    struct spc_config *cfg = t_config(
        "{\"detectors\":{" ALL_OFF ",\"shewhart\":{\"enabled\":true,\"L\":3},"
        "\"subgroup\":{\"enabled\":false,\"window\":40}}," KNOWN01 "}");
    struct br_capture cap;
    char err[256], meta[BR_W][3][16], other[16][16];
    struct spc_engine *e = spc_engine_new(cfg, err, sizeof(err));
    struct spc_event ev;
    unsigned i, j, d, n = 0;

    ck_assert_ptr_nonnull(e);
    memset(&cap, 0, sizeof(cap));
    spc_engine_set_sink(e, br_sink, &cap);
    for (j = 0; j < 300; j++) { /* tuples 0..299 on another key */
        br_meta(other, j);
        t_event(&ev, "OTHER", 0.0, j);
        for (d = 0; d < 3; d++)
            ev.meta[dim_ix[d]] = other[d];
        ck_assert_int_eq(spc_engine_process(e, &ev, 1), SPC_OK);
    }
    for (i = 0; i < BR_W; i++) {
        br_meta(meta[i], br_tuple_of(i));
        t_event(&ev, "S", br_value(i), i);
        ev.passed = i % 4 != 0;
        for (d = 0; d < 3; d++)
            ev.meta[dim_ix[d]] = meta[i][d];
        ck_assert_int_eq(spc_engine_process(e, &ev, 1), SPC_OK);
    }
    ck_assert_uint_eq(cap.anomalies, 1); /* the spike, last event */
    /* the model over the window the point detector saw: the events before
     * the spike (it is judged before it is pushed).  Fixture has one value
     * (left out); station 3 values, then the operators until 32 entries */
    for (d = 0; d < 3; d++) {
        const char *seen[BR_W];
        unsigned nseen = 0, k;

        for (i = 0; i < BR_W - 1; i++) {
            for (k = 0; k < nseen && strcmp(seen[k], meta[i][d]); k++)
                ;
            if (k == nseen)
                seen[nseen++] = meta[i][d];
        }
        if (nseen < 2)
            continue;
        for (k = 0; k < nseen && n < SPC_BREAKDOWN_MAX; k++, n++) {
            unsigned cnt = 0, nv = 0, np = 0;
            double sum = 0;

            for (i = 0; i < BR_W - 1; i++) {
                if (strcmp(meta[i][d], seen[k]))
                    continue;
                cnt++;
                np += i % 4 != 0;
                if (!isnan(br_value(i))) {
                    sum += br_value(i);
                    nv++;
                }
            }
            ck_assert_str_eq(cap.dim[n], dim_name[d]);
            ck_assert_str_eq(cap.val[n], seen[k]);
            ck_assert_uint_eq(cap.cnt[n], cnt);
            ck_assert_double_eq_tol(cap.yield[n], (double)np / cnt, 1e-12);
            if (nv)
                ck_assert_double_eq_tol(cap.mean[n], sum / nv, 1e-12);
            else
                ck_assert(isnan(cap.mean[n]));
        }
    }
    ck_assert_uint_eq(n, SPC_BREAKDOWN_MAX);
    ck_assert_uint_eq(cap.n, n);
    /* by hand: the window starts with tuple 0 (ST-0, X-0) and tuple 256
     * (ST-1, X-256); X-0 is event 0 alone, which failed */
    ck_assert_str_eq(cap.val[0], "ST-0");
    ck_assert_str_eq(cap.val[1], "ST-1");
    ck_assert_str_eq(cap.val[3], "X-0");
    ck_assert_uint_eq(cap.cnt[3], 1);
    ck_assert_double_eq(cap.yield[3], 0.0); /* event 0 failed */
    spc_engine_destroy(e);
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
    tcase_add_test(t, test_engine_anomaly_breakdown);
    tcase_add_test(t, test_engine_allocation_failure_sweep);
    suite_add_tcase(s, t);
    return s;
}
