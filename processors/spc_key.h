/*
 * spc_key.h -- per step key state (DESIGN section 6), shared by the engine,
 * the detectors and the state codec.  Internal to processors/.
 *
 * OWNERSHIP: keys are owned by their engine; the ring and the subgroup table
 *   are owned by the key.
 * THREADING: a key belongs to exactly one engine, an engine to one worker.
 */
#ifndef SPC_KEY_H
#define SPC_KEY_H

#include "spc_config.h"
#include "spc_ring.h"
#include "spc_stats.h"

/* Extra flags in spc_sample.mp next to the pass bit (see spc_ring.h). */
#define SPC_SAMPLE_NEAR_HI 0x40000000u
#define SPC_SAMPLE_NEAR_LO 0x20000000u
#define SPC_SAMPLE_TUPLE_MASK 0x1fffffffu

/* Bits of spc_key.active: bit d (< SPC_DET__COUNT) is detector d's main
 * condition; these name the second conditions of some detectors. */
#define SPC_ACT_CUSUM_DN 11
#define SPC_ACT_VAR_DN 12
#define SPC_ACT_FLAT_INVALID 13
#define SPC_ACT_NL_LO 14
#define SPC_ACT_TREND_DN 15

/** Baseline of a numeric key (known, or estimated after warm-up). */
struct spc_base {
    double mean, sigma;     /* in force when ready */
    struct spc_welford acc; /* accepted in-control samples */
    uint32_t counted;       /* samples accepted into the counters below */
    uint8_t ready, frozen, degenerate;
    /* data-quality and near-limit baselines, counted over accepted samples
     * (also for known baselines) until max_samples of them */
    double reps, pairs;  /* identical consecutive values */
    double near, near_n; /* values near a spec limit */
};

/** Nelson-rule run state, updated incrementally per valid sample. */
struct spc_runs {
    uint16_t side_run; /* consecutive points on one side of the mean */
    int8_t side;       /* +1 above, -1 below, 0 none yet */
    int8_t dir;        /* last step direction +1 / -1 / 0 */
    uint16_t mono_run; /* consecutive increases or decreases */
    uint16_t alt_run;  /* consecutive alternating steps */
    uint16_t in1_run;  /* consecutive points within 1 sigma */
    uint16_t out1_run; /* consecutive points beyond 1 sigma, either side */
    uint8_t hi2, lo2;  /* last 3 points beyond +2 / -2 sigma (bits) */
    uint8_t hi1, lo1;  /* last 8 points beyond +1 / -1 sigma (bits) */
    double prev;       /* previous value */
    uint16_t active;   /* bit r: rule r condition active */
    uint8_t have_prev;
};

/** Sums of one half-window bucket (values clipped and centred). */
struct spc_sgb {
    uint16_t n;     /* valid samples */
    uint16_t ne;    /* events (yield) */
    uint16_t npass; /* passing events */
    float sum, sumsq;
};

/** Per metadata value statistics over the subgroup window: a jumping window
 *  of two buckets of sg_window/2 events each (b[cur] filling, the other the
 *  previous half), so sums are only ever added to and a bucket is cleared
 *  when it is reused -- no removals, no rounding drift. */
struct spc_sg {
    uint32_t value; /* interned metadata value id */
    uint8_t dim;
    uint8_t active; /* SPC_SG_* conditions active */
    struct spc_sgb b[2];
};

/* Keys are allocated 64-byte aligned; the first line holds what
 * key_find() compares and every pointer and count the engine's prefetches
 * need, so they are issued without waiting for another line (that line is
 * loaded when the report's keys are resolved). */
struct spc_key {
    uint32_t plan, step, meas; /* interned ids */
    uint16_t n_sg;             /* subgroup entries used */
    uint16_t ix_sg;            /* subgroup index slots */
    struct spc_ring ring;
    struct spc_sg *sg; /* cap_sg entries, n_sg used */
    uint16_t *sg_ix;   /* ix_sg slots (power of two), 0 = empty */
    const struct spc_params *p;
    /* -- line 1 -- */
    uint32_t unit;   /* interned id of the last unit seen */
    uint8_t kind;    /* enum spc_kind */
    uint8_t dirty;   /* changed since the last checkpoint */
    uint16_t active; /* bit d: detector d condition active */
    uint16_t sg_active_any;
    uint16_t cap_sg;       /* subgroup entries allocated */
    uint16_t sg_fill;      /* events in the current subgroup bucket */
    uint8_t sg_cur;        /* subgroup bucket being filled */
    uint64_t seq;          /* events so far (valid or not) */
    uint64_t nvalid;       /* valid numeric samples so far */
    uint64_t ninvalid;     /* invalid values so far */
    uint64_t base_seq;     /* seq at which the baseline became ready */
    uint64_t last_alarm;   /* seq of the last event with a condition active */
    struct spc_welford lr; /* long-run stats of all valid samples */
    struct spc_spec spec;  /* latest spec limits seen */
    struct spc_base base;
    /* ewma */
    double ewma; /* its step count ewma_t is next to flat_run (packing) */
    /* cusum (standardised) */
    double cu_hi, cu_lo;
    uint32_t cu_hi_n, cu_lo_n;
    /* trend: OLS sums over the trend window of values clipped to
     * [tr_lo, tr_hi] minus tr_center; positions 0 (oldest) .. w-1 */
    double tr_s1, tr_s2, tr_sy, tr_siy;
    double tr_center, tr_lo, tr_hi; /* fixed between exact refreshes */
    uint16_t tr_n;                  /* valid samples in the window */
    uint8_t tr_mk_wait; /* events before Mann-Kendall is computed again */
    uint16_t tr_next;   /* events until the next exact recomputation */
    /* variance: windowed sum of capped squared successive differences,
     * maintained incrementally, recomputed exactly every window */
    double var_q;      /* last ratio to the baseline variance */
    double var_sum;    /* sum of min(d^2, var_cap) over the window's pairs */
    double var_cap;    /* cap in squared value units, fixed between refreshes */
    uint16_t var_m;    /* pairs in the window */
    uint16_t var_next; /* events until the next exact recomputation */
    /* flatline: invalid values among the last flat_invalid_window events */
    uint8_t inv_count;
    /* consecutive evaluations with the off-condition (sustained clearing) */
    uint8_t ewma_quiet, var_quiet, trend_quiet;
    /* yield and near-limit counts over their windows */
    uint32_t y_pass; /* passing events in the yield window */
    double y_base_pass, y_base_n;
    uint32_t nl_hi, nl_lo; /* near flags in the near-limit window */
    /* flatline */
    uint32_t flat_run;
    uint32_t ewma_t;
    uint64_t invalid_bits; /* last 64 events, 1 = invalid */
    /* runs */
    struct spc_runs runs;
    /* subgroup: dense entries + open-addressed index of entry numbers + 1
     * (sg, sg_ix, n_sg, ix_sg: first line; cap_sg, sg_fill, sg_cur: second) */
    struct spc_sg sg_tot; /* all samples of the window */
    double sg_center;     /* offset subtracted before summing */
};

#endif /* SPC_KEY_H */
