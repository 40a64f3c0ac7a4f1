/*
 * The log cache's packs as a libgit2 object database backend, read with
 * pread and never mapped (gitpack_idx.h, gitpack_read.h): libgit2's own
 * pack backend maps each .idx whole and its pages stay resident as
 * lookups touch them, about 20 bytes an object (issue 15).  Memory here is
 * the fan-out and fence of each pack (a third of a byte an object) and the
 * object being read.  Read-only except for writepack (a fetched log pack,
 * indexed by libgit2's indexer into the pack directory).  No rule of its
 * own: it is memory.  Internal header.
 */
#ifndef TIER_ODB_PACK_H
#define TIER_ODB_PACK_H

#include <git2.h>
#include <git2/sys/odb_backend.h>

/**
 * A backend over the packs of objdir ("<repo>/objects"), opened as they
 * are first needed.  frozen: never rescan the directory (a write adds
 * nothing there while it runs; see odb_frozen.h).  Returns 0 or a libgit2
 * error code.  The backend belongs to the odb it is added to.
 */
int tier_odb_pack_new(git_odb_backend **out, const char *objdir, int frozen);

/**
 * Make the repository's object database this backend (packs) over
 * libgit2's loose-object backend.  Returns 0 or a libgit2 error code.
 */
int tier_odb_pack_install(git_repository *repo);

#endif
