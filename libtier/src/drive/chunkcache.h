/*
 * The drive's chunk cache: decoded chunks by id, in files of one
 * directory, at most a byte budget of them, least recently used out first.
 * Not thread-safe (the drive serializes its calls).
 */
#ifndef TIER_DRIVE_CHUNKCACHE_H
#define TIER_DRIVE_CHUNKCACHE_H

#include <stddef.h>
#include <stdint.h>

#include "hash.h"

struct tier_chunkcache;

/* Make a new directory in parent ("/tmp") and a cache of max bytes in it. */
int tier_chunkcache_open(struct tier_chunkcache **out, const char *parent,
                         uint64_t max);
/* Remove every file and the directory. */
void tier_chunkcache_free(struct tier_chunkcache *c);
const char *tier_chunkcache_dir(const struct tier_chunkcache *c);
uint64_t tier_chunkcache_bytes(const struct tier_chunkcache *c);

/* len bytes at off of chunk id into buf: 1 when served, 0 when the cache
 * does not hold it (or its file cannot be read: then it is dropped). */
int tier_chunkcache_get(struct tier_chunkcache *c,
                        const unsigned char id[TIER_HASH_LEN], void *buf,
                        size_t len, uint64_t off);
/* Whether the cache holds id (not counted as a use). */
int tier_chunkcache_has(const struct tier_chunkcache *c,
                        const unsigned char id[TIER_HASH_LEN]);
/* Keep chunk id; older ones leave to stay under the budget.  A chunk
 * larger than the budget, or a write that fails (a full disk), is not
 * kept: the cache is an optimization, never an error. */
void tier_chunkcache_put(struct tier_chunkcache *c,
                         const unsigned char id[TIER_HASH_LEN],
                         const void *data, size_t len);

#endif
