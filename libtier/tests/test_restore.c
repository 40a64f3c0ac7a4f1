/* Restore: round trips through push, partial restores, errors, R2 reads. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <unistd.h>

#include "helpers.h"
#include "tier/push.h"
#include "tier/restore.h"
#include "tier/vault.h"

static const char *dir;
static char tier_a[4200], tier_b[4200], state[4200], src[4200], out[4200];
static char path_a[4200], path_b[4200];

static void setup(void)
{
	dir = tt_tmpdir();
	cr_assert_not_null(dir);
	snprintf(path_a, sizeof(path_a), "%.4000s/a", dir);
	snprintf(path_b, sizeof(path_b), "%.4000s/b", dir);
	snprintf(tier_a, sizeof(tier_a), "a=file://%.4000s", path_a);
	snprintf(tier_b, sizeof(tier_b), "b=file://%.4000s", path_b);
	snprintf(state, sizeof(state), "%s/state", dir);
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	mkdir(path_a, 0755);
	mkdir(path_b, 0755);
}

static void teardown(void)
{
	tt_rmrf(dir);
}

TestSuite(restore, .init = setup, .fini = teardown);

/* ---- vault helpers ------------------------------------------------------ */

static tier_vault_options vopts(const char *st, int with_tiers)
{
	static const char *tiers[2];
	tiers[0] = tier_a;
	tiers[1] = tier_b;
	tier_vault_options o = TIER_VAULT_OPTIONS_INIT;
	o.state_dir = st;
	if (with_tiers) {
		o.tiers = tiers;
		o.ntiers = 2;
	}
	o.location.retries = 2;
	o.location.retry_delay = 1;
	return o;
}

static tier_vault *init_vault(void)
{
	tier_vault *v = NULL;
	tier_vault_options o = vopts(state, 1);
	int rc = tier_vault_init(&v, &o);
	cr_assert_eq(rc, 0, "init: %s", tier_error_last());
	return v;
}

static tier_vault *open_vault(void)
{
	tier_vault *v = NULL;
	tier_vault_options o = vopts(state, 0);
	int rc = tier_vault_open(&v, &o);
	cr_assert_eq(rc, 0, "open: %s", tier_error_last());
	return v;
}

static uint64_t push(tier_vault *v, const char *path)
{
	tier_write_result *res = NULL;
	tier_push_stats st;
	tier_push_options o = TIER_PUSH_OPTIONS_INIT;
	const char *paths[1] = {path};
	o.paths = paths;
	o.npaths = 1;
	int rc = tier_push_run(&res, &st, v, &o);
	cr_assert_eq(rc, 0, "push: %s", tier_error_last());
	cr_assert_not_null(res);
	uint64_t rev = res->revision;
	tier_write_result_free(res);
	return rev;
}

/* Warnings collected from a restore. */
static char warnings[16384];
static int nwarnings;

static void on_warning(const char *msg, void *payload)
{
	(void)payload;
	nwarnings++;
	strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
	strcat(warnings, "\n");
}

static int restore(tier_vault *v, tier_restore_stats *st, uint64_t rev,
                   const char *dest, const char *const *paths, size_t npaths,
                   int overwrite)
{
	tier_restore_options o = TIER_RESTORE_OPTIONS_INIT;
	o.revision = rev;
	o.dest = dest;
	o.paths = paths;
	o.npaths = npaths;
	o.overwrite = overwrite;
	o.warning = on_warning;
	warnings[0] = '\0';
	nwarnings = 0;
	return tier_restore_run(st, v, &o);
}

/* ---- source trees ------------------------------------------------------- */

static void set_mtime(const char *path, time_t sec, long nsec)
{
	struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
	cr_assert_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0,
	             "utimensat %s: %s", path, strerror(errno));
}

static void put_file(const char *path, const char *text, mode_t mode,
                     time_t sec)
{
	cr_assert_eq(tt_write_file(path, text, strlen(text)), 0, "write %s",
	             path);
	chmod(path, mode);
	set_mtime(path, sec, 123456789);
}

/* Pseudo-random bytes that lz4 cannot shrink much, half compressible text. */
static void put_big(const char *path, size_t size, uint64_t seed)
{
	FILE *f = fopen(path, "wb");
	cr_assert_not_null(f);
	uint64_t x = seed | 1;
	char block[65536];
	for (size_t done = 0; done < size;) {
		for (size_t i = 0; i < sizeof(block); i += 8) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			if ((i / 4096) % 2)
				memcpy(block + i, &x, 8);
			else
				memcpy(block + i, "abcdefgh", 8);
		}
		size_t n = size - done < sizeof(block) ? size - done
		                                       : sizeof(block);
		cr_assert_eq(fwrite(block, 1, n, f), n);
		done += n;
	}
	fclose(f);
	set_mtime(path, 1500000000, 987654321);
}

static const char *at(const char *rel)
{
	return tt_path("%s/%s", src, rel);
}

/* Everything the brief asks a full round trip to keep. */
static void make_full_tree(void)
{
	cr_assert_eq(mkdir(src, 0755), 0);
	put_file(at("a.txt"), "hello, restore\n", 0644, 1600000000);
	put_file(at("exec.sh"), "#!/bin/sh\necho hi\n", 0755, 1600000001);
	put_file(at("private"), "secret\n", 0600, 1600000002);
	put_file(at("zero"), "", 0644, 1600000003);
	put_file(at("with space.txt"), "spaces\n", 0644, 1600000004);
	put_file(at("new\nline"), "newline in the name\n", 0644, 1600000005);
	put_file(at("h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93.txt"), "utf-8\n",
	         0644, 1600000006);
	put_file(at("%percent~tilde"), "escapes\n", 0644, 1600000007);
	put_file(at(".hidden"), "dot\n", 0640, 1600000008);
	cr_assert_eq(mkdir(at("sub"), 0750), 0);
	put_file(at("sub/.git"), "gitdir: elsewhere\n", 0644, 1600000009);
	put_file(at("sub/b.txt"), "in sub\n", 0644, 1600000010);
	cr_assert_eq(mkdir(at(".git"), 0755), 0);
	put_file(at(".git/HEAD"), "ref: refs/heads/main\n", 0644, 1600000011);
	cr_assert_eq(mkdir(at("empty"), 0700), 0);
	cr_assert_eq(mkdir(at("ro"), 0755), 0);
	put_file(at("ro/inside"), "under a read-only dir\n", 0444, 1600000012);
	chmod(at("ro"), 0555);
	cr_assert_eq(symlink("a.txt", at("link")), 0);
	cr_assert_eq(symlink("/nonexistent/target", at("dangling")), 0);
	set_mtime(at("link"), 1600000013, 5);
	cr_assert_eq(mkfifo(at("fifo"), 0640), 0);
	set_mtime(at("fifo"), 1600000014, 0);
	put_big(at("big.bin"), 20u << 20, 42);
	put_file(at("owned"), "someone else's\n", 0644, 1600000015);
	if (geteuid() == 0)
		cr_assert_eq(lchown(at("owned"), 1234, 5678), 0);
	/* directory mtimes last: creating entries changes them */
	set_mtime(at("sub"), 1600000100, 111);
	set_mtime(at(".git"), 1600000101, 222);
	set_mtime(at("empty"), 1600000102, 333);
	set_mtime(at("ro"), 1600000103, 444);
	set_mtime(src, 1600000104, 555);
}

static void make_small_tree(void)
{
	cr_assert_eq(mkdir(src, 0755), 0);
	put_file(at("a.txt"), "alpha\n", 0644, 1600000000);
	cr_assert_eq(mkdir(at("sub"), 0755), 0);
	put_file(at("sub/b.txt"), "beta\n", 0644, 1600000001);
	put_big(at("sub/mid.bin"), 600u << 10, 7);
	set_mtime(at("sub"), 1600000100, 0);
}

/* ---- comparing trees ---------------------------------------------------- */

static int same_content(const char *a, const char *b)
{
	size_t la, lb;
	char *da = tt_read_file(a, &la), *db = tt_read_file(b, &lb);
	int same = da && db && la == lb && memcmp(da, db, la) == 0;
	free(da);
	free(db);
	return same;
}

/* want: the expected tree; got: the restored one.  Top-level included. */
static void compare(const char *want_arg, const char *got_arg)
{
	struct stat sw, sg;
	/* the arguments may sit in tt_path's rotating buffers: keep a copy */
	char *want = strdup(want_arg), *got = strdup(got_arg);
	cr_assert_eq(lstat(want, &sw), 0, "lstat %s", want);
	cr_assert_eq(lstat(got, &sg), 0, "restored '%s' is missing", got);
	cr_assert_eq(sw.st_mode & S_IFMT, sg.st_mode & S_IFMT, "type of '%s'",
	             got);
	if (!S_ISLNK(sw.st_mode))
		cr_assert_eq(sw.st_mode & 07777, sg.st_mode & 07777,
		             "mode of '%s': %o, want %o", got,
		             sg.st_mode & 07777, sw.st_mode & 07777);
	cr_assert_eq(sw.st_mtim.tv_sec, sg.st_mtim.tv_sec, "mtime of '%s'",
	             got);
	cr_assert_eq(sw.st_mtim.tv_nsec, sg.st_mtim.tv_nsec, "mtime ns of '%s'",
	             got);
	if (geteuid() == 0) {
		cr_assert_eq(sw.st_uid, sg.st_uid, "owner of '%s'", got);
		cr_assert_eq(sw.st_gid, sg.st_gid, "group of '%s'", got);
	}
	if (S_ISREG(sw.st_mode)) {
		cr_assert_eq(sw.st_size, sg.st_size, "size of '%s'", got);
		cr_assert(same_content(want, got), "content of '%s' differs",
		          got);
	} else if (S_ISLNK(sw.st_mode)) {
		char tw[4096], tg[4096];
		ssize_t nw = readlink(want, tw, sizeof(tw)),
		        ng = readlink(got, tg, sizeof(tg));
		cr_assert(nw > 0 && nw == ng && !memcmp(tw, tg, (size_t)nw),
		          "target of '%s'", got);
	} else if (S_ISDIR(sw.st_mode)) {
		DIR *d = opendir(want);
		struct dirent *e;
		size_t n = 0;
		cr_assert_not_null(d);
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
				continue;
			char *w = strdup(tt_path("%s/%s", want, e->d_name));
			char *g = strdup(tt_path("%s/%s", got, e->d_name));
			compare(w, g);
			free(w);
			free(g);
			n++;
		}
		closedir(d);
		/* nothing extra in the restored directory */
		d = opendir(got);
		cr_assert_not_null(d);
		size_t m = 0;
		while ((e = readdir(d)) != NULL)
			if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
				m++;
		closedir(d);
		cr_assert_eq(n, m, "'%s' has %zu entries, want %zu", got, m, n);
	}
	free(want);
	free(got);
}

/* Where the restore puts the source tree: DEST + absolute source path. */
static const char *restored(const char *dest, const char *rel)
{
	return rel ? tt_path("%s%s/%s", dest, src, rel)
	           : tt_path("%s%s", dest, src);
}

static int exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* No "<name>.tier-tmp" anywhere below p. */
static int no_temp_files(const char *p)
{
	return tt_sh("test -z \"$(find '%s' -name '*.tier-tmp' | head -n 1)\"",
	             p) == 0;
}

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

/* ---- round trips ---------------------------------------------------------- */

Test(restore, full_tree_equals_source)
{
	make_full_tree();
	tier_vault *v = init_vault();
	uint64_t rev = push(v, src);
	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "restore: %s (%s)", tier_error_last(), warnings);
	cr_assert_eq(st.revision, rev);
	compare(src, restored(out, NULL));
	cr_assert_eq(st.damaged, 0);
	cr_assert_eq(st.errors, 0, "warnings: %s", warnings);
	cr_assert_geq(st.files, 14);
	cr_assert_geq(st.bytes, 20u << 20);
	cr_assert(no_temp_files(out));
	tier_vault_free(v);
}

Test(restore, without_installation_from_tiers_alone)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);

	tier_vault_options o = vopts(NULL, 1);
	cr_assert_eq(tier_vault_open(&v, &o), 0, "open: %s", tier_error_last());
	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "restore: %s", tier_error_last());
	compare(src, restored(out, NULL));
	tier_vault_free(v);
}

Test(restore, older_revision)
{
	char old[4200];
	make_small_tree();
	tier_vault *v = init_vault();
	uint64_t r1 = push(v, src);
	snprintf(old, sizeof(old), "%s/old", dir);
	cr_assert_eq(tt_sh("cp -a '%s' '%s'", src, old), 0);

	put_file(at("a.txt"), "alpha, changed\n", 0600, 1700000000);
	put_file(at("new.txt"), "new\n", 0644, 1700000001);
	unlink(at("sub/b.txt"));
	set_mtime(at("sub"), 1700000100, 0);
	set_mtime(src, 1700000101, 0);
	uint64_t r2 = push(v, src);
	cr_assert_gt(r2, r1);

	tier_restore_stats st;
	int rc = restore(v, &st, r1, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "restore -r: %s", tier_error_last());
	cr_assert_eq(st.revision, r1);
	compare(old, restored(out, NULL));

	char out2[4200];
	snprintf(out2, sizeof(out2), "%s/out2", dir);
	rc = restore(v, &st, 0, out2, NULL, 0, 0);
	cr_assert_eq(rc, 0, "restore: %s", tier_error_last());
	cr_assert_eq(st.revision, r2);
	compare(src, restored(out2, NULL));
	tier_vault_free(v);
}

Test(restore, one_subdirectory_and_one_file)
{
	make_full_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_stats st;

	const char *sub[1] = {tt_path("%s/sub", src)};
	int rc = restore(v, &st, 0, out, sub, 1, 0);
	cr_assert_eq(rc, 0, "restore sub: %s", tier_error_last());
	compare(at("sub"), restored(out, "sub"));
	cr_assert(!exists(restored(out, "a.txt")));
	cr_assert(!exists(restored(out, "big.bin")));
	cr_assert_eq(st.files, 2);

	/* a file, given without the leading '/', and a path under it given too */
	char out2[4200];
	snprintf(out2, sizeof(out2), "%s/out2", dir);
	const char *one[2] = {tt_path("%s/ro/inside", src + 1),
	                      tt_path("%s/ro/inside", src)};
	rc = restore(v, &st, 0, out2, one, 2, 0);
	cr_assert_eq(rc, 0, "restore file: %s", tier_error_last());
	compare(at("ro/inside"), restored(out2, "ro/inside"));
	cr_assert(!exists(restored(out2, "ro/../a.txt")));
	cr_assert_eq(st.files, 1);
	/* its parent took the snapshot's metadata */
	struct stat s;
	cr_assert_eq(stat(restored(out2, "ro"), &s), 0);
	cr_assert_eq(s.st_mode & 07777, 0555);
	tier_vault_free(v);
}

Test(restore, bad_revision_and_bad_path)
{
	make_small_tree();
	tier_vault *v = init_vault();
	uint64_t rev = push(v, src);
	tier_restore_stats st;

	int rc = restore(v, &st, rev + 7, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ENOTFOUND);
	char want[128];
	snprintf(want, sizeof(want),
	         "revision %llu does not exist (latest is %llu)",
	         (unsigned long long)(rev + 7), (unsigned long long)rev);
	cr_assert_str_eq(tier_error_last(), want);

	const char *bad[2] = {tt_path("%s/sub", src),
	                      tt_path("%s/no/such file", src)};
	rc = restore(v, &st, 0, out, bad, 2, 0);
	cr_assert_eq(rc, TIER_ENOTFOUND);
	cr_assert(strstr(tier_error_last(), "/no/such file"), "message: %s",
	          tier_error_last());
	cr_assert(!exists(out), "nothing is written for a bad path");

	const char *dots[1] = {"/a/../b"};
	rc = restore(v, &st, 0, out, dots, 1, 0);
	cr_assert_eq(rc, TIER_EUSAGE);
	tier_vault_free(v);
}

Test(restore, conflict_without_overwrite)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_stats st;
	cr_assert_eq(restore(v, &st, 0, out, NULL, 0, 0), 0, "%s",
	             tier_error_last());

	/* change a restored file: a second restore refuses, touching nothing */
	put_file(restored(out, "a.txt"), "mine\n", 0644, 1);
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECONFLICT);
	cr_assert(strstr(tier_error_last(), "a.txt"), "message: %s",
	          tier_error_last());
	char *text = tt_read_file(restored(out, "a.txt"), NULL);
	cr_assert_str_eq(text, "mine\n");
	free(text);

	rc = restore(v, &st, 0, out, NULL, 0, 1);
	cr_assert_eq(rc, 0, "overwrite: %s", tier_error_last());
	compare(src, restored(out, NULL));

	/* a directory where the snapshot has a file is replaced too */
	unlink(restored(out, "a.txt"));
	cr_assert_eq(mkdir(restored(out, "a.txt"), 0755), 0);
	rc = restore(v, &st, 0, out, NULL, 0, 1);
	cr_assert_eq(rc, 0, "overwrite dir: %s", tier_error_last());
	compare(src, restored(out, NULL));
	tier_vault_free(v);
}

Test(restore, empty_snapshot_revision)
{
	/* revision 1 (vault creation) holds no snapshot: an empty restore */
	tier_vault *v = init_vault();
	tier_restore_stats st;
	int rc = restore(v, &st, 1, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	cr_assert_eq(st.files, 0);
	cr_assert(exists(out));
	const char *p[1] = {"/x"};
	rc = restore(v, &st, 1, out, p, 1, 0);
	cr_assert_eq(rc, TIER_ENOTFOUND);
	tier_vault_free(v);
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

static int cancel_cb(const tier_restore_stats *s, const char *cur,
                     void *payload)
{
	(void)s;
	(void)cur;
	(*(int *)payload)++;
	return 1; /* cancel at the first call */
}

Test(restore, progress_can_cancel)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_options o = TIER_RESTORE_OPTIONS_INIT;
	tier_restore_stats st;
	int calls = 0;
	o.dest = out;
	o.progress = cancel_cb;
	o.payload = &calls;
	int rc = tier_restore_run(&st, v, &o);
	cr_assert_eq(rc, TIER_EABORTED, "rc %d: %s", rc, tier_error_last());
	cr_assert_gt(calls, 0);
	cr_assert(no_temp_files(out));
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
