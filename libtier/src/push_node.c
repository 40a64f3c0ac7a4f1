/*
 * Push: nodes and trees, on the main thread.  A file's node once the
 * workers are done with it, a directory's tree once its walk is over and
 * nothing below it is pending (so memory is bounded by the work queue,
 * not by the size of the tree); the dirjobs that carry them.  Node and
 * tree layout: docs/format.md.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "objread.h"
#include "push_int.h"
#include "util/error.h"

void tier_push_node_from_stat(tier_node *n, const struct stat *st)
{
	memset(n, 0, sizeof(*n));
	n->mode = st->st_mode & 07777;
	n->uid = st->st_uid;
	n->gid = st->st_gid;
	n->size = S_ISREG(st->st_mode) ? (uint64_t)st->st_size : 0;
	n->mtime_sec = st->st_mtim.tv_sec;
	n->mtime_nsec = (uint32_t)st->st_mtim.tv_nsec;
	n->ctime_sec = st->st_ctim.tv_sec;
	n->ctime_nsec = (uint32_t)st->st_ctim.tv_nsec;
	n->ino = st->st_ino;
	n->dev = st->st_dev;
	if (S_ISREG(st->st_mode))
		n->type = TIER_NODE_FILE;
	else if (S_ISDIR(st->st_mode))
		n->type = TIER_NODE_DIR;
	else if (S_ISLNK(st->st_mode))
		n->type = TIER_NODE_SYMLINK;
	else if (S_ISFIFO(st->st_mode))
		n->type = TIER_NODE_FIFO;
	else if (S_ISCHR(st->st_mode))
		n->type = TIER_NODE_CHAR;
	else if (S_ISBLK(st->st_mode))
		n->type = TIER_NODE_BLOCK;
	else
		n->type = TIER_NODE_SOCKET;
	if (n->type == TIER_NODE_CHAR || n->type == TIER_NODE_BLOCK)
		n->rdev = st->st_rdev;
}

int tier_push_write_node(struct push_run *p, git_oid *out, const tier_node *n)
{
	tier_buf b = TIER_BUF_INIT;
	int rc = tier_node_encode(&b, tier_vault_keys(p->v), n);
	/* never write what restore refuses (node_max_chunks keeps clear) */
	if (rc == 0 && b.size > TIER_MAX_NODE_BLOB)
		rc = tier_error_set(TIER_ERROR,
		                    "file metadata of %zu bytes is over the "
		                    "format's limit",
		                    b.size);
	if (rc == 0 &&
	    (rc = git_blob_create_from_buffer(out, p->repo, b.ptr, b.size)) < 0)
		rc = tier_error_from_git(rc, "cannot store file metadata");
	tier_buf_dispose(&b);
	return rc;
}

static int tb_add(git_treebuilder *tb, const char *ename, const git_oid *id,
                  git_filemode_t mode)
{
	int rc = git_treebuilder_insert(NULL, tb, ename, id, mode);
	if (rc < 0)
		return tier_error_from_git(
		        rc, "cannot add '%s' to the snapshot", ename);
	return 0;
}

/*
 * e's index in d->prev.  libgit2 keeps a tree's entries in one array (but
 * does not say so, and its entry type is opaque): the index comes from the
 * distance to the first entry and is checked; where that does not hold,
 * nothing is reused and the tree is built as before.
 */
static int prev_index(const struct dirjob *d, const git_tree_entry *e,
                      size_t *i)
{
	const char *first = (const char *)git_tree_entry_byindex(d->prev, 0);
	const char *second = (const char *)git_tree_entry_byindex(d->prev, 1);
	const char *at = (const char *)e;
	if (!first || at < first)
		return 0;
	if (at == first)
		*i = 0;
	else if (!second || second <= first)
		return 0;
	else
		*i = (size_t)(at - first) / (size_t)(second - first);
	return git_tree_entry_byindex(d->prev, *i) == e;
}

/* The treebuilder of d, holding the entries of prev seen so far. */
static int dir_materialize(struct push_run *p, struct dirjob *d)
{
	int rc;
	if (d->tb)
		return 0;
	if ((rc = git_treebuilder_new(&d->tb, p->repo, NULL)) < 0)
		return tier_error_from_git(rc, "cannot build a snapshot tree");
	size_t n = d->prev ? git_tree_entrycount(d->prev) : 0;
	for (size_t i = 0; i < n && d->nseen; i++) {
		if (!(d->seen[i / 8] & (1u << (i % 8))))
			continue;
		const git_tree_entry *e = git_tree_entry_byindex(d->prev, i);
		if ((rc = tb_add(d->tb, git_tree_entry_name(e),
		                 git_tree_entry_id(e),
		                 git_tree_entry_filemode_raw(e))) < 0)
			return rc;
	}
	free(d->seen);
	d->seen = NULL;
	return 0;
}

int tier_push_tb_insert(struct push_run *p, struct dirjob *d, const char *ename,
                        const git_oid *id, git_filemode_t mode)
{
	int rc;
	if (!d->tb) {
		/* an entry of prev, unchanged: nothing to build (yet) */
		const git_tree_entry *e = git_tree_entry_byname(d->prev, ename);
		size_t i;
		if (e && git_tree_entry_filemode_raw(e) == mode &&
		    git_oid_equal(git_tree_entry_id(e), id) &&
		    prev_index(d, e, &i) &&
		    !(d->seen[i / 8] & (1u << (i % 8)))) {
			d->seen[i / 8] |= (unsigned char)(1u << (i % 8));
			d->nseen++;
			return 0;
		}
		if ((rc = dir_materialize(p, d)) < 0)
			return rc;
	}
	return tb_add(d->tb, ename, id, mode);
}

int tier_push_tb_keep(struct push_run *p, struct dirjob *d,
                      const git_tree_entry *e)
{
	size_t i;
	if (!d->tb && git_tree_entry_filemode_raw(e) == GIT_FILEMODE_BLOB &&
	    prev_index(d, e, &i) && !(d->seen[i / 8] & (1u << (i % 8)))) {
		d->seen[i / 8] |= (unsigned char)(1u << (i % 8));
		d->nseen++;
		return 0;
	}
	return tier_push_tb_insert(p, d, git_tree_entry_name(e),
	                           git_tree_entry_id(e), GIT_FILEMODE_BLOB);
}

/* The tree of d: prev itself when d holds exactly prev's entries. */
static int dir_write(struct push_run *p, struct dirjob *d)
{
	int rc;
	if (!d->tb && d->nseen == git_tree_entrycount(d->prev)) {
		git_oid_cpy(&d->tree_id, git_tree_id(d->prev));
		return 0;
	}
	if ((rc = dir_materialize(p, d)) < 0)
		return rc;
	if ((rc = git_treebuilder_write(&d->tree_id, d->tb)) < 0)
		return tier_error_from_git(rc, "cannot write a snapshot tree");
	return 0;
}

static void dir_close_fd(struct dirjob *d)
{
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

void tier_push_dirjob_free(struct push_run *p, struct dirjob *d)
{
	if (d->live_prev)
		d->live_prev->live_next = d->live_next;
	else
		p->live = d->live_next;
	if (d->live_next)
		d->live_next->live_prev = d->live_prev;
	dir_close_fd(d);
	git_treebuilder_free(d->tb);
	git_tree_free(d->prev);
	tier_statdir_dispose(&d->sprev);
	free(d->snew);
	free(d->seen);
	free(d->ename);
	free(d->path);
	free(d);
}

static int dir_child_done(struct push_run *p, struct dirjob *d)
{
	d->pending--;
	return tier_push_dir_try_finish(p, d);
}

int tier_push_stat_note(struct push_run *p, struct dirjob *d,
                        const git_oid *node, const struct stat *st)
{
	if (!p->scw)
		return 0;
	if (d->nnew == d->capnew) {
		size_t cap = d->capnew ? d->capnew * 2 : 16;
		tier_statent *e = realloc(d->snew, cap * sizeof(*e));
		if (!e)
			return tier_error_set(TIER_ERROR, "out of memory");
		d->snew = e;
		d->capnew = cap;
	}
	tier_statent_from_stat(&d->snew[d->nnew++], node, st);
	return 0;
}

/* Writes the tree of d once it is walked and nothing below it is pending. */
int tier_push_dir_try_finish(struct push_run *p, struct dirjob *d)
{
	int rc;
	if (!d->closed || d->pending > 0 || d->done)
		return 0;
	if ((rc = dir_write(p, d)) < 0)
		return rc;
	d->done = 1;
	if (p->scw && (rc = tier_statcache_writer_dir(p->scw, &d->tree_id,
	                                              d->snew, d->nnew)) < 0) {
		/* the cache only speeds up the next push: go on without it */
		tier_statcache_writer_free(p->scw);
		p->scw = NULL;
		tier_error_clear();
	}
	free(d->snew);
	d->snew = NULL;
	d->nnew = d->capnew = 0;
	tier_statdir_dispose(&d->sprev);
	git_treebuilder_free(d->tb);
	d->tb = NULL;
	git_tree_free(d->prev);
	d->prev = NULL;
	dir_close_fd(d);
	if (d->waiting) {
		d->waiting = 0;
		p->waiting_dirs--;
	}
	if (!d->parent)
		return 0; /* the root: tree_id is the snapshot */
	if ((rc = tier_push_tb_insert(p, d->parent, d->ename, &d->tree_id,
	                              GIT_FILEMODE_TREE)) < 0)
		return rc;
	struct dirjob *parent = d->parent;
	/* synthetic ones stay: later given paths look them up by name */
	if (!d->synthetic)
		tier_push_dirjob_free(p, d);
	return dir_child_done(p, parent);
}

void tier_push_filejob_free(struct filejob *f)
{
	free(f->chunks);
	free(f->name);
	free(f->path);
	free(f->ename);
	free(f->reason);
	free(f);
}

int tier_push_file_done(struct push_run *p, struct filejob *f)
{
	tier_node n;
	git_oid id;
	int rc = 0;
	struct dirjob *d = f->dir;

	if (f->error) {
		tier_push_unreadable(p, "", f->path,
		                     f->reason ? f->reason : "read error",
		                     "skipped");
	} else if (!p->cancel && !p->fatal) {
		tier_push_node_from_stat(&n, &f->st);
		if (f->changed) {
			tier_push_warn(
			        p,
			        "'%s' changed while it was read; the backup holds what was read",
			        tier_quote_name(f->path));
			p->st.changed++;
			n.ctime_sec = 0; /* make the next push read it again */
			n.ctime_nsec = 0;
		}
		n.size = 0;
		for (size_t i = 0; i < f->nchunks; i++)
			n.size += f->chunks[i].len;
		n.nchunks = f->nchunks;
		n.chunks = f->chunks;
		rc = tier_push_write_node(p, &id, &n);
		if (rc == 0)
			rc = tier_push_tb_insert(p, d, f->ename, &id,
			                         GIT_FILEMODE_BLOB);
		if (rc == 0) {
			/* the fields as the node holds them */
			struct stat as = f->st;
			as.st_size = (off_t)n.size;
			as.st_ctim.tv_sec = n.ctime_sec;
			as.st_ctim.tv_nsec = (long)n.ctime_nsec;
			rc = tier_push_stat_note(p, d, &id, &as);
		}
		p->st.files++;
		p->st.bytes += n.size;
	}
	tier_push_filejob_free(f);
	if (rc < 0)
		return rc;
	return dir_child_done(p, d);
}

int tier_push_add_dirmeta(struct push_run *p, struct dirjob *d,
                          const struct stat *st)
{
	tier_node n;
	git_oid id;
	int rc;
	tier_push_node_from_stat(&n, st);
	if ((rc = tier_push_write_node(p, &id, &n)) < 0)
		return rc;
	return tier_push_tb_insert(p, d, TIER_SNAP_DIRMETA, &id,
	                           GIT_FILEMODE_BLOB);
}

int tier_push_new_dirjob(struct push_run *p, struct dirjob **out,
                         struct dirjob *parent, const char *ename,
                         const char *path, git_tree *prev)
{
	struct dirjob *d = tier_calloc(1, sizeof(*d));
	int rc;
	*out = NULL;
	if (!d) {
		git_tree_free(prev);
		return TIER_ERROR;
	}
	d->fd = -1;
	d->prev = prev;
	/* in the live list first: dirjob_free undoes all of it */
	d->live_next = p->live;
	if (p->live)
		p->live->live_prev = d;
	p->live = d;
	if (!(d->ename = tier_strdup(ename)) ||
	    !(d->path = tier_strdup(path))) {
		tier_push_dirjob_free(p, d);
		return TIER_ERROR;
	}
	/* with a base directory, no treebuilder until an entry differs */
	size_t n = prev ? git_tree_entrycount(prev) : 0;
	if (prev && !(d->seen = tier_calloc(n / 8 + 1, 1))) {
		tier_push_dirjob_free(p, d);
		return TIER_ERROR;
	}
	if (!prev && (rc = dir_materialize(p, d)) < 0) {
		tier_push_dirjob_free(p, d);
		return rc;
	}
	d->parent = parent;
	if (parent)
		parent->pending++;
	*out = d;
	return 0;
}
