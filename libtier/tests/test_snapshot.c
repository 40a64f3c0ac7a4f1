/* Snapshot encoding: entry names, node blobs, the chunk map. */
#include <criterion/criterion.h>
#include <string.h>

#include "helpers.h"
#include "pack.h"
#include "snapshot.h"
#include "tier/errors.h"

static void roundtrip(const char *name, size_t len)
{
	tier_buf enc = TIER_BUF_INIT, dec = TIER_BUF_INIT;
	cr_assert_eq(tier_snap_name_encode(&enc, name, len), 0);
	cr_assert_eq(tier_snap_name_decode(&dec, enc.ptr), 0, "decode '%s'",
	             enc.ptr);
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
	cr_assert_eq(tier_snap_name_encode(&enc, "report-2026.pdf", 15), 0);
	cr_assert_str_eq(enc.ptr, "report-2026.pdf");
	cr_assert_eq(tier_snap_name_encode(&enc, "été.txt", strlen("été.txt")),
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
	cr_assert_eq(tier_snap_name_decode(&dec, "%"), TIER_ECORRUPT);
	cr_assert_eq(tier_snap_name_decode(&dec, "%%4"), TIER_ECORRUPT);
	cr_assert_eq(tier_snap_name_decode(&dec, "%%2F"), TIER_ECORRUPT);
	cr_assert_eq(tier_snap_name_decode(&dec, "%%00"), TIER_ECORRUPT);
	tier_buf_dispose(&dec);
}

/* What a hostile tier can put in a tree entry name (libgit2 takes '/'). */
Test(snapshot, names_that_leave_the_directory_are_corrupt)
{
	const char *bad[] = {"..",      ".",     "../../escaped.txt", "a/b",
	                     "%2E%2E",  "%2E.",  "%2E",               "x%2Fy",
	                     "%..%2Fx", "/abs",  "%41",               ".hidden",
	                     "%61bc",   "a%00b", "%%2E%2E"};
	tier_buf dec = TIER_BUF_INIT;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_assert_eq(tier_snap_name_decode(&dec, bad[i]), TIER_ECORRUPT,
		             "'%s' must be rejected", bad[i]);
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
	cr_assert_eq(git_repository_init(&repo, tt_path("%s/r.git", dir), 1), 0);
	cr_assert_eq(git_blob_create_from_buffer(&blob, repo, "x", 1), 0);
	/* a clean tree passes */
	cr_assert_eq(git_treebuilder_new(&tb, repo, NULL), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, "a", &blob, GIT_FILEMODE_BLOB), 0);
	cr_assert_eq(git_treebuilder_insert(NULL, tb, "%", &blob, GIT_FILEMODE_BLOB), 0);
	cr_assert_eq(git_treebuilder_write(&tid, tb), 0);
	git_treebuilder_free(tb);
	cr_assert_eq(git_tree_lookup(&t, repo, &tid), 0);
	cr_assert_eq(tier_snap_tree_check(t), 0);
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
	cr_assert_eq(git_odb_write(&tid, odb, raw.ptr, raw.size, GIT_OBJECT_TREE), 0);
	cr_assert_eq(git_tree_lookup(&t, repo, &tid), 0);
	cr_assert_eq(tier_snap_tree_check(t), TIER_ECORRUPT);
	cr_assert(strstr(tier_error_last(), "duplicate"), "%s", tier_error_last());
	git_tree_free(t);

	/* a '/' inside an entry name */
	tier_buf_clear(&raw);
	tier_buf_puts(&raw, "100644 ../../escaped.txt");
	tier_buf_putc(&raw, '\0');
	tier_buf_put(&raw, blob.id, GIT_OID_RAWSZ);
	cr_assert_eq(git_odb_write(&tid, odb, raw.ptr, raw.size, GIT_OBJECT_TREE), 0);
	cr_assert_eq(git_tree_lookup(&t, repo, &tid), 0);
	cr_assert_eq(tier_snap_tree_check(t), TIER_ECORRUPT);
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
		cr_assert_eq(
		        tier_snap_name_encode(&enc, names[i], strlen(names[i])),
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
	n.type = TIER_NODE_SYMLINK;
	n.mode = 0755;
	n.uid = 1000;
	n.gid = 100;
	n.size = 1048593;
	n.mtime_sec = 1700000000;
	n.mtime_nsec = 123456789;
	n.ctime_sec = -5;
	n.ino = 42;
	n.dev = 2049;
	n.target = "../with space/%and\nnewline";
	n.target_len = strlen(n.target);
	n.nchunks = 2;
	n.chunks = ch;
	tier_buf b = TIER_BUF_INIT;
	cr_assert_eq(tier_node_encode(&b, &n), 0);
	cr_assert_eq(tier_node_decode(&d, b.ptr, b.size), 0, "%s",
	             tier_error_last());
	cr_assert_eq(d.type, TIER_NODE_SYMLINK);
	cr_assert_eq(d.mode, 0755);
	cr_assert_eq(d.uid, 1000);
	cr_assert_eq(d.size, 1048593);
	cr_assert_eq(d.mtime_sec, 1700000000);
	cr_assert_eq(d.mtime_nsec, 123456789);
	cr_assert_eq(d.ctime_sec, -5);
	cr_assert_eq(d.ino, 42);
	cr_assert_eq(d.target_len, n.target_len);
	cr_assert(memcmp(d.target, n.target, n.target_len) == 0);
	cr_assert_eq(d.nchunks, 2);
	cr_assert_eq(d.chunks[0].len, 1048576);
	cr_assert(memcmp(d.chunks[1].id, ch[1].id, 32) == 0);
	tier_node_dispose(&d);
	/* damage is detected, not misread */
	cr_assert_eq(tier_node_decode(&d, "tier-node 1\ntype bogus\n", 23),
	             TIER_ECORRUPT);
	cr_assert_eq(tier_node_decode(&d, "garbage", 7), TIER_ECORRUPT);
	cr_assert_eq(tier_node_decode(
	                     &d, "tier-node 1\ntype file\nchunk zz 1\n", 33),
	             TIER_ECORRUPT);
	tier_buf_dispose(&b);
}

Test(snapshot, chunkmap_from_index_tree)
{
	const char *dir = tt_tmpdir();
	git_libgit2_init();
	git_repository *repo = NULL;
	cr_assert_eq(git_repository_init(&repo, tt_path("%s/repo", dir), 1), 0);
	/* two real packs */
	unsigned char ids[2][32];
	tier_buf tails[2] = {TIER_BUF_INIT, TIER_BUF_INIT};
	unsigned char cid[3][32];
	for (int p = 0; p < 2; p++) {
		tier_pack_writer *w = NULL;
		cr_assert_eq(tier_pack_writer_new(&w, dir), 0);
		for (int c = 0; c < 2; c++) {
			char data[100];
			memset(data, 'a' + p + c, sizeof(data));
			tier_sha256(cid[p + c], data, sizeof(data));
			cr_assert_eq(tier_pack_writer_add(w, cid[p + c], data,
			                                  sizeof(data)),
			             0);
		}
		char *path = NULL;
		cr_assert_eq(tier_pack_writer_finish(w, ids[p], &path), 0);
		tier_pack_writer_free(w);
		size_t len = 0;
		char *all = tt_read_file(path, &len);
		size_t tail = len - TIER_PACK_HEADER_SIZE - 0;
		(void)tail;
		/* the tail: index + trailer = 2 entries + trailer */
		size_t tl = 2 * TIER_PACK_ENTRY_SIZE + TIER_PACK_TRAILER_SIZE;
		tier_buf_put(&tails[p], all + len - tl, tl);
		free(all);
		free(path);
	}
	git_oid index, tree;
	cr_assert_eq(tier_snap_index_add(&index, repo, NULL, 2,
	                                 (const unsigned char(*)[32])ids,
	                                 tails),
	             0, "%s", tier_error_last());
	cr_assert_eq(tier_snap_compose(&tree, repo, NULL, NULL, &index), 0);
	git_tree *t = NULL;
	cr_assert_eq(git_tree_lookup(&t, repo, &tree), 0);
	tier_chunkmap *m = NULL;
	cr_assert_eq(tier_chunkmap_load(&m, repo, t), 0, "%s",
	             tier_error_last());
	cr_assert_eq(tier_chunkmap_pack_count(m), 2);
	cr_assert_eq(tier_chunkmap_count(m), 3,
	             "the chunk in both packs counts once");
	for (int i = 0; i < 3; i++)
		cr_assert_not_null(tier_chunkmap_find(m, cid[i]));
	unsigned char none[32] = {0};
	cr_assert_null(tier_chunkmap_find(m, none));
	tier_chunkmap_free(m);
	git_tree_free(t);
	git_repository_free(repo);
	tier_buf_dispose(&tails[0]);
	tier_buf_dispose(&tails[1]);
	tt_rmrf(dir);
}
