/*
 * spc_buf.c -- growable buffer, little-endian codec primitives and the JSON
 * writer.
 *
 * FAILURE MODES: OOM is sticky in the buffer (see spc_buf.h); decoding past
 *   the end of the input is sticky in the reader.
 * REFERENCES: RFC 8259 (JSON) section 7 for string escaping.
 */
#include "spc_buf.h"

#include <math.h>
#include <string.h>

void spc_buf_init(struct spc_buf *b)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}

void spc_buf_fini(struct spc_buf *b)
{
    free(b->data);
    spc_buf_init(b);
}

int spc_buf_reserve(struct spc_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;

    if (b->oom)
        return 0;
    need = b->len + extra + 1;
    if (need <= b->cap)
        return 1;
    cap = b->cap ? b->cap : 256;
    while (cap < need)
        cap *= 2;
    p = spc_realloc(b->data, cap);
    if (!p) {
        b->oom = 1;
        return 0;
    }
    b->data = p;
    b->cap = cap;
    return 1;
}

void spc_buf_append(struct spc_buf *b, const void *p, size_t n)
{
    if (!spc_buf_reserve(b, n))
        return;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
}

void spc_buf_puts(struct spc_buf *b, const char *s)
{
    spc_buf_append(b, s, strlen(s));
}

void spc_buf_putc(struct spc_buf *b, char c)
{
    if (!spc_buf_reserve(b, 1))
        return;
    b->data[b->len++] = c;
    b->data[b->len] = '\0';
}

void spc_buf_vprintf(struct spc_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;

    if (!spc_buf_reserve(b, 64))
        return;
    va_copy(ap2, ap);
    n = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    if (n < 0) {
        va_end(ap2);
        return;
    }
    if ((size_t)n >= b->cap - b->len) {
        if (!spc_buf_reserve(b, (size_t)n)) {
            va_end(ap2);
            return;
        }
        vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap2);
    }
    va_end(ap2);
    b->len += (size_t)n;
}

void spc_buf_printf(struct spc_buf *b, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    spc_buf_vprintf(b, fmt, ap);
    va_end(ap);
}

void spc_buf_u8(struct spc_buf *b, uint8_t v)
{
    spc_buf_append(b, &v, 1);
}

void spc_buf_u16(struct spc_buf *b, uint16_t v)
{
    unsigned char x[2] = {(unsigned char)v, (unsigned char)(v >> 8)};

    spc_buf_append(b, x, 2);
}

void spc_buf_u32(struct spc_buf *b, uint32_t v)
{
    unsigned char x[4];
    int i;

    for (i = 0; i < 4; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    spc_buf_append(b, x, 4);
}

void spc_buf_u64(struct spc_buf *b, uint64_t v)
{
    unsigned char x[8];
    int i;

    for (i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    spc_buf_append(b, x, 8);
}

void spc_buf_f64(struct spc_buf *b, double v)
{
    uint64_t u;

    memcpy(&u, &v, 8);
    spc_buf_u64(b, u);
}

void spc_buf_str(struct spc_buf *b, const char *s)
{
    size_t n;

    if (!s) {
        spc_buf_u32(b, UINT32_MAX);
        return;
    }
    n = strlen(s);
    spc_buf_u32(b, (uint32_t)n);
    spc_buf_append(b, s, n);
}

void spc_rd_init(struct spc_rd *r, const void *data, size_t len)
{
    r->p = data;
    r->end = r->p + len;
    r->err = 0;
}

static const unsigned char *rd_take(struct spc_rd *r, size_t n)
{
    const unsigned char *p = r->p;

    if (r->err || (size_t)(r->end - r->p) < n) {
        r->err = 1;
        return NULL;
    }
    r->p += n;
    return p;
}

uint8_t spc_rd_u8(struct spc_rd *r)
{
    const unsigned char *p = rd_take(r, 1);

    return p ? p[0] : 0;
}

uint16_t spc_rd_u16(struct spc_rd *r)
{
    const unsigned char *p = rd_take(r, 2);

    return p ? (uint16_t)(p[0] | (p[1] << 8)) : 0;
}

uint32_t spc_rd_u32(struct spc_rd *r)
{
    const unsigned char *p = rd_take(r, 4);
    uint32_t v = 0;
    int i;

    if (!p)
        return 0;
    for (i = 3; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

uint64_t spc_rd_u64(struct spc_rd *r)
{
    const unsigned char *p = rd_take(r, 8);
    uint64_t v = 0;
    int i;

    if (!p)
        return 0;
    for (i = 7; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

double spc_rd_f64(struct spc_rd *r)
{
    uint64_t u = spc_rd_u64(r);
    double v;

    memcpy(&v, &u, 8);
    return v;
}

const char *spc_rd_str(struct spc_rd *r, uint32_t *len)
{
    uint32_t n = spc_rd_u32(r);
    const unsigned char *p;

    *len = 0;
    if (r->err || n == UINT32_MAX)
        return NULL;
    p = rd_take(r, n);
    if (!p)
        return NULL;
    *len = n;
    return (const char *)p;
}

/* Length of a valid UTF-8 sequence starting at s (1..4), 0 if invalid. */
static size_t utf8_seq_len(const unsigned char *s, size_t avail)
{
    size_t n, i;
    uint32_t cp;

    if (s[0] < 0x80)
        return 1;
    if (s[0] >= 0xc2 && s[0] <= 0xdf)
        n = 2, cp = s[0] & 0x1f;
    else if (s[0] >= 0xe0 && s[0] <= 0xef)
        n = 3, cp = s[0] & 0x0f;
    else if (s[0] >= 0xf0 && s[0] <= 0xf4)
        n = 4, cp = s[0] & 0x07;
    else
        return 0;
    if (avail < n)
        return 0;
    for (i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
        (n == 4 && (cp < 0x10000 || cp > 0x10ffff)))
        return 0;
    return n;
}

void spc_json_strn(struct spc_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s, *end = p + n;

    spc_buf_putc(b, '"');
    while (p < end) {
        const unsigned char *run = p;
        size_t len;

        while (p < end && *p >= 0x20 && *p != '"' && *p != '\\' && *p < 0x80)
            p++;
        if (p > run)
            spc_buf_append(b, run, (size_t)(p - run));
        if (p == end)
            break;
        if (*p >= 0x80) {
            len = utf8_seq_len(p, (size_t)(end - p));
            if (len) {
                spc_buf_append(b, p, len);
                p += len;
            } else {
                spc_buf_append(b, "\xef\xbf\xbd", 3);
                p++;
            }
            continue;
        }
        switch (*p) {
        case '"':
            spc_buf_append(b, "\\\"", 2);
            break;
        case '\\':
            spc_buf_append(b, "\\\\", 2);
            break;
        case '\n':
            spc_buf_append(b, "\\n", 2);
            break;
        case '\r':
            spc_buf_append(b, "\\r", 2);
            break;
        case '\t':
            spc_buf_append(b, "\\t", 2);
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15]};

            spc_buf_append(b, u, 6);
        }
        }
        p++;
    }
    spc_buf_putc(b, '"');
}

void spc_json_str(struct spc_buf *b, const char *s)
{
    if (!s) {
        spc_buf_append(b, "null", 4);
        return;
    }
    spc_json_strn(b, s, strlen(s));
}

size_t spc_fmt_double(char *out, size_t size, double v)
{
    int n;

    if (!isfinite(v))
        return (size_t)snprintf(out, size, "null");
    if (v == 0.0)
        return (size_t)snprintf(out, size, "0");
    if (fabs(v) < 1e15 && v == (double)(int64_t)v)
        return (size_t)snprintf(out, size, "%lld", (long long)v);
    n = snprintf(out, size, "%.15g", v);
    if (strtod(out, NULL) != v)
        n = snprintf(out, size, "%.17g", v);
    return (size_t)n;
}

void spc_json_num(struct spc_buf *b, double v)
{
    char tmp[40];
    size_t n = spc_fmt_double(tmp, sizeof(tmp), v);

    spc_buf_append(b, tmp, n);
}

void spc_json_int(struct spc_buf *b, int64_t v)
{
    spc_buf_printf(b, "%lld", (long long)v);
}

void spc_json_key(struct spc_buf *b, const char *key)
{
    spc_json_str(b, key);
    spc_buf_putc(b, ':');
}

struct spc_arena_chunk {
    struct spc_arena_chunk *next;
    size_t used, cap;
    _Alignas(8) char data[];
};

void spc_arena_init(struct spc_arena *a, size_t chunk_size)
{
    a->head = NULL;
    a->chunk_size = chunk_size ? chunk_size : 4096;
    a->bytes = 0;
}

void spc_arena_fini(struct spc_arena *a)
{
    struct spc_arena_chunk *c, *next;

    for (c = a->head; c; c = next) {
        next = c->next;
        free(c);
    }
    a->head = NULL;
    a->bytes = 0;
}

void spc_arena_reset(struct spc_arena *a)
{
    struct spc_arena_chunk *c, *next, *keep = NULL;

    for (c = a->head; c; c = next) {
        next = c->next;
        if (!keep || c->cap > keep->cap) {
            if (keep)
                free(keep);
            keep = c;
        } else {
            free(c);
        }
    }
    a->head = keep;
    a->bytes = 0;
    if (keep) {
        keep->next = NULL;
        keep->used = 0;
        a->bytes = sizeof(*keep) + keep->cap;
    }
}

void *spc_arena_alloc(struct spc_arena *a, size_t n)
{
    struct spc_arena_chunk *c = a->head;
    size_t need = (n + 7) & ~(size_t)7;
    void *p;

    if (!c || c->cap - c->used < need) {
        size_t cap = need > a->chunk_size ? need : a->chunk_size;

        c = spc_malloc(sizeof(*c) + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->bytes += sizeof(*c) + cap;
    }
    p = c->data + c->used;
    c->used += need;
    return p;
}

char *spc_arena_strndup(struct spc_arena *a, const char *s, size_t n)
{
    char *d = spc_arena_alloc(a, n + 1);

    if (!d)
        return NULL;
    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}
