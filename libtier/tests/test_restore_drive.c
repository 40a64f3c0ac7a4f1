/*
 * The virtual drive through the library (tier/drive.h), as tier-mount
 * uses it, and under the sanitizers in CI: the namespace, stat of what
 * was pushed, listings, symlinks, and reads at any offset and in order
 * that give the source's bytes through a cache far smaller than the file.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "helpers_restore.h"
#include "tier/drive.h"

TestSuite(drive, .init = restore_setup, .fini = restore_teardown);

static char *whole(const char *path, size_t *len)
{
	char *p = tt_read_file(path, len);
	cr_assert_not_null(p);
	return p;
}

static int count_names(const char *name, const tier_drive_stat *st,
                       void *payload)
{
	(void)st;
	char *text = payload;
	strncat(text, name, 1000 - strlen(text));
	strncat(text, " ", 1000 - strlen(text));
	return 0;
}

Test(drive, namespace_stat_list_and_reads)
{
	char path[8200], rpath[8200], big[8200], link[256], names[1024] = "";
	tier_drive_options o = TIER_DRIVE_OPTIONS_INIT;
	tier_drive_stat st;
	tier_drive_stats ds;
	tier_drive_file *f;
	tier_drive *d;
	size_t n, len;

	make_small_tree();
	snprintf(big, sizeof(big), "%s/big.bin", src);
	put_big(big, 5u << 20, 11);
	tier_vault *v = init_vault();
	uint64_t rev = push(v, src);

	o.cache_dir = dir;
	o.cache_size = 1u << 20; /* far below the file: eviction is exercised */
	cr_assert_eq(tier_drive_open(&d, v, &o), 0, "%s", tier_error_last());
	const uint64_t *revs = tier_drive_revisions(d, &n);
	cr_assert_eq(n, 1);
	cr_assert_eq(revs[0], rev);

	cr_assert_eq(tier_drive_list(d, "/", count_names, names), 0);
	cr_assert_str_eq(names, "archive latest revisions tags ");
	cr_assert_eq(tier_drive_readlink(d, "/latest", link, sizeof(link)), 0);
	snprintf(path, sizeof(path), "revisions/%llu", (unsigned long long)rev);
	cr_assert_str_eq(link, path);
	cr_assert_eq(tier_drive_stat_path(d, "/revisions/999", &st),
	             TIER_ENOTFOUND);
	cr_assert_eq(tier_drive_stat_path(d, "/nothing", &st), TIER_ENOTFOUND);

	snprintf(rpath, sizeof(rpath), "/revisions/%llu%s",
	         (unsigned long long)rev, src);
	names[0] = '\0';
	cr_assert_eq(tier_drive_list(d, rpath, count_names, names), 0, "%s",
	             tier_error_last());
	cr_assert_str_eq(names, "a.txt big.bin sub ");
	snprintf(path, sizeof(path), "%s/sub/b.txt", rpath);
	cr_assert_eq(tier_drive_stat_path(d, path, &st), 0);
	cr_assert_eq(st.type, TIER_ENTRY_FILE);
	cr_assert_eq(st.size, 5);
	cr_assert_eq(st.mode, 0644);
	cr_assert_eq(st.mtime_sec, 1600000001);
	snprintf(path, sizeof(path), "%s/sub", rpath);
	cr_assert_eq(tier_drive_stat_path(d, path, &st), 0);
	cr_assert_eq(st.type, TIER_ENTRY_DIR);
	cr_assert_eq(st.mtime_sec, 1600000100);
	cr_assert_eq(tier_drive_file_open(&f, d, path), TIER_ECONFLICT);

	char *want = whole(big, &len);
	snprintf(path, sizeof(path), "%s/big.bin", rpath);
	cr_assert_eq(tier_drive_file_open(&f, d, path), 0, "%s",
	             tier_error_last());
	char *buf = malloc(200000);
	cr_assert_not_null(buf);
	/* jumps first, then the whole file in order in kernel-sized reads */
	uint64_t offs[] = {4000000, 17, 1048575, (5u << 20) - 10};
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		int64_t got = tier_drive_file_read(f, buf, 100000, offs[i]);
		size_t expect = len - offs[i] < 100000 ? len - offs[i] : 100000;
		cr_assert_eq(got, (int64_t)expect, "at %llu: %lld",
		             (unsigned long long)offs[i], (long long)got);
		cr_assert_eq(memcmp(buf, want + offs[i], expect), 0,
		             "bytes at %llu", (unsigned long long)offs[i]);
	}
	for (uint64_t off = 0; off < len; off += 131072) {
		int64_t got = tier_drive_file_read(f, buf, 131072, off);
		cr_assert_gt(got, 0);
		cr_assert_eq(memcmp(buf, want + off, (size_t)got), 0,
		             "bytes at %llu", (unsigned long long)off);
	}
	cr_assert_eq(tier_drive_file_read(f, buf, 10, len), 0, "at the end");
	tier_drive_get_stats(d, &ds);
	cr_assert_leq(ds.cached_bytes, 1u << 20, "the cache keeps its budget");
	cr_assert_gt(ds.cache_hits, 0);
	cr_assert_geq(ds.fetched_bytes, len);
	tier_drive_file_close(f);

	char cache[4200];
	snprintf(cache, sizeof(cache), "%s", tier_drive_cache_dir(d));
	tier_drive_free(d);
	struct stat sb;
	cr_assert_neq(stat(cache, &sb), 0, "the cache directory is gone");
	free(buf);
	free(want);
	tier_vault_free(v);
}
