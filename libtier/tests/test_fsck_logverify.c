/* --read-data of a log pack in bounded memory (fsck_logverify.c): packs
 * git itself wrote, with offset and with id deltas, verify; a pack whose
 * idx is sound but is another pack's, or a damaged object, does not. */
#include <criterion/criterion.h>
#include <git2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fsck_log.h"
#include "helpers.h"
#include "tier/errors.h"
#include "tier/location.h"
#include "util/buf.h"
#include "util/error.h"

static const char *dir;
static tier_location *loc;

static void setup(void)
{
	git_libgit2_init();
	dir = tt_tmpdir();
	/* 400 similar files over 20 commits: git deltas most of them */
	cr_assert_eq(
	        tt_sh("cd %s && git init -q w && cd w && "
	              "git config user.email t@t && git config user.name t && "
	              "for c in $(seq 1 20); do for f in $(seq 1 20); do "
	              "seq 1 $((f * 40 + c)) > f$f.txt; done; "
	              "git add -A && git commit -qm c$c; done",
	              dir),
	        0);
	cr_assert_eq(
	        tier_location_open(&loc, tt_path("file://%s/w", dir), NULL), 0,
	        "%s", tier_error_last());
}

static void teardown(void)
{
	tier_location_free(loc);
	loc = NULL;
	git_libgit2_shutdown();
}

TestSuite(logverify, .init = setup, .fini = teardown);

/* The one pack under .git/objects/pack, as "pack-<hex>" (static). */
static const char *the_pack(void)
{
	static char name[64];
	FILE *f = popen(
	        tt_path("cd %s/w/.git/objects/pack && ls pack-*.pack", dir),
	        "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(name, sizeof(name), f));
	pclose(f);
	name[strcspn(name, ".")] = '\0';
	return name;
}

/* Verify the pack through its own idx: 0, or the error code (why set). */
static int verify(const char *pack, const char *idx_of, tier_buf *why,
                  uint32_t *objects)
{
	tier_logidx ix;
	tier_buf got = TIER_BUF_INIT;
	int rc = tier_logidx_fetch(
	        &ix, loc, tt_path(".git/objects/pack/%s.idx", idx_of), NULL);
	cr_assert_eq(rc, 0, "%s", tier_error_last());
	rc = tier_logpack_verify(loc,
	                         tt_path(".git/objects/pack/%s.pack", pack),
	                         &ix, &got, objects, NULL, why);
	if (rc == 0)
		cr_assert_str_eq(tier_buf_cstr(&got), pack);
	tier_logidx_close(&ix);
	tier_buf_dispose(&got);
	return rc;
}

static uint32_t git_count(void)
{
	char line[64] = "";
	FILE *f = popen(tt_path("cd %s/w && git count-objects -v | "
	                        "sed -n 's/^in-pack: //p'",
	                        dir),
	                "r");
	cr_assert_not_null(f);
	cr_assert_not_null(fgets(line, sizeof(line), f));
	pclose(f);
	return (uint32_t)strtoul(line, NULL, 10);
}

Test(logverify, a_pack_of_offset_deltas_verifies)
{
	tier_buf why = TIER_BUF_INIT;
	uint32_t n = 0;
	cr_assert_eq(
	        tt_sh("cd %s/w && git -c pack.threads=1 repack -qadf --depth=50 --window=50 "
	              "&& git verify-pack -v .git/objects/pack/*.idx | "
	              "grep -q 'chain length = '",
	              dir),
	        0, "git made deltas");
	int rc = verify(the_pack(), the_pack(), &why, &n);
	cr_assert_eq(rc, 0, "%s", tier_buf_cstr(&why));
	cr_assert_eq(n, git_count());
	tier_buf_dispose(&why);
}

Test(logverify, a_pack_of_id_deltas_verifies)
{
	tier_buf why = TIER_BUF_INIT;
	uint32_t n = 0;
	cr_assert_eq(
	        tt_sh("cd %s/w && git -c pack.threads=1 -c repack.useDeltaBaseOffset=false "
	              "repack -qadf --depth=20",
	              dir),
	        0);
	int rc = verify(the_pack(), the_pack(), &why, &n);
	cr_assert_eq(rc, 0, "%s", tier_buf_cstr(&why));
	cr_assert_eq(n, git_count());
	tier_buf_dispose(&why);
}

Test(logverify, a_damaged_object_is_found_even_with_a_matching_trailer)
{
	tier_buf why = TIER_BUF_INIT;
	uint32_t n = 0;
	cr_assert_eq(tt_sh("cd %s/w && git repack -qadf", dir), 0);
	const char *p = the_pack();
	/* a byte inside the objects, then the trailer made to match again:
	 * only the walk can tell */
	cr_assert_eq(
	        tt_sh("cd %s/w/.git/objects/pack && f=%s.pack && "
	              "chmod u+w $f && s=$(stat -c %%s $f) && "
	              "printf '\\377\\377\\377\\377' | dd of=$f bs=1 seek=$((s / 2)) "
	              "conv=notrunc 2>/dev/null && head -c $((s - 20)) $f > t && "
	              "sha1sum t | cut -c1-40 | xxd -r -p >> t && mv t $f",
	              dir, p),
	        0);
	int rc = verify(p, p, &why, &n);
	cr_assert_eq(rc, TIER_ECORRUPT, "%s", tier_buf_cstr(&why));
	cr_assert(strstr(tier_buf_cstr(&why), "offset"), "%s",
	          tier_buf_cstr(&why));
	tier_buf_dispose(&why);
}

Test(logverify, a_sound_idx_of_other_objects_is_found)
{
	tier_buf why = TIER_BUF_INIT;
	uint32_t n = 0;
	/* two packs of the same count, no deltas: one against the other's idx */
	cr_assert_eq(tt_sh("cd %s/w && git repack -qadf && mkdir -p o && "
	                   "git rev-list --objects HEAD~1 | head -50 | "
	                   "git pack-objects -q --window=0 o/a >/dev/null && "
	                   "git rev-list --objects HEAD | tail -50 | "
	                   "git pack-objects -q --window=0 o/b >/dev/null",
	                   dir),
	             0);
	FILE *f = popen(tt_path("cd %s/w/o && ls *.pack", dir), "r");
	char a[80] = "", b[80] = "";
	cr_assert(fgets(a, sizeof(a), f) && fgets(b, sizeof(b), f));
	pclose(f);
	a[strcspn(a, ".")] = b[strcspn(b, ".")] = '\0';
	tier_logidx ix;
	tier_buf got = TIER_BUF_INIT;
	cr_assert_eq(tier_logidx_fetch(&ix, loc, tt_path("o/%s.idx", b), NULL),
	             0, "%s", tier_error_last());
	int rc = tier_logpack_verify(loc, tt_path("o/%s.pack", a), &ix, &got,
	                             &n, NULL, &why);
	cr_assert_eq(ix.count, 50);
	cr_assert_eq(rc, TIER_ECORRUPT, "%s", tier_buf_cstr(&why));
	cr_assert(strstr(tier_buf_cstr(&why), "is not the one its idx lists"),
	          "%s", tier_buf_cstr(&why));
	tier_logidx_close(&ix);
	tier_buf_dispose(&got);
	tier_buf_dispose(&why);
}
