/*
 * spc_incident.c -- anomalies -> incidents: scope, grouping, merging,
 * revisions, operator actions, JSON and checkpoint blobs.
 *
 * DATA FLOW: anomaly -> scope: its subgroup ("fixture FX-2B"), the station
 *   of a point anomaly, or the fleet -> an open incident of the same test
 *   plan updated within group_window that has the same scope, holds the
 *   same step, or is nested with it (a fixture of that station) -> merge;
 *   else open one (at most max_new_per_station_hour per plan and station,
 *   beyond that merge into the latest) -> revision when something an
 *   operator cares about changed (new, severity up, new step, scope,
 *   state, advice), else at most one every update interval.
 * DETERMINISM: event time only (anomaly timestamps); no clock, no random.
 * OWNERSHIP: the table owns its incidents; strings are malloc'ed.
 * THREADING: single-threaded (the INCIDENT stage thread, or replay).
 */
#include "spc_incident.h"

#include "spc_playbook.h"

#include <math.h>
#include <string.h>

#define BLOB_MAGIC "SPCI1"

struct entry {
    struct spc_incident inc;
    int64_t last_emit_ms;
    int pending;           /* changes not yet emitted */
    int dirty;             /* changed since the last export */
    uint64_t order;        /* creation order: deterministic iteration */
    char open_station[64]; /* station of the anomaly that opened it (the
                              per-station rate limit) */
};

struct spc_incidents {
    struct spc_incident_opts o;
    struct entry **e;
    size_t n, cap;
    uint64_t created;
    spc_incident_cb *sink;
    void *sink_opaque;
    spc_llm_request_cb *llm;
    void *llm_opaque;
    spc_incident_drop_cb *drop;
    void *drop_opaque;
};

static const char *const state_names[] = {"open", "acknowledged", "resolved"};

const char *spc_inc_state_name(enum spc_inc_state s)
{
    return (unsigned)s < 3 ? state_names[s] : "open";
}

/* ---- options ---- */

spc_err_t spc_incident_opts_from_json(const json_t *sec,
                                      struct spc_incident_opts *out,
                                      char *errstr, size_t errstr_size)
{
    struct spc_incident_opts o = {
        60 * 60000LL, 10 * 60000LL, 10, 24 * 3600000LL, 0, 10000};
    const char *key;
    json_t *v;

    if (sec && !json_is_object(sec)) {
        spc_errstr_set(errstr, errstr_size, "incidents: expected an object");
        return SPC_ERR_INVALID;
    }
    json_object_foreach((json_t *)sec, key, v)
    {
        double x = json_number_value(v);

        if (!json_is_number(v) && strcmp(key, "min_severity") != 0) {
            spc_errstr_set(errstr, errstr_size,
                           "incidents.%s: expected a number", key);
            return SPC_ERR_INVALID;
        }
        if (!strcmp(key, "group_window_minutes") && x > 0)
            o.group_window_ms = (int64_t)(x * 60000);
        else if (!strcmp(key, "update_interval_minutes") && x >= 0)
            o.update_ms = (int64_t)(x * 60000);
        else if (!strcmp(key, "max_new_per_station_per_hour") && x >= 1)
            o.max_new_per_station_hour = (int)x;
        else if (!strcmp(key, "auto_resolve_hours") && x >= 0)
            o.auto_resolve_ms = (int64_t)(x * 3600000);
        else if (!strcmp(key, "max_incidents") && x >= 10)
            o.max_open = (unsigned)x;
        else if (!strcmp(key, "min_severity") &&
                 spc_severity_find(json_string_value(v)) >= 0)
            o.min_severity = spc_severity_find(json_string_value(v));
        else {
            spc_errstr_set(errstr, errstr_size,
                           "incidents.%s: unknown key or bad value (keys: "
                           "group_window_minutes > 0, update_interval_minutes "
                           ">= 0, max_new_per_station_per_hour >= 1, "
                           "auto_resolve_hours >= 0, max_incidents >= 10, "
                           "min_severity info|warning|critical)",
                           key);
            return SPC_ERR_INVALID;
        }
    }
    *out = o;
    return SPC_OK;
}

/* ---- table ---- */

struct spc_incidents *spc_incidents_new(const struct spc_incident_opts *o)
{
    struct spc_incidents *t = spc_calloc(1, sizeof(*t));

    if (t)
        t->o = *o;
    return t;
}

static void free_strs(char **v, unsigned n)
{
    unsigned i;

    for (i = 0; i < n; i++)
        free(v[i]);
}

static void incident_fini(struct spc_incident *c)
{
    unsigned i;

    free(c->pattern);
    free(c->test_plan);
    free(c->scope_dim);
    free(c->scope_value);
    free(c->station);
    free(c->fixture);
    free(c->fw);
    free(c->title);
    free(c->summary);
    free(c->acked_by);
    free(c->resolved_by);
    for (i = 0; i < c->n_steps; i++) {
        free(c->steps[i].test_step);
        free(c->steps[i].measurement);
        free(c->steps[i].unit);
    }
    for (i = 0; i < c->n_breakdown; i++) {
        free(c->breakdown[i].test_step);
        free(c->breakdown[i].dim);
        free(c->breakdown[i].value);
    }
    for (i = 0; i < c->n_samples; i++) {
        free(c->samples[i].test_step);
        free(c->samples[i].uut_id);
        free(c->samples[i].station);
        free(c->samples[i].fixture);
        free(c->samples[i].fw);
        free(c->samples[i].op);
    }
    for (i = 0; i < c->n_anomalies; i++) {
        free(c->anomalies[i].check);
        free(c->anomalies[i].test_step);
        free(c->anomalies[i].message);
    }
    free_strs(c->notes, c->n_notes);
    spc_advice_fini(&c->rules);
    spc_advice_fini(&c->llm);
    memset(c, 0, sizeof(*c));
}

void spc_incidents_destroy(struct spc_incidents *t)
{
    size_t i;

    if (!t)
        return;
    for (i = 0; i < t->n; i++) {
        incident_fini(&t->e[i]->inc);
        free(t->e[i]);
    }
    free(t->e);
    free(t);
}

void spc_incidents_set_sink(struct spc_incidents *t, spc_incident_cb *cb,
                            void *opaque)
{
    t->sink = cb;
    t->sink_opaque = opaque;
}

void spc_incidents_set_llm(struct spc_incidents *t, spc_llm_request_cb *cb,
                           void *opaque)
{
    t->llm = cb;
    t->llm_opaque = opaque;
}

void spc_incidents_set_drop(struct spc_incidents *t, spc_incident_drop_cb *cb,
                            void *opaque)
{
    t->drop = cb;
    t->drop_opaque = opaque;
}

void spc_incidents_brief_all(const struct spc_incidents *t, struct spc_buf *b)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        spc_incident_render_brief(&t->e[i]->inc, b);
}

size_t spc_incidents_count(const struct spc_incidents *t)
{
    return t->n;
}

/* Replace *dst by a copy of @p s (NULL allowed). @returns 0 on OOM. */
static int set_str(char **dst, const char *s)
{
    char *c = NULL;

    if (s && !(c = spc_strdup(s)))
        return 0;
    free(*dst);
    *dst = c;
    return 1;
}

static int streq(const char *a, const char *b)
{
    return a && b ? !strcmp(a, b) : a == b;
}

/* ---- scope ---- */

struct scope {
    const char *dim, *value;
    int evidenced; /* named by a subgroup test, not assumed */
};

static void scope_of(const struct spc_anomaly *a, struct scope *s)
{
    const char *st = a->meta[SPC_DIM_STATION];

    s->evidenced = 0;
    if (a->sg_dim && a->sg_value) {
        s->dim = a->sg_dim;
        s->value = a->sg_value;
        s->evidenced = 1;
    } else if (st && a->detector != SPC_DET_TREND &&
               a->detector != SPC_DET_VARIANCE &&
               a->detector != SPC_DET_CUSUM && a->detector != SPC_DET_EWMA &&
               a->detector != SPC_DET_YIELD) {
        /* a point or window condition seen at one station: where it was
         * seen, an assumption until a subgroup test says more */
        s->dim = "station";
        s->value = st;
    } else {
        s->dim = "fleet";
        s->value = "*";
    }
}

static int is_fleet(const struct spc_incident *c)
{
    return streq(c->scope_dim, "fleet");
}

static int has_step(const struct spc_incident *c, const struct spc_anomaly *a)
{
    unsigned i;

    for (i = 0; i < c->n_steps; i++)
        if (!strcmp(c->steps[i].test_step, a->test_step) &&
            !strcmp(c->steps[i].measurement, a->measurement))
            return 1;
    return 0;
}

/* Does the unit of anomaly @p a belong to the incident's subgroup? */
static int unit_in_scope(const struct spc_incident *c,
                         const struct spc_anomaly *a)
{
    int d;

    if (is_fleet(c))
        return 1;
    d = a->dims ? spc_dims_find(a->dims, c->scope_dim) : -1;
    return d >= 0 && streq(a->meta[d], c->scope_value);
}

/* Families of causes: where a unit was tested (station, fixture, socket,
 * operator) and what it is or runs (firmware, software, hardware
 * revision); configured extra dimensions are each their own family. */
static int family(const char *dim)
{
    static const char *const where[] = {"station", "fixture", "socket",
                                        "operator"};
    static const char *const what[] = {"fw", "sw_version", "sw_file", "hw_rev"};
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(where); i++)
        if (streq(dim, where[i]))
            return 1;
    for (i = 0; i < SPC_ARRAY_SIZE(what); i++)
        if (streq(dim, what[i]))
            return 2;
    return 3 + (dim ? (int)(spc_hash64(dim, strlen(dim), 0) % 1000) : 0);
}

static int has_failures(const struct spc_incident *c)
{
    unsigned i;

    for (i = 0; i < c->n_samples; i++)
        if (!c->samples[i].passed)
            return 1;
    return 0;
}

/* How well incident @p c takes anomaly @p a (0: not at all). */
static int relation(const struct spc_incident *c, const struct spc_anomaly *a,
                    const struct scope *s)
{
    int fleet_a = !strcmp(s->dim, "fleet");
    int seen_a = !s->evidenced && !fleet_a; /* seen at a station */

    if (has_step(c, a)) {
        /* the same step at the same time: one problem seen through
         * several detectors and subgroups -- unless both name different
         * values of the same dimension (two fixtures, two problems) */
        if (s->evidenced && c->scope_evidenced &&
            ((streq(c->scope_dim, s->dim) &&
              !streq(c->scope_value, s->value)) ||
             family(c->scope_dim) != family(s->dim)))
            return 0; /* a fixture and a firmware: two causes */
        if (seen_a && c->scope_evidenced && !unit_in_scope(c, a))
            return 1; /* an outlier outside the incident's subgroup */
        return 4;
    }
    if (!strcmp(a->test_step, "<UUT>") && has_failures(c))
        return 2; /* units fail because of the incident's steps */
    if (fleet_a)
        return 0; /* pooled data of another step */
    if (s->evidenced && c->scope_evidenced && streq(c->scope_dim, s->dim) &&
        streq(c->scope_value, s->value))
        return 3; /* another step of the same subgroup */
    if (seen_a && c->scope_evidenced &&
        (streq(c->scope_dim, "fixture") || streq(c->scope_dim, "station")) &&
        unit_in_scope(c, a))
        return 3; /* another step's outlier on the same hardware: contacts,
                     cabling and instruments affect several steps */
    if (s->evidenced && !strcmp(s->dim, "fixture") &&
        streq(c->scope_dim, "station") &&
        streq(c->scope_value, a->meta[SPC_DIM_STATION]))
        return 3; /* a fixture of the incident's station */
    if (seen_a && !c->scope_evidenced && streq(c->scope_dim, "station") &&
        streq(c->scope_value, s->value))
        return 1; /* other outliers at the same station */
    return 0;
}

/* ---- ids ---- */

static void make_id(struct spc_incident *c, const struct spc_anomaly *a)
{
    static const char hex[] = "0123456789abcdef";
    struct spc_buf b;
    uint64_t h1, h2;
    int i;

    spc_buf_init(&b);
    spc_buf_printf(&b, "%s\x1f%s\x1f%s\x1f%s", a->id, c->test_plan,
                   c->scope_dim, c->scope_value);
    h1 = spc_hash64(b.data, b.len, 0x696e636964656e74ULL);
    h2 = spc_hash64(b.data, b.len, 0x53504353545245aULL);
    spc_buf_fini(&b);
    for (i = 0; i < 16; i++) {
        c->id[i] = hex[(h1 >> (60 - 4 * i)) & 15];
        c->id[16 + i] = hex[(h2 >> (60 - 4 * i)) & 15];
    }
    c->id[32] = '\0';
}

/* ---- merging an anomaly ---- */

static double ev(const struct spc_anomaly *a, const char *name)
{
    unsigned i;

    for (i = 0; i < a->n_ev; i++)
        if (!strcmp(a->ev[i].name, name))
            return a->ev[i].value;
    return NAN;
}

static struct spc_inc_step *step_of(struct spc_incident *c,
                                    const struct spc_anomaly *a, int *full)
{
    struct spc_inc_step *s;
    unsigned i;

    *full = 0;
    for (i = 0; i < c->n_steps; i++)
        if (!strcmp(c->steps[i].test_step, a->test_step) &&
            !strcmp(c->steps[i].measurement, a->measurement))
            return &c->steps[i];
    if (c->n_steps == SPC_INC_MAX_STEPS) {
        *full = 1;
        return NULL;
    }
    s = &c->steps[c->n_steps];
    memset(s, 0, sizeof(*s));
    s->shift_sigma = s->slope_sigma = NAN;
    s->lsl = s->usl = NAN;
    if (!set_str(&s->test_step, a->test_step) ||
        !set_str(&s->measurement, a->measurement) ||
        !set_str(&s->unit, a->unit))
        return NULL;
    c->n_steps++;
    return s;
}

static void step_update(struct spc_inc_step *s, const struct spc_anomaly *a)
{
    const struct spc_anomaly_ctx *x = &a->ctx;
    double v;

    s->detectors |= 1u << a->detector;
    s->anomalies++;
    if (x->window_n) {
        s->baseline_mean = x->baseline_mean;
        s->baseline_sigma = x->baseline_sigma;
        s->baseline_yield = x->baseline_yield;
        s->recent_mean = x->recent_mean;
        s->recent_sd = x->recent_sd;
        s->recent_yield = x->recent_yield;
        s->recent_n = x->window_n;
    }
    if (isfinite(v = ev(a, "shift_sigma")))
        s->shift_sigma = v;
    else if (a->sg_dim && isfinite(ev(a, "subgroup_mean")) &&
             isfinite(x->baseline_sigma) && x->baseline_sigma > 0)
        s->shift_sigma =
            (ev(a, "subgroup_mean") - ev(a, "rest_mean")) / x->baseline_sigma;
    if (isfinite(v = ev(a, "slope_sigma")))
        s->slope_sigma = v;
    if (isfinite(v = ev(a, "lsl")))
        s->lsl = v;
    if (isfinite(v = ev(a, "usl")))
        s->usl = v;
}

/* Breakdown of the anomaly's context: replace this step's rows. */
static int breakdown_update(struct spc_incident *c, const struct spc_anomaly *a)
{
    const struct spc_anomaly_ctx *x = &a->ctx;
    unsigned i, j;

    if (!x->n_br)
        return 1;
    for (i = j = 0; i < c->n_breakdown; i++) {
        if (!strcmp(c->breakdown[i].test_step, a->test_step)) {
            free(c->breakdown[i].test_step);
            free(c->breakdown[i].dim);
            free(c->breakdown[i].value);
            continue;
        }
        c->breakdown[j++] = c->breakdown[i];
    }
    c->n_breakdown = j;
    for (i = 0; i < x->n_br && c->n_breakdown < SPC_INC_MAX_BREAKDOWN; i++) {
        struct spc_inc_breakdown *b = &c->breakdown[c->n_breakdown];

        memset(b, 0, sizeof(*b));
        if (!set_str(&b->test_step, a->test_step) ||
            !set_str(&b->dim, x->br[i].dim) ||
            !set_str(&b->value, x->br[i].value))
            return 0;
        b->n = x->br[i].n;
        b->mean = x->br[i].mean;
        b->yield = x->br[i].yield;
        c->n_breakdown++;
    }
    return 1;
}

/* Is the anomaly's value the triggering reading?  variance, yield and
 * subgroup report a statistic there (recent sigma, pass rate, subgroup
 * mean), which must not be listed as a unit's reading: their sample keeps
 * the unit and its pass/fail, with no value (NaN: null, "-"). */
static int value_is_reading(const struct spc_anomaly *a)
{
    return a->detector != SPC_DET_VARIANCE && a->detector != SPC_DET_YIELD &&
           a->detector != SPC_DET_SUBGROUP;
}

/* Keep the most recent samples, failing ones preferred. */
static int sample_add(struct spc_incident *c, const struct spc_anomaly *a)
{
    struct spc_inc_sample *s;
    unsigned i, victim = 0;

    if (!a->uut_id)
        return 1;
    if (c->n_samples == SPC_INC_MAX_SAMPLES) {
        victim = SPC_INC_MAX_SAMPLES;
        for (i = 0; i < c->n_samples; i++) /* oldest passing one */
            if (c->samples[i].passed) {
                victim = i;
                break;
            }
        if (victim == SPC_INC_MAX_SAMPLES) {
            if (a->passed)
                return 1; /* all failing: keep them */
            victim = 0;   /* oldest failing */
        }
        free(c->samples[victim].test_step);
        free(c->samples[victim].uut_id);
        free(c->samples[victim].station);
        free(c->samples[victim].fixture);
        free(c->samples[victim].fw);
        free(c->samples[victim].op);
        memmove(&c->samples[victim], &c->samples[victim + 1],
                (c->n_samples - victim - 1) * sizeof(c->samples[0]));
        c->n_samples--;
    }
    s = &c->samples[c->n_samples];
    memset(s, 0, sizeof(*s));
    s->value = value_is_reading(a) ? a->value : NAN;
    s->passed = a->passed;
    s->ts_ms = a->ts_ms;
    if (!set_str(&s->test_step, a->test_step) ||
        !set_str(&s->uut_id, a->uut_id) ||
        !set_str(&s->station, a->meta[SPC_DIM_STATION]) ||
        !set_str(&s->fixture, a->meta[SPC_DIM_FIXTURE]) ||
        !set_str(&s->fw, a->meta[SPC_DIM_FW]) ||
        !set_str(&s->op, a->meta[SPC_DIM_OPERATOR]))
        return 0;
    c->n_samples++;
    return 1;
}

static int anomaly_add(struct spc_incident *c, const struct spc_anomaly *a)
{
    struct spc_inc_anomaly *x;

    if (c->n_anomalies == SPC_INC_MAX_ANOMALIES) {
        free(c->anomalies[0].check);
        free(c->anomalies[0].test_step);
        free(c->anomalies[0].message);
        memmove(&c->anomalies[0], &c->anomalies[1],
                (c->n_anomalies - 1) * sizeof(c->anomalies[0]));
        c->n_anomalies--;
    }
    x = &c->anomalies[c->n_anomalies];
    memset(x, 0, sizeof(*x));
    memcpy(x->id, a->id, 33);
    x->detector = a->detector;
    x->rule = a->rule;
    x->ts_ms = a->ts_ms;
    if (!set_str(&x->check, a->check) ||
        !set_str(&x->test_step, a->test_step) ||
        !set_str(&x->message, a->message))
        return 0;
    c->n_anomalies++;
    c->anomaly_count++;
    return 1;
}

/* Where the incident is: its scope, else the stations of its samples. */
static int locate(struct spc_incident *c, const struct spc_anomaly *a)
{
    const char *st = a->meta[SPC_DIM_STATION];

    if (streq(c->scope_dim, "station"))
        return set_str(&c->station, c->scope_value);
    if (streq(c->scope_dim, "fixture")) {
        if (!c->station && st && !set_str(&c->station, st))
            return 0;
        return set_str(&c->fixture, c->scope_value);
    }
    if (streq(c->scope_dim, "fw"))
        return set_str(&c->fw, c->scope_value);
    return 1;
}

/* Merge @p a into @p c. @returns bit 1: worth a revision now; -1 OOM. */
static int merge(struct spc_incidents *t, struct entry *e,
                 const struct spc_anomaly *a, const struct scope *s)
{
    struct spc_incident *c = &e->inc;
    struct spc_inc_step *st;
    int full, notable = 0;
    char *old_pattern = NULL;

    (void)t;
    /* where it is: a subgroup test is evidence and replaces an assumed
     * scope, and narrows a station to one of its fixtures; the same step
     * seen elsewhere widens an assumed station to the fleet */
    if (s->evidenced &&
        (!c->scope_evidenced ||
         (streq(c->scope_dim, "station") && !strcmp(s->dim, "fixture") &&
          streq(a->meta[SPC_DIM_STATION], c->scope_value)))) {
        if (!set_str(&c->scope_dim, s->dim) ||
            !set_str(&c->scope_value, s->value))
            return -1;
        c->scope_evidenced = 1;
        notable = 1;
    } else if (!c->scope_evidenced && !is_fleet(c) && has_step(c, a) &&
               !(streq(c->scope_dim, s->dim) &&
                 streq(c->scope_value, s->value))) {
        if (!set_str(&c->scope_dim, "fleet") || !set_str(&c->scope_value, "*"))
            return -1;
        notable = 1;
    }
    st = step_of(c, a, &full);
    if (!st && !full)
        return -1;
    if (st && st->anomalies == 0)
        notable = 1; /* a new step */
    if (st)
        step_update(st, a);
    if (!breakdown_update(c, a) || !sample_add(c, a) || !anomaly_add(c, a) ||
        !locate(c, a))
        return -1;
    if ((int)a->severity > (int)c->severity) {
        c->severity = a->severity;
        notable = 1;
    }
    c->updated_ms = SPC_MAX(c->updated_ms, a->ts_ms);
    if (c->state == SPC_INC_RESOLVED) { /* it came back */
        c->state = SPC_INC_OPEN;
        c->resolved_ms = 0;
        notable = 1;
    }
    old_pattern = c->pattern ? spc_strdup(c->pattern) : NULL;
    if (spc_playbook_apply(c) != SPC_OK) {
        free(old_pattern);
        return -1;
    }
    if (!streq(old_pattern, c->pattern))
        notable = 1;
    free(old_pattern);
    e->pending = 1;
    e->dirty = 1;
    return notable;
}

/* ---- revisions ---- */

static void emit(struct spc_incidents *t, struct entry *e)
{
    e->inc.revision++;
    e->pending = 0;
    e->dirty = 1;
    e->last_emit_ms = e->inc.updated_ms;
    if (t->sink)
        t->sink(&e->inc, t->sink_opaque);
}

static void maybe_llm(struct spc_incidents *t, struct entry *e)
{
    if (t->llm && !e->inc.llm_requested && !e->inc.merged_into[0] &&
        t->llm(&e->inc, t->llm_opaque))
        e->inc.llm_requested = 1;
}

static struct entry *find_id(struct spc_incidents *t, const char *id)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        if (!strcmp(t->e[i]->inc.id, id))
            return t->e[i];
    return NULL;
}

/* Drop the oldest resolved incidents beyond max_open. */
static void trim(struct spc_incidents *t)
{
    size_t i;

    while (t->n > t->o.max_open) {
        size_t victim = t->n;

        for (i = 0; i < t->n; i++)
            if (t->e[i]->inc.state == SPC_INC_RESOLVED &&
                (victim == t->n ||
                 t->e[i]->inc.updated_ms < t->e[victim]->inc.updated_ms))
                victim = i;
        if (victim == t->n)
            victim = 0; /* nothing resolved: the oldest */
        if (t->drop)
            t->drop(t->e[victim]->inc.id, t->drop_opaque);
        incident_fini(&t->e[victim]->inc);
        free(t->e[victim]);
        memmove(&t->e[victim], &t->e[victim + 1],
                (t->n - victim - 1) * sizeof(t->e[0]));
        t->n--;
    }
}

/* Quiet incidents resolve themselves after auto_resolve (event time). */
static void auto_resolve(struct spc_incidents *t, int64_t now)
{
    size_t i;

    if (!t->o.auto_resolve_ms)
        return;
    for (i = 0; i < t->n; i++) {
        struct spc_incident *c = &t->e[i]->inc;

        if (c->state != SPC_INC_RESOLVED &&
            now - c->updated_ms > t->o.auto_resolve_ms) {
            c->state = SPC_INC_RESOLVED;
            c->resolved_ms = c->updated_ms + t->o.auto_resolve_ms;
            set_str(&c->resolved_by, "spcstream (no anomaly since)");
            emit(t, t->e[i]);
        }
    }
}

/* relation() of a live incident: one updated within the group window, or
 * an unresolved one on the same step (a persisting condition whose
 * detectors stay latched sends few anomalies). 0 when not eligible. */
static int related(const struct spc_incidents *t, const struct entry *e,
                   const struct spc_anomaly *a, const struct scope *s)
{
    const struct spc_incident *c = &e->inc;
    int r;

    if (!streq(c->test_plan, a->test_plan) || c->merged_into[0])
        return 0;
    r = relation(c, a, s);
    if (a->ts_ms - c->updated_ms <= t->o.group_window_ms)
        return r;
    return r >= 4 && c->state != SPC_INC_RESOLVED ? r : 0;
}

static struct entry *best_match(struct spc_incidents *t,
                                const struct spc_anomaly *a,
                                const struct scope *s)
{
    struct entry *best = NULL;
    int rel = 0;
    size_t i;

    for (i = 0; i < t->n; i++) {
        struct entry *e = t->e[i];
        int r;

        r = related(t, e, a, s);
        if (r > rel) {
            rel = r;
            best = e;
        }
    }
    return best;
}

/* The plan+station rate limit: the latest incident of that station when
 * the hour's budget is spent. */
static struct entry *storm_target(struct spc_incidents *t,
                                  const struct spc_anomaly *a)
{
    const char *st = a->meta[SPC_DIM_STATION];
    struct entry *latest = NULL;
    int opened = 0;
    size_t i;

    if (!st)
        return NULL;
    for (i = 0; i < t->n; i++) {
        struct spc_incident *c = &t->e[i]->inc;

        if (!streq(c->test_plan, a->test_plan) ||
            strcmp(t->e[i]->open_station, st) != 0 ||
            a->ts_ms - c->opened_ms > 3600000)
            continue;
        opened++;
        if (!latest || c->opened_ms >= latest->inc.opened_ms)
            latest = t->e[i];
    }
    return opened >= t->o.max_new_per_station_hour ? latest : NULL;
}

static struct entry *open_new(struct spc_incidents *t,
                              const struct spc_anomaly *a,
                              const struct scope *s)
{
    struct entry *e;

    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 32;
        struct entry **ne = spc_realloc(t->e, cap * sizeof(*ne));

        if (!ne)
            return NULL;
        t->e = ne;
        t->cap = cap;
    }
    e = spc_calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->order = t->created++;
    e->inc.opened_ms = e->inc.updated_ms = a->ts_ms;
    e->inc.severity = a->severity;
    if (!set_str(&e->inc.test_plan, a->test_plan) ||
        !set_str(&e->inc.scope_dim, s->dim) ||
        !set_str(&e->inc.scope_value, s->value)) {
        incident_fini(&e->inc);
        free(e);
        return NULL;
    }
    e->inc.scope_evidenced = (uint8_t)s->evidenced;
    snprintf(e->open_station, sizeof(e->open_station), "%s",
             a->meta[SPC_DIM_STATION] ? a->meta[SPC_DIM_STATION] : "");
    make_id(&e->inc, a);
    t->e[t->n++] = e;
    return e;
}

/* ---- one problem found as two incidents ---- */

static int step_copy(struct spc_incident *c, const struct spc_inc_step *src)
{
    struct spc_inc_step *d;
    unsigned i;

    for (i = 0; i < c->n_steps; i++) {
        d = &c->steps[i];
        if (!strcmp(d->test_step, src->test_step) &&
            !strcmp(d->measurement, src->measurement)) {
            d->detectors |= src->detectors;
            d->anomalies += src->anomalies;
            return 1;
        }
    }
    if (c->n_steps == SPC_INC_MAX_STEPS)
        return 1;
    d = &c->steps[c->n_steps];
    *d = *src;
    d->test_step = d->measurement = d->unit = NULL;
    c->n_steps++; /* freed by incident_fini even when a copy fails */
    return set_str(&d->test_step, src->test_step) &&
           set_str(&d->measurement, src->measurement) &&
           set_str(&d->unit, src->unit);
}

static int sample_copy(struct spc_incident *c, const struct spc_inc_sample *s)
{
    struct spc_inc_sample *d;

    if (c->n_samples == SPC_INC_MAX_SAMPLES)
        return 1;
    d = &c->samples[c->n_samples++];
    *d = *s;
    d->test_step = d->uut_id = d->station = d->fixture = d->fw = d->op = NULL;
    return set_str(&d->test_step, s->test_step) &&
           set_str(&d->uut_id, s->uut_id) && set_str(&d->station, s->station) &&
           set_str(&d->fixture, s->fixture) && set_str(&d->fw, s->fw) &&
           set_str(&d->op, s->op);
}

static int anomaly_copy(struct spc_incident *c, const struct spc_inc_anomaly *a)
{
    struct spc_inc_anomaly *d;

    if (c->n_anomalies == SPC_INC_MAX_ANOMALIES)
        return 1;
    d = &c->anomalies[c->n_anomalies++];
    *d = *a;
    d->check = d->test_step = d->message = NULL;
    return set_str(&d->check, a->check) &&
           set_str(&d->test_step, a->test_step) &&
           set_str(&d->message, a->message);
}

/* @p src turned out to be part of @p dst's problem: @p dst takes its
 * steps, samples, anomalies and counts; @p src is resolved as merged and
 * never reopens.  @returns 0 on OOM. */
static int absorb(struct spc_incidents *t, struct entry *dst, struct entry *src)
{
    struct spc_incident *d = &dst->inc, *s = &src->inc;
    unsigned i;

    for (i = 0; i < s->n_steps; i++)
        if (!step_copy(d, &s->steps[i]))
            return 0;
    for (i = 0; i < s->n_samples; i++)
        if (!sample_copy(d, &s->samples[i]))
            return 0;
    for (i = 0; i < s->n_anomalies; i++)
        if (!anomaly_copy(d, &s->anomalies[i]))
            return 0;
    d->anomaly_count += s->anomaly_count;
    if ((int)s->severity > (int)d->severity)
        d->severity = s->severity;
    d->opened_ms = SPC_MIN(d->opened_ms, s->opened_ms);
    d->updated_ms = SPC_MAX(d->updated_ms, s->updated_ms);
    if (!d->station && s->station && !set_str(&d->station, s->station))
        return 0;
    memcpy(s->merged_into, d->id, sizeof(s->merged_into));
    s->state = SPC_INC_RESOLVED;
    s->resolved_ms = d->updated_ms;
    if (!set_str(&s->resolved_by, "spcstream (merged)"))
        return 0;
    emit(t, src);
    dst->pending = 1;
    dst->dirty = 1;
    return 1;
}

/* Other live incidents that take @p a as strongly as @p best (the same
 * step, the same subgroup) describe the same problem: fold them into
 * one, keeping the one whose scope has evidence, else the oldest. */
static struct entry *consolidate(struct spc_incidents *t, struct entry *best,
                                 const struct spc_anomaly *a,
                                 const struct scope *s, int *changed)
{
    size_t i;

    *changed = 0;
    for (i = 0; i < t->n; i++) {
        struct entry *e = t->e[i], *keep, *drop;

        if (e == best || e->inc.state == SPC_INC_RESOLVED ||
            related(t, e, a, s) < 3 || related(t, best, a, s) < 3)
            continue;
        /* two subgroups of one dimension stay apart */
        if (e->inc.scope_evidenced && best->inc.scope_evidenced &&
            streq(e->inc.scope_dim, best->inc.scope_dim) &&
            !streq(e->inc.scope_value, best->inc.scope_value))
            continue;
        keep = best;
        drop = e;
        if ((e->inc.scope_evidenced && !best->inc.scope_evidenced) ||
            (e->inc.scope_evidenced == best->inc.scope_evidenced &&
             e->order < best->order)) {
            keep = e;
            drop = best;
        }
        if (!absorb(t, keep, drop))
            return NULL;
        best = keep;
        *changed = 1;
    }
    return best;
}

spc_err_t spc_incidents_add(struct spc_incidents *t,
                            const struct spc_anomaly *a)
{
    struct scope s;
    struct entry *e;
    int notable, fresh = 0, merged = 0;

    auto_resolve(t, a->ts_ms);
    scope_of(a, &s);
    e = best_match(t, a, &s);
    if (e && !(e = consolidate(t, e, a, &s, &merged)))
        return SPC_ERR_NOMEM;
    if (!e)
        e = storm_target(t, a);
    if (!e) {
        if ((int)a->severity < t->o.min_severity)
            return SPC_OK; /* too minor to open an incident on its own */
        e = open_new(t, a, &s);
        if (!e)
            return SPC_ERR_NOMEM;
        fresh = 1;
    }
    notable = merge(t, e, a, &s);
    if (notable < 0)
        return SPC_ERR_NOMEM;
    if (fresh || notable || merged ||
        a->ts_ms - e->last_emit_ms >= t->o.update_ms) {
        emit(t, e);
        maybe_llm(t, e);
    }
    trim(t);
    return SPC_OK;
}

void spc_incidents_flush(struct spc_incidents *t)
{
    size_t i;

    for (i = 0; i < t->n; i++)
        if (t->e[i]->pending)
            emit(t, t->e[i]);
}

spc_err_t spc_incidents_apply_llm(struct spc_incidents *t, const char *id,
                                  const struct spc_advice *adv)
{
    struct entry *e = find_id(t, id);
    struct spc_advice copy;

    if (!e)
        return SPC_ERR_NOTFOUND;
    if (spc_advice_copy(&copy, adv) != SPC_OK)
        return SPC_ERR_NOMEM;
    spc_advice_fini(&e->inc.llm);
    e->inc.llm = copy;
    if (!e->inc.llm.source && !set_str(&e->inc.llm.source, "llm"))
        return SPC_ERR_NOMEM;
    emit(t, e);
    return SPC_OK;
}

static char **rebaseline_globs(const struct spc_incident *c)
{
    char **g = spc_calloc(c->n_steps + 1, sizeof(char *));
    unsigned i;

    if (!g)
        return NULL;
    for (i = 0; i < c->n_steps; i++) {
        struct spc_buf b;

        spc_buf_init(&b);
        spc_buf_printf(&b, "%s/%s/%s", c->test_plan, c->steps[i].test_step,
                       c->steps[i].measurement);
        g[i] = spc_buf_ok(&b) ? spc_strdup(b.data) : NULL;
        spc_buf_fini(&b);
        if (!g[i]) {
            free_strs(g, i);
            free(g);
            return NULL;
        }
    }
    return g;
}

spc_err_t spc_incidents_action(struct spc_incidents *t,
                               const struct spc_action *act, char ***globs)
{
    struct entry *e = find_id(t, act->incident_id);
    struct spc_incident *c;
    char note[600];
    int hops;

    /* an action on a merged incident applies to the one that absorbed it */
    for (hops = 0; e && e->inc.merged_into[0] && hops < 8; hops++)
        e = find_id(t, e->inc.merged_into);

    if (globs)
        *globs = NULL;
    if (!e)
        return SPC_ERR_NOTFOUND;
    c = &e->inc;
    switch (act->kind) {
    case SPC_ACT_ACK:
        if (c->state == SPC_INC_OPEN) {
            c->state = SPC_INC_ACKNOWLEDGED;
            c->acked_ms = act->ts_ms;
            if (!set_str(&c->acked_by, act->user))
                return SPC_ERR_NOMEM;
        }
        break;
    case SPC_ACT_RESOLVE:
        c->state = SPC_INC_RESOLVED;
        c->resolved_ms = act->ts_ms;
        if (!set_str(&c->resolved_by, act->user))
            return SPC_ERR_NOMEM;
        break;
    case SPC_ACT_NOTE:
    case SPC_ACT_REBASELINE:
        snprintf(note, sizeof(note), "%s%s%s",
                 act->kind == SPC_ACT_REBASELINE ? "re-baselined" : "",
                 act->kind == SPC_ACT_REBASELINE && act->note ? ": " : "",
                 act->note ? act->note : "");
        if (act->user && strlen(note) < sizeof(note) - 100)
            snprintf(note + strlen(note), sizeof(note) - strlen(note), " (%s)",
                     act->user);
        if (c->n_notes == SPC_INC_MAX_NOTES) {
            free(c->notes[0]);
            memmove(&c->notes[0], &c->notes[1],
                    (c->n_notes - 1) * sizeof(char *));
            c->n_notes--;
        }
        c->notes[c->n_notes] = spc_strdup(note);
        if (!c->notes[c->n_notes])
            return SPC_ERR_NOMEM;
        c->n_notes++;
        if (act->kind == SPC_ACT_REBASELINE && globs &&
            !(*globs = rebaseline_globs(c)))
            return SPC_ERR_NOMEM;
        break;
    }
    if (act->ts_ms > c->updated_ms)
        c->updated_ms = act->ts_ms;
    emit(t, e);
    return SPC_OK;
}

spc_err_t spc_action_from_json(const json_t *obj, struct spc_action *out,
                               char *errstr, size_t errstr_size)
{
    static const char *const kinds[] = {"ack", "resolve", "note", "rebaseline"};
    const char *k = json_string_value(json_object_get(obj, "action"));
    const char *ts = json_string_value(json_object_get(obj, "timestamp"));
    size_t i;

    memset(out, 0, sizeof(*out));
    for (i = 0; k && i < 4; i++)
        if (!strcmp(k, kinds[i]))
            break;
    if (!k || i == 4) {
        spc_errstr_set(errstr, errstr_size,
                       "action: expected ack, resolve, note or rebaseline");
        return SPC_ERR_INVALID;
    }
    out->kind = (enum spc_action_kind)i;
    out->incident_id = json_string_value(json_object_get(obj, "incident_id"));
    if (!out->incident_id) {
        spc_errstr_set(errstr, errstr_size, "incident_id: missing");
        return SPC_ERR_INVALID;
    }
    out->user = json_string_value(json_object_get(obj, "user"));
    out->note = json_string_value(json_object_get(obj, "note"));
    if (ts && spc_time_parse(ts, &out->ts_ms) != SPC_OK) {
        spc_errstr_set(errstr, errstr_size,
                       "timestamp: not an RFC 3339 time with offset");
        return SPC_ERR_INVALID;
    }
    return SPC_OK;
}

/* ---- checkpoint blobs: "SPCI1" + JSON {"incident": ..., bookkeeping} ---- */

spc_err_t spc_incidents_export(struct spc_incidents *t, int dirty_only,
                               spc_incident_blob_cb *cb, void *opaque)
{
    struct spc_buf b;
    spc_err_t err = SPC_OK;
    size_t i;

    spc_buf_init(&b);
    for (i = 0; i < t->n && !err; i++) {
        struct entry *e = t->e[i];

        if (dirty_only && !e->dirty)
            continue;
        spc_buf_reset(&b);
        spc_buf_puts(&b, BLOB_MAGIC "{\"incident\":");
        spc_incident_to_json(&e->inc, &b);
        spc_buf_printf(&b,
                       ",\"last_emit_ms\":%lld,\"pending\":%d,\"order\":%llu,"
                       "\"llm_requested\":%d,\"open_station\":",
                       (long long)e->last_emit_ms, e->pending,
                       (unsigned long long)e->order, e->inc.llm_requested);
        spc_json_str(&b, e->open_station);
        spc_buf_puts(&b, ",\"llm\":");
        spc_advice_to_json(&e->inc.llm, &b);
        spc_buf_putc(&b, '}');
        if (!spc_buf_ok(&b))
            err = SPC_ERR_NOMEM;
        else if (cb(e->inc.id, b.data, b.len, opaque))
            err = SPC_ERR_IO;
        else
            e->dirty = 0;
    }
    spc_buf_fini(&b);
    return err;
}

static const char *js(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static double jn(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

static int64_t jts(const json_t *o, const char *k)
{
    int64_t ms = 0;

    return js(o, k) && spc_time_parse(js(o, k), &ms) == SPC_OK ? ms : 0;
}

static int advice_from(const json_t *o, struct spc_advice *a)
{
    const json_t *arr, *x;
    size_t i;

    memset(a, 0, sizeof(*a));
    if (!json_is_object(o))
        return 1;
    if (!set_str(&a->source, js(o, "source")) ||
        !set_str(&a->summary, js(o, "summary")))
        return 0;
    arr = json_object_get(o, "causes");
    if (json_array_size(arr) &&
        !(a->causes = spc_calloc(json_array_size(arr), sizeof(*a->causes))))
        return 0;
    json_array_foreach(arr, i, x)
    {
        a->n_causes = i + 1;
        if (!set_str(&a->causes[i].cause, js(x, "cause")) ||
            !set_str(&a->causes[i].likelihood, js(x, "likelihood")) ||
            !set_str(&a->causes[i].evidence, js(x, "evidence")))
            return 0;
    }
    arr = json_object_get(o, "actions");
    if (json_array_size(arr) &&
        !(a->actions = spc_calloc(json_array_size(arr), sizeof(char *))))
        return 0;
    json_array_foreach(arr, i, x)
    {
        a->n_actions = i + 1;
        if (!set_str(&a->actions[i], json_string_value(x)))
            return 0;
    }
    arr = json_object_get(o, "correlations");
    if (json_array_size(arr) &&
        !(a->correlations = spc_calloc(json_array_size(arr), sizeof(char *))))
        return 0;
    json_array_foreach(arr, i, x)
    {
        a->n_correlations = i + 1;
        if (!set_str(&a->correlations[i], json_string_value(x)))
            return 0;
    }
    return 1;
}

static int steps_from(const json_t *arr, struct spc_incident *c)
{
    const json_t *x, *d;
    size_t i, j;

    json_array_foreach(arr, i, x)
    {
        struct spc_inc_step *s;

        if (c->n_steps == SPC_INC_MAX_STEPS)
            break;
        s = &c->steps[c->n_steps++];
        if (!set_str(&s->test_step, js(x, "test_step")) ||
            !set_str(&s->measurement, js(x, "measurement")) ||
            !set_str(&s->unit, js(x, "unit")) || !s->test_step ||
            !s->measurement)
            return 0;
        json_array_foreach(json_object_get(x, "detectors"), j, d)
        {
            int det =
                spc_det_find(json_string_value(d) ? json_string_value(d) : "");

            if (det >= 0)
                s->detectors |= 1u << det;
        }
        s->anomalies =
            (uint32_t)json_integer_value(json_object_get(x, "anomalies"));
        s->baseline_mean = jn(json_object_get(x, "baseline"), "mean");
        s->baseline_sigma = jn(json_object_get(x, "baseline"), "sigma");
        s->baseline_yield = jn(json_object_get(x, "baseline"), "yield");
        s->recent_mean = jn(json_object_get(x, "recent"), "mean");
        s->recent_sd = jn(json_object_get(x, "recent"), "sd");
        s->recent_yield = jn(json_object_get(x, "recent"), "yield");
        s->recent_n = (uint32_t)json_integer_value(
            json_object_get(json_object_get(x, "recent"), "n"));
        s->shift_sigma = jn(x, "shift_sigma");
        s->slope_sigma = jn(x, "slope_sigma");
        s->lsl = jn(x, "lsl");
        s->usl = jn(x, "usl");
    }
    return 1;
}

static int lists_from(const json_t *o, struct spc_incident *c)
{
    const json_t *x;
    size_t i;

    json_array_foreach(json_object_get(o, "breakdown"), i, x)
    {
        struct spc_inc_breakdown *r;

        if (c->n_breakdown == SPC_INC_MAX_BREAKDOWN)
            break;
        r = &c->breakdown[c->n_breakdown++];
        if (!set_str(&r->test_step, js(x, "test_step")) ||
            !set_str(&r->dim, js(x, "dimension")) ||
            !set_str(&r->value, js(x, "value")))
            return 0;
        r->n = (uint32_t)json_integer_value(json_object_get(x, "n"));
        r->mean = jn(x, "mean");
        r->yield = jn(x, "yield");
    }
    json_array_foreach(json_object_get(o, "samples"), i, x)
    {
        struct spc_inc_sample *s;

        if (c->n_samples == SPC_INC_MAX_SAMPLES)
            break;
        s = &c->samples[c->n_samples++];
        s->value = jn(x, "value");
        s->passed = json_is_true(json_object_get(x, "passed"));
        s->ts_ms = jts(x, "timestamp");
        if (!set_str(&s->test_step, js(x, "test_step")) ||
            !set_str(&s->uut_id, js(x, "uut_id")) ||
            !set_str(&s->station, js(x, "station")) ||
            !set_str(&s->fixture, js(x, "fixture")) ||
            !set_str(&s->fw, js(x, "fw")) ||
            !set_str(&s->op, js(x, "operator")))
            return 0;
    }
    json_array_foreach(json_object_get(o, "anomalies"), i, x)
    {
        struct spc_inc_anomaly *a;
        const char *id = js(x, "anomaly_id");
        int det = spc_det_find(js(x, "detector") ? js(x, "detector") : "");

        if (c->n_anomalies == SPC_INC_MAX_ANOMALIES || !id ||
            strlen(id) != 32 || det < 0)
            continue;
        a = &c->anomalies[c->n_anomalies++];
        memcpy(a->id, id, 33);
        a->detector = (enum spc_det)det;
        a->rule = (int)json_integer_value(json_object_get(x, "rule"));
        a->ts_ms = jts(x, "timestamp");
        if (!set_str(&a->check, js(x, "check")) ||
            !set_str(&a->test_step, js(x, "test_step")) ||
            !set_str(&a->message, js(x, "message")))
            return 0;
    }
    json_array_foreach(json_object_get(o, "notes"), i, x)
    {
        if (c->n_notes == SPC_INC_MAX_NOTES)
            break;
        if (!set_str(&c->notes[c->n_notes++], json_string_value(x)))
            return 0;
    }
    return 1;
}

static int incident_from(const json_t *o, struct spc_incident *c)
{
    const char *id = js(o, "incident_id");
    const json_t *scope = json_object_get(o, "scope");
    int sev = spc_severity_find(js(o, "severity"));
    size_t i;

    if (!id || strlen(id) != 32 || !js(o, "test_plan") || !scope)
        return -1;
    memcpy(c->id, id, 33);
    c->revision = (uint32_t)json_integer_value(json_object_get(o, "revision"));
    for (i = 0; i < 3; i++)
        if (js(o, "state") && !strcmp(js(o, "state"), state_names[i]))
            c->state = (enum spc_inc_state)i;
    c->severity = sev < 0 ? SPC_SEV_INFO : (enum spc_severity)sev;
    c->opened_ms = jts(o, "opened");
    c->updated_ms = jts(o, "updated");
    c->acked_ms = jts(o, "acknowledged");
    c->resolved_ms = jts(o, "resolved");
    c->anomaly_count =
        (uint32_t)json_integer_value(json_object_get(o, "anomaly_count"));
    c->scope_evidenced = (uint8_t)streq(js(scope, "basis"), "subgroup");
    if (js(o, "merged_into") && strlen(js(o, "merged_into")) == 32)
        memcpy(c->merged_into, js(o, "merged_into"), 33);
    if (!set_str(&c->pattern, js(o, "pattern")) ||
        !set_str(&c->test_plan, js(o, "test_plan")) ||
        !set_str(&c->scope_dim, js(scope, "dimension")) ||
        !set_str(&c->scope_value, js(scope, "value")) ||
        !set_str(&c->station, js(o, "station")) ||
        !set_str(&c->fixture, js(o, "fixture")) ||
        !set_str(&c->fw, js(o, "fw")) || !set_str(&c->title, js(o, "title")) ||
        !set_str(&c->summary, js(o, "summary")) ||
        !set_str(&c->acked_by, js(o, "acknowledged_by")) ||
        !set_str(&c->resolved_by, js(o, "resolved_by")) ||
        !steps_from(json_object_get(o, "steps"), c) || !lists_from(o, c) ||
        !advice_from(json_object_get(o, "rule_advice"), &c->rules))
        return 0;
    return 1;
}

spc_err_t spc_incident_from_json(const json_t *obj, struct spc_incident *out,
                                 char *errstr, size_t errstr_size)
{
    const json_t *adv = json_object_get(obj, "advice");
    int r;

    memset(out, 0, sizeof(*out));
    r = json_is_object(obj) ? incident_from(obj, out) : -1;
    if (r == 1 && streq(js(adv, "source"), "llm") &&
        !advice_from(adv, &out->llm))
        r = 0;
    if (r != 1) {
        incident_fini(out);
        memset(out, 0, sizeof(*out));
        spc_errstr_set(errstr, errstr_size,
                       r == 0 ? "out of memory"
                              : "not an incident: incident_id (32 hex), "
                                "test_plan or scope missing");
        return r == 0 ? SPC_ERR_NOMEM : SPC_ERR_PARSE;
    }
    return SPC_OK;
}

void spc_incident_fini(struct spc_incident *inc)
{
    if (!inc)
        return;
    incident_fini(inc);
    memset(inc, 0, sizeof(*inc));
}

spc_err_t spc_incidents_import(struct spc_incidents *t, const void *blob,
                               size_t len, char *errstr, size_t errstr_size)
{
    size_t ml = strlen(BLOB_MAGIC);
    json_error_t jerr;
    json_t *root;
    struct entry *e, *old;
    int r;

    if (len < ml || memcmp(blob, BLOB_MAGIC, ml) != 0) {
        spc_errstr_set(errstr, errstr_size, "not an incident state blob");
        return SPC_ERR_PARSE;
    }
    root = json_loadb((const char *)blob + ml, len - ml, 0, &jerr);
    if (!root) {
        spc_errstr_set(errstr, errstr_size, "incident blob: %s", jerr.text);
        return SPC_ERR_PARSE;
    }
    e = spc_calloc(1, sizeof(*e));
    if (!e) {
        json_decref(root);
        return SPC_ERR_NOMEM;
    }
    r = incident_from(json_object_get(root, "incident"), &e->inc);
    if (r == 1 && !advice_from(json_object_get(root, "llm"), &e->inc.llm))
        r = 0;
    e->last_emit_ms = (int64_t)jn(root, "last_emit_ms");
    e->pending = (int)json_integer_value(json_object_get(root, "pending"));
    e->order = (uint64_t)json_integer_value(json_object_get(root, "order"));
    e->inc.llm_requested =
        (uint8_t)json_integer_value(json_object_get(root, "llm_requested"));
    snprintf(e->open_station, sizeof(e->open_station), "%s",
             js(root, "open_station") ? js(root, "open_station") : "");
    json_decref(root);
    if (r != 1) {
        incident_fini(&e->inc);
        free(e);
        spc_errstr_set(errstr, errstr_size,
                       r == 0 ? "out of memory"
                              : "incident blob: missing fields");
        return r == 0 ? SPC_ERR_NOMEM : SPC_ERR_PARSE;
    }
    old = find_id(t, e->inc.id);
    if (old) { /* replace */
        incident_fini(&old->inc);
        *old = *e;
        free(e);
    } else {
        if (t->n == t->cap) {
            size_t cap = t->cap ? t->cap * 2 : 32;
            struct entry **ne = spc_realloc(t->e, cap * sizeof(*ne));

            if (!ne) {
                incident_fini(&e->inc);
                free(e);
                return SPC_ERR_NOMEM;
            }
            t->e = ne;
            t->cap = cap;
        }
        { /* keep creation order: grouping ties resolve the same way */
            size_t at = t->n;

            while (at > 0 && t->e[at - 1]->order > e->order)
                at--;
            memmove(&t->e[at + 1], &t->e[at], (t->n - at) * sizeof(t->e[0]));
            t->e[at] = e;
            t->n++;
        }
        if (e->order >= t->created)
            t->created = e->order + 1;
    }
    return SPC_OK;
}
