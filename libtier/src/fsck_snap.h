/*
 * fsck of the snapshots a log holds: every revision's snapshot tree on the
 * first-parent chain from a head, as restore would read it.  Internal
 * header, used by fsck.c.
 *
 * Every directory's entry names (tier_snap_tree_check: one canonical path
 * component each, never '.', '..', '/' or NUL, no duplicates), every tree
 * and node blob size-checked against the format's bounds before it is read
 * (objread.h), every node parsed (tier_node_decode), trees no deeper than
 * git's core.maxTreeDepth, and every chunk a file names held by a pack of
 * the head's index.  A tree or node met again (unchanged between
 * revisions) is not checked again, so the cost is that of the distinct
 * objects, and each finding is made once, at the newest revision holding it.
 */
#ifndef TIER_FSCK_SNAP_H
#define TIER_FSCK_SNAP_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "util/buf.h"

/** One finding; the caller prefixes the tier. */
typedef struct {
	const char *id; /* a problem id of docs/fsck.md (string literal) */
	char *object;   /* quoted path, or NULL */
	char *message;  /* one line, names quoted, without the tier */
} tier_fsck_finding;

typedef struct {
	tier_vec findings; /* tier_fsck_finding * */
	uint64_t chunks_checked;
	uint64_t forgotten; /* revisions not checked: forgotten, data freed */
} tier_fsck_snap;

/**
 * Check the snapshots of head and of every first-parent ancestor in repo.
 * What is wrong goes to out->findings (0 returned); < 0 only when the
 * check itself cannot go on (out of memory).  Dispose out afterwards,
 * whatever the result.  state_dir: where the chunk map's file is kept
 * (tier_chunkmap_load; NULL: a temporary one).
 */
int tier_fsck_snap_check(tier_fsck_snap *out, git_repository *repo,
                         const git_oid *head, const char *state_dir,
                         const tier_keys *keys);

void tier_fsck_snap_dispose(tier_fsck_snap *s);

/**
 * Records of the set of objects checked already (trees and nodes of every
 * revision) kept in memory before it spills to a temporary file; 0 is
 * TIER_SPILLSET_MEM_RECORDS.  For tests, which make it spill early.
 */
extern size_t tier_fsck_snap_mem_records;

#endif
