/* Push's excludes through the library (tier_push_options version 4):
 * what is left out, how it is counted, bad input, older structs. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "tier/push.h"
#include "tier/vault.h"

static const char *dir;
static char tier_a[4200], state[4200], src[4200];

static void setup(void)
{
	dir = tt_tmpdir();
	cr_assert_not_null(dir);
	snprintf(tier_a, sizeof(tier_a), "a=file://%s/a", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(src, sizeof(src), "%s/src", dir);
	tt_sh("mkdir -p %s/node_modules/p %s/cache %s/lib && cd %s && "
	      "printf js > node_modules/p/i.js && printf tmp > a.tmp && "
	      "printf 'Signature: 8a477f597d28d172789f06886806bc55\\n' > "
	      "cache/CACHEDIR.TAG && printf c > cache/c && "
	      "head -c 20000 /dev/zero > lib/big && printf keep > lib/keep",
	      src, src, src, src);
}

static void teardown(void)
{
	tt_rmrf(dir);
}

TestSuite(push_exclude, .init = setup, .fini = teardown);

static tier_vault *make_vault(void)
{
	const char *tiers[1] = {tier_a};
	tier_vault *v = NULL;
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.state_dir = state;
	o.tiers = tiers;
	o.ntiers = 1;
	o.location.retries = 2;
	o.location.retry_delay = 1;
	cr_assert_eq(tier_vault_init(&v, &o), 0, "init: %s", tier_error_last());
	return v;
}

static int run(tier_vault *v, tier_push_stats *st, tier_push_options *po,
               const char *path)
{
	const char *paths[1] = {path};
	tier_write_result *r = NULL;
	po->paths = paths;
	po->npaths = 1;
	int rc = tier_push_run(&r, st, v, po);
	tier_write_result_free(r);
	return rc;
}

/* Whether the newest snapshot holds a path ending in tail. */
static int in_snapshot(const char *tail)
{
	return tt_sh("git --git-dir=%s/a/log.git ls-tree -r --name-only main "
	             "| grep -q '%s$'",
	             dir, tail) == 0;
}

Test(push_exclude, patterns_tags_and_sizes_leave_entries_out)
{
	tier_vault *v = make_vault();
	tier_push_stats st;
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	const char *ex[] = {"node_modules/", "*.tmp"},
	           *tag[] = {"CACHEDIR.TAG"};
	po.exclude = ex;
	po.nexclude = 2;
	po.exclude_if_present = tag;
	po.nexclude_if_present = 1;
	po.exclude_larger_than = 10000;
	cr_assert_eq(run(v, &st, &po, src), 0, "%s", tier_error_last());
	cr_expect_eq(st.files, 1, "lib/keep alone");
	cr_expect_eq(st.excluded_files, 2, "a.tmp and lib/big");
	cr_expect_eq(st.excluded_bytes, 3 + 20000);
	cr_expect_eq(st.excluded_dirs, 2, "node_modules and cache");
	cr_expect(in_snapshot("lib/keep"));
	cr_expect(!in_snapshot("i.js"));
	cr_expect(!in_snapshot("a.tmp"));
	cr_expect(!in_snapshot("cache/c"));
	cr_expect(!in_snapshot("lib/big"));

	/* without the excludes the next push has them all again */
	tier_push_options all = TIER_PUSH_OPTIONS_INIT;
	cr_assert_eq(run(v, &st, &all, src), 0, "%s", tier_error_last());
	cr_expect_eq(st.excluded_files + st.excluded_dirs, 0);
	cr_expect(in_snapshot("a.tmp") && in_snapshot("lib/big") &&
	          in_snapshot("cache/c"));
	tier_vault_free(v);
}

Test(push_exclude, a_given_path_is_never_left_out)
{
	tier_vault *v = make_vault();
	tier_push_stats st;
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	const char *ex[] = {"*.tmp"};
	char file[4400];
	snprintf(file, sizeof(file), "%s/a.tmp", src);
	po.exclude = ex;
	po.nexclude = 1;
	po.exclude_larger_than = 1;
	cr_assert_eq(run(v, &st, &po, file), 0, "%s", tier_error_last());
	cr_expect_eq(st.files, 1);
	cr_expect_eq(st.excluded_files, 0);
	cr_expect(in_snapshot("a.tmp"));
	tier_vault_free(v);
}

Test(push_exclude, bad_excludes_write_nothing)
{
	tier_vault *v = make_vault();
	tier_push_stats st;
	char missing[4400];
	snprintf(missing, sizeof(missing), "%s/no-such-file", dir);
	const char *bad[] = {"[x"}, *files[] = {missing}, *tag[] = {"a/b"};
	uint64_t before = tier_vault_max_revision(v);

	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.exclude = bad;
	po.nexclude = 1;
	cr_expect_eq(run(v, &st, &po, src), TIER_EUSAGE);
	cr_expect(strstr(tier_error_last(), "'[x'") != NULL, "%s",
	          tier_error_last());

	po = (tier_push_options)TIER_PUSH_OPTIONS_INIT;
	po.exclude_files = files;
	po.nexclude_files = 1;
	cr_expect_eq(run(v, &st, &po, src), TIER_EUSAGE);
	cr_expect(strstr(tier_error_last(), "no-such-file") != NULL);

	po = (tier_push_options)TIER_PUSH_OPTIONS_INIT;
	po.exclude_if_present = tag;
	po.nexclude_if_present = 1;
	cr_expect_eq(run(v, &st, &po, src), TIER_EUSAGE);

	po = (tier_push_options)TIER_PUSH_OPTIONS_INIT;
	po.nexclude = 3; /* counted, not given */
	cr_expect_eq(run(v, &st, &po, src), TIER_EUSAGE);

	cr_expect_eq(tier_vault_max_revision(v), before);
	cr_expect_eq(tt_sh("test -z \"$(ls -A %s/a/data 2>/dev/null)\"", dir),
	             0, "no pack written");
	tier_vault_free(v);
}

Test(push_exclude, a_version_3_options_struct_is_still_taken)
{
	tier_vault *v = make_vault();
	tier_push_stats st;
	tier_push_options po = TIER_PUSH_OPTIONS_INIT;
	po.version = 3;
	/* past the end of a version 3 struct: must never be read */
	po.exclude = (const char *const *)1;
	po.nexclude = 99;
	po.one_file_system = 7;
	cr_assert_eq(run(v, &st, &po, src), 0, "%s", tier_error_last());
	cr_expect_eq(st.excluded_files + st.excluded_dirs, 0);
	cr_expect(in_snapshot("i.js"));
	tier_vault_free(v);
}
