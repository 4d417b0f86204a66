/*
 * spc_event.c -- metadata dimensions, comparison operators, spec limits,
 * RFC 3339 time and the flat event JSON codec.
 *
 * DATA FLOW: json_t (events line) -> struct spc_event -> engine
 *            struct spc_event -> flat event JSON (normalize output)
 * OWNERSHIP: parsed events borrow strings from the json_t they came from.
 * FAILURE MODES: a bad field returns SPC_ERR_INVALID naming the field.
 * REFERENCES: RFC 3339 (timestamps); the civil-date arithmetic is the
 *   proleptic Gregorian day count (era of 400 years = 146097 days).
 */
#include "spc_event.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <string.h>

static const char *const builtin_dims[SPC_DIM__BUILTIN] = {
    "station", "fixture", "operator",   "socket",
    "hw_rev",  "sw_file", "sw_version", "fw",
};

spc_err_t spc_dims_init(struct spc_dims *d)
{
    unsigned i;

    memset(d, 0, sizeof(*d));
    for (i = 0; i < SPC_DIM__BUILTIN; i++) {
        d->names[i] = spc_strdup(builtin_dims[i]);
        if (!d->names[i]) {
            spc_dims_fini(d);
            return SPC_ERR_NOMEM;
        }
        d->n++;
    }
    return SPC_OK;
}

void spc_dims_fini(struct spc_dims *d)
{
    unsigned i;

    for (i = 0; i < d->n; i++)
        free(d->names[i]);
    memset(d, 0, sizeof(*d));
}

int spc_dims_find(const struct spc_dims *d, const char *name)
{
    unsigned i;

    for (i = 0; i < d->n; i++)
        if (strcmp(d->names[i], name) == 0)
            return (int)i;
    return -1;
}

int spc_dims_add(struct spc_dims *d, const char *name)
{
    int i = spc_dims_find(d, name);

    if (i >= 0)
        return i;
    if (d->n >= SPC_META_MAX)
        return -1;
    d->names[d->n] = spc_strdup(name);
    if (!d->names[d->n])
        return -1;
    return (int)d->n++;
}

/* Hot path (once per event): dispatch on length and letters instead of a
 * table of strcmp calls. */
static enum spc_compop compop2(const char *s)
{
    if (s[0] == 'E' && s[1] == 'Q')
        return SPC_COMPOP_EQ;
    if (s[0] == 'N' && s[1] == 'E')
        return SPC_COMPOP_NE;
    if (s[1] != 'T' && s[1] != 'E')
        return SPC_COMPOP_OTHER;
    if (s[0] == 'G')
        return s[1] == 'T' ? SPC_COMPOP_GT : SPC_COMPOP_GE;
    if (s[0] == 'L')
        return s[1] == 'T' ? SPC_COMPOP_LT : SPC_COMPOP_LE;
    return SPC_COMPOP_OTHER;
}

enum spc_compop spc_compop_parse(const char *s)
{
    static const enum spc_compop four[2][2][2][2] = {
        /* [G/L][T/E][G/L][T/E] */
        {{{SPC_COMPOP_OTHER, SPC_COMPOP_OTHER},
          {SPC_COMPOP_GTLT, SPC_COMPOP_GTLE}},
         {{SPC_COMPOP_OTHER, SPC_COMPOP_OTHER},
          {SPC_COMPOP_GELT, SPC_COMPOP_GELE}}},
        {{{SPC_COMPOP_LTGT, SPC_COMPOP_LTGE},
          {SPC_COMPOP_OTHER, SPC_COMPOP_OTHER}},
         {{SPC_COMPOP_LEGT, SPC_COMPOP_LEGE},
          {SPC_COMPOP_OTHER, SPC_COMPOP_OTHER}}},
    };
    size_t n;
    int a, b, c, d;

    if (!s)
        return SPC_COMPOP_NONE;
    n = strlen(s);
    if (n == 3)
        return strcmp(s, "LOG") == 0 ? SPC_COMPOP_LOG : SPC_COMPOP_OTHER;
    if (n == 2)
        return compop2(s);
    if (n != 4)
        return SPC_COMPOP_OTHER;
    a = s[0] == 'G' ? 0 : s[0] == 'L' ? 1 : -1;
    b = s[1] == 'T' ? 0 : s[1] == 'E' ? 1 : -1;
    c = s[2] == 'G' ? 0 : s[2] == 'L' ? 1 : -1;
    d = s[3] == 'T' ? 0 : s[3] == 'E' ? 1 : -1;
    if (a < 0 || b < 0 || c < 0 || d < 0 || a == c)
        return SPC_COMPOP_OTHER;
    return four[a][b][c][d];
}

void spc_spec_from_limits(enum spc_compop op, int has_low, double low,
                          int has_high, double high, struct spc_spec *out)
{
    memset(out, 0, sizeof(*out));
    switch (op) {
    case SPC_COMPOP_GELE:
    case SPC_COMPOP_GELT:
    case SPC_COMPOP_GTLE:
    case SPC_COMPOP_GTLT:
        out->has_lsl = (uint8_t)has_low;
        out->lsl = low;
        out->has_usl = (uint8_t)has_high;
        out->usl = high;
        break;
    case SPC_COMPOP_GE:
    case SPC_COMPOP_GT:
        out->has_lsl = (uint8_t)has_low;
        out->lsl = low;
        break;
    case SPC_COMPOP_LE:
    case SPC_COMPOP_LT:
        /* WATS keeps the single upper limit in lowLimit. */
        out->has_usl = (uint8_t)has_low;
        out->usl = low;
        break;
    case SPC_COMPOP_EQ:
        out->has_target = (uint8_t)has_low;
        out->target = low;
        break;
    default:
        break;
    }
    if (out->has_lsl && out->has_usl && out->lsl > out->usl) {
        /* Inconsistent limits: treat as no spec rather than guess. */
        out->has_lsl = out->has_usl = 0;
    }
}

void spc_event_spec(const struct spc_event *ev, struct spc_spec *out)
{
    spc_spec_from_limits(spc_compop_parse(ev->comp_op), ev->has_low,
                         ev->low_limit, ev->has_high, ev->high_limit, out);
}

/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    int64_t era;
    unsigned yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = (unsigned)(y - era * 400);
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *m, unsigned *d)
{
    int64_t era;
    unsigned doe, yoe, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = (unsigned)(z - era * 146097);
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = doy - (153 * mp + 2) / 5 + 1;
    *m = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*m <= 2);
}

static int digits(const char *s, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return 0;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 1;
}

static int days_in_month(int y, int m)
{
    static const int dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

    return m == 2 && leap ? 29 : dm[m - 1];
}

spc_err_t spc_time_parse(const char *s, int64_t *ms_out)
{
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 1;
    int64_t ms = 0, scale = 100, t;
    const char *p;

    if (!s || strlen(s) < 20)
        return SPC_ERR_INVALID;
    if (!digits(s, 4, &y) || s[4] != '-' || !digits(s + 5, 2, &mo) ||
        s[7] != '-' || !digits(s + 8, 2, &d) ||
        (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
        !digits(s + 11, 2, &h) || s[13] != ':' || !digits(s + 14, 2, &mi) ||
        s[16] != ':' || !digits(s + 17, 2, &sec))
        return SPC_ERR_INVALID;
    if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) || h > 23 ||
        mi > 59 || sec > 60)
        return SPC_ERR_INVALID;
    p = s + 19;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return SPC_ERR_INVALID;
        for (; isdigit((unsigned char)*p); p++) {
            ms += (*p - '0') * scale;
            scale /= 10;
        }
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p == '-' ? -1 : 1;
        if (!digits(p + 1, 2, &oh) || p[3] != ':' || !digits(p + 4, 2, &om) ||
            oh > 23 || om > 59)
            return SPC_ERR_INVALID;
        p += 6;
    } else {
        return SPC_ERR_INVALID; /* no offset: ambiguous local time */
    }
    if (*p)
        return SPC_ERR_INVALID;
    if (sec == 60)
        sec = 59; /* leap second: clamp */
    t = days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 +
        mi * 60 + sec - sign * (oh * 3600 + om * 60);
    *ms_out = t * 1000 + ms;
    return SPC_OK;
}

void spc_time_format(int64_t ms, char *out, size_t size)
{
    int64_t secs = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    int64_t rem_ms = ms - secs * 1000, days, y;
    int64_t sod;
    unsigned m, d;

    days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
    sod = secs - days * 86400;
    civil_from_days(days, &y, &m, &d);
    snprintf(out, size, "%04lld-%02u-%02uT%02d:%02d:%02d.%03dZ", (long long)y,
             m, d, (int)(sod / 3600), (int)(sod / 60 % 60), (int)(sod % 60),
             (int)rem_ms);
}

int spc_json_measure_value(const json_t *v, double *out)
{
    const char *s;
    char *end;
    double d;

    if (!v || json_is_null(v))
        return 0;
    if (json_is_number(v)) {
        d = json_number_value(v);
        if (!isfinite(d))
            return 0;
        *out = d;
        return 1;
    }
    if (!json_is_string(v))
        return -1;
    s = json_string_value(v);
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return 0;
    errno = 0;
    d = strtod(s, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (*end || errno == ERANGE || !isfinite(d))
        return 0; /* "NaN", "Infinity", "abc": not a number */
    *out = d;
    return 1;
}

static spc_err_t get_str(const json_t *obj, const char *key, int required,
                         const char **out, char *errstr, size_t errstr_size)
{
    const json_t *v = json_object_get(obj, key);

    if (!v || json_is_null(v)) {
        if (required) {
            spc_errstr_set(errstr, errstr_size, "%s: missing", key);
            return SPC_ERR_INVALID;
        }
        *out = NULL;
        return SPC_OK;
    }
    if (!json_is_string(v)) {
        spc_errstr_set(errstr, errstr_size, "%s: expected a string", key);
        return SPC_ERR_INVALID;
    }
    *out = json_string_value(v);
    if (required && !**out) {
        spc_errstr_set(errstr, errstr_size, "%s: empty", key);
        return SPC_ERR_INVALID;
    }
    return SPC_OK;
}

static spc_err_t get_limit(const json_t *obj, const char *key, double *out,
                           uint8_t *has, char *errstr, size_t errstr_size)
{
    int r = spc_json_measure_value(json_object_get(obj, key), out);

    if (r < 0) {
        spc_errstr_set(errstr, errstr_size, "%s: expected a number", key);
        return SPC_ERR_INVALID;
    }
    *has = r == 1;
    return SPC_OK;
}

static spc_err_t parse_meta(const json_t *meta, const struct spc_dims *dims,
                            struct spc_event *ev, char *errstr,
                            size_t errstr_size)
{
    const char *key;
    json_t *v;
    int i;

    if (!meta || json_is_null(meta))
        return SPC_OK;
    if (!json_is_object(meta)) {
        spc_errstr_set(errstr, errstr_size, "meta: expected an object");
        return SPC_ERR_INVALID;
    }
    json_object_foreach((json_t *)meta, key, v)
    {
        i = spc_dims_find(dims, key);
        if (i < 0 || json_is_null(v))
            continue;
        if (!json_is_string(v)) {
            spc_errstr_set(errstr, errstr_size, "meta.%s: expected a string",
                           key);
            return SPC_ERR_INVALID;
        }
        ev->meta[i] = json_string_value(v);
    }
    return SPC_OK;
}

static spc_err_t parse_kind(const json_t *obj, struct spc_event *ev,
                            char *errstr, size_t errstr_size)
{
    const json_t *k = json_object_get(obj, "kind");
    const char *s;

    ev->kind = strcmp(ev->test_step, SPC_UUT_STEP) == 0 ? SPC_KIND_ATTRIBUTE
                                                        : SPC_KIND_NUMERIC;
    if (!k || json_is_null(k))
        return SPC_OK;
    s = json_string_value(k);
    if (s && strcmp(s, "numeric") == 0)
        ev->kind = SPC_KIND_NUMERIC;
    else if (s && strcmp(s, "attribute") == 0)
        ev->kind = SPC_KIND_ATTRIBUTE;
    else {
        spc_errstr_set(errstr, errstr_size,
                       "kind: expected \"numeric\" or \"attribute\"");
        return SPC_ERR_INVALID;
    }
    return SPC_OK;
}

static spc_err_t parse_pass_status(const json_t *obj, struct spc_event *ev,
                                   char *errstr, size_t errstr_size)
{
    const json_t *p = json_object_get(obj, "passed");
    const json_t *st = json_object_get(obj, "status");

    if (st && !json_is_null(st)) {
        const char *s = json_string_value(st);

        if (!s || strlen(s) != 1 || !strchr("PFSDET", s[0])) {
            spc_errstr_set(errstr, errstr_size,
                           "status: expected one of P F S D E T");
            return SPC_ERR_INVALID;
        }
        ev->status = s[0];
    }
    if (p && !json_is_null(p)) {
        if (!json_is_boolean(p)) {
            spc_errstr_set(errstr, errstr_size, "passed: expected a boolean");
            return SPC_ERR_INVALID;
        }
        ev->passed = json_is_true(p);
    } else {
        ev->passed = ev->status ? (ev->status == 'P' || ev->status == 'D') : 1;
    }
    return SPC_OK;
}

spc_err_t spc_event_from_json(const json_t *obj, const struct spc_dims *dims,
                              struct spc_event *ev, char *errstr,
                              size_t errstr_size)
{
    const char *ts = NULL;
    spc_err_t err;
    int r;

    memset(ev, 0, sizeof(*ev));
    ev->value = NAN;
    if (!json_is_object(obj)) {
        spc_errstr_set(errstr, errstr_size, "expected a JSON object");
        return SPC_ERR_INVALID;
    }
    if ((err = get_str(obj, "uut_id", 1, &ev->uut_id, errstr, errstr_size)) ||
        (err = get_str(obj, "report_id", 1, &ev->report_id, errstr,
                       errstr_size)) ||
        (err = get_str(obj, "test_plan", 1, &ev->test_plan, errstr,
                       errstr_size)) ||
        (err = get_str(obj, "test_step", 1, &ev->test_step, errstr,
                       errstr_size)) ||
        (err = get_str(obj, "measurement", 1, &ev->measurement, errstr,
                       errstr_size)) ||
        (err = get_str(obj, "timestamp", 1, &ts, errstr, errstr_size)) ||
        (err = get_str(obj, "unit", 0, &ev->unit, errstr, errstr_size)) ||
        (err = get_str(obj, "comp_op", 0, &ev->comp_op, errstr, errstr_size)) ||
        (err = get_limit(obj, "low_limit", &ev->low_limit, &ev->has_low, errstr,
                         errstr_size)) ||
        (err = get_limit(obj, "high_limit", &ev->high_limit, &ev->has_high,
                         errstr, errstr_size)) ||
        (err = parse_kind(obj, ev, errstr, errstr_size)) ||
        (err = parse_pass_status(obj, ev, errstr, errstr_size)) ||
        (err = parse_meta(json_object_get(obj, "meta"), dims, ev, errstr,
                          errstr_size)))
        return err;
    if (spc_time_parse(ts, &ev->ts_ms) != SPC_OK) {
        spc_errstr_set(errstr, errstr_size,
                       "timestamp: not an RFC 3339 time with offset: \"%.40s\"",
                       ts);
        return SPC_ERR_INVALID;
    }
    r = spc_json_measure_value(json_object_get(obj, "value"), &ev->value);
    if (r < 0) {
        spc_errstr_set(errstr, errstr_size,
                       "value: expected a number, a string or null");
        return SPC_ERR_INVALID;
    }
    ev->value_valid = r == 1 && ev->kind == SPC_KIND_NUMERIC;
    if (!ev->value_valid)
        ev->value = NAN;
    return SPC_OK;
}

static void put_opt_str(struct spc_buf *b, const char *key, const char *v)
{
    if (!v)
        return;
    spc_buf_putc(b, ',');
    spc_json_key(b, key);
    spc_json_str(b, v);
}

void spc_event_to_json(const struct spc_event *ev, const struct spc_dims *dims,
                       struct spc_buf *b)
{
    char ts[40];
    unsigned i, first = 1;

    spc_time_format(ev->ts_ms, ts, sizeof(ts));
    spc_buf_putc(b, '{');
    spc_json_key(b, "uut_id");
    spc_json_str(b, ev->uut_id);
    put_opt_str(b, "report_id", ev->report_id);
    put_opt_str(b, "test_plan", ev->test_plan);
    put_opt_str(b, "test_step", ev->test_step);
    put_opt_str(b, "measurement", ev->measurement);
    spc_buf_puts(b, ",\"kind\":");
    spc_json_str(b, ev->kind == SPC_KIND_ATTRIBUTE ? "attribute" : "numeric");
    spc_buf_puts(b, ",\"value\":");
    spc_json_num(b, ev->value_valid ? ev->value : NAN);
    spc_buf_puts(b, ev->passed ? ",\"passed\":true" : ",\"passed\":false");
    if (ev->status) {
        char st[2] = {ev->status, 0};

        put_opt_str(b, "status", st);
    }
    put_opt_str(b, "timestamp", ts);
    put_opt_str(b, "unit", ev->unit);
    put_opt_str(b, "comp_op", ev->comp_op);
    if (ev->has_low) {
        spc_buf_puts(b, ",\"low_limit\":");
        spc_json_num(b, ev->low_limit);
    }
    if (ev->has_high) {
        spc_buf_puts(b, ",\"high_limit\":");
        spc_json_num(b, ev->high_limit);
    }
    spc_buf_puts(b, ",\"meta\":{");
    for (i = 0; i < dims->n; i++) {
        if (!ev->meta[i])
            continue;
        if (!first)
            spc_buf_putc(b, ',');
        first = 0;
        spc_json_key(b, dims->names[i]);
        spc_json_str(b, ev->meta[i]);
    }
    spc_buf_puts(b, "}}");
}
