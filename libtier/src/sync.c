/*
 * Sync (R6) by log replay, aborted by writes (R7): each tier behind gets
 * the data packs, log objects and heads it lacks, entry by entry, each
 * head moved as a write moves it (R9, tier_vault_advance).
 */
#include "tier/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "installation.h"
#include "log.h"
#include "objread.h"
#include "pack.h"
#include "snapshot.h"
#include "prune_int.h"
#include "sync_int.h"
#include "tierref.h"
#include "util/error.h"
#include "util/idset.h"
#include "util/posix.h"
#include "vault.h"

int tier_sync_should_stop(struct sync *s)
{
	if (tier_vault_write_wanted(s->v))
		return tier_error_set(
		        TIER_EABORTED,
		        "sync of tier '%s' stopped at revision %llu: a write started "
		        "(run tier-sync again when it is done)",
		        s->tier, (unsigned long long)s->revision);
	pthread_mutex_lock(&s->lock);
	int cancel = s->opts->progress &&
	             s->opts->progress(&s->st, s->tier, s->revision,
	                               s->opts->payload);
	pthread_mutex_unlock(&s->lock);
	if (cancel)
		return tier_error_set(
		        TIER_EABORTED,
		        "sync of tier '%s' cancelled at revision %llu", s->tier,
		        (unsigned long long)s->revision);
	return 0;
}

/* Count into the stats from any thread. */
void tier_sync_count(struct sync *s, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&s->lock);
	*field += n;
	pthread_mutex_unlock(&s->lock);
}

static int stop_cb(void *payload)
{
	return tier_sync_should_stop(payload);
}

void tier_sync_warn(struct sync *s, const char *msg)
{
	pthread_mutex_lock(&s->lock);
	if (s->opts->warning)
		s->opts->warning(msg, s->opts->payload);
	pthread_mutex_unlock(&s->lock);
}

/* ---- packs a revision added: the index/ entries its parent lacks ---- */

static int index_tree(git_tree **out, git_repository *repo,
                      const git_oid *commit)
{
	git_commit *c = NULL;
	git_tree *t = NULL;
	git_oid id;
	int rc;
	*out = NULL;
	if (!commit)
		return 0;
	if ((rc = tier_log_commit_lookup(&c, repo, commit)) < 0)
		return rc;
	rc = tier_tree_lookup_bounded(&t, repo, git_commit_tree_id(c),
	                              "the tree of a log entry");
	git_commit_free(c);
	if (rc < 0)
		return rc;
	if (tier_snap_part(&id, t, TIER_SNAP_INDEX) == 0)
		rc = tier_tree_lookup_bounded(out, repo, &id,
		                              "a pack index tree");
	git_tree_free(t);
	return rc < 0 ? rc : 0;
}

struct added {
	struct added_pack *p;
	size_t n, cap;
};

/* One pack the newer index lists: its size from the trailer at the end of
 * its stored tail (the blob size-checked before it is read). */
static int add_pack(struct added *a, git_repository *repo,
                    const git_tree_entry *e)
{
	const char *name = git_tree_entry_name(e);
	unsigned char id[TIER_HASH_LEN];
	git_blob *blob = NULL;
	tier_pack_trailer tr;
	char what[96];
	int rc;

	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB ||
	    strlen(name) != TIER_HASH_HEXLEN ||
	    tier_unhex(id, TIER_HASH_LEN, name) < 0) {
		tier_error_clear();
		return 0; /* not a pack: nothing to copy */
	}
	if (a->n == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 16;
		struct added_pack *np = tier_realloc(a->p, cap * sizeof(*np));
		if (!np)
			return TIER_ERROR;
		a->p = np;
		a->cap = cap;
	}
	snprintf(what, sizeof(what), "the index of pack %.12s in the log",
	         name);
	if ((rc = tier_blob_lookup_bounded(&blob, repo, git_tree_entry_id(e),
	                                   TIER_MAX_INDEX_BLOB, what)) < 0)
		return rc;
	size_t bl = (size_t)git_blob_rawsize(blob);
	memcpy(a->p[a->n].id, id, TIER_HASH_LEN);
	a->p[a->n].size = 0;
	if (bl >= TIER_PACK_TRAILER_SIZE &&
	    tier_pack_trailer_parse(&tr, git_blob_rawcontent(blob), bl, name) ==
	            0)
		a->p[a->n].size = tr.pack_size;
	tier_error_clear();
	git_blob_free(blob);
	a->n++;
	return 0;
}

/*
 * Packs in the index of `to` but not of `from` (from NULL: all).  The two
 * levels of index/<xx>/<pack id> are compared by hand, not with git_diff
 * (which reads every tree whole, unchecked): a fan-out directory with the
 * same id on both sides is skipped.
 */
static int added_packs(struct added_pack **out, size_t *n, git_repository *repo,
                       const git_oid *from, const git_oid *to)
{
	git_tree *a = NULL, *b = NULL;
	struct added add = {NULL, 0, 0};
	int rc;
	*out = NULL;
	*n = 0;
	if ((rc = index_tree(&a, repo, from)) < 0 ||
	    (rc = index_tree(&b, repo, to)) < 0)
		goto out;
	for (size_t i = 0; b && i < git_tree_entrycount(b) && rc == 0; i++) {
		const git_tree_entry *eb = git_tree_entry_byindex(b, i);
		const git_tree_entry *ea =
		        a ? git_tree_entry_byname(a, git_tree_entry_name(eb))
		          : NULL;
		git_tree *sb = NULL, *sa = NULL;
		if (git_tree_entry_type(eb) != GIT_OBJECT_TREE ||
		    (ea && git_oid_equal(git_tree_entry_id(ea),
		                         git_tree_entry_id(eb))))
			continue;
		if ((rc = tier_tree_lookup_bounded(&sb, repo,
		                                   git_tree_entry_id(eb),
		                                   "a pack index tree")) < 0)
			break;
		if (ea && git_tree_entry_type(ea) == GIT_OBJECT_TREE &&
		    (rc = tier_tree_lookup_bounded(&sa, repo,
		                                   git_tree_entry_id(ea),
		                                   "a pack index tree")) < 0) {
			git_tree_free(sb);
			break;
		}
		for (size_t k = 0; k < git_tree_entrycount(sb) && rc == 0;
		     k++) {
			const git_tree_entry *e = git_tree_entry_byindex(sb, k);
			if (sa &&
			    git_tree_entry_byname(sa, git_tree_entry_name(e)))
				continue; /* listed before: copied then */
			rc = add_pack(&add, repo, e);
		}
		git_tree_free(sa);
		git_tree_free(sb);
	}
	if (rc == 0) {
		*out = add.p ? add.p : tier_calloc(1, sizeof(*add.p));
		*n = add.n;
		if (!*out)
			rc = TIER_ERROR;
		add.p = NULL;
	}
out:
	free(add.p);
	git_tree_free(a);
	git_tree_free(b);
	return rc;
}

/* ---- replaying one tier ------------------------------------------------ */

/*
 * When the tier's head is not on the source's first-parent chain (the walk
 * above reached the first revision), drop what is below it as git_revwalk's
 * hide did: the commits the tier's own chain holds, and all older ones.
 */
static int drop_known(tier_vec *todo, git_repository *repo, const git_oid *cur,
                      const char *tier)
{
	tier_idset seen = TIER_IDSET_INIT(GIT_OID_RAWSZ);
	git_oid oid;
	int rc;

	git_oid_cpy(&oid, cur);
	for (;;) {
		if ((rc = tier_idset_add(&seen, oid.id)) < 0)
			goto out;
		if ((rc = tier_log_first_parent(&oid, repo, &oid)) < 0) {
			tier_error_prefix("cannot read the log of tier '%s'",
			                  tier);
			goto out;
		}
		if (rc == 0)
			break;
	}
	for (size_t i = 0; i < todo->length; i++) {
		if (!tier_idset_has(&seen, ((git_oid *)todo->ptr[i])->id))
			continue;
		for (size_t k = i; k < todo->length; k++)
			free(todo->ptr[k]);
		todo->length = i;
		break;
	}
	rc = 0;
out:
	tier_idset_dispose(&seen);
	return rc;
}

/*
 * The first-parent chain from the source's head down to the tier's own
 * head (cur, NULL for an empty tier), oldest first; walked by hand
 * (git_revwalk reads each commit whole before anyone checked its size).
 */
static int sync_todo(struct sync *s, tier_vec *todo, const git_oid *src_head,
                     const git_oid *cur)
{
	git_repository *repo = tier_vault_cache(s->v);
	git_oid oid;
	int at_cur = 0, rc;

	git_oid_cpy(&oid, src_head);
	for (;;) {
		if (cur && git_oid_equal(&oid, cur)) {
			at_cur = 1;
			break;
		}
		git_oid *k = tier_malloc(sizeof(*k));
		if (!k || tier_vec_push(todo, k) < 0) {
			free(k);
			return TIER_ERROR;
		}
		git_oid_cpy(k, &oid);
		if ((rc = tier_log_first_parent(&oid, repo, &oid)) < 0) {
			tier_error_prefix(
			        "cannot list the revisions tier '%s' lacks",
			        s->tier);
			return rc;
		}
		if (rc == 0)
			break;
	}
	if (cur && !at_cur && todo->length &&
	    (rc = drop_known(todo, repo, cur, s->tier)) < 0)
		return rc;
	/* oldest first */
	for (size_t a = 0, b = todo->length; a + 1 < b; a++, b--) {
		void *t = todo->ptr[a];
		todo->ptr[a] = todo->ptr[b - 1];
		todo->ptr[b - 1] = t;
	}
	return 0;
}

/*
 * The log objects of every missing entry first (objects that no head
 * points at yet are harmless): the source's log packs, copied as they
 * are.  A source whose pack does not hash to its name: one pack built
 * from the cache instead.
 */
static int sync_log(struct sync *s, size_t i, size_t src_i,
                    const git_oid *src_head, const git_oid *cur)
{
	tier_vault *v = s->v;
	tier_location *dst = tier_vault_location(v, i);
	int rc = tier_log_copy_packs(tier_vault_location(v, src_i), dst,
	                             s->tmpdir, stop_cb, s, &s->st.log_bytes);
	if (rc == TIER_ECORRUPT) {
		tier_sync_warn(s, tier_error_last());
		rc = tier_log_upload(tier_vault_cache(v), dst, src_head, cur,
		                     NULL);
	}
	return rc;
}

/* One entry of the log on tier i, whose head is cur (NULL: none yet). */
static int sync_entry(struct sync *s, size_t i, size_t src_i, const git_oid *c,
                      const git_oid *cur)
{
	git_repository *repo = tier_vault_cache(s->v);
	tier_commit_info ci;
	struct added_pack *packs = NULL;
	size_t np = 0;
	int rc;

	if ((rc = tier_commit_info_read(&ci, repo, c)) < 0)
		return rc;
	s->revision = ci.revision;
	if ((rc = tier_sync_should_stop(s)) < 0)
		return rc;
	/* data first, then the log objects, then the head: the tier never
	 * points at data it lacks */
	if ((rc = added_packs(&packs, &np, repo, cur, c)) < 0)
		return rc;
	rc = tier_sync_copy_packs(s, i, src_i, packs, np);
	free(packs);
	if (rc < 0)
		return rc;
	tier_test_crashpoint("sync.pack");
	return tier_vault_advance(s->v, i, c, ci.revision);
}

/* 1 + the position in todo of its newest prune entry, 0 when none. */
static int last_prune(struct sync *s, const tier_vec *todo, size_t *out)
{
	tier_commit_info ci;
	int rc;
	*out = 0;
	for (size_t k = todo->length; k-- > 0;) {
		if ((rc = tier_commit_info_read(&ci, tier_vault_cache(s->v),
		                                todo->ptr[k])) < 0)
			return rc;
		if (!strcmp(ci.op, "prune")) {
			*out = k + 1;
			break;
		}
	}
	return 0;
}

/*
 * Tier i is at prune entry `to` now: delete there the packs its old head
 * (`from`) named that `to` does not (what the prunes in between deleted
 * on the other tiers).  Data packs only, after the head moved (R3).
 */
static int replay_deletes(struct sync *s, size_t i, const git_oid *from,
                          const git_oid *to)
{
	tier_location *dst = tier_vault_location(s->v, i);
	unsigned char(*gone)[TIER_HASH_LEN] = NULL;
	size_t n = 0;
	char path[80];
	int rc;
	if (!from)
		return 0;
	if ((rc = tier_prune_dropped(&gone, &n, tier_vault_cache(s->v), from,
	                             to)) < 0)
		return rc;
	for (size_t k = 0; k < n && rc >= 0; k++) {
		tier_data_pack_path(path, gone[k]);
		rc = tier_location_remove(dst, path);
		if (rc == TIER_ENOTFOUND)
			rc = 0;
		if (rc == 0)
			s->st.deleted++;
		tier_test_crashpoint("sync.delete");
	}
	free(gone);
	return rc;
}

/* Replay on tier i what it lacks of the source's log; heads move entry by entry. */
static int sync_tier(struct sync *s, size_t i, size_t src_i,
                     const git_oid *src_head)
{
	tier_vault *v = s->v;
	tier_location *dst = tier_vault_location(v, i);
	git_oid cur;
	int has_cur = tier_vault_tier_head(v, i, &cur) == 0;
	tier_vec todo = TIER_VEC_INIT;
	int rc;

	s->tier = tier_location_name(dst);
	if ((rc = sync_todo(s, &todo, src_head, has_cur ? &cur : NULL)) < 0)
		goto out;
	if (!has_cur && (rc = tier_log_create(dst)) < 0)
		goto out;
	if (todo.length &&
	    (rc = sync_log(s, i, src_i, src_head, has_cur ? &cur : NULL)) < 0)
		goto out;
	size_t k = 0;
	if ((rc = last_prune(s, &todo, &k)) < 0)
		goto out;
	if (k > 0) {
		/* up to the newest prune in one step: the packs it dropped
		 * are never copied, and then go where it deleted them */
		const git_oid *c = todo.ptr[k - 1];
		if ((rc = sync_entry(s, i, src_i, c, has_cur ? &cur : NULL)) <
		            0 ||
		    (rc = replay_deletes(s, i, has_cur ? &cur : NULL, c)) < 0)
			goto out;
		git_oid_cpy(&cur, c);
		has_cur = 1;
		s->st.revisions += k;
	}
	for (; k < todo.length; k++) {
		const git_oid *c = todo.ptr[k];
		if ((rc = sync_entry(s, i, src_i, c, has_cur ? &cur : NULL)) <
		    0)
			goto out;
		git_oid_cpy(&cur, c);
		has_cur = 1;
		s->st.revisions++;
	}
	/* packs add up over many syncs: fold them past the writers' limit */
	if (todo.length > 1)
		tier_log_consolidate(tier_vault_cache(v), dst, &cur,
		                     TIER_LOG_MAX_PACKS);
	s->st.tiers++;
	rc = 0;
out:
	tier_vec_dispose(&todo, free);
	return rc;
}

static int find_source(tier_vault *v, size_t *src_i, git_oid *head)
{
	for (size_t i = 0; i < tier_vault_tier_count(v); i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		if (in->synchronized && tier_vault_tier_head(v, i, head) == 0) {
			*src_i = i;
			return 0;
		}
	}
	return tier_error_set(TIER_EOFFLINE,
	                      "no tier at the newest revision (%llu) is online",
	                      (unsigned long long)tier_vault_max_revision(v));
}

int tier_sync_run(tier_sync_stats *stats, tier_vault *v,
                  const tier_sync_options *opts)
{
	struct sync s;
	tier_sync_options def = TIER_SYNC_OPTIONS_INIT;
	int rc;

	if (!opts)
		opts = &def;
	TIER_CHECK_VERSION(opts, TIER_SYNC_OPTIONS_VERSION,
	                   "tier_sync_options");
	memset(&s, 0, sizeof(s));
	s.v = v;
	s.opts = opts;
	s.tier = "";
	pthread_mutex_init(&s.lock, NULL);

	/* R6: only when the installation is idle; a write always wins */
	while ((rc = tier_vault_lock_sync(v)) == TIER_ECONFLICT &&
	       opts->wait_idle) {
		struct timespec ts = {0, 200 * 1000000L};
		nanosleep(&ts, NULL);
		if ((rc = tier_sync_should_stop(&s)) < 0)
			break;
	}
	if (rc < 0) {
		pthread_mutex_destroy(&s.lock);
		return rc;
	}
	snprintf(s.tmpdir, sizeof(s.tmpdir), "%s/tmp",
	         git_repository_path(tier_vault_cache(v)));
	if ((rc = tier_mkdir_p(s.tmpdir, 0700)) < 0)
		goto out;
	/* R5: fresh revisions of every tier, R8 before writing anything */
	for (size_t i = 0; i < tier_vault_tier_count(v); i++)
		tier_location_reset(tier_vault_location(v, i));
	if ((rc = tier_vault_probe(v)) < 0 || (rc = tier_vault_check(v)) < 0)
		goto out;
	size_t src_i;
	git_oid head;
	int need = 0;
	for (size_t i = 0; i < tier_vault_tier_count(v); i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		need |= in->online && in->state == TIER_STATE_OK &&
		        !in->synchronized;
	}
	if (!need)
		goto out;
	if ((rc = find_source(v, &src_i, &head)) < 0)
		goto out;
	for (size_t i = 0; i < tier_vault_tier_count(v) && rc == 0; i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		if (in->online && in->state == TIER_STATE_OK &&
		    !in->synchronized)
			rc = sync_tier(&s, i, src_i, &head);
	}
out:
	tier_vault_unlock(v);
	if (stats)
		*stats = s.st;
	pthread_mutex_destroy(&s.lock);
	return rc;
}

int tier_sync_plan(tier_vault *v, size_t i, uint64_t *revisions,
                   uint64_t *bytes)
{
	const tier_info *in = tier_vault_tier_info(v, i);
	git_oid head, cur;
	size_t src_i;
	struct added_pack *p = NULL;
	size_t n = 0;
	int rc;
	*revisions = *bytes = 0;
	if (!in || !in->online || in->state != TIER_STATE_OK ||
	    in->synchronized)
		return 0;
	if ((rc = find_source(v, &src_i, &head)) < 0)
		return rc;
	int has_cur = tier_vault_tier_head(v, i, &cur) == 0;
	*revisions = tier_vault_max_revision(v) - in->revision;
	if ((rc = added_packs(&p, &n, tier_vault_cache(v),
	                      has_cur ? &cur : NULL, &head)) < 0)
		return rc;
	for (size_t k = 0; k < n; k++)
		*bytes += p[k].size;
	free(p);
	return 0;
}

int tier_sync_held(tier_vault *v, size_t i, uint64_t *packs, uint64_t *bytes)
{
	const tier_info *in = tier_vault_tier_info(v, i);
	struct added_pack *p = NULL;
	git_oid head;
	size_t n = 0;
	int rc;

	*packs = *bytes = 0;
	if (!in)
		return tier_error_set(TIER_EUSAGE, "no tier %zu", i);
	/* a tier that answered: its head; else what this installation last
	 * saw there (a tier away still holds that) */
	if (in->online ? tier_vault_tier_head(v, i, &head) < 0
	               : (!in->stored_head[0] ||
	                  git_oid_fromstr(&head, in->stored_head) < 0))
		return tier_error_set(TIER_ENOTFOUND,
		                      "tier '%s': no head revision known",
		                      in->name);
	if ((rc = added_packs(&p, &n, tier_vault_cache(v), NULL, &head)) < 0)
		return rc;
	*packs = n;
	for (size_t k = 0; k < n; k++)
		*bytes += p[k].size;
	free(p);
	return 0;
}
