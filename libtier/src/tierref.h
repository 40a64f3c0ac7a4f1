/*
 * Moving a tier's head as the engine outside the vault does it (sync,
 * fsck --repair), and the crash points of tests.  R9: the intent is on
 * disk before the head moves, the ref follows, the intent goes.
 */
#ifndef TIER_TIERREF_H
#define TIER_TIERREF_H

#include <git2.h>
#include <stdint.h>

#include "tier/vault.h"

/**
 * Move tier i's head to `to` (revision to_rev) the way a write does: intent,
 * head, ref, intent cleared (the one sequence of tierref.c; crash points
 * sync.intent, sync.head, sync.ref).  The objects and data must be there
 * already.
 */
int tier_vault_advance(tier_vault *v, size_t i, const git_oid *to,
                       uint64_t to_rev);

/**
 * Test hook: TIER_TEST_CRASH=point[:n] exits with 137 at the n-th hit
 * (docs/testing.md lists the points).
 */
void tier_test_crashpoint(const char *point);

#endif
