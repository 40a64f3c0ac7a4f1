/*
 * A set of fixed-length ids that are hashes already (SHA-256 chunk ids,
 * git object ids): open addressing on their first bytes, the ids kept in
 * the order they were added.  Internal header.
 */
#ifndef TIER_UTIL_IDSET_H
#define TIER_UTIL_IDSET_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
	size_t len;         /* bytes per id (>= 8) */
	unsigned char *ids; /* n ids of len bytes, in insertion order */
	size_t n, ids_cap;
	uint32_t *slot; /* index + 1 into ids; 0 = free */
	size_t mask;    /* slots - 1 */
} tier_idset;

#define TIER_IDSET_INIT(idlen)               \
	{                                    \
		(idlen), NULL, 0, 0, NULL, 0 \
	}

/** 1 if id was added, 0 if it was there already, TIER_ERROR out of memory. */
int tier_idset_add(tier_idset *s, const void *id);
/** Whether id is in the set. */
int tier_idset_has(const tier_idset *s, const void *id);
/** The i-th id added (i < s->n). */
static inline const unsigned char *tier_idset_at(const tier_idset *s, size_t i)
{
	return s->ids + i * s->len;
}
/** Take the ids (n * len bytes, malloc'd, insertion order); the set is emptied. */
unsigned char *tier_idset_detach(tier_idset *s);
void tier_idset_dispose(tier_idset *s);

#endif
