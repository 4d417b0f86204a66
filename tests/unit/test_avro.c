/*
 * test_avro.c -- Avro codec: canonical form and fingerprints against the
 * Apache Avro reference vectors, bodies cross-checked with avro-c in both
 * directions, framing, malformed input, and the schema registry path
 * against tests/registry_stub.py.
 */
#include "spc_avro.h"
#include "spc_test.h"

#include <avro.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Apache Avro share/test/data/schema-tests.txt: input, canonical form and
 * the 64-bit Rabin fingerprint (signed, as printed there). */
static const struct {
    const char *in, *canon;
    int64_t fp;
} vectors[] = {
    {"\"null\"", "\"null\"", 7195948357588979594LL},
    {"\"int\"", "\"int\"", 8247732601305521295LL},
    {"{\"type\":\"string\"}", "\"string\"", -8142146995180207161LL},
    {"[ \"int\" , {\"type\":\"boolean\"} ]", "[\"int\",\"boolean\"]",
     5392556393470105090LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"foo\", "
     "\"namespace\":\"x.y\"}",
     "{\"name\":\"x.y.foo\",\"type\":\"record\",\"fields\":[]}",
     5916914534497305771LL},
    {"{\"fields\":[], \"type\":\"record\", \"name\":\"a.b.foo\", "
     "\"namespace\":\"x.y\"}",
     "{\"name\":\"a.b.foo\",\"type\":\"record\",\"fields\":[]}",
     -4616218487480524110LL},
    {"{ \"fields\":[{\"type\":\"boolean\", \"aliases\":[], \"name\":\"f1\", "
     "\"default\":\"true\"},{\"order\":\"descending\",\"name\":\"f2\","
     "\"doc\":\"Hello\",\"type\":\"int\"}], \"type\":\"record\", "
     "\"name\":\"foo\"}",
     "{\"name\":\"foo\",\"type\":\"record\",\"fields\":[{\"name\":\"f1\","
     "\"type\":\"boolean\"},{\"name\":\"f2\",\"type\":\"int\"}]}",
     -4860222112080293046LL},
    {"{\"namespace\":\"x.y.z\", \"type\":\"enum\", \"name\":\"foo\", "
     "\"doc\":\"foo bar\", \"symbols\":[\"A1\", \"A2\"]}",
     "{\"name\":\"x.y.z.foo\",\"type\":\"enum\",\"symbols\":[\"A1\",\"A2\"]}",
     -4448647247586288245LL},
    {"{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     "{\"name\":\"foo\",\"type\":\"fixed\",\"size\":15}",
     1756455273707447556LL},
    {"{ \"items\":{\"type\":\"null\"}, \"type\":\"array\"}",
     "{\"type\":\"array\",\"items\":\"null\"}", -589620603366471059LL},
    {"{ \"values\":\"string\", \"type\":\"map\"}",
     "{\"type\":\"map\",\"values\":\"string\"}", -8732877298790414990LL},
    {"{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":"
     "\"value\", \"type\":[\"null\", \"int\", \"long\", \"PigValue\"]}]}",
     "{\"name\":\"PigValue\",\"type\":\"record\",\"fields\":[{\"name\":"
     "\"value\",\"type\":[\"null\",\"int\",\"long\",\"PigValue\"]}]}",
     -1759257747318642341LL},
};

START_TEST(canonical_form_and_fingerprints)
{
    size_t i;
    char err[256];

    for (i = 0; i < SPC_ARRAY_SIZE(vectors); i++) {
        struct spc_buf b;

        spc_buf_init(&b);
        ck_assert_int_eq(
            spc_avro_canonical(vectors[i].in, &b, err, sizeof(err)), SPC_OK);
        ck_assert_str_eq(b.data, vectors[i].canon);
        ck_assert_msg(spc_avro_crc64(b.data, b.len) == (uint64_t)vectors[i].fp,
                      "vector %zu: fingerprint %016llx", i,
                      (unsigned long long)spc_avro_crc64(b.data, b.len));
        spc_buf_fini(&b);
    }
    /* the empty input gives the algorithm's seed */
    ck_assert(spc_avro_crc64("", 0) == 0xc15d213aa4d7a795ULL);
}
END_TEST

static struct spc_dims g_dims;

static void setup(void)
{
    ck_assert_int_eq(spc_dims_init(&g_dims), SPC_OK);
}

static void teardown(void)
{
    spc_dims_fini(&g_dims);
}

static void sample_event(struct spc_event *ev)
{
    memset(ev, 0, sizeof(*ev));
    ev->uut_id = "PC1-0001234";
    ev->report_id = "be0ddc23-38af-48ec-b55e-1752a125c431";
    ev->test_plan = "PCBA-100/10";
    ev->test_step = "SubUnit[Module]/Power/VCC 3V3";
    ev->measurement = "VCC 3V3";
    ev->unit = "V";
    ev->comp_op = "GELE";
    ev->value = 3.2987654321;
    ev->value_valid = 1;
    ev->low_limit = 3.2;
    ev->high_limit = 3.4;
    ev->has_low = ev->has_high = 1;
    ev->ts_ms = 1793512800123LL;
    ev->kind = SPC_KIND_NUMERIC;
    ev->passed = 1;
    ev->status = 'P';
    ev->meta[SPC_DIM_STATION] = "ST-01";
    ev->meta[SPC_DIM_FIXTURE] = "FX-1A";
    ev->meta[SPC_DIM_FW] = "3.5.0 \xc3\xa9"; /* UTF-8 passes through */
}

static void assert_events_equal(const struct spc_event *a,
                                const struct spc_event *b)
{
    unsigned i;

    ck_assert_str_eq(a->uut_id, b->uut_id);
    ck_assert_str_eq(a->report_id, b->report_id);
    ck_assert_str_eq(a->test_plan, b->test_plan);
    ck_assert_str_eq(a->test_step, b->test_step);
    ck_assert_str_eq(a->measurement, b->measurement);
    ck_assert_int_eq(a->kind, b->kind);
    ck_assert_int_eq(a->value_valid, b->value_valid);
    if (a->value_valid)
        ck_assert(a->value == b->value); /* bit-exact doubles */
    ck_assert_int_eq(a->passed, b->passed);
    ck_assert_int_eq(a->status, b->status);
    ck_assert(a->ts_ms == b->ts_ms);
    ck_assert_int_eq(a->has_low, b->has_low);
    ck_assert_int_eq(a->has_high, b->has_high);
    if (a->has_low)
        ck_assert(a->low_limit == b->low_limit);
    if (a->has_high)
        ck_assert(a->high_limit == b->high_limit);
    ck_assert_int_eq(!a->unit, !b->unit);
    if (a->unit)
        ck_assert_str_eq(a->unit, b->unit);
    for (i = 0; i < g_dims.n; i++) {
        ck_assert_int_eq(!a->meta[i], !b->meta[i]);
        if (a->meta[i])
            ck_assert_str_eq(a->meta[i], b->meta[i]);
    }
}

static avro_value_iface_t *iface_for(enum spc_avro_schema s, avro_schema_t *sc)
{
    const char *txt = spc_avro_schema_json(s);

    ck_assert_int_eq(avro_schema_from_json_length(txt, strlen(txt), sc), 0);
    return avro_generic_class_from_schema(*sc);
}

/* Our event body decodes with avro-c to the same values; an event written
 * by avro-c decodes with ours to the same values. */
START_TEST(event_cross_check_with_avro_c)
{
    struct spc_event ev, back;
    struct spc_buf b;
    struct spc_arena arena;
    avro_schema_t sc;
    avro_value_iface_t *cls = iface_for(SPC_AVRO_EVENT, &sc);
    avro_value_t v, f, br;
    avro_reader_t rd;
    avro_writer_t wr;
    const char *s;
    size_t sl, n;
    double d;
    int32_t disc;
    char err[256], buf[2048];

    sample_event(&ev);
    spc_buf_init(&b);
    spc_arena_init(&arena, 1024);
    spc_avro_write_event(&b, &ev, &g_dims);
    ck_assert_int_eq(avro_generic_value_new(cls, &v), 0);
    rd = avro_reader_memory(b.data, (int64_t)b.len);
    ck_assert_msg(avro_value_read(rd, &v) == 0, "avro-c: %s", avro_strerror());
    avro_value_get_by_name(&v, "test_step", &f, NULL);
    avro_value_get_string(&f, &s, &sl);
    ck_assert_str_eq(s, ev.test_step);
    avro_value_get_by_name(&v, "value", &f, NULL);
    avro_value_get_discriminant(&f, &disc);
    ck_assert_int_eq(disc, 1);
    avro_value_get_current_branch(&f, &br);
    avro_value_get_double(&br, &d);
    ck_assert(d == ev.value);
    avro_value_get_by_name(&v, "meta", &f, NULL);
    avro_value_get_size(&f, &n);
    ck_assert_uint_eq(n, 3);
    avro_value_get_by_name(&f, "fw", &br, NULL);
    avro_value_get_string(&br, &s, &sl);
    ck_assert_str_eq(s, ev.meta[SPC_DIM_FW]);

    /* and back: avro-c writes (value null: a text reading), we read */
    avro_value_get_by_name(&v, "value", &f, NULL);
    avro_value_set_branch(&f, 0, &br);
    avro_value_set_null(&br);
    wr = avro_writer_memory(buf, sizeof(buf));
    ck_assert_int_eq(avro_value_write(wr, &v), 0);
    ck_assert_int_eq(spc_avro_read_event(buf, (size_t)avro_writer_tell(wr),
                                         &g_dims, &back, &arena, err,
                                         sizeof(err)),
                     SPC_OK);
    ev.value_valid = 0;
    assert_events_equal(&ev, &back);
    ck_assert(isnan(back.value));

    avro_reader_free(rd);
    avro_writer_free(wr);
    avro_value_decref(&v);
    avro_value_iface_decref(cls);
    avro_schema_decref(sc);
    spc_arena_fini(&arena);
    spc_buf_fini(&b);
}
END_TEST

static void sample_anomaly(struct spc_anomaly *a)
{
    memset(a, 0, sizeof(*a));
    memcpy(a->id, "0123456789abcdef0123456789abcdef", 33);
    a->detector = SPC_DET_SUBGROUP;
    a->check = "mean";
    a->severity = SPC_SEV_WARNING;
    a->test_plan = "PCBA-200/10";
    a->test_step = "Power/VCC 3V3";
    a->measurement = "VCC 3V3";
    a->uut_id = "RF2-0001508";
    a->report_id = "r-1";
    a->unit = "V";
    a->ts_ms = 1793512800123LL;
    a->value = 3.1696;
    a->score = 7.4;
    a->threshold = 5.3;
    a->direction = SPC_DIR_DOWN;
    a->seq = 710;
    a->sg_dim = "fixture";
    a->sg_value = "FX-2B";
    a->dims = &g_dims;
    a->meta[SPC_DIM_STATION] = "ST-02";
    a->meta[SPC_DIM_FIXTURE] = "FX-2B";
    a->passed = 0;
    snprintf(a->message, sizeof(a->message), "Only fixture FX-2B: ...");
    spc_anomaly_evidence(a, "subgroup_n", 40);
    spc_anomaly_evidence(a, "p_value", 1.5e-9);
    a->ctx.window_n = 200;
    a->ctx.recent_mean = 3.29;
    a->ctx.recent_sd = 0.03;
    a->ctx.recent_yield = 0.97;
    a->ctx.baseline_mean = 3.3;
    a->ctx.baseline_sigma = 0.018;
    a->ctx.baseline_yield = NAN; /* null on the wire, NaN again */
    a->ctx.br[0].dim = "fixture";
    a->ctx.br[0].value = "FX-2B";
    a->ctx.br[0].n = 40;
    a->ctx.br[0].mean = 3.25;
    a->ctx.br[0].yield = 0.9;
    a->ctx.n_br = 1;
}

static void anomaly_json(const struct spc_anomaly *a, struct spc_buf *b)
{
    b->len = 0;
    spc_anomaly_to_json(a, b);
    spc_buf_putc(b, '\0');
}

/* Anomaly: write -> read gives the same JSON; avro-c reads our bytes. */
START_TEST(anomaly_round_trip)
{
    struct spc_anomaly a, back;
    struct spc_buf b, j1, j2;
    struct spc_arena arena;
    avro_schema_t sc;
    avro_value_iface_t *cls = iface_for(SPC_AVRO_ANOMALY, &sc);
    avro_value_t v, f;
    avro_reader_t rd;
    const char *s;
    size_t sl;
    char err[256];

    sample_anomaly(&a);
    spc_buf_init(&b);
    spc_buf_init(&j1);
    spc_buf_init(&j2);
    spc_arena_init(&arena, 1024);
    spc_avro_write_anomaly(&b, &a);
    ck_assert_int_eq(spc_avro_read_anomaly(b.data, b.len, &g_dims, &back,
                                           &arena, err, sizeof(err)),
                     SPC_OK);
    anomaly_json(&a, &j1);
    anomaly_json(&back, &j2);
    ck_assert_str_eq(j1.data, j2.data);

    avro_generic_value_new(cls, &v);
    rd = avro_reader_memory(b.data, (int64_t)b.len);
    ck_assert_msg(avro_value_read(rd, &v) == 0, "avro-c: %s", avro_strerror());
    avro_value_get_by_name(&v, "anomaly_id", &f, NULL);
    avro_value_get_string(&f, &s, &sl);
    ck_assert_str_eq(s, a.id);
    avro_value_get_by_name(&v, "message", &f, NULL);
    avro_value_get_string(&f, &s, &sl);
    ck_assert_str_eq(s, a.message);
    avro_reader_free(rd);
    avro_value_decref(&v);
    avro_value_iface_decref(cls);
    avro_schema_decref(sc);

    /* every truncation is an error naming a field, never a crash */
    {
        size_t cut;

        for (cut = 0; cut < b.len; cut++) {
            spc_arena_reset(&arena);
            ck_assert_int_ne(spc_avro_read_anomaly(b.data, cut, &g_dims, &back,
                                                   &arena, err, sizeof(err)),
                             SPC_OK);
            ck_assert_ptr_nonnull(strstr(err, "avro field"));
        }
    }
    spc_arena_fini(&arena);
    spc_buf_fini(&b);
    spc_buf_fini(&j1);
    spc_buf_fini(&j2);
}
END_TEST

/* An incident body is valid for the schema: avro-c reads every byte and
 * the values where we put them. */
START_TEST(incident_readable_by_avro_c)
{
    struct spc_incident c;
    struct spc_advice_cause cause = {"Worn pins", "high", "only FX-2B"};
    char *actions[] = {"Clean the pins."};
    struct spc_buf b;
    avro_schema_t sc;
    avro_value_iface_t *cls = iface_for(SPC_AVRO_INCIDENT, &sc);
    avro_value_t v, f, g, h;
    avro_reader_t rd;
    const char *s;
    size_t sl, n;
    int32_t i32;

    memset(&c, 0, sizeof(c));
    memcpy(c.id, "fedcba9876543210fedcba9876543210", 33);
    c.revision = 3;
    c.state = SPC_INC_ACKNOWLEDGED;
    c.severity = SPC_SEV_CRITICAL;
    c.pattern = "fixture";
    c.test_plan = "PCBA-200/10";
    c.scope_dim = "fixture";
    c.scope_value = "FX-2B";
    c.scope_evidenced = 1;
    c.station = "ST-02";
    c.title = "t";
    c.summary = "s";
    c.opened_ms = 1;
    c.updated_ms = 2;
    c.acked_ms = 3;
    c.acked_by = "qe";
    c.anomaly_count = 5;
    c.n_steps = 1;
    c.steps[0].test_step = "Power/VCC 3V3";
    c.steps[0].measurement = "VCC 3V3";
    c.steps[0].detectors = (1u << SPC_DET_SUBGROUP) | (1u << SPC_DET_SHEWHART);
    c.steps[0].baseline_mean = 3.3;
    c.steps[0].baseline_sigma = 0.018;
    c.steps[0].baseline_yield = 0.999;
    c.steps[0].recent_mean = c.steps[0].recent_sd = NAN;
    c.steps[0].recent_yield = NAN;
    c.steps[0].shift_sigma = c.steps[0].slope_sigma = NAN;
    c.steps[0].lsl = 3.2;
    c.steps[0].usl = NAN;
    c.rules.source = "rules";
    c.rules.summary = "sum";
    c.rules.causes = &cause;
    c.rules.n_causes = 1;
    c.rules.actions = actions;
    c.rules.n_actions = 1;
    spc_buf_init(&b);
    spc_avro_write_incident(&b, &c);
    avro_generic_value_new(cls, &v);
    rd = avro_reader_memory(b.data, (int64_t)b.len);
    ck_assert_msg(avro_value_read(rd, &v) == 0, "avro-c: %s", avro_strerror());
    avro_value_get_by_name(&v, "revision", &f, NULL);
    avro_value_get_int(&f, &i32);
    ck_assert_int_eq(i32, 3);
    avro_value_get_by_name(&v, "scope", &f, NULL);
    avro_value_get_by_name(&f, "basis", &g, NULL);
    avro_value_get_string(&g, &s, &sl);
    ck_assert_str_eq(s, "subgroup");
    avro_value_get_by_name(&v, "steps", &f, NULL);
    avro_value_get_size(&f, &n);
    ck_assert_uint_eq(n, 1);
    avro_value_get_by_index(&f, 0, &g, NULL);
    avro_value_get_by_name(&g, "detectors", &h, NULL);
    avro_value_get_size(&h, &n);
    ck_assert_uint_eq(n, 2);
    avro_value_get_by_name(&v, "advice", &f, NULL);
    avro_value_get_discriminant(&f, &i32);
    ck_assert_int_eq(i32, 1);
    avro_value_get_current_branch(&f, &g);
    avro_value_get_by_name(&g, "source", &h, NULL);
    avro_value_get_string(&h, &s, &sl);
    ck_assert_str_eq(s, "rules");
    avro_reader_free(rd);
    avro_value_decref(&v);
    avro_value_iface_decref(cls);
    avro_schema_decref(sc);
    spc_buf_fini(&b);
}
END_TEST

/* Framing: single-object header, wrong fingerprint, foreign framings. */
START_TEST(framing)
{
    struct spc_avro *a = spc_avro_new(NULL, NULL, 0);
    struct spc_anomaly an;
    struct spc_event ev, back;
    struct spc_buf b;
    struct spc_arena arena;
    char err[256];
    uint64_t fp = 0;
    int i;

    ck_assert_ptr_nonnull(a);
    sample_event(&ev);
    spc_buf_init(&b);
    spc_arena_init(&arena, 1024);
    ck_assert_int_eq(spc_avro_encode_event(a, "spc.measurements", &ev, &g_dims,
                                           &b, err, sizeof(err)),
                     SPC_OK);
    ck_assert_int_eq((unsigned char)b.data[0], 0xC3);
    ck_assert_int_eq((unsigned char)b.data[1], 0x01);
    for (i = 9; i >= 2; i--)
        fp = (fp << 8) | (unsigned char)b.data[i];
    ck_assert(fp == spc_avro_fingerprint(a, SPC_AVRO_EVENT));
    ck_assert_int_eq(spc_avro_decode_event(a, b.data, b.len, &g_dims, &back,
                                           &arena, err, sizeof(err)),
                     SPC_OK);
    assert_events_equal(&ev, &back);
    /* an anomaly is not an event */
    ck_assert_int_eq(spc_avro_decode_anomaly(a, b.data, b.len, &g_dims, &an,
                                             &arena, err, sizeof(err)),
                     SPC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "SpcAnomaly"));
    b.data[5] ^= 0x40; /* damage the fingerprint */
    ck_assert_int_eq(spc_avro_decode_event(a, b.data, b.len, &g_dims, &back,
                                           &arena, err, sizeof(err)),
                     SPC_ERR_INVALID);
    ck_assert_int_eq(spc_avro_decode_event(a, "\0\0\0\0\7x", 6, &g_dims, &back,
                                           &arena, err, sizeof(err)),
                     SPC_ERR_INVALID);
    ck_assert_ptr_nonnull(strstr(err, "no schema registry"));
    ck_assert_int_eq(spc_avro_decode_event(a, "{\"json\":1}", 10, &g_dims,
                                           &back, &arena, err, sizeof(err)),
                     SPC_ERR_PARSE);
    ck_assert_int_eq(spc_avro_decode_event(a, "", 0, &g_dims, &back, &arena,
                                           err, sizeof(err)),
                     SPC_ERR_PARSE);
    spc_arena_fini(&arena);
    spc_buf_fini(&b);
    spc_avro_destroy(a);
}
END_TEST

/* Malformed bodies: field name and byte offset in the message. */
START_TEST(malformed_bodies)
{
    struct spc_event ev;
    struct spc_arena arena;
    struct spc_buf b;
    char err[256];

    spc_arena_init(&arena, 1024);
    spc_buf_init(&b);
    /* uut_id: length 100 with 3 bytes present */
    ck_assert_int_eq(spc_avro_read_event("\xc8\x01"
                                         "abc",
                                         5, &g_dims, &ev, &arena, err,
                                         sizeof(err)),
                     SPC_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err, "uut_id"));
    ck_assert_ptr_nonnull(strstr(err, "byte"));
    /* a negative length */
    ck_assert_int_eq(
        spc_avro_read_event("\x01", 1, &g_dims, &ev, &arena, err, sizeof(err)),
        SPC_ERR_PARSE);
    /* a varint that never ends */
    ck_assert_int_eq(spc_avro_read_event("\xff\xff\xff\xff\xff\xff\xff\xff"
                                         "\xff\xff\xff",
                                         11, &g_dims, &ev, &arena, err,
                                         sizeof(err)),
                     SPC_ERR_PARSE);
    /* trailing garbage after a valid record */
    sample_event(&ev);
    spc_avro_write_event(&b, &ev, &g_dims);
    spc_buf_putc(&b, 'x');
    ck_assert_int_eq(spc_avro_read_event(b.data, b.len, &g_dims, &ev, &arena,
                                         err, sizeof(err)),
                     SPC_ERR_PARSE);
    ck_assert_ptr_nonnull(strstr(err, "trailing"));
    spc_buf_fini(&b);
    spc_arena_fini(&arena);
}
END_TEST

/* ---- registry ---- */

struct stub {
    pid_t pid;
    int in_fd; /* its stdin: closing it stops the stub */
    int port;
};

static void stub_start(struct stub *s)
{
    int out[2], in[2];
    char line[64] = "";
    struct pollfd p;
    ssize_t n;

    ck_assert_int_eq(pipe(out), 0);
    ck_assert_int_eq(pipe(in), 0);
    s->pid = fork();
    ck_assert_int_ge(s->pid, 0);
    if (s->pid == 0) {
        dup2(out[1], 1);
        dup2(in[0], 0);
        close(out[0]);
        close(in[1]);
        execlp("python3", "python3", SPC_REGISTRY_STUB, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(in[0]);
    s->in_fd = in[1];
    p.fd = out[0];
    p.events = POLLIN;
    ck_assert_msg(poll(&p, 1, 10000) == 1, "registry stub did not start");
    n = read(out[0], line, sizeof(line) - 1);
    ck_assert_int_gt(n, 0);
    close(out[0]);
    ck_assert_int_eq(sscanf(line, "PORT %d", &s->port), 1);
}

static void stub_stop(struct stub *s)
{
    int st;

    close(s->in_fd);
    kill(s->pid, SIGTERM);
    waitpid(s->pid, &st, 0);
}

/* With a registry: Confluent framing with the registered id; the decoder
 * checks the id's schema; an id the registry does not know is refused. */
START_TEST(registry_framing)
{
    struct stub stub;
    struct spc_avro_opts o = {NULL, NULL, NULL, 5000};
    struct spc_avro *a, *other;
    struct spc_anomaly an, back;
    struct spc_buf b;
    struct spc_arena arena;
    char url[64], err[256];
    int32_t id;

    stub_start(&stub);
    snprintf(url, sizeof(url), "http://127.0.0.1:%d/", stub.port);
    o.registry_url = url;
    a = spc_avro_new(&o, err, sizeof(err));
    other = spc_avro_new(&o, err, sizeof(err)); /* another process */
    ck_assert_ptr_nonnull(a);
    sample_anomaly(&an);
    spc_buf_init(&b);
    spc_arena_init(&arena, 1024);
    ck_assert_int_eq(
        spc_avro_encode_anomaly(a, "spc.anomalies", &an, &b, err, sizeof(err)),
        SPC_OK);
    ck_assert_int_eq(b.data[0], 0);
    id = (int32_t)(((uint32_t)(unsigned char)b.data[1] << 24) |
                   ((uint32_t)(unsigned char)b.data[2] << 16) |
                   ((uint32_t)(unsigned char)b.data[3] << 8) |
                   (unsigned char)b.data[4]);
    ck_assert_int_eq(id, 101);
    ck_assert_int_eq(spc_avro_decode_anomaly(other, b.data, b.len, &g_dims,
                                             &back, &arena, err, sizeof(err)),
                     SPC_OK);
    ck_assert_str_eq(back.id, an.id);
    b.data[4] = 99; /* unknown id */
    ck_assert_int_ne(spc_avro_decode_anomaly(other, b.data, b.len, &g_dims,
                                             &back, &arena, err, sizeof(err)),
                     SPC_OK);
    spc_avro_destroy(a);
    spc_avro_destroy(other);
    stub_stop(&stub);
    /* registry gone: a transient error, not a crash */
    a = spc_avro_new(&o, err, sizeof(err));
    b.len = 0;
    ck_assert_int_eq(
        spc_avro_encode_anomaly(a, "spc.anomalies", &an, &b, err, sizeof(err)),
        SPC_ERR_TRANSIENT);
    spc_avro_destroy(a);
    spc_arena_fini(&arena);
    spc_buf_fini(&b);
}
END_TEST

Suite *avro_suite(void);

Suite *avro_suite(void)
{
    Suite *s = suite_create("avro");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, canonical_form_and_fingerprints);
    tcase_add_test(tc, event_cross_check_with_avro_c);
    tcase_add_test(tc, anomaly_round_trip);
    tcase_add_test(tc, incident_readable_by_avro_c);
    tcase_add_test(tc, framing);
    tcase_add_test(tc, malformed_bodies);
    tcase_add_test(tc, registry_framing);
    tcase_set_timeout(tc, 60);
    suite_add_tcase(s, tc);
    return s;
}
