/*
 * spc_anomaly.c -- anomaly ids, severity and the JSON codec.
 *
 * DATA FLOW: detector -> struct spc_anomaly -> JSON line / Avro record
 * The id hashes a canonical byte string of the identifying fields with two
 *   independently seeded 64-bit hashes; no clock, counter or random input,
 *   so a replay from a checkpoint reproduces it exactly.
 */
#include "spc_anomaly.h"

#include <math.h>
#include <string.h>

static const char *const sev_names[] = {"info", "warning", "critical"};
static const char *const dir_names[] = {"none", "up", "down", "both"};

const char *spc_severity_name(enum spc_severity s)
{
    return (unsigned)s < 3 ? sev_names[s] : "info";
}

int spc_severity_find(const char *s)
{
    int i;

    for (i = 0; s && i < 3; i++)
        if (strcmp(s, sev_names[i]) == 0)
            return i;
    return -1;
}

const char *spc_direction_name(enum spc_direction d)
{
    return (unsigned)d < 4 ? dir_names[d] : "none";
}

void spc_anomaly_evidence(struct spc_anomaly *a, const char *name, double v)
{
    if (a->n_ev >= SPC_EVIDENCE_MAX || !isfinite(v))
        return;
    snprintf(a->ev[a->n_ev].name, sizeof(a->ev[a->n_ev].name), "%s", name);
    a->ev[a->n_ev].value = v;
    a->n_ev++;
}

static void put_field(struct spc_buf *b, const char *s)
{
    spc_buf_puts(b, s ? s : "");
    spc_buf_putc(b, '\x1f'); /* unit separator: cannot collide */
}

void spc_anomaly_make_id(struct spc_anomaly *a)
{
    static const char hex[] = "0123456789abcdef";
    struct spc_buf b;
    uint64_t h1, h2;
    int i;

    spc_buf_init(&b);
    put_field(&b, spc_det_name(a->detector));
    spc_buf_printf(&b, "%d\x1f%llu\x1f", a->rule, (unsigned long long)a->seq);
    put_field(&b, a->check);
    put_field(&b, a->test_plan);
    put_field(&b, a->test_step);
    put_field(&b, a->measurement);
    put_field(&b, a->sg_dim);
    put_field(&b, a->sg_value);
    h1 = spc_hash64(b.data, b.len, 0x7370637374726561ULL); /* "spcstrea" */
    h2 = spc_hash64(b.data, b.len, 0x616e6f6d616c7921ULL); /* "anomaly!" */
    spc_buf_fini(&b);
    for (i = 0; i < 16; i++) {
        a->id[i] = hex[(h1 >> (60 - 4 * i)) & 15];
        a->id[16 + i] = hex[(h2 >> (60 - 4 * i)) & 15];
    }
    a->id[32] = '\0';
}

enum spc_severity spc_severity_of(double score, double threshold, double value,
                                  const struct spc_spec *spec)
{
    double ratio = threshold > 0 ? fabs(score) / threshold : 1.0;

    if (spec && isfinite(value)) {
        double range =
            spec->has_lsl && spec->has_usl ? spec->usl - spec->lsl : 0.0;

        if ((spec->has_lsl && value < spec->lsl) ||
            (spec->has_usl && value > spec->usl))
            return SPC_SEV_CRITICAL;
        if (range > 0 && ((value - spec->lsl) < 0.1 * range ||
                          (spec->usl - value) < 0.1 * range))
            return ratio >= 2.0 ? SPC_SEV_CRITICAL : SPC_SEV_WARNING;
    }
    if (ratio >= 2.0)
        return SPC_SEV_CRITICAL;
    if (ratio >= 1.25)
        return SPC_SEV_WARNING;
    return SPC_SEV_INFO;
}

static void key_str(struct spc_buf *b, const char *key, const char *v)
{
    spc_buf_putc(b, ',');
    spc_json_key(b, key);
    spc_json_str(b, v);
}

static void key_num(struct spc_buf *b, const char *key, double v)
{
    spc_buf_putc(b, ',');
    spc_json_key(b, key);
    spc_json_num(b, v);
}

static void context_to_json(const struct spc_anomaly_ctx *x, struct spc_buf *b)
{
    unsigned i;

    if (!x->window_n) {
        spc_buf_puts(b, ",\"context\":null");
        return;
    }
    spc_buf_printf(b, ",\"context\":{\"window_n\":%u", x->window_n);
    key_num(b, "recent_mean", x->recent_mean);
    key_num(b, "recent_sd", x->recent_sd);
    key_num(b, "recent_yield", x->recent_yield);
    key_num(b, "baseline_mean", x->baseline_mean);
    key_num(b, "baseline_sigma", x->baseline_sigma);
    key_num(b, "baseline_yield", x->baseline_yield);
    spc_buf_puts(b, ",\"breakdown\":[");
    for (i = 0; i < x->n_br; i++) {
        const struct spc_breakdown *r = &x->br[i];

        spc_buf_puts(b, i ? ",{\"dimension\":" : "{\"dimension\":");
        spc_json_str(b, r->dim);
        key_str(b, "value", r->value);
        spc_buf_printf(b, ",\"n\":%u", r->n);
        key_num(b, "mean", r->mean);
        key_num(b, "yield", r->yield);
        spc_buf_putc(b, '}');
    }
    spc_buf_puts(b, "]}");
}

void spc_anomaly_to_json(const struct spc_anomaly *a, struct spc_buf *b)
{
    char ts[40];
    unsigned i, first = 1;

    spc_time_format(a->ts_ms, ts, sizeof(ts));
    spc_buf_puts(b, "{\"anomaly_id\":");
    spc_json_str(b, a->id);
    key_str(b, "detector", spc_det_name(a->detector));
    spc_buf_puts(b, ",\"rule\":");
    if (a->rule)
        spc_json_int(b, a->rule);
    else
        spc_buf_puts(b, "null");
    key_str(b, "check", a->check);
    key_str(b, "severity", spc_severity_name(a->severity));
    key_str(b, "test_plan", a->test_plan);
    key_str(b, "test_step", a->test_step);
    key_str(b, "measurement", a->measurement);
    key_str(b, "uut_id", a->uut_id);
    key_str(b, "report_id", a->report_id);
    key_str(b, "timestamp", ts);
    key_num(b, "value", a->value);
    key_str(b, "unit", a->unit);
    key_num(b, "score", a->score);
    key_num(b, "threshold", a->threshold);
    key_str(b, "direction", spc_direction_name(a->direction));
    spc_buf_printf(b,
                   ",\"seq\":%llu,\"subgroup\":", (unsigned long long)a->seq);
    if (a->sg_dim) {
        spc_buf_puts(b, "{\"dimension\":");
        spc_json_str(b, a->sg_dim);
        key_str(b, "value", a->sg_value);
        spc_buf_putc(b, '}');
    } else {
        spc_buf_puts(b, "null");
    }
    spc_buf_puts(b, ",\"meta\":{");
    for (i = 0; a->dims && i < a->dims->n; i++) {
        if (!a->meta[i])
            continue;
        if (!first)
            spc_buf_putc(b, ',');
        first = 0;
        spc_json_key(b, a->dims->names[i]);
        spc_json_str(b, a->meta[i]);
    }
    spc_buf_puts(b, "}");
    spc_buf_puts(b, a->passed ? ",\"passed\":true" : ",\"passed\":false");
    key_str(b, "message", a->message);
    spc_buf_puts(b, ",\"evidence\":{");
    for (i = 0; i < a->n_ev; i++) {
        if (i)
            spc_buf_putc(b, ',');
        spc_json_key(b, a->ev[i].name);
        spc_json_num(b, a->ev[i].value);
    }
    spc_buf_puts(b, "}");
    context_to_json(&a->ctx, b);
    spc_buf_putc(b, '}');
}

static const char *jstr(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static double jnum(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);

    return json_is_number(v) ? json_number_value(v) : NAN;
}

static void context_from_json(const json_t *o, struct spc_anomaly_ctx *x)
{
    const json_t *arr, *e;
    size_t i;

    memset(x, 0, sizeof(*x));
    if (!json_is_object(o))
        return;
    x->window_n = (uint32_t)json_integer_value(json_object_get(o, "window_n"));
    x->recent_mean = jnum(o, "recent_mean");
    x->recent_sd = jnum(o, "recent_sd");
    x->recent_yield = jnum(o, "recent_yield");
    x->baseline_mean = jnum(o, "baseline_mean");
    x->baseline_sigma = jnum(o, "baseline_sigma");
    x->baseline_yield = jnum(o, "baseline_yield");
    arr = json_object_get(o, "breakdown");
    json_array_foreach(arr, i, e)
    {
        struct spc_breakdown *r;

        if (x->n_br == SPC_BREAKDOWN_MAX || !jstr(e, "dimension") ||
            !jstr(e, "value"))
            continue;
        r = &x->br[x->n_br++];
        r->dim = jstr(e, "dimension");
        r->value = jstr(e, "value");
        r->n = (uint32_t)json_integer_value(json_object_get(e, "n"));
        r->mean = jnum(e, "mean");
        r->yield = jnum(e, "yield");
    }
}

spc_err_t spc_anomaly_from_json(const json_t *obj, const struct spc_dims *dims,
                                struct spc_anomaly *a, char *errstr,
                                size_t errstr_size)
{
    const char *det, *ts, *key, *id, *msg, *dir, *sev;
    const json_t *sg, *meta, *evd, *v;
    int d, i;

    memset(a, 0, sizeof(*a));
    if (!json_is_object(obj)) {
        spc_errstr_set(errstr, errstr_size, "expected a JSON object");
        return SPC_ERR_INVALID;
    }
    id = jstr(obj, "anomaly_id");
    det = jstr(obj, "detector");
    ts = jstr(obj, "timestamp");
    d = det ? spc_det_find(det) : -1;
    if (!id || strlen(id) != 32 || d < 0 || !jstr(obj, "test_plan") ||
        !jstr(obj, "test_step") || !jstr(obj, "measurement") || !ts ||
        spc_time_parse(ts, &a->ts_ms) != SPC_OK) {
        spc_errstr_set(errstr, errstr_size,
                       "not an anomaly (anomaly_id, detector, test_plan, "
                       "test_step, measurement, timestamp required)");
        return SPC_ERR_INVALID;
    }
    memcpy(a->id, id, 33);
    a->detector = (enum spc_det)d;
    a->rule = (int)json_integer_value(json_object_get(obj, "rule"));
    a->check = jstr(obj, "check");
    sev = jstr(obj, "severity");
    a->severity = spc_severity_find(sev) < 0
                      ? SPC_SEV_INFO
                      : (enum spc_severity)spc_severity_find(sev);
    a->test_plan = jstr(obj, "test_plan");
    a->test_step = jstr(obj, "test_step");
    a->measurement = jstr(obj, "measurement");
    a->uut_id = jstr(obj, "uut_id");
    a->report_id = jstr(obj, "report_id");
    a->unit = jstr(obj, "unit");
    a->value = jnum(obj, "value");
    a->score = jnum(obj, "score");
    a->threshold = jnum(obj, "threshold");
    dir = jstr(obj, "direction");
    for (i = 0; dir && i < 4; i++)
        if (strcmp(dir, dir_names[i]) == 0)
            a->direction = (enum spc_direction)i;
    a->seq = (uint64_t)json_integer_value(json_object_get(obj, "seq"));
    sg = json_object_get(obj, "subgroup");
    if (json_is_object(sg)) {
        a->sg_dim = jstr(sg, "dimension");
        a->sg_value = jstr(sg, "value");
    }
    meta = json_object_get(obj, "meta");
    a->dims = dims;
    if (json_is_object(meta) && dims)
        for (i = 0; i < (int)dims->n; i++)
            a->meta[i] = jstr(meta, dims->names[i]);
    a->passed = !json_is_false(json_object_get(obj, "passed"));
    context_from_json(json_object_get(obj, "context"), &a->ctx);
    msg = jstr(obj, "message");
    snprintf(a->message, sizeof(a->message), "%s", msg ? msg : "");
    evd = json_object_get(obj, "evidence");
    if (json_is_object(evd))
        json_object_foreach((json_t *)evd, key, v)
        {
            if (json_is_number(v))
                spc_anomaly_evidence(a, key, json_number_value(v));
        }
    return SPC_OK;
}
