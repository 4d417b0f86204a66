/*
 * spc_replay.c -- `spcstream replay`: the engine on a file, no Kafka/Redis.
 *
 * DATA FLOW: JSON Lines (WSJF reports or flat events) -> flatten ->
 *   spc_engine -> anomaly JSON lines (and incidents, when asked)
 * OWNERSHIP: everything is owned by struct replay and freed at the end.
 * FAILURE MODES: a malformed line is reported on stderr with its line
 *   number and reason, counted, and skipped; --strict makes it fatal (exit
 *   2).  Output write errors are fatal (exit 1).
 */
#include "spc_cli.h"

#include "spc_engine.h"
#include "spc_incident.h"
#include "spc_wsjf.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum fmt { FMT_WSJF, FMT_EVENTS };

/* An anomaly of the current report waiting for the incidents. */
struct pending {
    char id[33];
    size_t off, len; /* its JSON in pbuf */
};

struct replay {
    const char *config_path, *input_path, *output_path, *incidents_path;
    enum fmt fmt;
    int strict, progress, quiet;
    struct spc_config *cfg;
    struct spc_engine *eng;
    struct spc_incidents *inc;
    FILE *in, *out, *inc_out;
    struct spc_buf obuf, ibuf, pbuf;
    struct pending *pend;
    size_t n_pend, cap_pend;
    unsigned long revisions;
    struct spc_batch batch;
    struct spc_wsjf_opts wopts;
    int write_failed;
    /* counters */
    unsigned long lines, reports, malformed, repairs, loop_summaries, skipped;
    unsigned long long measurements, invalid_values;
};

static void help(void)
{
    printf(
        "Usage: spcstream replay [options]\n"
        "\n"
        "Run the SPC engine on a file of JSON lines and write one anomaly "
        "JSON per line.\n"
        "\n"
        "Options:\n"
        "  -c, --config FILE          engine config (JSON); default: built-in "
        "defaults\n"
        "  -i, --input FILE|-         input JSON lines (default: -, stdin)\n"
        "  -f, --input-format wsjf|events\n"
        "                             one WSJF report or one flat "
        "measurement event\n"
        "                             per line (default: wsjf)\n"
        "  -o, --output FILE|-        anomalies as JSON lines (default: -, "
        "stdout)\n"
        "      --incidents FILE|-     also group the anomalies into "
        "incidents: their\n"
        "                             revisions as JSON lines to FILE, a "
        "one-line alert\n"
        "                             per revision and a brief per "
        "incident on stderr\n"
        "      --strict               a malformed line is fatal (exit 2)\n"
        "      --progress             print progress to stderr every 2 s\n"
        "  -q, --quiet                no summary on stderr\n"
        "  -h, --help                 this help\n"
        "\n"
        "Exit status: 0 success, 1 I/O failure, 2 bad usage/config or a "
        "malformed\nline under --strict.\n");
}

static int parse_args(struct replay *r, int argc, char **argv)
{
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},
        {"input", required_argument, NULL, 'i'},
        {"input-format", required_argument, NULL, 'f'},
        {"output", required_argument, NULL, 'o'},
        {"incidents", required_argument, NULL, 'I'},
        {"strict", no_argument, NULL, 'S'},
        {"progress", no_argument, NULL, 'P'},
        {"quiet", no_argument, NULL, 'q'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0}};
    int c;

    r->input_path = "-";
    r->output_path = "-";
    optind = 1;
    while ((c = getopt_long(argc, argv, "c:i:f:o:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'c':
            r->config_path = optarg;
            break;
        case 'i':
            r->input_path = optarg;
            break;
        case 'f':
            if (!strcmp(optarg, "wsjf"))
                r->fmt = FMT_WSJF;
            else if (!strcmp(optarg, "events"))
                r->fmt = FMT_EVENTS;
            else {
                fprintf(stderr,
                        "spcstream replay: --input-format: expected wsjf or "
                        "events, got '%s'\n",
                        optarg);
                return SPC_EXIT_USAGE;
            }
            break;
        case 'o':
            r->output_path = optarg;
            break;
        case 'I':
            r->incidents_path = optarg;
            break;
        case 'S':
            r->strict = 1;
            break;
        case 'P':
            r->progress = 1;
            break;
        case 'q':
            r->quiet = 1;
            break;
        case 'h':
            help();
            return -1;
        default:
            fprintf(stderr, "Try 'spcstream replay --help'.\n");
            return SPC_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "spcstream replay: unexpected argument '%s'\n",
                argv[optind]);
        return SPC_EXIT_USAGE;
    }
    return 0;
}

static void flush_out(struct replay *r, struct spc_buf *b, FILE *f)
{
    if (b->len && fwrite(b->data, 1, b->len, f) != b->len)
        r->write_failed = 1;
    spc_buf_reset(b);
}

static void on_anomaly(const struct spc_anomaly *a, void *opaque)
{
    struct replay *r = opaque;
    size_t at = r->obuf.len;

    spc_anomaly_to_json(a, &r->obuf);
    if (r->inc) { /* held until the report is done, see feed_incidents() */
        if (r->n_pend == r->cap_pend) {
            size_t cap = r->cap_pend ? r->cap_pend * 2 : 64;
            struct pending *n = spc_realloc(r->pend, cap * sizeof(*n));

            if (!n) {
                r->write_failed = 1;
                return;
            }
            r->pend = n;
            r->cap_pend = cap;
        }
        memcpy(r->pend[r->n_pend].id, a->id, sizeof(a->id));
        r->pend[r->n_pend].off = r->pbuf.len;
        spc_buf_append(&r->pbuf, r->obuf.data + at, r->obuf.len - at);
        r->pend[r->n_pend].len = r->pbuf.len - r->pend[r->n_pend].off;
        r->n_pend++;
    }
    spc_buf_putc(&r->obuf, '\n');
    if (r->obuf.len > 65536)
        flush_out(r, &r->obuf, r->out);
}

static int pend_cmp(const void *x, const void *y)
{
    return strcmp(((const struct pending *)x)->id,
                  ((const struct pending *)y)->id);
}

/* The anomalies of one report to the incidents, as the INCIDENT stage
 * takes them: serialized, in id order within the report (its input-order
 * rule), decoded again. */
static void feed_incidents(struct replay *r)
{
    char err[256];
    size_t i;

    if (!r->inc || !r->n_pend)
        return;
    qsort(r->pend, r->n_pend, sizeof(*r->pend), pend_cmp);
    for (i = 0; i < r->n_pend && spc_buf_ok(&r->pbuf); i++) {
        json_t *root =
            json_loadb(r->pbuf.data + r->pend[i].off, r->pend[i].len, 0, NULL);
        struct spc_anomaly a;

        if (!root ||
            spc_anomaly_from_json(root, &r->cfg->dims, &a, err, sizeof(err)) !=
                SPC_OK ||
            spc_incidents_add(r->inc, &a) != SPC_OK)
            r->write_failed = 1; /* out of memory: reported as a failure */
        json_decref(root);
    }
    if (!spc_buf_ok(&r->pbuf))
        r->write_failed = 1;
    r->n_pend = 0;
    spc_buf_reset(&r->pbuf);
}

static void on_incident(const struct spc_incident *inc, void *opaque)
{
    struct replay *r = opaque;
    struct spc_buf line;

    r->revisions++;
    spc_incident_to_json(inc, &r->ibuf);
    spc_buf_putc(&r->ibuf, '\n');
    if (r->ibuf.len > 65536)
        flush_out(r, &r->ibuf, r->inc_out);
    if (r->quiet)
        return;
    spc_buf_init(&line);
    spc_incident_render_line(inc, &line);
    if (spc_buf_ok(&line))
        fprintf(stderr, "%s\n", line.data);
    spc_buf_fini(&line);
}

/* The final state of every incident, for a human. */
static void print_briefs(struct replay *r)
{
    struct spc_buf b;

    spc_buf_init(&b);
    spc_incidents_brief_all(r->inc, &b);
    if (spc_buf_ok(&b) && b.len)
        fprintf(stderr, "\n%s", b.data);
    spc_buf_fini(&b);
}

static FILE *open_file(const char *path, const char *mode, FILE *dflt)
{
    if (!strcmp(path, "-"))
        return dflt;
    return fopen(path, mode);
}

static int setup_incidents(struct replay *r)
{
    struct spc_incident_opts io;
    char err[512];

    if (spc_incident_opts_from_json(spc_config_section(r->cfg, "incidents"),
                                    &io, err, sizeof(err)) != SPC_OK) {
        fprintf(stderr, "spcstream replay: config: %s\n", err);
        return -1;
    }
    r->inc = spc_incidents_new(&io);
    if (!r->inc)
        return -1;
    spc_incidents_set_sink(r->inc, on_incident, r);
    r->inc_out = open_file(r->incidents_path, "w", stdout);
    if (!r->inc_out) {
        fprintf(stderr, "spcstream replay: %s: %s\n", r->incidents_path,
                strerror(errno));
        return -1;
    }
    return 0;
}

static int setup(struct replay *r)
{
    char err[512];

    r->cfg = r->config_path
                 ? spc_config_load(r->config_path, spc_config_daemon_sections,
                                   err, sizeof(err))
                 : spc_config_new();
    if (!r->cfg) {
        fprintf(stderr, "spcstream replay: config %s: %s\n",
                r->config_path ? r->config_path : "(defaults)", err);
        return SPC_EXIT_USAGE;
    }
    spc_config_wsjf_opts(r->cfg, &r->wopts);
    r->eng = spc_engine_new(r->cfg, err, sizeof(err));
    if (!r->eng) {
        fprintf(stderr, "spcstream replay: %s\n", err);
        return SPC_EXIT_RUNTIME;
    }
    spc_engine_set_sink(r->eng, on_anomaly, r);
    if (r->incidents_path && setup_incidents(r))
        return SPC_EXIT_USAGE;
    r->in = open_file(r->input_path, "r", stdin);
    if (!r->in) {
        fprintf(stderr, "spcstream replay: %s: %s\n", r->input_path,
                strerror(errno));
        return SPC_EXIT_RUNTIME;
    }
    r->out = open_file(r->output_path, "w", stdout);
    if (!r->out) {
        fprintf(stderr, "spcstream replay: %s: %s\n", r->output_path,
                strerror(errno));
        return SPC_EXIT_RUNTIME;
    }
    return 0;
}

/* @returns 0 processed or skipped, 1 malformed (reason in err), -1 OOM. */
static int process_wsjf(struct replay *r, const char *line, size_t len,
                        char *err, size_t errsz)
{
    spc_err_t e =
        spc_wsjf_flatten_buf(line, len, &r->wopts, &r->batch, err, errsz);

    if (e == SPC_ERR_NOMEM)
        return -1;
    if (e)
        return 1;
    if (r->batch.repair) {
        r->repairs++;
        return 0;
    }
    r->reports++;
    r->measurements += r->batch.n - 1; /* minus the <UUT> event */
    r->invalid_values += r->batch.n_invalid;
    r->loop_summaries += r->batch.n_loop_summary;
    r->skipped += r->batch.n_skipped;
    e = spc_engine_process(r->eng, r->batch.ev, r->batch.n);
    feed_incidents(r);
    return e == SPC_OK ? 0 : -1;
}

static int process_event(struct replay *r, const char *line, size_t len,
                         char *err, size_t errsz)
{
    json_error_t jerr;
    json_t *root = json_loadb(line, len, 0, &jerr);
    struct spc_event ev;
    spc_err_t e;

    if (!root) {
        snprintf(err, errsz, "invalid JSON at offset %d: %s", jerr.position,
                 jerr.text);
        return 1;
    }
    e = spc_event_from_json(root, &r->cfg->dims, &ev, err, errsz);
    if (e) {
        json_decref(root);
        return 1;
    }
    r->measurements++;
    r->invalid_values += ev.kind == SPC_KIND_NUMERIC && !ev.value_valid;
    e = spc_engine_process(r->eng, &ev, 1);
    json_decref(root);
    feed_incidents(r);
    return e == SPC_OK ? 0 : -1;
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int run_loop(struct replay *r, double t0)
{
    char *line = NULL, err[512];
    size_t cap = 0;
    ssize_t n;
    double last = t0;
    int rc = SPC_EXIT_OK, res;

    while ((n = getline(&line, &cap, r->in)) > 0) {
        r->lines++;
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        if (n == 0)
            continue;
        err[0] = '\0';
        res = r->fmt == FMT_WSJF
                  ? process_wsjf(r, line, (size_t)n, err, sizeof(err))
                  : process_event(r, line, (size_t)n, err, sizeof(err));
        if (res < 0) {
            fprintf(stderr, "spcstream replay: line %lu: out of memory\n",
                    r->lines);
            rc = SPC_EXIT_RUNTIME;
            break;
        }
        if (res > 0) {
            r->malformed++;
            fprintf(stderr, "spcstream replay: line %lu: %s\n", r->lines, err);
            if (r->strict) {
                rc = SPC_EXIT_USAGE;
                break;
            }
        }
        if (r->write_failed)
            break;
        if (r->progress && now_s() - last >= 2.0) {
            last = now_s();
            fprintf(stderr, "spcstream replay: %lu lines, %llu measurements\n",
                    r->lines, r->measurements);
        }
    }
    if (ferror(r->in)) {
        fprintf(stderr, "spcstream replay: read error: %s\n", strerror(errno));
        rc = SPC_EXIT_RUNTIME;
    }
    free(line);
    return rc;
}

static void summary(struct replay *r, double secs)
{
    struct spc_engine_stats st;
    int d, first = 1;

    spc_engine_get_stats(r->eng, &st);
    fprintf(stderr,
            "spcstream replay: %lu %s (%lu malformed, %lu repair skipped), "
            "%llu measurements (%llu invalid values, %lu loop summaries and "
            "%lu skipped steps not charted), %llu step keys\n",
            r->fmt == FMT_WSJF ? r->reports : r->lines - r->malformed,
            r->fmt == FMT_WSJF ? "reports" : "events", r->malformed, r->repairs,
            r->measurements, r->invalid_values, r->loop_summaries, r->skipped,
            (unsigned long long)st.keys);
    fprintf(stderr, "spcstream replay: %llu anomalies",
            (unsigned long long)st.anomalies_total);
    for (d = 0; d < SPC_DET__COUNT; d++) {
        if (!st.anomalies[d])
            continue;
        fprintf(stderr, "%s%s %llu", first ? " (" : ", ",
                spc_det_name((enum spc_det)d),
                (unsigned long long)st.anomalies[d]);
        first = 0;
    }
    fprintf(stderr, "%s", first ? "" : ")");
    if (r->inc)
        fprintf(stderr, ", %zu incidents (%lu revisions)",
                spc_incidents_count(r->inc), r->revisions);
    fprintf(stderr, "; %.2f s, %.0f events/s\n", secs,
            secs > 0 ? st.events / secs : 0.0);
}

static void cleanup(struct replay *r)
{
    if (r->in && r->in != stdin)
        fclose(r->in);
    if (r->out && r->out != stdout)
        fclose(r->out);
    if (r->inc_out && r->inc_out != stdout)
        fclose(r->inc_out);
    spc_incidents_destroy(r->inc);
    spc_buf_fini(&r->ibuf);
    spc_buf_fini(&r->pbuf);
    free(r->pend);
    spc_engine_destroy(r->eng);
    spc_config_destroy(r->cfg);
    spc_batch_fini(&r->batch);
    spc_buf_fini(&r->obuf);
}

int spc_cmd_replay(int argc, char **argv)
{
    struct replay r;
    double t0;
    int rc;

    memset(&r, 0, sizeof(r));
    spc_batch_init(&r.batch);
    spc_buf_init(&r.obuf);
    spc_buf_init(&r.ibuf);
    spc_buf_init(&r.pbuf);
    rc = parse_args(&r, argc, argv);
    if (rc)
        goto out;
    r.progress |= isatty(STDERR_FILENO) && !r.quiet;
    if ((rc = setup(&r)))
        goto out;
    t0 = now_s();
    rc = run_loop(&r, t0);
    if (r.inc)
        spc_incidents_flush(r.inc);
    flush_out(&r, &r.obuf, r.out);
    if (r.inc_out) {
        flush_out(&r, &r.ibuf, r.inc_out);
        if (fflush(r.inc_out) != 0)
            r.write_failed = 1;
        if (!r.quiet)
            print_briefs(&r);
    }
    if (fflush(r.out) != 0 || r.write_failed) {
        fprintf(stderr, "spcstream replay: write error: %s\n", strerror(errno));
        rc = SPC_EXIT_RUNTIME;
    }
    if (!r.quiet)
        summary(&r, now_s() - t0);
out:
    cleanup(&r);
    return rc < 0 ? SPC_EXIT_OK : rc;
}
