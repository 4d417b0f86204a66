/*
 * bench_flatten.c -- WSJF flattening throughput: reports/s, MB/s and
 * measurement events/s of spc_wsjf_flatten_buf (in-situ JSON parse + walk),
 * on one core, the work NORMALIZE and `replay` do per report.
 *
 * Usage: bench_flatten [--input FILE] [--runs R] [--min-seconds S]
 *   FILE: JSON Lines of WSJF reports (e.g. from ops/sim:
 *   `python -m spcsim --units 2000 --output reports.jsonl`); default: the
 *   realistic report of tests/data/report_full.json.
 * Each run flattens every report of the file, repeated until S seconds
 * (default 2) have passed; the median of R runs (default 5) is printed.
 */
#include "spc_config.h"
#include "spc_wsjf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SPC_TEST_DATA
#define SPC_TEST_DATA "tests/data"
#endif

struct lines {
    char *buf;
    size_t *off, *len, n, bytes;
};

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* The file as lines; a single JSON document (report_full.json) counts as
 * one line once its newlines are blanked. */
static int load(const char *path, struct lines *L)
{
    FILE *f = fopen(path, "rb");
    long sz;
    size_t i, start = 0, cap = 64;
    int single = strstr(path, ".jsonl") == NULL;

    if (!f || fseek(f, 0, SEEK_END) || (sz = ftell(f)) <= 0 ||
        fseek(f, 0, SEEK_SET))
        goto fail;
    L->buf = malloc((size_t)sz + 1);
    L->off = malloc(cap * sizeof(size_t));
    L->len = malloc(cap * sizeof(size_t));
    if (!L->buf || !L->off || !L->len ||
        fread(L->buf, 1, (size_t)sz, f) != (size_t)sz)
        goto fail;
    fclose(f);
    L->buf[sz] = '\n';
    for (i = 0; i <= (size_t)sz; i++) {
        if (L->buf[i] != '\n' || (single && i < (size_t)sz))
            continue;
        if (i > start) {
            if (L->n == cap) {
                cap *= 2;
                L->off = realloc(L->off, cap * sizeof(size_t));
                L->len = realloc(L->len, cap * sizeof(size_t));
                if (!L->off || !L->len)
                    return -1;
            }
            L->off[L->n] = start;
            L->len[L->n++] = i - start;
            L->bytes += i - start;
        }
        start = i + 1;
    }
    return L->n ? 0 : -1;
fail:
    if (f)
        fclose(f);
    return -1;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    const char *input = SPC_TEST_DATA "/report_full.json";
    int runs = 5, r, i;
    double min_s = 2.0, rate[64], mbs[64], evs[64];
    struct lines L = {0};
    struct spc_config *cfg = spc_config_new();
    struct spc_wsjf_opts o;
    struct spc_batch b;
    char err[256];

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--input") && i + 1 < argc)
            input = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--min-seconds") && i + 1 < argc)
            min_s = atof(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_flatten [--input FILE] [--runs R] "
                            "[--min-seconds S]\n");
            return 2;
        }
    }
    if (runs < 1 || runs > 64 || !cfg || load(input, &L)) {
        fprintf(stderr, "bench_flatten: cannot read %s\n", input);
        return 1;
    }
    spc_config_wsjf_opts(cfg, &o);
    spc_batch_init(&b);
    for (r = 0; r < runs; r++) {
        size_t reports = 0, events = 0, bytes = 0, k;
        double t0 = now_s(), t;

        do {
            for (k = 0; k < L.n; k++) {
                /* the parser copies the report into the batch's document
                 * and works in situ there, as in NORMALIZE */
                if (spc_wsjf_flatten_buf(L.buf + L.off[k], L.len[k], &o, &b,
                                         err, sizeof(err)) != SPC_OK) {
                    fprintf(stderr, "bench_flatten: line %zu: %s\n", k + 1,
                            err);
                    return 1;
                }
                events += b.n;
                bytes += L.len[k];
            }
            reports += L.n;
            t = now_s() - t0;
        } while (t < min_s);
        rate[r] = reports / t;
        mbs[r] = bytes / t / 1e6;
        evs[r] = events / t;
    }
    qsort(rate, (size_t)runs, sizeof(double), cmp_d);
    qsort(mbs, (size_t)runs, sizeof(double), cmp_d);
    qsort(evs, (size_t)runs, sizeof(double), cmp_d);
    printf("input %s: %zu reports, %.1f KB/report\n", input, L.n,
           L.bytes / 1024.0 / L.n);
    printf("median of %d runs: %.0f reports/s, %.1f MB/s, %.0f events/s\n",
           runs, rate[runs / 2], mbs[runs / 2], evs[runs / 2]);
    spc_batch_fini(&b);
    spc_config_destroy(cfg);
    free(L.buf);
    free(L.off);
    free(L.len);
    return 0;
}
