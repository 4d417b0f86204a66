/*
 * test_incident.c -- grouping anomalies into incidents: scope from
 * evidence, one incident per problem, separate problems kept apart,
 * merging, revisions and their rate limit, operator actions, LLM advice,
 * checkpoint round trip.  Each case is a hand-written sequence of
 * anomalies with the grouping an engineer would expect.
 */
#include "spc_incident.h"
#include "spc_test.h"

#include <stdlib.h>

#define MIN_MS 60000LL
#define T0 1793512800000LL /* 2026-11-01T06:00:00Z */

struct rev {
    char id[33];
    char merged_into[33];
    uint32_t revision;
    enum spc_inc_state state;
    char scope_dim[32], scope_value[32], pattern[32];
    int evidenced;
    unsigned n_steps;
    uint32_t anomaly_count;
    int has_llm;
};

struct sink {
    struct rev r[256];
    size_t n;
    size_t llm_asks;
    struct spc_buf json; /* the last revision as published */
};

static void copy_str(char *dst, size_t n, const char *s)
{
    snprintf(dst, n, "%s", s ? s : "");
}

static void sink_cb(const struct spc_incident *c, void *opaque)
{
    struct sink *s = opaque;
    struct rev *r;

    ck_assert_uint_lt(s->n, SPC_ARRAY_SIZE(s->r));
    r = &s->r[s->n++];
    memcpy(r->id, c->id, 33);
    memcpy(r->merged_into, c->merged_into, 33);
    r->revision = c->revision;
    r->state = c->state;
    copy_str(r->scope_dim, sizeof(r->scope_dim), c->scope_dim);
    copy_str(r->scope_value, sizeof(r->scope_value), c->scope_value);
    copy_str(r->pattern, sizeof(r->pattern), c->pattern);
    r->evidenced = c->scope_evidenced;
    r->n_steps = c->n_steps;
    r->anomaly_count = c->anomaly_count;
    r->has_llm = c->llm.source != NULL;
    s->json.len = 0;
    spc_incident_to_json(c, &s->json);
}

/* Asks for advice once the incident is at least a warning. */
static int llm_cb(const struct spc_incident *c, void *opaque)
{
    if (c->severity < SPC_SEV_WARNING)
        return 0;
    ((struct sink *)opaque)->llm_asks++;
    return 1;
}

/* The latest revision of incident @p id. */
static const struct rev *latest(const struct sink *s, const char *id)
{
    const struct rev *r = NULL;
    size_t i;

    for (i = 0; i < s->n; i++)
        if (!strcmp(s->r[i].id, id))
            r = &s->r[i];
    ck_assert_ptr_nonnull(r);
    return r;
}

/* Distinct incidents seen by the sink that were not merged away. */
static size_t live_incidents(const struct sink *s)
{
    size_t i, j, n = 0;

    for (i = 0; i < s->n; i++) {
        int first = 1;

        for (j = 0; j < i; j++)
            if (!strcmp(s->r[j].id, s->r[i].id))
                first = 0;
        if (first && !latest(s, s->r[i].id)->merged_into[0])
            n++;
    }
    return n;
}

static struct spc_dims g_dims;

static void setup(void)
{
    ck_assert_int_eq(spc_dims_init(&g_dims), SPC_OK);
}

static void teardown(void)
{
    spc_dims_fini(&g_dims);
}

/* An anomaly of @p det on @p step, at minute @p min, on a unit of station
 * @p st / fixture @p fx / firmware @p fw; a subgroup anomaly when @p sgd is
 * given. */
static void mk(struct spc_anomaly *a, enum spc_det det, const char *step,
               int min, const char *st, const char *fx, const char *fw,
               const char *sgd, const char *sgv, enum spc_severity sev)
{
    static unsigned serial;
    static char uut[64][16];
    char *u = uut[serial % 64];

    memset(a, 0, sizeof(*a));
    snprintf(u, 16, "SN-%05u", serial++);
    a->detector = det;
    a->severity = sev;
    a->test_plan = "PCBA-200/10";
    a->test_step = step;
    a->measurement = step;
    a->unit = "V";
    a->uut_id = u;
    a->ts_ms = T0 + (int64_t)min * MIN_MS;
    a->value = 3.1;
    a->score = 5.0;
    a->threshold = 4.5;
    a->direction = SPC_DIR_DOWN;
    a->seq = serial;
    a->sg_dim = sgd;
    a->sg_value = sgv;
    a->dims = &g_dims;
    a->meta[SPC_DIM_STATION] = st;
    a->meta[SPC_DIM_FIXTURE] = fx;
    a->meta[SPC_DIM_FW] = fw;
    a->meta[SPC_DIM_OPERATOR] = "ann";
    a->passed = 1;
    snprintf(a->message, sizeof(a->message), "%s on %s", step, st);
    spc_anomaly_make_id(a);
}

static struct spc_incidents *table(struct sink *s, struct spc_incident_opts *o)
{
    struct spc_incidents *t;
    char err[256];

    ck_assert_int_eq(spc_incident_opts_from_json(NULL, o, err, sizeof(err)),
                     SPC_OK);
    t = spc_incidents_new(o);
    ck_assert_ptr_nonnull(t);
    memset(s, 0, sizeof(*s));
    spc_buf_init(&s->json);
    spc_incidents_set_sink(t, sink_cb, s);
    spc_incidents_set_llm(t, llm_cb, s);
    return t;
}

static void finish(struct spc_incidents *t, struct sink *s)
{
    spc_incidents_destroy(t);
    spc_buf_fini(&s->json);
}

static void add(struct spc_incidents *t, const struct spc_anomaly *a)
{
    ck_assert_int_eq(spc_incidents_add(t, a), SPC_OK);
}

/* An outlier at ST-02, then "only fixture FX-2B" on another step of that
 * station: one incident, narrowed to the fixture, with the fixture
 * playbook. */
START_TEST(fixture_narrows_station)
{
    struct spc_incident_opts o;
    struct sink s;
    struct spc_incidents *t = table(&s, &o);
    struct spc_anomaly a;
    const struct rev *r;

    mk(&a, SPC_DET_SHEWHART, "Power/VCC 3V3", 0, "ST-02", "FX-2B", "3.4.2",
       NULL, NULL, SPC_SEV_CRITICAL);
    add(t, &a);
    ck_assert_uint_eq(s.n, 1);
    ck_assert_str_eq(s.r[0].scope_dim, "station");
    ck_assert_str_eq(s.r[0].scope_value, "ST-02");
    ck_assert_int_eq(s.r[0].evidenced, 0);
    ck_assert_str_eq(s.r[0].pattern, "outlier"); /* nothing says station */

    mk(&a, SPC_DET_SUBGROUP, "Power/PA Supply", 5, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_WARNING);
    add(t, &a);
    ck_assert_uint_eq(live_incidents(&s), 1);
    r = latest(&s, s.r[0].id);
    ck_assert_str_eq(r->scope_dim, "fixture");
    ck_assert_str_eq(r->scope_value, "FX-2B");
    ck_assert_int_eq(r->evidenced, 1);
    ck_assert_str_eq(r->pattern, "fixture");
    ck_assert_uint_eq(r->n_steps, 2);
    ck_assert_uint_eq(r->anomaly_count, 2);
    ck_assert_uint_eq(r->revision, 2);
    ck_assert_uint_eq(s.llm_asks, 1); /* asked once, at opening */
    finish(t, &s);
}
END_TEST

/* The same step failing on two fixtures at once, or on a fixture and a
 * firmware version: separate causes, separate incidents. */
START_TEST(different_causes_stay_apart)
{
    struct spc_incident_opts o;
    struct sink s;
    struct spc_incidents *t = table(&s, &o);
    struct spc_anomaly a;

    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 0, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_WARNING);
    add(t, &a);
    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 1, "ST-04", "FX-4A", "3.4.2",
       "fixture", "FX-4A", SPC_SEV_WARNING);
    add(t, &a);
    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 2, "ST-04", "FX-4B", "3.5.0",
       "fw", "3.5.0", SPC_SEV_INFO);
    add(t, &a);
    ck_assert_uint_eq(live_incidents(&s), 3);
    ck_assert_str_eq(latest(&s, s.r[2].id)->pattern, "firmware");

    /* a socket on that step joins the fixture family's first incident */
    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 3, "ST-02", "FX-2B", "3.4.2",
       "socket", "1", SPC_SEV_INFO);
    add(t, &a);
    spc_incidents_flush(t);
    ck_assert_uint_eq(live_incidents(&s), 3);
    ck_assert_str_eq(latest(&s, s.r[0].id)->scope_value, "FX-2B");
    ck_assert_uint_eq(latest(&s, s.r[0].id)->anomaly_count, 2);
    finish(t, &s);
}
END_TEST

/* Outliers of one step at two stations: not a station problem; the
 * assumed station scope widens to the fleet. */
START_TEST(same_step_elsewhere_widens_to_fleet)
{
    struct spc_incident_opts o;
    struct sink s;
    struct spc_incidents *t = table(&s, &o);
    struct spc_anomaly a;
    const struct rev *r;

    mk(&a, SPC_DET_SHEWHART, "Analog/Vref", 0, "ST-01", "FX-1A", "3.4.2", NULL,
       NULL, SPC_SEV_WARNING);
    add(t, &a);
    mk(&a, SPC_DET_SHEWHART, "Analog/Vref", 3, "ST-03", "FX-3B", "3.4.2", NULL,
       NULL, SPC_SEV_WARNING);
    add(t, &a);
    ck_assert_uint_eq(live_incidents(&s), 1);
    r = latest(&s, s.r[0].id);
    ck_assert_str_eq(r->scope_dim, "fleet");
    ck_assert_str_eq(r->scope_value, "*");
    ck_assert_uint_eq(r->anomaly_count, 2);

    /* a trend on the pooled data of that step hours later, while the
     * incident is unresolved: the same problem (drift), not a new one */
    mk(&a, SPC_DET_TREND, "Analog/Vref", 300, "ST-01", "FX-1A", "3.4.2", NULL,
       NULL, SPC_SEV_INFO);
    add(t, &a);
    ck_assert_uint_eq(live_incidents(&s), 1);
    ck_assert_str_eq(latest(&s, s.r[0].id)->pattern, "fleet-drift");

    /* but another step's pooled shift is another problem */
    mk(&a, SPC_DET_EWMA, "RF/TX Power", 301, "ST-02", "FX-2A", "3.4.2", NULL,
       NULL, SPC_SEV_INFO);
    add(t, &a);
    ck_assert_uint_eq(live_incidents(&s), 2);
    finish(t, &s);
}
END_TEST

/* Two incidents found separately (a pooled variance change on one step, a
 * fixture on another) turn out to be one problem when the fixture is
 * named on the first step: merged into the evidenced one; actions on the
 * merged id follow it. */
START_TEST(merge_when_evidence_links)
{
    struct spc_incident_opts o;
    struct sink s;
    struct spc_incidents *t = table(&s, &o);
    struct spc_anomaly a;
    struct spc_action act;
    char pooled[33], fixture[33];
    const struct rev *r;

    mk(&a, SPC_DET_VARIANCE, "Power/VCC 1V2", 0, "ST-02", "FX-2B", "3.4.2",
       NULL, NULL, SPC_SEV_INFO);
    add(t, &a);
    memcpy(pooled, s.r[s.n - 1].id, 33);
    mk(&a, SPC_DET_SUBGROUP, "Power/PA Supply", 2, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_WARNING);
    add(t, &a);
    memcpy(fixture, s.r[s.n - 1].id, 33);
    ck_assert_str_ne(pooled, fixture);
    ck_assert_uint_eq(live_incidents(&s), 2);

    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 1V2", 4, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_WARNING);
    add(t, &a);
    ck_assert_uint_eq(live_incidents(&s), 1);
    r = latest(&s, pooled);
    ck_assert_str_eq(r->merged_into, fixture);
    ck_assert_int_eq(r->state, SPC_INC_RESOLVED);
    r = latest(&s, fixture);
    ck_assert_uint_eq(r->anomaly_count, 3);
    ck_assert_uint_eq(r->n_steps, 2);
    ck_assert_int_eq(r->state, SPC_INC_OPEN);

    memset(&act, 0, sizeof(act));
    act.kind = SPC_ACT_ACK;
    act.incident_id = pooled;
    act.user = "qe.mira";
    act.ts_ms = T0 + 10 * MIN_MS;
    ck_assert_int_eq(spc_incidents_action(t, &act, NULL), SPC_OK);
    ck_assert_str_eq(s.r[s.n - 1].id, fixture);
    ck_assert_int_eq(s.r[s.n - 1].state, SPC_INC_ACKNOWLEDGED);

    /* a merged incident never takes anomalies again */
    mk(&a, SPC_DET_VARIANCE, "Power/VCC 1V2", 12, "ST-02", "FX-2B", "3.4.2",
       NULL, NULL, SPC_SEV_INFO);
    add(t, &a);
    ck_assert_str_eq(s.n ? latest(&s, pooled)->merged_into : "", fixture);
    finish(t, &s);
}
END_TEST

/* More of the same: at most one revision per update interval (10 min by
 * default); severity up, a new step, resolution are published at once;
 * flush publishes what was held back. */
START_TEST(revision_rate_limit)
{
    struct spc_incident_opts o;
    struct sink s;
    struct spc_incidents *t = table(&s, &o);
    struct spc_anomaly a;
    int m;

    ck_assert_int_eq(o.update_ms, 10 * MIN_MS);
    for (m = 0; m < 5; m++) {
        mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", m, "ST-02", "FX-2B", "3.4.2",
           "fixture", "FX-2B", SPC_SEV_INFO);
        add(t, &a);
    }
    ck_assert_uint_eq(s.n, 1);        /* opened; four more held back */
    ck_assert_uint_eq(s.llm_asks, 0); /* info: does not qualify yet */
    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 6, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_CRITICAL);
    add(t, &a);
    ck_assert_uint_eq(s.n, 2);        /* severity went up */
    ck_assert_uint_eq(s.llm_asks, 1); /* now it qualifies */
    ck_assert_uint_eq(s.r[1].anomaly_count, 6);
    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 7, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_CRITICAL);
    add(t, &a);
    ck_assert_uint_eq(s.n, 2);
    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 17, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_CRITICAL);
    add(t, &a);
    ck_assert_uint_eq(s.n, 3); /* the interval has passed */
    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 18, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_CRITICAL);
    add(t, &a);
    ck_assert_uint_eq(s.n, 3);
    spc_incidents_flush(t);
    ck_assert_uint_eq(s.n, 4);
    ck_assert_uint_eq(s.r[3].anomaly_count, 9);
    ck_assert_uint_eq(s.r[3].revision, 4);
    spc_incidents_flush(t); /* nothing pending: nothing published */
    ck_assert_uint_eq(s.n, 4);
    finish(t, &s);
}
END_TEST

/* Quiet for auto_resolve_hours: resolved (by the next event's time); the
 * same problem after that opens a new incident. */
START_TEST(auto_resolve)
{
    struct spc_incident_opts o;
    struct sink s;
    struct spc_incidents *t = table(&s, &o);
    struct spc_anomaly a;
    char first[33];

    ck_assert_int_eq(o.auto_resolve_ms, 24 * 60 * MIN_MS);
    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 0, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_WARNING);
    add(t, &a);
    memcpy(first, s.r[0].id, 33);
    mk(&a, SPC_DET_SHEWHART, "RF/TX Power", 24 * 60 + 1, "ST-04", "FX-4A",
       "3.4.2", NULL, NULL, SPC_SEV_WARNING);
    add(t, &a);
    ck_assert_str_eq(s.r[1].id, first);
    ck_assert_int_eq(s.r[1].state, SPC_INC_RESOLVED);
    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 24 * 60 + 2, "ST-02", "FX-2B",
       "3.4.2", "fixture", "FX-2B", SPC_SEV_WARNING);
    add(t, &a);
    ck_assert_str_ne(s.r[s.n - 1].id, first);
    ck_assert_int_eq(s.r[s.n - 1].state, SPC_INC_OPEN);
    finish(t, &s);
}
END_TEST

/* Unit failures (<UUT>/result) caused by an incident's failing step join
 * that incident instead of opening a "yield dropped" one. */
START_TEST(unit_result_follows_failures)
{
    struct spc_incident_opts o;
    struct sink s;
    struct spc_incidents *t = table(&s, &o);
    struct spc_anomaly a;

    mk(&a, SPC_DET_SHEWHART, "Analog/Vref", 0, "ST-01", "FX-1A", "3.4.2", NULL,
       NULL, SPC_SEV_CRITICAL);
    a.passed = 0;
    add(t, &a);
    mk(&a, SPC_DET_YIELD, "<UUT>", 20, "ST-03", "FX-3A", "3.4.2", NULL, NULL,
       SPC_SEV_WARNING);
    add(t, &a);
    ck_assert_uint_eq(live_incidents(&s), 1);
    ck_assert_uint_eq(latest(&s, s.r[0].id)->n_steps, 2);
    finish(t, &s);
}
END_TEST

/* The station budget: beyond max_new_per_station_per_hour new incidents
 * in an hour, anomalies of that station go to its latest incident. */
START_TEST(storm_limit)
{
    struct spc_incident_opts o;
    struct sink s;
    struct spc_incidents *t;
    struct spc_anomaly a;
    json_t *cfg = json_pack("{s:i}", "max_new_per_station_per_hour", 2);
    char err[256];
    static const char *const ops[] = {"op1", "op2", "op3", "op4"};
    static const char *const steps[] = {"S/A", "S/B", "S/C", "S/D"};
    int i;

    ck_assert_int_eq(spc_incident_opts_from_json(cfg, &o, err, sizeof(err)),
                     SPC_OK);
    json_decref(cfg);
    t = spc_incidents_new(&o);
    memset(&s, 0, sizeof(s));
    spc_incidents_set_sink(t, sink_cb, &s);
    for (i = 0; i < 4; i++) {
        mk(&a, SPC_DET_SUBGROUP, steps[i], i, "ST-01", "FX-1A", "3.4.2",
           "operator", ops[i], SPC_SEV_WARNING);
        add(t, &a);
    }
    ck_assert_uint_eq(spc_incidents_count(t), 2);
    ck_assert_uint_eq(latest(&s, s.r[s.n - 1].id)->anomaly_count, 3);
    finish(t, &s);
}
END_TEST

static void drop_cb(const char *id, void *opaque)
{
    struct rev *r = opaque;

    memcpy(r->id, id, 33);
    r->revision++; /* count of drops */
}

/* The table is bounded: beyond max_incidents the oldest resolved one (else
 * the oldest) leaves, and the owner is told so its checkpoint can go. */
START_TEST(trim_drops_oldest)
{
    struct spc_incident_opts o;
    struct sink s;
    struct spc_incidents *t;
    struct spc_anomaly a;
    struct rev dropped;
    json_t *cfg = json_pack("{s:i}", "max_incidents", 10);
    char err[256], step[16][16], st[16][16];
    int i;

    ck_assert_int_eq(spc_incident_opts_from_json(cfg, &o, err, sizeof(err)),
                     SPC_OK);
    json_decref(cfg);
    t = spc_incidents_new(&o);
    memset(&s, 0, sizeof(s));
    memset(&dropped, 0, sizeof(dropped));
    spc_incidents_set_sink(t, sink_cb, &s);
    spc_incidents_set_drop(t, drop_cb, &dropped);
    for (i = 0; i < 11; i++) { /* 11 unrelated pooled shifts */
        snprintf(step[i], sizeof(step[i]), "S/%02d", i);
        snprintf(st[i], sizeof(st[i]), "ST-%02d", i); /* no storm limit */
        mk(&a, SPC_DET_EWMA, step[i], i, st[i], "FX-1A", "3.4.2", NULL, NULL,
           SPC_SEV_WARNING);
        add(t, &a);
    }
    ck_assert_uint_eq(spc_incidents_count(t), 10);
    ck_assert_uint_eq(dropped.revision, 1);
    ck_assert_str_eq(dropped.id, s.r[0].id);
    finish(t, &s);
}
END_TEST

static int blob_cb(const char *id, const void *blob, size_t len, void *opaque)
{
    struct spc_buf *b = opaque;

    (void)id;
    spc_buf_append(b, blob, len);
    spc_buf_putc(b, '\n');
    return 0;
}

static int import_lines(struct spc_incidents *t, const struct spc_buf *b)
{
    const char *p = b->data, *end = b->data + b->len;
    char err[256];
    int n = 0;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));

        ck_assert_int_eq(
            spc_incidents_import(t, p, (size_t)(nl - p), err, sizeof(err)),
            SPC_OK);
        p = nl + 1;
        n++;
    }
    return n;
}

/* Checkpoint: export -> import into a fresh table -> export gives the same
 * bytes, and the restored table keeps grouping (same incident ids). */
START_TEST(export_import_round_trip)
{
    struct spc_incident_opts o;
    struct sink s, s2;
    struct spc_incidents *t = table(&s, &o), *u;
    struct spc_anomaly a;
    struct spc_buf b1, b2;
    struct spc_advice adv;
    char *actions[] = {"Clean the pins of FX-2B."};
    struct spc_advice_cause cause = {"Worn pins", "high", "only FX-2B"};

    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 0, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_WARNING);
    add(t, &a);
    mk(&a, SPC_DET_SHEWHART, "Power/PA Supply", 1, "ST-02", "FX-2B", "3.4.2",
       NULL, NULL, SPC_SEV_CRITICAL);
    a.passed = 0;
    add(t, &a);
    mk(&a, SPC_DET_EWMA, "RF/TX Power", 2, "ST-04", "FX-4A", "3.5.0", NULL,
       NULL, SPC_SEV_INFO);
    add(t, &a);
    memset(&adv, 0, sizeof(adv));
    adv.source = "llm";
    adv.summary = "Contact problem on FX-2B.";
    adv.causes = &cause;
    adv.n_causes = 1;
    adv.actions = actions;
    adv.n_actions = 1;
    ck_assert_int_eq(spc_incidents_apply_llm(t, s.r[0].id, &adv), SPC_OK);
    ck_assert_int_eq(s.r[s.n - 1].has_llm, 1);
    ck_assert_int_eq(
        spc_incidents_apply_llm(t, "0123456789abcdef0123456789abcdef", &adv),
        SPC_ERR_NOTFOUND);

    spc_buf_init(&b1);
    spc_buf_init(&b2);
    ck_assert_int_eq(spc_incidents_export(t, 0, blob_cb, &b1), SPC_OK);
    u = spc_incidents_new(&o);
    ck_assert_int_eq(import_lines(u, &b1), 2);
    ck_assert_int_eq(spc_incidents_export(u, 0, blob_cb, &b2), SPC_OK);
    ck_assert_uint_eq(b1.len, b2.len);
    ck_assert_int_eq(memcmp(b1.data, b2.data, b1.len), 0);

    /* the restored table groups the next anomaly like the original */
    memset(&s2, 0, sizeof(s2));
    spc_incidents_set_sink(u, sink_cb, &s2);
    spc_incidents_set_sink(t, sink_cb, &s);
    mk(&a, SPC_DET_SUBGROUP, "Power/PA Supply", 3, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_CRITICAL);
    add(t, &a);
    add(u, &a);
    spc_incidents_flush(t);
    spc_incidents_flush(u);
    ck_assert_uint_eq(s2.n, 1);
    ck_assert_str_eq(s2.r[0].id, s.r[s.n - 1].id);
    ck_assert_uint_eq(s2.r[0].revision, s.r[s.n - 1].revision);
    ck_assert_uint_eq(s2.r[0].anomaly_count, s.r[s.n - 1].anomaly_count);
    spc_buf_fini(&b1);
    spc_buf_fini(&b2);
    finish(t, &s);
    finish(u, &s2);
}
END_TEST

/* The published record: valid JSON with the contract fields; the brief
 * names the scope and the first cause. */
START_TEST(record_and_brief)
{
    struct spc_incident_opts o;
    struct sink s;
    struct spc_incidents *t = table(&s, &o);
    struct spc_anomaly a;
    struct spc_buf b;
    json_t *root, *scope;
    json_error_t jerr;
    static const char *const fields[] = {
        "incident_id", "revision",      "state", "severity", "pattern",
        "test_plan",   "scope",         "title", "summary",  "opened",
        "updated",     "anomaly_count", "steps", "advice"};
    size_t i;

    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 0, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_WARNING);
    add(t, &a);
    spc_buf_init(&b);
    spc_incidents_brief_all(t, &b);
    ck_assert_ptr_nonnull(strstr(b.data, "FX-2B"));
    ck_assert_ptr_nonnull(strstr(b.data, "pogo pins"));
    root = json_loadb(s.json.data, s.json.len, 0, &jerr);
    ck_assert_msg(root != NULL, "bad JSON: %s", jerr.text);
    for (i = 0; i < SPC_ARRAY_SIZE(fields); i++)
        ck_assert_msg(json_object_get(root, fields[i]) != NULL, "missing %s",
                      fields[i]);
    scope = json_object_get(root, "scope");
    ck_assert_str_eq(json_string_value(json_object_get(scope, "dimension")),
                     "fixture");
    ck_assert_str_eq(json_string_value(json_object_get(scope, "basis")),
                     "subgroup");
    ck_assert_str_eq(json_string_value(json_object_get(root, "station")),
                     "ST-02");
    json_decref(root);
    spc_buf_fini(&b);
    finish(t, &s);
}
END_TEST

/* Actions: re-baseline hands back the incident's step patterns; an unknown
 * incident is reported; bad action JSON names the field. */
START_TEST(actions)
{
    struct spc_incident_opts o;
    struct sink s;
    struct spc_incidents *t = table(&s, &o);
    struct spc_anomaly a;
    struct spc_action act;
    char **globs = NULL, err[256];
    json_t *j;
    size_t n;

    mk(&a, SPC_DET_SUBGROUP, "Power/VCC 3V3", 0, "ST-02", "FX-2B", "3.4.2",
       "fixture", "FX-2B", SPC_SEV_WARNING);
    add(t, &a);
    memset(&act, 0, sizeof(act));
    act.kind = SPC_ACT_REBASELINE;
    act.incident_id = s.r[0].id;
    act.user = "qe.mira";
    act.note = "new supply lot";
    act.ts_ms = T0 + MIN_MS;
    ck_assert_int_eq(spc_incidents_action(t, &act, &globs), SPC_OK);
    ck_assert_ptr_nonnull(globs);
    for (n = 0; globs[n]; n++)
        ;
    ck_assert_uint_eq(n, 1);
    ck_assert_str_eq(globs[0], "PCBA-200/10/Power/VCC 3V3/Power/VCC 3V3");
    free(globs[0]);
    free(globs);

    act.kind = SPC_ACT_RESOLVE;
    ck_assert_int_eq(spc_incidents_action(t, &act, NULL), SPC_OK);
    ck_assert_int_eq(s.r[s.n - 1].state, SPC_INC_RESOLVED);
    act.incident_id = "0123456789abcdef0123456789abcdef";
    ck_assert_int_eq(spc_incidents_action(t, &act, NULL), SPC_ERR_NOTFOUND);

    j = json_pack("{s:s,s:s}", "action", "explode", "incident_id", "x");
    ck_assert_int_ne(spc_action_from_json(j, &act, err, sizeof(err)), SPC_OK);
    ck_assert_ptr_nonnull(strstr(err, "action"));
    json_decref(j);
    finish(t, &s);
}
END_TEST

Suite *incident_suite(void)
{
    Suite *s = suite_create("incident");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, fixture_narrows_station);
    tcase_add_test(tc, different_causes_stay_apart);
    tcase_add_test(tc, same_step_elsewhere_widens_to_fleet);
    tcase_add_test(tc, merge_when_evidence_links);
    tcase_add_test(tc, revision_rate_limit);
    tcase_add_test(tc, auto_resolve);
    tcase_add_test(tc, unit_result_follows_failures);
    tcase_add_test(tc, storm_limit);
    tcase_add_test(tc, trim_drops_oldest);
    tcase_add_test(tc, export_import_round_trip);
    tcase_add_test(tc, record_and_brief);
    tcase_add_test(tc, actions);
    suite_add_tcase(s, tc);
    return s;
}
