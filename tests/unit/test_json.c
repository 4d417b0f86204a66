/*
 * test_json.c -- the in-situ JSON reader against jansson (the reference):
 * random documents compared node by node, numbers bit-exact against strtod
 * (the Clinger fast path and the fallback), escapes and UTF-8, and every
 * error class jansson rejects.
 */
#include "spc_json.h"
#include "spc_test.h"

#include <stdio.h>
#include <stdlib.h>

static void same(const struct spc_jv *a, const json_t *b)
{
    size_t i;

    switch (json_typeof(b)) {
    case JSON_NULL:
        ck_assert(spc_jis(a, SPC_J_NULL));
        break;
    case JSON_TRUE:
        ck_assert(spc_jis(a, SPC_J_TRUE));
        break;
    case JSON_FALSE:
        ck_assert(spc_jis(a, SPC_J_FALSE));
        break;
    case JSON_INTEGER:
        ck_assert(spc_jis(a, SPC_J_INT));
        ck_assert(a->u.i == json_integer_value(b));
        break;
    case JSON_REAL: {
        double x = json_real_value(b);

        ck_assert(spc_jis(a, SPC_J_REAL));
        ck_assert_msg(memcmp(&a->u.d, &x, sizeof(x)) == 0, "%.17g vs %.17g",
                      a->u.d, x);
        break;
    }
    case JSON_STRING:
        ck_assert(spc_jis(a, SPC_J_STRING));
        ck_assert_uint_eq(a->n, json_string_length(b));
        ck_assert(memcmp(a->u.s, json_string_value(b), a->n) == 0);
        break;
    case JSON_ARRAY: {
        const struct spc_jv *c = spc_jfirst(a);

        ck_assert(spc_jis(a, SPC_J_ARRAY));
        ck_assert_uint_eq(spc_jsize(a), json_array_size(b));
        for (i = 0; i < json_array_size(b); i++, c = c->next) {
            ck_assert(spc_jarr_get(a, i) == c);
            same(c, json_array_get(b, i));
        }
        ck_assert_ptr_null(c);
        break;
    }
    case JSON_OBJECT: {
        const char *k;
        json_t *v;

        ck_assert(spc_jis(a, SPC_J_OBJECT));
        ck_assert_uint_eq(spc_jsize(a), json_object_size(b));
        json_object_foreach((json_t *)b, k, v) same(spc_jobj_get(a, k), v);
        break;
    }
    }
}

static json_t *random_value(struct t_rng *r, int depth);

static json_t *random_string(struct t_rng *r)
{
    static const char *const pieces[] = {
        "a",       "Z",  " ",    "\"",       "\\",           "/",
        "\n",      "\t", "\x01", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x98\x80",
        "VCC 3V3", "{",  "]",    ":"};
    char buf[128] = "";
    int n = (int)(t_unif(r) * 8), i;

    for (i = 0; i < n; i++)
        strcat(buf, pieces[(int)(t_unif(r) * SPC_ARRAY_SIZE(pieces))]);
    return json_string(buf);
}

static json_t *random_number(struct t_rng *r)
{
    double u = t_unif(r);

    if (u < 0.3)
        return json_integer((json_int_t)((t_unif(r) - 0.5) * 1e12));
    if (u < 0.6) /* measurement-like: few decimals */
        return json_real(round((t_unif(r) - 0.5) * 2e7) / 1e4);
    if (u < 0.8)
        return json_real(t_norm(r) * pow(10, (int)(t_unif(r) * 40) - 20));
    return json_real((t_unif(r) - 0.5) * pow(10, (int)(t_unif(r) * 600) - 300));
}

static json_t *random_value(struct t_rng *r, int depth)
{
    double u = t_unif(r);
    int i, n;

    if (depth > 4 || u < 0.5) {
        double k = t_unif(r);

        if (k < 0.35)
            return random_number(r);
        if (k < 0.7)
            return random_string(r);
        return k < 0.8 ? json_null() : k < 0.9 ? json_true() : json_false();
    }
    n = (int)(t_unif(r) * 6);
    if (u < 0.75) {
        json_t *a = json_array();

        for (i = 0; i < n; i++)
            json_array_append_new(a, random_value(r, depth + 1));
        return a;
    } else {
        json_t *o = json_object();
        char key[16];

        for (i = 0; i < n; i++) {
            snprintf(key, sizeof(key), "k%d", (int)(t_unif(r) * 8));
            json_object_set_new(o, key, random_value(r, depth + 1));
        }
        return o;
    }
}

/* 2000 random documents: our tree equals jansson's, value for value. */
START_TEST(random_documents_match_jansson)
{
    struct t_rng r;
    struct spc_jdoc d;
    char err[128];
    int i;

    t_rng_seed(&r, 42);
    spc_jdoc_init(&d);
    for (i = 0; i < 2000; i++) {
        json_t *doc = json_array(), *back;
        char *text;
        const struct spc_jv *root;
        json_error_t jerr;

        json_array_append_new(doc, random_value(&r, 0));
        text = json_dumps(doc, JSON_COMPACT | (i & 1 ? JSON_INDENT(2) : 0));
        root = spc_json_parse(&d, text, strlen(text), err, sizeof(err));
        ck_assert_msg(root != NULL, "%s: %s", err, text);
        back = json_loads(text, 0, &jerr);
        ck_assert_ptr_nonnull(back);
        same(root, back);
        json_decref(back);
        json_decref(doc);
        free(text);
    }
    spc_jdoc_fini(&d);
}
END_TEST

/* Decimal strings of every shape: bit-identical to strtod (the Clinger
 * fast path and its boundaries: 2^53, 10^22, 19 digits). */
START_TEST(numbers_match_strtod)
{
    static const char *const fixed[] = {"0.1",
                                        "0.2",
                                        "0.3",
                                        "1e22",
                                        "1e23",
                                        "9007199254740993",
                                        "9007199254740993.0",
                                        "4.35",
                                        "2.675",
                                        "1.7976931348623157e308",
                                        "2.2250738585072014e-308",
                                        "4.9e-324",
                                        "1e-400",
                                        "123456789012345678",
                                        "1234567890123456789.5",
                                        "0.000000000000000000001",
                                        "-0.0",
                                        "3.3036",
                                        "12.600",
                                        "1.23456789e-7",
                                        "8.98",
                                        "0.1e1",
                                        "10E-2"};
    struct t_rng r;
    struct spc_jdoc d;
    char buf[96], doc[128], err[128];
    size_t i;

    spc_jdoc_init(&d);
    t_rng_seed(&r, 7);
    for (i = 0; i < 20000 + SPC_ARRAY_SIZE(fixed); i++) {
        const struct spc_jv *root;
        double want;

        if (i < SPC_ARRAY_SIZE(fixed)) {
            snprintf(buf, sizeof(buf), "%s", fixed[i]);
        } else {
            int digits = 1 + (int)(t_unif(&r) * 20), k, pos;

            pos =
                snprintf(buf, sizeof(buf), "%s%d.", t_unif(&r) < 0.3 ? "-" : "",
                         (int)(t_unif(&r) * 1000));
            for (k = 0; k < digits; k++)
                buf[pos++] = (char)('0' + (int)(t_unif(&r) * 10));
            buf[pos] = '\0';
            if (t_unif(&r) < 0.4)
                snprintf(buf + pos, sizeof(buf) - (size_t)pos, "e%d",
                         (int)(t_unif(&r) * 60) - 30);
        }
        snprintf(doc, sizeof(doc), "[%s]", buf);
        root = spc_json_parse(&d, doc, strlen(doc), err, sizeof(err));
        ck_assert_msg(root != NULL, "%s: %s", buf, err);
        want = strtod(buf, NULL);
        ck_assert_msg(memcmp(&root->child->u.d, &want, sizeof(want)) == 0 ||
                          (root->child->type == SPC_J_INT &&
                           (double)root->child->u.i == want),
                      "%s: %.17g, strtod %.17g", buf, root->child->u.d, want);
    }
    spc_jdoc_fini(&d);
}
END_TEST

/* What jansson rejects, we reject, with the offset. */
START_TEST(errors)
{
    static const struct {
        const char *in, *why;
    } bad[] = {
        {"", "empty"},
        {"  ", "empty"},
        {"\"a string\"", "'[' or '{'"},
        {"{\"a\":1", "',' or '}'"},
        {"[1,]", "invalid token"},
        {"[01]", "',' or ']'"},
        {"[1.]", "invalid number"},
        {"[-]", "invalid number"},
        {"[1e]", "invalid number"},
        {"{a:1}", "string or '}'"},
        {"[\"\\x\"]", "invalid escape"},
        {"[\"\\u12\"]", "\\u escape"},
        {"[\"\\ud800\"]", "surrogate"},
        {"[\"\\udc00\"]", "surrogate"},
        {"[\"\\u0000\"]", "\\u0000"},
        {"[\"a\x01\"]", "control character"},
        {"[\"\xc3\"]", "UTF-8"},
        {"[\"\xed\xa0\x80\"]", "UTF-8"},     /* an encoded surrogate */
        {"[\"\xc0\xaf\"]", "UTF-8"},         /* overlong */
        {"[\"\xf4\x90\x80\x80\"]", "UTF-8"}, /* above U+10FFFF */
        {"[9223372036854775808]", "too big integer"},
        {"[1e999]", "overflow"},
        {"[tru]", "invalid token"},
        {"[] x", "end of input expected"},
        {"[\"unterminated", "unterminated"},
    };
    struct spc_jdoc d;
    char err[128];
    size_t i;

    spc_jdoc_init(&d);
    for (i = 0; i < SPC_ARRAY_SIZE(bad); i++) {
        json_error_t jerr;
        json_t *j = json_loads(bad[i].in, 0, &jerr);

        ck_assert_msg(j == NULL, "jansson accepts %s", bad[i].in);
        err[0] = '\0';
        ck_assert_msg(spc_json_parse(&d, bad[i].in, strlen(bad[i].in), err,
                                     sizeof(err)) == NULL,
                      "accepted %s", bad[i].in);
        ck_assert_msg(strstr(err, bad[i].why) && strstr(err, "offset"),
                      "%s: \"%s\", expected \"%s\"", bad[i].in, err,
                      bad[i].why);
    }
    /* a NUL byte inside the input */
    ck_assert_ptr_null(spc_json_parse(&d, "[1,\0 2]", 7, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "offset 3"));
    spc_jdoc_fini(&d);
}
END_TEST

START_TEST(nesting_limit_and_duplicates)
{
    struct spc_jdoc d;
    char err[128], *deep = malloc(2 * 600 + 1);
    const struct spc_jv *root;
    int i;

    spc_jdoc_init(&d);
    for (i = 0; i < 600; i++) {
        deep[i] = '[';
        deep[1199 - i] = ']';
    }
    deep[1200] = '\0';
    ck_assert_ptr_null(spc_json_parse(&d, deep, 1200, err, sizeof(err)));
    ck_assert_ptr_nonnull(strstr(err, "depth"));
    free(deep);
    /* the last of duplicate keys wins, as in jansson */
    root =
        spc_json_parse(&d, "{\"a\":1,\"b\":2,\"a\":3}", 19, err, sizeof(err));
    ck_assert_ptr_nonnull(root);
    ck_assert(spc_jobj_get(root, "a")->u.i == 3);
    ck_assert_ptr_null(spc_jobj_get(root, "c"));
    ck_assert_ptr_null(spc_jobj_get(spc_jobj_get(root, "a"), "x"));
    spc_jdoc_fini(&d);
}
END_TEST

START_TEST(measure_values)
{
    struct spc_jdoc d;
    char err[128];
    const struct spc_jv *root, *v;
    double x = 0;

    spc_jdoc_init(&d);
    root = spc_json_parse(&d,
                          "[3.3, \" 4.5 \", \"NaN\", null, true, 7, "
                          "\"Infinity\", \"1e999\", \"\"]",
                          61, err, sizeof(err));
    ck_assert_msg(root != NULL, "%s", err);
    v = spc_jfirst(root);
    ck_assert_int_eq(spc_jmeasure_value(v, &x), 1);
    ck_assert(x == 3.3);
    ck_assert_int_eq(spc_jmeasure_value(v = v->next, &x), 1);
    ck_assert(x == 4.5);
    ck_assert_int_eq(spc_jmeasure_value(v = v->next, &x), 0);
    ck_assert_int_eq(spc_jmeasure_value(v = v->next, &x), 0);
    ck_assert_int_eq(spc_jmeasure_value(v = v->next, &x), -1);
    ck_assert_int_eq(spc_jmeasure_value(v = v->next, &x), 1);
    ck_assert(x == 7.0);
    ck_assert_int_eq(spc_jmeasure_value(v = v->next, &x), 0);
    ck_assert_int_eq(spc_jmeasure_value(v = v->next, &x), 0);
    ck_assert_int_eq(spc_jmeasure_value(v = v->next, &x), 0);
    spc_jdoc_fini(&d);
}
END_TEST

Suite *json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, random_documents_match_jansson);
    tcase_add_test(tc, numbers_match_strtod);
    tcase_add_test(tc, errors);
    tcase_add_test(tc, nesting_limit_and_duplicates);
    tcase_add_test(tc, measure_values);
    suite_add_tcase(s, tc);
    return s;
}
