/*
 * spc_intern.h -- string interning: every distinct string gets a small
 * integer id once; the hot path compares and stores ids.
 *
 * OWNERSHIP: the table owns its strings; pointers returned by
 *   spc_intern_str() are valid until spc_intern_destroy().
 * THREADING: not thread-safe; one table per engine (per worker thread).
 */
#ifndef SPC_INTERN_H
#define SPC_INTERN_H

#include "spc_common.h"

#include <stdint.h>

/** Id 0 is reserved for "no string" (absent metadata). */
#define SPC_INTERN_NONE 0u

struct spc_intern;

/** @returns owned table (free with spc_intern_destroy()), NULL on OOM. */
struct spc_intern *spc_intern_new(void);
void spc_intern_destroy(struct spc_intern *t);

/**
 * @brief Intern @p len bytes at @p s (need not be NUL-terminated).
 * @param id_out receives the id (> 0) on success.
 * @returns SPC_OK or SPC_ERR_NOMEM.
 */
spc_err_t spc_intern_add(struct spc_intern *t, const char *s, size_t len,
                         uint32_t *id_out) SPC_WUR;

/** @returns the id of @p s if interned, SPC_INTERN_NONE otherwise. */
uint32_t spc_intern_find(const struct spc_intern *t, const char *s, size_t len);

/** @returns the NUL-terminated string of @p id ("" for SPC_INTERN_NONE);
 *  valid until the table is destroyed. */
const char *spc_intern_str(const struct spc_intern *t, uint32_t id);

/** @returns the length of the string of @p id. */
size_t spc_intern_len(const struct spc_intern *t, uint32_t id);

/** @returns number of interned strings. */
uint32_t spc_intern_count(const struct spc_intern *t);

/** @returns bytes of memory held by the table. */
size_t spc_intern_bytes(const struct spc_intern *t);

#endif /* SPC_INTERN_H */
