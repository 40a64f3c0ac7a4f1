/* tier-prune's run and report, shared with tier-forget --prune (pruning.h). */
#include "pruning.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opt.h"
#include "output.h"
#include "session.h"

int tool_prune_parse_unused(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	if (end == s || (*end && strcmp(end, "%") != 0) || v > 100 ||
	    *s == '-')
		return tool_usage_error("invalid percentage '%s' for option "
		                        "'--max-unused' (0 to 100)",
		                        tool_q(s));
	*out = (unsigned int)v;
	return 0;
}

static const char *const phase_name[] = {"reading kept snapshots",
                                         "weighing packs", "rewriting",
                                         "deleting"};

static int on_progress(tier_prune_phase ph, uint64_t done, uint64_t total,
                       void *payload)
{
	static tool_meter meter;
	static int started = -1;
	(void)payload;
	if (!tool_progress_enabled())
		return tool_interrupted();
	if (ph == TIER_PRUNE_REWRITE) {
		if (started != (int)ph) {
			tool_meter_start(&meter, total, 0);
			started = (int)ph;
		}
		tool_progress("prune: rewriting: %s",
		              tool_meter_text(&meter, done, 0));
	} else if (total)
		tool_progress("prune: %s: %llu of %llu", phase_name[ph],
		              (unsigned long long)done,
		              (unsigned long long)total);
	else
		tool_progress("prune: %s: %llu", phase_name[ph],
		              (unsigned long long)done);
	return tool_interrupted();
}

static json_t *report_json(tier_vault *v, const tier_prune_report *r,
                           const tier_write_result *res, int dry)
{
	json_t *o = json_pack(
	        "{s:b, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
	        "s:I, s:I, s:I, s:I}",
	        "dry_run", dry, "revisions_kept", (json_int_t)r->revisions_kept,
	        "chunks_live", (json_int_t)r->chunks_live, "packs",
	        (json_int_t)r->packs, "pack_bytes", (json_int_t)r->pack_bytes,
	        "live_bytes", (json_int_t)r->live_bytes, "packs_deleted",
	        (json_int_t)r->packs_deleted, "deleted_bytes",
	        (json_int_t)r->deleted_bytes, "packs_rewritten",
	        (json_int_t)r->packs_rewritten, "rewritten_bytes",
	        (json_int_t)r->rewritten_bytes, "packs_written",
	        (json_int_t)r->packs_written, "written_bytes",
	        (json_int_t)r->written_bytes, "files_removed",
	        (json_int_t)r->files_removed, "unnamed_removed",
	        (json_int_t)r->unnamed_removed, "unnamed_young",
	        (json_int_t)r->unnamed_young, "sweep_failures",
	        (json_int_t)r->sweep_failures);
	json_object_set_new(o, "revision",
	                    res ? json_integer((json_int_t)res->revision)
	                        : json_null());
	json_object_set_new(o, "tiers",
	                    res ? tool_json_tiers(v, res) : json_array());
	return o;
}

static void report_text(const tier_prune_report *r,
                        const tier_write_result *res, int dry)
{
	char a[32], b[32], c[32], d[32], e[32];
	printf("kept: %s, %s (%s live of %s in %s)\n",
	       tool_count(r->revisions_kept, "push revision", NULL),
	       tool_count(r->chunks_live, "chunk", NULL),
	       tool_size(r->live_bytes, a), tool_size(r->pack_bytes, b),
	       tool_count(r->packs, "pack", NULL));
	printf("%s: %s (%s) with nothing live\n",
	       dry ? "would delete" : "deleted",
	       tool_count(r->packs_deleted, "pack", NULL),
	       tool_size(r->deleted_bytes, c));
	printf("%s: %s (%s) over the unused limit",
	       dry ? "would rewrite" : "rewritten",
	       tool_count(r->packs_rewritten, "pack", NULL),
	       tool_size(r->rewritten_bytes, d));
	if (!dry)
		printf(", into %llu new (%s)",
		       (unsigned long long)r->packs_written,
		       tool_size(r->written_bytes, e));
	printf("\n");
	printf("%s on the tiers: %s (%llu that no revision named); %llu "
	       "unnamed kept for the grace period\n",
	       dry ? "would remove" : "removed",
	       tool_count(r->files_removed, "file", NULL),
	       (unsigned long long)r->unnamed_removed,
	       (unsigned long long)r->unnamed_young);
	if (ferror(stdout) || fflush(stdout))
		tool_error("cannot write the report to stdout");
	if (r->sweep_failures)
		tool_warning("deletes stopped on %s (the next prune finishes "
		             "them): %s",
		             tool_count(r->sweep_failures, "tier", NULL),
		             r->sweep_error);
	if (dry) {
		tool_info("dry run: nothing written or deleted");
		return;
	}
	if (!res) {
		tool_info("nothing to prune: every pack is mostly live");
		return;
	}
	size_t written = 0;
	for (size_t i = 0; i < res->ntiers; i++)
		written += res->tiers[i].outcome == TIER_WRITE_WRITTEN;
	tool_info("freed %s: revision %llu on %zu of %s",
	          tool_size(r->deleted_bytes + r->rewritten_bytes -
	                            r->written_bytes,
	                    a),
	          (unsigned long long)res->revision, written,
	          tool_count(res->ntiers, "tier", NULL));
}

int tool_prune(tier_vault *v, const tier_prune_options *o, int json_mode,
               json_t **json)
{
	tier_prune_options opts = *o;
	tier_prune_report rep;
	tier_write_result *res = NULL;
	*json = NULL;
	opts.progress = on_progress;
	int rc = tier_prune_run(&rep, &res, v, &opts);
	tool_progress_done();
	if (res)
		tool_write_result_report(res);
	if (rc == 0) {
		if (json_mode)
			*json = report_json(v, &rep, res, o->dry_run);
		else
			report_text(&rep, res, o->dry_run);
	}
	tier_write_result_free(res);
	return rc;
}
