/*
 * spc_playbook.h -- rule-based root-cause advice (DESIGN section 8): the
 * incident's pattern (where x what) decides its ranked likely causes,
 * actions and correlations, plus its one-line title and summary.
 *
 * THREADING: pure functions of the incident.
 */
#ifndef SPC_PLAYBOOK_H
#define SPC_PLAYBOOK_H

#include "spc_incident.h"

/** Recompute c->pattern, c->title, c->summary and c->rules from the
 *  incident's scope, steps and anomalies.  @returns SPC_OK or NOMEM. */
spc_err_t spc_playbook_apply(struct spc_incident *c) SPC_WUR;

#endif /* SPC_PLAYBOOK_H */
