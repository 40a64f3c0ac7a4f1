/*
 * Inside prune: the run state prune.c (decide, rewrite, commit),
 * prune_mark.c (the live set) and prune_sweep.c (deletes on the tiers)
 * share.  Internal header.
 */
#ifndef TIER_PRUNE_INT_H
#define TIER_PRUNE_INT_H

#include <git2.h>
#include <limits.h>
#include <stdint.h>

#include "chunkidx.h"
#include "hash.h"
#include "tier/prune.h"
#include "util/spillset.h"
#include "write.h"

/** What becomes of a pack the head lists. */
enum pack_fate { FATE_KEEP = 0, FATE_DELETE, FATE_REWRITE };

struct prune {
	tier_vault *v;
	const tier_prune_options *o;
	tier_prune_report *rep;
	git_repository *repo; /* the log cache */
	tier_write *w;        /* NULL: dry run */
	git_oid head;         /* the revision pruned */
	git_tree *head_tree;
	tier_spillset *live; /* chunk ids kept revisions name */
	tier_cidx_pack *packs; /* the head's index/, sorted */
	size_t npacks;
	unsigned char *fate; /* per pack: enum pack_fate */
	uint64_t *size;      /* per pack: bytes */
	/* the sweep's view: what the new head names, what prunes dropped;
	 * both sorted */
	unsigned char (*named)[TIER_HASH_LEN];
	size_t nnamed;
	unsigned char (*dropped)[TIER_HASH_LEN];
	size_t ndropped;
	int64_t now;
	char tmpdir[PATH_MAX];
};

/** Report progress; < 0 (TIER_EABORTED, error set) when told to stop. */
int tier_prune_progress(struct prune *p, tier_prune_phase ph, uint64_t done,
                        uint64_t total);

/**
 * Fill p->live with every chunk the snapshots of the kept push revisions
 * name (every push not forgotten, newest first from p->head).  A snapshot
 * that cannot be read is TIER_ECORRUPT: what is live is then unknown.
 */
int tier_prune_mark(struct prune *p);

/**
 * The packs a prune revision (or any entry) stopped naming: in the index
 * of `from` but not of `to`.  *out (n ids) is the caller's.
 */
int tier_prune_dropped(unsigned char (**out)[TIER_HASH_LEN], size_t *n,
                       git_repository *repo, const git_oid *from,
                       const git_oid *to);

/**
 * Whether a prune revision lies on the first-parent chain from newer
 * (included) down to older (excluded): 1, 0, or < 0 on a read error.
 */
int tier_prune_between(git_repository *repo, const git_oid *newer,
                       const git_oid *older);

/**
 * On tier i, whose head is the prune's: delete every file under data/ that
 * p->named lacks and that p->dropped holds (a prune's dead pack) or that
 * is older than the grace period (an unfinished push's is younger).
 * Counts into p->rep.
 */
int tier_prune_sweep(struct prune *p, size_t tier_i);

#endif
