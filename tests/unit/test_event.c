/*
 * test_event.c -- RFC 3339 time parsing and formatting against epoch values
 * computed by hand (and a day-by-day calendar walk), compOp parsing and the
 * spec limits of DESIGN section 5, measurement value interpretation, and the
 * flat event JSON codec (every field, every error naming its field, and a
 * to_json -> from_json round trip).
 */
#include "spc_test.h"

#include "spc_event.h"

#include <jansson.h>

#define T_REQUIRE(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

#define DAY_MS 86400000LL

static int64_t parse_ok(const char *s)
{
    int64_t ms = -12345;

    ck_assert_msg(spc_time_parse(s, &ms) == SPC_OK, "rejected %s", s);
    return ms;
}

START_TEST(test_event_time_parse_known_epochs)
{
    /* 1970-01-01 is the epoch. */
    ck_assert(parse_ok("1970-01-01T00:00:00Z") == 0);
    /* 2000-01-01: 30 years of 365 days + 7 leap days (1972..1996)
     * = 10957 days; 10957 * 86400 = 946684800 s. */
    ck_assert(parse_ok("2000-01-01T00:00:00Z") == 946684800000LL);
    /* 2026-11-01T08:30:15.250+01:00 = 07:30:15.250Z.
     * 1970..2025: 56 years, 14 leap days (1972..2024) -> 20454 days to
     * 2026-01-01; Jan..Oct 2026 = 31+28+31+30+31+30+31+31+30+31 = 304
     * -> 20758 days = 1793491200 s; + 7*3600 + 30*60 + 15 = 27015 s
     * -> 1793518215 s, + 250 ms. */
    ck_assert(parse_ok("2026-11-01T08:30:15.250+01:00") == 1793518215250LL);
    /* Leap day 2024-02-29T12:00:00Z: 54 years, 13 leap days (1972..2020)
     * -> 19723 days to 2024-01-01; + 31 + 28 = 19782 days = 1709164800 s;
     * + 12 h = 1709208000 s. */
    ck_assert(parse_ok("2024-02-29T12:00:00Z") == 1709208000000LL);
    /* Negative offset: 2024-02-29T23:59:59.999-05:30 is
     * 2024-03-01T05:29:59.999Z: (19782 + 1) days = 1709251200 s
     * + 5*3600 + 29*60 + 59 = 19799 s -> 1709270999 s, + 999 ms. */
    ck_assert(parse_ok("2024-02-29T23:59:59.999-05:30") == 1709270999999LL);
    /* Offsets shift the same instant. */
    ck_assert(parse_ok("2000-01-01T05:45:00+05:45") == 946684800000LL);
    ck_assert(parse_ok("1999-12-31T23:00:00-01:00") == 946684800000LL);
    ck_assert(parse_ok("2000-01-01T00:00:00+00:00") == 946684800000LL);
    ck_assert(parse_ok("2000-01-01T00:00:00-00:00") == 946684800000LL);
    /* Lower-case t and z, and a space separator (RFC 3339 section 5.6). */
    ck_assert(parse_ok("2000-01-01t00:00:00z") == 946684800000LL);
    ck_assert(parse_ok("2000-01-01 00:00:00Z") == 946684800000LL);
    /* Before the epoch: one and a half seconds early. */
    ck_assert(parse_ok("1969-12-31T23:59:58.500Z") == -1500);
    /* Gregorian century rule: 2000 is leap, 1900 and 2100 are not. */
    ck_assert(parse_ok("2000-02-29T00:00:00Z") == 951782400000LL);
    /* 2000-02-29 = 10957 + 31 + 28 = 11016 days = 951782400 s. */
    /* A leap second is accepted and clamped to :59. */
    ck_assert(parse_ok("2016-12-31T23:59:60Z") ==
              parse_ok("2016-12-31T23:59:59Z"));
}
END_TEST

START_TEST(test_event_time_parse_fractions)
{
    static const struct {
        const char *s;
        int64_t ms;
    } cases[] = {
        {"2000-01-01T00:00:00.1Z", 100},
        {"2000-01-01T00:00:00.12Z", 120},
        {"2000-01-01T00:00:00.123Z", 123},
        {"2000-01-01T00:00:00.1234Z", 123},
        {"2000-01-01T00:00:00.12345Z", 123},
        {"2000-01-01T00:00:00.123456Z", 123},
        {"2000-01-01T00:00:00.1234567Z", 123},
        {"2000-01-01T00:00:00.12345678Z", 123},
        {"2000-01-01T00:00:00.123456789Z", 123},
        /* sub-millisecond digits are cut, not rounded: the instant stays
         * inside its millisecond (and its second) */
        {"2000-01-01T00:00:00.9999Z", 999},
        {"2000-01-01T00:00:00.999999999Z", 999},
        {"2000-01-01T00:00:00.000000001Z", 0},
        {"2000-01-01T00:00:00.5+01:00", 500 - 3600000},
    };
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(cases); i++)
        ck_assert_msg(parse_ok(cases[i].s) == 946684800000LL + cases[i].ms,
                      "%s", cases[i].s);
}
END_TEST

START_TEST(test_event_time_parse_rejects_invalid)
{
    static const char *const bad[] = {
        "2000-01-01T00:00:00",        /* no offset: ambiguous local time */
        "2000-01-01T00:00:00.123",    /* no offset after a fraction */
        "2000-13-01T00:00:00Z",       /* month 13 */
        "2000-00-01T00:00:00Z",       /* month 0 */
        "2000-01-00T00:00:00Z",       /* day 0 */
        "2000-01-32T00:00:00Z",       /* day 32 */
        "2024-02-30T00:00:00Z",       /* Feb 30 */
        "2023-02-29T00:00:00Z",       /* not a leap year */
        "1900-02-29T00:00:00Z",       /* century, not a leap year */
        "2000-04-31T00:00:00Z",       /* April has 30 days */
        "2000-01-01T24:00:00Z",       /* hour 24 */
        "2000-01-01T00:60:00Z",       /* minute 60 */
        "2000-01-01T00:00:61Z",       /* second 61 */
        "2000-01-01T00:00:00Zjunk",   /* garbage suffix */
        "2000-01-01T00:00:00Z ",      /* trailing space */
        "2000-01-01T00:00:00+01:00x", /* garbage after the offset */
        "2000-01-01T00:00:00+0100",   /* offset without colon */
        "2000-01-01T00:00:00+01",     /* truncated offset */
        "2000-01-01T00:00:00+24:00",  /* offset hour 24 */
        "2000-01-01T00:00:00+01:60",  /* offset minute 60 */
        "2000-01-01T00:00:00.Z",      /* empty fraction */
        "2000-01-01X00:00:00Z",       /* bad separator */
        "2000-1-01T00:00:00Z",        /* one-digit month */
        "2000-01-01T0:00:00Z",        /* one-digit hour */
        "20000-01-01T00:00:00Z",      /* five-digit year */
        "2000/01/01T00:00:00Z",       /* wrong date separators */
        "2000-01-01T00-00-00Z",       /* wrong time separators */
        "2000-01-01T00:00Z",          /* no seconds */
        "2000-01-01",                 /* date only */
        "",
        "garbage",
        " 2000-01-01T00:00:00Z", /* leading space */
    };
    size_t i;
    int64_t ms;

    for (i = 0; i < SPC_ARRAY_SIZE(bad); i++) {
        ms = 777;
        ck_assert_msg(spc_time_parse(bad[i], &ms) == SPC_ERR_INVALID,
                      "accepted \"%s\"", bad[i]);
        ck_assert_msg(ms == 777, "\"%s\" wrote *ms_out on failure", bad[i]);
    }
    ck_assert_int_eq(spc_time_parse(NULL, &ms), SPC_ERR_INVALID);
}
END_TEST

START_TEST(test_event_time_format_known)
{
    char out[40];

    spc_time_format(0, out, sizeof(out));
    ck_assert_str_eq(out, "1970-01-01T00:00:00.000Z");
    spc_time_format(946684800000LL, out, sizeof(out));
    ck_assert_str_eq(out, "2000-01-01T00:00:00.000Z");
    spc_time_format(1793518215250LL, out, sizeof(out));
    ck_assert_str_eq(out, "2026-11-01T07:30:15.250Z");
    spc_time_format(1709270999999LL, out, sizeof(out));
    ck_assert_str_eq(out, "2024-03-01T05:29:59.999Z");
    spc_time_format(-1, out, sizeof(out));
    ck_assert_str_eq(out, "1969-12-31T23:59:59.999Z");
    spc_time_format(-1500, out, sizeof(out));
    ck_assert_str_eq(out, "1969-12-31T23:59:58.500Z");
    spc_time_format(-DAY_MS, out, sizeof(out));
    ck_assert_str_eq(out, "1969-12-31T00:00:00.000Z");
    /* 9999-12-31T23:59:59.999Z = 253402300799999 ms (the RFC 3339 end). */
    spc_time_format(253402300799999LL, out, sizeof(out));
    ck_assert_str_eq(out, "9999-12-31T23:59:59.999Z");
}
END_TEST

/* Walk the calendar one day at a time from 1601-01-01 to 2400-12-31 with a
 * plain month-length table (independent of the era arithmetic under test)
 * and check parse and format of every midnight. */
START_TEST(test_event_time_calendar_walk)
{
    static const int mdays[12] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
    /* days from 1601-01-01 to 1970-01-01: 369 years, 89 leap days
     * (92 multiples of 4 in 1604..1968, minus 1700, 1800, 1900) */
    int64_t day = -(369 * 365 + 89), rejected;
    int y, m, d;
    char s[40], out[40];

    for (y = 1601; y <= 2400; y++) {
        int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

        for (m = 1; m <= 12; m++) {
            int dm = mdays[m - 1] + (m == 2 && leap);

            for (d = 1; d <= dm; d++, day++) {
                int64_t ms = -1;

                snprintf(s, sizeof(s), "%04d-%02d-%02dT00:00:00Z", y, m, d);
                T_REQUIRE(spc_time_parse(s, &ms) == SPC_OK &&
                              ms == day * DAY_MS,
                          "%s parsed as %lld, want %lld", s, (long long)ms,
                          (long long)(day * DAY_MS));
                spc_time_format(day * DAY_MS, out, sizeof(out));
                snprintf(s, sizeof(s), "%04d-%02d-%02dT00:00:00.000Z", y, m, d);
                T_REQUIRE(strcmp(out, s) == 0, "day %lld formatted %s",
                          (long long)day, out);
            }
            /* the day after the last is rejected */
            snprintf(s, sizeof(s), "%04d-%02d-%02dT00:00:00Z", y, m, dm + 1);
            T_REQUIRE(spc_time_parse(s, &rejected) == SPC_ERR_INVALID,
                      "accepted %s", s);
        }
    }
    /* 1970-01-01 .. 2401-01-01: 431 years and 105 leap days (108 multiples
     * of 4 in 1972..2400, minus 2100, 2200, 2300) */
    ck_assert(day == 431 * 365LL + 105);
}
END_TEST

START_TEST(test_event_time_format_round_trip)
{
    struct t_rng r;
    char out[40];
    int i;

    t_rng_seed(&r, 5);
    for (i = 0; i < 200000; i++) {
        /* years 0001..9999 */
        int64_t lo = -62135596800000LL, hi = 253402300799999LL;
        int64_t ms = lo + (int64_t)(t_unif(&r) * (double)(hi - lo));
        int64_t back = 0;

        if (i % 4 == 0) /* dense around the epoch */
            ms = (int64_t)(t_norm(&r) * 1e10);
        spc_time_format(ms, out, sizeof(out));
        T_REQUIRE(strlen(out) == 24 && out[10] == 'T' && out[23] == 'Z',
                  "%lld formatted as %s", (long long)ms, out);
        T_REQUIRE(spc_time_parse(out, &back) == SPC_OK && back == ms,
                  "%lld -> %s -> %lld", (long long)ms, out, (long long)back);
    }
}
END_TEST

START_TEST(test_event_compop_parse_all)
{
    static const struct {
        const char *s;
        enum spc_compop op;
    } cases[] = {
        {"LOG", SPC_COMPOP_LOG},
        {"EQ", SPC_COMPOP_EQ},
        {"NE", SPC_COMPOP_NE},
        {"GT", SPC_COMPOP_GT},
        {"GE", SPC_COMPOP_GE},
        {"LT", SPC_COMPOP_LT},
        {"LE", SPC_COMPOP_LE},
        {"GTLT", SPC_COMPOP_GTLT},
        {"GTLE", SPC_COMPOP_GTLE},
        {"GELT", SPC_COMPOP_GELT},
        {"GELE", SPC_COMPOP_GELE},
        {"LTGT", SPC_COMPOP_LTGT},
        {"LTGE", SPC_COMPOP_LTGE},
        {"LEGT", SPC_COMPOP_LEGT},
        {"LEGE", SPC_COMPOP_LEGE},
        {"CASESENSIT", SPC_COMPOP_OTHER},
        {"IGNORECASE", SPC_COMPOP_OTHER},
        {"", SPC_COMPOP_OTHER},
        {"G", SPC_COMPOP_OTHER},
        {"GX", SPC_COMPOP_OTHER},
        {"XT", SPC_COMPOP_OTHER},
        {"EE", SPC_COMPOP_OTHER},
        {"ge", SPC_COMPOP_OTHER},
        {"LOGX", SPC_COMPOP_OTHER},
        {"LOX", SPC_COMPOP_OTHER},
        {"GEGE", SPC_COMPOP_OTHER},
        {"LTLT", SPC_COMPOP_OTHER},
        {"GELX", SPC_COMPOP_OTHER},
        {"GXLE", SPC_COMPOP_OTHER},
        {"GELEG", SPC_COMPOP_OTHER},
        {"EQEQ", SPC_COMPOP_OTHER},
    };
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(cases); i++)
        ck_assert_msg(spc_compop_parse(cases[i].s) == cases[i].op,
                      "\"%s\" parsed as %d, want %d", cases[i].s,
                      spc_compop_parse(cases[i].s), cases[i].op);
    ck_assert_int_eq(spc_compop_parse(NULL), SPC_COMPOP_NONE);
}
END_TEST

/* Expected spec of one operator with both limits present: 'B' both (LSL =
 * low, USL = high), 'L' LSL = low, 'U' USL = low, 'T' target = low, '-'
 * none.  DESIGN section 5. */
static void check_spec(enum spc_compop op, char want)
{
    struct spc_spec sp;

    memset(&sp, 0x5a, sizeof(sp));
    spc_spec_from_limits(op, 1, 2.0, 1, 7.0, &sp);
    switch (want) {
    case 'B':
        ck_assert(sp.has_lsl && sp.has_usl && !sp.has_target);
        ck_assert(sp.lsl == 2.0 && sp.usl == 7.0);
        break;
    case 'L':
        ck_assert(sp.has_lsl && !sp.has_usl && !sp.has_target);
        ck_assert(sp.lsl == 2.0);
        break;
    case 'U':
        ck_assert(!sp.has_lsl && sp.has_usl && !sp.has_target);
        ck_assert(sp.usl == 2.0);
        break;
    case 'T':
        ck_assert(!sp.has_lsl && !sp.has_usl && sp.has_target);
        ck_assert(sp.target == 2.0);
        break;
    default:
        ck_assert_msg(!sp.has_lsl && !sp.has_usl && !sp.has_target,
                      "operator %d gave a spec", op);
    }
}

START_TEST(test_event_spec_from_limits_each_operator)
{
    struct spc_spec sp;

    check_spec(SPC_COMPOP_GELE, 'B');
    check_spec(SPC_COMPOP_GELT, 'B');
    check_spec(SPC_COMPOP_GTLE, 'B');
    check_spec(SPC_COMPOP_GTLT, 'B');
    check_spec(SPC_COMPOP_GE, 'L');
    check_spec(SPC_COMPOP_GT, 'L');
    check_spec(SPC_COMPOP_LE, 'U'); /* WATS keeps the one limit in low */
    check_spec(SPC_COMPOP_LT, 'U');
    check_spec(SPC_COMPOP_EQ, 'T');
    check_spec(SPC_COMPOP_NONE, '-');
    check_spec(SPC_COMPOP_LOG, '-');
    check_spec(SPC_COMPOP_NE, '-');
    check_spec(SPC_COMPOP_LTGT, '-');
    check_spec(SPC_COMPOP_LTGE, '-');
    check_spec(SPC_COMPOP_LEGT, '-');
    check_spec(SPC_COMPOP_LEGE, '-');
    check_spec(SPC_COMPOP_OTHER, '-');

    /* inconsistent limits (low > high): no spec at all */
    spc_spec_from_limits(SPC_COMPOP_GELE, 1, 9.0, 1, 1.0, &sp);
    ck_assert(!sp.has_lsl && !sp.has_usl && !sp.has_target);
    /* equal limits are consistent */
    spc_spec_from_limits(SPC_COMPOP_GELE, 1, 3.0, 1, 3.0, &sp);
    ck_assert(sp.has_lsl && sp.has_usl);
    /* a missing limit stays missing */
    spc_spec_from_limits(SPC_COMPOP_GELE, 1, 2.0, 0, 0.0, &sp);
    ck_assert(sp.has_lsl && !sp.has_usl && sp.lsl == 2.0);
    spc_spec_from_limits(SPC_COMPOP_GELE, 0, 0.0, 1, 7.0, &sp);
    ck_assert(!sp.has_lsl && sp.has_usl && sp.usl == 7.0);
    spc_spec_from_limits(SPC_COMPOP_LE, 0, 0.0, 1, 7.0, &sp);
    ck_assert(!sp.has_lsl && !sp.has_usl); /* LE reads low only */
    spc_spec_from_limits(SPC_COMPOP_GE, 0, 0.0, 1, 7.0, &sp);
    ck_assert(!sp.has_lsl && !sp.has_usl);
    spc_spec_from_limits(SPC_COMPOP_EQ, 0, 0.0, 1, 7.0, &sp);
    ck_assert(!sp.has_target);
}
END_TEST

START_TEST(test_event_spec_of_event)
{
    struct spc_event ev;
    struct spc_spec sp;

    t_event(&ev, "S", 1.0, 0);
    ev.comp_op = "LT";
    ev.has_low = 1;
    ev.low_limit = 5.0;
    spc_event_spec(&ev, &sp);
    ck_assert(sp.has_usl && sp.usl == 5.0 && !sp.has_lsl);
    ev.comp_op = NULL;
    spc_event_spec(&ev, &sp);
    ck_assert(!sp.has_lsl && !sp.has_usl && !sp.has_target);
}
END_TEST

/* spc_json_measure_value of a JSON text. */
static int measure(const char *text, double *out)
{
    json_error_t jerr;
    json_t *j = json_loads(text, JSON_DECODE_ANY, &jerr);
    int r;

    ck_assert_msg(j != NULL, "bad test JSON %s", text);
    r = spc_json_measure_value(j, out);
    json_decref(j);
    return r;
}

START_TEST(test_event_measure_value)
{
    double v = -1;

    ck_assert_int_eq(measure("3.25", &v), 1);
    ck_assert(v == 3.25);
    ck_assert_int_eq(measure("-7", &v), 1);
    ck_assert(v == -7.0);
    ck_assert_int_eq(measure("1e-300", &v), 1);
    ck_assert(v == 1e-300);
    ck_assert_int_eq(measure("\"12.5\"", &v), 1);
    ck_assert(v == 12.5);
    ck_assert_int_eq(measure("\" -4e2 \"", &v), 1); /* spaces around */
    ck_assert(v == -400.0);
    v = 99;
    ck_assert_int_eq(measure("\"NaN\"", &v), 0);
    ck_assert_int_eq(measure("\"nan\"", &v), 0);
    ck_assert_int_eq(measure("\"Infinity\"", &v), 0);
    ck_assert_int_eq(measure("\"-Infinity\"", &v), 0);
    ck_assert_int_eq(measure("\"inf\"", &v), 0);
    ck_assert_int_eq(measure("\"1e999\"", &v), 0); /* overflows */
    ck_assert_int_eq(measure("\"abc\"", &v), 0);
    ck_assert_int_eq(measure("\"12abc\"", &v), 0);
    ck_assert_int_eq(measure("\"\"", &v), 0);
    ck_assert_int_eq(measure("\"   \"", &v), 0);
    ck_assert_int_eq(measure("null", &v), 0);
    ck_assert(v == 99); /* untouched when not a number */
    ck_assert_int_eq(spc_json_measure_value(NULL, &v), 0);
    ck_assert_int_eq(measure("{}", &v), -1);
    ck_assert_int_eq(measure("{\"v\":1}", &v), -1);
    ck_assert_int_eq(measure("[1]", &v), -1);
    ck_assert_int_eq(measure("true", &v), -1);
    ck_assert_int_eq(measure("false", &v), -1);
    ck_assert(v == 99);
}
END_TEST

static const char full_event[] =
    "{\"uut_id\":\"SN-001\",\"report_id\":\"R-42\",\"test_plan\":\"PN-7|FCT\","
    "\"test_step\":\"Main/Power/Vout\",\"measurement\":\"V3V3\","
    "\"value\":3.2875,\"passed\":false,\"status\":\"F\","
    "\"timestamp\":\"2026-11-01T08:30:15.250+01:00\",\"unit\":\"V\","
    "\"comp_op\":\"GELE\",\"low_limit\":3.135,\"high_limit\":\"3.465\","
    "\"kind\":\"numeric\","
    "\"meta\":{\"station\":\"ST-1\",\"fixture\":\"FX-9\",\"operator\":\"ann\","
    "\"socket\":\"2\",\"hw_rev\":\"B\",\"sw_file\":\"seq.py\","
    "\"sw_version\":\"1.2\",\"fw\":\"3.4.1\",\"unknown_key\":\"ignored\","
    "\"fw_extra\":{\"nested\":1}}}";

static json_t *load(const char *text)
{
    json_error_t jerr;
    json_t *j = json_loads(text, 0, &jerr);

    ck_assert_msg(j != NULL, "bad test JSON: %s", jerr.text);
    return j;
}

START_TEST(test_event_from_json_full)
{
    struct spc_dims dims;
    struct spc_event ev;
    char err[256] = "";
    json_t *j = load(full_event);

    ck_assert_int_eq(spc_dims_init(&dims), SPC_OK);
    ck_assert_msg(spc_event_from_json(j, &dims, &ev, err, sizeof(err)) ==
                      SPC_OK,
                  "rejected: %s", err);
    ck_assert_str_eq(ev.uut_id, "SN-001");
    ck_assert_str_eq(ev.report_id, "R-42");
    ck_assert_str_eq(ev.test_plan, "PN-7|FCT");
    ck_assert_str_eq(ev.test_step, "Main/Power/Vout");
    ck_assert_str_eq(ev.measurement, "V3V3");
    ck_assert_str_eq(ev.unit, "V");
    ck_assert_str_eq(ev.comp_op, "GELE");
    ck_assert(ev.value_valid && ev.value == 3.2875);
    ck_assert(ev.has_low && ev.low_limit == 3.135);
    ck_assert(ev.has_high && ev.high_limit == 3.465); /* from a string */
    ck_assert(ev.ts_ms == 1793518215250LL);           /* computed above */
    ck_assert_int_eq(ev.kind, SPC_KIND_NUMERIC);
    ck_assert_int_eq(ev.passed, 0);
    ck_assert_int_eq(ev.status, 'F');
    ck_assert_str_eq(ev.meta[SPC_DIM_STATION], "ST-1");
    ck_assert_str_eq(ev.meta[SPC_DIM_FIXTURE], "FX-9");
    ck_assert_str_eq(ev.meta[SPC_DIM_OPERATOR], "ann");
    ck_assert_str_eq(ev.meta[SPC_DIM_SOCKET], "2");
    ck_assert_str_eq(ev.meta[SPC_DIM_HW_REV], "B");
    ck_assert_str_eq(ev.meta[SPC_DIM_SW_FILE], "seq.py");
    ck_assert_str_eq(ev.meta[SPC_DIM_SW_VERSION], "1.2");
    ck_assert_str_eq(ev.meta[SPC_DIM_FW], "3.4.1");
    /* unknown meta keys (even non-string ones) are ignored */
    ck_assert_ptr_null(ev.meta[SPC_DIM__BUILTIN]);
    json_decref(j);
    spc_dims_fini(&dims);
}
END_TEST

START_TEST(test_event_from_json_defaults)
{
    struct spc_dims dims;
    struct spc_event ev;
    char err[256] = "";
    json_t *j;

    ck_assert_int_eq(spc_dims_init(&dims), SPC_OK);
    /* minimal event: optional fields absent */
    j = load("{\"uut_id\":\"u\",\"report_id\":\"r\",\"test_plan\":\"p\","
             "\"test_step\":\"s\",\"measurement\":\"m\","
             "\"timestamp\":\"2000-01-01T00:00:00Z\"}");
    ck_assert_int_eq(spc_event_from_json(j, &dims, &ev, err, sizeof(err)),
                     SPC_OK);
    ck_assert(!ev.value_valid && isnan(ev.value));
    ck_assert_int_eq(ev.passed, 1); /* no status, no passed: passed */
    ck_assert_int_eq(ev.status, 0);
    ck_assert_ptr_null(ev.unit);
    ck_assert_ptr_null(ev.comp_op);
    ck_assert(!ev.has_low && !ev.has_high);
    ck_assert_int_eq(ev.kind, SPC_KIND_NUMERIC);
    ck_assert_ptr_null(ev.meta[SPC_DIM_STATION]);
    json_decref(j);

    /* status without passed: P and D pass, F does not; "NaN" value is
     * not charted; the <UUT> step defaults to an attribute series whose
     * value is never charted */
    j = load("{\"uut_id\":\"u\",\"report_id\":\"r\",\"test_plan\":\"p\","
             "\"test_step\":\"<UUT>\",\"measurement\":\"result\","
             "\"value\":1,\"status\":\"D\",\"meta\":null,"
             "\"timestamp\":\"2000-01-01T00:00:00Z\"}");
    ck_assert_int_eq(spc_event_from_json(j, &dims, &ev, err, sizeof(err)),
                     SPC_OK);
    ck_assert_int_eq(ev.kind, SPC_KIND_ATTRIBUTE);
    ck_assert(!ev.value_valid && isnan(ev.value));
    ck_assert_int_eq(ev.passed, 1);
    ck_assert_int_eq(ev.status, 'D');
    json_decref(j);

    j = load("{\"uut_id\":\"u\",\"report_id\":\"r\",\"test_plan\":\"p\","
             "\"test_step\":\"s\",\"measurement\":\"m\",\"value\":\"NaN\","
             "\"status\":\"F\",\"timestamp\":\"2000-01-01T00:00:00Z\"}");
    ck_assert_int_eq(spc_event_from_json(j, &dims, &ev, err, sizeof(err)),
                     SPC_OK);
    ck_assert(!ev.value_valid && isnan(ev.value));
    ck_assert_int_eq(ev.passed, 0);
    json_decref(j);
    spc_dims_fini(&dims);
}
END_TEST

/* The full event with @p key replaced by @p json_value (NULL: removed). */
static json_t *full_with(const char *key, const char *json_value)
{
    json_t *j = load(full_event);

    if (json_value)
        ck_assert_int_eq(
            json_object_set_new(j, key,
                                json_loads(json_value, JSON_DECODE_ANY, NULL)),
            0);
    else
        ck_assert_int_eq(json_object_del(j, key), 0);
    return j;
}

START_TEST(test_event_from_json_errors_name_the_field)
{
    static const struct {
        const char *key, *value, *field;
    } cases[] = {
        {"uut_id", NULL, "uut_id"},
        {"report_id", NULL, "report_id"},
        {"test_plan", NULL, "test_plan"},
        {"test_plan", "null", "test_plan"},
        {"test_plan", "\"\"", "test_plan"},
        {"test_plan", "12", "test_plan"},
        {"test_step", NULL, "test_step"},
        {"measurement", "[]", "measurement"},
        {"timestamp", NULL, "timestamp"},
        {"timestamp", "\"2026-11-01T08:30:15\"", "timestamp"},
        {"timestamp", "\"2026-02-30T00:00:00Z\"", "timestamp"},
        {"timestamp", "1793518215250", "timestamp"},
        {"value", "true", "value"},
        {"value", "{\"v\":1}", "value"},
        {"value", "[3.3]", "value"},
        {"unit", "5", "unit"},
        {"comp_op", "false", "comp_op"},
        {"low_limit", "{}", "low_limit"},
        {"high_limit", "[1]", "high_limit"},
        {"meta", "\"station=ST-1\"", "meta"},
        {"meta", "[]", "meta"},
        {"meta", "{\"station\":7}", "station"},
        {"meta", "{\"fixture\":{\"id\":1}}", "fixture"},
        {"kind", "\"continuous\"", "kind"},
        {"kind", "1", "kind"},
        {"status", "\"X\"", "status"},
        {"status", "\"PF\"", "status"},
        {"status", "\"\"", "status"},
        {"status", "true", "status"},
        {"passed", "\"true\"", "passed"},
        {"passed", "1", "passed"},
    };
    struct spc_dims dims;
    struct spc_event ev;
    size_t i;

    ck_assert_int_eq(spc_dims_init(&dims), SPC_OK);
    for (i = 0; i < SPC_ARRAY_SIZE(cases); i++) {
        json_t *j = full_with(cases[i].key, cases[i].value);
        char err[256] = "";
        spc_err_t e = spc_event_from_json(j, &dims, &ev, err, sizeof(err));

        ck_assert_msg(e == SPC_ERR_INVALID, "%s=%s accepted (%d)", cases[i].key,
                      cases[i].value ? cases[i].value : "-", e);
        ck_assert_msg(strstr(err, cases[i].field) != NULL,
                      "%s=%s: error \"%s\" does not name %s", cases[i].key,
                      cases[i].value ? cases[i].value : "(absent)", err,
                      cases[i].field);
        json_decref(j);
    }
    /* not an object at all */
    {
        json_t *j = json_integer(5);
        char err[64] = "";

        ck_assert_int_eq(spc_event_from_json(j, &dims, &ev, err, sizeof(err)),
                         SPC_ERR_INVALID);
        ck_assert_str_ne(err, "");
        json_decref(j);
    }
    spc_dims_fini(&dims);
}
END_TEST

START_TEST(test_event_json_round_trip)
{
    struct spc_dims dims;
    struct spc_event ev, back;
    struct spc_buf b;
    char err[256] = "";
    struct t_rng r;
    int i, d;

    ck_assert_int_eq(spc_dims_init(&dims), SPC_OK);
    ck_assert_int_eq(spc_dims_add(&dims, "line"), SPC_DIM__BUILTIN);
    spc_buf_init(&b);
    t_rng_seed(&r, 9);
    for (i = 0; i < 500; i++) {
        json_error_t jerr;
        json_t *j;

        t_event(&ev, i % 7 ? "Main/\"quoted\"\\step\n" : SPC_UUT_STEP,
                t_norm(&r) * pow(10.0, (i % 21) - 10), i * 997L - 200000L);
        ev.ts_ms += i * 37; /* millisecond parts */
        ev.uut_id = "SN-\xc3\xa9-1";
        ev.passed = (uint8_t)(i % 3 != 0);
        ev.status = "PFSDET"[i % 6];
        if (i % 7 == 0) {
            ev.kind = SPC_KIND_ATTRIBUTE;
            ev.measurement = SPC_UUT_MEAS;
            ev.value = NAN;
            ev.value_valid = 0;
        }
        if (i % 5 == 0) {
            ev.value = NAN;
            ev.value_valid = 0;
        }
        ev.unit = i % 2 ? "mV" : NULL;
        ev.comp_op = i % 3 ? "GELT" : NULL;
        ev.has_low = (uint8_t)(i % 4 != 0);
        ev.low_limit = ev.has_low ? -1.0 / (i + 1) : 0.0;
        ev.has_high = (uint8_t)(i % 2 == 0);
        ev.high_limit = ev.has_high ? 1e6 + i / 3.0 : 0.0;
        for (d = 0; d < (int)dims.n; d++)
            ev.meta[d] = (i + d) % 3 ? dims.names[(d + i) % dims.n] : NULL;

        spc_buf_reset(&b);
        spc_event_to_json(&ev, &dims, &b);
        ck_assert(spc_buf_ok(&b));
        j = json_loadb(b.data, b.len, 0, &jerr);
        ck_assert_msg(j != NULL, "%s: %s", b.data, jerr.text);
        ck_assert_msg(spc_event_from_json(j, &dims, &back, err, sizeof(err)) ==
                          SPC_OK,
                      "%s: %s", b.data, err);
        ck_assert_str_eq(back.uut_id, ev.uut_id);
        ck_assert_str_eq(back.report_id, ev.report_id);
        ck_assert_str_eq(back.test_plan, ev.test_plan);
        ck_assert_str_eq(back.test_step, ev.test_step);
        ck_assert_str_eq(back.measurement, ev.measurement);
        ck_assert_int_eq(back.value_valid, ev.value_valid);
        if (ev.value_valid)
            ck_assert(back.value == ev.value); /* exact: round-trip digits */
        ck_assert(back.ts_ms == ev.ts_ms);
        ck_assert_int_eq(back.kind, ev.kind);
        ck_assert_int_eq(back.passed, ev.passed);
        ck_assert_int_eq(back.status, ev.status);
        ck_assert_int_eq(back.has_low, ev.has_low);
        ck_assert_int_eq(back.has_high, ev.has_high);
        if (ev.has_low)
            ck_assert(back.low_limit == ev.low_limit);
        if (ev.has_high)
            ck_assert(back.high_limit == ev.high_limit);
        if (ev.unit)
            ck_assert_str_eq(back.unit, ev.unit);
        else
            ck_assert_ptr_null(back.unit);
        if (ev.comp_op)
            ck_assert_str_eq(back.comp_op, ev.comp_op);
        else
            ck_assert_ptr_null(back.comp_op);
        for (d = 0; d < (int)dims.n; d++) {
            if (ev.meta[d])
                ck_assert_str_eq(back.meta[d], ev.meta[d]);
            else
                ck_assert_ptr_null(back.meta[d]);
        }
        json_decref(j);
    }
    spc_buf_fini(&b);
    spc_dims_fini(&dims);
}
END_TEST

START_TEST(test_event_dims)
{
    struct spc_dims d;
    char name[16];
    int i;

    ck_assert_int_eq(spc_dims_init(&d), SPC_OK);
    ck_assert_uint_eq(d.n, SPC_DIM__BUILTIN);
    ck_assert_int_eq(spc_dims_find(&d, "station"), SPC_DIM_STATION);
    ck_assert_int_eq(spc_dims_find(&d, "fw"), SPC_DIM_FW);
    ck_assert_int_eq(spc_dims_find(&d, "nope"), -1);
    ck_assert_int_eq(spc_dims_add(&d, "fixture"), SPC_DIM_FIXTURE);
    for (i = SPC_DIM__BUILTIN; i < SPC_META_MAX; i++) {
        snprintf(name, sizeof(name), "extra%d", i);
        ck_assert_int_eq(spc_dims_add(&d, name), i);
    }
    ck_assert_int_eq(spc_dims_add(&d, "one_too_many"), -1);
    ck_assert_uint_eq(d.n, SPC_META_MAX);
    spc_dims_fini(&d);
    ck_assert_uint_eq(d.n, 0);

    /* allocation failure while filling the built-ins */
    for (i = 1; i <= SPC_DIM__BUILTIN; i++) {
        spc_alloc_fail_after((unsigned long)i);
        ck_assert_int_eq(spc_dims_init(&d), SPC_ERR_NOMEM);
        spc_alloc_fail_after(0);
        ck_assert_uint_eq(d.n, 0);
    }
}
END_TEST

Suite *event_suite(void)
{
    Suite *s = suite_create("event");
    TCase *t;

    t = tcase_create("time");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_event_time_parse_known_epochs);
    tcase_add_test(t, test_event_time_parse_fractions);
    tcase_add_test(t, test_event_time_parse_rejects_invalid);
    tcase_add_test(t, test_event_time_format_known);
    tcase_add_test(t, test_event_time_calendar_walk);
    tcase_add_test(t, test_event_time_format_round_trip);
    suite_add_tcase(s, t);

    t = tcase_create("limits");
    tcase_add_test(t, test_event_compop_parse_all);
    tcase_add_test(t, test_event_spec_from_limits_each_operator);
    tcase_add_test(t, test_event_spec_of_event);
    suite_add_tcase(s, t);

    t = tcase_create("value");
    tcase_add_test(t, test_event_measure_value);
    suite_add_tcase(s, t);

    t = tcase_create("json");
    tcase_add_test(t, test_event_from_json_full);
    tcase_add_test(t, test_event_from_json_defaults);
    tcase_add_test(t, test_event_from_json_errors_name_the_field);
    tcase_add_test(t, test_event_json_round_trip);
    tcase_add_test(t, test_event_dims);
    suite_add_tcase(s, t);
    return s;
}
