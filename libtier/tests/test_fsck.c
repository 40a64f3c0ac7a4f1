/* fsck, the run (fsck.c): a clean vault passes with and without --read-data;
 * the problem callback sees each problem and can stop the run; the options
 * version is checked. */
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

Test(fsck, a_clean_vault_passes_with_and_without_read_data)
{
	make_vault();
	tier_fsck_report *r = fsck(1, 0, 0);
	cr_assert_eq(r->nproblems, 0, "%s", all_messages(r));
	cr_assert_eq(r->errors, 0);
	cr_assert_eq(r->tiers_checked, 2);
	cr_assert_geq(r->packs_checked, 4, "two packs at least on each tier");
	cr_assert_eq(r->packs_read, 0);
	cr_assert_gt(r->chunks_checked, 0);
	tier_fsck_report_free(r);

	r = fsck(0, 1, 0);
	cr_assert_eq(r->nproblems, 0, "%s", all_messages(r));
	cr_assert_eq(r->packs_read, r->packs_checked,
	             "every pack downloaded and verified");
	cr_assert_gt(r->bytes_read, 400000);
	tier_fsck_report_free(r);
}

static int calls;

static int stop_at_first(const tier_fsck_problem *p, void *payload)
{
	(void)p;
	(void)payload;
	calls++;
	return 1;
}

Test(fsck, a_callback_sees_each_problem_and_can_stop)
{
	make_vault();
	const char *pack = big_pack("a");
	tt_sh("rm %s/a/%s && rm %s/b/%s", dir, pack, dir, pack);
	tier_vault *v = open_vault(1);
	tier_fsck_options fo = TIER_FSCK_OPTIONS_INIT;
	fo.problem = stop_at_first;
	tier_fsck_report *r = NULL;
	cr_assert_eq(tier_fsck_run(&r, v, &fo), TIER_EABORTED);
	cr_assert_eq(calls, 1);
	cr_assert_not_null(r, "what was found so far");
	cr_assert_eq(r->errors, 1);
	tier_fsck_report_free(r);
	fo.version = 99;
	cr_assert_eq(tier_fsck_run(&r, v, &fo), TIER_EUSAGE);
	cr_assert_null(r);
	tier_vault_free(v);
}
