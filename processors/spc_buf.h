/*
 * spc_buf.h -- growable byte buffer and a small JSON writer on top of it
 * (string escaping, round-trip number formatting).  Used for anomaly and
 * incident JSON, checkpoint encodings and LLM prompts.
 *
 * OWNERSHIP: the buffer owns its bytes; spc_buf_fini() frees them.
 * FAILURE MODES: on OOM the buffer enters a sticky error state (oom = 1),
 *   further appends are no-ops; callers check spc_buf_ok() once at the end.
 */
#ifndef SPC_BUF_H
#define SPC_BUF_H

#include "spc_common.h"

#include <stdarg.h>
#include <stdint.h>

struct spc_buf {
    char *data;
    size_t len, cap;
    int oom;
};

void spc_buf_init(struct spc_buf *b);
void spc_buf_fini(struct spc_buf *b);
/** Forget the contents, keep the memory. */
static inline void spc_buf_reset(struct spc_buf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->data)
        b->data[0] = '\0';
}
static inline int spc_buf_ok(const struct spc_buf *b)
{
    return !b->oom;
}
/** Make room for @p extra more bytes (+ NUL); sets oom on failure. */
int spc_buf_reserve(struct spc_buf *b, size_t extra);
void spc_buf_append(struct spc_buf *b, const void *p, size_t n);
void spc_buf_puts(struct spc_buf *b, const char *s);
void spc_buf_putc(struct spc_buf *b, char c);
void spc_buf_printf(struct spc_buf *b, const char *fmt, ...) SPC_PRINTF(2, 3);
void spc_buf_vprintf(struct spc_buf *b, const char *fmt, va_list ap);

/* Binary little-endian encoders/decoders (state codec). */
void spc_buf_u8(struct spc_buf *b, uint8_t v);
void spc_buf_u16(struct spc_buf *b, uint16_t v);
void spc_buf_u32(struct spc_buf *b, uint32_t v);
void spc_buf_u64(struct spc_buf *b, uint64_t v);
void spc_buf_f64(struct spc_buf *b, double v);
/** Length-prefixed (u32) string; NULL encodes as length 0xffffffff. */
void spc_buf_str(struct spc_buf *b, const char *s);

/** Cursor for decoding what the spc_buf_u* functions wrote. */
struct spc_rd {
    const unsigned char *p, *end;
    int err; /* sticky: set when reading past the end */
};
void spc_rd_init(struct spc_rd *r, const void *data, size_t len);
uint8_t spc_rd_u8(struct spc_rd *r);
uint16_t spc_rd_u16(struct spc_rd *r);
uint32_t spc_rd_u32(struct spc_rd *r);
uint64_t spc_rd_u64(struct spc_rd *r);
double spc_rd_f64(struct spc_rd *r);
/** @returns pointer into the input (not NUL-terminated) and its length in
 *  *len; NULL for an encoded NULL or on error (check r->err). */
const char *spc_rd_str(struct spc_rd *r, uint32_t *len);

/* JSON writer. */
/** Append @p s (NUL-terminated; NULL writes null) as a JSON string with all
 *  required escapes; invalid UTF-8 bytes are replaced by U+FFFD. */
void spc_json_str(struct spc_buf *b, const char *s);
void spc_json_strn(struct spc_buf *b, const char *s, size_t n);
/** Append a number in the shortest form that round-trips to the same
 *  double ("%.15g", else "%.17g"); NaN and infinities write null. */
void spc_json_num(struct spc_buf *b, double v);
void spc_json_int(struct spc_buf *b, int64_t v);
/** Append `"key":` (key must not need escaping beyond the usual). */
void spc_json_key(struct spc_buf *b, const char *key);

/** Format @p v like spc_json_num into @p out (>= 32 bytes); "null" for
 *  non-finite values. @returns the length written. */
size_t spc_fmt_double(char *out, size_t size, double v);

/*
 * Chunked arena: bump allocation of bytes that never move; freed all at
 * once.  spc_arena_reset() keeps the largest chunk for reuse.
 */
struct spc_arena_chunk;
struct spc_arena {
    struct spc_arena_chunk *head;
    size_t chunk_size; /* minimum chunk payload */
    size_t bytes;      /* total bytes held */
};

void spc_arena_init(struct spc_arena *a, size_t chunk_size);
void spc_arena_fini(struct spc_arena *a);
void spc_arena_reset(struct spc_arena *a);
/** @returns @p n bytes (8-aligned) valid until reset/fini, NULL on OOM. */
void *spc_arena_alloc(struct spc_arena *a, size_t n);
/** @returns a NUL-terminated copy of @p n bytes at @p s, NULL on OOM. */
char *spc_arena_strndup(struct spc_arena *a, const char *s, size_t n);

#endif /* SPC_BUF_H */
