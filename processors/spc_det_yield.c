/*
 * spc_det_yield.c -- yield: pass rate of the recent window of a key (a step,
 * or the <UUT>/result pseudo-measurement for unit yield) against its
 * long-run baseline.
 *
 * DATA FLOW: pass bits of the last W events (ring) + baseline counts of the
 *   events that left the window while no yield alarm was active -> drop
 *   thresholds (absolute, relative) and an exact binomial test -> edge.
 * THREADING: @locality worker.
 * REFERENCES: exact binomial lower tail P(X <= x | W, p0) via the
 *   regularized incomplete beta (spc_stats.c); p0 smoothed as
 *   (pass + 0.5) / (n + 1) so a flawless baseline still gives a finite test.
 */
#include "spc_detect.h"

#include <math.h>
#include <string.h>

static void yield_fire(struct spc_dctx *c, double p0, double pr, double pv,
                       uint32_t w)
{
    struct spc_anomaly a;
    char name[256], where[160];
    const struct spc_params *p = c->p;
    double drop = p0 - pr;

    spc_detect_begin(c, &a, SPC_DET_YIELD);
    a.value = pr;
    a.score = drop;
    a.threshold = p->yield_min_drop_abs;
    a.direction = SPC_DIR_DOWN;
    a.severity = drop >= 3.0 * p->yield_min_drop_abs   ? SPC_SEV_CRITICAL
                 : drop >= 1.5 * p->yield_min_drop_abs ? SPC_SEV_WARNING
                                                       : SPC_SEV_INFO;
    spc_anomaly_evidence(&a, "baseline_yield", p0);
    spc_anomaly_evidence(&a, "recent_yield", pr);
    spc_anomaly_evidence(&a, "window", w);
    spc_anomaly_evidence(&a, "baseline_n", c->k->y_base_n);
    spc_anomaly_evidence(&a, "p_value", pv);
    spc_detect_where(c, where, sizeof(where));
    if (strcmp(c->ev->test_step, SPC_UUT_STEP) == 0) {
        snprintf(a.message, sizeof(a.message),
                 "First-pass yield of %s fell to %.1f%% over the last %u "
                 "units (baseline %.1f%%); the latest failure was%s.",
                 c->ev->test_plan, pr * 100.0, w, p0 * 100.0,
                 where[0] ? where : " unattributed");
    } else {
        spc_detect_step_name(c, name, sizeof(name));
        snprintf(a.message, sizeof(a.message),
                 "Yield of %s fell to %.1f%% over the last %u units (baseline "
                 "%.1f%%).",
                 name, pr * 100.0, w, p0 * 100.0);
    }
    spc_detect_fire(c, &a);
}

void spc_det_yield(struct spc_dctx *c)
{
    struct spc_key *k = c->k;
    const struct spc_params *p = c->p;
    uint32_t w = p->yield_window;
    double p0, pr, drop, pv = 1.0;
    int on;

    if (k->seq < w || k->y_base_n < p->yield_min_baseline)
        return;
    p0 = (k->y_base_pass + 0.5) / (k->y_base_n + 1.0);
    pr = (double)k->y_pass / w;
    drop = p0 - pr;
    if (k->active & (1u << SPC_DET_YIELD)) {
        on = drop >= p->yield_min_drop_abs / 2; /* hysteresis */
    } else {
        on =
            drop >= p->yield_min_drop_abs && drop >= p->yield_min_drop_rel * p0;
        if (on) {
            pv = spc_binom_cdf(k->y_pass, w, p0);
            on = pv < p->yield_alpha;
        }
    }
    if (spc_edge(&k->active, SPC_DET_YIELD, on))
        yield_fire(c, p0, pr, pv, w);
}
