/* tier-forget: write off revisions a retention policy does not keep. */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "pruning.h"
#include "session.h"

static const char *opt_keep[6]; /* last hourly daily weekly monthly yearly */
static const char *opt_within;
static struct tool_list opt_keep_tags, opt_tags, opt_paths;
static const char *opt_host;
static int opt_dry_run, opt_prune;
static const char *opt_unused;

#define KEEP_OPT(name, i, what)                                            \
	TOOL_STRING(0, "keep-" name, "N", &opt_keep[i],                    \
	            "keep the newest revision of each of the last N " what \
	            " that have one (-1: every one)")

static const struct tool_opt options[] = {
        TOOL_STRING(0, "keep-last", "N", &opt_keep[0],
                    "keep the N newest revisions (-1: all)"),
        KEEP_OPT("hourly", 1, "hours"),
        KEEP_OPT("daily", 2, "days"),
        KEEP_OPT("weekly", 3, "ISO weeks"),
        KEEP_OPT("monthly", 4, "months"),
        KEEP_OPT("yearly", 5, "years"),
        TOOL_STRING(0, "keep-within", "SPAN", &opt_within,
                    "keep every revision newer than the newest one minus "
                    "SPAN: years, months, days, hours, e.g. 2y5m7d3h"),
        TOOL_LIST(0, "keep-tag", "TAG[,TAG]", &opt_keep_tags,
                  "keep every revision with all these tags (repeatable: "
                  "any of the lists)"),
        TOOL_LIST(0, "tag", "TAG[,TAG]", &opt_tags,
                  "look only at revisions with all these tags (repeatable: "
                  "any of the lists)"),
        TOOL_STRING(0, "host", "HOST", &opt_host,
                    "look only at revisions pushed from HOST"),
        TOOL_LIST(0, "path", "PATH", &opt_paths,
                  "look only at revisions that back up PATH (repeatable: "
                  "all of them)"),
        TOOL_FLAG(0, "prune", &opt_prune,
                  "then free the space of what was forgotten, as tier-prune "
                  "does"),
        TOOL_STRING(0, "max-unused", "PCT", &opt_unused,
                    "with --prune: rewrite packs with more than PCT percent "
                    "dead bytes (default 10)"),
        TOOL_FLAG('n', "dry-run", &opt_dry_run,
                  "say what would be kept and forgotten, and why; write "
                  "nothing"),
        TOOL_OPTS_END};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_ERROR, NULL},      {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL}, {TOOL_EXIT_INTERRUPTED, NULL},
        {TOOL_EXIT_TIMEOUT, NULL},    TOOL_EXITS_END};

static const struct tool_def def = {
        .name = "tier-forget",
        .args = "",
        .description =
                "Apply a retention policy (restic's --keep-* rules, docs/retention.md) to "
                "the vault's push revisions and write the ones it does not keep off, as one "
                "new revision on every online tier.  The newest revision and archived ones "
                "are always kept; the log keeps the forgotten commits for audit, and a "
                "forgotten revision can no longer be restored or listed.  Prints each "
                "revision looked at with keep or remove and the rules that keep it.",
        .options = options,
        .min_args = 0,
        .max_args = 0,
        .exits = exits,
};

/* A count: -1 or 0 .. INT_MAX. */
static int parse_count(const char *opt, const char *s, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);
	if (!*s || *end || v < -1 || v > INT_MAX)
		return tool_usage_error("invalid count '%s' for option "
		                        "'--keep-%s' (a number, or -1 for no "
		                        "limit)",
		                        tool_q(s), opt);
	*out = (int)v;
	return 0;
}

static int build_policy(tier_forget_policy *p)
{
	static const char *const names[] = {"last",   "hourly",  "daily",
	                                    "weekly", "monthly", "yearly"};
	int *counts[] = {&p->last,   &p->hourly,  &p->daily,
	                 &p->weekly, &p->monthly, &p->yearly};
	int rc;
	for (int i = 0; i < 6; i++)
		if (opt_keep[i] &&
		    (rc = parse_count(names[i], opt_keep[i], counts[i])) != 0)
			return rc;
	if (opt_within && tier_forget_parse_within(p, opt_within) < 0)
		return tool_usage_error("%s", tier_error_last());
	p->keep_tags = opt_keep_tags.items;
	p->nkeep_tags = opt_keep_tags.count;
	if (tier_forget_policy_empty(p))
		return tool_usage_error(
		        "no policy given: name at least one --keep-* rule, or "
		        "set forget.keep* in the config (nothing is forgotten)");
	return 0;
}

static void report_text(const tier_forget_report *rep)
{
	char when[64], why[160];
	for (size_t i = 0; i < rep->nentries; i++) {
		const tier_forget_entry *e = &rep->entries[i];
		tool_time_text(when, sizeof(when), e->time);
		printf("%-6s %6llu  %s  %s\n", e->reasons ? "keep" : "remove",
		       (unsigned long long)e->revision, when,
		       tier_forget_reasons_text(e->reasons, why, sizeof(why)));
	}
	if (ferror(stdout) || fflush(stdout))
		tool_error("cannot write the list to stdout");
}

static json_t *entry_json(const tier_forget_entry *e)
{
	char when[64], why[160];
	json_t *reasons = json_array();
	tool_time_rfc3339(when, sizeof(when), e->time);
	tier_forget_reasons_text(e->reasons, why, sizeof(why));
	for (char *s = why; *s;) {
		size_t n = strcspn(s, ",");
		json_array_append_new(reasons, json_stringn(s, n));
		s += n;
		while (*s == ',' || *s == ' ')
			s++;
	}
	return json_pack("{s:I, s:s, s:s, s:o}", "revision",
	                 (json_int_t)e->revision, "commit", e->commit, "time",
	                 when, "reasons", reasons);
}

static int report_json(tier_vault *v, const tier_forget_report *rep,
                       const tier_write_result *res, json_t *pruned)
{
	json_t *keep = json_array(), *remove = json_array();
	for (size_t i = 0; i < rep->nentries; i++)
		json_array_append_new(rep->entries[i].reasons ? keep : remove,
		                      entry_json(&rep->entries[i]));
	json_t *o = json_pack("{s:o, s:o, s:I, s:b}", "keep", keep, "remove",
	                      remove, "carried", (json_int_t)rep->carried,
	                      "dry_run", opt_dry_run > 0);
	json_object_set_new(o, "revision",
	                    res ? json_integer((json_int_t)res->revision)
	                        : json_null());
	json_object_set_new(o, "tiers",
	                    res ? tool_json_tiers(v, res) : json_array());
	json_object_set_new(o, "prune", pruned ? pruned : json_null());
	return tool_json_emit(o);
}

static void summary(const tier_forget_report *rep, const tier_write_result *res)
{
	size_t kept = rep->nentries - (size_t)rep->forgotten, written = 0;
	char more[64] = "";
	if (rep->carried)
		snprintf(more, sizeof(more),
		         " (and %llu other revision%s "
		         "carrying their snapshots)",
		         (unsigned long long)rep->carried,
		         rep->carried == 1 ? "" : "s");
	if (!res) {
		tool_info("%s %s%s, keep %zu%s",
		          opt_dry_run ? "would forget" : "nothing to forget:",
		          opt_dry_run
		                  ? tool_count(rep->forgotten, "revision", NULL)
		                  : "",
		          more, kept,
		          opt_dry_run ? " (dry run: nothing written)" : "");
		return;
	}
	for (size_t i = 0; i < res->ntiers; i++)
		written += res->tiers[i].outcome == TIER_WRITE_WRITTEN;
	tool_info("forgot %s%s, keep %zu: revision %llu on %zu of %s",
	          tool_count(rep->forgotten, "revision", NULL), more, kept,
	          (unsigned long long)res->revision, written,
	          tool_count(res->ntiers, "tier", NULL));
}

static int forget(struct tool_common *c)
{
	tier_vault *v = NULL;
	tier_write_result *res = NULL;
	tier_forget_report rep;
	tier_forget_options o = TIER_FORGET_OPTIONS_INIT;
	int rc;

	tier_prune_options po = TIER_PRUNE_OPTIONS_INIT;
	json_t *pruned = NULL;
	if ((rc = build_policy(&o.policy)) != 0)
		return rc;
	if (opt_unused &&
	    (rc = tool_prune_parse_unused(opt_unused, &po.max_unused)) != 0)
		return rc;
	if (opt_unused && !opt_prune)
		return tool_usage_error("--max-unused goes with --prune");
	o.tags = opt_tags.items;
	o.ntags = opt_tags.count;
	o.paths = opt_paths.items;
	o.npaths = opt_paths.count;
	o.host = opt_host;
	o.dry_run = opt_dry_run > 0;
	if ((rc = tool_vault_open(&v, c, opt_dry_run ? TOOL_READ : TOOL_WRITE,
	                          1)) < 0)
		return tool_fail(rc);
	rc = tier_forget_run(&rep, &res, v, &o);
	if (rc < 0) {
		if (res && !c->json)
			tool_write_result_report(res);
		tier_write_result_free(res);
		tier_forget_report_free(&rep);
		tier_vault_free(v);
		return tool_fail(rc);
	}
	if (res)
		tool_write_result_report(res);
	int code = TOOL_EXIT_OK;
	if (!c->json)
		report_text(&rep);
	summary(&rep, res);
	if (opt_prune && opt_dry_run)
		tool_info("--prune with --dry-run: the prune is not simulated "
		          "(it would see the revisions before this forget); "
		          "run tier-prune --dry-run after the forget");
	else if (opt_prune) {
		/* a forget that wrote nothing still leaves earlier forgets'
		 * data to free */
		rc = tool_prune(v, &po, c->json, &pruned);
		if (rc < 0)
			code = tool_fail(rc);
	}
	if (c->json && code == TOOL_EXIT_OK)
		code = report_json(v, &rep, res, pruned);
	else
		json_decref(pruned);
	tier_write_result_free(res);
	tier_forget_report_free(&rep);
	tier_vault_free(v);
	return code;
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tool_init(&c, &def, argc, argv);
	tool_vault_set_intend_write(!opt_dry_run);
	return tool_finish(&c, forget(&c));
}
