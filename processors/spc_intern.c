/*
 * spc_intern.c -- string interning with an open-addressing hash table of ids
 * and a chunked arena for the bytes.
 *
 * DATA FLOW: bytes --spc_intern_add--> uint32 id --spc_intern_str--> char *
 * OWNERSHIP: strings live in the table's arena; they never move, so
 *   returned pointers stay valid until destroy.
 * FAILURE MODES: OOM returns SPC_ERR_NOMEM and leaves the table unchanged.
 */
#include "spc_intern.h"

#include "spc_buf.h"

#include <string.h>

struct entry {
    const char *str;
    uint32_t len;
    uint32_t hash32;
};

struct spc_intern {
    struct entry *entries; /* index = id; entries[0] is the empty string */
    uint32_t count, cap;
    uint32_t *slots; /* hash table of ids, 0 = empty */
    uint32_t nslots; /* power of two */
    struct spc_arena arena;
};

struct spc_intern *spc_intern_new(void)
{
    struct spc_intern *t = spc_calloc(1, sizeof(*t));

    if (!t)
        return NULL;
    t->cap = 64;
    t->nslots = 128;
    t->entries = spc_calloc(t->cap, sizeof(*t->entries));
    t->slots = spc_calloc(t->nslots, sizeof(*t->slots));
    if (!t->entries || !t->slots) {
        spc_intern_destroy(t);
        return NULL;
    }
    spc_arena_init(&t->arena, 16384);
    t->entries[0].str = "";
    t->count = 1;
    return t;
}

void spc_intern_destroy(struct spc_intern *t)
{
    if (!t)
        return;
    spc_arena_fini(&t->arena);
    free(t->entries);
    free(t->slots);
    free(t);
}

static uint32_t hash_bytes(const char *s, size_t len)
{
    uint32_t h = (uint32_t)spc_hash64(s, len, 0x5bd1e995u);

    return h ? h : 1;
}

static spc_err_t grow_slots(struct spc_intern *t)
{
    uint32_t n = t->nslots * 2, i, id;
    uint32_t *slots = spc_calloc(n, sizeof(*slots));

    if (!slots)
        return SPC_ERR_NOMEM;
    for (id = 1; id < t->count; id++) {
        i = t->entries[id].hash32 & (n - 1);
        while (slots[i])
            i = (i + 1) & (n - 1);
        slots[i] = id;
    }
    free(t->slots);
    t->slots = slots;
    t->nslots = n;
    return SPC_OK;
}

static uint32_t lookup(const struct spc_intern *t, const char *s, size_t len,
                       uint32_t h, uint32_t *slot_out)
{
    uint32_t i = h & (t->nslots - 1), id;

    while ((id = t->slots[i]) != 0) {
        const struct entry *e = &t->entries[id];

        if (e->hash32 == h && e->len == len && memcmp(e->str, s, len) == 0)
            return id;
        i = (i + 1) & (t->nslots - 1);
    }
    *slot_out = i;
    return SPC_INTERN_NONE;
}

uint32_t spc_intern_find(const struct spc_intern *t, const char *s, size_t len)
{
    uint32_t slot;

    return lookup(t, s, len, hash_bytes(s, len), &slot);
}

spc_err_t spc_intern_add(struct spc_intern *t, const char *s, size_t len,
                         uint32_t *id_out)
{
    uint32_t h = hash_bytes(s, len), slot, id;
    char *copy;

    if (len > UINT32_MAX - 1)
        return SPC_ERR_RANGE;
    id = lookup(t, s, len, h, &slot);
    if (id) {
        *id_out = id;
        return SPC_OK;
    }
    if (t->count == UINT32_MAX)
        return SPC_ERR_RANGE;
    if (t->count == t->cap) {
        struct entry *e =
            spc_realloc(t->entries, (size_t)t->cap * 2 * sizeof(*e));

        if (!e)
            return SPC_ERR_NOMEM;
        t->entries = e;
        t->cap *= 2;
    }
    if ((uint64_t)(t->count + 1) * 4 > (uint64_t)t->nslots * 3) {
        if (grow_slots(t) != SPC_OK)
            return SPC_ERR_NOMEM;
        (void)lookup(t, s, len, h, &slot);
    }
    copy = spc_arena_strndup(&t->arena, s, len);
    if (!copy)
        return SPC_ERR_NOMEM;
    id = t->count++;
    t->entries[id].str = copy;
    t->entries[id].len = (uint32_t)len;
    t->entries[id].hash32 = h;
    t->slots[slot] = id;
    *id_out = id;
    return SPC_OK;
}

const char *spc_intern_str(const struct spc_intern *t, uint32_t id)
{
    SPC_ASSERT(id < t->count);
    return t->entries[id].str;
}

size_t spc_intern_len(const struct spc_intern *t, uint32_t id)
{
    SPC_ASSERT(id < t->count);
    return t->entries[id].len;
}

uint32_t spc_intern_count(const struct spc_intern *t)
{
    return t->count;
}

size_t spc_intern_bytes(const struct spc_intern *t)
{
    return sizeof(*t) + (size_t)t->cap * sizeof(*t->entries) +
           (size_t)t->nslots * sizeof(*t->slots) + t->arena.bytes;
}
