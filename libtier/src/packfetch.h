/*
 * Fetching a data pack from a tier into a verified local file: what sync
 * (copying a pack to a tier that lacks it) and prune (reading the live
 * chunks of a pack it rewrites) both need.  Internal header.
 */
#ifndef TIER_PACK_FETCH_H
#define TIER_PACK_FETCH_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"
#include "tier/location.h"

/** Asked about once a MiB: a negative return (error set) stops the fetch. */
typedef int (*tier_fetch_stop_fn)(void *payload);

/**
 * Get data pack id from src into a new temporary file "<tmpdir>/<prefix>-
 * XXXXXX" (path into tmppath, cap bytes), hashed as it arrives: it must
 * hash to id and, when size is not 0, have that size, else TIER_ECORRUPT
 * naming the tier.  On success *fd is the open file (the caller closes
 * and unlinks it); on failure nothing is left.  *got (may be NULL) gets
 * the bytes received, also on failure.
 */
int tier_pack_fetch(tier_location *src, const unsigned char id[TIER_HASH_LEN],
                    uint64_t size, const char *tmpdir, const char *prefix,
                    tier_fetch_stop_fn stop, void *payload, int *fd,
                    char *tmppath, size_t cap, uint64_t *got);

#endif
