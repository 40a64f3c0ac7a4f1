/* fsck of every revision's snapshot: names, sizes, nodes, chunks (fsck_snap.h). */
#include "fsck_snap.h"

#include "forget_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "objread.h"
#include "snapshot.h"
#include "util/error.h"
#include "util/spillset.h"
#include "util/text.h"

/* git's core.maxTreeDepth default: deeper is a hostile tier, and the walk
 * (recursive) must not run off its stack. */
#define MAX_DEPTH 4096

size_t tier_fsck_snap_mem_records;

struct walk {
	git_repository *repo;
	const char *state_dir; /* where the chunk map's file is kept */
	git_odb *odb;
	tier_fsck_snap *out;
	tier_chunkmap *map; /* the head's; NULL: chunks not checked */
	uint64_t rev;       /* of the revision walked; 0 when unknown */
	tier_buf path;      /* decoded: "/a/b", "" at the top */
	tier_buf name, obj, tmp;
	tier_spillset *seen; /* trees and node blobs checked already */
	unsigned int depth;
	const tier_keys *keys; /* NULL: a plaintext vault */
};

static int finding(struct walk *w, const char *id, const char *object,
                   const char *fmt, ...) TIER_PRINTF(4, 5);

static int finding(struct walk *w, const char *id, const char *object,
                   const char *fmt, ...)
{
	tier_buf msg = TIER_BUF_INIT;
	va_list ap;
	int rc = 0;
	tier_fsck_finding *f = tier_calloc(1, sizeof(*f));

	if (!f)
		return TIER_ERROR;
	if (w->rev)
		rc = tier_buf_printf(
		        &msg, "revision %llu: ", (unsigned long long)w->rev);
	va_start(ap, fmt);
	if (rc == 0)
		rc = tier_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	f->id = id;
	f->object = object ? tier_strdup(object) : NULL;
	f->message = tier_buf_detach(&msg);
	if (rc < 0 || !f->message || (object && !f->object) ||
	    tier_vec_push(&w->out->findings, f) < 0) {
		free(f->object);
		free(f->message);
		free(f);
		return TIER_ERROR;
	}
	return 0;
}

/* The directory walked, quoted for a message ("/" at the top). */
static const char *qpath(struct walk *w)
{
	return w->path.size ? tier_quote_name(w->path.ptr) : "/";
}

/* The quoted path of entry `raw` (as the tier spells it) of the directory
 * walked, for a problem's object; NULL when out of memory. */
static const char *entry_object(struct walk *w, const char *raw)
{
	tier_buf_clear(&w->tmp);
	tier_buf_clear(&w->obj);
	if (tier_buf_put(&w->tmp, w->path.ptr ? w->path.ptr : "",
	                 w->path.size) < 0 ||
	    tier_buf_putc(&w->tmp, '/') < 0 ||
	    tier_buf_puts(&w->tmp, raw) < 0 ||
	    tier_quote_path(&w->obj, w->tmp.ptr, w->tmp.size) < 0)
		return NULL;
	return w->obj.ptr;
}

/* The quoted path walked, for a problem's object. */
static const char *path_object(struct walk *w)
{
	tier_buf_clear(&w->obj);
	if (tier_quote_path(&w->obj, w->path.size ? w->path.ptr : "/",
	                    w->path.size ? w->path.size : 1) < 0)
		return NULL;
	return w->obj.ptr;
}

/*
 * Whether id is a `type` object of at most max bytes, from its header
 * alone: 0 yes; 1 no (the finding is made); < 0 out of memory.
 */
static int check_object(struct walk *w, const git_oid *id, git_object_t type,
                        size_t max, const char *what, const char *object)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_object_t got;
	size_t len = 0;
	int rc;

	git_oid_tostr(hex, sizeof(hex), id);
	rc = git_odb_read_header(&len, &got, w->odb, id);
	if (rc == GIT_ENOTFOUND)
		rc = finding(w, "snapshot-corrupt", object,
		             "%s (object %.12s) is missing from the log", what,
		             hex);
	else if (rc < 0) {
		const git_error *e = git_error_last();
		rc = finding(w, "snapshot-corrupt", object,
		             "%s (object %.12s) cannot be read: %s", what, hex,
		             e && e->message ? e->message : "unknown error");
	} else if (got != type)
		rc = finding(w, "bad-entry-type", object,
		             "%s (object %.12s) is a %s, not a %s", what, hex,
		             git_object_type2string(got),
		             git_object_type2string(type));
	else if (len > max)
		rc = finding(
		        w, "object-too-large", object,
		        "%s (object %.12s) is %zu bytes, over the format's "
		        "limit of %zu: it is not read",
		        what, hex, len, max);
	else
		return 0;
	return rc < 0 ? rc : 1;
}

/* '.' or '..' as the name, or as a component of it ("../../x"): an entry
 * that would leave its directory (git fsck's hasDot / hasDotdot). */
static int is_dotdot(const char *raw)
{
	int bad = 0;
	char *dec =
	        raw[0] == '%'
	                ? tier_percent_decode(raw + 1, strlen(raw + 1), 0, &bad)
	                : tier_strdup(raw);
	int dot = 0;
	if (!dec) {
		tier_error_clear();
		return 0;
	}
	for (char *p = dec; !dot;) {
		size_t n = strcspn(p, "/");
		dot = (n == 1 && p[0] == '.') ||
		      (n == 2 && p[0] == '.' && p[1] == '.');
		if (!p[n])
			break;
		p += n + 1;
	}
	free(dec);
	return dot;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/*
 * A directory that tier_snap_tree_check() refuses: every bad entry is its
 * own finding, marked in bad[] (not walked further).  why is the check's
 * message, used when no entry alone is at fault.
 */
static int bad_names(struct walk *w, const git_tree *t, unsigned char *bad,
                     const char *why)
{
	size_t n = git_tree_entrycount(t), found = 0;
	const char **names = tier_calloc(n ? n : 1, sizeof(*names));
	int rc = 0;

	if (!names)
		return TIER_ERROR;
	for (size_t i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const char *nm = git_tree_entry_name(e);
		names[i] = nm;
		if (!strcmp(nm, TIER_SNAP_DIRMETA)) {
			if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
				continue;
			bad[i] = 1;
			found++;
			rc = finding(
			        w, "bad-entry-type", entry_object(w, nm),
			        "directory %s: its metadata entry '%%' is a %s, "
			        "not a blob",
			        qpath(w),
			        git_object_type2string(git_tree_entry_type(e)));
			continue;
		}
		rc = tier_snap_name_decode(&w->name, w->keys, nm);
		if (rc == 0 || rc != TIER_ECORRUPT)
			continue;
		bad[i] = 1;
		found++;
		tier_buf_sets(&w->tmp, tier_error_last());
		char *msg = tier_buf_detach(&w->tmp);
		rc = msg ? finding(w,
		                   is_dotdot(nm) ? "dotdot-entry-name"
		                                 : "bad-entry-name",
		                   entry_object(w, nm), "directory %s: %s",
		                   qpath(w), msg)
		         : TIER_ERROR;
		free(msg);
	}
	qsort(names, n, sizeof(*names), cmp_names);
	for (size_t i = 1; i < n && rc == 0; i++) {
		size_t k = i;
		while (k < n && !strcmp(names[k], names[i - 1]))
			k++;
		if (k == i)
			continue;
		found++;
		rc = finding(
		        w, "duplicate-entries", entry_object(w, names[i - 1]),
		        "directory %s: entry %s appears %zu times", qpath(w),
		        tier_quote_name(names[i - 1]), k - i + 1);
		i = k;
	}
	if (rc == 0 && !found)
		rc = finding(w, "bad-entry-name", path_object(w),
		             "directory %s: %s", qpath(w), why);
	free(names);
	return rc;
}

static int visit_tree(struct walk *w, const git_oid *id, const char *what);

/* A file's (or, meta, its directory's) node blob; w->path names it. */
static int check_node(struct walk *w, const git_tree_entry *e, int meta)
{
	const git_oid *id = git_tree_entry_id(e);
	git_blob *blob = NULL;
	tier_node n;
	char what[600];
	int rc;

	if ((rc = tier_spillset_add(w->seen, id->id, NULL)) <= 0)
		return rc; /* checked already (or out of memory) */
	snprintf(what, sizeof(what), "%s %s",
	         meta ? "the metadata of directory" : "the node of", qpath(w));
	if ((rc = check_object(w, id, GIT_OBJECT_BLOB, TIER_MAX_NODE_BLOB, what,
	                       path_object(w))) != 0)
		return rc < 0 ? rc : 0;
	if (git_blob_lookup(&blob, w->repo, id) < 0) {
		const git_error *ge = git_error_last();
		return finding(w, "snapshot-corrupt", path_object(w),
		               "%s cannot be read: %s", what,
		               ge && ge->message ? ge->message : "unknown");
	}
	rc = tier_node_decode(&n, w->keys, git_blob_rawcontent(blob),
	                      (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	if (rc < 0) {
		if (rc == TIER_ERROR &&
		    !strcmp(tier_error_last(), "out of memory"))
			return rc;
		tier_buf_sets(&w->tmp, tier_error_last());
		char *msg = tier_buf_detach(&w->tmp);
		rc = msg ? finding(w, "bad-node", path_object(w),
		                   "%s does not parse: %s", what, msg)
		         : TIER_ERROR;
		free(msg);
		return rc;
	}
	size_t missing = 0;
	char first[TIER_HASH_HEXLEN + 1];
	for (size_t i = 0; !meta && w->map && i < n.nchunks; i++) {
		tier_chunk_loc loc;
		w->out->chunks_checked++;
		int found = tier_chunkmap_find(w->map, n.chunks[i].id, &loc);
		if (found <
		    0) { /* the map's file, not the tier: cannot go on */
			tier_node_dispose(&n);
			return found;
		}
		if (found)
			continue;
		if (!missing++)
			tier_hex(first, n.chunks[i].id, TIER_HASH_LEN);
	}
	tier_node_dispose(&n);
	if (missing > 1)
		return finding(w, "chunk-missing", path_object(w),
		               "file %s names chunk %.12s and %zu more that no "
		               "pack of the vault holds",
		               qpath(w), first, missing - 1);
	if (missing)
		return finding(w, "chunk-missing", path_object(w),
		               "file %s names chunk %.12s that no pack of the "
		               "vault holds",
		               qpath(w), first);
	return 0;
}

static int walk_tree(struct walk *w, const git_tree *t)
{
	size_t n = git_tree_entrycount(t), base = w->path.size;
	unsigned char *bad = NULL;
	int rc = tier_snap_tree_check(t, w->keys);

	if (rc == TIER_ECORRUPT) {
		tier_buf_sets(&w->tmp, tier_error_last());
		char *why = tier_buf_detach(&w->tmp);
		if (!why || !(bad = tier_calloc(n ? n : 1, 1))) {
			free(why);
			return TIER_ERROR;
		}
		rc = bad_names(w, t, bad, why);
		free(why);
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		const char *nm = git_tree_entry_name(e);
		git_object_t type = git_tree_entry_type(e);
		if (bad && bad[i])
			continue;
		if (!strcmp(nm, TIER_SNAP_DIRMETA)) {
			rc = check_node(w, e, 1);
			continue;
		}
		if ((rc = tier_snap_name_decode(&w->name, w->keys, nm)) < 0 ||
		    (rc = tier_buf_putc(&w->path, '/')) < 0 ||
		    (rc = tier_buf_put(&w->path, w->name.ptr, w->name.size)) <
		            0)
			break;
		if (type == GIT_OBJECT_TREE)
			rc = visit_tree(w, git_tree_entry_id(e), "directory");
		else if (type == GIT_OBJECT_BLOB)
			rc = check_node(w, e, 0);
		else
			rc = finding(
			        w, "bad-entry-type", path_object(w),
			        "entry %s is a %s, not a file or directory",
			        qpath(w), git_object_type2string(type));
		w->path.size = base;
		w->path.ptr[base] = '\0';
	}
	free(bad);
	return rc;
}

/* A snapshot directory (w->path names it), once per distinct tree. */
static int visit_tree(struct walk *w, const git_oid *id, const char *what)
{
	git_tree *t = NULL;
	char desc[600];
	int rc;

	if ((rc = tier_spillset_add(w->seen, id->id, NULL)) <= 0)
		return rc;
	snprintf(desc, sizeof(desc), "%s %s", what, qpath(w));
	if (w->depth >= MAX_DEPTH)
		return finding(w, "tree-too-deep", path_object(w),
		               "%s is nested deeper than %d directories: it is "
		               "not read",
		               desc, MAX_DEPTH);
	if ((rc = check_object(w, id, GIT_OBJECT_TREE, TIER_MAX_TREE, desc,
	                       path_object(w))) != 0)
		return rc < 0 ? rc : 0;
	if (git_tree_lookup(&t, w->repo, id) < 0) {
		const git_error *ge = git_error_last();
		return finding(w, "snapshot-corrupt", path_object(w),
		               "%s cannot be read: %s", desc,
		               ge && ge->message ? ge->message : "unknown");
	}
	w->depth++;
	rc = walk_tree(w, t);
	w->depth--;
	git_tree_free(t);
	return rc;
}

static int is_oom(int rc)
{
	return rc == TIER_ERROR && !strcmp(tier_error_last(), "out of memory");
}

/* One revision; the head's also loads the chunk map.  < 0: out of memory. */
static int check_revision(struct walk *w, const git_oid *commit, int is_head)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	git_oid rid;
	int rc;

	if (tier_log_commit_lookup(&c, w->repo, commit) < 0) {
		tier_error_clear();
		return 0; /* the chain check reports the commit */
	}
	const git_oid *tid = git_commit_tree_id(c);
	rc = check_object(w, tid, GIT_OBJECT_TREE, TIER_MAX_TREE,
	                  "the revision's tree", NULL);
	if (rc == 0 && git_tree_lookup(&t, w->repo, tid) < 0)
		rc = finding(w, "commit-unreadable", NULL,
		             "the revision's tree cannot be read");
	git_commit_free(c);
	if (rc != 0)
		return rc < 0 ? rc : 0;
	if (is_head && (rc = tier_chunkmap_load(&w->map, w->repo, t,
	                                        w->state_dir, w->keys)) < 0) {
		w->map = NULL;
		if (is_oom(rc))
			goto out;
		tier_buf_sets(&w->tmp, tier_error_last());
		char *msg = tier_buf_detach(&w->tmp);
		rc = msg ? finding(w, "index-corrupt", "index",
		                   "the pack index cannot be read: %s", msg)
		         : TIER_ERROR;
		free(msg);
		if (rc < 0)
			goto out;
	}
	rc = 0;
	if (tier_snap_part(&rid, t, TIER_SNAP_ROOT) == 0) {
		tier_buf_clear(&w->path);
		w->depth = 0;
		rc = visit_tree(w, &rid, "the snapshot");
	}
out:
	git_tree_free(t);
	return rc;
}

int tier_fsck_snap_check(tier_fsck_snap *out, git_repository *repo,
                         const git_oid *head, const char *state_dir,
                         const tier_keys *keys)
{
	struct walk w;
	git_oid cur;
	tier_forgotten *forgotten = NULL;
	uint64_t n = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&w, 0, sizeof(w));
	w.repo = repo;
	w.state_dir = state_dir;
	w.keys = keys;
	w.out = out;
	/* every distinct tree and node of every revision: on disk past a
	 * few MiB (issue 15); exact, a false "seen" would skip a check */
	if ((rc = tier_spillset_new(&w.seen, GIT_OID_RAWSZ, 0, NULL,
	                            tier_fsck_snap_mem_records)) < 0)
		return rc;
	if ((rc = git_repository_odb(&w.odb, repo)) < 0) {
		tier_spillset_free(w.seen);
		return tier_error_from_git(rc, "cannot open the log's objects");
	}
	if (tier_log_count(&n, repo, head) < 0) {
		tier_error_clear(); /* the chain check says why */
		n = 0;
	}
	/* a forgotten revision is meant to lack data (a prune freed it):
	 * the forgets sit above what they name, so the walk down meets
	 * them first */
	if (!(forgotten = tier_forgotten_new())) {
		rc = TIER_ERROR;
		goto done;
	}
	git_oid_cpy(&cur, head);
	for (uint64_t k = 0;; k++) {
		tier_commit_info ci;
		w.rev = n > k ? n - k : 0;
		if (tier_commit_info_read(&ci, repo, &cur) == 0 &&
		    !strcmp(ci.op, "forget") &&
		    (rc = tier_forgotten_note(forgotten, repo, &cur, w.rev)) ==
		            TIER_ERROR)
			break;
		tier_error_clear();
		if (k > 0 && tier_forgotten_by(forgotten, w.rev))
			out->forgotten++;
		else if ((rc = check_revision(&w, &cur, k == 0)) < 0)
			break;
		rc = tier_log_first_parent(&cur, repo, &cur);
		if (rc <= 0) {
			tier_error_clear();
			rc = 0;
			break;
		}
	}
done:
	tier_forgotten_free(forgotten);
	tier_chunkmap_free(w.map);
	git_odb_free(w.odb);
	tier_spillset_free(w.seen);
	tier_buf_dispose(&w.path);
	tier_buf_dispose(&w.name);
	tier_buf_dispose(&w.obj);
	tier_buf_dispose(&w.tmp);
	return rc;
}

void tier_fsck_snap_dispose(tier_fsck_snap *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->findings.length; i++) {
		tier_fsck_finding *f = s->findings.ptr[i];
		free(f->object);
		free(f->message);
		free(f);
	}
	tier_vec_dispose(&s->findings, NULL);
}
