/*
 * test_det_subgroup.c -- station / fixture / firmware comparisons with fixed
 * seeds: the right subgroup is named, in time, once; in-control data with
 * many subgroups stays quiet (Bonferroni).
 */
#include "spc_rig.h"

static const char *const st[4] = {"ST-1", "ST-2", "ST-3", "ST-4"};
static const char *const fx[8] = {"F1a", "F1b", "F2a", "F2b",
                                  "F3a", "F3b", "F4a", "F4b"};
static const char *const fw[2] = {"3.4.1", "3.5.0"};
static char ops[60][8];

enum fault {
    NONE,
    FIXTURE,
    FW_YIELD,
    STUCK_STATION,
    NOISY_FIXTURE,
    CONTACT_FIXTURE,
    CONTACT_WEAK,
    STATION_SHIFT
};

/* Unit u: station u % 4, fixture alternating per station, fw by u % 3;
 * from unit 400 the fault; returns the number of alarms so far. */
static void stream(struct rig *r, enum fault f, long units, int many_ops)
{
    struct t_rng g;
    struct spc_event ev;
    long u;

    t_rng_seed(&g, 4242);
    for (u = 0; u < units; u++) {
        int s = (int)(u % 4), x = s * 2 + (int)(u / 4) % 2;
        const char *w = fw[u % 3 == 0];
        double v = t_norm(&g);
        int pass = 1;

        if (u >= 400) {
            if (f == FIXTURE && x == 3)
                v += 2.0;
            if (f == FW_YIELD && u % 3 == 0)
                pass = t_unif(&g) > 0.3;
            if (f == STUCK_STATION && s == 2)
                v = 0.4321;
            if (f == NOISY_FIXTURE && x == 5)
                v *= 3.0;
            if (f == CONTACT_FIXTURE && x == 3) /* shifted and noisier */
                v = 2.5 + 2.0 * v;
            if (f == CONTACT_WEAK && x == 3)
                v = 1.5 + 2.0 * v;
            if (f == STATION_SHIFT && s == 1)
                v += 2.0;
        }
        t_event(&ev, "S", v, u);
        ev.passed = (uint8_t)pass;
        ev.meta[SPC_DIM_STATION] = st[s];
        ev.meta[SPC_DIM_FIXTURE] = fx[x];
        ev.meta[SPC_DIM_FW] = w;
        ev.meta[SPC_DIM_OPERATOR] = many_ops ? ops[u % 60] : "op";
        if (f == STATION_SHIFT) /* ann and cid work ST-2 in shifts */
            ev.meta[SPC_DIM_OPERATOR] = s != 1         ? "bob"
                                        : (u / 40) % 2 ? "cid"
                                                       : "ann";
        ck_assert_int_eq(spc_engine_process(r->e, &ev, 1), SPC_OK);
    }
}

static const struct t_anom *first_after(const struct t_sink *s, uint64_t seq)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (s->a[i].seq > seq)
            return &s->a[i];
    return NULL;
}

START_TEST(test_det_subgroup_names_the_fixture)
{
    struct rig r;
    const struct t_anom *a;

    rig_init(&r, "\"subgroup\":{\"enabled\":true}", 1);
    stream(&r, FIXTURE, 1200, 0);
    ck_assert_uint_gt(r.s->n, 0);
    ck_assert_uint_gt(r.s->a[0].seq, 400); /* nothing before the onset */
    a = first_after(r.s, 400);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->check, "mean");
    ck_assert_str_eq(a->sg_dim, "fixture");
    ck_assert_str_eq(a->sg_value, "F2b");
    ck_assert_int_eq(a->dir, SPC_DIR_UP);
    /* F2b is one unit in eight: within a few tens of its units */
    ck_assert_uint_le(a->seq - 400, 8 * 30);
    ck_assert_ptr_nonnull(strstr(a->message, "Only fixture F2b"));
    ck_assert_ptr_nonnull(strstr(a->message, "higher"));
    rig_fini(&r);
}
END_TEST

START_TEST(test_det_subgroup_names_the_firmware_yield)
{
    struct rig r;
    const struct t_anom *a;
    size_t i;

    rig_init(&r, "\"subgroup\":{\"enabled\":true}", 1);
    stream(&r, FW_YIELD, 1200, 0);
    a = first_after(r.s, 400);
    ck_assert_ptr_nonnull(a);
    for (i = 0; i < r.s->n; i++) /* no yield alarm on a wrong subgroup */
        if (!strcmp(r.s->a[i].check, "yield"))
            ck_assert_str_eq(r.s->a[i].sg_value, "3.5.0");
    ck_assert_str_eq(a->check, "yield");
    ck_assert_str_eq(a->sg_dim, "fw");
    ck_assert_str_eq(a->sg_value, "3.5.0");
    ck_assert_ptr_nonnull(strstr(a->message, "Only firmware 3.5.0"));
    rig_fini(&r);
}
END_TEST

START_TEST(test_det_subgroup_stuck_station)
{
    struct rig r;
    const struct t_anom *a;

    size_t i, station = 0;

    rig_init(&r, "\"subgroup\":{\"enabled\":true}", 1);
    stream(&r, STUCK_STATION, 1000, 0);
    /* the first report may name one of ST-3's fixtures (its window can be
     * all-stuck a few units before the station's); every report is about
     * ST-3 or its fixtures, and the station itself is named */
    a = first_after(r.s, 400);
    ck_assert_ptr_nonnull(a);
    for (i = 0; i < r.s->n; i++) {
        a = &r.s->a[i];
        ck_assert_uint_gt(a->seq, 400);
        ck_assert_str_eq(a->check, "variance");
        ck_assert_int_eq(a->dir, SPC_DIR_DOWN);
        ck_assert_ptr_nonnull(strstr(a->message, "looks stuck"));
        ck_assert_msg(!strcmp(a->sg_value, "ST-3") ||
                          !strcmp(a->sg_value, "F3a") ||
                          !strcmp(a->sg_value, "F3b"),
                      "stuck reported on %s", a->sg_value);
        station += !strcmp(a->sg_value, "ST-3");
    }
    ck_assert_uint_eq(station, 1);
    rig_fini(&r);
}
END_TEST

START_TEST(test_det_subgroup_noisy_fixture)
{
    struct rig r;
    const struct t_anom *a;

    rig_init(&r, "\"subgroup\":{\"enabled\":true}", 1);
    stream(&r, NOISY_FIXTURE, 1200, 0);
    a = first_after(r.s, 400);
    ck_assert_ptr_nonnull(a);
    ck_assert_str_eq(a->check, "variance");
    ck_assert_str_eq(a->sg_value, "F3b");
    ck_assert_int_eq(a->dir, SPC_DIR_UP);
    rig_fini(&r);
}
END_TEST

/* A fixture contact problem (F2b: +2.5 sigma, spread x2) also moves its
 * station ST-2 (half of its units are F2b's), and the station, with twice
 * the units, can pass its spread test first (seq 682 here, before this
 * check): the comparison within the station (F2b against F2a) names the
 * fixture, and events of the healthy F2a do not report the station. */
/* Anomalies naming @p value (or, with @p dim, any value of that dimension). */
static size_t count_named(const struct t_sink *s, const char *dim,
                          const char *value)
{
    size_t i, n = 0;

    for (i = 0; i < s->n; i++)
        n += dim ? !strcmp(s->a[i].sg_dim, dim)
                 : !strcmp(s->a[i].sg_value, value);
    return n;
}

START_TEST(test_det_subgroup_fixture_not_its_station)
{
    struct rig r;

    rig_init(&r, "\"subgroup\":{\"enabled\":true}", 1);
    stream(&r, CONTACT_FIXTURE, 3000, 0);
    ck_assert_uint_gt(r.s->n, 0);
    ck_assert_uint_gt(r.s->a[0].seq, 400); /* anomalies come in seq order */
    ck_assert_str_eq(r.s->a[0].sg_value, "F2b");
    ck_assert_uint_gt(count_named(r.s, NULL, "F2b"), 0);
    ck_assert_uint_eq(count_named(r.s, NULL, "ST-2"), 0);
    rig_fini(&r);
}
END_TEST

/* seq of the first subgroup anomaly naming @p value, 0 if none. */
static uint64_t first_naming(const struct t_sink *s, const char *value)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (s->a[i].det == SPC_DET_SUBGROUP && !strcmp(s->a[i].sg_value, value))
            return s->a[i].seq;
    return 0;
}

/* Detection, then diagnosis: with CUSUM on, the F2b contact problem
 * (+1.5 sigma, spread x2) starts a CUSUM condition; while it is active and
 * nothing is named, the subgroup tests run at alpha_diagnosis (1e-3), so
 * F2b is named sooner than at the detection level alone (alpha_diagnosis
 * set to alpha, 1e-6), and as F2b. */
START_TEST(test_det_subgroup_diagnosis_level)
{
    struct rig r;
    uint64_t diag, strict;

    rig_init(&r, "\"cusum\":{\"enabled\":true},\"subgroup\":{\"enabled\":true}",
             1);
    stream(&r, CONTACT_WEAK, 3000, 0);
    diag = first_naming(r.s, "F2b");
    rig_fini(&r);
    rig_init(&r,
             "\"cusum\":{\"enabled\":true},\"subgroup\":{\"enabled\":true,"
             "\"alpha_diagnosis\":1e-6}",
             1);
    stream(&r, CONTACT_WEAK, 3000, 0);
    strict = first_naming(r.s, "F2b");
    rig_fini(&r);
    ck_assert_uint_gt(diag, 400);
    ck_assert_uint_gt(strict, 400);
    ck_assert_msg(diag < strict, "named at %llu with diagnosis, %llu without",
                  (unsigned long long)diag, (unsigned long long)strict);
}
END_TEST

/* ST-2 reads 2 sigma high; its operators ann and cid work its shifts and
 * nowhere else, so "only operator ann" is true too -- and says the same
 * thing again.  The station is named; the operators' differences are
 * explained by the named station and latched without a report. */
START_TEST(test_det_subgroup_overlap_not_named_twice)
{
    struct rig r;

    rig_init(&r, "\"subgroup\":{\"enabled\":true}", 1);
    stream(&r, STATION_SHIFT, 2000, 0);
    ck_assert_uint_gt(count_named(r.s, NULL, "ST-2"), 0);
    ck_assert_uint_eq(count_named(r.s, "operator", NULL), 0);
    rig_fini(&r);
}
END_TEST

/* 60 operators, 8 fixtures, 4 stations, 2 firmware versions, in control:
 * about 74 subgroups are tested on every event; with the Bonferroni factor
 * the family stays quiet over 20 000 units. */
START_TEST(test_det_subgroup_quiet_in_control)
{
    struct rig r;
    int i;

    for (i = 0; i < 60; i++)
        snprintf(ops[i], sizeof(ops[i]), "op%02d", i);
    rig_init(&r, "\"subgroup\":{\"enabled\":true}", 1);
    stream(&r, NONE, 20000, 1);
    ck_assert_uint_eq(r.s->n, 0);
    rig_fini(&r);
}
END_TEST

Suite *det_subgroup_suite(void)
{
    Suite *s = suite_create("det_subgroup");
    TCase *t = tcase_create("subgroup");

    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_det_subgroup_names_the_fixture);
    tcase_add_test(t, test_det_subgroup_names_the_firmware_yield);
    tcase_add_test(t, test_det_subgroup_stuck_station);
    tcase_add_test(t, test_det_subgroup_noisy_fixture);
    tcase_add_test(t, test_det_subgroup_fixture_not_its_station);
    tcase_add_test(t, test_det_subgroup_diagnosis_level);
    tcase_add_test(t, test_det_subgroup_overlap_not_named_twice);
    tcase_add_test(t, test_det_subgroup_quiet_in_control);
    suite_add_tcase(s, t);
    return s;
}
