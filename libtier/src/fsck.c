/*
 * tier-fsck: verify every tier of a vault, and mend packs from another
 * tier.  The problem ids and what they mean are in docs/fsck.md.  This
 * file holds the public entry points, the problems list, and the order in
 * which one tier is checked; fsck_int.h says which file holds each check.
 */
#include "tier/fsck.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_int.h"
#include "log.h"
#include "util/buf.h"
#include "util/error.h"

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

int tier_fsck_add_problem(struct fsck_run *r, size_t *index, const char *id,
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

int tier_fsck_note(struct fsck_run *r, size_t index, const char *fmt, ...)
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

/* What became of a copy from another tier, checked where it landed. */
void tier_fsck_copy_verdict(struct fsck_run *r, size_t index, int sound,
                            const char *from, const char *why)
{
	if (sound) {
		((tier_fsck_problem *)r->problems.ptr[index])->repaired = 1;
		tier_fsck_note(r, index, "; repaired from tier '%s'", from);
	} else {
		tier_fsck_note(r, index,
		               "; copied from tier '%s' but still bad: %s",
		               from, why);
	}
}

int tier_fsck_flush(struct fsck_run *r)
{
	for (; r->emitted < r->problems.length; r->emitted++)
		if (r->o->problem && !r->stop &&
		    r->o->problem(r->problems.ptr[r->emitted], r->o->payload))
			r->stop = 1;
	if (r->stop)
		return tier_error_set(TIER_EABORTED, "fsck cancelled");
	return 0;
}

int tier_fsck_progress(struct fsck_run *r, const char *tier, uint64_t done,
                       uint64_t total)
{
	if (r->o->progress && !r->stop &&
	    r->o->progress(tier, done, total, r->r->bytes_read, r->o->payload))
		r->stop = 1;
	if (r->stop)
		return tier_error_set(TIER_EABORTED, "fsck cancelled");
	return 0;
}

const char *tier_fsck_short_oid(char out[SHORT + 1], const git_oid *id)
{
	char hex[GIT_OID_HEXSZ + 1];
	git_oid_tostr(hex, sizeof(hex), id);
	snprintf(out, SHORT + 1, "%s", hex);
	return out;
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
static int snapshot_check(struct fsck_run *r, const git_oid *head,
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
	int rc = tier_fsck_snap_check(&h->snap, r->cache, head,
	                              tier_vault_state_dir(r->v),
	                              tier_vault_keys(r->v));
	r->r->chunks_checked += h->snap.chunks_checked;
	return rc;
}

static int report_snapshot(struct fsck_run *r, const char *tier,
                           const struct headcheck *h)
{
	int rc = 0;
	for (size_t i = 0; i < h->snap.findings.length && rc == 0; i++) {
		const tier_fsck_finding *f = h->snap.findings.ptr[i];
		rc = tier_fsck_add_problem(r, NULL, f->id, TIER_FSCK_ERROR,
		                           tier, f->object, "tier '%s': %s",
		                           tier, f->message);
	}
	return rc;
}

/* The checks of a tier that answered with a log at head, in order: its
 * git files, its log packs (unless the mending of a damaged log did them),
 * the chain, the snapshot, the data packs. */
static int check_log(struct fsck_run *r, size_t ti, const tier_info *in,
                     const git_oid *head, int logpacks_done)
{
	tier_location *loc = tier_vault_location(r->v, ti);
	tier_vec packs = TIER_VEC_INIT;
	struct headcheck *h = NULL;
	int rc, changed = 0;

	if ((rc = tier_fsck_check_git_files(r, loc, in->name)) < 0 ||
	    (!logpacks_done &&
	     (rc = tier_fsck_check_logpacks(r, ti, in->name, &changed)) < 0) ||
	    (rc = tier_fsck_check_chain(r, in->name, head)) < 0 ||
	    (rc = tier_fsck_flush(r)) < 0 ||
	    (rc = tier_fsck_load_packs(r, in->name, head, &packs)) < 0 ||
	    (rc = snapshot_check(r, head, &h)) < 0 ||
	    (rc = report_snapshot(r, in->name, h)) < 0 ||
	    (rc = tier_fsck_flush(r)) < 0 ||
	    (rc = tier_fsck_check_packs(r, ti, in->name, &packs)) < 0)
		goto out;
	r->r->tiers_checked++;
out:
	tier_vec_dispose(&packs, free);
	return rc;
}

static int check_tier(struct fsck_run *r, size_t ti)
{
	const tier_info *in = tier_vault_tier_info(r->v, ti);
	git_oid head;
	size_t damaged = 0;
	int rc, logpacks_done = 0;

	if ((rc = tier_fsck_check_state(r, in, &damaged)) < 0)
		return rc;
	if (in->state == TIER_STATE_DAMAGED) {
		/* it answered (else it would be offline): what is wrong is on it */
		if ((rc = tier_fsck_mend_damaged(r, ti, damaged)) <= 0)
			goto out;
		in = tier_vault_tier_info(r->v, ti);
		logpacks_done = 1;
		size_t ignored;
		if (in->state != TIER_STATE_OK &&
		    (rc = tier_fsck_check_state(r, in, &ignored)) < 0)
			goto out;
	}
	if (!in->online || in->state == TIER_STATE_OFFLINE ||
	    in->state == TIER_STATE_REFUSED ||
	    in->state == TIER_STATE_OTHER_VAULT ||
	    in->state == TIER_STATE_DAMAGED)
		return tier_fsck_flush(r);
	if (!in->has_log || !in->head[0])
		return tier_fsck_flush(
		        r); /* an empty tier: nothing to verify yet */
	if (git_oid_fromstr(&head, in->head) < 0)
		return tier_error_set(TIER_ERROR,
		                      "tier '%s': head '%s' is not a commit id",
		                      in->name, in->head);
	rc = check_log(r, ti, in, &head, logpacks_done);
out:
	if (rc == TIER_EOFFLINE) {
		/* it answered at open and went away during the check */
		r->r->tiers_offline++;
		rc = tier_fsck_add_problem(
		        r, NULL, "tier-offline", TIER_FSCK_WARNING, in->name,
		        NULL,
		        "tier '%s' went offline during the check, fsck cannot vouch for it: %s",
		        in->name, tier_error_last());
	}
	if (rc == 0)
		rc = tier_fsck_flush(r);
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

/* The problems move into the report, counted by what became of them. */
static int fill_report(struct fsck_run *r)
{
	tier_fsck_report *rep = r->r;
	if (r->problems.length &&
	    !(rep->problems =
	              tier_calloc(r->problems.length, sizeof(*rep->problems))))
		return TIER_ERROR;
	for (size_t i = 0; i < r->problems.length; i++) {
		tier_fsck_problem *p = r->problems.ptr[i];
		rep->problems[i] = *p;
		free(p); /* the strings move into the report */
		r->problems.ptr[i] = NULL;
		if (rep->problems[i].repaired)
			rep->repaired++;
		else if (rep->problems[i].severity == TIER_FSCK_ERROR)
			rep->errors++;
		else if (rep->problems[i].severity == TIER_FSCK_WARNING)
			rep->warnings++;
		else
			rep->infos++;
	}
	rep->nproblems = r->problems.length;
	return 0;
}

int tier_fsck_run(tier_fsck_report **out, tier_vault *v,
                  const tier_fsck_options *opts)
{
	tier_fsck_options defaults = TIER_FSCK_OPTIONS_INIT;
	struct fsck_run r;
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
		rc = tier_fsck_check_across(&r);

	if (rc == 0 || rc == TIER_EABORTED) {
		if (fill_report(&r) < 0) {
			rc = TIER_ERROR;
			goto fail;
		}
		tier_vec_dispose(&r.problems, NULL);
		tier_vec_dispose(&r.heads, headcheck_free);
		*out = r.r;
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
