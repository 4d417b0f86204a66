/*
 * spc_json.h -- a small, fast JSON reader for the hot input path (WSJF
 * reports in NORMALIZE and replay): one pass, in situ (strings are
 * unescaped and NUL-terminated inside a private copy of the input), nodes
 * in one array, no allocation per value.  The subset of the jansson API
 * that flattening needs, with jansson's rules (RFC 8259, UTF-8 validated,
 * no NUL in strings, integers and reals apart, overflow is an error, the
 * last of duplicate keys wins).
 *
 * Why: jansson builds a hash table per object and allocates every value;
 * it took ~80 % of NORMALIZE's CPU time (docs/performance.md).
 *
 * OWNERSHIP: a struct spc_jdoc owns its copy of the input and its nodes;
 *   node pointers and strings are valid until the next parse into the same
 *   doc or spc_jdoc_fini().
 * THREADING: a doc is used by one thread.
 */
#ifndef SPC_JSON_H
#define SPC_JSON_H

#include "spc_common.h"

#include <stddef.h>
#include <stdint.h>

enum spc_jtype {
    SPC_J_NULL = 0,
    SPC_J_FALSE,
    SPC_J_TRUE,
    SPC_J_INT,
    SPC_J_REAL,
    SPC_J_STRING,
    SPC_J_ARRAY,
    SPC_J_OBJECT
};

/** One value.  The members of an object / elements of an array are a
 *  chain from @c child through @c next. */
struct spc_jv {
    const struct spc_jv *child, *next; /* NULL: none */
    const char *key; /* member name (object members), else NULL */
    union {
        const char *s; /* SPC_J_STRING, NUL-terminated */
        int64_t i;
        double d;
    } u;
    uint32_t n;             /* children (array, object) or string length */
    uint32_t ichild, inext; /* the links as node indexes while parsing */
    uint8_t type;
};

struct spc_jdoc {
    char *text; /* private copy of the input + NUL */
    size_t cap_text;
    struct spc_jv *v; /* v[0] unused, v[1] is the root */
    uint32_t n, cap;
};

void spc_jdoc_init(struct spc_jdoc *d);
void spc_jdoc_fini(struct spc_jdoc *d);

/**
 * @brief Parse @p len bytes (an object or array at the top; whitespace
 * around it only).
 * @returns the root, or NULL with "offset N: reason" in @p errstr
 *   (SPC_ERR_NOMEM as "out of memory").
 */
const struct spc_jv *spc_json_parse(struct spc_jdoc *d, const char *buf,
                                    size_t len, char *errstr,
                                    size_t errstr_size);

/* Accessors (NULL-safe, like jansson's). */
/** Member @p key of an object (the last of duplicates), else NULL. */
const struct spc_jv *spc_jobj_get(const struct spc_jv *obj, const char *key);
/** @returns element @p i of an array (linear), NULL when out of range. */
const struct spc_jv *spc_jarr_get(const struct spc_jv *arr, size_t i);

/** First element / member of a container, NULL when none or not one. */
static inline const struct spc_jv *spc_jfirst(const struct spc_jv *v)
{
    return v && (v->type == SPC_J_ARRAY || v->type == SPC_J_OBJECT) ? v->child
                                                                    : NULL;
}

static inline int spc_jis(const struct spc_jv *v, enum spc_jtype t)
{
    return v && v->type == (uint8_t)t;
}

static inline size_t spc_jsize(const struct spc_jv *v)
{
    return v && (v->type == SPC_J_ARRAY || v->type == SPC_J_OBJECT) ? v->n : 0;
}

static inline const char *spc_jstr(const struct spc_jv *v)
{
    return v && v->type == SPC_J_STRING ? v->u.s : NULL;
}

/**
 * @brief A measurement value as WSJF carries it: a number, or a string
 * holding one ("3.3", "NaN", "Infinity"), exactly as
 * spc_json_measure_value() reads a json_t.
 * @returns 1 valid number in *out, 0 not a number (null, "NaN", text),
 *   -1 wrong JSON type.
 */
int spc_jmeasure_value(const struct spc_jv *v, double *out);

#endif /* SPC_JSON_H */
