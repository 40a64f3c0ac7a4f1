/*
 * A git pack (version 2) and its index (version 2) written straight from
 * an object database: no delta search and no second pass to index what
 * was just written.  A write's revision is a few thousand small metadata
 * objects; libgit2's packbuilder spends most of a push's serial tail
 * searching deltas among them, compressing at zlib's default level and
 * then inflating and hashing everything again in its indexer.
 * Internal header.
 */
#ifndef TIER_GITPACK_H
#define TIER_GITPACK_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>
#include <zlib.h>

#include "util/buf.h"

/**
 * The objects reachable from commit `tip` that commit `hide` (its only
 * parent, or NULL for a root commit) does not reach: the commit, then
 * every tree and blob under its tree whose id differs from the entry of
 * the same path under hide's tree.  A subtree whose id is unchanged is not
 * entered.  (An object that hide reaches under another path may be listed:
 * a pack holding an object twice across packs is harmless.)
 * *out is malloc'd; each id listed once.
 */
int tier_gitpack_new_objects(git_repository *repo, const git_oid *tip,
                             const git_oid *hide, git_oid **out, size_t *n);

/**
 * Write "<dir>/pack-<hex>.pack" and ".idx" holding the n objects of ids,
 * read from odb; *name = "pack-<hex>" (the pack's SHA-1 trailer, as git
 * names packs).  Objects are zlib-compressed at the fastest level, never
 * as deltas.  Both files are fsynced.  n == 0 writes nothing and leaves
 * *name empty.
 */
int tier_gitpack_write(git_odb *odb, const git_oid *ids, size_t n,
                       const char *dir, tier_buf *name);

/**
 * One object as a pack entry, appended to b: the type-and-size header,
 * then its zlib stream; *crc is the CRC-32 of those bytes (for the idx).
 * Objects under 512 bytes go in as one stored deflate block (a deflate
 * stream costs ~4 us to set up whatever the size); larger ones through z
 * (deflateInit'd by the caller, at level 1 for the log; reset after).
 */
int tier_gitpack_encode(tier_buf *b, z_stream *z, git_object_t type,
                        const void *data, size_t size, uint32_t *crc);

#endif
