/* tier-find: which revisions hold files whose path matches a glob. */
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exitcodes.h"
#include "listing.h"
#include "opt.h"
#include "output.h"
#include "session.h"

static struct tool_list opt_revisions;

static const struct tool_opt options[] = {
        TOOL_LIST('r', "revision", "N", &opt_revisions,
                  "look in revision N only (repeatable; default: every "
                  "revision, newest first)"),
        TOOL_OPTS_END,
};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_ERROR,
         "error, e.g. a revision not in the vault, or no tier can be read "
         "(finding nothing is not an error: exit 0)"},
        {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL},
        {TOOL_EXIT_INTERRUPTED, NULL},
        TOOL_EXITS_END,
};

static const struct tool_def def = {
        .name = "tier-find",
        .args = "PATTERN...",
        .description =
                "Find the entries whose path matches one of the glob PATTERNs (fnmatch(3): "
                "*, ? and [...]) in every revision of the vault, newest first, or in the "
                "revisions given with -r.  A PATTERN without '/' matches the name of an "
                "entry anywhere (\"*.odt\"); one with '/' matches the whole path from the "
                "snapshot root, '*' not crossing '/' (\"/home/*/letter.odt\", a leading '/' "
                "optional).  For each revision that holds a match: a line \"revision N "
                "(time)\", then each match like tier-ls -l prints it, by full path.  Nothing is "
                "restored; the log alone is read.  Works with an installation (-s) or with "
                "only -t URL.",
        .options = options,
        .min_args = 1,
        .max_args = TOOL_ARGS_MANY,
        .exits = exits,
};

struct find {
	const struct tool_common *c;
	char **pats;  /* anchored at "/" when they hold a '/' */
	int *by_name; /* per pattern: matches the name only */
	size_t npats;
	tier_browse *b;
	size_t in_rev;  /* matches in the revision being searched */
	size_t revs;    /* revisions with a match, so far */
	uint64_t total; /* matches in all */
	int failed;     /* stdout */
};

static int matches(const struct find *f, const tier_browse_entry *e)
{
	for (size_t i = 0; i < f->npats; i++) {
		if (f->by_name[i]
		            ? fnmatch(f->pats[i], e->name, 0) == 0
		            : fnmatch(f->pats[i], e->path, FNM_PATHNAME) == 0)
			return 1;
	}
	return 0;
}

/* The start of a revision's part, at its first match. */
static void rev_head(struct find *f)
{
	char when[64];
	if (f->c->json) {
		tool_time_rfc3339(when, sizeof(when), tier_browse_time(f->b));
		printf("%s{\"revision\":%" PRIu64
		       ",\"time\":\"%s\",\"matches\":[",
		       f->revs ? "," : "", tier_browse_revision(f->b), when);
		return;
	}
	tool_time_text(when, sizeof(when), tier_browse_time(f->b));
	printf("%srevision %" PRIu64 " (%s):\n", f->revs ? "\n" : "",
	       tier_browse_revision(f->b), when);
}

static int on_entry(const tier_browse_entry *e, void *payload)
{
	struct find *f = payload;
	if (!matches(f, e))
		return tool_interrupted();
	if (!f->in_rev)
		rev_head(f);
	if (f->c->json) {
		if (f->in_rev)
			putchar(',');
		if (tool_json_stream_put(tool_json_entry(e)))
			f->failed = 1;
	} else {
		tool_entry_line(e, e->path);
	}
	f->in_rev++;
	f->total++;
	if (ferror(stdout))
		f->failed = 1;
	return f->failed || tool_interrupted();
}

static int search(struct find *f, tier_vault *v, uint64_t rev)
{
	int rc;
	if ((rc = tool_browse_open(&f->b, v, rev)) < 0)
		return rc;
	f->in_rev = 0;
	rc = tier_browse_list(f->b, "/", TIER_BROWSE_RECURSIVE, on_entry, f);
	if (f->in_rev) {
		if (f->c->json)
			fputs("]}", stdout);
		f->revs++;
	}
	tier_browse_free(f->b);
	f->b = NULL;
	return rc;
}

static int rev_desc(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? 1 : x > y ? -1 : 0;
}

/* The revisions to search, newest first: -r, else all of the log. */
static int revisions(tier_vault *v, uint64_t **out, size_t *n)
{
	tier_log_entry *ents = NULL;
	size_t k = 0;
	int rc;
	*out = NULL;
	*n = 0;
	if (opt_revisions.count) {
		uint64_t *r = tool_xmalloc(opt_revisions.count * sizeof(*r));
		for (size_t i = 0; i < opt_revisions.count; i++)
			if (tool_parse_revision(opt_revisions.items[i],
			                        &r[i])) {
				free(r);
				return TIER_EUSAGE;
			}
		qsort(r, opt_revisions.count, sizeof(*r), rev_desc);
		for (size_t i = 0; i < opt_revisions.count; i++)
			if (!k || r[k - 1] != r[i])
				r[k++] = r[i];
		*out = r;
		*n = k;
		return 0;
	}
	tier_forgotten *gone = NULL;
	if ((rc = tier_vault_log(&ents, &k, v, 0)) < 0 ||
	    (rc = tier_vault_forgotten(&gone, v)) < 0) {
		free(ents);
		return rc;
	}
	/* forgotten revisions are not searched: their data may be gone */
	*out = tool_xmalloc((k ? k : 1) * sizeof(**out));
	for (size_t i = 0; i < k; i++)
		if (!tier_forgotten_by(gone, ents[i].revision))
			(*out)[(*n)++] = ents[i].revision;
	tier_forgotten_free(gone);
	free(ents);
	return 0;
}

int main(int argc, char **argv)
{
	struct tool_common c;
	struct find f;
	tier_vault *v = NULL;
	uint64_t *revs = NULL;
	size_t nrevs = 0;
	int rc, code = TOOL_EXIT_OK;

	tool_init(&c, &def, argc, argv);
	memset(&f, 0, sizeof(f));
	f.c = &c;
	f.npats = c.args.count;
	f.pats = tool_xmalloc(f.npats * sizeof(*f.pats));
	f.by_name = tool_xmalloc(f.npats * sizeof(*f.by_name));
	memset(f.pats, 0, f.npats * sizeof(*f.pats));
	for (size_t i = 0; i < f.npats; i++) {
		const char *p = c.args.items[i];
		if (!*p) {
			code = tool_usage_error(
			        "an empty pattern matches nothing");
			goto out;
		}
		f.by_name[i] = !strchr(p, '/');
		f.pats[i] = f.by_name[i] || p[0] == '/'
		                    ? tool_xstrdup(p)
		                    : tool_xasprintf("/%s", p);
	}
	/* a bad -r is a usage error before the tiers are read */
	for (size_t i = 0; i < opt_revisions.count; i++) {
		uint64_t r;
		if (tool_parse_revision(opt_revisions.items[i], &r)) {
			code = TOOL_EXIT_USAGE;
			goto out;
		}
	}
	if ((rc = tool_vault_open(&v, &c, TOOL_READ, 1)) < 0 ||
	    (rc = revisions(v, &revs, &nrevs)) < 0) {
		code = tool_fail(rc);
		goto out;
	}
	/* every -r given must exist: checked before any output */
	for (size_t i = 0; i < nrevs && opt_revisions.count; i++) {
		tier_browse *b = NULL;
		if ((rc = tool_browse_open(&b, v, revs[i])) < 0) {
			code = tool_fail(rc);
			goto out;
		}
		tier_browse_free(b);
	}
	if (c.json) {
		tool_json_stream_begin();
		fputs("{\"revisions\":[", stdout);
	}
	for (size_t i = 0; i < nrevs; i++) {
		if ((rc = search(&f, v, revs[i])) < 0)
			break;
	}
	if (c.json)
		fputs("]}\n", stdout);
	if (f.failed)
		code = TOOL_EXIT_ERROR;
	else if (rc < 0)
		code = tool_fail(rc);
	else if (!c.json)
		tool_info("%s in %s", tool_count(f.total, "match", "matches"),
		          tool_count(f.revs, "revision", NULL));
out:
	for (size_t i = 0; i < f.npats && f.pats; i++)
		free(f.pats[i]);
	free(f.pats);
	free(f.by_name);
	free(revs);
	tier_vault_free(v);
	return tool_finish(&c, code);
}
