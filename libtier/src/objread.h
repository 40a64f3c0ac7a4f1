/*
 * Reading objects of a log that came from a tier: the size is checked
 * against what the format allows before anything is inflated or allocated
 * (a hostile tier can ship a 1 GiB blob of zeros in a 1 MB pack).
 */
#ifndef TIER_OBJREAD_H
#define TIER_OBJREAD_H

#include <git2.h>
#include <stddef.h>

/* Bounds from the format (docs/format.md, "Object size limits"). */
/** A node blob: ~82 bytes a chunk line, so ~800,000 chunks: a file of
 *  200 GiB at the smallest chunk (256 KiB), ~400 GiB at the average. */
#define TIER_MAX_NODE_BLOB (64u << 20)
/** A snapshot directory: ~1,000,000 entries of 40-byte names. */
#define TIER_MAX_TREE (64u << 20)
/** A pack tail in index/: 52 bytes a chunk (+ trailer): 1.2 M chunks. */
#define TIER_MAX_INDEX_BLOB (64u << 20)
/** The vault blob, a commit (message with its trailers). */
#define TIER_MAX_SMALL_OBJECT (1u << 20)

/**
 * Size and type of an object without inflating it.  TIER_ENOTFOUND when
 * missing; TIER_ECORRUPT when the type is not `type` (GIT_OBJECT_ANY: any)
 * or the size is over max, naming `what`.
 */
int tier_object_check(size_t *size, git_repository *repo, const git_oid *id,
                      git_object_t type, size_t max, const char *what);

/** tier_object_check() then git_blob_lookup(). */
int tier_blob_lookup_bounded(git_blob **out, git_repository *repo,
                             const git_oid *id, size_t max, const char *what);

/** tier_object_check() (TIER_MAX_TREE) then git_tree_lookup(). */
int tier_tree_lookup_bounded(git_tree **out, git_repository *repo,
                             const git_oid *id, const char *what);

#endif
