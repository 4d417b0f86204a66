/*
 * spc_kafka.h -- the Kafka edge: run-time options (topics, group, stages,
 * checkpoint cadence), librdkafka configuration with "kafka.*" passthrough
 * and environment overrides, client construction, topic creation, the
 * partitioner shared with Java clients, and the dead-letter queue.
 *
 * OWNERSHIP: spc_run_opts owns its strings (spc_run_opts_fini()).
 * THREADING: rd_kafka_t handles are thread-safe for produce/poll as
 *   librdkafka documents; consumers are polled by one thread each.
 */
#ifndef SPC_KAFKA_H
#define SPC_KAFKA_H

#include "spc_common.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>

/* Stages of `spcstream run` (bit mask). */
#define SPC_STAGE_NORMALIZE 1u
#define SPC_STAGE_DETECT 2u
#define SPC_STAGE_INCIDENT 4u
#define SPC_STAGE_ALL 7u

enum spc_out_format { SPC_OUT_AVRO = 0, SPC_OUT_JSON = 1 };

struct spc_topics {
    char *reports, *measurements, *anomalies, *incidents, *actions, *dlq;
    int32_t measurements_partitions; /* when created by us */
    int32_t anomalies_partitions;
    int32_t other_partitions;
    int16_t replication;
};

struct spc_run_opts {
    unsigned stages;
    char *group;    /* consumer group prefix ("spcstream") */
    char *instance; /* stable id of this process (transactional.id) */
    int workers;    /* DETECT worker threads */
    long checkpoint_ms;
    long checkpoint_events;
    long stats_ms;
    int metrics_port;                    /* 0: no Prometheus endpoint */
    long shutdown_ms;                    /* bound on a clean stop */
    enum spc_out_format format;          /* spc.anomalies (default Avro) */
    enum spc_out_format incident_format; /* spc.incidents (default JSON:
                                            read as is by the station hook
                                            and MES without a registry) */
    int create_topics;
    struct spc_topics topics;
    json_t *kafka; /* librdkafka properties (owned reference) */
    char *registry_url, *registry_user, *registry_password;
};

/** Defaults, then the config's "run", "topics" and "kafka" sections, then
 *  the environment (SPCSTREAM_BOOTSTRAP_SERVERS, SPCSTREAM_KAFKA_<PROP>
 *  with '_' for '.', SPCSTREAM_GROUP, SPCSTREAM_INSTANCE).  Errors name the
 *  JSON path. */
spc_err_t spc_run_opts_load(struct spc_run_opts *o, const json_t *run,
                            const json_t *topics, const json_t *kafka,
                            char *errstr, size_t errstr_size) SPC_WUR;
void spc_run_opts_fini(struct spc_run_opts *o);

struct spc_config;
/**
 * @brief For the Kafka client commands (action, incidents): load the config
 * file @p path (NULL: defaults) and its run/topics/kafka sections.
 * @param cfg returns owned (spc_config_destroy()) on success.
 * @returns SPC_OK, or an error with the reason (JSON path) in errstr;
 *   nothing to free then.
 */
spc_err_t spc_run_opts_from_file(const char *path, struct spc_config **cfg,
                                 struct spc_run_opts *o, char *errstr,
                                 size_t errstr_size) SPC_WUR;
/** Parse "normalize,detect,incident" (or "all"). @returns mask or 0. */
unsigned spc_stages_parse(const char *s);

enum spc_client_role {
    SPC_ROLE_CONSUMER,    /* group member, manual commits, read_committed */
    SPC_ROLE_PRODUCER,    /* idempotent */
    SPC_ROLE_TXN_PRODUCER /* transactional (transactional.id given) */
};

/**
 * @brief Build a client: the passthrough properties, then the role's
 * required settings (which win: idempotence, acks=all, isolation level,
 * eager assignor, no auto commit ...).
 * @param group group.id for consumers; @param txn_id transactional.id.
 * @returns owned handle or NULL with the reason.
 */
rd_kafka_t *spc_kafka_client(const struct spc_run_opts *o,
                             enum spc_client_role role, const char *group,
                             const char *txn_id, rd_kafka_conf_t *conf,
                             char *errstr, size_t errstr_size);

/** Create the topics of @p o that do not exist (compaction for
 *  incidents).  @returns SPC_OK, or SPC_ERR_TRANSIENT when the broker did
 *  not answer in time. */
spc_err_t spc_kafka_ensure_topics(rd_kafka_t *rk, const struct spc_run_opts *o,
                                  unsigned stages, char *errstr,
                                  size_t errstr_size) SPC_WUR;

/** Partition of @p key among @p n partitions, as the Java client's default
 *  partitioner (murmur2, positive) so mixed producers agree. */
int32_t spc_kafka_partition(const void *key, size_t keylen, int32_t n);

/** Number of partitions of @p topic (metadata request), or -1. */
int32_t spc_kafka_partition_count(rd_kafka_t *rk, const char *topic,
                                  int timeout_ms);

/**
 * @brief Send poison input to the dead-letter topic: the original bytes and
 * key, plus headers spc-stage, spc-error, spc-source-topic,
 * spc-source-partition, spc-source-offset.
 */
spc_err_t spc_kafka_dlq(rd_kafka_t *producer, const char *dlq_topic,
                        const char *stage, const char *error,
                        const rd_kafka_message_t *src) SPC_WUR;

/* Headers of the internal topics.  spc-pos on spc.measurements and
 * spc.anomalies records: "r:o:i", the event's place in the input (reports
 * partition, offset, event index in the report).  spc-control marks a
 * control record ("tick": progress watermark, "rebaseline"): consumers of
 * spc.anomalies other than INCIDENT skip records carrying it. */
#define SPC_HDR_POS "spc-pos"
#define SPC_HDR_CONTROL "spc-control"

struct spc_pos {
    int32_t r;  /* wats.reports partition */
    int64_t o;  /* its offset */
    uint32_t i; /* event index in the report */
};

void spc_pos_format(int32_t r, int64_t o, uint32_t i, char *out, size_t n);
/** @returns 0 and @p p, -1 when @p v is not "r:o:i". */
int spc_pos_parse(const void *v, size_t len, struct spc_pos *p);
/** The last header @p name of @p m (@p len set), or NULL. */
const void *spc_kafka_header(const rd_kafka_message_t *m, const char *name,
                             size_t *len);

/** Transient? (broker down, timeouts, leader changes ...) */
int spc_kafka_err_transient(rd_kafka_resp_err_t err);

#endif /* SPC_KAFKA_H */
