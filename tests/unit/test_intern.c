/*
 * test_intern.c -- string interning: one id per distinct byte string, ids
 * dense from 1, lookups exact on length and bytes, lookups still right after
 * the table and the arena grew, and an allocation-failure sweep that leaves
 * the table unchanged on every SPC_ERR_NOMEM.
 */
#include "spc_test.h"

#include "spc_intern.h"

#include <stdlib.h>

#define T_REQUIRE(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

/* The i-th test string: varied lengths (1..~60 bytes), some sharing long
 * prefixes, written into @p out; @returns its length. */
static size_t key_of(unsigned long i, char *out, size_t size)
{
    int n = snprintf(out, size, "%lu/%s/%lu", i,
                     i % 3 ? "station" : "fixture-with-a-longer-name-x",
                     i * 2654435761ul % 1000003ul);

    return (size_t)n;
}

START_TEST(test_intern_same_string_same_id)
{
    struct spc_intern *t = spc_intern_new();
    uint32_t a, b, c, d;
    char buf[8] = "station";

    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(spc_intern_count(t), 1); /* the reserved id 0 */
    ck_assert_str_eq(spc_intern_str(t, SPC_INTERN_NONE), "");
    ck_assert_uint_eq(spc_intern_len(t, SPC_INTERN_NONE), 0);

    ck_assert_int_eq(spc_intern_add(t, "station", 7, &a), SPC_OK);
    ck_assert_int_eq(spc_intern_add(t, "fixture", 7, &b), SPC_OK);
    /* same bytes from another buffer, not NUL-terminated at len */
    ck_assert_int_eq(spc_intern_add(t, buf, 7, &c), SPC_OK);
    ck_assert_int_eq(spc_intern_add(t, "stationXYZ", 7, &d), SPC_OK);
    ck_assert_uint_eq(a, 1);
    ck_assert_uint_eq(b, 2);
    ck_assert_uint_eq(c, a);
    ck_assert_uint_eq(d, a);
    ck_assert_uint_eq(spc_intern_count(t), 3);
    ck_assert_str_eq(spc_intern_str(t, a), "station");
    ck_assert_str_eq(spc_intern_str(t, b), "fixture");
    ck_assert_uint_eq(spc_intern_len(t, b), 7);
    ck_assert_uint_eq(spc_intern_find(t, "station", 7), a);
    ck_assert_uint_eq(spc_intern_find(t, "fixture", 7), b);
    /* the table kept its own copy */
    buf[0] = 'X';
    ck_assert_str_eq(spc_intern_str(t, a), "station");
    ck_assert_uint_gt(spc_intern_bytes(t), 0);
    spc_intern_destroy(t);
    spc_intern_destroy(NULL);
}
END_TEST

START_TEST(test_intern_lengths_and_embedded_bytes)
{
    struct spc_intern *t = spc_intern_new();
    static const char raw[] = "ab\0cd\xff\x01";
    uint32_t ids[8], id;
    size_t i, j;

    ck_assert_ptr_nonnull(t);
    /* prefixes of one buffer are all different strings, "" included */
    for (i = 0; i < 8; i++) {
        ck_assert_int_eq(spc_intern_add(t, raw, i, &ids[i]), SPC_OK);
        ck_assert_uint_gt(ids[i], 0);
        for (j = 0; j < i; j++)
            ck_assert_uint_ne(ids[i], ids[j]);
    }
    for (i = 0; i < 8; i++) {
        ck_assert_uint_eq(spc_intern_find(t, raw, i), ids[i]);
        ck_assert_uint_eq(spc_intern_len(t, ids[i]), i);
        ck_assert(memcmp(spc_intern_str(t, ids[i]), raw, i) == 0);
        ck_assert_int_eq(spc_intern_str(t, ids[i])[i], '\0');
    }
    /* embedded NUL: "ab\0cd" differs from "ab\0ce" and from "ab" */
    ck_assert_int_eq(spc_intern_add(t, "ab\0ce", 5, &id), SPC_OK);
    ck_assert_uint_ne(id, ids[5]);
    ck_assert_uint_ne(id, ids[2]);
    ck_assert_uint_eq(spc_intern_count(t), 1 + 8 + 1);
    spc_intern_destroy(t);
}
END_TEST

START_TEST(test_intern_find_absent)
{
    struct spc_intern *t = spc_intern_new();
    uint32_t id;

    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq(spc_intern_find(t, "x", 1), SPC_INTERN_NONE);
    ck_assert_uint_eq(spc_intern_find(t, "", 0), SPC_INTERN_NONE);
    ck_assert_int_eq(spc_intern_add(t, "abc", 3, &id), SPC_OK);
    ck_assert_uint_eq(spc_intern_find(t, "ab", 2), SPC_INTERN_NONE);
    ck_assert_uint_eq(spc_intern_find(t, "abcd", 4), SPC_INTERN_NONE);
    ck_assert_uint_eq(spc_intern_find(t, "abd", 3), SPC_INTERN_NONE);
    ck_assert_uint_eq(spc_intern_find(t, "ABC", 3), SPC_INTERN_NONE);
    /* find does not add */
    ck_assert_uint_eq(spc_intern_count(t), 2);
    spc_intern_destroy(t);
}
END_TEST

START_TEST(test_intern_many_strings_survive_growth)
{
    enum { N = 100000 };
    struct spc_intern *t = spc_intern_new();
    const char **ptr = calloc(N + 1, sizeof(*ptr));
    char key[96];
    unsigned long i;
    uint32_t id;

    ck_assert_ptr_nonnull(t);
    ck_assert_ptr_nonnull(ptr);
    for (i = 0; i < N; i++) {
        size_t n = key_of(i, key, sizeof(key));

        T_REQUIRE(spc_intern_add(t, key, n, &id) == SPC_OK, "add %lu", i);
        T_REQUIRE(id == i + 1, "string %lu got id %u, want %lu (dense)", i, id,
                  i + 1);
        ptr[id] = spc_intern_str(t, id);
        /* adding again is a lookup */
        T_REQUIRE(spc_intern_add(t, key, n, &id) == SPC_OK && id == i + 1,
                  "re-add %lu", i);
    }
    ck_assert_uint_eq(spc_intern_count(t), N + 1);
    for (i = 0; i < N; i++) {
        size_t n = key_of(i, key, sizeof(key));

        id = (uint32_t)i + 1;
        T_REQUIRE(spc_intern_find(t, key, n) == id, "find %lu", i);
        /* strings never moved (arena) and are intact */
        T_REQUIRE(spc_intern_str(t, id) == ptr[id], "string %lu moved", i);
        T_REQUIRE(spc_intern_len(t, id) == n && memcmp(ptr[id], key, n) == 0 &&
                      ptr[id][n] == '\0',
                  "string %lu corrupted", i);
        /* a near miss (one more byte) is absent */
        key[n] = '#';
        T_REQUIRE(spc_intern_find(t, key, n + 1) == SPC_INTERN_NONE,
                  "near miss of %lu found", i);
    }
    spc_intern_destroy(t);
    free(ptr);
}
END_TEST

/* Every previously added string is found under its id; @p pending is not. */
static void check_consistent(const struct spc_intern *t, unsigned long added,
                             const char *pending, size_t plen)
{
    char key[96];
    unsigned long i;

    T_REQUIRE(spc_intern_count(t) == added + 1, "count %u after %lu adds",
              spc_intern_count(t), added);
    for (i = 0; i < added; i++) {
        size_t n = key_of(i, key, sizeof(key));

        T_REQUIRE(spc_intern_find(t, key, n) == i + 1, "lost string %lu", i);
        T_REQUIRE(memcmp(spc_intern_str(t, (uint32_t)i + 1), key, n) == 0,
                  "string %lu corrupted", i);
    }
    T_REQUIRE(spc_intern_find(t, pending, plen) == SPC_INTERN_NONE,
              "failed add left its string behind");
}

START_TEST(test_intern_alloc_failure_sweep)
{
    /* Enough strings to grow the entries array (64 -> 128 -> ... -> 4096),
     * the slot table (128 -> ... -> 8192) and to need many arena chunks
     * (16 KiB each). */
    enum { N = 3000 };
    struct spc_intern *t = NULL;
    unsigned long i, n, failures = 0;
    uint32_t id;
    char key[96];

    /* construction: every failure point gives NULL, then it succeeds */
    for (n = 1; n < 100; n++) {
        spc_alloc_fail_after(n);
        t = spc_intern_new();
        spc_alloc_fail_after(0);
        if (t)
            break;
    }
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_gt(n, 1); /* at least one failure point was exercised */

    for (i = 0; i < N; i++) {
        size_t len = key_of(i, key, sizeof(key));
        spc_err_t err = SPC_ERR_NOMEM;

        for (n = 1; n < 100; n++) {
            /* allocation n and every later one fail */
            spc_alloc_fail_after(n);
            err = spc_intern_add(t, key, len, &id);
            spc_alloc_fail_after(0);
            if (err == SPC_OK)
                break;
            T_REQUIRE(err == SPC_ERR_NOMEM, "add %lu: error %d", i, err);
            failures++;
            check_consistent(t, i, key, len);
        }
        T_REQUIRE(err == SPC_OK, "add %lu never succeeded", i);
        T_REQUIRE(id == i + 1, "add %lu after failures got id %u", i, id);
    }
    check_consistent(t, N, "absent", 6);
    /* entries grew 6 times, slots 6 times, arena chunks ~ 3000*40/16384 */
    ck_assert_uint_gt(failures, 12);
    spc_intern_destroy(t);
}
END_TEST

Suite *intern_suite(void)
{
    Suite *s = suite_create("intern");
    TCase *t;

    t = tcase_create("ids");
    tcase_add_test(t, test_intern_same_string_same_id);
    tcase_add_test(t, test_intern_lengths_and_embedded_bytes);
    tcase_add_test(t, test_intern_find_absent);
    suite_add_tcase(s, t);

    t = tcase_create("growth");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_intern_many_strings_survive_growth);
    suite_add_tcase(s, t);

    t = tcase_create("alloc_failure");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_intern_alloc_failure_sweep);
    suite_add_tcase(s, t);
    return s;
}
