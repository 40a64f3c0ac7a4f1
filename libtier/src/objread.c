#include "objread.h"

#include "util/error.h"

int tier_object_check(size_t *size, git_repository *repo, const git_oid *id,
                      git_object_t type, size_t max, const char *what)
{
	git_odb *odb = NULL;
	git_object_t got;
	size_t len = 0;
	char hex[GIT_OID_HEXSZ + 1];
	int rc;

	git_oid_tostr(hex, sizeof(hex), id);
	if ((rc = git_repository_odb(&odb, repo)) < 0)
		return tier_error_from_git(rc, "cannot open the log's objects");
	rc = git_odb_read_header(&len, &got, odb, id);
	git_odb_free(odb);
	if (rc < 0)
		return tier_error_from_git(rc, "cannot read %s (object %s)",
		                           what ? what : "an object", hex);
	if (type != GIT_OBJECT_ANY && got != type)
		return tier_error_set(TIER_ECORRUPT,
		                      "%s (object %s) is a %s, not a %s",
		                      what ? what : "an object", hex,
		                      git_object_type2string(got),
		                      git_object_type2string(type));
	if (len > max)
		return tier_error_set(TIER_ECORRUPT,
		                      "%s (object %s) is %zu bytes, over the "
		                      "format's limit of %zu",
		                      what ? what : "an object", hex, len, max);
	if (size)
		*size = len;
	return 0;
}

int tier_blob_lookup_bounded(git_blob **out, git_repository *repo,
                             const git_oid *id, size_t max, const char *what)
{
	int rc;

	*out = NULL;
	if ((rc = tier_object_check(NULL, repo, id, GIT_OBJECT_BLOB, max,
	                            what)) < 0)
		return rc;
	if ((rc = git_blob_lookup(out, repo, id)) < 0)
		return tier_error_from_git(rc, "cannot read %s",
		                           what ? what : "a blob");
	return 0;
}

int tier_tree_lookup_bounded(git_tree **out, git_repository *repo,
                             const git_oid *id, const char *what)
{
	int rc;

	*out = NULL;
	if ((rc = tier_object_check(NULL, repo, id, GIT_OBJECT_TREE,
	                            TIER_MAX_TREE, what)) < 0)
		return rc;
	if ((rc = git_tree_lookup(out, repo, id)) < 0)
		return tier_error_from_git(rc, "cannot read %s",
		                           what ? what : "a tree");
	return 0;
}
