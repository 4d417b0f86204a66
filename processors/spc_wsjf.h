/*
 * spc_wsjf.h -- flatten a WATS WSJF UUT report (the JSON pyWATS submits)
 * into flat measurement events (DESIGN section 5).
 *
 * DATA FLOW: WSJF bytes --spc_json_parse--> spc_jv tree --flatten--> spc_batch
 *            (one spc_event per numericMeas / booleanMeas element, plus the
 *            report-level <UUT>/result event)
 * OWNERSHIP: events in a batch borrow strings from the parsed report (the
 *   batch's doc) and the batch's arena: valid until the next flatten into
 *   the same batch or spc_batch_fini().
 */
#ifndef SPC_WSJF_H
#define SPC_WSJF_H

#include "spc_buf.h"
#include "spc_event.h"
#include "spc_json.h"

/** A miscInfos description mapped to a metadata dimension. */
struct spc_misc_map {
    const char *description; /* e.g. "FirmwareVersion" */
    int dim;                 /* index in spc_dims */
};

struct spc_wsjf_opts {
    const struct spc_dims *dims;
    const struct spc_misc_map *misc; /* borrowed */
    size_t n_misc;
    /** test_plan template: {pn} {rev} {processCode} {purpose} {location}
     *  are replaced; default "{pn}/{processCode}". */
    const char *plan_format;
    /** Emit booleanMeas as attribute series (default on). */
    int boolean_steps;
};

/** Events of one report plus per-report counters. */
struct spc_batch {
    struct spc_event *ev;
    size_t n, cap;
    struct spc_arena arena;
    struct spc_jdoc doc;     /* the report parsed by spc_wsjf_flatten_buf */
    unsigned n_invalid;      /* numeric values that were not numbers */
    unsigned n_loop_summary; /* loop-summary entries skipped */
    unsigned n_skipped;      /* measurements with status S (skipped) */
    int repair;              /* report was a repair (type R): no events */
};

void spc_batch_init(struct spc_batch *b);
void spc_batch_fini(struct spc_batch *b);
/** Forget events and counters; keep memory. */
void spc_batch_reset(struct spc_batch *b);

/**
 * @brief Flatten @p report into @p out (reset first).
 * A report is taken whole or not at all: on error @p out is left empty.
 * @returns SPC_OK (a repair report gives OK with out->repair set and no
 *   events), SPC_ERR_INVALID with the JSON path and reason in errstr, or
 *   SPC_ERR_NOMEM.
 */
spc_err_t spc_wsjf_flatten(const struct spc_jv *report,
                           const struct spc_wsjf_opts *opts,
                           struct spc_batch *out, char *errstr,
                           size_t errstr_size) SPC_WUR;

/**
 * @brief Parse @p len bytes of WSJF JSON (into the batch's doc) and flatten
 * them into @p out.
 * @returns as spc_wsjf_flatten(); SPC_ERR_PARSE for invalid JSON with
 *   "invalid JSON at offset N: reason" in errstr.
 */
spc_err_t spc_wsjf_flatten_buf(const char *buf, size_t len,
                               const struct spc_wsjf_opts *opts,
                               struct spc_batch *out, char *errstr,
                               size_t errstr_size) SPC_WUR;

/** Validate a test_plan template. @returns SPC_OK or SPC_ERR_INVALID. */
spc_err_t spc_wsjf_check_plan_format(const char *fmt, char *errstr,
                                     size_t errstr_size) SPC_WUR;

#endif /* SPC_WSJF_H */
