/*
 * spc_common.c -- error strings, assertion failure, allocation wrappers with
 * a failure-injection hook for tests, and the project hash.
 *
 * THREADING: the allocation failure counter is a test-only global; tests that
 *   use it are single-threaded.
 * REFERENCES: the hash mixing constants are those of the 64-bit finalizer
 *   published with MurmurHash3 (Appleby, public domain); the block loop is a
 *   plain multiply-rotate scheme written for this project.
 */
#include "spc_common.h"

#include <stdarg.h>
#include <string.h>
#include <time.h>

static const char *const err_names[SPC_ERR__COUNT] = {
    [SPC_OK] = "success",
    [SPC_ERR_NOMEM] = "out of memory",
    [SPC_ERR_INVALID] = "invalid input",
    [SPC_ERR_PARSE] = "parse error",
    [SPC_ERR_IO] = "I/O error",
    [SPC_ERR_NOTFOUND] = "not found",
    [SPC_ERR_RANGE] = "value out of range",
    [SPC_ERR_TRANSIENT] = "transient failure, retry",
    [SPC_ERR_FENCED] = "fenced by a newer owner",
    [SPC_ERR_FATAL] = "fatal error",
};

const char *spc_err2str(spc_err_t err)
{
    if ((unsigned)err >= SPC_ERR__COUNT)
        return "unknown error";
    return err_names[err];
}

void spc_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "spcstream: assertion failed: %s (%s:%d)\n", expr, file,
            line);
    abort();
}

void spc_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...)
{
    va_list ap;

    if (!errstr || errstr_size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(errstr, errstr_size, fmt, ap);
    va_end(ap);
}

static unsigned long alloc_fail_at;
static unsigned long alloc_count;

unsigned long spc_alloc_fail_after(unsigned long n)
{
    unsigned long counted = alloc_count;

    alloc_fail_at = n;
    alloc_count = 0;
    return counted;
}

static int alloc_should_fail(void)
{
    alloc_count++;
    return alloc_fail_at != 0 && alloc_count >= alloc_fail_at;
}

void *spc_malloc(size_t n)
{
    if (SPC_UNLIKELY(alloc_fail_at) && alloc_should_fail())
        return NULL;
    return malloc(n ? n : 1);
}

void *spc_calloc(size_t n, size_t size)
{
    if (SPC_UNLIKELY(alloc_fail_at) && alloc_should_fail())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *spc_realloc(void *p, size_t n)
{
    if (SPC_UNLIKELY(alloc_fail_at) && alloc_should_fail())
        return NULL;
    return realloc(p, n ? n : 1);
}

void *spc_zalloc_aligned(size_t align, size_t size)
{
    void *p = NULL;

    if (SPC_UNLIKELY(alloc_fail_at) && alloc_should_fail())
        return NULL;
    size = size ? (size + align - 1) & ~(align - 1) : align;
    if (posix_memalign(&p, align, size) != 0)
        return NULL;
    memset(p, 0, size);
    return p;
}

char *spc_strdup(const char *s)
{
    size_t n;
    char *d;

    if (!s)
        return NULL;
    n = strlen(s) + 1;
    d = spc_malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

static inline uint64_t rotl64(uint64_t x, int r)
{
    return (x << r) | (x >> (64 - r));
}

uint64_t spc_hash64(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ (0x9e3779b97f4a7c15ULL * (len + 1));
    uint64_t w;

    while (len >= 8) {
        memcpy(&w, p, 8);
        h = rotl64(h ^ (w * 0x87c37b91114253d5ULL), 29) * 0x4cf5ad432745937fULL;
        p += 8;
        len -= 8;
    }
    w = 0;
    memcpy(&w, p, len);
    h ^= w * 0x87c37b91114253d5ULL;
    return spc_mix64(h);
}

int64_t spc_now_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}
