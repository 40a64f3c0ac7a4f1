/*
 * Restore, reading (restore_read.c, R2): damaged, missing and offline
 * tiers, the next tier read instead, and what fails when none has it.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "helpers_restore.h"

TestSuite(restore, .init = restore_setup, .fini = restore_teardown);

/* ---- pack files on a tier ----------------------------------------------- */

static size_t list_packs(const char *tier_root, char packs[][4200], size_t max)
{
	char data[4200];
	size_t n = 0;
	snprintf(data, sizeof(data), "%s/data", tier_root);
	DIR *d = opendir(data);
	struct dirent *e;
	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		char sub[4400];
		snprintf(sub, sizeof(sub), "%.4000s/%.255s", data, e->d_name);
		DIR *s = opendir(sub);
		struct dirent *f;
		if (!s)
			continue;
		while ((f = readdir(s)) != NULL && n < max)
			if (strlen(f->d_name) == 64)
				snprintf(packs[n++], 4200, "%.2000s/%.2000s",
				         sub, f->d_name);
		closedir(s);
	}
	closedir(d);
	return n;
}

static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;
	cr_assert_geq(fd, 0, "open %s", path);
	cr_assert_eq(pread(fd, &c, 1, off), 1);
	c ^= 0x5a;
	cr_assert_eq(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* ---- R2 ------------------------------------------------------------------- */

Test(restore, damaged_pack_on_first_tier)
{
	char packs[64][4200];
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	size_t n = list_packs(path_a, packs, 64);
	cr_assert_gt(n, 0, "no pack on tier a");
	for (size_t i = 0; i < n; i++)
		flip_byte(packs[i], 16); /* the first byte of the first chunk */

	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "restore: %s", tier_error_last());
	compare(src, restored(out, NULL));
	cr_assert_gt(st.damaged, 0);
	cr_assert_gt(nwarnings, 0);
	cr_assert(strstr(warnings, "tier 'a': chunk "), "warnings: %s",
	          warnings);
	cr_assert(strstr(warnings, "fails its hash; read from tier 'b'"),
	          "warnings: %s", warnings);
	tier_vault_free(v);
}

Test(restore, missing_pack_on_first_tier)
{
	char packs[64][4200];
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	size_t n = list_packs(path_a, packs, 64);
	cr_assert_gt(n, 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(unlink(packs[i]), 0);

	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "restore: %s", tier_error_last());
	compare(src, restored(out, NULL));
	cr_assert_eq(st.damaged, n, "damaged %llu, packs %zu: %s",
	             (unsigned long long)st.damaged, n, warnings);
	cr_assert(strstr(warnings, "is missing; read from tier 'b'"),
	          "warnings: %s", warnings);
	tier_vault_free(v);
}

Test(restore, first_tier_offline)
{
	char gone[4200];
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);
	snprintf(gone, sizeof(gone), "%.4000s.gone", path_a);
	cr_assert_eq(rename(path_a, gone), 0);

	v = open_vault();
	cr_assert_eq(tier_vault_tier_info(v, 0)->online, 0);
	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "restore: %s", tier_error_last());
	compare(src, restored(out, NULL));
	cr_assert_eq(st.damaged, 0);
	cr_assert_eq(nwarnings, 0, "warnings: %s", warnings);
	tier_vault_free(v);
}

Test(restore, damaged_on_every_tier)
{
	char pa[64][4200], pb[64][4200];
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	size_t na = list_packs(path_a, pa, 64), nb = list_packs(path_b, pb, 64);
	cr_assert_gt(na, 0);
	cr_assert_eq(na, nb);
	for (size_t i = 0; i < na; i++)
		flip_byte(pa[i], 16);
	for (size_t i = 0; i < nb; i++)
		flip_byte(pb[i], 16);

	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECORRUPT);
	cr_assert(strstr(tier_error_last(), "cannot restore '"), "message: %s",
	          tier_error_last());
	cr_assert(strstr(tier_error_last(), "damaged on every tier"),
	          "message: %s", tier_error_last());
	cr_assert(strstr(tier_error_last(), src), "names the file: %s",
	          tier_error_last());
	cr_assert_gt(st.errors, 0);
	cr_assert(no_temp_files(out), "a half file was left behind");
	tier_vault_free(v);
}

Test(restore, pack_missing_on_every_tier)
{
	char pa[64][4200], pb[64][4200];
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	size_t na = list_packs(path_a, pa, 64), nb = list_packs(path_b, pb, 64);
	cr_assert_gt(na, 0);
	for (size_t i = 0; i < na; i++)
		unlink(pa[i]);
	for (size_t i = 0; i < nb; i++)
		unlink(pb[i]);

	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECORRUPT, "rc %d: %s", rc, tier_error_last());
	cr_assert(strstr(tier_error_last(), "cannot be read from any tier"),
	          "message: %s", tier_error_last());
	cr_assert(!exists(restored(out, "a.txt")),
	          "a file without data was restored");
	cr_assert(no_temp_files(out));
	tier_vault_free(v);
}
