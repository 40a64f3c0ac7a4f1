/*
 * tier-archive: named revisions that every retention policy keeps (SPEC
 * 7).  An archive is a revision "Tier-Op: archive" with a trailer
 * "Tier-Archive: REV NAME" (or "Tier-Release: NAME" to end one); the
 * archives in force are read back from the log, oldest first, like the
 * forgotten set.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tier/errors.h"
#include "tier/forget.h"
#include "util/buf.h"
#include "util/error.h"
#include "write.h"

#define ARCHIVE_TRAILER "Tier-Archive"
#define RELEASE_TRAILER "Tier-Release"

static int check_name(const char *name)
{
	size_t n = name ? strlen(name) : 0;
	int ok = n >= 1 && n <= TIER_ARCHIVE_NAME_MAX && name[0] != '-';
	for (size_t i = 0; ok && i < n; i++)
		ok = (name[i] >= 'a' && name[i] <= 'z') ||
		     (name[i] >= 'A' && name[i] <= 'Z') ||
		     (name[i] >= '0' && name[i] <= '9') || name[i] == '.' ||
		     name[i] == '_' || name[i] == '-';
	if (ok)
		return 0;
	return tier_error_set(TIER_EUSAGE,
	                      "bad archive name '%.80s': 1 to %d letters, "
	                      "digits, '.', '_' or '-', not starting with '-'",
	                      name ? name : "", TIER_ARCHIVE_NAME_MAX);
}

struct arch_list {
	tier_archive *a;
	size_t n, cap;
};

static void drop(struct arch_list *l, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->a[i].name, name)) {
			memmove(&l->a[i], &l->a[i + 1],
			        (l->n - i - 1) * sizeof(*l->a));
			l->n--;
			return;
		}
}

static int put(struct arch_list *l, const char *value, uint64_t by,
               const tier_log_entry *log, size_t nlog)
{
	char *end;
	unsigned long long rev = strtoull(value, &end, 10);
	if (end == value || *end != ' ' || check_name(end + 1) < 0) {
		tier_error_clear();
		return 0; /* not ours to judge: a newer writer's form */
	}
	drop(l, end + 1);
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 8;
		tier_archive *na = tier_realloc(l->a, cap * sizeof(*na));
		if (!na)
			return TIER_ERROR;
		l->a = na;
		l->cap = cap;
	}
	tier_archive *x = &l->a[l->n++];
	memset(x, 0, sizeof(*x));
	snprintf(x->name, sizeof(x->name), "%s", end + 1);
	x->revision = rev;
	x->archived_by = by;
	for (size_t i = 0; i < nlog; i++)
		if (log[i].revision == rev)
			x->time = log[i].time;
	return 0;
}

/* One archive commit's trailers, in the order written. */
static int apply_commit(struct arch_list *l, tier_vault *v,
                        const tier_log_entry *e, const tier_log_entry *log,
                        size_t nlog)
{
	char **vals = NULL;
	size_t nv = 0;
	int rc;
	if ((rc = tier_vault_revision_trailers(&vals, &nv, v, e->commit,
	                                       RELEASE_TRAILER)) < 0)
		return rc;
	for (size_t k = 0; k < nv; k++)
		drop(l, vals[k]);
	tier_strings_free(vals);
	if ((rc = tier_vault_revision_trailers(&vals, &nv, v, e->commit,
	                                       ARCHIVE_TRAILER)) < 0)
		return rc;
	for (size_t k = 0; k < nv && rc == 0; k++)
		rc = put(l, vals[k], e->revision, log, nlog);
	tier_strings_free(vals);
	return rc;
}

int tier_vault_archives(tier_archive **out, size_t *count, tier_vault *v)
{
	tier_log_entry *e = NULL;
	size_t n = 0;
	struct arch_list l = {0};
	int rc;
	*out = NULL;
	*count = 0;
	if ((rc = tier_vault_log(&e, &n, v, 0)) < 0)
		return rc;
	for (size_t i = n; i-- > 0 && rc == 0;)
		if (!strcmp(e[i].op, "archive"))
			rc = apply_commit(&l, v, &e[i], e, n);
	free(e);
	if (rc < 0) {
		free(l.a);
		return rc;
	}
	*out = l.a;
	*count = l.n;
	return 0;
}

static const tier_archive *find(const tier_archive *a, size_t n,
                                const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(a[i].name, name))
			return &a[i];
	return NULL;
}

/* rev is a push revision of the log, not forgotten. */
static int check_rev(tier_vault *v, uint64_t rev)
{
	tier_log_entry *e = NULL;
	size_t n = 0;
	int rc;
	if ((rc = tier_vault_log(&e, &n, v, 0)) < 0)
		return rc;
	const tier_log_entry *hit = NULL;
	for (size_t i = 0; i < n && !hit; i++)
		if (e[i].revision == rev)
			hit = &e[i];
	if (!hit)
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "revision %" PRIu64
		                    " does not exist (latest is %" PRIu64 ")",
		                    rev, n ? e[0].revision : 0);
	else if (strcmp(hit->op, "push") != 0)
		rc = tier_error_set(TIER_ENOTFOUND,
		                    "revision %" PRIu64
		                    " is not a push (op %s): "
		                    "archive the push it follows",
		                    rev, hit->op);
	free(e);
	return rc < 0 ? rc : tier_vault_check_not_forgotten(v, rev);
}

/* The write: lock, checks against the log as it is now, commit. */
static int archive_write(tier_write_result **out, tier_vault *v, uint64_t rev,
                         const char *name)
{
	tier_write *w = NULL;
	tier_archive *a = NULL;
	size_t na = 0;
	char summary[256], trailer[128];
	int rc;
	*out = NULL;
	if ((rc = check_name(name)) < 0)
		return rc;
	if ((rc = tier_write_begin(&w, v, "archive")) < 0)
		return rc;
	if ((rc = tier_vault_archives(&a, &na, v)) < 0)
		goto out;
	const tier_archive *have = find(a, na, name);
	if (rev && have)
		rc = tier_error_set(
		        TIER_ECONFLICT,
		        "archive '%s' exists already (revision %" PRIu64
		        "): release it first",
		        name, have->revision);
	else if (!rev && !have)
		rc = tier_error_set(TIER_ENOTFOUND, "no archive '%s'", name);
	else if (rev)
		rc = check_rev(v, rev);
	if (rc < 0)
		goto out;
	if (rev) {
		snprintf(summary, sizeof(summary),
		         "archive: revision %" PRIu64 " as %s", rev, name);
		snprintf(trailer, sizeof(trailer),
		         ARCHIVE_TRAILER ": %" PRIu64 " %s\n", rev, name);
	} else {
		snprintf(summary, sizeof(summary),
		         "archive: release %s (revision %" PRIu64 ")", name,
		         have->revision);
		snprintf(trailer, sizeof(trailer), RELEASE_TRAILER ": %s\n",
		         name);
	}
	rc = tier_write_commit(w, NULL, summary, trailer, out);
out:
	free(a);
	tier_write_free(w);
	return rc;
}

int tier_archive_add(tier_write_result **out, tier_vault *v, uint64_t rev,
                     const char *name)
{
	if (rev == 0) {
		*out = NULL;
		return tier_error_set(TIER_EUSAGE, "no revision to archive");
	}
	return archive_write(out, v, rev, name);
}

int tier_archive_release(tier_write_result **out, tier_vault *v,
                         const char *name)
{
	return archive_write(out, v, 0, name);
}
