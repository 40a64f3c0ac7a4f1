/*
 * What the restore tests share (helpers_restore.c, linked into every
 * test_restore*.c): each test runs in a fresh directory dir with two file
 * tiers, a (tier_a, path_a) and b (tier_b, path_b), an installation state
 * dir, a source tree src and a destination out.
 */
#ifndef TIER_TEST_HELPERS_RESTORE_H
#define TIER_TEST_HELPERS_RESTORE_H

#include <git2.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "snapshot.h"
#include "tier/restore.h"
#include "tier/vault.h"

extern const char *dir;
extern char tier_a[4200], tier_b[4200], state[4200], src[4200], out[4200];
extern char path_a[4200], path_b[4200];

/* The suite's .init and .fini: TestSuite(restore, .init = restore_setup,
 * .fini = restore_teardown). */
void restore_setup(void);
void restore_teardown(void);

/* ---- vault helpers ------------------------------------------------------- */

tier_vault_options vopts(const char *st, int with_tiers);
tier_vault *init_vault(void);
tier_vault *open_vault(void);
uint64_t push(tier_vault *v, const char *path);

/* Warnings collected from a restore. */
extern char warnings[16384];
extern int nwarnings;

/* tier_restore_run into dest (rev 0: the newest), its warnings collected. */
int restore(tier_vault *v, tier_restore_stats *st, uint64_t rev,
            const char *dest, const char *const *paths, size_t npaths,
            int overwrite);

/* ---- source trees -------------------------------------------------------- */

void set_mtime(const char *path, time_t sec, long nsec);
void put_file(const char *path, const char *text, mode_t mode, time_t sec);

/* Pseudo-random bytes that lz4 cannot shrink much, half compressible text. */
void put_big(const char *path, size_t size, uint64_t seed);

/* src/rel */
const char *at(const char *rel);

/* Everything the brief asks a full round trip to keep. */
void make_full_tree(void);
void make_small_tree(void);

/* ---- comparing trees ----------------------------------------------------- */

/* want: the expected tree; got: the restored one.  Top-level included. */
void compare(const char *want_arg, const char *got_arg);

/* Where the restore puts the source tree: DEST + absolute source path. */
const char *restored(const char *dest, const char *rel);
int exists(const char *p);

/* No "<name>.tier-tmp" anywhere below p. */
int no_temp_files(const char *p);

/* A listing of a directory (names, types, modes, sizes, mtimes): equal
 * before and after means nothing was written there. */
char *snapshot_of(const char *d);

/* ---- hostile tiers: trees crafted in the tiers' logs --------------------- */

/* One entry of a raw tree: any name, '/' and duplicates included. */
struct rawent {
	unsigned mode; /* 0100644 or 040000 */
	const char *name;
	git_oid id;
};

/* A tree object written as bytes, as a hostile tier would (git_odb_write). */
git_oid raw_tree(git_repository *repo, struct rawent *e, size_t n);
git_oid blob_of(git_repository *repo, const void *data, size_t len);
git_oid node_blob(git_repository *repo, tier_node_type type, unsigned mode,
                  const char *target);

/* The id of the entry at a '/'-separated path below tree. */
git_oid entry_at(const git_tree *tree, const char *path);

/* The snapshot path of src ("tmp/tiertest-x/src") split into components. */
size_t src_comps(char *comps[16]);

/*
 * Change the snapshot of the head revision on tier_root's log: add(repo,
 * src tree, payload) returns the new tree of src's directory.  Parent,
 * message and signatures stay, so every tier given the same change gets
 * the same commit; the objects are packed as a tier holds them.
 */
typedef git_oid (*craft_fn)(git_repository *repo, const git_tree *srctree,
                            void *payload);

/* The same change on both tiers: they keep the same head. */
void craft(craft_fn add, void *payload);

/* The vault from its tiers alone (no installation: nothing remembers the
 * honest head), as on the machine that restores after a loss. */
tier_vault *open_tiers_only(void);

#endif
