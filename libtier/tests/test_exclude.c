/* Excludes (exclude.c): the gitignore-style matcher, sizes, CACHEDIR.TAG. */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "exclude.h"
#include "helpers.h"
#include "tier/errors.h"
#include "util/error.h"

/* each test in a fresh directory: the files below are relative */
static char dir[4096];

static void setup(void)
{
	const char *d = tt_tmpdir();
	cr_assert_not_null(d);
	strcpy(dir, d);
	cr_assert_eq(chdir(dir), 0);
}

static void teardown(void)
{
	tt_rmrf(dir);
}

TestSuite(exclude, .init = setup, .fini = teardown);

static tier_exclude *with(const char *const *pats)
{
	tier_exclude *ex;
	cr_assert_eq(tier_exclude_new(&ex), 0);
	for (; *pats; pats++)
		cr_assert_eq(tier_exclude_add(ex, *pats), 0, "%s: %s", *pats,
		             tier_error_last());
	return ex;
}

#define M(ex, path, dir) tier_exclude_match(ex, path, dir)

Test(exclude, basename_at_any_depth)
{
	tier_exclude *ex =
	        with((const char *[]){"*.tmp", "node_modules", NULL});
	cr_expect(M(ex, "a.tmp", 0));
	cr_expect(M(ex, "x/y/a.tmp", 0));
	cr_expect(!M(ex, "a.tmpx", 0));
	cr_expect(M(ex, "src/node_modules", 1));
	cr_expect(M(ex, "node_modules", 0)); /* no trailing '/': files too */
	cr_expect(!M(ex, "node_modules2", 1));
	tier_exclude_free(ex);
}

Test(exclude, anchored_and_dir_only)
{
	tier_exclude *ex =
	        with((const char *[]){"/build", "cache/", "doc/*.pdf", NULL});
	cr_expect(M(ex, "build", 1));
	cr_expect(!M(ex, "src/build", 1));
	cr_expect(M(ex, "x/cache", 1));
	cr_expect(!M(ex, "x/cache", 0)); /* a file named cache is kept */
	cr_expect(M(ex, "doc/a.pdf", 0));
	cr_expect(!M(ex, "x/doc/a.pdf", 0));
	cr_expect(!M(ex, "doc/sub/a.pdf", 0)); /* '*' never crosses '/' */
	tier_exclude_free(ex);
}

Test(exclude, double_star)
{
	tier_exclude *ex =
	        with((const char *[]){"**/logs", "a/**/z", "out/**", NULL});
	cr_expect(M(ex, "logs", 1));
	cr_expect(M(ex, "p/q/logs", 1));
	cr_expect(M(ex, "a/z", 0));
	cr_expect(M(ex, "a/b/c/z", 0));
	cr_expect(!M(ex, "b/a/z", 0));
	cr_expect(M(ex, "out/x", 0));
	cr_expect(M(ex, "out/x/y", 0));
	cr_expect(!M(ex, "out", 1)); /* out/ ** (one word): what is inside */
	tier_exclude_free(ex);
}

Test(exclude, the_last_matching_pattern_wins_and_negation_keeps)
{
	tier_exclude *ex = with((const char *[]){
	        "*.log", "!keep.log", "/dir/*", "!/dir/keep", "\\!bang", NULL});
	cr_expect(M(ex, "a.log", 0));
	cr_expect(M(ex, "x/a.log", 0));
	cr_expect(!M(ex, "keep.log", 0));
	cr_expect(!M(ex, "x/keep.log", 0));
	cr_expect(M(ex, "dir/a", 0));
	cr_expect(!M(ex, "dir/keep", 1));
	cr_expect(!M(ex, "dir", 1)); /* dir/ * is what is inside */
	cr_expect(M(ex, "!bang", 0));
	cr_expect(!M(ex, "bang", 0));
	tier_exclude_free(ex);

	/* a negation before the pattern it would undo does nothing */
	ex = with((const char *[]){"!keep.log", "*.log", NULL});
	cr_expect(M(ex, "keep.log", 0));
	tier_exclude_free(ex);

	/* an excluded directory keeps nothing below it (git, restic) */
	ex = with((const char *[]){"dir", "!dir/keep", NULL});
	cr_expect(M(ex, "dir", 1));
	cr_expect(tier_exclude_match_path(ex, "dir/keep", 0));
	tier_exclude_free(ex);
}

Test(exclude, an_anchored_pattern_matches_any_spelling)
{
	tier_exclude *ex = with((const char *[]){"/build", "*.o", NULL});
	const char *spell[] = {"src/build", "home/u/build"};
	/* alternatives are for anchored patterns only */
	cr_expect(!tier_exclude_match_alt(ex, spell, 1, 1));
	cr_expect(!tier_exclude_match_alt(
	        ex, (const char *[]){"src/x", "home/u/build"}, 2, 1));
	cr_expect(tier_exclude_match_alt(
	        ex, (const char *[]){"build", "home/u/src/build"}, 2, 1));
	cr_expect(tier_exclude_match_alt(ex, (const char *[]){"a/b.o", "zzz"},
	                                 2, 0));
	tier_exclude_free(ex);
	ex = with((const char *[]){"/home/u/src/build", NULL});
	cr_expect(tier_exclude_match_alt(
	        ex, (const char *[]){"build", "home/u/src/build"}, 2, 1));
	tier_exclude_free(ex);
}

Test(exclude, many_double_stars_stay_cheap)
{
	tier_exclude *ex = with((const char *[]){
	        "**/**/**/**/**/**/**/**/**/**/**/**/**/**/x/**/**/**/y",
	        NULL});
	char deep[4096] = "";
	for (int i = 0; i < 200; i++)
		strcat(deep, "d/");
	strcat(deep, "x/q/y");
	cr_expect(M(ex, deep, 0));
	cr_expect(M(ex, "x/y", 0));
	deep[strlen(deep) - 1] = 'z';
	cr_expect(!M(ex, deep, 0));
	tier_exclude_free(ex);
}

Test(exclude, classes_and_question_mark)
{
	tier_exclude *ex = with((const char *[]){"file?.[ch]", "[!a]x", NULL});
	cr_expect(M(ex, "file1.c", 0));
	cr_expect(M(ex, "d/fileZ.h", 0));
	cr_expect(!M(ex, "file10.c", 0));
	cr_expect(M(ex, "bx", 0));
	cr_expect(!M(ex, "ax", 0));
	tier_exclude_free(ex);
}

Test(exclude, match_path_tries_leading_directories)
{
	tier_exclude *ex = with((const char *[]){"node_modules/", NULL});
	cr_expect(!M(ex, "a/node_modules/x.js", 0));
	cr_expect(tier_exclude_match_path(ex, "a/node_modules/x.js", 0));
	cr_expect(!tier_exclude_match_path(ex, "a/b/x.js", 0));
	tier_exclude_free(ex);
}

Test(exclude, bad_globs_are_one_line_usage_errors)
{
	tier_exclude *ex;
	cr_assert_eq(tier_exclude_new(&ex), 0);
	const char *bad[] = {"", "[abc", "x\\", "!", "a[/]b", "/", NULL};
	for (const char *const *b = bad; *b; b++) {
		cr_expect_eq(tier_exclude_add(ex, *b), TIER_EUSAGE, "%s", *b);
		cr_expect_null(strchr(tier_error_last(), '\n'));
	}
	cr_expect(strstr(tier_error_last(), "'/'") != NULL);
	cr_expect(tier_exclude_empty(ex));
	tier_exclude_free(ex);
}

Test(exclude, file_of_patterns)
{
	FILE *f = fopen("ex.txt", "w");
	fputs("# caches\n\n*.o  \r\n/tmp/\n", f);
	fclose(f);
	tier_exclude *ex;
	cr_assert_eq(tier_exclude_new(&ex), 0);
	cr_assert_eq(tier_exclude_add_file(ex, "ex.txt"), 0, "%s",
	             tier_error_last());
	cr_expect(M(ex, "x/a.o", 0));
	cr_expect(M(ex, "tmp", 1));
	cr_expect(!M(ex, "# caches", 0));
	f = fopen("bad.txt", "w");
	fputs("ok\n[x\n", f);
	fclose(f);
	cr_expect_eq(tier_exclude_add_file(ex, "bad.txt"), TIER_EUSAGE);
	cr_expect(strstr(tier_error_last(), "line 2") != NULL, "%s",
	          tier_error_last());
	cr_expect_eq(tier_exclude_add_file(ex, "missing.txt"), TIER_EUSAGE);
	cr_expect(strstr(tier_error_last(), "missing.txt") != NULL);
	tier_exclude_free(ex);
}

static int dirfd_of(const char *d)
{
	mkdir(d, 0700);
	return open(d, O_RDONLY | O_DIRECTORY);
}

Test(exclude, cachedir_tag_needs_its_signature)
{
	tier_exclude *ex;
	cr_assert_eq(tier_exclude_new(&ex), 0);
	cr_assert_eq(tier_exclude_add_if_present(ex, TIER_CACHEDIR_TAG), 0);
	cr_assert_eq(tier_exclude_add_if_present(ex, ".nobackup"), 0);
	int good = dirfd_of("good"), wrong = dirfd_of("wrong"),
	    plain = dirfd_of("plain"), other = dirfd_of("other");
	FILE *f = fopen("good/CACHEDIR.TAG", "w");
	fputs(TIER_CACHEDIR_SIGNATURE "\n# a cache\n", f);
	fclose(f);
	f = fopen("wrong/CACHEDIR.TAG", "w");
	fputs("Signature: 0000000000000000000000000000000\n", f);
	fclose(f);
	f = fopen("other/.nobackup", "w");
	fclose(f);
	cr_expect(tier_exclude_dir_tagged(ex, good));
	cr_expect(!tier_exclude_dir_tagged(ex, wrong));
	cr_expect(!tier_exclude_dir_tagged(ex, plain));
	cr_expect(tier_exclude_dir_tagged(ex, other));
	cr_expect_eq(tier_exclude_add_if_present(ex, "a/b"), TIER_EUSAGE);
	cr_expect_eq(tier_exclude_add_if_present(ex, ""), TIER_EUSAGE);
	cr_expect_eq(tier_exclude_add_if_present(ex, "x:"), TIER_EUSAGE);
	close(good), close(wrong), close(plain), close(other);
	tier_exclude_free(ex);
}

/* restic's NAME:HEADER; a FIFO or a symlink of that name never counts */
Test(exclude, if_present_with_a_header)
{
	tier_exclude *ex;
	cr_assert_eq(tier_exclude_new(&ex), 0);
	cr_assert_eq(tier_exclude_add_if_present(ex, ".skip:SKIP ME"), 0);
	int yes = dirfd_of("yes"), no = dirfd_of("no"), fifo = dirfd_of("fifo"),
	    link = dirfd_of("link");
	FILE *f = fopen("yes/.skip", "w");
	fputs("SKIP ME please", f);
	fclose(f);
	f = fopen("no/.skip", "w");
	fputs("SKIP", f);
	fclose(f);
	cr_assert_eq(mkfifo("fifo/.skip", 0600), 0);
	cr_assert_eq(symlink("../yes/.skip", "link/.skip"), 0);
	cr_expect(tier_exclude_dir_tagged(ex, yes));
	cr_expect(!tier_exclude_dir_tagged(ex, no));
	cr_expect(!tier_exclude_dir_tagged(ex, fifo));
	cr_expect(!tier_exclude_dir_tagged(ex, link));
	close(yes), close(no), close(fifo), close(link);
	tier_exclude_free(ex);
}
