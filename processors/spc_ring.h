/*
 * spc_ring.h -- the per-key ring buffer of the last N samples with a sorted
 * copy of its valid values, so the window median is O(1), the MAD O(log N)
 * (O(log^2 N) for even counts in the worst case) and a push is two O(log N)
 * binary searches plus memmoves of at most 8N bytes -- never a sort.
 * Why a sorted copy of the values (8 bytes a sample) and not a sorted index
 * of slots (2 bytes) or a balanced tree: with 10 000 keys the state is cold
 * on every event, and every probe of an index lands on a random sample line;
 * the copy keeps the probes in one array whose first levels can be
 * prefetched.  Measured: +31 % events/s at the defaults for +1.5 KB per key
 * at N = 256; the index had beaten an order-statistic treap (741 vs
 * 1 978 ns cold).  See docs/performance.md "Order statistics".
 * OWNERSHIP: the ring owns one allocation holding samples and sorted values.
 * THREADING: none; a ring belongs to one key, a key to one worker.
 */
#ifndef SPC_RING_H
#define SPC_RING_H

#include "spc_common.h"

#include <math.h>
#include <stdint.h>

/** Bit 31 of spc_sample.mp: the sample passed its limits. */
#define SPC_SAMPLE_PASS 0x80000000u
/** Sample times are seconds since 2000-01-01T00:00:00Z. */
#define SPC_SAMPLE_EPOCH_MS 946684800000LL
/** Largest ring capacity (16-bit slot indexes). */
#define SPC_RING_MAX 16384u

/** One sample: 16 bytes. value is NaN for an invalid (uncharted) reading. */
struct spc_sample {
    double value;
    uint32_t ts; /* seconds since SPC_SAMPLE_EPOCH_MS, clamped */
    uint32_t mp; /* pass bit | flags | metadata tuple id (see spc_key.h) */
};

struct spc_ring {
    struct spc_sample *s; /* cap samples, in slot order */
    double *v;            /* the valid values, ascending */
    uint16_t cap;         /* <= SPC_RING_MAX */
    uint16_t head;        /* slot of the next write */
    uint16_t count;       /* samples held, <= cap */
    uint16_t nvalid;      /* samples with a valid value (entries of v) */
};

/** @returns SPC_OK or SPC_ERR_NOMEM/RANGE (cap must be 1..SPC_RING_MAX). */
spc_err_t spc_ring_init(struct spc_ring *r, uint32_t cap) SPC_WUR;
void spc_ring_fini(struct spc_ring *r);
/** Bytes of heap held by the ring. */
size_t spc_ring_bytes(const struct spc_ring *r);
/** Forget all samples (keeps the memory). */
void spc_ring_clear(struct spc_ring *r);

/** Append @p s, dropping the oldest sample when full. */
void spc_ring_push(struct spc_ring *r, const struct spc_sample *s);

/** @returns the sample @p age steps back (0 = newest); age < count. */
static inline const struct spc_sample *spc_ring_back(const struct spc_ring *r,
                                                     uint32_t age)
{
    uint32_t slot =
        r->head > age ? r->head - 1 - age : r->head + r->cap - 1 - age;

    return &r->s[slot];
}

/** @returns the @p i-th oldest sample (0 = oldest); i < count. */
static inline const struct spc_sample *spc_ring_at(const struct spc_ring *r,
                                                   uint32_t i)
{
    return spc_ring_back(r, r->count - 1 - i);
}

/**
 * @brief The newest @p w samples (w <= count) as at most two contiguous
 * spans, oldest first: a[0..na) then b[0..nb).
 */
static inline void spc_ring_spans(const struct spc_ring *r, uint32_t w,
                                  const struct spc_sample **a, uint32_t *na,
                                  const struct spc_sample **b, uint32_t *nb)
{
    if (w <= r->head) {
        *a = r->s + r->head - w;
        *na = w;
        *b = NULL;
        *nb = 0;
    } else {
        *a = r->s + r->cap - (w - r->head);
        *na = w - r->head;
        *b = r->s;
        *nb = r->head;
    }
}

/** @returns the k-th smallest valid value (0-based, k < nvalid). */
static inline double spc_ring_select(const struct spc_ring *r, uint32_t k)
{
    return r->v[k];
}

/** @returns number of valid values < v (strictly). */
uint32_t spc_ring_rank_lt(const struct spc_ring *r, double v);
/** @returns number of valid values <= v. */
uint32_t spc_ring_rank_le(const struct spc_ring *r, double v);
/** @returns the median of the valid values (NaN when none). */
double spc_ring_median(const struct spc_ring *r);
/** @returns the median absolute deviation from @p med (NaN when none). */
double spc_ring_mad(const struct spc_ring *r, double med);
/**
 * @brief Is MAD(med) < @p d?  Answered with two binary searches, O(log N),
 * without computing the MAD (exactly, ties included).
 */
int spc_ring_mad_below(const struct spc_ring *r, double med, double d);

/** Sample time from epoch milliseconds (clamped to the 32-bit range). */
static inline uint32_t spc_sample_time(int64_t ms)
{
    int64_t s = (ms - SPC_SAMPLE_EPOCH_MS) / 1000;

    return s < 0 ? 0 : s > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

#endif /* SPC_RING_H */
