/*
 * The probe (R5, R8): what each tier holds, judged against what this
 * installation last saw or wrote there (its ref in the cache).  OK, offline,
 * refused, damaged, another vault, foreign (another installation wrote
 * there) or rolled back (behind what we wrote), each with a one-line
 * message that names the tier, both revisions, who wrote and what to do.
 * An intent of ours is mended first (R9, tierref.c); tier_vault_check()
 * turns the judgement into the error that stops a write.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "util/error.h"
#include "util/idset.h"
#include "vault_int.h"

const char *tier_state_name(tier_state s)
{
	switch (s) {
	case TIER_STATE_OK:
		return "ok";
	case TIER_STATE_OFFLINE:
		return "offline";
	case TIER_STATE_FOREIGN:
		return "foreign";
	case TIER_STATE_ROLLED_BACK:
		return "rolled-back";
	case TIER_STATE_OTHER_VAULT:
		return "other-vault";
	case TIER_STATE_DAMAGED:
		return "damaged";
	case TIER_STATE_REFUSED:
		return "refused";
	default:
		return "unknown";
	}
}

static void info_set_problem(struct vtier *t, tier_state st, const char *msg)
{
	t->info.state = st;
	tier_buf_sets(&t->problem, msg);
	t->info.problem = tier_buf_cstr(&t->problem);
}

static void fmt_time(char *out, size_t cap, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;
	gmtime_r(&tt, &tm);
	strftime(out, cap, "%Y-%m-%d %H:%M UTC", &tm);
}

/* Who wrote the revisions of a tier's head that our ref lacks. */
struct foreign_writer {
	git_oid first; /* the oldest of them */
	int found;
	git_oid adopt; /* the newest take-over by another installation */
	int adopted;
};

/*
 * By hand (each commit size-checked, git_revwalk inflates them
 * unchecked): the oldest commit of head's chain that base's chain
 * lacks (base itself when it is on it, the fork point when not).
 */
static void foreign_walk(tier_vault *v, struct vtier *t, const git_oid *base,
                         struct foreign_writer *fw)
{
	git_oid oid;
	tier_commit_info ci;
	tier_idset known = TIER_IDSET_INIT(GIT_OID_RAWSZ);
	if (base) {
		git_oid_cpy(&oid, base);
		for (int more = 1;
		     more == 1 && tier_idset_add(&known, oid.id) >= 0;
		     more = tier_log_first_parent(&oid, v->cache, &oid))
			;
	}
	git_oid_cpy(&oid, &t->head);
	for (int more = 1; more == 1 && !tier_idset_has(&known, oid.id);
	     more = tier_log_first_parent(&oid, v->cache, &oid)) {
		git_oid_cpy(&fw->first, &oid);
		fw->found = 1;
		/* newest first: the latest take-over by someone else */
		if (!fw->adopted &&
		    tier_commit_info_read(&ci, v->cache, &oid) == 0 &&
		    !strcmp(ci.op, "adopt") &&
		    strcmp(ci.installation, v->inst_id) != 0) {
			git_oid_cpy(&fw->adopt, &oid);
			fw->adopted = 1;
		}
	}
	tier_idset_dispose(&known);
	tier_error_clear();
}

/*
 * R8: tier t holds revisions this installation did not write.  Names the
 * tier, both revisions, the installation that wrote the first foreign
 * revision, and when; when another installation took the vault over
 * (an 'adopt' revision), that one, and never suggests --adopt (which would
 * lock the new owner out).  One line, under ~250 characters.
 */
static void describe_foreign(tier_vault *v, struct vtier *t,
                             const git_oid *base)
{
	struct foreign_writer fw = {0};
	tier_commit_info ci;
	tier_buf msg = TIER_BUF_INIT;
	int adopted;

	foreign_walk(v, t, base, &fw);
	adopted = fw.adopted;
	tier_buf_printf(&msg,
	                "tier '%s' is at revision %llu, this installation saw "
	                "revision %llu: another installation",
	                t->info.name, (unsigned long long)t->info.revision,
	                (unsigned long long)t->info.stored_revision);
	if ((adopted || fw.found) &&
	    tier_commit_info_read(&ci, v->cache,
	                          adopted ? &fw.adopt : &fw.first) == 0) {
		char when[64];
		fmt_time(when, sizeof(when), ci.time);
		tier_buf_printf(&msg, ", %.12s (%.32s@%.40s),", ci.installation,
		                ci.user, ci.host);
		if (adopted)
			tier_buf_printf(&msg,
			                " took over the vault in revision %llu "
			                "(%s); ",
			                (unsigned long long)ci.revision, when);
		else
			tier_buf_printf(&msg, " wrote revision %llu (%s); ",
			                (unsigned long long)ci.revision, when);
	} else {
		tier_buf_puts(&msg, adopted ? " took over the vault; "
		                            : " writes to this vault; ");
	}
	tier_error_clear();
	if (adopted)
		tier_buf_puts(&msg,
		              "to back up here, start a vault of its own; "
		              "to follow it: tier-init --read-only");
	else
		tier_buf_puts(&msg,
		              "if this machine replaced it: tier-init "
		              "--adopt; if both back up: a vault each; to "
		              "follow: tier-init --read-only");
	info_set_problem(t, TIER_STATE_FOREIGN, tier_buf_cstr(&msg));
	tier_buf_dispose(&msg);
}

static void describe_rolled_back(struct vtier *t)
{
	tier_buf msg = TIER_BUF_INIT;
	if (t->has_head)
		tier_buf_printf(
		        &msg,
		        "tier '%s' is at revision %llu but this installation wrote "
		        "revision %llu there: it was rolled back (restored from an older copy?)",
		        t->info.name, (unsigned long long)t->info.revision,
		        (unsigned long long)t->info.stored_revision);
	else
		tier_buf_printf(
		        &msg,
		        "tier '%s' is empty but this installation wrote revision %llu "
		        "there: is the share mounted? if the disk was replaced",
		        t->info.name,
		        (unsigned long long)t->info.stored_revision);
	tier_buf_printf(
	        &msg,
	        "%s run 'tier-sync --accept-rollback %s' to bring it level again",
	        t->has_head ? "; if that is intended," : ",", t->info.name);
	info_set_problem(t, TIER_STATE_ROLLED_BACK, tier_buf_cstr(&msg));
	tier_buf_dispose(&msg);
}

/* probe_one: the tier moved while we looked; its steps: judged already */
#define PROBE_AGAIN  1
#define PROBE_JUDGED 2

/* What an earlier probe found goes before each look. */
static void probe_reset(struct vtier *t)
{
	tier_buf_clear(&t->problem);
	t->info.problem = NULL;
	t->info.state = TIER_STATE_UNKNOWN;
	t->info.online = 0;
	t->info.has_log = 0;
	t->info.revision = 0;
	t->info.head[0] = '\0';
	t->info.synchronized = 0;
	t->has_head = 0;
}

/* Our ref of the tier: what this installation last saw or wrote there. */
static int probe_stored(tier_vault *v, struct vtier *t)
{
	tier_commit_info ci;
	int rc;
	if ((rc = tier_ref_read(v, t)) < 0)
		return rc;
	t->info.stored_revision = 0;
	t->info.stored_head[0] = '\0';
	if (t->has_stored) {
		git_oid_tostr(t->info.stored_head, sizeof(t->info.stored_head),
		              &t->stored);
		if (tier_commit_info_read(&ci, v->cache, &t->stored) == 0)
			t->info.stored_revision = ci.revision;
	}
	return 0;
}

/* The tier's log, mirrored into the cache; it must be this vault's. */
static int probe_log(tier_vault *v, struct vtier *t)
{
	tier_commit_info ci;
	int rc = tier_log_fetch(v->cache, t->loc, &t->head);
	if (rc == 0)
		rc = tier_commit_info_read(&ci, v->cache, &t->head);
	if (rc < 0) {
		int off = rc == TIER_EOFFLINE;
		t->info.online = !off;
		info_set_problem(t,
		                 off ? TIER_STATE_OFFLINE : TIER_STATE_DAMAGED,
		                 tier_error_last());
		return PROBE_JUDGED;
	}
	t->info.has_log = 1;
	t->info.revision = ci.revision;
	git_oid_tostr(t->info.head, sizeof(t->info.head), &t->head);
	if (v->vault_id[0] && strcmp(ci.vault, v->vault_id) != 0) {
		tier_buf m = TIER_BUF_INIT;
		tier_buf_printf(
		        &m,
		        "tier '%s' holds vault %.12s, not this installation's vault %.12s",
		        t->info.name, ci.vault, v->vault_id);
		info_set_problem(t, TIER_STATE_OTHER_VAULT, tier_buf_cstr(&m));
		tier_buf_dispose(&m);
		return PROBE_JUDGED;
	}
	if (!v->vault_id[0])
		snprintf(v->vault_id, sizeof(v->vault_id), "%s", ci.vault);
	return 0;
}

/*
 * The tier's head (R5), as tier_log_head_read() returned it (rc, its
 * message the error's): a tier that does not answer is judged here.
 */
static int probe_head(tier_vault *v, struct vtier *t, int rc)
{
	if (rc == TIER_EOFFLINE || tier_location_is_offline(t->loc)) {
		info_set_problem(t, TIER_STATE_OFFLINE, tier_error_last());
		return PROBE_JUDGED;
	}
	if (rc < 0) {
		info_set_problem(t,
		                 rc == TIER_EAUTH ? TIER_STATE_REFUSED
		                                  : TIER_STATE_DAMAGED,
		                 tier_error_last());
		return PROBE_JUDGED;
	}
	t->info.online = 1;
	return t->has_head ? probe_log(v, t) : 0;
}

/*
 * A write or sync of ours may have moved the head and the ref while
 * we looked (we hold no lock here): if the ref changed since we read
 * it, the pair we saw may be torn; look again (R8 must never mistake
 * our own write for a foreign one).
 */
static int probe_torn(tier_vault *v, struct vtier *t, const git_oid *ref0,
                      int had0)
{
	git_oid now = t->stored;
	int has_now = t->has_stored, rc;
	struct vtier peek = *t;
	if ((rc = tier_ref_read(v, &peek)) < 0)
		return rc;
	if (peek.has_stored != had0 ||
	    (had0 && !git_oid_equal(&peek.stored, ref0)))
		return PROBE_AGAIN;
	t->stored = now;
	t->has_stored = has_now;
	return 0;
}

/* A follower records what it saw and never judges. */
static int probe_follow(tier_vault *v, struct vtier *t)
{
	int rc;
	if (!t->has_head || tier_installation_lock(v, 1, "open") < 0) {
		tier_error_clear();
		return 0;
	}
	rc = tier_ref_write(v, t, &t->head);
	tier_installation_unlock(v);
	return rc;
}

/* R8: the tier's head against our ref of it. */
static void probe_judge(tier_vault *v, struct vtier *t)
{
	if (!t->has_stored)
		return; /* a tier new to this installation: merely unsynchronised */
	if (!t->has_head) {
		describe_rolled_back(t);
		return;
	}
	if (git_oid_equal(&t->head, &t->stored))
		return;
	if (git_graph_descendant_of(v->cache, &t->head, &t->stored) == 1) {
		describe_foreign(v, t, &t->stored);
		return;
	}
	if (git_graph_descendant_of(v->cache, &t->stored, &t->head) == 1) {
		describe_rolled_back(t);
		return;
	}
	describe_foreign(v, t, &t->stored); /* diverged */
}

/* What a probe keeps of each tier between its steps. */
struct probe_step {
	git_oid ref0; /* our ref as read before the head */
	int had0;
	int rc; /* the head read's */
	tier_buf msg;
};

/* Before the head: what an earlier probe found goes; our ref is read. */
static int probe_start(tier_vault *v, struct vtier *t, struct probe_step *s)
{
	int rc;
	probe_reset(t);
	if ((rc = probe_stored(v, t)) < 0)
		return rc;
	s->ref0 = t->stored;
	s->had0 = t->has_stored;
	return 0;
}

/* After the head read: the log, our intent (R9) and the judgement (R8). */
static int probe_finish(tier_vault *v, struct vtier *t, struct probe_step *s)
{
	int rc;
	if (s->rc < 0)
		tier_error_set(s->rc, "%s", tier_buf_cstr(&s->msg));
	if ((rc = probe_head(v, t, s->rc)) != 0)
		return rc == PROBE_JUDGED ? 0 : rc;
	/* R9: an interrupted write of ours is recognised, never taken as foreign. */
	if (v->state_dir && !v->read_only &&
	    (rc = tier_intent_recover(v, t)) < 0)
		return rc;
	if (v->state_dir && (rc = probe_torn(v, t, &s->ref0, s->had0)) != 0)
		return rc;
	t->info.state = TIER_STATE_OK;
	if (!v->state_dir)
		return 0;
	if (v->read_only)
		return probe_follow(v, t);
	probe_judge(v, t);
	return 0;
}

/* One tier from the start, in this thread (a tier that moved meanwhile). */
static int probe_one(tier_vault *v, struct vtier *t, struct probe_step *s)
{
	int rc;
	if ((rc = probe_start(v, t, s)) < 0)
		return rc;
	s->rc = tier_log_head_read(t->loc, &t->head, &t->has_head);
	tier_buf_sets(&s->msg, s->rc < 0 ? tier_error_last() : "");
	return probe_finish(v, t, s);
}

/* A tier retried in the background: offline for now, and why. */
static void probe_pending(tier_vault *v, struct vtier *t)
{
	tier_buf why = TIER_BUF_INIT, msg = TIER_BUF_INIT;
	tier_reach_why(v, t, &why);
	probe_reset(t);
	tier_buf_printf(&msg,
	                "tier '%s' did not answer (%s); retried in the "
	                "background while the write goes on",
	                t->info.name,
	                why.size ? tier_buf_cstr(&why) : "offline");
	info_set_problem(t, TIER_STATE_OFFLINE, tier_buf_cstr(&msg));
	tier_buf_dispose(&msg);
	tier_buf_dispose(&why);
}

/* The judgement of each tier whose head read ended, one after another. */
static int probe_judge_all(tier_vault *v, struct probe_step *s)
{
	int rc;
	for (size_t i = 0; i < v->n; i++) {
		struct vtier *t = &v->t[i];
		if (tier_reach_pending(v, t)) {
			probe_pending(v, t);
			continue;
		}
		rc = probe_finish(v, t, &s[i]);
		for (int attempt = 0; rc == PROBE_AGAIN && attempt < 20;
		     attempt++)
			rc = probe_one(v, t, &s[i]);
		if (rc == PROBE_AGAIN)
			rc = 0; /* still moving: neither ours nor foreign for now */
		if (rc < 0)
			return rc;
		if (t->info.online && t->info.state != TIER_STATE_OTHER_VAULT &&
		    t->info.state != TIER_STATE_DAMAGED &&
		    t->info.revision > v->max_rev)
			v->max_rev = t->info.revision;
	}
	return 0;
}

/*
 * R5 and R8 on every tier: our refs first, then every tier's head at once
 * (vault_reach.c), then the judgement, tier by tier (the log cache and
 * the installation's lock are the process's, not a thread's).  defer: see
 * tier_vault_probe_write().
 */
static int probe_all(tier_vault *v, int defer)
{
	struct probe_step *s = tier_calloc(v->n ? v->n : 1, sizeof(*s));
	unsigned char *ask = tier_calloc(v->n ? v->n : 1, 1);
	int rc = s && ask ? 0 : TIER_ERROR;

	v->max_rev = 0;
	for (size_t i = 0; rc == 0 && i < v->n; i++) {
		struct vtier *t = &v->t[i];
		/* a background read that ended is old news: ask again */
		if (!defer || tier_reach_ended(v, t))
			tier_reach_settle(v, t);
		ask[i] = !tier_reach_pending(v, t);
		if (ask[i])
			rc = probe_start(v, t, &s[i]);
	}
	if (rc == 0) {
		tier_reach_heads(v, ask, defer);
		for (size_t i = 0; i < v->n; i++)
			if (ask[i] && !tier_reach_pending(v, &v->t[i]))
				tier_reach_result(v, &v->t[i], &s[i].rc,
				                  &s[i].msg);
		rc = probe_judge_all(v, s);
	}
	for (size_t i = 0; s && i < v->n; i++)
		tier_buf_dispose(&s[i].msg);
	free(s);
	free(ask);
	if (rc < 0)
		return rc;
	for (size_t i = 0; i < v->n; i++) {
		tier_info *in = &v->t[i].info;
		/* a reader reads what another installation wrote like ours */
		in->synchronized =
		        in->online &&
		        (in->state == TIER_STATE_OK ||
		         (v->reading && in->state == TIER_STATE_FOREIGN)) &&
		        in->revision == v->max_rev;
	}
	return 0;
}

int tier_vault_probe(tier_vault *v)
{
	return probe_all(v, 0);
}

int tier_vault_probe_write(tier_vault *v)
{
	return probe_all(v, 1);
}

/*
 * R8 and a tier holding another vault.  r8 == 0 (a reader): a tier another
 * installation wrote does not count; a rolled-back one does (this
 * installation's own tier lost revisions: its operator must look).
 */
static int vault_check(const tier_vault *v, int r8)
{
	const struct vtier *rolled = NULL;
	if (!v->state_dir || v->read_only)
		return 0;
	for (size_t i = 0; i < v->n; i++) {
		if (r8 && v->t[i].info.state == TIER_STATE_FOREIGN)
			return tier_error_set(TIER_EFOREIGN, "%s",
			                      v->t[i].info.problem);
		if (v->t[i].info.state == TIER_STATE_ROLLED_BACK && !rolled)
			rolled = &v->t[i];
	}
	if (rolled)
		return tier_error_set(TIER_EROLLEDBACK, "%s",
		                      rolled->info.problem);
	for (size_t i = 0; i < v->n; i++)
		if (v->t[i].info.state == TIER_STATE_OTHER_VAULT)
			return tier_error_set(TIER_EUSAGE, "%s",
			                      v->t[i].info.problem);
	return 0;
}

int tier_vault_check(const tier_vault *v)
{
	return vault_check(v, !v->reading);
}

int tier_vault_check_write(const tier_vault *v)
{
	return vault_check(v, 1);
}
