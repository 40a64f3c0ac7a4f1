/*
 * tier_browse: one revision's snapshot, walked a directory at a time
 * (tier/browse.h).  The trees come from the log cache through the bounded
 * readers (objread.h) and pass tier_snap_tree_check() before their entries
 * are shown, as in a restore; a file's bytes are read by restore's chunk
 * reads (restore_int.h, tier_restore_reader_*), so R2 applies unchanged.
 */
#include "tier/browse.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "objread.h"
#include "restore_int.h"
#include "snapshot.h"
#include "util/error.h"
#include "util/text.h"
#include "vault.h"

struct tier_browse {
	tier_vault *v;
	git_repository *repo;
	tier_browse_options o;
	uint64_t rev;
	int64_t time;
	git_oid commit;
	git_tree *rev_tree;
	git_tree *root; /* NULL: a revision without snapshot */
	struct tier_restore_reader *reader; /* made by the first read */
	uint64_t damaged_before;            /* by readers reset since */
};

static const char *const type_names[] = {"file", "dir",   "symlink", "fifo",
                                         "char", "block", "socket"};

const char *tier_browse_type_name(tier_entry_type t)
{
	return (unsigned)t < sizeof(type_names) / sizeof(type_names[0])
	               ? type_names[t]
	               : "unknown";
}

/* ---- opening ------------------------------------------------------------- */

static int rev_trees(tier_browse *b)
{
	git_commit *c = NULL;
	git_oid rid;
	int rc;

	if ((rc = tier_object_check(NULL, b->repo, &b->commit,
	                            GIT_OBJECT_COMMIT, TIER_MAX_SMALL_OBJECT,
	                            "a revision")) < 0)
		return tier_error_prefix("revision %" PRIu64, b->rev);
	if ((rc = git_commit_lookup(&c, b->repo, &b->commit)) < 0)
		return tier_error_from_git(rc, "cannot read revision %" PRIu64,
		                           b->rev);
	rc = tier_tree_lookup_bounded(&b->rev_tree, b->repo,
	                              git_commit_tree_id(c), "a revision tree");
	git_commit_free(c);
	if (rc < 0)
		return tier_error_prefix("revision %" PRIu64, b->rev);
	if (tier_snap_part(&rid, b->rev_tree, TIER_SNAP_ROOT) == 0 &&
	    (rc = tier_tree_lookup_bounded(&b->root, b->repo, &rid,
	                                   "a snapshot")) < 0)
		return tier_error_prefix("revision %" PRIu64, b->rev);
	if (b->root &&
	    (rc = tier_snap_tree_check(b->root, tier_vault_keys(b->v))) < 0)
		return tier_error_prefix("the snapshot of revision %" PRIu64,
		                         b->rev);
	return 0;
}

int tier_browse_open(tier_browse **out, tier_vault *v,
                     const tier_browse_options *opts)
{
	tier_commit_info ci;
	tier_browse *b;
	int rc;

	TIER_ASSERT_ARG(out);
	*out = NULL;
	TIER_ASSERT_ARG(v);
	TIER_ASSERT_ARG(opts);
	TIER_CHECK_VERSION(opts, TIER_BROWSE_OPTIONS_VERSION,
	                   "tier_browse_options");
	if (!(b = tier_calloc(1, sizeof(*b))))
		return TIER_ERROR;
	b->v = v;
	b->repo = tier_vault_cache(v);
	b->o = *opts;
	if ((rc = tier_vault_find_revision(v, opts->revision, &b->commit)) <
	            0 ||
	    (rc = tier_commit_info_read(&ci, b->repo, &b->commit)) < 0) {
		tier_browse_free(b);
		return rc;
	}
	b->rev = ci.revision;
	b->time = ci.time;
	if ((rc = rev_trees(b)) < 0) {
		tier_browse_free(b);
		return rc;
	}
	*out = b;
	return 0;
}

void tier_browse_free(tier_browse *b)
{
	if (!b)
		return;
	tier_restore_reader_free(b->reader);
	git_tree_free(b->root);
	git_tree_free(b->rev_tree);
	free(b);
}

uint64_t tier_browse_revision(const tier_browse *b)
{
	return b ? b->rev : 0;
}

int64_t tier_browse_time(const tier_browse *b)
{
	return b ? b->time : 0;
}

uint64_t tier_browse_damaged(const tier_browse *b)
{
	return b ? b->damaged_before + tier_restore_reader_damaged(b->reader)
	         : 0;
}

/* ---- objects ------------------------------------------------------------- */

static int read_node(tier_browse *b, tier_node *out, const git_oid *id,
                     const char *path)
{
	git_blob *blob = NULL;
	int rc = tier_blob_lookup_bounded(&blob, b->repo, id,
	                                  TIER_MAX_NODE_BLOB, "a node blob");
	if (rc == 0) {
		rc = tier_node_decode(out, tier_vault_keys(b->v),
		                      git_blob_rawcontent(blob),
		                      (size_t)git_blob_rawsize(blob));
		git_blob_free(blob);
	}
	if (rc < 0)
		tier_error_prefix("'%s' in revision %" PRIu64,
		                  tier_restore_show(path), b->rev);
	return rc;
}

/* A snapshot directory, size-checked and every name checked. */
static int load_tree(tier_browse *b, const git_oid *id, const char *path,
                     git_tree **out)
{
	int rc;
	*out = NULL;
	rc = tier_tree_lookup_bounded(out, b->repo, id, "a snapshot directory");
	if (rc == 0 &&
	    (rc = tier_snap_tree_check(*out, tier_vault_keys(b->v))) < 0) {
		git_tree_free(*out);
		*out = NULL;
	}
	if (rc < 0)
		tier_error_prefix("directory '%s' of revision %" PRIu64,
		                  tier_restore_show(path), b->rev);
	return rc;
}

static uint64_t chunk_bytes(const tier_node *n)
{
	uint64_t size = 0;
	for (size_t i = 0; i < n->nchunks; i++)
		size += n->chunks[i].len;
	return size;
}

static void entry_from_node(tier_browse_entry *e, const tier_node *n)
{
	e->type = (tier_entry_type)n->type;
	e->mode = n->mode & 07777;
	e->uid = n->uid;
	e->gid = n->gid;
	e->size = n->type == TIER_NODE_FILE      ? chunk_bytes(n)
	          : n->type == TIER_NODE_SYMLINK ? n->target_len
	                                         : 0;
	e->mtime_sec = n->mtime_sec;
	e->mtime_nsec = n->mtime_nsec;
	e->target = n->target;
	e->target_len = n->target_len;
	e->rdev = n->rdev;
	e->has_meta = 1;
}

/*
 * A directory as an entry: its "%" metadata when it has some.  *meta is
 * disposed by the caller when *has.
 */
static int dir_entry(tier_browse *b, tier_browse_entry *e, const git_tree *t,
                     tier_node *meta, int *has)
{
	const git_tree_entry *m = git_tree_entry_byname(t, TIER_SNAP_DIRMETA);
	int rc;
	*has = 0;
	memset(e, 0, sizeof(*e));
	if (m && git_tree_entry_type(m) == GIT_OBJECT_BLOB) {
		if ((rc = read_node(b, meta, git_tree_entry_id(m), "%")) < 0)
			return rc;
		*has = 1;
		entry_from_node(e, meta);
	}
	e->type = TIER_ENTRY_DIR;
	e->size = 0;
	e->target = NULL;
	e->target_len = 0;
	return 0;
}

/* ---- paths ------------------------------------------------------------- */

/* "home//u/./x/" -> "home/u/x"; ".." refused. */
static int normalize(tier_buf *out, const char *path)
{
	const char *p = path ? path : "";
	if (tier_buf_sets(out, "") < 0)
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

/*
 * Where a path is: *dir the directory it names (the caller frees it), or
 * else *node the entry it names (in *node, disposed by the caller).
 * shown: the snapshot path "/..." for messages and entries.
 */
struct found {
	git_tree *dir;
	int is_node;
	tier_node node;
};

static int resolve(tier_browse *b, const char *path, tier_buf *shown,
                   struct found *f)
{
	tier_buf norm = TIER_BUF_INIT, comp = TIER_BUF_INIT,
	         enc = TIER_BUF_INIT;
	git_tree *tree = NULL;
	const char *p;
	int rc;

	memset(f, 0, sizeof(*f));
	if ((rc = normalize(&norm, path)) < 0)
		goto out;
	tier_buf_clear(shown);
	if ((rc = tier_buf_printf(shown, "/%s", tier_buf_cstr(&norm))) < 0)
		goto out;
	if (!b->root) {
		rc = norm.size
		             ? tier_error_set(TIER_ENOTFOUND,
		                              "'%s' is not in revision %" PRIu64
		                              " (it holds no files)",
		                              tier_restore_show(shown->ptr),
		                              b->rev)
		             : 0;
		goto out;
	}
	if ((rc = git_tree_dup(&tree, b->root)) < 0) {
		rc = tier_error_from_git(rc, "cannot read the snapshot");
		goto out;
	}
	p = tier_buf_cstr(&norm);
	while (*p) {
		const char *s = p;
		while (*p && *p != '/')
			p++;
		tier_buf_clear(&comp);
		if ((rc = tier_buf_put(&comp, s, (size_t)(p - s))) < 0 ||
		    (rc = tier_snap_name_encode(&enc, tier_vault_keys(b->v),
		                                comp.ptr, comp.size)) < 0)
			goto out;
		const git_tree_entry *e = git_tree_entry_byname(tree, enc.ptr);
		int last = !*p;
		if (*p)
			p++;
		if (!e ||
		    (!last && git_tree_entry_type(e) != GIT_OBJECT_TREE)) {
			rc = tier_error_set(TIER_ENOTFOUND,
			                    "'%s' is not in revision %" PRIu64,
			                    tier_restore_show(shown->ptr),
			                    b->rev);
			goto out;
		}
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
			git_tree *next = NULL;
			if ((rc = load_tree(b, git_tree_entry_id(e), shown->ptr,
			                    &next)) < 0)
				goto out;
			git_tree_free(tree);
			tree = next;
			continue;
		}
		/* a blob, the last component (checked above) */
		if ((rc = read_node(b, &f->node, git_tree_entry_id(e),
		                    shown->ptr)) < 0)
			goto out;
		f->is_node = 1;
	}
	if (!f->is_node) {
		f->dir = tree;
		tree = NULL;
	}
	/* "/" for the root */
	if (shown->size > 1 && shown->ptr[shown->size - 1] == '/')
		shown->ptr[--shown->size] = '\0';
out:
	git_tree_free(tree);
	tier_buf_dispose(&norm);
	tier_buf_dispose(&comp);
	tier_buf_dispose(&enc);
	return rc;
}

static void found_dispose(struct found *f)
{
	git_tree_free(f->dir);
	if (f->is_node)
		tier_node_dispose(&f->node);
}

/* ---- listing ------------------------------------------------------------- */

struct walk {
	tier_browse *b;
	unsigned flags;
	tier_browse_cb cb;
	void *payload;
	tier_buf path; /* "/a/b": the directory being listed */
};

/* One entry of a directory, sorted by its decoded name. */
struct slot {
	char *name;
	size_t index; /* in the git tree */
};

static int slot_cmp(const void *a, const void *b)
{
	return strcmp(((const struct slot *)a)->name,
	              ((const struct slot *)b)->name);
}

static int emit(struct walk *w, tier_browse_entry *e, const char *name,
                unsigned depth)
{
	e->path = w->path.ptr;
	e->name = name;
	e->depth = depth;
	if (w->cb(e, w->payload))
		return tier_error_set(TIER_EABORTED, "listing stopped");
	return 0;
}

static int list_dir(struct walk *w, const git_tree *tree, unsigned depth);

/* Entry s of tree, at w->path (extended by its name already). */
static int list_one(struct walk *w, const git_tree *tree, const struct slot *s,
                    unsigned depth)
{
	const git_tree_entry *ge = git_tree_entry_byindex(tree, s->index);
	tier_browse_entry e;
	tier_node n;
	int rc, has = 0;

	if (git_tree_entry_type(ge) == GIT_OBJECT_TREE) {
		git_tree *sub = NULL;
		if ((rc = load_tree(w->b, git_tree_entry_id(ge), w->path.ptr,
		                    &sub)) < 0)
			return rc;
		if ((rc = dir_entry(w->b, &e, sub, &n, &has)) == 0 &&
		    (rc = emit(w, &e, s->name, depth)) == 0 &&
		    (w->flags & TIER_BROWSE_RECURSIVE))
			rc = list_dir(w, sub, depth + 1);
		if (has)
			tier_node_dispose(&n);
		git_tree_free(sub);
		return rc;
	}
	if (git_tree_entry_type(ge) != GIT_OBJECT_BLOB)
		return 0; /* a submodule link is no snapshot entry */
	if ((rc = read_node(w->b, &n, git_tree_entry_id(ge), w->path.ptr)) < 0)
		return rc;
	memset(&e, 0, sizeof(e));
	entry_from_node(&e, &n);
	rc = emit(w, &e, s->name, depth);
	tier_node_dispose(&n);
	return rc;
}

static int list_dir(struct walk *w, const git_tree *tree, unsigned depth)
{
	size_t n = git_tree_entrycount(tree), k = 0, base = w->path.size;
	struct slot *slots = tier_calloc(n ? n : 1, sizeof(*slots));
	tier_buf name = TIER_BUF_INIT;
	int rc = 0;

	if (!slots)
		return TIER_ERROR;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		if (!strcmp(git_tree_entry_name(e), TIER_SNAP_DIRMETA))
			continue;
		/* checked by load_tree: every name decodes */
		if ((rc = tier_snap_name_decode(&name, tier_vault_keys(w->b->v),
		                                git_tree_entry_name(e))) < 0)
			break;
		slots[k].index = i;
		if (!(slots[k].name = tier_buf_detach(&name)))
			rc = TIER_ERROR;
		else
			k++;
	}
	if (rc == 0)
		qsort(slots, k, sizeof(*slots), slot_cmp);
	for (size_t i = 0; i < k && rc == 0; i++) {
		if ((base > 1 && tier_buf_putc(&w->path, '/') < 0) ||
		    tier_buf_puts(&w->path, slots[i].name) < 0) {
			rc = TIER_ERROR;
			break;
		}
		rc = list_one(w, tree, &slots[i], depth);
		w->path.size = base;
		w->path.ptr[base] = '\0';
	}
	for (size_t i = 0; i < k; i++)
		free(slots[i].name);
	free(slots);
	tier_buf_dispose(&name);
	return rc;
}

int tier_browse_list(tier_browse *b, const char *path, unsigned flags,
                     tier_browse_cb cb, void *payload)
{
	struct walk w = {b, flags, cb, payload, TIER_BUF_INIT};
	struct found f;
	tier_browse_entry e;
	tier_node meta;
	int rc, has = 0;

	TIER_ASSERT_ARG(b);
	TIER_ASSERT_ARG(cb);
	if ((rc = resolve(b, path, &w.path, &f)) < 0)
		goto out;
	const char *name = strrchr(w.path.ptr, '/') + 1;
	if (f.is_node) {
		memset(&e, 0, sizeof(e));
		entry_from_node(&e, &f.node);
		rc = emit(&w, &e, name, 0);
		goto out;
	}
	if (flags & TIER_BROWSE_SELF) {
		if (f.dir)
			rc = dir_entry(b, &e, f.dir, &meta, &has);
		else
			memset(&e, 0, sizeof(e)), e.type = TIER_ENTRY_DIR;
		if (rc == 0)
			rc = emit(&w, &e, name, 0);
		if (has)
			tier_node_dispose(&meta);
	}
	if (rc == 0 && f.dir)
		rc = list_dir(&w, f.dir, 1);
out:
	found_dispose(&f);
	tier_buf_dispose(&w.path);
	return rc;
}

/* ---- reading ------------------------------------------------------------- */

static int not_a_file(tier_browse *b, const tier_buf *shown,
                      const struct found *f)
{
	return tier_error_set(
	        TIER_ECONFLICT, "'%s' in revision %" PRIu64 " is a %s",
	        tier_restore_show(shown->ptr), b->rev,
	        f->is_node ? tier_node_type_name(f->node.type) : "directory");
}

static int need_reader(tier_browse *b)
{
	if (b->reader)
		return 0;
	return tier_restore_reader_open(&b->reader, b->v, &b->commit, b->rev,
	                                b->o.warning, b->o.payload);
}

int tier_browse_read(tier_browse *b, const char *path, tier_browse_data_cb cb,
                     void *payload)
{
	tier_buf shown = TIER_BUF_INIT;
	struct found f;
	int rc;

	TIER_ASSERT_ARG(b);
	TIER_ASSERT_ARG(cb);
	if ((rc = resolve(b, path, &shown, &f)) < 0)
		goto out;
	if (!f.is_node || f.node.type != TIER_NODE_FILE) {
		rc = not_a_file(b, &shown, &f);
		goto out;
	}
	if ((rc = need_reader(b)) < 0)
		goto out;
	rc = tier_restore_reader_read(b->reader, &f.node, shown.ptr, cb,
	                              payload);
out:
	found_dispose(&f);
	tier_buf_dispose(&shown);
	return rc;
}

void tier_browse_reset(tier_browse *b)
{
	if (!b)
		return;
	/* the damage count goes with the reader: keep it */
	b->damaged_before += tier_restore_reader_damaged(b->reader);
	tier_restore_reader_free(b->reader);
	b->reader = NULL;
}

/* ---- one file, any part of it (tier/drive.h) ---------------------------- */

struct tier_browse_file {
	tier_browse *b;
	tier_node node;
	char *shown;      /* "/home/u/a" for messages */
	uint64_t *starts; /* nchunks + 1: chunk i is [starts[i], starts[i+1]) */
};

int tier_browse_file_open(tier_browse_file **out, tier_browse *b,
                          const char *path)
{
	tier_buf shown = TIER_BUF_INIT;
	tier_browse_file *f;
	struct found fd;
	int rc;

	TIER_ASSERT_ARG(out);
	*out = NULL;
	TIER_ASSERT_ARG(b);
	if ((rc = resolve(b, path, &shown, &fd)) < 0)
		goto out;
	if (!fd.is_node || fd.node.type != TIER_NODE_FILE) {
		rc = not_a_file(b, &shown, &fd);
		goto out;
	}
	if (!(f = tier_calloc(1, sizeof(*f))) ||
	    !(f->starts = tier_calloc(fd.node.nchunks + 1, sizeof(uint64_t))) ||
	    !(f->shown = tier_buf_detach(&shown))) {
		if (f)
			free(f->starts);
		free(f);
		rc = TIER_ERROR;
		goto out;
	}
	for (size_t i = 0; i < fd.node.nchunks; i++)
		f->starts[i + 1] = f->starts[i] + fd.node.chunks[i].len;
	f->b = b;
	f->node = fd.node; /* the file owns the node now */
	fd.is_node = 0;
	*out = f;
out:
	found_dispose(&fd);
	tier_buf_dispose(&shown);
	return rc;
}

void tier_browse_file_free(tier_browse_file *f)
{
	if (!f)
		return;
	tier_node_dispose(&f->node);
	free(f->starts);
	free(f->shown);
	free(f);
}

uint64_t tier_browse_file_size(const tier_browse_file *f)
{
	return f ? f->starts[f->node.nchunks] : 0;
}

size_t tier_browse_file_chunks(const tier_browse_file *f)
{
	return f ? f->node.nchunks : 0;
}

void tier_browse_file_chunk(const tier_browse_file *f, size_t i,
                            uint64_t *offset, uint32_t *len,
                            const unsigned char **id)
{
	*offset = f->starts[i];
	*len = f->node.chunks[i].len;
	*id = f->node.chunks[i].id;
}

size_t tier_browse_file_chunk_at(const tier_browse_file *f, uint64_t offset)
{
	/* the last chunk whose start is <= offset */
	size_t lo = 0, hi = f->node.nchunks;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;
		if (f->starts[mid] <= offset)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

int tier_browse_file_read(tier_browse_file *f, size_t first, size_t count,
                          tier_browse_data_cb cb, void *payload)
{
	tier_node part;
	int rc;

	TIER_ASSERT_ARG(f);
	TIER_ASSERT_ARG(cb);
	if (first > f->node.nchunks || count > f->node.nchunks - first)
		return tier_error_set(TIER_EUSAGE,
		                      "chunks %zu+%zu of '%s': it has %zu",
		                      first, count, tier_restore_show(f->shown),
		                      f->node.nchunks);
	if ((rc = need_reader(f->b)) < 0)
		return rc;
	/* a view of the chunk list: nothing of it is freed */
	part = f->node;
	part.chunks = f->node.chunks + first;
	part.nchunks = count;
	return tier_restore_reader_read(f->b->reader, &part, f->shown, cb,
	                                payload);
}
