/*
 * Restore, the walk over an untrusted snapshot (restore_plan.c): hostile
 * names never leave DEST, objects over the format's bounds are not read.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "helpers_restore.h"

TestSuite(restore, .init = restore_setup, .fini = restore_teardown);

/* ---- hostile tiers: trees crafted in the tiers' logs -------------------- */

/* src's tree with extra entries (each a raw tree of bad entries). */
struct extra {
	const char *name;
	struct rawent *ents;
	size_t n;
};

struct extras {
	struct extra *x;
	size_t n;
};

static git_oid add_extras(git_repository *repo, const git_tree *srct,
                          void *payload)
{
	struct extras *xs = payload;
	git_treebuilder *tb = NULL;
	git_oid id_out;
	cr_assert_eq(git_treebuilder_new(&tb, repo, srct), 0);
	for (size_t i = 0; i < xs->n; i++) {
		git_oid t = raw_tree(repo, xs->x[i].ents, xs->x[i].n);
		cr_assert_eq(git_treebuilder_insert(NULL, tb, xs->x[i].name, &t,
		                                    GIT_FILEMODE_TREE),
		             0);
	}
	cr_assert_eq(git_treebuilder_write(&id_out, tb), 0);
	git_treebuilder_free(tb);
	return id_out;
}

/*
 * Fill the entries of the hostile directories with objects of one tier's
 * repository: a.txt's honest node (its content is in the packs), symlinks
 * to the canary, a directory node of mode 4777.
 */
struct hostile {
	const char *escape_name, *canary, *canary_file;
	struct rawent esc[2], lnk[3], dup[3], sl[3];
};

static git_oid add_hostile(git_repository *repo, const git_tree *srct,
                           void *payload)
{
	struct hostile *h = payload;
	git_oid a_node = entry_at(srct, "a.txt");
	git_oid link_out = node_blob(repo, TIER_NODE_SYMLINK, 0777, h->canary);
	git_oid link_file =
	        node_blob(repo, TIER_NODE_SYMLINK, 0777, h->canary_file);
	git_oid suid_dir = node_blob(repo, TIER_NODE_DIR, 04777, NULL);

	/* escape/: "../../.../canary/escaped.txt" and a good file */
	h->esc[0] = (struct rawent){0100644, h->escape_name, a_node};
	h->esc[1] = (struct rawent){0100644, "ok.txt", a_node};
	/* linkdir/: l -> the canary directory, then a directory l holding evil */
	struct rawent inner[1] = {{0100644, "evil", a_node}};
	git_oid evil_dir = raw_tree(repo, inner, 1);
	h->lnk[0] = (struct rawent){0100644, "l", link_out};
	h->lnk[1] = (struct rawent){040000, "l", evil_dir};
	h->lnk[2] = (struct rawent){0100644, "ok.txt", a_node};
	/* dupdir/: a directory d (mode 4777) and a symlink d -> the canary
	 * file: the chmod of d at the end must not reach the file */
	struct rawent dinner[2] = {{0100644, "%", suid_dir},
	                           {0100644, "x", a_node}};
	git_oid d_dir = raw_tree(repo, dinner, 2);
	h->dup[0] = (struct rawent){040000, "d", d_dir};
	h->dup[1] = (struct rawent){0100644, "d", link_file};
	h->dup[2] = (struct rawent){0100644, "ok.txt", a_node};

	/* slashdir/: a symlink l -> the canary, then an entry 'l/evil' */
	h->sl[0] = (struct rawent){0100644, "l", link_out};
	h->sl[1] = (struct rawent){0100644, "l/evil", a_node};
	h->sl[2] = (struct rawent){0100644, "ok.txt", a_node};

	struct extra x[4] = {{"escape", h->esc, 2},
	                     {"linkdir", h->lnk, 3},
	                     {"dupdir", h->dup, 3},
	                     {"slashdir", h->sl, 3}};
	struct extras xs = {x, 4};
	return add_extras(repo, srct, &xs);
}

Test(restore, hostile_names_never_leave_dest)
{
	char canary[4200], canary_file[4200], up[2000] = "", esc[2100];
	char *comps[16];

	make_small_tree();
	snprintf(canary, sizeof(canary), "%s/canary", dir);
	snprintf(canary_file, sizeof(canary_file), "%s/canary/secret", dir);
	cr_assert_eq(mkdir(canary, 0755), 0);
	put_file(canary_file, "root's secret\n", 0600, 1500000000);
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);

	/* from DEST/<src>/escape: one ".." per component back to DEST, one
	 * more to DEST's parent, where the canary is */
	size_t n = src_comps(comps);
	for (size_t i = 0; i < n + 2; i++)
		strcat(up, "../");
	snprintf(esc, sizeof(esc), "%scanary/escaped.txt", up);
	struct hostile h = {esc,   canary, canary_file, {{0}},
	                    {{0}}, {{0}},  {{0}}};
	craft(add_hostile, &h);

	char *before = snapshot_of(canary);
	v = open_tiers_only();
	for (int overwrite = 0; overwrite < 2; overwrite++) {
		tier_restore_stats st;
		int rc = restore(v, &st, 0, out, NULL, 0, overwrite);
		cr_assert_eq(rc, TIER_ECORRUPT, "rc %d: %s", rc,
		             tier_error_last());
		cr_assert_eq(st.errors, 4, "errors %llu: %s",
		             (unsigned long long)st.errors, warnings);
		cr_assert(strstr(warnings, "/escape' not restored: bad tree "
		                           "entry name '../"),
		          "warnings: %s", warnings);
		cr_assert(strstr(warnings, "/linkdir' not restored: duplicate "
		                           "tree entry 'l'"),
		          "warnings: %s", warnings);
		cr_assert(strstr(warnings, "/dupdir' not restored: duplicate "
		                           "tree entry 'd'"),
		          "warnings: %s", warnings);
		cr_assert(strstr(warnings, "/slashdir' not restored: bad tree "
		                           "entry name 'l/evil': holds a '/'"),
		          "warnings: %s", warnings);
		cr_assert_eq(nwarnings, 4, "one line each: %s", warnings);
		if (getenv("TT_SHOW"))
			fprintf(stderr, "%s", warnings);
		/* the rest of the revision, byte for byte */
		compare(src, restored(out, NULL));
		cr_assert(no_temp_files(out));
	}
	/* beside DEST: nothing written, nothing changed */
	char *after = snapshot_of(canary);
	cr_assert_str_eq(before, after);
	cr_assert(!exists(tt_path("%s/escaped.txt", canary)));
	cr_assert(!exists(tt_path("%s/evil", canary)));
	cr_assert(!exists(tt_path("%s/escaped.txt", dir)));
	struct stat s;
	cr_assert_eq(stat(canary_file, &s), 0);
	cr_assert_eq(s.st_mode & 07777, 0600, "canary mode %o",
	             s.st_mode & 07777);
	free(before);
	free(after);
	tier_vault_free(v);
}

/* ---- objects over the format's bounds -------------------------------- */

static git_oid add_huge(git_repository *repo, const git_tree *srct,
                        void *payload)
{
	(void)payload;
	/* a node blob of 64 MiB + 1 (zeros after the header: a tiny pack) */
	size_t len = (64u << 20) + 1;
	char *big = calloc(1, len);
	memcpy(big, "tier-node 1\ntype file\n", 22);
	git_oid huge = blob_of(repo, big, len);
	free(big);
	git_treebuilder *tb = NULL;
	git_oid id_out;
	cr_assert_eq(git_treebuilder_new(&tb, repo, srct), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, "huge", &huge,
	                                    GIT_FILEMODE_BLOB),
	             0);
	cr_assert_eq(git_treebuilder_write(&id_out, tb), 0);
	git_treebuilder_free(tb);
	return id_out;
}

Test(restore, node_blob_over_the_bound_is_not_read)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);
	craft(add_huge, NULL);

	/* memory: the restore in a child, its peak resident size measured */
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		tier_vault *cv = open_tiers_only();
		tier_restore_stats cst;
		char o2[4300];
		snprintf(o2, sizeof(o2), "%s/out-child", dir);
		int crc = restore(cv, &cst, 0, o2, NULL, 0, 0);
		tier_vault_free(cv);
		_exit(crc == TIER_ECORRUPT ? 0 : 1);
	}
	int status = 0;
	struct rusage ru;
	cr_assert_eq(wait4(pid, &status, 0, &ru), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (getenv("TT_SHOW"))
		fprintf(stderr, "peak rss %ld KiB\n", ru.ru_maxrss);
#ifndef __SANITIZE_ADDRESS__ /* its shadow memory is counted too */
	/* 8 MiB measured; reading the blob would take 64 MiB */
	cr_assert_lt(ru.ru_maxrss, 40 * 1024, "peak rss %ld KiB", ru.ru_maxrss);
#endif

	v = open_tiers_only();
	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECORRUPT, "rc %d: %s", rc, tier_error_last());
	cr_assert_eq(st.errors, 1, "%s", warnings);
	cr_assert(strstr(warnings, "the metadata of '") &&
	                  strstr(warnings, "/huge' (object ") &&
	                  strstr(warnings, " is 67108865 bytes, over the "
	                                   "format's limit of 67108864"),
	          "%s", warnings);
	compare(src, restored(out, NULL));
	tier_vault_free(v);
}
