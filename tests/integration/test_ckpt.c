/*
 * test_ckpt.c -- spc_ckpt against real redis-servers (started by
 * tests/integration/with_redis.sh with ops/redis/redis.sh): round trips of
 * binary blobs, partial updates, fencing, restarts, timeouts, BUSY, AUTH
 * and db, option parsing, a 10 000 x 5 KB checkpoint and write/load timings.
 *
 * Each test uses its own scope, so tests do not see each other's keys.
 * Timings: SPC_CKPT_BENCH_REPS (default 3) repetitions per size, medians
 * printed to stdout.
 */
#include "spc_ckpt.h"

#include <check.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

Suite *ckpt_suite(void);

#define ERRSZ 512

/* ------------------------------------------------------------------ */
/* environment                                                         */

static const char *t_env(const char *name)
{
    const char *v = getenv(name);

    ck_assert_msg(v && *v, "%s not set: run through with_redis.sh", name);
    return v;
}

static int t_port(void)
{
    return atoi(t_env("SPC_TEST_REDIS_PORT"));
}

static void t_opts(struct spc_redis_opts *o)
{
    spc_redis_opts_init(o);
    o->port = t_port();
    o->prefix = "test:";
}

static struct spc_ckpt *t_connect(void)
{
    struct spc_redis_opts o;
    char err[ERRSZ] = "";
    struct spc_ckpt *c;

    t_opts(&o);
    c = spc_ckpt_connect(&o, err, sizeof(err));
    ck_assert_msg(c != NULL, "connect: %s", err);
    return c;
}

/* Run a shell command; @returns its exit status. */
static int t_sh(const char *fmt, ...) SPC_PRINTF(1, 2);

static int t_sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;
    int rc;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    rc = system(cmd);
    return rc == -1 ? -1 : WEXITSTATUS(rc);
}

static void t_redis_sh(const char *verb)
{
    int rc = t_sh("'%s' %s '%s' >/dev/null 2>&1", t_env("SPC_TEST_REDIS_SH"),
                  verb, t_env("SPC_TEST_REDIS_DIR"));

    ck_assert_msg(rc == 0, "redis.sh %s failed (%d)", verb, rc);
}

static int t_cli(const char *args)
{
    return t_sh("redis-cli -p %d %s >/dev/null 2>&1", t_port(), args);
}

static long t_server_pid(void)
{
    char path[512], line[128];
    long pid = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/redis.state", t_env("SPC_TEST_REDIS_DIR"));
    f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no %s", path);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "REDIS_PID=", 10) == 0)
            pid = atol(line + 10);
    fclose(f);
    ck_assert_int_gt(pid, 0);
    return pid;
}

static double t_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void t_sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

/* ------------------------------------------------------------------ */
/* deterministic items: key "k\0" + 4-byte index, blob from (index, gen)   */

struct t_set {
    struct spc_ckpt_item *items;
    unsigned char *keys; /* 6 bytes per item */
    unsigned char *data;
    size_t n;
};

static void t_key(uint32_t i, unsigned char *k)
{
    k[0] = 'k';
    k[1] = 0;
    k[2] = (unsigned char)(i >> 24);
    k[3] = (unsigned char)(i >> 16);
    k[4] = (unsigned char)(i >> 8);
    k[5] = (unsigned char)i;
}

/* Content with NUL bytes at both ends and in the middle. */
static void t_blob(uint32_t i, uint32_t gen, size_t len, unsigned char *out)
{
    uint64_t x = spc_mix64(((uint64_t)i << 32) | gen);
    size_t j;

    for (j = 0; j < len; j++) {
        if ((j & 7) == 0)
            x = spc_mix64(x + j);
        out[j] = (unsigned char)(x >> ((j & 7) * 8));
    }
    if (len > 0)
        out[0] = 0;
    if (len > 2)
        out[len / 2] = 0;
    if (len > 1)
        out[len - 1] = 0;
}

/* Items first..first+n-1 of generation gen, each len(i) bytes. */
static void t_set_make(struct t_set *s, uint32_t first, size_t n, uint32_t gen,
                       size_t (*len_of)(uint32_t))
{
    size_t i, total = 0, off = 0;

    for (i = 0; i < n; i++)
        total += len_of(first + (uint32_t)i);
    s->n = n;
    s->items = calloc(n ? n : 1, sizeof(*s->items));
    s->keys = malloc(6 * (n ? n : 1));
    s->data = malloc(total ? total : 1);
    ck_assert(s->items && s->keys && s->data);
    for (i = 0; i < n; i++) {
        uint32_t k = first + (uint32_t)i;
        size_t len = len_of(k);

        t_key(k, s->keys + 6 * i);
        t_blob(k, gen, len, s->data + off);
        s->items[i].key = (const char *)s->keys + 6 * i;
        s->items[i].key_len = 6;
        s->items[i].blob = s->data + off;
        s->items[i].len = len;
        off += len;
    }
}

static void t_set_free(struct t_set *s)
{
    free(s->items);
    free(s->keys);
    free(s->data);
}

static size_t len_5k(uint32_t i)
{
    (void)i;
    return 5000;
}

static size_t len_var(uint32_t i)
{
    if (i == 7)
        return 0;
    if (i == 8)
        return 1;
    if (i == 9)
        return 1u << 20; /* 1 MiB: larger than the stream buffer */
    return (i * 37u) % 3000u;
}

/* What a load must deliver: per index, the generation (0 = absent). */
#define T_MAXKEY 20000u

struct t_expect {
    uint32_t gen[T_MAXKEY];
    size_t (*len_of)(uint32_t);
    unsigned char seen[T_MAXKEY];
    size_t calls, bad, stop_after;
    unsigned char *scratch;
};

static struct t_expect *t_expect_new(size_t (*len_of)(uint32_t))
{
    struct t_expect *e = calloc(1, sizeof(*e));

    ck_assert(e);
    e->len_of = len_of;
    e->scratch = malloc((1u << 20) + 1);
    ck_assert(e->scratch);
    return e;
}

static void t_expect_free(struct t_expect *e)
{
    free(e->scratch);
    free(e);
}

static void t_expect_gen(struct t_expect *e, uint32_t first, size_t n,
                         uint32_t gen)
{
    for (size_t i = 0; i < n; i++)
        e->gen[first + i] = gen;
}

static int t_load_cb(const char *key, size_t key_len, const void *blob,
                     size_t len, void *opaque)
{
    struct t_expect *e = opaque;
    const unsigned char *k = (const unsigned char *)key;
    uint32_t i;

    e->calls++;
    if (e->stop_after && e->calls >= e->stop_after)
        return 1;
    if (key_len != 6 || k[0] != 'k' || k[1] != 0) {
        e->bad++;
        return 0;
    }
    i = ((uint32_t)k[2] << 24) | ((uint32_t)k[3] << 16) |
        ((uint32_t)k[4] << 8) | k[5];
    if (i >= T_MAXKEY || e->gen[i] == 0 || len != e->len_of(i)) {
        e->bad++;
        return 0;
    }
    t_blob(i, e->gen[i], len, e->scratch);
    if (memcmp(blob, e->scratch, len) != 0)
        e->bad++;
    e->seen[i] = 1;
    return 0;
}

/* Load and check every expected key arrived intact and nothing else. */
static void t_check_load(struct spc_ckpt *c, const char *scope, int32_t p,
                         struct t_expect *e, int64_t want_offset)
{
    char err[ERRSZ] = "";
    int64_t off = -2;
    spc_err_t rc;
    size_t i, want = 0, got = 0;

    memset(e->seen, 0, sizeof(e->seen));
    e->calls = e->bad = 0;
    rc = spc_ckpt_load(c, scope, p, &off, t_load_cb, e, err, sizeof(err));
    ck_assert_msg(rc == SPC_OK, "load: %s", err);
    ck_assert_int_eq(off, want_offset);
    ck_assert_uint_eq(e->bad, 0);
    for (i = 0; i < T_MAXKEY; i++) {
        want += e->gen[i] != 0;
        got += e->seen[i];
    }
    ck_assert_uint_eq(got, want);
}

static uint64_t t_fence(struct spc_ckpt *c, const char *scope, int32_t p)
{
    char err[ERRSZ] = "";
    uint64_t tok = 0;
    spc_err_t rc = spc_ckpt_fence(c, scope, p, &tok, err, sizeof(err));

    ck_assert_msg(rc == SPC_OK, "fence: %s", err);
    ck_assert_uint_ge(tok, 1);
    return tok;
}

static void t_write_ok(struct spc_ckpt *c, const char *scope, int32_t p,
                       uint64_t tok, int64_t off, const struct t_set *s)
{
    char err[ERRSZ] = "";
    spc_err_t rc = spc_ckpt_write(c, scope, p, tok, off, s ? s->items : NULL,
                                  s ? s->n : 0, err, sizeof(err));

    ck_assert_msg(rc == SPC_OK, "write: %s (%s)", spc_err2str(rc), err);
}

/* Start every test from an empty partition. */
static void t_clear(struct spc_ckpt *c, const char *scope, int32_t p)
{
    char err[ERRSZ] = "";

    ck_assert_msg(spc_ckpt_clear(c, scope, p, err, sizeof(err)) == SPC_OK,
                  "clear: %s", err);
}

/* ------------------------------------------------------------------ */
/* tests                                                               */

START_TEST(test_ckpt_roundtrip_binary)
{
    const char *scope = "spctest:roundtrip";
    struct spc_ckpt *c = t_connect();
    struct t_expect *e = t_expect_new(len_var);
    struct t_set s;
    uint64_t tok;

    t_clear(c, scope, 3);
    t_clear(c, scope, 4);
    tok = t_fence(c, scope, 3);
    t_set_make(&s, 0, 600, 1, len_var);
    t_write_ok(c, scope, 3, tok, 123456789012LL, &s);
    t_expect_gen(e, 0, 600, 1);
    t_check_load(c, scope, 3, e, 123456789012LL);
    ck_assert_msg(e->seen[7] && e->seen[9], "empty and 1 MiB blobs");
    /* Another partition of the same scope is untouched. */
    memset(e->gen, 0, sizeof(e->gen));
    t_check_load(c, scope, 4, e, -1);
    ck_assert_uint_eq(e->calls, 0);
    t_set_free(&s);
    t_expect_free(e);
    spc_ckpt_destroy(c);
}
END_TEST

START_TEST(test_ckpt_offset_absent)
{
    const char *scope = "spctest:offset";
    struct spc_ckpt *c = t_connect();
    struct t_expect *e = t_expect_new(len_5k);
    struct t_set s;
    uint64_t tok;

    t_clear(c, scope, 0);
    t_check_load(c, scope, 0, e, -1);
    ck_assert_uint_eq(e->calls, 0);
    tok = t_fence(c, scope, 0);
    t_set_make(&s, 0, 5, 1, len_5k);
    t_write_ok(c, scope, 0, tok, -1, &s); /* blobs only */
    t_expect_gen(e, 0, 5, 1);
    t_check_load(c, scope, 0, e, -1);
    t_write_ok(c, scope, 0, tok, 0, NULL); /* offset 0 is an offset */
    t_check_load(c, scope, 0, e, 0);
    t_write_ok(c, scope, 0, tok, 77, NULL);
    t_write_ok(c, scope, 0, tok, -1, NULL); /* -1 keeps it */
    t_check_load(c, scope, 0, e, 77);
    t_set_free(&s);
    t_expect_free(e);
    spc_ckpt_destroy(c);
}
END_TEST

START_TEST(test_ckpt_partial_update_and_delete)
{
    const char *scope = "spctest:partial";
    struct spc_ckpt *c = t_connect();
    struct t_expect *e = t_expect_new(len_5k);
    struct t_set a, b, d;
    char err[ERRSZ] = "";
    uint64_t tok;

    t_clear(c, scope, 1);
    tok = t_fence(c, scope, 1);
    t_set_make(&a, 0, 100, 1, len_5k);
    t_write_ok(c, scope, 1, tok, 10, &a);
    t_set_make(&b, 0, 30, 2, len_5k); /* rewrite 0..29 */
    t_write_ok(c, scope, 1, tok, 20, &b);
    t_set_free(&b);
    t_set_make(&b, 200, 10, 2, len_5k); /* add 200..209 */
    t_write_ok(c, scope, 1, tok, 21, &b);
    t_expect_gen(e, 0, 100, 1);
    t_expect_gen(e, 0, 30, 2);
    t_expect_gen(e, 200, 10, 2);
    t_check_load(c, scope, 1, e, 21);
    /* Delete 0..9 (blobs ignored) together with the offset. */
    t_set_make(&d, 0, 10, 9, len_5k);
    ck_assert_msg(spc_ckpt_delete_keys(c, scope, 1, tok, 25, d.items, d.n, err,
                                       sizeof(err)) == SPC_OK,
                  "delete: %s", err);
    t_expect_gen(e, 0, 10, 0);
    t_check_load(c, scope, 1, e, 25);
    t_set_free(&a);
    t_set_free(&b);
    t_set_free(&d);
    t_expect_free(e);
    spc_ckpt_destroy(c);
}
END_TEST

START_TEST(test_ckpt_fencing)
{
    const char *scope = "spctest:fence";
    struct spc_ckpt *c1 = t_connect(), *c2 = t_connect();
    struct t_expect *e = t_expect_new(len_5k);
    struct t_set g1, g2;
    char err[ERRSZ] = "";
    uint64_t t1, t2;
    spc_err_t rc;

    t_clear(c1, scope, 2);
    t_set_make(&g1, 0, 50, 1, len_5k);
    t_set_make(&g2, 0, 50, 2, len_5k);
    /* No fence taken yet: nobody may write. */
    rc = spc_ckpt_write(c1, "spctest:never-fenced", 0, 1, 5, g1.items, g1.n,
                        err, sizeof(err));
    ck_assert_int_eq(rc, SPC_ERR_FENCED);
    t1 = t_fence(c1, scope, 2);
    t_write_ok(c1, scope, 2, t1, 5, &g1);
    t2 = t_fence(c2, scope, 2); /* the new owner */
    ck_assert_uint_eq(t2, t1 + 1);
    err[0] = '\0';
    rc = spc_ckpt_write(c1, scope, 2, t1, 99, g2.items, g2.n, err, sizeof(err));
    ck_assert_int_eq(rc, SPC_ERR_FENCED);
    ck_assert_msg(strstr(err, "fenced"), "message: %s", err);
    rc = spc_ckpt_delete_keys(c1, scope, 2, t1, 99, g2.items, 10, err,
                              sizeof(err));
    ck_assert_int_eq(rc, SPC_ERR_FENCED);
    t_expect_gen(e, 0, 50, 1); /* nothing of the fenced writes landed */
    t_check_load(c2, scope, 2, e, 5);
    t_write_ok(c2, scope, 2, t2, 60, &g2);
    t_expect_gen(e, 0, 50, 2);
    t_check_load(c1, scope, 2, e, 60);
    /* clear keeps the counter: old tokens stay fenced. */
    t_clear(c1, scope, 2);
    ck_assert_uint_eq(t_fence(c1, scope, 2), t2 + 1);
    t_set_free(&g1);
    t_set_free(&g2);
    t_expect_free(e);
    spc_ckpt_destroy(c1);
    spc_ckpt_destroy(c2);
}
END_TEST

START_TEST(test_ckpt_noscript_fallback)
{
    const char *scope = "spctest:noscript";
    struct spc_ckpt *c = t_connect();
    struct t_expect *e = t_expect_new(len_5k);
    struct t_set s;
    uint64_t tok;

    t_clear(c, scope, 0);
    tok = t_fence(c, scope, 0);
    t_set_make(&s, 0, 20, 1, len_5k);
    ck_assert_int_eq(t_cli("SCRIPT FLUSH"), 0);
    t_write_ok(c, scope, 0, tok, 1, &s); /* EVALSHA -> NOSCRIPT -> EVAL */
    t_write_ok(c, scope, 0, tok, 2, &s); /* EVAL cached it again */
    t_expect_gen(e, 0, 20, 1);
    t_check_load(c, scope, 0, e, 2);
    t_set_free(&s);
    t_expect_free(e);
    spc_ckpt_destroy(c);
}
END_TEST

START_TEST(test_ckpt_load_stop_and_invalid)
{
    const char *scope = "spctest:invalid";
    struct spc_ckpt *c = t_connect();
    struct t_expect *e = t_expect_new(len_5k);
    struct t_set s;
    char err[ERRSZ] = "";
    int64_t off = -5;
    uint64_t tok;

    t_clear(c, scope, 0);
    tok = t_fence(c, scope, 0);
    t_set_make(&s, 0, 10, 1, len_5k);
    t_write_ok(c, scope, 0, tok, 3, &s);
    t_expect_gen(e, 0, 10, 1);
    e->stop_after = 2;
    ck_assert_int_eq(
        spc_ckpt_load(c, scope, 0, &off, t_load_cb, e, err, sizeof(err)),
        SPC_ERR_INVALID);
    ck_assert_int_eq(off, -5); /* written on success only */
    ck_assert_int_eq(
        spc_ckpt_write(c, "bad{scope", 0, tok, 1, NULL, 0, err, sizeof(err)),
        SPC_ERR_INVALID);
    ck_assert_int_eq(
        spc_ckpt_write(c, scope, -1, tok, 1, NULL, 0, err, sizeof(err)),
        SPC_ERR_INVALID);
    ck_assert_int_eq(
        spc_ckpt_write(c, scope, 0, tok, -7, NULL, 0, err, sizeof(err)),
        SPC_ERR_INVALID);
    ck_assert_int_eq(spc_ckpt_write(c, scope, 0, tok, 1, s.items,
                                    SPC_CKPT_MAX_ITEMS + 1, err, sizeof(err)),
                     SPC_ERR_RANGE);
    /* The handle is still usable. */
    e->stop_after = 0;
    t_check_load(c, scope, 0, e, 3);
    t_set_free(&s);
    t_expect_free(e);
    spc_ckpt_destroy(c);
}
END_TEST

START_TEST(test_ckpt_refused_is_transient)
{
    struct spc_redis_opts o;
    struct sockaddr_in a;
    socklen_t alen = sizeof(a);
    char err[ERRSZ] = "";
    struct spc_ckpt *c;
    uint64_t tok;
    int fd;

    /* A loopback port nobody listens on. */
    fd = socket(AF_INET, SOCK_STREAM, 0);
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&a, &alen), 0);
    close(fd);
    t_opts(&o);
    o.port = ntohs(a.sin_port);
    ck_assert_ptr_null(spc_ckpt_connect(&o, err, sizeof(err)));
    ck_assert_msg(strstr(err, "refused"), "message: %s", err);
    c = spc_ckpt_new(&o, err, sizeof(err));
    ck_assert_ptr_nonnull(c);
    ck_assert_int_eq(spc_ckpt_reconnect(c, err, sizeof(err)),
                     SPC_ERR_TRANSIENT);
    ck_assert_int_eq(spc_ckpt_connected(c), 0);
    ck_assert_int_eq(spc_ckpt_fence(c, "s", 0, &tok, err, sizeof(err)),
                     SPC_ERR_TRANSIENT);
    ck_assert_int_eq(spc_ckpt_write(c, "s", 0, 1, 1, NULL, 0, err, sizeof(err)),
                     SPC_ERR_TRANSIENT);
    spc_ckpt_destroy(c);
}
END_TEST

START_TEST(test_ckpt_restart_transient_then_reconnect)
{
    const char *scope = "spctest:restart";
    struct spc_ckpt *c = t_connect();
    struct t_expect *e = t_expect_new(len_5k);
    struct t_set g1, g2, big;
    char err[ERRSZ] = "";
    spc_err_t rc;
    uint64_t tok;

    t_clear(c, scope, 5);
    tok = t_fence(c, scope, 5);
    t_set_make(&g1, 0, 300, 1, len_5k);
    t_set_make(&g2, 300, 100, 2, len_5k);
    t_set_make(&big, 1000, 2000, 3, len_5k); /* 10 MB: EPIPE mid-write */
    t_write_ok(c, scope, 5, tok, 1000, &g1);
    t_redis_sh("restart"); /* SIGTERM: AOF + RDB kept in the data dir */
    rc = spc_ckpt_write(c, scope, 5, tok, 1100, g2.items, g2.n, err,
                        sizeof(err));
    ck_assert_msg(rc == SPC_ERR_TRANSIENT, "got %s (%s)", spc_err2str(rc), err);
    ck_assert_int_eq(spc_ckpt_connected(c), 0);
    ck_assert_int_eq(spc_ckpt_reconnect(c, err, sizeof(err)), SPC_OK);
    t_write_ok(c, scope, 5, tok, 1100, &g2);
    t_expect_gen(e, 0, 300, 1);
    t_expect_gen(e, 300, 100, 2);
    t_check_load(c, scope, 5, e, 1100);
    /* Again with a big write: the reset arrives while writing (SIGPIPE
     * must not kill us), then Redis down for a while. */
    t_redis_sh("halt");
    rc = spc_ckpt_write(c, scope, 5, tok, 1200, big.items, big.n, err,
                        sizeof(err));
    ck_assert_msg(rc == SPC_ERR_TRANSIENT, "got %s (%s)", spc_err2str(rc), err);
    rc = spc_ckpt_reconnect(c, err, sizeof(err));
    ck_assert_msg(rc == SPC_ERR_TRANSIENT, "got %s (%s)", spc_err2str(rc), err);
    t_redis_sh("resume");
    ck_assert_int_eq(spc_ckpt_reconnect(c, err, sizeof(err)), SPC_OK);
    t_write_ok(c, scope, 5, tok, 1200, &big);
    t_expect_gen(e, 1000, 2000, 3);
    t_check_load(c, scope, 5, e, 1200);
    t_set_free(&g1);
    t_set_free(&g2);
    t_set_free(&big);
    t_expect_free(e);
    spc_ckpt_destroy(c);
}
END_TEST

START_TEST(test_ckpt_timeout_is_transient)
{
    struct spc_redis_opts o;
    char err[ERRSZ] = "";
    struct spc_ckpt *c;
    long pid = t_server_pid();
    uint64_t tok = 0;
    spc_err_t rc, rc2;
    double t0, dt;

    t_opts(&o);
    o.timeout_ms = 300;
    c = spc_ckpt_connect(&o, err, sizeof(err));
    ck_assert_msg(c != NULL, "connect: %s", err);
    ck_assert_int_eq(kill((pid_t)pid, SIGSTOP), 0);
    t0 = t_now();
    rc = spc_ckpt_fence(c, "spctest:timeout", 0, &tok, err, sizeof(err));
    dt = t_now() - t0;
    kill((pid_t)pid, SIGCONT); /* before any assertion */
    ck_assert_msg(rc == SPC_ERR_TRANSIENT, "got %s (%s)", spc_err2str(rc), err);
    ck_assert_msg(strstr(err, "no reply within 300 ms"), "message: %s", err);
    ck_assert_msg(dt > 0.25 && dt < 3.0, "waited %.3f s", dt);
    rc2 = spc_ckpt_reconnect(c, err, sizeof(err));
    ck_assert_msg(rc2 == SPC_OK, "reconnect: %s", err);
    ck_assert_int_eq(
        spc_ckpt_fence(c, "spctest:timeout", 0, &tok, err, sizeof(err)),
        SPC_OK);
    spc_ckpt_destroy(c);
}
END_TEST

START_TEST(test_ckpt_busy_is_transient)
{
    struct spc_ckpt *c = t_connect();
    char err[ERRSZ] = "";
    uint64_t tok;
    spc_err_t rc = SPC_OK;
    int i;

    ck_assert_int_eq(t_cli("CONFIG SET lua-time-limit 100"), 0);
    t_sh("redis-cli -p %d EVAL 'while true do end' 0 >/dev/null 2>&1 &",
         t_port());
    t_sleep_ms(300);
    for (i = 0; i < 50; i++) {
        rc = spc_ckpt_fence(c, "spctest:busy", 0, &tok, err, sizeof(err));
        if (rc != SPC_OK)
            break;
        t_sleep_ms(100);
    }
    /* Clean up before asserting. */
    for (i = 0; i < 50 && t_cli("SCRIPT KILL") != 0; i++)
        t_sleep_ms(100);
    t_cli("CONFIG SET lua-time-limit 5000");
    ck_assert_msg(rc == SPC_ERR_TRANSIENT, "got %s (%s)", spc_err2str(rc), err);
    ck_assert_msg(strstr(err, "BUSY"), "message: %s", err);
    /* An error reply keeps the connection. */
    ck_assert_int_eq(spc_ckpt_connected(c), 1);
    for (i = 0; i < 50; i++) {
        rc = spc_ckpt_fence(c, "spctest:busy", 0, &tok, err, sizeof(err));
        if (rc == SPC_OK)
            break;
        t_sleep_ms(100);
    }
    ck_assert_msg(rc == SPC_OK, "after SCRIPT KILL: %s", err);
    spc_ckpt_destroy(c);
}
END_TEST

/* Connect through the JSON parser like the daemon does. */
static spc_err_t t_connect_json(const char *json, struct spc_ckpt **out,
                                char *err, size_t n)
{
    struct spc_redis_opts o;
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    struct spc_ckpt *c;
    spc_err_t rc;

    ck_assert_msg(j != NULL, "bad test JSON: %s", je.text);
    rc = spc_redis_opts_from_json(j, &o, err, n);
    ck_assert_msg(rc == SPC_OK, "opts: %s", err);
    c = spc_ckpt_new(&o, err, n);
    json_decref(j); /* the handle copied the strings */
    ck_assert_ptr_nonnull(c);
    rc = spc_ckpt_reconnect(c, err, n);
    *out = c;
    return rc;
}

START_TEST(test_ckpt_auth_and_db)
{
    const char *scope = "spctest:auth";
    const char *pw = t_env("SPC_TEST_REDIS_PW");
    int ap = atoi(t_env("SPC_TEST_REDIS_AUTH_PORT"));
    struct t_expect *e = t_expect_new(len_5k);
    struct spc_ckpt *c = NULL, *c0 = NULL, *bad = NULL;
    char json[512], err[ERRSZ] = "";
    struct t_set s;
    uint64_t tok;
    spc_err_t rc;

    snprintf(json, sizeof(json),
             "{\"port\": %d, \"password_env\": \"SPC_TEST_REDIS_PW\","
             " \"db\": 3, \"prefix\": \"t:\", \"timeout_ms\": 4000}",
             ap);
    ck_assert_msg(t_connect_json(json, &c, err, sizeof(err)) == SPC_OK,
                  "auth connect: %s", err);
    t_clear(c, scope, 0);
    tok = t_fence(c, scope, 0);
    t_set_make(&s, 0, 40, 1, len_5k);
    t_write_ok(c, scope, 0, tok, 9, &s);
    t_expect_gen(e, 0, 40, 1);
    t_check_load(c, scope, 0, e, 9);
    /* db 0 of the same server does not see db 3. */
    snprintf(json, sizeof(json),
             "{\"port\": %d, \"password_env\": \"SPC_TEST_REDIS_PW\","
             " \"prefix\": \"t:\"}",
             ap);
    ck_assert_int_eq(t_connect_json(json, &c0, err, sizeof(err)), SPC_OK);
    memset(e->gen, 0, sizeof(e->gen));
    t_check_load(c0, scope, 0, e, -1);
    ck_assert_uint_eq(e->calls, 0);
    /* Wrong password: fatal, and the message does not carry it. */
    snprintf(json, sizeof(json),
             "{\"port\": %d, \"password\": \"Wr0ng-pw-xyzzy\"}", ap);
    rc = t_connect_json(json, &bad, err, sizeof(err));
    ck_assert_msg(rc == SPC_ERR_FATAL, "got %s (%s)", spc_err2str(rc), err);
    ck_assert_msg(strstr(err, "WRONGPASS"), "message: %s", err);
    ck_assert_ptr_null(strstr(err, "Wr0ng-pw-xyzzy"));
    ck_assert_ptr_null(strstr(err, pw));
    spc_ckpt_destroy(bad);
    /* No password at all: NOAUTH, fatal. */
    snprintf(json, sizeof(json), "{\"port\": %d}", ap);
    rc = t_connect_json(json, &bad, err, sizeof(err));
    ck_assert_msg(rc == SPC_ERR_FATAL, "got %s (%s)", spc_err2str(rc), err);
    spc_ckpt_destroy(bad);
    /* A db the server does not have: fatal. */
    snprintf(json, sizeof(json),
             "{\"port\": %d, \"password_env\": \"SPC_TEST_REDIS_PW\","
             " \"db\": 99}",
             ap);
    rc = t_connect_json(json, &bad, err, sizeof(err));
    ck_assert_msg(rc == SPC_ERR_FATAL, "got %s (%s)", spc_err2str(rc), err);
    ck_assert_ptr_null(strstr(err, pw));
    spc_ckpt_destroy(bad);
    /* A password to a server without one: fatal (misconfiguration). */
    snprintf(json, sizeof(json), "{\"port\": %d, \"password\": \"x\"}",
             t_port());
    rc = t_connect_json(json, &bad, err, sizeof(err));
    ck_assert_msg(rc == SPC_ERR_FATAL, "got %s (%s)", spc_err2str(rc), err);
    spc_ckpt_destroy(bad);
    t_set_free(&s);
    t_expect_free(e);
    spc_ckpt_destroy(c);
    spc_ckpt_destroy(c0);
}
END_TEST

START_TEST(test_ckpt_opts_json)
{
    static const struct {
        const char *json, *want;
    } bad[] = {
        {"[]", "redis: expected an object"},
        {"{\"bogus\": 1}", "redis.bogus: unknown key"},
        {"{\"port\": \"6379\"}", "redis.port: expected an integer"},
        {"{\"port\": 70000}", "redis.port: must be in"},
        {"{\"db\": -1}", "redis.db: must be in"},
        {"{\"timeout_ms\": 0}", "redis.timeout_ms: must be in"},
        {"{\"connect_timeout_ms\": 1.5}", "redis.connect_timeout_ms"},
        {"{\"host\": \"\"}", "redis.host: must not be empty"},
        {"{\"host\": 5}", "redis.host: expected a string"},
        {"{\"prefix\": \"a{b\"}", "redis.prefix"},
        {"{\"username\": \"u\"}", "redis.username"},
        {"{\"password\": \"a\", \"password_env\": \"SPC_TEST_REDIS_PW\"}",
         "redis.password: give either"},
        {"{\"password_env\": \"SPC_CKPT_TEST_NO_SUCH_VAR\"}",
         "redis.password_env: environment variable "
         "SPC_CKPT_TEST_NO_SUCH_VAR is not set"},
        {"{\"password_env\": 3}", "redis.password_env"},
    };
    struct spc_redis_opts o, def;
    char err[ERRSZ];
    json_t *j;
    size_t i;

    for (i = 0; i < SPC_ARRAY_SIZE(bad); i++) {
        j = json_loads(bad[i].json, 0, NULL);
        ck_assert_ptr_nonnull(j);
        err[0] = '\0';
        ck_assert_int_eq(spc_redis_opts_from_json(j, &o, err, sizeof(err)),
                         SPC_ERR_INVALID);
        ck_assert_msg(strstr(err, bad[i].want), "%s: got '%s', want '%s'",
                      bad[i].json, err, bad[i].want);
        json_decref(j);
    }
    ck_assert_int_eq(spc_redis_opts_from_json(NULL, &o, err, sizeof(err)),
                     SPC_OK);
    spc_redis_opts_init(&def);
    ck_assert_str_eq(o.host, def.host);
    ck_assert_int_eq(o.port, 6379);
    ck_assert_ptr_null(o.password);
    j = json_loads("{\"host\": \"redis.local\", \"port\": 6380,"
                   " \"unix_socket\": \"/run/redis.sock\", \"username\": "
                   "\"spc\", \"password_env\": \"SPC_TEST_REDIS_PW\","
                   " \"db\": 2, \"connect_timeout_ms\": 500,"
                   " \"timeout_ms\": 20000, \"prefix\": \"prod:\"}",
                   0, NULL);
    ck_assert_int_eq(spc_redis_opts_from_json(j, &o, err, sizeof(err)), SPC_OK);
    ck_assert_str_eq(o.host, "redis.local");
    ck_assert_int_eq(o.port, 6380);
    ck_assert_str_eq(o.unix_socket, "/run/redis.sock");
    ck_assert_str_eq(o.username, "spc");
    ck_assert_str_eq(o.password, t_env("SPC_TEST_REDIS_PW"));
    ck_assert_int_eq(o.db, 2);
    ck_assert_int_eq(o.connect_timeout_ms, 500);
    ck_assert_int_eq(o.timeout_ms, 20000);
    ck_assert_str_eq(o.prefix, "prod:");
    json_decref(j);
}
END_TEST

START_TEST(test_ckpt_large_10k_x_5k)
{
    const char *scope = "spctest:large";
    struct spc_ckpt *c = t_connect();
    struct t_expect *e = t_expect_new(len_5k);
    struct t_set s;
    uint64_t tok;
    double t0, tw, tl;

    t_clear(c, scope, 7);
    tok = t_fence(c, scope, 7);
    t_set_make(&s, 0, 10000, 1, len_5k);
    t0 = t_now();
    t_write_ok(c, scope, 7, tok, 424242, &s);
    tw = t_now() - t0;
    t_expect_gen(e, 0, 10000, 1);
    t0 = t_now();
    t_check_load(c, scope, 7, e, 424242);
    tl = t_now() - t0;
    printf("ckpt 10000 x 5000 B: write %.1f ms, load+verify %.1f ms\n",
           tw * 1e3, tl * 1e3);
    t_clear(c, scope, 7);
    t_set_free(&s);
    t_expect_free(e);
    spc_ckpt_destroy(c);
}
END_TEST

static int t_count_cb(const char *key, size_t key_len, const void *blob,
                      size_t len, void *opaque)
{
    (void)key;
    (void)key_len;
    (void)blob;
    (void)len;
    (*(size_t *)opaque)++;
    return 0;
}

static int t_cmp_dbl(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return (x > y) - (x < y);
}

START_TEST(test_ckpt_timings)
{
    static const size_t sizes[] = {100, 1000, 10000};
    const char *scope = "spctest:timing";
    const char *env = getenv("SPC_CKPT_BENCH_REPS");
    int reps = env ? atoi(env) : 3;
    struct spc_ckpt *c = t_connect();
    double tw[64], tl[64], t0;
    char err[ERRSZ] = "";
    struct t_set s;
    size_t k, seen;
    int64_t off;
    uint64_t tok;
    int r;

    reps = reps < 1 ? 1 : reps > 64 ? 64 : reps;
    for (k = 0; k < SPC_ARRAY_SIZE(sizes); k++) {
        t_set_make(&s, 0, sizes[k], 1, len_5k);
        for (r = 0; r < reps; r++) {
            t_clear(c, scope, 0);
            tok = t_fence(c, scope, 0);
            t0 = t_now();
            t_write_ok(c, scope, 0, tok, r, &s);
            tw[r] = t_now() - t0;
            seen = 0;
            t0 = t_now();
            ck_assert_int_eq(spc_ckpt_load(c, scope, 0, &off, t_count_cb, &seen,
                                           err, sizeof(err)),
                             SPC_OK);
            tl[r] = t_now() - t0;
            ck_assert_uint_ge(seen, sizes[k]);
        }
        qsort(tw, (size_t)reps, sizeof(double), t_cmp_dbl);
        qsort(tl, (size_t)reps, sizeof(double), t_cmp_dbl);
        printf("ckpt timing %5zu x 5000 B (%d reps): write median %.2f ms "
               "(min %.2f), load median %.2f ms (min %.2f)\n",
               sizes[k], reps, tw[reps / 2] * 1e3, tw[0] * 1e3,
               tl[reps / 2] * 1e3, tl[0] * 1e3);
        fflush(stdout);
        t_set_free(&s);
    }
    t_clear(c, scope, 0);
    spc_ckpt_destroy(c);
}
END_TEST

Suite *ckpt_suite(void)
{
    Suite *s = suite_create("ckpt");
    TCase *tc = tcase_create("redis");

    tcase_set_timeout(tc, 600);
    tcase_add_test(tc, test_ckpt_opts_json);
    tcase_add_test(tc, test_ckpt_roundtrip_binary);
    tcase_add_test(tc, test_ckpt_offset_absent);
    tcase_add_test(tc, test_ckpt_partial_update_and_delete);
    tcase_add_test(tc, test_ckpt_fencing);
    tcase_add_test(tc, test_ckpt_noscript_fallback);
    tcase_add_test(tc, test_ckpt_load_stop_and_invalid);
    tcase_add_test(tc, test_ckpt_refused_is_transient);
    tcase_add_test(tc, test_ckpt_restart_transient_then_reconnect);
    tcase_add_test(tc, test_ckpt_timeout_is_transient);
    tcase_add_test(tc, test_ckpt_busy_is_transient);
    tcase_add_test(tc, test_ckpt_auth_and_db);
    tcase_add_test(tc, test_ckpt_large_10k_x_5k);
    tcase_add_test(tc, test_ckpt_timings);
    suite_add_tcase(s, tc);
    return s;
}
