/* tier_vault_revision_paths: the source paths a revision records. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "helpers.h"
#include "tier/vault.h"
#include "vault.h"
#include "write.h"

static const char *dir;
static char tier_a[4200], state[4200];

static void setup(void)
{
	dir = tt_tmpdir();
	cr_assert_not_null(dir);
	snprintf(tier_a, sizeof(tier_a), "a=file://%s/a", dir);
	snprintf(state, sizeof(state), "%s/state", dir);
}

static void teardown(void)
{
	tt_rmrf(dir);
}

TestSuite(log_paths, .init = setup, .fini = teardown);

/* A revision committed with these extra trailers; returns its commit. */
static void commit_with(tier_vault *v, const char *trailers, char hex[41])
{
	tier_write *w = NULL;
	tier_write_result *r = NULL;
	cr_assert_eq(tier_write_begin(&w, v, "push"), 0, "%s",
	             tier_error_last());
	cr_assert_eq(tier_write_commit(w, NULL, "push: test", trailers, &r), 0,
	             "%s", tier_error_last());
	memcpy(hex, r->commit, 41);
	tier_write_result_free(r);
	tier_write_free(w);
}

Test(log_paths, every_tier_path_trailer_in_order_quoted_ones_decoded)
{
	const char *tiers[] = {tier_a};
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	tier_vault *v = NULL;
	char hex[41], **paths = NULL;
	size_t n = 99;

	o.state_dir = state;
	o.tiers = tiers;
	o.ntiers = 1;
	cr_assert_eq(tier_vault_init(&v, &o), 0, "%s", tier_error_last());
	commit_with(v,
	            "Tier-Path: /home/u/doc\n"
	            "Tier-Path: \"/tmp/a\\nb\\377\\033c\"\n"
	            "Tier-Path: /srv/with space\n",
	            hex);

	cr_assert_eq(tier_vault_revision_paths(&paths, &n, v, hex), 0, "%s",
	             tier_error_last());
	cr_assert_eq(n, 3);
	cr_assert_str_eq(paths[0], "/home/u/doc");
	cr_assert_str_eq(paths[1], "/tmp/a\nb\377\033c");
	cr_assert_str_eq(paths[2], "/srv/with space");
	cr_assert_null(paths[3]);
	tier_strings_free(paths);

	/* revision 1 (init) records none: an empty list, not an error */
	tier_log_entry *e = NULL;
	size_t ne = 0;
	cr_assert_eq(tier_vault_log(&e, &ne, v, 0), 0);
	cr_assert_eq(ne, 2);
	cr_assert_eq(e[1].revision, 1);
	cr_assert_eq(tier_vault_revision_paths(&paths, &n, v, e[1].commit), 0);
	cr_assert_eq(n, 0);
	cr_assert_null(paths[0]);
	tier_strings_free(paths);
	free(e);

	cr_assert_eq(tier_vault_revision_paths(&paths, &n, v, "nonsense"),
	             TIER_EUSAGE);
	cr_assert_null(paths);
	tier_strings_free(NULL);
	tier_vault_free(v);
}
