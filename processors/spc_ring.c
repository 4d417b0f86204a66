/*
 * spc_ring.c -- ring buffer + a sorted copy of its valid values.
 *
 * DATA FLOW: sample -> slot (overwriting the oldest) -> the new value
 *   takes the old one's place in the sorted array (two binary searches,
 *   one memmove of the values between the two positions; a plain removal
 *   or insertion when either is NaN or the ring is not full).  Equal values
 *   are interchangeable, so any copy of the old value is replaced; -0 is
 *   stored as +0.
 * MAD: the k-th smallest |x - m| is the k-th smallest element of the union
 *   of two sorted sequences (distances right of m ascending, left of m
 *   descending), found by binary search over the split: O(log N) probes of
 *   the sorted array.  spc_ring_mad_below() answers "MAD < d" by counting deviations
 *   below d (two binary searches, same rounding as the MAD).
 * REFERENCES: Hampel (1974) for the MAD; Rousseeuw & Croux (1993),
 *   "Alternatives to the median absolute deviation", JASA 88, for 1.4826.
 */
#include "spc_ring.h"

#include <string.h>

spc_err_t spc_ring_init(struct spc_ring *r, uint32_t cap)
{
    size_t bytes;
    char *block;

    memset(r, 0, sizeof(*r));
    if (cap == 0 || cap > SPC_RING_MAX)
        return SPC_ERR_RANGE;
    bytes = cap * (sizeof(struct spc_sample) + sizeof(double));
    block = spc_malloc(bytes);
    if (!block)
        return SPC_ERR_NOMEM;
    r->s = (struct spc_sample *)block;
    r->v = (double *)(block + cap * sizeof(struct spc_sample));
    r->cap = cap;
    return SPC_OK;
}

void spc_ring_fini(struct spc_ring *r)
{
    free(r->s);
    memset(r, 0, sizeof(*r));
}

size_t spc_ring_bytes(const struct spc_ring *r)
{
    return r->cap * (sizeof(struct spc_sample) + sizeof(double));
}

void spc_ring_clear(struct spc_ring *r)
{
    r->head = r->count = r->nvalid = 0;
}

/* Replace the value at sorted position @p p by @p x (not NaN): one memmove
 * of the values between the two positions instead of a removal and an
 * insertion that each shift the whole tail (~N/3 against ~N values moved,
 * and the tail's lines are not touched at all). */
static void sorted_replace(struct spc_ring *r, uint32_t p, double x)
{
    uint32_t q = spc_ring_rank_lt(r, x); /* rank with the old value there */

    if (q <= p) { /* x goes left of the old value: shift v[q..p) right */
        memmove(&r->v[q + 1], &r->v[q], (p - q) * sizeof(r->v[0]));
        r->v[q] = x;
    } else { /* right: shift v(p..q) left; x lands at q - 1 */
        memmove(&r->v[p], &r->v[p + 1], (q - 1 - p) * sizeof(r->v[0]));
        r->v[q - 1] = x;
    }
}

void spc_ring_push(struct spc_ring *r, const struct spc_sample *s)
{
    uint32_t slot = r->head, p;
    double x = s->value + 0.0; /* -0 sorted as +0: one zero, one sign */

    if (r->count == r->cap && !isnan(r->s[slot].value)) {
        /* equal values are interchangeable: any copy of the old one */
        p = spc_ring_rank_lt(r, r->s[slot].value + 0.0);
        if (!isnan(x))
            sorted_replace(r, p, x);
        else {
            memmove(&r->v[p], &r->v[p + 1],
                    (r->nvalid - p - 1) * sizeof(r->v[0]));
            r->nvalid--;
        }
    } else if (!isnan(x)) {
        p = spc_ring_rank_lt(r, x);
        memmove(&r->v[p + 1], &r->v[p], (r->nvalid - p) * sizeof(r->v[0]));
        r->v[p] = x;
        r->nvalid++;
    }
    if (r->count < r->cap)
        r->count++;
    r->s[slot] = *s;
    r->head = r->head + 1 == r->cap ? 0 : r->head + 1;
}

uint32_t spc_ring_rank_lt(const struct spc_ring *r, double v)
{
    uint32_t lo = 0, hi = r->nvalid;

    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;

        if (r->v[mid] < v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t spc_ring_rank_le(const struct spc_ring *r, double v)
{
    uint32_t lo = 0, hi = r->nvalid;

    while (lo < hi) {
        uint32_t mid = (lo + hi) / 2;

        if (r->v[mid] <= v)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* spc_ring_rank_lt(r, med) for the window median (or a value near it):
 * the split of a median is almost always the middle index, which two
 * reads confirm (v is sorted, so the index c with v[c-1] < med <= v[c] is
 * the rank); the search only when duplicates straddle the middle. */
static uint32_t split_of_median(const struct spc_ring *r, double med)
{
    uint32_t n = r->nvalid, c = n / 2;

    if ((c == 0 || r->v[c - 1] < med) && (c == n || r->v[c] >= med))
        return c;
    return spc_ring_rank_lt(r, med);
}

double spc_ring_median(const struct spc_ring *r)
{
    uint32_t n = r->nvalid;

    if (n == 0)
        return NAN;
    if (n & 1)
        return spc_ring_select(r, n / 2);
    return 0.5 * (spc_ring_select(r, n / 2 - 1) + spc_ring_select(r, n / 2));
}

/* Distances |x - m| as two ascending sequences: A (x >= m, from index
 * split upward) and B (x < m, from index split-1 downward). */
struct dseq {
    const struct spc_ring *r;
    double m;
    uint32_t split, na, nb;
};

static inline double da(const struct dseq *d, uint32_t i)
{
    return spc_ring_select(d->r, d->split + i) - d->m;
}

static inline double db(const struct dseq *d, uint32_t i)
{
    return d->m - spc_ring_select(d->r, d->split - 1 - i);
}

/* The k-th (0-based) smallest of A u B and, in *next, the (k+1)-th. */
static double kth_union(const struct dseq *d, uint32_t k, double *next)
{
    uint32_t lo = k + 1 > d->nb ? k + 1 - d->nb : 0;
    uint32_t hi = k + 1 < d->na ? k + 1 : d->na;
    uint32_t i, j;
    double a_prev, b_prev, kth, a_i, b_j;

    while (lo < hi) { /* smallest i in [lo, hi) with A[i] >= B[k-i] */
        i = lo + (hi - lo) / 2;
        if (da(d, i) < db(d, k - i))
            lo = i + 1;
        else
            hi = i;
    }
    i = lo;
    j = k + 1 - i;
    a_prev = i > 0 ? da(d, i - 1) : -INFINITY;
    b_prev = j > 0 ? db(d, j - 1) : -INFINITY;
    kth = a_prev > b_prev ? a_prev : b_prev;
    a_i = i < d->na ? da(d, i) : INFINITY;
    b_j = j < d->nb ? db(d, j) : INFINITY;
    *next = a_i < b_j ? a_i : b_j;
    return kth;
}

double spc_ring_mad(const struct spc_ring *r, double med)
{
    struct dseq d;
    uint32_t n = r->nvalid;
    double kth, next;

    if (n == 0 || isnan(med))
        return NAN;
    d.r = r;
    d.m = med;
    d.split = split_of_median(r, med);
    d.nb = d.split;
    d.na = n - d.split;
    kth = kth_union(&d, (n - 1) / 2, &next);
    return (n & 1) ? kth : 0.5 * (kth + next);
}

/* Deviation of the value at sorted position @p i, computed as spc_ring_mad()
 * computes it: x - med right of the split, med - x left of it. */
static inline double dev_at(const struct spc_ring *r, uint32_t split,
                            uint32_t i, double med)
{
    double x = spc_ring_select(r, i);

    return i >= split ? x - med : med - x;
}

/* Number of deviations |x - med| < d.  Deviations grow away from the split
 * on both sides, so the values with deviation < d are the contiguous block
 * [left, right) around it: one binary search per side. */
static uint32_t count_dev_below(const struct spc_ring *r, double med, double d,
                                uint32_t split)
{
    uint32_t n = r->nvalid, lo = split, hi = n, right;

    while (lo < hi) { /* first i >= split with x_i - med >= d */
        uint32_t mid = lo + (hi - lo) / 2;

        if (dev_at(r, split, mid, med) < d)
            lo = mid + 1;
        else
            hi = mid;
    }
    right = lo;
    lo = 0;
    hi = split;
    while (lo < hi) { /* first j < split with med - x_j < d */
        uint32_t mid = lo + (hi - lo) / 2;

        if (dev_at(r, split, mid, med) < d)
            hi = mid;
        else
            lo = mid + 1;
    }
    return right - lo;
}

/* Can the block of deviations < d around the split hold @p t values?  If
 * it does, one of its sides holds at least ceil(t / 2) of them, so one of
 * the two positions that far from the split is in it (a necessary
 * condition, checked with two probes instead of two searches). */
static int block_may_hold(const struct spc_ring *r, double med, double d,
                          uint32_t split, uint32_t t)
{
    uint32_t q = (t + 1) / 2;

    if (q == 0)
        return 1;
    if (split + q - 1 < r->nvalid && dev_at(r, split, split + q - 1, med) < d)
        return 1;
    return q <= split && dev_at(r, split, split - q, med) < d;
}

int spc_ring_mad_below(const struct spc_ring *r, double med, double d)
{
    uint32_t n = r->nvalid, below, need, split;

    if (n == 0 || !(d > 0) || isnan(med))
        return 0;
    split = split_of_median(r, med);
    need = n / 2 + 1; /* 1-based rank of the upper middle deviation */
    /* the answer is 0 unless at least n/2 (even n) or need (odd n)
     * deviations are below d: the usual case, decided with two probes */
    if (!block_may_hold(r, med, d, split, (n & 1) ? need : n / 2))
        return 0;
    below = count_dev_below(r, med, d, split);
    if (n & 1)
        return below >= need; /* the middle deviation is below d */
    if (below >= need)
        return 1; /* both middle deviations are below d */
    if (below < n / 2)
        return 0;                    /* the lower middle one is already >= d */
    return spc_ring_mad(r, med) < d; /* exactly one of them: compute */
}
