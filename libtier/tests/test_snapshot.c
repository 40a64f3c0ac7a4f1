/* Snapshot encoding: entry names, node blobs (the chunk map: test_chunkmap.c). */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"
#include "snapshot.h"
#include "tier/errors.h"

static void roundtrip(const char *name, size_t len)
{
	tier_buf enc = TIER_BUF_INIT, dec = TIER_BUF_INIT;
	cr_assert_eq(tier_snap_name_encode(&enc, NULL, name, len), 0);
	cr_assert_eq(tier_snap_name_decode(&dec, NULL, enc.ptr), 0,
	             "decode '%s'", enc.ptr);
	cr_assert_eq(dec.size, len);
	cr_assert(memcmp(dec.ptr, name, len) == 0,
	          "round trip of '%s' via '%s'", name, enc.ptr);
	/* git must accept it as a tree entry and it must never be the dirmeta entry */
	cr_assert_str_neq(enc.ptr, TIER_SNAP_DIRMETA);
	cr_assert_neq(enc.ptr[0], '.');
	tier_buf_dispose(&enc);
	tier_buf_dispose(&dec);
}

Test(snapshot, plain_names_stay_readable)
{
	tier_buf enc = TIER_BUF_INIT;
	cr_assert_eq(tier_snap_name_encode(&enc, NULL, "report-2026.pdf", 15),
	             0);
	cr_assert_str_eq(enc.ptr, "report-2026.pdf");
	cr_assert_eq(
	        tier_snap_name_encode(&enc, NULL, "été.txt", strlen("été.txt")),
	        0);
	cr_assert_eq(enc.ptr[0], '%', "leading non-ASCII byte is escaped");
	tier_buf_dispose(&enc);
}

Test(snapshot, every_name_round_trips)
{
	const char *names[] = {".git",   ".GIT",      ".gitmodules", "git~1",
	                       "GIT~1",  "%",         "%%",          "%41",
	                       "...",    ".x.",       "a b",         " lead",
	                       "trail ", "tab\there", "nl\nx",       "ünïcödé",
	                       "\x7f",   "x~y",       ".hidden",     "-dash",
	                       "%2F"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		roundtrip(names[i], strlen(names[i]));
	char all[255];
	for (int i = 0; i < 255; i++)
		all[i] = (char)(i + 1 == '/' ? 'x' : i + 1);
	roundtrip(all, sizeof(all));
}

Test(snapshot, bad_entries_are_corrupt)
{
	tier_buf dec = TIER_BUF_INIT;
	cr_assert_eq(tier_snap_name_decode(&dec, NULL, "%"), TIER_ECORRUPT);
	cr_assert_eq(tier_snap_name_decode(&dec, NULL, "%%4"), TIER_ECORRUPT);
	cr_assert_eq(tier_snap_name_decode(&dec, NULL, "%%2F"), TIER_ECORRUPT);
	cr_assert_eq(tier_snap_name_decode(&dec, NULL, "%%00"), TIER_ECORRUPT);
	tier_buf_dispose(&dec);
}

/* What a hostile tier can put in a tree entry name (libgit2 takes '/'). */
Test(snapshot, names_that_leave_the_directory_are_corrupt)
{
	const char *bad[] = {"..",    ".",      "../../escaped.txt",
	                     "a/b",   "%2E%2E", "%2E.",
	                     "%2E",   "x%2Fy",  "%..%2Fx",
	                     "/abs",  "%41",    ".hidden",
	                     "%61bc", "a%00b",  "%%2E%2E"};
	tier_buf dec = TIER_BUF_INIT;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(tier_snap_name_decode(&dec, NULL, bad[i]),
		             TIER_ECORRUPT, "'%s' must be rejected", bad[i]);
		cr_assert_eq(dec.size, 0);
		cr_assert(strstr(tier_error_last(), "bad tree entry name"));
	}
	tier_buf_dispose(&dec);
}

Test(snapshot, tree_check_finds_duplicates_and_bad_names)
{
	const char *dir = tt_tmpdir();
	git_repository *repo;
	git_treebuilder *tb;
	git_oid blob, tid;
	git_tree *t;

	git_libgit2_init();
	cr_assert_eq(git_repository_init(&repo, tt_path("%s/r.git", dir), 1),
	             0);
	cr_assert_eq(git_blob_create_from_buffer(&blob, repo, "x", 1), 0);
	/* a clean tree passes */
	cr_assert_eq(git_treebuilder_new(&tb, repo, NULL), 0);
	cr_assert_eq(
	        git_treebuilder_insert(NULL, tb, "a", &blob, GIT_FILEMODE_BLOB),
	        0);
	cr_assert_eq(
	        git_treebuilder_insert(NULL, tb, "%", &blob, GIT_FILEMODE_BLOB),
	        0);
	cr_assert_eq(git_treebuilder_write(&tid, tb), 0);
	git_treebuilder_free(tb);
	cr_assert_eq(git_tree_lookup(&t, repo, &tid), 0);
	cr_assert_eq(tier_snap_tree_check(t, NULL), 0);
	git_tree_free(t);

	/* a raw tree object with the same entry twice (git mktree refuses it,
	 * a hostile tier does not) */
	tier_buf raw = TIER_BUF_INIT;
	for (int i = 0; i < 2; i++) {
		tier_buf_puts(&raw, "100644 a");
		tier_buf_putc(&raw, '\0');
		tier_buf_put(&raw, blob.id, GIT_OID_RAWSZ);
	}
	git_odb *odb;
	cr_assert_eq(git_repository_odb(&odb, repo), 0);
	cr_assert_eq(
	        git_odb_write(&tid, odb, raw.ptr, raw.size, GIT_OBJECT_TREE),
	        0);
	cr_assert_eq(git_tree_lookup(&t, repo, &tid), 0);
	cr_assert_eq(tier_snap_tree_check(t, NULL), TIER_ECORRUPT);
	cr_assert(strstr(tier_error_last(), "duplicate"), "%s",
	          tier_error_last());
	git_tree_free(t);

	/* a '/' inside an entry name */
	tier_buf_clear(&raw);
	tier_buf_puts(&raw, "100644 ../../escaped.txt");
	tier_buf_putc(&raw, '\0');
	tier_buf_put(&raw, blob.id, GIT_OID_RAWSZ);
	cr_assert_eq(
	        git_odb_write(&tid, odb, raw.ptr, raw.size, GIT_OBJECT_TREE),
	        0);
	cr_assert_eq(git_tree_lookup(&t, repo, &tid), 0);
	cr_assert_eq(tier_snap_tree_check(t, NULL), TIER_ECORRUPT);
	git_tree_free(t);
	git_odb_free(odb);
	tier_buf_dispose(&raw);
	git_repository_free(repo);
	git_libgit2_shutdown();
	tt_rmrf(dir);
}

Test(snapshot, git_fsck_strict_accepts_escaped_trees)
{
	const char *dir = tt_tmpdir();
	git_libgit2_init();
	git_repository *repo = NULL;
	cr_assert_eq(git_repository_init(&repo, dir, 1), 0);
	git_treebuilder *tb = NULL;
	cr_assert_eq(git_treebuilder_new(&tb, repo, NULL), 0);
	const char *names[] = {".git",     ".gitmodules",    "git~1",
	                       "GI7EBA~1", ".gitattributes", "%",
	                       "ok"};
	git_oid blob, tree, commit;
	cr_assert_eq(git_blob_create_from_buffer(&blob, repo, "x", 1), 0);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		tier_buf enc = TIER_BUF_INIT;
		cr_assert_eq(tier_snap_name_encode(&enc, NULL, names[i],
		                                   strlen(names[i])),
		             0);
		cr_assert_eq(git_treebuilder_insert(NULL, tb, enc.ptr, &blob,
		                                    GIT_FILEMODE_BLOB),
		             0, "libgit2 takes '%s'", enc.ptr);
		tier_buf_dispose(&enc);
	}
	cr_assert_eq(git_treebuilder_write(&tree, tb), 0);
	git_signature *sig = NULL;
	git_tree *t = NULL;
	git_signature_now(&sig, "t", "t@t");
	git_tree_lookup(&t, repo, &tree);
	cr_assert_eq(git_commit_create(&commit, repo, "refs/heads/main", sig,
	                               sig, NULL, "m", t, 0, NULL),
	             0);
	cr_assert_eq(
	        tt_sh("git --git-dir=%s fsck --strict >/dev/null 2>&1", dir),
	        0);
	git_tree_free(t);
	git_signature_free(sig);
	git_treebuilder_free(tb);
	git_repository_free(repo);
	tt_rmrf(dir);
}

Test(snapshot, node_blob_round_trip)
{
	tier_node n = {0}, d;
	tier_chunk_ref ch[2];
	memset(ch, 0xab, sizeof(ch));
	ch[0].len = 1048576;
	ch[1].len = 17;
	n.type = TIER_NODE_FILE;
	n.mode = 04755;
	n.uid = 4294967295u;
	n.gid = 100;
	n.size = 1048593;
	n.mtime_sec = 1700000000;
	n.mtime_nsec = 123456789;
	n.ctime_sec = -5;
	n.ino = 42;
	n.dev = UINT64_MAX;
	n.nchunks = 2;
	n.chunks = ch;
	tier_buf b = TIER_BUF_INIT;
	cr_assert_eq(tier_node_encode(&b, NULL, &n), 0);
	cr_assert_eq(tier_node_decode(&d, NULL, b.ptr, b.size), 0, "%s",
	             tier_error_last());
	cr_assert_eq(d.type, TIER_NODE_FILE);
	cr_assert_eq(d.mode, 04755);
	cr_assert_eq(d.uid, 4294967295u);
	cr_assert_eq(d.gid, 100);
	cr_assert_eq(d.size, 1048593);
	cr_assert_eq(d.mtime_sec, 1700000000);
	cr_assert_eq(d.mtime_nsec, 123456789);
	cr_assert_eq(d.ctime_sec, -5);
	cr_assert_eq(d.ino, 42);
	cr_assert_eq(d.dev, UINT64_MAX);
	cr_assert_null(d.target);
	cr_assert_eq(d.nchunks, 2);
	cr_assert_eq(d.chunks[0].len, 1048576);
	cr_assert(memcmp(d.chunks[1].id, ch[1].id, 32) == 0);
	tier_node_dispose(&d);

	/* a symlink: its target's bytes, escaped and back */
	memset(&n, 0, sizeof(n));
	n.type = TIER_NODE_SYMLINK;
	n.mode = 0777;
	n.mtime_sec = INT64_MIN;
	n.target = "../with space/%and\nnewline";
	n.target_len = strlen(n.target);
	cr_assert_eq(tier_node_encode(&b, NULL, &n), 0);
	cr_assert_eq(tier_node_decode(&d, NULL, b.ptr, b.size), 0, "%s",
	             tier_error_last());
	cr_assert_eq(d.type, TIER_NODE_SYMLINK);
	cr_assert_eq(d.mode, 0777);
	cr_assert_eq(d.mtime_sec, INT64_MIN);
	cr_assert_eq(d.target_len, n.target_len);
	cr_assert(memcmp(d.target, n.target, n.target_len) == 0);
	tier_node_dispose(&d);

	/* a device */
	memset(&n, 0, sizeof(n));
	n.type = TIER_NODE_CHAR;
	n.mode = 0620;
	n.rdev = 0x8801;
	cr_assert_eq(tier_node_encode(&b, NULL, &n), 0);
	cr_assert_eq(tier_node_decode(&d, NULL, b.ptr, b.size), 0, "%s",
	             tier_error_last());
	cr_assert_eq(d.rdev, 0x8801);
	tier_node_dispose(&d);

	/* keys a later version adds are skipped */
	const char *later = "tier-node 1\ntype dir\nmode 755\nxattr user.x 1\n";
	cr_assert_eq(tier_node_decode(&d, NULL, later, strlen(later)), 0, "%s",
	             tier_error_last());
	cr_assert_eq(d.type, TIER_NODE_DIR);
	tier_node_dispose(&d);
	tier_buf_dispose(&b);
}

#define H  "tier-node 1\n"
#define ID "abababababababababababababababababababababababababababababababab"
#define F  H "type file\nmode 644\n"

/* A node from a hostile tier is refused whole, never read as zeros. */
Test(snapshot, node_blob_damage_is_refused)
{
	static const struct {
		const char *blob, *says;
	} bad[] = {
	        {"garbage", "no 'tier-node 1' header"},
	        {H "type bogus\nmode 644\n", "unknown type 'bogus'"},
	        {H "mode 644\n", "no type"},
	        {H "type file\n", "no mode"},
	        /* mode overflow: restored as 0000 before */
	        {H "type file\nmode 10644\n", "mode '10644' is not an octal"},
	        {H "type file\nmode 7777777777777777777777\n", "mode"},
	        {H "type file\nmode 0x1ff\n", "mode '0x1ff'"},
	        {H "type file\nmode 648\n", "mode '648'"},
	        {H "type file\nmode -1\n", "mode '-1'"},
	        {H "type file\nmode \n", "mode '' is not"},
	        /* duplicate keys */
	        {H "type file\nmode 644\nmode 4755\n", "'mode' given twice"},
	        {H "type file\ntype dir\nmode 644\n", "'type' given twice"},
	        {F "size 1\nsize 2\n", "'size' given twice"},
	        /* numbers overflowing their field, or not numbers */
	        {F "uid 4294967296\n", "uid '4294967296' is not a number up to "
	                               "4294967295"},
	        {F "gid -1\n", "gid '-1'"},
	        {F "uid  5\n", "uid ' 5'"},
	        {F "size 18446744073709551616\n",
	         "size '18446744073709551616'"},
	        {F "ino 12a\n", "ino '12a'"},
	        {F "mtime 1700000000\n", "mtime '1700000000' is not"},
	        {F "mtime 1.1234567890\n", "mtime"},
	        {F "ctime 9223372036854775808.000000000\n", "ctime"},
	        {F "mtime 1.-23456789\n", "mtime"},
	        /* a target on a non-symlink, a symlink without one */
	        {F "target /etc\n", "a target on a file"},
	        {H "type dir\nmode 755\ntarget /etc\n", "a target on a dir"},
	        {H "type symlink\nmode 777\n", "symlink without a target"},
	        {H "type symlink\nmode 777\ntarget \n", "target of 0 bytes"},
	        {H "type symlink\nmode 777\ntarget a%00b\n", "NUL byte"},
	        {H "type symlink\nmode 777\ntarget a%zz\n", "bad %XX escape"},
	        {H "type symlink\nmode 777\ntarget a\ntarget b\n",
	         "'target' given twice"},
	        {F "rdev 5\n", "a device number on a file"},
	        /* chunks: length 0, over the chunker's largest, sum != size */
	        {F "size 0\nchunk " ID " 0\n", "chunk of 0 bytes"},
	        {F "size 67108865\nchunk " ID " 67108865\n",
	         "chunk of 67108865 bytes"},
	        {F "size 1\nchunk " ID " 4294967296\n", "chunk line"},
	        {F "size 5\nchunk " ID " 3\n", "chunks add up to 3 bytes, not "
	                                       "the size 5"},
	        {F "chunk " ID " 3\n", "not the size 0"},
	        {F "size 3\nchunk zz 3\n", "chunk line"},
	        {F "size 3\nchunk " ID "x3\n", "chunk line"},
	        {H "type dir\nmode 755\nchunk " ID " 3\n", "chunks on a dir"},
	        /* lines */
	        {F "size 3", "line 4 does not end"},
	        {F "size\n", "line 4 is not 'key value'"},
	        {F " 3\n", "line 4 is not 'key value'"},
	};
	/* a target longer than any file system takes (ENAMETOOLONG, exit 2) */
	tier_buf big = TIER_BUF_INIT;
	tier_buf_puts(&big, H "type symlink\nmode 777\ntarget ");
	for (int i = 0; i < 4096; i++)
		tier_buf_putc(&big, 'x');
	tier_buf_putc(&big, '\n');
	tier_node d;
	cr_assert_eq(tier_node_decode(&d, NULL, big.ptr, big.size),
	             TIER_ECORRUPT);
	cr_assert(strstr(tier_error_last(), "target of 4096 bytes"), "%s",
	          tier_error_last());
	big.size -= 2; /* 4095 bytes: the longest a link can be */
	tier_buf_putc(&big, '\n');
	cr_assert_eq(tier_node_decode(&d, NULL, big.ptr, big.size), 0, "%s",
	             tier_error_last());
	cr_assert_eq(d.target_len, 4095);
	tier_node_dispose(&d);
	tier_buf_dispose(&big);

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&d, 0x5a, sizeof(d));
		cr_assert_eq(tier_node_decode(&d, NULL, bad[i].blob,
		                              strlen(bad[i].blob)),
		             TIER_ECORRUPT, "accepted: %s", bad[i].blob);
		const char *msg = tier_error_last();
		cr_assert(strstr(msg, bad[i].says), "'%s' gave '%s'",
		          bad[i].blob, msg);
		cr_assert_null(strchr(msg, '\n'), "one line: %s", msg);
		cr_assert_null(d.chunks, "nothing left allocated");
		cr_assert_null(d.target);
	}
}
