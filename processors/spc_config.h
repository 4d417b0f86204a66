/*
 * spc_config.h -- engine configuration (DESIGN section 4 "Config JSON"):
 * defaults for every parameter, detectors.<name>.{enabled,...}, per-step
 * rules with glob match, known baselines and detector overrides.
 *
 * OWNERSHIP: spc_config_new()/parse return an owned config (free with
 *   spc_config_destroy()); params returned by spc_config_resolve() are owned
 *   by the param cache passed in.
 * THREADING: immutable after parsing; workers share it read-only.
 */
#ifndef SPC_CONFIG_H
#define SPC_CONFIG_H

#include "spc_event.h"
#include "spc_wsjf.h"

#include <jansson.h>

/** Detectors, in the order they are evaluated and reported. */
enum spc_det {
    SPC_DET_SHEWHART = 0,
    SPC_DET_ROBUST_Z,
    SPC_DET_EWMA,
    SPC_DET_CUSUM,
    SPC_DET_TREND,
    SPC_DET_VARIANCE,
    SPC_DET_YIELD,
    SPC_DET_NEAR_LIMIT,
    SPC_DET_SUBGROUP,
    SPC_DET_RUNS,
    SPC_DET_FLATLINE,
    SPC_DET__COUNT
};

/** @returns the contract name of @p d ("shewhart", ...). */
const char *spc_det_name(enum spc_det d);
/** @returns the detector named @p name, or -1. */
int spc_det_find(const char *name);

/** Subgroup tests (bit mask). */
#define SPC_SG_MEAN 1u
#define SPC_SG_YIELD 2u
#define SPC_SG_VARIANCE 4u

/** Every tunable of the detectors and the baseline, resolved for a key. */
struct spc_params {
    uint8_t enabled[SPC_DET__COUNT];
    /* baseline */
    uint32_t warmup;       /* valid samples before estimated limits */
    uint32_t base_max;     /* accepted samples after which it freezes */
    uint32_t accept_delay; /* events a sample waits before acceptance */
    uint8_t widen;         /* widen limits for estimation error */
    uint8_t known;         /* Phase II: mean/sigma given */
    double known_mean, known_sigma;
    /* shewhart */
    double shewhart_L;
    /* robust_z */
    double rz_threshold, rz_eps;
    uint32_t rz_min_samples;
    /* ewma */
    double ewma_lambda, ewma_L, ewma_clip;
    uint8_t ewma_exact;
    /* cusum */
    double cusum_k, cusum_h, cusum_clip;
    uint8_t cusum_fir;
    /* trend */
    uint32_t trend_window;
    double trend_alpha, trend_min_slope;
    /* variance */
    uint32_t var_window;
    double var_ratio, var_alpha;
    /* yield */
    uint32_t yield_window, yield_min_baseline, yield_base_max;
    double yield_min_drop_abs, yield_min_drop_rel, yield_alpha;
    /* near_limit */
    uint32_t nl_window;
    double nl_fraction, nl_alpha, nl_min_rate;
    /* subgroup */
    uint32_t sg_window, sg_min_n;
    double sg_alpha, sg_min_shift;
    double sg_alpha_diag; /* alpha while a chart condition is active */
    uint32_t sg_tests;    /* SPC_SG_* */
    uint32_t sg_dims;     /* bit mask of dimension indexes */
    /* runs: bit r set = Nelson rule r (1..8) enabled */
    uint32_t runs_rules;
    uint32_t runs_run_length; /* rule 2: 9 (Nelson) or 8 (Western Electric) */
    /* flatline */
    uint32_t flat_min_run, flat_invalid_window;
    double flat_alpha, flat_invalid_alpha, flat_invalid_min_rate;
    /* derived once per resolved set (spc_params_derive), not configurable */
    double d_trend_zc;         /* two-sided normal critical value */
    double d_var_hi, d_var_lo; /* MSSD ratio limits for a full window */
    double d_flat_log_alpha;
    double d_sg_zc[65];      /* two-sided critical z for G = 1..64 tests */
    double d_sg_zc_diag[65]; /* the same at sg_alpha_diag */
};

/** Compute the d_* fields of @p p from its parameters. */
void spc_params_derive(struct spc_params *p);

/** One steps[] entry. */
struct spc_step_rule {
    char *match;       /* glob over "test_plan/test_step/measurement" */
    json_t *detectors; /* overrides (owned reference), may be NULL */
    json_t *baseline;  /* owned reference, may be NULL */
};

/** The alarm budget from which default thresholds are derived. */
struct spc_alarm_budget {
    uint8_t set;
    double false_alarms_per_hour; /* per station */
    double units_per_hour;        /* per station */
    double charted_steps;         /* per unit */
};

struct spc_config {
    uint32_t buffer_size;
    char *plan_format;
    uint8_t boolean_steps;
    struct spc_dims dims;
    struct spc_misc_map *misc; /* descriptions owned */
    size_t n_misc;
    struct spc_params defaults; /* after detectors{} and alarm_budget */
    struct spc_alarm_budget budget;
    struct spc_step_rule *rules;
    size_t n_rules;
    json_t *sections; /* other top-level sections (owned): incidents, ... */
};

/** Resolved parameters per set of matching rules; one per engine (the
 *  config itself stays immutable and shared). */
struct spc_param_cache;

/** @returns owned cache (free with spc_param_cache_destroy()), NULL on OOM. */
struct spc_param_cache *spc_param_cache_new(void);
void spc_param_cache_destroy(struct spc_param_cache *c);

/** @returns an owned config holding only defaults, NULL on OOM. */
struct spc_config *spc_config_new(void);

/**
 * @brief Parse a config JSON document.
 * @param foreign top-level section names handled elsewhere (kafka, redis,
 *   ...), kept in cfg->sections unparsed; NULL-terminated, may be NULL.
 * @returns owned config, or NULL with "<json.path>: <reason>" in errstr.
 */
struct spc_config *spc_config_parse(const json_t *root,
                                    const char *const *foreign, char *errstr,
                                    size_t errstr_size);

/** The top-level sections of the daemon (kafka, redis, topics, run), parsed
 *  by the consumer: pass as @p foreign so one config file serves `run`,
 *  `replay` and `config --check`. NULL-terminated. */
extern const char *const spc_config_daemon_sections[];

/** Load and parse a file ("-" is not allowed). */
struct spc_config *spc_config_load(const char *path, const char *const *foreign,
                                   char *errstr, size_t errstr_size);

void spc_config_destroy(struct spc_config *cfg);

/** @returns the section @p name kept for other parsers (borrowed), or
 *  NULL. */
const json_t *spc_config_section(const struct spc_config *cfg,
                                 const char *name);

/**
 * @brief Resolve the parameters of step key @p key_path
 * ("test_plan/test_step/measurement"): defaults, then every matching steps[]
 * rule in order (later rules override earlier ones).
 * @returns borrowed params (valid until @p cache is destroyed), NULL on
 *   OOM or when an override failed (errstr says why).
 * @remark @locality the thread that owns @p cache.
 */
const struct spc_params *spc_config_resolve(const struct spc_config *cfg,
                                            struct spc_param_cache *cache,
                                            const char *key_path, char *errstr,
                                            size_t errstr_size);

/** Glob match: '*' any run of characters ('/' included), '?' one. */
int spc_glob_match(const char *pattern, const char *s);

/** The wsjf options implied by the config (borrowed pointers). */
void spc_config_wsjf_opts(const struct spc_config *cfg,
                          struct spc_wsjf_opts *out);

/** Write the effective defaults as JSON (for `spcstream config --dump`). */
void spc_config_dump_defaults(const struct spc_config *cfg, struct spc_buf *b);

#endif /* SPC_CONFIG_H */
