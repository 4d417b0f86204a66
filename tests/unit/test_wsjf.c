/*
 * test_wsjf.c -- WSJF flattening (DESIGN section 5) against
 * tests/data/report_full.json, a report built with the real pyWATS models
 * (tests/data/make_report_full.py), and malformed reports.
 */
#include "spc_test.h"

#include "spc_config.h"
#include "spc_wsjf.h"

#include <stdio.h>
#include <stdlib.h>

static json_t *load_report(void)
{
    json_error_t jerr;
    json_t *r = json_load_file(SPC_TEST_DATA "/report_full.json", 0, &jerr);

    ck_assert_msg(r != NULL, "report_full.json: %s", jerr.text);
    return r;
}

struct fixture {
    struct spc_config *cfg;
    struct spc_wsjf_opts o;
    struct spc_batch b;
    json_t *report;
    char err[256];
};

static void fx_init(struct fixture *f)
{
    f->cfg = spc_config_new();
    ck_assert_ptr_nonnull(f->cfg);
    spc_config_wsjf_opts(f->cfg, &f->o);
    spc_batch_init(&f->b);
    f->report = load_report();
    f->err[0] = '\0';
}

/* Flatten a jansson-built report through the byte path the daemon uses. */
static spc_err_t flatten_json(const json_t *r, const struct spc_wsjf_opts *o,
                              struct spc_batch *b, char *err, size_t n)
{
    char *text = json_dumps(r, JSON_COMPACT);
    spc_err_t e;

    ck_assert_ptr_nonnull(text);
    e = spc_wsjf_flatten_buf(text, strlen(text), o, b, err, n);
    free(text);
    return e;
}

static void fx_fini(struct fixture *f)
{
    spc_batch_fini(&f->b);
    json_decref(f->report);
    spc_config_destroy(f->cfg);
}

static const struct spc_event *find(const struct spc_batch *b, const char *step,
                                    const char *meas, int nth)
{
    size_t i;

    for (i = 0; i < b->n; i++)
        if (!strcmp(b->ev[i].test_step, step) &&
            !strcmp(b->ev[i].measurement, meas) && nth-- == 0)
            return &b->ev[i];
    return NULL;
}

/* 2026-11-01T08:30:15.250+01:00 = 07:30:15.250 UTC; the epoch ms value was
 * computed independently with Python's datetime. */
#define T_START 1793518215250LL

START_TEST(test_wsjf_flattens_every_measurement)
{
    struct fixture f;

    fx_init(&f);
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    /* 3 Power numerics + 3 rails + PowerGood + 4 oscillator (Spare has
     * status S) + 3 loop iterations + sub-unit Temp + <UUT> = 16 */
    ck_assert_uint_eq(f.b.n, 16);
    ck_assert_uint_eq(f.b.n_invalid, 2);      /* "NaN" and "Infinity" */
    ck_assert_uint_eq(f.b.n_loop_summary, 1); /* index null */
    ck_assert_uint_eq(f.b.n_skipped, 1);      /* status S */
    ck_assert_int_eq(f.b.repair, 0);
    fx_fini(&f);
}
END_TEST

START_TEST(test_wsjf_header_fields_on_every_event)
{
    struct fixture f;
    size_t i;

    fx_init(&f);
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    for (i = 0; i < f.b.n; i++) {
        const struct spc_event *e = &f.b.ev[i];

        ck_assert_str_eq(e->test_plan, "PCBA-100/10");
        ck_assert_str_eq(e->uut_id, "SN000123");
        ck_assert_str_eq(e->report_id, "0b7e4c52-6f0e-4f3a-9d7e-2a1c5e8f9b01");
        ck_assert(e->ts_ms == T_START);
        ck_assert_str_eq(e->meta[SPC_DIM_STATION], "ST-02");
        ck_assert_str_eq(e->meta[SPC_DIM_FIXTURE], "FX-2B");
        ck_assert_str_eq(e->meta[SPC_DIM_OPERATOR], "alice");
        ck_assert_str_eq(e->meta[SPC_DIM_SOCKET], "1");
        ck_assert_str_eq(e->meta[SPC_DIM_HW_REV], "B");
        ck_assert_str_eq(e->meta[SPC_DIM_SW_FILE], "PCBA-100_final.seq");
        ck_assert_str_eq(e->meta[SPC_DIM_SW_VERSION], "2.4.1");
        ck_assert_str_eq(e->meta[SPC_DIM_FW], "3.5.0");
    }
    fx_fini(&f);
}
END_TEST

/* One numeric event: every field. */
static void check_num(const struct spc_event *e, double v, const char *unit,
                      const char *op, int has_lo, double lo, int has_hi,
                      double hi, char status, int passed)
{
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->kind, SPC_KIND_NUMERIC);
    ck_assert_int_eq(e->value_valid, 1);
    ck_assert(e->value == v);
    ck_assert_str_eq(e->unit, unit);
    ck_assert_str_eq(e->comp_op, op);
    ck_assert_int_eq(e->has_low, has_lo);
    if (has_lo)
        ck_assert(e->low_limit == lo);
    ck_assert_int_eq(e->has_high, has_hi);
    if (has_hi)
        ck_assert(e->high_limit == hi);
    ck_assert_int_eq(e->status, status);
    ck_assert_int_eq(e->passed, passed);
}

START_TEST(test_wsjf_numeric_fields_and_paths)
{
    struct fixture f;

    fx_init(&f);
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    check_num(find(&f.b, "Power/VCC 3V3", "VCC 3V3", 0), 3.301, "V", "GELE", 1,
              3.2, 1, 3.4, 'P', 1);
    check_num(find(&f.b, "Power/Ripple", "Ripple", 0), 12.5, "mV", "LE", 1, 50,
              0, 0, 'P', 1);
    check_num(find(&f.b, "Power/Leakage", "Leakage", 0), 1.7, "uA", "LT", 1,
              1.0, 0, 0, 'F', 0);
    check_num(find(&f.b, "Power/Rails", "5V", 0), 5.01, "V", "GELE", 1, 4.9, 1,
              5.1, 'P', 1);
    check_num(find(&f.b, "Power/Rails", "12V", 0), 12.02, "V", "GE", 1, 11.5, 0,
              0, 'P', 1);
    check_num(find(&f.b, "Clock/Oscillator/Frequency", "Frequency", 0),
              24.000012, "MHz", "GELE", 1, 23.9999, 1, 24.0001, 'P', 1);
    check_num(find(&f.b, "Clock/Oscillator/Startup", "Startup", 0), 1.25, "ms",
              "LOG", 0, 0, 0, 0, 'P', 1);
    check_num(find(&f.b, "Clock/Oscillator/Divider", "Divider", 0), 4, "NA",
              "EQ", 1, 4, 0, 0, 'P', 1);
    check_num(find(&f.b, "SubUnit[Module]/Selftest/Temp", "Temp", 0), 41.5,
              "degC", "GELT", 1, 10, 1, 70, 'P', 1);
    /* the skipped step is not emitted */
    ck_assert_ptr_null(find(&f.b, "Clock/Oscillator/Spare", "Spare", 0));
    fx_fini(&f);
}
END_TEST

START_TEST(test_wsjf_string_values_are_invalid_not_errors)
{
    struct fixture f;
    const struct spc_event *e;

    fx_init(&f);
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    e = find(&f.b, "Power/Rails", "1V8", 0);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->kind, SPC_KIND_NUMERIC);
    ck_assert_int_eq(e->value_valid, 0);
    ck_assert(isnan(e->value));
    ck_assert_int_eq(e->status, 'F');
    ck_assert_int_eq(e->passed, 0);
    ck_assert_str_eq(e->comp_op, "GELT");
    e = find(&f.b, "Clock/Oscillator/Jitter", "Jitter", 0);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->value_valid, 0);
    ck_assert_int_eq(e->status, 'E');
    ck_assert_int_eq(e->passed, 0); /* error is not a pass */
    fx_fini(&f);
}
END_TEST

START_TEST(test_wsjf_loop_iterations_share_one_key)
{
    struct fixture f;
    const double v[3] = {0.101, 0.099, 0.103};
    int i;

    fx_init(&f);
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    for (i = 0; i < 3; i++)
        check_num(find(&f.b, "Current", "Current", i), v[i], "A", "GELE", 1,
                  0.05, 1, 0.15, 'P', 1);
    /* the summary entry (same name, loop index null) is not a 4th sample */
    ck_assert_ptr_null(find(&f.b, "Current", "Current", 3));
    fx_fini(&f);
}
END_TEST

START_TEST(test_wsjf_boolean_and_uut_are_attributes)
{
    struct fixture f;
    const struct spc_event *e;

    fx_init(&f);
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    e = find(&f.b, "Power/PowerGood", "PowerGood", 0);
    ck_assert_ptr_nonnull(e);
    ck_assert_int_eq(e->kind, SPC_KIND_ATTRIBUTE);
    ck_assert_int_eq(e->passed, 1);
    e = &f.b.ev[f.b.n - 1]; /* the unit result comes last */
    ck_assert_str_eq(e->test_step, SPC_UUT_STEP);
    ck_assert_str_eq(e->measurement, SPC_UUT_MEAS);
    ck_assert_int_eq(e->kind, SPC_KIND_ATTRIBUTE);
    ck_assert_int_eq(e->status, 'F');
    ck_assert_int_eq(e->passed, 0);
    fx_fini(&f);
}
END_TEST

/* LE/LT keep the single upper limit in lowLimit (DESIGN section 5). */
START_TEST(test_wsjf_le_lt_limits_are_upper_spec)
{
    struct fixture f;
    struct spc_spec sp;

    fx_init(&f);
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    spc_event_spec(find(&f.b, "Power/Ripple", "Ripple", 0), &sp);
    ck_assert(!sp.has_lsl && sp.has_usl && sp.usl == 50);
    spc_event_spec(find(&f.b, "Power/Leakage", "Leakage", 0), &sp);
    ck_assert(!sp.has_lsl && sp.has_usl && sp.usl == 1.0);
    spc_event_spec(find(&f.b, "Power/VCC 3V3", "VCC 3V3", 0), &sp);
    ck_assert(sp.has_lsl && sp.lsl == 3.2 && sp.has_usl && sp.usl == 3.4);
    spc_event_spec(find(&f.b, "Clock/Oscillator/Divider", "Divider", 0), &sp);
    ck_assert(!sp.has_lsl && !sp.has_usl && sp.has_target && sp.target == 4);
    fx_fini(&f);
}
END_TEST

START_TEST(test_wsjf_repair_report_is_skipped)
{
    struct fixture f;

    fx_init(&f);
    json_object_set_new(f.report, "type", json_string("R"));
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    ck_assert_int_eq(f.b.repair, 1);
    ck_assert_uint_eq(f.b.n, 0);
    fx_fini(&f);
}
END_TEST

START_TEST(test_wsjf_plan_template_and_misc_mapping)
{
    struct spc_config *cfg = t_config(
        "{\"test_plan_format\":\"{pn}-{rev}@{processCode}\","
        "\"metadata\":{\"misc_infos\":{\"BootloaderVersion\":\"boot\"}}}");
    struct spc_wsjf_opts o;
    struct spc_batch b;
    json_t *r = load_report();
    char err[256];
    int boot = spc_dims_find(&cfg->dims, "boot");

    spc_config_wsjf_opts(cfg, &o);
    spc_batch_init(&b);
    ck_assert_int_ge(boot, SPC_DIM__BUILTIN);
    ck_assert_int_eq(flatten_json(r, &o, &b, err, sizeof(err)), SPC_OK);
    ck_assert_str_eq(b.ev[0].test_plan, "PCBA-100-B@10");
    ck_assert_str_eq(b.ev[0].meta[boot], "1.1");
    /* the default FirmwareVersion mapping was replaced by the config's */
    ck_assert_ptr_null(b.ev[0].meta[SPC_DIM_FW]);
    spc_batch_fini(&b);
    json_decref(r);
    spc_config_destroy(cfg);
}
END_TEST

START_TEST(test_wsjf_duplicate_sibling_names_are_numbered)
{
    struct fixture f;
    json_t *steps, *copy;
    const struct spc_event *e;

    fx_init(&f);
    /* a second, non-loop "Power" sequence becomes "Power#2" */
    steps = json_object_get(json_object_get(f.report, "root"), "steps");
    copy = json_deep_copy(json_array_get(steps, 0));
    json_array_append_new(steps, copy);
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    e = find(&f.b, "Power#2/VCC 3V3", "VCC 3V3", 0);
    ck_assert_ptr_nonnull(e);
    ck_assert(e->value == 3.301);
    ck_assert_ptr_nonnull(find(&f.b, "Power/VCC 3V3", "VCC 3V3", 0));
    fx_fini(&f);
}
END_TEST

/* Malformed: the whole report is rejected with the JSON path. */
static void expect_error(const char *mutation_path, json_t *value,
                         const char *expect_in_err)
{
    struct fixture f;
    json_t *node;
    char key[64];
    const char *p = mutation_path, *dot;

    fx_init(&f);
    node = f.report;
    /* walk "a.b.c" where a segment "steps[2]" indexes an array */
    while ((dot = strchr(p, '.')) != NULL) {
        size_t n = (size_t)(dot - p);
        char *br;

        snprintf(key, sizeof(key), "%.*s", (int)n, p);
        br = strchr(key, '[');
        if (br) {
            *br = '\0';
            node = json_array_get(json_object_get(node, key), atoi(br + 1));
        } else {
            node = json_object_get(node, key);
        }
        ck_assert_ptr_nonnull(node);
        p = dot + 1;
    }
    if (value)
        json_object_set_new(node, p, value);
    else
        json_object_del(node, p);
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_ERR_INVALID);
    ck_assert_msg(strstr(f.err, expect_in_err) != NULL,
                  "error \"%s\" does not contain \"%s\"", f.err, expect_in_err);
    ck_assert_uint_eq(f.b.n, 0); /* all or nothing */
    fx_fini(&f);
}

START_TEST(test_wsjf_malformed_reports_name_the_path)
{
    expect_error("pn", NULL, "pn: missing");
    expect_error("sn", json_integer(5), "sn: expected a string");
    expect_error("start", json_string("2026-11-01 08:00:00"),
                 "start: not an RFC 3339 time");
    expect_error("processCode", json_true(), "processCode: expected");
    expect_error("root", NULL, "root: missing");
    expect_error("root.steps[0].steps[0].numericMeas", json_string("x"),
                 "root.steps[0].steps[0].numericMeas: expected an array");
    expect_error("root.steps[0].steps[3].numericMeas[1].value", json_true(),
                 "root.steps[0].steps[3].numericMeas[1].value: expected a "
                 "number or a string");
    expect_error("root.steps[0].steps[0].numericMeas[0].lowLimit",
                 json_object(), "lowLimit: expected a number");
    expect_error("root.steps[1].status", json_string("X"),
                 "root.steps[1].status: expected a status letter");
    expect_error("uut.testSocketIndex", json_real(1.5),
                 "uut.testSocketIndex: expected an integer");
    expect_error("type", json_string("Q"), "type: expected");
    expect_error("root.steps[0].name", NULL, "root.steps[0].name: missing");
}
END_TEST

START_TEST(test_wsjf_deep_nesting_is_rejected)
{
    struct fixture f;
    json_t *seq;
    int i;

    fx_init(&f);
    seq = json_object_get(f.report, "root");
    for (i = 0; i < 70; i++) {
        json_t *child = json_pack("{s:s, s:[]}", "name", "S", "steps");

        json_array_append_new(json_object_get(seq, "steps"), child);
        seq = child;
    }
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(f.err, "deeper than 64"));
    fx_fini(&f);
}
END_TEST

START_TEST(test_wsjf_invalid_json_bytes)
{
    struct fixture f;
    static const char bad[] = "{\"pn\": \"A\", \"sn\": ";

    fx_init(&f);
    ck_assert_int_eq(spc_wsjf_flatten_buf(bad, sizeof(bad) - 1, &f.o, &f.b,
                                          f.err, sizeof(f.err)),
                     SPC_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(f.err, "offset 18: unexpected end"));
    ck_assert_int_eq(
        spc_wsjf_flatten_buf("[]", 2, &f.o, &f.b, f.err, sizeof(f.err)),
        SPC_ERR_INVALID);
    ck_assert_int_eq(
        spc_wsjf_flatten_buf("", 0, &f.o, &f.b, f.err, sizeof(f.err)),
        SPC_ERR_PARSE);
    fx_fini(&f);
}
END_TEST

/* Every allocation in the flattener may fail: the result is NOMEM (never a
 * crash or a partial batch) and the next attempt succeeds. */
START_TEST(test_wsjf_allocation_failure_sweep)
{
    struct fixture f;
    unsigned long n, total;

    fx_init(&f);
    spc_alloc_fail_after(0);
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    spc_batch_fini(&f.b);
    spc_batch_init(&f.b);
    spc_alloc_fail_after(1000000);
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    total = spc_alloc_fail_after(0);
    ck_assert_uint_gt(total, 0);
    for (n = 1; n <= total; n++) {
        spc_err_t err;

        spc_batch_fini(&f.b);
        spc_batch_init(&f.b);
        spc_alloc_fail_after(n);
        err = flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err));
        spc_alloc_fail_after(0);
        ck_assert_msg(err == SPC_ERR_NOMEM, "allocation %lu: %s", n,
                      spc_err2str(err));
        ck_assert_uint_eq(f.b.n, 0);
    }
    ck_assert_int_eq(flatten_json(f.report, &f.o, &f.b, f.err, sizeof(f.err)),
                     SPC_OK);
    ck_assert_uint_eq(f.b.n, 16);
    fx_fini(&f);
}
END_TEST

Suite *wsjf_suite(void)
{
    Suite *s = suite_create("wsjf");
    TCase *t = tcase_create("flatten");

    tcase_add_test(t, test_wsjf_flattens_every_measurement);
    tcase_add_test(t, test_wsjf_header_fields_on_every_event);
    tcase_add_test(t, test_wsjf_numeric_fields_and_paths);
    tcase_add_test(t, test_wsjf_string_values_are_invalid_not_errors);
    tcase_add_test(t, test_wsjf_loop_iterations_share_one_key);
    tcase_add_test(t, test_wsjf_boolean_and_uut_are_attributes);
    tcase_add_test(t, test_wsjf_le_lt_limits_are_upper_spec);
    tcase_add_test(t, test_wsjf_repair_report_is_skipped);
    tcase_add_test(t, test_wsjf_plan_template_and_misc_mapping);
    tcase_add_test(t, test_wsjf_duplicate_sibling_names_are_numbered);
    suite_add_tcase(s, t);
    t = tcase_create("malformed");
    tcase_add_test(t, test_wsjf_malformed_reports_name_the_path);
    tcase_add_test(t, test_wsjf_deep_nesting_is_rejected);
    tcase_add_test(t, test_wsjf_invalid_json_bytes);
    tcase_add_test(t, test_wsjf_allocation_failure_sweep);
    suite_add_tcase(s, t);
    return s;
}
