/*
 * spc_advice.c -- advice records (rules or LLM): ownership helpers and JSON.
 * The rule playbooks that fill them live in spc_playbook.c.
 *
 * OWNERSHIP: every string and array in a struct spc_advice is owned by it
 *   (malloc'ed); spc_advice_fini() frees them.
 */
#include "spc_incident.h"

#include <string.h>

static void free_strv(char **v, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void spc_advice_fini(struct spc_advice *a)
{
    size_t i;

    if (!a)
        return;
    free(a->source);
    free(a->summary);
    for (i = 0; i < a->n_causes; i++) {
        free(a->causes[i].cause);
        free(a->causes[i].likelihood);
        free(a->causes[i].evidence);
    }
    free(a->causes);
    free_strv(a->actions, a->n_actions);
    free_strv(a->correlations, a->n_correlations);
    memset(a, 0, sizeof(*a));
}

static spc_err_t dup_strv(char ***dst, char *const *src, size_t n)
{
    size_t i;

    *dst = NULL;
    if (!n)
        return SPC_OK;
    *dst = spc_calloc(n, sizeof(char *));
    if (!*dst)
        return SPC_ERR_NOMEM;
    for (i = 0; i < n; i++) {
        (*dst)[i] = spc_strdup(src[i]);
        if (src[i] && !(*dst)[i])
            return SPC_ERR_NOMEM;
    }
    return SPC_OK;
}

spc_err_t spc_advice_copy(struct spc_advice *dst, const struct spc_advice *src)
{
    struct spc_advice t;
    size_t i;

    memset(&t, 0, sizeof(t));
    t.source = spc_strdup(src->source);
    t.summary = spc_strdup(src->summary);
    if ((src->source && !t.source) || (src->summary && !t.summary))
        goto oom;
    if (src->n_causes) {
        t.causes = spc_calloc(src->n_causes, sizeof(*t.causes));
        if (!t.causes)
            goto oom;
        t.n_causes = src->n_causes;
        for (i = 0; i < src->n_causes; i++) {
            t.causes[i].cause = spc_strdup(src->causes[i].cause);
            t.causes[i].likelihood = spc_strdup(src->causes[i].likelihood);
            t.causes[i].evidence = spc_strdup(src->causes[i].evidence);
            if ((src->causes[i].cause && !t.causes[i].cause) ||
                (src->causes[i].likelihood && !t.causes[i].likelihood) ||
                (src->causes[i].evidence && !t.causes[i].evidence))
                goto oom;
        }
    }
    t.n_actions = src->n_actions;
    if (dup_strv(&t.actions, src->actions, src->n_actions))
        goto oom;
    t.n_correlations = src->n_correlations;
    if (dup_strv(&t.correlations, src->correlations, src->n_correlations))
        goto oom;
    *dst = t;
    return SPC_OK;
oom:
    spc_advice_fini(&t);
    return SPC_ERR_NOMEM;
}

static void strv_json(struct spc_buf *b, char *const *v, size_t n)
{
    size_t i;

    spc_buf_putc(b, '[');
    for (i = 0; i < n; i++) {
        if (i)
            spc_buf_putc(b, ',');
        spc_json_str(b, v[i]);
    }
    spc_buf_putc(b, ']');
}

void spc_advice_to_json(const struct spc_advice *a, struct spc_buf *b)
{
    size_t i;

    if (!a->source) {
        spc_buf_puts(b, "null");
        return;
    }
    spc_buf_puts(b, "{\"source\":");
    spc_json_str(b, a->source);
    spc_buf_puts(b, ",\"summary\":");
    spc_json_str(b, a->summary);
    spc_buf_puts(b, ",\"causes\":[");
    for (i = 0; i < a->n_causes; i++) {
        spc_buf_puts(b, i ? ",{\"cause\":" : "{\"cause\":");
        spc_json_str(b, a->causes[i].cause);
        spc_buf_puts(b, ",\"likelihood\":");
        spc_json_str(b, a->causes[i].likelihood);
        spc_buf_puts(b, ",\"evidence\":");
        spc_json_str(b, a->causes[i].evidence);
        spc_buf_putc(b, '}');
    }
    spc_buf_puts(b, "],\"actions\":");
    strv_json(b, a->actions, a->n_actions);
    spc_buf_puts(b, ",\"correlations\":");
    strv_json(b, a->correlations, a->n_correlations);
    spc_buf_putc(b, '}');
}
