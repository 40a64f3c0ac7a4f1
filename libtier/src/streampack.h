/*
 * The streaming-pack odb backend: the objects a write transaction creates
 * (a first push: a node blob per file, a tree per directory) go straight
 * into a git pack file on disk instead of memory (issue 15).  Each object
 * is compressed and appended as it is written; its id maps to (offset,
 * CRC-32) in a tier_spillset, so memory stays bounded whatever the number
 * of objects.  At the commit the pack is finished (object count, SHA-1
 * trailer) and its idx v2 written: the write's log pack, as
 * tier_gitpack_write would have made it (docs/format.md).
 * Internal header.
 */
#ifndef TIER_STREAMPACK_H
#define TIER_STREAMPACK_H

#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <stdint.h>

#include "util/buf.h"

/**
 * A new backend whose pack is "<dir>/incoming.pack" (created now; dir must
 * exist and belong to the caller).  Reads, exists and read_header answer
 * for every object written so far; a write of an object already there is
 * a no-op.  No refresh: libgit2 would call it for every new object.  The
 * backend belongs to the odb it is added to; freeing it before
 * tier_streampack_finish removes the incoming file.  Returns 0 or a
 * TIER_E* code (error set).
 */
int tier_streampack_new(git_odb_backend **out, const char *dir);

/** Whether the pack holds object id. */
int tier_streampack_has(git_odb_backend *b, const git_oid *id);

/**
 * Append an object that libgit2 did not write here because another
 * backend had it (the caller reads it from there): a log pack must hold
 * every object its tier lacks.  A no-op when the pack holds id already.
 */
int tier_streampack_add(git_odb_backend *b, const git_oid *id,
                        git_object_t type, const void *data, size_t len);

/** Objects in the pack so far. */
uint64_t tier_streampack_count(git_odb_backend *b);

/**
 * Finish the pack: the object count into its header, its SHA-1 after the
 * objects, the idx v2 beside it (ids in order from the spill set), both
 * fsynced and renamed to "<dir>/pack-<hex>.pack" and ".idx", pack first;
 * *name = "pack-<hex>".  With no object, nothing is written and *name is
 * left empty.  No write is accepted after this; reads still work.
 */
int tier_streampack_finish(git_odb_backend *b, tier_buf *name);

#endif
