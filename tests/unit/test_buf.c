/*
 * test_buf.c -- spc_buf: JSON string escaping (RFC 8259 section 7, invalid
 * UTF-8 replaced byte by byte with U+FFFD), round-trip number formatting,
 * the little-endian codec and its sticky reader error, the chunked arena and
 * the sticky OOM state under injected allocation failures.
 *
 * Expected outputs are written out by hand from the RFC / the UTF-8 table
 * (RFC 3629 section 4), or checked by an independent parser (jansson, strtod).
 */
#include "spc_test.h"

#include "spc_buf.h"

#include <float.h>
#include <jansson.h>
#include <stdlib.h>

/* For loops of many checks: ck_assert marks a point (a pipe write) on
 * success too, which would dominate the run time. */
#define T_REQUIRE(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

/* spc_json_str of @p s into a fresh buffer, compared with @p want. */
static void check_json_str(const char *s, size_t n, const char *want)
{
    struct spc_buf b;

    spc_buf_init(&b);
    spc_json_strn(&b, s, n);
    ck_assert(spc_buf_ok(&b));
    ck_assert_uint_eq(b.len, strlen(want));
    ck_assert_msg(memcmp(b.data, want, b.len) == 0, "got %s, want %s", b.data,
                  want);
    spc_buf_fini(&b);
}

#define JSTR(lit, want) check_json_str(lit, sizeof(lit) - 1, want)

/* U+FFFD REPLACEMENT CHARACTER in UTF-8. */
#define FFFD "\xef\xbf\xbd"

START_TEST(test_buf_json_escapes_quotes_backslash_controls)
{
    struct spc_buf b;

    JSTR("", "\"\"");
    JSTR("plain text 123", "\"plain text 123\"");
    JSTR("a\"b", "\"a\\\"b\"");
    JSTR("a\\b", "\"a\\\\b\"");
    JSTR("\n\t\r", "\"\\n\\t\\r\"");
    /* Other C0 controls: \u00XX with lower-case hex (any case is valid). */
    JSTR("\x01", "\"\\u0001\"");
    JSTR("\x1f", "\"\\u001f\"");
    JSTR("\b\f", "\"\\u0008\\u000c\"");
    JSTR("x\0y", "\"x\\u0000y\""); /* embedded NUL through _strn */
    /* '/' and DEL need no escape in JSON. */
    JSTR("a/b\x7f", "\"a/b\x7f\"");

    spc_buf_init(&b);
    spc_json_str(&b, NULL);
    ck_assert_str_eq(b.data, "null");
    spc_buf_reset(&b);
    spc_json_str(&b, "k");
    ck_assert_str_eq(b.data, "\"k\"");
    spc_buf_reset(&b);
    spc_json_key(&b, "key");
    ck_assert_str_eq(b.data, "\"key\":");
    spc_buf_fini(&b);
}
END_TEST

START_TEST(test_buf_json_utf8_valid_passes_through)
{
    /* 2-, 3- and 4-byte sequences and the extremes U+0080, U+07FF, U+0800,
     * U+FFFF, U+10000, U+10FFFF (RFC 3629 table). */
    JSTR("caf\xc3\xa9", "\"caf\xc3\xa9\"");           /* U+00E9 */
    JSTR("\xe2\x82\xac 5", "\"\xe2\x82\xac 5\"");     /* U+20AC */
    JSTR("\xf0\x9f\x98\x80", "\"\xf0\x9f\x98\x80\""); /* U+1F600 */
    JSTR("\xc2\x80\xdf\xbf", "\"\xc2\x80\xdf\xbf\""); /* U+80 U+7FF */
    JSTR("\xe0\xa0\x80\xef\xbf\xbf", "\"\xe0\xa0\x80\xef\xbf\xbf\"");
    JSTR("\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
         "\"\xf0\x90\x80\x80\xf4\x8f\xbf\xbf\"");
    /* U+D7FF and U+E000 border the surrogates and are valid. */
    JSTR("\xed\x9f\xbf\xee\x80\x80", "\"\xed\x9f\xbf\xee\x80\x80\"");
}
END_TEST

START_TEST(test_buf_json_utf8_invalid_bytes_become_fffd)
{
    /* Each byte that does not start a valid sequence becomes one U+FFFD;
     * scanning resumes at the next byte. */
    JSTR("\x80", "\"" FFFD "\"");          /* lone continuation */
    JSTR("a\xff\x62", "\"a" FFFD "b\"");   /* 0xFF is never valid UTF-8 */
    JSTR("\xc0\xaf", "\"" FFFD FFFD "\""); /* overlong '/' */
    JSTR("\xc1\xbf", "\"" FFFD FFFD "\""); /* overlong U+7F */
    JSTR("\xe0\x80\xaf", "\"" FFFD FFFD FFFD "\""); /* overlong 3-byte */
    JSTR("\xf0\x80\x80\xaf", "\"" FFFD FFFD FFFD FFFD "\""); /* overlong 4 */
    JSTR("\xed\xa0\x80", "\"" FFFD FFFD FFFD "\""); /* surrogate U+D800 */
    JSTR("\xed\xbf\xbf", "\"" FFFD FFFD FFFD "\""); /* surrogate U+DFFF */
    JSTR("\xf4\x90\x80\x80", "\"" FFFD FFFD FFFD FFFD "\""); /* > U+10FFFF */
    JSTR("\xf5\x80", "\"" FFFD FFFD "\"");      /* lead byte > F4 */
    JSTR("\xe2\x82", "\"" FFFD FFFD "\"");      /* truncated at the end */
    JSTR("\xe2\x82\x41", "\"" FFFD FFFD "A\""); /* truncated mid-string */
    JSTR("\xc3\"", "\"" FFFD "\\\"\"");         /* bad tail is a quote */
}
END_TEST

/* Any byte string: the output is a JSON string jansson accepts (so it is
 * valid UTF-8 with every required escape), and when the input was valid
 * UTF-8 it decodes back to exactly the input bytes. */
START_TEST(test_buf_json_random_bytes_parse_back)
{
    struct t_rng r;
    struct spc_buf b;
    char s[64];
    int iter, valid_seen = 0;

    t_rng_seed(&r, 42);
    spc_buf_init(&b);
    for (iter = 0; iter < 20000; iter++) {
        size_t n = (size_t)(t_unif(&r) * sizeof(s)), i;
        int mode = iter % 3;
        json_error_t jerr;
        json_t *j;

        for (i = 0; i < n; i++) {
            double u = t_unif(&r);
            /* mode 0: any byte; 1: mostly ASCII + controls; 2: valid
             * UTF-8 built from code points */
            s[i] = (char)(mode == 0 ? (int)(u * 256) : (int)(u * 128));
        }
        if (mode == 2) {
            /* Re-fill with encoded code points (2, 3 and 4 bytes). */
            size_t k = 0;

            while (k + 4 <= sizeof(s) && t_unif(&r) < 0.9) {
                uint32_t cp = (uint32_t)(t_unif(&r) * 0x110000);

                if (cp >= 0xd800 && cp <= 0xdfff)
                    cp = 0xe9;
                if (cp < 0x80) {
                    s[k++] = (char)cp;
                } else if (cp < 0x800) {
                    s[k++] = (char)(0xc0 | cp >> 6);
                    s[k++] = (char)(0x80 | (cp & 0x3f));
                } else if (cp < 0x10000) {
                    s[k++] = (char)(0xe0 | cp >> 12);
                    s[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    s[k++] = (char)(0x80 | (cp & 0x3f));
                } else {
                    s[k++] = (char)(0xf0 | cp >> 18);
                    s[k++] = (char)(0x80 | ((cp >> 12) & 0x3f));
                    s[k++] = (char)(0x80 | ((cp >> 6) & 0x3f));
                    s[k++] = (char)(0x80 | (cp & 0x3f));
                }
            }
            n = k;
        }
        spc_buf_reset(&b);
        spc_json_strn(&b, s, n);
        T_REQUIRE(spc_buf_ok(&b), "oom");
        j = json_loadb(b.data, b.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        T_REQUIRE(j != NULL && json_is_string(j),
                  "iter %d: jansson rejected %s: %s", iter, b.data, jerr.text);
        if (mode != 0) { /* valid UTF-8 by construction */
            T_REQUIRE(json_string_length(j) == n &&
                          memcmp(json_string_value(j), s, n) == 0,
                      "iter %d: %s did not decode to the input", iter, b.data);
            valid_seen++;
        }
        json_decref(j);
    }
    ck_assert_int_gt(valid_seen, 10000);
    spc_buf_fini(&b);
}
END_TEST

/* A double from 64 random bits, or a random magnitude over the whole
 * exponent range including subnormals. */
static double random_double(struct t_rng *r, int i)
{
    uint64_t u;
    double v;

    switch (i % 4) {
    case 0:
        do {
            u = (uint64_t)(t_unif(r) * 4294967296.0) << 32 |
                (uint64_t)(t_unif(r) * 4294967296.0);
            memcpy(&v, &u, sizeof(v));
        } while (!isfinite(v));
        return v;
    case 1:
        return ldexp(t_unif(r) + 0.5, (int)(t_unif(r) * 2098) - 1074);
    case 2:
        return t_norm(r) * 1e6;
    default:
        return round(t_norm(r) * 1000.0) / 1000.0; /* decimal-ish */
    }
}

/*
 * Regression (spc_buf.c, spc_fmt_double, fixed), visible only under
 * -fsanitize=float-cast-overflow (part of clang's -fsanitize=undefined, not
 * GCC's, so the SPC_SANITIZE build with GCC passes): the integer test
 *     if (v == (double)(int64_t)v && fabs(v) < 1e15)
 * converts before it checks the range, and converting a double >= 2^63
 * (1e300, DBL_MAX below) to int64_t is undefined behaviour (C11
 * 6.3.1.4p1).  On x86-64 it happens to yield INT64_MIN, so the output is
 * right; elsewhere or under UBSan it is not.  Fix: test fabs(v) < 1e15
 * first.
 */
START_TEST(test_buf_json_num_round_trips)
{
    static const double fixed[] = {0.1,
                                   1.0 / 3.0,
                                   -2.5,
                                   1e-300,
                                   DBL_MIN,
                                   4.9406564584124654e-324,
                                   DBL_MAX,
                                   -DBL_MAX,
                                   1e15,
                                   1e16,
                                   1e300,
                                   9007199254740993.0,
                                   123456789.123456789,
                                   5e-324,
                                   1e21,
                                   0.30000000000000004};
    struct t_rng r;
    char out[64];
    size_t i;

    t_rng_seed(&r, 7);
    for (i = 0; i < 200000 + SPC_ARRAY_SIZE(fixed); i++) {
        double v =
            i < SPC_ARRAY_SIZE(fixed) ? fixed[i] : random_double(&r, (int)i);
        size_t n;
        char *end;

        if (i & 1)
            v = -v;
        n = spc_fmt_double(out, sizeof(out), v);
        /* "%.17g" of any double fits in 24 bytes */
        T_REQUIRE(n == strlen(out) && n <= 24, "length %zu of %s", n, out);
        T_REQUIRE(strtod(out, &end) == v && *end == '\0', "%.17g printed as %s",
                  v, out);
    }
}
END_TEST

START_TEST(test_buf_json_num_integers_and_specials)
{
    struct t_rng r;
    struct spc_buf b;
    char out[64], want[32];
    int i;

    /* Integer-valued doubles below 1e15 print like %lld: no '.', no 'e'. */
    t_rng_seed(&r, 11);
    for (i = 0; i < 100000; i++) {
        double v = trunc(ldexp(t_unif(&r), (int)(t_unif(&r) * 50)));

        if (i & 1)
            v = -v;
        if (fabs(v) >= 1e15)
            continue;
        spc_fmt_double(out, sizeof(out), v);
        snprintf(want, sizeof(want), "%lld", (long long)v);
        T_REQUIRE(strcmp(out, want) == 0, "%.17g printed as %s", v, out);
    }
    spc_fmt_double(out, sizeof(out), 999999999999999.0);
    ck_assert_str_eq(out, "999999999999999");
    spc_fmt_double(out, sizeof(out), -0.0);
    ck_assert_str_eq(out, "0");
    /* Shortest form: these have 15 significant digits or fewer. */
    spc_fmt_double(out, sizeof(out), 0.1);
    ck_assert_str_eq(out, "0.1");
    spc_fmt_double(out, sizeof(out), -2.5e-7);
    ck_assert_str_eq(out, "-2.5e-07");
    spc_fmt_double(out, sizeof(out), 1.0 / 3.0);
    ck_assert_str_eq(out, "0.33333333333333331"); /* needs 17 digits */

    spc_buf_init(&b);
    spc_json_num(&b, NAN);
    spc_buf_putc(&b, ',');
    spc_json_num(&b, INFINITY);
    spc_buf_putc(&b, ',');
    spc_json_num(&b, -INFINITY);
    spc_buf_putc(&b, ',');
    spc_json_num(&b, 42.0);
    spc_buf_putc(&b, ',');
    spc_json_int(&b, INT64_MIN);
    ck_assert_str_eq(b.data, "null,null,null,42,-9223372036854775808");
    spc_buf_fini(&b);
}
END_TEST

START_TEST(test_buf_printf_grows)
{
    struct spc_buf b;
    char big[1000];
    size_t i;

    for (i = 0; i < sizeof(big) - 1; i++)
        big[i] = (char)('a' + i % 26);
    big[sizeof(big) - 1] = '\0';
    spc_buf_init(&b);
    spc_buf_printf(&b, "%d-%s", 7, "x");
    ck_assert_str_eq(b.data, "7-x");
    /* longer than the 64 bytes reserved up front and than the first 256 */
    spc_buf_printf(&b, "[%s]", big);
    ck_assert(spc_buf_ok(&b));
    ck_assert_uint_eq(b.len, 3 + 2 + 999);
    ck_assert(memcmp(b.data + 4, big, 999) == 0);
    ck_assert_int_eq(b.data[b.len - 1], ']');
    ck_assert_int_eq(b.data[b.len], '\0');
    ck_assert_uint_ge(b.cap, b.len + 1);
    spc_buf_reset(&b);
    ck_assert_uint_eq(b.len, 0);
    ck_assert_str_eq(b.data, "");
    spc_buf_fini(&b);
    ck_assert_ptr_null(b.data);
}
END_TEST

START_TEST(test_buf_le_codec_round_trip)
{
    /* Little-endian layout written out by hand. */
    static const unsigned char want[] = {
        0xab,                                           /* u8 */
        0xef, 0xbe,                                     /* u16 0xbeef */
        0x04, 0x03, 0x02, 0x01,                         /* u32 */
        0x08, 0x07, 0x06, 0x05, 0x04, 0x03, 0x02, 0x01, /* u64 */
        0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf0, 0x3f, /* f64 1.0 */
        0x03, 0x00, 0x00, 0x00, 'a',  'b',  'c',        /* str "abc" */
        0x00, 0x00, 0x00, 0x00,                         /* str "" */
        0xff, 0xff, 0xff, 0xff,                         /* str NULL */
    };
    const double fvals[] = {-0.0, 4.9406564584124654e-324, DBL_MAX, -INFINITY,
                            3.141592653589793};
    struct spc_buf b;
    struct spc_rd rd;
    uint64_t nan_bits = 0x7ff800000000beefULL, bits;
    double nan_in, f;
    const char *s;
    uint32_t len;
    size_t i;

    spc_buf_init(&b);
    spc_buf_u8(&b, 0xab);
    spc_buf_u16(&b, 0xbeef);
    spc_buf_u32(&b, 0x01020304u);
    spc_buf_u64(&b, 0x0102030405060708ULL);
    spc_buf_f64(&b, 1.0);
    spc_buf_str(&b, "abc");
    spc_buf_str(&b, "");
    spc_buf_str(&b, NULL);
    ck_assert_uint_eq(b.len, sizeof(want));
    ck_assert(memcmp(b.data, want, sizeof(want)) == 0);

    memcpy(&nan_in, &nan_bits, 8);
    spc_buf_f64(&b, nan_in);
    for (i = 0; i < SPC_ARRAY_SIZE(fvals); i++)
        spc_buf_f64(&b, fvals[i]);
    spc_buf_u8(&b, 0);
    spc_buf_u16(&b, UINT16_MAX);
    spc_buf_u32(&b, UINT32_MAX - 1); /* not the NULL marker here */
    spc_buf_u64(&b, UINT64_MAX);
    ck_assert(spc_buf_ok(&b));

    spc_rd_init(&rd, b.data, b.len);
    ck_assert_uint_eq(spc_rd_u8(&rd), 0xab);
    ck_assert_uint_eq(spc_rd_u16(&rd), 0xbeef);
    ck_assert_uint_eq(spc_rd_u32(&rd), 0x01020304u);
    ck_assert(spc_rd_u64(&rd) == 0x0102030405060708ULL);
    ck_assert(spc_rd_f64(&rd) == 1.0);
    s = spc_rd_str(&rd, &len);
    ck_assert_uint_eq(len, 3);
    ck_assert(s && memcmp(s, "abc", 3) == 0);
    s = spc_rd_str(&rd, &len);
    ck_assert_ptr_nonnull(s);
    ck_assert_uint_eq(len, 0);
    s = spc_rd_str(&rd, &len);
    ck_assert_ptr_null(s);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(rd.err, 0); /* NULL is a value, not an error */
    f = spc_rd_f64(&rd);
    memcpy(&bits, &f, 8);
    ck_assert(bits == nan_bits); /* NaN payload kept bit for bit */
    for (i = 0; i < SPC_ARRAY_SIZE(fvals); i++) {
        uint64_t a, e;

        f = spc_rd_f64(&rd);
        memcpy(&a, &f, 8);
        memcpy(&e, &fvals[i], 8);
        ck_assert(a == e); /* -0.0 keeps its sign */
    }
    ck_assert_uint_eq(spc_rd_u8(&rd), 0);
    ck_assert_uint_eq(spc_rd_u16(&rd), UINT16_MAX);
    ck_assert_uint_eq(spc_rd_u32(&rd), UINT32_MAX - 1);
    ck_assert(spc_rd_u64(&rd) == UINT64_MAX);
    ck_assert_int_eq(rd.err, 0);
    ck_assert(rd.p == rd.end);
    ck_assert_uint_eq(spc_rd_u8(&rd), 0); /* one past the end */
    ck_assert_int_eq(rd.err, 1);
    spc_buf_fini(&b);
}
END_TEST

START_TEST(test_buf_reader_truncated_is_sticky)
{
    unsigned char in[16];
    struct spc_rd rd;
    const char *s;
    uint32_t len;
    size_t cut;

    memset(in, 0x11, sizeof(in));
    /* Every read wider than what is left fails and returns 0. */
    spc_rd_init(&rd, in, 7);
    ck_assert(spc_rd_u64(&rd) == 0);
    ck_assert_int_eq(rd.err, 1);
    /* sticky: even a read that would fit now fails */
    ck_assert_uint_eq(spc_rd_u8(&rd), 0);
    ck_assert_uint_eq(spc_rd_u16(&rd), 0);
    ck_assert_int_eq(rd.err, 1);

    for (cut = 0; cut < 4; cut++) {
        spc_rd_init(&rd, in, cut);
        ck_assert_uint_eq(spc_rd_u32(&rd), 0);
        ck_assert_int_eq(rd.err, 1);
    }
    spc_rd_init(&rd, in, 1);
    ck_assert_uint_eq(spc_rd_u16(&rd), 0);
    ck_assert_int_eq(rd.err, 1);
    spc_rd_init(&rd, in, 0);
    ck_assert(spc_rd_f64(&rd) == 0.0);
    ck_assert_int_eq(rd.err, 1);

    /* A string whose length prefix claims more bytes than remain. */
    in[0] = 10, in[1] = in[2] = in[3] = 0;
    spc_rd_init(&rd, in, 4 + 9);
    s = spc_rd_str(&rd, &len);
    ck_assert_ptr_null(s);
    ck_assert_uint_eq(len, 0);
    ck_assert_int_eq(rd.err, 1);
    /* ... and one that fits exactly. */
    spc_rd_init(&rd, in, 4 + 10);
    s = spc_rd_str(&rd, &len);
    ck_assert_ptr_eq(s, (const char *)in + 4);
    ck_assert_uint_eq(len, 10);
    ck_assert_int_eq(rd.err, 0);
    /* truncated inside the length prefix */
    spc_rd_init(&rd, in, 3);
    ck_assert_ptr_null(spc_rd_str(&rd, &len));
    ck_assert_int_eq(rd.err, 1);
}
END_TEST

struct blk {
    unsigned char *p;
    size_t n;
};

START_TEST(test_buf_arena_stable_aligned)
{
    enum { NB = 20000 };
    struct blk *blk = calloc(NB, sizeof(*blk));
    struct spc_arena a;
    struct t_rng r;
    size_t i, j, total = 0;
    char *d;

    ck_assert_ptr_nonnull(blk);
    t_rng_seed(&r, 3);
    spc_arena_init(&a, 1024);
    for (i = 0; i < NB; i++) {
        /* mostly small, sometimes larger than a whole chunk */
        size_t n = i % 97 == 0 ? 1024 + (size_t)(t_unif(&r) * 5000)
                               : (size_t)(t_unif(&r) * 40);

        blk[i].p = spc_arena_alloc(&a, n);
        blk[i].n = n;
        total += n;
        T_REQUIRE(blk[i].p != NULL, "alloc %zu failed", i);
        T_REQUIRE((uintptr_t)blk[i].p % 8 == 0, "alloc %zu misaligned", i);
        memset(blk[i].p, (int)(i & 0xff), n);
    }
    ck_assert_uint_ge(a.bytes, total);
    /* Nothing moved or was overwritten by a later allocation. */
    for (i = 0; i < NB; i++)
        for (j = 0; j < blk[i].n; j++)
            T_REQUIRE(blk[i].p[j] == (i & 0xff), "block %zu byte %zu", i, j);

    d = spc_arena_strndup(&a, "abc\0def", 7);
    ck_assert_ptr_nonnull(d);
    ck_assert(memcmp(d, "abc\0def", 8) == 0); /* 7 bytes + NUL */
    d = spc_arena_strndup(&a, "xyz", 0);
    ck_assert_str_eq(d, "");
    spc_arena_fini(&a);
    ck_assert_ptr_null(a.head);
    ck_assert_uint_eq(a.bytes, 0);
    free(blk);
}
END_TEST

START_TEST(test_buf_arena_reset_keeps_memory)
{
    struct spc_arena a;
    size_t held, i;
    void *p;

    spc_arena_init(&a, 4096);
    for (i = 0; i < 100; i++) /* 100 x 1000 bytes: many chunks */
        ck_assert_ptr_nonnull(spc_arena_alloc(&a, 1000));
    ck_assert_ptr_nonnull(spc_arena_alloc(&a, 20000)); /* the largest */
    spc_arena_reset(&a);
    held = a.bytes;
    ck_assert_uint_gt(held, 20000); /* kept the 20000-byte chunk */
    ck_assert_uint_lt(held, 20000 + 4096);

    /* With every allocation failing, the kept chunk still serves 20000
     * bytes; the next byte needs a new chunk and fails cleanly. */
    spc_alloc_fail_after(1);
    for (i = 0; i < 20; i++) {
        p = spc_arena_alloc(&a, 1000);
        ck_assert_ptr_nonnull(p);
        memset(p, 0xa5, 1000);
    }
    ck_assert_ptr_null(spc_arena_alloc(&a, 8));
    ck_assert_ptr_null(spc_arena_strndup(&a, "x", 1));
    spc_alloc_fail_after(0);
    ck_assert_uint_eq(a.bytes, held);
    ck_assert_ptr_nonnull(spc_arena_alloc(&a, 8));
    spc_arena_fini(&a);

    /* reset of an empty arena */
    spc_arena_init(&a, 0);
    spc_arena_reset(&a);
    ck_assert_uint_eq(a.bytes, 0);
    ck_assert_ptr_nonnull(spc_arena_alloc(&a, 1));
    spc_arena_fini(&a);
}
END_TEST

START_TEST(test_buf_oom_is_sticky)
{
    struct spc_buf b;
    char fill[200];

    memset(fill, 'x', sizeof(fill));
    /* first allocation fails */
    spc_buf_init(&b);
    spc_alloc_fail_after(1);
    spc_buf_puts(&b, "hello");
    ck_assert(!spc_buf_ok(&b));
    ck_assert_uint_eq(b.len, 0);
    spc_alloc_fail_after(0);
    /* allocations work again, but the buffer stays failed */
    spc_buf_puts(&b, "more");
    spc_buf_putc(&b, 'c');
    spc_buf_printf(&b, "%d", 5);
    spc_json_str(&b, "s");
    spc_buf_u64(&b, 1);
    ck_assert(!spc_buf_ok(&b));
    ck_assert_uint_eq(b.len, 0);
    ck_assert_int_eq(spc_buf_reserve(&b, 1), 0);
    spc_buf_fini(&b);
    ck_assert(spc_buf_ok(&b));

    /* failure while growing: the bytes already written stay intact */
    spc_buf_init(&b);
    spc_buf_append(&b, fill, sizeof(fill)); /* fits the first 256 bytes */
    ck_assert(spc_buf_ok(&b));
    spc_alloc_fail_after(1);
    spc_buf_append(&b, fill, 100); /* needs 301 > 256 */
    ck_assert(!spc_buf_ok(&b));
    spc_alloc_fail_after(0);
    spc_buf_putc(&b, 'y');
    ck_assert(!spc_buf_ok(&b));
    ck_assert_uint_eq(b.len, sizeof(fill));
    ck_assert(memcmp(b.data, fill, sizeof(fill)) == 0);
    /* reset clears the error and reuses the memory */
    spc_buf_reset(&b);
    ck_assert(spc_buf_ok(&b));
    spc_buf_puts(&b, "ok");
    ck_assert_str_eq(b.data, "ok");
    spc_buf_fini(&b);

    /* printf needing a second reservation that fails */
    spc_buf_init(&b);
    spc_buf_putc(&b, '[');
    spc_alloc_fail_after(1);
    spc_buf_printf(&b, "%300s", "z");
    spc_alloc_fail_after(0);
    ck_assert(!spc_buf_ok(&b));
    ck_assert_uint_eq(b.len, 1);
    spc_buf_fini(&b);
}
END_TEST

Suite *buf_suite(void)
{
    Suite *s = suite_create("buf");
    TCase *t;

    t = tcase_create("json_str");
    tcase_add_test(t, test_buf_json_escapes_quotes_backslash_controls);
    tcase_add_test(t, test_buf_json_utf8_valid_passes_through);
    tcase_add_test(t, test_buf_json_utf8_invalid_bytes_become_fffd);
    tcase_add_test(t, test_buf_json_random_bytes_parse_back);
    suite_add_tcase(s, t);

    t = tcase_create("json_num");
    tcase_add_test(t, test_buf_json_num_round_trips);
    tcase_add_test(t, test_buf_json_num_integers_and_specials);
    suite_add_tcase(s, t);

    t = tcase_create("buffer");
    tcase_add_test(t, test_buf_printf_grows);
    tcase_add_test(t, test_buf_oom_is_sticky);
    suite_add_tcase(s, t);

    t = tcase_create("codec");
    tcase_add_test(t, test_buf_le_codec_round_trip);
    tcase_add_test(t, test_buf_reader_truncated_is_sticky);
    suite_add_tcase(s, t);

    t = tcase_create("arena");
    tcase_add_test(t, test_buf_arena_stable_aligned);
    tcase_add_test(t, test_buf_arena_reset_keeps_memory);
    suite_add_tcase(s, t);
    return s;
}
