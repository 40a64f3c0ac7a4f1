/*
 * fsck of what the installation's probe says of each tier (R5, R8), of a
 * head that does not read (written again with --repair), and of the heads
 * across tiers: one behind, two at one revision that disagree.
 */
#include <string.h>

#include "fsck_int.h"
#include "installation.h"
#include "log.h"
#include "tierref.h"
#include "util/spillset.h"

/* ---- installation state ------------------------------------------------ */

int tier_fsck_check_state(struct fsck_run *r, const tier_info *in,
                          size_t *damaged)
{
	const char *why = in->problem ? in->problem : "";
	switch (in->state) {
	case TIER_STATE_REFUSED:
		r->r->tiers_offline++;
		return tier_fsck_add_problem(
		        r, NULL, "tier-refused", TIER_FSCK_WARNING, in->name,
		        NULL,
		        "tier '%s' refused access, fsck cannot vouch for it: %s",
		        in->name, *why ? why : "refused");
	case TIER_STATE_OFFLINE:
		r->r->tiers_offline++;
		return tier_fsck_add_problem(
		        r, NULL, "tier-offline", TIER_FSCK_WARNING, in->name,
		        NULL,
		        "tier '%s' is offline, fsck cannot vouch for it: %s",
		        in->name, *why ? why : "no answer");
	case TIER_STATE_FOREIGN:
		return tier_fsck_add_problem(r, NULL, "foreign-writer",
		                             TIER_FSCK_WARNING, in->name,
		                             in->head, "%s", why);
	case TIER_STATE_ROLLED_BACK:
		return tier_fsck_add_problem(
		        r, NULL, "rolled-back", TIER_FSCK_WARNING, in->name,
		        in->head[0] ? in->head : NULL, "%s", why);
	case TIER_STATE_OTHER_VAULT:
		return tier_fsck_add_problem(r, NULL, "other-vault",
		                             TIER_FSCK_ERROR, in->name, NULL,
		                             "%s", why);
	case TIER_STATE_DAMAGED:
		return tier_fsck_add_problem(
		        r, damaged, "log-damaged", TIER_FSCK_ERROR, in->name,
		        TIER_LOG_DIR, "tier '%s': its log cannot be read: %s",
		        in->name, why);
	default:
		return 0;
	}
}

/* ---- a garbled head ------------------------------------------------------ */

struct ontier {
	struct fsck_run *r;
	const tier_vec *packs; /* struct logpack * with ix_ok */
	tier_spillset *trees;  /* git object ids of trees found whole */
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
	/* only trees found whole are remembered: a later candidate asks again */
	int rc = tier_spillset_get(o->trees, id->id, NULL);
	if (rc != 0)
		return rc; /* 1: whole; < 0: cannot read the set */
	rc = 1;
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
	if (rc == 1 && tier_spillset_add(o->trees, id->id, NULL) < 0)
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
struct head_mend {
	struct fsck_run *r;
	size_t ti;
	size_t problem;
	const tier_info *in;
	tier_location *loc;
	tier_vec packs; /* struct logpack *, the tier's as they are now */
	git_oid stored; /* the last head this installation wrote there */
	git_oid cand;   /* the head to write: stored or an ancestor */
	uint64_t steps; /* revisions cand is behind stored */
};

/* 1 when the head is garbage and this installation may write it again
 * (stored set), 0 when not (a note says why), < 0 on error. */
static int head_repairable(struct head_mend *m)
{
	struct fsck_run *r = m->r;
	git_oid head;
	int exists = 0;
	int rc = tier_log_head_read(m->loc, &head, &exists);
	if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
		return rc;
	if (rc != TIER_ECORRUPT) {
		tier_error_clear();
		return 0; /* the head reads: the damage is elsewhere */
	}
	if (!m->in->stored_head[0] ||
	    git_oid_fromstr(&m->stored, m->in->stored_head) < 0) {
		if (tier_vault_installation_id(r->v) &&
		    tier_vault_installation_id(r->v)[0])
			tier_fsck_note(
			        r, m->problem,
			        "; cannot repair the head: this installation has no "
			        "record of what it wrote there");
		else
			tier_fsck_note(
			        r, m->problem,
			        "; the head can be written again only with the "
			        "installation that writes to this tier (tier-fsck -s DIR "
			        "--repair)");
		return 0;
	}
	if (tier_vault_is_read_only(r->v)) {
		tier_fsck_note(
		        r, m->problem,
		        "; a read-only installation does not write heads");
		return 0;
	}
	return 1;
}

/* The tier's log packs as they are now (after any repair above). */
static int head_list_packs(struct head_mend *m)
{
	tier_buf why = TIER_BUF_INIT;
	int rc = tier_fsck_list_logpacks(m->loc, &m->packs);
	for (size_t k = 0; k < m->packs.length && rc == 0; k++) {
		struct logpack *lp = m->packs.ptr[k];
		int st = tier_fsck_logpack_probe(m->r, m->loc, lp, 0, &why);
		if (st < 0)
			rc = st;
		else if (st != LP_OK)
			lp->ix_ok =
			        0; /* a damaged pack holds nothing we count on */
	}
	tier_buf_dispose(&why);
	return rc;
}

/* The last head we wrote, else its ancestors, newest first: the first
 * whole on the tier goes to cand.  1 when found, 0 when not, < 0 on error. */
static int head_find_whole(struct head_mend *m)
{
	struct ontier o;
	int rc, found = 0;

	memset(&o, 0, sizeof(o));
	/* every directory of up to 64 revisions: on disk past a few MiB */
	if ((rc = tier_spillset_new(&o.trees, GIT_OID_RAWSZ, 0, NULL, 0)) < 0)
		return rc;
	o.r = m->r;
	o.packs = &m->packs;
	git_oid_cpy(&m->cand, &m->stored);
	for (m->steps = 0; m->steps < 64; m->steps++) {
		o.has_missing = 0;
		if ((rc = history_on_tier(&o, &m->cand)) < 0)
			goto out;
		if (rc == 1) {
			found = 1;
			break;
		}
		git_commit *c = NULL, *p = NULL;
		rc = git_commit_lookup(&c, m->r->cache, &m->cand) == 0 &&
		     git_commit_parentcount(c) > 0 &&
		     git_commit_parent(&p, c, 0) == 0;
		if (rc)
			git_oid_cpy(&m->cand, git_commit_id(p));
		git_commit_free(p);
		git_commit_free(c);
		if (!rc)
			break;
	}
	rc = found;
out:
	tier_spillset_free(o.trees);
	return rc;
}

/* Under the sync lock (a write or sync of ours moves heads under it),
 * write cand as the tier's head.  0, or < 0 when fsck cannot go on. */
static int head_write(struct head_mend *m)
{
	struct fsck_run *r = m->r;
	int rc;

	if ((rc = tier_vault_lock_sync(r->v)) < 0) {
		if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
			return rc;
		tier_fsck_note(r, m->problem,
		               "; cannot repair the head now: %s",
		               tier_error_last());
		return 0;
	}
	if (m->steps == 0)
		rc = tier_vault_advance(r->v, m->ti, &m->stored,
		                        m->in->stored_revision);
	else
		rc = tier_log_head_write(
		        m->loc,
		        &m->cand); /* the ref keeps the newer head: rolled back */
	tier_vault_unlock(r->v);
	if (rc < 0) {
		if (rc == TIER_EOFFLINE || rc == TIER_EABORTED)
			return rc;
		tier_fsck_note(r, m->problem, "; cannot write the head: %s",
		               tier_error_last());
		return 0;
	}
	return 1;
}

/* The head is written: say from which revision. */
static void head_written(struct head_mend *m)
{
	char sh[SHORT + 1], sh2[SHORT + 1];
	struct fsck_run *r = m->r;

	((tier_fsck_problem *)r->problems.ptr[m->problem])->repaired = 1;
	if (m->steps == 0)
		tier_fsck_note(
		        r, m->problem,
		        "; head written again as %s, the last head this installation wrote there",
		        tier_fsck_short_oid(sh, &m->stored));
	else
		tier_fsck_note(
		        r, m->problem,
		        "; head written again as %s, %llu revision%s before %s (the last head this "
		        "installation wrote there, not whole on the tier): the tier is rolled "
		        "back, tier-sync --accept-rollback %s then brings it level",
		        tier_fsck_short_oid(sh, &m->cand),
		        (unsigned long long)m->steps, m->steps == 1 ? "" : "s",
		        tier_fsck_short_oid(sh2, &m->stored), m->in->name);
}

static int repair_head(struct fsck_run *r, size_t ti, size_t problem,
                       int *changed)
{
	struct head_mend m = {.r = r,
	                      .ti = ti,
	                      .problem = problem,
	                      .in = tier_vault_tier_info(r->v, ti),
	                      .loc = tier_vault_location(r->v, ti),
	                      .packs = TIER_VEC_INIT};
	char sh[SHORT + 1];
	int rc;

	if ((rc = head_repairable(&m)) <= 0)
		return rc;
	if ((rc = head_list_packs(&m)) < 0 || (rc = head_find_whole(&m)) < 0)
		goto out;
	if (rc == 0)
		tier_fsck_note(
		        r, problem,
		        "; cannot repair the head: the last head this installation wrote there "
		        "(%s) is not whole in the tier's log packs, nor an earlier one",
		        tier_fsck_short_oid(sh, &m.stored));
	else if ((rc = head_write(&m)) == 1) {
		*changed = 1;
		head_written(&m);
	}
	rc = rc < 0 ? rc : 0;
out:
	tier_vec_dispose(&m.packs, tier_fsck_logpack_free);
	return rc;
}

/* ---- one tier ----------------------------------------------------------- */

/*
 * A tier whose log cannot be read: its log packs are checked as they are
 * on the tier, and with repair mended (and a garbled head written again).
 * Returns 1 when the log reads again (the problem at index `damaged` is
 * then repaired and the tier's info fresh), 0 when it stays damaged.
 */
int tier_fsck_mend_damaged(struct fsck_run *r, size_t ti, size_t damaged)
{
	const tier_info *in = tier_vault_tier_info(r->v, ti);
	int changed = 0, rc;

	if ((rc = tier_fsck_check_logpacks(r, ti, in->name, &changed)) < 0)
		return rc;
	if (r->o->repair && (rc = repair_head(r, ti, damaged, &changed)) < 0)
		return rc;
	if (!changed)
		return 0;
	/* look at the tier again the way every tool does (R5, R8) */
	if ((rc = tier_vault_probe(r->v)) < 0) {
		tier_fsck_note(r, damaged,
		               "; probing the tiers again failed: %s",
		               tier_error_last());
		return 0;
	}
	in = tier_vault_tier_info(r->v, ti);
	if (in->state == TIER_STATE_DAMAGED) {
		((tier_fsck_problem *)r->problems.ptr[damaged])->repaired = 0;
		tier_fsck_note(r, damaged, "; the log still cannot be read: %s",
		               in->problem ? in->problem : "unknown error");
		return 0;
	}
	if (!((tier_fsck_problem *)r->problems.ptr[damaged])->repaired) {
		((tier_fsck_problem *)r->problems.ptr[damaged])->repaired = 1;
		tier_fsck_note(r, damaged, "; the log reads again");
	}
	return 1;
}

/* ---- across tiers ------------------------------------------------------- */

static int usable(const tier_info *in)
{
	return in->online &&
	       (in->state == TIER_STATE_OK || in->state == TIER_STATE_FOREIGN ||
	        in->state == TIER_STATE_ROLLED_BACK);
}

int tier_fsck_check_across(struct fsck_run *r)
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
			rc = tier_fsck_add_problem(
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
				rc = tier_fsck_add_problem(
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
		rc = tier_fsck_flush(r);
	return rc;
}
