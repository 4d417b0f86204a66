/*
 * spc_ckpt.h -- checkpoint store of the stateful stages (DETECT, INCIDENT)
 * in Redis: per input partition, the changed key states (opaque blobs) and
 * the input offset they reflect, written atomically by one fenced Lua
 * script (DESIGN section 6; layout and limits in docs/checkpoints.md).
 *
 * Life of a partition in a worker:
 *   assign:  spc_ckpt_fence() -> token; spc_ckpt_load() -> offset + blobs
 *   running: spc_ckpt_write(token, next offset, dirty blobs) every flush
 *   revoke:  spc_ckpt_write() the last dirty blobs, forget the token
 * A process that lost the partition keeps an old token; its writes fail
 * with SPC_ERR_FENCED and change nothing.
 *
 * OWNERSHIP: every pointer argument is borrowed for the duration of the
 *   call; struct spc_ckpt copies what it keeps (options, password).
 * THREADING: one struct spc_ckpt (one hiredis connection) per thread; a
 *   handle is never shared.  Different handles may be used concurrently.
 * FAILURE MODES: SPC_ERR_TRANSIENT (connection refused/reset/timeout,
 *   LOADING, BUSY, READONLY, OOM, ...): pause, back off, call
 *   spc_ckpt_reconnect(), retry with the same data; keep the state.
 *   SPC_ERR_FENCED: the partition has a newer owner; drop its state.
 *   SPC_ERR_FATAL (WRONGPASS, NOAUTH, bad db, unexpected replies): stop.
 *   Messages never contain the password.
 */
#ifndef SPC_CKPT_H
#define SPC_CKPT_H

#include "spc_common.h"

#include <jansson.h>
#include <stdint.h>

/** Defaults of struct spc_redis_opts (spc_redis_opts_init()). */
#define SPC_REDIS_DEFAULT_HOST "127.0.0.1"
#define SPC_REDIS_DEFAULT_PORT 6379
#define SPC_REDIS_DEFAULT_CONNECT_TIMEOUT_MS 2000L
#define SPC_REDIS_DEFAULT_TIMEOUT_MS 10000L
#define SPC_REDIS_DEFAULT_PREFIX "ckpt:"

/** Upper bound of items per spc_ckpt_write()/spc_ckpt_delete_keys() call
 *  (keeps the command under the 1 Mi argument limit of older servers). */
#define SPC_CKPT_MAX_ITEMS 500000u
/** Upper bound of strlen(prefix) + strlen(scope). */
#define SPC_CKPT_MAX_NAME 400u

/**
 * Connection options.  All strings are borrowed (spc_ckpt_new() copies
 * them).  unix_socket, when set, wins over host/port.  username needs a
 * password (Redis 6 ACL); a password alone authenticates the default user.
 */
struct spc_redis_opts {
    const char *host;
    int port;
    const char *unix_socket; /**< NULL: TCP */
    const char *username;    /**< NULL: "AUTH <password>" */
    const char *password;    /**< NULL: no AUTH */
    int db;                  /**< SELECT-ed after connecting */
    long connect_timeout_ms;
    long timeout_ms; /**< per read/write on the socket, also of a big script */
    const char *prefix; /**< prepended to every key; no '{' or '}' */
};

/** One key state.  For spc_ckpt_delete_keys() only key/key_len are read. */
struct spc_ckpt_item {
    const char *key; /**< binary-safe, key_len bytes */
    size_t key_len;
    const void *blob; /**< binary-safe, len bytes */
    size_t len;
};

struct spc_ckpt;

/** Receives one stored key state during spc_ckpt_load(); @p key and
 *  @p blob are valid during the call only.  Non-zero stops the load, which
 *  then returns SPC_ERR_INVALID. */
typedef int(spc_ckpt_blob_cb)(const char *key, size_t key_len, const void *blob,
                              size_t len, void *opaque);

/** @brief Fill @p o with the defaults (127.0.0.1:6379, db 0, no AUTH). */
void spc_redis_opts_init(struct spc_redis_opts *o);

/**
 * @brief Parse the config file's "redis" section over the defaults.
 * @param section the "redis" object, or NULL for the defaults.
 * @returns SPC_OK, or SPC_ERR_INVALID with "redis.<key>: reason" in
 *   errstr (unknown keys included); @p out is written only on success.
 * @remark The strings in @p out are borrowed from @p section (valid while it
 *   lives) or, for "password_env", from the environment (valid until it is
 *   modified).  Keys: host, port, unix_socket, username, password,
 *   password_env (preferred over password), db, connect_timeout_ms,
 *   timeout_ms, prefix.
 */
spc_err_t spc_redis_opts_from_json(const json_t *section,
                                   struct spc_redis_opts *out, char *errstr,
                                   size_t errstr_size) SPC_WUR;

/**
 * @brief Allocate a handle, validate and copy @p o; does not connect.
 * @returns owned handle (free with spc_ckpt_destroy()), or NULL with the
 *   reason in errstr (invalid options or out of memory).
 * @remark Follow with spc_ckpt_reconnect() to learn whether a failure to
 *   connect is transient or fatal.
 */
struct spc_ckpt *spc_ckpt_new(const struct spc_redis_opts *o, char *errstr,
                              size_t errstr_size);

/**
 * @brief spc_ckpt_new() + spc_ckpt_reconnect().
 * @returns owned handle (free with spc_ckpt_destroy()) or NULL with the
 *   reason in errstr; the caller decides whether to retry.
 */
struct spc_ckpt *spc_ckpt_connect(const struct spc_redis_opts *o, char *errstr,
                                  size_t errstr_size);

/** @brief Close the connection and free @p c (NULL is fine); the password
 *  copy is wiped. */
void spc_ckpt_destroy(struct spc_ckpt *c);

/**
 * @brief (Re)connect: drop the old connection, connect, AUTH, SELECT db,
 * SCRIPT LOAD the checkpoint script.
 * @returns SPC_OK, SPC_ERR_TRANSIENT (server down/loading: retry later),
 *   SPC_ERR_FATAL (bad password/user, bad db, ...), SPC_ERR_NOMEM.
 */
spc_err_t spc_ckpt_reconnect(struct spc_ckpt *c, char *errstr,
                             size_t errstr_size) SPC_WUR;

/** @returns non-zero while the handle has a usable connection (it is
 *  dropped on every transient failure). */
int spc_ckpt_connected(const struct spc_ckpt *c);

/**
 * @brief Take ownership of (scope, partition): INCR its fence counter.
 * @param token_out the new token (>= 1), written on success only; every
 *   earlier token of the partition is fenced from now on.
 * @remark Call on assignment, before spc_ckpt_load().
 */
spc_err_t spc_ckpt_fence(struct spc_ckpt *c, const char *scope,
                         int32_t partition, uint64_t *token_out, char *errstr,
                         size_t errstr_size) SPC_WUR;

/**
 * @brief Atomically (one Lua script) store @p items and @p next_offset if
 * the partition's fence still equals @p token.
 * @param next_offset the next input offset to consume (>= 0), or -1 to
 *   leave the stored offset unchanged.
 * @param items n_items (<= SPC_CKPT_MAX_ITEMS) key states; a key written
 *   twice in one call keeps the last blob.  Other stored keys are kept.
 * @returns SPC_OK; SPC_ERR_FENCED (nothing written); SPC_ERR_TRANSIENT
 *   (the write may or may not have been applied: retrying the same write
 *   with the same token is safe); SPC_ERR_FATAL; SPC_ERR_INVALID.
 * @remark The command is streamed: memory beyond the caller's blobs is a
 *   256 KiB buffer.  Redis runs the script in one go (about 0.2 s of
 *   0.3 s for 10 000 x 5 KB); timeout_ms must exceed that.
 */
spc_err_t spc_ckpt_write(struct spc_ckpt *c, const char *scope,
                         int32_t partition, uint64_t token, int64_t next_offset,
                         const struct spc_ckpt_item *items, size_t n_items,
                         char *errstr, size_t errstr_size) SPC_WUR;

/**
 * @brief Atomically (same fenced script) delete the key states named by
 * @p keys (only key/key_len are read) and optionally set the offset.
 * @param next_offset as for spc_ckpt_write(); -1 leaves it unchanged.
 * @returns as spc_ckpt_write().
 */
spc_err_t spc_ckpt_delete_keys(struct spc_ckpt *c, const char *scope,
                               int32_t partition, uint64_t token,
                               int64_t next_offset,
                               const struct spc_ckpt_item *keys, size_t n_keys,
                               char *errstr, size_t errstr_size) SPC_WUR;

/**
 * @brief Load a partition: the stored next offset and every key state,
 * streamed through @p cb in HSCAN pages (never one giant reply).
 * @param next_offset_out the stored offset, or -1 when none; written on
 *   success only.
 * @returns SPC_OK; SPC_ERR_INVALID when @p cb stopped the load;
 *   SPC_ERR_TRANSIENT (discard what @p cb saw and load again later);
 *   SPC_ERR_FATAL / SPC_ERR_PARSE on unexpected data.
 * @remark Call after spc_ckpt_fence(): then nobody else writes the
 *   partition during the scan.  HSCAN may deliver a key more than once
 *   (with the same blob); the callback must treat a repeat as a replace.
 */
spc_err_t spc_ckpt_load(struct spc_ckpt *c, const char *scope,
                        int32_t partition, int64_t *next_offset_out,
                        spc_ckpt_blob_cb *cb, void *opaque, char *errstr,
                        size_t errstr_size) SPC_WUR;

/**
 * @brief Drop a partition's key states, offset and meta (UNLINK), not
 * fenced: for tests and tools.  The fence counter is kept so that tokens
 * issued earlier stay fenced.
 */
spc_err_t spc_ckpt_clear(struct spc_ckpt *c, const char *scope,
                         int32_t partition, char *errstr,
                         size_t errstr_size) SPC_WUR;

#endif /* SPC_CKPT_H */
