/*
 * spc_test.h -- helpers shared by the unit tests: building flat events,
 * collecting anomalies, seeded normal random numbers.
 */
#ifndef SPC_TEST_H
#define SPC_TEST_H

#include "spc_engine.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* Each suite prototype, so -Wmissing-prototypes is satisfied. */
Suite *buf_suite(void);
Suite *intern_suite(void);
Suite *event_suite(void);
Suite *wsjf_suite(void);
Suite *ring_suite(void);
Suite *stats_suite(void);
Suite *arl_suite(void);
Suite *config_suite(void);
Suite *anomaly_suite(void);
Suite *det_point_suite(void);
Suite *det_window_suite(void);
Suite *det_yield_suite(void);
Suite *det_subgroup_suite(void);
Suite *engine_suite(void);
Suite *codec_suite(void);
Suite *incident_suite(void);
Suite *json_suite(void);

#define CK_DBL_NEAR(a, b, tol)                                                 \
    ck_assert_msg(fabs((double)(a) - (double)(b)) <= (tol),                    \
                  "%s = %.12g, expected %.12g (tol %g)", #a, (double)(a),      \
                  (double)(b), (double)(tol))

/* xorshift64* + Box-Muller: deterministic normal deviates for tests. */
struct t_rng {
    uint64_t s;
    int have;
    double spare;
};

static inline void t_rng_seed(struct t_rng *r, uint64_t seed)
{
    r->s = seed ? seed : 88172645463325252ULL;
    r->have = 0;
    r->spare = 0.0;
}

static inline double t_unif(struct t_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return ((r->s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double t_norm(struct t_rng *r)
{
    double u, v, m;

    if (r->have) {
        r->have = 0;
        return r->spare;
    }
    do {
        u = 2.0 * t_unif(r) - 1.0;
        v = 2.0 * t_unif(r) - 1.0;
        m = u * u + v * v;
    } while (m >= 1.0 || m == 0.0);
    m = sqrt(-2.0 * log(m) / m);
    r->spare = v * m;
    r->have = 1;
    return u * m;
}

/* Collected anomalies (copies of the fields the tests look at). */
#define T_MAX_ANOM 4096
struct t_anom {
    enum spc_det det;
    int rule;
    char check[16];
    uint64_t seq;
    double value, score, threshold;
    enum spc_direction dir;
    enum spc_severity sev;
    char sg_dim[24], sg_value[32];
    char id[33];
    char step[64];
    char message[SPC_MESSAGE_MAX];
};

struct t_sink {
    struct t_anom a[T_MAX_ANOM];
    size_t n;
};

static inline void t_sink_cb(const struct spc_anomaly *a, void *opaque)
{
    struct t_sink *s = opaque;
    struct t_anom *t;

    if (s->n >= T_MAX_ANOM)
        return;
    t = &s->a[s->n++];
    memset(t, 0, sizeof(*t));
    t->det = a->detector;
    t->rule = a->rule;
    snprintf(t->check, sizeof(t->check), "%s", a->check ? a->check : "");
    t->seq = a->seq;
    t->value = a->value;
    t->score = a->score;
    t->threshold = a->threshold;
    t->dir = a->direction;
    t->sev = a->severity;
    snprintf(t->sg_dim, sizeof(t->sg_dim), "%s", a->sg_dim ? a->sg_dim : "");
    snprintf(t->sg_value, sizeof(t->sg_value), "%s",
             a->sg_value ? a->sg_value : "");
    memcpy(t->id, a->id, 33);
    snprintf(t->step, sizeof(t->step), "%s", a->test_step);
    snprintf(t->message, sizeof(t->message), "%s", a->message);
}

static inline size_t t_count(const struct t_sink *s, enum spc_det d)
{
    size_t i, n = 0;

    for (i = 0; i < s->n; i++)
        n += s->a[i].det == d;
    return n;
}

static inline const struct t_anom *t_first(const struct t_sink *s,
                                           enum spc_det d)
{
    size_t i;

    for (i = 0; i < s->n; i++)
        if (s->a[i].det == d)
            return &s->a[i];
    return NULL;
}

/* A numeric event of step key PLAN/STEP/M with value v at unit index i. */
static inline void t_event(struct spc_event *ev, const char *step, double v,
                           long i)
{
    memset(ev, 0, sizeof(*ev));
    ev->uut_id = "SN";
    ev->report_id = "R";
    ev->test_plan = "PLAN";
    ev->test_step = step;
    ev->measurement = "M";
    ev->kind = SPC_KIND_NUMERIC;
    ev->value = v;
    ev->value_valid = isfinite(v);
    ev->passed = 1;
    ev->ts_ms = 1793520000000LL + i * 60000LL;
}

/* Engine from a JSON config text (NULL: defaults). */
static inline struct spc_config *t_config(const char *json)
{
    char err[256] = "";
    json_error_t jerr;
    json_t *root;
    struct spc_config *cfg;

    if (!json)
        return spc_config_new();
    root = json_loads(json, 0, &jerr);
    ck_assert_msg(root != NULL, "bad test config: %s", jerr.text);
    cfg = spc_config_parse(root, NULL, err, sizeof(err));
    json_decref(root);
    ck_assert_msg(cfg != NULL, "config rejected: %s", err);
    return cfg;
}

#endif /* SPC_TEST_H */
