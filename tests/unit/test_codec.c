/*
 * test_codec.c -- key state checkpoints: a restored engine continues exactly
 * like the one that was never stopped (byte-identical anomaly JSON), and
 * corrupt or foreign blobs are rejected without harm.
 */
#include "spc_test.h"

#include "spc_codec.h"

#define UNITS 1600
#define NKEYS 7

static const char *const steps[NKEYS] = {"A/shift",   "A/drift", "A/fixture",
                                         "A/stuck",   "A/noisy", "A/invalid",
                                         SPC_UUT_STEP};
static const char *const stations[4] = {"ST-1", "ST-2", "ST-3", "ST-4"};
static const char *const fixtures[8] = {"F1a", "F1b", "F2a", "F2b",
                                        "F3a", "F3b", "F4a", "F4b"};

/* The report of unit u: deterministic given u (own generator per unit). */
static void report(long u, struct spc_event *ev)
{
    struct t_rng r;
    int k, st = (int)(u % 4), fx = st * 2 + (int)(u / 4) % 2;

    t_rng_seed(&r, 1000 + (uint64_t)u);
    for (k = 0; k < NKEYS; k++) {
        struct spc_event *e = &ev[k];
        double x = 10 + t_norm(&r);

        t_event(e, steps[k], x, u);
        e->meta[SPC_DIM_STATION] = stations[st];
        e->meta[SPC_DIM_FIXTURE] = fixtures[fx];
        e->meta[SPC_DIM_FW] = u % 3 ? "3.4" : "3.5";
        e->comp_op = "GELE";
        e->has_low = e->has_high = 1;
        e->low_limit = 5.5;
        e->high_limit = 14.5;
        if (k == 0 && u >= 900)
            e->value += 1.5;
        if (k == 1 && u >= 800)
            e->value += (u - 800) * 0.02;
        if (k == 2 && u >= 1000 && fx == 5)
            e->value += 2.5;
        if (k == 3 && u >= 1100 && st == 2)
            e->value = 10.125;
        if (k == 4 && u >= 1200)
            e->value = 10 + 2.5 * (e->value - 10);
        if (k == 5 && u >= 1000 && u % 3 == 0)
            e->value = NAN;
        if (k == 6) {
            e->kind = SPC_KIND_ATTRIBUTE;
            e->measurement = SPC_UUT_MEAS;
            e->passed = !(u >= 1300 && fx == 1 && u % 2);
        }
        e->value_valid = isfinite(e->value) && k != 6;
        if (k != 6)
            e->passed = e->value_valid && e->value >= 5.5 && e->value <= 14.5;
    }
}

struct out {
    struct spc_buf b;
    size_t lines;
};

static void json_sink(const struct spc_anomaly *a, void *opaque)
{
    struct out *o = opaque;

    spc_anomaly_to_json(a, &o->b);
    spc_buf_putc(&o->b, '\n');
    o->lines++;
}

static void run(struct spc_engine *e, long from, long to)
{
    struct spc_event ev[NKEYS];
    long u;

    for (u = from; u < to; u++) {
        report(u, ev);
        ck_assert_int_eq(spc_engine_process(e, ev, NKEYS), SPC_OK);
    }
}

struct blobs {
    struct spc_buf data[64];
    int n;
};

static int collect(const char *id, size_t idlen, const void *blob, size_t len,
                   void *opaque)
{
    struct blobs *bl = opaque;

    (void)id;
    (void)idlen;
    ck_assert_int_lt(bl->n, 64);
    spc_buf_init(&bl->data[bl->n]);
    spc_buf_append(&bl->data[bl->n], blob, len);
    bl->n++;
    return 0;
}

static void split_run(struct spc_config *cfg, long split, const char *whole)
{
    char err[256];
    struct spc_engine *b = spc_engine_new(cfg, err, sizeof(err));
    struct spc_engine *c = spc_engine_new(cfg, err, sizeof(err));
    struct out ob = {{0}, 0}, oc = {{0}, 0};
    struct blobs bl;
    int i;

    memset(&bl, 0, sizeof(bl));
    spc_buf_init(&ob.b);
    spc_buf_init(&oc.b);
    spc_engine_set_sink(b, json_sink, &ob);
    spc_engine_set_sink(c, json_sink, &oc);
    run(b, 0, split);
    ck_assert_int_eq(spc_codec_export(b, 0, collect, &bl), SPC_OK);
    ck_assert_int_eq(bl.n, NKEYS);
    for (i = 0; i < bl.n; i++)
        ck_assert_msg(spc_codec_import(c, bl.data[i].data, bl.data[i].len, err,
                                       sizeof(err)) == SPC_OK,
                      "%s", err);
    run(c, split, UNITS);
    /* what the uninterrupted run wrote after the split == the restored */
    ck_assert_uint_ge(strlen(whole), ob.b.len);
    ck_assert_msg(ob.b.len == 0 || !strncmp(whole, ob.b.data, ob.b.len),
                  "split %ld: the first part differs", split);
    ck_assert_msg(oc.b.len > 0, "split %ld: no anomaly after the split", split);
    ck_assert_msg(!strcmp(whole + ob.b.len, oc.b.data),
                  "split %ld: restored engine diverged", split);
    for (i = 0; i < bl.n; i++)
        spc_buf_fini(&bl.data[i]);
    spc_buf_fini(&ob.b);
    spc_buf_fini(&oc.b);
    spc_engine_destroy(b);
    spc_engine_destroy(c);
}

START_TEST(test_codec_restored_engine_continues_identically)
{
    static const long splits[] = {1, 60, 150, 701, 999, 1150, 1333};
    struct spc_config *cfg = t_config(NULL);
    char err[256];
    struct spc_engine *a = spc_engine_new(cfg, err, sizeof(err));
    struct out oa = {{0}, 0};
    size_t i;

    spc_buf_init(&oa.b);
    spc_engine_set_sink(a, json_sink, &oa);
    run(a, 0, UNITS);
    /* the stream has anomalies of many detectors after every split */
    ck_assert_uint_ge(oa.lines, 6);
    for (i = 0; i < SPC_ARRAY_SIZE(splits); i++)
        split_run(cfg, splits[i], oa.b.data);
    spc_buf_fini(&oa.b);
    spc_engine_destroy(a);
    spc_config_destroy(cfg);
}
END_TEST

START_TEST(test_codec_dirty_export_only_changed_keys)
{
    struct spc_config *cfg = t_config(NULL);
    char err[256];
    struct spc_engine *e = spc_engine_new(cfg, err, sizeof(err));
    struct blobs bl;
    struct spc_event ev;
    int i;

    memset(&bl, 0, sizeof(bl));
    run(e, 0, 10);
    spc_engine_clear_dirty(e);
    t_event(&ev, "A/shift", 10, 11);
    ck_assert_int_eq(spc_engine_process(e, &ev, 1), SPC_OK);
    ck_assert_int_eq(spc_codec_export(e, 1, collect, &bl), SPC_OK);
    ck_assert_int_eq(bl.n, 1);
    for (i = 0; i < bl.n; i++)
        spc_buf_fini(&bl.data[i]);
    spc_engine_destroy(e);
    spc_config_destroy(cfg);
}
END_TEST

START_TEST(test_codec_rejects_corrupt_blobs)
{
    struct spc_config *cfg = t_config(NULL);
    char err[256];
    struct spc_engine *e = spc_engine_new(cfg, err, sizeof(err));
    struct spc_engine *f = spc_engine_new(cfg, err, sizeof(err));
    struct blobs bl;
    struct spc_buf *b;
    size_t cut;
    unsigned char *copy;
    struct spc_engine_stats st;

    memset(&bl, 0, sizeof(bl));
    run(e, 0, 300);
    ck_assert_int_eq(spc_codec_export(e, 0, collect, &bl), SPC_OK);
    b = &bl.data[0];
    /* every truncation is an error, never a crash (ASan build checks) */
    for (cut = 0; cut < b->len; cut += (cut < 64 ? 1 : 97))
        ck_assert_int_ne(spc_codec_import(f, b->data, cut, err, sizeof(err)),
                         SPC_OK);
    /* another version */
    copy = malloc(b->len);
    memcpy(copy, b->data, b->len);
    copy[4] = 99;
    ck_assert_int_eq(spc_codec_import(f, copy, b->len, err, sizeof(err)),
                     SPC_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err, "version 99"));
    /* trailing garbage */
    copy = realloc(copy, b->len + 3);
    memcpy(copy, b->data, b->len);
    ck_assert_int_eq(spc_codec_import(f, copy, b->len + 3, err, sizeof(err)),
                     SPC_ERR_PARSE);
    free(copy);
    /* the intact blob still imports */
    ck_assert_int_eq(spc_codec_import(f, b->data, b->len, err, sizeof(err)),
                     SPC_OK);
    spc_engine_get_stats(f, &st);
    ck_assert_uint_ge(st.keys, 1);
    for (cut = 0; cut < (size_t)bl.n; cut++)
        spc_buf_fini(&bl.data[cut]);
    spc_engine_destroy(e);
    spc_engine_destroy(f);
    spc_config_destroy(cfg);
}
END_TEST

Suite *codec_suite(void)
{
    Suite *s = suite_create("codec");
    TCase *t = tcase_create("codec");

    tcase_set_timeout(t, 120);
    tcase_add_test(t, test_codec_restored_engine_continues_identically);
    tcase_add_test(t, test_codec_dirty_export_only_changed_keys);
    tcase_add_test(t, test_codec_rejects_corrupt_blobs);
    suite_add_tcase(s, t);
    return s;
}
