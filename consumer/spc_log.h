/*
 * spc_log.h -- logging for the daemon: one line per message with a UTC
 * timestamp and level on stderr; rate-limited logging per kind (poison
 * input must not flood the log: the first occurrence is logged, then one
 * summary line per kind per minute with the count).
 *
 * THREADING: thread-safe (a mutex around the kind table and the write).
 */
#ifndef SPC_LOG_H
#define SPC_LOG_H

#include "spc_common.h"

enum spc_log_level { SPC_LOG_DEBUG, SPC_LOG_INFO, SPC_LOG_WARN, SPC_LOG_ERROR };

void spc_log_set_level(enum spc_log_level min);
void spc_log(enum spc_log_level lvl, const char *fmt, ...) SPC_PRINTF(2, 3);
/** Log under @p kind (copied; its first 63 bytes name it): first time,
 *  then once a minute. */
void spc_log_limited(enum spc_log_level lvl, const char *kind, const char *fmt,
                     ...) SPC_PRINTF(3, 4);

#endif /* SPC_LOG_H */
