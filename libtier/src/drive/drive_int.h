/* Inside the virtual drive (tier/drive.h): shared by drive.c (the
 * namespace, snapshots, directory cache) and drive_file.c (reads). */
#ifndef TIER_DRIVE_INT_H
#define TIER_DRIVE_INT_H

#include <pthread.h>

#include "tier/drive.h"
#include "tier/forget.h"
#include "drive/chunkcache.h"

/* Snapshots open at once beyond those with open files: each holds its
 * revision's chunk map and git trees. */
#define DRIVE_MAX_IDLE_REVS 4
/* Directory listings kept for stat (the kernel asks for each name). */
#define DRIVE_DCACHE_DIRS    1024
#define DRIVE_DCACHE_ENTRIES (256u * 1024)
/* Readahead while a reader goes on in order: from 1 to 8 MiB. */
#define DRIVE_READAHEAD_MIN (1u << 20)
#define DRIVE_READAHEAD_MAX (8u << 20)

struct drive_rev {
	uint64_t rev;
	tier_browse *b; /* NULL until used */
	unsigned files; /* open files of it: never closed while > 0 */
	uint64_t used;  /* tick of the last use */
};

/* One tag of one revision (Tier-Tag): /tags/NAME/N. */
struct drive_tag {
	char *name;
	uint64_t rev;
};

struct drive_dent {
	char *name;
	tier_drive_stat st;
};

struct drive_dir {
	char *path; /* "/revisions/3/home" */
	struct drive_dent *e;
	size_t n;
	uint64_t used;
};

struct tier_drive {
	pthread_mutex_t mu;
	tier_vault *v;
	tier_drive_options o;
	struct tier_chunkcache *cache;
	struct drive_rev *revs; /* every revision shown, oldest first */
	uint64_t *rev_numbers;
	int64_t *rev_times;
	size_t nrevs, open_revs;
	tier_archive *archives;
	size_t narchives;
	struct drive_tag *tags; /* by name, then revision */
	size_t ntags;
	struct drive_dir dirs[DRIVE_DCACHE_DIRS];
	size_t dcache_entries;
	uint64_t tick;
	tier_drive_stats st;
	uint64_t damaged_closed; /* by snapshots closed since */
	/* a read failed: the tiers are probed again before the next one, so
	 * a tier that comes back serves again (a long-lived mount) */
	int reprobe;
};

struct tier_drive_file {
	tier_drive *d;
	struct drive_rev *r;
	tier_browse_file *bf;
	uint64_t size;
	uint64_t next_off; /* where a reader in order reads next */
	uint64_t window;   /* readahead now; 0 after a jump */
};

/* drive.c, for drive_file.c: the snapshot of revision slot r, opened now
 * if need be (under d->mu). */
int tier_drive_rev_browse(tier_drive *d, struct drive_rev *r);
/* path below /revisions/N: its slot and the snapshot path ("/home/u");
 * TIER_ENOTFOUND for anything else, TIER_ECONFLICT for a directory of the
 * drive itself */
int tier_drive_rev_path(tier_drive *d, const char *path, struct drive_rev **r,
                        const char **rest);
void tier_drive_rev_release(tier_drive *d, struct drive_rev *r);
/* drive_history.c: d->revs, rev_numbers, rev_times, tags, archives */
int tier_drive_read_history(tier_drive *d);

#endif
