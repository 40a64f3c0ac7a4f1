/*
 * Inside sync: the run state sync.c (log replay) and sync_copy.c (data
 * packs) share.
 */
#ifndef TIER_SYNC_INT_H
#define TIER_SYNC_INT_H

#include <limits.h>
#include <pthread.h>
#include <stdint.h>

#include "hash.h"
#include "tier/sync.h"

struct sync {
	tier_vault *v;
	const tier_sync_options *opts;
	pthread_mutex_t
	        lock; /* st, warnings, progress: pack copies run in two threads */
	tier_sync_stats st;
	char tmpdir[PATH_MAX];
	const char *tier; /* being synced, for progress */
	uint64_t revision;
};

struct added_pack {
	unsigned char id[TIER_HASH_LEN];
	uint64_t size;
};

/**
 * R7 and cancellation, asked often: TIER_EABORTED when a writer waits for
 * the installation (tier_vault_write_wanted) or the progress callback
 * says stop.  Any thread.
 */
int tier_sync_should_stop(struct sync *s);
/** Add n to a field of s->st, from any thread. */
void tier_sync_count(struct sync *s, uint64_t *field, uint64_t n);
/** Pass a warning to the caller, from any thread. */
void tier_sync_warn(struct sync *s, const char *msg);

/**
 * Copy the np data packs to tier dst_i, from tier src_i or another online
 * tier that has them intact.  A pack already there is kept when it proves
 * to be the pack its name says.
 */
int tier_sync_copy_packs(struct sync *s, size_t dst_i, size_t src_i,
                         const struct added_pack *packs, size_t np);

#endif
