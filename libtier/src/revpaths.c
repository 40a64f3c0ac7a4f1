/* What a revision records in its trailers (Tier-Path, Tier-Tag...), for
 * tier-log. */
#include <stdlib.h>
#include <string.h>

#include <git2.h>

#include "objread.h"
#include "snapshot_int.h"
#include "util/buf.h"
#include "util/error.h"
#include "util/text.h"
#include "vault.h"

/*
 * A trailer value is one line: a path that needs it is written quoted the
 * way tier_quote_path() quotes (git's core.quotePath), so undo that here;
 * a value not in double quotes is the path as is.
 */
static char *unquote(const char *s)
{
	size_t n = strlen(s);
	tier_buf b = TIER_BUF_INIT;

	if (n < 2 || s[0] != '"' || s[n - 1] != '"')
		return tier_strdup(s);
	for (size_t i = 1; i + 1 < n; i++) {
		char c = s[i];
		if (c == '\\' && i + 2 < n) {
			static const char from[] = "abtnvfr\"\\";
			static const char to[] = "\a\b\t\n\v\f\r\"\\";
			const char *e = strchr(from, s[++i]);
			if (e && *e) {
				c = to[e - from];
			} else if (s[i] >= '0' && s[i] <= '3' && i + 3 < n &&
			           s[i + 1] >= '0' && s[i + 1] <= '7' &&
			           s[i + 2] >= '0' && s[i + 2] <= '7') {
				c = (char)((s[i] - '0') * 64 +
				           (s[i + 1] - '0') * 8 +
				           (s[i + 2] - '0'));
				i += 2;
			} else {
				c = s[i];
			}
			if (c == '\0')
				continue; /* a NUL cannot be in a path */
		}
		if (tier_buf_putc(&b, c) < 0) {
			tier_buf_dispose(&b);
			return NULL;
		}
	}
	if (!b.ptr && tier_buf_sets(&b, "") < 0)
		return NULL;
	return tier_buf_detach(&b);
}

void tier_strings_free(char **list)
{
	if (!list)
		return;
	for (char **p = list; *p; p++)
		free(*p);
	free(list);
}

/* A value as written: sealed in an encrypted vault, else maybe quoted. */
static char *trailer_value(tier_vault *v, const char *key, const char *value,
                           int quoted)
{
	tier_buf b = TIER_BUF_INIT;
	const tier_keys *k = tier_vault_keys(v);
	int rc = k ? tier_trailer_open(&b, k, key, value) : TIER_ENOTFOUND;
	if (rc == 0)
		return tier_buf_detach(&b);
	tier_buf_dispose(&b);
	if (rc != TIER_ENOTFOUND) /* damage shows, the rest goes on */
		return tier_strdup("(sealed value fails authentication)");
	return quoted ? unquote(value) : tier_strdup(value);
}

static int revision_trailers(char ***out, size_t *count, tier_vault *v,
                             const char *commit, const char *key, int quoted)
{
	git_oid id;
	git_commit *c = NULL;
	git_message_trailer_array tr = {0};
	char **list = NULL;
	size_t n = 0;
	int rc;

	*out = NULL;
	*count = 0;
	if (!commit || git_oid_fromstr(&id, commit) < 0)
		return tier_error_set(TIER_EUSAGE, "'%s' is not a commit id",
		                      commit ? commit : "");
	/* a commit from a tier is size-checked before it is inflated */
	if ((rc = tier_object_check(NULL, tier_vault_cache(v), &id,
	                            GIT_OBJECT_COMMIT, TIER_MAX_SMALL_OBJECT,
	                            "a log commit")) < 0)
		return rc;
	if ((rc = git_commit_lookup(&c, tier_vault_cache(v), &id)) < 0)
		return tier_error_from_git(rc, "cannot read log commit %s",
		                           commit);
	if ((rc = git_message_trailers(&tr, git_commit_message(c))) < 0) {
		git_commit_free(c);
		return tier_error_from_git(
		        rc, "cannot parse trailers of log commit %s", commit);
	}
	list = tier_malloc((tr.count + 1) * sizeof(*list));
	rc = list ? 0 : TIER_ERROR;
	for (size_t i = 0; rc == 0 && i < tr.count; i++) {
		if (strcmp(tr.trailers[i].key, key) != 0)
			continue;
		list[n] = trailer_value(v, key, tr.trailers[i].value, quoted);
		if (!list[n])
			rc = TIER_ERROR;
		else
			n++;
	}
	if (list)
		list[n] = NULL;
	git_message_trailer_array_free(&tr);
	git_commit_free(c);
	if (rc < 0) {
		tier_strings_free(list);
		return rc;
	}
	*out = list;
	*count = n;
	return 0;
}

int tier_vault_revision_paths(char ***out, size_t *count, tier_vault *v,
                              const char *commit)
{
	return revision_trailers(out, count, v, commit, "Tier-Path", 1);
}

int tier_vault_revision_trailers(char ***out, size_t *count, tier_vault *v,
                                 const char *commit, const char *key)
{
	*out = NULL;
	*count = 0;
	if (!key || !*key)
		return tier_error_set(TIER_EUSAGE, "no trailer key");
	return revision_trailers(out, count, v, commit, key,
	                         strcmp(key, "Tier-Path") == 0);
}
