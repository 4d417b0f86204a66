/*
 * spc_event.h -- the flat measurement event (DESIGN section 4), metadata
 * dimensions, comparison operators and spec limits (DESIGN section 5), and
 * RFC 3339 time conversion.
 *
 * OWNERSHIP: an event borrows all its strings; they are valid as long as
 *   whatever produced the event says (a flattened batch, a parsed JSON tree).
 */
#ifndef SPC_EVENT_H
#define SPC_EVENT_H

#include "spc_buf.h"
#include "spc_common.h"

#include <jansson.h>
#include <stdint.h>

/** Maximum number of metadata dimensions (8 built in + configured extras). */
#define SPC_META_MAX 16

/** Built-in metadata dimensions; configured extras follow. */
enum spc_dim {
    SPC_DIM_STATION = 0, /**< machineName */
    SPC_DIM_FIXTURE,     /**< uut.fixtureId */
    SPC_DIM_OPERATOR,    /**< uut.user */
    SPC_DIM_SOCKET,      /**< uut.testSocketIndex */
    SPC_DIM_HW_REV,      /**< rev */
    SPC_DIM_SW_FILE,     /**< root.seqCall.name */
    SPC_DIM_SW_VERSION,  /**< root.seqCall.version */
    SPC_DIM_FW,          /**< miscInfos FirmwareVersion (configurable) */
    SPC_DIM__BUILTIN
};

/** The dimension names in index order. */
struct spc_dims {
    unsigned n;
    char *names[SPC_META_MAX]; /* owned */
};

/** Fill @p d with the built-in dimensions. @returns SPC_OK or NOMEM. */
spc_err_t spc_dims_init(struct spc_dims *d) SPC_WUR;
void spc_dims_fini(struct spc_dims *d);
/** @returns the index of dimension @p name, or -1. */
int spc_dims_find(const struct spc_dims *d, const char *name);
/** Add a dimension (no-op if present). @returns index, -1 when full/OOM. */
int spc_dims_add(struct spc_dims *d, const char *name);

/** Comparison operators of WATS numeric limits. */
enum spc_compop {
    SPC_COMPOP_NONE = 0, /* absent */
    SPC_COMPOP_LOG,
    SPC_COMPOP_EQ,
    SPC_COMPOP_NE,
    SPC_COMPOP_GT,
    SPC_COMPOP_GE,
    SPC_COMPOP_LT,
    SPC_COMPOP_LE,
    SPC_COMPOP_GTLT,
    SPC_COMPOP_GTLE,
    SPC_COMPOP_GELT,
    SPC_COMPOP_GELE,
    SPC_COMPOP_LTGT,
    SPC_COMPOP_LTGE,
    SPC_COMPOP_LEGT,
    SPC_COMPOP_LEGE,
    SPC_COMPOP_OTHER /* any other string (CASESENSIT, ...): no spec */
};

/** @returns the operator named @p s (NULL gives NONE, unknown gives OTHER). */
enum spc_compop spc_compop_parse(const char *s);

/** Specification limits derived from compOp and the two WSJF limits. */
struct spc_spec {
    double lsl, usl, target;
    uint8_t has_lsl, has_usl, has_target;
};

/**
 * @brief DESIGN section 5: GELE/GELT/GTLE/GTLT give LSL=low, USL=high; GE/GT
 * give LSL=low; LE/LT give USL=low (WATS keeps the single limit in lowLimit);
 * EQ gives target=low; LOG, NE and the outside-range operators give none.
 */
void spc_spec_from_limits(enum spc_compop op, int has_low, double low,
                          int has_high, double high, struct spc_spec *out);

/** Kind of series a step key carries. */
enum spc_kind {
    SPC_KIND_NUMERIC = 0,  /**< charted value + pass bit */
    SPC_KIND_ATTRIBUTE = 1 /**< pass/fail only (booleanMeas, <UUT>) */
};

/** The UUT-level pseudo step and measurement names (DESIGN section 2). */
#define SPC_UUT_STEP "<UUT>"
#define SPC_UUT_MEAS "result"

/** One flat measurement event (DESIGN section 4). */
struct spc_event {
    const char *uut_id;
    const char *report_id;
    const char *test_plan;
    const char *test_step;
    const char *measurement;
    const char *unit;    /* may be NULL */
    const char *comp_op; /* raw operator string, may be NULL */
    double value;        /* NaN unless value_valid */
    double low_limit, high_limit;
    int64_t ts_ms; /* event time, ms since the Unix epoch, UTC */
    uint8_t kind;  /* enum spc_kind */
    uint8_t value_valid;
    uint8_t passed;
    uint8_t has_low, has_high;
    char status;                    /* WATS status letter, or 0 */
    const char *meta[SPC_META_MAX]; /* by dimension index; NULL = absent */
};

/** @returns the spec limits of @p ev. */
void spc_event_spec(const struct spc_event *ev, struct spc_spec *out);

/**
 * @brief Parse one flat event JSON object (the `events` input format).
 * @param dims dimension names; meta keys not among them are ignored.
 * @param ev receives borrowed pointers into @p obj (valid while obj lives).
 * @returns SPC_OK, or SPC_ERR_INVALID with the offending field in errstr.
 */
spc_err_t spc_event_from_json(const json_t *obj, const struct spc_dims *dims,
                              struct spc_event *ev, char *errstr,
                              size_t errstr_size) SPC_WUR;

/** Append @p ev as one flat event JSON object (no newline). */
void spc_event_to_json(const struct spc_event *ev, const struct spc_dims *dims,
                       struct spc_buf *b);

/**
 * @brief Parse an RFC 3339 timestamp with a mandatory offset ("Z" or
 * "+hh:mm"), optional fraction, 'T' or space separator.
 * @returns SPC_OK and *ms_out (UTC ms since the epoch), or SPC_ERR_INVALID.
 */
spc_err_t spc_time_parse(const char *s, int64_t *ms_out) SPC_WUR;

/** Format @p ms as "YYYY-MM-DDTHH:MM:SS.mmmZ" into @p out (>= 32 bytes). */
void spc_time_format(int64_t ms, char *out, size_t size);

/**
 * @brief Interpret a WSJF/JSON value as a measurement: numbers and numeric
 * strings are valid when finite; "NaN", "Infinity", other strings and null
 * are not.
 * @returns 1 valid (value in *out), 0 not a number, -1 wrong JSON type
 * (object, array, boolean).
 */
int spc_json_measure_value(const json_t *v, double *out);

#endif /* SPC_EVENT_H */
