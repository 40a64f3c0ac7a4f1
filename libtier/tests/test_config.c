/* The installation config layer (tier/config.h): the value syntaxes, the
 * key table, reads and writes through libgit2, mode 0600. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "tier/config.h"
#include "tier/errors.h"

static char dir[4096];

static void setup(void)
{
	const char *d = tt_tmpdir();
	cr_assert_not_null(d);
	strcpy(dir, d);
}

static void teardown(void)
{
	tt_rmrf(dir);
}

TestSuite(config, .init = setup, .fini = teardown);

Test(config, sizes)
{
	uint64_t v = 0;
	cr_assert_eq(tier_config_parse_size(&v, "10M"), 0);
	cr_assert_eq(v, 10u << 20);
	cr_assert_eq(tier_config_parse_size(&v, "512KiB"), 0);
	cr_assert_eq(v, 512u << 10);
	cr_assert_eq(tier_config_parse_size(&v, "1g"), 0);
	cr_assert_eq(v, 1u << 30);
	cr_assert_eq(tier_config_parse_size(&v, "77"), 0);
	cr_assert_eq(v, 77);
	const char *bad[] = {"", "M", "10Q", "-1", "1.5M", "99999999999999T"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_lt(tier_config_parse_size(&v, bad[i]), 0, "%s",
		             bad[i]);
}

Test(config, durations_and_spans)
{
	uint64_t v = 0;
	cr_assert_eq(tier_config_parse_duration(&v, "300"), 0);
	cr_assert_eq(v, 300);
	cr_assert_eq(tier_config_parse_duration(&v, "5m"), 0);
	cr_assert_eq(v, 300);
	cr_assert_eq(tier_config_parse_duration(&v, "1m30s"), 0);
	cr_assert_eq(v, 90);
	cr_assert_eq(tier_config_parse_duration(&v, "1500ms"), 0);
	cr_assert_eq(v, 2); /* rounded up */
	cr_assert_lt(tier_config_parse_duration(&v, "5x"), 0);
	cr_assert_lt(tier_config_parse_duration(&v, "m"), 0);
	cr_assert_eq(tier_config_parse_span(&v, "2y5m7d3h"), 0);
	cr_assert_eq(v, 2 * 365 * 86400ull + 5 * 30 * 86400ull + 7 * 86400 +
	                        3 * 3600);
	cr_assert_lt(tier_config_parse_span(&v, "10"), 0);
	cr_assert_lt(tier_config_parse_span(&v, "1w"), 0);
}

Test(config, key_table)
{
	cr_assert_not_null(tier_config_key_find("push.exclude"));
	cr_assert_not_null(tier_config_key_find("PUSH.EXCLUDE"));
	const tier_config_key *k =
	        tier_config_key_find("tier.fast.limitUpload");
	cr_assert_not_null(k);
	cr_assert_eq(k->type, TIER_CONFIG_RATE);
	cr_assert_null(tier_config_key_find("tier..limitUpload"));
	cr_assert_null(tier_config_key_find("push.frob"));
	cr_assert_null(tier_config_key_find("push"));
	cr_assert_not_null(tier_config_key_find("vault.id"));
	cr_assert_eq(tier_config_check("push.threads", "x"), TIER_EUSAGE);
	cr_assert(strstr(tier_error_last(), "push.threads"));
	cr_assert_eq(tier_config_check("prune.maxUnused", "5%"), 0);
	cr_assert_eq(tier_config_check("prune.maxUnused", "101"), TIER_EUSAGE);
	cr_assert_eq(tier_config_check("push.oneFileSystem", "yes"), 0);
	cr_assert_eq(tier_config_check("push.oneFileSystem", "maybe"),
	             TIER_EUSAGE);
}

static int collect(const char *value, void *payload)
{
	strcat(payload, value);
	strcat(payload, ";");
	return 0;
}

Test(config, write_read_private)
{
	umask(022);
	cr_assert_eq(tier_config_set(dir, "push.excludeLargerThan", "10M"), 0,
	             "%s", tier_error_last());
	cr_assert_eq(tier_config_add(dir, "push.exclude", "*.tmp"), 0);
	cr_assert_eq(tier_config_add(dir, "push.exclude", "cache/"), 0);
	cr_assert_eq(tier_config_set(dir, "push.oneFileSystem", "true"), 0);
	cr_assert_eq(tier_config_set(dir, "hooks.timeout", "2m"), 0);
	cr_assert_eq(tier_config_set(dir, "forget.keepDaily", "7"), 0);
	cr_assert_eq(tier_config_set(dir, "tier.nas.limitDownload", "1M"), 0);
	cr_assert_eq(tier_config_set(dir, "push.frob", "1"), TIER_EUSAGE);
	cr_assert_eq(tier_config_add(dir, "push.threads", "1"), TIER_EUSAGE);
	cr_assert_eq(tier_config_set(dir, "vault.id", "x"), TIER_EUSAGE);

	char path[4200];
	struct stat st;
	snprintf(path, sizeof(path), "%s/config", dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);

	tier_config *cfg = NULL;
	cr_assert_eq(tier_config_open(&cfg, dir), 0, "%s", tier_error_last());
	uint64_t u = 0;
	int b = 0;
	int64_t i = 0;
	cr_assert_eq(tier_config_get_size(&u, cfg, "push.excludeLargerThan"),
	             0);
	cr_assert_eq(u, 10u << 20);
	cr_assert_eq(tier_config_get_size(&u, cfg, "tier.nas.limitDownload"),
	             0);
	cr_assert_eq(u, 1u << 20);
	cr_assert_eq(tier_config_get_bool(&b, cfg, "push.oneFileSystem"), 0);
	cr_assert_eq(b, 1);
	cr_assert_eq(tier_config_get_seconds(&u, cfg, "hooks.timeout"), 0);
	cr_assert_eq(u, 120);
	cr_assert_eq(tier_config_get_int(&i, cfg, "forget.keepDaily"), 0);
	cr_assert_eq(i, 7);
	i = 42;
	cr_assert_eq(tier_config_get_int(&i, cfg, "forget.keepLast"),
	             TIER_ENOTFOUND);
	cr_assert_eq(i, 42);
	cr_assert_eq(tier_config_get_bool(&b, cfg, "push.threads"),
	             TIER_EUSAGE);
	char all[256] = "";
	cr_assert_eq(tier_config_get_multi(cfg, "push.exclude", collect, all),
	             0);
	cr_assert_str_eq(all, "*.tmp;cache/;");
	tier_config_free(cfg);

	/* a plain set replaces every value; unset removes */
	cr_assert_eq(tier_config_set(dir, "push.exclude", "x"), 0);
	cr_assert_eq(tier_config_open(&cfg, dir), 0);
	all[0] = '\0';
	cr_assert_eq(tier_config_get_multi(cfg, "push.exclude", collect, all),
	             0);
	cr_assert_str_eq(all, "x;");
	tier_config_free(cfg);
	cr_assert_eq(tier_config_unset(dir, "push.exclude"), 0);
	cr_assert_eq(tier_config_unset(dir, "push.exclude"), TIER_ENOTFOUND);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0600);
}

Test(config, bad_file)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/config", dir);
	FILE *f = fopen(path, "w");
	cr_assert_not_null(f);
	fputs("[push]\n\tthreads = many\n", f);
	fclose(f);
	tier_config *cfg = (tier_config *)1;
	cr_assert_eq(tier_config_open(&cfg, dir), TIER_EUSAGE);
	cr_assert_null(cfg);
	cr_assert(strstr(tier_error_last(), "push.threads"), "%s",
	          tier_error_last());
	cr_assert(strstr(tier_error_last(), path), "%s", tier_error_last());
	f = fopen(path, "w");
	fputs("[push\n", f);
	fclose(f);
	cr_assert_eq(tier_config_open(&cfg, dir), TIER_EUSAGE);
	cr_assert(strstr(tier_error_last(), ":1"), "%s", tier_error_last());
	/* a missing file is an empty config */
	unlink(path);
	cr_assert_eq(tier_config_open(&cfg, dir), 0);
	tier_config_free(cfg);
}
