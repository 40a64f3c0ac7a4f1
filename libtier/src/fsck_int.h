/*
 * What the files of tier-fsck share.  Internal header: fsck.c (the public
 * entry points, one tier's sequence of checks, the report), fsck_chain.c
 * (the log's structure: git files, revisions and trailers, the packs a
 * revision lists), fsck_data.c (the data packs on a tier: present, of their
 * size, with --read-data whole and their tail the log's copy; repair from
 * another tier), fsck_logpack.c (the log packs on a tier, and their
 * repair), fsck_head.c (installation state, a garbled head, agreement
 * across tiers).  fsck_log.c (git's pack format) and fsck_snap.c (the
 * snapshots) sit below them.
 */
#ifndef TIER_FSCK_INT_H
#define TIER_FSCK_INT_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>

#include "tier/fsck.h"
#include "tier/vault.h"
#include "fsck_log.h"
#include "fsck_snap.h"
#include "hash.h"
#include "util/buf.h"
#include "util/error.h"
#include "vault.h"

#define SHORT 12 /* hex digits of an id in messages */

/* What the head revision says about one data pack. */
enum pack_state {
	PACK_OK = 0,
	PACK_MISSING,
	PACK_SIZE,
	PACK_CORRUPT,
	PACK_UNREADABLE,
	PACK_INDEX_MISMATCH /* sound, but its tail is not the log's copy */
};

struct packref {
	unsigned char id[TIER_HASH_LEN];
	git_oid tail;  /* the log's copy of its tail (index/<xx>/<id>) */
	uint64_t size; /* from its trailer in the log */
	char path[80];
	enum pack_state state;
	size_t problem; /* index in run.problems when state != PACK_OK */
};

/* The snapshot check of one head, shared by every tier at that head. */
struct headcheck {
	git_oid head;
	tier_fsck_snap snap;
};

/* One fsck run: the problems found so far and the report being filled. */
struct fsck_run {
	tier_vault *v;
	git_repository *cache;
	const tier_fsck_options *o;
	tier_vec problems; /* tier_fsck_problem * */
	size_t emitted;    /* problems[0..emitted) went to the callback */
	tier_vec heads;    /* struct headcheck * */
	tier_fsck_report *r;
	int stop; /* a callback asked to stop */
};

/*
 * The graph checks read the local cache, which may hold a sound copy of a
 * pack that is damaged on the tier: the tier's own log packs are checked
 * pack by pack (fsck_logpack.c).
 */
enum logpack_state {
	LP_OK = 0,
	LP_DAMAGED,
	LP_UNPAIRED,
	LP_UNINDEXED,
	LP_UNREADABLE
};

struct logpack {
	char name[64]; /* "pack-<hex>" */
	int has_pack, has_idx;
	tier_logidx ix; /* open (its fd too) only while ix_ok */
	int ix_ok;
	int sound; /* passed the check (or was mended) */
};

/* ---- fsck.c: problems and the callbacks ------------------------------- */

/* Record a problem; *index (when given) receives its place in r->problems. */
int tier_fsck_add_problem(struct fsck_run *r, size_t *index, const char *id,
                          tier_fsck_severity sev, const char *tier,
                          const char *object, const char *fmt, ...)
        TIER_PRINTF(7, 8);

/* Append text to a problem's message (what repair did about it). */
int tier_fsck_note(struct fsck_run *r, size_t index, const char *fmt, ...)
        TIER_PRINTF(3, 4);

/* A repair's copy from tier `from`, checked where it landed: sound marks
 * the problem repaired, else why says what is still wrong. */
void tier_fsck_copy_verdict(struct fsck_run *r, size_t index, int sound,
                            const char *from, const char *why);

/* Hand the problems found since the last flush to the callback. */
int tier_fsck_flush(struct fsck_run *r);

int tier_fsck_progress(struct fsck_run *r, const char *tier, uint64_t done,
                       uint64_t total);

const char *tier_fsck_short_oid(char out[SHORT + 1], const git_oid *id);

/* ---- fsck_chain.c: the log's structure -------------------------------- */

int tier_fsck_check_git_files(struct fsck_run *r, tier_location *loc,
                              const char *tier);
int tier_fsck_check_chain(struct fsck_run *r, const char *tier,
                          const git_oid *head);
int tier_fsck_load_packs(struct fsck_run *r, const char *tier,
                         const git_oid *head, tier_vec *packs);
/* Orders struct packref * by pack id. */
int tier_fsck_packref_cmp(const void *a, const void *b);

/* ---- fsck_data.c: the data packs on a tier ---------------------------- */

int tier_fsck_check_packs(struct fsck_run *r, size_t ti, const char *tier,
                          tier_vec *packs);

/* ---- fsck_logpack.c: the log packs on a tier -------------------------- */

int tier_fsck_check_logpacks(struct fsck_run *r, size_t ti, const char *tier,
                             int *changed);
int tier_fsck_list_logpacks(tier_location *loc, tier_vec *out);
int tier_fsck_logpack_probe(struct fsck_run *r, tier_location *loc,
                            struct logpack *lp, int read_data, tier_buf *why);
void tier_fsck_logpack_free(void *p);

/* ---- fsck_head.c: installation state, heads, across tiers ------------- */

int tier_fsck_check_state(struct fsck_run *r, const tier_info *in,
                          size_t *damaged);
int tier_fsck_mend_damaged(struct fsck_run *r, size_t ti, size_t damaged);
int tier_fsck_check_across(struct fsck_run *r);

#endif
