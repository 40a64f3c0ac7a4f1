/*
 * The operation log of one tier: a bare git repository at <tier>/log.git,
 * reached only through the tier's driver (remote tiers cannot be opened by
 * libgit2).  See docs/format.md for the layout and the head protocol.
 *
 * Locally the log is mirrored into the installation's cache repository
 * (a bare repo); everything graph-shaped (revisions, ancestry, history) is
 * answered from there.
 */
#ifndef TIER_LOG_H
#define TIER_LOG_H

#include <git2.h>
#include <stdint.h>

#include "tier/location.h"
#include "util/buf.h"

#define TIER_LOG_DIR      "log.git"
#define TIER_LOG_HEAD_REF "log.git/refs/heads/main"
/* The head being published; outside refs/ so that git never takes it, or a
 * leftover temporary file of its put, for a branch. */
#define TIER_LOG_HEAD_NEXT "log.git/head.next"
#define TIER_LOG_PACK_DIR  "log.git/objects/pack"

/* Trailer keys written on every commit. */
#define TIER_TRAILER_REVISION     "Tier-Revision"
#define TIER_TRAILER_OP           "Tier-Op"
#define TIER_TRAILER_VAULT        "Tier-Vault"
#define TIER_TRAILER_INSTALLATION "Tier-Installation"
#define TIER_TRAILER_HOST         "Tier-Host"
#define TIER_TRAILER_USER         "Tier-User"

/** What a commit says about itself (parsed from its trailers). */
typedef struct {
	git_oid id;
	uint64_t revision;
	int64_t time;    /* committer time, seconds */
	int time_offset; /* minutes */
	char op[32];
	char vault[65];
	char installation[65];
	char host[128];
	char user[128];
	char summary[256];
	/* optional stats trailers, -1 when absent */
	int64_t files, bytes, new_bytes, packs;
} tier_commit_info;

/** Parse the trailers of a commit (TIER_ECORRUPT if Tier-Revision is missing,
 *  or if the commit is over TIER_MAX_SMALL_OBJECT: it is never inflated). */
int tier_commit_info_read(tier_commit_info *out, git_repository *repo,
                          const git_oid *id);

/**
 * git_commit_lookup() of a log commit whose size was checked first
 * (TIER_MAX_SMALL_OBJECT, objread.h): a hostile tier's 1 GiB "commit" is
 * TIER_ECORRUPT, not 1 GiB of memory.  Errors name the commit.
 */
int tier_log_commit_lookup(git_commit **out, git_repository *repo,
                           const git_oid *id);

/**
 * The first parent of log commit id (size-checked, as above): 1 with *out
 * set, 0 for the first revision, < 0 on error.  A first-parent walk built
 * on this reads no commit whole before its size is known (git_revwalk
 * inflates every commit it meets).
 */
int tier_log_first_parent(git_oid *out, git_repository *repo,
                          const git_oid *id);

/**
 * Read the tier's head.  *exists = 0 for a tier with no log (revision 0).
 * Implements the reader side of the head protocol (refs/heads/main, else head.next).
 */
int tier_log_head_read(tier_location *loc, git_oid *out, int *exists);

/** Move the tier's head to id (the last step of a write). */
int tier_log_head_write(tier_location *loc, const git_oid *id);

/** Create the skeleton of log.git (HEAD, config, dirs) on an empty tier. */
int tier_log_create(tier_location *loc);

/** Whether the tier holds anything (log.git or data/), for init's emptiness check. */
int tier_log_tier_is_empty(tier_location *loc, int *empty);

/**
 * Make sure every object reachable from `head` is in the cache repository:
 * downloads the tier's log packs that the cache lacks and indexes them.
 */
int tier_log_fetch(git_repository *cache, tier_location *loc,
                   const git_oid *head);

/**
 * Upload to the tier one pack with the objects reachable from `tip` but
 * not from `hide` (NULL: everything).  Objects are read from `repo`.
 * The .pack goes first, the .idx last: git only sees a pack once its idx
 * is there.  Returns the pack name ("pack-<hex>") in *name if non-NULL.
 */
int tier_log_upload(git_repository *repo, tier_location *loc,
                    const git_oid *tip, const git_oid *hide, tier_buf *name);

/**
 * The two halves of tier_log_upload, for a write that sends the same pack
 * to several tiers: build it once into the local directory `dir`
 * ("<dir>/pack-<hex>.pack" and ".idx"; *name = "pack-<hex>", empty when
 * there was nothing to pack), then put it on each tier.
 */
int tier_log_pack_build(git_repository *repo, const git_oid *tip,
                        const git_oid *hide, const char *dir, tier_buf *name);
int tier_log_pack_put(tier_location *loc, const char *dir, const char *name);

/**
 * Copy to `dst` the complete log packs (.pack with its .idx) of `src` that
 * `dst` lacks, byte for byte through a file in `tmpdir`: sync needs no pack
 * build (the packs are the ones the writes made).  A pack of the same name
 * already on `dst` is kept only if its idx checks out and its size matches
 * (it may be the torn leftover of a failed write).  TIER_ECORRUPT when a
 * source pack does not hash to its name.  `stop` is asked between packs.
 */
int tier_log_copy_packs(tier_location *src, tier_location *dst,
                        const char *tmpdir, int (*stop)(void *payload),
                        void *payload, uint64_t *bytes);

/** A tier's log keeps at most this many packs before they are consolidated
 *  (writes and syncs alike; docs/format.md). */
#define TIER_LOG_MAX_PACKS 8

/**
 * Consolidate the tier's log packs into one when there are more than
 * `max_packs` (see docs/format.md).  Safe against concurrent readers: the
 * new pack is complete before any old one is removed.
 */
int tier_log_consolidate(git_repository *repo, tier_location *loc,
                         const git_oid *head, unsigned int max_packs);

/** Count first-parent commits from id (the revision by definition); every
 *  commit size-checked before it is read. */
int tier_log_count(uint64_t *out, git_repository *repo, const git_oid *id);

#endif
