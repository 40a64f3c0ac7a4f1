/*
 * tier-forget: write revisions off (SPEC 7).  A forget is one revision,
 * "Tier-Op: forget", whose Tier-Forget trailers name what it wrote off as
 * revision ranges ("3-17"); the log is never rewritten, so the forgotten
 * commits stay for audit.  Every other commit (mark, forget) carries its
 * parent's snapshot: it is forgotten with the push whose snapshot it
 * carries, so no revision number reaches a written-off snapshot.
 */
#include "tier/forget.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tier/errors.h"
#include "util/buf.h"
#include "util/error.h"
#include "forget_int.h"
#include "write.h"

#define FORGET_TRAILER "Tier-Forget"

struct range {
	uint64_t lo, hi, by;
};

struct tier_forgotten {
	struct range *r;
	size_t n, cap;
};

static int add_range(tier_forgotten *f, uint64_t lo, uint64_t hi, uint64_t by)
{
	if (f->n == f->cap) {
		size_t cap = f->cap ? f->cap * 2 : 16;
		struct range *nr = tier_realloc(f->r, cap * sizeof(*nr));
		if (!nr)
			return TIER_ERROR;
		f->r = nr;
		f->cap = cap;
	}
	f->r[f->n++] = (struct range){lo, hi, by};
	return 0;
}

/* "12" or "3-17"; 0 when it does not parse (a newer writer's form). */
static int parse_range(const char *s, uint64_t *lo, uint64_t *hi)
{
	char *end;
	unsigned long long a = strtoull(s, &end, 10), b = a;
	if (end == s)
		return 0;
	if (*end == '-') {
		const char *t = end + 1;
		b = strtoull(t, &end, 10);
		if (end == t)
			return 0;
	}
	if (*end || a == 0 || b < a)
		return 0;
	*lo = a;
	*hi = b;
	return 1;
}

int tier_forget_commit_names(tier_vault *v, const tier_commit_info *ci,
                             uint64_t rev)
{
	char hex[GIT_OID_HEXSZ + 1], **vals = NULL;
	size_t nv = 0;
	int rc, hit = 0;
	if (strcmp(ci->op, "forget") != 0)
		return 0;
	git_oid_tostr(hex, sizeof(hex), &ci->id);
	if ((rc = tier_vault_revision_trailers(&vals, &nv, v, hex,
	                                       FORGET_TRAILER)) < 0)
		return rc;
	for (size_t k = 0; k < nv && !hit; k++) {
		uint64_t lo, hi;
		hit = parse_range(vals[k], &lo, &hi) && rev >= lo && rev <= hi;
	}
	tier_strings_free(vals);
	return hit;
}

/* The ranges of the forget commits among log entries e[0..n). */
static int collect(tier_forgotten *f, tier_vault *v, const tier_log_entry *e,
                   size_t n)
{
	int rc = 0;
	for (size_t i = 0; i < n && rc == 0; i++) {
		char **vals = NULL;
		size_t nv = 0;
		if (strcmp(e[i].op, "forget") != 0)
			continue;
		if ((rc = tier_vault_revision_trailers(
		             &vals, &nv, v, e[i].commit, FORGET_TRAILER)) < 0)
			break;
		for (size_t k = 0; k < nv && rc == 0; k++) {
			uint64_t lo, hi;
			if (parse_range(vals[k], &lo, &hi))
				rc = add_range(f, lo, hi, e[i].revision);
		}
		tier_strings_free(vals);
	}
	return rc;
}

int tier_vault_forgotten(tier_forgotten **out, tier_vault *v)
{
	tier_log_entry *e = NULL;
	size_t n = 0;
	int rc;
	*out = NULL;
	tier_forgotten *f = tier_calloc(1, sizeof(*f));
	if (!f)
		return TIER_ERROR;
	if ((rc = tier_vault_log(&e, &n, v, 0)) == 0)
		rc = collect(f, v, e, n);
	free(e);
	if (rc < 0) {
		tier_forgotten_free(f);
		return rc;
	}
	*out = f;
	return 0;
}

tier_forgotten *tier_forgotten_new(void)
{
	return tier_calloc(1, sizeof(tier_forgotten));
}

int tier_forgotten_note(tier_forgotten *f, git_repository *repo,
                        const git_oid *commit, uint64_t rev)
{
	git_commit *c = NULL;
	git_message_trailer_array tr = {0};
	int rc;
	if ((rc = tier_log_commit_lookup(&c, repo, commit)) < 0)
		return rc;
	if ((rc = git_message_trailers(&tr, git_commit_message(c))) < 0) {
		git_commit_free(c);
		return tier_error_from_git(rc, "cannot parse trailers of a "
		                               "log commit");
	}
	rc = 0;
	for (size_t i = 0; i < tr.count && rc == 0; i++) {
		uint64_t lo, hi;
		if (!strcmp(tr.trailers[i].key, FORGET_TRAILER) &&
		    parse_range(tr.trailers[i].value, &lo, &hi))
			rc = add_range(f, lo, hi, rev);
	}
	git_message_trailer_array_free(&tr);
	git_commit_free(c);
	return rc;
}

uint64_t tier_forgotten_by(const tier_forgotten *f, uint64_t rev)
{
	uint64_t by = 0;
	for (size_t i = 0; f && i < f->n; i++)
		if (rev >= f->r[i].lo && rev <= f->r[i].hi &&
		    (!by || f->r[i].by < by))
			by = f->r[i].by;
	return by;
}

void tier_forgotten_free(tier_forgotten *f)
{
	if (!f)
		return;
	free(f->r);
	free(f);
}

int tier_vault_check_not_forgotten(tier_vault *v, uint64_t rev)
{
	tier_forgotten *f = NULL;
	int rc = tier_vault_forgotten(&f, v);
	if (rc < 0)
		return rc;
	uint64_t by = tier_forgotten_by(f, rev);
	tier_forgotten_free(f);
	return by ? tier_forget_error(rev, by) : 0;
}

int tier_forget_error(uint64_t rev, uint64_t by)
{
	return tier_error_set(TIER_ENOTFOUND,
	                      "revision %" PRIu64
	                      " was forgotten by revision %" PRIu64
	                      " (tier-forget); its data may be gone",
	                      rev, by);
}

void tier_forget_report_free(tier_forget_report *r)
{
	if (!r)
		return;
	free(r->entries);
	memset(r, 0, sizeof(*r));
}

/* Whether list holds every comma-separated word of want. */
static int has_all(char **list, size_t n, const char *want)
{
	const char *s = want;
	while (*s) {
		size_t len = strcspn(s, ",");
		int found = len == 0;
		for (size_t i = 0; i < n && !found; i++)
			found = strlen(list[i]) == len &&
			        memcmp(list[i], s, len) == 0;
		if (!found)
			return 0;
		s += len + (s[len] == ',');
	}
	return 1;
}

/* Whether push entry e is one the options select; its tags into *tags. */
static int selected(const tier_forget_options *o, tier_vault *v,
                    const tier_log_entry *e, char ***tags, size_t *ntags)
{
	int rc;
	*tags = NULL;
	*ntags = 0;
	if (o->host && strcmp(o->host, e->host) != 0)
		return 0;
	if ((rc = tier_vault_revision_trailers(tags, ntags, v, e->commit,
	                                       "Tier-Tag")) < 0)
		return rc;
	int ok = o->ntags == 0;
	for (size_t i = 0; i < o->ntags && !ok; i++)
		ok = has_all(*tags, *ntags, o->tags[i]);
	if (ok && o->npaths) {
		char **paths = NULL;
		size_t np = 0;
		if ((rc = tier_vault_revision_paths(&paths, &np, v,
		                                    e->commit)) < 0)
			return rc;
		for (size_t i = 0; i < o->npaths && ok; i++) {
			int found = 0;
			for (size_t k = 0; k < np && !found; k++)
				found = strcmp(paths[k], o->paths[i]) == 0;
			ok = found;
		}
		tier_strings_free(paths);
	}
	return ok;
}

struct decision {
	tier_log_entry *log; /* newest first */
	size_t nlog;
	tier_archive *arch; /* in force: kept by every policy */
	size_t narch;
	unsigned char *gone; /* per log entry: forgotten by this forget */
};

/* The push revisions to look at, decided; marks gone[] of the log. */
static int decide(struct decision *d, tier_forget_report *rep, tier_vault *v,
                  const tier_forget_options *o, const tier_forgotten *old)
{
	tier_forget_item *items =
	        tier_calloc(d->nlog ? d->nlog : 1, sizeof(*items));
	size_t *at = tier_calloc(d->nlog ? d->nlog : 1, sizeof(*at));
	char ***tags = tier_calloc(d->nlog ? d->nlog : 1, sizeof(*tags));
	size_t n = 0;
	int rc = 0;
	if (!items || !at || !tags) {
		rc = TIER_ERROR;
		goto out;
	}
	for (size_t i = 0; i < d->nlog; i++) {
		const tier_log_entry *e = &d->log[i];
		if (strcmp(e->op, "push") != 0 ||
		    tier_forgotten_by(old, e->revision))
			continue;
		size_t nt = 0;
		if ((rc = selected(o, v, e, &tags[n], &nt)) < 0)
			goto out;
		if (!rc) {
			tier_strings_free(tags[n]);
			tags[n] = NULL;
			continue;
		}
		items[n].time = e->time;
		for (size_t a = 0; a < d->narch; a++)
			if (d->arch[a].revision == e->revision)
				items[n].archived = 1;
		items[n].tags = (const char *const *)tags[n];
		items[n].ntags = nt;
		at[n++] = i;
	}
	if ((rc = tier_forget_policy_apply(&o->policy, items, n)) < 0)
		goto out;
	rc = 0;
	if (!(rep->entries = tier_calloc(n ? n : 1, sizeof(*rep->entries)))) {
		rc = TIER_ERROR;
		goto out;
	}
	for (size_t k = 0; k < n; k++) {
		const tier_log_entry *e = &d->log[at[k]];
		tier_forget_entry *x = &rep->entries[rep->nentries++];
		x->revision = e->revision;
		memcpy(x->commit, e->commit, sizeof(x->commit));
		x->time = e->time;
		x->time_offset = e->time_offset;
		x->reasons = items[k].reasons;
		if (!x->reasons) {
			d->gone[at[k]] = 1;
			rep->forgotten++;
		}
	}
out:
	for (size_t k = 0; tags && k < d->nlog; k++)
		tier_strings_free(tags[k]);
	free(tags);
	free(at);
	free(items);
	return rc;
}

/*
 * Other commits carry the snapshot of the newest push below them: they go
 * with it, whether this forget or an earlier one wrote it off.
 */
static void carry(struct decision *d, tier_forget_report *rep,
                  const tier_forgotten *old)
{
	int push_gone = 0;
	for (size_t i = d->nlog; i-- > 0;) {
		const tier_log_entry *e = &d->log[i];
		int was = tier_forgotten_by(old, e->revision) != 0;
		if (!strcmp(e->op, "push")) {
			push_gone = d->gone[i] || was;
			continue;
		}
		if (push_gone && !was && !d->gone[i]) {
			d->gone[i] = 1;
			rep->carried++;
		}
	}
}

/* "Tier-Forget: a-b" lines for the gone entries, oldest first. */
static int trailers(tier_buf *b, const struct decision *d)
{
	int rc = 0;
	for (size_t i = d->nlog; i-- > 0;) {
		if (!d->gone[i])
			continue;
		uint64_t lo = d->log[i].revision, hi = lo;
		while (i > 0 && d->gone[i - 1] &&
		       d->log[i - 1].revision == hi + 1) {
			i--;
			hi++;
		}
		if (lo == hi)
			rc |= tier_buf_printf(
			        b, FORGET_TRAILER ": %" PRIu64 "\n", lo);
		else
			rc |= tier_buf_printf(
			        b, FORGET_TRAILER ": %" PRIu64 "-%" PRIu64 "\n",
			        lo, hi);
	}
	return rc < 0 ? TIER_ERROR : 0;
}

static int write_forget(tier_write **w, tier_write_result **out,
                        const struct decision *d, const tier_forget_report *rep)
{
	tier_buf tr = TIER_BUF_INIT;
	char summary[256];
	int rc;
	snprintf(summary, sizeof(summary),
	         "forget: %" PRIu64 " revision%s (%" PRIu64 " more carried)",
	         rep->forgotten, rep->forgotten == 1 ? "" : "s", rep->carried);
	if ((rc = trailers(&tr, d)) == 0)
		rc = tier_write_commit(*w, NULL, summary, tier_buf_cstr(&tr),
		                       out);
	tier_buf_dispose(&tr);
	return rc;
}

int tier_forget_run(tier_forget_report *report, tier_write_result **out,
                    tier_vault *v, const tier_forget_options *opts)
{
	struct decision d = {0};
	tier_forgotten *old = NULL;
	tier_write *w = NULL;
	int rc;

	memset(report, 0, sizeof(*report));
	*out = NULL;
	if (!opts || opts->version != TIER_FORGET_OPTIONS_VERSION)
		return tier_error_set(TIER_EUSAGE,
		                      "unknown tier_forget_options version");
	if (tier_forget_policy_empty(&opts->policy))
		return tier_error_set(TIER_EUSAGE,
		                      "no policy given: name at least one "
		                      "--keep-* rule (nothing is forgotten)");
	/* the write's lock first: no push slips in between decision and
	 * commit */
	if (!opts->dry_run && (rc = tier_write_begin(&w, v, "forget")) < 0)
		return rc;
	if ((rc = tier_vault_log(&d.log, &d.nlog, v, 0)) < 0)
		goto out;
	if (!(d.gone = tier_calloc(d.nlog ? d.nlog : 1, 1))) {
		rc = TIER_ERROR;
		goto out;
	}
	if ((rc = tier_vault_forgotten(&old, v)) < 0 ||
	    (rc = tier_vault_archives(&d.arch, &d.narch, v)) < 0 ||
	    (rc = decide(&d, report, v, opts, old)) < 0)
		goto out;
	carry(&d, report, old);
	if (w && report->forgotten + report->carried > 0)
		rc = write_forget(&w, out, &d, report);
out:
	tier_write_free(w);
	tier_forgotten_free(old);
	free(d.arch);
	free(d.gone);
	free(d.log);
	return rc;
}
