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

#include "tier/location.h"
#include "util/buf.h"

/** Largest .idx fsck accepts (about 9 million objects). */
#define TIER_LOGPACK_IDX_MAX (256u * 1024 * 1024)

/**
 * What a v2 pack index says.  The idx stays in its (temporary, unlinked)
 * file, read a block at a time: at 28 bytes an object it grows with the
 * files (issue 15).  fd is open while the idx is; -1 when not.
 */
typedef struct {
	int fd;                     /* the idx bytes */
	uint32_t count;             /* objects */
	uint32_t fan[256];          /* the fan-out table */
	unsigned char pack_sum[20]; /* the checksum the pack must end with */
	uint64_t max_offset;        /* of the last object in the pack */
} tier_logidx;

/**
 * Verify a v2 .idx of len bytes in file fd and open it: layout, fan-out,
 * sorted names, offsets, and its own SHA-1.  The idx owns fd from here
 * (closed when this fails).  TIER_ECORRUPT with a message (without the
 * file's name: the caller says which) when anything is off.
 */
int tier_logidx_open(tier_logidx *out, int fd, uint64_t len);

/**
 * Download the .idx at path on the tier into an unlinked temporary file
 * and open it (above); *bytes is increased by what was read.  An idx over
 * TIER_LOGPACK_IDX_MAX is TIER_ECORRUPT; a tier error keeps its code.
 */
int tier_logidx_fetch(tier_logidx *out, tier_location *loc, const char *path,
                      uint64_t *bytes);

void tier_logidx_close(tier_logidx *ix);

/** Whether the idx lists object id (an unreadable idx lists nothing). */
int tier_logidx_has(const tier_logidx *ix, const git_oid *id);

/** Object ids first .. first + n - 1 (sorted), 20 bytes each, into out. */
int tier_logidx_names(const tier_logidx *ix, uint32_t first, uint32_t n,
                      unsigned char *out);

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

/** The offsets of objects first .. first + n - 1 (in name order). */
int tier_logidx_offsets(const tier_logidx *ix, uint32_t first, uint32_t n,
                        uint64_t *out);

/** Where the idx puts object id: 1 with *off set, 0 when it lists none,
 * < 0 when the idx cannot be read. */
int tier_logidx_offset(const tier_logidx *ix, const unsigned char *id,
                       uint64_t *off);

/** A fresh temporary directory under $TMPDIR; remove with tier_rm_rf. */
int tier_logpack_tmpdir(tier_buf *out);

#endif
