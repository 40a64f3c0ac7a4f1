/*
 * tier-prune (tier/prune.h): decide per pack from the live set, rewrite
 * the mostly-dead ones, commit the smaller index/, then delete.
 */
#include "tier/prune.h"

#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "objread.h"
#include "pack.h"
#include "packfetch.h"
#include "prune_int.h"
#include "snapshot.h"
#include "tier/errors.h"
#include "tier/push.h"
#include "tierref.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/posix.h"
#include "vault.h"

int tier_prune_progress(struct prune *p, tier_prune_phase ph, uint64_t done,
                        uint64_t total)
{
	if (p->o->progress && p->o->progress(ph, done, total, p->o->payload))
		return tier_error_set(TIER_EABORTED, "prune cancelled");
	return 0;
}

/* ---- deciding ----------------------------------------------------------- */

/* Read pack i's index from the log and weigh its live chunks. */
static int classify_pack(struct prune *p, size_t i)
{
	char hex[TIER_HASH_HEXLEN + 1], what[96];
	git_blob *b = NULL;
	tier_pack_index *idx = NULL;
	uint64_t need = 0, live = 0, dead = 0, nlive = 0;
	int rc;

	tier_hex(hex, p->packs[i].id, TIER_HASH_LEN);
	snprintf(what, sizeof(what), "the index of pack %.12s in the log", hex);
	if ((rc = tier_blob_lookup_bounded(&b, p->repo, &p->packs[i].blob,
	                                   TIER_MAX_INDEX_BLOB, what)) < 0)
		return rc;
	rc = tier_pack_index_parse(&idx, &need, git_blob_rawcontent(b),
	                           (size_t)git_blob_rawsize(b), 0, hex,
	                           tier_vault_keys(p->v));
	git_blob_free(b);
	if (rc == 0 && !idx)
		rc = tier_error_set(TIER_ECORRUPT,
		                    "%s is shorter than the pack's index",
		                    what);
	if (rc < 0)
		return tier_error_prefix("refusing to prune"), rc;
	for (size_t k = 0; k < idx->count && rc >= 0; k++) {
		const tier_pack_entry *e = &idx->entries[k];
		if ((rc = tier_spillset_get(p->live, e->id, NULL)) > 0) {
			live += e->stored_len;
			nlive++;
		} else if (rc == 0)
			dead += e->stored_len;
	}
	p->size[i] = idx->trailer.pack_size;
	tier_pack_index_free(idx);
	if (rc < 0)
		return rc;
	p->rep->packs++;
	p->rep->pack_bytes += p->size[i];
	p->rep->live_bytes += live;
	if (nlive == 0) {
		p->fate[i] = FATE_DELETE;
		p->rep->packs_deleted++;
		p->rep->deleted_bytes += p->size[i];
	} else if (dead * 100 > (uint64_t)p->o->max_unused * p->size[i]) {
		p->fate[i] = FATE_REWRITE;
		p->rep->packs_rewritten++;
		p->rep->rewritten_bytes += p->size[i];
	}
	return 0;
}

static int classify(struct prune *p)
{
	int rc = 0;
	if (!(p->fate = tier_calloc(p->npacks ? p->npacks : 1, 1)) ||
	    !(p->size =
	              tier_calloc(p->npacks ? p->npacks : 1, sizeof(*p->size))))
		return TIER_ERROR;
	for (size_t i = 0; i < p->npacks && rc >= 0; i++)
		if ((rc = classify_pack(p, i)) == 0)
			rc = tier_prune_progress(p, TIER_PRUNE_SCAN, i + 1,
			                         p->npacks);
	return rc < 0 ? rc : 0;
}

/* Every pack any earlier prune revision stopped naming, sorted. */
static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, TIER_HASH_LEN);
}

static int collect_dropped(struct prune *p)
{
	tier_commit_info ci;
	git_oid cur, parent;
	int rc;
	size_t cap = 0;
	git_oid_cpy(&cur, &p->head);
	for (;;) {
		if ((rc = tier_commit_info_read(&ci, p->repo, &cur)) < 0)
			return rc;
		if ((rc = tier_log_first_parent(&parent, p->repo, &cur)) < 0)
			return rc;
		if (rc == 0)
			break;
		if (!strcmp(ci.op, "prune")) {
			unsigned char(*d)[TIER_HASH_LEN] = NULL;
			size_t n = 0;
			if ((rc = tier_prune_dropped(&d, &n, p->repo, &parent,
			                             &cur)) < 0)
				return rc;
			if (p->ndropped + n > cap) {
				cap = (p->ndropped + n) * 2;
				void *np = tier_realloc(p->dropped,
				                        cap * TIER_HASH_LEN);
				if (!np) {
					free(d);
					return TIER_ERROR;
				}
				p->dropped = np;
			}
			memcpy(p->dropped[p->ndropped], d, n * TIER_HASH_LEN);
			p->ndropped += n;
			free(d);
		}
		git_oid_cpy(&cur, &parent);
	}
	return 0;
}

/* ---- rewriting ---------------------------------------------------------- */

struct rewrite {
	struct prune *p;
	tier_pack_writer *pw;
	tier_spillset *copied; /* live chunks written into a new pack */
	unsigned char (*ids)[TIER_HASH_LEN]; /* new packs */
	git_oid *blobs;                      /* their tails in the log */
	size_t n, cap;
	tier_buf stored, raw;
	uint64_t done, total;
};

static int fetch_stop(void *payload)
{
	struct rewrite *r = payload;
	return tier_prune_progress(r->p, TIER_PRUNE_REWRITE, r->done, r->total);
}

/* The finished pack: its tail into the log, the file onto every target. */
static int put_new_pack(struct rewrite *r)
{
	struct prune *p = r->p;
	tier_pack_writer *pw = r->pw;
	unsigned char id[TIER_HASH_LEN];
	char *path = NULL, dst[80];
	tier_buf tail = TIER_BUF_INIT;
	struct stat sb;
	int rc, fd = -1;

	r->pw = NULL;
	if (!pw || tier_pack_writer_count(pw) == 0) {
		tier_pack_writer_free(pw);
		return 0;
	}
	size_t tl = (size_t)tier_pack_writer_tail_size(pw);
	rc = tier_pack_writer_finish(pw, id, &path);
	tier_pack_writer_free(pw);
	if (rc < 0)
		return rc;
	if (r->n == r->cap) {
		size_t cap = r->cap ? r->cap * 2 : 16;
		void *ni = tier_realloc(r->ids, cap * TIER_HASH_LEN);
		if (ni)
			r->ids = ni;
		void *nb = ni ? tier_realloc(r->blobs, cap * sizeof(git_oid))
		              : NULL;
		if (!nb) {
			rc = TIER_ERROR;
			goto out;
		}
		r->blobs = nb;
		r->cap = cap;
	}
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &sb) < 0 ||
	    (uint64_t)sb.st_size < tl) {
		rc = tier_error_set(TIER_ERROR, "cannot read new pack '%s'",
		                    path);
		goto out;
	}
	if ((rc = tier_buf_grow(&tail, tl)) < 0 ||
	    (rc = tier_pread_all(fd, tail.ptr, tl, (uint64_t)sb.st_size - tl,
	                         NULL, path)) < 0)
		goto out;
	if (git_blob_create_from_buffer(&r->blobs[r->n], tier_write_repo(p->w),
	                                tail.ptr, tl) < 0) {
		rc = tier_error_from_git(-1, "cannot store a pack index");
		goto out;
	}
	tier_data_pack_path(dst, id);
	tier_source src = {NULL, fd, (uint64_t)sb.st_size, path};
	if ((rc = tier_write_put(p->w, dst, &src)) < 0)
		goto out;
	memcpy(r->ids[r->n++], id, TIER_HASH_LEN);
	p->rep->packs_written++;
	p->rep->written_bytes += (uint64_t)sb.st_size;
	tier_test_crashpoint("prune.put");
out:
	if (fd >= 0)
		close(fd);
	unlink(path);
	free(path);
	tier_buf_dispose(&tail);
	return rc;
}

/* Pack i, fetched from the first target that has it intact: fd, tmp. */
static int fetch_old(struct rewrite *r, size_t i, int *fd, char *tmp,
                     size_t cap)
{
	struct prune *p = r->p;
	int rc = TIER_ENOTFOUND;
	tier_buf why = TIER_BUF_INIT;
	for (size_t t = 0; t < tier_vault_tier_count(p->v); t++) {
		tier_location *loc = tier_write_target(p->w, t);
		if (!loc)
			continue;
		rc = tier_pack_fetch(loc, p->packs[i].id, p->size[i], p->tmpdir,
		                     "prune", fetch_stop, r, fd, tmp, cap,
		                     NULL);
		if (rc == 0 || rc == TIER_EABORTED)
			break;
		tier_buf_printf(&why, "%s%s", why.size ? "; " : "",
		                tier_error_last());
	}
	if (rc < 0 && rc != TIER_EABORTED) {
		char hex[TIER_HASH_HEXLEN + 1];
		tier_hex(hex, p->packs[i].id, TIER_HASH_LEN);
		rc = tier_error_set(
		        TIER_ECORRUPT,
		        "refusing to prune: no tier has pack %.12s "
		        "intact to rewrite (%s); nothing was deleted",
		        hex, tier_buf_cstr(&why));
	}
	tier_buf_dispose(&why);
	return rc;
}

/* Copy pack i's live chunks (each decoded and hash-checked) into new packs. */
static int rewrite_pack(struct rewrite *r, size_t i)
{
	struct prune *p = r->p;
	const tier_keys *keys = tier_vault_keys(p->v);
	tier_pack_index *idx = NULL;
	char tmp[PATH_MAX];
	int rc, fd = -1;

	if ((rc = fetch_old(r, i, &fd, tmp, sizeof(tmp))) < 0)
		return rc;
	if ((rc = tier_pack_index_read_file(&idx, tmp, keys)) < 0)
		goto out;
	for (size_t k = 0; k < idx->count && rc >= 0; k++) {
		const tier_pack_entry *e = &idx->entries[k];
		if ((rc = tier_spillset_get(p->live, e->id, NULL)) <= 0)
			continue;
		if ((rc = tier_spillset_add(r->copied, e->id, NULL)) <= 0)
			continue; /* in a new pack already */
		if ((rc = tier_buf_grow(&r->stored, e->stored_len)) < 0 ||
		    (rc = tier_buf_grow(&r->raw, e->raw_len)) < 0 ||
		    (rc = tier_pread_all(fd, r->stored.ptr, e->stored_len,
		                         e->offset, NULL, tmp)) < 0 ||
		    (rc = tier_pack_chunk_decode(
		             e, p->packs[i].id, r->stored.ptr, e->stored_len,
		             r->raw.ptr, e->raw_len, keys)) < 0)
			break;
		if (!r->pw &&
		    (rc = tier_pack_writer_new(&r->pw, p->tmpdir, keys)) < 0)
			break;
		/* the stored form as it is: sealed bytes stay sealed */
		if ((rc = tier_pack_writer_add_stored(
		             r->pw, e->id, r->stored.ptr, e->stored_len,
		             e->raw_len, e->flags)) < 0)
			break;
		if (tier_pack_writer_size(r->pw) >= TIER_DEFAULT_PACK_SIZE &&
		    (rc = put_new_pack(r)) < 0)
			break;
	}
	if (rc > 0)
		rc = 0;
	r->done += p->size[i];
	if (rc == 0)
		rc = tier_prune_progress(p, TIER_PRUNE_REWRITE, r->done,
		                         r->total);
out:
	tier_pack_index_free(idx);
	close(fd);
	unlink(tmp);
	return rc;
}

static int rewrite_all(struct rewrite *r)
{
	struct prune *p = r->p;
	int rc;
	if ((rc = tier_spillset_new(&r->copied, TIER_HASH_LEN, 0, p->tmpdir,
	                            0)) < 0)
		return rc;
	r->total = p->rep->rewritten_bytes;
	for (size_t i = 0; i < p->npacks; i++)
		if (p->fate[i] == FATE_REWRITE && (rc = rewrite_pack(r, i)) < 0)
			return rc;
	return put_new_pack(r);
}

/* ---- the revision ------------------------------------------------------- */

/* The head's tree with index/ less the dead packs and plus the new ones. */
static int new_tree(struct prune *p, const struct rewrite *r, git_oid *out)
{
	git_repository *repo = tier_write_repo(p->w);
	git_oid vault, root, index, cut, keys;
	git_tree *base = NULL, *cut_tree = NULL;
	unsigned char(*gone)[TIER_HASH_LEN] = NULL;
	size_t ng = 0;
	int has_root, has_keys, rc;

	if (tier_snap_part(&vault, p->head_tree, TIER_SNAP_VAULT) < 0 ||
	    tier_snap_part(&index, p->head_tree, TIER_SNAP_INDEX) < 0)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "the head revision has no vault or index");
	has_root = tier_snap_part(&root, p->head_tree, TIER_SNAP_ROOT) == 0;
	tier_error_clear();
	if (!(gone = tier_calloc(p->npacks ? p->npacks : 1, TIER_HASH_LEN)))
		return TIER_ERROR;
	for (size_t i = 0; i < p->npacks; i++)
		if (p->fate[i] != FATE_KEEP)
			memcpy(gone[ng++], p->packs[i].id, TIER_HASH_LEN);
	if ((rc = tier_tree_lookup_bounded(&base, repo, &index,
	                                   "the pack index tree")) < 0 ||
	    (rc = tier_snap_index_remove(
	             &cut, repo, base, ng,
	             (const unsigned char(*)[TIER_HASH_LEN])gone)) < 0)
		goto out;
	if (r->n) {
		if ((rc = git_tree_lookup(&cut_tree, repo, &cut)) < 0) {
			rc = tier_error_from_git(rc,
			                         "cannot read the new index");
			goto out;
		}
		if ((rc = tier_snap_index_add(
		             &cut, repo, cut_tree, r->n,
		             (const unsigned char(*)[TIER_HASH_LEN])r->ids,
		             r->blobs)) < 0)
			goto out;
	}
	has_keys = tier_snap_part(&keys, p->head_tree, TIER_SNAP_KEYS) == 0;
	tier_error_clear();
	rc = tier_snap_compose(out, repo, &vault, has_root ? &root : NULL, &cut,
	                       has_keys ? &keys : NULL);
out:
	git_tree_free(cut_tree);
	git_tree_free(base);
	free(gone);
	return rc;
}

static int commit(struct prune *p, const struct rewrite *r,
                  tier_write_result **out)
{
	tier_buf tr = TIER_BUF_INIT;
	char summary[256];
	git_oid tree;
	int rc;
	const tier_prune_report *x = p->rep;
	if ((rc = new_tree(p, r, &tree)) < 0)
		return rc;
	snprintf(summary, sizeof(summary),
	         "prune: %" PRIu64 " packs deleted, %" PRIu64
	         " rewritten into %" PRIu64,
	         x->packs_deleted, x->packs_rewritten, x->packs_written);
	if (tier_buf_printf(&tr,
	                    "Tier-Prune-Deleted: %" PRIu64 " %" PRIu64 "\n"
	                    "Tier-Prune-Rewritten: %" PRIu64 " %" PRIu64 "\n"
	                    "Tier-Packs: %" PRIu64 "\n",
	                    x->packs_deleted, x->deleted_bytes,
	                    x->packs_rewritten, x->rewritten_bytes,
	                    x->packs_written) < 0)
		rc = TIER_ERROR;
	else
		rc = tier_write_commit(p->w, &tree, summary, tier_buf_cstr(&tr),
		                       out);
	tier_buf_dispose(&tr);
	return rc;
}

/* What the head names after the prune (kept and new packs), sorted; the
 * packs it dropped join p->dropped. */
static int sweep_view(struct prune *p, const struct rewrite *r)
{
	size_t n = 0, nd = p->ndropped;
	p->named = tier_calloc(p->npacks + r->n + 1, TIER_HASH_LEN);
	void *nd_p =
	        tier_realloc(p->dropped, (nd + p->npacks + 1) * TIER_HASH_LEN);
	if (!p->named || !nd_p)
		return TIER_ERROR;
	p->dropped = nd_p;
	for (size_t i = 0; i < p->npacks; i++) {
		if (p->fate[i] == FATE_KEEP)
			memcpy(p->named[n++], p->packs[i].id, TIER_HASH_LEN);
		else
			memcpy(p->dropped[nd++], p->packs[i].id, TIER_HASH_LEN);
	}
	for (size_t i = 0; i < r->n; i++)
		memcpy(p->named[n++], r->ids[i], TIER_HASH_LEN);
	p->nnamed = n;
	p->ndropped = nd;
	qsort(p->named, n, TIER_HASH_LEN, cmp_id);
	qsort(p->dropped, nd, TIER_HASH_LEN, cmp_id);
	return 0;
}

static int commit_tree_of(git_tree **out, git_repository *repo,
                          const git_oid *c)
{
	git_commit *cm = NULL;
	int rc;
	if ((rc = tier_log_commit_lookup(&cm, repo, c)) < 0)
		return rc;
	rc = tier_tree_lookup_bounded(out, repo, git_commit_tree_id(cm),
	                              "the tree of the head revision");
	git_commit_free(cm);
	return rc;
}

static int check_options(const tier_prune_options *o)
{
	if (!o || o->version != TIER_PRUNE_OPTIONS_VERSION)
		return tier_error_set(TIER_EUSAGE,
		                      "unknown tier_prune_options version");
	if (o->max_unused > 100)
		return tier_error_set(TIER_EUSAGE,
		                      "max unused %u%% is over 100%%",
		                      o->max_unused);
	if (o->grace < 0)
		return tier_error_set(TIER_EUSAGE, "a negative grace period");
	return 0;
}

/* Delete on every tier that has the final head; errors counted, not fatal:
 * the revision is written, the next prune finishes the deletes. */
static void sweep_all(struct prune *p, const tier_write_result *res)
{
	for (size_t i = 0; i < tier_vault_tier_count(p->v); i++) {
		if (res ? res->tiers[i].outcome != TIER_WRITE_WRITTEN
		        : !tier_write_target(p->w, i))
			continue;
		if (tier_prune_sweep(p, i) < 0) {
			p->rep->sweep_failures++;
			snprintf(p->rep->sweep_error,
			         sizeof(p->rep->sweep_error), "%s",
			         tier_error_last());
		}
	}
}

int tier_prune_run(tier_prune_report *report, tier_write_result **out,
                   tier_vault *v, const tier_prune_options *opts)
{
	struct prune p;
	struct rewrite r;
	int rc;

	memset(report, 0, sizeof(*report));
	*out = NULL;
	if ((rc = check_options(opts)) < 0)
		return rc;
	memset(&p, 0, sizeof(p));
	memset(&r, 0, sizeof(r));
	r.p = &p;
	p.v = v;
	p.o = opts;
	p.rep = report;
	p.repo = tier_vault_cache(v);
	p.now = (int64_t)time(NULL);
	snprintf(p.tmpdir, sizeof(p.tmpdir), "%s/tmp",
	         git_repository_path(p.repo));
	if ((rc = tier_mkdir_p(p.tmpdir, 0700)) < 0)
		return rc;
	/* the write's lock first: no push adds chunks between mark and
	 * commit */
	if (!opts->dry_run) {
		if ((rc = tier_write_begin(&p.w, v, "prune")) < 0)
			return rc;
		if (!tier_write_parent(p.w))
			goto out; /* an empty vault */
		git_oid_cpy(&p.head, tier_write_parent(p.w));
	} else if ((rc = tier_vault_best_head(v, &p.head, NULL)) < 0)
		return rc;
	if ((rc = commit_tree_of(&p.head_tree, p.repo, &p.head)) < 0 ||
	    (rc = tier_spillset_new(&p.live, TIER_HASH_LEN, 0, p.tmpdir, 0)) <
	            0 ||
	    (rc = tier_prune_mark(&p)) < 0 ||
	    (rc = tier_snap_index_list(&p.packs, &p.npacks, p.repo,
	                               p.head_tree)) < 0 ||
	    (rc = classify(&p)) < 0 || (rc = collect_dropped(&p)) < 0)
		goto out;
	if (opts->dry_run)
		goto view;
	if (report->packs_deleted + report->packs_rewritten > 0) {
		if ((rc = rewrite_all(&r)) < 0)
			goto out;
		tier_test_crashpoint("prune.commit");
		if ((rc = commit(&p, &r, out)) < 0)
			goto out;
		tier_test_crashpoint("prune.committed");
	}
view:
	if ((rc = sweep_view(&p, &r)) < 0)
		goto out;
	if (opts->dry_run) {
		for (size_t i = 0; i < tier_vault_tier_count(v); i++)
			if (tier_vault_tier_info(v, i)->synchronized &&
			    tier_prune_sweep(&p, i) < 0)
				tier_error_clear();
	} else
		sweep_all(&p, *out);
	rc = 0;
out:
	tier_write_free(p.w);
	tier_pack_writer_free(r.pw);
	tier_spillset_free(r.copied);
	tier_buf_dispose(&r.stored);
	tier_buf_dispose(&r.raw);
	free(r.ids);
	free(r.blobs);
	tier_spillset_free(p.live);
	git_tree_free(p.head_tree);
	free(p.packs);
	free(p.fate);
	free(p.size);
	free(p.named);
	free(p.dropped);
	return rc;
}
