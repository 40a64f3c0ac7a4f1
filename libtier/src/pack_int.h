/*
 * What pack.c (writing) and pack_read.c (reading) share.  Internal header.
 */
#ifndef TIER_PACK_INT_H
#define TIER_PACK_INT_H

#include <stddef.h>

#include "hash.h"

/* The part of the trailer covered by the index hash. */
#define TIER_PACK_TRAILER_HASHED 24

/** SHA-256 of the index bytes followed by the hashed part of the trailer. */
int tier_pack_index_hash(unsigned char out[TIER_HASH_LEN], const void *index,
                         size_t index_len, const unsigned char *trailer);

#endif
