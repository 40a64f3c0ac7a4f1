/*
 * tier_snap_tree_check on a raw git tree object a tier could hold (libgit2
 * parses it; names with '/', duplicates, '%' not a blob ...).  The objects
 * live in an in-memory object database (mempack): nothing touches disk.
 * A tree the check passes has only names that decode, and none twice.
 */
#include "fuzz.h"

#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/repository.h>

#include "snapshot.h"
#include "util/error.h"

static git_repository *repo;
static git_odb *odb;
static git_odb_backend *mempack;

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	git_libgit2_init();
	/* a tree with a '/' in a name must reach our check, as from a tier */
	git_libgit2_opts(GIT_OPT_ENABLE_STRICT_OBJECT_CREATION, 0);
	/* no object cache: every input's tree is gone when the run ends
	 * (else memory grows towards the cache's 256 MiB over a long run) */
	git_libgit2_opts(GIT_OPT_ENABLE_CACHING, 0);
	if (git_mempack_new(&mempack) < 0 || git_odb_new(&odb) < 0 ||
	    git_odb_add_backend(odb, mempack, 1) < 0 ||
	    git_repository_wrap_odb(&repo, odb) < 0) {
		fprintf(stderr, "fuzz_tree: cannot set up libgit2\n");
		abort();
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	git_oid id;
	git_tree *tree = NULL;
	tier_buf dec = TIER_BUF_INIT;
	int rc;

	if (!repo)
		LLVMFuzzerInitialize(NULL, NULL);
	if (git_odb_write(&id, odb, data, size, GIT_OBJECT_TREE) < 0)
		goto out;
	if (git_tree_lookup(&tree, repo, &id) < 0)
		goto out; /* libgit2 refuses it: never reaches our code */
	rc = tier_snap_tree_check(tree, NULL);
	FUZZ_CHECK(rc == 0 || rc == TIER_ECORRUPT || rc == TIER_ERROR);
	if (rc == 0) {
		size_t n = git_tree_entrycount(tree);
		const char **names = calloc(n ? n : 1, sizeof(*names));
		if (!names)
			abort();
		for (size_t i = 0; i < n; i++) {
			const git_tree_entry *e =
			        git_tree_entry_byindex(tree, i);
			names[i] = git_tree_entry_name(e);
			if (!strcmp(names[i], TIER_SNAP_DIRMETA))
				FUZZ_CHECK(git_tree_entry_type(e) ==
				           GIT_OBJECT_BLOB);
			else
				FUZZ_CHECK(tier_snap_name_decode(
				                   &dec, NULL, names[i]) == 0);
		}
		/* entries are in the object's order, not sorted */
		qsort(names, n, sizeof(*names), cmp_str);
		for (size_t i = 1; i < n; i++)
			FUZZ_CHECK(strcmp(names[i - 1], names[i]) != 0);
		free(names);
	}
out:
	git_tree_free(tree);
	tier_buf_dispose(&dec);
	git_mempack_reset(mempack);
	git_error_clear();
	tier_error_clear();
	return 0;
}
