/*
 * A directory listing gathered from a remote tier (in pages, or line by
 * line) and handed to the caller sorted by name, like the file driver's,
 * so that listings of two tiers compare.
 */
#ifndef TIER_DRIVER_LISTING_H
#define TIER_DRIVER_LISTING_H

#include "tier/location.h"
#include "util/buf.h"

typedef struct {
	tier_vec items;
} tier_listing;

#define TIER_LISTING_INIT     \
	{                     \
		TIER_VEC_INIT \
	}

/** Add name[0..n) with its metadata. */
int tier_listing_add(tier_listing *l, const char *name, size_t n,
                     const tier_stat *st);

/**
 * Call cb for every entry in name order.  A non-zero return from cb stops
 * with TIER_EABORTED ("listing 'dir' on where was cancelled").
 */
int tier_listing_deliver(tier_listing *l, tier_list_cb cb, void *payload,
                         const char *dir, const char *where);

void tier_listing_dispose(tier_listing *l);

#endif
