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

TIER_EXTERN int tier_sync_run(tier_sync_stats *stats, tier_vault *v,
                              const tier_sync_options *opts);

/** What a sync of tier i would move: revisions and bytes of data packs. */
TIER_EXTERN int tier_sync_plan(tier_vault *v, size_t i, uint64_t *revisions,
                               uint64_t *bytes);

#ifdef __cplusplus
}
#endif
#endif
