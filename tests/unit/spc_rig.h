/*
 * spc_rig.h -- a small engine harness for detector tests: only the named
 * detectors enabled, optionally a known baseline mu 0 sigma 1, anomalies
 * collected in a t_sink.
 */
#ifndef SPC_RIG_H
#define SPC_RIG_H

#include "spc_test.h"

#include <stdlib.h>

#define OFF(d) "\"" d "\":{\"enabled\":false}"
#define ALL_OFF                                                                                        \
    OFF("shewhart")                                                                                    \
    "," OFF("robust_z") "," OFF("ewma") "," OFF("cusum") "," OFF("trend") "," OFF("variance") "," OFF( \
        "yield") "," OFF("near_limit") "," OFF("subgroup") "," OFF("runs") "," OFF("flatline")
#define KNOWN01                                                                \
    "\"steps\":[{\"match\":\"*\",\"baseline\":{\"mean\":0,"                    \
    "\"sigma\":1}}]"

struct rig {
    struct spc_config *cfg;
    struct spc_engine *e;
    struct t_sink *s;
    long i;
};

/* @p det: members of the "detectors" object, applied after all detectors
 * are disabled (a detector named twice: the later entry's keys win, as the
 * parser applies them in order); @p top: more top-level members, or NULL;
 * @p known: add a known baseline mu 0, sigma 1 for every step. */
static inline void rig_init_x(struct rig *r, const char *det, const char *top,
                              int known)
{
    char json[4096], err[256];

    snprintf(json, sizeof(json), "{\"detectors\":{%s%s%s}%s%s%s%s}", ALL_OFF,
             det ? "," : "", det ? det : "", top ? "," : "", top ? top : "",
             known ? "," : "", known ? KNOWN01 : "");
    r->cfg = t_config(json);
    r->e = spc_engine_new(r->cfg, err, sizeof(err));
    ck_assert_ptr_nonnull(r->e);
    r->s = calloc(1, sizeof(*r->s));
    spc_engine_set_sink(r->e, t_sink_cb, r->s);
    r->i = 0;
}

static inline void rig_init(struct rig *r, const char *det, int known)
{
    rig_init_x(r, det, NULL, known);
}

static inline void rig_fini(struct rig *r)
{
    spc_engine_destroy(r->e);
    spc_config_destroy(r->cfg);
    free(r->s);
}

static inline void feed(struct rig *r, const char *step, double v)
{
    struct spc_event ev;

    t_event(&ev, step, v, r->i++);
    ck_assert_int_eq(spc_engine_process(r->e, &ev, 1), SPC_OK);
}

static inline void feed_n(struct rig *r, const char *step, const double *v,
                          int n)
{
    int i;

    for (i = 0; i < n; i++)
        feed(r, step, v[i]);
}

#endif /* SPC_RIG_H */
