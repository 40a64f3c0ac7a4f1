/* fsck of what the probe says of each tier and of heads (fsck_head.c):
 * behind, offline, a foreign writer, tiers that disagree, a vanished tier
 * root; a garbled head written again, or rolled back when its revision is
 * lost. */
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

Test(fsck, a_tier_at_a_lower_revision_is_only_behind)
{
	make_vault();
	tier_vault *v = open_vault(1);
	tt_write_file(ctl, "offline\n", 8);
	tt_sh("head -c 50000 /dev/urandom > %s/third.bin", src);
	push(v); /* lands on a alone */
	tier_vault_free(v);
	tt_write_file(ctl, "", 0);

	tier_fsck_report *r = fsck(1, 1, 0);
	const tier_fsck_problem *p = find(r, "tier-behind", "b");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_WARNING);
	cr_assert(strstr(p->message, "revision 3 of 4"), "%s", p->message);
	cr_assert_eq(r->errors, 0, "behind is not damage: %s", all_messages(r));
	cr_assert_eq(r->warnings, 1, "%s", all_messages(r));
	tier_fsck_report_free(r);
}

Test(fsck, an_offline_tier_is_a_warning)
{
	make_vault();
	tt_write_file(ctl, "offline\n", 8);
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "tier-offline", "b");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->severity, TIER_FSCK_WARNING);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	cr_assert_eq(r->tiers_checked, 1);
	tier_fsck_report_free(r);
}

Test(fsck, with_the_installation_a_forged_head_is_a_foreign_writer)
{
	make_vault();
	forge("a", tier_a, 4, 0, "someone else");
	tier_fsck_report *r = fsck(1, 0, 0);
	cr_assert_not_null(find(r, "foreign-writer", "a"), "%s",
	                   all_messages(r));
	cr_assert_not_null(find(r, "tier-behind", "b"), "%s", all_messages(r));
	cr_assert_eq(r->errors, 0, "a foreign writer is not damage: %s",
	             all_messages(r));
	tier_fsck_report_free(r);
}

Test(fsck, tiers_at_the_same_revision_with_different_heads_disagree)
{
	make_vault();
	forge("a", tier_a, 4, 0, "one");
	forge("b", tier_b, 4, 0, "another");
	tier_fsck_report *r = fsck(0, 0, 0);
	const tier_fsck_problem *p = find(r, "tier-disagree", "b");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert(strstr(p->message, "tier 'a'"), "%s", p->message);
	cr_assert_eq(r->errors, 1, "%s", all_messages(r));
	tier_fsck_report_free(r);
}

static void garble_head(const char *tier)
{
	tt_sh("printf 'this is not a commit id\\n' > %s/%s/log.git/refs/heads/main",
	      dir, tier);
}

Test(fsck, a_garbled_head_is_written_again_from_the_installation)
{
	make_vault();
	garble_head("a");
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "log-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(r->errors, 1, "%s", all_messages(r));
	tier_fsck_report_free(r);

	/* the tiers alone do not know what the head was */
	r = fsck(0, 0, 1);
	p = find(r, "log-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 0);
	cr_assert(strstr(p->message, "-s DIR --repair"), "%s", p->message);
	tier_fsck_report_free(r);

	r = fsck(1, 0, 1);
	p = find(r, "log-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	cr_assert(strstr(p->message, "head written again"), "%s", p->message);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	cr_assert_eq(r->tiers_checked, 2, "%s", all_messages(r));
	tier_fsck_report_free(r);

	cr_assert_eq(
	        tt_sh("cmp -s %s/a/log.git/refs/heads/main %s/b/log.git/refs/heads/main",
	              dir, dir),
	        0, "the head it had");
	r = fsck(1, 1, 0);
	cr_assert_eq(r->nproblems, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);
	git_fsck_clean("a");
}

Test(fsck, a_garbled_head_whose_last_revision_is_lost_goes_back_and_says_so)
{
	make_vault();
	tier_vault *v = open_vault(1);
	tt_write_file(ctl, "offline\n", 8);
	tt_sh("head -c 50000 /dev/urandom > %s/third.bin", src);
	push(v); /* revision 4, on a alone */
	tier_vault_free(v);
	tt_write_file(ctl, "", 0);
	/* the log pack of revision 4 (the newest) goes, and the head is garbage */
	cr_assert_eq(
	        tt_sh("cd %s/a/log.git/objects/pack && n=$(ls -t *.idx | head -n 1) && "
	              "rm $n ${n%%.idx}.pack",
	              dir),
	        0);
	garble_head("a");

	tier_fsck_report *r = fsck(1, 0, 1);
	const tier_fsck_problem *p = find(r, "log-damaged", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(p->repaired, 1, "%s", p->message);
	cr_assert(strstr(p->message, "tier-sync --accept-rollback a"), "%s",
	          p->message);
	cr_assert_not_null(find(r, "rolled-back", "a"), "%s", all_messages(r));
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);
	cr_assert_eq(
	        tt_sh("cmp -s %s/a/log.git/refs/heads/main %s/b/log.git/refs/heads/main",
	              dir, dir),
	        0, "revision 3, the head b has");

	v = open_vault(1);
	const tier_info *in = tier_vault_tier_info(v, 0);
	cr_assert_eq(in->state, TIER_STATE_ROLLED_BACK, "%s",
	             in->problem ? in->problem : "");
	cr_assert_eq(in->revision, 3);
	cr_assert_eq(tier_vault_accept_rollback(v, "a"), 0, "%s",
	             tier_error_last());
	tier_vault_free(v);
	git_fsck_clean("a");
}

Test(fsck, a_vanished_tier_root_is_offline_and_counted)
{
	make_vault();
	cr_assert_eq(tt_sh("rm -rf %s/a", dir), 0);
	tier_fsck_report *r = fsck(1, 0, 0);
	const tier_fsck_problem *p = find(r, "tier-offline", "a");
	cr_assert_not_null(p, "%s", all_messages(r));
	cr_assert_eq(r->tiers_offline, 1, "%s", all_messages(r));
	cr_assert_eq(r->tiers_checked, 1);
	cr_assert_eq(r->errors, 0, "%s", all_messages(r));
	tier_fsck_report_free(r);

	/* and the fault tier away too: nothing was looked at */
	tt_write_file(ctl, "offline\n", 8);
	r = fsck(1, 0, 0);
	cr_assert_eq(r->tiers_offline, 2, "%s", all_messages(r));
	cr_assert_eq(r->tiers_checked, 0, "%s", all_messages(r));
	cr_assert_not_null(find(r, "tier-offline", "b"), "%s", all_messages(r));
	tier_fsck_report_free(r);
}
