/*
 * bench_avro.c -- cost of the spc.measurements Avro codec per event: this
 * project's encoder/decoder against avro-c's generic value API on the same
 * schema and event (the measurement behind the hand-written codec, see
 * docs/serialization.md).  Median of 5 runs of N events each.
 *
 * Usage: bench_avro [N]
 */
#include "spc_avro.h"

#include <avro.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

static double median5(double *v)
{
    qsort(v, 5, sizeof(*v), cmp_d);
    return v[2];
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 500000, i;
    struct spc_dims dims;
    struct spc_event ev, back;
    struct spc_buf b;
    struct spc_arena arena;
    const char *txt = spc_avro_schema_json(SPC_AVRO_EVENT);
    avro_schema_t sc;
    avro_value_iface_t *cls;
    avro_value_t v, dv;
    avro_writer_t w;
    avro_reader_t r;
    char buf[4096], err[256];
    double enc[5], dec[5], aenc[5], adec[5];
    size_t len = 0;
    int run;

    if (spc_dims_init(&dims) != SPC_OK ||
        avro_schema_from_json_length(txt, strlen(txt), &sc))
        return 1;
    memset(&ev, 0, sizeof(ev));
    ev.uut_id = "RF2-0001508";
    ev.report_id = "be0ddc23-38af-48ec-b55e-1752a125c431";
    ev.test_plan = "PCBA-200/10";
    ev.test_step = "Power/VCC 3V3";
    ev.measurement = "VCC 3V3";
    ev.unit = "V";
    ev.comp_op = "GELE";
    ev.value = 3.3012;
    ev.value_valid = 1;
    ev.low_limit = 3.2;
    ev.high_limit = 3.4;
    ev.has_low = ev.has_high = 1;
    ev.passed = 1;
    ev.status = 'P';
    ev.ts_ms = 1793512800000LL;
    ev.meta[SPC_DIM_STATION] = "ST-02";
    ev.meta[SPC_DIM_FIXTURE] = "FX-2B";
    ev.meta[SPC_DIM_OPERATOR] = "chen.li";
    ev.meta[SPC_DIM_SOCKET] = "1";
    ev.meta[SPC_DIM_HW_REV] = "B";
    ev.meta[SPC_DIM_SW_FILE] = "PCBA-200_RF.seq";
    ev.meta[SPC_DIM_SW_VERSION] = "2.7.0";
    ev.meta[SPC_DIM_FW] = "3.5.0";
    spc_buf_init(&b);
    spc_arena_init(&arena, 4096);
    cls = avro_generic_class_from_schema(sc);
    avro_generic_value_new(cls, &v);
    avro_generic_value_new(cls, &dv);
    w = avro_writer_memory(buf, sizeof(buf));
    r = avro_reader_memory(buf, sizeof(buf));
    for (run = 0; run < 5; run++) {
        double t0 = now();

        for (i = 0; i < n; i++) {
            b.len = 0;
            spc_avro_write_event(&b, &ev, &dims);
        }
        enc[run] = (now() - t0) / n * 1e9;
        t0 = now();
        for (i = 0; i < n; i++) {
            spc_arena_reset(&arena);
            if (spc_avro_read_event(b.data, b.len, &dims, &back, &arena, err,
                                    sizeof(err)))
                return 1;
        }
        dec[run] = (now() - t0) / n * 1e9;
        /* avro-c: the same event through generic values */
        memcpy(buf, b.data, b.len);
        len = b.len;
        t0 = now();
        for (i = 0; i < n; i++) {
            avro_reader_memory_set_source(r, buf, (int64_t)len);
            avro_value_reset(&dv);
            if (avro_value_read(r, &dv))
                return 1;
        }
        adec[run] = (now() - t0) / n * 1e9;
        t0 = now();
        for (i = 0; i < n; i++) {
            avro_writer_reset(w);
            if (avro_value_write(w, &dv))
                return 1;
        }
        aenc[run] = (now() - t0) / n * 1e9;
    }
    printf("event of %zu bytes, median of 5 x %ld:\n", len, n);
    printf("  spcstream codec: encode %.0f ns, decode %.0f ns\n", median5(enc),
           median5(dec));
    printf("  avro-c generic:  encode %.0f ns (value already built), "
           "decode %.0f ns\n",
           median5(aenc), median5(adec));
    avro_reader_free(r);
    avro_writer_free(w);
    avro_value_decref(&v);
    avro_value_decref(&dv);
    avro_value_iface_decref(cls);
    avro_schema_decref(sc);
    spc_arena_fini(&arena);
    spc_buf_fini(&b);
    spc_dims_fini(&dims);
    return 0;
}
