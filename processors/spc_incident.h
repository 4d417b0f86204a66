/*
 * spc_incident.h -- incidents: anomalies grouped into the few operator-facing
 * problems they describe (DESIGN section 8), with state (open ->
 * acknowledged -> resolved), rule advice and, when it arrives, LLM advice.
 *
 * DATA FLOW: spc_anomaly -> scope (plan x station/fixture/firmware/...
 *   or the fleet) -> open incident of that scope, or a related one (same
 *   step, a more specific scope of the same station) -> new revision when
 *   it changed (rate-limited) -> sink (spc.incidents, console).
 *   spc_incident_action (ack / resolve / note / re-baseline) -> new revision.
 * OWNERSHIP: the incident table owns incidents; a struct spc_incident passed
 *   to the sink is valid during the call only.
 * THREADING: one table per INCIDENT stage thread; LLM replies come back
 *   through spc_incidents_apply_llm() on that thread.
 */
#ifndef SPC_INCIDENT_H
#define SPC_INCIDENT_H

#include "spc_anomaly.h"
#include "spc_buf.h"
#include "spc_config.h"

enum spc_inc_state {
    SPC_INC_OPEN = 0,
    SPC_INC_ACKNOWLEDGED = 1,
    SPC_INC_RESOLVED = 2
};

const char *spc_inc_state_name(enum spc_inc_state s);

/** A likely cause with its evidence (rules or LLM). */
struct spc_advice_cause {
    char *cause;
    char *likelihood; /* "high" | "medium" | "low" */
    char *evidence;
};

/** Advice on an incident. */
struct spc_advice {
    char *source; /* "rules" or "llm" */
    char *summary;
    struct spc_advice_cause *causes;
    size_t n_causes;
    char **actions;
    size_t n_actions;
    char **correlations; /* other steps / signals to check */
    size_t n_correlations;
};

void spc_advice_fini(struct spc_advice *a);
/** Deep copy. @returns SPC_OK or SPC_ERR_NOMEM (dst untouched). */
spc_err_t spc_advice_copy(struct spc_advice *dst,
                          const struct spc_advice *src) SPC_WUR;
/** Append the advice as a JSON object. */
void spc_advice_to_json(const struct spc_advice *a, struct spc_buf *b);

/** One step key involved, with baseline vs recent statistics. */
struct spc_inc_step {
    char *test_step, *measurement, *unit;
    uint32_t detectors; /* bit d: detector d reported on this step */
    uint32_t anomalies;
    double baseline_mean, baseline_sigma, baseline_yield;
    double recent_mean, recent_sd, recent_yield;
    uint32_t recent_n;
    double shift_sigma; /* signed estimate (CUSUM/EWMA/subgroup), NaN */
    double slope_sigma; /* trend per unit in sigma, NaN if none */
    double lsl, usl;    /* NaN when absent */
};

/** Per metadata value mean / yield (from the anomalies' context). */
struct spc_inc_breakdown {
    char *test_step, *dim, *value;
    uint32_t n;
    double mean, yield;
};

/** A recent sample of the incident (failing ones preferred). */
struct spc_inc_sample {
    char *test_step;
    double value;
    uint8_t passed;
    char *uut_id, *station, *fixture, *fw, *op;
    int64_t ts_ms;
};

/** An anomaly that formed the incident. */
struct spc_inc_anomaly {
    char id[33];
    enum spc_det detector;
    int rule;
    char *check;
    char *test_step;
    char *message;
    int64_t ts_ms;
};

#define SPC_INC_MAX_STEPS 16
#define SPC_INC_MAX_BREAKDOWN 48
#define SPC_INC_MAX_SAMPLES 8
#define SPC_INC_MAX_ANOMALIES 16
#define SPC_INC_MAX_NOTES 8

struct spc_incident {
    char id[33];       /* deterministic: first anomaly id + scope */
    uint32_t revision; /* 1, 2, ... : a new one whenever it changes */
    enum spc_inc_state state;
    enum spc_severity severity;
    char *pattern; /* "fixture", "station", "firmware", "fleet-shift",
                        "fleet-drift", "variance", "stuck", "near-limit",
                        "yield", "outlier", "data-quality", ... */
    char *test_plan;
    char *scope_dim;         /* "fixture", "station", "fw", ..., or "fleet" */
    char *scope_value;       /* "FX-2B", ..., or "*" */
    uint8_t scope_evidenced; /* named by a subgroup test; else where the
                                anomalies were seen (station) or pooled */
    char *station;           /* where it is, when known (else NULL) */
    char *fixture;
    char *fw;
    char *title;                   /* one-line alert */
    char *summary;                 /* one or two sentences */
    int64_t opened_ms, updated_ms; /* event time */
    int64_t acked_ms, resolved_ms; /* 0 when not */
    char *acked_by, *resolved_by;
    uint32_t anomaly_count;
    struct spc_inc_step steps[SPC_INC_MAX_STEPS];
    unsigned n_steps;
    struct spc_inc_breakdown breakdown[SPC_INC_MAX_BREAKDOWN];
    unsigned n_breakdown;
    struct spc_inc_sample samples[SPC_INC_MAX_SAMPLES];
    unsigned n_samples;
    struct spc_inc_anomaly anomalies[SPC_INC_MAX_ANOMALIES];
    unsigned n_anomalies; /* the most recent ones */
    char *notes[SPC_INC_MAX_NOTES];
    unsigned n_notes;
    struct spc_advice rules;
    struct spc_advice llm; /* source NULL until an LLM reply arrived */
    uint8_t llm_requested; /* asked once per incident */
    char merged_into[33];  /* "" or the incident that absorbed this one
                                (then resolved for good) */
};

/** Append the incident as one JSON object (contract of spc.incidents). */
void spc_incident_to_json(const struct spc_incident *inc, struct spc_buf *b);
/** One-line operator alert ("[critical] PCBA-100/10 fixture FX-2B: ..."). */
void spc_incident_render_line(const struct spc_incident *inc,
                              struct spc_buf *b);
/** Short Markdown brief for the operator. */
void spc_incident_render_brief(const struct spc_incident *inc,
                               struct spc_buf *b);
/**
 * @brief Parse one spc.incidents JSON object (spc_incident_to_json()'s
 * output) back into @p out, for consumers that render incidents.
 * @remark @p out owns its strings afterwards: spc_incident_fini().
 */
spc_err_t spc_incident_from_json(const json_t *obj, struct spc_incident *out,
                                 char *errstr, size_t errstr_size) SPC_WUR;
/** Free what spc_incident_from_json() allocated (NULL accepted). */
void spc_incident_fini(struct spc_incident *inc);
/** The facts handed to the LLM advisor, as JSON (untrusted strings kept
 *  as data; the advisor delimits them). */
void spc_incident_facts_json(const struct spc_incident *inc, struct spc_buf *b);

struct spc_incidents;

/** Receives each new revision; @p inc is valid during the call only. */
typedef void(spc_incident_cb)(const struct spc_incident *inc, void *opaque);
/** Offered each new revision of an incident without LLM advice requested
 *  yet; @returns 1 when it queued a request (not offered again), 0 when
 *  the incident does not qualify (yet: severity and pattern may change). */
typedef int(spc_llm_request_cb)(const struct spc_incident *inc, void *opaque);
/** An incident left the table (trimmed): its checkpoint can go. */
typedef void(spc_incident_drop_cb)(const char *id, void *opaque);

/** Operator actions (spc.incident-actions). */
enum spc_action_kind {
    SPC_ACT_ACK,
    SPC_ACT_RESOLVE,
    SPC_ACT_NOTE,
    SPC_ACT_REBASELINE
};

struct spc_action {
    enum spc_action_kind kind;
    const char *incident_id;
    const char *user; /* may be NULL */
    const char *note; /* for NOTE, may be NULL otherwise */
    int64_t ts_ms;
};

/** Incident grouping parameters (config section "incidents"). */
struct spc_incident_opts {
    int64_t group_window_ms;      /* anomalies this close join an incident */
    int64_t update_ms;            /* at most one "more of the same" revision */
    int max_new_per_station_hour; /* beyond: merged into the latest */
    int64_t auto_resolve_ms;      /* quiet this long: resolved (0: never) */
    int min_severity;             /* anomalies below are kept but do not open */
    unsigned max_open;            /* table bound; oldest resolved dropped */
};

/** Defaults, then the "incidents" section (NULL: defaults); errors name
 *  "incidents.<key>". */
spc_err_t spc_incident_opts_from_json(const json_t *section,
                                      struct spc_incident_opts *out,
                                      char *errstr, size_t errstr_size) SPC_WUR;

/** @returns owned table, NULL on OOM. */
struct spc_incidents *spc_incidents_new(const struct spc_incident_opts *o);
void spc_incidents_destroy(struct spc_incidents *t);
void spc_incidents_set_sink(struct spc_incidents *t, spc_incident_cb *cb,
                            void *opaque);
/** Called when an incident may be worth LLM advice; the callee decides
 *  (triggers, severity) and queues the request. */
void spc_incidents_set_llm(struct spc_incidents *t, spc_llm_request_cb *cb,
                           void *opaque);
void spc_incidents_set_drop(struct spc_incidents *t, spc_incident_drop_cb *cb,
                            void *opaque);

/** Group @p a (event time a->ts_ms drives windows and rate limits). */
spc_err_t spc_incidents_add(struct spc_incidents *t,
                            const struct spc_anomaly *a) SPC_WUR;

/**
 * @brief Apply an operator action.  For SPC_ACT_REBASELINE, *globs receives
 * an owned, NULL-terminated list of "test_plan/test_step/measurement"
 * patterns of the incident's steps (free each and the list), for the
 * caller to reset in DETECT; NULL otherwise.
 * @returns SPC_OK, SPC_ERR_NOTFOUND (unknown incident), SPC_ERR_NOMEM.
 */
spc_err_t spc_incidents_action(struct spc_incidents *t,
                               const struct spc_action *act,
                               char ***globs) SPC_WUR;

/** Attach LLM advice (a new revision, advice.source "llm").  @p adv is
 *  copied.  @returns SPC_OK, SPC_ERR_NOTFOUND (not in this table),
 *  SPC_ERR_NOMEM. */
spc_err_t spc_incidents_apply_llm(struct spc_incidents *t, const char *id,
                                  const struct spc_advice *adv) SPC_WUR;

/** Emit the revisions held back by the update rate limit. */
void spc_incidents_flush(struct spc_incidents *t);

/** The Markdown brief of every incident, in creation order. */
void spc_incidents_brief_all(const struct spc_incidents *t, struct spc_buf *b);

/** Incidents held. */
size_t spc_incidents_count(const struct spc_incidents *t);

/** Checkpoint: every incident as a versioned blob through @p cb (changed
 *  ones only when @p dirty_only); restore one. */
typedef int(spc_incident_blob_cb)(const char *id, const void *blob, size_t len,
                                  void *opaque);
spc_err_t spc_incidents_export(struct spc_incidents *t, int dirty_only,
                               spc_incident_blob_cb *cb, void *opaque) SPC_WUR;
spc_err_t spc_incidents_import(struct spc_incidents *t, const void *blob,
                               size_t len, char *errstr,
                               size_t errstr_size) SPC_WUR;

/** Parse an action JSON object ({"action": "ack"|"resolve"|"note"|
 *  "rebaseline", "incident_id": ..., "user": ..., "note": ...,
 *  "timestamp": RFC 3339}); strings borrow from @p obj. */
spc_err_t spc_action_from_json(const json_t *obj, struct spc_action *out,
                               char *errstr, size_t errstr_size) SPC_WUR;

#endif /* SPC_INCIDENT_H */
