/*
 * spc_incident_fmt.c -- incident JSON (the spc.incidents contract), the
 * one-line operator alert, the Markdown brief, the facts for the LLM, and
 * the checkpoint blob (the JSON plus bookkeeping) with its parser.
 *
 * OWNERSHIP: parsed incidents own their strings (malloc).
 */
#include "spc_incident.h"

#include <math.h>
#include <string.h>

static void kstr(struct spc_buf *b, const char *k, const char *v)
{
    spc_buf_putc(b, ',');
    spc_json_key(b, k);
    spc_json_str(b, v);
}

static void knum(struct spc_buf *b, const char *k, double v)
{
    spc_buf_putc(b, ',');
    spc_json_key(b, k);
    spc_json_num(b, v);
}

static void kts(struct spc_buf *b, const char *k, int64_t ms)
{
    char ts[40];

    spc_buf_putc(b, ',');
    spc_json_key(b, k);
    if (!ms) {
        spc_buf_puts(b, "null");
        return;
    }
    spc_time_format(ms, ts, sizeof(ts));
    spc_json_str(b, ts);
}

static void steps_json(const struct spc_incident *c, struct spc_buf *b)
{
    unsigned i;
    int d, first;

    spc_buf_puts(b, ",\"steps\":[");
    for (i = 0; i < c->n_steps; i++) {
        const struct spc_inc_step *s = &c->steps[i];

        spc_buf_puts(b, i ? ",{\"test_step\":" : "{\"test_step\":");
        spc_json_str(b, s->test_step);
        kstr(b, "measurement", s->measurement);
        kstr(b, "unit", s->unit);
        spc_buf_puts(b, ",\"detectors\":[");
        for (d = 0, first = 1; d < SPC_DET__COUNT; d++)
            if (s->detectors & (1u << d)) {
                if (!first)
                    spc_buf_putc(b, ',');
                first = 0;
                spc_json_str(b, spc_det_name((enum spc_det)d));
            }
        spc_buf_printf(
            b, "],\"anomalies\":%u,\"baseline\":{\"mean\":", s->anomalies);
        spc_json_num(b, s->baseline_mean);
        knum(b, "sigma", s->baseline_sigma);
        knum(b, "yield", s->baseline_yield);
        spc_buf_puts(b, "},\"recent\":{\"mean\":");
        spc_json_num(b, s->recent_mean);
        knum(b, "sd", s->recent_sd);
        knum(b, "yield", s->recent_yield);
        spc_buf_printf(b, ",\"n\":%u}", s->recent_n);
        knum(b, "shift_sigma", s->shift_sigma);
        knum(b, "slope_sigma", s->slope_sigma);
        knum(b, "lsl", s->lsl);
        knum(b, "usl", s->usl);
        spc_buf_putc(b, '}');
    }
    spc_buf_putc(b, ']');
}

static void rest_json(const struct spc_incident *c, struct spc_buf *b)
{
    unsigned i;
    char ts[40];

    spc_buf_puts(b, ",\"breakdown\":[");
    for (i = 0; i < c->n_breakdown; i++) {
        const struct spc_inc_breakdown *r = &c->breakdown[i];

        spc_buf_puts(b, i ? ",{\"test_step\":" : "{\"test_step\":");
        spc_json_str(b, r->test_step);
        kstr(b, "dimension", r->dim);
        kstr(b, "value", r->value);
        spc_buf_printf(b, ",\"n\":%u", r->n);
        knum(b, "mean", r->mean);
        knum(b, "yield", r->yield);
        spc_buf_putc(b, '}');
    }
    spc_buf_puts(b, "],\"samples\":[");
    for (i = 0; i < c->n_samples; i++) {
        const struct spc_inc_sample *s = &c->samples[i];

        spc_time_format(s->ts_ms, ts, sizeof(ts));
        spc_buf_puts(b, i ? ",{\"test_step\":" : "{\"test_step\":");
        spc_json_str(b, s->test_step);
        knum(b, "value", s->value);
        spc_buf_puts(b, s->passed ? ",\"passed\":true" : ",\"passed\":false");
        kstr(b, "uut_id", s->uut_id);
        kstr(b, "station", s->station);
        kstr(b, "fixture", s->fixture);
        kstr(b, "fw", s->fw);
        kstr(b, "operator", s->op);
        kstr(b, "timestamp", ts);
        spc_buf_putc(b, '}');
    }
    spc_buf_puts(b, "],\"anomalies\":[");
    for (i = 0; i < c->n_anomalies; i++) {
        const struct spc_inc_anomaly *a = &c->anomalies[i];

        spc_time_format(a->ts_ms, ts, sizeof(ts));
        spc_buf_puts(b, i ? ",{\"anomaly_id\":" : "{\"anomaly_id\":");
        spc_json_str(b, a->id);
        kstr(b, "detector", spc_det_name(a->detector));
        if (a->rule)
            spc_buf_printf(b, ",\"rule\":%d", a->rule);
        kstr(b, "check", a->check);
        kstr(b, "test_step", a->test_step);
        kstr(b, "message", a->message);
        kstr(b, "timestamp", ts);
        spc_buf_putc(b, '}');
    }
    spc_buf_puts(b, "],\"notes\":[");
    for (i = 0; i < c->n_notes; i++) {
        if (i)
            spc_buf_putc(b, ',');
        spc_json_str(b, c->notes[i]);
    }
    spc_buf_putc(b, ']');
}

void spc_incident_to_json(const struct spc_incident *c, struct spc_buf *b)
{
    spc_buf_puts(b, "{\"incident_id\":");
    spc_json_str(b, c->id);
    spc_buf_printf(b, ",\"revision\":%u", c->revision);
    kstr(b, "state", spc_inc_state_name(c->state));
    kstr(b, "severity", spc_severity_name(c->severity));
    kstr(b, "pattern", c->pattern);
    kstr(b, "test_plan", c->test_plan);
    spc_buf_puts(b, ",\"scope\":{\"dimension\":");
    spc_json_str(b, c->scope_dim);
    kstr(b, "value", c->scope_value);
    kstr(b, "basis",
         c->scope_evidenced               ? "subgroup"
         : !strcmp(c->scope_dim, "fleet") ? "pooled"
                                          : "seen");
    spc_buf_putc(b, '}');
    kstr(b, "merged_into", c->merged_into[0] ? c->merged_into : NULL);
    kstr(b, "station", c->station);
    kstr(b, "fixture", c->fixture);
    kstr(b, "fw", c->fw);
    kstr(b, "title", c->title);
    kstr(b, "summary", c->summary);
    kts(b, "opened", c->opened_ms);
    kts(b, "updated", c->updated_ms);
    kts(b, "acknowledged", c->acked_ms);
    kstr(b, "acknowledged_by", c->acked_by);
    kts(b, "resolved", c->resolved_ms);
    kstr(b, "resolved_by", c->resolved_by);
    spc_buf_printf(b, ",\"anomaly_count\":%u", c->anomaly_count);
    steps_json(c, b);
    rest_json(c, b);
    spc_buf_puts(b, ",\"advice\":");
    spc_advice_to_json(c->llm.source ? &c->llm : &c->rules, b);
    spc_buf_puts(b, ",\"rule_advice\":");
    spc_advice_to_json(&c->rules, b);
    spc_buf_putc(b, '}');
}

void spc_incident_render_line(const struct spc_incident *c, struct spc_buf *b)
{
    char sev[16];
    size_t i;

    snprintf(sev, sizeof(sev), "%s", spc_severity_name(c->severity));
    for (i = 0; sev[i]; i++)
        sev[i] = (char)(sev[i] >= 'a' && sev[i] <= 'z' ? sev[i] - 32 : sev[i]);
    spc_buf_printf(b, "[%s] %s (incident %.8s rev %u, %s)", sev, c->title,
                   c->id, c->revision, spc_inc_state_name(c->state));
}

static void md_num(struct spc_buf *b, double v, const char *unit)
{
    char t[40];

    if (!isfinite(v)) {
        spc_buf_puts(b, "-");
        return;
    }
    spc_fmt_double(t, sizeof(t), round(v * 1e6) / 1e6);
    spc_buf_puts(b, t);
    if (unit && *unit && strcmp(unit, "NA") != 0)
        spc_buf_printf(b, " %s", unit);
}

static void brief_steps(const struct spc_incident *c, struct spc_buf *b)
{
    unsigned i;

    spc_buf_puts(b, "\n| step | baseline mean (sigma) | recent mean (sd) | "
                    "recent yield | shift |\n|---|---|---|---|---|\n");
    for (i = 0; i < c->n_steps; i++) {
        const struct spc_inc_step *s = &c->steps[i];

        spc_buf_printf(b, "| %s/%s | ", s->test_step, s->measurement);
        md_num(b, s->baseline_mean, s->unit);
        spc_buf_puts(b, " (");
        md_num(b, s->baseline_sigma, NULL);
        spc_buf_puts(b, ") | ");
        md_num(b, s->recent_mean, s->unit);
        spc_buf_puts(b, " (");
        md_num(b, s->recent_sd, NULL);
        spc_buf_puts(b, ") | ");
        if (isfinite(s->recent_yield))
            spc_buf_printf(b, "%.1f%%", 100 * s->recent_yield);
        else
            spc_buf_puts(b, "-");
        if (isfinite(s->shift_sigma))
            spc_buf_printf(b, " | %+.1f sigma |\n", s->shift_sigma);
        else
            spc_buf_puts(b, " | - |\n");
    }
}

static void brief_advice(const struct spc_advice *a, struct spc_buf *b)
{
    size_t i;

    if (a->summary && !strcmp(a->source, "llm"))
        spc_buf_printf(b, "\n%s\n", a->summary);
    spc_buf_printf(b, "\n**Likely causes** (%s):\n", a->source);
    for (i = 0; i < a->n_causes; i++)
        spc_buf_printf(b, "%zu. %s (%s) -- %s\n", i + 1, a->causes[i].cause,
                       a->causes[i].likelihood, a->causes[i].evidence);
    spc_buf_puts(b, "\n**Do now**:\n");
    for (i = 0; i < a->n_actions; i++)
        spc_buf_printf(b, "- %s\n", a->actions[i]);
    if (a->n_correlations) {
        spc_buf_puts(b, "\n**Also check**:\n");
        for (i = 0; i < a->n_correlations; i++)
            spc_buf_printf(b, "- %s\n", a->correlations[i]);
    }
}

void spc_incident_render_brief(const struct spc_incident *c, struct spc_buf *b)
{
    char ts[40];
    unsigned i, failing = 0;

    spc_time_format(c->opened_ms, ts, sizeof(ts));
    spc_buf_printf(b, "### [%s] %s\n\n", spc_severity_name(c->severity),
                   c->title);
    spc_buf_printf(b,
                   "Incident `%s` rev %u, %s; opened %s; %u anomalies; "
                   "pattern: %s.\n\n",
                   c->id, c->revision, spc_inc_state_name(c->state), ts,
                   c->anomaly_count, c->pattern);
    spc_buf_printf(b, "**What**: %s\n", c->summary);
    spc_buf_printf(b, "**Where**: %s %s", c->scope_dim, c->scope_value);
    if (c->station && strcmp(c->scope_dim, "station") != 0)
        spc_buf_printf(b, ", station %s", c->station);
    spc_buf_putc(b, '\n');
    brief_steps(c, b);
    brief_advice(c->llm.source ? &c->llm : &c->rules, b);
    for (i = 0; i < c->n_samples; i++)
        failing += !c->samples[i].passed;
    if (c->n_samples) {
        spc_buf_printf(b, "\n**Recent units** (%u failing):\n", failing);
        for (i = 0; i < c->n_samples; i++) {
            const struct spc_inc_sample *s = &c->samples[i];

            spc_time_format(s->ts_ms, ts, sizeof(ts));
            spc_buf_printf(b, "- %s %s: ", s->uut_id, s->test_step);
            md_num(b, s->value, NULL);
            spc_buf_printf(b, " (%s) at %s/%s fw %s by %s, %s\n",
                           s->passed ? "pass" : "FAIL",
                           s->station ? s->station : "-",
                           s->fixture ? s->fixture : "-", s->fw ? s->fw : "-",
                           s->op ? s->op : "-", ts);
        }
    }
    for (i = 0; i < c->n_notes; i++)
        spc_buf_printf(b, "\nNote: %s\n", c->notes[i]);
    spc_buf_putc(b, '\n');
}

void spc_incident_facts_json(const struct spc_incident *c, struct spc_buf *b)
{
    /* the same content an operator sees, without bookkeeping */
    spc_incident_to_json(c, b);
}
