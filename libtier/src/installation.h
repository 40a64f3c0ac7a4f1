/*
 * The installation's write lock and the write-wanted announcement, as the
 * engine outside the vault sees them (sync, fsck --repair).  R7: a writer
 * that waits for the lock announces itself; a sync polls
 * tier_vault_write_wanted() and stops within a second.
 */
#ifndef TIER_INSTALLATION_H
#define TIER_INSTALLATION_H

#include "tier/vault.h"

/**
 * Locking for sync: takes the installation's write lock without waiting
 * (TIER_ECONFLICT when a write or another sync holds it).
 */
int tier_vault_lock_sync(tier_vault *v);
void tier_vault_unlock(tier_vault *v);
/** R7: whether a writer (any process of the installation) waits for the lock. */
int tier_vault_write_wanted(const tier_vault *v);

#endif
