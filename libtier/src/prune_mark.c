/*
 * Prune's reading of the log: the live set (every chunk a kept snapshot
 * names), and which packs an entry stopped naming.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "objread.h"
#include "prune_int.h"
#include "snapshot.h"
#include "tier/errors.h"
#include "tier/forget.h"
#include "util/error.h"
#include "vault.h"
#include "util/text.h"

/* Deeper than any path a file system gives (fsck_snap.c's bound too). */
#define MARK_MAX_DEPTH 4096

struct mark {
	struct prune *p;
	tier_spillset *seen; /* trees and nodes read already */
	uint64_t rev;
	unsigned depth;
};

static int bad_snapshot(const struct mark *m, const char *why)
{
	return tier_error_set(
	        TIER_ECORRUPT,
	        "refusing to prune: the snapshot of revision %llu "
	        "cannot be read (%s), so what it needs is "
	        "unknown; run tier-fsck",
	        (unsigned long long)m->rev, why);
}

static int mark_node(struct mark *m, const git_oid *id)
{
	git_blob *b = NULL;
	tier_node n;
	int rc;
	if ((rc = tier_blob_lookup_bounded(&b, m->p->repo, id,
	                                   TIER_MAX_NODE_BLOB, "a node")) < 0)
		return bad_snapshot(m, tier_error_last());
	rc = tier_node_decode(&n, tier_vault_keys(m->p->v),
	                      git_blob_rawcontent(b),
	                      (size_t)git_blob_rawsize(b));
	git_blob_free(b);
	if (rc < 0)
		return bad_snapshot(m, tier_error_last());
	for (size_t i = 0; i < n.nchunks && rc >= 0; i++)
		rc = tier_spillset_add(m->p->live, n.chunks[i].id, NULL);
	tier_node_dispose(&n);
	return rc < 0 ? rc : 0;
}

static int mark_tree(struct mark *m, const git_oid *id)
{
	git_tree *t = NULL;
	int rc;
	if (m->depth >= MARK_MAX_DEPTH)
		return bad_snapshot(m, "nested too deep");
	if ((rc = tier_tree_lookup_bounded(&t, m->p->repo, id,
	                                   "a snapshot tree")) < 0)
		return bad_snapshot(m, tier_error_last());
	m->depth++;
	for (size_t i = 0; i < git_tree_entrycount(t) && rc >= 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const git_oid *eid = git_tree_entry_id(e);
		/* a subtree or node met before (an unchanged directory of an
		 * older revision) names nothing new */
		if ((rc = tier_spillset_add(m->seen, eid->id, NULL)) <= 0)
			continue;
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
			rc = mark_tree(m, eid);
		else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
			rc = mark_node(m, eid);
		else
			rc = bad_snapshot(m,
			                  "an entry is neither tree nor blob");
	}
	m->depth--;
	git_tree_free(t);
	return rc < 0 ? rc : 0;
}

static int mark_revision(struct mark *m, const git_oid *commit)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	git_oid root;
	int rc;
	if ((rc = tier_log_commit_lookup(&c, m->p->repo, commit)) < 0)
		return rc;
	rc = tier_tree_lookup_bounded(&t, m->p->repo, git_commit_tree_id(c),
	                              "the tree of a log entry");
	git_commit_free(c);
	if (rc < 0)
		return bad_snapshot(m, tier_error_last());
	if (tier_snap_part(&root, t, TIER_SNAP_ROOT) == 0 &&
	    (rc = tier_spillset_add(m->seen, root.id, NULL)) > 0)
		rc = mark_tree(m, &root);
	tier_error_clear();
	git_tree_free(t);
	return rc < 0 ? rc : 0;
}

int tier_prune_mark(struct prune *p)
{
	tier_forgotten *f = NULL;
	tier_commit_info ci;
	struct mark m = {p, NULL, 0, 0};
	git_oid cur;
	uint64_t total = 0;
	int rc;

	if ((rc = tier_vault_forgotten(&f, p->v)) < 0)
		return rc;
	if ((rc = tier_spillset_new(&m.seen, GIT_OID_RAWSZ, 0, NULL, 0)) < 0)
		goto out;
	if ((rc = tier_commit_info_read(&ci, p->repo, &p->head)) < 0)
		goto out;
	total = ci.revision;
	git_oid_cpy(&cur, &p->head);
	for (;;) {
		if ((rc = tier_commit_info_read(&ci, p->repo, &cur)) < 0)
			break;
		if (!strcmp(ci.op, "push") &&
		    !tier_forgotten_by(f, ci.revision)) {
			m.rev = ci.revision;
			if ((rc = mark_revision(&m, &cur)) < 0)
				break;
			p->rep->revisions_kept++;
		}
		if ((rc = tier_prune_progress(p, TIER_PRUNE_MARK,
		                              total - ci.revision + 1, total)) <
		    0)
			break;
		if ((rc = tier_log_first_parent(&cur, p->repo, &cur)) <= 0)
			break;
	}
	p->rep->chunks_live = tier_spillset_count(p->live);
	size_t mem =
	        tier_spillset_memory(p->live) + tier_spillset_memory(m.seen);
	if (mem > p->rep->peak_memory)
		p->rep->peak_memory = mem;
out:
	tier_spillset_free(m.seen);
	tier_forgotten_free(f);
	return rc < 0 ? rc : 0;
}

/* ---- which packs an entry stopped naming ------------------------------- */

static int commit_tree(git_tree **out, git_repository *repo, const git_oid *c)
{
	git_commit *cm = NULL;
	int rc;
	*out = NULL;
	if (!c)
		return 0;
	if ((rc = tier_log_commit_lookup(&cm, repo, c)) < 0)
		return rc;
	rc = tier_tree_lookup_bounded(out, repo, git_commit_tree_id(cm),
	                              "the tree of a log entry");
	git_commit_free(cm);
	return rc;
}

int tier_prune_dropped(unsigned char (**out)[TIER_HASH_LEN], size_t *n,
                       git_repository *repo, const git_oid *from,
                       const git_oid *to)
{
	git_tree *a = NULL, *b = NULL;
	tier_cidx_pack *pa = NULL, *pb = NULL;
	size_t na = 0, nb = 0, k = 0;
	int rc;
	*out = NULL;
	*n = 0;
	if ((rc = commit_tree(&a, repo, from)) < 0 ||
	    (rc = commit_tree(&b, repo, to)) < 0 ||
	    (rc = tier_snap_index_list(&pa, &na, repo, a)) < 0 ||
	    (rc = tier_snap_index_list(&pb, &nb, repo, b)) < 0)
		goto done;
	if (!(*out = tier_calloc(na ? na : 1, TIER_HASH_LEN))) {
		rc = TIER_ERROR;
		goto done;
	}
	/* both sorted: one merge */
	for (size_t i = 0, j = 0; i < na; i++) {
		while (j < nb && memcmp(pb[j].id, pa[i].id, TIER_HASH_LEN) < 0)
			j++;
		if (j < nb && !memcmp(pb[j].id, pa[i].id, TIER_HASH_LEN))
			continue;
		memcpy((*out)[k++], pa[i].id, TIER_HASH_LEN);
	}
	*n = k;
done:
	free(pa);
	free(pb);
	git_tree_free(a);
	git_tree_free(b);
	return rc < 0 ? rc : 0;
}

int tier_prune_between(git_repository *repo, const git_oid *newer,
                       const git_oid *older)
{
	tier_commit_info ci;
	git_oid cur;
	int rc;
	git_oid_cpy(&cur, newer);
	while (!older || !git_oid_equal(&cur, older)) {
		if ((rc = tier_commit_info_read(&ci, repo, &cur)) < 0)
			return rc;
		if (!strcmp(ci.op, "prune"))
			return 1;
		if ((rc = tier_log_first_parent(&cur, repo, &cur)) < 0)
			return rc;
		if (rc == 0)
			break;
	}
	return 0;
}
