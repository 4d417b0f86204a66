/*
 * spc_wsjf.c -- WSJF report flattening (DESIGN section 5).
 *
 * DATA FLOW: parsed report (spc_json) -> header meta (station, fixture, operator,
 *   socket, hw_rev, sw file/version, miscInfos dims) -> walk root.steps and
 *   subUnits[].root.steps -> one spc_event per numericMeas / booleanMeas
 *   element -> <UUT>/result event last.
 * OWNERSHIP: see spc_wsjf.h; paths, test plans and synthesized names live in
 *   the batch arena.
 * FAILURE MODES: any structural error (wrong JSON type, missing required
 *   field, nesting deeper than SEQ_DEPTH_MAX) rejects the whole report with
 *   the JSON path, e.g. "root.steps[2].numericMeas[0].value: expected a
 *   number or a string".  Values that are strings but not numbers ("NaN")
 *   are valid WSJF: they become invalid (uncharted) events and are counted.
 * REFERENCES: pyWATS report models (pywats.domains.report.report_models):
 *   UUTReport, SequenceCall, NumericStep/MultiNumericStep (numericMeas),
 *   BooleanStep (booleanMeas), LoopInfo (i/n; index null = loop summary).
 */
#include "spc_wsjf.h"

#include <math.h>
#include <string.h>

#define SEQ_DEPTH_MAX 64
#define FRAMES_MAX (SEQ_DEPTH_MAX * 2 + 8)
#define PATH_MAX_LEN 4096

struct frame {
    const char *field;
    long idx; /* -1: no index */
};

struct walk {
    const struct spc_wsjf_opts *o;
    struct spc_batch *out;
    struct spc_event proto; /* report-level fields of every event */
    char path[PATH_MAX_LEN];
    size_t path_len;
    struct frame frames[FRAMES_MAX];
    int nframes;
    char *errstr;
    size_t errstr_size;
};

void spc_batch_init(struct spc_batch *b)
{
    memset(b, 0, sizeof(*b));
    spc_arena_init(&b->arena, 8192);
    spc_jdoc_init(&b->doc);
}

void spc_batch_fini(struct spc_batch *b)
{
    free(b->ev);
    spc_arena_fini(&b->arena);
    spc_jdoc_fini(&b->doc);
    memset(b, 0, sizeof(*b));
}

void spc_batch_reset(struct spc_batch *b)
{
    b->n = 0;
    b->n_invalid = b->n_loop_summary = b->n_skipped = 0;
    b->repair = 0;
    spc_arena_reset(&b->arena);
}

static void push(struct walk *w, const char *field, long idx)
{
    if (w->nframes < FRAMES_MAX) {
        w->frames[w->nframes].field = field;
        w->frames[w->nframes].idx = idx;
    }
    w->nframes++;
}

static void pop(struct walk *w)
{
    w->nframes--;
}

/* Report an error at the current JSON path (+ optional trailing field). */
static spc_err_t fail(struct walk *w, const char *field, const char *why)
{
    struct spc_buf b;
    int i;

    int n = SPC_MIN(w->nframes, FRAMES_MAX);

    spc_buf_init(&b);
    for (i = 0; i < n; i++) {
        /* a deep path keeps its first 3 and last 5 frames */
        if (n > 10 && i == 3) {
            spc_buf_printf(&b, ".(%d more)", n - 8);
            i = n - 6;
            continue;
        }
        if (b.len)
            spc_buf_putc(&b, '.');
        spc_buf_puts(&b, w->frames[i].field);
        if (w->frames[i].idx >= 0)
            spc_buf_printf(&b, "[%ld]", w->frames[i].idx);
    }
    if (field) {
        if (b.len)
            spc_buf_putc(&b, '.');
        spc_buf_puts(&b, field);
    }
    spc_errstr_set(w->errstr, w->errstr_size, "%s: %s",
                   b.data ? b.data : "(report)", why);
    spc_buf_fini(&b);
    return SPC_ERR_INVALID;
}

/* Optional string member; wrong type is an error. */
static spc_err_t opt_str(struct walk *w, const struct spc_jv *obj,
                         const char *key, const char **out)
{
    const struct spc_jv *v = spc_jobj_get(obj, key);

    *out = NULL;
    if (!v || spc_jis(v, SPC_J_NULL))
        return SPC_OK;
    if (!spc_jis(v, SPC_J_STRING))
        return fail(w, key, "expected a string");
    *out = spc_jstr(v);
    return SPC_OK;
}

static spc_err_t req_str(struct walk *w, const struct spc_jv *obj,
                         const char *key, const char **out)
{
    spc_err_t err = opt_str(w, obj, key, out);

    if (err)
        return err;
    if (!*out || !**out)
        return fail(w, key, *out ? "empty" : "missing");
    return SPC_OK;
}

/* A status letter member; absent gives 0. */
static spc_err_t opt_status(struct walk *w, const struct spc_jv *obj,
                            const char *key, char *out)
{
    const char *s;
    spc_err_t err = opt_str(w, obj, key, &s);

    *out = 0;
    if (err || !s)
        return err;
    if (strlen(s) != 1 || !strchr("PFSDET", s[0]))
        return fail(w, key, "expected a status letter P F S D E T");
    *out = s[0];
    return SPC_OK;
}

static spc_err_t path_push(struct walk *w, const char *name, size_t *saved)
{
    size_t n = strlen(name);

    *saved = w->path_len;
    if (w->path_len + n + 2 > sizeof(w->path))
        return fail(w, "name", "step path longer than 4096 bytes");
    if (w->path_len)
        w->path[w->path_len++] = '/';
    memcpy(w->path + w->path_len, name, n);
    w->path_len += n;
    w->path[w->path_len] = '\0';
    return SPC_OK;
}

static void path_pop(struct walk *w, size_t saved)
{
    w->path_len = saved;
    w->path[saved] = '\0';
}

static struct spc_event *new_event(struct walk *w)
{
    struct spc_batch *b = w->out;

    if (b->n == b->cap) {
        size_t cap = b->cap ? b->cap * 2 : 64;
        struct spc_event *ev = spc_realloc(b->ev, cap * sizeof(*ev));

        if (!ev)
            return NULL;
        b->ev = ev;
        b->cap = cap;
    }
    b->ev[b->n] = w->proto;
    return &b->ev[b->n++];
}

/* Measurement name: its own "name", else the step name (single element),
 * else "<step>#<index>". */
static const char *meas_name(struct walk *w, const struct spc_jv *m,
                             const char *step_name, size_t count, size_t i)
{
    const char *n = spc_jstr(spc_jobj_get(m, "name"));
    char tmp[32];
    size_t sl;
    char *s;

    if (n && *n)
        return n;
    if (count == 1)
        return step_name;
    snprintf(tmp, sizeof(tmp), "#%zu", i);
    sl = strlen(step_name);
    s = spc_arena_alloc(&w->out->arena, sl + strlen(tmp) + 1);
    if (s) {
        memcpy(s, step_name, sl);
        strcpy(s + sl, tmp);
    }
    return s;
}

static int pass_from_status(char st)
{
    return st == 'P' || st == 'D';
}

static spc_err_t emit_numeric(struct walk *w, const struct spc_jv *m,
                              const char *step_name, char step_status,
                              size_t count, size_t i)
{
    struct spc_event *ev;
    const char *name, *unit, *op;
    char st;
    double lo = NAN, hi = NAN, v = NAN;
    int rv, rl, rh;
    spc_err_t err;

    if (!spc_jis(m, SPC_J_OBJECT))
        return fail(w, NULL, "expected an object");
    if ((err = opt_status(w, m, "status", &st)) ||
        (err = opt_str(w, m, "unit", &unit)) ||
        (err = opt_str(w, m, "compOp", &op)))
        return err;
    if (!st)
        st = step_status;
    rv = spc_jmeasure_value(spc_jobj_get(m, "value"), &v);
    rl = spc_jmeasure_value(spc_jobj_get(m, "lowLimit"), &lo);
    rh = spc_jmeasure_value(spc_jobj_get(m, "highLimit"), &hi);
    if (rv < 0)
        return fail(w, "value", "expected a number or a string");
    if (rl < 0)
        return fail(w, "lowLimit", "expected a number or a string");
    if (rh < 0)
        return fail(w, "highLimit", "expected a number or a string");
    if (st == 'S') {
        w->out->n_skipped++;
        return SPC_OK;
    }
    name = meas_name(w, m, step_name, count, i);
    ev = name ? new_event(w) : NULL;
    if (!ev)
        return SPC_ERR_NOMEM;
    ev->test_step = w->path; /* replaced by the arena copy in the caller */
    ev->measurement = name;
    ev->kind = SPC_KIND_NUMERIC;
    ev->value_valid = rv == 1;
    ev->value = rv == 1 ? v : NAN;
    ev->unit = unit;
    ev->comp_op = op;
    ev->has_low = rl == 1;
    ev->low_limit = rl == 1 ? lo : 0;
    ev->has_high = rh == 1;
    ev->high_limit = rh == 1 ? hi : 0;
    ev->status = st;
    if (st) {
        ev->passed = (uint8_t)pass_from_status(st);
    } else {
        struct spc_spec sp;

        spc_event_spec(ev, &sp);
        ev->passed =
            (uint8_t)(!ev->value_valid || ((!sp.has_lsl || v >= sp.lsl) &&
                                           (!sp.has_usl || v <= sp.usl)));
    }
    if (!ev->value_valid)
        w->out->n_invalid++;
    return SPC_OK;
}

static spc_err_t emit_boolean(struct walk *w, const struct spc_jv *m,
                              const char *step_name, char step_status,
                              size_t count, size_t i)
{
    struct spc_event *ev;
    const char *name;
    char st;
    spc_err_t err;

    if (!spc_jis(m, SPC_J_OBJECT))
        return fail(w, NULL, "expected an object");
    if ((err = opt_status(w, m, "status", &st)))
        return err;
    if (!st)
        st = step_status;
    if (st == 'S') {
        w->out->n_skipped++;
        return SPC_OK;
    }
    name = meas_name(w, m, step_name, count, i);
    ev = name ? new_event(w) : NULL;
    if (!ev)
        return SPC_ERR_NOMEM;
    ev->test_step = w->path;
    ev->measurement = name;
    ev->kind = SPC_KIND_ATTRIBUTE;
    ev->value = NAN;
    ev->status = st;
    ev->passed = (uint8_t)(st ? pass_from_status(st) : 1);
    return SPC_OK;
}

typedef spc_err_t (*emit_fn)(struct walk *, const struct spc_jv *, const char *,
                             char, size_t, size_t);

/* Walk a numericMeas / booleanMeas array; then give every new event its
 * own copy of the step path. */
static spc_err_t walk_meas(struct walk *w, const struct spc_jv *step,
                           const char *key, const char *step_name,
                           char step_status, emit_fn emit)
{
    const struct spc_jv *arr = spc_jobj_get(step, key), *m;
    size_t i, n, first = w->out->n;
    const char *path;
    spc_err_t err;

    if (!arr || spc_jis(arr, SPC_J_NULL))
        return SPC_OK;
    if (!spc_jis(arr, SPC_J_ARRAY))
        return fail(w, key, "expected an array");
    n = spc_jsize(arr);
    for (i = 0, m = spc_jfirst(arr); m; i++, m = m->next) {
        push(w, key, (long)i);
        err = emit(w, m, step_name, step_status, n, i);
        pop(w);
        if (err)
            return err;
    }
    if (w->out->n == first)
        return SPC_OK;
    path = spc_arena_strndup(&w->out->arena, w->path, w->path_len);
    if (!path)
        return SPC_ERR_NOMEM;
    for (i = first; i < w->out->n; i++)
        w->out->ev[i].test_step = path;
    return SPC_OK;
}

static spc_err_t walk_steps(struct walk *w, const struct spc_jv *seq,
                            int depth);

/* 1 when the step is a loop-summary entry (loop present, index null). */
static int is_loop_summary(const struct spc_jv *step, int *in_loop)
{
    const struct spc_jv *loop = spc_jobj_get(step, "loop"), *i;

    *in_loop = 0;
    if (!spc_jis(loop, SPC_J_OBJECT))
        return 0;
    i = spc_jobj_get(loop, "i");
    if (!i)
        i = spc_jobj_get(loop, "idx");
    if (!i || spc_jis(i, SPC_J_NULL))
        return 1;
    *in_loop = 1;
    return 0;
}

static spc_err_t walk_step(struct walk *w, const struct spc_jv *step,
                           const char *name, int depth)
{
    size_t saved;
    char st;
    spc_err_t err;

    if ((err = opt_status(w, step, "status", &st)))
        return err;
    if ((err = path_push(w, name, &saved)))
        return err;
    err = walk_meas(w, step, "numericMeas", name, st, emit_numeric);
    if (!err && w->o->boolean_steps)
        err = walk_meas(w, step, "booleanMeas", name, st, emit_boolean);
    if (!err)
        err = walk_steps(w, step, depth + 1);
    path_pop(w, saved);
    return err;
}

/* Name of a non-loop step, "#k"-suffixed when an earlier non-loop sibling
 * has the same name (k = occurrence, from 2). */
static const char *sibling_name(struct walk *w, const struct spc_jv *arr,
                                const struct spc_jv *step, const char *name)
{
    const struct spc_jv *o;
    size_t k = 1;
    char tmp[32], *s;
    size_t sl;

    for (o = spc_jfirst(arr); o && o != step; o = o->next) {
        const char *n = spc_jstr(spc_jobj_get(o, "name"));
        int in_loop;

        if (n && strcmp(n, name) == 0 && !is_loop_summary(o, &in_loop) &&
            !in_loop)
            k++;
    }
    if (k == 1)
        return name;
    snprintf(tmp, sizeof(tmp), "#%zu", k);
    sl = strlen(name);
    s = spc_arena_alloc(&w->out->arena, sl + strlen(tmp) + 1);
    if (s) {
        memcpy(s, name, sl);
        strcpy(s + sl, tmp);
    }
    return s;
}

static spc_err_t walk_steps(struct walk *w, const struct spc_jv *seq, int depth)
{
    const struct spc_jv *arr = spc_jobj_get(seq, "steps"), *step;
    size_t i;
    spc_err_t err = SPC_OK;

    if (!arr || spc_jis(arr, SPC_J_NULL))
        return SPC_OK;
    if (!spc_jis(arr, SPC_J_ARRAY))
        return fail(w, "steps", "expected an array");
    if (depth >= SEQ_DEPTH_MAX)
        return fail(w, "steps", "sequences nested deeper than 64 levels");
    for (i = 0, step = spc_jfirst(arr); step && !err; i++, step = step->next) {
        const char *name;
        int in_loop;

        push(w, "steps", (long)i);
        if (!spc_jis(step, SPC_J_OBJECT)) {
            err = fail(w, NULL, "expected an object");
        } else if (!(err = req_str(w, step, "name", &name))) {
            if (is_loop_summary(step, &in_loop)) {
                w->out->n_loop_summary++;
            } else {
                if (!in_loop)
                    name = sibling_name(w, arr, step, name);
                err = name ? walk_step(w, step, name, depth) : SPC_ERR_NOMEM;
            }
        }
        pop(w);
    }
    return err;
}

spc_err_t spc_wsjf_check_plan_format(const char *fmt, char *errstr,
                                     size_t errstr_size)
{
    static const char *const keys[] = {"{pn}", "{rev}", "{processCode}",
                                       "{purpose}", "{location}"};
    const char *p = fmt;
    size_t i;

    if (!fmt || !*fmt) {
        spc_errstr_set(errstr, errstr_size, "empty template");
        return SPC_ERR_INVALID;
    }
    while ((p = strchr(p, '{')) != NULL) {
        for (i = 0; i < SPC_ARRAY_SIZE(keys); i++)
            if (strncmp(p, keys[i], strlen(keys[i])) == 0)
                break;
        if (i == SPC_ARRAY_SIZE(keys)) {
            spc_errstr_set(errstr, errstr_size,
                           "unknown placeholder at \"%.20s\" (use {pn}, "
                           "{rev}, {processCode}, {purpose}, {location})",
                           p);
            return SPC_ERR_INVALID;
        }
        p += strlen(keys[i]);
    }
    return SPC_OK;
}

/* processCode may be an integer or a string; copy its text into *out. */
static spc_err_t process_code(struct walk *w, const struct spc_jv *r, char *out,
                              size_t size)
{
    const struct spc_jv *v = spc_jobj_get(r, "processCode");

    if (spc_jis(v, SPC_J_INT))
        snprintf(out, size, "%lld", (long long)(v)->u.i);
    else if (spc_jis(v, SPC_J_STRING) && *spc_jstr(v))
        snprintf(out, size, "%s", spc_jstr(v));
    else
        return fail(w, "processCode",
                    v ? "expected an integer or a string" : "missing");
    return SPC_OK;
}

static spc_err_t test_plan(struct walk *w, const struct spc_jv *r,
                           const char *pn, const char *rev)
{
    const char *fmt =
        w->o->plan_format ? w->o->plan_format : "{pn}/{processCode}";
    char code[64];
    const char *purpose = spc_jstr(spc_jobj_get(r, "purpose"));
    const char *loc = spc_jstr(spc_jobj_get(r, "location"));
    struct spc_buf b;
    spc_err_t err;

    if ((err = process_code(w, r, code, sizeof(code))))
        return err;
    spc_buf_init(&b);
    while (*fmt) {
        if (strncmp(fmt, "{pn}", 4) == 0)
            spc_buf_puts(&b, pn), fmt += 4;
        else if (strncmp(fmt, "{rev}", 5) == 0)
            spc_buf_puts(&b, rev ? rev : ""), fmt += 5;
        else if (strncmp(fmt, "{processCode}", 13) == 0)
            spc_buf_puts(&b, code), fmt += 13;
        else if (strncmp(fmt, "{purpose}", 9) == 0)
            spc_buf_puts(&b, purpose ? purpose : ""), fmt += 9;
        else if (strncmp(fmt, "{location}", 10) == 0)
            spc_buf_puts(&b, loc ? loc : ""), fmt += 10;
        else
            spc_buf_putc(&b, *fmt++);
    }
    w->proto.test_plan = spc_buf_ok(&b)
                             ? spc_arena_strndup(&w->out->arena, b.data, b.len)
                             : NULL;
    spc_buf_fini(&b);
    return w->proto.test_plan ? SPC_OK : SPC_ERR_NOMEM;
}

static spc_err_t uut_meta(struct walk *w, const struct spc_jv *r)
{
    const struct spc_jv *uut = spc_jobj_get(r, "uut"), *sock;
    spc_err_t err;

    if (!uut || spc_jis(uut, SPC_J_NULL))
        return SPC_OK;
    push(w, "uut", -1);
    if (!spc_jis(uut, SPC_J_OBJECT)) {
        err = fail(w, NULL, "expected an object");
        goto out;
    }
    if ((err = opt_str(w, uut, "fixtureId", &w->proto.meta[SPC_DIM_FIXTURE])) ||
        (err = opt_str(w, uut, "user", &w->proto.meta[SPC_DIM_OPERATOR])))
        goto out;
    sock = spc_jobj_get(uut, "testSocketIndex");
    if (spc_jis(sock, SPC_J_INT)) {
        char tmp[24];
        int n = snprintf(tmp, sizeof(tmp), "%lld", (long long)(sock)->u.i);

        w->proto.meta[SPC_DIM_SOCKET] =
            spc_arena_strndup(&w->out->arena, tmp, (size_t)n);
        if (!w->proto.meta[SPC_DIM_SOCKET])
            err = SPC_ERR_NOMEM;
    } else if (spc_jis(sock, SPC_J_STRING)) {
        w->proto.meta[SPC_DIM_SOCKET] = spc_jstr(sock);
    } else if (sock && !spc_jis(sock, SPC_J_NULL)) {
        err = fail(w, "testSocketIndex", "expected an integer");
    }
out:
    pop(w);
    return err;
}

static spc_err_t misc_meta(struct walk *w, const struct spc_jv *r)
{
    const struct spc_jv *arr = spc_jobj_get(r, "miscInfos"), *mi;
    size_t i, j;

    if (!arr || spc_jis(arr, SPC_J_NULL))
        return SPC_OK;
    if (!spc_jis(arr, SPC_J_ARRAY))
        return fail(w, "miscInfos", "expected an array");
    for (i = 0, mi = spc_jfirst(arr); mi; i++, mi = mi->next) {
        const char *desc = spc_jstr(spc_jobj_get(mi, "description"));
        const struct spc_jv *text = spc_jobj_get(mi, "text");

        if (!spc_jis(mi, SPC_J_OBJECT)) {
            push(w, "miscInfos", (long)i);
            (void)fail(w, NULL, "expected an object");
            pop(w);
            return SPC_ERR_INVALID;
        }
        if (!desc || !spc_jis(text, SPC_J_STRING))
            continue; /* numeric-only or unnamed entries carry no dims */
        for (j = 0; j < w->o->n_misc; j++) {
            int d = w->o->misc[j].dim;

            if (strcmp(desc, w->o->misc[j].description) == 0 &&
                !w->proto.meta[d])
                w->proto.meta[d] = spc_jstr(text);
        }
    }
    return SPC_OK;
}

static spc_err_t header(struct walk *w, const struct spc_jv *r)
{
    const struct spc_jv *root = spc_jobj_get(r, "root"), *sc;
    const char *pn, *start, *rev;
    spc_err_t err;

    if ((err = req_str(w, r, "pn", &pn)) ||
        (err = req_str(w, r, "sn", &w->proto.uut_id)) ||
        (err = req_str(w, r, "id", &w->proto.report_id)) ||
        (err = req_str(w, r, "start", &start)) ||
        (err = opt_str(w, r, "rev", &rev)) ||
        (err = opt_str(w, r, "machineName", &w->proto.meta[SPC_DIM_STATION])))
        return err;
    w->proto.meta[SPC_DIM_HW_REV] = rev;
    if (spc_time_parse(start, &w->proto.ts_ms) != SPC_OK)
        return fail(w, "start", "not an RFC 3339 time with offset");
    if ((err = test_plan(w, r, pn, rev)) || (err = uut_meta(w, r)) ||
        (err = misc_meta(w, r)))
        return err;
    if (!spc_jis(root, SPC_J_OBJECT))
        return fail(w, "root", root ? "expected an object" : "missing");
    sc = spc_jobj_get(root, "seqCall");
    if (spc_jis(sc, SPC_J_OBJECT)) {
        w->proto.meta[SPC_DIM_SW_FILE] = spc_jstr(spc_jobj_get(sc, "name"));
        w->proto.meta[SPC_DIM_SW_VERSION] =
            spc_jstr(spc_jobj_get(sc, "version"));
    }
    return SPC_OK;
}

static spc_err_t sub_units(struct walk *w, const struct spc_jv *r)
{
    const struct spc_jv *arr = spc_jobj_get(r, "subUnits"), *su;
    size_t i;
    spc_err_t err = SPC_OK;

    if (!arr || spc_jis(arr, SPC_J_NULL))
        return SPC_OK;
    if (!spc_jis(arr, SPC_J_ARRAY))
        return fail(w, "subUnits", "expected an array");
    for (i = 0, su = spc_jfirst(arr); su && !err; i++, su = su->next) {
        const struct spc_jv *root, *o;
        const char *pt;
        char prefix[160];
        size_t k = 1, saved;

        push(w, "subUnits", (long)i);
        root = spc_jobj_get(su, "root");
        if (!spc_jis(su, SPC_J_OBJECT)) {
            err = fail(w, NULL, "expected an object");
        } else if (root && !spc_jis(root, SPC_J_NULL)) {
            pt = spc_jstr(spc_jobj_get(su, "partType"));
            if (!pt)
                pt = "Unknown";
            for (o = spc_jfirst(arr); o != su; o = o->next) {
                const char *opt = spc_jstr(spc_jobj_get(o, "partType"));

                if (opt && strcmp(opt, pt) == 0)
                    k++;
            }
            if (k == 1)
                snprintf(prefix, sizeof(prefix), "SubUnit[%.100s]", pt);
            else
                snprintf(prefix, sizeof(prefix), "SubUnit[%.100s#%zu]", pt, k);
            push(w, "root", -1);
            if (!spc_jis(root, SPC_J_OBJECT)) {
                err = fail(w, NULL, "expected an object");
            } else if (!(err = path_push(w, prefix, &saved))) {
                err = walk_steps(w, root, 1);
                path_pop(w, saved);
            }
            pop(w);
        }
        pop(w);
    }
    return err;
}

static spc_err_t uut_event(struct walk *w, const struct spc_jv *r)
{
    struct spc_event *ev;
    char st;
    spc_err_t err;

    if ((err = opt_status(w, r, "result", &st)))
        return err;
    ev = new_event(w);
    if (!ev)
        return SPC_ERR_NOMEM;
    ev->test_step = SPC_UUT_STEP;
    ev->measurement = SPC_UUT_MEAS;
    ev->kind = SPC_KIND_ATTRIBUTE;
    ev->value = NAN;
    ev->status = st;
    ev->passed = (uint8_t)(st ? pass_from_status(st) : 1);
    return SPC_OK;
}

spc_err_t spc_wsjf_flatten(const struct spc_jv *report,
                           const struct spc_wsjf_opts *opts,
                           struct spc_batch *out, char *errstr,
                           size_t errstr_size)
{
    struct walk *w;
    const char *type = NULL;
    spc_err_t err;

    spc_batch_reset(out);
    w = spc_calloc(1, sizeof(*w));
    if (!w)
        return SPC_ERR_NOMEM;
    w->o = opts;
    w->out = out;
    w->errstr = errstr;
    w->errstr_size = errstr_size;
    w->proto.value = NAN;
    if (!spc_jis(report, SPC_J_OBJECT)) {
        err = fail(w, NULL, "expected a JSON object (a WSJF report)");
        goto out;
    }
    if ((err = opt_str(w, report, "type", &type)))
        goto out;
    if (type && strcmp(type, "R") == 0) {
        out->repair = 1;
        goto out;
    }
    if (type && strcmp(type, "T") != 0) {
        err = fail(w, "type", "expected \"T\" (UUT) or \"R\" (repair)");
        goto out;
    }
    if ((err = header(w, report)))
        goto out;
    push(w, "root", -1);
    err = walk_steps(w, spc_jobj_get(report, "root"), 0);
    pop(w);
    if (!err)
        err = sub_units(w, report);
    if (!err)
        err = uut_event(w, report);
out:
    if (err)
        spc_batch_reset(out);
    free(w);
    return err;
}

spc_err_t spc_wsjf_flatten_buf(const char *buf, size_t len,
                               const struct spc_wsjf_opts *opts,
                               struct spc_batch *out, char *errstr,
                               size_t errstr_size)
{
    const struct spc_jv *root;
    char jerr[160];

    spc_batch_reset(out);
    root = spc_json_parse(&out->doc, buf, len, jerr, sizeof(jerr));
    if (!root) {
        if (!strcmp(jerr, "out of memory"))
            return SPC_ERR_NOMEM;
        spc_errstr_set(errstr, errstr_size, "invalid JSON at %s", jerr);
        return SPC_ERR_PARSE;
    }
    return spc_wsjf_flatten(root, opts, out, errstr, errstr_size);
}
