/* tier-archive: name a revision that every retention policy keeps. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exitcodes.h"
#include "listing.h"
#include "opt.h"
#include "output.h"
#include "session.h"

static const char *opt_name, *opt_release;
static int opt_list;

static const struct tool_opt options[] = {
        TOOL_STRING(0, "name", "NAME", &opt_name,
                    "the archive's name for REV (letters, digits, '.', "
                    "'_', '-'; at most 64)"),
        TOOL_STRING(0, "release", "NAME", &opt_release,
                    "end archive NAME: its revision is again subject to "
                    "tier-forget's policy"),
        TOOL_FLAG(0, "list", &opt_list,
                  "list the archives in force: name, revision, its time, "
                  "the revision that archived it"),
        TOOL_OPTS_END};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_ERROR, "error; also: the name is in use, no archive of "
                          "that name, REV not a push or forgotten"},
        {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL},
        {TOOL_EXIT_INTERRUPTED, NULL},
        {TOOL_EXIT_TIMEOUT, NULL},
        TOOL_EXITS_END};

static const struct tool_def def = {
        .name = "tier-archive",
        .args = "[REV]",
        .description =
                "Archive push revision REV as NAME (REV --name NAME), release an archive "
                "(--release NAME) or list them (--list).  An archived revision is kept by "
                "every tier-forget policy until it is released.  Archiving and releasing are "
                "logged writes (one revision each, on every online tier); the revision is "
                "printed on stdout.",
        .options = options,
        .min_args = 0,
        .max_args = 1,
        .exits = exits,
};

static int list(struct tool_common *c, tier_vault *v)
{
	tier_archive *a = NULL;
	size_t n = 0;
	char when[64];
	int rc = tier_vault_archives(&a, &n, v);
	if (rc < 0)
		return tool_fail(rc);
	if (c->json) {
		json_t *arr = json_array();
		for (size_t i = 0; i < n; i++) {
			tool_time_rfc3339(when, sizeof(when), a[i].time);
			json_array_append_new(
			        arr, json_pack("{s:s, s:I, s:s, s:I}", "name",
			                       a[i].name, "revision",
			                       (json_int_t)a[i].revision,
			                       "time", when, "archived_by",
			                       (json_int_t)a[i].archived_by));
		}
		free(a);
		return tool_json_emit(json_pack("{s:o}", "archives", arr));
	}
	tool_table *t = tool_table_new(4);
	tool_table_align_right(t, 1);
	tool_table_align_right(t, 3);
	tool_table_cell(t, "NAME");
	tool_table_cell(t, "REVISION");
	tool_table_cell(t, "TIME");
	tool_table_cell(t, "ARCHIVED-BY");
	for (size_t i = 0; i < n; i++) {
		tool_time_text(when, sizeof(when), a[i].time);
		tool_table_cell(t, a[i].name);
		tool_table_add(t, "%llu", (unsigned long long)a[i].revision);
		tool_table_cell(t, when);
		tool_table_add(t, "%llu", (unsigned long long)a[i].archived_by);
	}
	if (n)
		tool_table_print(t, stdout);
	tool_table_free(t);
	tool_info("%s", tool_count(n, "archive", NULL));
	free(a);
	return TOOL_EXIT_OK;
}

static int write_one(struct tool_common *c, tier_vault *v, uint64_t rev)
{
	tier_write_result *res = NULL;
	int rc = opt_release ? tier_archive_release(&res, v, opt_release)
	                     : tier_archive_add(&res, v, rev, opt_name);
	if (res)
		tool_write_result_report(res);
	if (rc < 0) {
		tier_write_result_free(res);
		return tool_fail(rc);
	}
	size_t written = 0;
	for (size_t i = 0; i < res->ntiers; i++)
		written += res->tiers[i].outcome == TIER_WRITE_WRITTEN;
	if (c->json) {
		rc = tool_json_emit(json_pack("{s:I, s:s, s:o}", "revision",
		                              (json_int_t)res->revision,
		                              "commit", res->commit, "tiers",
		                              tool_json_tiers(v, res)));
	} else {
		printf("%llu\n", (unsigned long long)res->revision);
		if (opt_release)
			tool_info("released archive '%s': revision %llu on %zu "
			          "of %s",
			          opt_release,
			          (unsigned long long)res->revision, written,
			          tool_count(res->ntiers, "tier", NULL));
		else
			tool_info("archived revision %llu as '%s': revision "
			          "%llu on %zu of %s",
			          (unsigned long long)rev, opt_name,
			          (unsigned long long)res->revision, written,
			          tool_count(res->ntiers, "tier", NULL));
		rc = TOOL_EXIT_OK;
	}
	tier_write_result_free(res);
	return rc;
}

static int run(struct tool_common *c)
{
	tier_vault *v = NULL;
	uint64_t rev = 0;
	int rc;
	int modes = (opt_list > 0) + (opt_release != NULL) +
	            (c->args.count > 0 || opt_name != NULL);
	if (modes != 1)
		return tool_usage_error("give one of: REV --name NAME, "
		                        "--release NAME, --list");
	if (!opt_list && !opt_release) {
		if (!c->args.count || !opt_name)
			return tool_usage_error(
			        "archiving needs both REV and --name NAME");
		if (tool_parse_revision(c->args.items[0], &rev))
			return TOOL_EXIT_USAGE;
	}
	if ((rc = tool_vault_open(&v, c, opt_list ? TOOL_READ : TOOL_WRITE,
	                          1)) < 0)
		return tool_fail(rc);
	rc = opt_list ? list(c, v) : write_one(c, v, rev);
	tier_vault_free(v);
	return rc;
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tool_init(&c, &def, argc, argv);
	tool_vault_set_intend_write(!opt_list);
	return tool_finish(&c, run(&c));
}
