/*
 * The source paths of a push, as the revision records them, and the base
 * revision chosen from them (docs/design.md, "Which revision a push
 * compares with").
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forget_int.h"
#include "log.h"
#include "objread.h"
#include "push_int.h"
#include "snapshot_int.h"
#include "util/error.h"
#include "util/text.h"

int tier_push_abs_path(tier_buf *out, const char *path)
{
	tier_buf raw = TIER_BUF_INIT;
	if (path[0] != '/') {
		char *cwd = getcwd(NULL, 0);
		if (!cwd)
			return tier_error_set_errno(
			        TIER_ERROR, errno,
			        "cannot get the current directory");
		tier_buf_printf(&raw, "%s/%s", cwd, path);
		free(cwd);
	} else
		tier_buf_puts(&raw, path);
	if (!raw.ptr)
		return TIER_ERROR;
	/* ".", ".." and "//" lexically, like the user typed it */
	tier_buf_clear(out);
	char *save = NULL, *s = tier_buf_detach(&raw);
	for (char *c = strtok_r(s, "/", &save); c;
	     c = strtok_r(NULL, "/", &save)) {
		if (!strcmp(c, "."))
			continue;
		if (!strcmp(c, "..")) {
			char *slash = out->size ? strrchr(out->ptr, '/') : NULL;
			if (slash) {
				out->size = (size_t)(slash - out->ptr);
				out->ptr[out->size] = '\0';
			}
			continue;
		}
		tier_buf_printf(out, "/%s", c);
	}
	free(s);
	if (out->size == 0)
		tier_buf_puts(out, "/");
	return out->ptr ? 0 : TIER_ERROR;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* inner lies inside (or is) outer */
static int path_within(const char *outer, const char *inner)
{
	size_t ol = strlen(outer);
	if (!strcmp(outer, "/"))
		return 1;
	return !strncmp(inner, outer, ol) && (inner[ol] == '/' || !inner[ol]);
}

int tier_push_path_set(tier_vec *out, const char *const *paths, size_t n)
{
	tier_vec all = TIER_VEC_INIT;
	int rc = 0;
	*out = (tier_vec)TIER_VEC_INIT;
	for (size_t i = 0; i < n; i++) {
		tier_buf b = TIER_BUF_INIT;
		if ((rc = tier_push_abs_path(&b, paths[i])) < 0 ||
		    (rc = tier_vec_push(&all, tier_buf_detach(&b))) < 0) {
			tier_buf_dispose(&b);
			goto fail;
		}
	}
	/* sorted, "/a" comes before "/a/b" (and before "/a-b", harmlessly) */
	tier_vec_sort(&all, cmp_str);
	for (size_t i = 0; i < all.length; i++) {
		char *path = all.ptr[i];
		int inside = 0;
		/* against every kept one: "/a-b" sorts between "/a" and "/a/b" */
		for (size_t j = 0; j < out->length && !inside; j++)
			inside = path_within(out->ptr[j], path);
		if (inside) {
			free(path);
			all.ptr[i] = NULL;
			continue;
		}
		if ((rc = tier_vec_push(out, path)) < 0)
			goto fail;
		all.ptr[i] = NULL;
	}
	tier_vec_dispose(&all, free);
	return 0;
fail:
	tier_vec_dispose(&all, free);
	tier_vec_dispose(out, free);
	return rc;
}

int tier_push_path_trailers(tier_buf *out, const tier_vec *set,
                            const tier_keys *keys)
{
	tier_buf_clear(out);
	for (size_t i = 0; i < set->length; i++) {
		const char *p = set->ptr[i];
		tier_buf_puts(out, TIER_TRAILER_PATH ": ");
		if (keys ? tier_trailer_seal(out, keys, TIER_TRAILER_PATH, p,
		                             strlen(p)) < 0
		         : tier_quote_path(out, p, strlen(p)) < 0)
			return TIER_ERROR;
		tier_buf_putc(out, '\n');
	}
	return out->ptr || !set->length ? 0 : TIER_ERROR;
}

void tier_push_host(char *host, size_t cap)
{
	/* the same as vault.c's who(): what Tier-Host says of this machine */
	if (gethostname(host, cap) != 0)
		snprintf(host, cap, "unknown");
	host[cap - 1] = '\0';
}

/*
 * The Tier-Path trailers of a message as git parses them (values trimmed),
 * one "Tier-Path: value\n" each; the other two trailers a base needs into
 * op and host.
 */
static void parse_trailers(tier_buf *paths, int *op_push, const char *host,
                           int *same_host, const char *msg)
{
	git_message_trailer_array tr = {0};
	tier_buf_clear(paths);
	if (git_message_trailers(&tr, msg) < 0)
		return;
	for (size_t i = 0; i < tr.count; i++) {
		const char *k = tr.trailers[i].key, *v = tr.trailers[i].value;
		if (!strcmp(k, TIER_TRAILER_OP))
			*op_push = !strcmp(v, "push");
		else if (!strcmp(k, TIER_TRAILER_HOST))
			*same_host = host && !strcmp(v, host);
		else if (!strcmp(k, TIER_TRAILER_PATH))
			tier_buf_printf(paths, "%s: %s\n", TIER_TRAILER_PATH,
			                v);
	}
	git_message_trailer_array_free(&tr);
}

/* Whether commit `id` is a push from `host` of exactly the path set. */
static int is_base(int *match, git_oid *next, int *has_next,
                   git_repository *repo, const git_oid *id, const char *host,
                   const char *want)
{
	git_commit *c = NULL;
	tier_buf paths = TIER_BUF_INIT;
	char hex[GIT_OID_HEXSZ + 1];
	int rc, op_push = 0, same_host = 0;

	*match = 0;
	*has_next = 0;
	git_oid_tostr(hex, sizeof(hex), id);
	/* the log came from a tier: a commit is small, or it is damage */
	if ((rc = tier_object_check(NULL, repo, id, GIT_OBJECT_COMMIT,
	                            TIER_MAX_SMALL_OBJECT, "log commit")) < 0)
		return rc;
	if ((rc = git_commit_lookup(&c, repo, id)) < 0)
		return tier_error_from_git(rc, "cannot read log commit %s",
		                           hex);
	if (git_commit_parentcount(c) > 0) {
		git_oid_cpy(next, git_commit_parent_id(c, 0));
		*has_next = 1;
	}
	parse_trailers(&paths, &op_push, host, &same_host,
	               git_commit_message(c));
	*match = op_push && same_host && paths.size &&
	         !strcmp(tier_buf_cstr(&paths), want);
	tier_buf_dispose(&paths);
	git_commit_free(c);
	return 0;
}

int tier_push_find_base(git_oid *out, int *found, git_repository *repo,
                        const git_oid *head, const char *host,
                        const char *trailers)
{
	git_oid id, next;
	int has = head != NULL, rc = 0, op = 0, same = 0;
	tier_buf want = TIER_BUF_INIT, msg = TIER_BUF_INIT;
	/* a forgotten push is never a base: a prune may have freed the
	 * chunks of the nodes it would lend (forgets sit above what they
	 * name, so the walk down meets them first) */
	tier_forgotten *gone = tier_forgotten_new();
	*found = 0;
	if (!gone)
		return TIER_ERROR;
	/* compare what git reads back, on both sides (it trims values) */
	tier_buf_printf(&msg, "push\n\n%s", trailers);
	parse_trailers(&want, &op, NULL, &same, tier_buf_cstr(&msg));
	tier_buf_dispose(&msg);
	if (has)
		git_oid_cpy(&id, head);
	while (has && want.size) {
		tier_commit_info ci;
		int match = 0;
		if ((rc = is_base(&match, &next, &has, repo, &id, host,
		                  tier_buf_cstr(&want))) < 0)
			break;
		if (tier_commit_info_read(&ci, repo, &id) < 0) {
			tier_error_clear(); /* no trailers: no forget either */
			memset(&ci, 0, sizeof(ci));
		}
		if (!strcmp(ci.op, "forget") &&
		    (rc = tier_forgotten_note(gone, repo, &id, ci.revision)) <
		            0)
			break;
		if (match && !tier_forgotten_by(gone, ci.revision)) {
			git_oid_cpy(out, &id);
			*found = 1;
			break;
		}
		git_oid_cpy(&id, &next);
	}
	tier_forgotten_free(gone);
	tier_buf_dispose(&want);
	return rc;
}
