/*
 * fsck of the log packs on a tier (log.git/objects/pack): what git's own
 * pack format promises, checked through the tier's driver.  Internal
 * header, used by fsck.c.
 *
 * A git pack ends with the SHA-1 of everything before it; its .idx (v2)
 * ends with that same checksum followed by the SHA-1 of the idx itself.
 * libgit2 and git name a pack "pack-<hex of that checksum>".  So without
 * downloading a pack: its size, header and last 20 bytes against its name
 * and its idx find a truncated or overwritten pack; with a download (read
 * through libgit2's indexer) every object is inflated and hashed.
 */
#ifndef TIER_FSCK_LOG_H
#define TIER_FSCK_LOG_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>

#include "gitpack_idx.h"
#include "tier/location.h"
#include "util/buf.h"

/** Largest .idx fsck accepts (about 9 million objects). */
#define TIER_LOGPACK_IDX_MAX (256u * 1024 * 1024)

/**
 * Download the .idx at path on the tier into an unlinked temporary file
 * and open it (above); *bytes is increased by what was read.  An idx over
 * TIER_LOGPACK_IDX_MAX is TIER_ECORRUPT; a tier error keeps its code.
 */
int tier_logidx_fetch(tier_logidx *out, tier_location *loc, const char *path,
                      uint64_t *bytes);

/**
 * The cheap check of a pack on a tier of the given size: its 12-byte
 * header (magic, version, object count against ix when given) and its last
 * 20 bytes (against ix's checksum and against the checksum its name
 * carries, when the name is "pack-<40 hex>").  Two ranged reads.
 * Returns 0 when sound, TIER_ECORRUPT with the reason in *why, or another
 * negative code from the tier (offline, aborted...).
 */
int tier_logpack_check(tier_location *loc, const char *path, const char *name,
                       uint64_t size, const tier_logidx *ix, tier_buf *why);

/**
 * Download a pack through libgit2's indexer into the local directory dir
 * (memory stays bounded: the indexer writes to disk), which checks every
 * object and the pack's checksum, and leaves "<dir>/pack-<hex>.pack" and
 * ".idx" behind.  *out_name receives "pack-<hex>", *objects the object
 * count, *bytes is increased by what was downloaded.  Damage is
 * TIER_ECORRUPT with the reason in *why; a tier error keeps its code.
 */
int tier_logpack_index(tier_location *loc, const char *path, const char *dir,
                       tier_buf *out_name, uint32_t *objects, uint64_t *bytes,
                       tier_buf *why);

/**
 * With the pack's idx at hand (its tier's, opened above): download the pack
 * to an unlinked temporary file and walk it object by object in bounded
 * memory (fsck_logverify.c): every object inflated, every delta applied,
 * every id where the idx lists it, and the SHA-1 trailer.  Out as for
 * tier_logpack_index() (*objects is the header's count; when it is not the
 * idx's, the objects are not walked).
 */
int tier_logpack_verify(tier_location *loc, const char *path,
                        const tier_logidx *ix, tier_buf *out_name,
                        uint32_t *objects, uint64_t *bytes, tier_buf *why);

/** A fresh temporary directory under $TMPDIR; remove with tier_rm_rf. */
int tier_logpack_tmpdir(tier_buf *out);

#endif
