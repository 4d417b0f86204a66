/*
 * spc_llm.h -- the LLM advisor: operator-friendly advice on qualifying
 * incidents from an OpenAI-compatible chat-completions endpoint
 * (DESIGN section 8).  The only module of processors/ that uses libcurl.
 *
 * DATA FLOW: incident facts JSON (spc_incident_facts_json) -> submit ->
 *   bounded queue -> llm thread: prompt (template + delimited, sanitized
 *   facts) -> POST {endpoint} (retries, backoff, hourly budget, circuit
 *   breaker) -> reply -> JSON validated against
 *   schemas/llm_advice.schema.json -> struct spc_advice (source "llm") ->
 *   reply callback -> the caller's thread -> spc_incidents_apply_llm().
 * OWNERSHIP: see each function; advice handed to the callback is valid
 *   during the call only (copy it with spc_advice_copy()).
 * THREADING: one worker thread per struct spc_llm ("@locality llm");
 *   submit/flush/stats/destroy may be called from any one other thread.
 * FAILURE MODES: every failure (HTTP, timeout, malformed or over-long
 *   reply, schema violation, budget, breaker, full queue) is counted and
 *   leaves the rule advice in place; nothing here is fatal.
 */
#ifndef SPC_LLM_H
#define SPC_LLM_H

#include "spc_buf.h"
#include "spc_incident.h"

#include <jansson.h>

/* Reply limits (mirrored by schemas/llm_advice.schema.json; the unit test
 * checks that both agree).  Lengths are in characters (code points). */
#define SPC_LLM_SUMMARY_MAX 1000
#define SPC_LLM_STRING_MAX 400
#define SPC_LLM_CAUSES_MIN 1
#define SPC_LLM_CAUSES_MAX 5
#define SPC_LLM_ACTIONS_MIN 1
#define SPC_LLM_ACTIONS_MAX 8
#define SPC_LLM_CORRELATIONS_MAX 8

/* Prompt limits: each untrusted string from the facts is capped at
 * SPC_LLM_FIELD_MAX bytes, the data block at SPC_LLM_FACTS_MAX (arrays
 * are shortened until it fits) and the whole user message at
 * SPC_LLM_PROMPT_MAX. */
#define SPC_LLM_FIELD_MAX 200
#define SPC_LLM_FACTS_MAX 24576
#define SPC_LLM_PROMPT_MAX 49152

/** Log levels of spc_llm_log_cb. */
enum spc_llm_log_level {
    SPC_LLM_LOG_DEBUG = 0,
    SPC_LLM_LOG_INFO = 1,
    SPC_LLM_LOG_WARN = 2
};

/**
 * Log sink.  @p msg never contains the API key (Authorization headers are
 * redacted).  @locality llm thread (also the caller of spc_llm_new).
 */
typedef void(spc_llm_log_cb)(int level, const char *msg, void *opaque);

/** Configuration (config section "llm"); strings owned (spc_llm_opts_fini).
 */
struct spc_llm_opts {
    char *endpoint;         /* full chat-completions URL (normalized) or NULL */
    char *model;            /* default "default" */
    char *api_key_env;      /* env var holding the key; SPCSTREAM_LLM_API_KEY */
    long timeout_ms;        /* per HTTP attempt */
    int max_retries;        /* extra attempts on 429/5xx/timeouts/network */
    long backoff_ms;        /* first backoff; doubles per retry */
    long max_backoff_ms;    /* caps backoff and Retry-After */
    int max_calls_per_hour; /* HTTP attempts in any 60 min; 0 = unlimited */
    int breaker_failures;   /* consecutive failed attempts that open it */
    long breaker_cooldown_ms;
    size_t max_reply_bytes; /* HTTP body cap */
    size_t queue_size;
    char *template_path; /* NULL: the embedded schemas/llm_prompt.txt */
    double temperature;
    int max_tokens;  /* completion token cap sent to the server */
    int json_mode;   /* send response_format {"type":"json_object"} */
    char **triggers; /* incident patterns ('*' glob); empty = all */
    size_t n_triggers;
    int min_severity; /* 0 info, 1 warning, 2 critical */
    int enabled;
    int debug;           /* log request/response traffic (key redacted) */
    spc_llm_log_cb *log; /* not from JSON; NULL: warnings to stderr */
    void *log_opaque;
};

/** Fill @p o with the defaults (disabled, no endpoint). */
void spc_llm_opts_defaults(struct spc_llm_opts *o);

/**
 * @brief Defaults, then the "llm" config section (NULL: defaults only),
 * then the environment: SPCSTREAM_LLM_URL (an OpenAI-compatible base URL
 * such as http://127.0.0.1:8080 or .../v1, or the full
 * .../chat/completions URL) overrides the endpoint and enables the advisor
 * unless the section says "enabled": false; SPCSTREAM_LLM_MODEL overrides
 * the model.  Without an endpoint the advisor is disabled.
 * @param out written only on success (free with spc_llm_opts_fini()).
 * @returns SPC_OK, SPC_ERR_INVALID with "llm.<key>: ..." in @p errstr,
 *          SPC_ERR_NOMEM.
 * @remark reads the environment: call from the main thread.
 */
spc_err_t spc_llm_opts_from_json(const json_t *section,
                                 struct spc_llm_opts *out, char *errstr,
                                 size_t errstr_size) SPC_WUR;
void spc_llm_opts_fini(struct spc_llm_opts *o);

/** @returns 1 when an incident with @p pattern and @p severity
 *  (enum spc_severity) qualifies for LLM advice under @p o, else 0. */
int spc_llm_qualifies(const struct spc_llm_opts *o, const char *pattern,
                      int severity);

/**
 * Result of one submitted request: @p advice (source "llm", valid during
 * the call only) on success, or NULL and a short @p error.  Called once per
 * accepted submit, except for work cancelled by spc_llm_destroy().
 * Must not call spc_llm_destroy().
 * @locality llm thread -- the caller hands the result back to its own
 * thread (the incident table is not thread-safe).
 */
typedef void(spc_llm_reply_cb)(const char *incident_id, uint32_t revision,
                               const struct spc_advice *advice,
                               const char *error, void *opaque);

struct spc_llm;

/**
 * @brief Start the advisor: one worker thread and a bounded queue.  Reads
 * the API key from the environment variable o->api_key_env (may be unset
 * for local servers) and the template file, if any.
 * @param o copied.
 * @returns owned advisor (spc_llm_destroy()), NULL with @p errstr on error
 *          (disabled, no endpoint, unreadable or invalid template, OOM).
 * @remark call from the main thread (curl_global_init, getenv).
 */
struct spc_llm *spc_llm_new(const struct spc_llm_opts *o, spc_llm_reply_cb *cb,
                            void *opaque, char *errstr, size_t errstr_size);

/**
 * @brief Queue a request for advice on an incident.  Never blocks on I/O.
 * @param incident_id, facts_json copied.
 * @returns SPC_OK (the callback will report the outcome), SPC_ERR_RANGE
 *          when the queue is full, the hourly budget is spent or the
 *          circuit breaker is open (counted; the rule advice stands),
 *          SPC_ERR_INVALID, SPC_ERR_NOMEM.
 */
spc_err_t spc_llm_submit(struct spc_llm *l, const char *incident_id,
                         uint32_t revision, const char *facts_json) SPC_WUR;

/** Wait until the queue is empty and no request is in flight, or
 *  @p timeout_ms passed.  @returns 1 when idle, 0 on timeout. */
int spc_llm_flush(struct spc_llm *l, long timeout_ms);

struct spc_llm_stats {
    uint64_t calls;         /* HTTP attempts */
    uint64_t ok;            /* advice delivered */
    uint64_t http_errors;   /* non-2xx answers (429 included), network */
    uint64_t timeouts;      /* attempts that hit timeout_ms */
    uint64_t bad_json;      /* reply or its content is not JSON */
    uint64_t schema_errors; /* JSON that does not match the schema */
    uint64_t too_long;      /* reply over max_reply_bytes */
    uint64_t rate_limited;  /* refused: hourly budget spent */
    uint64_t breaker_open;  /* refused: circuit breaker open */
    uint64_t dropped;       /* refused: queue full (or prompt not built) */
    uint64_t retries;       /* attempts after the first of a request */
    uint64_t pending;       /* queued + in flight now */
    int breaker_is_open;
};

/** Snapshot of the counters (thread-safe). */
void spc_llm_get_stats(struct spc_llm *l, struct spc_llm_stats *out);

/** Stop the worker (an in-flight request is aborted at once), drop queued
 *  work without callbacks, free everything.  Accepts NULL.  No callback
 *  runs after it returns. */
void spc_llm_destroy(struct spc_llm *l);

/* ---- pure helpers (no I/O; tested directly) ---- */

/** The embedded default prompt template (schemas/llm_prompt.txt). */
const char *spc_llm_default_template(void);
/** The embedded reply schema (schemas/llm_advice.schema.json). */
const char *spc_llm_advice_schema(void);

/**
 * @brief Check a template: a "[[system]]" and a "[[user]]" section, the
 * user one holding {{data}}.  Placeholders: {{data}} (the delimited facts),
 * {{tag}} (the delimiter's tag name), {{schema}} (the reply schema).
 * @returns SPC_OK or SPC_ERR_INVALID with the reason in @p errstr.
 */
spc_err_t spc_llm_check_template(const char *template_text, char *errstr,
                                 size_t errstr_size) SPC_WUR;

/**
 * @brief Append the chat-completions request body (model, temperature,
 * max_tokens, [response_format], system + user messages) to @p out.  The
 * facts are re-rendered as a data block between <tag> and </tag> lines
 * (tag derived from a hash of the facts): nulls and the duplicate "advice"
 * dropped, every string value sanitized (control and bidi/zero-width
 * characters become a space, '<' and '>' JSON-escaped so no value can
 * close the block) and capped at SPC_LLM_FIELD_MAX bytes; arrays are
 * shortened until the block fits SPC_LLM_FACTS_MAX.
 * @param template_text NULL: the embedded default.
 * @returns SPC_OK, SPC_ERR_PARSE (facts not a JSON object),
 *          SPC_ERR_INVALID (bad template), SPC_ERR_RANGE (prompt too
 *          large), SPC_ERR_NOMEM.
 */
spc_err_t spc_llm_build_request(const struct spc_llm_opts *o,
                                const char *template_text,
                                const char *facts_json,
                                struct spc_buf *out) SPC_WUR;

/**
 * @brief Parse a chat-completions response body: choices[0].message.content
 * must hold JSON (optionally in ```json fences or surrounded by prose)
 * matching the advice schema and limits.  Control characters in accepted
 * strings become spaces; likelihood is lower-cased.
 * @param out written only on success (source "llm"; spc_advice_fini()).
 * @returns SPC_OK; SPC_ERR_RANGE (body or content over @p max_bytes),
 *          SPC_ERR_PARSE (not JSON, no content), SPC_ERR_INVALID (schema
 *          violation), SPC_ERR_NOMEM -- with what failed in @p errstr.
 */
spc_err_t spc_llm_parse_reply(const char *body, size_t len, size_t max_bytes,
                              struct spc_advice *out, char *errstr,
                              size_t errstr_size) SPC_WUR;

#endif /* SPC_LLM_H */
