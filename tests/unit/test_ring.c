/*
 * test_ring.c -- the sample ring and its sorted index: FIFO order and
 * drop-oldest, NaN samples held but not indexed, and the order statistics
 * (select, median, MAD, ranks, "MAD < d") checked after every push against
 * a brute-force sort of the valid values the ring holds.
 *
 * MAD here is the raw median of |x - c| (no 1.4826 factor); for an even
 * count the mean of the two middle deviations, like the median.
 */
#include "spc_test.h"

#include "spc_ring.h"

#include <float.h>
#include <stdlib.h>

#define T_REQUIRE(cond, ...)                                                   \
    do {                                                                       \
        if (!(cond))                                                           \
            ck_abort_msg(__VA_ARGS__);                                         \
    } while (0)

static struct spc_sample smp(double v, uint32_t tag)
{
    struct spc_sample s;

    s.value = v;
    s.ts = tag;
    s.mp = tag | (tag & 1 ? SPC_SAMPLE_PASS : 0);
    return s;
}

static void push(struct spc_ring *r, double v, uint32_t tag)
{
    struct spc_sample s = smp(v, tag);

    spc_ring_push(r, &s);
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

/* Median of n sorted values: the middle one, or the mean of the two. */
static double sorted_median(const double *s, size_t n)
{
    if (n == 0)
        return NAN;
    return n & 1 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* Brute-force MAD about c: sort |x - c|, take its median. */
static double brute_mad(const double *s, size_t n, double c, double *dev)
{
    size_t i;

    for (i = 0; i < n; i++)
        dev[i] = fabs(s[i] - c);
    qsort(dev, n, sizeof(*dev), cmp_dbl);
    return sorted_median(dev, n);
}

START_TEST(test_ring_fifo_drop_oldest)
{
    struct spc_ring r;
    const struct spc_sample *a, *b;
    uint32_t na, nb, i;

    ck_assert_int_eq(spc_ring_init(&r, 3), SPC_OK);
    ck_assert_uint_eq(r.count, 0);
    ck_assert(isnan(spc_ring_median(&r)));
    ck_assert(isnan(spc_ring_mad(&r, 0.0)));
    push(&r, 1, 1);
    ck_assert_uint_eq(r.count, 1);
    ck_assert(spc_ring_back(&r, 0)->value == 1);
    ck_assert(spc_ring_at(&r, 0)->value == 1);
    push(&r, 2, 2);
    push(&r, 3, 3);
    ck_assert_uint_eq(r.count, 3);
    /* full: 4 pushes out 1, 5 pushes out 2 */
    push(&r, 4, 4);
    push(&r, 5, 5);
    ck_assert_uint_eq(r.count, 3);
    ck_assert_uint_eq(r.nvalid, 3);
    ck_assert(spc_ring_at(&r, 0)->value == 3); /* oldest */
    ck_assert(spc_ring_at(&r, 1)->value == 4);
    ck_assert(spc_ring_at(&r, 2)->value == 5); /* newest */
    ck_assert(spc_ring_back(&r, 0)->value == 5);
    ck_assert(spc_ring_back(&r, 2)->value == 3);
    /* the whole sample travels, not only the value */
    ck_assert_uint_eq(spc_ring_back(&r, 0)->ts, 5);
    ck_assert_uint_eq(spc_ring_back(&r, 0)->mp, 5 | SPC_SAMPLE_PASS);
    ck_assert_uint_eq(spc_ring_back(&r, 1)->mp, 4);
    ck_assert(spc_ring_median(&r) == 4);
    ck_assert(spc_ring_select(&r, 0) == 3);
    ck_assert(spc_ring_select(&r, 2) == 5);

    /* spans: newest w samples, oldest first, split where the ring wraps */
    for (i = 0; i <= 3; i++) {
        double got[3];
        uint32_t k, n = 0;

        spc_ring_spans(&r, i, &a, &na, &b, &nb);
        ck_assert_uint_eq(na + nb, i);
        for (k = 0; k < na; k++)
            got[n++] = a[k].value;
        for (k = 0; k < nb; k++)
            got[n++] = b[k].value;
        for (k = 0; k < i; k++)
            ck_assert(got[k] == 5.0 - i + 1 + k);
    }

    spc_ring_clear(&r);
    ck_assert_uint_eq(r.count, 0);
    ck_assert_uint_eq(r.nvalid, 0);
    ck_assert(isnan(spc_ring_median(&r)));
    push(&r, 7, 7);
    ck_assert(spc_ring_at(&r, 0)->value == 7);
    ck_assert(spc_ring_median(&r) == 7);
    ck_assert_uint_eq(spc_ring_bytes(&r),
                      3 * (sizeof(struct spc_sample) + sizeof(double)));
    spc_ring_fini(&r);
}
END_TEST

START_TEST(test_ring_nan_counted_not_indexed)
{
    struct spc_ring r;

    ck_assert_int_eq(spc_ring_init(&r, 4), SPC_OK);
    push(&r, NAN, 1);
    ck_assert_uint_eq(r.count, 1);
    ck_assert_uint_eq(r.nvalid, 0);
    ck_assert(isnan(spc_ring_median(&r)));
    ck_assert(isnan(spc_ring_mad(&r, 1.0)));
    ck_assert_int_eq(spc_ring_mad_below(&r, 0.0, 1.0), 0);
    push(&r, 2, 2);
    push(&r, NAN, 3);
    push(&r, 8, 4);
    /* {NaN, 2, NaN, 8}: valid {2, 8}; median 5, deviations {3, 3}, MAD 3 */
    ck_assert_uint_eq(r.count, 4);
    ck_assert_uint_eq(r.nvalid, 2);
    ck_assert(spc_ring_median(&r) == 5.0);
    ck_assert(spc_ring_mad(&r, 5.0) == 3.0);
    ck_assert(isnan(spc_ring_at(&r, 0)->value));
    ck_assert(spc_ring_at(&r, 1)->value == 2.0);
    /* pushing out a NaN leaves the index alone ... */
    push(&r, 4, 5); /* {2, NaN, 8, 4} */
    ck_assert_uint_eq(r.nvalid, 3);
    ck_assert(spc_ring_median(&r) == 4.0);
    /* ... pushing out a valid value removes it */
    push(&r, NAN, 6); /* {NaN, 8, 4, NaN} */
    ck_assert_uint_eq(r.count, 4);
    ck_assert_uint_eq(r.nvalid, 2);
    ck_assert(spc_ring_median(&r) == 6.0);
    ck_assert_uint_eq(spc_ring_rank_lt(&r, 8.0), 1);
    ck_assert_uint_eq(spc_ring_rank_le(&r, 8.0), 2);
    spc_ring_fini(&r);
}
END_TEST

/* Equal values are interchangeable in the sorted copy: pushing out one of
 * several equal values removes exactly one; -0 and +0 are one zero (sorted
 * and reported as +0), so evicting a -0 never leaves a stray value. */
START_TEST(test_ring_duplicates_and_signed_zeros)
{
    struct spc_ring r;
    uint32_t i;

    ck_assert_int_eq(spc_ring_init(&r, 4), SPC_OK);
    push(&r, 1, 1);
    push(&r, 1, 2);
    push(&r, -0.0, 3);
    push(&r, 1, 4); /* {1, 1, -0, 1} */
    ck_assert_uint_eq(r.nvalid, 4);
    ck_assert(spc_ring_select(&r, 0) == 0.0 &&
              !signbit(spc_ring_select(&r, 0)));
    push(&r, 5, 5); /* {1, -0, 1, 5}: one 1 left the window */
    ck_assert(spc_ring_select(&r, 0) == 0.0);
    ck_assert(spc_ring_select(&r, 1) == 1.0);
    ck_assert(spc_ring_select(&r, 2) == 1.0);
    ck_assert(spc_ring_select(&r, 3) == 5.0);
    push(&r, 0.0, 6); /* {-0, 1, 5, +0} */
    push(&r, 7, 7);   /* {1, 5, +0, 7}: the -0 left, one zero stays */
    ck_assert_uint_eq(r.nvalid, 4);
    ck_assert(spc_ring_select(&r, 0) == 0.0 &&
              !signbit(spc_ring_select(&r, 0)));
    ck_assert(spc_ring_median(&r) == 3.0);
    for (i = 0; i < 4; i++) /* all out: nothing stray remains */
        push(&r, 2, 8 + i);
    ck_assert_uint_eq(r.nvalid, 4);
    ck_assert(spc_ring_select(&r, 0) == 2.0 && spc_ring_select(&r, 3) == 2.0);
    spc_ring_fini(&r);
}
END_TEST

START_TEST(test_ring_mad_hand_examples)
{
    static const struct {
        double v[6];
        uint32_t n;
        double med, mad;
    } cases[] = {
        /* {1,2,3,4,100}: median 3; |x-3| = {2,1,0,1,97} sorted
         * {0,1,1,2,97} -> MAD 1 (the outlier does not matter) */
        {{1, 2, 3, 4, 100}, 5, 3.0, 1.0},
        /* {1,2,3,4}: median (2+3)/2 = 2.5; deviations {1.5,.5,.5,1.5}
         * sorted {.5,.5,1.5,1.5} -> MAD (.5+1.5)/2 = 1 */
        {{4, 3, 2, 1}, 4, 2.5, 1.0},
        /* {1,1,1,1,5,5}: median 1; deviations {0,0,0,0,4,4} -> MAD 0 */
        {{5, 1, 1, 5, 1, 1}, 6, 1.0, 0.0},
        /* {10,20,30,40,50,60}: median 35; deviations {25,15,5,5,15,25}
         * sorted {5,5,15,15,25,25} -> MAD (15+15)/2 = 15 */
        {{60, 10, 50, 20, 40, 30}, 6, 35.0, 15.0},
        /* {-3, 0, 7}: median 0; deviations {3,0,7} -> MAD 3 */
        {{7, -3, 0}, 3, 0.0, 3.0},
        /* single value: median x, MAD 0 */
        {{42}, 1, 42.0, 0.0},
        /* {0, 1, 1, 4, 9, 9}: median 2.5; deviations
         * {2.5,1.5,1.5,1.5,6.5,6.5} sorted {1.5,1.5,1.5,2.5,6.5,6.5}
         * -> MAD (1.5+2.5)/2 = 2 */
        {{9, 0, 1, 9, 4, 1}, 6, 2.5, 2.0},
    };
    size_t i;
    uint32_t k;

    for (i = 0; i < SPC_ARRAY_SIZE(cases); i++) {
        struct spc_ring r;
        double med, mad;

        ck_assert_int_eq(spc_ring_init(&r, 8), SPC_OK);
        for (k = 0; k < cases[i].n; k++)
            push(&r, cases[i].v[k], k);
        med = spc_ring_median(&r);
        mad = spc_ring_mad(&r, med);
        ck_assert_msg(med == cases[i].med, "case %zu: median %g", i, med);
        ck_assert_msg(mad == cases[i].mad, "case %zu: MAD %g", i, mad);
        /* MAD < d well away from the boundary (the exact boundary is
         * test_ring_mad_below_exact_at_boundary) */
        ck_assert_int_eq(spc_ring_mad_below(&r, med, 2 * cases[i].mad + 1), 1);
        if (cases[i].mad > 0)
            ck_assert_int_eq(spc_ring_mad_below(&r, med, cases[i].mad / 2), 0);
        spc_ring_fini(&r);
    }
}
END_TEST

/* Value generators: continuous, heavy ties, with NaNs mixed in, and a
 * series whose values straddle zero at very different magnitudes. */
static double gen(struct t_rng *r, int kind)
{
    double u = t_unif(r);

    switch (kind) {
    case 0:
        return 10.0 + t_norm(r);
    case 1:
        return round(t_norm(r) * 2.0) / 2.0; /* ~9 distinct values */
    case 2:
        return u < 0.2 ? NAN : (double)(int)(u * 5.0);
    case 3:
        return u < 0.1 ? NAN : t_norm(r) * 1e3;
    default:
        return u < 0.05 ? NAN : t_norm(r) * pow(10.0, (int)(u * 12) - 6);
    }
}

struct model {
    double *v;   /* the last cap values pushed, oldest first */
    uint32_t *t; /* their tags */
    uint32_t n, cap;
    double *sorted, *dev;
};

static void model_push(struct model *m, double v, uint32_t tag)
{
    if (m->n == m->cap) {
        memmove(m->v, m->v + 1, (m->cap - 1) * sizeof(*m->v));
        memmove(m->t, m->t + 1, (m->cap - 1) * sizeof(*m->t));
        m->n--;
    }
    m->v[m->n] = v;
    m->t[m->n] = tag;
    m->n++;
}

/* Compare every query of @p r with the brute-force answer. */
static void check_against_model(const struct spc_ring *r, const struct model *m,
                                struct t_rng *rng, const char *what,
                                uint32_t step, int boundary)
{
    uint32_t i, nv = 0, k;
    double med, mad, bmed, bmad, probe[8];

    T_REQUIRE(r->count == m->n, "%s step %u: count %u want %u", what, step,
              r->count, m->n);
    for (i = 0; i < m->n; i++) {
        const struct spc_sample *s = spc_ring_at(r, i);

        T_REQUIRE(s->ts == m->t[i] &&
                      (isnan(s->value) ? isnan(m->v[i]) : s->value == m->v[i]),
                  "%s step %u: at(%u) wrong", what, step, i);
        T_REQUIRE(spc_ring_back(r, m->n - 1 - i) == s,
                  "%s step %u: back/at disagree", what, step);
        if (!isnan(m->v[i]))
            m->sorted[nv++] = m->v[i];
    }
    qsort(m->sorted, nv, sizeof(double), cmp_dbl);
    T_REQUIRE(r->nvalid == nv, "%s step %u: nvalid %u want %u", what, step,
              r->nvalid, nv);
    for (k = 0; k < nv; k++)
        T_REQUIRE(spc_ring_select(r, k) == m->sorted[k],
                  "%s step %u: select(%u) = %g want %g", what, step, k,
                  spc_ring_select(r, k), m->sorted[k]);
    med = spc_ring_median(r);
    bmed = sorted_median(m->sorted, nv);
    T_REQUIRE(nv ? med == bmed : isnan(med), "%s step %u: median %g want %g",
              what, step, med, bmed);
    if (nv == 0)
        return;

    /* MAD about the median and about other centres */
    probe[0] = med;
    probe[1] = m->sorted[0];
    probe[2] = m->sorted[nv - 1];
    probe[3] = m->sorted[(uint32_t)(t_unif(rng) * nv)];
    probe[4] = med + (m->sorted[nv - 1] - m->sorted[0]) * (t_unif(rng) - 0.5);
    for (i = 0; i < 5; i++) {
        mad = spc_ring_mad(r, probe[i]);
        bmad = brute_mad(m->sorted, nv, probe[i], m->dev);
        T_REQUIRE(mad == bmad, "%s step %u: MAD about %.17g = %.17g want %.17g",
                  what, step, probe[i], mad, bmad);
    }
    bmad = brute_mad(m->sorted, nv, med, m->dev);

    /* ranks: at, between and beyond the values */
    probe[0] = m->sorted[(uint32_t)(t_unif(rng) * nv)];
    probe[1] = med;
    probe[2] = nextafter(probe[0], INFINITY);
    probe[3] = nextafter(probe[0], -INFINITY);
    probe[4] = -INFINITY;
    probe[5] = INFINITY;
    probe[6] = m->sorted[0] - 1.0;
    probe[7] = 0.5 * (m->sorted[0] + m->sorted[nv - 1]);
    for (i = 0; i < 8; i++) {
        uint32_t lt = 0, le = 0;

        for (k = 0; k < nv; k++) {
            lt += m->sorted[k] < probe[i];
            le += m->sorted[k] <= probe[i];
        }
        T_REQUIRE(spc_ring_rank_lt(r, probe[i]) == lt &&
                      spc_ring_rank_le(r, probe[i]) == le,
                  "%s step %u: ranks of %g", what, step, probe[i]);
    }

    /* "MAD < d" away from the boundary: d = 2 MAD, MAD / 2, 0, -1 and,
     * with ties, a deviation that differs from the MAD */
    probe[0] = bmad * 2.0;
    probe[1] = bmad * 0.5;
    probe[2] = 0.0;
    probe[3] = -1.0;
    probe[4] = m->dev[(uint32_t)(t_unif(rng) * nv)];
    for (i = 0; i < 5; i++) {
        int want = probe[i] > 0 && bmad < probe[i];

        if (i == 4 && (probe[i] == bmad || !boundary))
            continue;
        T_REQUIRE(spc_ring_mad_below(r, med, probe[i]) == want,
                  "%s step %u: mad_below(med %.17g, d %.17g) != %d (MAD "
                  "%.17g, n %u)",
                  what, step, med, probe[i], want, bmad, nv);
    }
    if (!boundary)
        return;
    /* ... and exactly at it: the header promises an exact answer, ties
     * included, so one ulp either side of the MAD must be decided right;
     * DBL_MIN is the "MAD == 0?" probe spc_det_robust_z uses. */
    probe[0] = bmad;
    probe[1] = nextafter(bmad, INFINITY);
    probe[2] = nextafter(bmad, 0.0);
    probe[3] = DBL_MIN;
    for (i = 0; i < 4; i++) {
        int want = probe[i] > 0 && bmad < probe[i];

        T_REQUIRE(spc_ring_mad_below(r, med, probe[i]) == want,
                  "%s step %u: mad_below(med %.17g, d %.17g) != %d (MAD "
                  "%.17g, n %u)",
                  what, step, med, probe[i], want, bmad, nv);
    }
}

static void random_run(uint32_t cap, int kind, uint32_t pushes, uint64_t seed,
                       int boundary)
{
    struct spc_ring r;
    struct model m;
    struct t_rng rng;
    char what[48];
    uint32_t i;

    snprintf(what, sizeof(what), "cap %u kind %d", cap, kind);
    ck_assert_int_eq(spc_ring_init(&r, cap), SPC_OK);
    m.cap = cap;
    m.n = 0;
    m.v = calloc(cap, sizeof(double));
    m.t = calloc(cap, sizeof(uint32_t));
    m.sorted = calloc(cap, sizeof(double));
    m.dev = calloc(cap, sizeof(double));
    ck_assert(m.v && m.t && m.sorted && m.dev);
    t_rng_seed(&rng, seed);
    for (i = 0; i < pushes; i++) {
        double v = gen(&rng, kind);

        push(&r, v, i);
        model_push(&m, v, i);
        check_against_model(&r, &m, &rng, what, i, boundary);
        if (i == pushes / 2 && kind == 1) { /* clear mid-run once */
            spc_ring_clear(&r);
            m.n = 0;
        }
    }
    free(m.v);
    free(m.t);
    free(m.sorted);
    free(m.dev);
    spc_ring_fini(&r);
}

START_TEST(test_ring_order_stats_vs_sort)
{
    static const uint32_t caps[] = {1, 2, 3, 16, 255, 256, 1000};
    int i = _i; /* loop test index: one capacity per run */
    int kind;

    for (kind = 0; kind < 5; kind++)
        random_run(caps[i], kind, caps[i] >= 255 ? 3 * caps[i] : 3000,
                   1000u * (uint64_t)caps[i] + (uint64_t)kind, 0);
}
END_TEST

/*
 * Regression (spc_ring_mad_below, fixed): the count of deviations below d
 * was once taken as
 *   rank_lt(med + d) - rank_le(med - d)
 * in floating point.  (1) When d is below half an ulp of med, med + d and
 * med - d both round to med, and with values equal to med the unsigned
 * difference rank_lt(med) - rank_le(med) wraps around to ~2^32: the answer
 * is "MAD < d" whatever the MAD.  spc_det_robust_z asks exactly that with
 * d = DBL_MIN ("is the MAD 0?"), so whenever the median is a nonzero
 * value held in the ring (any odd count) it wrongly switches to its
 * mean-absolute-deviation fallback, which outliers in the window inflate.
 * {1, 2, 3}: MAD 1, yet mad_below(2, DBL_MIN) = 1.
 * (2) Rounding of med + d decides ties one ulp away from the MAD wrongly:
 * {1,2,3,4,100}, MAD 1, d = nextafter(1, inf): 3 + d rounds to 4, so the
 * deviation |4 - 3| = 1 < d is not counted and the answer is 0.
 */
START_TEST(test_ring_mad_below_hand_boundary)
{
    struct spc_ring r;

    ck_assert_int_eq(spc_ring_init(&r, 8), SPC_OK);
    push(&r, 1, 1);
    push(&r, 2, 2);
    push(&r, 3, 3); /* median 2, deviations {1, 0, 1}: MAD 1 */
    ck_assert_int_eq(spc_ring_mad_below(&r, 2.0, 1.0), 0);
    ck_assert_int_eq(spc_ring_mad_below(&r, 2.0, nextafter(1.0, 2.0)), 1);
    ck_assert_msg(spc_ring_mad_below(&r, 2.0, DBL_MIN) == 0,
                  "{1,2,3}: MAD 1 reported below DBL_MIN");
    push(&r, 4, 4);
    push(&r, 100, 5); /* median 3, deviations {2,1,0,1,97}: MAD 1 */
    ck_assert_int_eq(spc_ring_mad_below(&r, 3.0, 1.0), 0);
    ck_assert_msg(spc_ring_mad_below(&r, 3.0, nextafter(1.0, 2.0)) == 1,
                  "{1,2,3,4,100}: MAD 1 not below nextafter(1, 2)");
    spc_ring_fini(&r);
}
END_TEST

START_TEST(test_ring_mad_below_exact_at_boundary)
{
    static const uint32_t caps[] = {1, 2, 3, 16, 255, 256, 1000};
    int kind;

    for (kind = 0; kind < 5; kind++)
        random_run(caps[_i], kind, caps[_i] >= 255 ? caps[_i] + 200 : 600,
                   77u * (uint64_t)caps[_i] + (uint64_t)kind, 1);
}
END_TEST

START_TEST(test_ring_init_errors)
{
    struct spc_ring r;
    uint32_t i;

    ck_assert_int_eq(spc_ring_init(&r, 0), SPC_ERR_RANGE);
    ck_assert_int_eq(spc_ring_init(&r, SPC_RING_MAX + 1), SPC_ERR_RANGE);
    ck_assert_int_eq(spc_ring_init(&r, UINT32_MAX), SPC_ERR_RANGE);
    spc_alloc_fail_after(1);
    ck_assert_int_eq(spc_ring_init(&r, 8), SPC_ERR_NOMEM);
    spc_alloc_fail_after(0);
    spc_ring_fini(&r); /* fini after a failed init is harmless */

    /* the largest ring works end to end (16-bit slot indexes) */
    ck_assert_int_eq(spc_ring_init(&r, SPC_RING_MAX), SPC_OK);
    for (i = 0; i < SPC_RING_MAX + 100; i++)
        push(&r, (double)((i * 7919u) % 10007u), i);
    ck_assert_uint_eq(r.count, SPC_RING_MAX);
    ck_assert_uint_eq(r.nvalid, SPC_RING_MAX);
    ck_assert_uint_eq(spc_ring_at(&r, 0)->ts, 100);
    ck_assert_uint_eq(spc_ring_back(&r, 0)->ts, SPC_RING_MAX + 99);
    for (i = 1; i < SPC_RING_MAX; i++)
        T_REQUIRE(spc_ring_select(&r, i - 1) <= spc_ring_select(&r, i),
                  "index out of order at %u", i);
    spc_ring_fini(&r);
}
END_TEST

START_TEST(test_ring_sample_time)
{
    /* seconds since 2000-01-01T00:00:00Z, clamped */
    ck_assert_uint_eq(spc_sample_time(SPC_SAMPLE_EPOCH_MS), 0);
    ck_assert_uint_eq(spc_sample_time(SPC_SAMPLE_EPOCH_MS + 1999), 1);
    ck_assert_uint_eq(spc_sample_time(0), 0);
    /* 2026-11-01T07:30:15.250Z = 1793518215250 ms (see test_event.c):
     * 1793518215 - 946684800 = 846833415 s */
    ck_assert_uint_eq(spc_sample_time(1793518215250LL), 846833415u);
    ck_assert_uint_eq(spc_sample_time(INT64_MAX / 2), UINT32_MAX);
}
END_TEST

Suite *ring_suite(void)
{
    Suite *s = suite_create("ring");
    TCase *t;

    t = tcase_create("fifo");
    tcase_add_test(t, test_ring_fifo_drop_oldest);
    tcase_add_test(t, test_ring_nan_counted_not_indexed);
    tcase_add_test(t, test_ring_duplicates_and_signed_zeros);
    tcase_add_test(t, test_ring_init_errors);
    tcase_add_test(t, test_ring_sample_time);
    suite_add_tcase(s, t);

    t = tcase_create("order_stats");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_ring_mad_hand_examples);
    tcase_add_loop_test(t, test_ring_order_stats_vs_sort, 0, 7);
    suite_add_tcase(s, t);

    t = tcase_create("mad_below_boundary");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, test_ring_mad_below_hand_boundary);
    tcase_add_loop_test(t, test_ring_mad_below_exact_at_boundary, 0, 7);
    suite_add_tcase(s, t);
    return s;
}
