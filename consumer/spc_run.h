/*
 * spc_run.h -- the shared state of `spcstream run`: options, engine config,
 * the run flag, metrics.  Each stage runs in its own threads and reads this
 * read-only except for the atomics.
 *
 * THREADING: counters are C11 atomics; everything else is written before
 *   the stage threads start and read-only afterwards.
 */
#ifndef SPC_RUN_H
#define SPC_RUN_H

#include "spc_ckpt.h"
#include "spc_config.h"
#include "spc_kafka.h"

#include <stdatomic.h>

struct spc_metrics {
    atomic_ulong reports;     /* WSJF reports normalized */
    atomic_ulong repairs;     /* repair reports skipped */
    atomic_ulong events_out;  /* measurement events produced */
    atomic_ulong events_in;   /* measurement events processed */
    atomic_ulong anomalies;   /* anomalies produced */
    atomic_ulong incidents;   /* incident revisions produced */
    atomic_ulong dlq;         /* messages sent to the DLQ */
    atomic_ulong checkpoints; /* successful checkpoint writes */
    atomic_ulong checkpoint_errors;
    atomic_ulong txn_commits, txn_aborts;
    atomic_long last_checkpoint_ms; /* monotonic time of the last one */
    atomic_long lag;                /* messages behind on DETECT input */
    atomic_int partitions;          /* DETECT partitions owned */
    atomic_long commit_max_ms;      /* slowest NORMALIZE commit, and */
    atomic_long ckpt_max_ms;        /* checkpoint, since the last stats line */
};

struct spc_run {
    struct spc_run_opts o;
    struct spc_config *cfg;
    struct spc_redis_opts redis;
    atomic_int running; /* 0: stop requested */
    atomic_int failed;  /* a stage hit a fatal error */
    struct spc_metrics m;
};

/** Request a stop (fatal: the process exits non-zero). */
static inline void spc_run_stop(struct spc_run *r, int fatal)
{
    if (fatal)
        atomic_store(&r->failed, 1);
    atomic_store(&r->running, 0);
}

/** Raise *@p max to @p v (lock-free). */
static inline void spc_atomic_max(atomic_long *max, long v)
{
    long cur = atomic_load(max);

    while (v > cur && !atomic_compare_exchange_weak(max, &cur, v))
        ;
}

static inline int spc_running(struct spc_run *r)
{
    return atomic_load(&r->running);
}

/* Stages: start the stage's threads (NULL with the reason logged); join
 * them after the run flag went to 0 (the stage finishes its work first:
 * commit, checkpoint, close). */
struct spc_normalize;
struct spc_detect;
struct spc_incident_stage;
struct spc_normalize *spc_normalize_start(struct spc_run *r);
void spc_normalize_join(struct spc_normalize *s);
struct spc_detect *spc_detect_start(struct spc_run *r);
void spc_detect_join(struct spc_detect *s);
struct spc_incident_stage *spc_incident_start(struct spc_run *r);
void spc_incident_join(struct spc_incident_stage *s);

/** Sleep up to @p ms, waking early when the run flag drops. */
void spc_run_sleep(struct spc_run *r, long ms);

#endif /* SPC_RUN_H */
