/*
 * What a restore reads: the selected paths (normalized, those under another
 * dropped), the revision that holds them (-r N, else the newest holding
 * every path), and the tiers that hold that revision.
 */
#include "prune_int.h"
#include "restore_int.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "objread.h"
#include "tier/forget.h"
#include "util/error.h"

/* ---- selection ------------------------------------------------------- */

/* A snapshot path as components joined by '/', without leading "/", "." or "//". */
static int normalize(tier_buf *out, const char *path)
{
	const char *p = path;
	tier_buf_clear(out);
	if (tier_buf_grow(out, 0) < 0)
		return TIER_ERROR;
	while (*p) {
		const char *s = p;
		while (*p && *p != '/')
			p++;
		size_t n = (size_t)(p - s);
		if (*p)
			p++;
		if (n == 0 || (n == 1 && s[0] == '.'))
			continue;
		if (n == 2 && s[0] == '.' && s[1] == '.')
			return tier_error_set(TIER_EUSAGE,
			                      "path '%s' must not contain '..'",
			                      tier_restore_show(path));
		if ((out->size && tier_buf_putc(out, '/') < 0) ||
		    tier_buf_put(out, s, n) < 0)
			return TIER_ERROR;
	}
	return 0;
}

/* Whether a (normalized) is b or an ancestor of b. */
static int covers(const char *a, const char *b)
{
	size_t n = strlen(a);
	if (n == 0)
		return 1;
	return !strncmp(a, b, n) && (b[n] == '\0' || b[n] == '/');
}

/* The next component of a selected path: [*s, *p) and *p moved past it. */
int tier_restore_next_component(tier_buf *comp, tier_buf *enc, const char **p,
                                const tier_keys *keys)
{
	const char *s = *p;
	while (**p && **p != '/')
		(*p)++;
	tier_buf_clear(comp);
	if (tier_buf_put(comp, s, (size_t)(*p - s)) < 0)
		return TIER_ERROR;
	return tier_snap_name_encode(enc, keys, comp->ptr, comp->size);
}

/* Whether root holds the selected path sel (1) or not (0). */
static int holds(struct restore_run *r, const git_tree *root, const char *sel)
{
	tier_buf comp = TIER_BUF_INIT, enc = TIER_BUF_INIT;
	git_tree *tree = NULL, *next = NULL;
	const char *p = sel;
	int rc;

	if (!root)
		return 0;
	if ((rc = git_tree_dup(&tree, (git_tree *)root)) < 0) {
		rc = tier_error_from_git(rc, "cannot read the snapshot");
		goto out;
	}
	for (;;) {
		if ((rc = tier_restore_next_component(
		             &comp, &enc, &p, tier_vault_keys(r->v))) < 0)
			goto out;
		const git_tree_entry *e = git_tree_entry_byname(tree, enc.ptr);
		if (!e || (*p && git_tree_entry_type(e) != GIT_OBJECT_TREE)) {
			rc = 0;
			goto out;
		}
		if (!*p) {
			rc = 1;
			goto out;
		}
		p++;
		if ((rc = tier_tree_lookup_bounded(&next, r->repo,
		                                   git_tree_entry_id(e),
		                                   "a snapshot directory")) < 0)
			goto out;
		git_tree_free(tree);
		tree = next;
		next = NULL;
	}
out:
	git_tree_free(tree);
	tier_buf_dispose(&comp);
	tier_buf_dispose(&enc);
	return rc;
}

/* The selection: every path, ancestors of others kept and their descendants dropped. */
int tier_restore_selection(tier_vec *out, const tier_restore_options *o)
{
	tier_buf b = TIER_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < o->npaths && rc == 0; i++) {
		char *s;
		if ((rc = normalize(&b, o->paths[i])) < 0)
			break;
		if (!(s = tier_buf_detach(&b)) || tier_vec_push(out, s) < 0) {
			free(s);
			rc = TIER_ERROR;
		}
	}
	tier_buf_dispose(&b);
	if (rc < 0)
		return rc;
	/* drop a path covered by another (or equal to an earlier one) */
	size_t k = 0;
	for (size_t i = 0; i < out->length; i++) {
		int drop = 0;
		for (size_t j = 0; j < out->length && !drop; j++) {
			if (i == j || !out->ptr[j])
				continue;
			if (covers(out->ptr[j], out->ptr[i]) &&
			    (strcmp(out->ptr[j], out->ptr[i]) != 0 || j < i))
				drop = 1;
		}
		if (drop) {
			free(out->ptr[i]);
			out->ptr[i] = NULL;
		}
	}
	for (size_t i = 0; i < out->length; i++)
		if (out->ptr[i])
			out->ptr[k++] = out->ptr[i];
	out->length = k;
	return 0;
}

/* ---- revision and tiers -------------------------------------------- */

/* The revision tree and snapshot (NULL: none, revision 1) of a commit. */
int tier_restore_rev_trees(struct restore_run *r, const git_oid *cid,
                           uint64_t rev, git_tree **rev_tree, git_tree **root)
{
	git_commit *c = NULL;
	git_oid rid;
	int rc;

	*rev_tree = *root = NULL;
	if ((rc = tier_object_check(NULL, r->repo, cid, GIT_OBJECT_COMMIT,
	                            TIER_MAX_SMALL_OBJECT, "a revision")) < 0)
		return tier_error_prefix("revision %" PRIu64, rev);
	if ((rc = git_commit_lookup(&c, r->repo, cid)) < 0)
		return tier_error_from_git(rc, "cannot read revision %" PRIu64,
		                           rev);
	rc = tier_tree_lookup_bounded(rev_tree, r->repo, git_commit_tree_id(c),
	                              "a revision tree");
	git_commit_free(c);
	if (rc < 0)
		return tier_error_prefix("revision %" PRIu64, rev);
	if (tier_snap_part(&rid, *rev_tree, TIER_SNAP_ROOT) == 0 &&
	    (rc = tier_tree_lookup_bounded(root, r->repo, &rid, "a snapshot")) <
	            0) {
		git_tree_free(*rev_tree);
		*rev_tree = NULL;
		return tier_error_prefix("revision %" PRIu64, rev);
	}
	return 0;
}

/* One step back along the first-parent chain: 1, or 0 at revision 1. */
static int rev_parent(struct restore_run *r, git_oid *id, tier_commit_info *ci)
{
	git_commit *c = NULL;
	uint64_t was = ci->revision;
	int rc;
	if ((rc = git_commit_lookup(&c, r->repo, id)) < 0)
		return tier_error_from_git(rc, "cannot read revision %" PRIu64,
		                           was);
	if (git_commit_parentcount(c) == 0) {
		git_commit_free(c);
		return 0;
	}
	git_oid_cpy(id, git_commit_parent_id(c, 0));
	git_commit_free(c);
	if ((rc = tier_commit_info_read(ci, r->repo, id)) < 0)
		return rc;
	if (ci->revision >= was)
		return tier_error_set(TIER_ECORRUPT,
		                      "the log goes from revision %" PRIu64
		                      " to %" PRIu64 " backwards",
		                      was, ci->revision);
	return 1;
}

/*
 * The newest revision that holds every path of sel[from..to) (*rev = 0:
 * none), *id its commit.  missing: the first path the newest revision
 * (the head) lacks.
 */
static int newest_holding(struct restore_run *r, const tier_vec *sel,
                          size_t from, size_t to, git_oid *id, uint64_t *rev)
{
	tier_commit_info ci;
	git_oid at;
	int rc;

	*rev = 0;
	if ((rc = tier_vault_best_head(r->v, &at, NULL)) < 0 ||
	    (rc = tier_commit_info_read(&ci, r->repo, &at)) < 0)
		return rc;
	for (;;) {
		git_tree *rt = NULL, *root = NULL;
		int all = 1;
		if ((rc = tier_restore_rev_trees(r, &at, ci.revision, &rt,
		                                 &root)) < 0)
			return rc;
		for (size_t i = from; i < to && all; i++) {
			if ((rc = holds(r, root, sel->ptr[i])) < 0)
				break;
			all = rc == 1;
		}
		git_tree_free(root);
		git_tree_free(rt);
		if (rc < 0)
			return rc;
		if (all) {
			*rev = ci.revision;
			git_oid_cpy(id, &at);
			return 0;
		}
		if ((rc = rev_parent(r, &at, &ci)) <= 0)
			return rc;
	}
}

/*
 * The error for a selected path that revision rev lacks, naming the newest
 * revision that holds it (issue 13: "which revision has it?").
 */
static int not_in(struct restore_run *r, const tier_vec *sel, size_t i,
                  uint64_t rev)
{
	git_oid id;
	uint64_t has = 0;
	int rc = newest_holding(r, sel, i, i + 1, &id, &has);
	tier_buf name = TIER_BUF_INIT;
	if (rc < 0)
		return rc;
	tier_buf_printf(&name, "/%s", (const char *)sel->ptr[i]);
	if (!has)
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "'%s' is not in revision %" PRIu64
		                    " (nor in any other)",
		                    tier_restore_show(tier_buf_cstr(&name)),
		                    rev);
	else if (has == rev)
		/* it is there, but not together with the other paths */
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "no revision holds all of the paths given "
		                    "('%s' is in revision %" PRIu64 ")",
		                    tier_restore_show(tier_buf_cstr(&name)),
		                    has);
	else
		rc = tier_error_set(
		        TIER_ENOTFOUND,
		        "'%s' is not in revision %" PRIu64 " (revision %" PRIu64
		        " is the newest that holds it)",
		        tier_restore_show(tier_buf_cstr(&name)), rev, has);
	tier_buf_dispose(&name);
	return rc;
}

/* No revision holds every path: name the first one the latest lacks. */
static int report_missing(struct restore_run *r, const tier_vec *sel)
{
	git_tree *rt = NULL, *root = NULL;
	git_oid id;
	size_t i = 0;
	uint64_t head = r->stats->latest;
	int rc;
	if ((rc = tier_vault_best_head(r->v, &id, NULL)) < 0 ||
	    (rc = tier_restore_rev_trees(r, &id, head, &rt, &root)) < 0)
		return rc;
	/* the first path the latest revision lacks */
	for (i = 0; i < sel->length; i++)
		if ((rc = holds(r, root, sel->ptr[i])) != 1)
			break;
	git_tree_free(root);
	git_tree_free(rt);
	if (rc < 0)
		return rc;
	return not_in(r, sel, i < sel->length ? i : 0, head);
}

/* No -r, paths: the newest revision that holds them all, from head id. */
static int newest_with_paths(struct restore_run *r, const tier_vec *sel,
                             git_oid *id, git_oid *out)
{
	uint64_t rev;
	int rc;
	if ((rc = newest_holding(r, sel, 0, sel->length, id, &rev)) < 0)
		return rc;
	if (!rev)
		return report_missing(r, sel);
	r->rev = rev;
	git_oid_cpy(out, id);
	return 0;
}

/* -r N: from the head (id, ci) back along first parents to revision N. */
static int walk_back(struct restore_run *r, uint64_t want, git_oid *id,
                     tier_commit_info *ci)
{
	int rc;
	while (want && ci->revision != want) {
		uint64_t was = ci->revision;
		if ((rc = rev_parent(r, id, ci)) < 0)
			return rc;
		if (rc == 0)
			return tier_error_set(
			        TIER_ENOTFOUND,
			        "revision %" PRIu64
			        " does not exist (latest is %" PRIu64 ")",
			        want, r->stats->latest);
		if (ci->revision < want)
			return tier_error_set(TIER_ECORRUPT,
			                      "the log skips revision %" PRIu64
			                      " (found %" PRIu64
			                      " after %" PRIu64 ")",
			                      want, ci->revision, was);
	}
	return 0;
}

/* -r N, paths: each of them is in revision N (commit id). */
static int check_paths(struct restore_run *r, const tier_vec *sel,
                       const git_oid *id)
{
	git_tree *rt = NULL, *root = NULL;
	int rc;
	if ((rc = tier_restore_rev_trees(r, id, r->rev, &rt, &root)) < 0)
		return rc;
	for (size_t i = 0; i < sel->length && rc == 0; i++) {
		if ((rc = holds(r, root, sel->ptr[i])) == 0)
			rc = not_in(r, sel, i, r->rev);
		else if (rc == 1)
			rc = 0;
	}
	git_tree_free(root);
	git_tree_free(rt);
	return rc;
}

/*
 * The revision to restore: -r N, else the newest one that holds every
 * selected path (two jobs backing up different paths take turns at the
 * head: "latest" is the latest of the paths asked for), else the head.
 */
int tier_restore_find_revision(struct restore_run *r, const tier_vec *sel,
                               int whole, git_oid *out)
{
	tier_commit_info ci;
	git_oid id;
	uint64_t want = r->o->revision;
	int rc;

	if ((rc = tier_vault_best_head(r->v, &id, NULL)) < 0)
		return rc;
	if ((rc = tier_commit_info_read(&ci, r->repo, &id)) < 0)
		return rc;
	r->stats->latest = ci.revision;
	if (want > ci.revision)
		return tier_error_set(TIER_ENOTFOUND,
		                      "revision %" PRIu64
		                      " does not exist (latest is %" PRIu64 ")",
		                      want, ci.revision);
	if (!want && !whole && sel->length) {
		if ((rc = newest_with_paths(r, sel, &id, out)) < 0)
			return rc;
		return r->rev == ci.revision
		               ? 0
		               : tier_vault_check_not_forgotten(r->v, r->rev);
	}
	if ((rc = walk_back(r, want, &id, &ci)) < 0)
		return rc;
	r->rev = ci.revision;
	git_oid_cpy(out, &id);
	if (want && want != r->stats->latest &&
	    (rc = tier_vault_check_not_forgotten(r->v, want)) < 0)
		return rc;
	if (want && !whole && sel->length)
		return check_paths(r, sel, &id);
	return 0;
}

/* Tier i if it can serve revision `commit` (online, good, holding it):
 * its head into *head. */
static int can_serve(struct restore_run *r, size_t i, const git_oid *commit,
                     git_oid *head)
{
	const tier_info *in = tier_vault_tier_info(r->v, i);
	/* tiers away or unusable at open are in the vault's tier info
	 * (tools report them); one another installation wrote holds the
	 * vault all the same (R8 guards writes) */
	if (!in->online ||
	    (in->state != TIER_STATE_OK && in->state != TIER_STATE_FOREIGN) ||
	    !in->has_log || in->revision < r->rev ||
	    git_oid_fromstr(head, in->head) < 0)
		return 0;
	return git_oid_equal(head, commit) ||
	       git_graph_descendant_of(r->repo, head, commit) == 1;
}

/*
 * Where the chunks are, and the tiers to read them from.  The map is the
 * index/ of the newest head among the tiers that can serve the revision,
 * not the revision's own: a prune since then rewrote or deleted packs
 * that its own index still names.  A tier whose head is below a prune
 * the newest head has seen holds another pack set: it is not read.
 */
int tier_restore_open_data(struct restore_run *r, const git_oid *commit)
{
	size_t n = tier_vault_tier_count(r->v), best = n, usable = 0;
	uint64_t best_rev = 0;
	git_oid head, best_head;
	git_commit *c = NULL;
	git_tree *t = NULL;
	int rc;

	for (size_t i = 0; i < n; i++)
		if (can_serve(r, i, commit, &head) &&
		    (best == n ||
		     tier_vault_tier_info(r->v, i)->revision > best_rev)) {
			best = i;
			best_rev = tier_vault_tier_info(r->v, i)->revision;
			git_oid_cpy(&best_head, &head);
		}
	if (best == n)
		return tier_error_set(TIER_EOFFLINE,
		                      "no online tier holds revision %" PRIu64,
		                      r->rev);
	if ((rc = tier_log_commit_lookup(&c, r->repo, &best_head)) < 0)
		return rc;
	rc = tier_tree_lookup_bounded(&t, r->repo, git_commit_tree_id(c),
	                              "the tree of a tier's head");
	git_commit_free(c);
	if (rc < 0)
		return rc;
	rc = tier_chunkmap_load(&r->map, r->repo, t, tier_vault_state_dir(r->v),
	                        tier_vault_keys(r->v));
	git_tree_free(t);
	if (rc < 0)
		return rc;
	size_t npacks = tier_chunkmap_pack_count(r->map);
	if (!(r->t = tier_calloc(n ? n : 1, sizeof(*r->t))))
		return TIER_ERROR;
	r->ntiers = n;
	for (size_t i = 0; i < n; i++) {
		struct rtier *rt = &r->t[i];
		rt->loc = tier_vault_location(r->v, i);
		rt->name = tier_vault_tier_info(r->v, i)->name;
		if (!(rt->bad = tier_calloc(npacks ? npacks : 1, 1)))
			return TIER_ERROR;
		if (!can_serve(r, i, commit, &head))
			continue;
		if (!git_oid_equal(&head, &best_head) &&
		    (rc = tier_prune_between(r->repo, &best_head, &head)) !=
		            0) {
			if (rc < 0)
				tier_error_clear();
			continue;
		}
		rt->usable = 1;
		usable++;
	}
	return usable ? 0
	              : tier_error_set(TIER_EOFFLINE,
	                               "no online tier holds revision %" PRIu64,
	                               r->rev);
}
