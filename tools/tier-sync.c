/* tier-sync: bring unsynchronised tiers to the newest revision. */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "exitcodes.h"
#include "opt.h"
#include "output.h"
#include "session.h"

static int opt_watch;
static uint64_t opt_interval = 60000; /* ms */
static const char *opt_accept;

static const struct tool_opt options[] = {
        TOOL_FLAG(
                0, "watch", &opt_watch,
                "keep going: probe the tiers every interval and sync whenever one lags and no "
                "write runs (stops on SIGINT/SIGTERM)"),
        TOOL_DURATION_MS(0, "interval", &opt_interval, 1, UINT_MAX,
                         "with --watch, time between probes, e.g. 30s or 5m; a "
                         "bare number is milliseconds (default 1m)"),
        TOOL_STRING(
                0, "accept-rollback", "NAME", &opt_accept,
                "accept that tier NAME is behind what this installation wrote there (restored "
                "from an old image, or a new disk) and bring it level"),
        TOOL_LIMIT_OPTS, TOOL_OPTS_END};

static const struct tool_exit_doc exits[] = {
        {TOOL_EXIT_FOREIGN, NULL},
        {TOOL_EXIT_ROLLEDBACK, NULL},
        {TOOL_EXIT_INTERRUPTED,
         "a write started and stopped the sync (run it again later); "
         "the tier stays at its last fully replayed revision"},
        TOOL_EXITS_END};

static const struct tool_def def = {
        .name = "tier-sync",
        .args = "",
        .description =
                "Replay onto every online tier that lags the log entries it lacks: data packs, "
                "then log objects, then its head, entry by entry, from a tier at the newest "
                "revision.  Interrupted, it resumes where it stopped.  A write starting in the "
                "installation stops it within a second.",
        .options = options,
        .min_args = 0,
        .max_args = 0,
        .exits = exits,
};

/* On a terminal: toward what tier_sync_plan() predicts, with rate and ETA. */
static tool_meter meter;
static int have_meter;

static int on_progress(const tier_sync_stats *s, const char *tier, uint64_t rev,
                       void *payload)
{
	char b[32];
	(void)payload;
	if (!tool_progress_enabled())
		return tool_interrupted();
	if (have_meter)
		tool_progress("syncing '%s': %s", tool_q(tier),
		              tool_meter_text(&meter, s->bytes, s->revisions));
	else
		tool_progress("tier '%s': revision %llu, %s (%s) copied",
		              tool_q(tier), (unsigned long long)rev,
		              tool_count(s->packs, "pack", NULL),
		              tool_size(s->bytes, b));
	return tool_interrupted();
}

/*
 * The totals of the meter: revisions to replay and bytes of data packs to
 * copy, summed over the tiers that lag (what tier-status shows as SYNC
 * WOULD MOVE).  Only on a terminal: planning reads the log cache.
 */
static void plan_meter(tier_vault *v)
{
	uint64_t revs = 0, bytes = 0;

	have_meter = 0;
	if (!tool_progress_enabled())
		return;
	for (size_t i = 0; i < tier_vault_tier_count(v); i++) {
		uint64_t r = 0, b = 0;
		if (tier_sync_plan(v, i, &r, &b) == 0) {
			revs += r;
			bytes += b;
		}
	}
	tier_error_clear();
	if (!revs)
		return;
	tool_meter_start(&meter, bytes, revs);
	meter.unit = "revision";
	have_meter = 1;
}

static void on_warning(const char *msg, void *payload)
{
	(void)payload;
	tool_warning("%s", msg);
}

static int lagging(const tier_vault *v)
{
	for (size_t i = 0; i < tier_vault_tier_count(v); i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		if (in->online && in->state == TIER_STATE_OK &&
		    !in->synchronized)
			return 1;
	}
	return 0;
}

static void sleep_ms(unsigned int ms)
{
	/* in small steps so that a signal ends the watch promptly */
	while (ms && !tool_interrupted()) {
		unsigned int step = ms < 100 ? ms : 100;
		struct timespec ts = {step / 1000,
		                      (long)(step % 1000) * 1000000L};
		nanosleep(&ts, NULL);
		ms -= step;
	}
}

/* --accept-rollback NAME: forget the stored ref, then R8 must pass. */
static int accept_rollback(tier_vault *v, const char *name)
{
	int rc;

	if ((rc = tier_vault_accept_rollback(v, name)) < 0 ||
	    (rc = tier_vault_check(v)) < 0)
		return rc;
	for (size_t i = 0; i < tier_vault_tier_count(v); i++)
		if (!strcmp(tier_vault_tier_info(v, i)->name, name))
			tool_info(
			        "tier '%s' accepted at revision %llu; bringing it level",
			        name,
			        (unsigned long long)tier_vault_tier_info(v, i)
			                ->revision);
	return 0;
}

static void add_stats(tier_sync_stats *st, const tier_sync_stats *one)
{
	st->tiers += one->tiers;
	st->revisions += one->revisions;
	st->packs += one->packs;
	st->bytes += one->bytes;
	st->log_bytes += one->log_bytes;
	st->skipped += one->skipped;
	st->damaged += one->damaged;
	st->deleted += one->deleted;
}

/* --watch: sync, sleep, again, until a signal; a write, a busy lock or a
 * tier away only skips a round. */
static int sync_watch(tier_vault *v, tier_sync_options *so, tier_sync_stats *st)
{
	int rc = 0;

	/* the idle-time agent: never holds a write up */
	so->wait_idle = 0;
	while (!tool_interrupted()) {
		tier_sync_stats one = {0};
		plan_meter(v);
		rc = tier_sync_run(&one, v, so);
		add_stats(st, &one);
		if (rc == TIER_EABORTED || rc == TIER_ECONFLICT ||
		    rc == TIER_EOFFLINE) {
			tool_verbose(1, "%s", tier_error_last());
			rc = 0;
		} else if (rc < 0)
			break;
		if (one.revisions)
			tool_info("synced %s to %s",
			          tool_count(one.revisions, "revision", NULL),
			          tool_count(one.tiers, "tier", NULL));
		sleep_ms((unsigned int)opt_interval); /* <= UINT_MAX */
	}
	return rc;
}

static int report_json(tier_vault *v, const tier_sync_stats *st)
{
	tool_stats sj;

	tool_stats_init(&sj);
	sj.v[TOOL_STAT_TIERS] = (int64_t)st->tiers;
	sj.v[TOOL_STAT_REVISIONS] = (int64_t)st->revisions;
	sj.v[TOOL_STAT_PACKS] = (int64_t)st->packs;
	sj.v[TOOL_STAT_BYTES] = (int64_t)st->bytes;
	sj.v[TOOL_STAT_SKIPPED] = (int64_t)st->skipped;
	sj.v[TOOL_STAT_DAMAGED] = (int64_t)st->damaged;
	sj.v[TOOL_STAT_LOG_BYTES] = (int64_t)st->log_bytes;
	return tool_json_emit(json_pack("{s:I, s:o, s:o}", "max_revision",
	                                (json_int_t)tier_vault_max_revision(v),
	                                "tiers", tool_json_tiers(v, NULL),
	                                "stats", tool_json_stats(&sj)));
}

static void report_text(tier_vault *v, const tier_sync_stats *st)
{
	char b[32], l[32];

	if (st->revisions)
		tool_info("replayed %s onto %s: %s (%s) and %s of log",
		          tool_count(st->revisions, "revision", NULL),
		          tool_count(st->tiers, "tier", NULL),
		          tool_count(st->packs, "pack", NULL),
		          tool_size(st->bytes, b), tool_size(st->log_bytes, l));
	if (st->deleted)
		tool_info("deleted %s that a replayed prune deleted",
		          tool_count(st->deleted, "pack", NULL));
	if (!st->revisions)
		tool_info("every online tier is at revision %llu",
		          (unsigned long long)tier_vault_max_revision(v));
	/* the problem names the tier and says offline: once each */
	for (size_t i = 0; i < tier_vault_tier_count(v); i++) {
		const tier_info *in = tier_vault_tier_info(v, i);
		if (in->state == TIER_STATE_OFFLINE)
			tool_warning("%s; not synced", tool_tier_problem(in));
	}
}

int main(int argc, char **argv)
{
	struct tool_common c;
	tier_vault *v = NULL;
	tier_sync_stats st = {0};
	tier_sync_options so = TIER_SYNC_OPTIONS_INIT;
	int rc, exit_code = TOOL_EXIT_OK;

	tool_init(&c, &def, argc, argv);
	if ((rc = tool_vault_open(&v, &c, TOOL_WRITE, opt_accept ? 0 : 1)) < 0)
		return tool_finish(&c, tool_fail(rc));
	if (opt_accept && (rc = accept_rollback(v, opt_accept)) < 0) {
		tier_vault_free(v);
		return tool_finish(&c, tool_fail(rc));
	}

	so.progress = on_progress;
	so.warning = on_warning;
	so.payload = NULL;
	if (!opt_watch)
		plan_meter(v);
	rc = opt_watch ? sync_watch(v, &so, &st) : tier_sync_run(&st, v, &so);
	tool_progress_done();
	if (rc < 0) {
		tier_vault_free(v);
		return tool_finish(&c, tool_fail(rc));
	}
	if (c.json)
		exit_code = report_json(v, &st);
	else
		report_text(v, &st);
	/* a tier still behind (it went away during the sync) is a failure */
	if (exit_code == TOOL_EXIT_OK && lagging(v))
		exit_code = TOOL_EXIT_ERROR;
	tier_vault_free(v);
	return tool_finish(&c, exit_code);
}
