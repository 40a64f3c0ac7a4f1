/*
 * Browsing a revision (browse.c, tier/browse.h) and the options of
 * restore version 2 (overwrite modes, dry run, include/exclude), through
 * the library: listings in name order, a file read back byte for byte and
 * from the second tier when the first lacks its packs, version-1 options.
 */
#include <criterion/criterion.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "helpers_restore.h"
#include "tier/browse.h"

TestSuite(restore, .init = restore_setup, .fini = restore_teardown);

struct names {
	char text[4096];
	size_t n;
	unsigned max_depth;
};

static int collect(const tier_browse_entry *e, void *payload)
{
	struct names *k = payload;
	size_t len = strlen(k->text);
	snprintf(k->text + len, sizeof(k->text) - len, "%s:%s:%llu ", e->name,
	         tier_browse_type_name(e->type), (unsigned long long)e->size);
	k->n++;
	if (e->depth > k->max_depth)
		k->max_depth = e->depth;
	return 0;
}

struct bytes {
	char *p;
	size_t len;
};

static int gather(const void *data, size_t len, void *payload)
{
	struct bytes *b = payload;
	b->p = realloc(b->p, b->len + len);
	cr_assert(b->p);
	memcpy(b->p + b->len, data, len);
	b->len += len;
	return 0;
}

static char warned[4096];

static void on_warn(const char *msg, void *payload)
{
	(void)payload;
	strncat(warned, msg, sizeof(warned) - strlen(warned) - 2);
	strcat(warned, "\n");
}

static tier_browse *browse(tier_vault *v, uint64_t rev)
{
	tier_browse_options o = TIER_BROWSE_OPTIONS_INIT;
	tier_browse *b = NULL;
	o.revision = rev;
	o.warning = on_warn;
	cr_assert_eq(tier_browse_open(&b, v, &o), 0, "%s", tier_error_last());
	return b;
}

Test(restore, browse_lists_in_name_order_and_reads_a_file)
{
	make_small_tree();
	tier_vault *v = init_vault();
	uint64_t rev = push(v, src);
	tier_browse *b = browse(v, 0);
	cr_assert_eq(tier_browse_revision(b), rev);

	struct names k = {"", 0, 0};
	cr_assert_eq(tier_browse_list(b, src, 0, collect, &k), 0, "%s",
	             tier_error_last());
	cr_assert_str_eq(k.text, "a.txt:file:6 sub:dir:0 ");
	memset(&k, 0, sizeof(k));
	cr_assert_eq(tier_browse_list(b, src,
	                              TIER_BROWSE_RECURSIVE | TIER_BROWSE_SELF,
	                              collect, &k),
	             0);
	cr_assert_eq(k.n, 5, "%s", k.text);
	cr_assert_eq(k.max_depth, 2);
	cr_assert(strstr(k.text, "mid.bin:file:614400 "), "%s", k.text);

	struct bytes got = {NULL, 0};
	size_t wl;
	char *want = tt_read_file(at("sub/mid.bin"), &wl);
	cr_assert_eq(tier_browse_read(b, at("sub/mid.bin"), gather, &got), 0,
	             "%s", tier_error_last());
	cr_assert_eq(got.len, wl);
	cr_assert(!memcmp(got.p, want, wl));
	free(got.p);
	free(want);

	/* a directory, a missing path, '..' */
	cr_assert_eq(tier_browse_read(b, at("sub"), gather, &got),
	             TIER_ECONFLICT);
	cr_assert(strstr(tier_error_last(), "is a directory"), "%s",
	          tier_error_last());
	cr_assert_eq(tier_browse_list(b, at("nope"), 0, collect, &k),
	             TIER_ENOTFOUND);
	cr_assert_eq(tier_browse_list(b, "/a/../b", 0, collect, &k),
	             TIER_EUSAGE);
	tier_browse_free(b);

	/* revision 1 holds no snapshot: an empty root */
	b = browse(v, 1);
	memset(&k, 0, sizeof(k));
	cr_assert_eq(tier_browse_list(b, "/", 0, collect, &k), 0);
	cr_assert_eq(k.n, 0);
	tier_browse_free(b);

	tier_browse_options o = TIER_BROWSE_OPTIONS_INIT;
	o.revision = rev + 1;
	cr_assert_eq(tier_browse_open(&b, v, &o), TIER_ENOTFOUND);
	cr_assert_null(b);
	tier_vault_free(v);
}

Test(restore, browse_reads_from_the_second_tier_when_the_first_lacks_a_pack)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_vault_free(v);
	cr_assert_eq(tt_sh("mv '%s/data' '%s/data.away'", path_a, path_a), 0);
	v = open_vault();
	tier_browse *b = browse(v, 0);
	struct bytes got = {NULL, 0};
	size_t wl;
	char *want = tt_read_file(at("sub/mid.bin"), &wl);
	warned[0] = '\0';
	cr_assert_eq(tier_browse_read(b, at("sub/mid.bin"), gather, &got), 0,
	             "%s", tier_error_last());
	cr_assert_eq(got.len, wl);
	cr_assert(!memcmp(got.p, want, wl));
	cr_assert(tier_browse_damaged(b) > 0);
	cr_assert(strstr(warned, "read from tier"), "warnings: %s", warned);
	free(got.p);
	free(want);
	tier_browse_free(b);
	tier_vault_free(v);
}

Test(restore, options_version_1_still_restore)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	/* a caller built against version 1: its struct ends before dry_run
	 * (a buffer of that size: ASan sees a read past it) */
	tier_restore_options full = TIER_RESTORE_OPTIONS_INIT;
	size_t v1 = offsetof(tier_restore_options, dry_run);
	void *o = malloc(v1);
	cr_assert(o);
	full.version = 1;
	full.dest = out;
	full.overwrite = 1;
	memcpy(o, &full, v1);
	tier_restore_stats st;
	cr_assert_eq(tier_restore_run(&st, v, (const tier_restore_options *)o),
	             0, "%s", tier_error_last());
	compare(src, restored(out, NULL));
	free(o);
	tier_vault_free(v);
}

Test(restore, overwrite_modes_filters_and_dry_run)
{
	make_small_tree();
	tier_vault *v = init_vault();
	push(v, src);
	tier_restore_options o = TIER_RESTORE_OPTIONS_INIT;
	tier_restore_stats st;
	const char *ex[] = {"*.bin"}, *inc[] = {"b.txt"};

	o.dest = out;
	o.dry_run = 1;
	cr_assert_eq(tier_restore_run(&st, v, &o), 0, "%s", tier_error_last());
	cr_assert_eq(st.files, 3);
	cr_assert_eq(st.bytes, 6 + 5 + (600u << 10));
	cr_assert(!exists(out), "a dry run made DEST");

	o.dry_run = 0;
	o.exclude = ex;
	o.nexclude = 1;
	cr_assert_eq(tier_restore_run(&st, v, &o), 0, "%s", tier_error_last());
	cr_assert_eq(st.filtered, 1);
	cr_assert(!exists(restored(out, "sub/mid.bin")));
	cr_assert(exists(restored(out, "sub/b.txt")));

	o.exclude = NULL;
	o.nexclude = 0;
	o.include = inc;
	o.ninclude = 1;
	cr_assert_eq(tier_restore_run(&st, v, &o), 0, "%s", tier_error_last());
	cr_assert_eq(st.files, 0); /* b.txt is there already */
	cr_assert_eq(st.kept, 1);

	/* same size and mtime, other contents: always replaces, never and
	 * if-changed keep it */
	o.include = NULL;
	o.ninclude = 0;
	put_file(restored(out, "a.txt"), "ALPHA\n", 0644, 1600000000);
	o.overwrite = TIER_OVERWRITE_NEVER;
	cr_assert_eq(tier_restore_run(&st, v, &o), 0, "%s", tier_error_last());
	o.overwrite = TIER_OVERWRITE_IF_CHANGED;
	cr_assert_eq(tier_restore_run(&st, v, &o), 0, "%s", tier_error_last());
	char *text = tt_read_file(restored(out, "a.txt"), NULL);
	cr_assert_str_eq(text, "ALPHA\n");
	free(text);
	o.overwrite = TIER_OVERWRITE_ALWAYS;
	cr_assert_eq(tier_restore_run(&st, v, &o), 0, "%s", tier_error_last());
	compare(src, restored(out, NULL));

	o.overwrite = 7;
	cr_assert_eq(tier_restore_run(&st, v, &o), TIER_EUSAGE);
	o.overwrite = 0;
	const char *empty[] = {"/"};
	o.exclude = empty;
	o.nexclude = 1;
	cr_assert_eq(tier_restore_run(&st, v, &o), TIER_EUSAGE);
	tier_vault_free(v);
}
