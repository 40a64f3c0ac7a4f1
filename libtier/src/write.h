/*
 * The write transaction (R3), as push, mark, init and adopt use it: begin
 * (lock, probe, targets), build objects in tier_write_repo(), put data on
 * every target, commit.  A target that fails is dropped and reported.
 */
#ifndef TIER_WRITE_H
#define TIER_WRITE_H

#include <git2.h>

#include "tier/vault.h"

typedef struct tier_write tier_write;

/**
 * Start a write operation: takes the installation's write lock, probes
 * every tier again (R8 before any write: fails with TIER_EFOREIGN or
 * TIER_EROLLEDBACK, writing nothing) and picks the targets: every online,
 * synchronised tier.  Fails with TIER_EOFFLINE if no tier is a target.
 */
int tier_write_begin(tier_write **out, tier_vault *v, const char *op);

/** Repository in which the operation builds its objects (in memory). */
git_repository *tier_write_repo(tier_write *w);
/**
 * The backend of tier_write_repo() over the cache's packs (the objects
 * of earlier revisions), owned by it.  Its read does not hash what it
 * returns (git_odb_read does): for a reader that only compares bytes.
 */
git_odb_backend *tier_write_packs(tier_write *w);
/** The commit the new revision goes on top of (NULL for the first one). */
const git_oid *tier_write_parent(const tier_write *w);
/** Revision the new commit will carry. */
uint64_t tier_write_revision(const tier_write *w);

/**
 * Put a data object on every remaining target.  A target that fails is
 * dropped from the write (reported FAILED).  Returns an error only when no
 * target is left.
 */
int tier_write_put(tier_write *w, const char *path, const tier_source *src);
/**
 * tier_write_put() on other connections to the targets: locs[i] (NULL:
 * the vault's own) for each tier i.  Two threads may put at once, each on
 * its own connections.
 */
int tier_write_put_on(tier_write *w, tier_location *const *locs,
                      const char *path, const tier_source *src);
/** A second connection to each remote target (NULL for the others), for
 *  put_on; TIER_EUNSUPPORTED when no target is remote. */
int tier_write_clone_targets(tier_write *w, tier_location ***out);
void tier_write_free_clones(tier_write *w, tier_location **locs);

/** Number of targets still in the write. */
size_t tier_write_target_count(const tier_write *w);
/**
 * Tier i (in the vault's order) if it is still a target of the write, else
 * NULL.  For checks before the data puts start (push: is a pack of an
 * interrupted push on every target?); not while puts run.
 */
tier_location *tier_write_target(tier_write *w, size_t i);

/** Record this time (seconds since the epoch, zone offset in minutes) as
 *  the revision's time instead of now (tier-push --time). */
void tier_write_set_time(tier_write *w, int64_t time, int offset);

/**
 * Commit the revision: tree (NULL: the parent's tree, or an empty tree),
 * summary line, extra trailer lines ("Key: value\n"...), then per target:
 * intent, log pack, head, ref.  *out describes every tier.
 */
int tier_write_commit(tier_write *w, const git_oid *tree, const char *summary,
                      const char *extra_trailers, tier_write_result **out);

void tier_write_free(tier_write *w);

#endif
