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

/** Largest .idx fsck reads into memory (about 9 million objects). */
#define TIER_LOGPACK_IDX_MAX (256u * 1024 * 1024)

/** What a v2 pack index says (pointers into the idx bytes). */
typedef struct {
	uint32_t count;             /* objects */
	const unsigned char *names; /* count sorted 20-byte object ids */
	unsigned char pack_sum[20]; /* the checksum the pack must end with */
	uint64_t max_offset;        /* of the last object in the pack */
} tier_logidx;

/**
 * Parse and verify a v2 .idx held in memory: layout, fan-out, sorted names,
 * offsets, and its own SHA-1.  TIER_ECORRUPT with a message (without the
 * file's name: the caller says which) when anything is off.
 */
int tier_logidx_parse(tier_logidx *out, const unsigned char *data, size_t len);

/** Whether the idx lists object id. */
int tier_logidx_has(const tier_logidx *ix, const git_oid *id);

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

/** A fresh temporary directory under $TMPDIR; remove with tier_rm_rf. */
int tier_logpack_tmpdir(tier_buf *out);

#endif
