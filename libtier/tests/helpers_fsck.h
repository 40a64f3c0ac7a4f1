/* The fixture the fsck unit tests share (helpers_fsck.c). */
#ifndef TIER_TEST_HELPERS_FSCK_H
#define TIER_TEST_HELPERS_FSCK_H

#include <git2.h>
#include <stdint.h>

#include "tier/fsck.h"
#include "tier/vault.h"

/* dir: the test's temp dir; the tier specs a (file) and b (fault+file, its
 * control file ctl); the state dir; src, the tree pushed. */
extern const char *dir;
extern char tier_a[4200], tier_b[4200], state[4200], src[4200], ctl[4200];

void fsck_fixture_setup(void);
void fsck_fixture_teardown(void);

/* Push src to every tier of v (asserts it succeeds). */
void push(tier_vault *v);

/* A vault on tiers a and b with two revisions of data (revision 3). */
void make_vault(void);

/* Open the vault as a tool would: the installation, or tiers alone. */
tier_vault *open_vault(int with_state);

/* Run fsck on the vault opened by open_vault(with_state); asserts it
 * returns 0 with a report, which the caller frees. */
tier_fsck_report *fsck(int with_state, int read_data, int repair);

/* The first problem with this id (on this tier, unless NULL), or NULL. */
const tier_fsck_problem *find(const tier_fsck_report *r, const char *id,
                              const char *tier);

/* Every problem's message, one a line, for assertion messages (static). */
char *all_messages(const tier_fsck_report *r);

/* Path (relative to the tier) of the largest data pack: the one with random.bin. */
const char *big_pack(const char *tier);

/* Rewrites the tree of the revision being forged: returns the new one. */
typedef void (*tree_edit)(git_oid *out, git_repository *repo,
                          const git_tree *tree);

/*
 * Forge a commit on top of a tier's head, straight in its log.git, and
 * make it the head: what a buggy writer, a hand edit or a hostile tier
 * would leave.  edit (may be NULL) gives the commit's tree.
 */
void forge_with(const char *tier, const char *spec, uint64_t revision,
                tree_edit edit, const char *summary);

/* forge_with without an edit, or dropping the revision's index/ (drop). */
void forge(const char *tier, const char *spec, uint64_t revision, int drop,
           const char *summary);

/* Asserts that git fsck --strict finds the tier's log.git clean. */
void git_fsck_clean(const char *tier);

/* A blob of these bytes in repo. */
void blob_of(git_oid *out, git_repository *repo, const void *data, size_t len);

/* The revision tree with its root/ replaced by id. */
void with_part(git_oid *out, git_repository *repo, const git_tree *tree,
               const char *part, const git_oid *id);

#endif
