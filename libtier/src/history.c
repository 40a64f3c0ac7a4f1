/* The vault's history: its log, revisions by number, and differences
 * between snapshots. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "forget_int.h"
#include "objread.h"
#include "snapshot.h"
#include "util/error.h"
#include "util/text.h"
#include "vault.h"

/* Deeper snapshots are corrupt: git's own core.maxTreeDepth default, and
 * what keeps a hostile tier's 100,000 nested trees off our stack. */
#define MAX_DEPTH 4096

int tier_vault_find_revision(tier_vault *v, uint64_t rev, git_oid *out)
{
	git_oid head;
	tier_commit_info ci;
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
	/* first parents, one step per revision: the trailer says how far;
	 * only a forget newer than rev can name it, and the walk meets each */
	git_oid cur = head;
	uint64_t r = ci.revision, by = 0;
	for (int first = 1; r > rev; first = 0) {
		/* the head's info is read already */
		if (!first && (rc = tier_commit_info_read(
		                       &ci, tier_vault_cache(v), &cur)) < 0)
			return rc;
		if ((rc = tier_forget_commit_names(v, &ci, rev)) < 0)
			return rc;
		if (rc)
			by = r; /* the oldest that names it, as tier_forgotten_by */
		if ((rc = tier_log_first_parent(&cur, tier_vault_cache(v),
		                                &cur)) < 0)
			return tier_error_prefix("cannot walk the log");
		if (rc == 0)
			return tier_error_set(
			        TIER_ECORRUPT,
			        "the log ends before revision %llu",
			        (unsigned long long)rev);
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
	if (by)
		return tier_forget_error(rev, by);
	git_oid_cpy(out, &cur);
	return 0;
}

int tier_vault_log(tier_log_entry **out, size_t *count, tier_vault *v,
                   size_t max)
{
	git_oid head, oid;
	tier_log_entry *e = NULL;
	size_t n = 0, cap = 0;
	git_repository *cache = tier_vault_cache(v);
	int rc;

	*out = NULL;
	*count = 0;
	if ((rc = tier_vault_best_head(v, &head, NULL)) < 0)
		return rc == TIER_ENOTFOUND ? 0 : rc;
	/* first parents by hand: git_revwalk inflates each commit unchecked,
	 * tier_commit_info_read checks its size first */
	git_oid_cpy(&oid, &head);
	for (rc = 1; (!max || n < max) && rc == 1;
	     rc = tier_log_first_parent(&oid, cache, &oid)) {
		tier_commit_info ci;
		if ((rc = tier_commit_info_read(&ci, cache, &oid)) < 0)
			goto fail;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			tier_log_entry *ne = tier_realloc(e, cap * sizeof(*e));
			if (!ne) {
				rc = TIER_ERROR;
				goto fail;
			}
			e = ne;
		}
		tier_log_entry *x = &e[n++];
		memset(x, 0, sizeof(*x));
		x->revision = ci.revision;
		git_oid_tostr(x->commit, sizeof(x->commit), &oid);
		x->time = ci.time;
		x->time_offset = ci.time_offset;
		memcpy(x->op, ci.op, sizeof(x->op));
		memcpy(x->installation, ci.installation,
		       sizeof(x->installation));
		memcpy(x->host, ci.host, sizeof(x->host));
		memcpy(x->user, ci.user, sizeof(x->user));
		memcpy(x->summary, ci.summary, sizeof(x->summary));
		x->files = ci.files;
		x->bytes = ci.bytes;
		x->new_bytes = ci.new_bytes;
		x->packs = ci.packs;
		rc = 1;
	}
	if (rc < 0) {
		tier_error_prefix("cannot walk the log");
		goto fail;
	}
	*out = e;
	*count = n;
	return 0;
fail:
	free(e);
	return rc;
}

/* The snapshot tree of a revision (NULL when it has none), size-checked. */
static int root_tree(git_tree **out, git_repository *repo,
                     const git_oid *commit, uint64_t rev)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	git_oid root;
	char what[64];
	int rc;

	*out = NULL;
	snprintf(what, sizeof(what), "the tree of revision %llu",
	         (unsigned long long)rev);
	if ((rc = tier_log_commit_lookup(&c, repo, commit)) < 0)
		return rc;
	rc = tier_tree_lookup_bounded(&t, repo, git_commit_tree_id(c), what);
	git_commit_free(c);
	if (rc < 0)
		return rc;
	snprintf(what, sizeof(what), "the snapshot of revision %llu",
	         (unsigned long long)rev);
	if (tier_snap_part(&root, t, TIER_SNAP_ROOT) == 0)
		rc = tier_tree_lookup_bounded(out, repo, &root, what);
	git_tree_free(t);
	return rc < 0 ? rc : 0;
}

struct diffwalk {
	git_repository *repo;
	tier_diff_cb cb;
	void *payload;
	tier_buf path; /* decoded: "/a/b" */
	tier_buf name;
	unsigned int depth;
	const tier_keys *keys;
};

static const char *wpath(struct diffwalk *w)
{
	return w->path.size ? tier_quote_name(w->path.ptr) : "/";
}

/* The size a file's node records; the blob is size-checked, then decoded:
 * a node that does not parse is an error, never a size of 0. */
static int node_size(struct diffwalk *w, const git_tree_entry *e,
                     uint64_t *size)
{
	git_blob *b = NULL;
	tier_node n;
	int rc;

	*size = 0;
	if ((rc = tier_blob_lookup_bounded(&b, w->repo, git_tree_entry_id(e),
	                                   TIER_MAX_NODE_BLOB, "a node blob")) <
	    0)
		return tier_error_prefix("snapshot entry %s", wpath(w));
	rc = tier_node_decode(&n, w->keys, git_blob_rawcontent(b),
	                      (size_t)git_blob_rawsize(b));
	git_blob_free(b);
	if (rc < 0)
		return tier_error_prefix("snapshot entry %s", wpath(w));
	*size = n.size;
	tier_node_dispose(&n);
	return 0;
}

static int diff_trees(struct diffwalk *w, const git_tree *a, const git_tree *b);

static int subtree(struct diffwalk *w, const git_tree_entry *e, git_tree **out)
{
	*out = NULL;
	if (!e)
		return 0;
	if (tier_tree_lookup_bounded(out, w->repo, git_tree_entry_id(e),
	                             "a snapshot directory") < 0)
		return tier_error_prefix("snapshot directory %s", wpath(w));
	return 0;
}

/* One entry that differs: old a, new b (either NULL), the same name. */
static int change(struct diffwalk *w, const git_tree_entry *a,
                  const git_tree_entry *b)
{
	const git_tree_entry *e = a ? a : b;
	size_t base = w->path.size;
	int rc;

	if (!strcmp(git_tree_entry_name(e), TIER_SNAP_DIRMETA))
		return 0; /* a directory's own metadata */
	/* the directory was checked (tier_snap_tree_check): names decode */
	if ((rc = tier_snap_name_decode(&w->name, w->keys,
	                                git_tree_entry_name(e))) < 0 ||
	    (rc = tier_buf_putc(&w->path, '/')) < 0 ||
	    (rc = tier_buf_put(&w->path, w->name.ptr, w->name.size)) < 0)
		goto out;
	for (size_t k = 0; k < 2; k++) {
		const git_tree_entry *x = k ? b : a;
		if (x && git_tree_entry_type(x) != GIT_OBJECT_TREE &&
		    git_tree_entry_type(x) != GIT_OBJECT_BLOB) {
			rc = tier_error_set(
			        TIER_ECORRUPT,
			        "snapshot entry %s is a %s, not a file or directory",
			        wpath(w),
			        git_object_type2string(git_tree_entry_type(x)));
			goto out;
		}
	}
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		/* both sides are trees here, or one is absent (see entry_cmp) */
		git_tree *ta = NULL, *tb = NULL;
		if ((rc = subtree(w, a, &ta)) == 0 &&
		    (rc = subtree(w, b, &tb)) == 0)
			rc = diff_trees(w, ta, tb);
		git_tree_free(ta);
		git_tree_free(tb);
		goto out;
	}
	tier_diff_entry d;
	d.status = !a ? 'A' : !b ? 'D' : 'M';
	d.old_size = d.new_size = 0;
	if ((a && (rc = node_size(w, a, &d.old_size)) < 0) ||
	    (b && (rc = node_size(w, b, &d.new_size)) < 0))
		goto out;
	d.path = tier_buf_cstr(&w->path);
	if (w->cb(&d, w->payload))
		rc = tier_error_set(TIER_EABORTED, "listing cancelled");
out:
	w->path.size = base;
	if (w->path.ptr)
		w->path.ptr[base] = '\0';
	return rc;
}

/* git's tree order: a directory sorts as if its name ended in '/' (so a
 * file and a directory of one name are two entries, as in git diff). */
static int entry_cmp(const git_tree_entry *a, const git_tree_entry *b)
{
	const char *x = git_tree_entry_name(a), *y = git_tree_entry_name(b);
	size_t lx = strlen(x), ly = strlen(y), n = lx < ly ? lx : ly;
	int c = memcmp(x, y, n);
	if (c)
		return c;
	unsigned cx = lx > n ? (unsigned char)x[n]
	              : git_tree_entry_type(a) == GIT_OBJECT_TREE ? '/'
	                                                          : 0;
	unsigned cy = ly > n ? (unsigned char)y[n]
	              : git_tree_entry_type(b) == GIT_OBJECT_TREE ? '/'
	                                                          : 0;
	return cx < cy ? -1 : cx > cy;
}

/*
 * Our own tree diff rather than git_diff_tree_to_tree: libgit2 reads every
 * tree it meets whole, and a hostile tier's trees must be size-checked and
 * their names checked before anything acts on them.  Equal subtrees are
 * skipped, as git does.
 */
static int diff_trees(struct diffwalk *w, const git_tree *a, const git_tree *b)
{
	size_t na = a ? git_tree_entrycount(a) : 0;
	size_t nb = b ? git_tree_entrycount(b) : 0, i = 0, j = 0;
	int rc = 0;

	if (++w->depth > MAX_DEPTH) {
		w->depth--;
		return tier_error_set(TIER_ECORRUPT,
		                      "snapshot directory %s is nested deeper "
		                      "than %d levels",
		                      wpath(w), MAX_DEPTH);
	}
	if ((a && (rc = tier_snap_tree_check(a, w->keys)) < 0) ||
	    (b && (rc = tier_snap_tree_check(b, w->keys)) < 0)) {
		rc = tier_error_prefix("snapshot directory %s", wpath(w));
		goto out;
	}
	while (rc == 0 && (i < na || j < nb)) {
		const git_tree_entry *ea =
		        i < na ? git_tree_entry_byindex(a, i) : NULL;
		const git_tree_entry *eb =
		        j < nb ? git_tree_entry_byindex(b, j) : NULL;
		int c = !ea ? 1 : !eb ? -1 : entry_cmp(ea, eb);
		if (c < 0) {
			rc = change(w, ea, NULL);
			i++;
		} else if (c > 0) {
			rc = change(w, NULL, eb);
			j++;
		} else {
			if (!git_oid_equal(git_tree_entry_id(ea),
			                   git_tree_entry_id(eb)) ||
			    git_tree_entry_filemode(ea) !=
			            git_tree_entry_filemode(eb))
				rc = change(w, ea, eb);
			i++;
			j++;
		}
	}
out:
	w->depth--;
	return rc;
}

int tier_vault_diff(tier_vault *v, uint64_t from, uint64_t to, tier_diff_cb cb,
                    void *payload)
{
	git_repository *repo = tier_vault_cache(v);
	git_oid a, b;
	git_tree *ta = NULL, *tb = NULL;
	struct diffwalk w = {
	        repo,          cb, payload,           TIER_BUF_INIT,
	        TIER_BUF_INIT, 0,  tier_vault_keys(v)};
	int rc;

	if ((from && (rc = tier_vault_find_revision(v, from, &a)) < 0) ||
	    (rc = tier_vault_find_revision(v, to, &b)) < 0)
		return rc;
	if ((from && (rc = root_tree(&ta, repo, &a, from)) < 0) ||
	    (rc = root_tree(&tb, repo, &b, to)) < 0)
		goto out;
	if (ta || tb)
		rc = diff_trees(&w, ta, tb);
	if (rc < 0 && rc != TIER_EABORTED && rc != TIER_ERROR)
		tier_error_prefix("cannot compare revisions %llu and %llu",
		                  (unsigned long long)from,
		                  (unsigned long long)to);
out:
	tier_buf_dispose(&w.path);
	tier_buf_dispose(&w.name);
	git_tree_free(ta);
	git_tree_free(tb);
	return rc;
}
