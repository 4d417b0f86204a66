/*
 * spc_detect.h -- the interface between the engine and the detectors.
 * Internal to processors/.
 *
 * DATA FLOW: engine builds a struct spc_dctx per event -> each enabled
 *   detector evaluates it -> spc_detect_fire() builds the anomaly and hands
 *   it to the sink.
 * THREADING: @locality worker (the engine's thread).
 */
#ifndef SPC_DETECT_H
#define SPC_DETECT_H

#include "spc_anomaly.h"
#include "spc_engine.h"
#include "spc_key.h"

/** Context of one event at one key. */
struct spc_dctx {
    struct spc_engine *eng;
    struct spc_key *k;
    const struct spc_params *p;
    const struct spc_event *ev;
    uint32_t tuple;   /* metadata tuple id */
    double x;         /* the value (valid events only) */
    double mu, sigma; /* baseline in force (base_ok) */
    int base_ok;      /* baseline ready and not degenerate */
    double widen;     /* estimation-error factor sqrt(1 + 1/n), 1 if known */
    double nbase;     /* baseline sample count (1e9 when known) */
    const uint32_t *tuples; /* the engine's tuple table (stable during an
                               event) */
    unsigned ndims;
    /* subgroup entries (indexes into k->sg) of this event, found when it
     * entered the window; indexes, as adding an entry may move the array */
    uint16_t sg_ent[SPC_META_MAX];
    unsigned sg_dim[SPC_META_MAX];
    unsigned n_sg_ent;
};

/** Interned value of dimension @p dim in metadata tuple @p tuple. */
static inline uint32_t spc_tuple_val(const struct spc_dctx *c, uint32_t tuple,
                                     unsigned dim)
{
    return c->tuples[(size_t)tuple * c->ndims + dim];
}

/** Bits set in a byte. */
static inline unsigned spc_popc8(uint8_t x)
{
    x = (uint8_t)(x - ((x >> 1) & 0x55));
    x = (uint8_t)((x & 0x33) + ((x >> 2) & 0x33));
    return (x + (x >> 4)) & 0x0f;
}

/**
 * @brief Hysteresis: @returns 1 exactly when condition @p on starts for
 * detector bit @p bit in @p *active (rising edge); clears the bit when the
 * condition is off.
 */
static inline int spc_edge(uint16_t *active, unsigned bit, int on)
{
    uint16_t m = (uint16_t)(1u << bit);

    if (!on) {
        *active &= (uint16_t)~m;
        return 0;
    }
    if (*active & m)
        return 0;
    *active |= m;
    return 1;
}

/**
 * @brief Latch with sustained clearing: @returns 1 when @p raise sets bit
 * @p bit (rising edge); once set, the bit clears only after @p off held for
 * @p need consecutive calls (counted in @p *quiet).
 */
static inline int spc_latch(uint16_t *active, unsigned bit, int raise, int off,
                            uint8_t *quiet, unsigned need)
{
    uint16_t m = (uint16_t)(1u << bit);

    if (!(*active & m)) {
        if (!raise)
            return 0;
        *active |= m;
        *quiet = 0;
        return 1;
    }
    if (!off) {
        *quiet = 0;
        return 0;
    }
    if (*quiet < 255)
        (*quiet)++;
    if (*quiet >= need)
        *active &= (uint16_t)~m;
    return 0;
}

/**
 * @brief A sustained move of the key's level in direction @p up (1) or down
 * (0) is already being reported: CUSUM, EWMA or trend is active that way.
 */
static inline int spc_shift_active(const struct spc_key *k, int up)
{
    uint16_t a = k->active;

    if (a & (1u << (up ? SPC_DET_CUSUM : SPC_ACT_CUSUM_DN)))
        return 1;
    if (a & (1u << (up ? SPC_DET_TREND : SPC_ACT_TREND_DN)))
        return 1;
    return (a & (1u << SPC_DET_EWMA)) &&
           (up ? k->ewma > k->base.mean : k->ewma < k->base.mean);
}

/** The spread has grown (variance-up condition active). */
static inline int spc_spread_active(const struct spc_key *k)
{
    return (k->active >> SPC_DET_VARIANCE) & 1u;
}

/** Start an anomaly for detector @p det with the event's identity filled. */
void spc_detect_begin(const struct spc_dctx *c, struct spc_anomaly *a,
                      enum spc_det det);
/** Finish (severity, id, evidence of the baseline) and emit. */
void spc_detect_fire(const struct spc_dctx *c, struct spc_anomaly *a);

/** Shorthand of the event's display name: "test_step" or
 *  "test_step/measurement" when they differ. */
void spc_detect_step_name(const struct spc_dctx *c, char *out, size_t size);
/** "ST-02/FX-2B" style location of the event (station/fixture), or "". */
void spc_detect_where(const struct spc_dctx *c, char *out, size_t size);
/** Format a value with its unit ("3.412 V"). */
void spc_detect_fmt_value(const struct spc_dctx *c, double v, char *out,
                          size_t size);

/** The engine's tuple table (valid until the next new tuple). */
const uint32_t *spc_engine_tuples(const struct spc_engine *e);
/** Intern a metadata tuple of value ids (one per dimension). */
spc_err_t spc_engine_tuple_intern(struct spc_engine *e, const uint32_t *vals,
                                  uint32_t *tuple) SPC_WUR;
/** Intern a string. */
spc_err_t spc_engine_intern(struct spc_engine *e, const char *s, size_t len,
                            uint32_t *id) SPC_WUR;
/** The key of (plan, step, meas), created (fresh state) when absent. */
spc_err_t spc_engine_key_get(struct spc_engine *e, const char *plan,
                             const char *step, const char *meas, uint8_t kind,
                             struct spc_key **out) SPC_WUR;
/** The key of (plan, step, meas), or NULL. */
struct spc_key *spc_engine_key_find(struct spc_engine *e, const char *plan,
                                    const char *step, const char *meas);
/** Interned string of @p id. */
const char *spc_engine_str(const struct spc_engine *e, uint32_t id);
/** The engine's dimension names. */
const struct spc_dims *spc_engine_dims(const struct spc_engine *e);

/* Chart statistics, updated for every valid value once a baseline exists
 * (even when their detector is disabled: others read the current level). */
void spc_chart_update(struct spc_dctx *c);
/* Point detectors (evaluated before the sample enters the window). */
void spc_det_shewhart(struct spc_dctx *c);
void spc_det_robust_z(struct spc_dctx *c);
void spc_det_ewma(struct spc_dctx *c);
void spc_det_cusum(struct spc_dctx *c);
void spc_det_runs(struct spc_dctx *c);
/* Window detectors (evaluated after the sample entered the window). */
void spc_det_trend(struct spc_dctx *c);
/* Incremental window statistics, after each push (all numeric events). */
void spc_trend_slide(struct spc_dctx *c);
void spc_variance_slide(struct spc_dctx *c);
void spc_det_variance(struct spc_dctx *c);
void spc_det_near_limit(struct spc_dctx *c);
void spc_det_flatline(struct spc_dctx *c);
void spc_det_yield(struct spc_dctx *c);
void spc_det_subgroup(struct spc_dctx *c);

/** Near-limit flags of value @p x for the key's spec and baseline. */
uint32_t spc_near_flags(const struct spc_key *k, const struct spc_params *p,
                        double x);

/* Subgroup window maintenance (spc_det_subgroup.c): the new sample enters
 * the current bucket of the jumping window. */
spc_err_t spc_sg_slide(struct spc_dctx *c, const struct spc_sample *s) SPC_WUR;
/** Replace a key's subgroup entries (checkpoint restore). */
spc_err_t spc_sg_restore(struct spc_key *k, const struct spc_sg *entries,
                         size_t n) SPC_WUR;
/** Forget a key's subgroup statistics (re-baseline). */
void spc_sg_reset(struct spc_key *k);
/** Bytes held by a key's subgroup table. */
size_t spc_sg_bytes(const struct spc_key *k);

#endif /* SPC_DETECT_H */
