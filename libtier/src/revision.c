/*
 * A new revision, built once for all targets of a write: its log commit
 * (summary, extra trailers, then Tier-Revision, Tier-Op, Tier-Vault,
 * Tier-Installation, Tier-Host, Tier-User: docs/format.md) on top of the
 * parent, and the log pack of what it adds (the write's streaming pack,
 * finished), stored in the cache and kept in a directory for the uploads
 * (write.c puts it on each tier).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "gitpack.h"
#include "log.h"
#include "streampack.h"
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
                         const char *extra, const git_time *when,
                         git_repository *repo)
{
	git_signature *sig = NULL, *author = NULL;
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
	if (when && (rc = git_signature_new(&author, tier_buf_cstr(&name),
	                                    tier_buf_cstr(&name), when->time,
	                                    when->offset)) < 0) {
		rc = tier_error_from_git(rc,
		                         "cannot make the commit signature");
		goto out;
	}
	const git_commit *parents[1] = {pc};
	if ((rc = git_commit_create(out, repo, NULL, author ? author : sig, sig,
	                            NULL, tier_buf_cstr(&msg), tree, pc ? 1 : 0,
	                            parents)) < 0)
		rc = tier_error_from_git(rc,
		                         "cannot write the revision's commit");
out:
	git_signature_free(author);
	git_signature_free(sig);
	git_tree_free(tree);
	git_commit_free(pc);
	tier_buf_dispose(&msg);
	tier_buf_dispose(&name);
	return rc;
}

/*
 * What the cache had already of the write's objects went nowhere: libgit2
 * writes only what no backend holds.  It may be missing on the tiers (a
 * write that died after its pack reached the cache, not them), so the new
 * objects of the commit over its parent that the stream lacks are added,
 * read from the cache.
 */
static int add_missing(git_repository *repo, git_odb_backend *stream,
                       const git_oid *id, const git_oid *parent)
{
	git_odb *odb = NULL;
	git_oid *ids = NULL;
	size_t n = 0;
	int rc;
	if ((rc = git_repository_odb(&odb, repo)) < 0)
		return tier_error_from_git(rc, "cannot open the log objects");
	if ((rc = tier_gitpack_new_objects(repo, id, parent, &ids, &n)) < 0)
		goto out;
	for (size_t i = 0; i < n && rc >= 0; i++) {
		git_odb_object *obj = NULL;
		if (tier_streampack_has(stream, &ids[i]))
			continue;
		if ((rc = git_odb_read(&obj, odb, &ids[i])) < 0) {
			rc = tier_error_from_git(rc,
			                         "cannot read a log object");
			break;
		}
		rc = tier_streampack_add(
		        stream, &ids[i], git_odb_object_type(obj),
		        git_odb_object_data(obj), git_odb_object_size(obj));
		git_odb_object_free(obj);
	}
out:
	free(ids);
	git_odb_free(odb);
	return rc < 0 ? rc : 0;
}

/*
 * The new revision's log pack, finished once from the write's stream: the
 * same pack goes into the cache (pack + idx linked in: no second
 * indexing) and to every target.
 */
int tier_revision_pack(git_repository *cache, git_repository *repo,
                       git_odb_backend *stream, int walk, const git_oid *id,
                       const git_oid *parent, const char *dir, tier_buf *name)
{
	char src[PATH_MAX], dst[PATH_MAX], cdir[PATH_MAX];
	git_odb *odb = NULL;
	int rc;
	snprintf(cdir, sizeof(cdir), "%s/objects/pack",
	         git_repository_path(cache));
	if ((walk && (rc = add_missing(repo, stream, id, parent)) < 0) ||
	    (rc = tier_streampack_finish(stream, name)) < 0 || !name->size)
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
