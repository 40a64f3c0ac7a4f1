/*
 * fsck of the log packs on one tier (log.git/objects/pack), through the
 * checks of fsck_log.c; with --repair a damaged one is copied from another
 * tier or rebuilt from the local log cache.  The sound ones the cache
 * lacks are indexed into it, for the graph checks that follow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fsck_int.h"
#include "log.h"
#include "util/posix.h"

void tier_fsck_logpack_free(void *p)
{
	struct logpack *lp = p;
	if (lp && lp->ix_ok)
		tier_logidx_close(&lp->ix);
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
int tier_fsck_list_logpacks(tier_location *loc, tier_vec *out)
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
 * The probe's steps return LP_OK to go on, another state to stop there, or
 * a negative code when the tier went offline or fsck cannot go on.
 */

/* Fetch and parse the pack's idx (into a temporary file, not memory). */
static int probe_idx(struct fsck_run *r, tier_location *loc, struct logpack *lp,
                     tier_buf *why)
{
	char path[160];
	logpack_path(path, sizeof(path), lp->name, "idx");
	int rc = tier_logidx_fetch(&lp->ix, loc, path, &r->r->bytes_read);
	if (rc == TIER_ENOTFOUND) {
		lp->has_idx = 0; /* gone since the listing */
	} else if (rc == TIER_EOFFLINE || rc == TIER_EABORTED) {
		return rc;
	} else if (rc < 0) {
		tier_buf_sets(why, tier_error_last());
		return rc == TIER_ECORRUPT ? LP_DAMAGED : LP_UNREADABLE;
	} else {
		lp->ix_ok = 1;
	}
	return LP_OK;
}

/* --read-data: download the pack through the indexer, which checks every
 * object; its content must be what its name says, its count the idx's. */
static int probe_read(struct fsck_run *r, tier_location *loc,
                      struct logpack *lp, const char *path, tier_buf *why)
{
	tier_buf tmp = TIER_BUF_INIT, got = TIER_BUF_INIT;
	uint32_t objects = 0;
	int rc;

	if (lp->ix_ok) {
		/* in bounded memory, by the idx (the indexer holds ~60 bytes
		 * an object) */
		rc = tier_logpack_verify(loc, path, &lp->ix, &got, &objects,
		                         &r->r->bytes_read, why);
	} else if ((rc = tier_logpack_tmpdir(&tmp)) < 0) {
		tier_buf_dispose(&tmp);
		return rc; /* our side: no point going on */
	} else {
		rc = tier_logpack_index(loc, path, tmp.ptr, &got, &objects,
		                        &r->r->bytes_read, why);
		tier_rm_rf(tmp.ptr);
	}
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
			tier_buf_printf(why,
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
	return LP_OK;
}

/*
 * Check one log pack on a tier: its idx sound, its size, header and
 * checksum agreeing with idx and name; with read_data downloaded through
 * the indexer.  Returns its state, or a negative code when the tier went
 * offline or fsck cannot go on.  *why gets the reason.
 */
int tier_fsck_logpack_probe(struct fsck_run *r, tier_location *loc,
                            struct logpack *lp, int read_data, tier_buf *why)
{
	char path[160];
	tier_stat st;
	int rc;

	if (lp->ix_ok)
		tier_logidx_close(&lp->ix);
	lp->ix_ok = 0;
	tier_buf_clear(why);
	r->r->log_packs_checked++;
	if (lp->has_idx && (rc = probe_idx(r, loc, lp, why)) != LP_OK)
		return rc;
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
	if (read_data && (rc = probe_read(r, loc, lp, path, why)) != LP_OK)
		return rc;
	return lp->has_idx ? LP_OK : LP_UNINDEXED;
}

static int logpack_problem(struct fsck_run *r, size_t *index, const char *tier,
                           struct logpack *lp, int state, const char *why)
{
	char path[160];
	logpack_path(path, sizeof(path), lp->name,
	             lp->has_pack ? "pack" : "idx");
	switch (state) {
	case LP_DAMAGED:
		return tier_fsck_add_problem(
		        r, index, "log-pack-damaged", TIER_FSCK_ERROR, tier,
		        path, "tier '%s': log pack %.17s... is damaged: %s",
		        tier, lp->name, why);
	case LP_UNPAIRED:
		return tier_fsck_add_problem(
		        r, index, "log-pack-unpaired", TIER_FSCK_ERROR, tier,
		        path,
		        "tier '%s': log pack %.17s... has an idx but no pack: the log "
		        "objects it held are gone from the tier",
		        tier, lp->name);
	case LP_UNINDEXED:
		return tier_fsck_add_problem(
		        r, index, "log-pack-unindexed", TIER_FSCK_INFO, tier,
		        path,
		        "tier '%s': log pack %.17s... has no idx (left by an interrupted "
		        "upload; git does not see it)",
		        tier, lp->name);
	case LP_UNREADABLE:
		return tier_fsck_add_problem(
		        r, index, "pack-unreadable", TIER_FSCK_ERROR, tier,
		        path, "tier '%s': log pack %.17s... cannot be read: %s",
		        tier, lp->name, why);
	default:
		return 0;
	}
}

/* Whether tier j may serve a copy (it answered, and holds this vault). */
static int source_ok(struct fsck_run *r, size_t j)
{
	const tier_info *in = tier_vault_tier_info(r->v, j);
	return in->state != TIER_STATE_OFFLINE &&
	       in->state != TIER_STATE_OTHER_VAULT &&
	       in->state != TIER_STATE_UNKNOWN &&
	       !tier_location_is_offline(tier_vault_location(r->v, j));
}

/* The commit the tier's history is rebuilt from: its head, else the
 * installation's record of it; it must be in the cache. */
static int rebuild_head(struct fsck_run *r, size_t ti, git_oid *out)
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
 * The steps below return < 0 when fsck cannot go on, 1 when the repair is
 * over (done, or a note on the problem says why not), 0 to go on.
 */
struct logpack_mend {
	struct fsck_run *r;
	size_t ti;
	struct logpack *lp;
	size_t problem;
	int *changed;
	tier_location *dst;
	tier_buf tmp, got, why;
	tier_buf tried; /* "'b' has none, 'c' has a bad copy too" */
	char path[160];
};

/* The pack landed on the tier from a copy: check it where it is. */
static int mend_check_copy(struct logpack_mend *m, const char *from)
{
	struct fsck_run *r = m->r;
	int st = tier_fsck_logpack_probe(r, m->dst, m->lp, r->o->read_data,
	                                 &m->why);
	if (st < 0)
		return st;
	if (st == LP_OK)
		m->lp->sound = 1;
	tier_fsck_copy_verdict(r, m->problem, st == LP_OK, from,
	                       tier_buf_cstr(&m->why));
	return 1;
}

/* Copy the pack from tier j when it indexes whole there. */
static int mend_copy_from(struct logpack_mend *m, size_t j)
{
	struct fsck_run *r = m->r;
	const tier_info *in = tier_vault_tier_info(r->v, j);
	tier_location *src = tier_vault_location(r->v, j);
	tier_stat st;
	uint32_t objects = 0;
	int rc;

	if ((rc = tier_location_stat(src, m->path, &st)) < 0) {
		if (rc == TIER_EABORTED)
			return rc;
		tier_buf_printf(&m->tried, "%s'%s' has none",
		                m->tried.size ? ", " : "", in->name);
		return 0;
	}
	if ((rc = tier_logpack_tmpdir(&m->tmp)) < 0)
		return rc;
	rc = tier_logpack_index(src, m->path, m->tmp.ptr, &m->got, &objects,
	                        &r->r->bytes_read, &m->why);
	if (rc == TIER_EABORTED)
		return rc;
	if (rc < 0 || strcmp(tier_buf_cstr(&m->got), m->lp->name) != 0) {
		tier_buf_printf(&m->tried, "%s'%s' has a bad copy too",
		                m->tried.size ? ", " : "", in->name);
		tier_rm_rf(m->tmp.ptr);
		return 0;
	}
	/* pack first, then the idx the indexer made of it: git sees it whole */
	rc = tier_log_pack_put(m->dst, m->tmp.ptr, m->lp->name);
	tier_rm_rf(m->tmp.ptr);
	if (rc < 0) {
		if (rc == TIER_EABORTED || rc == TIER_EOFFLINE)
			return rc;
		tier_fsck_note(r, m->problem,
		               "; cannot copy it from tier '%s': %s", in->name,
		               tier_error_last());
		return 1;
	}
	*m->changed = 1;
	m->lp->has_pack = m->lp->has_idx = 1;
	return mend_check_copy(m, in->name);
}

/* A pack rebuilt under another name: the damaged one goes, idx first (a
 * pack without its idx is invisible to git). */
static int mend_remove_damaged(struct logpack_mend *m)
{
	static const char *const ext[] = {"idx", "pack"};
	for (size_t k = 0; k < 2; k++) {
		logpack_path(m->path, sizeof(m->path), m->lp->name, ext[k]);
		int rc = tier_location_remove(m->dst, m->path);
		if (rc < 0 && rc != TIER_ENOTFOUND) {
			if (rc == TIER_EABORTED || rc == TIER_EOFFLINE)
				return rc;
			tier_fsck_note(
			        m->r, m->problem,
			        "; rebuilt as %.17s... from the local log cache, but cannot "
			        "remove the damaged one: %s",
			        tier_buf_cstr(&m->got), tier_error_last());
			return 1;
		}
	}
	return 0;
}

/* Check what landed: the new pack (or the old name, now whole). */
static int mend_check_rebuilt(struct logpack_mend *m, const git_oid *head)
{
	struct fsck_run *r = m->r;
	struct logpack fresh;
	char sh[SHORT + 1];

	memset(&fresh, 0, sizeof(fresh));
	snprintf(fresh.name, sizeof(fresh.name), "%s", tier_buf_cstr(&m->got));
	fresh.has_pack = fresh.has_idx = 1;
	int st = tier_fsck_logpack_probe(r, m->dst, &fresh, r->o->read_data,
	                                 &m->why);
	if (fresh.ix_ok)
		tier_logidx_close(&fresh.ix);
	if (st < 0)
		return st;
	if (st == LP_OK) {
		((tier_fsck_problem *)r->problems.ptr[m->problem])->repaired =
		        1;
		if (!strcmp(fresh.name, m->lp->name))
			tier_fsck_note(
			        r, m->problem,
			        "; rebuilt from the local log cache (head %s)",
			        tier_fsck_short_oid(sh, head));
		else
			tier_fsck_note(
			        r, m->problem,
			        "; replaced by %.17s..., rebuilt from the local log cache (head %s)",
			        fresh.name, tier_fsck_short_oid(sh, head));
	} else {
		tier_fsck_note(
		        r, m->problem,
		        "; rebuilt from the local log cache but still bad: %s",
		        tier_buf_cstr(&m->why));
	}
	return 1;
}

/* Nowhere else: the cache holds the history the tier needs. */
static int mend_rebuild(struct logpack_mend *m)
{
	struct fsck_run *r = m->r;
	git_oid head;
	int rc;

	if (!rebuild_head(r, m->ti, &head)) {
		tier_fsck_note(
		        r, m->problem,
		        "; cannot repair: no other tier holds it%s%s%s, and the tier's history is "
		        "not in the local log cache",
		        m->tried.size ? " (" : "", tier_buf_cstr(&m->tried),
		        m->tried.size ? ")" : "");
		return 1;
	}
	if ((rc = tier_log_upload(r->cache, m->dst, &head, NULL, &m->got)) <
	    0) {
		if (rc == TIER_EABORTED || rc == TIER_EOFFLINE)
			return rc;
		tier_fsck_note(
		        r, m->problem,
		        "; cannot rebuild it from the local log cache: %s",
		        tier_error_last());
		return 1;
	}
	*m->changed = 1;
	if (strcmp(tier_buf_cstr(&m->got), m->lp->name) != 0 &&
	    (rc = mend_remove_damaged(m)) != 0)
		return rc;
	return mend_check_rebuilt(m, &head);
}

static int logpack_repair(struct fsck_run *r, size_t ti, struct logpack *lp,
                          size_t problem, int *changed)
{
	struct logpack_mend m = {.r = r,
	                         .ti = ti,
	                         .lp = lp,
	                         .problem = problem,
	                         .changed = changed,
	                         .dst = tier_vault_location(r->v, ti),
	                         .tmp = TIER_BUF_INIT,
	                         .got = TIER_BUF_INIT,
	                         .why = TIER_BUF_INIT,
	                         .tried = TIER_BUF_INIT};
	int rc = 0;

	logpack_path(m.path, sizeof(m.path), lp->name, "pack");
	for (size_t j = 0; j < tier_vault_tier_count(r->v) && rc == 0; j++)
		if (j != ti && source_ok(r, j))
			rc = mend_copy_from(&m, j);
	if (rc == 0)
		rc = mend_rebuild(&m);
	if (m.tmp.size)
		tier_rm_rf(m.tmp.ptr);
	tier_buf_dispose(&m.tmp);
	tier_buf_dispose(&m.got);
	tier_buf_dispose(&m.why);
	tier_buf_dispose(&m.tried);
	return rc < 0 ? rc : 0;
}

/*
 * Index into the cache the sound log packs of the tier that it lacks.  The
 * graph checks read the cache, and a probe takes a cache holding the
 * tier's head for one holding all its history: after a fetch that stopped
 * at a damaged pack, objects behind the head can be missing.
 */
static int cache_has_all(struct fsck_run *r, const tier_logidx *ix)
{
	enum { PER = 2048 };
	unsigned char *names = tier_malloc(PER * GIT_OID_RAWSZ);
	git_odb *odb = NULL;
	git_oid id;
	int all = names != NULL;
	if (!all || git_repository_odb(&odb, r->cache) < 0) {
		free(names);
		tier_error_clear();
		return 0;
	}
	/* the idx's names a block at a time: it stays in its file */
	for (uint32_t i = 0; i < ix->count && all;) {
		uint32_t k = ix->count - i < PER ? ix->count - i : PER;
		if (tier_logidx_names(ix, i, k, names) < 0) {
			tier_error_clear();
			all = 0;
			break;
		}
		for (uint32_t j = 0; j < k && all; j++, i++) {
			git_oid_fromraw(&id, names + (size_t)j * GIT_OID_RAWSZ);
			all = git_odb_exists(odb, &id);
		}
	}
	git_odb_free(odb);
	free(names);
	return all;
}

static int cache_complete(struct fsck_run *r, tier_location *loc,
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
int tier_fsck_check_logpacks(struct fsck_run *r, size_t ti, const char *tier,
                             int *changed)
{
	tier_location *loc = tier_vault_location(r->v, ti);
	tier_vec packs = TIER_VEC_INIT;
	tier_buf why = TIER_BUF_INIT;
	int rc = tier_fsck_list_logpacks(loc, &packs);

	if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
		goto out;
	if (rc < 0) {
		rc = tier_fsck_add_problem(
		        r, NULL, "pack-unreadable", TIER_FSCK_ERROR, tier,
		        TIER_LOG_PACK_DIR,
		        "tier '%s': its log packs cannot be listed: %s", tier,
		        tier_error_last());
		goto out;
	}
	for (size_t k = 0; k < packs.length && rc == 0; k++) {
		struct logpack *lp = packs.ptr[k];
		size_t problem = 0;
		int st = tier_fsck_logpack_probe(r, loc, lp, r->o->read_data,
		                                 &why);
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
	tier_vec_dispose(&packs, tier_fsck_logpack_free);
	tier_buf_dispose(&why);
	return rc;
}
