/*
 * spc_playbook.c -- patterns and rule advice.
 *
 * PATTERNS (first match wins):
 *   stuck         a subgroup stopped varying, or a flatline stuck run
 *   data-quality  invalid readings (NaN, text) above their usual rate
 *   fixture / station / socket / operator / firmware / software /
 *   hardware-revision   a subgroup anomaly names one value of that dimension
 *   fleet-drift   trend on the pooled data (all stations, gradual)
 *   variance      the spread changed, no single subgroup
 *   near-limit    values creep toward a spec limit, failures not yet
 *   yield         yield fell without a level shift (intermittent failures)
 *   fleet-shift   CUSUM/EWMA level change on the pooled data
 *   outlier       single points (Shewhart, robust z)
 * Each pattern maps to ranked causes with evidence from the incident and to
 * concrete actions; sentences are short and deterministic.
 */
#include "spc_playbook.h"

#include <math.h>
#include <string.h>

struct play {
    const char *pattern;
    struct {
        const char *cause, *likelihood, *evidence; /* %s: where, %t: step */
    } causes[3];
    const char *actions[4];
    const char *correlations[3];
};

/* In texts: %W is replaced by where (e.g. "fixture FX-2B"), %S by the main
 * step, %X by the affected dimension's value. */
static const struct play plays[] = {
    {"fixture",
     {{"Worn, bent or contaminated pogo pins or contacts in %W", "high",
       "only %W deviates; the same step is normal on the other fixtures"},
      {"Loose cable or connector between %W and the instrument", "medium",
       "a contact-resistance problem shifts and scatters readings"},
      {"Units not seated correctly in %W (alignment, clamp)", "low",
       "seating problems are fixture specific"}},
     {"Inspect and clean the pogo pins of %W; replace worn or bent pins.",
      "Check the fixture cable and connectors; reseat them.",
      "Run a golden unit on %W and on another fixture and compare %S.",
      "If it persists, swap %W for a spare and watch the next 20 units."},
     {"Other steps measured through the same contacts of %W.",
      "First-pass yield of %W against the other fixtures.", NULL}},
    {"station",
     {{"Instrument out of calibration at %W (meter, supply, load)", "high",
       "only %W deviates; the other stations agree"},
      {"Test leads, cabling or switching at %W", "medium",
       "wiring faults show on one station only"},
      {"Environment at %W (temperature, grounding, noise)", "low",
       "local conditions affect one station"}},
     {"Check the calibration date and self-test of the instruments at %W.",
      "Inspect and reseat the test leads and connectors at %W.",
      "Run a golden unit at %W and at another station and compare %S.", NULL},
     {"Other steps at %W using the same instrument.",
      "Both fixtures of %W: is it the station or one fixture?", NULL}},
    {"firmware",
     {{"A regression in firmware %X", "high",
       "only units running %X deviate, on every station"},
      {"A changed default or calibration constant in %X", "medium",
       "the shift appeared with the firmware version"},
      {"Test program not adapted to %X", "low",
       "a new firmware may need new test timing"}},
     {"Hold or roll back firmware %X on new units until it is understood.",
      "Compare %S for the same units on the previous firmware.",
      "Review the release notes of %X for changes affecting %S.", NULL},
     {"Other steps that depend on firmware behaviour (boot, calibration).",
      "Units programmed with %X that already shipped.", NULL}},
    {"software",
     {{"A change in the test program version %X", "high",
       "only units tested with %X deviate"},
      {"Changed limits or timing in %X", "medium",
       "a new program version can change how %S is measured"},
      {"", "", ""}},
     {"Compare %X with the previous test program version for %S.",
      "Re-test a few units with the previous version.", NULL, NULL},
     {"Other steps changed in the same program version.", NULL, NULL}},
    {"operator",
     {{"Handling or procedure difference of operator %X", "medium",
       "only units tested by %X deviate"},
      {"A station or shift effect coinciding with %X", "medium",
       "operators often stay on one station or shift"},
      {"", "", ""}},
     {"Review the handling procedure for %S with %X.",
      "Check whether %X always works at the same station or shift.", NULL,
      NULL},
     {"The station and shift of %X.", NULL, NULL}},
    {"socket",
     {{"Worn or dirty socket %X", "high", "only socket %X deviates"},
      {"", "", ""},
      {"", "", ""}},
     {"Inspect and clean socket %X; replace it if worn.", NULL, NULL, NULL},
     {"Other steps measured through socket %X.", NULL, NULL}},
    {"hardware-revision",
     {{"A design or BOM change in hardware revision %X", "high",
       "only revision %X deviates"},
      {"", "", ""},
      {"", "", ""}},
     {"Check the BOM and design changes of revision %X affecting %S.", NULL,
      NULL, NULL},
     {"Engineering change notes for revision %X.", NULL, NULL}},
    {"stuck",
     {{"The instrument or its driver returns a stale or cached reading", "high",
       "%S repeats the same value where it normally varies"},
      {"A disconnected or shorted sensor path at %W", "medium",
       "a constant reading can be a rail or an open input"},
      {"Test program reads the wrong channel or a default value", "low",
       "constant values also come from software defaults"}},
     {"Measure %S manually on the next unit and compare.",
      "Restart the instrument and its driver at %W; check its I/O log.",
      "Check the wiring of the measurement channel at %W.", NULL},
     {"Other readings from the same instrument.", NULL, NULL}},
    {"data-quality",
     {{"Instrument communication errors or timeouts", "high",
       "%S returns no number (NaN or text) more often than usual"},
      {"Test program fails to parse the instrument's answer", "medium",
       "invalid values are usually software-side"},
      {"", "", ""}},
     {"Check the instrument connection and the test program log at %W.",
      "Retest a unit that returned an invalid value.", NULL, NULL},
     {"Other steps using the same instrument.", NULL, NULL}},
    {"fleet-drift",
     {{"Component lot or supplier change", "high",
       "%S drifts gradually on all stations together"},
      {"Process drift upstream (solder, reflow, coating, trimming)", "medium",
       "a gradual change across the fleet points upstream"},
      {"Ageing reference or calibration standard shared by all stations", "low",
       "a shared reference drifts the whole fleet"}},
     {"Compare component lot and date codes of recent units with earlier "
      "ones.",
      "Review upstream process parameters for the period of the drift.",
      "Check the shared reference or calibration standard.",
      "Watch the margin to the spec limits; plan action before failures."},
     {"Other steps using the same components.",
      "Yield trend of the product over the same period.", NULL}},
    {"variance",
     {{"Intermittent contact or connection", "high",
       "the spread of %S grew without a level change"},
      {"Electrical noise, grounding or shielding problem", "medium",
       "noise widens the distribution"},
      {"Unstable supply or reference", "low",
       "an unstable source scatters readings"}},
     {"Check connectors, grounding and shielding of the %S measurement.",
      "Repeat %S several times on one unit to see the instrument noise.", NULL,
      NULL},
     {"Other steps on the same measurement path.", NULL, NULL}},
    {"near-limit",
     {{"Margin erosion: the process is moving toward a spec limit", "high",
       "more units than usual read close to the limit of %S"},
      {"Component tolerance stack-up shifting", "medium",
       "near-limit readings precede failures"},
      {"", "", ""}},
     {"Look at the trend of %S and its margin to the limit.",
      "Act before failures start: check components and process settings.", NULL,
      NULL},
     {"Yield of %S over the coming units.", NULL, NULL}},
    {"yield",
     {{"Intermittent failures (contacts, handling, marginal units)", "high",
       "yield of %S fell without a shift of the typical value"},
      {"A failure mode on a subset of units", "medium",
       "failures without a level shift come from some units only"},
      {"", "", ""}},
     {"Look at the failing units: same station, fixture or time?",
      "Retest failing units to separate unit defects from test problems.", NULL,
      NULL},
     {"Failure modes recorded for the failing units.", NULL, NULL}},
    {"fleet-shift",
     {{"A change affecting every station: component lot, test program or "
       "limits",
       "high", "%S shifted on all stations together"},
      {"A shared reference or calibration standard changed", "medium",
       "a sudden common shift points to something shared"},
      {"", "", ""}},
     {"Check what changed when the shift started: lots, program, limits.",
      "Run a golden unit and compare %S with its record.", NULL, NULL},
     {"Other steps that shifted at the same time.", NULL, NULL}},
    {"outlier",
     {{"A defective or damaged unit", "medium",
       "single readings of %S far from the baseline"},
      {"A measurement glitch (contact bounce, ESD, timing)", "medium",
       "isolated outliers are often measurement artefacts"},
      {"", "", ""}},
     {"Retest the unit(s) listed below.",
      "If outliers repeat at %W, check contacts and timing.", NULL, NULL},
     {"Other steps of the same units.", NULL, NULL}},
};

static const char *pattern_of(const struct spc_incident *c)
{
    uint32_t det = 0;
    unsigned i;
    int stuck = 0, invalid = 0, var_sg = 0;

    for (i = 0; i < c->n_steps; i++)
        det |= c->steps[i].detectors;
    for (i = 0; i < c->n_anomalies; i++) {
        const struct spc_inc_anomaly *a = &c->anomalies[i];

        stuck |= a->check && !strcmp(a->check, "stuck");
        stuck |= a->message && strstr(a->message, "looks stuck") != NULL;
        invalid |= a->check && !strcmp(a->check, "invalid_rate");
        var_sg |= a->detector == SPC_DET_SUBGROUP && a->check &&
                  !strcmp(a->check, "variance");
    }
    if (stuck)
        return "stuck";
    if (invalid && det == (1u << SPC_DET_FLATLINE))
        return "data-quality";
    if (c->scope_evidenced && c->scope_dim &&
        strcmp(c->scope_dim, "fleet") != 0) {
        if (!strcmp(c->scope_dim, "fw") || !strcmp(c->scope_dim, "firmware"))
            return "firmware";
        if (!strcmp(c->scope_dim, "sw_version") ||
            !strcmp(c->scope_dim, "sw_file"))
            return "software";
        if (!strcmp(c->scope_dim, "hw_rev"))
            return "hardware-revision";
        if (!strcmp(c->scope_dim, "fixture") ||
            !strcmp(c->scope_dim, "station") ||
            !strcmp(c->scope_dim, "socket") ||
            !strcmp(c->scope_dim, "operator")) {
            return c->scope_dim;
        }
        (void)var_sg;
    }
    if (det & (1u << SPC_DET_TREND))
        return "fleet-drift";
    if (det & (1u << SPC_DET_VARIANCE))
        return "variance";
    if (det & ((1u << SPC_DET_CUSUM) | (1u << SPC_DET_EWMA)))
        return "fleet-shift";
    if (det & (1u << SPC_DET_NEAR_LIMIT))
        return "near-limit";
    if (det & (1u << SPC_DET_YIELD))
        return "yield";
    if (invalid)
        return "data-quality";
    return "outlier";
}

/* Expand %W (where), %S (step), %X (scope value). */
static char *expand(const char *tpl, const char *where, const char *step,
                    const char *value)
{
    struct spc_buf b;
    char *out;

    spc_buf_init(&b);
    for (; *tpl; tpl++) {
        if (tpl[0] == '%' &&
            (tpl[1] == 'W' || tpl[1] == 'S' || tpl[1] == 'X')) {
            spc_buf_puts(&b, tpl[1] == 'W'   ? where
                             : tpl[1] == 'S' ? step
                                             : value);
            tpl++;
        } else {
            spc_buf_putc(&b, *tpl);
        }
    }
    out = spc_buf_ok(&b) ? spc_strdup(b.data ? b.data : "") : NULL;
    spc_buf_fini(&b);
    return out;
}

static const char *dim_word(const char *dim)
{
    if (!dim)
        return "";
    if (!strcmp(dim, "fw"))
        return "firmware";
    if (!strcmp(dim, "sw_version"))
        return "software version";
    if (!strcmp(dim, "sw_file"))
        return "test program";
    if (!strcmp(dim, "hw_rev"))
        return "hardware revision";
    return dim;
}

static void where_text(const struct spc_incident *c, char *out, size_t n)
{
    if (!c->scope_dim || !strcmp(c->scope_dim, "fleet")) {
        if (c->station && c->n_samples && c->n_anomalies == 1)
            snprintf(out, n, "station %s", c->station);
        else
            snprintf(out, n, "all stations");
    } else if (!strcmp(c->scope_dim, "fixture") && c->station)
        snprintf(out, n, "fixture %s (station %s)", c->scope_value, c->station);
    else
        snprintf(out, n, "%s %s", dim_word(c->scope_dim), c->scope_value);
}

static void step_text(const struct spc_incident *c, char *out, size_t n)
{
    const struct spc_inc_step *s = c->n_steps ? &c->steps[0] : NULL;
    const char *last;

    if (!s) {
        snprintf(out, n, "the measurements");
        return;
    }
    last = strrchr(s->test_step, '/');
    last = last ? last + 1 : s->test_step;
    if (!strcmp(last, s->measurement))
        snprintf(out, n, "%s", s->test_step);
    else
        snprintf(out, n, "%s/%s", s->test_step, s->measurement);
    if (c->n_steps > 1)
        snprintf(out + strlen(out), n - strlen(out), " (+%u steps)",
                 c->n_steps - 1);
}

static const struct play *play_of(const char *pattern)
{
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(plays); i++)
        if (!strcmp(plays[i].pattern, pattern))
            return &plays[i];
    return &plays[SPC_ARRAY_SIZE(plays) - 1];
}

static const char *what_text(const char *pattern)
{
    static const struct {
        const char *p, *w;
    } m[] = {
        {"fixture", "deviates on one fixture only"},
        {"station", "deviates on one station only"},
        {"firmware", "deviates on one firmware version only"},
        {"software", "deviates with one test program version"},
        {"operator", "deviates for one operator"},
        {"socket", "deviates on one socket"},
        {"hardware-revision", "deviates on one hardware revision"},
        {"stuck", "reading looks stuck"},
        {"data-quality", "returns invalid readings"},
        {"fleet-drift", "is drifting"},
        {"variance", "spread has changed"},
        {"near-limit", "is creeping toward a spec limit"},
        {"yield", "yield has dropped"},
        {"fleet-shift", "has shifted"},
        {"outlier", "has outlier readings"},
    };
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(m); i++)
        if (!strcmp(m[i].p, pattern))
            return m[i].w;
    return "is out of control";
}

static spc_err_t build_advice(struct spc_incident *c, const struct play *p,
                              const char *where, const char *step)
{
    struct spc_advice a;
    const char *val = c->scope_value ? c->scope_value : "";
    size_t i, n;

    memset(&a, 0, sizeof(a));
    a.source = spc_strdup("rules");
    a.causes = spc_calloc(3, sizeof(*a.causes));
    a.actions = spc_calloc(4, sizeof(char *));
    a.correlations = spc_calloc(3, sizeof(char *));
    if (!a.source || !a.causes || !a.actions || !a.correlations)
        goto oom;
    for (i = n = 0; i < 3; i++) {
        if (!p->causes[i].cause || !*p->causes[i].cause)
            continue;
        a.causes[n].cause = expand(p->causes[i].cause, where, step, val);
        a.causes[n].likelihood = spc_strdup(p->causes[i].likelihood);
        a.causes[n].evidence = expand(p->causes[i].evidence, where, step, val);
        a.n_causes = ++n;
        if (!a.causes[n - 1].cause || !a.causes[n - 1].likelihood ||
            !a.causes[n - 1].evidence)
            goto oom;
    }
    for (i = 0; i < 4 && p->actions[i]; i++) {
        a.actions[i] = expand(p->actions[i], where, step, val);
        a.n_actions = i + 1;
        if (!a.actions[i])
            goto oom;
    }
    for (i = 0; i < 3 && p->correlations[i]; i++) {
        a.correlations[i] = expand(p->correlations[i], where, step, val);
        a.n_correlations = i + 1;
        if (!a.correlations[i])
            goto oom;
    }
    a.summary = spc_strdup(c->summary);
    if (!a.summary)
        goto oom;
    spc_advice_fini(&c->rules);
    c->rules = a;
    return SPC_OK;
oom:
    spc_advice_fini(&a);
    return SPC_ERR_NOMEM;
}

static void summary_text(const struct spc_incident *c, const char *where,
                         const char *step, char *out, size_t n)
{
    const struct spc_inc_step *s = c->n_steps ? &c->steps[0] : NULL;
    size_t len;

    snprintf(out, n, "%s %s at %s", step, what_text(c->pattern), where);
    len = strlen(out);
    if (s && isfinite(s->shift_sigma))
        snprintf(out + len, n - len, " (shift %+.1f sigma)", s->shift_sigma);
    else if (s && isfinite(s->recent_yield) && isfinite(s->baseline_yield) &&
             s->recent_yield < s->baseline_yield - 0.005)
        snprintf(out + len, n - len, " (yield %.1f%% vs %.1f%%)",
                 100 * s->recent_yield, 100 * s->baseline_yield);
    len = strlen(out);
    snprintf(out + len, n - len, "; %u anomal%s so far.", c->anomaly_count,
             c->anomaly_count == 1 ? "y" : "ies");
}

spc_err_t spc_playbook_apply(struct spc_incident *c)
{
    char where[256], step[256], summary[640], title[800];
    const struct play *p;
    char *pat, *ti, *su;

    pat = spc_strdup(pattern_of(c));
    if (!pat)
        return SPC_ERR_NOMEM;
    free(c->pattern);
    c->pattern = pat;
    p = play_of(c->pattern);
    where_text(c, where, sizeof(where));
    step_text(c, step, sizeof(step));
    summary_text(c, where, step, summary, sizeof(summary));
    snprintf(title, sizeof(title), "%s %s: %s %s -- %s", c->test_plan, where,
             step, what_text(c->pattern),
             p->causes[0].cause ? p->causes[0].cause : "investigate");
    ti = expand(title, where, step, c->scope_value ? c->scope_value : "");
    su = spc_strdup(summary);
    if (!ti || !su) {
        free(ti);
        free(su);
        return SPC_ERR_NOMEM;
    }
    free(c->title);
    free(c->summary);
    c->title = ti;
    c->summary = su;
    return build_advice(c, p, where, step);
}
