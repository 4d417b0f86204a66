/*
 * spc_engine.h -- the SPC engine: step-key state table, baselines and the
 * detectors, fed with flat measurement events, emitting anomalies.
 *
 * DATA FLOW: spc_event[] (one report) -> key lookup -> detectors ->
 *            spc_anomaly -> sink callback
 * OWNERSHIP: the engine borrows the config (it must outlive the engine) and
 *   owns every key state and interned string.
 * THREADING: an engine is single-threaded; the streaming daemon runs one
 *   engine per worker thread (one per input partition group).
 */
#ifndef SPC_ENGINE_H
#define SPC_ENGINE_H

#include "spc_anomaly.h"
#include "spc_config.h"
#include "spc_event.h"

struct spc_engine;
struct spc_key;

/** Receives each anomaly; @p a is valid during the call only. */
typedef void(spc_anomaly_cb)(const struct spc_anomaly *a, void *opaque);

struct spc_engine_stats {
    uint64_t events;    /* events processed */
    uint64_t valid;     /* numeric events with a valid value */
    uint64_t invalid;   /* numeric events whose value was not a number */
    uint64_t attribute; /* pass/fail-only events */
    uint64_t keys;      /* step keys held */
    uint64_t anomalies[SPC_DET__COUNT];
    uint64_t anomalies_total;
    size_t state_bytes; /* heap bytes held by key states and tables */
};

/** @returns owned engine, NULL with the reason in errstr. */
struct spc_engine *spc_engine_new(const struct spc_config *cfg, char *errstr,
                                  size_t errstr_size);
void spc_engine_destroy(struct spc_engine *e);

void spc_engine_set_sink(struct spc_engine *e, spc_anomaly_cb *cb,
                         void *opaque);

/**
 * @brief Process @p n events (typically one report's) in order.
 * Anomalies go to the sink during the call.
 * @returns SPC_OK, or SPC_ERR_NOMEM (state unchanged for the failing event).
 */
spc_err_t spc_engine_process(struct spc_engine *e, const struct spc_event *ev,
                             size_t n) SPC_WUR;

void spc_engine_get_stats(const struct spc_engine *e,
                          struct spc_engine_stats *out);

/**
 * @brief Reset the baseline and detector state of every key whose
 * "test_plan/test_step/measurement" matches @p glob (operator re-baseline):
 * a new warm-up starts with the next sample (known baselines stay).
 * @returns the number of keys reset.
 */
size_t spc_engine_rebaseline(struct spc_engine *e, const char *glob);

/** The config the engine runs with. */
const struct spc_config *spc_engine_config(const struct spc_engine *e);

/* ---- state access for checkpoints (spc_codec) ---- */

/** Iterate keys; set @p dirty_only to visit changed keys only. */
typedef void(spc_key_visit_cb)(struct spc_key *k, void *opaque);
void spc_engine_foreach_key(struct spc_engine *e, int dirty_only,
                            spc_key_visit_cb *cb, void *opaque);
/** Mark every key clean (after a successful checkpoint). */
void spc_engine_clear_dirty(struct spc_engine *e);

#endif /* SPC_ENGINE_H */
