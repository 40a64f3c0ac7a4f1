/*
 * tier-prune and tier-forget --prune: one prune run with progress on a
 * terminal, its report as text or JSON.
 */
#ifndef TOOL_PRUNING_H
#define TOOL_PRUNING_H

#include <jansson.h>
#include <stdint.h>

#include "tier/prune.h"

/**
 * Parse a --max-unused value: "10" or "10%", 0..100.  0 or
 * tool_usage_error()'s exit code.
 */
int tool_prune_parse_unused(const char *s, unsigned int *out);

/**
 * Prune v, print what it did (text: lines on stdout and a summary on
 * stderr; json: *json gets the object, else NULL).  Returns a tier error
 * code (< 0) or 0.
 */
int tool_prune(tier_vault *v, const tier_prune_options *o, int json_mode,
               json_t **json);

#endif
