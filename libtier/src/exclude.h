/*
 * Excludes: which entries of a source tree a push leaves out (SPEC
 * section 9, docs/excludes.md), shared with restore's --include/--exclude.
 *
 * Patterns are gitignore-style globs matched against the path relative to
 * the source root, '/'-separated, without a leading '/':
 *
 *   *  ?  [..]   as fnmatch(3), never across a '/'
 *   **           a whole component: any number of directories, at the
 *                start, the end or between two components (docs/excludes.md)
 *   /pat         anchored: matched from the source root only
 *   pat/         directories only
 *   a/b          a pattern with a '/' inside is anchored too (as git)
 *   name         without a '/': the last component, at any depth
 *   !pat         negation: an entry it matches is kept, when it is the
 *                last pattern that matches (gitignore, restic); "\!" for
 *                a name that starts with '!'
 *
 * A directory that matches is left out with everything below it; a caller
 * walking the tree top-down asks once per entry (tier_exclude_match), one
 * that holds whole paths (restore) asks tier_exclude_match_path, which
 * tries every leading directory too.
 */
#ifndef TIER_EXCLUDE_H
#define TIER_EXCLUDE_H

#include <stddef.h>
#include <stdint.h>

typedef struct tier_exclude tier_exclude;

/** The CACHEDIR.TAG signature (https://bford.info/cachedir/). */
#define TIER_CACHEDIR_TAG       "CACHEDIR.TAG"
#define TIER_CACHEDIR_SIGNATURE "Signature: 8a477f597d28d172789f06886806bc55"

/** An empty set: matches nothing. */
int tier_exclude_new(tier_exclude **out);
void tier_exclude_free(tier_exclude *ex);

/**
 * Add one pattern (after those added before: a later one wins).
 * TIER_EUSAGE with a one-line message naming it for an empty pattern, one
 * that names no file ("/", "!"), an unclosed '[' or a trailing '\'.
 */
int tier_exclude_add(tier_exclude *ex, const char *pattern);

/**
 * Add the patterns of a file, one a line; blank lines and lines starting
 * with '#' are skipped, trailing blanks and a CR removed.  TIER_EUSAGE
 * for a bad pattern ("exclude file 'F' line N: ...") and for a file that
 * cannot be opened or read (a bad argument, as restic treats it).
 */
int tier_exclude_add_file(tier_exclude *ex, const char *file);

/**
 * Leave out, entirely, a directory holding an entry called NAME (as
 * restic's --exclude-if-present; borg keeps the tag with
 * --keep-exclude-tags).  spec is "NAME" or "NAME:HEADER" (restic's
 * syntax): with a HEADER, NAME counts only as a regular file whose bytes
 * start with HEADER.  "CACHEDIR.TAG" alone means
 * "CACHEDIR.TAG:" TIER_CACHEDIR_SIGNATURE.  TIER_EUSAGE for an empty
 * name, one with a '/', or an empty HEADER after ':'.
 */
int tier_exclude_add_if_present(tier_exclude *ex, const char *spec);

/** Leave out regular files larger than size bytes (0: no limit). */
void tier_exclude_set_larger_than(tier_exclude *ex, uint64_t size);
uint64_t tier_exclude_larger_than(const tier_exclude *ex);

/** Whether any pattern, if-present name or size limit was added. */
int tier_exclude_empty(const tier_exclude *ex);

/** What the patterns are called in messages (static): "exclude" by default. */
void tier_exclude_set_what(tier_exclude *ex, const char *what);

/** Whether a pattern is for directories only (ends in '/'). */
int tier_exclude_dir_only(const tier_exclude *ex);

/** Whether a pattern is anchored (holds a '/' before its end). */
int tier_exclude_anchored(const tier_exclude *ex);

/**
 * 1 when path (relative, no leading '/') is excluded: the last pattern
 * that matches it is not a negation.  0 when none matches.
 */
int tier_exclude_match(const tier_exclude *ex, const char *path, int is_dir);

/**
 * tier_exclude_match with other spellings of the same entry: paths[0] is
 * tried with every pattern, paths[1..n) (at most 7 used) with the
 * anchored ones only -- the absolute path besides the one below the
 * source root.  A pattern matches when it matches any of them.
 */
int tier_exclude_match_alt(const tier_exclude *ex, const char *const *paths,
                           size_t n, int is_dir);

/** tier_exclude_match of each directory leading to path, then of path:
 *  excluded when one of them is (nothing below an excluded directory is
 *  kept by a negation, as in git). */
int tier_exclude_match_path(const tier_exclude *ex, const char *path,
                            int is_dir);

/**
 * 1 when the directory dirfd holds one of the if-present names (with its
 * header, when it has one), else 0.  The name is looked up without
 * following a symlink; a file read for its header is opened O_NOFOLLOW
 * (a FIFO never blocks: only a regular file counts).
 */
int tier_exclude_dir_tagged(const tier_exclude *ex, int dirfd);

#endif
