/*
 * spc_json.c -- one-pass in-situ JSON reader (see spc_json.h).
 *
 * DATA FLOW: input bytes -> private NUL-terminated copy -> recursive
 *   descent (depth-limited) -> nodes appended to one array; strings
 *   unescaped in place; numbers: integers with overflow check, reals by an
 *   exact fast path (Clinger: mantissa < 2^53 and |power of ten| <= 22 give
 *   a correctly rounded m * 10^e or m / 10^e) or strtod.
 * REFERENCES: RFC 8259; W. D. Clinger, "How to read floating point numbers
 *   accurately" (PLDI 1990), the exact fast path.
 */
#include "spc_json.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEPTH_MAX 512

struct parser {
    struct spc_jdoc *d;
    char *p, *start;
    int depth;
    char *err;
    size_t errn;
    int failed;
};

void spc_jdoc_init(struct spc_jdoc *d)
{
    memset(d, 0, sizeof(*d));
}

void spc_jdoc_fini(struct spc_jdoc *d)
{
    free(d->text);
    free(d->v);
    memset(d, 0, sizeof(*d));
}

static void perr(struct parser *ps, const char *why)
{
    if (!ps->failed)
        spc_errstr_set(ps->err, ps->errn, "offset %zu: %s",
                       (size_t)(ps->p - ps->start), why);
    ps->failed = 1;
}

static uint32_t node(struct parser *ps, uint8_t type)
{
    struct spc_jdoc *d = ps->d;

    if (d->n == d->cap) {
        uint32_t cap = d->cap ? d->cap * 2 : 256;
        struct spc_jv *v;

        if (cap > (1u << 28)) {
            perr(ps, "too many values");
            return 0;
        }
        v = spc_realloc(d->v, (size_t)cap * sizeof(*v));
        if (!v) {
            spc_errstr_set(ps->err, ps->errn, "out of memory");
            ps->failed = 1;
            return 0;
        }
        d->v = v;
        d->cap = cap;
    }
    memset(&d->v[d->n], 0, sizeof(d->v[0]));
    d->v[d->n].type = type;
    return d->n++;
}

static void ws(struct parser *ps)
{
    while (*ps->p == ' ' || *ps->p == '\n' || *ps->p == '\r' || *ps->p == '\t')
        ps->p++;
}

static int hex4(const char *s, unsigned *out)
{
    unsigned v = 0;
    int i;

    for (i = 0; i < 4; i++) {
        char c = s[i];

        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (unsigned)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

static char *put_utf8(char *o, unsigned cp)
{
    if (cp < 0x80) {
        *o++ = (char)cp;
    } else if (cp < 0x800) {
        *o++ = (char)(0xC0 | (cp >> 6));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
        *o++ = (char)(0xE0 | (cp >> 12));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    } else {
        *o++ = (char)(0xF0 | (cp >> 18));
        *o++ = (char)(0x80 | ((cp >> 12) & 0x3F));
        *o++ = (char)(0x80 | ((cp >> 6) & 0x3F));
        *o++ = (char)(0x80 | (cp & 0x3F));
    }
    return o;
}

/* Length of a valid UTF-8 sequence starting at @p s (lead byte >= 0x80),
 * 0 when invalid (overlong, surrogate, beyond U+10FFFF, truncated). */
static int utf8_len(const unsigned char *s)
{
    unsigned c = s[0];

    if (c >= 0xC2 && c <= 0xDF)
        return (s[1] & 0xC0) == 0x80 ? 2 : 0;
    if (c >= 0xE0 && c <= 0xEF) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xE0 && s[1] < 0xA0) || (c == 0xED && s[1] > 0x9F))
            return 0;
        return 3;
    }
    if (c >= 0xF0 && c <= 0xF4) {
        if ((s[1] & 0xC0) != 0x80 || (s[2] & 0xC0) != 0x80 ||
            (s[3] & 0xC0) != 0x80)
            return 0;
        if ((c == 0xF0 && s[1] < 0x90) || (c == 0xF4 && s[1] > 0x8F))
            return 0;
        return 4;
    }
    return 0;
}

/* At the opening quote; unescapes in place. @returns the string, its
 * length in *len; NULL on error. */
static const char *string(struct parser *ps, uint32_t *len)
{
    char *out = ++ps->p, *s0 = out;

    for (;;) {
        unsigned char c = (unsigned char)*ps->p;

        if (c == '"') {
            *out = '\0';
            *len = (uint32_t)(out - s0);
            ps->p++;
            return s0;
        }
        if (c < 0x20) {
            perr(ps, c ? "control character in a string"
                       : "unterminated "
                         "string");
            return NULL;
        }
        if (c == '\\') {
            char e = ps->p[1];
            unsigned cp, lo;

            switch (e) {
            case '"':
            case '\\':
            case '/':
                *out++ = e;
                ps->p += 2;
                continue;
            case 'b':
                *out++ = '\b';
                ps->p += 2;
                continue;
            case 'f':
                *out++ = '\f';
                ps->p += 2;
                continue;
            case 'n':
                *out++ = '\n';
                ps->p += 2;
                continue;
            case 'r':
                *out++ = '\r';
                ps->p += 2;
                continue;
            case 't':
                *out++ = '\t';
                ps->p += 2;
                continue;
            case 'u':
                if (hex4(ps->p + 2, &cp)) {
                    perr(ps, "invalid \\u escape");
                    return NULL;
                }
                ps->p += 6;
                if (cp >= 0xD800 && cp <= 0xDBFF) {
                    if (ps->p[0] != '\\' || ps->p[1] != 'u' ||
                        hex4(ps->p + 2, &lo) || lo < 0xDC00 || lo > 0xDFFF) {
                        perr(ps, "invalid Unicode surrogate pair");
                        return NULL;
                    }
                    ps->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
                    perr(ps, "invalid Unicode surrogate");
                    return NULL;
                }
                if (cp == 0) {
                    perr(ps, "\\u0000 is not allowed");
                    return NULL;
                }
                out = put_utf8(out, cp);
                continue;
            default:
                perr(ps, "invalid escape");
                return NULL;
            }
        }
        if (c < 0x80) {
            *out++ = (char)c;
            ps->p++;
        } else {
            int n = utf8_len((const unsigned char *)ps->p);

            if (!n) {
                perr(ps, "invalid UTF-8");
                return NULL;
            }
            memmove(out, ps->p, (size_t)n);
            out += n;
            ps->p += n;
        }
    }
}

static const double pow10_exact[] = {
    1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,  1e8,  1e9,  1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

static uint32_t number(struct parser *ps)
{
    char *s = ps->p, *q = s;
    uint64_t m = 0;
    int digits = 0, frac = 0, neg = 0, is_real = 0, exp = 0, exp_neg = 0;
    uint32_t id;

    if (*q == '-') {
        neg = 1;
        q++;
    }
    if (*q == '0') {
        q++;
        digits = 1;
    } else if (*q >= '1' && *q <= '9') {
        while (*q >= '0' && *q <= '9') {
            if (digits < 19)
                m = m * 10 + (uint64_t)(*q - '0');
            digits++;
            q++;
        }
    } else {
        perr(ps, "invalid number");
        return 0;
    }
    if (*q == '.') {
        is_real = 1;
        q++;
        if (!(*q >= '0' && *q <= '9')) {
            perr(ps, "invalid number");
            return 0;
        }
        while (*q >= '0' && *q <= '9') {
            if (digits < 19) {
                m = m * 10 + (uint64_t)(*q - '0');
                frac++;
            }
            digits++;
            q++;
        }
    }
    if (*q == 'e' || *q == 'E') {
        is_real = 1;
        q++;
        if (*q == '+' || *q == '-')
            exp_neg = *q++ == '-';
        if (!(*q >= '0' && *q <= '9')) {
            perr(ps, "invalid number");
            return 0;
        }
        while (*q >= '0' && *q <= '9') {
            if (exp < 100000)
                exp = exp * 10 + (*q - '0');
            q++;
        }
    }
    id = node(ps, is_real ? SPC_J_REAL : SPC_J_INT);
    if (!id)
        return 0;
    if (!is_real) {
        long long v;

        /* int64 with jansson's overflow rule */
        errno = 0;
        v = strtoll(s, NULL, 10);
        if (errno == ERANGE) {
            perr(ps, "too big integer");
            return 0;
        }
        ps->d->v[id].u.i = v;
    } else {
        /* digits counts all mantissa digits (leading zeros of "0.x"
         * included, harmless: they add nothing to m); fast path when every
         * digit made it into m exactly */
        int e10 = (exp_neg ? -exp : exp) - frac;
        int all_in = digits <= 19 && m < (1ULL << 53);
        double d;

        if (all_in && e10 >= -22 && e10 <= 22) {
            d = (double)m;
            d = e10 < 0 ? d / pow10_exact[-e10] : d * pow10_exact[e10];
            if (neg)
                d = -d;
        } else {
            errno = 0;
            d = strtod(s, NULL);
            if (errno == ERANGE && (d == HUGE_VAL || d == -HUGE_VAL)) {
                perr(ps, "real number overflow");
                return 0;
            }
        }
        ps->d->v[id].u.d = d;
    }
    ps->p = q;
    return id;
}

static uint32_t value(struct parser *ps);

static uint32_t container(struct parser *ps, int object)
{
    uint32_t id = node(ps, object ? SPC_J_OBJECT : SPC_J_ARRAY), prev = 0;
    char close = object ? '}' : ']';

    if (!id)
        return 0;
    if (++ps->depth > DEPTH_MAX) {
        perr(ps, "maximum nesting depth exceeded");
        return 0;
    }
    ps->p++;
    ws(ps);
    if (*ps->p == close) {
        ps->p++;
        ps->depth--;
        return id;
    }
    for (;;) {
        const char *key = NULL;
        uint32_t klen, child;

        if (object) {
            if (*ps->p != '"') {
                perr(ps, "string or '}' expected");
                return 0;
            }
            key = string(ps, &klen);
            if (!key)
                return 0;
            ws(ps);
            if (*ps->p != ':') {
                perr(ps, "':' expected");
                return 0;
            }
            ps->p++;
            ws(ps);
        }
        child = value(ps);
        if (!child)
            return 0;
        ps->d->v[child].key = key;
        if (prev)
            ps->d->v[prev].inext = child;
        else
            ps->d->v[id].ichild = child;
        prev = child;
        ps->d->v[id].n++;
        ws(ps);
        if (*ps->p == ',') {
            ps->p++;
            ws(ps);
            continue;
        }
        if (*ps->p == close) {
            ps->p++;
            break;
        }
        perr(ps, object ? "',' or '}' expected" : "',' or ']' expected");
        return 0;
    }
    ps->depth--;
    return id;
}

static uint32_t literal(struct parser *ps, const char *word, uint8_t type)
{
    size_t n = strlen(word);

    if (strncmp(ps->p, word, n) != 0) {
        perr(ps, "invalid token");
        return 0;
    }
    ps->p += n;
    return node(ps, type);
}

static uint32_t value(struct parser *ps)
{
    uint32_t id, len;
    const char *s;

    switch (*ps->p) {
    case '{':
        return container(ps, 1);
    case '[':
        return container(ps, 0);
    case '"':
        id = node(ps, SPC_J_STRING);
        if (!id)
            return 0;
        s = string(ps, &len);
        if (!s)
            return 0;
        ps->d->v[id].u.s = s;
        ps->d->v[id].n = len;
        return id;
    case 't':
        return literal(ps, "true", SPC_J_TRUE);
    case 'f':
        return literal(ps, "false", SPC_J_FALSE);
    case 'n':
        return literal(ps, "null", SPC_J_NULL);
    case '\0':
        perr(ps, "unexpected end of input");
        return 0;
    default:
        if (*ps->p == '-' || (*ps->p >= '0' && *ps->p <= '9'))
            return number(ps);
        perr(ps, "invalid token");
        return 0;
    }
}

const struct spc_jv *spc_json_parse(struct spc_jdoc *d, const char *buf,
                                    size_t len, char *errstr,
                                    size_t errstr_size)
{
    struct parser ps;
    uint32_t root, i;

    if (len + 1 > d->cap_text) {
        char *t = spc_realloc(d->text, len + 1);

        if (!t) {
            spc_errstr_set(errstr, errstr_size, "out of memory");
            return NULL;
        }
        d->text = t;
        d->cap_text = len + 1;
    }
    if (memchr(buf, '\0', len)) {
        spc_errstr_set(errstr, errstr_size, "offset %zu: NUL byte in the input",
                       (size_t)((const char *)memchr(buf, '\0', len) - buf));
        return NULL;
    }
    memcpy(d->text, buf, len);
    d->text[len] = '\0';
    if (!d->cap) {
        d->v = spc_calloc(256, sizeof(*d->v));
        if (!d->v) {
            spc_errstr_set(errstr, errstr_size, "out of memory");
            return NULL;
        }
        d->cap = 256;
    }
    d->n = 1; /* index 0 means "none" */
    memset(&ps, 0, sizeof(ps));
    ps.d = d;
    ps.p = ps.start = d->text;
    ps.err = errstr;
    ps.errn = errstr_size;
    ws(&ps);
    if (*ps.p != '{' && *ps.p != '[') {
        perr(&ps, *ps.p ? "'[' or '{' expected" : "empty input");
        return NULL;
    }
    root = value(&ps);
    if (!root)
        return NULL;
    ws(&ps);
    if (*ps.p) {
        perr(&ps, "end of input expected");
        return NULL;
    }
    /* the node array no longer moves: links become pointers */
    for (i = 1; i < d->n; i++) {
        d->v[i].child = d->v[i].ichild ? &d->v[d->v[i].ichild] : NULL;
        d->v[i].next = d->v[i].inext ? &d->v[d->v[i].inext] : NULL;
    }
    return &d->v[root];
}

const struct spc_jv *spc_jobj_get(const struct spc_jv *obj, const char *key)
{
    const struct spc_jv *v, *found = NULL;

    if (!obj || obj->type != SPC_J_OBJECT)
        return NULL;
    for (v = obj->child; v; v = v->next) /* the last duplicate wins */
        if (!strcmp(v->key, key))
            found = v;
    return found;
}

const struct spc_jv *spc_jarr_get(const struct spc_jv *arr, size_t i)
{
    const struct spc_jv *v;

    if (!arr || arr->type != SPC_J_ARRAY || i >= arr->n)
        return NULL;
    for (v = arr->child; v && i; i--)
        v = v->next;
    return v;
}

int spc_jmeasure_value(const struct spc_jv *v, double *out)
{
    const char *s;
    char *end;
    double d;

    if (!v || v->type == SPC_J_NULL)
        return 0;
    if (v->type == SPC_J_INT || v->type == SPC_J_REAL) {
        d = v->type == SPC_J_INT ? (double)v->u.i : v->u.d;
        if (!isfinite(d))
            return 0;
        *out = d;
        return 1;
    }
    if (v->type != SPC_J_STRING)
        return -1;
    s = v->u.s;
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
