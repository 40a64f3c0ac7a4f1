/*
 * A git pack read object by object from its file with pread, never mapped:
 * headers, zlib streams and delta chains (OFS and REF deltas, the base of
 * a REF delta found through the pack's idx).  Memory is a window of the
 * file and the object being resolved.  fsck walks a downloaded pack with
 * it (fsck_logverify.c), the log cache's object reader looks objects up
 * with it (odb_pack.c).  Damage is TIER_ECORRUPT with the reason in *why.
 * Internal header.
 */
#ifndef TIER_GITPACK_READ_H
#define TIER_GITPACK_READ_H

#include <stddef.h>
#include <stdint.h>

#include "gitpack_idx.h"
#include "util/buf.h"

/** Delta bases kept (each at most TIER_PACKREAD_BASE_MAX bytes: 4 MiB). */
#define TIER_PACKREAD_BASES    64
#define TIER_PACKREAD_BASE_MAX (64 * 1024)

typedef struct {
	int fd;
	uint64_t size;         /* of the pack, trailer included */
	const tier_logidx *ix; /* its idx: bases of REF deltas */
	size_t block;          /* bytes read at a time */
	/* an object over the format's size limit is damage (a tier's pack);
	 * 0: its reader decides (the local cache: objread.h bounds reads) */
	int bounded;
	unsigned char *win; /* block bytes of the pack from woff */
	uint64_t woff;
	size_t wlen;
	tier_buf *why;
	/* delta bases resolved lately, by offset: a chain in pack order
	 * shares its bases, which then cost one inflation, not the depth
	 * (libgit2's packbuilder makes chains of 50 among node blobs) */
	struct tier_packbase {
		uint64_t off;
		int type; /* 0: empty */
		tier_buf data;
	} base[TIER_PACKREAD_BASES];
} tier_packread;

/** An object's header: type (1-4, or 6/7 for a delta), inflated size,
 *  where its zlib stream starts, a delta's base offset (6) or id (7). */
typedef struct {
	int type;
	uint64_t size, data, base_off;
	unsigned char base_id[20];
} tier_packhdr;

/** Set up r over fd (size bytes; fd stays the caller's), block bytes read
 *  at a time; why receives damage.  Bounded (set r->bounded = 0 after). */
int tier_packread_init(tier_packread *r, int fd, uint64_t size,
                       const tier_logidx *ix, size_t block, tier_buf *why);
void tier_packread_dispose(tier_packread *r);

/** TIER_ECORRUPT with why = fmt (one %llu: off). */
int tier_packread_damaged(tier_packread *r, const char *fmt, uint64_t off);

/** The pack's bytes from at (before the trailer), at least need of them
 *  when there are: *p, *k. */
int tier_packread_view(tier_packread *r, uint64_t at, size_t need,
                       const unsigned char **p, size_t *k);

int tier_packread_hdr(tier_packread *r, uint64_t off, tier_packhdr *h);

typedef int (*tier_packread_out)(const void *p, size_t n, void *ctx);

/** Inflate the stream of the object at off (h->size bytes out) into fn;
 *  *end: where the next object starts. */
int tier_packread_inflate(tier_packread *r, uint64_t off, const tier_packhdr *h,
                          tier_packread_out fn, void *ctx, uint64_t *end);

/** The object at off resolved (the delta chain followed to its base, each
 *  delta applied): its type (1-4) and content into out.  *end: where the
 *  object at off ends. */
int tier_packread_resolve(tier_packread *r, uint64_t off, int *type,
                          tier_buf *out, uint64_t *end);

/** The type and size of the object at off, resolving it only when it is
 *  a delta (into scratch). */
int tier_packread_info(tier_packread *r, uint64_t off, int *type,
                       uint64_t *size, tier_buf *scratch);

#endif
