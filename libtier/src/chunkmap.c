/*
 * The log's index/ tree (docs/format.md): every data pack's tail under
 * index/<2 hex>/<64 hex>.  Read into the chunk map (which pack holds a
 * chunk, where) that push deduplicates against and restore and fsck read
 * by; written by tier_snap_index_add when a push adds its packs.
 * Declared in snapshot.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "chunkidx.h"
#include "objread.h"
#include "pack.h"
#include "snapshot.h"
#include "util/error.h"
#include "util/text.h"

/* ---- chunk map ------------------------------------------------------------ */

struct packlist {
	tier_cidx_pack *p;
	size_t n, cap;
};

/* One index/<xx>/<pack id> entry: its name checked, its blob only noted
 * (chunkidx.c reads the blobs of the packs its file lacks). */
static int list_entry(struct packlist *l, const git_tree_entry *e)
{
	const char *name = git_tree_entry_name(e);
	unsigned char id[TIER_HASH_LEN];
	if (strlen(name) != TIER_HASH_HEXLEN ||
	    tier_unhex(id, TIER_HASH_LEN, name) < 0)
		return tier_error_set(TIER_ECORRUPT,
		                      "log index entry '%s' is not a pack id",
		                      tier_quote_name(name));
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		void *np = tier_realloc(l->p, l->cap * sizeof(*l->p));
		if (!np)
			return TIER_ERROR;
		l->p = np;
	}
	memcpy(l->p[l->n].id, id, TIER_HASH_LEN);
	git_oid_cpy(&l->p[l->n++].blob, git_tree_entry_id(e));
	return 0;
}

/* index/ and its fan-out directories (two levels, as tier_snap_index_add
 * writes them), every tree size-checked; not git_tree_walk, which reads
 * each subtree whole before anyone looked at its size. */
static int list_tree(struct packlist *l, git_repository *repo,
                     const git_tree *t, int depth)
{
	int rc = 0;
	for (size_t i = 0; i < git_tree_entrycount(t) && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		git_tree *sub = NULL;
		if (git_tree_entry_type(e) == GIT_OBJECT_BLOB) {
			rc = list_entry(l, e);
			continue;
		}
		if (git_tree_entry_type(e) != GIT_OBJECT_TREE)
			continue;
		if (depth > 0)
			return tier_error_set(
			        TIER_ECORRUPT,
			        "log index directory '%s' is nested too deep",
			        tier_quote_name(git_tree_entry_name(e)));
		if ((rc = tier_tree_lookup_bounded(&sub, repo,
		                                   git_tree_entry_id(e),
		                                   "a pack index tree")) < 0)
			return rc;
		rc = list_tree(l, repo, sub, depth + 1);
		git_tree_free(sub);
	}
	return rc;
}

static int cmp_pack_id(const void *a, const void *b)
{
	return memcmp(((const tier_cidx_pack *)a)->id,
	              ((const tier_cidx_pack *)b)->id, TIER_HASH_LEN);
}

/* A pack listed twice (under a wrong fan-out directory too) counts once. */
static void list_unique(struct packlist *l)
{
	if (l->n < 2)
		return;
	qsort(l->p, l->n, sizeof(*l->p), cmp_pack_id);
	size_t k = 1;
	for (size_t i = 1; i < l->n; i++)
		if (memcmp(l->p[i].id, l->p[k - 1].id, TIER_HASH_LEN) != 0)
			l->p[k++] = l->p[i];
	l->n = k;
}

int tier_snap_index_list(tier_cidx_pack **out, size_t *n, git_repository *repo,
                         const git_tree *tree)
{
	struct packlist l = {0};
	git_tree *index = NULL;
	git_oid iid;
	int rc = 0;

	*out = NULL;
	*n = 0;
	if (tree && tier_snap_part(&iid, tree, TIER_SNAP_INDEX) == 0) {
		if ((rc = tier_tree_lookup_bounded(&index, repo, &iid,
		                                   "the pack index tree")) < 0)
			return rc;
		rc = list_tree(&l, repo, index, 0);
		git_tree_free(index);
	}
	if (rc < 0) {
		free(l.p);
		return rc;
	}
	list_unique(&l);
	*out = l.p;
	*n = l.n;
	return 0;
}

int tier_chunkmap_load(tier_chunkmap **out, git_repository *repo,
                       const git_tree *tree, const char *state_dir,
                       const tier_keys *keys)
{
	tier_cidx_pack *p = NULL;
	size_t n = 0;
	int rc;
	*out = NULL;
	if ((rc = tier_snap_index_list(&p, &n, repo, tree)) == 0)
		rc = tier_cidx_load(out, repo, p, n, state_dir, keys);
	free(p);
	return rc;
}

/* ---- index tree ------------------------------------------------------------ */

/* The fan-out tree fan of top with every pack of ids in that fan added. */
static int index_add_fan(git_treebuilder *top, git_repository *repo,
                         unsigned fan, size_t n,
                         const unsigned char (*ids)[TIER_HASH_LEN],
                         const git_oid *blobs)
{
	char hex[TIER_HASH_HEXLEN + 1], name[3];
	git_treebuilder *sub = NULL;
	git_tree *subtree = NULL;
	git_oid subid;
	int rc;
	snprintf(name, sizeof(name), "%02x", fan);
	const git_tree_entry *e = git_treebuilder_get(top, name);
	if (e &&
	    (rc = git_tree_lookup(&subtree, repo, git_tree_entry_id(e))) < 0)
		return rc;
	rc = git_treebuilder_new(&sub, repo, subtree);
	git_tree_free(subtree);
	for (size_t i = 0; i < n && rc >= 0; i++) {
		if (ids[i][0] != fan)
			continue;
		tier_hex(hex, ids[i], TIER_HASH_LEN);
		rc = git_treebuilder_insert(NULL, sub, hex, &blobs[i],
		                            GIT_FILEMODE_BLOB);
	}
	if (rc >= 0 && (rc = git_treebuilder_write(&subid, sub)) >= 0)
		rc = git_treebuilder_insert(NULL, top, name, &subid,
		                            GIT_FILEMODE_TREE);
	git_treebuilder_free(sub);
	return rc;
}

int tier_snap_index_add(git_oid *out, git_repository *repo,
                        const git_tree *base_index, size_t n,
                        const unsigned char (*ids)[TIER_HASH_LEN],
                        const git_oid *blobs)
{
	git_treebuilder *top = NULL;
	unsigned char used[256] = {0};
	int rc;
	if ((rc = git_treebuilder_new(&top, repo, base_index)) < 0)
		return tier_error_from_git(rc, "cannot update the pack index");
	for (size_t i = 0; i < n; i++)
		used[ids[i][0]] = 1;
	/* each fan-out tree written once: no tree of a half-added fan goes
	 * into the write's log pack */
	for (unsigned fan = 0; fan < 256 && rc >= 0; fan++)
		if (used[fan])
			rc = index_add_fan(top, repo, fan, n, ids, blobs);
	if (rc >= 0)
		rc = git_treebuilder_write(out, top);
	git_treebuilder_free(top);
	if (rc < 0)
		return tier_error_from_git(rc, "cannot update the pack index");
	return 0;
}

int tier_snap_index_remove(git_oid *out, git_repository *repo,
                           const git_tree *base_index, size_t n,
                           const unsigned char (*ids)[TIER_HASH_LEN])
{
	git_treebuilder *top = NULL;
	unsigned char used[256] = {0};
	char hex[TIER_HASH_HEXLEN + 1], name[3];
	int rc;
	if ((rc = git_treebuilder_new(&top, repo, base_index)) < 0)
		return tier_error_from_git(rc, "cannot update the pack index");
	for (size_t i = 0; i < n; i++)
		used[ids[i][0]] = 1;
	for (unsigned fan = 0; fan < 256 && rc >= 0; fan++) {
		git_treebuilder *sub = NULL;
		git_tree *subtree = NULL;
		git_oid subid;
		if (!used[fan])
			continue;
		snprintf(name, sizeof(name), "%02x", fan);
		const git_tree_entry *e = git_treebuilder_get(top, name);
		if (!e)
			continue;
		if ((rc = git_tree_lookup(&subtree, repo,
		                          git_tree_entry_id(e))) < 0)
			break;
		rc = git_treebuilder_new(&sub, repo, subtree);
		git_tree_free(subtree);
		for (size_t i = 0; i < n && rc >= 0; i++) {
			if (ids[i][0] != fan)
				continue;
			tier_hex(hex, ids[i], TIER_HASH_LEN);
			if (git_treebuilder_get(sub, hex))
				rc = git_treebuilder_remove(sub, hex);
		}
		if (rc >= 0 && git_treebuilder_entrycount(sub) == 0)
			rc = git_treebuilder_remove(top, name);
		else if (rc >= 0 &&
		         (rc = git_treebuilder_write(&subid, sub)) >= 0)
			rc = git_treebuilder_insert(NULL, top, name, &subid,
			                            GIT_FILEMODE_TREE);
		git_treebuilder_free(sub);
	}
	if (rc >= 0)
		rc = git_treebuilder_write(out, top);
	git_treebuilder_free(top);
	if (rc < 0)
		return tier_error_from_git(rc, "cannot update the pack index");
	return 0;
}
