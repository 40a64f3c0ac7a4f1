/*
 * tier_fsck_run: verify (and mend) every tier of a vault.
 *
 * What is checked, tier by tier, for every tier that answers:
 *
 *   - the log: the head commit and every first-parent ancestor readable,
 *     each commit's Tier-Revision trailer equal to its position on the
 *     chain (SPEC R4), its Tier-Vault trailer equal to the vault's id,
 *     log.git/HEAD and log.git/config present so that stock git reads it;
 *     and the log packs as they are ON the tier (not the local cache the
 *     graph checks read): every .pack with its .idx and the other way
 *     round, each idx sound, each pack's size, header and trailing
 *     checksum agreeing with its idx and its name; with read_data each
 *     log pack downloaded through libgit2's indexer (every object hashed);
 *   - the data: every pack the head revision's index/ tree lists is on the
 *     tier with the size its trailer gives; with read_data each pack is
 *     downloaded (to a temporary file: memory stays bounded) and every
 *     chunk decoded and hashed, and the pack's own id checked;
 *   - the snapshot: every chunk a file of the head snapshot names is held
 *     by some pack of the index (checked once per distinct head);
 *   - across tiers: tiers at the same revision have the same head; a tier
 *     at a lower revision is behind (a warning: tier-sync mends it);
 *   - the installation (with a state directory): a tier another
 *     installation wrote to, one rolled back, one holding another vault,
 *     one whose log cannot be read, one that is offline.
 *
 * Each finding is a tier_fsck_problem with a stable id (the table is in
 * docs/fsck.md; ids are never renamed, only added) and a severity.  With
 * repair, a pack that is missing, truncated or corrupt on one tier is
 * copied from another online tier where it verifies, then checked again.
 * A damaged or lost log pack is copied from a tier holding the same pack
 * name (a git pack is named by its checksum), else rebuilt from the local
 * log cache and the damaged one removed.  Repair never writes a commit.
 * It moves a log head in one case only: a head that is garbage (not a
 * commit id) is written again, with the installation, from the head this
 * installation last wrote there when its objects are on the tier (or the
 * newest earlier one that is: the tier then counts as rolled back, and
 * tier-sync --accept-rollback NAME levels it).
 */
#ifndef TIER_FSCK_H
#define TIER_FSCK_H

#include "tier/common.h"

#include <stddef.h>
#include <stdint.h>

#include "tier/vault.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
	/** Worth knowing, nothing to do (an unreferenced pack). */
	TIER_FSCK_INFO = 0,
	/** Not damage, but fsck cannot vouch for something (offline, behind). */
	TIER_FSCK_WARNING = 1,
	/** Damage: data or log missing or wrong (tier-fsck exits 5). */
	TIER_FSCK_ERROR = 2,
} tier_fsck_severity;

/** "info", "warning", "error". */
TIER_EXTERN const char *tier_fsck_severity_name(tier_fsck_severity s);

/** One finding.  Strings are owned by the report (or, in a callback, valid
 *  for the duration of the call). */
typedef struct {
	const char *id; /**< stable id: "pack-missing", ... */
	tier_fsck_severity severity;
	const char *tier; /**< tier name, NULL for the vault as a whole */
	const char
	        *object; /**< "data/3f/3f9a...", a commit id, a path; or NULL */
	const char *message; /**< one line naming tier and object */
	int repaired;        /**< mended by repair (then no longer damage) */
} tier_fsck_problem;

/**
 * Called once per problem, in its final state (after the repair attempt
 * when repair is on).  Returning non-zero stops fsck with TIER_EABORTED.
 */
typedef int (*tier_fsck_problem_cb)(const tier_fsck_problem *p, void *payload);

/**
 * Progress of the data checks of one tier: `done` of `total` packs, and
 * bytes downloaded so far (read_data, repair).  Returning non-zero stops
 * fsck with TIER_EABORTED.
 */
typedef int (*tier_fsck_progress_cb)(const char *tier, uint64_t done,
                                     uint64_t total, uint64_t bytes,
                                     void *payload);

typedef struct {
	unsigned int version;
	/** Download every pack and hash every chunk (slow: reads all data). */
	int read_data;
	/** Mend missing, truncated and corrupt packs from another tier, damaged
	 *  log packs, and a garbled head (see above). */
	int repair;
	tier_fsck_problem_cb problem;
	tier_fsck_progress_cb progress;
	void *payload; /**< passed to problem and progress */
} tier_fsck_options;

#define TIER_FSCK_OPTIONS_VERSION 1
#define TIER_FSCK_OPTIONS_INIT                                    \
	{                                                         \
		TIER_FSCK_OPTIONS_VERSION, 0, 0, NULL, NULL, NULL \
	}

/** What a run found. */
typedef struct {
	size_t nproblems;
	tier_fsck_problem *problems; /**< in the order found */
	size_t errors; /**< error-level problems not repaired: damage */
	size_t warnings;
	size_t infos;
	size_t repaired;      /**< problems mended by repair */
	size_t tiers_checked; /**< tiers that answered and were verified */
	/** Tiers fsck could not look at: offline (no answer, or gone during
	 *  the check) or refusing us (password, permission); each also has
	 *  a tier-offline or tier-refused problem.  All of them: tier-fsck
	 *  exits 1; some: 7 (when no damage was found). */
	size_t tiers_offline;
	uint64_t packs_checked; /**< pack presence checks, all tiers */
	uint64_t packs_read; /**< packs downloaded and verified (read_data) */
	uint64_t
	        chunks_checked; /**< chunk references of the snapshots checked */
	uint64_t bytes_read;    /**< bytes downloaded */
	uint64_t
	        log_packs_checked; /**< log packs checked on the tiers (size, header, checksum) */
	uint64_t
	        log_packs_read; /**< log packs downloaded and indexed (read_data) */
} tier_fsck_report;

/**
 * Verify every tier of v (opened and probed, with a state directory or
 * with tiers alone).  Returns 0 when the check ran, whatever it found:
 * damage is in the report (report->errors > 0), not in the return code.
 * Fails with TIER_EABORTED when a callback asked to stop (*out then holds
 * what was found so far), or with another code when fsck itself could not
 * run (out of memory, no temporary directory); *out is then NULL:
 * TIER_EUSAGE for no v or an unknown opts->version, TIER_ERROR (or the
 * code of the local failure) otherwise.  Offline tiers and damage are
 * findings, never return codes.
 */
TIER_EXTERN int tier_fsck_run(tier_fsck_report **out, tier_vault *v,
                              const tier_fsck_options *opts);

TIER_EXTERN void tier_fsck_report_free(tier_fsck_report *r);

#ifdef __cplusplus
}
#endif
#endif
