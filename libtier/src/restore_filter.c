/*
 * --include / --exclude of a restore: which entries of the selection are
 * restored.  The patterns sit behind struct tier_restore_matcher; the one
 * matcher is tier-push's (exclude.c, docs/excludes.md), so that a pattern
 * means the same in both tools: gitignore-style, matched against the
 * snapshot path without its leading '/' (an anchored pattern is an
 * absolute path, as tier-ls shows it) and, for an anchored pattern, also
 * against the path below each source path the revision records, as
 * tier-push matched it ("/build" of a push of /home/u/src).
 */
#include "restore_int.h"

#include <stdlib.h>
#include <string.h>

#include "exclude.h"
#include "objread.h"
#include "util/error.h"

/* ---- the shared matcher ------------------------------------------------ */

struct ex_matcher {
	struct tier_restore_matcher base;
	tier_exclude *ex;
};

static int ex_match(const struct tier_restore_matcher *m, const char *snap,
                    int is_dir)
{
	const struct ex_matcher *x = (const struct ex_matcher *)m;
	const char *alt[8];
	size_t n = 0;
	alt[n++] = snap + strspn(snap, "/");
	/* "/build" of a push of /home/u/src: /home/u/src/build too */
	for (size_t i = 0; tier_exclude_anchored(x->ex) && i < m->nroots &&
	                   n < sizeof(alt) / sizeof(alt[0]);
	     i++) {
		size_t len = strlen(m->roots[i]);
		if (len > 1 && !strncmp(snap, m->roots[i], len) &&
		    snap[len] == '/')
			alt[n++] = snap + len + 1;
	}
	return tier_exclude_match_alt(x->ex, alt, n, is_dir);
}

/* Whether the result for snap depends on whether it is a directory. */
static int ex_dir_matters(const struct tier_restore_matcher *m)
{
	return tier_exclude_dir_only(((const struct ex_matcher *)m)->ex);
}

static void ex_free(struct tier_restore_matcher *m)
{
	struct ex_matcher *x = (struct ex_matcher *)m;
	if (x)
		tier_exclude_free(x->ex);
	free(x);
}

int tier_restore_matcher_new(struct tier_restore_matcher **out,
                             const char *const *pats, size_t n,
                             const char *what)
{
	struct ex_matcher *x;
	int rc = 0;
	*out = NULL;
	if (!n)
		return 0;
	if (!pats)
		return tier_error_set(TIER_EUSAGE,
		                      "restore options count %s patterns but "
		                      "give none",
		                      what);
	if (!(x = tier_calloc(1, sizeof(*x))))
		return TIER_ERROR;
	x->base.match = ex_match;
	x->base.dir_matters = ex_dir_matters;
	x->base.free = ex_free;
	if ((rc = tier_exclude_new(&x->ex)) == 0)
		tier_exclude_set_what(x->ex, what);
	for (size_t i = 0; rc == 0 && i < n; i++)
		rc = pats[i] ? tier_exclude_add(x->ex, pats[i])
		             : tier_error_set(TIER_EUSAGE,
		                              "a %s pattern is NULL", what);
	if (rc < 0) {
		ex_free(&x->base);
		return rc;
	}
	*out = &x->base;
	return 0;
}

void tier_restore_matcher_free(struct tier_restore_matcher *m)
{
	if (m)
		m->free(m);
}

/* ---- the decision, per entry of the walk ------------------------------- */

/* Whether a snapshot blob is a directory (an empty one is a node blob). */
static int blob_is_dir(struct restore_run *r, const git_tree_entry *e)
{
	git_blob *blob = NULL;
	tier_node n;
	int is_dir = 0;
	if (tier_blob_lookup_bounded(&blob, r->repo, git_tree_entry_id(e),
	                             TIER_MAX_NODE_BLOB, "a node blob") < 0) {
		tier_error_clear(); /* the walk reports it */
		return 0;
	}
	if (tier_node_decode(&n, tier_vault_keys(r->v),
	                     git_blob_rawcontent(blob),
	                     (size_t)git_blob_rawsize(blob)) == 0) {
		is_dir = n.type == TIER_NODE_DIR;
		tier_node_dispose(&n);
	} else {
		tier_error_clear();
	}
	git_blob_free(blob);
	return is_dir;
}

/* m matches snap, reading whether a blob is a directory only when it counts. */
static int matches(struct restore_run *r, const struct tier_restore_matcher *m,
                   const git_tree_entry *e, const char *snap, int *is_dir)
{
	if (!m)
		return 0;
	if (*is_dir < 0 && m->dir_matters(m))
		*is_dir = blob_is_dir(r, e);
	return m->match(m, snap, *is_dir > 0);
}

/* Whether something below tree e (at snap) matches an include pattern. */
static int holds_included(struct restore_run *r, const git_tree_entry *e,
                          tier_buf *snap)
{
	git_tree *t = NULL;
	tier_buf name = TIER_BUF_INIT;
	size_t base = snap->size;
	int found = 0;
	if (tier_tree_lookup_bounded(&t, r->repo, git_tree_entry_id(e),
	                             "a snapshot directory") < 0 ||
	    tier_snap_tree_check(t, tier_vault_keys(r->v)) < 0) {
		/* taken: the walk reports the damage */
		git_tree_free(t);
		tier_error_clear();
		return 1;
	}
	for (size_t i = 0; i < git_tree_entrycount(t) && !found; i++) {
		const git_tree_entry *c = git_tree_entry_byindex(t, i);
		int is_dir = git_tree_entry_type(c) == GIT_OBJECT_TREE ? 1 : -1;
		if (!strcmp(git_tree_entry_name(c), TIER_SNAP_DIRMETA) ||
		    tier_snap_name_decode(&name, tier_vault_keys(r->v),
		                          git_tree_entry_name(c)) < 0)
			continue;
		if (tier_buf_putc(snap, '/') < 0 ||
		    tier_buf_put(snap, name.ptr, name.size) < 0) {
			found = 1; /* out of memory: the walk finds out */
			break;
		}
		if (!matches(r, r->exc, c, snap->ptr, &is_dir)) {
			if (matches(r, r->inc, c, snap->ptr, &is_dir))
				found = 1;
			else if (is_dir == 1)
				found = holds_included(r, c, snap);
		}
		snap->size = base;
		snap->ptr[base] = '\0';
	}
	tier_buf_dispose(&name);
	git_tree_free(t);
	return found;
}

int tier_restore_filter_take(struct restore_run *r, const git_tree_entry *e,
                             const char *snap, int *all_below)
{
	int is_dir = git_tree_entry_type(e) == GIT_OBJECT_TREE ? 1 : -1;
	*all_below = 0;
	if (matches(r, r->exc, e, snap, &is_dir))
		return 0;
	if (!r->inc || r->in_included)
		return 1;
	if (matches(r, r->inc, e, snap, &is_dir)) {
		*all_below = 1;
		return 1;
	}
	if (git_tree_entry_type(e) != GIT_OBJECT_TREE)
		return 0;
	tier_buf b = TIER_BUF_INIT;
	if (tier_buf_sets(&b, snap) < 0)
		return TIER_ERROR;
	int found = holds_included(r, e, &b);
	tier_buf_dispose(&b);
	return found;
}
