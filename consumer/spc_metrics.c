/*
 * spc_metrics.c -- stats line and Prometheus endpoint.
 *
 * REFERENCES: Prometheus text exposition format 0.0.4.
 */
#include "spc_metrics.h"

#include "spc_log.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct spc_metrics_srv {
    struct spc_run *r;
    int fd;
    pthread_t th;
    atomic_int stop;
};

void spc_metrics_text(struct spc_run *r, struct spc_buf *b)
{
    const struct spc_metrics *m = &r->m;
    long last = atomic_load(&m->last_checkpoint_ms);
    struct {
        const char *name, *help;
        unsigned long v;
    } c[] = {
        {"spcstream_reports_total", "WSJF reports normalized",
         atomic_load(&m->reports)},
        {"spcstream_repair_reports_total", "repair reports skipped",
         atomic_load(&m->repairs)},
        {"spcstream_events_produced_total", "measurement events produced",
         atomic_load(&m->events_out)},
        {"spcstream_events_processed_total", "measurement events processed",
         atomic_load(&m->events_in)},
        {"spcstream_anomalies_total", "anomalies produced",
         atomic_load(&m->anomalies)},
        {"spcstream_incident_revisions_total", "incident revisions produced",
         atomic_load(&m->incidents)},
        {"spcstream_dlq_total", "messages sent to the dead-letter queue",
         atomic_load(&m->dlq)},
        {"spcstream_checkpoints_total", "checkpoints written",
         atomic_load(&m->checkpoints)},
        {"spcstream_checkpoint_errors_total", "checkpoint writes that failed",
         atomic_load(&m->checkpoint_errors)},
        {"spcstream_transactions_committed_total",
         "NORMALIZE transactions committed", atomic_load(&m->txn_commits)},
        {"spcstream_transactions_aborted_total",
         "NORMALIZE transactions aborted", atomic_load(&m->txn_aborts)},
    };
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(c); i++)
        spc_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %lu\n",
                       c[i].name, c[i].help, c[i].name, c[i].name, c[i].v);
    spc_buf_printf(b,
                   "# HELP spcstream_detect_lag messages behind on DETECT "
                   "input\n# TYPE spcstream_detect_lag gauge\n"
                   "spcstream_detect_lag %ld\n"
                   "# HELP spcstream_detect_partitions partitions owned\n"
                   "# TYPE spcstream_detect_partitions gauge\n"
                   "spcstream_detect_partitions %d\n"
                   "# HELP spcstream_checkpoint_age_seconds since the last "
                   "checkpoint\n# TYPE spcstream_checkpoint_age_seconds "
                   "gauge\nspcstream_checkpoint_age_seconds %.3f\n",
                   atomic_load(&m->lag), atomic_load(&m->partitions),
                   last ? (spc_now_mono_ms() - last) / 1000.0 : -1.0);
}

void spc_metrics_log(struct spc_run *r)
{
    static unsigned long prev_rep, prev_in;
    static int64_t prev_ms;
    const struct spc_metrics *m = &r->m;
    unsigned long rep = atomic_load(&m->reports);
    unsigned long in = atomic_load(&m->events_in);
    int64_t now = spc_now_mono_ms();
    long last = atomic_load(&m->last_checkpoint_ms);
    double secs = prev_ms ? (now - prev_ms) / 1000.0 : 0.0;
    char age[32];

    if (last)
        snprintf(age, sizeof(age), "%.1fs", (now - last) / 1000.0);
    else
        snprintf(age, sizeof(age), "none");
    spc_log(SPC_LOG_INFO,
            "stats: %.0f reports/s, %.0f events/s, lag %ld, partitions %d, "
            "checkpoint age %s, anomalies %lu, incident revisions %lu, "
            "dlq %lu, slowest commit %ld ms, slowest checkpoint %ld ms",
            secs > 0 ? (rep - prev_rep) / secs : 0.0,
            secs > 0 ? (in - prev_in) / secs : 0.0, atomic_load(&m->lag),
            atomic_load(&m->partitions), age, atomic_load(&m->anomalies),
            atomic_load(&m->incidents), atomic_load(&m->dlq),
            atomic_exchange(&((struct spc_metrics *)m)->commit_max_ms, 0),
            atomic_exchange(&((struct spc_metrics *)m)->ckpt_max_ms, 0));
    prev_rep = rep;
    prev_in = in;
    prev_ms = now;
}

static void answer(struct spc_metrics_srv *s, int c)
{
    char req[1024], head[256];
    struct spc_buf b;
    ssize_t n = recv(c, req, sizeof(req) - 1, 0);
    int ok;

    if (n <= 0)
        return;
    req[n] = '\0';
    ok = !strncmp(req, "GET /metrics ", 13) || !strncmp(req, "GET / ", 6);
    spc_buf_init(&b);
    if (ok)
        spc_metrics_text(s->r, &b);
    else
        spc_buf_puts(&b, "not found\n");
    snprintf(head, sizeof(head),
             "HTTP/1.0 %s\r\nContent-Type: text/plain; version=0.0.4\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
             ok ? "200 OK" : "404 Not Found", b.len);
    if (send(c, head, strlen(head), MSG_NOSIGNAL) > 0 && b.len)
        (void)send(c, b.data, b.len, MSG_NOSIGNAL);
    spc_buf_fini(&b);
}

static void *serve_main(void *arg)
{
    struct spc_metrics_srv *s = arg;

    while (!atomic_load(&s->stop)) {
        struct pollfd pfd = {s->fd, POLLIN, 0};
        int c;

        if (poll(&pfd, 1, 200) <= 0)
            continue;
        c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        answer(s, c);
        close(c);
    }
    return NULL;
}

struct spc_metrics_srv *spc_metrics_serve(struct spc_run *r, int port)
{
    struct spc_metrics_srv *s;
    struct sockaddr_in a;
    int one = 1;

    if (port <= 0)
        return NULL;
    s = spc_calloc(1, sizeof(*s));
    if (!s)
        return NULL;
    s->r = r;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s->fd < 0 ||
        setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
        bind(s->fd, (struct sockaddr *)&a, sizeof(a)) || listen(s->fd, 16) ||
        pthread_create(&s->th, NULL, serve_main, s)) {
        spc_log(SPC_LOG_ERROR, "metrics: cannot serve on 127.0.0.1:%d", port);
        if (s->fd >= 0)
            close(s->fd);
        free(s);
        return NULL;
    }
    spc_log(SPC_LOG_INFO, "metrics: http://127.0.0.1:%d/metrics", port);
    return s;
}

void spc_metrics_stop(struct spc_metrics_srv *s)
{
    if (!s)
        return;
    atomic_store(&s->stop, 1);
    pthread_join(s->th, NULL);
    close(s->fd);
    free(s);
}
