/*
 * spc_ring.h -- the per-key ring buffer of the last N samples, with an
 * order-statistic treap over the ring slots that holds valid values, so the
 * window median is O(log N) and the MAD O(log^2 N) per query, and a push is
 * O(log N) expected (one delete + one insert), never a sort.
 *
 * OWNERSHIP: the ring owns one allocation holding samples and tree nodes.
 * THREADING: none; a ring belongs to one key, a key to one worker.
 */
#ifndef SPC_RING_H
#define SPC_RING_H

#include "spc_common.h"

#include <math.h>
#include <stdint.h>

/** Bit 31 of spc_sample.mp: the sample passed its limits. */
#define SPC_SAMPLE_PASS 0x80000000u
/** Bits 0..30 of spc_sample.mp: interned metadata tuple id. */
#define SPC_SAMPLE_META_MASK 0x7fffffffu
/** Sample times are seconds since 2000-01-01T00:00:00Z. */
#define SPC_SAMPLE_EPOCH_MS 946684800000LL
/** Largest ring capacity (tree links are 16-bit). */
#define SPC_RING_MAX 16384u

/** One sample: 16 bytes. value is NaN for an invalid (uncharted) reading. */
struct spc_sample {
    double value;
    uint32_t ts; /* seconds since SPC_SAMPLE_EPOCH_MS, clamped */
    uint32_t mp; /* pass bit | metadata tuple id */
};

struct spc_onode {
    uint16_t l, r, size;
};

struct spc_ring {
    struct spc_sample *s;  /* cap samples */
    struct spc_onode *n;   /* cap tree nodes, one per slot */
    uint32_t cap;
    uint32_t head;   /* slot of the next write */
    uint32_t count;  /* samples held, <= cap */
    uint32_t nvalid; /* samples with a valid value (tree size) */
    uint16_t root;
};

/** @returns SPC_OK or SPC_ERR_NOMEM/RANGE (cap must be 1..SPC_RING_MAX). */
spc_err_t spc_ring_init(struct spc_ring *r, uint32_t cap) SPC_WUR;
void spc_ring_fini(struct spc_ring *r);
/** Bytes of heap held by the ring. */
size_t spc_ring_bytes(const struct spc_ring *r);

/** Append @p s, dropping the oldest sample when full.  O(log N). */
void spc_ring_push(struct spc_ring *r, const struct spc_sample *s);

/** @returns the sample @p age steps back (0 = newest); age < count. */
static inline const struct spc_sample *spc_ring_back(const struct spc_ring *r,
                                                     uint32_t age)
{
    uint32_t slot = (r->head + r->cap - 1 - age) % r->cap;

    return &r->s[slot];
}

/** @returns the @p i-th oldest sample (0 = oldest); i < count. */
static inline const struct spc_sample *spc_ring_at(const struct spc_ring *r,
                                                   uint32_t i)
{
    uint32_t start = (r->head + r->cap - r->count) % r->cap;

    return &r->s[(start + i) % r->cap];
}

/** @returns the k-th smallest valid value (0-based, k < nvalid). */
double spc_ring_select(const struct spc_ring *r, uint32_t k);
/** @returns number of valid values < v (strictly). */
uint32_t spc_ring_rank_lt(const struct spc_ring *r, double v);
/** @returns the median of the valid values (NaN when none). */
double spc_ring_median(const struct spc_ring *r);
/** @returns the median absolute deviation from @p med (NaN when none). */
double spc_ring_mad(const struct spc_ring *r, double med);

/** Sample time from epoch milliseconds (clamped to the 32-bit range). */
static inline uint32_t spc_sample_time(int64_t ms)
{
    int64_t s = (ms - SPC_SAMPLE_EPOCH_MS) / 1000;

    return s < 0 ? 0 : s > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)s;
}

#endif /* SPC_RING_H */
