/*
 * spc_common.h -- error codes, assertions and small helpers shared by every
 * spcstream module.
 *
 * OWNERSHIP: nothing here allocates except spc_strdup() (returns owned,
 * free with free()).
 */
#ifndef SPC_COMMON_H
#define SPC_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/** Result of every fallible function; SPC_OK is zero. */
typedef enum spc_err {
    SPC_OK = 0,
    SPC_ERR_NOMEM,     /**< allocation failed */
    SPC_ERR_INVALID,   /**< invalid argument or input (poison) */
    SPC_ERR_PARSE,     /**< malformed JSON / encoding */
    SPC_ERR_IO,        /**< file or socket error */
    SPC_ERR_NOTFOUND,  /**< looked-up item does not exist */
    SPC_ERR_RANGE,     /**< value out of the allowed range */
    SPC_ERR_TRANSIENT, /**< retry later (broker/Redis unavailable) */
    SPC_ERR_FENCED,    /**< another owner took over (checkpoint fencing) */
    SPC_ERR_FATAL,     /**< unrecoverable; drain and exit non-zero */
    SPC_ERR__COUNT
} spc_err_t;

/** @returns a static English description of @p err. */
const char *spc_err2str(spc_err_t err);

#if defined(__GNUC__)
#define SPC_WUR __attribute__((warn_unused_result))
#define SPC_PRINTF(f, a) __attribute__((format(printf, f, a)))
#define SPC_LIKELY(x) __builtin_expect(!!(x), 1)
#define SPC_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define SPC_WUR
#define SPC_PRINTF(f, a)
#define SPC_LIKELY(x) (x)
#define SPC_UNLIKELY(x) (x)
#endif

/** Programmer errors only; input is validated, never asserted. */
#define SPC_ASSERT(cond)                                                       \
    do {                                                                       \
        if (SPC_UNLIKELY(!(cond)))                                             \
            spc_assert_fail(#cond, __FILE__, __LINE__);                        \
    } while (0)

void spc_assert_fail(const char *expr, const char *file, int line);

#define SPC_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SPC_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SPC_MAX(a, b) ((a) > (b) ? (a) : (b))

/** snprintf into errstr when it is non-NULL; always NUL-terminates. */
void spc_errstr_set(char *errstr, size_t errstr_size, const char *fmt, ...)
    SPC_PRINTF(3, 4);

/** @returns owned copy of @p s (free with free()), NULL on OOM or s NULL. */
char *spc_strdup(const char *s);

/** Allocation wrappers: abort-free, return NULL on failure.  The
 *  allocation-failure sweep in the tests makes them fail on demand. */
void *spc_malloc(size_t n);
void *spc_calloc(size_t n, size_t size);
void *spc_realloc(void *p, size_t n);
/** Zeroed @p size bytes at a multiple of @p align (a power of two, at
 *  least sizeof(void *)); free with free(). */
void *spc_zalloc_aligned(size_t align, size_t size);

/** Test hook: make the N-th following allocation (1-based) fail; 0 = off.
 *  @returns the number of allocations counted since the last call. */
unsigned long spc_alloc_fail_after(unsigned long n);

/** 64-bit hash of a byte string (deterministic, seedable). */
uint64_t spc_hash64(const void *data, size_t len, uint64_t seed);

/** Mix a 64-bit integer (finalizer of a multiplicative hash). */
static inline uint64_t spc_mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ULL;
    x ^= x >> 33;
    return x;
}

/** Milliseconds since the Unix epoch of the monotonic clock (for rates and
 *  timeouts only, never for decisions that must be replayable). */
int64_t spc_now_mono_ms(void);

#endif /* SPC_COMMON_H */
