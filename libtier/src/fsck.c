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

#include "fsck_log.h"
#include "fsck_snap.h"
#include "hash.h"
#include "log.h"
#include "objread.h"
#include "pack.h"
#include "snapshot.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/idset.h"
#include "util/posix.h"
#include "util/text.h"
#include "vault.h"

#define SHORT 12 /* hex digits of an id in messages */

/* What the head revision says about one data pack. */
enum pack_state {
	PACK_OK = 0,
	PACK_MISSING,
	PACK_SIZE,
	PACK_CORRUPT,
	PACK_UNREADABLE,
	PACK_INDEX_MISMATCH /* sound, but its tail is not the log's copy */
};

struct packref {
	unsigned char id[TIER_HASH_LEN];
	git_oid tail;  /* the log's copy of its tail (index/<xx>/<id>) */
	uint64_t size; /* from its trailer in the log */
	char path[80];
	enum pack_state state;
	size_t problem; /* index in run.problems when state != PACK_OK */
};

/* The snapshot check of one head, shared by every tier at that head. */
struct headcheck {
	git_oid head;
	tier_fsck_snap snap;
};

struct run {
	tier_vault *v;
	git_repository *cache;
	const tier_fsck_options *o;
	tier_vec problems; /* tier_fsck_problem * */
	size_t emitted;    /* problems[0..emitted) went to the callback */
	tier_vec heads;    /* struct headcheck * */
	tier_fsck_report *r;
	int stop; /* a callback asked to stop */
};

const char *tier_fsck_severity_name(tier_fsck_severity s)
{
	switch (s) {
	case TIER_FSCK_INFO:
		return "info";
	case TIER_FSCK_WARNING:
		return "warning";
	case TIER_FSCK_ERROR:
		return "error";
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

static int add_problem(struct run *r, size_t *index, const char *id,
                       tier_fsck_severity sev, const char *tier,
                       const char *object, const char *fmt, ...)
        TIER_PRINTF(7, 8);

static int add_problem(struct run *r, size_t *index, const char *id,
                       tier_fsck_severity sev, const char *tier,
                       const char *object, const char *fmt, ...)
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
	if (rc < 0 || !p->message || (tier && !p->tier) ||
	    (object && !p->object) || tier_vec_push(&r->problems, p) < 0) {
		problem_free(p);
		return TIER_ERROR;
	}
	if (index)
		*index = r->problems.length - 1;
	return 0;
}

/* Append text to a problem's message (what repair did about it). */
static int problem_note(struct run *r, size_t index, const char *fmt, ...)
        TIER_PRINTF(3, 4);
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
		if (r->o->problem && !r->stop &&
		    r->o->problem(r->problems.ptr[r->emitted], r->o->payload))
			r->stop = 1;
	if (r->stop)
		return tier_error_set(TIER_EABORTED, "fsck cancelled");
	return 0;
}

static int progress(struct run *r, const char *tier, uint64_t done,
                    uint64_t total)
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
static int download(struct run *r, tier_location *loc, const char *obj,
                    tier_buf *path, int *fd)
{
	const char *base = getenv("TMPDIR");
	tier_buf_clear(path);
	if (tier_buf_printf(path, "%s/tier-fsck-XXXXXX",
	                    base && *base ? base : "/tmp") < 0)
		return TIER_ERROR;
	if ((*fd = mkstemp(path->ptr)) < 0)
		return tier_error_set_errno(
		        TIER_ERROR, errno,
		        "cannot create a temporary file in '%s'",
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

static int check_state(struct run *r, const tier_info *in, size_t *damaged)
{
	const char *why = in->problem ? in->problem : "";
	switch (in->state) {
	case TIER_STATE_REFUSED:
		r->r->tiers_offline++;
		return add_problem(
		        r, NULL, "tier-refused", TIER_FSCK_WARNING, in->name,
		        NULL,
		        "tier '%s' refused access, fsck cannot vouch for it: %s",
		        in->name, *why ? why : "refused");
	case TIER_STATE_OFFLINE:
		r->r->tiers_offline++;
		return add_problem(
		        r, NULL, "tier-offline", TIER_FSCK_WARNING, in->name,
		        NULL,
		        "tier '%s' is offline, fsck cannot vouch for it: %s",
		        in->name, *why ? why : "no answer");
	case TIER_STATE_FOREIGN:
		return add_problem(r, NULL, "foreign-writer", TIER_FSCK_WARNING,
		                   in->name, in->head, "%s", why);
	case TIER_STATE_ROLLED_BACK:
		return add_problem(r, NULL, "rolled-back", TIER_FSCK_WARNING,
		                   in->name, in->head[0] ? in->head : NULL,
		                   "%s", why);
	case TIER_STATE_OTHER_VAULT:
		return add_problem(r, NULL, "other-vault", TIER_FSCK_ERROR,
		                   in->name, NULL, "%s", why);
	case TIER_STATE_DAMAGED:
		return add_problem(r, damaged, "log-damaged", TIER_FSCK_ERROR,
		                   in->name, TIER_LOG_DIR,
		                   "tier '%s': its log cannot be read: %s",
		                   in->name, why);
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
	} files[] = {{"log.git/HEAD", GIT_HEAD},
	             {"log.git/config", GIT_CONFIG}};
	for (size_t i = 0; i < 2; i++) {
		tier_stat st;
		size_t idx;
		int rc = tier_location_stat(loc, files[i].path, &st);
		if (rc == TIER_EOFFLINE)
			return rc;
		if (rc == 0 && !st.is_dir)
			continue;
		int is_dir = rc ==
		             0; /* a directory in the way: not ours to remove */
		if ((rc = add_problem(
		             r, &idx, "log-file-missing", TIER_FSCK_ERROR, tier,
		             files[i].path,
		             "tier '%s': '%s' is missing, stock git cannot read the log",
		             tier, files[i].path)) < 0)
			return rc;
		if (!r->o->repair || is_dir)
			continue;
		/* the content is the same on every tier: write it again */
		rc = tier_location_put_mem(loc, files[i].path, files[i].content,
		                           strlen(files[i].content), 0);
		if (rc == 0 &&
		    tier_location_stat(loc, files[i].path, &st) == 0 &&
		    !st.is_dir) {
			((tier_fsck_problem *)r->problems.ptr[idx])->repaired =
			        1;
			problem_note(r, idx, "; written again");
		} else if (rc < 0) {
			problem_note(r, idx, "; cannot write it: %s",
			             tier_error_last());
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
	git_oid *ids = NULL, oid;
	size_t n = 0, cap = 0;
	char hex[GIT_OID_HEXSZ + 1], sh[SHORT + 1];
	const char *vault = tier_vault_id(r->v);
	int rc;

	/* by hand, not git_revwalk: every commit is size-checked first */
	git_oid_cpy(&oid, head);
	for (;;) {
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
		if ((rc = tier_log_first_parent(&oid, r->cache, &oid)) == 0)
			break;
		if (rc < 0) {
			git_oid_tostr(hex, sizeof(hex), &ids[n - 1]);
			rc = add_problem(
			        r, NULL,
			        tier_error_last_code() == TIER_ECORRUPT
			                ? "object-too-large"
			                : "commit-unreadable",
			        TIER_FSCK_ERROR, tier, hex,
			        "tier '%s': the log below head %s cannot be walked: %s",
			        tier, short_oid(sh, head), tier_error_last());
			goto out;
		}
	}
	rc = 0;
	/* ids[0] is the head: revision n; ids[n-1] the root: revision 1 */
	for (size_t k = 0; k < n && rc == 0; k++) {
		tier_commit_info ci;
		uint64_t pos = n - k;
		git_oid_tostr(hex, sizeof(hex), &ids[k]);
		if (tier_commit_info_read(&ci, r->cache, &ids[k]) < 0) {
			if (tier_error_last_code() == TIER_ECORRUPT)
				rc = add_problem(
				        r, NULL, "revision-mismatch",
				        TIER_FSCK_ERROR, tier, hex,
				        "tier '%s': commit %s (revision %llu of its log) has no valid "
				        "Tier-Revision trailer",
				        tier, short_oid(sh, &ids[k]),
				        (unsigned long long)pos);
			else
				rc = add_problem(r, NULL, "commit-unreadable",
				                 TIER_FSCK_ERROR, tier, hex,
				                 "tier '%s': %s", tier,
				                 tier_error_last());
			continue;
		}
		if (ci.revision != pos)
			rc = add_problem(
			        r, NULL, "revision-mismatch", TIER_FSCK_ERROR,
			        tier, hex,
			        "tier '%s': commit %s says Tier-Revision %llu but is revision %llu "
			        "of the log",
			        tier, short_oid(sh, &ids[k]),
			        (unsigned long long)ci.revision,
			        (unsigned long long)pos);
		if (rc == 0 && vault[0] && strcmp(ci.vault, vault) != 0)
			rc = add_problem(
			        r, NULL, "vault-mismatch", TIER_FSCK_ERROR,
			        tier, hex,
			        "tier '%s': commit %s belongs to vault '%.12s', not to vault %.12s",
			        tier, short_oid(sh, &ids[k]), ci.vault, vault);
	}
out:
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

/* One index/<xx>/<pack id> entry of the head: a pack the tier must hold. */
static int index_entry(struct run *r, const char *tier, tier_vec *packs,
                       const git_tree_entry *e)
{
	git_blob *blob = NULL;
	tier_pack_trailer tr;
	const char *name = git_tree_entry_name(e);
	char what[96];
	int rc = 0;

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB)
		return 0;
	struct packref *p = tier_calloc(1, sizeof(*p));
	if (!p)
		return TIER_ERROR;
	snprintf(what, sizeof(what), "the index of pack %.12s in the log",
	         name);
	if (strlen(name) != TIER_HASH_HEXLEN ||
	    tier_unhex(p->id, TIER_HASH_LEN, name) < 0)
		rc = add_problem(
		        r, NULL, "index-corrupt", TIER_FSCK_ERROR, tier,
		        tier_quote_name(name),
		        "tier '%s': pack index entry %s in the log is not a pack id",
		        tier, tier_quote_name(name));
	else if ((rc = tier_blob_lookup_bounded(&blob, r->cache,
	                                        git_tree_entry_id(e),
	                                        TIER_MAX_INDEX_BLOB, what)) < 0)
		rc = add_problem(r, NULL,
		                 rc == TIER_ENOTFOUND  ? "index-corrupt"
		                 : rc == TIER_ECORRUPT ? "object-too-large"
		                                       : "index-corrupt",
		                 TIER_FSCK_ERROR, tier, name, "tier '%s': %s",
		                 tier, tier_error_last());
	else if (tier_pack_trailer_parse(&tr, git_blob_rawcontent(blob),
	                                 (size_t)git_blob_rawsize(blob),
	                                 name) < 0)
		rc = add_problem(
		        r, NULL, "index-corrupt", TIER_FSCK_ERROR, tier, name,
		        "tier '%s': the index of pack %.12s in the log is unreadable: %s",
		        tier, name, tier_error_last());
	else {
		p->size = tr.pack_size;
		git_oid_cpy(&p->tail, git_tree_entry_id(e));
		tier_data_pack_path(p->path, p->id);
		git_blob_free(blob);
		if (tier_vec_push(packs, p) < 0) {
			free(p);
			return TIER_ERROR;
		}
		return 0;
	}
	git_blob_free(blob);
	free(p);
	return rc;
}

/* The packs of the revision at head, sorted by id.  index/ has two levels
 * (index/<xx>/<pack id>); every tree is size-checked before it is read. */
static int load_packs(struct run *r, const char *tier, const git_oid *head,
                      tier_vec *packs)
{
	git_commit *c = NULL;
	git_tree *tree = NULL, *index = NULL;
	git_oid iid;
	char sh[SHORT + 1];
	int rc;

	if ((rc = tier_log_commit_lookup(&c, r->cache, head)) < 0 ||
	    (rc = tier_tree_lookup_bounded(&tree, r->cache,
	                                   git_commit_tree_id(c),
	                                   "the head's tree")) < 0) {
		rc = add_problem(
		        r, NULL, "commit-unreadable", TIER_FSCK_ERROR, tier,
		        NULL,
		        "tier '%s': the tree of head %s cannot be read: %s",
		        tier, short_oid(sh, head), tier_error_last());
		goto out;
	}
	if (tier_snap_part(&iid, tree, TIER_SNAP_INDEX) < 0)
		goto out; /* no data yet */
	if (tier_tree_lookup_bounded(&index, r->cache, &iid,
	                             "the pack index tree") < 0) {
		rc = add_problem(
		        r, NULL, "index-corrupt", TIER_FSCK_ERROR, tier,
		        "index",
		        "tier '%s': the pack index tree of head %s cannot be read: %s",
		        tier, short_oid(sh, head), tier_error_last());
		goto out;
	}
	for (size_t i = 0; i < git_tree_entrycount(index) && rc == 0; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(index, i);
		git_tree *fan = NULL;
		if (git_tree_entry_type(e) != GIT_OBJECT_TREE) {
			rc = index_entry(r, tier, packs, e);
			continue;
		}
		if (tier_tree_lookup_bounded(&fan, r->cache,
		                             git_tree_entry_id(e),
		                             "a pack index tree") < 0) {
			rc = add_problem(
			        r, NULL, "index-corrupt", TIER_FSCK_ERROR, tier,
			        "index",
			        "tier '%s': the pack index tree of head %s cannot be read: %s",
			        tier, short_oid(sh, head), tier_error_last());
			break;
		}
		for (size_t k = 0; k < git_tree_entrycount(fan) && rc == 0; k++)
			rc = index_entry(r, tier, packs,
			                 git_tree_entry_byindex(fan, k));
		git_tree_free(fan);
	}
	tier_vec_sort(packs, cmp_pack);
out:
	git_tree_free(index);
	git_tree_free(tree);
	git_commit_free(c);
	return rc;
}

/* ---- snapshots: every revision's, as restore reads them (fsck_snap.c) --- */

static void headcheck_free(void *p)
{
	struct headcheck *h = p;
	if (!h)
		return;
	tier_fsck_snap_dispose(&h->snap);
	free(h);
}

/* Check the snapshots below head once; every tier at that head shares the
 * verdict. */
static int snapshot_check(struct run *r, const git_oid *head,
                          struct headcheck **out)
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
	int rc = tier_fsck_snap_check(&h->snap, r->cache, head);
	r->r->chunks_checked += h->snap.chunks_checked;
	return rc;
}

static int report_snapshot(struct run *r, const char *tier,
                           const struct headcheck *h)
{
	int rc = 0;
	for (size_t i = 0; i < h->snap.findings.length && rc == 0; i++) {
		const tier_fsck_finding *f = h->snap.findings.ptr[i];
		rc = add_problem(r, NULL, f->id, TIER_FSCK_ERROR, tier,
		                 f->object, "tier '%s': %s", tier, f->message);
	}
	return rc;
}

/* ---- data packs on one tier ------------------------------------------- */

/*
 * The log's copy of a pack's tail (index/<xx>/<id>: its index and trailer)
 * against the pack's own tail, byte for byte.  Restore finds chunks by the
 * log's copy alone: a copy that disagrees with a sound pack sends it to
 * the wrong bytes.  got holds what the pack has; its length is `have`.
 * 0 when they agree; 1 (why says how) when not; < 0 on error.
 */
static int tail_compare(struct run *r, const struct packref *p,
                        const unsigned char *got, size_t have, tier_buf *why)
{
	git_blob *blob = NULL;
	int rc = tier_blob_lookup_bounded(&blob, r->cache, &p->tail,
	                                  TIER_MAX_INDEX_BLOB,
	                                  "the log's copy of the pack's index");
	if (rc < 0) {
		tier_buf_sets(why, tier_error_last());
		return rc == TIER_ENOTFOUND || rc == TIER_ECORRUPT ? 1 : rc;
	}
	const unsigned char *want = git_blob_rawcontent(blob);
	size_t len = (size_t)git_blob_rawsize(blob);
	if (len != have)
		tier_buf_printf(
		        why,
		        "the log's copy of its index and trailer is %zu "
		        "bytes, the pack's own is %zu",
		        len, have);
	else if (memcmp(want, got, len) != 0) {
		size_t k = 0;
		while (want[k] == got[k])
			k++;
		tier_buf_printf(
		        why,
		        "the log's copy of its index and trailer differs "
		        "from the pack's own from byte %zu of %zu",
		        k, len);
	} else
		rc = 0;
	git_blob_free(blob);
	return why->size ? 1 : rc;
}

/* The pack's own tail from a local copy (fd, size bytes), against the
 * log's copy.  The pack was verified: its trailer is sound. */
static int tail_check(struct run *r, const struct packref *p, int fd,
                      uint64_t size, tier_buf *why)
{
	unsigned char tr_bytes[TIER_PACK_TRAILER_SIZE];
	tier_pack_trailer tr;
	unsigned char *tail = NULL;
	int rc;

	tier_buf_clear(why);
	if (size < sizeof(tr_bytes) ||
	    pread(fd, tr_bytes, sizeof(tr_bytes),
	          (off_t)(size - sizeof(tr_bytes))) !=
	            (ssize_t)sizeof(tr_bytes) ||
	    tier_pack_trailer_parse(&tr, tr_bytes, sizeof(tr_bytes), NULL) < 0)
		return tier_error_set(TIER_ERROR,
		                      "cannot read back the trailer of pack %s",
		                      p->path);
	uint64_t have = tr.index_len + TIER_PACK_TRAILER_SIZE;
	if (have > size ||
	    have > TIER_MAX_INDEX_BLOB + TIER_PACK_TRAILER_SIZE) {
		tier_buf_printf(why,
		                "its index and trailer are %llu bytes, "
		                "over the format's limit",
		                (unsigned long long)have);
		return 1;
	}
	if (!(tail = tier_malloc((size_t)have)))
		return TIER_ERROR;
	if (pread(fd, tail, (size_t)have, (off_t)(size - have)) !=
	    (ssize_t)have)
		rc = tier_error_set_errno(TIER_ERROR, errno,
		                          "cannot read back pack %s", p->path);
	else
		rc = tail_compare(r, p, tail, (size_t)have, why);
	free(tail);
	return rc;
}

/*
 * Check one pack on a tier: present, of the right size, and with
 * read_data whole and sound, its tail the log's copy.  Returns its state, or a negative code when
 * the tier went offline (or fsck cannot go on).  *why gets the reason.
 */
static int pack_probe(struct run *r, tier_location *loc,
                      const struct packref *p, int read_data, tier_buf *why)
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
		tier_buf_printf(why,
		                "%llu bytes, its trailer in the log says %llu",
		                (unsigned long long)st.size,
		                (unsigned long long)p->size);
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
		if (rc == TIER_ERROR &&
		    !strncmp(tier_error_last(), "cannot create a temporary",
		             25))
			return rc; /* our side: no point going on */
		tier_buf_sets(why, tier_error_last());
		return PACK_UNREADABLE;
	}
	rc = tier_pack_verify(tmp.ptr, p->id, NULL);
	r->r->packs_read++;
	if (rc < 0)
		tier_buf_sets(why, tier_error_last());
	else if ((rc = tail_check(r, p, fd, st.size, why)) < 0)
		tier_buf_sets(why, tier_error_last());
	discard(&tmp, &fd);
	tier_buf_dispose(&tmp);
	if (rc == 1)
		return PACK_INDEX_MISMATCH;
	if (rc == TIER_ECORRUPT || rc == TIER_EUNSUPPORTED)
		return PACK_CORRUPT;
	if (rc < 0)
		return PACK_UNREADABLE;
	return PACK_OK;
}

static int pack_problem(struct run *r, struct packref *p, const char *tier,
                        const char *why)
{
	char hex[TIER_HASH_HEXLEN + 1];
	const char *id = NULL;
	tier_hex(hex, p->id, TIER_HASH_LEN);
	switch (p->state) {
	case PACK_MISSING:
		return add_problem(
		        r, &p->problem, "pack-missing", TIER_FSCK_ERROR, tier,
		        p->path,
		        "tier '%s': pack data/%.2s/%.12s... is missing", tier,
		        hex, hex);
	case PACK_SIZE:
		return add_problem(
		        r, &p->problem, "pack-size", TIER_FSCK_ERROR, tier,
		        p->path,
		        "tier '%s': pack data/%.2s/%.12s... is truncated or overlong: %s",
		        tier, hex, hex, why);
	case PACK_CORRUPT:
		id = "pack-corrupt";
		break;
	case PACK_UNREADABLE:
		id = "pack-unreadable";
		break;
	case PACK_INDEX_MISMATCH:
		return add_problem(
		        r, &p->problem, "pack-index-mismatch", TIER_FSCK_ERROR,
		        tier, p->path,
		        "tier '%s': pack data/%.2s/%.12s... does not match the log: %s "
		        "(restore reads its chunks by the log's copy)",
		        tier, hex, hex, why);
	default:
		return 0;
	}
	/* tier_pack_verify names the damaged chunk in full: keep it short */
	if (p->state == PACK_CORRUPT && !strncmp(why, "chunk ", 6) &&
	    strlen(why) > 6 + SHORT && strstr(why, "fails its hash"))
		return add_problem(
		        r, &p->problem, id, TIER_FSCK_ERROR, tier, p->path,
		        "tier '%s': pack data/%.2s/%.12s... fails its hash (chunk %.12s... "
		        "damaged)",
		        tier, hex, hex, why + 6);
	return add_problem(
	        r, &p->problem, id, TIER_FSCK_ERROR, tier, p->path,
	        "tier '%s': pack data/%.2s/%.12s... %s: %s", tier, hex, hex,
	        p->state == PACK_CORRUPT ? "fails its check" : "cannot be read",
	        why);
}

/*
 * Mend pack p on tier ti from another tier where it verifies, then check
 * it again on ti.  Never touches a log.
 */
static int repair_pack(struct run *r, size_t ti, struct packref *p)
{
	tier_location *dst = tier_vault_location(r->v, ti);
	tier_buf tmp = TIER_BUF_INIT, why = TIER_BUF_INIT,
	         tried = TIER_BUF_INIT;
	int fd = -1, rc = 0, done = 0;

	if (p->state == PACK_INDEX_MISMATCH) {
		/* the pack here verified against its id: every copy of that id
		 * is these bytes, so no tier holds one that agrees */
		problem_note(
		        r, p->problem,
		        "; cannot repair: the pack is sound and is the one its id "
		        "names, so it is the log's copy of its index that is wrong "
		        "(repair never writes a revision)");
		return 0;
	}
	for (size_t j = 0; j < tier_vault_tier_count(r->v) && !done; j++) {
		const tier_info *in = tier_vault_tier_info(r->v, j);
		tier_location *src = tier_vault_location(r->v, j);
		tier_stat st;
		if (j == ti || !in->online || in->state == TIER_STATE_OFFLINE ||
		    in->state == TIER_STATE_OTHER_VAULT ||
		    tier_location_is_offline(src))
			continue;
		if ((rc = tier_location_stat(src, p->path, &st)) < 0 ||
		    st.size != p->size) {
			if (rc == TIER_EABORTED)
				goto out;
			tier_buf_printf(&tried, "%s'%s' %s",
			                tried.size ? ", " : "", in->name,
			                rc == 0 ? "has a bad copy too"
			                        : "has none");
			rc = 0;
			continue;
		}
		if ((rc = download(r, src, p->path, &tmp, &fd)) < 0) {
			if (rc == TIER_EABORTED)
				goto out;
			tier_buf_printf(&tried, "%s'%s': %s",
			                tried.size ? ", " : "", in->name,
			                tier_error_last());
			rc = 0;
			continue;
		}
		if (tier_pack_verify(tmp.ptr, p->id, NULL) < 0) {
			tier_buf_printf(&tried, "%s'%s' has a bad copy too",
			                tried.size ? ", " : "", in->name);
			discard(&tmp, &fd);
			continue;
		}
		/* only from a tier that agrees with the log restore reads by */
		if ((rc = tail_check(r, p, fd, p->size, &why)) != 0) {
			if (rc < 0) {
				discard(&tmp, &fd);
				goto out;
			}
			tier_buf_printf(&tried,
			                "%s'%s' has a copy that does not match "
			                "the log either",
			                tried.size ? ", " : "", in->name);
			discard(&tmp, &fd);
			rc = 0;
			continue;
		}
		tier_source s = {NULL, fd, p->size, NULL};
		rc = tier_location_put(dst, p->path, &s, 0);
		discard(&tmp, &fd);
		if (rc < 0) {
			if (rc == TIER_EABORTED)
				goto out;
			problem_note(r, p->problem,
			             "; cannot copy it from tier '%s': %s",
			             in->name, tier_error_last());
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
			((tier_fsck_problem *)r->problems.ptr[p->problem])
			        ->repaired = 1;
			problem_note(r, p->problem, "; repaired from tier '%s'",
			             in->name);
		} else {
			problem_note(
			        r, p->problem,
			        "; copied from tier '%s' but still bad: %s",
			        in->name, tier_buf_cstr(&why));
		}
		done = 1;
	}
	if (!done)
		problem_note(
		        r, p->problem,
		        "; cannot repair: no other tier holds a good copy%s%s%s",
		        tried.size ? " (" : "", tier_buf_cstr(&tried),
		        tried.size ? ")" : "");
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
	if (l->packs->length && bsearch(&kp, l->packs->ptr, l->packs->length,
	                                sizeof(void *), cmp_pack))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", l->dir, name);
	if ((l->rc = add_problem(
	             l->r, NULL, "pack-unreferenced", TIER_FSCK_INFO, l->tier,
	             path,
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

static int check_unreferenced(struct run *r, tier_location *loc,
                              const char *tier, const tier_vec *packs)
{
	struct listing l = {r, loc, packs, tier, "data", 0};
	int rc = tier_location_list(loc, "data", list_fan, &l);
	if (l.rc < 0)
		return l.rc;
	if (rc == TIER_ENOTFOUND)
		return 0;
	return rc;
}

static int check_packs(struct run *r, size_t ti, const char *tier,
                       tier_vec *packs)
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

/* ---- log packs on the tier ---------------------------------------------- */

/*
 * The graph checks above read the local cache, which may hold a sound copy
 * of a pack that is damaged on the tier: the tier's own files are checked
 * here, pack by pack.
 */
enum logpack_state {
	LP_OK = 0,
	LP_DAMAGED,
	LP_UNPAIRED,
	LP_UNINDEXED,
	LP_UNREADABLE
};

struct logpack {
	char name[64]; /* "pack-<hex>" */
	int has_pack, has_idx;
	char *idx; /* the idx bytes (ix points into them) */
	size_t idx_len;
	tier_logidx ix;
	int ix_ok;
	int sound; /* passed the check (or was mended) */
};

static void logpack_free(void *p)
{
	struct logpack *lp = p;
	if (lp)
		free(lp->idx);
	free(lp);
}

static int cmp_logpack(const void *a, const void *b)
{
	const struct logpack *x = *(const struct logpack *const *)a;
	const struct logpack *y = *(const struct logpack *const *)b;
	return strcmp(x->name, y->name);
}

static int collect_logpack(const char *name, const tier_stat *st, void *payload)
{
	tier_vec *v = payload;
	size_t n = strlen(name), base;
	int is_idx;
	if (st->is_dir || strncmp(name, "pack-", 5) != 0)
		return 0;
	if (n > 5 && !strcmp(name + n - 5, ".pack"))
		base = n - 5, is_idx = 0;
	else if (n > 4 && !strcmp(name + n - 4, ".idx"))
		base = n - 4, is_idx = 1;
	else
		return 0; /* a .keep, a temporary file of a put under way */
	if (base >= sizeof(((struct logpack *)0)->name))
		return 0;
	struct logpack *lp = NULL;
	for (size_t i = 0; i < v->length && !lp; i++) {
		struct logpack *x = v->ptr[i];
		if (strlen(x->name) == base && !strncmp(x->name, name, base))
			lp = x;
	}
	if (!lp) {
		if (!(lp = tier_calloc(1, sizeof(*lp))) ||
		    tier_vec_push(v, lp) < 0) {
			free(lp);
			return 1;
		}
		memcpy(lp->name, name, base);
	}
	if (is_idx)
		lp->has_idx = 1;
	else
		lp->has_pack = 1;
	return 0;
}

/* The .pack/.idx pairs in the tier's log.git/objects/pack, by name. */
static int list_logpacks(tier_location *loc, tier_vec *out)
{
	int rc = tier_location_list(loc, TIER_LOG_PACK_DIR, collect_logpack,
	                            out);
	if (rc == TIER_ENOTFOUND) {
		tier_error_clear();
		rc = 0;
	}
	if (rc == 0 && out->length)
		tier_vec_sort(out, cmp_logpack);
	return rc;
}

static void logpack_path(char *out, size_t cap, const char *name,
                         const char *ext)
{
	snprintf(out, cap, "%s/%s.%s", TIER_LOG_PACK_DIR, name, ext);
}

/*
 * Check one log pack on a tier: its idx sound, its size, header and
 * checksum agreeing with idx and name; with read_data downloaded through
 * the indexer.  Returns its state, or a negative code when the tier went
 * offline or fsck cannot go on.  *why gets the reason.
 */
static int logpack_probe(struct run *r, tier_location *loc, struct logpack *lp,
                         int read_data, tier_buf *why)
{
	char path[160];
	tier_stat st;
	int rc;

	free(lp->idx);
	lp->idx = NULL;
	lp->ix_ok = 0;
	tier_buf_clear(why);
	r->r->log_packs_checked++;
	if (lp->has_idx) {
		logpack_path(path, sizeof(path), lp->name, "idx");
		rc = tier_location_get_all(loc, path, &lp->idx, &lp->idx_len,
		                           TIER_LOGPACK_IDX_MAX);
		if (rc == TIER_ENOTFOUND) {
			lp->has_idx = 0; /* gone since the listing */
		} else if (rc == TIER_EOFFLINE || rc == TIER_EABORTED) {
			return rc;
		} else if (rc < 0) {
			tier_buf_sets(why, tier_error_last());
			return rc == TIER_ECORRUPT ? LP_DAMAGED : LP_UNREADABLE;
		} else if (tier_logidx_parse(&lp->ix,
		                             (const unsigned char *)lp->idx,
		                             lp->idx_len) < 0) {
			tier_buf_sets(why, tier_error_last());
			return LP_DAMAGED;
		} else {
			r->r->bytes_read += lp->idx_len;
			lp->ix_ok = 1;
		}
	}
	if (!lp->has_pack)
		return lp->has_idx ? LP_UNPAIRED : LP_OK;
	logpack_path(path, sizeof(path), lp->name, "pack");
	rc = tier_location_stat(loc, path, &st);
	if (rc == TIER_ENOTFOUND) {
		lp->has_pack = 0;
		return lp->has_idx ? LP_UNPAIRED : LP_OK;
	}
	if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
		return rc;
	if (rc < 0) {
		tier_buf_sets(why, tier_error_last());
		return LP_UNREADABLE;
	}
	rc = tier_logpack_check(loc, path, lp->name, st.size,
	                        lp->ix_ok ? &lp->ix : NULL, why);
	if (rc == TIER_ECORRUPT)
		return LP_DAMAGED;
	if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
		return rc;
	if (rc < 0) {
		tier_buf_sets(why, tier_error_last());
		return LP_UNREADABLE;
	}
	if (read_data) {
		tier_buf tmp = TIER_BUF_INIT, got = TIER_BUF_INIT;
		uint32_t objects = 0;
		if ((rc = tier_logpack_tmpdir(&tmp)) < 0) {
			tier_buf_dispose(&tmp);
			return rc; /* our side: no point going on */
		}
		rc = tier_logpack_index(loc, path, tmp.ptr, &got, &objects,
		                        &r->r->bytes_read, why);
		tier_rm_rf(tmp.ptr);
		tier_buf_dispose(&tmp);
		if (rc == 0) {
			r->r->log_packs_read++;
			if (strlen(lp->name) == 45 &&
			    strcmp(tier_buf_cstr(&got), lp->name) != 0) {
				tier_buf_printf(
				        why,
				        "its content is %s, not what its name says",
				        tier_buf_cstr(&got));
				rc = TIER_ECORRUPT;
			} else if (lp->ix_ok && objects != lp->ix.count) {
				tier_buf_printf(
				        why,
				        "it holds %u objects, its idx lists %u",
				        objects, lp->ix.count);
				rc = TIER_ECORRUPT;
			}
		}
		tier_buf_dispose(&got);
		if (rc == TIER_ECORRUPT)
			return LP_DAMAGED;
		if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
			return rc;
		if (rc < 0) {
			if (!why->size)
				tier_buf_sets(why, tier_error_last());
			return LP_UNREADABLE;
		}
	}
	return lp->has_idx ? LP_OK : LP_UNINDEXED;
}

static int logpack_problem(struct run *r, size_t *index, const char *tier,
                           struct logpack *lp, int state, const char *why)
{
	char path[160];
	logpack_path(path, sizeof(path), lp->name,
	             lp->has_pack ? "pack" : "idx");
	switch (state) {
	case LP_DAMAGED:
		return add_problem(
		        r, index, "log-pack-damaged", TIER_FSCK_ERROR, tier,
		        path, "tier '%s': log pack %.17s... is damaged: %s",
		        tier, lp->name, why);
	case LP_UNPAIRED:
		return add_problem(
		        r, index, "log-pack-unpaired", TIER_FSCK_ERROR, tier,
		        path,
		        "tier '%s': log pack %.17s... has an idx but no pack: the log "
		        "objects it held are gone from the tier",
		        tier, lp->name);
	case LP_UNINDEXED:
		return add_problem(
		        r, index, "log-pack-unindexed", TIER_FSCK_INFO, tier,
		        path,
		        "tier '%s': log pack %.17s... has no idx (left by an interrupted "
		        "upload; git does not see it)",
		        tier, lp->name);
	case LP_UNREADABLE:
		return add_problem(
		        r, index, "pack-unreadable", TIER_FSCK_ERROR, tier,
		        path, "tier '%s': log pack %.17s... cannot be read: %s",
		        tier, lp->name, why);
	default:
		return 0;
	}
}

/* Whether tier j may serve a copy (it answered, and holds this vault). */
static int source_ok(struct run *r, size_t j)
{
	const tier_info *in = tier_vault_tier_info(r->v, j);
	return in->state != TIER_STATE_OFFLINE &&
	       in->state != TIER_STATE_OTHER_VAULT &&
	       in->state != TIER_STATE_UNKNOWN &&
	       !tier_location_is_offline(tier_vault_location(r->v, j));
}

/* The commit the tier's history is rebuilt from: its head, else the
 * installation's record of it; it must be in the cache. */
static int rebuild_head(struct run *r, size_t ti, git_oid *out)
{
	const tier_info *in = tier_vault_tier_info(r->v, ti);
	git_odb *odb = NULL;
	int found = 0;
	if (git_repository_odb(&odb, r->cache) < 0)
		return 0;
	if (tier_vault_tier_head(r->v, ti, out) == 0 &&
	    git_odb_exists(odb, out))
		found = 1;
	else if (in->stored_head[0] &&
	         git_oid_fromstr(out, in->stored_head) == 0 &&
	         git_odb_exists(odb, out))
		found = 1;
	git_odb_free(odb);
	tier_error_clear();
	return found;
}

/*
 * Mend a damaged or unpaired log pack on tier ti: copy the same pack (the
 * same name is the same content) from another tier where it indexes
 * whole; else upload a fresh pack of the tier's history from the cache
 * and remove the damaged one.  *changed is set when the tier was written.
 */
static int logpack_repair(struct run *r, size_t ti, struct logpack *lp,
                          size_t problem, int *changed)
{
	tier_location *dst = tier_vault_location(r->v, ti);
	tier_buf tmp = TIER_BUF_INIT, got = TIER_BUF_INIT, why = TIER_BUF_INIT,
	         tried = TIER_BUF_INIT;
	char path[160];
	int rc = 0;

	logpack_path(path, sizeof(path), lp->name, "pack");
	for (size_t j = 0; j < tier_vault_tier_count(r->v); j++) {
		const tier_info *in = tier_vault_tier_info(r->v, j);
		tier_location *src = tier_vault_location(r->v, j);
		tier_stat st;
		uint32_t objects = 0;
		if (j == ti || !source_ok(r, j))
			continue;
		if ((rc = tier_location_stat(src, path, &st)) < 0) {
			if (rc == TIER_EABORTED)
				goto out;
			tier_buf_printf(&tried, "%s'%s' has none",
			                tried.size ? ", " : "", in->name);
			rc = 0;
			continue;
		}
		if ((rc = tier_logpack_tmpdir(&tmp)) < 0)
			goto out;
		rc = tier_logpack_index(src, path, tmp.ptr, &got, &objects,
		                        &r->r->bytes_read, &why);
		if (rc == TIER_EABORTED)
			goto out;
		if (rc < 0 || strcmp(tier_buf_cstr(&got), lp->name) != 0) {
			tier_buf_printf(&tried, "%s'%s' has a bad copy too",
			                tried.size ? ", " : "", in->name);
			tier_rm_rf(tmp.ptr);
			rc = 0;
			continue;
		}
		/* pack first, then the idx the indexer made of it: git sees it whole */
		rc = tier_log_pack_put(dst, tmp.ptr, lp->name);
		tier_rm_rf(tmp.ptr);
		if (rc < 0) {
			if (rc == TIER_EABORTED || rc == TIER_EOFFLINE)
				goto out;
			problem_note(r, problem,
			             "; cannot copy it from tier '%s': %s",
			             in->name, tier_error_last());
			rc = 0;
			goto out;
		}
		*changed = 1;
		lp->has_pack = lp->has_idx = 1;
		int st2 = logpack_probe(r, dst, lp, r->o->read_data, &why);
		if (st2 < 0) {
			rc = st2;
			goto out;
		}
		if (st2 == LP_OK) {
			lp->sound = 1;
			((tier_fsck_problem *)r->problems.ptr[problem])
			        ->repaired = 1;
			problem_note(r, problem, "; repaired from tier '%s'",
			             in->name);
		} else {
			problem_note(
			        r, problem,
			        "; copied from tier '%s' but still bad: %s",
			        in->name, tier_buf_cstr(&why));
		}
		goto out;
	}

	/* nowhere else: the cache holds the history the tier needs */
	git_oid head;
	char sh[SHORT + 1];
	if (!rebuild_head(r, ti, &head)) {
		problem_note(
		        r, problem,
		        "; cannot repair: no other tier holds it%s%s%s, and the tier's history is "
		        "not in the local log cache",
		        tried.size ? " (" : "", tier_buf_cstr(&tried),
		        tried.size ? ")" : "");
		goto out;
	}
	if ((rc = tier_log_upload(r->cache, dst, &head, NULL, &got)) < 0) {
		if (rc == TIER_EABORTED || rc == TIER_EOFFLINE)
			goto out;
		problem_note(r, problem,
		             "; cannot rebuild it from the local log cache: %s",
		             tier_error_last());
		rc = 0;
		goto out;
	}
	*changed = 1;
	if (strcmp(tier_buf_cstr(&got), lp->name) != 0) {
		/* idx first: a pack without its idx is invisible to git */
		static const char *const ext[] = {"idx", "pack"};
		for (size_t k = 0; k < 2; k++) {
			logpack_path(path, sizeof(path), lp->name, ext[k]);
			rc = tier_location_remove(dst, path);
			if (rc < 0 && rc != TIER_ENOTFOUND) {
				if (rc == TIER_EABORTED || rc == TIER_EOFFLINE)
					goto out;
				problem_note(
				        r, problem,
				        "; rebuilt as %.17s... from the local log cache, but cannot "
				        "remove the damaged one: %s",
				        tier_buf_cstr(&got), tier_error_last());
				rc = 0;
				goto out;
			}
		}
		rc = 0;
	}
	/* check what landed: the new pack (or the old name, now whole) */
	struct logpack fresh;
	memset(&fresh, 0, sizeof(fresh));
	snprintf(fresh.name, sizeof(fresh.name), "%s", tier_buf_cstr(&got));
	fresh.has_pack = fresh.has_idx = 1;
	int st2 = logpack_probe(r, dst, &fresh, r->o->read_data, &why);
	free(fresh.idx);
	if (st2 < 0) {
		rc = st2;
		goto out;
	}
	if (st2 == LP_OK) {
		((tier_fsck_problem *)r->problems.ptr[problem])->repaired = 1;
		if (!strcmp(fresh.name, lp->name))
			problem_note(
			        r, problem,
			        "; rebuilt from the local log cache (head %s)",
			        short_oid(sh, &head));
		else
			problem_note(
			        r, problem,
			        "; replaced by %.17s..., rebuilt from the local log cache (head %s)",
			        fresh.name, short_oid(sh, &head));
	} else {
		problem_note(
		        r, problem,
		        "; rebuilt from the local log cache but still bad: %s",
		        tier_buf_cstr(&why));
	}
out:
	if (tmp.size)
		tier_rm_rf(tmp.ptr);
	tier_buf_dispose(&tmp);
	tier_buf_dispose(&got);
	tier_buf_dispose(&why);
	tier_buf_dispose(&tried);
	return rc;
}

/*
 * Index into the cache the sound log packs of the tier that it lacks.  The
 * graph checks read the cache, and a probe takes a cache holding the
 * tier's head for one holding all its history: after a fetch that stopped
 * at a damaged pack, objects behind the head can be missing.
 */
static int cache_has_all(struct run *r, const tier_logidx *ix)
{
	git_odb *odb = NULL;
	git_oid id;
	int all = 1;
	if (git_repository_odb(&odb, r->cache) < 0)
		return 0;
	for (uint32_t i = 0; i < ix->count && all; i++) {
		git_oid_fromraw(&id, ix->names + (size_t)i * GIT_OID_RAWSZ);
		all = git_odb_exists(odb, &id);
	}
	git_odb_free(odb);
	return all;
}

static int cache_complete(struct run *r, tier_location *loc,
                          const tier_vec *packs)
{
	char path[160], local[4200];
	tier_buf got = TIER_BUF_INIT, why = TIER_BUF_INIT;
	struct stat st;
	int rc = 0, added = 0;

	for (size_t k = 0; k < packs->length && rc == 0; k++) {
		const struct logpack *lp = packs->ptr[k];
		uint32_t objects = 0;
		if (!lp->sound || !lp->has_pack)
			continue;
		snprintf(local, sizeof(local), "%sobjects/pack/%s.pack",
		         git_repository_path(r->cache), lp->name);
		if (stat(local, &st) == 0 ||
		    (lp->ix_ok && cache_has_all(r, &lp->ix)))
			continue; /* a consolidated pack of objects the cache has: not again */
		snprintf(local, sizeof(local), "%sobjects/pack",
		         git_repository_path(r->cache));
		logpack_path(path, sizeof(path), lp->name, "pack");
		rc = tier_logpack_index(loc, path, local, &got, &objects,
		                        &r->r->bytes_read, &why);
		if (rc == 0)
			added = 1;
		else if (rc != TIER_EOFFLINE && rc != TIER_EABORTED)
			rc = 0; /* the checks that follow say what is missing */
	}
	if (added) {
		git_odb *odb = NULL;
		if (git_repository_odb(&odb, r->cache) == 0)
			git_odb_refresh(odb);
		git_odb_free(odb);
	}
	tier_buf_dispose(&got);
	tier_buf_dispose(&why);
	return rc;
}

/* Every log pack on tier ti; *changed when repair wrote to the tier. */
static int check_logpacks(struct run *r, size_t ti, const char *tier,
                          int *changed)
{
	tier_location *loc = tier_vault_location(r->v, ti);
	tier_vec packs = TIER_VEC_INIT;
	tier_buf why = TIER_BUF_INIT;
	int rc = list_logpacks(loc, &packs);

	if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
		goto out;
	if (rc < 0) {
		rc = add_problem(
		        r, NULL, "pack-unreadable", TIER_FSCK_ERROR, tier,
		        TIER_LOG_PACK_DIR,
		        "tier '%s': its log packs cannot be listed: %s", tier,
		        tier_error_last());
		goto out;
	}
	for (size_t k = 0; k < packs.length && rc == 0; k++) {
		struct logpack *lp = packs.ptr[k];
		size_t problem = 0;
		int st = logpack_probe(r, loc, lp, r->o->read_data, &why);
		if (st < 0) {
			rc = st;
			break;
		}
		lp->sound = st == LP_OK;
		if (st == LP_OK)
			continue;
		if ((rc = logpack_problem(r, &problem, tier, lp, st,
		                          tier_buf_cstr(&why))) < 0)
			break;
		if (r->o->repair && (st == LP_DAMAGED || st == LP_UNPAIRED))
			rc = logpack_repair(r, ti, lp, problem, changed);
	}
	if (rc == 0)
		rc = cache_complete(r, loc, &packs);
out:
	tier_vec_dispose(&packs, logpack_free);
	tier_buf_dispose(&why);
	return rc;
}

/* ---- a garbled head ------------------------------------------------------ */

struct ontier {
	struct run *r;
	const tier_vec *packs; /* struct logpack * with ix_ok */
	tier_idset trees;      /* git object ids */
	git_oid missing;
	int has_missing;
};

static int on_tier(struct ontier *o, const git_oid *id)
{
	for (size_t i = 0; i < o->packs->length; i++) {
		const struct logpack *lp = o->packs->ptr[i];
		if (lp->ix_ok && tier_logidx_has(&lp->ix, id))
			return 1;
	}
	if (!o->has_missing) {
		git_oid_cpy(&o->missing, id);
		o->has_missing = 1;
	}
	return 0;
}

/* 1: the tree and all below it are on the tier; 0: not; <0: out of memory */
static int tree_on_tier(struct ontier *o, const git_oid *id)
{
	git_tree *t = NULL;
	int rc = 1;
	/* only trees found whole are remembered: a later candidate asks again */
	if (tier_idset_has(&o->trees, id->id))
		return 1;
	if (!on_tier(o, id) || git_tree_lookup(&t, o->r->cache, id) < 0)
		return 0;
	for (size_t i = 0; i < git_tree_entrycount(t) && rc == 1; i++) {
		const git_tree_entry *e = git_tree_entry_byindex(t, i);
		if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
			rc = tree_on_tier(o, git_tree_entry_id(e));
		else if (git_tree_entry_type(e) == GIT_OBJECT_BLOB)
			rc = on_tier(o, git_tree_entry_id(e));
	}
	git_tree_free(t);
	if (rc == 1 && tier_idset_add(&o->trees, id->id) < 0)
		return TIER_ERROR;
	return rc;
}

/* Whether every object reachable from commit id is in the tier's log packs
 * (1, else 0; <0 out of memory). */
static int history_on_tier(struct ontier *o, const git_oid *id)
{
	git_revwalk *walk = NULL;
	git_oid c;
	int rc, result = 0;
	if (git_revwalk_new(&walk, o->r->cache) < 0 ||
	    git_revwalk_push(walk, id) < 0) {
		git_revwalk_free(walk);
		tier_error_clear();
		return 0; /* not in the cache either */
	}
	while ((rc = git_revwalk_next(&c, walk)) == 0) {
		git_commit *cm = NULL;
		if (!on_tier(o, &c) ||
		    git_commit_lookup(&cm, o->r->cache, &c) < 0)
			goto done;
		rc = tree_on_tier(o, git_commit_tree_id(cm));
		git_commit_free(cm);
		if (rc != 1) {
			result = rc < 0 ? rc : 0;
			goto done;
		}
	}
	result = rc == GIT_ITEROVER;
done:
	git_revwalk_free(walk);
	return result;
}

/*
 * A head that is garbage: write it again from the head this installation
 * last wrote on the tier, when all its objects are in the tier's log packs
 * (its previous or current head); else from the newest earlier first-parent
 * ancestor that is (the tier is then rolled back: the user accepts that).
 */
static int repair_head(struct run *r, size_t ti, size_t problem, int *changed)
{
	const tier_info *in = tier_vault_tier_info(r->v, ti);
	tier_location *loc = tier_vault_location(r->v, ti);
	const char *name = in->name;
	tier_vec packs = TIER_VEC_INIT;
	tier_buf why = TIER_BUF_INIT;
	struct ontier o;
	git_oid head, stored, cand;
	char sh[SHORT + 1], sh2[SHORT + 1];
	int exists = 0, rc, found = 0;
	uint64_t steps = 0;

	memset(&o, 0, sizeof(o));
	o.trees = (tier_idset)TIER_IDSET_INIT(GIT_OID_RAWSZ);
	rc = tier_log_head_read(loc, &head, &exists);
	if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
		return rc;
	if (rc != TIER_ECORRUPT) {
		tier_error_clear();
		return 0; /* the head reads: the damage is elsewhere */
	}
	if (!in->stored_head[0] ||
	    git_oid_fromstr(&stored, in->stored_head) < 0) {
		if (tier_vault_installation_id(r->v) &&
		    tier_vault_installation_id(r->v)[0])
			problem_note(
			        r, problem,
			        "; cannot repair the head: this installation has no "
			        "record of what it wrote there");
		else
			problem_note(
			        r, problem,
			        "; the head can be written again only with the "
			        "installation that writes to this tier (tier-fsck -s DIR "
			        "--repair)");
		return 0;
	}
	if (tier_vault_is_read_only(r->v)) {
		problem_note(r, problem,
		             "; a read-only installation does not write heads");
		return 0;
	}
	/* the tier's log packs as they are now (after any repair above) */
	if ((rc = list_logpacks(loc, &packs)) < 0)
		goto out;
	for (size_t k = 0; k < packs.length; k++) {
		struct logpack *lp = packs.ptr[k];
		int st = logpack_probe(r, loc, lp, 0, &why);
		if (st < 0) {
			rc = st;
			goto out;
		}
		if (st != LP_OK)
			lp->ix_ok =
			        0; /* a damaged pack holds nothing we count on */
	}
	o.r = r;
	o.packs = &packs;
	/* the last head we wrote, else its ancestors, newest first */
	git_oid_cpy(&cand, &stored);
	for (steps = 0; steps < 64; steps++) {
		o.has_missing = 0;
		if ((rc = history_on_tier(&o, &cand)) < 0)
			goto out;
		if (rc == 1) {
			found = 1;
			break;
		}
		git_commit *c = NULL, *p = NULL;
		rc = git_commit_lookup(&c, r->cache, &cand) == 0 &&
		     git_commit_parentcount(c) > 0 &&
		     git_commit_parent(&p, c, 0) == 0;
		if (rc)
			git_oid_cpy(&cand, git_commit_id(p));
		git_commit_free(p);
		git_commit_free(c);
		if (!rc)
			break;
	}
	rc = 0;
	if (!found) {
		problem_note(
		        r, problem,
		        "; cannot repair the head: the last head this installation wrote there "
		        "(%s) is not whole in the tier's log packs, nor an earlier one",
		        short_oid(sh, &stored));
		goto out;
	}
	/* a write or sync of ours moves heads under this lock: not now */
	if ((rc = tier_vault_lock_sync(r->v)) < 0) {
		if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
			goto out;
		problem_note(r, problem, "; cannot repair the head now: %s",
		             tier_error_last());
		rc = 0;
		goto out;
	}
	if (steps == 0)
		rc = tier_vault_advance(r->v, ti, &stored, in->stored_revision);
	else
		rc = tier_log_head_write(
		        loc,
		        &cand); /* the ref keeps the newer head: rolled back */
	tier_vault_unlock(r->v);
	if (rc < 0) {
		if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
			goto out;
		problem_note(r, problem, "; cannot write the head: %s",
		             tier_error_last());
		rc = 0;
		goto out;
	}
	*changed = 1;
	((tier_fsck_problem *)r->problems.ptr[problem])->repaired = 1;
	if (steps == 0)
		problem_note(
		        r, problem,
		        "; head written again as %s, the last head this installation wrote there",
		        short_oid(sh, &stored));
	else
		problem_note(
		        r, problem,
		        "; head written again as %s, %llu revision%s before %s (the last head this "
		        "installation wrote there, not whole on the tier): the tier is rolled "
		        "back, tier-sync --accept-rollback %s then brings it level",
		        short_oid(sh, &cand), (unsigned long long)steps,
		        steps == 1 ? "" : "s", short_oid(sh2, &stored), name);
out:
	tier_idset_dispose(&o.trees);
	tier_vec_dispose(&packs, logpack_free);
	tier_buf_dispose(&why);
	return rc;
}

/* ---- one tier ----------------------------------------------------------- */

/*
 * A tier whose log cannot be read: its log packs are checked as they are
 * on the tier, and with repair mended (and a garbled head written again).
 * Returns 1 when the log reads again (the problem at index `damaged` is
 * then repaired and the tier's info fresh), 0 when it stays damaged.
 */
static int mend_damaged(struct run *r, size_t ti, size_t damaged)
{
	const tier_info *in = tier_vault_tier_info(r->v, ti);
	int changed = 0, rc;

	if ((rc = check_logpacks(r, ti, in->name, &changed)) < 0)
		return rc;
	if (r->o->repair && (rc = repair_head(r, ti, damaged, &changed)) < 0)
		return rc;
	if (!changed)
		return 0;
	/* look at the tier again the way every tool does (R5, R8) */
	if ((rc = tier_vault_probe(r->v)) < 0) {
		problem_note(r, damaged, "; probing the tiers again failed: %s",
		             tier_error_last());
		return 0;
	}
	in = tier_vault_tier_info(r->v, ti);
	if (in->state == TIER_STATE_DAMAGED) {
		((tier_fsck_problem *)r->problems.ptr[damaged])->repaired = 0;
		problem_note(r, damaged, "; the log still cannot be read: %s",
		             in->problem ? in->problem : "unknown error");
		return 0;
	}
	if (!((tier_fsck_problem *)r->problems.ptr[damaged])->repaired) {
		((tier_fsck_problem *)r->problems.ptr[damaged])->repaired = 1;
		problem_note(r, damaged, "; the log reads again");
	}
	return 1;
}

static int check_tier(struct run *r, size_t ti)
{
	const tier_info *in = tier_vault_tier_info(r->v, ti);
	tier_location *loc = tier_vault_location(r->v, ti);
	tier_vec packs = TIER_VEC_INIT;
	struct headcheck *h = NULL;
	git_oid head;
	size_t damaged = 0;
	int rc, logpacks_done = 0, changed = 0;

	if ((rc = check_state(r, in, &damaged)) < 0)
		return rc;
	if (in->state == TIER_STATE_DAMAGED) {
		/* it answered (else it would be offline): what is wrong is on it */
		if ((rc = mend_damaged(r, ti, damaged)) <= 0)
			goto out;
		in = tier_vault_tier_info(r->v, ti);
		logpacks_done = 1;
		size_t ignored;
		if (in->state != TIER_STATE_OK &&
		    (rc = check_state(r, in, &ignored)) < 0)
			goto out;
	}
	if (!in->online || in->state == TIER_STATE_OFFLINE ||
	    in->state == TIER_STATE_REFUSED ||
	    in->state == TIER_STATE_OTHER_VAULT ||
	    in->state == TIER_STATE_DAMAGED)
		return flush(r);
	if (!in->has_log || !in->head[0])
		return flush(r); /* an empty tier: nothing to verify yet */
	if (git_oid_fromstr(&head, in->head) < 0)
		return tier_error_set(TIER_ERROR,
		                      "tier '%s': head '%s' is not a commit id",
		                      in->name, in->head);
	if ((rc = check_git_files(r, loc, in->name)) < 0 ||
	    (!logpacks_done &&
	     (rc = check_logpacks(r, ti, in->name, &changed)) < 0) ||
	    (rc = check_chain(r, in->name, &head)) < 0 || (rc = flush(r)) < 0 ||
	    (rc = load_packs(r, in->name, &head, &packs)) < 0 ||
	    (rc = snapshot_check(r, &head, &h)) < 0 ||
	    (rc = report_snapshot(r, in->name, h)) < 0 || (rc = flush(r)) < 0 ||
	    (rc = check_packs(r, ti, in->name, &packs)) < 0)
		goto out;
	r->r->tiers_checked++;
out:
	if (rc == TIER_EOFFLINE) {
		/* it answered at open and went away during the check */
		r->r->tiers_offline++;
		rc = add_problem(
		        r, NULL, "tier-offline", TIER_FSCK_WARNING, in->name,
		        NULL,
		        "tier '%s' went offline during the check, fsck cannot vouch for it: %s",
		        in->name, tier_error_last());
	}
	tier_vec_dispose(&packs, free);
	if (rc == 0)
		rc = flush(r);
	return rc;
}

/* ---- across tiers ------------------------------------------------------- */

static int usable(const tier_info *in)
{
	return in->online &&
	       (in->state == TIER_STATE_OK || in->state == TIER_STATE_FOREIGN ||
	        in->state == TIER_STATE_ROLLED_BACK);
}

static int check_across(struct run *r)
{
	size_t n = tier_vault_tier_count(r->v);
	uint64_t max = 0;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		const tier_info *in = tier_vault_tier_info(r->v, i);
		if (usable(in) && in->revision > max)
			max = in->revision;
	}
	for (size_t i = 0; i < n && rc == 0; i++) {
		const tier_info *in = tier_vault_tier_info(r->v, i);
		if (!usable(in))
			continue;
		if (in->revision < max) {
			rc = add_problem(
			        r, NULL, "tier-behind", TIER_FSCK_WARNING,
			        in->name, in->head[0] ? in->head : NULL,
			        "tier '%s' is behind: revision %llu of %llu (tier-sync brings it "
			        "level)",
			        in->name, (unsigned long long)in->revision,
			        (unsigned long long)max);
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			const tier_info *o = tier_vault_tier_info(r->v, j);
			if (usable(o) && o->revision == in->revision &&
			    strcmp(o->head, in->head) != 0) {
				rc = add_problem(
				        r, NULL, "tier-disagree",
				        TIER_FSCK_ERROR, in->name, in->head,
				        "tier '%s': head %.12s at revision %llu differs from head "
				        "%.12s of tier '%s' at the same revision",
				        in->name, in->head,
				        (unsigned long long)in->revision,
				        o->head, o->name);
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

int tier_fsck_run(tier_fsck_report **out, tier_vault *v,
                  const tier_fsck_options *opts)
{
	tier_fsck_options defaults = TIER_FSCK_OPTIONS_INIT;
	struct run r;
	int rc = 0;

	*out = NULL;
	if (!v)
		return tier_error_set(TIER_EUSAGE, "fsck needs a vault");
	if (opts)
		TIER_CHECK_VERSION(opts, TIER_FSCK_OPTIONS_VERSION,
		                   "tier_fsck_options");
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
		    !(rep->problems = tier_calloc(r.problems.length,
		                                  sizeof(*rep->problems)))) {
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
