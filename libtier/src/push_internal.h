/*
 * Pieces of tier_push_run that stand on their own: the source path set and
 * the choice of the base revision (push_paths.c), and the records that let
 * an interrupted push reuse the packs it had sent (push_resume.c).
 * Internal header.
 */
#ifndef TIER_PUSH_INTERNAL_H
#define TIER_PUSH_INTERNAL_H

#include <git2.h>
#include <stddef.h>

#include "hash.h"
#include "util/buf.h"
#include "util/idset.h"
#include "vault.h"

/** Trailer naming one source path of a push revision (docs/format.md). */
#define TIER_TRAILER_PATH "Tier-Path"

/* ---- paths (push_paths.c) ------------------------------------------- */

/**
 * path made absolute (against the working directory) and normalised
 * lexically: no ".", "..", "//" or trailing "/".  Symlinks are not
 * resolved: what the user typed, absolute.
 */
int tier_push_abs_path(tier_buf *out, const char *path);

/**
 * The set of paths a push records: each made absolute, sorted, duplicates
 * and paths inside another one of the set dropped (they add nothing to
 * the snapshot).  *out holds malloc'd strings (tier_vec_dispose(.., free)).
 */
int tier_push_path_set(tier_vec *out, const char *const *paths, size_t n);

/** "Tier-Path: <quoted path>\n" per path (quoted as git's core.quotePath). */
int tier_push_path_trailers(tier_buf *out, const tier_vec *set);

/** The host name a revision records in Tier-Host (as vault.c writes it). */
void tier_push_host(char *host, size_t cap);

/**
 * The base revision of a push: the newest commit on the first-parent chain
 * from `head` whose trailers say op push, host `host` and exactly the
 * Tier-Path set `trailers` (as tier_push_path_trailers wrote it).  *found
 * = 0 when there is none.  Commits are size-checked before they are read.
 */
int tier_push_find_base(git_oid *out, int *found, git_repository *repo,
                        const git_oid *head, const char *host,
                        const char *trailers);

/* ---- resume records (push_resume.c) ---------------------------------- */

/** "<state>/resume" for the cache repository of an installation. */
int tier_push_resume_dir(tier_buf *out, git_repository *cache);

/**
 * Record that data pack `id`, whose tail (index + trailer) is tail[0..len),
 * is on the write's targets: "<dir>/<64 hex>.tail", written to a temp file,
 * fsynced and renamed (never half visible).
 */
int tier_push_resume_record(const char *dir,
                            const unsigned char id[TIER_HASH_LEN],
                            const void *tail, size_t len);

/** A recorded pack that the next push may name in its revision. */
typedef struct {
	unsigned char id[TIER_HASH_LEN];
	tier_buf tail;
	uint64_t size; /**< of the whole pack */
	size_t nchunks;
} tier_push_resumed;

/**
 * The recorded packs that every target of w holds at their full size and
 * that `committed` (pack ids already in the vault's index) lacks.  Their
 * chunk ids go into `chunks`.  A record that is damaged, or whose pack is
 * missing or short on some target, is skipped (the push sends its chunks
 * again).  *out is an array of *n (tier_push_resumed_free).
 */
int tier_push_resume_load(tier_push_resumed **out, size_t *n, const char *dir,
                          tier_write *w, size_t ntiers,
                          const tier_idset *committed, tier_idset *chunks);

void tier_push_resumed_free(tier_push_resumed *r, size_t n);

/** Remove every record (after a revision naming the packs is written). */
void tier_push_resume_clear(const char *dir);

#endif
