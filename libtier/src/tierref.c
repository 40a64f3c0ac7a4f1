/*
 * Per-tier refs and intents (R9).  The cache holds one ref per tier,
 * refs/tiers/<name>: the head this installation last saw or wrote there
 * (R8 compares a tier's head with it).  Before a tier's head moves, the
 * intent journal <state>/intent/<name> says from where to where, so that
 * a write or sync killed half-way is recognised by the next probe and
 * never mistaken for a foreign writer.  Also the TIER_TEST_CRASH points
 * (docs/testing.md) that kill a process between the steps.
 */
#include "tierref.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "util/error.h"
#include "util/posix.h"
#include "vault_int.h"

void tier_test_crashpoint(const char *point)
{
	static _Thread_local unsigned hits;
	const char *spec = getenv("TIER_TEST_CRASH");
	if (!spec || !*spec)
		return;
	size_t plen = strcspn(spec, ":");
	if (strlen(point) != plen || strncmp(spec, point, plen) != 0)
		return;
	unsigned n = spec[plen] == ':'
	                     ? (unsigned)strtoul(spec + plen + 1, NULL, 10)
	                     : 1;
	if (++hits >= (n ? n : 1))
		_exit(137);
}

/* ---- refs ------------------------------------------------------------ */

static int ref_name(char *out, size_t cap, const char *tier)
{
	int valid = 0;
	snprintf(out, cap, "refs/tiers/%s", tier);
	if (git_reference_name_is_valid(&valid, out) < 0 || !valid)
		return tier_error_set(TIER_EUSAGE,
		                      "tier name '%s' cannot be used as a ref",
		                      tier);
	return 0;
}

int tier_ref_read(tier_vault *v, struct vtier *t)
{
	char name[256];
	int rc;
	t->has_stored = 0;
	if (!v->state_dir)
		return 0;
	if ((rc = ref_name(name, sizeof(name), t->info.name)) < 0)
		return rc;
	rc = git_reference_name_to_id(&t->stored, v->cache, name);
	if (rc == GIT_ENOTFOUND)
		return 0;
	if (rc < 0)
		return tier_error_from_git(rc, "cannot read ref '%s'", name);
	t->has_stored = 1;
	return 0;
}

int tier_ref_write(tier_vault *v, struct vtier *t, const git_oid *id)
{
	char name[256];
	git_reference *ref = NULL;
	int rc;
	if (!v->state_dir)
		return 0;
	if ((rc = ref_name(name, sizeof(name), t->info.name)) < 0)
		return rc;
	for (int attempt = 0; attempt < 2; attempt++) {
		if (id)
			rc = git_reference_create(&ref, v->cache, name, id, 1,
			                          "tier write");
		else {
			rc = git_reference_remove(v->cache, name);
			if (rc == GIT_ENOTFOUND)
				rc = 0;
		}
		git_reference_free(ref);
		ref = NULL;
		if (rc != GIT_ELOCKED || v->lock_fd < 0 || attempt)
			break;
		/*
		 * We hold the installation's lock, so nobody else of ours is
		 * writing this ref: its .lock is what a killed process left.
		 */
		char lock[PATH_MAX];
		snprintf(lock, sizeof(lock), "%s%s.lock",
		         git_repository_path(v->cache), name);
		unlink(lock);
	}
	if (rc < 0)
		return tier_error_from_git(rc, "cannot update ref '%s'", name);
	if (id) {
		git_oid_cpy(&t->stored, id);
		t->has_stored = 1;
	} else
		t->has_stored = 0;
	return 0;
}

int tier_vault_accept_rollback(tier_vault *v, const char *name)
{
	if (!v->state_dir || v->read_only)
		return tier_error_set(
		        TIER_EUSAGE,
		        "accepting a rollback needs a writing installation");
	for (size_t i = 0; i < v->n; i++) {
		struct vtier *t = &v->t[i];
		if (strcmp(t->info.name, name) != 0)
			continue;
		if (t->info.state != TIER_STATE_ROLLED_BACK)
			return tier_error_set(TIER_EUSAGE,
			                      "tier '%s' is not rolled back",
			                      name);
		int rc = tier_ref_write(v, t, t->has_head ? &t->head : NULL);
		if (rc < 0)
			return rc;
		return tier_vault_probe(v);
	}
	return tier_error_set(TIER_EUSAGE, "no tier named '%s'", name);
}

/* ---- intents ---------------------------------------------------------- */

struct intent {
	int present;
	int has_from;
	git_oid from, to;
};

static int intent_path(tier_vault *v, const char *tier, tier_buf *b)
{
	tier_buf_clear(b);
	return tier_buf_printf(b, "%s/intent/%s", v->state_dir, tier);
}

static int intent_read(tier_vault *v, struct vtier *t, struct intent *in)
{
	tier_buf p = TIER_BUF_INIT;
	char text[256] = {0}, from[64], to[64];
	memset(in, 0, sizeof(*in));
	intent_path(v, t->info.name, &p);
	FILE *f = fopen(tier_buf_cstr(&p), "r");
	tier_buf_dispose(&p);
	if (!f)
		return 0;
	size_t n = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	text[n] = '\0';
	/* atomic writes mean the file is either whole or absent */
	if (sscanf(text, "from %63s %*s\nto %63s", from, to) != 2 ||
	    git_oid_fromstr(&in->to, to) < 0)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "intent journal of tier '%s' is unreadable",
		        t->info.name);
	in->has_from = strcmp(from, "none") != 0;
	if (in->has_from && git_oid_fromstr(&in->from, from) < 0)
		return tier_error_set(
		        TIER_ECORRUPT,
		        "intent journal of tier '%s' is unreadable",
		        t->info.name);
	in->present = 1;
	return 0;
}

static int intent_write(tier_vault *v, struct vtier *t, const git_oid *from,
                        uint64_t from_rev, const git_oid *to, uint64_t to_rev)
{
	tier_buf p = TIER_BUF_INIT, text = TIER_BUF_INIT;
	char fh[41] = "none", th[41];
	if (from)
		git_oid_tostr(fh, sizeof(fh), from);
	git_oid_tostr(th, sizeof(th), to);
	intent_path(v, t->info.name, &p);
	tier_buf_printf(&text, "from %s %llu\nto %s %llu\n", fh,
	                (unsigned long long)from_rev, th,
	                (unsigned long long)to_rev);
	int rc = tier_atomic_write(tier_buf_cstr(&p), text.ptr, text.size);
	tier_buf_dispose(&p);
	tier_buf_dispose(&text);
	return rc;
}

static int intent_clear(tier_vault *v, struct vtier *t)
{
	tier_buf p = TIER_BUF_INIT;
	intent_path(v, t->info.name, &p);
	int rc = 0;
	if (unlink(tier_buf_cstr(&p)) < 0 && errno != ENOENT)
		rc = tier_error_set_errno(TIER_ERROR, errno,
		                          "cannot remove '%s'",
		                          tier_buf_cstr(&p));
	tier_buf_dispose(&p);
	return rc;
}

/*
 * At a probe (R9): an interrupted write of ours is recognised, never taken
 * as foreign.  A tier whose head is where the intent went got the write:
 * our ref follows it.  Where the head is the intent's start (or the tier
 * still empty), or the write finished, the intent is done and goes.
 */
int tier_intent_recover(tier_vault *v, struct vtier *t)
{
	struct intent in;
	int rc;
	if ((rc = intent_read(v, t, &in)) < 0)
		return rc;
	if (!in.present)
		return 0;
	/* only one of us mends the state: a writer that runs now
	 * owns this intent, and we merely read it */
	int locked = tier_installation_lock(v, 1, "open") == 0;
	tier_error_clear();
	if (t->has_head && git_oid_equal(&t->head, &in.to)) {
		if (locked && (rc = tier_ref_write(v, t, &in.to)) < 0) {
			tier_installation_unlock(v);
			return rc;
		}
		git_oid_cpy(&t->stored, &in.to);
		t->has_stored = 1;
		t->info.stored_revision = t->info.revision;
		git_oid_tostr(t->info.stored_head, sizeof(t->info.stored_head),
		              &in.to);
	}
	if (locked &&
	    ((t->has_head && git_oid_equal(&t->head, &in.to)) ||
	     (t->has_head && in.has_from &&
	      git_oid_equal(&t->head, &in.from)) ||
	     (!t->has_head && !in.has_from)) &&
	    (rc = intent_clear(v, t)) < 0) {
		tier_installation_unlock(v);
		return rc;
	}
	if (locked)
		tier_installation_unlock(v);
	return 0;
}

/* ---- moving a tier's head ------------------------------------------- */

/* TIER_TEST_CRASH point "<op>.<step>": write.head, sync.head... */
static void crash_point(const char *op, const char *step)
{
	char point[64];
	snprintf(point, sizeof(point), "%s.%s", op, step);
	tier_test_crashpoint(point);
}

int tier_ref_move(tier_vault *v, size_t i, const struct tier_ref_move *m,
                  int *tier_failed)
{
	struct vtier *t = &v->t[i];
	int rc;

	*tier_failed = 0;
	/* R9: the intent is on disk before the tier can change */
	if ((rc = intent_write(v, t, m->from, m->from_rev, m->to, m->to_rev)) <
	    0)
		return rc;
	crash_point(m->op, "intent");
	if (m->pack_dir) {
		if ((rc = tier_log_pack_put(t->loc, m->pack_dir,
		                            m->pack_name)) < 0) {
			/* the head has not moved: nothing for a probe to mend
			 * (and the caller reports the put's error, not ours) */
			tier_error_saved e;
			tier_error_save(&e);
			intent_clear(v, t);
			tier_error_restore(&e);
			*tier_failed = 1;
			return rc;
		}
		crash_point(m->op, "pack");
	}
	if ((rc = tier_log_head_write(t->loc, m->to)) < 0) {
		/* the head may or may not have moved: keep the intent, the
		 * next probe reads the tier and decides */
		*tier_failed = 1;
		return rc;
	}
	crash_point(m->op, "head");
	if ((rc = tier_ref_write(v, t, m->to)) < 0)
		return rc;
	crash_point(m->op, "ref");
	if ((rc = intent_clear(v, t)) < 0)
		return rc;
	git_oid_cpy(&t->head, m->to);
	t->has_head = 1;
	return 0;
}

int tier_vault_advance(tier_vault *v, size_t i, const git_oid *to,
                       uint64_t to_rev)
{
	struct vtier *t = &v->t[i];
	/* R9 holds for sync too: the same sequence as a write's, its log
	 * objects already on the tier */
	struct tier_ref_move m = {.op = "sync",
	                          .from = t->has_head ? &t->head : NULL,
	                          .from_rev = t->info.revision,
	                          .to = to,
	                          .to_rev = to_rev};
	int tier_failed, rc;
	if ((rc = tier_ref_move(v, i, &m, &tier_failed)) < 0)
		return rc;
	t->info.has_log = 1;
	t->info.revision = to_rev;
	t->info.stored_revision = to_rev;
	git_oid_tostr(t->info.head, sizeof(t->info.head), to);
	memcpy(t->info.stored_head, t->info.head, sizeof(t->info.head));
	t->info.synchronized = to_rev == v->max_rev;
	return 0;
}
