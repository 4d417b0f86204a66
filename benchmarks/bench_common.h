/*
 * bench_common.h -- helpers shared by the benchmarks: a seeded normal
 * generator (xorshift64* + polar Box-Muller), wall clock, and events.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include "spc_engine.h"

#include <math.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

struct b_rng {
    uint64_t s;
    int have;
    double spare;
};

static inline void b_seed(struct b_rng *r, uint64_t seed)
{
    r->s = seed * 0x9e3779b97f4a7c15ULL + 1;
    r->have = 0;
}

static inline double b_unif(struct b_rng *r)
{
    r->s ^= r->s >> 12;
    r->s ^= r->s << 25;
    r->s ^= r->s >> 27;
    return ((r->s * 2685821657736338717ULL) >> 11) * (1.0 / 9007199254740992.0);
}

static inline double b_norm(struct b_rng *r)
{
    double u, v, m;

    if (r->have) {
        r->have = 0;
        return r->spare;
    }
    do {
        u = 2.0 * b_unif(r) - 1.0;
        v = 2.0 * b_unif(r) - 1.0;
        m = u * u + v * v;
    } while (m >= 1.0 || m == 0.0);
    m = sqrt(-2.0 * log(m) / m);
    r->spare = v * m;
    r->have = 1;
    return u * m;
}

static inline double b_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static inline struct spc_config *b_config(const char *json)
{
    char err[256];
    json_error_t jerr;
    json_t *root;
    struct spc_config *cfg;

    if (!json)
        return spc_config_new();
    root = json_loads(json, 0, &jerr);
    if (!root) {
        fprintf(stderr, "bench config: %s\n", jerr.text);
        exit(2);
    }
    cfg = spc_config_parse(root, NULL, err, sizeof(err));
    json_decref(root);
    if (!cfg) {
        fprintf(stderr, "bench config: %s\n", err);
        exit(2);
    }
    return cfg;
}

#endif /* BENCH_COMMON_H */
