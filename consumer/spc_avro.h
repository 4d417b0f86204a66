/*
 * spc_avro.h -- Avro encoding of the internal and output topics
 * (spc.measurements, spc.anomalies, spc.incidents); schemas in
 * schemas/ (*.avsc), embedded at build time; framing and measurements in
 * docs/serialization.md.
 *
 * DATA FLOW: struct spc_event / spc_anomaly / spc_incident -> Avro binary
 *   body (hand-written encoder for the fixed schemas: 10x faster than
 *   avro-c's generic values, cross-checked against avro-c in the tests) ->
 *   framing: Confluent wire format (0x00, 4-byte schema id) when a schema
 *   registry is configured, else Avro single-object encoding (0xC3 0x01,
 *   8-byte CRC-64-AVRO fingerprint of the schema's Parsing Canonical Form).
 *   Decoding accepts both framings and checks the schema (fingerprint, or
 *   the registry's schema for the id) before reading a byte of the body.
 * OWNERSHIP: decoded strings live in the caller's arena.
 * THREADING: one struct spc_avro per thread (registry cache, curl handle).
 * FAILURE MODES: malformed input -> SPC_ERR_PARSE with the field and byte
 *   offset; registry unreachable -> SPC_ERR_TRANSIENT; a schema that is not
 *   ours -> SPC_ERR_INVALID.
 */
#ifndef SPC_AVRO_H
#define SPC_AVRO_H

#include "spc_anomaly.h"
#include "spc_buf.h"
#include "spc_event.h"
#include "spc_incident.h"

#include <stdint.h>

enum spc_avro_schema {
    SPC_AVRO_EVENT = 0, /* schemas/measurement_event.avsc */
    SPC_AVRO_ANOMALY,   /* schemas/spc_anomaly.avsc */
    SPC_AVRO_INCIDENT,  /* schemas/spc_incident.avsc */
    SPC_AVRO__COUNT
};

/** Schema registry access (Confluent-compatible REST API); all NULL: no
 *  registry, single-object encoding.  Strings are copied. */
struct spc_avro_opts {
    const char *registry_url; /* e.g. http://127.0.0.1:8081 */
    const char *registry_user, *registry_password; /* HTTP basic auth */
    long timeout_ms;
};

struct spc_avro;

/** Parse and check the embedded schemas (with avro-c).  @returns owned
 *  codec, NULL with the reason in @p errstr. */
struct spc_avro *spc_avro_new(const struct spc_avro_opts *o, char *errstr,
                              size_t errstr_size);
void spc_avro_destroy(struct spc_avro *a);

/** The embedded schema text; its canonical-form fingerprint. */
const char *spc_avro_schema_json(enum spc_avro_schema s);
uint64_t spc_avro_fingerprint(const struct spc_avro *a, enum spc_avro_schema s);

/** Parsing Canonical Form of a schema (Avro specification 1.11,
 *  "Parsing Canonical Form for Schemas"). */
spc_err_t spc_avro_canonical(const char *schema_json, struct spc_buf *out,
                             char *errstr, size_t errstr_size) SPC_WUR;
/** CRC-64-AVRO (Rabin) fingerprint of @p len bytes. */
uint64_t spc_avro_crc64(const void *data, size_t len);

/* Framed messages.  @p topic names the registry subject "<topic>-value". */
spc_err_t spc_avro_encode_event(struct spc_avro *a, const char *topic,
                                const struct spc_event *ev,
                                const struct spc_dims *dims,
                                struct spc_buf *out, char *errstr,
                                size_t errstr_size) SPC_WUR;
/** @param ev receives pointers into @p arena; meta keys not in @p dims are
 *  ignored. */
spc_err_t spc_avro_decode_event(struct spc_avro *a, const void *data,
                                size_t len, const struct spc_dims *dims,
                                struct spc_event *ev, struct spc_arena *arena,
                                char *errstr, size_t errstr_size) SPC_WUR;
spc_err_t spc_avro_encode_anomaly(struct spc_avro *a, const char *topic,
                                  const struct spc_anomaly *an,
                                  struct spc_buf *out, char *errstr,
                                  size_t errstr_size) SPC_WUR;
spc_err_t spc_avro_decode_anomaly(struct spc_avro *a, const void *data,
                                  size_t len, const struct spc_dims *dims,
                                  struct spc_anomaly *an,
                                  struct spc_arena *arena, char *errstr,
                                  size_t errstr_size) SPC_WUR;
spc_err_t spc_avro_encode_incident(struct spc_avro *a, const char *topic,
                                   const struct spc_incident *inc,
                                   struct spc_buf *out, char *errstr,
                                   size_t errstr_size) SPC_WUR;

/* Bodies only (no framing), for tests and tools. */
void spc_avro_write_event(struct spc_buf *b, const struct spc_event *ev,
                          const struct spc_dims *dims);
void spc_avro_write_anomaly(struct spc_buf *b, const struct spc_anomaly *an);
void spc_avro_write_incident(struct spc_buf *b, const struct spc_incident *inc);
spc_err_t spc_avro_read_event(const void *data, size_t len,
                              const struct spc_dims *dims, struct spc_event *ev,
                              struct spc_arena *arena, char *errstr,
                              size_t errstr_size) SPC_WUR;
spc_err_t spc_avro_read_anomaly(const void *data, size_t len,
                                const struct spc_dims *dims,
                                struct spc_anomaly *an, struct spc_arena *arena,
                                char *errstr, size_t errstr_size) SPC_WUR;

#endif /* SPC_AVRO_H */
