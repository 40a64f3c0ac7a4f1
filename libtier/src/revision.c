/*
 * A new revision, built once for all targets of a write: its log commit
 * (summary, extra trailers, then Tier-Revision, Tier-Op, Tier-Vault,
 * Tier-Installation, Tier-Host, Tier-User: docs/format.md) on top of the
 * parent, and the log pack of what it adds, stored in the cache and kept
 * in a directory for the uploads (write.c puts it on each tier).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <unistd.h>

#include "log.h"
#include "util/error.h"
#include "util/posix.h"
#include "vault_int.h"

/*
 * The revision's tree: tree_in, else the parent's, else an empty one; and
 * the parent commit (*pc, NULL for the first revision).
 */
static int revision_tree(git_tree **tree, git_commit **pc, git_repository *repo,
                         const git_oid *parent, const git_oid *tree_in)
{
	git_treebuilder *tb = NULL;
	git_oid tree_id;
	int rc;
	if (tree_in)
		git_oid_cpy(&tree_id, tree_in);
	else if (parent) {
		if ((rc = git_commit_lookup(pc, repo, parent)) < 0)
			return tier_error_from_git(
			        rc, "cannot read the parent revision");
		git_oid_cpy(&tree_id, git_commit_tree_id(*pc));
	} else {
		if ((rc = git_treebuilder_new(&tb, repo, NULL)) < 0 ||
		    (rc = git_treebuilder_write(&tree_id, tb)) < 0)
			rc = tier_error_from_git(rc,
			                         "cannot write an empty tree");
		git_treebuilder_free(tb);
		if (rc < 0)
			return rc;
	}
	if ((rc = git_tree_lookup(tree, repo, &tree_id)) < 0)
		return tier_error_from_git(rc,
		                           "cannot read the revision's tree");
	if (!*pc && parent && (rc = git_commit_lookup(pc, repo, parent)) < 0)
		return tier_error_from_git(rc,
		                           "cannot read the parent revision");
	return 0;
}

int tier_revision_commit(tier_vault *v, git_oid *out, const char *op,
                         uint64_t rev, const git_oid *parent,
                         const git_oid *tree_in, const char *summary,
                         const char *extra, git_repository *repo)
{
	git_signature *sig = NULL;
	git_tree *tree = NULL;
	git_commit *pc = NULL;
	tier_buf msg = TIER_BUF_INIT, name = TIER_BUF_INIT;
	char user[128], host[128];
	int rc;

	tier_installation_who(user, sizeof(user), host, sizeof(host));
	tier_buf_printf(&name, "%s@%s", user, host);
	if ((rc = revision_tree(&tree, &pc, repo, parent, tree_in)) < 0)
		goto out;
	tier_buf_printf(&msg, "%s\n\n", summary);
	if (extra && *extra)
		tier_buf_puts(&msg, extra);
	tier_buf_printf(
	        &msg, "%s: %llu\n%s: %s\n%s: %s\n%s: %s\n%s: %s\n%s: %s\n",
	        TIER_TRAILER_REVISION, (unsigned long long)rev, TIER_TRAILER_OP,
	        op, TIER_TRAILER_VAULT, v->vault_id, TIER_TRAILER_INSTALLATION,
	        v->inst_id, TIER_TRAILER_HOST, host, TIER_TRAILER_USER, user);
	if ((rc = git_signature_now(&sig, tier_buf_cstr(&name),
	                            tier_buf_cstr(&name))) < 0) {
		rc = tier_error_from_git(rc,
		                         "cannot make the commit signature");
		goto out;
	}
	const git_commit *parents[1] = {pc};
	if ((rc = git_commit_create(out, repo, NULL, sig, sig, NULL,
	                            tier_buf_cstr(&msg), tree, pc ? 1 : 0,
	                            parents)) < 0)
		rc = tier_error_from_git(rc,
		                         "cannot write the revision's commit");
out:
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(pc);
	tier_buf_dispose(&msg);
	tier_buf_dispose(&name);
	return rc;
}

/*
 * Pack the new revision's objects once: the same pack goes into the cache
 * (pack + idx moved in: no second indexing) and to every target.
 */
int tier_revision_pack(git_repository *cache, git_repository *repo,
                       const git_oid *id, const git_oid *parent, char *dir,
                       size_t cap, tier_buf *name)
{
	char src[PATH_MAX], dst[PATH_MAX], cdir[PATH_MAX];
	git_odb *odb = NULL;
	int rc;
	snprintf(cdir, sizeof(cdir), "%s/objects/pack",
	         git_repository_path(cache));
	snprintf(dir, cap, "%s/tmp/logpack-XXXXXX", git_repository_path(cache));
	snprintf(src, sizeof(src), "%s/tmp", git_repository_path(cache));
	if ((rc = tier_mkdir_p(src, 0700)) < 0)
		return rc;
	if (!mkdtemp(dir))
		return tier_error_set_errno(TIER_ERROR, errno,
		                            "cannot create '%s'", dir);
	if ((rc = tier_log_pack_build(repo, id, parent, dir, name)) < 0 ||
	    !name->size)
		return rc;
	/* hard links keep the copy in dir for the uploads; idx last, as git expects */
	static const char *const ext[] = {"pack", "idx"};
	for (size_t i = 0; i < 2; i++) {
		snprintf(src, sizeof(src), "%s/%s.%s", dir, name->ptr, ext[i]);
		snprintf(dst, sizeof(dst), "%s/%s.%s", cdir, name->ptr, ext[i]);
		if (link(src, dst) < 0 && errno != EEXIST)
			return tier_error_set_errno(
			        TIER_ERROR, errno,
			        "cannot store the new revision in '%s'", dst);
	}
	if ((rc = tier_fsync_dir(cdir)) < 0)
		return rc;
	if ((rc = git_repository_odb(&odb, cache)) < 0 ||
	    (rc = git_odb_refresh(odb)) < 0)
		rc = tier_error_from_git(rc, "cannot refresh the log cache");
	git_odb_free(odb);
	return rc;
}

void tier_revision_pack_remove(const char *dir, const tier_buf *name)
{
	char p[PATH_MAX];
	if (name->size) {
		snprintf(p, sizeof(p), "%s/%s.pack", dir, name->ptr);
		unlink(p);
		snprintf(p, sizeof(p), "%s/%s.idx", dir, name->ptr);
		unlink(p);
	}
	rmdir(dir);
}
