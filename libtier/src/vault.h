/*
 * The vault handle as the rest of the engine reads it (push, restore,
 * fsck, history): the log cache and the tiers' heads.  The structs behind
 * it are vault_int.h's, for the vault's own files only.
 * The rest of the vault's private API has a header per concept:
 * installation.h (the R7 lock), tierref.h (R9 head moves, crash points)
 * and write.h (the R3 write transaction).
 */
#ifndef TIER_VAULT_INTERNAL_H
#define TIER_VAULT_INTERNAL_H

#include <git2.h>

#include "crypto/seal.h"
#include "tier/vault.h"

/** The cache repository (objects of every tier's log). */
git_repository *tier_vault_cache(tier_vault *v);
/** The installation's state directory, NULL without one (-t only). */
const char *tier_vault_state_dir(const tier_vault *v);
/** The vault's unwrapped keys; NULL: a vault without encryption. */
const tier_keys *tier_vault_keys(const tier_vault *v);
/** Head commit of the first online tier at the maximum revision. */
int tier_vault_best_head(tier_vault *v, git_oid *out, size_t *tier_index);

/**
 * The commit of revision `rev` on the first-parent chain of the best head
 * (rev 0: the best head itself).  TIER_ENOTFOUND naming the latest one.
 */
int tier_vault_find_revision(tier_vault *v, uint64_t rev, git_oid *out);

/** Head of tier i as last probed; TIER_ENOTFOUND for an empty tier. */
int tier_vault_tier_head(const tier_vault *v, size_t i, git_oid *out);

#endif
