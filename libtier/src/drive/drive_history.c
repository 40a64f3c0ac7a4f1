/*
 * What the drive shows, read once at open (drive_int.h): every push
 * revision that no forget wrote off, oldest first, their tags (Tier-Tag)
 * and the archives in force.
 */
#include "drive/drive_int.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"
#include "util/error.h"

static int is_push(const tier_log_entry *e)
{
	return !strcmp(e->op, "push");
}

static int tag_cmp(const void *a, const void *b)
{
	const struct drive_tag *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	return c ? c : (x->rev > y->rev) - (x->rev < y->rev);
}

static int add_tags(tier_drive *d, const tier_log_entry *e, size_t *cap)
{
	char **tags = NULL;
	size_t n = 0;
	int rc = tier_vault_revision_trailers(&tags, &n, d->v, e->commit,
	                                      "Tier-Tag");
	for (size_t i = 0; rc == 0 && i < n; i++) {
		/* a name that cannot be one directory entry is not shown */
		if (!*tags[i] || strchr(tags[i], '/') ||
		    !strcmp(tags[i], ".") || !strcmp(tags[i], ".."))
			continue;
		if (d->ntags == *cap) {
			size_t nc = *cap ? *cap * 2 : 16;
			struct drive_tag *nt =
			        tier_realloc(d->tags, nc * sizeof(*nt));
			if (!nt) {
				rc = TIER_ERROR;
				break;
			}
			d->tags = nt;
			*cap = nc;
		}
		if (!(d->tags[d->ntags].name = tier_strdup(tags[i]))) {
			rc = TIER_ERROR;
			break;
		}
		d->tags[d->ntags++].rev = e->revision;
	}
	tier_strings_free(tags);
	return rc;
}

int tier_drive_read_history(tier_drive *d)
{
	tier_log_entry *log = NULL;
	tier_forgotten *fg = NULL;
	size_t n = 0, k = 0, tag_cap = 0;
	int rc;

	if ((rc = tier_vault_log(&log, &n, d->v, 0)) < 0 ||
	    (rc = tier_vault_forgotten(&fg, d->v)) < 0)
		goto out;
	d->revs = tier_calloc(n ? n : 1, sizeof(*d->revs));
	d->rev_numbers = tier_calloc(n ? n : 1, sizeof(*d->rev_numbers));
	d->rev_times = tier_calloc(n ? n : 1, sizeof(*d->rev_times));
	if (!d->revs || !d->rev_numbers || !d->rev_times) {
		rc = TIER_ERROR;
		goto out;
	}
	for (size_t i = n; i-- > 0;) { /* the log is newest first */
		if (!is_push(&log[i]) || tier_forgotten_by(fg, log[i].revision))
			continue;
		if ((rc = add_tags(d, &log[i], &tag_cap)) < 0)
			goto out;
		d->revs[k].rev = log[i].revision;
		d->rev_numbers[k] = log[i].revision;
		d->rev_times[k] = log[i].time;
		k++;
	}
	d->nrevs = k;
	if (d->ntags)
		qsort(d->tags, d->ntags, sizeof(*d->tags), tag_cmp);
	rc = tier_vault_archives(&d->archives, &d->narchives, d->v);
out:
	free(log);
	tier_forgotten_free(fg);
	return rc;
}
