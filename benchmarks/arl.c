/*
 * arl.c -- average run lengths measured through the engine (the same code
 * path as `spcstream replay`: flat events into spc_engine_process) next to
 * the published values, and the alarm budget of the defaults.
 *
 * Part 1: each chart at its textbook parameters, known mean 0 and sigma 1,
 *   clipping off, shifts 0 .. 3 sigma; R runs each (fresh state per run by
 *   re-baselining the key), mean run length with its standard error, the
 *   published value, the Markov-chain value, and z = (measured - published)
 *   / SE.  |z| > 3 is flagged.
 * Part 2: combined in-control ARL of all default detectors together, with
 *   known parameters and with estimated ones (warm-up, then learning), and
 *   per detector; then the detection delay of a sustained 1.5 sigma shift.
 *
 * Published values:
 *   - Shewhart individuals, L = 3: ARL = 1 / (Phi(-3-d) + 1 - Phi(3-d));
 *     Montgomery, Introduction to SQC, 7th ed., section 6.2 (370.4 in
 *     control).
 *   - Tabular CUSUM k = 1/2, h = 4 and 5: Montgomery, 7th ed., Table 9.3
 *     (from Hawkins 1993).
 *   - EWMA lambda = 0.1, L = 2.814 and lambda = 0.2, L = 2.962 (asymptotic
 *     limits): Lucas & Saccucci (1990), Technometrics 32(1), Table 3, as
 *     reproduced in Montgomery Table 9.11.
 *   - Western Electric rules (1 beyond 3 sigma, 2 of 3 beyond 2, 4 of 5
 *     beyond 1, 8 in a row on one side): in-control ARL 91.75, Champ &
 *     Woodall (1987), "Exact results for Shewhart control charts with
 *     supplementary runs rules", Technometrics 29(4).  The shifted values
 *     come from the Markov chain of that paper, rebuilt here (wer_arl()).
 *
 * Usage: arl [--runs R] [--quick] [--part 1|2]
 */
#include "bench_common.h"

#include "spc_arl.h"
#include "spc_stats.h"

#include <stdio.h>
#include <stdlib.h>

struct counter {
    uint64_t first_seq; /* seq of the first anomaly since the reset */
    unsigned long n[SPC_DET__COUNT];
    unsigned long total;
};

static void count_cb(const struct spc_anomaly *a, void *opaque)
{
    struct counter *c = opaque;

    if (!c->first_seq)
        c->first_seq = a->seq;
    c->n[a->detector]++;
    c->total++;
}

static void event_init(struct spc_event *ev, const char *step)
{
    memset(ev, 0, sizeof(*ev));
    ev->uut_id = "SN";
    ev->report_id = "R";
    ev->test_plan = "ARL/10";
    ev->test_step = step;
    ev->measurement = "x";
    ev->kind = SPC_KIND_NUMERIC;
    ev->value_valid = 1;
    ev->passed = 1;
    ev->ts_ms = 1793520000000LL;
}

/* Mean run length of @p runs runs of N(delta, 1) with the engine @p e whose
 * only key is re-baselined between runs; *se receives the standard error. */
static double run_lengths(struct spc_engine *e, struct counter *cnt,
                          double delta, int runs, uint64_t cap,
                          struct b_rng *rng, double *se)
{
    struct spc_event ev;
    double sum = 0, sum2 = 0;
    int r;

    event_init(&ev, "S");
    for (r = 0; r < runs; r++) {
        uint64_t t;

        spc_engine_rebaseline(e, "*");
        cnt->first_seq = 0;
        for (t = 1; t <= cap && !cnt->first_seq; t++) {
            ev.value = delta + b_norm(rng);
            if (spc_engine_process(e, &ev, 1) != SPC_OK)
                exit(1);
        }
        /* seq counts from the key's creation: use the samples of this run */
        t = t - 1;
        sum += (double)t;
        sum2 += (double)t * t;
    }
    *se = sqrt((sum2 / runs - (sum / runs) * (sum / runs)) / runs);
    return sum / runs;
}

/* ---- Western Electric rules: exact ARL by a Markov chain over the last
 * four zones and the run length on one side (Champ & Woodall 1987). ---- */

enum { Z_NONE = 0, Z_CP, Z_BP, Z_AP, Z_CM, Z_BM, Z_AM, NZ };

#define WE_STATES 65536

struct we_chain {
    int n;
    unsigned char h[WE_STATES][4]; /* oldest .. newest zone */
    signed char run[WE_STATES];    /* + above, - below */
    int next[WE_STATES][NZ];       /* -1 = signal */
};

static int zside(int z)
{
    return z >= Z_CP && z <= Z_AP ? 1 : z >= Z_CM ? -1 : 0;
}

static int zbeyond(int z, int level) /* level 1: B or A, 2: A */
{
    if (level == 2)
        return z == Z_AP ? 1 : z == Z_AM ? -1 : 0;
    return z == Z_AP || z == Z_BP ? 1 : z == Z_AM || z == Z_BM ? -1 : 0;
}

static int we_signal(const unsigned char *h, int z, int run)
{
    int w[5] = {h[0], h[1], h[2], h[3], z}, i, up = 0, dn = 0;

    for (i = 2; i < 5; i++) { /* 2 of 3 beyond 2 sigma, same side */
        up += zbeyond(w[i], 2) > 0;
        dn += zbeyond(w[i], 2) < 0;
    }
    if (up >= 2 || dn >= 2)
        return 1;
    up = dn = 0;
    for (i = 0; i < 5; i++) { /* 4 of 5 beyond 1 sigma, same side */
        up += zbeyond(w[i], 1) > 0;
        dn += zbeyond(w[i], 1) < 0;
    }
    if (up >= 4 || dn >= 4)
        return 1;
    return run >= 8 || run <= -8; /* 8 in a row on one side */
}

static int we_find(struct we_chain *c, const unsigned char *h, int run)
{
    int i;

    for (i = 0; i < c->n; i++)
        if (!memcmp(c->h[i], h, 4) && c->run[i] == run)
            return i;
    if (c->n == WE_STATES)
        return -2;
    memcpy(c->h[c->n], h, 4);
    c->run[c->n] = (signed char)run;
    return c->n++;
}

static void we_build(struct we_chain *c)
{
    unsigned char h0[4] = {Z_NONE, Z_NONE, Z_NONE, Z_NONE};
    int s, z;

    c->n = 0;
    we_find(c, h0, 0);
    for (s = 0; s < c->n; s++) {
        for (z = Z_CP; z < NZ; z++) {
            unsigned char h[4] = {c->h[s][1], c->h[s][2], c->h[s][3],
                                  (unsigned char)z};
            int side = zside(z), run = c->run[s];

            run = side > 0 ? (run > 0 ? run + 1 : 1) : (run < 0 ? run - 1 : -1);
            c->next[s][z] =
                we_signal(c->h[s], z, run) ? -1 : we_find(c, h, run);
        }
    }
}

static double we_arl(const struct we_chain *c, double d)
{
    double p[NZ], *x = calloc(c->n, sizeof(double)), res;
    int s, z, it;

    p[Z_NONE] = 0;
    p[Z_CP] = spc_norm_cdf(1 - d) - spc_norm_cdf(0 - d);
    p[Z_BP] = spc_norm_cdf(2 - d) - spc_norm_cdf(1 - d);
    p[Z_AP] = spc_norm_cdf(3 - d) - spc_norm_cdf(2 - d);
    p[Z_CM] = spc_norm_cdf(0 - d) - spc_norm_cdf(-1 - d);
    p[Z_BM] = spc_norm_cdf(-1 - d) - spc_norm_cdf(-2 - d);
    p[Z_AM] = spc_norm_cdf(-2 - d) - spc_norm_cdf(-3 - d);
    for (it = 0; it < 200000; it++) { /* Gauss-Seidel on x = 1 + P x */
        double change = 0;

        for (s = c->n - 1; s >= 0; s--) {
            double v = 1.0;

            for (z = Z_CP; z < NZ; z++)
                if (c->next[s][z] >= 0)
                    v += p[z] * x[c->next[s][z]];
            change = fmax(change, fabs(v - x[s]) / (v > 1 ? v : 1));
            x[s] = v;
        }
        if (change < 1e-13)
            break;
    }
    res = x[0];
    free(x);
    return res;
}

/* ---- part 1 ---- */

struct chart {
    const char *name;
    const char *config;
    double shifts[10];
    const char *published[10]; /* as printed in the source (rounding!) */
    int kind;                  /* 0 shewhart, 1 cusum, 2 ewma, 3 WE */
    double a, b;
};

#define KNOWN                                                                  \
    "\"steps\":[{\"match\":\"*\",\"baseline\":{\"mean\":0,\"sigma\":1}}]"
#define ONLY(d)                                                                \
    "{\"buffer_size\":64,\"detectors\":{"                                      \
    "\"shewhart\":{\"enabled\":false},\"robust_z\":{\"enabled\":false},"       \
    "\"ewma\":{\"enabled\":false},\"cusum\":{\"enabled\":false},"              \
    "\"trend\":{\"enabled\":false},\"variance\":{\"enabled\":false},"          \
    "\"yield\":{\"enabled\":false},\"near_limit\":{\"enabled\":false},"        \
    "\"subgroup\":{\"enabled\":false},\"runs\":{\"enabled\":false},"           \
    "\"flatline\":{\"enabled\":false}," d "}," KNOWN "}"

static const struct chart charts[] = {
    {"Shewhart individuals, L=3",
     ONLY("\"shewhart\":{\"enabled\":true,\"L\":3}"),
     {0, 0.5, 1, 2, 3, -1},
     {"370.4", "155.2", "43.89", "6.30", "2.00"},
     0,
     3,
     0},
    {"CUSUM k=0.5 h=4",
     ONLY("\"cusum\":{\"enabled\":true,\"k\":0.5,\"h\":4,\"clip\":0}"),
     {0, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4},
     {"168", "74.2", "26.6", "13.3", "8.38", "4.75", "3.34", "2.62", "2.19",
      "1.71"},
     1,
     0.5,
     4},
    {"CUSUM k=0.5 h=5",
     ONLY("\"cusum\":{\"enabled\":true,\"k\":0.5,\"h\":5,\"clip\":0}"),
     {0, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4},
     {"465", "139", "38.0", "17.0", "10.4", "5.75", "4.01", "3.11", "2.57",
      "2.01"},
     1,
     0.5,
     5},
    {"EWMA lambda=0.1 L=2.814 (asymptotic limits)",
     ONLY("\"ewma\":{\"enabled\":true,\"lambda\":0.1,\"L\":2.814,"
          "\"limits\":\"asymptotic\",\"clip\":0}"),
     {0, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4},
     {"500", "106", "31.3", "15.9", "10.3", "6.1", "4.4", "3.4", "2.9", "2.2"},
     2,
     0.1,
     2.814},
    {"EWMA lambda=0.2 L=2.962 (asymptotic limits)",
     ONLY("\"ewma\":{\"enabled\":true,\"lambda\":0.2,\"L\":2.962,"
          "\"limits\":\"asymptotic\",\"clip\":0}"),
     {0, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4},
     {"500", "150", "41.8", "18.2", "10.5", "5.5", "3.7", "2.9", "2.4", "1.9"},
     2,
     0.2,
     2.962},
    {"Western Electric rules 1,2,5,6 (8 in a row)",
     ONLY("\"runs\":{\"enabled\":true,\"rules\":[1,2,5,6],"
          "\"run_length\":8}"),
     {0, 0.5, 1, 2, 3, -1},
     {"91.75", NULL, NULL, NULL, NULL},
     3,
     0,
     0},
};

static int decimals(const char *s)
{
    const char *dot = strchr(s, '.');

    return dot ? (int)strlen(dot + 1) : 0;
}

static int part1(int runs_base, struct we_chain *we)
{
    size_t i;
    int j, flagged = 0;

    printf("Part 1: charts at textbook parameters through the engine "
           "(known mu=0, sigma=1)\n");
    printf("%-46s %5s %9s %7s %9s %9s %6s\n", "chart", "shift", "measured",
           "SE", "published", "Markov", "z");
    for (i = 0; i < SPC_ARRAY_SIZE(charts); i++) {
        const struct chart *ch = &charts[i];
        struct spc_config *cfg = b_config(ch->config);
        char err[256];
        struct spc_engine *e = spc_engine_new(cfg, err, sizeof(err));
        struct counter cnt;
        struct b_rng rng;

        memset(&cnt, 0, sizeof(cnt));
        spc_engine_set_sink(e, count_cb, &cnt);
        b_seed(&rng, 1000 + i);
        for (j = 0; j < 10 && ch->shifts[j] >= 0; j++) {
            double d = ch->shifts[j], se, mean, mk, ref, half, sd;
            const char *pub = ch->published[j];
            int runs = (int)(runs_base * (d == 0 ? 1.0 : 4.0));

            mean = run_lengths(e, &cnt, d, runs, 10000000, &rng, &se);
            mk = ch->kind == 0   ? spc_arl_shewhart(ch->a, d)
                 : ch->kind == 1 ? spc_arl_cusum(ch->a, ch->b, d, 0, 200)
                 : ch->kind == 2 ? spc_arl_ewma(ch->a, ch->b, d, 201)
                                 : we_arl(we, d);
            /* a published value is exact only to its last printed digit:
             * add that rounding (uniform, sd = half unit / sqrt 3) to the
             * sampling error; without one, the Markov chain is the
             * reference */
            ref = pub ? atof(pub) : mk;
            half = pub ? 0.5 * pow(10.0, -decimals(pub)) : 0.0;
            sd = sqrt(se * se + half * half / 3.0);
            printf("%-46s %5.2f %9.2f %7.2f %9s %9.2f %6.1f%s\n",
                   j ? "" : ch->name, d, mean, se, pub ? pub : "-", mk,
                   (mean - ref) / sd,
                   fabs(mean - ref) / sd > 3 ? "  <-- off" : "");
            flagged += fabs(mean - ref) / sd > 3;
        }
        spc_engine_destroy(e);
        spc_config_destroy(cfg);
    }
    return flagged;
}

/* ---- part 2: the defaults together ---- */

#define NKEYS_MAX 1024

struct fleet {
    char steps[NKEYS_MAX][16];
    char st[8][8], fx[16][8], op[6][8], fw[2][8];
};

static void fleet_init(struct fleet *f)
{
    int i;

    for (i = 0; i < NKEYS_MAX; i++)
        snprintf(f->steps[i], sizeof(f->steps[i]), "S%04d", i);
    for (i = 0; i < 8; i++)
        snprintf(f->st[i], 8, "ST-%d", i + 1);
    for (i = 0; i < 16; i++)
        snprintf(f->fx[i], 8, "FX-%d%c", i / 2 + 1, 'A' + i % 2);
    for (i = 0; i < 6; i++)
        snprintf(f->op[i], 8, "op%d", i + 1);
    snprintf(f->fw[0], 8, "3.4.1");
    snprintf(f->fw[1], 8, "3.5.0");
}

/* Fault injected from unit @p onset on (all keys, all stations). */
enum fault { F_NONE, F_SHIFT, F_DRIFT, F_VAR };

/* Feed @p units reports of @p keys events (one per key); values N(0,1)
 * plus the fault; spec +-4.5 sigma (GELE).  Counts go to @p cnt only from
 * unit @p count_from on; first_alarm[k] receives the unit of each key's
 * first level alarm after the onset (0 = none). */
static void run_fleet(struct spc_engine *e, struct counter *cnt,
                      const struct fleet *f, int keys, long units,
                      long count_from, enum fault fault, double size,
                      long onset, long *first_alarm, struct b_rng *rng)
{
    static struct spc_event ev[NKEYS_MAX];
    struct counter before;
    long u;
    int k;

    for (u = 0; u < units; u++) {
        int st = (int)(u % 8);

        for (k = 0; k < keys; k++) {
            struct spc_event *x = &ev[k];
            double v = b_norm(rng);

            event_init(x, f->steps[k]);
            x->meta[SPC_DIM_STATION] = f->st[st];
            x->meta[SPC_DIM_FIXTURE] = f->fx[st * 2 + (u / 8) % 2];
            x->meta[SPC_DIM_OPERATOR] = f->op[(u / 40) % 6];
            x->meta[SPC_DIM_FW] = f->fw[(u / 5) % 2];
            x->comp_op = "GELE";
            x->has_low = x->has_high = 1;
            x->low_limit = -4.5;
            x->high_limit = 4.5;
            if (u >= onset) {
                if (fault == F_SHIFT)
                    v += size;
                else if (fault == F_DRIFT)
                    v += size * (u - onset) / 100.0;
                else if (fault == F_VAR)
                    v *= size;
            }
            x->value = v;
            x->passed = fabs(v) <= 4.5;
            x->ts_ms = 1793520000000LL + u * 60000LL;
        }
        if (u == count_from)
            memset(cnt, 0, sizeof(*cnt));
        before = *cnt;
        /* one report per key so the first alarm is attributable */
        for (k = 0; k < keys; k++) {
            cnt->first_seq = 0;
            if (spc_engine_process(e, &ev[k], 1) != SPC_OK)
                exit(1);
            if (first_alarm && u >= onset && cnt->first_seq && !first_alarm[k])
                first_alarm[k] = u - onset + 1;
        }
        (void)before;
    }
}

static const char *const variants[][2] = {
    {"known mu, sigma (Phase II)", "{" KNOWN "}"},
    {"estimated: warm-up 100, learning to 1000", "{}"},
    {"estimated, no widening", "{\"baseline\":{\"widen\":false}}"},
    {"estimated, warm-up 50, no learning",
     "{\"baseline\":{\"warmup\":50,\"max_samples\":50,\"widen\":false}}"},
};

static void part2(int keys, long units, struct fleet *f)
{
    size_t v;
    int d;

    printf("\nPart 2: all default detectors together, in control "
           "(%d keys x %ld units; 8 stations x 2 fixtures, 6 operators, "
           "2 firmware versions; spec +-4.5 sigma)\n",
           keys, units);
    for (v = 0; v < SPC_ARRAY_SIZE(variants); v++) {
        struct spc_config *cfg = b_config(variants[v][1]);
        char err[256];
        struct spc_engine *e = spc_engine_new(cfg, err, sizeof(err));
        struct counter cnt;
        struct b_rng rng;
        long from = cfg->defaults.known ? 0 : cfg->defaults.warmup;
        double samples;

        memset(&cnt, 0, sizeof(cnt));
        spc_engine_set_sink(e, count_cb, &cnt);
        b_seed(&rng, 77 + v);
        run_fleet(e, &cnt, f, keys, units, from, F_NONE, 0, units, NULL, &rng);
        samples = (double)keys * (units - from);
        printf("  %-44s combined ARL %8.0f (%lu alarms in %.0f samples)\n",
               variants[v][0], cnt.total ? samples / cnt.total : INFINITY,
               cnt.total, samples);
        printf("      per detector:");
        for (d = 0; d < SPC_DET__COUNT; d++)
            if (cnt.n[d])
                printf(" %s %.0f", spc_det_name((enum spc_det)d),
                       samples / cnt.n[d]);
        printf("\n");
        spc_engine_destroy(e);
        spc_config_destroy(cfg);
    }
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return (x > y) - (x < y);
}

static void part3(int keys, struct fleet *f)
{
    static const struct {
        const char *name;
        enum fault fault;
        double size;
    } faults[] = {
        {"shift +1.5 sigma", F_SHIFT, 1.5},
        {"shift +1.0 sigma", F_SHIFT, 1.0},
        {"shift +3.0 sigma", F_SHIFT, 3.0},
        {"drift +1 sigma per 100 units", F_DRIFT, 1.0},
        {"spread x2", F_VAR, 2.0},
    };
    static long first[NKEYS_MAX];
    size_t i, v;

    printf("\nPart 3: detection delay at the defaults (units after the "
           "onset until the key's first anomaly; %d keys; onset at unit "
           "1500)\n",
           keys);
    for (v = 0; v < 2; v++) {
        for (i = 0; i < SPC_ARRAY_SIZE(faults); i++) {
            struct spc_config *cfg = b_config(variants[v][1]);
            char err[256];
            struct spc_engine *e = spc_engine_new(cfg, err, sizeof(err));
            struct counter cnt;
            struct b_rng rng;
            int k, missed = 0;
            double mean = 0;

            memset(&cnt, 0, sizeof(cnt));
            memset(first, 0, sizeof(first));
            spc_engine_set_sink(e, count_cb, &cnt);
            b_seed(&rng, 500 + i);
            run_fleet(e, &cnt, f, keys, 1500 + 400, 0, faults[i].fault,
                      faults[i].size, 1500, first, &rng);
            for (k = 0; k < keys; k++) {
                if (!first[k]) {
                    first[k] = 401;
                    missed++;
                }
                mean += first[k];
            }
            qsort(first, keys, sizeof(first[0]), cmp_long);
            printf("  %-12s %-30s median %4ld, mean %6.1f, 90%% %4ld "
                   "units%s\n",
                   v ? "estimated" : "known", faults[i].name, first[keys / 2],
                   mean / keys, first[keys * 9 / 10],
                   missed ? " (some keys missed in 400 units)" : "");
            spc_engine_destroy(e);
            spc_config_destroy(cfg);
        }
    }
}

int main(int argc, char **argv)
{
    static struct we_chain we;
    static struct fleet f;
    int runs = 4000, keys = 200, part = 0, i, flagged = 0;
    long units = 20000;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--quick")) {
            runs = 500;
            keys = 50;
            units = 6000;
        } else if (!strcmp(argv[i], "--part") && i + 1 < argc)
            part = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: arl [--runs R] [--quick] [--part 1|2|3]\n");
            return 2;
        }
    }
    we_build(&we);
    fleet_init(&f);
    if (!part || part == 1)
        flagged = part1(runs, &we);
    if (!part || part == 2)
        part2(keys, units, &f);
    if (!part || part == 3)
        part3(keys, &f);
    if (flagged)
        printf("\n%d measured value(s) more than 3 SE from the reference\n",
               flagged);
    return 0;
}
