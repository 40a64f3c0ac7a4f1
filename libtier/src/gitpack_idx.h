/*
 * A git pack index (version 2) read from its file a block at a time, never
 * mapped whole: a mapped idx is 28 bytes an object that every lookup
 * touches somewhere, so its resident pages grew with the files (18-24 MiB
 * at a million files, issue 15).  In memory: the fan-out table and every
 * 64th object id (a fence), or every id of a small pack; a lookup is then
 * one read of at most 65 ids and one of the offset.  Used by fsck for a
 * tier's idx (verified as it opens) and by the log cache's object reader
 * (odb_pack.h).  Internal header.
 */
#ifndef TIER_GITPACK_IDX_H
#define TIER_GITPACK_IDX_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>

/** An id of the fence every this many ids. */
#define TIER_LOGIDX_FENCE 64
/** Packs of at most this many objects keep every id in memory (40 KiB). */
#define TIER_LOGIDX_SMALL 2048

typedef struct {
	int fd;                     /* the idx bytes; -1 when closed */
	uint32_t count;             /* objects */
	uint32_t fan[256];          /* the fan-out table */
	unsigned char pack_sum[20]; /* the checksum the pack must end with */
	uint64_t max_offset; /* of the last object (verified opens only) */
	unsigned char *ids;  /* every id (small packs) or every 64th one */
	uint32_t nids;       /* entries in ids */
} tier_logidx;

static inline uint32_t tier_be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | p[3];
}

/**
 * Verify a v2 .idx of len bytes in file fd and open it: layout, fan-out,
 * sorted names, offsets, and its own SHA-1.  The idx owns fd from here
 * (closed when this fails).  TIER_ECORRUPT with a message (without the
 * file's name: the caller says which) when anything is off.
 */
int tier_logidx_open(tier_logidx *out, int fd, uint64_t len);

/**
 * Open an idx of the local log cache (written by our pack writer or
 * libgit2's indexer, which checked it): header, fan-out and size only, and
 * one pass over the names for the fence.  Owns fd as above.
 */
int tier_logidx_open_local(tier_logidx *out, int fd, uint64_t len);

void tier_logidx_close(tier_logidx *ix);

/** Whether the idx lists object id (an unreadable idx lists nothing). */
int tier_logidx_has(const tier_logidx *ix, const git_oid *id);

/** Object ids first .. first + n - 1 (sorted), 20 bytes each, into out. */
int tier_logidx_names(const tier_logidx *ix, uint32_t first, uint32_t n,
                      unsigned char *out);

/** The offsets of objects first .. first + n - 1 (in name order). */
int tier_logidx_offsets(const tier_logidx *ix, uint32_t first, uint32_t n,
                        uint64_t *out);

/** Where the idx puts object id: 1 with *off set, 0 when it lists none,
 * < 0 when the idx cannot be read. */
int tier_logidx_offset(const tier_logidx *ix, const unsigned char *id,
                       uint64_t *off);

/**
 * The ids that begin with the first nhex hex digits of id (the rest of id
 * zero): 0 none, 1 one (its id into full, its offset into *off), 2 more
 * than one; < 0 when the idx cannot be read.
 */
int tier_logidx_prefix(const tier_logidx *ix, const unsigned char *id,
                       size_t nhex, unsigned char full[20], uint64_t *off);

#endif
