/*
 * tier_restore_run: write a revision (or part of it) back to disk.
 *
 * Packs are read from the first online tier that has them intact (SPEC R2);
 * a pack that is missing or fails its hash there is read from the next tier
 * and the damage reported.  Every chunk's SHA-256 is checked.  Contents,
 * modes, mtimes, symlinks and empty directories are restored; ownership
 * when running as root.
 */
#ifndef TIER_RESTORE_H
#define TIER_RESTORE_H

#include "tier/common.h"

#include <stdint.h>

#include "tier/vault.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
	uint64_t revision; /**< the revision restored */
	uint64_t files;
	uint64_t dirs;
	uint64_t others; /**< symlinks, fifos, devices */
	uint64_t bytes;  /**< file bytes written */
	uint64_t chunks;
	uint64_t
	        damaged; /**< packs or chunks served by a later tier after damage */
	uint64_t errors; /**< entries that could not be restored */
	/** entries already in DEST as the snapshot has them (a rerun after an
	 *  interruption): left as they are, not counted in files/others */
	uint64_t kept;
	/** the newest revision of the vault (revision may be older: -r, or
	 *  the newest one holding the paths asked for) */
	uint64_t latest;
} tier_restore_stats;

typedef int (*tier_restore_progress_cb)(const tier_restore_stats *s,
                                        const char *current, void *payload);
/** Damage found on a tier, or an entry that could not be restored: one line. */
typedef void (*tier_restore_warning_cb)(const char *msg, void *payload);

typedef struct {
	unsigned int version;
	/** 0: the latest; with paths, the newest revision holding them all */
	uint64_t revision;
	const char *dest;         /**< directory to restore into (created) */
	const char *const *paths; /**< snapshot paths to restore; none = all */
	size_t npaths;
	int overwrite; /**< replace existing files in dest */
	tier_restore_progress_cb progress;
	tier_restore_warning_cb warning;
	void *payload;
} tier_restore_options;

#define TIER_RESTORE_OPTIONS_VERSION 1
#define TIER_RESTORE_OPTIONS_INIT                                              \
	{                                                                      \
		TIER_RESTORE_OPTIONS_VERSION, 0, NULL, NULL, 0, 0, NULL, NULL, \
		        NULL                                                   \
	}

/**
 * Restore opts->revision (or the paths asked for) into opts->dest; stats
 * (may be NULL) says what was written, also on failure.  An entry that
 * cannot be restored is reported through opts->warning and the run goes
 * on; the first such failure is then the return code.
 *
 * Returns 0, or: TIER_EUSAGE for no v or opts, no dest, npaths without
 * paths, an unknown opts->version; TIER_ENOTFOUND for a revision or path
 * the vault does not hold (or no revision holding every path given);
 * TIER_EOFFLINE when no online tier holds the revision or a pack of it;
 * TIER_ECORRUPT when data is damaged on every tier that has it, or the log
 * skips a revision; TIER_ECONFLICT for an existing entry in dest without
 * overwrite, or a non-directory where a directory is wanted; TIER_ENOSPC,
 * TIER_EAUTH (permission denied) or TIER_ERROR for local file system
 * failures; TIER_EABORTED when the progress callback cancelled.  The
 * codes of tier_vault_log() when no tier is readable.
 */
TIER_EXTERN int tier_restore_run(tier_restore_stats *stats, tier_vault *v,
                                 const tier_restore_options *opts);

#ifdef __cplusplus
}
#endif
#endif
