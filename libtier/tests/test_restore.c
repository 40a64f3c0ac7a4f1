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

Test(restore, top_level_path, .timeout = 60)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_stats st;
	/* the first component of every snapshot path: the walk holds DEST
	 * twice here, which must not look like directories waiting */
	char first[4200];
	snprintf(first, sizeof(first), "/%.*s", (int)strcspn(src + 1, "/"),
	         src + 1);
	const char *top[1] = {first};
	int rc = restore(v, &st, 0, out, top, 1, 0);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	compare(src, restored(out, NULL));
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

/* ---- hostile tiers: trees crafted in the tiers' logs -------------------- */

#include <git2.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include "snapshot.h"

/* One entry of a raw tree: any name, '/' and duplicates included. */
struct rawent {
	unsigned mode; /* 0100644 or 040000 */
	const char *name;
	git_oid id;
};

static int rawent_cmp(const void *a, const void *b)
{
	/* git's order: a tree sorts as if its name ended in '/' */
	const struct rawent *x = a, *y = b;
	char kx[600], ky[600];
	snprintf(kx, sizeof(kx), "%s%s", x->name, x->mode == 040000 ? "/" : "");
	snprintf(ky, sizeof(ky), "%s%s", y->name, y->mode == 040000 ? "/" : "");
	int c = strcmp(kx, ky);
	return c ? c : (x < y ? -1 : 1);
}

/* A tree object written as bytes, as a hostile tier would (git_odb_write). */
static git_oid raw_tree(git_repository *repo, struct rawent *e, size_t n)
{
	git_odb *odb = NULL;
	git_oid id_out;
	char *buf = malloc(n * 700 + 1);
	size_t len = 0;
	qsort(e, n, sizeof(*e), rawent_cmp);
	for (size_t i = 0; i < n; i++) {
		len += (size_t)sprintf(buf + len, "%o %s", e[i].mode,
		                       e[i].name) +
		       1; /* the NUL */
		memcpy(buf + len, e[i].id.id, GIT_OID_RAWSZ);
		len += GIT_OID_RAWSZ;
	}
	cr_assert_eq(git_repository_odb(&odb, repo), 0);
	cr_assert_eq(git_odb_write(&id_out, odb, buf, len, GIT_OBJECT_TREE), 0,
	             "odb_write: %s", git_error_last()->message);
	git_odb_free(odb);
	free(buf);
	return id_out;
}

static git_oid blob_of(git_repository *repo, const void *data, size_t len)
{
	git_oid id;
	cr_assert_eq(git_blob_create_from_buffer(&id, repo, data, len), 0);
	return id;
}

static git_oid node_blob(git_repository *repo, tier_node_type type,
                         unsigned mode, const char *target)
{
	tier_node n;
	tier_buf b = TIER_BUF_INIT;
	memset(&n, 0, sizeof(n));
	n.type = type;
	n.mode = mode;
	n.uid = geteuid();
	n.gid = getegid();
	n.mtime_sec = 1600000000;
	if (target) {
		n.target = (char *)target;
		n.target_len = strlen(target);
	}
	cr_assert_eq(tier_node_encode(&b, &n), 0);
	git_oid id = blob_of(repo, b.ptr, b.size);
	tier_buf_dispose(&b);
	return id;
}

/* The id of the entry at a '/'-separated path below tree. */
static git_oid entry_at(const git_tree *tree, const char *path)
{
	git_tree_entry *e = NULL;
	cr_assert_eq(git_tree_entry_bypath(&e, tree, path), 0, "no '%s'", path);
	git_oid id = *git_tree_entry_id(e);
	git_tree_entry_free(e);
	return id;
}

/* tree with the path comps[0]/.../comps[n-1] leading to leaf instead. */
static git_oid replace_path(git_repository *repo, const git_tree *tree,
                            char **comps, size_t n, const git_oid *leaf)
{
	git_treebuilder *tb = NULL;
	git_tree *sub = NULL;
	git_oid id_out, inner;
	if (n == 0)
		return *leaf;
	const git_tree_entry *e = git_tree_entry_byname(tree, comps[0]);
	cr_assert_not_null(e, "no '%s'", comps[0]);
	cr_assert_eq(git_tree_lookup(&sub, repo, git_tree_entry_id(e)), 0);
	inner = replace_path(repo, sub, comps + 1, n - 1, leaf);
	git_tree_free(sub);
	cr_assert_eq(git_treebuilder_new(&tb, repo, tree), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, comps[0], &inner,
	                                    GIT_FILEMODE_TREE),
	             0);
	cr_assert_eq(git_treebuilder_write(&id_out, tb), 0);
	git_treebuilder_free(tb);
	return id_out;
}

/* The snapshot path of src ("tmp/tiertest-x/src") split into components. */
static size_t src_comps(char *comps[16])
{
	static char copy[4200];
	size_t n = 0;
	snprintf(copy, sizeof(copy), "%s", src + 1);
	for (char *s = strtok(copy, "/"); s && n < 16; s = strtok(NULL, "/"))
		comps[n++] = s;
	return n;
}

/*
 * Change the snapshot of the head revision on tier_root's log: add(repo,
 * src tree, payload) returns the new tree of src's directory.  Parent,
 * message and signatures stay, so every tier given the same change gets
 * the same commit; the objects are packed as a tier holds them.
 */
typedef git_oid (*craft_fn)(git_repository *repo, const git_tree *srctree,
                            void *payload);

static void craft_tier(const char *tier_root, craft_fn add, void *payload)
{
	git_repository *repo = NULL;
	git_commit *c = NULL;
	git_tree *rev = NULL, *root = NULL, *srct = NULL;
	git_treebuilder *tb = NULL;
	git_oid head, newsrc, newroot, newrev, newc;
	char *comps[16], logdir[4300], *ref;
	size_t n = src_comps(comps);

	git_libgit2_init();
	snprintf(logdir, sizeof(logdir), "%s/log.git", tier_root);
	cr_assert_eq(git_repository_open_bare(&repo, logdir), 0);
	ref = tt_read_file(tt_path("%s/refs/heads/main", logdir), NULL);
	cr_assert_not_null(ref);
	cr_assert_eq(git_oid_fromstrn(&head, ref, 40), 0);
	free(ref);
	cr_assert_eq(git_commit_lookup(&c, repo, &head), 0);
	cr_assert_eq(git_commit_tree(&rev, c), 0);
	git_oid rid = entry_at(rev, "root");
	cr_assert_eq(git_tree_lookup(&root, repo, &rid), 0);
	git_oid sid = entry_at(root, src + 1);
	cr_assert_eq(git_tree_lookup(&srct, repo, &sid), 0);

	newsrc = add(repo, srct, payload);
	newroot = replace_path(repo, root, comps, n, &newsrc);
	cr_assert_eq(git_treebuilder_new(&tb, repo, rev), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, "root", &newroot,
	                                    GIT_FILEMODE_TREE),
	             0);
	cr_assert_eq(git_treebuilder_write(&newrev, tb), 0);
	git_treebuilder_free(tb);
	git_tree *nrt = NULL;
	cr_assert_eq(git_tree_lookup(&nrt, repo, &newrev), 0);
	const git_commit *parents[1];
	git_commit *parent = NULL;
	size_t np = git_commit_parentcount(c);
	if (np)
		cr_assert_eq(git_commit_parent(&parent, c, 0), 0);
	parents[0] = parent;
	cr_assert_eq(git_commit_create(&newc, repo, NULL, git_commit_author(c),
	                               git_commit_committer(c), NULL,
	                               git_commit_message(c), nrt, np, parents),
	             0);
	git_commit_free(parent);
	git_tree_free(nrt);
	char hex[GIT_OID_HEXSZ + 2];
	git_oid_tostr(hex, GIT_OID_HEXSZ + 1, &newc);
	strcat(hex, "\n");
	cr_assert_eq(tt_write_file(tt_path("%s/refs/heads/main", logdir), hex,
	                           strlen(hex)),
	             0);
	git_tree_free(srct);
	git_tree_free(root);
	git_tree_free(rev);
	git_commit_free(c);
	git_repository_free(repo);
	/* a tier's objects are in packs: readers fetch nothing else */
	cr_assert_eq(tt_sh("git -C '%s' repack -a -d -q && "
	                   "git -C '%s' prune 2>/dev/null; true",
	                   logdir, logdir),
	             0);
}

static void craft(craft_fn add, void *payload)
{
	craft_tier(path_a, add, payload);
	craft_tier(path_b, add, payload);
}

/* The vault from its tiers alone (no installation: nothing remembers the
 * honest head), as on the machine that restores after a loss. */
static tier_vault *open_tiers_only(void)
{
	tier_vault *v = NULL;
	tier_vault_options o = vopts(NULL, 1);
	int rc = tier_vault_open(&v, &o);
	cr_assert_eq(rc, 0, "open: %s", tier_error_last());
	return v;
}

/* src's tree with extra entries (each a raw tree of bad entries). */
struct extra {
	const char *name;
	struct rawent *ents;
	size_t n;
};

struct extras {
	struct extra *x;
	size_t n;
};

static git_oid add_extras(git_repository *repo, const git_tree *srct,
                          void *payload)
{
	struct extras *xs = payload;
	git_treebuilder *tb = NULL;
	git_oid id_out;
	cr_assert_eq(git_treebuilder_new(&tb, repo, srct), 0);
	for (size_t i = 0; i < xs->n; i++) {
		git_oid t = raw_tree(repo, xs->x[i].ents, xs->x[i].n);
		cr_assert_eq(git_treebuilder_insert(NULL, tb, xs->x[i].name, &t,
		                                    GIT_FILEMODE_TREE),
		             0);
	}
	cr_assert_eq(git_treebuilder_write(&id_out, tb), 0);
	git_treebuilder_free(tb);
	return id_out;
}

/* A listing of a directory (names, types, modes, sizes, mtimes): equal
 * before and after means nothing was written there. */
static char *snapshot_of(const char *d)
{
	char tmp[4400];
	snprintf(tmp, sizeof(tmp), "%s/.listing", dir);
	tt_sh("cd '%s' && find . -printf '%%p %%y %%m %%s %%T@ %%l\\n' | sort "
	      ">'%s'",
	      d, tmp);
	char *s = tt_read_file(tmp, NULL);
	unlink(tmp);
	return s ? s : strdup("");
}

/*
 * Fill the entries of the hostile directories with objects of one tier's
 * repository: a.txt's honest node (its content is in the packs), symlinks
 * to the canary, a directory node of mode 4777.
 */
struct hostile {
	const char *escape_name, *canary, *canary_file;
	struct rawent esc[2], lnk[3], dup[3], sl[3];
};

static git_oid add_hostile(git_repository *repo, const git_tree *srct,
                           void *payload)
{
	struct hostile *h = payload;
	git_oid a_node = entry_at(srct, "a.txt");
	git_oid link_out = node_blob(repo, TIER_NODE_SYMLINK, 0777, h->canary);
	git_oid link_file =
	        node_blob(repo, TIER_NODE_SYMLINK, 0777, h->canary_file);
	git_oid suid_dir = node_blob(repo, TIER_NODE_DIR, 04777, NULL);

	/* escape/: "../../.../canary/escaped.txt" and a good file */
	h->esc[0] = (struct rawent){0100644, h->escape_name, a_node};
	h->esc[1] = (struct rawent){0100644, "ok.txt", a_node};
	/* linkdir/: l -> the canary directory, then a directory l holding evil */
	struct rawent inner[1] = {{0100644, "evil", a_node}};
	git_oid evil_dir = raw_tree(repo, inner, 1);
	h->lnk[0] = (struct rawent){0100644, "l", link_out};
	h->lnk[1] = (struct rawent){040000, "l", evil_dir};
	h->lnk[2] = (struct rawent){0100644, "ok.txt", a_node};
	/* dupdir/: a directory d (mode 4777) and a symlink d -> the canary
	 * file: the chmod of d at the end must not reach the file */
	struct rawent dinner[2] = {{0100644, "%", suid_dir},
	                           {0100644, "x", a_node}};
	git_oid d_dir = raw_tree(repo, dinner, 2);
	h->dup[0] = (struct rawent){040000, "d", d_dir};
	h->dup[1] = (struct rawent){0100644, "d", link_file};
	h->dup[2] = (struct rawent){0100644, "ok.txt", a_node};

	/* slashdir/: a symlink l -> the canary, then an entry 'l/evil' */
	h->sl[0] = (struct rawent){0100644, "l", link_out};
	h->sl[1] = (struct rawent){0100644, "l/evil", a_node};
	h->sl[2] = (struct rawent){0100644, "ok.txt", a_node};

	struct extra x[4] = {{"escape", h->esc, 2},
	                     {"linkdir", h->lnk, 3},
	                     {"dupdir", h->dup, 3},
	                     {"slashdir", h->sl, 3}};
	struct extras xs = {x, 4};
	return add_extras(repo, srct, &xs);
}

Test(restore, hostile_names_never_leave_dest)
{
	char canary[4200], canary_file[4200], up[2000] = "", esc[2100];
	char *comps[16];

	make_small_tree();
	snprintf(canary, sizeof(canary), "%s/canary", dir);
	snprintf(canary_file, sizeof(canary_file), "%s/canary/secret", dir);
	cr_assert_eq(mkdir(canary, 0755), 0);
	put_file(canary_file, "root's secret\n", 0600, 1500000000);
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);

	/* from DEST/<src>/escape: one ".." per component back to DEST, one
	 * more to DEST's parent, where the canary is */
	size_t n = src_comps(comps);
	for (size_t i = 0; i < n + 2; i++)
		strcat(up, "../");
	snprintf(esc, sizeof(esc), "%scanary/escaped.txt", up);
	struct hostile h = {esc,   canary, canary_file, {{0}},
	                    {{0}}, {{0}},  {{0}}};
	craft(add_hostile, &h);

	char *before = snapshot_of(canary);
	v = open_tiers_only();
	for (int overwrite = 0; overwrite < 2; overwrite++) {
		tier_restore_stats st;
		int rc = restore(v, &st, 0, out, NULL, 0, overwrite);
		cr_assert_eq(rc, TIER_ECORRUPT, "rc %d: %s", rc,
		             tier_error_last());
		cr_assert_eq(st.errors, 4, "errors %llu: %s",
		             (unsigned long long)st.errors, warnings);
		cr_assert(strstr(warnings, "/escape' not restored: bad tree "
		                           "entry name '../"),
		          "warnings: %s", warnings);
		cr_assert(strstr(warnings, "/linkdir' not restored: duplicate "
		                           "tree entry 'l'"),
		          "warnings: %s", warnings);
		cr_assert(strstr(warnings, "/dupdir' not restored: duplicate "
		                           "tree entry 'd'"),
		          "warnings: %s", warnings);
		cr_assert(strstr(warnings, "/slashdir' not restored: bad tree "
		                           "entry name 'l/evil': holds a '/'"),
		          "warnings: %s", warnings);
		cr_assert_eq(nwarnings, 4, "one line each: %s", warnings);
		if (getenv("TT_SHOW"))
			fprintf(stderr, "%s", warnings);
		/* the rest of the revision, byte for byte */
		compare(src, restored(out, NULL));
		cr_assert(no_temp_files(out));
	}
	/* beside DEST: nothing written, nothing changed */
	char *after = snapshot_of(canary);
	cr_assert_str_eq(before, after);
	cr_assert(!exists(tt_path("%s/escaped.txt", canary)));
	cr_assert(!exists(tt_path("%s/evil", canary)));
	cr_assert(!exists(tt_path("%s/escaped.txt", dir)));
	struct stat s;
	cr_assert_eq(stat(canary_file, &s), 0);
	cr_assert_eq(s.st_mode & 07777, 0600, "canary mode %o",
	             s.st_mode & 07777);
	free(before);
	free(after);
	tier_vault_free(v);
}

/* ---- deeper than PATH_MAX ------------------------------------------------ */

#define DEEP_LEVELS 60
#define DEEP_NAME   100

static void deep_name(char *buf, int level)
{
	memset(buf, 'a' + level % 26, DEEP_NAME);
	snprintf(buf, 4, "%02d", level);
	buf[2] = 'x';
	buf[DEEP_NAME] = '\0';
}

/* src/deep/<60 levels of 100-character names>/<250-character file name> */
static git_oid add_deep(git_repository *repo, const git_tree *srct,
                        void *payload)
{
	(void)payload;
	git_oid a_node = entry_at(srct, "a.txt");
	git_oid dir_node = node_blob(repo, TIER_NODE_DIR, 0750, NULL);
	char file[251], name[DEEP_NAME + 1];
	memset(file, 'f', 250);
	file[250] = '\0';
	/* and a file whose chunk is in no pack: its message names a path
	 * of 6000 bytes, shortened, the reason kept */
	tier_node bad;
	tier_buf b = TIER_BUF_INIT;
	memset(&bad, 0, sizeof(bad));
	bad.type = TIER_NODE_FILE;
	bad.mode = 0644;
	bad.nchunks = 1;
	bad.chunks = calloc(1, sizeof(*bad.chunks));
	bad.chunks[0].len = 10;
	bad.size = 10; /* a valid node whose chunk is in no pack */
	cr_assert_eq(tier_node_encode(&b, &bad), 0);
	git_oid bad_node = blob_of(repo, b.ptr, b.size);
	tier_buf_dispose(&b);
	free(bad.chunks);
	struct rawent leaf[3] = {{0100644, "%", dir_node},
	                         {0100644, file, a_node},
	                         {0100644, "broken", bad_node}};
	git_oid t = raw_tree(repo, leaf, 3);
	for (int level = DEEP_LEVELS - 1; level >= 0; level--) {
		deep_name(name, level);
		struct rawent e[2] = {{0100644, "%", dir_node},
		                      {040000, name, t}};
		t = raw_tree(repo, e, 2);
	}
	git_treebuilder *tb = NULL;
	git_oid id_out;
	cr_assert_eq(git_treebuilder_new(&tb, repo, srct), 0);
	cr_assert_eq(
	        git_treebuilder_insert(NULL, tb, "deep", &t, GIT_FILEMODE_TREE),
	        0);
	cr_assert_eq(git_treebuilder_write(&id_out, tb), 0);
	git_treebuilder_free(tb);
	return id_out;
}

Test(restore, deeper_than_path_max)
{
	char name[DEEP_NAME + 1], file[251];
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);
	craft(add_deep, NULL);

	v = open_tiers_only();
	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECORRUPT, "restore: %s (%s)", tier_error_last(),
	             warnings);
	cr_assert_eq(st.errors, 1, "%s", warnings);
	cr_assert_eq(st.files, 4); /* a.txt, b.txt, mid.bin, the deep one */
	cr_assert_eq(nwarnings, 1);
	cr_assert(strstr(warnings, "cannot restore '/tmp/"), "%s", warnings);
	cr_assert(strstr(warnings, " bytes)..."), "%s", warnings);
	cr_assert(strstr(warnings, "/broken': chunk 0000000000000000 is in no "
	                           "pack of the vault\n"),
	          "%s", warnings);
	cr_assert_lt(strlen(warnings), 700, "%s", warnings);
	cr_assert_str_eq(tier_error_last(), strtok(warnings, "\n"));

	/* walk down by fds: the path is longer than any syscall takes */
	int fd = open(restored(out, "deep"), O_RDONLY | O_DIRECTORY);
	cr_assert_geq(fd, 0);
	size_t len = strlen(restored(out, "deep"));
	for (int level = 0; level < DEEP_LEVELS; level++) {
		struct stat s;
		deep_name(name, level);
		int nfd = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		cr_assert_geq(nfd, 0, "level %d: %s", level, strerror(errno));
		cr_assert_eq(fstat(nfd, &s), 0);
		cr_assert_eq(s.st_mode & 07777, 0750, "level %d mode %o", level,
		             s.st_mode & 07777);
		cr_assert_eq(s.st_mtim.tv_sec, 1600000000);
		close(fd);
		fd = nfd;
		len += 1 + DEEP_NAME;
	}
	cr_assert_gt(len, 4096, "the test must go past PATH_MAX");
	memset(file, 'f', 250);
	file[250] = '\0';
	int ffd = openat(fd, file, O_RDONLY | O_NOFOLLOW);
	cr_assert_geq(ffd, 0, "%s", strerror(errno));
	char buf[64];
	ssize_t got = read(ffd, buf, sizeof(buf));
	cr_assert_eq(got, 6);
	cr_assert_eq(memcmp(buf, "alpha\n", 6), 0);
	close(ffd);
	close(fd);
	compare(at("sub"), restored(out, "sub"));

	/* again: everything is there already and kept */
	rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECORRUPT, "rerun: %s (%s)", tier_error_last(),
	             warnings);
	cr_assert_eq(st.files, 0);
	cr_assert_eq(st.kept, 4);
	tier_vault_free(v);
}

/* ---- interrupted restores ------------------------------------------------ */

struct seen {
	char path[4200];
	ino_t ino;
	struct timespec ctime;
};

/* Every regular file below p (its name, not a temporary one). */
static size_t complete_files(const char *p, struct seen *out_files, size_t max)
{
	char list[4400];
	size_t n = 0;
	snprintf(list, sizeof(list), "%s/.files", dir);
	tt_sh("find '%s' -type f ! -name '*.tier-tmp' >'%s'", p, list);
	FILE *f = fopen(list, "r");
	cr_assert_not_null(f);
	while (n < max &&
	       fgets(out_files[n].path, sizeof(out_files[n].path), f)) {
		struct stat s;
		out_files[n].path[strcspn(out_files[n].path, "\n")] = '\0';
		cr_assert_eq(stat(out_files[n].path, &s), 0);
		out_files[n].ino = s.st_ino;
		out_files[n].ctime = s.st_ctim;
		n++;
	}
	fclose(f);
	unlink(list);
	return n;
}

/* Many files of one chunk each, and one of many chunks. */
static void make_many_files(void)
{
	cr_assert_eq(mkdir(src, 0755), 0);
	cr_assert_eq(mkdir(at("d"), 0555 | 0200), 0);
	for (int i = 0; i < 24; i++)
		put_big(at(tt_path("d/f%02d.bin", i)), 200u << 10, 100 + i);
	/* after d/ in the walk: half written when the kill comes */
	put_big(at("z.bin"), 24u << 20, 5);
	chmod(at("d"), 0555);
	set_mtime(at("d"), 1600000100, 0);
}

Test(restore, killed_then_rerun_finishes)
{
	make_many_files();
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);

	/* kill -9 (the hook: _exit(137)) after 27 pieces: the 24 small files
	 * of one piece each are complete or not, z.bin (>= 6) is not */
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		setenv("TIER_TEST_RESTORE_KILL", "27", 1);
		tier_vault *cv = open_vault();
		tier_restore_stats cst;
		restore(cv, &cst, 0, out, NULL, 0, 0);
		_exit(0); /* not reached unless the hook is gone */
	}
	int status = 0;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 137,
	          "the restore was not killed (status %d)", status);

	struct seen *done = calloc(64, sizeof(*done));
	size_t ndone = complete_files(out, done, 64);
	cr_assert_gt(ndone, 0, "nothing complete before the kill");
	/* the partial file is under its temporary name only */
	cr_assert(!exists(restored(out, "z.bin")), "partial z.bin");
	cr_assert(exists(restored(out, "z.bin.tier-tmp")),
	          "no partial z.bin.tier-tmp: the kill came too late");

	/* the same command again: it finishes, keeping what was complete */
	v = open_vault();
	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "rerun: %s (%s)", tier_error_last(), warnings);
	compare(src, restored(out, NULL));
	cr_assert(no_temp_files(out));
	cr_assert_eq(st.kept, ndone, "kept %llu of %zu",
	             (unsigned long long)st.kept, ndone);
	cr_assert_eq(st.files + st.kept, 25);
	for (size_t i = 0; i < ndone; i++) {
		struct stat s;
		cr_assert_eq(stat(done[i].path, &s), 0);
		cr_assert_eq(s.st_ino, done[i].ino, "'%s' was rewritten",
		             done[i].path);
		cr_assert(s.st_ctim.tv_sec == done[i].ctime.tv_sec &&
		                  s.st_ctim.tv_nsec == done[i].ctime.tv_nsec,
		          "'%s' was touched", done[i].path);
	}

	/* and with --overwrite: nothing to redo, nothing rewritten */
	ndone = complete_files(out, done, 64);
	rc = restore(v, &st, 0, out, NULL, 0, 1);
	cr_assert_eq(rc, 0, "overwrite: %s", tier_error_last());
	cr_assert_eq(st.files, 0);
	cr_assert_eq(st.kept, 25);
	for (size_t i = 0; i < ndone; i++) {
		struct stat s;
		cr_assert_eq(stat(done[i].path, &s), 0);
		cr_assert_eq(s.st_ino, done[i].ino);
	}
	compare(src, restored(out, NULL));
	free(done);
	tier_vault_free(v);
}

Test(restore, cancelled_then_rerun_finishes)
{
	make_many_files();
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_options o = TIER_RESTORE_OPTIONS_INIT;
	tier_restore_stats st;
	o.dest = out;
	int calls = 0;
	o.progress = cancel_cb; /* Ctrl-C: directories made, no metadata */
	o.payload = &calls;
	int rc = tier_restore_run(&st, v, &o);
	cr_assert_eq(rc, TIER_EABORTED, "rc %d: %s", rc, tier_error_last());
	cr_assert(no_temp_files(out));
	uint64_t before = st.files;

	rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, 0, "rerun: %s (%s)", tier_error_last(), warnings);
	compare(src, restored(out, NULL));
	cr_assert_eq(st.kept, before);
	cr_assert_eq(st.files + st.kept, 25);
	tier_vault_free(v);
}

/* ---- which revision: the newest that holds the paths ------------------ */

static uint64_t push_paths(tier_vault *v, const char *const *paths, size_t n)
{
	tier_write_result *res = NULL;
	tier_push_stats st;
	tier_push_options o = TIER_PUSH_OPTIONS_INIT;
	o.paths = paths;
	o.npaths = n;
	int rc = tier_push_run(&res, &st, v, &o);
	cr_assert_eq(rc, 0, "push: %s", tier_error_last());
	uint64_t rev = res->revision;
	tier_write_result_free(res);
	return rev;
}

Test(restore, newest_revision_holding_the_path)
{
	make_small_tree();
	char other[4200];
	snprintf(other, sizeof(other), "%s/other", dir);
	cr_assert_eq(mkdir(other, 0755), 0);
	put_file(tt_path("%s/o.txt", other), "other job\n", 0644, 1600000000);
	tier_vault *v = init_vault();
	const char *p1[1] = {src}, *p2[1] = {other};
	uint64_t r1 = push_paths(v, p1, 1);
	uint64_t r2 = push_paths(v, p2, 1); /* another job, other paths */
	cr_assert_gt(r2, r1);

	tier_restore_stats st;
	const char *want[1] = {tt_path("%s/sub", src)};
	int rc = restore(v, &st, 0, out, want, 1, 0);
	cr_assert_eq(rc, 0, "restore: %s", tier_error_last());
	cr_assert_eq(st.revision, r1);
	cr_assert_eq(st.latest, r2);
	compare(at("sub"), restored(out, "sub"));

	/* -r names a revision without it: the message says which has it */
	char out2[4200], msg[512];
	snprintf(out2, sizeof(out2), "%s/out2", dir);
	rc = restore(v, &st, r2, out2, want, 1, 0);
	cr_assert_eq(rc, TIER_ENOTFOUND);
	snprintf(msg, sizeof(msg),
	         "'%s/sub' is not in revision %llu (revision %llu is the "
	         "newest that holds it)",
	         src, (unsigned long long)r2, (unsigned long long)r1);
	cr_assert_str_eq(tier_error_last(), msg);
	cr_assert(!exists(out2));

	const char *none[1] = {"/no/such/file"};
	rc = restore(v, &st, 0, out2, none, 1, 0);
	cr_assert_eq(rc, TIER_ENOTFOUND);
	snprintf(msg, sizeof(msg),
	         "'/no/such/file' is not in revision %llu (nor in any other)",
	         (unsigned long long)r2);
	cr_assert_str_eq(tier_error_last(), msg);

	/* no path: the latest, whatever it holds */
	rc = restore(v, &st, 0, out2, NULL, 0, 0);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	cr_assert_eq(st.revision, r2);
	tier_vault_free(v);
}

/* ---- objects over the format's bounds -------------------------------- */

static git_oid add_huge(git_repository *repo, const git_tree *srct,
                        void *payload)
{
	(void)payload;
	/* a node blob of 64 MiB + 1 (zeros after the header: a tiny pack) */
	size_t len = (64u << 20) + 1;
	char *big = calloc(1, len);
	memcpy(big, "tier-node 1\ntype file\n", 22);
	git_oid huge = blob_of(repo, big, len);
	free(big);
	git_treebuilder *tb = NULL;
	git_oid id_out;
	cr_assert_eq(git_treebuilder_new(&tb, repo, srct), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, "huge", &huge,
	                                    GIT_FILEMODE_BLOB),
	             0);
	cr_assert_eq(git_treebuilder_write(&id_out, tb), 0);
	git_treebuilder_free(tb);
	return id_out;
}

Test(restore, node_blob_over_the_bound_is_not_read)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);
	craft(add_huge, NULL);

	/* memory: the restore in a child, its peak resident size measured */
	fflush(NULL);
	pid_t pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		tier_vault *cv = open_tiers_only();
		tier_restore_stats cst;
		char o2[4300];
		snprintf(o2, sizeof(o2), "%s/out-child", dir);
		int crc = restore(cv, &cst, 0, o2, NULL, 0, 0);
		tier_vault_free(cv);
		_exit(crc == TIER_ECORRUPT ? 0 : 1);
	}
	int status = 0;
	struct rusage ru;
	cr_assert_eq(wait4(pid, &status, 0, &ru), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	if (getenv("TT_SHOW"))
		fprintf(stderr, "peak rss %ld KiB\n", ru.ru_maxrss);
#ifndef __SANITIZE_ADDRESS__ /* its shadow memory is counted too */
	/* 8 MiB measured; reading the blob would take 64 MiB */
	cr_assert_lt(ru.ru_maxrss, 40 * 1024, "peak rss %ld KiB", ru.ru_maxrss);
#endif

	v = open_tiers_only();
	tier_restore_stats st;
	int rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECORRUPT, "rc %d: %s", rc, tier_error_last());
	cr_assert_eq(st.errors, 1, "%s", warnings);
	cr_assert(strstr(warnings, "the metadata of '") &&
	                  strstr(warnings, "/huge' (object ") &&
	                  strstr(warnings, " is 67108865 bytes, over the "
	                                   "format's limit of 67108864"),
	          "%s", warnings);
	compare(src, restored(out, NULL));
	tier_vault_free(v);
}

/* ---- links in DEST ------------------------------------------------------ */

Test(restore, symlink_in_dest_is_never_followed)
{
	char canary[4200];
	make_small_tree();
	snprintf(canary, sizeof(canary), "%s/canary", dir);
	cr_assert_eq(mkdir(canary, 0700), 0);
	char *before = snapshot_of(canary);
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_stats st;
	cr_assert_eq(restore(v, &st, 0, out, NULL, 0, 0), 0, "%s",
	             tier_error_last());

	/* sub/ in DEST is now a link out of it */
	cr_assert_eq(tt_sh("rm -rf '%s'", restored(out, "sub")), 0);
	cr_assert_eq(symlink(canary, restored(out, "sub")), 0);

	/* a restore of a path below it: the link is neither followed nor
	 * replaced (it is above the path asked for) */
	const char *below[1] = {tt_path("%s/sub/b.txt", src)};
	int rc = restore(v, &st, 0, out, below, 1, 1);
	cr_assert_eq(rc, TIER_ECONFLICT, "rc %d: %s", rc, tier_error_last());
	cr_assert(strstr(tier_error_last(), "/sub' is not a directory"), "%s",
	          tier_error_last());

	/* the whole revision: without --overwrite a conflict, found before
	 * anything is written */
	rc = restore(v, &st, 0, out, NULL, 0, 0);
	cr_assert_eq(rc, TIER_ECONFLICT, "rc %d: %s", rc, tier_error_last());
	cr_assert(strstr(tier_error_last(), "/sub' exists already"), "%s",
	          tier_error_last());

	/* with it, the link is replaced by the directory */
	rc = restore(v, &st, 0, out, NULL, 0, 1);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	compare(src, restored(out, NULL));
	char *after = snapshot_of(canary);
	cr_assert_str_eq(before, after);
	free(before);
	free(after);
	tier_vault_free(v);
}
