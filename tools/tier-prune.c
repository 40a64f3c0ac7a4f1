/* tier-prune: free the space forgotten revisions held, on every online tier. */
#include <stdio.h>
#include <stdlib.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "pruning.h"
#include "session.h"

static const char *opt_unused;
static uint64_t opt_grace = (uint64_t)TIER_PRUNE_DEFAULT_GRACE * 1000; /* ms */
static int opt_dry_run;

static const struct tool_opt options[] = {
        TOOL_STRING(0, "max-unused", "PCT", &opt_unused,
                    "rewrite packs with more than PCT percent dead bytes "
                    "(default 10; config prune.maxUnused)"),
        TOOL_DURATION_S(0, "grace", &opt_grace, 0, 0,
                        "leave packs no revision names alone while they "
                        "are younger than this (an unfinished push's; "
                        "default 1h)"),
        TOOL_FLAG('n', "dry-run", &opt_dry_run,
                  "say what would be deleted and rewritten, with bytes; "
                  "write and delete nothing"),
        TOOL_OPTS_END};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_ERROR, NULL},      {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL}, {TOOL_EXIT_INTERRUPTED, NULL},
        {TOOL_EXIT_TIMEOUT, NULL},    TOOL_EXITS_END};

static const struct tool_def def = {
        .name = "tier-prune",
        .args = "",
        .description =
                "Free the space of forgotten revisions (tier-forget) on every online tier: "
                "packs no kept revision needs are deleted, packs with more than --max-unused "
                "dead bytes are rewritten (their live chunks checked and put into new packs "
                "on every tier), as one logged revision; deletes happen only once that "
                "revision is published.  A tier offline now gets the deletes from "
                "tier-sync.  docs/retention.md.",
        .options = options,
        .min_args = 0,
        .max_args = 0,
        .exits = exits,
};

static int prune(struct tool_common *c)
{
	tier_vault *v = NULL;
	tier_prune_options o = TIER_PRUNE_OPTIONS_INIT;
	json_t *json = NULL;
	int rc;
	if (opt_unused && (rc = tool_prune_parse_unused(opt_unused,
	                                                &o.max_unused)) != 0)
		return rc;
	o.grace = (int64_t)(opt_grace / 1000);
	o.dry_run = opt_dry_run > 0;
	if ((rc = tool_vault_open(&v, c, opt_dry_run ? TOOL_READ : TOOL_WRITE,
	                          1)) < 0)
		return tool_fail(rc);
	rc = tool_prune(v, &o, c->json, &json);
	tier_vault_free(v);
	if (rc < 0)
		return tool_fail(rc);
	return json ? tool_json_emit(json) : TOOL_EXIT_OK;
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tool_init(&c, &def, argc, argv);
	tool_vault_set_intend_write(!opt_dry_run);
	return tool_finish(&c, prune(&c));
}
