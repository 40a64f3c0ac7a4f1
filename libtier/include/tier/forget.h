/*
 * Retention policies (SPEC section 7): which revisions a forget keeps.
 *
 * The policy words and their meaning are restic's (0.14): --keep-last N
 * keeps the N newest revisions; --keep-hourly/daily/weekly/monthly/yearly
 * N keep the newest revision of each of the last N hours, days, ISO weeks,
 * months or years that have one, in the local time zone (TZ); --keep-within
 * 2y5m7d3h keeps every revision newer than the newest one minus that span
 * (calendar years, months and days, then hours); --keep-tag keeps every
 * revision that has all the tags of one of its comma lists.  A count of -1
 * means no limit.  Beyond restic: the newest revision is always kept, and
 * an archived revision is kept by every policy (tier-archive).
 *
 * tier_forget_policy_apply() is a pure function over the revisions' times
 * and tags: it reads no vault, so a dry run, the forget itself and its
 * tests all decide the same way.
 */
#ifndef TIER_FORGET_H
#define TIER_FORGET_H

#include "tier/common.h"

#include <stddef.h>
#include <stdint.h>

#include "tier/vault.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Why a revision is kept: bits of tier_forget_item.reasons. */
enum {
	TIER_KEEP_LAST = 1u << 0,
	TIER_KEEP_HOURLY = 1u << 1,
	TIER_KEEP_DAILY = 1u << 2,
	TIER_KEEP_WEEKLY = 1u << 3,
	TIER_KEEP_MONTHLY = 1u << 4,
	TIER_KEEP_YEARLY = 1u << 5,
	TIER_KEEP_WITHIN = 1u << 6,
	TIER_KEEP_TAG = 1u << 7,
	TIER_KEEP_NEWEST = 1u << 8,
	TIER_KEEP_ARCHIVED = 1u << 9
};

typedef struct {
	/** Each a count of buckets; 0: the rule is not used, -1: no limit. */
	int last, hourly, daily, weekly, monthly, yearly;
	/** --keep-within: a span of calendar years, months, days and hours;
	 *  all 0: not used. */
	int within_years, within_months, within_days, within_hours;
	/** --keep-tag values: each "a,b" keeps a revision with tags a and b. */
	const char *const *keep_tags;
	size_t nkeep_tags;
} tier_forget_policy;

/** One revision the policy looks at, newest first in the array. */
typedef struct {
	int64_t time; /**< seconds since the epoch */
	const char *const *tags;
	size_t ntags;
	int archived; /**< tier-archive named it: always kept */
	/** Out: 0 = forget it, else TIER_KEEP_* bits saying why it stays. */
	unsigned int reasons;
} tier_forget_item;

/** Whether the policy names any rule (a forget without one keeps all). */
TIER_EXTERN int tier_forget_policy_empty(const tier_forget_policy *p);

/**
 * Parse a --keep-within span, "2y5m7d3h" (any of the four, in that order,
 * each a number and its letter) into p's within_* fields.  Returns 0, or
 * TIER_EUSAGE with a one-line error for anything else ("", "3x", "1d2y").
 */
TIER_EXTERN int tier_forget_parse_within(tier_forget_policy *p,
                                         const char *span);

/**
 * Decide, for items[0..n) (newest first, as tier_vault_log() lists them;
 * sorted here by time, stable, if they are not), which revisions p keeps:
 * sets each item's reasons.  Times are bucketed in the local time zone.
 * Returns the number kept, or TIER_EUSAGE (error set) for an empty policy
 * or a count below -1.
 */
TIER_EXTERN int tier_forget_policy_apply(const tier_forget_policy *p,
                                         tier_forget_item *items, size_t n);

/** The words of the reasons set, "daily, monthly" (restic's words: "last
 *  snapshot", ...), into buf of cap bytes; returns buf. */
TIER_EXTERN const char *tier_forget_reasons_text(unsigned int reasons,
                                                 char *buf, size_t cap);

/* ---- forgetting revisions (a logged write, SPEC 7) ------------------- */

/** Which revisions a forget wrote off, read from the log's forget commits. */
typedef struct tier_forgotten tier_forgotten;

/**
 * The forgotten revisions of the vault (its newest log, as tier_vault_log
 * reads it).  Returns 0, or the codes of tier_vault_log().
 */
TIER_EXTERN int tier_vault_forgotten(tier_forgotten **out, tier_vault *v);
/** The revision of the forget that wrote rev off, 0 when it is not. */
TIER_EXTERN uint64_t tier_forgotten_by(const tier_forgotten *f, uint64_t rev);
TIER_EXTERN void tier_forgotten_free(tier_forgotten *f);

/**
 * 0 when revision rev may be read; TIER_ENOTFOUND with the one-line
 * "revision 5 was forgotten by revision 9 (tier-forget); its data may be
 * gone" when a forget wrote it off; the codes of tier_vault_forgotten().
 */
TIER_EXTERN int tier_vault_check_not_forgotten(tier_vault *v, uint64_t rev);

typedef struct {
	unsigned int version;
	tier_forget_policy policy;
	/** Look only at push revisions with all the tags of one of these
	 *  comma lists (restic's --tag); none: every push revision. */
	const char *const *tags;
	size_t ntags;
	/** ... whose paths include each of these (absolute) paths. */
	const char *const *paths;
	size_t npaths;
	/** ... pushed from this host (Tier-Host); NULL: any. */
	const char *host;
	/** Decide and report, write nothing. */
	int dry_run;
} tier_forget_options;

#define TIER_FORGET_OPTIONS_VERSION 1
#define TIER_FORGET_OPTIONS_INIT                                          \
	{                                                                 \
		TIER_FORGET_OPTIONS_VERSION,                              \
		        {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, 0}, NULL, 0, \
		        NULL, 0, NULL, 0                                  \
	}

/** A push revision the policy looked at, newest first. */
typedef struct {
	uint64_t revision;
	char commit[41];
	int64_t time;
	int time_offset;
	/** TIER_KEEP_* bits; 0: forgotten by this forget */
	unsigned int reasons;
} tier_forget_entry;

typedef struct {
	tier_forget_entry *entries;
	size_t nentries;
	/** push revisions forgotten, and other revisions (marks, forgets)
	 *  that carry a forgotten push's snapshot and go with it */
	uint64_t forgotten, carried;
} tier_forget_report;

TIER_EXTERN void tier_forget_report_free(tier_forget_report *r);

/**
 * Apply the policy to the vault's push revisions that are not forgotten
 * yet (those the options select) and, unless dry_run or nothing is to be
 * forgotten, write one revision "Tier-Op: forget" whose Tier-Forget
 * trailers name them (ranges "a-b"); the log keeps their commits.
 * *report says what was decided (also on failure after the decision);
 * *out the write (NULL when nothing was written).  Returns 0, TIER_EUSAGE
 * for an empty policy or unknown options version, the codes of
 * tier_vault_log() and of every write (tier_vault_mark()).
 */
TIER_EXTERN int tier_forget_run(tier_forget_report *report,
                                tier_write_result **out, tier_vault *v,
                                const tier_forget_options *opts);

/* ---- archives (tier-archive, SPEC 7) ------------------------------------ */

/** An archive name: 1 to 64 of [A-Za-z0-9._-], not starting with '-'. */
#define TIER_ARCHIVE_NAME_MAX 64

typedef struct {
	char name[TIER_ARCHIVE_NAME_MAX + 1];
	uint64_t revision;    /**< the push revision it keeps */
	uint64_t archived_by; /**< the archive revision that named it */
	int64_t time;         /**< the kept revision's time */
} tier_archive;

/**
 * The archives in force (named and not released), oldest first: read from
 * the log's archive commits (Tier-Archive: REV NAME, Tier-Release: NAME).
 * *out for free().  Returns 0 or the codes of tier_vault_log().
 */
TIER_EXTERN int tier_vault_archives(tier_archive **out, size_t *count,
                                    tier_vault *v);

/**
 * Archive push revision rev under name (a logged write, "Tier-Op:
 * archive"): every retention policy keeps it until released.  Returns 0,
 * TIER_EUSAGE for a bad name, TIER_ECONFLICT for a name in force already,
 * TIER_ENOTFOUND for a revision that does not exist, is forgotten or is
 * not a push; the codes of every write (tier_vault_mark()).
 */
TIER_EXTERN int tier_archive_add(tier_write_result **out, tier_vault *v,
                                 uint64_t rev, const char *name);

/** Release archive name (a logged write); TIER_ENOTFOUND when no archive
 *  of that name is in force; otherwise as tier_archive_add(). */
TIER_EXTERN int tier_archive_release(tier_write_result **out, tier_vault *v,
                                     const char *name);

#ifdef __cplusplus
}
#endif

#endif
