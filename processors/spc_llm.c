/*
 * spc_llm.c -- the LLM advisor: options, prompt building, reply validation
 * and the worker that talks to an OpenAI-compatible /v1/chat/completions
 * endpoint through libcurl (the only HTTP code in processors/).
 *
 * DATA FLOW: facts JSON --submit--> struct job (queue) --llm thread-->
 *   request body (template + <tag>sanitized facts</tag>) --curl multi-->
 *   HTTP body --spc_llm_parse_reply--> struct spc_advice --> reply cb.
 * OWNERSHIP: the advisor owns its copy of the options, the template, the
 *   Authorization header (wiped on destroy), queued jobs and the curl
 *   handles.  Advice given to the callback is freed after the call.
 * THREADING: one worker (@locality llm) per advisor.  The mutex guards the
 *   queue, counters, hourly window and breaker; it is never held during
 *   I/O or callbacks.  destroy sets `stop` and wakes the worker out of
 *   curl_multi_poll() (curl_multi_wakeup) or its backoff wait, then joins.
 * FAILURE MODES: HTTP 429/5xx, network errors and timeouts are retried
 *   (exponential backoff, Retry-After honoured up to max_backoff_ms) and
 *   count towards the circuit breaker; other HTTP errors fail at once;
 *   malformed, over-long or off-schema replies fail the request.  Every
 *   failure is counted and reported to the callback; the rule advice
 *   stands.  The API key never reaches a log or an error string.
 * REFERENCES: OpenAI Chat Completions API (request: model, messages,
 *   temperature, max_tokens, response_format; response:
 *   choices[0].message.content); RFC 9110 section 10.2.3 (Retry-After);
 *   JSON Schema 2020-12 (schemas/llm_advice.schema.json).
 */
#include "spc_llm.h"

#include <curl/curl.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Generated at configure time from schemas/ (processors/CMakeLists.txt). */
extern const char spc_llm_prompt_txt[];
extern const char spc_llm_schema_json[];

#define ENV_URL "SPCSTREAM_LLM_URL"
#define ENV_MODEL "SPCSTREAM_LLM_MODEL"
#define ENV_KEY_DEFAULT "SPCSTREAM_LLM_API_KEY"
#define MODEL_DEFAULT "default"
#define TEMPLATE_MAX (256 * 1024)
#define HOUR_MS 3600000LL

const char *spc_llm_default_template(void)
{
    return spc_llm_prompt_txt;
}

const char *spc_llm_advice_schema(void)
{
    return spc_llm_schema_json;
}

/* ---- options ---- */

void spc_llm_opts_defaults(struct spc_llm_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->timeout_ms = 30000;
    o->max_retries = 2;
    o->backoff_ms = 1000;
    o->max_backoff_ms = 30000;
    o->max_calls_per_hour = 60;
    o->breaker_failures = 5;
    o->breaker_cooldown_ms = 300000;
    o->max_reply_bytes = 65536;
    o->queue_size = 32;
    o->temperature = 0.2;
    o->max_tokens = 1500;
    o->json_mode = 1;
    o->min_severity = SPC_SEV_WARNING;
}

void spc_llm_opts_fini(struct spc_llm_opts *o)
{
    size_t i;

    if (!o)
        return;
    free(o->endpoint);
    free(o->model);
    free(o->api_key_env);
    free(o->template_path);
    for (i = 0; i < o->n_triggers; i++)
        free(o->triggers[i]);
    free(o->triggers);
    memset(o, 0, sizeof(*o));
}

static spc_err_t opts_copy(struct spc_llm_opts *dst,
                           const struct spc_llm_opts *src)
{
    struct spc_llm_opts t = *src;
    size_t i;

    t.endpoint = spc_strdup(src->endpoint);
    t.model = spc_strdup(src->model);
    t.api_key_env = spc_strdup(src->api_key_env);
    t.template_path = spc_strdup(src->template_path);
    t.triggers = NULL;
    t.n_triggers = 0;
    if ((src->endpoint && !t.endpoint) || (src->model && !t.model) ||
        (src->api_key_env && !t.api_key_env) ||
        (src->template_path && !t.template_path))
        goto oom;
    if (src->n_triggers) {
        t.triggers = spc_calloc(src->n_triggers, sizeof(char *));
        if (!t.triggers)
            goto oom;
        for (i = 0; i < src->n_triggers; i++, t.n_triggers++) {
            t.triggers[i] = spc_strdup(src->triggers[i]);
            if (!t.triggers[i])
                goto oom;
        }
    }
    *dst = t;
    return SPC_OK;
oom:
    spc_llm_opts_fini(&t);
    return SPC_ERR_NOMEM;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);

    return n >= k && strncmp(s + n - k, suffix, k) == 0;
}

/* The chat-completions URL of a base URL ("http://h:8080", ".../v1") or of
 * a full one; NULL when it is not an http(s) URL (*why says so). */
static char *endpoint_url(const char *base, const char **why)
{
    size_t n = strlen(base), i;
    const char *add = "";
    char *url;

    *why = "expected an http:// or https:// URL";
    if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)
        return NULL;
    for (i = 0; i < n; i++)
        if ((unsigned char)base[i] <= 0x20 || base[i] == 0x7f)
            return NULL;
    while (n > 8 && base[n - 1] == '/')
        n--;
    if (!strchr(base, '?') && !ends_with(base, n, "/chat/completions"))
        add = ends_with(base, n, "/v1") ? "/chat/completions"
                                        : "/v1/chat/completions";
    *why = "out of memory";
    url = spc_malloc(n + strlen(add) + 1);
    if (!url)
        return NULL;
    memcpy(url, base, n);
    strcpy(url + n, add);
    return url;
}

enum okind {
    OK_BOOL,
    OK_LONG,
    OK_INT,
    OK_SIZE,
    OK_DBL,
    OK_STR,
    OK_URL,
    OK_ENV,
    OK_TRIG,
    OK_SEV,
    OK_NOTE
};

struct okey {
    const char *name;
    enum okind k;
    size_t off;
    double lo, hi;
};

#define OKEY(n, k, f, lo, hi)                                                  \
    {                                                                          \
        n, k, offsetof(struct spc_llm_opts, f), lo, hi                         \
    }

static const struct okey okeys[] = {
    OKEY("enabled", OK_BOOL, enabled, 0, 1),
    OKEY("endpoint", OK_URL, endpoint, 0, 0),
    OKEY("model", OK_STR, model, 1, 256),
    OKEY("api_key_env", OK_ENV, api_key_env, 1, 128),
    OKEY("timeout_ms", OK_LONG, timeout_ms, 100, 600000),
    OKEY("max_retries", OK_INT, max_retries, 0, 10),
    OKEY("backoff_ms", OK_LONG, backoff_ms, 0, 600000),
    OKEY("max_backoff_ms", OK_LONG, max_backoff_ms, 0, 3600000),
    OKEY("max_calls_per_hour", OK_INT, max_calls_per_hour, 0, 100000),
    OKEY("breaker_failures", OK_INT, breaker_failures, 1, 1000),
    OKEY("breaker_cooldown_ms", OK_LONG, breaker_cooldown_ms, 0, 86400000),
    OKEY("max_reply_bytes", OK_SIZE, max_reply_bytes, 1024, 16777216),
    OKEY("queue_size", OK_SIZE, queue_size, 1, 10000),
    OKEY("template", OK_STR, template_path, 1, 4096),
    OKEY("temperature", OK_DBL, temperature, 0, 2),
    OKEY("max_tokens", OK_INT, max_tokens, 16, 1000000),
    OKEY("json_mode", OK_BOOL, json_mode, 0, 1),
    OKEY("triggers", OK_TRIG, triggers, 0, 0),
    OKEY("min_severity", OK_SEV, min_severity, 0, 2),
    OKEY("debug", OK_BOOL, debug, 0, 1),
    OKEY("comment", OK_NOTE, enabled, 0, 0),
};

static spc_err_t kerr(char *errstr, size_t size, const char *key,
                      const char *fmt, ...) SPC_PRINTF(4, 5);

static spc_err_t kerr(char *errstr, size_t size, const char *key,
                      const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    spc_errstr_set(errstr, size, "llm%s%s: %s", key ? "." : "", key ? key : "",
                   msg);
    return SPC_ERR_INVALID;
}

static int env_name_ok(const char *s)
{
    size_t i;

    for (i = 0; s[i]; i++)
        if (!(s[i] == '_' || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= 'a' && s[i] <= 'z') ||
              (i && s[i] >= '0' && s[i] <= '9')))
            return 0;
    return i > 0;
}

static spc_err_t set_triggers(struct spc_llm_opts *o, const json_t *v,
                              const char *key, char *errstr, size_t size)
{
    size_t i;
    json_t *e;

    if (!json_is_array(v))
        return kerr(errstr, size, key,
                    "expected an array of incident "
                    "patterns (e.g. \"fixture\")");
    if (json_array_size(v) == 0)
        return SPC_OK;
    o->triggers = spc_calloc(json_array_size(v), sizeof(char *));
    if (!o->triggers)
        return SPC_ERR_NOMEM;
    json_array_foreach(v, i, e)
    {
        const char *s = json_string_value(e);

        if (!s || !*s || strlen(s) > 64)
            return kerr(errstr, size, key,
                        "element %zu: expected a pattern name (1-64 chars)", i);
        o->triggers[i] = spc_strdup(s);
        if (!o->triggers[i])
            return SPC_ERR_NOMEM;
        o->n_triggers = i + 1;
    }
    return SPC_OK;
}

static spc_err_t set_string(struct spc_llm_opts *o, const struct okey *k,
                            const json_t *v, char *errstr, size_t size)
{
    char **dst = (char **)(void *)((char *)o + k->off);
    const char *s = json_string_value(v), *why;
    size_t n = s ? strlen(s) : 0;
    char *copy;

    if (!s || n < k->lo || (k->hi > 0 && n > k->hi))
        return kerr(errstr, size, k->name, "expected a string%s",
                    k->k == OK_URL ? " (http:// or https:// URL)" : "");
    if (k->k == OK_ENV && !env_name_ok(s))
        return kerr(errstr, size, k->name,
                    "expected an environment variable name");
    if (k->k == OK_URL) {
        copy = endpoint_url(s, &why);
        if (!copy)
            return kerr(errstr, size, k->name, "%s", why);
    } else {
        copy = spc_strdup(s);
        if (!copy)
            return SPC_ERR_NOMEM;
    }
    free(*dst);
    *dst = copy;
    return SPC_OK;
}

static spc_err_t set_number(struct spc_llm_opts *o, const struct okey *k,
                            const json_t *v, char *errstr, size_t size)
{
    char *f = (char *)o + k->off;
    double x = json_number_value(v);

    if (k->k == OK_SEV && json_is_string(v)) {
        int sev = spc_severity_find(json_string_value(v));

        if (sev < 0)
            return kerr(errstr, size, k->name,
                        "expected \"info\", \"warning\" or \"critical\"");
        *(int *)(void *)f = sev;
        return SPC_OK;
    }
    if (!json_is_number(v) || (k->k != OK_DBL && !json_is_integer(v)))
        return kerr(errstr, size, k->name, "expected %s",
                    k->k == OK_DBL   ? "a number"
                    : k->k == OK_SEV ? "\"info\", \"warning\", "
                                       "\"critical\" or 0-2"
                                     : "an integer");
    if (!(x >= k->lo && x <= k->hi))
        return kerr(errstr, size, k->name, "must be in [%g, %g] (got %g)",
                    k->lo, k->hi, x);
    if (k->k == OK_LONG)
        *(long *)(void *)f = (long)x;
    else if (k->k == OK_SIZE)
        *(size_t *)(void *)f = (size_t)x;
    else if (k->k == OK_DBL)
        *(double *)(void *)f = x;
    else
        *(int *)(void *)f = (int)x;
    return SPC_OK;
}

static spc_err_t set_key(struct spc_llm_opts *o, const struct okey *k,
                         const json_t *v, char *errstr, size_t size)
{
    switch (k->k) {
    case OK_BOOL:
        if (!json_is_boolean(v))
            return kerr(errstr, size, k->name, "expected true or false");
        *(int *)(void *)((char *)o + k->off) = json_is_true(v);
        return SPC_OK;
    case OK_STR:
    case OK_URL:
    case OK_ENV:
        return set_string(o, k, v, errstr, size);
    case OK_TRIG:
        return set_triggers(o, v, k->name, errstr, size);
    case OK_NOTE:
        return SPC_OK;
    default:
        return set_number(o, k, v, errstr, size);
    }
}

/* Environment overrides; *explicit_off: the section said enabled false. */
static spc_err_t apply_env(struct spc_llm_opts *o, int explicit_off,
                           char *errstr, size_t size)
{
    const char *url = getenv(ENV_URL), *model = getenv(ENV_MODEL), *why;
    char *s;

    if (url && *url) {
        s = endpoint_url(url, &why);
        if (!s) {
            spc_errstr_set(errstr, size, "%s: %s", ENV_URL, why);
            return SPC_ERR_INVALID;
        }
        free(o->endpoint);
        o->endpoint = s;
        o->enabled = !explicit_off;
    }
    if (model && *model) {
        s = spc_strdup(model);
        if (!s)
            return SPC_ERR_NOMEM;
        free(o->model);
        o->model = s;
    }
    return SPC_OK;
}

spc_err_t spc_llm_opts_from_json(const json_t *sec, struct spc_llm_opts *out,
                                 char *errstr, size_t size)
{
    struct spc_llm_opts o;
    const char *key;
    json_t *v, *en;
    spc_err_t err = SPC_OK;
    size_t i;

    spc_llm_opts_defaults(&o);
    if (sec && !json_is_object(sec)) {
        err = kerr(errstr, size, NULL, "expected an object");
        goto out;
    }
    json_object_foreach((json_t *)sec, key, v)
    {
        for (i = 0; i < SPC_ARRAY_SIZE(okeys); i++)
            if (strcmp(okeys[i].name, key) == 0)
                break;
        if (i == SPC_ARRAY_SIZE(okeys)) {
            err = kerr(errstr, size, key, "unknown key");
            goto out;
        }
        err = set_key(&o, &okeys[i], v, errstr, size);
        if (err)
            goto out;
    }
    en = sec ? json_object_get(sec, "enabled") : NULL;
    if (!en)
        o.enabled = o.endpoint != NULL;
    err = apply_env(&o, en && !json_is_true(en), errstr, size);
    if (err)
        goto out;
    if (o.enabled && !o.endpoint)
        err = kerr(errstr, size, "enabled",
                   "true but no endpoint (set llm.endpoint or %s)", ENV_URL);
out:
    if (err)
        spc_llm_opts_fini(&o);
    else
        *out = o;
    return err;
}

/* '*' matches any run of characters. */
static int glob_match(const char *p, const char *s)
{
    const char *star = NULL, *mark = NULL;

    while (*s) {
        if (*p == '*') {
            star = p++;
            mark = s;
        } else if (*p == *s) {
            p++;
            s++;
        } else if (star) {
            p = star + 1;
            s = ++mark;
        } else {
            return 0;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

int spc_llm_qualifies(const struct spc_llm_opts *o, const char *pattern,
                      int severity)
{
    size_t i;

    if (!o || !o->enabled || severity < o->min_severity)
        return 0;
    if (!o->n_triggers)
        return 1;
    for (i = 0; pattern && i < o->n_triggers; i++)
        if (glob_match(o->triggers[i], pattern))
            return 1;
    return 0;
}

/* ---- sanitizing ---- */

/* Decode the UTF-8 sequence at s (valid input: it comes from jansson);
 * @returns its length (1 for a stray byte, decoded as U+FFFD). */
static size_t utf8_dec(const unsigned char *s, size_t avail, uint32_t *cp)
{
    size_t n, i;

    if (s[0] < 0x80) {
        *cp = s[0];
        return 1;
    }
    n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : s[0] >= 0xc0 ? 2 : 0;
    if (!n || n > avail) {
        *cp = 0xfffd;
        return 1;
    }
    *cp = s[0] & (0x7f >> n);
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80) {
            *cp = 0xfffd;
            return 1;
        }
        *cp = (*cp << 6) | (s[i] & 0x3f);
    }
    return n;
}

/* Characters that can reshape text: C0/C1 controls, DEL, line/paragraph
 * separators, zero-width and bidirectional formatting, BOM. */
static int is_control(uint32_t c)
{
    return c < 0x20 || (c >= 0x7f && c <= 0x9f) ||
           (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
           (c >= 0x2060 && c <= 0x2069) || c == 0xfeff;
}

/* Append @p s to @p b with each run of control characters as one space,
 * trimmed, at most @p cap bytes (cut on a character boundary, then "...").
 * @returns the characters written. */
static size_t sanitize(struct spc_buf *b, const char *s, size_t n, size_t cap)
{
    const unsigned char *p = (const unsigned char *)s, *end = p + n;
    size_t start = b->len, chars = 0;
    int space = 0;
    uint32_t cp;

    while (p < end) {
        size_t k = utf8_dec(p, (size_t)(end - p), &cp);

        if (is_control(cp) || cp == ' ') {
            space = 1;
            p += k;
            continue;
        }
        if (b->len - start + k + (space && b->len > start) > cap) {
            spc_buf_puts(b, "\xe2\x80\xa6"); /* U+2026 */
            return chars + 1;
        }
        if (space && b->len > start) {
            spc_buf_putc(b, ' ');
            chars++;
        }
        space = 0;
        spc_buf_append(b, p, k);
        chars++;
        p += k;
    }
    return chars;
}

/* JSON string of sanitized text with '<' and '>' escaped as well, so no
 * value can open or close a delimiter line. */
static void json_data_str(struct spc_buf *b, const char *s, size_t n)
{
    size_t i, run = 0;

    spc_buf_putc(b, '"');
    for (i = 0; i < n; i++) {
        const char *esc = NULL;

        switch (s[i]) {
        case '"':
            esc = "\\\"";
            break;
        case '\\':
            esc = "\\\\";
            break;
        case '<':
            esc = "\\u003c";
            break;
        case '>':
            esc = "\\u003e";
            break;
        default:
            continue;
        }
        spc_buf_append(b, s + run, i - run);
        spc_buf_puts(b, esc);
        run = i + 1;
    }
    spc_buf_append(b, s + run, n - run);
    spc_buf_putc(b, '"');
}

/* ---- prompt ---- */

struct render {
    struct spc_buf *out;
    struct spc_buf tmp; /* sanitized text of one string */
    size_t max_items;   /* per array */
};

static void render_str(struct render *r, const char *s, size_t n, size_t cap)
{
    spc_buf_reset(&r->tmp);
    sanitize(&r->tmp, s, n, cap);
    if (!spc_buf_ok(&r->tmp)) {
        r->out->oom = 1;
        return;
    }
    json_data_str(r->out, r->tmp.data ? r->tmp.data : "", r->tmp.len);
}

static void render_value(struct render *r, const json_t *v, int depth);

static void indent(struct render *r, int depth)
{
    spc_buf_putc(r->out, '\n');
    while (depth-- > 0)
        spc_buf_putc(r->out, ' ');
}

static void render_object(struct render *r, const json_t *v, int depth)
{
    const char *key;
    json_t *m;
    int first = 1;

    spc_buf_putc(r->out, '{');
    json_object_foreach((json_t *)v, key, m)
    {
        if (json_is_null(m))
            continue;
        /* "advice" repeats rule_advice (or an earlier LLM answer) */
        if (depth == 0 && !strcmp(key, "advice") &&
            json_object_get(v, "rule_advice"))
            continue;
        if (!first)
            spc_buf_putc(r->out, ',');
        if (depth == 0)
            indent(r, 1);
        first = 0;
        render_str(r, key, strlen(key), 64);
        spc_buf_putc(r->out, ':');
        render_value(r, m, depth + 1);
    }
    if (depth == 0)
        indent(r, 0);
    spc_buf_putc(r->out, '}');
}

static void render_array(struct render *r, const json_t *v, int depth)
{
    size_t i, n = json_array_size(v);
    int pretty = depth == 1 && n && json_is_object(json_array_get(v, 0));

    spc_buf_putc(r->out, '[');
    for (i = 0; i < n && i < r->max_items; i++) {
        if (i)
            spc_buf_putc(r->out, ',');
        if (pretty)
            indent(r, 2);
        render_value(r, json_array_get(v, i), depth + 1);
    }
    if (n > r->max_items)
        spc_buf_printf(r->out, "%s\"(%zu more omitted)\"",
                       r->max_items ? "," : "", n - r->max_items);
    if (pretty)
        indent(r, 1);
    spc_buf_putc(r->out, ']');
}

static void render_value(struct render *r, const json_t *v, int depth)
{
    char num[40];
    double x;

    switch (json_typeof(v)) {
    case JSON_OBJECT:
        render_object(r, v, depth);
        break;
    case JSON_ARRAY:
        render_array(r, v, depth);
        break;
    case JSON_STRING:
        render_str(r, json_string_value(v), json_string_length(v),
                   SPC_LLM_FIELD_MAX);
        break;
    case JSON_INTEGER:
        spc_json_int(r->out, json_integer_value(v));
        break;
    case JSON_REAL:
        x = json_real_value(v);
        if (!isfinite(x)) {
            spc_buf_puts(r->out, "null");
            break;
        }
        snprintf(num, sizeof(num), "%.6g", x); /* enough for a reader */
        spc_buf_puts(r->out, num);
        break;
    case JSON_TRUE:
        spc_buf_puts(r->out, "true");
        break;
    case JSON_FALSE:
        spc_buf_puts(r->out, "false");
        break;
    default:
        spc_buf_puts(r->out, "null");
    }
}

/* The facts between "<tag>" and "</tag>" lines, shortening arrays until
 * the block fits SPC_LLM_FACTS_MAX. */
static spc_err_t render_facts(const json_t *root, const char *tag,
                              struct spc_buf *out)
{
    static const size_t caps[] = {64, 16, 8, 4, 2, 1, 0};
    struct render r;
    spc_err_t err = SPC_ERR_RANGE;
    size_t i;

    r.out = out;
    spc_buf_init(&r.tmp);
    for (i = 0; i < SPC_ARRAY_SIZE(caps); i++) {
        spc_buf_reset(out);
        r.max_items = caps[i];
        spc_buf_printf(out, "<%s>\n", tag);
        render_value(&r, root, 0);
        spc_buf_printf(out, "\n</%s>", tag);
        if (!spc_buf_ok(out)) {
            err = SPC_ERR_NOMEM;
            break;
        }
        if (out->len <= SPC_LLM_FACTS_MAX) {
            err = SPC_OK;
            break;
        }
    }
    spc_buf_fini(&r.tmp);
    return err;
}

/* A section of the template: the text after a "[[name]]" line up to the
 * next "[[...]]" line, without surrounding blank lines. */
static int find_section(const char *t, const char *name, const char **s,
                        size_t *n)
{
    const char *p = t, *e;
    size_t k = strlen(name);

    for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL)
        if (!strncmp(p, "[[", 2) && !strncmp(p + 2, name, k) &&
            !strncmp(p + 2 + k, "]]", 2) &&
            (p[4 + k] == '\n' || p[4 + k] == '\r' || !p[4 + k]))
            break;
    if (!p || !*p)
        return 0;
    p = strchr(p, '\n');
    p = p ? p + 1 : t + strlen(t);
    for (e = p; *e; e = strchr(e, '\n'), e = e ? e + 1 : p + strlen(p))
        if (!strncmp(e, "[[", 2))
            break;
    while (e > p && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' '))
        e--;
    while (*p == '\n' || *p == '\r')
        p++;
    *s = p;
    *n = e > p ? (size_t)(e - p) : 0;
    return 1;
}

static int has_placeholder(const char *s, size_t n, const char *ph)
{
    size_t k = strlen(ph), i;

    for (i = 0; i + k <= n; i++)
        if (!memcmp(s + i, ph, k))
            return 1;
    return 0;
}

spc_err_t spc_llm_check_template(const char *t, char *errstr, size_t size)
{
    const char *sys, *user;
    size_t nsys, nuser;

    if (!find_section(t, "system", &sys, &nsys))
        return kerr(errstr, size, "template", "no [[system]] section");
    if (!find_section(t, "user", &user, &nuser))
        return kerr(errstr, size, "template", "no [[user]] section");
    if (!has_placeholder(user, nuser, "{{data}}"))
        return kerr(errstr, size, "template",
                    "the [[user]] section lacks {{data}}");
    if (has_placeholder(sys, nsys, "{{data}}"))
        return kerr(errstr, size, "template",
                    "{{data}} belongs in the [[user]] section");
    return SPC_OK;
}

/* Section text with placeholders replaced (one pass: inserted text is
 * never scanned again). */
static void expand(struct spc_buf *b, const char *s, size_t n, const char *tag,
                   const struct spc_buf *data)
{
    size_t i = 0, run = 0;

    while (i < n) {
        const char *rep = NULL;
        size_t k = 0, rn = 0;

        if (s[i] == '{' && i + 1 < n && s[i + 1] == '{') {
            if (n - i >= 8 && !memcmp(s + i, "{{data}}", 8))
                rep = data->data, rn = data->len, k = 8;
            else if (n - i >= 7 && !memcmp(s + i, "{{tag}}", 7))
                rep = tag, rn = strlen(tag), k = 7;
            else if (n - i >= 10 && !memcmp(s + i, "{{schema}}", 10))
                rep = spc_llm_schema_json, k = 10,
                rn = strlen(spc_llm_schema_json);
        }
        if (!rep) {
            i++;
            continue;
        }
        spc_buf_append(b, s + run, i - run);
        spc_buf_append(b, rep, rn);
        i += k;
        run = i;
    }
    spc_buf_append(b, s + run, n - run);
    while (b->len &&
           (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == ' '))
        b->data[--b->len] = '\0';
}

static void request_json(const struct spc_llm_opts *o, const char *sys,
                         size_t nsys, const char *user, size_t nuser,
                         struct spc_buf *out)
{
    spc_buf_puts(out, "{\"model\":");
    spc_json_str(out, o->model ? o->model : MODEL_DEFAULT);
    spc_buf_puts(out, ",\"temperature\":");
    spc_json_num(out, o->temperature);
    if (o->max_tokens > 0)
        spc_buf_printf(out, ",\"max_tokens\":%d", o->max_tokens);
    if (o->json_mode)
        spc_buf_puts(out, ",\"response_format\":{\"type\":\"json_object\"}");
    spc_buf_puts(out, ",\"stream\":false,\"messages\":[{\"role\":\"system\","
                      "\"content\":");
    spc_json_strn(out, sys, nsys);
    spc_buf_puts(out, "},{\"role\":\"user\",\"content\":");
    spc_json_strn(out, user, nuser);
    spc_buf_puts(out, "}]}");
}

spc_err_t spc_llm_build_request(const struct spc_llm_opts *o, const char *tpl,
                                const char *facts_json, struct spc_buf *out)
{
    struct spc_buf data, sys, user;
    const char *ts, *tu;
    size_t nts, ntu;
    json_t *root = NULL;
    char tag[40];
    spc_err_t err;

    spc_buf_init(&data);
    spc_buf_init(&sys);
    spc_buf_init(&user);
    if (!tpl)
        tpl = spc_llm_prompt_txt;
    err = spc_llm_check_template(tpl, NULL, 0);
    if (err)
        goto out;
    err = SPC_ERR_PARSE;
    root = facts_json ? json_loads(facts_json, 0, NULL) : NULL;
    if (!json_is_object(root))
        goto out;
    snprintf(
        tag, sizeof(tag), "incident_data_%08llx",
        (unsigned long long)(spc_hash64(facts_json, strlen(facts_json), 0x11f) &
                             0xffffffffULL));
    err = render_facts(root, tag, &data);
    if (err)
        goto out;
    (void)find_section(tpl, "system", &ts, &nts);
    (void)find_section(tpl, "user", &tu, &ntu);
    expand(&sys, ts, nts, tag, &data);
    expand(&user, tu, ntu, tag, &data);
    err = SPC_ERR_NOMEM;
    if (!spc_buf_ok(&sys) || !spc_buf_ok(&user))
        goto out;
    err = SPC_ERR_RANGE;
    if (sys.len + user.len > SPC_LLM_PROMPT_MAX)
        goto out;
    request_json(o, sys.data, sys.len, user.data, user.len, out);
    err = spc_buf_ok(out) ? SPC_OK : SPC_ERR_NOMEM;
out:
    json_decref(root);
    spc_buf_fini(&data);
    spc_buf_fini(&sys);
    spc_buf_fini(&user);
    return err;
}

/* ---- reply ---- */

/* Owned sanitized copy of string @p v, or NULL with errstr set
 * (*err = SPC_ERR_INVALID or SPC_ERR_NOMEM). */
static char *reply_str(const json_t *v, size_t min, size_t max,
                       const char *what, spc_err_t *err, char *errstr,
                       size_t size)
{
    struct spc_buf b;
    size_t chars;
    char *s = NULL;

    *err = SPC_ERR_INVALID;
    if (!json_is_string(v)) {
        spc_errstr_set(errstr, size, "%s: %s", what,
                       v ? "expected a string" : "missing");
        return NULL;
    }
    spc_buf_init(&b);
    chars =
        sanitize(&b, json_string_value(v), json_string_length(v), (size_t)-1);
    if (!spc_buf_ok(&b)) {
        *err = SPC_ERR_NOMEM;
    } else if (chars < min) {
        spc_errstr_set(errstr, size, "%s: empty", what);
    } else if (chars > max) {
        spc_errstr_set(errstr, size, "%s: longer than %zu characters (%zu)",
                       what, max, chars);
    } else {
        s = spc_strdup(b.data ? b.data : "");
        *err = s ? SPC_OK : SPC_ERR_NOMEM;
    }
    spc_buf_fini(&b);
    return s;
}

static spc_err_t reply_array(const json_t *v, size_t min, size_t max,
                             const char *what, char *errstr, size_t size)
{
    if (!v && min == 0)
        return SPC_OK;
    if (!json_is_array(v)) {
        spc_errstr_set(errstr, size, "%s: %s", what,
                       v ? "expected an array" : "missing");
        return SPC_ERR_INVALID;
    }
    if (json_array_size(v) < min || json_array_size(v) > max) {
        spc_errstr_set(errstr, size, "%s: expected %zu-%zu items (got %zu)",
                       what, min, max, json_array_size(v));
        return SPC_ERR_INVALID;
    }
    return SPC_OK;
}

static spc_err_t reply_strv(const json_t *v, size_t min, size_t max,
                            const char *what, char ***out, size_t *n,
                            char *errstr, size_t size)
{
    char name[40];
    spc_err_t err;
    size_t i;

    err = reply_array(v, min, max, what, errstr, size);
    if (err || !json_array_size(v))
        return err;
    *out = spc_calloc(json_array_size(v), sizeof(char *));
    if (!*out)
        return SPC_ERR_NOMEM;
    for (i = 0; i < json_array_size(v); i++) {
        snprintf(name, sizeof(name), "%s[%zu]", what, i);
        (*out)[i] = reply_str(json_array_get(v, i), 1, SPC_LLM_STRING_MAX, name,
                              &err, errstr, size);
        if (err)
            return err;
        *n = i + 1;
    }
    return SPC_OK;
}

static spc_err_t reply_likelihood(struct spc_advice_cause *c, const char *what,
                                  char *errstr, size_t size)
{
    char *p;

    for (p = c->likelihood; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    if (!strcmp(c->likelihood, "high") || !strcmp(c->likelihood, "medium") ||
        !strcmp(c->likelihood, "low"))
        return SPC_OK;
    spc_errstr_set(errstr, size,
                   "%s: expected \"high\", \"medium\" or \"low\" (got "
                   "\"%.24s\")",
                   what, c->likelihood);
    return SPC_ERR_INVALID;
}

static spc_err_t reply_causes(const json_t *v, struct spc_advice *a,
                              char *errstr, size_t size)
{
    char name[48];
    spc_err_t err;
    size_t i;

    err = reply_array(v, SPC_LLM_CAUSES_MIN, SPC_LLM_CAUSES_MAX, "causes",
                      errstr, size);
    if (err)
        return err;
    a->causes = spc_calloc(json_array_size(v), sizeof(*a->causes));
    if (!a->causes)
        return SPC_ERR_NOMEM;
    for (i = 0; i < json_array_size(v); i++) {
        const json_t *c = json_array_get(v, i);
        struct spc_advice_cause *d = &a->causes[i];

        a->n_causes = i + 1;
        if (!json_is_object(c)) {
            spc_errstr_set(errstr, size, "causes[%zu]: expected an object", i);
            return SPC_ERR_INVALID;
        }
        snprintf(name, sizeof(name), "causes[%zu].cause", i);
        d->cause = reply_str(json_object_get(c, "cause"), 1, SPC_LLM_STRING_MAX,
                             name, &err, errstr, size);
        if (err)
            return err;
        snprintf(name, sizeof(name), "causes[%zu].likelihood", i);
        d->likelihood = reply_str(json_object_get(c, "likelihood"), 1, 16, name,
                                  &err, errstr, size);
        if (!err)
            err = reply_likelihood(d, name, errstr, size);
        if (err)
            return err;
        snprintf(name, sizeof(name), "causes[%zu].evidence", i);
        d->evidence = reply_str(json_object_get(c, "evidence"), 0,
                                SPC_LLM_STRING_MAX, name, &err, errstr, size);
        if (err)
            return err;
    }
    return SPC_OK;
}

static spc_err_t reply_advice(const json_t *o, struct spc_advice *a,
                              char *errstr, size_t size)
{
    spc_err_t err;

    if (!json_is_object(o)) {
        spc_errstr_set(errstr, size, "content: expected a JSON object");
        return SPC_ERR_INVALID;
    }
    a->summary = reply_str(json_object_get(o, "summary"), 1,
                           SPC_LLM_SUMMARY_MAX, "summary", &err, errstr, size);
    if (err)
        return err;
    err = reply_causes(json_object_get(o, "causes"), a, errstr, size);
    if (err)
        return err;
    err = reply_strv(json_object_get(o, "actions"), SPC_LLM_ACTIONS_MIN,
                     SPC_LLM_ACTIONS_MAX, "actions", &a->actions, &a->n_actions,
                     errstr, size);
    if (err)
        return err;
    err = reply_strv(json_object_get(o, "correlations"), 0,
                     SPC_LLM_CORRELATIONS_MAX, "correlations", &a->correlations,
                     &a->n_correlations, errstr, size);
    if (err)
        return err;
    a->source = spc_strdup("llm");
    return a->source ? SPC_OK : SPC_ERR_NOMEM;
}

static int is_ws(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* The JSON object inside the message content: bare, in ``` fences, after
 * a <think> block, or between the first '{' and the last '}'. */
static json_t *content_json(const char *s, size_t n, json_error_t *jerr)
{
    const char *e = s + n, *p, *q, *s0, *e0;
    json_t *j;

    if (n >= 7 && !strncmp(s, "<think>", 7))
        for (p = s; p + 8 <= e; p++)
            if (!strncmp(p, "</think>", 8)) {
                s = p + 8;
                break;
            }
    while (s < e && is_ws(*s))
        s++;
    while (e > s && is_ws(e[-1]))
        e--;
    s0 = s;
    e0 = e;
    if (e - s >= 6 && !strncmp(s, "```", 3)) {
        p = memchr(s, '\n', (size_t)(e - s));
        s = p ? p + 1 : e;
        if (e - s >= 3 && !strncmp(e - 3, "```", 3))
            e -= 3;
    }
    j = json_loadb(s, (size_t)(e - s), 0, jerr);
    if (j)
        return j;
    p = memchr(s0, '{', (size_t)(e0 - s0));
    for (q = e0; q > s0 && q[-1] != '}'; q--)
        ;
    if (p && q > p + 1)
        return json_loadb(p, (size_t)(q - p), 0, NULL);
    return NULL;
}

/* choices[0].message.content, or an error naming what is missing (and the
 * server's error.message when it sent one). */
static const json_t *reply_content(const json_t *root, char *errstr,
                                   size_t size)
{
    const json_t *c = json_object_get(
        json_object_get(json_array_get(json_object_get(root, "choices"), 0),
                        "message"),
        "content");
    const char *msg = json_string_value(
        json_object_get(json_object_get(root, "error"), "message"));
    struct spc_buf b;

    if (json_is_string(c))
        return c;
    spc_buf_init(&b);
    if (msg)
        sanitize(&b, msg, strlen(msg), 120);
    spc_errstr_set(errstr, size, "reply: no choices[0].message.content%s%s",
                   b.data && b.len ? "; error: " : "",
                   b.data && b.len ? b.data : "");
    spc_buf_fini(&b);
    return NULL;
}

spc_err_t spc_llm_parse_reply(const char *body, size_t len, size_t max_bytes,
                              struct spc_advice *out, char *errstr, size_t size)
{
    struct spc_advice a;
    json_error_t jerr;
    json_t *root = NULL, *adv = NULL;
    const json_t *content;
    spc_err_t err = SPC_ERR_RANGE;

    memset(&a, 0, sizeof(a));
    if (max_bytes && len > max_bytes) {
        spc_errstr_set(errstr, size, "reply: %zu bytes (limit %zu)", len,
                       max_bytes);
        goto out;
    }
    err = SPC_ERR_PARSE;
    root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        spc_errstr_set(errstr, size, "reply: not JSON: %s", jerr.text);
        goto out;
    }
    content = reply_content(root, errstr, size);
    if (!content)
        goto out;
    if (max_bytes && json_string_length(content) > max_bytes) {
        err = SPC_ERR_RANGE;
        spc_errstr_set(errstr, size, "content: %zu bytes (limit %zu)",
                       json_string_length(content), max_bytes);
        goto out;
    }
    adv = content_json(json_string_value(content), json_string_length(content),
                       &jerr);
    if (!adv) {
        spc_errstr_set(errstr, size, "content: not JSON: %s", jerr.text);
        goto out;
    }
    err = reply_advice(adv, &a, errstr, size);
    if (err == SPC_ERR_NOMEM)
        spc_errstr_set(errstr, size, "out of memory");
out:
    json_decref(adv);
    json_decref(root);
    if (err)
        spc_advice_fini(&a);
    else
        *out = a;
    return err;
}

/* ---- the advisor ---- */

struct job {
    char *id;
    uint32_t revision;
    char *facts;
};

struct spc_llm {
    struct spc_llm_opts o;      /* immutable after new */
    char *tpl;                  /* template text, NULL: embedded */
    struct curl_slist *headers; /* Authorization wiped on destroy */
    int has_key;
    int curl_inited;
    spc_llm_reply_cb *cb;
    void *opaque;
    CURLM *multi; /* worker only, except curl_multi_wakeup() */
    pthread_t thr;
    int thr_started;

    pthread_mutex_t mu;  /* guards everything below */
    pthread_cond_t work; /* queue or stop changed (worker, backoff) */
    pthread_cond_t idle; /* worker went idle (flush) */
    struct job *q;
    size_t q_head, q_len, q_cap;
    int busy;     /* a job is being processed */
    int uncalled; /* ... and has not made its first call yet */
    int stop;
    int64_t *calls; /* start times of the attempts of the last hour */
    size_t calls_head, calls_n, calls_cap;
    int fails;          /* consecutive failed attempts */
    int64_t open_until; /* breaker open while now < open_until */
    struct spc_llm_stats st;
};

static void llm_log(const struct spc_llm *l, int level, const char *fmt, ...)
    SPC_PRINTF(3, 4);

static void llm_log(const struct spc_llm *l, int level, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;

    if (level == SPC_LLM_LOG_DEBUG && !l->o.debug)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (l->o.log)
        l->o.log(level, msg, l->o.log_opaque);
    else if (level >= SPC_LLM_LOG_WARN || l->o.debug)
        fprintf(stderr, "spcstream: llm: %s\n", msg);
}

static void wipe(void *p, size_t n)
{
    volatile unsigned char *v = p;

    while (n--)
        *v++ = 0;
}

static void job_free(struct job *j)
{
    free(j->id);
    free(j->facts);
    memset(j, 0, sizeof(*j));
}

/* Absolute CLOCK_MONOTONIC time of @p ms (the conds use that clock). */
static struct timespec mono_ts(int64_t ms)
{
    struct timespec ts;

    ts.tv_sec = (time_t)(ms / 1000);
    ts.tv_nsec = (long)(ms % 1000) * 1000000L;
    return ts;
}

/* Attempts started in the last hour (drops older ones).  Under mu. */
static size_t calls_in_hour(struct spc_llm *l, int64_t now)
{
    while (l->calls_n && l->calls[l->calls_head] <= now - HOUR_MS) {
        l->calls_head = (l->calls_head + 1) % l->calls_cap;
        l->calls_n--;
    }
    return l->calls_n;
}

static void calls_add(struct spc_llm *l, int64_t now)
{
    if (!l->calls_cap)
        return;
    if (l->calls_n == l->calls_cap) { /* full: forget the oldest */
        l->calls_head = (l->calls_head + 1) % l->calls_cap;
        l->calls_n--;
    }
    l->calls[(l->calls_head + l->calls_n++) % l->calls_cap] = now;
}

static int breaker_open(const struct spc_llm *l, int64_t now)
{
    return now < l->open_until;
}

spc_err_t spc_llm_submit(struct spc_llm *l, const char *incident_id,
                         uint32_t revision, const char *facts_json)
{
    struct job j = {NULL, revision, NULL};
    spc_err_t err = SPC_ERR_INVALID;
    int64_t now = spc_now_mono_ms();

    if (!l || !incident_id || !facts_json)
        return SPC_ERR_INVALID;
    j.id = spc_strdup(incident_id);
    j.facts = spc_strdup(facts_json);
    if (!j.id || !j.facts) {
        job_free(&j);
        return SPC_ERR_NOMEM;
    }
    pthread_mutex_lock(&l->mu);
    if (l->stop) {
        err = SPC_ERR_INVALID;
    } else if (breaker_open(l, now)) {
        l->st.breaker_open++;
        err = SPC_ERR_RANGE;
    } else if (l->o.max_calls_per_hour > 0 &&
               calls_in_hour(l, now) + l->q_len + (size_t)l->uncalled >=
                   (size_t)l->o.max_calls_per_hour) {
        l->st.rate_limited++;
        err = SPC_ERR_RANGE;
    } else if (l->q_len == l->q_cap) {
        l->st.dropped++;
        err = SPC_ERR_RANGE;
    } else {
        l->q[(l->q_head + l->q_len++) % l->q_cap] = j;
        memset(&j, 0, sizeof(j));
        pthread_cond_signal(&l->work);
        err = SPC_OK;
    }
    pthread_mutex_unlock(&l->mu);
    job_free(&j);
    return err;
}

int spc_llm_flush(struct spc_llm *l, long timeout_ms)
{
    int64_t deadline = spc_now_mono_ms() + timeout_ms;
    struct timespec ts = mono_ts(deadline);
    int idle;

    if (!l)
        return 1;
    pthread_mutex_lock(&l->mu);
    while ((l->q_len || l->busy) && !l->stop && spc_now_mono_ms() < deadline)
        pthread_cond_timedwait(&l->idle, &l->mu, &ts);
    idle = !l->q_len && !l->busy;
    pthread_mutex_unlock(&l->mu);
    return idle;
}

void spc_llm_get_stats(struct spc_llm *l, struct spc_llm_stats *out)
{
    pthread_mutex_lock(&l->mu);
    *out = l->st;
    out->pending = l->q_len + (size_t)l->busy;
    out->breaker_is_open = breaker_open(l, spc_now_mono_ms());
    pthread_mutex_unlock(&l->mu);
}

/* ---- one HTTP attempt (@locality llm) ---- */

struct xfer {
    struct spc_buf body;
    size_t max;
    int too_long;
};

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    struct xfer *x = ud;
    size_t n = size * nmemb;

    if (x->body.len + n > x->max) {
        x->too_long = 1;
        return 0; /* aborts the transfer */
    }
    spc_buf_append(&x->body, p, n);
    return spc_buf_ok(&x->body) ? n : 0;
}

/* A header line that carries a credential (name ends with a colon). */
static int is_secret_header(const char *line, size_t n)
{
    static const char *const names[] = {
        "authorization:", "api-key:", "x-api-key:", "proxy-authorization:"};
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(names); i++)
        if (n >= strlen(names[i]) &&
            !strncasecmp(line, names[i], strlen(names[i])))
            return 1;
    return 0;
}

/* Debug trace: header lines one by one, Authorization (or anything named
 * like a key) redacted; bodies cut short. */
static int on_debug(CURL *h, curl_infotype type, char *data, size_t size,
                    void *ud)
{
    const struct spc_llm *l = ud;
    const char *dir =
        type == CURLINFO_HEADER_OUT || type == CURLINFO_DATA_OUT ? ">" : "<";
    struct spc_buf b;
    size_t i, start = 0;

    (void)h;
    if (type == CURLINFO_DATA_IN || type == CURLINFO_DATA_OUT) {
        spc_buf_init(&b);
        sanitize(&b, data, size, 2000);
        llm_log(l, SPC_LLM_LOG_DEBUG, "%s body (%zu bytes): %s", dir, size,
                b.data ? b.data : "");
        spc_buf_fini(&b);
        return 0;
    }
    if (type != CURLINFO_HEADER_IN && type != CURLINFO_HEADER_OUT &&
        type != CURLINFO_TEXT)
        return 0;
    for (i = 0; i <= size; i++) {
        const char *line = data + start;
        size_t n = i - start;

        if (i < size && data[i] != '\n')
            continue;
        start = i + 1;
        while (n && (line[n - 1] == '\r' || line[n - 1] == '\n'))
            n--;
        if (!n)
            continue;
        if (type == CURLINFO_HEADER_OUT && is_secret_header(line, n))
            llm_log(l, SPC_LLM_LOG_DEBUG, "%s %.*s [redacted]", dir,
                    (int)((const char *)memchr(line, ':', n) - line + 1), line);
        else
            llm_log(l, SPC_LLM_LOG_DEBUG, "%s %.*s",
                    type == CURLINFO_TEXT ? "*" : dir, (int)SPC_MIN(n, 500),
                    line);
    }
    return 0;
}

static int stopping(struct spc_llm *l)
{
    int s;

    pthread_mutex_lock(&l->mu);
    s = l->stop;
    pthread_mutex_unlock(&l->mu);
    return s;
}

/* Run @p h on the multi handle until done or stop.  @returns the transfer
 * result; *cancelled when stopped. */
static CURLcode perform(struct spc_llm *l, CURL *h, int *cancelled)
{
    CURLcode rc = CURLE_FAILED_INIT;
    CURLMsg *m;
    int running = 1, left;

    *cancelled = 0;
    if (curl_multi_add_handle(l->multi, h) != CURLM_OK)
        return rc;
    for (;;) {
        if (curl_multi_perform(l->multi, &running) != CURLM_OK || !running)
            break;
        if (stopping(l)) {
            *cancelled = 1;
            break;
        }
        if (curl_multi_poll(l->multi, NULL, 0, 1000, NULL) != CURLM_OK)
            break;
    }
    while ((m = curl_multi_info_read(l->multi, &left)))
        if (m->msg == CURLMSG_DONE && m->easy_handle == h)
            rc = m->data.result;
    curl_multi_remove_handle(l->multi, h);
    if (!*cancelled && stopping(l))
        *cancelled = 1;
    return rc;
}

struct outcome {
    CURLcode rc;
    long status;
    long retry_after_ms; /* -1: none */
    int too_long, cancelled;
    char detail[128]; /* error.message of a non-2xx answer, sanitized */
};

/* The server's "error": {"message": ...} (OpenAI style) or "error": "...",
 * sanitized and short, into r->detail. */
static void error_detail(const struct xfer *x, struct outcome *r)
{
    json_t *root =
        json_loadb(x->body.data ? x->body.data : "", x->body.len, 0, NULL);
    const json_t *e = json_object_get(root, "error");
    const char *msg = json_is_string(e)
                          ? json_string_value(e)
                          : json_string_value(json_object_get(e, "message"));
    struct spc_buf b;

    r->detail[0] = '\0';
    if (msg) {
        spc_buf_init(&b);
        sanitize(&b, msg, strlen(msg), sizeof(r->detail) - 4);
        if (spc_buf_ok(&b) && b.data)
            snprintf(r->detail, sizeof(r->detail), "%s", b.data);
        spc_buf_fini(&b);
    }
    json_decref(root);
}

static void http_post(struct spc_llm *l, const struct spc_buf *req,
                      struct xfer *x, struct outcome *r)
{
    CURL *h = curl_easy_init();
    curl_off_t ra = -1;

    memset(r, 0, sizeof(*r));
    r->rc = CURLE_FAILED_INIT;
    r->retry_after_ms = -1;
    if (!h)
        return;
    curl_easy_setopt(h, CURLOPT_URL, l->o.endpoint);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req->data);
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->len);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, l->headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "spcstream-llm/1");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, l->o.timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     SPC_MIN(l->o.timeout_ms, 10000L));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(h, CURLOPT_PROTOCOLS, CURLPROTO_HTTP | CURLPROTO_HTTPS);
#endif
    if (l->o.debug) {
        curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_debug);
        curl_easy_setopt(h, CURLOPT_DEBUGDATA, l);
        curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    }
    r->rc = perform(l, h, &r->cancelled);
    r->too_long = x->too_long;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
    if (curl_easy_getinfo(h, CURLINFO_RETRY_AFTER, &ra) == CURLE_OK && ra > 0)
        r->retry_after_ms = ra > 86400 ? 86400000L : (long)ra * 1000L;
    curl_easy_cleanup(h);
}

/* A failed attempt towards the breaker.  Under mu. */
static void breaker_fail(struct spc_llm *l, int64_t now)
{
    if (++l->fails < l->o.breaker_failures)
        return;
    l->open_until = now + l->o.breaker_cooldown_ms;
    llm_log(l, SPC_LLM_LOG_WARN,
            "circuit breaker open for %ld ms after %d consecutive failures",
            l->o.breaker_cooldown_ms, l->fails);
}

enum att { ATT_OK, ATT_RETRY, ATT_FAIL, ATT_CANCEL };

/* Before an attempt: stop, breaker, budget; counts the call.  Under mu. */
static enum att attempt_admit(struct spc_llm *l, int attempt, char *err,
                              size_t n)
{
    int64_t now = spc_now_mono_ms();

    if (l->stop)
        return ATT_CANCEL;
    if (breaker_open(l, now)) {
        l->st.breaker_open++;
        spc_errstr_set(err, n, "circuit breaker open");
        return ATT_FAIL;
    }
    if (l->o.max_calls_per_hour > 0 &&
        calls_in_hour(l, now) >= (size_t)l->o.max_calls_per_hour) {
        l->st.rate_limited++;
        spc_errstr_set(err, n, "hourly call budget spent");
        return ATT_FAIL;
    }
    calls_add(l, now);
    l->uncalled = 0;
    l->st.calls++;
    if (attempt)
        l->st.retries++;
    return ATT_OK;
}

/* Classify an attempt's transport outcome.  Under mu. */
static enum att attempt_classify(struct spc_llm *l, const struct outcome *r,
                                 const struct xfer *x, char *err, size_t n)
{
    int64_t now = spc_now_mono_ms();

    if (r->cancelled || l->stop)
        return ATT_CANCEL;
    if (r->too_long) {
        l->fails = 0; /* the server answered */
        l->st.too_long++;
        spc_errstr_set(err, n, "reply over %zu bytes", x->max);
        return ATT_FAIL;
    }
    if (r->rc == CURLE_OPERATION_TIMEDOUT) {
        l->st.timeouts++;
        breaker_fail(l, now);
        spc_errstr_set(err, n, "timeout after %ld ms", l->o.timeout_ms);
        return ATT_RETRY;
    }
    if (r->rc != CURLE_OK) {
        l->st.http_errors++;
        breaker_fail(l, now);
        spc_errstr_set(err, n, "network: %s", curl_easy_strerror(r->rc));
        return ATT_RETRY;
    }
    if (r->status < 200 || r->status > 299) {
        l->st.http_errors++;
        breaker_fail(l, now);
        spc_errstr_set(err, n, "HTTP %ld%s%s", r->status,
                       r->detail[0] ? ": " : "", r->detail);
        return r->status == 429 || r->status >= 500 ? ATT_RETRY : ATT_FAIL;
    }
    l->fails = 0;
    return ATT_OK;
}

/* Parse a 2xx body; counts the outcome.  @returns 1 with *adv on success. */
static int attempt_parse(struct spc_llm *l, const struct xfer *x,
                         struct spc_advice *adv, char *err, size_t n)
{
    spc_err_t e;

    e = spc_llm_parse_reply(x->body.data ? x->body.data : "", x->body.len,
                            x->max, adv, err, n);
    pthread_mutex_lock(&l->mu);
    if (e == SPC_OK)
        l->st.ok++;
    else if (e == SPC_ERR_RANGE)
        l->st.too_long++;
    else if (e == SPC_ERR_INVALID)
        l->st.schema_errors++;
    else
        l->st.bad_json++;
    pthread_mutex_unlock(&l->mu);
    return e == SPC_OK;
}

/* Backoff before retry @p attempt (1-based): backoff_ms * 2^(attempt-1),
 * at least the server's Retry-After, at most max_backoff_ms. */
static long backoff_delay(const struct spc_llm *l, int attempt,
                          long retry_after_ms)
{
    long d = l->o.backoff_ms;
    int i;

    for (i = 1; i < attempt && d < l->o.max_backoff_ms; i++)
        d *= 2;
    if (retry_after_ms > d)
        d = retry_after_ms;
    return SPC_MIN(d, l->o.max_backoff_ms);
}

/* Sleep @p ms unless stopped.  @returns 0 when stopped. */
static int backoff_wait(struct spc_llm *l, long ms)
{
    int64_t deadline = spc_now_mono_ms() + ms;
    struct timespec ts = mono_ts(deadline);
    int go;

    pthread_mutex_lock(&l->mu);
    while (!l->stop && spc_now_mono_ms() < deadline)
        pthread_cond_timedwait(&l->work, &l->mu, &ts);
    go = !l->stop;
    pthread_mutex_unlock(&l->mu);
    return go;
}

/* Attempts until advice, a final failure or cancellation. */
static enum att run_attempts(struct spc_llm *l, const struct job *j,
                             const struct spc_buf *req, struct spc_advice *adv,
                             char *err, size_t n)
{
    struct xfer x;
    struct outcome r;
    enum att a;
    int attempt, open;

    for (attempt = 0;; attempt++) {
        pthread_mutex_lock(&l->mu);
        a = attempt_admit(l, attempt, err, n);
        pthread_mutex_unlock(&l->mu);
        if (a != ATT_OK)
            return a;
        spc_buf_init(&x.body);
        x.max = l->o.max_reply_bytes;
        x.too_long = 0;
        http_post(l, req, &x, &r);
        if (r.rc == CURLE_OK && (r.status < 200 || r.status > 299))
            error_detail(&x, &r);
        pthread_mutex_lock(&l->mu);
        a = attempt_classify(l, &r, &x, err, n);
        open = breaker_open(l, spc_now_mono_ms());
        pthread_mutex_unlock(&l->mu);
        if (a == ATT_OK)
            a = attempt_parse(l, &x, adv, err, n) ? ATT_OK : ATT_FAIL;
        spc_buf_fini(&x.body);
        if (a != ATT_RETRY)
            return a;
        if (attempt >= l->o.max_retries || open) {
            if (attempt)
                snprintf(err + strlen(err), n - strlen(err), " (%d attempts%s)",
                         attempt + 1, open ? ", circuit breaker opened" : "");
            return ATT_FAIL;
        }
        r.retry_after_ms = backoff_delay(l, attempt + 1, r.retry_after_ms);
        llm_log(l, SPC_LLM_LOG_INFO,
                "incident %.32s rev %u: %s; retry %d/%d in %ld ms", j->id,
                j->revision, err, attempt + 1, l->o.max_retries,
                r.retry_after_ms);
        if (!backoff_wait(l, r.retry_after_ms))
            return ATT_CANCEL;
    }
}

static void run_job(struct spc_llm *l, struct job *j)
{
    struct spc_advice adv;
    struct spc_buf req;
    char err[256] = "";
    enum att a = ATT_FAIL;
    spc_err_t e;

    memset(&adv, 0, sizeof(adv));
    spc_buf_init(&req);
    e = spc_llm_build_request(&l->o, l->tpl, j->facts, &req);
    if (e) {
        snprintf(err, sizeof(err), "cannot build the prompt: %s",
                 spc_err2str(e));
        pthread_mutex_lock(&l->mu);
        l->st.dropped++;
        l->uncalled = 0;
        pthread_mutex_unlock(&l->mu);
    } else {
        a = run_attempts(l, j, &req, &adv, err, sizeof(err));
    }
    spc_buf_fini(&req);
    if (a == ATT_CANCEL)
        return;
    if (a != ATT_OK)
        llm_log(l, SPC_LLM_LOG_WARN,
                "incident %.32s rev %u: %s (rule advice "
                "stands)",
                j->id, j->revision, err);
    l->cb(j->id, j->revision, a == ATT_OK ? &adv : NULL,
          a == ATT_OK ? NULL : err, l->opaque);
    spc_advice_fini(&adv);
}

/* @locality llm */
static void *worker_main(void *arg)
{
    struct spc_llm *l = arg;
    struct job j;

    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->stop && !l->q_len) {
            l->busy = 0;
            pthread_cond_broadcast(&l->idle);
            pthread_cond_wait(&l->work, &l->mu);
        }
        if (l->stop)
            break;
        j = l->q[l->q_head];
        l->q_head = (l->q_head + 1) % l->q_cap;
        l->q_len--;
        l->busy = 1;
        l->uncalled = 1;
        pthread_mutex_unlock(&l->mu);
        run_job(l, &j);
        job_free(&j);
        pthread_mutex_lock(&l->mu);
        l->uncalled = 0;
    }
    l->busy = 0;
    pthread_cond_broadcast(&l->idle);
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

/* ---- lifecycle ---- */

static char *read_file(const char *path, char *errstr, size_t size)
{
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t n;

    if (!f) {
        spc_errstr_set(errstr, size, "llm.template: cannot open %s: %s", path,
                       strerror(errno));
        return NULL;
    }
    text = spc_malloc(TEMPLATE_MAX + 1);
    if (!text) {
        spc_errstr_set(errstr, size, "out of memory");
        goto out;
    }
    n = fread(text, 1, TEMPLATE_MAX + 1, f);
    if (ferror(f) || n > TEMPLATE_MAX) {
        spc_errstr_set(errstr, size, "llm.template: %s: %s", path,
                       ferror(f) ? "read error" : "larger than 256 KiB");
        free(text);
        text = NULL;
        goto out;
    }
    text[n] = '\0';
out:
    fclose(f);
    return text;
}

/* Request headers; the Authorization line only when the key is set. */
static spc_err_t make_headers(struct spc_llm *l, char *errstr, size_t size)
{
    const char *env = l->o.api_key_env ? l->o.api_key_env : ENV_KEY_DEFAULT;
    const char *key = getenv(env);
    static const char *const fixed[] = {"Content-Type: application/json",
                                        "Accept: application/json", "Expect:"};
    struct curl_slist *s;
    struct spc_buf b;
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(fixed); i++) {
        s = curl_slist_append(l->headers, fixed[i]);
        if (!s)
            return SPC_ERR_NOMEM;
        l->headers = s;
    }
    if (!key || !*key)
        return SPC_OK;
    for (i = 0; key[i]; i++)
        if ((unsigned char)key[i] < 0x20 || key[i] == 0x7f) {
            spc_errstr_set(errstr, size,
                           "llm: the API key in $%s contains "
                           "control characters",
                           env);
            return SPC_ERR_INVALID;
        }
    spc_buf_init(&b);
    spc_buf_printf(&b, "Authorization: Bearer %s", key);
    s = spc_buf_ok(&b) ? curl_slist_append(l->headers, b.data) : NULL;
    if (b.data)
        wipe(b.data, b.cap);
    spc_buf_fini(&b);
    if (!s)
        return SPC_ERR_NOMEM;
    l->headers = s;
    l->has_key = 1;
    return SPC_OK;
}

static void llm_free(struct spc_llm *l)
{
    struct curl_slist *s;

    while (l->q_len) {
        job_free(&l->q[l->q_head]);
        l->q_head = (l->q_head + 1) % l->q_cap;
        l->q_len--;
    }
    free(l->q);
    free(l->calls);
    for (s = l->headers; s; s = s->next)
        wipe(s->data, strlen(s->data));
    curl_slist_free_all(l->headers);
    if (l->multi)
        curl_multi_cleanup(l->multi);
    if (l->curl_inited)
        curl_global_cleanup();
    free(l->tpl);
    spc_llm_opts_fini(&l->o);
    pthread_cond_destroy(&l->idle);
    pthread_cond_destroy(&l->work);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static spc_err_t llm_init(struct spc_llm *l, const struct spc_llm_opts *o,
                          char *errstr, size_t size)
{
    spc_err_t err;

    if (!o->enabled || !o->endpoint || !o->queue_size) {
        spc_errstr_set(errstr, size, "llm: %s",
                       !o->enabled    ? "not enabled"
                       : !o->endpoint ? "no endpoint"
                                      : "queue_size 0");
        return SPC_ERR_INVALID;
    }
    err = opts_copy(&l->o, o);
    if (err)
        return err;
    if (o->template_path) {
        l->tpl = read_file(o->template_path, errstr, size);
        if (!l->tpl)
            return SPC_ERR_INVALID;
        err = spc_llm_check_template(l->tpl, errstr, size);
        if (err)
            return err;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        spc_errstr_set(errstr, size, "llm: curl_global_init failed");
        return SPC_ERR_FATAL;
    }
    l->curl_inited = 1;
    err = make_headers(l, errstr, size);
    if (err)
        return err;
    l->multi = curl_multi_init();
    l->q_cap = o->queue_size;
    l->q = spc_calloc(l->q_cap, sizeof(*l->q));
    l->calls_cap =
        o->max_calls_per_hour > 0 ? (size_t)o->max_calls_per_hour : 0;
    l->calls = l->calls_cap ? spc_calloc(l->calls_cap, sizeof(int64_t)) : NULL;
    if (!l->multi || !l->q || (l->calls_cap && !l->calls))
        return SPC_ERR_NOMEM;
    return SPC_OK;
}

struct spc_llm *spc_llm_new(const struct spc_llm_opts *o, spc_llm_reply_cb *cb,
                            void *opaque, char *errstr, size_t size)
{
    struct spc_llm *l = spc_calloc(1, sizeof(*l));
    pthread_condattr_t ca;
    spc_err_t err;
    const char *q;

    if (!l || !cb || !o) {
        spc_errstr_set(errstr, size, "llm: %s",
                       l ? "no options or callback" : "out of memory");
        free(l);
        return NULL;
    }
    l->cb = cb;
    l->opaque = opaque;
    pthread_mutex_init(&l->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->work, &ca);
    pthread_cond_init(&l->idle, &ca);
    pthread_condattr_destroy(&ca);
    err = llm_init(l, o, errstr, size);
    if (err == SPC_ERR_NOMEM)
        spc_errstr_set(errstr, size, "llm: out of memory");
    if (!err && pthread_create(&l->thr, NULL, worker_main, l) != 0) {
        spc_errstr_set(errstr, size, "llm: cannot start the worker thread");
        err = SPC_ERR_FATAL;
    }
    if (err) {
        llm_free(l);
        return NULL;
    }
    l->thr_started = 1;
    q = strchr(l->o.endpoint, '?');
    llm_log(l, SPC_LLM_LOG_INFO, "advisor: POST %.*s model %s, API key %s",
            q ? (int)(q - l->o.endpoint) : (int)strlen(l->o.endpoint),
            l->o.endpoint, l->o.model ? l->o.model : MODEL_DEFAULT,
            l->has_key ? "set" : "not set");
    return l;
}

void spc_llm_destroy(struct spc_llm *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->mu);
    l->stop = 1;
    pthread_cond_broadcast(&l->work);
    pthread_cond_broadcast(&l->idle);
    pthread_mutex_unlock(&l->mu);
    if (l->multi)
        curl_multi_wakeup(l->multi);
    if (l->thr_started)
        pthread_join(l->thr, NULL);
    llm_free(l);
}
