/*
 * spc_metrics.h -- the periodic one-line stats log and the Prometheus text
 * endpoint (GET /metrics on 127.0.0.1:<metrics_port>).
 *
 * THREADING: the endpoint runs its own thread; both read the run's atomics.
 */
#ifndef SPC_METRICS_H
#define SPC_METRICS_H

#include "spc_run.h"

struct spc_metrics_srv;

/** Start the endpoint on @p port (0: none). NULL on failure (logged). */
struct spc_metrics_srv *spc_metrics_serve(struct spc_run *r, int port);
void spc_metrics_stop(struct spc_metrics_srv *s);

/** Log one line: rates since the previous call, lag, checkpoint age, DLQ. */
void spc_metrics_log(struct spc_run *r);

/** Write the Prometheus text exposition of @p r into @p b. */
void spc_metrics_text(struct spc_run *r, struct spc_buf *b);

#endif /* SPC_METRICS_H */
