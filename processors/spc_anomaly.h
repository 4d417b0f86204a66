/*
 * spc_anomaly.h -- the anomaly record of DESIGN section 4, its deterministic
 * id, severity and JSON encoding.
 *
 * OWNERSHIP: an anomaly borrows its strings (from the event, the engine's
 *   intern table); valid during the sink callback only.  spc_anomaly_copy()
 *   makes an owned deep copy.
 */
#ifndef SPC_ANOMALY_H
#define SPC_ANOMALY_H

#include "spc_buf.h"
#include "spc_config.h"
#include "spc_event.h"

#define SPC_EVIDENCE_MAX 16
#define SPC_MESSAGE_MAX 384

enum spc_severity {
    SPC_SEV_INFO = 0,
    SPC_SEV_WARNING = 1,
    SPC_SEV_CRITICAL = 2
};

const char *spc_severity_name(enum spc_severity s);
/** @returns severity named @p s, or -1. */
int spc_severity_find(const char *s);

enum spc_direction { SPC_DIR_NONE = 0, SPC_DIR_UP, SPC_DIR_DOWN, SPC_DIR_BOTH };

const char *spc_direction_name(enum spc_direction d);

#define SPC_EVIDENCE_NAME_MAX 24

struct spc_evidence {
    char name[SPC_EVIDENCE_NAME_MAX]; /* truncated when longer */
    double value;
};

/** One metadata value's share of the recent window (context breakdown). */
struct spc_breakdown {
    const char *dim, *value; /* borrowed, like the rest of the anomaly */
    uint32_t n;              /* events of this value in the window */
    double mean;             /* mean of its valid values (NaN if none) */
    double yield;            /* pass rate of its events */
};

#define SPC_BREAKDOWN_MAX 32

/** Recent-window context computed when the anomaly fires, so an incident
 *  can show baseline vs recent statistics and where values differ without
 *  access to the key state. */
struct spc_anomaly_ctx {
    uint32_t window_n;  /* events in the recent window (0: no context) */
    double recent_mean; /* of valid values (NaN if none) */
    double recent_sd;
    double recent_yield;
    double baseline_mean, baseline_sigma, baseline_yield;
    struct spc_breakdown br[SPC_BREAKDOWN_MAX];
    unsigned n_br;
};

struct spc_anomaly {
    char id[33]; /* 32 lowercase hex digits */
    enum spc_det detector;
    int rule;          /* Nelson rule 1-8 for runs, else 0 (null) */
    const char *check; /* sub-check of the detector ("stuck", ...), or NULL */
    enum spc_severity severity;
    const char *test_plan, *test_step, *measurement;
    const char *uut_id, *report_id, *unit;
    int64_t ts_ms;
    double value, score, threshold;
    enum spc_direction direction;
    uint64_t seq;
    const char *sg_dim, *sg_value; /* subgroup, or NULL */
    const char *meta[SPC_META_MAX];
    const struct spc_dims *dims; /* names of meta[] */
    uint8_t passed; /* the unit that triggered it passed this step */
    char message[SPC_MESSAGE_MAX];
    struct spc_evidence ev[SPC_EVIDENCE_MAX];
    unsigned n_ev;
    struct spc_anomaly_ctx ctx;
};

/** Append evidence (ignored beyond SPC_EVIDENCE_MAX or when not finite). */
void spc_anomaly_evidence(struct spc_anomaly *a, const char *name, double v);

/**
 * @brief Set a->id from (detector, rule, check, plan, step, measurement,
 * seq, subgroup): same input, same id; 128 bits as 32 hex digits.
 */
void spc_anomaly_make_id(struct spc_anomaly *a);

/** Append the anomaly as one JSON object (no newline), fields in contract
 *  order. */
void spc_anomaly_to_json(const struct spc_anomaly *a, struct spc_buf *b);

/**
 * @brief Parse an anomaly JSON object (as written by spc_anomaly_to_json).
 * Strings point into @p obj (valid while it lives); dims names the meta
 * keys to pick up.
 */
spc_err_t spc_anomaly_from_json(const json_t *obj, const struct spc_dims *dims,
                                struct spc_anomaly *a, char *errstr,
                                size_t errstr_size) SPC_WUR;

/**
 * @brief Severity from how far the score is past the threshold and how close
 * the value is to the spec limits: critical when the value is outside the
 * spec or the score is at least twice the threshold; warning when the value
 * is within 10 % of the spec range of a limit or the score is at least 1.25
 * times the threshold; info otherwise.
 */
enum spc_severity spc_severity_of(double score, double threshold, double value,
                                  const struct spc_spec *spec);

#endif /* SPC_ANOMALY_H */
