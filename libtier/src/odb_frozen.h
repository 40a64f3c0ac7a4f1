/*
 * The frozen-pack odb backend: the log cache's packs, read-only and never
 * rescanned, for a write transaction that adds thousands of objects to a
 * streaming pack on top of them (write.c, streampack.h).  No rule of its
 * own: it is speed.
 */
#ifndef TIER_ODB_FROZEN_H
#define TIER_ODB_FROZEN_H

#include <git2.h>
#include <git2/sys/odb_backend.h>
#include <stdint.h>

/**
 * A backend over the packs in objdir ("<cache>/objects") that never
 * refreshes: libgit2 asks every backend for each new object and, when none
 * has it, refreshes them, and the stock pack backend then rereads the pack
 * directory.  Nothing adds packs to the cache during a write.  Returns 0 or
 * a libgit2 error code (GIT_ERROR when out of memory); the caller
 * translates it.  The backend belongs to the odb it is added to.
 */
int tier_odb_frozen_new(git_odb_backend **out, const char *objdir);

/**
 * How many objects libgit2 did not write because these packs had them
 * (its freshen before a write; a new commit's tree too).  Such an object
 * may be in the cache only (a write that died before its tiers took its
 * pack): the write's log pack then takes the walk of the new objects.
 */
uint64_t tier_odb_frozen_hits(git_odb_backend *b);

#endif
