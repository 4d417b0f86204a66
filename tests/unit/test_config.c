/*
 * test_config.c -- configuration: defaults, path-naming errors, glob match,
 * per-step rules (later ones win), known baselines, the alarm budget.
 */
#include "spc_test.h"

#include "spc_arl.h"
#include "spc_config.h"
#include "spc_stats.h"

static struct spc_config *parse(const char *text, char *err, size_t n)
{
    json_error_t jerr;
    json_t *root = json_loads(text, 0, &jerr);
    struct spc_config *cfg;

    ck_assert_msg(root != NULL, "bad JSON in test: %s", jerr.text);
    cfg = spc_config_parse(root, NULL, err, n);
    json_decref(root);
    return cfg;
}

static void expect_error(const char *text, const char *expect)
{
    char err[512] = "";
    struct spc_config *cfg = parse(text, err, sizeof(err));

    ck_assert_msg(cfg == NULL, "accepted: %s", text);
    ck_assert_msg(strstr(err, expect) != NULL, "error \"%s\" lacks \"%s\"", err,
                  expect);
}

START_TEST(test_config_defaults)
{
    struct spc_config *cfg = spc_config_new();
    const struct spc_params *p = &cfg->defaults;
    int d;

    ck_assert_uint_eq(cfg->buffer_size, 256);
    ck_assert_str_eq(cfg->plan_format, "{pn}/{processCode}");
    for (d = 0; d < SPC_DET__COUNT; d++)
        ck_assert_int_eq(p->enabled[d], d != SPC_DET_RUNS);
    CK_DBL_NEAR(p->shewhart_L, 4.5, 0);
    CK_DBL_NEAR(p->rz_threshold, 4.5, 0); /* DESIGN / issue default */
    ck_assert_uint_eq(p->runs_rules,
                      (1u << 1) | (1u << 2) | (1u << 5) | (1u << 6));
    ck_assert_int_eq(p->ewma_exact, 1);
    /* derived: two-sided normal critical value of the trend alpha */
    CK_DBL_NEAR(p->d_trend_zc, spc_norm_quantile(1 - p->trend_alpha / 2),
                1e-12);
    ck_assert_int_eq(spc_dims_find(&cfg->dims, "fw"), SPC_DIM_FW);
    ck_assert_str_eq(cfg->misc[0].description, "FirmwareVersion");
    spc_config_destroy(cfg);
}
END_TEST

START_TEST(test_config_errors_name_the_json_path)
{
    expect_error("[]", "expected a JSON object");
    expect_error("{\"bufer_size\":10}", "bufer_size: unknown key");
    expect_error("{\"buffer_size\":8}", "buffer_size: expected an integer");
    expect_error("{\"detectors\":{\"cusum\":{\"h\":-1}}}",
                 "detectors.cusum.h: must be in (0, 1000] (got -1)");
    expect_error("{\"detectors\":{\"cusum\":{\"hh\":1}}}",
                 "detectors.cusum.hh: unknown key");
    expect_error("{\"detectors\":{\"cusm\":{}}}",
                 "detectors.cusm: unknown detector");
    expect_error("{\"detectors\":{\"ewma\":{\"lambda\":1.5}}}",
                 "detectors.ewma.lambda: must be in (0, 1]");
    expect_error("{\"detectors\":{\"ewma\":{\"limits\":\"exactly\"}}}",
                 "detectors.ewma.limits: expected \"exact\" or \"asymptotic\"");
    expect_error("{\"detectors\":{\"runs\":{\"rules\":[1,9]}}}",
                 "detectors.runs.rules: element 1: expected a rule number 1-8");
    expect_error("{\"detectors\":{\"shewhart\":{\"enabled\":1}}}",
                 "detectors.shewhart.enabled: expected true or false");
    expect_error("{\"detectors\":{\"trend\":{\"window\":40.5}}}",
                 "detectors.trend.window: expected an integer");
    expect_error("{\"detectors\":{\"subgroup\":{\"dimensions\":[\"shift\"]}}}",
                 "detectors.subgroup.dimensions: element 0: unknown dimension "
                 "\"shift\"");
    expect_error("{\"buffer_size\":64}",
                 "detectors.trend.window: window 100 must be smaller than "
                 "buffer_size 64");
    expect_error("{\"steps\":[{\"baseline\":{\"mean\":1}}]}",
                 "steps[0].match: expected a glob");
    expect_error("{\"steps\":[{\"match\":\"*\",\"baseline\":{\"mean\":1}}]}",
                 "steps[0].baseline.sigma: missing");
    expect_error("{\"steps\":[{\"match\":\"*\",\"baseline\":{\"mean\":1,"
                 "\"sigma\":0}}]}",
                 "steps[0].baseline.sigma: expected a finite number > 0");
    expect_error("{\"steps\":[{\"match\":\"*\"},{\"match\":\"x\","
                 "\"detectors\":{\"ewma\":{\"L\":\"big\"}}}]}",
                 "steps[1].detectors.ewma.L: expected a number");
    expect_error("{\"steps\":[{\"match\":\"*\",\"detector\":{}}]}",
                 "steps[0].detector: unknown key");
    expect_error("{\"test_plan_format\":\"{pn}/{code}\"}",
                 "test_plan_format: unknown placeholder");
    expect_error("{\"alarm_budget\":{\"false_alarms_per_hour\":1}}",
                 "alarm_budget.units_per_hour: missing");
    expect_error("{\"metadata\":{\"misc_infos\":{\"FW\":7}}}",
                 "metadata.misc_infos.FW: expected a dimension name");
    expect_error("{\"baseline\":{\"warmup\":5}}",
                 "baseline.warmup: must be in [10,");
}
END_TEST

START_TEST(test_config_glob)
{
    ck_assert(spc_glob_match("*", ""));
    ck_assert(spc_glob_match("*", "a/b/c"));
    ck_assert(spc_glob_match("PCBA-100/*/VCC*", "PCBA-100/10/Power/VCC 3V3"));
    ck_assert(!spc_glob_match("PCBA-100/*/VCC*", "PCBA-200/10/Power/VCC"));
    ck_assert(spc_glob_match("*/Rails/5?", "P/10/Power/Rails/5V"));
    ck_assert(!spc_glob_match("*/Rails/5?", "P/10/Power/Rails/5"));
    ck_assert(spc_glob_match("a*b*c", "aXXbYYc"));
    ck_assert(!spc_glob_match("a*b*c", "aXXbYY"));
    ck_assert(spc_glob_match("**x", "abx"));
}
END_TEST

START_TEST(test_config_step_rules_later_win)
{
    char err[512];
    struct spc_config *cfg = parse(
        "{\"detectors\":{\"shewhart\":{\"L\":4}},"
        "\"steps\":["
        "{\"match\":\"P/10/*\",\"detectors\":{\"shewhart\":{\"L\":5},"
        "\"ewma\":{\"enabled\":false}}},"
        "{\"match\":\"P/10/Power/*\",\"detectors\":{\"shewhart\":{\"L\":6}},"
        "\"baseline\":{\"mean\":3.3,\"sigma\":0.01}}]}",
        err, sizeof(err));
    struct spc_param_cache *pc = spc_param_cache_new();
    const struct spc_params *a, *b, *c, *a2;

    ck_assert_msg(cfg != NULL, "%s", err);
    a = spc_config_resolve(cfg, pc, "Q/20/X/m", err, sizeof(err));
    b = spc_config_resolve(cfg, pc, "P/10/Clock/f", err, sizeof(err));
    c = spc_config_resolve(cfg, pc, "P/10/Power/VCC/VCC", err, sizeof(err));
    a2 = spc_config_resolve(cfg, pc, "Z/1/y/y", err, sizeof(err));
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_eq(a, a2); /* same rule set: one cached resolution */
    CK_DBL_NEAR(a->shewhart_L, 4, 0);
    ck_assert_int_eq(a->enabled[SPC_DET_EWMA], 1);
    ck_assert_int_eq(a->known, 0);
    CK_DBL_NEAR(b->shewhart_L, 5, 0);
    ck_assert_int_eq(b->enabled[SPC_DET_EWMA], 0);
    CK_DBL_NEAR(c->shewhart_L, 6, 0); /* later rule overrides earlier */
    ck_assert_int_eq(c->enabled[SPC_DET_EWMA], 0); /* earlier rule kept */
    ck_assert_int_eq(c->known, 1);
    CK_DBL_NEAR(c->known_mean, 3.3, 0);
    CK_DBL_NEAR(c->known_sigma, 0.01, 0);
    spc_param_cache_destroy(pc);
    spc_config_destroy(cfg);
}
END_TEST

START_TEST(test_config_foreign_sections_are_kept)
{
    static const char *const foreign[] = {"kafka", "redis", NULL};
    json_t *root = json_loads("{\"kafka\":{\"bootstrap.servers\":\"h:1\"},"
                              "\"incidents\":{\"x\":1},\"redis\":{}}",
                              0, NULL);
    char err[256];
    struct spc_config *cfg = spc_config_parse(root, foreign, err, sizeof(err));

    ck_assert_msg(cfg != NULL, "%s", err);
    ck_assert_ptr_nonnull(spc_config_section(cfg, "kafka"));
    ck_assert_ptr_nonnull(spc_config_section(cfg, "incidents"));
    ck_assert_ptr_null(spc_config_section(cfg, "llm"));
    spc_config_destroy(cfg);
    json_decref(root);
}
END_TEST

/* 1 false alarm per hour per station at 120 units/h and 200 steps per unit
 * is alpha = 1 / 24 000 per step sample; each detector's threshold is set
 * so its own in-control rate is its weighted share. */
START_TEST(test_config_alarm_budget_derives_thresholds)
{
    char err[512];
    struct spc_config *cfg =
        parse("{\"alarm_budget\":{\"false_alarms_per_hour\":1,"
              "\"units_per_hour\":120,\"charted_steps\":200}}",
              err, sizeof(err));
    const struct spc_params *p;
    double alpha = 1.0 / 24000.0, share;

    ck_assert_msg(cfg != NULL, "%s", err);
    p = &cfg->defaults;
    CK_DBL_NEAR(spc_budget_alpha(&cfg->budget), alpha, 1e-15);
    /* shewhart weight 0.10 of the enabled weights 0.10+0.10+0.15+0.15+
     * 0.10+0.10+0.05+0.05+0.15+0.05 = 1.0 (runs off) */
    share = alpha * 0.10;
    CK_DBL_NEAR(2 * spc_norm_sf(p->shewhart_L), share, share * 1e-6);
    /* CUSUM h gives ARL0 = 1 / share (Markov chain), within 2 % */
    share = alpha * 0.15;
    CK_DBL_NEAR(spc_arl_cusum(p->cusum_k, p->cusum_h, 0, 0, 120) * share, 1.0,
                0.02);
    CK_DBL_NEAR(spc_arl_ewma(p->ewma_lambda, p->ewma_L, 0, 151) * share, 1.0,
                0.02);
    CK_DBL_NEAR(p->trend_alpha, alpha * 0.10, 1e-15);
    CK_DBL_NEAR(p->sg_alpha, alpha * 0.15, 1e-15);
    spc_config_destroy(cfg);
}
END_TEST

START_TEST(test_config_defaults_dump_reparses)
{
    struct spc_config *cfg = spc_config_new(), *again;
    struct spc_buf b;
    char err[512];

    spc_buf_init(&b);
    spc_config_dump_defaults(cfg, &b);
    ck_assert(spc_buf_ok(&b));
    again = parse(b.data, err, sizeof(err));
    ck_assert_msg(again != NULL, "dump does not re-parse: %s", err);
    ck_assert_mem_eq(&again->defaults, &cfg->defaults, sizeof(cfg->defaults));
    spc_config_destroy(again);
    spc_config_destroy(cfg);
    spc_buf_fini(&b);
}
END_TEST

Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *t = tcase_create("config");

    tcase_add_test(t, test_config_defaults);
    tcase_add_test(t, test_config_errors_name_the_json_path);
    tcase_add_test(t, test_config_glob);
    tcase_add_test(t, test_config_step_rules_later_win);
    tcase_add_test(t, test_config_foreign_sections_are_kept);
    tcase_add_test(t, test_config_alarm_budget_derives_thresholds);
    tcase_add_test(t, test_config_defaults_dump_reparses);
    suite_add_tcase(s, t);
    return s;
}
