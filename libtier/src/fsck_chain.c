/*
 * fsck of a tier's log structure: the files that make it a repository
 * stock git reads, the first-parent chain with its Tier-Revision and
 * Tier-Vault trailers, and the packs the head revision lists (index/).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_int.h"
#include "log.h"
#include "objread.h"
#include "pack.h"
#include "snapshot.h"
#include "util/text.h"

/* ---- log structure ---------------------------------------------------- */

static const char GIT_HEAD[] = "ref: refs/heads/main\n";
static const char GIT_CONFIG[] = "[core]\n\trepositoryformatversion = 0\n"
                                 "\tfilemode = true\n\tbare = true\n";

/* log.git/HEAD and log.git/config make the log a repository stock git reads. */
int tier_fsck_check_git_files(struct fsck_run *r, tier_location *loc,
                              const char *tier)
{
	static const struct {
		const char *path;
		const char *content;
	} files[] = {{"log.git/HEAD", GIT_HEAD},
	             {"log.git/config", GIT_CONFIG}};
	for (size_t i = 0; i < 2; i++) {
		tier_stat st;
		size_t idx;
		int rc = tier_location_stat(loc, files[i].path, &st);
		if (rc == TIER_EOFFLINE)
			return rc;
		if (rc == 0 && !st.is_dir)
			continue;
		int is_dir = rc ==
		             0; /* a directory in the way: not ours to remove */
		if ((rc = tier_fsck_add_problem(
		             r, &idx, "log-file-missing", TIER_FSCK_ERROR, tier,
		             files[i].path,
		             "tier '%s': '%s' is missing, stock git cannot read the log",
		             tier, files[i].path)) < 0)
			return rc;
		if (!r->o->repair || is_dir)
			continue;
		/* the content is the same on every tier: write it again */
		rc = tier_location_put_mem(loc, files[i].path, files[i].content,
		                           strlen(files[i].content), 0);
		if (rc == 0 &&
		    tier_location_stat(loc, files[i].path, &st) == 0 &&
		    !st.is_dir) {
			((tier_fsck_problem *)r->problems.ptr[idx])->repaired =
			        1;
			tier_fsck_note(r, idx, "; written again");
		} else if (rc < 0) {
			tier_fsck_note(r, idx, "; cannot write it: %s",
			               tier_error_last());
		}
	}
	return 0;
}

/*
 * The first-parent chain from head into *ids (head first), *n of them.
 * 0 when it reaches the root; 1 when a commit cannot be walked past (a
 * problem says so, and the revisions are not checked); < 0 on error.
 */
static int chain_walk(struct fsck_run *r, const char *tier, const git_oid *head,
                      git_oid **ids, size_t *n)
{
	char hex[GIT_OID_HEXSZ + 1], sh[SHORT + 1];
	size_t cap = 0;
	git_oid oid;
	int rc;

	/* by hand, not git_revwalk: every commit is size-checked first */
	git_oid_cpy(&oid, head);
	for (;;) {
		if (*n == cap) {
			cap = cap ? cap * 2 : 256;
			git_oid *ni = tier_realloc(*ids, cap * sizeof(**ids));
			if (!ni)
				return TIER_ERROR;
			*ids = ni;
		}
		git_oid_cpy(&(*ids)[(*n)++], &oid);
		if ((rc = tier_log_first_parent(&oid, r->cache, &oid)) == 0)
			return 0;
		if (rc < 0) {
			git_oid_tostr(hex, sizeof(hex), &(*ids)[*n - 1]);
			rc = tier_fsck_add_problem(
			        r, NULL,
			        rc == TIER_ECORRUPT ? "object-too-large"
			                            : "commit-unreadable",
			        TIER_FSCK_ERROR, tier, hex,
			        "tier '%s': the log below head %s cannot be walked: %s",
			        tier, tier_fsck_short_oid(sh, head),
			        tier_error_last());
			return rc < 0 ? rc : 1;
		}
	}
}

/* Commit id, revision pos of the log: its trailers readable, its
 * Tier-Revision pos, its Tier-Vault ours. */
static int chain_revision(struct fsck_run *r, const char *tier,
                          const git_oid *id, uint64_t pos)
{
	const char *vault = tier_vault_id(r->v);
	char hex[GIT_OID_HEXSZ + 1], sh[SHORT + 1];
	tier_commit_info ci;
	int rc = 0;

	git_oid_tostr(hex, sizeof(hex), id);
	if ((rc = tier_commit_info_read(&ci, r->cache, id)) < 0) {
		if (rc == TIER_ECORRUPT)
			return tier_fsck_add_problem(
			        r, NULL, "revision-mismatch", TIER_FSCK_ERROR,
			        tier, hex,
			        "tier '%s': commit %s (revision %llu of its log) has no valid "
			        "Tier-Revision trailer",
			        tier, tier_fsck_short_oid(sh, id),
			        (unsigned long long)pos);
		return tier_fsck_add_problem(
		        r, NULL, "commit-unreadable", TIER_FSCK_ERROR, tier,
		        hex, "tier '%s': %s", tier, tier_error_last());
	}
	if (ci.revision != pos)
		rc = tier_fsck_add_problem(
		        r, NULL, "revision-mismatch", TIER_FSCK_ERROR, tier,
		        hex,
		        "tier '%s': commit %s says Tier-Revision %llu but is revision %llu "
		        "of the log",
		        tier, tier_fsck_short_oid(sh, id),
		        (unsigned long long)ci.revision,
		        (unsigned long long)pos);
	if (rc == 0 && vault[0] && strcmp(ci.vault, vault) != 0)
		rc = tier_fsck_add_problem(
		        r, NULL, "vault-mismatch", TIER_FSCK_ERROR, tier, hex,
		        "tier '%s': commit %s belongs to vault '%.12s', not to vault %.12s",
		        tier, tier_fsck_short_oid(sh, id), ci.vault, vault);
	return rc;
}

/*
 * Walk the first-parent chain from head: every commit readable, its
 * Tier-Revision its position, its Tier-Vault ours.
 */
int tier_fsck_check_chain(struct fsck_run *r, const char *tier,
                          const git_oid *head)
{
	git_oid *ids = NULL;
	size_t n = 0;
	int rc = chain_walk(r, tier, head, &ids, &n);

	/* ids[0] is the head: revision n; ids[n-1] the root: revision 1 */
	for (size_t k = 0; k < n && rc == 0; k++)
		rc = chain_revision(r, tier, &ids[k], n - k);
	free(ids);
	return rc < 0 ? rc : 0;
}

/* ---- the packs a revision lists ---------------------------------------- */

int tier_fsck_packref_cmp(const void *a, const void *b)
{
	const struct packref *x = *(const struct packref *const *)a;
	const struct packref *y = *(const struct packref *const *)b;
	return memcmp(x->id, y->id, TIER_HASH_LEN);
}

/* One index/<xx>/<pack id> entry of the head: a pack the tier must hold. */
static int index_entry(struct fsck_run *r, const char *tier, tier_vec *packs,
                       const git_tree_entry *e)
{
	git_blob *blob = NULL;
	tier_pack_trailer tr;
	const char *name = git_tree_entry_name(e);
	char what[96];
	int rc = 0;

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	struct packref *p = tier_calloc(1, sizeof(*p));
	if (!p)
		return TIER_ERROR;
	snprintf(what, sizeof(what), "the index of pack %.12s in the log",
	         name);
	if (strlen(name) != TIER_HASH_HEXLEN ||
	    tier_unhex(p->id, TIER_HASH_LEN, name) < 0)
		rc = tier_fsck_add_problem(
		        r, NULL, "index-corrupt", TIER_FSCK_ERROR, tier,
		        tier_quote_name(name),
		        "tier '%s': pack index entry %s in the log is not a pack id",
		        tier, tier_quote_name(name));
	else if ((rc = tier_blob_lookup_bounded(&blob, r->cache,
	                                        git_tree_entry_id(e),
	                                        TIER_MAX_INDEX_BLOB, what)) < 0)
		rc = tier_fsck_add_problem(
		        r, NULL,
		        rc == TIER_ENOTFOUND  ? "index-corrupt"
		        : rc == TIER_ECORRUPT ? "object-too-large"
		                              : "index-corrupt",
		        TIER_FSCK_ERROR, tier, name, "tier '%s': %s", tier,
		        tier_error_last());
	else if (tier_pack_trailer_parse(&tr, git_blob_rawcontent(blob),
	                                 (size_t)git_blob_rawsize(blob),
	                                 name) < 0)
		rc = tier_fsck_add_problem(
		        r, NULL, "index-corrupt", TIER_FSCK_ERROR, tier, name,
		        "tier '%s': the index of pack %.12s in the log is unreadable: %s",
		        tier, name, tier_error_last());
	else {
		p->size = tr.pack_size;
		git_oid_cpy(&p->tail, git_tree_entry_id(e));
		tier_data_pack_path(p->path, p->id);
		git_blob_free(blob);
		if (tier_vec_push(packs, p) < 0) {
			free(p);
			return TIER_ERROR;
		}
		return 0;
	}
	git_blob_free(blob);
	free(p);
	return rc;
}

/* The entries of head's index tree: pack tail copies, directly or in
 * fan-out trees of them. */
static int load_index(struct fsck_run *r, const char *tier, const git_oid *head,
                      git_tree *index, tier_vec *packs)
{
	char sh[SHORT + 1];
	int rc = 0;

	for (size_t i = 0; i < git_tree_entrycount(index) && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(index, i);
		git_tree *fan = NULL;
		if (git_tree_entry_type(e) != GIT_OBJECT_TREE) {
			rc = index_entry(r, tier, packs, e);
			continue;
		}
		if (tier_tree_lookup_bounded(&fan, r->cache,
		                             git_tree_entry_id(e),
		                             "a pack index tree") < 0) {
			rc = tier_fsck_add_problem(
			        r, NULL, "index-corrupt", TIER_FSCK_ERROR, tier,
			        "index",
			        "tier '%s': the pack index tree of head %s cannot be read: %s",
			        tier, tier_fsck_short_oid(sh, head),
			        tier_error_last());
			break;
		}
		for (size_t k = 0; k < git_tree_entrycount(fan) && rc == 0; k++)
			rc = index_entry(r, tier, packs,
			                 git_tree_entry_byindex(fan, k));
		git_tree_free(fan);
	}
	return rc;
}

/* The packs of the revision at head, sorted by id.  index/ has two levels
 * (index/<xx>/<pack id>); every tree is size-checked before it is read. */
int tier_fsck_load_packs(struct fsck_run *r, const char *tier,
                         const git_oid *head, tier_vec *packs)
{
	git_commit *c = NULL;
	git_tree *tree = NULL, *index = NULL;
	git_oid iid;
	char sh[SHORT + 1];
	int rc;

	if ((rc = tier_log_commit_lookup(&c, r->cache, head)) < 0 ||
	    (rc = tier_tree_lookup_bounded(&tree, r->cache,
	                                   git_commit_tree_id(c),
	                                   "the head's tree")) < 0) {
		rc = tier_fsck_add_problem(
		        r, NULL, "commit-unreadable", TIER_FSCK_ERROR, tier,
		        NULL,
		        "tier '%s': the tree of head %s cannot be read: %s",
		        tier, tier_fsck_short_oid(sh, head), tier_error_last());
		goto out;
	}
	if (tier_snap_part(&iid, tree, TIER_SNAP_INDEX) < 0)
		goto out; /* no data yet */
	if (tier_tree_lookup_bounded(&index, r->cache, &iid,
	                             "the pack index tree") < 0) {
		rc = tier_fsck_add_problem(
		        r, NULL, "index-corrupt", TIER_FSCK_ERROR, tier,
		        "index",
		        "tier '%s': the pack index tree of head %s cannot be read: %s",
		        tier, tier_fsck_short_oid(sh, head), tier_error_last());
		goto out;
	}
	rc = load_index(r, tier, head, index, packs);
	tier_vec_sort(packs, tier_fsck_packref_cmp);
out:
	git_tree_free(index);
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}
