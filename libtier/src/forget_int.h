/*
 * What readers of one revision need from forget commits, without reading
 * the whole log (tier_vault_find_revision walks head -> rev anyway).
 * Internal header.
 */
#ifndef TIER_FORGET_INT_H
#define TIER_FORGET_INT_H

#include <stdint.h>

#include <git2.h>

#include "log.h"
#include "tier/forget.h"
#include "tier/vault.h"

/** 1 when log commit ci is a forget whose Tier-Forget ranges hold rev, 0
 *  when not, < 0 when its trailers cannot be read. */
int tier_forget_commit_names(tier_vault *v, const tier_commit_info *ci,
                             uint64_t rev);

/** An empty set, to fill with tier_forgotten_note(); NULL: no memory. */
tier_forgotten *tier_forgotten_new(void);
/** Add the Tier-Forget ranges of log commit `commit` (revision rev). */
int tier_forgotten_note(tier_forgotten *f, git_repository *repo,
                        const git_oid *commit, uint64_t rev);

/** TIER_ENOTFOUND, "revision REV was forgotten by revision BY ...". */
int tier_forget_error(uint64_t rev, uint64_t by);

#endif
