/*
 * --include / --exclude of a restore: which entries of the selection are
 * restored.  The patterns sit behind struct tier_restore_matcher, so that
 * the shared gitignore matcher (exclude.c, issue 18) can replace this
 * first one, which is fnmatch(3) with the gitignore rules it can express:
 * a trailing '/' for directories only, a pattern without '/' on the name,
 * one with '/' on the whole path from the snapshot root ('*' not crossing
 * '/'), "**" crossing directories.
 */
#include "restore_int.h"

#include <fnmatch.h>
#include <stdlib.h>
#include <string.h>

#include "objread.h"
#include "util/error.h"

/* ---- the fnmatch matcher ----------------------------------------------- */

struct pat {
	char *glob;   /* without leading '/' nor trailing '/' */
	char *flat;   /* glob with every "**" + "/" removed, or NULL */
	int dir_only; /* it ended in '/' */
	int anchored; /* it holds a '/': on the whole path */
	int deep;     /* it holds "**": '*' crosses '/' */
};

struct fnm_matcher {
	struct tier_restore_matcher base;
	struct pat *p;
	size_t n;
};

static int pat_match(const struct pat *p, const char *snap, int is_dir)
{
	const char *rel = snap[0] == '/' ? snap + 1 : snap;
	if (p->dir_only && !is_dir)
		return 0;
	if (!p->anchored) {
		const char *name = strrchr(rel, '/');
		return fnmatch(p->glob, name ? name + 1 : rel, 0) == 0;
	}
	if (!p->deep)
		return fnmatch(p->glob, rel, FNM_PATHNAME) == 0;
	return fnmatch(p->glob, rel, 0) == 0 ||
	       (p->flat && fnmatch(p->flat, rel, 0) == 0);
}

static int fnm_match(const struct tier_restore_matcher *m, const char *snap,
                     int is_dir)
{
	const struct fnm_matcher *f = (const struct fnm_matcher *)m;
	for (size_t i = 0; i < f->n; i++)
		if (pat_match(&f->p[i], snap, is_dir))
			return 1;
	return 0;
}

/* Whether the result for snap depends on whether it is a directory. */
static int fnm_dir_matters(const struct tier_restore_matcher *m)
{
	const struct fnm_matcher *f = (const struct fnm_matcher *)m;
	for (size_t i = 0; i < f->n; i++)
		if (f->p[i].dir_only)
			return 1;
	return 0;
}

static void fnm_free(struct tier_restore_matcher *m)
{
	struct fnm_matcher *f = (struct fnm_matcher *)m;
	for (size_t i = 0; f && i < f->n; i++) {
		free(f->p[i].glob);
		free(f->p[i].flat);
	}
	if (f)
		free(f->p);
	free(f);
}

/* The glob with each "**" and the '/' after it dropped: "**" as no directory. */
static char *flatten(const char *g)
{
	char *out = tier_strdup(g), *at;
	if (!out)
		return NULL;
	while ((at = strstr(out, "**/")) != NULL)
		memmove(at, at + 3, strlen(at + 3) + 1);
	return out;
}

static int pat_compile(struct pat *p, const char *src, const char *what)
{
	size_t len = strlen(src);
	const char *s = src;
	memset(p, 0, sizeof(*p));
	while (len && s[len - 1] == '/') {
		len--;
		p->dir_only = 1;
	}
	while (len && *s == '/') {
		s++;
		len--;
		p->anchored = 1;
	}
	if (!len)
		return tier_error_set(TIER_EUSAGE,
		                      "%s pattern '%s' matches nothing", what,
		                      tier_restore_show(src));
	if (!(p->glob = tier_strndup(s, len)))
		return TIER_ERROR;
	if (strchr(p->glob, '/'))
		p->anchored = 1;
	if (strstr(p->glob, "**")) {
		p->deep = 1;
		if (strstr(p->glob, "**/") && !(p->flat = flatten(p->glob)))
			return TIER_ERROR;
	}
	return 0;
}

int tier_restore_matcher_new(struct tier_restore_matcher **out,
                             const char *const *pats, size_t n,
                             const char *what)
{
	struct fnm_matcher *f;
	int rc;
	*out = NULL;
	if (!n)
		return 0;
	if (!pats)
		return tier_error_set(TIER_EUSAGE,
		                      "restore options count %s patterns but "
		                      "give none",
		                      what);
	if (!(f = tier_calloc(1, sizeof(*f))) ||
	    !(f->p = tier_calloc(n, sizeof(*f->p)))) {
		free(f);
		return TIER_ERROR;
	}
	f->base.match = fnm_match;
	f->base.dir_matters = fnm_dir_matters;
	f->base.free = fnm_free;
	for (size_t i = 0; i < n; i++) {
		if (!pats[i])
			rc = tier_error_set(TIER_EUSAGE, "a %s pattern is NULL",
			                    what);
		else
			rc = pat_compile(&f->p[i], pats[i], what);
		f->n = i + 1;
		if (rc < 0) {
			fnm_free(&f->base);
			return rc;
		}
	}
	*out = &f->base;
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
	if (tier_node_decode(&n, git_blob_rawcontent(blob),
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
	    tier_snap_tree_check(t) < 0) {
		/* taken: the walk reports the damage */
		git_tree_free(t);
		tier_error_clear();
		return 1;
	}
	for (size_t i = 0; i < git_tree_entrycount(t) && !found; i++) {
		const git_tree_entry *c = git_tree_entry_byindex(t, i);
		int is_dir = git_tree_entry_type(c) == GIT_OBJECT_TREE ? 1 : -1;
		if (!strcmp(git_tree_entry_name(c), TIER_SNAP_DIRMETA) ||
		    tier_snap_name_decode(&name, git_tree_entry_name(c)) < 0)
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
