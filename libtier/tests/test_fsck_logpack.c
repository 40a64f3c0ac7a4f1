/* fsck of the log packs on a tier (fsck_logpack.c): a truncated or garbled
 * log pack found though the cache is sound, repaired from another tier or
 * rebuilt from the local log cache; unpaired and unindexed packs. */
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

/* Name (relative to the tier) of the largest log pack on a tier. */
static const char *big_log_pack(const char *tier)
{
	static char rel[256];
	char *out = NULL;
	size_t len = 0;
	tt_sh("cd %s/%s && ls -S log.git/objects/pack/*.pack | head -n 1 > %s/lpack.txt",
	      dir, tier, dir);
	out = tt_read_file(tt_path("%s/lpack.txt", dir), &len);
	cr_assert(out && len > 10, "no log pack on tier %s", tier);
	out[strcspn(out, "\n")] = '\0';
	snprintf(rel, sizeof(rel), "%s", out);
	free(out);
	return rel;
}

Test(fsck, a_truncated_log_pack_on_the_tier_is_found_though_the_cache_is_sound)
{
	make_vault();
	const char *lp = big_log_pack("a");
	cr_assert_eq(tt_sh("test -f %s/b/%s", dir, lp), 0,
	             "b holds the same log pack");
	tt_sh("f=%s/a/%s; truncate -s $(( $(stat -c %%s $f) / 2 )) $f", dir,
	      lp);

	/* the installation reads its cache: only a look at the tier finds it */
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "log-pack-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_ERROR);
	cr_assert_str_eq(p->object, lp);
	cr_assert(strstr(p->message, "tier 'a'") &&
	                  strstr(p->message, "truncated"),
	          "%s", p->message);
	cr_assert_null(find(r, "log-pack-damaged", "b"));
	cr_assert_eq(r->errors, 1, "%s", all_messages(r));
	cr_assert_gt(r->log_packs_checked, 0);
	cr_assert_eq(r->log_packs_read, 0);
	tier_fsck_report_free(r);

	/* without the installation the log of a does not even read */
	r = fsck(0, 0, 0);
	cr_assert_not_null(find(r, "log-damaged", "a"), "%s", all_messages(r));
	cr_assert_not_null(find(r, "log-pack-damaged", "a"), "%s",
	                   all_messages(r));
	tier_fsck_report_free(r);

	r = fsck(1, 0, 1);
	p = find(r, "log-pack-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	cr_assert(strstr(p->message, "repaired from tier 'b'"), "%s",
	          p->message);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);

	cr_assert_eq(tt_sh("cmp -s %s/a/%s %s/b/%s", dir, lp, dir, lp), 0,
	             "same bytes again");
	r = fsck(0, 1, 0);
	cr_assert_eq(r->nproblems, 0, "clean after repair: %s",
	             all_messages(r));
	cr_assert_gt(r->log_packs_read, 0);
	tier_fsck_report_free(r);
	git_fsck_clean("a");
}

Test(fsck, without_the_installation_repair_makes_a_log_readable_again)
{
	make_vault();
	const char *lp = big_log_pack("a");
	tt_sh("f=%s/a/%s; truncate -s $(( $(stat -c %%s $f) / 2 )) $f", dir,
	      lp);
	tier_fsck_report *r = fsck(0, 0, 1);
	const tier_fsck_problem *p = find(r, "log-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", all_messages(r));
	cr_assert(strstr(p->message, "reads again"), "%s", p->message);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	cr_assert_eq(r->tiers_checked, 2, "a checked in full once it reads: %s",
	             all_messages(r));
	tier_fsck_report_free(r);
	r = fsck(0, 0, 0);
	cr_assert_eq(r->nproblems, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);
	git_fsck_clean("a");
}

Test(fsck, a_garbled_log_pack_is_found_by_read_data_and_rebuilt_from_the_cache)
{
	make_vault();
	const char *lp = big_log_pack("a");
	tt_sh("f=%s/a/%s; printf 'XXXX' | dd of=$f bs=1 seek=$(( $(stat -c %%s $f) / 2 )) "
	      "conv=notrunc 2>/dev/null",
	      dir, lp);
	cr_assert_neq(tt_sh("cmp -s %s/a/%s %s/b/%s", dir, lp, dir, lp), 0);

	tier_fsck_report *r = fsck(1, 0, 0);
	cr_assert_eq(r->errors, 0, "size and checksum field are right: %s",
	             all_messages(r));
	tier_fsck_report_free(r);

	r = fsck(1, 1, 0);
	const tier_fsck_problem *p = find(r, "log-pack-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_str_eq(p->object, lp);
	cr_assert_eq(r->errors, 1, "%s", all_messages(r));
	tier_fsck_report_free(r);

	/* b away: no tier holds the same pack, the cache rebuilds the history */
	tt_write_file(ctl, "offline\n", 8);
	r = fsck(1, 1, 1);
	p = find(r, "log-pack-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	cr_assert(strstr(p->message, "local log cache"), "%s", p->message);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);
	tt_write_file(ctl, "", 0);
	cr_assert_neq(tt_sh("test -f %s/a/%s", dir, lp), 0,
	              "the damaged pack is gone");

	r = fsck(1, 1, 0);
	cr_assert_eq(r->nproblems, 0, "clean after repair: %s",
	             all_messages(r));
	tier_fsck_report_free(r);
	r = fsck(0, 1, 0);
	cr_assert_eq(r->nproblems, 0, "clean from the tiers alone: %s",
	             all_messages(r));
	tier_fsck_report_free(r);
	git_fsck_clean("a");
}

Test(fsck,
     an_idx_without_its_pack_is_unpaired_and_a_pack_without_idx_is_worth_knowing)
{
	make_vault();
	const char *lp = big_log_pack("a");
	char base[256];
	snprintf(base, sizeof(base), "%.*s", (int)(strlen(lp) - 5), lp);
	tt_sh("rm %s/a/%s.pack", dir, base);
	tt_sh("cp %s/b/%s.pack %s/a/log.git/objects/pack/pack-0000000000000000000000000000000000000000.pack",
	      dir, base, dir);
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "log-pack-unpaired", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_ERROR);
	/* a pack whose name is not its checksum is damaged, wherever it came from */
	cr_assert_not_null(find(r, "log-pack-damaged", "a"), "%s",
	                   all_messages(r));
	tier_fsck_report_free(r);
	tt_sh("rm %s/a/log.git/objects/pack/pack-0000000000000000000000000000000000000000.pack",
	      dir);

	r = fsck(1, 0, 1);
	p = find(r, "log-pack-unpaired", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	tier_fsck_report_free(r);
	cr_assert_eq(
	        tt_sh("cmp -s %s/a/%s.pack %s/b/%s.pack", dir, base, dir, base),
	        0);

	/* an interrupted upload leaves a pack without its idx: info only */
	tt_sh("rm %s/a/%s.idx", dir, base);
	r = fsck(1, 0, 0);
	p = find(r, "log-pack-unindexed", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_INFO);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);
}
