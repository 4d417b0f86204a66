/*
 * spc_ring.c -- ring buffer + order-statistic treap over its slots.
 *
 * DATA FLOW: sample -> slot (overwriting the oldest) -> treap delete of the
 *   old value, treap insert of the new one (valid values only).
 * The treap orders slots by (value, slot); a slot's priority is a fixed hash
 *   of the slot number, independent of the values, so the expected depth is
 *   O(log N) for any input not chosen against the hash (Seidel & Aragon,
 *   "Randomized search trees", Algorithmica 16, 1996).
 * MAD: the k-th smallest |x - m| is the k-th smallest element of the union of
 *   two sorted sequences (distances to the right of m ascending, to the left
 *   descending), found by binary search over the split in O(log N) probes,
 *   each an O(log N) select.
 * REFERENCES: Hampel (1974), MAD; Rousseeuw & Croux (1993) for 1.4826.
 */
#include "spc_ring.h"

#include <string.h>

#define NIL 0xffffu

static inline uint32_t prio(uint32_t slot)
{
    return (uint32_t)spc_mix64(slot + 0x9e3779b97f4a7c15ULL);
}

spc_err_t spc_ring_init(struct spc_ring *r, uint32_t cap)
{
    size_t bytes;
    char *block;

    memset(r, 0, sizeof(*r));
    if (cap == 0 || cap > SPC_RING_MAX)
        return SPC_ERR_RANGE;
    bytes = cap * sizeof(struct spc_sample) + cap * sizeof(struct spc_onode);
    block = spc_malloc(bytes);
    if (!block)
        return SPC_ERR_NOMEM;
    r->s = (struct spc_sample *)block;
    r->n = (struct spc_onode *)(block + cap * sizeof(struct spc_sample));
    r->cap = cap;
    r->root = NIL;
    return SPC_OK;
}

void spc_ring_fini(struct spc_ring *r)
{
    free(r->s);
    memset(r, 0, sizeof(*r));
}

size_t spc_ring_bytes(const struct spc_ring *r)
{
    return r->cap * (sizeof(struct spc_sample) + sizeof(struct spc_onode));
}

static inline uint16_t sz(const struct spc_ring *r, uint16_t x)
{
    return x == NIL ? 0 : r->n[x].size;
}

static inline void fix(struct spc_ring *r, uint16_t x)
{
    r->n[x].size = (uint16_t)(1 + sz(r, r->n[x].l) + sz(r, r->n[x].r));
}

/* Strict order on slots: by value, then by slot number. */
static inline int less(const struct spc_ring *r, uint16_t a, uint16_t b)
{
    double va = r->s[a].value, vb = r->s[b].value;

    return va < vb || (va == vb && a < b);
}

static uint16_t rot_right(struct spc_ring *r, uint16_t x)
{
    uint16_t y = r->n[x].l;

    r->n[x].l = r->n[y].r;
    r->n[y].r = x;
    fix(r, x);
    fix(r, y);
    return y;
}

static uint16_t rot_left(struct spc_ring *r, uint16_t x)
{
    uint16_t y = r->n[x].r;

    r->n[x].r = r->n[y].l;
    r->n[y].l = x;
    fix(r, x);
    fix(r, y);
    return y;
}

static uint16_t insert(struct spc_ring *r, uint16_t t, uint16_t x)
{
    if (t == NIL) {
        r->n[x].l = r->n[x].r = NIL;
        r->n[x].size = 1;
        return x;
    }
    r->n[t].size++;
    if (less(r, x, t)) {
        r->n[t].l = insert(r, r->n[t].l, x);
        if (prio(r->n[t].l) > prio(t))
            t = rot_right(r, t);
    } else {
        r->n[t].r = insert(r, r->n[t].r, x);
        if (prio(r->n[t].r) > prio(t))
            t = rot_left(r, t);
    }
    return t;
}

static uint16_t merge(struct spc_ring *r, uint16_t a, uint16_t b)
{
    if (a == NIL)
        return b;
    if (b == NIL)
        return a;
    if (prio(a) > prio(b)) {
        r->n[a].r = merge(r, r->n[a].r, b);
        fix(r, a);
        return a;
    }
    r->n[b].l = merge(r, a, r->n[b].l);
    fix(r, b);
    return b;
}

static uint16_t erase(struct spc_ring *r, uint16_t t, uint16_t x)
{
    if (t == x)
        return merge(r, r->n[t].l, r->n[t].r);
    SPC_ASSERT(t != NIL);
    r->n[t].size--;
    if (less(r, x, t))
        r->n[t].l = erase(r, r->n[t].l, x);
    else
        r->n[t].r = erase(r, r->n[t].r, x);
    return t;
}

void spc_ring_push(struct spc_ring *r, const struct spc_sample *s)
{
    uint16_t slot = (uint16_t)r->head;

    if (r->count == r->cap) {
        if (!isnan(r->s[slot].value)) {
            r->root = erase(r, r->root, slot);
            r->nvalid--;
        }
    } else {
        r->count++;
    }
    r->s[slot] = *s;
    if (!isnan(s->value)) {
        r->root = insert(r, r->root, slot);
        r->nvalid++;
    }
    r->head = (r->head + 1) % r->cap;
}

double spc_ring_select(const struct spc_ring *r, uint32_t k)
{
    uint16_t t = r->root;

    SPC_ASSERT(k < r->nvalid);
    for (;;) {
        uint32_t ls = sz(r, r->n[t].l);

        if (k < ls) {
            t = r->n[t].l;
        } else if (k == ls) {
            return r->s[t].value;
        } else {
            k -= ls + 1;
            t = r->n[t].r;
        }
    }
}

uint32_t spc_ring_rank_lt(const struct spc_ring *r, double v)
{
    uint16_t t = r->root;
    uint32_t rank = 0;

    while (t != NIL) {
        if (r->s[t].value < v) {
            rank += sz(r, r->n[t].l) + 1u;
            t = r->n[t].r;
        } else {
            t = r->n[t].l;
        }
    }
    return rank;
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

/* Smallest k+1 elements of A u B take i from A, k+1-i from B; returns the
 * k-th (0-based) and, in *next, the (k+1)-th when it exists. */
static double kth_union(const struct dseq *d, uint32_t k, double *next)
{
    uint32_t lo = k + 1 > d->nb ? k + 1 - d->nb : 0;
    uint32_t hi = k + 1 < d->na ? k + 1 : d->na;
    uint32_t i, j;
    double a_prev, b_prev, kth, a_i, b_j;

    while (lo < hi) { /* smallest i with A[i] >= B[k-i] (i in [lo, hi)) */
        i = lo + (hi - lo) / 2;
        j = k - i; /* B index paired with A[i] */
        if (da(d, i) < db(d, j))
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
    d.split = spc_ring_rank_lt(r, med);
    d.nb = d.split;
    d.na = n - d.split;
    kth = kth_union(&d, (n - 1) / 2, &next);
    return (n & 1) ? kth : 0.5 * (kth + next);
}
