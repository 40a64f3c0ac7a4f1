/*
 * What the restore tests share (test_restore*.c): a fresh directory with
 * two file tiers per test, a vault, pushes and restores, source trees and
 * their comparison with what was restored, and tiers whose logs are
 * crafted as a hostile tier would write them.
 */
#include "helpers_restore.h"

#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "tier/push.h"

const char *dir;
char tier_a[4200], tier_b[4200], state[4200], src[4200], out[4200];
char path_a[4200], path_b[4200];

void restore_setup(void)
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

void restore_teardown(void)
{
	tt_rmrf(dir);
}

/* ---- vault helpers ------------------------------------------------------ */

tier_vault_options vopts(const char *st, int with_tiers)
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

tier_vault *init_vault(void)
{
	tier_vault *v = NULL;
	tier_vault_options o = vopts(state, 1);
	int rc = tier_vault_init(&v, &o);
	cr_assert_eq(rc, 0, "init: %s", tier_error_last());
	return v;
}

tier_vault *open_vault(void)
{
	tier_vault *v = NULL;
	tier_vault_options o = vopts(state, 0);
	int rc = tier_vault_open(&v, &o);
	cr_assert_eq(rc, 0, "open: %s", tier_error_last());
	return v;
}

uint64_t push(tier_vault *v, const char *path)
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
char warnings[16384];
int nwarnings;

static void on_warning(const char *msg, void *payload)
{
	(void)payload;
	nwarnings++;
	strncat(warnings, msg, sizeof(warnings) - strlen(warnings) - 2);
	strcat(warnings, "\n");
}

int restore(tier_vault *v, tier_restore_stats *st, uint64_t rev,
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

void set_mtime(const char *path, time_t sec, long nsec)
{
	struct timespec ts[2] = {{sec, nsec}, {sec, nsec}};
	cr_assert_eq(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0,
	             "utimensat %s: %s", path, strerror(errno));
}

void put_file(const char *path, const char *text, mode_t mode, time_t sec)
{
	cr_assert_eq(tt_write_file(path, text, strlen(text)), 0, "write %s",
	             path);
	chmod(path, mode);
	set_mtime(path, sec, 123456789);
}

/* Pseudo-random bytes that lz4 cannot shrink much, half compressible text. */
void put_big(const char *path, size_t size, uint64_t seed)
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

const char *at(const char *rel)
{
	return tt_path("%s/%s", src, rel);
}

/* Everything the brief asks a full round trip to keep. */
void make_full_tree(void)
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

void make_small_tree(void)
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
void compare(const char *want_arg, const char *got_arg)
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
const char *restored(const char *dest, const char *rel)
{
	return rel ? tt_path("%s%s/%s", dest, src, rel)
	           : tt_path("%s%s", dest, src);
}

int exists(const char *p)
{
	struct stat st;
	return lstat(p, &st) == 0;
}

/* No "<name>.tier-tmp" anywhere below p. */
int no_temp_files(const char *p)
{
	return tt_sh("test -z \"$(find '%s' -name '*.tier-tmp' | head -n 1)\"",
	             p) == 0;
}

/* A listing of a directory (names, types, modes, sizes, mtimes): equal
 * before and after means nothing was written there. */
char *snapshot_of(const char *d)
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

/* ---- hostile tiers: trees crafted in the tiers' logs -------------------- */

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
git_oid raw_tree(git_repository *repo, struct rawent *e, size_t n)
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

git_oid blob_of(git_repository *repo, const void *data, size_t len)
{
	git_oid id;
	cr_assert_eq(git_blob_create_from_buffer(&id, repo, data, len), 0);
	return id;
}

git_oid node_blob(git_repository *repo, tier_node_type type, unsigned mode,
                  const char *target)
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
	cr_assert_eq(tier_node_encode(&b, NULL, &n), 0);
	git_oid id = blob_of(repo, b.ptr, b.size);
	tier_buf_dispose(&b);
	return id;
}

/* The id of the entry at a '/'-separated path below tree. */
git_oid entry_at(const git_tree *tree, const char *path)
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
size_t src_comps(char *comps[16])
{
	static char copy[4200];
	size_t n = 0;
	snprintf(copy, sizeof(copy), "%s", src + 1);
	for (char *s = strtok(copy, "/"); s && n < 16; s = strtok(NULL, "/"))
		comps[n++] = s;
	return n;
}

/* One tier's log changed by add (craft_fn, helpers_restore.h). */
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

void craft(craft_fn add, void *payload)
{
	craft_tier(path_a, add, payload);
	craft_tier(path_b, add, payload);
}

/* The vault from its tiers alone (no installation: nothing remembers the
 * honest head), as on the machine that restores after a loss. */
tier_vault *open_tiers_only(void)
{
	tier_vault *v = NULL;
	tier_vault_options o = vopts(NULL, 1);
	int rc = tier_vault_open(&v, &o);
	cr_assert_eq(rc, 0, "open: %s", tier_error_last());
	return v;
}
