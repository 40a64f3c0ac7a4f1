/* Revisions by number, and differences between snapshots. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "snapshot.h"
#include "util/error.h"
#include "vault.h"

int tier_vault_find_revision(tier_vault *v, uint64_t rev, git_oid *out)
{
	git_oid head;
	tier_commit_info ci;
	git_commit *c = NULL;
	int rc;

	if ((rc = tier_vault_best_head(v, &head, NULL)) < 0)
		return rc;
	if ((rc = tier_commit_info_read(&ci, tier_vault_cache(v), &head)) < 0)
		return rc;
	if (rev == 0 || rev == ci.revision) {
		git_oid_cpy(out, &head);
		return 0;
	}
	if (rev > ci.revision)
		return tier_error_set(
		        TIER_ENOTFOUND,
		        "revision %llu does not exist (latest is %llu)",
		        (unsigned long long)rev,
		        (unsigned long long)ci.revision);
	/* first parents, one step per revision: the trailer says how far */
	git_oid cur = head;
	uint64_t r = ci.revision;
	while (r > rev) {
		if ((rc = git_commit_lookup(&c, tier_vault_cache(v), &cur)) < 0)
			return tier_error_from_git(rc, "cannot walk the log");
		const git_oid *p = git_commit_parent_id(c, 0);
		if (!p) {
			git_commit_free(c);
			return tier_error_set(
			        TIER_ECORRUPT,
			        "the log ends before revision %llu",
			        (unsigned long long)rev);
		}
		git_oid_cpy(&cur, p);
		git_commit_free(c);
		r--;
	}
	if ((rc = tier_commit_info_read(&ci, tier_vault_cache(v), &cur)) < 0)
		return rc;
	if (ci.revision != rev)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "log commit for revision %llu carries Tier-Revision %llu",
		        (unsigned long long)rev,
		        (unsigned long long)ci.revision);
	git_oid_cpy(out, &cur);
	return 0;
}

static int root_tree(git_tree **out, git_repository *repo,
                     const git_oid *commit)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	git_oid root;
	int rc;
	*out = NULL;
	if ((rc = git_commit_lookup(&c, repo, commit)) < 0 ||
	    (rc = git_commit_tree(&t, c)) < 0) {
		git_commit_free(c);
		return tier_error_from_git(rc, "cannot read a revision");
	}
	git_commit_free(c);
	if (tier_snap_part(&root, t, TIER_SNAP_ROOT) == 0 &&
	    (rc = git_tree_lookup(out, repo, &root)) < 0)
		rc = tier_error_from_git(rc, "cannot read a snapshot");
	git_tree_free(t);
	return rc < 0 ? rc : 0;
}

static uint64_t blob_size(git_repository *repo, const git_diff_file *f)
{
	git_blob *b = NULL;
	tier_node n;
	uint64_t size = 0;
	if (!(f->flags & GIT_DIFF_FLAG_EXISTS) ||
	    git_blob_lookup(&b, repo, &f->id) < 0)
		return 0;
	if (tier_node_decode(&n, git_blob_rawcontent(b),
	                     (size_t)git_blob_rawsize(b)) == 0) {
		size = n.size;
		tier_node_dispose(&n);
	}
	git_blob_free(b);
	return size;
}

/* "a/%%2Egit/b" -> "/a/.git/b" */
static int decode_path(tier_buf *out, const char *p)
{
	tier_buf comp = TIER_BUF_INIT, dec = TIER_BUF_INIT;
	int rc = 0;
	tier_buf_clear(out);
	while (*p && rc == 0) {
		const char *slash = strchr(p, '/');
		size_t len = slash ? (size_t)(slash - p) : strlen(p);
		tier_buf_clear(&comp);
		tier_buf_put(&comp, p, len);
		if ((rc = tier_snap_name_decode(&dec, tier_buf_cstr(&comp))) ==
		    0) {
			tier_buf_putc(out, '/');
			tier_buf_put(out, dec.ptr, dec.size);
		}
		p += len + (slash ? 1 : 0);
	}
	tier_buf_dispose(&comp);
	tier_buf_dispose(&dec);
	return rc;
}

int tier_vault_diff(tier_vault *v, uint64_t from, uint64_t to, tier_diff_cb cb,
                    void *payload)
{
	git_repository *repo = tier_vault_cache(v);
	git_oid a, b;
	git_tree *ta = NULL, *tb = NULL;
	git_diff *diff = NULL;
	tier_buf path = TIER_BUF_INIT;
	int rc;

	if ((from && (rc = tier_vault_find_revision(v, from, &a)) < 0) ||
	    (rc = tier_vault_find_revision(v, to, &b)) < 0)
		return rc;
	if ((from && (rc = root_tree(&ta, repo, &a)) < 0) ||
	    (rc = root_tree(&tb, repo, &b)) < 0)
		goto out;
	git_diff_options o;
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	if ((rc = git_diff_tree_to_tree(&diff, repo, ta, tb, &o)) < 0) {
		rc = tier_error_from_git(rc, "cannot compare the snapshots");
		goto out;
	}
	for (size_t i = 0; i < git_diff_num_deltas(diff); i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		const char *p =
		        d->new_file.path ? d->new_file.path : d->old_file.path;
		const char *base = strrchr(p, '/');
		if (!strcmp(base ? base + 1 : p, TIER_SNAP_DIRMETA))
			continue; /* a directory's own metadata */
		tier_diff_entry e;
		switch (d->status) {
		case GIT_DELTA_ADDED:
			e.status = 'A';
			break;
		case GIT_DELTA_DELETED:
			e.status = 'D';
			break;
		default:
			e.status = 'M';
			break;
		}
		if ((rc = decode_path(&path, p)) < 0)
			goto out;
		e.path = tier_buf_cstr(&path);
		e.old_size =
		        e.status == 'A' ? 0 : blob_size(repo, &d->old_file);
		e.new_size =
		        e.status == 'D' ? 0 : blob_size(repo, &d->new_file);
		if (cb(&e, payload)) {
			rc = tier_error_set(TIER_EABORTED, "listing cancelled");
			goto out;
		}
	}
	rc = 0;
out:
	tier_buf_dispose(&path);
	git_diff_free(diff);
	git_tree_free(ta);
	git_tree_free(tb);
	return rc;
}
