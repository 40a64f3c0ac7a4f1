/* tier-status: each tier online or not, its revision, synchronised or not. */
#include <stdio.h>
#include <string.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "session.h"

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL},
        {TOOL_EXIT_DEGRADED, "a tier is offline, behind, or unusable"},
        TOOL_EXITS_END};

static const struct tool_def def = {
        .name = "tier-status",
        .args = "",
        .description =
                "Show every tier of the vault: online or not, its revision and head, and whether "
                "it is synchronised with the newest tier.  Works with an installation (-s) or "
                "with tiers alone (-t).",
        .min_args = 0,
        .max_args = 0,
        .exits = exits,
};

/* The library's word, except that an ok tier not at the newest revision is "behind". */
static const char *state_word(const tier_info *in)
{
	if (in->state == TIER_STATE_OK && !in->synchronized)
		return "behind";
	return tier_state_name(in->state);
}

/* JSON: the tiers, with what a sync would move for each ok tier behind. */
static int status_json(tier_vault *v, size_t n)
{
	json_t *tiers = tool_json_tiers(v, NULL);

	for (size_t i = 0; i < n; i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		uint64_t revs = 0, bytes = 0;
		if (in->online && in->state == TIER_STATE_OK &&
		    !in->synchronized &&
		    tier_sync_plan(v, i, &revs, &bytes) == 0)
			json_object_set_new(json_array_get(tiers, i), "sync",
			                    json_pack("{s:I, s:I}", "revisions",
			                              (json_int_t)revs, "bytes",
			                              (json_int_t)bytes));
	}
	/* no vault id yet (empty tiers alone): unknown, null */
	return tool_json_emit(json_pack(
	        "{s:o, s:I, s:b, s:o}", "vault",
	        tool_json_text(tier_vault_id(v)[0] ? tier_vault_id(v) : NULL),
	        "max_revision", (json_int_t)tier_vault_max_revision(v),
	        "read_only", tier_vault_is_read_only(v), "tiers", tiers));
}

/* One row of the table: tier i. */
static void status_row(tool_table *t, tier_vault *v, size_t i)
{
	const tier_info *in = tier_vault_tier_info(v, i);
	enum tool_color col = in->synchronized             ? TOOL_COLOR_GREEN
	                      : in->state == TIER_STATE_OK ? TOOL_COLOR_YELLOW
	                                                   : TOOL_COLOR_RED;
	uint64_t revs = 0, bytes = 0;
	char b[32];

	tool_table_cell(t, tool_q(in->name));
	tool_table_cell(t, tool_q(in->url));
	tool_table_add(t, "%s%s%s", tool_color(stdout, col), state_word(in),
	               tool_color(stdout, TOOL_COLOR_RESET));
	if (in->online && in->state != TIER_STATE_DAMAGED)
		tool_table_add(t, "%llu", (unsigned long long)in->revision);
	else
		tool_table_cell(t, "-");
	tool_table_add(t, "%.12s", in->head[0] ? in->head : "-");
	tool_table_cell(t, in->synchronized ? "yes" : "no");
	if (in->online && in->state == TIER_STATE_OK && !in->synchronized &&
	    tier_sync_plan(v, i, &revs, &bytes) == 0)
		tool_table_add(t, "%s, %s", tool_count(revs, "revision", NULL),
		               tool_size(bytes, b));
	else
		tool_table_cell(t, "-");
}

/* Text: a title line, the table, then the R8 problems once each. */
static void status_text(tier_vault *v, size_t n, const struct tool_common *c)
{
	tool_table *t = tool_table_new(7);
	const char *hdr[] = {"TIER",           "URL",  "STATE",
	                     "REVISION",       "HEAD", "SYNCHRONISED",
	                     "SYNC WOULD MOVE"};

	tool_table_align_right(t, 3);
	for (size_t i = 0; i < 7; i++)
		tool_table_cell(t, hdr[i]);
	for (size_t i = 0; i < n; i++)
		status_row(t, v, i);
	printf("vault %s, newest revision %llu%s\n",
	       tier_vault_id(v)[0] ? tier_vault_id(v) : "(none)",
	       (unsigned long long)tier_vault_max_revision(v),
	       c->state_dir && tier_vault_is_read_only(v)
	               ? " (read-only installation)"
	               : "");
	tool_table_print(t, stdout);
	tool_table_free(t);
	for (size_t i = 0; i < n; i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		/* offline, damaged and other-vault tiers were reported on open */
		if (in->problem && (in->state == TIER_STATE_FOREIGN ||
		                    in->state == TIER_STATE_ROLLED_BACK))
			tool_warning("%s", in->problem);
	}
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tier_vault *v = NULL;
	int rc, check, degraded = 0;
	size_t n;

	tool_init(&c, &def, argc, argv);
	if ((rc = tool_vault_open(&v, &c, TOOL_READ, 0)) < 0)
		return tool_finish(&c, tool_fail(rc));

	n = tier_vault_tier_count(v);
	for (size_t i = 0; i < n; i++)
		if (!tier_vault_tier_info(v, i)->synchronized)
			degraded = 1;
	check = tier_vault_check(v);

	if (c.json)
		rc = status_json(v, n);
	else
		status_text(v, n, &c);
	tier_vault_free(v);
	if (rc)
		return tool_finish(&c, rc);
	if (check < 0)
		return tool_finish(&c, tool_exit_from_error(check));
	return tool_finish(&c, degraded ? TOOL_EXIT_DEGRADED : TOOL_EXIT_OK);
}
