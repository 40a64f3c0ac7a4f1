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
	/** TIER_OVERWRITE_NEVER: entries in DEST that differ from the
	 *  snapshot, left as they are */
	uint64_t skipped;
	/** entries of the selection left out by include/exclude patterns
	 *  (a directory left out counts once, not what it holds) */
	uint64_t filtered;
} tier_restore_stats;

/**
 * What a restore does with an entry that DEST has already where the
 * snapshot has one (a directory is always merged into, never replaced by
 * a directory).  An entry "the same as the snapshot" has the snapshot's
 * type, size, mtime and mode (and owner, as root), a symlink the same
 * target: it is kept, in every mode, so a rerun after an interruption
 * finishes the restore without rewriting what is done.
 */
typedef enum {
	/** anything that differs fails the restore (TIER_ECONFLICT) before
	 *  anything is written (version 1's overwrite = 0) */
	TIER_OVERWRITE_REFUSE = 0,
	/** replace what differs by type, size, mtime or mode (version 1's
	 *  overwrite = 1); contents are not read */
	TIER_OVERWRITE_IF_CHANGED = 1,
	/** replace every entry but one the same as the snapshot and, for a
	 *  regular file, with the same contents (read and hashed chunk by
	 *  chunk): restic's default, and tier-restore's */
	TIER_OVERWRITE_ALWAYS = 2,
	/** leave every entry DEST has as it is (counted in skipped); only
	 *  what is missing is restored */
	TIER_OVERWRITE_NEVER = 3,
} tier_restore_overwrite;

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
	int overwrite; /**< a tier_restore_overwrite */
	tier_restore_progress_cb progress;
	tier_restore_warning_cb warning;
	void *payload;
	/* version 2 */
	/** walk the selection and count what would be restored (stats, as
	 *  a restore fills them), create and write nothing; the conflicts of
	 *  TIER_OVERWRITE_REFUSE fail it as they would fail the restore */
	int dry_run;
	/**
	 * Patterns on the snapshot path ("/home/u/x"), gitignore-style: a
	 * trailing '/' matches directories only; one without another '/'
	 * matches a name at any depth; one with a '/' the whole path from the
	 * snapshot root (its leading '/' optional), '*' not crossing '/', and
	 * "**" any number of directories.  An entry matching an exclude
	 * pattern is left out with all it holds; with include patterns, only
	 * entries matching one, what they hold, and the directories on the
	 * way to them are restored.  Exclude wins.
	 */
	const char *const *include;
	size_t ninclude;
	const char *const *exclude;
	size_t nexclude;
} tier_restore_options;

#define TIER_RESTORE_OPTIONS_VERSION 2
#define TIER_RESTORE_OPTIONS_INIT                                              \
	{                                                                      \
		TIER_RESTORE_OPTIONS_VERSION, 0, NULL, NULL, 0, 0, NULL, NULL, \
		        NULL, 0, NULL, 0, NULL, 0                              \
	}

/**
 * Restore opts->revision (or the paths asked for) into opts->dest; stats
 * (may be NULL) says what was written, also on failure.  An entry that
 * cannot be restored is reported through opts->warning and the run goes
 * on; the first such failure is then the return code.  Version 1 of the
 * options (without dry_run and the patterns) is still accepted.
 *
 * Returns 0, or: TIER_EUSAGE for no v or opts, no dest, npaths without
 * paths, an unknown opts->version, an overwrite mode
 * out of range, a pattern that is empty; TIER_ENOTFOUND for a revision or path
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
