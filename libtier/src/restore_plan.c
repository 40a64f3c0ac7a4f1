/*
 * The walk over the snapshot (main thread): every directory checked
 * before its entries are used, each entry turned into what apply does or
 * into pieces of read jobs; the conflict check before anything is
 * written; the way down to a selected path.
 */
#include "restore_int.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "objread.h"
#include "util/error.h"

static void buf_truncate(tier_buf *b, size_t len)
{
	if (b->ptr) {
		b->size = len;
		b->ptr[len] = '\0';
	}
}

/* ---- reading the snapshot (size-checked, names checked) ---------------- */

const char *tier_restore_snap_of(struct restore_run *r, const tier_buf *path)
{
	const char *s = path->ptr + r->dest.size;
	return *s ? s : "/";
}

static int read_node(struct restore_run *r, tier_node *out, const git_oid *id,
                     const char *snap)
{
	git_blob *blob = NULL;
	tier_buf what = TIER_BUF_INIT;
	int rc;
	tier_buf_printf(&what, "the metadata of '%s'", tier_restore_show(snap));
	rc = tier_blob_lookup_bounded(&blob, r->repo, id, TIER_MAX_NODE_BLOB,
	                              tier_buf_cstr(&what));
	tier_buf_dispose(&what);
	if (rc < 0)
		return rc;
	rc = tier_node_decode(out, tier_vault_keys(r->v),
	                      git_blob_rawcontent(blob),
	                      (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	if (rc < 0)
		tier_error_prefix("'%s'", tier_restore_show(snap));
	return rc;
}

/*
 * A snapshot directory from the tier, size-checked, and every entry name
 * checked (one component, canonical, no duplicates) before any is used.
 */
static int load_tree(struct restore_run *r, const git_oid *id, const char *snap,
                     git_tree **out)
{
	tier_buf what = TIER_BUF_INIT;
	int rc;
	*out = NULL;
	tier_buf_printf(&what, "directory '%s'", tier_restore_show(snap));
	rc = tier_tree_lookup_bounded(out, r->repo, id, tier_buf_cstr(&what));
	tier_buf_dispose(&what);
	if (rc == 0 &&
	    (rc = tier_snap_tree_check(*out, tier_vault_keys(r->v))) < 0) {
		tier_error_prefix("directory '%s' not restored",
		                  tier_restore_show(snap));
		git_tree_free(*out);
		*out = NULL;
	}
	return rc;
}

/* The metadata of a snapshot directory (its "%" entry); 0 with *has = 0 when none. */
static int dir_meta(struct restore_run *r, const git_tree *tree, tier_node *out,
                    int *has, const char *snap)
{
	const git_tree_entry *e =
	        git_tree_entry_byname(tree, TIER_SNAP_DIRMETA);
	*has = 0;
	if (!e || git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	int rc = read_node(r, out, git_tree_entry_id(e), snap);
	if (rc == 0)
		*has = 1;
	return rc;
}

/* ---- planning: the walk over the snapshot ----------------------------- */

/* The walk holds d (d->refs counts it already) / lets go of it. */
void tier_restore_walk_hold(struct restore_run *r)
{
	pthread_mutex_lock(&r->lock);
	r->depth++;
	pthread_mutex_unlock(&r->lock);
}

void tier_restore_walk_drop(struct restore_run *r, struct rdir *d)
{
	pthread_mutex_lock(&r->lock);
	r->depth--;
	pthread_mutex_unlock(&r->lock);
	tier_restore_rdir_release(r, d);
}

/* Directories the walk has left that wait for files.  Caller holds r->lock. */
static size_t pending_dirs(const struct restore_run *r)
{
	/* the walk may hold one directory twice (DEST, for a selected path) */
	return r->open_dirs > r->depth ? r->open_dirs - r->depth : 0;
}

/* Before the walk opens another directory: not too many waiting ones. */
static int dirs_wait(struct restore_run *r)
{
	int rc;
	pthread_mutex_lock(&r->lock);
	int over = pending_dirs(r) >= PENDING_DIRS_MAX;
	pthread_mutex_unlock(&r->lock);
	if (!over)
		return 0;
	/* the files they wait for may be in the job being built */
	if ((rc = tier_restore_flush_job(r)) < 0)
		return rc;
	pthread_mutex_lock(&r->lock);
	while (pending_dirs(r) >= PENDING_DIRS_MAX && !r->abort) {
		tier_restore_wait(r, &r->dir_freed);
		pthread_mutex_unlock(&r->lock);
		tier_restore_progress(r, 0);
		pthread_mutex_lock(&r->lock);
	}
	rc = r->abort ? (r->fatal_code ? r->fatal_code : TIER_EABORTED) : 0;
	pthread_mutex_unlock(&r->lock);
	return rc;
}

/* Where each chunk of n is: in a pack of the vault, of the length n says. */
static int find_chunks(struct restore_run *r, const tier_node *n,
                       const char *snap, tier_chunk_loc **out)
{
	tier_chunk_loc *locs = NULL;
	int rc;

	*out = NULL;
	if (n->nchunks && !(locs = tier_calloc(n->nchunks, sizeof(*locs))))
		return TIER_ERROR;
	for (size_t i = 0; i < n->nchunks; i++) {
		char ch[SHORT_HEX + 1];
		int found =
		        tier_chunkmap_find(r->map, n->chunks[i].id, &locs[i]);
		if (found < 0) {
			free(locs);
			return found;
		}
		if (!found || locs[i].raw_len != n->chunks[i].len) {
			rc = tier_error_set(
			        TIER_ECORRUPT,
			        "cannot restore '%s': chunk %s is %s",
			        tier_restore_show(snap),
			        tier_restore_short_hex(ch, n->chunks[i].id),
			        found ? "not the length the file says"
			              : "in no pack of the vault");
			free(locs);
			return rc;
		}
	}
	*out = locs;
	return 0;
}

static int plan_file(struct restore_run *r, const tier_node *n, struct rdir *d,
                     const char *name, const tier_buf *path)
{
	tier_chunk_loc *locs = NULL;
	struct rfile *f = NULL;
	struct stat st;
	int rc = 0;

	if ((rc = find_chunks(r, n, tier_restore_snap_of(r, path), &locs)) < 0)
		return rc;
	if ((rc = tier_restore_lookup_at(d->fd, name, path->ptr, &st)) < 0)
		goto out;
	if (rc == 1 && tier_restore_keepable(r, n, &st, d->fd, name)) {
		tier_restore_stat_inc(r, &r->stats->kept);
		rc = 0;
		goto out;
	}
	if (rc == 1 && r->o->overwrite == TIER_OVERWRITE_NEVER) {
		tier_restore_stat_inc(r, &r->stats->skipped);
		rc = 0;
		goto out;
	}
	/* a file there is replaced by the rename, a directory before it */
	if (rc == 1 && r->o->overwrite == TIER_OVERWRITE_REFUSE) {
		rc = tier_restore_conflict(path->ptr);
		goto out;
	}
	rc = 0;
	if (!(f = tier_calloc(1, sizeof(*f))) ||
	    !(f->name = tier_strdup(name)) ||
	    !(f->tmp = tier_restore_tmp_name(name)) ||
	    !(f->path = tier_strdup(path->ptr))) {
		rc = TIER_ERROR;
		goto out;
	}
	tier_restore_rdir_ref(r, d);
	f->dir = d;
	f->snap = f->path + r->dest.size;
	f->fd = -1;
	tier_restore_meta_from_node(&f->m, n);
	if (n->nchunks == 0) {
		tier_restore_rfile_finish(r, f);
		f = NULL;
		goto out;
	}
	f->remaining = n->nchunks;
	tier_restore_live_add(r, f);
	/* from here the workers own f: it may be finished before this loop
	 * ends, and a failure stops the run (f waits for pieces never sent) */
	uint64_t off = 0;
	for (size_t i = 0; i < n->nchunks && rc == 0; i++) {
		rc = tier_restore_add_piece(r, f, off, &locs[i]);
		off += locs[i].raw_len;
	}
	f = NULL;
	if (rc < 0)
		tier_restore_set_fatal(r, rc);
out:
	tier_restore_rfile_free(r, f);
	free(locs);
	return rc;
}

int tier_restore_walk_dir(struct restore_run *r, const git_tree *tree,
                          struct rdir *d, tier_buf *path);

/* A directory entry: the directory, then what is in it. */
static int plan_tree(struct restore_run *r, const git_tree_entry *e,
                     struct rdir *parent, const char *name, tier_buf *path)
{
	const char *snap = tier_restore_snap_of(r, path);
	git_tree *sub = NULL;
	struct rdir *d = NULL;
	tier_node n;
	int rc, has = 0;

	if ((rc = load_tree(r, git_tree_entry_id(e), snap, &sub)) < 0)
		return rc;
	if ((rc = dir_meta(r, sub, &n, &has, snap)) < 0 &&
	    (rc = tier_restore_entry_error(r, rc)) < 0) {
		git_tree_free(sub);
		return rc;
	}
	if ((rc = dirs_wait(r)) == 0)
		rc = tier_restore_make_dir(r, parent, name, path,
		                           has ? &n : NULL, 1, &d);
	if (has)
		tier_node_dispose(&n);
	if (rc == 0) {
		rc = tier_restore_walk_dir(r, sub, d, path);
		tier_restore_walk_drop(r, d);
	} else if (rc == 1) {
		rc = 0; /* TIER_OVERWRITE_NEVER: left as it is */
	}
	git_tree_free(sub);
	return rc;
}

/*
 * Restore one tree entry, name in d (path: its destination, for messages).
 * An entry that cannot be restored is reported and 0 returned; < 0 stops
 * the run.
 */
static int plan_entry(struct restore_run *r, const git_tree_entry *e,
                      struct rdir *d, const char *name, tier_buf *path)
{
	tier_node n;
	int rc;

	if (r->o->progress &&
	    tier_buf_sets(&r->current, tier_restore_snap_of(r, path)) < 0)
		return TIER_ERROR;
	if ((rc = tier_restore_progress(r, 0)) < 0)
		return rc;
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
		return tier_restore_entry_error(r,
		                                plan_tree(r, e, d, name, path));
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0; /* a submodule link cannot be in a snapshot; nothing to restore */
	if ((rc = read_node(r, &n, git_tree_entry_id(e),
	                    tier_restore_snap_of(r, path))) < 0)
		return tier_restore_entry_error(r, rc);
	switch (n.type) {
	case TIER_NODE_FILE:
		rc = plan_file(r, &n, d, name, path);
		break;
	case TIER_NODE_DIR: {
		struct rdir *sub = NULL;
		if ((rc = tier_restore_make_dir(r, d, name, path, &n, 1,
		                                &sub)) == 0)
			tier_restore_walk_drop(r, sub);
		break;
	}
	case TIER_NODE_SYMLINK:
		rc = tier_restore_make_symlink(r, &n, d, name, path);
		break;
	default:
		rc = tier_restore_make_special(r, &n, d, name, path);
		break;
	}
	tier_node_dispose(&n);
	return rc < 0 ? tier_restore_entry_error(r, rc) : 0;
}

/*
 * fn for one entry, unless include/exclude leave it out (counted by the
 * walks that restore or count, not by the conflict check).
 */
static int filtered_entry(struct restore_run *r, const git_tree_entry *e,
                          struct rdir *d, const char *name, tier_buf *path,
                          tier_restore_entry_fn fn)
{
	int all_below = 0, rc;
	if (!r->inc && !r->exc)
		return fn(r, e, d, name, path);
	rc = tier_restore_filter_take(r, e, tier_restore_snap_of(r, path),
	                              &all_below);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		if (fn != tier_restore_check_entry)
			tier_restore_stat_inc(r, &r->stats->filtered);
		return 0;
	}
	int was = r->in_included;
	if (all_below)
		r->in_included = 1;
	rc = fn(r, e, d, name, path);
	r->in_included = was;
	return rc;
}

/*
 * Call fn for every entry of a snapshot directory (checked by load_tree),
 * with its decoded name and path extended by it.
 */

int tier_restore_each_entry(struct restore_run *r, const git_tree *tree,
                            struct rdir *d, tier_buf *path,
                            tier_restore_entry_fn fn)
{
	size_t base = path->size, n = git_tree_entrycount(tree);
	tier_buf name = TIER_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		if (!strcmp(git_tree_entry_name(e), TIER_SNAP_DIRMETA))
			continue;
		if ((rc = tier_snap_name_decode(&name, tier_vault_keys(r->v),
		                                git_tree_entry_name(e))) < 0) {
			rc = tier_restore_entry_error(r, rc);
			continue;
		}
		if (tier_buf_putc(path, '/') < 0 ||
		    tier_buf_put(path, name.ptr, name.size) < 0)
			rc = TIER_ERROR;
		else
			rc = filtered_entry(r, e, d, name.ptr, path, fn);
		buf_truncate(path, base);
	}
	tier_buf_dispose(&name);
	return rc;
}

int tier_restore_walk_dir(struct restore_run *r, const git_tree *tree,
                          struct rdir *d, tier_buf *path)
{
	return tier_restore_each_entry(r, tree, d, path, plan_entry);
}

/* ---- conflicts: checked before anything is written -------------------- */

/*
 * Without --overwrite, whatever stands in DEST where the snapshot has an
 * entry must be what the snapshot has (kept: a rerun after an
 * interruption) or a directory to merge into.  d->fd is a directory of
 * DEST as it is (nothing created yet); a damaged tree is left to the walk
 * to report.
 */
int tier_restore_check_entry(struct restore_run *r, const git_tree_entry *e,
                             struct rdir *d, const char *name, tier_buf *path)
{
	struct stat st;
	tier_node n;
	int rc;
	if ((rc = tier_restore_lookup_at(d->fd, name, path->ptr, &st)) <= 0)
		return rc;
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		git_tree *sub = NULL;
		struct rdir sd;
		if (!S_ISDIR(st.st_mode))
			return tier_restore_conflict(path->ptr);
		if (load_tree(r, git_tree_entry_id(e),
		              tier_restore_snap_of(r, path), &sub) < 0)
			return 0;
		memset(&sd, 0, sizeof(sd));
		if ((sd.fd = tier_restore_open_dir_at(d->fd, name)) < 0) {
			git_tree_free(sub);
			return tier_restore_fs_error(
			        errno, "cannot open directory", path->ptr);
		}
		rc = tier_restore_each_entry(r, sub, &sd, path,
		                             tier_restore_check_entry);
		close(sd.fd);
		git_tree_free(sub);
		return rc;
	}
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB ||
	    read_node(r, &n, git_tree_entry_id(e),
	              tier_restore_snap_of(r, path)) < 0)
		return 0;
	int same = tier_restore_same_existing(r, &n, &st, d->fd, name);
	tier_node_dispose(&n);
	return same ? 0 : tier_restore_conflict(path->ptr);
}

/* --dry-run: a directory, counted; DEST's directory entered if there. */
static int dry_tree(struct restore_run *r, const git_tree_entry *e,
                    struct rdir *d, const char *name, tier_buf *path,
                    const struct stat *st, int exists)
{
	git_tree *sub = NULL;
	struct rdir sd;
	int rc;
	if (exists && !S_ISDIR(st->st_mode)) {
		if (r->o->overwrite == TIER_OVERWRITE_NEVER) {
			tier_restore_stat_inc(r, &r->stats->skipped);
			return 0;
		}
		exists = 0; /* replaced: nothing below it is there */
	}
	if ((rc = load_tree(r, git_tree_entry_id(e),
	                    tier_restore_snap_of(r, path), &sub)) < 0)
		return tier_restore_entry_error(r, rc);
	memset(&sd, 0, sizeof(sd));
	sd.fd = exists ? tier_restore_open_dir_at(d->fd, name) : -1;
	r->stats->dirs++;
	rc = tier_restore_each_entry(r, sub, &sd, path, tier_restore_dry_entry);
	if (sd.fd >= 0)
		close(sd.fd);
	git_tree_free(sub);
	return rc;
}

/*
 * --dry-run: what the restore would do with entry e, counted in the stats
 * as a restore counts (files, others, dirs, bytes, chunks, kept, skipped);
 * d->fd is DEST's directory as it is, -1 when it does not exist yet.
 */
int tier_restore_dry_entry(struct restore_run *r, const git_tree_entry *e,
                           struct rdir *d, const char *name, tier_buf *path)
{
	struct stat st;
	tier_node n;
	int rc, exists = 0;
	if (d && d->fd >= 0 &&
	    (exists = tier_restore_lookup_at(d->fd, name, path->ptr, &st)) < 0)
		return tier_restore_entry_error(r, exists);
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
		return dry_tree(r, e, d, name, path, &st, exists);
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	if ((rc = read_node(r, &n, git_tree_entry_id(e),
	                    tier_restore_snap_of(r, path))) < 0)
		return tier_restore_entry_error(r, rc);
	if (exists && n.type == TIER_NODE_DIR && S_ISDIR(st.st_mode))
		r->stats->dirs++;
	else if (exists && tier_restore_keepable(r, &n, &st, d->fd, name))
		r->stats->kept++;
	else if (exists && r->o->overwrite == TIER_OVERWRITE_NEVER)
		r->stats->skipped++;
	else if (n.type == TIER_NODE_DIR)
		r->stats->dirs++;
	else if (n.type == TIER_NODE_SOCKET)
		; /* a socket is never restored */
	else if (n.type == TIER_NODE_FILE) {
		r->stats->files++;
		r->stats->chunks += n.nchunks;
		for (size_t i = 0; i < n.nchunks; i++)
			r->stats->bytes += n.chunks[i].len;
	} else {
		r->stats->others++;
	}
	tier_node_dispose(&n);
	return tier_restore_progress(r, 0);
}

/* The way down to a selected path: where it is in the snapshot and DEST. */
struct select_walk {
	const char *p;      /* the rest of the selected path */
	tier_buf path;      /* DEST/... */
	tier_buf comp, enc; /* the component entered: its name, encoded */
	git_tree *tree;     /* the snapshot directory entered */
	struct rdir *d;    /* its directory in DEST (check: NULL when absent) */
	struct rdir probe; /* check: the directory of DEST entered, not held */
	int plan;
	int done; /* the walk ends with the last rc */
};

/* Restore: the directory of a component made (or kept) and entered. */
static int enter_made_dir(struct restore_run *r, struct select_walk *w)
{
	struct rdir *nd = NULL;
	tier_node n;
	int has, rc;
	if ((rc = dir_meta(r, w->tree, &n, &has,
	                   tier_restore_snap_of(r, &w->path))) < 0 &&
	    (rc = tier_restore_entry_error(r, rc)) < 0)
		return rc;
	rc = tier_restore_make_dir(r, w->d, w->comp.ptr, &w->path,
	                           has ? &n : NULL, 0, &nd);
	if (has)
		tier_node_dispose(&n);
	if (rc < 0) {
		w->done = 1;
		return tier_restore_entry_error(r, rc);
	}
	tier_restore_walk_drop(r, w->d);
	w->d = nd;
	return 0;
}

/* Check: the directory of a component in DEST entered, if it is there. */
static int enter_existing_dir(struct select_walk *w)
{
	struct stat st;
	int fd, rc;
	if ((rc = tier_restore_lookup_at(w->d->fd, w->comp.ptr, w->path.ptr,
	                                 &st)) < 0)
		return rc;
	if (rc == 0) {
		w->d = NULL; /* nothing below can be in the way */
		return 0;
	}
	if (!S_ISDIR(st.st_mode))
		return tier_restore_conflict(w->path.ptr);
	if ((fd = tier_restore_open_dir_at(w->d->fd, w->comp.ptr)) < 0)
		return tier_restore_fs_error(errno, "cannot open directory",
		                             w->path.ptr);
	if (w->probe.fd >= 0)
		close(w->probe.fd);
	w->probe.fd = fd;
	w->d = &w->probe;
	return 0;
}

/* Into the directory e, a component above the selected path. */
static int descend(struct restore_run *r, struct select_walk *w,
                   const git_tree_entry *e)
{
	git_tree *next = NULL;
	int rc;
	w->p++;
	if ((rc = load_tree(r, git_tree_entry_id(e),
	                    tier_restore_snap_of(r, &w->path), &next)) < 0) {
		/* the walk reports it; the check leaves it to the walk */
		w->done = 1;
		return w->plan != WALK_CHECK ? tier_restore_entry_error(r, rc)
		                             : 0;
	}
	git_tree_free(w->tree);
	w->tree = next;
	if (w->plan == WALK_PLAN)
		return enter_made_dir(r, w);
	if (w->d)
		return enter_existing_dir(w);
	return rc;
}

/* The next component: entered, or, the last one, checked or restored. */
static int select_component(struct restore_run *r, struct select_walk *w)
{
	const git_tree_entry *e;
	int rc;
	if ((rc = tier_restore_next_component(&w->comp, &w->enc, &w->p,
	                                      tier_vault_keys(r->v))) < 0)
		return rc;
	e = git_tree_entry_byname(w->tree, w->enc.ptr);
	if ((rc = tier_buf_putc(&w->path, '/')) < 0 ||
	    (rc = tier_buf_put(&w->path, w->comp.ptr, w->comp.size)) < 0)
		return rc;
	if (!e || (*w->p && git_tree_entry_type(e) != GIT_OBJECT_TREE))
		return tier_error_set(
		        TIER_ENOTFOUND, "'%s' is not in revision %" PRIu64,
		        tier_restore_show(tier_restore_snap_of(r, &w->path)),
		        r->rev);
	if (*w->p)
		return descend(r, w, e);
	w->done = 1;
	if (w->plan == WALK_PLAN)
		return plan_entry(r, e, w->d, w->comp.ptr, &w->path);
	if (w->plan == WALK_DRY)
		return tier_restore_dry_entry(r, e, w->d, w->comp.ptr,
		                              &w->path);
	if (w->d)
		return tier_restore_check_entry(r, e, w->d, w->comp.ptr,
		                                &w->path);
	return rc;
}

/*
 * Check (plan = 0) or restore (plan = 1) one selected path (normalized,
 * not empty, in the snapshot): the directories above it are entered (and
 * created, when restoring) one by one from DEST's fd.
 */
int tier_restore_select_path(struct restore_run *r, const git_tree *root,
                             struct rdir *dest, const char *sel, int plan)
{
	struct select_walk w;
	int rc;

	memset(&w, 0, sizeof(w));
	w.p = sel;
	w.d = dest;
	w.probe.fd = -1;
	w.plan = plan;
	if (tier_buf_put(&w.path, r->dest.ptr, r->dest.size) < 0)
		return TIER_ERROR;
	if (plan == WALK_PLAN) {
		tier_restore_rdir_ref(r, w.d);
		tier_restore_walk_hold(r);
	}
	if ((rc = git_tree_dup(&w.tree, (git_tree *)root)) < 0)
		rc = tier_error_from_git(rc, "cannot read the snapshot");
	else
		while ((rc = select_component(r, &w)) >= 0 && !w.done)
			;
	if (plan == WALK_PLAN && w.d)
		tier_restore_walk_drop(r, w.d);
	if (w.probe.fd >= 0)
		close(w.probe.fd);
	git_tree_free(w.tree);
	tier_buf_dispose(&w.path);
	tier_buf_dispose(&w.comp);
	tier_buf_dispose(&w.enc);
	return rc;
}
