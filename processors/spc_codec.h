/*
 * spc_codec.h -- versioned binary encoding of the engine's per-key state
 * for checkpoints (DESIGN section 6).
 *
 * A blob is self-contained: names and metadata values travel as strings, so
 * a blob written by one process restores into another whose intern tables
 * differ, and a restored engine continues byte-identically (every double is
 * carried bit-exactly; the ring is replayed in order).
 *
 * OWNERSHIP: blobs handed to the sink are valid during the call only.
 * THREADING: the engine's thread.
 */
#ifndef SPC_CODEC_H
#define SPC_CODEC_H

#include "spc_engine.h"

/** Version written into every blob; readers accept this one only. */
#define SPC_CODEC_VERSION 1

/** Receives one key: its id (plan \x1f step \x1f measurement) and blob;
 *  non-zero stops the export with SPC_ERR_IO. */
typedef int(spc_codec_sink)(const char *key_id, size_t key_len,
                            const void *blob, size_t len, void *opaque);

/** Encode every key (or only those changed since the last
 *  spc_engine_clear_dirty()) and hand each to @p cb. */
spc_err_t spc_codec_export(struct spc_engine *e, int dirty_only,
                           spc_codec_sink *cb, void *opaque) SPC_WUR;

/**
 * @brief Restore one key from @p blob (replacing its state if the key
 * exists).  A blob of another version or a corrupt one is rejected with the
 * reason in errstr and the engine unchanged.
 */
spc_err_t spc_codec_import(struct spc_engine *e, const void *blob, size_t len,
                           char *errstr, size_t errstr_size) SPC_WUR;

#endif /* SPC_CODEC_H */
