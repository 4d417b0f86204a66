/*
 * spc_ckpt.c -- Redis checkpoint store (the only hiredis user in consumer/).
 *
 * DATA FLOW: struct spc_ckpt_item[] -> RESP stream (EVALSHA, 256 KiB
 *            pieces) -> Lua: fence check, HSET/HDEL, SET offset, HSET meta
 *            HSCAN pages -> spc_ckpt_blob_cb(key, blob)
 * KEYS: <prefix>{<scope>:<partition>}:{state,offset,fence,meta}; the hash
 *   tag keeps a partition in one cluster slot (docs/checkpoints.md).
 * OWNERSHIP: the handle owns its copies of the options, the hiredis context
 *   and the output buffer; replies are freed with freeReplyObject() before
 *   each function returns.
 * THREADING: a handle belongs to one thread (@locality worker); nothing here
 *   is shared between handles.
 * SIGNALS: hiredis writes with write(); a peer reset would raise SIGPIPE.
 *   Every command runs with SIGPIPE blocked in the calling thread and a
 *   SIGPIPE it caused is consumed (the libpq technique), so the process's
 *   disposition does not matter and EPIPE becomes a transient error.
 * FAILURE MODES: every hiredis context error (refused, reset, EOF, timeout)
 *   drops the connection and returns SPC_ERR_TRANSIENT; error replies are
 *   classified by their prefix (LOADING, BUSY, ... transient; the rest
 *   fatal).  NOSCRIPT re-sends the write with EVAL.  The password is never
 *   formatted into a message (and is redacted should a reply echo it).
 * REFERENCES: Redis EVAL/EVALSHA, HSCAN guarantees (redis.io/commands);
 *   fencing tokens: Kleppmann, "How to do distributed locking" (2016).
 */
#include "spc_ckpt.h"

#include <hiredis/hiredis.h>

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Bytes collected before they are handed to hiredis and written. */
#define OBUF_SIZE (256u * 1024u)
/* HSCAN page size hint: ~1.3 MB replies for 5 KB blobs. */
#define SCAN_COUNT "256"

/* KEYS: state, offset, fence, meta.  ARGV: token, next offset ('' keeps
 * it), updated_ms, writer, n_set, n_del, n_set field/value pairs, n_del
 * fields.  Returns {1, fence} when applied, {0, fence or ''} when fenced.
 * Batches keep unpack() below Lua's 8000-value C stack limit. */
static const char ckpt_script[] =
    "-- spcstream checkpoint commit v1\n"
    "local nset = tonumber(ARGV[5])\n"
    "local last = 6 + 2 * nset + tonumber(ARGV[6])\n"
    "if #ARGV ~= last then\n"
    "  return redis.error_reply('ERR spcstream ckpt: bad argument count')\n"
    "end\n"
    "local f = redis.call('GET', KEYS[3])\n"
    "if f ~= ARGV[1] then return {0, f or ''} end\n"
    "local i = 7\n"
    "local stop = 6 + 2 * nset\n"
    "while i <= stop do\n"
    "  local j = math.min(i + 1999, stop)\n"
    "  redis.call('HSET', KEYS[1], unpack(ARGV, i, j))\n"
    "  i = j + 1\n"
    "end\n"
    "while i <= last do\n"
    "  local j = math.min(i + 999, last)\n"
    "  redis.call('HDEL', KEYS[1], unpack(ARGV, i, j))\n"
    "  i = j + 1\n"
    "end\n"
    "if ARGV[2] ~= '' then redis.call('SET', KEYS[2], ARGV[2]) end\n"
    "redis.call('HSET', KEYS[4], 'updated_ms', ARGV[3], 'writer', ARGV[4],\n"
    "           'fence', ARGV[1])\n"
    "return {1, f}\n";

struct spc_ckpt {
    redisContext *rc; /* NULL while disconnected */
    char *host;
    char *unix_socket;
    char *username;
    char *password; /* wiped in spc_ckpt_destroy() */
    char *prefix;
    int port;
    int db;
    long connect_timeout_ms;
    long timeout_ms;
    char sha[41];     /* of ckpt_script, from SCRIPT LOAD */
    char writer[128]; /* hostname:pid, stored in :meta */
    char *obuf;       /* OBUF_SIZE bytes of the command being streamed */
    size_t olen;
};

/* The four keys of one partition. */
struct ckpt_keys {
    char state[SPC_CKPT_MAX_NAME + 48];
    char offset[SPC_CKPT_MAX_NAME + 48];
    char fence[SPC_CKPT_MAX_NAME + 48];
    char meta[SPC_CKPT_MAX_NAME + 48];
};

/* A streamed command in progress; the first failure sticks. */
struct out {
    struct spc_ckpt *c;
    spc_err_t err;
    char *errstr;
    size_t errstr_size;
};

/* One fenced commit (write and delete share the script). */
struct commit {
    const char *scope;
    int32_t partition;
    uint64_t token;
    int64_t next_offset;
    const struct spc_ckpt_item *set;
    size_t n_set;
    const struct spc_ckpt_item *del;
    size_t n_del;
};

/* ------------------------------------------------------------------ */
/* options                                                             */

void spc_redis_opts_init(struct spc_redis_opts *o)
{
    memset(o, 0, sizeof(*o));
    o->host = SPC_REDIS_DEFAULT_HOST;
    o->port = SPC_REDIS_DEFAULT_PORT;
    o->connect_timeout_ms = SPC_REDIS_DEFAULT_CONNECT_TIMEOUT_MS;
    o->timeout_ms = SPC_REDIS_DEFAULT_TIMEOUT_MS;
    o->prefix = SPC_REDIS_DEFAULT_PREFIX;
}

enum opt_kind { OPT_STR, OPT_INT, OPT_LONG, OPT_ENV };

static const struct opt_def {
    const char *name;
    enum opt_kind kind;
    size_t off;
    long lo, hi;
} opt_defs[] = {
    {"host", OPT_STR, offsetof(struct spc_redis_opts, host), 1, 0},
    {"port", OPT_INT, offsetof(struct spc_redis_opts, port), 1, 65535},
    {"unix_socket", OPT_STR, offsetof(struct spc_redis_opts, unix_socket), 1,
     0},
    {"username", OPT_STR, offsetof(struct spc_redis_opts, username), 1, 0},
    {"password", OPT_STR, offsetof(struct spc_redis_opts, password), 1, 0},
    {"password_env", OPT_ENV, 0, 1, 0},
    {"db", OPT_INT, offsetof(struct spc_redis_opts, db), 0, INT_MAX},
    {"connect_timeout_ms", OPT_LONG,
     offsetof(struct spc_redis_opts, connect_timeout_ms), 1, 3600000},
    {"timeout_ms", OPT_LONG, offsetof(struct spc_redis_opts, timeout_ms), 1,
     3600000},
    {"prefix", OPT_STR, offsetof(struct spc_redis_opts, prefix), 0, 0},
};

static spc_err_t operr(char *errstr, size_t size, const char *key,
                       const char *fmt, ...) SPC_PRINTF(4, 5);

static spc_err_t operr(char *errstr, size_t size, const char *key,
                       const char *fmt, ...)
{
    char msg[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    spc_errstr_set(errstr, size, "redis%s%s: %s", key ? "." : "",
                   key ? key : "", msg);
    return SPC_ERR_INVALID;
}

/* password_env: the named variable must be set and non-empty. */
static spc_err_t opt_env(const json_t *v, const char **pw_out, char *errstr,
                         size_t size)
{
    const char *name = json_string_value(v);
    const char *val;

    if (!name || !*name)
        return operr(errstr, size, "password_env",
                     "expected the name of an environment variable");
    val = getenv(name);
    if (!val || !*val)
        return operr(errstr, size, "password_env",
                     "environment variable %s is not set or empty", name);
    *pw_out = val;
    return SPC_OK;
}

static spc_err_t opt_set(struct spc_redis_opts *o, const struct opt_def *d,
                         const json_t *v, const char **pw_env, char *errstr,
                         size_t size)
{
    char *base = (char *)o;
    json_int_t i;

    if (d->kind == OPT_ENV)
        return opt_env(v, pw_env, errstr, size);
    if (d->kind == OPT_STR) {
        if (!json_is_string(v))
            return operr(errstr, size, d->name, "expected a string");
        if (d->lo > 0 && json_string_length(v) == 0)
            return operr(errstr, size, d->name, "must not be empty");
        *(const char **)(void *)(base + d->off) = json_string_value(v);
        return SPC_OK;
    }
    if (!json_is_integer(v))
        return operr(errstr, size, d->name, "expected an integer");
    i = json_integer_value(v);
    if (i < d->lo || i > d->hi)
        return operr(errstr, size, d->name,
                     "must be in [%ld, %ld] (got %" JSON_INTEGER_FORMAT ")",
                     d->lo, d->hi, i);
    if (d->kind == OPT_INT)
        *(int *)(void *)(base + d->off) = (int)i;
    else
        *(long *)(void *)(base + d->off) = (long)i;
    return SPC_OK;
}

static spc_err_t opt_check(const struct spc_redis_opts *o, int has_pw,
                           int has_env, char *errstr, size_t size)
{
    if (has_pw && has_env)
        return operr(errstr, size, "password",
                     "give either password or password_env, not both");
    if (o->username && !o->password)
        return operr(errstr, size, "username",
                     "needs password or password_env");
    if (strpbrk(o->prefix, "{}"))
        return operr(errstr, size, "prefix", "must not contain '{' or '}'");
    return SPC_OK;
}

spc_err_t spc_redis_opts_from_json(const json_t *section,
                                   struct spc_redis_opts *out, char *errstr,
                                   size_t errstr_size)
{
    struct spc_redis_opts o;
    const char *pw_env = NULL, *key;
    json_t *v;
    spc_err_t err = SPC_OK;
    int has_pw;
    size_t i;

    spc_redis_opts_init(&o);
    if (section && !json_is_object(section))
        return operr(errstr, errstr_size, NULL, "expected an object");
    if (section) {
        json_object_foreach((json_t *)section, key, v)
        {
            for (i = 0; i < SPC_ARRAY_SIZE(opt_defs); i++)
                if (strcmp(key, opt_defs[i].name) == 0)
                    break;
            if (i == SPC_ARRAY_SIZE(opt_defs))
                return operr(errstr, errstr_size, key, "unknown key");
            err = opt_set(&o, &opt_defs[i], v, &pw_env, errstr, errstr_size);
            if (err)
                return err;
        }
    }
    has_pw = o.password != NULL;
    if (pw_env && !has_pw)
        o.password = pw_env;
    err = opt_check(&o, has_pw, pw_env != NULL, errstr, errstr_size);
    if (!err)
        *out = o;
    return err;
}

/* ------------------------------------------------------------------ */
/* handle and connection                                               */

static void wipe(char *s)
{
    volatile char *p = s;

    while (p && *p)
        *p++ = '\0';
}

static void drop(struct spc_ckpt *c)
{
    if (c->rc)
        redisFree(c->rc);
    c->rc = NULL;
    c->olen = 0;
}

void spc_ckpt_destroy(struct spc_ckpt *c)
{
    if (!c)
        return;
    drop(c);
    wipe(c->password);
    free(c->host);
    free(c->unix_socket);
    free(c->username);
    free(c->password);
    free(c->prefix);
    free(c->obuf);
    free(c);
}

static spc_err_t check_opts(const struct spc_redis_opts *o, char *errstr,
                            size_t n)
{
    if (!o->unix_socket && (!o->host || !*o->host))
        return operr(errstr, n, "host", "must not be empty");
    if (!o->unix_socket && (o->port < 1 || o->port > 65535))
        return operr(errstr, n, "port", "must be in [1, 65535]");
    if (o->db < 0)
        return operr(errstr, n, "db", "must be >= 0");
    if (o->connect_timeout_ms < 1 || o->timeout_ms < 1)
        return operr(errstr, n, "timeout_ms", "timeouts must be >= 1 ms");
    if (o->username && !o->password)
        return operr(errstr, n, "username", "needs a password");
    if (o->prefix && strpbrk(o->prefix, "{}"))
        return operr(errstr, n, "prefix", "must not contain '{' or '}'");
    if (o->prefix && strlen(o->prefix) > SPC_CKPT_MAX_NAME / 2)
        return operr(errstr, n, "prefix", "longer than %u bytes",
                     SPC_CKPT_MAX_NAME / 2);
    return SPC_OK;
}

/* Copy an optional string; @returns 0 on OOM. */
static int dup_opt(char **dst, const char *src)
{
    *dst = NULL;
    if (!src)
        return 1;
    *dst = spc_strdup(src);
    return *dst != NULL;
}

static void set_writer(struct spc_ckpt *c)
{
    char host[64];

    if (gethostname(host, sizeof(host)) != 0)
        strcpy(host, "unknown");
    host[sizeof(host) - 1] = '\0';
    snprintf(c->writer, sizeof(c->writer), "%s:%ld", host, (long)getpid());
}

struct spc_ckpt *spc_ckpt_new(const struct spc_redis_opts *o, char *errstr,
                              size_t errstr_size)
{
    struct spc_ckpt *c = NULL;

    if (check_opts(o, errstr, errstr_size))
        goto out;
    c = spc_calloc(1, sizeof(*c));
    if (!c)
        goto nomem;
    c->port = o->port;
    c->db = o->db;
    c->connect_timeout_ms = o->connect_timeout_ms;
    c->timeout_ms = o->timeout_ms;
    c->obuf = spc_malloc(OBUF_SIZE);
    if (!c->obuf || !dup_opt(&c->host, o->host) ||
        !dup_opt(&c->unix_socket, o->unix_socket) ||
        !dup_opt(&c->username, o->username) ||
        !dup_opt(&c->password, o->password) ||
        !dup_opt(&c->prefix, o->prefix ? o->prefix : ""))
        goto nomem;
    set_writer(c);
    goto out;
nomem:
    spc_errstr_set(errstr, errstr_size, "redis: out of memory");
    spc_ckpt_destroy(c);
    c = NULL;
out:
    return c;
}

struct spc_ckpt *spc_ckpt_connect(const struct spc_redis_opts *o, char *errstr,
                                  size_t errstr_size)
{
    struct spc_ckpt *c = spc_ckpt_new(o, errstr, errstr_size);

    if (c && spc_ckpt_reconnect(c, errstr, errstr_size) != SPC_OK) {
        spc_ckpt_destroy(c);
        c = NULL;
    }
    return c;
}

int spc_ckpt_connected(const struct spc_ckpt *c)
{
    return c && c->rc != NULL;
}

/* Overwrite any echo of the password in a message (defence in depth). */
static void redact(const struct spc_ckpt *c, char *errstr)
{
    char *p;
    size_t n;

    if (!errstr || !c->password || !*c->password)
        return;
    n = strlen(c->password);
    while ((p = strstr(errstr, c->password)) != NULL)
        memset(p, '*', n);
}

static struct timeval ms_tv(long ms)
{
    struct timeval tv;

    tv.tv_sec = ms / 1000;
    tv.tv_usec = (ms % 1000) * 1000;
    return tv;
}

/* SIGPIPE blocked in this thread for the duration of one command. */
struct sigpipe_guard {
    sigset_t old;
    int was_pending;
};

static void sigpipe_block(struct sigpipe_guard *g)
{
    sigset_t set, pend;

    sigemptyset(&set);
    sigaddset(&set, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &set, &g->old);
    g->was_pending = sigpending(&pend) == 0 && sigismember(&pend, SIGPIPE);
}

/* Consume a SIGPIPE raised since sigpipe_block(), restore the mask. */
static void sigpipe_restore(struct sigpipe_guard *g)
{
    struct timespec zero = {0, 0};
    sigset_t set, pend;
    int saved = errno;

    if (!g->was_pending && sigpending(&pend) == 0 &&
        sigismember(&pend, SIGPIPE)) {
        sigemptyset(&set);
        sigaddset(&set, SIGPIPE);
        while (sigtimedwait(&set, NULL, &zero) < 0 && errno == EINTR)
            ;
    }
    pthread_sigmask(SIG_SETMASK, &g->old, NULL);
    errno = saved;
}

/* The context failed (I/O, EOF, protocol, OOM): drop it. */
static spc_err_t ctx_fail(struct spc_ckpt *c, const char *what, char *errstr,
                          size_t n)
{
    spc_err_t err = SPC_ERR_TRANSIENT;

    if (!c->rc) {
        spc_errstr_set(errstr, n, "redis %s: out of memory", what);
        return SPC_ERR_NOMEM;
    }
    if (c->rc->err == REDIS_ERR_OOM)
        err = SPC_ERR_NOMEM;
    if (c->rc->err == REDIS_ERR_IO &&
        strcmp(c->rc->errstr, strerror(EAGAIN)) == 0)
        spc_errstr_set(errstr, n, "redis %s: no reply within %ld ms", what,
                       c->timeout_ms);
    else
        spc_errstr_set(errstr, n, "redis %s: %s", what, c->rc->errstr);
    drop(c);
    return err;
}

/* Prefixes of error replies that clear up by themselves. */
static spc_err_t classify(const char *msg)
{
    static const char *const transient[] = {
        "LOADING ",  "BUSY ",        "MASTERDOWN ", "TRYAGAIN ",
        "READONLY ", "CLUSTERDOWN ", "OOM ",        "ERR max number of clients",
    };
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(transient); i++)
        if (strncmp(msg, transient[i], strlen(transient[i])) == 0)
            return SPC_ERR_TRANSIENT;
    return SPC_ERR_FATAL;
}

/* Takes ownership of @p r: error replies are classified and freed. */
static spc_err_t check_reply(struct spc_ckpt *c, const char *what,
                             redisReply *r, char *errstr, size_t n)
{
    spc_err_t err;

    if (!r)
        return ctx_fail(c, what, errstr, n);
    if (r->type != REDIS_REPLY_ERROR)
        return SPC_OK;
    err = classify(r->str);
    spc_errstr_set(errstr, n, "redis %s: %.*s", what, (int)SPC_MIN(r->len, 200),
                   r->str);
    redact(c, errstr);
    freeReplyObject(r);
    return err;
}

/* Run one command.  @p *out: returns owned (freeReplyObject) on success. */
static spc_err_t run(struct spc_ckpt *c, const char *what, int argc,
                     const char **argv, const size_t *lens, redisReply **out,
                     char *errstr, size_t n)
{
    struct sigpipe_guard g;
    redisReply *r;
    spc_err_t err;

    if (!c->rc) {
        spc_errstr_set(errstr, n, "redis %s: not connected", what);
        return SPC_ERR_TRANSIENT;
    }
    sigpipe_block(&g);
    r = redisCommandArgv(c->rc, argc, argv, lens);
    sigpipe_restore(&g);
    err = check_reply(c, what, r, errstr, n);
    if (!err)
        *out = r;
    return err;
}

/* Takes ownership of @p r. */
static spc_err_t unexpected(const char *what, redisReply *r, char *errstr,
                            size_t n)
{
    spc_errstr_set(errstr, n, "redis %s: unexpected reply (type %d)", what,
                   r ? r->type : -1);
    freeReplyObject(r);
    return SPC_ERR_FATAL;
}

static spc_err_t auth_select(struct spc_ckpt *c, char *errstr, size_t n)
{
    const char *argv[3];
    size_t lens[3];
    char db[16];
    redisReply *r = NULL;
    spc_err_t err = SPC_OK;
    int argc = 0;

    if (c->password) {
        argv[argc++] = "AUTH";
        if (c->username)
            argv[argc++] = c->username;
        argv[argc++] = c->password;
        for (int i = 0; i < argc; i++)
            lens[i] = strlen(argv[i]);
        err = run(c, "AUTH", argc, argv, lens, &r, errstr, n);
        if (err)
            goto out;
        freeReplyObject(r);
    }
    if (c->db != 0) {
        snprintf(db, sizeof(db), "%d", c->db);
        argv[0] = "SELECT";
        argv[1] = db;
        lens[0] = 6;
        lens[1] = strlen(db);
        err = run(c, "SELECT", 2, argv, lens, &r, errstr, n);
        if (err)
            goto out;
        freeReplyObject(r);
    }
out:
    return err;
}

static spc_err_t load_script(struct spc_ckpt *c, char *errstr, size_t n)
{
    const char *argv[3] = {"SCRIPT", "LOAD", ckpt_script};
    size_t lens[3] = {6, 4, sizeof(ckpt_script) - 1};
    redisReply *r = NULL;
    spc_err_t err;

    err = run(c, "SCRIPT LOAD", 3, argv, lens, &r, errstr, n);
    if (err)
        goto out;
    if (r->type != REDIS_REPLY_STRING || r->len != 40) {
        err = unexpected("SCRIPT LOAD", r, errstr, n);
        goto out;
    }
    memcpy(c->sha, r->str, 40);
    c->sha[40] = '\0';
    freeReplyObject(r);
out:
    return err;
}

spc_err_t spc_ckpt_reconnect(struct spc_ckpt *c, char *errstr,
                             size_t errstr_size)
{
    struct timeval tv;
    spc_err_t err = SPC_OK;
    char where[300];

    SPC_ASSERT(c != NULL);
    drop(c);
    tv = ms_tv(c->connect_timeout_ms);
    if (c->unix_socket) {
        snprintf(where, sizeof(where), "connect %s", c->unix_socket);
        c->rc = redisConnectUnixWithTimeout(c->unix_socket, tv);
    } else {
        snprintf(where, sizeof(where), "connect %s:%d", c->host, c->port);
        c->rc = redisConnectWithTimeout(c->host, c->port, tv);
    }
    if (!c->rc || c->rc->err) {
        err = ctx_fail(c, where, errstr, errstr_size);
        goto out;
    }
    if (redisSetTimeout(c->rc, ms_tv(c->timeout_ms)) != REDIS_OK ||
        (!c->unix_socket && redisEnableKeepAlive(c->rc) != REDIS_OK)) {
        err = ctx_fail(c, where, errstr, errstr_size);
        goto out;
    }
    err = auth_select(c, errstr, errstr_size);
    if (!err)
        err = load_script(c, errstr, errstr_size);
out:
    if (err) {
        drop(c);
        redact(c, errstr);
    }
    return err;
}

/* ------------------------------------------------------------------ */
/* keys                                                                */

static spc_err_t make_keys(const struct spc_ckpt *c, const char *scope,
                           int32_t partition, struct ckpt_keys *k, char *errstr,
                           size_t n)
{
    if (!scope || !*scope || strpbrk(scope, "{}") || partition < 0) {
        spc_errstr_set(errstr, n,
                       "redis checkpoint: bad scope or partition"
                       " (scope non-empty without '{' '}', "
                       "partition >= 0)");
        return SPC_ERR_INVALID;
    }
    if (strlen(c->prefix) + strlen(scope) > SPC_CKPT_MAX_NAME) {
        spc_errstr_set(errstr, n,
                       "redis checkpoint: prefix + scope longer "
                       "than %u bytes",
                       SPC_CKPT_MAX_NAME);
        return SPC_ERR_INVALID;
    }
    snprintf(k->state, sizeof(k->state), "%s{%s:%" PRId32 "}:state", c->prefix,
             scope, partition);
    snprintf(k->offset, sizeof(k->offset), "%s{%s:%" PRId32 "}:offset",
             c->prefix, scope, partition);
    snprintf(k->fence, sizeof(k->fence), "%s{%s:%" PRId32 "}:fence", c->prefix,
             scope, partition);
    snprintf(k->meta, sizeof(k->meta), "%s{%s:%" PRId32 "}:meta", c->prefix,
             scope, partition);
    return SPC_OK;
}

/* ------------------------------------------------------------------ */
/* fence, clear                                                        */

spc_err_t spc_ckpt_fence(struct spc_ckpt *c, const char *scope,
                         int32_t partition, uint64_t *token_out, char *errstr,
                         size_t errstr_size)
{
    struct ckpt_keys k;
    const char *argv[2] = {"INCR", k.fence};
    size_t lens[2];
    redisReply *r = NULL;
    spc_err_t err;

    SPC_ASSERT(c && token_out);
    err = make_keys(c, scope, partition, &k, errstr, errstr_size);
    if (err)
        goto out;
    lens[0] = 4;
    lens[1] = strlen(k.fence);
    err = run(c, "INCR fence", 2, argv, lens, &r, errstr, errstr_size);
    if (err)
        goto out;
    if (r->type != REDIS_REPLY_INTEGER || r->integer < 1) {
        err = unexpected("INCR fence", r, errstr, errstr_size);
        goto out;
    }
    *token_out = (uint64_t)r->integer;
    freeReplyObject(r);
out:
    return err;
}

spc_err_t spc_ckpt_clear(struct spc_ckpt *c, const char *scope,
                         int32_t partition, char *errstr, size_t errstr_size)
{
    struct ckpt_keys k;
    const char *argv[4] = {"UNLINK", k.state, k.offset, k.meta};
    size_t lens[4];
    redisReply *r = NULL;
    spc_err_t err;

    err = make_keys(c, scope, partition, &k, errstr, errstr_size);
    if (err)
        goto out;
    for (int i = 0; i < 4; i++)
        lens[i] = strlen(argv[i]);
    err = run(c, "UNLINK", 4, argv, lens, &r, errstr, errstr_size);
    if (!err)
        freeReplyObject(r);
out:
    return err;
}

/* ------------------------------------------------------------------ */
/* streamed commit                                                     */

/* Hand the collected bytes to hiredis and write them out. */
static void out_flush(struct out *o)
{
    struct spc_ckpt *c = o->c;
    int done = 0;

    if (o->err)
        return;
    if (c->olen &&
        redisAppendFormattedCommand(c->rc, c->obuf, c->olen) != REDIS_OK) {
        o->err = ctx_fail(c, "write", o->errstr, o->errstr_size);
        return;
    }
    c->olen = 0;
    while (!done) {
        if (redisBufferWrite(c->rc, &done) != REDIS_OK) {
            o->err = ctx_fail(c, "write", o->errstr, o->errstr_size);
            return;
        }
    }
}

static void out_put(struct out *o, const void *p, size_t len)
{
    const char *s = p;
    size_t k;

    while (len > 0 && !o->err) {
        if (o->c->olen == OBUF_SIZE)
            out_flush(o);
        if (o->err)
            break;
        k = SPC_MIN(len, OBUF_SIZE - o->c->olen);
        memcpy(o->c->obuf + o->c->olen, s, k);
        o->c->olen += k;
        s += k;
        len -= k;
    }
}

static void out_head(struct out *o, char type, size_t n)
{
    char h[32];
    int k = snprintf(h, sizeof(h), "%c%zu\r\n", type, n);

    out_put(o, h, (size_t)k);
}

static void out_bulk(struct out *o, const void *p, size_t len)
{
    out_head(o, '$', len);
    out_put(o, p, len);
    out_put(o, "\r\n", 2);
}

static void out_str(struct out *o, const char *s)
{
    out_bulk(o, s, strlen(s));
}

static int64_t wall_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Stream EVALSHA (or EVAL) of the commit; the reply is read by the caller. */
static spc_err_t send_commit(struct spc_ckpt *c, const struct commit *m,
                             const struct ckpt_keys *k, int with_sha,
                             char *errstr, size_t n)
{
    struct out o = {c, SPC_OK, errstr, n};
    char tok[24], off[24], now[24], nset[24], ndel[24];
    size_t i;

    snprintf(tok, sizeof(tok), "%" PRIu64, m->token);
    off[0] = '\0';
    if (m->next_offset >= 0)
        snprintf(off, sizeof(off), "%" PRId64, m->next_offset);
    snprintf(now, sizeof(now), "%" PRId64, wall_ms());
    snprintf(nset, sizeof(nset), "%zu", m->n_set);
    snprintf(ndel, sizeof(ndel), "%zu", m->n_del);
    c->olen = 0;
    out_head(&o, '*', 13 + 2 * m->n_set + m->n_del);
    out_str(&o, with_sha ? "EVALSHA" : "EVAL");
    out_str(&o, with_sha ? c->sha : ckpt_script);
    out_str(&o, "4");
    out_str(&o, k->state);
    out_str(&o, k->offset);
    out_str(&o, k->fence);
    out_str(&o, k->meta);
    out_str(&o, tok);
    out_str(&o, off);
    out_str(&o, now);
    out_str(&o, c->writer);
    out_str(&o, nset);
    out_str(&o, ndel);
    for (i = 0; i < m->n_set; i++) {
        out_bulk(&o, m->set[i].key, m->set[i].key_len);
        out_bulk(&o, m->set[i].blob, m->set[i].len);
    }
    for (i = 0; i < m->n_del; i++)
        out_bulk(&o, m->del[i].key, m->del[i].key_len);
    out_flush(&o);
    return o.err;
}

/* Send the commit and read its reply; NOSCRIPT falls back to EVAL.
 * @p *out: returns owned (freeReplyObject) on success. */
static spc_err_t exec_commit(struct spc_ckpt *c, const struct commit *m,
                             const struct ckpt_keys *k, redisReply **out,
                             char *errstr, size_t n)
{
    struct sigpipe_guard g;
    redisReply *r = NULL;
    void *rv = NULL;
    spc_err_t err = SPC_OK;
    int with_sha = 1;

    sigpipe_block(&g);
again:
    if (!c->rc) {
        spc_errstr_set(errstr, n, "redis checkpoint: not connected");
        err = SPC_ERR_TRANSIENT;
        goto out;
    }
    err = send_commit(c, m, k, with_sha, errstr, n);
    if (err)
        goto out;
    if (redisGetReply(c->rc, &rv) != REDIS_OK) {
        err = ctx_fail(c, "checkpoint reply", errstr, n);
        goto out;
    }
    r = rv;
    if (with_sha && r->type == REDIS_REPLY_ERROR &&
        strncmp(r->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(r);
        with_sha = 0;
        goto again;
    }
    err = check_reply(c, "checkpoint script", r, errstr, n);
    if (!err)
        *out = r;
out:
    sigpipe_restore(&g);
    return err;
}

static spc_err_t check_items(const struct spc_ckpt_item *it, size_t n_it,
                             int blobs, char *errstr, size_t n)
{
    size_t i;

    if (n_it > SPC_CKPT_MAX_ITEMS) {
        spc_errstr_set(errstr, n,
                       "redis checkpoint: %zu items in one write "
                       "(max %u)",
                       n_it, SPC_CKPT_MAX_ITEMS);
        return SPC_ERR_RANGE;
    }
    for (i = 0; i < n_it; i++) {
        if ((!it[i].key && it[i].key_len) ||
            (blobs && !it[i].blob && it[i].len)) {
            spc_errstr_set(errstr, n,
                           "redis checkpoint: item %zu has a "
                           "NULL pointer",
                           i);
            return SPC_ERR_INVALID;
        }
    }
    return SPC_OK;
}

static spc_err_t commit(struct spc_ckpt *c, const struct commit *m,
                        char *errstr, size_t n)
{
    struct ckpt_keys k;
    redisReply *r = NULL;
    spc_err_t err;

    SPC_ASSERT(c != NULL);
    err = make_keys(c, m->scope, m->partition, &k, errstr, n);
    if (!err && m->next_offset < -1)
        err = operr(errstr, n, NULL, "next offset %" PRId64 " < -1",
                    m->next_offset);
    if (!err)
        err = check_items(m->set, m->n_set, 1, errstr, n);
    if (!err)
        err = check_items(m->del, m->n_del, 0, errstr, n);
    if (!err)
        err = exec_commit(c, m, &k, &r, errstr, n);
    if (err)
        goto out;
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_INTEGER ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        err = unexpected("checkpoint script", r, errstr, n);
        goto out;
    }
    if (r->element[0]->integer != 1) {
        spc_errstr_set(errstr, n,
                       "checkpoint %s partition %" PRId32
                       ": fenced (our token %" PRIu64 ", current %.*s)",
                       m->scope, m->partition, m->token,
                       (int)SPC_MIN(r->element[1]->len, 24),
                       r->element[1]->len ? r->element[1]->str : "none");
        err = SPC_ERR_FENCED;
    }
    freeReplyObject(r);
out:
    return err;
}

spc_err_t spc_ckpt_write(struct spc_ckpt *c, const char *scope,
                         int32_t partition, uint64_t token, int64_t next_offset,
                         const struct spc_ckpt_item *items, size_t n_items,
                         char *errstr, size_t errstr_size)
{
    struct commit m = {scope, partition, token, next_offset,
                       items, n_items,   NULL,  0};

    return commit(c, &m, errstr, errstr_size);
}

spc_err_t spc_ckpt_delete_keys(struct spc_ckpt *c, const char *scope,
                               int32_t partition, uint64_t token,
                               int64_t next_offset,
                               const struct spc_ckpt_item *keys, size_t n_keys,
                               char *errstr, size_t errstr_size)
{
    struct commit m = {scope, partition, token, next_offset,
                       NULL,  0,         keys,  n_keys};

    return commit(c, &m, errstr, errstr_size);
}

/* ------------------------------------------------------------------ */
/* load                                                                */

static spc_err_t load_offset(struct spc_ckpt *c, const struct ckpt_keys *k,
                             int64_t *off, char *errstr, size_t n)
{
    const char *argv[2] = {"GET", k->offset};
    size_t lens[2] = {3, strlen(k->offset)};
    redisReply *r = NULL;
    spc_err_t err;
    char buf[32], *end;
    long long v;

    err = run(c, "GET offset", 2, argv, lens, &r, errstr, n);
    if (err)
        goto out;
    *off = -1;
    if (r->type == REDIS_REPLY_STRING && r->len > 0 && r->len < sizeof(buf)) {
        memcpy(buf, r->str, r->len);
        buf[r->len] = '\0';
        errno = 0;
        v = strtoll(buf, &end, 10);
        if (errno == 0 && *end == '\0' && v >= 0)
            *off = v;
        else
            err = SPC_ERR_PARSE;
    } else if (r->type != REDIS_REPLY_NIL) {
        err = SPC_ERR_PARSE;
    }
    if (err)
        spc_errstr_set(errstr, n, "redis %s: not an offset", k->offset);
    freeReplyObject(r);
out:
    return err;
}

/* Deliver one HSCAN page; copies the next cursor into @p cursor. */
static spc_err_t scan_page(const redisReply *r, char *cursor,
                           spc_ckpt_blob_cb *cb, void *opaque, char *errstr,
                           size_t n)
{
    redisReply *cur, *arr;
    size_t i;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[0]->type != REDIS_REPLY_STRING || r->element[0]->len >= 32 ||
        r->element[1]->type != REDIS_REPLY_ARRAY ||
        r->element[1]->elements % 2 != 0) {
        spc_errstr_set(errstr, n, "redis HSCAN: unexpected reply");
        return SPC_ERR_FATAL;
    }
    cur = r->element[0];
    arr = r->element[1];
    for (i = 0; i < arr->elements; i += 2) {
        if (arr->element[i]->type != REDIS_REPLY_STRING ||
            arr->element[i + 1]->type != REDIS_REPLY_STRING) {
            spc_errstr_set(errstr, n, "redis HSCAN: unexpected element");
            return SPC_ERR_FATAL;
        }
        if (cb(arr->element[i]->str, arr->element[i]->len,
               arr->element[i + 1]->str, arr->element[i + 1]->len,
               opaque) != 0) {
            spc_errstr_set(errstr, n,
                           "checkpoint load stopped by the "
                           "callback");
            return SPC_ERR_INVALID;
        }
    }
    memcpy(cursor, cur->str, cur->len);
    cursor[cur->len] = '\0';
    return SPC_OK;
}

spc_err_t spc_ckpt_load(struct spc_ckpt *c, const char *scope,
                        int32_t partition, int64_t *next_offset_out,
                        spc_ckpt_blob_cb *cb, void *opaque, char *errstr,
                        size_t errstr_size)
{
    struct ckpt_keys k;
    char cursor[32] = "0";
    const char *argv[5] = {"HSCAN", k.state, cursor, "COUNT", SCAN_COUNT};
    size_t lens[5];
    redisReply *r = NULL;
    int64_t off = -1;
    spc_err_t err;

    SPC_ASSERT(c && next_offset_out && cb);
    err = make_keys(c, scope, partition, &k, errstr, errstr_size);
    if (!err)
        err = load_offset(c, &k, &off, errstr, errstr_size);
    while (!err) {
        for (int i = 0; i < 5; i++)
            lens[i] = strlen(argv[i]);
        err = run(c, "HSCAN", 5, argv, lens, &r, errstr, errstr_size);
        if (err)
            break;
        err = scan_page(r, cursor, cb, opaque, errstr, errstr_size);
        freeReplyObject(r);
        if (strcmp(cursor, "0") == 0)
            break;
    }
    if (!err)
        *next_offset_out = off;
    return err;
}
