/*
 * tier-fsck: verify every tier of a vault, and mend packs from another
 * tier.  The problem ids and what they mean are in docs/fsck.md.
 */
#include "tier/fsck.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "pack.h"
#include "snapshot.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/posix.h"
#include "vault.h"

#define SHORT 12 /* hex digits of an id in messages */

/* What the head revision says about one data pack. */
enum pack_state { PACK_OK = 0, PACK_MISSING, PACK_SIZE, PACK_CORRUPT, PACK_UNREADABLE };

struct packref {
	unsigned char id[TIER_HASH_LEN];
	uint64_t size; /* from its trailer in the log */
	char path[80];
	enum pack_state state;
	size_t problem; /* index in run.problems when state != PACK_OK */
};

/* A chunk reference the snapshot makes that no pack holds. */
struct missing {
	char *path;
	char chunk[TIER_HASH_HEXLEN + 1];
	size_t count; /* missing chunks of that file */
};

/* The snapshot check of one head, shared by every tier at that head. */
struct headcheck {
	git_oid head;
	int failed;           /* the snapshot could not be read: msg */
	char *msg;
	const char *fail_id;
	tier_vec missing;     /* struct missing * */
};

struct run {
	tier_vault *v;
	git_repository *cache;
	const tier_fsck_options *o;
	tier_vec problems;    /* tier_fsck_problem * */
	size_t emitted;       /* problems[0..emitted) went to the callback */
	tier_vec heads;       /* struct headcheck * */
	tier_fsck_report *r;
	int stop;             /* a callback asked to stop */
};

const char *tier_fsck_severity_name(tier_fsck_severity s)
{
	switch (s) {
	case TIER_FSCK_INFO: return "info";
	case TIER_FSCK_WARNING: return "warning";
	case TIER_FSCK_ERROR: return "error";
	}
	return "error";
}

/* ---- problems -------------------------------------------------------- */

static void problem_free(void *p)
{
	tier_fsck_problem *x = p;
	if (!x)
		return;
	free((char *)x->tier);
	free((char *)x->object);
	free((char *)x->message);
	free(x);
}

static int add_problem(struct run *r, size_t *index, const char *id, tier_fsck_severity sev,
                       const char *tier, const char *object, const char *fmt, ...)
	TIER_PRINTF(7, 8);

static int add_problem(struct run *r, size_t *index, const char *id, tier_fsck_severity sev,
                       const char *tier, const char *object, const char *fmt, ...)
{
	tier_buf msg = TIER_BUF_INIT;
	va_list ap;
	tier_fsck_problem *p = tier_calloc(1, sizeof(*p));
	if (!p)
		return TIER_ERROR;
	va_start(ap, fmt);
	int rc = tier_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	p->id = id; /* ids are string literals */
	p->severity = sev;
	p->tier = tier ? tier_strdup(tier) : NULL;
	p->object = object ? tier_strdup(object) : NULL;
	/* one line, whatever a nested error message held */
	for (size_t i = 0; i < msg.size; i++)
		if (msg.ptr[i] == '\n' || msg.ptr[i] == '\r')
			msg.ptr[i] = ' ';
	p->message = tier_buf_detach(&msg);
	if (rc < 0 || !p->message || (tier && !p->tier) || (object && !p->object) ||
	    tier_vec_push(&r->problems, p) < 0) {
		problem_free(p);
		return TIER_ERROR;
	}
	if (index)
		*index = r->problems.length - 1;
	return 0;
}

/* Append text to a problem's message (what repair did about it). */
static int problem_note(struct run *r, size_t index, const char *fmt, ...) TIER_PRINTF(3, 4);
static int problem_note(struct run *r, size_t index, const char *fmt, ...)
{
	tier_fsck_problem *p = r->problems.ptr[index];
	tier_buf msg = TIER_BUF_INIT;
	va_list ap;
	tier_buf_puts(&msg, p->message);
	va_start(ap, fmt);
	int rc = tier_buf_vprintf(&msg, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		tier_buf_dispose(&msg);
		return TIER_ERROR;
	}
	free((char *)p->message);
	p->message = tier_buf_detach(&msg);
	return 0;
}

/* Hand the problems found since the last flush to the callback. */
static int flush(struct run *r)
{
	for (; r->emitted < r->problems.length; r->emitted++)
		if (r->o->problem && !r->stop && r->o->problem(r->problems.ptr[r->emitted], r->o->payload))
			r->stop = 1;
	if (r->stop)
		return tier_error_set(TIER_EABORTED, "fsck cancelled");
	return 0;
}

static int progress(struct run *r, const char *tier, uint64_t done, uint64_t total)
{
	if (r->o->progress && !r->stop &&
	    r->o->progress(tier, done, total, r->r->bytes_read, r->o->payload))
		r->stop = 1;
	if (r->stop)
		return tier_error_set(TIER_EABORTED, "fsck cancelled");
	return 0;
}

static const char *short_oid(char out[SHORT + 1], const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	snprintf(out, SHORT + 1, "%s", hex);
	return out;
}

/* ---- downloads -------------------------------------------------------- */

struct fdsink {
	int fd;
	const char *path;
	struct run *r;
	int rc;
};

static int fd_sink(const void *data, size_t len, void *payload)
{
	struct fdsink *s = payload;
	if ((s->rc = tier_write_all(s->fd, data, len, s->path)) < 0)
		return 1;
	s->r->r->bytes_read += len;
	return 0;
}

/*
 * Download an object to a new temporary file; *fd stays open (for a put),
 * the caller unlinks path and closes fd.  A whole pack never sits in memory.
 */
static int download(struct run *r, tier_location *loc, const char *obj, tier_buf *path, int *fd)
{
	const char *base = getenv("TMPDIR");
	tier_buf_clear(path);
	if (tier_buf_printf(path, "%s/tier-fsck-XXXXXX", base && *base ? base : "/tmp") < 0)
		return TIER_ERROR;
	if ((*fd = mkstemp(path->ptr)) < 0)
		return tier_error_set_errno(TIER_ERROR, errno, "cannot create a temporary file in '%s'",
		                            base && *base ? base : "/tmp");
	struct fdsink s = {*fd, path->ptr, r, 0};
	int rc = tier_location_get(loc, obj, 0, UINT64_MAX, fd_sink, &s);
	if (rc == TIER_EABORTED && s.rc < 0)
		rc = s.rc;
	if (rc < 0) {
		unlink(path->ptr);
		close(*fd);
		*fd = -1;
	}
	return rc;
}

static void discard(tier_buf *path, int *fd)
{
	if (*fd >= 0) {
		unlink(path->ptr);
		close(*fd);
		*fd = -1;
	}
}

/* ---- installation state ------------------------------------------------ */

static int check_state(struct run *r, const tier_tier_info *in)
{
	const char *why = in->problem ? in->problem : "";
	switch (in->state) {
	case TIER_STATE_OFFLINE:
		return add_problem(r, NULL, "tier-offline", TIER_FSCK_WARNING, in->name, NULL,
		                   "tier '%s' is offline, fsck cannot vouch for it: %s", in->name,
		                   *why ? why : "no answer");
	case TIER_STATE_FOREIGN:
		return add_problem(r, NULL, "foreign-writer", TIER_FSCK_WARNING, in->name, in->head,
		                   "%s", why);
	case TIER_STATE_ROLLED_BACK:
		return add_problem(r, NULL, "rolled-back", TIER_FSCK_WARNING, in->name,
		                   in->head[0] ? in->head : NULL, "%s", why);
	case TIER_STATE_OTHER_VAULT:
		return add_problem(r, NULL, "other-vault", TIER_FSCK_ERROR, in->name, NULL, "%s", why);
	case TIER_STATE_DAMAGED:
		return add_problem(r, NULL, "log-damaged", TIER_FSCK_ERROR, in->name, TIER_LOG_DIR,
		                   "tier '%s': its log cannot be read: %s", in->name, why);
	default:
		return 0;
	}
}

/* ---- log structure ---------------------------------------------------- */

static const char GIT_HEAD[] = "ref: refs/heads/main\n";
static const char GIT_CONFIG[] = "[core]\n\trepositoryformatversion = 0\n"
                                 "\tfilemode = true\n\tbare = true\n";

/* log.git/HEAD and log.git/config make the log a repository stock git reads. */
static int check_git_files(struct run *r, tier_location *loc, const char *tier)
{
	static const struct {
		const char *path;
		const char *content;
	} files[] = {{"log.git/HEAD", GIT_HEAD}, {"log.git/config", GIT_CONFIG}};
	for (size_t i = 0; i < 2; i++) {
		tier_stat st;
		size_t idx;
		int rc = tier_location_stat(loc, files[i].path, &st);
		if (rc == TIER_EOFFLINE)
			return rc;
		if (rc == 0 && !st.is_dir)
			continue;
		int is_dir = rc == 0; /* a directory in the way: not ours to remove */
		if ((rc = add_problem(r, &idx, "log-file-missing", TIER_FSCK_ERROR, tier, files[i].path,
		                      "tier '%s': '%s' is missing, stock git cannot read the log",
		                      tier, files[i].path)) < 0)
			return rc;
		if (!r->o->repair || is_dir)
			continue;
		/* the content is the same on every tier: write it again */
		rc = tier_location_put_mem(loc, files[i].path, files[i].content,
		                           strlen(files[i].content), 0);
		if (rc == 0 && tier_location_stat(loc, files[i].path, &st) == 0 && !st.is_dir) {
			((tier_fsck_problem *)r->problems.ptr[idx])->repaired = 1;
			problem_note(r, idx, "; written again");
		} else if (rc < 0) {
			problem_note(r, idx, "; cannot write it: %s", tier_error_last());
		}
	}
	return 0;
}

/*
 * Walk the first-parent chain from head: every commit readable, its
 * Tier-Revision its position, its Tier-Vault ours.
 */
static int check_chain(struct run *r, const char *tier, const git_oid *head)
{
	git_revwalk *walk = NULL;
	git_oid *ids = NULL, oid;
	size_t n = 0, cap = 0;
	char hex[GIT_OID_HEXSZ + 1], sh[SHORT + 1];
	const char *vault = tier_vault_id(r->v);
	int rc;

	git_oid_tostr(hex, sizeof(hex), head);
	if ((rc = git_revwalk_new(&walk, r->cache)) < 0 || (rc = git_revwalk_push(walk, head)) < 0)
		goto broken;
	git_revwalk_simplify_first_parent(walk);
	while ((rc = git_revwalk_next(&oid, walk)) == 0) {
		if (n == cap) {
			cap = cap ? cap * 2 : 256;
			git_oid *ni = tier_realloc(ids, cap * sizeof(*ids));
			if (!ni) {
				rc = TIER_ERROR;
				goto out;
			}
			ids = ni;
		}
		git_oid_cpy(&ids[n++], &oid);
	}
	if (rc != GIT_ITEROVER)
		goto broken;
	rc = 0;
	/* ids[0] is the head: revision n; ids[n-1] the root: revision 1 */
	for (size_t k = 0; k < n && rc == 0; k++) {
		tier_commit_info ci;
		uint64_t pos = n - k;
		git_oid_tostr(hex, sizeof(hex), &ids[k]);
		if (tier_commit_info_read(&ci, r->cache, &ids[k]) < 0) {
			if (tier_error_last_code() == TIER_ECORRUPT)
				rc = add_problem(r, NULL, "revision-mismatch", TIER_FSCK_ERROR, tier, hex,
				                 "tier '%s': commit %s (revision %llu of its log) has no valid "
				                 "Tier-Revision trailer",
				                 tier, short_oid(sh, &ids[k]), (unsigned long long)pos);
			else
				rc = add_problem(r, NULL, "commit-unreadable", TIER_FSCK_ERROR, tier, hex,
				                 "tier '%s': %s", tier, tier_error_last());
			continue;
		}
		if (ci.revision != pos)
			rc = add_problem(r, NULL, "revision-mismatch", TIER_FSCK_ERROR, tier, hex,
			                 "tier '%s': commit %s says Tier-Revision %llu but is revision %llu "
			                 "of the log",
			                 tier, short_oid(sh, &ids[k]), (unsigned long long)ci.revision,
			                 (unsigned long long)pos);
		if (rc == 0 && vault[0] && strcmp(ci.vault, vault) != 0)
			rc = add_problem(r, NULL, "vault-mismatch", TIER_FSCK_ERROR, tier, hex,
			                 "tier '%s': commit %s belongs to vault '%.12s', not to vault %.12s",
			                 tier, short_oid(sh, &ids[k]), ci.vault, vault);
	}
	goto out;
broken:
	{
		const git_error *e = git_error_last();
		rc = add_problem(r, NULL, "commit-unreadable", TIER_FSCK_ERROR, tier, hex,
		                 "tier '%s': the log below head %s cannot be walked: %s", tier,
		                 short_oid(sh, head), e && e->message ? e->message : "unknown error");
	}
out:
	git_revwalk_free(walk);
	free(ids);
	return rc;
}

/* ---- the packs a revision lists ---------------------------------------- */

static int cmp_pack(const void *a, const void *b)
{
	const struct packref *x = *(const struct packref *const *)a;
	const struct packref *y = *(const struct packref *const *)b;
	return memcmp(x->id, y->id, TIER_HASH_LEN);
}

struct index_walk {
	struct run *r;
	const char *tier;
	tier_vec *packs;
	int rc;
};

static int index_entry(const char *root, const git_tree_entry *e, void *payload)
{
	struct index_walk *w = payload;
	git_blob *blob = NULL;
	tier_pack_trailer tr;
	const char *name = git_tree_entry_name(e);
	(void)root;
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	struct packref *p = tier_calloc(1, sizeof(*p));
	if (!p) {
		w->rc = TIER_ERROR;
		return -1;
	}
	int rc = 0;
	if (strlen(name) != TIER_HASH_HEXLEN || tier_unhex(p->id, TIER_HASH_LEN, name) < 0)
		rc = add_problem(w->r, NULL, "index-corrupt", TIER_FSCK_ERROR, w->tier, name,
		                 "tier '%s': pack index entry '%s' in the log is not a pack id", w->tier,
		                 name);
	else if (git_blob_lookup(&blob, w->r->cache, git_tree_entry_id(e)) < 0)
		rc = add_problem(w->r, NULL, "index-corrupt", TIER_FSCK_ERROR, w->tier, name,
		                 "tier '%s': the index of pack %.12s is missing from the log", w->tier,
		                 name);
	else if (tier_pack_trailer_parse(&tr, git_blob_rawcontent(blob),
	                                 (size_t)git_blob_rawsize(blob), name) < 0)
		rc = add_problem(w->r, NULL, "index-corrupt", TIER_FSCK_ERROR, w->tier, name,
		                 "tier '%s': the index of pack %.12s in the log is unreadable: %s",
		                 w->tier, name, tier_error_last());
	else {
		p->size = tr.pack_size;
		tier_data_pack_path(p->path, p->id);
		git_blob_free(blob);
		if (tier_vec_push(w->packs, p) < 0) {
			free(p);
			w->rc = TIER_ERROR;
			return -1;
		}
		return 0;
	}
	git_blob_free(blob);
	free(p);
	if (rc < 0) {
		w->rc = rc;
		return -1;
	}
	return 0;
}

/* The packs of the revision at head, sorted by id. */
static int load_packs(struct run *r, const char *tier, const git_oid *head, tier_vec *packs)
{
	git_commit *c = NULL;
	git_tree *tree = NULL, *index = NULL;
	git_oid iid;
	char sh[SHORT + 1];
	int rc;

	if ((rc = git_commit_lookup(&c, r->cache, head)) < 0 ||
	    (rc = git_commit_tree(&tree, c)) < 0) {
		rc = add_problem(r, NULL, "commit-unreadable", TIER_FSCK_ERROR, tier, NULL,
		                 "tier '%s': the tree of head %s cannot be read", tier,
		                 short_oid(sh, head));
		goto out;
	}
	if (tier_snap_part(&iid, tree, TIER_SNAP_INDEX) < 0)
		goto out; /* no data yet */
	if (git_tree_lookup(&index, r->cache, &iid) < 0) {
		rc = add_problem(r, NULL, "index-corrupt", TIER_FSCK_ERROR, tier, "index",
		                 "tier '%s': the pack index tree of head %s is missing from the log",
		                 tier, short_oid(sh, head));
		goto out;
	}
	struct index_walk w = {r, tier, packs, 0};
	if ((rc = git_tree_walk(index, GIT_TREEWALK_PRE, index_entry, &w)) < 0)
		rc = w.rc ? w.rc
		          : add_problem(r, NULL, "index-corrupt", TIER_FSCK_ERROR, tier, "index",
		                        "tier '%s': the pack index tree of head %s is unreadable", tier,
		                        short_oid(sh, head));
	tier_vec_sort(packs, cmp_pack);
out:
	git_tree_free(index);
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

/* ---- snapshot: every chunk a file names is in the chunk map ------------- */

struct snapwalk {
	struct run *r;
	struct headcheck *h;
	const tier_chunkmap *map;
	tier_buf path;
};

static int snap_tree(struct snapwalk *s, const git_tree *tree);

static int snap_entry(struct snapwalk *s, const git_tree_entry *e)
{
	tier_node n;
	git_blob *blob = NULL;
	int rc;

	if (git_tree_entry_type(e) == GIT_OBJECT_TREE) {
		git_tree *sub = NULL;
		if (git_tree_lookup(&sub, s->r->cache, git_tree_entry_id(e)) < 0)
			return tier_error_set(TIER_ECORRUPT, "directory '%s' of the snapshot is missing",
			                      tier_buf_cstr(&s->path));
		rc = snap_tree(s, sub);
		git_tree_free(sub);
		return rc;
	}
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	if (git_blob_lookup(&blob, s->r->cache, git_tree_entry_id(e)) < 0)
		return tier_error_set(TIER_ECORRUPT, "entry '%s' of the snapshot is missing",
		                      tier_buf_cstr(&s->path));
	rc = tier_node_decode(&n, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob));
	git_blob_free(blob);
	if (rc < 0)
		return tier_error_prefix("entry '%s' of the snapshot", tier_buf_cstr(&s->path));
	struct missing *m = NULL;
	for (size_t i = 0; i < n.nchunks; i++) {
		s->r->r->chunks_checked++;
		if (tier_chunkmap_find(s->map, n.chunks[i].id))
			continue;
		if (m) {
			m->count++;
			continue;
		}
		if (!(m = tier_calloc(1, sizeof(*m))) || !(m->path = tier_strdup(tier_buf_cstr(&s->path))) ||
		    tier_vec_push(&s->h->missing, m) < 0) {
			if (m)
				free(m->path);
			free(m);
			tier_node_dispose(&n);
			return TIER_ERROR;
		}
		tier_hex(m->chunk, n.chunks[i].id, TIER_HASH_LEN);
		m->count = 1;
	}
	tier_node_dispose(&n);
	return 0;
}

static int snap_tree(struct snapwalk *s, const git_tree *tree)
{
	size_t base = s->path.size, count = git_tree_entrycount(tree);
	tier_buf name = TIER_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < count && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(tree, i);
		if (!strcmp(git_tree_entry_name(e), TIER_SNAP_DIRMETA))
			continue; /* a directory's own metadata: no chunks */
		if ((rc = tier_snap_name_decode(&name, git_tree_entry_name(e))) < 0)
			break;
		if ((rc = tier_buf_putc(&s->path, '/')) < 0 ||
		    (rc = tier_buf_put(&s->path, name.ptr, name.size)) < 0)
			break;
		rc = snap_entry(s, e);
		s->path.size = base;
		s->path.ptr[base] = '\0';
	}
	tier_buf_dispose(&name);
	return rc;
}

static void headcheck_free(void *p)
{
	struct headcheck *h = p;
	if (!h)
		return;
	for (size_t i = 0; i < h->missing.length; i++) {
		struct missing *m = h->missing.ptr[i];
		free(m->path);
		free(m);
	}
	tier_vec_dispose(&h->missing, NULL);
	free(h->msg);
	free(h);
}

/* Check the snapshot of head once; every tier at that head shares the verdict. */
static int snapshot_check(struct run *r, const git_oid *head, struct headcheck **out)
{
	for (size_t i = 0; i < r->heads.length; i++) {
		struct headcheck *h = r->heads.ptr[i];
		if (git_oid_equal(&h->head, head)) {
			*out = h;
			return 0;
		}
	}
	struct headcheck *h = tier_calloc(1, sizeof(*h));
	if (!h || tier_vec_push(&r->heads, h) < 0) {
		free(h);
		return TIER_ERROR;
	}
	git_oid_cpy(&h->head, head);
	*out = h;

	git_commit *c = NULL;
	git_tree *tree = NULL, *root = NULL;
	tier_chunkmap *map = NULL;
	git_oid rid;
	int rc;
	if (git_commit_lookup(&c, r->cache, head) < 0 || git_commit_tree(&tree, c) < 0) {
		git_commit_free(c);
		return 0; /* reported by load_packs already */
	}
	if (tier_chunkmap_load(&map, r->cache, tree) < 0) {
		h->failed = 1;
		h->fail_id = "index-corrupt";
		h->msg = tier_strdup(tier_error_last());
		goto out;
	}
	if (tier_snap_part(&rid, tree, TIER_SNAP_ROOT) < 0)
		goto out; /* nothing backed up yet */
	struct snapwalk s = {r, h, map, TIER_BUF_INIT};
	if (git_tree_lookup(&root, r->cache, &rid) < 0)
		rc = tier_error_set(TIER_ECORRUPT, "the snapshot tree is missing from the log");
	else
		rc = snap_tree(&s, root);
	tier_buf_dispose(&s.path);
	if (rc == TIER_ERROR && !strcmp(tier_error_last(), "out of memory"))
		goto oom;
	if (rc < 0) {
		h->failed = 1;
		h->fail_id = "snapshot-corrupt";
		h->msg = tier_strdup(tier_error_last());
	}
out:
	tier_chunkmap_free(map);
	git_tree_free(root);
	git_tree_free(tree);
	git_commit_free(c);
	return 0;
oom:
	tier_chunkmap_free(map);
	git_tree_free(root);
	git_tree_free(tree);
	git_commit_free(c);
	return TIER_ERROR;
}

static int report_snapshot(struct run *r, const char *tier, const struct headcheck *h)
{
	int rc = 0;
	char sh[SHORT + 1];
	if (h->failed)
		rc = add_problem(r, NULL, h->fail_id, TIER_FSCK_ERROR, tier, NULL,
		                 "tier '%s': the snapshot of head %s is unreadable: %s", tier,
		                 short_oid(sh, &h->head), h->msg ? h->msg : "out of memory");
	for (size_t i = 0; i < h->missing.length && rc == 0; i++) {
		const struct missing *m = h->missing.ptr[i];
		if (m->count > 1)
			rc = add_problem(r, NULL, "chunk-missing", TIER_FSCK_ERROR, tier, m->path,
			                 "tier '%s': file '%s' names chunk %.12s and %zu more that no pack "
			                 "of the vault holds",
			                 tier, m->path, m->chunk, m->count - 1);
		else
			rc = add_problem(r, NULL, "chunk-missing", TIER_FSCK_ERROR, tier, m->path,
			                 "tier '%s': file '%s' names chunk %.12s that no pack of the vault "
			                 "holds",
			                 tier, m->path, m->chunk);
	}
	return rc;
}

/* ---- data packs on one tier ------------------------------------------- */

/*
 * Check one pack on a tier: present, of the right size, and with
 * read_data whole and sound.  Returns its state, or a negative code when
 * the tier went offline (or fsck cannot go on).  *why gets the reason.
 */
static int pack_probe(struct run *r, tier_location *loc, const struct packref *p, int read_data,
                      tier_buf *why)
{
	tier_stat st;
	tier_buf tmp = TIER_BUF_INIT;
	int fd = -1;
	int rc = tier_location_stat(loc, p->path, &st);
	tier_buf_clear(why);
	if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
		return rc;
	if (rc == TIER_ENOTFOUND || (rc == 0 && st.is_dir))
		return PACK_MISSING;
	if (rc < 0) {
		tier_buf_sets(why, tier_error_last());
		return PACK_UNREADABLE;
	}
	if (st.size != p->size) {
		tier_buf_printf(why, "%llu bytes, its trailer in the log says %llu",
		                (unsigned long long)st.size, (unsigned long long)p->size);
		return PACK_SIZE;
	}
	if (!read_data)
		return PACK_OK;
	if ((rc = download(r, loc, p->path, &tmp, &fd)) < 0) {
		tier_buf_dispose(&tmp);
		if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
			return rc;
		if (rc == TIER_ENOTFOUND)
			return PACK_MISSING;
		if (rc == TIER_ERROR && !strncmp(tier_error_last(), "cannot create a temporary", 25))
			return rc; /* our side: no point going on */
		tier_buf_sets(why, tier_error_last());
		return PACK_UNREADABLE;
	}
	rc = tier_pack_verify(tmp.ptr, p->id, NULL);
	r->r->packs_read++;
	if (rc < 0)
		tier_buf_sets(why, tier_error_last());
	discard(&tmp, &fd);
	tier_buf_dispose(&tmp);
	if (rc == TIER_ECORRUPT || rc == TIER_EUNSUPPORTED)
		return PACK_CORRUPT;
	if (rc < 0)
		return PACK_UNREADABLE;
	return PACK_OK;
}

static int pack_problem(struct run *r, struct packref *p, const char *tier, const char *why)
{
	char hex[TIER_HASH_HEXLEN + 1];
	const char *id = NULL;
	tier_hex(hex, p->id, TIER_HASH_LEN);
	switch (p->state) {
	case PACK_MISSING:
		return add_problem(r, &p->problem, "pack-missing", TIER_FSCK_ERROR, tier, p->path,
		                   "tier '%s': pack data/%.2s/%.12s... is missing", tier, hex, hex);
	case PACK_SIZE:
		return add_problem(r, &p->problem, "pack-size", TIER_FSCK_ERROR, tier, p->path,
		                   "tier '%s': pack data/%.2s/%.12s... is truncated or overlong: %s", tier,
		                   hex, hex, why);
	case PACK_CORRUPT:
		id = "pack-corrupt";
		break;
	case PACK_UNREADABLE:
		id = "pack-unreadable";
		break;
	default:
		return 0;
	}
	/* tier_pack_verify names the damaged chunk in full: keep it short */
	if (p->state == PACK_CORRUPT && !strncmp(why, "chunk ", 6) && strlen(why) > 6 + SHORT &&
	    strstr(why, "fails its hash"))
		return add_problem(r, &p->problem, id, TIER_FSCK_ERROR, tier, p->path,
		                   "tier '%s': pack data/%.2s/%.12s... fails its hash (chunk %.12s... "
		                   "damaged)",
		                   tier, hex, hex, why + 6);
	return add_problem(r, &p->problem, id, TIER_FSCK_ERROR, tier, p->path,
	                   "tier '%s': pack data/%.2s/%.12s... %s: %s", tier, hex, hex,
	                   p->state == PACK_CORRUPT ? "fails its check" : "cannot be read", why);
}

/*
 * Mend pack p on tier ti from another tier where it verifies, then check
 * it again on ti.  Never touches a log.
 */
static int repair_pack(struct run *r, size_t ti, struct packref *p)
{
	tier_location *dst = tier_vault_location(r->v, ti);
	tier_buf tmp = TIER_BUF_INIT, why = TIER_BUF_INIT, tried = TIER_BUF_INIT;
	int fd = -1, rc = 0, done = 0;

	for (size_t j = 0; j < tier_vault_tier_count(r->v) && !done; j++) {
		const tier_tier_info *in = tier_vault_tier_info(r->v, j);
		tier_location *src = tier_vault_location(r->v, j);
		tier_stat st;
		if (j == ti || !in->online || in->state == TIER_STATE_OFFLINE ||
		    in->state == TIER_STATE_OTHER_VAULT || tier_location_is_offline(src))
			continue;
		if ((rc = tier_location_stat(src, p->path, &st)) < 0 || st.size != p->size) {
			if (rc == TIER_EABORTED)
				goto out;
			tier_buf_printf(&tried, "%s'%s' %s", tried.size ? ", " : "", in->name,
			                rc == 0 ? "has a bad copy too" : "has none");
			rc = 0;
			continue;
		}
		if ((rc = download(r, src, p->path, &tmp, &fd)) < 0) {
			if (rc == TIER_EABORTED)
				goto out;
			tier_buf_printf(&tried, "%s'%s': %s", tried.size ? ", " : "", in->name,
			                tier_error_last());
			rc = 0;
			continue;
		}
		if (tier_pack_verify(tmp.ptr, p->id, NULL) < 0) {
			tier_buf_printf(&tried, "%s'%s' has a bad copy too", tried.size ? ", " : "",
			                in->name);
			discard(&tmp, &fd);
			continue;
		}
		tier_source s = {NULL, fd, p->size};
		rc = tier_location_put(dst, p->path, &s, 0);
		discard(&tmp, &fd);
		if (rc < 0) {
			if (rc == TIER_EABORTED)
				goto out;
			problem_note(r, p->problem, "; cannot copy it from tier '%s': %s", in->name,
			             tier_error_last());
			rc = 0;
			goto out;
		}
		/* trust nothing: check the copy where it landed */
		int st2 = pack_probe(r, dst, p, r->o->read_data, &why);
		if (st2 < 0) {
			rc = st2;
			goto out;
		}
		if (st2 == PACK_OK) {
			((tier_fsck_problem *)r->problems.ptr[p->problem])->repaired = 1;
			problem_note(r, p->problem, "; repaired from tier '%s'", in->name);
		} else {
			problem_note(r, p->problem, "; copied from tier '%s' but still bad: %s", in->name,
			             tier_buf_cstr(&why));
		}
		done = 1;
	}
	if (!done)
		problem_note(r, p->problem, "; cannot repair: no other tier holds a good copy%s%s%s",
		             tried.size ? " (" : "", tier_buf_cstr(&tried), tried.size ? ")" : "");
out:
	discard(&tmp, &fd);
	tier_buf_dispose(&tmp);
	tier_buf_dispose(&why);
	tier_buf_dispose(&tried);
	return rc;
}

/* Packs under data/ that the tier's head does not list (left by an
 * interrupted push or a sync under way): info only. */
struct listing {
	struct run *r;
	tier_location *loc;
	const tier_vec *packs;
	const char *tier;
	const char *dir;
	int rc;
};

static int list_pack(const char *name, const tier_stat *st, void *payload)
{
	struct listing *l = payload;
	struct packref key, *kp = &key;
	char path[80];
	if (st->is_dir || strlen(name) != TIER_HASH_HEXLEN ||
	    tier_unhex(key.id, TIER_HASH_LEN, name) < 0) {
		tier_error_clear();
		return 0;
	}
	if (l->packs->length &&
	    bsearch(&kp, l->packs->ptr, l->packs->length, sizeof(void *), cmp_pack))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", l->dir, name);
	if ((l->rc = add_problem(l->r, NULL, "pack-unreferenced", TIER_FSCK_INFO, l->tier, path,
	                         "tier '%s': pack data/%.2s/%.12s... is not listed by the tier's "
	                         "head revision",
	                         l->tier, name, name)) < 0)
		return 1;
	return 0;
}

static int list_fan(const char *name, const tier_stat *st, void *payload)
{
	struct listing *l = payload;
	char dir[16];
	(void)st;
	if (strlen(name) != 2)
		return 0;
	snprintf(dir, sizeof(dir), "data/%s", name);
	struct listing sub = *l;
	sub.dir = dir;
	int rc = tier_location_list(l->loc, dir, list_pack, &sub);
	if (sub.rc < 0) {
		l->rc = sub.rc;
		return 1;
	}
	if (rc < 0 && rc != TIER_ENOTFOUND) {
		l->rc = rc;
		return 1;
	}
	return 0;
}

static int check_unreferenced(struct run *r, tier_location *loc, const char *tier,
                              const tier_vec *packs)
{
	struct listing l = {r, loc, packs, tier, "data", 0};
	int rc = tier_location_list(loc, "data", list_fan, &l);
	if (l.rc < 0)
		return l.rc;
	if (rc == TIER_ENOTFOUND)
		return 0;
	return rc;
}

static int check_packs(struct run *r, size_t ti, const char *tier, tier_vec *packs)
{
	tier_location *loc = tier_vault_location(r->v, ti);
	tier_buf why = TIER_BUF_INIT;
	int rc = 0;

	for (size_t k = 0; k < packs->length && rc == 0; k++) {
		struct packref *p = packs->ptr[k];
		if ((rc = progress(r, tier, k, packs->length)) < 0)
			break;
		int st = pack_probe(r, loc, p, r->o->read_data, &why);
		r->r->packs_checked++;
		if (st < 0) {
			rc = st;
			break;
		}
		p->state = (enum pack_state)st;
		if (p->state != PACK_OK)
			rc = pack_problem(r, p, tier, tier_buf_cstr(&why));
	}
	if (rc == 0)
		rc = progress(r, tier, packs->length, packs->length);
	for (size_t k = 0; k < packs->length && rc == 0 && r->o->repair; k++) {
		struct packref *p = packs->ptr[k];
		if (p->state != PACK_OK && p->state != PACK_UNREADABLE)
			rc = repair_pack(r, ti, p);
	}
	if (rc == 0)
		rc = check_unreferenced(r, loc, tier, packs);
	tier_buf_dispose(&why);
	return rc;
}

/* ---- one tier ----------------------------------------------------------- */

static int check_tier(struct run *r, size_t ti)
{
	const tier_tier_info *in = tier_vault_tier_info(r->v, ti);
	tier_location *loc = tier_vault_location(r->v, ti);
	tier_vec packs = TIER_VEC_INIT;
	struct headcheck *h = NULL;
	git_oid head;
	int rc;

	if ((rc = check_state(r, in)) < 0)
		return rc;
	if (!in->online || in->state == TIER_STATE_OFFLINE || in->state == TIER_STATE_OTHER_VAULT ||
	    in->state == TIER_STATE_DAMAGED)
		return flush(r);
	if (!in->has_log || !in->head[0])
		return flush(r); /* an empty tier: nothing to verify yet */
	if (git_oid_fromstr(&head, in->head) < 0)
		return tier_error_set(TIER_ERROR, "tier '%s': head '%s' is not a commit id", in->name,
		                      in->head);
	if ((rc = check_git_files(r, loc, in->name)) < 0 || (rc = check_chain(r, in->name, &head)) < 0 ||
	    (rc = flush(r)) < 0 || (rc = load_packs(r, in->name, &head, &packs)) < 0 ||
	    (rc = snapshot_check(r, &head, &h)) < 0 || (rc = report_snapshot(r, in->name, h)) < 0 ||
	    (rc = flush(r)) < 0 || (rc = check_packs(r, ti, in->name, &packs)) < 0)
		goto out;
	r->r->tiers_checked++;
out:
	if (rc == TIER_EOFFLINE) {
		/* it answered at open and went away during the check */
		rc = add_problem(r, NULL, "tier-offline", TIER_FSCK_WARNING, in->name, NULL,
		                 "tier '%s' went offline during the check, fsck cannot vouch for it: %s",
		                 in->name, tier_error_last());
	}
	tier_vec_dispose(&packs, free);
	if (rc == 0)
		rc = flush(r);
	return rc;
}

/* ---- across tiers ------------------------------------------------------- */

static int usable(const tier_tier_info *in)
{
	return in->online && (in->state == TIER_STATE_OK || in->state == TIER_STATE_FOREIGN ||
	                      in->state == TIER_STATE_ROLLED_BACK);
}

static int check_across(struct run *r)
{
	size_t n = tier_vault_tier_count(r->v);
	uint64_t max = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const tier_tier_info *in = tier_vault_tier_info(r->v, i);
		if (usable(in) && in->revision > max)
			max = in->revision;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const tier_tier_info *in = tier_vault_tier_info(r->v, i);
		if (!usable(in))
			continue;
		if (in->revision < max) {
			rc = add_problem(r, NULL, "tier-behind", TIER_FSCK_WARNING, in->name,
			                 in->head[0] ? in->head : NULL,
			                 "tier '%s' is behind: revision %llu of %llu (tier-sync brings it "
			                 "level)",
			                 in->name, (unsigned long long)in->revision, (unsigned long long)max);
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			const tier_tier_info *o = tier_vault_tier_info(r->v, j);
			if (usable(o) && o->revision == in->revision && strcmp(o->head, in->head) != 0) {
				rc = add_problem(r, NULL, "tier-disagree", TIER_FSCK_ERROR, in->name, in->head,
				                 "tier '%s': head %.12s at revision %llu differs from head "
				                 "%.12s of tier '%s' at the same revision",
				                 in->name, in->head, (unsigned long long)in->revision, o->head,
				                 o->name);
				break;
			}
		}
	}
	if (rc == 0)
		rc = flush(r);
	return rc;
}

/* ---- run ---------------------------------------------------------------- */

void tier_fsck_report_free(tier_fsck_report *rep)
{
	if (!rep)
		return;
	for (size_t i = 0; i < rep->nproblems; i++) {
		free((char *)rep->problems[i].tier);
		free((char *)rep->problems[i].object);
		free((char *)rep->problems[i].message);
	}
	free(rep->problems);
	free(rep);
}

int tier_fsck_run(tier_fsck_report **out, tier_vault *v, const tier_fsck_options *opts)
{
	tier_fsck_options defaults = TIER_FSCK_OPTIONS_INIT;
	struct run r;
	int rc = 0;

	*out = NULL;
	if (!v)
		return tier_error_set(TIER_EUSAGE, "fsck needs a vault");
	if (opts && opts->version != TIER_FSCK_OPTIONS_VERSION)
		return tier_error_set(TIER_EUSAGE, "unsupported fsck options version %u", opts->version);
	memset(&r, 0, sizeof(r));
	r.v = v;
	r.cache = tier_vault_cache(v);
	r.o = opts ? opts : &defaults;
	if (!(r.r = tier_calloc(1, sizeof(*r.r))))
		return TIER_ERROR;

	for (size_t i = 0; i < tier_vault_tier_count(v) && rc == 0; i++)
		rc = check_tier(&r, i);
	if (rc == 0)
		rc = check_across(&r);

	if (rc == 0 || rc == TIER_EABORTED) {
		tier_fsck_report *rep = r.r;
		if (r.problems.length &&
		    !(rep->problems = tier_calloc(r.problems.length, sizeof(*rep->problems)))) {
			rc = TIER_ERROR;
			goto fail;
		}
		for (size_t i = 0; i < r.problems.length; i++) {
			tier_fsck_problem *p = r.problems.ptr[i];
			rep->problems[i] = *p;
			free(p); /* the strings move into the report */
			r.problems.ptr[i] = NULL;
			if (rep->problems[i].repaired)
				rep->repaired++;
			else if (rep->problems[i].severity == TIER_FSCK_ERROR)
				rep->errors++;
			else if (rep->problems[i].severity == TIER_FSCK_WARNING)
				rep->warnings++;
			else
				rep->infos++;
		}
		rep->nproblems = r.problems.length;
		tier_vec_dispose(&r.problems, NULL);
		tier_vec_dispose(&r.heads, headcheck_free);
		*out = rep;
		if (rc == TIER_EABORTED)
			return tier_error_set(TIER_EABORTED, "fsck cancelled");
		return 0;
	}
fail:
	tier_vec_dispose(&r.problems, problem_free);
	tier_vec_dispose(&r.heads, headcheck_free);
	free(r.r);
	return rc;
}
