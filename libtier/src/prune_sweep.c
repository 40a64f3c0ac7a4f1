/*
 * Prune's deletes on one tier: every file under data/ that the tier's new
 * head does not name and that is either dead (a prune dropped it) or
 * older than the grace period.  Deleting only what no published revision
 * names is what makes a kill at any instant harmless; a dry run counts.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "prune_int.h"
#include "snapshot.h"
#include "tier/errors.h"
#include "tier/location.h"
#include "tierref.h"
#include "util/error.h"
#include "util/text.h"
#include "vault.h"

struct sweep {
	struct prune *p;
	tier_location *loc;
	const char *dir;
	int rc;
};

static int cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, TIER_HASH_LEN);
}

static int has(const unsigned char (*set)[TIER_HASH_LEN], size_t n,
               const unsigned char *id)
{
	return n && bsearch(id, set, n, TIER_HASH_LEN, cmp_id) != NULL;
}

static int sweep_file(const char *name, const tier_stat *st, void *payload)
{
	struct sweep *s = payload;
	struct prune *p = s->p;
	unsigned char id[TIER_HASH_LEN];
	char path[96];
	if (st->is_dir || strlen(name) != TIER_HASH_HEXLEN ||
	    tier_unhex(id, TIER_HASH_LEN, name) < 0) {
		tier_error_clear();
		return 0; /* not ours to judge */
	}
	if (has((const unsigned char(*)[TIER_HASH_LEN])p->named, p->nnamed,
	        id))
		return 0;
	int dead = has((const unsigned char(*)[TIER_HASH_LEN])p->dropped,
	               p->ndropped, id);
	/* a pack no revision named: an unfinished push's while it is young;
	 * a tier that gives no time keeps it (better kept than lost) */
	if (!dead && (st->mtime <= 0 || p->now - st->mtime < p->o->grace)) {
		p->rep->unnamed_young++;
		return 0;
	}
	if (p->w) {
		snprintf(path, sizeof(path), "%s/%s", s->dir, name);
		int rc = tier_location_remove(s->loc, path);
		if (rc < 0 && rc != TIER_ENOTFOUND) {
			s->rc = rc;
			return 1;
		}
		tier_test_crashpoint("prune.delete");
	}
	p->rep->files_removed++;
	if (!dead)
		p->rep->unnamed_removed++;
	if ((s->rc = tier_prune_progress(p, TIER_PRUNE_DELETE,
	                                 p->rep->files_removed, 0)) < 0)
		return 1;
	return 0;
}

static int sweep_fan(const char *name, const tier_stat *st, void *payload)
{
	struct sweep *s = payload;
	char dir[16];
	(void)st;
	if (strlen(name) != 2)
		return 0;
	snprintf(dir, sizeof(dir), "data/%s", name);
	struct sweep sub = *s;
	sub.dir = dir;
	int rc = tier_location_list(s->loc, dir, sweep_file, &sub);
	if (sub.rc < 0) {
		s->rc = sub.rc;
		return 1;
	}
	if (rc < 0 && rc != TIER_ENOTFOUND) {
		s->rc = rc;
		return 1;
	}
	return 0;
}

int tier_prune_sweep(struct prune *p, size_t tier_i)
{
	struct sweep s = {p, tier_vault_location(p->v, tier_i), "data", 0};
	int rc = tier_location_list(s.loc, "data", sweep_fan, &s);
	if (s.rc < 0)
		rc = s.rc;
	if (rc == TIER_ENOTFOUND)
		rc = 0;
	if (rc < 0)
		tier_error_prefix("tier '%s': prune's deletes stopped",
		                  tier_location_name(s.loc));
	return rc;
}
