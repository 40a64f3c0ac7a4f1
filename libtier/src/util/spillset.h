/*
 * An exact set of fixed-length keys, each with a fixed-length value, in
 * bounded memory (issue 15): the newest records in a hash table in memory;
 * when that is full they are sorted and written to a temporary file as a
 * "run".  A run keeps in memory only a Bloom filter (~10 bits a record)
 * and one key prefix per block of records, so a lookup of a key that is
 * not there reads nothing from the file, and one that is reads one block.
 * Runs are merged in tiers (four of a size become one) to keep the number
 * a lookup checks near 3 log4(n / mem_records).
 *
 * Keys must be hashes already (SHA-1 git ids, SHA-256 chunk ids): their
 * bytes are uniform, and the table and the filters use them as they are.
 * Not thread-safe: callers that share a set lock around every call.
 * Internal header.
 */
#ifndef TIER_UTIL_SPILLSET_H
#define TIER_UTIL_SPILLSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct tier_spillset tier_spillset;

/** Records kept in memory by default before a run is written (~3 MiB). */
#define TIER_SPILLSET_MEM_RECORDS 65536

/**
 * A new empty set.  key_len >= 16, val_len >= 0; the temporary file is
 * created in tmpdir (NULL: $TMPDIR, else /tmp) only when the first run is
 * written, and is unlinked at once (it is gone with the process).
 * mem_records 0 = TIER_SPILLSET_MEM_RECORDS.
 */
int tier_spillset_new(tier_spillset **out, size_t key_len, size_t val_len,
                      const char *tmpdir, size_t mem_records);

/**
 * Add key with its value.  1 if added, 0 if the key was there already (its
 * value is left as it was), TIER_ERROR on memory or I/O failure (error set).
 */
int tier_spillset_add(tier_spillset *s, const void *key, const void *val);

/**
 * 1 if key is in the set (its value copied to val when val is not NULL),
 * 0 if not, TIER_ERROR on a read failure (error set).
 */
int tier_spillset_get(tier_spillset *s, const void *key, void *val);

/** Records in the set. */
uint64_t tier_spillset_count(const tier_spillset *s);

/** Called for each record in key order; a non-zero return stops the walk. */
typedef int (*tier_spillset_fn)(const void *key, const void *val, void *ctx);

/**
 * Every record in ascending key order (memcmp).  Returns the callback's
 * non-zero value, TIER_ERROR on an I/O failure, else 0.  The set must not
 * be changed during the walk.
 */
int tier_spillset_foreach(tier_spillset *s, tier_spillset_fn fn, void *ctx);

/** Bytes of memory the set holds now (table, filters, fences). */
size_t tier_spillset_memory(const tier_spillset *s);

void tier_spillset_free(tier_spillset *s);

#endif
