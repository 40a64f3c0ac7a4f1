/*
 * Space reclamation (SPEC section 7): tier-prune.
 *
 * A prune frees what forgotten revisions held.  It marks every chunk that a
 * kept push revision's snapshot names (the live set, in bounded memory),
 * then looks at every pack the head's index/ tree lists: a pack with no
 * live chunk is deleted; a pack whose dead bytes exceed max_unused percent
 * of its size is rewritten (its live chunks, read from the first target
 * that has the pack intact and checked by their hashes, go into new packs
 * put on every target) and then deleted; other packs stay.
 *
 * It is one write operation (R3, R8, R9 as any): new packs are put first,
 * then a commit "Tier-Op: prune" whose index/ no longer lists the deleted
 * packs and lists the new ones, then the deletes on every tier that took
 * the commit.  A kill at any instant leaves either the old revision (the
 * new packs unnamed, swept later) or the new one (old packs unnamed, their
 * deletes finished by the next prune).  Files under data/ that no revision
 * names are deleted once a prune named them dead, or once they are older
 * than the grace period (an unfinished push's packs are younger: kept).
 */
#ifndef TIER_PRUNE_H
#define TIER_PRUNE_H

#include "tier/common.h"

#include <stddef.h>
#include <stdint.h>

#include "tier/vault.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Default tier_prune_options.max_unused: rewrite packs over 10% dead. */
#define TIER_PRUNE_DEFAULT_MAX_UNUSED 10
/** Default grace period for unnamed packs, in seconds (1 h). */
#define TIER_PRUNE_DEFAULT_GRACE 3600

/** The phases a prune reports progress in. */
typedef enum {
	TIER_PRUNE_MARK = 0, /**< reading kept snapshots; done = revisions */
	TIER_PRUNE_SCAN,     /**< classifying packs; done = packs */
	TIER_PRUNE_REWRITE,  /**< copying live chunks; done = bytes */
	TIER_PRUNE_DELETE,   /**< deleting on the tiers; done = files */
} tier_prune_phase;

/** Progress: non-zero return cancels (TIER_EABORTED) before the commit. */
typedef int (*tier_prune_progress_cb)(tier_prune_phase phase, uint64_t done,
                                      uint64_t total, void *payload);

typedef struct {
	unsigned int version;
	int dry_run;             /**< decide and report; write nothing */
	unsigned int max_unused; /**< percent, 0..100; rewrite above it */
	int64_t grace;           /**< seconds an unnamed pack is left alone */
	tier_prune_progress_cb progress;
	void *payload;
} tier_prune_options;

#define TIER_PRUNE_OPTIONS_VERSION 1
#define TIER_PRUNE_OPTIONS_INIT                                               \
	{                                                                     \
		TIER_PRUNE_OPTIONS_VERSION, 0, TIER_PRUNE_DEFAULT_MAX_UNUSED, \
		        TIER_PRUNE_DEFAULT_GRACE, NULL, NULL                  \
	}

typedef struct {
	uint64_t revisions_kept; /**< push revisions whose chunks were marked */
	uint64_t chunks_live;    /**< distinct chunks they name */
	uint64_t packs;          /**< packs the head listed */
	uint64_t pack_bytes;     /**< their size */
	uint64_t live_bytes;     /**< stored bytes of live chunks in them */
	uint64_t packs_deleted;  /**< packs with nothing live */
	uint64_t deleted_bytes;
	uint64_t packs_rewritten; /**< mostly-dead packs repacked */
	uint64_t rewritten_bytes; /**< their size */
	uint64_t packs_written;   /**< new packs the rewrite made */
	uint64_t written_bytes;
	uint64_t files_removed; /**< files deleted on tiers (all tiers) */
	uint64_t unnamed_removed; /**< of them: packs no revision named */
	uint64_t unnamed_young;   /**< unnamed packs kept by the grace period */
	uint64_t peak_memory;     /**< bytes the bounded sets held at most */
	/** tiers whose deletes failed after the revision was written (the
	 *  next prune finishes them), and the last such error */
	uint64_t sweep_failures;
	char sweep_error[512];
} tier_prune_report;

/**
 * Run a prune (or, with dry_run, only say what it would do).  *out
 * (NULL when nothing was written) tells which tiers took the prune
 * revision; a prune with nothing to delete or rewrite writes no revision
 * but still removes unnamed packs past the grace period.
 * Returns 0, or the codes of every write (tier_vault_mark), TIER_EUSAGE
 * for bad options, TIER_ECORRUPT when a kept snapshot or a pack index
 * cannot be read (nothing is deleted then: what is live is unknown), or
 * when no tier has a pack to rewrite intact.
 */
TIER_EXTERN int tier_prune_run(tier_prune_report *report,
                               tier_write_result **out, tier_vault *v,
                               const tier_prune_options *opts);

#ifdef __cplusplus
}
#endif

#endif
