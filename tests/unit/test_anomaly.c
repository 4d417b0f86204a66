/*
 * test_anomaly.c -- anomaly ids, severity, JSON contract and round trip.
 */
#include "spc_test.h"

#include "spc_anomaly.h"

static void make(struct spc_anomaly *a, struct spc_dims *dims)
{
    memset(a, 0, sizeof(*a));
    a->detector = SPC_DET_CUSUM;
    a->test_plan = "PCBA-100/10";
    a->test_step = "Power/VCC 3V3";
    a->measurement = "VCC 3V3";
    a->uut_id = "SN1";
    a->report_id = "R1";
    a->unit = "V";
    a->ts_ms = 1793518215250LL;
    a->value = 3.35;
    a->score = 10.5;
    a->threshold = 10;
    a->direction = SPC_DIR_UP;
    a->severity = SPC_SEV_WARNING;
    a->seq = 412;
    a->passed = 1;
    a->dims = dims;
    a->meta[SPC_DIM_STATION] = "ST-02";
    a->meta[SPC_DIM_FIXTURE] = "FX-2B";
    snprintf(a->message, sizeof(a->message), "msg \"quoted\"");
    spc_anomaly_evidence(a, "cusum", 10.5);
    spc_anomaly_evidence(a, "shift_sigma", 1.5);
    spc_anomaly_make_id(a);
}

START_TEST(test_anomaly_id_is_deterministic_and_distinct)
{
    struct spc_dims dims;
    struct spc_anomaly a, b;
    char id[33];

    ck_assert_int_eq(spc_dims_init(&dims), SPC_OK);
    make(&a, &dims);
    make(&b, &dims);
    ck_assert_str_eq(a.id, b.id);
    ck_assert_uint_eq(strlen(a.id), 32);
    ck_assert_uint_eq(strspn(a.id, "0123456789abcdef"), 32);
    memcpy(id, a.id, 33);
    /* value, message, timestamps do not identify an anomaly ... */
    b.value = 99;
    b.ts_ms++;
    spc_anomaly_make_id(&b);
    ck_assert_str_eq(b.id, id);
    /* ... detector, seq, rule, check, key and subgroup do */
    b.seq++;
    spc_anomaly_make_id(&b);
    ck_assert_str_ne(b.id, id);
    make(&b, &dims);
    b.sg_dim = "fixture";
    b.sg_value = "FX-2B";
    spc_anomaly_make_id(&b);
    ck_assert_str_ne(b.id, id);
    make(&b, &dims);
    b.test_step = "Power/VCC 3V";
    b.measurement = "3VCC 3V3"; /* same concatenation, other split */
    spc_anomaly_make_id(&b);
    ck_assert_str_ne(b.id, id);
    spc_dims_fini(&dims);
}
END_TEST

START_TEST(test_anomaly_json_contract)
{
    struct spc_dims dims;
    struct spc_anomaly a;
    struct spc_buf b;
    json_t *o;

    ck_assert_int_eq(spc_dims_init(&dims), SPC_OK);
    make(&a, &dims);
    spc_buf_init(&b);
    spc_anomaly_to_json(&a, &b);
    o = json_loads(b.data, 0, NULL);
    ck_assert_ptr_nonnull(o);
    /* every contract field of DESIGN section 4 */
    ck_assert_str_eq(json_string_value(json_object_get(o, "anomaly_id")), a.id);
    ck_assert_str_eq(json_string_value(json_object_get(o, "detector")),
                     "cusum");
    ck_assert(json_is_null(json_object_get(o, "rule")));
    ck_assert_str_eq(json_string_value(json_object_get(o, "severity")),
                     "warning");
    ck_assert_str_eq(json_string_value(json_object_get(o, "test_plan")),
                     "PCBA-100/10");
    ck_assert_str_eq(json_string_value(json_object_get(o, "test_step")),
                     "Power/VCC 3V3");
    ck_assert_str_eq(json_string_value(json_object_get(o, "measurement")),
                     "VCC 3V3");
    ck_assert_str_eq(json_string_value(json_object_get(o, "uut_id")), "SN1");
    ck_assert_str_eq(json_string_value(json_object_get(o, "report_id")), "R1");
    ck_assert_str_eq(json_string_value(json_object_get(o, "timestamp")),
                     "2026-11-01T07:30:15.250Z");
    ck_assert(json_real_value(json_object_get(o, "value")) == 3.35);
    ck_assert(json_number_value(json_object_get(o, "score")) == 10.5);
    ck_assert(json_number_value(json_object_get(o, "threshold")) == 10);
    ck_assert_str_eq(json_string_value(json_object_get(o, "direction")), "up");
    ck_assert_int_eq(json_integer_value(json_object_get(o, "seq")), 412);
    ck_assert(json_is_null(json_object_get(o, "subgroup")));
    ck_assert_str_eq(json_string_value(json_object_get(o, "message")),
                     "msg \"quoted\"");
    ck_assert(json_number_value(json_object_get(json_object_get(o, "evidence"),
                                                "shift_sigma")) == 1.5);
    ck_assert_str_eq(json_string_value(json_object_get(
                         json_object_get(o, "meta"), "fixture")),
                     "FX-2B");
    /* fields in contract order: the id first, detector second */
    ck_assert_int_eq(strncmp(b.data, "{\"anomaly_id\":", 14), 0);
    ck_assert_ptr_nonnull(strstr(b.data, "\",\"detector\":\"cusum\",\"rule\""));
    json_decref(o);
    spc_buf_fini(&b);
    spc_dims_fini(&dims);
}
END_TEST

START_TEST(test_anomaly_json_round_trip)
{
    struct spc_dims dims;
    struct spc_anomaly a, back;
    struct spc_buf b1, b2;
    json_t *o;
    char err[128];

    ck_assert_int_eq(spc_dims_init(&dims), SPC_OK);
    make(&a, &dims);
    a.sg_dim = "fw";
    a.sg_value = "3.5.0";
    a.rule = 0;
    a.ctx.window_n = 200;
    a.ctx.recent_mean = 3.31;
    a.ctx.recent_sd = 0.01;
    a.ctx.recent_yield = 0.97;
    a.ctx.baseline_mean = 3.3;
    a.ctx.baseline_sigma = 0.01;
    a.ctx.baseline_yield = NAN;
    a.ctx.n_br = 1;
    a.ctx.br[0].dim = "station";
    a.ctx.br[0].value = "ST-02";
    a.ctx.br[0].n = 50;
    a.ctx.br[0].mean = 3.32;
    a.ctx.br[0].yield = 0.9;
    spc_buf_init(&b1);
    spc_buf_init(&b2);
    spc_anomaly_to_json(&a, &b1);
    o = json_loads(b1.data, 0, NULL);
    ck_assert_int_eq(spc_anomaly_from_json(o, &dims, &back, err, sizeof(err)),
                     SPC_OK);
    spc_anomaly_to_json(&back, &b2);
    ck_assert_str_eq(b1.data, b2.data);
    json_decref(o);
    o = json_loads("{\"detector\":\"cusum\"}", 0, NULL);
    ck_assert_int_eq(spc_anomaly_from_json(o, &dims, &back, err, sizeof(err)),
                     SPC_ERR_INVALID);
    json_decref(o);
    spc_buf_fini(&b1);
    spc_buf_fini(&b2);
    spc_dims_fini(&dims);
}
END_TEST

START_TEST(test_anomaly_severity_rules)
{
    struct spc_spec sp = {9.5, 10.5, 0, 1, 1, 0};

    /* outside the spec: critical whatever the score */
    ck_assert_int_eq(spc_severity_of(1, 10, 10.6, &sp), SPC_SEV_CRITICAL);
    /* within 10 % of the spec range (0.1) of a limit: warning */
    ck_assert_int_eq(spc_severity_of(1, 10, 10.45, &sp), SPC_SEV_WARNING);
    /* score twice the threshold: critical */
    ck_assert_int_eq(spc_severity_of(20, 10, 10.0, &sp), SPC_SEV_CRITICAL);
    ck_assert_int_eq(spc_severity_of(13, 10, 10.0, &sp), SPC_SEV_WARNING);
    ck_assert_int_eq(spc_severity_of(11, 10, 10.0, &sp), SPC_SEV_INFO);
    ck_assert_int_eq(spc_severity_of(11, 10, NAN, NULL), SPC_SEV_INFO);
}
END_TEST

Suite *anomaly_suite(void)
{
    Suite *s = suite_create("anomaly");
    TCase *t = tcase_create("anomaly");

    tcase_add_test(t, test_anomaly_id_is_deterministic_and_distinct);
    tcase_add_test(t, test_anomaly_json_contract);
    tcase_add_test(t, test_anomaly_json_round_trip);
    tcase_add_test(t, test_anomaly_severity_rules);
    suite_add_tcase(s, t);
    return s;
}
