/*
 * bench_engine.c -- engine throughput (events/s on one core) and state size
 * per step key.
 *
 * Workload: K step keys (default 10 000), buffer N (default 256), values
 * N(0,1) with realistic metadata (8 stations x 2 fixtures, 6 operators,
 * 2 firmware versions) and two-sided spec limits at +-5 sigma.  Events come
 * as reports of 50 measurements (one product's consecutive keys, one unit's
 * metadata), the products in turn, so every key is cold in cache when its
 * next event arrives (10 000 keys of state do not fit in L3).  Warm-up
 * pass: every key through its baseline (warmup + max_samples) first, then a
 * timed steady-state pass.  Fixed seed; Release build; not part of the
 * test run.
 *
 * Usage: bench_engine [--keys K] [--events E] [--config FILE|--detectors
 *        default|all|none|<name>] [--runs R]
 */
#include "bench_common.h"

#include <stdio.h>
#include <stdlib.h>

#define NSTEP_NAMES 10000

struct meta_pool {
    char st[8][16], fx[16][16], op[6][16], fw[2][16];
};

static void make_meta(struct meta_pool *m)
{
    int i;

    for (i = 0; i < 8; i++)
        snprintf(m->st[i], 16, "ST-%02d", i + 1);
    for (i = 0; i < 16; i++)
        snprintf(m->fx[i], 16, "FX-%02d%c", i / 2 + 1, 'A' + i % 2);
    for (i = 0; i < 6; i++)
        snprintf(m->op[i], 16, "op%d", i + 1);
    snprintf(m->fw[0], 16, "3.4.1");
    snprintf(m->fw[1], 16, "3.5.0");
}

static const char *config_for(const char *which)
{
    static char buf[2048];
    static const char *names[] = {
        "shewhart", "robust_z",   "ewma",     "cusum", "trend",   "variance",
        "yield",    "near_limit", "subgroup", "runs",  "flatline"};
    size_t i;
    int n;

    if (!strcmp(which, "default"))
        return NULL;
    n = snprintf(buf, sizeof(buf), "{\"detectors\":{");
    for (i = 0; i < 11; i++) {
        int on = !strcmp(which, "all") || !strcmp(which, names[i]);

        n += snprintf(buf + n, sizeof(buf) - n, "%s\"%s\":{\"enabled\":%s}",
                      i ? "," : "", names[i], on ? "true" : "false");
    }
    snprintf(buf + n, sizeof(buf) - n, "}}");
    return buf;
}

static void sink(const struct spc_anomaly *a, void *opaque)
{
    (void)a;
    (*(unsigned long *)opaque)++;
}

#define PER_REPORT 50

/* Feed @p rounds passes over all keys as reports of PER_REPORT events each
 * (a report = one unit of one product: consecutive keys, shared metadata);
 * returns seconds. */
static double feed(struct spc_engine *e, char (*steps)[24], int keys,
                   long rounds, long *unit, struct b_rng *r,
                   const struct meta_pool *mp)
{
    static struct spc_event ev[PER_REPORT];
    double t0 = b_now();
    long j;
    int k, i, n;

    for (j = 0; j < rounds; j++) {
        for (k = 0; k < keys; k += n) {
            /* the unit's place in each of its keys' series: every key
             * sees all stations, fixtures, operators and versions */
            long u = (*unit)++, v = u / ((keys + PER_REPORT - 1) / PER_REPORT) +
                                    k / PER_REPORT;
            int st = (int)(v % 8);

            n = keys - k < PER_REPORT ? keys - k : PER_REPORT;
            for (i = 0; i < n; i++) {
                struct spc_event *x = &ev[i];

                memset(x, 0, sizeof(*x));
                x->uut_id = "SN";
                x->report_id = "R";
                x->test_plan = "PCBA-100/10";
                x->measurement = "v";
                x->unit = "V";
                x->comp_op = "GELE";
                x->has_low = x->has_high = 1;
                x->low_limit = -5;
                x->high_limit = 5;
                x->kind = SPC_KIND_NUMERIC;
                x->value_valid = 1;
                x->meta[SPC_DIM_STATION] = mp->st[st];
                x->meta[SPC_DIM_FIXTURE] = mp->fx[st * 2 + (v / 8) % 2];
                x->meta[SPC_DIM_OPERATOR] = mp->op[(v / 16) % 6];
                x->meta[SPC_DIM_FW] = mp->fw[(v / 7) % 2];
                x->ts_ms = 1793520000000LL + u * 1000;
                x->test_step = steps[k + i];
                x->value = b_norm(r);
                x->passed = fabs(x->value) <= 5;
            }
            if (spc_engine_process(e, ev, (size_t)n) != SPC_OK) {
                fprintf(stderr, "out of memory\n");
                exit(1);
            }
        }
    }
    return b_now() - t0;
}

static int cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int keys = 10000, runs = 3, i, k;
    long events = 5000000, rounds, unit = 0;
    const char *which = "default", *cfgfile = NULL;
    static char steps[NSTEP_NAMES][24];
    struct meta_pool mp;
    double rate[16];

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keys") && i + 1 < argc)
            keys = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--events") && i + 1 < argc)
            events = atol(argv[++i]);
        else if (!strcmp(argv[i], "--detectors") && i + 1 < argc)
            which = argv[++i];
        else if (!strcmp(argv[i], "--config") && i + 1 < argc)
            cfgfile = argv[++i];
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: bench_engine [--keys K] [--events E] "
                            "[--detectors default|all|none|<name>] "
                            "[--config FILE] [--runs R]\n");
            return 2;
        }
    }
    if (keys < 1 || keys > NSTEP_NAMES || runs < 1 || runs > 16)
        return 2;
    make_meta(&mp);
    for (k = 0; k < keys; k++)
        snprintf(steps[k], sizeof(steps[k]), "Seq/Step%05d", k);
    rounds = events / keys;
    for (i = 0; i < runs; i++) {
        char err[256];
        struct spc_config *cfg =
            cfgfile ? spc_config_load(cfgfile, NULL, err, sizeof(err))
                    : b_config(config_for(which));
        struct spc_engine *e;
        struct spc_engine_stats st;
        struct b_rng r;
        unsigned long alarms = 0;
        double secs;
        long warm;

        if (!cfg) {
            fprintf(stderr, "config: %s\n", err);
            return 2;
        }
        e = spc_engine_new(cfg, err, sizeof(err));
        spc_engine_set_sink(e, sink, &alarms);
        b_seed(&r, 12345 + i);
        unit = 0;
        warm = cfg->defaults.warmup + cfg->defaults.base_max + cfg->buffer_size;
        feed(e, steps, keys, warm, &unit, &r, &mp);
        alarms = 0; /* count the steady state only */
        secs = feed(e, steps, keys, rounds, &unit, &r, &mp);
        rate[i] = rounds * (double)keys / secs;
        spc_engine_get_stats(e, &st);
        printf("run %d: %.0f events/s (%ld events in %.2f s), %llu keys, "
               "%.0f bytes of state per key (%.2f MB per 1000 keys), "
               "%lu anomalies (one per %.0f events)\n",
               i + 1, rate[i], rounds * (long)keys, secs,
               (unsigned long long)st.keys, (double)st.state_bytes / st.keys,
               st.state_bytes / (double)st.keys * 1000 / 1e6, alarms,
               alarms ? rounds * (double)keys / alarms : 0.0);
        spc_engine_destroy(e);
        spc_config_destroy(cfg);
    }
    qsort(rate, runs, sizeof(rate[0]), cmp_dbl);
    printf("median: %.0f events/s over %d runs (detectors: %s, %d keys, "
           "N=%s)\n",
           rate[runs / 2], runs, cfgfile ? cfgfile : which, keys, "config");
    return 0;
}
