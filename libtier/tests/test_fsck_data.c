/* fsck of the data packs (fsck_data.c): missing, truncated and corrupt packs
 * found with the right id (--read-data for the bytes), a log's copy of a
 * pack index that disagrees or is over the bound; repair copies from another
 * tier only a pack that agrees with the log. */
#include <criterion/criterion.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers_fsck.h"
#include "hash.h"
#include "helpers.h"
#include "log.h"
#include "pack.h"
#include "snapshot.h"
#include "tier/fsck.h"
#include "tier/push.h"
#include "tier/restore.h"
#include "tier/vault.h"
#include "util/buf.h"

TestSuite(fsck, .init = fsck_fixture_setup, .fini = fsck_fixture_teardown);

Test(fsck, a_deleted_pack_is_missing_on_that_tier_only)
{
	make_vault();
	const char *pack = big_pack("a");
	cr_assert_eq(tt_sh("rm %s/a/%s", dir, pack), 0);
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "pack-missing", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_ERROR);
	cr_assert_str_eq(p->object, pack);
	cr_assert(strstr(p->message, "tier 'a'") &&
	                  strstr(p->message, "missing"),
	          "%s", p->message);
	cr_assert_null(find(r, "pack-missing", "b"));
	cr_assert_eq(r->errors, 1, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 0);
	tier_fsck_report_free(r);
}

Test(fsck, flipped_bytes_are_found_only_by_read_data)
{
	make_vault();
	const char *pack = big_pack("a");
	cr_assert_eq(
	        tt_sh("printf 'XXXXXXXX' | dd of=%s/a/%s bs=1 seek=5000 conv=notrunc 2>/dev/null",
	              dir, pack),
	        0);
	tier_fsck_report *r = fsck(1, 0, 0);
	cr_assert_eq(r->errors, 0, "the size is right: %s", all_messages(r));
	tier_fsck_report_free(r);

	r = fsck(1, 1, 0);
	const tier_fsck_problem *p = find(r, "pack-corrupt", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert(strstr(p->message, "fails its hash") &&
	                  strstr(p->message, "chunk"),
	          "%s", p->message);
	cr_assert_null(find(r, "pack-corrupt", "b"));
	cr_assert_eq(r->errors, 1);
	tier_fsck_report_free(r);
}

Test(fsck, repair_copies_a_corrupt_pack_from_the_other_tier)
{
	make_vault();
	const char *pack = big_pack("a");
	tt_sh("printf 'XXXXXXXX' | dd of=%s/a/%s bs=1 seek=5000 conv=notrunc 2>/dev/null",
	      dir, pack);
	cr_assert_neq(tt_sh("cmp -s %s/a/%s %s/b/%s", dir, pack, dir, pack), 0);
	tier_fsck_report *r = fsck(1, 1, 1);
	const tier_fsck_problem *p = find(r, "pack-corrupt", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	cr_assert(strstr(p->message, "repaired from tier 'b'"), "%s",
	          p->message);
	cr_assert_eq(r->errors, 0);
	cr_assert_eq(r->repaired, 1);
	tier_fsck_report_free(r);

	cr_assert_eq(tt_sh("cmp -s %s/a/%s %s/b/%s", dir, pack, dir, pack), 0,
	             "same bytes again");
	cr_assert_eq(tt_sh("diff -r %s/a/data %s/b/data", dir, dir), 0);
	r = fsck(1, 1, 0);
	cr_assert_eq(r->nproblems, 0, "clean after repair: %s",
	             all_messages(r));
	tier_fsck_report_free(r);
	/* repair never touches a log head */
	cr_assert_eq(
	        tt_sh("cmp -s %s/a/log.git/refs/heads/main %s/b/log.git/refs/heads/main",
	              dir, dir),
	        0);
}

Test(fsck, a_truncated_pack_has_the_wrong_size_and_is_repaired)
{
	make_vault();
	const char *pack = big_pack("b");
	tt_sh("truncate -s 1000 %s/b/%s", dir, pack);
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "pack-size", "b");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert(strstr(p->message, "1000 bytes"), "%s", p->message);
	cr_assert_eq(r->errors, 1);
	tier_fsck_report_free(r);

	r = fsck(1, 0, 1);
	cr_assert_eq(r->repaired, 1, "%s", all_messages(r));
	cr_assert_eq(r->errors, 0);
	tier_fsck_report_free(r);
	cr_assert_eq(tt_sh("cmp -s %s/a/%s %s/b/%s", dir, pack, dir, pack), 0);
}

Test(fsck, damage_on_every_tier_cannot_be_repaired)
{
	make_vault();
	const char *pack = big_pack("a");
	tt_sh("rm %s/a/%s && truncate -s 64 %s/b/%s", dir, pack, dir, pack);
	tier_fsck_report *r = fsck(1, 1, 1);
	cr_assert_eq(r->repaired, 0, "%s", all_messages(r));
	cr_assert_eq(r->errors, 2, "%s", all_messages(r));
	const tier_fsck_problem *p = find(r, "pack-missing", "a");
	cr_assert_not_null(p);
	cr_assert(strstr(p->message, "cannot repair"), "%s", p->message);
	cr_assert_not_null(find(r, "pack-size", "b"));
	tier_fsck_report_free(r);
}

/* The log's copy of the largest pack's tail, with the ids of its first two
 * chunks swapped (and the index hash made right again): it parses, every
 * chunk is "in a pack", but restore reads each of the two at the other's
 * place. */
static void swap_index(git_oid *out, git_repository *repo, const git_tree *tree)
{
	git_tree *index = NULL, *best_fan = NULL;
	const git_tree_entry *ie = git_tree_entry_byname(tree, "index");
	git_oid best, nb, nfan, nindex;
	size_t best_len = 0;
	char best_name[80], fan_name[8];

	cr_assert_not_null(ie);
	cr_assert_eq(git_tree_lookup(&index, repo, git_tree_entry_id(ie)), 0);
	for (size_t i = 0; i < git_tree_entrycount(index); i++) {
		const git_tree_entry *fe = git_tree_entry_byindex(index, i);
		git_tree *fan = NULL;
		cr_assert_eq(git_tree_lookup(&fan, repo, git_tree_entry_id(fe)),
		             0);
		for (size_t k = 0; k < git_tree_entrycount(fan); k++) {
			const git_tree_entry *be =
			        git_tree_entry_byindex(fan, k);
			git_blob *b = NULL;
			cr_assert_eq(git_blob_lookup(&b, repo,
			                             git_tree_entry_id(be)),
			             0);
			if ((size_t)git_blob_rawsize(b) > best_len) {
				best_len = (size_t)git_blob_rawsize(b);
				git_oid_cpy(&best, git_tree_entry_id(be));
				snprintf(best_name, sizeof(best_name), "%s",
				         git_tree_entry_name(be));
				snprintf(fan_name, sizeof(fan_name), "%s",
				         git_tree_entry_name(fe));
			}
			git_blob_free(b);
		}
		git_tree_free(fan);
	}
	git_blob *b = NULL;
	cr_assert_eq(git_blob_lookup(&b, repo, &best), 0);
	unsigned char *t = malloc(best_len);
	memcpy(t, git_blob_rawcontent(b), best_len);
	git_blob_free(b);
	size_t count =
	        (best_len - TIER_PACK_TRAILER_SIZE) / TIER_PACK_ENTRY_SIZE;
	cr_assert_geq(count, 2, "the largest pack holds %zu chunks", count);
	unsigned char tmp[TIER_HASH_LEN];
	memcpy(tmp, t, TIER_HASH_LEN);
	memcpy(t, t + TIER_PACK_ENTRY_SIZE, TIER_HASH_LEN);
	memcpy(t + TIER_PACK_ENTRY_SIZE, tmp, TIER_HASH_LEN);
	/* trailer bytes 24..56: SHA-256 of the index and trailer bytes 0..24 */
	size_t ilen = best_len - TIER_PACK_TRAILER_SIZE;
	tier_sha256_ctx ctx = TIER_SHA256_CTX_INIT;
	cr_assert_eq(tier_sha256_init(&ctx), 0);
	cr_assert_eq(tier_sha256_update(&ctx, t, ilen + 24), 0);
	cr_assert_eq(tier_sha256_final(&ctx, t + ilen + 24), 0);
	tier_sha256_dispose(&ctx);
	blob_of(&nb, repo, t, best_len);
	free(t);

	git_treebuilder *tb = NULL;
	const git_tree_entry *fe = git_tree_entry_byname(index, fan_name);
	cr_assert_eq(git_tree_lookup(&best_fan, repo, git_tree_entry_id(fe)),
	             0);
	cr_assert_eq(git_treebuilder_new(&tb, repo, best_fan), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, best_name, &nb,
	                                    GIT_FILEMODE_BLOB),
	             0);
	cr_assert_eq(git_treebuilder_write(&nfan, tb), 0);
	git_treebuilder_free(tb);
	cr_assert_eq(git_treebuilder_new(&tb, repo, index), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, fan_name, &nfan,
	                                    GIT_FILEMODE_TREE),
	             0);
	cr_assert_eq(git_treebuilder_write(&nindex, tb), 0);
	git_treebuilder_free(tb);
	with_part(out, repo, tree, "index", &nindex);
	git_tree_free(best_fan);
	git_tree_free(index);
}

static void warning_sink(const char *msg, void *payload)
{
	(void)msg;
	(void)payload;
}

Test(fsck, a_pack_index_copy_that_disagrees_with_the_pack_is_damage)
{
	make_vault();
	forge_with("a", tier_a, 4, swap_index, "index forged");
	/* the same log on b: both tiers hold the same forged revision */
	cr_assert_eq(
	        tt_sh("cp %s/a/log.git/objects/pack/* %s/b/log.git/objects/pack/ && "
	              "cp %s/a/log.git/refs/heads/main %s/b/log.git/refs/heads/main",
	              dir, dir, dir, dir),
	        0);

	/* every chunk is in the map, every pack is sound on its own */
	tier_fsck_report *r = fsck(0, 0, 0);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);

	/* and yet restore cannot use it */
	tier_vault *v = open_vault(0);
	tier_restore_options ro = TIER_RESTORE_OPTIONS_INIT;
	tier_restore_stats st;
	memset(&st, 0, sizeof(st));
	ro.dest = tt_path("%s/out", dir);
	ro.warning = warning_sink;
	int rc = tier_restore_run(&st, v, &ro);
	cr_assert(rc < 0 || st.errors > 0, "restore of revision 4 worked");
	tier_vault_free(v);

	r = fsck(0, 1, 0);
	const tier_fsck_problem *p = find(r, "pack-index-mismatch", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_ERROR);
	cr_assert(strstr(p->message, "differs from the pack's own from byte 0"),
	          "%s", p->message);
	cr_assert_not_null(find(r, "pack-index-mismatch", "b"), "%s",
	                   all_messages(r));
	cr_assert_eq(r->errors, 2, "%s", all_messages(r));
	tier_fsck_report_free(r);

	/* no tier agrees with the log: repair says why and mends nothing */
	r = fsck(0, 1, 1);
	p = find(r, "pack-index-mismatch", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 0);
	cr_assert(strstr(p->message, "log's copy of its index that is wrong"),
	          "%s", p->message);
	cr_assert_eq(r->errors, 2);
	tier_fsck_report_free(r);
}

Test(fsck, repair_copies_only_from_a_tier_whose_pack_agrees_with_the_log)
{
	make_vault();
	forge_with("a", tier_a, 4, swap_index, "index forged");
	cr_assert_eq(
	        tt_sh("cp %s/a/log.git/objects/pack/* %s/b/log.git/objects/pack/ && "
	              "cp %s/a/log.git/refs/heads/main %s/b/log.git/refs/heads/main",
	              dir, dir, dir, dir),
	        0);
	const char *pack = big_pack("a");
	cr_assert_eq(tt_sh("rm %s/a/%s", dir, pack), 0);
	tier_fsck_report *r = fsck(0, 1, 1);
	const tier_fsck_problem *p = find(r, "pack-missing", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 0, "%s", p->message);
	cr_assert(strstr(p->message,
	                 "'b' has a copy that does not match the log either"),
	          "%s", p->message);
	tier_fsck_report_free(r);
	cr_assert_neq(tt_sh("test -f %s/a/%s", dir, pack), 0, "nothing copied");
}

/* index/ff/<64 x f>: a pack index copy of 65 MiB of zeros, over the
 * format's bound (it deflates to ~64 KiB). */
static void huge_index(git_oid *out, git_repository *repo, const git_tree *tree)
{
	const git_tree_entry *ie = git_tree_entry_byname(tree, "index");
	git_tree *index = NULL, *fan = NULL;
	git_treebuilder *tb = NULL;
	git_oid blob, nfan, nindex;
	char name[TIER_HASH_HEXLEN + 1];
	size_t len = (65u << 20);
	char *zeros = calloc(1, len);

	cr_assert_not_null(zeros);
	blob_of(&blob, repo, zeros, len);
	free(zeros);
	memset(name, 'f', TIER_HASH_HEXLEN);
	name[TIER_HASH_HEXLEN] = '\0';
	cr_assert_not_null(ie);
	cr_assert_eq(git_tree_lookup(&index, repo, git_tree_entry_id(ie)), 0);
	const git_tree_entry *fe = git_tree_entry_byname(index, "ff");
	if (fe)
		cr_assert_eq(git_tree_lookup(&fan, repo, git_tree_entry_id(fe)),
		             0);
	cr_assert_eq(git_treebuilder_new(&tb, repo, fan), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, name, &blob,
	                                    GIT_FILEMODE_BLOB),
	             0);
	cr_assert_eq(git_treebuilder_write(&nfan, tb), 0);
	git_treebuilder_free(tb);
	cr_assert_eq(git_treebuilder_new(&tb, repo, index), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, "ff", &nfan,
	                                    GIT_FILEMODE_TREE),
	             0);
	cr_assert_eq(git_treebuilder_write(&nindex, tb), 0);
	git_treebuilder_free(tb);
	with_part(out, repo, tree, "index", &nindex);
	git_tree_free(fan);
	git_tree_free(index);
}

Test(fsck, a_pack_index_copy_over_the_bound_is_damage_and_never_read)
{
	make_vault();
	forge_with("a", tier_a, 4, huge_index, "huge index");
	tier_fsck_report *r = fsck(0, 0, 0);
	const tier_fsck_problem *p = find(r, "object-too-large", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert(strstr(p->message, "68157440 bytes, over the format's limit"),
	          "%s", p->message);
	/* the chunk map (what restore loads) refuses it too */
	p = find(r, "index-corrupt", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert(strstr(p->message, "over the format's limit"), "%s",
	          p->message);
	tier_fsck_report_free(r);
}
