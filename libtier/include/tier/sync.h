/*
 * tier_sync_run: bring every unsynchronised tier to the newest revision by
 * replaying, entry by entry, the log entries it lacks (SPEC R6): for each
 * missing revision, oldest first, the data packs it added, then its git
 * objects, then the tier's head.  Interrupted at any instant, the tier stays
 * at its last fully replayed revision and the next sync goes on from there.
 *
 * A write starting in any process of the installation makes a running sync
 * stop within a second with TIER_EABORTED (R7).
 */
#ifndef TIER_SYNC_H
#define TIER_SYNC_H

#include "tier/common.h"

#include <stdint.h>

#include "tier/vault.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	uint64_t tiers;     /**< tiers brought level */
	uint64_t revisions; /**< log entries replayed (summed over tiers) */
	uint64_t packs;     /**< data packs copied */
	uint64_t bytes;     /**< bytes of data packs copied */
	uint64_t skipped;   /**< packs the tier had already (resumed sync) */
	uint64_t
	        damaged; /**< packs found damaged on a source and taken elsewhere */
	/** bytes of log packs copied (not in bytes: tier_sync_plan() predicts
	 *  the data packs, and bytes is what it predicted) */
	uint64_t log_bytes;
	/** data packs deleted where a replayed prune deleted them */
	uint64_t deleted;
} tier_sync_stats;

typedef int (*tier_sync_progress_cb)(const tier_sync_stats *s, const char *tier,
                                     uint64_t revision, void *payload);
typedef void (*tier_sync_warning_cb)(const char *msg, void *payload);

/** Default of tier_sync_options.wait_idle: wait for a running write. */
#define TIER_DEFAULT_SYNC_WAIT_IDLE 1

typedef struct {
	unsigned int version;
	/** Wait for a running write to finish instead of failing TIER_ECONFLICT
	 *  (default TIER_DEFAULT_SYNC_WAIT_IDLE). */
	int wait_idle;
	tier_sync_progress_cb
	        progress; /**< non-zero return cancels (TIER_EABORTED) */
	tier_sync_warning_cb warning;
	void *payload;
} tier_sync_options;

#define TIER_SYNC_OPTIONS_VERSION 1
#define TIER_SYNC_OPTIONS_INIT                                                \
	{                                                                     \
		TIER_SYNC_OPTIONS_VERSION, TIER_DEFAULT_SYNC_WAIT_IDLE, NULL, \
		        NULL, NULL                                            \
	}

/**
 * Sync every online tier that lags; stats (may be NULL) counts what was
 * copied, also on failure.  opts may be NULL (the defaults).
 *
 * Returns 0 (also when no tier lags), or: TIER_EUSAGE without a writing
 * installation (no state directory, read-only, a vault opened for
 * reading) or for an unknown opts->version; TIER_ECONFLICT when a write
 * holds the installation's lock and opts->wait_idle is 0; TIER_EABORTED
 * when a write starts (R7) or the progress callback cancels;
 * TIER_EFOREIGN / TIER_EROLLEDBACK (R8) and TIER_EUSAGE (a tier of another
 * vault) from tier_vault_check(); TIER_EOFFLINE when no tier at the newest
 * revision is online, or the codes of the tiers' primitives when a copy
 * fails (a source pack damaged everywhere: TIER_ECORRUPT); TIER_ERROR for
 * a local failure.
 */
TIER_EXTERN int tier_sync_run(tier_sync_stats *stats, tier_vault *v,
                              const tier_sync_options *opts);

/**
 * What a sync of tier i would move: revisions and bytes of data packs
 * (0 and 0 for a tier that is offline, not ok or synchronised).
 * Returns 0, or TIER_EOFFLINE when no tier at the newest revision is
 * online; TIER_ENOTFOUND / TIER_ECORRUPT for log objects the cache lacks
 * or cannot read; TIER_ERROR when out of memory.
 */
TIER_EXTERN int tier_sync_plan(tier_vault *v, size_t i, uint64_t *revisions,
                               uint64_t *bytes);

/**
 * What tier i holds: the data packs its head revision's index lists and
 * their bytes (log packs not counted).  For a tier that did not answer,
 * what this installation last saw there (its stored head).  Returns 0, or
 * TIER_ENOTFOUND when no head is known (an empty tier, an offline tier
 * this installation never saw, or a head the log cache lacks);
 * TIER_ECORRUPT for log objects the cache cannot read; TIER_EUSAGE for no
 * tier i; TIER_ERROR when out of memory.
 */
TIER_EXTERN int tier_sync_held(tier_vault *v, size_t i, uint64_t *packs,
                               uint64_t *bytes);

#ifdef __cplusplus
}
#endif
#endif
