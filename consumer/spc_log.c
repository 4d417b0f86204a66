/*
 * spc_log.c -- timestamped, rate-limited logging on stderr.
 */
#include "spc_log.h"

#include <pthread.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

#define KINDS 64
#define PERIOD_MS 60000

static enum spc_log_level min_level = SPC_LOG_INFO;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

static struct {
    char kind[64]; /* a copy: callers may pass a buffer */
    int64_t last_ms;
    unsigned long suppressed;
} kinds[KINDS];

static const char *const names[] = {"debug", "info", "warn", "error"};

void spc_log_set_level(enum spc_log_level min)
{
    min_level = min;
}

static void vlog(enum spc_log_level lvl, const char *suffix, const char *fmt,
                 va_list ap)
{
    char ts[32], line[2048];
    struct timespec now;
    struct tm tm;
    int n;

    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line, sizeof(line), "%s.%03ldZ spcstream %s: ", ts,
                 now.tv_nsec / 1000000, names[lvl]);
    if (n < 0)
        return;
    vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    fprintf(stderr, "%s%s\n", line, suffix ? suffix : "");
}

void spc_log(enum spc_log_level lvl, const char *fmt, ...)
{
    va_list ap;

    if (lvl < min_level)
        return;
    pthread_mutex_lock(&lock);
    va_start(ap, fmt);
    vlog(lvl, NULL, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&lock);
}

void spc_log_limited(enum spc_log_level lvl, const char *kind, const char *fmt,
                     ...)
{
    int64_t now = spc_now_mono_ms();
    char suffix[96] = "";
    va_list ap;
    int i, slot = -1;

    if (lvl < min_level)
        return;
    pthread_mutex_lock(&lock);
    for (i = 0; i < KINDS; i++) {
        if (kinds[i].kind[0] &&
            !strncmp(kinds[i].kind, kind, sizeof(kinds[i].kind) - 1)) {
            slot = i;
            break;
        }
        if (!kinds[i].kind[0] && slot < 0)
            slot = i;
    }
    if (slot >= 0 && kinds[slot].kind[0] &&
        now - kinds[slot].last_ms < PERIOD_MS) {
        kinds[slot].suppressed++;
        pthread_mutex_unlock(&lock);
        return;
    }
    if (slot >= 0) {
        if (kinds[slot].kind[0] && kinds[slot].suppressed)
            snprintf(suffix, sizeof(suffix),
                     " (%lu more of this kind in the last minute)",
                     kinds[slot].suppressed);
        snprintf(kinds[slot].kind, sizeof(kinds[slot].kind), "%s", kind);
        kinds[slot].last_ms = now;
        kinds[slot].suppressed = 0;
    }
    va_start(ap, fmt);
    vlog(lvl, suffix, fmt, ap);
    va_end(ap);
    pthread_mutex_unlock(&lock);
}
